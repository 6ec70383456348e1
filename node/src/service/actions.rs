//! The owner's actions: build, sign and store listings and negotiation messages. Each returns an
//! [`Effect`]: what to gossip, whom to deliver to, and what to announce.

use std::time::Duration;

use haggle_protocol::limits::MAX_LIFETIME;
use haggle_protocol::thread::may_confirm;
use haggle_protocol::{
    Accept, AuctionTerms, Body, Confirm, Counter, Currency, DateRange, Deal, Decline, Envelope, Listing,
    ListingKind, ListingStatus, Location, Market, Object, ObjectId, Offer, Period, Price, Reply, Terms,
    ThreadState, Timestamp, Verified, Withdraw, new_nonce,
};
use haggle_storage::{Outcome, ThreadRecord};

use super::endings::Ending;
use super::{Conflict, Followups, InvalidInput, Service, ServiceError, views};
use super::{bookings, campaigns};
use crate::api::types::{
    ListingDraft, ListingPatch, ListingView, NodeEvent, SentView, TermsDraft, ThreadTag,
};

/// A listing lives 30 days unless the person says otherwise.
pub const DEFAULT_LISTING_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// Proposals (offers and counters) stand for 3 days unless the person says otherwise.
pub const DEFAULT_PROPOSAL_LIFETIME: Duration = Duration::from_secs(3 * 86_400);
/// A tombstone lives as long as any revision can, so it outlives every earlier revision.
const TOMBSTONE_LIFETIME: Duration = Duration::from_secs(90 * 86_400);

/// What the network must do after an action.
#[derive(Debug)]
pub struct Effect {
    /// The object the action signed and stored.
    pub object: Verified<Object>,
    /// What the network must do next: gossip the new listing revision (or the next one after a
    /// deal), deliver the message (and any that ended other threads), announce.
    pub then: Followups,
}

/// An auction's or campaign's listing must live until its bids or pledges lapse: a shorter
/// lifetime is refused with the least that does (in whole days), before anything is signed.
fn lives_long_enough(market: &Market, now: Timestamp, expires_at: Timestamp) -> Result<(), ServiceError> {
    let (until, rule) = match market {
        Market::Auction(t) => (
            t.bids_stand_until(),
            "an auction's listing must live until its bids lapse, four days after its end",
        ),
        Market::Campaign(c) => (
            c.pledges_stand_until(),
            "a campaign's listing must live until its pledges lapse, three days after its deadline",
        ),
        _ => return Ok(()),
    };
    if expires_at >= until {
        return Ok(());
    }
    let min_days = until.as_millis().saturating_sub(now.as_millis()).div_ceil(86_400_000);
    Err(InvalidInput::LifetimeTooShort { rule, min_days }.into())
}

impl Service {
    /// Publishes a new listing.
    pub fn publish(&self, draft: ListingDraft) -> Result<Effect, ServiceError> {
        let now = Timestamp::now();
        let lifetime =
            lifetime("a listing", draft.expires_in.map(Duration::from_secs), DEFAULT_LISTING_LIFETIME)?;
        match (draft.kind, &draft.price, &draft.currency) {
            (ListingKind::Auction, None, _) => {
                return Err(InvalidInput::Auction(
                    "an auction needs a start price, e.g. --price 50 --currency EUR",
                )
                .into());
            }
            (ListingKind::Crowdfund, None, _) => {
                return Err(InvalidInput::Campaign(
                    "a campaign needs its goal, e.g. --goal 5000 --currency EUR",
                )
                .into());
            }
            (ListingKind::Crowdfund, Some(_), None) => {
                return Err(InvalidInput::Campaign("the goal needs a currency, e.g. --currency EUR").into());
            }
            _ => {}
        }
        let price = match draft.price.clone() {
            Some(amount) => Some(price(draft.kind, &amount, draft.currency.clone(), draft.per)?),
            None if draft.currency.is_some() || draft.per.is_some() => {
                return Err(InvalidInput::CurrencyWithoutPrice.into());
            }
            None => None,
        };
        let market = match &draft.calendar {
            Some(c) if draft.auction.is_none() => {
                if !matches!(draft.kind, ListingKind::Rental | ListingKind::Service) {
                    return Err(
                        InvalidInput::Dates("only a rental or a service takes bookings".into()).into()
                    );
                }
                if draft.quantity.is_some_and(|q| q != 1) {
                    return Err(InvalidInput::Dates(
                        "a listing taking bookings is one unit: leave out --qty".into(),
                    )
                    .into());
                }
                Some(Market::Calendar(bookings::calendar(c, None)?))
            }
            Some(_) => return Err(InvalidInput::Auction("an auction takes no calendar").into()),
            None => {
                match campaigns::campaign_of_draft(draft.kind, draft.campaign.as_ref(), price.as_ref(), now)?
                {
                    Some(campaign) if draft.auction.is_none() => Some(campaign),
                    Some(_) => {
                        return Err(InvalidInput::Auction("an auction takes no campaign settings").into());
                    }
                    None => auction_terms(&draft, price.as_ref(), now)?,
                }
            }
        };
        let expires_at = match (&market, draft.expires_in) {
            // An auction lives until its bids lapse: three days past the latest end; a campaign
            // until its pledges lapse.
            (Some(Market::Auction(terms)), None) => terms.bids_stand_until(),
            (Some(Market::Campaign(c)), None) => c.pledges_stand_until(),
            _ => now.saturating_add(lifetime),
        };
        if let Some(market) = &market {
            lives_long_enough(market, now, expires_at)?;
        }
        if draft.kind == ListingKind::Auction && draft.quantity.is_some_and(|q| q != 1) {
            return Err(InvalidInput::Auction("an auction sells one item: leave out --qty").into());
        }
        if draft.kind == ListingKind::Crowdfund && draft.quantity.is_some_and(|q| q != 1) {
            return Err(InvalidInput::Campaign("a campaign has no quantity: leave out --qty").into());
        }
        self.check_files_here(&draft.images, draft.file.as_ref())?;
        let mut listing = Listing {
            nonce: new_nonce(),
            revision: 1,
            kind: draft.kind,
            status: ListingStatus::Active,
            title: draft.title,
            description: draft.description,
            category: draft.category,
            tags: draft.tags,
            price,
            // A file sells as many copies as people buy.
            quantity: draft.quantity.unwrap_or(if draft.kind == ListingKind::Digital {
                haggle_protocol::limits::MAX_QUANTITY
            } else {
                1
            }),
            location: Location { text: draft.location.unwrap_or_default(), geohash: draft.geohash },
            payment: draft.payment,
            delivery: draft.delivery.unwrap_or_default(),
            expires_at,
            market,
            images: draft.images,
            file: draft.file,
        };
        tidy(&mut listing);
        self.store_listing(listing, now, false)
    }

    /// Every file a draft names must be here (the owner stored it through `POST /v1/images` or
    /// `POST /v1/files`), or peers would be sent to fetch what nobody holds.
    fn check_files_here(
        &self,
        images: &[haggle_protocol::Image],
        file: Option<&haggle_protocol::DigitalFile>,
    ) -> Result<(), ServiceError> {
        let mut named: Vec<haggle_protocol::BlobRef> = Vec::new();
        for image in images {
            named.extend([image.blob, image.thumb]);
        }
        if let Some(file) = file {
            named.push(haggle_protocol::BlobRef { hash: file.sealed, size: file.size });
            named.extend(file.preview);
            if self.blobs.key(&file.sealed).is_none() {
                return Err(InvalidInput::File(format!(
                    "this node does not hold the key of file {}: store the file with POST /v1/files first",
                    file.sealed.fmt_short()
                ))
                .into());
            }
        }
        for blob in named {
            if self.blobs.has(&blob.hash) != Some(blob.size) {
                return Err(InvalidInput::File(format!(
                    "file {} ({} bytes) is not held here: store it first (POST /v1/images, /v1/files or /v1/blobs)",
                    blob.hash.fmt_short(),
                    blob.size
                ))
                .into());
            }
        }
        Ok(())
    }

    /// A new revision of one of the owner's listings with `patch` applied.
    pub fn update(&self, given: &str, mut patch: ListingPatch) -> Result<Effect, ServiceError> {
        let calendar = patch.calendar.take();
        let _revising = self.revising();
        let (current, mut listing) = self.own_listing(given)?;
        let now = Timestamp::now();
        // A revision keeps the listing's expiry, which has passed: renewing sets a new one.
        if listing.expires_at <= now {
            return Err(Conflict::OwnListingExpired(self.resolve(given, "listing")?).into());
        }
        if patch.price.is_some() || patch.currency.is_some() || patch.per.is_some() {
            listing.price = repriced(&listing, patch.price, patch.currency, patch.per)?;
        }
        if let Some(images) = patch.images.take() {
            self.check_files_here(&images, None)?;
            listing.images = images;
        }
        if let Some(file) = patch.file.take() {
            if listing.kind != ListingKind::Digital {
                return Err(InvalidInput::File("only a digital listing sells a file".into()).into());
            }
            self.check_files_here(&[], Some(&file))?;
            listing.file = Some(file);
        }
        let ListingPatch {
            title,
            description,
            category,
            tags,
            quantity,
            location,
            geohash,
            payment,
            delivery,
            ..
        } = patch;
        if let Some(draft) = &calendar {
            listing.market = Some(Market::Calendar(bookings::calendar(draft, listing.calendar())?));
        }
        if let Some(Market::Calendar(c)) = listing.market.as_mut() {
            c.forget_before(haggle_protocol::calendar::day_of(now));
        }
        if let Some(quantity) = quantity {
            // Lowering the quantity below what open counter-offers promise would let them all
            // be accepted at once: two deals on one item.
            self.check_promised(&current, quantity)?;
        }
        listing.title = title.unwrap_or(listing.title);
        listing.description = description.unwrap_or(listing.description);
        listing.category = category.unwrap_or(listing.category);
        listing.tags = tags.unwrap_or(listing.tags);
        listing.quantity = quantity.unwrap_or(listing.quantity);
        listing.location.text = location.unwrap_or(listing.location.text);
        if let Some(geohash) = geohash {
            listing.location.geohash = Some(geohash).filter(|g| !g.is_empty());
        }
        listing.payment = payment.unwrap_or(listing.payment);
        listing.delivery = delivery.unwrap_or(listing.delivery);
        tidy(&mut listing);
        // Past nights forgotten count as no change: the calendar says the same from today on.
        let mut before = current.listing().cloned();
        if let Some(Market::Calendar(c)) = before.as_mut().and_then(|l| l.market.as_mut()) {
            c.forget_before(haggle_protocol::calendar::day_of(now));
        }
        if before.as_ref() == Some(&listing) {
            return Err(InvalidInput::Unchanged(self.resolve(given, "listing")?.fmt_short()).into());
        }
        listing.revision = next_revision(&current)?;
        self.store_listing(listing, now, false)
    }

    /// Extends one of the owner's listings by `lifetime` from now (default 30 days).
    pub fn renew(&self, given: &str, lifetime: Option<Duration>) -> Result<Effect, ServiceError> {
        let lifetime = self::lifetime("a listing", lifetime, DEFAULT_LISTING_LIFETIME)?;
        let _revising = self.revising();
        let (current, mut listing) = self.own_listing(given)?;
        let now = Timestamp::now();
        // The rules an open auction or campaign keeps, told in the command's terms.
        match &listing.market {
            Some(Market::Auction(terms)) if now >= terms.ends_at => {
                return Err(InvalidInput::MarketOver {
                    what: "the auction's scheduled end",
                    ended: terms.ends_at,
                }
                .into());
            }
            Some(Market::Campaign(c)) if now >= c.deadline => {
                return Err(
                    InvalidInput::MarketOver { what: "the campaign's deadline", ended: c.deadline }.into()
                );
            }
            _ => {}
        }
        if let Some(market) = &listing.market {
            lives_long_enough(market, now, now.saturating_add(lifetime))?;
        }
        listing.revision = next_revision(&current)?;
        listing.expires_at = now.saturating_add(lifetime);
        self.store_listing(listing, now, false)
    }

    /// Closes one of the owner's listings with a signed tombstone, and ends every open thread
    /// on it (the other parties are told).
    pub fn retract(&self, given: &str) -> Result<Effect, ServiceError> {
        let mut effect = {
            let _revising = self.revising();
            let (current, mut listing) = self.own_listing(given)?;
            let now = Timestamp::now();
            listing.revision = next_revision(&current)?;
            listing.status = ListingStatus::Closed;
            listing.expires_at = now.saturating_add(TOMBSTONE_LIFETIME);
            self.store_listing(listing, now, false)?
        };
        self.end_threads(&effect.object, Ending::Retracted, &mut effect.then);
        Ok(effect)
    }

    /// Closes the owner's campaign `key` after its deadline, short of its goal by this node's
    /// count: a revision with nothing left (quantity 0), so that every node, those that count
    /// pledges this node never held included, learns that nothing is owed; and declines the
    /// pledges held. Nothing if it is closed already.
    pub(super) fn close_missed_campaign(
        &self,
        key: &haggle_protocol::ListingKey,
        then: &mut Followups,
    ) -> Result<(), ServiceError> {
        let mut effect = {
            let _revising = self.revising();
            let Some(current) = self.store.listing(key)? else { return Ok(()) };
            let Some(mut listing) = current.listing().cloned() else { return Ok(()) };
            if listing.status == ListingStatus::Closed || current.author() != self.me() {
                return Ok(());
            }
            let now = Timestamp::now();
            listing.revision = next_revision(&current)?;
            listing.status = ListingStatus::Closed;
            listing.quantity = 0;
            listing.expires_at = now.saturating_add(TOMBSTONE_LIFETIME);
            self.store_listing(listing, now, true)?
        };
        self.end_threads(&effect.object, Ending::GoalMissed, &mut effect.then);
        then.merge(effect.then);
        Ok(())
    }

    /// The lock held while a listing is revised (see `Service::revising`).
    pub(super) fn revising(&self) -> std::sync::MutexGuard<'_, ()> {
        self.revising.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses a quantity below what the owner has promised on the listing (open counter-offers
    /// and threads awaiting a Confirm).
    fn check_promised(&self, current: &Object, quantity: u32) -> Result<(), ServiceError> {
        let Some(key) = current.listing_key() else { return Ok(()) };
        let counters = self.store.promised(&key)?;
        // Where deals leave the quantity (it caps each deal), only the largest promise must fit.
        let each = current.listing().is_some_and(Listing::deals_leave_quantity);
        let promised: u64 = if each {
            counters.iter().map(|(_, q)| u64::from(*q)).max().unwrap_or(0)
        } else {
            counters.iter().map(|(_, q)| u64::from(*q)).sum()
        };
        if u64::from(quantity) < promised {
            let threads = counters.into_iter().map(|(thread, _)| thread).collect();
            return Err(Conflict::PromisedByCounters { quantity, promised, threads }.into());
        }
        Ok(())
    }

    fn own_listing(&self, given: &str) -> Result<(Object, Listing), ServiceError> {
        let current = self.listing(given)?;
        // Named by the id typed, not by the current revision's, which the user may never have seen.
        if current.author() != self.me() {
            return Err(ServiceError::NotYours { what: "listing", id: self.resolve(given, "listing")? });
        }
        let listing = current.listing().cloned().ok_or_else(|| ServiceError::not_found("listing", given))?;
        if listing.status == ListingStatus::Closed {
            return Err(Conflict::OwnListingClosed(self.resolve(given, "listing")?).into());
        }
        Ok((current, listing))
    }

    /// Signs, stores and announces the owner's next revision; `automatic` when the node signs it
    /// by itself rather than on its owner's command.
    fn store_listing(
        &self,
        listing: Listing,
        now: Timestamp,
        automatic: bool,
    ) -> Result<Effect, ServiceError> {
        // Dated after every deal on the listing, so the revision counts them all whatever the
        // clocks of the parties who confirmed them (a deal dated after the current revision is
        // one it does not count yet: see `repair_after_deals`).
        let key = haggle_protocol::ListingKey { author: self.me(), nonce: listing.nonce };
        let at = self.dated_after_deals(&key, now)?;
        // And after the revision it replaces, so revisions are dated in order: whether one
        // counts a deal is read from the dates.
        let after_current =
            self.store.listing(&key)?.map(|c| c.created_at().saturating_add(Duration::from_millis(1)));
        let at = after_current.map_or(at, |c| at.max(c));
        let object = self.sign(Body::Listing(listing), at)?;
        // A lifetime of a second or two can run out while the proof of work is mined.
        match self.ingest_own(&object) {
            Err(ServiceError::Conflict(Conflict::Refused(haggle_storage::RejectReason::Expired))) => {
                return Err(InvalidInput::ExpiredOnArrival { what: "the listing" }.into());
            }
            other => other?,
        };
        let then = Followups {
            publish: vec![object.bytes().to_vec()],
            events: vec![NodeEvent::ListingPublished { id: object.id(), automatic }],
            ..Followups::default()
        };
        Ok(Effect { object, then })
    }

    /// `now`, or just after the latest deal on the listing (one called off aside) if that is
    /// later: a revision counts every deal made before it.
    fn dated_after_deals(
        &self,
        key: &haggle_protocol::ListingKey,
        now: Timestamp,
    ) -> Result<Timestamp, ServiceError> {
        let mut at = now;
        for (deal, _, made_at) in self.store.deal_terms_on(key)? {
            if made_at >= at && !self.store.is_cancelled(&deal)? {
                at = made_at.saturating_add(Duration::from_millis(1));
            }
        }
        Ok(at)
    }

    /// Makes an offer on someone else's listing.
    pub fn offer(&self, given: &str, draft: TermsDraft) -> Result<Effect, ServiceError> {
        let listing = self.listing(given)?;
        let l = listing.listing().ok_or_else(|| ServiceError::not_found("listing", given))?;
        if listing.author() == self.me() {
            return Err(Conflict::OwnListing.into());
        }
        // Named by the id typed, not by the revision that closed it, which the user never saw.
        if l.status == ListingStatus::Closed {
            return Err(Conflict::closed(l, self.resolve(given, "listing")?).into());
        }
        let now = Timestamp::now();
        if l.expires_at <= now {
            return Err(Conflict::ListingExpired(self.resolve(given, "listing")?).into());
        }
        match l.kind {
            ListingKind::Auction => {
                return Err(
                    InvalidInput::Auction("an auction takes bids: haggle bid LISTING --price ...").into()
                );
            }
            ListingKind::Crowdfund => {
                return Err(InvalidInput::Campaign(
                    "a campaign takes pledges: haggle pledge LISTING --amount ...",
                )
                .into());
            }
            _ => {}
        }
        let default_currency = l.price.as_ref().map(|p| p.currency.clone());
        let dates = match (l.calendar(), &draft.dates) {
            (Some(calendar), Some(text)) => {
                let dates = bookings::dates(text)?;
                bookings::not_past(&dates, now)?;
                calendar.fits(&dates).map_err(Conflict::Booking)?;
                Some(dates)
            }
            (Some(_), None) => {
                return Err(InvalidInput::Dates(
                    format!("this listing takes bookings: say which nights, e.g. haggle book {} --from 2026-12-20 --to 2026-12-27", listing.id().fmt_short()),
                )
                .into());
            }
            (None, Some(_)) => {
                return Err(InvalidInput::Dates(
                    format!("this listing takes no bookings (it has no calendar of open dates): leave out the dates and make an offer, e.g. haggle offer {} --price {}", listing.id().fmt_short(), l.price.as_ref().map_or_else(|| "100".to_owned(), Price::decimal)),
                )
                .into());
            }
            (None, None) => None,
        };
        let mut draft = draft;
        if let Some(dates) = dates {
            booking_draft(&mut draft, l, &dates)?;
        }
        // Without a price, an offer on a digital good pays its price (and buys it at once).
        if let (ListingKind::Digital, Some(price), None, None) =
            (l.kind, &l.price, &draft.price, &draft.currency)
        {
            draft.price = Some(price.decimal());
        }
        let (terms, message) = terms(draft, l.kind, default_currency, None, dates, now)?;
        // The same offer twice is a slip (a command run again), not a second offer.
        if let Some(key) = listing.listing_key() {
            let me = self.me();
            let same = self.store.threads_on(&key)?.into_iter().find(|t| {
                t.view.offerer == me
                    && t.view.proposer == me
                    && !t.view.state.is_final()
                    && (t.view.terms.quantity, &t.view.terms.price, t.view.terms.dates)
                        == (terms.quantity, &terms.price, terms.dates)
            });
            if let Some(t) = same {
                return Err(Conflict::SameOffer(t.view.thread).into());
            }
        }
        let body = Body::Offer(Offer { listing: listing.id(), to: listing.author(), terms, message });
        self.negotiate(body, now)
    }

    /// Answers the other party's latest terms with new ones.
    pub fn counter(&self, given: &str, draft: TermsDraft) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        let head = self.their_terms(&thread, "counter")?;
        self.still_on_offer(&thread)?;
        let now = Timestamp::now();
        let kind =
            thread.listing.as_ref().and_then(|l| l.listing().map(|l| l.kind)).unwrap_or(ListingKind::Sell);
        let current = &thread.view.terms;
        let mut draft = draft;
        let dates = match (&draft.dates, current.dates) {
            (Some(text), Some(_)) => {
                // Other nights are checked as a booking request's are, so that terms nobody
                // could accept are never signed.
                let dates = bookings::dates(text)?;
                bookings::not_past(&dates, now)?;
                self.calendar_takes(&thread, &dates, true)?;
                Some(dates)
            }
            (Some(_), None) => {
                return Err(
                    InvalidInput::Dates("this thread is not a booking: leave out the dates".into()).into()
                );
            }
            (None, dates) => dates,
        };
        if let Some(dates) = dates {
            // New nights without a price ask what they cost at the listing's price now.
            let key = thread.listing.as_ref().and_then(Object::listing_key);
            let current = match key {
                Some(key) if draft.dates.is_some() => self.store.listing(&key)?,
                _ => None,
            };
            match current.as_ref().and_then(Object::listing) {
                Some(l) => booking_draft(&mut draft, l, &dates)?,
                None => whole_booking(&draft)?,
            }
        }
        let (terms, message) =
            terms(draft, kind, Some(current.price.currency.clone()), Some(current), dates, now)?;
        // The other party's counter may not ask for more than the listing offers (the listing's
        // author has the stricter check of what is left, when the message is stored).
        if let Some(key) = thread.listing.as_ref().and_then(Object::listing_key)
            && key.author != self.me()
            && let Some(l) = self.store.listing(&key)?.as_ref().and_then(|o| o.listing().cloned())
            && terms.dates.is_none()
            && terms.quantity > l.quantity
        {
            let per_deal = l.deals_leave_quantity();
            return Err(InvalidInput::OverListing { asked: terms.quantity, max: l.quantity, per_deal }.into());
        }
        // The same terms again carry nothing new, unless a note (a pickup time, say).
        if message.is_empty()
            && (terms.quantity, &terms.price, terms.dates)
                == (current.quantity, &current.price, current.dates)
        {
            return Err(InvalidInput::SameTerms(thread.view.thread.fmt_short()).into());
        }
        let body = Body::Counter(Counter { reply: self.reply_to(&thread, head), terms, message });
        self.negotiate(body, now)
    }

    /// Accepts the other party's latest terms.
    pub fn accept(&self, given: &str) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        let head = self.their_terms(&thread, "accept")?;
        self.check_public_offer_answer(&thread, true)?;
        if let Some(dates) = thread.view.terms.dates {
            bookings::not_past(&dates, Timestamp::now())?;
            self.calendar_takes(&thread, &dates, false)?;
        }
        self.still_on_offer(&thread)?;
        self.negotiate(Body::Accept(Accept { reply: self.reply_to(&thread, head) }), Timestamp::now())
    }

    /// The listing's calendar, as it stands now, takes `dates` (proposed by this node now, when
    /// `proposing`, or accepted): a request made before the owner changed the open dates or the
    /// stay limits is not accepted against them, and a guest's counter asks only for nights the
    /// calendar offers. Dates the owner offers (a counter for a special stay), now or earlier
    /// in the thread, are the owner's choice.
    fn calendar_takes(
        &self,
        thread: &ThreadRecord,
        dates: &DateRange,
        proposing: bool,
    ) -> Result<(), ServiceError> {
        let me = self.me();
        let Some(key) = thread.listing.as_ref().and_then(Object::listing_key) else { return Ok(()) };
        // The owner's own proposals, and a guest's accept of them, are checked by the store
        // (nights booked or promised) when the owner's node signs.
        if (proposing && key.author == me) || (!proposing && key.author != me) {
            return Ok(());
        }
        let current = self.store.listing(&key)?;
        let Some(calendar) = current.as_ref().and_then(|c| c.listing()).and_then(|l| l.calendar()) else {
            return Ok(());
        };
        match bookings::refusal(calendar, thread, &key.author, dates) {
            Some(e) => Err(Conflict::Booking(e).into()),
            None => Ok(()),
        }
    }

    /// Refuses the other party's latest terms, ending the thread.
    pub fn decline(&self, given: &str, message: String) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        let head = self.their_terms(&thread, "decline")?;
        self.check_public_offer_answer(&thread, false)?;
        let body = Body::Decline(Decline { reply: self.reply_to(&thread, head), message });
        self.negotiate(body, Timestamp::now())
    }

    /// Takes back the owner's own latest terms, ending the thread.
    pub fn withdraw(&self, given: &str, message: String) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        self.open(&thread)?;
        if thread.view.proposer != self.me() {
            return Err(Conflict::TheirTerms.into());
        }
        // Awaiting this node's Confirm (it did not confirm: the terms had expired or the quantity
        // was gone), the terms can still be taken back: a Withdraw beats an unconfirmed Accept.
        let body =
            Body::Withdraw(Withdraw { reply: self.reply_to(&thread, thread.view.terms_message()), message });
        self.negotiate(body, Timestamp::now())
    }

    /// The view of what an action stored: the listing, for listing actions.
    pub fn effect_listing(&self, effect: &Effect) -> Result<ListingView, ServiceError> {
        Ok(views::listing(&self.store, &effect.object, &self.me())?)
    }

    /// The view of what an action stored: the message and its thread, for negotiation actions.
    pub fn effect_sent(&self, effect: &Effect) -> Result<SentView, ServiceError> {
        let id = effect.object.id();
        let thread = self.thread_view(&id.to_hex())?;
        Ok(SentView { view_type: ThreadTag::Thread, id, kind: effect.object.kind(), thread })
    }

    fn open(&self, thread: &ThreadRecord) -> Result<(), ServiceError> {
        let me = self.me();
        if thread.view.offerer != me && thread.view.listing_author != me {
            return Err(ServiceError::NotYours { what: "thread", id: thread.view.thread });
        }
        if thread.view.state.is_final() {
            return Err(Conflict::ThreadEnded { thread: thread.view.thread, state: thread.view.state }.into());
        }
        Ok(())
    }

    /// The terms message of an open thread whose terms the other party proposed.
    fn their_terms(&self, thread: &ThreadRecord, action: &'static str) -> Result<ObjectId, ServiceError> {
        self.open(thread)?;
        if thread.view.proposer == self.me() {
            if let Some(why) = super::views::nights_unavailable(&self.store, thread)? {
                return Err(Conflict::OwnNightsGone { thread: thread.view.thread, why }.into());
            }
            return Err(Conflict::OwnTerms { action }.into());
        }
        if thread.view.state == ThreadState::Confirming {
            return Err(Conflict::AwaitingConfirmation(thread.view.thread).into());
        }
        Ok(thread.view.terms_message())
    }

    /// Confirms the Accept that put `thread` in the confirming state, if this node proposed the
    /// accepted terms and they still stand now (not withdrawn, not expired by this node's clock,
    /// within the listing's quantity, the listing still on offer). Run when an Accept arrives
    /// (and at start, for one a crash left unconfirmed). Returns whether it confirmed.
    pub(super) fn confirm_if_due(
        &self,
        thread: ObjectId,
        then: &mut Followups,
    ) -> Result<bool, ServiceError> {
        // One Confirm per Accept, even when the Accept arrives twice at once (directly and by mail).
        let deal = {
            let _revising = self.revising();
            let Some(record) = self.store.thread(&thread)? else { return Ok(false) };
            let now = Timestamp::now();
            if !may_confirm(&record.view, &self.me(), now) || !self.may_confirm_public_offer(&record)? {
                return Ok(false);
            }
            if record.view.listing_author == self.me() {
                self.still_on_offer(&record)?;
            }
            let reply = self.reply_to(&record, record.view.head());
            let to = reply.to;
            let object = self.sign(Body::Confirm(Confirm { reply }), now)?;
            let deal = self.ingest_own(&object)?;
            then.deliver.push(to);
            deal
        };
        if let Some(deal) = deal {
            self.after_deal(deal, then)?;
        }
        Ok(true)
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
        let mut then = Followups { deliver: to.into_iter().collect(), ..Followups::default() };
        if let Some(deal) = deal {
            self.after_deal(deal, &mut then)?;
        }
        Ok(Effect { object, then })
    }

    pub(super) fn sign(&self, body: Body, now: Timestamp) -> Result<Verified<Object>, ServiceError> {
        let envelope = Envelope { created_at: now, ..Envelope::new(self.me(), body) };
        Ok(envelope.sign_with_work(&self.key, now, self.policy.pow_bits)?)
    }

    /// Stores the owner's object; returns the deal it completed, if any.
    pub(super) fn ingest_own(&self, object: &Verified<Object>) -> Result<Option<ObjectId>, ServiceError> {
        match self.store.ingest_own(object)? {
            Outcome::New { deal, .. } => Ok(deal),
            Outcome::Duplicate { .. } => Ok(None),
            Outcome::Stale { .. } => Err(Conflict::NewerRevision.into()),
            Outcome::Rejected(r) => Err(r.reason.into()),
        }
    }

    /// What follows a deal, whoever's message made it: the deal is announced, and when the
    /// listing is the owner's, its next revision (quantity down, or closed when none is left) is
    /// signed, stored, announced and queued for gossip.
    pub(super) fn after_deal(&self, deal_id: ObjectId, then: &mut Followups) -> Result<(), ServiceError> {
        let Some(deal) = self.store.deal(&deal_id)? else { return Ok(()) };
        // A fault hook for the crash test (debug builds only): die here, between the deal and
        // the revision it calls for, with no cleanup (as a power cut would).
        #[cfg(debug_assertions)]
        if std::env::var_os("HAGGLE_TEST_CRASH_AFTER_DEAL").is_some() {
            std::process::abort();
        }
        then.events.push(NodeEvent::DealMade { id: deal_id, thread: deal.offer().id() });
        // A free digital good's key goes to the buyer at once.
        if let Err(e) = self.hand_over_file(deal_id, then) {
            tracing::warn!(deal = %deal_id, error = %e, "cannot hand over a digital good's key");
        }
        self.revise_after(&deal, then)
    }

    /// What follows a `cancel` or `received` on deal `deal_id`: when the deal is now called off
    /// (both parties signed `cancel`) and the owner's listing has not given back what it took,
    /// the next revision gives back its nights or its quantity, so others can book or buy them
    /// again. A `received` that crossed the last `cancel` does not bring the deal back (a
    /// cancellation both signed is final), so what was given back is never taken again: it may
    /// be promised to someone else by then. Whether the listing has given them back is
    /// stored with the revision ([`haggle_storage::Store::ingest_own_settling`]), and this runs
    /// under the revision lock, so two steps at once, a repeated delivery or a restart never
    /// give back twice. A listing the deal sold out was closed for good and stays closed.
    pub(super) fn after_step(&self, deal_id: ObjectId, then: &mut Followups) -> Result<(), ServiceError> {
        let Some(deal) = self.store.deal(&deal_id)? else { return Ok(()) };
        if deal.listing_author() != self.me() {
            return Ok(());
        }
        let next = {
            let _revising = self.revising();
            self.settle_cancellation(&deal)?
        };
        self.announce_revision(next, then);
        Ok(())
    }

    /// The owner's listing's next revision when `deal`'s cancellation is not settled (see
    /// [`Self::after_step`]); `None` when it is, or when there is nothing to give back: the
    /// listing is closed, a campaign or a digital good, or its current revision never took the
    /// deal off (it came before the deal), and then the deal is only noted as settled.
    fn settle_cancellation(&self, deal: &Deal) -> Result<Option<Verified<Object>>, ServiceError> {
        let id = deal.id();
        let cancelled = self.store.is_cancelled(&id)?;
        if cancelled == self.store.given_back(&id)? {
            return Ok(None);
        }
        let counted =
            self.counted_listing(deal)?.filter(|(_, current, _)| deal.made_at() < current.created_at());
        let Some((key, current, mut listing)) = counted else {
            self.store.set_given_back(&id, cancelled)?;
            return Ok(None);
        };
        let now = self.dated_after_deals(&key, Timestamp::now())?;
        let now = now.max(current.created_at().saturating_add(Duration::from_millis(1)));
        listing.revision = next_revision(&current)?;
        let quantity = u64::from(deal.terms().quantity);
        if let (Some(dates), Some(Market::Calendar(calendar))) = (deal.terms().dates, listing.market.as_mut())
        {
            if cancelled {
                calendar.release(dates);
            } else {
                calendar.book(dates);
            }
            calendar.forget_before(haggle_protocol::calendar::day_of(now));
        } else if cancelled {
            let back = u64::from(listing.quantity) + quantity;
            listing.quantity =
                u32::try_from(back.min(u64::from(haggle_protocol::limits::MAX_QUANTITY))).unwrap_or(u32::MAX);
        } else if u64::from(listing.quantity) <= quantity {
            listing.status = ListingStatus::Closed;
            listing.quantity = 0;
            listing.expires_at = now.saturating_add(TOMBSTONE_LIFETIME);
        } else {
            listing.quantity -= deal.terms().quantity;
        }
        let object = self.sign(Body::Listing(listing), now)?;
        match self.store.ingest_own_settling(&object, &id, cancelled)? {
            Outcome::New { .. } => Ok(Some(object)),
            Outcome::Rejected(r) => Err(r.reason.into()),
            _ => Err(Conflict::NewerRevision.into()),
        }
    }

    /// Announces and queues for gossip a revision the owner's node wrote after a deal or its
    /// cancellation; a revision that closes the listing (sold out) ends its open threads.
    fn announce_revision(&self, next: Option<Verified<Object>>, then: &mut Followups) {
        if let Some(next) = next {
            then.events.push(NodeEvent::ListingPublished { id: next.id(), automatic: true });
            then.publish.push(next.bytes().to_vec());
            if next.listing().is_some_and(|l| l.status == ListingStatus::Closed) {
                self.end_threads(&next, Ending::SoldOut, then);
            }
        }
    }

    /// Publishes the owner's listing's next revision after `deal` (see [`Self::after_deal`]).
    fn revise_after(&self, deal: &Deal, then: &mut Followups) -> Result<(), ServiceError> {
        let next = {
            let _revising = self.revising();
            self.next_revision_after(deal)?
        };
        self.announce_revision(next, then);
        Ok(())
    }

    /// Repairs what a crash left half done: Accepts of the owner's terms that arrived but were
    /// not confirmed yet (confirmed now if the terms still stand), then the listing revisions
    /// deals call for (see below).
    pub fn repair(&self) -> Result<Followups, ServiceError> {
        let mut then = Followups::default();
        for thread in self.store.threads_of(&self.me())? {
            if thread.view.state == ThreadState::Confirming
                && thread.view.proposer == self.me()
                && let Err(e) = self.confirm_if_due(thread.view.thread, &mut then)
            {
                tracing::warn!(thread = %thread.view.thread.fmt_short(), error = %e, "cannot confirm an accept");
            }
        }
        self.repair_revisions(&mut then)?;
        if let Err(e) = self.hand_over_due(&mut then) {
            tracing::warn!(error = %e, "cannot hand over the keys of digital goods paid for");
        }
        Ok(then)
    }

    /// Repairs what a crash between a deal and the owner's next listing revision left behind:
    /// a deal on one of the owner's listings made at or after the listing's current revision
    /// was signed is one the revision does not count yet (the revision [`Self::after_deal`]
    /// writes is always signed after the deal), so that revision is written now, deal by deal
    /// in the order they were made. Run once at start; returns what to announce and gossip.
    pub fn repair_after_deals(&self) -> Result<Followups, ServiceError> {
        let mut then = Followups::default();
        self.repair_revisions(&mut then)?;
        Ok(then)
    }

    /// [`Self::repair_after_deals`], adding to `then`.
    fn repair_revisions(&self, then: &mut Followups) -> Result<(), ServiceError> {
        for entry in self.store.listings_by(&self.me())? {
            let current = entry.object.created_at();
            // A campaign, a digital good, and a service or rental without a calendar owe no
            // revision after a deal.
            let closed = entry.object.listing().is_none_or(|l| {
                l.status == ListingStatus::Closed
                    || l.kind == ListingKind::Crowdfund
                    || l.deals_leave_quantity()
            });
            // Read from the deal index first: deals are decoded only for a listing that owes one.
            if closed {
                continue;
            }
            // Deals called off, or brought back by a `received`, whose revision a crash left
            // unwritten (or that were called off before this node gave anything back).
            // One deal that cannot be settled is logged; the others, and the other listings,
            // are still repaired.
            for deal in self.store.unsettled_cancellations(&entry.key)? {
                tracing::info!(%deal, "settling a deal called off");
                if let Err(e) = self.after_step(deal, then) {
                    tracing::warn!(%deal, error = %e, "cannot settle a deal called off");
                }
            }
            if !self.store.deal_terms_on(&entry.key)?.iter().any(|(_, _, made_at)| *made_at >= current) {
                continue;
            }
            let mut uncounted = Vec::new();
            for deal in self.store.deals_on(&entry.key)? {
                // A deal called off meanwhile takes nothing.
                if deal.made_at() >= current && !self.store.is_cancelled(&deal.id())? {
                    uncounted.push(deal);
                }
            }
            uncounted.sort_by_key(|d| (d.made_at(), d.id()));
            for deal in uncounted {
                tracing::info!(deal = %deal.id(), "writing the listing revision a deal left pending");
                if let Err(e) = self.revise_after(&deal, then) {
                    tracing::warn!(deal = %deal.id(), error = %e, "cannot write the revision a deal left pending");
                }
            }
        }
        Ok(())
    }

    /// The current revision of `deal`'s listing, if it is the owner's and counts its deals:
    /// `None` for someone else's listing (their node revises it), a closed or expired one, a campaign (it
    /// makes a deal with every backer and stays as it is) or a digital good (it sells copies
    /// without counting down: a revision per sale would flood the network).
    fn counted_listing(
        &self,
        deal: &Deal,
    ) -> Result<Option<(haggle_protocol::ListingKey, Object, Listing)>, ServiceError> {
        if deal.listing_author() != self.me() {
            return Ok(None);
        }
        let Some(key) = deal.listing().listing_key() else { return Ok(None) };
        let Some(current) = self.store.listing(&key)? else { return Ok(None) };
        let Some(listing) = current.listing().cloned() else { return Ok(None) };
        if listing.status == ListingStatus::Closed
            || listing.expires_at <= Timestamp::now()
            || listing.kind == ListingKind::Crowdfund
            || listing.deals_leave_quantity()
        {
            return Ok(None);
        }
        Ok(Some((key, current, listing)))
    }

    /// The next revision of the owner's listing after `deal` (its quantity less the deal's, or a
    /// tombstone when none is left); `None` if the listing is someone else's (their node does
    /// this) or already closed.
    fn next_revision_after(&self, deal: &Deal) -> Result<Option<Verified<Object>>, ServiceError> {
        // A deal called off meanwhile takes nothing (checked under the revision lock, like the
        // settling of a cancellation).
        if self.store.is_cancelled(&deal.id())? {
            return Ok(None);
        }
        let Some((_, current, mut listing)) = self.counted_listing(deal)? else { return Ok(None) };
        // This node runs this once per deal, when it first learns of it, so the current revision
        // cannot count it yet (even one the owner wrote after the deal was made, while the
        // deal's last message was still on its way): the deal's quantity comes off it.
        let left = u64::from(listing.quantity).saturating_sub(u64::from(deal.terms().quantity));
        let now = Timestamp::now().max(deal.made_at().saturating_add(Duration::from_millis(1)));
        listing.revision = next_revision(&current)?;
        // A booking takes nights, not the unit: they are marked booked for everyone to see.
        if let (Some(dates), Some(Market::Calendar(calendar))) = (deal.terms().dates, listing.market.as_mut())
        {
            calendar.book(dates);
            calendar.forget_before(haggle_protocol::calendar::day_of(now));
        } else if left == 0 {
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

/// The auction terms of a draft of kind `auction` (whose `price` is the start price); `None` for
/// other kinds, which may not carry auction settings.
fn auction_terms(
    draft: &ListingDraft,
    start: Option<&Price>,
    now: Timestamp,
) -> Result<Option<Market>, ServiceError> {
    let Some(a) = &draft.auction else {
        if draft.kind == ListingKind::Auction {
            return Err(InvalidInput::Auction("an auction needs its end, e.g. --ends 3d").into());
        }
        return Ok(None);
    };
    if draft.kind != ListingKind::Auction {
        return Err(InvalidInput::Auction(
            "--ends, --reserve, --increment and --window are for --kind auction",
        )
        .into());
    }
    let Some(start) = start else {
        return Err(
            InvalidInput::Auction("an auction needs a start price, e.g. --price 50 --currency EUR").into()
        );
    };
    if a.ends_in == 0 {
        return Err(InvalidInput::Auction("an auction needs its end, e.g. --ends 3d").into());
    }
    if a.ends_in > 86 * 86_400 {
        return Err(InvalidInput::Auction("an auction ends at most 86 days from now (--ends 86d)").into());
    }
    let currency = &start.currency;
    let increment = match &a.increment {
        Some(text) => currency.parse_amount(text)?,
        // One whole unit (1 EUR), but no more than a twentieth of the start price: a start of
        // 0.001 BTC would otherwise ask every bid to add a whole bitcoin.
        None if start.amount > 0 => currency.minor_per_major().min((start.amount / 20).max(1)),
        None => currency.minor_per_major(),
    };
    if increment == 0 {
        return Err(InvalidInput::Dates(format!(
            "the increment must be at least {}",
            Price::new(1, currency.clone())
        ))
        .into());
    }
    let reserve = a.reserve.as_deref().map(|text| currency.parse_amount(text)).transpose()?;
    Ok(Some(Market::Auction(AuctionTerms {
        reserve,
        increment,
        ends_at: now.saturating_add(Duration::from_secs(a.ends_in)),
        window_secs: a.window.unwrap_or(600),
    })))
}

/// Writes a listing's free-form fields as every node will compare them: the category and the
/// geohash in lower case (search takes them in any case), the place without surrounding
/// spaces, and each tag and way to pay once (the first spelling kept; "Folk", "folk" and
/// "FOLK" are one tag to a search).
fn tidy(listing: &mut Listing) {
    listing.category = listing.category.trim().to_lowercase();
    if let Some(g) = listing.location.geohash.as_mut() {
        *g = g.trim().to_lowercase();
    }
    listing.location.text = listing.location.text.trim().to_owned();
    for list in [&mut listing.tags, &mut listing.payment] {
        let mut seen = std::collections::HashSet::new();
        list.retain(|entry| seen.insert(entry.trim().to_lowercase()));
        for entry in list.iter_mut() {
            *entry = entry.trim().to_owned();
        }
    }
}

/// ISO 4217's code for "no currency", the currency of a giveaway's terms.
fn no_currency() -> Currency {
    Currency::new("XXX").expect("XXX is a valid currency code")
}

/// A lifetime asked for (or the default), within the protocol's limit.
fn lifetime(
    what: &'static str,
    asked: Option<Duration>,
    default: Duration,
) -> Result<Duration, ServiceError> {
    let lifetime = asked.unwrap_or(default);
    if lifetime.is_zero() {
        return Err(InvalidInput::ExpiredOnArrival { what }.into());
    }
    if lifetime > MAX_LIFETIME {
        return Err(InvalidInput::LifetimeTooLong { what, max_days: MAX_LIFETIME.as_secs() / 86_400 }.into());
    }
    Ok(lifetime)
}

fn next_revision(current: &Object) -> Result<u32, ServiceError> {
    current
        .listing()
        .and_then(|l| l.revision.checked_add(1))
        .ok_or_else(|| Conflict::RevisionsExhausted.into())
}

/// A listing price from a decimal amount, its currency and period.
fn price(
    kind: ListingKind,
    amount: &str,
    currency: Option<Currency>,
    per: Option<Period>,
) -> Result<Price, ServiceError> {
    if kind == ListingKind::Giveaway {
        return Err(InvalidInput::PricedGiveaway.into());
    }
    let currency = currency.ok_or(InvalidInput::PriceWithoutCurrency)?;
    Ok(with_period(Price::new(currency.parse_amount(amount)?, currency), per))
}

fn with_period(price: Price, per: Option<Period>) -> Price {
    match per {
        Some(per) => price.per(per),
        None => price,
    }
}

/// A listing's price after an update: each part given replaces the old one. The old amount is
/// kept in minor units; with a new currency it needs a new amount (minor units differ between
/// currencies).
fn repriced(
    listing: &Listing,
    amount: Option<String>,
    currency: Option<Currency>,
    per: Option<Period>,
) -> Result<Option<Price>, ServiceError> {
    let old = listing.price.as_ref();
    let currency = currency.or_else(|| old.map(|p| p.currency.clone()));
    let per = per.or_else(|| old.and_then(|p| p.per));
    match (amount, old) {
        (Some(amount), _) => price(listing.kind, &amount, currency, per).map(Some),
        (None, Some(old)) if currency.as_ref() == Some(&old.currency) => {
            Ok(Some(with_period(Price::new(old.amount, old.currency.clone()), per)))
        }
        (None, Some(_)) => Err(InvalidInput::NewCurrencyWithoutPrice.into()),
        (None, None) => Err(InvalidInput::CurrencyWithoutPrice.into()),
    }
}

/// Whether an amount as written is zero (`0`, `0.00`), whatever the currency.
fn is_zero(amount: &str) -> bool {
    let amount = amount.trim();
    amount.bytes().any(|b| b == b'0') && amount.bytes().all(|b| b == b'0' || b == b'.')
}

/// A booking is for the whole place or thing: one, whatever the nights.
fn whole_booking(draft: &TermsDraft) -> Result<(), ServiceError> {
    if draft.quantity.is_some_and(|q| q != 1) {
        return Err(
            InvalidInput::Dates("a booking is for the whole place or thing: leave out --qty".into()).into()
        );
    }
    Ok(())
}

/// [`whole_booking`]; and without a price, a booking offers what the nights cost at the
/// listing's price.
fn booking_draft(draft: &mut TermsDraft, listing: &Listing, dates: &DateRange) -> Result<(), ServiceError> {
    whole_booking(draft)?;
    if let (Some(price), None, None) = (&listing.price, &draft.price, &draft.currency) {
        let amount =
            haggle_protocol::calendar::asking(price, dates).ok_or(InvalidInput::NoPrice("a booking"))?;
        draft.price = Some(Price::new(amount, price.currency.clone()).decimal());
    }
    Ok(())
}

/// Terms from a draft, filling quantity and currency from `current` terms or defaults.
fn terms(
    draft: TermsDraft,
    kind: ListingKind,
    default_currency: Option<Currency>,
    current: Option<&Terms>,
    dates: Option<DateRange>,
    now: Timestamp,
) -> Result<(Terms, String), ServiceError> {
    let mut draft = draft;
    if kind == ListingKind::Giveaway && draft.price.take().is_some_and(|p| !is_zero(&p)) {
        return Err(InvalidInput::PricedGiveawayOffer.into());
    }
    let what = if current.is_some() { "a counter" } else { "an offer" };
    let currency = match draft.currency.or(default_currency) {
        Some(currency) => currency,
        // A giveaway asks nothing: its terms carry a zero amount in ISO 4217's "no currency".
        None if kind == ListingKind::Giveaway && draft.price.is_none() => no_currency(),
        None if draft.price.is_none() => return Err(InvalidInput::NoPriceNorCurrency(what).into()),
        None => return Err(InvalidInput::NoCurrency.into()),
    };
    let amount = match (draft.price, kind) {
        (Some(p), _) => currency.parse_amount(&p)?,
        (None, ListingKind::Giveaway) => 0,
        (None, _) => return Err(InvalidInput::NoPrice(what).into()),
    };
    let quantity =
        if dates.is_some() { 1 } else { draft.quantity.or(current.map(|t| t.quantity)).unwrap_or(1) };
    let lifetime =
        lifetime("a proposal", draft.expires_in.map(Duration::from_secs), DEFAULT_PROPOSAL_LIFETIME)?;
    let mut expires_at = now.saturating_add(lifetime);
    if let Some(dates) = &dates {
        expires_at = within_check_in_day(dates, expires_at, draft.expires_in.is_some(), now)?;
    }
    Ok((Terms { quantity, price: Price::new(amount, currency), expires_at, dates }, draft.message))
}

/// A booking's terms can be accepted until its check-in day ends (UTC), not later: the default
/// lifetime is cut to that, and a lifetime asked for past it is refused with the longest that fits.
fn within_check_in_day(
    dates: &DateRange,
    expires_at: Timestamp,
    asked: bool,
    now: Timestamp,
) -> Result<Timestamp, ServiceError> {
    let last = Timestamp::from_millis((u64::from(dates.from) + 1) * 86_400_000);
    if expires_at <= last {
        return Ok(expires_at);
    }
    if !asked {
        return Ok(last);
    }
    let left = last.as_millis().saturating_sub(now.as_millis()) / 1_000;
    let fits = match left {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s => format!("{}m", (s / 60).max(1)),
    };
    Err(InvalidInput::Dates(format!(
        "this request would stay open after its check-in day ({}) ends (UTC): give --expires {fits} or less, or leave --expires out",
        haggle_protocol::calendar::Date(dates.from)
    ))
    .into())
}

#[cfg(test)]
mod tests;
