//! Moving a database written by an earlier build to this build's layout, when the store opens.
//!
//! The database is copied, record by record and changed as the new layout asks, into a new
//! directory beside it (`db.migrating`), which then takes the old one's place; the old one is
//! kept as `db.previous`, so the build before can be gone back to (the user removes it). Copying
//! rather than changing records in place leaves a compact file: sled never gives back the space
//! of records it rewrote, and moving the 100,000 heads of a version 6 database in place grew its
//! file by about a quarter, where the copy is a fifth smaller than the original. The old
//! database is untouched until the copy is complete and flushed, so a build that reads only the
//! old version can still open it until then, and a crash at any step is finished or undone by
//! [`recover`] at the next open:
//!
//! 1. copy `db` into `db.migrating` (a crash: `db.migrating` is incomplete and is removed);
//! 2. rename `db` to `db.premigration` (a crash after: the copy is renamed into place);
//! 3. rename `db.migrating` to `db` (a crash after: step 4 is made);
//! 4. rename `db.premigration` to `db.previous` (one left by an earlier move is removed first).
//!
//! It needs free disk for the copy, about the size of the database again.

use std::path::{Path, PathBuf};

use crate::error::MigrateError;
use crate::keys;

/// The oldest schema version this build moves forward; an older database is refused (its
/// objects' wire form is not the current one).
pub(crate) const OLDEST_MIGRATED: u32 = 6;

/// Version 6's listing heads: `h`, author (32), nonce (16).
const V6_HEAD: u8 = b'h';

/// Records copied per batch.
const CHUNK: usize = 1_024;

/// The copy being made, beside `db`.
const NEW_DIR: &str = "db.migrating";
/// The old database, once the copy is complete, until the copy is in its place.
const OLD_DIR: &str = "db.premigration";
/// The old database, kept after the move.
const KEPT_DIR: &str = "db.previous";

/// The directories a migration works in, beside each other in the data dir `dir`: the
/// database, the copy being made, the old database between the renames, the old one kept.
fn dirs(dir: &Path) -> [PathBuf; 4] {
    [dir.join("db"), dir.join(NEW_DIR), dir.join(OLD_DIR), dir.join(KEPT_DIR)]
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MigrateError {
    let path = path.to_owned();
    move |source| MigrateError::Io { action, path, source }
}

/// Finishes or undoes a migration a crash interrupted, judged by the directories it left beside
/// `db` (see the module's steps). Run before `db` is opened. Directories the steps cannot leave
/// (an earlier build started on the data dir in between) are reported, not guessed at.
pub(crate) fn recover(dir: &Path) -> Result<(), MigrateError> {
    let [db, new, old, _] = dirs(dir);
    match (db.exists(), new.exists(), old.exists()) {
        // During step 1: the copy is incomplete.
        (true, true, false) => {
            tracing::info!(copy = %new.display(), "a move to this build's layout was cut short while copying; starting it again");
            std::fs::remove_dir_all(&new).map_err(io("remove", &new))?;
        }
        // Between steps 2 and 3: the copy was complete.
        (false, true, true) => {
            tracing::info!("a move to this build's layout was cut short after copying; finishing it");
            std::fs::rename(&new, &db).map_err(io("rename", &new))?;
            sync_dir(dir)?;
            keep_old(dir)?;
        }
        // Between steps 3 and 4.
        (true, false, true) => keep_old(dir)?,
        (true, true, true) | (false, true, false) | (false, false, true) => {
            return Err(MigrateError::Unfinished { dir: dir.to_owned() });
        }
        (_, false, false) => {}
    }
    Ok(())
}

/// Step 4: the old database becomes `db.previous`.
fn keep_old(dir: &Path) -> Result<(), MigrateError> {
    let [_, _, old, kept] = dirs(dir);
    if kept.exists() {
        std::fs::remove_dir_all(&kept).map_err(io("remove", &kept))?;
    }
    std::fs::rename(&old, &kept).map_err(io("rename", &old))?;
    sync_dir(dir)?;
    tracing::info!(
        kept = %kept.display(),
        "the database as it was before the move is kept: remove it once you will not go back to the previous build"
    );
    Ok(())
}

/// Renames in `dir` reach the disk.
fn sync_dir(dir: &Path) -> Result<(), MigrateError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("sync", dir))
}

/// Moves the database `db` in `dir/db`, of schema version `from`, to [`crate::SCHEMA_VERSION`]
/// and returns it opened. Called after the journal is replayed (a replayed batch of the old
/// build writes the old layout) and before anything else reads the database.
pub(crate) fn migrate(
    dir: &Path,
    db: sled::Db,
    from: u32,
    cache_bytes: u64,
) -> Result<sled::Db, MigrateError> {
    let started = std::time::Instant::now();
    tracing::info!(from, to = crate::SCHEMA_VERSION, "moving the database to this build's layout");
    let [path, new_path, old_path, _] = dirs(dir);
    let copied = {
        let new = crate::store::open_db(&new_path, cache_bytes)?;
        let copied = copy(&db, &new, from)?;
        new.flush()?;
        copied
    };
    drop(db);
    std::fs::rename(&path, &old_path).map_err(io("rename", &path))?;
    std::fs::rename(&new_path, &path).map_err(io("rename", &new_path))?;
    sync_dir(dir)?;
    keep_old(dir)?;
    tracing::info!(records = copied, took_ms = started.elapsed().as_millis() as u64, "database moved");
    Ok(crate::store::open_db(&path, cache_bytes)?)
}

/// Copies every record of `from_db` (schema version `from`) into `to`, in the current layout,
/// the schema version last. Returns the number of records copied.
fn copy(from_db: &sled::Db, to: &sled::Db, from: u32) -> Result<usize, MigrateError> {
    let mut copied = 0;
    let mut batch = sled::Batch::default();
    for entry in from_db.iter() {
        let (key, value) = entry?;
        if key.as_ref() == keys::SCHEMA_KEY {
            continue;
        }
        let key = match key.first() {
            // Version 7: a head's key puts the nonce before the author (see `keys`).
            Some(&V6_HEAD) if from <= 6 => {
                let listing = keys::listing_key_at_end(&key)
                    .filter(|_| key.len() == 1 + 48)
                    .ok_or(MigrateError::Corrupt { what: "listing head of schema version 6" })?;
                keys::head(&listing).into()
            }
            _ => key,
        };
        batch.insert(key, value);
        copied += 1;
        if copied % CHUNK == 0 {
            to.apply_batch(std::mem::take(&mut batch))?;
        }
    }
    to.apply_batch(batch)?;
    to.insert(keys::SCHEMA_KEY, &crate::SCHEMA_VERSION.to_be_bytes())?;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{author, live_listing, sign_now};
    use haggle_protocol::{Body, Listing, ListingKey};

    use crate::error::OpenError;
    use crate::keys;
    use crate::store::{DEFAULT_CACHE_MIB, Durability, SCHEMA_VERSION, Store, open_db};

    fn v6_head(key: &ListingKey) -> Vec<u8> {
        keys::key(super::V6_HEAD, &[&key.to_bytes()])
    }

    /// Rewrites a store's heads in version 6's layout and marks it version 6.
    fn make_v6(dir: &std::path::Path) {
        let db = open_db(&dir.join("db"), DEFAULT_CACHE_MIB << 20).expect("open");
        let heads: Vec<_> = db.scan_prefix([keys::HEAD]).collect::<Result<_, _>>().expect("scan");
        for (k, v) in heads {
            let key = keys::listing_key_of_head(&k).expect("head key");
            db.insert(v6_head(&key), v).expect("insert");
            db.remove(k).expect("remove");
        }
        db.insert(keys::SCHEMA_KEY, &6u32.to_be_bytes()).expect("version");
        db.flush().expect("flush");
    }

    /// A store of `n` listings by two authors, closed; their keys and ids.
    fn store_with_listings(dir: &std::path::Path, n: u8) -> Vec<(ListingKey, haggle_protocol::ObjectId)> {
        let store = Store::open(dir).expect("open");
        (0..n)
            .map(|i| {
                let listing = Listing { title: format!("lamp {i}"), nonce: [i; 16], ..live_listing("x") };
                let object = sign_now(&author(u32::from(i % 2)), Body::Listing(listing));
                assert!(store.ingest(object.bytes(), Durability::Flush).expect("ingest").is_new());
                (object.listing_key().expect("a listing"), object.id())
            })
            .collect()
    }

    fn version(store: &Store) -> Vec<u8> {
        store.db.get(keys::SCHEMA_KEY).expect("get").expect("a version").to_vec()
    }

    /// Neither of the migration's working directories is left beside `db`.
    fn no_leftovers(dir: &std::path::Path) {
        let [_, new, old, _] = super::dirs(dir);
        assert!(!new.exists() && !old.exists(), "{} or {} left", new.display(), old.display());
    }

    /// The schema version of the database in `path`, and its count of heads in version 6's
    /// layout.
    fn kept(path: &std::path::Path) -> (Vec<u8>, usize) {
        let db = open_db(path, DEFAULT_CACHE_MIB << 20).expect("open");
        let version = db.get(keys::SCHEMA_KEY).expect("get").expect("a version").to_vec();
        (version, db.scan_prefix([super::V6_HEAD]).count())
    }

    /// Every listing is where it was, by key and by author, and searchable.
    fn all_in_place(store: &Store, held: &[(ListingKey, haggle_protocol::ObjectId)]) {
        assert_eq!(version(store), SCHEMA_VERSION.to_be_bytes());
        assert_eq!(store.db.scan_prefix([super::V6_HEAD]).count(), 0, "no head left in the old layout");
        for (key, id) in held {
            assert_eq!(store.current_revision(key).expect("read"), Some(*id));
        }
        for a in 0..2 {
            let mine: Vec<_> = held.iter().filter(|(k, _)| k.author == author(a).public()).collect();
            let found = store.current_revisions_by(&author(a).public()).expect("read");
            assert_eq!(found.len(), mine.len());
            assert!(mine.iter().all(|(k, id)| found.contains(&(*k, *id))));
        }
        let total = store.search(&crate::SearchQuery::new("lamp")).expect("search").total;
        assert_eq!(total, held.len());
    }

    #[test]
    fn a_version_6_database_opens_with_every_listing_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = store_with_listings(dir.path(), 6);
        make_v6(dir.path());
        let store = Store::open(dir.path()).expect("a version 6 database opens");
        all_in_place(&store, &held);
        no_leftovers(dir.path());
        // The database as it was, to go back to the previous build.
        assert_eq!(kept(&super::dirs(dir.path())[3]), (6u32.to_be_bytes().to_vec(), 6));
    }

    /// A crash while the copy was made: the copy is thrown away and made again.
    #[test]
    fn an_incomplete_copy_is_made_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = store_with_listings(dir.path(), 4);
        make_v6(dir.path());
        let [_, new, _, _] = super::dirs(dir.path());
        {
            // Part of a copy: a database with one record and no version.
            let partial = open_db(&new, DEFAULT_CACHE_MIB << 20).expect("open");
            partial.insert(b"opartial", &b"x"[..]).expect("insert");
            partial.flush().expect("flush");
        }
        let store = Store::open(dir.path()).expect("open");
        all_in_place(&store, &held);
        assert!(store.db.get(b"opartial").expect("get").is_none());
        no_leftovers(dir.path());
    }

    /// A crash between the two renames: the complete copy is put in place.
    #[test]
    fn a_complete_copy_not_yet_in_place_is_put_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = store_with_listings(dir.path(), 4);
        let [db, new, old, previous] = super::dirs(dir.path());
        std::fs::rename(&db, &new).expect("the copy");
        std::fs::create_dir(&old).expect("the old database");
        std::fs::write(old.join("db"), b"version 6").expect("write");
        let store = Store::open(dir.path()).expect("open");
        all_in_place(&store, &held);
        no_leftovers(dir.path());
        assert_eq!(std::fs::read(previous.join("db")).expect("kept"), b"version 6");
    }

    /// A crash after the copy took the old database's place: the old one is kept, replacing
    /// one an earlier move kept.
    #[test]
    fn the_old_database_left_after_the_move_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = store_with_listings(dir.path(), 4);
        let [_, _, old, previous] = super::dirs(dir.path());
        for (path, content) in [(&previous, &b"version 5"[..]), (&old, &b"version 6"[..])] {
            std::fs::create_dir(path).expect("an old database");
            std::fs::write(path.join("db"), content).expect("write");
        }
        let store = Store::open(dir.path()).expect("open");
        all_in_place(&store, &held);
        no_leftovers(dir.path());
        assert_eq!(std::fs::read(previous.join("db")).expect("kept"), b"version 6");
    }

    /// An earlier build started between the renames and made a database of its own: the three
    /// directories are reported, and none is touched.
    #[test]
    fn directories_an_earlier_build_left_beside_a_cut_short_move_are_reported_not_guessed_at() {
        let dir = tempfile::tempdir().expect("tempdir");
        store_with_listings(dir.path(), 2);
        let [db, new, old, _] = super::dirs(dir.path());
        for path in [&new, &old] {
            std::fs::create_dir(path).expect("dir");
            std::fs::write(path.join("db"), b"kept").expect("write");
        }
        let Err(err) = Store::open(dir.path()) else { panic!("opened") };
        assert!(
            matches!(&err, OpenError::Migrate { source: crate::MigrateError::Unfinished { .. }, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("cannot move the database"), "{err}");
        for path in [&new, &old] {
            assert_eq!(std::fs::read(path.join("db")).expect("untouched"), b"kept");
        }
        assert!(db.exists());
    }

    /// A batch the version 6 build journaled but had not made when it crashed writes a head in
    /// the old layout at the replay; the migration, after it, moves that head too.
    #[test]
    fn a_batch_left_in_the_journal_by_version_6_is_replayed_then_moved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = store_with_listings(dir.path(), 2);
        make_v6(dir.path());
        let (key, id) = held[1];
        {
            let db = open_db(&dir.path().join("db"), DEFAULT_CACHE_MIB << 20).expect("open");
            // The head as it was before the batch: removed here, put back by the replay.
            let head = db.remove(v6_head(&key)).expect("remove").expect("held");
            let mut batch = crate::writes::Batch::default();
            batch.insert(v6_head(&key), head);
            db.insert(crate::writes::journal_key(3), batch.encode()).expect("record");
            db.flush().expect("flush");
        }
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(store.current_revision(&key).expect("read"), Some(id));
        assert_eq!(store.db.scan_prefix([super::V6_HEAD]).count(), 0);
        assert_eq!(store.db.scan_prefix([keys::JOURNAL]).count(), 0);
    }

    /// More heads than one batch copies: every one lands under its new key, its value unchanged,
    /// and every other record as it was. `HAGGLE_MIGRATE_LISTINGS=100000 cargo test -p
    /// haggle-storage --release heads_are_moved -- --nocapture` copies that many heads and
    /// objects and prints the time and the file's size before and after (docs/OPERATIONS.md and
    /// docs/PERFORMANCE.md quote it; no timing is checked here).
    #[test]
    fn heads_are_moved_across_many_batches_each_to_its_own_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open_db(&dir.path().join("db"), DEFAULT_CACHE_MIB << 20).expect("open");
        let n = std::env::var("HAGGLE_MIGRATE_LISTINGS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(super::CHUNK * 3 + 7);
        let mut expected = Vec::with_capacity(n);
        let mut batch = sled::Batch::default();
        for i in 0..n {
            let seed = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut author = [0u8; 32];
            author[..8].copy_from_slice(&(seed % 2_000).to_be_bytes());
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&seed.to_be_bytes());
            let key = ListingKey { author: haggle_protocol::PublicKey::from_bytes(author), nonce };
            // A head's size (58 bytes), and an object of a typical listing's (366), each distinct.
            let mut head = vec![0u8; 58];
            head[..8].copy_from_slice(&i.to_be_bytes());
            batch.insert(v6_head(&key), head.clone());
            let object_key = keys::key(keys::OBJECT, &[&seed.rotate_left(17).to_be_bytes(), &[7; 24]]);
            batch.insert(object_key.clone(), vec![(i % 251) as u8; 366]);
            expected.push((key, head, object_key));
            if i % 256 == 255 {
                db.apply_batch(std::mem::take(&mut batch)).expect("write");
            }
        }
        db.apply_batch(batch).expect("write");
        db.insert(keys::SCHEMA_KEY, &6u32.to_be_bytes()).expect("version");
        db.flush().expect("flush");
        let before = db.size_on_disk().expect("size");
        let started = std::time::Instant::now();
        let db = super::migrate(dir.path(), db, 6, DEFAULT_CACHE_MIB << 20).expect("migrate");
        eprintln!(
            "moved {n} listings in {:?}; the file {:.1} MiB before, {:.1} MiB after",
            started.elapsed(),
            before as f64 / 1_048_576.0,
            db.size_on_disk().expect("size") as f64 / 1_048_576.0
        );
        assert_eq!(db.scan_prefix([super::V6_HEAD]).count(), 0);
        assert_eq!(db.scan_prefix([keys::HEAD]).count(), n);
        for (i, (key, head, object_key)) in expected.iter().enumerate() {
            assert_eq!(db.get(keys::head(key)).expect("get").as_deref(), Some(head.as_slice()));
            assert_eq!(db.get(object_key).expect("get").as_deref(), Some(&[(i % 251) as u8; 366][..]));
        }
        assert_eq!(
            db.get(keys::SCHEMA_KEY).expect("get").as_deref(),
            Some(&SCHEMA_VERSION.to_be_bytes()[..])
        );
        no_leftovers(dir.path());
    }

    #[test]
    fn versions_before_6_and_after_this_builds_are_refused() {
        for found in [5, SCHEMA_VERSION + 1] {
            let dir = tempfile::tempdir().expect("tempdir");
            {
                let store = Store::open(dir.path()).expect("open");
                store.db.insert(keys::SCHEMA_KEY, &found.to_be_bytes()).expect("write");
                store.flush().expect("flush");
            }
            let err = Store::open(dir.path()).expect_err("refused");
            assert!(matches!(err, OpenError::SchemaVersion { found: f, .. } if f == found), "{err}");
        }
    }
}
