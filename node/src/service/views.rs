//! Stored objects as the API shows them (the types are in [`crate::api::types`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use haggle_protocol::{
    Body, Deal, ListingKey, ListingStatus, Object, ObjectId, ObjectKind, Price, PublicKey, Terms, Timestamp,
};
use haggle_storage::{Store, StoreError, ThreadRecord};

use crate::api::types::{
    DealView, ListingState, ListingView, MessageView, Party, PaymentView, PriceView, PublicOutcome, Role,
    SaidView, StepView, TermsView, ThreadView,
};

/// An amount of money as the API shows it, 0 included (a campaign's total, a bid): never "free".
pub(super) fn money(p: &Price) -> PriceView {
    PriceView {
        amount: p.amount,
        currency: p.currency.clone(),
        per: p.per,
        decimals: Some(p.currency.decimals()),
        display: p.to_string(),
    }
}

pub(super) fn price(p: &Price) -> PriceView {
    // Nothing asked reads as "free" whatever the currency (a giveaway's terms use "XXX").
    let display = if p.amount == 0 { "free".to_owned() } else { p.to_string() };
    PriceView {
        amount: p.amount,
        currency: p.currency.clone(),
        per: p.per,
        decimals: Some(p.currency.decimals()),
        display,
    }
}

/// A listing's price as the API shows it: a rental booked on a calendar, priced by the day,
/// is priced by the night in words (`80.00 EUR/night`), since its calendar books nights (a
/// trial's `--per night` read back as `/day`). `per` stays `day`, as the protocol has it.
fn asking_price(p: &Price, l: &haggle_protocol::Listing) -> PriceView {
    let mut view = price(p);
    if l.kind == haggle_protocol::ListingKind::Rental
        && l.calendar().is_some()
        && p.per == Some(haggle_protocol::Period::Day)
        && let Some(amount) = view.display.strip_suffix("/day")
    {
        view.display = format!("{amount}/night");
    }
    view
}

/// Terms as the API shows them; `listing` (the revision they were made on, when held) says
/// what their quantity counts when it is priced per hour, day, week or month.
fn terms(t: &Terms, listing: Option<&Object>) -> TermsView {
    TermsView {
        quantity: t.quantity,
        price: price(&t.price),
        expires_at: t.expires_at.as_millis(),
        dates: t.dates.map(|d| d.to_string()),
        // A booking's nights say what it covers (its quantity is 1).
        unit: listing
            .filter(|_| t.dates.is_none())
            .and_then(Object::listing)
            .and_then(|l| l.price.as_ref()?.per),
    }
}

fn party(author: PublicKey, me: &PublicKey) -> Party {
    if author == *me { Party::Me } else { Party::Them }
}

/// Whether a listing can still be traded, now.
pub(super) fn listing_state(l: &haggle_protocol::Listing) -> ListingState {
    match l.status {
        ListingStatus::Closed => ListingState::Closed,
        ListingStatus::Active if l.expires_at <= Timestamp::now() => ListingState::Expired,
        ListingStatus::Active => ListingState::Active,
    }
}

/// Whether `l`, a revision of listing `key`, is its owner's retraction of a listing that had
/// closed with nothing left (sold out, say): closed with nothing left, as was the revision just
/// before it. A revision before it not held (a node restored from its key alone holds the
/// current one and the ones threads were made on) says nothing.
pub(super) fn retracted_after_sell_out(
    store: &Store,
    key: &ListingKey,
    l: &haggle_protocol::Listing,
) -> Result<bool, StoreError> {
    if l.status != ListingStatus::Closed || l.quantity != 0 {
        return Ok(false);
    }
    let before = store.previous_revision(key)?;
    Ok(before
        .as_ref()
        .and_then(Object::listing)
        .is_some_and(|b| b.revision.checked_add(1) == Some(l.revision) && b.status == ListingStatus::Closed))
}

/// A listing revision with its state as this node sees it. `object` must be a listing.
pub(super) fn listing(store: &Store, object: &Object, me: &PublicKey) -> Result<ListingView, StoreError> {
    let (Some(l), Some(key)) = (object.listing(), object.listing_key()) else {
        return Err(StoreError::Corrupt { what: "listing view of a non-listing" });
    };
    let state = listing_state(l);
    let mine = object.author() == *me;
    let mut view = ListingView {
        id: object.id(),
        replaced_by: None,
        key: key.to_string(),
        author: object.author(),
        mine,
        blocked: store.is_blocked(&object.author()),
        revision: l.revision,
        kind: l.kind,
        state,
        retracted: retracted_after_sell_out(store, &key, l)?,
        status: String::new(),
        title: l.title.clone(),
        description: l.description.clone(),
        category: l.category.clone(),
        tags: l.tags.clone(),
        price: l.price.as_ref().map(|p| asking_price(p, l)),
        quantity: l.quantity,
        // A calendar is booked by nights and a campaign takes every backer: neither counts down
        // (nor does an auction of its one item, settled by its bids, nor what deals leave as
        // it was: a digital good, a service, a rental without a calendar).
        remaining: if mine && l.market.is_none() && !l.deals_leave_quantity() {
            store.remaining_quantity(&key)?
        } else {
            None
        },
        location: l.location.text.clone(),
        geohash: l.location.geohash.clone(),
        payment: l.payment.clone(),
        delivery: l.delivery.clone(),
        created_at: object.created_at().as_millis(),
        expires_at: l.expires_at.as_millis(),
        score: None,
        gossip: None,
        reputation: None,
        auction: super::auctions::info(store, object, me)?.map(Box::new),
        calendar: l.calendar().map(|c| Box::new(super::bookings::view(c))),
        messages: None,
        distance_m: None,
        campaign: super::campaigns::info(store, object, me)?.map(Box::new),
        images: l.images.clone(),
        file: l.file.clone(),
        file_lost: false,
    };
    view.status = view.label().to_owned();
    Ok(view)
}

/// What a list of threads needs to know of their auctions and campaigns, worked out once per
/// listing: each campaign's current pledge by backer (its id and `(created_at, id)` order), and
/// where each auction or campaign that is over stands.
#[derive(Default)]
pub(super) struct CurrentPledges {
    pledges: HashMap<ListingKey, HashMap<PublicKey, (Timestamp, ObjectId)>>,
    over: HashMap<ListingKey, Option<Over>>,
    /// By auction, what its answered bids say (read when a thread first needs it).
    answers: HashMap<ListingKey, super::auctions::Answers>,
    /// By listing on offer, how many its author can still promise, and whether deals and
    /// promises take from its quantity (read when a thread first needs it).
    left: HashMap<ListingKey, Option<(u32, bool)>>,
}

/// An auction or campaign whose end has passed, or that its owner closed.
#[derive(Clone, Copy)]
enum Over {
    Auction {
        leader: Option<ObjectId>,
        reserve_met: bool,
        /// On the owner's node, once the high bid fell through: the bid it may still take.
        next: Option<ObjectId>,
        /// The auction is the owner's.
        owner: bool,
    },
    Campaign {
        funded: bool,
    },
    /// Closed by its owner's node: an auction sold (quantity 0) or a listing retracted.
    Closed {
        sold: bool,
    },
}

/// How an auction or campaign whose current revision is `head` stands for its open threads:
/// closed (its owner's node signed the last word), or over by this node's clock, or neither.
fn over_of(head: &Object, ended: Option<Over>) -> Option<Over> {
    match head.listing() {
        // Closed by its creator's node after the deadline with nothing left: short of its goal
        // by that node's count, whatever this node counts.
        Some(_) if super::campaigns::closed_short(head) => Some(Over::Campaign { funded: false }),
        Some(l) if l.status == ListingStatus::Closed => {
            Some(Over::Closed { sold: l.quantity == 0 && l.kind == haggle_protocol::ListingKind::Auction })
        }
        _ => ended,
    }
}

impl CurrentPledges {
    /// How `t`, a bid or pledge still open, came out, if its auction or campaign is over: a bid
    /// that is not the high one was outbid; the high bid under the reserve sold nothing; the
    /// pledges of a campaign short of its goal are owed nothing. The high bid over the reserve
    /// and the pledges of a funded campaign await their Accept (the owner's node sends it).
    fn outcome(
        &mut self,
        store: &Store,
        t: &ThreadRecord,
        me: &PublicKey,
    ) -> Result<Option<PublicOutcome>, StoreError> {
        let Some(key) = t.listing.as_ref().and_then(Object::listing_key) else { return Ok(None) };
        // A pledge the creator's node accepted, counting the campaign funded, that this node
        // counts short (a withdrawal or a lowered pledge reached the creator's node only after
        // the deadline): its backer's node never confirms it, and the view says why.
        let accepted_pledge =
            t.offer.kind() == ObjectKind::Pledge && t.view.state == haggle_protocol::ThreadState::Confirming;
        if !matches!(t.offer.kind(), ObjectKind::Bid | ObjectKind::Pledge)
            || (t.view.state != haggle_protocol::ThreadState::Open && !accepted_pledge)
        {
            return Ok(None);
        }
        let over = match self.over.entry(key) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let now = Timestamp::now();
                let over = match t.offer.kind() {
                    ObjectKind::Bid => match store.auction(&key)? {
                        Some((head, v)) => {
                            let owner = head.author() == *me && v.is_over(now);
                            let next = match owner {
                                true => super::auctions::next_bid(store, &key, &v, now)?.map(|b| b.id),
                                false => None,
                            };
                            let ended = v.is_over(now).then(|| Over::Auction {
                                leader: v.leader().map(|b| b.id),
                                reserve_met: v.reserve_met(),
                                next,
                                owner,
                            });
                            over_of(&head, ended)
                        }
                        None => None,
                    },
                    _ => store.campaign(&key)?.and_then(|(head, v)| {
                        over_of(&head, v.is_over(now).then(|| Over::Campaign { funded: v.funded() }))
                    }),
                };
                *e.insert(over)
            }
        };
        // An accepted pledge: only its backer's node, counting the campaign short, reads it as
        // missed (the creator's still awaits the confirm; a close after the deadline leaves
        // its deals standing).
        if accepted_pledge {
            return Ok(match over {
                Some(Over::Campaign { funded: false }) if t.view.offerer == *me => {
                    Some(PublicOutcome::GoalMissed)
                }
                _ => None,
            });
        }
        let thread = t.view.thread;
        Ok(match over {
            // The owner's node closes an auction after its deal, and declines the bids it holds;
            // a bid still open here never reached it in time (or the listing was retracted).
            Some(Over::Closed { sold: true }) => Some(PublicOutcome::NotAccepted),
            Some(Over::Closed { sold: false }) => Some(PublicOutcome::Closed),
            // Another bid was accepted (this one is open): the owner's node declines this one
            // once the deal closes the listing.
            Some(Over::Auction { owner: true, .. }) if self.answers(store, key)?.taken => {
                Some(PublicOutcome::NotAccepted)
            }
            Some(Over::Auction { next: Some(next), .. }) if next == thread => Some(PublicOutcome::NextBid),
            // A lower bid of a bidder the seller declined is passed over with it.
            Some(Over::Auction { leader, .. }) if leader != Some(thread) => {
                Some(match self.answers(store, key)?.declined.contains(&t.view.offerer) {
                    true => PublicOutcome::PassedOver,
                    false => PublicOutcome::Outbid,
                })
            }
            Some(Over::Auction { reserve_met: false, .. }) => Some(PublicOutcome::ReserveNotMet),
            Some(Over::Auction { .. })
                if t.view.listing_author == *me && store.is_blocked(&t.view.offerer) =>
            {
                Some(PublicOutcome::BidderBlocked)
            }
            Some(Over::Campaign { funded: false }) => Some(PublicOutcome::GoalMissed),
            Some(Over::Campaign { funded: true })
                if t.view.listing_author == *me && store.is_blocked(&t.view.offerer) =>
            {
                Some(PublicOutcome::BackerBlocked)
            }
            _ => None,
        })
    }

    /// What the answered bids on the auction `key` say, read once per list.
    fn answers(&mut self, store: &Store, key: ListingKey) -> Result<&super::auctions::Answers, StoreError> {
        Ok(match self.answers.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(super::auctions::answers(store, &key)?),
        })
    }

    /// How many the listing has left for `t`'s open terms, when they ask for more: the listing's
    /// quantity, less the deals and the other promises (counters, accepts awaiting a confirm)
    /// this node knows of. Such terms cannot be accepted as they are; the way on is a counter
    /// for fewer, or ending the thread. From a trial: the buyer read "waiting for the other
    /// party" and the seller "your move: accept" on an offer for 3 when 1 was left.
    fn short(&mut self, store: &Store, t: &ThreadRecord) -> Result<Option<u32>, StoreError> {
        let v = &t.view;
        let open =
            matches!(v.state, haggle_protocol::ThreadState::Open | haggle_protocol::ThreadState::Countered);
        if t.offer.kind() != ObjectKind::Offer || !open || v.terms.dates.is_some() {
            return Ok(None);
        }
        let Some(key) = t.listing.as_ref().and_then(Object::listing_key) else { return Ok(None) };
        let left = match self.left.entry(key) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                // What counts down: a listing on offer whose deals use up its quantity (a closed
                // one's threads are ended by its owner's node; a service's or a digital good's
                // quantity only caps one deal, and promises do not take from it).
                let head = store.listing(&key)?;
                let counts = head
                    .as_ref()
                    .and_then(Object::listing)
                    .map(|l| (l.status != ListingStatus::Closed, !l.quantity_never_used_up()));
                let left = match counts {
                    Some((true, counts_down)) => store.remaining_quantity(&key)?.map(|n| (n, counts_down)),
                    _ => None,
                };
                *e.insert(left)
            }
        };
        let Some((left, counts_down)) = left else { return Ok(None) };
        // The author's own counter here is counted among the promises: it is these terms.
        let own =
            counts_down && v.state == haggle_protocol::ThreadState::Countered && v.proposer == key.author;
        let left = left.saturating_add(if own { v.terms.quantity } else { 0 });
        Ok((v.terms.quantity > left).then_some(left))
    }

    /// The pledge that replaced `t`'s, if `t` is an open pledge some later pledge of its backer
    /// replaced.
    fn replacing(&mut self, store: &Store, t: &ThreadRecord) -> Result<Option<ObjectId>, StoreError> {
        let Some(listing) = t.listing.as_ref() else { return Ok(None) };
        let Some(key) = listing.listing_key() else { return Ok(None) };
        if t.offer.kind() != ObjectKind::Pledge || t.view.state.is_final() {
            return Ok(None);
        }
        let current = match self.pledges.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                // The campaign's current revision when held (any revision carries its rules).
                let head = store.listing(&key)?;
                let held = store.public_offers_on(&key)?;
                let backings = haggle_protocol::crowdfund::current_pledges(
                    head.as_ref().unwrap_or(listing),
                    held.iter(),
                );
                e.insert(backings.into_iter().map(|b| (b.backer, (b.created_at, b.id))).collect())
            }
        };
        // Replaced only by a later pledge (the order the campaign counts them in).
        let this = (t.offer.created_at(), t.offer.id());
        Ok(current.get(&t.offer.author()).filter(|later| **later > this).map(|(_, id)| *id))
    }
}

/// A negotiation thread from `me`'s side, with every message and its delivery state.
pub(super) fn thread(store: &Store, t: &ThreadRecord, me: &PublicKey) -> Result<ThreadView, StoreError> {
    thread_with(store, t, me, &mut CurrentPledges::default())
}

/// [`thread`], sharing the campaigns' current pledges across a list of threads.
pub(super) fn thread_with(
    store: &Store,
    t: &ThreadRecord,
    me: &PublicKey,
    pledges: &mut CurrentPledges,
) -> Result<ThreadView, StoreError> {
    let v = &t.view;
    let replaced_by = pledges.replacing(store, t)?;
    // A pledge of 0 withdraws the backer's pledge: there is nothing to accept.
    let withdrawal = t.offer.kind() == ObjectKind::Pledge && v.terms.price.amount == 0;
    // A blocked backer's pledge it replaced, or its withdrawal, is nothing to accept either (a
    // review found them left to the owner as if current).
    let outcome = pledges
        .outcome(store, t, me)?
        .filter(|o| *o != PublicOutcome::BackerBlocked || (replaced_by.is_none() && !withdrawal));
    let now = Timestamp::now();
    let entry = |m: &Object| -> Result<_, StoreError> {
        let mut entry = if m.author() == *me { store.outbox_entry(&m.id())? } else { None };
        // An offer whose terms lapsed while it waited reads as the outbox's next pass records
        // it: not "queued" for the seconds until then.
        if let Some(e) = entry.as_mut()
            && e.state.is_pending()
            && super::lapses_unsent(m, now)
        {
            e.state = haggle_storage::DeliveryState::Lapsed;
        }
        Ok(entry)
    };
    let mut messages = Vec::with_capacity(t.messages.len());
    for m in &t.messages {
        let text = note_of(m.body()).to_owned();
        // The listing author's node ends its threads by itself; the other party's words are
        // theirs, whatever they say.
        let automatic = matches!(m.body(), Body::Decline(_) | Body::Withdraw(_))
            && m.author() == v.listing_author
            && super::endings::is_automatic_note(&text);
        let outbox = entry(m)?;
        messages.push(MessageView {
            id: m.id(),
            kind: m.kind(),
            from: party(m.author(), me),
            created_at: m.created_at().as_millis(),
            message: text,
            terms: m.body().terms().map(|m| terms(m, t.listing.as_ref())),
            on_chain: v.chain.contains(&m.id()),
            delivery: outbox.as_ref().map(|e| e.state),
            delivered_at: outbox
                .as_ref()
                .filter(|e| e.state == haggle_storage::DeliveryState::Delivered)
                .and_then(|e| e.last_attempt)
                .map(Timestamp::as_millis),
            sealed: outbox.as_ref().is_some_and(haggle_storage::OutboxEntry::travels_sealed),
            delivery_error: outbox.and_then(undelivered_why),
            automatic,
        });
    }
    // The owner's latest message's delivery, read once above.
    let my_last = messages.iter().rev().find(|m| m.from == Party::Me).and_then(|m| m.delivery);
    let author = v.listing_author == *me;
    // The owner's offer that opened the thread, refused for good by the other party's node: it
    // holds nothing of the thread.
    let refused = store.offer_refused(&t.offer)?.is_some();
    // An Accept that reached the proposer's node after its terms lapsed is never confirmed
    // there (by its own clock): it is over now, though the thread reads `confirming` everywhere
    // until the clock grace passes, for a proposer whose clock runs behind.
    let lapsed = v.state == haggle_protocol::ThreadState::Confirming
        && v.proposer == *me
        && !haggle_protocol::thread::may_confirm(v, me, Timestamp::now());
    let state = if lapsed { haggle_protocol::ThreadState::Expired } else { v.state };
    let nights_unavailable = nights_unavailable(store, t, me)?;
    let nights_promised = match nights_unavailable {
        None if v.listing_author == *me => nights_promised(store, t)?,
        _ => None,
    };
    let quantity_left = if refused { None } else { pledges.short(store, t)? };
    // An offer of the owner's that ended without a deal, on a listing still on offer: how to go
    // on (a trial's expired thread showed no next step; only a refused accept said it).
    let again = match state {
        haggle_protocol::ThreadState::Expired
        | haggle_protocol::ThreadState::Withdrawn
        | haggle_protocol::ThreadState::Declined
            if t.offer.kind() == ObjectKind::Offer && v.offerer == *me =>
        {
            // Named by its current revision, as `haggle offers` and `haggle listings` name it.
            on_offer(store, t)?.map(|current| super::negotiate::start_anew_on(t, current.fmt_short()).1)
        }
        _ => None,
    };
    let (notes, notes_unread) = notes_about(store, v.thread, [v.offerer, v.listing_author], me)?;
    // The listing's current revision, read once: what changed since the offer, and its currency.
    let current = match &t.listing {
        Some(l) => current_revision(store, l)?,
        None => None,
    };
    Ok(ThreadView {
        notes,
        notes_unread,
        deadline: t
            .listing
            .as_ref()
            .and_then(Object::listing)
            .and_then(|l| l.campaign())
            .filter(|_| t.offer.kind() == ObjectKind::Pledge)
            .map(|c| c.deadline.as_millis()),
        thread: v.thread,
        opening: t.offer.kind(),
        // The revision the offer names, also once this node no longer holds it (swept).
        listing: t.listing.as_ref().map(Object::id).or_else(|| t.offer.body().opening().map(|o| o.listing)),
        current_listing: match &t.listing {
            Some(l) => current_listing(store, l)?,
            None => None,
        },
        listing_changed: match &t.listing {
            Some(l) => owned(changed_since(current.as_ref(), l)),
            None => Vec::new(),
        },
        listing_title: t.listing.as_ref().and_then(|l| l.listing()).map(|l| l.title.clone()),
        listing_kind: t.listing.as_ref().and_then(|l| l.listing()).map(|l| l.kind),
        role: if author { Role::ListingAuthor } else { Role::Offerer },
        counterparty: if author { v.offerer } else { v.listing_author },
        blocked: store.is_blocked(if author { &v.offerer } else { &v.listing_author }),
        refused,
        state,
        terms: terms(&v.terms, t.listing.as_ref()),
        proposed_by: party(v.proposer, me),
        // The seller may still accept a high bid under the reserve by hand.
        awaiting: if matches!(
            outcome,
            Some(
                PublicOutcome::ReserveNotMet
                    | PublicOutcome::BidderBlocked
                    | PublicOutcome::BackerBlocked
                    | PublicOutcome::NextBid
            )
        ) && author
        {
            Some(Party::Me)
        } else if state.is_final() || replaced_by.is_some() || withdrawal || outcome.is_some() || refused {
            None
        } else if v.state == haggle_protocol::ThreadState::Confirming {
            // The proposer's node confirms the Accept.
            Some(party(v.proposer, me))
        } else if matches!(t.offer.kind(), ObjectKind::Bid | ObjectKind::Pledge) {
            // Nobody's move: the seller's or creator's node answers at the end, by itself (from
            // a trial: the seller read its move during the auction, and every move was refused).
            None
        } else if v.proposer == *me {
            // Terms for more than is left, or for nights gone, cannot be accepted either: the
            // other party may counter for fewer or other nights, or decline; the proposer waits
            // for that, or withdraws (a trial read "your move" on both sides).
            Some(Party::Them)
        } else {
            Some(Party::Me)
        },
        delivery: my_last,
        // A deal's id is its Accept's id: the head of an accepted thread.
        deal: v.deal_id(),
        deal_cancelled: match v.deal_id() {
            Some(deal) => store.is_cancelled(&deal)?,
            None => false,
        },
        messages,
        updated_at: t.messages.iter().map(|m| m.created_at().as_millis()).max(),
        replaced_by,
        outcome,
        nights_unavailable,
        nights_promised,
        quantity_left,
        listing_currency: t
            .listing
            .as_ref()
            .and_then(|l| asked_currency(current.as_ref(), l))
            .filter(|asked| *asked != v.terms.price.currency && v.terms.price.amount > 0),
        again,
    })
}

/// The note a negotiation message carries ("" for one that carries none).
fn note_of(body: &Body) -> &str {
    match body {
        Body::Offer(o) | Body::Bid(o) | Body::Pledge(o) => &o.message,
        Body::Counter(c) => &c.message,
        Body::Decline(d) => &d.message,
        Body::Withdraw(w) => &w.message,
        _ => "",
    }
}

/// The notes the parties wrote with their terms in the chain of deal `d`, oldest first.
fn said(d: &Deal, me: &PublicKey) -> Vec<SaidView> {
    d.chain()
        .iter()
        .filter(|o| !note_of(o.body()).is_empty())
        .map(|o| SaidView {
            by: party(o.author(), me),
            kind: o.kind(),
            at: o.created_at().as_millis(),
            terms: o.body().terms().map(|t| terms(t, Some(d.listing()))),
            message: note_of(o.body()).to_owned(),
        })
        .collect()
}

/// The current revision of the listing `t` was offered on, if it is still on offer: active
/// and unexpired.
fn on_offer(store: &Store, t: &ThreadRecord) -> Result<Option<ObjectId>, StoreError> {
    let Some(key) = t.listing.as_ref().and_then(Object::listing_key) else { return Ok(None) };
    let current = store.listing(&key)?;
    Ok(current.filter(|c| super::endings::ending_of(c, Timestamp::now()).is_none()).map(|c| c.id()))
}

/// Why the nights `t`'s open terms ask for can no longer be accepted, if they cannot: the
/// listing's calendar (the current revision this node holds) does not take them. Nights the
/// owner offered in the thread (a special stay) are the owner's choice and are checked only
/// against the nights booked.
pub(super) fn nights_unavailable(
    store: &Store,
    t: &ThreadRecord,
    me: &PublicKey,
) -> Result<Option<String>, StoreError> {
    let v = &t.view;
    let Some(dates) = v.terms.dates else { return Ok(None) };
    if v.state.is_final() || v.state == haggle_protocol::ThreadState::Confirming {
        return Ok(None);
    }
    let Some(key) = t.listing.as_ref().and_then(Object::listing_key) else { return Ok(None) };
    let current = store.listing(&key)?;
    let Some(calendar) = current.as_ref().and_then(|c| c.listing()).and_then(|l| l.calendar()) else {
        return Ok(None);
    };
    if super::bookings::not_past(&dates, haggle_protocol::Timestamp::now()).is_err() {
        return Ok(Some(format!("{dates} has begun: nights in the past cannot be booked")));
    }
    let Some(refused) = super::bookings::refusal(calendar, t, &key.author, &dates) else { return Ok(None) };
    let haggle_protocol::BookingError::Taken { asked, taken, .. } = refused else {
        return Ok(Some(refused.to_string()));
    };
    // The deal that took the nights, by its own dates: the calendar merges bookings that touch
    // (a trial's request was told it overlapped three guests' stays as one), and one may be
    // the asker's own (a trial's guest was told its own booking was someone else's).
    // Read from the deal index; only the deal found is read whole, for its guest.
    if let Some((booked, id)) = store.bookings_on(&key)?.into_iter().find(|(b, _)| b.overlaps(&asked)) {
        let whose = match store.deal(&id)?.map(|d| d.buyer()) {
            Some(buyer) if buyer == *me => " by your own booking",
            Some(buyer) if buyer == t.view.offerer => " by this guest's other booking",
            _ => "",
        };
        return Ok(Some(format!(
            "{asked} overlaps {booked}, booked meanwhile{whose}: deal {}",
            id.fmt_short()
        )));
    }
    Ok(Some(format!("{asked} overlaps {taken}, booked meanwhile")))
}

/// On the listing owner's node: the owner's promise in another thread that holds nights `t`'s
/// open terms ask for, if one does, said with how they come free.
fn nights_promised(store: &Store, t: &ThreadRecord) -> Result<Option<String>, StoreError> {
    let v = &t.view;
    let Some(dates) = v.terms.dates else { return Ok(None) };
    if v.state.is_final() || v.state == haggle_protocol::ThreadState::Confirming {
        return Ok(None);
    }
    let Some(key) = t.listing.as_ref().and_then(Object::listing_key) else { return Ok(None) };
    for (range, holder) in store.date_holders(&key, Some(v.thread))? {
        // A deal's nights are `nights_unavailable`'s.
        let Some(holder) = holder.filter(|_| range.overlaps(&dates)) else { continue };
        let thread = holder.thread.fmt_short();
        let held = match holder.counter {
            true => {
                format!("your counter-offer in thread {thread} holds (haggle withdraw {thread} frees them)")
            }
            false => {
                format!("your accept in thread {thread} holds until its confirm comes or it lapses")
            }
        };
        return Ok(Some(format!("{dates} overlaps {range}, which {held}")));
    }
    Ok(None)
}

/// Why the owner's message or step in `entry` is not delivered: the last try's error, none once
/// delivered.
fn undelivered_why(entry: haggle_storage::OutboxEntry) -> Option<String> {
    (entry.state != haggle_storage::DeliveryState::Delivered).then_some(entry.last_error?)
}

/// A deal, with its full signed encoding for offline verification, and its steps since.
pub(super) fn deal(store: &Store, d: &Deal, me: &PublicKey) -> Result<DealView, StoreError> {
    use haggle_protocol::lifecycle::{DealState, Role as Side, Step};
    let steps = store.deal_steps(&d.id())?;
    let signed: Vec<_> =
        steps.iter().filter_map(|o| haggle_storage::signed_step(d, o).map(|s| (o, s))).collect();
    let state = DealState::fold(d.made_at(), signed.iter().map(|(_, s)| s));
    let my_side = if *me == d.seller() { Side::Seller } else { Side::Buyer };
    let party = |side: Side| if side == my_side { Party::Me } else { Party::Them };
    let details = |step: &Step| match step {
        Step::PaymentRequest(m) => Some(payment(m).details),
        Step::Paid { reference: t, .. } | Step::Shipped(t) => t.clone(),
        Step::Dispute(reason) => Some(reason.clone()),
        Step::Received | Step::Cancel => None,
        Step::FileKey(_) => Some("the key to the file, sealed to the buyer".to_owned()),
    };
    // A deal called off counts nothing signed after its last cancel, nor a `received`.
    let called_off = (state.stage() == haggle_protocol::Stage::Cancelled)
        .then(|| signed.iter().filter(|(_, s)| matches!(s.step, Step::Cancel)).map(|(_, s)| s.at).max())
        .flatten();
    // Called off by the seller alone, unpaid: no `paid` or `received` counts, whenever dated.
    let unpaid = state.called_off_unpaid();
    let mut timeline = Vec::with_capacity(signed.len());
    for (o, s) in &signed {
        let void = called_off.is_some_and(|last| {
            !matches!(s.step, Step::Cancel)
                && (matches!(s.step, Step::Received)
                    || s.at > last
                    || (unpaid && matches!(s.step, Step::Paid { .. })))
        });
        let by = party(s.by);
        let outbox = match by {
            Party::Me => store.outbox_entry(&o.id())?,
            Party::Them => None,
        };
        let delivery = outbox.as_ref().map(|e| e.state);
        let delivery_error = outbox.and_then(undelivered_why);
        let superseded = match &s.step {
            Step::PaymentRequest(m) => state.payment.as_ref().is_none_or(|(now, at)| (now, *at) != (m, s.at)),
            _ => false,
        };
        timeline.push(StepView {
            id: o.id(),
            by,
            step: s.step.name().to_owned(),
            details: details(&s.step),
            at: s.at.as_millis(),
            delivery,
            delivery_error,
            superseded,
            void,
        });
    }
    let (notes, notes_unread) = notes_about(store, d.offer().id(), [d.offerer(), d.listing_author()], me)?;
    Ok(DealView {
        notes,
        notes_unread,
        stage: state.stage().name().to_owned(),
        // A digital good's key goes out when the buyer says it paid, cash or not: the buyer
        // moves first there.
        waiting_on: match state.stage() {
            haggle_protocol::Stage::PaymentRequested
                if d.listing().listing().is_some_and(|l| l.file.is_some()) =>
            {
                Some(party(haggle_protocol::Role::Buyer))
            }
            _ => state.waiting_on().map(party),
        },
        payment: state.payment.as_ref().map(|(m, _)| payment(m)),
        disputed: state.disputed(),
        cancel_asked_by: state.cancel_asked_by().map(party),
        stale: state.is_stale(Timestamp::now()),
        pay_by: state.pay_by().map(Timestamp::as_millis),
        payment_disputed_until: state.disputed_payment_until().map(Timestamp::as_millis),
        called_off_unpaid: state.called_off_unpaid(),
        called_off_disputed: state.called_off_disputed(),
        received_unpaid: state.received_unpaid(),
        steps_missing: super::deal_steps::lacks_steps(store, d, &state, &steps)?,
        timeline,
        file: d.listing().listing().and_then(|l| l.file.clone()),
        file_key: state.file_key.is_some(),
        current_listing: current_listing(store, d.listing())?,
        listing_changed: owned(listing_changed(store, d.listing())?),
        you_are: [(d.seller(), "seller"), (d.buyer(), "buyer")]
            .into_iter()
            .find(|(key, _)| key == me)
            .map(|(_, side)| side.to_owned()),
        blocked: store.is_blocked(&if *me == d.seller() { d.buyer() } else { d.seller() }),
        reward: reward(store, d)?,
        said: said(d, me),
        ..deal_record(d)
    })
}

/// The reward tier a pledge's deal earned: the pledge's tier in the campaign's count of the
/// current pledges (limited rewards go to pledges in the order they were made).
fn reward(store: &Store, d: &Deal) -> Result<Option<String>, StoreError> {
    let listing = d.listing();
    let Some(key) = listing
        .listing_key()
        .filter(|_| listing.listing().is_some_and(|l| l.kind == haggle_protocol::ListingKind::Crowdfund))
    else {
        return Ok(None);
    };
    let pledges = store.public_offers_on(&key)?;
    let Some(view) = haggle_protocol::CampaignView::new(listing, pledges.iter()) else { return Ok(None) };
    let pledge = d.offer().id();
    Ok(view
        .backings
        .iter()
        .find(|b| b.id == pledge)
        .and_then(|b| b.tier)
        .and_then(|t| view.campaign.tiers.get(t))
        .map(|t| t.name.clone()))
}

/// The current revision of `revision`'s listing, if this node holds one other than it.
fn current_listing(store: &Store, revision: &Object) -> Result<Option<ObjectId>, StoreError> {
    let Some(key) = revision.listing_key() else { return Ok(None) };
    Ok(store.listing_head_id(&key)?.filter(|id| *id != revision.id()))
}

/// The current revision held here of `revision`'s listing.
fn current_revision(store: &Store, revision: &Object) -> Result<Option<Object>, StoreError> {
    match revision.listing_key() {
        Some(key) => store.listing(&key),
        None => Ok(None),
    }
}

/// What changed between `revision` and its listing's current revision held here (see
/// `Listing::changes_since`).
pub(super) fn listing_changed(store: &Store, revision: &Object) -> Result<Vec<&'static str>, StoreError> {
    Ok(changed_since(current_revision(store, revision)?.as_ref(), revision))
}

/// What changed between `revision` and `current`, its listing's current revision.
fn changed_since(current: Option<&Object>, revision: &Object) -> Vec<&'static str> {
    let (Some(current), Some(then)) = (current, revision.listing()) else { return Vec::new() };
    match current.listing() {
        Some(now) if current.id() != revision.id() => now.changes_since(then),
        _ => Vec::new(),
    }
}

/// The currency `revision`'s listing asks its price in: in `current`, its current revision held
/// here (from a trial: a seller who moved a listing from GBP to EUR accepted an offer in GBP
/// with nothing said), else in `revision`.
fn asked_currency(current: Option<&Object>, revision: &Object) -> Option<haggle_protocol::Currency> {
    let listing = current.and_then(Object::listing).or_else(|| revision.listing());
    listing.and_then(|l| l.price.as_ref()).map(|p| p.currency.clone())
}

fn owned(names: Vec<&'static str>) -> Vec<String> {
    names.into_iter().map(str::to_owned).collect()
}

/// A payment method as text.
fn payment(m: &haggle_protocol::PaymentMethod) -> PaymentView {
    use haggle_protocol::PaymentMethod as M;
    let details = match m {
        M::Bitcoin(uri) => uri.clone(),
        M::Lightning(invoice) => invoice.clone(),
        M::Iban { iban, reference } if reference.is_empty() => iban.clone(),
        M::Iban { iban, reference } => format!("{iban}, reference \"{reference}\""),
        // Also for a digital good, which nobody picks up (a trial read "cash on pickup" for an
        // e-book).
        M::Cash => "cash, in person".to_owned(),
        M::Other(text) => text.clone(),
    };
    let (iban, reference) = match m {
        M::Iban { iban, reference } => {
            (Some(iban.clone()), Some(reference.clone()).filter(|r| !r.is_empty()))
        }
        _ => (None, None),
    };
    PaymentView { method: m.name().to_owned(), details, iban, reference }
}

/// The messages about `thread` between its two parties, and the other party's unread among them.
fn notes_about(
    store: &Store,
    thread: ObjectId,
    [a, b]: [PublicKey; 2],
    me: &PublicKey,
) -> Result<(usize, usize), StoreError> {
    let about = haggle_protocol::About::Thread(thread);
    Ok(match store.conversation(&haggle_protocol::Conversation::new(about, a, b))? {
        Some(c) => (c.notes.len(), c.unread(me)),
        None => (0, 0),
    })
}

/// A deal's signed record, before any step.
fn deal_record(d: &Deal) -> DealView {
    DealView {
        notes: 0,
        notes_unread: 0,
        id: d.id(),
        thread: d.offer().id(),
        listing: d.listing().id(),
        current_listing: None,
        listing_changed: Vec::new(),
        you_are: None,
        blocked: false,
        title: d.listing().listing().map(|l| l.title.clone()),
        listing_kind: d.listing().listing().map(|l| l.kind),
        seller: d.seller(),
        buyer: d.buyer(),
        terms: terms(d.terms(), Some(d.listing())),
        made_at: d.made_at().as_millis(),
        signed: data_encoding::HEXLOWER.encode(&d.encode()),
        stage: "agreed".to_owned(),
        waiting_on: None,
        payment: None,
        disputed: false,
        cancel_asked_by: None,
        stale: false,
        pay_by: None,
        payment_disputed_until: None,
        called_off_unpaid: false,
        called_off_disputed: false,
        received_unpaid: false,
        steps_missing: false,
        timeline: Vec::new(),
        feedback: Vec::new(),
        may_rate: false,
        file: None,
        file_key: false,
        reward: None,
        said: Vec::new(),
    }
}
