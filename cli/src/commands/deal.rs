//! `haggle deal`, `pay-request`, `paid`, `shipped`, `received`, `cancel` and `dispute`: a deal
//! after the handshake.

use anyhow::Result;

use haggle_node::ClientError;
use haggle_node::api::types::{DealView, Party, StepRequest};

use super::Context;
use crate::args::PayRequestArgs;
use crate::output;

/// A deal not found is most often the id of a listing, or of an offer that made no deal (yet),
/// or a deal of other people's: the error says where the user's deals are.
pub fn no_such_deal(e: ClientError) -> anyhow::Error {
    match e.code() {
        Some(haggle_node::ErrorCode::NotFound) => {
            anyhow::anyhow!(
                "{e}: give the id of one of your deals (haggle deals lists them); a listing, or an offer that has not become a deal, has none"
            )
        }
        _ => e.into(),
    }
}

pub fn show(cx: &Context<'_>, deal: &str) -> Result<()> {
    let view = cx.api.deal(deal)?;
    if cx.json {
        return output::json(&view);
    }
    print(&view);
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

pub fn step(cx: &Context<'_>, deal: &str, request: StepRequest) -> Result<()> {
    let view = cx.api.deal_step(deal, &request).map_err(no_such_deal)?;
    if cx.json {
        return output::json(&view);
    }
    outln!("Signed and saved: it goes to the other party now, or as soon as their node is reachable.");
    print(&view);
    Ok(())
}

/// The deal's stage, with the flags that matter ("shipped, disputed").
pub fn stage(d: &DealView) -> String {
    let mut s = d.stage.replace('_', " ");
    if d.disputed {
        s.push_str(", disputed");
    }
    if d.stale {
        s.push_str(", stale");
    }
    s
}

/// Whose step it is, as the NEXT column says it.
pub fn next(d: &DealView) -> String {
    match d.waiting_on {
        Some(Party::Me) => "you".to_owned(),
        Some(Party::Them) => "them".to_owned(),
        None if d.may_rate => "rate it".to_owned(),
        None => "-".to_owned(),
    }
}

pub fn print(d: &DealView) {
    let now = output::now_ms();
    outln!("{}", output::bold(&format!("Deal {}  [{}]", output::short(&d.id), stage(d))));
    outln!("  listing   {} ({})", d.title.clone().unwrap_or_default(), output::short(&d.listing));
    outln!("  terms     {}", output::terms(&d.terms));
    outln!("  seller    {}", d.seller);
    outln!("  buyer     {}", d.buyer);
    match &d.payment {
        Some(p) if p.method == "cash" => outln!("  pay by    {}", p.details),
        Some(p) => outln!("  pay by    {}: {}", p.method, p.details),
        None => {}
    }
    let next = match d.waiting_on {
        Some(Party::Me) => "your step",
        Some(Party::Them) => "waiting for the other party",
        None => "nothing: the deal is over",
    };
    outln!("  next      {next}");
    if let Some(file) = &d.file {
        let size = output::bytes(file.size);
        if d.file_key {
            outln!(
                "  file      {} ({size}): key handed over; the buyer saves it with haggle download {} --out {}",
                file.name,
                output::short(&d.id),
                file.name
            );
        } else {
            outln!(
                "  file      {} ({size}): key not handed over yet (the seller's node does once paid, unless it is set to wait for haggle deliver)",
                file.name
            );
        }
    }
    if d.stale {
        outln!("  note      no step for 14 days: ask the other party, or cancel together");
    }
    outln!();
    outln!("  {}  deal made", output::relative(d.made_at, now));
    for s in &d.timeline {
        let who = if s.by == Party::Me { "me  " } else { "them" };
        let details = s.details.as_deref().map(|t| format!("  {t}")).unwrap_or_default();
        outln!("  {}  {who}  {}{details}", output::relative(s.at, now), s.step.replace('_', " "));
    }
    super::reputation::deal_feedback(d);
}
