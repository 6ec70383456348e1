//! Bids: public offers on auctions (see `haggle_protocol::auction`). Every node stores and syncs
//! them, so every node computes the same auction view; each bid also opens a thread, so the
//! seller's Accept and the winner's Confirm make an ordinary Deal.
//!
//! A bid is taken in only if it counts in this node's view (made by the end, at least the next
//! minimum); the seller's own node also refuses a bid that reaches it after the end. Budgets: a
//! bidder has at most [`MAX_BIDS_PER_BIDDER`] bids on one auction and [`MAX_BIDS_PER_AUTHOR`] in
//! all; an auction holds at most [`MAX_BIDS_PER_AUCTION`]. Each bid pays proof of work like a
//! listing and must raise the price by the increment, so a flood from fresh keys is bounded in
//! count and costs real work and real (promised) money.

use haggle_protocol::auction::AuctionView;
use haggle_protocol::thread::check_offer;
use haggle_protocol::{BidError, Body, ListingKey, ListingStatus, Object, ObjectKind, PublicKey, Timestamp};

use crate::derived::Changes;
use crate::error::StoreError;
use crate::ingest::{Outcome, RejectReason, rejected};
use crate::keys;
use crate::store::{Store, decode_stored};

/// Bids one bidder may have on one auction: a bidding war of twenty rounds each.
pub const MAX_BIDS_PER_BIDDER: usize = 20;
/// Bids one auction holds: far above a lively auction's, and a bound on what one auction can
/// make every node store.
pub const MAX_BIDS_PER_AUCTION: usize = 500;
/// Bids one key may have held on a node at once, across auctions.
pub const MAX_BIDS_PER_AUTHOR: usize = 1_000;

impl Store {
    /// Tells the store whose node it is: bids on the owner's auctions that arrive after the end
    /// are refused, whatever time they carry.
    pub fn set_owner(&self, owner: PublicKey) {
        let _ = self.owner.set(owner);
    }

    pub(crate) fn write_bid(&self, bid: &Object, now: Timestamp) -> Result<Outcome, StoreError> {
        let id = bid.id();
        let Body::Bid(o) = bid.body() else { unreachable!("called for bids") };
        if o.terms.expires_at <= now {
            return Ok(rejected(Some(id), RejectReason::Expired));
        }
        let Some(listing) = self.get(&o.listing)? else {
            return Ok(rejected(Some(id), RejectReason::UnknownListing(o.listing)));
        };
        if let Err(e) = check_offer(&listing, bid) {
            return Ok(rejected(Some(id), e));
        }
        let key = listing.listing_key().expect("check_offer saw a listing");
        let Some((head, view)) = self.auction(&key)? else {
            return Ok(rejected(Some(id), RejectReason::UnknownListing(o.listing)));
        };
        if head.listing().is_some_and(|l| l.status == ListingStatus::Closed) {
            return Ok(rejected(Some(id), RejectReason::AuctionClosed));
        }
        // The seller's node judges the end by its own clock at arrival.
        if self.owner.get() == Some(&o.to) && view.is_over(now) {
            return Ok(rejected(Some(id), RejectReason::Bid(BidError::Ended(view.ends_at))));
        }
        if let Err(e) = view.admit(bid) {
            return Ok(rejected(Some(id), RejectReason::Bid(e)));
        }
        let bidder = bid.author();
        if view.bids.iter().filter(|b| b.bidder == bidder).count() >= MAX_BIDS_PER_BIDDER {
            return Ok(rejected(
                Some(id),
                RejectReason::BidQuota { max: MAX_BIDS_PER_BIDDER, scope: "auction" },
            ));
        }
        if view.bids.len() >= MAX_BIDS_PER_AUCTION {
            return Ok(rejected(Some(id), RejectReason::AuctionFull { max: MAX_BIDS_PER_AUCTION }));
        }
        if self.db.scan_prefix(keys::key(keys::BID_BY, &[bidder.as_bytes()])).count() >= MAX_BIDS_PER_AUTHOR {
            return Ok(rejected(
                Some(id),
                RejectReason::BidQuota { max: MAX_BIDS_PER_AUTHOR, scope: "node" },
            ));
        }
        let mut batch = sled::Batch::default();
        let mut set = Changes::default();
        batch.insert(keys::object(&id), bid.bytes());
        batch.insert(keys::thread(&id, &id), &[]);
        batch.insert(keys::listing_thread(&key, &id), &[]);
        batch.insert(keys::party_thread(&bidder, &id), &[]);
        batch.insert(keys::party_thread(&o.to, &id), &[]);
        // The auction's key rides along, for the sweep (the revision the bid names may be gone).
        batch.insert(keys::bid_by(&bidder, &id), key.to_bytes().as_slice());
        batch.insert(keys::mail_expiry(o.terms.expires_at, &id), &[]);
        set.insert(&mut batch, bid.created_at(), id, o.terms.expires_at);
        self.apply(batch, set)?;
        Ok(Outcome::New { id, kind: ObjectKind::Bid, deal: None })
    }

    /// The auction `key`'s current revision and its view from every bid held, or `None` if this
    /// node holds no such auction.
    pub fn auction(&self, key: &ListingKey) -> Result<Option<(Object, AuctionView)>, StoreError> {
        let Some(head) = self.listing(key)? else { return Ok(None) };
        let bids = self.bids_on(key)?;
        Ok(AuctionView::new(&head, bids.iter()).map(|view| (head, view)))
    }

    /// The auctions `bidder` has bids on (held here).
    pub fn auctions_bid_on(&self, bidder: &PublicKey) -> Result<Vec<ListingKey>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(keys::key(keys::BID_BY, &[bidder.as_bytes()])) {
            let (_, v) = entry?;
            let key =
                <[u8; 48]>::try_from(v.as_ref()).map_err(|_| StoreError::Corrupt { what: "bid record" })?;
            let key = ListingKey::from_bytes(&key);
            if !out.contains(&key) {
                out.push(key);
            }
        }
        Ok(out)
    }

    /// Every bid held on the auction `key`.
    pub fn bids_on(&self, key: &ListingKey) -> Result<Vec<Object>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::LISTING_THREAD, &[&key.to_bytes()])).keys() {
            let thread = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "listing thread key" })?;
            if let Some(bytes) = self.db.get(keys::object(&thread))? {
                let object = decode_stored(&bytes)?;
                if object.kind() == ObjectKind::Bid {
                    out.push(object);
                }
            }
        }
        Ok(out)
    }

    /// Removes an expired bid's records into `batch` (the sweep of mail, feedback and bids calls
    /// this). A bid whose thread has replies here (this node is a party) leaves its thread to
    /// the thread sweep.
    pub(crate) fn sweep_bid(
        &self,
        batch: &mut sled::Batch,
        set: &mut Changes,
        bid: &Object,
    ) -> Result<(), StoreError> {
        let id = bid.id();
        let Body::Bid(o) = bid.body() else { return Ok(()) };
        set.remove(batch, bid.created_at(), id);
        batch.remove(keys::mail_expiry(o.terms.expires_at, &id));
        let by = keys::bid_by(&bid.author(), &id);
        let key = self.db.get(&by)?.and_then(|v| <[u8; 48]>::try_from(v.as_ref()).ok());
        batch.remove(by);
        let replies = self.db.scan_prefix(keys::key(keys::THREAD, &[id.as_bytes()])).keys().count() > 1;
        if !replies {
            batch.remove(keys::object(&id));
            batch.remove(keys::thread(&id, &id));
            batch.remove(keys::party_thread(&bid.author(), &id));
            batch.remove(keys::party_thread(&o.to, &id));
            if let Some(key) = key {
                batch.remove(keys::listing_thread(&ListingKey::from_bytes(&key), &id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use haggle_protocol::fixtures::{
        DAY, accept, auction, author, bid, confirm, counter, key, live_terms, sign_at,
    };
    use haggle_protocol::{Deal, ThreadError, ThreadState, Verified};

    use super::*;
    use crate::{Durability, Rejection};

    const MIN: Duration = Duration::from_secs(60);

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        (dir, store)
    }

    fn put(store: &Store, object: &Verified<Object>) -> Outcome {
        store.ingest(object.bytes(), Durability::Lazy).expect("ingest")
    }

    fn refused(outcome: Outcome) -> RejectReason {
        match outcome {
            Outcome::Rejected(Rejection { reason, .. }) => reason,
            other => panic!("taken in: {other:?}"),
        }
    }

    /// An auction published `ago` before now that ends `ends_in` from its publication.
    fn running(ago: Duration, ends_in: Duration) -> (Timestamp, Verified<Object>) {
        let t = Timestamp::now().saturating_sub(ago);
        let l = auction("Lamp", 1_000, 100, t.saturating_add(ends_in), 300);
        (t, sign_at(&key(1), Body::Listing(l), t))
    }

    #[test]
    fn bids_are_stored_synced_and_must_raise_by_the_increment() {
        let (_d, s) = store();
        let (t, l) = running(MIN, DAY);
        assert!(put(&s, &l).is_new());
        let b1 = sign_at(&key(2), bid(&l, 1_000), t);
        let low = sign_at(&key(3), bid(&l, 1_050), t.saturating_add(MIN));
        let b2 = sign_at(&key(3), bid(&l, 1_100), t.saturating_add(MIN));
        assert!(put(&s, &b1).is_new());
        let reason = refused(put(&s, &low));
        assert!(matches!(reason, RejectReason::Bid(BidError::TooLow { min: 1_100, .. })), "{reason}");
        assert!(!reason.is_peer_fault(), "another node's view may differ");
        assert!(put(&s, &b2).is_new());
        let (_, view) = s.auction(&l.listing_key().expect("listing")).expect("read").expect("auction");
        assert_eq!(view.leader().map(|b| b.id), Some(b2.id()));
        let synced: Vec<_> =
            s.sync_items(Timestamp::now()).expect("sync").into_iter().map(|(_, id)| id).collect();
        assert!(synced.contains(&b1.id()) && synced.contains(&b2.id()));
        // A bid below the start, or in another currency, is the sender's fault.
        let mut cheap = bid(&l, 500);
        if let Body::Bid(o) = &mut cheap {
            o.terms.price.amount = 500;
        }
        let reason = refused(put(&s, &sign_at(&key(4), cheap, t)));
        assert!(reason.is_peer_fault(), "{reason}");
    }

    #[test]
    fn the_sellers_node_refuses_a_bid_that_arrives_after_the_end_whatever_its_time() {
        // Ended a minute ago; the bid says it was made two minutes before the end.
        let (t, l) = running(10 * MIN, 9 * MIN);
        let late = sign_at(&key(2), bid(&l, 1_000), t.saturating_add(7 * MIN));
        let (_d1, seller) = store();
        seller.set_owner(key(1).public());
        let (_d2, other) = store();
        for s in [&seller, &other] {
            assert!(put(s, &l).is_new());
        }
        let reason = refused(put(&seller, &late));
        assert!(matches!(reason, RejectReason::Bid(BidError::Ended(_))) && !reason.is_peer_fault());
        // Another node takes it in as history (it may have come by sync), but it never wins
        // where it counts: the seller's node never saw it in time.
        assert!(put(&other, &late).is_new());
    }

    /// Attack: fresh keys flood an auction with bids. Each must raise the price by the
    /// increment, pays proof of work, and the auction holds at most 500; one key holds at most
    /// 20 on it.
    #[test]
    fn a_bid_flood_from_fresh_identities_is_bounded() {
        let (_d, s) = store();
        let (t, l) = running(MIN, DAY);
        assert!(put(&s, &l).is_new());
        let mut stored = 0;
        let mut full = 0;
        for i in 0..(MAX_BIDS_PER_AUCTION as u64 + 40) {
            let b = sign_at(
                &author(i as u32),
                bid(&l, 1_000 + i * 100),
                t.saturating_add(Duration::from_millis(i)),
            );
            match put(&s, &b) {
                Outcome::New { .. } => stored += 1,
                Outcome::Rejected(r) if matches!(r.reason, RejectReason::AuctionFull { .. }) => full += 1,
                other => panic!("bid {i}: {other:?}"),
            }
        }
        assert_eq!((stored, full), (MAX_BIDS_PER_AUCTION, 40));
        let (_d, s) = store();
        assert!(put(&s, &l).is_new());
        let one = author(7);
        for i in 0..=MAX_BIDS_PER_BIDDER as u64 {
            let b = sign_at(&one, bid(&l, 1_000 + i * 100), t.saturating_add(Duration::from_millis(i)));
            let out = put(&s, &b);
            if (i as usize) < MAX_BIDS_PER_BIDDER {
                assert!(out.is_new(), "bid {i}");
            } else {
                assert!(matches!(refused(out), RejectReason::BidQuota { scope: "auction", .. }));
            }
        }
    }

    #[test]
    fn the_sellers_accept_and_the_winners_confirm_make_a_deal_and_bids_stand() {
        let (_d, s) = store();
        let (t, l) = running(MIN, DAY);
        assert!(put(&s, &l).is_new());
        let b = sign_at(&key(2), bid(&l, 1_200), t);
        assert!(put(&s, &b).is_new());
        let c = sign_at(&key(1), counter(&b, &b, live_terms(1, 2_000)), t);
        assert!(matches!(refused(put(&s, &c)), RejectReason::Thread(ThreadError::BidStands("counter"))));
        let a = sign_at(&key(1), accept(&b, &b), t.saturating_add(MIN));
        let cf = sign_at(&key(2), confirm(&b, &a), t.saturating_add(MIN));
        assert!(put(&s, &a).is_new());
        assert!(matches!(put(&s, &cf), Outcome::New { deal: Some(d), .. } if d == a.id()));
        let deal = s.deal(&a.id()).expect("read").expect("deal");
        assert_eq!(deal.buyer(), key(2).public());
        assert_eq!(Deal::decode_verify(&deal.encode()).expect("verifies").terms().price.amount, 1_200);
        assert_eq!(s.thread(&b.id()).expect("read").expect("thread").view.state, ThreadState::Accepted);
        // An offer on an auction is refused: auctions take bids.
        let o = sign_at(&key(3), haggle_protocol::fixtures::offer(&l, live_terms(1, 5_000)), t);
        assert!(matches!(refused(put(&s, &o)), RejectReason::Thread(ThreadError::AuctionTakesBids)));
    }

    #[test]
    fn a_running_auctions_terms_cannot_change_but_it_can_be_closed() {
        let (_d, s) = store();
        let (t, l) = running(MIN, DAY);
        assert!(put(&s, &l).is_new());
        let mut changed = l.listing().expect("listing").clone();
        changed.revision = 2;
        changed.price = Some(haggle_protocol::fixtures::eur(1));
        let reason = refused(put(&s, &sign_at(&key(1), Body::Listing(changed.clone()), t)));
        assert!(matches!(reason, RejectReason::AuctionChanged));
        changed.price = l.listing().expect("listing").price.clone();
        changed.title = "Brass lamp".into();
        assert!(put(&s, &sign_at(&key(1), Body::Listing(changed.clone()), t)).is_new());
        changed.revision = 3;
        changed.status = ListingStatus::Closed;
        changed.quantity = 0;
        assert!(put(&s, &sign_at(&key(1), Body::Listing(changed), t)).is_new());
        let b = sign_at(&key(2), bid(&l, 1_000), t);
        assert!(matches!(refused(put(&s, &b)), RejectReason::AuctionClosed));
    }

    #[test]
    fn expired_bids_are_swept_with_their_records_and_a_partys_thread_stays() {
        let (_d, s) = store();
        let (t, l) = running(MIN, DAY);
        assert!(put(&s, &l).is_new());
        let lone = sign_at(&key(2), bid(&l, 1_000), t);
        let won = sign_at(&key(3), bid(&l, 1_100), t);
        let a = sign_at(&key(1), accept(&won, &won), t);
        for o in [&lone, &won, &a] {
            assert!(put(&s, o).is_new());
        }
        let Body::Bid(o) = lone.body() else { unreachable!() };
        let later = o.terms.expires_at.saturating_add(MIN);
        s.sweep_expired(later).expect("sweep");
        assert!(!s.contains(&lone.id()).expect("read"));
        assert!(s.contains(&won.id()).expect("read"), "the thread with the seller's accept is kept");
        assert!(
            s.sync_items(Timestamp::now()).expect("sync").is_empty() || {
                let ids: Vec<_> =
                    s.sync_items(Timestamp::now()).expect("sync").into_iter().map(|(_, id)| id).collect();
                !ids.contains(&lone.id()) && !ids.contains(&won.id())
            }
        );
        assert_eq!(s.db.scan_prefix([keys::BID_BY]).count(), 0);
        let key = l.listing_key().expect("listing");
        assert_eq!(s.bids_on(&key).expect("read").len(), 1);
    }
}
