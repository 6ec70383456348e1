//! The market tick: ends the owner's auctions and campaigns whose time is up, and announces the
//! end of those the owner ran, bid on or backed.
//!
//! It runs every second, so it reads what it can without decoding listings: the heads of the
//! owner's listings and the owner's bids give the current revision of each listing to watch,
//! and what each revision says about its end (an auction's scheduled end, a campaign's
//! deadline) is remembered by revision id, which names the revision's content. A listing is
//! decoded once per revision, not once a second; a shop of 1,000 listings no longer decodes
//! 1,000 objects a second to find that none has ended. Nothing can be missed this way: the heads
//! are read afresh on every tick, and a new revision is a new id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use haggle_protocol::{ListingKey, ListingStatus, ObjectId, Timestamp};
use haggle_storage::Store;

use super::auctions::ended_event;
use super::{Followups, Service, ServiceError};

/// How long past an end or deadline the owner's node settles it.
pub(super) const SETTLE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What a listing revision says about its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timed {
    /// Neither an auction nor a campaign, and closed.
    No,
    /// Neither an auction nor a campaign, open, expiring at `at`: its threads are ended then.
    Lapses { at: Timestamp },
    /// Neither an auction nor a campaign, expired, its threads ended.
    Lapsed,
    /// An auction scheduled to end at `ends` (before any anti-sniping extension).
    Auction { ends: Timestamp, active: bool },
    /// A campaign with this deadline.
    Campaign { deadline: Timestamp, active: bool },
}

impl Timed {
    fn of(listing: &haggle_protocol::Listing) -> Timed {
        let active = listing.status == ListingStatus::Active;
        match (listing.auction(), listing.campaign()) {
            (Some(t), _) => Timed::Auction { ends: t.ends_at, active },
            (None, Some(c)) => Timed::Campaign { deadline: c.deadline, active },
            (None, None) if active => Timed::Lapses { at: listing.expires_at },
            (None, None) => Timed::No,
        }
    }

    /// An auction or campaign the owner runs that is still open.
    fn running(self) -> bool {
        matches!(self, Timed::Auction { active: true, .. } | Timed::Campaign { active: true, .. })
    }

    /// Its scheduled end has passed at `now`.
    fn ended(self, now: Timestamp) -> bool {
        match self {
            Timed::Auction { ends, .. } => now > ends,
            Timed::Campaign { deadline, .. } => now > deadline,
            Timed::No | Timed::Lapses { .. } | Timed::Lapsed => false,
        }
    }
}

/// What each revision the last tick looked at says about its end; a tick keeps only the
/// revisions it looked at, so this holds at most the owner's listings and the listings the owner
/// bid on.
pub(super) type Ends = Arc<Mutex<HashMap<ObjectId, Timed>>>;

/// The revisions one tick looks at: those the last tick knew, and those it learns.
struct Tick<'a> {
    store: &'a Store,
    known: HashMap<ObjectId, Timed>,
    kept: HashMap<ObjectId, Timed>,
}

impl Tick<'_> {
    /// What the current revision of a listing says about its end (`None`: no such listing held).
    fn timed(&mut self, id: ObjectId) -> Result<Option<Timed>, ServiceError> {
        let timed = match self.kept.get(&id).copied().or_else(|| self.known.remove(&id)) {
            Some(timed) => timed,
            None => {
                let Some(object) = self.store.get(&id)? else { return Ok(None) };
                object.listing().map_or(Timed::No, Timed::of)
            }
        };
        self.kept.insert(id, timed);
        Ok(Some(timed))
    }
}

/// The value, or `None` with the error logged.
fn logged<T>(result: Result<T, ServiceError>) -> Option<T> {
    result.map_err(|e| tracing::warn!(error = %e, "cannot read an auction or campaign to settle")).ok()
}

/// Marks a settle run under way; clears the mark when dropped.
struct Running<'a>(&'a AtomicBool);

impl<'a> Running<'a> {
    fn start(flag: &'a AtomicBool) -> Option<Running<'a>> {
        (!flag.swap(true, Ordering::AcqRel)).then_some(Running(flag))
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Service {
    /// Holds back, for at most `grace` or until [`Service::note_caught_up`], the ends of other
    /// people's auctions and campaigns: a node that was offline at such an end holds, as it
    /// starts, only what it had before (not the winning bid, not the pledges made meanwhile), and
    /// would announce a result its first sync is about to change (found in a trial: `your bid
    /// is on top`, `missed its goal`, then a deal). The owner's own markets are settled at once:
    /// its node's count at the end is the one that decides.
    pub fn catch_up_within(&self, grace: std::time::Duration) {
        *self.catching_up.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(std::time::Instant::now() + grace);
    }

    /// A sync with a peer completed: what the node missed while it was offline is here.
    pub fn note_caught_up(&self) {
        *self.catching_up.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Whether the node still holds back the ends of other people's markets.
    fn catching_up(&self) -> bool {
        let mut until = self.catching_up.lock().unwrap_or_else(PoisonError::into_inner);
        if until.is_some_and(|u| std::time::Instant::now() >= u) {
            *until = None;
        }
        until.is_some()
    }

    /// Ends the owner's auctions and campaigns whose time is up (accepting the high bid when it
    /// meets the reserve; every pledge when the goal is met) and announces, once each, the end
    /// of auctions and campaigns the owner ran, bid on or backed. Run on the event loop's
    /// market tick.
    pub fn settle_markets(&self) -> Result<Followups, ServiceError> {
        // One run at a time: a slow run and the next tick must not both accept.
        let Some(_running) = Running::start(&self.settling) else { return Ok(Followups::default()) };
        let me = self.me();
        // Judged a moment after the end: a bid that reached the store just before the end is
        // committed by then, and counts.
        let now = Timestamp::now().saturating_sub(SETTLE_GRACE);
        let mut then = Followups::default();
        let owned = self.store.current_revisions_by(&me)?;
        let bid_on = self.store.auctions_bid_on(&me)?;
        let known = std::mem::take(&mut *self.ends.lock().unwrap_or_else(PoisonError::into_inner));
        let mut tick = Tick { store: &self.store, known, kept: HashMap::new() };
        // From here on one listing that cannot be read is skipped (and logged), so it holds
        // back neither the others nor the memory of what was read.
        let mut keys: Vec<(ListingKey, Timed)> = Vec::new();
        // The owner's listings that expired since the last tick: their open threads end now,
        // not at the next sweep, so nobody is left to answer an offer that cannot be accepted.
        let mut lapsed = Vec::new();
        let clock = Timestamp::now();
        for (key, id) in owned {
            match logged(tick.timed(id)).flatten() {
                Some(timed) if timed.running() => keys.push((key, timed)),
                Some(Timed::Lapses { at }) if at <= clock => {
                    tick.kept.insert(id, Timed::Lapsed);
                    lapsed.push(id);
                }
                _ => {}
            }
        }
        for key in bid_on {
            let Some(id) = logged(self.store.current_revision(&key).map_err(ServiceError::from)).flatten()
            else {
                continue;
            };
            let Some(timed) = logged(tick.timed(id)).flatten() else { continue };
            if timed.ended(now) {
                logged(self.confirm_pending(&key, &mut then));
            }
            if !keys.iter().any(|(k, _)| *k == key) {
                keys.push((key, timed));
            }
        }
        *self.ends.lock().unwrap_or_else(PoisonError::into_inner) = tick.kept;
        for id in lapsed {
            if let Some(listing) = logged(self.store.get(&id).map_err(ServiceError::from)).flatten() {
                self.end_threads(&listing, super::endings::Ending::Expired, &mut then);
            }
        }
        // Only those past their scheduled end (no bid decoded before that).
        let mut auctions = Vec::new();
        let mut campaigns = Vec::new();
        let catching_up = self.catching_up();
        for (key, timed) in keys {
            if !timed.ended(now) || self.announced(&key) || (catching_up && key.author != me) {
                continue;
            }
            match timed {
                Timed::Auction { .. } => auctions.push(key),
                Timed::Campaign { .. } => campaigns.push(key),
                Timed::No | Timed::Lapses { .. } | Timed::Lapsed => {}
            }
        }
        self.settle_campaigns(&campaigns, now, &mut then)?;
        for key in auctions {
            let Some((head, view)) = self.store.auction(&key)? else { continue };
            if !view.is_over(now) {
                continue;
            }
            if key.author == me && head.listing().is_some_and(|l| l.status == ListingStatus::Active) {
                self.award(&head, &view, &mut then)?;
            }
            // Told by an earlier run: the award above is still owed, the line is not.
            let ended = ended_event(&self.store, &head, &view, &me)?;
            self.announce_end(key, view.ends_at, ended, &mut then);
        }
        // Every end up to now that this node could tell is told (during a catch-up, others'
        // ends wait for what it brings).
        if !catching_up {
            let told = then.events.iter().any(|e| {
                matches!(e, crate::NodeEvent::AuctionEnded { .. } | crate::NodeEvent::CampaignEnded { .. })
            });
            self.record_ends_told(now, told);
        }
        Ok(then)
    }

    /// Confirms an Accept of one of the owner's bids or pledges on `key`, whose scheduled end
    /// has passed, that arrived while this node would not confirm it yet (its own clock behind
    /// the seller's): tried on every tick until a deal is made.
    fn confirm_pending(&self, key: &ListingKey, then: &mut Followups) -> Result<(), ServiceError> {
        let me = self.me();
        if self.store.deals_on(key)?.iter().any(|d| d.offerer() == me) {
            return Ok(());
        }
        let mine: Vec<_> = self
            .store
            .public_offers_on(key)?
            .iter()
            .filter(|o| o.author() == me)
            .map(haggle_protocol::Object::id)
            .collect();
        for id in mine {
            let waiting = self
                .store
                .thread(&id)?
                .is_some_and(|t| t.view.state == haggle_protocol::ThreadState::Confirming);
            if waiting && self.confirm_if_due(id, then)? {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::ListingKind;

    use super::*;
    use crate::api::types::{AuctionDraft, ListingDraft};
    use crate::service::testing::{draft, service};

    fn auction(title: &str) -> ListingDraft {
        ListingDraft {
            kind: ListingKind::Auction,
            auction: Some(AuctionDraft { ends_in: 3_600, reserve: None, increment: None, window: None }),
            ..draft(title, "100")
        }
    }

    /// An auction titled `title` ending `ends_in` seconds from now, without the anti-sniping
    /// window (bids close 3 s before the end: the last call).
    fn short_auction(title: &str, ends_in: u64) -> ListingDraft {
        ListingDraft {
            auction: Some(AuctionDraft { ends_in, reserve: None, increment: None, window: Some(0) }),
            ..auction(title)
        }
    }

    /// Settles `seller`'s markets until its node accepts a bid of `bidder`'s (bounded).
    fn until_accepted(seller: &Service, bidder: &Service) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !seller.settle_markets().expect("settle").deliver.contains(&bidder.me()) {
            assert!(std::time::Instant::now() < deadline, "the seller's node accepted no bid");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn ends(service: &Service) -> HashMap<ObjectId, Timed> {
        service.ends.lock().expect("not poisoned").clone()
    }

    #[test]
    fn each_revision_is_decoded_once_and_forgotten_once_replaced() {
        let (service, _dir) = service(1);
        let plain = service.publish(draft("bike", "100")).expect("publish").object.id();
        let running = service.publish(auction("lamp")).expect("publish").object.id();
        assert!(service.settle_markets().expect("settle").is_empty(), "nothing has ended");
        let seen = ends(&service);
        assert_eq!(seen.len(), 2);
        assert!(matches!(seen[&plain], Timed::Lapses { .. }), "{seen:?}");
        assert!(matches!(seen[&running], Timed::Auction { active: true, .. }), "{seen:?}");

        // The next tick takes what a revision says from memory, not from the store: a planted
        // answer survives it.
        service.ends.lock().expect("not poisoned").insert(running, Timed::No);
        service.settle_markets().expect("settle");
        assert_eq!(ends(&service)[&running], Timed::No, "not decoded again");

        // A new revision is a new id: read, and the old one forgotten.
        let closed = service.retract(&running.to_hex()).expect("retract").object.id();
        service.settle_markets().expect("settle");
        let seen = ends(&service);
        assert_eq!(seen.len(), 2);
        assert!(!seen.contains_key(&running), "the replaced revision is forgotten");
        assert!(matches!(seen[&closed], Timed::Auction { active: false, .. }), "{seen:?}");
    }

    /// The message of `kind` in `thread` on `svc`, as bytes for the other party.
    fn message(svc: &Service, thread: ObjectId, kind: haggle_protocol::ObjectKind) -> Vec<u8> {
        let record = svc.store.thread(&thread).expect("read").expect("thread");
        record.messages.iter().find(|m| m.kind() == kind).expect("the message").bytes().to_vec()
    }

    fn bid(svc: &Service, id: &str, price: &str) -> Vec<u8> {
        let request = crate::api::types::BidRequest { price: price.into(), message: String::new() };
        svc.bid(id, request).expect("bid").object.bytes().to_vec()
    }

    /// Found in a trial: a restarted node told the end of an auction it had told before, in
    /// other words ("you won", after "under the reserve" and the deal): the memory of what it
    /// told started empty with each run. What an earlier run told is not told again; an end
    /// after it is.
    #[test]
    fn an_end_told_before_a_restart_is_not_told_again_after_it() {
        use crate::service::Via;

        let (seller, _d0) = service(1);
        let (bidder, _d1) = service(2);
        // Bids close 3 s before the end (the last call): 6 s leaves time to make one.
        let short = |title: &str| short_auction(title, 6);
        // Settles until `id`'s end is told, each run checked for `not`'s too.
        let until_told = |svc: &Service, id: ObjectId, not: Option<ObjectId>| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let ended: Vec<ObjectId> = svc
                    .settle_markets()
                    .expect("settle")
                    .events
                    .iter()
                    .filter_map(|e| match e {
                        crate::api::types::NodeEvent::AuctionEnded { listing, .. } => Some(*listing),
                        _ => None,
                    })
                    .collect();
                assert!(not.is_none_or(|not| !ended.contains(&not)), "told again after the restart");
                if ended.contains(&id) {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "{id:?} never told");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        };
        let first = seller.publish(short("kettle")).expect("publish").object;
        bidder.receive(first.bytes(), Via::Gossip);
        seller.receive(&bid(&bidder, &first.id().to_hex(), "100"), Via::Gossip);
        until_told(&bidder, first.id(), None);

        // The bidder's node restarts: a new service over the same store and key.
        let restarted = Service::new(
            bidder.store.clone(),
            bidder.key.clone(),
            crate::Policy::default(),
            bidder.blobs.clone(),
        );
        let second = seller.publish(short("mug")).expect("publish").object;
        restarted.receive(second.bytes(), Via::Gossip);
        seller.receive(&bid(&restarted, &second.id().to_hex(), "100"), Via::Gossip);
        until_told(&restarted, second.id(), Some(first.id()));
    }

    /// From a retrial: the winner's watch read `deal made` before `auction ended: you won`, when
    /// the seller's accept reached it before its own tick found the end. The end is told first,
    /// once: the tick after says nothing more of it.
    #[test]
    fn the_winner_is_told_the_end_before_the_deal() {
        use crate::api::types::NodeEvent;
        use crate::service::Via;

        let (seller, _d0) = service(1);
        let (bidder, _d1) = service(2);
        let listing = seller.publish(short_auction("teapot", 6)).expect("publish").object;
        bidder.receive(listing.bytes(), Via::Gossip);
        let made = bid(&bidder, &listing.id().to_hex(), "100");
        seller.receive(&made, Via::Gossip);
        let thread = haggle_protocol::Object::decode_unverified(&made).expect("an object").id();
        until_accepted(&seller, &bidder);
        // The accept arrives before the bidder's node settled anything.
        let got = bidder.receive(&message(&seller, thread, haggle_protocol::ObjectKind::Accept), Via::Direct);
        let told: Vec<&str> = got
            .then
            .events
            .iter()
            .filter_map(|e| match e {
                NodeEvent::AuctionEnded { .. } => Some("ended"),
                NodeEvent::DealMade { .. } => Some("deal"),
                _ => None,
            })
            .collect();
        assert_eq!(told, ["ended", "deal"]);
        let again = bidder.settle_markets().expect("settle").events;
        assert!(!again.iter().any(|e| matches!(e, NodeEvent::AuctionEnded { .. })), "told once: {again:?}");
    }

    /// Defect: a seller bidding on its own auction was told to use `haggle update`, and a
    /// bidder accepting its own bid to withdraw it, which a bid refuses.
    #[test]
    fn refusals_on_a_bid_say_what_a_bid_allows() {
        use crate::service::Via;

        let (seller, _d0) = service(1);
        let (bidder, _d1) = service(2);
        let listing = seller.publish(auction("kettle")).expect("publish").object;
        bidder.receive(listing.bytes(), Via::Gossip);
        let id = listing.id().to_hex();
        let request = crate::api::types::BidRequest { price: "120".into(), message: String::new() };
        let own = seller.bid(&id, request).expect_err("own auction").to_string();
        assert!(own.contains("your own auction: others bid on it") && !own.contains("update"), "{own}");
        let request = crate::api::types::BidRequest { price: "120".into(), message: String::new() };
        let made = bidder.bid(&id, request).expect("bid").object;
        let own = bidder.accept(&made.id().to_hex()).expect_err("own bid").to_string();
        assert!(own.contains("a bid stands as made") && !own.contains("haggle withdraw"), "{own}");
        // Withdrawing it, declining it and countering it are each refused as out of turn (a
        // trial's withdraw exited 2, its decline 1), the withdrawal saying what binds.
        let bid = made.id().to_hex();
        let withdrawn = bidder.withdraw(&bid, String::new()).map(|_| ()).expect_err("a bid stands");
        assert_eq!(withdrawn.code(), crate::api::types::ErrorCode::NotYourTurn, "{withdrawn}");
        let said = withdrawn.to_string();
        assert!(
            said.contains("cannot be withdrawn") && said.contains("It binds you if it is accepted"),
            "{said}"
        );
        let declined = bidder.decline(&bid, String::new()).map(|_| ()).expect_err("own bid");
        assert_eq!(declined.code(), crate::api::types::ErrorCode::NotYourTurn, "{declined}");
        // A retracted auction takes no bids (it said "no offers").
        let closed = seller.retract(&id).expect("retract").object;
        bidder.receive(closed.bytes(), Via::Gossip);
        let request = crate::api::types::BidRequest { price: "130".into(), message: String::new() };
        let late = bidder.bid(&id, request).expect_err("retracted").to_string();
        assert!(late.ends_with("(its author retracted it): it takes no bids"), "{late}");
    }

    /// Defect: after the seller declined the high bid, under the reserve, the auction's view
    /// still told the seller to accept it by hand (a command that could no longer work). The
    /// view says the high bid was declined, on both sides.
    #[test]
    fn a_high_bid_declined_under_the_reserve_is_shown_declined() {
        use crate::api::types::BidStanding;
        use crate::service::Via;

        let (seller, _d0) = service(1);
        let (bidder, _d1) = service(2);
        let short = ListingDraft {
            auction: Some(AuctionDraft {
                ends_in: 6,
                reserve: Some("150".into()),
                increment: None,
                window: Some(0),
            }),
            ..auction("mirror")
        };
        let listing = seller.publish(short).expect("publish").object;
        bidder.receive(listing.bytes(), Via::Gossip);
        let id = listing.id().to_hex();
        let outbid = bid(&bidder, &id, "100");
        seller.receive(&outbid, Via::Gossip);
        let made = bid(&bidder, &id, "110");
        seller.receive(&made, Via::Gossip);
        let thread = haggle_protocol::Object::decode_unverified(&made).expect("an object").id();
        let outbid = haggle_protocol::Object::decode_unverified(&outbid).expect("an object").id();
        let info = |s: &Service| s.listing_view(&id).expect("view").auction.expect("an auction");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !info(&seller).over {
            assert!(std::time::Instant::now() < deadline, "the auction did not end");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        seller.settle_markets().expect("settle");
        let ended = info(&seller);
        assert!(!ended.reserve_met && !ended.high_declined, "{ended:?}");
        // Defect: accepting the outbid bid said only "only the high bid can be accepted".
        let not_high = seller.accept(&outbid.to_hex()).expect_err("outbid").to_string();
        let names = format!("that is {} (110.00 EUR)", thread.fmt_short());
        assert!(not_high.contains("not the high bid") && not_high.contains(&names), "{not_high}");
        let declined = seller.decline(&thread.to_hex(), "Too low, sorry".into()).expect("declined");
        bidder.receive(declined.object.bytes(), Via::Direct);
        assert!(info(&seller).high_declined);
        let theirs = info(&bidder);
        assert!(theirs.high_declined);
        assert_eq!(theirs.me, Some(BidStanding::Lost));
    }

    /// Found in a trial: a bidder's node started after an auction's end announced `your bid is
    /// on top` from what it held before its first sync, which then brought the winning bid. A
    /// node catching up holds back the ends of other people's markets until it has synced (or
    /// its grace passed); its owner's own are settled and announced at once.
    #[test]
    fn a_node_catching_up_announces_other_peoples_ends_once_it_has_synced() {
        use crate::service::Via;

        let (seller, _d0) = service(1);
        let (bidder, _d1) = service(2);
        let short = short_auction("kettle", 5);
        let listing = seller.publish(short).expect("publish").object;
        bidder.receive(listing.bytes(), Via::Gossip);
        let id = listing.id().to_hex();
        seller.receive(&bid(&bidder, &id, "100"), Via::Gossip);
        let over = |s: &Service| s.listing_view(&id).expect("view").auction.expect("an auction").over;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !over(&bidder) {
            assert!(std::time::Instant::now() < deadline, "the auction did not end");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        for s in [&seller, &bidder] {
            s.catch_up_within(std::time::Duration::from_secs(60));
        }
        let ended = |then: &Followups| {
            then.events.iter().any(|e| matches!(e, crate::api::types::NodeEvent::AuctionEnded { .. }))
        };
        // Settled a moment after the end (`SETTLE_GRACE`): the seller's node, catching up too.
        let sellers = loop {
            let then = seller.settle_markets().expect("settle");
            if ended(&then) {
                break then;
            }
            assert!(std::time::Instant::now() < deadline, "the seller's node never settled it");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(
            !sellers.deliver.is_empty(),
            "the owner's own: settled (the high bid accepted) and announced"
        );
        assert!(!ended(&bidder.settle_markets().expect("settle")), "held back while catching up");
        assert!(bidder.catching_up());
        bidder.note_caught_up();
        assert!(!bidder.catching_up(), "a sync completed");
        assert!(ended(&bidder.settle_markets().expect("settle")), "announced once synced");
        assert!(!ended(&bidder.settle_markets().expect("settle")), "and only once");
        // The grace passed without a sync: no longer held back.
        bidder.catch_up_within(std::time::Duration::ZERO);
        assert!(!bidder.catching_up());
    }

    /// Defect: a bid that never reached the seller's node (made while it was offline) stayed
    /// open and "at end" on its bidder's node, as if the seller's node were still to accept it,
    /// after that node sold the auction to another bid and closed it; so did a bid on an
    /// auction retracted without it.
    #[test]
    fn a_bid_the_seller_never_held_is_not_accepted_once_the_auction_closes() {
        use crate::api::types::{BidStanding, PublicOutcome};
        use crate::service::Via;
        use haggle_protocol::ObjectKind;

        let (seller, _d0) = service(1);
        let (first, _d1) = service(2);
        let (late, _d2) = service(3);
        // Bids close 3 s before the end (the last call): 8 s leaves the bids below 5 s to be
        // made on a slow machine.
        let short = short_auction("lamp", 8);
        let listing = seller.publish(short).expect("publish").object;
        let retracted = seller.publish(auction("clock")).expect("publish").object;
        for s in [&first, &late] {
            s.receive(listing.bytes(), Via::Gossip);
            s.receive(retracted.bytes(), Via::Gossip);
        }
        let (id, clock) = (listing.id().to_hex(), retracted.id().to_hex());
        let taken = bid(&first, &id, "100");
        for s in [&seller, &late] {
            s.receive(&taken, Via::Gossip);
        }
        // The seller's node is away: the higher bid reaches the other bidder only.
        let missed = bid(&late, &id, "110");
        first.receive(&missed, Via::Gossip);
        let unseen = bid(&late, &clock, "120");
        let thread_of =
            |bytes: &[u8]| haggle_protocol::Object::decode_unverified(bytes).expect("an object").id();
        let (taken_thread, missed_thread) = (thread_of(&taken), thread_of(&missed));

        // After the end, the seller's node accepts the only bid it holds.
        until_accepted(&seller, &first);
        // Before the sale is known, the late bidder's node has its bid on top, awaiting the
        // seller's node.
        let view = |s: &Service, t: ObjectId| s.thread_view(&t.to_hex()).expect("a thread");
        assert_eq!(view(&late, missed_thread).outcome, None);
        assert_eq!(
            late.listing_view(&id).expect("view").auction.expect("an auction").me,
            Some(BidStanding::Awaiting)
        );

        let accept = message(&seller, taken_thread, ObjectKind::Accept);
        assert_eq!(first.receive(&accept, Via::Direct).then.deliver, vec![seller.me()], "confirmed");
        let confirm = message(&first, taken_thread, ObjectKind::Confirm);
        let deal = seller.receive(&confirm, Via::Direct);
        let closing = deal.then.publish.first().expect("the closing revision").clone();
        let closing_listing = haggle_protocol::Object::decode_unverified(&closing).expect("an object");
        assert_eq!(
            closing_listing.listing().map(|l| (l.status, l.quantity)),
            Some((haggle_protocol::ListingStatus::Closed, 0))
        );
        late.receive(&closing, Via::Gossip);

        let lost = view(&late, missed_thread);
        assert_eq!((lost.outcome, lost.awaiting), (Some(PublicOutcome::NotAccepted), None), "{lost:?}");
        assert_eq!(
            late.listing_view(&id).expect("view").auction.expect("an auction").me,
            Some(BidStanding::Lost)
        );
        assert_eq!(view(&first, taken_thread).outcome, None, "the winner's thread is its deal");

        // A retraction says so to a bid the seller's node never held.
        let closed = seller.retract(&clock).expect("retract").object;
        late.receive(closed.bytes(), Via::Gossip);
        let unseen = view(&late, thread_of(&unseen));
        assert_eq!((unseen.outcome, unseen.awaiting), (Some(PublicOutcome::Closed), None), "{unseen:?}");
    }

    /// Found in a trial: a bidder's node offline while a higher bid came, back after the sale,
    /// gets the closing revision first and then refuses the higher bid (a closed auction takes
    /// no more: a bid's date is its bidder's word); its own bid reads as the high bid, lost. The
    /// decline the seller's node signed by itself at the sale is not the seller declining that
    /// bid (it read "the seller declined your bid").
    #[test]
    fn a_bidder_back_after_a_sale_it_missed_holds_its_own_bid_on_top_lost_not_declined() {
        use crate::api::types::BidStanding;
        use crate::service::{Received, Via};
        use haggle_protocol::ObjectKind;

        let (seller, _d0) = service(1);
        let (winner, _d1) = service(2);
        let (away, _d2) = service(3);
        let short = short_auction("jug", 8);
        let listing = seller.publish(short).expect("publish").object;
        let id = listing.id().to_hex();
        for s in [&winner, &away] {
            s.receive(listing.bytes(), Via::Gossip);
        }
        let first = bid(&away, &id, "100");
        for s in [&seller, &winner] {
            s.receive(&first, Via::Gossip);
        }
        // The away bidder's node is offline from here on: the higher bid never reaches it.
        let higher = bid(&winner, &id, "110");
        seller.receive(&higher, Via::Gossip);
        let thread_of =
            |bytes: &[u8]| haggle_protocol::Object::decode_unverified(bytes).expect("an object").id();
        let (away_thread, won_thread) = (thread_of(&first), thread_of(&higher));
        until_accepted(&seller, &winner);
        winner.receive(&message(&seller, won_thread, ObjectKind::Accept), Via::Direct);
        let deal = seller.receive(&message(&winner, won_thread, ObjectKind::Confirm), Via::Direct);
        let closing = deal.then.publish.first().expect("the closing revision").clone();

        // Back: the close comes first, then the seller's decline, then the higher bid.
        away.receive(&closing, Via::Sync);
        away.receive(&message(&seller, away_thread, ObjectKind::Decline), Via::Direct);
        assert!(
            matches!(away.receive(&higher, Via::Sync).first(), Some(Received::Refused { .. })),
            "a closed auction takes no more bids"
        );
        let info = away.listing_view(&id).expect("view").auction.expect("an auction");
        assert_eq!(info.me, Some(BidStanding::Lost));
        assert!(info.high_bid.as_ref().is_some_and(|h| h.mine), "{info:?}");
        assert!(!info.high_declined, "declined by the seller's node at the sale, not by hand: {info:?}");
    }

    #[test]
    fn an_end_is_judged_from_the_scheduled_time() {
        let at = Timestamp::from_millis(1_000_000);
        let auction = Timed::Auction { ends: at, active: true };
        let campaign = Timed::Campaign { deadline: at, active: false };
        assert!(auction.running() && !campaign.running() && !Timed::No.running());
        assert!(!auction.ended(at) && auction.ended(Timestamp::from_millis(1_000_001)));
        assert!(
            campaign.ended(Timestamp::from_millis(1_000_001))
                && !Timed::No.ended(Timestamp::from_millis(u64::MAX))
        );
    }
}
