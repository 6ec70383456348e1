//! Public offers: bids on auctions and pledges to crowdfunding campaigns (see
//! `haggle_protocol::auction` and `haggle_protocol::crowdfund`). Every node stores and syncs them,
//! so every node computes the same auction or campaign view; each also opens a thread, so the
//! listing author's Accept and the other party's Confirm make an ordinary Deal.
//!
//! One is taken in only if it counts in this node's view (a bid: made by the end, at least the
//! next minimum; a pledge: made by the deadline, and a withdrawal only of a pledge); the listing
//! author's own node also refuses one that reaches it after the end or deadline. Budgets: one key
//! has at most [`MAX_PER_AUTHOR_PER_LISTING`] on one listing and [`MAX_BIDS_PER_AUTHOR`] in all;
//! an auction holds at most [`MAX_BIDS_PER_AUCTION`] bids, a campaign [`MAX_PLEDGES_PER_CAMPAIGN`]
//! pledges. Each pays proof of work like a listing (and a bid must raise the price by the
//! increment), so a flood from fresh keys is bounded in count and costs real work.

use std::sync::Arc;

use haggle_protocol::auction::{AuctionView, FRESH_IN_WINDOW};
use haggle_protocol::thread::check_offer;
use haggle_protocol::{
    BidError, CampaignView, ListingKey, ListingStatus, Object, ObjectKind, PledgeError, PublicKey, Timestamp,
};

use crate::derived::Changes;
use crate::error::StoreError;
use crate::ingest::{Outcome, RejectReason, rejected};
use crate::keys;
use crate::store::{Store, decode_stored};

/// Bids or pledges one key may have held on one listing: a bidding war of fifty rounds (twenty
/// were met in an ordinary war of small raises, the bidder then locked out). A campaign holds
/// one pledge per backer (each replaces the last), but on the backer's own node, which keeps
/// all of them: there they do not count, so a backer can always change or withdraw its pledge.
pub const MAX_PER_AUTHOR_PER_LISTING: usize = 50;
/// Bids one auction holds: a backstop (the raise doubles every 50 counting bids past 200, so
/// an auction seldom comes near it), and a bound on what one auction can make every node store.
pub const MAX_BIDS_PER_AUCTION: usize = 2_000;
/// Pledges one campaign holds: the backers it counts, and room for threads its parties keep.
pub const MAX_PLEDGES_PER_CAMPAIGN: usize = haggle_protocol::crowdfund::MAX_BACKERS + 500;
/// Bids and pledges one key may have held on a node at once, across listings.
pub const MAX_BIDS_PER_AUTHOR: usize = 1_000;

/// Auctions and campaigns whose bids or pledges the store keeps decoded (it starts again when
/// full): the ones being bid on or pledged to now.
const CACHED_LISTINGS: usize = 64;

/// Whether a refusal holds whatever else this node takes in later.
fn final_refusal(reason: &RejectReason, offer: &Object, market: &Market) -> bool {
    match (reason, market) {
        // Too low stays too low (the high bid before a time never falls); an undercutting bid may
        // be taken later, once a higher bid has pushed out the bid it would.
        (RejectReason::Bid(BidError::TooLow { .. } | BidError::Stale(_)), _) => true,
        // After the end by the author's clock, or after the latest end any bid could make.
        (RejectReason::Bid(BidError::Ended(at)), Market::Auction(v)) => {
            *at == v.ends_at && (offer.created_at() <= v.ends_at || offer.created_at() > v.terms.latest_end())
        }
        (RejectReason::Pledge(PledgeError::Replaced | PledgeError::Closed(_)), _) => true,
        _ => false,
    }
}

/// The market a public offer is judged in.
enum Market {
    Auction(AuctionView),
    Campaign(CampaignView),
}

impl Market {
    fn of(head: &Object, offers: &[Object]) -> Option<Market> {
        AuctionView::new(head, offers.iter())
            .map(Market::Auction)
            .or_else(|| CampaignView::new(head, offers.iter()).map(Market::Campaign))
    }

    /// Refuses what does not count in this view; `at_author`: this is the listing author's
    /// node, which judges the end or deadline by its clock at arrival (`now`).
    fn admit(&self, offer: &Object, at_author: bool, now: Timestamp) -> Result<(), RejectReason> {
        match self {
            Market::Auction(v) if at_author && v.is_over(now) => {
                Err(RejectReason::Bid(BidError::Ended(v.ends_at)))
            }
            Market::Auction(v)
                if at_author
                    && now >= v.ends_at.saturating_sub(v.terms.window())
                    && offer.created_at().saturating_add(FRESH_IN_WINDOW) < now =>
            {
                Err(RejectReason::Bid(BidError::Stale(offer.created_at())))
            }
            Market::Auction(v) => v.admit(offer).map_err(RejectReason::Bid),
            Market::Campaign(v) if at_author && v.is_over(now) => {
                Err(RejectReason::Pledge(PledgeError::Closed(v.campaign.deadline)))
            }
            Market::Campaign(v) => v.admit(offer).map_err(RejectReason::Pledge),
        }
    }

    /// The listing's cap on public offers.
    fn cap(&self) -> usize {
        match self {
            Market::Auction(_) => MAX_BIDS_PER_AUCTION,
            Market::Campaign(_) => MAX_PLEDGES_PER_CAMPAIGN,
        }
    }
}

impl Store {
    /// Tells the store whose node it is: bids and pledges on the owner's auctions and campaigns
    /// that arrive after the end are refused, whatever time they carry.
    pub fn set_owner(&self, owner: PublicKey) {
        let _ = self.owner.set(owner);
    }

    /// Stores a bid or a pledge (see the module docs).
    pub(crate) fn write_public_offer(&self, offer: &Object, now: Timestamp) -> Result<Outcome, StoreError> {
        // Read again under the write lock: a bid that reached the store before the end is
        // committed before any settle that reads the view after it.
        let now = now.max(Timestamp::now());
        let id = offer.id();
        let o = offer.body().opening().expect("called for bids and pledges");
        if o.terms.expires_at <= now {
            return Ok(rejected(Some(id), RejectReason::Expired));
        }
        let Some(listing) = self.get(&o.listing)? else {
            return Ok(rejected(Some(id), RejectReason::UnknownListing(o.listing)));
        };
        if let Err(e) = check_offer(&listing, offer) {
            return Ok(rejected(Some(id), e));
        }
        let key = listing.listing_key().expect("check_offer saw a listing");
        let Some(head) = self.listing(&key)? else {
            return Ok(rejected(Some(id), RejectReason::UnknownListing(o.listing)));
        };
        // Closed: no more public offers. Not even those dated before the end: a bid's date is
        // its bidder's word, and after a sale any key could sign one dated before the end and
        // change the high bid every node but the seller's shows (a node offline at the end may
        // hold the winner's bid only if it came before the close; its view then says the high
        // bid held here, and the sale is the two parties').
        if head.listing().is_some_and(|l| l.status == ListingStatus::Closed) {
            return Ok(rejected(Some(id), RejectReason::MarketClosed));
        }
        let held = self.offers_for_write(&key)?;
        let Some(market) = Market::of(&head, &held) else {
            return Ok(rejected(Some(id), RejectReason::UnknownListing(o.listing)));
        };
        if let Err(reason) = market.admit(offer, self.owner.get() == Some(&o.to), now) {
            // Refused for good on this node (too low, replaced, late by its time or by the
            // author's clock): remembered until it lapses, so neither gossip nor sync brings it
            // back to be refused again. What another object could still make count (a
            // withdrawal before its pledge, a pledge too small for a full campaign, a bid after
            // an end a later-arriving bid would extend) is not.
            if final_refusal(&reason, offer, &market) {
                // Refused for good: marked as if evicted until it lapses.
                self.refuse_until(&[id], o.terms.expires_at)?;
            }
            return Ok(rejected(Some(id), reason));
        }
        let author = offer.author();
        let own_pledge = matches!(market, Market::Campaign(_)) && self.owner.get() == Some(&author);
        if !own_pledge && held.iter().filter(|b| b.author() == author).count() >= MAX_PER_AUTHOR_PER_LISTING {
            let max = MAX_PER_AUTHOR_PER_LISTING;
            return Ok(rejected(Some(id), RejectReason::OfferQuota { max, scope: "listing" }));
        }
        if held.len() >= market.cap() {
            return Ok(rejected(Some(id), RejectReason::MarketFull { max: market.cap() }));
        }
        if !own_pledge
            && self.db.scan_prefix(keys::key(keys::BID_BY, &[author.as_bytes()])).count()
                >= MAX_BIDS_PER_AUTHOR
        {
            let max = MAX_BIDS_PER_AUTHOR;
            return Ok(rejected(Some(id), RejectReason::OfferQuota { max, scope: "node" }));
        }
        let mut batch = crate::writes::Batch::default();
        let mut set = Changes::default();
        // A campaign keeps only the pledges that count: the backer's earlier pledge, or the
        // smallest one this pushes out, goes, remembered as refused so a copy cannot bring it
        // back. The creator's node keeps every backer's current pledge (a flood of large
        // pledges, which cost no money, cannot make it forget real ones), and no node drops
        // its owner's own pledges or one whose thread it is a party to.
        let mut dropped: Vec<haggle_protocol::ObjectId> = Vec::new();
        if let Market::Campaign(_) = market
            && let Some(view) = CampaignView::new(&head, held.iter().chain(std::iter::once(offer)))
        {
            let at_creator = self.owner.get() == Some(&o.to);
            let counted: std::collections::HashSet<_> = view.backings.iter().map(|b| b.id).collect();
            let current: std::collections::HashSet<_> = if at_creator {
                haggle_protocol::crowdfund::current_pledges(&head, held.iter().chain(std::iter::once(offer)))
                    .iter()
                    .map(|b| b.id)
                    .collect()
            } else {
                counted.clone()
            };
            for gone in held.iter().filter(|p| p.kind() == ObjectKind::Pledge && !current.contains(&p.id())) {
                // The owner's own replaced pledges stay here as its record, but leave the
                // reconciliation set: every other node drops them, so offering them made each
                // sync find "have" items no peer takes, and never settle (found in a retrial).
                if Some(&gone.author()) == self.owner.get() {
                    set.remove(&mut batch, gone.created_at(), gone.id());
                    continue;
                }
                if self.sweep_bid(&mut batch, &mut set, gone)?.is_some() {
                    dropped.push(gone.id());
                    let lapses = gone.body().terms().map_or(now, |t| t.expires_at);
                    crate::sweep::refuse_in(&mut batch, &gone.id(), lapses);
                    self.may_have_evicted.store(true, std::sync::atomic::Ordering::Release);
                }
            }
        }
        batch.insert(keys::object(&id), offer.bytes());
        batch.insert(keys::thread(&id, &id), &[]);
        batch.insert(keys::listing_thread(&key, &id), &[]);
        batch.insert(keys::party_thread(&author, &id), &[]);
        batch.insert(keys::party_thread(&o.to, &id), &[]);
        // The listing's key rides along, for the sweep (the revision named may be gone).
        batch.insert(keys::bid_by(&author, &id), key.to_bytes().as_slice());
        batch.insert(keys::mail_expiry(o.terms.expires_at, &id), &[]);
        set.insert(&mut batch, offer.created_at(), id, o.terms.expires_at);
        // A bid may change the high one: the index reads the auction again, its price being the
        // high bid.
        if matches!(market, Market::Auction(_)) {
            self.mark_for_index(&mut batch, &key)?;
        }
        // The cache takes the bid before the database does: an index catch-up that finds the
        // mark must find the bid too (it reads the bids from the cache).
        drop(held);
        {
            let mut cache = self.offer_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(held) = cache.get_mut(&key) {
                // This copy was let go first, so the cached list grows in place.
                let held = Arc::make_mut(held);
                if !dropped.is_empty() {
                    held.retain(|p| !dropped.contains(&p.id()));
                }
                held.push(offer.clone());
            }
        }
        if let Err(e) = self.apply(batch, set) {
            self.forget_offers(Some(&key));
            return Err(e);
        }
        Ok(Outcome::New { id, kind: offer.kind(), deal: None })
    }

    /// The auction `key`'s current revision and its view from every bid held, or `None` if this
    /// node holds no such auction.
    pub fn auction(&self, key: &ListingKey) -> Result<Option<(Object, AuctionView)>, StoreError> {
        let Some(head) = self.listing(key)? else { return Ok(None) };
        let bids = self.public_offers_on(key)?;
        Ok(AuctionView::new(&head, bids.iter()).map(|view| (head, view)))
    }

    /// The campaign `key`'s current revision and its view from every pledge held, or `None` if
    /// this node holds no such campaign.
    pub fn campaign(&self, key: &ListingKey) -> Result<Option<(Object, CampaignView)>, StoreError> {
        let Some(head) = self.listing(key)? else { return Ok(None) };
        let pledges = self.public_offers_on(key)?;
        Ok(CampaignView::new(&head, pledges.iter()).map(|view| (head, view)))
    }

    /// The auctions and campaigns `bidder` has bids or pledges on (held here).
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

    /// Every bid or pledge held on the listing `key` (from the cache when it holds them).
    pub fn public_offers_on(&self, key: &ListingKey) -> Result<Arc<Vec<Object>>, StoreError> {
        if let Some(held) = self.offer_cache.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Ok(held.clone());
        }
        self.read_public_offers(key).map(Arc::new)
    }

    /// [`Self::public_offers_on`] for a writer holding the write lock, which keeps them cached:
    /// each new bid or pledge is then checked against the view without decoding every one held
    /// again (at a full campaign, 2,000 decodes per pledge).
    fn offers_for_write(&self, key: &ListingKey) -> Result<Arc<Vec<Object>>, StoreError> {
        if let Some(held) = self.offer_cache.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Ok(held.clone());
        }
        let held = Arc::new(self.read_public_offers(key)?);
        let mut cache = self.offer_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_LISTINGS {
            cache.clear();
        }
        cache.insert(*key, held.clone());
        Ok(held)
    }

    /// Forgets the cached bids and pledges (a sweep removed some), under the write lock.
    pub(crate) fn forget_offers(&self, key: Option<&ListingKey>) {
        let mut cache = self.offer_cache.lock().unwrap_or_else(|p| p.into_inner());
        match key {
            Some(key) => {
                cache.remove(key);
            }
            None => cache.clear(),
        }
    }

    fn read_public_offers(&self, key: &ListingKey) -> Result<Vec<Object>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::LISTING_THREAD, &[&key.to_bytes()])).keys() {
            let thread = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "listing thread key" })?;
            if let Some(bytes) = self.db.get(keys::object(&thread))? {
                let object = decode_stored(&bytes)?;
                if matches!(object.kind(), ObjectKind::Bid | ObjectKind::Pledge) {
                    out.push(object);
                }
            }
        }
        Ok(out)
    }

    /// Removes an expired bid's or pledge's records into `batch` (the sweep of mail, feedback,
    /// bids and pledges calls this). One whose thread has replies here (this node is a party)
    /// leaves its thread to the thread sweep. Returns the listing it left, whose cached bids or
    /// pledges the caller updates or forgets once the batch is applied.
    pub(crate) fn sweep_bid(
        &self,
        batch: &mut crate::writes::Batch,
        set: &mut Changes,
        bid: &Object,
    ) -> Result<Option<ListingKey>, StoreError> {
        let id = bid.id();
        let Some(o) = bid.body().opening() else { return Ok(None) };
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
                let key = ListingKey::from_bytes(&key);
                batch.remove(keys::listing_thread(&key, &id));
                return Ok(Some(key));
            }
        }
        Ok(None)
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
    use crate::Rejection;
    use crate::testing::{put, store};
    use haggle_protocol::Body;

    const MIN: Duration = Duration::from_secs(60);

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

    /// A node that gets an auction's bids by sync, in any order (highest first here), holds the
    /// bids the nodes that saw them in turn hold, and the same view; a bid dated between two
    /// bids, which would push the later, higher one under the raise, is refused.
    #[test]
    fn bids_arriving_out_of_order_are_all_taken_and_backdated_undercuts_are_not() {
        let (_d, in_turn) = store();
        let (_e, synced) = store();
        let (t, l) = running(MIN * 10, DAY);
        let bids: Vec<_> = (0..4u64)
            .map(|i| {
                sign_at(
                    &key(2 + (i % 2) as u8),
                    bid(&l, 1_000 + i * 150),
                    t.saturating_add(MIN * (i as u32 + 1)),
                )
            })
            .collect();
        assert!(put(&in_turn, &l).is_new() && put(&synced, &l).is_new());
        for b in &bids {
            assert!(put(&in_turn, b).is_new());
        }
        for b in bids.iter().rev() {
            assert!(put(&synced, b).is_new(), "an earlier, lower bid is taken after a later, higher one");
        }
        let key_of = l.listing_key().expect("listing");
        let view = |s: &Store| s.auction(&key_of).expect("read").expect("auction").1;
        assert_eq!(view(&synced), view(&in_turn));
        assert_eq!(view(&synced).counting_bids(), 4);
        // Dated between the bids of 1,300 and 1,450: 1,400 raises on the first, and would leave
        // the high bid 50 over it, under the raise of 100, leading itself at a lower price.
        let undercut = sign_at(&key(4), bid(&l, 1_400), t.saturating_add(MIN * 3 + Duration::from_secs(30)));
        let reason = refused(put(&synced, &undercut));
        assert!(
            matches!(reason, RejectReason::Bid(BidError::Undercuts { amount: 1_400, later: 1_450 })),
            "{reason}"
        );
        assert!(!reason.is_peer_fault(), "another node's view may differ");
        assert_eq!(view(&synced), view(&in_turn));
        // One dated there as high as the high bid pushes it out, as the earlier of two equal
        // bids, and is taken.
        let over = sign_at(&key(5), bid(&l, 1_450), t.saturating_add(MIN * 3 + Duration::from_secs(40)));
        assert!(put(&synced, &over).is_new());
        assert_eq!(view(&synced).leader().map(|b| b.id), Some(over.id()));
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
        assert!(
            matches!(put(&s, &low), Outcome::Duplicate { .. }),
            "a bid refused for good is remembered until it lapses: sync does not bring it again"
        );
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

    /// Defect: an auction was filtered and sorted by its start price while it showed its high
    /// bid, so a budget filter let through lots over it and the price order looked broken.
    #[test]
    fn an_auction_is_found_and_sorted_by_its_high_bid() {
        use crate::{SearchQuery, Sort};
        let (_d, s) = store();
        let (t, cheap) = running(MIN, DAY);
        let mut shade = auction("Lamp shade", 5_000, 100, t.saturating_add(DAY), 300);
        shade.nonce = [0x23; 16];
        let shade = sign_at(&key(1), Body::Listing(shade), t);
        assert!(put(&s, &cheap).is_new() && put(&s, &shade).is_new());
        let query = |min_price, max_price, sort| SearchQuery {
            min_price,
            max_price,
            currency: haggle_protocol::Currency::new("EUR").ok(),
            sort,
            ..SearchQuery::new("lamp")
        };
        let titles = |q: SearchQuery| -> Vec<String> {
            let hits = s.search(&q).expect("search").hits;
            hits.iter().filter_map(|h| h.listing.listing().map(|l| l.title.clone())).collect()
        };
        // Indexed before any bid: by the start price.
        assert_eq!(titles(query(None, None, Sort::PriceAsc)), ["Lamp", "Lamp shade"]);
        assert!(put(&s, &sign_at(&key(2), bid(&cheap, 10_000), t)).is_new());
        for pass in ["as bids arrive", "after a rebuild"] {
            assert_eq!(titles(query(None, Some(6_000), Sort::Relevance)), ["Lamp shade"], "{pass}");
            assert_eq!(titles(query(Some(6_000), None, Sort::Relevance)), ["Lamp"], "{pass}");
            assert_eq!(titles(query(None, None, Sort::PriceAsc)), ["Lamp shade", "Lamp"], "{pass}");
            assert_eq!(titles(query(None, None, Sort::PriceDesc)), ["Lamp", "Lamp shade"], "{pass}");
            s.rebuild_index().expect("rebuild");
        }
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

    /// Attack: fresh keys flood an auction with the smallest bids that count. Each pays proof of
    /// work and is a public promise to pay; past 200 bids the raise doubles every 50, so the
    /// price runs away long before the backstop of 2,000 bids is reached; one key holds at most
    /// 20 bids on it.
    #[test]
    fn a_bid_flood_from_fresh_identities_is_bounded() {
        let (_d, s) = store();
        let (t, l) = running(MIN, DAY);
        let key_ = l.listing_key().expect("listing");
        assert!(put(&s, &l).is_new());
        // A bid of only the plain increment stops counting once the raise has doubled.
        let mut stored = 0u64;
        for i in 0..260u64 {
            let b = sign_at(
                &author(i as u32),
                bid(&l, 1_000 + i * 100),
                t.saturating_add(Duration::from_millis(i)),
            );
            match put(&s, &b) {
                Outcome::New { .. } => stored += 1,
                Outcome::Rejected(r) => {
                    assert!(
                        matches!(r.reason, RejectReason::Bid(BidError::TooLow { .. }))
                            && !r.reason.is_peer_fault()
                    );
                }
                other => panic!("bid {i}: {other:?}"),
            }
        }
        assert!((251..260).contains(&stored), "past 250 bids a plain raise no longer counts: {stored}");
        // Paying each raise, the flood reaches the backstop with the price beyond reason.
        let mut full = 0;
        for i in 260..(MAX_BIDS_PER_AUCTION as u64 + 300) {
            let (_, view) = s.auction(&key_).expect("read").expect("auction");
            let b = sign_at(
                &author(i as u32),
                bid(&l, view.min_next()),
                t.saturating_add(Duration::from_millis(i)),
            );
            match put(&s, &b) {
                Outcome::New { .. } => stored += 1,
                Outcome::Rejected(r) if matches!(r.reason, RejectReason::MarketFull { .. }) => full += 1,
                other => panic!("bid {i}: {other:?}"),
            }
        }
        assert_eq!(stored, MAX_BIDS_PER_AUCTION as u64);
        assert!(full > 0, "the backstop refuses the rest");
        let (_, view) = s.auction(&key_).expect("read").expect("auction");
        let high = view.leader().expect("a leader").amount;
        assert!(high > 1_000_000_000_000, "the flood's price ran away to {high}");
        let (_d, s) = store();
        assert!(put(&s, &l).is_new());
        let one = author(7);
        for i in 0..=MAX_PER_AUTHOR_PER_LISTING as u64 {
            let b = sign_at(&one, bid(&l, 1_000 + i * 100), t.saturating_add(Duration::from_millis(i)));
            let out = put(&s, &b);
            if (i as usize) < MAX_PER_AUTHOR_PER_LISTING {
                assert!(out.is_new(), "bid {i}");
            } else {
                assert!(matches!(refused(out), RejectReason::OfferQuota { scope: "listing", .. }));
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
        assert!(matches!(
            refused(put(&s, &c)),
            RejectReason::Thread(ThreadError::PublicOfferStands { opening: "bid", reply: "counter" })
        ));
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
        assert!(matches!(refused(put(&s, &b)), RejectReason::MarketClosed));
    }

    #[test]
    fn expired_bids_are_swept_with_their_records_and_a_partys_thread_stays() {
        let (_d, s) = store();
        let (t, l) = running(MIN, DAY);
        assert!(put(&s, &l).is_new());
        let lone = sign_at(&key(2), bid(&l, 1_000), t);
        // A second later: bids made at the same moment are ordered by id, and the lower one,
        // second, would not count.
        let won = sign_at(&key(3), bid(&l, 1_100), t.saturating_add(Duration::from_secs(1)));
        let a = sign_at(&key(1), accept(&won, &won), t.saturating_add(Duration::from_secs(1)));
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
        assert_eq!(s.public_offers_on(&key).expect("read").len(), 1);
    }

    #[test]
    fn pledges_replace_withdraw_and_stop_at_the_creators_deadline() {
        use haggle_protocol::fixtures::{campaign, pledge};
        let t = Timestamp::now().saturating_sub(10 * MIN);
        let c = sign_at(&key(1), Body::Listing(campaign("Oven", 10_000, t.saturating_add(9 * MIN))), t);
        let key_ = c.listing_key().expect("listing");
        let (_d1, creator) = store();
        creator.set_owner(key(1).public());
        let (_d2, other) = store();
        for s in [&creator, &other] {
            assert!(put(s, &c).is_new());
        }
        let p1 = sign_at(&key(2), pledge(&c, 4_000), t.saturating_add(MIN));
        let nothing = sign_at(&key(3), pledge(&c, 0), t.saturating_add(MIN));
        let p2 = sign_at(&key(2), pledge(&c, 6_000), t.saturating_add(2 * MIN));
        let out = sign_at(&key(2), pledge(&c, 0), t.saturating_add(3 * MIN));
        assert!(put(&other, &p1).is_new());
        let reason = refused(put(&other, &nothing));
        assert!(
            matches!(reason, RejectReason::Pledge(PledgeError::NothingToWithdraw)) && !reason.is_peer_fault()
        );
        assert!(put(&other, &p2).is_new());
        let (_, view) = other.campaign(&key_).expect("read").expect("campaign");
        assert_eq!((view.total, view.backers()), (6_000, 1), "the later pledge replaces the earlier");
        assert!(put(&other, &out).is_new());
        assert_eq!(other.campaign(&key_).expect("read").expect("campaign").1.total, 0, "withdrawn");
        // The backer's own node keeps its replaced pledges, but syncs only its current one,
        // as every other node holds: its reconciliation settles (found in a retrial).
        let (_d3, backer) = store();
        backer.set_owner(key(2).public());
        assert!(put(&backer, &c).is_new());
        for p in [&p1, &p2, &out] {
            assert!(backer.ingest_own(p).expect("stored").is_new());
        }
        for p in [&p1, &p2] {
            assert!(backer.contains(&p.id()).expect("read"), "kept as the owner's record");
        }
        let synced = |s: &Store| -> Vec<haggle_protocol::ObjectId> {
            let mut ids: Vec<haggle_protocol::ObjectId> =
                s.sync_items(Timestamp::now()).expect("set").into_iter().map(|(_, id)| id).collect();
            ids.sort();
            ids
        };
        assert_eq!(synced(&backer), synced(&other));
        assert!(!synced(&backer).contains(&p1.id()));
        // The deadline passed a minute ago: the creator's node refuses what reaches it now,
        // whatever its time; another node took the same pledges in as history.
        let reason = refused(put(&creator, &p1));
        assert!(matches!(reason, RejectReason::Pledge(PledgeError::Closed(_))) && !reason.is_peer_fault());
        assert_eq!(creator.campaign(&key_).expect("read").expect("campaign").1.total, 0);
        // A pledge on an auction, or a bid on a campaign, is the sender's fault.
        let (_, a) = running(MIN, DAY);
        assert!(put(&other, &a).is_new());
        let Body::Bid(as_pledge) = bid(&a, 5_000) else { unreachable!("a bid") };
        let wrong = sign_at(&key(4), Body::Pledge(as_pledge), t);
        assert!(refused(put(&other, &wrong)).is_peer_fault());
    }

    /// In an auction's last window the seller's node takes only bids dated within a minute of
    /// their arrival; other nodes keep them as history.
    #[test]
    fn in_the_last_window_the_sellers_node_refuses_a_backdated_bid() {
        let (t, l) = running(10 * MIN, 10 * MIN + Duration::from_secs(30));
        let stale = sign_at(&key(2), bid(&l, 1_000), Timestamp::now().saturating_sub(6 * MIN));
        let fresh = sign_at(&key(3), bid(&l, 1_100), Timestamp::now());
        let (_d1, seller) = store();
        seller.set_owner(key(1).public());
        let (_d2, other) = store();
        for s in [&seller, &other] {
            assert!(put(s, &l).is_new());
        }
        let reason = refused(put(&seller, &stale));
        assert!(
            matches!(reason, RejectReason::Bid(BidError::Stale(_))) && !reason.is_peer_fault(),
            "{reason}"
        );
        assert!(put(&other, &stale).is_new());
        assert!(put(&seller, &fresh).is_new());
        let _ = t;
    }

    /// A campaign counts its 2,000 largest backers: a flood of small pledges from fresh keys
    /// cannot keep a larger pledge out, and what no longer counts leaves the store.
    #[test]
    fn a_full_campaign_takes_a_larger_pledge_and_drops_the_smallest() {
        use haggle_protocol::crowdfund::MAX_BACKERS;
        use haggle_protocol::fixtures::{campaign, pledge};
        let (_d, s) = store();
        let t = Timestamp::now().saturating_sub(MIN);
        let c = sign_at(&key(1), Body::Listing(campaign("Oven", 10_000_000, t.saturating_add(DAY))), t);
        let key_ = c.listing_key().expect("listing");
        assert!(put(&s, &c).is_new());
        let small: Vec<_> = (0..MAX_BACKERS as u32)
            .map(|i| {
                sign_at(&author(i), pledge(&c, 1_000), t.saturating_add(Duration::from_millis(u64::from(i))))
            })
            .collect();
        for p in &small {
            assert!(put(&s, p).is_new());
        }
        let too_small = sign_at(&author(90_000), pledge(&c, 1_000), t.saturating_add(MIN));
        let reason = refused(put(&s, &too_small));
        assert!(matches!(reason, RejectReason::Pledge(PledgeError::TooSmall { min: 1_001 })), "{reason}");
        let larger = sign_at(&author(90_001), pledge(&c, 5_000), t.saturating_add(MIN));
        assert!(put(&s, &larger).is_new());
        let (_, view) = s.campaign(&key_).expect("read").expect("campaign");
        assert_eq!(view.backers(), MAX_BACKERS);
        assert_eq!(view.total, 1_000 * (MAX_BACKERS as u64 - 1) + 5_000);
        let last = small.last().expect("pledges");
        assert!(!s.contains(&last.id()).expect("read"), "the latest of the smallest is dropped");
        assert_eq!(s.public_offers_on(&key_).expect("read").len(), MAX_BACKERS);
    }
}
