//! The composed libp2p behaviour. The guard (per-IP caps, bans) and the connection limits come
//! first, so a denied connection never reaches the others.

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    autonat, connection_limits, dcutr, gossipsub, identify, kad, mdns, ping, relay, request_response, upnp,
};

use crate::codec::{BincodeCodec, StampedCodec};
use crate::party::{PartyRequest, PartyResponse};
use crate::sync::{SyncRequest, SyncResponse};
use crate::wire::{NegotiateRequest, NegotiateResponse};

pub(crate) type NegotiateBehaviour =
    request_response::Behaviour<BincodeCodec<NegotiateRequest, NegotiateResponse>>;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub guard: crate::guard::Guard,
    pub limits: connection_limits::Behaviour,
    pub gossipsub: gossipsub::Behaviour,
    pub negotiate: NegotiateBehaviour,
    pub sync: request_response::Behaviour<StampedCodec<SyncRequest, SyncResponse>>,
    /// Two parties' threads and deals, for the one that lacks some (`crate::party`).
    pub party: request_response::Behaviour<BincodeCodec<PartyRequest, PartyResponse>>,
    /// Parts of files by content hash.
    pub blobs: request_response::Behaviour<
        BincodeCodec<crate::files::wire::BlobRequest, crate::files::wire::BlobResponse>,
    >,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Asks peers to dial our candidate addresses back: are we reachable from outside?
    pub autonat: autonat::v2::client::Behaviour,
    /// Dials peers' candidate addresses back for them.
    pub autonat_server: autonat::v2::server::Behaviour,
    /// Carries connections for nodes behind NATs (while allowed; see `RelayMode`).
    pub relay: relay::Behaviour,
    /// Holds reservations on relays, and dials through them.
    pub relay_client: relay::client::Behaviour,
    /// Turns a relayed connection into a direct one (hole punching).
    pub dcutr: dcutr::Behaviour,
    /// Asks the router for a port mapping.
    pub upnp: Toggle<upnp::tokio::Behaviour>,
    /// An address observed over TCP is a candidate over QUIC too, and back (hole punching).
    pub candidates: crate::candidates::Candidates,
}
