//! Keys the owner blocked (`haggle block`): a stranger who floods the owner with offers, or
//! whose listings the owner never wants to see again.
//!
//! What a block does, on this node only (nothing is published; the blocked key is not told, but
//! its node hears why an offer it sends directly was refused):
//! - its listings (and wanted ads) are left out of searches, unless the search names it as the
//!   seller, and out of the live events: their new revisions, and the bids, pledges and ends of
//!   its auctions and campaigns, unless they concern the owner (a bid of the owner's, or one
//!   that outbids it); their thumbnails are not fetched;
//! - a new thread from it (an offer or a booking request) is refused, whether it comes directly
//!   or by mail. The refusal is final, and nobody's fault: its node stops trying and is not
//!   penalised;
//! - when it leads one of the owner's auctions at the end, the owner's node does not accept its
//!   bid by itself: the owner accepts or declines it by hand.
//!
//! What it leaves alone: threads already open and deals already made go on (both parties can
//! still answer, decline, withdraw or call a deal off: a block must not let either side walk
//! away from a deal without a word); its objects are still stored, synced and forwarded like any
//! other (a node must not split the network by what its owner dislikes); its public bids and
//! pledges count in auctions and campaigns as on every other node (a campaign the owner runs
//! accepts its pledge with the others when funded); and its ratings still count for reputation.

use std::collections::HashMap;

use haggle_protocol::{Body, Object, ObjectId, PublicKey, Timestamp};
use haggle_storage::{BlockOutcome, MAX_BLOCKED};

use super::{Conflict, InvalidInput, Refusal, Service, ServiceError};
use crate::api::types::{BlockChange, BlockRequest, BlockedPage, BlockedView, NodeEvent, OpenThread};

/// Longest note kept with a block, in characters.
pub const MAX_BLOCK_NOTE_CHARS: usize = 200;

/// A block's note as kept (trimmed), if within [`MAX_BLOCK_NOTE_CHARS`].
pub fn check_block_note(note: &str) -> Result<&str, InvalidInput> {
    let note = note.trim();
    let len = note.chars().count();
    if len > MAX_BLOCK_NOTE_CHARS {
        return Err(InvalidInput::BlockNote { len, max: MAX_BLOCK_NOTE_CHARS });
    }
    Ok(note)
}

impl Service {
    /// Blocks the key `request.who` names (see the module docs).
    pub fn block(&self, request: BlockRequest) -> Result<BlockChange, ServiceError> {
        let note = request.note.as_deref().map(check_block_note).transpose()?;
        let key = self.identity_named(&request.who, true)?;
        if key == self.me() {
            return Err(InvalidInput::BlockSelf.into());
        }
        let (changed, was_blocked) = match self.store.block(key, note, Timestamp::now())? {
            BlockOutcome::Full => return Err(Conflict::BlockListFull { max: MAX_BLOCKED }.into()),
            BlockOutcome::Added => (true, false),
            BlockOutcome::Updated => (true, true),
            BlockOutcome::Unchanged => (false, true),
        };
        self.change(key, true, changed, was_blocked)
    }

    /// Unblocks the key `given` names.
    pub fn unblock(&self, given: &str) -> Result<BlockChange, ServiceError> {
        let key = self.identity_named(given, true)?;
        let changed = self.store.unblock(&key)?;
        // Its offers refused meanwhile stay refused (their senders were told so): mail included.
        self.change(key, false, changed, changed)
    }

    /// Refuses the owner's new offer, booking request, bid or pledge (`what`: `offer on`,
    /// `book`, `bid on`, `pledge to`) on a listing of `author`, a key the owner blocked: a block
    /// keeps new threads from starting either way.
    pub(super) fn not_to_blocked(&self, author: &PublicKey, what: &'static str) -> Result<(), ServiceError> {
        match self.store.is_blocked(author) {
            true => Err(Conflict::ToBlocked(*author, what).into()),
            false => Ok(()),
        }
    }

    /// The blocked keys, the most recent first.
    pub fn blocked(&self) -> BlockedPage {
        let blocked = self
            .store
            .blocked()
            .into_iter()
            .map(|b| BlockedView { key: b.key, since: b.since.as_millis(), note: b.note })
            .collect();
        BlockedPage { blocked, max: MAX_BLOCKED }
    }

    /// Whether `object` is a new thread, a message about a listing, or a message in a thread
    /// that ended without a deal, from a blocked key, to refuse (a copy of one held, made before
    /// the block, is not new: it is answered as held). Messages in an open thread or a deal go
    /// on, like the thread's own messages: neither side can walk away from those by blocking.
    /// (From a trial: a blocked key went on sending 20 messages in each of its 32 withdrawn
    /// threads.)
    pub(super) fn blocked_refusal(&self, object: &Object) -> Option<Refusal> {
        let opens = match object.body() {
            Body::Offer(_) => true,
            Body::Note(note) => match &note.about {
                haggle_protocol::About::Listing(_) => true,
                haggle_protocol::About::Thread(thread) => self.ended_without_a_deal(thread),
            },
            _ => false,
        };
        let refused =
            opens && self.store.is_blocked(&object.author()) && !self.store.holds(object).unwrap_or(false);
        refused.then_some(Refusal::Blocked)
    }

    /// Whether `thread` is held here and ended without a deal (withdrawn, declined, expired):
    /// nothing is left in it to settle.
    pub(super) fn ended_without_a_deal(&self, thread: &ObjectId) -> bool {
        match self.store.thread(thread) {
            Ok(Some(t)) => t.view.state.is_final() && t.view.deal_id().is_none(),
            _ => false,
        }
    }

    /// Whether listings by `author` are left out of what the owner sees unasked.
    pub(super) fn hides(&self, author: &PublicKey) -> bool {
        self.store.is_blocked(author)
    }

    /// Whether `event`, about a listing by `author`, is left out of the live events: the author
    /// is blocked and the event does not concern the owner.
    pub(super) fn hides_event(&self, author: &PublicKey, event: &NodeEvent) -> bool {
        self.hides(author)
            && match event {
                NodeEvent::BidStored { mine, outbids_me, .. } => !mine && !outbids_me,
                NodeEvent::PledgeStored { mine, .. } => !mine,
                NodeEvent::AuctionEnded { standing, .. } => standing.is_none(),
                NodeEvent::CampaignEnded { pledged, .. } => pledged.is_none(),
                _ => false,
            }
    }

    /// What changed for `key`, with the threads and deals still open with it.
    fn change(
        &self,
        key: PublicKey,
        blocked: bool,
        changed: bool,
        was_blocked: bool,
    ) -> Result<BlockChange, ServiceError> {
        let me = self.me();
        let with_key = |a: PublicKey, b: PublicKey| (a == me && b == key) || (a == key && b == me);
        // Negotiations (not the owner's offers its party's node refused: they hold nothing to
        // end), its high bid on an auction of the owner's that is over and awaits the owner, the
        // highest bid of each auction still running between the two, the owner's standing
        // pledges to its campaigns and theirs to the owner's (other bids and pledges are
        // answered with their auction or campaign).
        let mut open_threads = Vec::new();
        // Bids on an auction still running, by auction: the highest, which the block names (a
        // trial's bidder blocked the seller, was told of nothing open, and won a deal with them).
        let mut running: HashMap<Option<haggle_protocol::ListingKey>, (u64, ObjectId, bool)> = HashMap::new();
        for t in self.store.threads_of(&key)? {
            if t.view.state.is_final() || !with_key(t.view.offerer, t.view.listing_author) {
                continue;
            }
            // The owner's pledge to their campaign binds if it is funded, and the campaign
            // leaves the owner's searches: named with how to take it back (a retrial's backer
            // blocked a campaign's creator and was told of nothing open).
            if t.offer.kind() == haggle_protocol::ObjectKind::Pledge && t.view.offerer == me {
                let view = super::views::thread(&self.store, &t, &me)?;
                // Not one the backer's later pledge replaced: it no longer counts.
                if view.outcome.is_none() && view.replaced_by.is_none() && view.terms.price.amount > 0 {
                    open_threads.push(OpenThread {
                        thread: t.view.thread,
                        ends_with: Some("pledge".to_owned()),
                        listing: view.listing,
                    });
                }
                continue;
            }
            // Their standing pledge to the owner's campaign: if it is funded, the owner's node
            // leaves it to the owner (a trial's creator was told of their bookings and bids, not
            // of the pledge it then had to answer by hand).
            if t.offer.kind() == haggle_protocol::ObjectKind::Pledge {
                let view = super::views::thread(&self.store, &t, &me)?;
                let standing = view.replaced_by.is_none() && view.terms.price.amount > 0;
                // Accepted already (from a review): a deal follows when their node confirms,
                // or the accept lapses; nothing is left to the owner.
                let ends_with = match (t.view.state, view.outcome) {
                    (haggle_protocol::ThreadState::Confirming, _) if standing => None,
                    (haggle_protocol::ThreadState::Open, None) if standing => Some("their pledge"),
                    (
                        haggle_protocol::ThreadState::Open,
                        Some(crate::api::types::PublicOutcome::BackerBlocked),
                    ) if standing && view.awaiting == Some(crate::api::types::Party::Me) => Some("decline"),
                    _ => continue,
                };
                open_threads.push(OpenThread {
                    thread: t.view.thread,
                    ends_with: ends_with.map(str::to_owned),
                    listing: None,
                });
                continue;
            }
            // An accept awaiting its confirm ends by itself (a deal, or it lapses); terms on the
            // table end by their proposer's withdrawal or the other party's decline.
            let ends_with = match t.offer.kind() {
                haggle_protocol::ObjectKind::Offer if self.store.offer_refused(&t.offer)?.is_some() => {
                    continue;
                }
                haggle_protocol::ObjectKind::Offer => match t.view.state {
                    haggle_protocol::ThreadState::Confirming => None,
                    _ if t.view.proposer == me => Some("withdraw".to_owned()),
                    _ => Some("decline".to_owned()),
                },
                // An accepted bid awaits its confirm, whether or not the auction's end is known
                // here (from a trial: it was told as a bid that stands until the end).
                haggle_protocol::ObjectKind::Bid
                    if t.view.state == haggle_protocol::ThreadState::Confirming =>
                {
                    None
                }
                haggle_protocol::ObjectKind::Bid => {
                    let view = super::views::thread(&self.store, &t, &me)?;
                    if view.outcome.is_none() {
                        // The auction runs: a bid is not answered before its end.
                        let auction = t.listing.as_ref().and_then(Object::listing_key);
                        let bid = (view.terms.price.amount, t.view.thread, t.view.offerer == me);
                        let highest = running.entry(auction).or_insert(bid);
                        if bid.0 > highest.0 {
                            *highest = bid;
                        }
                        continue;
                    }
                    // Over: their high bid on the owner's auction awaits the owner.
                    if t.view.listing_author != me || view.awaiting != Some(crate::api::types::Party::Me) {
                        continue;
                    }
                    Some("decline".to_owned())
                }
                _ => continue,
            };
            open_threads.push(OpenThread { thread: t.view.thread, ends_with, listing: None });
        }
        let mut bids: Vec<(u64, ObjectId, bool)> = running.into_values().collect();
        bids.sort_by_key(|(_, thread, _)| *thread);
        for (_, thread, mine) in bids {
            let ends_with = if mine { "bid" } else { "their bid" };
            open_threads.push(OpenThread { thread, ends_with: Some(ends_with.to_owned()), listing: None });
        }
        let mut open_deals = Vec::new();
        for deal in self.store.deals_of(&key)? {
            if with_key(deal.seller(), deal.buyer()) && !self.store.deal_state(&deal)?.stage().is_final() {
                open_deals.push(deal.id());
            }
        }
        Ok(BlockChange { key, blocked, was_blocked, changed, open_threads, open_deals })
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{self, key, live_listing, sign_now};
    use haggle_protocol::{Body, SecretKey};

    use super::super::testing::{draft, service};
    use super::super::{Followups, Received, Via};
    use super::*;
    use crate::api::types::{AuctionDraft, ErrorCode, ListingDraft, SearchParams, TermsDraft};

    fn block(s: &Service, who: &str, note: &str) -> Result<BlockChange, ServiceError> {
        s.block(BlockRequest { who: who.to_owned(), note: Some(note.to_owned()) })
    }

    #[test]
    fn a_blocked_sellers_listings_leave_searches_and_events() {
        let (s, _dir) = service(1);
        let stranger = key(2);
        let bike = sign_now(&stranger, Body::Listing(live_listing("Road bike")));
        assert!(matches!(
            s.receive(bike.bytes(), super::super::Via::Gossip).first(),
            Some(super::super::Received::New)
        ));
        let search = |seller: Option<PublicKey>| {
            s.search(SearchParams { q: "bike".into(), seller, ..SearchParams::default() })
                .expect("search")
                .total
        };
        assert_eq!(search(None), 1);

        let change = block(&s, &bike.id().to_hex()[..10], "spam").expect("block by listing id");
        assert_eq!((change.key, change.blocked, change.changed), (stranger.public(), true, true));
        assert_eq!(search(None), 0, "left out of searches");
        let page = s.search(SearchParams { q: "bike".into(), ..SearchParams::default() }).expect("search");
        assert_eq!(page.hidden, 1, "and said to be");
        assert_eq!(search(Some(stranger.public())), 1, "unless asked for by seller");
        assert!(s.listing_view(&bike.id().to_hex()).expect("shown by id").blocked);
        assert!(s.reputation_view(&stranger.public().to_string()).expect("reputation").blocked);

        // A new listing of theirs is stored, but announces nothing.
        let lamp = haggle_protocol::Listing { nonce: [9; 16], ..live_listing("Desk lamp") };
        let lamp = sign_now(&stranger, Body::Listing(lamp));
        let arrived = s.receive(lamp.bytes(), super::super::Via::Gossip);
        assert!(matches!(arrived.first(), Some(super::super::Received::New)));
        assert!(arrived.then.events.is_empty(), "{:?}", arrived.then.events);

        assert!(!block(&s, &stranger.public().to_string(), "spam").expect("again").changed, "nothing new");
        let noted = block(&s, &stranger.public().to_string(), "lowballs").expect("note");
        assert!(noted.changed && noted.was_blocked, "a new note on a key blocked already");
        let no_note = BlockRequest { who: stranger.public().to_string(), note: None };
        assert!(!s.block(no_note).expect("again, no note").changed, "the note is kept");
        let listed = s.blocked();
        assert_eq!(listed.blocked.len(), 1);
        assert_eq!(listed.blocked[0].note, "lowballs");

        let gone = s.unblock(&stranger.public().to_string()).expect("unblock");
        assert_eq!((gone.blocked, gone.changed), (false, true));
        assert!(search(None) >= 1, "back in searches");
        assert_eq!(search(None), search(Some(stranger.public())), "all of them");
        assert!(!s.unblock(&stranger.public().to_string()).expect("again").changed);
    }

    #[test]
    fn blocking_oneself_a_long_note_or_no_key_says_why() {
        let (s, _dir) = service(1);
        let own = block(&s, &key(1).public().to_string(), "").expect_err("own key");
        assert!(own.to_string().contains("your own key"), "{own}");
        let long = "x".repeat(MAX_BLOCK_NOTE_CHARS + 1);
        let note =
            block(&s, &SecretKey::from_seed(&[9; 32]).public().to_string(), &long).expect_err("long note");
        assert_eq!(note.code(), ErrorCode::Invalid);
        assert!(note.to_string().contains("201 characters"), "{note}");
        // A key cut short is a mistake in what was typed; a word that names no one is not found.
        let nothing = block(&s, "12D3KooWnothing", "").expect_err("not a key");
        assert!(
            nothing.to_string().contains("is a key cut short: a person's key is 52 characters"),
            "{nothing}"
        );
        assert_eq!(nothing.code(), ErrorCode::Invalid);
        let nobody = block(&s, "Nobody", "").expect_err("no one");
        assert_eq!(nobody.code(), ErrorCode::NotFound, "{nobody}");
        assert!(s.blocked().blocked.is_empty(), "nothing kept");
    }

    /// A thread's or a deal's id names the owner's other party, on either side.
    #[test]
    fn a_thread_or_a_deal_names_the_other_party_on_either_side() {
        let (seller, _sd) = service(1);
        let (buyer, _bd) = service(2);
        let listing = seller.publish(draft("Road bike", "120")).expect("published").object;
        buyer.receive(listing.bytes(), Via::Gossip);
        let terms = TermsDraft { price: Some("100".into()), ..TermsDraft::default() };
        let offer = buyer.offer(&listing.id().to_hex(), terms).expect("offered").object;
        seller.receive(offer.bytes(), Via::Direct);
        let thread = &offer.id().to_hex()[..10];
        assert_eq!(block(&seller, thread, "").expect("by thread").key, key(2).public());
        assert_eq!(block(&buyer, thread, "").expect("by thread").key, key(1).public());
        // A bid on someone else's auction names its bidder.
        let (third, _td) = service(3);
        let auction = sign_now(
            &key(4),
            Body::Listing(fixtures::auction(
                "Lamp",
                1_000,
                100,
                haggle_protocol::Timestamp::now().saturating_add(std::time::Duration::from_secs(3_600)),
                60,
            )),
        );
        let bid = sign_now(&key(5), fixtures::bid(&auction, 1_000));
        third.receive(auction.bytes(), Via::Gossip);
        assert!(matches!(third.receive(bid.bytes(), Via::Gossip).first(), Some(Received::New)));
        assert_eq!(block(&third, &bid.id().to_hex()[..10], "").expect("by bid").key, key(5).public());
    }

    /// The bids and end of a blocked author's auction stay out of the live events, unless they
    /// concern the owner; a blocked key leading the owner's auction is not accepted by itself.
    #[test]
    fn a_blocked_keys_auction_is_quiet_and_its_high_bid_on_mine_waits_for_the_owner() {
        let (s, _dir) = service(1);
        let ends = haggle_protocol::Timestamp::now().saturating_add(std::time::Duration::from_secs(3_600));
        let theirs = sign_now(&key(2), Body::Listing(fixtures::auction("Lamp", 1_000, 100, ends, 60)));
        s.receive(theirs.bytes(), Via::Gossip);
        block(&s, &key(2).public().to_string(), "").expect("blocked");
        let bid = sign_now(&key(3), fixtures::bid(&theirs, 1_000));
        let arrived = s.receive(bid.bytes(), Via::Gossip);
        assert!(matches!(arrived.first(), Some(Received::New)), "stored and passed on");
        assert!(arrived.then.events.is_empty(), "{:?}", arrived.then.events);
        // Once the owner bid, a bid over it is news. (The owner bids while the author is not
        // blocked: no new bid goes to a key one blocks.)
        s.unblock(&key(2).public().to_string()).expect("unblocked");
        let my_bid = s
            .bid(
                &theirs.id().to_hex(),
                crate::api::types::BidRequest { price: "11".into(), message: String::new() },
            )
            .expect("bid")
            .object;
        block(&s, &key(2).public().to_string(), "").expect("blocked again");
        // Made after the owner's (bids of one millisecond are ordered by id).
        let after = haggle_protocol::Timestamp::from_millis(my_bid.created_at().as_millis() + 1);
        let over = fixtures::sign_at(&key(3), fixtures::bid(&theirs, 1_200), after);
        let arrived = s.receive(over.bytes(), Via::Gossip);
        assert!(
            matches!(arrived.then.events[..], [NodeEvent::BidStored { outbids_me: true, .. }]),
            "{:?}",
            arrived.then.events
        );

        // The owner's own auction, led by a key it blocks.
        let mine = s
            .publish(ListingDraft {
                kind: haggle_protocol::ListingKind::Auction,
                auction: Some(AuctionDraft { ends_in: 3_600, reserve: None, increment: None, window: None }),
                ..draft("Clock", "10")
            })
            .expect("published")
            .object;
        let high = sign_now(&key(2), fixtures::bid(&mine, 1_000));
        assert!(matches!(s.receive(high.bytes(), Via::Gossip).first(), Some(Received::New)));
        let award = || {
            let key = mine.listing_key().expect("a listing");
            let (head, view) = s.store.auction(&key).expect("read").expect("an auction");
            let mut then = Followups::default();
            s.award(&head, &view, &mut then).expect("award");
            then.deliver
        };
        assert!(award().is_empty(), "left to the owner");
        let view = s.listing_view(&mine.id().to_hex()).expect("view");
        assert!(view.auction.is_some_and(|a| a.high_blocked), "and said so");
        s.unblock(&key(2).public().to_string()).expect("unblocked");
        assert_eq!(award(), vec![key(2).public()], "accepted once unblocked");
    }

    #[test]
    fn a_full_list_is_a_conflict() {
        let (s, _dir) = service(1);
        for n in 0..MAX_BLOCKED {
            let mut bytes = [7u8; 32];
            bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
            s.store
                .block(PublicKey::from_bytes(bytes), None, haggle_protocol::Timestamp::now())
                .expect("block");
        }
        let full = block(&s, &key(2).public().to_string(), "").expect_err("full");
        assert_eq!(full.code(), ErrorCode::Conflict);
        assert!(full.to_string().contains("1024 keys are blocked already"), "{full}");
    }

    /// Their pledge to the owner's campaign is named as still open (a trial's creator was told
    /// of bids and bookings only, then found the pledge left to it at the deadline); once the
    /// campaign is funded and over, it is named with `decline`.
    #[test]
    fn a_blocked_keys_pledge_to_the_owners_campaign_is_named_open() {
        let (s, _dir) = service(1);
        let deadline =
            haggle_protocol::Timestamp::now().saturating_add(std::time::Duration::from_millis(1_500));
        let mine = sign_now(&key(1), Body::Listing(fixtures::campaign("Oven", 1_000, deadline)));
        assert!(matches!(s.receive(mine.bytes(), Via::Gossip).first(), Some(Received::New)));
        let pledge = sign_now(&key(2), fixtures::pledge(&mine, 1_500));
        assert!(matches!(s.receive(pledge.bytes(), Via::Gossip).first(), Some(Received::New)));
        let running = block(&s, &key(2).public().to_string(), "").expect("blocked");
        let open: Vec<_> = running.open_threads.iter().map(|t| (t.thread, t.ends_with.as_deref())).collect();
        assert_eq!(open, vec![(pledge.id(), Some("their pledge"))]);
        // Bounded wait for the deadline, by the clock, then the campaign's end.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if !s.settle_markets().expect("settled").events.is_empty() {
                break;
            }
            assert!(std::time::Instant::now() < until, "the campaign never ended");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let again = s.block(BlockRequest { who: key(2).public().to_string(), note: None }).expect("again");
        let open: Vec<_> = again.open_threads.iter().map(|t| (t.thread, t.ends_with.as_deref())).collect();
        assert_eq!(open, vec![(pledge.id(), Some("decline"))], "left to the owner");
        // Accepted by hand, it awaits their node's confirm: a deal follows, or it lapses (from
        // a review: it read as a pledge left to the owner).
        s.accept(&pledge.id().to_hex()).expect("accepted");
        let accepted = s.block(BlockRequest { who: key(2).public().to_string(), note: None }).expect("again");
        let open: Vec<_> = accepted.open_threads.iter().map(|t| (t.thread, t.ends_with.as_deref())).collect();
        assert_eq!(open, vec![(pledge.id(), None)]);
    }

    /// Once the owner's auction is over, the high bid of a key the owner blocked awaits the
    /// owner, and says why.
    #[test]
    fn a_blocked_keys_high_bid_awaits_the_owner_once_the_auction_is_over() {
        let (s, _dir) = service(1);
        let now = haggle_protocol::Timestamp::now();
        let ends = now.saturating_add(std::time::Duration::from_millis(1_500));
        let mine = sign_now(&key(1), Body::Listing(fixtures::auction("Clock", 1_000, 100, ends, 0)));
        assert!(matches!(s.receive(mine.bytes(), Via::Gossip).first(), Some(Received::New)));
        let high = sign_now(&key(2), fixtures::bid(&mine, 1_600));
        assert!(matches!(s.receive(high.bytes(), Via::Gossip).first(), Some(Received::New)));
        // Trial: while the auction runs, the block named the bid with `decline`, which a running
        // auction refuses; it names it as a bid that stands until the end.
        let running = block(&s, &key(2).public().to_string(), "").expect("blocked");
        let open: Vec<_> = running.open_threads.iter().map(|t| (t.thread, t.ends_with.as_deref())).collect();
        assert_eq!(open, vec![(high.id(), Some("their bid"))]);
        let thread = |s: &Service| s.thread_view(&high.id().to_hex()).expect("the bid's thread");
        assert_eq!(thread(&s).outcome, None, "running");
        // Bounded wait for the end, by the clock.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while haggle_protocol::Timestamp::now() <= ends && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let over = thread(&s);
        assert_eq!(over.outcome, Some(crate::api::types::PublicOutcome::BidderBlocked));
        assert_eq!(over.awaiting, Some(crate::api::types::Party::Me));
        assert!(over.blocked);
        // Blocking again names the bid as what is still open with them.
        let again = s.block(BlockRequest { who: key(2).public().to_string(), note: None }).expect("again");
        assert!(!again.changed && again.was_blocked);
        let open: Vec<_> = again.open_threads.iter().map(|t| (t.thread, t.ends_with.as_deref())).collect();
        assert_eq!(open, vec![(high.id(), Some("decline"))]);
        s.unblock(&key(2).public().to_string()).expect("unblocked");
        assert_eq!(thread(&s).outcome, None, "nothing left to the owner");
        let (head, view) =
            s.store.auction(&mine.listing_key().expect("a listing")).expect("read").expect("an auction");
        let mut then = Followups::default();
        s.award(&head, &view, &mut then).expect("award");
        assert_eq!(then.deliver, vec![key(2).public()], "the owner's node accepts it by itself again");
    }
}
