//! The event stream's events.

use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::serde_text::text;
use super::{DeliveryState, ObjectId, ObjectKind};

/// How a listing revision reached this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// The gossip topic.
    #[default]
    Gossip,
    /// A catch-up sync.
    Sync,
}

/// What happened, for the API's event stream (`GET /v1/events`) and for tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A listing revision (new, updated, renewed or closed) arrived from the network.
    ListingStored {
        /// The revision's id.
        #[serde(with = "text")]
        id: ObjectId,
        /// How it came: by gossip, or by a catch-up sync (recent listings only).
        #[serde(default)]
        by: Arrival,
    },
    /// This node's owner published a listing revision.
    ListingPublished {
        /// The revision's id.
        #[serde(with = "text")]
        id: ObjectId,
        /// Signed by the node by itself, not by a command of its owner's: the quantity or the
        /// nights a deal took or its cancellation gave back, a campaign closed short of its goal.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        automatic: bool,
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
    /// A message (a note about a listing or a thread) from another key was stored.
    NoteReceived {
        /// The note's id: `haggle messages ID` shows its conversation.
        #[serde(with = "text")]
        id: ObjectId,
        /// Who wrote it.
        #[serde(with = "text")]
        from: super::PublicKey,
        /// What it is about: the listing's title, or `listing`/`thread` when not held.
        about: String,
        /// The text.
        message: String,
    },
    /// A step of a deal (payment request, paid, shipped, received, cancel, dispute) was
    /// stored: the other party's, or this node's own.
    DealStep {
        /// The step's id.
        #[serde(with = "text")]
        id: ObjectId,
        /// The deal.
        #[serde(with = "text")]
        deal: ObjectId,
        /// payment_request, paid, shipped, received, cancel or dispute.
        step: String,
        /// The deal's stage after it (agreed, payment_requested, paid, shipped, completed,
        /// cancelled).
        stage: String,
        /// Whether this node's owner signed it (else the other party did).
        #[serde(default)]
        mine: bool,
    },
    /// A feedback (a party's public rating of a deal) was stored: from the network, or the
    /// owner's own.
    FeedbackStored {
        /// The feedback's id.
        #[serde(with = "text")]
        id: ObjectId,
        /// The deal rated.
        #[serde(with = "text")]
        deal: ObjectId,
        /// Who rated.
        #[serde(with = "text")]
        author: super::PublicKey,
        /// Who was rated.
        #[serde(with = "text")]
        subject: super::PublicKey,
        /// positive, neutral or negative.
        rating: String,
    },
    /// A bid on an auction was stored: from the network, or the owner's own.
    BidStored {
        /// The bid's id (its thread's).
        #[serde(with = "text")]
        id: ObjectId,
        /// The auction's current revision.
        #[serde(with = "text")]
        listing: ObjectId,
        /// Who bid.
        #[serde(with = "text")]
        bidder: super::PublicKey,
        /// The amount, e.g. `55.00 EUR`.
        amount: String,
        /// Whether it is now the high bid.
        leads: bool,
        /// Whether it outbid a bid of this node's owner.
        outbids_me: bool,
        /// Whether the bidder is this node's owner.
        #[serde(default)]
        mine: bool,
        /// Set when this bid, made within the anti-sniping window, moved the auction's end: the
        /// end now (unix ms).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        moved_end_to: Option<u64>,
    },
    /// An auction this node sold or bid on has ended (announced once).
    AuctionEnded {
        /// The auction's current revision.
        #[serde(with = "text")]
        listing: ObjectId,
        /// The winner: the high bidder, if the high bid met the reserve.
        #[serde(default, with = "super::serde_text::opt_text")]
        winner: Option<super::PublicKey>,
        /// The high bid, e.g. `55.00 EUR`, if there was one.
        amount: Option<String>,
        /// Whether the high bid met the reserve.
        reserve_met: bool,
        /// Where this node's owner stands, if it bid: won or lost.
        #[serde(default)]
        standing: Option<super::BidStanding>,
    },
    /// A pledge to a campaign was stored: from the network, or the owner's own.
    PledgeStored {
        /// The pledge's id (its thread's).
        #[serde(with = "text")]
        id: ObjectId,
        /// The campaign's current revision.
        #[serde(with = "text")]
        listing: ObjectId,
        /// Who pledged.
        #[serde(with = "text")]
        backer: super::PublicKey,
        /// The amount, e.g. `50.00 EUR` (`0.00 EUR`: withdrawn).
        amount: String,
        /// The campaign's total after it, e.g. `1250.00 EUR`.
        total: String,
        /// Whether the backer is this node's owner.
        #[serde(default)]
        mine: bool,
    },
    /// A campaign this node created or backed reached its deadline (announced once).
    CampaignEnded {
        /// The campaign's current revision.
        #[serde(with = "text")]
        listing: ObjectId,
        /// Whether the total reached the goal (pledges become deals) or not (nothing is owed).
        funded: bool,
        /// The total, e.g. `5200.00 EUR`.
        total: String,
        /// What the owner pledged, if it backed the campaign.
        #[serde(default)]
        pledged: Option<String>,
        /// Whether the owner pledged and then withdrew its pledge before the deadline: it owes
        /// nothing, whatever the outcome.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        withdrawn: bool,
        /// Whether its creator closed (retracted) it before the deadline: nothing is owed,
        /// whatever the total.
        #[serde(default)]
        cancelled: bool,
        /// On the creator's node, of a funded campaign: how many pledges from keys the owner
        /// blocked its node left open for the owner to accept or decline by hand.
        #[serde(default)]
        blocked: usize,
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
    /// Whether peers can dial this node changed (public, private or unknown; see `haggle
    /// status`).
    ReachabilityChanged {
        /// What it is now.
        reachability: super::Reachability,
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
    /// A party gave back messages, deal steps and notes of the owner's threads with it that
    /// this node lacked (a node restored from a backup, or from its key alone).
    HistoryRestored {
        /// The other party's node.
        #[serde(with = "text")]
        peer: PeerId,
        /// Objects new to this node.
        taken: u64,
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
    /// A file (a picture, a thumbnail, a digital good) is being fetched: `have` of `size`
    /// bytes are here and verified. Sent at most four times a second per file, and at the end.
    FileProgress {
        /// The file's BLAKE3 hash, hex.
        hash: String,
        /// Verified bytes here.
        have: u64,
        /// Its size.
        size: u64,
    },
    /// A fetch of a file ended: complete, or given up with why.
    FileFetched {
        /// The file's BLAKE3 hash, hex.
        hash: String,
        /// Its size.
        size: u64,
        /// Why it stopped short, if it did.
        #[serde(default)]
        error: Option<String>,
    },
    /// The owner saved a search (new, or in place of the one of its name) or deleted one: a
    /// watch that follows it by name (`haggle watch --saved NAME`) reads it again.
    SavedSearchChanged {
        /// Its name, as saved.
        name: String,
        /// Whether it was deleted.
        #[serde(default)]
        deleted: bool,
    },
}
