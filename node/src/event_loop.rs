//! The task that owns the Swarm. Everything else reaches it through [`crate::NodeHandle`]
//! commands. Store work (verifying and writing) runs on tokio's blocking pool through the
//! [`Service`] and comes back as [`Done`] messages, so the loop never waits on the disk.
//!
//! The loop is split by flow: [`gossip_flow`] (validating the public topic), [`delivery`]
//! (negotiation messages in and out, the outbox, mail), [`sync_flow`] (catch-up sync) and
//! [`peers`] (connections, discovery, per-peer state and penalties).

pub(crate) mod addresses;
mod blob_flow;
mod budget;
mod clock;
mod delivery;
mod dialer;
mod gossip_flow;
mod party_flow;
mod peers;
mod reach;
mod sync_flow;
mod trim;
mod unwritten;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, Swarm};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::types::{GossipState, NetworkStatus, NodeEvent, PeerInfo};
use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::config::NodeConfig;
use crate::gossip;
use crate::handle::Command;
use crate::service::{Followups, Inbound, OutboxDue, Service};

use delivery::Delivery;
use peers::PeerTable;
use sync_flow::{SyncDone, SyncFlow};

/// Gossip validations in flight at once. Past this, gossip is answered Ignore at once (the
/// message is not lost: sync and other peers bring it again) rather than letting validation fall
/// behind the message cache window.
const MAX_VALIDATING: usize = 256;
/// Inbound requests (negotiation messages, sync requests) in flight at once, counted apart from
/// gossip so that a burst of gossip never starves a peer's catch-up (a node passing on what it
/// just fetched used to make its source answer the next fetch "busy").
const MAX_SERVING: usize = 64;

/// How much of the store work peers bring (validating gossip, answering and ingesting syncs,
/// answering for files) runs at once: twice the cores, 4 to 16. The rest waits in line, in
/// order; the loop's own work and the owner's do not wait. The work is CPU and disk, so more at
/// once goes no faster, and each piece had taken a thread of its own: a node answering a
/// newcomer's catch-up of 120,000 listings ran 112 threads, 85 of them the blocking pool's,
/// and its heap grew from 111 to 267 MiB (each thread keeps memory of its own: the allocator's
/// pages, sled's deferred frees), most of it kept until the threads ended
/// (docs/PERFORMANCE.md, "Memory under a live load").
fn running_at_once() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    (2 * cores).clamp(4, 16)
}

/// Runs `work` on the blocking pool once one of `places` is free, tracked by `tracker`.
fn in_turn(
    tracker: &tokio_util::task::TaskTracker,
    places: &Arc<tokio::sync::Semaphore>,
    work: impl FnOnce() + Send + 'static,
) {
    let places = places.clone();
    tracker.spawn(async move {
        // Closed when the loop stops: what still waits is dropped, not run after the store's
        // last flush.
        let Ok(_place) = places.acquire_owned().await else { return };
        let _ = tokio::task::spawn_blocking(work).await;
    });
}

/// `work`, with `fallback` as its result if it panics (a bug): for work admitted against a
/// budget ([`EventLoop::admit`]), whose result releases its place and answers the peer. Without
/// it each such panic would keep one of the places for good (the blocking pool survives the
/// panic, the loop never hears of it), and a peer that found the bug could make the node answer
/// every peer "busy".
fn or_on_panic(
    fallback: Done,
    work: impl FnOnce(&Service) -> Option<Done> + Send + 'static,
) -> impl FnOnce(&Service) -> Option<Done> + Send + 'static {
    move |service| match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(service))) {
        Ok(done) => done,
        Err(_) => {
            tracing::error!("work for a peer panicked (a bug): its place is freed and the peer answered");
            Some(fallback)
        }
    }
}

/// Kinds of inbound work, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// Validating a gossip message.
    Gossip,
    /// Answering a peer's request.
    Request,
}
/// Objects kept for publishing while no peer is subscribed yet.
const MAX_UNPUBLISHED: usize = 1_000;
/// How long shutdown waits for store work under way.
const BLOCKING_DRAIN: Duration = Duration::from_secs(4);
/// How often the dialling schedule and reachability are checked: the schedule's waits are seconds
/// and up (at least `redial_min_secs`, 1 s or more), and each tick wakes an idle node.
const REDIAL_TICK: Duration = Duration::from_secs(1);
/// How often the node looks for auctions and campaigns (its own, and those its owner bid on or
/// backed) whose end has come: one is settled at most this long after its end.
const MARKET_TICK: Duration = Duration::from_secs(1);
/// How long listings must stop coming before the many still waiting for the search index (the
/// end of a burst) are committed to it, checked on the market tick: the index writer's memory is
/// given back, without a commit for each listing of a stream (a search takes in what waits
/// anyway).
const INDEX_QUIET: Duration = Duration::from_secs(2);
/// Capacity of the channel of finished store work.
const DONE_CAPACITY: usize = 1_024;

/// Finished blocking work, back to the loop.
#[derive(Debug)]
pub(crate) enum Done {
    /// A gossip message checked (and stored if new): report the verdict, act on the rest.
    Gossip { message_id: MessageId, source: PeerId, inbound: Inbound },
    /// A direct negotiation request taken in: answer it, act on the rest.
    Negotiated { token: u64, peer: PeerId, inbound: Inbound },
    /// Outbox messages due for sending.
    Outbox(OutboxDue),
    /// Mail opened: act on what it held.
    Mail(Inbound),
    /// Something to announce.
    Event(NodeEvent),
    /// Work the service asks for (threads ended by the sweep).
    Followups(Followups),
    /// Sync work.
    Sync(SyncDone),
    /// A peer's file request read from disk.
    BlobServed(blob_flow::Served),
    /// Two parties' threads and deals (`crate::party`).
    Party(party_flow::PartyDone),
}

/// How often the loop's periodic work runs.
#[derive(Debug, Clone, Copy)]
struct Intervals {
    retry: Duration,
    sweep: Duration,
    sync: Duration,
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    service: Service,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    shutdown: CancellationToken,
    /// Store work on the blocking pool, awaited at shutdown.
    blocking: tokio_util::task::TaskTracker,
    /// Places for that work to run at once ([`running_at_once`]); the rest waits its turn.
    places: Arc<tokio::sync::Semaphore>,
    intervals: Intervals,
    /// Gossip validations under way.
    validating: usize,
    /// Inbound requests under way.
    serving: usize,
    /// The last token handed to an inbound request (its answer comes back under it).
    last_token: u64,
    /// Stored objects waiting for a subscribed peer to publish to.
    unpublished: VecDeque<Vec<u8>>,
    /// Message ids the mesh has carried lately.
    seen: gossip_flow::Seen,
    delivery: Delivery,
    sync: SyncFlow,
    party: party_flow::PartyFlow,
    peers: PeerTable,
    dialer: dialer::Dialer,
    reach: reach::Reach,
    blob_flow: blob_flow::BlobFlow,
    /// Connections kept (see [`trim`]); 0 keeps them all.
    target_peers: usize,
    /// The peers this node relays for, which trimming leaves alone.
    hosting: trim::Hosting,
    /// A handle on this loop, for the file fetches it starts for peers.
    handle: crate::handle::NodeHandle,
    /// This node's clock against its peers'.
    clock: clock::ClockWatch,
    /// Inbound connections the guard refused, told in the log now and then.
    refusals: crate::guard::RefusalLog,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        service: Service,
        shutdown: CancellationToken,
        config: &NodeConfig,
        handle: crate::handle::NodeHandle,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::channel(DONE_CAPACITY);
        EventLoop {
            swarm,
            commands,
            service,
            done_tx,
            done_rx,
            shutdown,
            blocking: tokio_util::task::TaskTracker::new(),
            places: Arc::new(tokio::sync::Semaphore::new(running_at_once())),
            intervals: Intervals {
                retry: config.retry_interval(),
                sweep: config.sweep_interval(),
                sync: config.sync_interval(),
            },
            validating: 0,
            serving: 0,
            last_token: 0,
            unpublished: VecDeque::new(),
            seen: gossip_flow::Seen::default(),
            delivery: Delivery::default(),
            sync: SyncFlow::default(),
            party: party_flow::PartyFlow::default(),
            peers: PeerTable::default(),
            dialer: dialer::Dialer::new(config.redial_min(), config.redial_max(), config.retry_interval()),
            reach: reach::Reach::new(config.relay, config.upnp),
            blob_flow: blob_flow::BlobFlow::default(),
            target_peers: config.target_peers,
            hosting: trim::Hosting::default(),
            handle,
            clock: clock::ClockWatch::default(),
            refusals: crate::guard::RefusalLog::default(),
        }
    }

    /// Schedules the bootstrap peers (dialled on the loop's first tick, then redialled whenever
    /// they are lost, on the paced schedule).
    pub(crate) fn bootstrap(&mut self, peers: Vec<(PeerId, libp2p::Multiaddr)>) {
        for (peer, addr) in peers {
            self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            self.dialer.want(peer, [addr], crate::api::types::DialReason::Bootstrap);
        }
    }

    /// Notes in the address book the direct address a peer on the dialling schedule was just
    /// reached at by this node's dial (not peers that dialled in, nor those the DHT's own
    /// lookups reach: strangers could fill the book with either).
    fn note_address(&self, peer: PeerId, endpoint: &libp2p::core::ConnectedPoint) {
        if !endpoint.is_dialer() || !self.dialer.wants(&peer) {
            return;
        }
        let chosen = self.dialer.is_bootstrap(&peer) || self.dialer.is_party(&peer);
        let address = endpoint.get_remote_address().clone();
        self.spawn_blocking(move |service| {
            if let Err(e) = service.remember_peer(peer, &address, chosen) {
                tracing::debug!(error = %e, "cannot note the peer's address");
            }
            None
        });
    }

    /// Notes in the address book where `peer`, which dialled this node, says it listens: a
    /// direct address if it gave one, else a relayed one.
    fn note_heard(&self, peer: PeerId, addrs: Vec<libp2p::Multiaddr>) {
        let relayed =
            |a: &libp2p::Multiaddr| a.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::P2pCircuit));
        let Some(address) = addrs.iter().find(|a| !relayed(a)).or(addrs.first()).cloned() else { return };
        self.spawn_blocking(move |service| {
            if let Err(e) = service.heard_of_peer(peer, &address) {
                tracing::debug!(error = %e, "cannot note the peer's address");
            }
            None
        });
    }

    /// Schedules the peers of the address book (where this node last reached peers it dialled,
    /// and where peers that dialled it said they listen), so that a restarted node finds the network again without bootstrap peers. A peer that is
    /// gone costs a few paced dials before the dialler gives it up.
    pub(crate) fn known(&mut self, peers: Vec<(PeerId, libp2p::Multiaddr)>) {
        let me = *self.swarm.local_peer_id();
        for (peer, addr) in peers.into_iter().filter(|(p, _)| *p != me) {
            self.dialer.want(peer, [addr], crate::api::types::DialReason::Recent);
        }
    }

    pub(crate) async fn run(mut self) {
        // The listen addresses were bound (and the public ones advertised) before the loop
        // started: the DHT mode and the relay service follow from them.
        self.update_kad_mode();
        let mut retry = tokio::time::interval(self.intervals.retry);
        let mut sweep = tokio::time::interval(self.intervals.sweep);
        let mut periodic_sync = tokio::time::interval(self.intervals.sync);
        let mut redial = tokio::time::interval(REDIAL_TICK);
        let mut markets = tokio::time::interval(MARKET_TICK);
        markets.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Mail that arrived while the node was stopped (by an earlier sync) is opened now; what a
        // crash left half done (Accepts not confirmed, listing revisions not written after
        // deals) is done.
        self.check_mail();
        self.spawn_blocking(|service| match service.repair() {
            Ok(then) => (!then.is_empty()).then_some(Done::Followups(then)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check deals for pending listing revisions");
                None
            }
        });
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some(done) = self.done_rx.recv() => self.on_done(done),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = retry.tick() => self.retry_outbox(None),
                _ = sweep.tick() => {
                    self.prune_peers();
                    self.sweep();
                }
                _ = periodic_sync.tick() => self.sync_random_peer(),
                _ = markets.tick() => self.on_market_tick(),
                _ = redial.tick() => {
                    self.party_tick();
                    self.trim_connections();
                    self.redial();
                    self.check_reachability();
                    self.retry_punches();
                }
            }
        }
        self.hand_over().await;
        // Peers' work still waiting its turn is dropped (gossip and syncs bring it again).
        self.places.close();
        // Blocking work still under way holds the store: let it finish (it is short) so the
        // database is closed when the node says it has stopped.
        self.done_rx.close();
        self.blocking.close();
        if tokio::time::timeout(BLOCKING_DRAIN, self.blocking.wait()).await.is_err() {
            tracing::warn!("store work still running at shutdown");
        }
        tracing::info!("event loop stopped");
    }

    fn emit(&self, event: NodeEvent) {
        self.handle.announce(event);
    }

    /// Runs `work` on the blocking pool and sends its result back to the loop: the loop's own
    /// work and the owner's (outbox, deliveries, mail, the market tick, the sweep), which never
    /// waits behind peers'.
    fn spawn_blocking(&self, work: impl FnOnce(&Service) -> Option<Done> + Send + 'static) {
        let service = self.service.clone();
        let tx = self.done_tx.clone();
        self.blocking.spawn_blocking(move || {
            if let Some(done) = work(&service) {
                let _ = tx.blocking_send(done);
            }
        });
    }

    /// As [`Self::spawn_blocking`], for work peers bring (validating gossip, answering and
    /// ingesting syncs, answering for files): it runs once one of the loop's
    /// [`running_at_once`] places is free, in the order it came.
    fn spawn_in_turn(&self, work: impl FnOnce(&Service) -> Option<Done> + Send + 'static) {
        let service = self.service.clone();
        let tx = self.done_tx.clone();
        in_turn(&self.blocking, &self.places, move || {
            if let Some(done) = work(&service) {
                let _ = tx.blocking_send(done);
            }
        });
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { bytes, reply } => {
                let _ = reply.send(self.publish(bytes));
            }
            Command::FollowUp { then, reply } => {
                let _ = reply.send(self.follow_up(then));
            }
            Command::Dial { addr } => {
                if let Err(e) = self.swarm.dial(addr) {
                    tracing::warn!(error = %e, "dial failed");
                }
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::BlobRequest { peer, request, reply } => self.send_blob_request(peer, request, reply),
            Command::Penalise { peer } => self.penalise(peer),
            Command::Connected { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
        }
    }

    fn status(&self) -> NetworkStatus {
        let topic = gossip::topic().hash();
        let gs = &self.swarm.behaviour().gossipsub;
        NetworkStatus {
            peer_id: *self.swarm.local_peer_id(),
            listen_addrs: self.swarm.listeners().map(ToString::to_string).collect(),
            connected_peers: self.swarm.connected_peers().count(),
            topic_peers: gs.all_peers().filter(|(_, topics)| topics.contains(&&topic)).count(),
            mesh_peers: gs.mesh_peers(&topic).count(),
            unpublished: self.unpublished.len(),
            syncing: self.sync.running(),
            syncs_started: self.sync.last_session,
            syncs: self.peers.recent_syncs(),
            dialing: self.dialer.pending(std::time::Instant::now()),
            reachability: self.reachability(),
            external_addrs: self.swarm.external_addresses().map(ToString::to_string).collect(),
            relays: self.reach.relays_held(),
            relays_refused: self.reach.relays_refused(),
            private_network: addresses::private_network(self.swarm.listeners()),
            relaying: self.relaying(),
            hole_punches: self.reach.hole_punches(),
            delivered: self.service.delivered(),
            upnp: self.reach.upnp(),
            mdns: self.swarm.behaviour().mdns.is_enabled(),
            clock: self.clock.view(clock::Now::read()),
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let gs = &self.swarm.behaviour().gossipsub;
        self.swarm
            .connected_peers()
            .map(|peer| PeerInfo {
                peer_id: *peer,
                addresses: self.peers.listens(peer),
                agent: self.peers.agent(peer),
                score: gs.peer_score(peer),
                rejected: self.peers.rejects(peer),
                throttled: self.peers.throttled(peer),
                connections: self.reach.connections(peer),
            })
            .collect()
    }

    /// Gossips a stored object, or keeps it until a peer subscribes.
    fn publish(&mut self, bytes: Vec<u8>) -> GossipState {
        let id = gossip::message_id(&bytes);
        if self.seen.contains(&id) {
            // The mesh carried it already (it reached us by gossip too).
            return GossipState::Sent;
        }
        match self.swarm.behaviour_mut().gossipsub.publish(gossip::topic(), bytes.clone()) {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => {
                self.seen.insert(&id);
                GossipState::Sent
            }
            Err(e) => {
                if !matches!(
                    e,
                    gossipsub::PublishError::NoPeersSubscribedToTopic
                        | gossipsub::PublishError::AllQueuesFull(_)
                ) {
                    tracing::warn!(error = %e, "publish failed");
                }
                // Stored already; goes out when a peer subscribes (and sync covers the rest).
                if self.unpublished.len() >= MAX_UNPUBLISHED {
                    self.unpublished.pop_front();
                }
                self.unpublished.push_back(bytes);
                GossipState::Queued
            }
        }
    }

    fn flush_unpublished(&mut self) {
        for bytes in std::mem::take(&mut self.unpublished) {
            self.publish(bytes);
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.on_gossip(e),
            SwarmEvent::Behaviour(BehaviourEvent::Negotiate(e)) => self.on_negotiate(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.on_identify(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => self.on_kad(e),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(e)) => self.on_mdns(e),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.on_sync_event(e),
            SwarmEvent::Behaviour(BehaviourEvent::Party(e)) => self.on_party_event(e),
            SwarmEvent::Behaviour(BehaviourEvent::Blobs(e)) => self.on_blob_event(e),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(e)) => self.on_autonat(e),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(e)) => self.on_relay_client(e),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(e)) => self.on_dcutr(e),
            SwarmEvent::Behaviour(BehaviourEvent::Upnp(e)) => self.on_upnp(e),
            SwarmEvent::Behaviour(BehaviourEvent::Relay(e)) => {
                tracing::debug!(event = ?e, "relay");
                let swarm = &self.swarm;
                self.hosting.on_relay_event(&e, |peer| swarm.is_connected(peer));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Candidates(never)) => match never {},
            SwarmEvent::Behaviour(
                BehaviourEvent::Ping(_) | BehaviourEvent::Limits(_) | BehaviourEvent::AutonatServer(_),
            ) => {}
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                let relay_on = self.relay_set_on();
                addresses::advertise(&mut self.swarm, address, relay_on);
                self.update_kad_mode();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.swarm.remove_external_address(&address);
                self.update_kad_mode();
            }
            SwarmEvent::ListenerClosed { listener_id, addresses, reason } => {
                // The swarm says no ExpiredListenAddr for a closed listener's addresses: a
                // relay reservation that ended would otherwise stay advertised (status and
                // `haggle id` handed out a circuit address no relay served).
                for address in &addresses {
                    self.swarm.remove_external_address(address);
                }
                self.on_listener_closed(listener_id, reason.err());
                self.update_kad_mode();
            }
            SwarmEvent::ExternalAddrConfirmed { address } => self.on_external_confirmed(address),
            SwarmEvent::ExternalAddrExpired { .. } => self.on_external_expired(),
            SwarmEvent::ConnectionEstablished {
                peer_id, connection_id, num_established, endpoint, ..
            } => {
                // Before this connection is counted: a second direct connection (an AutoNAT
                // dial-back, a simultaneous dial) is not a reason to sync again.
                let had_direct = self.reach.is_direct(&peer_id);
                self.on_connection_opened(connection_id, peer_id, &endpoint);
                let direct = !endpoint.is_relayed();
                if direct && !had_direct {
                    self.note_address(peer_id, &endpoint);
                }
                if num_established.get() == 1 {
                    let local = direct && addresses::is_local(endpoint.get_remote_address());
                    // Budgets are remembered by address only for addresses on the internet: a
                    // LAN (one household) or loopback (tests) is not one stranger.
                    let ip = if direct && !local {
                        crate::guard::ip_of(endpoint.get_remote_address())
                    } else {
                        None
                    };
                    self.on_connected(peer_id, endpoint.is_dialer(), local, ip);
                } else if direct && !had_direct && endpoint.is_dialer() {
                    // A direct connection replacing a relayed one (hole punching): the sync
                    // that waited for it.
                    self.start_sync(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, cause, .. } => {
                // A connection that failed (an I/O error, not a close) while a newer one to the same
                // peer stays: the peer most likely restarted and dialled again before this node
                // saw the old one die. gossipsub sends its subscriptions on a peer's first
                // connection only, so the restarted peer never learnt them and left this node
                // off the listings topic for good (found in a trial, after `kill -9`). The peer
                // is disconnected, to connect again afresh.
                let newer = self.reach.has_newer(&peer_id, connection_id);
                // An I/O error only: a connection closed for being idle (keep-alive) is no sign
                // of a restart.
                let failed = matches!(cause, Some(libp2p::swarm::ConnectionError::IO(_)));
                if num_established > 0 && failed && newer {
                    tracing::debug!(peer = %peer_id, "an older connection failed beside a newer one; reconnecting afresh");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
                self.on_connection_closed(connection_id);
                if num_established == 0 {
                    // A close this node did not ask for: the peer's choice (it trimmed this
                    // connection, or stopped), or the network's.
                    let by_remote = matches!(cause, Some(libp2p::swarm::ConnectionError::IO(_)));
                    self.on_disconnected(peer_id, by_remote);
                }
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                if let Some(refused) = crate::guard::refusal(&error) {
                    match self.refusals.note(std::time::Instant::now()) {
                        Some(1) => {
                            tracing::info!(from = %send_back_addr, "refused an inbound connection: {refused}{}", refused.hint())
                        }
                        Some(n) => {
                            tracing::info!(from = %send_back_addr, "refused {n} inbound connections since the last such line, the last: {refused}{}", refused.hint())
                        }
                        None => {}
                    }
                } else {
                    tracing::debug!(from = %send_back_addr, %error, "inbound connection failed");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error, .. } => {
                tracing::debug!(%peer, %error, "dial failed");
                // Retried on the paced schedule, never at once (a dead address would otherwise be
                // dialled in a loop).
                self.dial_failed(peer, dialer::describe(&error));
            }
            _ => {}
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Gossip { message_id, source, inbound } => {
                self.release(Work::Gossip);
                self.on_validated(message_id, source, inbound);
            }
            Done::Negotiated { token, peer, inbound } => {
                self.release(Work::Request);
                self.on_negotiated(token, peer, inbound);
            }
            Done::Outbox(due) => self.send_due(due),
            Done::Mail(inbound) => self.act_on(inbound),
            Done::Event(event) => self.emit(event),
            Done::Followups(then) => {
                self.follow_up(then);
            }
            Done::Sync(done) => self.on_sync_done(done),
            Done::BlobServed(served) => self.on_blob_served(served),
            Done::Party(done) => self.on_party_done(done),
        }
    }

    /// Does what objects from outside call for, whatever carried them: announce, gossip on,
    /// open mail.
    fn act_on(&mut self, inbound: Inbound) {
        let _ = self.follow_up(inbound.then);
        if inbound.open_mail {
            self.check_mail();
        }
    }

    /// Announces, gossips and delivers what the service asks for, whoever asked (an action of
    /// the owner's through the API, objects from outside, the sweep). Says whether what it
    /// gossiped went out: `Queued` if anything waits for a peer, `None` if nothing was gossiped.
    fn follow_up(&mut self, then: Followups) -> Option<GossipState> {
        for event in then.events {
            self.emit(event);
        }
        let mut gossip = None;
        for bytes in then.publish {
            let sent = self.publish(bytes);
            if gossip != Some(GossipState::Queued) {
                gossip = Some(sent);
            }
        }
        for party in then.deliver {
            self.retry_outbox(Some(party.peer_id()));
        }
        // Thumbnails missed here (too many background fetches waiting, no peer has them yet)
        // are fetched when someone looks at the listing.
        for (thumb, author) in then.thumbnails {
            drop(self.handle.fetch_for(thumb, vec![author], crate::files::Priority::Background));
        }
        gossip
    }

    /// Ends the owner's auctions and campaigns whose time is up and announces ended ones (see
    /// `Service::settle_markets`).
    fn settle_markets(&self) {
        self.spawn_blocking(|service| {
            // The data dir deleted or moved under the node stops it (see `Store::still_in_place`).
            if let Err(e) = service.store_in_place() {
                service.check_store(&e);
                return None;
            }
            match service.settle_markets() {
                Ok(then) => (!then.is_empty()).then_some(Done::Followups(then)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot settle ended auctions and campaigns");
                    service.check_store(&e);
                    None
                }
            }
        });
    }

    /// Each second: auctions and campaigns whose end came, and the search index after a burst.
    fn on_market_tick(&self) {
        self.settle_markets();
        self.commit_quiet_index();
    }

    fn commit_quiet_index(&self) {
        if !self.service.index_quiet_due(INDEX_QUIET) {
            return;
        }
        self.spawn_blocking(|service| {
            if let Err(e) = service.commit_quiet_index(INDEX_QUIET) {
                tracing::warn!(error = %e, "cannot bring the search index up to date");
                service.check_store(&e);
            }
            None
        });
    }

    fn sweep(&self) {
        self.spawn_blocking(|service| match service.sweep() {
            Ok((swept, then)) => {
                if swept != haggle_storage::Swept::default() {
                    tracing::info!(
                        listings = swept.listings,
                        threads = swept.threads,
                        mail = swept.mail,
                        conversations = swept.conversations,
                        evicted = swept.evicted,
                        "swept what had its time"
                    );
                }
                (!then.is_empty()).then_some(Done::Followups(then))
            }
            Err(e) => {
                tracing::warn!(error = %e, "expiry sweep failed");
                service.check_store(&e);
                None
            }
        });
    }

    /// Admits one more piece of inbound work, unless too many of its kind are under way;
    /// returns the token its answer comes back under.
    fn admit(&mut self, work: Work) -> Option<u64> {
        let (count, max) = match work {
            Work::Gossip => (&mut self.validating, MAX_VALIDATING),
            Work::Request => (&mut self.serving, MAX_SERVING),
        };
        if *count >= max {
            return None;
        }
        *count += 1;
        self.last_token += 1;
        Some(self.last_token)
    }

    /// One piece of inbound work of this kind is done.
    fn release(&mut self, work: Work) {
        let count = match work {
            Work::Gossip => &mut self.validating,
            Work::Request => &mut self.serving,
        };
        *count = count.saturating_sub(1);
    }

    /// Reports a gossip verdict to gossipsub.
    fn report(&mut self, id: &MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        let _ = self.swarm.behaviour_mut().gossipsub.report_message_validation_result(id, source, acceptance);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Work admitted against a budget that panics (a bug) still brings back a result, the
    /// fallback, so its place is released and the peer answered; work that does not panic
    /// brings back its own.
    #[test]
    fn admitted_work_that_panics_brings_back_its_fallback() {
        let (service, _dir) = crate::service::testing::service(1);
        let peer = PeerId::random();
        let fallback = || Done::Negotiated { token: 7, peer, inbound: crate::service::Inbound::failed() };
        let panicking = or_on_panic(fallback(), |_| panic!("a bug"));
        match panicking(&service) {
            Some(Done::Negotiated { token: 7, inbound, .. }) => {
                assert!(matches!(inbound.first(), Some(crate::service::Received::Failed)));
            }
            other => panic!("{other:?}"),
        }
        let fine = or_on_panic(fallback(), |_| None);
        assert!(fine(&service).is_none());
    }

    /// However much work comes at once, no more than the places run at a time, and all of it
    /// runs: 200 pieces that each wait a little, on a runtime whose blocking pool could take a
    /// thread for each.
    #[test]
    fn store_work_runs_a_few_at_a_time_and_all_of_it_runs() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .expect("runtime");
        let places = Arc::new(tokio::sync::Semaphore::new(running_at_once()));
        let tracker = tokio_util::task::TaskTracker::new();
        let (now, most, done) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        runtime.block_on(async {
            for _ in 0..200 {
                let (now, most, done) = (now.clone(), most.clone(), done.clone());
                in_turn(&tracker, &places, move || {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    now.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
            tracker.close();
            tokio::time::timeout(Duration::from_secs(60), tracker.wait()).await.expect("all of it ran");
        });
        assert_eq!(done.load(Ordering::SeqCst), 200);
        let most = most.load(Ordering::SeqCst);
        assert!(most <= running_at_once(), "{most} ran at once, past {}", running_at_once());
        assert!(most > 1, "the work ran side by side, not one at a time");
        assert!((4..=16).contains(&running_at_once()));
    }
}
