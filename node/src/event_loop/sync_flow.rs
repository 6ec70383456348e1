//! The event loop's side of catch-up sync: running sessions as initiator (reconcile, then fetch
//! what we lack and push what the peer lacks) and serving peers' requests. The reconciliation
//! and all store work run on the blocking pool.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::{self, InboundRequestId, OutboundRequestId, ResponseChannel};

use haggle_protocol::{ObjectId, Timestamp};

use super::budget::Spend;
use super::peers::Kind;
use super::unwritten::{Limits, Unwritten};
use super::{Done, EventLoop, Work, or_on_panic};
use crate::api::types::{NodeEvent, SyncInfo};
use crate::codec::Stamped;
use crate::service::{Inbound, REGOSSIP_LIMIT, Via};
use crate::sync::{FETCH_BATCH, PUSH_BATCH, Session, SyncRequest, SyncResponse, push_batches};

/// Sessions this node runs as initiator at once.
const MAX_SYNCS: usize = 4;
/// Fetch requests one session keeps in flight; the rest wait in the session's queue, so a peer
/// that claims a huge difference costs a queue of ids, not thousands of open requests.
const FETCHES_IN_FLIGHT: usize = 4;
/// Push requests one session keeps in flight; the rest wait in the session's queue. With
/// [`FETCHES_IN_FLIGHT`] this keeps a session (and one the peer runs with us at the same time)
/// within the streams a connection allows (`SYNC_STREAMS`).
const PUSHES_IN_FLIGHT: usize = 2;
/// Ids being fetched (queued or in flight) that other sessions leave alone, at most: a node
/// catching up from several peers at once fetched every missing object from each of them.
/// Past it (32 bytes an id: at most about 17 MiB of hash set), ids are fetched without a
/// claim, possibly twice, as before.
const MAX_CLAIMED: usize = 262_144;
/// A session is ended at this age, finished or not: a responder answering each request just
/// inside its timeout held a slot for hours, and four such held every one (no catch-up with
/// anyone else). An honest catch-up longer than this (a million listings over a slow link)
/// goes on in the next session, which finds only what is still missing.
const MAX_SESSION_AGE: Duration = Duration::from_secs(15 * 60);
/// Sync answers let wait unwritten (see [`super::unwritten`]): a peer that asks for large
/// answers and reads none held up to 12 of them per connection (16 MiB each) for a minute. Past
/// a limit, requests are refused as busy until answers are written or dropped. Per peer, a whole
/// fetch answer of full-size objects fits; in all, above what one address can hold (8 inbound
/// connections, each a peer at its limit: 128 MiB), so one address cannot make every honest
/// sync busy; counted at most 120 s (a sync stream lives 60 s).
const UNWRITTEN: Limits = Limits {
    per_peer: crate::sync::MAX_SYNC_RESPONSE as usize,
    total: 192 << 20,
    forget_after: Duration::from_secs(120),
};

/// Sync sessions and requests in flight. Bounded: sessions by [`MAX_SYNCS`], each session's
/// requests by [`FETCHES_IN_FLIGHT`] fetches plus [`PUSHES_IN_FLIGHT`] pushes, inbound answers by the loop's
/// in-flight limit; a session ends when its peer disconnects.
#[derive(Debug, Default)]
pub(super) struct SyncFlow {
    /// Sessions this node runs as initiator, by peer.
    sessions: HashMap<PeerId, SyncState>,
    /// Our requests in flight: the peer and session they belong to, and for a fetch the ids
    /// asked for.
    requests: HashMap<OutboundRequestId, Pending>,
    /// Inbound requests awaiting their answer, by token.
    inbound: HashMap<u64, (ResponseChannel<Stamped<SyncResponse>>, InboundRequestId)>,
    /// Our answers handed to libp2p and not yet written (or dropped).
    unwritten: Unwritten,
    /// Ids a session is fetching (queued or in flight): another session that finds them missing
    /// leaves them to it. An id leaves when its fetch is answered and what came is stored, when
    /// the request fails, or when its session ends before asking; if that fetch brought nothing,
    /// the next sync finds the id still missing (at most [`MAX_CLAIMED`]).
    claimed: HashSet<[u8; 32]>,
    /// The last session number handed out: also how many sessions this node has started.
    pub(super) last_session: u64,
    /// Sessions ended so far.
    ended: u64,
    /// Peers that took none of what a session of ours pushed (a node that asks more proof of
    /// work than ours refuses it), and when: not pushed to again for [`UNPUSHED_FOR`], since
    /// they fetch what they take in sessions of their own. Bounded by [`MAX_UNPUSHED`]; a peer
    /// leaves when it disconnects.
    unpushed: HashMap<PeerId, Instant>,
}

/// How long a peer that took none of our pushes is not pushed to.
const UNPUSHED_FOR: Duration = Duration::from_secs(3_600);
/// Peers remembered as taking none of our pushes, at most (one per connected peer at most).
const MAX_UNPUSHED: usize = 512;
/// Objects a session pushes, none taken, before its peer is not pushed to: fewer may have come
/// to it by gossip while they were on their way.
const UNPUSHED_AFTER: u64 = 16;

impl SyncFlow {
    /// Sessions under way.
    pub(super) fn running(&self) -> usize {
        self.sessions.len()
    }

    /// Whether a session with `peer` is under way.
    pub(super) fn is_syncing(&self, peer: &PeerId) -> bool {
        self.sessions.contains_key(peer)
    }

    /// Forgets what was noted of `peer`, which disconnected.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.unpushed.remove(peer);
    }

    /// Whether `peer` took none of a session's pushes within the last [`UNPUSHED_FOR`].
    fn refuses_pushes(&mut self, peer: &PeerId) -> bool {
        match self.unpushed.get(peer) {
            Some(at) if at.elapsed() < UNPUSHED_FOR => true,
            Some(_) => {
                self.unpushed.remove(peer);
                false
            }
            None => false,
        }
    }

    /// Of `need`, the ids no other session is fetching, claimed for the caller while there is
    /// room.
    fn claim(&mut self, need: Vec<[u8; 32]>) -> Vec<[u8; 32]> {
        need.into_iter()
            .filter(|id| {
                if self.claimed.contains(id) {
                    return false;
                }
                if self.claimed.len() < MAX_CLAIMED {
                    self.claimed.insert(*id);
                }
                true
            })
            .collect()
    }

    /// Lets other sessions fetch `ids` again.
    fn unclaim<'a>(&mut self, ids: impl IntoIterator<Item = &'a [u8; 32]>) {
        for id in ids {
            self.claimed.remove(id);
        }
    }
}

/// One of our sync requests in flight.
#[derive(Debug)]
pub(super) struct Pending {
    peer: PeerId,
    session: u64,
    /// What was asked: each request has its one kind of answer (or a refusal).
    asked: Asked,
}

/// What a request in flight asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Reconcile,
    /// These ids (an answer may carry only these).
    Fetch(Vec<[u8; 32]>),
    Push,
}

/// A session this node runs with a peer.
#[derive(Debug)]
pub(super) struct SyncState {
    /// This session's number: results of an earlier session with the same peer (which ended
    /// while its work was on the blocking pool) are recognised and not counted here.
    id: u64,
    /// The negentropy session, while it is not on the blocking pool.
    session: Option<Box<Session>>,
    /// Fetch batches not sent yet.
    fetches: VecDeque<Vec<[u8; 32]>>,
    /// Fetch, push and load steps still under way after reconciliation.
    outstanding: usize,
    /// Fetch requests in flight.
    fetching: usize,
    /// Push batches not sent yet.
    pushes: VecDeque<Vec<Vec<u8>>>,
    /// Push requests in flight.
    pushing: usize,
    /// Objects pushed so far (`sent` counts those the peer stored).
    pushed: u64,
    reconciled: bool,
    /// Fetched objects this session may still pass on by gossip.
    regossip_left: usize,
    /// Objects the reconciliation said we lack.
    needed: u64,
    /// Sessions ended when this one started: if more have since, or others run beside it,
    /// what it lacks may have been stored meanwhile.
    ended_at_start: u64,
    received: u64,
    sent: u64,
    started: Instant,
}

/// Sync work finished on the blocking pool.
#[derive(Debug)]
pub(crate) enum SyncDone {
    /// A reconciliation step: the next message to send, `None` when reconciled.
    Step {
        peer: PeerId,
        id: u64,
        session: Option<Box<Session>>,
        next: Result<Option<Vec<u8>>, crate::sync::SyncError>,
    },
    /// The session could not start (the store failed; logged where it happened).
    Abandoned { peer: PeerId, id: u64 },
    /// A fetched batch taken in: the ids asked for, and what came.
    Fetched { peer: PeerId, id: u64, ids: Vec<[u8; 32]>, inbound: Inbound },
    /// Objects the peer lacks, loaded in push batches.
    PushLoaded { peer: PeerId, id: u64, batches: Vec<Vec<Vec<u8>>> },
    /// An answer to a peer's request; `inbound` holds what a push brought.
    Serve { token: u64, peer: PeerId, response: SyncResponse, inbound: Inbound },
}

impl EventLoop {
    /// Starts a session with `peer` unless one is running or too many are.
    pub(super) fn start_sync(&mut self, peer: PeerId) {
        let sessions = &self.sync.sessions;
        if sessions.contains_key(&peer) || sessions.len() >= MAX_SYNCS {
            return;
        }
        // Never over a relay: its circuits are small and short (the sync waits for a direct
        // connection, which hole punching may bring).
        if !self.reach.is_direct(&peer) {
            return;
        }
        self.sync.last_session += 1;
        let id = self.sync.last_session;
        self.sync.sessions.insert(
            peer,
            SyncState {
                id,
                session: None,
                fetches: VecDeque::new(),
                outstanding: 0,
                fetching: 0,
                pushes: VecDeque::new(),
                pushing: 0,
                pushed: 0,
                reconciled: false,
                regossip_left: REGOSSIP_LIMIT,
                needed: 0,
                ended_at_start: self.sync.ended,
                received: 0,
                sent: 0,
                started: Instant::now(),
            },
        );
        self.spawn_in_turn(move |service| {
            let items = match service.sync_items() {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot read the sync set");
                    return Some(Done::Sync(SyncDone::Abandoned { peer, id }));
                }
            };
            let (session, next) = match Session::start(&items) {
                Ok((session, message)) => (Some(Box::new(session)), Ok(Some(message))),
                Err(e) => (None, Err(e)),
            };
            Some(Done::Sync(SyncDone::Step { peer, id, session, next }))
        });
    }

    /// Syncs with one connected peer chosen at random (repairs what gossip dropped), after
    /// ending the sessions older than [`MAX_SESSION_AGE`].
    pub(super) fn sync_random_peer(&mut self) {
        self.end_old_syncs(MAX_SESSION_AGE);
        let peers: Vec<PeerId> =
            self.swarm.connected_peers().filter(|p| self.reach.is_direct(p)).copied().collect();
        if peers.is_empty() {
            return;
        }
        let mut bytes = [0u8; 8];
        let _ = getrandom::fill(&mut bytes);
        let peer = peers[(u64::from_le_bytes(bytes) % peers.len() as u64) as usize];
        self.start_sync(peer);
    }

    /// Ends the sessions running longer than `age`.
    pub(super) fn end_old_syncs(&mut self, age: Duration) {
        let old: Vec<PeerId> =
            self.sync.sessions.iter().filter(|(_, s)| s.started.elapsed() >= age).map(|(p, _)| *p).collect();
        for peer in old {
            tracing::info!(%peer, minutes = age.as_secs() / 60, "sync session ended at its age limit; the next one goes on from there");
            self.end_sync(peer, Some("the session reached its age limit".into()));
        }
    }

    /// Ends the session with `peer`: completed when `error` is `None`.
    pub(super) fn end_sync(&mut self, peer: PeerId, error: Option<String>) {
        let Some(state) = self.sync.sessions.remove(&peer) else { return };
        self.sync.ended += 1;
        // What it had not asked for yet, other sessions may.
        let unasked: Vec<[u8; 32]> = state.fetches.iter().flatten().copied().collect();
        self.sync.unclaim(&unasked);
        match error {
            Some(e) => tracing::debug!(%peer, error = %e, "sync ended early"),
            None => {
                // A periodic sync that moved nothing is the common case: an idle node would log
                // one a minute per peer.
                if state.received == 0 && state.sent == 0 {
                    tracing::debug!(%peer, took = ?state.started.elapsed(), "sync complete, nothing to exchange");
                } else {
                    tracing::info!(%peer, received = state.received, sent = state.sent, took = ?state.started.elapsed(), "sync complete");
                }
                self.peers.synced(SyncInfo {
                    peer,
                    at: Timestamp::now().as_millis(),
                    received: state.received,
                    sent: state.sent,
                    reconcile_bytes: state.session.as_ref().map_or(0, |s| s.bytes),
                });
                self.emit(NodeEvent::SyncCompleted { peer, received: state.received, sent: state.sent });
                // A peer that took none of what it lacked refuses it (too little proof of work
                // for its node, say): pushing it all again at every sync would only cost both
                // sides (from an operator's trial). It fetches what it takes itself. A few
                // taken by gossip meanwhile are no sign of that.
                if state.pushed >= UNPUSHED_AFTER
                    && state.sent == 0
                    && self.sync.unpushed.len() < MAX_UNPUSHED
                {
                    tracing::debug!(%peer, pushed = state.pushed, "the peer took none of our pushes: not pushed to for an hour");
                    self.sync.unpushed.insert(peer, Instant::now());
                }
                // Caught up once no session is left running: one session leaves to another
                // what that one claimed (the winning bid, say), so its end alone says little.
                if self.sync.sessions.is_empty() {
                    self.service.note_caught_up();
                    self.party_after_sync();
                }
            }
        }
    }

    fn send_sync(&mut self, peer: PeerId, session: u64, request: SyncRequest) {
        let asked = match &request {
            SyncRequest::Reconcile { .. } => Asked::Reconcile,
            SyncRequest::Fetch { ids } => Asked::Fetch(ids.clone()),
            SyncRequest::Push { .. } => Asked::Push,
        };
        let request_id = self.swarm.behaviour_mut().sync.send_request(&peer, request.into());
        self.sync.requests.insert(request_id, Pending { peer, session, asked });
    }

    /// The session with `peer` if it is session `id` (not an earlier one).
    fn session(&mut self, peer: &PeerId, id: u64) -> Option<&mut SyncState> {
        self.sync.sessions.get_mut(peer).filter(|s| s.id == id)
    }

    /// Sends queued fetch batches while fewer than [`FETCHES_IN_FLIGHT`] are out.
    fn send_fetches(&mut self, peer: PeerId, id: u64) {
        self.send_queued(peer, id, |state| {
            (state.fetching < FETCHES_IN_FLIGHT).then(|| state.fetches.pop_front()).flatten().map(|ids| {
                state.fetching += 1;
                SyncRequest::Fetch { ids }
            })
        });
    }

    /// Sends queued push batches while fewer than [`PUSHES_IN_FLIGHT`] are out.
    fn send_pushes(&mut self, peer: PeerId, id: u64) {
        self.send_queued(peer, id, |state| {
            (state.pushing < PUSHES_IN_FLIGHT).then(|| state.pushes.pop_front()).flatten().map(|objects| {
                state.pushing += 1;
                state.pushed += objects.len() as u64;
                SyncRequest::Push { objects }
            })
        });
    }

    /// Sends the requests `next` takes from session `id`'s queues, until it gives none.
    fn send_queued(
        &mut self,
        peer: PeerId,
        id: u64,
        mut next: impl FnMut(&mut SyncState) -> Option<SyncRequest>,
    ) {
        let mut ready = Vec::new();
        if let Some(state) = self.session(&peer, id) {
            while let Some(request) = next(state) {
                ready.push(request);
            }
        }
        for request in ready {
            self.send_sync(peer, id, request);
        }
    }

    pub(super) fn on_sync_done(&mut self, done: SyncDone) {
        match done {
            SyncDone::Step { peer, id, session, next } => self.on_sync_step(peer, id, session, next),
            SyncDone::Abandoned { peer, id } => {
                if self.session(&peer, id).is_some() {
                    self.end_sync(peer, Some("the store could not be read".into()));
                }
            }
            SyncDone::Fetched { peer, id, ids, mut inbound } => {
                // Stored (or refused): another session may ask for what did not come.
                self.sync.unclaim(&ids);
                let (new, invalid) = (inbound.new_count(), inbound.invalid_count());
                // Recent objects are passed on by gossip, up to REGOSSIP_LIMIT a session: a node
                // that fetched more is catching up, and its other peers most likely hold them.
                if let Some(state) = self.session(&peer, id) {
                    inbound.then.publish.truncate(state.regossip_left);
                    state.regossip_left -= inbound.then.publish.len();
                } else {
                    inbound.then.publish.clear();
                }
                // What arrived is stored whichever session asked for it.
                self.act_on(inbound);
                if invalid > 0 {
                    self.penalise(peer);
                }
                let progress = self.session(&peer, id).map(|state| {
                    state.received += new;
                    state.outstanding = state.outstanding.saturating_sub(1);
                    state.fetching = state.fetching.saturating_sub(1);
                    (state.received, state.needed)
                });
                if let Some((received, total)) = progress {
                    self.emit(NodeEvent::SyncProgress { peer, received, total });
                }
                self.send_fetches(peer, id);
                self.maybe_finish(peer);
            }
            SyncDone::PushLoaded { peer, id, batches } => {
                let Some(state) = self.session(&peer, id) else { return };
                state.outstanding = state.outstanding.saturating_sub(1) + batches.len();
                state.pushes = batches.into();
                self.send_pushes(peer, id);
                self.maybe_finish(peer);
            }
            SyncDone::Serve { token, peer, response, inbound } => {
                self.release(Work::Request);
                let invalid = inbound.invalid_count();
                self.act_on(inbound);
                if invalid > 0 {
                    self.penalise(peer);
                }
                if let Some((channel, request)) = self.sync.inbound.remove(&token) {
                    let bytes = match &response {
                        SyncResponse::Objects { objects } => objects.iter().map(|o| o.len() + 16).sum(),
                        SyncResponse::Reconcile { message } => message.len(),
                        SyncResponse::Stored { .. } | SyncResponse::Refused { .. } => 0,
                    };
                    if self.swarm.behaviour_mut().sync.send_response(channel, response.into()).is_ok() {
                        self.sync.unwritten.handed(request, peer, bytes, Instant::now());
                    }
                }
            }
        }
    }

    fn on_sync_step(
        &mut self,
        peer: PeerId,
        id: u64,
        session: Option<Box<Session>>,
        next: Result<Option<Vec<u8>>, crate::sync::SyncError>,
    ) {
        if self.session(&peer, id).is_none() {
            return;
        }
        let (mut session, next) = match (session, next) {
            (Some(session), Ok(next)) => (session, next),
            (_, Err(e)) => return self.end_sync(peer, Some(e.to_string())),
            (None, Ok(_)) => return self.end_sync(peer, Some("no session".into())),
        };
        // Pipelined: what this round found missing is fetched while reconciliation goes on, but
        // not what another session is fetching already.
        let need: Vec<[u8; 32]> = session.take_need().iter().map(|id| *id.as_bytes()).collect();
        let need = self.sync.claim(need);
        let Some(state) = self.session(&peer, id) else { return };
        let batches = need.len().div_ceil(FETCH_BATCH);
        state.fetches.extend(need.chunks(FETCH_BATCH).map(<[_]>::to_vec));
        state.outstanding += batches;
        let first_news = state.needed == 0 && !need.is_empty();
        state.needed += need.len() as u64;
        let (received, needed) = (state.received, state.needed);
        match next {
            Some(message) => {
                state.session = Some(session);
                self.send_sync(peer, id, SyncRequest::Reconcile { message });
            }
            None => {
                state.reconciled = true;
                tracing::debug!(%peer, need = needed, have = session.haves(), rounds = session.rounds(), "reconciled");
                // Pushing repairs what gossip missed; a peer that lacks more than that (a new
                // node, one back from a long absence) fetches it in its own sessions.
                let have: Vec<ObjectId> = match self.sync.refuses_pushes(&peer) {
                    true => Vec::new(),
                    false => session.have().map(<[_]>::to_vec).unwrap_or_default(),
                };
                let Some(state) = self.session(&peer, id) else { return };
                state.outstanding += usize::from(!have.is_empty());
                state.session = Some(session);
                if !have.is_empty() {
                    self.spawn_in_turn(move |service| {
                        let objects = service.public_objects(&have).unwrap_or_default();
                        let batches = push_batches(objects.iter().map(|o| o.bytes()));
                        Some(Done::Sync(SyncDone::PushLoaded { peer, id, batches }))
                    });
                }
            }
        }
        if first_news {
            self.emit(NodeEvent::SyncProgress { peer, received, total: needed });
        }
        self.send_fetches(peer, id);
        self.maybe_finish(peer);
    }

    fn maybe_finish(&mut self, peer: PeerId) {
        if self.sync.sessions.get(&peer).is_some_and(|s| s.reconciled && s.outstanding == 0) {
            self.end_sync(peer, None);
        }
    }

    pub(super) fn on_sync_event(
        &mut self,
        event: request_response::Event<Stamped<SyncRequest>, Stamped<SyncResponse>>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, request_id } => {
                    self.note_clock(peer, request.clock_ms);
                    self.serve_sync(peer, request.message, channel, request_id)
                }
                request_response::Message::Response { request_id, response } => {
                    // A fetch's answer (up to 16 MiB) may take a minute to cross a slow link
                    // after its clock was read: only the small answers are dated.
                    if !matches!(response.message, SyncResponse::Objects { .. }) {
                        self.note_clock(peer, response.clock_ms);
                    }
                    if let Some(pending) = self.sync.requests.remove(&request_id) {
                        self.on_sync_response(pending, response.message);
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                if let Some(Pending { peer, session, asked }) = self.sync.requests.remove(&request_id) {
                    if let Asked::Fetch(ids) = &asked {
                        self.sync.unclaim(ids);
                    }
                    if self.session(&peer, session).is_some() {
                        self.end_sync(peer, Some(error.to_string()));
                    }
                }
            }
            request_response::Event::InboundFailure { peer, error, request_id, .. } => {
                self.sync.unwritten.written(&request_id);
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.sync.unwritten.written(&request_id)
            }
        }
    }

    fn on_sync_response(&mut self, pending: Pending, response: SyncResponse) {
        let Pending { peer, session: id, asked } = pending;
        // A fetch answered with anything but objects leaves its ids to other sessions.
        if let (Asked::Fetch(ids), false) = (&asked, matches!(response, SyncResponse::Objects { .. })) {
            self.sync.unclaim(ids);
        }
        match (response, asked) {
            (SyncResponse::Reconcile { message }, Asked::Reconcile) => {
                // Another session may have stored what this one's set (read when it started)
                // lacks: only then is each id looked up (a lone catch-up costs no lookup).
                let (running, ended) = (self.sync.sessions.len(), self.sync.ended);
                let Some(state) = self.session(&peer, id) else { return };
                let look_up = running > 1 || state.ended_at_start != ended;
                let Some(session) = state.session.take() else { return };
                self.spawn_in_turn(move |service| {
                    let mut session = session;
                    let next = session.step(&message);
                    // Objects evicted to keep within the store's budget are not fetched again,
                    // nor those refused lately for too little work, nor objects stored since
                    // the session began (another session fetched them).
                    session.need.retain(|id| {
                        !(service.is_evicted(id)
                            || service.refused_for_work(id)
                            || (look_up && service.holds(id)))
                    });
                    Some(Done::Sync(SyncDone::Step { peer, id, session: Some(session), next }))
                });
            }
            (SyncResponse::Objects { objects }, Asked::Fetch(ids)) => {
                self.spawn_in_turn(move |service| {
                    // Only what was asked for is taken.
                    let inbound = service.receive_batch(&objects, Via::Sync, Some(&ids));
                    Some(Done::Sync(SyncDone::Fetched { peer, id, ids, inbound }))
                });
            }
            (SyncResponse::Stored { new }, Asked::Push) => {
                if let Some(state) = self.session(&peer, id) {
                    state.sent += u64::from(new);
                    state.outstanding = state.outstanding.saturating_sub(1);
                    state.pushing = state.pushing.saturating_sub(1);
                }
                self.send_pushes(peer, id);
                self.maybe_finish(peer);
            }
            (SyncResponse::Refused { reason }, _) => {
                if self.session(&peer, id).is_some() {
                    self.end_sync(peer, Some(reason));
                }
            }
            (_, asked) => {
                // Each request has its one kind of answer: any other is provably the responder's
                // fault, and would leave the session waiting for ever.
                self.penalise(peer);
                if self.session(&peer, id).is_some() {
                    let kind = match asked {
                        Asked::Reconcile => "reconcile",
                        Asked::Fetch(_) => "fetch",
                        Asked::Push => "push",
                    };
                    self.end_sync(
                        peer,
                        Some(format!("a {kind} request answered with the wrong kind of response")),
                    );
                }
            }
        }
    }

    /// Answers a peer's sync request, within per-peer and overall bounds.
    fn serve_sync(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<Stamped<SyncResponse>>,
        request_id: InboundRequestId,
    ) {
        let refuse = |reason: &str| SyncResponse::Refused { reason: reason.to_owned() };
        let now = Instant::now();
        let requests = self.peers.spend(&peer, Kind::SyncRequest, 1, now);
        if requests == Spend::Offence {
            self.penalise(peer);
        }
        // Pushed objects have a budget of their own; past it the push is refused but not
        // penalised (an honest node with a backlog pushes in good faith; this node fetches the
        // rest in a session of its own).
        let pushed = match &request {
            SyncRequest::Push { objects } => {
                self.peers.spend(&peer, Kind::Pushed, u32::try_from(objects.len()).unwrap_or(u32::MAX), now)
            }
            _ => Spend::Allowed,
        };
        let too_big = match &request {
            SyncRequest::Fetch { ids } => ids.len() > FETCH_BATCH,
            SyncRequest::Push { objects } => objects.len() > PUSH_BATCH,
            SyncRequest::Reconcile { .. } => false,
        };
        let admitted = if self.peers.is_banned(&peer, now) {
            Err(refuse("banned for invalid objects"))
        } else if requests != Spend::Allowed {
            Err(refuse("rate limited: too many sync requests"))
        } else if pushed != Spend::Allowed {
            Err(refuse("rate limited: too many pushed objects; fetch them instead"))
        } else if too_big {
            Err(refuse("batch over the protocol limit"))
        } else if self.sync.unwritten.full(&peer, UNWRITTEN, now) {
            Err(refuse("busy"))
        } else {
            self.admit(Work::Request).ok_or_else(|| refuse("busy"))
        };
        let token = match admitted {
            Ok(token) => token,
            Err(response) => {
                let _ = self.swarm.behaviour_mut().sync.send_response(channel, response.into());
                return;
            }
        };
        self.sync.inbound.insert(token, (channel, request_id));
        let failed = Done::Sync(SyncDone::Serve {
            token,
            peer,
            response: refuse("this node failed to answer"),
            inbound: Inbound::default(),
        });
        self.spawn_in_turn(or_on_panic(failed, move |service| {
            let mut inbound = Inbound::default();
            let response = match request {
                SyncRequest::Reconcile { message } => match service.sync_respond(&message) {
                    Ok(message) => SyncResponse::Reconcile { message },
                    Err(e) => refuse(&e.to_string()),
                },
                SyncRequest::Fetch { mut ids } => {
                    // Each once: 256 copies of one large id asked 4-16 MiB for 8 KiB.
                    ids.sort_unstable();
                    ids.dedup();
                    let ids: Vec<ObjectId> = ids.into_iter().map(ObjectId::from_bytes).collect();
                    match service.public_objects(&ids) {
                        Ok(objects) => SyncResponse::Objects {
                            objects: objects.iter().map(|o| o.bytes().to_vec()).collect(),
                        },
                        Err(e) => refuse(&e.to_string()),
                    }
                }
                SyncRequest::Push { objects } => {
                    inbound = service.receive_batch(&objects, Via::Sync, None);
                    SyncResponse::Stored { new: u32::try_from(inbound.new_count()).unwrap_or(u32::MAX) }
                }
            };
            Some(Done::Sync(SyncDone::Serve { token, peer, response, inbound }))
        }));
    }
}
