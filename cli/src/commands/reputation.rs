//! `haggle feedback` and `haggle reputation`: rating a deal, and what the feedback this node
//! holds says of someone.

use anyhow::Result;

use haggle_node::api::types::{
    DealRole, DealView, FeedbackRequest, FeedbackView, Rating, ReputationBrief, ReputationView, TRUSTED_SCORE,
};

use super::Context;
use crate::output;

pub fn feedback(cx: &Context<'_>, deal: &str, rating: Rating, text: String) -> Result<()> {
    // A rating is public and signed once: text given as only spaces was a slip, not a choice.
    if !text.is_empty() && text.trim().is_empty() {
        return Err(crate::usage(
            "--text is blank: leave it out to rate without words, or write what to say (a rating cannot be changed once signed)",
        ));
    }
    let request = FeedbackRequest { rating: rating.name().to_owned(), text };
    let view = cx.api.feedback(deal, &request).map_err(super::deal::no_such_deal)?;
    if cx.json {
        return output::json(&view);
    }
    // A rating goes out by gossip: with no peer on the marketplace's topic (none connected, or
    // those connected have not subscribed yet) it waits for the first one.
    let gone = match cx.api.status() {
        Ok(s) if s.network.connected_peers == 0 => "no peers yet: it goes out as soon as one is found",
        Ok(s) if s.network.topic_peers == 0 => {
            "no connected peer has joined the marketplace's gossip yet: it goes out as soon as one does"
        }
        _ => "sent to the network",
    };
    outln!("Rated {} {}: signed, saved; {gone}.", output::short(&view.id), rating.name());
    super::deal::print(cx.api, &view);
    Ok(())
}

/// A count or a weight as its rows show it: a whole number alone, a weight to the hundredth
/// (a trial read a total `0.5` above its row's `0.50`).
fn figure(x: f64) -> String {
    if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x:.2}") }
}

/// Whether `who` names the node's owner as people write it: `me` or `you`, in any case.
fn is_owner(who: &str) -> bool {
    ["me", "you"].iter().any(|own| who.trim().eq_ignore_ascii_case(own))
}

/// What the feedback this node holds says of `who`; of the owner, without one (what others'
/// nodes that hold the same feedback say).
pub fn show(cx: &Context<'_>, who: Option<&str>) -> Result<()> {
    let who = match who {
        // Tables call the owner "you", and no name can be "me" or "you" (from a trial:
        // `reputation me` was refused as no key).
        Some(who) if !is_owner(who) => who.to_owned(),
        _ => cx.api.status()?.peer_id.to_string(),
    };
    let r = cx.api.reputation(&who)?;
    if cx.json {
        return output::json(&r);
    }
    print(&r);
    if unknown(&r) {
        // A key with listings here is no mistyped key (a trial's active seller was called one).
        let params = haggle_node::api::types::SearchParams {
            seller: Some(r.key),
            limit: Some(1),
            ..Default::default()
        };
        match cx.api.search(&params).map(|p| p.total) {
            Ok(listed) if listed > 0 => outln!(
                "  (this node holds no rating by or of this key yet: a seller nobody has rated; {} here, haggle search --seller {})",
                output::count(listed, "listing"),
                r.key
            ),
            Ok(_) => outln!(
                "  (this node holds no rating by or of this key, nor a listing of it: a seller nobody rated yet, or a mistyped key)"
            ),
            // Its listings could not be looked for: what is known is said, no more.
            Err(_) => outln!(
                "  (this node holds no rating by or of this key: a seller nobody rated yet, or a mistyped key)"
            ),
        }
    }
    Ok(())
}

/// Whether this node knows nothing of the key's deals (a key mistyped reads like a seller
/// nobody rated yet).
fn unknown(r: &ReputationView) -> bool {
    r.feedback.is_empty() && r.deals == 0 && !r.mine && r.hops.is_none()
}

/// The parties' feedback at the end of `haggle deal`, and whether the owner may rate it now.
pub fn deal_feedback(d: &DealView) {
    for f in &d.feedback {
        let who = if f.mine { "me  " } else { "them" };
        let text = if f.text.is_empty() { String::new() } else { format!("  \"{}\"", f.text) };
        // A later rating by the same author of the same party counts instead of this one.
        let note = if f.superseded { "  (superseded by a later rating: it no longer counts)" } else { "" };
        outln!("  feedback  {who}  {:<8}{text}{note}", f.rating);
    }
    if d.may_rate {
        outln!(
            "  rate it   haggle feedback {} positive|neutral|negative --text \"...\"",
            output::short(&d.id)
        );
    }
}

/// A reputation in a few characters, for tables: `✓ 12+ 1-`, `3+ 0-`, `1+ 0- by strangers`, or
/// `new`.
///
/// Counts from raters nobody in the owner's web of trust vouches for end `by strangers`: a
/// trial's dodgy seller rated itself from a second key, and its `1+ 0-` read better than an
/// honest seller's `new` in the column a buyer scans.
pub fn brief(r: Option<&ReputationBrief>) -> String {
    let Some(r) = r else { return "-".to_owned() };
    if r.positive + r.neutral + r.negative == 0 {
        return "new".to_owned();
    }
    let mark = if r.trusted { "✓ " } else { "" };
    let neutral = if r.neutral > 0 { format!(" {}~", r.neutral) } else { String::new() };
    let strangers = if by_strangers(r) { " by strangers" } else { "" };
    format!("{mark}{}+ {}-{neutral}{strangers}", r.positive, r.negative)
}

/// Whether every rating comes from someone the owner's web of trust knows nothing of: no rater
/// in it, no weight, and not the owner's own rating.
fn by_strangers(r: &ReputationBrief) -> bool {
    !r.trusted
        && r.yours.is_none()
        && !r.in_web_of_trust
        && r.trusted_raters == 0
        && r.weighted_positive == 0.0
        && r.weighted_negative == 0.0
}

/// A reputation in a sentence, for `haggle show`.
pub fn sentence(r: &ReputationBrief) -> String {
    let raters = r.positive + r.neutral + r.negative;
    if raters == 0 {
        return "no feedback yet".to_owned();
    }
    use haggle_protocol::Rating;
    let trust = if r.trusted {
        "trusted"
    } else if r.yours == Some(Rating::Negative) {
        // Your own negative rating decides, whatever others say.
        "not trusted: your latest rating of them is negative"
    } else if r.weighted_negative > 0.0
        && (r.weighted_negative >= r.weighted_positive || r.weighted_positive >= TRUSTED_SCORE)
    {
        // Enough positive weight alone would make it trusted: the negative ratings hold it back.
        // Yours among them: you weigh in full in your own web.
        "not trusted: negative ratings from you or people your trades vouch for"
    } else if r.negative > r.positive {
        "not trusted: mostly negative ratings"
    } else if r.weighted_positive > 0.0 {
        "not trusted yet: too few positive ratings from people your trades vouch for"
    } else if r.in_web_of_trust {
        // Raters in the web of trust (people you traded with) weigh nothing until someone
        // with standing rated them positive: --trusted keeps the seller, the ✓ waits.
        "not trusted yet: its raters are in your web of trust (--trusted keeps it) but have no standing: \
         rating your own deals with them gives them some"
    } else {
        "not trusted: none of the raters is someone your trades or trusted keys vouch for"
    };
    // From a trial: a seller the owner rated neutral read "none of the raters is someone your
    // trades ... vouch for", the owner being one of them. A neutral rating of yours decides
    // nothing (others' weighted ratings do), so it is said beside the reason.
    let trust = match r.yours {
        Some(Rating::Neutral) if !r.trusted => format!("{trust}; your latest rating of them is neutral"),
        _ => trust.to_owned(),
    };
    let counterparties =
        if raters == 1 { "1 counterparty".to_owned() } else { format!("{raters} counterparties") };
    // What --min-deals compares: good deals weighted by their raters' standing (a trial read
    // "0.21 good deals count" as odd).
    let counted = if r.weighted_positive == 1.0 {
        "1 weighted good deal".to_owned()
    } else {
        format!("{} weighted good deals", figure(r.weighted_positive))
    };
    format!(
        "{} positive, {} neutral, {} negative from {counterparties}; {counted} ({trust})",
        r.positive, r.neutral, r.negative
    )
}

/// What the standing line says of where an identity stands in the viewer's web of trust;
/// `web_positive`: positive ratings from raters in it.
fn standing_note(
    mine: bool,
    hops: Option<u32>,
    hops_limit: u32,
    standing: f64,
    yours: Option<&str>,
    web_positive: f64,
) -> String {
    match hops {
        Some(0) if mine => "you".to_owned(),
        Some(0) => "a key you trust".to_owned(),
        // Found in a trial: "nobody rated them positive" under a line counting such a rating.
        Some(1) if standing == 0.0 && web_positive > 0.0 => {
            "one step from you (you traded with them); those in your web of trust who rated them positive have no standing of their own yet, so theirs is 0".to_owned()
        }
        // Trading puts them one step away; only positive ratings from the web give them standing.
        // From a trial: after the owner re-rated a seller neutral, "nobody ... yet" read wrong
        // beside raters the web reaches only through that seller, whose ratings do not count.
        Some(1) if standing == 0.0 => match yours {
            Some(yours) => format!(
                "one step from you (you traded with them), but your latest rating of them is {yours}, and no one else in your web of trust gave them standing (raters you reach only through them do not count for them): only a positive rating vouches for them"
            ),
            None => "one step from you (you traded with them), but nobody in your web of trust rated them positive yet: rating your deal vouches for them".to_owned(),
        },
        Some(1) => "one step from you: you traded with them, or you or a key you trust rated them positive"
            .to_owned(),
        Some(n) => format!("{n} steps from you in the web of trust"),
        // A counterparty you rated negative is not one step away: trading put them there, your
        // rating took them out.
        None if yours == Some("negative") => "outside your web of trust: you rated them negative".to_owned(),
        // From a trial: "outside your web of trust" beside raters in it who vouch for them
        // (`--trusted` kept the seller, and the JSON's `in_web_of_trust` was true): the seller
        // is farther than the web reaches, its raters are not.
        None if web_positive > 0.0 => format!(
            "more than {hops_limit} steps from you, outside your web of trust, but people in it rated them positive: --trusted keeps them"
        ),
        None if standing > 0.0 => format!(
            "more than {hops_limit} steps from you, outside your web of trust; the standing comes from positive ratings by people who have some"
        ),
        None => "outside your web of trust".to_owned(),
    }
}

pub fn print(r: &ReputationView) {
    let now = output::now_ms();
    let mark = if r.trusted { "  ✓ trusted" } else { "" };
    let whose = if r.mine {
        " (you)"
    } else if r.trusted_key {
        " (a key you trust)"
    } else {
        ""
    };
    outln!("{}{mark}", output::bold(&format!("Reputation of {}{whose}", output::peer(&r.key))));
    if r.blocked {
        outln!("  blocked      by you (haggle unblock {})", r.key);
    }
    let count = |c: &haggle_node::api::types::RatingCounts| {
        format!(
            "{} positive, {} neutral, {} negative",
            figure(c.positive),
            figure(c.neutral),
            figure(c.negative)
        )
    };
    // Deals known by their ratings: a deal nobody rated leaves no trace here (a trial's seller
    // with three deals read "deals 2"); a deal counts whichever side rated it (a trial read two
    // beside one rating of the person: the other was theirs of someone else).
    outln!("  rated deals  {}  (deals with a rating by either side)", r.deals);
    if let (Some(first), Some(last)) = (r.first_deal, r.last_deal) {
        outln!("  first, last  {}, {}", output::relative(first, now), output::relative(last, now));
    }
    outln!(
        "  raw          {}  (distinct counterparties; anyone with many keys can fake these)",
        count(&r.raw)
    );
    outln!(
        "  weighted     {}  (each by its rater's standing, shared among everyone it rated)",
        count(&r.weighted)
    );
    if r.mine {
        // Every rater of yours is reached through you, and an identity brings in no raters of
        // its own: your own web of trust counts nothing for you. Others' webs are theirs.
        outln!(
            "  web of trust {}  (your own web does not vouch for you: each other node counts your raters within its own web)",
            count(&r.web_of_trust)
        );
    } else {
        outln!(
            "  web of trust {}  (raters within {} steps of you: people you traded with, and those they vouch for)",
            count(&r.web_of_trust),
            r.hops_limit
        );
    }
    // Your own rating of them, if you gave one (the latest counts).
    let yours = r.feedback.iter().find(|f| f.mine && !f.superseded).map(|f| f.rating.as_str());
    let hops = standing_note(r.mine, r.hops, r.hops_limit, r.standing, yours, r.web_of_trust.positive);
    outln!("  standing     {:.2}  ({hops})", r.standing);
    // A key this node knows nothing of is said so by `show`, which looks for its listings.
    if r.feedback.is_empty() {
        return;
    }
    outln!();
    let rows: Vec<Vec<String>> = r
        .feedback
        .iter()
        .map(|f| {
            vec![
                output::relative(f.rated_at, now),
                f.rating.clone(),
                f.role.map_or("-", DealRole::name).to_owned(),
                if f.mine { "you".to_owned() } else { output::short_peer(&f.author) },
                if f.superseded { "- (superseded)".to_owned() } else { format!("{:.2}", f.weight) },
                output::clip(&f.text, 60),
            ]
        })
        .collect();
    // AS: what they were in the rated deal (a seller's standing earned by buying is another
    // thing than one earned by selling).
    output::table(&["RATED", "RATING", "AS", "BY", "WEIGHT", "TEXT"], &rows);
}

/// One rating, for `haggle show <feedback id>`.
pub fn print_feedback(f: &FeedbackView) {
    let now = output::now_ms();
    outln!("{}", output::bold(&format!("Feedback {}  [{}]", output::short(&f.id), f.rating)));
    outln!("  by        {}", if f.mine { format!("{} (you)", f.author) } else { output::peer(&f.author) });
    let role = f.role.map(|r| format!(", as the {}", r.name())).unwrap_or_default();
    let about = if f.about_me { format!("{} (you)", f.subject) } else { output::peer(&f.subject) };
    outln!("  about     {about}{role}");
    outln!("  deal      {} (made {})", output::short(&f.deal), output::relative(f.made_at, now));
    outln!("  rated     {}", output::relative(f.rated_at, now));
    if !f.text.is_empty() {
        outln!("  text      {}", f.text);
    }
    if f.superseded {
        outln!("  note      superseded: a later rating by the same author counts instead");
    } else {
        outln!(
            "  weight    {:.2} (the author's standing, shared among everyone it rated; haggle reputation {} for the whole picture)",
            f.weight,
            output::typed_peer(&f.subject)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(positive: u32, weighted_positive: f64, in_web: bool) -> ReputationBrief {
        ReputationBrief {
            positive,
            neutral: 0,
            negative: 0,
            weighted_deals: weighted_positive,
            weighted_positive,
            weighted_negative: 0.0,
            in_web_of_trust: in_web,
            trusted_raters: 1,
            trusted: weighted_positive >= 1.0,
            yours: None,
        }
    }

    /// Defect: a seller rated by someone you traded with (in your web of trust, so `--trusted`
    /// kept it) was said to have no rater your trades vouch for.
    #[test]
    fn the_rep_line_names_raters_in_the_web_of_trust_without_standing() {
        let line = sentence(&brief(1, 0.0, true));
        assert!(line.contains("its raters are in your web of trust (--trusted keeps it)"), "{line}");
        assert!(!line.contains("none of the raters"), "{line}");
        // A rater in the web gave a neutral rating: it counts as a rater there, and the
        // seller is not in the web (--trusted does not keep it).
        let line = sentence(&brief(1, 0.0, false));
        assert!(line.contains("none of the raters is someone your trades"), "{line}");
        assert!(sentence(&brief(1, 1.0, true)).ends_with("(trusted)"));
    }

    /// From a trial: a seller that rated itself from a second key read `1+ 0-` in search
    /// tables, better than an honest seller's `new`.
    #[test]
    fn counts_from_raters_nobody_vouches_for_are_said_to_be_strangers() {
        let strangers = ReputationBrief { trusted_raters: 0, ..brief(1, 0.0, false) };
        assert_eq!(super::brief(Some(&strangers)), "1+ 0- by strangers");
        // A rater in the web (here without standing), a weighted one, the owner's own rating:
        // not strangers.
        assert_eq!(super::brief(Some(&brief(1, 0.0, true))), "1+ 0-");
        assert_eq!(super::brief(Some(&brief(2, 0.5, true))), "2+ 0-");
        assert_eq!(super::brief(Some(&brief(2, 1.0, true))), "✓ 2+ 0-");
        let mine = ReputationBrief { yours: Some(haggle_protocol::Rating::Neutral), ..strangers };
        assert_eq!(super::brief(Some(&mine)), "1+ 0-");
        let none = ReputationBrief { positive: 0, ..strangers };
        assert_eq!(super::brief(Some(&none)), "new");
    }

    #[test]
    fn figures_read_as_their_rows() {
        assert_eq!(
            (figure(2.0), figure(0.0), figure(0.5), figure(0.13)),
            ("2".into(), "0".into(), "0.50".into(), "0.13".into())
        );
    }

    #[test]
    fn me_and_you_name_the_owner() {
        assert!(is_owner("me") && is_owner("You") && is_owner(" ME "));
        assert!(!is_owner("meg") && !is_owner("12D3KooW") && !is_owner("yours"));
    }

    /// Defect: a counterparty you rated negative read `outside your web of trust` with no
    /// reason, where CLI.md promised the line of a neutral rating.
    #[test]
    fn the_standing_line_says_your_negative_rating_took_them_out_of_your_web() {
        assert_eq!(
            standing_note(false, None, 2, 0.0, Some("negative"), 0.0),
            "outside your web of trust: you rated them negative"
        );
        assert_eq!(standing_note(false, None, 2, 0.0, None, 0.0), "outside your web of trust");
        // From a trial: re-rated neutral, the line names that rating and does not say "yet".
        let note = standing_note(false, Some(1), 2, 0.0, Some("neutral"), 0.0);
        assert!(note.contains("your latest rating of them is neutral"), "{note}");
        assert!(note.ends_with("only a positive rating vouches for them") && !note.contains("yet"), "{note}");
        // A positive rating from the web that carries no standing is not "nobody".
        let note = standing_note(false, Some(1), 2, 0.0, None, 1.0);
        assert!(note.contains("have no standing of their own yet") && !note.contains("nobody"), "{note}");
    }

    /// From a trial: a seller three steps away read "outside your web of trust" beside raters
    /// in it who vouch for them, which `--trusted` and the JSON's `in_web_of_trust` follow.
    #[test]
    fn a_seller_beyond_the_web_that_its_raters_vouch_for_is_told_so() {
        let note = standing_note(false, None, 2, 0.17, None, 1.0);
        assert_eq!(
            note,
            "more than 2 steps from you, outside your web of trust, but people in it rated them positive: --trusted keeps them"
        );
        let note = standing_note(false, None, 3, 0.1, None, 0.0);
        assert!(
            note.starts_with("more than 3 steps from you") && note.contains("standing comes from"),
            "{note}"
        );
    }

    /// From a trial: a seller the owner rated neutral read "none of the raters is someone your
    /// trades ... vouch for".
    #[test]
    fn the_rep_line_names_your_own_rating_that_keeps_the_mark() {
        let neutral =
            ReputationBrief { yours: Some(haggle_protocol::Rating::Neutral), ..brief(1, 0.0, false) };
        let line = sentence(&neutral);
        assert!(line.contains("(not trusted: none of the raters"), "the reason stands: {line}");
        assert!(line.ends_with("; your latest rating of them is neutral)"), "{line}");
        let negative = ReputationBrief {
            yours: Some(haggle_protocol::Rating::Negative),
            negative: 1,
            ..brief(1, 0.5, true)
        };
        assert!(sentence(&negative).ends_with("(not trusted: your latest rating of them is negative)"));
    }

    /// Defect: a seller with a full positive weight held back by a weighted negative rating was
    /// said to have too few positive ratings.
    #[test]
    fn a_seller_held_back_by_negative_ratings_is_told_so() {
        let held_back =
            ReputationBrief { negative: 1, weighted_negative: 0.5, trusted: false, ..brief(1, 1.0, true) };
        let line = sentence(&held_back);
        assert!(
            line.contains("not trusted: negative ratings from you or people your trades vouch for"),
            "{line}"
        );
        let short = ReputationBrief { weighted_negative: 0.0, ..brief(1, 0.5, true) };
        assert!(sentence(&short).contains("too few positive ratings"), "{}", sentence(&short));
    }
}
