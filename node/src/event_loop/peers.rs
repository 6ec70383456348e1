//! Peers: connections, discovery (identify, Kademlia, mDNS), and the per-peer state the loop
//! keeps. That state lives in one bounded [`PeerTable`]: what concerns a connection (agent, the
//! budgets of [`super::budget`]) exists only while the peer is connected and is dropped when its last connection
//! closes; offences outlive a reconnect (so leaving does not wipe a peer's record) in a bounded
//! list, oldest forgotten first, and a record goes as soon as it no longer counts (its ban ran
//! out, or its hour passed): when the peer leaves or comes back, and at the loop's periodic
//! prune; the sync history is a bounded list of its own.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use libp2p::{PeerId, identify, kad, mdns};

use super::EventLoop;
use super::budget::{Budgets, Spend};
use crate::api::types::{DialReason, NodeEvent, SyncInfo};

/// Invalid objects from one peer before it is banned and disconnected.
const MAX_REJECTS: u32 = 3;
/// How long a ban lasts: the peer's connections are refused and none of its requests or gossip
/// is served. Long enough to make a flood of garbage pointless, short enough that a peer
/// penalised by mistake (or a new owner of its address) comes back on its own.
pub(super) const BAN: Duration = Duration::from_secs(3_600);
/// Peers with state at once: above the connection limits (128 inbound + 64 outbound), so every
/// connected peer fits.
const MAX_PEERS: usize = 512;
/// Peers with offences remembered (oldest forgotten first, and then taken off gossipsub's
/// blacklist); a forgotten peer that misbehaves again is banned again after [`MAX_REJECTS`] more
/// invalid objects.
const MAX_OFFENDERS: usize = 1_024;
/// How long a sync that moved objects stays the one shown for its peer over later ones that
/// moved none (a watch says what a catch-up brought if it started within 2 minutes of it).
const KEEP_FRUITFUL_MS: u64 = 120_000;
/// Completed syncs remembered for `haggle status` (one per peer, newest first).
const MAX_SYNC_HISTORY: usize = 16;

/// What the loop knows of one connected peer.
/// The most listen addresses kept per peer (a peer may announce many).
const MAX_LISTED: usize = 8;

#[derive(Debug)]
struct PeerState {
    /// The agent it announced (identify).
    agent: Option<String>,
    /// Where it says it listens (identify; at most [`MAX_LISTED`], LAN addresses only for a
    /// peer on this node's network), for `GET /v1/peers`.
    listens: Vec<libp2p::Multiaddr>,
    /// What it may still make us do (see [`super::budget`]).
    budgets: Budgets,
    /// Reached at a private or loopback address: on this node's own network, so its LAN
    /// addresses are worth keeping.
    local: bool,
    /// This node dialled it (a peer it chose, kept before peers that dialled in).
    outbound: bool,
    /// When it connected.
    since: Instant,
    /// When this node last sent it a negotiation message or a file request.
    used: Option<Instant>,
    /// When it last asked this node for anything (negotiation, a file, part of a sync).
    asked: Option<Instant>,
    /// When an identify from it last counted as a new round (see [`IDENTIFY_ROUND`]).
    identified: Option<Instant>,
    /// The internet address its first connection came from (none if relayed, or on the LAN).
    ip: Option<std::net::IpAddr>,
    /// Which run of its node it said it is (identify's protocol version, see
    /// [`crate::wire::identify_version`]): a new run beside older connections means the peer
    /// restarted and those are dead.
    run: Option<u64>,
    /// Items of work it asked for over its budgets while connected, turned away (an offence
    /// only far over them): `haggle peers` shows them, so the owner of a node a peer floods
    /// under the offence line sees who (from a hostile trial, whose victim saw nothing).
    throttled: u32,
}

/// An identify counts as a new round (a relay that refused us gets another chance, the address
/// book hears where the peer listens) at most this often per peer: identify has no budget of
/// its own, and a peer may push one as often as it likes (the periodic one comes every 5
/// minutes; a push when its addresses change).
const IDENTIFY_ROUND: std::time::Duration = std::time::Duration::from_secs(30);

/// The kinds of work a peer has a budget for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Gossip objects to verify.
    Gossip,
    /// Objects pushed in its sync sessions.
    Pushed,
    /// Sync requests.
    SyncRequest,
    /// Direct negotiation messages.
    Negotiate,
    /// File requests.
    BlobRequest,
    /// Requests for two parties' threads and deals.
    Party,
}

/// What a ban decision says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    /// Invalid objects from the peer so far.
    pub(super) rejected: u32,
    /// The peer has just reached the ban threshold.
    pub(super) ban: bool,
    /// A peer forgotten to make room, to take off gossipsub's blacklist.
    pub(super) forgiven: Option<PeerId>,
}

/// A peer's record of invalid objects: how many since `since`. A record older than [`BAN`]
/// starts over, so a ban takes [`MAX_REJECTS`] invalid objects within an hour, not over a
/// lifetime (an honest peer that relayed one bad object a month is never banned).
#[derive(Debug, Clone, Copy)]
struct Offence {
    count: u32,
    since: Instant,
    banned_until: Option<Instant>,
}

impl Offence {
    /// A record that no longer counts: its ban has run out, or (never banned) its hour has
    /// passed. Such records are forgotten when the peer leaves or comes back, and by the loop's
    /// periodic prune, so the table holds only what still matters.
    fn stale(&self, now: Instant) -> bool {
        match self.banned_until {
            Some(until) => until <= now,
            None => now.duration_since(self.since) >= BAN,
        }
    }
}

/// Budgets of peers that left, kept this long: a peer that comes back (or a new PeerId from the
/// same address) within it starts from what was left, not a full bucket. Every bucket is full
/// again within it anyway (the slowest, negotiation, refills its 60 in a minute).
const REMEMBER_BUDGETS: std::time::Duration = std::time::Duration::from_secs(120);
/// Budgets of peers that left, kept at most (by PeerId and by address, oldest dropped first).
const MAX_REMEMBERED: usize = 1_024;

/// Whose budgets were remembered: a PeerId, or the internet address it came from (IPv4, or an
/// IPv6 address's /64, which one subscriber holds; never a LAN or loopback address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Whose {
    Peer(PeerId),
    Address(std::net::IpAddr),
}

impl Whose {
    fn address(ip: std::net::IpAddr) -> Whose {
        // An IPv4 address a dual-stack listener sees as `::ffff:a.b.c.d` is that IPv4 address.
        Whose::Address(match ip.to_canonical() {
            std::net::IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                std::net::IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
            v4 => v4,
        })
    }
}

/// Per-peer state, bounded in size; connection state is cleared when a peer leaves.
#[derive(Debug, Default)]
pub(super) struct PeerTable {
    peers: HashMap<PeerId, PeerState>,
    /// Budgets of peers that left within [`REMEMBER_BUDGETS`], by PeerId and by address, at
    /// most [`MAX_REMEMBERED`]: budgets lived in the connection state, so each reconnect (a
    /// handshake, about a millisecond) bought a full burst again (60 negotiation messages,
    /// 2,000 gossip objects, 1,000 sync requests), and a fresh PeerId from the same address
    /// another.
    remembered: HashMap<Whose, (Budgets, Instant)>,
    /// `remembered`'s keys as they were written, oldest first (an entry written again appears
    /// twice; the older is skipped when popped).
    remembered_order: VecDeque<(Whose, Instant)>,
    /// Invalid objects per peer, across reconnects, and any ban.
    offences: HashMap<PeerId, Offence>,
    /// `offences`' keys, oldest first.
    offenders: VecDeque<PeerId>,
    syncs: VecDeque<SyncInfo>,
}

impl PeerTable {
    fn connected(
        &mut self,
        peer: PeerId,
        local: bool,
        outbound: bool,
        ip: Option<std::net::IpAddr>,
        now: Instant,
    ) {
        if self.peers.len() < MAX_PEERS {
            let fresh = |e: &(Budgets, Instant)| now.saturating_duration_since(e.1) < REMEMBER_BUDGETS;
            // Its own budgets as it left them; else what was left at its address, without the
            // count of items turned away (another person behind the same address must not
            // inherit an offence half earned).
            let budgets = match self.remembered.get(&Whose::Peer(peer)).filter(|e| fresh(e)) {
                Some(e) => e.0,
                None => ip
                    .and_then(|ip| self.remembered.get(&Whose::address(ip)))
                    .filter(|e| fresh(e))
                    .map_or_else(|| Budgets::new(now), |e| e.0.without_overflow()),
            };
            let state = self.peers.entry(peer).or_insert_with(|| PeerState {
                agent: None,
                listens: Vec::new(),
                budgets,
                ip,
                local,
                outbound,
                since: now,
                used: None,
                asked: None,
                throttled: 0,
                identified: None,
                run: None,
            });
            state.local |= local;
            state.outbound |= outbound;
        }
    }

    /// This node sent `peer` a negotiation message or a file request: its connection is in use.
    pub(super) fn used(&mut self, peer: &PeerId, now: Instant) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.used = Some(now);
        }
    }

    /// The connected peers as [`super::trim`] weighs them.
    pub(super) fn connections(&self) -> impl Iterator<Item = super::trim::Connection> + '_ {
        self.peers.iter().map(|(peer, s)| super::trim::Connection {
            peer: *peer,
            outbound: s.outbound,
            since: s.since,
            used: s.used,
            asked: s.asked,
            score: 0.0,
        })
    }

    fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        let Some(state) = self.peers.remove(peer) else { return };
        let whose = [Some(Whose::Peer(*peer)), state.ip.map(Whose::address)];
        for whose in whose.into_iter().flatten() {
            self.remembered.insert(whose, (state.budgets, now));
            self.remembered_order.push_back((whose, now));
        }
        self.forget_budgets(now);
    }

    /// Forgets remembered budgets past [`REMEMBER_BUDGETS`] or the bound, oldest first.
    fn forget_budgets(&mut self, now: Instant) {
        while let Some(&(whose, at)) = self.remembered_order.front() {
            let over =
                self.remembered.len() > MAX_REMEMBERED || self.remembered_order.len() > 2 * MAX_REMEMBERED;
            if !over && now.saturating_duration_since(at) < REMEMBER_BUDGETS {
                break;
            }
            self.remembered_order.pop_front();
            if self.remembered.get(&whose).is_some_and(|e| e.1 == at) {
                self.remembered.remove(&whose);
            }
        }
    }

    /// How many peers have state (for tests of the bound).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.peers.len()
    }

    pub(super) fn agent(&self, peer: &PeerId) -> Option<String> {
        self.peers.get(peer).and_then(|p| p.agent.clone())
    }

    /// Where `peer` says it listens.
    pub(super) fn listens(&self, peer: &PeerId) -> Vec<String> {
        self.peers.get(peer).map(|p| p.listens.iter().map(ToString::to_string).collect()).unwrap_or_default()
    }

    pub(super) fn rejects(&self, peer: &PeerId) -> u32 {
        self.offences.get(peer).map_or(0, |o| o.count)
    }

    /// Whether `peer` is banned at `now`.
    pub(super) fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.offences.get(peer).and_then(|o| o.banned_until).is_some_and(|until| until > now)
    }

    /// Forgets `peer`'s record if it no longer counts (see [`Offence::stale`]); returns whether
    /// a ban ran out with it (to take the peer off gossipsub's blacklist).
    fn forget_stale(&mut self, peer: &PeerId, now: Instant) -> bool {
        match self.offences.get(peer) {
            Some(o) if o.stale(now) => {
                let banned = o.banned_until.is_some();
                self.offences.remove(peer);
                self.offenders.retain(|p| p != peer);
                banned
            }
            _ => false,
        }
    }

    /// Forgets every record that no longer counts (and budgets no longer worth remembering);
    /// returns the peers whose ban ran out.
    fn prune(&mut self, now: Instant) -> Vec<PeerId> {
        self.forget_budgets(now);
        let lifted = self.offences.iter().filter(|(_, o)| o.stale(now) && o.banned_until.is_some());
        let lifted: Vec<PeerId> = lifted.map(|(p, _)| *p).collect();
        self.offences.retain(|_, o| !o.stale(now));
        let offences = &self.offences;
        self.offenders.retain(|p| offences.contains_key(p));
        lifted
    }

    /// Counts an invalid object from `peer` (connected or not: a verdict can come after it left).
    fn reject(&mut self, peer: PeerId, now: Instant) -> Verdict {
        let mut forgiven = None;
        if !self.offences.contains_key(&peer) {
            if self.offences.len() >= MAX_OFFENDERS
                && let Some(old) = self.offenders.pop_front()
            {
                self.offences.remove(&old);
                forgiven = Some(old);
            }
            self.offenders.push_back(peer);
        }
        let offence =
            self.offences.entry(peer).or_insert(Offence { count: 0, since: now, banned_until: None });
        if offence.banned_until.is_none() && now.duration_since(offence.since) >= BAN {
            *offence = Offence { count: 0, since: now, banned_until: None };
        }
        offence.count = offence.count.saturating_add(1);
        let ban = offence.count >= MAX_REJECTS && offence.banned_until.is_none();
        if ban {
            offence.banned_until = Some(now + BAN);
        }
        Verdict { rejected: offence.count, ban, forgiven }
    }

    /// Spends `n` of `peer`'s budget of one kind of work (see [`super::budget`]). A peer without
    /// state (not connected) has no budget.
    pub(super) fn spend(&mut self, peer: &PeerId, kind: Kind, n: u32, now: Instant) -> Spend {
        let Some(state) = self.peers.get_mut(peer) else { return Spend::Over };
        if kind != Kind::Gossip {
            state.asked = Some(now);
        }
        let budgets = &mut state.budgets;
        let bucket = match kind {
            Kind::Gossip => &mut budgets.gossip,
            Kind::Pushed => &mut budgets.pushed,
            Kind::SyncRequest => &mut budgets.sync_requests,
            Kind::Negotiate => &mut budgets.negotiate,
            Kind::BlobRequest => &mut budgets.blob_requests,
            Kind::Party => &mut budgets.party,
        };
        let spent = bucket.spend(n, now);
        if spent != Spend::Allowed {
            state.throttled = state.throttled.saturating_add(n);
        }
        spent
    }

    /// How many items of work `peer` asked for over its budgets since it connected.
    pub(super) fn throttled(&self, peer: &PeerId) -> u32 {
        self.peers.get(peer).map_or(0, |p| p.throttled)
    }

    /// Remembers a completed sync, replacing the peer's earlier one.
    /// Records a completed sync as the last with its peer, except that one which moved nothing
    /// does not replace, for [`KEEP_FRUITFUL_MS`], one that brought or took something: the
    /// periodic sync a minute after a catch-up would hide what the catch-up brought (from
    /// `status`, and from a watch started a little later).
    pub(super) fn synced(&mut self, info: SyncInfo) {
        let empty = info.received == 0 && info.sent == 0;
        if empty
            && self.syncs.iter().any(|s| {
                s.peer == info.peer
                    && (s.received > 0 || s.sent > 0)
                    && info.at.saturating_sub(s.at) < KEEP_FRUITFUL_MS
            })
        {
            return;
        }
        self.syncs.retain(|s| s.peer != info.peer);
        self.syncs.push_front(info);
        self.syncs.truncate(MAX_SYNC_HISTORY);
    }

    /// The most recent completed syncs, newest first.
    pub(super) fn recent_syncs(&self) -> Vec<SyncInfo> {
        self.syncs.iter().cloned().collect()
    }
}

impl EventLoop {
    /// `ip`: the address the connection came from (none if relayed).
    pub(super) fn on_connected(
        &mut self,
        peer: PeerId,
        dialer: bool,
        local: bool,
        ip: Option<std::net::IpAddr>,
    ) {
        let now = Instant::now();
        if self.peers.forget_stale(&peer, now) {
            self.swarm.behaviour_mut().gossipsub.remove_blacklisted_peer(&peer);
        }
        if self.peers.is_banned(&peer, now) {
            // The guard refuses a banned peer's connections; one that was already being set up
            // when the ban fell is closed here.
            tracing::debug!(%peer, "refusing a banned peer");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        // Peers coming and going are an operator's first question of a log (from a trial: the
        // node others bootstrapped from logged nothing while they came, went and restarted).
        let peers = self.swarm.connected_peers().count();
        if self.dialer.is_bootstrap(&peer) {
            tracing::info!(%peer, peers, "connected to a bootstrap peer");
        } else {
            tracing::info!(%peer, peers, inbound = !dialer, "peer connected");
        }
        self.peers.connected(peer, local, dialer, ip, now);
        self.dialer.connected(peer);
        self.emit(NodeEvent::PeerConnected { peer });
        self.retry_outbox(Some(peer));
        // Each side asks for what it lacks of the two parties' threads and deals.
        self.start_party(peer);
        // One session per new connection covers both directions (it fetches and pushes), so only
        // the side that dialed starts it.
        if dialer {
            self.start_sync(peer);
        }
    }

    /// The peer's last connection closed; `by_remote` if this node did not close it.
    pub(super) fn on_disconnected(&mut self, peer: PeerId, by_remote: bool) {
        let peers = self.swarm.connected_peers().count();
        tracing::info!(%peer, peers, by_remote, "peer disconnected");
        self.peers.disconnected(&peer, Instant::now());
        // An offence record that no longer counts goes with the peer (one that does stays, so
        // leaving does not wipe it).
        if self.peers.forget_stale(&peer, Instant::now()) {
            self.swarm.behaviour_mut().gossipsub.remove_blacklisted_peer(&peer);
        }
        // A peer that closed on a node with other peers is not called back: it most likely
        // trimmed the connection, and redialling it would only make it trim again (a node left
        // with fewer than MIN_PEERS redials, and asks the DHT for more).
        let enough = self.swarm.connected_peers().count() >= super::dialer::MIN_PEERS;
        if self.dialer.disconnected(&peer, by_remote && enough) {
            // It restarted beside a dead connection and was let go to connect afresh.
            self.redial();
        }
        self.forget_relay(&peer);
        self.hosting.forget(&peer);
        self.clock.forget(&peer);
        self.end_sync(peer, Some("the peer disconnected".into()));
        self.sync.forget(&peer);
        self.forget_party(&peer);
        // A banned peer's refused connection was never announced.
        if !self.peers.is_banned(&peer, Instant::now()) {
            self.emit(NodeEvent::PeerDisconnected { peer });
        }
    }

    /// Counts an offence of `peer`'s (an invalid object, or work far over its budget); after
    /// [`MAX_REJECTS`] within an hour it is banned for [`BAN`]: its gossip is ignored
    /// (gossipsub's blacklist), it is disconnected, the guard refuses its connections, its
    /// requests go unserved, and it is not dialled.
    pub(super) fn penalise(&mut self, peer: PeerId) {
        let now = Instant::now();
        let Verdict { rejected, ban, forgiven } = self.peers.reject(peer, now);
        tracing::info!(%peer, rejected, "penalised a peer (invalid object or over its budget)");
        self.emit(NodeEvent::PeerMisbehaved { peer, rejected });
        let behaviour = self.swarm.behaviour_mut();
        if let Some(old) = forgiven {
            behaviour.gossipsub.remove_blacklisted_peer(&old);
            behaviour.guard.unban(&old);
        }
        if ban {
            tracing::warn!(%peer, "banning a peer that keeps sending invalid objects");
            behaviour.gossipsub.blacklist_peer(&peer);
            behaviour.guard.ban(peer, now + BAN);
            let _ = self.swarm.disconnect_peer_id(peer);
            // Nor is it dialled again, now or after a restart.
            self.dialer.forget(&peer);
            self.spawn_blocking(move |service| {
                if let Err(e) = service.forget_peer(peer) {
                    tracing::debug!(error = %e, "cannot take a banned peer out of the address book");
                }
                None
            });
        }
    }

    /// Forgets offence records and bans that no longer count (run with the sweep), so the
    /// tables keyed by peers that left shrink even if those peers never come back.
    pub(super) fn prune_peers(&mut self) {
        let now = Instant::now();
        let behaviour = self.swarm.behaviour_mut();
        for peer in self.peers.prune(now) {
            behaviour.gossipsub.remove_blacklisted_peer(&peer);
        }
        behaviour.guard.prune(now);
    }

    pub(super) fn on_identify(&mut self, event: identify::Event) {
        if let identify::Event::Received { peer_id, info, connection_id } = event {
            let (mut outbound, mut round) = (true, true);
            let mut before = Vec::new();
            let local = self.peers.peers.get(&peer_id).is_some_and(|s| s.local);
            let mut listens = super::addresses::keep(info.listen_addrs, local);
            listens.truncate(MAX_LISTED);
            let run = crate::wire::run_of(&info.protocol_version);
            let mut restarted = false;
            if let Some(state) = self.peers.peers.get_mut(&peer_id) {
                restarted = matches!((state.run, run), (Some(old), Some(new)) if old != new);
                if run.is_some() {
                    state.run = run;
                }
                state.agent = Some(info.agent_version.clone());
                outbound = state.outbound;
                before = std::mem::replace(&mut state.listens, listens.clone());
                round = state.identified.is_none_or(|t| t.elapsed() >= IDENTIFY_ROUND);
                if round {
                    state.identified = Some(Instant::now());
                }
            }
            // The peer restarted while this node still held a connection of its last run (over
            // QUIC nothing tells a killed process's connection is dead until it times out, about
            // 10 s): requests sent on it waited that long (found in a trial, after `kill -9`).
            // The old connections are dead, and gossipsub sent its subscriptions on the first
            // one only, so the peer is disconnected, to connect again afresh.
            if restarted && self.reach.has_older(&peer_id, connection_id) {
                tracing::debug!(peer = %peer_id, "the peer restarted beside an older connection; reconnecting afresh");
                self.dialer.restarted(peer_id, listens);
                let _ = self.swarm.disconnect_peer_id(peer_id);
                return;
            }
            let changed = before != listens;
            // A peer that dialled in: where it says it listens goes into the address book, after
            // every peer this node reached itself (see `Store::heard_of_peer`), so that a node
            // only ever dialled (the network's first, say) finds its peers again after a restart.
            if !outbound && round && !self.swarm.behaviour().guard.is_banned(&peer_id) {
                self.note_heard(peer_id, listens.clone());
            }
            // A peer on the internet may advertise LAN or container addresses: useless elsewhere,
            // and not to be spread through the DHT.
            // Only peers that answer DHT queries (server mode: publicly reachable) go into the
            // routing table; a private peer's relayed addresses would send lookups round
            // through relays.
            // The peer's entry holds what it says now, at most `MAX_LISTED` addresses: libp2p-kad
            // appends every address it is given, with no cap, and a peer pushing identify in a
            // loop with new addresses each time grew the list (and the work of each addition)
            // without end.
            if changed && info.protocols.contains(&crate::wire::KAD_PROTOCOL) {
                let kad = &mut self.swarm.behaviour_mut().kad;
                // What the routing table holds for it, whatever this connection saw before (the
                // entry outlives connections): the new addresses go in first, so the peer is not
                // dropped from its bucket in between, then the rest go.
                let held: Vec<libp2p::Multiaddr> = kad
                    .kbucket(peer_id)
                    .map(|bucket| {
                        bucket
                            .iter()
                            .filter(|e| *e.node.key.preimage() == peer_id)
                            .flat_map(|e| e.node.value.iter().cloned().collect::<Vec<_>>())
                            .collect()
                    })
                    .unwrap_or_default();
                for addr in &listens {
                    kad.add_address(&peer_id, addr.clone());
                }
                for gone in held.iter().filter(|a| !listens.contains(a)) {
                    kad.remove_address(&peer_id, gone);
                }
            }
            self.note_protocols(peer_id, &info.protocols, round);
        }
    }

    pub(super) fn on_kad(&mut self, event: kad::Event) {
        if let kad::Event::OutboundQueryProgressed {
            result: kad::QueryResult::GetClosestPeers(Ok(ok)), ..
        } = event
        {
            let Ok(target) = PeerId::from_bytes(&ok.key) else { return };
            // Addresses learned through the DHT come from strangers: only global ones are kept.
            if let Some(found) = ok.peers.into_iter().find(|p| p.peer_id == target)
                && let addrs = super::addresses::keep(found.addrs, false)
                && !addrs.is_empty()
            {
                // The addresses are tried at the peer's next turn.
                self.dialer.add_addresses(target, addrs);
            }
        }
    }

    pub(super) fn on_mdns(&mut self, event: mdns::Event) {
        if let mdns::Event::Discovered(found) = event {
            for (peer, addr) in found {
                self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                self.dialer.want(peer, [addr], DialReason::Recent);
            }
            self.redial();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(peer: PeerId, at: u64) -> SyncInfo {
        SyncInfo { peer, at, received: 0, sent: 0, reconcile_bytes: 0 }
    }

    #[test]
    fn state_goes_when_the_peer_goes_and_never_passes_the_bound() {
        let mut table = PeerTable::default();
        let peers: Vec<PeerId> = (0..MAX_PEERS + 10).map(|_| PeerId::random()).collect();
        for peer in &peers {
            table.connected(*peer, false, false, None, Instant::now());
        }
        assert_eq!(table.len(), MAX_PEERS);
        for peer in &peers {
            table.disconnected(peer, Instant::now());
        }
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn offences_survive_a_reconnect_and_are_bounded() {
        let mut table = PeerTable::default();
        let now = Instant::now();
        let rogue = PeerId::random();
        table.connected(rogue, false, false, None, now);
        assert_eq!(table.reject(rogue, now), Verdict { rejected: 1, ban: false, forgiven: None });
        assert_eq!(table.reject(rogue, now).rejected, 2);
        // Leaving and coming back does not wipe the record.
        table.disconnected(&rogue, now);
        table.connected(rogue, false, false, None, now);
        assert_eq!(table.reject(rogue, now), Verdict { rejected: 3, ban: true, forgiven: None });
        // A fourth rejection does not ban twice.
        assert!(!table.reject(rogue, now).ban);
        let mut forgiven = Vec::new();
        for _ in 0..MAX_OFFENDERS {
            forgiven.extend(table.reject(PeerId::random(), now).forgiven);
        }
        assert_eq!(table.offences.len(), MAX_OFFENDERS);
        assert_eq!(forgiven, vec![rogue], "the oldest offender is forgotten first, and unbanned");
        assert_eq!(table.rejects(&rogue), 0);
    }

    #[test]
    fn a_ban_holds_for_its_time_and_then_lifts() {
        let mut table = PeerTable::default();
        let (rogue, now) = (PeerId::random(), Instant::now());
        for _ in 0..MAX_REJECTS {
            table.reject(rogue, now);
        }
        assert!(table.is_banned(&rogue, now));
        assert!(table.is_banned(&rogue, now + BAN - Duration::from_secs(1)), "reconnecting does not help");
        assert!(!table.forget_stale(&rogue, now + BAN - Duration::from_secs(1)));
        assert!(!table.is_banned(&rogue, now + BAN));
        assert!(table.forget_stale(&rogue, now + BAN), "lifted, and taken off the blacklist");
        assert_eq!(table.rejects(&rogue), 0, "a fresh start");
    }

    #[test]
    fn records_that_no_longer_count_are_pruned_and_the_table_shrinks_to_nothing() {
        let mut table = PeerTable::default();
        let now = Instant::now();
        let (banned, minor) = (PeerId::random(), PeerId::random());
        for _ in 0..MAX_REJECTS {
            table.reject(banned, now);
        }
        table.reject(minor, now);
        assert!(table.prune(now + Duration::from_secs(60)).is_empty(), "both still count");
        assert_eq!(table.offences.len(), 2);
        assert_eq!(table.prune(now + BAN), vec![banned], "both stale; one ban lifted");
        assert!(table.offences.is_empty() && table.offenders.is_empty());
    }

    #[test]
    fn only_offences_within_the_hour_add_up_to_a_ban() {
        let mut table = PeerTable::default();
        let (peer, now) = (PeerId::random(), Instant::now());
        table.reject(peer, now);
        table.reject(peer, now);
        let later = now + BAN + Duration::from_secs(1);
        assert_eq!(table.reject(peer, later), Verdict { rejected: 1, ban: false, forgiven: None });
        assert!(!table.is_banned(&peer, later));
    }

    /// Attack: budgets lived in the connection state, so each reconnect (a handshake) bought a
    /// full burst again, and a fresh PeerId from the same address another. What a peer left
    /// is remembered for a while, by PeerId and by address (an IPv6 address by its /64).
    #[test]
    fn a_budget_survives_a_reconnect_and_a_new_peer_id_from_the_same_address() {
        let mut table = PeerTable::default();
        let (peer, now) = (PeerId::random(), Instant::now());
        let ip: std::net::IpAddr = "203.0.113.7".parse().expect("ip");
        assert_eq!(table.spend(&peer, Kind::Negotiate, 1, now), Spend::Over, "not connected");
        table.connected(peer, false, false, Some(ip), now);
        let burst = super::super::budget::NEGOTIATE.burst as u32;
        assert_eq!(table.spend(&peer, Kind::Negotiate, burst, now), Spend::Allowed);
        assert_eq!(table.spend(&peer, Kind::Negotiate, 1, now), Spend::Over);
        assert_eq!(table.spend(&peer, Kind::Gossip, 1, now), Spend::Allowed, "each kind apart");
        table.disconnected(&peer, now);
        table.connected(peer, false, false, Some(ip), now);
        assert_eq!(table.spend(&peer, Kind::Negotiate, 1, now), Spend::Over, "the same peer again");
        let fresh_id = PeerId::random();
        table.connected(fresh_id, false, false, Some(ip), now);
        assert_eq!(
            table.spend(&fresh_id, Kind::Negotiate, 1, now),
            Spend::Over,
            "a new PeerId, same address"
        );
        let elsewhere = PeerId::random();
        table.connected(elsewhere, false, false, Some("198.51.100.1".parse().expect("ip")), now);
        assert_eq!(table.spend(&elsewhere, Kind::Negotiate, 1, now), Spend::Allowed, "another address");
        // IPv6: the /64 is one subscriber.
        let (a, b) = (PeerId::random(), PeerId::random());
        table.connected(a, false, false, Some("2001:db8:1:2::1".parse().expect("ip")), now);
        assert_eq!(table.spend(&a, Kind::Negotiate, burst, now), Spend::Allowed);
        table.disconnected(&a, now);
        table.connected(b, false, false, Some("2001:db8:1:2:ffff::9".parse().expect("ip")), now);
        assert_eq!(table.spend(&b, Kind::Negotiate, 1, now), Spend::Over, "the same /64");
        // Long enough later, a full bucket (it would have refilled anyway).
        for p in [peer, fresh_id] {
            table.disconnected(&p, now);
        }
        let later = now + REMEMBER_BUDGETS;
        table.connected(peer, false, false, Some(ip), later);
        assert_eq!(table.spend(&peer, Kind::Negotiate, burst, later), Spend::Allowed);
    }

    /// The remembered budgets are bounded, and shrink as they age.
    #[test]
    fn remembered_budgets_are_bounded() {
        let mut table = PeerTable::default();
        let now = Instant::now();
        for n in 0..3 * MAX_REMEMBERED as u32 {
            let peer = PeerId::random();
            let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            table.connected(peer, false, false, Some(ip), now);
            table.disconnected(&peer, now);
            assert!(table.remembered.len() <= MAX_REMEMBERED + 2, "{}", table.remembered.len());
            assert!(table.remembered_order.len() <= 2 * MAX_REMEMBERED + 2);
        }
        let peer = PeerId::random();
        table.connected(peer, false, false, None, now + REMEMBER_BUDGETS);
        table.disconnected(&peer, now + REMEMBER_BUDGETS);
        assert_eq!(table.remembered.len(), 1, "the old ones went");
    }

    #[test]
    fn the_sync_history_keeps_one_entry_per_peer_newest_first() {
        let mut table = PeerTable::default();
        let a = PeerId::random();
        table.synced(info(a, 1));
        table.synced(info(PeerId::random(), 2));
        table.synced(info(a, 3));
        let recent = table.recent_syncs();
        assert_eq!(recent.len(), 2);
        assert_eq!((recent[0].peer, recent[0].at), (a, 3));
        for i in 0..(MAX_SYNC_HISTORY as u64 + 5) {
            table.synced(info(PeerId::random(), 10 + i));
        }
        assert_eq!(table.recent_syncs().len(), MAX_SYNC_HISTORY);
    }

    /// Defect: the periodic sync a minute after a catch-up replaced it, and a watch started
    /// then no longer said what the catch-up brought.
    #[test]
    fn an_empty_sync_does_not_hide_a_recent_one_that_brought_something() {
        let mut table = PeerTable::default();
        let a = PeerId::random();
        table.synced(SyncInfo { received: 3, ..info(a, 1_000) });
        table.synced(info(a, 61_000));
        assert_eq!(table.recent_syncs()[0].received, 3, "a minute later, the catch-up is shown");
        table.synced(info(a, 1_000 + KEEP_FRUITFUL_MS));
        assert_eq!(table.recent_syncs()[0].received, 0, "two minutes later, the last one");
        table.synced(SyncInfo { sent: 1, ..info(a, 200_000) });
        table.synced(SyncInfo { received: 2, ..info(a, 201_000) });
        assert_eq!(table.recent_syncs()[0].received, 2, "one that moved something always replaces");
    }
}
