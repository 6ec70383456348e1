//! What catch-up sync needs from the store: the reconciliation set and objects by id.
//!
//! The set is the current revision of every listing (tombstones included) that has not expired,
//! as `(created_at, id)` pairs in that order. Expired revisions are left out on every node, so
//! peers agree on what to compare.

use haggle_protocol::{Object, ObjectId, PublicKey, Timestamp};

use crate::error::StoreError;
use crate::keys;
use crate::store::{Store, decode_stored};

/// One member of the reconciliation set.
pub type SyncItem = (Timestamp, ObjectId);

/// The reconciliation set in memory: each member and when it expires.
pub(crate) type SyncSet = std::collections::BTreeMap<SyncItem, Timestamp>;

/// Listings held per author, kept in memory (loaded at first use from the heads' keys) so the
/// per-author quota costs a lookup, not a scan of the author's listings.
pub(crate) type AuthorCounts = std::collections::HashMap<PublicKey, u32>;

/// Changes a write batch makes to what the store keeps in memory: the reconciliation set and
/// the listings per author. Every write to the reconciliation table and every head added or
/// removed goes through here, so the in-memory copies follow the database (see
/// [`Store::apply`]).
#[derive(Debug, Default)]
pub(crate) struct Changes {
    added: Vec<(SyncItem, Timestamp)>,
    removed: Vec<SyncItem>,
    /// Listings added (+1) or removed (-1), by author.
    authors: Vec<(PublicKey, i32)>,
}

impl Changes {
    /// A listing (its head) is added.
    pub(crate) fn listing_added(&mut self, author: PublicKey) {
        self.authors.push((author, 1));
    }

    /// A listing (its head) is removed.
    pub(crate) fn listing_removed(&mut self, author: PublicKey) {
        self.authors.push((author, -1));
    }

    /// New listings by `author` in these changes.
    pub(crate) fn listings_added_by(&self, author: &PublicKey) -> usize {
        self.authors.iter().filter(|(a, d)| a == author && *d > 0).count()
    }

    /// Adds a public object, valid until `expires`.
    pub(crate) fn insert(
        &mut self,
        batch: &mut sled::Batch,
        at: Timestamp,
        id: ObjectId,
        expires: Timestamp,
    ) {
        batch.insert(keys::recon(at, &id), expires.to_be_bytes().as_slice());
        self.added.push(((at, id), expires));
    }

    /// Removes a public object.
    pub(crate) fn remove(&mut self, batch: &mut sled::Batch, at: Timestamp, id: ObjectId) {
        batch.remove(keys::recon(at, &id));
        self.removed.push((at, id));
    }
}

impl Store {
    /// A number that changes whenever the set [`Self::sync_items`] returns may have changed
    /// (other than by expiry), so callers can keep a copy until it does.
    pub fn sync_generation(&self) -> u64 {
        self.sync_generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Applies `batch` and then its changes to the reconciliation set: to the in-memory copy (if
    /// it has been loaded), bumping [`Self::sync_generation`]. Called under the write lock.
    pub(crate) fn apply(&self, batch: sled::Batch, changes: Changes) -> Result<(), StoreError> {
        self.db.apply_batch(batch)?;
        if !changes.authors.is_empty() {
            let mut authors = self.authors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(authors) = authors.as_mut() {
                for (author, delta) in &changes.authors {
                    let count = authors.entry(*author).or_default();
                    *count = count.saturating_add_signed(*delta);
                    if *count == 0 {
                        authors.remove(author);
                    }
                }
            }
        }
        if changes.added.is_empty() && changes.removed.is_empty() {
            return Ok(());
        }
        let mut set = self.sync_set.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(set) = set.as_mut() {
            for item in &changes.removed {
                set.remove(item);
            }
            set.extend(changes.added);
        }
        self.sync_generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }

    /// The reconciliation set at `now`, sorted by `(created_at, id)`. Kept in memory once read
    /// (about 50 bytes an entry) and updated by every write, so sync never scans the database.
    pub fn sync_items(&self, now: Timestamp) -> Result<Vec<SyncItem>, StoreError> {
        let mut set = self.sync_set.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if set.is_none() {
            // Loaded under the write lock, so no write slips between the scan and the copy.
            drop(set);
            let _writes = self.write_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let loaded = self.scan_sync_set()?;
            set = self.sync_set.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            set.get_or_insert(loaded);
        }
        let set = set.as_ref().expect("loaded above");
        Ok(set.iter().filter(|(_, expires)| **expires > now).map(|(item, _)| *item).collect())
    }

    /// Listings `author` has in the store. Called under the write lock (which the in-memory
    /// counts are loaded and changed under).
    pub(crate) fn listing_count_by(&self, author: &PublicKey) -> Result<usize, StoreError> {
        let mut authors = self.authors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if authors.is_none() {
            let mut counts = AuthorCounts::new();
            for k in self.db.scan_prefix([keys::HEAD]).keys() {
                let key = keys::listing_key_at_end(&k?).ok_or(StoreError::Corrupt { what: "head key" })?;
                *counts.entry(key.author).or_default() += 1;
            }
            *authors = Some(counts);
        }
        Ok(authors.as_ref().and_then(|a| a.get(author)).map_or(0, |n| *n as usize))
    }

    /// Listings in the store (current revisions, tombstones included).
    pub fn listings_held(&self) -> Result<usize, StoreError> {
        let authors = self.authors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(authors) = authors.as_ref() {
            return Ok(authors.values().map(|n| *n as usize).sum());
        }
        drop(authors);
        Ok(self.db.scan_prefix([keys::HEAD]).keys().count())
    }

    /// Members of the reconciliation set (expired ones included until the next sweep).
    pub fn sync_set_len(&self) -> Result<usize, StoreError> {
        let set = self.sync_set.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(set) = set.as_ref() {
            return Ok(set.len());
        }
        drop(set);
        Ok(self.sync_items(Timestamp::now())?.len())
    }

    fn scan_sync_set(&self) -> Result<SyncSet, StoreError> {
        let mut out = SyncSet::new();
        for entry in self.db.scan_prefix([keys::RECON]) {
            let (k, v) = entry?;
            let corrupt = || StoreError::Corrupt { what: "reconciliation entry" };
            let created =
                k.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).ok_or_else(corrupt)?;
            let id = keys::id_at_end(&k).ok_or_else(corrupt)?;
            let expires =
                v.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).ok_or_else(corrupt)?;
            out.insert((Timestamp::from_millis(created), id), Timestamp::from_millis(expires));
        }
        Ok(out)
    }

    /// The public objects among `ids` that this store holds (negotiation messages are never
    /// served to others), in the order asked.
    pub fn public_objects(&self, ids: &[ObjectId]) -> Result<Vec<Object>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(bytes) = self.db.get(keys::object(id))? {
                let object = decode_stored(&bytes)?;
                if object.kind().is_public() {
                    out.push(object);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{DAY, key, live_listing, live_terms, offer, sign_now};
    use haggle_protocol::{Body, Listing, ListingStatus};

    use super::*;
    use crate::Durability;

    #[test]
    fn the_set_holds_current_revisions_and_tombstones_until_they_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let a1 = sign_now(&key(1), Body::Listing(Listing { nonce: [1; 16], ..live_listing("A") }));
        let a2 =
            sign_now(&key(1), Body::Listing(Listing { nonce: [1; 16], revision: 2, ..live_listing("A") }));
        let b = sign_now(&key(1), Body::Listing(Listing { nonce: [2; 16], ..live_listing("B") }));
        let tomb = sign_now(
            &key(1),
            Body::Listing(Listing {
                nonce: [3; 16],
                status: ListingStatus::Closed,
                quantity: 0,
                ..live_listing("C")
            }),
        );
        for o in [&a1, &a2, &b, &tomb] {
            let _ = store.ingest(o.bytes(), Durability::Lazy).expect("ingest");
        }
        let o = sign_now(&key(2), offer(&b, live_terms(1, 5)));
        let _ = store.ingest(o.bytes(), Durability::Lazy).expect("ingest");
        let items = store.sync_items(Timestamp::now()).expect("items");
        let ids: Vec<ObjectId> = items.iter().map(|(_, id)| *id).collect();
        assert_eq!(ids.len(), 3, "the current revisions only, no offers: {ids:?}");
        assert!(ids.contains(&a2.id()) && ids.contains(&b.id()) && ids.contains(&tomb.id()));
        assert!(items.windows(2).all(|w| w[0] <= w[1]), "sorted");
        assert!(store.sync_items(Timestamp::now().saturating_add(31 * DAY)).expect("items").len() <= 1);
        // Offers are never served, whatever id is asked for.
        assert_eq!(store.public_objects(&[o.id(), b.id()]).expect("read").len(), 1);
    }

    /// The in-memory set follows every write: after revisions, a new listing and a sweep it
    /// equals a fresh scan of the database, and what a reopened store loads.
    #[test]
    fn the_set_in_memory_follows_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let now = Timestamp::now();
        let scanned = |store: &Store| -> Vec<SyncItem> {
            let set = store.scan_sync_set().expect("scan");
            set.into_iter().filter(|(_, e)| *e > now).map(|(i, _)| i).collect()
        };
        let first = sign_now(&key(1), Body::Listing(Listing { nonce: [1; 16], ..live_listing("A") }));
        let _ = store.ingest(first.bytes(), Durability::Lazy).expect("ingest");
        let generation = store.sync_generation();
        assert_eq!(store.sync_items(now).expect("items"), scanned(&store), "loaded");
        let second =
            sign_now(&key(1), Body::Listing(Listing { nonce: [1; 16], revision: 2, ..live_listing("A") }));
        let short = sign_now(
            &key(2),
            Body::Listing(Listing { expires_at: now.saturating_add(DAY), ..live_listing("Short") }),
        );
        for o in [&second, &short] {
            let _ = store.ingest(o.bytes(), Durability::Lazy).expect("ingest");
        }
        assert!(store.sync_generation() > generation);
        assert_eq!(store.sync_items(now).expect("items"), scanned(&store), "after writes");
        assert_eq!(store.sync_items(now).expect("items").len(), 2);
        store.sweep_expired(now.saturating_add(2 * DAY)).expect("sweep");
        let later = now.saturating_add(2 * DAY);
        assert_eq!(store.sync_items(later).expect("items").len(), 1, "after the sweep");
        assert_eq!(store.sync_items(now).expect("items"), scanned(&store));
        drop(store);
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.sync_items(now).expect("items"), scanned(&store), "after reopening");
    }
}
