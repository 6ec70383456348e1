//! Address candidates across transports. identify reports the address a peer observed for the
//! connection it came over: TCP or QUIC, whichever the dial happened to use. A home router that
//! keeps a connection's source port (Linux masquerade and most home routers do, for TCP and UDP
//! alike) maps this node's TCP and QUIC ports the same way, so an observed
//! `/ip4/X/tcp/P` makes `/ip4/X/udp/P/quic-v1` a candidate too when the node listens on both
//! with port P (the default, 7400), and the other way round.
//!
//! Hole punching needs it: each side dials the other's candidates and so opens its own NAT for
//! those transports only. Two homes that reached their relay one over TCP and one over QUIC
//! would otherwise each open a different transport, and neither punch would get through (seen
//! in the NAT test about one run in three). Candidates are only candidates: AutoNAT tests them
//! before anything is confirmed.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::task::{Context, Poll, Waker};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, ExpiredListenAddr, FromSwarm, NetworkBehaviour, NewExternalAddrCandidate,
    NewListenAddr, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Candidates remembered (so one is reported once, and a translation is not translated back).
const MAX_SEEN: usize = 64;

/// The behaviour: reports the other transport's candidate for each observed one.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    /// Listen addresses per (QUIC, port) pair: a pair stays while any interface listens on it.
    listening: HashMap<(bool, u16), usize>,
    seen: VecDeque<Multiaddr>,
    queue: VecDeque<Multiaddr>,
    waker: Option<Waker>,
}

/// `(is QUIC, port)` of a plain IP address with TCP or QUIC, without a relay hop.
fn transport_port(addr: &Multiaddr) -> Option<(bool, u16)> {
    let mut parts = addr.iter();
    if !matches!(parts.next()?, Protocol::Ip4(_) | Protocol::Ip6(_)) {
        return None;
    }
    let found = match (parts.next()?, parts.next()) {
        (Protocol::Tcp(port), None) => return Some((false, port)),
        (Protocol::Tcp(port), Some(Protocol::P2p(_))) => (false, port),
        (Protocol::Udp(port), Some(Protocol::QuicV1)) => (true, port),
        _ => return None,
    };
    // At most a trailing `/p2p/<id>`: nothing through a relay.
    match (parts.next(), parts.next()) {
        (None, _) | (Some(Protocol::P2p(_)), None) => Some(found),
        _ => None,
    }
}

/// The same IP and port over the other transport.
pub(crate) fn other_transport(addr: &Multiaddr) -> Option<Multiaddr> {
    let (quic, port) = transport_port(addr)?;
    let ip = addr.iter().next()?;
    let base = Multiaddr::empty().with(ip);
    Some(if quic {
        base.with(Protocol::Tcp(port))
    } else {
        base.with(Protocol::Udp(port)).with(Protocol::QuicV1)
    })
}

impl Candidates {
    fn remember(&mut self, addr: Multiaddr) -> bool {
        if self.seen.contains(&addr) {
            return false;
        }
        if self.seen.len() >= MAX_SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back(addr);
        true
    }

    fn observed(&mut self, addr: &Multiaddr) {
        self.remember(addr.clone());
        let Some(other) = other_transport(addr) else { return };
        let Some(wanted) = transport_port(&other) else { return };
        if self.listening.contains_key(&wanted) && self.remember(other.clone()) {
            self.queue.push_back(other);
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }
}

impl NetworkBehaviour for Candidates {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::NewListenAddr(NewListenAddr { addr, .. }) => {
                if let Some(tp) = transport_port(addr) {
                    *self.listening.entry(tp).or_default() += 1;
                }
            }
            FromSwarm::ExpiredListenAddr(ExpiredListenAddr { addr, .. }) => {
                if let Some(tp) = transport_port(addr)
                    && let Some(n) = self.listening.get_mut(&tp)
                {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.listening.remove(&tp);
                    }
                }
            }
            FromSwarm::NewExternalAddrCandidate(NewExternalAddrCandidate { addr }) => self.observed(addr),
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self.queue.pop_front() {
            Some(addr) => Poll::Ready(ToSwarm::NewExternalAddrCandidate(addr)),
            None => {
                self.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Multiaddr {
        text.parse().expect("a multiaddr")
    }

    #[test]
    fn an_observed_address_is_a_candidate_for_the_other_transport_on_the_same_port() {
        let mut c = Candidates::default();
        c.listening.extend([((false, 7400), 2), ((true, 7400), 2)]);
        c.observed(&addr("/ip4/198.18.0.11/tcp/7400"));
        assert_eq!(c.queue.pop_front(), Some(addr("/ip4/198.18.0.11/udp/7400/quic-v1")));
        // Its own report comes back as a candidate: not translated back, nor twice.
        c.observed(&addr("/ip4/198.18.0.11/udp/7400/quic-v1"));
        c.observed(&addr("/ip4/198.18.0.11/tcp/7400"));
        assert!(c.queue.is_empty());
        // Not listening on QUIC at 7401: no candidate.
        c.observed(&addr("/ip4/198.18.0.11/tcp/7401"));
        assert!(c.queue.is_empty());
        assert_eq!(
            other_transport(&addr(
                "/ip4/1.2.3.4/tcp/1/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"
            )),
            Some(addr("/ip4/1.2.3.4/udp/1/quic-v1"))
        );
        assert_eq!(
            other_transport(&addr(
                "/ip4/1.2.3.4/tcp/1/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5/p2p-circuit"
            )),
            None
        );
    }
}
