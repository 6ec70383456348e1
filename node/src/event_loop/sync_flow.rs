//! The event loop's side of catch-up sync: running sessions as initiator (reconcile, then fetch
//! what we lack and push what the peer lacks) and serving peers' requests. The reconciliation
//! and all store work run on the blocking pool.

use std::time::Instant;

use libp2p::PeerId;
use libp2p::request_response::{self, ResponseChannel};

use haggle_protocol::{Object, ObjectId, Timestamp};
use haggle_storage::{Durability, Outcome};

use super::{Done, EventLoop};
use crate::handle::{NodeEvent, SyncInfo};
use crate::service::Service;
use crate::sync::{FETCH_BATCH, PUSH_BATCH, Session, SyncRequest, SyncResponse, respond};

/// Sessions this node runs as initiator at once.
pub(super) const MAX_SYNCS: usize = 4;
/// Sync requests served to one peer per minute: a full catch-up of a large market takes a few
/// hundred; more is abuse.
const SERVED_PER_MINUTE: u32 = 600;

/// A session this node runs with a peer.
#[derive(Debug)]
pub(super) struct SyncState {
    /// The negentropy session, while it is not on the blocking pool.
    session: Option<Box<Session>>,
    /// Fetch, push and load steps still under way after reconciliation.
    outstanding: usize,
    reconciled: bool,
    /// Objects the reconciliation said we lack.
    needed: u64,
    received: u64,
    sent: u64,
    started: Instant,
}

/// Sync work finished on the blocking pool.
#[derive(Debug)]
pub(crate) enum SyncDone {
    Step { peer: PeerId, session: Box<Session>, next: Result<Option<Vec<u8>>, String> },
    Fetched { peer: PeerId, new: u64, invalid: u32, regossip: Vec<Vec<u8>> },
    PushLoaded { peer: PeerId, batches: Vec<Vec<Vec<u8>>> },
    Serve { token: u64, peer: PeerId, response: SyncResponse, invalid: u32, new: u64, regossip: Vec<Vec<u8>> },
}

impl EventLoop {
    /// Starts a session with `peer` unless one is running or too many are.
    pub(super) fn start_sync(&mut self, peer: PeerId) {
        if self.syncs.contains_key(&peer) || self.syncs.len() >= MAX_SYNCS {
            return;
        }
        self.syncs.insert(
            peer,
            SyncState {
                session: None,
                outstanding: 0,
                reconciled: false,
                needed: 0,
                received: 0,
                sent: 0,
                started: Instant::now(),
            },
        );
        self.spawn_blocking(move |service| {
            let started = service
                .store()
                .sync_items(Timestamp::now())
                .map_err(|e| e.to_string())
                .and_then(|items| Session::start(&items).map_err(|e| e.to_string()));
            let done = match started {
                Ok((session, message)) => {
                    SyncDone::Step { peer, session: Box::new(session), next: Ok(Some(message)) }
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot start sync");
                    return None;
                }
            };
            Some(Done::Sync(done))
        });
    }

    /// Syncs with one connected peer chosen at random (repairs what gossip dropped).
    pub(super) fn sync_random_peer(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        if peers.is_empty() {
            return;
        }
        let mut bytes = [0u8; 8];
        let _ = getrandom::fill(&mut bytes);
        let peer = peers[(u64::from_le_bytes(bytes) % peers.len() as u64) as usize];
        self.start_sync(peer);
    }

    fn end_sync(&mut self, peer: PeerId, error: Option<String>) {
        let Some(state) = self.syncs.remove(&peer) else { return };
        match error {
            Some(e) => tracing::debug!(%peer, error = %e, "sync ended early"),
            None => {
                tracing::info!(%peer, received = state.received, sent = state.sent, took = ?state.started.elapsed(), "sync complete");
                self.sync_history.insert(
                    peer,
                    SyncInfo {
                        peer: peer.to_string(),
                        at: Timestamp::now().as_millis(),
                        received: state.received,
                        sent: state.sent,
                        reconcile_bytes: state.session.as_ref().map_or(0, |s| s.bytes),
                    },
                );
                self.emit(NodeEvent::SyncCompleted {
                    peer: peer.to_string(),
                    received: state.received,
                    sent: state.sent,
                });
            }
        }
    }

    fn send_sync(&mut self, peer: PeerId, request: SyncRequest) {
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.sync_requests.insert(id, peer);
    }

    pub(super) fn on_sync_done(&mut self, done: SyncDone) {
        match done {
            SyncDone::Step { peer, session, next } => self.on_sync_step(peer, session, next),
            SyncDone::Fetched { peer, new, invalid, regossip } => {
                for bytes in regossip {
                    self.publish(bytes);
                }
                if invalid > 0 {
                    self.penalise(peer);
                }
                if new > 0 {
                    self.check_mail();
                }
                let progress = self.syncs.get_mut(&peer).map(|state| {
                    state.received += new;
                    state.outstanding = state.outstanding.saturating_sub(1);
                    (state.received, state.needed)
                });
                if let Some((received, total)) = progress {
                    self.emit(NodeEvent::SyncProgress { peer: peer.to_string(), received, total });
                }
                self.maybe_finish(peer);
            }
            SyncDone::PushLoaded { peer, batches } => {
                if let Some(state) = self.syncs.get_mut(&peer) {
                    state.outstanding = state.outstanding.saturating_sub(1) + batches.len();
                } else {
                    return;
                }
                for objects in batches {
                    self.send_sync(peer, SyncRequest::Push { objects });
                }
                self.maybe_finish(peer);
            }
            SyncDone::Serve { token, peer, response, invalid, new, regossip } => {
                for bytes in regossip {
                    self.publish(bytes);
                }
                self.in_flight = self.in_flight.saturating_sub(1);
                if new > 0 {
                    // Pushed objects may include mail for this node.
                    self.check_mail();
                }
                if invalid > 0 {
                    self.penalise(peer);
                }
                if let Some(channel) = self.sync_inbound.remove(&token) {
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
                }
            }
        }
    }

    fn on_sync_step(&mut self, peer: PeerId, session: Box<Session>, next: Result<Option<Vec<u8>>, String>) {
        let Some(state) = self.syncs.get_mut(&peer) else { return };
        match next {
            Err(e) => self.end_sync(peer, Some(e)),
            Ok(Some(message)) => {
                state.session = Some(session);
                self.send_sync(peer, SyncRequest::Reconcile { message });
            }
            Ok(None) => {
                state.reconciled = true;
                let need: Vec<[u8; 32]> = session.need.iter().map(|id| *id.as_bytes()).collect();
                state.needed = need.len() as u64;
                let announce = !need.is_empty();
                let have = session.have.clone();
                state.session = Some(session);
                let fetches: Vec<Vec<[u8; 32]>> = need.chunks(FETCH_BATCH).map(<[_]>::to_vec).collect();
                state.outstanding += fetches.len() + usize::from(!have.is_empty());
                if announce {
                    let total = need.len() as u64;
                    self.emit(NodeEvent::SyncProgress { peer: peer.to_string(), received: 0, total });
                }
                for ids in fetches {
                    self.send_sync(peer, SyncRequest::Fetch { ids });
                }
                if !have.is_empty() {
                    self.spawn_blocking(move |service| {
                        let objects = service.store().public_objects(&have).unwrap_or_default();
                        let batches = objects
                            .chunks(PUSH_BATCH)
                            .map(|c| c.iter().map(|o| o.bytes().to_vec()).collect())
                            .collect();
                        Some(Done::Sync(SyncDone::PushLoaded { peer, batches }))
                    });
                }
                self.maybe_finish(peer);
            }
        }
    }

    fn maybe_finish(&mut self, peer: PeerId) {
        if self.syncs.get(&peer).is_some_and(|s| s.reconciled && s.outstanding == 0) {
            self.end_sync(peer, None);
        }
    }

    pub(super) fn on_sync_event(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.serve_sync(peer, request, channel)
                }
                request_response::Message::Response { request_id, response } => {
                    if self.sync_requests.remove(&request_id).is_some() {
                        self.on_sync_response(peer, response);
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if self.sync_requests.remove(&request_id).is_some() {
                    self.end_sync(peer, Some(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_sync_response(&mut self, peer: PeerId, response: SyncResponse) {
        match response {
            SyncResponse::Reconcile { message } => {
                let Some(session) = self.syncs.get_mut(&peer).and_then(|s| s.session.take()) else { return };
                self.spawn_blocking(move |_| {
                    let mut session = session;
                    let next = session.step(&message).map_err(|e| e.to_string());
                    Some(Done::Sync(SyncDone::Step { peer, session, next }))
                });
            }
            SyncResponse::Objects { objects } => {
                self.spawn_blocking(move |service| {
                    let Ingested { new, invalid, regossip } = ingest_public(service, &objects);
                    Some(Done::Sync(SyncDone::Fetched { peer, new, invalid, regossip }))
                });
            }
            SyncResponse::Stored { new } => {
                if let Some(state) = self.syncs.get_mut(&peer) {
                    state.sent += u64::from(new);
                    state.outstanding = state.outstanding.saturating_sub(1);
                }
                self.maybe_finish(peer);
            }
            SyncResponse::Refused { reason } => self.end_sync(peer, Some(reason)),
        }
    }

    /// Answers a peer's sync request, within per-peer and overall bounds.
    fn serve_sync(&mut self, peer: PeerId, request: SyncRequest, channel: ResponseChannel<SyncResponse>) {
        let refuse = |reason: &str| SyncResponse::Refused { reason: reason.to_owned() };
        let now = Instant::now();
        let window = self.sync_served.entry(peer).or_insert((now, 0));
        if now.duration_since(window.0).as_secs() >= 60 {
            *window = (now, 0);
        }
        window.1 += 1;
        let over_limit = window.1 > SERVED_PER_MINUTE;
        let too_big = match &request {
            SyncRequest::Fetch { ids } => ids.len() > FETCH_BATCH,
            SyncRequest::Push { objects } => objects.len() > PUSH_BATCH,
            SyncRequest::Reconcile { .. } => false,
        };
        let early = if over_limit {
            Some(refuse("rate limited: too many sync requests"))
        } else if too_big {
            Some(refuse("batch over the protocol limit"))
        } else if self.in_flight >= super::MAX_IN_FLIGHT {
            Some(refuse("busy"))
        } else {
            None
        };
        if let Some(response) = early {
            let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            return;
        }
        let token = self.admit();
        self.sync_inbound.insert(token, channel);
        self.spawn_blocking(move |service| {
            let store = service.store();
            let mut new_objects = 0;
            let mut regossip = Vec::new();
            let (response, invalid) = match request {
                SyncRequest::Reconcile { message } => {
                    let answer = store
                        .sync_items(Timestamp::now())
                        .map_err(|e| e.to_string())
                        .and_then(|items| respond(&items, &message).map_err(|e| e.to_string()));
                    match answer {
                        Ok(message) => (SyncResponse::Reconcile { message }, 0),
                        Err(e) => (SyncResponse::Refused { reason: e }, 0),
                    }
                }
                SyncRequest::Fetch { ids } => {
                    let ids: Vec<ObjectId> = ids.into_iter().map(ObjectId::from_bytes).collect();
                    match store.public_objects(&ids) {
                        Ok(objects) => (
                            SyncResponse::Objects {
                                objects: objects.iter().map(|o| o.bytes().to_vec()).collect(),
                            },
                            0,
                        ),
                        Err(e) => (SyncResponse::Refused { reason: e.to_string() }, 0),
                    }
                }
                SyncRequest::Push { objects } => {
                    let Ingested { new, invalid, regossip: fresh } = ingest_public(service, &objects);
                    new_objects = new;
                    regossip = fresh;
                    (SyncResponse::Stored { new: u32::try_from(new).unwrap_or(u32::MAX) }, invalid)
                }
            };
            Some(Done::Sync(SyncDone::Serve { token, peer, response, invalid, new: new_objects, regossip }))
        });
    }

    pub(super) fn sync_infos(&self) -> Vec<SyncInfo> {
        let mut infos: Vec<SyncInfo> = self.sync_history.values().cloned().collect();
        infos.sort_by_key(|i| std::cmp::Reverse(i.at));
        infos
    }
}

/// Verifies and stores objects received by sync exactly as gossip does; returns how many were
/// new and how many were invalid (the sender's fault).
/// What storing a batch of synced objects gave.
struct Ingested {
    new: u64,
    invalid: u32,
    /// Recent objects that were new here: peers near this node probably missed them too (a
    /// healed partition, a restarted node), so they are gossiped on. Old ones are not: a new
    /// node catching up on the whole market must not re-announce it.
    regossip: Vec<Vec<u8>>,
}

/// Objects created within this long before now are passed on by gossip when they arrive by sync.
const REGOSSIP_WINDOW: std::time::Duration = std::time::Duration::from_secs(3_600);
/// At most this many objects of one sync batch are passed on by gossip.
const REGOSSIP_LIMIT: usize = 256;

fn ingest_public(service: &Service, objects: &[Vec<u8>]) -> Ingested {
    // Only public objects travel by sync; the batch ingest verifies signatures and limits.
    let mut public = Vec::with_capacity(objects.len());
    let mut invalid = 0u32;
    for bytes in objects {
        match Object::decode_unverified(bytes) {
            Ok(object) if object.kind().is_public() => public.push(bytes.as_slice()),
            _ => invalid += 1,
        }
    }
    let mut new = 0;
    let mut regossip = Vec::new();
    let recent = Timestamp::now().saturating_sub(REGOSSIP_WINDOW);
    match service.store().ingest_batch(&public, Durability::Lazy) {
        Ok(outcomes) => {
            for (outcome, bytes) in outcomes.into_iter().zip(&public) {
                match outcome {
                    Outcome::New { .. } => {
                        new += 1;
                        let fresh = Object::decode_unverified(bytes).is_ok_and(|o| o.created_at() >= recent);
                        if fresh && regossip.len() < REGOSSIP_LIMIT {
                            regossip.push(bytes.to_vec());
                        }
                    }
                    Outcome::Rejected(r) if r.reason.is_peer_fault() => invalid += 1,
                    _ => {}
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot store synced objects"),
    }
    Ingested { new, invalid, regossip }
}
