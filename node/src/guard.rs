//! The connection guard: a behaviour that refuses connections before any protocol runs on them.
//! It caps inbound connections per remote IP (pending handshakes included, so one address cannot
//! fill the inbound slots or make us pay for many Noise handshakes), and it refuses every
//! connection, either way, with a banned peer for as long as its ban lasts.
//!
//! The event loop decides bans (`PeerTable`) and tells the guard; the guard only enforces them,
//! so a banned peer that reconnects is turned away at the door instead of being let in and
//! dropped again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::Instant;

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Bans remembered at once (as many as the loop remembers offenders).
const MAX_BANNED: usize = 1_024;
/// Inbound handshakes one remote IP may have under way at once (loopback aside: tests and
/// development). The node takes 32 pending inbound connections in all: with 8 per address, four
/// addresses stalling their handshakes (renewed every 10 s, libp2p's timeout) kept every new
/// peer out; with 2, it takes sixteen.
const MAX_PENDING_PER_IP: usize = 2;

/// Why the guard refused a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// The remote IP already has as many inbound connections as one address may.
    #[error("{ip} already has {max} inbound connection{}", if *max == 1 { "" } else { "s" })]
    TooManyFromIp {
        /// The remote address.
        ip: IpAddr,
        /// The cap.
        max: usize,
    },
    /// The remote IP already has as many handshakes under way as one address may.
    #[error("{ip} already has {max} inbound handshake{} under way", if *max == 1 { "" } else { "s" })]
    TooManyPendingFromIp {
        /// The remote address.
        ip: IpAddr,
        /// The cap.
        max: usize,
    },
    /// The peer is banned for invalid objects.
    #[error("banned for invalid objects")]
    Banned,
}

/// How often refused inbound connections are told in the log at most: each one would let a
/// stranger write a line per attempt.
const TELL_REFUSALS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Tells the operator, in the log, that the guard refused inbound connections (a trial's
/// operator set `max_inbound_per_ip` and saw nothing of it on the node that refused): the first
/// refusal at once, then at most one line per [`TELL_REFUSALS_EVERY`] with how many there were.
/// Two counters and a time, whatever the number of addresses.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    /// Refusals not told yet.
    untold: u64,
    /// When a line was last written.
    told_at: Option<Instant>,
}

impl RefusalLog {
    /// Notes one refusal; returns how many to tell now (this one included), if a
    /// line is due.
    pub(crate) fn note(&mut self, now: Instant) -> Option<u64> {
        self.untold += 1;
        if self.told_at.is_some_and(|at| now.duration_since(at) < TELL_REFUSALS_EVERY) {
            return None;
        }
        self.told_at = Some(now);
        Some(std::mem::take(&mut self.untold))
    }
}

impl Refused {
    /// What sets the limit refused, for the log.
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            Refused::TooManyFromIp { .. } => " (max_inbound_per_ip in config.toml sets the cap)",
            Refused::TooManyPendingFromIp { .. } => " (a fixed cap against stalled handshakes)",
            Refused::Banned => " (for an hour after its invalid objects)",
        }
    }
}

/// Whether an inbound connection's error is the guard's refusal, and which.
pub(crate) fn refusal(error: &libp2p::swarm::ListenError) -> Option<&Refused> {
    match error {
        libp2p::swarm::ListenError::Denied { cause } => cause.downcast_ref::<Refused>(),
        _ => None,
    }
}

/// Per-IP caps and bans; see the module docs.
#[derive(Debug)]
pub(crate) struct Guard {
    max_per_ip: usize,
    /// Inbound connections (pending or established) by connection, with their remote IP.
    inbound: HashMap<ConnectionId, IpAddr>,
    /// How many of `inbound` each IP has.
    per_ip: HashMap<IpAddr, usize>,
    /// Of `inbound`, the connections whose handshake is under way.
    pending: std::collections::HashSet<ConnectionId>,
    /// How many of `pending` each IP has.
    pending_per_ip: HashMap<IpAddr, usize>,
    /// Banned peers and when each ban ends.
    banned: HashMap<PeerId, Instant>,
}

impl Guard {
    pub(crate) fn new(max_per_ip: usize) -> Self {
        Guard {
            max_per_ip: max_per_ip.max(1),
            inbound: HashMap::new(),
            per_ip: HashMap::new(),
            pending: std::collections::HashSet::new(),
            pending_per_ip: HashMap::new(),
            banned: HashMap::new(),
        }
    }

    /// Refuses every connection with `peer` until `until`.
    pub(crate) fn ban(&mut self, peer: PeerId, until: Instant) {
        if self.banned.len() >= MAX_BANNED && !self.banned.contains_key(&peer) {
            let now = Instant::now();
            self.banned.retain(|_, end| *end > now);
            if self.banned.len() >= MAX_BANNED
                && let Some(first) = self.banned.iter().min_by_key(|(_, end)| **end).map(|(p, _)| *p)
            {
                self.banned.remove(&first);
            }
        }
        self.banned.insert(peer, until);
    }

    /// Forgets bans that have run out (the loop's periodic prune).
    pub(crate) fn prune(&mut self, now: Instant) {
        self.banned.retain(|_, until| *until > now);
    }

    /// Whether `peer` is banned now.
    pub(crate) fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.get(peer).is_some_and(|until| *until > Instant::now())
    }

    /// Lifts a ban early (the loop forgot the peer's record).
    pub(crate) fn unban(&mut self, peer: &PeerId) {
        self.banned.remove(peer);
    }

    fn check_ban(&mut self, peer: &PeerId) -> Result<(), ConnectionDenied> {
        match self.banned.get(peer) {
            Some(until) if *until > Instant::now() => Err(ConnectionDenied::new(Refused::Banned)),
            Some(_) => {
                self.banned.remove(peer);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Inbound connections counted against `ip` (for tests).
    #[cfg(test)]
    fn count(&self, ip: &IpAddr) -> usize {
        self.per_ip.get(ip).copied().unwrap_or(0)
    }

    /// The connection's handshake is over (it was established, or failed).
    fn handshake_over(&mut self, connection: &ConnectionId) {
        if self.pending.remove(connection)
            && let Some(ip) = self.inbound.get(connection)
            && let Some(n) = self.pending_per_ip.get_mut(ip)
        {
            *n -= 1;
            if *n == 0 {
                self.pending_per_ip.remove(ip);
            }
        }
    }

    fn forget(&mut self, connection: &ConnectionId) {
        self.handshake_over(connection);
        if let Some(ip) = self.inbound.remove(connection)
            && let Some(n) = self.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

/// The IP address a multiaddr starts with, if any.
pub(crate) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

impl NetworkBehaviour for Guard {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote_addr) else { return Ok(()) };
        let count = self.per_ip.get(&ip).copied().unwrap_or(0);
        if count >= self.max_per_ip {
            return Err(ConnectionDenied::new(Refused::TooManyFromIp { ip, max: self.max_per_ip }));
        }
        let pending = self.pending_per_ip.get(&ip).copied().unwrap_or(0);
        if !ip.is_loopback() && pending >= MAX_PENDING_PER_IP {
            return Err(ConnectionDenied::new(Refused::TooManyPendingFromIp { ip, max: MAX_PENDING_PER_IP }));
        }
        *self.per_ip.entry(ip).or_default() += 1;
        *self.pending_per_ip.entry(ip).or_default() += 1;
        self.inbound.insert(connection_id, ip);
        self.pending.insert(connection_id);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.handshake_over(&connection_id);
        self.check_ban(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check_ban(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                // Only inbound connections were recorded; a dial of ours never counts.
                self.forget(&connection_id)
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/5000").parse().expect("valid")
    }

    #[test]
    fn one_address_gets_at_most_its_share_of_inbound_connections() {
        let mut guard = Guard::new(2);
        let local = addr("127.0.0.1");
        let ids: Vec<ConnectionId> = (0..4).map(|_| ConnectionId::new_unchecked(rand_id())).collect();
        assert!(guard.handle_pending_inbound_connection(ids[0], &local, &addr("10.0.0.1")).is_ok());
        assert!(guard.handle_pending_inbound_connection(ids[1], &local, &addr("10.0.0.1")).is_ok());
        assert!(guard.handle_pending_inbound_connection(ids[2], &local, &addr("10.0.0.1")).is_err());
        assert!(guard.handle_pending_inbound_connection(ids[3], &local, &addr("10.0.0.2")).is_ok());
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        assert_eq!(guard.count(&ip), 2);
        // A closed connection gives its slot back, and the map shrinks to nothing.
        guard.forget(&ids[0]);
        guard.forget(&ids[1]);
        guard.forget(&ids[3]);
        assert_eq!(guard.count(&ip), 0);
        assert!(guard.per_ip.is_empty() && guard.inbound.is_empty());
        assert!(guard.pending.is_empty() && guard.pending_per_ip.is_empty());
    }

    /// Attack: four addresses stalling 8 handshakes each filled the node's 32 pending inbound
    /// connections, and no new peer got in. One address may have 2 handshakes under way; an
    /// established connection gives its place back (and keeps its place among the 8).
    #[test]
    fn one_address_has_at_most_two_handshakes_under_way() {
        let mut guard = Guard::new(8);
        let local = addr("127.0.0.1");
        let ids: Vec<ConnectionId> = (0..5).map(|_| ConnectionId::new_unchecked(rand_id())).collect();
        let staller = addr("203.0.113.9");
        assert!(guard.handle_pending_inbound_connection(ids[0], &local, &staller).is_ok());
        assert!(guard.handle_pending_inbound_connection(ids[1], &local, &staller).is_ok());
        let third = guard.handle_pending_inbound_connection(ids[2], &local, &staller);
        assert!(third.is_err(), "a third handshake under way (8 connections are allowed)");
        assert!(guard.handle_pending_inbound_connection(ids[3], &local, &addr("203.0.113.10")).is_ok());
        // One handshake completes: room for another.
        let peer = PeerId::random();
        assert!(guard.handle_established_inbound_connection(ids[0], peer, &local, &staller).is_ok());
        assert!(guard.handle_pending_inbound_connection(ids[2], &local, &staller).is_ok());
        let ip: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(guard.count(&ip), 3);
        // Loopback is not held to it (tests, development).
        for _ in 0..4 {
            let id = ConnectionId::new_unchecked(rand_id());
            assert!(guard.handle_pending_inbound_connection(id, &local, &local).is_ok());
        }
        for id in &ids {
            guard.forget(id);
        }
        assert!(guard.pending_per_ip.keys().all(IpAddr::is_loopback));
    }

    /// The first refusal is told at once, the next ones at most once a minute, counted.
    #[test]
    fn refusals_are_told_at_most_once_a_minute() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        assert_eq!(log.note(start), Some(1), "the first at once");
        for n in 1..100 {
            assert_eq!(log.note(start + std::time::Duration::from_secs(n % 59)), None);
        }
        assert_eq!(log.note(start + TELL_REFUSALS_EVERY), Some(100), "99 held back and this one");
        assert_eq!(log.note(start + TELL_REFUSALS_EVERY), None);
    }

    #[test]
    fn a_banned_peer_is_refused_until_the_ban_ends_and_bans_are_bounded() {
        let mut guard = Guard::new(8);
        let peer = PeerId::random();
        guard.ban(peer, Instant::now() + std::time::Duration::from_secs(60));
        assert!(guard.check_ban(&peer).is_err());
        guard.ban(peer, Instant::now());
        assert!(guard.check_ban(&peer).is_ok(), "an ended ban lets the peer in");
        assert!(guard.banned.is_empty(), "and is forgotten");
        let later = Instant::now() + std::time::Duration::from_secs(60);
        for _ in 0..MAX_BANNED + 10 {
            guard.ban(PeerId::random(), later);
        }
        assert_eq!(guard.banned.len(), MAX_BANNED);
        guard.prune(later);
        assert!(guard.banned.is_empty(), "bans that ran out are pruned");
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
