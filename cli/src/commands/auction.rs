//! `haggle bid`, the auction settings of `haggle publish`, and how an auction is shown.

use anyhow::Result;

use haggle_node::api::types::{
    AuctionDraft, AuctionInfo, AuctionState, BidStanding, ListingKind, ListingView,
};

use super::Context;
use crate::args::{AuctionArgs, BidArgs};
use crate::{output, usage};

/// The auction part of a draft: required for `--kind auction`, refused for other kinds.
pub fn draft(kind: ListingKind, args: &AuctionArgs) -> Result<Option<AuctionDraft>> {
    if kind != ListingKind::Auction {
        if args.any() {
            return Err(usage("--ends, --reserve, --increment and --window are for --kind auction"));
        }
        return Ok(None);
    }
    let Some(ends) = args.ends else {
        return Err(usage("an auction needs its end: add e.g. --ends 3d"));
    };
    Ok(Some(AuctionDraft {
        ends_in: ends.as_secs(),
        reserve: args.reserve.clone(),
        increment: args.increment.clone(),
        window: args.window,
    }))
}

pub fn bid(cx: &Context<'_>, args: &BidArgs) -> Result<()> {
    if args.currency.is_some() {
        return Err(super::no_currency_of_ones_own(cx, &args.listing, "a bid", "the auction", "--price"));
    }
    let request =
        haggle_node::api::types::BidRequest { price: args.price.clone(), message: args.message.clone() };
    // Whether the owner leads already: a bid then raises its own (allowed, and said).
    let leading =
        super::aside(cx.api.listing(&args.listing))?.and_then(|l| l.auction?.high_bid.filter(|b| b.mine));
    let l = cx.api.bid(&args.listing, &request)?;
    let raised = |cx: &Context<'_>| {
        if let Some(high) = &leading {
            note!(
                cx.json,
                "you were the high bidder already, at {}: this bid raises your own, and a winning bid is what you pay",
                high.amount.display
            );
        }
    };
    if cx.json {
        // As the API answers it, tagged `"type": "listing"`; the note on stderr.
        output::json(&haggle_node::api::types::ObjectView::Listing(l))?;
        raised(cx);
        return Ok(());
    }
    let gossip = match l.gossip {
        Some(haggle_node::api::types::GossipState::Queued) => "it goes out when a peer connects",
        Some(haggle_node::api::types::GossipState::Stopping) => {
            "the node is stopping: it goes out when the node runs again"
        }
        _ => "sent to the network",
    };
    // Gossip reaches the seller's node when it is online; the bid counts only if it does so by
    // the end (that node's clock decides).
    // The amount as every other line shows it (`55.00 EUR`, not `55 EUR` as typed).
    let amount = l.auction.as_ref().and_then(|a| a.my_bid.as_ref()).map_or_else(
        || {
            let currency = l.price.as_ref().map(|p| format!(" {}", p.currency)).unwrap_or_default();
            format!("{}{currency}", args.price.trim())
        },
        |b| b.amount.display.clone(),
    );
    outln!(
        "Bid {amount} on {}: stored; {gossip}. It counts if it reaches the seller's node before the end.",
        l.title
    );
    output::listing(&l);
    raised(cx);
    seller_away_note(cx, &l);
    Ok(())
}

/// Says so when this node has no connection to the seller's node now (from a trial: a bid made
/// while the seller's node was off read "you lead", and lost to a lower one its node held
/// when it came back after the end). Other peers may still pass the bid on; said as a risk.
fn seller_away_note(cx: &Context<'_>, l: &haggle_node::api::types::ListingView) {
    let Some(a) = &l.auction else { return };
    if a.over || l.mine {
        return;
    }
    let seller = l.author.peer_id();
    let Ok(page) = cx.api.peers() else { return };
    if page.peers.iter().all(|p| p.peer_id != seller) {
        note!(
            cx.json,
            "this node has no connection to the seller's node now: other peers pass your bid on if it is online, \
             and if it is offline until the end, it settles on the bids it held before, without yours (haggle watch \
             tells you how it ends)"
        );
    }
}

/// The PRICE cell of an auction in a table: the high bid (and how many bids), or the start.
pub fn price_cell(a: &AuctionInfo) -> String {
    // The bid accepted, where this node knows it (the seller's and the winner's): after the
    // high bid fell through it is another (a retrial's seller read the high bid it never sold
    // to).
    let bids = output::count(a.bids, "bid");
    match (a.state, &a.accepted, &a.high_bid) {
        (AuctionState::Sold, Some(taken), _) if !a.called_off => {
            format!("{} (sold; {bids})", taken.amount.display)
        }
        // Accepted, the winner's confirm still to come: it may yet fall through.
        (AuctionState::Awarded, Some(taken), _) => format!("{} (accepted; {bids})", taken.amount.display),
        (_, _, Some(high)) => format!("{} ({bids})", high.amount.display),
        (_, _, None) => format!("from {}", a.start.display),
    }
}

/// The EXPIRES cell of an auction: when bidding ends.
pub fn ends_cell(a: &AuctionInfo, now: u64) -> String {
    if a.over {
        format!("ended {}", output::relative(a.ends_at, now))
    } else if a.ends_at.saturating_sub(now) < 3_600_000 {
        // The last hour, to the second: the moment a bidder needs it.
        format!("ends in {}", left(a.ends_at, now))
    } else {
        format!("ends {}", output::relative(a.ends_at, now))
    }
}

/// The auction lines of `haggle show`: state, high bid, next minimum, reserve, and the history.
pub fn lines(l: &ListingView, a: &AuctionInfo) {
    let now = output::now_ms();
    let extended = if a.ends_at > a.scheduled_end {
        format!(" (extended {} by bids)", left(a.ends_at, a.scheduled_end))
    } else {
        String::new()
    };
    // Retracted or sold, an auction takes no more bids, whatever its end said.
    let retracted = a.state == AuctionState::Cancelled;
    let done =
        a.over || matches!(a.state, AuctionState::Cancelled | AuctionState::Sold | AuctionState::Awarded);
    // The retraction's revision is the listing's current one: dated before the end or after.
    if retracted && l.created_at < a.ends_at {
        outln!("  auction   retracted by the seller before its end");
    } else if done {
        // Sold or awarded before the end by this node's clock: by the seller's, it had ended.
        let when = if a.over { output::relative(a.ends_at, now) } else { "by the seller's clock".to_owned() };
        outln!("  auction   ended {when}{extended}");
    } else {
        outln!("  auction   ends in {}{extended}", left(a.ends_at, now));
    }
    outln!("  start     {}, raise by at least {}", a.start.display, a.increment.display);
    // The owner's bid on top here, and sold to another: this node's bids are not all there were.
    let sold_past_me =
        lost_on_top(a) && !a.high_declined && matches!(a.state, AuctionState::Sold | AuctionState::Awarded);
    match &a.high_bid {
        Some(high) => outln!(
            "  high bid  {} by {}{}{} ({}, {}{})",
            high.amount.display,
            output::short_peer(&high.bidder),
            if high.mine { " (you)" } else { "" },
            dealt_mark(high, l.mine),
            output::count(a.bids, "bid"),
            output::count(a.bidders, "bidder"),
            if sold_past_me { "; the bids this node holds, not every one there was" } else { "" }
        ),
        None if a.state == AuctionState::Ended => outln!("  high bid  none: no one bid"),
        None if done => outln!("  high bid  none held here"),
        None => outln!("  high bid  none yet"),
    }
    if let (Some(taken), Some(high)) = (&a.accepted, &a.high_bid)
        && taken.id != high.id
    {
        outln!(
            "  accepted  {} by {}{} (not the high bid: the higher one fell through, or did not reach the seller's node before the end)",
            taken.amount.display,
            output::short_peer(&taken.bidder),
            if taken.mine { " (you)" } else { "" }
        );
    }
    if let Some(reserve) = &a.reserve {
        outln!("  reserve   {} ({})", reserve.display, if a.reserve_met { "met" } else { "not met" });
    }
    if !done && !l.mine && l.blocked {
        // Found in a trial: the line invited a bid the node then refused.
        outln!("  next bid  none from you while you block the seller (haggle unblock {} first)", l.author);
    } else if !done && !l.mine {
        outln!(
            "  next bid  at least {}   haggle bid {} --price ...",
            a.min_next.display,
            output::short(&l.id)
        );
    }
    if let Some(me) = a.me {
        let says = match me {
            BidStanding::Leading => "you lead",
            BidStanding::Outbid => "you were outbid",
            BidStanding::Awaiting if !a.reserve_met => {
                "your bid is on top but under the reserve: the seller may still accept it by hand"
            }
            BidStanding::Awaiting => {
                "your bid is on top at the end: the seller's node accepts it if the bid reached that node before the end (one offline then never counts it; the bid lapses unaccepted), and yours confirms"
            }
            BidStanding::Won if a.called_off => "you won, and the deal was then called off by you both",
            BidStanding::Won => "you won: see haggle deals",
            BidStanding::Lost if retracted => "no one won: the seller retracted the auction",
            // The bid on top here did not win: the seller's node took another, and only the two
            // parties know which, or the seller declined it. Sold, the seller's node declines
            // the bids it did not take by itself: that decline says nothing more (a trial's
            // bidder, offline while higher bids came, read "the seller declined your bid" and
            // took it for a sale past the best bid).
            BidStanding::Lost if sold_past_me => {
                "you lost: the seller's node sold it to another bid: a higher one this node never saw (bids made while it was offline do not reach it once the auction has closed), or yours did not reach that node before the end, or the seller declined yours"
            }
            BidStanding::Lost if lost_on_top(a) => "you lost: the seller declined your bid",
            // No sale known here yet: the seller's node decides, by the bids it held at the end
            // (from a trial: a bidder read a flat "you lost", then won).
            BidStanding::Lost if a.state == AuctionState::Ended => {
                "you lost by this node's count: another bid is on top here, and the seller's node decides by the bids it held at the end"
            }
            BidStanding::Lost => "you lost",
        };
        outln!("  you       {says}");
    }
    if l.mine && done {
        let winner = |b: &haggle_node::api::types::BidView| {
            format!("{} by {}", b.amount.display, output::short_peer(&b.bidder))
        };
        let says = match (a.state, &a.accepted, &a.high_bid) {
            (AuctionState::Sold, Some(b), _) if a.called_off => format!(
                "sold for {}, then called off by you both (the listing stays closed: `haggle publish --from {} --ends 3d` auctions it again)",
                winner(b).replacen(" by ", " to ", 1),
                output::short(&l.id)
            ),
            (AuctionState::Sold, Some(b), _) => {
                format!("sold for {} (see haggle deals)", winner(b).replacen(" by ", " to ", 1))
            }
            (AuctionState::Sold, None, _) => "sold".to_owned(),
            (AuctionState::Awarded, Some(b), _) => {
                format!("you accepted {}; waiting for the bidder's node to confirm", winner(b))
            }
            (AuctionState::Cancelled, _, _) => "cancelled: you retracted it".to_owned(),
            (_, _, Some(high)) if a.next_bid.is_some() => {
                let next = a.next_bid.as_ref().expect("matched");
                let why = if a.high_declined {
                    "you declined the high bid"
                } else if a.high_blocked {
                    "the high bid is from a key you blocked (your node does not accept it by itself)"
                } else {
                    "the high bid fell through (your accept of it was never confirmed)"
                };
                let or_high = if a.high_blocked && !a.high_declined {
                    format!(", or the high bid (haggle accept {})", output::short(&high.id))
                } else {
                    String::new()
                };
                format!(
                    "{why}; the best bid still open is {}: sell to it (haggle accept {}){or_high}, or let the bids lapse (no sale)",
                    winner(next),
                    output::short(&next.id)
                )
            }
            (_, _, Some(_)) if a.high_declined => format!(
                "no sale: you declined the high bid{} (haggle retract {} closes the listing; haggle publish --from {} --ends 3d auctions it again)",
                if a.reserve_met { "" } else { ", under your reserve" },
                output::short(&l.id),
                output::short(&l.id)
            ),
            (_, _, Some(high)) if a.high_blocked => format!(
                "the high bid is from a key you blocked: your node does not accept it by itself (haggle accept {} accepts it; haggle decline {} ends the auction unsold)",
                output::short(&high.id),
                output::short(&high.id)
            ),
            (_, _, Some(high)) if !a.reserve_met => format!(
                "the high bid is under your reserve: accept it by hand if you like (haggle accept {})",
                output::short(&high.id)
            ),
            (_, _, Some(_)) => "ended: your node accepts the high bid in a moment".to_owned(),
            // A retrial: the declined case named the way on, this one nothing.
            (_, _, None) => format!(
                "ended without bids (haggle retract {} closes the listing; haggle publish --from {} --ends 3d auctions it again)",
                output::short(&l.id),
                output::short(&l.id)
            ),
        };
        outln!("  result    {says}");
    }
    if !a.history.is_empty() {
        outln!("  bids");
        // Columns as wide as their widest cell: "14 minutes ago" filled 14 and ran into the
        // amount (from a trial).
        let (times, tw) = output::time_column(a.history.iter().map(|b| b.created_at), now, 0);
        let aw = a.history.iter().map(|b| b.amount.display.chars().count()).max().unwrap_or(0);
        for (b, at) in a.history.iter().zip(&times) {
            outln!(
                "    {at:<tw$}  {:<aw$}  {}{}{}  {}",
                b.amount.display,
                output::short_peer(&b.bidder),
                if b.mine { " (you)" } else { "" },
                dealt_mark(b, l.mine),
                output::dim(&format!(
                    "{}{}",
                    output::short(&b.id),
                    if b.counts { "" } else { ", does not count" }
                ))
            );
            if !b.message.is_empty() {
                outln!("    {:<tw$}  {}", "", output::dim(&format!("\"{}\"", output::note(&b.message))));
            }
        }
    }
}

/// After a bidder, that it traded with the seller before: a friend's bid, or the seller's own
/// second key bidding the price up, looks so too. `sellers` when the owner is the seller (a
/// trial's seller read "has dealt with the seller" of its own buyer).
fn dealt_mark(b: &haggle_node::api::types::BidView, sellers: bool) -> &'static str {
    match (b.dealt_with_seller && !b.mine, sellers) {
        (true, true) => " (has dealt with you)",
        (true, false) => " (has dealt with the seller)",
        (false, _) => "",
    }
}

/// Time left as a clock: `2d 3h`, `4h 12m`, `3m 20s`.
pub(super) fn left(ends_at: u64, now: u64) -> String {
    let secs = ends_at.saturating_sub(now) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{}m {}s", secs / 60, secs % 60),
        3_600..86_400 => format!("{}h {}m", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3_600),
    }
}

/// Whether the owner's bid is the high bid this node holds, and lost.
fn lost_on_top(a: &AuctionInfo) -> bool {
    a.me == Some(BidStanding::Lost) && a.high_bid.as_ref().is_some_and(|h| h.mine)
}
