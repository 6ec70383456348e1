//! Writing listings, one or many at a time. The cost of a write is mostly per batch applied (a
//! lock, a log reservation, for a large batch sled's flush markers), not per key, so
//! `ingest_batch` gathers the records of up to [`PIPELINE_CHUNK`] listings into one batch
//! (see [`crate::writes`]): several times faster than a batch each. The signatures of the next
//! chunk are verified on every core meanwhile.

use std::collections::HashSet;

use haggle_protocol::{ListingKey, ListingStatus, Object, ObjectKind, ThreadState, Timestamp, Verified};

use crate::derived::Changes;
use crate::error::StoreError;
use crate::ingest::{MAX_HELD_PER_AUTHOR, MAX_LISTINGS_PER_AUTHOR, Origin, Outcome, RejectReason, rejected};
use crate::keys::{self, Head};
use crate::store::{Durability, Store};

/// Objects verified ahead of the writer in `ingest_batch`, and listings written in one batch: large enough to amortise the batch and the verifier threads, small enough that the
/// first writes start at once and the write lock is held for milliseconds.
const PIPELINE_CHUNK: usize = 256;

/// Listing writes gathered for one batch.
#[derive(Default)]
pub(crate) struct Gathered {
    batch: crate::writes::Batch,
    changes: Changes,
    /// Listings this batch writes: another object for one of them waits for the batch to be
    /// applied, since its checks read the database.
    keys: HashSet<ListingKey>,
    /// Search-index notes to make once the batch is applied: key, sequence number, whether the
    /// index may hold the listing already, and the new current revision.
    index: Vec<(ListingKey, u64, bool, Object)>,
}

impl Gathered {
    /// Whether this batch already writes listing `key`.
    pub(crate) fn writes(&self, key: &ListingKey) -> bool {
        self.keys.contains(key)
    }

    /// Adds a write of a record that goes with the listing this batch writes.
    pub(crate) fn also(&mut self, key: Vec<u8>, value: Option<&[u8]>) {
        match value {
            Some(v) => self.batch.insert(key, v),
            None => self.batch.remove(key),
        }
    }
}

/// Adds `id` to a listing's history, deleting the oldest revision once the history is full,
/// except those `pinned` names while the history has room for them (see
/// [`Store::pinned_revisions`]). `pinned` is asked only when a revision is to go.
fn push_history(
    batch: &mut crate::writes::Batch,
    history: &mut Vec<haggle_protocol::ObjectId>,
    id: haggle_protocol::ObjectId,
    pinned: impl FnOnce() -> Result<Vec<haggle_protocol::ObjectId>, StoreError>,
    mut alias: impl FnMut(&mut crate::writes::Batch, haggle_protocol::ObjectId) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    history.push(id);
    if history.len() <= keys::MAX_HISTORY {
        return Ok(());
    }
    let pinned = if history.len() <= keys::MAX_HISTORY + keys::MAX_PINNED { pinned()? } else { Vec::new() };
    while history.len() > keys::MAX_HISTORY {
        // The oldest not pinned; past the room for pins, the oldest.
        let at = if history.len() > keys::MAX_HISTORY + keys::MAX_PINNED {
            Some(0)
        } else {
            history.iter().position(|h| !pinned.contains(h))
        };
        let Some(at) = at else { break };
        let gone = history.remove(at);
        batch.remove(keys::object(&gone));
        alias(batch, gone)?;
    }
    Ok(())
}

/// Decoded and verified objects, or why not.
type Checked = Vec<Result<Verified<Object>, haggle_protocol::DecodeError>>;

/// Verifies `chunk` on `workers` threads of scope `s`, a part each.
fn spawn_verify<'scope, 'env, B: AsRef<[u8]> + Sync>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    chunk: &'env [B],
    workers: usize,
    now: Timestamp,
) -> Vec<std::thread::ScopedJoinHandle<'scope, Checked>> {
    let part = chunk.len().div_ceil(workers).max(1);
    chunk
        .chunks(part)
        .map(|part| s.spawn(move || part.iter().map(|b| Object::decode_verify(b.as_ref(), now)).collect()))
        .collect()
}

impl Store {
    /// Decodes, verifies and stores `items` in order. Faster than one `ingest` at a time:
    /// signatures are checked on every core beside the writes, listings are written many to a
    /// batch, and the index commits at most once (with `Durability::Flush`; lazy batches are
    /// indexed at the next threshold or search).
    pub fn ingest_batch<B: AsRef<[u8]> + Sync>(
        &self,
        items: &[B],
        durability: Durability,
    ) -> Result<Vec<Outcome>, StoreError> {
        let now = Timestamp::now();
        let mut outcomes = Vec::with_capacity(items.len());
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        // Pipelined: while this thread writes one chunk, the next is verified on every core.
        let chunks: Vec<&[B]> = items.chunks(PIPELINE_CHUNK).collect();
        std::thread::scope(|s| -> Result<(), StoreError> {
            let verify = |chunk| spawn_verify(s, chunk, workers, now);
            let mut next = chunks.first().map(|c| verify(c));
            for i in 0..chunks.len() {
                let parts = next.take().expect("spawned for every chunk");
                next = chunks.get(i + 1).map(|c| verify(c));
                let verified =
                    parts.into_iter().flat_map(|part| part.join().expect("verification does not panic"));
                self.write_chunk(verified, now, &mut outcomes)?;
                self.index_when_due();
            }
            Ok(())
        })?;
        // Lazy batches leave indexing to the threshold, the next search, or the next durable
        // write: a sync delivering many small batches should not commit the index each time.
        self.after_write(durability)?;
        Ok(outcomes)
    }

    /// Writes one chunk of verified objects under the write lock, listings gathered into as few
    /// batches as their keys allow (see [`Store::write_into`]).
    fn write_chunk(
        &self,
        verified: impl Iterator<Item = Result<Verified<Object>, haggle_protocol::DecodeError>>,
        now: Timestamp,
        outcomes: &mut Vec<Outcome>,
    ) -> Result<(), StoreError> {
        let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut gathered = Gathered::default();
        for v in verified {
            outcomes.push(match v {
                Ok(object) => self.write_into(&object, Origin::Network, now, &mut gathered)?,
                Err(e) => rejected(None, e),
            });
        }
        self.commit(gathered)
    }

    /// Applies gathered listing writes, then tells the search index about them (still under the
    /// write lock, so sequence numbers reach the pending set in order).
    pub(crate) fn commit(&self, gathered: Gathered) -> Result<(), StoreError> {
        if gathered.keys.is_empty() {
            return Ok(());
        }
        self.apply(gathered.batch, gathered.changes)?;
        for (key, seq, had_head, object) in gathered.index {
            self.note_index_change(key, seq, had_head, object);
        }
        Ok(())
    }

    /// Checks a listing against the store and adds its records to `gathered`. Called (by
    /// [`Store::write_into`]) under the write lock, for an object not evicted, whose key
    /// `gathered` does not write yet.
    pub(crate) fn write_listing(
        &self,
        object: &Object,
        now: Timestamp,
        gathered: &mut Gathered,
    ) -> Result<Outcome, StoreError> {
        let id = object.id();
        let listing = object.listing().expect("called for listings");
        let key = object.listing_key().expect("called for listings");
        let head = self.listed_head(&key, true)?;
        if head.as_ref().is_some_and(|h| h.holds(&id)) {
            return Ok(Outcome::Duplicate { id });
        }
        if listing.expires_at <= now {
            return Ok(rejected(Some(id), RejectReason::Expired));
        }
        // Every check that may refuse comes before the first record is gathered.
        if let Some(h) = &head
            && listing.status == ListingStatus::Active
            && !self.same_market(h.id, listing)?
        {
            return Ok(rejected(Some(id), RejectReason::AuctionChanged));
        }
        let gone = match &head {
            // A newer revision that opens a closed listing again (restocked) takes a place
            // among the open ones, as a new listing does: else closing and reopening would
            // give one author as many open listings as it may hold.
            Some(h)
                if h.closed && listing.status == ListingStatus::Active && listing.revision > h.revision =>
            {
                let added = gathered.changes.listings_added_by(&key.author);
                if self.open_listing_count_by(&key.author, now)? + added >= MAX_LISTINGS_PER_AUTHOR {
                    return Ok(rejected(
                        Some(id),
                        RejectReason::AuthorQuota { max: MAX_LISTINGS_PER_AUTHOR },
                    ));
                }
                None
            }
            Some(_) => None,
            None => {
                let gone = self.gone(&key, now)?;
                if let Some(gone) = &gone
                    && listing.revision <= gone.revision
                {
                    return Ok(rejected(Some(id), RejectReason::Superseded { revision: gone.revision }));
                }
                // Open listings count: closed ones (sold, retracted; kept a while to end the
                // offers on them) and expired ones (the owner's stay a while, to be renewed)
                // hold no place among them, and are counted (from the derived state) only for
                // an author with that many held. All of them together have a bound of
                // their own (a shop that sold its thousandth item lists the next at once).
                let added = gathered.changes.listings_added_by(&key.author);
                let held = self.listing_count_by(&key.author)? + added;
                if held >= MAX_HELD_PER_AUTHOR {
                    return Ok(rejected(
                        Some(id),
                        RejectReason::AuthorHeldQuota { max: MAX_HELD_PER_AUTHOR },
                    ));
                }
                if held >= MAX_LISTINGS_PER_AUTHOR
                    && self.open_listing_count_by(&key.author, now)? + added >= MAX_LISTINGS_PER_AUTHOR
                {
                    return Ok(rejected(
                        Some(id),
                        RejectReason::AuthorQuota { max: MAX_LISTINGS_PER_AUTHOR },
                    ));
                }
                gone
            }
        };
        gathered.keys.insert(key);
        let batch = &mut gathered.batch;
        if let Some(gone) = gone {
            self.clear_gone(batch, &key, gone);
        }
        batch.insert(keys::object(&id), object.bytes());
        // Higher revision wins; between two of the same revision, the lower id, so every node
        // settles on the same one whatever order they arrive in.
        let wins = head.as_ref().is_none_or(|h| {
            (listing.revision, std::cmp::Reverse(id)) > (h.revision, std::cmp::Reverse(h.id))
        });
        // Two revisions of one number of the owner's own listing: its key signed twice from two
        // states (a data dir restored from a backup and edited before it synced, or the key in
        // use on another machine). Every node keeps the lower id; the owner is told.
        if let Some(h) = &head
            && h.revision == listing.revision
            && self.owner.get() == Some(&key.author)
        {
            let kept = if wins { id } else { h.id };
            tracing::warn!(
                arrived = %id.fmt_short(),
                revision = listing.revision,
                kept = %kept.fmt_short(),
                "two different revisions of one of your listings carry the same number, both signed with your key (a data dir restored from a backup and edited before it synced, or your key in use on another machine); every node keeps the one with the lower id: check it with haggle show, and update it again if it is not the one you want"
            );
        }
        if let (false, Some(mut current)) = (wins, head.clone()) {
            // Kept so offers made on it still resolve; the index shows the same revision as before.
            push_history(
                batch,
                &mut current.history,
                id,
                || self.pinned_revisions(&key, listing),
                |batch, gone| self.keep_alias(batch, &key, gone),
            )?;
            batch.insert(keys::head(&key), current.encode());
            return Ok(Outcome::Stale { id, current: current.id });
        }
        let had_head = head.is_some();
        let history = match &head {
            Some(old) => {
                let mut history = old.history.clone();
                push_history(
                    batch,
                    &mut history,
                    old.id,
                    || self.pinned_revisions(&key, listing),
                    |batch, gone| self.keep_alias(batch, &key, gone),
                )?;
                history
            }
            None => Vec::new(),
        };
        let seq = self.next_seq()?;
        let new_head = Head {
            id,
            revision: listing.revision,
            created_at: object.created_at(),
            expires_at: listing.expires_at,
            closed: listing.status == ListingStatus::Closed,
            quantity: listing.quantity,
            seq,
            history,
        };
        batch.insert(keys::head(&key), new_head.encode());
        gathered.changes.head_put(&key, &new_head, head.as_ref());
        gathered.index.push((key, seq, had_head, object.clone()));
        Ok(Outcome::New { id, kind: ObjectKind::Listing, deal: None })
    }

    /// Keeps the id of listing `key`'s dropped revision `gone` as a name of the listing (see
    /// [`keys::ALIAS`]), while the listing has fewer than [`keys::MAX_ALIASES`].
    fn keep_alias(
        &self,
        batch: &mut crate::writes::Batch,
        key: &ListingKey,
        gone: haggle_protocol::ObjectId,
    ) -> Result<(), StoreError> {
        let prefix = keys::key(keys::LISTING_ALIAS, &[&key.to_bytes()]);
        if self.db.scan_prefix(prefix).keys().take(keys::MAX_ALIASES).count() < keys::MAX_ALIASES {
            batch.insert(keys::alias(&gone), &key.to_bytes()[..]);
            batch.insert(keys::listing_alias(key, &gone), &[]);
        }
        Ok(())
    }

    /// The listing a dropped revision's id names, if it was kept as an alias.
    pub fn alias(&self, id: &haggle_protocol::ObjectId) -> Result<Option<ListingKey>, StoreError> {
        Ok(self
            .db
            .get(keys::alias(id))?
            .and_then(|v| <[u8; 48]>::try_from(&v[..]).ok())
            .map(|b| ListingKey::from_bytes(&b)))
    }

    /// The revisions of listing `key` that this node's own open negotiations were opened on:
    /// an offer waiting for an answer, counter-terms, or an accept waiting for its confirm.
    /// The deal they may still make carries that revision, so it outlives the history limit
    /// (a busy rental publishes a revision with every booking) for as long as the thread is
    /// open. Only threads the node's owner takes part in (the listing's author, or the offer's)
    /// and not for auctions and campaigns, whose bids and pledges are thousands of threads and
    /// whose rules never change while they run.
    pub(crate) fn pinned_revisions(
        &self,
        key: &ListingKey,
        listing: &haggle_protocol::Listing,
    ) -> Result<Vec<haggle_protocol::ObjectId>, StoreError> {
        let Some(owner) = self.owner.get() else { return Ok(Vec::new()) };
        if listing.auction().is_some() || listing.campaign().is_some() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let mut pinned = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::LISTING_THREAD, &[&key.to_bytes()])).keys() {
            let thread = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "listing thread key" })?;
            let Some(record) = self.thread_at(&thread, now)? else { continue };
            let ours = key.author == *owner || record.offer.author() == *owner;
            let open = matches!(
                record.view.state,
                ThreadState::Open | ThreadState::Countered | ThreadState::Confirming
            );
            if let (true, true, Some(o)) = (ours, open, record.offer.body().opening())
                && !pinned.contains(&o.listing)
            {
                pinned.push(o.listing);
            }
        }
        Ok(pinned)
    }

    /// Whether an active revision keeps the auction rules of the revision `held` (an auction's
    /// kind, start price and terms never change while it runs; bids are judged by them).
    fn same_market(
        &self,
        held: haggle_protocol::ObjectId,
        listing: &haggle_protocol::Listing,
    ) -> Result<bool, StoreError> {
        let Some(bytes) = self.db.get(keys::object(&held))? else { return Ok(true) };
        let held = crate::store::decode_stored(&bytes)?;
        let Some(old) = held.listing() else { return Ok(true) };
        let auction = |l: &haggle_protocol::Listing| {
            matches!(l.kind, haggle_protocol::ListingKind::Auction | haggle_protocol::ListingKind::Crowdfund)
        };
        if !auction(old) && !auction(listing) {
            return Ok(true);
        }
        Ok(old.kind == listing.kind && old.price == listing.price && old.market == listing.market)
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{key, live_listing, live_terms, offer, sign_now};
    use haggle_protocol::{Body, Listing, ObjectId};

    use super::*;

    /// Two revisions of one listing, a copy, and an offer on a listing written earlier in the
    /// same batch: gathered into batches, they end exactly as one at a time would.
    #[test]
    fn a_batch_ends_as_one_object_at_a_time_would() {
        let first = sign_now(&key(1), Body::Listing(live_listing("Road bike")));
        let second = sign_now(
            &key(1),
            Body::Listing(Listing { revision: 2, ..first.listing().expect("listing").clone() }),
        );
        let other = sign_now(&key(3), Body::Listing(live_listing("Lamp")));
        let on_other = sign_now(&key(2), offer(&other, live_terms(1, 1_000)));
        let objects = [&first, &other, &second, &first, &on_other];
        let bytes: Vec<&[u8]> = objects.iter().map(|o| o.bytes()).collect();

        let dir = tempfile::tempdir().expect("tempdir");
        let batched = Store::open(dir.path()).expect("open");
        let outcomes = batched.ingest_batch(&bytes, Durability::Lazy).expect("batch");
        let kinds: Vec<&str> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::New { .. } => "new",
                Outcome::Duplicate { .. } => "held",
                Outcome::Stale { .. } => "stale",
                Outcome::Rejected(_) => "rejected",
            })
            .collect();
        assert_eq!(kinds, ["new", "new", "new", "held", "new"]);

        let dir = tempfile::tempdir().expect("tempdir");
        let single = Store::open(dir.path()).expect("open");
        for b in &bytes {
            let _ = single.ingest(b, Durability::Lazy).expect("ingest");
        }
        let current = |s: &Store| -> Option<ObjectId> {
            let key = first.listing_key().expect("listing");
            s.head(&key).expect("read").map(|h| h.id)
        };
        assert_eq!(current(&batched), Some(second.id()));
        assert_eq!(current(&batched), current(&single));
        for s in [&batched, &single] {
            assert!(s.get(&first.id()).expect("read").is_some(), "the earlier revision is kept");
            assert!(s.thread(&on_other.id()).expect("read").is_some());
            let mut items = s.sync_items(Timestamp::now()).expect("set");
            items.sort();
            let mut want = vec![(second.created_at(), second.id()), (other.created_at(), other.id())];
            want.sort();
            assert_eq!(items, want);
            assert_eq!(s.listing_count_by(&key(1).public()).expect("count"), 1);
        }
    }

    /// `n` listings titled "Oak chair" by four authors, distinct by nonce.
    fn oak_chairs(n: usize) -> Vec<haggle_protocol::Verified<Object>> {
        (0..n)
            .map(|i| {
                let mut l = live_listing("Oak chair");
                l.nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
                sign_now(&haggle_protocol::fixtures::author((i % 4) as u32), Body::Listing(l))
            })
            .collect()
    }

    /// Listings are fed to the search index while a long batch is written and committed only
    /// when a search asks: a listing revised after its first revision was fed is found once,
    /// as its last revision, and nothing fed is lost.
    #[test]
    fn listings_fed_ahead_are_found_once_as_their_last_revision() {
        let n = crate::store::FEED_BATCH + 10;
        let firsts = oak_chairs(n);
        // The first listing, renamed after the feed threshold has passed.
        let renamed = sign_now(
            &haggle_protocol::fixtures::author(0),
            Body::Listing(Listing {
                revision: 2,
                title: "Walnut stool".into(),
                ..firsts[0].listing().expect("listing").clone()
            }),
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let bytes: Vec<&[u8]> = firsts.iter().chain([&renamed]).map(|o| o.bytes()).collect();
        let _ = store.ingest_batch(&bytes, Durability::Lazy).expect("batch");
        assert!(store.index.uncommitted() > 0, "fed before any search");
        assert_eq!(store.stats().expect("stats").index_pending, n + 1, "fed, not yet searchable");

        let chairs = store.search(&crate::SearchQuery::new("oak chair")).expect("search");
        assert_eq!(chairs.total, n - 1);
        let stools = store.search(&crate::SearchQuery::new("walnut")).expect("search");
        assert_eq!(stools.total, 1);
        assert_eq!(stools.hits[0].listing.id(), renamed.id());
        assert_eq!(store.indexed_listings(), n as u64);
        assert_eq!(store.stats().expect("stats").index_pending, 0);
    }

    /// What a burst left waiting for the search index (fed, and not yet fed) is committed once
    /// the burst has been quiet long enough, and only then, and only when it is more than a
    /// few: no search is needed to make it searchable, and the index writer's memory goes with
    /// the commit.
    #[test]
    fn a_quiet_burst_is_committed_to_the_index_without_a_search() {
        let n = crate::store::FEED_BATCH + 10;
        let listings = oak_chairs(n);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        assert!(!store.index_quiet_due(std::time::Duration::ZERO), "nothing waits in a new store");
        // A few listings (a publish, a quiet market's gossip) are left to the next search: no
        // commit for each.
        let (few, rest) = listings.split_at(crate::store::QUIET_MIN - 1);
        let bytes: Vec<&[u8]> = few.iter().map(|o| o.bytes()).collect();
        let _ = store.ingest_batch(&bytes, Durability::Lazy).expect("batch");
        assert!(!store.commit_index_if_quiet(std::time::Duration::ZERO).expect("not due"));
        assert_eq!(store.indexed_listings(), 0);
        let bytes: Vec<&[u8]> = rest.iter().map(|o| o.bytes()).collect();
        let _ = store.ingest_batch(&bytes, Durability::Lazy).expect("batch");
        assert_eq!(store.indexed_listings(), 0);
        assert!(store.index.uncommitted() > 0, "fed, not committed");
        // Not yet quiet for an hour: nothing is done.
        let hour = std::time::Duration::from_secs(3_600);
        assert!(!store.commit_index_if_quiet(hour).expect("commit"));
        assert_eq!(store.stats().expect("stats").index_pending, n);
        // Quiet long enough: every listing is committed, searchable, and nothing waits any more.
        assert!(store.commit_index_if_quiet(std::time::Duration::ZERO).expect("commit"));
        assert_eq!(store.indexed_listings(), n as u64);
        assert_eq!(store.stats().expect("stats").index_pending, 0);
        assert!(!store.index_quiet_due(std::time::Duration::ZERO));
        assert!(!store.commit_index_if_quiet(std::time::Duration::ZERO).expect("nothing to do"));
    }

    /// The listings-per-author count is loaded from the database when first needed, so it is
    /// right after a restart, and goes down when listings go.
    #[test]
    fn listings_per_author_survive_a_restart_and_follow_removals() {
        let dir = tempfile::tempdir().expect("tempdir");
        let listings: Vec<_> = (0..5u8)
            .map(|i| {
                let mut l = live_listing("Chair");
                l.nonce[0] = i;
                sign_now(&key(4), Body::Listing(l))
            })
            .collect();
        {
            let store = Store::open(dir.path()).expect("open");
            let bytes: Vec<&[u8]> = listings.iter().map(|o| o.bytes()).collect();
            let _ = store.ingest_batch(&bytes, Durability::Flush).expect("batch");
            assert_eq!(store.listing_count_by(&key(4).public()).expect("count"), 5);
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.listing_count_by(&key(4).public()).expect("count"), 5);
        assert_eq!(store.listings_held().expect("count"), 5);
        let later = Timestamp::now().saturating_add(haggle_protocol::fixtures::DAY * 400);
        let _ = store.sweep_expired(later).expect("sweep");
        assert_eq!(store.listing_count_by(&key(4).public()).expect("count"), 0);
        assert_eq!(store.listings_held().expect("count"), 0);
    }
}
