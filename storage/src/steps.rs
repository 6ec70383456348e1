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
    // A free deal's payment steps are refused on the way in; one stored before that rule is
    // left out of the deal's state.
    lifecycle::DealState::check_price(&s.step, deal.terms().price.amount).ok()?;
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
        if let Err(e) = lifecycle::DealState::check_price(&s.step, deal.terms().price.amount) {
            return Ok(rejected(Some(id), e));
        }
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
        self.step_generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
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

    /// Whether the owner's listing has settled `deal` being called off: given back what it
    /// took, or found it had taken nothing ([`Store::ingest_own_settling`]).
    pub fn given_back(&self, deal: &ObjectId) -> Result<bool, StoreError> {
        Ok(self.db.contains_key(keys::given_back(deal))?)
    }

    /// Notes (`true`) or forgets (`false`) that `deal` is settled with no revision to write
    /// (its listing took nothing, or is closed); flushed.
    pub fn set_given_back(&self, deal: &ObjectId, given_back: bool) -> Result<(), StoreError> {
        if given_back {
            self.db.insert(keys::given_back(deal), &[])?;
        } else {
            self.db.remove(keys::given_back(deal))?;
        }
        self.flush()
    }

    /// Stores the owner's listing revision that settles `deal`: it gives back what the deal
    /// took (`given_back`), or takes it again after a cancellation was undone. The mark is
    /// written in the revision's own batch, so a crash leaves both or neither and the start-up
    /// repair never settles a deal twice. Flushed.
    pub fn ingest_own_settling(
        &self,
        object: &haggle_protocol::Verified<Object>,
        deal: &ObjectId,
        given_back: bool,
    ) -> Result<Outcome, StoreError> {
        let outcome = {
            let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut gathered = crate::batch::Gathered::default();
            let outcome =
                self.write_into(object, Origin::Own, haggle_protocol::Timestamp::now(), &mut gathered)?;
            if matches!(outcome, Outcome::New { .. }) {
                gathered.also(keys::given_back(deal), given_back.then_some(&[][..]));
            }
            self.commit(gathered)?;
            outcome
        };
        self.after_write(crate::store::Durability::Flush)?;
        Ok(outcome)
    }

    /// The deals on the owner's listing `key` whose cancellation is not settled: called off and
    /// not given back (or, should a deal's steps ever go, given back and no longer called off).
    pub fn unsettled_cancellations(
        &self,
        key: &haggle_protocol::ListingKey,
    ) -> Result<Vec<ObjectId>, StoreError> {
        let mut out = Vec::new();
        for (deal, _, _) in self.deal_terms_on(key)? {
            if self.is_cancelled(&deal)? != self.given_back(&deal)? {
                out.push(deal);
            }
        }
        Ok(out)
    }

    /// A number that changes whenever a deal step is stored (a cancellation among them), so
    /// callers can keep what they read from deals' steps until it does.
    pub fn step_generation(&self) -> u64 {
        self.step_generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the deal is called off, as [`DealState::stage`] folds it: a `cancel` from each
    /// party (it wins over a `received` that crossed it), or the seller's alone once the buyer
    /// had not paid in time. Read from the
    /// steps alone, without verifying the deal again: the store takes a step only from one of
    /// the deal's two parties, and `received` only from the buyer ([`Store::write_step`]), so
    /// two different authors of `cancel` are the two parties. Cheap enough for the guards that
    /// ask it of every deal on a listing: a key scan for a deal without steps, and an
    /// unverified decode of each step of one with them.
    pub fn is_cancelled(&self, deal: &ObjectId) -> Result<bool, StoreError> {
        let mut cancelled_by: Vec<haggle_protocol::PublicKey> = Vec::new();
        for object in self.deal_steps(deal)? {
            let Body::Step(s) = object.body() else { continue };
            if matches!(s.step, lifecycle::Step::Cancel) && !cancelled_by.contains(&object.author()) {
                cancelled_by.push(object.author());
            }
        }
        match cancelled_by.as_slice() {
            [] => Ok(false),
            // The seller's alone stands when the buyer had not paid in time
            // ([`DealState::called_off_unpaid`]): read from the whole deal, only for a deal with
            // a lone cancel of the seller's.
            [by] => match self.deal(deal)? {
                Some(d) if d.seller() == *by => Ok(self.deal_state(&d)?.called_off_unpaid()),
                _ => Ok(false),
            },
            _ => Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{accept, confirm, key, live_listing, live_terms, offer, sign_now};
    use haggle_protocol::lifecycle::{DealStep, Stage, Step};
    use haggle_protocol::{Listing, PaymentMethod};

    use super::*;
    use crate::testing::put;

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

    /// A deal both parties called off no longer takes the listing's quantity, and is owed a
    /// revision until the owner's listing settles it.
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
        let step = |by: &haggle_protocol::SecretKey, to: &haggle_protocol::SecretKey| {
            sign_now(by, Body::Step(DealStep { deal: a.id(), to: to.public(), step: Step::Cancel }))
        };
        let first = step(&buyer, &seller);
        assert_eq!(store.deal_counterparties(&seller.public()).expect("read"), vec![buyer.public()]);
        let generation = store.step_generation();
        assert!(put(&store, &first).is_new());
        assert!(store.step_generation() > generation, "a stored step is told");
        assert!(!store.is_cancelled(&a.id()).expect("read"), "one cancel is a request");
        assert!(store.unsettled_cancellations(&key).expect("read").is_empty());
        assert_eq!(store.remaining_quantity(&key).expect("read"), Some(1));
        assert!(put(&store, &step(&seller, &buyer)).is_new());
        assert!(store.is_cancelled(&a.id()).expect("read"));
        // Called off, it was never traded: it vouches for nobody in the web of trust.
        assert!(store.deal_counterparties(&seller.public()).expect("read").is_empty());
        assert_eq!(store.unsettled_cancellations(&key).expect("read"), vec![a.id()], "owed a revision");
        store.set_given_back(&a.id(), true).expect("settled");
        assert!(store.unsettled_cancellations(&key).expect("read").is_empty());
        // Dated after the first: signed in the same millisecond, it would be the same object.
        let again = haggle_protocol::fixtures::sign_at(
            &buyer,
            Body::Step(DealStep { deal: a.id(), to: seller.public(), step: Step::Cancel }),
            first.created_at().saturating_add(std::time::Duration::from_millis(1)),
        );
        assert!(
            put(&store, &again).is_new(),
            "steps are stored whatever the stage (each party's share is bounded)"
        );
        assert!(store.is_cancelled(&a.id()).expect("read"), "a second cancel by one party changes nothing");
        assert!(store.unsettled_cancellations(&key).expect("read").is_empty());
        assert_eq!(store.remaining_quantity(&key).expect("read"), Some(3), "the 2 are back");
    }
}
