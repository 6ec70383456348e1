//! `haggle feedback` and `haggle reputation`: rating a deal, and what the feedback this node
//! holds says of someone.

use anyhow::Result;

use haggle_node::api::types::{DealView, FeedbackRequest, Rating, ReputationBrief, ReputationView};

use super::Context;
use crate::output;

pub fn feedback(cx: &Context<'_>, deal: &str, rating: Rating, text: String) -> Result<()> {
    let view = cx.api.feedback(deal, &FeedbackRequest { rating: rating.name().to_owned(), text })?;
    if cx.json {
        return output::json(&view);
    }
    outln!("Rated {} {}: signed, saved and sent to the network.", output::short(&view.id), rating.name());
    super::deal::print(&view);
    Ok(())
}

pub fn show(cx: &Context<'_>, who: &str) -> Result<()> {
    let r = cx.api.reputation(who)?;
    if cx.json {
        return output::json(&r);
    }
    print(&r);
    Ok(())
}

/// The parties' feedback at the end of `haggle deal`, and whether the owner may rate it now.
pub fn deal_feedback(d: &DealView) {
    for f in &d.feedback {
        let who = if f.mine { "me  " } else { "them" };
        let text = if f.text.is_empty() { String::new() } else { format!("  \"{}\"", f.text) };
        outln!("  feedback  {who}  {}{text}", f.rating);
    }
    if d.may_rate {
        outln!(
            "  rate it   haggle feedback {} positive|neutral|negative --text \"...\"",
            output::short(&d.id)
        );
    }
}

/// A reputation in a few characters, for tables: `✓ 12+ 1-`, `3+ 0-`, or `new`.
pub fn brief(r: Option<&ReputationBrief>) -> String {
    let Some(r) = r else { return "-".to_owned() };
    if r.positive + r.neutral + r.negative == 0 {
        return "new".to_owned();
    }
    let mark = if r.trusted { "✓ " } else { "" };
    format!("{mark}{}+ {}-", r.positive, r.negative)
}

/// A reputation in a sentence, for `haggle show`.
pub fn sentence(r: &ReputationBrief) -> String {
    let raters = r.positive + r.neutral + r.negative;
    if raters == 0 {
        return "no feedback yet".to_owned();
    }
    let trust = if r.trusted {
        "trusted".to_owned()
    } else {
        "not trusted: few of the raters are people your trades vouch for".to_owned()
    };
    let counterparties =
        if raters == 1 { "1 counterparty".to_owned() } else { format!("{raters} counterparties") };
    let counted = if r.weighted_deals == 1.0 {
        "1 deal counts".to_owned()
    } else {
        format!("{} deals count", r.weighted_deals)
    };
    format!(
        "{} positive, {} neutral, {} negative from {counterparties}; {counted} ({trust})",
        r.positive, r.neutral, r.negative
    )
}

pub fn print(r: &ReputationView) {
    let now = output::now_ms();
    let mark = if r.trusted { "  ✓ trusted" } else { "" };
    outln!("{}{mark}", output::bold(&format!("Reputation of {}", r.key)));
    let count = |c: &haggle_node::api::types::RatingCounts| {
        format!("{} positive, {} neutral, {} negative", c.positive, c.neutral, c.negative)
    };
    outln!("  deals        {}", r.deals);
    if let (Some(first), Some(last)) = (r.first_deal, r.last_deal) {
        outln!("  first, last  {}, {}", output::relative(first, now), output::relative(last, now));
    }
    outln!(
        "  raw          {}  (distinct counterparties; anyone with many keys can fake these)",
        count(&r.raw)
    );
    outln!("  weighted     {}  (each by the rater's standing, 0 to 1)", count(&r.weighted));
    outln!("  web of trust {}  (raters within {} deals of you)", count(&r.web_of_trust), r.hops_limit);
    let hops = match r.hops {
        Some(0) => "you, or a key you trust".to_owned(),
        Some(1) => "1 deal from you".to_owned(),
        Some(n) => format!("{n} deals from you"),
        None => "outside your web of trust".to_owned(),
    };
    outln!("  standing     {:.2}  ({hops})", r.standing);
    if r.feedback.is_empty() {
        return;
    }
    outln!();
    let rows: Vec<Vec<String>> = r
        .feedback
        .iter()
        .map(|f| {
            vec![
                output::relative(f.made_at, now),
                f.rating.clone(),
                output::short_peer(&f.author),
                format!("{:.2}", f.weight),
                f.text.clone(),
            ]
        })
        .collect();
    output::table(&["DEAL MADE", "RATING", "BY", "WEIGHT", "TEXT"], &rows);
}
