//! `haggle pledge`, the campaign settings of `haggle publish`, and how a campaign is shown.

use anyhow::Result;

use haggle_node::api::types::{
    CampaignDraft, CampaignInfo, ListingKind, ListingView, ObjectView, PledgeRequest, TierDraft, TierView,
};

use super::Context;
use crate::args::{CampaignArgs, PledgeArgs};
use crate::{output, usage};

/// Width of the progress bar, in characters.
const BAR: usize = 30;

/// The campaign part of a draft: required for `--kind crowdfund` (whose `--goal` becomes the
/// price), refused for other kinds.
pub fn draft(
    kind: ListingKind,
    args: &CampaignArgs,
    price: &mut Option<String>,
) -> Result<Option<CampaignDraft>> {
    let any = args.goal.is_some() || args.deadline.is_some() || !args.tiers.is_empty();
    if kind != ListingKind::Crowdfund {
        if any {
            return Err(usage("--goal, --deadline and --tier are for --kind crowdfund"));
        }
        return Ok(None);
    }
    let Some(deadline) = args.deadline else {
        return Err(usage("a campaign needs its deadline: add e.g. --deadline 30d"));
    };
    match (&args.goal, price.is_some()) {
        (Some(goal), _) => *price = Some(goal.clone()),
        (None, true) => {}
        (None, false) => return Err(usage("a campaign needs its goal: add e.g. --goal 5000 --currency EUR")),
    }
    let tiers = args
        .tiers
        .iter()
        .map(|(name, min, quantity)| TierDraft { name: name.clone(), min: min.clone(), quantity: *quantity })
        .collect();
    Ok(Some(CampaignDraft { deadline_in: deadline.as_secs(), tiers }))
}

pub fn pledge(cx: &Context<'_>, args: &PledgeArgs) -> Result<()> {
    if args.currency.is_some() {
        return Err(super::no_currency_of_ones_own(
            cx,
            &args.campaign,
            "a pledge",
            "the campaign",
            "--amount",
        ));
    }
    let amount = if args.withdraw { "0".to_owned() } else { args.amount.clone().unwrap_or_default() };
    if !args.withdraw && amount.trim().trim_start_matches(['0', '.']).is_empty() {
        return Err(usage("a pledge is more than 0: use --withdraw to take yours back"));
    }
    let request = PledgeRequest { amount, message: args.message.clone() };
    // The reward the owner's pledge held before, to say so if changing it loses it.
    let reward_before = if args.withdraw {
        None
    } else {
        super::aside(cx.api.listing(&args.campaign))?.and_then(|l| l.campaign?.mine?.tier)
    };
    let l = cx.api.pledge(&args.campaign, &request)?;
    if cx.json {
        // As the API answers it, tagged `"type": "listing"`.
        output::json(&ObjectView::Listing(l.clone()))?;
    } else {
        said(&l, args, &request);
    }
    // A limited reward goes to the earliest pledges, and a changed pledge counts from when it
    // was changed: raising a pledge could silently hand its reward to a later backer.
    let reward_after = l.campaign.as_ref().and_then(|c| c.mine.as_ref()).and_then(|m| m.tier.clone());
    // A pledge earns the richest reward it reaches that has one left: when the richest is all
    // claimed, it earns a cheaper one or none, which the pledge's line alone does not explain.
    if reward_before.is_none()
        && let Some(richest) = l.campaign.as_ref().and_then(|c| reward_missed(c))
    {
        let instead = reward_after.as_ref().map_or_else(
            || "it earns no reward, as no cheaper one is left".to_owned(),
            |t| format!("it earns the next one left, \"{t}\""),
        );
        note!(
            cx.json,
            "the richest reward this pledge reaches, \"{}\" (from {}), is all claimed by earlier \
             pledges: {instead}.",
            richest.name,
            richest.min.display
        );
    }
    // A reward lost or traded for a cheaper one is said; a pledge raised to a richer reward
    // needs no note (a trial's backer, raised from a sticker to a loaf a week, was told of the
    // order of pledges).
    let campaign = l.campaign.as_ref();
    let tier_min = |name: &str| Some(campaign?.tiers.iter().find(|t| t.name == name)?.min.amount);
    let richer = match (&reward_before, &reward_after) {
        (Some(before), Some(after)) => tier_min(after) > tier_min(before),
        _ => false,
    };
    if let Some(before) = reward_before.filter(|b| Some(b) != reward_after.as_ref() && !richer) {
        let now = reward_after.map_or("no reward".to_owned(), |t| format!("the reward \"{t}\""));
        // The earlier reward's minimum, when the new pledge is under it: that is why, not the
        // order of pledges (found in a trial: 60 changed to 40 under a reward from 50 was told
        // the order was to blame).
        let under = campaign.and_then(|c| {
            let min = &c.tiers.iter().find(|t| t.name == before)?.min;
            let mine = &c.mine.as_ref()?.amount;
            (mine.amount < min.amount).then(|| min.display.clone())
        });
        match under {
            Some(min) => note!(
                cx.json,
                "your earlier pledge had the reward \"{before}\" (from {min}); this one is under \
                 it, and has {now}."
            ),
            None => note!(
                cx.json,
                "your earlier pledge had the reward \"{before}\"; limited rewards go to pledges in \
                 the order they were made, and a changed pledge counts from when it was changed, after \
                 others': this one has {now}."
            ),
        }
    }
    // A pledge over the whole goal binds as any other: sent as it is, with a note in case the
    // amount was mistyped.
    if let Some(c) = &l.campaign
        && let Some(mine) = c.mine.as_ref().filter(|m| m.amount.amount > c.goal.amount)
    {
        note!(
            cx.json,
            "your pledge of {} is more than the campaign's whole goal ({}), and binds you if it \
             is funded. If that was a slip, pledge again with the amount you meant: your latest \
             pledge is the one that counts.",
            mine.amount.display,
            c.goal.display
        );
    }
    Ok(())
}

/// The reward the owner's pledge reaches but does not earn, all of it claimed by earlier
/// pledges: the richest it reaches (a pledge earns that one or none).
fn reward_missed(c: &CampaignInfo) -> Option<&TierView> {
    let mine = c.mine.as_ref().filter(|m| m.amount.amount > 0)?;
    let richest =
        c.tiers.iter().filter(|t| t.min.amount <= mine.amount.amount).max_by_key(|t| t.min.amount)?;
    let earned = mine.tier.as_deref() == Some(richest.name.as_str());
    (!earned && richest.quantity > 0 && richest.claimed >= richest.quantity).then_some(richest)
}

/// What the owner's pledge did, in words, and the campaign after it.
fn said(l: &ListingView, args: &PledgeArgs, request: &PledgeRequest) {
    let gossip = match l.gossip {
        Some(haggle_node::api::types::GossipState::Queued) => "it goes out when a peer connects",
        Some(haggle_node::api::types::GossipState::Stopping) => {
            "the node is stopping: it goes out when the node runs again"
        }
        _ => "sent to the network",
    };
    if args.withdraw {
        outln!(
            "Pledge to {} withdrawn: stored; {gossip}. The withdrawal counts if it reaches the creator's node before the deadline: until then that node counts your earlier pledge.",
            l.title
        );
    } else {
        outln!(
            "Pledged {} to {}: stored; {gossip}. It counts if it reaches the creator's node before the deadline.",
            l.campaign
                .as_ref()
                .and_then(|c| c.mine.as_ref())
                .map(|p| p.amount.display.clone())
                .unwrap_or_else(|| format!(
                    "{}{}",
                    request.amount.trim(),
                    l.price.as_ref().map(|p| format!(" {}", p.currency)).unwrap_or_default()
                )),
            l.title
        );
    }
    output::listing(l);
}

/// The PRICE cell of a campaign in a table: raised of the goal.
pub fn price_cell(c: &CampaignInfo) -> String {
    format!("{} of {} ({}%)", c.total.display, c.goal.display, c.percent)
}

/// The EXPIRES cell of a campaign: its deadline.
pub fn deadline_cell(c: &CampaignInfo, now: u64) -> String {
    match (c.over, c.funded) {
        _ if c.cancelled => "cancelled".to_owned(),
        (false, _) if c.deadline.saturating_sub(now) < 3_600_000 => {
            format!("deadline in {}", super::auction::left(c.deadline, now))
        }
        (false, _) => format!("deadline {}", output::relative(c.deadline, now)),
        (true, true) => "funded".to_owned(),
        (true, false) => "missed its goal".to_owned(),
    }
}

/// The campaign lines of `haggle show`: progress (with a bar), deadline, tiers and the latest
/// pledges.
pub fn lines(l: &ListingView, c: &CampaignInfo) {
    let now = output::now_ms();
    let filled = (c.percent.min(100) as usize * BAR) / 100;
    let bar = format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR - filled));
    outln!("  goal      {}", c.goal.display);
    outln!(
        "  raised    {} {bar} {}% from {}",
        c.total.display,
        c.percent,
        output::count(c.backers, "backer")
    );
    match (c.cancelled, c.over, c.funded) {
        (true, _, _) => outln!("  deadline  cancelled by its creator: nothing is owed"),
        (false, false, _) if c.deadline.saturating_sub(now) < 3_600_000 => {
            outln!("  deadline  in {}", super::auction::left(c.deadline, now))
        }
        (false, false, _) => outln!("  deadline  {}", output::relative(c.deadline, now)),
        (false, true, true) => outln!(
            "  deadline  passed {}: funded; {}",
            output::relative(c.deadline, now),
            match (l.mine, c.left_to_you) {
                (true, 0) => "your node accepts every pledge, each a deal (see haggle deals)".to_owned(),
                // A trial's creator read "every pledge" with a blocked backer's left to it.
                (true, n) => format!(
                    "your node accepts every pledge but {} from keys you blocked, left to you: accept or decline each (haggle offers)",
                    n
                ),
                (false, _) =>
                    "the creator's node accepts every pledge, each a deal (see haggle deals)".to_owned(),
            }
        ),
        // Another's campaign is judged on the pledges this node holds; the creator's node decides
        // by its own (from a trial: a backer's node read a flat "missed" while the creator's,
        // which never got a withdrawal, read funded).
        (false, true, false) if !l.mine && !c.missed => outln!(
            "  deadline  passed {}: missed its goal by the pledges this node holds, so nothing is owed (the creator's node decides by those it holds; haggle watch tells you if it differs)",
            output::relative(c.deadline, now)
        ),
        (false, true, false) => outln!(
            "  deadline  passed {}: missed its goal, nothing is owed",
            output::relative(c.deadline, now)
        ),
    }
    for t in &c.tiers {
        let left = match t.quantity {
            0 => format!("{} claimed", t.claimed),
            q => format!("{} of {q} claimed", t.claimed),
        };
        outln!("  tier      {} from {} ({left})", t.name, t.min.display);
    }
    if let Some(mine) = c.mine.as_ref().filter(|m| m.amount.amount > 0) {
        let reward = mine.tier.as_deref().map(|t| format!(", reward: {t}")).unwrap_or_default();
        outln!("  you       pledged {}{reward}", mine.amount.display);
    } else if c.mine.is_some() && c.over {
        // A backer who took its pledge back read nothing of it here (from a retrial).
        outln!("  you       withdrew your pledge before the deadline: you owe nothing");
    } else if c.mine.is_some() {
        outln!(
            "  you       withdrew your pledge; to back it again: haggle pledge {} --amount ...",
            output::short(&l.id)
        );
    } else if !c.over && !l.mine {
        outln!("  pledge    haggle pledge {} --amount ...", output::short(&l.id));
    }
    if !c.pledges.is_empty() {
        outln!("  pledges");
        // As wide as the widest amount (`10000.00 EUR` ran into its key, from a trial).
        let width = c.pledges.iter().map(|p| p.amount.display.chars().count()).max().unwrap_or(0).max(12);
        // As wide as the longest time too: "14 minutes ago" filled 14 and ran into the amount
        // (from a trial).
        let (times, tw) = output::time_column(c.pledges.iter().map(|p| p.created_at), now, 0);
        for (p, at) in c.pledges.iter().zip(&times) {
            outln!(
                "    {at:<tw$}  {:<width$} {}{}{}",
                p.amount.display,
                output::short_peer(&p.backer),
                if p.mine { " (you)" } else { "" },
                p.tier.as_deref().map(|t| format!("  {}", output::dim(t))).unwrap_or_default()
            );
            if !p.message.is_empty() {
                outln!("    {:<tw$}  {}", "", output::dim(&format!("\"{}\"", output::note(&p.message))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect: a backer who pledged 95 to a campaign whose 50 reward was all claimed earned no
    /// reward, while a 10 pledge earned a sticker, and was not told.
    #[test]
    fn a_pledge_past_a_reward_all_claimed_is_told_it_earns_none() {
        let price = |amount: u64| serde_json::json!({ "amount": amount * 100, "currency": "EUR", "per": null, "decimals": 2, "display": format!("{amount}.00 EUR") });
        let campaign = |pledged: u64, tier: Option<&str>| -> CampaignInfo {
            let mine = serde_json::json!({
                "id": "07".repeat(32), "backer": haggle_protocol::fixtures::key(1).public().to_string(),
                "mine": true, "amount": price(pledged), "created_at": 0, "tier": tier, "message": "",
            });
            serde_json::from_value(serde_json::json!({
                "deadline": 0, "over": false, "goal": price(500), "total": price(pledged), "percent": 0,
                "funded": false, "backers": 1, "pledges": [], "mine": mine,
                "tiers": [
                    { "name": "Sticker", "min": price(10), "quantity": 0, "claimed": 3 },
                    { "name": "Loaf a week", "min": price(50), "quantity": 1, "claimed": 1 },
                ],
            }))
            .expect("a campaign")
        };
        assert_eq!(reward_missed(&campaign(95, None)).map(|t| t.name.as_str()), Some("Loaf a week"));
        // Past the last loaf, the sticker is the next one left (from a trial).
        let sticker = campaign(95, Some("Sticker"));
        assert_eq!(reward_missed(&sticker).map(|t| t.name.as_str()), Some("Loaf a week"));
        assert_eq!(reward_missed(&campaign(60, Some("Loaf a week"))), None, "it earned the loaf");
        assert_eq!(reward_missed(&campaign(20, Some("Sticker"))), None, "the sticker has no limit");
        assert_eq!(reward_missed(&campaign(5, None)), None, "it reaches no reward");
    }

    /// From a trial: "14 minutes ago" filled the time column and ran into the amount.
    #[test]
    fn a_pledges_time_never_runs_into_its_amount() {
        let price = |amount: u64| serde_json::json!({ "amount": amount * 100, "currency": "EUR", "per": null, "decimals": 2, "display": format!("{amount}.00 EUR") });
        let now = crate::output::now_ms();
        let pledge = |ago_ms: u64, amount: u64| {
            serde_json::json!({
                "id": "07".repeat(32), "backer": haggle_protocol::fixtures::key(1).public().to_string(),
                "mine": false, "amount": price(amount), "created_at": now - ago_ms, "tier": null, "message": "",
            })
        };
        let info: CampaignInfo = serde_json::from_value(serde_json::json!({
            "deadline": now + 86_400_000, "over": false, "goal": price(150), "total": price(60), "percent": 40,
            "funded": false, "backers": 2, "tiers": [],
            "pledges": [pledge(14 * 60_000, 10), pledge(0, 50)],
        }))
        .expect("a campaign");
        let listing = crate::output::sample_listing(1, haggle_node::api::types::ListingState::Active, 0);
        let said = crate::output::captured(|| lines(&listing, &info));
        assert!(said.contains("14 minutes ago  10.00 EUR"), "{said}");
        assert!(said.contains("just now        50.00 EUR"), "{said}");
    }

    /// A trial's creator read "your node accepts every pledge" on a funded campaign whose
    /// blocked backer's pledge its node had left to it.
    #[test]
    fn a_funded_campaign_names_the_pledges_left_to_its_creator() {
        let price = |amount: u64| serde_json::json!({ "amount": amount * 100, "currency": "EUR", "per": null, "decimals": 2, "display": format!("{amount}.00 EUR") });
        let mut info: CampaignInfo = serde_json::from_value(serde_json::json!({
            "deadline": 0, "over": true, "goal": price(150), "total": price(155), "percent": 103,
            "funded": true, "backers": 2, "pledges": [], "tiers": [], "left_to_you": 1,
        }))
        .expect("a campaign");
        let mut listing = crate::output::sample_listing(2, haggle_node::api::types::ListingState::Closed, 0);
        listing.mine = true;
        let said = crate::output::captured(|| lines(&listing, &info));
        assert!(
            said.contains("funded; your node accepts every pledge but 1 from keys you blocked, left to you: accept or decline each (haggle offers)"),
            "{said}"
        );
        info.left_to_you = 0;
        let said = crate::output::captured(|| lines(&listing, &info));
        assert!(said.contains("funded; your node accepts every pledge, each a deal"), "{said}");
    }
}
