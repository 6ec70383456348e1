//! Thread rules: which replies are valid, and what state a thread is in.
//!
//! A thread starts with an Offer to a listing's author. Every reply names the thread and the
//! message it answers (`prev`), which must be an Offer or Counter (terms):
//! - Counter, Accept and Decline answer the *other* party's terms; Accept and Counter only before
//!   those terms expire.
//! - Withdraw takes back one's *own* terms.
//!
//! - Confirm answers an Accept of one's *own* terms: the proposer's countersignature. An Accept
//!   binds only once confirmed, so the proposer's node decides, by its own clock and what it has
//!   seen, whether its terms still stood when the Accept arrived; the `created_at` the acceptor
//!   signs decides nothing. A Confirm must be made before the terms expire (with
//!   [`CONFIRM_GRACE`] for clocks that differ).
//!
//! Crossing messages: both sides may answer the same message at once (a buyer withdraws the offer
//! while the seller accepts it). The state is then decided the same way on every node, whatever
//! order the messages arrived in: among valid replies to the same terms, a confirmed Accept wins
//! over a Counter whose branch ends in a deal, that Counter over a Withdraw, a Withdraw over an
//! unconfirmed Accept, an Accept over a Decline, a Decline over any other Counter, and between
//! two replies of one kind the lower id wins (see [`precedence`]). A proposer's node never
//! confirms an Accept of terms it withdrew or that had expired when the Accept reached it, so a
//! withdrawn or expired proposal never becomes a deal, whatever timestamps the other side signs.

use std::collections::HashMap;

use crate::id::ObjectId;
use crate::identity::PublicKey;
use crate::limits::MAX_CLOCK_SKEW;
use crate::listing::ListingStatus;
use crate::negotiation::Terms;
use crate::object::{Body, Object, ObjectKind};
use crate::time::Timestamp;

/// Most messages one thread may hold: a long haggle is a dozen; this bounds what one party can
/// make another's node store and what a Deal carries.
pub const MAX_THREAD_MESSAGES: usize = 32;

/// How long after the accepted terms' expiry a Confirm may still be dated: room for the two
/// parties' clocks to differ, not for the proposer to change its mind later.
pub const CONFIRM_GRACE: std::time::Duration = MAX_CLOCK_SKEW;

/// How long after an Accept its Confirm may come, at most (and never after the terms expire):
/// the acceptor's promise (the listing author's reserved quantity) does not outlive a proposer
/// that stays away for long.
pub const CONFIRM_WINDOW: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 60 * 60);

/// Until when the proposer may confirm `accept` of `terms`: the terms' expiry, or
/// [`CONFIRM_WINDOW`] after the Accept, whichever comes first.
pub fn confirm_by(terms: &Terms, accept: &Object) -> Timestamp {
    terms.expires_at.min(accept.created_at().saturating_add(CONFIRM_WINDOW))
}

/// Where a negotiation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ThreadState {
    /// The offer awaits an answer.
    Open,
    /// Counter-terms await an answer.
    Countered,
    /// Terms were accepted and the proposer confirmed: there is a Deal.
    Accepted,
    /// The other party refused the latest terms.
    Declined,
    /// The proposer took back the latest terms.
    Withdrawn,
    /// The latest terms expired unanswered (or their Accept was never confirmed).
    Expired,
    /// The latest terms were accepted; the proposer's node has yet to confirm.
    Confirming,
}

impl ThreadState {
    /// Every state.
    pub const ALL: [ThreadState; 7] = [
        ThreadState::Open,
        ThreadState::Countered,
        ThreadState::Accepted,
        ThreadState::Declined,
        ThreadState::Withdrawn,
        ThreadState::Expired,
        ThreadState::Confirming,
    ];

    /// The lowercase name, as shown and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadState::Open => "open",
            ThreadState::Countered => "countered",
            ThreadState::Accepted => "accepted",
            ThreadState::Declined => "declined",
            ThreadState::Withdrawn => "withdrawn",
            ThreadState::Expired => "expired",
            ThreadState::Confirming => "confirming",
        }
    }

    /// No further message can change the thread.
    pub fn is_final(self) -> bool {
        !matches!(self, ThreadState::Open | ThreadState::Countered | ThreadState::Confirming)
    }
}

impl std::fmt::Display for ThreadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ThreadState {
    type Err = crate::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ThreadState::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            crate::UnknownName::new("thread state", s, &ThreadState::ALL.map(ThreadState::as_str))
        })
    }
}

/// Why a negotiation message does not fit its thread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThreadError {
    /// The offer names a different listing revision than the one it was checked against.
    #[error("the offer's listing is not the listing it was checked against")]
    ListingMismatch,
    /// The offer is not addressed to the listing's author.
    #[error("an offer must be addressed to the listing's author")]
    NotToListingAuthor,
    /// The listing revision the offer names is closed.
    #[error("the listing is closed")]
    ListingClosed,
    /// The offer asks for more than the listing has (or, where deals leave the quantity, more
    /// than one deal may take).
    #[error("the offer asks for {}", over_listing(*asked, *available, *per_deal, *unit, *wanted))]
    QuantityOverListing {
        /// The quantity the offer asks for.
        asked: u32,
        /// The listing's quantity.
        available: u32,
        /// The listing's deals leave its quantity (a service, a rental without a calendar, a
        /// digital good): it caps each deal.
        per_deal: bool,
        /// What the quantity counts, on a listing priced per period (hours of a service).
        unit: Option<crate::Period>,
        /// The listing is a wanted ad (its quantity is what its author wants).
        wanted: bool,
    },
    /// The offer was made after its listing expired.
    #[error("the message was made after its listing expired")]
    ListingExpired,
    /// An object is not of the kind its place needs.
    #[error("expected a {expected} but got a {got}")]
    WrongKind {
        /// The kind needed.
        expected: &'static str,
        /// The kind found.
        got: &'static str,
    },
    /// The reply names a different thread than the offer it was checked against.
    #[error("the reply names a different thread")]
    WrongThread,
    /// The reply answers a different message than the one it was checked against.
    #[error("the reply does not answer the message it was checked against")]
    WrongPrev,
    /// The reply's author is neither the offerer nor the listing's author.
    #[error("the reply's author is not a party to the thread")]
    NotAParty,
    /// The reply is not addressed to the other party.
    #[error("the reply is not addressed to the other party")]
    WrongRecipient,
    /// The message answered is not an offer or counter.
    #[error("only terms (an offer or counter) can be answered")]
    PrevHasNoTerms,
    /// A counter, accept or decline (named) answers its own author's terms.
    #[error("a {0} must answer the other party's terms")]
    OwnTerms(&'static str),
    /// A withdraw answers the other party's terms.
    #[error("a withdraw can only take back one's own terms")]
    OthersTerms,
    /// An accept or counter was made after the terms it answers expired.
    #[error("the terms expired before this reply was made")]
    TermsExpired,
    /// A confirm answers something other than the other party's Accept.
    #[error("a confirm must answer the other party's accept of one's own terms")]
    NotAnAccept,
    /// A confirm was made after the accepted terms expired (and the grace for clocks).
    #[error("the terms had expired when this confirm was made")]
    ConfirmTooLate,
    /// An offer on an auction: auctions take bids.
    #[error("an auction takes bids, not offers")]
    AuctionTakesBids,
    /// An offer on a giveaway that names an amount: a giveaway asks nothing.
    #[error("a giveaway asks nothing: an offer on it carries no amount")]
    PricedGiveaway,
    /// An offer on a crowdfunding campaign: campaigns take pledges.
    #[error("a campaign takes pledges, not offers")]
    CampaignTakesPledges,
    /// A pledge breaks the campaign's rules.
    #[error(transparent)]
    Pledge(#[from] crate::crowdfund::PledgeError),
    /// A bid breaks the auction's rules.
    #[error(transparent)]
    Bid(#[from] crate::auction::BidError),
    /// A booking's dates do not fit (or terms lack dates on a listing with a calendar).
    #[error(transparent)]
    Booking(#[from] crate::calendar::BookingError),
    /// A counter or withdraw in the thread of a public offer (a bid or a pledge): it stands as
    /// made; the listing's author accepts or declines it (a pledge is withdrawn by a pledge of 0).
    #[error(
        "a {opening} stands as made: no {reply} (a bid binds its bidder if it wins; a pledge is changed by pledging again, or withdrawn)"
    )]
    PublicOfferStands {
        /// bid or pledge.
        opening: &'static str,
        /// counter or withdraw.
        reply: &'static str,
    },
}

/// Checks an offer against the listing revision it names.
pub fn check_offer(listing: &Object, offer: &Object) -> Result<(), ThreadError> {
    let Some(o) = offer.body().opening() else {
        return Err(wrong_kind("offer", offer));
    };
    let Some(l) = listing.listing() else {
        return Err(wrong_kind("listing", listing));
    };
    match (offer.kind(), crate::auction::auction_of(listing), crate::crowdfund::campaign_of(listing)) {
        (ObjectKind::Bid, Some((terms, start)), _) => crate::auction::check_bid(terms, start, offer, o)?,
        (ObjectKind::Bid, None, _) => return Err(crate::auction::BidError::NotAnAuction.into()),
        (ObjectKind::Pledge, _, Some((campaign, goal))) => {
            crate::crowdfund::check_pledge(campaign, goal, offer, o)?
        }
        (ObjectKind::Pledge, _, None) => return Err(crate::crowdfund::PledgeError::NotACampaign.into()),
        (_, Some(_), _) => return Err(ThreadError::AuctionTakesBids),
        (_, _, Some(_)) => return Err(ThreadError::CampaignTakesPledges),
        (_, None, None) => {}
    }
    match (l.calendar(), &o.terms.dates) {
        (Some(_), _) if o.terms.quantity != 1 => return Err(crate::calendar::BookingError::Quantity.into()),
        (Some(calendar), Some(dates)) => calendar.fits(dates)?,
        (None, None) => {}
        _ => return Err(crate::calendar::BookingError::Dates.into()),
    }
    if o.listing != listing.id() {
        return Err(ThreadError::ListingMismatch);
    }
    if o.to != listing.author() {
        return Err(ThreadError::NotToListingAuthor);
    }
    if l.status == ListingStatus::Closed {
        return Err(ThreadError::ListingClosed);
    }
    if offer.created_at() > l.expires_at {
        return Err(ThreadError::ListingExpired);
    }
    if l.kind == crate::ListingKind::Giveaway && o.terms.price.amount != 0 {
        return Err(ThreadError::PricedGiveaway);
    }
    if o.terms.quantity > l.quantity {
        return Err(ThreadError::QuantityOverListing {
            asked: o.terms.quantity,
            available: l.quantity,
            per_deal: l.deals_leave_quantity(),
            unit: l.price.as_ref().and_then(|p| p.per),
            wanted: l.kind == crate::ListingKind::Wanted,
        });
    }
    Ok(())
}

/// `n` of what a listing's quantity counts: `5`, or `5 hours` on a listing priced per period.
pub fn quantity_words(n: u32, unit: Option<crate::Period>) -> String {
    match unit {
        Some(unit) if n == 1 => format!("1 {}", unit.as_str()),
        Some(unit) => format!("{n} {}s", unit.as_str()),
        None => n.to_string(),
    }
}

/// Terms asking for more than a listing has, after "asks for": `5 hours, but one deal takes at
/// most 4 hours on this listing: ask for at most 4 (or ask its owner ...)`, or of a wanted ad `2,
/// but the wanted ad wants 1: offer at most 1`. Said only to whoever does not own the listing.
pub fn over_listing(
    asked: u32,
    available: u32,
    per_deal: bool,
    unit: Option<crate::Period>,
    wanted: bool,
) -> String {
    let (asked_words, most) = (quantity_words(asked, unit), quantity_words(available, unit));
    if wanted {
        format!("{asked_words}, but the wanted ad wants {most}: offer at most {available}")
    } else if per_deal {
        format!(
            "{asked_words}, but one deal takes at most {most} on this listing: ask for at most {available} (or ask its owner, in a message, to allow more)"
        )
    } else {
        format!("{asked_words}, but the listing has {most}: ask for at most {available}")
    }
}

/// Checks `reply` against the thread's `offer` and the message `prev` it answers. The caller makes
/// sure `prev` is the offer or a message already accepted into the same thread.
pub fn check_reply(offer: &Object, prev: &Object, reply: &Object) -> Result<(), ThreadError> {
    let Some(o) = offer.body().opening() else {
        return Err(wrong_kind("offer", offer));
    };
    let Some(r) = reply.body().reply() else {
        return Err(wrong_kind("reply", reply));
    };
    if r.thread != offer.id() {
        return Err(ThreadError::WrongThread);
    }
    if r.prev != prev.id() {
        return Err(ThreadError::WrongPrev);
    }
    let (a, b) = (offer.author(), o.to);
    let other = match reply.author() {
        x if x == a => b,
        x if x == b => a,
        _ => return Err(ThreadError::NotAParty),
    };
    if r.to != other {
        return Err(ThreadError::WrongRecipient);
    }
    if matches!(offer.kind(), ObjectKind::Bid | ObjectKind::Pledge)
        && matches!(reply.kind(), ObjectKind::Counter | ObjectKind::Withdraw)
    {
        return Err(ThreadError::PublicOfferStands {
            opening: offer.kind().as_str(),
            reply: reply.kind().as_str(),
        });
    }
    if reply.kind() == ObjectKind::Confirm {
        // The Accept passed these rules against the confirmer's terms (there are two parties).
        return if prev.kind() == ObjectKind::Accept && prev.author() == other {
            Ok(())
        } else {
            Err(ThreadError::NotAnAccept)
        };
    }
    let Some(terms) = prev.body().terms() else {
        return Err(ThreadError::PrevHasNoTerms);
    };
    // A booking stays a booking: a counter names dates exactly when the offer did, for one unit.
    if let Body::Counter(c) = reply.body() {
        if c.terms.dates.is_some() != o.terms.dates.is_some() {
            return Err(crate::calendar::BookingError::Dates.into());
        }
        if c.terms.dates.is_some() && c.terms.quantity != 1 {
            return Err(crate::calendar::BookingError::Quantity.into());
        }
    }
    let own_terms = prev.author() == reply.author();
    match reply.kind() {
        ObjectKind::Withdraw if !own_terms => Err(ThreadError::OthersTerms),
        ObjectKind::Withdraw => Ok(()),
        kind if own_terms => Err(ThreadError::OwnTerms(kind.as_str())),
        ObjectKind::Accept | ObjectKind::Counter if reply.created_at() > terms.expires_at => {
            Err(ThreadError::TermsExpired)
        }
        _ => Ok(()),
    }
}

/// Checks a Confirm's time against the `terms` its `accept` accepted: by [`confirm_by`], with
/// [`CONFIRM_GRACE`] for clocks.
pub fn check_confirm(terms: &Terms, accept: &Object, confirm: &Object) -> Result<(), ThreadError> {
    if confirm.created_at() > confirm_by(terms, accept).saturating_add(CONFIRM_GRACE) {
        return Err(ThreadError::ConfirmTooLate);
    }
    Ok(())
}

/// Whether the node of `me` should confirm the Accept that put the thread in `view` in the
/// [`ThreadState::Confirming`] state, at `now` (its own clock, at the Accept's arrival): only the
/// proposer confirms, and only while its terms stand (not withdrawn: a Withdraw would have won;
/// not expired by its clock). The listing's quantity is the store's to check.
pub fn may_confirm(view: &ThreadView, me: &PublicKey, now: Timestamp) -> bool {
    view.state == ThreadState::Confirming
        && view.proposer == *me
        && view.confirm_by.is_some_and(|by| now <= by)
}

fn wrong_kind(expected: &'static str, got: &Object) -> ThreadError {
    ThreadError::WrongKind { expected, got: got.kind().as_str() }
}

/// The resolved state of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadView {
    /// The thread id: the offer's id.
    pub thread: ObjectId,
    /// The winning chain of message ids, from the offer to the latest.
    pub chain: Vec<ObjectId>,
    /// Where the negotiation stands.
    pub state: ThreadState,
    /// The latest terms on the table (or the accepted ones).
    pub terms: Terms,
    /// Who proposed those terms.
    pub proposer: PublicKey,
    /// The author of the listing the offer was made to.
    pub listing_author: PublicKey,
    /// Who made the offer.
    pub offerer: PublicKey,
    /// The message holding `terms` (the offer or a counter).
    pub terms_id: ObjectId,
    /// Once the terms are accepted: until when the proposer may confirm ([`confirm_by`]).
    pub confirm_by: Option<Timestamp>,
}

impl ThreadView {
    /// Id of the latest message on the winning chain: what a new reply answers (for a thread
    /// awaiting confirmation, the Accept the proposer confirms).
    pub fn head(&self) -> ObjectId {
        *self.chain.last().expect("a chain holds at least the offer")
    }

    /// The Deal's id (its Accept's) once the thread is a deal.
    pub fn deal_id(&self) -> Option<ObjectId> {
        (self.state == ThreadState::Accepted).then(|| self.chain[self.chain.len() - 2])
    }

    /// Id of the message holding the latest terms (the offer or a counter): what a Counter,
    /// Accept, Decline or Withdraw answers.
    pub fn terms_message(&self) -> ObjectId {
        self.terms_id
    }
}

/// Order of precedence among replies to the same terms (lower wins); `confirmed` says whether an
/// Accept has a valid Confirm, `deal_below` whether a Counter's branch ends in a deal.
///
/// A Counter whose branch ends in a deal (an Accept of it, or of a later counter, confirmed)
/// ranks just under a confirmed Accept: that deal carries both parties' signatures. Two honest
/// nodes never make a fork with a Withdraw or Decline beside it (a node that holds its own
/// Withdraw answers nothing further in the thread); a node restored from a backup older than
/// the counter does. A key that withdraws and then confirms on purpose is met by the listing
/// author's store, which judges a Confirm whose Accept held no promise as a late one.
fn precedence(kind: ObjectKind, confirmed: bool, deal_below: bool) -> u8 {
    match kind {
        ObjectKind::Accept if confirmed => 0,
        ObjectKind::Counter if deal_below => 1,
        ObjectKind::Withdraw => 2,
        ObjectKind::Accept => 3,
        ObjectKind::Decline => 4,
        _ => 5,
    }
}

/// A thread's replies by the message each answers.
struct Replies<'a> {
    offer: &'a Object,
    children: HashMap<ObjectId, Vec<&'a Object>>,
}

/// The reply that counts among those to one message.
struct Pick<'a> {
    next: &'a Object,
    /// An Accept's lowest-id valid Confirm.
    confirm: Option<&'a Object>,
    /// A Counter's branch ends in a deal.
    deal_below: bool,
}

impl<'a> Replies<'a> {
    /// The lowest-id valid Confirm of `accept` of `terms`, if any.
    fn confirm_of(&self, accept: &Object, terms: &Terms) -> Option<&'a Object> {
        self.children.get(&accept.id()).and_then(|kids| {
            kids.iter()
                .filter(|k| k.kind() == ObjectKind::Confirm)
                .filter(|k| {
                    check_reply(self.offer, accept, k).is_ok() && check_confirm(terms, accept, k).is_ok()
                })
                .min_by_key(|k| k.id())
                .copied()
        })
    }

    /// The valid reply to `head` (whose terms are `terms`) that counts, by [`precedence`] then
    /// id. `depth` bounds the look down a counter's branch; each branch is looked at once per
    /// call, so the work is linear in the replies below `head`.
    fn winner(&self, head: &Object, terms: &Terms, depth: usize) -> Option<Pick<'a>> {
        let kids = self.children.get(&head.id())?;
        kids.iter()
            .filter(|k| k.kind() != ObjectKind::Confirm && check_reply(self.offer, head, k).is_ok())
            .map(|k| {
                let confirm = if k.kind() == ObjectKind::Accept { self.confirm_of(k, terms) } else { None };
                let deal_below = depth < MAX_THREAD_MESSAGES && self.ends_in_deal(k, depth + 1);
                (
                    precedence(k.kind(), confirm.is_some(), deal_below),
                    k.id(),
                    Pick { next: k, confirm, deal_below },
                )
            })
            .min_by_key(|(rank, id, _)| (*rank, *id))
            .map(|(_, _, pick)| pick)
    }

    /// Whether the branch under `counter` (a Counter; anything else has none) ends in a deal.
    fn ends_in_deal(&self, counter: &Object, depth: usize) -> bool {
        let Body::Counter(c) = counter.body() else { return false };
        self.winner(counter, &c.terms, depth)
            .is_some_and(|p| (p.next.kind() == ObjectKind::Accept && p.confirm.is_some()) || p.deal_below)
    }
}

/// Resolves a thread from its offer and replies that each passed [`check_reply`] (others are
/// ignored). `now` decides whether unanswered terms have expired. Returns `None` if `offer` is not
/// an offer.
pub fn resolve(offer: &Object, replies: &[&Object], now: Timestamp) -> Option<ThreadView> {
    let o = offer.body().opening()?;
    let mut children: HashMap<ObjectId, Vec<&Object>> = HashMap::new();
    for reply in replies {
        if let Some(r) = reply.body().reply() {
            children.entry(r.prev).or_default().push(reply);
        }
    }
    let replies = Replies { offer, children };
    let mut chain = vec![offer.id()];
    let mut terms = o.terms.clone();
    let mut proposer = offer.author();
    let mut terms_id = offer.id();
    let mut deadline_to_confirm = None;
    let mut state = ThreadState::Open;
    let mut head = offer;
    while chain.len() < MAX_THREAD_MESSAGES {
        let Some(Pick { next, confirm, .. }) = replies.winner(head, &terms, chain.len()) else { break };
        chain.push(next.id());
        if next.kind() == ObjectKind::Accept {
            deadline_to_confirm = Some(confirm_by(&terms, next));
        }
        state = match next.body() {
            Body::Counter(c) => {
                terms = c.terms.clone();
                proposer = next.author();
                terms_id = next.id();
                ThreadState::Countered
            }
            Body::Accept(_) => match confirm {
                Some(confirm) => {
                    chain.push(confirm.id());
                    ThreadState::Accepted
                }
                None => ThreadState::Confirming,
            },
            Body::Decline(_) => ThreadState::Declined,
            Body::Withdraw(_) => ThreadState::Withdrawn,
            Body::Listing(_)
            | Body::Offer(_)
            | Body::Bid(_)
            | Body::Pledge(_)
            | Body::Mailbox(_)
            | Body::Receipt(_)
            | Body::Feedback(_)
            | Body::Confirm(_)
            | Body::Step(_)
            | Body::Note(_) => {
                unreachable!("only counters, accepts, declines and withdraws answer terms")
            }
        };
        if state.is_final() || state == ThreadState::Confirming {
            break;
        }
        head = next;
    }
    let deadline = match state {
        ThreadState::Open | ThreadState::Countered => Some(terms.expires_at),
        // An Accept the proposer never confirmed lapses (with the clock grace).
        ThreadState::Confirming => deadline_to_confirm.map(|by| by.saturating_add(CONFIRM_GRACE)),
        _ => None,
    };
    if deadline.is_some_and(|d| now > d) {
        state = ThreadState::Expired;
    }
    Some(ThreadView {
        thread: offer.id(),
        chain,
        state,
        terms,
        proposer,
        listing_author: o.to,
        offerer: offer.author(),
        terms_id,
        confirm_by: deadline_to_confirm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deal::Deal;
    use crate::fixtures::{
        self, DAY, T0, accept, confirm, counter, decline, key, listing, offer, sign, sign_at, terms, withdraw,
    };
    use crate::object::Verified;

    struct Setup {
        listing: Verified<Object>,
        offer: Verified<Object>,
    }

    /// Seller is key 1, buyer key 2.
    fn setup() -> Setup {
        let listing = sign(&key(1), Body::Listing(listing("Road bike")));
        let offer = sign(&key(2), offer(&listing, terms(1, 10_000)));
        Setup { listing, offer }
    }

    fn state(offer: &Object, replies: &[&Object]) -> ThreadState {
        resolve(offer, replies, T0).expect("an offer").state
    }

    #[test]
    fn offer_counter_accept_and_the_proposers_confirm_make_a_deal() {
        let s = setup();
        check_offer(&s.listing, &s.offer).expect("valid offer");
        let c = sign(&key(1), counter(&s.offer, &s.offer, terms(1, 11_000)));
        check_reply(&s.offer, &s.offer, &c).expect("valid counter");
        let a = sign(&key(2), accept(&s.offer, &c));
        check_reply(&s.offer, &c, &a).expect("valid accept");

        let view = resolve(&s.offer, &[&c, &a], T0).expect("offer");
        assert_eq!(view.state, ThreadState::Confirming, "an accept alone binds nobody yet");
        assert!(may_confirm(&view, &key(1).public(), T0), "the counter's author confirms");
        assert!(!may_confirm(&view, &key(2).public(), T0), "the acceptor does not");
        assert_eq!(view.terms_message(), c.id());

        let cf = sign(&key(1), confirm(&s.offer, &a));
        check_reply(&s.offer, &a, &cf).expect("valid confirm");
        let view = resolve(&s.offer, &[&c, &a, &cf], T0).expect("offer");
        assert_eq!(view.state, ThreadState::Accepted);
        assert_eq!(view.chain, vec![s.offer.id(), c.id(), a.id(), cf.id()]);
        assert_eq!(view.terms.price.amount, 11_000);
        assert_eq!(view.proposer, key(1).public());

        let deal = Deal::from_chain(&s.listing, &[s.offer.clone(), c, a.clone(), cf.clone()]).expect("deal");
        assert_eq!(deal.id(), a.id());
        assert_eq!(deal.made_at(), cf.created_at());
        assert_eq!(deal.seller(), key(1).public());
        assert_eq!(deal.buyer(), key(2).public());
        assert_eq!(deal.terms().price.amount, 11_000);
        let back = Deal::decode_verify(&deal.encode()).expect("verifies offline");
        assert_eq!(back, deal);
    }

    #[test]
    fn a_tampered_deal_does_not_verify() {
        let s = setup();
        let a = sign(&key(1), accept(&s.offer, &s.offer));
        let cf = sign(&key(2), confirm(&s.offer, &a));
        let deal = Deal::from_chain(&s.listing, &[s.offer.clone(), a.clone(), cf]).expect("deal");
        let mut bytes = deal.encode();
        // Bytes after the encoding make another byte string for the same deal: refused.
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(matches!(
            Deal::decode_verify(&padded),
            Err(crate::deal::DealError::TrailingBytes { extra: 1 })
        ));
        let n = bytes.len();
        bytes[n - 10] ^= 1;
        assert!(Deal::decode_verify(&bytes).is_err());
        // An accept without its confirm is no deal.
        assert!(matches!(
            Deal::from_chain(&s.listing, &[s.offer.clone(), a.clone()]),
            Err(crate::deal::DealError::BadLength)
        ));
        // Nor is an accept "confirmed" by its own author.
        let to_buyer = crate::negotiation::Reply { thread: s.offer.id(), prev: a.id(), to: key(2).public() };
        let self_confirm = sign(&key(1), Body::Confirm(crate::negotiation::Confirm { reply: to_buyer }));
        assert!(matches!(
            Deal::from_chain(&s.listing, &[s.offer.clone(), a.clone(), self_confirm]),
            Err(crate::deal::DealError::Thread { index: 2, .. })
        ));
        // A chain that does not end in an accept and a confirm is no deal.
        let c = sign(&key(1), counter(&s.offer, &s.offer, terms(1, 11_000)));
        let a2 = sign(&key(2), accept(&s.offer, &c));
        assert!(matches!(
            Deal::from_chain(&s.listing, &[s.offer.clone(), c, a2]),
            Err(crate::deal::DealError::WrongKind { index: 1, .. })
        ));
        // An offer on another listing is no deal on this one.
        let other = sign(&key(1), Body::Listing(fixtures::rental("Trimmer")));
        let cf = sign(&key(2), confirm(&s.offer, &a));
        assert!(Deal::from_chain(&other, &[s.offer.clone(), a, cf]).is_err());
    }

    #[test]
    fn a_withdraw_beats_an_unconfirmed_accept_in_either_order() {
        let s = setup();
        let a = sign(&key(1), accept(&s.offer, &s.offer));
        let w = sign(&key(2), withdraw(&s.offer, &s.offer, &s.listing));
        check_reply(&s.offer, &s.offer, &w).expect("valid withdraw");
        assert_eq!(state(&s.offer, &[&a, &w]), ThreadState::Withdrawn);
        assert_eq!(state(&s.offer, &[&w, &a]), ThreadState::Withdrawn);
        assert_eq!(state(&s.offer, &[&a]), ThreadState::Confirming);
        // A proposer that confirmed has bound itself, whatever it signs after.
        let cf = sign(&key(2), confirm(&s.offer, &a));
        assert_eq!(state(&s.offer, &[&w, &a, &cf]), ThreadState::Accepted);
        assert_eq!(state(&s.offer, &[&cf, &w, &a]), ThreadState::Accepted);
    }

    /// Attack: the acceptor dates its Accept before the proposer's Withdraw, or before the terms
    /// expired. The proposer's node judges by what it has seen and its own clock, so it never
    /// confirms, and without its Confirm there is no deal.
    #[test]
    fn a_backdated_accept_never_revives_a_withdrawn_or_expired_proposal() {
        let s = setup();
        let withdrawn_at = T0.saturating_add(DAY);
        let w = sign_at(&key(2), withdraw(&s.offer, &s.offer, &s.listing), withdrawn_at);
        let backdated = sign_at(&key(1), accept(&s.offer, &s.offer), T0);
        let at_proposer =
            resolve(&s.offer, &[&w, &backdated], withdrawn_at.saturating_add(DAY)).expect("offer");
        assert_eq!(at_proposer.state, ThreadState::Withdrawn);
        assert!(!may_confirm(&at_proposer, &key(2).public(), withdrawn_at));

        // The terms expire 7 days after T0; this accept says day 6 but reaches the proposer on day 8.
        let late = sign_at(&key(1), accept(&s.offer, &s.offer), T0.saturating_add(6 * DAY));
        let arrival = T0.saturating_add(8 * DAY);
        let at_proposer = resolve(&s.offer, &[&late], arrival).expect("offer");
        assert_eq!(at_proposer.state, ThreadState::Expired);
        assert!(!may_confirm(&at_proposer, &key(2).public(), arrival));
        // A confirm made that late would not count anyway.
        let too_late = sign_at(&key(2), confirm(&s.offer, &late), arrival);
        assert_eq!(
            check_confirm(&s.offer.body().terms().expect("terms").clone(), &late, &too_late),
            Err(ThreadError::ConfirmTooLate)
        );
        assert_eq!(
            resolve(&s.offer, &[&late, &too_late], arrival).expect("offer").state,
            ThreadState::Expired
        );
    }

    #[test]
    fn crossing_counter_and_withdraw_resolve_to_withdrawn() {
        let s = setup();
        let c = sign(&key(1), counter(&s.offer, &s.offer, terms(1, 11_000)));
        let w = sign(&key(2), withdraw(&s.offer, &s.offer, &s.listing));
        assert_eq!(state(&s.offer, &[&c, &w]), ThreadState::Withdrawn);
        assert_eq!(state(&s.offer, &[&w, &c]), ThreadState::Withdrawn);
        // An accept of the orphaned counter does not revive the thread.
        let a = sign(&key(2), accept(&s.offer, &c));
        assert_eq!(state(&s.offer, &[&c, &w, &a]), ThreadState::Withdrawn);
    }

    /// From a trial: a buyer's node restored from a backup (which held only its offer) withdrew
    /// the offer after its key had accepted the seller's counter and the seller's node had
    /// confirmed: the Withdraw outranked the Counter, and the deal was lost on one side. A
    /// branch that ends in a deal, signed by both, outranks a Withdraw or Decline beside it, in
    /// any order, also through several counters; the mirror (a restored seller's Decline) too.
    #[test]
    fn a_deal_under_a_counter_outranks_a_withdraw_or_decline_beside_it() {
        let s = setup();
        let c = sign(&key(1), counter(&s.offer, &s.offer, terms(1, 11_000)));
        let a = sign(&key(2), accept(&s.offer, &c));
        let cf = sign(&key(1), confirm(&s.offer, &a));
        let w = sign(&key(2), withdraw(&s.offer, &s.offer, &s.listing));
        let orders: [[&Object; 4]; 3] = [[&c, &a, &cf, &w], [&w, &cf, &a, &c], [&a, &w, &c, &cf]];
        for replies in orders {
            let v = resolve(&s.offer, &replies, T0).expect("offer");
            assert_eq!(
                (v.state, v.chain.as_slice()),
                (ThreadState::Accepted, &[s.offer.id(), c.id(), a.id(), cf.id()][..])
            );
        }
        // Through a second counter: the buyer's counter of the counter, accepted by the seller.
        let c2 = sign(&key(2), counter(&s.offer, &c, terms(1, 10_500)));
        let a2 = sign(&key(1), accept(&s.offer, &c2));
        let cf2 = sign(&key(2), confirm(&s.offer, &a2));
        assert_eq!(state(&s.offer, &[&w, &c, &c2, &a2, &cf2]), ThreadState::Accepted);
        // Without the confirm there is no deal below: the Withdraw counts, as before.
        assert_eq!(state(&s.offer, &[&w, &c, &c2, &a2]), ThreadState::Withdrawn);
        // The mirror: the seller's Decline of the offer beside its own counter that made a deal.
        let d = sign(&key(1), decline(&s.offer, &s.offer));
        assert_eq!(state(&s.offer, &[&d, &c, &a, &cf]), ThreadState::Accepted);
        assert_eq!(state(&s.offer, &[&d, &c, &a]), ThreadState::Declined);
    }

    #[test]
    fn replies_that_break_the_rules_are_refused() {
        let s = setup();
        let to_seller =
            crate::negotiation::Reply { thread: s.offer.id(), prev: s.offer.id(), to: key(1).public() };
        let own_accept = sign(&key(2), Body::Accept(crate::negotiation::Accept { reply: to_seller }));
        assert_eq!(check_reply(&s.offer, &s.offer, &own_accept), Err(ThreadError::OwnTerms("accept")));
        let wrong_withdraw = sign(&key(1), withdraw(&s.offer, &s.offer, &s.offer));
        assert_eq!(check_reply(&s.offer, &s.offer, &wrong_withdraw), Err(ThreadError::OthersTerms));
        let stranger = sign(&key(3), accept(&s.offer, &s.offer));
        assert_eq!(check_reply(&s.offer, &s.offer, &stranger), Err(ThreadError::NotAParty));
        let late = sign_at(&key(1), accept(&s.offer, &s.offer), T0.saturating_add(8 * DAY));
        assert_eq!(check_reply(&s.offer, &s.offer, &late), Err(ThreadError::TermsExpired));
        let d = sign(&key(1), decline(&s.offer, &s.offer));
        let after_decline = sign(&key(2), accept(&s.offer, &d));
        assert_eq!(check_reply(&s.offer, &d, &after_decline), Err(ThreadError::PrevHasNoTerms));
        assert_eq!(state(&s.offer, &[&own_accept, &stranger]), ThreadState::Open);
    }

    #[test]
    fn offers_must_fit_their_listing() {
        let s = setup();
        let too_many = sign(&key(2), offer(&s.listing, terms(2, 10_000)));
        assert_eq!(
            check_offer(&s.listing, &too_many),
            Err(ThreadError::QuantityOverListing {
                asked: 2,
                available: 1,
                per_deal: false,
                unit: None,
                wanted: false
            })
        );
        let other = sign(&key(3), Body::Listing(fixtures::rental("Trimmer")));
        assert_eq!(check_offer(&other, &s.offer), Err(ThreadError::ListingMismatch));
        let sofa = crate::Listing { kind: crate::ListingKind::Giveaway, price: None, ..listing("Sofa") };
        let sofa = sign(&key(1), Body::Listing(sofa));
        let priced = sign(&key(2), offer(&sofa, terms(1, 500)));
        assert_eq!(check_offer(&sofa, &priced), Err(ThreadError::PricedGiveaway));
        check_offer(&sofa, &sign(&key(2), offer(&sofa, terms(1, 0)))).expect("asked for free");
    }

    /// Defect (found in a trial): an offer of 5 on a service priced per hour read "asks for 5,
    /// but one deal takes at most 4", and one of 2 on a wanted ad "the listing has 1".
    #[test]
    fn a_quantity_over_the_listing_is_said_in_what_it_counts() {
        let hour = Some(crate::Period::Hour);
        assert_eq!(
            over_listing(5, 4, true, hour, false),
            "5 hours, but one deal takes at most 4 hours on this listing: ask for at most 4 (or ask its owner, in a message, to allow more)"
        );
        assert_eq!(over_listing(2, 1, false, None, true), "2, but the wanted ad wants 1: offer at most 1");
        assert_eq!(over_listing(2, 1, false, None, false), "2, but the listing has 1: ask for at most 1");
        assert_eq!(quantity_words(1, hour), "1 hour");
    }

    #[test]
    fn unanswered_terms_and_unconfirmed_accepts_expire_but_deals_do_not() {
        let s = setup();
        let later = T0.saturating_add(8 * DAY);
        assert_eq!(resolve(&s.offer, &[], later).expect("offer").state, ThreadState::Expired);
        let a = sign(&key(1), accept(&s.offer, &s.offer));
        assert_eq!(resolve(&s.offer, &[&a], later).expect("offer").state, ThreadState::Expired);
        let cf = sign(&key(2), confirm(&s.offer, &a));
        assert_eq!(resolve(&s.offer, &[&a, &cf], later).expect("offer").state, ThreadState::Accepted);
    }

    /// An Accept the proposer leaves unconfirmed holds the acceptor (and the listing author's
    /// quantity) for at most three days, even on terms that run for longer.
    #[test]
    fn an_accept_left_unconfirmed_lapses_after_three_days() {
        let s = setup();
        let a = sign(&key(1), accept(&s.offer, &s.offer));
        let day = |n: u32| T0.saturating_add(n * DAY);
        let view = resolve(&s.offer, &[&a], day(2)).expect("offer");
        assert_eq!(view.confirm_by, Some(day(3)));
        assert!(may_confirm(&view, &key(2).public(), day(2)));
        let view = resolve(&s.offer, &[&a], day(4)).expect("offer");
        assert_eq!(view.state, ThreadState::Expired, "the terms run 7 days, the accept lapsed after 3");
        assert!(!may_confirm(&view, &key(2).public(), day(4)));
        let too_late = sign_at(&key(2), confirm(&s.offer, &a), day(4));
        assert_eq!(resolve(&s.offer, &[&a, &too_late], day(4)).expect("offer").state, ThreadState::Expired);
    }

    proptest::proptest! {
        /// Whatever the acceptor dates its Accept, whenever the proposer withdraws, and in
        /// whatever order either node stores the messages: both nodes resolve the same state,
        /// and a deal exists only if the proposer's node got the Accept before it withdrew and
        /// before its terms expired.
        #[test]
        fn both_sides_agree_and_no_withdrawn_or_expired_proposal_becomes_a_deal(
            accept_at in 0u64..9 * 86_400,
            arrives_after in 0u64..3 * 86_400,
            withdraw_at in proptest::option::of(0u64..9 * 86_400),
            order in proptest::collection::vec(0usize..8, 8),
        ) {
            let s = setup();
            let secs = |n: u64| T0.saturating_add(std::time::Duration::from_secs(n));
            // The terms (7 days) stand at the accept's own date, or it would not be valid.
            let accept_at = accept_at.min(7 * 86_400);
            let a = sign_at(&key(1), accept(&s.offer, &s.offer), secs(accept_at));
            let arrival = secs(accept_at + arrives_after);
            let w = withdraw_at.map(|t| sign_at(&key(2), withdraw(&s.offer, &s.offer, &s.listing), secs(t.min(7 * 86_400))));
            // The proposer's node, when the accept arrives: what it has then, by its clock.
            let mut held: Vec<&Object> = vec![&a];
            let withdrew_first = w.as_ref().filter(|w| w.created_at() <= arrival);
            held.extend(withdrew_first.map(|w| &**w));
            let view = resolve(&s.offer, &held, arrival).expect("offer");
            let cf = may_confirm(&view, &key(2).public(), arrival)
                .then(|| sign_at(&key(2), confirm(&s.offer, &a), arrival));
            // Later both nodes hold everything, each in its own order.
            let mut all: Vec<&Object> = vec![&a];
            all.extend(w.as_deref());
            all.extend(cf.as_deref());
            let mut shuffled = all.clone();
            for (i, j) in order.iter().enumerate() {
                let (i, j) = (i % shuffled.len(), j % shuffled.len());
                shuffled.swap(i, j);
            }
            let end = secs(20 * 86_400);
            let one = resolve(&s.offer, &all, end).expect("offer");
            let other = resolve(&s.offer, &shuffled, end).expect("offer");
            proptest::prop_assert_eq!(&one, &other);
            if one.state == ThreadState::Accepted {
                proptest::prop_assert!(withdrew_first.is_none(), "a withdrawn proposal became a deal");
                proptest::prop_assert!(arrival <= secs(7 * 86_400), "an expired proposal became a deal");
            }
            // And what the proposer could confirm, it did: the deal is there.
            if cf.is_some() {
                proptest::prop_assert_eq!(one.state, ThreadState::Accepted);
            }
        }
    }
}
