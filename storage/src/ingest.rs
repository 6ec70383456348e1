//! Ingest: the one way objects enter the store. Each object is decoded and verified (or arrives
//! already [`Verified`]), checked against what the store holds (revision rules, thread linkage,
//! quantity), and written with everything it implies in one atomic batch. Ingesting the same
//! bytes again changes nothing.

use haggle_protocol::thread::{CONFIRM_GRACE, MAX_THREAD_MESSAGES, check_offer, check_reply, resolve};
use haggle_protocol::{
    Body, Deal, DecodeError, ListingKey, Object, ObjectId, ObjectKind, ThreadError, Timestamp, Verified,
};

use crate::batch::Gathered;
use crate::error::StoreError;
use crate::keys;
use crate::store::{Durability, FEED_BATCH, INDEX_BATCH, Store, decode_stored};

/// What happened to an object offered to the store. Not an error: the network sends duplicates
/// and old revisions all the time.
#[derive(Debug)]
#[must_use]
pub enum Outcome {
    /// Stored; new to this node. `deal` is set when this message completed a Deal.
    New {
        /// The object's id.
        id: ObjectId,
        /// The object's kind.
        kind: ObjectKind,
        /// The id of the Deal this message completed (the Accept's id), if any.
        deal: Option<ObjectId>,
    },
    /// Already held; nothing changed.
    Duplicate {
        /// The object's id.
        id: ObjectId,
    },
    /// A listing revision older than the current one: kept with the listing's history, but the
    /// current revision stays.
    Stale {
        /// The object's id.
        id: ObjectId,
        /// The id of the current revision (for a mailbox already delivered, its receipt's id).
        current: ObjectId,
    },
    /// Not stored, and why.
    Rejected(Rejection),
}

impl Outcome {
    /// Whether the object was stored and is new to this node.
    pub fn is_new(&self) -> bool {
        matches!(self, Outcome::New { .. })
    }

    /// The object's id, if the bytes decoded far enough to have one.
    pub fn id(&self) -> Option<ObjectId> {
        match self {
            Outcome::New { id, .. } | Outcome::Duplicate { id } | Outcome::Stale { id, .. } => Some(*id),
            Outcome::Rejected(r) => r.id,
        }
    }
}

/// An object the store refused.
#[derive(Debug)]
pub struct Rejection {
    /// The object's id; `None` when the bytes did not decode or verify.
    pub id: Option<ObjectId>,
    /// Why the object was refused.
    pub reason: RejectReason,
}

/// Why an object was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The bytes do not decode, verify or meet the limits.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The object had already expired when it arrived.
    #[error("it has expired")]
    Expired,
    /// An offer names a listing revision this node does not hold.
    #[error("it refers to listing {0}, which this node does not hold")]
    UnknownListing(ObjectId),
    /// A reply names a thread whose offer this node does not hold.
    #[error("it replies in thread {0}, which this node does not hold")]
    UnknownThread(ObjectId),
    /// A reply answers a message this node does not hold in that thread.
    #[error("it answers message {0}, which this node does not hold in that thread")]
    UnknownPrev(ObjectId),
    /// The message breaks the thread rules.
    #[error(transparent)]
    Thread(#[from] ThreadError),
    /// The thread already holds [`MAX_THREAD_MESSAGES`] messages: one less for anything but a
    /// Confirm, whose place is kept, and two less for a Counter, so the terms it puts on the
    /// table can still be accepted, declined or withdrawn.
    #[error(
        "the thread already holds as many messages as it may ({MAX_THREAD_MESSAGES}, the last two kept for an answer and its confirm): accept, decline or withdraw"
    )]
    ThreadFull,
    /// The listing author's own Accept or Counter asks for more than the listing has left.
    #[error("{requested} asked, but only {remaining} left after deals and what open threads promise")]
    QuantityExceeded {
        /// The quantity the message asks for.
        requested: u32,
        /// What is left after deals and the author's other open counter-offers.
        remaining: u32,
    },
    /// The mailbox's sender or recipient (named) already has as many mailboxes as this node keeps.
    #[error("the {0} already has as many mailbox objects as this node keeps")]
    MailboxFull(&'static str),
    /// The author already withdrew or declined in this thread: a second Withdraw or Decline
    /// says nothing new (replies need no proof of work, and each may carry 2 KiB of text).
    #[error("the author already ended this thread (withdrew or declined): nothing more can be said in it")]
    ThreadEnded,
    /// The offerer has started as many threads with this node as one party may keep there.
    #[error(
        "the offerer already has {max} threads with this node, ended ones included (each kept 30 days after its last message): wait for old ones to go"
    )]
    ThreadQuota {
        /// The limit.
        max: usize,
    },
    /// The offerer has started as many threads on this listing as one party may keep.
    #[error(
        "the offerer already has {max} threads on this listing, ended ones included (each kept 30 days after its last message): wait for old ones to go"
    )]
    ListingThreadQuota {
        /// The limit.
        max: usize,
    },
    /// The offerer already has as many open threads on the listing as one party may.
    #[error("the offerer already has {max} open offers on this listing: withdraw one first")]
    TooManyOpenOffers {
        /// The limit.
        max: usize,
    },
    /// A receipt for a mailbox this node does not hold: it cannot check who may sign it.
    #[error("it acknowledges mailbox {0}, which this node does not hold")]
    UnknownMailbox(ObjectId),
    /// A listing revision at or below the highest revision of a listing this node swept (an old
    /// revision replayed after its successor expired).
    #[error("revision {revision} of this listing or a later one has already ended")]
    Superseded {
        /// The highest revision the node had.
        revision: u32,
    },
    /// The author already has as many open listings as this node keeps per author (neither
    /// closed nor expired).
    #[error(
        "the author already has {max} open listings on this node: a place frees when one of them is sold, retracted or expires"
    )]
    AuthorQuota {
        /// The limit.
        max: usize,
    },
    /// The author already has as many listings held, open and closed, as this node keeps per
    /// author (a closed one's last revision is kept to end the offers on it).
    #[error(
        "the author already has {max} listings on this node, open and closed (a closed one is kept up to 90 days after it closed, to end the offers on it): a place frees when a closed one has been kept its time"
    )]
    AuthorHeldQuota {
        /// The limit.
        max: usize,
    },
    /// A receipt signed by someone other than the mailbox's recipient.
    #[error("only the recipient of mailbox {0} can acknowledge it")]
    NotTheRecipient(ObjectId),
    /// A deal step for a deal this node does not hold (yet: the Confirm may be on its way).
    #[error("it is a step of deal {0}, which this node does not hold")]
    UnknownDeal(ObjectId),
    /// A deal step signed by someone who is not a party of the deal, or addressed to someone
    /// who is not the other party.
    #[error("only the deal's two parties exchange its steps")]
    NotAParty,
    /// A deal step the wrong party signed.
    #[error(transparent)]
    Step(#[from] haggle_protocol::StepError),
    /// The author already signed as many steps in this deal as one party may.
    #[error("the author already signed {max} steps in this deal")]
    DealFull {
        /// The limit.
        max: usize,
    },
    /// The author already rated this deal (the one with the smaller id is kept everywhere).
    #[error("the author already rated this deal (feedback {0})")]
    FeedbackExists(ObjectId),
    /// The author already has as many feedbacks as this node keeps per author.
    #[error("the author already has {max} feedbacks on this node")]
    FeedbackQuota {
        /// The limit.
        max: usize,
    },
    /// A bid that does not count in this node's view of its auction: too low, or after the end
    /// (by its time, or at the seller's node by the arrival).
    #[error(transparent)]
    Bid(haggle_protocol::BidError),
    /// A pledge that does not count in this node's view of its campaign: after the deadline
    /// (by its time, or at the creator's node by the arrival), or a withdrawal of nothing.
    #[error(transparent)]
    Pledge(haggle_protocol::PledgeError),
    /// A bid or pledge on an auction or campaign its author closed.
    #[error("the auction or campaign is closed")]
    MarketClosed,
    /// The author already has as many bids or pledges as one may (on this listing, or on this
    /// node).
    #[error("the author already has {max} bids or pledges on this {scope}")]
    OfferQuota {
        /// The limit.
        max: usize,
        /// `listing` or `node`.
        scope: &'static str,
    },
    /// A Confirm that reached the listing author's node after the confirm window, when what the
    /// Accept promised has been promised to someone else since.
    #[error("the confirm arrived after the accept's window had passed, and what it accepted is gone")]
    ConfirmLate,
    /// The listing author's own Accept, Counter or Confirm of nights already booked or promised.
    #[error(transparent)]
    DatesTaken(haggle_protocol::BookingError),
    /// As [`RejectReason::DatesTaken`], the nights promised in another open thread of the
    /// author's: a counter-offer, or an accept awaiting its confirm.
    #[error("{clash}: {}", held_by(holder))]
    DatesHeld {
        /// The dates asked and the promised range they meet.
        clash: haggle_protocol::BookingError,
        /// The thread that promises them.
        holder: crate::threads::DateHolder,
    },
    /// An active revision of an auction or campaign that changes its kind, price or terms (or
    /// makes a listing one): bids and pledges are judged by the terms they were made under.
    #[error("{}", haggle_protocol::terms_fixed("ID"))]
    AuctionChanged,
    /// The auction or campaign already holds as many bids or pledges as one may.
    #[error("the auction or campaign already holds {max} bids or pledges")]
    MarketFull {
        /// The limit.
        max: usize,
    },
    /// A note about a listing or thread this node does not hold (yet).
    #[error("it is about a listing or thread this node does not hold")]
    UnknownSubject,
    /// A note between keys that are not the two its subject is between: a thread's two
    /// parties, or a listing's author and someone else.
    #[error(
        "a note about a thread goes between its two parties, and one about a listing between its author and someone else"
    )]
    NotBetweenParties,
    /// A note about a "thread" whose id names a held object that opens no thread.
    #[error("it is about {0}, which is not a thread's opening offer, bid or pledge")]
    NotAThread(ObjectId),
    /// The author already wrote as many notes in this conversation as one party may.
    #[error("the author already wrote {max} notes in this conversation")]
    NotesFull {
        /// The limit.
        max: usize,
    },
    /// The author already wrote this many notes since the other side's last.
    #[error("{max} notes in a row and no answer yet: wait for one")]
    NotesUnanswered {
        /// The limit.
        max: usize,
    },
    /// The author already opened as many conversations with the recipient as may go
    /// unanswered.
    #[error(
        "the author already opened {max} conversations with the recipient that it has not answered: wait for an answer"
    )]
    ConversationQuota {
        /// The limit.
        max: usize,
    },
}

/// Which open thread holds nights, and how they come free.
fn held_by(holder: &crate::threads::DateHolder) -> String {
    let thread = holder.thread.fmt_short();
    match holder.counter {
        true => format!(
            "your counter-offer in thread {thread} holds them; withdraw it to free them: haggle withdraw {thread}"
        ),
        false => format!(
            "your accept in thread {thread} holds them while it waits for the other party's confirm; if none comes before its terms expire, they are free again"
        ),
    }
}

impl RejectReason {
    /// Whether the sender is to blame (bad signature, broken rules), as opposed to timing
    /// (expired, or arrived before what it refers to). Gossip penalises only the former.
    pub fn is_peer_fault(&self) -> bool {
        !matches!(
            self,
            // Dated ahead of *our* clock, which may be the one that is wrong.
            RejectReason::Decode(DecodeError::Invalid(
                haggle_protocol::ValidationError::FromTheFuture { .. }
            )) | RejectReason::Expired
                | RejectReason::UnknownListing(_)
                | RejectReason::UnknownThread(_)
                | RejectReason::UnknownPrev(_)
                | RejectReason::QuantityExceeded { .. }
                | RejectReason::DatesTaken(_)
                | RejectReason::DatesHeld { .. }
                | RejectReason::ConfirmLate
                | RejectReason::MailboxFull(_)
                | RejectReason::UnknownMailbox(_)
                | RejectReason::Superseded { .. }
                | RejectReason::AuthorQuota { .. }
                | RejectReason::AuthorHeldQuota { .. }
                | RejectReason::UnknownDeal(_)
                // Two feedbacks of one author on one deal: a forwarder may have seen only one.
                | RejectReason::FeedbackExists(_)
                | RejectReason::FeedbackQuota { .. }
                // A bid judged against this node's view of its auction, which another node's
                // may differ from for a moment.
                | RejectReason::Bid(_)
                | RejectReason::Pledge(_)
                | RejectReason::MarketClosed
                | RejectReason::AuctionChanged
                | RejectReason::OfferQuota { .. }
                | RejectReason::MarketFull { .. }
                // Two replies that crossed each take a place: the sender saw room.
                | RejectReason::ThreadFull
                // Not penalised: a delivery retried after a crash may carry a second one.
                | RejectReason::ThreadEnded
                | RejectReason::ThreadQuota { .. }
                | RejectReason::ListingThreadQuota { .. }
                // Whether a thread is still open depends on this node's clock, and on the
                // order a Withdraw and a new offer sent together arrive in.
                | RejectReason::TooManyOpenOffers { .. }
                // A note may come before the listing it asks about reached this node, or
                // cross the other side's answer.
                | RejectReason::UnknownSubject
                | RejectReason::NotesUnanswered { .. }
                | RejectReason::ConversationQuota { .. }
                // The two nodes sweep a conversation at different times: the sender's may have
                // forgotten notes this node still counts.
                | RejectReason::NotesFull { .. }
        )
    }
}

impl RejectReason {
    /// Whether the same object sent again can never be taken, whatever arrives meanwhile: the
    /// author already ended the thread, or it is full; a later revision ended this one; the
    /// market closed; the author's feedback on the deal is held. A sender's outbox then gives
    /// up at once and shows why, instead of trying again until the message expires. Not final:
    /// what refers to something not arrived yet; what a message on the way can change (open
    /// offers and thread quotas, which a Withdraw or a deal frees; quantities and dates, which
    /// a lapsed hold frees, and with them a late Confirm); and what this node's clock decides
    /// (expiry), which may be the wrong one.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            RejectReason::ThreadEnded
                | RejectReason::ThreadFull
                | RejectReason::Superseded { .. }
                | RejectReason::MarketClosed
                | RejectReason::FeedbackExists(_)
                | RejectReason::NotesFull { .. }
                | RejectReason::NotBetweenParties
                | RejectReason::NotAThread(_)
        )
    }
}

/// Open offers one party may have on one listing at once: someone haggling over a listing needs
/// one, perhaps two for different quantities; more is a flood of threads the listing's author
/// must store and walk.
pub const MAX_OPEN_OFFERS: usize = 3;

/// Threads one key may have started with this node kept at once, ended ones included (kept
/// [`crate::sweep::THREAD_RETENTION`] after their last message): far above what a buyer starts
/// with one seller in a month, and a bound on the threads each new offer of that key is checked
/// against (an offer and a withdrawal, again and again, made the check of each new offer walk
/// every thread the key had ever started, under the store's write lock).
pub const MAX_THREADS_PER_OFFERER: usize = 256;

/// Threads one key may have started on one listing kept at once, ended ones included: an offer,
/// a withdrawal and a new offer a day is far below it. Each new offer resolves the key's threads
/// on its listing to count the open ones, so this bounds that work.
pub const MAX_THREADS_PER_LISTING: usize = 32;

/// Open listings one author may have on a node (neither closed nor expired): above what a
/// person or most shops list at once.
pub const MAX_LISTINGS_PER_AUTHOR: usize = 1_000;

/// Listings one author may have on a node in all, open, closed (kept a while to end the offers
/// on them) and expired: a bound on what one key can make every node store (with the revision
/// history, at most 17 objects per listing), five times the open ones, so a shop that sold its
/// thousandth item lists the next at once.
pub const MAX_HELD_PER_AUTHOR: usize = 5_000;

/// What [`Store::threads_started_by`] counted: offer threads a key started with this node
/// (counting stops at [`MAX_THREADS_PER_OFFERER`]), those on one listing, and the open ones
/// there (counting stops at [`MAX_OPEN_OFFERS`]).
struct Started {
    started: usize,
    on_listing: usize,
    open: usize,
}

pub(crate) fn rejected(id: Option<ObjectId>, reason: impl Into<RejectReason>) -> Outcome {
    Outcome::Rejected(Rejection { id, reason: reason.into() })
}

/// Whom an offer, bid or pledge is made to (the listing's author).
fn o_to(offer: &Object) -> haggle_protocol::PublicKey {
    offer.body().opening().map_or(offer.author(), |o| o.to)
}

/// Where an object comes from. The owner's own negotiation messages go into the outbox, and the
/// quantity guard applies to the listing author's own Accepts and Counters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Own,
    Network,
    /// Given back by the other party of a thread, for a node that lost it (restored from a
    /// backup): as from the network, but a Confirm is judged by the date it was signed, not by
    /// when it comes back (it may come days after the deal, past the window its Accept gave).
    History,
}

impl Store {
    /// Decodes, verifies and stores untrusted bytes.
    pub fn ingest(&self, bytes: &[u8], durability: Durability) -> Result<Outcome, StoreError> {
        let now = Timestamp::now();
        match Object::decode_verify(bytes, now) {
            Ok(object) => self.ingest_verified(&object, durability),
            Err(e) => Ok(rejected(None, e)),
        }
    }

    /// Stores an object verified elsewhere (e.g. in parallel by the caller).
    pub fn ingest_verified(
        &self,
        object: &Verified<Object>,
        durability: Durability,
    ) -> Result<Outcome, StoreError> {
        let outcome = self.write(object, Origin::Network, Timestamp::now())?;
        // A refusal acknowledges nothing, and what it may mark (refused for a while) is a
        // cache: no flush, or a stream of refused messages (a Counter to an unknown thread
        // needs no proof of work) forces one each.
        let durability = if matches!(outcome, Outcome::Rejected(_)) { Durability::Lazy } else { durability };
        self.after_write(durability)?;
        Ok(outcome)
    }

    /// Stores a negotiation message or deal step the other party gave back (see
    /// [`Origin::History`]), written lazily: the caller flushes once for all it was given.
    pub fn ingest_history(&self, object: &Verified<Object>) -> Result<Outcome, StoreError> {
        let outcome = self.write(object, Origin::History, Timestamp::now())?;
        self.after_write(Durability::Lazy)?;
        Ok(outcome)
    }

    /// Stores an object this node's owner just signed: flushed to disk before returning, and
    /// found by the next search. A negotiation message also enters the outbox, in the same batch, so
    /// a message the user is told is queued is never lost. The listing author's Accepts and Counters are refused if they ask for
    /// more than is left: the listing's quantity minus deals made since its current revision and
    /// minus the owner's other open counter-offers.
    pub fn ingest_own(&self, object: &Verified<Object>) -> Result<Outcome, StoreError> {
        let outcome = self.write(object, Origin::Own, Timestamp::now())?;
        self.after_write(Durability::Flush)?;
        Ok(outcome)
    }

    /// The index is not committed here, even for the owner's objects: a search takes every
    /// pending change in first, so a listing is found as soon as it is written, and a node that
    /// publishes or negotiates does not pay an index commit (new segment files, fsyncs, a reader
    /// reload) for each object nobody has searched for yet.
    pub(crate) fn after_write(&self, durability: Durability) -> Result<(), StoreError> {
        if durability == Durability::Flush {
            self.db.flush()?;
        }
        self.index_when_due();
        Ok(())
    }

    /// Feeds the search index once [`FEED_BATCH`] changes are pending, and commits once
    /// [`INDEX_BATCH`] have been fed. The index is derived data: a failure here loses nothing
    /// written (the changes stay pending, or above the index's watermark, and are taken in
    /// again by the next catch-up), so it is logged rather than failing the write.
    pub(crate) fn index_when_due(&self) {
        let result = if self.index_failed_lately() {
            Ok(())
        } else if self.index.uncommitted() + self.pending_index_len() >= INDEX_BATCH {
            self.catch_up_index()
        } else if self.pending_index_len() >= FEED_BATCH {
            self.feed_index()
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not bring the search index up to date; will retry");
        }
    }

    pub(crate) fn write(
        &self,
        object: &Object,
        origin: Origin,
        now: Timestamp,
    ) -> Result<Outcome, StoreError> {
        let _lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut gathered = Gathered::default();
        let outcome = self.write_into(object, origin, now, &mut gathered)?;
        self.commit(gathered)?;
        Ok(outcome)
    }

    /// Checks and writes `object`, with the write lock held by the caller: a listing's records
    /// join `gathered` (which is applied first if it already writes that listing, since the
    /// checks read the database); anything else is written at once, after what `gathered` holds
    /// (so an offer finds a listing gathered just before it).
    pub(crate) fn write_into(
        &self,
        object: &Object,
        origin: Origin,
        now: Timestamp,
        gathered: &mut Gathered,
    ) -> Result<Outcome, StoreError> {
        let must_apply = object.listing_key().is_none_or(|key| gathered.writes(&key));
        if must_apply {
            self.commit(std::mem::take(gathered))?;
        }
        let id = object.id();
        // An evicted object is as good as held: taking it in again would only evict it again.
        // A listing's revision is found held through its head, which `write_listing` reads.
        let held = |store: &Self| match object.body() {
            Body::Listing(_) => Ok(false),
            _ => store.contains(&id),
        };
        if self.is_evicted(&id)? || held(self)? {
            return Ok(Outcome::Duplicate { id });
        }
        match object.body() {
            Body::Listing(_) => self.write_listing(object, now, gathered),
            Body::Offer(_) => self.write_offer(object, origin),
            Body::Mailbox(_) => self.write_mailbox(object, None, now),
            Body::Receipt(_) => self.write_receipt(object, now),
            Body::Step(_) => self.write_step(object, origin),
            Body::Feedback(_) => self.write_feedback(object, now),
            Body::Bid(_) | Body::Pledge(_) => self.write_public_offer(object, now),
            Body::Note(_) => self.write_note(object, origin),
            _ => self.write_reply(object, origin, now),
        }
    }

    fn write_offer(&self, offer: &Object, origin: Origin) -> Result<Outcome, StoreError> {
        let id = offer.id();
        let Body::Offer(o) = offer.body() else { unreachable!("called for offers") };
        let Some(listing) = self.get(&o.listing)? else {
            return Ok(rejected(Some(id), RejectReason::UnknownListing(o.listing)));
        };
        if let Err(e) = check_offer(&listing, offer) {
            return Ok(rejected(Some(id), e));
        }
        let key = listing.listing_key().expect("check_offer saw a listing");
        // Counted the same on both sides (threads of this offerer to this listing's author), so
        // the offerer's own node refuses what the other's would, and says so, rather than
        // queue an offer that can never be delivered.
        let Started { started, on_listing, open } = self.threads_started_by(&offer.author(), &o.to, &key)?;
        if started >= MAX_THREADS_PER_OFFERER {
            return Ok(rejected(Some(id), RejectReason::ThreadQuota { max: MAX_THREADS_PER_OFFERER }));
        }
        if on_listing >= MAX_THREADS_PER_LISTING {
            return Ok(rejected(Some(id), RejectReason::ListingThreadQuota { max: MAX_THREADS_PER_LISTING }));
        }
        if open >= MAX_OPEN_OFFERS {
            return Ok(rejected(Some(id), RejectReason::TooManyOpenOffers { max: MAX_OPEN_OFFERS }));
        }
        let mut batch = crate::writes::Batch::default();
        batch.insert(keys::object(&id), offer.bytes());
        batch.insert(keys::thread(&id, &id), &[]);
        batch.insert(keys::listing_thread(&key, &id), &[]);
        batch.insert(keys::party_thread(&offer.author(), &id), &[]);
        batch.insert(keys::party_thread(&o.to, &id), &[]);
        if origin == Origin::Own {
            self.queue_for_delivery(&mut batch, offer)?;
        }
        self.apply_writes(batch)?;
        Ok(Outcome::New { id, kind: ObjectKind::Offer, deal: None })
    }

    /// Whether one of the thread's messages made a deal (keys only: a thread holds at most
    /// [`MAX_THREAD_MESSAGES`] messages, and an offer with its withdrawal two).
    fn thread_has_deal(&self, thread: &ObjectId) -> Result<bool, StoreError> {
        for k in self.db.scan_prefix(keys::key(keys::THREAD, &[thread.as_bytes()])).keys() {
            let message = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "thread key" })?;
            if self.db.contains_key(keys::deal(&message))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Offer threads `offerer` started with `to` (this node's owner, or on the offerer's own
    /// node the listing's author) that did not become deals, and of them those on the listing
    /// `key`
    /// and the open ones there (see [`Started`]). Only a thread on the listing is resolved, at
    /// most [`MAX_THREADS_PER_LISTING`]; the others cost a read of their offer (and of each
    /// listing revision they name, once).
    fn threads_started_by(
        &self,
        offerer: &haggle_protocol::PublicKey,
        to: &haggle_protocol::PublicKey,
        key: &ListingKey,
    ) -> Result<Started, StoreError> {
        let (mut started, mut on_listing, mut open) = (0, 0, 0);
        let mut revisions: std::collections::HashMap<ObjectId, bool> = Default::default();
        for k in self.db.scan_prefix(keys::key(keys::PARTY_THREAD, &[offerer.as_bytes()])).keys() {
            let thread = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "party thread key" })?;
            let Some(first) = self.get(&thread)? else { continue };
            let Some(o) = first.body().opening() else { continue };
            if first.author() != *offerer || o.to != *to {
                continue;
            }
            // A thread that became a deal is kept with its deal, for good: it is business done,
            // not a place taken (a regular buyer would be locked out after 32 deals).
            if first.kind() == ObjectKind::Offer && self.thread_has_deal(&thread)? {
                continue;
            }
            // An offer of this node's owner that the other node refused for good opened nothing
            // there: it takes no place here either.
            if self.offer_refused(&first)?.is_some() {
                continue;
            }
            // Bids and pledges are public, held by every node, and bounded per market.
            started += usize::from(first.kind() == ObjectKind::Offer);
            let on = match revisions.get(&o.listing) {
                Some(on) => *on,
                None => {
                    let on = self.get(&o.listing)?.and_then(|l| l.listing_key()) == Some(*key);
                    revisions.insert(o.listing, on);
                    on
                }
            };
            if on {
                on_listing += 1;
                if on_listing <= MAX_THREADS_PER_LISTING
                    && open < MAX_OPEN_OFFERS
                    && self.thread(&thread)?.is_some_and(|t| !t.view.state.is_final())
                {
                    open += 1;
                }
            }
            // Past it the offer is refused whatever the open count.
            if started >= MAX_THREADS_PER_OFFERER {
                break;
            }
        }
        Ok(Started { started, on_listing, open })
    }

    fn write_reply(&self, reply: &Object, origin: Origin, now: Timestamp) -> Result<Outcome, StoreError> {
        let id = reply.id();
        let r = reply.body().reply().expect("called for replies");
        let offer = match self.get(&r.thread)? {
            Some(offer) if offer.body().opening().is_some() => offer,
            _ => return Ok(rejected(Some(id), RejectReason::UnknownThread(r.thread))),
        };
        let mut messages = self.thread_messages(&r.thread)?;
        let Some(prev) = messages.iter().find(|m| m.id() == r.prev).cloned() else {
            return Ok(rejected(Some(id), RejectReason::UnknownPrev(r.prev)));
        };
        if let Err(e) = check_reply(&offer, &prev, reply) {
            return Ok(rejected(Some(id), e));
        }
        let ends = |kind: ObjectKind| matches!(kind, ObjectKind::Withdraw | ObjectKind::Decline);
        // One ending message per party: a Withdraw and a Decline that crossed are both kept.
        if ends(reply.kind()) && messages.iter().any(|m| ends(m.kind()) && m.author() == reply.author()) {
            return Ok(rejected(Some(id), RejectReason::ThreadEnded));
        }
        // A Confirm that reaches the listing author's node after the confirm window (by that
        // node's clock), when the quantity or the nights have been promised to someone else
        // since, is refused, whatever time it carries: the Accept's promise had lapsed.
        // So is one whose Accept held no promise when it came: the thread did not read
        // `confirming` on that Accept (a Withdraw or Decline of the Confirm's author, beside the
        // branch, had ended it here, and this node let the quantity go), whatever its time (from
        // a review: a key could withdraw, let the author promise the unit again, then confirm).
        let judged_at = if origin == Origin::History { reply.created_at() } else { now };
        let held_promise = || {
            let replies: Vec<&Object> = messages.iter().collect();
            haggle_protocol::thread::resolve(&offer, &replies, judged_at).is_some_and(|v| {
                v.state == haggle_protocol::ThreadState::Confirming && v.chain.last() == Some(&prev.id())
            })
        };
        if origin != Origin::Own
            && reply.kind() == ObjectKind::Confirm
            && self.owner.get() == Some(&r.to)
            && r.to == o_to(&offer)
            && let Some(terms) = prev
                .body()
                .reply()
                .and_then(|a| messages.iter().find(|m| m.id() == a.prev))
                .and_then(|t| t.body().terms())
            && (judged_at > haggle_protocol::thread::confirm_by(terms, &prev).saturating_add(CONFIRM_GRACE)
                || !held_promise())
            && let Some(key) =
                self.get(&offer.body().opening().map_or(id, |o| o.listing))?.and_then(|l| l.listing_key())
        {
            let gone = match terms.dates {
                Some(asked) => {
                    self.dates_taken_except(&key, Some(r.thread))?.iter().any(|t| t.overlaps(&asked))
                }
                None if offer.kind() == ObjectKind::Pledge => false,
                None => self.remaining_quantity_except(&key, Some(r.thread))?.unwrap_or(0) < terms.quantity,
            };
            if gone {
                return Ok(rejected(Some(id), RejectReason::ConfirmLate));
            }
        }
        // The last place is kept for a Confirm, so an Accept that fills the thread can still
        // become a deal; the one before for an answer, so the last Counter can still be
        // accepted, declined or withdrawn (with 31 messages and a Counter last, nobody could end
        // the thread).
        let room = match reply.kind() {
            ObjectKind::Confirm => MAX_THREAD_MESSAGES,
            ObjectKind::Counter => MAX_THREAD_MESSAGES - 2,
            _ => MAX_THREAD_MESSAGES - 1,
        };
        if messages.len() >= room {
            return Ok(rejected(Some(id), RejectReason::ThreadFull));
        }
        let Some(o) = offer.body().opening() else { unreachable!("checked above") };
        let listing_key = self.get(&o.listing)?.and_then(|l| l.listing_key());
        if origin == Origin::Own
            && reply.author() == o.to
            && let Some(key) = listing_key
        {
            let promised = match reply.body() {
                Body::Accept(_) => prev.body().terms(),
                Body::Counter(c) => Some(&c.terms),
                // A Confirm commits the terms its Accept accepted (the message before it).
                Body::Confirm(_) => prev
                    .body()
                    .reply()
                    .and_then(|a| messages.iter().find(|m| m.id() == a.prev))
                    .and_then(|t| t.body().terms()),
                _ => None,
            };
            // A booking promises nights, which must be free; a pledge promises nothing scarce (a
            // campaign takes every backer); anything else a quantity.
            let pledge = offer.kind() == ObjectKind::Pledge;
            match promised.filter(|_| !pledge).map(|t| (t.quantity, t.dates)) {
                Some((_, Some(asked))) => {
                    let holders = self.date_holders(&key, Some(r.thread))?;
                    if let Some((taken, holder)) = holders.into_iter().find(|(t, _)| t.overlaps(&asked)) {
                        let clash = haggle_protocol::BookingError::Taken { asked, taken, free: None };
                        let reason = match holder {
                            Some(holder) => RejectReason::DatesHeld { clash, holder },
                            None => RejectReason::DatesTaken(clash),
                        };
                        return Ok(rejected(Some(id), reason));
                    }
                }
                Some((requested, None)) => {
                    let remaining = self.remaining_quantity_except(&key, Some(r.thread))?.unwrap_or(0);
                    if requested > remaining {
                        return Ok(rejected(
                            Some(id),
                            RejectReason::QuantityExceeded { requested, remaining },
                        ));
                    }
                }
                None => {}
            }
        }
        let mut batch = crate::writes::Batch::default();
        batch.insert(keys::object(&id), reply.bytes());
        batch.insert(keys::thread(&r.thread, &id), &[]);
        messages.push(reply.clone());
        let deal = self.deal_if_accepted(&mut batch, &offer, &messages, listing_key, now)?;
        if origin == Origin::Own {
            self.queue_for_delivery(&mut batch, reply)?;
        }
        self.apply_writes(batch)?;
        Ok(Outcome::New { id, kind: reply.kind(), deal })
    }

    /// If the thread's winning chain ends in a confirmed Accept with no Deal stored yet, adds the
    /// Deal to `batch` and returns its id (the Accept's).
    fn deal_if_accepted(
        &self,
        batch: &mut crate::writes::Batch,
        offer: &Object,
        messages: &[Object],
        listing_key: Option<ListingKey>,
        now: Timestamp,
    ) -> Result<Option<ObjectId>, StoreError> {
        let replies: Vec<&Object> = messages.iter().filter(|m| m.id() != offer.id()).collect();
        let Some(view) = resolve(offer, &replies, now) else {
            return Ok(None);
        };
        // A deal once the chain ends in an Accept and its Confirm; its id is the Accept's.
        let Some(deal_id) = view.deal_id() else { return Ok(None) };
        if self.db.contains_key(keys::deal(&deal_id))? {
            return Ok(None);
        }
        let Some(o) = offer.body().opening() else {
            return Ok(None);
        };
        let (Some(listing), Some(key)) = (self.get(&o.listing)?, listing_key) else {
            // The listing revision was swept before the deal closed; the thread still says
            // accepted, but there is nothing to build a self-contained Deal from.
            tracing::warn!(thread = %offer.id().fmt_short(), "accepted thread without its listing; no deal record");
            return Ok(None);
        };
        let reverify = |o: &Object| Object::decode_verify(o.bytes(), now);
        let chain: Vec<Verified<Object>> = view
            .chain
            .iter()
            .filter_map(|id| messages.iter().find(|m| m.id() == *id))
            .map(reverify)
            .collect::<Result<_, _>>()
            .map_err(|_| StoreError::Corrupt { what: "thread message" })?;
        let listing = reverify(&listing).map_err(|_| StoreError::Corrupt { what: "listing" })?;
        let deal =
            Deal::from_chain(&listing, &chain).map_err(|_| StoreError::Corrupt { what: "deal chain" })?;
        let mut value = deal.terms().quantity.to_be_bytes().to_vec();
        value.extend_from_slice(&deal.made_at().to_be_bytes());
        // A booking's nights ride along, so the guard reads them without decoding deals.
        if let Some(dates) = deal.terms().dates {
            value.extend_from_slice(&dates.from.to_be_bytes());
            value.extend_from_slice(&dates.to.to_be_bytes());
        }
        batch.insert(keys::deal(&deal_id), deal.encode());
        batch.insert(keys::listing_deal(&key, &deal_id), value);
        batch.insert(keys::party_deal(&deal.listing_author(), &deal_id), &[]);
        batch.insert(keys::party_deal(&deal.offerer(), &deal_id), &[]);
        Ok(Some(deal_id))
    }

    /// Every stored message of a thread, the offer included, oldest first.
    pub(crate) fn thread_messages(&self, thread: &ObjectId) -> Result<Vec<Object>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::THREAD, &[thread.as_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "thread key" })?;
            if let Some(bytes) = self.db.get(keys::object(&id))? {
                out.push(decode_stored(&bytes)?);
            }
        }
        out.sort_by_key(|m| (m.created_at(), m.id()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{
        accept, confirm, counter, key, live_listing, live_terms, offer, sign_now, withdraw,
    };
    use haggle_protocol::{Listing, ListingStatus, ThreadState};

    use super::*;
    use crate::testing::{put, store};

    fn revision(n: u32, status: ListingStatus) -> Verified<Object> {
        sign_now(&key(1), Body::Listing(Listing { revision: n, status, ..live_listing("Road bike") }))
    }

    #[test]
    fn ingest_is_idempotent() {
        let (_d, store) = store();
        let l = revision(1, ListingStatus::Active);
        assert!(put(&store, &l).is_new());
        assert!(matches!(put(&store, &l), Outcome::Duplicate { id } if id == l.id()));
        assert_eq!(store.stats().expect("stats").active_listings, 1);
    }

    #[test]
    fn garbage_is_rejected_as_the_senders_fault() {
        let (_d, store) = store();
        let out = store
            .ingest(
                b"definitely not an object, but long enough to hold a signature of 64 bytes ....",
                Durability::Lazy,
            )
            .expect("ingest");
        let Outcome::Rejected(r) = out else { panic!("stored garbage: {out:?}") };
        assert!(r.reason.is_peer_fault());
        let stats = store.stats().expect("stats");
        let sizes = crate::StoreStats {
            size_on_disk: stats.size_on_disk,
            index_size: stats.index_size,
            ..Default::default()
        };
        assert_eq!(stats, sizes, "nothing counted but the files' sizes");
    }

    #[test]
    fn a_higher_revision_replaces_a_lower_one_in_any_order() {
        let (r1, r2) = (revision(1, ListingStatus::Active), revision(2, ListingStatus::Active));
        for order in [[&r1, &r2], [&r2, &r1]] {
            let (_d, store) = store();
            for o in order {
                let _ = put(&store, o);
            }
            let key = r1.listing_key().expect("listing");
            assert_eq!(store.listing(&key).expect("read").expect("held").id(), r2.id());
        }
        let (_d, store) = store();
        let _ = put(&store, &r2);
        assert!(matches!(put(&store, &r1), Outcome::Stale { current, .. } if current == r2.id()));
    }

    #[test]
    fn old_revisions_are_kept_up_to_the_history_limit() {
        let (_d, store) = store();
        let revisions: Vec<_> =
            (1..=keys::MAX_HISTORY as u32 + 3).map(|n| revision(n, ListingStatus::Active)).collect();
        for r in &revisions {
            assert!(put(&store, r).is_new());
        }
        // The head and 16 earlier revisions are held; the two oldest went.
        for (i, r) in revisions.iter().enumerate() {
            assert_eq!(store.contains(&r.id()).expect("read"), i >= 2, "revision {}", i + 1);
        }
        // Their ids still name the listing (the first is the id its author was shown at publish).
        let listing = revisions[0].listing_key().expect("a listing");
        for gone in &revisions[..2] {
            let prefix: haggle_protocol::IdPrefix = gone.id().to_hex()[..12].parse().expect("prefix");
            assert_eq!(store.lookup(&prefix).expect("lookup"), crate::store::Lookup::One(gone.id()));
            assert_eq!(store.alias(&gone.id()).expect("read"), Some(listing));
        }
        // They go with the listing.
        assert_eq!(store.evict_over_budget(0, &key(2).public()).expect("evicted"), 1);
        assert_eq!(store.alias(&revisions[0].id()).expect("read"), None);
        let prefix: haggle_protocol::IdPrefix = revisions[0].id().to_hex()[..12].parse().expect("prefix");
        assert_eq!(store.lookup(&prefix).expect("lookup"), crate::store::Lookup::None);
    }

    /// `holds` answers a listing from its head (no read for a listing never seen): it must agree
    /// with the object records whatever order revisions arrive in, past the history limit, for
    /// other kinds of object, and after a restart rebuilds the derived state.
    #[test]
    fn holds_agrees_with_the_stored_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut revisions: Vec<_> =
            (1..=keys::MAX_HISTORY as u32 + 4).map(|n| revision(n, ListingStatus::Active)).collect();
        // Newest first, then the rest interleaved: stale arrivals and history overflow.
        revisions.swap(0, keys::MAX_HISTORY + 3);
        revisions.swap(3, 10);
        let other = sign_now(&key(2), Body::Listing(live_listing("Lamp")));
        let unseen = sign_now(&key(3), Body::Listing(live_listing("Kettle")));
        let on_other = sign_now(&key(4), offer(&other, live_terms(1, 500)));
        let check = |store: &Store, step: &str| {
            for o in revisions.iter().chain([&other, &unseen, &on_other]) {
                let stored = store.contains(&o.id()).expect("read");
                assert_eq!(store.holds(o).expect("read"), stored, "{step}: {}", o.id());
            }
        };
        {
            let store = Store::open(dir.path()).expect("open");
            check(&store, "empty");
            for o in revisions.iter().chain([&other, &on_other]) {
                let _ = put(&store, o);
                check(&store, "while writing");
            }
            // Both ways an object is found held agree with a copy arriving again.
            for o in revisions.iter().chain([&other, &on_other]) {
                let held = store.holds(o).expect("read");
                assert_eq!(matches!(put(&store, o), Outcome::Duplicate { .. }), held, "{}", o.id());
            }
        }
        let store = Store::open(dir.path()).expect("reopen");
        check(&store, "after a restart");
    }

    #[test]
    fn a_tombstone_closes_the_listing_and_survives_older_revisions() {
        let (_d, store) = store();
        let live = revision(1, ListingStatus::Active);
        let tomb = sign_now(
            &key(1),
            Body::Listing(Listing {
                revision: 2,
                status: ListingStatus::Closed,
                quantity: 0,
                ..live_listing("Road bike")
            }),
        );
        assert!(put(&store, &tomb).is_new());
        assert!(matches!(put(&store, &live), Outcome::Stale { .. }));
        let key = live.listing_key().expect("listing");
        let current = store.listing(&key).expect("read").expect("held");
        assert_eq!(current.listing().expect("listing").status, ListingStatus::Closed);
        assert_eq!(store.stats().expect("stats").closed_listings, 1);
        assert_eq!(store.remaining_quantity(&key).expect("read"), Some(0));
    }

    /// A watch back from a stopped node asks which listings closed meanwhile (no search finds
    /// them): each listing's closing revision signed since then, newest first, and not one still
    /// open, an earlier close, or a closed revision a later one replaced.
    #[test]
    fn closed_listings_since_a_time_are_their_closing_revisions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Timestamp::now();
        let at = |secs: u64| Timestamp::from_millis(now.as_millis() - secs * 1000);
        let closing = |k: u8, title: &str, revision: u32, secs: u64| {
            let listing =
                Listing { revision, status: ListingStatus::Closed, quantity: 0, ..live_listing(title) };
            haggle_protocol::fixtures::sign_at(&key(k), Body::Listing(listing), at(secs))
        };
        let open = |k: u8, title: &str, secs: u64| {
            haggle_protocol::fixtures::sign_at(&key(k), Body::Listing(live_listing(title)), at(secs))
        };
        let (long_ago, before) = (closing(1, "Lamp", 2, 3_600), closing(2, "Kettle", 2, 50));
        let (later, still_open) = (closing(3, "Desk", 2, 20), open(4, "Chair", 10));
        // Closed, then opened again by a later revision (sold out, then restocked).
        let restocked = Listing { revision: 3, ..live_listing("Stool") };
        let reopened = [
            closing(5, "Stool", 2, 40),
            haggle_protocol::fixtures::sign_at(&key(5), Body::Listing(restocked), at(30)),
        ];
        {
            let store = Store::open(dir.path()).expect("open");
            for o in [&long_ago, &before, &later, &still_open].into_iter().chain(&reopened) {
                assert!(put(&store, o).is_new(), "{}", o.id());
            }
            let since = store.closed_listings_since(at(60), 10, 1_000, |_| true).expect("read");
            let ids: Vec<_> = since.iter().map(Object::id).collect();
            assert_eq!(ids, vec![later.id(), before.id()], "newest first, none from before, none reopened");
            let one = store.closed_listings_since(at(60), 1, 1_000, |_| true).expect("read");
            assert_eq!(one.iter().map(Object::id).collect::<Vec<_>>(), vec![later.id()], "at most max");
            // Only the newest `scan` members are looked at: the chair, the stool, the desk.
            assert_eq!(store.closed_listings_since(at(60), 10, 3, |_| true).expect("read").len(), 1);
            // What the caller leaves out (its own, a blocked key's) takes no place of the `max`.
            let others =
                store.closed_listings_since(at(60), 1, 1_000, |o| o.id() != later.id()).expect("read");
            assert_eq!(others.iter().map(Object::id).collect::<Vec<_>>(), vec![before.id()]);
        }
        let store = Store::open(dir.path()).expect("reopen");
        let after = store.closed_listings_since(at(60), 10, 1_000, |_| true).expect("read");
        assert_eq!(after.iter().map(Object::id).collect::<Vec<_>>(), vec![later.id(), before.id()]);
    }

    #[test]
    fn offer_counter_accept_stores_one_deal_on_both_sides() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
        let c = sign_now(&seller, counter(&o, &o, live_terms(1, 11_000)));
        let a = sign_now(&buyer, accept(&o, &c));
        let cf = sign_now(&seller, confirm(&o, &a));
        let (_d1, seller_store) = store();
        let (_d2, buyer_store) = store();
        for s in [&seller_store, &buyer_store] {
            assert!(put(s, &listing).is_new());
            assert!(put(s, &o).is_new());
            assert!(put(s, &c).is_new());
            assert!(matches!(put(s, &a), Outcome::New { deal: None, .. }), "no deal before the confirm");
            match put(s, &cf) {
                Outcome::New { deal: Some(d), .. } => assert_eq!(d, a.id()),
                other => panic!("no deal: {other:?}"),
            }
        }
        let d1 = seller_store.deal(&a.id()).expect("read").expect("deal");
        let d2 = buyer_store.deal(&a.id()).expect("read").expect("deal");
        assert_eq!(d1.encode(), d2.encode());
        assert_eq!(seller_store.deals_of(&seller.public()).expect("read").len(), 1);
        let t = buyer_store.thread(&o.id()).expect("read").expect("thread");
        assert_eq!(t.view.state, ThreadState::Accepted);
        assert_eq!(buyer_store.threads_of(&buyer.public()).expect("read").len(), 1);
    }

    /// Defect: an offer and 30 counters filled the thread so that the last counter could be
    /// neither accepted nor declined nor withdrawn, and nobody could end it. A counter now
    /// leaves two places: one for the answer, one for its confirm.
    #[test]
    fn a_thread_full_of_counters_can_still_be_answered_and_made_a_deal() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
        let (_d, s) = store();
        assert!(put(&s, &listing).is_new());
        assert!(put(&s, &o).is_new());
        let mut last = o.clone();
        // Counters alternate: the seller's on the offer, the buyer's on that, ...
        for n in 0..(MAX_THREAD_MESSAGES - 3) {
            let by = if n % 2 == 0 { &seller } else { &buyer };
            let c = sign_now(by, counter(&o, &last, live_terms(1, 10_000 + n as u64)));
            assert!(put(&s, &c).is_new(), "counter {n} has room");
            last = c;
        }
        // 30 messages: one more counter would leave no place for its answer and confirm.
        let by = if last.author() == seller.public() { &buyer } else { &seller };
        let over = sign_now(by, counter(&o, &last, live_terms(1, 20_000)));
        let Outcome::Rejected(refused) = put(&s, &over) else { panic!("a 31st message that is a counter") };
        let refused = refused.reason;
        assert!(matches!(refused, RejectReason::ThreadFull), "{refused:?}");
        assert!(!refused.is_peer_fault(), "a crossing reply may take the place its sender saw free");
        // The last counter is the seller's or the buyer's; the other party accepts it.
        let (answerer, proposer) =
            if last.author() == seller.public() { (&buyer, &seller) } else { (&seller, &buyer) };
        let a = sign_now(answerer, accept(&o, &last));
        assert!(put(&s, &a).is_new(), "the 31st place is the answer's");
        let cf = sign_now(proposer, confirm(&o, &a));
        assert!(matches!(put(&s, &cf), Outcome::New { deal: Some(_), .. }), "the 32nd the confirm's");
    }

    #[test]
    fn crossing_withdraw_and_accept_agree_whatever_the_order() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
        let a = sign_now(&seller, accept(&o, &o));
        let w = sign_now(&buyer, withdraw(&o, &o, &listing));
        for order in [[&a, &w], [&w, &a]] {
            let (_d, s) = store();
            for x in [&listing, &o, order[0], order[1]] {
                assert!(put(&s, x).is_new(), "both crossing messages are valid and kept");
            }
            // The buyer withdrew before the accept reached it, so it never confirms.
            assert_eq!(s.thread(&o.id()).expect("read").expect("thread").view.state, ThreadState::Withdrawn);
            assert!(s.deal(&a.id()).expect("read").is_none());
        }
    }

    /// From a trial: a buyer's node restored from a backup withdrew its offer, then got back
    /// the seller's counter, its own accept and the seller's confirm. The deal under the
    /// counter counts whatever the order, and the deal is stored on both sides.
    #[test]
    fn a_deal_under_a_counter_is_stored_beside_a_withdraw_from_a_restore() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
        let c = sign_now(&seller, haggle_protocol::fixtures::counter(&o, &o, live_terms(1, 11_000)));
        let a = sign_now(&buyer, accept(&o, &c));
        let cf = sign_now(&seller, haggle_protocol::fixtures::confirm(&o, &a));
        let w = sign_now(&buyer, withdraw(&o, &o, &listing));
        for order in [[&w, &c, &a, &cf], [&c, &a, &cf, &w]] {
            let (_d, s) = store();
            for x in [&listing, &o].into_iter().chain(order) {
                assert!(put(&s, x).is_new(), "every message is valid and kept");
            }
            assert_eq!(s.thread(&o.id()).expect("read").expect("thread").view.state, ThreadState::Accepted);
            assert!(s.deal(&a.id()).expect("read").is_some(), "the deal is stored");
        }
    }

    /// Attack: replies need no proof of work, so one offer followed by 30 Withdraws of 2 KiB
    /// each filled the seller's disk for the price of one offer. A party ends a thread once.
    #[test]
    fn a_party_ends_a_thread_once() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
        let (_d, s) = store();
        assert!(put(&s, &listing).is_new() && put(&s, &o).is_new());
        assert!(put(&s, &sign_now(&buyer, withdraw(&o, &o, &listing))).is_new());
        let Body::Withdraw(mut w) = withdraw(&o, &o, &listing) else { unreachable!("a withdrawal") };
        w.message = "x".repeat(2_000);
        let again = sign_now(&buyer, Body::Withdraw(w));
        match put(&s, &again) {
            Outcome::Rejected(r) => assert!(
                matches!(r.reason, RejectReason::ThreadEnded) && !r.reason.is_peer_fault(),
                "{}",
                r.reason
            ),
            other => panic!("a second withdrawal was kept: {other:?}"),
        }
        // The other party's decline that crossed the withdrawal is kept.
        assert!(put(&s, &sign_now(&seller, haggle_protocol::fixtures::decline(&o, &o))).is_new());
        assert_eq!(s.thread_messages(&o.id()).expect("read").len(), 3);
    }

    /// Attack: an offer and a withdrawal, again and again from one key: each new offer was
    /// checked against every thread the key had started. A key keeps at most
    /// `MAX_THREADS_PER_OFFERER` threads with a node; past it its offers are refused, not
    /// penalised, and other keys are not held back.
    #[test]
    fn one_key_keeps_at_most_its_share_of_threads_with_a_node() {
        let (seller, buyer) = (key(1), key(2));
        let (_d, s) = store();
        let listings: Vec<_> = (0..MAX_THREADS_PER_OFFERER.div_ceil(MAX_THREADS_PER_LISTING))
            .map(|n| {
                let listing = haggle_protocol::Listing {
                    nonce: [n as u8 + 1; 16],
                    ..live_listing(&format!("Road bike {n}"))
                };
                sign_now(&seller, Body::Listing(listing))
            })
            .collect();
        let mut price = 1_000;
        for (n, listing) in listings.iter().enumerate() {
            assert!(put(&s, listing).is_new());
            let threads = MAX_THREADS_PER_LISTING.min(MAX_THREADS_PER_OFFERER - n * MAX_THREADS_PER_LISTING);
            for _ in 0..threads {
                price += 1;
                let o = sign_now(&buyer, offer(listing, live_terms(1, price)));
                assert!(put(&s, &o).is_new(), "offer at {price}");
                assert!(put(&s, &sign_now(&buyer, withdraw(&o, &o, listing))).is_new());
            }
            if n == 0 {
                // The first listing is full for this key.
                match put(&s, &sign_now(&buyer, offer(listing, live_terms(1, 500)))) {
                    Outcome::Rejected(r) => assert!(
                        matches!(r.reason, RejectReason::ListingThreadQuota { max: MAX_THREADS_PER_LISTING })
                            && !r.reason.is_peer_fault(),
                        "{}",
                        r.reason
                    ),
                    other => panic!("offer past the listing's quota was kept: {other:?}"),
                }
            }
        }
        let other = sign_now(&seller, Body::Listing(live_listing("Desk")));
        assert!(put(&s, &other).is_new());
        match put(&s, &sign_now(&buyer, offer(&other, live_terms(1, 500)))) {
            Outcome::Rejected(r) => assert!(
                matches!(r.reason, RejectReason::ThreadQuota { max: MAX_THREADS_PER_OFFERER })
                    && !r.reason.is_peer_fault(),
                "{}",
                r.reason
            ),
            other => panic!("offer past the quota was kept: {other:?}"),
        }
        assert!(put(&s, &sign_now(&key(3), offer(&other, live_terms(1, 500)))).is_new());
    }

    /// Defect (review): threads that became deals are kept for good, and counted against the
    /// 32 threads a key may keep on a listing: a regular buyer of a shop's eggs would have been
    /// locked out after 32 deals. A deal's thread does not count.
    #[test]
    fn deals_take_no_place_among_a_buyers_threads() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(Listing { quantity: 100, ..live_listing("Eggs") }));
        let (_d, s) = store();
        assert!(s.ingest_own(&listing).expect("ingest").is_new());
        for i in 0..MAX_THREADS_PER_LISTING as u64 + 2 {
            let o = sign_now(&buyer, offer(&listing, live_terms(1, 300 + i)));
            assert!(put(&s, &o).is_new(), "offer {i}");
            let a = sign_now(&seller, accept(&o, &o));
            assert!(s.ingest_own(&a).expect("ingest").is_new(), "accept {i}");
            let cf = sign_now(&buyer, confirm(&o, &a));
            assert!(matches!(put(&s, &cf), Outcome::New { deal: Some(_), .. }), "deal {i}");
        }
        let next = sign_now(&buyer, offer(&listing, live_terms(1, 500)));
        assert!(put(&s, &next).is_new(), "a regular buyer offers again");
    }

    #[test]
    fn replies_out_of_order_wait_for_their_thread() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Road bike")));
        let o = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
        let a = sign_now(&seller, accept(&o, &o));
        let (_d, s) = store();
        let Outcome::Rejected(r) = put(&s, &o) else { panic!("offer without listing stored") };
        assert!(matches!(r.reason, RejectReason::UnknownListing(_)) && !r.reason.is_peer_fault());
        let _ = put(&s, &listing);
        let Outcome::Rejected(r) = put(&s, &a) else { panic!("reply without thread stored") };
        assert!(matches!(r.reason, RejectReason::UnknownThread(_)));
        assert!(put(&s, &o).is_new());
        assert!(put(&s, &a).is_new());
    }

    /// Attack: every offer is a new thread the listing's author stores (flushed) and walks; one
    /// key could open them without end.
    #[test]
    fn one_party_has_at_most_three_open_offers_on_a_listing() {
        let (seller, buyer) = (key(1), key(2));
        let listing = sign_now(&seller, Body::Listing(live_listing("Chairs")));
        let (_d, s) = store();
        assert!(s.ingest_own(&listing).expect("ingest").is_new());
        let offers: Vec<_> =
            (1..=4u64).map(|i| sign_now(&buyer, offer(&listing, live_terms(1, 1_000 + i)))).collect();
        for o in &offers[..MAX_OPEN_OFFERS] {
            assert!(put(&s, o).is_new());
        }
        match put(&s, &offers[3]) {
            Outcome::Rejected(r) => assert!(
                // Not the sender's fault: whether a thread is open depends on our clock, and a
                // Withdraw sent with the new offer may arrive after it.
                matches!(r.reason, RejectReason::TooManyOpenOffers { max: 3 }) && !r.reason.is_peer_fault(),
                "{}",
                r.reason
            ),
            other => panic!("a fourth open offer was taken: {other:?}"),
        }
        // Another party is not held back, and an ended thread frees a place.
        assert!(put(&s, &sign_now(&key(3), offer(&listing, live_terms(1, 900)))).is_new());
        let w = sign_now(&buyer, withdraw(&offers[0], &offers[0], &listing));
        assert!(put(&s, &w).is_new());
        assert!(put(&s, &offers[3]).is_new());
    }

    #[test]
    fn the_seller_cannot_promise_more_than_is_left() {
        let (seller, b1, b2, b3) = (key(1), key(2), key(3), key(4));
        let listing = sign_now(&seller, Body::Listing(Listing { quantity: 3, ..live_listing("Chairs") }));
        let key = listing.listing_key().expect("listing");
        let (_d, s) = store();
        assert!(s.ingest_own(&listing).expect("ingest").is_new());
        let o1 = sign_now(&b1, offer(&listing, live_terms(2, 5_000)));
        let o2 = sign_now(&b2, offer(&listing, live_terms(2, 5_000)));
        let o3 = sign_now(&b3, offer(&listing, live_terms(1, 2_000)));
        for o in [&o1, &o2, &o3] {
            assert!(put(&s, o).is_new());
        }
        // Accepting 2 of 3 leaves 1, while awaiting the buyer's confirm and after it.
        let a1 = sign_now(&seller, accept(&o1, &o1));
        assert!(s.ingest_own(&a1).expect("ingest").is_new());
        assert_eq!(s.remaining_quantity(&key).expect("read"), Some(1));
        let cf1 = sign_now(&b1, confirm(&o1, &a1));
        assert!(matches!(put(&s, &cf1), Outcome::New { deal: Some(_), .. }));
        assert_eq!(s.remaining_quantity(&key).expect("read"), Some(1));
        // A second acceptance of 2 would oversell.
        let a2 = sign_now(&seller, accept(&o2, &o2));
        match s.ingest_own(&a2).expect("ingest") {
            Outcome::Rejected(Rejection {
                reason: RejectReason::QuantityExceeded { requested: 2, remaining: 1 },
                ..
            }) => {}
            other => panic!("oversold: {other:?}"),
        }
        // A counter for the last one reserves it ...
        let c3 = sign_now(&seller, counter(&o3, &o3, live_terms(1, 3_000)));
        assert!(s.ingest_own(&c3).expect("ingest").is_new());
        assert_eq!(s.remaining_quantity(&key).expect("read"), Some(0));
        // ... so no other buyer can have it meanwhile.
        let c2 = sign_now(&seller, counter(&o2, &o2, live_terms(1, 3_000)));
        assert!(matches!(s.ingest_own(&c2).expect("ingest"), Outcome::Rejected(_)));
        // The buyer's acceptance of the reserved counter, and the seller's confirm, go through.
        let a3 = sign_now(&b3, accept(&o3, &c3));
        assert!(put(&s, &a3).is_new());
        assert_eq!(s.remaining_quantity(&key).expect("read"), Some(0));
        let cf3 = sign_now(&seller, confirm(&o3, &a3));
        assert!(matches!(s.ingest_own(&cf3).expect("ingest"), Outcome::New { deal: Some(_), .. }));
        assert_eq!(s.remaining_quantity(&key).expect("read"), Some(0));
        // The next revision, published after the deals, counts them in its quantity.
        let next = sign_now(
            &seller,
            Body::Listing(Listing {
                revision: 2,
                status: ListingStatus::Closed,
                quantity: 0,
                ..live_listing("Chairs")
            }),
        );
        assert!(s.ingest_own(&next).expect("ingest").is_new());
        assert_eq!(s.deals_on(&key).expect("read").len(), 2);
    }

    #[test]
    fn expired_listings_are_refused() {
        let (_d, s) = store();
        let at = Timestamp::now().saturating_sub(haggle_protocol::fixtures::DAY * 3);
        let l = haggle_protocol::fixtures::sign_at(
            &key(1),
            Body::Listing(Listing {
                expires_at: at.saturating_add(haggle_protocol::fixtures::DAY),
                ..live_listing("Old")
            }),
            at,
        );
        let Outcome::Rejected(r) = put(&s, &l) else { panic!("stored an expired listing") };
        assert!(matches!(r.reason, RejectReason::Expired));
    }

    #[test]
    fn batches_verify_in_parallel_and_keep_order() {
        let (_d, s) = store();
        let objects: Vec<Vec<u8>> = (0..200u32)
            .map(|i| {
                let mut l = live_listing(&format!("Item {i}"));
                l.nonce[..4].copy_from_slice(&i.to_be_bytes());
                sign_now(&key(1), Body::Listing(l)).bytes().to_vec()
            })
            .collect();
        let mut with_garbage = objects.clone();
        with_garbage.insert(100, vec![7u8; 100]);
        let outcomes = s.ingest_batch(&with_garbage, Durability::Lazy).expect("batch");
        assert_eq!(outcomes.len(), 201);
        assert!(matches!(outcomes[100], Outcome::Rejected(_)));
        assert_eq!(outcomes.iter().filter(|o| o.is_new()).count(), 200);
        assert_eq!(s.stats().expect("stats").active_listings, 200);
        s.catch_up_index().expect("index");
        assert_eq!(s.indexed_listings(), 200);
    }
}

#[cfg(test)]
mod history_tests {
    use haggle_protocol::fixtures::{DAY, accept, confirm, key, live_listing, live_terms, offer, sign_now};
    use haggle_protocol::{Body, Listing, ListingStatus, Timestamp};

    use super::*;
    use crate::testing::{put, store};

    /// A Confirm the other party gives back to a node that lost it (restored from a backup) is
    /// judged by the date it was signed: the deal it made comes back, though the listing has
    /// sold out since (by that very deal) and its window has long passed. The same Confirm
    /// reaching the node that late from the network is refused, as before.
    #[test]
    fn a_confirm_given_back_is_judged_by_the_date_it_was_signed() {
        let (_dir, store) = store();
        let seller = key(1);
        store.set_owner(seller.public());
        let chair = Listing { quantity: 1, ..live_listing("Chair") };
        let listing = sign_now(&seller, Body::Listing(chair.clone()));
        assert!(put(&store, &listing).is_new());
        let thread = sign_now(&key(2), offer(&listing, live_terms(1, 100)));
        assert!(put(&store, &thread).is_new());
        let accepted = sign_now(&seller, accept(&thread, &thread));
        assert!(put(&store, &accepted).is_new());
        // The seller's node closed the listing after the deal: the closing revision came back
        // by sync before the deal's Confirm.
        let closed =
            Listing { revision: chair.revision + 1, status: ListingStatus::Closed, quantity: 0, ..chair };
        assert!(put(&store, &sign_now(&seller, Body::Listing(closed))).is_new());
        let confirmed = sign_now(&key(2), confirm(&thread, &accepted));
        let weeks_later = Timestamp::now().saturating_add(DAY * 14);
        let late = store.write(&confirmed, Origin::Network, weeks_later).expect("write");
        assert!(
            matches!(&late, Outcome::Rejected(r) if matches!(r.reason, RejectReason::ConfirmLate)),
            "{late:?}"
        );
        let given_back = store.write(&confirmed, Origin::History, weeks_later).expect("write");
        assert!(matches!(given_back, Outcome::New { deal: Some(_), .. }), "{given_back:?}");
        assert_eq!(store.deals_of(&seller.public()).expect("deals").len(), 1);
    }

    /// From a review: a buyer whose offer the seller accepted withdrew it (the Withdraw beats
    /// an unconfirmed Accept, so the seller's node let the unit go and sold it to another), then
    /// sent its Confirm within the window: a confirmed Accept outranks the Withdraw, and the one
    /// unit made two deals. A Confirm whose Accept held no promise when it came is judged as a
    /// late one: refused when what it asks went to someone else.
    #[test]
    fn a_confirm_after_its_own_withdrawal_cannot_take_what_went_to_another() {
        use haggle_protocol::fixtures::withdraw;
        let (_dir, store) = store();
        let seller = key(1);
        store.set_owner(seller.public());
        let chair = Listing { quantity: 1, ..live_listing("Chair") };
        let listing = sign_now(&seller, Body::Listing(chair));
        assert!(put(&store, &listing).is_new());
        let first = sign_now(&key(2), offer(&listing, live_terms(1, 100)));
        let accepted = sign_now(&seller, accept(&first, &first));
        let withdrawn = sign_now(&key(2), withdraw(&first, &first, &listing));
        for o in [&first, &accepted, &withdrawn] {
            assert!(put(&store, o).is_new());
        }
        // The unit is free again: another buyer's deal takes it.
        let second = sign_now(&key(3), offer(&listing, live_terms(1, 100)));
        let accepted_second = sign_now(&seller, accept(&second, &second));
        for o in [&second, &accepted_second, &sign_now(&key(3), confirm(&second, &accepted_second))] {
            assert!(put(&store, o).is_new());
        }
        let late = put(&store, &sign_now(&key(2), confirm(&first, &accepted)));
        assert!(
            matches!(&late, Outcome::Rejected(r) if matches!(r.reason, RejectReason::ConfirmLate)),
            "{late:?}"
        );
        assert_eq!(store.deals_of(&seller.public()).expect("deals").len(), 1);
    }
}
