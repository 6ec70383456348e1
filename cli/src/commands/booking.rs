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
        return Err(crate::usage(
            "a booking is in the listing's currency: leave out --currency (--price is in that currency)",
        ));
    }
    // Dates are YYYY-MM-DD, so text order is date order.
    if args.to <= args.from {
        return Err(crate::usage(format!(
            "check-out ({}) must come after check-in ({}): --from is the first night, --to the day you leave",
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
    Ok(())
}

/// The calendar lines of `haggle show`: what is open, the stay limits, a line of days per
/// month (`·` free, `■` booked, `-` not open), and the booked ranges.
pub fn calendar_lines(c: &CalendarView) {
    let parse =
        |ranges: &[String]| -> Vec<DateRange> { ranges.iter().filter_map(|r| r.parse().ok()).collect() };
    let (open, booked) = (parse(&c.open), parse(&c.booked));
    let stays = match (c.min_stay, c.max_stay) {
        (min, 0) => format!("at least {}", output::count(min as usize, "night")),
        (min, max) if min == max => output::count(min as usize, "night"),
        (min, max) => format!("{min} to {max} nights"),
    };
    let instant = if c.instant { "; instant booking" } else { "" };
    outln!("  calendar  open {}; stays of {stays}{instant}", c.open.join(", "));
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
