//! What the timed markets (auctions, campaigns, calendars) share: which listing kinds carry
//! which rules, and the checks every open auction or campaign revision passes.

use crate::listing::{ListingKind, Market};
use crate::time::Timestamp;

/// Why a running auction's or campaign's terms cannot change, and what to do instead, naming
/// the listing as `id` (the store's refusal and the CLI's say the same words).
pub fn terms_fixed(id: &str) -> String {
    format!(
        "an auction's or campaign's kind, price and terms are set when it is published and stay while it runs (bids and pledges were made on them). To change them, publish a new one: haggle publish --from {id} copies the rest (retract this one first if it still runs)"
    )
}

/// Whether a listing revision's kind and market agree, for validation: an auction, and only an
/// auction, carries auction terms, and a campaign its campaign; a calendar goes on a rental or
/// a service.
pub(crate) fn market_fits(kind: ListingKind, market: Option<&Market>) -> bool {
    match (kind, market) {
        (ListingKind::Auction, Some(Market::Auction(_))) => true,
        (ListingKind::Auction, _) => false,
        (ListingKind::Crowdfund, Some(Market::Campaign(_))) => true,
        (ListingKind::Crowdfund, _) => false,
        (ListingKind::Rental | ListingKind::Service, Some(Market::Calendar(_))) => true,
        (_, None) => true,
        (_, Some(_)) => false,
    }
}

/// The messages [`check_open`] gives, in the market's own words: quantity, made before the
/// end, ends in time, lives until its offers lapse.
pub(crate) type OpenRules = [&'static str; 4];

/// Checks an open (active) revision of an auction or campaign: one unit, made before its `end`,
/// and its public offers (which stand until `stand_until`) lapsing within a listing's lifetime
/// of `created_at`, with the listing living until then (so the Deal can still be built from it).
pub(crate) fn check_open(
    quantity: u32,
    end: Timestamp,
    stand_until: Timestamp,
    created_at: Timestamp,
    expires_at: Timestamp,
    rules: &OpenRules,
) -> Result<(), &'static str> {
    if quantity != 1 {
        return Err(rules[0]);
    }
    if end <= created_at {
        return Err(rules[1]);
    }
    if stand_until > created_at.saturating_add(crate::limits::MAX_LIFETIME) {
        return Err(rules[2]);
    }
    if expires_at < stand_until {
        return Err(rules[3]);
    }
    Ok(())
}
