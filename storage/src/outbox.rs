//! The outbox: the owner's negotiation messages waiting to reach the other party, with their
//! delivery state. Entries enter in the same batch as the message itself (see
//! [`Store::ingest_own`]) and stay after delivery so people can see what happened.

use serde::{Deserialize, Serialize};

use haggle_protocol::{Object, ObjectId, PublicKey, Timestamp};

use crate::error::StoreError;
use crate::keys;
use crate::store::Store;

/// Where a message stands on its way to the other party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Waiting for the other party to be reachable.
    Queued,
    /// Sent; no answer yet.
    Sent,
    /// The other party's node stored it and said so.
    Delivered,
    /// The other party's node refused it (see `last_error`); not retried.
    Failed,
    /// An offer whose terms lapsed before the other party's node confirmed it: not sent again,
    /// since nobody could accept it (it would only open a dead thread there). A sealed copy in
    /// the network lapses with the terms.
    Lapsed,
}

impl DeliveryState {
    /// Every state, in the order a message goes through them.
    pub const ALL: [DeliveryState; 5] = [
        DeliveryState::Queued,
        DeliveryState::Sent,
        DeliveryState::Delivered,
        DeliveryState::Failed,
        DeliveryState::Lapsed,
    ];

    /// The lowercase name, as shown and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Lapsed => "lapsed",
        }
    }

    /// Still to be (re)sent.
    pub fn is_pending(self) -> bool {
        matches!(self, DeliveryState::Queued | DeliveryState::Sent)
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = haggle_protocol::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryState::ALL.into_iter().find(|d| d.as_str() == s).ok_or_else(|| {
            haggle_protocol::UnknownName::new(
                "delivery state",
                s,
                &DeliveryState::ALL.map(DeliveryState::as_str),
            )
        })
    }
}

/// One outgoing message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The message's object id.
    pub id: ObjectId,
    /// The other party, whom the message is for.
    pub to: PublicKey,
    /// Where the message stands.
    pub state: DeliveryState,
    /// How many times the message was sent.
    pub attempts: u32,
    /// When the message entered the outbox.
    pub queued_at: Timestamp,
    /// When the message was last sent, if ever.
    pub last_attempt: Option<Timestamp>,
    /// The error the latest recorded attempt reported, if any.
    pub last_error: Option<String>,
    /// The sealed mailbox copy sent through other nodes, once there is one.
    pub mailbox: Option<ObjectId>,
}

impl OutboxEntry {
    /// Whether a sealed copy of the message is on its way through other nodes while the message
    /// itself still waits (queued or sent, not acknowledged).
    pub fn travels_sealed(&self) -> bool {
        self.mailbox.is_some() && matches!(self.state, DeliveryState::Queued | DeliveryState::Sent)
    }

    fn encode(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).expect("encoding cannot fail")
    }

    fn decode(bytes: &[u8]) -> Result<OutboxEntry, StoreError> {
        bincode::serde::decode_from_slice(bytes, bincode::config::standard().with_limit::<{ 16 * 1024 }>())
            .map(|(e, _)| e)
            .map_err(|_| StoreError::Corrupt { what: "outbox entry" })
    }
}

impl Store {
    /// Marks an outbox entry delivered within `batch` (used when a receipt arrives).
    /// Returns whether the message was not marked delivered before.
    pub(crate) fn mark_delivered(
        &self,
        batch: &mut crate::writes::Batch,
        id: &ObjectId,
    ) -> Result<bool, StoreError> {
        let Some(mut entry) = self.outbox_entry(id)? else { return Ok(false) };
        let news = entry.state != DeliveryState::Delivered;
        entry.state = DeliveryState::Delivered;
        entry.last_error = None;
        batch.insert(keys::outbox(id), entry.encode());
        batch.remove(keys::outbox_pending(&entry.to, id));
        Ok(news)
    }

    /// How many of the owner's messages a receipt for their sealed copy marked delivered since
    /// the store opened, each counted once (one delivered directly before its receipt came is
    /// not counted).
    pub fn delivered_by_mail(&self) -> u64 {
        self.delivered_by_mail.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds `message` to the outbox within `batch`.
    pub(crate) fn queue_for_delivery(
        &self,
        batch: &mut crate::writes::Batch,
        message: &Object,
    ) -> Result<(), StoreError> {
        let Some(to) = message.body().recipient() else { return Ok(()) };
        let entry = OutboxEntry {
            id: message.id(),
            to,
            state: DeliveryState::Queued,
            attempts: 0,
            queued_at: Timestamp::now(),
            last_attempt: None,
            last_error: None,
            mailbox: None,
        };
        batch.insert(keys::outbox(&entry.id), entry.encode());
        batch.insert(keys::outbox_pending(&to, &entry.id), &[]);
        Ok(())
    }

    /// Records the owner's `message`, given back by the other party after this node lost it
    /// (restored from a backup), as delivered: that party holds it. Nothing if it has an outbox
    /// entry already, or has no recipient. Written lazily, as what is given back is.
    pub fn record_given_back(&self, message: &Object) -> Result<(), StoreError> {
        let Some(to) = message.body().recipient() else { return Ok(()) };
        let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.outbox_entry(&message.id())?.is_some() {
            return Ok(());
        }
        let entry = OutboxEntry {
            id: message.id(),
            to,
            state: DeliveryState::Delivered,
            attempts: 0,
            queued_at: message.created_at(),
            last_attempt: None,
            last_error: None,
            mailbox: None,
        };
        let mut batch = crate::writes::Batch::default();
        batch.insert(keys::outbox(&entry.id), entry.encode());
        self.apply_writes(batch)
    }

    /// The outbox entry of the message `id`, if it has one.
    pub fn outbox_entry(&self, id: &ObjectId) -> Result<Option<OutboxEntry>, StoreError> {
        self.db.get(keys::outbox(id))?.map(|v| OutboxEntry::decode(&v)).transpose()
    }

    /// For an offer of this node's owner that the other party's node refused for good (its
    /// outbox entry `Failed`): the refusal as that node gave it (empty if none). That node
    /// holds nothing of its thread, so the thread is answered by nobody, ends by nobody, and
    /// takes no place among the owner's open offers. `None` for anything else.
    pub fn offer_refused(&self, offer: &haggle_protocol::Object) -> Result<Option<String>, StoreError> {
        if offer.kind() != haggle_protocol::ObjectKind::Offer || self.owner.get() != Some(&offer.author()) {
            return Ok(None);
        }
        Ok(self
            .outbox_entry(&offer.id())?
            .filter(|e| e.state == DeliveryState::Failed)
            .map(|e| e.last_error.unwrap_or_default()))
    }

    /// Messages still to be delivered to `to`, oldest first.
    pub fn outbox_pending_for(&self, to: &PublicKey) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::OUTBOX_PENDING, &[to.as_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "outbox key" })?;
            // A delivery being recorded may have set the state before it drops the pending key.
            out.extend(self.outbox_entry(&id)?.filter(|e| e.state.is_pending()));
        }
        out.sort_by_key(|e| e.queued_at);
        Ok(out)
    }

    /// Every message still to be delivered, oldest first.
    pub fn outbox_pending(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix([keys::OUTBOX_PENDING]).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "outbox key" })?;
            // A delivery being recorded may have set the state before it drops the pending key.
            out.extend(self.outbox_entry(&id)?.filter(|e| e.state.is_pending()));
        }
        out.sort_by_key(|e| e.queued_at);
        Ok(out)
    }

    /// Records a delivery attempt's result. Delivered and failed messages leave the pending set.
    /// Returns the entry as recorded, or `None` if there is none or it was delivered already
    /// (nothing changes then).
    pub fn outbox_record(
        &self,
        id: &ObjectId,
        state: DeliveryState,
        error: Option<String>,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut entry) = self.outbox_entry(id)? else { return Ok(None) };
        if entry.state == DeliveryState::Delivered {
            // A late answer to an earlier attempt cannot undo a delivery, nor announce it again.
            return Ok(None);
        }
        if state == DeliveryState::Sent && !entry.state.is_pending() {
            // A `sent` recorded after the attempt's answer (a separate task) leaves the final
            // state the answer gave.
            return Ok(None);
        }
        if state == DeliveryState::Sent {
            entry.attempts += 1;
            entry.last_attempt = Some(Timestamp::now());
        }
        entry.state = state;
        // A new attempt keeps the last one's error until its own outcome is known.
        if error.is_some() || state != DeliveryState::Sent {
            entry.last_error = error;
        }
        let mut batch = crate::writes::Batch::default();
        batch.insert(keys::outbox(id), entry.encode());
        if !state.is_pending() {
            batch.remove(keys::outbox_pending(&entry.to, id));
        }
        self.apply_writes(batch)?;
        // A final state is on disk before it is reported: a crash must not make a delivered
        // message look undelivered (and be sent again) or a refused one look pending.
        if !state.is_pending() {
            self.db.flush()?;
        }
        Ok(Some(entry))
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::Body;
    use haggle_protocol::fixtures::{key, live_listing, live_terms, offer, sign_now};

    use super::*;
    use crate::Durability;

    #[test]
    fn own_messages_are_queued_until_delivered_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
        {
            let store = Store::open(dir.path()).expect("open");
            let _ = store.ingest(listing.bytes(), Durability::Lazy).expect("ingest");
            assert!(store.ingest_own(&o).expect("ingest").is_new());
        }
        let store = Store::open(dir.path()).expect("reopen");
        // Only the owner's messages are queued: the outbox says whose the database is.
        assert_eq!(store.outbox_author().expect("read"), Some(buyer.public()));
        let pending = store.outbox_pending_for(&seller.public()).expect("read");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].state, DeliveryState::Queued);
        store.outbox_record(&o.id(), DeliveryState::Sent, None).expect("record");
        assert_eq!(store.outbox_pending().expect("read")[0].attempts, 1);
        store.outbox_record(&o.id(), DeliveryState::Delivered, None).expect("record");
        assert!(store.outbox_pending().expect("read").is_empty());
        // Seen half made (the state set, the pending key not yet dropped), a delivered message
        // is still not due again.
        store.db.insert(keys::outbox_pending(&seller.public(), &o.id()), &[]).expect("insert");
        assert!(store.outbox_pending().expect("read").is_empty());
        assert!(store.outbox_pending_for(&seller.public()).expect("read").is_empty());
        // A late failure report cannot undo the delivery, and a second delivery report changes
        // nothing (so nothing is announced twice).
        let late = store.outbox_record(&o.id(), DeliveryState::Failed, Some("late".into())).expect("record");
        assert_eq!(late, None);
        let again = store.outbox_record(&o.id(), DeliveryState::Delivered, None).expect("record");
        assert_eq!(again, None);
        assert_eq!(
            store.outbox_entry(&o.id()).expect("read").expect("entry").state,
            DeliveryState::Delivered
        );
        // From a review: a `sent` recorded after the answer (a separate task) leaves a refusal
        // for good as it is, as it leaves a delivery.
        let refused = sign_now(&buyer, offer(&listing, live_terms(1, 9_000)));
        assert!(store.ingest_own(&refused).expect("ingest").is_new());
        store.outbox_record(&refused.id(), DeliveryState::Failed, Some("blocked".into())).expect("record");
        assert_eq!(store.outbox_record(&refused.id(), DeliveryState::Sent, None).expect("record"), None);
        assert_eq!(
            store.outbox_entry(&refused.id()).expect("read").expect("entry").state,
            DeliveryState::Failed
        );
    }

    #[test]
    fn messages_from_the_network_are_not_queued() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let listing = sign_now(&key(1), Body::Listing(live_listing("Road bike")));
        let o = sign_now(&key(2), offer(&listing, live_terms(1, 10_000)));
        let _ = store.ingest(listing.bytes(), Durability::Lazy).expect("ingest");
        let _ = store.ingest(o.bytes(), Durability::Lazy).expect("ingest");
        assert!(store.outbox_pending().expect("read").is_empty());
        assert_eq!(store.outbox_author().expect("read"), None);
    }
}
