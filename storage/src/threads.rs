//! Reading negotiation threads and deals, and the quantity a listing has left.

use haggle_protocol::thread::resolve;
use haggle_protocol::{
    DateRange, Deal, ListingKey, Object, ObjectId, PublicKey, ThreadState, ThreadView, Timestamp,
};

use crate::error::StoreError;
use crate::keys;
use crate::store::{Store, decode_stored};

/// A thread as stored: its resolved state and every message.
#[derive(Debug, Clone)]
pub struct ThreadRecord {
    /// The thread's resolved state, winning chain and latest terms.
    pub view: ThreadView,
    /// The offer that opened the thread.
    pub offer: Object,
    /// Every stored message, the offer first, oldest first (including replies that lost a
    /// crossing and so are not on the winning chain).
    pub messages: Vec<Object>,
    /// The listing revision the offer was made on, while the store still holds it.
    pub listing: Option<Object>,
}

/// What a listing's author has promised in one open thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promise {
    /// The thread.
    pub thread: ObjectId,
    /// The quantity its terms promise.
    pub quantity: u32,
    /// Whether the promise is the author's counter-offer (which the author may withdraw), not
    /// an accept waiting for its confirm (which lapses if none comes in time).
    pub counter: bool,
}

/// An open thread of a listing's author that promises nights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateHolder {
    /// The thread.
    pub thread: ObjectId,
    /// Whether the promise is the author's counter-offer (which the author may withdraw), not
    /// an accept waiting for its confirm (which lapses if none comes in time).
    pub counter: bool,
}

/// Whether thread `t` holds a promise of the listing author `author`: its open counter-offer,
/// or terms accepted and waiting for a Confirm. Not an Accept of the author's own terms that
/// reached its node after they lapsed: the author's node never confirms it (by its own clock),
/// so it holds nothing, though the thread reads `confirming` until the clock grace passes.
fn promises(t: &ThreadRecord, author: &PublicKey, now: Timestamp) -> bool {
    match t.view.state {
        ThreadState::Countered => t.view.proposer == *author,
        ThreadState::Confirming => {
            t.view.proposer != *author || haggle_protocol::thread::may_confirm(&t.view, author, now)
        }
        _ => false,
    }
}

impl Store {
    /// A thread by its id (the offer's id).
    pub fn thread(&self, thread: &ObjectId) -> Result<Option<ThreadRecord>, StoreError> {
        self.thread_at(thread, Timestamp::now())
    }

    /// A thread as it stands at `now` (terms past their expiry count as expired).
    pub(crate) fn thread_at(
        &self,
        thread: &ObjectId,
        now: Timestamp,
    ) -> Result<Option<ThreadRecord>, StoreError> {
        let Some(offer) = self.get(thread)? else {
            return Ok(None);
        };
        let Some(o) = offer.body().opening() else {
            return Ok(None);
        };
        let listing = self.get(&o.listing)?;
        let messages = self.thread_messages(thread)?;
        let replies: Vec<&Object> = messages.iter().filter(|m| m.id() != offer.id()).collect();
        let Some(view) = resolve(&offer, &replies, now) else {
            return Ok(None);
        };
        Ok(Some(ThreadRecord { view, offer, messages, listing }))
    }

    /// Every thread `party` takes part in, most recently active first.
    pub fn threads_of(&self, party: &PublicKey) -> Result<Vec<ThreadRecord>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::PARTY_THREAD, &[party.as_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "party thread key" })?;
            out.extend(self.thread(&id)?);
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.messages.iter().map(Object::created_at).max()));
        Ok(out)
    }

    /// The threads between `a` and `b` (either may have opened it, with an offer, a bid or a
    /// pledge), most recently active first. Only the opening of each of `a`'s threads is read
    /// before the two keys are checked, so `a`'s bids and pledges on others' markets, and
    /// others' on `a`'s, cost a read each and are never resolved.
    pub fn threads_between(&self, a: &PublicKey, b: &PublicKey) -> Result<Vec<ThreadRecord>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::PARTY_THREAD, &[a.as_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "party thread key" })?;
            let Some(first) = self.get(&id)? else { continue };
            let Some(o) = first.body().opening() else { continue };
            let (from, to) = (first.author(), o.to);
            if (from == *a && to == *b) || (from == *b && to == *a) {
                out.extend(self.thread(&id)?);
            }
        }
        out.sort_by_cached_key(|t| std::cmp::Reverse(t.messages.iter().map(Object::created_at).max()));
        Ok(out)
    }

    /// Every thread on one listing (offers on any of its revisions).
    pub fn threads_on(&self, key: &ListingKey) -> Result<Vec<ThreadRecord>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::LISTING_THREAD, &[&key.to_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "listing thread key" })?;
            out.extend(self.thread(&id)?);
        }
        Ok(out)
    }

    /// The ids of up to `limit` threads on one listing, read from the index alone (an auction
    /// may hold thousands of bids).
    pub fn thread_ids_on(&self, key: &ListingKey, limit: usize) -> Result<Vec<ObjectId>, StoreError> {
        let prefix = keys::key(keys::LISTING_THREAD, &[&key.to_bytes()]);
        let mut out = Vec::new();
        for k in self.db.scan_prefix(prefix).keys().take(limit) {
            out.push(keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "listing thread key" })?);
        }
        Ok(out)
    }

    /// The threads on one listing that hold more than their offer, bid or pledge (the answered
    /// ones): read without decoding the thousands of bids an auction may hold.
    pub fn answered_threads_on(&self, key: &ListingKey) -> Result<Vec<ThreadRecord>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::LISTING_THREAD, &[&key.to_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "listing thread key" })?;
            if self.db.scan_prefix(keys::key(keys::THREAD, &[id.as_bytes()])).keys().take(2).count() > 1 {
                out.extend(self.thread(&id)?);
            }
        }
        Ok(out)
    }

    /// What the listing's author has promised on one listing and not yet made a deal of: its
    /// open counter-offers, and every thread awaiting a Confirm (its own Accept of an offer, or
    /// an Accept of its counter that it is to confirm); with the quantity each promises.
    pub fn promises_on(&self, key: &ListingKey) -> Result<Vec<Promise>, StoreError> {
        let now = Timestamp::now();
        Ok(self
            .threads_on(key)?
            .into_iter()
            .filter(|t| promises(t, &key.author, now))
            .map(|t| Promise {
                thread: t.view.thread,
                quantity: t.view.terms.quantity,
                counter: t.view.state == ThreadState::Countered,
            })
            .collect())
    }

    /// The nights the listing's author has booked (deals) or promised (its open counter-offers
    /// and threads awaiting a Confirm) on one listing, except in thread `except`.
    pub fn dates_taken_except(
        &self,
        key: &ListingKey,
        except: Option<ObjectId>,
    ) -> Result<Vec<DateRange>, StoreError> {
        Ok(self.date_holders(key, except)?.into_iter().map(|(range, _)| range).collect())
    }

    /// [`Self::dates_taken_except`], each range with the open thread that promises it (`None`
    /// for a deal's), so a refusal can say which thread holds the nights and how they come free.
    pub fn date_holders(
        &self,
        key: &ListingKey,
        except: Option<ObjectId>,
    ) -> Result<Vec<(DateRange, Option<DateHolder>)>, StoreError> {
        let mut out: Vec<_> = self.bookings_on(key)?.into_iter().map(|(range, _)| (range, None)).collect();
        let now = Timestamp::now();
        for t in self.threads_on(key)? {
            if promises(&t, &key.author, now) && Some(t.view.thread) != except {
                let holder =
                    DateHolder { thread: t.view.thread, counter: t.view.state == ThreadState::Countered };
                out.extend(t.view.terms.dates.map(|range| (range, Some(holder))));
            }
        }
        Ok(out)
    }

    /// The nights each booking on one listing holds, with its deal's id: bookings not called off
    /// and not over, read from the deal index (no deal is decoded or verified).
    pub fn bookings_on(&self, key: &ListingKey) -> Result<Vec<(DateRange, ObjectId)>, StoreError> {
        let mut out = Vec::new();
        let today = haggle_protocol::calendar::day_of(Timestamp::now());
        for entry in self.db.scan_prefix(keys::key(keys::LISTING_DEAL, &[&key.to_bytes()])) {
            let (k, v) = entry?;
            let day = |at: usize| v.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
            if let (Some(from), Some(to)) = (day(12), day(16)) {
                // A booking called off holds no nights (asked only of bookings not over yet: no
                // request reaches into the past).
                let deal = keys::id_at_end(&k).ok_or(StoreError::Corrupt { what: "listing deal key" })?;
                if to > today && !self.is_cancelled(&deal)? {
                    out.push((DateRange { from, to }, deal));
                }
            }
        }
        Ok(out)
    }

    /// A deal by its id (the Accept's id), verified again from its signatures.
    pub fn deal(&self, id: &ObjectId) -> Result<Option<Deal>, StoreError> {
        match self.db.get(keys::deal(id))? {
            None => Ok(None),
            Some(bytes) => {
                Deal::decode_verify(&bytes).map(Some).map_err(|_| StoreError::Corrupt { what: "deal" })
            }
        }
    }

    /// Every deal `party` is in, newest first.
    pub fn deals_of(&self, party: &PublicKey) -> Result<Vec<Deal>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::PARTY_DEAL, &[party.as_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "party deal key" })?;
            out.extend(self.deal(&id)?);
        }
        out.sort_by_key(|d| std::cmp::Reverse(d.made_at()));
        Ok(out)
    }

    /// How many deals `party` is in (keys only: cheap enough to ask on every search).
    pub fn deal_count_of(&self, party: &PublicKey) -> Result<usize, StoreError> {
        let mut n = 0;
        for k in self.db.scan_prefix(keys::key(keys::PARTY_DEAL, &[party.as_bytes()])).keys() {
            k?;
            n += 1;
        }
        Ok(n)
    }

    /// The other parties of `party`'s deals, sorted and without repeats: read from each deal's
    /// Accept without checking signatures again (the store verified the deal when it took it
    /// in), so reputation can ask on every search. A deal both parties called off does not
    /// count: it was never traded, and could be made and cancelled at will.
    pub fn deal_counterparties(&self, party: &PublicKey) -> Result<Vec<PublicKey>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::PARTY_DEAL, &[party.as_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "party deal key" })?;
            if self.is_cancelled(&id)? {
                continue;
            }
            let accept = self.db.get(keys::object(&id))?.map(|b| decode_stored(&b)).transpose()?;
            let other = match accept.as_ref().and_then(|a| a.body().reply().map(|r| (a.author(), r.to))) {
                Some((author, to)) => Some(if author == *party { to } else { author }),
                // The Accept is no longer held on its own: read the deal's record.
                None => self.deal(&id)?.map(|d| if d.seller() == *party { d.buyer() } else { d.seller() }),
            };
            out.extend(other);
        }
        out.sort_unstable_by_key(|k| *k.as_bytes());
        out.dedup();
        Ok(out)
    }

    /// Deals on one listing (any revision), newest first.
    pub fn deals_on(&self, key: &ListingKey) -> Result<Vec<Deal>, StoreError> {
        let mut out = Vec::new();
        for k in self.db.scan_prefix(keys::key(keys::LISTING_DEAL, &[&key.to_bytes()])).keys() {
            let id = keys::id_at_end(&k?).ok_or(StoreError::Corrupt { what: "listing deal key" })?;
            out.extend(self.deal(&id)?);
        }
        out.sort_by_key(|d| std::cmp::Reverse(d.made_at()));
        Ok(out)
    }

    /// The id, quantity and `made_at` of every deal on one listing, called off or not, read from
    /// the deal index (no deal is decoded or verified).
    pub fn deal_terms_on(&self, key: &ListingKey) -> Result<Vec<(ObjectId, u32, Timestamp)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(keys::key(keys::LISTING_DEAL, &[&key.to_bytes()])) {
            let (k, v) = entry?;
            let deal = keys::id_at_end(&k).ok_or(StoreError::Corrupt { what: "listing deal key" })?;
            let quantity = v.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
            let made_at = v.get(4..12).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
            let (Some(quantity), Some(made_at)) = (quantity, made_at) else {
                return Err(StoreError::Corrupt { what: "listing deal" });
            };
            out.push((deal, quantity, Timestamp::from_millis(made_at)));
        }
        Ok(out)
    }

    /// How many the listing's author can still promise: the current revision's quantity, less
    /// deals made after that revision was published, less what it has promised
    /// ([`Self::promises_on`]).
    /// `None` if the listing is unknown; 0 if it is closed.
    pub fn remaining_quantity(&self, key: &ListingKey) -> Result<Option<u32>, StoreError> {
        self.remaining_quantity_except(key, None)
    }

    /// As [`Self::remaining_quantity`], not counting the open counter-offer of thread `except`
    /// (the thread being answered).
    pub(crate) fn remaining_quantity_except(
        &self,
        key: &ListingKey,
        except: Option<ObjectId>,
    ) -> Result<Option<u32>, StoreError> {
        let Some(head) = self.head(key)? else {
            return Ok(None);
        };
        if head.closed {
            return Ok(Some(0));
        }
        // Copies of a file are not scarce, and a service or a rental without a calendar is
        // there again after each deal: deals do not use up their quantity. A listing with a
        // calendar is let by the night: its nights are checked apart (`date_holders`), and no
        // deal uses up its one unit, a deal that names no nights (its offer came before the
        // calendar) included.
        if self.get(&head.id)?.and_then(|o| o.listing().map(haggle_protocol::Listing::quantity_never_used_up))
            == Some(true)
        {
            return Ok(Some(head.quantity));
        }
        let mut taken: u64 = 0;
        for (deal, quantity, made_at) in self.deal_terms_on(key)? {
            // A revision published after the deal already counts it (same millisecond: count
            // it, erring towards selling too little rather than too much); a deal both parties
            // called off takes nothing.
            if made_at >= head.created_at && !self.is_cancelled(&deal)? {
                taken += u64::from(quantity);
            }
        }
        for promise in self.promises_on(key)? {
            if Some(promise.thread) != except {
                taken += u64::from(promise.quantity);
            }
        }
        Ok(Some(u32::try_from(u64::from(head.quantity).saturating_sub(taken)).unwrap_or(0)))
    }
}
