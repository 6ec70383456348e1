//! The owner's deal steps after the handshake (payment request, paid, shipped, received,
//! cancel, dispute): checked against what the deal allows now, signed, stored, and sent to the
//! other party like a negotiation message (directly, by the outbox, or sealed in a mailbox).

use haggle_protocol::lifecycle::{self, DealStep, Role, Step};
use haggle_protocol::{Body, Object, ObjectId, Timestamp};

use super::{Conflict, Effect, Followups, InvalidInput, Service, ServiceError};
use crate::api::types::{DealView, NodeEvent, StepRequest};

/// How many of a party's [`haggle_storage::MAX_DEAL_STEPS`] its node keeps for the steps that
/// carry a deal on or end it (paid, shipped, received, cancel, the file key): a dispute or
/// another payment request past the rest is refused.
const STEPS_KEPT: usize = 4;

impl Service {
    /// Signs `step` on the deal `given` names, if the owner may sign it now.
    pub fn deal_step(&self, given: &str, mut step: Step) -> Result<Effect, ServiceError> {
        // What this node signs is held to more than the shape: a bitcoin address's checksum, an
        // IBAN's country and length. Checked first, so a digit missing from an IBAN is said as
        // such, not as check digits that do not match.
        if let Step::PaymentRequest(method) = step {
            method.validate_own().map_err(|e| InvalidInput::Step(e.into()))?;
            step = Step::PaymentRequest(method.normalized());
        }
        check_words(&step)?;
        lifecycle::check_shape(&step).map_err(InvalidInput::Step)?;
        let deal = self.deal_named(given)?;
        let id = deal.id();
        let me = self.me();
        let (role, other) =
            if me == deal.seller() { (Role::Seller, deal.buyer()) } else { (Role::Buyer, deal.seller()) };
        // Before what the stage allows: on a free deal, "not requested yet" would say to wait for
        // a request that never comes.
        if matches!(step, Step::PaymentRequest(_) | Step::Paid { .. }) && deal.terms().price.amount == 0 {
            let listing = deal.listing().listing();
            let file = listing.is_some_and(|l| l.file.is_some());
            return Err(Conflict::NothingToPay { deal: id, file, kind: listing.map(|l| l.kind) }.into());
        }
        // A party's share of steps, said as the owner's, whatever the step (a hostile trial's 33rd
        // dispute read "the author already signed 32 steps").
        let steps = self.store.deal_steps(&id)?;
        let signed = steps.iter().filter(|o| o.author() == me).count();
        if signed >= haggle_storage::MAX_DEAL_STEPS {
            return Err(Conflict::StepsFull { deal: id, max: haggle_storage::MAX_DEAL_STEPS }.into());
        }
        // The last of a party's share are kept for the steps that carry the deal on or end it:
        // a retrial's buyer, after 32 disputes, could no longer pay, receive or agree to cancel.
        if matches!(step, Step::Dispute(_) | Step::PaymentRequest(_))
            && signed >= haggle_storage::MAX_DEAL_STEPS - STEPS_KEPT
        {
            return Err(Conflict::StepsKept { deal: id, signed, kept: STEPS_KEPT }.into());
        }
        let state = self.store.deal_state(&deal)?;
        let kind = deal.listing().listing().map(|l| l.kind);
        let refused = |why| Conflict::Step { deal: id, why, kind, rated: false };
        // A seller whose buyer has not said it paid within the days a payment request gives
        // calls the deal off alone, a cancel asked before included (a trial's stranger booked a
        // whole calendar and never paid).
        let lone =
            role == Role::Seller && matches!(step, Step::Cancel) && state.may_call_off(Timestamp::now());
        // Past the request's days, a cancel of the seller's stands alone by the fold, whatever the
        // buyer said, and cannot be taken back: signed only where the seller may call the deal
        // off alone (a review: a seller whose buyer had said it paid called the deal off at once
        // with a cancel meant as a request). A second's margin for the signing time, which is now
        // or a moment later.
        let margin = Timestamp::now().saturating_add(std::time::Duration::from_secs(1));
        if role == Role::Seller
            && matches!(step, Step::Cancel)
            && state.cancel_buyer.is_none()
            && state.cancel_stands_alone(margin)
            && !lone
            && !state.stage().is_final()
        {
            return Err(Conflict::CancelWouldCallOff {
                deal: id,
                disputed_until: state.disputed_payment_until(),
                received: state.received.is_some(),
            }
            .into());
        }
        if let Err(why) = state.allows(role, &step)
            && !(lone && why == haggle_protocol::NotAllowed::CancelAsked)
        {
            let rated = matches!(why, haggle_protocol::NotAllowed::Final(haggle_protocol::Stage::Completed))
                && self.store.feedback_on(&id, &me)?.is_some();
            return Err(Conflict::Step { deal: id, why, kind, rated }.into());
        }
        // A booking is received once it has begun (a trial's guest completed a stay two weeks
        // before it; its rating then read as a review of a stay that had not happened).
        if matches!(step, Step::Received)
            && let Some(dates) = deal.terms().dates
            && !dates.begun(Timestamp::now())
        {
            let service = kind == Some(haggle_protocol::ListingKind::Service);
            return Err(Conflict::StayAhead { deal: id, dates, service, rating: false }.into());
        }
        // Rated, though not finished here: this node lacks steps (restored from a backup: a
        // trial's seller, holding both ratings, shipped again a thing received). Refused until
        // the other party's node gives them back.
        if lacks_steps(&self.store, &deal, &state, &steps)? {
            return Err(Conflict::StepsMissing(id).into());
        }
        // The request in force asked again, unchanged (a retried command): nothing to sign.
        if let Step::PaymentRequest(method) = &step
            && state.payment.as_ref().is_some_and(|(m, _)| m == method)
        {
            // Before a payment (a request after one is refused above), the request in force is
            // the latest.
            if let Some(request) = latest_request(&deal, &steps) {
                return Err(Conflict::SameRequest { deal: id, request }.into());
            }
        }
        if let Step::Paid { request, .. } = &mut step {
            // The payment names the request it pays: the seller's latest (allowed: not paid yet).
            *request = latest_request(&deal, &steps)
                .ok_or_else(|| refused(haggle_protocol::NotAllowed::NoPaymentRequest))?;
        }
        // A cancel or a received may call the deal off or bring it back.
        let settles = matches!(step, Step::Cancel | Step::Received);
        // Dated after the owner's last step on the deal: a correction signed in the same
        // millisecond as what it corrects would otherwise be ordered by its id, and could lose
        // (a payment request and its correction in one millisecond, seen in CI).
        let me = self.me();
        let last = steps.iter().filter(|o| o.author() == me).map(Object::created_at).max();
        let now = Timestamp::now();
        let now = last.map_or(now, |last| now.max(last.saturating_add(std::time::Duration::from_millis(1))));
        let object = self.sign(Body::Step(DealStep { deal: id, to: other, step }), now)?;
        self.ingest_own(&object)?;
        let mut then = Followups { deliver: vec![other], ..Followups::default() };
        then.events.push(self.step_event(&object, id)?);
        // The step is stored and on its way: a failure to revise the listing after it is logged
        // (the start-up repair settles it), not reported as the step's failure.
        if settles && let Err(e) = self.after_step(id, &mut then) {
            tracing::warn!(deal = %id, error = %e, "cannot settle the listing after a cancel or received");
        }
        Ok(Effect { object, then })
    }

    /// [`Service::deal_step`] from the API's request.
    pub fn deal_step_request(&self, given: &str, request: StepRequest) -> Result<Effect, ServiceError> {
        match step(request)? {
            Some(step) => self.deal_step(given, step),
            None => self.deliver(given),
        }
    }

    /// The deal a step or feedback of the owner's belongs to, as a view.
    pub fn effect_deal(&self, effect: &Effect) -> Result<DealView, ServiceError> {
        let deal = match effect.object.body() {
            Body::Step(s) => s.deal,
            Body::Feedback(f) => f
                .proof_unverified()
                .map(|p| p.deal)
                .ok_or_else(|| haggle_storage::StoreError::Corrupt { what: "the owner's own feedback" })?,
            _ => unreachable!("a deal step's or feedback's effect"),
        };
        self.deal_view(&deal.to_hex())
    }

    /// The event for a stored step: which deal, which step, and the deal's stage after it.
    pub(super) fn step_event(&self, object: &Object, deal: ObjectId) -> Result<NodeEvent, ServiceError> {
        let Body::Step(s) = object.body() else { unreachable!("called for steps") };
        let stage = match self.store.deal(&deal)? {
            Some(d) => self.store.deal_state(&d)?.stage().name(),
            None => "agreed",
        };
        Ok(NodeEvent::DealStep {
            id: object.id(),
            deal,
            step: s.step.name().to_owned(),
            stage: stage.to_owned(),
            mine: object.author() == self.me(),
        })
    }
}

/// A bitcoin payment request's details as a BIP 21 URI: a bare address (`bc1q...`, no `?`) gets
/// its `bitcoin:` in front; anything else is left to the URI's check, which says what is wrong.
fn with_scheme(details: String) -> String {
    let trimmed = details.trim();
    // Of any length: a mistyped address is told what is wrong with it as an address, not to
    // write `bitcoin:` in front (from a trial).
    let bare = !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_alphanumeric());
    if bare { format!("bitcoin:{trimmed}") } else { details }
}

/// The step a request asks for; `None` for `Deliver`, whose step (the file's key, sealed to the
/// buyer) the service makes from the deal.
fn step(request: StepRequest) -> Result<Option<Step>, ServiceError> {
    use haggle_protocol::PaymentMethod as M;
    Ok(Some(match request {
        StepRequest::PaymentRequest { method, details, reference } => {
            let given = details.clone().filter(|d| !d.trim().is_empty());
            let needs = |what: &'static str| given.clone().ok_or(InvalidInput::PaymentDetails(what));
            Step::PaymentRequest(match method.as_str() {
                // A bare address is what a wallet's "receive" shows: it is the URI's address.
                "bitcoin" => {
                    M::Bitcoin(with_scheme(needs("a bitcoin payment request needs its bitcoin: URI")?))
                }
                "lightning" => M::Lightning(needs("a lightning payment request needs its invoice")?),
                // Dashes between the groups are read as the spaces they stand for (a trial's
                // `BE71-0961-2345-6769` was told it had 19 letters and digits); a blank
                // reference is none, as a payment's is.
                "iban" => M::Iban {
                    iban: needs("a bank transfer's payment request needs the IBAN to pay to")?
                        .replace('-', " "),
                    reference: reference.filter(|r| !r.trim().is_empty()).unwrap_or_default(),
                },
                // Cash carries nothing: details would be dropped without a word.
                "cash" if details.as_deref().is_some_and(|d| !d.trim().is_empty()) || reference.is_some() => {
                    return Err(InvalidInput::CashDetails.into());
                }
                "cash" => M::Cash,
                "other" => M::Other(needs("an other payment request needs its text: how to pay, in words")?),
                other => return Err(InvalidInput::PaymentMethod(other.to_owned()).into()),
            })
        }
        // The request paid is filled in by `deal_step`, from the deal.
        StepRequest::Paid { reference } => Step::Paid {
            request: ObjectId::from_bytes([0; 32]),
            reference: reference.filter(|r| !r.trim().is_empty()),
        },
        StepRequest::Shipped { tracking } => Step::Shipped(tracking.filter(|t| !t.trim().is_empty())),
        StepRequest::Received {} => Step::Received,
        StepRequest::Cancel {} => Step::Cancel,
        StepRequest::Dispute { reason } => {
            if reason.trim().is_empty() {
                return Err(InvalidInput::StepText(
                    "a dispute needs its reason, in words: what went wrong (e.g. \"Paid on Monday, nothing shipped\")"
                        .to_owned(),
                )
                .into());
            }
            Step::Dispute(reason)
        }
        StepRequest::Deliver {} => return Ok(None),
    }))
}

/// The words a step carries, said by the field they were given in when they are too long or
/// not on one line (the protocol's own check, [`lifecycle::check_shape`], says it of the step).
fn check_words(step: &Step) -> Result<(), InvalidInput> {
    let (what, text) = match step {
        Step::Dispute(reason) => ("the reason", reason.as_str()),
        Step::Paid { reference: Some(t), .. } => ("the payment's reference", t.as_str()),
        Step::Shipped(Some(t)) => ("the tracking note", t.as_str()),
        _ => return Ok(()),
    };
    let n = text.chars().count();
    if n > lifecycle::MAX_STEP_TEXT {
        return Err(InvalidInput::StepText(format!(
            "{what} is {n} characters long, over the limit of {}: say it shorter",
            lifecycle::MAX_STEP_TEXT
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(InvalidInput::StepText(format!(
            "{what} holds a line break or another control character: write it on one line"
        )));
    }
    Ok(())
}

/// The seller's latest payment request among `steps` of `deal` (its step's id), by date then tie.
fn latest_request(deal: &haggle_protocol::Deal, steps: &[Object]) -> Option<ObjectId> {
    steps
        .iter()
        .filter_map(|o| haggle_storage::signed_step(deal, o).map(|s| (o.id(), s)))
        .filter(|(_, s)| matches!(s.step, Step::PaymentRequest(_)))
        .max_by_key(|(_, s)| (s.at, s.tie))
        .map(|(id, _)| id)
}

/// Whether `deal`, in `state` here, was rated though this node's record of it is not finished,
/// by a rating no 14 days without a step explain: a rating comes after the steps that finish a
/// deal, or after 14 days idle, so this node lacks steps (restored from a backup). A rating
/// made while the deal was idle 14 days is explained, whatever steps followed it (from a
/// review: a stale deal rated, then stepped on, was refused every step after).
/// `steps` are the deal's stored steps, as the caller read them.
pub(super) fn lacks_steps(
    store: &haggle_storage::Store,
    deal: &haggle_protocol::Deal,
    state: &haggle_protocol::lifecycle::DealState,
    steps: &[Object],
) -> Result<bool, haggle_storage::StoreError> {
    if state.stage().is_final() {
        return Ok(false);
    }
    let id = deal.id();
    let mut rated_at = Vec::new();
    for party in [deal.seller(), deal.buyer()] {
        if let Some(rating) = store.feedback_on(&id, &party)? {
            rated_at.push(rating.created_at());
        }
    }
    if rated_at.is_empty() {
        return Ok(false);
    }
    let steps: Vec<Timestamp> =
        steps.iter().filter_map(|o| haggle_storage::signed_step(deal, o).map(|s| s.at)).collect();
    let idle = haggle_protocol::lifecycle::STALE_AFTER.as_millis() as u64;
    let explained = |at: Timestamp| {
        let last = steps.iter().copied().filter(|s| *s <= at).max().unwrap_or(deal.made_at());
        at.as_millis().saturating_sub(last.as_millis()) >= idle
    };
    Ok(!rated_at.into_iter().any(explained))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect: a cash payment request with details was taken, and the details dropped without a
    /// word (cash carries none).
    #[test]
    fn cash_with_details_is_refused_not_dropped() {
        let cash = |details: Option<&str>, reference: Option<&str>| {
            step(StepRequest::PaymentRequest {
                method: "cash".into(),
                details: details.map(Into::into),
                reference: reference.map(Into::into),
            })
        };
        for (details, reference) in [(Some("pickup at 6"), None), (None, Some("ORDER-7"))] {
            let said = cash(details, reference).expect_err("nowhere to put them").to_string();
            assert!(said.starts_with("cash is paid on handover") && said.contains("other"), "{said}");
        }
        assert!(matches!(
            cash(None, None),
            Ok(Some(Step::PaymentRequest(haggle_protocol::PaymentMethod::Cash)))
        ));
        assert!(cash(Some("  "), None).is_ok(), "blank details are no details");
    }

    /// From a trial: an IBAN written with dashes was counted with them, and a blank reference
    /// was signed as one.
    #[test]
    fn an_iban_with_dashes_is_taken_and_a_blank_reference_is_none() {
        let request = StepRequest::PaymentRequest {
            method: "iban".into(),
            details: Some("BE71-0961-2345-6769".into()),
            reference: Some("   ".into()),
        };
        let Ok(Some(Step::PaymentRequest(method))) = step(request) else { panic!("a payment request") };
        assert_eq!(
            method,
            haggle_protocol::PaymentMethod::Iban {
                iban: "BE71 0961 2345 6769".into(),
                reference: String::new()
            }
        );
        assert_eq!(method.validate(), Ok(()));
    }

    /// Defect (found in a trial): `--other ""` was told the method needs "a bitcoin: URI, an
    /// invoice, an IBAN, or text"; each method now names what it needs.
    #[test]
    fn a_request_without_details_says_what_its_method_needs() {
        for (method, needs) in [
            ("other", "its text: how to pay, in words"),
            ("iban", "the IBAN to pay to"),
            ("bitcoin", "its bitcoin: URI"),
            ("lightning", "its invoice"),
        ] {
            let request = StepRequest::PaymentRequest {
                method: method.into(),
                details: Some(" ".into()),
                reference: None,
            };
            let said = step(request).expect_err("no details").to_string();
            assert!(said.ends_with(needs), "{method}: {said}");
        }
    }

    /// Defect (found in a trial): a bare bitcoin address, what a wallet shows to receive, was
    /// refused as "not a valid bitcoin: URI" (the old wording).
    #[test]
    fn a_bare_bitcoin_address_is_taken_as_its_uri() {
        let request = |details: &str| {
            step(StepRequest::PaymentRequest {
                method: "bitcoin".into(),
                details: Some(details.into()),
                reference: None,
            })
        };
        let uri = |details: &str| match request(details) {
            Ok(Some(Step::PaymentRequest(haggle_protocol::PaymentMethod::Bitcoin(uri)))) => uri,
            other => panic!("{details}: {other:?}"),
        };
        assert_eq!(
            uri(" bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq "),
            "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
        );
        let given = "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?amount=0.001";
        assert_eq!(uri(given), given, "a URI is left as it is");
        assert_eq!(uri("pay me"), "pay me", "what is no address is left to the URI's check");
        // From a trial: a mistyped bare address was told to start with `bitcoin:`.
        let typo = uri("bc1qnotvalid");
        assert_eq!(typo, "bitcoin:bc1qnotvalid");
        let said =
            haggle_protocol::PaymentMethod::Bitcoin(typo).validate_own().expect_err("refused").to_string();
        assert!(said.contains("the bech32 address has the wrong length or characters"), "{said}");
    }
}
