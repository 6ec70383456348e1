//! The signed envelope every object travels in, its wire encoding, and verification.
//!
//! Wire form: `signed || signature`, where `signed` is the bincode (standard config) encoding of an
//! [`Envelope`] and `signature` is 64 bytes of ed25519 over `DOMAIN || signed`. The object id is the
//! blake3 hash of `DOMAIN || signed`. The signature and the id cover exactly the bytes that travel;
//! nothing is re-encoded to verify. A decoder also re-encodes what it decoded and rejects the object
//! if the bytes differ, so one object has exactly one encoding and one id.

use std::ops::Deref;

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::identity::{PublicKey, SecretKey};
use crate::limits::{self, ValidationError};
use crate::listing::{Listing, ListingKey};
use crate::mailbox::{Mailbox, Receipt};
use crate::negotiation::{Accept, Confirm, Counter, Decline, Offer, Reply, Terms, Withdraw};
use crate::time::Timestamp;

/// The version this code writes and the only one it reads.
pub const PROTOCOL_VERSION: u16 = 1;

/// Domain tag prefixed to the signed bytes, so a haggle signature can never be replayed as a
/// signature over some other protocol's message.
pub const DOMAIN: &[u8] = b"haggle/v1\0";

/// Largest whole object on the wire (envelope and signature).
pub const MAX_OBJECT_SIZE: usize = 64 * 1024;

/// Length of the ed25519 signature that ends every object.
pub const SIGNATURE_LEN: usize = 64;

/// bincode's standard configuration (little endian, varint integers), limited to the object size
/// so that no length prefix in hostile input can make the decoder allocate more than that.
type WireConfig = Configuration<LittleEndian, Varint, Limit<MAX_OBJECT_SIZE>>;

fn wire_config() -> WireConfig {
    config::standard().with_limit::<MAX_OBJECT_SIZE>()
}

/// Everything an author signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The protocol version; only [`PROTOCOL_VERSION`] is accepted.
    pub version: u16,
    /// The key that signs the object.
    pub author: PublicKey,
    /// When the author made the object, by the author's clock.
    pub created_at: Timestamp,
    /// The object's kind and fields.
    pub body: Body,
    /// The proof of work (see [`crate::work`]): fixed 8 bytes, last, so the author can search
    /// for it without encoding the envelope again.
    pub stamp: [u8; crate::work::STAMP_LEN],
}

/// The object kinds. The variant index is the kind's number on the wire.
// Listings are most of what a node holds and moves, so boxing them to shrink the rarer kinds
// would add an allocation where it counts most.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// A revision of a listing.
    Listing(Listing),
    /// Opens a negotiation thread on a listing.
    Offer(Offer),
    /// New terms in answer to the other party's terms.
    Counter(Counter),
    /// Accepts the other party's terms; with the proposer's Confirm it makes a Deal.
    Accept(Accept),
    /// Refuses the other party's terms and ends the thread.
    Decline(Decline),
    /// Takes back one's own terms and ends the thread.
    Withdraw(Withdraw),
    /// A negotiation message sealed to its recipient, for delivery through other nodes.
    Mailbox(Mailbox),
    /// The recipient's acknowledgement of a mailbox.
    Receipt(Receipt),
    /// The proposer's countersignature on an Accept of its terms, which makes the Deal.
    Confirm(Confirm),
    /// A step of a deal after the handshake (payment request, paid, shipped, received, cancel,
    /// dispute), sent to the other party.
    Step(crate::lifecycle::DealStep),
    /// A party's public rating of a deal, carrying the deal's proof.
    Feedback(crate::feedback::Feedback),
    /// A public bid on an auction: an offer of quantity 1 that every node stores, so every node
    /// sees the same bid history (see [`crate::auction`]). It opens a thread like an offer.
    Bid(Offer),
    /// A public pledge to a crowdfunding campaign: an offer of quantity 1 whose price is the
    /// amount (0 withdraws), stored by every node (see [`crate::crowdfund`]). It opens a thread.
    Pledge(Offer),
    /// Free text to the other party about a listing or a thread, outside the terms (see
    /// [`crate::note`]).
    Note(crate::note::Note),
}

/// The kind of an object, without its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A revision of a listing.
    Listing,
    /// An offer, which opens a thread.
    Offer,
    /// A counter-proposal.
    Counter,
    /// An acceptance, which the proposer's Confirm makes a Deal.
    Accept,
    /// A refusal, which ends the thread.
    Decline,
    /// A retraction of one's own terms, which ends the thread.
    Withdraw,
    /// A negotiation message sealed to its recipient.
    Mailbox,
    /// The recipient's acknowledgement of a mailbox.
    Receipt,
    /// The proposer's countersignature on an Accept, which makes a Deal.
    Confirm,
    /// A step of a deal after the handshake.
    Step,
    /// A party's public rating of a deal.
    Feedback,
    /// A public bid on an auction, which opens a thread.
    Bid,
    /// A public pledge to a campaign, which opens a thread.
    Pledge,
    /// Free text to the other party about a listing or a thread.
    Note,
}

impl ObjectKind {
    /// The lowercase name, as shown and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Listing => "listing",
            ObjectKind::Offer => "offer",
            ObjectKind::Counter => "counter",
            ObjectKind::Accept => "accept",
            ObjectKind::Decline => "decline",
            ObjectKind::Withdraw => "withdraw",
            ObjectKind::Mailbox => "mailbox",
            ObjectKind::Receipt => "receipt",
            ObjectKind::Confirm => "confirm",
            ObjectKind::Step => "step",
            ObjectKind::Feedback => "feedback",
            ObjectKind::Bid => "bid",
            ObjectKind::Pledge => "pledge",
            ObjectKind::Note => "note",
        }
    }

    /// Every kind, in wire order.
    pub const ALL: [ObjectKind; 14] = [
        ObjectKind::Listing,
        ObjectKind::Offer,
        ObjectKind::Counter,
        ObjectKind::Accept,
        ObjectKind::Decline,
        ObjectKind::Withdraw,
        ObjectKind::Mailbox,
        ObjectKind::Receipt,
        ObjectKind::Confirm,
        ObjectKind::Step,
        ObjectKind::Feedback,
        ObjectKind::Bid,
        ObjectKind::Pledge,
        ObjectKind::Note,
    ];

    /// Public objects are gossiped to, synced and stored by everyone; the rest go only to the
    /// other party.
    pub fn is_public(self) -> bool {
        matches!(
            self,
            ObjectKind::Listing
                | ObjectKind::Mailbox
                | ObjectKind::Receipt
                | ObjectKind::Feedback
                | ObjectKind::Bid
                | ObjectKind::Pledge
        )
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ObjectKind {
    type Err = crate::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            crate::UnknownName::new("object kind", s, &ObjectKind::ALL.map(ObjectKind::as_str))
        })
    }
}

impl Body {
    /// The kind of object this body makes.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Body::Listing(_) => ObjectKind::Listing,
            Body::Offer(_) => ObjectKind::Offer,
            Body::Counter(_) => ObjectKind::Counter,
            Body::Accept(_) => ObjectKind::Accept,
            Body::Decline(_) => ObjectKind::Decline,
            Body::Withdraw(_) => ObjectKind::Withdraw,
            Body::Mailbox(_) => ObjectKind::Mailbox,
            Body::Receipt(_) => ObjectKind::Receipt,
            Body::Confirm(_) => ObjectKind::Confirm,
            Body::Step(_) => ObjectKind::Step,
            Body::Feedback(_) => ObjectKind::Feedback,
            Body::Bid(_) => ObjectKind::Bid,
            Body::Pledge(_) => ObjectKind::Pledge,
            Body::Note(_) => ObjectKind::Note,
        }
    }

    /// The reply header of a negotiation reply.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Body::Counter(c) => Some(&c.reply),
            Body::Accept(a) => Some(&a.reply),
            Body::Decline(d) => Some(&d.reply),
            Body::Withdraw(w) => Some(&w.reply),
            Body::Confirm(c) => Some(&c.reply),
            Body::Listing(_)
            | Body::Offer(_)
            | Body::Mailbox(_)
            | Body::Receipt(_)
            | Body::Step(_)
            | Body::Feedback(_)
            | Body::Bid(_)
            | Body::Pledge(_)
            | Body::Note(_) => None,
        }
    }

    /// The offer or bid that opens a thread.
    pub fn opening(&self) -> Option<&Offer> {
        match self {
            Body::Offer(o) | Body::Bid(o) | Body::Pledge(o) => Some(o),
            _ => None,
        }
    }

    /// The terms an offer or counter proposes.
    pub fn terms(&self) -> Option<&Terms> {
        match self {
            Body::Offer(o) | Body::Bid(o) | Body::Pledge(o) => Some(&o.terms),
            Body::Counter(c) => Some(&c.terms),
            _ => None,
        }
    }

    /// The party a negotiation message or deal step is addressed to (not mailboxes and receipts: see
    /// [`Body::addressee`]).
    pub fn recipient(&self) -> Option<PublicKey> {
        match self {
            Body::Offer(o) | Body::Bid(o) | Body::Pledge(o) => Some(o.to),
            Body::Step(s) => Some(s.to),
            Body::Note(n) => Some(n.to),
            _ => self.reply().map(|r| r.to),
        }
    }

    /// Whom a mailbox or receipt is for.
    pub fn addressee(&self) -> Option<PublicKey> {
        match self {
            Body::Mailbox(m) => Some(m.to),
            Body::Receipt(r) => Some(r.to),
            _ => None,
        }
    }
}

impl Envelope {
    /// A version-1 envelope by `author`, created now.
    pub fn new(author: PublicKey, body: Body) -> Self {
        Envelope {
            version: PROTOCOL_VERSION,
            author,
            created_at: Timestamp::now(),
            body,
            stamp: [0; crate::work::STAMP_LEN],
        }
    }

    /// Validates, encodes and signs, with no proof of work (for networks that ask for none, and
    /// tests). `now` is the clock the limits are checked against.
    pub fn sign(self, key: &SecretKey, now: Timestamp) -> Result<Verified<Object>, SignError> {
        self.sign_with_work(key, now, 0)
    }

    /// Validates, encodes, finds a stamp with the work a network of base `base_bits` asks of this
    /// object ([`crate::work::required_bits`]) and signs.
    pub fn sign_with_work(
        self,
        key: &SecretKey,
        now: Timestamp,
        base_bits: u32,
    ) -> Result<Verified<Object>, SignError> {
        self.sign_with_work_until(key, now, base_bits, &|| false)
    }

    /// [`Self::sign_with_work`], giving up the proof of work ([`SignError::Stopped`]) once `stop`
    /// says true (see [`crate::work::mine_until`]).
    pub fn sign_with_work_until(
        mut self,
        key: &SecretKey,
        now: Timestamp,
        base_bits: u32,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<Verified<Object>, SignError> {
        if self.author != key.public() {
            return Err(SignError::WrongKey);
        }
        limits::validate(&self, now)?;
        check_proof(&self, now)?;
        let mut signed = encode_envelope(&self)?;
        let bits = crate::work::required_bits(self.body.kind(), signed.len() + SIGNATURE_LEN, base_bits);
        let split = signed.len() - crate::work::STAMP_LEN;
        self.stamp = crate::work::mine_until(&signed[..split], bits, stop).ok_or(SignError::Stopped)?;
        signed[split..].copy_from_slice(&self.stamp);
        let message = signing_message(&signed);
        let signature = key.sign(&message);
        let id = ObjectId::of_signed_bytes(&message);
        let mut bytes = signed;
        bytes.extend_from_slice(&signature);
        if bytes.len() > MAX_OBJECT_SIZE {
            return Err(SignError::Invalid(ValidationError::ObjectTooLarge {
                size: bytes.len(),
                max: MAX_OBJECT_SIZE,
            }));
        }
        Ok(Verified(Object { id, envelope: self, bytes }))
    }
}

impl Envelope {
    /// Encodes and signs with no validation at all: for tests that play a forger (an object
    /// whose rules do not hold, correctly signed by its author).
    #[cfg(any(test, feature = "fixtures"))]
    pub fn sign_unvalidated(self, key: &SecretKey) -> Vec<u8> {
        let mut bytes = encode_envelope(&self).expect("encodable");
        let signature = key.sign(&signing_message(&bytes));
        bytes.extend_from_slice(&signature);
        bytes
    }
}

/// The signed part of `bytes` and the envelope it decodes to, whole and of this protocol
/// version.
fn decode_envelope(bytes: &[u8]) -> Result<(&[u8], Envelope), DecodeError> {
    let (signed, _) = split(bytes)?;
    let (envelope, read): (Envelope, usize) =
        bincode::serde::decode_from_slice(signed, wire_config()).map_err(DecodeError::Malformed)?;
    if read != signed.len() {
        return Err(DecodeError::TrailingBytes { extra: signed.len() - read });
    }
    if envelope.version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion(envelope.version));
    }
    Ok((signed, envelope))
}

fn encode_envelope(envelope: &Envelope) -> Result<Vec<u8>, SignError> {
    bincode::serde::encode_to_vec(envelope, wire_config()).map_err(SignError::Encode)
}

/// A decoded object with its wire bytes and id. Not necessarily verified: see [`Verified`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    id: ObjectId,
    envelope: Envelope,
    bytes: Vec<u8>,
}

impl Object {
    /// Decodes, checks the encoding is canonical, verifies the signature and validates every
    /// limit against the clock `now`. The only way to get a [`Verified`] object from bytes.
    pub fn decode_verify(bytes: &[u8], now: Timestamp) -> Result<Verified<Object>, DecodeError> {
        Self::decode_unverified(bytes)?.verify(now)
    }

    /// Verifies the signature of an object decoded with [`Object::decode_unverified`] and
    /// validates every limit against the clock `now` (so a caller that looked at the decoded
    /// object first, e.g. to find it already held, does not decode it twice).
    pub fn verify(self, now: Timestamp) -> Result<Verified<Object>, DecodeError> {
        let (signed, signature) = split(&self.bytes)?;
        let signature: &[u8; SIGNATURE_LEN] = signature.try_into().expect("split gives 64 bytes");
        if !self.envelope.author.verify_strict(&signing_message(signed), signature) {
            return Err(DecodeError::BadSignature);
        }
        limits::validate(&self.envelope, now)?;
        check_proof(&self.envelope, now)?;
        Ok(Verified(self))
    }

    /// Decodes without checking the signature or limits: for bytes this node verified before it
    /// stored them, and for tools. Still bounded by the size limit and never panics.
    pub fn decode_unverified(bytes: &[u8]) -> Result<Object, DecodeError> {
        let (signed, envelope) = decode_envelope(bytes)?;
        let canonical =
            bincode::serde::encode_to_vec(&envelope, wire_config()).map_err(|_| DecodeError::NonCanonical)?;
        if canonical != signed {
            return Err(DecodeError::NonCanonical);
        }
        let id = ObjectId::of_signed_bytes(&signing_message(signed));
        Ok(Object { id, envelope, bytes: bytes.to_vec() })
    }

    /// Decodes an object this node decoded, verified and then stored under `id`: for a store
    /// reading its own records back, which it does many times over (a page of search results
    /// reads fifty). It skips what storing the object proved, the canonical re-encoding and
    /// hashing the id again, and still rejects bytes that do not decode, so a damaged record
    /// is an error, not a panic. Never for bytes from anywhere else: `id` is taken on trust.
    pub fn decode_stored(bytes: &[u8], id: ObjectId) -> Result<Object, DecodeError> {
        let (_, envelope) = decode_envelope(bytes)?;
        Ok(Object { id, envelope, bytes: bytes.to_vec() })
    }

    /// Whether the object carries the proof of work a network of base `base_bits` asks of it
    /// (see [`crate::work`]): two hashes, so it is checked before the signature.
    pub fn has_work(&self, base_bits: u32) -> bool {
        let needed = crate::work::required_bits(self.kind(), self.bytes.len(), base_bits);
        needed == 0
            || self
                .bytes
                .len()
                .checked_sub(SIGNATURE_LEN)
                .and_then(|n| crate::work::work_of(&self.bytes[..n]))
                >= Some(needed)
    }

    /// The object's id: the blake3 hash of the domain tag and the signed bytes.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// The envelope the author signed.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The key that signed the object.
    pub fn author(&self) -> PublicKey {
        self.envelope.author
    }

    /// When the author made the object, by the author's clock.
    pub fn created_at(&self) -> Timestamp {
        self.envelope.created_at
    }

    /// The object's kind and fields.
    pub fn body(&self) -> &Body {
        &self.envelope.body
    }

    /// The object's kind.
    pub fn kind(&self) -> ObjectKind {
        self.envelope.body.kind()
    }

    /// The wire bytes (what was signed, then the signature).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The listing, if this object is one.
    pub fn listing(&self) -> Option<&Listing> {
        match &self.envelope.body {
            Body::Listing(l) => Some(l),
            _ => None,
        }
    }

    /// The key that names this listing across its revisions, if this object is a listing.
    pub fn listing_key(&self) -> Option<ListingKey> {
        self.listing().map(|l| ListingKey { author: self.author(), nonce: l.nonce })
    }

    /// The negotiation thread this message belongs to: an offer starts its own thread (its id is
    /// the thread's id); a reply names its thread. `None` for objects that are not negotiation
    /// messages.
    pub fn thread_id(&self) -> Option<ObjectId> {
        match &self.envelope.body {
            Body::Offer(_) | Body::Bid(_) | Body::Pledge(_) => Some(self.id),
            body => body.reply().map(|r| r.thread),
        }
    }

    /// When the object stops being valid: a listing's or a proposal's expiry. Other replies do not
    /// expire on their own (they live as long as their thread).
    pub fn expires_at(&self) -> Option<Timestamp> {
        match &self.envelope.body {
            Body::Listing(l) => Some(l.expires_at),
            Body::Mailbox(m) => Some(m.expires_at),
            Body::Receipt(r) => Some(r.expires_at),
            Body::Feedback(_) => Some(self.created_at().saturating_add(crate::feedback::FEEDBACK_LIFETIME)),
            body => body.terms().map(|t| t.expires_at),
        }
    }
}

/// A feedback's deal proof: its three signatures and linkage (after the feedback's own
/// signature and limits, since it costs three more signature checks).
fn check_proof(envelope: &Envelope, now: Timestamp) -> Result<(), ValidationError> {
    if let Body::Feedback(f) = &envelope.body {
        f.verify(&envelope.author, now).map_err(ValidationError::Feedback)?;
    }
    Ok(())
}

/// `DOMAIN || signed`: what the signature and the id cover.
fn signing_message(signed: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + signed.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(signed);
    message
}

fn split(bytes: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    if bytes.len() > MAX_OBJECT_SIZE {
        return Err(DecodeError::TooLarge { size: bytes.len(), max: MAX_OBJECT_SIZE });
    }
    if bytes.len() <= SIGNATURE_LEN {
        return Err(DecodeError::TooShort { size: bytes.len() });
    }
    Ok(bytes.split_at(bytes.len() - SIGNATURE_LEN))
}

/// An object whose signature and limits were checked. Only [`Object::decode_verify`] and
/// [`Envelope::sign`] make one, so unverified data cannot reach storage or the network by accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// The checked value, out of its wrapper.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Why bytes were not accepted as an object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are over [`MAX_OBJECT_SIZE`].
    #[error("object is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// How many bytes were given.
        size: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The bytes are too few to hold anything besides the signature.
    #[error("object is {size} bytes, too short to hold an envelope and a signature")]
    TooShort {
        /// How many bytes were given.
        size: usize,
    },
    /// The bytes before the signature do not decode as an envelope.
    #[error("object is not a valid envelope encoding")]
    Malformed(#[source] bincode::error::DecodeError),
    /// Bytes follow the envelope before the signature.
    #[error("object has {extra} bytes after its envelope")]
    TrailingBytes {
        /// How many bytes follow the envelope.
        extra: usize,
    },
    /// The envelope decodes, but encoding it again gives different bytes.
    #[error("object encoding is not canonical")]
    NonCanonical,
    /// The envelope's protocol version is not [`PROTOCOL_VERSION`].
    #[error("object has protocol version {0}; this node reads version {PROTOCOL_VERSION}")]
    UnsupportedVersion(u16),
    /// The signature is not the author's over the signed bytes.
    #[error("signature does not verify for the object's author")]
    BadSignature,
    /// The object breaks a limit.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// Why an envelope could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The signing key is not the envelope's author.
    #[error("the envelope's author is not the signing key's public key")]
    WrongKey,
    /// The envelope breaks a limit, or the signed object is too large.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The envelope could not be encoded.
    #[error("could not encode the envelope")]
    Encode(#[source] bincode::error::EncodeError),
    /// Told to stop before its proof of work was found: nothing was signed.
    #[error("the node is stopping: it gave up the proof of work, and nothing was signed or stored")]
    Stopped,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fixtures::{self, T0, key, listing, sign};
    use crate::limits::{MAX_DESCRIPTION_BYTES, MAX_TITLE_CHARS};

    #[test]
    fn signed_objects_round_trip() {
        let obj = sign(&key(1), Body::Listing(listing("Road bike")));
        let back = Object::decode_verify(obj.bytes(), T0).expect("verifies");
        assert_eq!(back, obj);
        assert_eq!(back.id(), obj.id());
        assert_eq!(back.listing_key().expect("a listing").author, key(1).public());
    }

    /// What a store reads back under an object's id is the object it stored, and a damaged
    /// record is an error.
    #[test]
    fn stored_objects_decode_under_their_id() {
        let obj = sign(&key(1), Body::Listing(listing("Road bike")));
        let back = Object::decode_stored(obj.bytes(), obj.id()).expect("decodes");
        assert_eq!(back, *obj);
        let bytes = obj.bytes();
        for cut in [0, 1, bytes.len() / 2, bytes.len() - SIGNATURE_LEN - 1] {
            assert!(Object::decode_stored(&bytes[..cut], obj.id()).is_err(), "cut at {cut}");
        }
        let mut longer = bytes[..bytes.len() - SIGNATURE_LEN].to_vec();
        longer.push(0);
        longer.extend_from_slice(&bytes[bytes.len() - SIGNATURE_LEN..]);
        assert!(matches!(
            Object::decode_stored(&longer, obj.id()),
            Err(DecodeError::TrailingBytes { extra: 1 })
        ));
    }

    #[test]
    fn a_thread_is_named_by_its_offer() {
        let seller = key(1);
        let buyer = key(2);
        let listing = sign(&seller, Body::Listing(listing("Road bike")));
        let offer = sign(&buyer, fixtures::offer(&listing, fixtures::terms(1, 100)));
        let counter = sign(&seller, fixtures::counter(&offer, &offer, fixtures::terms(1, 110)));
        let accept = sign(&buyer, fixtures::accept(&offer, &counter));
        assert_eq!(listing.thread_id(), None);
        assert_eq!(offer.thread_id(), Some(offer.id()));
        assert_eq!(counter.thread_id(), Some(offer.id()));
        assert_eq!(accept.thread_id(), Some(offer.id()));
    }

    #[test]
    fn every_single_byte_change_is_detected() {
        let obj = sign(&key(1), Body::Listing(listing("Road bike")));
        for i in 0..obj.bytes().len() {
            let mut bytes = obj.bytes().to_vec();
            bytes[i] ^= 0x01;
            assert!(Object::decode_verify(&bytes, T0).is_err(), "flipping a bit of byte {i} went unnoticed");
        }
    }

    #[test]
    fn signing_with_someone_elses_key_fails() {
        let env = Envelope { created_at: T0, ..Envelope::new(key(1).public(), Body::Listing(listing("x"))) };
        assert!(matches!(env.sign(&key(2), T0), Err(SignError::WrongKey)));
    }

    #[test]
    fn a_signature_by_another_key_is_rejected() {
        let obj = sign(&key(1), Body::Listing(listing("Road bike")));
        let other = sign(&key(2), Body::Listing(listing("Road bike")));
        let mut forged = obj.bytes()[..obj.bytes().len() - SIGNATURE_LEN].to_vec();
        forged.extend_from_slice(&other.bytes()[other.bytes().len() - SIGNATURE_LEN..]);
        assert!(matches!(Object::decode_verify(&forged, T0), Err(DecodeError::BadSignature)));
    }

    #[test]
    fn trailing_and_missing_bytes_are_rejected() {
        let obj = sign(&key(1), Body::Listing(listing("Road bike")));
        let mut longer = obj.bytes().to_vec();
        longer.insert(longer.len() - SIGNATURE_LEN, 0);
        assert!(Object::decode_verify(&longer, T0).is_err());
        assert!(matches!(Object::decode_verify(&[0; 10], T0), Err(DecodeError::TooShort { size: 10 })));
        let huge = vec![0u8; MAX_OBJECT_SIZE + 1];
        assert!(matches!(Object::decode_verify(&huge, T0), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn objects_from_the_future_are_rejected_but_small_skew_is_fine() {
        let at = T0.saturating_add(std::time::Duration::from_secs(4 * 60));
        let obj = fixtures::sign_at(&key(1), Body::Listing(listing("x")), at);
        assert!(Object::decode_verify(obj.bytes(), T0).is_ok());
        let later = T0.saturating_add(std::time::Duration::from_secs(6 * 60));
        let obj = fixtures::sign_at(&key(1), Body::Listing(listing("x")), later);
        let err = Object::decode_verify(obj.bytes(), T0).expect_err("future");
        assert!(matches!(err, DecodeError::Invalid(ValidationError::FromTheFuture { .. })));
    }

    /// The largest listing the text limits allow fits in one object; the object limit itself is
    /// enforced on the total.
    #[test]
    fn limits_at_the_edge_pass_and_one_over_fails() {
        let mut l = listing(&"é".repeat(MAX_TITLE_CHARS));
        l.description = "d".repeat(MAX_DESCRIPTION_BYTES);
        let obj = sign(&key(1), Body::Listing(l.clone()));
        assert!(Object::decode_verify(obj.bytes(), T0).is_ok());

        let mut over = l.clone();
        over.title.push('é');
        let env = Envelope { created_at: T0, ..Envelope::new(key(1).public(), Body::Listing(over)) };
        let err = env.sign(&key(1), T0).expect_err("title over");
        assert!(err.to_string().contains("title"), "{err}");

        let mut over = l;
        over.description.push('d');
        let env = Envelope { created_at: T0, ..Envelope::new(key(1).public(), Body::Listing(over)) };
        assert!(env.sign(&key(1), T0).expect_err("description over").to_string().contains("description"));
    }

    #[test]
    fn an_object_one_byte_over_the_size_limit_is_rejected_on_decode() {
        let obj = sign(&key(1), Body::Listing(listing("x")));
        let mut bytes = obj.bytes().to_vec();
        bytes.resize(MAX_OBJECT_SIZE, 0);
        assert!(!matches!(Object::decode_verify(&bytes, T0), Err(DecodeError::TooLarge { .. })));
        bytes.push(0);
        assert!(
            matches!(Object::decode_verify(&bytes, T0), Err(DecodeError::TooLarge { size, .. }) if size == MAX_OBJECT_SIZE + 1)
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = Object::decode_verify(&bytes, T0);
        }

        #[test]
        fn mutated_objects_never_verify(pos in any::<proptest::sample::Index>(), byte in any::<u8>()) {
            let obj = sign(&key(1), Body::Listing(listing("Road bike")));
            let mut bytes = obj.bytes().to_vec();
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            prop_assert!(Object::decode_verify(&bytes, T0).is_err());
        }

        #[test]
        fn valid_listings_round_trip(
            title in "[a-zA-Z0-9 ]{1,140}",
            description in "\\PC{0,300}",
            tags in proptest::collection::vec("[a-z]{1,32}", 0..16),
            amount in 0u64..1_000_000_000,
            quantity in 1u32..1000,
            revision in 1u32..u32::MAX,
        ) {
            prop_assume!(!title.trim().is_empty());
            let mut l = listing(&title);
            l.description = description;
            l.tags = tags;
            l.price = Some(fixtures::eur(amount));
            l.quantity = quantity;
            l.revision = revision;
            let obj = sign(&key(9), Body::Listing(l));
            let back = Object::decode_verify(obj.bytes(), T0).expect("verifies");
            prop_assert_eq!(back.envelope(), obj.envelope());
        }
    }
}
