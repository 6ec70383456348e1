//! The public topic: every message is decoded, verified and stored through the service's inbound
//! path before gossipsub may forward it; the verdict feeds gossipsub's peer score and our own
//! penalties.

use std::collections::{HashSet, VecDeque};

use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};

use super::budget::Spend;
use super::peers::Kind;
use super::{Done, EventLoop, Work, or_on_panic};
use crate::service::{Inbound, Received, Via};

impl EventLoop {
    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                self.seen.insert(&message_id);
                self.validate(propagation_source, message_id, message.data);
            }
            gossipsub::Event::Subscribed { .. } => self.flush_unpublished(),
            _ => {}
        }
    }

    /// decode → verify → store on the blocking pool; the verdict comes back as [`Done::Gossip`].
    fn validate(&mut self, source: PeerId, message_id: MessageId, data: Vec<u8>) {
        if self.peers.spend(&source, Kind::Gossip, 1, std::time::Instant::now()) != Spend::Allowed {
            // Over the peer's budget: not verified, stored or forwarded. Not penalised: an honest
            // relay passes on what its mesh carries, and a node that just caught up re-gossips
            // what it fetched; neither can know our budget.
            self.report(&message_id, &source, MessageAcceptance::Ignore);
            return;
        }
        if self.admit(Work::Gossip).is_none() {
            self.report(&message_id, &source, MessageAcceptance::Ignore);
            return;
        }
        let failed = Done::Gossip { message_id: message_id.clone(), source, inbound: Inbound::failed() };
        self.spawn_in_turn(or_on_panic(failed, move |service| {
            let inbound = service.receive(&data, Via::Gossip);
            Some(Done::Gossip { message_id, source, inbound })
        }));
    }

    pub(super) fn on_validated(&mut self, message_id: MessageId, source: PeerId, inbound: Inbound) {
        let acceptance = inbound.first().map_or(MessageAcceptance::Ignore, acceptance);
        if let Some(Received::Refused { reason, peer_fault: true }) = inbound.first() {
            tracing::debug!(peer = %source, %reason, "invalid object on gossip");
        }
        let rejected = matches!(acceptance, MessageAcceptance::Reject);
        self.note_date(source, &inbound);
        self.report(&message_id, &source, acceptance);
        if rejected {
            self.penalise(source);
        }
        self.act_on(inbound);
    }
}

/// Message ids the mesh has carried lately (received, or published by this node), so that an
/// object that also arrived by sync is not published again (gossipsub would refuse it as a
/// duplicate and log a warning for each). Bounded: the oldest are forgotten first.
#[derive(Debug, Default)]
pub(super) struct Seen {
    ids: HashSet<MessageId>,
    order: VecDeque<MessageId>,
}

/// Message ids remembered: gossipsub's own duplicate cache lasts 5 minutes; this covers far more
/// than 5 minutes of a busy market in about 1 MiB.
const MAX_SEEN: usize = 16_384;

impl Seen {
    pub(super) fn insert(&mut self, id: &MessageId) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id.clone());
            if self.order.len() > MAX_SEEN
                && let Some(old) = self.order.pop_front()
            {
                self.ids.remove(&old);
            }
        }
    }

    pub(super) fn contains(&self, id: &MessageId) -> bool {
        self.ids.contains(id)
    }
}

/// Accept (forward) what is new; Reject (penalise) what the sender is to blame for; Ignore the
/// rest (duplicates, old revisions, objects that arrived before what they refer to, and our own
/// failures).
fn acceptance(received: &Received) -> MessageAcceptance {
    match received {
        Received::New => MessageAcceptance::Accept,
        Received::Refused { peer_fault: true, .. } => MessageAcceptance::Reject,
        Received::Known | Received::Refused { .. } | Received::Failed => MessageAcceptance::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_ids_are_remembered_and_bounded() {
        let mut seen = Seen::default();
        let first = crate::gossip::message_id(b"first");
        seen.insert(&first);
        seen.insert(&first);
        assert!(seen.contains(&first));
        assert_eq!(seen.order.len(), 1, "once each");
        for i in 0..MAX_SEEN {
            seen.insert(&crate::gossip::message_id(&i.to_le_bytes()));
        }
        assert_eq!((seen.ids.len(), seen.order.len()), (MAX_SEEN, MAX_SEEN));
        assert!(!seen.contains(&first), "the oldest is forgotten first");
    }
}
