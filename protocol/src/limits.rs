//! Validation: every limit an object must meet, checked when it is signed and when it is decoded.
//! Each error names the field and the limit it broke.

use std::time::Duration;

use crate::listing::{Listing, ListingKind, ListingStatus};
use crate::mailbox::{MAILBOX_LIFETIME, MAX_SEALED_BYTES};
use crate::negotiation::{Reply, Terms};
use crate::object::{Body, Envelope};
use crate::price::{MAX_AMOUNT, Price};
use crate::time::Timestamp;

/// How far in the future `created_at` may be: clocks on home machines drift, but an object dated
/// further ahead would sort before everything published in the meantime.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// [`MAX_CLOCK_SKEW`] in milliseconds, as timestamps count.
pub const MAX_CLOCK_SKEW_MS: u64 = MAX_CLOCK_SKEW.as_millis() as u64;
/// Longest lifetime of a listing or proposal: long enough for slow sales, short enough that
/// abandoned listings leave every node's disk by themselves.
pub const MAX_LIFETIME: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// Longest listing title, in characters.
pub const MAX_TITLE_CHARS: usize = 140;
/// Longest listing description, in UTF-8 bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 8 * 1024;
/// Most tags on one listing.
pub const MAX_TAGS: usize = 16;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;
/// Longest category path, in characters.
pub const MAX_CATEGORY_CHARS: usize = 128;
/// Most segments in a category path.
pub const MAX_CATEGORY_DEPTH: usize = 8;
/// Longest location text, in characters.
pub const MAX_LOCATION_CHARS: usize = 140;
/// Longest geohash, in characters.
pub const MAX_GEOHASH_CHARS: usize = 12;
/// Most payment methods on one listing.
pub const MAX_PAYMENT_METHODS: usize = 8;
/// Longest payment method, in characters.
pub const MAX_PAYMENT_CHARS: usize = 32;
/// Longest delivery terms, in characters.
pub const MAX_DELIVERY_CHARS: usize = 280;
/// Longest message in an offer, counter, decline or withdraw, in UTF-8 bytes.
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024;
/// Largest quantity in a listing or proposal.
pub const MAX_QUANTITY: u32 = 1_000_000;

/// Why an object breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The signed object is over the object size limit.
    #[error("object is {size} bytes, over the {max}-byte limit")]
    ObjectTooLarge {
        /// Size of the signed object, in bytes.
        size: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// A text field, list entry or sealed payload is over its length limit.
    #[error("{field} is {len} {unit} long, over the limit of {max}")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// Its length, in the limit's unit.
        len: usize,
        /// The unit: `characters` or `bytes`.
        unit: &'static str,
        /// The limit, in the same unit.
        max: usize,
    },
    /// A list has more entries than allowed.
    #[error("{field} has {count} entries, over the limit of {max}")]
    TooMany {
        /// The list's name.
        field: &'static str,
        /// How many entries it has.
        count: usize,
        /// The most entries allowed.
        max: usize,
    },
    /// A field that needs text is empty or only whitespace.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's name.
        field: &'static str,
    },
    /// A text field holds a control character (only descriptions and messages may hold newlines
    /// and tabs).
    #[error(
        "{field} contains a control character ({}): remove it (a title, a tag or a place is one line; a description or a message may hold line breaks and tabs)",
        found.escape_unicode()
    )]
    ControlCharacter {
        /// The field's name.
        field: &'static str,
        /// The first such character.
        found: char,
    },
    /// The category is not a path of at most [`MAX_CATEGORY_DEPTH`] segments of lowercase letters,
    /// digits and hyphens.
    #[error(
        "category `{0}` is not a path of at most {MAX_CATEGORY_DEPTH} segments of lowercase letters a-z (no accents), digits and hyphens, like `vehicles/bikes` or `home/decor`"
    )]
    BadCategory(String),
    /// The geohash is empty, too long, or has characters outside the geohash alphabet.
    #[error(
        "geohash `{0}` is not a geohash: 1 to {MAX_GEOHASH_CHARS} base32 digits (0-9, b-z without a, i, l, o)"
    )]
    BadGeohash(String),
    /// A price's currency is not a valid currency code.
    #[error("currency `{0}` is not a currency code")]
    BadCurrency(String),
    /// A price's amount is over [`MAX_AMOUNT`].
    #[error("{field} amount {amount} is over the limit of {max}")]
    AmountTooLarge {
        /// Which price: `price` or `terms price`.
        field: &'static str,
        /// The amount, in minor units.
        amount: u64,
        /// The limit, in minor units.
        max: u64,
    },
    /// A quantity is zero or over [`MAX_QUANTITY`].
    #[error("{field} must be 1 to {max}, not {quantity}")]
    BadQuantity {
        /// Which quantity: `quantity` or `terms quantity`.
        field: &'static str,
        /// The quantity given.
        quantity: u32,
        /// The largest quantity allowed.
        max: u32,
    },
    /// The object is dated more than [`MAX_CLOCK_SKEW`] ahead of the clock it was checked against.
    #[error(
        "dated {} s ahead of the clock of the node that checked it, past the 5 minutes allowed: one of the two clocks is wrong",
        .created_at.since(*.now).as_secs()
    )]
    FromTheFuture {
        /// When the author says the object was made.
        created_at: Timestamp,
        /// The clock it was checked against.
        now: Timestamp,
    },
    /// An expiry is not after the object's creation time.
    #[error("expires_at {expires_at} is not after created_at {created_at}")]
    ExpiresBeforeCreation {
        /// The expiry given.
        expires_at: Timestamp,
        /// When the author says the object was made.
        created_at: Timestamp,
    },
    /// An expiry is further after the object's creation than its kind may live.
    #[error("expires_at {expires_at} is more than {max_days} days after created_at {created_at}")]
    ExpiresTooLate {
        /// The expiry given.
        expires_at: Timestamp,
        /// When the author says the object was made.
        created_at: Timestamp,
        /// The longest lifetime allowed, in days: 90 for listings and terms, 14 for mail.
        max_days: u64,
    },
    /// A sell, service or rental listing has no price.
    #[error("a {0} listing needs a price")]
    PriceRequired(ListingKind),
    /// A giveaway listing has a price.
    #[error("{article} {0} listing has no price", article = article(.0))]
    PriceNotAllowed(ListingKind),
    /// A rental listing's price has no period.
    #[error("a rental's price needs a period: per hour, day, week or month")]
    PeriodRequired,
    /// A sell or wanted listing's price has a period.
    #[error("{article} {0} listing's price has no period; only rentals and services do", article = article(.0))]
    PeriodNotAllowed(ListingKind),
    /// A listing's revision is 0.
    #[error("listing revision must be at least 1")]
    ZeroRevision,
    /// A negotiation message, mailbox or receipt is addressed to its own author.
    #[error("a negotiation message is addressed to its own author")]
    SelfAddressed,
    /// A deal step's text or payment details have the wrong shape.
    #[error(transparent)]
    Step(crate::lifecycle::StepError),
    /// A feedback's text is too long, or its deal proof does not hold.
    #[error(transparent)]
    Feedback(crate::feedback::FeedbackError),
    /// An auction listing's terms break a rule (named).
    #[error("{0}")]
    Auction(&'static str),
    /// A listing carries market rules its kind does not take (or an auction lacks its terms).
    #[error(
        "a {0} listing cannot carry these market rules (an auction needs its terms; a calendar goes on a rental or service)"
    )]
    MarketMismatch(ListingKind),
    /// A calendar breaks a rule (named).
    #[error("{0}")]
    Calendar(&'static str),
    /// A campaign breaks a rule (named).
    #[error("{0}")]
    Campaign(&'static str),
    /// A picture or a digital good's file breaks a rule (named).
    #[error("{0}")]
    BadFile(&'static str),
    /// A `digital` listing lacks its file, or another kind carries one.
    #[error(
        "a digital listing carries the file it sells, and only a digital listing does (this is a {0} listing)"
    )]
    FileMismatch(ListingKind),
}

/// Checks every context-free rule of `envelope` against the clock `now`.
pub fn validate(envelope: &Envelope, now: Timestamp) -> Result<(), ValidationError> {
    let created_at = envelope.created_at;
    if created_at > now.saturating_add(MAX_CLOCK_SKEW) {
        return Err(ValidationError::FromTheFuture { created_at, now });
    }
    match &envelope.body {
        Body::Listing(listing) => validate_listing(listing, created_at),
        Body::Offer(offer) | Body::Bid(offer) | Body::Pledge(offer) => {
            if offer.to == envelope.author {
                return Err(ValidationError::SelfAddressed);
            }
            validate_terms(&offer.terms, created_at)?;
            text(&offer.message, "message", MAX_MESSAGE_BYTES, Len::Bytes, Lines::Many)
        }
        Body::Counter(counter) => {
            validate_reply(&counter.reply, envelope)?;
            validate_terms(&counter.terms, created_at)?;
            text(&counter.message, "message", MAX_MESSAGE_BYTES, Len::Bytes, Lines::Many)
        }
        Body::Accept(accept) => validate_reply(&accept.reply, envelope),
        Body::Confirm(confirm) => validate_reply(&confirm.reply, envelope),
        Body::Decline(decline) => {
            validate_reply(&decline.reply, envelope)?;
            text(&decline.message, "message", MAX_MESSAGE_BYTES, Len::Bytes, Lines::Many)
        }
        Body::Withdraw(withdraw) => {
            validate_reply(&withdraw.reply, envelope)?;
            text(&withdraw.message, "message", MAX_MESSAGE_BYTES, Len::Bytes, Lines::Many)
        }
        Body::Mailbox(mailbox) => {
            if mailbox.to == envelope.author {
                return Err(ValidationError::SelfAddressed);
            }
            if mailbox.sealed.len() > MAX_SEALED_BYTES {
                return Err(ValidationError::TooLong {
                    field: "sealed",
                    len: mailbox.sealed.len(),
                    unit: "bytes",
                    max: MAX_SEALED_BYTES,
                });
            }
            validate_mail_expiry(mailbox.expires_at, created_at)
        }
        Body::Receipt(receipt) => {
            if receipt.to == envelope.author {
                return Err(ValidationError::SelfAddressed);
            }
            validate_mail_expiry(receipt.expires_at, created_at)
        }
        Body::Step(step) => {
            if step.to == envelope.author {
                return Err(ValidationError::SelfAddressed);
            }
            crate::lifecycle::check_shape(&step.step).map_err(ValidationError::Step)
        }
        Body::Note(note) => {
            if note.to == envelope.author {
                return Err(ValidationError::SelfAddressed);
            }
            check_message(&note.message)
        }
        // The proof's signatures are checked with the object's own (`Object::verify`).
        Body::Feedback(feedback) => feedback.check_text().map_err(ValidationError::Feedback),
    }
}

fn validate_listing(l: &Listing, created_at: Timestamp) -> Result<(), ValidationError> {
    if l.revision == 0 {
        return Err(ValidationError::ZeroRevision);
    }
    non_empty(&l.title, "title")?;
    text(&l.title, "title", MAX_TITLE_CHARS, Len::Chars, Lines::One)?;
    text(&l.description, "description", MAX_DESCRIPTION_BYTES, Len::Bytes, Lines::Many)?;
    validate_category(&l.category)?;
    list(&l.tags, ("tags", "a tag"), MAX_TAGS, MAX_TAG_CHARS)?;
    list(&l.payment, ("payment", "a payment method"), MAX_PAYMENT_METHODS, MAX_PAYMENT_CHARS)?;
    text(&l.location.text, "location", MAX_LOCATION_CHARS, Len::Chars, Lines::One)?;
    if let Some(geohash) = &l.location.geohash {
        validate_geohash(geohash)?;
    }
    text(&l.delivery, "delivery", MAX_DELIVERY_CHARS, Len::Chars, Lines::One)?;
    validate_expiry(l.expires_at, created_at)?;
    let closed = l.status == ListingStatus::Closed;
    // A tombstone may say none are left; a live listing has something to trade.
    if !(closed && l.quantity == 0) {
        quantity(l.quantity, "quantity")?;
    }
    if !crate::market::market_fits(l.kind, l.market.as_ref()) {
        return Err(ValidationError::MarketMismatch(l.kind));
    }
    if (l.kind == ListingKind::Digital) != l.file.is_some() {
        return Err(ValidationError::FileMismatch(l.kind));
    }
    crate::blob::check_files(&l.images, l.file.as_ref())?;
    if let Some(terms) = l.auction() {
        crate::auction::check_terms(terms, l.status, l.quantity, l.price.as_ref(), created_at, l.expires_at)?;
    }
    if let Some(campaign) = l.campaign() {
        crate::crowdfund::check_campaign(
            campaign,
            l.status,
            l.quantity,
            l.price.as_ref(),
            created_at,
            l.expires_at,
        )?;
    }
    if let Some(calendar) = l.calendar() {
        calendar.check(created_at)?;
        if l.status == ListingStatus::Active && l.quantity != 1 {
            return Err(ValidationError::Calendar("a listing with a calendar is one unit: quantity 1"));
        }
        if l.price.as_ref().is_some_and(|p| p.per.is_none()) {
            return Err(ValidationError::Calendar(
                "a listing with a calendar is priced per period, e.g. per day",
            ));
        }
        if l.price.as_ref().is_some_and(|p| p.per == Some(crate::Period::Hour)) {
            return Err(ValidationError::Calendar(
                "a calendar books nights: price it per day, week or month",
            ));
        }
    }
    match (&l.price, l.kind) {
        (
            None,
            ListingKind::Sell
            | ListingKind::Service
            | ListingKind::Rental
            | ListingKind::Auction
            | ListingKind::Crowdfund
            | ListingKind::Digital,
        ) => Err(ValidationError::PriceRequired(l.kind)),
        (Some(_), ListingKind::Giveaway) => Err(ValidationError::PriceNotAllowed(l.kind)),
        (None, _) => Ok(()),
        (Some(price), kind) => {
            validate_price(price, "price")?;
            match (price.per, kind) {
                (None, ListingKind::Rental) => Err(ValidationError::PeriodRequired),
                (
                    Some(_),
                    ListingKind::Sell
                    | ListingKind::Wanted
                    | ListingKind::Auction
                    | ListingKind::Crowdfund
                    | ListingKind::Digital,
                ) => Err(ValidationError::PeriodNotAllowed(kind)),
                _ => Ok(()),
            }
        }
    }
}

fn validate_reply(reply: &Reply, envelope: &Envelope) -> Result<(), ValidationError> {
    if reply.to == envelope.author {
        return Err(ValidationError::SelfAddressed);
    }
    Ok(())
}

fn validate_terms(terms: &Terms, created_at: Timestamp) -> Result<(), ValidationError> {
    quantity(terms.quantity, "terms quantity")?;
    validate_price(&terms.price, "terms price")?;
    validate_expiry(terms.expires_at, created_at)
}

fn validate_price(price: &Price, field: &'static str) -> Result<(), ValidationError> {
    if !price.currency.is_valid() {
        return Err(ValidationError::BadCurrency(price.currency.as_str().to_owned()));
    }
    if price.amount > MAX_AMOUNT {
        return Err(ValidationError::AmountTooLarge { field, amount: price.amount, max: MAX_AMOUNT });
    }
    Ok(())
}

fn validate_expiry(expires_at: Timestamp, created_at: Timestamp) -> Result<(), ValidationError> {
    if expires_at <= created_at {
        return Err(ValidationError::ExpiresBeforeCreation { expires_at, created_at });
    }
    if expires_at > created_at.saturating_add(MAX_LIFETIME) {
        return Err(ValidationError::ExpiresTooLate {
            expires_at,
            created_at,
            max_days: MAX_LIFETIME.as_secs() / 86_400,
        });
    }
    Ok(())
}

fn validate_mail_expiry(expires_at: Timestamp, created_at: Timestamp) -> Result<(), ValidationError> {
    if expires_at <= created_at {
        return Err(ValidationError::ExpiresBeforeCreation { expires_at, created_at });
    }
    if expires_at > created_at.saturating_add(MAILBOX_LIFETIME) {
        return Err(ValidationError::ExpiresTooLate {
            expires_at,
            created_at,
            max_days: MAILBOX_LIFETIME.as_secs() / 86_400,
        });
    }
    Ok(())
}

fn quantity(quantity: u32, field: &'static str) -> Result<(), ValidationError> {
    if quantity == 0 || quantity > MAX_QUANTITY {
        return Err(ValidationError::BadQuantity { field, quantity, max: MAX_QUANTITY });
    }
    Ok(())
}

fn validate_category(category: &str) -> Result<(), ValidationError> {
    non_empty(category, "category")?;
    text(category, "category", MAX_CATEGORY_CHARS, Len::Chars, Lines::One)?;
    if category.split('/').count() > MAX_CATEGORY_DEPTH || !is_category_path(category) {
        return Err(ValidationError::BadCategory(category.to_owned()));
    }
    Ok(())
}

/// "a" or "an" before a kind's name (from a trial: "a auction listing").
fn article(kind: &ListingKind) -> &'static str {
    if kind.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// Whether `path` has a category's shape: lowercase words (letters, digits, hyphens) between
/// slashes, none empty. A listing's category has it, and so does a filter by one.
pub fn is_category_path(path: &str) -> bool {
    path.split('/').all(|s| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

fn validate_geohash(geohash: &str) -> Result<(), ValidationError> {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let ok = !geohash.is_empty()
        && geohash.len() <= MAX_GEOHASH_CHARS
        && geohash.bytes().all(|b| ALPHABET.contains(&b));
    if ok { Ok(()) } else { Err(ValidationError::BadGeohash(geohash.to_owned())) }
}

#[derive(Clone, Copy)]
enum Len {
    Chars,
    Bytes,
}

#[derive(Clone, Copy, PartialEq)]
enum Lines {
    One,
    /// Newlines and tabs allowed (descriptions and messages).
    Many,
}

/// Checks a note's text: not empty, at most [`MAX_MESSAGE_BYTES`], newlines and tabs the only
/// control characters.
pub fn check_message(message: &str) -> Result<(), ValidationError> {
    non_empty(message, "message")?;
    text(message, "message", MAX_MESSAGE_BYTES, Len::Bytes, Lines::Many)
}

fn non_empty(s: &str, field: &'static str) -> Result<(), ValidationError> {
    if s.trim().is_empty() { Err(ValidationError::Empty { field }) } else { Ok(()) }
}

fn text(s: &str, field: &'static str, max: usize, unit: Len, lines: Lines) -> Result<(), ValidationError> {
    let (len, unit) = match unit {
        Len::Chars => (s.chars().count(), "characters"),
        Len::Bytes => (s.len(), "bytes"),
    };
    if len > max {
        return Err(ValidationError::TooLong { field, len, unit, max });
    }
    let allowed = |c: char| lines == Lines::Many && (c == '\n' || c == '\t');
    if let Some(found) = s.chars().find(|c| c.is_control() && !allowed(*c)) {
        return Err(ValidationError::ControlCharacter { field, found });
    }
    Ok(())
}

/// Checks a list: `names` is the list's name and one entry's ("tags", "a tag"), so that an
/// entry over its limit is named as the entry ("a tag is 33 characters long"), not the list.
fn list(
    items: &[String],
    (field, entry): (&'static str, &'static str),
    max_items: usize,
    max_chars: usize,
) -> Result<(), ValidationError> {
    if items.len() > max_items {
        return Err(ValidationError::TooMany { field, count: items.len(), max: max_items });
    }
    for item in items {
        non_empty(item, entry)?;
        text(item, entry, max_chars, Len::Chars, Lines::One)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{DAY, T0, key, listing, rental};
    use crate::listing::ListingKind;
    use crate::object::Envelope;

    #[test]
    fn a_kinds_name_takes_its_article() {
        assert_eq!(
            ValidationError::PeriodNotAllowed(ListingKind::Auction).to_string(),
            "an auction listing's price has no period; only rentals and services do"
        );
        assert!(
            ValidationError::PriceNotAllowed(ListingKind::Giveaway).to_string().starts_with("a giveaway")
        );
    }

    fn check(l: Listing) -> Result<(), ValidationError> {
        let env = Envelope { created_at: T0, ..Envelope::new(key(1).public(), Body::Listing(l)) };
        validate(&env, T0)
    }

    #[test]
    fn fixture_listings_are_valid() {
        check(listing("Road bike")).expect("sell");
        check(rental("Hedge trimmer")).expect("rental");
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases: Vec<(Listing, &str)> = vec![
            (Listing { title: " ".into(), ..listing("x") }, "title must not be empty"),
            (Listing { title: "a\u{7}b".into(), ..listing("x") }, "title contains a control"),
            (Listing { tags: vec!["t".into(); MAX_TAGS + 1], ..listing("x") }, "tags has 17 entries"),
            (
                Listing { tags: vec!["t".repeat(MAX_TAG_CHARS + 1)], ..listing("x") },
                "a tag is 33 characters long, over the limit of 32",
            ),
            (Listing { payment: vec![" ".into()], ..listing("x") }, "a payment method must not be empty"),
            (Listing { category: "Vehicles".into(), ..listing("x") }, "category `Vehicles`"),
            (Listing { category: "a//b".into(), ..listing("x") }, "category `a//b`"),
            (Listing { quantity: 0, ..listing("x") }, "quantity must be 1 to 1000000, not 0"),
            (Listing { revision: 0, ..listing("x") }, "revision"),
            (Listing { price: None, ..listing("x") }, "a sell listing needs a price"),
            (Listing { kind: ListingKind::Giveaway, ..listing("x") }, "a giveaway listing has no price"),
            (Listing { price: Some(crate::fixtures::eur(1)), ..rental("x") }, "needs a period"),
            (Listing { expires_at: T0, ..listing("x") }, "not after created_at"),
            (Listing { expires_at: T0.saturating_add(91 * DAY), ..listing("x") }, "more than 90 days"),
            (
                Listing {
                    location: crate::listing::Location { text: "x".into(), geohash: Some("abc".into()) },
                    ..listing("x")
                },
                "geohash `abc`",
            ),
        ];
        for (l, want) in cases {
            let err = check(l).expect_err(want);
            assert!(err.to_string().contains(want), "wanted `{want}`, got `{err}`");
        }
    }

    #[test]
    fn a_calendar_books_nights_of_one_unit_priced_per_day_week_or_month() {
        use crate::calendar::{Calendar, DateRange};
        use crate::listing::Market;
        let calendar = Calendar {
            open: vec![DateRange { from: 20_460, to: 20_520 }],
            booked: vec![],
            min_stay: 1,
            max_stay: 0,
            instant: false,
        };
        let cabin = Listing { market: Some(Market::Calendar(calendar)), ..rental("Cabin") };
        check(cabin.clone()).expect("per day");
        let hourly =
            Listing { price: Some(crate::fixtures::eur(500).per(crate::Period::Hour)), ..cabin.clone() };
        assert!(check(hourly).expect_err("per hour").to_string().contains("per day, week or month"));
        assert!(check(Listing { quantity: 2, ..cabin.clone() }).is_err(), "one unit");
        assert!(check(Listing { kind: ListingKind::Sell, ..cabin }).is_err(), "a sale takes no calendar");
    }

    #[test]
    fn tombstones_may_have_no_quantity_and_giveaways_no_price() {
        check(Listing { status: crate::listing::ListingStatus::Closed, quantity: 0, ..listing("x") })
            .expect("tombstone");
        check(Listing { kind: ListingKind::Giveaway, price: None, ..listing("x") }).expect("giveaway");
        check(Listing { kind: ListingKind::Wanted, price: None, ..listing("x") })
            .expect("wanted without budget");
        check(Listing { expires_at: T0.saturating_add(90 * DAY), ..listing("x") }).expect("exactly 90 days");
    }
}
