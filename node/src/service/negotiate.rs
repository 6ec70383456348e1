//! The owner's negotiation messages: offers, counters, accepts, declines and withdrawals, each
//! checked against the thread and the listing as this node holds them, signed, stored and
//! returned as an [`Effect`] that delivers it to the other party.

use std::time::Duration;

use haggle_protocol::thread::may_confirm;
use haggle_protocol::{
    Accept, Body, Confirm, Counter, Currency, DateRange, Decline, Listing, ListingKind, ListingStatus,
    Object, ObjectId, Offer, Price, Reply, Terms, ThreadState, Timestamp, Withdraw,
};
use haggle_storage::ThreadRecord;

use super::actions::{DEFAULT_PROPOSAL_LIFETIME, Effect, lifetime, no_currency};
use super::{Conflict, Followups, InvalidInput, Service, ServiceError, bookings};
use crate::api::types::{AsOffered, SentView, TermsDraft, ThreadTag};

impl Service {
    /// Makes an offer on someone else's listing.
    pub fn offer(&self, given: &str, draft: TermsDraft) -> Result<Effect, ServiceError> {
        let listing = self.listing(given)?;
        let l = listing.listing().ok_or_else(|| ServiceError::not_found("listing", given))?;
        if listing.author() == self.me() {
            return Err(Conflict::OwnListing(match draft.dates {
                Some(_) => "listing: others book it; to change its nights or price, use haggle update (--available, --price)",
                None => "listing: others make offers on it; to change its terms, use haggle update",
            })
            .into());
        }
        // Named by the id typed, not by the revision that closed it, which the user never saw.
        if l.status == ListingStatus::Closed {
            return Err(Conflict::closed(l, self.resolve(given, "listing")?).into());
        }
        let now = Timestamp::now();
        if l.expires_at <= now {
            return Err(Conflict::ListingExpired(self.resolve(given, "listing")?).into());
        }
        self.not_to_blocked(&listing.author(), if draft.dates.is_some() { "book" } else { "offer on" })?;
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
                calendar
                    .fits(&dates)
                    .map_err(|e| Conflict::Booking(calendar.suggest(e), l.kind == ListingKind::Service))?;
                Some(dates)
            }
            (Some(calendar), None) => {
                let id = listing.id().fmt_short();
                // The example is a stay the calendar takes now.
                let today = haggle_protocol::calendar::day_of(now);
                let how = match calendar.first_fit(today) {
                    Some(stay) => {
                        let from = haggle_protocol::calendar::Date(stay.from);
                        let to = haggle_protocol::calendar::Date(stay.to);
                        // A service's calendar books days of work (from a trial).
                        let which = if l.kind == ListingKind::Service { "days" } else { "nights" };
                        format!("say which {which}, e.g. haggle book {id} --from {from} --to {to}")
                    }
                    None => format!("no stay can be booked on it now (haggle show {id} shows its calendar)"),
                };
                return Err(InvalidInput::Dates(format!("this listing takes bookings: {how}")).into());
            }
            (None, Some(_)) => {
                // Only a rental or a service can be given a calendar; another kind is never
                // booked.
                let why = match l.kind {
                    haggle_protocol::ListingKind::Rental | haggle_protocol::ListingKind::Service => {
                        "it has no calendar of open dates".to_owned()
                    }
                    kind => format!("{kind} listings take offers, not bookings"),
                };
                // A listing with no price names no currency: the offer must (from a trial: the
                // example was refused for lacking one).
                return Err(InvalidInput::Dates(format!(
                    "this listing takes no bookings ({why}): leave out the dates and make an offer, e.g. haggle offer {} --price {}",
                    listing.id().fmt_short(),
                    l.price.as_ref().map_or_else(|| "100 --currency EUR".to_owned(), Price::decimal)
                ))
                .into());
            }
            (None, None) => None,
        };
        let mut draft = draft;
        if let Some(dates) = dates {
            booking_draft(&mut draft, l, &dates)?;
        }
        // Without a price, an offer on a digital good pays its price for each copy (and buys
        // one at once).
        if let (ListingKind::Digital, Some(price), None, None) =
            (l.kind, &l.price, &draft.price, &draft.currency)
        {
            let copies = u64::from(draft.quantity.unwrap_or(1));
            let all = Price::new(price.amount.saturating_mul(copies), price.currency.clone());
            draft.price = Some(all.decimal());
        }
        let (terms, message) =
            terms(draft, l.kind, default_currency.as_ref(), default_currency.clone(), None, dates, now)?;
        // The same offer twice is a slip (a command run again), not a second offer.
        if let Some(key) = listing.listing_key() {
            let me = self.me();
            let same = self.store.threads_on(&key)?.into_iter().filter(|t| {
                t.view.offerer == me
                    && t.view.proposer == me
                    && !t.view.state.is_final()
                    && (t.view.terms.quantity, &t.view.terms.price, t.view.terms.dates)
                        == (terms.quantity, &terms.price, terms.dates)
            });
            for t in same {
                // One the other party's node refused for good is no offer there: it may be made
                // again.
                if self.store.offer_refused(&t.offer)?.is_none() {
                    return Err(Conflict::SameOffer(t.view.thread).into());
                }
            }
        }
        let body = Body::Offer(Offer { listing: listing.id(), to: listing.author(), terms, message });
        self.negotiate(body, now)
    }

    /// Answers the other party's latest terms with new ones.
    pub fn counter(&self, given: &str, draft: TermsDraft) -> Result<Effect, ServiceError> {
        self.counter_with(given, draft, AsOffered::default())
    }

    /// [`Service::counter`], standing by the revision offered on when `as_offered` says so.
    pub fn counter_with(
        &self,
        given: &str,
        draft: TermsDraft,
        as_offered: AsOffered,
    ) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        let head = self.their_terms(&thread, "counter")?;
        self.still_on_offer(&thread)?;
        // A thread stays what its offer was: nights cannot be added to one without them.
        if draft.dates.is_some() && thread.view.terms.dates.is_none() {
            let listing = listing_short(&thread);
            let short = thread.view.thread.fmt_short();
            let said = match listing_kind(&thread) {
                Some(ListingKind::Rental | ListingKind::Service) => {
                    // The terms on the table are the other party's: declining ends the thread;
                    // then the guest (the owner never books its own listing) asks for nights.
                    let who = if thread.view.listing_author == self.me() {
                        "let the other party ask for nights"
                    } else {
                        "ask for the nights"
                    };
                    format!(
                        "this thread is not a booking: its offer named no nights, and a thread stays what its offer was. Leave out the dates, or decline it (haggle decline {short}) and {who} (haggle book {listing} --from ... --to ...)"
                    )
                }
                Some(kind) => format!(
                    "this thread is not a booking ({kind} listings take offers, not bookings): leave out the dates"
                ),
                None => "this thread is not a booking: leave out the dates".to_owned(),
            };
            return Err(InvalidInput::Dates(said).into());
        }
        self.nights_named(&thread, as_offered, "counter")?;
        self.bound_to_what_was_offered(&thread, as_offered, "counter")?;
        let now = Timestamp::now();
        let kind = listing_kind(&thread).unwrap_or(ListingKind::Sell);
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
            // (Dates on a thread without them were refused above.)
            (_, dates) => dates,
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
                None => whole_booking(&draft, None)?,
            }
        }
        let listing_currency = thread
            .listing
            .as_ref()
            .and_then(Object::listing)
            .and_then(|l| l.price.as_ref())
            .map(|p| p.currency.clone());
        if let (Some(_), None, Some(listing)) = (&draft.price, &draft.currency, &listing_currency)
            && *listing != current.price.currency
            && kind != ListingKind::Giveaway
        {
            return Err(InvalidInput::WhichCurrency {
                theirs: current.price.currency.to_string(),
                listing: listing.to_string(),
            }
            .into());
        }
        let (terms, message) = terms(
            draft,
            kind,
            listing_currency.as_ref(),
            Some(current.price.currency.clone()),
            Some(current),
            dates,
            now,
        )?;
        // The other party's counter may not ask for more than the listing offers (the listing's
        // author has the stricter check of what is left, when the message is stored).
        if let Some(key) = thread.listing.as_ref().and_then(Object::listing_key)
            && key.author != self.me()
            && let Some(l) = self.store.listing(&key)?.as_ref().and_then(|o| o.listing().cloned())
            && terms.dates.is_none()
            && terms.quantity > l.quantity
        {
            return Err(InvalidInput::OverListing {
                asked: terms.quantity,
                max: l.quantity,
                per_deal: l.deals_leave_quantity(),
                unit: l.price.as_ref().and_then(|p| p.per),
                wanted: l.kind == ListingKind::Wanted,
            }
            .into());
        }
        // The same terms again carry nothing new, unless a note (a pickup time, say).
        if message.is_empty()
            && (terms.quantity, &terms.price, terms.dates)
                == (current.quantity, &current.price, current.dates)
        {
            return Err(InvalidInput::SameTerms(thread.view.thread.fmt_short()).into());
        }
        let body = Body::Counter(Counter { reply: self.reply_to(&thread, head), terms, message });
        self.negotiate(body, now).map_err(|e| self.name_promises(e, &thread))
    }

    /// A refusal for want of quantity, naming the owner's other threads that hold it.
    fn name_promises(&self, e: ServiceError, thread: &ThreadRecord) -> ServiceError {
        let ServiceError::Conflict(Conflict::QuantityExceeded { requested, remaining, held }) = e else {
            return booking_ways(e, thread);
        };
        let key = thread.listing.as_ref().and_then(Object::listing_key);
        let held = match key.map(|key| self.store.promises_on(&key)) {
            Some(Ok(promises)) => promises.into_iter().filter(|p| p.thread != thread.view.thread).collect(),
            _ => held,
        };
        Conflict::QuantityExceeded { requested, remaining, held }.into()
    }

    /// Accepts the other party's latest terms.
    pub fn accept(&self, given: &str) -> Result<Effect, ServiceError> {
        self.accept_with(given, AsOffered::default())
    }

    /// [`Service::accept`], standing by the revision offered on when `as_offered` says so.
    pub fn accept_with(&self, given: &str, as_offered: AsOffered) -> Result<Effect, ServiceError> {
        let thread = self.thread(given)?;
        let head = self.their_terms(&thread, "accept")?;
        self.check_public_offer_answer(&thread, true)?;
        if let Some(dates) = thread.view.terms.dates {
            bookings::not_past(&dates, Timestamp::now())?;
            self.calendar_takes(&thread, &dates, false).map_err(|e| booking_ways(e, &thread))?;
        }
        self.still_on_offer(&thread)?;
        self.nights_named(&thread, as_offered, "accept")?;
        self.bound_to_what_was_offered(&thread, as_offered, "accept")?;
        self.negotiate(Body::Accept(Accept { reply: self.reply_to(&thread, head) }), Timestamp::now())
            .map_err(|e| self.name_promises(e, &thread))
    }

    /// Refuses an accept or counter, by the listing's author and without `as_offered`, of an
    /// offer made on an earlier revision that described the listing otherwise (a description
    /// without the dent found since, say): either binds the author to the revision offered on.
    /// A new asking price or other tags alone bind nobody to anything. Instant bookings and
    /// digital goods bought at their price go through [`Service::accept`] too, so the owner's
    /// node leaves such an offer to the owner. (An auction's award, a funded campaign's
    /// pledges and the confirm of the owner's own counter do not: see ARCHITECTURE.md.)
    fn bound_to_what_was_offered(
        &self,
        thread: &ThreadRecord,
        as_offered: AsOffered,
        action: &'static str,
    ) -> Result<(), ServiceError> {
        let Some(revision) = thread.listing.as_ref() else { return Ok(()) };
        if as_offered.as_offered || revision.author() != self.me() {
            return Ok(());
        }
        let changed = super::views::listing_changed(&self.store, revision)?;
        if !changed.iter().any(|c| Listing::change_binds(c)) {
            return Ok(());
        }
        Err(Conflict::ListingChangedSince {
            thread: thread.view.thread,
            offered_on: revision.id(),
            changed,
            action,
        }
        .into())
    }

    /// Refuses an accept or counter, by the listing's author and without `as_offered`, of terms
    /// without nights on a listing that has a calendar now. Offers without nights are refused
    /// on a calendar, so such a thread began before the owner gave the listing one; a deal from
    /// it books no nights and holds nothing on the calendar, which the owner may still want
    /// (a deal outside the calendar), but should not do unawares.
    fn nights_named(
        &self,
        thread: &ThreadRecord,
        as_offered: AsOffered,
        action: &'static str,
    ) -> Result<(), ServiceError> {
        if as_offered.as_offered || thread.view.terms.dates.is_some() {
            return Ok(());
        }
        let Some(key) = thread.listing.as_ref().and_then(Object::listing_key) else { return Ok(()) };
        if key.author != self.me() {
            return Ok(());
        }
        let Some(current) = self.store.listing(&key)? else { return Ok(()) };
        if current.listing().and_then(Listing::calendar).is_none() {
            return Ok(());
        }
        Err(Conflict::NoNightsNamed { thread: thread.view.thread, listing: current.id(), action }.into())
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
        let Some(listing) = current.as_ref().and_then(|c| c.listing()) else { return Ok(()) };
        let Some(calendar) = listing.calendar() else { return Ok(()) };
        match bookings::refusal(calendar, thread, &key.author, dates) {
            Some(e) => {
                Err(Conflict::Booking(calendar.suggest(e), listing.kind == ListingKind::Service).into())
            }
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
        let thread = match self.thread(given) {
            // A campaign's or auction's id where the pledge's or bid's thread belongs: what takes
            // a pledge back, or that a bid stands (a trial's backer typed the campaign's id).
            Err(e @ ServiceError::WrongKind { .. }) => {
                let listing = self.listing(given).ok();
                let market = listing.as_ref().and_then(Object::listing).map(|l| l.kind);
                let id = listing.as_ref().map(|l| l.id().fmt_short()).unwrap_or_default();
                let refused = match market {
                    Some(ListingKind::Crowdfund) => format!(
                        "`{given}` is a campaign: a pledge to it is taken back by a withdrawal on the campaign, which every node counts: haggle pledge {id} --withdraw"
                    ),
                    Some(ListingKind::Auction) => format!(
                        "`{given}` is an auction: a bid on it stands as made and cannot be withdrawn (haggle show {id} shows the auction)"
                    ),
                    _ => return Err(e),
                };
                return Err(Conflict::MarketWithdraw(refused).into());
            }
            other => other?,
        };
        self.open(&thread)?;
        // A Withdraw in the thread would not change what every node counts: a pledge is taken
        // back by a pledge of 0 on its campaign, and a bid stands as made. Neither is the
        // listing author's to withdraw (nor, while the market runs, to decline).
        // Refused as an answer out of turn (409 not_your_turn, exit 1), as a decline or counter
        // of the same bid is (a trial's withdraw exited 2, its decline 1).
        let backer = thread.view.offerer == self.me();
        let listing = thread.listing.as_ref().map_or_else(String::new, |l| l.id().fmt_short());
        let refused = match thread.offer.kind() {
            haggle_protocol::ObjectKind::Pledge if backer => format!(
                "a pledge is taken back by a withdrawal on its campaign, which every node counts: haggle pledge {listing} --withdraw"
            ),
            haggle_protocol::ObjectKind::Pledge => "a pledge is the backer's to take back: at the deadline your node accepts every pledge if the campaign is funded, and declines them if not".to_owned(),
            haggle_protocol::ObjectKind::Bid if backer => format!(
                "a bid stands as made: it cannot be withdrawn. It binds you if it is accepted after the end: as the high bid, or, should a higher bid fall through, by the seller's hand (haggle show {listing} shows the auction)"
            ),
            haggle_protocol::ObjectKind::Bid => "a bid is the bidder's: at the end your node accepts the high bid and declines the others".to_owned(),
            _ => String::new(),
        };
        if !refused.is_empty() {
            return Err(Conflict::MarketWithdraw(refused).into());
        }
        // Accepted by this node's owner, awaiting the other party's Confirm: an accept is not
        // taken back.
        if thread.view.proposer != self.me() && thread.view.state == ThreadState::Confirming {
            return Err(Conflict::AwaitingConfirmation(thread.view.thread).into());
        }
        if thread.view.proposer != self.me() {
            return Err(Conflict::TheirTerms.into());
        }
        // Awaiting this node's Confirm (it did not confirm: the terms had expired or the quantity
        // was gone), the terms can still be taken back: a Withdraw beats an unconfirmed Accept.
        let body =
            Body::Withdraw(Withdraw { reply: self.reply_to(&thread, thread.view.terms_message()), message });
        self.negotiate(body, Timestamp::now())
    }

    /// The view of what an action stored: the message and its thread, for negotiation actions.
    pub fn effect_sent(&self, effect: &Effect) -> Result<SentView, ServiceError> {
        let id = effect.object.id();
        let thread = self.thread_view(&id.to_hex())?;
        Ok(SentView { view_type: ThreadTag::Thread, id, kind: effect.object.kind(), thread })
    }

    fn open(&self, thread: &ThreadRecord) -> Result<(), ServiceError> {
        let me = self.me();
        party_to(thread, &me)?;
        if thread.view.state.is_final() {
            // Only an offerer starts anew, and not with a bid or a pledge.
            // A new offer only on a listing still on offer (a trial's hint named an offer the
            // sold-out listing then refused).
            let again = (thread.offer.kind() == haggle_protocol::ObjectKind::Offer
                && thread.view.offerer == me
                && thread.listing.is_some()
                && self.still_on_offer(thread).is_ok())
            .then(|| self.start_anew_current(thread).1);
            let deal = thread.view.deal_id();
            let called_off = match deal {
                Some(deal) => self.store.is_cancelled(&deal)?,
                None => false,
            };
            // The message that ended it, when this node signed it: its note says why.
            let head = thread.view.head();
            let ended_here =
                thread.messages.iter().find(|m| m.id() == head && m.author() == me).and_then(|m| {
                    match m.body() {
                        Body::Decline(d) => Some(d.message.clone()),
                        Body::Withdraw(w) => Some(w.message.clone()),
                        _ => None,
                    }
                });
            return Err(Conflict::ThreadEnded {
                thread: thread.view.thread,
                state: thread.view.state,
                again,
                booking: thread.view.terms.dates.is_some(),
                deal,
                called_off,
                ended_here,
            }
            .into());
        }
        if let Some(why) = self.store.offer_refused(&thread.offer)? {
            let why = if why.is_empty() { "it did not say why".to_owned() } else { why };
            return Err(Conflict::OfferRefused { thread: thread.view.thread, why }.into());
        }
        Ok(())
    }

    /// The terms message of an open thread whose terms the other party proposed.
    fn their_terms(&self, thread: &ThreadRecord, action: &'static str) -> Result<ObjectId, ServiceError> {
        self.open(thread)?;
        if thread.view.proposer == self.me() {
            if let Some(why) = super::views::nights_unavailable(&self.store, thread, &self.me())? {
                return Err(Conflict::OwnNightsGone { thread: thread.view.thread, why }.into());
            }
            let instead = match thread.offer.kind() {
                haggle_protocol::ObjectKind::Bid => {
                    "a bid stands as made until the auction ends; to bid higher, haggle bid again".to_owned()
                }
                haggle_protocol::ObjectKind::Pledge => {
                    "to change your pledge, haggle pledge again; to take it back, haggle pledge --withdraw"
                        .to_owned()
                }
                // Withdrawing ends the thread: the offerer can make a new offer, the listing's
                // author cannot (offers are made to it), so the author is not told to.
                _ if thread.view.offerer == self.me() => {
                    let (what, command) = self.start_anew_current(thread);
                    format!(
                        "to change them, withdraw them (haggle withdraw {}), which ends this thread, then {what} ({command})",
                        thread.view.thread.fmt_short(),
                    )
                }
                _ => "they stand until the other party answers or they lapse; withdrawing them ends this thread, and only the other party can start a new one".to_owned(),
            };
            return Err(Conflict::OwnTerms { action, instead }.into());
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
}

/// The listing revision `thread` was offered on, shortened as a command names it.
fn listing_short(thread: &ThreadRecord) -> String {
    thread.listing.as_ref().map_or_else(|| "LISTING".to_owned(), |l| l.id().fmt_short())
}

/// The kind of the listing `thread` was offered on, if this node holds that revision.
fn listing_kind(thread: &ThreadRecord) -> Option<ListingKind> {
    thread.listing.as_ref().and_then(Object::listing).map(|l| l.kind)
}

/// How the offerer of `thread` starts anew once it has ended: what it does, and the command. A
/// booking is asked for again with its nights, a giveaway without a price, anything else is
/// offered on with one.
pub(super) fn start_anew(thread: &ThreadRecord) -> (&'static str, String) {
    start_anew_on(thread, listing_short(thread))
}

impl Service {
    /// [`start_anew`] on the listing's current revision, as lists name it (a retrial's hint
    /// named the revision the offer was made on).
    fn start_anew_current(&self, thread: &ThreadRecord) -> (&'static str, String) {
        let key = thread.listing.as_ref().and_then(Object::listing_key);
        let current = key.and_then(|k| self.store.listing(&k).ok().flatten());
        match current {
            Some(current) => start_anew_on(thread, current.id().fmt_short()),
            None => start_anew(thread),
        }
    }
}

/// [`start_anew`] on the listing revision named `listing` (its current one, as lists show it).
pub(super) fn start_anew_on(thread: &ThreadRecord, listing: String) -> (&'static str, String) {
    // A listing with no price (a wanted ad open to offers) names no currency: the offer must.
    let priced = thread.listing.as_ref().and_then(Object::listing).is_none_or(|l| l.price.is_some());
    match (thread.view.terms.dates.is_some(), listing_kind(thread)) {
        (true, _) => ("ask again", format!("haggle book {listing} --from ... --to ...")),
        (false, Some(ListingKind::Giveaway)) => ("ask again", format!("haggle offer {listing}")),
        (false, _) if !priced => (
            "make a new offer",
            format!("haggle offer {listing} --price ... --currency {}", thread.view.terms.price.currency),
        ),
        (false, _) => ("make a new offer", format!("haggle offer {listing} --price ...")),
    }
}

/// Whether an amount as written is zero (`0`, `0.00`), whatever the currency.
fn is_zero(amount: &str) -> bool {
    let amount = amount.trim();
    amount.bytes().any(|b| b == b'0') && amount.bytes().all(|b| b == b'0' || b == b'.')
}

/// A booking is for the whole place or thing (a service's: the whole job): one, whatever the
/// nights or days.
fn whole_booking(draft: &TermsDraft, kind: Option<ListingKind>) -> Result<(), ServiceError> {
    if draft.quantity.is_some_and(|q| q != 1) {
        // From a trial: a service's booking was told of "the whole place or thing".
        let what =
            if kind == Some(ListingKind::Service) { "the whole job" } else { "the whole place or thing" };
        return Err(InvalidInput::Dates(format!("a booking is for {what}: leave out --qty")).into());
    }
    Ok(())
}

/// [`whole_booking`]; and without a price, a booking offers what the nights cost at the
/// listing's price.
fn booking_draft(draft: &mut TermsDraft, listing: &Listing, dates: &DateRange) -> Result<(), ServiceError> {
    whole_booking(draft, Some(listing.kind))?;
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
    listing_currency: Option<&Currency>,
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
    // A code no currency has (`EUT` for `EUR`) is a slip, unless the listing asks in it (a
    // currency of its owner's own) or the terms so far are in it: refused before anything is
    // signed, as `publish` does.
    if let Some(given) = &draft.currency
        && !given.is_known()
        && Some(given) != listing_currency
        && Some(given) != default_currency.as_ref()
    {
        return Err(InvalidInput::UnknownOfferCurrency {
            code: given.to_string(),
            near: given.near_known(),
            asked: listing_currency.map(ToString::to_string),
        }
        .into());
    }
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
/// An accept refused for its nights, with the ways on in the thread (other dates, or a decline).
fn booking_ways(e: ServiceError, thread: &ThreadRecord) -> ServiceError {
    match e {
        ServiceError::Conflict(Conflict::Booking(why, service)) => {
            Conflict::BookingAccept { why, thread: thread.view.thread, service }.into()
        }
        e => e,
    }
}

/// Refuses a thread `me` is not a party of: another's bid or pledge, held as public, is its two
/// parties' to see and answer.
pub(super) fn party_to(thread: &ThreadRecord, me: &haggle_protocol::PublicKey) -> Result<(), ServiceError> {
    if thread.view.offerer != *me && thread.view.listing_author != *me {
        return Err(ServiceError::NotYours { what: "thread", id: thread.view.thread });
    }
    Ok(())
}
