//! The application: every rule of the marketplace that is not a protocol rule, between the
//! network (the event loop), the local API and the store. Blocking code (it reads and writes the
//! store); callers run it on tokio's blocking pool.
//!
//! - [`actions`]: what the owner does (publish, update, offer, counter, accept, ...), each
//!   returning an [`Effect`] that says what the network must do next.
//! - [`inbound`]: every object from outside, whatever carried it, goes through
//!   [`Service::receive`] (or its batch form), which returns an [`Inbound`] saying what to tell
//!   the sender, what to announce and what to gossip on.
//! - [`mail`]: sealing queued messages for offline delivery and opening mail for the owner.
//! - [`views`] and the reads here: what the API shows.
//!
//! The store is private to the service: the API and the event loop go through these methods.

mod actions;
mod auctions;
mod blocks;
mod bookings;
mod campaigns;
mod deal_steps;
mod endings;
mod error;
mod files;
mod halt;
mod inbound;
mod mail;
mod names;
mod negotiate;
mod notes;
mod party;
mod reputation;
mod revisions;
mod saved;
mod settle;
mod underworked;
mod views;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use libp2p::PeerId;

use haggle_protocol::blob::BlobRef;
use haggle_protocol::{Body, IdPrefix, Object, ObjectId, PublicKey, SecretKey, Timestamp};
use haggle_storage::blobs::Blobs;
use haggle_storage::{
    DeliveryState, Lookup, OutboxEntry, SearchQuery, Store, StoreError, SyncItem, ThreadRecord,
};

use crate::api::types::{
    ClosedListing, ClosedPage, DealView, DealsPage, ListingView, ListingsPage, ListingsParams, ListingsState,
    NodeEvent, ObjectView, SearchPage, SearchParams, StoreStats, ThreadView, ThreadsPage,
};

pub use actions::{DEFAULT_LISTING_LIFETIME, DEFAULT_PROPOSAL_LIFETIME, Effect};
pub use blocks::{MAX_BLOCK_NOTE_CHARS, check_block_note};
pub use haggle_storage::{SearchError, same_name, searched_in_pairs};
pub use names::check_name;
pub use saved::check_saved_name;

/// What the network must do after the service changed something, whoever asked: announce on the
/// event stream, gossip, and deliver queued messages to parties.
#[derive(Debug, Default)]
pub struct Followups {
    /// What to announce.
    pub events: Vec<NodeEvent>,
    /// Objects to gossip.
    pub publish: Vec<Vec<u8>>,
    /// Parties with new messages in the outbox, to deliver to now.
    pub deliver: Vec<PublicKey>,
    /// Thumbnails of newly arrived listings that are not here yet, each with the peer to ask
    /// first (the listing's author): fetched in the background, so a search hit can show its
    /// picture at once.
    pub thumbnails: Vec<(BlobRef, PeerId)>,
}

impl Followups {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.publish.is_empty()
            && self.deliver.is_empty()
            && self.thumbnails.is_empty()
    }

    /// Adds what `other` asks for to this.
    pub fn merge(&mut self, other: Followups) {
        self.events.extend(other.events);
        self.publish.extend(other.publish);
        self.deliver.extend(other.deliver);
        self.thumbnails.extend(other.thumbnails);
    }
}
pub use error::{
    Conflict, HighBid, InvalidInput, More, ServiceError, in_words, party_name, quoted, shell_word,
};
pub use files::Download;
pub(crate) use inbound::REGOSSIP_LIMIT;
pub use inbound::{Dated, Inbound, Received, Refusal, Via};
pub use party::PartyTaken;

/// The owner's deal counterparties and when they were read: (deal count, step generation).
type Counterparties = ((usize, u64), Vec<PublicKey>);

/// The owner's side of the node: the store and the signing key.
#[derive(Debug, Clone)]
pub struct Service {
    store: Arc<Store>,
    /// Files by content hash: pictures, thumbnails, digital goods.
    blobs: Arc<Blobs>,
    key: Arc<SecretKey>,
    /// Held from reading a listing's current revision to storing the next, so that two changes
    /// at once (two deals arriving together, a deal and an update) cannot both build on the same
    /// revision and lose one of them.
    revising: Arc<std::sync::Mutex<()>>,
    /// The reconciliation set peers' sync requests are answered from.
    sync_set: Arc<crate::sync::SetCache>,
    /// What the owner's configuration asks of the service.
    policy: Policy,
    /// What arrives and how long the work takes, for `GET /metrics`.
    metrics: crate::metrics::Metrics,
    /// The owner's deal counterparties, with the number of deals and the step generation they
    /// were read at (read again when either changes), for reputation's anchors.
    counterparties: Arc<std::sync::Mutex<Counterparties>>,
    /// Mail to the owner that will never open (see `mail`).
    unopenable: Arc<std::sync::Mutex<std::collections::HashSet<ObjectId>>>,
    /// Held from reading whether a queued message has a sealed copy to storing the one made
    /// (see `mail_out`): outbox passes run at once each sealed every message again.
    sealing: Arc<std::sync::Mutex<()>>,
    /// Auctions whose end this node announced (see `auctions`).
    announced: auctions::Announced,
    /// How far earlier runs told the ends of auctions and campaigns (see `auctions`).
    ends_told: Arc<auctions::EndsTold>,
    /// Set while a settle run of auctions and campaigns is under way.
    settling: Arc<std::sync::atomic::AtomicBool>,
    /// What the revisions the last settle run looked at say about their ends (see `settle`).
    ends: settle::Ends,
    /// Stops the node when the store takes no more writes.
    halt: halt::Halt,
    /// Until when, at the latest, the node holds back the ends of other people's auctions and
    /// campaigns while it catches up after its start (see [`Service::catch_up_within`]).
    catching_up: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// The owner's messages delivered since start by a request, direct and relayed.
    delivered: Arc<DeliveredByRequest>,
    /// Objects refused for too little work lately: sync does not fetch them again.
    underworked: Arc<underworked::Underworked>,
    /// The owner's objects whose proof of work is being computed now (`haggle status` says so:
    /// on a slow machine a long listing's takes minutes, and a trial read the wait as a hang).
    working: Arc<std::sync::atomic::AtomicUsize>,
}

/// The owner's messages delivered since start by a request of this node, by the connection's
/// path: each counted once, by the answer that marked it delivered (one a mailbox receipt
/// marked delivered first, then answered `stored` to a request already on its way, is the
/// mailbox's).
#[derive(Debug, Default)]
struct DeliveredByRequest {
    direct: std::sync::atomic::AtomicU64,
    relayed: std::sync::atomic::AtomicU64,
}

/// What the owner's configuration asks of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The network's proof-of-work base (see `haggle_protocol::work`): asked of what arrives,
    /// paid on what this node signs.
    pub pow_bits: u32,
    /// The store's budget, in listings (see `haggle_storage::Store::evict_over_budget`).
    pub max_listings: usize,
    /// Budget for other people's files, in bytes.
    pub blob_budget: u64,
    /// Hand a digital good's key to its buyer as soon as the buyer says it paid the payment
    /// request; when false, the owner does it by hand (`haggle deliver`).
    pub deliver_on_paid: bool,
    /// Keys the owner trusts like its own, for reputation (besides the owner's).
    pub trusted_keys: Vec<PublicKey>,
    /// How far the web of trust reaches, in deals.
    pub trust_hops: u32,
}

impl Default for Policy {
    /// No proof of work (tests), the default budget.
    fn default() -> Self {
        Policy {
            pow_bits: 0,
            max_listings: crate::config::DEFAULT_MAX_LISTINGS,
            blob_budget: 1 << 30,
            deliver_on_paid: true,
            trusted_keys: Vec::new(),
            trust_hops: 2,
        }
    }
}

impl From<&crate::config::NodeConfig> for Policy {
    fn from(config: &crate::config::NodeConfig) -> Self {
        if config.pow_bits > haggle_protocol::work::MAX_BASE_BITS {
            tracing::warn!(
                pow_bits = config.pow_bits,
                max = haggle_protocol::work::MAX_BASE_BITS,
                "pow_bits is over the most a network may ask for; using the most"
            );
        }
        let pow_bits = config.pow_bits.min(haggle_protocol::work::MAX_BASE_BITS);
        let trusted_keys = config
            .trusted_keys
            .iter()
            .filter_map(|k| match k.parse::<PublicKey>() {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!(key = %k, error = %e, "ignoring a trusted key that does not parse");
                    None
                }
            })
            .collect();
        Policy {
            pow_bits,
            max_listings: config.max_listings,
            blob_budget: config.blob_budget_mib.saturating_mul(1 << 20),
            deliver_on_paid: config.deliver_on_paid,
            trusted_keys,
            trust_hops: config.trust_hops,
        }
    }
}

/// Messages for one recipient: each message's id and wire bytes.
pub type Outgoing = Vec<(ObjectId, Vec<u8>)>;

/// Queued messages due for a delivery attempt, from [`Service::outbox_due`].
#[derive(Debug, Default)]
pub struct OutboxDue {
    /// Wire bytes by recipient, for recipients connected now.
    pub batches: Vec<(PeerId, Outgoing)>,
    /// Recipients with due messages who are not connected: worth dialling.
    pub unreachable: Vec<PeerId>,
    /// Every recipient with a message queued, due now or waiting out its backoff, connected or
    /// not: the other parties the dialer keeps (and trimming spares) until nothing waits.
    pub waiting: Vec<PeerId>,
    /// Sealed mailbox copies of messages for parties not connected, to gossip.
    pub mail: Vec<Vec<u8>>,
    /// What became of offers found lapsed (their terms expired before delivery): now
    /// [`DeliveryState::Lapsed`], not sent again.
    pub lapsed: Vec<NodeEvent>,
}

/// Which queued messages [`Service::outbox_due`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxScope {
    /// Everyone's, each after its backoff: the periodic retry.
    All,
    /// One party's, all of them now: it just connected, or the owner has a new message for it.
    Now(PeerId),
    /// One party's, each after its backoff: the next to send after the party's node answered
    /// the one before (a message it turned away for now waits out its backoff, and the next
    /// goes).
    Next(PeerId),
}

impl Service {
    /// A service over `store` and the blob directory `blobs`, signing with `key`.
    pub fn new(store: Arc<Store>, key: Arc<SecretKey>, policy: Policy, blobs: Arc<Blobs>) -> Self {
        store.set_owner(key.public());
        let ends_told = Arc::new(auctions::EndsTold::read(&store));
        Service {
            store,
            blobs,
            key,
            revising: Arc::default(),
            sync_set: Arc::default(),
            policy,
            metrics: crate::metrics::Metrics::new(),
            counterparties: Arc::default(),
            unopenable: Arc::default(),
            sealing: Arc::default(),
            announced: Arc::default(),
            ends_told,
            settling: Arc::default(),
            ends: Arc::default(),
            halt: halt::Halt::default(),
            catching_up: Arc::default(),
            delivered: Arc::default(),
            underworked: Arc::default(),
            working: Arc::default(),
        }
    }

    /// How many of the owner's objects are having their proof of work computed now.
    pub fn working(&self) -> usize {
        self.working.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes a store failure that needs a restart cancel `token` (the node's shutdown).
    pub(crate) fn stops_on_store_failure(&self, token: tokio_util::sync::CancellationToken) {
        self.halt.stops(token);
    }

    /// Stops the node if `e` is a store failure that needs a restart (see `halt`).
    pub(crate) fn check_store(&self, e: &ServiceError) {
        if let Some(e) = e.store() {
            self.halt.check(e);
        }
    }

    /// Whether the data dir is still where the store was opened (see
    /// `Store::still_in_place`).
    pub(crate) fn store_in_place(&self) -> Result<(), ServiceError> {
        Ok(self.store.still_in_place()?)
    }

    /// Why the node stopped, if a store failure stopped it.
    pub(crate) fn store_failure(&self) -> Option<String> {
        self.halt.reason()
    }

    /// Whether listings that came in a burst now quiet for `quiet` wait for the search index
    /// (see [`Self::commit_quiet_index`]). Cheap: asked on the loop's timer.
    pub(crate) fn index_quiet_due(&self, quiet: std::time::Duration) -> bool {
        self.store.index_quiet_due(quiet)
    }

    /// Commits to the search index what a burst left waiting once it has been quiet for
    /// `quiet`, which gives back the index writer's memory (a node after a load of 20,000
    /// listings held 15 MiB there until a search came). Returns whether it committed.
    pub(crate) fn commit_quiet_index(&self, quiet: std::time::Duration) -> Result<bool, ServiceError> {
        Ok(self.store.commit_index_if_quiet(quiet)?)
    }

    /// A stored object by id.
    pub fn object(&self, id: &ObjectId) -> Result<Option<Object>, StoreError> {
        self.store.get(id)
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The blob directory.
    pub fn blobs(&self) -> &Arc<Blobs> {
        &self.blobs
    }

    /// The owner's public key.
    pub fn me(&self) -> PublicKey {
        self.key.public()
    }

    /// How many keys the owner trusts like its own (`trusted_keys`): distinct, its own left out,
    /// as reputation counts them.
    pub fn trusted_keys(&self) -> usize {
        let me = self.me();
        let keys: std::collections::HashSet<&PublicKey> =
            self.policy.trusted_keys.iter().filter(|k| **k != me).collect();
        keys.len()
    }

    /// Notes in the address book that this node reached `peer` at `address` by dialling it;
    /// `chosen` for a bootstrap peer or a trading partner.
    pub(crate) fn remember_peer(
        &self,
        peer: PeerId,
        address: &libp2p::Multiaddr,
        chosen: bool,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.store.remember_peer(&peer.to_bytes(), &address.to_vec(), now, chosen)
    }

    /// Notes in the address book that `peer`, which dialled this node, says it listens at
    /// `address` (kept after every peer this node reached; see `Store::heard_of_peer`).
    pub(crate) fn heard_of_peer(&self, peer: PeerId, address: &libp2p::Multiaddr) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.store.heard_of_peer(&peer.to_bytes(), &address.to_vec(), now)
    }

    /// Takes a banned peer out of the address book.
    pub(crate) fn forget_peer(&self, peer: PeerId) -> Result<(), StoreError> {
        self.store.forget_peer(&peer.to_bytes())
    }

    /// The `n` peers of the address book reached most recently, with where (entries that do not
    /// parse are skipped).
    pub(crate) fn known_peers(&self, n: usize) -> Result<Vec<(PeerId, libp2p::Multiaddr)>, StoreError> {
        let known = self.store.known_peers()?;
        Ok(known
            .into_iter()
            .filter_map(|k| {
                let peer = PeerId::from_bytes(&k.peer).ok()?;
                let address = libp2p::Multiaddr::try_from(k.address).ok()?;
                Some((peer, address))
            })
            .take(n)
            .collect())
    }

    /// Finds the object an id or id prefix names.
    pub fn resolve(&self, given: &str, what: &'static str) -> Result<ObjectId, ServiceError> {
        let prefix: IdPrefix = given.parse()?;
        match self.store.lookup(&prefix)? {
            Lookup::One(id) => Ok(id),
            Lookup::None => Err(ServiceError::not_found(what, given)),
            Lookup::Ambiguous(candidates) => {
                Err(ServiceError::Ambiguous { given: given.to_owned(), candidates })
            }
        }
    }

    /// [`Self::resolve`], for an id that may name a deal between two other people: this node
    /// holds their ratings of it (they are public), never the deal, and says so. A short prefix
    /// that names an object held and also such a deal is ambiguous, not the object.
    fn resolve_or_rated(&self, given: &str, what: &'static str) -> Result<ObjectId, ServiceError> {
        let held = self.resolve(given, what);
        match &held {
            // Only a prefix can name two things; a whole id is what it is.
            Ok(_) if given.trim().len() >= 64 => return held,
            Ok(_) | Err(ServiceError::NotFound { .. }) => {}
            Err(_) => return held,
        }
        let rated = self.store.rated_deals(&given.parse()?)?;
        with_rated(given, what, held, rated)
    }

    /// The current revision of the listing that `given` names (any revision's id works).
    pub fn listing(&self, given: &str) -> Result<Object, ServiceError> {
        let not_found = || ServiceError::not_found("listing", given);
        let id = self.resolve(given, "listing")?;
        let Some(object) = self.store.get(&id)? else {
            // An earlier revision dropped past the history limit still names its listing.
            let key = self.store.alias(&id)?.ok_or_else(not_found)?;
            return self.store.listing(&key)?.ok_or_else(not_found);
        };
        if object.thread_id().is_some() {
            let made_deal = self.store.deal(&id)?.is_some();
            return Err(ServiceError::WrongKind {
                given: given.to_owned(),
                is: if made_deal { "a deal" } else { "an offer thread (or one of its messages)" },
                wanted: "a listing",
                hint: "haggle show ID shows the thread and the listing it is on; haggle search and haggle listings list listings",
            });
        }
        let key = object.listing_key().ok_or_else(not_found)?;
        self.store.listing(&key)?.ok_or_else(not_found)
    }

    /// A thread by the id (or prefix) of any of its messages.
    pub fn thread(&self, given: &str) -> Result<ThreadRecord, ServiceError> {
        let not_found = || ServiceError::not_found("offer thread", given);
        let id = self.resolve(given, "offer thread")?;
        let object = self.store.get(&id)?.ok_or_else(not_found)?;
        if object.listing_key().is_some() {
            return Err(ServiceError::WrongKind {
                given: given.to_owned(),
                is: "a listing",
                wanted: "an offer thread",
                hint: "haggle offers lists your threads (the THREAD column), those on your listings included",
            });
        }
        // A message about a thread names it too.
        let about = match object.body() {
            Body::Note(haggle_protocol::Note { about: haggle_protocol::About::Thread(t), .. }) => Some(*t),
            _ => None,
        };
        let thread = object.thread_id().or(about).ok_or_else(not_found)?;
        self.store.thread(&thread)?.ok_or_else(not_found)
    }

    // -- Reads for the API -------------------------------------------------------------------

    /// The listing `given` names, as the API shows it.
    pub fn listing_view(&self, given: &str) -> Result<ListingView, ServiceError> {
        let listing = self.listing(given)?;
        let mut view = views::listing(&self.store, &listing, &self.me())?;
        view.messages = self.listing_messages(&listing)?;
        view.file_lost = view.mine && view.file.as_ref().is_some_and(|f| self.file_lost(f));
        self.with_reputation(&*self.trust_graph()?, view)
    }

    /// The owner's own listings: those on offer first, then auctions and campaigns past their
    /// end that their owner's node has not closed yet (active on the wire, taking nothing more;
    /// a trial found them listed among what is on offer), then expired, then closed, each most
    /// recently changed first.
    /// `params` picks them by kind, state and category (a category names itself and what is
    /// under it, checked as a search checks it), and pages them.
    pub fn my_listings(&self, params: &ListingsParams) -> Result<ListingsPage, ServiceError> {
        let category = match params.category.as_deref().map(|c| c.trim_matches('/').to_lowercase()) {
            // An empty or spaced category matched nothing, as if none of the listings were in
            // it (from a retrial).
            Some(c) if !haggle_protocol::limits::is_category_path(&c) => {
                let given = params.category.clone().unwrap_or_default();
                return Err(haggle_storage::SearchError::BadCategory(given).into());
            }
            c => c,
        };
        if let Some(asked) = params.limit.filter(|&l| l == 0 || l > haggle_storage::MAX_PAGE) {
            return Err(haggle_storage::SearchError::BadLimit { asked, max: haggle_storage::MAX_PAGE }.into());
        }
        let me = self.me();
        let graph = self.trust_graph()?;
        let held = self.store.listings_by(&me)?;
        let mut listings: Vec<ListingView> = held
            .iter()
            .map(|e| views::listing(&self.store, &e.object, &me))
            .filter(|l| l.as_ref().map_or(true, |l| params.picks(category.as_deref(), l)))
            .collect::<Result<_, _>>()?;
        // `listings_by` gives them most recently changed first; a stable sort keeps that.
        listings.sort_by_key(|l| match l.listings_state() {
            ListingsState::Active => 0,
            ListingsState::Ended => 1,
            ListingsState::Expired => 2,
            ListingsState::Closed => 3,
        });
        let total = listings.len();
        let page = listings
            .into_iter()
            .skip(params.offset)
            .take(params.limit.unwrap_or(usize::MAX))
            .map(|mut l| {
                l.file_lost = l.file.as_ref().is_some_and(|f| self.file_lost(f));
                self.with_reputation(&graph, l)
            })
            .collect::<Result<_, _>>()?;
        Ok(ListingsPage { listings: page, total, offset: params.offset, held: held.len() })
    }

    /// Others' listings closed (retracted, sold out, ended) by a revision signed at or after
    /// `since` (unix ms), newest first, at most [`CLOSED_SINCE_MAX`]: what no search finds, for
    /// a watch back from a stopped node to tell. Listings of people the owner blocked are left
    /// out, as from the live events.
    pub fn closed_since(&self, since: u64) -> Result<ClosedPage, ServiceError> {
        let me = self.me();
        let closed = self.store.closed_listings_since(
            Timestamp::from_millis(since),
            CLOSED_SINCE_MAX,
            CLOSED_SINCE_SCAN,
            |o| o.author() != me && !self.hides(&o.author()),
        )?;
        let listings = closed
            .iter()
            .map(|o| ClosedListing { id: o.id(), closed_at: o.created_at().as_millis() })
            .collect();
        Ok(ClosedPage { listings })
    }

    /// Whatever `given` names: a listing, the thread of a negotiation message, or a deal.
    pub fn object_view(&self, given: &str) -> Result<ObjectView, ServiceError> {
        self.object_view_with(given, false)
    }

    /// [`Self::object_view`]; with `exact`, an earlier listing revision's id shows that revision
    /// as it read, `replaced_by` naming the current one (when this node still holds it: past
    /// the history limit only its listing is known).
    pub fn object_view_with(&self, given: &str, exact: bool) -> Result<ObjectView, ServiceError> {
        let id = self.resolve_or_rated(given, "object")?;
        if exact && let Some(view) = self.earlier_revision_view(given, &id)? {
            return Ok(ObjectView::Listing(view));
        }
        // A deal's id is its Accept's id: the deal is shown, not the thread it ended (also when
        // the store no longer holds its messages on their own).
        if let Some(deal) = self.store.deal(&id)? {
            return Ok(ObjectView::Deal(self.deal_record_view(&deal, &*self.trust_graph()?)?));
        }
        let Some(object) = self.store.get(&id)? else {
            if self.store.alias(&id)?.is_some() {
                return self.listing_view(given).map(ObjectView::Listing);
            }
            return Err(ServiceError::not_found("object", given));
        };
        if let Body::Step(step) = object.body() {
            return self.deal_view(&step.deal.to_hex()).map(ObjectView::Deal);
        }
        if let Body::Feedback(_) = object.body() {
            return self.feedback_object_view(&object).map(ObjectView::Feedback);
        }
        if let Body::Note(_) = object.body() {
            return self.conversation_view(&id.to_hex(), false).map(ObjectView::Conversation);
        }
        // A bid shows its thread to its two parties, and its auction to everyone else.
        if let Some(o) =
            object.body().opening().filter(|_| object.kind() != haggle_protocol::ObjectKind::Offer)
        {
            if object.author() != self.me() && o.to != self.me() {
                return self.listing_view(&o.listing.to_hex()).map(ObjectView::Listing);
            }
            return self.thread_view(&id.to_hex()).map(ObjectView::Thread);
        }
        if object.kind().is_public() {
            return self.listing_view(&id.to_hex()).map(ObjectView::Listing);
        }
        self.thread_view(&id.to_hex()).map(ObjectView::Thread)
    }

    /// The listing revision `id` (`given` as typed) as it read, if it is an earlier one than
    /// its listing's current; an error if this node no longer holds it whole (showing the
    /// current text would pass it off as the earlier one).
    fn earlier_revision_view(&self, given: &str, id: &ObjectId) -> Result<Option<ListingView>, ServiceError> {
        let Some(object) = self.store.get(id)? else {
            let current = match self.store.alias(id)? {
                Some(key) => self.store.listing(&key)?,
                None => None,
            };
            return match current {
                Some(current) => {
                    Err(ServiceError::RevisionGone { given: given.to_owned(), current: current.id() })
                }
                None => Ok(None),
            };
        };
        let Some(key) = object.listing_key() else { return Ok(None) };
        let Some(current) = self.store.listing(&key)?.filter(|c| c.id() != *id) else { return Ok(None) };
        let view = views::listing(&self.store, &object, &self.me())?;
        let view = ListingView { replaced_by: Some(current.id()), remaining: None, ..view };
        Ok(Some(self.with_reputation(&*self.trust_graph()?, view)?))
    }

    /// Whether the owner's offer `offer` is one the other party's node takes by itself (an
    /// instant booking at the asking price, a digital good at its price), judged on the
    /// listing's current revision held here: the API then waits for that answer too.
    pub fn taken_at_once(&self, offer: &Object) -> bool {
        let Some(o) = offer.body().opening().filter(|_| offer.kind() == haggle_protocol::ObjectKind::Offer)
        else {
            return false;
        };
        let current = self
            .store
            .get(&o.listing)
            .ok()
            .flatten()
            .and_then(|l| l.listing_key())
            .and_then(|key| self.store.listing(&key).ok().flatten());
        current
            .as_ref()
            .and_then(Object::listing)
            .is_some_and(|l| bookings::books_instantly(l, &o.terms) || files::buys_at_once(l, &o.terms))
    }

    /// A search over the listings this node holds.
    pub fn search(&self, params: SearchParams) -> Result<SearchPage, ServiceError> {
        let started = std::time::Instant::now();
        let (min_deals, trusted) = (params.min_deals, params.trusted);
        let free = params.free.as_deref().map(bookings::dates).transpose()?;
        if free.is_some() {
            use haggle_protocol::ListingKind;
            let asked = match params.kind {
                _ if params.sort == Some(haggle_storage::Sort::EndingSoon) => {
                    Some("running auctions".to_owned())
                }
                Some(ListingKind::Rental | ListingKind::Service) | None => None,
                Some(kind) => Some(format!("{kind} listings")),
            };
            if let Some(asked) = asked {
                return Err(InvalidInput::FreeOutsideBookings { asked }.into());
            }
        }
        if let Some(free) = &free {
            bookings::not_past(free, haggle_protocol::Timestamp::now())?;
        }
        let only = params.listing;
        let mut query = search_query(params)?;
        if query.seller.is_none() {
            query.hide_sellers = self.store.blocked_keys();
        }
        let run = |q: &SearchQuery| match &only {
            Some(id) => self.store.search_one(q, id),
            None => self.store.search(q),
        };
        let ending_soon = query.sort == haggle_storage::Sort::EndingSoon;
        let reranked = min_deals.is_some()
            || trusted
            || query.sort == haggle_storage::Sort::Reputation
            || ending_soon
            || free.is_some();
        let graph = self.trust_graph()?;
        let me = self.me();
        let around = query.around;
        let view = |listing: &Object, score: Option<f32>| -> Result<ListingView, ServiceError> {
            let v = views::listing(&self.store, listing, &me)?;
            let distance_m = around
                .and_then(|a| Some(a.from.distance_m(&haggle_protocol::geo::decode(v.geohash.as_deref()?)?)));
            self.with_reputation(&graph, ListingView { score, distance_m, ..v })
        };
        if !reranked {
            let results = run(&query)?;
            self.metrics.searched(started.elapsed());
            let hits = results.hits.iter().map(|h| view(&h.listing, h.score)).collect::<Result<_, _>>()?;
            let nearest_m = if results.total == 0 && only.is_none() { self.nearest(&query)? } else { None };
            return Ok(SearchPage {
                total: results.total,
                offset: query.offset,
                hits,
                guessed: results.guessed,
                unknown: results.unknown,
                hidden: if results.total == 0 { self.hidden(&query, only.is_some())? } else { 0 },
                around: around_view(query.around, nearest_m),
                matched: None,
                did_you_mean: results.did_you_mean.map(Into::into),
                index_error: self.store.index_error(),
            });
        }
        if query.limit == 0 || query.limit > haggle_storage::MAX_PAGE {
            return Err(haggle_storage::SearchError::BadLimit {
                asked: query.limit,
                max: haggle_storage::MAX_PAGE,
            }
            .into());
        }
        // Reputation filters and order apply to the best matches (at most a page's worth), in
        // the query's own order.
        let candidates = run(&SearchQuery { offset: 0, limit: haggle_storage::MAX_PAGE, ..query.clone() })?;
        let mut rated = Vec::with_capacity(candidates.hits.len());
        let now = haggle_protocol::Timestamp::now();
        let mut ends = std::collections::HashMap::new();
        for hit in &candidates.hits {
            // Calendars free for the nights asked.
            if free.is_some_and(|range| !bookings::free_for(&hit.listing, &range)) {
                continue;
            }
            // Running auctions only, by the end their bids make.
            if ending_soon {
                let auction =
                    hit.listing.listing_key().map(|key| self.store.auction(&key)).transpose()?.flatten();
                match auction {
                    Some((_, view)) if !view.is_over(now) => ends.insert(hit.listing.id(), view.ends_at),
                    _ => continue,
                };
            }
            let r = graph.reputation(&hit.listing.author());
            let in_web = r.in_web_of_trust();
            let enough = min_deals.is_none_or(|n| r.deals_counted(trusted) + 1e-9 >= f64::from(n));
            if (!trusted || in_web) && enough {
                rated.push((r, hit));
            }
        }
        if ending_soon {
            rated.sort_by_key(|(_, h)| ends.get(&h.listing.id()).copied());
        }
        if query.sort == haggle_storage::Sort::Reputation {
            // Raw counts break no tie: anyone with keys can make them, and a node that trusts
            // nobody yet would rank fakes first. Ties keep the search's own order.
            let score = |r: &haggle_storage::reputation::Reputation| {
                let w = if trusted { &r.web_of_trust } else { &r.weighted };
                (r.trusted, w.positive - w.negative)
            };
            rated.sort_by(|(a, _), (b, _)| {
                score(b).partial_cmp(&score(a)).unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        self.metrics.searched(started.elapsed());
        let hits = rated
            .iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|(_, h)| view(&h.listing, h.score))
            .collect::<Result<_, _>>()?;
        Ok(SearchPage {
            total: rated.len(),
            offset: query.offset,
            hits,
            guessed: candidates.guessed,
            unknown: candidates.unknown,
            // Counted for plain searches only: the reputation, calendar and auction filters
            // here would have to run again over the listings left out.
            hidden: 0,
            around: around_view(query.around, None),
            // Said when some matches were not looked at (a trial's `--ending-soon` read "500 of
            // 500" beside 1,132 auctions).
            matched: (candidates.total > candidates.hits.len()).then_some(candidates.total),
            did_you_mean: candidates.did_you_mean.map(Into::into),
            index_error: self.store.index_error(),
        })
    }

    /// How far the nearest listing matching `query` is, `query` being a search by distance that
    /// matched nothing within its distance (asked only then: the answer says how far to look).
    fn nearest(&self, query: &SearchQuery) -> Result<Option<f64>, ServiceError> {
        let Some(around) = query.around else { return Ok(None) };
        let anywhere = SearchQuery {
            around: Some(haggle_storage::Around { within_m: haggle_protocol::geo::MAX_DISTANCE_M, ..around }),
            sort: haggle_storage::Sort::Distance,
            offset: 0,
            limit: 1,
            ..query.clone()
        };
        let found = self.store.search(&anywhere)?;
        let at = found.hits.first().and_then(|h| h.listing.listing()?.location.geohash.as_deref());
        Ok(at.and_then(haggle_protocol::geo::decode).map(|p| around.from.distance_m(&p)))
    }

    /// How many listings `query`, which matched nothing, matches by keys the owner blocked
    /// (asked only when nothing matched: a search that finds nothing should say why).
    fn hidden(&self, query: &SearchQuery, one: bool) -> Result<usize, ServiceError> {
        if query.hide_sellers.is_empty() || one {
            return Ok(0);
        }
        let all = SearchQuery { hide_sellers: Vec::new(), offset: 0, limit: 1, ..query.clone() };
        Ok(self.store.search(&all)?.total)
    }

    /// The thread `given` names.
    pub fn thread_view(&self, given: &str) -> Result<ThreadView, ServiceError> {
        let thread = self.thread(given)?;
        // Another's bid or pledge, held here as public: the view is its parties' (from a trial:
        // a third node read it as its own bid, with its move to make, and every move refused).
        let me = self.me();
        negotiate::party_to(&thread, &me)?;
        Ok(views::thread(&self.store, &thread, &me)?)
    }

    /// Every thread the owner is in, most recent first.
    pub fn threads(&self) -> Result<ThreadsPage, ServiceError> {
        let me = self.me();
        let mut pledges = views::CurrentPledges::default();
        let threads: Vec<_> = self
            .store
            .threads_of(&me)?
            .iter()
            .map(|t| views::thread_with(&self.store, t, &me, &mut pledges))
            .collect::<Result<_, _>>()?;
        let total = threads.len();
        Ok(ThreadsPage { threads, total })
    }

    /// The owner's threads `params` pick (see [`InboxParams`]), a page of them.
    pub fn threads_picked(
        &self,
        params: &crate::api::types::InboxParams,
    ) -> Result<ThreadsPage, ServiceError> {
        let limit = page_limit(params.limit)?;
        let mut threads = self.threads()?.threads;
        threads.retain(|t| (!params.todo || t.waits_on_me()) && (!params.open || t.live()));
        let total = threads.len();
        let threads = threads.into_iter().skip(params.offset).take(limit).collect();
        Ok(ThreadsPage { threads, total })
    }

    /// The owner's deals `params` pick (see [`InboxParams`]), a page of them.
    pub fn deals_picked(&self, params: &crate::api::types::InboxParams) -> Result<DealsPage, ServiceError> {
        let limit = page_limit(params.limit)?;
        let mut deals = self.deals()?.deals;
        let now = Timestamp::now();
        deals.retain(|d| {
            // A booking's `received` waits for its first day: not the owner's move before.
            // A seller whose buyer let a payment request wait unpaid may call the deal off.
            let mine = (d.waiting_on == Some(crate::api::types::Party::Me) && d.receives_from(now).is_none())
                || d.may_call_off(now);
            (!params.todo || mine) && (!params.open || d.waiting_on.is_some())
        });
        let total = deals.len();
        let deals = deals.into_iter().skip(params.offset).take(limit).collect();
        Ok(DealsPage { deals, total })
    }

    /// The owner's deals.
    pub fn deals(&self) -> Result<DealsPage, ServiceError> {
        let me = self.me();
        let graph = self.trust_graph()?;
        let deals: Vec<_> = self
            .store
            .deals_of(&me)?
            .iter()
            .map(|d| self.deal_record_view(d, &graph))
            .collect::<Result<_, _>>()?;
        let total = deals.len();
        Ok(DealsPage { deals, total })
    }

    /// The deal `given` names.
    pub fn deal_view(&self, given: &str) -> Result<DealView, ServiceError> {
        let deal = self.deal_named(given)?;
        self.deal_record_view(&deal, &*self.trust_graph()?)
    }

    /// The deal `given` names: its id (the Accept's), or any message of the thread that made it
    /// (the offer's, a bid's or a pledge's id too).
    pub(crate) fn deal_named(&self, given: &str) -> Result<haggle_protocol::Deal, ServiceError> {
        let id = self.resolve_or_rated(given, "deal")?;
        if let Some(deal) = self.store.deal(&id)? {
            return Ok(deal);
        }
        // A message in a thread's or deal's conversation names its thread, as `message` and
        // `show` take it (a trial's `deal MESSAGE` found no deal).
        let object = self.store.get(&id)?;
        // A step names its deal (from a trial: `GET /v1/messages` and `/v1/objects` took a
        // step's id, `/v1/deals` did not).
        if let Some(Body::Step(step)) = object.as_ref().map(|o| o.body())
            && let Some(deal) = self.store.deal(&step.deal)?
        {
            return Ok(deal);
        }
        let thread = object.and_then(|o| {
            o.thread_id().or(match o.body() {
                Body::Note(haggle_protocol::Note { about: haggle_protocol::About::Thread(t), .. }) => {
                    Some(*t)
                }
                _ => None,
            })
        });
        let made =
            thread.map(|t| self.store.thread(&t)).transpose()?.flatten().and_then(|t| t.view.deal_id());
        if let Some(deal) = made.map(|d| self.store.deal(&d)).transpose()?.flatten() {
            return Ok(deal);
        }
        // Another kind of object: named, with where to find deals.
        let object = self.store.get(&id)?;
        let is = match object.as_ref().map(Object::kind) {
            Some(haggle_protocol::ObjectKind::Feedback) => "a rating (feedback)",
            Some(_) if object.as_ref().is_some_and(|o| o.listing_key().is_some()) => "a listing",
            Some(haggle_protocol::ObjectKind::Note) if thread.is_some() => {
                "a message in an offer thread with no deal of yours"
            }
            // Named by what opened it (from a trial: a bid read as "an offer thread").
            Some(haggle_protocol::ObjectKind::Bid) => "a bid with no deal of yours",
            Some(haggle_protocol::ObjectKind::Pledge) => "a pledge with no deal of yours",
            Some(_) if thread.is_some() => "an offer thread with no deal of yours (or one of its messages)",
            _ => return Err(ServiceError::not_found("deal", given)),
        };
        Err(ServiceError::WrongKind {
            given: given.to_owned(),
            is,
            wanted: "a deal",
            hint: "haggle deals lists your deals (the DEAL column); haggle show ID shows what this id is",
        })
    }

    /// A deal with its steps and feedback, from the owner's side.
    fn deal_record_view(
        &self,
        deal: &haggle_protocol::Deal,
        graph: &haggle_storage::reputation::TrustGraph,
    ) -> Result<DealView, ServiceError> {
        Ok(DealView {
            feedback: self.deal_feedback(deal, graph)?,
            may_rate: self.may_rate(deal)?,
            ..views::deal(&self.store, deal, &self.me())?
        })
    }

    /// The owner's messages delivered since start, by the path that delivered each: a request
    /// over a direct connection, one through a relay, or a sealed copy whose receipt came back.
    pub(crate) fn delivered(&self) -> crate::api::types::Delivered {
        use std::sync::atomic::Ordering::Relaxed;
        crate::api::types::Delivered {
            direct: self.delivered.direct.load(Relaxed),
            relayed: self.delivered.relayed.load(Relaxed),
            mailbox: self.store.delivered_by_mail(),
        }
    }

    /// What the store holds, and the owner's messages not yet delivered.
    pub fn counts(&self) -> Result<(StoreStats, usize), ServiceError> {
        Ok((self.store.stats()?, self.store.outbox_pending()?.len()))
    }

    /// The metrics in the Prometheus text format, with the gauges read now (cheap reads only:
    /// a scrape every few seconds must not scan the store).
    pub fn metrics_text(&self, network: &crate::api::types::NetworkStatus) -> Result<String, ServiceError> {
        let gauges = &self.metrics.gauges;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        gauges.peers.set(count(network.connected_peers));
        gauges.mesh_peers.set(count(network.mesh_peers));
        gauges.syncing.set(count(network.syncing));
        self.metrics.syncs_started(network.syncs_started);
        self.metrics.clock(&network.clock);
        self.metrics.reach(network);
        gauges.unpublished.set(count(network.unpublished));
        gauges.listings.set(count(self.store.listings_held()?));
        gauges.sync_set.set(count(self.store.sync_set_len()?));
        gauges.disk_bytes.set(i64::try_from(self.store.size_on_disk()?).unwrap_or(i64::MAX));
        gauges.index_bytes.set(i64::try_from(self.store.index_size()).unwrap_or(i64::MAX));
        gauges.outbox_pending.set(count(self.store.outbox_pending()?.len()));
        let (files, cache) = self.blobs.usage();
        gauges.file_bytes.set(i64::try_from(files).unwrap_or(i64::MAX));
        gauges.file_cache_bytes.set(i64::try_from(cache).unwrap_or(i64::MAX));
        Ok(self.metrics.encode())
    }

    /// Bytes of whole files held (pictures, digital goods, the cache of others' files).
    pub fn files_size(&self) -> u64 {
        self.blobs.usage().0
    }

    /// Where the store lives.
    pub fn data_dir(&self) -> &std::path::Path {
        self.store.path()
    }

    // -- For the event loop ------------------------------------------------------------------

    /// The `(created_at, id)` set sync reconciles.
    pub fn sync_items(&self) -> Result<Vec<SyncItem>, StoreError> {
        self.store.sync_items(Timestamp::now())
    }

    /// Answers a peer's reconciliation message from the cached set (see
    /// [`crate::sync::SetCache`]).
    pub fn sync_respond(&self, message: &[u8]) -> Result<Vec<u8>, crate::sync::SetError> {
        let set = self.sync_set.get(self.store.sync_generation(), || self.sync_items())?;
        Ok(crate::sync::respond_with(&set, message)?)
    }

    /// Whether `id` was evicted to keep the store within its budget (not to be fetched again).
    pub fn is_evicted(&self, id: &ObjectId) -> bool {
        self.store.is_evicted(id).unwrap_or(false)
    }

    /// Whether the object was refused lately for too little proof of work: sync does not fetch
    /// it again (see `underworked`).
    pub fn refused_for_work(&self, id: &ObjectId) -> bool {
        self.underworked.contains(id, std::time::Instant::now())
    }

    /// Whether the store holds the object (a read that fails says no: it is fetched again).
    pub fn holds(&self, id: &ObjectId) -> bool {
        self.store.contains(id).unwrap_or(false)
    }

    /// The public objects among `ids` that this node holds.
    pub fn public_objects(&self, ids: &[ObjectId]) -> Result<Vec<Object>, StoreError> {
        self.store.public_objects(ids)
    }

    /// Records a delivery attempt's result; returns the event to announce if the state is new.
    pub fn record_delivery(
        &self,
        id: ObjectId,
        state: DeliveryState,
        error: Option<String>,
    ) -> Result<Option<NodeEvent>, StoreError> {
        Ok(self
            .store
            .outbox_record(&id, state, error)?
            .map(|entry| NodeEvent::DeliveryChanged { id, state: entry.state }))
    }

    /// Records that the other party's node stored the message `id`, answering a request over a
    /// relayed connection or not; counted by that path if this answer is what marked it
    /// delivered (see [`Self::delivered`]).
    pub fn record_stored(&self, id: ObjectId, relayed: bool) -> Result<Option<NodeEvent>, StoreError> {
        let event = self.record_delivery(id, DeliveryState::Delivered, None)?;
        if event.is_some() {
            let count = if relayed { &self.delivered.relayed } else { &self.delivered.direct };
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(event)
    }

    /// Queued messages due for a delivery attempt, oldest first, in `scope` (see
    /// [`OutboxScope`]: after its backoff, each message backs off by its attempts and by whether
    /// its party is connected: `backoff(attempts, connected)`). Parties not connected also get
    /// a sealed mailbox copy.
    pub fn outbox_due(
        &self,
        scope: OutboxScope,
        connected: &HashSet<PeerId>,
        backoff: impl Fn(u32, bool) -> std::time::Duration,
    ) -> Result<OutboxDue, ServiceError> {
        let entries: Vec<OutboxEntry> = match scope {
            OutboxScope::Now(peer) | OutboxScope::Next(peer) => match PublicKey::from_peer_id(&peer) {
                Some(key) => self.store.outbox_pending_for(&key)?,
                None => return Ok(OutboxDue::default()),
            },
            OutboxScope::All => self.store.outbox_pending()?,
        };
        let mut by_peer: HashMap<PeerId, Outgoing> = HashMap::new();
        let mut waiting: HashSet<PeerId> = HashSet::new();
        let mut due = OutboxDue::default();
        let now = Timestamp::now();
        for entry in entries {
            let peer = entry.to.peer_id();
            let object = match self.store.get(&entry.id) {
                Ok(object) => object,
                // One unreadable message must not hold back the others.
                Err(e) => {
                    tracing::warn!(error = %e, id = %entry.id.fmt_short(), "cannot read a queued message");
                    None
                }
            };
            // An offer whose terms lapsed in the outbox is not sent again: nobody could accept
            // it, and it would open a dead thread at the other party (its sealed copy lapsed
            // with the terms, see `mail_out`). A lapsed counter still goes: it tells the other
            // party that the thread has ended.
            if let Some(object) = &object
                && lapses_unsent(object, now)
            {
                match self.record_delivery(entry.id, DeliveryState::Lapsed, None) {
                    Ok(event) => due.lapsed.extend(event),
                    Err(e) => tracing::warn!(error = %e, "cannot record a lapsed offer"),
                }
                continue;
            }
            waiting.insert(peer);
            // A party that is not connected gets a sealed copy through the network as well;
            // whichever arrives first wins, and the other is a harmless duplicate.
            if !connected.contains(&peer) {
                match self.mail_out(&entry) {
                    Ok(Some(bytes)) => due.mail.push(bytes),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot seal a message for offline delivery"),
                }
            }
            if !matches!(scope, OutboxScope::Now(_))
                && let Some(last) = entry.last_attempt
                && now.since(last) < backoff(entry.attempts, connected.contains(&peer))
            {
                continue;
            }
            if let Some(object) = object {
                by_peer.entry(peer).or_default().push((entry.id, object.bytes().to_vec()));
            }
        }
        for (peer, messages) in by_peer {
            if connected.contains(&peer) {
                due.batches.push((peer, messages));
            } else {
                due.unreachable.push(peer);
            }
        }
        due.waiting = waiting.into_iter().collect();
        Ok(due)
    }

    /// Ends the open threads on the owner's expired and closed listings (telling the other
    /// parties), then removes from disk what has had its time (expired listings, threads that
    /// ended without a deal long ago, expired mail). Returns what was removed, and what to
    /// deliver. The removal runs even if the endings could not be read.
    pub fn sweep(&self) -> Result<(haggle_storage::Swept, Followups), ServiceError> {
        let now = Timestamp::now();
        let mut then = Followups::default();
        if let Err(e) = self.end_stale_threads(now, &mut then) {
            tracing::warn!(error = %e, "cannot end the threads of closed and expired listings");
        }
        let mut swept = self.store.sweep_expired_keeping(now, Some(&self.me()))?;
        swept.evicted = self.store.evict_over_budget(self.policy.max_listings, &self.me())?;
        if let Err(e) = self.hand_over_due(&mut then) {
            tracing::warn!(error = %e, "cannot hand over the keys of digital goods paid for");
        }
        // Files go with the listings that named them, and others' past the budget.
        match self.retain_files(self.policy.blob_budget) {
            Ok(0) => {}
            Ok(freed) => tracing::info!(freed, "dropped files no listing names, or past the file budget"),
            Err(e) => tracing::warn!(error = %e, "cannot tidy the file store"),
        }
        Ok((swept, then))
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }
}

/// The most closed listings [`Service::closed_since`] gives, and how many of the newest members
/// of the reconciliation set signed since then it looks through for them (each is one read): a
/// watch tells what came while it was away in a screenful, not a history.
pub const CLOSED_SINCE_MAX: usize = 50;
const CLOSED_SINCE_SCAN: usize = 5_000;

/// The furthest a search pages: the index collects `offset + limit` hits to answer, so a huge
/// offset would cost any client (or script) memory and time for nothing a person reads.
const MAX_OFFSET: usize = 10_000;
/// The longest search text (words, or a location's) taken, in characters: a query uses its
/// first 16 words anyway, and the text travels in the API's URL.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// Refuses search text (words, or a location's) over [`MAX_QUERY_CHARS`]: checked by the node,
/// and by the client before the text goes into a URL.
pub fn check_search_text(params: &SearchParams) -> Result<(), InvalidInput> {
    let texts = [("a search", Some(&params.q)), ("a location (near)", params.near.as_ref())];
    for (what, text) in texts {
        let len = text.map_or(0, |t| t.chars().count());
        if len > MAX_QUERY_CHARS {
            return Err(InvalidInput::QueryTooLong { what, len, max: MAX_QUERY_CHARS });
        }
    }
    // Words are runs of letters and digits: a search of emoji or punctuation alone would
    // match everything, as an empty one does.
    for (what, text) in texts {
        if let Some(text) = text.filter(|t| !t.trim().is_empty() && !t.chars().any(char::is_alphanumeric)) {
            return Err(InvalidInput::NoWords { what, given: text.trim().to_owned() });
        }
    }
    // The other parameters are short when valid (a category path, amounts); bounded all the
    // same, since they travel in the URL too.
    let rest = [&params.category, &params.min_price, &params.max_price, &params.free];
    let len = rest.iter().map(|t| t.as_ref().map_or(0, |t| t.chars().count())).max().unwrap_or(0);
    if len > MAX_QUERY_CHARS {
        return Err(InvalidInput::QueryTooLong { what: "a search filter", len, max: MAX_QUERY_CHARS });
    }
    Ok(())
}

/// Whether the owner's queued message `object` lapses unsent: an offer whose terms expired
/// (nobody could accept it). The outbox records it `Lapsed` at its next pass; views read it so
/// at once.
pub(crate) fn lapses_unsent(object: &Object, now: Timestamp) -> bool {
    object.kind() == haggle_protocol::ObjectKind::Offer
        && object.body().terms().is_some_and(|t| t.expires_at <= now)
}

/// Where a search by distance measured from, as the API says it, with how far the nearest
/// match is when nothing matched within the distance.
fn around_view(
    around: Option<haggle_storage::Around>,
    nearest_m: Option<f64>,
) -> Option<crate::api::types::AroundView> {
    around.map(|a| crate::api::types::AroundView {
        lat: a.from.lat,
        lon: a.from.lon,
        within_m: a.within_m,
        nearest_m,
    })
}

/// How far from a place a search looks when it gives no distance: a drive across town and its
/// outskirts.
const DEFAULT_WITHIN_M: u32 = 25_000;

/// Turns the API's search parameters into the store's query, reading prices in the currency.
fn search_query(params: SearchParams) -> Result<SearchQuery, ServiceError> {
    check_search_text(&params)?;
    let ending_soon = params.sort == Some(haggle_storage::Sort::EndingSoon);
    if let Some(kind) = params.kind.filter(|k| ending_soon && *k != haggle_protocol::ListingKind::Auction) {
        return Err(InvalidInput::EndingSoonKind { kind }.into());
    }
    let offset = params.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(InvalidInput::OffsetTooLarge { offset, max: MAX_OFFSET }.into());
    }
    let amount = |text: Option<String>| -> Result<Option<u64>, ServiceError> {
        let Some(text) = text else { return Ok(None) };
        // Nothing is nothing in every currency: `--max-price 0` finds what is free.
        let t = text.trim();
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let zero =
            !(whole.is_empty() && frac.is_empty()) && whole.bytes().chain(frac.bytes()).all(|b| b == b'0');
        if zero && params.currency.is_none() {
            return Ok(Some(0));
        }
        let currency = params.currency.as_ref().ok_or(haggle_storage::SearchError::PriceWithoutCurrency)?;
        Ok(Some(currency.parse_amount(&text)?))
    };
    let (min_price, max_price) = (amount(params.min_price.clone())?, amount(params.max_price.clone())?);
    if let (Some(min), Some(max), Some(currency)) = (min_price, max_price, &params.currency)
        && min > max
    {
        return Err(InvalidInput::EmptyPriceRange {
            min: params.min_price.clone().unwrap_or_default(),
            max: params.max_price.clone().unwrap_or_default(),
            currency: currency.clone(),
        }
        .into());
    }
    let around = match (params.around.as_deref(), params.within.as_deref()) {
        (None, Some(_)) => return Err(InvalidInput::WithinWithoutPlace.into()),
        (None, None) => None,
        (Some(place), within) => Some(haggle_storage::Around {
            from: haggle_protocol::geo::place(place).map_err(InvalidInput::from)?,
            within_m: within
                .map(haggle_protocol::geo::distance)
                .transpose()
                .map_err(InvalidInput::from)?
                .unwrap_or(DEFAULT_WITHIN_M),
        }),
    };
    let nearest_first = if around.is_some() && params.q.trim().is_empty() {
        haggle_storage::Sort::Distance
    } else {
        haggle_storage::Sort::default()
    };
    Ok(SearchQuery {
        around,
        min_price,
        max_price,
        text: params.q,
        // Ending soon means auctions.
        kind: if ending_soon { Some(haggle_protocol::ListingKind::Auction) } else { params.kind },
        // In any case, as the owner's listings are filtered (from an integrator's trial:
        // `Music/` was refused here and taken there).
        category: params.category.map(|c| c.to_lowercase()),
        currency: params.currency,
        seller: params.seller,
        hide_sellers: Vec::new(),
        location: params.near,
        // Around a place with no words, the nearest first (newest first would order a map by
        // age); with words, the best matches first, as any search.
        sort: params.sort.unwrap_or(nearest_first),
        offset,
        limit: params.limit.unwrap_or(20),
    })
}

/// A page's size as asked (`limit`), all when not asked; 0 or over [`haggle_storage::MAX_PAGE`]
/// is refused.
fn page_limit(limit: Option<usize>) -> Result<usize, ServiceError> {
    match limit {
        Some(asked) if asked == 0 || asked > haggle_storage::MAX_PAGE => {
            Err(haggle_storage::SearchError::BadLimit { asked, max: haggle_storage::MAX_PAGE }.into())
        }
        Some(limit) => Ok(limit),
        None => Ok(usize::MAX),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Services over temporary stores, for the service's unit tests.

    use std::sync::Arc;

    use haggle_protocol::{ObjectId, fixtures};
    use haggle_storage::Store;

    use super::{Service, Via};
    use crate::api::types::{ListingDraft, ObjectKind, TermsDraft};

    /// A service with key `n` over a fresh store; keep the directory alive as long as the service.
    pub(crate) fn service(n: u8) -> (Service, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path()).expect("a store");
        let blobs = haggle_storage::blobs::Blobs::open(&dir.path().join("blobs")).expect("a blob directory");
        let service = Service::new(
            Arc::new(store),
            Arc::new(fixtures::key(n)),
            super::Policy::default(),
            Arc::new(blobs),
        );
        (service, dir)
    }

    /// Terms at `price`, the rest as the listing has them.
    pub(crate) fn offer_of(price: &str) -> crate::api::types::TermsDraft {
        crate::api::types::TermsDraft {
            price: Some(price.into()),
            ..crate::api::types::TermsDraft::default()
        }
    }

    /// A seller's listing of `stock` chairs and a buyer's deal for `quantity` of them, made on both
    /// nodes (the seller accepts, the buyer's node confirms): the listing's id and the deal's.
    pub(crate) fn chairs_deal(
        seller: &Service,
        buyer: &Service,
        stock: u32,
        quantity: u32,
    ) -> (String, ObjectId) {
        let listing = seller
            .publish(ListingDraft { quantity: Some(stock), ..draft("Chairs", "20") })
            .expect("published");
        buyer.receive(listing.object.bytes(), Via::Gossip);
        let id = listing.object.id().to_hex();
        let terms = TermsDraft { quantity: Some(quantity), ..offer_of("20") };
        let offer = buyer.offer(&id, terms).expect("offered");
        seller.receive(offer.object.bytes(), Via::Direct);
        let accept = seller.accept(&offer.object.id().to_hex()).expect("accepted");
        assert_eq!(buyer.receive(accept.object.bytes(), Via::Direct).then.deliver, vec![seller.me()]);
        let record = buyer.store.thread(&offer.object.id()).expect("read").expect("thread");
        let confirm = record.messages.iter().find(|m| m.kind() == ObjectKind::Confirm).expect("a confirm");
        assert!(!seller.receive(confirm.bytes(), Via::Direct).then.publish.is_empty(), "the deal's revision");
        assert_eq!(seller.listing_view(&id).expect("view").quantity, stock - quantity);
        (id, accept.object.id())
    }

    /// A listing draft for a bike in euros.
    pub(crate) fn draft(title: &str, price: &str) -> crate::api::types::ListingDraft {
        crate::api::types::ListingDraft {
            title: title.into(),
            category: "vehicles/bikes".into(),
            price: Some(price.into()),
            currency: "EUR".parse().ok(),
            ..crate::api::types::ListingDraft::default()
        }
    }
}

/// What an id prefix names, given what the store resolved it to (`held`) and the deals it holds
/// only the ratings of whose ids start with it (`rated`, each with its ratings): the object
/// held, unless a rated deal shares the prefix (then ambiguous); else the rated deal, said as
/// one this node does not hold.
fn with_rated(
    given: &str,
    what: &'static str,
    held: Result<ObjectId, ServiceError>,
    rated: Vec<(ObjectId, Vec<ObjectId>)>,
) -> Result<ObjectId, ServiceError> {
    match held {
        Ok(id) => {
            let others = rated.into_iter().map(|(deal, _)| deal).filter(|deal| *deal != id);
            let candidates: Vec<ObjectId> = std::iter::once(id).chain(others).collect();
            match candidates.len() {
                1 => Ok(id),
                _ => Err(ServiceError::Ambiguous { given: given.to_owned(), candidates }),
            }
        }
        Err(_) => Err(match rated.as_slice() {
            [] => ServiceError::not_found(what, given),
            [(deal, ratings)] => ServiceError::OnlyRated { deal: *deal, ratings: ratings.clone() },
            many => ServiceError::Ambiguous {
                given: given.to_owned(),
                candidates: many.iter().map(|(deal, _)| *deal).collect(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_of_at_most_0_needs_no_currency_and_any_other_does() {
        let query =
            |max: &str| search_query(SearchParams { max_price: Some(max.into()), ..SearchParams::default() });
        for zero in ["0", "0.00", ".0"] {
            assert_eq!(query(zero).expect(zero).max_price, Some(0), "{zero}");
        }
        for priced in ["1", "0.5", "10", "0.0.0", ".", "0.."] {
            assert!(query(priced).expect_err(priced).to_string().contains("currency"), "{priced}");
        }
    }

    /// Defect: a short prefix naming an object held here and a deal between two other people
    /// (of which this node holds only the ratings) resolved to the object, hiding the deal.
    #[test]
    fn a_prefix_an_object_held_shares_with_a_rated_deal_is_ambiguous() {
        let id = |b: u8| ObjectId::from_bytes([b; 32]);
        let (held, deal, rating) = (id(0xab), id(0xab ^ 1), id(7));
        let found = |held: Result<ObjectId, ServiceError>, rated: Vec<(ObjectId, Vec<ObjectId>)>| {
            with_rated("ababab", "object", held, rated)
        };
        let not_found = || Err(ServiceError::not_found("object", "ababab"));
        match found(Ok(held), vec![(deal, vec![rating])]) {
            Err(ServiceError::Ambiguous { candidates, .. }) => assert_eq!(candidates, vec![held, deal]),
            other => panic!("{other:?}"),
        }
        // The party's own deal, held and rated: the deal, once.
        assert_eq!(found(Ok(held), vec![(held, vec![rating])]).ok(), Some(held));
        assert_eq!(found(Ok(held), Vec::new()).ok(), Some(held));
        assert!(matches!(
            found(not_found(), vec![(deal, vec![rating])]),
            Err(ServiceError::OnlyRated { .. })
        ));
        assert!(matches!(found(not_found(), Vec::new()), Err(ServiceError::NotFound { .. })));
    }

    /// Defect (a trial): a message a mailbox receipt marked delivered, then answered `stored` to
    /// a request already on its way, was counted twice in `status` (once through a mailbox, once
    /// direct). Each is counted once, by the path that marked it delivered.
    #[test]
    fn a_delivery_is_counted_once_by_the_path_that_made_it() {
        use crate::api::types::Delivered;
        use testing::{draft, offer_of, service};

        let (seller, _sd) = service(1);
        let (buyer, _bd) = service(2);
        let listing = seller.publish(draft("Road bike", "120")).expect("published");
        buyer.receive(listing.object.bytes(), Via::Gossip);
        let id = listing.object.id().to_hex();
        let first = buyer.offer(&id, offer_of("100")).expect("offered").object.id();
        assert!(buyer.record_stored(first, true).expect("recorded").is_some());
        assert!(buyer.record_stored(first, false).expect("recorded").is_none(), "a late answer");
        let second = buyer.send_note(&first.to_hex(), "Still there?".into()).expect("sent").object.id();
        buyer.record_delivery(second, DeliveryState::Delivered, None).expect("a receipt's record");
        assert!(buyer.record_stored(second, false).expect("recorded").is_none(), "already delivered");
        assert_eq!(buyer.delivered(), Delivered { direct: 0, relayed: 1, mailbox: 0 });
    }
}
