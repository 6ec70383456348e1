//! `haggle offer`, `counter`, `accept`, `decline`, `withdraw`, `offers` and `deals`.

use anyhow::Result;

use haggle_node::api::types::{
    DeliveryState, InboxParams, ListingKind, MessageBody, ObjectKind, Party, Role, SentView, ThreadState,
};

use super::Context;
use crate::args::{InboxArgs, TermsArgs};
use crate::output;

pub fn offer(cx: &Context<'_>, listing: &str, terms: &TermsArgs) -> Result<()> {
    let sent = cx.api.offer(listing, &terms.draft()?)?;
    report(cx, "Offer", &sent)?;
    slip_notes(cx, &sent, terms.currency.is_some(), terms.price.is_some());
    others_open(cx, &sent.thread);
    Ok(())
}

/// A note when the owner has other offers open on the same listing (a trial's buyer opened two,
/// at 15 and 14, unwarned): the other party may accept either.
fn others_open(cx: &Context<'_>, new: &haggle_node::api::types::ThreadView) {
    use haggle_node::api::types::{ObjectKind, Party, Role};
    let listing_of = |t: &haggle_node::api::types::ThreadView| t.current_listing.or(t.listing);
    let Some(listing) = listing_of(new) else { return };
    let Ok(page) = cx.api.threads() else { return };
    let others: Vec<String> = page
        .threads
        .iter()
        .filter(|t| {
            // The owner's own terms on the table (not the other party's counter, nor an accept
            // awaiting its confirm: from a review), which `withdraw` takes back.
            t.thread != new.thread
                && t.role == Role::Offerer
                && t.opening == ObjectKind::Offer
                && t.proposed_by == Party::Me
                && matches!(t.state, ThreadState::Open | ThreadState::Countered)
                && listing_of(t) == Some(listing)
        })
        .map(|t| format!("{} ({})", output::short(&t.thread), output::thread_terms(t)))
        .collect();
    if others.is_empty() {
        return;
    }
    note!(
        cx.json,
        "you have {} open on this listing too: {}. The other party may accept any of them; haggle withdraw THREAD takes one back.",
        output::count(others.len(), "other offer"),
        others.join(", ")
    );
}

/// Terms that open a thread and may be a slip, sent as they are (haggling is free-form) with a
/// note on how to take them back and start again: another currency than the listing's
/// (`currency_given`), or a price of 0 typed for a listing that asks one (`price_given`; an
/// offer without --price on a listing with a price takes that price).
pub(super) fn slip_notes(cx: &Context<'_>, sent: &SentView, currency_given: bool, price_given: bool) {
    if !(currency_given || price_given) {
        return;
    }
    let Some(listing) = sent.thread.listing else { return };
    let Ok(view) = cx.api.listing(&listing.to_hex()) else { return };
    let Some(asked) = view.price.as_ref() else { return };
    let (offered, thread) = (&sent.thread.terms.price, output::short(&sent.thread.thread));
    if currency_given && offered.currency != asked.currency {
        // A wanted ad's price is what its author will pay.
        let asks = if view.kind == ListingKind::Wanted {
            "the wanted ad's budget is in"
        } else {
            "the listing asks in"
        };
        note!(
            cx.json,
            "you offered in {}; {asks} {}. If that was a slip, withdraw it \
             (`haggle withdraw {thread}`) and offer again with --currency {}.",
            offered.currency,
            asked.currency,
            asked.currency
        );
    }
    // `--price 8 --qty 3` on a listing at 8 each: the price of one offered for all three.
    let quantity = u64::from(sent.thread.terms.quantity);
    let per_item = price_given
        && quantity > 1
        && view.kind != ListingKind::Wanted
        && offered.currency == asked.currency
        && (1..=asked.amount).contains(&offered.amount);
    if per_item {
        let all = haggle_protocol::Price::new(asked.amount.saturating_mul(quantity), asked.currency.clone());
        // A rental's or a service's quantity counts its periods (`45.00 EUR for 3 days`).
        let (what, each) = match asked.per {
            Some(per) => (output::count(quantity as usize, per.as_str()), ""),
            None => (quantity.to_string(), " each"),
        };
        note!(
            cx.json,
            "--price is for all {what} together: you offered {} for {what}, and the listing \
             asks {}{each} ({all} for {what}). If that was a slip, withdraw it (`haggle withdraw {thread}`) \
             and offer again with the price for all of them.",
            offered.display,
            asked.display
        );
    }
    // Ten times the asking price for the same quantity or more: a slip of the keys (a zero too
    // many, cents typed as units), not haggling; a wanted ad's budget is only a guide upwards
    // too, so it is not checked.
    let asked_all = asked.amount.saturating_mul(quantity);
    if price_given
        && view.kind != ListingKind::Wanted
        // A booking's price is for the whole stay, the listing's per night or hour.
        && sent.thread.terms.dates.is_none()
        && offered.currency == asked.currency
        && asked_all > 0
        && offered.amount / 10 >= asked_all
    {
        let times = offered.amount / asked_all;
        note!(
            cx.json,
            "you offered {}, {times} times what the listing asks ({}{}). If that was a slip, \
             withdraw it (`haggle withdraw {thread}`) before it is accepted, and offer again.",
            offered.display,
            asked.display,
            if quantity > 1 { format!(" each, for {quantity}") } else { String::new() }
        );
    }
    // Under a tenth of the asking price: a decimal point in the wrong place (`.5` for `35`),
    // more likely than an offer; haggling is free, so it is only said.
    if price_given
        && !per_item
        && view.kind != ListingKind::Wanted
        && sent.thread.terms.dates.is_none()
        && offered.currency == asked.currency
        && offered.amount > 0
        && offered.amount.saturating_mul(10) < asked_all
    {
        note!(
            cx.json,
            "you offered {}, under a tenth of what the listing asks ({}{}). If that was a slip, \
             withdraw it (`haggle withdraw {thread}`) and offer again.",
            offered.display,
            asked.display,
            if quantity > 1 { format!(" each, for {quantity}") } else { String::new() }
        );
    }
    if price_given && offered.amount == 0 && asked.amount > 0 {
        note!(
            cx.json,
            "these terms have a price of 0 (free); {} {}. If that was a slip, \
             withdraw them (`haggle withdraw {thread}`) and ask again with the --price you meant.",
            if view.kind == ListingKind::Wanted { "the wanted ad's budget is" } else { "the listing asks" },
            if sent.thread.terms.quantity > 1 {
                format!("{} each", asked.display)
            } else {
                asked.display.clone()
            }
        );
    }
}

pub fn counter(cx: &Context<'_>, thread: &str, terms: &TermsArgs, as_offered: bool) -> Result<()> {
    // The owner's node refuses, without --as-offered, to answer an offer made on an earlier
    // revision that described the listing otherwise.
    let sent = cx.api.counter(thread, &terms.draft()?, as_offered)?;
    // No slip notes: withdrawing a counter ends the thread, so "send them again" could not be
    // followed.
    report(cx, "Counter-offer", &sent)
}

pub fn accept(cx: &Context<'_>, thread: &str, as_offered: bool) -> Result<()> {
    let sent = cx.api.accept(thread, as_offered)?;
    // The other party's withdrawal, decline or counter reached this node first: the accept is
    // signed and saved but off the thread's chain, so no deal can follow from it.
    let crossed = sent.thread.messages.iter().any(|m| m.id == sent.id && !m.on_chain);
    if cx.json {
        output::json(&sent)?;
    } else if crossed {
        output::thread(&sent.thread);
    }
    if crossed {
        let first = match sent.thread.state {
            ThreadState::Withdrawn => "the other party's withdrawal",
            ThreadState::Declined => "the other party's decline",
            ThreadState::Expired => "the terms' expiry",
            _ => "the other party's new terms (accept those if you like)",
        };
        anyhow::bail!(
            "your accept crossed {first} in flight, and their node had taken that first (whatever the times in the thread say): it does not count, and no deal follows from it"
        );
    }
    if cx.json {
        accept_notes(cx, &sent.thread);
        return Ok(());
    }
    match (sent.thread.deal, sent.thread.delivery) {
        (Some(deal), _) => outln!("Accepted: deal {} made.", output::short(&deal)),
        (None, Some(DeliveryState::Queued)) if failed_for_now(&sent) => outln!(
            "Accepted and saved; the last try did not deliver it (why is under it), and it is tried again. \
             It becomes a deal when their node confirms it, if the terms still stand (haggle offers shows \
             it as confirming until then; haggle watch says when)."
        ),
        (None, Some(DeliveryState::Queued)) => outln!(
            "Accepted, saved and queued: it goes out as soon as the other party is reachable, and becomes a \
             deal when their node confirms it, if the terms still stand (haggle offers shows it as confirming until then; haggle watch says when)."
        ),
        (None, _) => outln!(
            "Accepted. It becomes a deal when the other party's node confirms: at once if it is online \
             and the terms still stand (haggle offers shows it as confirming until then, haggle deals \
             once it is a deal; haggle watch says when)."
        ),
    }
    output::thread(&sent.thread);
    accept_notes(cx, &sent.thread);
    Ok(())
}

/// The notes on an accept that may be a slip: terms in another currency than the listing's, or
/// free terms on a listing of the owner's that asks a price. After the human output, as notes go.
fn accept_notes(cx: &Context<'_>, t: &haggle_node::api::types::ThreadView) {
    if let Some(asked) = &t.listing_currency {
        let (whose, what) = match (t.role, t.listing_kind) {
            (Role::ListingAuthor, Some(ListingKind::Wanted)) => ("your wanted ad's", "budget"),
            (Role::ListingAuthor, _) => ("your listing's", "price"),
            (Role::Offerer, Some(ListingKind::Wanted)) => ("the wanted ad's", "budget"),
            (Role::Offerer, _) => ("the listing's", "price"),
        };
        note!(cx.json, "you accepted terms in {}; {whose} {what} is in {asked}.", t.terms.price.currency);
    }
    if let Some(asked) = free_on_priced(cx, t) {
        let undo = match t.deal {
            Some(deal) => format!("haggle cancel {} asks them to call the deal off", output::short(&deal)),
            None => "once it is a deal, haggle cancel DEAL asks them to call it off".to_owned(),
        };
        note!(
            cx.json,
            "you accepted terms of 0 (free); your listing asks {asked}. If that was a slip, {undo}."
        );
    }
}

/// The asking price of the owner's listing (not a giveaway, not a wanted ad) whose free terms
/// the owner just accepted, if it asks one: a trial's owner accepted a free booking of a rental
/// at 50 EUR a night unwarned. The listing is read only for free terms.
fn free_on_priced(cx: &Context<'_>, t: &haggle_node::api::types::ThreadView) -> Option<String> {
    if t.role != Role::ListingAuthor
        || t.terms.price.amount > 0
        || matches!(t.listing_kind, Some(ListingKind::Giveaway | ListingKind::Wanted) | None)
    {
        return None;
    }
    let listing = cx.api.listing(&t.listing?.to_hex()).ok()?;
    listing.price.filter(|p| p.amount > 0).map(|p| p.display)
}

pub fn decline(cx: &Context<'_>, thread: &str, message: String) -> Result<()> {
    let sent = cx.api.decline(thread, &MessageBody { message })?;
    report(cx, "Decline", &sent)?;
    // A declined bid on the owner's ended auction: the bid it may sell to now, if any (the
    // decline is sent: a failure to look is not the command's).
    let t = &sent.thread;
    if !cx.json && t.opening == ObjectKind::Bid && t.role == haggle_node::api::types::Role::ListingAuthor {
        let next = t
            .listing
            .and_then(|listing| cx.api.listing(&listing.to_hex()).ok())
            .and_then(|l| l.auction)
            .and_then(|a| a.next_bid);
        if let Some(b) = next {
            outln!(
                "The best bid still open is now {} by {}: haggle accept {} sells to it.",
                b.amount.display,
                output::short_peer(&b.bidder),
                output::short(&b.id)
            );
        }
    }
    Ok(())
}

pub fn withdraw(cx: &Context<'_>, thread: &str, message: String) -> Result<()> {
    let sent = cx.api.withdraw(thread, &MessageBody { message })?;
    report(cx, "Withdrawal", &sent)
}

/// What happened to a message just sent, then its thread.
pub(super) fn report(cx: &Context<'_>, what: &str, sent: &SentView) -> Result<()> {
    if cx.json {
        output::json(sent)?;
        return refused(what, sent);
    }
    let proposal = matches!(sent.kind, ObjectKind::Offer | ObjectKind::Counter);
    let note = match (sent.thread.delivery, sent.thread.state) {
        // An instant booking, or a digital good bought at its price: the other node accepted at
        // once, before the answer was written.
        (_, ThreadState::Accepted) if proposal => {
            "delivered and accepted at once: it is a deal (haggle deals)"
        }
        (_, ThreadState::Confirming) if proposal => {
            "delivered and accepted at once: your node confirms it if the terms still stand, which makes the deal (haggle deals)"
        }
        (Some(DeliveryState::Delivered), _) => "delivered",
        (Some(DeliveryState::Sent), _) => "sent; the other node has not acknowledged it yet",
        (Some(DeliveryState::Failed), _) => {
            "refused by the other party's node, for good: it is not sent again"
        }
        // The last try failed: the other node's refusal for now, or the network's error (shown
        // under it).
        _ if failed_for_now(sent) => {
            "saved; the last try did not deliver it (why is under it), and it is tried again"
        }
        _ => "saved and queued: it goes out as soon as the other party is reachable",
    };
    outln!("{what} {}: {note}.", output::short(&sent.id));
    let confirmed = (proposal && sent.thread.state == ThreadState::Accepted)
        .then(|| confirm_on_its_way(cx, &sent.thread));
    output::thread(confirmed.flatten().as_ref().unwrap_or(&sent.thread));
    refused(what, sent)
}

/// The thread once the confirm this node signed for an instant accept has left, if it leaves
/// within a moment: the answer came before it was sent, and the timeline read `confirm
/// [queued]` with both nodes online (from a trial). `None` when nothing is on its way, or it
/// still is after the wait (the timeline then says so, as it stands).
fn confirm_on_its_way(
    cx: &Context<'_>,
    t: &haggle_node::api::types::ThreadView,
) -> Option<haggle_node::api::types::ThreadView> {
    let pending = |t: &haggle_node::api::types::ThreadView| {
        t.messages.iter().any(|m| {
            m.kind == ObjectKind::Confirm
                && m.from == Party::Me
                && m.delivery.is_some_and(DeliveryState::is_pending)
        })
    };
    if !pending(t) {
        return None;
    }
    let deadline = std::time::Instant::now() + CONFIRM_WAIT;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = cx.api.thread(&t.thread.to_hex()).ok()?;
        if !pending(&now) {
            return Some(now);
        }
    }
    None
}

/// How long an offer's command waits for its node's confirm of an instant accept to leave.
const CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A message the other party's node refused for good is a failure of the command (exit 1),
/// whatever the output's form.
fn refused(what: &str, sent: &SentView) -> Result<()> {
    let message = sent.thread.messages.iter().find(|m| m.id == sent.id);
    if message.is_some_and(|m| m.delivery == Some(DeliveryState::Failed)) {
        let why = message.and_then(|m| m.delivery_error.clone());
        // After `error: `, mid-sentence: `offer ... was refused`.
        anyhow::bail!(
            "{} {} was refused: {}",
            what.to_lowercase(),
            output::short(&sent.id),
            why.as_deref().unwrap_or("the other party's node did not say why")
        );
    }
    Ok(())
}

/// Whether the message just sent is queued after a try that failed for a known reason (the other
/// party's node turned it away for now, or the network failed), not only waiting for the party.
fn failed_for_now(sent: &SentView) -> bool {
    sent.thread
        .messages
        .iter()
        .any(|m| m.id == sent.id && m.delivery == Some(DeliveryState::Queued) && m.delivery_error.is_some())
}

pub fn offers(cx: &Context<'_>, args: &InboxArgs) -> Result<()> {
    let params = args.params();
    let page = cx.api.threads_picked(&params)?;
    if cx.json {
        return output::json(&page);
    }
    if page.threads.is_empty() {
        outln!(
            "{}",
            none_picked(
                &params,
                page.total,
                "offers",
                "No offers yet: make one with `haggle offer LISTING --price ...`."
            )
        );
        return Ok(());
    }
    let now = output::now_ms();
    let rows: Vec<Vec<String>> = page
        .threads
        .iter()
        .map(|t| {
            vec![
                output::short(&t.thread),
                match t.role {
                    Role::Offerer => "out".into(),
                    Role::ListingAuthor => "in".into(),
                },
                match (t.opening, &t.terms.dates) {
                    (ObjectKind::Offer, Some(_)) => "booking".to_owned(),
                    (kind, _) => kind.to_string(),
                },
                t.listing_title
                    .as_deref()
                    .map_or_else(|| "(no longer held)".to_owned(), |t| output::clip(t, output::TITLE_COLUMN)),
                // Who the other party is: two requests for one giveaway differ here.
                match t.blocked {
                    true => format!("{} (blocked)", output::short_peer(&t.counterparty)),
                    false => output::short_peer(&t.counterparty),
                },
                // Terms in another currency than the listing's are marked (`haggle show` says
                // more): a seller could otherwise accept 45 USD for 50 EUR unawares.
                match &t.listing_currency {
                    Some(asked) => format!("{} (listing: {asked})", output::thread_terms(t)),
                    None => output::thread_terms(t),
                },
                match output::public_state(t) {
                    Some(state) => state.to_owned(),
                    None if t.refused => "refused".to_owned(),
                    // Requests whose nights went meanwhile cannot be accepted: shown as such
                    // (haggle show says why and what to do).
                    None if t.nights_unavailable.is_some() && output::live(t) => {
                        format!("{}s gone", output::night_word(t.listing_kind))
                    }
                    // Held by the owner's promise in another thread (haggle show says which).
                    None if t.nights_promised.is_some() && output::live(t) => {
                        format!("{}, {}s promised", t.state, output::night_word(t.listing_kind))
                    }
                    // Terms for more than is left (haggle show says what to do).
                    None if output::live(t) && t.quantity_left.is_some() => {
                        format!("{}, {} free", t.state, t.quantity_left.unwrap_or(0))
                    }
                    // The listing says something else now than when the offer was made: the
                    // owner answers it as offered or not at all (haggle show says what changed).
                    None if output::live(t) && output::changes_what_it_describes(&t.listing_changed) => {
                        format!("{}, listing changed", t.state)
                    }
                    None => t.state.to_string(),
                },
                match t.awaiting {
                    // The owner's node answers bids and pledges at the end by itself (on both
                    // sides, nobody is holding them up); after it, a high bid under the reserve
                    // is the seller's to accept or not.
                    _ if output::waits_for_end(t) => "at end".into(),
                    Some(Party::Me) => "you".into(),
                    Some(Party::Them) => "them".into(),
                    None => "-".into(),
                },
                t.delivery.map_or_else(|| "-".to_owned(), |d| d.to_string()),
                t.updated_at.map(|at| output::relative(at, now)).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &["THREAD", "DIR", "KIND", "LISTING", "WITH", "TERMS", "STATE", "NEXT", "DELIVERY", "UPDATED"],
        &rows,
    );
    if let Some(line) = output::page_line(params.offset, page.threads.len(), page.total) {
        outln!("{}", output::dim(&line));
    }
    if let Some(line) = output::unread_line(page.threads.iter().map(|t| (t.thread, t.notes_unread))) {
        outln!("{line}");
    }
    Ok(())
}

/// What an empty page of `offers` or `deals` (`what`) says: that nothing is past the page asked,
/// that none waits on the owner or is open, or `never` when the owner has none at all.
fn none_picked(params: &InboxParams, total: usize, what: &str, never: &str) -> String {
    match (total, params.todo, params.open) {
        (1.., ..) => format!("No {what} past the first {total} (--offset 0 starts from the first)."),
        (0, true, _) => format!("None of your {what} waits on you now (haggle {what} lists them all)."),
        (0, false, true) => format!("None of your {what} is open now (haggle {what} lists them all)."),
        (0, false, false) => never.to_owned(),
    }
}

pub fn deals(cx: &Context<'_>, args: &InboxArgs) -> Result<()> {
    let params = args.params();
    let page = cx.api.deals_picked(&params)?;
    if cx.json {
        return output::json(&page);
    }
    if page.deals.is_empty() {
        outln!("{}", none_picked(&params, page.total, "deals", "No deals yet."));
        return Ok(());
    }
    let now = output::now_ms();
    // Which side the owner is on reads at a glance: "you" instead of its own key.
    let me = cx.api.status()?.peer_id;
    // A party the owner blocked is marked, as in `haggle offers` (the deal goes on).
    let party = |key: &haggle_node::api::types::PublicKey, blocked: bool| match (*key == me, blocked) {
        (true, _) => "you".to_owned(),
        (false, true) => format!("{} (blocked)", output::short_peer(key)),
        (false, false) => output::short_peer(key),
    };
    let rows: Vec<Vec<String>> = page
        .deals
        .iter()
        .map(|d| {
            vec![
                output::short(&d.id),
                d.title.as_deref().map(|t| output::clip(t, output::TITLE_COLUMN)).unwrap_or_default(),
                output::terms(&d.terms),
                party(&d.seller, d.blocked),
                party(&d.buyer, d.blocked),
                super::deal::stage(d),
                super::deal::next(d),
                output::relative(d.made_at, now),
            ]
        })
        .collect();
    let (seller, buyer) = sides(page.deals.iter().map(|d| d.listing_kind));
    output::table(&["DEAL", "LISTING", "TERMS", &seller, &buyer, "STAGE", "NEXT", "MADE"], &rows);
    if let Some(line) = output::page_line(params.offset, page.deals.len(), page.total) {
        outln!("{}", output::dim(&line));
    }
    if let Some(line) = output::unread_line(page.deals.iter().map(|d| (d.id, d.notes_unread))) {
        outln!("{line}");
    }
    Ok(())
}

/// The deals table's two party columns: a giveaway's sides are its giver and taker and a
/// campaign's its creator and backer, so a table of those only says so, and one mixing kinds
/// names each (`SELLER/GIVER`).
fn sides(kinds: impl Iterator<Item = Option<ListingKind>>) -> (String, String) {
    use haggle_protocol::Role;
    // Seller and buyer first, then the giver's and the creator's words, as each is met.
    let mut names: Vec<(&'static str, &'static str)> = Vec::new();
    let mut sale = false;
    for kind in kinds.flatten() {
        // A deal whose listing this node no longer holds says nothing of its kind.
        let pair = (
            haggle_node::service::party_name(Role::Seller, Some(kind)),
            haggle_node::service::party_name(Role::Buyer, Some(kind)),
        );
        if pair.0 == "seller" {
            sale = true;
        } else if !names.contains(&pair) {
            names.push(pair);
        }
    }
    names.sort_by_key(|(seller, _)| *seller != "giver");
    if sale || names.is_empty() {
        names.insert(0, ("seller", "buyer"));
    }
    let column = |buyer: bool| {
        names.iter().map(|&(s, b)| if buyer { b } else { s }.to_uppercase()).collect::<Vec<_>>().join("/")
    };
    (column(false), column(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deals_table_names_a_giveaways_sides_giver_and_taker() {
        let gift = Some(ListingKind::Giveaway);
        let sale = Some(ListingKind::Sell);
        let sides = |kinds: &[Option<ListingKind>]| sides(kinds.iter().copied());
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(sides(&[gift, gift]), pair("GIVER", "TAKER"));
        assert_eq!(sides(&[sale, gift]), pair("SELLER/GIVER", "BUYER/TAKER"));
        assert_eq!(sides(&[sale, None]), pair("SELLER", "BUYER"));
        assert_eq!(sides(&[gift, None]), pair("GIVER", "TAKER"), "an unknown kind is no sale");
        assert_eq!(sides(&[]), pair("SELLER", "BUYER"));
        // A campaign's sides are its creator and backer (a trial's pledge read seller/buyer).
        let pledge = Some(ListingKind::Crowdfund);
        assert_eq!(sides(&[pledge]), pair("CREATOR", "BACKER"));
        assert_eq!(sides(&[pledge, gift, sale]), pair("SELLER/GIVER/CREATOR", "BUYER/TAKER/BACKER"));
        assert_eq!(sides(&[Some(ListingKind::Service), pledge]), pair("SELLER/CREATOR", "BUYER/BACKER"));
    }
}
