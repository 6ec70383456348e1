//! Feedback: one party's public rating of a deal, which anyone can check offline.
//!
//! A feedback carries the deal's proof: the offer, the Accept and the proposer's Confirm, each
//! as its own signed wire bytes. The offer names the two parties (its author and the listing's
//! author); the Accept is signed by one of them and addressed to the other; the Confirm is
//! signed by that other party and confirms exactly that Accept. So a valid proof shows that both
//! parties signed the deal, and the feedback's author must be one of them: a stranger cannot
//! rate a deal, and nobody can rate someone they never made a deal with.
//!
//! What a proof cannot show is that the deal was honest: two keys of one person can make a
//! deal and rate each other. That is for the reader's trust computation (reputation weighted by
//! the rater's own standing), not for validation.
//!
//! One feedback per author and deal: of two by the same author on the same deal, every node
//! keeps the one with the smaller id (so nodes converge whatever order they saw them in).

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::identity::PublicKey;
use crate::object::{Body, DecodeError, Object, ObjectKind};
use crate::time::Timestamp;

/// Longest feedback text, in characters.
pub const MAX_FEEDBACK_TEXT: usize = 500;

/// How long nodes keep a feedback after it was signed (reputation is long-lived, but not for
/// ever: the store stays bounded).
pub const FEEDBACK_LIFETIME: std::time::Duration = std::time::Duration::from_secs(5 * 365 * 86_400);

/// How far ahead of the verifier's clock a proof's objects may be dated: a day, so that a
/// party's wrong clock never makes an honest feedback count as its forwarder's fault.
pub const PROOF_CLOCK_SLACK: std::time::Duration = std::time::Duration::from_secs(86_400);

/// A rating: what the author thinks of the deal and the other party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rating {
    /// It went well.
    Positive,
    /// Neither.
    Neutral,
    /// It went badly.
    Negative,
}

impl Rating {
    /// The rating's name, as the CLI and the API say it.
    pub fn name(self) -> &'static str {
        match self {
            Rating::Positive => "positive",
            Rating::Neutral => "neutral",
            Rating::Negative => "negative",
        }
    }

    /// Every rating.
    pub const ALL: [Rating; 3] = [Rating::Positive, Rating::Neutral, Rating::Negative];
}

impl std::fmt::Display for Rating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Rating {
    type Err = crate::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rating::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| crate::UnknownName::new("rating", s, &Rating::ALL.map(Rating::name)))
    }
}

/// A feedback's body on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// The offer that opened the deal's thread (its wire bytes).
    pub offer: Vec<u8>,
    /// The Accept of the deal's terms (its wire bytes); its id is the deal's id.
    pub accept: Vec<u8>,
    /// The proposer's Confirm of that Accept (its wire bytes).
    pub confirm: Vec<u8>,
    /// The rating.
    pub rating: Rating,
    /// What the author says, one line, at most [`MAX_FEEDBACK_TEXT`] characters (may be empty).
    pub text: String,
}

/// What a checked proof establishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealProof {
    /// The deal's id (the Accept's id).
    pub deal: ObjectId,
    /// The listing revision the offer was made on.
    pub listing: ObjectId,
    /// The offer's author.
    pub offerer: PublicKey,
    /// The listing's author.
    pub listing_author: PublicKey,
    /// When the deal was made (the Confirm's time, by its signer's clock).
    pub made_at: Timestamp,
}

impl DealProof {
    /// The other party of `author`, if `author` is a party.
    pub fn other(&self, author: &PublicKey) -> Option<PublicKey> {
        match *author {
            a if a == self.offerer => Some(self.listing_author),
            a if a == self.listing_author => Some(self.offerer),
            _ => None,
        }
    }
}

/// Why a feedback is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// One of the proof's objects does not decode or verify.
    #[error("the deal's {which} does not verify: {reason}")]
    Proof {
        /// `offer`, `accept` or `confirm`.
        which: &'static str,
        /// Why.
        reason: String,
    },
    /// One of the proof's objects is of the wrong kind.
    #[error("the deal's {which} is a {got}")]
    WrongKind {
        /// `offer`, `accept` or `confirm`.
        which: &'static str,
        /// The kind it is.
        got: &'static str,
    },
    /// The Accept and Confirm do not make a deal of that offer between its two parties.
    #[error("the accept and confirm are not the two parties' agreement on that offer")]
    NotADeal,
    /// The feedback's author is not a party of the deal.
    #[error("only a party of the deal may rate it")]
    NotAParty,
    /// The text is over [`MAX_FEEDBACK_TEXT`] characters.
    #[error("the feedback's text is {0} characters long; at most {MAX_FEEDBACK_TEXT} are allowed")]
    TextTooLong(usize),
    /// The text holds a newline, tab or other control character.
    #[error("the feedback's text must be one line without tabs or other control characters")]
    ControlCharacter,
}

impl Feedback {
    /// A feedback on the deal whose offer, Accept and Confirm are given.
    pub fn new(offer: &Object, accept: &Object, confirm: &Object, rating: Rating, text: String) -> Self {
        Feedback {
            offer: offer.bytes().to_vec(),
            accept: accept.bytes().to_vec(),
            confirm: confirm.bytes().to_vec(),
            rating,
            text,
        }
    }

    /// Checks the text (no signatures: see [`Feedback::verify`]).
    pub fn check_text(&self) -> Result<(), FeedbackError> {
        let len = self.text.chars().count();
        if len > MAX_FEEDBACK_TEXT {
            Err(FeedbackError::TextTooLong(len))
        } else if self.text.chars().any(char::is_control) {
            Err(FeedbackError::ControlCharacter)
        } else {
            Ok(())
        }
    }

    /// Verifies the proof's three signatures and linkage, and that `author` is a party. The
    /// clock `now` is used only for the future-date check, with [`PROOF_CLOCK_SLACK`] of slack:
    /// the proof's objects were signed by two parties whose clocks may be off, and a date ahead
    /// buys a forger nothing (it signs its own deals at any date it likes). Each object's kind
    /// is checked before its signature, so no nesting costs more than three signature checks.
    pub fn verify(&self, author: &PublicKey, now: Timestamp) -> Result<DealProof, FeedbackError> {
        let now = now.saturating_add(PROOF_CLOCK_SLACK);
        let offer =
            open(&self.offer, "offer", &[ObjectKind::Offer, ObjectKind::Bid, ObjectKind::Pledge], now)?;
        let accept = open(&self.accept, "accept", &[ObjectKind::Accept], now)?;
        let confirm = open(&self.confirm, "confirm", &[ObjectKind::Confirm], now)?;
        let proof = link(&offer, &accept, &confirm)?;
        proof.other(author).ok_or(FeedbackError::NotAParty)?;
        Ok(proof)
    }

    /// The proof's facts, read without checking signatures: for feedback this node verified
    /// before it stored it. `None` if the bytes do not make a deal.
    pub fn proof_unverified(&self) -> Option<DealProof> {
        let decode = |b: &[u8]| Object::decode_unverified(b).ok();
        link(&decode(&self.offer)?, &decode(&self.accept)?, &decode(&self.confirm)?).ok()
    }
}

fn open(
    bytes: &[u8],
    which: &'static str,
    kinds: &[ObjectKind],
    now: Timestamp,
) -> Result<Object, FeedbackError> {
    let proof_error = |e: DecodeError| FeedbackError::Proof { which, reason: e.to_string() };
    let object = Object::decode_unverified(bytes).map_err(proof_error)?;
    if !kinds.contains(&object.kind()) {
        return Err(FeedbackError::WrongKind { which, got: object.kind().as_str() });
    }
    object.verify(now).map(crate::Verified::into_inner).map_err(proof_error)
}

/// The rules that make an offer, an Accept and a Confirm one deal between the offer's parties.
fn link(offer: &Object, accept: &Object, confirm: &Object) -> Result<DealProof, FeedbackError> {
    let (Some(o), Body::Accept(a), Body::Confirm(c)) =
        (offer.body().opening(), accept.body(), confirm.body())
    else {
        return Err(FeedbackError::NotADeal);
    };
    let proof = DealProof {
        deal: accept.id(),
        listing: o.listing,
        offerer: offer.author(),
        listing_author: o.to,
        made_at: confirm.created_at(),
    };
    let accepter_other = proof.other(&accept.author()).ok_or(FeedbackError::NotADeal)?;
    let linked = a.reply.thread == offer.id()
        && a.reply.to == accepter_other
        && c.reply.thread == offer.id()
        && c.reply.prev == accept.id()
        && confirm.author() == accepter_other
        && c.reply.to == accept.author();
    if linked { Ok(proof) } else { Err(FeedbackError::NotADeal) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{key, live_listing, live_terms, sign_now};
    use crate::negotiation::{Accept, Confirm, Offer, Reply};
    use crate::{Envelope, SecretKey, Verified};

    struct Trade {
        seller: SecretKey,
        buyer: SecretKey,
        offer: Verified<Object>,
        accept: Verified<Object>,
        confirm: Verified<Object>,
    }

    fn trade() -> Trade {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let offer = sign_now(
            &buyer,
            Body::Offer(Offer {
                listing: listing.id(),
                to: seller.public(),
                terms: live_terms(1, 10_000),
                message: String::new(),
            }),
        );
        let reply = |prev: ObjectId, to: PublicKey| Reply { thread: offer.id(), prev, to };
        let accept = sign_now(&seller, Body::Accept(Accept { reply: reply(offer.id(), buyer.public()) }));
        let confirm = sign_now(&buyer, Body::Confirm(Confirm { reply: reply(accept.id(), seller.public()) }));
        Trade { seller, buyer, offer, accept, confirm }
    }

    fn feedback(t: &Trade) -> Feedback {
        Feedback::new(&t.offer, &t.accept, &t.confirm, Rating::Positive, "smooth".into())
    }

    #[test]
    fn either_party_may_rate_a_deal_and_the_proof_names_both() {
        let t = trade();
        let f = feedback(&t);
        let now = Timestamp::now();
        let proof = f.verify(&t.buyer.public(), now).expect("ok");
        assert_eq!(proof.deal, t.accept.id());
        assert_eq!(proof.other(&t.buyer.public()), Some(t.seller.public()));
        assert_eq!(f.verify(&t.seller.public(), now).expect("ok"), proof);
        assert_eq!(f.proof_unverified(), Some(proof));
    }

    #[test]
    fn a_stranger_cannot_rate_a_deal() {
        let t = trade();
        assert_eq!(feedback(&t).verify(&key(3).public(), Timestamp::now()), Err(FeedbackError::NotAParty));
    }

    #[test]
    fn a_proof_without_the_other_partys_confirm_is_refused() {
        let t = trade();
        // A third key confirms the seller's Accept: the buyer never confirmed anything.
        let reply = Reply { thread: t.offer.id(), prev: t.accept.id(), to: t.seller.public() };
        let forged = sign_now(&key(3), Body::Confirm(Confirm { reply }));
        let f = Feedback { confirm: forged.bytes().to_vec(), ..feedback(&t) };
        assert_eq!(f.verify(&t.seller.public(), Timestamp::now()), Err(FeedbackError::NotADeal));
    }

    #[test]
    fn a_confirm_of_another_accept_is_refused() {
        let t = trade();
        let other = sign_now(
            &t.seller,
            Body::Accept(Accept {
                reply: Reply {
                    thread: ObjectId::from_bytes([9; 32]),
                    prev: t.offer.id(),
                    to: t.buyer.public(),
                },
            }),
        );
        let f = Feedback { accept: other.bytes().to_vec(), ..feedback(&t) };
        assert_eq!(f.verify(&t.buyer.public(), Timestamp::now()), Err(FeedbackError::NotADeal));
    }

    #[test]
    fn a_tampered_proof_object_is_refused_by_its_signature() {
        let t = trade();
        let mut f = feedback(&t);
        let last = f.accept.len() - 1;
        f.accept[last] ^= 1;
        assert!(matches!(
            f.verify(&t.buyer.public(), Timestamp::now()),
            Err(FeedbackError::Proof { which: "accept", .. })
        ));
    }

    #[test]
    fn a_proof_object_of_the_wrong_kind_is_refused_before_its_signature() {
        let t = trade();
        let f = Feedback { offer: t.accept.bytes().to_vec(), ..feedback(&t) };
        assert_eq!(
            f.verify(&t.buyer.public(), Timestamp::now()),
            Err(FeedbackError::WrongKind { which: "offer", got: "accept" })
        );
    }

    #[test]
    fn a_partys_clock_ahead_does_not_break_the_proof() {
        let t = trade();
        let ahead = Timestamp::now().saturating_add(std::time::Duration::from_secs(3_600));
        let reply = Reply { thread: t.offer.id(), prev: t.accept.id(), to: t.seller.public() };
        let late = crate::fixtures::sign_at(&t.buyer, Body::Confirm(Confirm { reply }), ahead);
        let f = Feedback { confirm: late.bytes().to_vec(), ..feedback(&t) };
        assert_eq!(
            f.verify(&t.seller.public(), Timestamp::now()).expect("an hour ahead is fine").made_at,
            ahead
        );
        let far = Timestamp::now().saturating_add(PROOF_CLOCK_SLACK * 2);
        let reply = Reply { thread: t.offer.id(), prev: t.accept.id(), to: t.seller.public() };
        let absurd = crate::fixtures::sign_at(&t.buyer, Body::Confirm(Confirm { reply }), far);
        let f = Feedback { confirm: absurd.bytes().to_vec(), ..feedback(&t) };
        assert!(matches!(f.verify(&t.seller.public(), Timestamp::now()), Err(FeedbackError::Proof { .. })));
    }

    #[test]
    fn feedback_signs_and_verifies_as_an_object() {
        let t = trade();
        let signed = sign_now(&t.buyer, Body::Feedback(feedback(&t)));
        let back = Object::decode_verify(signed.bytes(), Timestamp::now()).expect("ok");
        assert_eq!(back.id(), signed.id());
        let stranger = key(4);
        let err = Envelope::new(stranger.public(), Body::Feedback(feedback(&t)))
            .sign(&stranger, Timestamp::now())
            .expect_err("refused");
        assert!(err.to_string().contains("party"), "{err}");
        let long = Feedback { text: "x".repeat(MAX_FEEDBACK_TEXT + 1), ..feedback(&t) };
        assert!(
            Envelope::new(t.buyer.public(), Body::Feedback(long)).sign(&t.buyer, Timestamp::now()).is_err()
        );
    }
}
