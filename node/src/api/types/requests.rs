//! What clients send: drafts, patches, terms, search parameters.

use serde::{Deserialize, Serialize};

use super::serde_text::{opt_text, text};
use super::{Currency, ListingKind, ObjectId, Period, PublicKey, Sort};

/// `POST /v1/listings`: the fields of a new listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListingDraft {
    /// What sort of listing (default `sell`).
    #[serde(with = "text")]
    pub kind: ListingKind,
    /// Up to 140 characters.
    pub title: String,
    /// Free text, up to 8 KiB.
    pub description: String,
    /// A path like `vehicles/bikes`.
    pub category: String,
    /// Up to 16 tags.
    pub tags: Vec<String>,
    /// Decimal amount as people write it (`"120"`, `"12.50"`); none for giveaways.
    pub price: Option<String>,
    /// Needed with a price.
    #[serde(with = "opt_text")]
    pub currency: Option<Currency>,
    /// For rentals and services: what the price is charged per.
    #[serde(with = "opt_text")]
    pub per: Option<Period>,
    /// How many (default 1).
    pub quantity: Option<u32>,
    /// Where the thing is, in words.
    pub location: Option<String>,
    /// Optional geohash of the location.
    pub geohash: Option<String>,
    /// Accepted ways to pay.
    pub payment: Vec<String>,
    /// Delivery terms.
    pub delivery: Option<String>,
    /// Lifetime in seconds (default 30 days, at most 90; for an auction, three days past the
    /// latest end).
    pub expires_in: Option<u64>,
    /// For kind `auction`: the end, reserve, increment and anti-sniping window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auction: Option<super::AuctionDraft>,
    /// For a rental or service taking bookings: its availability calendar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<super::CalendarDraft>,
    /// For kind `crowdfund`: the deadline and reward tiers (the price is the goal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<super::CampaignDraft>,
    /// Pictures, as `POST /v1/images` returned them (at most 8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<haggle_protocol::Image>,
    /// For kind `digital`: the file sold, as `POST /v1/files` returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<haggle_protocol::DigitalFile>,
    /// Publish even if one of the owner's listings still on offer is the same (title, kind,
    /// description, category, price, place, pictures, file): without it that is refused, so a
    /// command run twice does not publish twice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub again: bool,
    /// Take a currency code no currency the node knows has (ISO 4217 and common ones outside
    /// it): a currency of the owner's own. Without it such a code is refused as a likely slip.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub any_currency: bool,
}

impl Default for ListingDraft {
    fn default() -> Self {
        ListingDraft {
            kind: ListingKind::Sell,
            title: String::new(),
            description: String::new(),
            category: String::new(),
            tags: Vec::new(),
            price: None,
            currency: None,
            per: None,
            quantity: None,
            location: None,
            geohash: None,
            payment: Vec::new(),
            delivery: None,
            expires_in: None,
            auction: None,
            calendar: None,
            campaign: None,
            images: Vec::new(),
            file: None,
            again: false,
            any_currency: false,
        }
    }
}

/// `PATCH /v1/listings/{id}`: changes to a listing; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListingPatch {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New category path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// New tags (replacing the old ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// New decimal amount, in the new currency if one is given, else the listing's; without one
    /// the listing keeps its amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// New currency; it needs a new `price` too (minor units differ between currencies).
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// New period.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub per: Option<Period>,
    /// New quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// New location text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// New geohash (empty removes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geohash: Option<String>,
    /// New payment methods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<Vec<String>>,
    /// New delivery terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// A new calendar: open ranges, stays and instant booking (what is booked stays booked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<super::CalendarDraft>,
    /// New pictures, replacing the old ones (empty removes them all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<haggle_protocol::Image>>,
    /// For a digital good: the file sold from now on (as `POST /v1/files` returned it, with its
    /// preview); deals made before keep the file they were made for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<haggle_protocol::DigitalFile>,
    /// Take a new currency code no currency the node knows has (see
    /// [`ListingDraft::any_currency`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub any_currency: bool,
}

impl ListingPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ListingPatch::default()
    }
}

/// `POST /v1/listings/{id}/renew`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenewRequest {
    /// Seconds from now (default 30 days, at most 90).
    pub expires_in: Option<u64>,
}

/// `POST /v1/listings/{id}/offers` and `POST /v1/threads/{id}/counter`: proposed terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TermsDraft {
    /// Decimal amount for the whole quantity; required except on giveaways.
    pub price: Option<String>,
    /// Default: the listing's (for an offer) or the current terms' (for a counter).
    #[serde(with = "opt_text")]
    pub currency: Option<Currency>,
    /// Default: 1 for an offer, the current terms' for a counter.
    pub quantity: Option<u32>,
    /// A note to the other party.
    pub message: String,
    /// Seconds the proposal stands (default 3 days).
    pub expires_in: Option<u64>,
    /// For a booking (a listing with a calendar): the nights, `2026-12-20..2026-12-27`
    /// (check-in..check-out). An offer on such a listing needs them; a counter keeps the current
    /// dates unless it names others. Without a price, a booking offers the asking price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dates: Option<String>,
}

/// `POST /v1/threads/{id}/accept` and `/counter`: the query string. By the listing's author, an
/// answer to an offer made on an earlier revision that described the listing otherwise is
/// refused (`409 listing_changed`) unless `as_offered=true`: it binds the author to the
/// revision offered on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsOffered {
    /// Stand by the revision the offer was made on.
    pub as_offered: bool,
}

/// `GET /v1/objects/{id}`: the query string. An earlier revision's id shows the listing's
/// current revision, unless `exact=true`: then that revision, as it read (with `replaced_by`
/// naming the current one), to see what an offer made on it was made on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShowParams {
    /// Show the listing revision the id names, not its listing's current revision.
    pub exact: bool,
}

/// `GET /v1/events`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsParams {
    /// Unix ms: first the events the node announced since then (kept for 10 minutes, at most
    /// 2,000, since the node started), each as a `replayed` event, then the live ones.
    pub since: Option<u64>,
}

/// `GET /v1/listings/closed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinceParams {
    /// Unix ms: what was signed at or after it.
    pub since: u64,
}

/// `GET /v1/listings`: which of the owner's listings, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListingsParams {
    /// Only listings of this kind.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ListingKind>,
    /// Only listings in this state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ListingsState>,
    /// Only listings in this category or under it (a path, in any case: `music` holds
    /// `music/guitars`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Listings per page (default all, at most 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Listings to skip.
    pub offset: usize,
}

impl ListingsParams {
    /// Whether these parameters pick listing `l`: of the kind and state asked, and in
    /// `category` (lowercased, without slashes around it) or under it.
    pub fn picks(&self, category: Option<&str>, l: &super::ListingView) -> bool {
        self.kind.is_none_or(|k| k == l.kind)
            && self.state.is_none_or(|s| s == l.listings_state())
            && category.is_none_or(|c| {
                l.category == c || l.category.strip_prefix(c).is_some_and(|rest| rest.starts_with('/'))
            })
    }

    /// The parameters as `name=value` pairs, for a query string.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        };
        put("kind", self.kind.map(|k| k.to_string()));
        put("state", self.state.map(|s| s.as_str().to_owned()));
        put("category", self.category.clone());
        put("limit", self.limit.map(|l| l.to_string()));
        put("offset", (self.offset > 0).then(|| self.offset.to_string()));
        pairs
    }
}

/// `GET /v1/threads` and `GET /v1/deals`: which of the owner's threads or deals, and a page
/// of them (a busy shop's trial found the offers waiting on it scattered among 23 threads, with
/// no way to pick them out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboxParams {
    /// Only those waiting on the owner (NEXT `you`): a thread whose move is the owner's, a deal
    /// whose step is.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub todo: bool,
    /// Only those not over: a thread still open, a deal neither completed nor cancelled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
    /// Per page (default all, at most 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// How many to skip.
    pub offset: usize,
}

impl InboxParams {
    /// The parameters as `name=value` pairs, for a query string.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if self.todo {
            pairs.push(("todo", "true".to_owned()));
        }
        if self.open {
            pairs.push(("open", "true".to_owned()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if self.offset > 0 {
            pairs.push(("offset", self.offset.to_string()));
        }
        pairs
    }

    /// Whether the parameters ask for anything but everything.
    pub fn picks_some(&self) -> bool {
        self.todo || self.open
    }
}

/// A state `GET /v1/listings` picks listings by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListingsState {
    /// On offer.
    Active,
    /// An auction or campaign past its end, which the owner's node has not closed yet (active on
    /// the wire, taking nothing more; its `status` says `ended`, `funded` or `missed`).
    Ended,
    /// Past its lifetime (a renewal gives it another).
    Expired,
    /// Retracted, sold out, given away or found.
    Closed,
}

impl ListingsState {
    /// Every state, in the order listings come in.
    pub const ALL: [ListingsState; 4] =
        [ListingsState::Active, ListingsState::Ended, ListingsState::Expired, ListingsState::Closed];

    /// As the query string writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Expired => "expired",
            Self::Closed => "closed",
        }
    }
}

/// `POST /v1/threads/{id}/decline` and `/withdraw`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageBody {
    /// A note to the other party.
    pub message: String,
}

/// `GET /v1/search`: the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchParams {
    /// Words to match; empty matches everything.
    pub q: String,
    /// Only this kind of listing.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ListingKind>,
    /// Category path or prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Lowest price, decimal (needs `currency`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_price: Option<String>,
    /// Highest price, decimal (needs `currency`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<String>,
    /// Only prices in this currency.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Only this seller's listings.
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub seller: Option<PublicKey>,
    /// Words that must appear in the location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near: Option<String>,
    /// Only listings with a geohash within `within` of this place: a geohash in lower case, or
    /// `latitude,longitude` in decimal degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub around: Option<String>,
    /// How far from `around`: `10km`, `800m`, `5mi`, or a number of kilometres (default 25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// Order of results (default relevance; distance, nearest first, for a search `around` a
    /// place with no words).
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
    /// Results per page (default 20, at most 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Results to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Only sellers with at least this many deals that count: weighted by the counterparties'
    /// standing, or (with `trusted`) with counterparties in the web of trust.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_deals: Option<u32>,
    /// Only sellers rated by someone in the web of trust (and count deals there).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
    /// Only listings with a calendar free for these nights, `2026-12-20..2026-12-27`
    /// (check-in..check-out), within their stay limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free: Option<String>,
    /// Only whether this listing revision (its full id) matches, whatever its state: the page
    /// holds it or nothing. A retracted or sold-out listing has left the index; this judges it
    /// by the search's words and filters all the same (what a watch of a search asks).
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub listing: Option<ObjectId>,
}

impl SearchParams {
    /// Whether anything narrows the search (text or a filter).
    pub fn is_filtered(&self) -> bool {
        !self.q.trim().is_empty()
            || self.kind.is_some()
            || self.category.is_some()
            || self.min_price.is_some()
            || self.max_price.is_some()
            || self.currency.is_some()
            || self.seller.is_some()
            || self.near.is_some()
            || self.around.is_some()
            || self.min_deals.is_some()
            || self.trusted
            || self.free.is_some()
    }

    /// The query as `name=value` pairs, for a query string.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("q", self.q.clone())];
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        };
        put("kind", self.kind.map(|k| k.to_string()));
        put("category", self.category.clone());
        put("min_price", self.min_price.clone());
        put("max_price", self.max_price.clone());
        put("currency", self.currency.as_ref().map(ToString::to_string));
        put("seller", self.seller.map(|s| s.to_string()));
        put("near", self.near.clone());
        put("around", self.around.clone());
        put("within", self.within.clone());
        put("sort", self.sort.map(|s| s.to_string()));
        put("limit", self.limit.map(|l| l.to_string()));
        put("offset", self.offset.map(|o| o.to_string()));
        put("min_deals", self.min_deals.map(|n| n.to_string()));
        put("trusted", self.trusted.then(|| "true".to_owned()));
        put("free", self.free.clone());
        put("listing", self.listing.map(|id| id.to_string()));
        pairs
    }
}

/// `POST /v1/deals/{id}/feedback`: the owner's public rating of a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// positive, neutral or negative.
    pub rating: String,
    /// What to say (one line, at most 500 characters).
    #[serde(default)]
    pub text: String,
}

/// `POST /v1/deals/{id}/steps`: the owner's next step in a deal. The steps with no fields are
/// empty struct variants, not unit ones: serde lets a unit variant of a tagged enum take any
/// field unread, and `received` or `cancel` with a stray field was signed (from a trial).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepRequest {
    /// Seller: how to pay. `method` is bitcoin (details: a `bitcoin:` URI), lightning
    /// (details: an invoice), iban (details: the IBAN; `reference` what to write on the
    /// transfer), cash (no details) or other (details: text).
    PaymentRequest {
        /// bitcoin, lightning, iban, cash or other.
        method: String,
        /// The URI, invoice, IBAN or text.
        #[serde(default)]
        details: Option<String>,
        /// For iban: the transfer's reference.
        #[serde(default)]
        reference: Option<String>,
    },
    /// Buyer: paid, with an optional reference.
    Paid {
        /// A transaction id or transfer reference.
        #[serde(default)]
        reference: Option<String>,
    },
    /// Seller: shipped or handed over.
    Shipped {
        /// Tracking text.
        #[serde(default)]
        tracking: Option<String>,
    },
    /// Buyer: received; the trade is complete.
    Received {},
    /// Either: agree to call the deal off.
    Cancel {},
    /// Either: something is wrong.
    Dispute {
        /// What.
        reason: String,
    },
    /// Seller of a digital good: hand the buyer the key now (sealed to the buyer).
    Deliver {},
}
