//! Auctions from the owner's side: bidding, the auction as the API shows it, and the end of an
//! auction. At the end the seller's node accepts the high bid by itself (unless it is below the
//! reserve) and the winner's node confirms it like any Accept of its terms: an ordinary Deal,
//! which then follows the deal lifecycle. When the deal closes the listing, the other bids are
//! declined ("another bid won"). Both sides announce the end once (`auction_ended`).

use std::collections::HashSet;

use haggle_protocol::auction::AuctionView;
use haggle_protocol::{
    Accept, Body, ListingKey, ListingKind, ListingStatus, Object, Offer, Price, PublicKey, Terms,
    ThreadState, Timestamp,
};
use haggle_storage::{MAX_PER_AUTHOR_PER_LISTING, Store, StoreError};

use super::actions::Effect;
use super::{Conflict, Followups, InvalidInput, Service, ServiceError, views};
use crate::api::types::{AuctionInfo, BidRequest, BidStanding, BidView, NodeEvent};

/// Bids a listing view shows, newest first.
const HISTORY: usize = 20;
/// Auctions whose end this node remembers announcing; past this the memory starts again (an
/// auction may then be announced twice, which is harmless).
const MAX_ANNOUNCED: usize = 4_096;

impl Service {
    /// Bids on someone else's running auction: a public object, gossiped to every node.
    pub fn bid(&self, given: &str, request: BidRequest) -> Result<Effect, ServiceError> {
        let listing = self.listing(given)?;
        let key = listing.listing_key().ok_or_else(|| ServiceError::not_found("listing", given))?;
        let Some((head, view)) = self.store.auction(&key)? else {
            return Err(Conflict::NotAnAuction(listing.id()).into());
        };
        if head.author() == self.me() {
            return Err(Conflict::OwnListing.into());
        }
        if head.listing().is_some_and(|l| l.status == ListingStatus::Closed) {
            return Err(Conflict::ListingClosed(head.id()).into());
        }
        let now = Timestamp::now();
        if view.is_over(now) {
            return Err(Conflict::AuctionEnded { listing: head.id(), ends_at: view.ends_at }.into());
        }
        let currency = view.start.currency.clone();
        let amount = currency.parse_amount(request.price.trim())?;
        let min = view.min_next();
        if amount < min {
            return Err(InvalidInput::BidTooLow { min: Price::new(min, currency).to_string() }.into());
        }
        if view.bids.iter().filter(|b| b.bidder == self.me()).count() >= MAX_PER_AUTHOR_PER_LISTING {
            return Err(Conflict::TooManyBids { max: MAX_PER_AUTHOR_PER_LISTING }.into());
        }
        let terms = Terms {
            quantity: 1,
            price: Price::new(amount, currency),
            expires_at: view.terms.bids_stand_until(),
            dates: None,
        };
        let body =
            Body::Bid(Offer { listing: head.id(), to: head.author(), terms, message: request.message });
        let object = self.sign(body, now)?;
        self.ingest_own(&object)?;
        let then = Followups {
            publish: vec![object.bytes().to_vec()],
            events: vec![bid_event(&self.store, &object, &self.me())?].into_iter().flatten().collect(),
            deliver: Vec::new(),
        };
        Ok(Effect { object, then })
    }

    /// Refuses to accept a bid before its auction ends (the seller's node accepts the winner by
    /// itself at the end; by hand only after it, e.g. a high bid under the reserve).
    pub(super) fn check_bid_acceptance(
        &self,
        thread: &haggle_storage::ThreadRecord,
    ) -> Result<(), ServiceError> {
        if thread.offer.kind() != haggle_protocol::ObjectKind::Bid {
            return Ok(());
        }
        let Some(key) = thread.listing.as_ref().and_then(Object::listing_key) else { return Ok(()) };
        if let Some((head, view)) = self.store.auction(&key)?
            && !view.is_over(Timestamp::now())
        {
            return Err(Conflict::AuctionRunning { listing: head.id(), ends_at: view.ends_at }.into());
        }
        Ok(())
    }

    /// Ends the owner's auctions and campaigns whose time is up (accepting the high bid when it
    /// meets the reserve; every pledge when the goal is met) and announces, once each, the end
    /// of auctions and campaigns the owner ran, bid on or backed. Run on the event loop's
    /// market tick.
    pub fn settle_markets(&self) -> Result<Followups, ServiceError> {
        let me = self.me();
        let now = Timestamp::now();
        let mut then = Followups::default();
        let mut keys: Vec<ListingKey> = Vec::new();
        for entry in self.store.listings_by(&me)? {
            let timed = |l: &haggle_protocol::Listing| {
                matches!(l.kind, ListingKind::Auction | ListingKind::Crowdfund)
                    && l.status == ListingStatus::Active
            };
            if entry.object.listing().is_some_and(timed) {
                keys.push(entry.key);
            }
        }
        for key in self.store.auctions_bid_on(&me)? {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        self.settle_campaigns(&keys, now, &mut then)?;
        for key in keys {
            let Some((head, view)) = self.store.auction(&key)? else { continue };
            if !view.is_over(now) || self.announced(&key) {
                continue;
            }
            if key.author == me && head.listing().is_some_and(|l| l.status == ListingStatus::Active) {
                self.award(&head, &view, &mut then)?;
            }
            then.events.push(ended_event(&head, &view, &me));
            self.remember_announced(key);
        }
        Ok(then)
    }

    /// Accepts the winning bid of the owner's ended auction, if it meets the reserve and no bid
    /// was accepted yet.
    fn award(&self, head: &Object, view: &AuctionView, then: &mut Followups) -> Result<(), ServiceError> {
        let Some(leader) = view.leader() else { return Ok(()) };
        if !view.reserve_met() {
            return Ok(());
        }
        let key = head.listing_key().expect("an auction is a listing");
        let settled = self
            .store
            .threads_on(&key)?
            .iter()
            .any(|t| matches!(t.view.state, ThreadState::Confirming | ThreadState::Accepted));
        if settled {
            return Ok(());
        }
        let _revising = self.revising();
        let Some(thread) = self.store.thread(&leader.id)? else { return Ok(()) };
        if thread.view.state != ThreadState::Open {
            return Ok(());
        }
        let reply = haggle_protocol::Reply { thread: leader.id, prev: leader.id, to: leader.bidder };
        let object = self.sign(Body::Accept(Accept { reply }), Timestamp::now())?;
        self.ingest_own(&object)?;
        then.deliver.push(leader.bidder);
        Ok(())
    }

    pub(super) fn announced(&self, key: &ListingKey) -> bool {
        self.announced.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(key)
    }

    pub(super) fn remember_announced(&self, key: ListingKey) {
        let mut announced = self.announced.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if announced.len() >= MAX_ANNOUNCED {
            announced.clear();
        }
        announced.insert(key);
    }

    /// The event for a bid new to this node.
    pub(super) fn bid_stored_event(&self, bid: &Object) -> Result<Option<NodeEvent>, ServiceError> {
        Ok(bid_event(&self.store, bid, &self.me())?)
    }
}

/// Auctions whose end this node announced.
pub(super) type Announced = std::sync::Arc<std::sync::Mutex<HashSet<ListingKey>>>;

/// `bid_stored`: who bid what, whether it leads, and whether it outbid the owner.
fn bid_event(store: &Store, bid: &Object, me: &PublicKey) -> Result<Option<NodeEvent>, StoreError> {
    let Body::Bid(o) = bid.body() else { return Ok(None) };
    let Some(listing) = store.get(&o.listing)? else { return Ok(None) };
    let Some(key) = listing.listing_key() else { return Ok(None) };
    let Some((head, view)) = store.auction(&key)? else { return Ok(None) };
    let leads = view.leader().is_some_and(|b| b.id == bid.id());
    let outbids_me = leads && bid.author() != *me && view.bids.iter().any(|b| b.bidder == *me && b.counts);
    Ok(Some(NodeEvent::BidStored {
        id: bid.id(),
        listing: head.id(),
        bidder: bid.author(),
        amount: o.terms.price.to_string(),
        leads,
        outbids_me,
    }))
}

fn ended_event(head: &Object, view: &AuctionView, me: &PublicKey) -> NodeEvent {
    let leader = view.leader();
    NodeEvent::AuctionEnded {
        listing: head.id(),
        winner: leader.filter(|_| view.reserve_met()).map(|b| b.bidder),
        amount: leader.map(|b| Price::new(b.amount, view.start.currency.clone()).to_string()),
        reserve_met: view.reserve_met(),
        standing: leader.and_then(|_| standing(view, me, true)),
    }
}

/// Where `me` stands in `view`, if it bid (`over`: the auction has ended).
fn standing(view: &AuctionView, me: &PublicKey, over: bool) -> Option<BidStanding> {
    if !view.bids.iter().any(|b| b.bidder == *me) {
        return None;
    }
    let leads = view.leader().is_some_and(|b| b.bidder == *me);
    Some(match (over, leads) {
        (false, true) => BidStanding::Leading,
        (false, false) => BidStanding::Outbid,
        (true, true) if view.reserve_met() => BidStanding::Won,
        (true, _) => BidStanding::Lost,
    })
}

/// The auction part of a listing view, or `None` if `listing` is not an auction.
pub(super) fn info(
    store: &Store,
    listing: &Object,
    me: &PublicKey,
) -> Result<Option<AuctionInfo>, StoreError> {
    if listing.listing().is_none_or(|l| l.kind != ListingKind::Auction) {
        return Ok(None);
    }
    let Some(key) = listing.listing_key() else { return Ok(None) };
    let bids = store.public_offers_on(&key)?;
    let Some(view) = AuctionView::new(listing, bids.iter()) else { return Ok(None) };
    let currency = view.start.currency.clone();
    let money = |amount: u64| views::price(&Price::new(amount, currency.clone()));
    let bid_view = |b: &haggle_protocol::BidEntry| BidView {
        id: b.id,
        bidder: b.bidder,
        mine: b.bidder == *me,
        amount: money(b.amount),
        created_at: b.created_at.as_millis(),
        counts: b.counts,
    };
    let over = view.is_over(Timestamp::now());
    let bidders: HashSet<PublicKey> = view.bids.iter().map(|b| b.bidder).collect();
    Ok(Some(AuctionInfo {
        ends_at: view.ends_at.as_millis(),
        scheduled_end: view.terms.ends_at.as_millis(),
        over,
        start: views::price(&view.start),
        reserve: view.terms.reserve.map(money),
        reserve_met: view.reserve_met(),
        increment: money(view.terms.increment),
        window_secs: view.terms.window_secs,
        high_bid: view.leader().map(bid_view),
        min_next: money(view.min_next()),
        bids: view.counting_bids(),
        bidders: bidders.len(),
        history: view.bids.iter().rev().take(HISTORY).map(bid_view).collect(),
        me: standing(&view, me, over),
    }))
}
