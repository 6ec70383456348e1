//! Deals: the listing plus the chain of signed messages from the offer to the Accept and the
//! proposer's Confirm of it. Both parties' signatures are in the chain, so anyone can verify a
//! Deal offline.
//!
//! Wire form: bincode (standard config) of `(listing bytes, [message bytes, ...])`, each element
//! being an object's own wire bytes.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};

use crate::id::ObjectId;
use crate::identity::PublicKey;
use crate::listing::ListingKind;
use crate::negotiation::Terms;
use crate::object::{DecodeError, Object, ObjectKind, Verified};
use crate::thread::{MAX_THREAD_MESSAGES, ThreadError, check_confirm, check_offer, check_reply};
use crate::time::Timestamp;

/// Largest encoded Deal: a listing at the object limit plus a full thread of negotiation messages
/// (each well under 4 KiB, since their text is capped at 2 KiB).
pub const MAX_DEAL_SIZE: usize = 256 * 1024;

type DealConfig = Configuration<LittleEndian, Varint, Limit<MAX_DEAL_SIZE>>;

/// A verified two-party contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    listing: Object,
    chain: Vec<Object>,
}

/// Why a chain is not a valid Deal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DealError {
    /// The encoded deal is over [`MAX_DEAL_SIZE`].
    #[error("deal is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Length of the encoded deal, in bytes.
        size: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The bytes are not a bincode pair of a listing and a list of messages.
    #[error("deal is not a valid encoding")]
    Malformed(#[source] bincode::error::DecodeError),
    /// One of the deal's objects does not decode, verify or meet the limits.
    #[error("deal object {index} does not verify")]
    Object {
        /// Which object: 0 is the listing, 1 the offer, and so on along the chain.
        index: usize,
        /// Why the object was rejected.
        source: DecodeError,
    },
    /// Bytes follow the deal's encoding.
    #[error("{extra} bytes follow the deal's encoding")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The chain has fewer than three messages or more than [`MAX_THREAD_MESSAGES`].
    #[error("a deal needs an offer, an accept and a confirm, and at most {MAX_THREAD_MESSAGES} messages")]
    BadLength,
    /// A message after the offer is not a Counter, or the last two are not an Accept and a
    /// Confirm.
    #[error("message {index} of the deal's chain must be a {expected}")]
    WrongKind {
        /// Position of the message in the chain, counting the offer as 0.
        index: usize,
        /// The kind that position needs: `counter`, `accept` or `confirm`.
        expected: &'static str,
    },
    /// A message of the chain breaks the thread rules.
    #[error("message {index} of the deal's chain breaks the thread rules")]
    Thread {
        /// Position of the message in the chain, counting the offer as 0.
        index: usize,
        /// The rule it breaks.
        source: ThreadError,
    },
}

impl Deal {
    /// Checks that `chain` (offer, counters..., accept, confirm) is a valid thread on `listing`.
    pub fn from_chain(listing: &Verified<Object>, chain: &[Verified<Object>]) -> Result<Deal, DealError> {
        let chain: Vec<Object> = chain.iter().map(|o| (**o).clone()).collect();
        Self::check(&listing.clone().into_inner(), &chain)?;
        Ok(Deal { listing: (**listing).clone(), chain })
    }

    fn check(listing: &Object, chain: &[Object]) -> Result<(), DealError> {
        if chain.len() < 3 || chain.len() > MAX_THREAD_MESSAGES {
            return Err(DealError::BadLength);
        }
        let offer = &chain[0];
        check_offer(listing, offer).map_err(|source| DealError::Thread { index: 0, source })?;
        let last = chain.len() - 1;
        for (index, pair) in chain.windows(2).enumerate() {
            let index = index + 1;
            let expected = match last - index {
                0 => ObjectKind::Confirm,
                1 => ObjectKind::Accept,
                _ => ObjectKind::Counter,
            };
            if pair[1].kind() != expected {
                return Err(DealError::WrongKind { index, expected: expected.as_str() });
            }
            check_reply(offer, &pair[0], &pair[1]).map_err(|source| DealError::Thread { index, source })?;
        }
        let terms = chain[last - 2].body().terms().expect("checked: an offer or counter");
        check_confirm(terms, &chain[last - 1], &chain[last])
            .map_err(|source| DealError::Thread { index: last, source })?;
        Ok(())
    }

    /// Decodes and verifies every signature and thread rule.
    pub fn decode_verify(bytes: &[u8]) -> Result<Deal, DealError> {
        if bytes.len() > MAX_DEAL_SIZE {
            return Err(DealError::TooLarge { size: bytes.len(), max: MAX_DEAL_SIZE });
        }
        let config: DealConfig = config::standard().with_limit::<MAX_DEAL_SIZE>();
        let ((listing, chain), read): ((Vec<u8>, Vec<Vec<u8>>), usize) =
            bincode::serde::decode_from_slice(bytes, config).map_err(DealError::Malformed)?;
        // One encoding per deal: bytes after it would let two different byte strings carry the
        // same deal.
        if read != bytes.len() {
            return Err(DealError::TrailingBytes { extra: bytes.len() - read });
        }
        if chain.len() > MAX_THREAD_MESSAGES {
            return Err(DealError::BadLength);
        }
        // Objects in a deal are old by nature: only the future-date check uses the clock.
        let now = Timestamp::now();
        let verify = |index: usize, b: &[u8]| {
            Object::decode_verify(b, now)
                .map(Verified::into_inner)
                .map_err(|source| DealError::Object { index, source })
        };
        let listing = verify(0, &listing)?;
        let chain = chain.iter().enumerate().map(|(i, b)| verify(i + 1, b)).collect::<Result<Vec<_>, _>>()?;
        Self::check(&listing, &chain)?;
        Ok(Deal { listing, chain })
    }

    /// The wire form: bincode of the listing's bytes and each message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let chain: Vec<&[u8]> = self.chain.iter().map(Object::bytes).collect();
        bincode::serde::encode_to_vec((self.listing.bytes(), chain), config::standard())
            .expect("encoding byte vectors cannot fail")
    }

    /// The Deal's id: the Accept's id (one Accept makes one Deal).
    pub fn id(&self) -> ObjectId {
        self.accept().id()
    }

    /// The listing revision the offer was made on.
    pub fn listing(&self) -> &Object {
        &self.listing
    }

    /// The messages from the offer to the Confirm, in order.
    pub fn chain(&self) -> &[Object] {
        &self.chain
    }

    /// The offer that opened the thread.
    pub fn offer(&self) -> &Object {
        &self.chain[0]
    }

    /// The Accept of the deal's terms.
    pub fn accept(&self) -> &Object {
        &self.chain[self.chain.len() - 2]
    }

    /// The proposer's Confirm of the Accept, which made the deal.
    pub fn confirm(&self) -> &Object {
        self.chain.last().expect("checked: at least three messages")
    }

    /// The accepted terms (of the message the Accept answers).
    pub fn terms(&self) -> &Terms {
        self.chain[self.chain.len() - 3].body().terms().expect("checked: an offer or counter")
    }

    /// The listing's author.
    pub fn listing_author(&self) -> PublicKey {
        self.listing.author()
    }

    /// Who made the offer.
    pub fn offerer(&self) -> PublicKey {
        self.offer().author()
    }

    /// The party that hands over the goods or does the work: the listing's author, except for a
    /// wanted ad, whose author is the buyer.
    pub fn seller(&self) -> PublicKey {
        if self.listing_kind() == ListingKind::Wanted { self.offerer() } else { self.listing_author() }
    }

    /// The party that pays: the offerer, except for a wanted ad, whose author is the buyer.
    pub fn buyer(&self) -> PublicKey {
        if self.listing_kind() == ListingKind::Wanted { self.listing_author() } else { self.offerer() }
    }

    fn listing_kind(&self) -> ListingKind {
        self.listing.listing().expect("checked: a listing").kind
    }

    /// When the deal was made (the Confirm's time, by the proposer's clock).
    pub fn made_at(&self) -> Timestamp {
        self.confirm().created_at()
    }
}
