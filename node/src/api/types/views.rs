//! What the API answers: listings, threads, deals, status, each as this node sees it.

use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::serde_text::{key_text, opt_text, text};
use super::{
    Currency, DeliveryState, ListingKind, ObjectId, ObjectKind, Period, PublicKey, StoreStats, ThreadState,
};

/// A price as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceView {
    /// Minor units (cents for EUR).
    pub amount: u64,
    /// Currency code.
    pub currency: Currency,
    /// What a rental or service price is charged per.
    #[serde(with = "opt_text")]
    pub per: Option<Period>,
    /// The currency's decimal places: `amount` is the price times 10^decimals (2 for most
    /// currencies, 0 for JPY, KRW, ISK, CLP, VND and HUF, 8 for BTC and LTC). Always sent;
    /// `None` only in an answer from a node built before it was.
    #[serde(default)]
    pub decimals: Option<u32>,
    /// For people: `120.00 EUR`, `15.00 EUR/day`.
    pub display: String,
}

/// Terms of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsView {
    /// How many.
    pub quantity: u32,
    /// For the whole quantity.
    pub price: PriceView,
    /// When the proposal lapses (unix ms).
    pub expires_at: u64,
    /// For a booking: the nights (check-in..check-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates: Option<String>,
    /// What `quantity` counts when the listing is priced per period (a rental or service at so
    /// much an hour or a day): `3` of `day` is three days, for `price` in all. Left out for
    /// goods, for a booking (its `dates` say what it covers), and when this node does not hold
    /// the listing.
    #[serde(default, with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub unit: Option<Period>,
}

/// Whether a listing can still be traded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingState {
    /// Live and unexpired.
    Active,
    /// Past its expiry.
    Expired,
    /// Retracted or sold out (a tombstone).
    Closed,
}

impl ListingState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ListingState::Active => "active",
            ListingState::Expired => "expired",
            ListingState::Closed => "closed",
        }
    }
}

impl ListingView {
    /// Its state for people. An auction past its end, or a campaign past its deadline, is still
    /// `active` to the protocol (until its owner's node closes it) but takes no more bids or
    /// pledges: it reads `ended`, or for a campaign `funded` or `missed`. A closed listing says
    /// how it closed: with nothing left (`sold out`, an auction `sold`, a giveaway `given away`,
    /// a wanted ad `found`), or by its owner (`retracted`: with some left, or after it sold out).
    pub fn label(&self) -> &'static str {
        match self.state {
            ListingState::Active => {}
            ListingState::Closed if self.retracted => return "retracted",
            ListingState::Closed => {
                return match (&self.campaign, self.kind, self.quantity) {
                    (Some(c), _, _) if c.missed => "missed",
                    (Some(c), _, _) if c.cancelled => "cancelled",
                    (Some(c), _, _) if c.funded => "funded",
                    (Some(_), _, _) => "closed",
                    (None, ListingKind::Auction, 0) => "sold",
                    (None, ListingKind::Giveaway, 0) => "given away",
                    (None, ListingKind::Wanted, 0) => "found",
                    (None, _, 0) => "sold out",
                    (None, _, _) => "retracted",
                };
            }
            _ => return self.state.as_str(),
        }
        match (&self.auction, &self.campaign) {
            (Some(a), _) if a.over => "ended",
            (_, Some(c)) if c.over && c.funded => "funded",
            (_, Some(c)) if c.over && c.missed => "missed",
            (_, Some(c)) if c.over => "ended",
            _ => self.state.as_str(),
        }
    }

    /// The state `GET /v1/listings?state=` picks it by: an auction or campaign past its end
    /// reads active until its owner's node closes it, and is `ended` here.
    pub fn listings_state(&self) -> super::ListingsState {
        use super::ListingsState;
        match self.state {
            ListingState::Active if self.label() == ListingState::Active.as_str() => ListingsState::Active,
            ListingState::Active => ListingsState::Ended,
            ListingState::Expired => ListingsState::Expired,
            ListingState::Closed => ListingsState::Closed,
        }
    }
}

/// A listing's current revision as this node sees it (or an earlier one, asked for by its id
/// with `exact`: then `replaced_by` names the current one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingView {
    /// This revision's id.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// Set when this is an earlier revision: the id of the listing's current revision.
    #[serde(default, with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<ObjectId>,
    /// The listing key (author and nonce), the same for every revision.
    pub key: String,
    /// The seller (or, for a wanted ad, the buyer).
    #[serde(with = "key_text")]
    pub author: PublicKey,
    /// Whether this node's owner wrote it.
    pub mine: bool,
    /// Whether this node's owner blocked its author (such listings are left out of searches
    /// and live events, and shown only when asked for).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
    /// Revision number, from 1.
    pub revision: u32,
    /// What sort of listing.
    #[serde(with = "text")]
    pub kind: ListingKind,
    /// Whether it can still be traded.
    pub state: ListingState,
    /// Closed with nothing left (sold out, say) and then retracted by its owner, so that it
    /// stays closed if a deal for it is called off: it reads `retracted`, not sold out. Left out
    /// otherwise (a listing retracted with some left reads `retracted` by its quantity).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retracted: bool,
    /// Its state in words, as `haggle` shows it (see [`ListingView::label`]): `active`,
    /// `expired`, `ended`, `funded`, `missed`, `sold`, `sold out`, `given away`, `found`,
    /// `retracted`, `cancelled` or `closed`.
    #[serde(default)]
    pub status: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category path.
    pub category: String,
    /// Tags.
    pub tags: Vec<String>,
    /// None for giveaways and listings without a price.
    pub price: Option<PriceView>,
    /// Quantity this revision offers.
    pub quantity: u32,
    /// For the owner: what is left to promise after deals and what open threads promise (counter-offers,
    /// accepts awaiting confirmation).
    pub remaining: Option<u32>,
    /// Location text.
    pub location: String,
    /// Geohash of the location.
    pub geohash: Option<String>,
    /// Accepted ways to pay.
    pub payment: Vec<String>,
    /// Delivery terms.
    pub delivery: String,
    /// When this revision was signed (unix ms).
    pub created_at: u64,
    /// When it expires (unix ms).
    pub expires_at: u64,
    /// In the results of a search by distance only: how far the middle of its geohash's cell
    /// is from the place searched around, in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// Search relevance, in search results only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// In answers to the owner's listing actions only: whether the revision went out by gossip
    /// at once or waits for a peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip: Option<GossipState>,
    /// What this node knows of the author's deals (see [`ReputationView`]).
    #[serde(default)]
    pub reputation: Option<ReputationBrief>,
    /// For an auction: its state from the bids this node holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auction: Option<Box<super::AuctionInfo>>,
    /// For a crowdfunding campaign: its progress from the pledges this node holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Box<super::CampaignInfo>>,
    /// Pictures, each with its thumbnail (`GET /v1/blobs/{hash}` serves what this node holds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<haggle_protocol::Image>,
    /// For a digital good: the file sold (name, size, hashes, preview).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<haggle_protocol::DigitalFile>,
    /// For the owner's own digital good: true when this node no longer holds the encrypted
    /// file it sells, or its key (removed from `blobs/` by hand, say), so no buyer can get it
    /// and the node sells nothing by itself; left out otherwise. Publishing the file again
    /// (`PATCH` with a new `file`) mends it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub file_lost: bool,
    /// For a listing taking bookings: its calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<Box<super::CalendarView>>,
    /// In `GET /v1/listings/{id}` only: the owner's messages about it (with its author, or, for
    /// the owner's own listing, with everyone who wrote about it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<ListingMessages>,
}

/// The owner's messages about one listing (`ListingView::messages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingMessages {
    /// Conversations about it: at most one for someone else's listing.
    pub conversations: usize,
    /// Messages in them, both sides.
    pub notes: usize,
    /// The other side's messages not read yet.
    pub unread: usize,
    /// The conversation's id, when there is exactly one (`haggle messages ID` reads it).
    #[serde(with = "opt_text", default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ObjectId>,
}

/// An identity's reputation in a line: for listings and search results.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReputationBrief {
    /// Positive ratings from distinct counterparties (unweighted).
    pub positive: u32,
    /// Neutral ratings from distinct counterparties (unweighted).
    pub neutral: u32,
    /// Negative ratings from distinct counterparties (unweighted).
    pub negative: u32,
    /// Deals counted by the counterparties' standing (0 to 1 each), whatever their rating.
    #[serde(serialize_with = "count")]
    pub weighted_deals: f64,
    /// Positive ratings, each weighted by the rater's standing shared among everyone it rated.
    #[serde(serialize_with = "count", default)]
    pub weighted_positive: f64,
    /// Negative ratings, each weighted by the rater's standing shared among everyone it rated.
    #[serde(serialize_with = "count", default)]
    pub weighted_negative: f64,
    /// Whether the web of trust vouches for it (what `--trusted` keeps): it is this node's
    /// owner or a trusted key, or raters within the web of trust rated it positive more often
    /// than negative.
    #[serde(default)]
    pub in_web_of_trust: bool,
    /// Counterparties within the web of trust who rated it.
    pub trusted_raters: u32,
    /// Whether its weighted positive ratings minus its weighted negative ones reach 1.
    pub trusted: bool,
    /// This node's owner's own latest rating of it (`positive`, `neutral` or `negative`), if
    /// any; left out otherwise.
    #[serde(default, with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub yours: Option<haggle_protocol::Rating>,
}

/// Ratings from distinct counterparties: whole numbers in the raw view, weights to the
/// hundredth in the others. A whole number is written as one (`2`, not `2.0`), as a listing's
/// reputation brief writes its counts (from a trial).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RatingCounts {
    /// Positive.
    #[serde(serialize_with = "count")]
    pub positive: f64,
    /// Neutral.
    #[serde(serialize_with = "count")]
    pub neutral: f64,
    /// Negative.
    #[serde(serialize_with = "count")]
    pub negative: f64,
}

/// A count or weight as JSON: a whole number without a fraction.
fn count<S: serde::Serializer>(value: &f64, out: S) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        out.serialize_i64(*value as i64)
    } else {
        out.serialize_f64(*value)
    }
}

/// An identity's reputation, computed by this node from the verified feedback it holds
/// (`GET /v1/reputation/{key}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReputationView {
    /// The identity.
    #[serde(with = "key_text")]
    pub key: PublicKey,
    /// Whether it is this node's owner.
    #[serde(default)]
    pub mine: bool,
    /// Whether it is one of the keys this node's owner trusts (`trusted_keys`).
    #[serde(default)]
    pub trusted_key: bool,
    /// Whether this node's owner blocked it (`haggle block`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
    /// Whether the web of trust vouches for it (what `--trusted` keeps).
    #[serde(default)]
    pub in_web_of_trust: bool,
    /// Ratings from distinct counterparties, unweighted: anyone with many keys can fake these.
    pub raw: RatingCounts,
    /// The same, each weighted by the counterparty's standing shared among everyone it rated.
    pub weighted: RatingCounts,
    /// Ratings from counterparties within `hops_limit` deals of this node's owner (and the keys
    /// it trusts); raters reached only through one identity share one unit.
    pub web_of_trust: RatingCounts,
    /// How far the web of trust reaches, in deals.
    pub hops_limit: u32,
    /// Distinct deals seen in feedback, either way.
    pub deals: usize,
    /// The first of those deals (unix ms).
    pub first_deal: Option<u64>,
    /// The latest of those deals (unix ms).
    pub last_deal: Option<u64>,
    /// The identity's own standing (0 to 1): trust flowing to it from this node's owner.
    #[serde(serialize_with = "count")]
    pub standing: f64,
    /// Steps in the web of trust from this node's owner (0: the owner or a trusted key; 1: a
    /// counterparty of the owner, or someone an anchor rated positive; then along positive
    /// ratings), if within it.
    pub hops: Option<u32>,
    /// Whether weighted positive minus weighted negative ratings reach 1.
    pub trusted: bool,
    /// The feedback about it, newest deal first (at most 50).
    pub feedback: Vec<FeedbackView>,
}

/// One feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackView {
    /// The feedback's id.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// The deal rated.
    #[serde(with = "text")]
    pub deal: ObjectId,
    /// Who rated.
    #[serde(with = "key_text")]
    pub author: PublicKey,
    /// Who was rated.
    #[serde(with = "key_text")]
    pub subject: PublicKey,
    /// positive, neutral or negative.
    pub rating: String,
    /// What the author said.
    pub text: String,
    /// When the deal was made (unix ms).
    pub made_at: u64,
    /// How much the rating weighs, 0 to 1: the author's standing shared among everyone it
    /// rated (1 for the owner's own and its trusted keys'); 0 when superseded.
    #[serde(serialize_with = "count")]
    pub weight: f64,
    /// When the author signed it (unix ms).
    #[serde(default)]
    pub rated_at: u64,
    /// A later rating by the same author of the same identity counts instead.
    #[serde(default)]
    pub superseded: bool,
    /// Whether this node's owner wrote it.
    #[serde(default)]
    pub mine: bool,
    /// Whether it rates this node's owner.
    #[serde(default)]
    pub about_me: bool,
    /// What the rated one was in the deal: `seller` (a giveaway's giver) or `buyer` (its
    /// taker); absent where this node does not hold the listing the deal was made on.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "as")]
    pub role: Option<DealRole>,
}

/// A party's side of a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealRole {
    /// Hands over the goods or does the work (a giveaway's giver).
    Seller,
    /// Pays (a giveaway's taker).
    Buyer,
}

impl DealRole {
    /// Its name, as JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            DealRole::Seller => "seller",
            DealRole::Buyer => "buyer",
        }
    }
}

/// Whether an object the owner published went out by gossip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GossipState {
    /// Handed to the gossip mesh.
    Sent,
    /// No peer to send it to yet: it goes out when one subscribes (and sync brings it to nodes
    /// that were away).
    Queued,
    /// Stored, and the node was stopping before it could send it: it reaches peers by sync once
    /// the node runs again.
    Stopping,
}

/// Which side of a thread this node's owner is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Wrote the listing the offer was made on. (`listing author`, with a space, is what
    /// nodes before 2026-12-03 sent, still read.)
    #[serde(rename = "listing_author", alias = "listing author")]
    ListingAuthor,
    /// Made the offer.
    #[serde(rename = "offerer")]
    Offerer,
}

impl Role {
    /// The name for people (the API's is `listing_author` for the first).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ListingAuthor => "listing author",
            Role::Offerer => "offerer",
        }
    }
}

/// How a bid or pledge still open came out once its auction or campaign was over (the thread
/// itself stays `open` until its terms lapse, days later: a bid or pledge is a promise until
/// then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicOutcome {
    /// The auction is over and a higher bid is the high one: this bid is not accepted, unless
    /// the high bid falls through and the seller takes this one as the next bid.
    Outbid,
    /// The auction is over and this is the high bid, under the seller's reserve: no sale, unless
    /// the seller accepts it by hand.
    ReserveNotMet,
    /// The campaign's deadline passed short of its goal: nothing is owed.
    GoalMissed,
    /// The seller's node sold the auction to another bid and closed it without accepting this
    /// one: it did not reach that node before the end, or another was higher there. On the
    /// seller's node, also as soon as it accepted another bid (before the deal closes it).
    NotAccepted,
    /// The owner closed the listing without accepting this bid or pledge.
    Closed,
    /// The owner's auction is over and this is the high bid, meeting any reserve, from a key the
    /// owner blocked: its node leaves it to the owner to accept or decline. Said only on the
    /// owner's node.
    BidderBlocked,
    /// The owner's campaign met its goal and this pledge is from a key the owner blocked: its
    /// node does not accept it by itself, and leaves it to the owner to accept or decline. Said
    /// only on the owner's node.
    BackerBlocked,
    /// The owner's auction is over, its high bid fell through (the owner declined it or blocked
    /// its bidder, or its accept lapsed unconfirmed), and this is the best bid still open: the
    /// owner may sell to it by hand. Said only on the owner's node.
    NextBid,
    /// The auction is over and the seller declined another, higher bid of this bidder: this
    /// one is passed over too (a next bid comes from another bidder). Said on the seller's
    /// node and the bidder's.
    PassedOver,
}

impl PublicOutcome {
    /// The name the API uses, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicOutcome::Outbid => "outbid",
            PublicOutcome::ReserveNotMet => "reserve not met",
            PublicOutcome::GoalMissed => "goal missed",
            PublicOutcome::NotAccepted => "not accepted",
            PublicOutcome::Closed => "closed",
            PublicOutcome::BidderBlocked => "bidder blocked",
            PublicOutcome::BackerBlocked => "backer blocked",
            PublicOutcome::NextBid => "next bid",
            PublicOutcome::PassedOver => "passed over",
        }
    }
}

/// One of the two parties, from this node's owner's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// This node's owner.
    Me,
    /// The other party.
    Them,
}

impl Party {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Me => "me",
            Party::Them => "them",
        }
    }
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// The message's id.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// offer, counter, accept, decline or withdraw.
    #[serde(with = "text")]
    pub kind: ObjectKind,
    /// Who wrote it.
    pub from: Party,
    /// When it was signed (unix ms).
    pub created_at: u64,
    /// The note it carries.
    pub message: String,
    /// The terms an offer or counter proposes.
    pub terms: Option<TermsView>,
    /// False for a reply that lost a crossing and does not count.
    pub on_chain: bool,
    /// For the owner's own messages: how far delivery got.
    #[serde(with = "opt_text")]
    pub delivery: Option<DeliveryState>,
    /// For the owner's own messages not delivered: why the last attempt did not deliver it (the
    /// other party's node's refusal, or the network's error). Queued: tried again; failed: not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
    /// For the owner's own messages delivered: when the attempt that delivered it began, unix
    /// ms by this node's clock (the other party's node took it then or a little later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<u64>,
    /// For the owner's own messages not delivered yet: a sealed copy is made (a mailbox other
    /// nodes carry until the other party's node comes online, gossiped at once or as soon as
    /// this node has a peer).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
    /// A decline or withdrawal a node signed by itself when its owner's listing closed (sold
    /// out, retracted, expired, a campaign short of its goal), not one its owner typed.
    #[serde(default)]
    pub automatic: bool,
}

impl ThreadView {
    /// Whether the thread is a bid or pledge still open before its auction's end or campaign's
    /// deadline: the owner's node answers it then, by itself, and nobody is holding it up.
    pub fn waits_for_end(&self) -> bool {
        // Not one replaced by a later pledge, or refused by the other node: those wait for
        // nothing (from a review, once `awaiting` no longer told them apart).
        matches!(self.opening, ObjectKind::Bid | ObjectKind::Pledge)
            && self.outcome.is_none()
            && self.replaced_by.is_none()
            && !self.refused
            && self.state == ThreadState::Open
            // A withdrawal (a pledge of 0) waits for nothing (from a trial: its NEXT read "at
            // end", and its `show` that the node would accept it at the deadline).
            && !(self.opening == ObjectKind::Pledge && self.terms.price.amount == 0)
    }

    /// Whether the thread goes on: someone's move, or a bid or pledge waiting for its end.
    pub fn live(&self) -> bool {
        self.awaiting.is_some() || self.waits_for_end()
    }

    /// Whether the move is the owner's (NEXT `you`).
    pub fn waits_on_me(&self) -> bool {
        self.awaiting == Some(Party::Me) && !self.waits_for_end()
    }
}

/// A negotiation thread from this node's owner's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadView {
    /// The thread's id (its offer's id).
    #[serde(with = "text")]
    pub thread: ObjectId,
    /// What opened it: an offer (a booking request is an offer with dates), a bid or a pledge.
    #[serde(with = "text", default = "offer_kind")]
    pub opening: ObjectKind,
    /// The listing revision the offer was made on (its title and `current_listing` only while this
    /// node holds the listing).
    #[serde(with = "opt_text")]
    pub listing: Option<ObjectId>,
    /// The listing's current revision as this node holds it (the id `haggle listings` and
    /// `haggle search` show), when it differs from `listing`.
    #[serde(default, with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub current_listing: Option<ObjectId>,
    /// What the listing's author changed between `listing` (the revision the offer was made on,
    /// whose terms stand) and `current_listing`: `title`, `description`, `price`, `pictures`,
    /// ... (the quantity left and the booked nights not counted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listing_changed: Vec<String>,
    /// Its title.
    pub listing_title: Option<String>,
    /// Its kind (`wanted`: the offerer would sell; `giveaway`: nothing is paid), when held.
    #[serde(default, with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub listing_kind: Option<ListingKind>,
    /// The owner's side.
    pub role: Role,
    /// The other party.
    #[serde(with = "key_text")]
    pub counterparty: PublicKey,
    /// Whether this node's owner blocked the other party (`haggle block`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
    /// Whether the other party's node refused the owner's offer that opened the thread, for
    /// good (a key it blocked, say): it never held the thread, and nothing more comes of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
    /// Where the negotiation stands.
    #[serde(with = "text")]
    pub state: ThreadState,
    /// The latest terms (or the accepted ones).
    pub terms: TermsView,
    /// Who proposed them.
    pub proposed_by: Party,
    /// Whose move it is; `None` once the thread has ended.
    pub awaiting: Option<Party>,
    /// Delivery of the owner's latest message.
    #[serde(with = "opt_text")]
    pub delivery: Option<DeliveryState>,
    /// The deal's id, once accepted.
    #[serde(with = "opt_text")]
    pub deal: Option<ObjectId>,
    /// Every message, oldest first.
    pub messages: Vec<MessageView>,
    /// The newest message's time (unix ms).
    pub updated_at: Option<u64>,
    /// For a pledge: the backer's later pledge that replaced it (one of 0 is a withdrawal). The
    /// pledge no longer counts and awaits nothing, whatever `state` says.
    #[serde(default, with = "opt_text")]
    pub replaced_by: Option<ObjectId>,
    /// For a bid or pledge still open after its auction or campaign is over: how it came out.
    /// It awaits nothing then, whatever `state` says, except a high bid under the reserve,
    /// which its seller may still accept by hand.
    #[serde(default)]
    pub outcome: Option<PublicOutcome>,
    /// For a booking still under negotiation whose nights the listing's calendar (as this node
    /// holds it) no longer takes, why: booked meanwhile, no longer open, or outside the stays
    /// now allowed (nights the owner offered in the thread itself are checked against bookings
    /// only). Such terms cannot be accepted; the way on is other nights, or ending the thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nights_unavailable: Option<String>,
    /// On the listing owner's node, for a booking still under negotiation whose nights the
    /// owner promised in another thread (its counter-offer there, or its accept awaiting a
    /// confirm): which, and how they come free. Such terms cannot be accepted while the promise
    /// holds (a trial's owner was offered `accept` for them, and refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nights_promised: Option<String>,
    /// Set when the open terms ask for more than the listing has left: how many it has (its
    /// quantity, less the deals and the listing author's other open counters and accepts this
    /// node knows of). Such terms cannot be accepted as they are; the way on is a counter for
    /// fewer (the listing's author's move) or ending the thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_left: Option<u32>,
    /// Set when the latest terms name a price above 0 in another currency than the listing's
    /// price (in its current revision held here, else the one the offer was made on): the
    /// listing's currency. Either party may have meant
    /// it, but a seller could otherwise accept 45 USD on a listing at 50 EUR unawares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_currency: Option<Currency>,
    /// Set on the offerer's side when the thread ended without a deal (expired, withdrawn or
    /// declined) and the listing is still on offer: the command that starts anew (a new offer,
    /// or a booking request for nights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub again: Option<String>,
    /// The thread's deal was called off by both parties (its `state` stays `accepted`: the
    /// negotiation ended in a deal, which the deal's steps then cancelled).
    #[serde(default)]
    pub deal_cancelled: bool,
    /// For a pledge: its campaign's deadline (unix ms), which decides when the creator's node
    /// answers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
    /// Messages about the thread (notes outside the terms, `GET /v1/messages/{id}`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub notes: usize,
    /// Of [`Self::notes`], the other party's not read yet.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub notes_unread: usize,
}

fn offer_kind() -> ObjectKind {
    ObjectKind::Offer
}

/// What a negotiation action (offer, counter, accept, decline, withdraw) returns: the message
/// signed and the thread it is now part of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentView {
    /// Always `thread`: what the answer describes, as in `GET /v1/objects/{id}`.
    #[serde(rename = "type")]
    pub view_type: ThreadTag,
    /// The message just signed and stored.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// Its kind.
    #[serde(with = "text")]
    pub kind: ObjectKind,
    /// The thread, including this message.
    #[serde(flatten)]
    pub thread: ThreadView,
}

/// The `"type"` of a [`SentView`]: always `thread`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadTag {
    /// A thread.
    #[default]
    Thread,
}

impl DealView {
    /// For the seller: whether the buyer has let a payment request wait its 3 days unpaid, or a
    /// payment the seller disputed has not come in 7 days, so the seller may call the deal off
    /// alone now (see `pay_by`, `payment_disputed_until`): a move of the seller's.
    pub fn may_call_off(&self, now: haggle_protocol::Timestamp) -> bool {
        self.you_are.as_deref() == Some("seller")
            && self.pay_by.or(self.payment_disputed_until).is_some_and(|by| by <= now.as_millis())
    }

    /// For the buyer of a booking handed over ahead of its first day: that day (days since
    /// 1970-01-01, UTC), before which its `received` is refused; `None` otherwise. Its step
    /// waits till then (a retrial's guest was told to say received, refused, and counted it as
    /// its move in `deals --todo`).
    pub fn receives_from(&self, now: haggle_protocol::Timestamp) -> Option<u32> {
        let dates: haggle_protocol::DateRange = self.terms.dates.as_deref()?.parse().ok()?;
        (self.stage == "shipped" && self.you_are.as_deref() == Some("buyer") && !dates.begun(now))
            .then_some(dates.from)
    }
}

/// A deal both parties signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealView {
    /// The deal's id (its Accept's id).
    #[serde(with = "text")]
    pub id: ObjectId,
    /// Messages about the deal's thread (notes outside the terms, `GET /v1/messages/{id}`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub notes: usize,
    /// Of [`Self::notes`], the other party's not read yet.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub notes_unread: usize,
    /// The thread it ended.
    #[serde(with = "text")]
    pub thread: ObjectId,
    /// The listing revision the offer was made on.
    #[serde(with = "text")]
    pub listing: ObjectId,
    /// The listing's current revision as this node holds it (the id `haggle listings` and
    /// `haggle search` show), when it differs from `listing`.
    #[serde(default, with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub current_listing: Option<ObjectId>,
    /// What the listing's author changed between `listing` (the revision the deal was made on,
    /// which it stands on) and `current_listing` (as in [`ThreadView::listing_changed`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listing_changed: Vec<String>,
    /// The listing's title.
    pub title: Option<String>,
    /// The listing's kind (a `giveaway`'s seller gives it, its buyer takes it, for nothing).
    #[serde(default, with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub listing_kind: Option<ListingKind>,
    /// Who hands over the goods or does the work.
    #[serde(with = "key_text")]
    pub seller: PublicKey,
    /// Who pays.
    #[serde(with = "key_text")]
    pub buyer: PublicKey,
    /// Which of the two this node's owner is (`seller` or `buyer`), when one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub you_are: Option<String>,
    /// Whether this node's owner blocked the other party (`haggle block`): the deal goes on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
    /// The accepted terms.
    pub terms: TermsView,
    /// When it was made (the Accept's time, unix ms).
    pub made_at: u64,
    /// Hex of the deal's signed encoding, verifiable offline.
    pub signed: String,
    /// Where the deal stands after the handshake: agreed, payment_requested, paid, shipped,
    /// completed or cancelled.
    #[serde(default)]
    pub stage: String,
    /// Whose step it is (`me` or `them`); absent when the deal is completed or cancelled.
    #[serde(default)]
    pub waiting_on: Option<Party>,
    /// How to pay: the seller's current payment request.
    #[serde(default)]
    pub payment: Option<PaymentView>,
    /// A party opened a dispute and the deal is not over.
    #[serde(default)]
    pub disputed: bool,
    /// The party that asked to call the deal off (`me` or `them`), while the other has not
    /// agreed and the deal is not over; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_asked_by: Option<Party>,
    /// No step for 14 days, and not over: flagged to both parties.
    #[serde(default)]
    pub stale: bool,
    /// Until when (unix ms) the buyer may say it paid before the seller may call the deal off
    /// alone: while a payment request not in cash waits for it and nothing was handed over
    /// (three days from the request); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_by: Option<u64>,
    /// Until when (unix ms) a payment the seller disputed may still come before the seller may
    /// call the deal off alone: seven days from the seller's dispute after the buyer said it
    /// paid, while nothing was handed over or received; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_disputed_until: Option<u64>,
    /// The seller called the deal off alone: the buyer had not said it paid within three days
    /// of the payment request, or the payment it said it made had not come seven days after
    /// the seller disputed it (the timeline's `paid` is then `void`).
    #[serde(default)]
    pub called_off_unpaid: bool,
    /// Of `called_off_unpaid`: the seller called it off after disputing the payment the buyer
    /// said it made (seven days after its dispute), not for a payment never said.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub called_off_disputed: bool,
    /// The buyer said it received the thing before its node had the seller's payment request
    /// (which travelled apart, and came later): the deal stands at `shipped` until the buyer
    /// says it paid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub received_unpaid: bool,
    /// The deal was rated, but this node's record of it is not finished and the rating is not
    /// explained by 14 days without a step before it: this node lacks steps (restored from a
    /// backup), which the other party's node gives back; a step is refused until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub steps_missing: bool,
    /// The deal's steps, oldest first.
    #[serde(default)]
    pub timeline: Vec<StepView>,
    /// The parties' feedback on it (public once given).
    #[serde(default)]
    pub feedback: Vec<FeedbackView>,
    /// Whether the owner may rate it now (`haggle feedback`): completed, or paid or shipped
    /// with no step for 14 days, or called off unpaid, and not rated yet (a booking, once it is
    /// over).
    #[serde(default)]
    pub may_rate: bool,
    /// For a digital good: the file bought (name, size, hashes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<haggle_protocol::DigitalFile>,
    /// For a digital good: whether the seller handed over the key.
    #[serde(default)]
    pub file_key: bool,
    /// For a pledge's deal: the reward tier the pledge earned (by this node's count of the
    /// pledges, in the order they were made), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<String>,
    /// What the parties wrote with their terms in the thread the deal ended (the notes of the
    /// offer and the counters that are part of the deal, oldest first): often when and where,
    /// which the terms do not say (a lesson's hour, a pickup's place).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub said: Vec<SaidView>,
}

/// A note a party wrote with its terms in the thread a deal ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaidView {
    /// Who wrote it.
    pub by: Party,
    /// offer, counter, bid or pledge: the message it came with.
    #[serde(with = "text")]
    pub kind: ObjectKind,
    /// When it was signed (unix ms).
    pub at: u64,
    /// The terms it came with (a note about an hour may go with terms the deal did not keep).
    pub terms: Option<TermsView>,
    /// The note.
    pub message: String,
}

/// A payment request, as the buyer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    /// bitcoin, lightning, iban, cash or other.
    pub method: String,
    /// The details: a URI, an invoice, an IBAN with its reference, or text.
    pub details: String,
    /// For a bank transfer: the IBAN alone, as signed (a script need not take `details` apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    /// For a bank transfer with one: what the buyer writes in the transfer's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// One step of a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    /// The step's id.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// Who signed it.
    pub by: Party,
    /// payment_request, paid, shipped, received, cancel or dispute.
    pub step: String,
    /// Its details (payment details, a reference, tracking text, a dispute's reason), if any.
    pub details: Option<String>,
    /// When it was signed (unix ms).
    pub at: u64,
    /// For a step of the owner's: whether it reached the other party's node (queued, sent,
    /// delivered or failed), as for a negotiation message.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_text")]
    pub delivery: Option<DeliveryState>,
    /// For a step of the owner's not delivered: why the last attempt did not deliver it, as for
    /// a negotiation message (from a trial: a step the other node could not place read only
    /// `[queued]`, for minutes, with that node connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
    /// For a payment request: it is not the one in force (`payment`), because a later request
    /// corrected it, or because the buyer's payment names an earlier one (this one crossed it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded: bool,
    /// In a deal called off: a step that does not count, because a cancellation both parties
    /// signed is final: a `received` (it crossed the last cancel), or any step signed after
    /// the last cancel (by a node that did not know, restored from a backup, say).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub void: bool,
}

/// `GET /v1/objects/{id}`: whatever the id names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObjectView {
    /// A listing revision: the listing's current revision.
    Listing(ListingView),
    /// A negotiation message: its thread.
    Thread(ThreadView),
    /// A deal.
    Deal(DealView),
    /// A feedback: the rating itself.
    Feedback(FeedbackView),
    /// A note: its conversation, read without marking it read.
    Conversation(super::ConversationView),
}

/// `GET /v1/listings`: a page of the owner's listings the parameters pick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingsPage {
    /// Those on offer first, then auctions and campaigns past their end not closed yet, then
    /// expired, then closed, each most recently changed first.
    pub listings: Vec<ListingView>,
    /// How many listings the parameters pick, on every page.
    #[serde(default)]
    pub total: usize,
    /// How many of those were skipped before this page.
    #[serde(default)]
    pub offset: usize,
    /// How many listings the owner has in all, whatever the parameters pick.
    #[serde(default)]
    pub held: usize,
}

/// `GET /v1/listings/closed?since=MS`: others' listings closed since a time, which no search
/// finds (a watch back from a stopped node tells them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedPage {
    /// Newest first.
    pub listings: Vec<ClosedListing>,
}

/// One listing of a [`ClosedPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedListing {
    /// The revision that closed it (its current one).
    #[serde(with = "text")]
    pub id: ObjectId,
    /// When that revision was signed (unix ms, the author's clock).
    pub closed_at: u64,
}

/// `GET /v1/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    /// Listings matching, in all.
    pub total: usize,
    /// Results skipped.
    pub offset: usize,
    /// This page, each with its `score`.
    pub hits: Vec<ListingView>,
    /// The query's words no listing uses, as typed: each matched the words within an edit or
    /// two of it that start with the same letter instead (a guess: say so).
    #[serde(default)]
    pub guessed: Vec<String>,
    /// The query's words no listing uses, nor a word a letter or two from them, as typed:
    /// nothing can match the query while it has them.
    #[serde(default)]
    pub unknown: Vec<String>,
    /// When nothing matched: how many listings would have, but are by keys the owner blocked
    /// (left out of every search that does not name the seller).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hidden: usize,
    /// In a search by distance: where it measured from and how far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub around: Option<AroundView>,
    /// When a reputation, calendar or auction filter or order looked at only the best
    /// [`haggle_storage::MAX_PAGE`] matches of the rest of the query: how many matched that in
    /// all (`total` counts what the filters kept of those looked at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<usize>,
    /// The query with its words that few listings use (at most 10) replaced by a word a letter
    /// or two away that at least 20 listings and twenty times as many use: a typo some listings
    /// share (`headphnes`), which a search matches as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<DidYouMeanView>,
    /// Why the search index cannot take changes now, while it cannot: listings that came since
    /// are missing from the results (they are tried again at each search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_error: Option<String>,
}

/// A search to suggest instead (`SearchPage::did_you_mean`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidYouMeanView {
    /// The query's text with those words replaced.
    pub text: String,
    /// Each word replaced.
    pub words: Vec<InsteadView>,
}

/// One word of a [`DidYouMeanView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsteadView {
    /// The word as typed, which few listings use.
    pub typed: String,
    /// The word many more use.
    pub word: String,
}

impl From<haggle_storage::DidYouMean> for DidYouMeanView {
    fn from(d: haggle_storage::DidYouMean) -> Self {
        let words = d.words.into_iter().map(|w| InsteadView { typed: w.typed, word: w.word }).collect();
        DidYouMeanView { text: d.text, words }
    }
}

/// Where a search by distance measured from (`SearchPage::around`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AroundView {
    /// Latitude, decimal degrees (a geohash given is read as its cell's middle).
    pub lat: f64,
    /// Longitude, decimal degrees.
    pub lon: f64,
    /// How far, in metres.
    pub within_m: u32,
    /// When nothing matched within that distance: how far the nearest listing that matches
    /// everything else is, in metres (absent when none does, or something matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest_m: Option<f64>,
}

/// `GET /v1/threads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadsPage {
    /// Most recent first.
    pub threads: Vec<ThreadView>,
    /// How many the parameters picked, before the page.
    #[serde(default)]
    pub total: usize,
}

/// `GET /v1/deals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealsPage {
    /// Most recent first.
    pub deals: Vec<DealView>,
    /// How many the parameters picked, before the page.
    #[serde(default)]
    pub total: usize,
}

/// `GET /v1/peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeersPage {
    /// Connected peers.
    pub peers: Vec<PeerInfo>,
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer.
    #[serde(with = "text")]
    pub peer_id: PeerId,
    /// Its addresses, as far as known.
    pub addresses: Vec<String>,
    /// The agent it announced (identify).
    pub agent: Option<String>,
    /// gossipsub's score for the peer (negative after invalid messages).
    pub score: Option<f64>,
    /// Invalid objects this node rejected from the peer (kept across reconnects, for the 1,024
    /// most recent offenders).
    pub rejected: u32,
    /// Items of work it asked for over its budgets since it connected (listings by gossip,
    /// sync requests, negotiation messages, file requests), turned away: a flood under the
    /// offence line shows here.
    #[serde(default)]
    pub throttled: u32,
    /// The open connections to the peer (usually one; two while a relayed connection is being
    /// replaced by a direct one).
    #[serde(default)]
    pub connections: Vec<ConnectionView>,
}

/// One connection to a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// The peer's address on this connection (for a relayed one, through the relay).
    pub address: String,
    /// Carried by a relay (`true`) or direct between the two nodes.
    pub relayed: bool,
    /// `tcp` or `quic` (for a relayed connection, what reaches the relay).
    pub transport: String,
    /// This node dialled it (`true`) or accepted it.
    pub outbound: bool,
}

/// Whether other nodes can dial this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    /// A peer dialled one of its addresses back, or it listens on a public address.
    Public,
    /// Peers tried to dial it back and could not: it is behind a NAT or a firewall, reachable
    /// through relays (and then hole punching).
    Private,
    /// Not known yet.
    #[default]
    Unknown,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// This node's id.
    #[serde(with = "key_text")]
    pub peer_id: PublicKey,
    /// The node's version.
    pub version: String,
    /// Where it keeps its data.
    pub data_dir: String,
    /// Peers, gossip and sync.
    pub network: NetworkStatus,
    /// What the store holds.
    pub store: StoreStats,
    /// Own messages not yet delivered.
    pub outbox_pending: usize,
    /// Bytes of whole files held (`blobs/` in the data dir: pictures, digital goods, and the
    /// cache of others' files).
    #[serde(default)]
    pub files_size: u64,
    /// When the node started (ms since the epoch): counters "since start" count from here.
    #[serde(default)]
    pub started_at: u64,
    /// The owner's objects (a listing, an offer) whose proof of work the node is computing now:
    /// a command waits for it (seconds, minutes for a long listing on a slow machine).
    #[serde(default)]
    pub proof_of_work: usize,
    /// Bytes free to the node's user on the file system of its data dir, and that file system's
    /// size (absent if they cannot be read): a node whose disk fills stops, and `haggle status`
    /// warns before (a small-machine trial's status showed only the node's own usage at 100%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free: Option<u64>,
    /// See `disk_free`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_total: Option<u64>,
    /// The settings the node runs with (from `config.toml` and the command line), so an
    /// operator can check a change took.
    #[serde(default)]
    pub settings: SettingsView,
}

/// The settings of `GET /v1/status`: those an operator tunes (the rest are in `config.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SettingsView {
    /// The database's page cache, in MiB.
    pub cache_mib: u64,
    /// Others' listings the store keeps.
    pub max_listings: usize,
    /// Connections the node keeps near (0: all).
    pub target_peers: usize,
    /// Seconds between syncs with a random peer.
    pub sync_secs: u64,
    /// The network's proof-of-work base, in bits.
    pub pow_bits: u32,
    /// MiB of others' files kept.
    pub blob_budget_mib: u64,
    /// Keys trusted like the owner's own, for reputation.
    pub trusted_keys: usize,
    /// How far the web of trust reaches, in deals.
    pub trust_hops: u32,
    /// The other settings that differ from the defaults, as `key = value` (`max_inbound_per_ip
    /// = 1`, `mdns = false`), by name; the addresses are left out (see `network`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// The network part of `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStatus {
    /// This node's PeerId.
    #[serde(with = "text")]
    pub peer_id: PeerId,
    /// Addresses it listens on.
    pub listen_addrs: Vec<String>,
    /// Peers connected.
    pub connected_peers: usize,
    /// Peers subscribed to the listings topic.
    pub topic_peers: usize,
    /// Peers in this node's gossip mesh for the listings topic.
    pub mesh_peers: usize,
    /// Objects waiting for a peer to publish to.
    pub unpublished: usize,
    /// Sync sessions under way.
    pub syncing: usize,
    /// Sync sessions this node started since it started.
    #[serde(default)]
    pub syncs_started: u64,
    /// The most recent completed syncs, newest first, one per peer.
    pub syncs: Vec<SyncInfo>,
    /// Peers this node wants a connection to and has not got, with why (bootstrap first).
    #[serde(default)]
    pub dialing: Vec<DialInfo>,
    /// Whether other nodes can dial this one.
    #[serde(default)]
    pub reachability: Reachability,
    /// Addresses confirmed as reaching this node, which it tells peers (public ones, and
    /// addresses through relays that hold a reservation for it).
    #[serde(default)]
    pub external_addrs: Vec<String>,
    /// Relays holding a reservation for this node.
    #[serde(default)]
    pub relays: Vec<String>,
    /// Connected relays that refused (or dropped) this node's reservation, not asked again
    /// while connected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays_refused: Vec<String>,
    /// Every address the node listens on is private (none global, and not loopback alone): it
    /// is on a LAN, a VPN, a campus or community network, where its peers may dial it while the
    /// internet cannot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private_network: bool,
    /// Whether this node offers to relay for others now.
    #[serde(default)]
    pub relaying: bool,
    /// Relayed connections this node turned into direct ones (hole punching), and attempts
    /// that failed, since it started.
    #[serde(default)]
    pub hole_punches: HolePunches,
    /// Negotiation messages this node delivered since it started, by path.
    #[serde(default)]
    pub delivered: Delivered,
    /// The router's port mapping (UPnP): `off`, `searching`, `mapped <address>`, `no gateway`
    /// or `gateway not routable` (a NAT behind another NAT).
    #[serde(default)]
    pub upnp: String,
    /// Whether the node looks for peers on the local network (mDNS).
    #[serde(default)]
    pub mdns: bool,
    /// How this node's clock compares with its peers'.
    #[serde(default)]
    pub clock: ClockView,
}

/// How this node's clock compares with its peers', judged from the dates of the signed objects
/// they sent fresh (by gossip, or directly) in the last hour: each peer's median (one sample per
/// author), then the median over peers, so one peer, or one author with a wrong clock, cannot
/// move it far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClockView {
    /// This node's clock minus its peers', in milliseconds: positive when it is ahead, negative
    /// when behind. Absent until a connected peer has sent something fresh. Includes the time
    /// objects take to arrive, so a right clock reads a few hundred milliseconds ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew_ms: Option<i64>,
    /// The connected peers the estimate comes from.
    #[serde(default)]
    pub peers: usize,
    /// Of those, the peers whose clocks read within a minute of the estimate.
    #[serde(default)]
    pub agreeing: usize,
    /// The authors of the objects it comes from.
    #[serde(default)]
    pub authors: usize,
    /// Distinct objects with a good signature that came by gossip or directly and were refused
    /// since the node started because they were dated more than 5 minutes ahead of this node's
    /// clock (many of them, from many authors: this clock is behind).
    #[serde(default)]
    pub refused_ahead: u64,
}

impl ClockView {
    /// Off by more than this is worth saying: enough to matter to auctions' ends and offers'
    /// expiries, far above the time objects take to arrive. Peers within this of the estimate
    /// agree with it.
    pub const OFF_MS: i64 = 60_000;

    /// The estimate, when it says this node's clock is off by more than [`Self::OFF_MS`].
    pub fn off_by(&self) -> Option<i64> {
        self.skew_ms.filter(|s| s.unsigned_abs() > Self::OFF_MS.unsigned_abs())
    }

    /// Whether the estimate is more than a guess: three peers or more, most of them agreeing,
    /// from three authors or more. From one or two peers or authors, or peers that disagree
    /// among themselves, this clock may be the right one.
    pub fn is_sure(&self) -> bool {
        self.peers >= 3 && self.authors >= 3 && self.agreeing * 2 > self.peers
    }
}

/// Negotiation messages delivered, by the path they took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Delivered {
    /// Over a direct connection to the other party.
    pub direct: u64,
    /// Through a relay.
    pub relayed: u64,
    /// Through a mailbox on other nodes (the other party was offline, or not reachable): counted
    /// when its signed receipt comes back.
    #[serde(default)]
    pub mailbox: u64,
}

/// Hole punching since the node started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HolePunches {
    /// Relayed connections turned into direct ones.
    pub succeeded: u64,
    /// Attempts that failed (the connection stayed relayed).
    pub failed: u64,
}

/// Why a node dials a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialReason {
    /// A bootstrap peer from the config or the command line.
    Bootstrap,
    /// A peer this node was connected to lately, or found through the DHT or the LAN.
    Recent,
    /// The other party of a message waiting in the outbox.
    Party,
}

/// A peer this node is trying to reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialInfo {
    /// The peer.
    #[serde(with = "text")]
    pub peer: PeerId,
    /// The first address known for it.
    pub address: Option<String>,
    /// Why this node wants it.
    pub reason: DialReason,
    /// Failed attempts since the last connection.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Milliseconds until the next attempt (0: now).
    pub next_attempt_ms: u64,
}

/// A completed catch-up sync with one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInfo {
    /// The peer.
    #[serde(with = "text")]
    pub peer: PeerId,
    /// When it finished (unix ms).
    pub at: u64,
    /// Objects this node received that were new to it.
    pub received: u64,
    /// Objects the peer took from this node that were new to it.
    pub sent: u64,
    /// Reconciliation bytes exchanged (both ways).
    pub reconcile_bytes: u64,
}

/// For `skip_serializing_if`: a count of nothing is left out.
fn is_zero(n: &usize) -> bool {
    *n == 0
}
