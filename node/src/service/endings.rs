//! When a listing stops being on offer (retracted, sold out, expired), every open thread on it
//! ends, and the other side is told: the listing's author withdraws its own terms on the table
//! and declines the other party's. No deal can form on such a thread afterwards (a reply that
//! crossed one of these messages in flight is settled by the protocol's crossing rule), except
//! one the owner already accepted: that Accept stands until the other party's node confirms it
//! or the terms expire.

use haggle_protocol::{
    Body, Decline, Listing, ListingKind, ListingStatus, Object, ObjectId, Reply, ThreadState, Timestamp,
    Withdraw,
};
use haggle_storage::ThreadRecord;

use super::{Conflict, Followups, Service, ServiceError};

/// Threads one ending tells at most. Anyone can open threads on a listing (keys cost nothing), so
/// every ending costs the author a signed message and its delivery per thread; past this many,
/// the others learn it from the listing's tombstone (and their own node then refuses to accept).
const MAX_ENDINGS: usize = 64;

/// How long after a listing's expiry the sweep still tries to end its threads.
const RETRY_EXPIRED: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// Why a listing's threads end; the note the other party reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// The author retracted the listing.
    Retracted,
    /// The last of it went in a deal.
    SoldOut,
    /// It expired without being renewed.
    Expired,
    /// A campaign closed at its deadline short of its goal.
    GoalMissed,
}

impl Ending {
    /// `to_winner`: the thread's other party made the deal, in another thread (a winning
    /// bidder's earlier, lower bids).
    fn note(self, kind: ListingKind, to_winner: bool) -> &'static str {
        match (self, kind) {
            (Ending::Retracted, _) => "The listing was retracted.",
            (Ending::SoldOut, ListingKind::Wanted) => "Found what I wanted, thanks.",
            (Ending::SoldOut, ListingKind::Auction) if to_winner => {
                "The auction ended: a later bid of yours won."
            }
            (Ending::SoldOut, ListingKind::Auction) => {
                "The auction ended: the seller sold it to another bid."
            }
            (Ending::SoldOut, ListingKind::Giveaway) => "Given to someone else, sorry.",
            (Ending::SoldOut, _) => "Sold out, sorry.",
            (Ending::Expired, _) => "The listing expired.",
            (Ending::GoalMissed, _) => "The campaign missed its goal: nothing is owed.",
        }
    }
}

/// Whether `note` is one the node signs by itself when one of the owner's listings closes.
pub(super) fn is_automatic_note(note: &str) -> bool {
    let endings = [Ending::Retracted, Ending::SoldOut, Ending::Expired, Ending::GoalMissed];
    endings.iter().any(|e| {
        ListingKind::ALL.iter().any(|k| [false, true].iter().any(|to_winner| e.note(*k, *to_winner) == note))
    })
}

impl Service {
    /// Ends every open thread on `listing` (one of the owner's), signing a Withdraw of the
    /// owner's terms or a Decline of the other party's in each, queued for delivery. Never fails
    /// the action that closed the listing: a thread that cannot be ended now (its store write
    /// failed, or it is full) is logged and left for the next sweep, which ends the threads of
    /// every closed or expired listing of the owner's. Takes the revision lock: never call it
    /// holding that lock.
    pub(super) fn end_threads(&self, listing: &Object, ending: Ending, then: &mut Followups) {
        let me = self.me();
        let Some(key) = listing.listing_key().filter(|k| k.author == me) else { return };
        // One ending at a time, the threads read under the lock: the start-up sweep and the
        // market tick can both find a listing just expired, and each signed its own Decline of
        // the same terms (the second then read "crossed, not counted").
        let _one_at_a_time = self.revising();
        // The caller read `listing` before taking the lock; the owner may have renewed or
        // reopened it since. Only the listing's current revision says whether it is closed.
        let current = match self.store.listing(&key) {
            Ok(Some(current)) => current,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a closed listing's current revision");
                return;
            }
        };
        let ending = if current.id() == listing.id() {
            ending
        } else {
            match ending_of(&current, Timestamp::now()) {
                Some(ending) => ending,
                None => return,
            }
        };
        let Some(l) = current.listing() else { return };
        let threads = match self.store.threads_on(&key) {
            Ok(threads) => threads,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the threads of a closed listing");
                return;
            }
        };
        let now = Timestamp::now();
        // An Accept of the owner's awaiting the other party's Confirm is a promise the owner
        // cannot take back; every other open thread is ended (a Withdraw also beats an Accept of
        // the owner's terms that this node has not confirmed).
        let awaiting_them = |t: &&ThreadRecord| awaiting_their_confirm(t, &me);
        let winners: Vec<_> = threads
            .iter()
            .filter(|t| t.view.state == ThreadState::Accepted || awaiting_them(t))
            .map(|t| t.view.offerer)
            .collect();
        for thread in threads
            .iter()
            .filter(|t| !t.view.state.is_final())
            .filter(|t| !awaiting_them(t))
            .take(MAX_ENDINGS)
        {
            let note = ending.note(l.kind, winners.contains(&thread.view.offerer));
            self.end_one(thread, note, now, then);
        }
    }

    /// Ends one open thread of the owner's: a Withdraw of the owner's terms on the table, or a
    /// Decline of the other party's, signed, stored and queued for delivery. Logs a failure
    /// (the sweep retries). The caller holds the revision lock.
    fn end_one(&self, thread: &ThreadRecord, note: &str, now: Timestamp, then: &mut Followups) {
        let reply =
            Reply { thread: thread.view.thread, prev: thread.view.terms_message(), to: thread.view.offerer };
        let message = note.to_owned();
        let body = if thread.view.proposer == self.me() {
            Body::Withdraw(Withdraw { reply, message })
        } else {
            Body::Decline(Decline { reply, message })
        };
        match self.sign(body, now).and_then(|object| self.ingest_own(&object)) {
            Ok(_) => then.deliver.push(thread.view.offerer),
            Err(e) => {
                tracing::warn!(thread = %thread.view.thread.fmt_short(), error = %e, "cannot end a thread")
            }
        }
    }

    /// Ends the open threads on the owner's listings that are closed or have expired (threads
    /// an earlier ending could not reach, and listings that expired without being renewed).
    pub(super) fn end_stale_threads(&self, now: Timestamp, then: &mut Followups) -> Result<(), ServiceError> {
        for entry in self.store.listings_by(&self.me())? {
            let ending = match ending_of(&entry.object, now) {
                // The market tick ends them as they expire; the sweep retries for a day (the
                // owner's expired listings stay 30 days, and need reading only once).
                Some(Ending::Expired)
                    if entry
                        .object
                        .listing()
                        .is_some_and(|l| now.saturating_sub(RETRY_EXPIRED) >= l.expires_at) =>
                {
                    continue;
                }
                Some(ending) => ending,
                None => continue,
            };
            self.end_threads(&entry.object, ending, then);
        }
        Ok(())
    }

    /// Ends the thread an offer or counter just opened or went on with, if it is on one of the
    /// owner's listings that is no longer on offer: the other party's node held an older
    /// revision, or queued the message while the owner's node was away. Ended at its arrival,
    /// as the listing's other threads were when it closed, not at the next start-up's sweep.
    /// Only this thread: anyone can send offers on a closed listing from fresh keys, and each
    /// costs the owner one thread read and one signed message, not a pass over every thread.
    pub(super) fn end_if_closed(&self, thread: ObjectId, then: &mut Followups) -> Result<(), ServiceError> {
        let me = self.me();
        let Some(record) = self.store.thread(&thread)? else { return Ok(()) };
        if record.view.listing_author != me || record.view.state.is_final() {
            return Ok(());
        }
        let Some(key) = record.listing.as_ref().and_then(Object::listing_key) else { return Ok(()) };
        // Most offers are on listings still on sale: those take no lock.
        let closed = |current: &Object| ending_of(current, Timestamp::now()).is_some();
        if !self.store.listing(&key)?.is_some_and(|c| closed(&c)) {
            return Ok(());
        }
        // Read again under the lock, as `end_threads` does: a renew or an ending in between.
        let _one_at_a_time = self.revising();
        let Some(record) = self.store.thread(&thread)? else { return Ok(()) };
        if record.view.state.is_final() || awaiting_their_confirm(&record, &me) {
            return Ok(());
        }
        let Some(current) = self.store.listing(&key)? else { return Ok(()) };
        let now = Timestamp::now();
        let (Some(ending), Some(l)) = (ending_of(&current, now), current.listing()) else { return Ok(()) };
        // Offers and counters are not bids: no earlier bid of a winner's to tell apart.
        self.end_one(&record, ending.note(l.kind, false), now, then);
        Ok(())
    }

    /// Refuses an answer that would make a deal on a listing that is no longer on offer (as far
    /// as this node knows: the author's node ends such threads and says so).
    pub(super) fn still_on_offer(&self, thread: &ThreadRecord) -> Result<(), ServiceError> {
        // Named by the revision the offer was made on, the one its party saw.
        let offered_on = thread.offer.body().opening().map_or(thread.view.thread, |o| o.listing);
        // The revision the offer was made on is gone only when the listing was swept, expired.
        let Some(key) = thread.listing.as_ref().and_then(Object::listing_key) else {
            return Err(Conflict::ListingExpired(offered_on).into());
        };
        let Some(current) = self.store.listing(&key)? else {
            return Err(Conflict::ListingExpired(offered_on).into());
        };
        match current.listing() {
            Some(l @ Listing { status: ListingStatus::Closed, .. }) => {
                Err(Conflict::closed(l, offered_on).into())
            }
            // Named by its current revision, as `haggle offers` and `haggle show` name it.
            Some(l) if l.expires_at <= Timestamp::now() => Err(Conflict::ListingExpired(current.id()).into()),
            _ => Ok(()),
        }
    }
}

/// Whether `thread` holds an Accept by `me` awaiting the other party's Confirm: a promise the
/// owner cannot take back, left standing by an ending.
fn awaiting_their_confirm(thread: &ThreadRecord, me: &haggle_protocol::PublicKey) -> bool {
    thread.view.state == ThreadState::Confirming && thread.view.proposer != *me
}

/// Why `listing`, a listing's current revision, no longer takes offers, if it does not: a
/// campaign closed short of its goal, sold out, retracted, or expired.
pub(super) fn ending_of(listing: &Object, now: Timestamp) -> Option<Ending> {
    match listing.listing()? {
        _ if super::campaigns::closed_short(listing) => Some(Ending::GoalMissed),
        l if l.status == ListingStatus::Closed && l.quantity == 0 => Some(Ending::SoldOut),
        l if l.status == ListingStatus::Closed => Some(Ending::Retracted),
        l if l.expires_at <= now => Some(Ending::Expired),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haggle_protocol::Verified;

    use crate::api::types::TermsDraft;
    use crate::service::Via;
    use crate::service::testing::{draft, service};

    /// `seller`'s new listing, as `buyer`'s node holds it.
    fn listed(seller: &Service, buyer: &Service, title: &str, price: &str) -> Verified<Object> {
        let listing = seller.publish(draft(title, price)).expect("published").object;
        buyer.receive(listing.bytes(), Via::Gossip);
        listing
    }

    /// `buyer`'s offer of `price` on `listing` (not yet delivered).
    fn offer(buyer: &Service, listing: &Object, price: &str) -> Verified<Object> {
        let terms = TermsDraft { price: Some(price.into()), ..TermsDraft::default() };
        buyer.offer(&listing.id().to_hex(), terms).expect("offered").object
    }

    /// The note of the Decline in `thread` on `svc`.
    fn decline_note(svc: &Service, thread: &ObjectId) -> String {
        let record = svc.store.thread(thread).expect("read").expect("the thread");
        let decline = record.messages.iter().find(|m| m.kind() == haggle_protocol::ObjectKind::Decline);
        let Some(Body::Decline(d)) = decline.map(Object::body) else { panic!("a decline: {record:?}") };
        d.message.clone()
    }

    /// Defect: the start-up sweep and the market tick both ended the threads of a listing that
    /// had just expired, each signing its own Decline of the same terms; the second then read
    /// "crossed, not counted" on both sides. Endings run one at a time, so one Decline is signed.
    #[test]
    fn two_endings_at_once_sign_one_decline() {
        let (seller, _sd) = service(1);
        let (buyer, _bd) = service(2);
        let listing = listed(&seller, &buyer, "bike", "100");
        let offer = offer(&buyer, &listing, "90");
        seller.receive(offer.bytes(), Via::Direct);
        let delivered: Vec<Followups> = std::thread::scope(|s| {
            let ends: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut then = Followups::default();
                        seller.end_threads(&listing, Ending::Expired, &mut then);
                        then
                    })
                })
                .collect();
            ends.into_iter().map(|e| e.join().expect("ended")).collect()
        });
        let record = seller.store.thread(&offer.id()).expect("read").expect("the thread");
        let declines =
            record.messages.iter().filter(|m| m.kind() == haggle_protocol::ObjectKind::Decline).count();
        assert_eq!(declines, 1, "{record:?}");
        assert_eq!(delivered.iter().map(|t| t.deliver.len()).sum::<usize>(), 1, "one message to deliver");
    }

    /// Defect: an offer that reached the owner after the listing was retracted (the buyer's
    /// node held the older revision, or had queued the offer while the owner's node was away)
    /// stayed open on both sides until the owner's next start-up; the owner could neither
    /// accept nor counter it.
    #[test]
    fn an_offer_on_a_listing_closed_meanwhile_is_declined_as_it_arrives() {
        let (seller, _sd) = service(1);
        let (buyer, _bd) = service(2);
        let listing = listed(&seller, &buyer, "clay pot", "10");
        seller.retract(&listing.id().to_hex()).expect("retracted");
        let late = offer(&buyer, &listing, "8");
        let arrived = seller.receive(late.bytes(), Via::Direct);
        assert_eq!(arrived.then.deliver, vec![buyer.me()], "the decline goes to the buyer");
        let record = seller.store.thread(&late.id()).expect("read").expect("the thread");
        assert_eq!(record.view.state, ThreadState::Declined, "{record:?}");
        assert_eq!(decline_note(&seller, &late.id()), "The listing was retracted.");

        // A second late offer ends its own thread only: the first stays as it ended, and an
        // offer on another listing is not touched.
        let other = listed(&seller, &buyer, "jug", "12");
        let waiting = offer(&buyer, &other, "11");
        seller.receive(waiting.bytes(), Via::Direct);
        let again = offer(&buyer, &listing, "7");
        let arrived = seller.receive(again.bytes(), Via::Direct);
        assert_eq!(arrived.then.deliver, vec![buyer.me()], "one decline");
        let first = seller.store.thread(&late.id()).expect("read").expect("the thread");
        assert_eq!(first.messages.len(), record.messages.len(), "the first thread is not ended again");
        let untouched = seller.store.thread(&waiting.id()).expect("read").expect("the thread");
        assert_eq!(untouched.view.state, ThreadState::Open);

        // An offer on a listing still on sale is left to its owner.
        let open = listed(&seller, &buyer, "vase", "20");
        let early = offer(&buyer, &open, "15");
        assert!(seller.receive(early.bytes(), Via::Direct).then.deliver.is_empty());
        let record = seller.store.thread(&early.id()).expect("read").expect("the thread");
        assert_eq!(record.view.state, ThreadState::Open);
    }

    /// Defect: an ending read the listing before taking the revision lock; an owner who
    /// renewed it in between had its renewed listing's offers declined as expired.
    #[test]
    fn a_listing_renewed_before_its_ending_runs_keeps_its_threads() {
        let (seller, _sd) = service(1);
        let (buyer, _bd) = service(2);
        let listing = listed(&seller, &buyer, "oak table", "120");
        let offer = offer(&buyer, &listing, "100");
        seller.receive(offer.bytes(), Via::Direct);
        // The market tick found revision 1 lapsed; the owner renews before its ending runs.
        seller.renew(&listing.id().to_hex(), None).expect("renewed");
        let mut then = Followups::default();
        seller.end_threads(&listing, Ending::Expired, &mut then);
        assert!(then.deliver.is_empty(), "nothing to tell: {then:?}");
        let record = seller.store.thread(&offer.id()).expect("read").expect("the thread");
        assert_eq!(record.view.state, ThreadState::Open, "{record:?}");

        // Retracted in between instead: ended, and told as retracted, not as expired.
        let retracted = seller.retract(&listing.id().to_hex()).expect("retracted");
        let record = seller.store.thread(&offer.id()).expect("read").expect("the thread");
        assert_eq!(record.view.state, ThreadState::Declined, "{record:?}");
        assert_eq!(decline_note(&seller, &offer.id()), "The listing was retracted.");
        assert_eq!(retracted.then.deliver, vec![buyer.me()]);
        let mut then = Followups::default();
        seller.end_threads(&listing, Ending::Expired, &mut then);
        assert!(then.deliver.is_empty(), "ended once: {then:?}");
    }

    /// Defect: a buyer whose accept awaited the seller's confirm was told to decline instead
    /// of withdrawing, and then, declining, that it had accepted.
    #[test]
    fn an_accept_awaiting_its_confirm_is_not_taken_back_either_way() {
        let (seller, _sd) = service(1);
        let (buyer, _bd) = service(2);
        let listing = listed(&seller, &buyer, "wool hat", "25");
        let offer = offer(&buyer, &listing, "15");
        seller.receive(offer.bytes(), Via::Direct);
        let terms = TermsDraft { price: Some("20".into()), ..TermsDraft::default() };
        let counter = seller.counter(&offer.id().to_hex(), terms).expect("countered").object;
        buyer.receive(counter.bytes(), Via::Direct);
        buyer.accept(&offer.id().to_hex()).expect("accepted");
        let thread = offer.id().to_hex();
        for refused in [buyer.withdraw(&thread, String::new()), buyer.decline(&thread, String::new())] {
            let e = refused.expect_err("refused").to_string();
            assert!(e.contains("an accept is not taken back"), "{e}");
        }
    }
}
