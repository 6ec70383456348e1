//! What the store keeps in memory, derived from the database: the reconciliation set, the
//! listings in expiry order, and the listings per author. None of it is written as records of
//! its own for listings: a listing's head holds its creation time, id and expiry, and its key
//! the author and nonce, so one scan of the heads (at first use) rebuilds all three, and every
//! write keeps them in step through [`Changes`] (see [`Store::apply`]). A listing costs two
//! records (object and head) instead of four, which makes writes faster and the database
//! smaller. Mailboxes and receipts, a few hundred at most, keep their reconciliation records
//! (`s`) and are read from them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use haggle_protocol::{ListingKey, ListingStatus, Object, ObjectId, PublicKey, Timestamp};

use crate::error::StoreError;
use crate::keys::{self, Head};
use crate::store::Store;
use crate::sync::SyncItem;

/// The reconciliation set: each member and when it expires.
type SyncSet = BTreeMap<SyncItem, Timestamp>;

/// The derived state, loaded at first use.
#[derive(Debug, Default)]
pub(crate) struct Derived {
    /// Every current public object (listing heads, mailboxes, receipts) and its expiry.
    set: SyncSet,
    /// Listing heads by expiry: what the sweep removes and eviction walks, soonest first.
    expiry: BTreeSet<(Timestamp, ListingKey)>,
    /// Listing heads per author: their nonces, sorted (for the per-author quota, and to find an
    /// author's listings: heads are keyed nonce first, so no prefix scan finds them).
    authors: HashMap<PublicKey, Vec<[u8; 16]>>,
    /// Per author, the listings whose head closes them (sold out, retracted, ended), by nonce:
    /// they hold no place among the author's open listings.
    closed: HashMap<PublicKey, std::collections::HashSet<[u8; 16]>>,
}

/// What a write batch changes in the derived state. Every head added, replaced or removed and
/// every mailbox or receipt stored or dropped goes through here.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    added: Vec<(SyncItem, Timestamp)>,
    removed: Vec<SyncItem>,
    expiry_added: Vec<(Timestamp, ListingKey)>,
    expiry_removed: Vec<(Timestamp, ListingKey)>,
    /// Listings added (`true`) or removed (`false`).
    listings: Vec<(ListingKey, bool)>,
    /// Closed heads written (`true`) or gone (`false`).
    closed: Vec<(ListingKey, bool)>,
}

impl Changes {
    /// A listing's head is written: `old` is the head it replaces, if any.
    pub(crate) fn head_put(&mut self, key: &ListingKey, new: &Head, old: Option<&Head>) {
        match old {
            Some(old) => self.head_gone(key, old, false),
            None => self.listings.push((*key, true)),
        }
        self.added.push(((new.created_at, new.id), new.expires_at));
        self.expiry_added.push((new.expires_at, *key));
        if new.closed {
            self.closed.push((*key, true));
        }
    }

    /// A listing's head is removed (the listing is swept or evicted).
    pub(crate) fn head_removed(&mut self, key: &ListingKey, head: &Head) {
        self.head_gone(key, head, true);
    }

    fn head_gone(&mut self, key: &ListingKey, head: &Head, listing_gone: bool) {
        self.removed.push((head.created_at, head.id));
        self.expiry_removed.push((head.expires_at, *key));
        if head.closed {
            self.closed.push((*key, false));
        }
        if listing_gone {
            self.listings.push((*key, false));
        }
    }

    /// New listings by `author` in these changes.
    pub(crate) fn listings_added_by(&self, author: &PublicKey) -> usize {
        self.listings.iter().filter(|(k, added)| k.author == *author && *added).count()
    }

    /// Stores a mailbox or receipt, valid until `expires`.
    pub(crate) fn insert(
        &mut self,
        batch: &mut crate::writes::Batch,
        at: Timestamp,
        id: ObjectId,
        expires: Timestamp,
    ) {
        batch.insert(keys::recon(at, &id), expires.to_be_bytes().as_slice());
        self.added.push(((at, id), expires));
    }

    /// Drops a mailbox or receipt.
    pub(crate) fn remove(&mut self, batch: &mut crate::writes::Batch, at: Timestamp, id: ObjectId) {
        batch.remove(keys::recon(at, &id));
        self.removed.push((at, id));
    }

    fn touches_set(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }
}

impl Derived {
    /// The reconciliation set's members unexpired at `now`.
    #[cfg(test)]
    pub(crate) fn items(&self, now: Timestamp) -> Vec<SyncItem> {
        self.set.iter().filter(|(_, expires)| **expires > now).map(|(item, _)| *item).collect()
    }

    fn apply(&mut self, changes: Changes) {
        for item in &changes.removed {
            self.set.remove(item);
        }
        self.set.extend(changes.added);
        for entry in &changes.expiry_removed {
            self.expiry.remove(entry);
        }
        self.expiry.extend(changes.expiry_added);
        // In order: a head replaced by a closed one is gone, then written.
        for (key, closed) in changes.closed {
            let nonces = self.closed.entry(key.author).or_default();
            if closed {
                nonces.insert(key.nonce);
            } else {
                nonces.remove(&key.nonce);
            }
            if nonces.is_empty() {
                self.closed.remove(&key.author);
            }
        }
        for (key, added) in changes.listings {
            if added {
                self.add_listing(key);
            } else if let Some(nonces) = self.authors.get_mut(&key.author) {
                if let Ok(at) = nonces.binary_search(&key.nonce) {
                    nonces.remove(at);
                }
                if nonces.is_empty() {
                    self.authors.remove(&key.author);
                }
            }
        }
    }

    /// Whether listing `key` has a head in the store.
    fn has_listing(&self, key: &ListingKey) -> bool {
        self.authors.get(&key.author).is_some_and(|nonces| nonces.binary_search(&key.nonce).is_ok())
    }

    fn add_listing(&mut self, key: ListingKey) {
        let nonces = self.authors.entry(key.author).or_default();
        if let Err(at) = nonces.binary_search(&key.nonce) {
            nonces.insert(at, key.nonce);
        }
    }
}

impl Store {
    /// A number that changes whenever the set [`Self::sync_items`] returns may have changed
    /// (other than by expiry), so callers can keep a copy until it does.
    pub fn sync_generation(&self) -> u64 {
        self.sync_generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Applies `batch`, then its changes to the derived state (if loaded), bumping
    /// [`Self::sync_generation`] when the set changed. Called under the write lock.
    pub(crate) fn apply(&self, batch: crate::writes::Batch, changes: Changes) -> Result<(), StoreError> {
        self.apply_writes(batch)?;
        let touches_set = changes.touches_set();
        if let Some(derived) = self.derived.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut()
        {
            derived.apply(changes);
        }
        if touches_set {
            self.sync_generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        Ok(())
    }

    /// Runs `f` on the derived state, loading it first if needed (under the write lock, so no
    /// write slips between the scan and the copy; callers that hold it pass `locked`).
    fn with_derived<T>(&self, locked: bool, f: impl FnOnce(&Derived) -> T) -> Result<T, StoreError> {
        {
            let derived = self.derived.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(derived) = derived.as_ref() {
                return Ok(f(derived));
            }
        }
        let _writes =
            (!locked).then(|| self.write_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut derived = self.derived.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if derived.is_none() {
            *derived = Some(self.load_derived()?);
        }
        Ok(f(derived.as_ref().expect("loaded above")))
    }

    /// Rebuilds the derived state from the database: the listing heads and the mail's
    /// reconciliation records.
    pub(crate) fn load_derived(&self) -> Result<Derived, StoreError> {
        let mut out = Derived::default();
        for entry in self.db.scan_prefix([keys::HEAD]) {
            let (k, v) = entry?;
            let key = keys::listing_key_of_head(&k).ok_or(StoreError::Corrupt { what: "head key" })?;
            let head = Head::decode(&v).ok_or(StoreError::Corrupt { what: "listing head" })?;
            out.set.insert((head.created_at, head.id), head.expires_at);
            out.expiry.insert((head.expires_at, key));
            out.add_listing(key);
            if head.closed {
                out.closed.entry(key.author).or_default().insert(key.nonce);
            }
        }
        for entry in self.db.scan_prefix([keys::RECON]) {
            let (k, v) = entry?;
            let corrupt = || StoreError::Corrupt { what: "reconciliation entry" };
            let created =
                k.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).ok_or_else(corrupt)?;
            let id = keys::id_at_end(&k).ok_or_else(corrupt)?;
            let expires =
                v.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).ok_or_else(corrupt)?;
            out.set.insert((Timestamp::from_millis(created), id), Timestamp::from_millis(expires));
        }
        Ok(out)
    }

    /// The reconciliation set at `now`, sorted by `(created_at, id)`. Kept in memory once read
    /// (about 50 bytes an entry) and updated by every write, so sync never scans the database.
    pub fn sync_items(&self, now: Timestamp) -> Result<Vec<SyncItem>, StoreError> {
        self.with_derived(false, |d| {
            d.set.iter().filter(|(_, expires)| **expires > now).map(|(item, _)| *item).collect()
        })
    }

    /// Members of the reconciliation set (expired ones included until the next sweep).
    pub fn sync_set_len(&self) -> Result<usize, StoreError> {
        self.with_derived(false, |d| d.set.len())
    }

    /// Listings whose current revision closed them (retracted, sold out, ended) and was signed at
    /// or after `since`, and that `wanted` keeps, newest first: at most `max`, looked for among
    /// the `scan` newest members of the reconciliation set (listings, mailboxes, receipts, bids,
    /// pledges, feedback) signed since then. A search never finds a closed listing: this is how
    /// a watch back from a stopped node learns of them.
    pub fn closed_listings_since(
        &self,
        since: Timestamp,
        max: usize,
        scan: usize,
        wanted: impl Fn(&Object) -> bool,
    ) -> Result<Vec<Object>, StoreError> {
        let newest: Vec<ObjectId> = self.with_derived(false, |d| {
            d.set.keys().rev().take_while(|(at, _)| *at >= since).take(scan).map(|(_, id)| *id).collect()
        })?;
        let mut closed = Vec::new();
        for id in newest {
            if closed.len() >= max {
                break;
            }
            // Gone since the set was read: a later revision or the sweep replaced it.
            let Some(object) = self.get(&id)? else { continue };
            if object.listing().is_some_and(|l| l.status == ListingStatus::Closed) && wanted(&object) {
                closed.push(object);
            }
        }
        Ok(closed)
    }

    /// The head of listing `key`, read only if the derived state lists the key: most listings
    /// that arrive are new, and a lookup that misses costs as much as one that hits (sled walks
    /// the tree either way). Callers that hold the write lock pass `locked`; without it the
    /// answer can lag a write being made, as any read can.
    pub(crate) fn listed_head(&self, key: &ListingKey, locked: bool) -> Result<Option<Head>, StoreError> {
        if !self.with_derived(locked, |d| d.has_listing(key))? {
            return Ok(None);
        }
        self.head(key)
    }

    /// Listings `author` has in the store. Called under the write lock.
    pub(crate) fn listing_count_by(&self, author: &PublicKey) -> Result<usize, StoreError> {
        self.with_derived(true, |d| d.authors.get(author).map_or(0, Vec::len))
    }

    /// The author's open listings at `now`: neither closed nor expired, from what is kept in
    /// memory (no head is read).
    pub(crate) fn open_listing_count_by(
        &self,
        author: &PublicKey,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.with_derived(true, |d| {
            let held = d.authors.get(author).map_or(0, Vec::len);
            let closed = d.closed.get(author);
            let is_closed = |k: &ListingKey| closed.is_some_and(|c| c.contains(&k.nonce));
            let expired_open = d
                .expiry
                .iter()
                .take_while(|(at, _)| *at < now)
                .filter(|(_, k)| k.author == *author && !is_closed(k))
                .count();
            held.saturating_sub(closed.map_or(0, std::collections::HashSet::len)).saturating_sub(expired_open)
        })
    }

    /// The keys of `author`'s listings in the store (tombstones included), in nonce order.
    pub(crate) fn listing_keys_by(&self, author: &PublicKey) -> Result<Vec<ListingKey>, StoreError> {
        self.with_derived(false, |d| {
            d.authors
                .get(author)
                .map(|nonces| {
                    nonces.iter().map(|nonce| ListingKey { author: *author, nonce: *nonce }).collect()
                })
                .unwrap_or_default()
        })
    }

    /// Listings in the store (current revisions, tombstones included).
    pub fn listings_held(&self) -> Result<usize, StoreError> {
        self.with_derived(false, |d| d.expiry.len())
    }

    /// Listings that expired before `now`, soonest first. Called under the write lock.
    pub(crate) fn expired_listings(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(Timestamp, ListingKey)>, StoreError> {
        self.with_derived(true, |d| d.expiry.iter().take_while(|(at, _)| *at < now).copied().collect())
    }

    /// Every listing not by `me` in the order eviction walks them: the closed first (sold out,
    /// retracted, ended: no search finds them, and a closed one is kept 90 days where an open
    /// one lives 30, so by expiry alone a full store kept the closed and evicted every open
    /// one, found in a trial), then the open, each soonest to expire first.
    pub(crate) fn listings_for_eviction(&self, me: &PublicKey) -> Result<Vec<ListingKey>, StoreError> {
        self.with_derived(false, |d| {
            let is_closed = |k: &ListingKey| d.closed.get(&k.author).is_some_and(|c| c.contains(&k.nonce));
            let others = || d.expiry.iter().filter(|(_, k)| k.author != *me).map(|(_, k)| *k);
            others().filter(is_closed).chain(others().filter(|k| !is_closed(k))).collect()
        })
    }
}
