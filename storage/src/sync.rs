//! What catch-up sync needs from the store: the reconciliation set and objects by id.
//!
//! The set is the current revision of every listing (tombstones included) that has not expired,
//! as `(created_at, id)` pairs in that order. Expired revisions are left out on every node, so
//! peers agree on what to compare.

use haggle_protocol::{Object, ObjectId, Timestamp};

use crate::error::StoreError;
use crate::keys;
use crate::store::{Store, decode_stored};

/// One member of the reconciliation set.
pub type SyncItem = (Timestamp, ObjectId);

impl Store {
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
        let scanned = |store: &Store| -> Vec<SyncItem> { store.load_derived().expect("scan").items(now) };
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
