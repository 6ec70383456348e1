//! Moving a database written by an earlier build to this build's layout, in place, when the
//! store opens. Each step is a series of sled batches, each atomic, that leave every record in
//! either the old layout or the new one; the schema version changes only after the last batch.
//! A step a crash interrupts goes on where it stopped at the next open.

use crate::error::StoreError;
use crate::keys;

/// The oldest schema version this build moves forward; an older database is refused (its
/// objects' wire form is not the current one).
pub(crate) const OLDEST_MIGRATED: u32 = 6;

/// Version 6's listing heads: `h`, author (32), nonce (16).
const V6_HEAD: u8 = b'h';

/// Records moved per batch.
const CHUNK: usize = 1_024;

/// Moves the database from schema version `found` to [`crate::SCHEMA_VERSION`]. Called after the
/// journal is replayed (a replayed batch of the old build writes the old layout) and before
/// anything else reads the database.
pub(crate) fn migrate(db: &sled::Db, found: u32) -> Result<(), StoreError> {
    if found == 6 {
        let moved = heads_nonce_first(db)?;
        tracing::info!(moved, "listing heads moved to the layout of schema version 7");
    }
    db.insert(keys::SCHEMA_KEY, &crate::SCHEMA_VERSION.to_be_bytes())?;
    db.flush()?;
    Ok(())
}

/// Version 7: a head's key puts the nonce before the author, under `H` (see `keys`).
fn heads_nonce_first(db: &sled::Db) -> Result<usize, StoreError> {
    let mut moved = 0;
    // Each chunk is read from just after the last key moved: a scan from the table's start would
    // walk past the leaves the earlier chunks emptied, which sled merges away only lazily.
    let mut from = vec![V6_HEAD];
    loop {
        let chunk: Vec<(sled::IVec, sled::IVec)> =
            db.range(from.clone()..vec![V6_HEAD + 1]).take(CHUNK).collect::<Result<_, _>>()?;
        let Some((last, _)) = chunk.last() else { return Ok(moved) };
        from = last.to_vec();
        from.push(0);
        let mut batch = sled::Batch::default();
        for (old, head) in &chunk {
            let key = keys::listing_key_at_end(old)
                .filter(|_| old.len() == 1 + 48)
                .ok_or(StoreError::Corrupt { what: "listing head of schema version 6" })?;
            batch.insert(keys::head(&key), head.clone());
            batch.remove(old.clone());
        }
        db.apply_batch(batch)?;
        moved += chunk.len();
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{author, live_listing, sign_now};
    use haggle_protocol::{Body, Listing};

    use crate::keys;
    use crate::store::{Durability, SCHEMA_VERSION, Store};

    /// Rewrites a store's heads in version 6's layout and marks it version 6.
    fn make_v6(dir: &std::path::Path) {
        let db = crate::store::open_db(&dir.join("db")).expect("open");
        let heads: Vec<_> = db.scan_prefix([keys::HEAD]).collect::<Result<_, _>>().expect("scan");
        for (k, v) in heads {
            let key = keys::listing_key_of_head(&k).expect("head key");
            db.insert(keys::key(super::V6_HEAD, &[&key.to_bytes()]), v).expect("insert");
            db.remove(k).expect("remove");
        }
        db.insert(keys::SCHEMA_KEY, &6u32.to_be_bytes()).expect("version");
        db.flush().expect("flush");
    }

    #[test]
    fn a_version_6_database_opens_with_every_listing_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ids = Vec::new();
        {
            let store = Store::open(dir.path()).expect("open");
            // Two authors, several listings each: the per-author lists are rebuilt too.
            for i in 0..6u32 {
                let object = sign_now(
                    &author(i % 2),
                    Body::Listing(Listing {
                        title: format!("lamp {i}"),
                        nonce: [i as u8; 16],
                        ..live_listing("x")
                    }),
                );
                ids.push((object.listing_key().expect("a listing"), object.id()));
                assert!(store.ingest(object.bytes(), Durability::Flush).expect("ingest").is_new());
            }
            drop(store);
        }
        make_v6(dir.path());

        let store = Store::open(dir.path()).expect("a version 6 database opens");
        let version = store.db.get(keys::SCHEMA_KEY).expect("get").expect("a version");
        assert_eq!(version.as_ref(), SCHEMA_VERSION.to_be_bytes());
        assert_eq!(store.db.scan_prefix([super::V6_HEAD]).count(), 0, "no head left in the old layout");
        for (key, id) in &ids {
            assert_eq!(store.current_revision(key).expect("read"), Some(*id));
        }
        for a in 0..2 {
            let mine: Vec<_> = ids.iter().filter(|(k, _)| k.author == author(a).public()).collect();
            let found = store.current_revisions_by(&author(a).public()).expect("read");
            assert_eq!(found.len(), mine.len());
            assert!(mine.iter().all(|(k, id)| found.contains(&(*k, *id))));
        }
        assert_eq!(store.search(&crate::SearchQuery::new("lamp")).expect("search").total, 6);
    }

    #[test]
    fn a_migration_cut_short_goes_on_at_the_next_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut keys_held = Vec::new();
        {
            let store = Store::open(dir.path()).expect("open");
            for i in 0..4u32 {
                let object = sign_now(&author(i), Body::Listing(live_listing("x")));
                keys_held.push(object.listing_key().expect("a listing"));
                assert!(store.ingest(object.bytes(), Durability::Flush).expect("ingest").is_new());
            }
            drop(store);
        }
        make_v6(dir.path());
        {
            // As if a crash came after one batch: one head moved, the version still 6.
            let db = crate::store::open_db(&dir.path().join("db")).expect("open");
            let old = keys::key(super::V6_HEAD, &[&keys_held[0].to_bytes()]);
            let head = db.get(&old).expect("get").expect("held");
            db.insert(keys::head(&keys_held[0]), head).expect("insert");
            db.remove(old).expect("remove");
            db.flush().expect("flush");
        }
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(store.db.scan_prefix([keys::HEAD]).count(), 4);
        assert_eq!(store.db.scan_prefix([super::V6_HEAD]).count(), 0);
        for key in &keys_held {
            assert!(store.current_revision(key).expect("read").is_some());
        }
    }
}
