//! Builders for valid objects, shared by the tests and benchmarks of every crate (feature
//! `fixtures`). Fixed seeds and clocks make the results deterministic.

use std::time::Duration;

use crate::identity::SecretKey;
use crate::listing::{Listing, ListingKind, ListingStatus, Location};
use crate::negotiation::{Accept, Confirm, Counter, Decline, Offer, Reply, Terms, Withdraw};
use crate::object::{Body, Envelope, Object, Verified};
use crate::price::{Currency, Period, Price};
use crate::time::Timestamp;

/// 2026-01-01T00:00:00Z: the clock fixtures are signed at.
pub const T0: Timestamp = Timestamp(1_767_225_600_000);

/// One day.
pub const DAY: Duration = Duration::from_secs(86_400);

/// A key from a one-byte seed (`[n; 32]`).
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// The `n`th of as many distinct test keys as needed (for markets larger than one author may
/// hold: a node keeps at most 1,000 listings per author).
pub fn author(n: u32) -> SecretKey {
    let mut seed = [0xA5; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    SecretKey::from_seed(&seed)
}

/// A one-off price of `amount` euro cents.
pub fn eur(amount: u64) -> Price {
    Price::new(amount, Currency::new("EUR").expect("valid code"))
}

/// A valid active sell listing, revision 1, expiring 30 days after `T0`.
pub fn listing(title: &str) -> Listing {
    Listing {
        nonce: [0x11; 16],
        revision: 1,
        kind: ListingKind::Sell,
        status: ListingStatus::Active,
        title: title.to_owned(),
        description: "In good condition. Collect in person or I ship at cost.".to_owned(),
        category: "vehicles/bikes".to_owned(),
        tags: vec!["steel".to_owned(), "road".to_owned()],
        price: Some(eur(12_000)),
        quantity: 1,
        location: Location { text: "Ghent, Belgium".to_owned(), geohash: Some("u14dh".to_owned()) },
        payment: vec!["cash".to_owned(), "sepa".to_owned()],
        delivery: "pickup or post".to_owned(),
        expires_at: T0.saturating_add(30 * DAY),
        market: None,
        images: vec![],
        file: None,
    }
}

/// An auction of one item from `start` euro cents, with a reserve of 150 % of the start, the
/// given increment, end and anti-sniping window (seconds), nonce `0x22`s, living 30 days from
/// [`T0`] (or a day past its latest end, if later).
pub fn auction(title: &str, start: u64, increment: u64, ends_at: Timestamp, window_secs: u32) -> Listing {
    let terms =
        crate::auction::AuctionTerms { reserve: Some(start + start / 2), increment, ends_at, window_secs };
    let expires_at = (T0.saturating_add(30 * DAY)).max(terms.bids_stand_until().saturating_add(DAY));
    Listing {
        nonce: [0x22; 16],
        kind: ListingKind::Auction,
        category: "home/lighting".to_owned(),
        price: Some(eur(start)),
        expires_at,
        market: Some(crate::listing::Market::Auction(terms)),
        ..listing(title)
    }
}

/// A rental at 20.00 EUR per day with a calendar open for `open`, stays of 2 to 14 nights,
/// nonce `0x33`s, living 30 days from now.
pub fn bookable(title: &str, open: crate::DateRange) -> Listing {
    Listing {
        nonce: [0x33; 16],
        kind: ListingKind::Rental,
        category: "holiday/cabins".to_owned(),
        price: Some(eur(2_000).per(Period::Day)),
        market: Some(crate::listing::Market::Calendar(crate::Calendar {
            open: vec![open],
            booked: vec![],
            min_stay: 2,
            max_stay: 14,
            instant: false,
        })),
        ..live_listing(title)
    }
}

/// A booking request on `listing` for `dates` at `amount` euro cents in all, standing 7 days.
pub fn booking(listing: &Object, dates: crate::DateRange, amount: u64) -> Body {
    Body::Offer(Offer {
        listing: listing.id(),
        to: listing.author(),
        terms: Terms { dates: Some(dates), ..live_terms(1, amount) },
        message: "We would love to stay.".into(),
    })
}

/// Nights from `from` to `to` days after today (UTC).
pub fn days_ahead(from: u32, to: u32) -> crate::DateRange {
    let today = crate::calendar::day_of(now());
    crate::DateRange { from: today + from, to: today + to }
}

/// A campaign with a goal of `goal` euro cents and `deadline`, with two tiers (Sticker from
/// 10.00, two Mugs from 30.00), nonce `0x44`s, living until its pledges lapse.
pub fn campaign(title: &str, goal: u64, deadline: Timestamp) -> Listing {
    let campaign = crate::Campaign {
        deadline,
        tiers: vec![
            crate::Tier { name: "Sticker".into(), min: 1_000, quantity: 0 },
            crate::Tier { name: "Mug".into(), min: 3_000, quantity: 2 },
        ],
    };
    let expires_at = (T0.saturating_add(30 * DAY)).max(campaign.pledges_stand_until().saturating_add(DAY));
    Listing {
        nonce: [0x44; 16],
        kind: ListingKind::Crowdfund,
        category: "community".to_owned(),
        price: Some(eur(goal)),
        expires_at,
        market: Some(crate::listing::Market::Campaign(campaign)),
        ..listing(title)
    }
}

/// A pledge of `amount` euro cents to the campaign `listing` (0 withdraws), standing as long as
/// pledges must.
pub fn pledge(listing: &Object, amount: u64) -> Body {
    let stands = listing
        .listing()
        .and_then(crate::Listing::campaign)
        .map_or(T0.saturating_add(30 * DAY), crate::Campaign::pledges_stand_until);
    Body::Pledge(Offer {
        listing: listing.id(),
        to: listing.author(),
        terms: Terms { quantity: 1, price: eur(amount), expires_at: stands, dates: None },
        message: String::new(),
    })
}

/// A bid of `amount` euro cents on the auction `listing`, standing as long as bids must.
pub fn bid(listing: &Object, amount: u64) -> Body {
    let stands = listing
        .listing()
        .and_then(crate::Listing::auction)
        .map_or(T0.saturating_add(30 * DAY), crate::auction::AuctionTerms::bids_stand_until);
    Body::Bid(Offer {
        listing: listing.id(),
        to: listing.author(),
        terms: Terms { quantity: 1, price: eur(amount), expires_at: stands, dates: None },
        message: String::new(),
    })
}

/// A rental listing priced per day.
pub fn rental(title: &str) -> Listing {
    Listing {
        kind: ListingKind::Rental,
        category: "tools/garden".to_owned(),
        price: Some(eur(1_500).per(Period::Day)),
        ..listing(title)
    }
}

/// Signs `body` by `key` at `at`, checked against the clock `at`.
pub fn sign_at(key: &SecretKey, body: Body, at: Timestamp) -> Verified<Object> {
    let envelope = Envelope { created_at: at, ..Envelope::new(key.public(), body) };
    envelope.sign(key, at).expect("fixture objects are valid")
}

/// Signs `body` by `key` at [`T0`].
pub fn sign(key: &SecretKey, body: Body) -> Verified<Object> {
    sign_at(key, body, T0)
}

/// Terms for `quantity` at `amount` euro cents in all, expiring 7 days after [`T0`].
pub fn terms(quantity: u32, amount: u64) -> Terms {
    Terms { quantity, price: eur(amount), expires_at: T0.saturating_add(7 * DAY), dates: None }
}

/// An offer on `listing`, to its author.
pub fn offer(listing: &Object, terms: Terms) -> Body {
    Body::Offer(Offer {
        listing: listing.id(),
        to: listing.author(),
        terms,
        message: "Would you take this?".into(),
    })
}

fn reply(thread: &Object, prev: &Object, to: &Object) -> Reply {
    Reply { thread: thread.id(), prev: prev.id(), to: to.author() }
}

/// A counter to `prev`, addressed to `prev`'s author.
pub fn counter(thread: &Object, prev: &Object, terms: Terms) -> Body {
    Body::Counter(Counter { reply: reply(thread, prev, prev), terms, message: "Meet me halfway?".into() })
}

/// An accept of `prev`, addressed to `prev`'s author.
pub fn accept(thread: &Object, prev: &Object) -> Body {
    Body::Accept(Accept { reply: reply(thread, prev, prev) })
}

/// The proposer's confirm of `accept`, addressed to the accept's author.
pub fn confirm(thread: &Object, accept: &Object) -> Body {
    Body::Confirm(Confirm { reply: reply(thread, accept, accept) })
}

/// A decline of `prev`, addressed to `prev`'s author.
pub fn decline(thread: &Object, prev: &Object) -> Body {
    Body::Decline(Decline { reply: reply(thread, prev, prev), message: "No, thanks.".into() })
}

/// A withdraw of `prev` (one's own terms), addressed to `other`.
pub fn withdraw(thread: &Object, prev: &Object, other: &Object) -> Body {
    Body::Withdraw(Withdraw { reply: reply(thread, prev, other), message: "Found one elsewhere.".into() })
}

/// The clock now, for tests of code that checks expiry against the real clock.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// [`listing`], expiring 30 days from now (for stores, which drop expired listings).
pub fn live_listing(title: &str) -> Listing {
    Listing { expires_at: now().saturating_add(30 * DAY), ..listing(title) }
}

/// [`terms`], expiring 7 days from now.
pub fn live_terms(quantity: u32, amount: u64) -> Terms {
    Terms { expires_at: now().saturating_add(7 * DAY), ..terms(quantity, amount) }
}

/// Signs `body` by `key` at the real clock.
pub fn sign_now(key: &SecretKey, body: Body) -> Verified<Object> {
    sign_at(key, body, now())
}

/// An id prefix shorter than people may type, so tests can make an ambiguous one.
pub fn short_prefix(hex: &str) -> crate::id::IdPrefix {
    crate::id::IdPrefix { hex: hex.to_ascii_lowercase() }
}

/// A deal between `seller` (on a fresh listing titled `title`) and `buyer`: its offer, Accept and
/// Confirm, the proof a feedback carries.
pub fn deal_proof(seller: &SecretKey, buyer: &SecretKey, title: &str) -> [Verified<Object>; 3] {
    let listing = sign_now(seller, Body::Listing(live_listing(title)));
    let offer = sign_now(buyer, offer(&listing, live_terms(1, 500)));
    let accept = sign_now(seller, accept(&offer, &offer));
    let confirm = sign_now(buyer, confirm(&offer, &accept));
    [offer, accept, confirm]
}

/// `by`'s feedback on the deal `proof` proves.
pub fn feedback(
    by: &SecretKey,
    proof: &[Verified<Object>; 3],
    rating: crate::Rating,
    text: &str,
) -> Verified<Object> {
    sign_now(by, Body::Feedback(crate::Feedback::new(&proof[0], &proof[1], &proof[2], rating, text.into())))
}

/// A small deterministic generator (xorshift64) for generated test data and benchmarks: the
/// same seed gives the same market on every run. Not for keys or nonces.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// One of `items` (not empty).
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}
