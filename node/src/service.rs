//! The owner's actions: build, sign and store listings and negotiation messages. Blocking code
//! (it writes to the store); the API runs it on tokio's blocking pool.
//!
//! Each action returns what the network must do next: gossip a listing revision, or deliver a
//! negotiation message to the other party.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use haggle_protocol::{
    Accept, AmountError, Body, Counter, Currency, Deal, Decline, Envelope, IdPrefix, Listing, ListingKind,
    ListingStatus, Location, Object, ObjectId, Offer, Period, Price, PublicKey, Reply, SecretKey, SignError,
    Terms, Timestamp, Verified, Withdraw, new_nonce,
};
use haggle_storage::{Lookup, Outcome, RejectReason, Store, StoreError, ThreadRecord};

/// A listing lives 30 days unless the person says otherwise.
pub const DEFAULT_LISTING_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// Proposals (offers and counters) stand for 3 days unless the person says otherwise.
pub const DEFAULT_PROPOSAL_LIFETIME: Duration = Duration::from_secs(3 * 86_400);
/// A tombstone lives as long as any revision can, so it outlives every earlier revision.
const TOMBSTONE_LIFETIME: Duration = Duration::from_secs(90 * 86_400);

/// Why an action could not be done. Each says what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("no {what} matches `{given}`")]
    NotFound { what: &'static str, given: String },
    #[error("`{given}` matches several objects: {}; type more characters", candidates.iter().map(|c| c.fmt_short()).collect::<Vec<_>>().join(", "))]
    Ambiguous { given: String, candidates: Vec<ObjectId> },
    #[error(transparent)]
    BadId(#[from] haggle_protocol::ParseIdError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not yours: only its author can change it")]
    NotYours(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Amount(#[from] AmountError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    fn invalid(message: impl Into<String>) -> Self {
        ServiceError::Invalid(message.into())
    }
}

/// The fields of a new listing, as the API receives them (prices as decimal text).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListingDraft {
    /// sell, wanted, service, rental or giveaway.
    pub kind: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub tags: Vec<String>,
    /// Decimal amount, e.g. "120" or "12.50".
    pub price: Option<String>,
    pub currency: Option<String>,
    /// hour, day, week or month.
    pub per: Option<String>,
    pub quantity: Option<u32>,
    pub location: Option<String>,
    pub geohash: Option<String>,
    pub payment: Vec<String>,
    pub delivery: Option<String>,
    /// Lifetime in seconds (default 30 days, at most 90).
    pub expires_in: Option<u64>,
}

/// Changes to a listing; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListingPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub price: Option<String>,
    pub currency: Option<String>,
    pub per: Option<String>,
    pub quantity: Option<u32>,
    pub location: Option<String>,
    pub geohash: Option<String>,
    pub payment: Option<Vec<String>>,
    pub delivery: Option<String>,
}

/// Proposed terms, as the API receives them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TermsDraft {
    /// Decimal amount for the whole quantity; required except on giveaways.
    pub price: Option<String>,
    pub currency: Option<String>,
    pub quantity: Option<u32>,
    pub message: String,
    /// Seconds the proposal stands (default 3 days).
    pub expires_in: Option<u64>,
}

/// What the network must do after an action.
#[derive(Debug)]
pub struct Effect {
    /// The object the action signed and stored.
    pub object: Verified<Object>,
    /// A listing revision to gossip (the new listing itself, or the next revision after a deal).
    pub publish: Vec<Vec<u8>>,
    /// The party to deliver `object` to (negotiation messages).
    pub deliver_to: Option<PublicKey>,
    /// A deal this action completed.
    pub deal: Option<ObjectId>,
}

/// The owner's side of the node: the store and the signing key.
#[derive(Debug, Clone)]
pub struct Service {
    pub(crate) store: Arc<Store>,
    pub(crate) key: Arc<SecretKey>,
}

impl Service {
    pub fn new(store: Arc<Store>, key: Arc<SecretKey>) -> Self {
        Service { store, key }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn me(&self) -> PublicKey {
        self.key.public()
    }

    /// Finds the object an id or id prefix names.
    pub fn resolve(&self, given: &str, what: &'static str) -> Result<ObjectId, ServiceError> {
        let prefix: IdPrefix = given.parse()?;
        match self.store.lookup(&prefix)? {
            Lookup::One(id) => Ok(id),
            Lookup::None => Err(ServiceError::NotFound { what, given: given.to_owned() }),
            Lookup::Ambiguous(candidates) => {
                Err(ServiceError::Ambiguous { given: given.to_owned(), candidates })
            }
        }
    }

    /// The current revision of the listing that `given` names (any revision's id works).
    pub fn listing(&self, given: &str) -> Result<Object, ServiceError> {
        let not_found = || ServiceError::NotFound { what: "listing", given: given.to_owned() };
        let id = self.resolve(given, "listing")?;
        let object = self.store.get(&id)?.ok_or_else(not_found)?;
        let key = object.listing_key().ok_or_else(not_found)?;
        self.store.listing(&key)?.ok_or_else(not_found)
    }

    /// A thread by the id (or prefix) of any of its messages.
    pub fn thread(&self, given: &str) -> Result<ThreadRecord, ServiceError> {
        let not_found = || ServiceError::NotFound { what: "offer thread", given: given.to_owned() };
        let id = self.resolve(given, "offer thread")?;
        let object = self.store.get(&id)?.ok_or_else(not_found)?;
        let thread = match object.body() {
            Body::Offer(_) => object.id(),
            body => body.reply().map(|r| r.thread).ok_or_else(not_found)?,
        };
        self.store.thread(&thread)?.ok_or_else(not_found)
    }

    pub fn publish(&self, draft: ListingDraft) -> Result<Effect, ServiceError> {
        let now = Timestamp::now();
        let kind: ListingKind = draft.kind.parse().map_err(ServiceError::Invalid)?;
        let lifetime = draft.expires_in.map_or(DEFAULT_LISTING_LIFETIME, Duration::from_secs);
        let price = price(kind, draft.price.as_deref(), draft.currency.as_deref(), draft.per.as_deref())?;
        let listing = Listing {
            nonce: new_nonce(),
            revision: 1,
            kind,
            status: ListingStatus::Active,
            title: draft.title,
            description: draft.description,
            category: draft.category,
            tags: draft.tags,
            price,
            quantity: draft.quantity.unwrap_or(1),
            location: Location { text: draft.location.unwrap_or_default(), geohash: draft.geohash },
            payment: draft.payment,
            delivery: draft.delivery.unwrap_or_default(),
            expires_at: now.saturating_add(lifetime),
        };
        self.store_listing(listing, now)
    }

    /// A new revision of one of the owner's listings with `patch` applied.
    pub fn update(&self, given: &str, patch: ListingPatch) -> Result<Effect, ServiceError> {
        let (current, mut listing) = self.own_listing(given)?;
        let now = Timestamp::now();
        if let Some(v) = patch.title {
            listing.title = v;
        }
        if let Some(v) = patch.description {
            listing.description = v;
        }
        if let Some(v) = patch.category {
            listing.category = v;
        }
        if let Some(v) = patch.tags {
            listing.tags = v;
        }
        if patch.price.is_some() || patch.currency.is_some() || patch.per.is_some() {
            let old = listing.price.clone();
            let amount = match (&patch.price, &old) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(old)) => Some(format_amount(old)),
                (None, None) => None,
            };
            let currency = patch.currency.clone().or_else(|| old.as_ref().map(|p| p.currency.to_string()));
            let per =
                patch.per.clone().or_else(|| old.as_ref().and_then(|p| p.per).map(|p| p.as_str().to_owned()));
            listing.price = price(listing.kind, amount.as_deref(), currency.as_deref(), per.as_deref())?;
        }
        if let Some(v) = patch.quantity {
            listing.quantity = v;
        }
        if let Some(v) = patch.location {
            listing.location.text = v;
        }
        if patch.geohash.is_some() {
            listing.location.geohash = patch.geohash.filter(|g| !g.is_empty());
        }
        if let Some(v) = patch.payment {
            listing.payment = v;
        }
        if let Some(v) = patch.delivery {
            listing.delivery = v;
        }
        listing.revision = next_revision(&current)?;
        self.store_listing(listing, now)
    }

    /// Extends one of the owner's listings by `lifetime` from now.
    pub fn renew(&self, given: &str, lifetime: Option<Duration>) -> Result<Effect, ServiceError> {
        let (current, mut listing) = self.own_listing(given)?;
        let now = Timestamp::now();
        listing.revision = next_revision(&current)?;
        listing.expires_at = now.saturating_add(lifetime.unwrap_or(DEFAULT_LISTING_LIFETIME));
        self.store_listing(listing, now)
    }

    /// Closes one of the owner's listings with a signed tombstone.
    pub fn retract(&self, given: &str) -> Result<Effect, ServiceError> {
        let (current, mut listing) = self.own_listing(given)?;
        let now = Timestamp::now();
        listing.revision = next_revision(&current)?;
        listing.status = ListingStatus::Closed;
        listing.expires_at = now.saturating_add(TOMBSTONE_LIFETIME);
        self.store_listing(listing, now)
    }

    fn own_listing(&self, given: &str) -> Result<(Object, Listing), ServiceError> {
        let current = self.listing(given)?;
        if current.author() != self.me() {
            return Err(ServiceError::NotYours(format!("listing {}", current.id().fmt_short())));
        }
        let listing = current.listing().expect("resolved to a listing").clone();
        if listing.status == ListingStatus::Closed {
            return Err(ServiceError::Conflict(format!("listing {} is closed", current.id().fmt_short())));
        }
        Ok((current, listing))
    }

    fn store_listing(&self, listing: Listing, now: Timestamp) -> Result<Effect, ServiceError> {
        let object = self.sign(Body::Listing(listing), now)?;
        self.ingest_own(&object)?;
        Ok(Effect { publish: vec![object.bytes().to_vec()], object, deliver_to: None, deal: None })
    }

    /// Makes an offer on someone else's listing.
    pub fn offer(&self, given: &str, draft: TermsDraft) -> Result<Effect, ServiceError> {
        let listing = self.listing(given)?;
        let l = listing.listing().expect("a listing");
        if listing.author() == self.me() {
            return Err(ServiceError::Conflict("that is your own listing".into()));
        }
        if l.status == ListingStatus::Closed {
            return Err(ServiceError::Conflict(format!("listing {} is closed", listing.id().fmt_short())));
        }
        let now = Timestamp::now();
        if l.expires_at <= now {
            return Err(ServiceError::Conflict(format!("listing {} has expired", listing.id().fmt_short())));
        }
        let default_currency = l.price.as_ref().map(|p| p.currency.clone());
        let (terms, message) = terms(draft, l.kind, default_currency, None, now)?;
        let body = Body::Offer(Offer { listing: listing.id(), to: listing.author(), terms, message });
        self.negotiate(body, now)
    }

    /// Answers the other party's latest terms with new ones.
    pub fn counter(&self, given: &str, draft: TermsDraft) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        let head = self.their_terms(&thread, "counter")?;
        let now = Timestamp::now();
        let kind =
            thread.listing.as_ref().and_then(|l| l.listing().map(|l| l.kind)).unwrap_or(ListingKind::Sell);
        let current = &thread.view.terms;
        let (terms, message) = terms(draft, kind, Some(current.price.currency.clone()), Some(current), now)?;
        let body = Body::Counter(Counter { reply: self.reply_to(&thread, head), terms, message });
        self.negotiate(body, now)
    }

    /// Accepts the other party's latest terms.
    pub fn accept(&self, given: &str) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        let head = self.their_terms(&thread, "accept")?;
        self.negotiate(Body::Accept(Accept { reply: self.reply_to(&thread, head) }), Timestamp::now())
    }

    /// Refuses the other party's latest terms, ending the thread.
    pub fn decline(&self, given: &str, message: String) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        let head = self.their_terms(&thread, "decline")?;
        self.negotiate(
            Body::Decline(Decline { reply: self.reply_to(&thread, head), message }),
            Timestamp::now(),
        )
    }

    /// Takes back the owner's own latest terms, ending the thread.
    pub fn withdraw(&self, given: &str, message: String) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        self.open(&thread)?;
        if thread.view.proposer != self.me() {
            return Err(ServiceError::Conflict(
                "the terms on the table are the other party's: decline them instead of withdrawing".into(),
            ));
        }
        let head = thread.view.head();
        self.negotiate(
            Body::Withdraw(Withdraw { reply: self.reply_to(&thread, head), message }),
            Timestamp::now(),
        )
    }

    fn open(&self, thread: &ThreadRecord) -> Result<(), ServiceError> {
        let me = self.me();
        if thread.view.offerer != me && thread.view.listing_author != me {
            return Err(ServiceError::NotYours(format!("thread {}", thread.view.thread.fmt_short())));
        }
        if thread.view.state.is_final() {
            return Err(ServiceError::Conflict(format!(
                "thread {} is {}; nothing more can be said in it",
                thread.view.thread.fmt_short(),
                thread.view.state.as_str()
            )));
        }
        Ok(())
    }

    /// The head of an open thread whose terms the other party proposed.
    fn their_terms(&self, thread: &ThreadRecord, action: &str) -> Result<ObjectId, ServiceError> {
        self.open(thread)?;
        if thread.view.proposer == self.me() {
            return Err(ServiceError::Conflict(format!(
                "the terms on the table are your own; wait for the other party (you cannot {action} them)"
            )));
        }
        Ok(thread.view.head())
    }

    fn reply_to(&self, thread: &ThreadRecord, prev: ObjectId) -> Reply {
        let me = self.me();
        let to = if thread.view.offerer == me { thread.view.listing_author } else { thread.view.offerer };
        Reply { thread: thread.view.thread, prev, to }
    }

    fn negotiate(&self, body: Body, now: Timestamp) -> Result<Effect, ServiceError> {
        let to = body.recipient();
        let object = self.sign(body, now)?;
        let deal = self.ingest_own(&object)?;
        let mut publish = Vec::new();
        if let Some(deal) = deal
            && let Some(next) = self.after_deal(&deal)?
        {
            publish.push(next.bytes().to_vec());
        }
        Ok(Effect { object, publish, deliver_to: to, deal })
    }

    fn sign(&self, body: Body, now: Timestamp) -> Result<Verified<Object>, ServiceError> {
        let envelope = Envelope { created_at: now, ..Envelope::new(self.me(), body) };
        Ok(envelope.sign(&self.key, now)?)
    }

    /// Stores the owner's object; returns the deal it completed, if any.
    fn ingest_own(&self, object: &Verified<Object>) -> Result<Option<ObjectId>, ServiceError> {
        match self.store.ingest_own(object)? {
            Outcome::New { deal, .. } => Ok(deal),
            Outcome::Duplicate { .. } => Ok(None),
            Outcome::Stale { .. } => {
                Err(ServiceError::Conflict("a newer revision of this listing exists".into()))
            }
            Outcome::Rejected(r) => Err(match r.reason {
                RejectReason::QuantityExceeded { requested, remaining } => ServiceError::Conflict(format!(
                    "only {remaining} left (after deals and your open counter-offers); {requested} asked"
                )),
                RejectReason::Decode(e) => ServiceError::Invalid(e.to_string()),
                other => ServiceError::Conflict(other.to_string()),
            }),
        }
    }

    /// After a deal on one of the owner's listings: signs and stores the next revision with the
    /// quantity down, or closed when none is left. Returns it for gossip; `None` if the listing
    /// is someone else's (their node does this) or already closed.
    pub fn after_deal(&self, deal_id: &ObjectId) -> Result<Option<Verified<Object>>, ServiceError> {
        let Some(deal) = self.store.deal(deal_id)? else { return Ok(None) };
        if deal.listing_author() != self.me() {
            return Ok(None);
        }
        let key = deal.listing().listing_key().expect("a deal's listing is a listing");
        let Some(current) = self.store.listing(&key)? else { return Ok(None) };
        let mut listing = current.listing().expect("a listing").clone();
        if listing.status == ListingStatus::Closed {
            return Ok(None);
        }
        let sold: u64 = self
            .store
            .deals_on(&key)?
            .iter()
            .filter(|d: &&Deal| d.made_at() >= current.created_at())
            .map(|d| u64::from(d.terms().quantity))
            .sum();
        let left = u64::from(listing.quantity).saturating_sub(sold);
        let now = Timestamp::now().max(deal.made_at().saturating_add(Duration::from_millis(1)));
        listing.revision = next_revision(&current)?;
        if left == 0 {
            listing.status = ListingStatus::Closed;
            listing.quantity = 0;
            listing.expires_at = now.saturating_add(TOMBSTONE_LIFETIME);
        } else {
            listing.quantity = u32::try_from(left).unwrap_or(u32::MAX);
        }
        let object = self.sign(Body::Listing(listing), now)?;
        self.ingest_own(&object)?;
        Ok(Some(object))
    }
}

fn next_revision(current: &Object) -> Result<u32, ServiceError> {
    current
        .listing()
        .and_then(|l| l.revision.checked_add(1))
        .ok_or_else(|| ServiceError::Conflict("this listing has run out of revision numbers".into()))
}

fn format_amount(price: &Price) -> String {
    let unit = price.currency.minor_per_major();
    let digits = unit.ilog10() as usize;
    if digits == 0 {
        price.amount.to_string()
    } else {
        format!("{}.{:0digits$}", price.amount / unit, price.amount % unit)
    }
}

/// Builds a listing price from its text parts, with a message for each mistake.
fn price(
    kind: ListingKind,
    amount: Option<&str>,
    currency: Option<&str>,
    per: Option<&str>,
) -> Result<Option<Price>, ServiceError> {
    let Some(amount) = amount else {
        if currency.is_some() || per.is_some() {
            return Err(ServiceError::invalid("a currency or period was given without a price"));
        }
        return Ok(None);
    };
    if kind == ListingKind::Giveaway {
        return Err(ServiceError::invalid("a giveaway has no price"));
    }
    let currency: Currency = currency
        .ok_or_else(|| ServiceError::invalid("a price needs a currency, e.g. EUR"))?
        .parse()
        .map_err(|e: haggle_protocol::CurrencyError| ServiceError::Invalid(e.to_string()))?;
    let mut price = Price::new(currency.parse_amount(amount)?, currency);
    if let Some(per) = per {
        price = price.per(per.parse::<Period>().map_err(ServiceError::Invalid)?);
    }
    Ok(Some(price))
}

/// Builds terms from a draft, filling quantity and currency from `current` terms or defaults.
fn terms(
    draft: TermsDraft,
    kind: ListingKind,
    default_currency: Option<Currency>,
    current: Option<&Terms>,
    now: Timestamp,
) -> Result<(Terms, String), ServiceError> {
    let currency = match draft.currency {
        Some(c) => {
            c.parse().map_err(|e: haggle_protocol::CurrencyError| ServiceError::Invalid(e.to_string()))?
        }
        None => default_currency
            .ok_or_else(|| ServiceError::invalid("say which currency, e.g. --currency EUR"))?,
    };
    let amount = match (draft.price, kind) {
        (Some(p), _) => currency.parse_amount(&p)?,
        (None, ListingKind::Giveaway) => 0,
        (None, _) => return Err(ServiceError::invalid("an offer needs a price, e.g. --price 100")),
    };
    let quantity = draft.quantity.or(current.map(|t| t.quantity)).unwrap_or(1);
    let lifetime = draft.expires_in.map_or(DEFAULT_PROPOSAL_LIFETIME, Duration::from_secs);
    Ok((
        Terms { quantity, price: Price::new(amount, currency), expires_at: now.saturating_add(lifetime) },
        draft.message,
    ))
}

/// What opening mail produced: events to announce and objects to gossip (receipts, and a
/// listing's next revision after a deal).
#[derive(Debug, Default)]
pub struct MailOpened {
    pub events: Vec<crate::handle::NodeEvent>,
    pub publish: Vec<Vec<u8>>,
}

impl Service {
    /// Seals a queued message into a mailbox object for delivery through other nodes, unless it
    /// already has one. Returns the mailbox's bytes to gossip.
    pub fn mail_out(&self, entry: &haggle_storage::OutboxEntry) -> Result<Option<Vec<u8>>, ServiceError> {
        if entry.mailbox.is_some() {
            return Ok(None);
        }
        let Some(message) = self.store.get(&entry.id)? else { return Ok(None) };
        let sealed = haggle_protocol::seal(&entry.to, message.bytes())
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let now = Timestamp::now();
        let expires_at = now.saturating_add(haggle_protocol::MAILBOX_LIFETIME);
        let mailbox =
            self.sign(Body::Mailbox(haggle_protocol::Mailbox { to: entry.to, sealed, expires_at }), now)?;
        match self.store.ingest_own_mailbox(&mailbox, entry.id)? {
            Outcome::New { .. } => Ok(Some(mailbox.bytes().to_vec())),
            _ => Ok(None),
        }
    }

    /// Opens every mailbox addressed to the owner: stores the message inside (as if delivered
    /// directly) and publishes a receipt. Mail whose message cannot be stored yet (it refers to
    /// something not here yet) stays for the next try.
    pub fn open_mail(&self) -> Result<MailOpened, ServiceError> {
        use crate::handle::NodeEvent;
        let me = self.me();
        let mut out = MailOpened::default();
        for mailbox in self.store.mail_for(&me)? {
            if self.store.has_receipt(&mailbox.id())? {
                continue;
            }
            let Body::Mailbox(m) = mailbox.body() else { continue };
            let Ok(plain) = self.key.open_sealed(&m.sealed) else {
                tracing::debug!(mailbox = %mailbox.id().fmt_short(), "mail that does not open with this key");
                continue;
            };
            let inner = match Object::decode_verify(&plain, Timestamp::now()) {
                Ok(inner) if inner.author() == mailbox.author() && inner.body().recipient() == Some(me) => {
                    inner
                }
                _ => {
                    tracing::debug!(mailbox = %mailbox.id().fmt_short(), "mail whose content is not a message for this node");
                    continue;
                }
            };
            match self.store.ingest_verified(&inner, haggle_storage::Durability::Flush)? {
                Outcome::New { id, kind, deal } => {
                    let thread = match inner.body() {
                        Body::Offer(_) => id,
                        body => body.reply().map_or(id, |r| r.thread),
                    };
                    out.events.push(NodeEvent::NegotiationReceived {
                        id: id.to_hex(),
                        thread: thread.to_hex(),
                        kind: kind.as_str().to_owned(),
                    });
                    if let Some(deal) = deal {
                        out.events.push(NodeEvent::DealMade { id: deal.to_hex(), thread: thread.to_hex() });
                        if let Some(next) = self.after_deal(&deal)? {
                            out.publish.push(next.bytes().to_vec());
                        }
                    }
                }
                Outcome::Duplicate { .. } | Outcome::Stale { .. } => {}
                Outcome::Rejected(r) if !r.reason.is_peer_fault() => continue,
                Outcome::Rejected(r) => {
                    tracing::debug!(reason = %r.reason, "mail carrying an invalid message; acknowledged so it stops travelling");
                }
            }
            let now = Timestamp::now();
            let expires_at = m.expires_at.min(now.saturating_add(haggle_protocol::MAILBOX_LIFETIME));
            if expires_at <= now {
                continue;
            }
            let receipt = self.sign(
                Body::Receipt(haggle_protocol::Receipt {
                    mailbox: mailbox.id(),
                    to: mailbox.author(),
                    expires_at,
                }),
                now,
            )?;
            let _ = self.store.ingest_own_receipt(&receipt)?;
            out.publish.push(receipt.bytes().to_vec());
        }
        Ok(out)
    }
}
