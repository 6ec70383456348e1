//! `haggle book`, and how a calendar is shown.

use anyhow::Result;

use haggle_node::api::types::{CalendarView, TermsDraft};
use haggle_protocol::DateRange;
use haggle_protocol::calendar::{Date, civil};

use super::Context;
use crate::args::BookArgs;
use crate::output;

/// Months a calendar shows day by day; the rest are summed up.
const MONTHS_SHOWN: usize = 4;

pub fn book(cx: &Context<'_>, args: &BookArgs) -> Result<()> {
    if args.qty.is_some() {
        return Err(crate::usage("a booking is for the whole place or thing: leave out --qty"));
    }
    if args.currency.is_some() {
        return Err(super::no_currency_of_ones_own(cx, &args.listing, "a booking", "the listing", "--price"));
    }
    // Dates are YYYY-MM-DD, so text order is date order.
    if args.to <= args.from {
        // The shortest stay the listing takes, as an example (a retrial's one-day job typed the
        // same day twice; a trial was offered one night on a listing whose stays are 2 at least).
        // (A peer's listing may ask any shortest stay: past a year, no example is given.)
        let shortest =
            cx.api.listing(&args.listing).ok().and_then(|l| l.calendar).map_or(1, |c| c.min_stay.max(1));
        let one = haggle_protocol::calendar::parse_date(&args.from)
            .ok()
            .filter(|_| shortest <= 366)
            .and_then(|d| d.checked_add(shortest))
            .map(|to| match shortest {
                1 => format!(": --from {} --to {} books one", args.from, Date(to)),
                n => {
                    format!(": --from {} --to {} books {n}, the shortest stay it takes", args.from, Date(to))
                }
            })
            .unwrap_or_default();
        return Err(crate::usage(format!(
            "check-out ({}) must come after check-in ({}): --from is the first night (a service's first day), --to the day you leave (the day after a service's last){one}",
            args.to, args.from
        )));
    }
    let draft = TermsDraft {
        price: args.price.clone(),
        currency: None,
        quantity: None,
        message: args.message.clone(),
        expires_in: args.expires.map(|d| d.as_secs()),
        dates: Some(format!("{}..{}", args.from, args.to)),
    };
    let sent = cx.api.offer(&args.listing, &draft)?;
    super::negotiate::report(cx, "Booking request", &sent)?;
    super::negotiate::slip_notes(cx, &sent, false, args.price.is_some());
    if let Some(listing) = sent.thread.listing
        && let Ok(view) = cx.api.listing(&listing.to_hex())
    {
        for line in booking_notes(&view, &sent.thread.terms) {
            note!(cx.json, "{line}");
        }
    }
    Ok(())
}

/// What a booking request sent may not have meant: a price under the asking price on a
/// calendar that books at once only at it, and a stay shorter than the period the price is per
/// (one night of a listing priced per month costs the month).
fn booking_notes(
    listing: &haggle_node::api::types::ListingView,
    terms: &haggle_node::api::types::TermsView,
) -> Vec<String> {
    let mut notes = Vec::new();
    let Some(Ok(range)) = terms.dates.as_deref().map(str::parse::<DateRange>) else { return notes };
    // A stay past the listing's end: the host was told as it published, the guest was not (a
    // trial's bike booked past its listing's expiry, with no word).
    if listing.expires_at < u64::from(range.to) * 86_400_000 {
        let ends =
            haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::from_millis(listing.expires_at));
        notes.push(format!(
            "the listing expires on {} (UTC), before this booking's check-out ({}): a request still open then ends with it, so the owner answers before; a booking made before stands",
            Date(ends),
            Date(range.to)
        ));
    }
    let Some(price) = &listing.price else { return notes };
    let asked =
        haggle_protocol::Price { amount: price.amount, currency: price.currency.clone(), per: price.per };
    let Some(asking) = haggle_protocol::calendar::asking(&asked, &range) else { return notes };
    let asking_text = haggle_protocol::Price::new(asking, price.currency.clone()).to_string();
    let instant = listing.calendar.as_ref().is_some_and(|c| c.instant);
    if instant && terms.price.amount < asking {
        notes.push(format!(
            "this listing books at once only at its asking price ({asking_text} for these nights): your request {} waits for the owner's answer",
            // A free request read "your request of free" (from a trial).
            if terms.price.amount == 0 { "for free".to_owned() } else { format!("of {}", terms.price.display) }
        ));
    }
    let nights = range.nights();
    let (unit, length) = match price.per {
        Some(haggle_protocol::Period::Week) => ("week", 7),
        Some(haggle_protocol::Period::Month) => ("month", 30),
        _ => return notes,
    };
    if nights % length != 0 {
        let periods = nights.div_ceil(length);
        let verb = if nights == 1 { "is" } else { "are" };
        notes.push(format!(
            "the listing is priced per {unit}: {} {verb} charged as {}, {asking_text} at the asking price",
            output::count(nights as usize, "night"),
            output::count(periods as usize, unit)
        ));
    }
    notes
}

/// The calendar lines of `haggle show`: what is open, the stay limits, a line of days per
/// month (`·` free, `■` booked, `-` not open), and the booked ranges.
pub fn calendar_lines(c: &CalendarView, kind: haggle_protocol::ListingKind) {
    let parse =
        |ranges: &[String]| -> Vec<DateRange> { ranges.iter().filter_map(|r| r.parse().ok()).collect() };
    let (open, booked) = (parse(&c.open), parse(&c.booked));
    // A service's calendar books days of work, not stays (a trial's workshop read "stays of 1 to
    // 2 nights").
    let unit = output::night_word(Some(kind));
    let stays = match (c.min_stay, c.max_stay) {
        (min, 0) => format!("at least {}", output::count(min as usize, unit)),
        (min, max) if min == max => output::count(min as usize, unit),
        (min, max) => format!("{min} to {max} {unit}s"),
    };
    let what = if unit == "day" { "bookings" } else { "stays" };
    let instant = if c.instant { "; instant booking" } else { "" };
    outln!("  calendar  open {}; {what} of {stays}{instant}", c.open.join(", "));
    let (Some(first), Some(last)) = (open.first(), open.last()) else { return };
    let start = booked.first().map_or(first.from, |b| b.from.min(first.from));
    let mut month = first_of_month(start);
    let mut shown = 0;
    while month < last.to {
        let next = first_of_month_after(month);
        if shown == MONTHS_SHOWN {
            outln!("            … to {}", Date(last.to));
            break;
        }
        let days: String = (month..next)
            .map(|d| {
                if booked.iter().any(|b| b.from <= d && d < b.to) {
                    '■'
                } else if open.iter().any(|o| o.from <= d && d < o.to) {
                    '·'
                } else {
                    '-'
                }
            })
            .collect();
        let (y, m, _) = civil(i64::from(month));
        outln!("            {} {y}  {days}", MONTH_NAMES[m as usize - 1]);
        month = next;
        shown += 1;
    }
    if !c.booked.is_empty() {
        outln!("  booked    {}", c.booked.join(", "));
    }
}

const MONTH_NAMES: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn first_of_month(day: u32) -> u32 {
    let (_, _, d) = civil(i64::from(day));
    day - (d - 1)
}

fn first_of_month_after(day: u32) -> u32 {
    let mut d = day;
    loop {
        d += 1;
        if civil(i64::from(d)).2 == 1 {
            return d;
        }
    }
}

#[cfg(test)]
mod tests {
    use haggle_node::api::types::{
        CalendarView, ListingKind, ListingState, ListingView, PriceView, TermsView,
    };

    use super::*;

    /// Found in a trial: a request under the asking price on an instant calendar said only
    /// `delivered`, and one night of a listing priced per month cost the month without a word.
    #[test]
    fn a_booking_says_what_it_may_not_have_meant() {
        let price = |amount: u64, per: haggle_protocol::Period| PriceView {
            amount,
            currency: "EUR".parse().expect("a currency"),
            per: Some(per),
            decimals: Some(2),
            display: String::new(),
        };
        let place = |per: haggle_protocol::Period, instant: bool| ListingView {
            kind: ListingKind::Rental,
            price: Some(price(12_000, per)),
            calendar: Some(Box::new(CalendarView {
                open: vec!["2027-01-01..2027-06-01".into()],
                booked: Vec::new(),
                min_stay: 1,
                max_stay: 0,
                instant,
            })),
            // Past every stay asked below.
            expires_at: 1_830_297_600_000,
            ..output::sample_listing(1, ListingState::Active, 1)
        };
        let request = |amount: u64, dates: &str| TermsView {
            quantity: 1,
            price: PriceView {
                display: format!("{}.00 EUR", amount / 100),
                ..price(amount, haggle_protocol::Period::Day)
            },
            expires_at: 0,
            dates: Some(dates.into()),
            unit: Some(haggle_protocol::Period::Day),
        };
        let day = haggle_protocol::Period::Day;
        let under = booking_notes(&place(day, true), &request(10_000, "2027-01-20..2027-01-23"));
        assert_eq!(
            under,
            vec![
                "this listing books at once only at its asking price (360.00 EUR for these nights): your request of 100.00 EUR waits for the owner's answer"
            ]
        );
        let free = booking_notes(&place(day, true), &request(0, "2027-01-20..2027-01-23"));
        assert!(free[0].ends_with("your request for free waits for the owner's answer"), "{free:?}");
        assert!(
            booking_notes(&place(day, false), &request(10_000, "2027-01-20..2027-01-23")).is_empty(),
            "not instant"
        );
        assert!(booking_notes(&place(day, true), &request(36_000, "2027-01-20..2027-01-23")).is_empty());
        let month = booking_notes(
            &place(haggle_protocol::Period::Month, false),
            &request(12_000, "2027-01-20..2027-01-21"),
        );
        assert_eq!(
            month,
            vec![
                "the listing is priced per month: 1 night is charged as 1 month, 120.00 EUR at the asking price"
            ]
        );
        let weeks = booking_notes(
            &place(haggle_protocol::Period::Week, false),
            &request(24_000, "2027-01-01..2027-01-15"),
        );
        assert!(weeks.is_empty(), "two whole weeks");
        // Past the listing's expiry (2028-01-01): said (a trial's guest was not told).
        let late = booking_notes(&place(day, false), &request(36_000, "2027-12-30..2028-01-02"));
        assert_eq!(
            late,
            vec![
                "the listing expires on 2028-01-01 (UTC), before this booking's check-out (2028-01-02): a request still open then ends with it, so the owner answers before; a booking made before stands"
            ]
        );
    }
}
