//! The composed libp2p behaviour. The guard (per-IP caps, bans) and the connection limits come
//! first, so a denied connection never reaches the others.

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{connection_limits, gossipsub, identify, kad, mdns, ping, request_response};

use crate::codec::BincodeCodec;
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
    pub sync: request_response::Behaviour<BincodeCodec<SyncRequest, SyncResponse>>,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}
