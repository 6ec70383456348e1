//! `/haggle/party/1` sessions ([`crate::party`]): on each new connection this node names to the
//! peer what it holds of their threads and deals, and takes back what it lacks; and it answers
//! the peer's asking the same. Both sides ask, each for itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};

use haggle_protocol::PublicKey;

use super::budget::Spend;
use super::peers::Kind;
use super::{Done, EventLoop, Work};
use crate::party::{MAX_HELD, MAX_ROUNDS, PartyRequest, PartyResponse};
use crate::service::PartyTaken;

/// How long after an answer some of whose objects came too early (what they follow was not
/// here yet: a listing revision the catch-up sync brings) the peer is asked again.
const AGAIN: Duration = Duration::from_secs(30);

/// Party work done on the blocking pool, back to the loop.
#[derive(Debug)]
pub(crate) enum PartyDone {
    /// What this node holds with `peer`, to ask it for the rest.
    Ask { peer: PeerId, held: Vec<[u8; 32]> },
    /// The answer to `peer`'s request, under its token.
    Answer { token: u64, answer: PartyResponse },
    /// What `peer`'s answer brought; `more` if it left some out.
    Taken { peer: PeerId, taken: PartyTaken, more: bool },
}

/// Sessions under way. Every map is bounded: by the connected peers (`rounds`, `again`, removed
/// when a peer leaves), by the requests one asks at a time (`outbound`: one per peer), and by
/// the loop's in-flight limit (`inbound`).
#[derive(Debug, Default)]
pub(super) struct PartyFlow {
    /// Requests made of each connected peer since it connected (at most [`MAX_ROUNDS`]).
    rounds: HashMap<PeerId, usize>,
    /// Requests in flight.
    outbound: HashMap<OutboundRequestId, PeerId>,
    /// Peers' requests waiting for their answer, by token.
    inbound: HashMap<u64, ResponseChannel<PartyResponse>>,
    /// Peers to ask again, and when.
    again: HashMap<PeerId, Instant>,
}

impl EventLoop {
    /// Starts a session with `peer`, just connected: its rounds count from nothing.
    pub(super) fn start_party(&mut self, peer: PeerId) {
        self.party.rounds.insert(peer, 0);
        self.ask_party(peer);
    }

    /// Asks `peer` for what this node lacks of their threads and deals (on the blocking pool:
    /// the ids held first), unless this connection's rounds are spent.
    fn ask_party(&mut self, peer: PeerId) {
        let Some(key) = PublicKey::from_peer_id(&peer) else { return };
        let Some(rounds) = self.party.rounds.get_mut(&peer) else { return };
        if *rounds >= MAX_ROUNDS {
            return;
        }
        *rounds += 1;
        self.spawn_blocking(move |service| match service.party_held(&key) {
            Ok(held) => Some(Done::Party(PartyDone::Ask { peer, held })),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the threads and deals held with a peer");
                None
            }
        });
    }

    pub(super) fn on_party_done(&mut self, done: PartyDone) {
        match done {
            PartyDone::Ask { peer, held } => {
                if self.swarm.is_connected(&peer) {
                    let id = self.swarm.behaviour_mut().party.send_request(&peer, PartyRequest { held });
                    self.party.outbound.insert(id, peer);
                }
            }
            PartyDone::Answer { token, answer } => {
                self.release(Work::Request);
                if let Some(channel) = self.party.inbound.remove(&token) {
                    let _ = self.swarm.behaviour_mut().party.send_response(channel, answer);
                }
            }
            PartyDone::Taken { peer, taken, more } => {
                if taken.new > 0 {
                    tracing::info!(
                        %peer, new = taken.new, later = taken.later,
                        "took back messages and deal steps this node lacked (restored from a backup?)"
                    );
                }
                if taken.invalid > 0 {
                    tracing::info!(%peer, invalid = taken.invalid, "a party sent back objects not ours to take");
                    self.penalise(peer);
                }
                if more {
                    self.ask_party(peer);
                } else if taken.later > 0 && self.party.rounds.contains_key(&peer) {
                    self.party.again.insert(peer, Instant::now() + AGAIN);
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
                    let Some(peer) = self.party.outbound.remove(&request_id) else { return };
                    match response {
                        PartyResponse::Objects { objects, more } => {
                            let Some(key) = PublicKey::from_peer_id(&peer) else { return };
                            self.spawn_in_turn(move |service| {
                                let taken = service.receive_from_party(&key, &objects);
                                Some(Done::Party(PartyDone::Taken { peer, taken, more }))
                            });
                        }
                        PartyResponse::Refused { reason } => {
                            tracing::debug!(%peer, %reason, "a peer did not answer for our threads and deals");
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, peer, error, .. } => {
                self.party.outbound.remove(&request_id);
                tracing::debug!(%peer, %error, "asking a peer for our threads and deals failed");
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
        self.spawn_in_turn(move |service| {
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
            Some(Done::Party(PartyDone::Answer { token, answer }))
        });
    }

    /// Asks again the peers whose time has come (on the loop's one-second tick).
    pub(super) fn party_tick(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> =
            self.party.again.iter().filter(|(_, at)| **at <= now).map(|(p, _)| *p).collect();
        for peer in due {
            self.party.again.remove(&peer);
            self.ask_party(peer);
        }
    }

    /// `peer` left: its session goes.
    pub(super) fn forget_party(&mut self, peer: &PeerId) {
        self.party.rounds.remove(peer);
        self.party.again.remove(peer);
    }
}
