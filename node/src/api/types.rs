//! The local API's requests, responses and events: one definition, used by the server (the node)
//! and by [`crate::client::ApiClient`] (the `haggle` command, tests, scripts).
//!
//! On the wire everything is JSON: ids are 64 lowercase hex characters, keys are PeerIds, times
//! are unix milliseconds, enums are their lowercase names (`sell`, `countered`, `delivered`).
//! Fields hold the protocol's own types (`ObjectId`, `ListingKind`, ...) and are written and read
//! through their `Display` and `FromStr`, so a value that does not parse is refused when the
//! request is decoded, with the protocol's own message.

use std::path::PathBuf;

use libp2p::PeerId;
use serde::{Deserialize, Serialize};

pub use haggle_protocol::{
    Currency, CurrencyError, ListingKind, ObjectId, ObjectKind, ParseKeyError, Period, PublicKey, ThreadState,
};
pub use haggle_storage::{DeliveryState, Sort};

// ---------------------------------------------------------------------------------------------
// Requests

/// `POST /v1/listings`: the fields of a new listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListingDraft {
    /// What sort of listing (default `sell`).
    #[serde(with = "text")]
    pub kind: ListingKind,
    /// Up to 140 characters.
    pub title: String,
    /// Free text, up to 8 KiB.
    pub description: String,
    /// A path like `vehicles/bikes`.
    pub category: String,
    /// Up to 16 tags.
    pub tags: Vec<String>,
    /// Decimal amount as people write it (`"120"`, `"12.50"`); none for giveaways.
    pub price: Option<String>,
    /// Needed with a price.
    #[serde(with = "opt_text")]
    pub currency: Option<Currency>,
    /// For rentals and services: what the price is charged per.
    #[serde(with = "opt_text")]
    pub per: Option<Period>,
    /// How many (default 1).
    pub quantity: Option<u32>,
    /// Where the thing is, in words.
    pub location: Option<String>,
    /// Optional geohash of the location.
    pub geohash: Option<String>,
    /// Accepted ways to pay.
    pub payment: Vec<String>,
    /// Delivery terms.
    pub delivery: Option<String>,
    /// Lifetime in seconds (default 30 days, at most 90).
    pub expires_in: Option<u64>,
}

impl Default for ListingDraft {
    fn default() -> Self {
        ListingDraft {
            kind: ListingKind::Sell,
            title: String::new(),
            description: String::new(),
            category: String::new(),
            tags: Vec::new(),
            price: None,
            currency: None,
            per: None,
            quantity: None,
            location: None,
            geohash: None,
            payment: Vec::new(),
            delivery: None,
            expires_in: None,
        }
    }
}

/// `PATCH /v1/listings/{id}`: changes to a listing; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListingPatch {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New category path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// New tags (replacing the old ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// New decimal amount, in the new currency if one is given, else the listing's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// New currency; with no new price, the old amount is read in the new currency.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// New period.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub per: Option<Period>,
    /// New quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// New location text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// New geohash (empty removes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geohash: Option<String>,
    /// New payment methods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<Vec<String>>,
    /// New delivery terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

impl ListingPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ListingPatch::default()
    }
}

/// `POST /v1/listings/{id}/renew`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenewRequest {
    /// Seconds from now (default 30 days, at most 90).
    pub expires_in: Option<u64>,
}

/// `POST /v1/listings/{id}/offers` and `POST /v1/threads/{id}/counter`: proposed terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TermsDraft {
    /// Decimal amount for the whole quantity; required except on giveaways.
    pub price: Option<String>,
    /// Default: the listing's (for an offer) or the current terms' (for a counter).
    #[serde(with = "opt_text")]
    pub currency: Option<Currency>,
    /// Default: 1 for an offer, the current terms' for a counter.
    pub quantity: Option<u32>,
    /// A note to the other party.
    pub message: String,
    /// Seconds the proposal stands (default 3 days).
    pub expires_in: Option<u64>,
}

/// `POST /v1/threads/{id}/decline` and `/withdraw`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageBody {
    /// A note to the other party.
    pub message: String,
}

/// `GET /v1/search`: the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchParams {
    /// Words to match; empty matches everything.
    pub q: String,
    /// Only this kind of listing.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ListingKind>,
    /// Category path or prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Lowest price, decimal (needs `currency`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_price: Option<String>,
    /// Highest price, decimal (needs `currency`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<String>,
    /// Only prices in this currency.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Only this seller's listings.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub seller: Option<PublicKey>,
    /// Words that must appear in the location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near: Option<String>,
    /// Order of results (default relevance).
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
    /// Results per page (default 20, at most 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Results to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
}

impl SearchParams {
    /// Whether anything narrows the search (text or a filter).
    pub fn is_filtered(&self) -> bool {
        !self.q.trim().is_empty()
            || self.kind.is_some()
            || self.category.is_some()
            || self.min_price.is_some()
            || self.max_price.is_some()
            || self.seller.is_some()
            || self.near.is_some()
    }

    /// The query as `name=value` pairs, for a query string.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("q", self.q.clone())];
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        };
        put("kind", self.kind.map(|k| k.to_string()));
        put("category", self.category.clone());
        put("min_price", self.min_price.clone());
        put("max_price", self.max_price.clone());
        put("currency", self.currency.as_ref().map(ToString::to_string));
        put("seller", self.seller.map(|s| s.to_string()));
        put("near", self.near.clone());
        put("sort", self.sort.map(|s| s.to_string()));
        put("limit", self.limit.map(|l| l.to_string()));
        put("offset", self.offset.map(|o| o.to_string()));
        pairs
    }
}

// ---------------------------------------------------------------------------------------------
// Views

/// A price as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceView {
    /// Minor units (cents for EUR).
    pub amount: u64,
    /// Currency code.
    pub currency: Currency,
    /// What a rental or service price is charged per.
    #[serde(with = "opt_text")]
    pub per: Option<Period>,
    /// For people: `120.00 EUR`, `15.00 EUR/day`.
    pub display: String,
}

/// Terms of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsView {
    /// How many.
    pub quantity: u32,
    /// For the whole quantity.
    pub price: PriceView,
    /// When the proposal lapses (unix ms).
    pub expires_at: u64,
}

/// Whether a listing can still be traded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingState {
    /// Live and unexpired.
    Active,
    /// Past its expiry.
    Expired,
    /// Retracted or sold out (a tombstone).
    Closed,
}

impl ListingState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ListingState::Active => "active",
            ListingState::Expired => "expired",
            ListingState::Closed => "closed",
        }
    }
}

/// A listing's current revision as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingView {
    /// This revision's id.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// The listing key (author and nonce), the same for every revision.
    pub key: String,
    /// The seller (or, for a wanted ad, the buyer).
    #[serde(with = "text")]
    pub author: PublicKey,
    /// Whether this node's owner wrote it.
    pub mine: bool,
    /// Revision number, from 1.
    pub revision: u32,
    /// What sort of listing.
    #[serde(with = "text")]
    pub kind: ListingKind,
    /// Whether it can still be traded.
    pub state: ListingState,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category path.
    pub category: String,
    /// Tags.
    pub tags: Vec<String>,
    /// None for giveaways and listings without a price.
    pub price: Option<PriceView>,
    /// Quantity this revision offers.
    pub quantity: u32,
    /// For the owner: what is left to promise after deals and open counter-offers.
    pub remaining: Option<u32>,
    /// Location text.
    pub location: String,
    /// Geohash of the location.
    pub geohash: Option<String>,
    /// Accepted ways to pay.
    pub payment: Vec<String>,
    /// Delivery terms.
    pub delivery: String,
    /// When this revision was signed (unix ms).
    pub created_at: u64,
    /// When it expires (unix ms).
    pub expires_at: u64,
    /// Search relevance, in search results only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

/// Which side of a thread this node's owner is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Wrote the listing the offer was made on.
    #[serde(rename = "listing author")]
    ListingAuthor,
    /// Made the offer.
    #[serde(rename = "offerer")]
    Offerer,
}

/// One of the two parties, from this node's owner's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// This node's owner.
    Me,
    /// The other party.
    Them,
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// The message's id.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// offer, counter, accept, decline or withdraw.
    #[serde(with = "text")]
    pub kind: ObjectKind,
    /// Who wrote it.
    pub from: Party,
    /// When it was signed (unix ms).
    pub created_at: u64,
    /// The note it carries.
    pub message: String,
    /// The terms an offer or counter proposes.
    pub terms: Option<TermsView>,
    /// False for a reply that lost a crossing and does not count.
    pub on_chain: bool,
    /// For the owner's own messages: how far delivery got.
    #[serde(with = "opt_text")]
    pub delivery: Option<DeliveryState>,
}

/// A negotiation thread from this node's owner's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadView {
    /// The thread's id (its offer's id).
    #[serde(with = "text")]
    pub thread: ObjectId,
    /// The listing revision the offer was made on, while this node holds it.
    #[serde(with = "opt_text")]
    pub listing: Option<ObjectId>,
    /// Its title.
    pub listing_title: Option<String>,
    /// The owner's side.
    pub role: Role,
    /// The other party.
    #[serde(with = "text")]
    pub counterparty: PublicKey,
    /// Where the negotiation stands.
    #[serde(with = "text")]
    pub state: ThreadState,
    /// The latest terms (or the accepted ones).
    pub terms: TermsView,
    /// Who proposed them.
    pub proposed_by: Party,
    /// Whose move it is; `None` once the thread has ended.
    pub awaiting: Option<Party>,
    /// Delivery of the owner's latest message.
    #[serde(with = "opt_text")]
    pub delivery: Option<DeliveryState>,
    /// The deal's id, once accepted.
    #[serde(with = "opt_text")]
    pub deal: Option<ObjectId>,
    /// Every message, oldest first.
    pub messages: Vec<MessageView>,
    /// The newest message's time (unix ms).
    pub updated_at: Option<u64>,
}

/// What a negotiation action (offer, counter, accept, decline, withdraw) returns: the message
/// signed and the thread it is now part of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentView {
    /// The message just signed and stored.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// Its kind.
    #[serde(with = "text")]
    pub kind: ObjectKind,
    /// The thread, including this message.
    #[serde(flatten)]
    pub thread: ThreadView,
}

/// A deal both parties signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealView {
    /// The deal's id (its Accept's id).
    #[serde(with = "text")]
    pub id: ObjectId,
    /// The thread it ended.
    #[serde(with = "text")]
    pub thread: ObjectId,
    /// The listing revision the offer was made on.
    #[serde(with = "text")]
    pub listing: ObjectId,
    /// The listing's title.
    pub title: Option<String>,
    /// Who hands over the goods or does the work.
    #[serde(with = "text")]
    pub seller: PublicKey,
    /// Who pays.
    #[serde(with = "text")]
    pub buyer: PublicKey,
    /// The accepted terms.
    pub terms: TermsView,
    /// When it was made (the Accept's time, unix ms).
    pub made_at: u64,
    /// Hex of the deal's signed encoding, verifiable offline.
    pub signed: String,
}

/// `GET /v1/objects/{id}`: whatever the id names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObjectView {
    /// A listing revision: the listing's current revision.
    Listing(ListingView),
    /// A negotiation message: its thread.
    Thread(ThreadView),
    /// A deal.
    Deal(DealView),
}

/// `GET /v1/listings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingsPage {
    /// Newest first.
    pub listings: Vec<ListingView>,
}

/// `GET /v1/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    /// Listings matching, in all.
    pub total: usize,
    /// Results skipped.
    pub offset: usize,
    /// This page, each with its `score`.
    pub hits: Vec<ListingView>,
}

/// `GET /v1/threads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadsPage {
    /// Most recent first.
    pub threads: Vec<ThreadView>,
}

/// `GET /v1/deals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealsPage {
    /// Most recent first.
    pub deals: Vec<DealView>,
}

/// `GET /v1/peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeersPage {
    /// Connected peers.
    pub peers: Vec<PeerInfo>,
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer.
    #[serde(with = "text")]
    pub peer_id: PeerId,
    /// Its addresses, as far as known.
    pub addresses: Vec<String>,
    /// The agent it announced (identify).
    pub agent: Option<String>,
    /// gossipsub's score for the peer (negative after invalid messages).
    pub score: Option<f64>,
    /// Invalid objects this node rejected from the peer while connected.
    pub rejected: u32,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// This node's id.
    #[serde(with = "text")]
    pub peer_id: PublicKey,
    /// The node's version.
    pub version: String,
    /// Where it keeps its data.
    pub data_dir: PathBuf,
    /// Peers, gossip and sync.
    pub network: NetworkStatus,
    /// What the store holds.
    pub store: StoreCounts,
    /// Own messages not yet delivered.
    pub outbox_pending: usize,
}

/// The store part of `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCounts {
    /// Listings active and unexpired.
    pub active_listings: usize,
    /// Listings closed (tombstones).
    pub closed_listings: usize,
    /// Negotiation threads.
    pub threads: usize,
    /// Deals.
    pub deals: usize,
    /// Listing changes the search index has yet to take in.
    pub index_pending: usize,
    /// Bytes on disk.
    pub size_on_disk: u64,
}

/// The network part of `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStatus {
    /// This node's PeerId.
    #[serde(with = "text")]
    pub peer_id: PeerId,
    /// Addresses it listens on.
    pub listen_addrs: Vec<String>,
    /// Peers connected.
    pub connected_peers: usize,
    /// Peers subscribed to the listings topic.
    pub topic_peers: usize,
    /// Peers in this node's gossip mesh for the listings topic.
    pub mesh_peers: usize,
    /// Objects waiting for a peer to publish to.
    pub unpublished: usize,
    /// Sync sessions under way.
    pub syncing: usize,
    /// The most recent completed syncs, newest first, one per peer.
    pub syncs: Vec<SyncInfo>,
}

/// A completed catch-up sync with one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInfo {
    /// The peer.
    #[serde(with = "text")]
    pub peer: PeerId,
    /// When it finished (unix ms).
    pub at: u64,
    /// Objects this node received that were new to it.
    pub received: u64,
    /// Objects the peer took from this node that were new to it.
    pub sent: u64,
    /// Reconciliation bytes exchanged (both ways).
    pub reconcile_bytes: u64,
}

// ---------------------------------------------------------------------------------------------
// Events

/// What happened, for the API's event stream (`GET /v1/events`) and for tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A listing revision (new, updated, renewed or closed) arrived from the network.
    ListingStored {
        /// The revision's id.
        #[serde(with = "text")]
        id: ObjectId,
    },
    /// This node's owner published a listing revision.
    ListingPublished {
        /// The revision's id.
        #[serde(with = "text")]
        id: ObjectId,
    },
    /// A negotiation message from the other party was stored.
    NegotiationReceived {
        /// The message's id.
        #[serde(with = "text")]
        id: ObjectId,
        /// Its thread.
        #[serde(with = "text")]
        thread: ObjectId,
        /// offer, counter, accept, decline or withdraw.
        #[serde(with = "text")]
        kind: ObjectKind,
    },
    /// A thread ended in a deal; both sides hold the same signed record.
    DealMade {
        /// The deal's id.
        #[serde(with = "text")]
        id: ObjectId,
        /// The thread it ended.
        #[serde(with = "text")]
        thread: ObjectId,
    },
    /// An outgoing message's delivery state changed.
    DeliveryChanged {
        /// The message's id.
        #[serde(with = "text")]
        id: ObjectId,
        /// Its new state.
        #[serde(with = "text")]
        state: DeliveryState,
    },
    /// A peer connected.
    PeerConnected {
        /// The peer.
        #[serde(with = "text")]
        peer: PeerId,
    },
    /// A peer's last connection closed.
    PeerDisconnected {
        /// The peer.
        #[serde(with = "text")]
        peer: PeerId,
    },
    /// A peer sent an invalid object (by gossip or sync).
    PeerMisbehaved {
        /// The peer.
        #[serde(with = "text")]
        peer: PeerId,
        /// Invalid objects from it so far.
        rejected: u32,
    },
    /// A catch-up sync is fetching `total` objects from a peer; `received` so far were new.
    SyncProgress {
        /// The peer.
        #[serde(with = "text")]
        peer: PeerId,
        /// New objects so far.
        received: u64,
        /// Objects to fetch.
        total: u64,
    },
    /// A catch-up sync with a peer finished.
    SyncCompleted {
        /// The peer.
        #[serde(with = "text")]
        peer: PeerId,
        /// Objects new to this node.
        received: u64,
        /// Objects new to the peer.
        sent: u64,
    },
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The stable code of an API error: what went wrong, for programs. Each maps to one HTTP status
/// ([`ErrorCode::status`]); the `haggle` command maps each to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Malformed JSON body or query string, or an unknown field.
    BadRequest,
    /// A value breaks a rule (price, currency, title length, id too short, ...).
    Invalid,
    /// Missing or wrong token.
    Unauthorized,
    /// Changing someone else's listing or thread.
    NotYours,
    /// No object matches the id or prefix; unknown endpoint.
    NotFound,
    /// The id prefix matches several objects.
    Ambiguous,
    /// The listing is closed (retracted or sold out).
    ListingClosed,
    /// The listing has expired.
    ListingExpired,
    /// More asked than the listing has left after deals and open counter-offers.
    QuantityExceeded,
    /// An offer on one's own listing.
    OwnListing,
    /// The move belongs to the other party (e.g. accepting one's own terms).
    NotYourTurn,
    /// The thread has ended; nothing more can be said in it.
    ThreadEnded,
    /// The action does not fit the state in another way (a newer revision exists, ...).
    Conflict,
    /// A storage failure.
    Internal,
    /// The node is stopping.
    ShuttingDown,
    /// A code this build does not know (from a newer node).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status the API answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::Invalid => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotYours => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Ambiguous
            | ErrorCode::ListingClosed
            | ErrorCode::ListingExpired
            | ErrorCode::QuantityExceeded
            | ErrorCode::OwnListing
            | ErrorCode::NotYourTurn
            | ErrorCode::ThreadEnded
            | ErrorCode::Conflict => 409,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
            ErrorCode::ShuttingDown => 503,
        }
    }

    /// Whether the request itself was at fault (a usage mistake, not a state of the market).
    pub fn is_usage(self) -> bool {
        matches!(self, ErrorCode::BadRequest | ErrorCode::Invalid)
    }
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// For `ambiguous`: the full ids the prefix matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Serde helpers: values written with `Display` and read with `FromStr`.

/// A field written with its `Display` and read with its `FromStr`.
pub(crate) mod text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// An optional field written with its `Display` and read with its `FromStr`; null is `None`.
pub(crate) mod opt_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<T: Display, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        match Option::<String>::deserialize(d)? {
            Some(text) => text.parse().map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_and_ids_are_written_as_text() {
        let id = ObjectId::from_bytes([0xab; 32]);
        let event = NodeEvent::DeliveryChanged { id, state: DeliveryState::Delivered };
        let json = serde_json::to_value(&event).expect("encodes");
        assert_eq!(json, serde_json::json!({"event": "delivery_changed", "id": "ab".repeat(32), "state": "delivered"}));
        let back: NodeEvent = serde_json::from_value(json).expect("decodes");
        assert_eq!(back, event);
    }

    #[test]
    fn a_bad_kind_is_refused_with_the_protocols_message() {
        let err = serde_json::from_str::<ListingDraft>(r#"{"kind": "auction", "title": "x"}"#)
            .expect_err("not a kind");
        assert!(err.to_string().contains("`auction` is not a listing kind"), "{err}");
        let draft: ListingDraft = serde_json::from_str(r#"{"title": "x"}"#).expect("kind defaults");
        assert_eq!(draft.kind, ListingKind::Sell);
    }

    #[test]
    fn unknown_error_codes_from_newer_nodes_still_decode() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error": {"code": "brand_new", "message": "m"}}"#).expect("decodes");
        assert_eq!(body.error.code, ErrorCode::Unknown);
    }

    #[test]
    fn search_params_round_trip_through_a_query_string() {
        let params = SearchParams {
            q: "road bike".into(),
            kind: Some(ListingKind::Rental),
            currency: Some("EUR".parse().expect("a currency")),
            max_price: Some("200".into()),
            sort: Some(Sort::PriceDesc),
            limit: Some(5),
            ..SearchParams::default()
        };
        let query = serde_urlencoded::to_string(params.pairs()).expect("encodes");
        let back: SearchParams = serde_urlencoded::from_str(&query).expect("decodes");
        assert_eq!(back, params);
    }
}
