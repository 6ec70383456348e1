//! The task that owns the Swarm. Everything else reaches it through [`crate::NodeHandle`]
//! commands. Store work (verifying and writing) runs on tokio's blocking pool and comes back as
//! [`Done`] messages, so the loop never waits on the disk.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, mdns};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use haggle_protocol::{Body, Object, ObjectId, PublicKey, Timestamp};
use haggle_storage::{DeliveryState, Durability, Outcome};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::gossip;
use crate::handle::{Command, NetworkStatus, NodeEvent, PeerInfo};
use crate::service::Service;
use crate::sync::SyncResponse;
use crate::wire::{NegotiateRequest, NegotiateResponse};

mod sync_flow;

use sync_flow::{SyncDone, SyncState};

/// Validations and inbound requests in flight at once. Past this, gossip is answered Ignore at
/// once (the message is not lost: sync and other peers bring it again) rather than letting
/// validation fall behind the message cache window.
const MAX_IN_FLIGHT: usize = 256;
/// Invalid objects from one peer before it is banned and disconnected.
const MAX_REJECTS: u32 = 3;
/// Objects kept for publishing while no peer is subscribed yet.
const MAX_UNPUBLISHED: usize = 1_000;
/// Outgoing negotiation requests in flight at once.
const MAX_OUTBOUND: usize = 64;
/// Longest wait between periodic delivery attempts of one message (a reconnect always retries
/// at once).
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How long shutdown waits for store work under way.
const BLOCKING_DRAIN: Duration = Duration::from_secs(4);
/// Capacity of the channel of finished store work.
const DONE_CAPACITY: usize = 1_024;

/// Outbox messages (id and wire bytes) for one recipient.
pub(crate) type Outgoing = (PeerId, Vec<(ObjectId, Vec<u8>)>);

/// Finished blocking work, back to the loop.
#[derive(Debug)]
pub(crate) enum Done {
    Validated {
        message_id: MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
        event: Option<NodeEvent>,
        /// Mail for this node arrived: open it.
        mail: bool,
    },
    Answered {
        token: u64,
        response: NegotiateResponse,
        events: Vec<NodeEvent>,
        publish: Vec<Vec<u8>>,
    },
    /// Outbox messages loaded for sending, by recipient.
    ToSend {
        batches: Vec<Outgoing>,
        unreachable: Vec<PeerId>,
        /// Mailbox copies of messages for unreachable parties, to gossip.
        mail: Vec<Vec<u8>>,
    },
    /// Mail opened or receipts seen: events to announce and objects to gossip.
    Mail {
        events: Vec<NodeEvent>,
        publish: Vec<Vec<u8>>,
    },
    Recorded {
        event: Option<NodeEvent>,
    },
    Sync(SyncDone),
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<NodeEvent>,
    service: Service,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    shutdown: CancellationToken,
    in_flight: usize,
    unpublished: VecDeque<Vec<u8>>,
    /// Outgoing negotiation requests: request id → message id.
    outbound: HashMap<OutboundRequestId, ObjectId>,
    /// Messages with a request in flight (not to send twice at once).
    sending: HashSet<ObjectId>,
    /// Inbound negotiation requests awaiting their store write.
    inbound: HashMap<u64, ResponseChannel<NegotiateResponse>>,
    next_token: u64,
    rejects: HashMap<PeerId, u32>,
    agents: HashMap<PeerId, String>,
    retry_every: Duration,
    sweep_every: Duration,
    sync_every: Duration,
    /// Store work on the blocking pool, awaited at shutdown.
    blocking: tokio_util::task::TaskTracker,
    /// Sessions this node runs as initiator, by peer.
    syncs: HashMap<PeerId, SyncState>,
    sync_requests: HashMap<OutboundRequestId, PeerId>,
    /// Inbound sync requests awaiting their answer.
    sync_inbound: HashMap<u64, ResponseChannel<SyncResponse>>,
    /// Sync requests served per peer in the current minute.
    sync_served: HashMap<PeerId, (std::time::Instant, u32)>,
    /// The last completed sync with each peer (for status).
    sync_history: HashMap<PeerId, crate::handle::SyncInfo>,
}

impl EventLoop {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<NodeEvent>,
        service: Service,
        shutdown: CancellationToken,
        retry_every: Duration,
        sweep_every: Duration,
        sync_every: Duration,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::channel(DONE_CAPACITY);
        EventLoop {
            swarm,
            commands,
            events,
            service,
            done_tx,
            done_rx,
            shutdown,
            in_flight: 0,
            unpublished: VecDeque::new(),
            outbound: HashMap::new(),
            sending: HashSet::new(),
            inbound: HashMap::new(),
            next_token: 0,
            rejects: HashMap::new(),
            agents: HashMap::new(),
            retry_every,
            sweep_every,
            sync_every,
            blocking: tokio_util::task::TaskTracker::new(),
            syncs: HashMap::new(),
            sync_requests: HashMap::new(),
            sync_inbound: HashMap::new(),
            sync_served: HashMap::new(),
            sync_history: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut retry = tokio::time::interval(self.retry_every);
        let mut sweep = tokio::time::interval(self.sweep_every);
        let mut periodic_sync = tokio::time::interval(self.sync_every);
        // Mail that arrived while the node was stopped (by an earlier sync) is opened now.
        self.check_mail();
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
                _ = sweep.tick() => self.sweep(),
                _ = periodic_sync.tick() => self.sync_random_peer(),
            }
        }
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
        let _ = self.events.send(event);
    }

    /// Runs `work` on the blocking pool and sends its result back to the loop.
    fn spawn_blocking(&self, work: impl FnOnce(&Service) -> Option<Done> + Send + 'static) {
        let service = self.service.clone();
        let tx = self.done_tx.clone();
        self.blocking.spawn_blocking(move || {
            if let Some(done) = work(&service) {
                let _ = tx.blocking_send(done);
            }
        });
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { bytes } => self.publish(bytes),
            Command::Deliver { to } => {
                if let Some(peer) = to.peer_id() {
                    self.retry_outbox(Some(peer));
                }
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
                let _ = reply.send(self.peers());
            }
        }
    }

    fn status(&self) -> NetworkStatus {
        let topic = gossip::topic().hash();
        let gs = &self.swarm.behaviour().gossipsub;
        NetworkStatus {
            peer_id: self.swarm.local_peer_id().to_string(),
            listen_addrs: self.swarm.listeners().map(ToString::to_string).collect(),
            connected_peers: self.swarm.connected_peers().count(),
            topic_peers: gs.all_peers().filter(|(_, topics)| topics.contains(&&topic)).count(),
            mesh_peers: gs.mesh_peers(&topic).count(),
            unpublished: self.unpublished.len(),
            syncing: self.syncs.len(),
            syncs: self.sync_infos(),
        }
    }

    fn peers(&self) -> Vec<PeerInfo> {
        let gs = &self.swarm.behaviour().gossipsub;
        self.swarm
            .connected_peers()
            .map(|peer| PeerInfo {
                peer_id: peer.to_string(),
                addresses: Vec::new(),
                agent: self.agents.get(peer).cloned(),
                score: gs.peer_score(peer),
                rejected: self.rejects.get(peer).copied().unwrap_or(0),
            })
            .collect()
    }

    fn publish(&mut self, bytes: Vec<u8>) {
        match self.swarm.behaviour_mut().gossipsub.publish(gossip::topic(), bytes.clone()) {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
            Err(
                gossipsub::PublishError::NoPeersSubscribedToTopic | gossipsub::PublishError::AllQueuesFull(_),
            ) => {
                // Stored already; goes out when a peer subscribes (and sync covers the rest).
                if self.unpublished.len() >= MAX_UNPUBLISHED {
                    self.unpublished.pop_front();
                }
                self.unpublished.push_back(bytes);
            }
            Err(e) => tracing::warn!(error = %e, "publish failed"),
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
            SwarmEvent::Behaviour(BehaviourEvent::Ping(_) | BehaviourEvent::Limits(_)) => {}
            SwarmEvent::NewListenAddr { address, .. } => tracing::info!(%address, "listening"),
            SwarmEvent::ConnectionEstablished { peer_id, num_established, endpoint, .. }
                if num_established.get() == 1 =>
            {
                tracing::debug!(peer = %peer_id, "connected");
                self.emit(NodeEvent::PeerConnected { peer: peer_id.to_string() });
                self.retry_outbox(Some(peer_id));
                // One session per new connection covers both directions (it fetches and pushes),
                // so only the side that dialed starts it.
                if endpoint.is_dialer() {
                    self.start_sync(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                tracing::debug!(peer = %peer_id, "disconnected");
                self.emit(NodeEvent::PeerDisconnected { peer: peer_id.to_string() });
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error, .. } => {
                tracing::debug!(%peer, %error, "dial failed");
                // Find the peer's current addresses through the DHT; a later retry dials again.
                self.swarm.behaviour_mut().kad.get_closest_peers(peer);
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                self.validate(propagation_source, message_id, message.data);
            }
            gossipsub::Event::Subscribed { .. } => self.flush_unpublished(),
            _ => {}
        }
    }

    /// decode → verify → store, then Accept (forward), Ignore, or Reject (penalise).
    fn validate(&mut self, source: PeerId, message_id: MessageId, data: Vec<u8>) {
        if self.in_flight >= MAX_IN_FLIGHT {
            self.report(&message_id, &source, MessageAcceptance::Ignore);
            return;
        }
        self.in_flight += 1;
        self.spawn_blocking(move |service| {
            let mut mail = false;
            let (acceptance, event) = match Object::decode_verify(&data, Timestamp::now()) {
                Err(e) => {
                    tracing::debug!(peer = %source, error = %e, "invalid object on gossip");
                    (MessageAcceptance::Reject, None)
                }
                // Negotiation messages never travel on the public topic.
                Ok(object) if !object.kind().is_public() => (MessageAcceptance::Reject, None),
                Ok(object) => match service.store().ingest_verified(&object, Durability::Lazy) {
                    Ok(Outcome::New { id, .. }) => {
                        let me = service.me();
                        let event = match object.body() {
                            Body::Listing(_) => Some(NodeEvent::ListingStored { id: id.to_hex() }),
                            Body::Receipt(r) if r.to == me => {
                                service.store().mailbox_message(&r.mailbox).ok().flatten().map(|m| {
                                    NodeEvent::DeliveryChanged { id: m.to_hex(), state: "delivered".into() }
                                })
                            }
                            _ => None,
                        };
                        mail = matches!(object.body(), Body::Mailbox(m) if m.to == me);
                        (MessageAcceptance::Accept, event)
                    }
                    Ok(Outcome::Duplicate { .. } | Outcome::Stale { .. }) => {
                        (MessageAcceptance::Ignore, None)
                    }
                    Ok(Outcome::Rejected(r)) if r.reason.is_peer_fault() => (MessageAcceptance::Reject, None),
                    Ok(Outcome::Rejected(_)) => (MessageAcceptance::Ignore, None),
                    Err(e) => {
                        tracing::warn!(error = %e, "store error during validation");
                        (MessageAcceptance::Ignore, None)
                    }
                },
            };
            Some(Done::Validated { message_id, source, acceptance, event, mail })
        });
    }

    fn report(&mut self, id: &MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        let _ = self.swarm.behaviour_mut().gossipsub.report_message_validation_result(id, source, acceptance);
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Validated { message_id, source, acceptance, event, mail } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if mail {
                    self.check_mail();
                }
                let rejected = matches!(acceptance, MessageAcceptance::Reject);
                self.report(&message_id, &source, acceptance);
                if rejected {
                    self.penalise(source);
                }
                if let Some(event) = event {
                    self.emit(event);
                }
            }
            Done::Answered { token, response, events, publish } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if let Some(channel) = self.inbound.remove(&token) {
                    let _ = self.swarm.behaviour_mut().negotiate.send_response(channel, response);
                }
                for event in events {
                    self.emit(event);
                }
                for bytes in publish {
                    self.publish(bytes);
                }
            }
            Done::Mail { events, publish } => {
                for event in events {
                    self.emit(event);
                }
                for bytes in publish {
                    self.publish(bytes);
                }
            }
            Done::ToSend { batches, unreachable, mail } => {
                for bytes in mail {
                    self.publish(bytes);
                }
                for (peer, messages) in batches {
                    for (id, bytes) in messages {
                        if self.outbound.len() >= MAX_OUTBOUND || !self.sending.insert(id) {
                            continue;
                        }
                        let request_id = self
                            .swarm
                            .behaviour_mut()
                            .negotiate
                            .send_request(&peer, NegotiateRequest { object: bytes });
                        self.outbound.insert(request_id, id);
                        self.record(id, DeliveryState::Sent, None);
                    }
                }
                for peer in unreachable {
                    self.dial(peer);
                }
            }
            Done::Recorded { event } => {
                if let Some(event) = event {
                    self.emit(event);
                }
            }
            Done::Sync(done) => self.on_sync_done(done),
        }
    }

    /// Counts an inbound request in flight and returns the token its answer comes back under.
    fn admit(&mut self) -> u64 {
        self.in_flight += 1;
        self.next_token += 1;
        self.next_token
    }

    fn penalise(&mut self, peer: PeerId) {
        let count = self.rejects.entry(peer).or_insert(0);
        *count += 1;
        let rejected = *count;
        tracing::info!(%peer, rejected, "rejected an invalid object");
        self.emit(NodeEvent::PeerMisbehaved { peer: peer.to_string(), rejected });
        if rejected >= MAX_REJECTS {
            tracing::warn!(%peer, "banning a peer that keeps sending invalid objects");
            self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn dial(&mut self, peer: PeerId) {
        if self.swarm.is_connected(&peer) {
            return;
        }
        if let Err(e) = self.swarm.dial(DialOpts::peer_id(peer).build()) {
            tracing::debug!(%peer, error = %e, "cannot dial yet; asking the DHT");
            self.swarm.behaviour_mut().kad.get_closest_peers(peer);
        }
    }

    fn on_negotiate(&mut self, event: request_response::Event<NegotiateRequest, NegotiateResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.on_negotiate_request(peer, request, channel);
                }
                request_response::Message::Response { request_id, response } => {
                    let Some(id) = self.outbound.remove(&request_id) else { return };
                    self.sending.remove(&id);
                    match response {
                        NegotiateResponse::Stored => self.record(id, DeliveryState::Delivered, None),
                        NegotiateResponse::Rejected { reason, retry: true } => {
                            self.record(id, DeliveryState::Queued, Some(reason))
                        }
                        NegotiateResponse::Rejected { reason, retry: false } => {
                            self.record(id, DeliveryState::Failed, Some(reason))
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                if let Some(id) = self.outbound.remove(&request_id) {
                    self.sending.remove(&id);
                    self.record(id, DeliveryState::Queued, Some(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound negotiation request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_negotiate_request(
        &mut self,
        peer: PeerId,
        request: NegotiateRequest,
        channel: ResponseChannel<NegotiateResponse>,
    ) {
        if self.in_flight >= MAX_IN_FLIGHT {
            let busy = NegotiateResponse::Rejected { reason: "node busy".into(), retry: true };
            let _ = self.swarm.behaviour_mut().negotiate.send_response(channel, busy);
            return;
        }
        let token = self.admit();
        self.inbound.insert(token, channel);
        self.spawn_blocking(move |service| {
            let (response, events, publish) = receive_negotiation(service, peer, &request.object);
            Some(Done::Answered { token, response, events, publish })
        });
    }

    /// Records a delivery state change on the blocking pool and announces it.
    fn record(&self, id: ObjectId, state: DeliveryState, error: Option<String>) {
        self.spawn_blocking(move |service| {
            let event = match service.store().outbox_record(&id, state, error) {
                Ok(Some(entry)) => Some(NodeEvent::DeliveryChanged {
                    id: id.to_hex(),
                    state: entry.state.as_str().to_owned(),
                }),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record delivery state");
                    None
                }
            };
            Some(Done::Recorded { event })
        });
    }

    /// Loads queued messages (for one peer, or all) and sends those whose recipient is connected;
    /// dials the others.
    fn retry_outbox(&mut self, only: Option<PeerId>) {
        let connected: HashSet<PeerId> = self.swarm.connected_peers().copied().collect();
        let base = self.retry_every;
        self.spawn_blocking(move |service| {
            let store = service.store();
            let entries = match only.and_then(|p| PublicKey::from_peer_id(&p)) {
                Some(key) => store.outbox_pending_for(&key),
                None if only.is_some() => return None,
                None => store.outbox_pending(),
            };
            let entries = match entries {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    return None;
                }
            };
            let mut by_peer: HashMap<PeerId, Vec<(ObjectId, Vec<u8>)>> = HashMap::new();
            let mut mail = Vec::new();
            let now = Timestamp::now();
            for entry in entries {
                // A party that is not connected gets a sealed copy through the network as well;
                // whichever arrives first wins, and the other is a harmless duplicate.
                if entry.to.peer_id().is_some_and(|p| !connected.contains(&p)) {
                    match service.mail_out(&entry) {
                        Ok(Some(bytes)) => mail.push(bytes),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot seal a message for offline delivery"),
                    }
                }
                // Periodic retries back off per message; a fresh connection to the peer (`only`)
                // tries at once.
                if only.is_none()
                    && let Some(last) = entry.last_attempt
                    && now.since(last) < backoff(base, entry.attempts)
                {
                    continue;
                }
                let (Some(peer), Ok(Some(object))) = (entry.to.peer_id(), store.get(&entry.id)) else {
                    continue;
                };
                by_peer.entry(peer).or_default().push((entry.id, object.bytes().to_vec()));
            }
            let (batches, unreachable): (Vec<_>, Vec<_>) =
                by_peer.into_iter().partition(|(p, _)| connected.contains(p));
            Some(Done::ToSend {
                batches,
                unreachable: unreachable.into_iter().map(|(p, _)| p).collect(),
                mail,
            })
        });
    }

    /// Opens mail addressed to this node and announces deliveries confirmed by receipts.
    pub(crate) fn check_mail(&self) {
        self.spawn_blocking(|service| match service.open_mail() {
            Ok(opened) if opened.events.is_empty() && opened.publish.is_empty() => None,
            Ok(opened) => Some(Done::Mail { events: opened.events, publish: opened.publish }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open mail");
                None
            }
        });
    }

    fn sweep(&self) {
        self.spawn_blocking(|service| {
            match service.store().sweep_expired(Timestamp::now()) {
                Ok(0) => {}
                Ok(n) => tracing::info!(listings = n, "swept expired listings"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
            None
        });
    }

    fn on_identify(&mut self, event: identify::Event) {
        if let identify::Event::Received { peer_id, info, .. } = event {
            self.agents.insert(peer_id, info.agent_version.clone());
            let kad = &mut self.swarm.behaviour_mut().kad;
            for addr in info.listen_addrs {
                kad.add_address(&peer_id, addr);
            }
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        if let kad::Event::OutboundQueryProgressed {
            result: kad::QueryResult::GetClosestPeers(Ok(ok)), ..
        } = event
        {
            let Ok(target) = PeerId::from_bytes(&ok.key) else { return };
            if let Some(found) = ok.peers.into_iter().find(|p| p.peer_id == target)
                && !found.addrs.is_empty()
                && !self.swarm.is_connected(&target)
            {
                let opts = DialOpts::peer_id(target).addresses(found.addrs).build();
                if let Err(e) = self.swarm.dial(opts) {
                    tracing::debug!(peer = %target, error = %e, "dial after DHT lookup failed");
                }
            }
        }
    }

    fn on_mdns(&mut self, event: mdns::Event) {
        if let mdns::Event::Discovered(found) = event {
            for (peer, addr) in found {
                self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                if !self.swarm.is_connected(&peer) {
                    let _ = self.swarm.dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
                }
            }
        }
    }
}

/// Handles one negotiation message from `peer`: verify, check it is for us, store durably,
/// and after a deal on our listing sign its next revision. Returns the reply, events, and
/// objects to gossip.
fn receive_negotiation(
    service: &Service,
    peer: PeerId,
    bytes: &[u8],
) -> (NegotiateResponse, Vec<NodeEvent>, Vec<Vec<u8>>) {
    let refuse =
        |reason: String| (NegotiateResponse::Rejected { reason, retry: false }, Vec::new(), Vec::new());
    let object = match Object::decode_verify(bytes, Timestamp::now()) {
        Ok(object) => object,
        Err(e) => return refuse(e.to_string()),
    };
    if object.kind().is_public() {
        return refuse("public objects travel by gossip, not by direct delivery".into());
    }
    if object.body().recipient() != Some(service.me()) {
        return refuse("this message is addressed to someone else".into());
    }
    if object.author().peer_id() != Some(peer) {
        tracing::debug!(%peer, "negotiation message relayed by a peer other than its author");
    }
    match service.store().ingest_verified(&object, Durability::Flush) {
        Ok(Outcome::New { id, kind, deal }) => {
            let thread = match object.body() {
                Body::Offer(_) => id,
                body => body.reply().map_or(id, |r| r.thread),
            };
            let mut events = vec![NodeEvent::NegotiationReceived {
                id: id.to_hex(),
                thread: thread.to_hex(),
                kind: kind.as_str().to_owned(),
            }];
            let mut publish = Vec::new();
            if let Some(deal) = deal {
                events.push(NodeEvent::DealMade { id: deal.to_hex(), thread: thread.to_hex() });
                match service.after_deal(&deal) {
                    Ok(Some(next)) => {
                        events.push(NodeEvent::ListingPublished { id: next.id().to_hex() });
                        publish.push(next.bytes().to_vec());
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot publish the listing's next revision after a deal")
                    }
                }
            }
            (NegotiateResponse::Stored, events, publish)
        }
        Ok(Outcome::Duplicate { .. } | Outcome::Stale { .. }) => {
            (NegotiateResponse::Stored, Vec::new(), Vec::new())
        }
        Ok(Outcome::Rejected(r)) => {
            let retry = !r.reason.is_peer_fault();
            (NegotiateResponse::Rejected { reason: r.reason.to_string(), retry }, Vec::new(), Vec::new())
        }
        Err(e) => {
            tracing::warn!(error = %e, "store error receiving a negotiation message");
            (
                NegotiateResponse::Rejected { reason: "the node could not store it".into(), retry: true },
                Vec::new(),
                Vec::new(),
            )
        }
    }
}

/// How long after its last attempt a message is tried again: doubling from the retry interval
/// with each attempt, at most [`MAX_BACKOFF`].
fn backoff(base: Duration, attempts: u32) -> Duration {
    base.saturating_mul(1 << attempts.min(10)).min(MAX_BACKOFF)
}

/// Parses a bootstrap address, which must end in `/p2p/<PeerId>`.
pub(crate) fn bootstrap_peer(addr: &str) -> Result<(PeerId, Multiaddr), String> {
    let multiaddr: Multiaddr = addr.parse().map_err(|e| format!("{e}"))?;
    match multiaddr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Ok((peer, multiaddr)),
        _ => Err("it must end in /p2p/<PeerId>".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let base = Duration::from_secs(15);
        assert_eq!(backoff(base, 0), base);
        assert_eq!(backoff(base, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, 3), Duration::from_secs(120));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
    }

    #[test]
    fn bootstrap_addresses_need_a_peer_id() {
        assert!(bootstrap_peer("/ip4/127.0.0.1/tcp/7400").is_err());
        assert!(bootstrap_peer("not an address").is_err());
        let addr = "/ip4/127.0.0.1/tcp/7400/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
        assert_eq!(
            bootstrap_peer(addr).expect("valid").0.to_string(),
            "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"
        );
    }
}
