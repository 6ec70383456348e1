//! After the handshake: the steps of a deal, and the state they put it in.
//!
//! Each party signs its own steps: the seller asks for payment (how to pay) and says the thing
//! was shipped or handed over; the buyer says it paid and that it received the thing; either
//! may sign a cancellation (the deal is cancelled when both have) or open a dispute.
//!
//! **Convergence.** A deal's state is a function of the *set* of its valid steps, never of the
//! order they arrived in: two nodes holding the same steps show the same state, whatever each
//! saw first, and taking a step in twice changes nothing. So a step from the network is judged
//! on itself only (the right party signed it, its details have the right shape: [`check`]);
//! what may follow what is a rule for the party signing a new step ([`DealState::allows`]), not
//! for those receiving it. Where the set holds contradictory steps (a buyer who asked to call
//! the deal off and then signed "received", crossing the seller's agreement), a fixed rule
//! decides: a cancellation both signed wins. The seller's node gives back the nights or the
//! quantity the moment it holds both cancellations, and may promise them to someone else at
//! once; a later "received" must not bring the deal back over them, nor let a buyer rate a
//! deal both called off.
//!
//! **A buyer who does not pay.** The seller's cancellation stands alone, with no agreement, when
//! it was signed at least [`PAY_WITHIN`] after the later of the deal and the seller's latest
//! payment request dated no later than the cancellation (not one in cash, which is paid as the
//! thing is handed over), and the seller had handed nothing over before it: a buyer who took the
//! last item, or a calendar's nights, and never pays cannot hold them for good. The seller's node
//! signs such a cancellation only while it holds no `paid` and no `received`. The rule reads only
//! the seller's own steps and the deal, so it is final as a cancellation both signed is: a
//! `paid` or `received` that crossed it, or was dated back, does not bring the deal back (the
//! nights or quantity given back may be promised again at once).
//!
//! **A payment that never came.** A buyer who says it paid when it did not would hold the deal,
//! and the listing's quantity or nights, for good. The seller disputes the payment; once
//! [`PAYMENT_DISPUTE_WAIT`] has passed since its first dispute dated after the buyer's first
//! `paid`, with nothing handed over and nothing received, the seller's node may sign the
//! cancellation that stands alone by the rule above (it is past the request's days too). The
//! fold is the same rule, so nodes that know nothing of the wait agree on it; the wait is the
//! seller's node's rule, and the buyer's answer, meanwhile, is the money or a word to the
//! seller. Money moves outside haggle, so nothing here can tell who is right: a seller who calls
//! off a deal the buyer did pay may be rated for it, as may a buyer who lied.
//!
//! **Stages**: agreed → payment requested → paid → shipped → received (complete), with
//! "shipped" allowed before "paid" (cash on pickup: handed over, then paid) and cancellation by
//! agreement from anywhere short of complete. A dispute is a flag beside the stage, not a stage:
//! the trade may still end either way.

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::identity::PublicKey;
use crate::payment::{PaymentError, PaymentMethod};
use crate::time::Timestamp;

/// Longest free text of a step (a payment reference, tracking text, a dispute's reason).
pub const MAX_STEP_TEXT: usize = 500;

/// A deal with no step for this long is flagged to both parties (never closed by itself).
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3_600);

/// How long a buyer has, after a payment request (not in cash), to say it paid before the
/// seller may call the deal off alone (see the module's notes).
pub const PAY_WITHIN: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3_600);

/// How long a seller who disputed the buyer's payment (it never came) waits before it may call
/// the deal off alone (see the module's notes).
pub const PAYMENT_DISPUTE_WAIT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3_600);

/// A party of a deal (`Deal::seller` and `Deal::buyer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Hands over the thing or does the work: the listing's author, or the offerer on a wanted
    /// ad.
    Seller,
    /// Pays.
    Buyer,
}

impl Role {
    /// `seller` or `buyer`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Seller => "seller",
            Role::Buyer => "buyer",
        }
    }

    /// The other party's role.
    pub fn other(self) -> Role {
        match self {
            Role::Seller => Role::Buyer,
            Role::Buyer => Role::Seller,
        }
    }
}

/// A signed step's body on the wire: which deal (the Accept's id), the other party, and what
/// the step says. Sent like a negotiation message: directly, by the outbox, or sealed in a
/// mailbox; never gossiped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealStep {
    /// The deal: its Accept's id.
    pub deal: ObjectId,
    /// The other party.
    pub to: PublicKey,
    /// What the step says.
    pub step: Step,
}

/// What a step says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Seller: how to pay. A later request replaces an earlier one (a corrected IBAN).
    PaymentRequest(PaymentMethod),
    /// Buyer: paid the payment request `request` (that step's id), with an optional reference
    /// (a transaction id, a transfer reference). Naming the request keeps the record of how
    /// the buyer paid: a request the seller signs afterwards does not replace it.
    Paid {
        /// The payment request paid.
        request: ObjectId,
        /// A transaction id or transfer reference.
        reference: Option<String>,
    },
    /// Seller: shipped or handed over, with optional tracking text.
    Shipped(Option<String>),
    /// Buyer: received; the trade is complete.
    Received,
    /// Either: agrees to call the deal off (it is, once both have signed; or on the seller's
    /// alone, once the buyer has not paid in time: [`DealState::called_off_unpaid`]).
    Cancel,
    /// Either: something is wrong, with the reason.
    Dispute(String),
    /// Seller of a digital good: the key to its file, sealed to the buyer (see
    /// [`crate::blob::DigitalFile`]), so only the buyer can open it wherever the step travels.
    FileKey(Vec<u8>),
}

impl Step {
    /// Who may sign it: `None` for either party.
    pub fn signer(&self) -> Option<Role> {
        match self {
            Step::PaymentRequest(_) | Step::Shipped(_) | Step::FileKey(_) => Some(Role::Seller),
            Step::Paid { .. } | Step::Received => Some(Role::Buyer),
            Step::Cancel | Step::Dispute(_) => None,
        }
    }

    /// The step's name, as the CLI and the API say it.
    pub fn name(&self) -> &'static str {
        match self {
            Step::PaymentRequest(_) => "payment_request",
            Step::Paid { .. } => "paid",
            Step::Shipped(_) => "shipped",
            Step::Received => "received",
            Step::Cancel => "cancel",
            Step::Dispute(_) => "dispute",
            Step::FileKey(_) => "file_key",
        }
    }
}

/// The tie-break key of the step with id `id` (its first 8 bytes, big-endian): how a step is
/// told apart from others signed at the same millisecond, and how a payment names a request.
pub fn tie_of(id: &ObjectId) -> u64 {
    u64::from_be_bytes(id.as_bytes()[..8].try_into().expect("32 bytes"))
}

/// A step with who signed it and when: what the state is computed from. One party's steps of
/// the same kind are ordered by signing time, then by `tie` (the object id's first bytes, which
/// differ for different steps), so "the latest payment request" is the same on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedStep {
    /// Who signed it.
    pub by: Role,
    /// What it says.
    pub step: Step,
    /// When its author says it signed it.
    pub at: Timestamp,
    /// Tie-break among steps signed at the same millisecond (the object id's first 8 bytes).
    pub tie: u64,
}

/// Why a step cannot be part of a deal, whoever holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The wrong party signed it (a buyer's "shipped").
    #[error("only the {0:?} may sign a {1} step")]
    WrongParty(Role, &'static str),
    /// Its text is empty where needed, too long, or holds control characters.
    #[error("the step's text must be one line of 1 to {MAX_STEP_TEXT} characters")]
    Text,
    /// Its payment details have the wrong shape.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// A payment request or a payment on a deal whose price is 0 (a giveaway, a free file):
    /// there is nothing to pay, and a node signs neither.
    #[error("a deal whose price is 0 takes no {0} step: there is nothing to pay")]
    Free(&'static str),
    /// A file key is not a 32-byte key sealed to the buyer.
    #[error("a file key is {SEALED_KEY_LEN} bytes sealed to the buyer, not {0}", SEALED_KEY_LEN = crate::blob::SEALED_KEY_LEN)]
    FileKey(usize),
}

/// Checks a step on its own: the right party signed it, and its details have the right shape.
/// The only check a step from the network needs (see the module docs).
pub fn check(step: &SignedStep) -> Result<(), StepError> {
    if let Some(signer) = step.step.signer()
        && signer != step.by
    {
        return Err(StepError::WrongParty(signer, step.step.name()));
    }
    check_shape(&step.step)
}

/// The context-free part of [`check`]: text lengths and payment details.
pub fn check_shape(step: &Step) -> Result<(), StepError> {
    // One line of printable text: it is shown on the other party's terminal.
    let text_ok = |t: &str, required: bool| {
        let n = t.chars().count();
        n <= MAX_STEP_TEXT && (!required || !t.trim().is_empty()) && !t.chars().any(char::is_control)
    };
    match step {
        Step::PaymentRequest(method) => method.validate()?,
        Step::Paid { reference: Some(t), .. } | Step::Shipped(Some(t)) if !text_ok(t, false) => {
            return Err(StepError::Text);
        }
        Step::Dispute(reason) if !text_ok(reason, true) => return Err(StepError::Text),
        Step::FileKey(sealed) if sealed.len() != crate::blob::SEALED_KEY_LEN => {
            return Err(StepError::FileKey(sealed.len()));
        }
        _ => {}
    }
    Ok(())
}

/// Where a deal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Accepted and confirmed; nothing since.
    Agreed,
    /// The seller said how to pay.
    PaymentRequested,
    /// The buyer says it paid (not yet shipped).
    Paid,
    /// The seller says it shipped or handed the thing over.
    Shipped,
    /// The buyer received it: the trade is complete.
    Completed,
    /// Both parties agreed to call it off, or the seller did alone, unpaid in time.
    Cancelled,
}

impl Stage {
    /// The stage's name, as the CLI and the API say it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Agreed => "agreed",
            Stage::PaymentRequested => "payment_requested",
            Stage::Paid => "paid",
            Stage::Shipped => "shipped",
            Stage::Completed => "completed",
            Stage::Cancelled => "cancelled",
        }
    }

    /// Whether nothing more can happen (feedback aside).
    pub fn is_final(self) -> bool {
        matches!(self, Stage::Completed | Stage::Cancelled)
    }
}

/// A deal's state: what its steps say, folded in any order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DealState {
    /// The payment request in force: the one the buyer's payment names, or before payment (or
    /// if the named one is not held) the seller's latest.
    pub payment: Option<(PaymentMethod, Timestamp)>,
    /// The buyer's payment, with its reference.
    pub paid: Option<(Option<String>, Timestamp)>,
    /// The seller's shipment, with its tracking text.
    pub shipped: Option<(Option<String>, Timestamp)>,
    /// When the buyer said it received the thing.
    pub received: Option<Timestamp>,
    /// When the seller signed a cancellation.
    pub cancel_seller: Option<Timestamp>,
    /// Every cancellation the seller signed, in time order (one may stand alone: see
    /// [`Self::called_off_unpaid`]).
    seller_cancels: Vec<Timestamp>,
    /// When the buyer signed a cancellation.
    pub cancel_buyer: Option<Timestamp>,
    /// Disputes opened, by party: the reason and when.
    pub disputes: Vec<(Role, String, Timestamp)>,
    /// A digital good's key, sealed to the buyer (the first one the seller signed).
    pub file_key: Option<(Vec<u8>, Timestamp)>,
    /// The latest step's time (or the deal's, before any step).
    pub last_activity: Timestamp,
    /// The order key of each kept value, so a later-arriving older step never replaces a newer.
    keys: StepKeys,
    /// Every payment request, by order key (a few at most: the store keeps 32 steps a party).
    requests: Vec<((Timestamp, u64), PaymentMethod, Timestamp)>,
    /// The payment request the kept payment names ([`tie_of`] its id).
    paid_request: Option<u64>,
    /// When the deal was made.
    made: Timestamp,
    /// When each stage was first reached (the earliest step of its kind), for [`Self::may_rate`]:
    /// a party cannot hold the other off by signing the same step again.
    firsts: StepFirsts,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct StepFirsts {
    payment: Option<Timestamp>,
    paid: Option<Timestamp>,
    shipped: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct StepKeys {
    paid: Option<(Timestamp, u64)>,
    shipped: Option<(Timestamp, u64)>,
}

/// Keeps the value with the greater (time, tie): the latest signed wins, the same on every node.
fn latest<T>(slot: &mut Option<T>, key: &mut Option<(Timestamp, u64)>, new: (Timestamp, u64), value: T) {
    if key.is_none_or(|k| new > k) {
        *slot = Some(value);
        *key = Some(new);
    }
}

/// Keeps the earliest time a one-off step was signed.
fn earliest(slot: &mut Option<Timestamp>, at: Timestamp) {
    if slot.is_none_or(|t| at < t) {
        *slot = Some(at);
    }
}

impl DealState {
    /// A deal made at `made`, before any step.
    pub fn new(made: Timestamp) -> Self {
        DealState { last_activity: made, made, ..DealState::default() }
    }

    /// Takes in a step that passed [`check`]. Commutative and idempotent: the state depends only
    /// on the set of steps taken in.
    pub fn apply(&mut self, s: &SignedStep) {
        let key = (s.at, s.tie);
        match &s.step {
            Step::PaymentRequest(method) => {
                if let Err(at) = self.requests.binary_search_by(|r| r.0.cmp(&key)) {
                    self.requests.insert(at, (key, method.clone(), s.at));
                }
                earliest(&mut self.firsts.payment, s.at);
            }
            Step::Paid { request, reference } => {
                if self.keys.paid.is_none_or(|k| key > k) {
                    self.paid_request = Some(tie_of(request));
                }
                latest(&mut self.paid, &mut self.keys.paid, key, (reference.clone(), s.at));
                earliest(&mut self.firsts.paid, s.at);
            }
            Step::Shipped(tracking) => {
                latest(&mut self.shipped, &mut self.keys.shipped, key, (tracking.clone(), s.at));
                earliest(&mut self.firsts.shipped, s.at);
            }
            Step::FileKey(sealed) => {
                // Handing over the key is handing over the good: it counts as shipped.
                if self.file_key.as_ref().is_none_or(|(k, at)| (s.at, sealed) < (*at, k)) {
                    self.file_key = Some((sealed.clone(), s.at));
                }
                latest(&mut self.shipped, &mut self.keys.shipped, key, (None, s.at));
                earliest(&mut self.firsts.shipped, s.at);
            }
            Step::Received => earliest(&mut self.received, s.at),
            Step::Cancel => match s.by {
                Role::Seller => {
                    earliest(&mut self.cancel_seller, s.at);
                    if let Err(at) = self.seller_cancels.binary_search(&s.at) {
                        self.seller_cancels.insert(at, s.at);
                    }
                }
                Role::Buyer => earliest(&mut self.cancel_buyer, s.at),
            },
            Step::Dispute(reason) => {
                let entry = (s.by, reason.clone(), s.at);
                if !self.disputes.contains(&entry) {
                    self.disputes.push(entry);
                    self.disputes.sort_by(|a, b| (a.2, a.0, &a.1).cmp(&(b.2, b.0, &b.1)));
                }
            }
        }
        self.last_activity = self.last_activity.max(s.at);
        let named = self.paid_request.and_then(|t| self.requests.iter().find(|r| r.0.1 == t));
        self.payment = named.or(self.requests.last()).map(|r| (r.1.clone(), r.2));
    }

    /// The state after `steps`, from a deal made at `made`.
    pub fn fold<'a>(made: Timestamp, steps: impl IntoIterator<Item = &'a SignedStep>) -> Self {
        let mut state = DealState::new(made);
        for s in steps {
            state.apply(s);
        }
        state
    }

    /// Where the deal stands. A cancellation both signed wins over the rest, "received"
    /// included (see the module's notes on convergence). A "received" completes the deal unless
    /// the buyer owes a payment asked for before it ([`Self::received_unpaid`]).
    pub fn stage(&self) -> Stage {
        if (self.cancel_seller.is_some() && self.cancel_buyer.is_some()) || self.called_off_unpaid() {
            Stage::Cancelled
        } else if self.received.is_some() && !self.received_unpaid() {
            Stage::Completed
        } else if self.shipped.is_some() {
            Stage::Shipped
        } else if self.paid.is_some() {
            Stage::Paid
        } else if self.payment.is_some() {
            Stage::PaymentRequested
        } else {
            Stage::Agreed
        }
    }

    /// Whether a cancellation of the seller's stands alone: see the module's notes. Read from the
    /// seller's own steps and the deal only, so no step of the buyer's undoes it.
    pub fn called_off_unpaid(&self) -> bool {
        self.seller_cancels.iter().any(|at| self.cancel_stands_alone(*at))
    }

    /// Whether a cancellation of the seller's dated `at` stands alone by the fold's rule (see the
    /// module's notes), whatever the buyer said: a seller's node signs one only when
    /// [`Self::may_call_off`] allows it, since it cannot be taken back.
    pub fn cancel_stands_alone(&self, at: Timestamp) -> bool {
        self.lapse_at(at).is_some_and(|by| at >= by)
    }

    /// Whether the seller called the deal off alone after disputing the payment the buyer said it
    /// made: a cancellation that stands alone, dated at least [`PAYMENT_DISPUTE_WAIT`] after a
    /// dispute of the seller's that counts against the buyer's first `paid` (see
    /// [`Self::disputed_payment_until`]). Otherwise a call-off alone is one of a deal left unpaid.
    pub fn called_off_disputed(&self) -> bool {
        let Some(from) = self.firsts.paid.map(|p| p.saturating_sub(crate::limits::MAX_CLOCK_SKEW)) else {
            return false;
        };
        self.seller_cancels.iter().any(|c| {
            self.cancel_stands_alone(*c)
                && self.disputes.iter().any(|(by, _, d)| {
                    *by == Role::Seller && *d >= from && *c >= d.saturating_add(PAYMENT_DISPUTE_WAIT)
                })
        })
    }

    /// Whether the seller may call the deal off alone now, with a cancellation signed at `now`:
    /// the buyer has not said it paid or received it (a rule for the seller's node).
    pub fn may_call_off(&self, now: Timestamp) -> bool {
        let waited = match self.paid {
            None => true,
            // Said to be paid: once the seller's dispute of it has waited its days.
            Some(_) => self.disputed_payment_until().is_some_and(|until| now >= until),
        };
        !self.stage().is_final()
            && waited
            && self.received.is_none()
            && self.lapse_at(now).is_some_and(|by| now >= by)
    }

    /// Until when a payment the seller disputed may still come before the seller may call the
    /// deal off alone: [`PAYMENT_DISPUTE_WAIT`] from the seller's first dispute dated no earlier
    /// than the buyer's first `paid` (less [`crate::limits::MAX_CLOCK_SKEW`]), while nothing was
    /// handed over or received and the request in force is not in cash; `None` otherwise.
    pub fn disputed_payment_until(&self) -> Option<Timestamp> {
        // From the first `paid`, less the clock tolerance: a buyer whose node signs `paid` again
        // (no honest node does) does not start the days again, nor does one dated a few minutes
        // ahead make a prompt dispute not count (a review).
        let from = self.firsts.paid?.saturating_sub(crate::limits::MAX_CLOCK_SKEW);
        if self.stage().is_final() || self.received.is_some() || self.shipped.is_some() || self.in_cash() {
            return None;
        }
        let disputed = self.disputes.iter().find(|(by, _, at)| *by == Role::Seller && *at >= from)?;
        Some(disputed.2.saturating_add(PAYMENT_DISPUTE_WAIT))
    }

    /// Until when the buyer may say it paid before the seller may call the deal off alone:
    /// while a payment request (not in cash) waits for it and nothing was handed over.
    pub fn pay_by(&self) -> Option<Timestamp> {
        if self.stage().is_final() || self.paid.is_some() || self.received.is_some() {
            return None;
        }
        self.lapse_at(Timestamp(u64::MAX))
    }

    /// For a cancellation of the seller's dated `at`: from when it may stand alone, going by the
    /// seller's latest payment request dated no later (none, or one in cash: never) and the
    /// seller's handover (one dated no later: never).
    fn lapse_at(&self, at: Timestamp) -> Option<Timestamp> {
        let (method, asked) = self.request_at(at)?;
        if matches!(method, PaymentMethod::Cash) || self.firsts.shipped.is_some_and(|t| t <= at) {
            return None;
        }
        Some(asked.max(self.made).saturating_add(PAY_WITHIN))
    }

    /// The seller's latest payment request dated no later than `at`, with its date: the one in
    /// force then, whatever a later payment names.
    fn request_at(&self, at: Timestamp) -> Option<(&PaymentMethod, Timestamp)> {
        self.requests.iter().rev().find(|r| r.2 <= at).map(|r| (&r.1, r.2))
    }

    /// The party that signed a cancellation the other has not, while the deal is not over: the
    /// deal stands until the other signs too.
    pub fn cancel_asked_by(&self) -> Option<Role> {
        match (self.cancel_seller, self.cancel_buyer) {
            _ if self.stage().is_final() => None,
            (Some(_), None) => Some(Role::Seller),
            (None, Some(_)) => Some(Role::Buyer),
            _ => None,
        }
    }

    /// Whether a party opened a dispute (and the deal is not complete or cancelled).
    pub fn disputed(&self) -> bool {
        !self.disputes.is_empty() && !self.stage().is_final()
    }

    /// Who the deal waits on: `None` when it is final. A cancellation one party signed waits on
    /// the other.
    pub fn waiting_on(&self) -> Option<Role> {
        match self.stage() {
            Stage::Completed | Stage::Cancelled => None,
            _ if self.cancel_seller.is_some() => Some(Role::Buyer),
            _ if self.cancel_buyer.is_some() => Some(Role::Seller),
            Stage::Agreed => Some(Role::Seller),
            // Cash is paid as the thing is handed over: the seller's handover comes first.
            Stage::PaymentRequested if self.in_cash() => Some(Role::Seller),
            Stage::PaymentRequested => Some(Role::Buyer),
            Stage::Paid => Some(Role::Seller),
            Stage::Shipped => Some(Role::Buyer),
        }
    }

    /// Whether the payment request in force asks for cash (paid on handover).
    pub fn in_cash(&self) -> bool {
        self.payment.as_ref().is_some_and(|(m, _)| matches!(m, PaymentMethod::Cash))
    }

    /// Whether the buyer still has to say it paid before it can say it received the thing:
    /// asked to pay by other means than cash, and not paid yet.
    pub fn owes_payment(&self) -> bool {
        self.paid.is_none() && self.payment.is_some() && !self.in_cash()
    }

    /// Whether the buyer said it received the thing while it owed a payment the seller had
    /// asked for before that: a "received" whose buyer's node had not yet taken in the request,
    /// which travels apart from the "shipped" after it and can arrive later (a mailbox carried
    /// by other nodes). Owed means: no payment, and the seller's latest request dated no later
    /// than the "received" asks for other means than cash. The deal is not complete until the
    /// buyer says it paid; it stands at `shipped`, waiting on the buyer. A request signed after
    /// the "received" (by a seller whose node had not taken it in) asks too late: the deal is
    /// complete. The times are what each signer says (its own clock); a few seconds off matter
    /// only when the buyer answered within those seconds of the request.
    pub fn received_unpaid(&self) -> bool {
        self.received.is_some_and(|received| {
            // The request in force when the buyer signed.
            self.paid.is_none()
                && self.request_at(received).is_some_and(|(m, _)| !matches!(m, PaymentMethod::Cash))
        })
    }

    /// Checks a step against its deal's price: a deal whose price is 0 takes no payment request
    /// and no payment ([`StepError::Free`]), so none can keep it from completing.
    pub fn check_price(step: &Step, price: u64) -> Result<(), StepError> {
        match step {
            Step::PaymentRequest(_) | Step::Paid { .. } if price == 0 => Err(StepError::Free(step.name())),
            _ => Ok(()),
        }
    }

    /// Whether the deal has had no step for [`STALE_AFTER`] and is not final.
    pub fn is_stale(&self, now: Timestamp) -> bool {
        !self.stage().is_final()
            && now.0.saturating_sub(self.last_activity.0) >= STALE_AFTER.as_millis() as u64
    }

    /// Whether a party may rate the deal now (feedback, see [`crate::feedback`]): the buyer said
    /// it received the thing, or the deal has stayed at its stage for [`STALE_AFTER`] since it
    /// first got there (a buyer whose payment went unanswered, a seller whose buyer never paid
    /// or never confirmed). Counted from the stage's first step, so signing the same step again
    /// (or any other step) does not hold the other party off. Not for a deal both called off (one the
    /// seller called off alone, unpaid, may be rated by either). A rule
    /// for the party's own node: others cannot see a deal's steps.
    pub fn may_rate(&self, now: Timestamp) -> bool {
        let since = match self.stage() {
            Stage::Completed => return true,
            // Called off by the seller alone, unpaid: a deal that failed, and either may say so.
            Stage::Cancelled => return self.called_off_unpaid(),
            Stage::Agreed => Some(self.made),
            Stage::PaymentRequested => self.firsts.payment,
            Stage::Paid => self.firsts.paid,
            Stage::Shipped => self.firsts.shipped,
        };
        since.is_some_and(|t| now.0.saturating_sub(t.0) >= STALE_AFTER.as_millis() as u64)
    }

    /// Whether `by` may sign `step` now: the rule for the party's own node, before it signs.
    pub fn allows(&self, by: Role, step: &Step) -> Result<(), NotAllowed> {
        if let Some(signer) = step.signer()
            && signer != by
        {
            return Err(NotAllowed::NotYours { signer });
        }
        let stage = self.stage();
        if stage.is_final() {
            return Err(NotAllowed::Final(stage));
        }
        match step {
            // A corrected request is fine until the buyer has paid.
            Step::PaymentRequest(_) if self.paid.is_some() => Err(NotAllowed::AlreadyPaid),
            Step::Paid { .. } if self.payment.is_none() => Err(NotAllowed::NoPaymentRequest),
            Step::Paid { .. } if self.paid.is_some() => Err(NotAllowed::Done("paid")),
            Step::Shipped(_) if self.shipped.is_some() => Err(NotAllowed::Done("shipped")),
            Step::FileKey(_) if self.file_key.is_some() => Err(NotAllowed::Done("the file key")),
            Step::Received if self.received.is_some() => Err(NotAllowed::Done("received")),
            Step::Received if self.shipped.is_none() => Err(NotAllowed::NotShipped),
            // `received` completes the deal, after which `paid` can no longer be said: a buyer
            // asked to pay says it paid first, except in cash, paid as the thing is handed over.
            Step::Received if self.owes_payment() => Err(NotAllowed::NotPaid),
            Step::Cancel => {
                let signed = match by {
                    Role::Seller => self.cancel_seller,
                    Role::Buyer => self.cancel_buyer,
                };
                if signed.is_some() { Err(NotAllowed::CancelAsked) } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }
}

/// Why a party may not sign a step now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAllowed {
    /// The other party signs this step.
    #[error("the {} signs this step, and you are the {}: it is theirs to say", signer.name(), signer.other().name())]
    NotYours {
        /// Who signs it.
        signer: Role,
    },
    /// The deal is complete or cancelled.
    #[error("the deal is {}: no step can follow{}", .0.name(), if *.0 == Stage::Completed { " (feedback can)" } else { "" })]
    Final(Stage),
    /// The buyer has paid: the payment request can no longer change.
    #[error("the buyer has already paid")]
    AlreadyPaid,
    /// No payment request yet: the buyer does not know how to pay.
    #[error(
        "the seller has not said how to pay yet: wait for the payment request (haggle deal shows it when it comes)"
    )]
    NoPaymentRequest,
    /// Not shipped or handed over yet.
    #[error("the seller has not shipped or handed it over yet")]
    NotShipped,
    /// Asked to pay and not said so: `received` would complete the deal unpaid.
    #[error(
        "you have not said you paid: say so first (received completes the deal, and nothing can follow it)"
    )]
    NotPaid,
    /// Already signed.
    #[error("you already signed {0}")]
    Done(&'static str),
    /// This party asked to call the deal off already; the other has not agreed (yet).
    #[error(
        "you asked to call this deal off already: it is off once the other party signs cancel too, \
         and stands until then"
    )]
    CancelAsked,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn step(by: Role, step: Step, at: u64, tie: u64) -> SignedStep {
        SignedStep { by, step, at: Timestamp(at), tie }
    }

    /// The id of a step whose tie-break is `tie`.
    fn id(tie: u64) -> ObjectId {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&tie.to_be_bytes());
        ObjectId::from_bytes(b)
    }

    fn paid(request: u64, reference: Option<&str>) -> Step {
        Step::Paid { request: id(request), reference: reference.map(str::to_owned) }
    }

    fn iban(n: u8) -> PaymentMethod {
        PaymentMethod::Iban { iban: "GB82WEST12345698765432".into(), reference: format!("order {n}") }
    }

    #[test]
    fn a_whole_trade_moves_through_the_stages_and_waits_on_the_right_party() {
        let mut s = DealState::new(Timestamp(0));
        assert_eq!((s.stage(), s.waiting_on()), (Stage::Agreed, Some(Role::Seller)));
        assert_eq!(s.allows(Role::Buyer, &paid(0, None)), Err(NotAllowed::NoPaymentRequest));
        s.apply(&step(Role::Seller, Step::PaymentRequest(iban(1)), 10, 0));
        assert_eq!((s.stage(), s.waiting_on()), (Stage::PaymentRequested, Some(Role::Buyer)));
        assert_eq!(s.allows(Role::Buyer, &Step::Received), Err(NotAllowed::NotShipped));
        s.apply(&step(Role::Buyer, paid(0, Some("ref 77")), 20, 0));
        assert_eq!((s.stage(), s.waiting_on()), (Stage::Paid, Some(Role::Seller)));
        assert_eq!(s.allows(Role::Seller, &Step::PaymentRequest(iban(2))), Err(NotAllowed::AlreadyPaid));
        s.apply(&step(Role::Seller, Step::Shipped(Some("DHL 123".into())), 30, 0));
        assert_eq!((s.stage(), s.waiting_on()), (Stage::Shipped, Some(Role::Buyer)));
        s.apply(&step(Role::Buyer, Step::Received, 40, 0));
        assert_eq!((s.stage(), s.waiting_on()), (Stage::Completed, None));
        assert_eq!(s.allows(Role::Buyer, &Step::Cancel), Err(NotAllowed::Final(Stage::Completed)));
        assert_eq!(
            s.allows(Role::Buyer, &Step::Shipped(None)),
            Err(NotAllowed::NotYours { signer: Role::Seller })
        );
        assert_eq!(
            NotAllowed::NotYours { signer: Role::Seller }.to_string(),
            "the seller signs this step, and you are the buyer: it is theirs to say"
        );
    }

    /// Defect: a buyer asked to pay could say `received` without saying `paid`, completing the
    /// deal with no payment on record, after which `paid` was refused for good.
    #[test]
    fn a_buyer_asked_to_pay_says_paid_before_received() {
        let mut s = DealState::new(Timestamp(0));
        s.apply(&step(Role::Seller, Step::PaymentRequest(iban(1)), 10, 0));
        s.apply(&step(Role::Seller, Step::Shipped(None), 20, 0));
        assert_eq!(s.allows(Role::Buyer, &Step::Received), Err(NotAllowed::NotPaid));
        s.apply(&step(Role::Buyer, paid(0, None), 30, 0));
        assert_eq!(s.allows(Role::Buyer, &Step::Received), Ok(()));
        // Nothing asked, or cash on pickup: received alone completes it.
        let mut free = DealState::new(Timestamp(0));
        free.apply(&step(Role::Seller, Step::Shipped(None), 20, 0));
        assert_eq!(free.allows(Role::Buyer, &Step::Received), Ok(()));
        free.apply(&step(Role::Seller, Step::PaymentRequest(PaymentMethod::Cash), 30, 0));
        assert_eq!(free.allows(Role::Buyer, &Step::Received), Ok(()));
    }

    /// Defect (found in a trial): the seller asked for payment and then shipped while the
    /// buyer's node was away; the "shipped" reached it first (the two travel apart, by mail),
    /// the buyer said "received", and the deal read complete with no payment on record on both
    /// sides, though the seller had asked for one.
    #[test]
    fn a_received_that_overtook_the_payment_request_leaves_the_payment_owed() {
        let request = step(Role::Seller, Step::PaymentRequest(iban(1)), 10, 1);
        let shipped = step(Role::Seller, Step::Shipped(None), 20, 2);
        let received = step(Role::Buyer, Step::Received, 30, 3);
        // The buyer's node before the request arrives: the "received" it signed completes it.
        let mut s = DealState::fold(Timestamp(0), [&shipped]);
        assert_eq!(s.allows(Role::Buyer, &Step::Received), Ok(()));
        s.apply(&received);
        assert_eq!(s.stage(), Stage::Completed);
        // Once the request is in, on either node, the deal waits on the payment.
        s.apply(&request);
        assert!(s.received_unpaid());
        assert_eq!((s.stage(), s.waiting_on()), (Stage::Shipped, Some(Role::Buyer)));
        assert!(!s.may_rate(Timestamp(100)), "not rated as complete");
        assert_eq!(s.allows(Role::Buyer, &Step::Received), Err(NotAllowed::Done("received")));
        assert_eq!(s.allows(Role::Buyer, &paid(1, None)), Ok(()));
        assert_eq!(DealState::fold(Timestamp(0), [&received, &request, &shipped]), s);
        s.apply(&step(Role::Buyer, paid(1, None), 40, 4));
        assert!(!s.received_unpaid());
        assert_eq!((s.stage(), s.waiting_on()), (Stage::Completed, None));
        // A request signed after the "received" asks too late; one for cash is paid on handover,
        // and a request by other means signed after the "received" does not change that (found
        // in a review: the earliest request's date decided, whatever its method).
        let late = step(Role::Seller, Step::PaymentRequest(iban(2)), 31, 5);
        assert_eq!(DealState::fold(Timestamp(0), [&shipped, &received, &late]).stage(), Stage::Completed);
        let cash = step(Role::Seller, Step::PaymentRequest(PaymentMethod::Cash), 10, 6);
        assert_eq!(DealState::fold(Timestamp(0), [&cash, &shipped, &received]).stage(), Stage::Completed);
        assert_eq!(
            DealState::fold(Timestamp(0), [&late, &cash, &shipped, &received]).stage(),
            Stage::Completed
        );
        // A cash request replaced by a transfer before the "received" leaves the transfer owed.
        let transfer = step(Role::Seller, Step::PaymentRequest(iban(3)), 15, 9);
        let owed = DealState::fold(Timestamp(0), [&cash, &transfer, &shipped, &received]);
        assert!(owed.received_unpaid(), "the request in force when the buyer signed");
        assert_eq!(owed.allows(Role::Buyer, &Step::Received), Err(NotAllowed::Done("received")));
        // A free deal takes no request or payment at all.
        assert_eq!(
            DealState::check_price(&Step::PaymentRequest(iban(1)), 0),
            Err(StepError::Free("payment_request"))
        );
        assert_eq!(DealState::check_price(&paid(1, None), 0), Err(StepError::Free("paid")));
        assert_eq!(DealState::check_price(&Step::Received, 0), Ok(()));
        assert_eq!(DealState::check_price(&Step::PaymentRequest(iban(1)), 500), Ok(()));
        // A cancellation both signed still wins.
        let cancels = [step(Role::Seller, Step::Cancel, 35, 7), step(Role::Buyer, Step::Cancel, 36, 8)];
        let all = [&request, &shipped, &received, &cancels[0], &cancels[1]];
        assert_eq!(DealState::fold(Timestamp(0), all).stage(), Stage::Cancelled);
    }

    /// Defect: the deal's next step ignored how payment was asked for: a cash deal waited on
    /// the buyer to pay before the handover, and a buyer sent the thing before paying was told
    /// to say it arrived (which is refused until it says it paid).
    #[test]
    fn who_moves_next_follows_how_payment_was_asked_for() {
        let mut cash = DealState::new(Timestamp(0));
        cash.apply(&step(Role::Seller, Step::PaymentRequest(PaymentMethod::Cash), 10, 0));
        assert_eq!((cash.stage(), cash.waiting_on()), (Stage::PaymentRequested, Some(Role::Seller)));
        assert!(!cash.owes_payment());
        cash.apply(&step(Role::Seller, Step::Shipped(None), 20, 0));
        assert_eq!(cash.waiting_on(), Some(Role::Buyer));
        assert_eq!(cash.allows(Role::Buyer, &Step::Received), Ok(()));

        let mut bank = DealState::new(Timestamp(0));
        bank.apply(&step(Role::Seller, Step::PaymentRequest(iban(1)), 10, 0));
        assert_eq!(bank.waiting_on(), Some(Role::Buyer));
        bank.apply(&step(Role::Seller, Step::Shipped(None), 20, 0));
        assert!(bank.owes_payment(), "sent before it was paid for: the buyer pays first");
        assert_eq!(bank.waiting_on(), Some(Role::Buyer));
        bank.apply(&step(Role::Buyer, paid(0, None), 30, 0));
        assert!(!bank.owes_payment());
    }

    #[test]
    fn step_texts_are_single_printable_lines() {
        assert!(check(&step(Role::Buyer, paid(0, Some("ok\u{7}")), 1, 0)).is_err());
        assert!(check(&step(Role::Seller, Step::Shipped(Some("line\nbreak".into())), 1, 0)).is_err());
    }

    #[test]
    fn a_cancellation_needs_both_signatures_and_wins_over_a_received_that_crossed_it() {
        let mut s = DealState::new(Timestamp(0));
        s.apply(&step(Role::Seller, Step::Shipped(None), 4, 0));
        s.apply(&step(Role::Buyer, Step::Cancel, 5, 0));
        assert_eq!((s.stage(), s.waiting_on()), (Stage::Shipped, Some(Role::Seller)));
        assert_eq!(s.allows(Role::Buyer, &Step::Cancel), Err(NotAllowed::CancelAsked));
        assert_eq!(s.cancel_asked_by(), Some(Role::Buyer), "asked, and standing until the seller agrees");
        // The buyer who asked may still say it received the thing: until the seller agrees, that
        // completes the deal.
        let mut received = s.clone();
        assert_eq!(received.allows(Role::Buyer, &Step::Received), Ok(()));
        received.apply(&step(Role::Buyer, Step::Received, 7, 0));
        assert_eq!((received.stage(), received.cancel_asked_by()), (Stage::Completed, None));
        s.apply(&step(Role::Seller, Step::Cancel, 6, 0));
        assert_eq!((s.stage(), s.cancel_asked_by()), (Stage::Cancelled, None));
        // A received that crossed the seller's agreement does not bring the deal back, in either
        // order: the seller's node has given the thing back to its listing.
        s.apply(&step(Role::Buyer, Step::Received, 7, 0));
        assert_eq!(s.stage(), Stage::Cancelled, "a cancellation both signed is final");
        received.apply(&step(Role::Seller, Step::Cancel, 6, 0));
        assert_eq!(received, s);
        assert!(!s.may_rate(Timestamp(u64::MAX / 2)), "nobody rates a deal both called off");
    }

    #[test]
    fn steps_signed_by_the_wrong_party_or_with_bad_details_are_refused() {
        assert_eq!(
            check(&step(Role::Buyer, Step::Shipped(None), 1, 0)),
            Err(StepError::WrongParty(Role::Seller, "shipped"))
        );
        assert!(check(&step(Role::Seller, Step::Received, 1, 0)).is_err());
        assert!(check(&step(Role::Buyer, Step::Dispute(" ".into()), 1, 0)).is_err());
        assert!(
            check(&step(Role::Buyer, Step::Paid { request: id(0), reference: Some("x".repeat(501)) }, 1, 0))
                .is_err()
        );
        let bad_iban =
            PaymentMethod::Iban { iban: "GB82WEST12345698765431".into(), reference: String::new() };
        assert!(matches!(
            check(&step(Role::Seller, Step::PaymentRequest(bad_iban), 1, 0)),
            Err(StepError::Payment(_))
        ));
        assert_eq!(check(&step(Role::Seller, Step::Dispute("never paid".into()), 1, 0)), Ok(()));
    }

    #[test]
    fn a_deal_may_be_rated_when_received_or_held_at_one_stage_for_two_weeks() {
        let day = 86_400_000;
        let made = Timestamp::from_millis(1_000 * day);
        let at = |d: u64| Timestamp::from_millis(made.0 + d * day);
        let step = |by, step, d, tie| SignedStep { by, step, at: at(d), tie };
        let agreed = DealState::new(made);
        assert!(!agreed.may_rate(at(13)) && agreed.may_rate(at(14)), "a buyer who never paid");
        // Paid on day 1; the seller signs a payment request every ten days, never shipping.
        let mut steps = vec![
            step(Role::Seller, Step::PaymentRequest(PaymentMethod::Cash), 0, 1),
            step(Role::Buyer, paid(1, None), 1, 2),
        ];
        for (i, d) in [10, 20, 30].into_iter().enumerate() {
            steps.push(step(Role::Seller, Step::Dispute("wait".into()), d, 10 + i as u64));
        }
        let held_off = DealState::fold(made, &steps);
        assert_eq!(held_off.stage(), Stage::Paid);
        assert!(!held_off.may_rate(at(14)) && held_off.may_rate(at(15)), "counted from the payment");
        steps.push(step(Role::Buyer, Step::Received, 16, 99));
        assert!(DealState::fold(made, &steps).may_rate(at(16)));
        let cancelled = DealState::fold(
            made,
            &[step(Role::Seller, Step::Cancel, 1, 1), step(Role::Buyer, Step::Cancel, 1, 2)],
        );
        assert!(!cancelled.may_rate(at(100)));
    }

    /// From a trial: a stranger booked every night of a calendar at once and never paid, and the
    /// owner could not get the nights back without the stranger's agreement.
    #[test]
    fn a_seller_calls_off_alone_a_deal_the_buyer_did_not_pay_within_three_days() {
        let day = 86_400_000;
        let made = Timestamp::from_millis(1_000 * day);
        let at = |d: u64| Timestamp::from_millis(made.0 + d * day);
        let step = |by, step, d: u64, tie| SignedStep { by, step, at: at(d), tie };
        let asked = step(Role::Seller, Step::PaymentRequest(iban(1)), 1, 1);
        let early = step(Role::Seller, Step::Cancel, 3, 2);
        let lapsed = step(Role::Seller, Step::Cancel, 4, 3);
        let state = DealState::fold(made, [&asked]);
        assert_eq!(state.pay_by(), Some(at(4)));
        assert!(!state.may_call_off(Timestamp::from_millis(at(4).0 - 1)) && state.may_call_off(at(4)));
        // Asked before the three days: a cancel asked, as ever.
        let state = DealState::fold(made, [&asked, &early]);
        assert_eq!((state.stage(), state.cancel_asked_by()), (Stage::PaymentRequested, Some(Role::Seller)));
        assert!(state.may_call_off(at(4)), "a second cancel, once the three days are over");
        // Signed once they were over: off, in any order, and either may rate the failed deal.
        for steps in [vec![&asked, &early, &lapsed], vec![&lapsed, &asked], vec![&early, &lapsed, &asked]] {
            let state = DealState::fold(made, steps);
            assert_eq!(state.stage(), Stage::Cancelled);
            assert!(state.called_off_unpaid() && state.may_rate(at(4)) && state.pay_by().is_none());
        }
        // A payment said holds the deal: the seller's node does not call it off alone. One that
        // crossed the call-off, or a `paid` or `received` dated back, does not bring it back:
        // the call-off is final, as a cancellation both signed is.
        let paid_before = step(Role::Buyer, paid(1, None), 3, 4);
        let state = DealState::fold(made, [&asked, &paid_before]);
        assert!(!state.may_call_off(at(5)) && state.pay_by().is_none());
        let received_back = step(Role::Buyer, Step::Received, 2, 8);
        let paid_after = step(Role::Buyer, paid(1, None), 5, 4);
        for late in [&paid_before, &received_back, &paid_after] {
            let state = DealState::fold(made, [&asked, &lapsed, late]);
            assert!(state.stage() == Stage::Cancelled && state.called_off_unpaid(), "{late:?}");
        }
        // A request dated before the deal counts from the deal.
        let before = SignedStep {
            by: Role::Seller,
            step: Step::PaymentRequest(iban(3)),
            at: at(0).saturating_sub(std::time::Duration::from_secs(4 * 86_400)),
            tie: 9,
        };
        let early_alone = step(Role::Seller, Step::Cancel, 1, 10);
        assert_eq!(DealState::fold(made, [&before, &early_alone]).stage(), Stage::PaymentRequested);
        assert_eq!(DealState::fold(made, [&before]).pay_by(), Some(at(3)));
        // Handed over, or asked in cash (paid on handover): no lone cancel.
        let shipped = step(Role::Seller, Step::Shipped(None), 2, 5);
        assert_eq!(DealState::fold(made, [&asked, &shipped, &lapsed]).stage(), Stage::Shipped);
        let cash = step(Role::Seller, Step::PaymentRequest(PaymentMethod::Cash), 1, 1);
        let state = DealState::fold(made, [&cash, &lapsed]);
        assert_eq!((state.stage(), state.pay_by()), (Stage::PaymentRequested, None));
        // A corrected request starts the three days again.
        let corrected = step(Role::Seller, Step::PaymentRequest(iban(2)), 2, 6);
        assert_eq!(DealState::fold(made, [&asked, &corrected, &lapsed]).stage(), Stage::PaymentRequested);
        assert_eq!(DealState::fold(made, [&asked, &corrected]).pay_by(), Some(at(5)));
        // The buyer's lone cancel is only asked.
        let buyers = step(Role::Buyer, Step::Cancel, 9, 7);
        assert_eq!(DealState::fold(made, [&asked, &buyers]).stage(), Stage::PaymentRequested);
    }

    #[test]
    fn a_seller_calls_off_alone_a_payment_it_disputed_that_never_came() {
        let day = 86_400_000;
        let made = Timestamp::from_millis(1_000 * day);
        let at = |d: u64| Timestamp::from_millis(made.0 + d * day);
        let step = |by, step, d: u64, tie| SignedStep { by, step, at: at(d), tie };
        let asked = step(Role::Seller, Step::PaymentRequest(iban(1)), 1, 1);
        let said_paid = step(Role::Buyer, paid(1, Some("sent")), 2, 2);
        let state = DealState::fold(made, [&asked, &said_paid]);
        assert_eq!(state.disputed_payment_until(), None, "no dispute: the payment holds the deal");
        assert!(!state.may_call_off(at(30)));
        // A dispute of the buyer's, or one of the seller's before the payment, starts nothing.
        let buyers = step(Role::Buyer, Step::Dispute("where is it".into()), 3, 3);
        let before = step(Role::Seller, Step::Dispute("slow".into()), 1, 4);
        assert_eq!(
            DealState::fold(made, [&asked, &said_paid, &buyers, &before]).disputed_payment_until(),
            None
        );
        // The seller's dispute after it: seven days, then a lone cancel, which stands.
        let disputed = step(Role::Seller, Step::Dispute("nothing came".into()), 4, 5);
        let state = DealState::fold(made, [&asked, &said_paid, &disputed]);
        assert_eq!(state.disputed_payment_until(), Some(at(11)));
        assert!(!state.may_call_off(Timestamp::from_millis(at(11).0 - 1)) && state.may_call_off(at(11)));
        let off = step(Role::Seller, Step::Cancel, 11, 6);
        let state = DealState::fold(made, [&asked, &said_paid, &disputed, &off]);
        assert!(state.stage() == Stage::Cancelled && state.called_off_unpaid() && state.may_rate(at(11)));
        assert_eq!(state.disputed_payment_until(), None);
        // Handed over, or received, or asked in cash: no call-off.
        let shipped = step(Role::Seller, Step::Shipped(None), 5, 7);
        let received = step(Role::Buyer, Step::Received, 5, 8);
        for held in [&shipped, &received] {
            let state = DealState::fold(made, [&asked, &said_paid, &disputed, held]);
            assert!(!state.may_call_off(at(30)) && state.disputed_payment_until().is_none(), "{held:?}");
        }
        let cash = step(Role::Seller, Step::PaymentRequest(PaymentMethod::Cash), 1, 1);
        let cash_paid = SignedStep { step: paid(1, None), ..said_paid.clone() };
        let state = DealState::fold(made, [&cash, &cash_paid, &disputed]);
        assert!(!state.may_call_off(at(30)) && state.disputed_payment_until().is_none());
        // A second `paid` (no honest node signs one) does not start the days again.
        let again = step(Role::Buyer, paid(1, Some("sent again")), 6, 9);
        let state = DealState::fold(made, [&asked, &said_paid, &disputed, &again]);
        assert_eq!(state.disputed_payment_until(), Some(at(11)));
        // A `paid` dated a minute after a prompt dispute (the buyer's clock ahead) still counts
        // the dispute.
        let ahead = SignedStep { at: Timestamp::from_millis(at(4).0 + 60_000), ..said_paid.clone() };
        assert_eq!(DealState::fold(made, [&asked, &ahead, &disputed]).disputed_payment_until(), Some(at(11)));
        // Called off so, the call-off says why; one of a deal left unpaid whose `paid` crossed
        // it does not.
        let state = DealState::fold(made, [&asked, &said_paid, &disputed, &off]);
        assert!(state.called_off_disputed());
        let crossed = step(Role::Buyer, paid(1, None), 5, 10);
        let lapsed = step(Role::Seller, Step::Cancel, 4, 11);
        let state = DealState::fold(made, [&asked, &lapsed, &crossed]);
        assert!(state.called_off_unpaid() && !state.called_off_disputed());
        // Past the request's days but not the dispute's, a cancel of the seller's would stand
        // alone by the fold: its node must not sign it (see `may_call_off`).
        let state = DealState::fold(made, [&asked, &said_paid, &disputed]);
        assert!(state.cancel_stands_alone(at(5)) && !state.may_call_off(at(5)));
    }

    #[test]
    fn a_request_signed_after_payment_does_not_replace_the_one_paid() {
        let mut s = DealState::new(Timestamp(0));
        s.apply(&step(Role::Seller, Step::PaymentRequest(iban(1)), 10, 7));
        s.apply(&step(Role::Buyer, paid(7, Some("sent")), 20, 8));
        // A modified seller's node signs another request after the payment (a different IBAN),
        // and it arrives first on some node: the payment still shows what was paid.
        let late = step(Role::Seller, Step::PaymentRequest(iban(2)), 30, 9);
        s.apply(&late);
        assert_eq!(s.payment.as_ref().map(|p| &p.0), Some(&iban(1)));
        let mut other = DealState::new(Timestamp(0));
        other.apply(&late);
        assert_eq!(other.payment.as_ref().map(|p| &p.0), Some(&iban(2)), "before payment: the latest");
        other.apply(&step(Role::Buyer, paid(7, Some("sent")), 20, 8));
        other.apply(&step(Role::Seller, Step::PaymentRequest(iban(1)), 10, 7));
        assert_eq!(other, s);
    }

    #[test]
    fn a_deal_without_steps_for_two_weeks_is_stale_unless_final() {
        let day = 24 * 3_600 * 1_000;
        let mut s = DealState::new(Timestamp(0));
        assert!(!s.is_stale(Timestamp(13 * day)));
        assert!(s.is_stale(Timestamp(14 * day)));
        s.apply(&step(Role::Seller, Step::PaymentRequest(PaymentMethod::Cash), 10 * day, 0));
        assert!(!s.is_stale(Timestamp(14 * day)), "a step resets the clock");
        s.apply(&step(Role::Seller, Step::Shipped(None), 11 * day, 0));
        s.apply(&step(Role::Buyer, Step::Received, 11 * day, 0));
        assert!(!s.is_stale(Timestamp(100 * day)));
    }

    /// The tie-break of a step: its object id's prefix, the same for the same step and
    /// different for different ones (here a hash of its content and time).
    fn tie(by: Role, s: &Step, at: u64) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (by, format!("{s:?}"), at).hash(&mut h);
        h.finish()
    }

    fn any_step() -> impl Strategy<Value = SignedStep> {
        // A payment names the request for one of the IBANs at one of the times steps use, so it
        // sometimes names a request the set holds and sometimes one it does not.
        let named = |n: u8, at: u64| id(tie(Role::Seller, &Step::PaymentRequest(iban(n)), at));
        let kind = prop_oneof![
            (0u8..3).prop_map(|n| (Role::Seller, Step::PaymentRequest(iban(n)))),
            Just((Role::Seller, Step::PaymentRequest(PaymentMethod::Cash))),
            (prop::option::of("[a-z]{0,4}"), 0u8..3, 0u64..8).prop_map(move |(r, n, at)| {
                (Role::Buyer, Step::Paid { request: named(n, at), reference: r })
            }),
            prop::option::of("[a-z]{0,4}").prop_map(|t| (Role::Seller, Step::Shipped(t))),
            Just((Role::Buyer, Step::Received)),
            Just((Role::Buyer, Step::Cancel)),
            Just((Role::Seller, Step::Cancel)),
            ("[a-z]{1,4}", any::<bool>())
                .prop_map(|(r, seller)| (if seller { Role::Seller } else { Role::Buyer }, Step::Dispute(r))),
        ];
        // Half days apart, so the 3 days a payment request gives pass within a set (a seller's
        // cancel alone may stand).
        (kind, 0u64..8).prop_map(|((by, s), at)| {
            let tie = tie(by, &s, at);
            step(by, s, at * 43_200_000, tie)
        })
    }

    proptest! {
        /// Two nodes that took in the same steps in any order, any of them any number of times,
        /// show the same state.
        #[test]
        fn the_state_is_the_same_from_any_arrival_order(
            steps in prop::collection::vec(any_step(), 0..12),
            order in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        ) {
            let a = DealState::fold(Timestamp(0), &steps);
            // Another node: a shuffled order with repeats, then everything once more.
            let mut b = DealState::new(Timestamp(0));
            if !steps.is_empty() {
                for i in &order {
                    b.apply(&steps[i.index(steps.len())]);
                }
            }
            for s in steps.iter().rev() {
                b.apply(s);
            }
            prop_assert_eq!(a.stage(), b.stage());
            prop_assert_eq!(a.waiting_on(), b.waiting_on());
            prop_assert_eq!(&a.payment, &b.payment);
            prop_assert_eq!(&a.paid, &b.paid);
            prop_assert_eq!(&a.shipped, &b.shipped);
            prop_assert_eq!(&a.disputes, &b.disputes);
            prop_assert_eq!(a, b);
        }

        /// A deal called off stays called off whatever step of the buyer's comes after, dated
        /// whenever: a cancellation both signed, or the seller's alone once the buyer had not paid
        /// in time (the nights or quantity given back may be promised again at once). (The
        /// seller's own steps are its node's: it calls off alone only going by every request and
        /// handover of its own.)
        #[test]
        fn a_deal_called_off_stays_called_off(
            steps in prop::collection::vec(any_step(), 0..12),
            more in prop::collection::vec(any_step(), 1..4),
        ) {
            let before = DealState::fold(Timestamp(0), &steps);
            if before.stage() == Stage::Cancelled {
                let buyers = more.iter().filter(|s| s.by == Role::Buyer);
                let after = DealState::fold(Timestamp(0), steps.iter().chain(buyers));
                prop_assert_eq!(after.stage(), Stage::Cancelled);
            }
        }

        /// A step a node's own rules allow moves the deal forward or keeps it where it was,
        /// never back.
        #[test]
        fn allowed_steps_never_move_the_deal_back(steps in prop::collection::vec(any_step(), 0..12)) {
            let rank = |s: Stage| match s {
                Stage::Agreed => 0, Stage::PaymentRequested => 1, Stage::Paid => 2,
                Stage::Shipped => 3, Stage::Completed | Stage::Cancelled => 4,
            };
            let mut state = DealState::new(Timestamp(0));
            for s in &steps {
                if state.allows(s.by, &s.step).is_ok() {
                    let before = state.stage();
                    state.apply(s);
                    prop_assert!(rank(state.stage()) >= rank(before), "{:?} -> {:?}", before, state.stage());
                }
            }
        }
    }
}
