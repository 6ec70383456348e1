//! `/haggle/party/1` sessions ([`crate::party`]): on each new connection this node names to the
//! peer what it holds of their threads and deals, and takes back what it lacks; and it answers
//! the peer's asking the same. Both sides ask, each for itself.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};

use haggle_protocol::PublicKey;

use super::budget::Spend;
use super::peers::Kind;
use super::{Done, EventLoop, Work, or_on_panic};
use crate::api::types::NodeEvent;
use crate::party::{MAX_HELD, MAX_ROUNDS, PartyRequest, PartyResponse};
use crate::service::PartyTaken;

/// How long after this node gave a peer back what it lacked the owner's messages waiting for
/// that peer are sent again (see [`EventLoop::party_tick`]).
const DELIVER_AFTER: Duration = Duration::from_secs(2);

/// How long after an answer some of whose objects came too early (what they follow was not
/// here yet: a listing revision the catch-up sync brings) the peer is asked again.
const AGAIN: Duration = Duration::from_secs(30);

/// Party work done on the blocking pool, back to the loop.
#[derive(Debug)]
pub(crate) enum PartyDone {
    /// What this node holds with `peer`, to ask it for the rest, in session `session`.
    Ask { peer: PeerId, session: u64, held: Vec<[u8; 32]> },
    /// The answer to `peer`'s request, under its token.
    Answer { peer: PeerId, token: u64, answer: PartyResponse },
    /// What `peer`'s answer brought in session `session`; `more` if it left some out.
    Taken { peer: PeerId, session: u64, taken: PartyTaken, more: bool },
}

/// One connection's asking of one peer.
#[derive(Debug)]
struct Session {
    /// Which session (a peer that reconnects starts a new one; what an old one left is dropped).
    id: u64,
    /// Requests made (at most [`MAX_ROUNDS`]).
    rounds: usize,
    /// Ids given back and taken in or turned away for good: named as held in the next request,
    /// so they are not sent again (at most [`MAX_ROUNDS`] answers of `party::MAX_OBJECTS`).
    settled: HashSet<[u8; 32]>,
    /// When to ask again, if at all.
    again: Option<Instant>,
    /// Whether the peer was penalised in this session already (once is enough).
    penalised: bool,
    /// When to send again the owner's messages waiting for the peer: soon after this node gave
    /// it back threads it lacked, which those messages may follow (one it refused a moment ago,
    /// "a thread this node does not hold", would otherwise wait out its back-off).
    deliver_at: Option<Instant>,
    /// Objects the peer's answers brought, new to this node, not yet told (`history_restored`
    /// is told once an answer is all here, not once a page).
    untold: u64,
    /// The threads whose Accept an answer brought, to confirm once the answer is all here (at
    /// most one per object of [`MAX_ROUNDS`] answers).
    accepted: Vec<haggle_protocol::ObjectId>,
    /// Whether an answer held anything this node refused for good: a Confirm among them would
    /// not be here, so nothing is confirmed by this session.
    refused: bool,
}

/// Sessions under way. Every map is bounded: by the connected peers (`sessions`, removed when a
/// peer leaves), by the requests one asks at a time (`outbound`: one per session), and by the
/// loop's in-flight limit (`inbound`).
#[derive(Debug, Default)]
pub(super) struct PartyFlow {
    sessions: HashMap<PeerId, Session>,
    /// The last session's id.
    last: u64,
    /// Requests in flight, with their session.
    outbound: HashMap<OutboundRequestId, (PeerId, u64)>,
    /// Peers' requests waiting for their answer, by token.
    inbound: HashMap<u64, ResponseChannel<PartyResponse>>,
}

impl EventLoop {
    /// Starts a session with `peer`, just connected.
    pub(super) fn start_party(&mut self, peer: PeerId) {
        self.party.last += 1;
        let session = Session {
            id: self.party.last,
            rounds: 0,
            settled: HashSet::new(),
            again: None,
            penalised: false,
            deliver_at: None,
            untold: 0,
            accepted: Vec::new(),
            refused: false,
        };
        self.party.sessions.insert(peer, session);
        self.ask_party(peer);
    }

    /// Asks `peer` for what this node lacks of their threads and deals (the ids held read in
    /// turn with other store work), unless the session's rounds are spent.
    fn ask_party(&mut self, peer: PeerId) {
        let Some(key) = PublicKey::from_peer_id(&peer) else { return };
        let Some(session) = self.party.sessions.get_mut(&peer) else { return };
        if session.rounds >= MAX_ROUNDS {
            return;
        }
        session.rounds += 1;
        let (id, settled) = (session.id, session.settled.clone());
        self.spawn_in_turn(move |service| match service.party_held(&key) {
            Ok(mut held) => {
                let named: HashSet<[u8; 32]> = held.iter().copied().collect();
                held.extend(settled.into_iter().filter(|id| !named.contains(id)));
                held.truncate(MAX_HELD);
                Some(Done::Party(PartyDone::Ask { peer, session: id, held }))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the threads and deals held with a peer");
                None
            }
        });
    }

    /// Asks `peer` again after [`AGAIN`], if `session` is still its session.
    fn party_later(&mut self, peer: PeerId, session: u64) {
        if let Some(s) = self.party.sessions.get_mut(&peer).filter(|s| s.id == session) {
            s.again = Some(Instant::now() + AGAIN);
        }
    }

    pub(super) fn on_party_done(&mut self, done: PartyDone) {
        match done {
            PartyDone::Ask { peer, session, held } => {
                let current = self.party.sessions.get(&peer).is_some_and(|s| s.id == session);
                if current && self.swarm.is_connected(&peer) {
                    let id = self.swarm.behaviour_mut().party.send_request(&peer, PartyRequest { held });
                    self.party.outbound.insert(id, (peer, session));
                }
            }
            PartyDone::Answer { peer, token, answer } => {
                self.release(Work::Request);
                if matches!(&answer, PartyResponse::Objects { objects, .. } if !objects.is_empty())
                    && let Some(s) = self.party.sessions.get_mut(&peer)
                {
                    s.deliver_at = Some(Instant::now() + DELIVER_AFTER);
                }
                if let Some(channel) = self.party.inbound.remove(&token) {
                    let _ = self.swarm.behaviour_mut().party.send_response(channel, answer);
                }
            }
            PartyDone::Taken { peer, session, taken, more } => {
                if taken.new > 0 {
                    tracing::info!(
                        %peer, new = taken.new, later = taken.later,
                        "took back messages and deal steps this node lacked (restored from a backup?)"
                    );
                }
                let Some(s) = self.party.sessions.get_mut(&peer).filter(|s| s.id == session) else { return };
                s.settled.extend(taken.settled.iter().copied());
                s.untold += taken.new as u64;
                s.accepted.extend(taken.accepted.iter().copied());
                s.refused |= taken.refused > 0;
                // The answer is all here (or no more is asked for): told once to a watch (a
                // restored node's owner saw its threads come back in silence), and an Accept that
                // came back with no Confirm after it is owed one (see `confirm_given_back`).
                let complete = !more || s.rounds >= MAX_ROUNDS;
                let untold = if complete { std::mem::take(&mut s.untold) } else { 0 };
                let owed = if !more && taken.later == 0 && !s.refused {
                    std::mem::take(&mut s.accepted)
                } else {
                    Vec::new()
                };
                if untold > 0 {
                    self.emit(NodeEvent::HistoryRestored { peer, taken: untold });
                }
                if !owed.is_empty() {
                    self.spawn_in_turn(move |service| match service.confirm_given_back(&owed) {
                        Ok(then) => (!then.is_empty()).then_some(Done::Followups(then)),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot confirm accepts a party gave back");
                            None
                        }
                    });
                }
                let Some(s) = self.party.sessions.get_mut(&peer).filter(|s| s.id == session) else { return };
                let penalise = taken.invalid > 0 && !s.penalised;
                s.penalised |= penalise;
                if penalise {
                    tracing::info!(%peer, invalid = taken.invalid, "a party gave back objects not ours to take");
                    self.penalise(peer);
                }
                if more {
                    self.ask_party(peer);
                } else if taken.later > 0 {
                    self.party_later(peer, session);
                }
            }
        }
    }

    pub(super) fn on_party_event(&mut self, event: request_response::Event<PartyRequest, PartyResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.serve_party(peer, request, channel);
                }
                request_response::Message::Response { request_id, response } => {
                    let Some((peer, session)) = self.party.outbound.remove(&request_id) else { return };
                    match response {
                        PartyResponse::Objects { objects, more } => {
                            let Some(key) = PublicKey::from_peer_id(&peer) else { return };
                            self.spawn_in_turn(move |service| {
                                let taken = service.receive_from_party(&key, &objects);
                                Some(Done::Party(PartyDone::Taken { peer, session, taken, more }))
                            });
                        }
                        PartyResponse::Refused { reason } => {
                            // Busy or rate limited: asked again later, within the session's rounds.
                            tracing::debug!(%peer, %reason, "a peer did not answer for our threads and deals");
                            self.party_later(peer, session);
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, peer, error, .. } => {
                tracing::debug!(%peer, %error, "asking a peer for our threads and deals failed");
                if let Some((peer, session)) = self.party.outbound.remove(&request_id) {
                    if matches!(error, request_response::OutboundFailure::UnsupportedProtocols) {
                        // A build without the protocol: asking again on this connection cannot
                        // succeed, so the session ends here.
                        if self.party.sessions.get(&peer).is_some_and(|s| s.id == session) {
                            self.party.sessions.remove(&peer);
                        }
                    } else {
                        self.party_later(peer, session);
                    }
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "a peer's asking for our threads and deals failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Answers `peer`'s request within its budget: the objects of their threads and deals it did
    /// not name, read on the blocking pool in turn with other work peers bring.
    fn serve_party(&mut self, peer: PeerId, request: PartyRequest, channel: ResponseChannel<PartyResponse>) {
        let refuse = |reason: &str| PartyResponse::Refused { reason: reason.to_owned() };
        let now = Instant::now();
        let spent = self.peers.spend(&peer, Kind::Party, 1, now);
        if spent == Spend::Offence {
            self.penalise(peer);
        }
        let too_many = request.held.len() > MAX_HELD;
        if too_many {
            // Provably over the protocol's limit: the sender's fault.
            self.penalise(peer);
        }
        let admitted = if self.peers.is_banned(&peer, now) {
            Err(refuse("banned for invalid objects"))
        } else if spent != Spend::Allowed {
            Err(refuse("rate limited: too many requests for our threads and deals"))
        } else if too_many {
            Err(refuse("more ids than the protocol allows"))
        } else if let Some(key) = PublicKey::from_peer_id(&peer) {
            self.admit(Work::Request).map(|token| (token, key)).ok_or_else(|| refuse("busy"))
        } else {
            Err(refuse("this peer's id names no key"))
        };
        let (token, key) = match admitted {
            Ok(admitted) => admitted,
            Err(answer) => {
                let _ = self.swarm.behaviour_mut().party.send_response(channel, answer);
                return;
            }
        };
        self.party.inbound.insert(token, channel);
        let failed =
            Done::Party(PartyDone::Answer { peer, token, answer: refuse("this node failed to answer") });
        self.spawn_in_turn(or_on_panic(failed, move |service| {
            let answer = match service.party_missing(&key, &request.held) {
                Ok(objects) => {
                    let (objects, more) = crate::party::answer(objects);
                    PartyResponse::Objects { objects, more }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the threads and deals held with a peer");
                    PartyResponse::Refused { reason: "this node cannot read its store".into() }
                }
            };
            Some(Done::Party(PartyDone::Answer { peer, token, answer }))
        }));
    }

    /// Asks again the peers whose time has come, and sends the owner's waiting messages to those
    /// given back what they lacked (on the loop's one-second tick).
    pub(super) fn party_tick(&mut self) {
        let now = Instant::now();
        let (mut due, mut deliver) = (Vec::new(), Vec::new());
        for (peer, s) in &mut self.party.sessions {
            if s.again.is_some_and(|at| at <= now) {
                s.again = None;
                due.push(*peer);
            }
            if s.deliver_at.is_some_and(|at| at <= now) {
                s.deliver_at = None;
                deliver.push(*peer);
            }
        }
        for peer in due {
            self.ask_party(peer);
        }
        for peer in deliver {
            self.retry_outbox(Some(peer));
        }
    }

    /// A catch-up sync ended: what parties gave back too early (an offer on a listing revision
    /// whose listing sync has just brought) is asked for again at the next tick, not 30 s on.
    pub(super) fn party_after_sync(&mut self) {
        let now = Instant::now();
        for s in self.party.sessions.values_mut() {
            if s.again.is_some() {
                s.again = Some(now);
            }
        }
    }

    /// `peer` left: its session goes.
    pub(super) fn forget_party(&mut self, peer: &PeerId) {
        self.party.sessions.remove(peer);
    }
}
