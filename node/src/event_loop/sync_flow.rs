//! The event loop's side of catch-up sync: running sessions as initiator (reconcile, then fetch
//! what we lack and push what the peer lacks) and serving peers' requests. The reconciliation
//! and all store work run on the blocking pool.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};

use haggle_protocol::{ObjectId, Timestamp};

use super::{Done, EventLoop, MAX_IN_FLIGHT};
use crate::api::types::{NodeEvent, SyncInfo};
use crate::service::{Inbound, Via};
use crate::sync::{FETCH_BATCH, PUSH_BATCH, Session, SyncRequest, SyncResponse, respond};

/// Sessions this node runs as initiator at once.
const MAX_SYNCS: usize = 4;
/// Sync requests served to one peer per minute: a full catch-up of a large market takes a few
/// hundred; more is abuse.
const SERVED_PER_MINUTE: u32 = 600;

/// Sync sessions and requests in flight. Bounded: sessions by [`MAX_SYNCS`], requests by the
/// sessions' batches, inbound answers by the loop's in-flight limit; a session ends when its
/// peer disconnects.
#[derive(Debug, Default)]
pub(super) struct SyncFlow {
    /// Sessions this node runs as initiator, by peer.
    sessions: HashMap<PeerId, SyncState>,
    /// Our requests in flight, to the peer they went to.
    requests: HashMap<OutboundRequestId, PeerId>,
    /// Inbound requests awaiting their answer, by token.
    inbound: HashMap<u64, ResponseChannel<SyncResponse>>,
    /// The last token handed out.
    next_token: u64,
}

impl SyncFlow {
    /// Sessions under way.
    pub(super) fn running(&self) -> usize {
        self.sessions.len()
    }
}

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
    /// A reconciliation step: the next message to send, `None` when reconciled.
    Step { peer: PeerId, session: Box<Session>, next: Result<Option<Vec<u8>>, crate::sync::SyncError> },
    /// A fetched batch taken in.
    Fetched { peer: PeerId, inbound: Inbound },
    /// Objects the peer lacks, loaded in push batches.
    PushLoaded { peer: PeerId, batches: Vec<Vec<Vec<u8>>> },
    /// An answer to a peer's request; `inbound` holds what a push brought.
    Serve { token: u64, peer: PeerId, response: SyncResponse, inbound: Inbound },
}

impl EventLoop {
    /// Starts a session with `peer` unless one is running or too many are.
    pub(super) fn start_sync(&mut self, peer: PeerId) {
        let sessions = &mut self.sync.sessions;
        if sessions.contains_key(&peer) || sessions.len() >= MAX_SYNCS {
            return;
        }
        sessions.insert(
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
            let items = match service.sync_items() {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot start sync");
                    return None;
                }
            };
            let next = Session::start(&items).map(|(session, message)| (Box::new(session), message));
            match next {
                Ok((session, message)) => {
                    Some(Done::Sync(SyncDone::Step { peer, session, next: Ok(Some(message)) }))
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot start sync");
                    None
                }
            }
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

    /// Ends the session with `peer`: completed when `error` is `None`.
    pub(super) fn end_sync(&mut self, peer: PeerId, error: Option<String>) {
        let Some(state) = self.sync.sessions.remove(&peer) else { return };
        match error {
            Some(e) => tracing::debug!(%peer, error = %e, "sync ended early"),
            None => {
                tracing::info!(%peer, received = state.received, sent = state.sent, took = ?state.started.elapsed(), "sync complete");
                self.peers.synced(SyncInfo {
                    peer,
                    at: Timestamp::now().as_millis(),
                    received: state.received,
                    sent: state.sent,
                    reconcile_bytes: state.session.as_ref().map_or(0, |s| s.bytes),
                });
                self.emit(NodeEvent::SyncCompleted { peer, received: state.received, sent: state.sent });
            }
        }
    }

    fn send_sync(&mut self, peer: PeerId, request: SyncRequest) {
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.sync.requests.insert(id, peer);
    }

    pub(super) fn on_sync_done(&mut self, done: SyncDone) {
        match done {
            SyncDone::Step { peer, session, next } => self.on_sync_step(peer, session, next),
            SyncDone::Fetched { peer, inbound } => {
                let (new, invalid) = (inbound.new_count(), inbound.invalid_count());
                self.act_on(inbound);
                if invalid > 0 {
                    self.penalise(peer);
                }
                let progress = self.sync.sessions.get_mut(&peer).map(|state| {
                    state.received += new;
                    state.outstanding = state.outstanding.saturating_sub(1);
                    (state.received, state.needed)
                });
                if let Some((received, total)) = progress {
                    self.emit(NodeEvent::SyncProgress { peer, received, total });
                }
                self.maybe_finish(peer);
            }
            SyncDone::PushLoaded { peer, batches } => {
                if let Some(state) = self.sync.sessions.get_mut(&peer) {
                    state.outstanding = state.outstanding.saturating_sub(1) + batches.len();
                } else {
                    return;
                }
                for objects in batches {
                    self.send_sync(peer, SyncRequest::Push { objects });
                }
                self.maybe_finish(peer);
            }
            SyncDone::Serve { token, peer, response, inbound } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                let invalid = inbound.invalid_count();
                self.act_on(inbound);
                if invalid > 0 {
                    self.penalise(peer);
                }
                if let Some(channel) = self.sync.inbound.remove(&token) {
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
                }
            }
        }
    }

    fn on_sync_step(
        &mut self,
        peer: PeerId,
        session: Box<Session>,
        next: Result<Option<Vec<u8>>, crate::sync::SyncError>,
    ) {
        let Some(state) = self.sync.sessions.get_mut(&peer) else { return };
        match next {
            Err(e) => self.end_sync(peer, Some(e.to_string())),
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
                    self.emit(NodeEvent::SyncProgress { peer, received: 0, total });
                }
                for ids in fetches {
                    self.send_sync(peer, SyncRequest::Fetch { ids });
                }
                if !have.is_empty() {
                    self.spawn_blocking(move |service| {
                        let objects = service.public_objects(&have).unwrap_or_default();
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
        if self.sync.sessions.get(&peer).is_some_and(|s| s.reconciled && s.outstanding == 0) {
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
                    if self.sync.requests.remove(&request_id).is_some() {
                        self.on_sync_response(peer, response);
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if self.sync.requests.remove(&request_id).is_some() {
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
                let Some(session) = self.sync.sessions.get_mut(&peer).and_then(|s| s.session.take()) else {
                    return;
                };
                self.spawn_blocking(move |_| {
                    let mut session = session;
                    let next = session.step(&message);
                    Some(Done::Sync(SyncDone::Step { peer, session, next }))
                });
            }
            SyncResponse::Objects { objects } => {
                self.spawn_blocking(move |service| {
                    let inbound = service.receive_batch(&objects, Via::Sync);
                    Some(Done::Sync(SyncDone::Fetched { peer, inbound }))
                });
            }
            SyncResponse::Stored { new } => {
                if let Some(state) = self.sync.sessions.get_mut(&peer) {
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
        let over_limit = !self.peers.allow_sync_request(&peer, Instant::now(), SERVED_PER_MINUTE);
        let too_big = match &request {
            SyncRequest::Fetch { ids } => ids.len() > FETCH_BATCH,
            SyncRequest::Push { objects } => objects.len() > PUSH_BATCH,
            SyncRequest::Reconcile { .. } => false,
        };
        let early = if over_limit {
            Some(refuse("rate limited: too many sync requests"))
        } else if too_big {
            Some(refuse("batch over the protocol limit"))
        } else if self.in_flight >= MAX_IN_FLIGHT {
            Some(refuse("busy"))
        } else {
            None
        };
        if let Some(response) = early {
            let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            return;
        }
        self.in_flight += 1;
        self.sync.next_token += 1;
        let token = self.sync.next_token;
        self.sync.inbound.insert(token, channel);
        self.spawn_blocking(move |service| {
            let mut inbound = Inbound::default();
            let response = match request {
                SyncRequest::Reconcile { message } => match service.sync_items() {
                    Ok(items) => match respond(&items, &message) {
                        Ok(message) => SyncResponse::Reconcile { message },
                        Err(e) => refuse(&e.to_string()),
                    },
                    Err(e) => refuse(&e.to_string()),
                },
                SyncRequest::Fetch { ids } => {
                    let ids: Vec<ObjectId> = ids.into_iter().map(ObjectId::from_bytes).collect();
                    match service.public_objects(&ids) {
                        Ok(objects) => SyncResponse::Objects {
                            objects: objects.iter().map(|o| o.bytes().to_vec()).collect(),
                        },
                        Err(e) => refuse(&e.to_string()),
                    }
                }
                SyncRequest::Push { objects } => {
                    inbound = service.receive_batch(&objects, Via::Sync);
                    SyncResponse::Stored { new: u32::try_from(inbound.new_count()).unwrap_or(u32::MAX) }
                }
            };
            Some(Done::Sync(SyncDone::Serve { token, peer, response, inbound }))
        });
    }
}
