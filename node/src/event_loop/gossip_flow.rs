//! The public topic: every message is decoded, verified and stored through the service's inbound
//! path before gossipsub may forward it; the verdict feeds gossipsub's peer score and our own
//! penalties.

use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};

use super::{Done, EventLoop};
use crate::service::{Inbound, Received, Via};

impl EventLoop {
    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                self.validate(propagation_source, message_id, message.data);
            }
            gossipsub::Event::Subscribed { .. } => self.flush_unpublished(),
            _ => {}
        }
    }

    /// decode → verify → store on the blocking pool; the verdict comes back as [`Done::Gossip`].
    fn validate(&mut self, source: PeerId, message_id: MessageId, data: Vec<u8>) {
        if self.admit().is_none() {
            self.report(&message_id, &source, MessageAcceptance::Ignore);
            return;
        }
        self.spawn_blocking(move |service| {
            let inbound = service.receive(&data, Via::Gossip);
            Some(Done::Gossip { message_id, source, inbound })
        });
    }

    pub(super) fn on_validated(&mut self, message_id: MessageId, source: PeerId, inbound: Inbound) {
        let acceptance = inbound.first().map_or(MessageAcceptance::Ignore, acceptance);
        if let Some(Received::Refused { reason, peer_fault: true }) = inbound.first() {
            tracing::debug!(peer = %source, %reason, "invalid object on gossip");
        }
        let rejected = matches!(acceptance, MessageAcceptance::Reject);
        self.report(&message_id, &source, acceptance);
        if rejected {
            self.penalise(source);
        }
        self.act_on(inbound);
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
