//! `haggle publish --from ID`: an earlier listing as the start of a new one (to sell another of
//! the same thing, to offer again what sold out or was retracted, or to publish again what was
//! signed while the clock ran ahead). Every field the command is not given comes from the
//! earlier listing. What is counted from now (an auction's end, a campaign's deadline, the
//! lifetime) and what the earlier listing cannot lend (another author's pictures, which this
//! node may not hold; a calendar's nights, mostly past; a digital good's file, whose key its
//! buyers hold) is given anew.

use anyhow::Result;

use haggle_node::api::types::{ListingKind, ListingView, PriceView};

use crate::args::{Choice, PublishArgs};
use crate::usage;

/// What the earlier listing lends besides the arguments it fills.
#[derive(Debug, Default)]
pub struct Lent {
    /// Its pictures, when it is the owner's own and no `--image` was given.
    pub images: Vec<haggle_protocol::Image>,
    /// Whether it had pictures that were not copied (another author's).
    pub pictures_left: bool,
    /// What the earlier listing had that a listing of another kind (`--kind`) does not carry,
    /// or carries with another meaning, in words for a note.
    pub not_carried: Vec<String>,
    /// The earlier listing's kind, for that note.
    pub src_kind: String,
}

/// Fills every argument of `args` that was not given from `src`, the listing `--from` names.
pub fn fill(args: &mut PublishArgs, src: &ListingView) -> Result<Lent> {
    let kind = args.kind.get_or_insert(Choice(src.kind)).0;
    // A calendar and a price per period go with rentals and services only.
    let periodic = matches!(kind, ListingKind::Rental | ListingKind::Service);
    if let (Some(price), Some(currency)) = (&src.price, args.fields.currency.clone())
        && currency != price.currency
    {
        unconverted(args, kind, src, &currency)?;
    }
    // A price per period means nothing on a kind without periods: the amount would be taken
    // for the whole item (a wanted ad, which may go without a price, leaves it out).
    let per = src.price.as_ref().and_then(|p| p.per).filter(|_| !periodic);
    if let Some(per) = per
        && args.fields.price.is_none()
        && args.campaign.goal.is_none()
        && !matches!(kind, ListingKind::Giveaway | ListingKind::Wanted)
    {
        let flag = if kind == ListingKind::Crowdfund { "--goal" } else { "--price (for the whole of it)" };
        return Err(usage(format!(
            "listing {} is priced per {per} ({}), and the price of {} {kind} listing has no period: give {flag}",
            crate::output::short(&src.id),
            src.price.as_ref().map(|p| p.display.as_str()).unwrap_or_default(),
            crate::output::a(kind.as_str())
        )));
    }
    let unpriced_wanted = per.is_some() && kind == ListingKind::Wanted && args.fields.price.is_none();
    let not_carried = if kind == src.kind {
        Vec::new()
    } else {
        not_carried(src, kind, args.fields.qty.is_some(), args.fields.price.is_some())
    };
    let f = &mut args.fields;
    let calendar = src.calendar.as_ref().filter(|_| periodic);
    if let Some(calendar) = calendar
        && f.available.is_empty()
    {
        let open = if calendar.open.is_empty() { "none".to_owned() } else { calendar.open.join(", ") };
        let named = crate::output::short(&src.id);
        return Err(usage(format!(
            "listing {named} takes bookings: its nights are not copied (the new listing is booked from the nights you open, and its own bookings start empty). Say which nights are open with --available FROM..TO (it had: {open})"
        )));
    }
    if let Some(calendar) = calendar {
        f.min_stay = f.min_stay.or(Some(calendar.min_stay).filter(|n| *n > 1));
        f.max_stay = f.max_stay.or(Some(calendar.max_stay).filter(|n| *n > 0));
        f.instant |= calendar.instant && !f.no_instant;
        f.no_instant = false;
    }
    args.title.get_or_insert_with(|| src.title.clone());
    if f.description.is_none() && f.description_file.is_none() && !src.description.is_empty() {
        f.description = Some(src.description.clone());
    }
    f.category.get_or_insert_with(|| src.category.clone());
    if f.tags.is_empty() && !f.no_tags {
        f.tags.clone_from(&src.tags);
    }
    if f.payment.is_empty() && !f.no_pay {
        f.payment.clone_from(&src.payment);
    }
    // The geohash goes with the place it was given for.
    if f.location.is_none() && f.geohash.is_none() {
        f.geohash.clone_from(&src.geohash);
    }
    if f.location.is_none() && !src.location.is_empty() {
        f.location = Some(src.location.clone());
    }
    if f.delivery.is_none() && !src.delivery.is_empty() {
        f.delivery = Some(src.delivery.clone());
    }
    // A campaign's price is its goal, and its quantity means nothing; a sold-out listing has
    // none left to lend (the new one has 1 unless --qty says otherwise).
    if f.qty.is_none() && src.quantity > 0 && kind != ListingKind::Crowdfund {
        f.qty = Some(src.quantity);
    }
    if let Some(price) = src.price.as_ref().filter(|_| !unpriced_wanted) {
        let priced = !matches!(kind, ListingKind::Giveaway);
        if f.price.is_none() && args.campaign.goal.is_none() && priced {
            f.price = Some(amount_text(price));
        }
        if f.currency.is_none() && (f.price.is_some() || args.campaign.goal.is_some()) {
            f.currency = Some(price.currency.clone());
        }
        if f.per.is_none() && periodic {
            f.per = price.per.map(Choice);
        }
    }
    if let (ListingKind::Auction, Some(auction)) = (kind, &src.auction) {
        let a = &mut args.auction;
        a.reserve = a.reserve.take().or_else(|| auction.reserve.as_ref().map(amount_text));
        a.increment.get_or_insert_with(|| amount_text(&auction.increment));
        a.window.get_or_insert(auction.window_secs);
    }
    if let (ListingKind::Crowdfund, Some(campaign)) = (kind, &src.campaign)
        && args.campaign.tiers.is_empty()
    {
        args.campaign.tiers = campaign
            .tiers
            .iter()
            .map(|t| (t.name.clone(), amount_text(&t.min), Some(t.quantity).filter(|q| *q > 0)))
            .collect();
    }
    let mut lent = Lent { not_carried, src_kind: src.kind.to_string(), ..Lent::default() };
    if f.images.is_empty() && !f.no_images && !src.images.is_empty() {
        if src.mine {
            lent.images.clone_from(&src.images);
        } else {
            lent.pictures_left = true;
        }
    }
    // What --no-* asked is done: nothing copied.
    (f.no_tags, f.no_pay, f.no_images) = (false, false, false);
    Ok(lent)
}

/// What `src` had that a new listing of `kind`, another kind, leaves out or reads otherwise;
/// `qty_given`, `price_given`: `--qty`, `--price` were given (not lent).
fn not_carried(src: &ListingView, kind: ListingKind, qty_given: bool, price_given: bool) -> Vec<String> {
    let periodic = matches!(kind, ListingKind::Rental | ListingKind::Service);
    let mut left = Vec::new();
    if src.calendar.is_some() && !periodic {
        left.push("its calendar is not copied (open nights, stay limits, instant booking)".to_owned());
    }
    match (src.price.as_ref(), kind) {
        (Some(p), ListingKind::Giveaway) => {
            left.push(format!("its price ({}) is left out: a giveaway has none", p.display))
        }
        (Some(p), ListingKind::Wanted) if p.per.is_some() && !price_given => left.push(format!(
            "its price ({}) is left out: a wanted ad's budget has no period (--price to give one)",
            p.display
        )),
        (Some(p), _) if src.kind == ListingKind::Crowdfund && !price_given => {
            left.push(format!("its goal ({}) is now its price", p.display))
        }
        _ => {}
    }
    if src.auction.is_some() && kind != ListingKind::Auction {
        left.push("its auction terms (reserve, increment, window) are left out".to_owned());
    }
    if src.campaign.is_some() && kind != ListingKind::Crowdfund {
        left.push("its campaign's tiers are left out".to_owned());
    }
    // A service's, rental's or digital good's quantity is what one deal may take; elsewhere it
    // is how many there are to trade.
    let per_deal =
        |k: ListingKind| matches!(k, ListingKind::Service | ListingKind::Rental | ListingKind::Digital);
    if !qty_given
        && src.quantity > 1
        && per_deal(src.kind) != per_deal(kind)
        && kind != ListingKind::Crowdfund
    {
        let (then, now) = if per_deal(src.kind) {
            ("the most one deal takes", "how many there are")
        } else {
            ("how many there are", "the most one deal takes")
        };
        left.push(format!(
            "its quantity {} was {then}, and is now {now} (--qty to set another)",
            src.quantity
        ));
    }
    left
}

/// Refuses a `--currency` other than `src`'s while an amount would still be copied from it: a
/// number means nothing in another currency.
fn unconverted(
    args: &PublishArgs,
    kind: ListingKind,
    src: &ListingView,
    currency: &haggle_protocol::Currency,
) -> Result<()> {
    let f = &args.fields;
    let priced = kind != ListingKind::Giveaway;
    let mut missing = Vec::new();
    if kind == ListingKind::Crowdfund {
        if args.campaign.goal.is_none() {
            missing.push("--goal");
        }
        if args.campaign.tiers.is_empty() && src.campaign.as_ref().is_some_and(|c| !c.tiers.is_empty()) {
            missing.push("--tier");
        }
    } else if priced && f.price.is_none() {
        missing.push("--price");
    }
    if let (ListingKind::Auction, Some(auction)) = (kind, &src.auction) {
        if args.auction.reserve.is_none() && auction.reserve.is_some() {
            missing.push("--reserve");
        }
        if args.auction.increment.is_none() {
            missing.push("--increment");
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let old = src.price.as_ref().map_or_else(String::new, |p| p.currency.to_string());
    Err(usage(format!(
        "listing {} is priced in {old}, and --currency {currency} does not convert its amounts: give {} in {currency} too",
        crate::output::short(&src.id),
        missing.join(" and ")
    )))
}

/// A price's amount as a person would type it: `120`, `12.50`, `0.00050000`.
fn amount_text(p: &PriceView) -> String {
    let decimals = p.decimals.unwrap_or(2);
    let Some(scale) = 10u64.checked_pow(decimals).filter(|_| decimals > 0) else {
        return p.amount.to_string();
    };
    format!("{}.{:0width$}", p.amount / scale, p.amount % scale, width = decimals as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(amount: u64, decimals: Option<u32>) -> PriceView {
        PriceView {
            amount,
            currency: "EUR".parse().expect("a currency"),
            per: None,
            decimals,
            display: String::new(),
        }
    }

    #[test]
    fn amounts_read_back_as_typed() {
        assert_eq!(amount_text(&price(12_050, Some(2))), "120.50");
        assert_eq!(amount_text(&price(7, Some(2))), "0.07");
        assert_eq!(amount_text(&price(1_500, Some(0))), "1500");
        assert_eq!(amount_text(&price(50_000, Some(8))), "0.00050000");
        assert_eq!(amount_text(&price(999, None)), "9.99", "a node from before decimals were sent");
    }
}
