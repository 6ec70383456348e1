//! Bookings from the owner's side: calendars from drafts, booking requests (offers with dates),
//! instant booking, and the calendar as the API shows it. The store refuses the owner's Accept,
//! Counter or Confirm of nights already booked or promised, so two overlapping requests never
//! both become deals, however they race; after each booking the owner's node publishes the
//! listing's next revision with the nights marked booked.

use haggle_protocol::calendar::asking;
use haggle_protocol::{Calendar, DateRange, Object, ObjectId, ThreadState};

use super::{Followups, InvalidInput, Service, ServiceError};
use crate::api::types::{CalendarDraft, CalendarView};

impl Service {
    /// Accepts a booking request on one of the owner's instant-booking calendars if it fits the
    /// calendar as it stands and offers at least the asking price (run when an offer arrives).
    /// Returns whether it accepted; nights taken meanwhile (a request that raced another) leave
    /// the request to the owner.
    pub(super) fn accept_if_instant(
        &self,
        thread: ObjectId,
        then: &mut Followups,
    ) -> Result<bool, ServiceError> {
        let Some((record, current)) = self.open_offer_to_me(thread)? else { return Ok(false) };
        let Some(listing) = current.listing() else { return Ok(false) };
        if !books_instantly(listing, &record.view.terms) {
            return Ok(false);
        }
        Ok(self.accept_by_itself(thread, then, "not booking instantly"))
    }

    /// Books, oldest first, the open requests on listing `key` that its instant calendar now
    /// takes by itself (nights a cancelled deal gave back): each is accepted as if it had just
    /// come. One that overlaps a request accepted before it is refused by the store and left to
    /// the owner, as for requests that race.
    pub(super) fn book_waiting_requests(
        &self,
        key: &haggle_protocol::ListingKey,
        then: &mut Followups,
    ) -> Result<(), ServiceError> {
        let mut waiting: Vec<_> = self
            .store
            .threads_on(key)?
            .into_iter()
            // Never a request from a key the owner blocked: the node accepts nothing of theirs
            // by itself (see `blocks`).
            .filter(|t| t.view.state == ThreadState::Open && t.view.terms.dates.is_some())
            .filter(|t| !self.store.is_blocked(&t.view.offerer))
            .map(|t| (t.offer.created_at(), t.view.thread))
            .collect();
        waiting.sort();
        for (_, thread) in waiting {
            self.accept_if_instant(thread, then)?;
        }
        Ok(())
    }

    /// The thread `thread` and its listing's current revision, if it is an open offer from
    /// someone else on one of the owner's listings: what the owner's node may accept by itself.
    pub(super) fn open_offer_to_me(
        &self,
        thread: ObjectId,
    ) -> Result<Option<(haggle_storage::ThreadRecord, Object)>, ServiceError> {
        let Some(record) = self.store.thread(&thread)? else { return Ok(None) };
        let me = self.me();
        let view = &record.view;
        if view.listing_author != me || view.state != ThreadState::Open || view.proposer == me {
            return Ok(None);
        }
        let Some(key) = record.listing.as_ref().and_then(Object::listing_key) else { return Ok(None) };
        let Some(current) = self.store.listing(&key)? else { return Ok(None) };
        Ok(Some((record, current)))
    }

    /// Accepts the offer opening `thread` on the owner's behalf (instant booking, a digital
    /// good bought at its price); says whether it did. A refusal (the listing changed
    /// meanwhile) leaves the offer to the owner.
    pub(super) fn accept_by_itself(&self, thread: ObjectId, then: &mut Followups, refused: &str) -> bool {
        match self.accept(&thread.to_hex()) {
            Ok(effect) => {
                then.merge(effect.then);
                true
            }
            Err(e) => {
                tracing::info!(thread = %thread.fmt_short(), error = %e, "{refused}");
                false
            }
        }
    }
}

/// Why the listing's `calendar` does not take `dates` for `thread` (on a listing by `owner`), if
/// it does not. Nights the owner offered in the thread (a special stay) are the owner's choice:
/// they need not be open, only still free. Others must fit the calendar.
pub(super) fn refusal(
    calendar: &Calendar,
    thread: &haggle_storage::ThreadRecord,
    owner: &haggle_protocol::PublicKey,
    dates: &DateRange,
) -> Option<haggle_protocol::BookingError> {
    let offered_by_owner = thread
        .messages
        .iter()
        .any(|m| m.author() == *owner && m.body().terms().and_then(|t| t.dates) == Some(*dates));
    if !offered_by_owner {
        return calendar.fits(dates).err();
    }
    let taken = calendar.booked.iter().find(|b| b.overlaps(dates))?;
    Some(haggle_protocol::BookingError::Taken { asked: *dates, taken: *taken, free: None })
}

/// Refuses nights that have begun: a booking, a calendar's open range or a search for free
/// nights starts today or later.
pub(super) fn not_past(dates: &DateRange, now: haggle_protocol::Timestamp) -> Result<(), ServiceError> {
    let today = haggle_protocol::calendar::day_of(now);
    if dates.from < today {
        return Err(InvalidInput::Dates(format!(
            "{dates} begins before today ({}, in UTC): nights in the past cannot be booked",
            haggle_protocol::calendar::Date(today)
        ))
        .into());
    }
    Ok(())
}

/// Nights as people write them, `2026-12-20..2026-12-27`.
pub(super) fn dates(text: &str) -> Result<DateRange, ServiceError> {
    text.parse::<DateRange>().map_err(|e| InvalidInput::Dates(e.to_string()).into())
}

/// A calendar from a draft, over `old` (the listing's calendar, for an update): what the draft
/// leaves out stays as it was, and what is booked stays booked. Open ranges are sorted and
/// those that meet are joined.
pub(super) fn calendar(draft: &CalendarDraft, old: Option<&Calendar>) -> Result<Calendar, ServiceError> {
    let calendar = open_calendar(draft, old)?;
    if calendar.max_stay != 0 && calendar.max_stay < calendar.min_stay {
        return Err(InvalidInput::Dates(format!(
            "the longest stay ({}) would be shorter than the shortest ({}): give --max-stay {} or more, or a lower --min-stay",
            haggle_protocol::calendar::plural_nights(calendar.max_stay), calendar.min_stay, calendar.min_stay
        ))
        .into());
    }
    // A calendar no stay fits would take no booking at all (checked when the open dates or the
    // shortest stay change: an update of other settings keeps what was accepted before).
    let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
    let ahead = |o: &DateRange| DateRange { from: o.from.max(today), to: o.to }.nights();
    let longest = calendar.open.iter().filter(|o| o.to > today).map(ahead).max().unwrap_or(0);
    let changed = !draft.open.is_empty() || draft.min_stay.is_some();
    if changed && longest < calendar.min_stay {
        return Err(InvalidInput::Dates(format!(
            "the minimum stay is {}, but the longest open range has {} from today on (nights before today cannot be booked): open more dates or lower --min-stay",
            haggle_protocol::calendar::plural_nights(calendar.min_stay),
            haggle_protocol::calendar::plural_nights(longest)
        ))
        .into());
    }
    Ok(calendar)
}

fn open_calendar(draft: &CalendarDraft, old: Option<&Calendar>) -> Result<Calendar, ServiceError> {
    let booked = old.map(|c| c.booked.clone()).unwrap_or_default();
    if draft.open.is_empty() {
        return match old {
            Some(old) => Ok(Calendar {
                min_stay: draft.min_stay.unwrap_or(old.min_stay),
                max_stay: draft.max_stay.unwrap_or(old.max_stay),
                instant: draft.instant.unwrap_or(old.instant),
                booked,
                open: old.open.clone(),
            }),
            None => {
                // The example opens the next 120 nights.
                let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
                let example = DateRange { from: today, to: today + 120 };
                Err(InvalidInput::Dates(format!(
                    "a calendar needs the dates it is open: add --available FROM..TO, e.g. --available {example}"
                ))
                .into())
            }
        };
    }
    let mut ranges = draft.open.iter().map(|t| dates(t)).collect::<Result<Vec<_>, _>>()?;
    // Open from today on: nights already begun cannot be booked.
    let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
    for r in &mut ranges {
        if r.to <= today {
            return Err(InvalidInput::Dates(format!("{r} is over: open dates start today or later")).into());
        }
        r.from = r.from.max(today);
    }
    // The protocol's limit, said with the day it falls on (the listing's revision is made today).
    let last = today.saturating_add(haggle_protocol::calendar::MAX_DAYS_AHEAD);
    if let Some(r) = ranges.iter().find(|r| r.to > last) {
        return Err(InvalidInput::Dates(format!(
            "{r} reaches too far: a calendar is open at most two years ahead, to check-out {} at the latest",
            haggle_protocol::calendar::Date(last)
        ))
        .into());
    }
    ranges.sort();
    let mut open: Vec<DateRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match open.last_mut() {
            Some(last) if r.from <= last.to => last.to = last.to.max(r.to),
            _ => open.push(r),
        }
    }
    Ok(Calendar {
        open,
        booked,
        min_stay: draft.min_stay.or(old.map(|c| c.min_stay)).unwrap_or(1),
        max_stay: draft.max_stay.or(old.map(|c| c.max_stay)).unwrap_or(0),
        instant: draft.instant.or(old.map(|c| c.instant)).unwrap_or(false),
    })
}

/// The calendar as the API shows it.
pub(super) fn view(c: &Calendar) -> CalendarView {
    CalendarView {
        open: c.open.iter().map(ToString::to_string).collect(),
        booked: c.booked.iter().map(ToString::to_string).collect(),
        min_stay: c.min_stay,
        max_stay: c.max_stay,
        instant: c.instant,
    }
}

/// Whether `listing` takes bookings and is free for `range` as its calendar stands.
pub(super) fn free_for(listing: &Object, range: &DateRange) -> bool {
    listing.listing().and_then(|l| l.calendar()).is_some_and(|c| c.fits(range).is_ok())
}

/// Whether an instant-booking calendar takes `terms` by itself: nights that fit it as it
/// stands, not begun, at least at the asking price. The owner's node judges it when the request
/// arrives; the guest's node asks it too, to wait for that answer.
pub(super) fn books_instantly(listing: &haggle_protocol::Listing, terms: &haggle_protocol::Terms) -> bool {
    let (Some(calendar), Some(price), Some(dates)) = (listing.calendar(), &listing.price, terms.dates) else {
        return false;
    };
    let offered = &terms.price;
    let enough =
        offered.currency == price.currency && asking(price, &dates).is_some_and(|a| offered.amount >= a);
    let begun = not_past(&dates, haggle_protocol::Timestamp::now()).is_err();
    calendar.instant && enough && !begun && calendar.fits(&dates).is_ok()
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::days_ahead;
    use haggle_protocol::{ListingKind, Period};

    use super::*;
    use crate::api::types::{ListingDraft, SearchParams, TermsDraft};
    use crate::service::testing::{draft, service};
    use crate::service::{Conflict, Via};

    fn cabin(instant: bool) -> ListingDraft {
        ListingDraft {
            kind: ListingKind::Rental,
            per: Some(Period::Day),
            calendar: Some(CalendarDraft {
                open: vec![days_ahead(1, 60).to_string()],
                min_stay: Some(2),
                max_stay: Some(14),
                instant: Some(instant),
            }),
            ..draft("Cabin by the lake", "20")
        }
    }

    /// From a trial: a cabin published `--per night` read back `/day`. A rental on a calendar
    /// books nights, and its price says so; one without a calendar is rented by the day.
    #[test]
    fn a_rental_on_a_calendar_is_priced_by_the_night() {
        let (owner, _od) = service(1);
        let cabin = owner.publish(cabin(false)).expect("published");
        let view = owner.listing_view(&cabin.object.id().to_hex()).expect("a view");
        let price = view.price.expect("a price");
        assert_eq!((price.display.as_str(), price.per), ("20.00 EUR/night", Some(Period::Day)));
        let trailer =
            ListingDraft { kind: ListingKind::Rental, per: Some(Period::Day), ..draft("Trailer", "15") };
        let trailer = owner.publish(trailer).expect("published");
        let view = owner.listing_view(&trailer.object.id().to_hex()).expect("a view");
        assert_eq!(view.price.expect("a price").display, "15.00 EUR/day");
        // From a trial: the same cabin again (`publish --from` it with other nights) was told
        // to `update --qty`, which a calendar refuses; it is told to change the calendar.
        let again = ListingDraft {
            calendar: Some(CalendarDraft {
                open: vec![days_ahead(70, 80).to_string()],
                ..CalendarDraft::default()
            }),
            ..self::cabin(false)
        };
        let said = owner.publish(again).expect_err("the same cabin").to_string();
        let short = cabin.object.id().fmt_short();
        assert!(
            said.contains(&format!("haggle update {short} --available FROM..TO (or --no-instant)"))
                && !said.contains("--qty"),
            "{said}"
        );
    }

    /// Found in a trial: a pledge to a rental that takes bookings suggested `haggle offer`, which
    /// the rental refuses, and named the listing by its current revision, not the id typed. A
    /// bid or pledge on the wrong kind names the command that fits, by the id given.
    #[test]
    fn a_bid_or_pledge_on_another_kind_names_the_command_that_fits() {
        use crate::api::types::{BidRequest, PledgeRequest};
        let (owner, _od) = service(1);
        let (guest, _gd) = service(2);
        let listing = owner.publish(cabin(false)).expect("published").object;
        guest.receive(listing.bytes(), Via::Gossip);
        let typed = &listing.id().to_hex()[..8];
        let pledge = PledgeRequest { amount: "10".into(), ..PledgeRequest::default() };
        let e = guest.pledge(typed, pledge).expect_err("not a campaign").to_string();
        let short = listing.id().fmt_short();
        assert_eq!(
            e,
            format!(
                "listing {short} is not a crowdfunding campaign: it takes bookings (haggle book {short} --from DATE --to DATE)"
            )
        );
        let bid = BidRequest { price: "30".into(), ..BidRequest::default() };
        let e = guest.bid(typed, bid).expect_err("not an auction").to_string();
        assert!(
            e.ends_with(&format!("it takes bookings (haggle book {short} --from DATE --to DATE)")),
            "{e}"
        );
        let lamp = owner.publish(draft("Lamp", "15")).expect("published").object;
        guest.receive(lamp.bytes(), Via::Gossip);
        let pledge = PledgeRequest { amount: "10".into(), ..PledgeRequest::default() };
        let e = guest.pledge(&lamp.id().to_hex(), pledge).expect_err("not a campaign").to_string();
        let lamp_id = lamp.id().fmt_short();
        assert!(e.ends_with(&format!("make an offer instead (haggle offer {lamp_id} --price ...)")), "{e}");
    }

    fn request(dates: DateRange, price: Option<&str>) -> TermsDraft {
        TermsDraft { dates: Some(dates.to_string()), price: price.map(Into::into), ..TermsDraft::default() }
    }

    /// From a trial: the owner countered one guest with nights a second guest then asked for;
    /// the second request read "your move: accept, counter or decline", and its accept was
    /// refused. The owner's view names the promise that holds the nights, until it ends.
    #[test]
    fn nights_the_owner_promised_elsewhere_are_named_on_the_request_that_asks_them() {
        let (owner, _od) = service(1);
        let (first, _fd) = service(2);
        let (second, _sd) = service(3);
        let listing = owner.publish(cabin(false)).expect("published").object;
        let id = listing.id().to_hex();
        for guest in [&first, &second] {
            guest.receive(listing.bytes(), Via::Gossip);
        }
        let asked = first.offer(&id, request(days_ahead(10, 14), None)).expect("asked");
        owner.receive(asked.object.bytes(), Via::Direct);
        let thread = asked.object.id().to_hex();
        let countered = owner.counter(&thread, request(days_ahead(20, 24), Some("70"))).expect("countered");
        first.receive(countered.object.bytes(), Via::Direct);
        let other = second.offer(&id, request(days_ahead(22, 25), None)).expect("asked");
        owner.receive(other.object.bytes(), Via::Direct);
        let other = other.object.id().to_hex();
        let promised = |s: &Service| s.thread_view(&other).expect("the thread").nights_promised;
        let said = promised(&owner).expect("named on the owner's node");
        assert_eq!(
            said,
            format!(
                "{} overlaps {}, which your counter-offer in thread {} holds (haggle withdraw {} frees them)",
                days_ahead(22, 25),
                days_ahead(20, 24),
                &thread[..10],
                &thread[..10]
            )
        );
        assert_eq!(promised(&second), None, "the guest's node knows nothing of it");
        assert!(owner.accept(&other).is_err(), "refused while the promise holds");
        owner.withdraw(&thread, String::new()).expect("withdrawn");
        assert_eq!(promised(&owner), None, "free again");
        owner.accept(&other).expect("accepted once free");
    }

    /// The message of `kind` in `thread` on `svc`, as bytes for the other party.
    fn message(svc: &Service, thread: ObjectId, kind: haggle_protocol::ObjectKind) -> Vec<u8> {
        let record = svc.store.thread(&thread).expect("read").expect("thread");
        record.messages.iter().find(|m| m.kind() == kind).expect("the message").bytes().to_vec()
    }

    /// `guest` books `week` on `owner`'s instant listing `id` and the deal is made: the thread,
    /// and the owner's revision with the week booked.
    fn booked_at_once(owner: &Service, guest: &Service, id: &str, week: DateRange) -> (ObjectId, Vec<u8>) {
        let asked = guest.offer(id, request(week, None)).expect("sent");
        let thread = asked.object.id();
        owner.receive(asked.object.bytes(), Via::Direct);
        guest.receive(&message(owner, thread, haggle_protocol::ObjectKind::Accept), Via::Direct);
        let deal = owner.receive(&message(guest, thread, haggle_protocol::ObjectKind::Confirm), Via::Direct);
        (thread, deal.then.publish.first().expect("the booked revision").clone())
    }

    /// Both parties cancel the deal of `thread`, the owner first: what the guest's cancel makes
    /// the owner's node do.
    fn called_off(owner: &Service, guest: &Service, thread: ObjectId) -> crate::service::Inbound {
        use haggle_protocol::Step;
        let deal_id = message(owner, thread, haggle_protocol::ObjectKind::Accept);
        let deal_id = haggle_protocol::Object::decode_unverified(&deal_id).expect("accept").id().to_hex();
        let first = owner.deal_step(&deal_id, Step::Cancel).expect("the owner asks");
        assert!(first.then.publish.is_empty(), "one cancel is a request");
        guest.receive(first.object.bytes(), Via::Direct);
        let second = guest.deal_step(&deal_id, Step::Cancel).expect("the guest agrees");
        assert!(second.then.publish.is_empty(), "the guest does not revise the owner's listing");
        owner.receive(second.object.bytes(), Via::Direct)
    }

    /// A request made on an earlier revision that described the place otherwise (the guest's
    /// node had not heard of the change yet) is left to the owner: accepting it by itself would
    /// bind the owner to the old text. One made on the revision as it is now books at once.
    #[test]
    fn an_instant_booking_on_an_earlier_text_is_left_to_the_owner() {
        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let (late, _d2) = service(3);
        let listing = owner.publish(cabin(true)).expect("published");
        for s in [&guest, &late] {
            s.receive(listing.object.bytes(), Via::Gossip);
        }
        let id = listing.object.id().to_hex();
        let patch = crate::api::types::ListingPatch {
            description: Some("The sauna is closed this winter".into()),
            ..Default::default()
        };
        let edit = owner.update(&id, patch).expect("described anew");
        late.receive(edit.object.bytes(), Via::Gossip);
        let unaware = guest.offer(&id, request(days_ahead(10, 17), None)).expect("sent");
        let inbound = owner.receive(unaware.object.bytes(), Via::Direct);
        assert!(inbound.then.deliver.is_empty(), "a request on the old text is left to the owner");
        let aware = late.offer(&id, request(days_ahead(20, 27), None)).expect("sent");
        let inbound = owner.receive(aware.object.bytes(), Via::Direct);
        assert_eq!(inbound.then.deliver, vec![late.me()], "one on the text as it is books at once");
    }

    /// Defect: an offer without nights, made on a rental before its owner gave it a calendar
    /// and accepted after, took the listing's one unit: the listing closed as sold out for good,
    /// calendar and all, and calling the deal off did not reopen it. Such a deal takes neither
    /// nights nor the unit: the listing stays open for bookings. The owner is told first that
    /// the deal would book no nights, and does it only with `as_offered`.
    #[test]
    fn a_deal_without_nights_on_a_listing_given_a_calendar_since_leaves_it_open() {
        use crate::api::types::{ListingPatch, ListingState};
        use haggle_protocol::{ObjectKind, Step};

        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let (second, _d2) = service(3);
        let tent = ListingDraft { kind: ListingKind::Rental, per: Some(Period::Day), ..draft("Tent", "10") };
        let listing = owner.publish(tent).expect("published");
        let id = listing.object.id().to_hex();
        let terms = TermsDraft { price: Some("10".into()), ..TermsDraft::default() };
        let [offer, other] = [&guest, &second].map(|s| {
            s.receive(listing.object.bytes(), Via::Gossip);
            let offer = s.offer(&id, terms.clone()).expect("no calendar yet: no nights needed");
            owner.receive(offer.object.bytes(), Via::Direct);
            offer
        });
        let calendar =
            CalendarDraft { open: vec![days_ahead(1, 60).to_string()], ..CalendarDraft::default() };
        let patch = ListingPatch { calendar: Some(calendar), ..ListingPatch::default() };
        let edit = owner.update(&id, patch).expect("a calendar");
        guest.receive(edit.object.bytes(), Via::Gossip);

        let thread = offer.object.id();
        // Unawares, the owner is stopped: the deal would book no nights.
        let said = owner.accept(&thread.to_hex()).expect_err("no nights named").to_string();
        let current = edit.object.id().fmt_short();
        assert!(said.contains("names no nights") && said.contains("--as-offered"), "{said}");
        assert!(said.ends_with(&format!("(haggle book {current} --from ... --to ...)")), "{said}");
        let countered = TermsDraft { price: Some("12".into()), ..TermsDraft::default() };
        let said = owner.counter(&thread.to_hex(), countered).expect_err("no nights named").to_string();
        assert!(said.contains("Counter it as offered, outside the calendar"), "{said}");
        // Nights cannot be added to it, and the refusal says so rather than "would book none".
        for as_offered in [false, true] {
            let dated = request(days_ahead(5, 7), Some("20"));
            let said = owner
                .counter_with(&thread.to_hex(), dated, crate::api::types::AsOffered { as_offered })
                .expect_err("a thread stays what its offer was")
                .to_string();
            assert!(said.starts_with("this thread is not a booking: its offer named no nights"), "{said}");
            assert!(said.contains("haggle book"), "{said}");
        }
        let as_offered = crate::api::types::AsOffered { as_offered: true };
        let accept = owner.accept_with(&thread.to_hex(), as_offered).expect("accepted as offered");
        guest.receive(accept.object.bytes(), Via::Direct);
        let made = owner.receive(&message(&guest, thread, ObjectKind::Confirm), Via::Direct);
        let deal = owner.thread_view(&thread.to_hex()).expect("view").deal.expect("a deal").to_hex();
        assert!(made.then.publish.is_empty(), "the deal takes nothing, so no revision");
        let open = |s: &Service| {
            let v = s.listing_view(&id).expect("view");
            (v.state, v.quantity, v.calendar.expect("the calendar").booked.len())
        };
        assert_eq!(open(&owner), (ListingState::Active, 1, 0));
        // The unit was not used up: the other offer from before the calendar can be accepted
        // too, and a restart finds no revision owed.
        owner.accept_with(&other.object.id().to_hex(), as_offered).expect("the unit is still there");
        assert!(owner.repair_after_deals().expect("repair").is_empty(), "no revision is owed");

        // Called off, it gives nothing back either; the listing still takes bookings.
        let asked = guest.deal_step(&deal, Step::Cancel).expect("cancel asked");
        owner.receive(asked.object.bytes(), Via::Direct);
        let agreed = owner.deal_step(&deal, Step::Cancel).expect("cancel agreed");
        assert!(agreed.then.publish.is_empty(), "nothing to give back");
        assert_eq!(open(&owner), (ListingState::Active, 1, 0));
        let booking = guest.offer(&id, request(days_ahead(10, 12), None)).expect("a booking");
        owner.receive(booking.object.bytes(), Via::Direct);
        owner.accept(&booking.object.id().to_hex()).expect("the nights are free to accept");
    }

    /// Defect: a guest changing its booking request was told to make a new offer (`haggle
    /// offer`), which a listing that takes bookings refuses; it is told to book again.
    #[test]
    fn a_booking_threads_advice_asks_for_nights_again() {
        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let listing = owner.publish(cabin(false)).expect("published");
        guest.receive(listing.object.bytes(), Via::Gossip);
        let id = listing.object.id().to_hex();
        let short = listing.object.id().fmt_short();
        let asked = guest.offer(&id, request(days_ahead(10, 12), Some("30"))).expect("sent");
        owner.receive(asked.object.bytes(), Via::Direct);
        let thread = asked.object.id().to_hex();
        let own = guest.counter(&thread, TermsDraft { price: Some("35".into()), ..TermsDraft::default() });
        let own = own.expect_err("own terms").to_string();
        assert!(own.contains(&format!("then ask again (haggle book {short} --from ... --to ...")), "{own}");
        guest.withdraw(&thread, String::new()).expect("withdrawn");
        let ended = guest.accept(&thread).expect_err("ended").to_string();
        assert!(
            ended.ends_with(&format!("request the nights anew (haggle book {short} --from ... --to ...)")),
            "{ended}"
        );
        guest.offer(&id, request(days_ahead(10, 12), Some("35"))).expect("asked again, as advised");
    }

    /// Defects: a calendar added to a listing of 3 was refused with the protocol's rule alone,
    /// not what to do; a calendar without open dates was shown an example that began in the
    /// past; a booking asked of a listing for sale was told it "has no calendar", as if it
    /// could have one.
    #[test]
    fn calendar_mistakes_say_what_to_do() {
        use crate::api::types::ListingPatch;

        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let rental = |title: &str, quantity: Option<u32>| ListingDraft {
            kind: ListingKind::Rental,
            per: Some(Period::Day),
            quantity,
            ..draft(title, "15")
        };
        let trailer = owner.publish(rental("Trailer", Some(3))).expect("published").object.id().to_hex();
        let open = CalendarDraft { open: vec![days_ahead(1, 60).to_string()], ..CalendarDraft::default() };
        let calendar = ListingPatch { calendar: Some(open.clone()), ..ListingPatch::default() };
        let err = owner.update(&trailer, calendar).expect_err("three units").to_string();
        assert!(err.ends_with("has a quantity of 3: add --qty 1 to this update"), "{err}");
        let one = ListingPatch { calendar: Some(open.clone()), quantity: Some(1), ..ListingPatch::default() };
        owner.update(&trailer, one).expect("one unit, taking bookings");
        // A listing for sale takes no calendar at any quantity: it is not told to change that.
        let chairs = ListingDraft { quantity: Some(3), ..draft("Chairs", "15") };
        let chairs = owner.publish(chairs).expect("published").object.id().to_hex();
        let calendar = ListingPatch { calendar: Some(open), ..ListingPatch::default() };
        let err = owner.update(&chairs, calendar).expect_err("for sale").to_string();
        assert!(!err.contains("--qty"), "{err}");
        assert!(
            err.contains("only a rental or a service takes bookings, and this is a sell listing"),
            "{err}"
        );
        // Stay limits alone, without open dates, are refused for the kind too, not sent to add
        // the open dates first.
        let limits = CalendarDraft { min_stay: Some(2), ..CalendarDraft::default() };
        let err = owner.update(&chairs, ListingPatch { calendar: Some(limits), ..ListingPatch::default() });
        let err = err.expect_err("for sale").to_string();
        assert!(err.contains("this is a sell listing") && !err.contains("--available"), "{err}");

        let ladder = owner.publish(rental("Ladder", None)).expect("published").object.id().to_hex();
        let instant = CalendarDraft { instant: Some(true), ..CalendarDraft::default() };
        let err = owner
            .update(&ladder, ListingPatch { calendar: Some(instant), ..ListingPatch::default() })
            .expect_err("no open dates")
            .to_string();
        let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
        let example = DateRange { from: today, to: today + 120 };
        assert!(err.ends_with(&format!("e.g. --available {example}")), "{err}");

        let sofa = owner.publish(draft("Sofa", "40")).expect("published").object;
        guest.receive(sofa.bytes(), Via::Gossip);
        let err = guest.offer(&sofa.id().to_hex(), request(days_ahead(3, 5), None)).expect_err("for sale");
        assert!(err.to_string().contains("(sell listings take offers, not bookings)"), "{err}");
    }

    /// Defect: an offer without dates on a calendar was told to book 2026-12-20..2026-12-27,
    /// whatever the calendar opened; the example is now a stay the calendar takes.
    #[test]
    fn an_offer_without_nights_is_shown_a_stay_the_calendar_takes() {
        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let listing = owner.publish(cabin(false)).expect("published");
        guest.receive(listing.object.bytes(), Via::Gossip);
        let id = listing.object.id().to_hex();
        let said = guest.offer(&id, TermsDraft::default()).expect_err("no nights").to_string();
        let first = days_ahead(1, 3);
        let (from, to) =
            first.to_string().split_once("..").map(|(a, b)| (a.to_owned(), b.to_owned())).expect("a range");
        assert!(said.ends_with(&format!("--from {from} --to {to}")), "{said}");
    }

    #[test]
    fn an_instant_calendar_books_a_fitting_request_and_publishes_the_nights_booked() {
        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let (late, _d2) = service(3);
        let listing = owner.publish(cabin(true)).expect("published");
        for s in [&guest, &late] {
            s.receive(listing.object.bytes(), Via::Gossip);
        }
        let id = listing.object.id().to_hex();
        let week = days_ahead(10, 17);
        // Under the asking price (7 nights at 20.00): left to the owner.
        let cheap = guest.offer(&id, request(week, Some("100"))).expect("sent");
        let inbound = owner.receive(cheap.object.bytes(), Via::Direct);
        assert!(inbound.then.deliver.is_empty(), "a cheap request is not accepted by itself");
        // At the asking price (the default): accepted at once.
        let asked = late.offer(&id, request(week, None)).expect("sent");
        assert_eq!(asked.object.body().terms().map(|t| t.price.amount), Some(14_000));
        let inbound = owner.receive(asked.object.bytes(), Via::Direct);
        assert_eq!(inbound.then.deliver, vec![late.me()], "the owner's node accepts and delivers");
        let thread = asked.object.id();
        let accepted =
            late.receive(&message(&owner, thread, haggle_protocol::ObjectKind::Accept), Via::Direct);
        assert_eq!(accepted.then.deliver, vec![owner.me()], "the guest's node confirms");
        let deal = owner.receive(&message(&late, thread, haggle_protocol::ObjectKind::Confirm), Via::Direct);
        // The owner's next revision marks the week booked; the guests see it.
        let next = deal.then.publish.first().expect("a revision").clone();
        for s in [&guest, &late] {
            s.receive(&next, Via::Gossip);
        }
        let view = guest.listing_view(&id).expect("view");
        assert_eq!(view.calendar.expect("a calendar").booked, vec![week.to_string()]);
        // The cheap request on the same nights can no longer be accepted, and both sides' views
        // say so; nor can a new request for booked nights be made.
        let cheap_thread = cheap.object.id().to_hex();
        let unavailable = |s: &Service, t: &str| s.thread_view(t).expect("view").nights_unavailable;
        // The owner, who holds the deal, names it (the calendar merges stays that touch); the
        // guest, who does not, reads the calendar's range.
        let why = format!("{week} overlaps {week}, booked meanwhile");
        let named = unavailable(&owner, &cheap_thread).expect("the owner sees it");
        assert!(named.starts_with(&format!("{why}: deal ")), "{named}");
        assert_eq!(unavailable(&guest, &cheap_thread), Some(why), "the guest sees it");
        assert_eq!(unavailable(&late, &thread.to_hex()), None, "not the deal's own");
        // The move is the owner's, who holds the calendar: to offer other nights or decline (a
        // trial read "you" on both sides). The guest may withdraw meanwhile, and a counter of
        // the guest's on those terms points there.
        let awaiting = |s: &Service| s.thread_view(&cheap_thread).expect("view").awaiting;
        assert_eq!(awaiting(&guest), Some(crate::api::types::Party::Them));
        assert_eq!(awaiting(&owner), Some(crate::api::types::Party::Me), "the owner may decline");
        let countered =
            guest.counter(&cheap_thread, request(days_ahead(20, 25), None)).expect_err("own terms");
        let withdraw = format!("haggle withdraw {}", cheap.object.id().fmt_short());
        assert!(countered.to_string().contains(&withdraw), "{countered}");
        match owner.accept(&cheap_thread) {
            Err(e @ ServiceError::Conflict(Conflict::BookingAccept { .. })) => {
                // The ways on in the thread are named (a trial's owner read only the overlap).
                let short = cheap.object.id().fmt_short();
                let text = e.to_string();
                assert!(text.contains("overlaps"), "{text}");
                assert!(text.contains(&format!("haggle counter {short} --from")), "{text}");
                assert!(text.contains(&format!("haggle decline {short}")), "{text}");
            }
            other => panic!("a night promised twice: {other:?}"),
        }
        assert!(guest.offer(&id, request(days_ahead(12, 14), None)).is_err());
        // Nights already begun cannot be booked, nor searched for.
        let yesterday = DateRange { from: days_ahead(0, 2).from - 1, to: days_ahead(0, 2).to };
        let past = guest.offer(&id, request(yesterday, None)).expect_err("the past");
        assert!(past.to_string().contains("before today"), "{past}");
        // Search: free for other nights, not for the booked ones.
        let search = |dates: DateRange| {
            guest
                .search(SearchParams { free: Some(dates.to_string()), ..SearchParams::default() })
                .expect("search")
                .total
        };
        assert_eq!(search(days_ahead(20, 25)), 1);
        assert_eq!(search(days_ahead(14, 20)), 0);
        assert_eq!(search(days_ahead(20, 21)), 0, "shorter than the shortest stay");
        // An update of the stays alone keeps the open dates, instant booking and what is booked.
        let patch = crate::api::types::ListingPatch {
            calendar: Some(CalendarDraft { min_stay: Some(3), ..CalendarDraft::default() }),
            ..Default::default()
        };
        let updated = owner.update(&id, patch).expect("updated");
        let c = updated.object.listing().and_then(|l| l.calendar()).expect("a calendar").clone();
        assert_eq!((c.min_stay, c.max_stay, c.instant, c.booked), (3, 14, true, vec![week]));
        // A shortest stay over the longest names both and the way out.
        let patch = crate::api::types::ListingPatch {
            calendar: Some(CalendarDraft { min_stay: Some(20), ..CalendarDraft::default() }),
            ..Default::default()
        };
        let crossed = owner.update(&id, patch).expect_err("longest under shortest");
        let text = crossed.to_string();
        assert!(
            text.contains("the longest stay (14 nights) would be shorter than the shortest (20)"),
            "{text}"
        );
        assert!(text.contains("--max-stay 20 or more"), "{text}");
        assert_eq!(c.open, vec![days_ahead(1, 60)]);
    }

    /// Defect: a booking request could stay open after its stay had begun (`--expires 60d` on
    /// nights three days away), for the owner to accept nights gone by.
    #[test]
    fn a_booking_request_lapses_by_the_end_of_its_check_in_day() {
        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let listing = owner.publish(cabin(false)).expect("published");
        guest.receive(listing.object.bytes(), Via::Gossip);
        let id = listing.object.id().to_hex();
        let soon = days_ahead(3, 5);
        let check_in_ends = (u64::from(soon.from) + 1) * 86_400_000;
        let long = TermsDraft { expires_in: Some(60 * 86_400), ..request(soon, None) };
        let err = guest.offer(&id, long).expect_err("outlives its stay").to_string();
        assert!(
            err.contains(&format!(
                "after its check-in day ({}) ends",
                haggle_protocol::calendar::Date(soon.from)
            )),
            "{err}"
        );
        assert!(err.contains("give --expires 3d or less"), "{err}");
        // The default lifetime (3 days) is cut to the check-in day's end; a shorter one stands.
        let tomorrow = days_ahead(1, 3);
        let sent = guest.offer(&id, request(tomorrow, None)).expect("sent");
        let expires =
            |e: &crate::service::Effect| e.object.body().terms().expect("terms").expires_at.as_millis();
        assert_eq!(expires(&sent), (u64::from(tomorrow.from) + 1) * 86_400_000);
        let short = TermsDraft { expires_in: Some(3_600), ..request(soon, None) };
        let sent = guest.offer(&id, short).expect("sent");
        assert!(expires(&sent) < check_in_ends);
    }

    /// Defect: the owner could accept a request for nights its calendar no longer opens (the
    /// owner changed the open dates after the request came), booking them anyway.
    #[test]
    fn a_request_the_calendar_no_longer_opens_is_not_accepted() {
        use crate::api::types::ListingPatch;
        use haggle_protocol::BookingError;

        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        // Nor is a calendar no stay fits published: 59 open nights, a minimum stay of 70 (and no
        // longest stay).
        let open = cabin(false).calendar.expect("a calendar");
        let long = ListingDraft {
            calendar: Some(CalendarDraft { min_stay: Some(70), max_stay: Some(0), ..open }),
            ..cabin(false)
        };
        let refused = owner.publish(long).expect_err("no stay fits");
        assert!(refused.to_string().contains("minimum stay is 70 nights"), "{refused}");
        let listing = owner.publish(cabin(false)).expect("published");
        guest.receive(listing.object.bytes(), Via::Gossip);
        let id = listing.object.id().to_hex();
        let asked = guest.offer(&id, request(days_ahead(10, 17), None)).expect("sent");
        owner.receive(asked.object.bytes(), Via::Direct);
        let later = CalendarDraft { open: vec![days_ahead(30, 60).to_string()], ..CalendarDraft::default() };
        owner
            .update(&id, ListingPatch { calendar: Some(later), ..ListingPatch::default() })
            .expect("updated");
        let thread = asked.object.id().to_hex();
        let why = owner.thread_view(&thread).expect("view").nights_unavailable;
        assert!(why.as_deref().is_some_and(|w| w.contains("is not open for booking")), "{why:?}");
        let refused = owner.accept(&thread).expect_err("no longer open");
        assert!(
            matches!(
                refused,
                ServiceError::Conflict(Conflict::BookingAccept { why: BookingError::NotOpen { .. }, .. })
            ),
            "{refused}"
        );
        // Dates the owner offers itself are the owner's choice: a special stay outside the open
        // dates, countered back on price, is accepted.
        let special = request(days_ahead(10, 12), Some("50"));
        let countered = owner.counter(&thread, special).expect("the owner's special");
        guest.receive(countered.object.bytes(), Via::Direct);
        let back = guest.counter(&thread, TermsDraft { price: Some("45".into()), ..TermsDraft::default() });
        owner.receive(back.expect("countered back").object.bytes(), Via::Direct);
        owner.accept(&thread).expect("the owner's own dates");
    }

    /// Defect: a guest's counter skipped the checks a booking request makes: nights in the past,
    /// not open, already booked or too many were signed and sent, leaving the owner terms
    /// nobody could accept; `--qty` was ignored, and new nights without a price were refused.
    #[test]
    fn a_guests_counter_asks_only_for_nights_the_calendar_offers() {
        use haggle_protocol::BookingError;

        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let (other, _d2) = service(3);
        let listing = owner.publish(cabin(false)).expect("published");
        for s in [&guest, &other] {
            s.receive(listing.object.bytes(), Via::Gossip);
        }
        let id = listing.object.id().to_hex();
        // Another guest's week, booked.
        let week = days_ahead(20, 27);
        let booked = other.offer(&id, request(week, None)).expect("sent");
        owner.receive(booked.object.bytes(), Via::Direct);
        let accept = owner.accept(&booked.object.id().to_hex()).expect("accepted");
        other.receive(accept.object.bytes(), Via::Direct);
        let confirm = message(&other, booked.object.id(), haggle_protocol::ObjectKind::Confirm);
        let deal = owner.receive(&confirm, Via::Direct);
        guest.receive(deal.then.publish.first().expect("the booked revision"), Via::Gossip);

        let asked = guest.offer(&id, request(days_ahead(10, 13), Some("50"))).expect("sent");
        owner.receive(asked.object.bytes(), Via::Direct);
        let countered = owner.counter(
            &asked.object.id().to_hex(),
            TermsDraft { price: Some("55".into()), ..TermsDraft::default() },
        );
        guest.receive(countered.expect("the owner's price").object.bytes(), Via::Direct);
        let thread = asked.object.id().to_hex();
        let before = guest.store.thread(&asked.object.id()).expect("read").expect("thread").messages.len();
        let counter = |dates: DateRange, qty: Option<u32>| {
            guest.counter(&thread, TermsDraft { quantity: qty, ..request(dates, Some("50")) })
        };
        let yesterday = DateRange { from: days_ahead(0, 2).from - 1, to: days_ahead(0, 2).to };
        let past = counter(yesterday, None).expect_err("the past");
        assert!(past.to_string().contains("before today"), "{past}");
        let closed = counter(days_ahead(61, 64), None).expect_err("not open");
        assert!(
            matches!(closed, ServiceError::Conflict(Conflict::Booking(BookingError::NotOpen { .. }, _))),
            "{closed}"
        );
        let taken = counter(days_ahead(25, 28), None).expect_err("booked");
        assert!(taken.to_string().contains("overlaps"), "{taken}");
        let long = counter(days_ahead(30, 50), None).expect_err("too long");
        assert!(long.to_string().contains("longest stay is 14"), "{long}");
        let two = counter(days_ahead(10, 13), Some(2)).expect_err("a booking is one");
        assert!(two.to_string().contains("leave out --qty"), "{two}");
        let after = guest.store.thread(&asked.object.id()).expect("read").expect("thread").messages.len();
        assert_eq!(after, before, "nothing was signed");
        // Other open nights without a price ask what they cost (3 nights at 20.00).
        let other_nights = guest.counter(&thread, request(days_ahead(30, 33), None)).expect("countered");
        assert_eq!(other_nights.object.body().terms().map(|t| t.price.amount), Some(6_000));
        // Without dates, a counter still needs its price, and says so as a counter.
        owner.receive(other_nights.object.bytes(), Via::Direct);
        let bare = owner.counter(&thread, TermsDraft::default()).expect_err("no price");
        assert!(bare.to_string().starts_with("a counter needs a price"), "{bare}");
    }

    /// Defect: a booking both parties called off kept its nights booked for good. Now the
    /// guest's `cancel`, arriving after the owner's, ends the deal on the owner's node, which
    /// publishes the calendar with the nights free again; the same nights can be booked anew.
    #[test]
    fn a_booking_called_off_frees_its_nights() {
        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let listing = owner.publish(cabin(true)).expect("published");
        guest.receive(listing.object.bytes(), Via::Gossip);
        let id = listing.object.id().to_hex();
        let week = days_ahead(10, 17);
        let (thread, booked) = booked_at_once(&owner, &guest, &id, week);
        guest.receive(&booked, Via::Gossip);
        assert_eq!(
            guest.listing_view(&id).expect("view").calendar.expect("calendar").booked,
            vec![week.to_string()]
        );

        let got = called_off(&owner, &guest, thread);
        let freed = got.then.publish.first().expect("the revision that frees the nights").clone();
        guest.receive(&freed, Via::Gossip);
        let view = guest.listing_view(&id).expect("view");
        assert!(view.calendar.expect("calendar").booked.is_empty(), "the week is free again");
        let search = guest
            .search(SearchParams { free: Some(week.to_string()), ..SearchParams::default() })
            .expect("search");
        assert_eq!(search.total, 1, "and found free");
        // The same nights are booked again, by the same instant calendar.
        let again = guest.offer(&id, request(week, None)).expect("booked again");
        let inbound = owner.receive(again.object.bytes(), Via::Direct);
        assert_eq!(inbound.then.deliver, vec![guest.me()], "accepted at once: the nights are free");
    }

    /// Found in a trial: a request at the asking price on an instant calendar, whose nights were
    /// booked when it came, stayed open for the owner after the deal that held them was called
    /// off. The nights given back now book it by themselves, as they would have had they been
    /// free when it came; a cheaper one still waits for the owner.
    #[test]
    fn nights_a_cancellation_gives_back_book_the_request_waiting_for_them() {
        let (owner, _d0) = service(1);
        let (guest, _d1) = service(2);
        let (waiting, _d2) = service(3);
        let (cheap, _d3) = service(4);
        let listing = owner.publish(cabin(true)).expect("published");
        for s in [&guest, &waiting, &cheap] {
            s.receive(listing.object.bytes(), Via::Gossip);
        }
        let id = listing.object.id().to_hex();
        let (thread, booked) = booked_at_once(&owner, &guest, &id, days_ahead(10, 17));
        for s in [&waiting, &cheap] {
            s.receive(&booked, Via::Gossip);
        }
        // Two requests for overlapping nights while the week is booked: neither is accepted.
        let under = cheap.offer(&id, request(days_ahead(12, 15), Some("10"))).expect_err("booked");
        assert!(under.to_string().contains("overlaps"), "{under}");
        // Sent before the booking reached them, as a request racing it would be.
        let racing = haggle_protocol::fixtures::sign_now(
            &haggle_protocol::fixtures::key(3),
            haggle_protocol::fixtures::booking(&listing.object, days_ahead(11, 14), 6_000),
        );
        let came = owner.receive(racing.bytes(), Via::Direct);
        assert!(came.then.deliver.is_empty(), "the nights are booked: left open");
        // An earlier request at the asking price from a key the owner then blocked: never booked
        // by the node.
        let blocked = haggle_protocol::fixtures::sign_at(
            &haggle_protocol::fixtures::key(5),
            haggle_protocol::fixtures::booking(&listing.object, days_ahead(10, 13), 6_000),
            haggle_protocol::Timestamp::now().saturating_sub(std::time::Duration::from_secs(60)),
        );
        assert!(owner.receive(blocked.bytes(), Via::Direct).then.deliver.is_empty());
        let who = haggle_protocol::fixtures::key(5).public().to_string();
        owner.block(crate::api::types::BlockRequest { who, note: None }).expect("blocked");
        let low = haggle_protocol::fixtures::sign_now(
            &haggle_protocol::fixtures::key(4),
            haggle_protocol::fixtures::booking(&listing.object, days_ahead(13, 16), 100),
        );
        assert!(owner.receive(low.bytes(), Via::Direct).then.deliver.is_empty());

        let got = called_off(&owner, &guest, thread);
        assert!(!got.then.publish.is_empty(), "the nights are given back");
        assert_eq!(
            got.then.deliver,
            vec![waiting.me()],
            "the waiting request at the asking price is accepted"
        );
        let on_owner = |t: &Object| owner.thread_view(&t.id().to_hex()).expect("its thread").state;
        assert_eq!(on_owner(&racing), ThreadState::Confirming);
        assert_eq!(on_owner(&low), ThreadState::Open, "under the asking price: the owner's to answer");
        assert_eq!(on_owner(&blocked), ThreadState::Open, "a blocked key's: the owner's to answer");
    }

    #[test]
    fn a_calendar_past_two_years_is_refused_with_the_last_check_out_it_may_have() {
        let (owner, _d) = service(1);
        let max = haggle_protocol::calendar::MAX_DAYS_AHEAD;
        let mut far = cabin(false);
        far.calendar.as_mut().expect("calendar").open = vec![days_ahead(1, max + 1).to_string()];
        let err = owner.publish(far).expect_err("too far").to_string();
        let last = haggle_protocol::calendar::Date(days_ahead(0, max).to).to_string();
        assert!(err.contains(&format!("to check-out {last} at the latest")), "{err}");
        let mut edge = cabin(false);
        edge.calendar.as_mut().expect("calendar").open = vec![days_ahead(1, max).to_string()];
        owner.publish(edge).expect("exactly two years ahead is taken");
    }
}
