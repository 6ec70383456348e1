//! Negotiation messages between the two parties: direct delivery over `/haggle/negotiate/1` in
//! both directions, the outbox with per-message backoff, delivery states, and opening mail.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};

use haggle_protocol::ObjectId;
use haggle_storage::DeliveryState;

use super::budget::Spend;
use super::peers::Kind;
use super::{Done, EventLoop, Work, or_on_panic};
use crate::api::types::NodeEvent;
use crate::service::{Inbound, OutboxDue, OutboxScope, Received, Service, Via};
use crate::wire::{NegotiateRequest, NegotiateResponse};

/// Outgoing negotiation requests in flight at once.
const MAX_OUTBOUND: usize = 64;
/// Longest wait between periodic delivery attempts of one message (a reconnect always retries
/// at once).
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Longest wait for a message to a party that is connected: its node answered, and turned the
/// message away for now (the listing not arrived there yet, a place not free yet, a date ahead
/// of its clock). Asking again costs one request to a peer at hand, within its budget.
const MAX_BACKOFF_CONNECTED: Duration = Duration::from_secs(60);

/// Longest a stopping node keeps handing its queued messages on: sealed copies to its peers
/// for parties not connected, and direct deliveries under way to those connected.
const HAND_OVER_WAIT: Duration = Duration::from_secs(3);
/// How long a stopping node goes on running its connections after it last published something,
/// for the bytes to leave.
const HAND_OVER_FLUSH: Duration = Duration::from_millis(300);

/// Requests in flight, both ways. Every map is bounded: outbound by [`MAX_OUTBOUND`], inbound by
/// the loop's in-flight limit (`EventLoop::admit`).
///
/// A party's messages go one at a time, oldest first: the next once its node answered the one
/// before. All at once, they overran the party's streams (libp2p drops an inbound stream past
/// `NEGOTIATE_STREAMS`, and the sender saw a closed stream), and the party's node took them in
/// on several threads at once, so a step could arrive before the one it follows and be turned
/// away for now: either way the message waited out its backoff, and a backlog of 20 took
/// minutes to reach a node just restarted.
#[derive(Debug, Default)]
pub(super) struct Delivery {
    /// Outgoing requests: request id → message id and party.
    outbound: HashMap<OutboundRequestId, (ObjectId, PeerId)>,
    /// Messages with a request in flight (not to send twice at once).
    sending: HashSet<ObjectId>,
    /// Parties with a message in flight (at most [`MAX_OUTBOUND`]).
    in_flight: HashSet<PeerId>,
    /// Parties with messages held back behind the one in flight: sent once it is answered.
    held: HashSet<PeerId>,
    /// Inbound requests awaiting their store write, by token.
    inbound: HashMap<u64, ResponseChannel<NegotiateResponse>>,
}

impl EventLoop {
    pub(super) fn on_negotiate(
        &mut self,
        event: request_response::Event<NegotiateRequest, NegotiateResponse>,
    ) {
        match event {
            request_response::Event::Message { peer, connection_id, message } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.on_negotiate_request(peer, request, channel);
                }
                request_response::Message::Response { request_id, response } => {
                    let Some((id, party)) = self.answered(request_id) else { return };
                    let attempt = match response {
                        NegotiateResponse::Stored => {
                            Attempt::Stored { relayed: self.is_relayed(connection_id) }
                        }
                        NegotiateResponse::Rejected { reason, retry: true } => {
                            Attempt::Not(DeliveryState::Queued, Some(their_words(&reason)))
                        }
                        NegotiateResponse::Rejected { reason, retry: false } => {
                            Attempt::Not(DeliveryState::Failed, Some(their_words(&reason)))
                        }
                    };
                    self.record_then_next(id, party, attempt);
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                if let Some((id, party)) = self.answered(request_id) {
                    let attempt = Attempt::Not(DeliveryState::Queued, Some(failure_in_words(&error)));
                    self.record_then_next(id, party, attempt);
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
        let now = std::time::Instant::now();
        if self.peers.is_banned(&peer, now) {
            let banned =
                NegotiateResponse::Rejected { reason: "banned for invalid objects".into(), retry: true };
            let _ = self.swarm.behaviour_mut().negotiate.send_response(channel, banned);
            return;
        }
        let spent = self.peers.spend(&peer, Kind::Negotiate, 1, now);
        if spent != Spend::Allowed {
            if spent == Spend::Offence {
                self.penalise(peer);
            }
            let limited = NegotiateResponse::Rejected {
                reason: "rate limited: too many negotiation messages; try again later".into(),
                retry: true,
            };
            let _ = self.swarm.behaviour_mut().negotiate.send_response(channel, limited);
            return;
        }
        let Some(token) = self.admit(Work::Request) else {
            let busy = NegotiateResponse::Rejected { reason: "node busy".into(), retry: true };
            let _ = self.swarm.behaviour_mut().negotiate.send_response(channel, busy);
            return;
        };
        self.delivery.inbound.insert(token, channel);
        let failed = Done::Negotiated { token, peer, inbound: Inbound::failed() };
        self.spawn_blocking(or_on_panic(failed, move |service| {
            let inbound = service.receive(&request.object, Via::Direct);
            if let Some(Received::Refused { reason, .. }) = inbound.first() {
                tracing::debug!(%peer, %reason, "refused a negotiation message");
            }
            Some(Done::Negotiated { token, peer, inbound })
        }));
    }

    pub(super) fn on_negotiated(&mut self, token: u64, peer: PeerId, inbound: Inbound) {
        // A forged or malformed message is the sender's fault, whichever channel carried it.
        if let Some(Received::Refused { peer_fault: true, .. }) = inbound.first() {
            self.penalise(peer);
        }
        self.note_date(peer, &inbound);
        if let Some(channel) = self.delivery.inbound.remove(&token) {
            let response = inbound.first().map_or(
                NegotiateResponse::Rejected { reason: "nothing received".into(), retry: false },
                response,
            );
            let _ = self.swarm.behaviour_mut().negotiate.send_response(channel, response);
        }
        self.act_on(inbound);
    }

    /// Forgets the request `request_id` as in flight: its message and party.
    fn answered(&mut self, request_id: OutboundRequestId) -> Option<(ObjectId, PeerId)> {
        let (id, party) = self.delivery.outbound.remove(&request_id)?;
        self.delivery.sending.remove(&id);
        self.delivery.in_flight.remove(&party);
        Some((id, party))
    }

    /// Records what became of a message to `party` and, if more of its messages wait behind it,
    /// loads the next: in one task on the blocking pool, so the next is read after the record.
    fn record_then_next(&mut self, id: ObjectId, party: PeerId, attempt: Attempt) {
        if !self.delivery.held.remove(&party) {
            self.spawn_blocking(move |service| attempt.record(service, id).map(Done::Event));
            return;
        }
        let connected: HashSet<PeerId> = self.swarm.connected_peers().copied().collect();
        let base = self.intervals.retry;
        self.spawn_blocking(move |service| {
            let recorded = attempt.record(service, id);
            let backoff = |attempts, at_hand| backoff(base, attempts, at_hand);
            match service.outbox_due(OutboxScope::Next(party), &connected, backoff) {
                Ok(mut due) => {
                    // Not the one just answered: its `sent` record may not have landed yet (a
                    // separate task), and without it the message would look due at once.
                    for (_, messages) in &mut due.batches {
                        messages.retain(|(message, _)| *message != id);
                    }
                    due.lapsed.extend(recorded);
                    Some(Done::Outbox(due))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    recorded.map(Done::Event)
                }
            }
        });
    }

    /// Records a delivery state change on the blocking pool and announces it.
    fn record(&self, id: ObjectId, state: DeliveryState, error: Option<String>) {
        self.spawn_blocking(move |service| Attempt::Not(state, error).record(service, id).map(Done::Event));
    }

    /// Loads queued messages (for one peer, all now, or everyone's after their backoff) on the
    /// blocking pool; [`Done::Outbox`] brings them back to send.
    pub(super) fn retry_outbox(&mut self, only: Option<PeerId>) {
        let connected: HashSet<PeerId> = self.swarm.connected_peers().copied().collect();
        let base = self.intervals.retry;
        let scope = only.map_or(OutboxScope::All, OutboxScope::Now);
        self.spawn_blocking(move |service| {
            match service.outbox_due(scope, &connected, |attempts, at_hand| backoff(base, attempts, at_hand))
            {
                Ok(due) => Some(Done::Outbox(due)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    None
                }
            }
        });
    }

    /// Before the node stops: hands what the outbox holds to the network, bounded by
    /// [`HAND_OVER_WAIT`]. A message acknowledged as queued a moment before the stop had not
    /// been sealed or gossiped yet (sealing signs a mailbox), so a party offline then got
    /// nothing until this node ran again (found in a trial: an offer sent and the laptop
    /// closed). With a peer connected, the outbox is read once more, sealed copies are
    /// gossiped and direct deliveries under way are let finish; with none, or nothing to hand
    /// on, the node stops at once.
    pub(super) async fn hand_over(&mut self) {
        if self.swarm.connected_peers().next().is_none() {
            return;
        }
        self.retry_outbox(None);
        let deadline = tokio::time::Instant::now() + HAND_OVER_WAIT;
        // Set once something went out, to let its bytes leave.
        let mut flush_until: Option<tokio::time::Instant> = None;
        loop {
            let now = tokio::time::Instant::now();
            let flushed = flush_until.is_none_or(|t| now >= t);
            // Work finished sends its result before it leaves the pool: a result may still wait
            // in the channel when the pool is empty.
            let idle = self.blocking.is_empty() && self.done_rx.is_empty();
            if (idle && self.delivery.outbound.is_empty() && flushed) || now >= deadline {
                break;
            }
            let wake = flush_until.filter(|t| *t > now).map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                biased;
                Some(done) = self.done_rx.recv() => {
                    let sends = match &done {
                        Done::Outbox(due) => !due.mail.is_empty() || !due.batches.is_empty(),
                        Done::Followups(then) => !then.publish.is_empty(),
                        _ => false,
                    };
                    self.on_done(done);
                    if sends {
                        flush_until = Some(tokio::time::Instant::now() + HAND_OVER_FLUSH);
                    }
                }
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Sends what is due to connected parties, gossips sealed copies for the others, and dials
    /// them.
    pub(super) fn send_due(&mut self, due: OutboxDue) {
        for event in due.lapsed {
            self.emit(event);
        }
        // Every recipient still waiting stays a party on the dialling schedule (the unreachable
        // ones among them too: they are dialled below, at their turn).
        for peer in due.waiting {
            let connected = self.swarm.is_connected(&peer);
            self.dialer.renew_party(peer, connected);
        }
        for bytes in due.mail {
            self.publish(bytes);
        }
        for (peer, messages) in due.batches {
            // Reached only through a relay while hole punching is under way: the outcome sends
            // them (`on_dcutr`), over the direct connection if there is one.
            if self.reach.awaits_punch(&peer) {
                continue;
            }
            // One at a time, oldest first (see `Delivery`): the rest go as each is answered.
            let mut unsent = messages.into_iter().filter(|(id, _)| !self.delivery.sending.contains(id));
            let Some((id, bytes)) = unsent.next() else { continue };
            if self.delivery.in_flight.contains(&peer) {
                // Behind the one in flight: sent once it is answered.
                self.delivery.held.insert(peer);
                continue;
            }
            if self.delivery.outbound.len() >= MAX_OUTBOUND {
                // Every slot taken: at the next periodic retry.
                continue;
            }
            if unsent.next().is_some() {
                self.delivery.held.insert(peer);
            }
            self.peers.used(&peer, std::time::Instant::now());
            let request_id =
                self.swarm.behaviour_mut().negotiate.send_request(&peer, NegotiateRequest { object: bytes });
            self.delivery.sending.insert(id);
            self.delivery.in_flight.insert(peer);
            self.delivery.outbound.insert(request_id, (id, peer));
            self.record(id, DeliveryState::Sent, None);
        }
        if !due.unreachable.is_empty() {
            self.redial();
        }
    }

    /// Opens mail addressed to this node on the blocking pool.
    pub(super) fn check_mail(&self) {
        self.spawn_blocking(|service| match service.open_mail() {
            Ok(opened) if opened.then.is_empty() => None,
            Ok(opened) => Some(Done::Mail(opened)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open mail");
                None
            }
        });
    }
}

/// A refusal's reason as the recipient's node gave it, for this node's owner: "this node" there
/// is the recipient's ("it is about a listing or thread this node does not hold" read, in a
/// trial, as if the sender's node lacked it).
fn their_words(reason: &str) -> String {
    reason.replace("this node", "their node")
}

/// The answer to a negotiation request: stored (or already held), or refused with whether a
/// later retry may succeed (the sender is not to blame and the refusal is not final: e.g. the
/// listing has not arrived yet).
fn response(received: &Received) -> NegotiateResponse {
    match received {
        Received::New | Received::Known => NegotiateResponse::Stored,
        Received::Refused { reason, peer_fault } => NegotiateResponse::Rejected {
            reason: reason.to_string(),
            retry: !peer_fault && !reason.is_final(),
        },
        Received::Failed => {
            NegotiateResponse::Rejected { reason: "the node could not store it".into(), retry: true }
        }
    }
}

/// How long after its last attempt a message is tried again: doubling from the retry interval
/// with each attempt, at most [`MAX_BACKOFF`], or [`MAX_BACKOFF_CONNECTED`] when its party is
/// connected.
fn backoff(base: Duration, attempts: u32, connected: bool) -> Duration {
    let most = if connected { MAX_BACKOFF_CONNECTED } else { MAX_BACKOFF };
    base.saturating_mul(1 << attempts.min(10)).min(most)
}

/// Why a delivery got no answer, as the sender's `show` says it under the message (libp2p's own
/// words name its internals: "Timeout while waiting for a response").
fn failure_in_words(error: &request_response::OutboundFailure) -> String {
    use request_response::OutboundFailure;
    match error {
        OutboundFailure::DialFailure => "the other party's node could not be reached".to_owned(),
        OutboundFailure::Timeout => {
            "the other party's node took it but did not answer in time (busy, paused or on a slow link)"
                .to_owned()
        }
        OutboundFailure::ConnectionClosed => {
            "the connection to the other party's node closed before it answered".to_owned()
        }
        OutboundFailure::UnsupportedProtocols => {
            "the other party's node does not take negotiation messages (another program, or a build too old)"
                .to_owned()
        }
        // Its words are libp2p's internals ("0000000a/44: connection is closed"): logged, not shown.
        OutboundFailure::Io(e) => {
            tracing::debug!(error = %e, "a negotiation stream failed");
            "the stream to the other party's node broke before it answered".to_owned()
        }
    }
}

/// What one delivery attempt came to.
#[derive(Debug)]
enum Attempt {
    /// The other party's node stored the message, answering over a relayed connection or not.
    Stored { relayed: bool },
    /// Any other state (sent, still queued, refused for good), with the reason given.
    Not(DeliveryState, Option<String>),
}

impl Attempt {
    /// Records the attempt in the outbox; the event to announce if the state is new.
    fn record(self, service: &Service, id: ObjectId) -> Option<NodeEvent> {
        let recorded = match self {
            Attempt::Stored { relayed } => service.record_stored(id, relayed),
            Attempt::Not(state, error) => service.record_delivery(id, state, error),
        };
        recorded.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot record delivery state");
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let base = Duration::from_secs(15);
        assert_eq!(backoff(base, 0, false), base);
        assert_eq!(backoff(base, 1, false), Duration::from_secs(30));
        assert_eq!(backoff(base, 3, false), Duration::from_secs(120));
        assert_eq!(backoff(base, 30, false), MAX_BACKOFF);
        // A party at hand that turned a message away for now is asked again within a minute
        // (a date ahead of its clock passes, a listing arrives there).
        assert_eq!(backoff(base, 1, true), Duration::from_secs(30));
        assert_eq!(backoff(base, 30, true), MAX_BACKOFF_CONNECTED);
    }

    /// Found in a trial: the recipient's reason, "a listing or thread this node does not hold",
    /// read to the sender as if its own node lacked it.
    #[test]
    fn a_refusal_is_told_to_the_sender_as_its_recipients() {
        let reason = haggle_storage::RejectReason::UnknownSubject.to_string();
        assert_eq!(their_words(&reason), "it is about a listing or thread their node does not hold");
    }

    #[test]
    fn a_refusal_no_retry_can_change_is_answered_final() {
        use crate::service::Refusal;
        use haggle_storage::RejectReason;
        let answer = |reason: RejectReason, peer_fault| match response(&Received::Refused {
            reason: Refusal::Rules(reason),
            peer_fault,
        }) {
            NegotiateResponse::Rejected { retry, .. } => retry,
            NegotiateResponse::Stored => panic!("refused"),
        };
        // A second Withdraw: not the sender's fault, and never taken however often it comes.
        assert!(!answer(RejectReason::ThreadEnded, false));
        assert!(!answer(RejectReason::ThreadFull, false));
        // A quota a deal on another thread frees, or an expiry by this node's clock: worth
        // another try.
        assert!(answer(RejectReason::ListingThreadQuota { max: 32 }, false));
        assert!(answer(RejectReason::Expired, false));
        // An offer on a listing not arrived yet, or past open offers a Withdraw on its way
        // frees: worth another try.
        assert!(answer(RejectReason::UnknownListing(haggle_protocol::ObjectId::from_bytes([1; 32])), false));
        assert!(answer(RejectReason::TooManyOpenOffers { max: 3 }, false));
    }

    /// Defect: a delivery to a node that was paused read `last try: Timeout while waiting for
    /// a response`.
    #[test]
    fn a_failed_delivery_is_said_in_words() {
        use request_response::OutboundFailure;
        let said = failure_in_words(&OutboundFailure::Timeout);
        assert!(said.starts_with("the other party's node took it but did not answer in time"), "{said}");
        for failure in [
            OutboundFailure::DialFailure,
            OutboundFailure::ConnectionClosed,
            OutboundFailure::UnsupportedProtocols,
        ] {
            assert!(failure_in_words(&failure).starts_with("the "), "{failure:?}");
        }
        // Found in a trial: a stream reset read `a network error while sending: 0000000a/44:
        // connection is closed`.
        let io = OutboundFailure::Io(std::io::Error::other("0000000a/44: connection is closed"));
        let said = failure_in_words(&io);
        assert!(said.starts_with("the ") && !said.contains("0000000a"), "{said}");
    }
}
