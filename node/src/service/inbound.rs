//! The one way an object from outside enters the node, whatever carried it: gossip, sync, direct
//! delivery from the other party, or mail opened here. Each object is decoded and verified,
//! checked against what that channel may carry, stored, and followed up (events to announce,
//! mail to open, a listing's next revision after a deal, recent objects to pass on); the result
//! is an [`Inbound`] the event loop acts on.

use haggle_protocol::{
    Body, DecodeError, Object, ObjectId, ObjectKind, PublicKey, Timestamp, ValidationError, Verified,
};
use haggle_storage::{Durability, Outcome, RejectReason};

use super::{Followups, Service};
use crate::api::types::{Arrival, NodeEvent};

/// Objects created within this long before now are passed on by gossip (and announced) when they
/// arrive by sync: peers near this node probably missed them too (a healed partition, a
/// restarted node). Older ones are not: a new node catching up on the whole market must not
/// re-announce it.
pub(crate) const REGOSSIP_WINDOW: std::time::Duration = std::time::Duration::from_secs(3_600);
/// At most this many objects of one sync batch, and of one sync session, are passed on by gossip.
pub(crate) const REGOSSIP_LIMIT: usize = 256;
/// A listing refused because its author is at its quota here is not fetched again for this
/// long (a place frees only when one of the author's listings expires).
const QUOTA_REFUSAL: std::time::Duration = std::time::Duration::from_secs(3_600);

/// What carried an object here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The public gossip topic.
    Gossip,
    /// A catch-up sync batch (fetched or pushed).
    Sync,
    /// Direct delivery from the other party (`/haggle/negotiate/1`).
    Direct,
    /// A sealed mailbox addressed to this node, opened here.
    Mail,
}

impl Via {
    /// Gossip and sync carry public objects only; direct delivery and mail carry negotiation
    /// messages only.
    fn carries_public(self) -> bool {
        matches!(self, Via::Gossip | Via::Sync)
    }

    /// Negotiation messages are acknowledged to their sender, so they are on disk before the
    /// answer; public objects come again by sync if a crash loses the last few.
    fn durability(self) -> Durability {
        if self.carries_public() { Durability::Lazy } else { Durability::Flush }
    }
}

/// What happened to one object from outside.
#[derive(Debug)]
pub enum Received {
    /// Stored; new to this node.
    New,
    /// Already held, or an older revision: nothing changed.
    Known,
    /// Refused. `peer_fault` is true only when the sender is provably to blame (bad encoding or
    /// signature, broken rules, the wrong channel), never for timing (expired, or arrived before
    /// what it refers to).
    Refused {
        /// Why.
        reason: Refusal,
        /// Whether to penalise the sender.
        peer_fault: bool,
    },
    /// This node could not store it (its own failure; the sender may try again).
    Failed,
}

impl From<Outcome> for Received {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::New { .. } => Received::New,
            Outcome::Duplicate { .. } | Outcome::Stale { .. } => Received::Known,
            Outcome::Rejected(r) => {
                let reason = Refusal::Rules(r.reason);
                Received::Refused { peer_fault: reason.is_peer_fault(), reason }
            }
        }
    }
}

/// Why an object from outside was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// It does not decode or verify.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The store's rules refuse it.
    #[error(transparent)]
    Rules(#[from] RejectReason),
    /// A negotiation message on a public channel.
    #[error("negotiation messages never travel on public channels")]
    PrivateOnPublicChannel,
    /// A public object sent directly.
    #[error("public objects travel by gossip and sync, not by direct delivery")]
    PublicSentDirectly,
    /// A negotiation message for someone else.
    #[error("this message is addressed to someone else")]
    NotForThisNode,
    /// An object in a fetch answer that was not asked for.
    #[error("an object nobody asked for")]
    Unasked,
    /// Without the proof of work this network asks of it.
    #[error("it lacks the proof of work this network asks for")]
    NotEnoughWork,
    /// A new thread or a message from a key the recipient blocked.
    #[error(
        "the recipient does not take new offers, booking requests or messages from this key: it blocked it"
    )]
    Blocked,
}

impl Refusal {
    /// Whether the sender is provably to blame. Timing is not: an object that refers to what has
    /// not arrived yet, an expired one, or one dated ahead of *our* clock (which may be the one
    /// that is wrong).
    pub fn is_peer_fault(&self) -> bool {
        match self {
            Refusal::Rules(r) => r.is_peer_fault(),
            Refusal::Decode(DecodeError::Invalid(ValidationError::FromTheFuture { .. })) => false,
            // A node configured with another base is not an attacker; a flood of such objects
            // costs two hashes each and meets the peer's budget.
            Refusal::NotEnoughWork => false,
            // The recipient's choice.
            Refusal::Blocked => false,
            _ => true,
        }
    }

    /// Whether sending the same bytes again can never succeed, though the sender is not to
    /// blame (see [`RejectReason::is_final`]; work short of this node's base stays short).
    pub fn is_final(&self) -> bool {
        match self {
            Refusal::Rules(r) => r.is_final(),
            Refusal::NotEnoughWork | Refusal::Blocked => true,
            _ => false,
        }
    }
}

/// What the event loop must do after objects arrived.
#[derive(Debug, Default)]
pub struct Inbound {
    /// One per object offered, in order.
    pub received: Vec<Received>,
    /// What to announce, gossip (a listing's next revision after a deal, mail receipts, recent
    /// objects that arrived by sync) and deliver (messages that ended other threads).
    pub then: Followups,
    /// Mail for this node arrived: open it.
    pub open_mail: bool,
    /// For an object new here that came fresh (by gossip or directly from its sender) with a
    /// good signature: what its date says of its author's clock (see `event_loop::clock`). Sync
    /// and mail carry old objects and say nothing of clocks.
    pub dated: Option<Dated>,
}

/// What a fresh, signed object's date says of its author's clock.
#[derive(Debug, Clone, Copy)]
pub struct Dated {
    /// Its date minus this node's clock when it arrived, in milliseconds.
    pub offset_ms: i64,
    /// Who signed it.
    pub author: PublicKey,
    /// The object.
    pub id: ObjectId,
}

impl Inbound {
    /// One object this node could not store (its own failure: the sender may try again).
    pub(crate) fn failed() -> Self {
        Inbound { received: vec![Received::Failed], ..Inbound::default() }
    }

    /// Objects new to this node.
    pub fn new_count(&self) -> u64 {
        self.received.iter().filter(|r| matches!(r, Received::New)).count() as u64
    }

    /// Objects the sender is to blame for.
    pub fn invalid_count(&self) -> u32 {
        let invalid =
            self.received.iter().filter(|r| matches!(r, Received::Refused { peer_fault: true, .. }));
        u32::try_from(invalid.count()).unwrap_or(u32::MAX)
    }

    /// The outcome of the first (for single objects: the only) object.
    pub fn first(&self) -> Option<&Received> {
        self.received.first()
    }

    fn refuse(&mut self, reason: impl Into<Refusal>) {
        let reason = reason.into();
        let peer_fault = reason.is_peer_fault();
        self.received.push(Received::Refused { reason, peer_fault });
    }
}

/// A message delivered directly is sent at once when its recipient is reachable, and later,
/// from the sender's outbox, when it was not: one dated more than this behind this node's clock
/// may have waited there, so its date says nothing of its author's clock. (Delivery can only
/// make a date look older: one dated ahead counts however it came. The sender's own clock
/// still counts by its sync messages.)
const DIRECT_LATE_MS: i64 = 10_000;

/// `created_at` minus `now`, in milliseconds (saturating).
fn offset_ms(created_at: Timestamp, now: Timestamp) -> i64 {
    let (a, b) = (created_at.as_millis(), now.as_millis());
    if a >= b {
        i64::try_from(a - b).unwrap_or(i64::MAX)
    } else {
        i64::try_from(b - a).map_or(i64::MIN, |d| -d)
    }
}

impl Service {
    /// Takes in one object that arrived `via` a channel.
    pub fn receive(&self, bytes: &[u8], via: Via) -> Inbound {
        let started = std::time::Instant::now();
        let mut out = Inbound::default();
        let mut kind = None;
        let now = Timestamp::now();
        let mut dated = None;
        // Decoded once: an object on the wrong channel, or a copy of a held one, is turned away
        // before any signature check; then the proof of work (two hashes), and only then the
        // signature.
        let verified = Object::decode_unverified(bytes).map_err(Refusal::from).and_then(|object| {
            kind = Some(object.kind());
            if let Some(reason) = self.channel_refusal(&object, via) {
                Err(reason)
            } else if self.already_held(&object, via) {
                Ok(None)
            } else if !object.has_work(self.policy.pow_bits) {
                Err(Refusal::NotEnoughWork)
            } else {
                let (created_at, author, id) = (object.created_at(), object.author(), object.id());
                let verified = object.verify(now);
                // Signed by its author (the signature is checked before the date): its date
                // says what the author's clock read, dated ahead of ours or not.
                let offset = offset_ms(created_at, now);
                if matches!(
                    verified,
                    Ok(_) | Err(DecodeError::Invalid(ValidationError::FromTheFuture { .. }))
                ) && (via == Via::Gossip || (via == Via::Direct && offset >= -DIRECT_LATE_MS))
                {
                    dated = Some(Dated { offset_ms: offset, author, id });
                }
                verified.map(Some).map_err(Refusal::from)
            }
        });
        out.dated = dated;
        match verified {
            Ok(Some(object)) => self.receive_verified(&object, via, &mut out),
            Ok(None) => out.received.push(Received::Known),
            Err(e) => out.refuse(e),
        }
        if let Some(what) = out.first() {
            self.metrics.received(kind, via, bytes.len(), what);
        }
        self.metrics.ingested(via, started.elapsed());
        out
    }

    /// Takes in a batch of objects (a sync batch): checked exactly as [`Service::receive`] does,
    /// with the signatures verified in a pipeline beside the writer. Each object is decoded once
    /// here (for the channel check, the held check and the follow-up); the store verifies it.
    /// For a fetch answer, `asked` holds the ids asked for: any other object is refused (a
    /// responder cannot slip in objects nobody requested; each such object is its fault).
    pub fn receive_batch(&self, objects: &[Vec<u8>], via: Via, asked: Option<&[[u8; 32]]>) -> Inbound {
        let started = std::time::Instant::now();
        let mut kinds = Vec::with_capacity(objects.len());
        let out = self.take_batch(objects, via, asked, &mut kinds);
        for ((what, kind), bytes) in out.received.iter().zip(kinds).zip(objects) {
            self.metrics.received(kind, via, bytes.len(), what);
        }
        self.metrics.ingested(via, started.elapsed());
        out
    }

    /// [`Service::receive_batch`], noting each object's kind (`None`: it did not decode).
    fn take_batch(
        &self,
        objects: &[Vec<u8>],
        via: Via,
        asked: Option<&[[u8; 32]]>,
        kinds: &mut Vec<Option<ObjectKind>>,
    ) -> Inbound {
        let mut out = Inbound::default();
        let asked: Option<std::collections::HashSet<&[u8; 32]>> = asked.map(|ids| ids.iter().collect());
        // Objects for the store, with their place in `received` (which keeps input order: a
        // refused or held object takes its place at once, the others a placeholder).
        let mut admitted: Vec<(usize, Object)> = Vec::with_capacity(objects.len());
        let mut underworked: Vec<ObjectId> = Vec::new();
        for bytes in objects {
            let object = match Object::decode_unverified(bytes) {
                Ok(object) => object,
                Err(e) => {
                    kinds.push(None);
                    out.refuse(e);
                    continue;
                }
            };
            kinds.push(Some(object.kind()));
            if asked.as_ref().is_some_and(|asked| !asked.contains(object.id().as_bytes())) {
                out.refuse(Refusal::Unasked);
            } else if let Some(reason) = self.channel_refusal(&object, via) {
                out.refuse(reason);
            } else if self.already_held(&object, via) {
                out.received.push(Received::Known);
            } else if !object.has_work(self.policy.pow_bits) {
                underworked.push(object.id());
                out.refuse(Refusal::NotEnoughWork);
            } else {
                admitted.push((out.received.len(), object));
                out.received.push(Received::Failed);
            }
        }
        // Listings first, then the rest in the order they were made: a sync batch comes in id
        // order, which would put an auction's bids before the auction (refused as naming an
        // unknown listing until the next round) and a revision before its predecessor.
        admitted.sort_by_key(|(_, object)| (object.kind() != ObjectKind::Listing, object.created_at()));
        let batch: Vec<&[u8]> = admitted.iter().map(|(_, object)| object.bytes()).collect();
        let outcomes = match self.store.ingest_batch(&batch, via.durability()) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                // The placeholders stand: each admitted object is `Failed`.
                tracing::warn!(error = %e, "cannot store a batch of objects");
                self.halt.check(&e);
                return out;
            }
        };
        let mut over_quota: Vec<(ObjectId, PublicKey)> = Vec::new();
        for ((place, object), outcome) in admitted.iter().zip(outcomes) {
            if let Outcome::New { deal, .. } = &outcome {
                self.follow_up(object, *deal, via, &mut out);
            }
            if let Outcome::Rejected(r) = &outcome
                && matches!(r.reason, RejectReason::AuthorQuota { .. } | RejectReason::AuthorHeldQuota { .. })
            {
                over_quota.push((object.id(), object.author()));
            }
            out.received[*place] = Received::from(outcome);
        }
        self.refuse_over_quota(&over_quota);
        self.refuse_underworked(&underworked);
        out
    }

    /// Objects refused for too little proof of work, which a peer whose node asks less holds:
    /// remembered an hour so that sync does not fetch them again, and said in the log at most
    /// every ten minutes (nobody's fault, and the operator would see nothing else).
    fn refuse_underworked(&self, ids: &[ObjectId]) {
        if let Some(count) = self.underworked.refused(ids, std::time::Instant::now()) {
            tracing::info!(
                count,
                pow_bits = self.policy.pow_bits,
                "refused objects with less proof of work than this node asks (pow_bits): the nodes they come from ask less; not fetched again for an hour"
            );
        }
    }

    /// Listings refused because their author is at its quota on this node: said in the log
    /// (nobody's fault, so no peer is penalised, and the operator would see nothing else) and
    /// not fetched again for [`QUOTA_REFUSAL`].
    fn refuse_over_quota(&self, refused: &[(ObjectId, PublicKey)]) {
        if refused.is_empty() {
            return;
        }
        // A line per author (a batch holds at most a few hundred objects).
        let mut by_author: std::collections::BTreeMap<PublicKey, usize> = std::collections::BTreeMap::new();
        for (_, author) in refused {
            *by_author.entry(*author).or_default() += 1;
        }
        for (author, count) in by_author {
            tracing::info!(
                count,
                author = %author,
                "refused listings: the author is at its quota of listings on this node (closed ones count until they expire); not fetched again for an hour"
            );
        }
        let ids: Vec<ObjectId> = refused.iter().map(|(id, _)| *id).collect();
        let until = Timestamp::now().saturating_add(QUOTA_REFUSAL);
        if let Err(e) = self.store.refuse_until(&ids, until) {
            tracing::warn!(error = %e, "cannot note listings refused for their author's quota");
            self.halt.check(&e);
        }
    }

    /// Whether `object` is a copy of one this node holds, on a channel that may carry it. A copy
    /// costs a decode, a hash and a lookup, never a signature check: an old object replayed
    /// after the gossip cache forgot it is cheap to turn away. (A copy with a different
    /// signature over the same content is the same object: nothing is stored or forwarded.) On
    /// channels that acknowledge, the store is flushed first, so "already held" also means "on
    /// disk".
    /// (Callers check the channel first.)
    fn already_held(&self, object: &Object, via: Via) -> bool {
        // Evicted to keep within the store's budget: as good as held (not taken in again).
        if self.store.is_evicted(&object.id()).unwrap_or(false) {
            return true;
        }
        // A rating this node would refuse for one it holds (same author and deal, smaller id):
        // turned away before its four signatures are checked, and nobody's fault.
        if self.store.feedback_outdone(object).unwrap_or(false) {
            return true;
        }
        if !self.store.holds(object).unwrap_or(false) {
            return false;
        }
        if via.durability() == Durability::Flush
            && let Err(e) = self.store.flush()
        {
            tracing::warn!(error = %e, "cannot flush the store");
            self.halt.check(&e);
            return false;
        }
        true
    }

    /// Takes in one verified object (mail opened here goes this way).
    pub(super) fn receive_verified(&self, object: &Verified<Object>, via: Via, out: &mut Inbound) {
        if let Some(reason) = self.channel_refusal(object, via).or_else(|| self.blocked_refusal(object)) {
            out.refuse(reason);
            return;
        }
        match self.store.ingest_verified(object, via.durability()) {
            Ok(outcome) => {
                if let Outcome::New { deal, .. } = &outcome {
                    self.follow_up(object, *deal, via, out);
                }
                out.received.push(Received::from(outcome));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot store an object from the network");
                self.halt.check(&e);
                out.received.push(Received::Failed);
            }
        }
    }

    /// Whether `via` may carry `object` at all.
    fn channel_refusal(&self, object: &Object, via: Via) -> Option<Refusal> {
        match (object.kind().is_public(), via.carries_public()) {
            (true, true) => None,
            (false, true) => Some(Refusal::PrivateOnPublicChannel),
            (true, false) => Some(Refusal::PublicSentDirectly),
            (false, false) if object.body().recipient() != Some(self.me()) => Some(Refusal::NotForThisNode),
            (false, false) => None,
        }
    }

    /// What follows an object new to this node.
    fn follow_up(&self, object: &Object, deal: Option<ObjectId>, via: Via, out: &mut Inbound) {
        let me = self.me();
        let id = object.id();
        let recent =
            via != Via::Sync || object.created_at() >= Timestamp::now().saturating_sub(REGOSSIP_WINDOW);
        match object.body() {
            Body::Listing(_) if self.hides(&object.author()) => {}
            Body::Listing(listing) if recent => {
                let by = if via == Via::Sync { Arrival::Sync } else { Arrival::Gossip };
                out.then.events.push(NodeEvent::ListingStored { id, by });
                let missing = listing.images.iter().filter(|i| self.blobs.has(&i.thumb.hash).is_none());
                for image in missing {
                    out.then.thumbnails.push((image.thumb, object.author().peer_id()));
                }
            }
            Body::Listing(_) => {}
            Body::Mailbox(m) => out.open_mail |= m.to == me,
            Body::Receipt(r) if r.to == me => match self.store.mailbox_message(&r.mailbox) {
                Ok(Some(message)) => out.then.events.push(NodeEvent::DeliveryChanged {
                    id: message,
                    state: haggle_storage::DeliveryState::Delivered,
                }),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the message a receipt confirms"),
            },
            Body::Receipt(_) => {}
            Body::Feedback(f) if recent => {
                if let Some(proof) = f.proof_unverified() {
                    out.then.events.push(self.feedback_event(object, proof.deal));
                }
            }
            Body::Feedback(_) => {}
            Body::Bid(bid) if recent => match self.bid_stored_event(object) {
                Ok(event) => out.then.events.extend(event.filter(|e| !self.hides_event(&bid.to, e))),
                Err(e) => tracing::warn!(error = %e, "cannot read the auction of a bid"),
            },
            Body::Bid(_) => {}
            Body::Pledge(pledge) if recent => match self.pledge_stored_event(object) {
                Ok(event) => out.then.events.extend(event.filter(|e| !self.hides_event(&pledge.to, e))),
                Err(e) => tracing::warn!(error = %e, "cannot read the campaign of a pledge"),
            },
            Body::Pledge(_) => {}
            Body::Step(step) => {
                match self.step_event(object, step.deal) {
                    Ok(event) => out.then.events.push(event),
                    Err(e) => tracing::warn!(error = %e, "cannot read the deal of a step"),
                }
                // A deal on this node's listing called off (or brought back): what it took goes
                // back (or is taken again).
                if matches!(step.step, haggle_protocol::Step::Cancel | haggle_protocol::Step::Received)
                    && let Err(e) = self.after_step(step.deal, &mut out.then)
                {
                    tracing::warn!(deal = %step.deal, error = %e, "cannot settle the listing after a cancel or received");
                }
                // The buyer paid for a digital good this node sold: the key goes out.
                if matches!(step.step, haggle_protocol::Step::Paid { .. })
                    && let Err(e) = self.hand_over_file(step.deal, &mut out.then)
                {
                    tracing::warn!(deal = %step.deal, error = %e, "cannot hand over a digital good's key");
                }
            }
            Body::Note(_) if object.author() == me => {}
            Body::Note(_) => out.then.events.extend(self.note_event(object)),
            Body::Offer(_)
            | Body::Counter(_)
            | Body::Accept(_)
            | Body::Confirm(_)
            | Body::Decline(_)
            | Body::Withdraw(_) => {
                let thread = object.thread_id().unwrap_or(id);
                out.then.events.push(NodeEvent::NegotiationReceived { id, thread, kind: object.kind() });
                // An Accept of this node's terms: confirm it while they stand (judged now, at
                // its arrival, by this node's clock).
                if object.kind() == ObjectKind::Accept
                    && let Err(e) = self.confirm_if_due(thread, &mut out.then)
                {
                    tracing::info!(thread = %thread.fmt_short(), error = %e, "not confirming an accept");
                }
                // An offer or counter on one of the owner's listings closed meanwhile: ended now.
                if matches!(object.kind(), ObjectKind::Offer | ObjectKind::Counter)
                    && let Err(e) = self.end_if_closed(thread, &mut out.then)
                {
                    tracing::warn!(thread = %thread.fmt_short(), error = %e, "cannot end a thread on a closed listing");
                }
                // A booking request on one of the owner's instant-booking calendars.
                if object.kind() == ObjectKind::Offer
                    && let Err(e) = self.accept_if_instant(thread, &mut out.then)
                {
                    tracing::warn!(thread = %thread.fmt_short(), error = %e, "cannot check a booking request");
                }
                // An offer paying a digital good's price: sold by itself.
                if object.kind() == ObjectKind::Offer
                    && let Err(e) = self.accept_if_bought(thread, &mut out.then)
                {
                    tracing::warn!(thread = %thread.fmt_short(), error = %e, "cannot check an offer on a digital good");
                }
                if let Some(deal) = deal
                    && let Err(e) = self.after_deal(deal, &mut out.then)
                {
                    tracing::warn!(error = %e, "cannot publish the listing's next revision after a deal");
                }
            }
        }
        if via == Via::Sync && recent && out.then.publish.len() < REGOSSIP_LIMIT {
            out.then.publish.push(object.bytes().to_vec());
        }
    }
}

#[cfg(test)]
mod tests;
