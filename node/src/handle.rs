//! How the rest of the program talks to the event loop: a cheap-clone handle that sends
//! commands over a bounded channel (each with a oneshot reply where one is needed), and a
//! broadcast channel of events.

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use haggle_protocol::PublicKey;

use crate::error::NodeGone;

/// Commands to the event loop.
#[derive(Debug)]
pub(crate) enum Command {
    /// Gossip an object already stored (a listing revision).
    Publish {
        bytes: Vec<u8>,
    },
    /// Try to deliver queued negotiation messages to this party now.
    Deliver {
        to: PublicKey,
    },
    /// Connect to a peer at this address (with /p2p/).
    Dial {
        addr: libp2p::Multiaddr,
    },
    Status {
        reply: oneshot::Sender<NetworkStatus>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
}

/// What happened, for the API's event stream and for tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A listing revision (new, updated, renewed or closed) arrived from the network.
    ListingStored {
        id: String,
    },
    /// This node's owner published a listing revision.
    ListingPublished {
        id: String,
    },
    /// A negotiation message from the other party was stored.
    NegotiationReceived {
        id: String,
        thread: String,
        kind: String,
    },
    /// A thread ended in a deal; both sides hold the same signed record.
    DealMade {
        id: String,
        thread: String,
    },
    /// An outgoing message's delivery state changed.
    DeliveryChanged {
        id: String,
        state: String,
    },
    PeerConnected {
        peer: String,
    },
    PeerDisconnected {
        peer: String,
    },
    /// A peer sent an invalid object (by gossip or sync).
    PeerMisbehaved {
        peer: String,
        rejected: u32,
    },
    /// A catch-up sync is fetching `total` objects from a peer; `received` so far were new.
    SyncProgress {
        peer: String,
        received: u64,
        total: u64,
    },
    /// A catch-up sync with a peer finished.
    SyncCompleted {
        peer: String,
        received: u64,
        sent: u64,
    },
}

/// The network side of `haggle status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkStatus {
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub connected_peers: usize,
    /// Peers subscribed to the listings topic.
    pub topic_peers: usize,
    /// Peers in this node's gossip mesh for the listings topic.
    pub mesh_peers: usize,
    /// Objects waiting for a peer to publish to.
    pub unpublished: usize,
    /// Sync sessions under way.
    pub syncing: usize,
    /// The last completed sync with each peer, most recent first.
    pub syncs: Vec<SyncInfo>,
}

/// The last completed catch-up sync with one peer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncInfo {
    pub peer: String,
    /// When it finished (unix ms).
    pub at: u64,
    /// Objects this node received that were new to it.
    pub received: u64,
    /// Objects the peer took from this node that were new to it.
    pub sent: u64,
    /// Reconciliation bytes exchanged (both ways).
    pub reconcile_bytes: u64,
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub addresses: Vec<String>,
    pub agent: Option<String>,
    /// gossipsub's score for the peer (negative after invalid messages).
    pub score: Option<f64>,
    /// Invalid objects this node rejected from the peer.
    pub rejected: u32,
}

/// Talks to a running node's event loop. Clone freely.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
}

impl NodeHandle {
    pub(crate) async fn send(&self, command: Command) -> Result<(), NodeGone> {
        self.commands.send(command).await.map_err(|_| NodeGone)
    }

    pub async fn publish(&self, bytes: Vec<u8>) -> Result<(), NodeGone> {
        self.send(Command::Publish { bytes }).await
    }

    pub async fn deliver(&self, to: PublicKey) -> Result<(), NodeGone> {
        self.send(Command::Deliver { to }).await
    }

    /// Connects to a peer (a multiaddr ending in /p2p/<PeerId>).
    pub async fn dial(&self, addr: libp2p::Multiaddr) -> Result<(), NodeGone> {
        self.send(Command::Dial { addr }).await
    }

    pub async fn status(&self) -> Result<NetworkStatus, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status { reply }).await?;
        rx.await.map_err(|_| NodeGone)
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Peers { reply }).await?;
        rx.await.map_err(|_| NodeGone)
    }

    /// Live events from now on. A subscriber that falls more than the channel's capacity behind
    /// misses the oldest events (and is told so by the receiver).
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Sends an event to every subscriber (used by the API for the owner's own actions).
    pub(crate) fn emit(&self, event: NodeEvent) {
        let _ = self.events.send(event);
    }
}
