//! Mailboxes and receipts: sealed negotiation messages travelling through other nodes while the
//! recipient is away (see `haggle_protocol::mailbox`). Every node stores and syncs them, within
//! quotas per sender and per recipient, and drops a mailbox once its receipt arrives.

use haggle_protocol::{Body, Object, ObjectId, PublicKey, Timestamp, Verified};

use crate::derived::Changes;
use crate::error::StoreError;
use crate::ingest::{Outcome, RejectReason, Rejection};
use crate::keys;
use crate::store::{Durability, Store, decode_stored};

/// Mailbox objects kept per sender: a person rarely has more than a few conversations waiting;
/// this stops one key filling everyone's disks.
pub const MAX_MAIL_PER_SENDER: usize = 64;
/// Mailbox objects kept per recipient.
pub const MAX_MAIL_PER_RECIPIENT: usize = 256;
/// A mailbox refused for its recipient's full quota is not taken again for this long.
const FULL_REFUSAL: std::time::Duration = std::time::Duration::from_secs(3_600);
/// How long a receipt for a mailbox this node does not hold is refused before sync may bring it
/// again (see `Store::write_receipt`).
const UNKNOWN_MAILBOX_RETRY: std::time::Duration = std::time::Duration::from_secs(3_600);

impl Store {
    pub(crate) fn write_mailbox(
        &self,
        mailbox: &Object,
        carries: Option<ObjectId>,
        now: Timestamp,
    ) -> Result<Outcome, StoreError> {
        let id = mailbox.id();
        let Body::Mailbox(m) = mailbox.body() else { unreachable!("called for mailboxes") };
        let reject = |reason| Ok(Outcome::Rejected(Rejection { id: Some(id), reason }));
        if m.expires_at <= now {
            return reject(RejectReason::Expired);
        }
        if let Some(receipt) = self.db.get(keys::receipt(&id))? {
            // Already delivered: keep the receipt, not the mailbox.
            let current = keys::id_at_end(&receipt).ok_or(StoreError::Corrupt { what: "receipt" })?;
            return Ok(Outcome::Stale { id, current });
        }
        let sender = mailbox.author();
        if self.db.scan_prefix(keys::key(keys::MAIL_BY_SENDER, &[sender.as_bytes()])).count()
            >= MAX_MAIL_PER_SENDER
        {
            return reject(RejectReason::MailboxFull("sender"));
        }
        let mut batch = crate::writes::Batch::default();
        let mut set = Changes::default();
        if self.db.scan_prefix(keys::key(keys::MAIL_BY_RECIPIENT, &[m.to.as_bytes()])).count()
            >= MAX_MAIL_PER_RECIPIENT
        {
            // Full: a sender with at least two fewer mailboxes to this recipient than the one with
            // the most takes the place of that one's newest (see `mail_giving_way`).
            let Some(giving_way) = self.mail_giving_way(&m.to, &sender)? else {
                // Remembered for a while: sync and peers' pushes bring it again, and each look
                // reads the recipient's index (a place frees when the recipient takes its mail).
                self.refuse_until(&[id], m.expires_at.min(now.saturating_add(FULL_REFUSAL)))?;
                return reject(RejectReason::MailboxFull("recipient"));
            };
            remove_mailbox(&mut batch, &mut set, &giving_way);
            // Not fetched again by sync, nor taken again from gossip, while it could come back.
            let until = match giving_way.body() {
                Body::Mailbox(g) => g.expires_at,
                _ => now.saturating_add(haggle_protocol::MAILBOX_LIFETIME),
            };
            crate::sweep::refuse_in(&mut batch, &giving_way.id(), until);
            self.may_have_evicted.store(true, std::sync::atomic::Ordering::Release);
        }
        batch.insert(keys::object(&id), mailbox.bytes());
        set.insert(&mut batch, mailbox.created_at(), id, m.expires_at);
        batch.insert(keys::mail_expiry(m.expires_at, &id), &[]);
        batch.insert(keys::mail_by_sender(&sender, &id), &[]);
        // The sender beside the recipient's index entry: a full quota is judged by it without
        // reading the mailboxes (entries written before it have an empty value).
        batch.insert(keys::mail_by_recipient(&m.to, &id), sender.as_bytes().as_slice());
        if let Some(message) = carries {
            batch.insert(keys::mail_message(&id), message.as_bytes().as_slice());
            if let Some(mut entry) = self.outbox_entry(&message)? {
                entry.mailbox = Some(id);
                batch.insert(keys::outbox(&message), bincode_entry(&entry));
            }
        }
        self.apply(batch, set)?;
        Ok(Outcome::New { id, kind: mailbox.kind(), deal: None })
    }

    pub(crate) fn write_receipt(&self, receipt: &Object, now: Timestamp) -> Result<Outcome, StoreError> {
        let id = receipt.id();
        let Body::Receipt(r) = receipt.body() else { unreachable!("called for receipts") };
        if r.expires_at <= now {
            return Ok(Outcome::Rejected(Rejection { id: Some(id), reason: RejectReason::Expired }));
        }
        // Only the mailbox's recipient can acknowledge it, and only a node holding the mailbox
        // can check that: a receipt for a mailbox not held here is not taken (sync brings it
        // again once the mailbox is here), so a forged one can neither mark a message delivered
        // nor stop a mailbox that arrives later from being carried or opened.
        let Some(bytes) = self.db.get(keys::object(&r.mailbox))? else {
            // A mailbox that gave way here (a full quota) never comes back: its receipt is
            // nothing to wait for, and is remembered as known, or sync would fetch it from every
            // peer that holds it at every round.
            if self.is_evicted(&r.mailbox)? {
                self.refuse_until(&[id], r.expires_at)?;
                return Ok(Outcome::Duplicate { id });
            }
            // Most often the mailbox is gone everywhere (its receipt removed it on every node
            // that held both): refused for an hour, or every sync round would fetch the receipt
            // again from each peer, and each start log it as missing (from a trial). A mailbox
            // that does come within the hour is carried until sync brings the receipt again
            // after it; the sender's node, which made the mailbox, always holds it and takes the
            // receipt. The mark costs a write, as any refusal mark, and is swept when it lapses;
            // a receipt carries its proof of work and counts against its peer's budget.
            self.refuse_until(&[id], now.saturating_add(UNKNOWN_MAILBOX_RETRY).min(r.expires_at))?;
            return Ok(Outcome::Rejected(Rejection {
                id: Some(id),
                reason: RejectReason::UnknownMailbox(r.mailbox),
            }));
        };
        let mailbox = decode_stored(&bytes)?;
        match mailbox.body() {
            Body::Mailbox(m) if m.to == receipt.author() && mailbox.author() == r.to => {}
            _ => {
                return Ok(Outcome::Rejected(Rejection {
                    id: Some(id),
                    reason: RejectReason::NotTheRecipient(r.mailbox),
                }));
            }
        }
        let mut batch = crate::writes::Batch::default();
        let mut set = Changes::default();
        batch.insert(keys::object(&id), receipt.bytes());
        set.insert(&mut batch, receipt.created_at(), id, r.expires_at);
        batch.insert(keys::mail_expiry(r.expires_at, &id), &[]);
        batch.insert(keys::receipt(&r.mailbox), id.as_bytes().as_slice());
        remove_mailbox(&mut batch, &mut set, &mailbox);
        let mut news = false;
        if let Some(message) = self.db.get(keys::mail_message(&r.mailbox))? {
            let message = keys::id_at_end(&message).ok_or(StoreError::Corrupt { what: "mail link" })?;
            news = self.mark_delivered(&mut batch, &message)?;
        }
        self.apply(batch, set)?;
        if news {
            self.delivered_by_mail.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Outcome::New { id, kind: receipt.kind(), deal: None })
    }

    /// Stores the owner's mailbox carrying outbox message `carries` (flushed).
    pub fn ingest_own_mailbox(
        &self,
        mailbox: &Verified<Object>,
        carries: ObjectId,
    ) -> Result<Outcome, StoreError> {
        let outcome = {
            let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.contains(&mailbox.id())? {
                Outcome::Duplicate { id: mailbox.id() }
            } else {
                self.write_mailbox(mailbox, Some(carries), Timestamp::now())?
            }
        };
        self.flush()?;
        Ok(outcome)
    }

    /// When `recipient`'s mail is at its quota: the mailbox that gives way to one from `sender`,
    /// if any. A sender takes a place only from one that holds at least two more mailboxes to
    /// `recipient` than it does (so the two end no more than even, and do not trade places),
    /// and then that sender's newest (its first messages, which the later ones build on, stay).
    /// Never a mailbox the owner's own outbox sends, which is not counted either. So mail held
    /// is never pushed out by keys holding no more than it, as 256 fresh keys of one mailbox
    /// each would be: those refuse new mail as a full quota did before (see SECURITY.md), and
    /// a few keys filling the quota give way to everyone else. Reads the recipient's index (at
    /// most [`MAX_MAIL_PER_RECIPIENT`] entries), only when the quota is full.
    fn mail_giving_way(
        &self,
        recipient: &PublicKey,
        sender: &PublicKey,
    ) -> Result<Option<Object>, StoreError> {
        let mut by_sender = std::collections::HashMap::<PublicKey, Vec<ObjectId>>::new();
        for entry in self.db.scan_prefix(keys::key(keys::MAIL_BY_RECIPIENT, &[recipient.as_bytes()])) {
            let (k, v) = entry?;
            let id = keys::id_at_end(&k).ok_or(StoreError::Corrupt { what: "mail key" })?;
            if self.db.contains_key(keys::mail_message(&id))? {
                continue;
            }
            let author = match <[u8; 32]>::try_from(v.as_ref()) {
                Ok(bytes) => PublicKey::from_bytes(bytes),
                // Written before the sender was kept beside it.
                Err(_) => match self.db.get(keys::object(&id))? {
                    Some(bytes) => decode_stored(&bytes)?.author(),
                    None => continue,
                },
            };
            by_sender.entry(author).or_default().push(id);
        }
        let theirs = by_sender.get(sender).map_or(0, Vec::len);
        // The sender with the most (of several as many, the greatest key: a fixed choice, so
        // every node holding the same mail makes the same).
        let Some((_, ids)) =
            by_sender.iter().filter(|(key, _)| *key != sender).max_by_key(|(key, ids)| (ids.len(), **key))
        else {
            return Ok(None);
        };
        if ids.len() < theirs + 2 {
            return Ok(None);
        }
        let mut newest: Option<Object> = None;
        for id in ids {
            let Some(bytes) = self.db.get(keys::object(id))? else { continue };
            let mailbox = decode_stored(&bytes)?;
            let newer = |o: &Object| (mailbox.created_at(), mailbox.id()) > (o.created_at(), o.id());
            if newest.as_ref().is_none_or(newer) {
                newest = Some(mailbox);
            }
        }
        Ok(newest)
    }

    /// Mailbox objects addressed to `recipient` that have no receipt yet.
    pub fn mail_for(&self, recipient: &PublicKey) -> Result<Vec<Object>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::MAIL_BY_RECIPIENT, &[recipient.as_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "mail key" })?;
            if let Some(object) = self.get(&id)? {
                out.push(object);
            }
        }
        Ok(out)
    }

    /// Whether a receipt for `mailbox` is held.
    pub fn has_receipt(&self, mailbox: &ObjectId) -> Result<bool, StoreError> {
        Ok(self.db.contains_key(keys::receipt(mailbox))?)
    }

    /// The owner's outbox message a mailbox carries.
    pub fn mailbox_message(&self, mailbox: &ObjectId) -> Result<Option<ObjectId>, StoreError> {
        Ok(self.db.get(keys::mail_message(mailbox))?.and_then(|v| keys::id_at_end(&v)))
    }

    /// Removes mailboxes and receipts that expired before `now`. Returns how many went.
    pub(crate) fn sweep_mail(&self, now: Timestamp) -> Result<usize, StoreError> {
        let end = keys::key(keys::MAIL_EXPIRY, &[&now.to_be_bytes()]);
        let expired: Vec<sled::IVec> =
            self.db.range(vec![keys::MAIL_EXPIRY]..end).keys().collect::<Result<_, _>>()?;
        for k in &expired {
            let id = keys::id_at_end(k).ok_or(StoreError::Corrupt { what: "mail expiry key" })?;
            let mut batch = crate::writes::Batch::default();
            let mut set = Changes::default();
            let mut feedback_swept = false;
            let mut offers_of = None;
            batch.remove(k.clone());
            if let Some(bytes) = self.db.get(keys::object(&id))? {
                let object = decode_stored(&bytes)?;
                match object.body() {
                    Body::Mailbox(_) => remove_mailbox(&mut batch, &mut set, &object),
                    Body::Receipt(r) => {
                        batch.remove(keys::object(&id));
                        set.remove(&mut batch, object.created_at(), id);
                        batch.remove(keys::receipt(&r.mailbox));
                    }
                    Body::Feedback(_) => {
                        Store::sweep_feedback(&mut batch, &mut set, &object);
                        feedback_swept = true;
                    }
                    Body::Bid(_) | Body::Pledge(_) => {
                        offers_of = self.sweep_bid(&mut batch, &mut set, &object)?;
                        // A lapsed bid may have been the high one: the index reads the auction
                        // again (from the database: the cache is let go first, below).
                        if let (Body::Bid(_), Some(key)) = (object.body(), &offers_of) {
                            self.mark_for_index(&mut batch, key)?;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(key) = offers_of {
                self.forget_offers(Some(&key));
            }
            self.apply(batch, set)?;
            if feedback_swept {
                self.feedback_changed();
            }
            if let Some(key) = offers_of {
                self.forget_offers(Some(&key));
            }
        }
        Ok(expired.len())
    }

    /// Stores the owner's receipt (flushed).
    pub fn ingest_own_receipt(&self, receipt: &Verified<Object>) -> Result<Outcome, StoreError> {
        self.ingest_verified(receipt, Durability::Flush)
    }
}

fn remove_mailbox(batch: &mut crate::writes::Batch, set: &mut Changes, mailbox: &Object) {
    let id = mailbox.id();
    let Body::Mailbox(m) = mailbox.body() else { return };
    batch.remove(keys::object(&id));
    set.remove(batch, mailbox.created_at(), id);
    batch.remove(keys::mail_expiry(m.expires_at, &id));
    batch.remove(keys::mail_by_sender(&mailbox.author(), &id));
    batch.remove(keys::mail_by_recipient(&m.to, &id));
}

fn bincode_entry(entry: &crate::outbox::OutboxEntry) -> Vec<u8> {
    bincode::serde::encode_to_vec(entry, bincode::config::standard()).expect("encoding cannot fail")
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{key, live_listing, live_terms, offer, sign_now};
    use haggle_protocol::{MAILBOX_LIFETIME, Mailbox, Receipt, seal};

    use super::*;
    use crate::DeliveryState;

    #[test]
    fn a_receipt_delivers_the_message_and_drops_the_mailbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Bike")));
        let _ = store.ingest(listing.bytes(), Durability::Lazy).expect("ingest");
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 5)));
        assert!(store.ingest_own(&o).expect("ingest").is_new());
        let now = Timestamp::now();
        let sealed = seal(&seller.public(), o.bytes()).expect("sealed");
        let mailbox = sign_now(
            &buyer,
            Body::Mailbox(Mailbox {
                to: seller.public(),
                sealed,
                expires_at: now.saturating_add(MAILBOX_LIFETIME),
            }),
        );
        assert!(store.ingest_own_mailbox(&mailbox, o.id()).expect("ingest").is_new());
        assert_eq!(store.outbox_entry(&o.id()).expect("read").expect("entry").mailbox, Some(mailbox.id()));
        assert_eq!(store.mail_for(&seller.public()).expect("read").len(), 1);
        assert!(store.sync_items(now).expect("items").iter().any(|(_, id)| *id == mailbox.id()));

        let receipt = sign_now(
            &seller,
            Body::Receipt(Receipt {
                mailbox: mailbox.id(),
                to: buyer.public(),
                expires_at: now.saturating_add(MAILBOX_LIFETIME),
            }),
        );
        assert!(store.ingest(receipt.bytes(), Durability::Lazy).expect("ingest").is_new());
        assert_eq!(
            store.outbox_entry(&o.id()).expect("read").expect("entry").state,
            DeliveryState::Delivered
        );
        assert!(store.mail_for(&seller.public()).expect("read").is_empty());
        assert!(!store.contains(&mailbox.id()).expect("read"));
        // The mailbox arriving again after its receipt is not kept.
        assert!(matches!(
            store.ingest(mailbox.bytes(), Durability::Lazy).expect("ingest"),
            Outcome::Stale { .. }
        ));
        assert!(store.has_receipt(&mailbox.id()).expect("read"));
    }

    /// Attack: anyone could sign a receipt for any mailbox, marking the sender's message
    /// delivered and stopping the mailbox from being carried or opened: offline delivery censored.
    #[test]
    fn only_the_recipient_can_receipt_a_mailbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let (seller, buyer, rogue) = (key(1), key(2), key(3));
        let listing = sign_now(&seller, Body::Listing(live_listing("Bike")));
        let _ = store.ingest(listing.bytes(), Durability::Lazy).expect("ingest");
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 5)));
        assert!(store.ingest_own(&o).expect("ingest").is_new());
        let now = Timestamp::now();
        let expires_at = now.saturating_add(MAILBOX_LIFETIME);
        let sealed = seal(&seller.public(), o.bytes()).expect("sealed");
        let mailbox = sign_now(&buyer, Body::Mailbox(Mailbox { to: seller.public(), sealed, expires_at }));
        assert!(store.ingest_own_mailbox(&mailbox, o.id()).expect("ingest").is_new());

        let forged = sign_now(
            &rogue,
            Body::Receipt(Receipt { mailbox: mailbox.id(), to: buyer.public(), expires_at }),
        );
        match store.ingest(forged.bytes(), Durability::Lazy).expect("ingest") {
            Outcome::Rejected(r) => assert!(
                matches!(r.reason, RejectReason::NotTheRecipient(_)) && r.reason.is_peer_fault(),
                "{}",
                r.reason
            ),
            other => panic!("a forged receipt was taken: {other:?}"),
        }
        assert_eq!(store.outbox_entry(&o.id()).expect("read").expect("entry").state, DeliveryState::Queued);
        assert!(!store.has_receipt(&mailbox.id()).expect("read"));
        assert_eq!(store.mail_for(&seller.public()).expect("read").len(), 1, "still carried");

        // A receipt for a mailbox this node does not hold cannot be checked: not taken, and not
        // the sender's fault (the mailbox may simply not have arrived yet).
        let elsewhere = sign_now(
            &seller,
            Body::Receipt(Receipt { mailbox: listing.id(), to: buyer.public(), expires_at }),
        );
        let unknown = ObjectId::from_bytes([7; 32]);
        let unheld =
            sign_now(&seller, Body::Receipt(Receipt { mailbox: unknown, to: buyer.public(), expires_at }));
        for receipt in [&unheld] {
            match store.ingest(receipt.bytes(), Durability::Lazy).expect("ingest") {
                Outcome::Rejected(r) => assert!(!r.reason.is_peer_fault(), "{}", r.reason),
                other => panic!("taken: {other:?}"),
            }
        }
        // Refused for a while, as known: sync does not fetch it again every round (a trial's
        // node logged it missing at every start).
        assert!(store.is_evicted(&unheld.id()).expect("read"));
        // A "receipt" naming something that is not a mailbox is the signer's fault.
        match store.ingest(elsewhere.bytes(), Durability::Lazy).expect("ingest") {
            Outcome::Rejected(r) => assert!(r.reason.is_peer_fault(), "{}", r.reason),
            other => panic!("taken: {other:?}"),
        }
    }

    /// A mailbox from `from` to `to`, dated `at`.
    fn mailbox(from: &haggle_protocol::SecretKey, to: &PublicKey, at: Timestamp, n: u32) -> Verified<Object> {
        let sealed = seal(to, &n.to_be_bytes()).expect("sealed");
        let body =
            Body::Mailbox(Mailbox { to: *to, sealed, expires_at: at.saturating_add(MAILBOX_LIFETIME) });
        haggle_protocol::fixtures::sign_at(from, body, at)
    }

    /// From SECURITY.md's open list: four fresh keys filled a recipient's 256 mailboxes and
    /// honest mail to it was refused for up to 14 days. A sender with at least two fewer
    /// mailboxes there than the one with the most now takes the place of that one's newest,
    /// which is not fetched again; the owner's own mail neither counts nor gives way; and keys
    /// of one mailbox each push nothing out.
    #[test]
    fn a_full_recipient_quota_gives_way_to_a_sender_with_fewer() {
        use haggle_protocol::fixtures::author;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let to = key(1).public();
        let start = Timestamp::now().saturating_sub(std::time::Duration::from_secs(3_600));
        let at = |n: u32| start.saturating_add(std::time::Duration::from_millis(u64::from(n)));
        // The owner's own 64 (its outbox sends them), then three keys of 64 each.
        let own =
            (0..MAX_MAIL_PER_SENDER as u32).map(|n| mailbox(&author(999), &to, at(n), n)).collect::<Vec<_>>();
        for (n, m) in own.iter().enumerate() {
            let carried = ObjectId::from_bytes([n as u8; 32]);
            assert!(store.ingest_own_mailbox(m, carried).expect("ingest").is_new());
        }
        let fill = (0..3 * MAX_MAIL_PER_SENDER as u32)
            .map(|n| mailbox(&author(1_000 + n % 3), &to, at(100 + n), n))
            .collect::<Vec<_>>();
        for m in &fill {
            assert!(store.ingest(m.bytes(), Durability::Lazy).expect("ingest").is_new());
        }
        let held = |store: &Store| store.mail_for(&to).expect("read").len();
        assert_eq!(held(&store), MAX_MAIL_PER_RECIPIENT);

        // An honest sender with none: the newest mailbox of the greatest of the three keys gives
        // way, and is not taken again (sync would bring it back, and push out another).
        let honest = mailbox(&author(7), &to, at(10_000), 1);
        assert!(store.ingest(honest.bytes(), Durability::Lazy).expect("ingest").is_new());
        assert_eq!(held(&store), MAX_MAIL_PER_RECIPIENT);
        let greatest = (1_000..1_003).map(|n| author(n).public()).max().expect("three keys");
        let newest = fill.iter().rfind(|m| m.author() == greatest).expect("its mail");
        assert!(
            !store.contains(&newest.id()).expect("read") && store.is_evicted(&newest.id()).expect("read")
        );
        let again = store.ingest(newest.bytes(), Durability::Lazy).expect("ingest");
        assert!(!again.is_new(), "{again:?}");
        assert!(!store.sync_items(Timestamp::now()).expect("items").iter().any(|(_, id)| *id == newest.id()));
        assert!(own.iter().all(|m| store.contains(&m.id()).expect("read")), "the owner's own mail stays");
        let receipt = haggle_protocol::fixtures::sign_at(
            &key(1),
            Body::Receipt(Receipt {
                mailbox: newest.id(),
                to: greatest,
                expires_at: at(20_000).saturating_add(MAILBOX_LIFETIME),
            }),
            at(20_000),
        );
        assert!(!store.ingest(receipt.bytes(), Durability::Lazy).expect("ingest").is_new());
        assert!(store.is_evicted(&receipt.id()).expect("read"), "its receipt is not fetched again");

        // 256 keys with one mailbox each: a new key pushes none of them out.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let ones = (0..MAX_MAIL_PER_RECIPIENT as u32)
            .map(|n| mailbox(&author(2_000 + n), &to, at(n), n))
            .collect::<Vec<_>>();
        for m in &ones {
            assert!(store.ingest(m.bytes(), Durability::Lazy).expect("ingest").is_new());
        }
        match store.ingest(honest.bytes(), Durability::Lazy).expect("ingest") {
            Outcome::Rejected(r) => assert!(matches!(r.reason, RejectReason::MailboxFull("recipient"))),
            other => panic!("mail held was pushed out by a key holding no more: {other:?}"),
        }
        assert!(ones.iter().all(|m| store.contains(&m.id()).expect("read")));
        // From a review: the refused one is remembered for a while (sync brings it again and
        // again), and so is a receipt for a mailbox that gave way.
        assert!(store.is_evicted(&honest.id()).expect("read"), "not fetched again for now");
        assert!(!store.ingest(honest.bytes(), Durability::Lazy).expect("ingest").is_new());
    }

    #[test]
    fn mailboxes_are_bounded_per_sender() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let now = Timestamp::now();
        let mut last = None;
        for i in 0..=MAX_MAIL_PER_SENDER {
            let sealed = seal(&key(1).public(), &(i as u32).to_be_bytes()).expect("sealed");
            let m = sign_now(
                &key(3),
                Body::Mailbox(Mailbox {
                    to: key(1).public(),
                    sealed,
                    expires_at: now.saturating_add(MAILBOX_LIFETIME),
                }),
            );
            last = Some(store.ingest(m.bytes(), Durability::Lazy).expect("ingest"));
        }
        match last.expect("ran") {
            Outcome::Rejected(r) => {
                assert!(matches!(r.reason, RejectReason::MailboxFull("sender")) && !r.reason.is_peer_fault())
            }
            other => panic!("over quota but {other:?}"),
        }
    }
}
