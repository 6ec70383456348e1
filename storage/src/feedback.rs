//! Feedback: public ratings of deals (see `haggle_protocol::feedback`). Every node stores and
//! syncs them like listings, within a quota per author, keeps one per author and deal (the
//! smaller id, so nodes converge), and indexes them by the party rated: the edges the
//! reputation graph is built from ([`crate::reputation`]).

use haggle_protocol::{Body, IdPrefix, Object, ObjectId, PublicKey, Rating, Timestamp};

use crate::derived::Changes;
use crate::error::StoreError;
use crate::ingest::{Outcome, RejectReason, rejected};
use crate::keys;
use crate::reputation::Edge;
use crate::store::{Store, decode_stored};

/// Feedback kept per author: one per deal, so a busy shop's five years (a feedback's life) at
/// almost three deals a day; it bounds what one key can make every node store (about 6 MB).
pub const MAX_FEEDBACK_PER_AUTHOR: usize = 5_000;

/// The value of a `FEEDBACK_ABOUT` record: rating, made_at, the feedback's created_at, its id.
const EDGE_VALUE_LEN: usize = 1 + 8 + 8 + 32;

/// The same without the feedback's created_at, as the first builds wrote it.
const LEGACY_EDGE_VALUE_LEN: usize = 1 + 8 + 32;

impl Store {
    pub(crate) fn write_feedback(&self, object: &Object, now: Timestamp) -> Result<Outcome, StoreError> {
        let id = object.id();
        let Body::Feedback(f) = object.body() else { unreachable!("called for feedback") };
        let expires = object.expires_at().expect("feedback expires");
        if expires <= now {
            return Ok(rejected(Some(id), RejectReason::Expired));
        }
        // Verified on the way in (signatures and linkage), so the facts can be read directly.
        let proof = f.proof_unverified().ok_or(StoreError::Corrupt { what: "verified feedback" })?;
        let author = object.author();
        let subject = proof.other(&author).ok_or(StoreError::Corrupt { what: "verified feedback" })?;
        let mut batch = crate::writes::Batch::default();
        let mut set = Changes::default();
        if let Some(held) = self.db.get(keys::feedback(&proof.deal, &author))? {
            let held = keys::id_at_end(&held).ok_or(StoreError::Corrupt { what: "feedback record" })?;
            // One per author and deal: the smaller id is kept, on every node alike.
            if held <= id {
                return Ok(rejected(Some(id), RejectReason::FeedbackExists(held)));
            }
            if let Some(bytes) = self.db.get(keys::object(&held))? {
                remove_feedback(&mut batch, &mut set, &decode_stored(&bytes)?);
            }
        } else if self.db.scan_prefix(keys::key(keys::FEEDBACK_BY, &[author.as_bytes()])).count()
            >= MAX_FEEDBACK_PER_AUTHOR
        {
            return Ok(rejected(Some(id), RejectReason::FeedbackQuota { max: MAX_FEEDBACK_PER_AUTHOR }));
        }
        batch.insert(keys::object(&id), object.bytes());
        set.insert(&mut batch, object.created_at(), id, expires);
        batch.insert(keys::mail_expiry(expires, &id), &[]);
        batch.insert(keys::feedback(&proof.deal, &author), id.as_bytes().as_slice());
        batch.insert(keys::feedback_by(&author, &id), &[]);
        let mut value = Vec::with_capacity(EDGE_VALUE_LEN);
        value.push(rating_byte(f.rating));
        value.extend_from_slice(&proof.made_at.to_be_bytes());
        value.extend_from_slice(&object.created_at().to_be_bytes());
        value.extend_from_slice(id.as_bytes());
        batch.insert(keys::feedback_about(&subject, &author, &proof.deal), value);
        self.apply(batch, set)?;
        self.feedback_changed();
        Ok(Outcome::New { id, kind: object.kind(), deal: None })
    }

    /// Removes an expired feedback's records into `batch` (the sweep of mail and feedback calls
    /// this, then [`Store::feedback_changed`] once the batch is applied).
    pub(crate) fn sweep_feedback(batch: &mut crate::writes::Batch, set: &mut Changes, object: &Object) {
        remove_feedback(batch, set, object);
    }

    /// Marks the feedback held as changed, after the change is applied (so a graph built
    /// meanwhile is never kept under the new generation).
    pub(crate) fn feedback_changed(&self) {
        self.feedback_generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Whether a feedback from the network is already outdone here: this node holds the same
    /// author's rating of the same deal with a smaller id (or that one). Read before its four
    /// signatures are checked, so a copy that would be refused costs no verification.
    pub fn feedback_outdone(&self, object: &Object) -> Result<bool, StoreError> {
        let Body::Feedback(f) = object.body() else { return Ok(false) };
        let Ok(accept) = Object::decode_unverified(&f.accept) else { return Ok(false) };
        let Some(held) = self.db.get(keys::feedback(&accept.id(), &object.author()))? else {
            return Ok(false);
        };
        Ok(keys::id_at_end(&held).is_some_and(|held| held <= object.id()))
    }

    /// The feedback `author` left on `deal`, if this node holds it.
    pub fn feedback_on(&self, deal: &ObjectId, author: &PublicKey) -> Result<Option<Object>, StoreError> {
        let Some(id) = self.db.get(keys::feedback(deal, author))? else { return Ok(None) };
        let id = keys::id_at_end(&id).ok_or(StoreError::Corrupt { what: "feedback record" })?;
        self.get(&id)
    }

    /// The deals whose id starts with `prefix` that this node holds ratings of, each with its
    /// ratings' ids (one per party that rated), deal by deal in id order; at most nine deals,
    /// enough to say a prefix is ambiguous. A third node holds a deal's ratings, not the deal.
    pub fn rated_deals(&self, prefix: &IdPrefix) -> Result<Vec<(ObjectId, Vec<ObjectId>)>, StoreError> {
        let corrupt = || StoreError::Corrupt { what: "feedback record" };
        let mut out: Vec<(ObjectId, Vec<ObjectId>)> = Vec::new();
        for entry in self.db.scan_prefix(keys::key(keys::FEEDBACK, &[&prefix.leading_bytes()])) {
            let (k, v) = entry?;
            let deal: [u8; 32] = k.get(1..33).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
            let deal = ObjectId::from_bytes(deal);
            if !prefix.matches(&deal) {
                continue;
            }
            let feedback = keys::id_at_end(&v).ok_or_else(corrupt)?;
            if let Some((last, ids)) = out.last_mut()
                && *last == deal
            {
                ids.push(feedback);
            } else if out.len() > 8 {
                break;
            } else {
                out.push((deal, vec![feedback]));
            }
        }
        Ok(out)
    }

    /// Every feedback about `subject`, as edges.
    pub fn feedback_about(&self, subject: &PublicKey) -> Result<Vec<Edge>, StoreError> {
        self.edges(keys::key(keys::FEEDBACK_ABOUT, &[subject.as_bytes()]))
    }

    /// Whether this node holds a rating of a deal between `a` and `b`, by either: two prefix
    /// reads of the index by subject and author.
    pub fn have_rated_deal(&self, a: &PublicKey, b: &PublicKey) -> Result<bool, StoreError> {
        for (subject, author) in [(a, b), (b, a)] {
            let prefix = keys::key(keys::FEEDBACK_ABOUT, &[subject.as_bytes(), author.as_bytes()]);
            if self.db.scan_prefix(prefix).next().transpose()?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every feedback this node holds, as edges of the reputation graph.
    pub fn feedback_edges(&self) -> Result<Vec<Edge>, StoreError> {
        self.edges(vec![keys::FEEDBACK_ABOUT])
    }

    /// A number that changes whenever the feedback held changes.
    pub fn feedback_generation(&self) -> u64 {
        self.feedback_generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn edges(&self, prefix: Vec<u8>) -> Result<Vec<Edge>, StoreError> {
        let corrupt = || StoreError::Corrupt { what: "feedback edge" };
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(prefix) {
            let (k, v) = entry?;
            let key: [u8; 96] = k.get(1..97).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
            // Records written before the rating time was kept (41 bytes) read as rated when
            // the deal was made.
            let (rated_at, id_at) = match v.len() {
                EDGE_VALUE_LEN => (&v[9..17], 17),
                LEGACY_EDGE_VALUE_LEN => (&v[1..9], 9),
                _ => return Err(corrupt()),
            };
            let part = |i: usize| -> [u8; 32] { key[i * 32..(i + 1) * 32].try_into().expect("32 bytes") };
            let millis =
                |b: &[u8]| Timestamp::from_millis(u64::from_be_bytes(b.try_into().expect("8 bytes")));
            out.push(Edge {
                subject: PublicKey::from_bytes(part(0)),
                author: PublicKey::from_bytes(part(1)),
                deal: ObjectId::from_bytes(part(2)),
                rating: rating_of(v[0]).ok_or_else(corrupt)?,
                made_at: millis(&v[1..9]),
                rated_at: millis(rated_at),
                feedback: ObjectId::from_bytes(v[id_at..id_at + 32].try_into().expect("32 bytes")),
            });
        }
        Ok(out)
    }
}

fn remove_feedback(batch: &mut crate::writes::Batch, set: &mut Changes, object: &Object) {
    let id = object.id();
    let Body::Feedback(f) = object.body() else { return };
    let Some(proof) = f.proof_unverified() else { return };
    let author = object.author();
    batch.remove(keys::object(&id));
    set.remove(batch, object.created_at(), id);
    if let Some(expires) = object.expires_at() {
        batch.remove(keys::mail_expiry(expires, &id));
    }
    batch.remove(keys::feedback(&proof.deal, &author));
    batch.remove(keys::feedback_by(&author, &id));
    if let Some(subject) = proof.other(&author) {
        batch.remove(keys::feedback_about(&subject, &author, &proof.deal));
    }
}

fn rating_byte(rating: Rating) -> u8 {
    match rating {
        Rating::Positive => 1,
        Rating::Neutral => 0,
        Rating::Negative => 2,
    }
}

fn rating_of(byte: u8) -> Option<Rating> {
    match byte {
        1 => Some(Rating::Positive),
        0 => Some(Rating::Neutral),
        2 => Some(Rating::Negative),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{self, key};
    use haggle_protocol::{SecretKey, Verified};

    use super::*;
    use crate::Durability;
    use crate::testing::store;

    fn deal(seller: &SecretKey, buyer: &SecretKey) -> [Verified<Object>; 3] {
        fixtures::deal_proof(seller, buyer, "Lamp")
    }

    fn rate(by: &SecretKey, d: &[Verified<Object>; 3], rating: Rating, text: &str) -> Verified<Object> {
        fixtures::feedback(by, d, rating, text)
    }

    #[test]
    fn feedback_is_stored_synced_and_indexed_by_the_party_rated() {
        let (_dir, store) = store();
        let (seller, buyer) = (key(1), key(2));
        let d = deal(&seller, &buyer);
        let f = rate(&buyer, &d, Rating::Positive, "as described");
        assert!(store.ingest(f.bytes(), Durability::Lazy).expect("ok").is_new());
        let edges = store.feedback_about(&seller.public()).expect("ok");
        assert_eq!(edges.len(), 1);
        assert_eq!(
            (edges[0].author, edges[0].rating, edges[0].deal),
            (buyer.public(), Rating::Positive, d[1].id())
        );
        assert_eq!(edges[0].made_at, d[2].created_at());
        assert!(store.sync_items(Timestamp::now()).expect("ok").iter().any(|(_, id)| *id == f.id()));
        assert_eq!(store.feedback_on(&d[1].id(), &buyer.public()).expect("ok").expect("ok").id(), f.id());
        // The other side rates too: two feedbacks per deal, one per party.
        assert!(
            store
                .ingest(rate(&seller, &d, Rating::Neutral, "").bytes(), Durability::Lazy)
                .expect("ok")
                .is_new()
        );
        assert_eq!(store.feedback_edges().expect("ok").len(), 2);
        // Both ratings are found by the deal's id, or a prefix of it.
        let deal = d[1].id();
        for given in [deal.to_hex(), deal.to_hex()[..7].to_owned()] {
            let rated = store.rated_deals(&given.parse().expect("a prefix")).expect("ok");
            assert_eq!(rated.len(), 1, "{given}");
            assert_eq!(rated[0].0, deal);
            assert_eq!(rated[0].1.len(), 2);
            assert!(rated[0].1.contains(&f.id()));
        }
        let other = if deal.to_hex().starts_with('0') { "1" } else { "0" };
        assert!(store.rated_deals(&other.repeat(8).parse().expect("a prefix")).expect("ok").is_empty());
    }

    #[test]
    fn one_feedback_per_author_and_deal_and_every_node_keeps_the_same_one() {
        let (seller, buyer) = (key(1), key(2));
        let d = deal(&seller, &buyer);
        let mut two = [rate(&buyer, &d, Rating::Positive, "a"), rate(&buyer, &d, Rating::Negative, "b")];
        two.sort_by_key(|f| f.id());
        let [small, large] = two;
        for order in [[&small, &large], [&large, &small]] {
            let (_dir, store) = store();
            assert!(store.ingest(order[0].bytes(), Durability::Lazy).expect("ok").is_new());
            let second = store.ingest(order[1].bytes(), Durability::Lazy).expect("ok");
            let edges = store.feedback_about(&seller.public()).expect("ok");
            assert_eq!(edges.len(), 1);
            assert_eq!(edges[0].feedback, small.id(), "the smaller id is kept whatever came first");
            assert!(store.contains(&small.id()).expect("ok") && !store.contains(&large.id()).expect("ok"));
            let items = store.sync_items(Timestamp::now()).expect("ok");
            assert!(!items.iter().any(|(_, id)| *id == large.id()));
            if order[1].id() == large.id() {
                let Outcome::Rejected(r) = second else { panic!("{second:?}") };
                assert!(matches!(r.reason, RejectReason::FeedbackExists(id) if id == small.id()));
                assert!(!r.reason.is_peer_fault(), "a forwarder may not have known the first");
            }
        }
    }

    #[test]
    fn an_authors_feedback_is_bounded() {
        let (_dir, store) = store();
        let author = key(1);
        let mut batch = crate::writes::Batch::default();
        for n in 0..MAX_FEEDBACK_PER_AUTHOR {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&n.to_be_bytes());
            let id = ObjectId::from_bytes(id);
            batch.insert(keys::feedback_by(&author.public(), &id), &[]);
        }
        store.apply_writes(batch).expect("ok");
        let d = deal(&author, &key(2));
        let out =
            store.ingest(rate(&author, &d, Rating::Positive, "").bytes(), Durability::Lazy).expect("ok");
        let Outcome::Rejected(r) = out else { panic!("{out:?}") };
        assert!(matches!(r.reason, RejectReason::FeedbackQuota { .. }));
    }

    #[test]
    fn expired_feedback_is_swept_with_its_records() {
        let (_dir, store) = store();
        let d = deal(&key(1), &key(2));
        let f = rate(&key(2), &d, Rating::Positive, "");
        assert!(store.ingest(f.bytes(), Durability::Lazy).expect("ok").is_new());
        let later = f.created_at().saturating_add(haggle_protocol::feedback::FEEDBACK_LIFETIME);
        store.sweep_expired(later.saturating_add(std::time::Duration::from_secs(1))).expect("ok");
        assert!(!store.contains(&f.id()).expect("ok"));
        assert!(store.feedback_edges().expect("ok").is_empty());
        assert!(store.feedback_on(&d[1].id(), &key(2).public()).expect("ok").is_none());
    }
}
