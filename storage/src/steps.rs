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

/// Steps one deal may hold: a whole trade takes five or six, and a payment request may be
/// corrected a few times; the bound is what the two parties can make each other store.
pub const MAX_DEAL_STEPS: usize = 64;

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
        if self
            .db
            .scan_prefix(keys::key(keys::DEAL_STEP, &[s.deal.as_bytes()]))
            .keys()
            .take(MAX_DEAL_STEPS)
            .count()
            >= MAX_DEAL_STEPS
        {
            return Ok(rejected(Some(id), RejectReason::DealFull { max: MAX_DEAL_STEPS }));
        }
        let mut batch = sled::Batch::default();
        batch.insert(keys::object(&id), object.bytes());
        batch.insert(keys::deal_step(&s.deal, &id), &[]);
        if origin == Origin::Own {
            self.queue_for_delivery(&mut batch, object)?;
        }
        self.db.apply_batch(batch)?;
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
}
