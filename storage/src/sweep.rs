//! The sweep: what the store stops holding, and what it remembers of it.
//!
//! - A listing whose current revision has expired goes with all its revisions. A small marker
//!   stays behind (`g`: the highest revision, and until when an earlier revision could still be
//!   valid), so an old revision replayed after the sweep is not taken in as new. The marker goes
//!   when nothing it guards can come back: every revision a listing had expires at most
//!   [`MAX_LIFETIME`] after it was signed, and an honest author signs earlier revisions first.
//! - A negotiation thread that ended without a deal (declined, withdrawn, or its terms expired)
//!   goes [`THREAD_RETENTION`] after its last activity: long enough for its parties to look back
//!   at it, short enough that a flood of offers does not stay on disk for good. Threads that
//!   became deals are kept with their deals.
//! - Mailboxes and receipts, at their expiry (`mail.rs`).
//! - A conversation of notes, [`THREAD_RETENTION`] after its last note, unless it is about a
//!   thread still held (`notes.rs`).

use std::time::Duration;

use haggle_protocol::limits::MAX_LIFETIME;
use haggle_protocol::{ListingKey, Object, ObjectId, PublicKey, ThreadState, Timestamp};

use crate::derived::Changes;
use crate::error::StoreError;
use crate::keys::{self, Head};
use crate::store::Store;

/// How long a thread that ended without a deal is kept after its last activity.
pub const THREAD_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How long the owner's own listing is kept after it expired, so that its owner can still see
/// it and renew it (others' go at the first sweep after their expiry).
pub const OWN_EXPIRED_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What the sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Listings whose current revision had expired.
    pub listings: usize,
    /// Threads that ended without a deal more than [`THREAD_RETENTION`] ago.
    pub threads: usize,
    /// Expired mailboxes and receipts.
    pub mail: usize,
    /// Conversations of notes whose last note is more than [`THREAD_RETENTION`] old (those
    /// about a thread still held stay).
    pub conversations: usize,
    /// Others' listings evicted to keep within the store's budget (by the caller of
    /// [`Store::evict_over_budget`]; [`Store::sweep_expired`] leaves it 0).
    pub evicted: usize,
}

/// A swept listing's marker: no revision at or below `revision` is taken in again before
/// `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone {
    pub revision: u32,
    pub until: Timestamp,
}

impl Gone {
    fn encode(&self) -> [u8; 12] {
        let mut out = [0; 12];
        out[..4].copy_from_slice(&self.revision.to_be_bytes());
        out[4..].copy_from_slice(&self.until.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Gone> {
        let revision = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
        let until = Timestamp(u64::from_be_bytes(bytes.get(4..12)?.try_into().ok()?));
        Some(Gone { revision, until })
    }
}

impl Store {
    /// Removes what has had its time (see the module docs) and returns the counts.
    pub fn sweep_expired(&self, now: Timestamp) -> Result<Swept, StoreError> {
        self.sweep_expired_keeping(now, None)
    }

    /// [`Self::sweep_expired`], keeping the listings of `owner` (the node's own key) for
    /// [`OWN_EXPIRED_RETENTION`] after they expired.
    pub fn sweep_expired_keeping(
        &self,
        now: Timestamp,
        owner: Option<&PublicKey>,
    ) -> Result<Swept, StoreError> {
        let listings = self.sweep_listings(now, owner)?;
        self.sweep_evicted(now)?;
        // Mail first: a lapsed bid or pledge leaves with all its records (and its thread, when
        // it has no replies) before the thread sweep looks at threads.
        let mail = {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            self.sweep_mail(now)?
        };
        let threads = self.sweep_threads(now)?;
        let cutoff = Timestamp(now.as_millis().saturating_sub(THREAD_RETENTION.as_millis() as u64));
        let conversations = self.sweep_notes(cutoff)?;
        if listings > 0 {
            self.catch_up_index()?;
        }
        Ok(Swept { listings, threads, mail, conversations, evicted: 0 })
    }

    /// The marker a swept listing left, if it still guards anything at `now`.
    pub(crate) fn gone(&self, key: &ListingKey, now: Timestamp) -> Result<Option<Gone>, StoreError> {
        let Some(bytes) = self.db.get(keys::gone(key))? else { return Ok(None) };
        let gone = Gone::decode(&bytes).ok_or(StoreError::Corrupt { what: "swept listing marker" })?;
        Ok((gone.until > now).then_some(gone))
    }

    fn sweep_listings(&self, now: Timestamp, owner: Option<&PublicKey>) -> Result<usize, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut expired = self.expired_listings(now)?;
        // The owner's own stay a while, to be seen and renewed.
        expired
            .retain(|(at, key)| Some(&key.author) != owner || at.saturating_add(OWN_EXPIRED_RETENTION) < now);
        for (_, key) in &expired {
            let mut batch = crate::writes::Batch::default();
            let mut set = Changes::default();
            if let Some(head) = self.head(key)? {
                self.drop_listing(&mut batch, &mut set, key, &head)?;
            }
            self.mark_for_index(&mut batch, key)?;
            self.apply(batch, set)?;
        }
        // Markers that guard nothing any more.
        self.forget_markers(keys::GONE_EXPIRY, now, |k| {
            keys::listing_key_at_end(k).map(|key| keys::gone(&key))
        })?;
        Ok(expired.len())
    }

    /// Adds to `batch` the removal of a listing (every revision held, its head and its place in
    /// the reconciliation set), leaving a [`Gone`] marker; returns the ids removed and until when
    /// any of them could come back.
    fn drop_listing(
        &self,
        batch: &mut crate::writes::Batch,
        set: &mut Changes,
        key: &ListingKey,
        head: &Head,
    ) -> Result<(Vec<ObjectId>, Timestamp), StoreError> {
        batch.remove(keys::head(key));
        set.head_removed(key, head);
        let until = self.guarded_until(head)?;
        self.mark_gone(batch, key, Gone { revision: head.revision, until })?;
        let ids: Vec<ObjectId> = head.history.iter().chain([&head.id]).copied().collect();
        for id in &ids {
            batch.remove(keys::object(id));
        }
        // The ids of revisions dropped earlier go with the listing.
        for k in self.db.scan_prefix(keys::key(keys::LISTING_ALIAS, &[&key.to_bytes()])).keys() {
            let k = k?;
            let gone = keys::id_at_end(&k).ok_or(StoreError::Corrupt { what: "listing alias key" })?;
            batch.remove(keys::alias(&gone));
            batch.remove(k.to_vec());
        }
        Ok((ids, until))
    }

    /// Marks a listing for the search index to read again: dropped, or an auction's high bid
    /// raised. Rare enough to afford a durable mark: the index must take the change even if
    /// the process dies before the next index commit.
    pub(crate) fn mark_for_index(
        &self,
        batch: &mut crate::writes::Batch,
        key: &ListingKey,
    ) -> Result<(), StoreError> {
        let seq = self.next_seq()?;
        batch.insert(keys::index_pending(key), seq.to_be_bytes().as_slice());
        Ok(())
    }

    /// Keeps the store within `max_listings` listings: when over, others' listings are evicted
    /// down to 95% of it, closed ones first (no search finds them), then soonest to expire
    /// first (they would go first anyway), never the
    /// owner's (`me`), and never one with a thread the owner is a party to or a deal here. An
    /// auction's or campaign's bids or pledges go with it. An evicted object is remembered until it could no longer come
    /// back, so neither sync nor gossip brings it again ([`Store::is_evicted`]). Returns how many
    /// listings went.
    pub fn evict_over_budget(&self, max_listings: usize, me: &PublicKey) -> Result<usize, StoreError> {
        // One pass at a time (a sweep that outlasts the sweep interval is not doubled).
        let Ok(_pass) = self.evicting.try_lock() else { return Ok(0) };
        let held = self.listings_held()?;
        if held <= max_listings {
            return Ok(0);
        }
        let target = max_listings - max_listings / 20;
        let mut excess = held - target;
        let mut evicted = 0;
        // Others' listings as they stand now, the closed, then soonest to expire first; each eviction takes the
        // write lock on its own, so ingest waits for one listing at a time, not for the whole
        // pass.
        for key in self.listings_for_eviction(me)? {
            if excess == 0 {
                break;
            }
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            // Threads on it that the owner is a party to (every node holds the public bids and
            // pledges of every auction and campaign; those alone protect nothing).
            let mut threads = Vec::new();
            for k in self.db.scan_prefix(keys::key(keys::LISTING_THREAD, &[&key.to_bytes()])).keys() {
                threads.push(keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "listing thread key" })?);
            }
            let mut protected =
                self.db.scan_prefix(keys::key(keys::LISTING_DEAL, &[&key.to_bytes()])).next().is_some();
            for thread in &threads {
                protected = protected || self.db.contains_key(keys::party_thread(me, thread))?;
            }
            // A conversation about it, too: answers about a listing not held are refused.
            protected = protected || self.has_conversation_about(&key)?;
            let Some(head) = self.head(&key)?.filter(|_| !protected) else { continue };
            let mut batch = crate::writes::Batch::default();
            let mut set = Changes::default();
            self.may_have_evicted.store(true, std::sync::atomic::Ordering::Release);
            let (mut ids, until) = self.drop_listing(&mut batch, &mut set, &key, &head)?;
            // Its bids or pledges go with it.
            for thread in &threads {
                if let Some(bytes) = self.db.get(keys::object(thread))? {
                    let offer = crate::store::decode_stored(&bytes)?;
                    if offer.body().opening().is_some() && offer.kind() != haggle_protocol::ObjectKind::Offer
                    {
                        let _ = self.sweep_bid(&mut batch, &mut set, &offer)?;
                        ids.push(*thread);
                    }
                }
            }
            for id in &ids {
                evict_in(&mut batch, id, until, &key);
            }
            self.mark_for_index(&mut batch, &key)?;
            self.apply(batch, set)?;
            self.forget_offers(Some(&key));
            evicted += 1;
            excess -= 1;
        }
        if evicted > 0 {
            // What the budget was, so a start with a larger one lets them back.
            self.db.insert(keys::EVICTED_UNDER_KEY, &(max_listings as u64).to_be_bytes())?;
            self.catch_up_index()?;
        }
        Ok(evicted)
    }

    /// Whether `id` was evicted to keep the store within its budget (and could still come back).
    pub fn is_evicted(&self, id: &ObjectId) -> Result<bool, StoreError> {
        // Most stores never evict: then this costs no lookup.
        if !self.may_have_evicted.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(false);
        }
        Ok(self.db.contains_key(keys::evicted(id))?)
    }

    /// Marks objects refused as if evicted, until `until`: sync does not fetch them again
    /// meanwhile, and the same objects arriving by gossip are taken as known (listings refused
    /// for their author's quota, bids and pledges refused for good).
    pub fn refuse_until(&self, ids: &[ObjectId], until: Timestamp) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.may_have_evicted.store(true, std::sync::atomic::Ordering::Release);
        let mut batch = crate::writes::Batch::default();
        for id in ids {
            refuse_in(&mut batch, id, until);
        }
        self.apply_writes(batch)
    }

    /// Lets objects evicted for the budget come back when `max_listings` is larger than the
    /// budget they were evicted under, as many listings as it has room for now (below the 95%
    /// eviction brings the store down to): sync then fetches them again (a trial's operator
    /// raised the budget after a small one and found the listings evicted meanwhile gone for
    /// good). The same budget lets none back, whatever the sweeps removed since. Objects
    /// refused for other reasons (an author's quota, a bid refused for good) stay refused.
    /// Returns how many listings may come back.
    pub fn readmit_evicted(&self, max_listings: usize) -> Result<usize, StoreError> {
        if !self.may_have_evicted.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(0);
        }
        let under = self
            .db
            .get(keys::EVICTED_UNDER_KEY)?
            .and_then(|v| v.as_ref().try_into().ok())
            .map(u64::from_be_bytes);
        if under.is_none_or(|under| max_listings as u64 <= under) {
            return Ok(0);
        }
        let target = max_listings - max_listings / 20;
        let room = target.saturating_sub(self.listings_held()?);
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut listings = std::collections::HashSet::new();
        let mut batch = crate::writes::Batch::default();
        let mut in_batch = 0;
        for entry in self.db.scan_prefix([keys::EVICTED]) {
            let (k, v) = entry?;
            // The budget's mark: the time it could come back until, [`FOR_BUDGET`], and the
            // listing it was (or was a revision, a bid or a pledge of).
            let Some((until, rest)) = v.split_first_chunk::<8>() else { continue };
            let Some((&FOR_BUDGET, listing)) = rest.split_first() else { continue };
            let (Some(id), Ok(listing)) = (keys::id_at_end(&k), <[u8; 48]>::try_from(listing)) else {
                continue;
            };
            let listing = ListingKey::from_bytes(&listing);
            if !listings.contains(&listing) && listings.len() == room {
                continue;
            }
            batch.remove(k.to_vec());
            batch.remove(keys::evicted_expiry(Timestamp::from_millis(u64::from_be_bytes(*until)), &id));
            // The listing's mark as gone, which would refuse its revisions too.
            if listings.insert(listing)
                && let Some(gone) = self.db.get(keys::gone(&listing))?.as_deref().and_then(Gone::decode)
            {
                self.clear_gone(&mut batch, &listing, gone);
            }
            // In batches of a bounded size, however many were evicted.
            in_batch += 1;
            if in_batch == READMIT_BATCH {
                self.apply_writes(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        self.apply_writes(batch)?;
        // Let back once: the next start under this budget lets none back.
        self.db.insert(keys::EVICTED_UNDER_KEY, &(max_listings as u64).to_be_bytes())?;
        Ok(listings.len())
    }

    /// Forgets evicted objects that can no longer come back.
    fn sweep_evicted(&self, now: Timestamp) -> Result<(), StoreError> {
        self.forget_markers(keys::EVICTED_EXPIRY, now, |k| keys::id_at_end(k).map(|id| keys::evicted(&id)))
    }

    /// Removes the markers whose time (their key in the `table` of expiries, read by `marker`)
    /// is before `now`, with their expiry entries.
    fn forget_markers(
        &self,
        table: u8,
        now: Timestamp,
        marker: impl Fn(&[u8]) -> Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let end = keys::key(table, &[&now.to_be_bytes()]);
        let stale: Vec<sled::IVec> = self.db.range(vec![table]..end).keys().collect::<Result<_, _>>()?;
        for k in stale {
            let mut batch = crate::writes::Batch::default();
            if let Some(marker) = marker(&k) {
                batch.remove(marker);
            }
            batch.remove(k);
            self.apply_writes(batch)?;
        }
        Ok(())
    }

    /// Until when an earlier revision of the listing `head` describes could still be valid: the
    /// latest expiry among the revisions held, and at least [`MAX_LIFETIME`] after the current
    /// revision was signed (an earlier revision, signed before it, expires by then).
    fn guarded_until(&self, head: &Head) -> Result<Timestamp, StoreError> {
        let mut until = head.created_at.saturating_add(MAX_LIFETIME).max(head.expires_at);
        for id in &head.history {
            if let Some(expires) = self.get(id)?.as_ref().and_then(Object::expires_at) {
                until = until.max(expires);
            }
        }
        Ok(until)
    }

    /// Writes (or raises) the marker of a swept listing.
    fn mark_gone(
        &self,
        batch: &mut crate::writes::Batch,
        key: &ListingKey,
        mut gone: Gone,
    ) -> Result<(), StoreError> {
        if let Some(bytes) = self.db.get(keys::gone(key))?
            && let Some(old) = Gone::decode(&bytes)
        {
            batch.remove(keys::gone_expiry(old.until, key));
            gone = Gone { revision: gone.revision.max(old.revision), until: gone.until.max(old.until) };
        }
        batch.insert(keys::gone(key), gone.encode().as_slice());
        batch.insert(keys::gone_expiry(gone.until, key), &[]);
        Ok(())
    }

    /// Removes the marker of a listing that came back with a newer revision.
    pub(crate) fn clear_gone(&self, batch: &mut crate::writes::Batch, key: &ListingKey, gone: Gone) {
        batch.remove(keys::gone(key));
        batch.remove(keys::gone_expiry(gone.until, key));
    }

    /// Removes threads that ended without a deal more than [`THREAD_RETENTION`] ago: every
    /// message, its index entries and any outbox record.
    fn sweep_threads(&self, now: Timestamp) -> Result<usize, StoreError> {
        let cutoff = Timestamp(now.as_millis().saturating_sub(THREAD_RETENTION.as_millis() as u64));
        let mut candidates: Vec<(ListingKey, ObjectId)> = Vec::new();
        for k in self.db.scan_prefix([keys::LISTING_THREAD]).keys() {
            let k = k?;
            let key =
                k.get(1..49).and_then(|b| <[u8; 48]>::try_from(b).ok()).map(|b| ListingKey::from_bytes(&b));
            let (Some(key), Some(thread)) = (key, keys::id_at_end(&k)) else {
                return Err(StoreError::Corrupt { what: "listing thread key" });
            };
            candidates.push((key, thread));
        }
        let mut swept = 0;
        for (key, thread) in candidates {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let Some(record) = self.thread_at(&thread, now)? else { continue };
            // A bid or pledge is public until it lapses: its thread goes with it (sweep_bid).
            let public = matches!(
                record.offer.kind(),
                haggle_protocol::ObjectKind::Bid | haggle_protocol::ObjectKind::Pledge
            );
            if public && record.offer.body().terms().is_some_and(|t| t.expires_at > now) {
                continue;
            }
            let ended = matches!(
                record.view.state,
                ThreadState::Declined | ThreadState::Withdrawn | ThreadState::Expired
            );
            let mut last = record.messages.iter().map(Object::created_at).max().unwrap_or(Timestamp(0));
            if record.view.state == ThreadState::Expired {
                last = last.max(record.view.terms.expires_at);
            }
            if !ended || last >= cutoff {
                continue;
            }
            let mut batch = crate::writes::Batch::default();
            for message in &record.messages {
                let id = message.id();
                batch.remove(keys::object(&id));
                batch.remove(keys::thread(&thread, &id));
                batch.remove(keys::outbox(&id));
                if let Some(to) = message.body().recipient() {
                    batch.remove(keys::outbox_pending(&to, &id));
                }
            }
            batch.remove(keys::listing_thread(&key, &thread));
            batch.remove(keys::party_thread(&record.offer.author(), &thread));
            if let Some(to) = record.offer.body().recipient() {
                batch.remove(keys::party_thread(&to, &thread));
            }
            self.apply_writes(batch)?;
            self.forget_offers(Some(&key));
            swept += 1;
        }
        Ok(swept)
    }
}

/// Adds to `batch` the mark that `id` is refused (as if evicted) until `until`, and the record
/// by which the sweep forgets the mark then. The caller sets `may_have_evicted`.
pub(crate) fn refuse_in(batch: &mut crate::writes::Batch, id: &ObjectId, until: Timestamp) {
    mark_in(batch, id, until, None);
}

/// Eviction marks forgotten per write when a raised budget lets listings back.
const READMIT_BATCH: usize = 1_000;

/// The byte after the time in an eviction mark written for the store's budget (see
/// [`Store::readmit_evicted`]); a mark of 8 bytes is a refusal.
const FOR_BUDGET: u8 = 1;

/// Marks `id`, of the listing `listing`, evicted for the budget until `until` (as
/// [`refuse_in`], but a raised budget lets it back).
fn evict_in(batch: &mut crate::writes::Batch, id: &ObjectId, until: Timestamp, listing: &ListingKey) {
    mark_in(batch, id, until, Some(listing));
}

/// Marks `id` as held away until `until`: refused, or (with its listing) evicted for the budget.
fn mark_in(
    batch: &mut crate::writes::Batch,
    id: &ObjectId,
    until: Timestamp,
    for_budget: Option<&ListingKey>,
) {
    let mut mark = until.to_be_bytes().to_vec();
    if let Some(listing) = for_budget {
        mark.push(FOR_BUDGET);
        mark.extend_from_slice(&listing.to_bytes());
    }
    batch.insert(keys::evicted(id), mark.as_slice());
    batch.insert(keys::evicted_expiry(until, id), &[]);
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{
        DAY, accept, confirm, key, live_listing, live_terms, now, offer, sign_now, withdraw,
    };
    use haggle_protocol::{Body, Listing, ListingStatus};

    use super::*;
    use crate::testing::{put, store};
    use crate::{Durability, Outcome, RejectReason};

    fn revision(n: u32, status: ListingStatus, expires_in_days: u32) -> haggle_protocol::Verified<Object> {
        let listing = Listing {
            revision: n,
            status,
            expires_at: now().saturating_add(expires_in_days * DAY),
            ..live_listing("Road bike")
        };
        sign_now(&key(1), Body::Listing(listing))
    }

    /// Defect: the owner's own listing went at the first sweep after it expired, so `renew`
    /// could no longer find it. It stays for [`OWN_EXPIRED_RETENTION`]; others' go at once.
    #[test]
    fn the_owners_expired_listing_stays_a_while_to_be_renewed() {
        let (_d, store) = store();
        let mine = revision(1, ListingStatus::Active, 1);
        let theirs = sign_now(
            &key(2),
            Body::Listing(Listing { expires_at: now().saturating_add(DAY), ..live_listing("Lamp") }),
        );
        assert!(put(&store, &mine).is_new() && put(&store, &theirs).is_new());
        let owner = key(1).public();
        let later = now().saturating_add(2 * DAY);
        assert_eq!(store.sweep_expired_keeping(later, Some(&owner)).expect("sweep").listings, 1, "theirs");
        assert!(store.get(&mine.id()).expect("read").is_some(), "the owner's expired listing is kept");
        assert!(store.get(&theirs.id()).expect("read").is_none());
        let much_later = later.saturating_add(OWN_EXPIRED_RETENTION);
        assert_eq!(
            store.sweep_expired_keeping(much_later, Some(&owner)).expect("sweep").listings,
            1,
            "mine, at last"
        );
        assert!(store.get(&mine.id()).expect("read").is_none());
    }

    /// Attack: replaying an old revision after its successor (here a short-lived tombstone)
    /// expired and was swept brought the retracted listing back.
    #[test]
    fn an_old_revision_replayed_after_the_sweep_stays_gone() {
        let (_d, store) = store();
        let live = revision(1, ListingStatus::Active, 60);
        let tomb = revision(2, ListingStatus::Closed, 1);
        assert!(put(&store, &tomb).is_new());
        assert!(matches!(put(&store, &live), Outcome::Stale { .. }));
        let later = now().saturating_add(2 * DAY);
        assert_eq!(store.sweep_expired(later).expect("sweep").listings, 1);

        let replay = store.write(&live, crate::ingest::Origin::Network, later).expect("write");
        assert!(
            matches!(&replay, Outcome::Rejected(r) if matches!(r.reason, RejectReason::Superseded { revision: 2 })),
            "{replay:?}"
        );
        if let Outcome::Rejected(r) = &replay {
            assert!(!r.reason.is_peer_fault(), "a replay may come from an honest relay");
        }
        // The author can still publish the listing again, with a newer revision.
        let newer = revision(3, ListingStatus::Active, 30);
        assert!(store.write(&newer, crate::ingest::Origin::Network, later).expect("write").is_new());
        assert!(store.db.scan_prefix([keys::GONE]).next().is_none(), "the marker went with it");
    }

    #[test]
    fn a_marker_guards_revisions_it_never_saw_and_is_forgotten_when_they_cannot_come_back() {
        let (_d, store) = store();
        let tomb = revision(2, ListingStatus::Closed, 1);
        assert!(put(&store, &tomb).is_new());
        assert_eq!(store.sweep_expired(now().saturating_add(2 * DAY)).expect("sweep").listings, 1);
        // Revision 1 was never seen here; it could have been valid for up to 90 days.
        let unseen = revision(1, ListingStatus::Active, 80);
        let at = now().saturating_add(3 * DAY);
        assert!(matches!(
            store.write(&unseen, crate::ingest::Origin::Network, at).expect("write"),
            Outcome::Rejected(_)
        ));
        assert_eq!(store.db.scan_prefix([keys::GONE]).count(), 1);
        store.sweep_expired(now().saturating_add(MAX_LIFETIME).saturating_add(DAY)).expect("sweep");
        assert_eq!(store.db.scan_prefix([keys::GONE]).count(), 0);
        assert_eq!(store.db.scan_prefix([keys::GONE_EXPIRY]).count(), 0);
    }

    #[test]
    fn ended_threads_go_after_their_retention_and_deals_stay() {
        let (_d, store) = store();
        let seller = key(1);
        let listing = sign_now(&seller, Body::Listing(Listing { quantity: 5, ..live_listing("Road bike") }));
        assert!(put(&store, &listing).is_new());
        let withdrawn = sign_now(&key(2), offer(&listing, live_terms(1, 100)));
        let w = sign_now(&key(2), withdraw(&withdrawn, &withdrawn, &listing));
        let dealt = sign_now(&key(3), offer(&listing, live_terms(1, 200)));
        let a = sign_now(&seller, accept(&dealt, &dealt));
        let cf = sign_now(&key(3), confirm(&dealt, &a));
        let open = sign_now(&key(4), offer(&listing, live_terms(1, 300)));
        for o in [&withdrawn, &w, &dealt, &a, &cf, &open] {
            assert!(put(&store, o).is_new());
        }
        assert_eq!(store.sweep_expired(now()).expect("sweep").threads, 0, "nothing is old yet");
        // 31 days on: the withdrawn thread has had its 30 days; the open one expired 24 days ago.
        let swept = store.sweep_expired(now().saturating_add(31 * DAY)).expect("sweep");
        assert_eq!(swept.threads, 1);
        assert!(store.get(&withdrawn.id()).expect("read").is_none());
        assert!(store.get(&w.id()).expect("read").is_none());
        assert!(store.thread(&dealt.id()).expect("read").is_some(), "a deal's thread stays");
        assert!(store.deal(&a.id()).expect("read").is_some());
        assert!(store.thread(&open.id()).expect("read").is_some());
        let swept = store.sweep_expired(now().saturating_add(40 * DAY)).expect("sweep");
        assert_eq!(swept.threads, 1, "the expired offer goes 30 days after its terms ran out");
        assert_eq!(store.threads_of(&key(4).public()).expect("read").len(), 0);
        assert_eq!(store.threads_of(&key(3).public()).expect("read").len(), 1);
        assert_eq!(store.stats().expect("stats").threads, 1);
    }

    #[test]
    fn one_author_has_at_most_its_quota_of_listings() {
        let (_d, store) = store();
        let author = key(9);
        let signed: Vec<_> = (0..=crate::MAX_LISTINGS_PER_AUTHOR as u32)
            .map(|i| {
                let mut nonce = [0u8; 16];
                nonce[..4].copy_from_slice(&i.to_le_bytes());
                sign_now(&author, Body::Listing(Listing { nonce, ..live_listing("Lamp") }))
            })
            .collect();
        let outcomes =
            store.ingest_batch(&signed.iter().map(|o| o.bytes()).collect::<Vec<_>>(), Durability::Lazy);
        let outcomes = outcomes.expect("ingest");
        assert_eq!(outcomes.iter().filter(|o| o.is_new()).count(), crate::MAX_LISTINGS_PER_AUTHOR);
        let last = outcomes.last().expect("one more");
        assert!(
            matches!(last, Outcome::Rejected(r) if matches!(r.reason, RejectReason::AuthorQuota { .. }) && !r.reason.is_peer_fault()),
            "{last:?}"
        );
        // A revision of a listing it has is still taken.
        let first = signed[0].listing().expect("listing").clone();
        let revised = sign_now(&author, Body::Listing(Listing { revision: 2, ..first }));
        assert!(put(&store, &revised).is_new());
        // Other authors are not affected.
        assert!(put(&store, &sign_now(&key(8), Body::Listing(live_listing("Lamp")))).is_new());
        // An expired listing (the owner's stay a while to be renewed) holds no place.
        let second = signed[1].listing().expect("listing").clone();
        let expires_at = now().saturating_add(DAY);
        let expiring = sign_now(&author, Body::Listing(Listing { revision: 2, expires_at, ..second }));
        assert!(put(&store, &expiring).is_new(), "a revision expiring tomorrow");
        let later = now().saturating_add(2 * DAY);
        let mut nonce = [0u8; 16];
        nonce[..4].copy_from_slice(&5_000u32.to_le_bytes());
        let another = sign_now(&author, Body::Listing(Listing { nonce, ..live_listing("Lamp") }));
        let taken = store.write(&another, crate::ingest::Origin::Network, later).expect("write");
        assert!(taken.is_new(), "the expired listing's place is free: {taken:?}");
        // A closed one (sold, retracted) holds none either (a trial's shop that had sold its
        // thousandth item could list nothing for up to 90 days).
        let third = signed[2].listing().expect("listing").clone();
        let closed = Listing { revision: 2, status: ListingStatus::Closed, ..third };
        assert!(put(&store, &sign_now(&author, Body::Listing(closed))).is_new(), "retracted");
        nonce[..4].copy_from_slice(&5_001u32.to_le_bytes());
        let next = sign_now(&author, Body::Listing(Listing { nonce, ..live_listing("Lamp") }));
        let taken = store.write(&next, crate::ingest::Origin::Network, later).expect("write");
        assert!(taken.is_new(), "the closed listing's place is free: {taken:?}");
        nonce[..4].copy_from_slice(&5_002u32.to_le_bytes());
        let over = sign_now(&author, Body::Listing(Listing { nonce, ..live_listing("Lamp") }));
        let refused = store.write(&over, crate::ingest::Origin::Network, later).expect("write");
        assert!(
            matches!(&refused, Outcome::Rejected(r) if matches!(r.reason, RejectReason::AuthorQuota { .. })),
            "{refused:?}"
        );
        // Opened again (restocked), the closed one would take a place too: refused at the cap,
        // or closing and reopening would give one key as many open as it may hold.
        let third = signed[2].listing().expect("listing").clone();
        let reopened = sign_now(&author, Body::Listing(Listing { revision: 3, ..third }));
        let refused = store.write(&reopened, crate::ingest::Origin::Network, later).expect("write");
        assert!(
            matches!(&refused, Outcome::Rejected(r) if matches!(r.reason, RejectReason::AuthorQuota { .. })),
            "{refused:?}"
        );
    }

    /// Closed listings hold no place among the open ones, but all an author's listings have a
    /// bound of their own: what one key can make a node keep.
    #[test]
    fn one_author_has_at_most_its_quota_of_listings_held_open_or_closed() {
        let (_d, store) = store();
        let author = key(9);
        let closed: Vec<Vec<u8>> = (0..crate::MAX_HELD_PER_AUTHOR as u32)
            .map(|i| {
                let mut nonce = [0u8; 16];
                nonce[..4].copy_from_slice(&i.to_le_bytes());
                let listing = Listing { nonce, status: ListingStatus::Closed, ..live_listing("Lamp") };
                sign_now(&author, Body::Listing(listing)).bytes().to_vec()
            })
            .collect();
        let outcomes = store.ingest_batch(&closed, Durability::Lazy).expect("ingest");
        assert_eq!(outcomes.iter().filter(|o| o.is_new()).count(), crate::MAX_HELD_PER_AUTHOR);
        let one_more = sign_now(&author, Body::Listing(live_listing("Lamp")));
        assert!(
            matches!(put(&store, &one_more), Outcome::Rejected(r) if matches!(r.reason, RejectReason::AuthorHeldQuota { .. }) && !r.reason.is_peer_fault())
        );
    }

    /// Attack: valid listings from many keys, more than a home machine should hold. The store
    /// keeps to its budget by evicting others' listings soonest to expire first, never the
    /// owner's or one with a thread, and an evicted listing does not come back by sync or gossip.
    #[test]
    fn over_its_budget_the_store_evicts_others_listings_soonest_to_expire_first() {
        let (_d, store) = store();
        let me = key(1);
        let expiring = |k: u8, days: u32| {
            let listing = Listing { expires_at: now().saturating_add(days * DAY), ..live_listing("Lamp") };
            sign_now(&key(k), Body::Listing(listing))
        };
        let own = expiring(1, 1);
        let with_thread = expiring(2, 2);
        let soon = expiring(3, 3);
        let later = expiring(4, 10);
        let latest = expiring(5, 20);
        let asked = expiring(6, 2);
        for o in [&own, &with_thread, &soon, &later, &latest, &asked] {
            assert!(put(&store, o).is_new());
        }
        let offer_on_it = sign_now(&me, offer(&with_thread, live_terms(1, 100)));
        assert!(put(&store, &offer_on_it).is_new());
        // The owner asked about one: its answers would be refused without it.
        let about = haggle_protocol::About::Listing(asked.listing_key().expect("a listing"));
        let question = haggle_protocol::Note { about, to: key(6).public(), message: "Still there?".into() };
        assert!(put(&store, &sign_now(&me, Body::Note(question))).is_new());
        assert_eq!(store.evict_over_budget(10, &me.public()).expect("evicts"), 0, "within budget");
        // A budget of 4 (95% of it, rounded up, is 4): own, threaded and asked-about ones stay,
        // the soonest go.
        assert_eq!(store.evict_over_budget(4, &me.public()).expect("evicts"), 2);
        for (o, kept) in [
            (&own, true),
            (&with_thread, true),
            (&soon, false),
            (&later, false),
            (&latest, true),
            (&asked, true),
        ] {
            assert_eq!(store.contains(&o.id()).expect("read"), kept, "{}", o.id());
            assert_eq!(store.holds(o).expect("read"), kept, "{}", o.id());
        }
        assert!(store.is_evicted(&soon.id()).expect("read"));
        // Sync or gossip bringing it back changes nothing.
        assert!(matches!(put(&store, &soon), Outcome::Duplicate { .. }));
        assert!(!store.contains(&soon.id()).expect("read"));
        assert_eq!(store.sync_items(now()).expect("items").len(), 4);
        // Once it could no longer come back, it is forgotten.
        store.sweep_expired(now().saturating_add(MAX_LIFETIME).saturating_add(2 * DAY)).expect("sweep");
        assert!(!store.is_evicted(&soon.id()).expect("read"));
    }

    /// From a trial: a full store kept 474 retracted listings (kept 90 days to end the offers on
    /// them) and evicted every open one (living 30), since eviction went by expiry alone. The
    /// closed go first.
    #[test]
    fn eviction_takes_closed_listings_before_open_ones() {
        let (_d, store) = store();
        let me = key(1);
        let open = sign_now(
            &key(2),
            Body::Listing(Listing { expires_at: now().saturating_add(DAY), ..live_listing("Lamp") }),
        );
        let closed = sign_now(
            &key(3),
            Body::Listing(Listing { status: ListingStatus::Closed, ..live_listing("Chair") }),
        );
        assert!(put(&store, &open).is_new() && put(&store, &closed).is_new());
        assert_eq!(store.evict_over_budget(1, &me.public()).expect("evicts"), 1);
        assert!(store.contains(&open.id()).expect("read"), "the open one stays");
        assert!(!store.contains(&closed.id()).expect("read"), "the closed one went");
    }

    /// From a trial: a budget raised after a small one left the listings evicted meanwhile
    /// out for good. Raised, the budget lets back as many as it has room for; what was refused
    /// for another reason stays refused.
    #[test]
    fn a_raised_budget_lets_evicted_listings_come_back() {
        let (_d, store) = store();
        let me = key(1);
        let listings: Vec<_> = (2..8)
            .map(|k| {
                let listing =
                    Listing { expires_at: now().saturating_add(u32::from(k) * DAY), ..live_listing("Lamp") };
                sign_now(&key(k), Body::Listing(listing))
            })
            .collect();
        for o in &listings {
            assert!(put(&store, o).is_new());
        }
        let refused = sign_now(&key(9), Body::Listing(live_listing("Chair")));
        store.refuse_until(&[refused.id()], now().saturating_add(DAY)).expect("refused");
        assert_eq!(store.evict_over_budget(2, &me.public()).expect("evicts"), 4);
        assert_eq!(store.readmit_evicted(2).expect("none"), 0, "the same budget lets none back");
        // Whatever room sweeps made since (a review: every start under the same budget let
        // evicted listings back), and not under a smaller one.
        assert_eq!(store.readmit_evicted(1).expect("none"), 0, "a smaller budget neither");
        // A budget of 4 keeps 4 (95%, rounded up): room for 2 more of the 4 evicted.
        assert_eq!(store.readmit_evicted(4).expect("some"), 2);
        let back: Vec<_> = listings.iter().filter(|o| !store.is_evicted(&o.id()).expect("read")).collect();
        assert_eq!(back.len(), 4, "2 held and 2 free to come back");
        for o in &back {
            if !store.contains(&o.id()).expect("read") {
                assert!(put(&store, o).is_new(), "sync brings it again");
            }
        }
        assert_eq!(store.readmit_evicted(4).expect("once"), 0, "let back once per raise");
        assert_eq!(store.readmit_evicted(1_000).expect("the rest"), 2);
        assert!(listings.iter().all(|o| !store.is_evicted(&o.id()).expect("read")));
        assert!(store.is_evicted(&refused.id()).expect("read"), "refused for another reason: stays");
    }

    /// Attack: strangers' bids on a stranger's auction must not make it unevictable (every node
    /// holds every bid); it goes with its bids, while an auction the owner bid on stays.
    #[test]
    fn others_auctions_are_evicted_with_their_bids_unless_the_owner_bid() {
        use haggle_protocol::fixtures::{auction, bid};
        let (_d, store) = store();
        let me = key(1);
        let t = now();
        let lot = |k: u8, days: u32| {
            let mut l = auction("Lamp", 1_000, 100, t.saturating_add(days * DAY), 300);
            l.nonce[0] = k;
            sign_now(&key(k), Body::Listing(l))
        };
        let (theirs, bid_on, filler) = (lot(2, 1), lot(3, 2), lot(4, 40));
        for o in [&theirs, &bid_on, &filler] {
            assert!(put(&store, o).is_new());
        }
        let strangers = sign_now(&key(5), bid(&theirs, 1_000));
        let mine = sign_now(&me, bid(&bid_on, 1_000));
        for o in [&strangers, &mine] {
            assert!(put(&store, o).is_new());
        }
        assert_eq!(store.evict_over_budget(1, &me.public()).expect("evicts"), 2);
        assert!(
            !store.contains(&theirs.id()).expect("read") && store.is_evicted(&theirs.id()).expect("read")
        );
        assert!(!store.contains(&strangers.id()).expect("read"), "its bids go with it");
        assert!(store.is_evicted(&strangers.id()).expect("read"));
        assert!(store.contains(&bid_on.id()).expect("read") && store.contains(&mine.id()).expect("read"));
        assert!(!store.contains(&filler.id()).expect("read"));
    }
}
