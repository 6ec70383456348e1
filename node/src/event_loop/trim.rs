//! Keeping the number of connections near a target. gossipsub keeps a stream open on every
//! connection, so no connection ever counts as idle: without trimming, every peer a DHT lookup,
//! a sync or a peer's redial ever touched stays connected (in the 50-node simulation every node
//! held all 49 others), and each costs pings, score upkeep at every heartbeat and memory.
//!
//! Above [`high_water`] connections the node closes the least useful down to its target, on the
//! redial tick. It never closes a connection it needs: a gossip mesh peer, a bootstrap peer, the
//! other party of a queued message, a peer it is syncing with, a relay holding a reservation for
//! it or carrying one of its connections, a peer reached through a relay, a peer it relays for,
//! a peer it sent a negotiation message or a file request to in the last [`IN_USE`], nor one
//! connected for less than [`GRACE`] (time to sync and to be grafted). Of the rest it closes
//! peers that dialled in before peers it chose (so strangers cannot crowd out the peers it
//! picked), then peers that asked it for nothing in the last [`IN_USE`] before those that did,
//! then the lowest gossip score, then the newest. What a peer asks for only orders it: asking is
//! cheap, so a peer that could make itself unclosable by asking would let a flood of strangers
//! push out the peers this node chose. A closed peer is taken off the dial schedule, and a node
//! at its target dials only the other parties of queued messages (lost peers and bootstrap peers
//! wait until it is below the target), so trimming does not turn into a cycle of redials.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::{PeerId, relay};

use super::EventLoop;
use super::dialer::MIN_PEERS;

/// A new connection is left alone this long: enough for the sync it starts and a heartbeat or
/// two to graft it into the mesh.
pub(super) const GRACE: Duration = Duration::from_secs(10);
/// A peer this node sent a negotiation message or a file request to this recently is in use
/// (and one that asked this node for anything this recently is kept before those that did not).
pub(super) const IN_USE: Duration = Duration::from_secs(60);

/// One connected peer as trimming weighs it.
#[derive(Debug, Clone)]
pub(super) struct Connection {
    pub(super) peer: PeerId,
    /// This node dialled it.
    pub(super) outbound: bool,
    /// When it connected.
    pub(super) since: Instant,
    /// When this node last sent it a negotiation message or a file request.
    pub(super) used: Option<Instant>,
    /// When it last asked this node for anything (a negotiation message, a file, part of a sync).
    pub(super) asked: Option<Instant>,
    /// Its gossipsub score.
    pub(super) score: f64,
}

/// The peers this node relays for: those holding a reservation on it and those with a circuit
/// through it (as either end). Their connections carry other peers' paths, so they are never
/// trimmed. Entries are only for connected peers (a relay event can trail the disconnect that
/// already cleared them), so they never outgrow the connection limits, and a peer's entries go
/// when it leaves.
#[derive(Debug, Default)]
pub(super) struct Hosting {
    reservations: HashSet<PeerId>,
    circuits: HashMap<PeerId, u32>,
}

impl Hosting {
    pub(super) fn on_relay_event(&mut self, event: &relay::Event, connected: impl Fn(&PeerId) -> bool) {
        match event {
            relay::Event::ReservationReqAccepted { src_peer_id, .. } if connected(src_peer_id) => {
                self.reservations.insert(*src_peer_id);
            }
            // Not `ReservationClosed`: the relay reports it when any of the peer's connections
            // closes, though the reservation may live on another one. A reservation that did
            // end is forgotten when the peer leaves.
            relay::Event::ReservationTimedOut { src_peer_id } => {
                self.reservations.remove(src_peer_id);
            }
            relay::Event::CircuitReqAccepted { src_peer_id, dst_peer_id } => {
                for peer in [src_peer_id, dst_peer_id].into_iter().filter(|p| connected(p)) {
                    *self.circuits.entry(*peer).or_default() += 1;
                }
            }
            relay::Event::CircuitClosed { src_peer_id, dst_peer_id, .. } => {
                for peer in [src_peer_id, dst_peer_id] {
                    if let Some(n) = self.circuits.get_mut(peer) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.circuits.remove(peer);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn serves(&self, peer: &PeerId) -> bool {
        self.reservations.contains(peer) || self.circuits.contains_key(peer)
    }

    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.reservations.remove(peer);
        self.circuits.remove(peer);
    }
}

/// Trimming starts above this many connections (one and a half times the target), so a node
/// near its target does not close a connection for every one it gains.
pub(super) fn high_water(target: usize) -> usize {
    target + target / 2
}

/// Which connections to close: none while `connections.len()` is at most [`high_water`], else
/// as many as bring it down to `target`, of those `needed` does not claim, least useful first.
pub(super) fn choose(
    connections: Vec<Connection>,
    target: usize,
    now: Instant,
    needed: impl Fn(&PeerId) -> bool,
) -> Vec<PeerId> {
    let total = connections.len();
    if target == 0 || total <= high_water(target) {
        return Vec::new();
    }
    let mut spare: Vec<Connection> = connections
        .into_iter()
        .filter(|c| now.saturating_duration_since(c.since) >= GRACE)
        .filter(|c| c.used.is_none_or(|at| now.saturating_duration_since(at) >= IN_USE))
        .filter(|c| !needed(&c.peer))
        .collect();
    let asked = |c: &Connection| c.asked.is_some_and(|at| now.saturating_duration_since(at) < IN_USE);
    spare.sort_by(|a, b| {
        a.outbound
            .cmp(&b.outbound)
            .then(asked(a).cmp(&asked(b)))
            .then(a.score.total_cmp(&b.score))
            .then(b.since.cmp(&a.since))
    });
    spare.into_iter().take(total - target).map(|c| c.peer).collect()
}

impl EventLoop {
    /// The target of connections, if any: `target_peers`, and never below the
    /// [`MIN_PEERS`] under which the node looks for more (or it would look for the peers it
    /// just closed).
    pub(super) fn connection_target(&self) -> Option<usize> {
        (self.target_peers > 0).then(|| self.target_peers.max(MIN_PEERS))
    }

    /// Closes the least useful connections while there are more than [`high_water`] of them.
    pub(super) fn trim_connections(&mut self) {
        let connected = self.swarm.connected_peers().count();
        let Some(target) = self.connection_target() else { return };
        if connected <= high_water(target) {
            return;
        }
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let mesh: HashSet<PeerId> = gossipsub.all_mesh_peers().copied().collect();
        let connections: Vec<Connection> = self
            .peers
            .connections()
            .map(|c| Connection { score: gossipsub.peer_score(&c.peer).unwrap_or(0.0), ..c })
            .collect();
        let close = choose(connections, target, Instant::now(), |peer| {
            mesh.contains(peer)
                || self.dialer.is_bootstrap(peer)
                || self.dialer.is_party(peer)
                || self.sync.is_syncing(peer)
                || self.reach.carries(peer)
                || self.hosting.serves(peer)
        });
        if !close.is_empty() {
            tracing::debug!(connected, target, closing = close.len(), "trimming connections");
        }
        for peer in close {
            self.dialer.forget(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(outbound: bool, age_s: u64, used_s: Option<u64>, score: f64, now: Instant) -> Connection {
        Connection {
            peer: PeerId::random(),
            outbound,
            since: now - Duration::from_secs(age_s),
            used: used_s.map(|s| now - Duration::from_secs(s)),
            asked: None,
            score,
        }
    }

    #[test]
    fn nothing_is_closed_up_to_the_high_water_mark() {
        let now = Instant::now() + Duration::from_secs(3_600);
        let conns: Vec<_> = (0..high_water(4)).map(|_| conn(false, 600, None, 0.0, now)).collect();
        assert_eq!(high_water(4), 6);
        assert!(choose(conns, 4, now, |_| false).is_empty());
        let conns: Vec<_> = (0..100).map(|_| conn(false, 600, None, 0.0, now)).collect();
        assert!(choose(conns, 0, now, |_| false).is_empty(), "a target of 0 keeps everything");
    }

    #[test]
    fn above_it_the_least_useful_go_down_to_the_target() {
        let now = Instant::now() + Duration::from_secs(3_600);
        let chosen_old = conn(true, 600, None, 0.0, now);
        let dialled_in_low = conn(false, 600, None, -5.0, now);
        let dialled_in_new = conn(false, 100, None, 0.0, now);
        let dialled_in_old = conn(false, 600, None, 0.0, now);
        let young = conn(false, 2, None, -50.0, now);
        let busy = conn(false, 600, Some(5), -50.0, now);
        let asking =
            Connection { asked: Some(now - Duration::from_secs(3)), ..conn(false, 600, None, -50.0, now) };
        let asked_long_ago = Connection { asked: Some(now - IN_USE), ..conn(false, 600, None, -9.0, now) };
        let used_long_ago = conn(false, 600, Some(IN_USE.as_secs()), -8.0, now);
        let mesh = conn(false, 600, None, -50.0, now);
        let chosen_new = conn(true, 100, None, 0.0, now);
        let conns = vec![
            chosen_old.clone(),
            dialled_in_low.clone(),
            dialled_in_new.clone(),
            dialled_in_old.clone(),
            young.clone(),
            busy.clone(),
            mesh.clone(),
            chosen_new.clone(),
            asking.clone(),
            asked_long_ago.clone(),
            used_long_ago.clone(),
        ];
        // 11 connections, target 5 (high water 7): 6 go.
        let close = choose(conns.clone(), 5, now, |p| *p == mesh.peer);
        assert_eq!(
            close,
            vec![
                asked_long_ago.peer,
                used_long_ago.peer,
                dialled_in_low.peer,
                dialled_in_new.peer,
                dialled_in_old.peer,
                asking.peer,
            ],
            "dialled in before chosen, not asking before asking; lowest score, then newest, first"
        );
        // One more to close: a peer that asks goes before a peer this node chose.
        let close = choose(conns, 4, now, |p| *p == mesh.peer);
        assert_eq!(close.len(), 7);
        assert_eq!(close[5..], [asking.peer, chosen_new.peer]);
    }

    #[test]
    fn peers_relayed_for_are_served_until_their_reservation_and_circuits_end() {
        let (a, b, c, gone) = (PeerId::random(), PeerId::random(), PeerId::random(), PeerId::random());
        let mut hosting = Hosting::default();
        let on = |h: &mut Hosting, event: relay::Event| h.on_relay_event(&event, |p| *p != gone);
        on(&mut hosting, relay::Event::ReservationReqAccepted { src_peer_id: a, renewed: false });
        on(&mut hosting, relay::Event::CircuitReqAccepted { src_peer_id: b, dst_peer_id: a });
        on(&mut hosting, relay::Event::CircuitReqAccepted { src_peer_id: b, dst_peer_id: a });
        // Events that trail a peer's disconnect leave nothing behind.
        on(&mut hosting, relay::Event::ReservationReqAccepted { src_peer_id: gone, renewed: false });
        on(&mut hosting, relay::Event::CircuitReqAccepted { src_peer_id: gone, dst_peer_id: b });
        // The relay says this whenever one of a's connections closes, held reservation or not.
        on(&mut hosting, relay::Event::ReservationClosed { src_peer_id: a });
        on(&mut hosting, relay::Event::CircuitClosed { src_peer_id: gone, dst_peer_id: b, error: None });
        assert!(hosting.serves(&a) && hosting.serves(&b) && !hosting.serves(&c) && !hosting.serves(&gone));
        assert_eq!(hosting.circuits.get(&b), Some(&2), "b's two circuits with a");
        on(&mut hosting, relay::Event::ReservationTimedOut { src_peer_id: a });
        on(&mut hosting, relay::Event::CircuitClosed { src_peer_id: b, dst_peer_id: a, error: None });
        assert!(hosting.serves(&a) && hosting.serves(&b), "a circuit is still open");
        on(&mut hosting, relay::Event::CircuitClosed { src_peer_id: b, dst_peer_id: a, error: None });
        assert!(!hosting.serves(&a) && !hosting.serves(&b));
        on(&mut hosting, relay::Event::ReservationReqAccepted { src_peer_id: c, renewed: false });
        hosting.forget(&c);
        assert!(!hosting.serves(&c) && hosting.reservations.is_empty() && hosting.circuits.is_empty());
    }

    #[test]
    fn needed_connections_are_kept_even_if_that_leaves_too_many() {
        let now = Instant::now() + Duration::from_secs(3_600);
        let conns: Vec<_> = (0..10).map(|_| conn(false, 600, None, 0.0, now)).collect();
        let spare = conns[9].peer;
        assert_eq!(choose(conns, 2, now, |p| *p != spare), vec![spare]);
    }
}
