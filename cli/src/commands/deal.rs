//! `haggle deal`, `pay-request`, `paid`, `shipped`, `received`, `cancel` and `dispute`: a deal
//! after the handshake.

use anyhow::Result;

use haggle_node::ClientError;
use haggle_node::api::types::{DealView, DeliveryState, ListingKind, Party, StepRequest};
use haggle_protocol::calendar::Date;

use super::Context;
use crate::args::PayRequestArgs;
use crate::output;

/// A deal not found is most often the id of a listing, or of an offer that made no deal (yet),
/// or a deal of other people's: the error says where the user's deals are.
pub fn no_such_deal(e: ClientError) -> anyhow::Error {
    match e {
        // An id of another kind is named as such by the node, with where deals are listed.
        ClientError::Api { status, code: code @ haggle_node::ErrorCode::NotFound, message, candidates }
            if !message.contains("haggle deals") && !message.contains("ratings of it") =>
        {
            let message = format!(
                "{message}: give the id of one of your deals (haggle deals lists them); a listing, or an offer that has not become a deal, has none"
            );
            ClientError::Api { status, code, message, candidates }.into()
        }
        e => e.into(),
    }
}

pub fn show(cx: &Context<'_>, deal: &str) -> Result<()> {
    let view = cx.api.deal(deal).map_err(no_such_deal)?;
    if cx.json {
        return output::json(&view);
    }
    print(cx.api, &view);
    Ok(())
}

pub fn pay_request(cx: &Context<'_>, args: PayRequestArgs) -> Result<()> {
    let given = [
        args.iban.is_some(),
        args.bitcoin.is_some(),
        args.lightning.is_some(),
        args.cash,
        args.other.is_some(),
    ]
    .into_iter()
    .filter(|g| *g)
    .count();
    if given != 1 {
        return Err(crate::usage(
            "say how to pay with exactly one of --iban IBAN [--reference TEXT], --bitcoin URI, --lightning INVOICE, --cash or --other TEXT",
        ));
    }
    // As `feedback --text` (from a trial: a blank reference was signed, an empty one dropped).
    if args.reference.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(crate::usage(
            "--reference is blank: leave it out, or give what the buyer writes in the transfer's reference (e.g. --reference \"Road bike\")",
        ));
    }
    let (method, details) = if let Some(iban) = args.iban {
        ("iban", Some(iban))
    } else if let Some(uri) = args.bitcoin {
        ("bitcoin", Some(uri))
    } else if let Some(invoice) = args.lightning {
        ("lightning", Some(invoice))
    } else if let Some(text) = args.other {
        ("other", Some(text))
    } else {
        ("cash", None)
    };
    let request =
        StepRequest::PaymentRequest { method: method.to_owned(), details, reference: args.reference };
    step(cx, &args.deal, request)
}

/// `haggle cancel DEAL --message TEXT`: the cancel, then the message in the deal's
/// conversation (checked before either is sent; a message that cannot go leaves the cancel
/// signed, and says so). Both are sent before anything is printed: a reader that stops early
/// (`| head`) ends the command at its next line, which must not leave the message unsent (a
/// trial's cancel reached the other party without its reason).
pub fn cancel_saying(cx: &Context<'_>, deal: &str, message: &str) -> Result<()> {
    let text = super::messages::text(&[message.to_owned()]).map_err(crate::usage)?;
    let request = StepRequest::Cancel {};
    let view = cx.api.deal_step(deal, &request).map_err(no_such_deal)?;
    // A message that did not go is said first, on stderr (the deal is not shown then): a closed
    // standard output would end the command before it.
    let sent = cx.api.send_note(deal, &text).map_err(|e| {
        anyhow::anyhow!("the cancel is signed, but its message was not sent: {e}. Send it again with haggle message {deal} \"TEXT\"")
    })?;
    show_step(cx, &request, &view)?;
    let mine = sent.notes.iter().find(|n| Some(n.id) == sent.sent);
    let state = mine.and_then(|n| n.delivery).map_or("saved".to_owned(), |d| d.to_string());
    note!(
        cx.json,
        "your message went with it ({state}): haggle messages {} shows the conversation.",
        output::short(&sent.id)
    );
    Ok(())
}

pub fn step(cx: &Context<'_>, deal: &str, request: StepRequest) -> Result<()> {
    let view = cx.api.deal_step(deal, &request).map_err(no_such_deal)?;
    show_step(cx, &request, &view)
}

/// What `step` prints of the step `request` just signed, `view` the deal after it.
fn show_step(cx: &Context<'_>, request: &StepRequest, view: &DealView) -> Result<()> {
    // Shipping (or handing over a digital good's key) with nothing asked to pay lets the buyer
    // complete the deal with no payment on record (`received` is refused without `paid` only
    // once a payment was asked).
    let shipped = matches!(&request, StepRequest::Shipped { .. } | StepRequest::Deliver {});
    let unasked = shipped && view.payment.is_none() && view.terms.price.amount > 0;
    let note_unasked = || {
        if unasked {
            note!(
                cx.json,
                "no payment was asked for this deal ({}): send how to pay with haggle pay-request {} \
                 (--cash if paid on handover); once the buyer says received, nothing can follow.",
                view.terms.price.display,
                output::short(&view.id)
            );
        }
    };
    if cx.json {
        output::json(&view)?;
        note_unasked();
        return Ok(());
    }
    // The step just signed is the owner's latest; it says whether it reached the other node.
    let delivery = view.timeline.iter().rev().find(|s| s.by == Party::Me).and_then(|s| s.delivery);
    let said = match delivery {
        Some(DeliveryState::Delivered) => "Signed, saved and delivered to the other party's node.",
        Some(DeliveryState::Failed) => {
            "Signed and saved, but the other party's node refused it: see the deal below."
        }
        Some(DeliveryState::Sent) => {
            "Signed, saved and sent: the other party's node has not acknowledged it yet."
        }
        _ => "Signed, saved and queued: it goes out as soon as the other party's node is reachable.",
    };
    outln!("{said}");
    note_unasked();
    print(cx.api, view);
    // A dispute again adds another: said, with what serves better (a trial's second dispute
    // went by without a word).
    let disputes = view.timeline.iter().filter(|s| s.by == Party::Me && s.step == "dispute").count();
    if matches!(request, StepRequest::Dispute { .. }) && disputes > 1 {
        note!(
            cx.json,
            "this is your dispute number {disputes} on this deal: each stands in its timeline, signed; to add to what you said, write to the other party (haggle message {} \"...\"), which signs no step (a party signs at most 32 steps in a deal, and its node keeps the last 4 for paying, handing over, receiving and calling it off)",
            output::short(&view.id)
        );
    }
    // A seller's dispute of a payment said made starts the days after which it may call the
    // deal off alone: said, with the date.
    if matches!(request, StepRequest::Dispute { .. })
        && let Some(until) = view.payment_disputed_until
    {
        note!(
            cx.json,
            "the {} is told its payment has not come; if it has not come {}, you may call the deal off alone (haggle cancel {}), which gives back what the deal took",
            parties(view).1,
            output::relative(until, output::now_ms()),
            output::short(&view.id)
        );
    }
    // Called off, what the deal took is back on the owner's listing, which is on offer again:
    // said, for a shop that called a sale off because the thing broke (a trial's mirror went
    // back on sale with no word).
    let gives_back = matches!(
        view.listing_kind,
        Some(ListingKind::Sell | ListingKind::Giveaway | ListingKind::Rental | ListingKind::Service)
    );
    if matches!(request, StepRequest::Cancel {})
        && view.stage == "cancelled"
        && view.you_are.as_deref() == Some("seller")
        && gives_back
    {
        let id = view.current_listing.as_ref().unwrap_or(&view.listing);
        let on_offer = cx
            .api
            .listing(&id.to_hex())
            .is_ok_and(|l| l.listings_state() == haggle_node::api::types::ListingsState::Active);
        if on_offer {
            let listing = output::short(id);
            let what = match (view.terms.dates.is_some(), view.listing_kind) {
                (true, Some(ListingKind::Service)) => "its days are free again",
                (true, _) => "its nights are free again",
                (false, _) => "what it took is back on it",
            };
            note!(
                cx.json,
                "the deal is off, and {what}: your listing {listing} is on offer again. If it no longer is, retract it (haggle retract {listing})."
            );
        }
    }
    Ok(())
}

/// A step's or stage's name for people: a service's `shipped` is `work done` (the name on the
/// wire stays `shipped`).
pub fn step_name(step: &str, kind: Option<haggle_node::api::types::ListingKind>) -> String {
    use haggle_node::api::types::ListingKind;
    match (step, kind) {
        ("shipped", Some(ListingKind::Service)) => "work done".to_owned(),
        // A campaign's creator delivers the reward, or what the campaign promised (a retrial's
        // backer read "shipped" for a hall hire).
        ("shipped", Some(ListingKind::Crowdfund)) => "delivered".to_owned(),
        // A giveaway is collected or dropped off, seldom shipped (from a trial); a rental's keys
        // or thing are handed over (a trial's cabin was "shipped").
        ("shipped", Some(ListingKind::Giveaway | ListingKind::Rental)) => "handed over".to_owned(),
        (step, _) => step.replace('_', " "),
    }
}

/// The deal's stage, with the flags that matter ("shipped, disputed").
pub fn stage(d: &DealView) -> String {
    let mut s = step_name(&d.stage, d.listing_kind);
    if d.disputed {
        s.push_str(", disputed");
    }
    if d.cancel_asked_by.is_some() {
        s.push_str(", cancel asked");
    }
    if d.stale {
        s.push_str(", stale");
    }
    s
}

/// The days a payment request gives the buyer before the seller may call the deal off alone, in
/// words (`3 days`).
pub fn pay_within() -> String {
    output::count((haggle_protocol::lifecycle::PAY_WITHIN.as_secs() / 86_400) as usize, "day")
}

/// The days a seller's dispute of a payment gives it to come before the seller may call the deal
/// off alone, in words (`7 days`).
pub fn dispute_wait() -> String {
    output::count((haggle_protocol::lifecycle::PAYMENT_DISPUTE_WAIT.as_secs() / 86_400) as usize, "day")
}

/// Whose step it is, as the NEXT column says it; while a cancel is asked, whose answer to it
/// (a hostile trial's `deals` read `them` where `deal` named the owner's own step, which carries
/// the deal on instead).
pub fn next(d: &DealView) -> String {
    let cancel = if d.cancel_asked_by.is_some() { " (cancel)" } else { "" };
    // The seller may call off a deal left unpaid past its days.
    if d.may_call_off(haggle_protocol::Timestamp::now()) {
        return "you (may cancel)".to_owned();
    }
    // A booking's `received` waits for its first day.
    if let Some(from) = d.receives_from(haggle_protocol::Timestamp::now()) {
        return format!("you, from {}", output::month_day(&Date(from).to_string()));
    }
    match d.waiting_on {
        Some(Party::Me) => format!("you{cancel}"),
        Some(Party::Them) => format!("them{cancel}"),
        None if d.may_rate => "rate it".to_owned(),
        None => "-".to_owned(),
    }
}

pub fn print(api: &haggle_node::ApiClient, d: &DealView) {
    let now = output::now_ms();
    outln!("{}", output::bold(&format!("Deal {}  [{}]", output::short(&d.id), stage(d))));
    // The listing's current id, as `haggle listings` and `haggle search` show it.
    let listing = d.current_listing.unwrap_or(d.listing);
    outln!("  listing   {} ({})", d.title.clone().unwrap_or_default(), output::short(&listing));
    if !d.listing_changed.is_empty() {
        outln!(
            "  changed   the listing's {}, after the revision this deal stands on (haggle show {} --exact)",
            output::in_words(&d.listing_changed),
            output::short(&d.listing)
        );
    }
    outln!("  terms     {}{}", output::deal_terms(api, d), output::stay(&d.terms, d.listing_kind));
    if let Some(reward) = &d.reward {
        outln!("  reward    {}", output::note(reward));
    }
    // What the parties wrote with their terms: a lesson's hour or a pickup's place lives there,
    // not in the terms (a trial's tutor found the agreed hour only in the thread).
    for (i, s) in d.said.iter().enumerate() {
        let label = if i == 0 { "said" } else { "" };
        let who = if s.by == Party::Me { "you" } else { "them" };
        // With the terms it came with: a note about an hour may go with terms the deal did
        // not keep (a retrial's "Sunday 9-11" went with 2 hours, and the deal was for 1).
        // A giveaway's terms are free whatever was said: "the offer of free" read oddly (a
        // trial), so only a quantity is named.
        let with = match (&s.terms, d.listing_kind) {
            (Some(t), Some(ListingKind::Giveaway)) if t.quantity > 1 => format!(" for {}", t.quantity),
            (_, Some(ListingKind::Giveaway)) => String::new(),
            (Some(t), _) => format!(" of {}", output::terms(t)),
            (None, _) => String::new(),
        };
        outln!("  {label:<9} {who}, with the {}{with}: \"{}\"", s.kind, output::note(&s.message));
    }
    let you = |side: &str| if d.you_are.as_deref() == Some(side) { " (you)" } else { "" };
    let (seller, buyer) = parties(d);
    outln!("  {seller:<9} {}{}", output::peer(&d.seller), you("seller"));
    outln!("  {buyer:<9} {}{}", output::peer(&d.buyer), you("buyer"));
    if d.blocked {
        let other = if d.you_are.as_deref() == Some("seller") { &d.buyer } else { &d.seller };
        outln!("  blocked   you blocked them; the deal goes on (haggle unblock {other})");
    }
    if let Some(p) = &d.payment {
        outln!("  pay by    {}", pay_by(p));
        if d.you_are.as_deref() == Some("buyer")
            && p.method == "other"
            && let Some(named) = other_amount(&p.details, &d.terms.price)
        {
            outln!(
                "  check     the request's text names {named}, the deal's terms {}: pay what you agreed, and ask the seller (haggle message {})",
                d.terms.price.display,
                output::short(&d.id)
            );
        }
    }
    outln!("  next      {}", next_step(d));
    if let Some(line) = output::notes_line(d.notes, d.notes_unread, &d.id) {
        outln!("  messages  {line}");
    }
    if let Some(file) = &d.file {
        let size = output::bytes(file.size);
        if d.file_key {
            // Found in a trial: the buyer's own node spoke of "the buyer", with an `--out` that
            // is the default anyway.
            let (id, name) = (output::short(&d.id), &file.name);
            let how = if d.you_are.as_deref() == Some("buyer") {
                format!("save it with haggle download {id} (as {name} here; --out names another file)")
            } else {
                format!("the buyer saves it with haggle download {id}")
            };
            outln!("  file      {name} ({size}): key handed over; {how}");
        } else {
            outln!(
                "  file      {} ({size}): key not handed over yet (the seller's node does once paid, unless it is set to wait for haggle deliver)",
                file.name
            );
        }
    }
    match d.cancel_asked_by {
        Some(Party::Them) => outln!(
            "  cancel    the other party asked to call the deal off: agree with haggle cancel {} (it is off once both have), or carry on",
            output::short(&d.id)
        ),
        Some(Party::Me)
            if d.you_are.as_deref() == Some("seller")
                && let Some(until) = d.payment_disputed_until =>
        {
            let when = if until <= now { "now".to_owned() } else { output::relative(until, now) };
            outln!(
                "  cancel    you asked to call the deal off: it is off once the other party cancels too, or, if the payment you disputed has not come by then, by a cancel of yours alone {when} (haggle cancel {})",
                output::short(&d.id)
            )
        }
        // The seller whose buyer has not paid in time calls the deal off alone (a trial's
        // stranger booked a whole calendar and never paid).
        Some(Party::Me)
            if d.you_are.as_deref() == Some("seller")
                && let Some(by) = d.pay_by =>
        {
            let (_, buyer) = parties(d);
            let when = if by <= now { "now".to_owned() } else { output::relative(by, now) };
            outln!(
                "  cancel    you asked to call the deal off: it is off once the other party cancels too, or, if the {buyer} has not said it paid by then, by a cancel of yours alone {when} (haggle cancel {})",
                output::short(&d.id)
            )
        }
        Some(Party::Me) => {
            outln!("  cancel    you asked to call the deal off: it is off once the other party cancels too")
        }
        None if d.called_off_unpaid => outln!("  cancel    {}", called_off_alone(d)),
        None => {}
    }
    // A dispute is a flag beside the stage, and the next line carries the deal on: what the
    // parties can do about it is said apart (a busy shop's trial read the seller's next line,
    // unchanged by the buyer's dispute, as if the dispute had done nothing).
    if let Some(until) = d.payment_disputed_until {
        outln!("  dispute   {}", payment_disputed(d, until, now));
    } else if d.disputed {
        let id = output::short(&d.id);
        let by = d.timeline.iter().rev().find(|s| s.step == "dispute").map(|s| s.by);
        let who =
            if by == Some(Party::Me) { "you opened a dispute" } else { "the other party opened a dispute" };
        outln!(
            "  dispute   {who} (its reason is in the timeline): talk it through (haggle message {id} \"...\"), carry on with the next step, or call the deal off together (haggle cancel {id})"
        );
    }
    if d.stale {
        outln!("  note      no step for 14 days: ask the other party, or cancel together");
    }
    outln!();
    let (times, width) =
        output::time_column([d.made_at].into_iter().chain(d.timeline.iter().map(|s| s.at)), now, 0);
    outln!("  {:<width$}  deal made", times[0]);
    for (s, at) in d.timeline.iter().zip(&times[1..]) {
        let who = if s.by == Party::Me { "me  " } else { "them" };
        let details =
            s.details.as_deref().map(|t| format!("  {}", timeline_details(&s.step, t))).unwrap_or_default();
        let delivery = s.delivery.map(|d| format!(" [{d}]")).unwrap_or_default();
        // A request corrected later, or one that crossed the payment of an earlier one.
        let superseded = if s.superseded { "  (not the request in force: see pay by)" } else { "" };
        // Signed after the deal was called off, or a `received` that crossed it (a trial's
        // seller read "shipped: sent both chairs" on a deal both had cancelled).
        let void = if s.void { "  (does not count: the deal is called off)" } else { "" };
        let step = step_name(&s.step, d.listing_kind);
        outln!("  {at:<width$}  {who}  {step}{delivery}{details}{superseded}{void}");
        // Why it is not delivered yet, as under a negotiation message.
        if let Some(error) = &s.delivery_error {
            let what = if s.delivery == Some(DeliveryState::Failed) { "refused" } else { "last try" };
            outln!("  {:<width$}  {what}: {}", "", output::note(&output::clip(error, 300)));
        }
    }
    super::reputation::deal_feedback(d);
}

/// Why the seller alone called off a deal, said of `d`, cancelled so: the buyer had not said it
/// paid in time, or the payment it said it made had not come in the days after the seller's
/// dispute (`called_off_disputed`, the node's reading: a `paid` that crossed a call-off of a
/// deal left unpaid is no dispute).
pub fn called_off_alone(d: &DealView) -> String {
    let (seller, buyer) = parties(d);
    let (who, it) = if d.you_are.as_deref() == Some("seller") {
        ("you", "you")
    } else {
        (&*format!("the {seller}"), "it")
    };
    if d.called_off_disputed {
        format!(
            "called off by {who} alone: the payment the {buyer} said it made had not come {} after {it} disputed it",
            dispute_wait()
        )
    } else {
        format!(
            "called off by {who} alone: the {buyer} had not said it paid within {} of the payment request",
            pay_within()
        )
    }
}

/// The dispute line of a deal whose seller disputed the buyer's payment, which may still come
/// until `until` (unix ms): what each party can do, and when the seller may call it off alone.
fn payment_disputed(d: &DealView, until: u64, now: u64) -> String {
    let id = output::short(&d.id);
    let (seller, _) = parties(d);
    match d.you_are.as_deref() {
        Some("seller") if until <= now => format!(
            "you said the payment has not come, and {} have passed: you may call the deal off alone (haggle cancel {id}); if it has come, hand it over (haggle shipped {id})",
            dispute_wait()
        ),
        Some("seller") => format!(
            "you said the payment has not come: once it does, hand it over (haggle shipped {id}); if it has not come {}, you may call the deal off alone (haggle cancel {id})",
            output::relative(until, now)
        ),
        _ if until <= now => format!(
            "the {seller} says your payment has not come (its reason is in the timeline), and may call the deal off alone now: show it was sent (haggle message {id} \"...\")"
        ),
        _ => format!(
            "the {seller} says your payment has not come (its reason is in the timeline): send it, or show it was sent (haggle message {id} \"...\"); if it has not come {}, the {seller} may call the deal off alone",
            output::relative(until, now)
        ),
    }
}

/// A deal's two parties as its listing names them: seller and buyer, a giveaway's giver and
/// taker, a campaign's creator and backer (a trial's pledge read "waiting for the seller").
pub fn parties(d: &DealView) -> (&'static str, &'static str) {
    use haggle_protocol::Role;
    let name = |role| haggle_node::service::party_name(role, d.listing_kind);
    (name(Role::Seller), name(Role::Buyer))
}

/// The `next` line of `haggle deal`: whose step it is, with the command for it by stage and
/// side. A cancel asked for or a dispute leaves it as it is: the stage and the `cancel` line say
/// those, and the steps still carry the deal on.
fn next_step(d: &DealView) -> String {
    let id = output::short(&d.id);
    // Cash is paid as the thing is handed over; by other means the buyer says it paid before
    // it can say it received the thing.
    let cash = d.payment.as_ref().is_some_and(|p| p.method == "cash");
    let owes = d.payment.is_some() && !cash && !d.timeline.iter().any(|s| s.step == "paid");
    // The API's `waiting_on` names the party asked to agree to a cancel: the next line keeps
    // the step that carries the deal on, and the `cancel` line says the rest.
    let waiting = if d.cancel_asked_by.is_some() { stage_turn(d, cash) } else { d.waiting_on };
    // Rated, yet not finished here: only a finished deal, or one idle for 14 days, is rated, so
    // this node lost steps the ratings came after (from a trial: a seller restored from a
    // backup, holding both ratings, was told to hand over a thing the buyer had received).
    if d.steps_missing {
        return format!(
            "wait: the deal was rated, which only a finished deal can be, so this node lacks steps that came before the ratings (restored from a backup?); the other party's node gives them back when the two connect, and haggle deal {id} shows them then"
        );
    }
    if d.file.is_some() {
        return next_file_step(d, waiting, &id, owes);
    }
    // A service is work done, not a thing handed over (a trial's bike repair read "hand it
    // over or send it").
    let service = d.listing_kind == Some(haggle_node::api::types::ListingKind::Service);
    let campaign = d.listing_kind == Some(haggle_node::api::types::ListingKind::Crowdfund);
    // A rental is handed over, its keys or the thing itself (a trial's guest waited for the
    // cabin to be sent).
    let rental = d.listing_kind == Some(haggle_node::api::types::ListingKind::Rental);
    // In person (`hand`), or either way (`deliver`), and what the buyer says after. A backer
    // is owed its reward, or, without one, what the campaign promised (a trial's backer read
    // "hand it over or send it").
    let (hand, deliver, arrived) = match (service, campaign, d.reward.is_some()) {
        (true, ..) => ("do the work", "do the work", "the work is done"),
        _ if rental => ("hand it over", "hand it over (the keys, or the thing)", "it was handed over"),
        (_, true, true) => ("hand over the reward", "hand over or send the reward", "the reward arrived"),
        (_, true, false) => ("do what the campaign promised", "do what the campaign promised", "it was done"),
        _ => ("hand it over", "hand it over or send it", "it arrived"),
    };
    let (seller, buyer) = parties(d);
    match (waiting, d.stage.as_str(), d.you_are.as_deref()) {
        (Some(Party::Me), "agreed", Some("seller")) if d.terms.price.amount == 0 => {
            let then = if service { ", then say so" } else { "" };
            format!("your step: {hand}{then} (haggle shipped {id})")
        }
        (Some(Party::Me), "agreed", Some("seller")) => {
            format!("your step: say how to pay (haggle pay-request {id} ...)")
        }
        (Some(Party::Me), "payment_requested", Some("seller")) if cash => {
            format!("your step: {hand} and take the cash, then say so (haggle shipped {id})")
        }
        (Some(Party::Me), "shipped", Some("buyer")) if d.received_unpaid => format!(
            "your step: pay, then say so (haggle paid {id}): you said {arrived} before the payment request reached your node, and the deal is complete once you have paid"
        ),
        (Some(Party::Me), "shipped", Some("buyer")) if owes => {
            format!(
                "your step: pay, then say so (haggle paid {id}); then say {arrived} (haggle received {id})"
            )
        }
        // The days a payment request gives: past them the seller may call the deal off alone.
        (Some(Party::Me), "payment_requested", Some("buyer")) if let Some(by) = d.pay_by => {
            let now = output::now_ms();
            let when = if by <= now { "already".to_owned() } else { output::relative(by, now) };
            format!(
                "your step: pay, then say so (haggle paid {id}); unpaid, the deal may be called off by the {seller} alone {when}"
            )
        }
        (Some(Party::Me), "payment_requested", Some("buyer")) => {
            format!("your step: pay, then say so (haggle paid {id})")
        }
        // The seller said the payment has not come (a retrial read "hand it over" just above).
        (Some(Party::Me), "paid", Some("seller")) if d.payment_disputed_until.is_some() => {
            format!("your step, once the payment has come: {deliver}, then say so (haggle shipped {id})")
        }
        (Some(Party::Me), "paid", Some("seller")) => {
            format!("your step: {deliver}, then say so (haggle shipped {id})")
        }
        (Some(Party::Me), "shipped", Some("buyer"))
            if let Some(from) = d.receives_from(haggle_protocol::Timestamp::now()) =>
        {
            format!(
                "your step, once the booking begins on {} (UTC): say {arrived} (haggle received {id})",
                Date(from)
            )
        }
        // Shipped with no payment request: a trial's buyer completed a priced deal with no
        // word of payment anywhere on its side.
        (Some(Party::Me), "shipped", Some("buyer")) if d.payment.is_none() && d.terms.price.amount > 0 => {
            format!(
                "your step: say {arrived} (haggle received {id}); the {seller} asked for no payment in haggle, so settle it with them first if it is owed (haggle message {id}): received completes the deal"
            )
        }
        (Some(Party::Me), "shipped", Some("buyer")) => {
            format!("your step: say {arrived} (haggle received {id})")
        }
        (Some(Party::Me), ..) => "your step".to_owned(),
        (Some(Party::Them), "agreed", Some("buyer")) if d.terms.price.amount == 0 => {
            format!("waiting for the other party to {hand}")
        }
        (Some(Party::Them), "agreed", Some("buyer")) => format!("waiting for the {seller} to say how to pay"),
        (Some(Party::Them), "payment_requested", Some("buyer")) if cash => {
            format!(
                "waiting for the {seller} to {hand} (you pay in cash then, and say {arrived}: haggle received {id})"
            )
        }
        (Some(Party::Them), "shipped", Some("seller")) if d.received_unpaid => {
            format!(
                "waiting for the {buyer} to pay and say so: it said {arrived} before your payment request reached its node, and the deal is complete once it has paid"
            )
        }
        (Some(Party::Them), "shipped", Some("seller")) if owes => {
            format!("waiting for the {buyer} to pay and say so, then to say {arrived}")
        }
        (Some(Party::Them), "payment_requested", Some("seller")) if let Some(by) = d.pay_by => {
            let now = output::now_ms();
            if by > now {
                format!(
                    "waiting for the {buyer} to pay and say so; if it has not {}, you may call the deal off alone (haggle cancel {id})",
                    output::relative(by, now)
                )
            } else {
                format!(
                    "waiting for the {buyer} to pay and say so; it has not within {} of your request, so you may call the deal off alone (haggle cancel {id})",
                    pay_within()
                )
            }
        }
        (Some(Party::Them), "payment_requested", Some("seller")) => {
            format!("waiting for the {buyer} to pay and say so")
        }
        (Some(Party::Them), "paid", Some("buyer")) => {
            format!("waiting for the {seller} to {deliver}")
        }
        (Some(Party::Them), "shipped", Some("seller")) => {
            format!("waiting for the {buyer} to say {arrived}")
        }
        (Some(Party::Them), ..) => "waiting for the other party".to_owned(),
        (None, ..) => over(d, &id),
    }
}

/// The `next` line of a deal that is over: for one called off after the buyer said it paid, a
/// refund is the parties' to settle, and the line says so.
fn over(d: &DealView, id: &str) -> String {
    let paid = d.timeline.iter().any(|s| s.step == "paid");
    match (d.stage.as_str(), d.you_are.as_deref()) {
        ("cancelled", Some("buyer")) if paid => format!(
            "nothing in haggle: you said you paid ({}) before it was called off; a refund is between you and the seller (haggle message {id})",
            d.terms.price.display
        ),
        ("cancelled", _) if paid => format!(
            "nothing in haggle: the buyer said it paid ({}) before it was called off; a refund, if one is owed, is between you (haggle message {id})",
            d.terms.price.display
        ),
        _ => "nothing: the deal is over".to_owned(),
    }
}

/// Whose step carries the deal on at its stage, as if no cancel had been asked for: the seller's
/// at `agreed` and `paid` (and at `payment_requested` in cash, but for a digital good, whose
/// key follows the payment), the buyer's otherwise.
fn stage_turn(d: &DealView, cash: bool) -> Option<Party> {
    let sellers = match d.stage.as_str() {
        "agreed" | "paid" => true,
        "payment_requested" => cash && d.file.is_none(),
        "shipped" => false,
        _ => return None,
    };
    let seller = d.you_are.as_deref() == Some("seller");
    Some(if sellers == seller { Party::Me } else { Party::Them })
}

/// [`next_step`] for a digital good: the seller's node hands the key over (by itself once the
/// buyer says it paid, unless set to wait for `haggle deliver`), and the buyer downloads the
/// file before saying it arrived.
fn next_file_step(d: &DealView, waiting: Option<Party>, id: &str, owes: bool) -> String {
    match (waiting, d.stage.as_str(), d.you_are.as_deref()) {
        (Some(Party::Me), "agreed", Some("seller")) => {
            format!(
                "your step: say how to pay (haggle pay-request {id} ...), or hand the key over now (haggle deliver {id})"
            )
        }
        (Some(Party::Me), "payment_requested" | "paid", Some("seller")) => {
            format!("your step: hand the key over (haggle deliver {id})")
        }
        (Some(Party::Me), "payment_requested", Some("buyer")) => {
            format!(
                "your step: pay, then say so (haggle paid {id}); the seller's node then hands the key over"
            )
        }
        (Some(Party::Me), "shipped", Some("buyer")) if d.received_unpaid => format!(
            "your step: pay, then say so (haggle paid {id}): you said it arrived before the payment request reached your node, and the deal is complete once you have paid"
        ),
        (Some(Party::Me), "shipped", Some("buyer")) if owes => format!(
            "your step: pay, then say so (haggle paid {id}); download it (haggle download {id}) and say it arrived (haggle received {id})"
        ),
        (Some(Party::Me), "shipped", Some("buyer")) => {
            format!(
                "your step: download it (haggle download {id}), then say it arrived (haggle received {id})"
            )
        }
        (Some(Party::Me), ..) => "your step".to_owned(),
        (Some(Party::Them), "agreed", Some("buyer")) => "waiting for the seller to say how to pay".to_owned(),
        (Some(Party::Them), "payment_requested", Some("seller")) => {
            "waiting for the buyer to pay and say so; your node then hands the key over".to_owned()
        }
        (Some(Party::Them), "paid", Some("buyer")) => {
            "waiting for the seller's node to hand the key over".to_owned()
        }
        (Some(Party::Them), "shipped", Some("seller")) if d.received_unpaid => {
            "waiting for the buyer to pay and say so: it said it arrived before your payment request reached its node, and the deal is complete once it has paid".to_owned()
        }
        (Some(Party::Them), "shipped", Some("seller")) if owes => {
            "waiting for the buyer to pay and say so, then to say it arrived".to_owned()
        }
        (Some(Party::Them), "shipped", Some("seller")) => {
            "waiting for the buyer to download it and say it arrived".to_owned()
        }
        (Some(Party::Them), ..) => "waiting for the other party".to_owned(),
        (None, ..) => over(d, id),
    }
}

/// How the seller asked to be paid, in a line: `iban: BE71 ...`, `cash ...`, and a bitcoin URI as
/// it is (it names its method itself: `bitcoin: bitcoin:bc1q...` read it twice).
fn pay_by(p: &haggle_node::api::types::PaymentView) -> String {
    let said = if p.method == "cash" || p.details.starts_with(&format!("{}:", p.method)) {
        p.details.clone()
    } else {
        format!("{}: {}", p.method, p.details)
    };
    // What a Lightning invoice asks, which its text hides (a trial's buyer was never shown
    // the amount of an invoice for a 70 EUR deal).
    if p.method != "lightning" {
        return said;
    }
    use haggle_protocol::payment::InvoiceAmount;
    match haggle_protocol::payment::invoice_amount(&p.details) {
        InvoiceAmount::Msat(msat) if msat.is_multiple_of(1_000) => {
            let sat = msat / 1_000;
            format!("{said} (the invoice asks {sat} sat, {}.{:08} BTC)", sat / 100_000_000, sat % 100_000_000)
        }
        InvoiceAmount::Msat(msat) => format!("{said} (the invoice asks {msat} millisatoshi)"),
        InvoiceAmount::Any => format!("{said} (the invoice names no amount: you choose what to pay)"),
        InvoiceAmount::Unreadable => {
            format!("{said} (its amount cannot be read: check what your wallet says it asks before paying)")
        }
    }
}

/// An amount in the deal's currency that a payment request's own words name and that is not
/// the deal's (`Pay 900 EUR by gift card` on a deal for 430.00 EUR), as written with its code
/// (from a trial: a dodgy seller's request named another sum, and nothing said so). A number
/// next to the currency's code, or its sign for the common ones.
fn other_amount(text: &str, price: &haggle_node::api::types::PriceView) -> Option<String> {
    let code = price.currency.as_str();
    let sign = match code {
        "EUR" => Some("€"),
        "USD" => Some("$"),
        "GBP" => Some("£"),
        "JPY" | "CNY" => Some("¥"),
        "INR" => Some("₹"),
        _ => None,
    };
    let per = price.currency.minor_per_major();
    let upper = text.to_uppercase();
    let marks: Vec<(usize, usize)> = upper
        .match_indices(code)
        .map(|(at, m)| (at, at + m.len()))
        .chain(sign.into_iter().flat_map(|s| upper.match_indices(s).map(|(at, m)| (at, at + m.len()))))
        .collect();
    for (start, end) in marks {
        let numeric = |c: char| c.is_ascii_digit() || c == '.' || c == ',';
        let before = upper[..start].trim_end();
        let number_before = &before[before.trim_end_matches(numeric).len()..];
        let after = upper[end..].trim_start();
        let number_after = &after[..after.len() - after.trim_start_matches(numeric).len()];
        for written in [number_before, number_after] {
            let Some(minor) = minor_units(written, per) else { continue };
            if minor != price.amount {
                return Some(format!("{} {code}", written.trim_end_matches(['.', ','])));
            }
        }
    }
    None
}

/// `written` (digits, with `.` or `,` between thousands or before the decimals) in minor units
/// of a currency with `per` of them to the major unit; `None` if it is no number.
fn minor_units(written: &str, per: u64) -> Option<u64> {
    let written = written.trim_matches(['.', ',']);
    if written.is_empty() || !written.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    // The last separator followed by one or two digits (or as many as the currency has)
    // marks the decimals; any other is between thousands.
    let decimals = per.ilog10() as usize;
    let (whole, fraction) = match written.rfind(['.', ',']) {
        Some(at) if (1..=decimals.max(2)).contains(&(written.len() - at - 1)) => {
            (&written[..at], &written[at + 1..])
        }
        _ => (written, ""),
    };
    let whole: String = whole.chars().filter(char::is_ascii_digit).collect();
    let whole: u64 = whole.parse().ok()?;
    let mut fraction = fraction.to_owned();
    while fraction.len() < decimals {
        fraction.push('0');
    }
    let fraction: u64 = if fraction.is_empty() { 0 } else { fraction.get(..decimals)?.parse().ok()? };
    whole.checked_mul(per)?.checked_add(fraction)
}

/// A step's details as the timeline shows them: a Lightning invoice (up to 7,089 characters) is
/// cut to its start (a trial's timeline printed it on every line); `pay by` shows the request in
/// force whole, and `--json` every one.
fn timeline_details(step: &str, details: &str) -> String {
    use haggle_protocol::payment::{InvoiceAmount, invoice_amount};
    let invoice = step == "payment_request"
        && details.len() > 40
        && details.is_ascii()
        && invoice_amount(details) != InvoiceAmount::Unreadable;
    if invoice { format!("{}…", &details[..32]) } else { details.to_owned() }
}

/// A deal view for tests: 1.00 EUR for one, at `stage`, a cancel asked by `cancel_asked_by`.
#[cfg(test)]
pub(crate) fn sample_deal(stage: &str, cancel_asked_by: Option<Party>) -> DealView {
    let id = haggle_protocol::ObjectId::from_bytes([7; 32]);
    let price = haggle_node::api::types::PriceView {
        amount: 100,
        currency: "EUR".parse().expect("a currency"),
        per: None,
        decimals: Some(2),
        display: "1.00 EUR".into(),
    };
    DealView {
        id,
        notes: 0,
        notes_unread: 0,
        thread: id,
        listing: id,
        current_listing: None,
        listing_changed: Vec::new(),
        you_are: None,
        blocked: false,
        listing_kind: None,
        title: None,
        seller: haggle_protocol::fixtures::key(1).public(),
        buyer: haggle_protocol::fixtures::key(2).public(),
        terms: haggle_node::api::types::TermsView {
            quantity: 1,
            price,
            expires_at: 0,
            dates: None,
            unit: None,
        },
        made_at: 0,
        signed: String::new(),
        stage: stage.into(),
        waiting_on: None,
        payment: None,
        disputed: false,
        cancel_asked_by,
        stale: false,
        pay_by: None,
        payment_disputed_until: None,
        called_off_unpaid: false,
        called_off_disputed: false,
        received_unpaid: false,
        steps_missing: false,
        timeline: Vec::new(),
        feedback: Vec::new(),
        may_rate: false,
        file: None,
        file_key: false,
        reward: None,
        said: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    /// From a trial: a dodgy seller's `other` request named 900 EUR on a deal for 430 EUR, and
    /// the buyer's deal view said nothing of it.
    #[test]
    fn a_request_that_names_another_sum_is_told() {
        let price = |amount: u64, code: &str| haggle_node::api::types::PriceView {
            amount,
            currency: code.parse().expect("a currency"),
            per: None,
            decimals: None,
            display: String::new(),
        };
        let deal = price(43_000, "EUR");
        let named = |text: &str| super::other_amount(text, &deal);
        assert_eq!(named("Pay 900 EUR by gift card (Hannah's account)").as_deref(), Some("900 EUR"));
        assert_eq!(named("€ 1.200,50 to my PayPal").as_deref(), Some("1.200,50 EUR"));
        for same in ["Pay 430 EUR by PayPal", "430,00 € please", "eur 430.00", "Europe only, 430 EUR"] {
            assert_eq!(named(same), None, "{same}");
        }
        assert_eq!(named("PayPal to anna@example.org, 3 days"), None, "no amount named");
        assert_eq!(super::other_amount("Pay 45 USD", &deal), None, "another currency is not this one");
        assert_eq!(super::minor_units("1,200", 100), Some(120_000));
        assert_eq!(super::minor_units("12.5", 100), Some(1_250));
        assert_eq!(super::minor_units("3000", 1), Some(3_000));
    }

    /// Defect (found in a trial): a bitcoin request read `pay by    bitcoin: bitcoin:bc1q...`.
    #[test]
    fn a_bitcoin_uri_is_not_named_twice() {
        let p = |method: &str, details: &str| {
            super::pay_by(&haggle_node::api::types::PaymentView {
                method: method.into(),
                details: details.into(),
                iban: None,
                reference: None,
            })
        };
        assert_eq!(p("bitcoin", "bitcoin:bc1qar0srrr7"), "bitcoin:bc1qar0srrr7");
        assert_eq!(p("iban", "BE71 0961 2345 6769"), "iban: BE71 0961 2345 6769");
        // An invoice's amount is said; one without asks the payer to choose.
        assert!(
            p("lightning", "lnbc1100u1p43d262").ends_with("(the invoice asks 110000 sat, 0.00110000 BTC)")
        );
        assert!(
            p("lightning", "lnbc1p43d262").ends_with("(the invoice names no amount: you choose what to pay)")
        );
        assert!(
            p("lightning", "lnbc15p1p43d262")
                .ends_with("(its amount cannot be read: check what your wallet says it asks before paying)")
        );
        let invoice = format!("lnbc1100u1{}", "q".repeat(200));
        let cut = super::timeline_details("payment_request", &invoice);
        assert!(cut.starts_with("lnbc1100u1qq") && cut.ends_with('…') && cut.len() < 40, "{cut}");
        // Text of another method that starts with "ln" is not an invoice (from a review).
        let lnurl = format!("LNURL1{}", "x".repeat(60));
        assert_eq!(super::timeline_details("payment_request", &lnurl), lnurl);
        assert_eq!(super::timeline_details("paid", "transfer 1 Dec"), "transfer 1 Dec");
    }

    use super::*;

    fn deal(stage: &str, cancel_asked_by: Option<Party>) -> DealView {
        super::sample_deal(stage, cancel_asked_by)
    }

    /// A payment asked in cash.
    fn cash() -> haggle_node::api::types::PaymentView {
        haggle_node::api::types::PaymentView {
            method: "cash".into(),
            details: String::new(),
            iban: None,
            reference: None,
        }
    }

    /// Defect: a party's `cancel` was invisible to the other but for a timeline line; the
    /// stage says a cancel was asked until both have (or the deal completed: the node's
    /// `cancel_asked_by`, tested with the deal's state in the protocol).
    #[test]
    fn a_cancel_asked_by_one_party_shows_in_the_stage() {
        assert_eq!(stage(&deal("payment_requested", Some(Party::Them))), "payment requested, cancel asked");
        assert_eq!(stage(&deal("agreed", Some(Party::Me))), "agreed, cancel asked");
        assert_eq!(stage(&deal("paid", None)), "paid");
        // A service's work is done, not shipped (found in a trial).
        let done = DealView {
            listing_kind: Some(haggle_node::api::types::ListingKind::Service),
            ..deal("shipped", None)
        };
        assert_eq!(stage(&done), "work done");
        // The timeline and watch name the step the same way.
        let service = Some(haggle_node::api::types::ListingKind::Service);
        assert_eq!(step_name("shipped", service), "work done");
        assert_eq!(step_name("shipped", None), "shipped");
        assert_eq!(step_name("shipped", Some(haggle_node::api::types::ListingKind::Crowdfund)), "delivered");
        assert_eq!(step_name("shipped", Some(ListingKind::Giveaway)), "handed over");
        assert_eq!(step_name("shipped", Some(ListingKind::Rental)), "handed over");
        assert_eq!(step_name("payment_request", service), "payment request");
    }

    /// Defect: a cancel asked for or a dispute took the command out of the `next` line (`your
    /// step`, with no word of which), just when the deal needed attention.
    #[test]
    fn the_next_step_names_its_command_through_a_cancel_asked_or_a_dispute() {
        let id = output::short(&deal("shipped", None).id);
        let at = |stage: &str, you: &str, waiting: Party, cancel: Option<Party>, disputed: bool| {
            let d = DealView {
                you_are: Some(you.into()),
                waiting_on: Some(waiting),
                disputed,
                // Shipped after a payment request in cash: paid as it was handed over.
                payment: (stage == "shipped").then(cash),
                ..deal(stage, cancel)
            };
            next_step(&d)
        };
        let received = format!("your step: say it arrived (haggle received {id})");
        for (cancel, disputed) in
            [(None, false), (None, true), (Some(Party::Them), false), (Some(Party::Me), true)]
        {
            assert_eq!(
                at("shipped", "buyer", Party::Me, cancel, disputed),
                received,
                "{cancel:?} {disputed}"
            );
        }
        assert_eq!(
            at("shipped", "seller", Party::Them, Some(Party::Me), false),
            "waiting for the buyer to say it arrived"
        );
        // The list's NEXT says the answer it waits for is to the cancel.
        let asked = DealView { waiting_on: Some(Party::Them), ..deal("agreed", Some(Party::Me)) };
        assert_eq!(next(&asked), "them (cancel)");
        assert_eq!(next(&DealView { waiting_on: Some(Party::Me), ..deal("agreed", None) }), "you");
        // Found in a trial: shipped with no payment request, the buyer was told nothing of it.
        let unasked = DealView {
            you_are: Some("buyer".into()),
            waiting_on: Some(Party::Me),
            payment: None,
            ..deal("shipped", None)
        };
        assert!(
            next_step(&unasked).ends_with(&format!(
                "the seller asked for no payment in haggle, so settle it with them first if it is owed (haggle message {id}): received completes the deal"
            )),
            "{}",
            next_step(&unasked)
        );
        // Defect: a giveaway's giver read "waiting for the buyer".
        let given = DealView {
            you_are: Some("seller".into()),
            waiting_on: Some(Party::Them),
            listing_kind: Some(haggle_node::api::types::ListingKind::Giveaway),
            ..deal("shipped", None)
        };
        assert_eq!(next_step(&given), "waiting for the taker to say it arrived");
        // Defect (found in a trial): a bike repair's buyer read "waiting for the seller to hand
        // it over or send it".
        let service = |stage: &str, you: &str, waiting: Party| {
            next_step(&DealView {
                you_are: Some(you.into()),
                waiting_on: Some(waiting),
                listing_kind: Some(haggle_node::api::types::ListingKind::Service),
                payment: Some(cash()),
                ..deal(stage, None)
            })
        };
        assert_eq!(service("paid", "buyer", Party::Them), "waiting for the seller to do the work");
        assert_eq!(
            service("paid", "seller", Party::Me),
            format!("your step: do the work, then say so (haggle shipped {id})")
        );
        assert_eq!(
            service("shipped", "buyer", Party::Me),
            format!("your step: say the work is done (haggle received {id})")
        );
        // The days a payment request gives, said to both (a trial's stranger booked a whole
        // calendar and never paid).
        let unpaid = |you: &str, waiting: Party, by: u64| {
            next_step(&DealView {
                you_are: Some(you.into()),
                waiting_on: Some(waiting),
                pay_by: Some(by),
                ..deal("payment_requested", None)
            })
        };
        let soon = output::now_ms() + 3 * 86_400_000;
        assert_eq!(
            unpaid("buyer", Party::Me, soon),
            format!(
                "your step: pay, then say so (haggle paid {id}); unpaid, the deal may be called off by the seller alone in 3 days"
            )
        );
        assert_eq!(
            unpaid("seller", Party::Them, soon),
            format!(
                "waiting for the buyer to pay and say so; if it has not in 3 days, you may call the deal off alone (haggle cancel {id})"
            )
        );
        let lapsed = DealView {
            you_are: Some("seller".into()),
            waiting_on: Some(Party::Them),
            pay_by: Some(1),
            ..deal("payment_requested", None)
        };
        assert_eq!(next(&lapsed), "you (may cancel)", "the seller's move once the days are over");
        assert!(unpaid("seller", Party::Them, 1).ends_with("it has not within 3 days of your request, so you may call the deal off alone (haggle cancel {id})".replace("{id}", &id).as_str()));
        // A payment the seller disputed: the days it may still come, said to both, then the
        // seller's move; once called off, why (the buyer's `paid` stands, void).
        let disputed = |you: &str, until: u64| {
            let d = DealView {
                you_are: Some(you.into()),
                waiting_on: Some(if you == "seller" { Party::Me } else { Party::Them }),
                payment_disputed_until: Some(until),
                ..deal("paid", None)
            };
            (payment_disputed(&d, until, output::now_ms()), next(&d))
        };
        let week = output::now_ms() + 7 * 86_400_000;
        assert_eq!(
            disputed("seller", week),
            (
                format!(
                    "you said the payment has not come: once it does, hand it over (haggle shipped {id}); if it has not come in 7 days, you may call the deal off alone (haggle cancel {id})"
                ),
                "you".to_owned()
            )
        );
        assert_eq!(
            disputed("buyer", week).0,
            format!(
                "the seller says your payment has not come (its reason is in the timeline): send it, or show it was sent (haggle message {id} \"...\"); if it has not come in 7 days, the seller may call the deal off alone"
            )
        );
        let waiting = DealView {
            you_are: Some("seller".into()),
            waiting_on: Some(Party::Me),
            payment_disputed_until: Some(week),
            ..deal("paid", None)
        };
        assert!(
            next_step(&waiting).starts_with("your step, once the payment has come: "),
            "{}",
            next_step(&waiting)
        );
        let (line, next_col) = disputed("seller", 1);
        assert!(line.contains("7 days have passed: you may call the deal off alone"), "{line}");
        assert_eq!(next_col, "you (may cancel)");
        let paid_step = haggle_node::api::types::StepView {
            id: haggle_protocol::ObjectId::from_bytes([8; 32]),
            by: Party::Me,
            step: "paid".into(),
            details: None,
            at: 0,
            delivery: None,
            delivery_error: None,
            superseded: false,
            void: true,
        };
        let off = DealView {
            you_are: Some("buyer".into()),
            called_off_unpaid: true,
            called_off_disputed: true,
            timeline: vec![paid_step],
            ..deal("cancelled", None)
        };
        // A `paid` that crossed a call-off of a deal left unpaid is no dispute (a review).
        let crossed = DealView { called_off_disputed: false, ..off.clone() };
        assert!(
            called_off_alone(&crossed).ends_with("had not said it paid within 3 days of the payment request")
        );
        assert_eq!(
            called_off_alone(&off),
            "called off by the seller alone: the payment the buyer said it made had not come 7 days after it disputed it"
        );
        // A rental's owner hands it over to its renter (a trial's guest waited for the seller
        // to send the cabin).
        let rental = |stage: &str, you: &str, waiting: Party| {
            next_step(&DealView {
                you_are: Some(you.into()),
                waiting_on: Some(waiting),
                listing_kind: Some(haggle_node::api::types::ListingKind::Rental),
                ..deal(stage, None)
            })
        };
        assert_eq!(
            rental("paid", "buyer", Party::Them),
            "waiting for the owner to hand it over (the keys, or the thing)"
        );
        assert_eq!(
            rental("paid", "seller", Party::Me),
            format!("your step: hand it over (the keys, or the thing), then say so (haggle shipped {id})")
        );
        assert_eq!(
            rental("shipped", "seller", Party::Them),
            "waiting for the renter to say it was handed over"
        );
        // Handed over ahead of the stay: the renter's step waits for its first day (a retrial's
        // guest was told to say received, refused, and counted it as its move).
        let today = haggle_protocol::calendar::day_of(haggle_protocol::Timestamp::now());
        let ahead = DealView {
            you_are: Some("buyer".into()),
            waiting_on: Some(Party::Me),
            listing_kind: Some(haggle_node::api::types::ListingKind::Rental),
            terms: haggle_node::api::types::TermsView {
                dates: Some(format!("{}..{}", Date(today + 5), Date(today + 8))),
                ..deal("shipped", None).terms
            },
            ..deal("shipped", None)
        };
        assert_eq!(
            next_step(&ahead),
            format!(
                "your step, once the booking begins on {} (UTC): say it was handed over (haggle received {id})",
                Date(today + 5)
            )
        );
        let day = Date(today + 5).to_string();
        assert_eq!(next(&ahead), format!("you, from {}", &day[5..]));
        // A pledge's parties are the creator and the backer, owed the reward or what the
        // campaign promised (a trial's backer read "waiting for the seller to hand it over").
        let pledge = |stage: &str, you: &str, waiting: Party, reward: Option<&str>| {
            next_step(&DealView {
                you_are: Some(you.into()),
                waiting_on: Some(waiting),
                listing_kind: Some(haggle_node::api::types::ListingKind::Crowdfund),
                reward: reward.map(str::to_owned),
                ..deal(stage, None)
            })
        };
        assert_eq!(pledge("agreed", "buyer", Party::Them, None), "waiting for the creator to say how to pay");
        assert_eq!(
            pledge("paid", "buyer", Party::Them, Some("Veg box")),
            "waiting for the creator to hand over or send the reward"
        );
        assert_eq!(
            pledge("paid", "buyer", Party::Them, None),
            "waiting for the creator to do what the campaign promised"
        );
        assert_eq!(
            pledge("shipped", "seller", Party::Them, Some("Veg box")),
            "waiting for the backer to say the reward arrived"
        );
        let campaign = DealView {
            listing_kind: Some(haggle_node::api::types::ListingKind::Crowdfund),
            ..deal("paid", None)
        };
        assert_eq!(parties(&campaign), ("creator", "backer"));
        assert!(at("agreed", "seller", Party::Me, None, true).contains(&format!("haggle pay-request {id}")));
        // As the node answers: a cancel asked for makes `waiting_on` the party asked to agree.
        // The buyer who asked still owes the payment; the seller waits for it.
        assert_eq!(
            at("payment_requested", "buyer", Party::Them, Some(Party::Me), false),
            format!("your step: pay, then say so (haggle paid {id})")
        );
        assert_eq!(
            at("payment_requested", "seller", Party::Me, Some(Party::Them), false),
            "waiting for the buyer to pay and say so"
        );
    }

    /// Found in a trial: a deal called off after the buyer said it paid read "nothing: the deal
    /// is over", with not a word of the money.
    /// From a trial: a seller restored from a backup taken at `paid` held both ratings of the
    /// finished deal, and was told to hand the thing over; it is told it lacks steps instead.
    #[test]
    fn a_rated_deal_not_finished_here_says_steps_are_missing() {
        let key = haggle_protocol::fixtures::key(1).public();
        let rating = haggle_node::api::types::FeedbackView {
            id: haggle_protocol::ObjectId::from_bytes([9; 32]),
            deal: haggle_protocol::ObjectId::from_bytes([7; 32]),
            author: key,
            subject: key,
            rating: "positive".into(),
            text: String::new(),
            made_at: 0,
            weight: 1.0,
            rated_at: 0,
            superseded: false,
            mine: false,
            about_me: true,
            role: None,
        };
        let d =
            DealView { you_are: Some("seller".into()), waiting_on: Some(Party::Me), ..deal("paid", None) };
        assert!(!next_step(&d).starts_with("wait:"), "{}", next_step(&d));
        let rated = DealView { feedback: vec![rating], steps_missing: true, ..d };
        assert!(next_step(&rated).starts_with("wait: the deal was rated"), "{}", next_step(&rated));
    }

    /// From a trial: a step the other node could not place read `[queued]` for minutes, with
    /// no word of why; the last try's answer is under it, as under a negotiation message.
    #[test]
    fn a_steps_last_try_is_said_under_it() {
        let step = haggle_node::api::types::StepView {
            id: haggle_protocol::ObjectId::from_bytes([8; 32]),
            by: Party::Me,
            step: "shipped".into(),
            details: None,
            at: output::now_ms(),
            delivery: Some(DeliveryState::Queued),
            delivery_error: Some("the other node holds no such deal".into()),
            superseded: false,
            void: false,
        };
        let d = DealView { timeline: vec![step], ..deal("shipped", None) };
        let api = haggle_node::ApiClient::new("http://127.0.0.1:9", "unused");
        let said = output::captured(|| print(&api, &d));
        let line = said.lines().find(|l| l.contains("shipped [queued]")).unwrap_or_else(|| panic!("{said}"));
        let under = said.lines().find(|l| l.contains("last try: the other node holds no such deal"));
        let under = under.unwrap_or_else(|| panic!("{said}"));
        assert_eq!(under.find("last try"), line.find("me "), "{said}");
    }

    #[test]
    fn a_deal_called_off_after_paid_says_a_refund_is_between_the_parties() {
        let id = output::short(&deal("cancelled", None).id);
        let step = |step: &str| haggle_node::api::types::StepView {
            id: haggle_protocol::ObjectId::from_bytes([8; 32]),
            by: Party::Them,
            step: step.into(),
            details: None,
            at: 0,
            delivery: None,
            delivery_error: None,
            superseded: false,
            void: false,
        };
        let at = |you: &str, paid: bool| {
            let timeline =
                if paid { vec![step("payment_request"), step("paid")] } else { vec![step("cancel")] };
            next_step(&DealView { you_are: Some(you.into()), timeline, ..deal("cancelled", None) })
        };
        assert_eq!(
            at("buyer", true),
            format!(
                "nothing in haggle: you said you paid (1.00 EUR) before it was called off; a refund is between you and the seller (haggle message {id})"
            )
        );
        assert!(at("seller", true).starts_with("nothing in haggle: the buyer said it paid (1.00 EUR)"));
        assert_eq!(at("buyer", false), "nothing: the deal is over");
    }

    /// Defect (found in a trial): a buyer whose `received` overtook the payment request was left
    /// reading `then say it arrived`, which it had; each side now reads why the deal waits.
    #[test]
    fn a_received_that_overtook_the_payment_request_says_the_payment_is_what_is_left() {
        let id = output::short(&deal("shipped", None).id);
        let at = |you: &str, waiting: Party| {
            let d = DealView {
                you_are: Some(you.into()),
                waiting_on: Some(waiting),
                received_unpaid: true,
                ..deal("shipped", None)
            };
            next_step(&d)
        };
        assert_eq!(
            at("buyer", Party::Me),
            format!(
                "your step: pay, then say so (haggle paid {id}): you said it arrived before the payment request reached your node, and the deal is complete once you have paid"
            )
        );
        assert!(at("seller", Party::Them).starts_with("waiting for the buyer to pay and say so: it said it arrived before your payment request reached its node"));
    }

    /// Defect: a digital good's deal read a bare `your step` for the buyer and `waiting for the
    /// other party` for the seller: its next line named no command (download, deliver).
    #[test]
    fn a_digital_goods_next_step_names_download_and_deliver() {
        use haggle_protocol::blob::{BlobHash, DigitalFile};

        let id = output::short(&deal("shipped", None).id);
        let hash = BlobHash::of(b"a book");
        let file = DigitalFile { name: "book.pdf".into(), hash, size: 6, sealed: hash, preview: None };
        let at = |stage: &str, you: &str, waiting: Party| {
            let d = DealView {
                you_are: Some(you.into()),
                waiting_on: Some(waiting),
                file: Some(file.clone()),
                ..deal(stage, None)
            };
            next_step(&d)
        };
        assert_eq!(
            at("shipped", "buyer", Party::Me),
            format!(
                "your step: download it (haggle download {id}), then say it arrived (haggle received {id})"
            )
        );
        assert!(at("payment_requested", "buyer", Party::Me).contains(&format!("(haggle paid {id})")));
        assert!(at("agreed", "seller", Party::Me).contains(&format!("haggle deliver {id}")));
        assert!(at("paid", "seller", Party::Me).contains(&format!("haggle deliver {id}")));
        assert_eq!(
            at("payment_requested", "seller", Party::Them),
            "waiting for the buyer to pay and say so; your node then hands the key over"
        );
        assert_eq!(at("paid", "buyer", Party::Them), "waiting for the seller's node to hand the key over");
    }
}
