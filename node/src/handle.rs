//! How the rest of the program talks to the event loop: a cheap-clone handle that sends
//! commands over a bounded channel (each with a oneshot reply where one is needed), and a
//! broadcast channel of events.

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::api::types::{GossipState, NetworkStatus, NodeEvent, PeerInfo};
use crate::error::NodeGone;
use crate::service::Followups;

/// Commands to the event loop.
#[derive(Debug)]
pub(crate) enum Command {
    /// Gossip an object already stored (a listing revision); the reply says whether it went out.
    Publish {
        bytes: Vec<u8>,
        reply: oneshot::Sender<GossipState>,
    },
    /// Carry out what an action of the owner's calls for (announce, gossip, deliver); the reply
    /// says whether what it gossiped went out.
    FollowUp {
        then: Followups,
        reply: oneshot::Sender<Option<GossipState>>,
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
    /// Ask a peer for part of a file.
    BlobRequest {
        peer: libp2p::PeerId,
        request: crate::files::wire::BlobRequest,
        reply: oneshot::Sender<Result<crate::files::wire::BlobResponse, String>>,
    },
    /// The peer sent something provably wrong (a file chunk that does not match its hash).
    Penalise {
        peer: libp2p::PeerId,
    },
    /// The connected peers' ids.
    Connected {
        reply: oneshot::Sender<Vec<libp2p::PeerId>>,
    },
}

/// Talks to a running node's event loop. Clone freely.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    /// The blob directory and the fetches under way.
    pub(crate) files: std::sync::Arc<crate::files::Files>,
    /// The events of the last minutes, for a client that reconnects.
    pub(crate) recent: crate::recent::RecentEvents,
}

impl NodeHandle {
    pub(crate) async fn send(&self, command: Command) -> Result<(), NodeGone> {
        self.commands.send(command).await.map_err(|_| NodeGone)
    }

    /// Gossips an object already stored; says whether it went out or waits for a peer.
    pub async fn publish(&self, bytes: Vec<u8>) -> Result<GossipState, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { bytes, reply }).await?;
        rx.await.map_err(|_| NodeGone)
    }

    /// Carries out what an action of the owner's calls for: announce, gossip, deliver. Says
    /// whether what it gossiped went out (`None` when there was nothing to gossip).
    pub(crate) async fn follow_up(&self, then: Followups) -> Result<Option<GossipState>, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::FollowUp { then, reply }).await?;
        rx.await.map_err(|_| NodeGone)
    }

    /// Connects to a peer (a multiaddr ending in /p2p/<PeerId>).
    pub async fn dial(&self, addr: libp2p::Multiaddr) -> Result<(), NodeGone> {
        self.send(Command::Dial { addr }).await
    }

    /// The network side of the node's status.
    pub async fn status(&self) -> Result<NetworkStatus, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status { reply }).await?;
        rx.await.map_err(|_| NodeGone)
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Peers { reply }).await?;
        rx.await.map_err(|_| NodeGone)
    }

    /// Asks `peer` for part of a file; an error says why no answer came.
    pub(crate) async fn blob_request(
        &self,
        peer: libp2p::PeerId,
        request: crate::files::wire::BlobRequest,
    ) -> Result<crate::files::wire::BlobResponse, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::BlobRequest { peer, request, reply }).await.map_err(|e| e.to_string())?;
        rx.await.map_err(|_| NodeGone.to_string())?
    }

    /// Counts an offence against `peer`.
    pub(crate) async fn penalise(&self, peer: libp2p::PeerId) {
        let _ = self.send(Command::Penalise { peer }).await;
    }

    /// The connected peers' ids.
    pub(crate) async fn connected_peers(&self) -> Result<Vec<libp2p::PeerId>, NodeGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Connected { reply }).await?;
        rx.await.map_err(|_| NodeGone)
    }

    /// The blob directory and the fetches under way.
    pub fn files(&self) -> &std::sync::Arc<crate::files::Files> {
        &self.files
    }

    /// Announces `event` to the event stream's subscribers, and keeps it a while for those that
    /// reconnect (see [`crate::recent`]).
    pub(crate) fn announce(&self, event: NodeEvent) {
        self.recent.keep(&event);
        let _ = self.events.send(event);
    }

    /// Live events from now on. A subscriber that falls more than the channel's capacity behind
    /// misses the oldest events (and is told so by the receiver).
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }
}
