//! The owner's listing actions: publish, update, renew and retract, each built, signed and stored
//! here and returned as an [`Effect`]: what to gossip, whom to deliver to, and what to announce.

use std::time::Duration;

use haggle_protocol::limits::MAX_LIFETIME;
use haggle_protocol::{
    AuctionTerms, Body, Currency, Envelope, Listing, ListingKind, ListingStatus, Location, Market, Object,
    ObjectId, Period, Price, Timestamp, Verified, new_nonce,
};
use haggle_storage::Outcome;

use super::endings::Ending;
use super::{Conflict, Followups, InvalidInput, More, Service, ServiceError, views};
use super::{bookings, campaigns};
use crate::api::types::{ListingDraft, ListingPatch, ListingView, NodeEvent};

/// A listing lives 30 days unless the person says otherwise.
pub const DEFAULT_LISTING_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// Proposals (offers and counters) stand for 3 days unless the person says otherwise.
pub const DEFAULT_PROPOSAL_LIFETIME: Duration = Duration::from_secs(3 * 86_400);
/// A tombstone lives as long as any revision can, so it outlives every earlier revision.
pub(super) const TOMBSTONE_LIFETIME: Duration = Duration::from_secs(90 * 86_400);
/// The shortest auction, in seconds: a bid must have time to reach the seller's node.
const MIN_AUCTION_SECS: u64 = 5;

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
        if !draft.any_currency {
            known_currency(draft.currency.as_ref())?;
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
                // Said before the quantity: an hourly price cannot take a calendar whatever the
                // quantity (a trial fixed the quantity only to be refused for the hour).
                by_the_hour(price.as_ref())?;
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
            location: Location {
                text: draft.location.unwrap_or_default(),
                geohash: draft.geohash.as_deref().map(given_geohash).transpose()?,
            },
            payment: draft.payment,
            delivery: draft.delivery.unwrap_or_default(),
            expires_at,
            market,
            images: draft.images,
            file: draft.file,
        };
        tidy(&mut listing);
        shows_every_character(&listing)?;
        // The check and the store under one lock: a retry that comes while the first publish is
        // still doing its proof of work must find it stored.
        let _one_at_a_time = self.revising();
        if !draft.again {
            // A listing that breaks a rule says so first, not that a like one is on offer.
            let envelope = haggle_protocol::Envelope {
                created_at: now,
                ..haggle_protocol::Envelope::new(self.me(), Body::Listing(listing.clone()))
            };
            haggle_protocol::limits::validate(&envelope, now).map_err(haggle_protocol::SignError::Invalid)?;
            self.refuse_same_on_offer(&listing, now)?;
        }
        self.store_listing(listing, now, false)
    }

    /// Refuses a new listing the same as one of the owner's still on offer: a command run twice
    /// (a retry after a timeout, a line pasted twice) would otherwise publish it twice, and
    /// every searcher would see it twice.
    fn refuse_same_on_offer(&self, listing: &Listing, now: Timestamp) -> Result<(), ServiceError> {
        use haggle_protocol::Market;
        // An auction's or a campaign's rules, less their end (a command run twice gives two ends
        // a moment apart): another reserve or other tiers make another listing.
        let same_rules = |a: &Option<Market>, b: &Option<Market>| match (a, b) {
            (Some(Market::Auction(a)), Some(Market::Auction(b))) => {
                (a.reserve, a.increment, a.window_secs) == (b.reserve, b.increment, b.window_secs)
            }
            (Some(Market::Campaign(a)), Some(Market::Campaign(b))) => a.tiers == b.tiers,
            (Some(Market::Calendar(_)), Some(Market::Calendar(_))) | (None, None) => true,
            _ => false,
        };
        // Titles as a reader tells them apart: not by case.
        let same = |l: &Listing| {
            l.kind == listing.kind
                && composed(&l.title).to_lowercase() == listing.title.to_lowercase()
                && composed(&l.description) == listing.description
                && l.category == listing.category
                && l.price == listing.price
                && l.location == listing.location
                && l.images == listing.images
                && l.file == listing.file
                && same_rules(&l.market, &listing.market)
        };
        // An auction past its end, or a campaign past its deadline, takes no more bids or
        // pledges: it is not on offer, whatever its status until its close (a trial's seller,
        // told by `show` to auction an unsold lamp again with `publish --from`, was refused).
        // An auction's end as its bids moved it (the anti-sniping window), from the store's
        // view (from the review: the scheduled end let a duplicate through while an extension
        // ran).
        let over = |o: &Object, l: &Listing| -> Result<bool, ServiceError> {
            Ok(match &l.market {
                Some(Market::Auction(_)) => match o.listing_key() {
                    Some(key) => self.store.auction(&key)?.is_some_and(|(_, view)| view.is_over(now)),
                    None => false,
                },
                Some(Market::Campaign(c)) => c.deadline <= now,
                _ => false,
            })
        };
        for entry in self.store.listings_by(&self.me())? {
            let Some(l) = entry.object.listing() else { continue };
            if l.status == ListingStatus::Active && l.expires_at > now && same(l) && !over(&entry.object, l)?
            {
                let more = match &l.market {
                    Some(Market::Auction(_)) => More::Auction,
                    Some(Market::Campaign(_)) => More::Campaign,
                    Some(Market::Calendar(_)) => More::Calendar,
                    None => More::Quantity,
                };
                return Err(
                    Conflict::SameListing { id: entry.object.id(), title: l.title.clone(), more }.into()
                );
            }
        }
        Ok(())
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
            // A preview anyone may fetch that is the file sold gives it away (a trial's
            // `--preview` named the file itself, and a buyer-to-be saved it whole).
            if file.preview.is_some_and(|p| p.hash == file.hash) {
                return Err(InvalidInput::File(
                    "the preview and the file are the same bytes: anyone may fetch a preview, so it would give the file away; give a sample (a page, a clip) as --preview, or none"
                        .into(),
                )
                .into());
            }
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
        // What a picture is said to be, its format and size, is what its bytes are: other nodes
        // show it as said, and fetch the thumbnail to show it.
        for (n, image) in images.iter().enumerate() {
            let wrong = |what: String| -> ServiceError {
                InvalidInput::File(format!(
                    "picture {}: {what}: name it as POST /v1/images returned it",
                    n + 1
                ))
                .into()
            };
            let read = |blob: &haggle_protocol::BlobRef| {
                self.blobs.read(&blob.hash).map_err(|e| ServiceError::Files(e.to_string()))
            };
            let said = (image.kind, image.width, image.height);
            match crate::files::images::describe(&read(&image.blob)?) {
                None => return Err(wrong(format!("file {} is not a picture", image.blob.hash.fmt_short()))),
                // A picture kept with its EXIF turn reads sideways from its header.
                Some((kind, w, h)) if (kind, w, h) == said || (kind, h, w) == said => {}
                Some((kind, w, h)) => {
                    return Err(wrong(format!(
                        "the file is a {} picture of {w} x {h} pixels, not a {} picture of {} x {}",
                        kind.extension(),
                        image.kind.extension(),
                        image.width,
                        image.height
                    )));
                }
            }
            if !matches!(
                crate::files::images::describe(&read(&image.thumb)?),
                Some((haggle_protocol::ImageType::Jpeg, ..))
            ) {
                return Err(wrong("its thumbnail is not a JPEG picture".to_owned()));
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
        // An auction or campaign past its end takes no revision but its close (a retrial's
        // update got the protocol's words and a usage error's exit code).
        market_over(&listing, now)?;
        if patch.price.is_some() || patch.currency.is_some() || patch.per.is_some() {
            let old = listing.price.as_ref().map(|p| &p.currency);
            if !patch.any_currency && patch.currency.as_ref() != old {
                known_currency(patch.currency.as_ref())?;
            }
            let price = repriced(&listing, patch.price, patch.currency, patch.per)?;
            // Said with the listing's id here: the store's refusal cannot name it (a trial read
            // a literal `--from ID`).
            if matches!(listing.market, Some(Market::Auction(_) | Market::Campaign(_)))
                && price != listing.price
            {
                let short = self.resolve(given, "listing")?.fmt_short();
                let fixed = haggle_protocol::terms_fixed(&short);
                return Err(InvalidInput::Market(format!("the price cannot change: {fixed}")).into());
            }
            listing.price = price;
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
            // A listing that takes bookings is one unit: said with the change that makes it so.
            let units = quantity.unwrap_or(listing.quantity);
            let bookable = matches!(listing.kind, ListingKind::Rental | ListingKind::Service);
            // Said before anything about the calendar's own settings, which would send the
            // owner to add open dates only to be refused for the kind.
            if !bookable {
                return Err(InvalidInput::Dates(format!(
                    "only a rental or a service takes bookings, and this is a {} listing: a calendar cannot be added to it",
                    listing.kind
                ))
                .into());
            }
            by_the_hour(listing.price.as_ref())?;
            if listing.calendar().is_none() && units != 1 {
                return Err(InvalidInput::Dates(format!(
                    "a listing taking bookings is one unit, and this one has a quantity of {units}: add --qty 1 to this update"
                ))
                .into());
            }
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
            listing.location.geohash =
                Some(geohash).filter(|g| !g.is_empty()).as_deref().map(given_geohash).transpose()?;
        }
        listing.payment = payment.unwrap_or(listing.payment);
        listing.delivery = delivery.unwrap_or(listing.delivery);
        tidy(&mut listing);
        shows_every_character(&listing)?;
        // Past nights forgotten count as no change: the calendar says the same from today on.
        let mut before = current.listing().cloned();
        if let Some(Market::Calendar(c)) = before.as_mut().and_then(|l| l.market.as_mut()) {
            c.forget_before(haggle_protocol::calendar::day_of(now));
        }
        if before.as_ref() == Some(&listing) {
            // Named by its current revision, which `show` prints (a trial got the id typed).
            return Err(InvalidInput::Unchanged(current.id().fmt_short()).into());
        }
        listing.revision = next_revision(&current)?;
        self.store_listing(listing, now, false)
    }

    /// Extends one of the owner's listings by `lifetime` from now (by default 30 days, or what it
    /// had left if that is longer).
    pub fn renew(&self, given: &str, lifetime: Option<Duration>) -> Result<Effect, ServiceError> {
        let asked = lifetime.is_some();
        let lifetime = self::lifetime("a listing", lifetime, DEFAULT_LISTING_LIFETIME)?;
        let _revising = self.revising();
        let (current, mut listing) = self.own_listing(given)?;
        let now = Timestamp::now();
        // Without a lifetime asked, a renewal never ends the listing sooner than before (from a
        // trial: a cabin with 90 days left renewed "to freshen it" kept 30, and lost the
        // bookable months after them).
        let left = Duration::from_millis(listing.expires_at.as_millis().saturating_sub(now.as_millis()));
        let lifetime = if asked { lifetime } else { lifetime.max(left) };
        // The rules an open auction or campaign keeps, told in the command's terms.
        market_over(&listing, now)?;
        if let Some(market) = &listing.market {
            lives_long_enough(market, now, now.saturating_add(lifetime))?;
        }
        listing.revision = next_revision(&current)?;
        listing.expires_at = now.saturating_add(lifetime);
        self.store_listing(listing, now, false)
    }

    /// Closes one of the owner's listings with a signed tombstone, and ends every open thread
    /// on it (the other parties are told). A listing a deal sold out, which would reopen by
    /// itself if the deal were called off, may be retracted too: it then stays closed (a trial's
    /// seller, who had sold the thing elsewhere meanwhile, could only race the reopening).
    pub fn retract(&self, given: &str) -> Result<Effect, ServiceError> {
        let mut effect = {
            let _revising = self.revising();
            let (current, mut listing) = self.own_listing_or_reopening(given, true)?;
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
        let counters = self.store.promises_on(&key)?;
        // Where deals leave the quantity (it caps each deal), only the largest promise must fit;
        // so too on a listing that takes bookings, whose deals take nights, never its one unit.
        let each = current.listing().is_some_and(Listing::quantity_never_used_up);
        let quantities = counters.iter().map(|p| u64::from(p.quantity));
        let promised: u64 = if each { quantities.max().unwrap_or(0) } else { quantities.sum() };
        if u64::from(quantity) < promised {
            let threads = counters.into_iter().map(|p| p.thread).collect();
            return Err(Conflict::PromisedByCounters { quantity, promised, threads }.into());
        }
        Ok(())
    }

    fn own_listing(&self, given: &str) -> Result<(Object, Listing), ServiceError> {
        self.own_listing_or_reopening(given, false)
    }

    /// [`Self::own_listing`], or, `retracting`, also one a deal sold out that would reopen were
    /// the deal called off (see [`Self::may_reopen`]): a retraction keeps it closed.
    fn own_listing_or_reopening(
        &self,
        given: &str,
        retracting: bool,
    ) -> Result<(Object, Listing), ServiceError> {
        let current = self.listing(given)?;
        // Named by the id typed, not by the current revision's, which the user may never have seen.
        if current.author() != self.me() {
            return Err(ServiceError::NotYours { what: "listing", id: self.resolve(given, "listing")? });
        }
        let listing = current.listing().cloned().ok_or_else(|| ServiceError::not_found("listing", given))?;
        if listing.status == ListingStatus::Closed {
            let key = haggle_protocol::ListingKey { author: self.me(), nonce: listing.nonce };
            let reopens = self.may_reopen(&key, &listing)?;
            if !(retracting && reopens) {
                let id = self.resolve(given, "listing")?;
                let retracted = super::views::retracted_after_sell_out(&self.store, &key, &listing)?;
                let closed = if retracting {
                    Conflict::own_closed_already(&listing, retracted, id)
                } else {
                    Conflict::own_closed(&listing, reopens, retracted, id)
                };
                return Err(closed.into());
            }
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
    pub(super) fn dated_after_deals(
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

    /// The view of what an action stored: the listing, for listing actions.
    pub fn effect_listing(&self, effect: &Effect) -> Result<ListingView, ServiceError> {
        Ok(views::listing(&self.store, &effect.object, &self.me())?)
    }

    pub(super) fn sign(&self, body: Body, now: Timestamp) -> Result<Verified<Object>, ServiceError> {
        let envelope = Envelope { created_at: now, ..Envelope::new(self.me(), body) };
        let kind = envelope.body.kind();
        let started = std::time::Instant::now();
        // Counted while it runs, and no longer however it ends (a panic included).
        struct Working<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Working<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.working.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let working = Working(&self.working);
        // A node told to stop gives up the work (minutes on a slow machine) rather than finish it
        // and store what no one waits for any more, once its sealed copies had their moment.
        let signed = envelope
            .sign_with_work_until(&self.key, now, self.policy.pow_bits, &|| self.halt.gives_up_work());
        drop(working);
        let took = started.elapsed();
        match &signed {
            Ok(_) if took >= std::time::Duration::from_secs(2) => {
                tracing::info!(kind = kind.as_str(), secs = took.as_secs_f64(), "proof of work done");
            }
            Err(haggle_protocol::SignError::Stopped) => {
                tracing::info!(
                    kind = kind.as_str(),
                    secs = took.as_secs_f64(),
                    "proof of work given up: the node stops"
                );
            }
            _ => {}
        }
        Ok(signed?)
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
    // From a trial: `--ends 1s` published an auction that had ended before a bid could reach it.
    if a.ends_in < MIN_AUCTION_SECS {
        return Err(InvalidInput::Auction(
            "an auction runs at least 5 seconds (--ends 5s), or it ends before a bid can reach your node; auctions usually run days (--ends 3d)",
        )
        .into());
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
    // A reserve of 0 is none: how one copied by `publish --from` is dropped (from a retrial).
    let reserve =
        a.reserve.as_deref().map(|text| currency.parse_amount(text)).transpose()?.filter(|r| *r > 0);
    if let Some(r) = reserve
        && r < start.amount
    {
        return Err(InvalidInput::Dates(format!(
            "the reserve ({}) is below the start price ({}): give one at or above it (the least you would sell for), or --reserve 0 for none",
            Price::new(r, currency.clone()),
            Price::new(start.amount, currency.clone())
        ))
        .into());
    }
    Ok(Some(Market::Auction(AuctionTerms {
        reserve,
        increment,
        ends_at: now.saturating_add(Duration::from_secs(a.ends_in)),
        window_secs: a.window.unwrap_or(600),
    })))
}

/// Refuses a revision of an open auction past its scheduled end or a campaign past its
/// deadline: the end is fixed, and only the owner's node closes it then.
fn market_over(listing: &haggle_protocol::Listing, now: Timestamp) -> Result<(), ServiceError> {
    match &listing.market {
        Some(Market::Auction(terms)) if now >= terms.ends_at => {
            Err(Conflict::MarketOver { what: "the auction's scheduled end", ended: terms.ends_at }.into())
        }
        Some(Market::Campaign(c)) if now >= c.deadline => {
            Err(Conflict::MarketOver { what: "the campaign's deadline", ended: c.deadline }.into())
        }
        _ => Ok(()),
    }
}

/// A listing's geohash as given: a geohash in lower case, or `latitude,longitude` as the
/// geohash of the cell around them (at most 1.2 km by 0.6 km: the exact place is not published).
/// A capitalised word is refused, not lower-cased: `Ghent` is a place name, and `ghent` a
/// geohash off Greenland.
fn given_geohash(given: &str) -> Result<String, ServiceError> {
    Ok(haggle_protocol::geo::listing_geohash(given).map_err(InvalidInput::from)?)
}

/// Writes a listing's free-form fields as every node will compare them: the text composed
/// (Unicode NFC: an accent typed as a separate mark, as macOS writes it, is the accented
/// letter), the category and the geohash in lower case (search takes them in any case), the
/// place without surrounding spaces, and each tag and way to pay once (the first spelling
/// kept; "Folk", "folk" and "FOLK" are one tag to a search).
/// Refuses a title, place or tag with a character that does not show (see
/// [`super::names::hides_characters`]); a description may hold them (a text of many lines
/// and scripts), and is not shown where a title is compared.
fn shows_every_character(listing: &Listing) -> Result<(), InvalidInput> {
    use super::names::hides_characters;
    if hides_characters(&listing.title) {
        return Err(InvalidInput::HiddenCharacters("title"));
    }
    if hides_characters(&listing.location.text) {
        return Err(InvalidInput::HiddenCharacters("place"));
    }
    if listing.tags.iter().any(|t| hides_characters(t)) {
        return Err(InvalidInput::HiddenCharacters("tag"));
    }
    Ok(())
}

fn tidy(listing: &mut Listing) {
    // Spaces around a title or after a description are never meant (a title shown beside
    // another that differs only by them reads as the same).
    listing.title = composed(listing.title.trim());
    listing.description = composed(listing.description.trim_end());
    listing.category = listing.category.trim().to_lowercase();
    if let Some(g) = listing.location.geohash.as_mut() {
        *g = g.trim().to_lowercase();
    }
    listing.location.text = composed(listing.location.text.trim());
    listing.delivery = composed(&listing.delivery);
    for list in [&mut listing.tags, &mut listing.payment] {
        for entry in list.iter_mut() {
            *entry = composed(entry.trim());
        }
        // `ß` is `ss` in capitals (from an international trial: `Größe 56` and `GRÖSSE 56`
        // were kept as two tags, which search takes as one).
        let mut seen = std::collections::HashSet::new();
        list.retain(|entry| seen.insert(entry.to_lowercase().replace('ß', "ss")));
    }
}

/// `text` composed (Unicode NFC): one letter typed as a letter and a combining mark, or as the
/// accented letter, is one text (from an international trial: a title typed both ways was
/// published twice, the same listing).
pub(crate) fn composed(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    if text.is_ascii() { text.to_owned() } else { text.nfc().collect() }
}

/// ISO 4217's code for "no currency", the currency of a giveaway's terms.
pub(super) fn no_currency() -> Currency {
    Currency::new("XXX").expect("XXX is a valid currency code")
}

/// A lifetime asked for (or the default), within the protocol's limit.
pub(super) fn lifetime(
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

pub(super) fn next_revision(current: &Object) -> Result<u32, ServiceError> {
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

/// Refuses a currency code of the right shape that no currency this node knows has (`EUT`, a
/// slip for `EUR`): a price in it is found by no search for the code meant. A currency of the
/// owner's own (a local or community one) is taken when the draft says so (`any_currency`).
fn known_currency(currency: Option<&Currency>) -> Result<(), ServiceError> {
    match currency {
        Some(c) if !c.is_known() => {
            Err(InvalidInput::UnknownCurrency { code: c.to_string(), near: c.near_known() }.into())
        }
        _ => Ok(()),
    }
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

/// Refuses a calendar on a listing priced by the hour: a calendar books whole days (nights), so
/// hours are sold as a quantity, their times agreed in the offer's note.
fn by_the_hour(price: Option<&haggle_protocol::Price>) -> Result<(), ServiceError> {
    if price.is_some_and(|p| p.per == Some(haggle_protocol::Period::Hour)) {
        return Err(InvalidInput::Dates(
            "a calendar books whole days, and this listing is priced per hour: price it per day, week or month to take bookings, or sell hours without a calendar (--qty is how many a deal may take; the buyer names the time in the offer's note)"
                .into(),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
