//! Thread rules: which replies are valid, and what state a thread is in.
//!
//! A thread starts with an Offer to a listing's author. Every reply names the thread and the
//! message it answers (`prev`), which must be an Offer or Counter (terms):
//! - Counter, Accept and Decline answer the *other* party's terms; Accept and Counter only before
//!   those terms expire.
//! - Withdraw takes back one's *own* terms.
//!
//! Crossing messages: both sides may answer the same message at once (a buyer withdraws the offer
//! while the seller accepts it). The state is then decided the same way on every node, whatever
//! order the messages arrived in: among valid replies to the same message, Accept wins over
//! Withdraw, Withdraw over Decline, Decline over Counter, and between two replies of one kind the
//! lower id wins. An Accept sent before the Withdraw arrived therefore makes a deal: the terms
//! stood when they were accepted.

use std::collections::HashMap;

use crate::id::ObjectId;
use crate::identity::PublicKey;
use crate::listing::ListingStatus;
use crate::negotiation::Terms;
use crate::object::{Body, Object, ObjectKind};
use crate::time::Timestamp;

/// Most messages one thread may hold: a long haggle is a dozen; this bounds what one party can
/// make another's node store and what a Deal carries.
pub const MAX_THREAD_MESSAGES: usize = 32;

/// Where a negotiation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ThreadState {
    /// The offer awaits an answer.
    Open,
    /// Counter-terms await an answer.
    Countered,
    /// Terms were accepted: there is a Deal.
    Accepted,
    /// The other party refused the latest terms.
    Declined,
    /// The proposer took back the latest terms.
    Withdrawn,
    /// The latest terms expired unanswered.
    Expired,
}

impl ThreadState {
    /// Every state.
    pub const ALL: [ThreadState; 6] = [
        ThreadState::Open,
        ThreadState::Countered,
        ThreadState::Accepted,
        ThreadState::Declined,
        ThreadState::Withdrawn,
        ThreadState::Expired,
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
        }
    }

    /// No further message can change the thread.
    pub fn is_final(self) -> bool {
        !matches!(self, ThreadState::Open | ThreadState::Countered)
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
    /// The offer asks for more than the listing has.
    #[error("the offer asks for {asked}, but the listing has {available}")]
    QuantityOverListing {
        /// The quantity the offer asks for.
        asked: u32,
        /// The listing's quantity.
        available: u32,
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
}

/// Checks an offer against the listing revision it names.
pub fn check_offer(listing: &Object, offer: &Object) -> Result<(), ThreadError> {
    let Body::Offer(o) = offer.body() else {
        return Err(wrong_kind("offer", offer));
    };
    let Some(l) = listing.listing() else {
        return Err(wrong_kind("listing", listing));
    };
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
    if o.terms.quantity > l.quantity {
        return Err(ThreadError::QuantityOverListing { asked: o.terms.quantity, available: l.quantity });
    }
    Ok(())
}

/// Checks `reply` against the thread's `offer` and the message `prev` it answers. The caller makes
/// sure `prev` is the offer or a message already accepted into the same thread.
pub fn check_reply(offer: &Object, prev: &Object, reply: &Object) -> Result<(), ThreadError> {
    let Body::Offer(o) = offer.body() else {
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
    let Some(terms) = prev.body().terms() else {
        return Err(ThreadError::PrevHasNoTerms);
    };
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
}

impl ThreadView {
    /// Id of the latest message on the winning chain: what a new reply answers.
    pub fn head(&self) -> ObjectId {
        *self.chain.last().expect("a chain holds at least the offer")
    }
}

/// Order of precedence among replies to the same message (lower wins).
fn precedence(kind: ObjectKind) -> u8 {
    match kind {
        ObjectKind::Accept => 0,
        ObjectKind::Withdraw => 1,
        ObjectKind::Decline => 2,
        _ => 3,
    }
}

/// Resolves a thread from its offer and replies that each passed [`check_reply`] (others are
/// ignored). `now` decides whether unanswered terms have expired. Returns `None` if `offer` is not
/// an offer.
pub fn resolve(offer: &Object, replies: &[&Object], now: Timestamp) -> Option<ThreadView> {
    let Body::Offer(o) = offer.body() else {
        return None;
    };
    let mut children: HashMap<ObjectId, Vec<&Object>> = HashMap::new();
    for reply in replies {
        if let Some(r) = reply.body().reply() {
            children.entry(r.prev).or_default().push(reply);
        }
    }
    let mut chain = vec![offer.id()];
    let mut terms = o.terms.clone();
    let mut proposer = offer.author();
    let mut state = ThreadState::Open;
    let mut head = offer;
    while chain.len() < MAX_THREAD_MESSAGES {
        let winner = children.get(&head.id()).and_then(|kids| {
            kids.iter()
                .filter(|k| check_reply(offer, head, k).is_ok())
                .min_by_key(|k| (precedence(k.kind()), k.id()))
                .copied()
        });
        let Some(next) = winner else { break };
        chain.push(next.id());
        state = match next.body() {
            Body::Counter(c) => {
                terms = c.terms.clone();
                proposer = next.author();
                ThreadState::Countered
            }
            Body::Accept(_) => ThreadState::Accepted,
            Body::Decline(_) => ThreadState::Declined,
            Body::Withdraw(_) => ThreadState::Withdrawn,
            Body::Listing(_) | Body::Offer(_) | Body::Mailbox(_) | Body::Receipt(_) => {
                unreachable!("check_reply admits replies only")
            }
        };
        if state.is_final() {
            break;
        }
        head = next;
    }
    if !state.is_final() && now > terms.expires_at {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deal::Deal;
    use crate::fixtures::{
        self, DAY, T0, accept, counter, decline, key, listing, offer, sign, sign_at, terms, withdraw,
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
    fn offer_counter_accept_makes_a_deal() {
        let s = setup();
        check_offer(&s.listing, &s.offer).expect("valid offer");
        let c = sign(&key(1), counter(&s.offer, &s.offer, terms(1, 11_000)));
        check_reply(&s.offer, &s.offer, &c).expect("valid counter");
        let a = sign(&key(2), accept(&s.offer, &c));
        check_reply(&s.offer, &c, &a).expect("valid accept");

        let view = resolve(&s.offer, &[&c, &a], T0).expect("offer");
        assert_eq!(view.state, ThreadState::Accepted);
        assert_eq!(view.chain, vec![s.offer.id(), c.id(), a.id()]);
        assert_eq!(view.terms.price.amount, 11_000);
        assert_eq!(view.proposer, key(1).public());

        let deal = Deal::from_chain(&s.listing, &[s.offer.clone(), c, a.clone()]).expect("deal");
        assert_eq!(deal.id(), a.id());
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
        let deal = Deal::from_chain(&s.listing, &[s.offer.clone(), a]).expect("deal");
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
        // A chain that does not end in an accept is no deal.
        let c = sign(&key(1), counter(&s.offer, &s.offer, terms(1, 11_000)));
        assert!(matches!(
            Deal::from_chain(&s.listing, &[s.offer.clone(), c]),
            Err(crate::deal::DealError::WrongKind { index: 1, .. })
        ));
        // An offer on another listing is no deal on this one.
        let other = sign(&key(1), Body::Listing(fixtures::rental("Trimmer")));
        let a = sign(&key(1), accept(&s.offer, &s.offer));
        assert!(Deal::from_chain(&other, &[s.offer.clone(), a]).is_err());
    }

    #[test]
    fn crossing_accept_and_withdraw_resolve_to_the_deal_in_either_order() {
        let s = setup();
        let a = sign(&key(1), accept(&s.offer, &s.offer));
        let w = sign(&key(2), withdraw(&s.offer, &s.offer, &s.listing));
        check_reply(&s.offer, &s.offer, &w).expect("valid withdraw");
        assert_eq!(state(&s.offer, &[&a, &w]), ThreadState::Accepted);
        assert_eq!(state(&s.offer, &[&w, &a]), ThreadState::Accepted);
        assert_eq!(state(&s.offer, &[&w]), ThreadState::Withdrawn);
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
            Err(ThreadError::QuantityOverListing { asked: 2, available: 1 })
        );
        let other = sign(&key(3), Body::Listing(fixtures::rental("Trimmer")));
        assert_eq!(check_offer(&other, &s.offer), Err(ThreadError::ListingMismatch));
    }

    #[test]
    fn unanswered_terms_expire() {
        let s = setup();
        let later = T0.saturating_add(8 * DAY);
        assert_eq!(resolve(&s.offer, &[], later).expect("offer").state, ThreadState::Expired);
        let a = sign(&key(1), accept(&s.offer, &s.offer));
        assert_eq!(resolve(&s.offer, &[&a], later).expect("offer").state, ThreadState::Accepted);
    }
}
