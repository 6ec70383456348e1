//! Listings: what people offer, want, rent out or give away.
//!
//! A listing is identified by its [`ListingKey`] (author + random nonce) and replaced by revisions:
//! a higher revision replaces a lower one, and a `Closed` revision is a signed tombstone.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::{PublicKey, hex_lower};
use crate::price::Price;
use crate::time::Timestamp;

/// What sort of listing this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ListingKind {
    /// Goods for sale.
    Sell,
    /// A wanted ad: the author wants to buy; sellers make offers to them.
    Wanted,
    /// Work offered, at a fixed price or per period.
    Service,
    /// Something rented out per period.
    Rental,
    /// Free to whoever asks.
    Giveaway,
    /// One item sold to the highest bidder by a set time (see [`crate::auction`]).
    Auction,
    /// A crowdfunding campaign: pledges toward a goal by a deadline (see [`crate::crowdfund`]).
    Crowdfund,
    /// A file sold, not shown: its encrypted form travels, and a buyer gets the key (see
    /// [`crate::blob::DigitalFile`]).
    Digital,
}

impl ListingKind {
    /// Every kind, in wire order.
    pub const ALL: [ListingKind; 8] = [
        ListingKind::Sell,
        ListingKind::Wanted,
        ListingKind::Service,
        ListingKind::Rental,
        ListingKind::Giveaway,
        ListingKind::Auction,
        ListingKind::Crowdfund,
        ListingKind::Digital,
    ];

    /// The lowercase name, as shown and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            ListingKind::Sell => "sell",
            ListingKind::Wanted => "wanted",
            ListingKind::Service => "service",
            ListingKind::Rental => "rental",
            ListingKind::Giveaway => "giveaway",
            ListingKind::Auction => "auction",
            ListingKind::Crowdfund => "crowdfund",
            ListingKind::Digital => "digital",
        }
    }
}

impl std::str::FromStr for ListingKind {
    type Err = crate::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ListingKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            crate::UnknownName::new("listing kind", s, &ListingKind::ALL.map(ListingKind::as_str))
        })
    }
}

impl fmt::Display for ListingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a listing revision is live or a tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ListingStatus {
    /// Live: open to offers until it expires.
    Active,
    /// Retracted or sold out. Kept and synced so the listing stays gone everywhere.
    Closed,
}

/// Where the thing is: free text, and optionally a geohash for distance filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Location {
    /// The place as people write it, e.g. a town; one line of at most 140 characters.
    pub text: String,
    /// Geohash of the place, at most 12 characters, for distance filters.
    pub geohash: Option<String>,
}

/// One revision of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Random, chosen once per listing; with the author it makes the [`ListingKey`].
    pub nonce: [u8; 16],
    /// Starts at 1; each update, renewal or retraction is the next number.
    pub revision: u32,
    /// Sell, wanted, service, rental or giveaway.
    pub kind: ListingKind,
    /// Active, or Closed for a tombstone.
    pub status: ListingStatus,
    /// One line of at most 140 characters, not blank.
    pub title: String,
    /// Free text of at most 8 KiB; may hold newlines and tabs.
    pub description: String,
    /// Slash-separated path of lowercase segments, e.g. `vehicles/bikes`.
    pub category: String,
    /// Up to 16 keywords for search, each one line of at most 32 characters.
    pub tags: Vec<String>,
    /// Required for sell, service and rental (rental with a period); none for giveaways; optional
    /// (a budget) for wanted ads.
    pub price: Option<Price>,
    /// How many are available (sell, rental, giveaway) or wanted. Zero only on a closed revision.
    pub quantity: u32,
    /// Where the thing is.
    pub location: Location,
    /// Accepted ways to pay, e.g. `cash`, `sepa`, `btc`.
    pub payment: Vec<String>,
    /// Delivery terms in free text, e.g. `pickup only` or `ships EU, 8 EUR`.
    pub delivery: String,
    /// When the listing lapses: after its creation, and at most 90 days after it.
    pub expires_at: Timestamp,
    /// The rules of a market with time in it (an auction's terms); `None` for a plain listing.
    pub market: Option<Market>,
    /// Pictures of the thing, at most 8, each with a thumbnail.
    pub images: Vec<crate::blob::Image>,
    /// The file a `digital` listing sells; `None` for every other kind.
    pub file: Option<crate::blob::DigitalFile>,
}

/// The rules a listing of a timed market carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Market {
    /// An auction's terms (the listing's kind is `auction`, its price the start price).
    Auction(crate::auction::AuctionTerms),
    /// A rental's (or a service's) availability calendar; its price is per period.
    Calendar(crate::calendar::Calendar),
    /// A crowdfunding campaign's deadline and reward tiers (the listing's price is the goal).
    Campaign(crate::crowdfund::Campaign),
}

impl Listing {
    /// What a buyer reads of this revision that differs from `earlier` (another revision of the
    /// same listing), in the words people use: the title, description, price, pictures and so
    /// on. What revisions change by themselves (the number, the quantity left, the status, the
    /// expiry, a calendar's booked nights, an auction's end) is left out.
    pub fn changes_since(&self, earlier: &Listing) -> Vec<&'static str> {
        // Tags and ways to pay are sets: the same ones in another order are no change.
        fn same_set(a: &[String], b: &[String]) -> bool {
            a.iter().collect::<std::collections::BTreeSet<_>>() == b.iter().collect()
        }
        let fields = [
            (self.kind != earlier.kind, "kind"),
            (self.title != earlier.title, "title"),
            (self.description != earlier.description, "description"),
            (self.category != earlier.category, "category"),
            (!same_set(&self.tags, &earlier.tags), "tags"),
            (self.price != earlier.price, "price"),
            (self.location != earlier.location, "location"),
            (!same_set(&self.payment, &earlier.payment), "payment methods"),
            (self.delivery != earlier.delivery, "delivery"),
            (self.images != earlier.images, "pictures"),
            (self.file != earlier.file, "file"),
        ];
        fields.into_iter().filter(|(changed, _)| *changed).map(|(_, name)| name).collect()
    }

    /// Whether a change named by [`Listing::changes_since`] is to what the listing describes, so
    /// that an answer to an offer made before it binds the listing's author to the old text. A
    /// new asking price or other tags bind nobody to anything (an offer names its own price).
    pub fn change_binds(change: &str) -> bool {
        !matches!(change, "price" | "tags")
    }

    /// The auction's terms, if this is an auction.
    pub fn auction(&self) -> Option<&crate::auction::AuctionTerms> {
        match &self.market {
            Some(Market::Auction(terms)) => Some(terms),
            _ => None,
        }
    }

    /// The campaign's rules, if this is a crowdfunding campaign.
    pub fn campaign(&self) -> Option<&crate::crowdfund::Campaign> {
        match &self.market {
            Some(Market::Campaign(campaign)) => Some(campaign),
            _ => None,
        }
    }

    /// Every file this revision names: its pictures and their thumbnails, and a digital good's
    /// encrypted file and preview.
    pub fn files(&self) -> Vec<crate::blob::BlobHash> {
        let mut out = Vec::new();
        for image in &self.images {
            out.extend([image.blob.hash, image.thumb.hash]);
        }
        if let Some(file) = &self.file {
            out.push(file.sealed);
            out.extend(file.preview.map(|p| p.hash));
        }
        out
    }

    /// The availability calendar, if this listing takes bookings.
    pub fn calendar(&self) -> Option<&crate::calendar::Calendar> {
        match &self.market {
            Some(Market::Calendar(calendar)) => Some(calendar),
            _ => None,
        }
    }

    /// Whether deals leave the quantity as it was: copies of a digital good are not scarce, and
    /// a service's work or a rental's item without a calendar is there again for the next
    /// customer (a calendar counts nights instead). The quantity then only caps what one deal
    /// may take (for a price per period, the periods one deal covers), and no revision follows
    /// a deal.
    pub fn deals_leave_quantity(&self) -> bool {
        match self.kind {
            ListingKind::Digital => true,
            ListingKind::Service | ListingKind::Rental => self.market.is_none(),
            _ => false,
        }
    }

    /// Whether no deal uses up this listing's quantity: deals leave it
    /// ([`Self::deals_leave_quantity`]), or the listing takes bookings, whose deals take nights
    /// and never its one unit (a deal without nights, from an offer made before the calendar,
    /// included). What is promised then counts one deal at a time, not summed.
    pub fn quantity_never_used_up(&self) -> bool {
        self.deals_leave_quantity() || self.calendar().is_some()
    }
}

/// Names a listing across its revisions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListingKey {
    /// The listing's author.
    pub author: PublicKey,
    /// The listing's random nonce.
    pub nonce: [u8; 16],
}

impl ListingKey {
    /// `author (32) || nonce (16)`: the form used as a database key.
    pub fn to_bytes(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..32].copy_from_slice(self.author.as_bytes());
        out[32..].copy_from_slice(&self.nonce);
        out
    }

    /// Reads the 48-byte form made by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8; 48]) -> Self {
        let mut author = [0u8; 32];
        author.copy_from_slice(&bytes[..32]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&bytes[32..]);
        ListingKey { author: PublicKey::from_bytes(author), nonce }
    }
}

impl std::str::FromStr for ListingKey {
    type Err = ParseListingKeyError;

    /// Reads the form [`fmt::Display`] writes: the author's key and the nonce, 96 hex characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 96 || !s.is_ascii() {
            return Err(ParseListingKeyError);
        }
        let bytes =
            data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).map_err(|_| ParseListingKeyError)?;
        let bytes: [u8; 48] = bytes.try_into().map_err(|_| ParseListingKeyError)?;
        Ok(ListingKey::from_bytes(&bytes))
    }
}

/// A listing key that is not 96 hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a listing key is 96 hex characters: the author's key, then the nonce")]
pub struct ParseListingKeyError;

impl fmt::Debug for ListingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListingKey({}/{})", self.author.fmt_short(), hex_lower(&self.nonce))
    }
}

impl fmt::Display for ListingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.author.to_hex(), hex_lower(&self.nonce))
    }
}

/// A fresh random listing nonce.
pub fn new_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("the operating system's random source is available");
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::live_listing;

    #[test]
    fn a_listing_key_reads_back_as_written() {
        let key = ListingKey { author: crate::SecretKey::from_seed(&[3; 32]).public(), nonce: [9; 16] };
        assert_eq!(key.to_string().parse::<ListingKey>(), Ok(key));
        assert_eq!(key.to_string().to_uppercase().parse::<ListingKey>(), Ok(key));
        assert!(key.to_string()[1..].parse::<ListingKey>().is_err());
        assert!(format!("{}zz", &key.to_string()[2..]).parse::<ListingKey>().is_err());
    }

    #[test]
    fn what_a_buyer_reads_is_a_change_and_what_revisions_do_by_themselves_is_not() {
        let first = Listing { payment: vec!["cash".into(), "sepa".into()], ..live_listing("Desk lamp") };
        let mut later = Listing { revision: 3, quantity: 0, status: ListingStatus::Closed, ..first.clone() };
        later.payment.reverse();
        assert!(later.changes_since(&first).is_empty(), "{:?}", later.changes_since(&first));
        later.description = "Has a dent on the base".into();
        later.price = None;
        assert_eq!(later.changes_since(&first), vec!["description", "price"]);
        let binding: Vec<_> =
            later.changes_since(&first).into_iter().filter(|c| Listing::change_binds(c)).collect();
        assert_eq!(binding, vec!["description"], "a new price alone binds nobody to anything");
    }
}
