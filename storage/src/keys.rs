//! The key layout of the one sled tree. Every record lives in one tree under a one-byte table
//! prefix, so that everything one ingest writes goes in a single atomic batch (see `writes`).
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `o` | object id (32) | wire bytes |
//! | `H` | nonce (16), author (32): the listing key, nonce first | [`Head`]: the current revision, and the other revisions held |
//! | `s` | created_at (8, BE), object id (32) | expires_at (8, BE) (reconciliation set: mailboxes, receipts, feedback, bids, pledges) |
//! | `t` | thread id (32), message id (32) | - (messages of a thread, offer included) |
//! | `l` | listing key (48), thread id (32) | - (threads on a listing) |
//! | `p` | party (32), thread id (32) | - (threads a key is party to) |
//! | `d` | deal id (32) | encoded Deal |
//! | `D` | listing key (48), deal id (32) | quantity (4, BE), made_at (8, BE) |
//! | `P` | party (32), deal id (32) | - |
//! | `q` | message id (32) | outbox entry (delivery state) |
//! | `Q` | recipient (32), message id (32) | - (messages still to deliver) |
//! | `x` | expires_at (8, BE), object id (32) | - (when to sweep mailboxes and receipts) |
//! | `M` | sender (32), mailbox id (32) | - (mailboxes by sender, for the quota) |
//! | `N` | recipient (32), mailbox id (32) | - (mailboxes by recipient: quota, and mail to open) |
//! | `R` | mailbox id (32) | receipt id (32) |
//! | `B` | mailbox id (32) | the owner's message it carries (32) |
//! | `i` | listing key (48) | sequence (8, BE): a listing the search index must read again (swept, or an auction's high bid raised) |
//! | `g` | listing key (48) | revision (4, BE), until (8, BE): a swept listing's highest revision |
//! | `G` | until (8, BE), listing key (48) | - (when to forget a swept listing's marker) |
//! | `v` | object id (32) | until (8, BE), then for an eviction for the budget `1` and the listing key (48); 8 bytes alone for a refusal |
//! | `V` | until (8, BE), object id (32) | - (when to forget an evicted object) |
//! | `F` | deal id (32), author (32) | feedback id (32): one feedback per author and deal |
//! | `A` | subject (32), author (32), deal id (32) | rating (1), made_at (8, BE), feedback id (32) |
//! | `W` | author (32), feedback id (32) | - (feedback by author, for the quota) |
//! | `m` | name | meta values (schema version, clean-shutdown mark, how far market ends were told) |
//! | `J` | sequence (8, BE) | a small batch's writes while they are being made (see `writes`) |
//! | `K` | deal id (32) | - (a deal called off whose listing gave back what it took) |
//! | `c` | peer id (its bytes, up to 64) | reached_at (8, BE), chosen (1), address (a multiaddr's bytes): the address book |
//! | `n` | conversation (113), created_at (8, BE), note id (32) | which of the conversation's two keys wrote it (1) |
//! | `U` | opener (32), other (32), conversation (113) | - (conversations the other has not answered) |
//! | `C` | conversation (113) | opener (1), answered (1), last note's date (8, BE), read up to: date (8, BE) and note id (32) |
//!
//! sled pays a tree insert and a log write per key whatever the batch size (about 70,000 keys a
//! second on the reference machine), so a new listing writes as few keys as it can: its object
//! and its head (its expiry and reconciliation entry are derived from the head, in memory: see
//! `derived`). Search-index catch-up needs no key of its own: each head carries the sequence
//! number of its last change, and the index records the highest sequence it has taken in.
//!
//! A head's key puts the listing's random nonce before its author. sled's file grows with how
//! long a prefix neighbouring keys share: with the author first, an author's listings sat side
//! by side under a 33-byte common prefix, and 100,000 heads of 2,000 authors took about 75 MiB
//! of disk against 35 MiB for the same records in nonce order. An author's listings are found
//! through the derived state's per-author list instead of a prefix scan. Databases of schema
//! version 6 (author first, under `h`) are copied into this layout when opened (see `migrate`).

use serde::{Deserialize, Serialize};

use haggle_protocol::{ListingKey, ObjectId, PublicKey, Timestamp};

pub(crate) const OBJECT: u8 = b'o';
pub(crate) const HEAD: u8 = b'H';
/// Reconciliation records: mailboxes, receipts, feedback, bids and pledges (listings' are
/// derived from their heads).
pub(crate) const RECON: u8 = b's';
pub(crate) const THREAD: u8 = b't';
pub(crate) const LISTING_THREAD: u8 = b'l';
pub(crate) const PARTY_THREAD: u8 = b'p';
pub(crate) const DEAL: u8 = b'd';
pub(crate) const LISTING_DEAL: u8 = b'D';
pub(crate) const PARTY_DEAL: u8 = b'P';
pub(crate) const OUTBOX: u8 = b'q';
pub(crate) const OUTBOX_PENDING: u8 = b'Q';
pub(crate) const INDEX_PENDING: u8 = b'i';
pub(crate) const MAIL_EXPIRY: u8 = b'x';
pub(crate) const MAIL_BY_SENDER: u8 = b'M';
pub(crate) const MAIL_BY_RECIPIENT: u8 = b'N';
pub(crate) const RECEIPT: u8 = b'R';
pub(crate) const MAIL_MESSAGE: u8 = b'B';
pub(crate) const GONE: u8 = b'g';
pub(crate) const GONE_EXPIRY: u8 = b'G';
pub(crate) const EVICTED: u8 = b'v';
pub(crate) const EVICTED_EXPIRY: u8 = b'V';
/// A deal's steps: deal id, step id.
pub(crate) const DEAL_STEP: u8 = b'k';

/// One feedback per author and deal.
pub(crate) const FEEDBACK: u8 = b'F';
/// Feedback by the party it rates: the reputation graph's edges.
pub(crate) const FEEDBACK_ABOUT: u8 = b'A';
/// Feedback by author, for the per-author quota.
pub(crate) const FEEDBACK_BY: u8 = b'W';
/// Bids by author, for the per-author quota.
pub(crate) const BID_BY: u8 = b'b';
pub(crate) const JOURNAL: u8 = b'J';
/// `K` + deal id: a deal called off whose quantity or nights the owner's listing has given back
/// (or that had taken nothing to give back). Written with the revision that gives them back.
pub(crate) const GIVEN_BACK: u8 = b'K';
/// `c` + a peer id's bytes: the address this node last dialled the peer at (see `peers`).
pub(crate) const PEER_ADDRESS: u8 = b'c';
/// `a` + a dropped earlier revision's id: its listing's key, so the id still names the listing
/// once the revision itself is gone (past the history limit).
pub(crate) const ALIAS: u8 = b'a';
/// `L` + listing key + a dropped revision's id: the listing's aliases, removed with it.
pub(crate) const LISTING_ALIAS: u8 = b'L';
/// `X` + a key the owner blocked: when and why (see `blocks`).
pub(crate) const BLOCKED: u8 = b'X';
/// `Y` + a key the owner named: when and the name (see `names`).
pub(crate) const NAME: u8 = b'Y';
/// `S` + a name the owner saved a search under: the search and what it last matched (see
/// `saved`).
pub(crate) const SAVED_SEARCH: u8 = b'S';
/// `n` + a conversation (see `haggle_protocol::Conversation::to_bytes`) + a note's date (8,
/// BE) + its id: the notes of a conversation, in date order (see `notes`).
pub(crate) const NOTE: u8 = b'n';
/// `C` + a conversation: who opened it, whether it was answered, its last note's date and how
/// far the owner read (see `notes`).
pub(crate) const CONVERSATION: u8 = b'C';
/// `U` + opener + other + a conversation: one the opener opened that the other has not
/// answered (see `notes`).
pub(crate) const UNANSWERED: u8 = b'U';
/// Dropped revisions' ids kept per listing: the first ones (the id printed at publish among
/// them) stay, later ones past the bound are not kept.
pub(crate) const MAX_ALIASES: usize = 256;

pub(crate) fn alias(id: &ObjectId) -> Vec<u8> {
    key(ALIAS, &[id.as_bytes()])
}

pub(crate) fn listing_alias(k: &ListingKey, id: &ObjectId) -> Vec<u8> {
    key(LISTING_ALIAS, &[&k.to_bytes(), id.as_bytes()])
}

pub(crate) const SCHEMA_KEY: &[u8] = b"mschema";
/// Present only while the store is closed after a clean shutdown.
pub(crate) const CLEAN_KEY: &[u8] = b"mclean";
/// Set while the search index failed to take changes in a run (removed once it takes them
/// again): a node that stops before then has its index rebuilt at the next open.
pub(crate) const INDEX_SUSPECT_KEY: &[u8] = b"mindex-suspect";
/// The time (unix ms, big-endian) up to which the node has told every end of an auction or a
/// campaign it holds (see [`crate::Store::ends_told_through`]).
pub(crate) const ENDS_TOLD_KEY: &[u8] = b"mends_told";
/// The public key of the identity whose node keeps this database (32 bytes).
pub(crate) const OWNER_KEY: &[u8] = b"mowner";
/// The store budget (`max_listings`, 8 bytes, big-endian) under which listings were last
/// evicted: a start with a larger one lets them back (see [`crate::Store::readmit_evicted`]).
pub(crate) const EVICTED_UNDER_KEY: &[u8] = b"mevicted_under";

/// Builds a key from a table prefix and parts.
pub(crate) fn key(table: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(table);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

pub(crate) fn object(id: &ObjectId) -> Vec<u8> {
    key(OBJECT, &[id.as_bytes()])
}

/// A listing's head: `H`, its nonce, its author (nonce first: see the module's notes).
pub(crate) fn head(k: &ListingKey) -> Vec<u8> {
    key(HEAD, &[&k.nonce, k.author.as_bytes()])
}

/// The listing key of a head's key made by [`head`].
pub(crate) fn listing_key_of_head(key: &[u8]) -> Option<ListingKey> {
    let tail = tail::<48>(key)?;
    let mut bytes = [0u8; 48];
    bytes[..32].copy_from_slice(&tail[16..]);
    bytes[32..].copy_from_slice(&tail[..16]);
    Some(ListingKey::from_bytes(&bytes))
}

pub(crate) fn recon(at: Timestamp, id: &ObjectId) -> Vec<u8> {
    key(RECON, &[&at.to_be_bytes(), id.as_bytes()])
}

pub(crate) fn thread(thread: &ObjectId, message: &ObjectId) -> Vec<u8> {
    key(THREAD, &[thread.as_bytes(), message.as_bytes()])
}

pub(crate) fn listing_thread(k: &ListingKey, thread: &ObjectId) -> Vec<u8> {
    key(LISTING_THREAD, &[&k.to_bytes(), thread.as_bytes()])
}

pub(crate) fn party_thread(party: &PublicKey, thread: &ObjectId) -> Vec<u8> {
    key(PARTY_THREAD, &[party.as_bytes(), thread.as_bytes()])
}

pub(crate) fn deal_step(deal: &ObjectId, step: &ObjectId) -> Vec<u8> {
    key(DEAL_STEP, &[deal.as_bytes(), step.as_bytes()])
}

pub(crate) fn feedback(deal: &ObjectId, author: &PublicKey) -> Vec<u8> {
    key(FEEDBACK, &[deal.as_bytes(), author.as_bytes()])
}

pub(crate) fn feedback_about(subject: &PublicKey, author: &PublicKey, deal: &ObjectId) -> Vec<u8> {
    key(FEEDBACK_ABOUT, &[subject.as_bytes(), author.as_bytes(), deal.as_bytes()])
}

pub(crate) fn feedback_by(author: &PublicKey, id: &ObjectId) -> Vec<u8> {
    key(FEEDBACK_BY, &[author.as_bytes(), id.as_bytes()])
}

pub(crate) fn bid_by(author: &PublicKey, id: &ObjectId) -> Vec<u8> {
    key(BID_BY, &[author.as_bytes(), id.as_bytes()])
}

pub(crate) fn deal(id: &ObjectId) -> Vec<u8> {
    key(DEAL, &[id.as_bytes()])
}

pub(crate) fn given_back(deal: &ObjectId) -> Vec<u8> {
    key(GIVEN_BACK, &[deal.as_bytes()])
}

pub(crate) fn listing_deal(k: &ListingKey, id: &ObjectId) -> Vec<u8> {
    key(LISTING_DEAL, &[&k.to_bytes(), id.as_bytes()])
}

pub(crate) fn party_deal(party: &PublicKey, id: &ObjectId) -> Vec<u8> {
    key(PARTY_DEAL, &[party.as_bytes(), id.as_bytes()])
}

pub(crate) fn outbox(id: &ObjectId) -> Vec<u8> {
    key(OUTBOX, &[id.as_bytes()])
}

pub(crate) fn outbox_pending(to: &PublicKey, id: &ObjectId) -> Vec<u8> {
    key(OUTBOX_PENDING, &[to.as_bytes(), id.as_bytes()])
}

pub(crate) fn mail_expiry(at: Timestamp, id: &ObjectId) -> Vec<u8> {
    key(MAIL_EXPIRY, &[&at.to_be_bytes(), id.as_bytes()])
}

pub(crate) fn mail_by_sender(sender: &PublicKey, id: &ObjectId) -> Vec<u8> {
    key(MAIL_BY_SENDER, &[sender.as_bytes(), id.as_bytes()])
}

pub(crate) fn mail_by_recipient(recipient: &PublicKey, id: &ObjectId) -> Vec<u8> {
    key(MAIL_BY_RECIPIENT, &[recipient.as_bytes(), id.as_bytes()])
}

pub(crate) fn receipt(mailbox: &ObjectId) -> Vec<u8> {
    key(RECEIPT, &[mailbox.as_bytes()])
}

pub(crate) fn mail_message(mailbox: &ObjectId) -> Vec<u8> {
    key(MAIL_MESSAGE, &[mailbox.as_bytes()])
}

pub(crate) fn gone(k: &ListingKey) -> Vec<u8> {
    key(GONE, &[&k.to_bytes()])
}

pub(crate) fn gone_expiry(at: Timestamp, k: &ListingKey) -> Vec<u8> {
    key(GONE_EXPIRY, &[&at.to_be_bytes(), &k.to_bytes()])
}

pub(crate) fn evicted(id: &ObjectId) -> Vec<u8> {
    key(EVICTED, &[id.as_bytes()])
}

pub(crate) fn evicted_expiry(at: Timestamp, id: &ObjectId) -> Vec<u8> {
    key(EVICTED_EXPIRY, &[&at.to_be_bytes(), id.as_bytes()])
}

pub(crate) fn index_pending(k: &ListingKey) -> Vec<u8> {
    key(INDEX_PENDING, &[&k.to_bytes()])
}

/// The last `N` bytes of a key as an array (ids and listing keys end the keys they are in).
pub(crate) fn tail<const N: usize>(key: &[u8]) -> Option<[u8; N]> {
    key.len().checked_sub(N).and_then(|start| key[start..].try_into().ok())
}

pub(crate) fn id_at_end(key: &[u8]) -> Option<ObjectId> {
    tail::<32>(key).map(ObjectId::from_bytes)
}

pub(crate) fn listing_key_at_end(key: &[u8]) -> Option<ListingKey> {
    tail::<48>(key).map(|b| ListingKey::from_bytes(&b))
}

/// How many earlier revisions of a listing the store keeps (offers may name any of them). Older
/// ones are deleted as new ones arrive, which bounds what one author's edits can cost: with
/// [`crate::MAX_HELD_PER_AUTHOR`], at most 85,000 listing objects per author.
pub(crate) const MAX_HISTORY: usize = 16;
/// Revisions kept past [`MAX_HISTORY`] because the node's own open threads name them: room for
/// this many more, the oldest going first beyond it (a head stays well within its 8 KiB).
pub(crate) const MAX_PINNED: usize = 64;

/// What the store remembers about a listing's current revision, so that replacing it can remove
/// the old revision's index entries without decoding the old object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Head {
    pub id: ObjectId,
    pub revision: u32,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub closed: bool,
    pub quantity: u32,
    /// Sequence number of the last change to this listing (sled's `generate_id`, increasing
    /// across restarts); the search index is up to date with every change at or below its
    /// recorded watermark.
    pub seq: u64,
    /// Other revisions held (older, or stale arrivals), oldest first, at most [`MAX_HISTORY`]
    /// and up to [`MAX_PINNED`] more that the node's own open threads name.
    pub history: Vec<ObjectId>,
}

impl Head {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).expect("encoding a Head cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Option<Head> {
        bincode::serde::decode_from_slice(bytes, bincode::config::standard().with_limit::<{ 8 * 1024 }>())
            .ok()
            .map(|(h, _)| h)
    }

    /// Whether revision `id` is held under this head: a listing's revisions are stored exactly
    /// while its head names them (as current or in its history).
    pub fn holds(&self, id: &ObjectId) -> bool {
        self.id == *id || self.history.contains(id)
    }
}
