//! Auctions in the API: the auction part of a listing draft, a bid, and the auction as a
//! listing view shows it.

use serde::{Deserialize, Serialize};

use super::serde_text::{key_text, text};
use super::{ObjectId, PriceView, PublicKey};

/// The auction part of `POST /v1/listings` (kind `auction`; the listing's price is the start
/// price).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuctionDraft {
    /// Seconds from now to the scheduled end (at most 86 days).
    pub ends_in: u64,
    /// The reserve, decimal in the start price's currency: below it the seller's node does not
    /// accept the high bid by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve: Option<String>,
    /// The minimum raise, decimal (default 1 unit of the currency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub increment: Option<String>,
    /// The anti-sniping window in seconds (default 600; 0 turns it off; at most 3600). A window
    /// of 5 minutes or less can be sniped by a bid backdated within the allowed clock skew.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
}

/// `POST /v1/listings/{id}/bids`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BidRequest {
    /// The bid, decimal, in the auction's currency.
    pub price: String,
    /// A public note with the bid (every node sees it), at most 2 KiB.
    pub message: String,
}

/// Where the owner stands in an auction it bid on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BidStanding {
    /// The owner's bid is the high bid and the auction runs.
    Leading,
    /// Someone bid more; the auction runs.
    Outbid,
    /// The auction ended with the owner's bid the high bid.
    Won,
    /// The auction ended with someone else's bid accepted (or the auction was cancelled).
    Lost,
    /// The auction ended with the owner's bid on top; the seller's node has yet to accept it
    /// (by itself, or by hand when the bid is under the reserve).
    Awaiting,
}

/// Where an auction stands beyond its bids, from what this node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuctionState {
    /// Taking bids.
    Running,
    /// Past its end; no bid accepted that this node knows of.
    Ended,
    /// A bid was accepted; the winner's node has yet to confirm it.
    Awarded,
    /// Sold: a deal on the accepted bid, or the seller's closing revision.
    Sold,
    /// The seller closed it without a sale.
    Cancelled,
}

impl BidStanding {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            BidStanding::Leading => "leading",
            BidStanding::Outbid => "outbid",
            BidStanding::Won => "won",
            BidStanding::Lost => "lost",
            BidStanding::Awaiting => "awaiting",
        }
    }
}

/// One bid in an auction's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidView {
    /// The bid's id (its thread's id).
    #[serde(with = "text")]
    pub id: ObjectId,
    /// Who bid.
    #[serde(with = "key_text")]
    pub bidder: PublicKey,
    /// Whether the bidder is this node's owner.
    pub mine: bool,
    /// The amount.
    pub amount: PriceView,
    /// When the bidder says it bid (unix ms).
    pub created_at: u64,
    /// Whether it counts (made by the end, raising the high bid by the increment).
    pub counts: bool,
    /// The bidder's public note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Whether this node holds a rating of a deal between the bidder and the seller, by either
    /// (left out when false): someone who traded with the seller before, as a second key of the
    /// seller's own, bidding the price up, would have too. Ratings are public, so every node
    /// holding them tells the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dealt_with_seller: bool,
}

/// An auction as this node sees it, from the bids it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionInfo {
    /// Running, ended, awarded, sold or cancelled.
    pub state: AuctionState,
    /// The bid accepted, if this node knows it (the seller's and the winner's nodes do).
    pub accepted: Option<BidView>,
    /// The end after any anti-sniping extensions (unix ms).
    pub ends_at: u64,
    /// The end the seller set (unix ms).
    pub scheduled_end: u64,
    /// Whether the auction has ended by this node's clock.
    pub over: bool,
    /// The start price.
    pub start: PriceView,
    /// The reserve, if the seller set one.
    pub reserve: Option<PriceView>,
    /// Whether the high bid meets the reserve.
    pub reserve_met: bool,
    /// The minimum raise.
    pub increment: PriceView,
    /// The anti-sniping window, in seconds.
    pub window_secs: u32,
    /// The high bid (after the end: the winning bid).
    pub high_bid: Option<BidView>,
    /// The smallest bid that would count now.
    pub min_next: PriceView,
    /// How many bids count.
    pub bids: usize,
    /// How many people bid.
    pub bidders: usize,
    /// The latest bids, newest first (at most 20).
    pub history: Vec<BidView>,
    /// Where the owner stands, if it bid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<BidStanding>,
    /// The owner's latest bid, if it bid (the one `POST .../bids` just signed, after a bid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_bid: Option<BidView>,
    /// Sold, and the deal then called off by both parties (only they know it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub called_off: bool,
    /// The seller declined the high bid by hand (one under the reserve, after the end): no sale
    /// to it. Not set by the decline the seller's node signs by itself at a sale to another bid.
    /// Known to the seller's node and the bidder's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub high_declined: bool,
    /// The high bid is from a key this node's owner blocked: on the owner's auction, its node
    /// leaves it to the owner to accept or decline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub high_blocked: bool,
    /// On the owner's auction, after the end, once the high bid fell through (the owner
    /// declined it or blocked its bidder, or its accept lapsed unconfirmed): the best bid still
    /// open, from a bidder the owner neither blocked nor declined, which the owner may accept
    /// by hand. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_bid: Option<BidView>,
}

impl std::fmt::Display for BidStanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The campaign part of `POST /v1/listings` (kind `crowdfund`; the listing's price is the goal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignDraft {
    /// Seconds from now to the deadline (at most 87 days).
    pub deadline_in: u64,
    /// Reward tiers, cheapest first.
    pub tiers: Vec<TierDraft>,
}

/// A reward tier as drafted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierDraft {
    /// What backers get, one line.
    pub name: String,
    /// The smallest pledge that earns it, decimal in the goal's currency.
    pub min: String,
    /// How many there are (default: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
}

/// `POST /v1/listings/{id}/pledges`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PledgeRequest {
    /// The pledge, decimal, in the goal's currency; `0` withdraws the owner's pledge.
    pub amount: String,
    /// A public note with the pledge, at most 2 KiB.
    pub message: String,
}

/// A reward tier as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierView {
    /// What backers get.
    pub name: String,
    /// The smallest pledge that earns it.
    pub min: PriceView,
    /// How many there are; 0 for no limit.
    pub quantity: u32,
    /// How many are claimed.
    pub claimed: u32,
}

/// One backer's current pledge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PledgeView {
    /// The pledge's id (its thread's id).
    #[serde(with = "text")]
    pub id: ObjectId,
    /// Who pledged.
    #[serde(with = "key_text")]
    pub backer: PublicKey,
    /// Whether the backer is this node's owner.
    pub mine: bool,
    /// The amount (0: withdrawn).
    pub amount: PriceView,
    /// When the backer says it pledged (unix ms).
    pub created_at: u64,
    /// The reward it earns, if any.
    pub tier: Option<String>,
    /// The backer's public note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A crowdfunding campaign as this node sees it, from the pledges it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignInfo {
    /// The deadline (unix ms).
    pub deadline: u64,
    /// Whether the deadline has passed by this node's clock.
    pub over: bool,
    /// The goal.
    pub goal: PriceView,
    /// The sum of the current pledges.
    pub total: PriceView,
    /// The total as a percentage of the goal (may pass 100).
    pub percent: u64,
    /// Whether the total reaches the goal (false once the creator's node closed the campaign
    /// short of its goal, whatever this node counts).
    pub funded: bool,
    /// The creator's node closed the campaign at its deadline short of its goal by its own
    /// count, which may be less than `total` here (it never held a pledge this node holds, one
    /// made while it was offline): nothing is owed.
    #[serde(default)]
    pub missed: bool,
    /// Whether the creator closed the campaign before its deadline (nothing is owed).
    #[serde(default)]
    pub cancelled: bool,
    /// How many people pledge more than 0.
    pub backers: usize,
    /// The reward tiers.
    pub tiers: Vec<TierView>,
    /// The latest current pledges, newest first (at most 20).
    pub pledges: Vec<PledgeView>,
    /// The owner's current pledge, if it pledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mine: Option<PledgeView>,
    /// On the owner's own campaign, funded and past its deadline: the pledges from keys it
    /// blocked that its node left to it, still open (accept or decline each in its thread).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_to_you: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
