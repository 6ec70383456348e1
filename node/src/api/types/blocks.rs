//! Keys the owner blocked: their listings are left out of searches and live events, and their
//! new offers and booking requests are refused (their public bids and pledges are not).

use serde::{Deserialize, Serialize};

use haggle_protocol::PublicKey;

use super::serde_text::{key_text, vec_text};

/// `POST /v1/blocked`: block a key, given as a key (PeerId) or as the id of a listing (its
/// author), an offer thread or a deal (the other party).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// A key, or an id (or id prefix) of a listing, thread or deal.
    pub who: String,
    /// Why, for the owner's own memory; never sent anywhere. Left out, a key blocked already
    /// keeps its note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A thread still open with a key just blocked or unblocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenThread {
    /// The thread.
    #[serde(with = "super::serde_text::text")]
    pub thread: super::ObjectId,
    /// The command that ends it: `decline` (their terms are on the table), `withdraw` (the
    /// owner's are), `pledge` (the owner's pledge to their campaign, which binds if the campaign
    /// is funded: `haggle pledge LISTING --withdraw`), or null while an accept awaits its
    /// confirm (a deal follows, or it lapses). On an auction still running, nothing ends a bid:
    /// `bid` names the owner's highest bid on their auction (it binds if it wins), `their bid`
    /// their highest on the owner's (if it wins, it waits for the owner to accept or decline);
    /// `their pledge` their standing pledge to the owner's running campaign (if it is funded,
    /// it waits for the owner).
    pub ends_with: Option<String>,
    /// For a pledge: the campaign's listing, which `haggle pledge` names.
    #[serde(default, with = "super::serde_text::opt_text", skip_serializing_if = "Option::is_none")]
    pub listing: Option<super::ObjectId>,
}

/// A blocked key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedView {
    /// The key.
    #[serde(with = "key_text")]
    pub key: PublicKey,
    /// When it was blocked (or its note changed), unix ms.
    pub since: u64,
    /// The owner's note (may be empty).
    #[serde(default)]
    pub note: String,
}

/// `GET /v1/blocked`: the blocked keys, the most recently blocked first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedPage {
    /// The keys.
    pub blocked: Vec<BlockedView>,
    /// The most a node keeps.
    pub max: usize,
}

/// What `POST /v1/blocked` and `DELETE /v1/blocked/{who}` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockChange {
    /// The key.
    #[serde(with = "key_text")]
    pub key: PublicKey,
    /// Whether it is blocked now.
    pub blocked: bool,
    /// Whether it was blocked before this request.
    #[serde(default)]
    pub was_blocked: bool,
    /// Whether anything changed (false: blocked already, with the same note or none given, or
    /// not blocked).
    pub changed: bool,
    /// Threads with this key still open (blocking leaves them, and deals, as they are: each
    /// party can still end them), each with whose move it is.
    pub open_threads: Vec<OpenThread>,
    /// Deals with this key not yet complete or called off.
    #[serde(with = "vec_text")]
    pub open_deals: Vec<super::ObjectId>,
}
