//! Notes: free text between two people about a listing or a thread, outside the terms. A buyer
//! asks a seller a question before offering ("Is it still available? Does it come with
//! lights?"); two parties arrange a pick-up once they have a deal. A note binds nobody and
//! changes no thread: offers, counters and accepts still carry the terms.
//!
//! A note is addressed to one key and travels like a negotiation message (directly, or sealed
//! in a mailbox); it is never public. Its conversation is what it is [`About`] plus its two
//! keys, so a question about a listing and its answer, and every later note between the same
//! two people about the same listing, read as one conversation whatever revision the listing
//! is at.

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::identity::PublicKey;
use crate::listing::ListingKey;

/// What a note is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum About {
    /// A listing (any revision): one of the two keys is its author.
    Listing(ListingKey),
    /// A negotiation thread (its opening offer's, bid's or pledge's id), and the deal it may
    /// have become: the two keys are its parties.
    Thread(ObjectId),
}

/// Free text to the other party about a listing or a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// What it is about.
    pub about: About,
    /// The other party.
    pub to: PublicKey,
    /// One to 2 KiB of text; newlines and tabs allowed, no other control characters.
    pub message: String,
}

/// The conversation a note belongs to: what it is about, and its two keys in a fixed order
/// (the smaller first), so both sides' notes land in one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conversation {
    /// What the notes are about.
    pub about: About,
    /// The two keys, the smaller first.
    pub keys: [PublicKey; 2],
}

/// The length of [`Conversation::to_bytes`].
pub const CONVERSATION_KEY_LEN: usize = 1 + 48 + 32 + 32;

impl Conversation {
    /// The conversation between `a` and `b` about `about`.
    pub fn new(about: About, a: PublicKey, b: PublicKey) -> Self {
        let keys = if a.as_bytes() <= b.as_bytes() { [a, b] } else { [b, a] };
        Conversation { about, keys }
    }

    /// The conversation of a note by `author`.
    pub fn of(author: PublicKey, note: &Note) -> Self {
        Conversation::new(note.about, author, note.to)
    }

    /// The key of the two that is not `me` (`None` when `me` is neither).
    pub fn other(&self, me: &PublicKey) -> Option<PublicKey> {
        match self.keys {
            [a, b] if a == *me => Some(b),
            [a, b] if b == *me => Some(a),
            _ => None,
        }
    }

    /// A fixed-length form for database keys: a tag (0 a listing, 1 a thread), the listing key
    /// (48 bytes) or the thread id padded with zeros to 48, then the two keys.
    pub fn to_bytes(&self) -> [u8; CONVERSATION_KEY_LEN] {
        let mut out = [0u8; CONVERSATION_KEY_LEN];
        match &self.about {
            About::Listing(key) => out[1..49].copy_from_slice(&key.to_bytes()),
            About::Thread(id) => {
                out[0] = 1;
                out[1..33].copy_from_slice(id.as_bytes());
            }
        }
        out[49..81].copy_from_slice(self.keys[0].as_bytes());
        out[81..].copy_from_slice(self.keys[1].as_bytes());
        out
    }

    /// Reads [`Conversation::to_bytes`] back (`None` if it is not one).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != CONVERSATION_KEY_LEN {
            return None;
        }
        let about = match bytes[0] {
            0 => About::Listing(ListingKey::from_bytes(bytes[1..49].try_into().ok()?)),
            1 if bytes[33..49].iter().all(|b| *b == 0) => {
                About::Thread(ObjectId::from_bytes(bytes[1..33].try_into().ok()?))
            }
            _ => return None,
        };
        let key = |range: std::ops::Range<usize>| bytes[range].try_into().ok().map(PublicKey::from_bytes);
        Some(Conversation { about, keys: [key(49..81)?, key(81..113)?] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::key;

    #[test]
    fn both_sides_notes_make_one_conversation_and_its_key_reads_back() {
        let (a, b) = (key(1).public(), key(2).public());
        let listing = About::Listing(ListingKey { author: a, nonce: [7; 16] });
        let thread = About::Thread(ObjectId::from_bytes([9; 32]));
        for about in [listing, thread] {
            let one = Conversation::new(about, a, b);
            assert_eq!(one, Conversation::new(about, b, a), "either side's note");
            assert_eq!(Conversation::from_bytes(&one.to_bytes()), Some(one));
            assert_eq!(one.other(&a), Some(b));
            assert_eq!(one.other(&b), Some(a));
            assert_eq!(one.other(&key(3).public()), None);
        }
        assert_ne!(
            Conversation::new(listing, a, b).to_bytes(),
            Conversation::new(listing, a, key(3).public()).to_bytes()
        );
        assert_eq!(Conversation::from_bytes(&[0; 12]), None, "too short");
        let mut bad = Conversation::new(thread, a, b).to_bytes();
        bad[40] = 1;
        assert_eq!(Conversation::from_bytes(&bad), None, "a thread id's padding is zeros");
    }
}
