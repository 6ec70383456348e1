//! Deal steps after the handshake (payment request, paid, shipped, received, cancel, dispute):
//! stored per deal, checked against the deal's parties. The state they put the deal in is
//! folded from the set (`haggle_protocol::lifecycle`), so the order they arrive in does not
//! matter; what the owner may sign next is the service's check, before signing.

use haggle_protocol::lifecycle::{self, DealState, Role, SignedStep};
use haggle_protocol::{Body, Deal, Object, ObjectId, ObjectKind};

use crate::error::StoreError;
use crate::ingest::{Origin, Outcome, RejectReason, rejected};
use crate::keys;
use crate::store::{Store, decode_stored};

/// Steps one party may sign in one deal: a whole trade takes each party two or three, and a
/// payment request may be corrected a few times. Counted per party, so one party filling its
/// share never stops the other from signing "received" or "cancel".
pub const MAX_DEAL_STEPS: usize = 32;

/// A step as the deal's state takes it in: who signed it, from the deal's parties.
pub fn signed_step(deal: &Deal, object: &Object) -> Option<SignedStep> {
    let Body::Step(s) = object.body() else { return None };
    let by = role(deal, object)?;
    let tie = u64::from_be_bytes(object.id().as_bytes()[..8].try_into().ok()?);
    Some(SignedStep { by, step: s.step.clone(), at: object.created_at(), tie })
}

/// The author's role in `deal`, if it is a party.
fn role(deal: &Deal, object: &Object) -> Option<Role> {
    let author = object.author();
    if author == deal.seller() {
        Some(Role::Seller)
    } else if author == deal.buyer() {
        Some(Role::Buyer)
    } else {
        None
    }
}

impl Store {
    pub(crate) fn write_step(&self, object: &Object, origin: Origin) -> Result<Outcome, StoreError> {
        let id = object.id();
        let Body::Step(s) = object.body() else { unreachable!("called for steps") };
        let Some(deal) = self.deal(&s.deal)? else {
            return Ok(rejected(Some(id), RejectReason::UnknownDeal(s.deal)));
        };
        let other = if object.author() == deal.seller() { deal.buyer() } else { deal.seller() };
        let Some(step) = signed_step(&deal, object).filter(|_| s.to == other) else {
            return Ok(rejected(Some(id), RejectReason::NotAParty));
        };
        if let Err(e) = lifecycle::check(&step) {
            return Ok(rejected(Some(id), e));
        }
        let author = object.author();
        if self.deal_steps(&s.deal)?.iter().filter(|o| o.author() == author).count() >= MAX_DEAL_STEPS {
            return Ok(rejected(Some(id), RejectReason::DealFull { max: MAX_DEAL_STEPS }));
        }
        let mut batch = crate::writes::Batch::default();
        batch.insert(keys::object(&id), object.bytes());
        batch.insert(keys::deal_step(&s.deal, &id), &[]);
        if origin == Origin::Own {
            self.queue_for_delivery(&mut batch, object)?;
        }
        self.apply_writes(batch)?;
        Ok(Outcome::New { id, kind: ObjectKind::Step, deal: None })
    }

    /// A deal's steps, oldest first.
    pub fn deal_steps(&self, deal: &ObjectId) -> Result<Vec<Object>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::DEAL_STEP, &[deal.as_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "deal step key" })?;
            if let Some(bytes) = self.db.get(keys::object(&id))? {
                out.push(decode_stored(&bytes)?);
            }
        }
        out.sort_by_key(|o| (o.created_at(), o.id()));
        Ok(out)
    }

    /// A deal's state, folded from its steps.
    pub fn deal_state(&self, deal: &Deal) -> Result<DealState, StoreError> {
        let steps: Vec<SignedStep> =
            self.deal_steps(&deal.id())?.iter().filter_map(|o| signed_step(deal, o)).collect();
        Ok(DealState::fold(deal.made_at(), &steps))
    }

    /// Whether `step`, just stored, is the one that called the deal off: the deal is cancelled
    /// with it and would not be without it. A party's second `cancel`, or any step after the
    /// deal ended, is not.
    pub fn cancelled_by(&self, deal: &Deal, step: &ObjectId) -> Result<bool, StoreError> {
        let steps = self.deal_steps(&deal.id())?;
        let signed = |skip: Option<&ObjectId>| -> Vec<SignedStep> {
            steps.iter().filter(|o| Some(&o.id()) != skip).filter_map(|o| signed_step(deal, o)).collect()
        };
        let stage = |steps: &[SignedStep]| DealState::fold(deal.made_at(), steps).stage();
        let cancelled = haggle_protocol::lifecycle::Stage::Cancelled;
        Ok(stage(&signed(None)) == cancelled && stage(&signed(Some(step))) != cancelled)
    }

    /// Whether both parties called the deal off. Cheap for a deal with no steps (a key scan);
    /// a deal with steps is read and its steps folded.
    pub fn is_cancelled(&self, deal: &ObjectId) -> Result<bool, StoreError> {
        if self.db.scan_prefix(keys::key(keys::DEAL_STEP, &[deal.as_bytes()])).keys().next().is_none() {
            return Ok(false);
        }
        match self.deal(deal)? {
            Some(d) => Ok(self.deal_state(&d)?.stage() == haggle_protocol::lifecycle::Stage::Cancelled),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{accept, confirm, key, live_listing, live_terms, offer, sign_now};
    use haggle_protocol::lifecycle::{DealStep, Stage, Step};
    use haggle_protocol::{Listing, PaymentMethod, Verified};

    use super::*;
    use crate::store::Durability;

    fn put(store: &Store, object: &Verified<Object>) -> Outcome {
        store.ingest(object.bytes(), Durability::Lazy).expect("ingest")
    }

    fn reason(outcome: Outcome) -> RejectReason {
        match outcome {
            Outcome::Rejected(r) => r.reason,
            other => panic!("not refused: {other:?}"),
        }
    }

    /// Only the two parties exchange a deal's steps, each step signed by the right one; a step
    /// for a deal not held yet is refused without blame; each party has its own budget.
    #[test]
    fn steps_are_checked_against_the_deal_and_bounded_per_party() {
        let (seller, buyer, stranger) = (key(1), key(2), key(3));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
        let a = sign_now(&seller, accept(&o, &o));
        let cf = sign_now(&buyer, confirm(&o, &a));
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let deal = a.id();
        let step = |by: &haggle_protocol::SecretKey, to: &haggle_protocol::SecretKey, step: Step| {
            sign_now(by, Body::Step(DealStep { deal, to: to.public(), step }))
        };

        // Before the deal: held back, not the sender's fault.
        let early = reason(put(&store, &step(&seller, &buyer, Step::PaymentRequest(PaymentMethod::Cash))));
        assert!(matches!(early, RejectReason::UnknownDeal(_)) && !early.is_peer_fault());
        for object in [&listing, &o, &a, &cf] {
            assert!(put(&store, object).is_new());
        }
        let r = reason(put(&store, &step(&stranger, &buyer, Step::Cancel)));
        assert!(matches!(r, RejectReason::NotAParty) && r.is_peer_fault());
        let r = reason(put(&store, &step(&seller, &stranger, Step::Cancel)));
        assert!(matches!(r, RejectReason::NotAParty), "addressed to someone else");
        let r = reason(put(&store, &step(&buyer, &seller, Step::Shipped(None))));
        assert!(matches!(r, RejectReason::Step(_)) && r.is_peer_fault(), "the buyer cannot ship");

        assert!(put(&store, &step(&seller, &buyer, Step::PaymentRequest(PaymentMethod::Cash))).is_new());
        let d = store.deal(&deal).expect("read").expect("the deal");
        assert_eq!(store.deal_state(&d).expect("state").stage(), Stage::PaymentRequested);

        // The seller fills its share with disputes; the buyer can still sign.
        for n in 1..MAX_DEAL_STEPS {
            assert!(put(&store, &step(&seller, &buyer, Step::Dispute(format!("complaint {n}")))).is_new());
        }
        let r = reason(put(&store, &step(&seller, &buyer, Step::Dispute("one more".into()))));
        assert!(matches!(r, RejectReason::DealFull { .. }));
        assert!(
            put(&store, &step(&buyer, &seller, Step::Cancel)).is_new(),
            "the other party's share is its own"
        );
        assert_eq!(store.deal_steps(&deal).expect("read").len(), MAX_DEAL_STEPS + 1);
    }

    /// A deal both parties called off no longer takes the listing's quantity, and only the
    /// step that completed the cancellation is said to have made it.
    #[test]
    fn a_cancelled_deal_gives_back_what_it_took() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(Listing { quantity: 3, ..live_listing("Chairs") }));
        let o = sign_now(&buyer, offer(&listing, live_terms(2, 10_000)));
        let a = sign_now(&seller, accept(&o, &o));
        let cf = sign_now(&buyer, confirm(&o, &a));
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for object in [&listing, &o, &a, &cf] {
            assert!(put(&store, object).is_new());
        }
        let key = listing.listing_key().expect("a listing");
        assert_eq!(store.remaining_quantity(&key).expect("read"), Some(1), "the deal took 2 of 3");
        let d = store.deal(&a.id()).expect("read").expect("the deal");
        let step = |by: &haggle_protocol::SecretKey, to: &haggle_protocol::SecretKey| {
            sign_now(by, Body::Step(DealStep { deal: a.id(), to: to.public(), step: Step::Cancel }))
        };
        let first = step(&buyer, &seller);
        assert!(put(&store, &first).is_new());
        assert!(!store.is_cancelled(&a.id()).expect("read"));
        assert!(!store.cancelled_by(&d, &first.id()).expect("read"), "one cancel is a request");
        assert_eq!(store.remaining_quantity(&key).expect("read"), Some(1));
        let second = step(&seller, &buyer);
        assert!(put(&store, &second).is_new());
        assert!(store.is_cancelled(&a.id()).expect("read"));
        assert!(store.cancelled_by(&d, &second.id()).expect("read"), "the second cancel ends the deal");
        let again =
            sign_now(&buyer, Body::Step(DealStep { deal: a.id(), to: seller.public(), step: Step::Cancel }));
        assert!(
            put(&store, &again).is_new(),
            "steps are stored whatever the stage (each party's share is bounded)"
        );
        assert!(
            !store.cancelled_by(&d, &again.id()).expect("read"),
            "a second cancel by one party ends nothing"
        );
        assert_eq!(store.remaining_quantity(&key).expect("read"), Some(3), "the 2 are back");
    }
}
