//! Crowdfunding: a campaign (a listing of kind `crowdfund`) collects public pledges toward a goal
//! by a deadline; pledges count only if the goal is met.
//!
//! The listing's price is the goal. Its [`Campaign`] names the deadline and optional reward
//! tiers. A pledge is a public object ([`crate::Body::Pledge`], an [`Offer`] of quantity 1 whose
//! price is the amount) that every node stores and syncs, so every node computes the same
//! [`CampaignView`]:
//!
//! - A backer's *current* pledge is its latest, by `(created_at, id)`, made by the deadline; a
//!   later pledge replaces an earlier one, and a pledge of 0 withdraws.
//! - The total is the sum of the current pledges; the campaign is funded if it reaches the goal.
//! - A pledge's reward is the dearest tier whose minimum it meets and that has one left; a tier
//!   with a quantity rewards its first backers in `(created_at, id)` order, and later ones earn
//!   the dearest cheaper tier left, if any.
//!
//! At the deadline, if the campaign is funded, the creator's node accepts each current pledge
//! and each backer's node confirms it: one ordinary Deal per backer, which then follows the deal
//! lifecycle (the creator sends payment requests). Otherwise every pledge lapses and nothing is
//! owed. As with auctions, the creator's node judges the deadline by its own clock at arrival.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::identity::PublicKey;
use crate::listing::{ListingKind, ListingStatus, Market};
use crate::negotiation::Offer;
use crate::object::{Body, Object};
use crate::price::{Currency, Price};
use crate::time::Timestamp;

/// Most backers a campaign counts: those with the largest current pledges (ties to the
/// earlier). A flood of small pledges from fresh keys cannot crowd out a larger honest one, and
/// every node keeps at most this many pledges per campaign.
pub const MAX_BACKERS: usize = 2_000;

/// Most reward tiers on one campaign.
pub const MAX_TIERS: usize = 16;
/// Longest tier name, in characters.
pub const MAX_TIER_NAME_CHARS: usize = 80;
/// How long after the deadline a pledge must stand: the creator's node accepts it and the
/// backer's node confirms it within this, even after days offline.
pub const PLEDGE_WINDOW: Duration = Duration::from_secs(3 * 24 * 60 * 60);

/// A reward for pledges of at least `min`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// What the backer gets, one line.
    pub name: String,
    /// The smallest pledge that earns it, in minor units of the goal's currency (at least 1).
    pub min: u64,
    /// How many there are; 0 for no limit.
    pub quantity: u32,
}

/// A campaign's rules, fixed for its life (a revision may not change them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    /// Pledges made after this do not count.
    pub deadline: Timestamp,
    /// Reward tiers, cheapest first, at most [`MAX_TIERS`].
    pub tiers: Vec<Tier>,
}

impl Campaign {
    /// How long a pledge on this campaign must stand.
    pub fn pledges_stand_until(&self) -> Timestamp {
        self.deadline.saturating_add(PLEDGE_WINDOW)
    }

    /// The tier a pledge of `amount` earns (the dearest whose minimum it meets).
    pub fn tier_for(&self, amount: u64) -> Option<usize> {
        self.tiers.iter().rposition(|t| amount >= t.min)
    }
}

/// Why a pledge does not fit its campaign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PledgeError {
    /// The listing is not a campaign.
    #[error("the listing is not a crowdfunding campaign")]
    NotACampaign,
    /// A pledge is one price of quantity 1 in the goal's currency, with no dates.
    #[error("a pledge is one amount in {0}, for quantity 1")]
    Shape(Currency),
    /// The pledge was made, or reached the creator, after the deadline.
    #[error("the campaign's deadline passed at {0}")]
    Closed(Timestamp),
    /// The pledge would lapse before the creator could accept it.
    #[error("a pledge must stand until {0} (three days after the deadline)")]
    LapsesTooSoon(Timestamp),
    /// A withdrawal (a pledge of 0) from someone with no pledge to withdraw.
    #[error("there is no pledge to withdraw")]
    NothingToWithdraw,
    /// The backer has a later pledge already.
    #[error("the backer has made a later pledge")]
    Replaced,
    /// The campaign counts as many backers as it may, all pledging at least this much.
    #[error(
        "the campaign counts as many backers as it may; a new pledge must be at least {min} (minor units)"
    )]
    TooSmall {
        /// The smallest pledge that would count, in minor units.
        min: u64,
    },
}

/// The campaign of a listing revision, and its goal, if it is one.
pub fn campaign_of(listing: &Object) -> Option<(&Campaign, &Price)> {
    let l = listing.listing()?;
    match (&l.market, &l.price) {
        (Some(Market::Campaign(c)), Some(goal)) if l.kind == ListingKind::Crowdfund => Some((c, goal)),
        _ => None,
    }
}

/// Checks a pledge against its campaign by the rules that need no other pledge. The common offer
/// rules are [`crate::thread::check_offer`]'s.
pub fn check_pledge(
    campaign: &Campaign,
    goal: &Price,
    pledge: &Object,
    o: &Offer,
) -> Result<(), PledgeError> {
    let p = &o.terms.price;
    if o.terms.quantity != 1 || p.currency != goal.currency || p.per.is_some() || o.terms.dates.is_some() {
        return Err(PledgeError::Shape(goal.currency.clone()));
    }
    if pledge.created_at() > campaign.deadline {
        return Err(PledgeError::Closed(campaign.deadline));
    }
    if o.terms.expires_at < campaign.pledges_stand_until() {
        return Err(PledgeError::LapsesTooSoon(campaign.pledges_stand_until()));
    }
    Ok(())
}

/// One backer's current pledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backing {
    /// The pledge's id (its thread's id).
    pub id: ObjectId,
    /// Who pledged.
    pub backer: PublicKey,
    /// The amount, in minor units of the goal's currency (0: withdrawn).
    pub amount: u64,
    /// When the backer says it pledged.
    pub created_at: Timestamp,
    /// The reward tier it earns, if any (a tier run out gives none).
    pub tier: Option<usize>,
}

/// A campaign's state, computed from its rules and the pledges a node holds. The same pledges
/// give the same view on every node, whatever order they arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignView {
    /// The campaign's rules.
    pub campaign: Campaign,
    /// The goal (amount and currency).
    pub goal: Price,
    /// The creator.
    pub creator: PublicKey,
    /// Each backer's current pledge (withdrawals included), in `(created_at, id)` order.
    pub backings: Vec<Backing>,
    /// The sum of the current pledges.
    pub total: u64,
    /// Rewards given per tier.
    pub claimed: Vec<u32>,
}

impl CampaignView {
    /// The view of `listing` (any revision of the campaign) with `pledges`, those held on any of
    /// its revisions. Pledges to someone else, the creator's own and those that break
    /// [`check_pledge`] are left out. `None` if it is not a campaign.
    pub fn new<'a>(listing: &Object, pledges: impl IntoIterator<Item = &'a Object>) -> Option<CampaignView> {
        let (campaign, goal) = campaign_of(listing)?;
        let creator = listing.author();
        let mut backings = current_pledges(listing, pledges);
        // The largest pledges count (withdrawals, at 0, go first when there are too many).
        if backings.len() > MAX_BACKERS {
            backings.sort_by_key(|b| (std::cmp::Reverse(b.amount), b.created_at, b.id));
            backings.truncate(MAX_BACKERS);
        }
        backings.sort_by_key(|b| (b.created_at, b.id));
        let mut claimed = vec![0u32; campaign.tiers.len()];
        let mut total: u64 = 0;
        for b in &mut backings {
            total = total.saturating_add(b.amount);
            // The dearest tier it reaches with a reward left: a backer whose tier ran out earns
            // the next one down (a trial's 70.00 pledge, after the last veg box, earned nothing
            // where the thank-you card from 10.00 had no limit).
            let reached = campaign.tier_for(b.amount).filter(|_| b.amount > 0);
            let left = reached.and_then(|top| {
                (0..=top)
                    .rev()
                    .find(|&t| campaign.tiers[t].quantity == 0 || claimed[t] < campaign.tiers[t].quantity)
            });
            if let Some(t) = left {
                claimed[t] += 1;
                b.tier = Some(t);
            }
        }
        Some(CampaignView {
            campaign: campaign.clone(),
            goal: goal.clone(),
            creator,
            backings,
            total,
            claimed,
        })
    }

    /// Whether the total reaches the goal.
    pub fn funded(&self) -> bool {
        self.total >= self.goal.amount
    }

    /// Whether the deadline has passed by the clock `now`.
    pub fn is_over(&self, now: Timestamp) -> bool {
        now > self.campaign.deadline
    }

    /// The current pledge of `backer`, if any (a withdrawal included).
    pub fn backing_of(&self, backer: &PublicKey) -> Option<&Backing> {
        self.backings.iter().find(|b| b.backer == *backer)
    }

    /// How many backers pledge more than 0.
    pub fn backers(&self) -> usize {
        self.backings.iter().filter(|b| b.amount > 0).count()
    }

    /// Whether a new `pledge` would count in this view: made by the deadline, a withdrawal only
    /// from a backer with a pledge, newer than the backer's current one, and (with
    /// [`MAX_BACKERS`] counted) larger than the smallest counted. A node stores only such
    /// pledges.
    pub fn admit(&self, pledge: &Object) -> Result<(), PledgeError> {
        let Body::Pledge(o) = pledge.body() else { return Err(PledgeError::NotACampaign) };
        if pledge.created_at() > self.campaign.deadline {
            return Err(PledgeError::Closed(self.campaign.deadline));
        }
        let amount = o.terms.price.amount;
        let current = self.backing_of(&pledge.author());
        if amount == 0 && current.is_none_or(|b| b.amount == 0) {
            return Err(PledgeError::NothingToWithdraw);
        }
        if current.is_some_and(|b| (b.created_at, b.id) >= (pledge.created_at(), pledge.id())) {
            return Err(PledgeError::Replaced);
        }
        if current.is_none() && self.backings.len() >= MAX_BACKERS {
            let smallest = self.backings.iter().map(|b| b.amount).min().unwrap_or(0);
            if amount <= smallest {
                return Err(PledgeError::TooSmall { min: smallest.saturating_add(1) });
            }
        }
        Ok(())
    }
}

/// Each backer's current pledge (its latest by `(created_at, id)`, made by the deadline;
/// withdrawals included) among `pledges` to the campaign `listing`, before the count of
/// [`MAX_BACKERS`] is applied. Empty if `listing` is not a campaign.
pub fn current_pledges<'a>(listing: &Object, pledges: impl IntoIterator<Item = &'a Object>) -> Vec<Backing> {
    let Some((campaign, goal)) = campaign_of(listing) else { return Vec::new() };
    let creator = listing.author();
    let mut current: HashMap<PublicKey, Backing> = HashMap::new();
    for p in pledges {
        let Body::Pledge(o) = p.body() else { continue };
        if o.to != creator || p.author() == creator || check_pledge(campaign, goal, p, o).is_err() {
            continue;
        }
        let b = Backing {
            id: p.id(),
            backer: p.author(),
            amount: o.terms.price.amount,
            created_at: p.created_at(),
            tier: None,
        };
        match current.get(&b.backer) {
            Some(held) if (held.created_at, held.id) >= (b.created_at, b.id) => {}
            _ => {
                current.insert(b.backer, b);
            }
        }
    }
    current.into_values().collect()
}

/// Checks a campaign listing's own rules (at signing and decoding).
pub(crate) fn check_campaign(
    campaign: &Campaign,
    status: ListingStatus,
    quantity: u32,
    goal: Option<&Price>,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> Result<(), crate::ValidationError> {
    use crate::ValidationError::Campaign as Bad;
    if goal.is_none_or(|g| g.amount == 0 || g.per.is_some()) {
        return Err(Bad("a campaign's goal (its price) is more than 0, with no period: e.g. --goal 500"));
    }
    if campaign.tiers.len() > MAX_TIERS {
        return Err(Bad("a campaign has at most 16 reward tiers"));
    }
    for tier in &campaign.tiers {
        if tier.name.trim().is_empty()
            || tier.name.chars().count() > MAX_TIER_NAME_CHARS
            || tier.name.chars().any(char::is_control)
        {
            return Err(Bad("a tier's name is one line of 1 to 80 characters"));
        }
        if tier.min == 0 {
            return Err(Bad("a tier's minimum pledge is more than 0"));
        }
    }
    if campaign.tiers.windows(2).any(|w| w[1].min <= w[0].min) {
        return Err(Bad("tiers go cheapest first, each dearer than the last"));
    }
    if status == ListingStatus::Closed {
        return Ok(());
    }
    const RULES: crate::market::OpenRules = [
        "a campaign is quantity 1",
        "an open campaign's revision must be made before its deadline",
        "a campaign's deadline is at most 87 days after it is published",
        "a campaign listing must live until its pledges lapse, three days after its deadline",
    ];
    let (deadline, stand_until) = (campaign.deadline, campaign.pledges_stand_until());
    crate::market::check_open(quantity, deadline, stand_until, created_at, expires_at, &RULES).map_err(Bad)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fixtures::{T0, campaign, key, pledge, sign, sign_at};
    use crate::object::Object as Obj;

    const MIN: Duration = Duration::from_secs(60);

    fn at(minutes: u64) -> Timestamp {
        T0.saturating_add(MIN * minutes as u32)
    }

    /// A campaign from T0, goal 100.00 EUR, deadline T0 + 60 min, tiers: Sticker from 10.00,
    /// Mug from 30.00 (two of them).
    fn setup() -> crate::Verified<Obj> {
        sign(&key(1), Body::Listing(campaign("Community oven", 10_000, at(60))))
    }

    #[test]
    fn the_latest_pledge_of_each_backer_counts_and_a_pledge_of_zero_withdraws() {
        let c = setup();
        let p1 = sign_at(&key(2), pledge(&c, 3_000), at(1));
        let p2 = sign_at(&key(3), pledge(&c, 5_000), at(2));
        let raise = sign_at(&key(2), pledge(&c, 6_000), at(3));
        let view = CampaignView::new(&c, [&*p1, &*p2, &*raise]).expect("a campaign");
        assert_eq!((view.total, view.backers(), view.funded()), (11_000, 2, true));
        let out = sign_at(&key(3), pledge(&c, 0), at(4));
        let view = CampaignView::new(&c, [&*p1, &*p2, &*raise, &*out]).expect("a campaign");
        assert_eq!((view.total, view.backers(), view.funded()), (6_000, 1, false));
        assert!(matches!(
            view.admit(&sign_at(&key(4), pledge(&c, 0), at(5))),
            Err(PledgeError::NothingToWithdraw)
        ));
        let late = sign_at(&key(4), pledge(&c, 9_000), at(61));
        let view = CampaignView::new(&c, [&*p1, &*late]).expect("a campaign");
        assert_eq!(view.total, 3_000, "a pledge after the deadline does not count");
    }

    #[test]
    fn tiers_reward_the_first_backers_and_run_out() {
        let c = setup();
        let pledges: Vec<_> =
            (0..4u8).map(|i| sign_at(&key(10 + i), pledge(&c, 3_000), at(u64::from(i)))).collect();
        let view = CampaignView::new(&c, pledges.iter().map(|p| &**p)).expect("a campaign");
        let tiers: Vec<_> = view.backings.iter().map(|b| b.tier).collect();
        assert_eq!(tiers, [Some(1), Some(1), Some(0), Some(0)], "two mugs, then stickers");
        assert_eq!(view.claimed, [2, 2]);
        assert_eq!(view.campaign.tier_for(1_500), Some(0));
        assert_eq!(view.campaign.tier_for(500), None);
    }

    proptest! {
        /// Every node holding the same pledges computes the same view, whatever the order.
        #[test]
        fn the_view_does_not_depend_on_arrival_order(
            raw in proptest::collection::vec((0u64..70, 0u64..8_000, 2u8..8), 1..30),
            seed in any::<u64>(),
        ) {
            let c = setup();
            let pledges: Vec<_> = raw.iter().map(|(m, amount, who)| sign_at(&key(*who), pledge(&c, *amount), at(*m))).collect();
            let mut shuffled: Vec<&Obj> = pledges.iter().map(|p| &**p).collect();
            crate::fixtures::Rng(seed | 1).shuffle(&mut shuffled);
            let a = CampaignView::new(&c, pledges.iter().map(|p| &**p)).expect("a campaign");
            let b = CampaignView::new(&c, shuffled).expect("a campaign");
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.total, a.backings.iter().map(|b| b.amount).sum::<u64>());
            prop_assert!(a.backings.iter().all(|b| b.created_at <= a.campaign.deadline));
        }
    }
}
