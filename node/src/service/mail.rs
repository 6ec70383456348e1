//! Offline delivery: sealing a queued message into a mailbox object that other nodes carry, and
//! opening the mail addressed to this node (its contents go through the one inbound path, as if
//! they had been delivered directly).

use haggle_protocol::{Body, MAILBOX_LIFETIME, Mailbox, Object, Receipt, Timestamp, seal};
use haggle_storage::{OutboxEntry, Outcome};

use super::inbound::{Inbound, Received, Via};
use super::{Service, ServiceError};

impl Service {
    /// Seals a queued message into a mailbox object for delivery through other nodes, unless it
    /// already has one. Returns the mailbox's bytes to gossip.
    pub(super) fn mail_out(&self, entry: &OutboxEntry) -> Result<Option<Vec<u8>>, ServiceError> {
        if entry.mailbox.is_some() {
            return Ok(None);
        }
        // One at a time, and the entry read again under the lock: a burst of messages starts an
        // outbox pass per message, and each sealed every message not sealed when it read the
        // outbox (a trial's 10 quick messages made 48 sealed copies, and the sender's quota of
        // 64 on carrying nodes then refused the rest).
        let _sealing = self.sealing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.store.outbox_entry(&entry.id)?.is_none_or(|e| e.mailbox.is_some()) {
            return Ok(None);
        }
        let Some(message) = self.store.get(&entry.id)? else { return Ok(None) };
        let sealed = seal(&entry.to, message.bytes())?;
        let now = Timestamp::now();
        // An offer's copy lapses with its terms: carried past them, it would only open a dead
        // thread when its party comes back (the outbox stops sending it then too).
        let mut expires_at = now.saturating_add(MAILBOX_LIFETIME);
        if let Body::Offer(o) = message.body()
            && o.terms.expires_at > now
        {
            expires_at = expires_at.min(o.terms.expires_at);
        }
        let mailbox = self.sign(Body::Mailbox(Mailbox { to: entry.to, sealed, expires_at }), now)?;
        match self.store.ingest_own_mailbox(&mailbox, entry.id)? {
            Outcome::New { .. } => Ok(Some(mailbox.bytes().to_vec())),
            _ => Ok(None),
        }
    }

    /// Opens every mailbox addressed to the owner that has no receipt yet: its message goes
    /// through [`Service::receive`]'s path (`Via::Mail`), and a receipt is signed and queued for
    /// gossip so the sender's node and the carriers stop. Mail whose message cannot be stored yet
    /// (it refers to something not here yet) stays for the next try.
    pub fn open_mail(&self) -> Result<Inbound, ServiceError> {
        let me = self.me();
        let mut out = Inbound::default();
        let mail = self.store.mail_for(&me)?;
        // Mail that cannot open with the owner's key, or whose content is not a message of its
        // sender to the owner, never will: it is tried once, not at every pass (each try is a
        // key exchange, a decryption and a signature check, for up to 256 mailboxes to a key on
        // a node). Remembered only while stored, so the set is bounded by the mail held.
        let held: std::collections::HashSet<_> = mail.iter().map(Object::id).collect();
        let mut unopenable = self.unopenable.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        unopenable.retain(|id| held.contains(id));
        // Opened first, then taken in the order their messages were signed: the store keeps
        // mailboxes by id, and a watch told a conversation's messages in that order, scrambled
        // (from a trial: 1, 4, 3, 2).
        let mut opened = Vec::new();
        for mailbox in mail {
            if unopenable.contains(&mailbox.id())
                || self.store.has_receipt(&mailbox.id())?
                || self.store.is_evicted(&mailbox.id())?
            {
                continue;
            }
            let Body::Mailbox(m) = mailbox.body() else { continue };
            let Ok(plain) = self.key.open_sealed(&m.sealed) else {
                tracing::debug!(mailbox = %mailbox.id().fmt_short(), "mail that does not open with this key");
                unopenable.insert(mailbox.id());
                continue;
            };
            match Object::decode_verify(&plain, Timestamp::now()) {
                // Only the message's own author may carry it in a mailbox, and only to its
                // recipient; anything else is left unacknowledged, so it does not count as
                // delivered on the sender's node.
                Ok(inner) if inner.author() == mailbox.author() && inner.body().recipient() == Some(me) => {
                    opened.push((mailbox.id(), mailbox.author(), m.expires_at, inner));
                }
                _ => {
                    tracing::debug!(mailbox = %mailbox.id().fmt_short(), "mail whose content is not a message from its sender");
                    unopenable.insert(mailbox.id());
                }
            }
        }
        // Within one millisecond, what opens a thread before what answers it or talks in it.
        opened.sort_by_key(|(.., inner)| (inner.created_at(), inner.body().opening().is_none(), inner.id()));
        for (mailbox, sender, lapses, inner) in opened {
            self.receive_verified(&inner, Via::Mail, &mut out);
            match out.received.last() {
                // Never taken, however often opened (a second Withdraw, an offer from a key the
                // owner blocked): not acknowledged (it was not delivered), and not opened again,
                // after a restart or an unblock either (remembered on disk until it lapses: an
                // offer refused for good must not open a thread later).
                Some(Received::Refused { peer_fault: false, reason }) if reason.is_final() => {
                    unopenable.insert(mailbox);
                    self.store.refuse_until(&[mailbox], lapses)?;
                    continue;
                }
                Some(Received::Refused { peer_fault: false, .. } | Received::Failed) => continue,
                Some(Received::Refused { reason, .. }) => {
                    tracing::debug!(%reason, "mail carrying an invalid message; acknowledged so it stops travelling");
                }
                _ => {}
            }
            let now = Timestamp::now();
            let expires_at = lapses.min(now.saturating_add(MAILBOX_LIFETIME));
            if expires_at <= now {
                continue;
            }
            let receipt = self.sign(Body::Receipt(Receipt { mailbox, to: sender, expires_at }), now)?;
            let _ = self.store.ingest_own_receipt(&receipt)?;
            out.then.publish.push(receipt.bytes().to_vec());
        }
        Ok(out)
    }
}
