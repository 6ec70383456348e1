//! Reachability for nodes behind NATs: whether peers can dial this node (AutoNAT v2), relay
//! reservations while they cannot (circuit relay v2), hole punching of relayed connections into
//! direct ones (DCUtR), the router's port mapping (UPnP), and the connections open to each peer
//! (direct or relayed, for `haggle peers` and for choosing where to send).
//!
//! The order of preference for reaching a party: a direct connection; a relayed one (through
//! one of the relays this node is connected to, tried alongside the party's own addresses);
//! the sealed mailbox carried by gossip when neither works. A relayed connection is closed as
//! soon as a direct one to the same peer exists, so requests never go round through a relay
//! when they need not, and bulk work (sync) is never started over a relay.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::core::ConnectedPoint;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId, autonat, dcutr, kad, relay, upnp};

use super::EventLoop;
use super::addresses;
use crate::api::types::{ConnectionView, HolePunches, NodeEvent, Reachability};
use crate::config::RelayMode;

/// Relays a private node keeps a reservation on (two, so losing one is not losing reachability).
const WANTED_RELAYS: usize = 2;
/// Relays tried as paths to a party this node has no connection to.
const RELAY_PATHS: usize = 2;
/// A node with no public address that has had peers this long without any of them confirming
/// an address of its own counts as private. AutoNAT reports a failed test only when the dial
/// back is refused; a home router drops it silently, and the test just times out unreported.
const ASSUME_PRIVATE_AFTER: Duration = Duration::from_secs(15);

/// How long negotiation messages for a peer reached only through a relay wait for hole punching
/// to give a direct connection (it answers within a second or two when it works; it tries three
/// times, 5 s apart, when it does not). Then they go through the relay.
const PUNCH_WAIT: Duration = Duration::from_secs(10);

/// After a failed hole punch (libp2p's DCUtR tries three times on one relayed connection),
/// another round starts this long after, over a new relayed connection (whose accepting side
/// starts the punch), at most [`PUNCH_ROUNDS`] times per peer while it stays connected. Timing
/// decides a punch (both sides must dial at once), so a busy machine can miss one round and
/// make the next.
const PUNCH_RETRY_AFTER: Duration = Duration::from_secs(20);
const PUNCH_ROUNDS: u32 = 3;

/// One open connection.
#[derive(Debug, Clone)]
struct Conn {
    peer: PeerId,
    /// The peer's address on it.
    remote: Multiaddr,
    /// Carried by a relay (on the accepting side only the local address says so).
    relayed: bool,
    outbound: bool,
}

/// What the loop knows about reaching and being reached. Every map is bounded by what it
/// mirrors: connections by the connection limits (entries go when a connection closes), relays
/// and hole punches under way by the connected peers (entries go when the peer leaves, or the
/// punch ends), reservations by [`WANTED_RELAYS`].
#[derive(Debug)]
pub(super) struct Reach {
    mode: RelayMode,
    conns: HashMap<ConnectionId, Conn>,
    /// Connected peers that offer to relay (they announced the relay protocol).
    relays: HashSet<PeerId>,
    /// Reservations asked for or held: listener → relay.
    reservations: HashMap<ListenerId, PeerId>,
    /// Relays that accepted a reservation (and still hold it).
    reserved: HashSet<PeerId>,
    /// Relays that refused or dropped a reservation: not asked again while connected (the entry
    /// goes when the peer leaves), so a full relay is not asked in a loop and others get a turn.
    refused: HashSet<PeerId>,
    /// AutoNAT tests of our candidate addresses that failed, and that succeeded.
    probes_failed: u64,
    probes_ok: u64,
    /// When this node first had a connection (the clock for [`ASSUME_PRIVATE_AFTER`]).
    first_connected: Option<Instant>,
    /// Reachability as last acted on (DHT mode, relay service, reservations).
    last: Reachability,
    /// Peers reached only through a relay, with when hole punching started (until it ends).
    punching: HashMap<PeerId, Instant>,
    /// Peers whose hole punch failed: rounds retried so far, and when the last ended or began.
    /// The entry goes when a direct connection opens or the peer leaves.
    punch_failed: HashMap<PeerId, (u32, Instant)>,
    punches: HolePunches,
    /// Per-node random salt for [`shuffled`].
    salt: u64,
    upnp: String,
}

impl Reach {
    pub(super) fn new(mode: RelayMode, upnp: bool) -> Self {
        Reach {
            mode,
            conns: HashMap::new(),
            relays: HashSet::new(),
            reservations: HashMap::new(),
            reserved: HashSet::new(),
            refused: HashSet::new(),
            probes_failed: 0,
            probes_ok: 0,
            first_connected: None,
            last: Reachability::Unknown,
            punching: HashMap::new(),
            punch_failed: HashMap::new(),
            punches: HolePunches::default(),
            salt: {
                let mut bytes = [0u8; 8];
                let _ = getrandom::fill(&mut bytes);
                u64::from_le_bytes(bytes)
            },
            upnp: if upnp { "searching".into() } else { "off".into() },
        }
    }

    pub(super) fn hole_punches(&self) -> HolePunches {
        self.punches
    }

    pub(super) fn upnp(&self) -> String {
        self.upnp.clone()
    }

    /// Whether the connection to `peer` carries a path this node relies on: `peer` holds a
    /// reservation for this node, is reached through a relay, or is the relay of one of this
    /// node's relayed connections.
    pub(super) fn carries(&self, peer: &PeerId) -> bool {
        self.reserved.contains(peer)
            || self.conns.values().any(|c| {
                c.relayed && (c.peer == *peer || relay_of(&c.remote).is_some_and(|relay| relay == *peer))
            })
    }

    /// Connected relays that refused (or dropped) a reservation and are not asked again while
    /// connected, for `haggle status` (a NAT trial's homes read "looks for a relay" beside a
    /// relay that had refused them).
    pub(super) fn relays_refused(&self) -> Vec<String> {
        let mut refused: Vec<String> = self.refused.iter().map(ToString::to_string).collect();
        refused.sort();
        refused
    }

    pub(super) fn relays_held(&self) -> Vec<String> {
        let mut held: Vec<String> = self.reserved.iter().map(ToString::to_string).collect();
        held.sort();
        held
    }

    /// The connections open to `peer`, for `haggle peers`.
    pub(super) fn connections(&self, peer: &PeerId) -> Vec<ConnectionView> {
        let mut out: Vec<ConnectionView> = self
            .conns
            .values()
            .filter(|c| c.peer == *peer)
            .map(|c| ConnectionView {
                address: c.remote.to_string(),
                relayed: c.relayed,
                transport: self.transport_of(c).into(),
                outbound: c.outbound,
            })
            .collect();
        out.sort_by_key(|c| c.relayed);
        out
    }

    /// A connection's transport: its address's, or for a relayed connection whose address
    /// names only the relay (one that came in through it), that of this node's own connection
    /// to the relay (a trial read `relayed other`).
    fn transport_of(&self, c: &Conn) -> &'static str {
        let direct_to = |relay: &PeerId| {
            self.conns.values().find(|r| r.peer == *relay && !r.relayed).map(|r| transport(&r.remote))
        };
        match (transport(&c.remote), relay_of(&c.remote)) {
            ("other", Some(relay)) if c.relayed => direct_to(&relay).unwrap_or("other"),
            // An address that names no relay at all (`/p2p-circuit` alone, as a circuit in
            // arrives): it came through a relay holding this node's reservation (a retrial
            // read `relayed other` on the receiving side).
            ("other", None) if c.relayed => self.reserved.iter().find_map(direct_to).unwrap_or("other"),
            (known, _) => known,
        }
    }

    /// Whether messages for `peer` should wait a moment: it is reached only through a relay and
    /// hole punching may soon give a direct connection.
    pub(super) fn awaits_punch(&self, peer: &PeerId) -> bool {
        !self.is_direct(peer) && self.punching.get(peer).is_some_and(|at| at.elapsed() < PUNCH_WAIT)
    }

    /// Whether `peer` has a direct (not relayed) connection.
    pub(super) fn is_direct(&self, peer: &PeerId) -> bool {
        self.conns.values().any(|c| c.peer == *peer && !c.relayed)
    }

    /// Whether `peer` has a connection opened after `than` (connection ids only grow).
    pub(super) fn has_newer(&self, peer: &PeerId, than: ConnectionId) -> bool {
        self.conns.iter().any(|(id, c)| c.peer == *peer && *id > than)
    }

    /// Whether `peer` has a connection opened before `than`.
    pub(super) fn has_older(&self, peer: &PeerId, than: ConnectionId) -> bool {
        self.conns.iter().any(|(id, c)| c.peer == *peer && *id < than)
    }
}

/// A sort key for `peer` that strangers cannot aim for: a hash of its id with this node's salt.
fn shuffled(peer: &PeerId, salt: u64) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(&salt.to_le_bytes());
    h.update(&peer.to_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

/// Whether the address goes through a relay.
pub(crate) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// The relay a relayed address goes through: the last peer before the circuit.
fn relay_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut relay = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(peer) => relay = Some(peer),
            Protocol::P2pCircuit => return relay,
            _ => {}
        }
    }
    None
}

/// `quic` or `tcp` (or `other`), for the part of the address before any relay hop.
fn transport(addr: &Multiaddr) -> &'static str {
    for p in addr.iter() {
        match p {
            Protocol::QuicV1 | Protocol::Quic => return "quic",
            Protocol::Tcp(_) => return "tcp",
            _ => {}
        }
    }
    "other"
}

impl EventLoop {
    /// Whether other nodes can dial this one. Public: it has a confirmed address that is not
    /// through a relay (global, or loopback on a loopback-only node); private: a peer failed to
    /// dial it back, or none has confirmed an address within [`ASSUME_PRIVATE_AFTER`] of the
    /// first connection; else unknown.
    pub(super) fn reachability(&self) -> Reachability {
        let loopback_only = addresses::loopback_only(self.swarm.listeners());
        let direct = self
            .swarm
            .external_addresses()
            .any(|a| !is_relayed(a) && addresses::advertised(a, loopback_only, false));
        let waited = self.reach.first_connected.is_some_and(|at| at.elapsed() >= ASSUME_PRIVATE_AFTER);
        if direct {
            Reachability::Public
        } else if self.reach.probes_failed > 0 || waited {
            Reachability::Private
        } else {
            Reachability::Unknown
        }
    }

    /// Whether this node's relay is set `on` (not `auto`): such a relay tells peers its private
    /// addresses too when it is on a private network (see [`addresses::advertise`]).
    pub(super) fn relay_set_on(&self) -> bool {
        self.reach.mode == RelayMode::On
    }

    /// Whether an address confirmed as ours that is private is kept: a relay set `on` on a
    /// private network (see [`addresses::advertise`]).
    fn keeps_private_addresses(&self) -> bool {
        self.relay_set_on() && addresses::private_network(self.swarm.listeners())
    }

    /// Whether this node offers to relay for others now (in `auto` mode: while public).
    pub(super) fn relaying(&self) -> bool {
        match self.reach.mode {
            RelayMode::On => true,
            RelayMode::Off => false,
            RelayMode::Auto => self.reachability() == Reachability::Public,
        }
    }

    pub(super) fn on_connection_opened(&mut self, id: ConnectionId, peer: PeerId, endpoint: &ConnectedPoint) {
        self.reach.first_connected.get_or_insert_with(Instant::now);
        let remote = endpoint.get_remote_address().clone();
        let relayed = endpoint.is_relayed();
        self.reach.conns.insert(id, Conn { peer, remote, relayed, outbound: endpoint.is_dialer() });
        let direct = !relayed;
        if relayed && self.reach.conns.iter().any(|(other, c)| *other != id && c.peer == peer && !c.relayed) {
            // A relayed connection that opened after a direct one (both were being dialled):
            // the direct one serves, so this one goes at once and frees the relay's circuit.
            tracing::debug!(%peer, "relayed connection opened beside a direct one; closing it");
            self.swarm.close_connection(id);
            return;
        }
        if relayed {
            self.reach.punching.entry(peer).or_insert_with(Instant::now);
        }
        if direct {
            self.reach.punching.remove(&peer);
            self.reach.punch_failed.remove(&peer);
            // A direct connection makes any relayed one to the same peer redundant: close it,
            // so every request goes the short way and the relay's circuit is freed.
            let relayed: Vec<ConnectionId> = self
                .reach
                .conns
                .iter()
                .filter(|(_, c)| c.peer == peer && c.relayed)
                .map(|(id, _)| *id)
                .collect();
            for id in relayed {
                tracing::debug!(%peer, "direct connection open; closing the relayed one");
                self.swarm.close_connection(id);
            }
        }
    }

    /// Whether connection `id` goes through a relay.
    pub(super) fn is_relayed(&self, id: ConnectionId) -> bool {
        self.reach.conns.get(&id).is_some_and(|c| c.relayed)
    }

    pub(super) fn on_connection_closed(&mut self, id: ConnectionId) {
        self.reach.conns.remove(&id);
    }

    /// The peer left: it relays for us no more.
    pub(super) fn forget_relay(&mut self, peer: &PeerId) {
        self.reach.relays.remove(peer);
        self.reach.punching.remove(peer);
        self.reach.punch_failed.remove(peer);
        self.reach.refused.remove(peer);
        // Its reservation ends with the connection (the listener's close confirms it later).
        self.reach.reserved.remove(peer);
    }

    /// What identify told about a peer's protocols: whether it relays.
    /// `round`: the identify counts as a new round (see `IDENTIFY_ROUND`).
    pub(super) fn note_protocols(&mut self, peer: PeerId, protocols: &[libp2p::StreamProtocol], round: bool) {
        let relays = protocols.contains(&relay::HOP_PROTOCOL_NAME);
        tracing::debug!(%peer, relays, "identified");
        // A new identify (a reconnect, or the periodic one) gives a relay that refused us another
        // chance: at most once per identify round.
        if round {
            self.reach.refused.remove(&peer);
        }
        // Entries are only for connected peers (an event can trail the disconnect that
        // already cleared them): every PeerId set here empties when the peer leaves.
        if relays && self.swarm.is_connected(&peer) {
            self.reach.relays.insert(peer);
            self.reserve_relays();
        } else {
            self.reach.relays.remove(&peer);
        }
    }

    /// A private node keeps reservations on [`WANTED_RELAYS`] relays it has a direct connection
    /// to, and advertises the relayed addresses they give it.
    pub(super) fn reserve_relays(&mut self) {
        if self.reachability() != Reachability::Private {
            return;
        }
        let asked: HashSet<PeerId> = self.reach.reservations.values().copied().collect();
        let mut candidates: Vec<(PeerId, Multiaddr)> = Vec::new();
        for peer in &self.reach.relays {
            if asked.contains(peer) || self.reach.refused.contains(peer) {
                continue;
            }
            // The relay's own address: a connection this node dialled, not relayed.
            if let Some(c) = self.reach.conns.values().find(|c| c.peer == *peer && c.outbound && !c.relayed) {
                candidates.push((*peer, c.remote.clone()));
            }
        }
        // In an order no peer can choose (a low PeerId would otherwise make a stranger every
        // private node's first relay).
        candidates.sort_by_key(|(p, _)| shuffled(p, self.reach.salt));
        for (relay, addr) in candidates.into_iter().take(WANTED_RELAYS.saturating_sub(asked.len())) {
            let circuit = without_p2p(addr).with(Protocol::P2p(relay)).with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(listener) => {
                    tracing::info!(%relay, "asking a relay for a reservation");
                    self.reach.reservations.insert(listener, relay);
                }
                Err(e) => tracing::debug!(%relay, error = %e, "cannot listen through the relay"),
            }
        }
    }

    /// A listener ended: if it was a relay reservation, another relay is asked.
    pub(super) fn on_listener_closed(&mut self, listener: ListenerId, error: Option<std::io::Error>) {
        if let Some(relay) = self.reach.reservations.remove(&listener) {
            // A reservation never accepted was refused (the relay is full, or relays for
            // nobody now): said so, with the relay's reason, so an operator can tell.
            // One that ended with the relay's connection was held (forgetting the relay took
            // it from `reserved` first).
            let held = self.reach.reserved.remove(&relay) || !self.swarm.is_connected(&relay);
            let what = if held { "relay reservation ended" } else { "relay refused a reservation" };
            match error {
                Some(e) => tracing::info!(%relay, error = %e, "{what}"),
                None => tracing::info!(%relay, "{what}"),
            }
            // Refused, or ended while still connected: try the others first (until identify
            // tells of the relay again; a relay that left is simply gone).
            if self.swarm.is_connected(&relay) {
                self.reach.refused.insert(relay);
            }
            self.reserve_relays();
        }
    }

    /// Paths to `peer` through relays this node is directly connected to (the peer is found there
    /// if it holds a reservation), tried alongside its own addresses.
    pub(super) fn relay_paths(&self, peer: &PeerId) -> Vec<Multiaddr> {
        let mut relays: Vec<&PeerId> = self.reach.relays.iter().filter(|r| *r != peer).collect();
        relays.sort_by_key(|r| shuffled(r, self.reach.salt));
        relays
            .into_iter()
            .filter_map(|relay| {
                let c = self.reach.conns.values().find(|c| c.peer == *relay && c.outbound && !c.relayed)?;
                Some(without_p2p(c.remote.clone()).with(Protocol::P2p(*relay)).with(Protocol::P2pCircuit))
            })
            .take(RELAY_PATHS)
            .collect()
    }

    pub(super) fn on_autonat(&mut self, event: autonat::v2::client::Event) {
        match &event.result {
            Ok(()) => {
                self.reach.probes_ok += 1;
                tracing::info!(addr = %event.tested_addr, server = %event.server, "reachable at this address");
            }
            Err(e) => {
                self.reach.probes_failed += 1;
                tracing::debug!(addr = %event.tested_addr, server = %event.server, error = %e, "not reachable at this address");
            }
        }
        self.check_reachability();
    }

    /// An address was confirmed as ours (AutoNAT, UPnP, a listen address, a relay reservation).
    /// Address hygiene: a private, loopback or link-local one (say, a LAN peer dialled it back,
    /// or a relay reached over the LAN) is not kept unless the node listens on loopback alone.
    pub(super) fn on_external_confirmed(&mut self, addr: Multiaddr) {
        let loopback_only = addresses::loopback_only(self.swarm.listeners());
        if !addresses::advertised(&addr, loopback_only, self.keeps_private_addresses()) {
            self.swarm.remove_external_address(&addr);
            return;
        }
        tracing::info!(%addr, "confirmed external address");
        self.update_kad_mode();
    }

    pub(super) fn on_external_expired(&mut self) {
        self.update_kad_mode();
    }

    /// Acts on a change of reachability (also one that comes with time, so the loop calls this
    /// on its tick): the DHT mode, the relay service, and relay reservations.
    pub(super) fn check_reachability(&mut self) {
        let now = self.reachability();
        if now != self.reach.last {
            tracing::info!(?now, "reachability changed");
            self.reach.last = now;
            self.emit(NodeEvent::ReachabilityChanged { reachability: now });
            self.update_kad_mode();
            if now == Reachability::Public {
                // Dialable directly now (a port mapping, say): the relays' slots go back.
                for (listener, _) in std::mem::take(&mut self.reach.reservations) {
                    self.swarm.remove_listener(listener);
                }
                self.reach.reserved.clear();
            }
            self.reserve_relays();
        }
    }

    /// Kademlia answers queries (server mode) only while this node is publicly reachable: peers
    /// that cannot dial it must not keep it in their routing tables.
    pub(super) fn update_kad_mode(&mut self) {
        let mode =
            if self.reachability() == Reachability::Public { kad::Mode::Server } else { kad::Mode::Client };
        self.swarm.behaviour_mut().kad.set_mode(Some(mode));
        if self.reach.mode == RelayMode::Auto {
            let status =
                if mode == kad::Mode::Server { relay::Status::Enable } else { relay::Status::Disable };
            self.swarm.behaviour_mut().relay.set_status(Some(status));
        }
    }

    pub(super) fn on_relay_client(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted { relay_peer_id, renewal, .. } => {
                if !renewal {
                    tracing::info!(relay = %relay_peer_id, "relay reservation accepted");
                }
                if self.swarm.is_connected(&relay_peer_id) {
                    self.reach.reserved.insert(relay_peer_id);
                }
            }
            relay::client::Event::OutboundCircuitEstablished { relay_peer_id, .. } => {
                tracing::debug!(relay = %relay_peer_id, "relayed connection out");
            }
            relay::client::Event::InboundCircuitEstablished { src_peer_id, .. } => {
                tracing::debug!(peer = %src_peer_id, "relayed connection in");
            }
        }
    }

    pub(super) fn on_dcutr(&mut self, event: dcutr::Event) {
        // Either way, what waited for the outcome goes now (direct, or through the relay).
        self.reach.punching.remove(&event.remote_peer_id);
        self.retry_outbox(Some(event.remote_peer_id));
        match event.result {
            Ok(_) => {
                self.reach.punches.succeeded += 1;
                tracing::info!(peer = %event.remote_peer_id, "hole punched: direct connection");
            }
            Err(e) => {
                self.reach.punches.failed += 1;
                tracing::info!(peer = %event.remote_peer_id, error = %e, "hole punching failed; staying relayed");
                if self.swarm.is_connected(&event.remote_peer_id) {
                    let now = Instant::now();
                    self.reach
                        .punch_failed
                        .entry(event.remote_peer_id)
                        .and_modify(|e| e.1 = now)
                        .or_insert((0, now));
                }
            }
        }
    }

    /// Starts another round of hole punching with peers whose last one failed a while ago and
    /// that are still reached only through a relay: a new relayed connection to them (see
    /// [`PUNCH_RETRY_AFTER`]). Called on the redial tick.
    pub(super) fn retry_punches(&mut self) {
        let due: Vec<PeerId> = self
            .reach
            .punch_failed
            .iter()
            .filter(|(peer, (rounds, at))| {
                *rounds < PUNCH_ROUNDS
                    && at.elapsed() >= PUNCH_RETRY_AFTER
                    && !self.reach.is_direct(peer)
                    && self.reach.conns.values().any(|c| c.peer == **peer && c.relayed)
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            let paths = self.relay_paths(&peer);
            if let Some(entry) = self.reach.punch_failed.get_mut(&peer) {
                *entry = (entry.0 + 1, Instant::now());
            }
            if paths.is_empty() {
                continue;
            }
            tracing::info!(%peer, "trying hole punching again over a new relayed connection");
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                .addresses(paths)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot open a new relayed connection");
            }
        }
    }

    pub(super) fn on_upnp(&mut self, event: upnp::Event) {
        self.reach.upnp = match event {
            upnp::Event::NewExternalAddr { external_addr, .. } => {
                tracing::info!(%external_addr, "the router maps a port to this node (UPnP)");
                format!("mapped {external_addr}")
            }
            upnp::Event::ExpiredExternalAddr { .. } => "mapping expired".into(),
            upnp::Event::GatewayNotFound => "no gateway".into(),
            upnp::Event::NonRoutableGateway => "gateway not routable".into(),
        };
    }
}

/// `addr` without a trailing `/p2p/<id>`.
fn without_p2p(mut addr: Multiaddr) -> Multiaddr {
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Multiaddr {
        text.parse().expect("a multiaddr")
    }

    #[test]
    fn connections_are_told_apart_by_path_and_transport() {
        let relayed = addr(
            "/ip4/198.18.0.1/tcp/7400/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5/p2p-circuit",
        );
        assert!(is_relayed(&relayed));
        assert_eq!(transport(&relayed), "tcp");
        let quic = addr("/ip4/198.18.0.11/udp/7400/quic-v1");
        assert!(!is_relayed(&quic));
        assert_eq!(transport(&quic), "quic");
        assert_eq!(
            without_p2p(addr("/ip4/1.2.3.4/tcp/1/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5")),
            addr("/ip4/1.2.3.4/tcp/1")
        );
        let relay: PeerId =
            "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5".parse().expect("a peer id");
        assert_eq!(relay_of(&relayed), Some(relay));
        assert_eq!(relay_of(&relayed.clone().with(Protocol::P2p(PeerId::random()))), Some(relay));
        assert_eq!(relay_of(&quic), None);
    }

    /// A connection that came in through a relay names only the relay, or no relay at all: its
    /// transport is that of the connection to the relay (one holding this node's reservation).
    #[test]
    fn a_relayed_connection_in_takes_its_relays_transport() {
        let mut reach = Reach::new(RelayMode::Auto, false);
        let (relay, peer) = (PeerId::random(), PeerId::random());
        let to_relay = Conn {
            peer: relay,
            remote: addr("/ip4/198.18.0.1/udp/7000/quic-v1"),
            relayed: false,
            outbound: true,
        };
        let inbound = Conn {
            peer,
            remote: Multiaddr::empty().with(Protocol::P2p(relay)).with(Protocol::P2pCircuit),
            relayed: true,
            outbound: false,
        };
        reach.conns.insert(ConnectionId::new_unchecked(1), to_relay);
        reach.conns.insert(ConnectionId::new_unchecked(2), inbound);
        let seen = reach.connections(&peer);
        assert_eq!((seen.len(), seen[0].transport.as_str(), seen[0].relayed), (1, "quic", true));
        let other = PeerId::random();
        let bare = Conn {
            peer: other,
            remote: Multiaddr::empty().with(Protocol::P2pCircuit),
            relayed: true,
            outbound: false,
        };
        reach.conns.insert(ConnectionId::new_unchecked(3), bare);
        assert_eq!(reach.connections(&other)[0].transport, "other", "no reservation: unknown");
        reach.reserved.insert(relay);
        assert_eq!(reach.connections(&other)[0].transport, "quic", "through the relay reserved");
    }
}
