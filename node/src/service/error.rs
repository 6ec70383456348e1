//! Why a request to the service failed, each with a stable [`ErrorCode`] so that the API maps it
//! to an HTTP status once and the `haggle` command to an exit code once.

use haggle_protocol::{AmountError, ObjectId, ParseIdError, PublicKey, SealError, SignError, ThreadState};
use haggle_storage::{RejectReason, SearchError, StoreError};

use crate::api::types::ErrorCode;

/// Why an action or a read could not be done. Each says what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Nothing matches the id or prefix.
    #[error("no {what} matches `{given}`{}", look_in(what))]
    NotFound {
        /// What was looked for ("listing", "offer thread", ...).
        what: &'static str,
        /// The id or prefix given.
        given: String,
    },
    /// The id names an object of another kind than the command takes.
    #[error("`{given}` is {is}, not {wanted}: {hint}")]
    WrongKind {
        /// The id or prefix given.
        given: String,
        /// What it names ("a listing", ...).
        is: &'static str,
        /// What was looked for ("an offer thread", ...).
        wanted: &'static str,
        /// Where such an id is found.
        hint: &'static str,
    },
    /// An earlier listing revision asked for as it read, which this node no longer holds (past
    /// the history it keeps, only its listing is known).
    #[error(
        "revision `{given}` of the listing is no longer held here, only which listing it was: the listing now reads as revision {} (haggle show {})",
        .current.fmt_short(),
        .current.fmt_short()
    )]
    RevisionGone {
        /// The id or prefix given.
        given: String,
        /// The listing's current revision.
        current: ObjectId,
    },
    /// A deal this node does not hold, whose ratings it holds: a deal between two other
    /// people (its messages go to its parties alone; ratings are public).
    #[error(
        "deal {} is between two other people, and only they see it whole or rate it: a deal's messages go to its two parties alone, and only their ratings of it reached this node ({})",
        .deal.fmt_short(),
        .ratings.iter().map(|f| format!("haggle show {}", f.fmt_short())).collect::<Vec<_>>().join(", ")
    )]
    OnlyRated {
        /// The deal.
        deal: ObjectId,
        /// Its parties' ratings held here.
        ratings: Vec<ObjectId>,
    },
    /// The prefix matches several objects.
    #[error("`{given}` matches several objects: {}; type more characters", candidates.iter().map(ObjectId::fmt_short).collect::<Vec<_>>().join(", "))]
    Ambiguous {
        /// The prefix given.
        given: String,
        /// The objects it matches.
        candidates: Vec<ObjectId>,
    },
    /// The id is not hex or too short.
    #[error(transparent)]
    BadId(#[from] ParseIdError),
    /// A value in the request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The object belongs to someone else.
    #[error("{}", not_yours(what, id))]
    NotYours {
        /// "listing" or "thread".
        what: &'static str,
        /// The object.
        id: ObjectId,
    },
    /// The action does not fit the state of the listing or thread.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The object would break a protocol limit.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A price that does not parse.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// A search that cannot run.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// Sealing a message for offline delivery failed.
    #[error("cannot seal a message for offline delivery")]
    Seal(#[from] SealError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blob directory (pictures, files) failed.
    #[error("file store: {0}")]
    Files(String),
}

/// A value in a request that breaks a rule the service checks (the protocol checks the rest when
/// the object is signed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A picture or file that cannot be used (named).
    #[error("{0}")]
    File(String),
    /// A payment request without the details its method needs (named).
    #[error("{0}")]
    PaymentDetails(&'static str),
    /// Details or a reference given with cash, which carries neither.
    #[error(
        "cash is paid on handover, and its request carries no details or reference: leave them out, or ask for payment by other means (iban, bitcoin, lightning, or other, whose details are free text)"
    )]
    CashDetails,
    /// A payment method that is not one of the known ones.
    #[error("unknown payment method {0:?}: bitcoin, lightning, iban, cash or other")]
    PaymentMethod(String),
    /// A deal step's words (a dispute's reason, a payment's reference, a tracking note) left
    /// blank where needed, too long, or on more than one line: said for the field given.
    #[error("{0}")]
    StepText(String),
    /// A deal step's details have the wrong shape (an IBAN with a typo, a reason left empty).
    #[error(transparent)]
    Step(haggle_protocol::StepError),
    /// A rating that is not positive, neutral or negative.
    #[error("unknown rating {0:?}: positive, neutral or negative")]
    Rating(String),
    /// Text in a key's form that is no key anybody holds (a character mistyped), as the
    /// protocol says it.
    #[error("{0}")]
    Key(String),
    /// An identity that is neither a key nor a listing this node holds.
    #[error(
        "{0:?} is not a key (a PeerId such as 12D3KooW...), a name you gave one (haggle names lists them), nor the id of a listing this node holds: \
         haggle show LISTING names a seller's key, haggle deal DEAL the other party's"
    )]
    Identity(String),
    /// A key shortened as tables print it (`12D3KooW…pWTGKh`).
    #[error(
        "{0:?} is a key shortened for a table: give the whole key (haggle --json deals, haggle --json show LISTING, or haggle deal DEAL print it in full)"
    )]
    ShortenedKey(String),
    /// Whom to block, named by nothing this node holds and not a key.
    #[error(
        "{0:?} is not a key (a PeerId such as 12D3KooW...), a name you gave one (haggle names lists them), nor the id of a listing, thread, deal or message this node holds: haggle offers, haggle deals and haggle messages list the ids of yours, and haggle search those of listings"
    )]
    BlockWho(String),
    /// Whom to block, as a key shortened for a table.
    #[error(
        "{0:?} is a key shortened for a table: give the whole key, or name them by an id instead (a thread's, as haggle offers lists them, names its other party)"
    )]
    BlockShortenedKey(String),
    /// The owner's own key, to block.
    #[error("that is your own key: a node cannot block its owner")]
    BlockSelf,
    /// A name for a key that is not one a table can show in its place.
    #[error("{given:?} cannot name a key: {why}")]
    Name {
        /// The name given.
        given: String,
        /// What is wrong with it.
        why: String,
    },
    /// The owner's own key, to name.
    #[error("that is your own key: tables show it as you, and it needs no name")]
    NameSelf,
    /// A saved search's name that is not 1 to `max` letters, digits, `-` and `_`.
    #[error(
        "a saved search's name is 1 to {max} letters (of any script), digits, - and _, starting with a letter or digit (e.g. road-bikes), and {given:?} is not"
    )]
    SavedName {
        /// The name given.
        given: String,
        /// The longest name.
        max: usize,
    },
    /// A block's note over its limit.
    #[error("the note is {len} characters long, over the limit of {max}: say it shorter")]
    BlockNote {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Currency or period without a price.
    #[error(
        "a currency or period needs a price too, e.g. --price 12 --currency EUR (a giveaway, or a wanted ad open to offers, has neither)"
    )]
    CurrencyWithoutPrice,
    /// A giveaway with a price.
    #[error("a giveaway has no price: leave out --price and --currency")]
    PricedGiveaway,
    /// An offer or counter with a price on a giveaway.
    #[error("a giveaway asks nothing: leave the price out")]
    PricedGiveawayOffer,
    /// More asked than the listing offers (or, where deals leave its quantity, lets one deal
    /// take).
    #[error("the terms ask for {}", haggle_protocol::thread::over_listing(*asked, *max, *per_deal, *unit, *wanted))]
    OverListing {
        /// The quantity asked.
        asked: u32,
        /// The listing's quantity.
        max: u32,
        /// The listing's quantity caps each deal (a service, a rental without a calendar, a
        /// digital good).
        per_deal: bool,
        /// What the quantity counts, on a listing priced per period.
        unit: Option<haggle_protocol::Period>,
        /// The listing is a wanted ad.
        wanted: bool,
    },
    /// A counter that proposes the very terms it answers.
    #[error(
        "these are the terms on the table already: to take them, haggle accept {0}; to haggle, change the price, the quantity or the dates (or add a --message)"
    )]
    SameTerms(String),
    /// An update that changes nothing: it would publish a revision the same as the last.
    #[error("nothing changes: listing {0} already says that (haggle show {0})")]
    Unchanged(String),
    /// A price without a currency.
    #[error("a price needs a currency, e.g. --currency EUR")]
    PriceWithoutCurrency,
    /// A currency code of the right shape that names no currency the node knows.
    #[error(
        "`{code}` is not a currency code this node knows (ISO 4217, such as EUR or USD, or a common one outside it, such as BTC or USDT){}: a search for the code you meant would not find the listing. A currency of your own (a local or community one) is taken with --any-currency",
        if near.is_empty() { String::new() } else { format!("; did you mean {}?", near.join(" or ")) }
    )]
    UnknownCurrency {
        /// The code given.
        code: String,
        /// Known codes one letter away.
        near: Vec<&'static str>,
    },
    /// Terms in a currency code of the right shape that names no currency the node knows, on a
    /// listing priced in another.
    #[error(
        "`{code}` is not a currency code this node knows (ISO 4217, such as EUR or USD, or a common one outside it, such as BTC or USDT){} {}",
        if near.is_empty() { ".".to_owned() } else { format!("; did you mean {}?", near.join(" or ")) },
        match asked {
            Some(asked) => format!("The listing asks in {asked}: give --currency {asked}, or leave --currency out for the terms' own"),
            None => "Give a currency code such as EUR".to_owned(),
        }
    )]
    UnknownOfferCurrency {
        /// The code given.
        code: String,
        /// Known codes one letter away.
        near: Vec<&'static str>,
        /// The listing's currency, if it asks a price.
        asked: Option<String>,
    },
    /// A listing's text with a character that does not show (from a trial: a title with a
    /// right-to-left override was published).
    #[error(
        "the {0} holds a character that does not show (a zero-width space, a direction override or a soft hyphen): it could make the {0} read as something else; type it without"
    )]
    HiddenCharacters(&'static str),
    /// A new currency for a listing's price without a new amount (minor units differ).
    #[error("a new currency needs a new price too, e.g. --price 120 --currency USD")]
    NewCurrencyWithoutPrice,
    /// A lifetime that ran out before the object was signed and stored.
    #[error(
        "{what} would expire before it is signed and stored (signing takes a moment, its proof of work included): give a longer --expires, a minute or more, so that other nodes can store it before it ends"
    )]
    ExpiredOnArrival {
        /// "the listing", "a listing" or "a proposal".
        what: &'static str,
    },
    /// A lifetime over the protocol's limit.
    #[error("{what} lives at most {max_days} days: use --expires {max_days}d or less")]
    LifetimeTooLong {
        /// "a listing" or "a proposal".
        what: &'static str,
        /// The limit.
        max_days: u64,
    },
    /// A lifetime that would end an open auction's or campaign's listing before its bids or
    /// pledges lapse.
    #[error("{rule}: use --expires {min_days}d or more")]
    LifetimeTooShort {
        /// The rule, in the user's terms.
        rule: &'static str,
        /// The least lifetime that does, in whole days from now.
        min_days: u64,
    },
    /// A search whose lowest price is above its highest.
    #[error("the lowest price ({min} {currency}) is above the highest ({max} {currency}): swap them")]
    EmptyPriceRange {
        /// The lowest price as given.
        min: String,
        /// The highest price as given.
        max: String,
        /// Their currency.
        currency: haggle_protocol::Currency,
    },
    /// Search text with no word in it (emoji or punctuation only).
    #[error(
        "{what} of {given:?} has no word to look for: listings are found by words of letters or digits (emoji and punctuation are not indexed)"
    )]
    NoWords {
        /// Which text: the search, or its location.
        what: &'static str,
        /// The text given.
        given: String,
    },
    /// Search words longer than [`crate::service::MAX_QUERY_CHARS`].
    #[error("{what} is at most {max} characters, and this one is {len}: shorten it")]
    QueryTooLong {
        /// "a search" or "a location (near)".
        what: &'static str,
        /// The characters given.
        len: usize,
        /// The most taken.
        max: usize,
    },
    /// A place or a distance that cannot be read.
    #[error(transparent)]
    Place(#[from] haggle_protocol::geo::GeoError),
    /// A distance without a place to measure it from.
    #[error(
        "a distance (--within) is measured from a place: give one with --around (e.g. --around 51.054,3.717)"
    )]
    WithinWithoutPlace,
    /// The ending-soon order with a kind other than auctions.
    #[error(
        "ending-soon lists running auctions only, and the search asks for {kind} listings: drop one of the two"
    )]
    EndingSoonKind {
        /// The kind asked for.
        kind: haggle_protocol::ListingKind,
    },
    /// Free nights asked of listings that take no bookings.
    #[error(
        "free nights (--free) are for rentals and services with a calendar, and the search asks for {asked}: drop one of the two"
    )]
    FreeOutsideBookings {
        /// What else the search asks for: "sell listings", "running auctions".
        asked: String,
    },
    /// A search page too far in.
    #[error("results are paged up to {max}: narrow the search instead of skipping {offset}")]
    OffsetTooLarge {
        /// The offset asked for.
        offset: usize,
        /// The largest offset served.
        max: usize,
    },
    /// A counter with a price but no currency, while the terms on the table are in another
    /// currency than the listing's: either could be meant (a trial's seller countered an offer
    /// in USD with `--price 11`, meaning its listing's EUR, and sent 11 USD).
    #[error(
        "the terms on the table are in {theirs} and the listing asks in {listing}: say which your counter is in, --currency {listing} or --currency {theirs}"
    )]
    WhichCurrency {
        /// The currency of the terms on the table.
        theirs: String,
        /// The listing's currency.
        listing: String,
    },
    /// Terms without a currency on a listing without one.
    #[error(
        "the listing names no price, so no currency either (a wanted ad open to offers): say which currency your price is in, e.g. --currency EUR"
    )]
    NoCurrency,
    /// An offer or counter without a price on a listing that is not a giveaway.
    #[error("{0} needs a price (for the whole quantity), e.g. --price 100")]
    NoPrice(&'static str),
    /// An offer or counter without a price or a currency, on a listing that names no currency.
    #[error("{0} needs a price and its currency, e.g. --price 100 --currency EUR")]
    NoPriceNorCurrency(&'static str),
    /// A bid under the next minimum bid.
    #[error("the next bid must be at least {min} (the high bid plus the increment, or the start price)")]
    BidTooLow {
        /// The next minimum, e.g. `57.00 EUR`.
        min: String,
    },
    /// Dates that do not parse, or a calendar or booking that lacks them.
    #[error("{0}")]
    Dates(String),
    /// Campaign settings on a listing that is not a campaign, a campaign without its deadline
    /// or goal, or a withdrawal of nothing.
    #[error("{0}")]
    Campaign(&'static str),
    /// Auction settings on a listing that is not an auction, or an auction without its end.
    #[error("{0}")]
    Auction(&'static str),
    /// An action a bid or pledge does not take (a Withdraw of the backer's pledge in its
    /// thread, say), with what to do instead.
    #[error("{0}")]
    Market(String),
}

/// What an owner who published the same listing twice may do instead, by its kind: only a
/// listing of goods takes a quantity (a trial's auctioneer, told to `update --qty`, was refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum More {
    /// Goods, a service, a wanted ad or a giveaway: more of it is a quantity.
    Quantity,
    /// An auction sells one thing.
    Auction,
    /// A campaign raises its goal once.
    Campaign,
    /// A listing with a calendar is one place or thing, booked by the night or day.
    Calendar,
}

impl More {
    fn say(self, id: ObjectId) -> String {
        let id = id.fmt_short();
        match self {
            More::Quantity => format!("To offer more than one, haggle update {id} --qty N"),
            More::Auction => "An auction sells one thing, and this one is still open".to_owned(),
            More::Campaign => "This campaign is still open".to_owned(),
            More::Calendar => format!(
                "A listing with a calendar is one place or thing: to change its nights or instant booking, haggle update {id} --available FROM..TO (or --no-instant)"
            ),
        }
    }
}

/// An action that does not fit the state of the listing or thread.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Conflict {
    /// A revision of an open auction or campaign after its end: the state of things, not the
    /// request, refuses it (a trial read the usage error's exit code).
    #[error("{what} passed {}: it can no longer change or be renewed; publish a new one (haggle publish) to run it again", when(*ended))]
    MarketOver {
        /// "the auction's scheduled end" or "the campaign's deadline".
        what: &'static str,
        /// Its end.
        ended: haggle_protocol::Timestamp,
    },
    /// The listing is closed: retracted by its author (or a campaign closed); `.2` is what it
    /// took (offers, bids, pledges).
    #[error("listing {} is closed ({}): it takes no {}", .0.fmt_short(), .1, .2)]
    ListingClosed(ObjectId, &'static str, &'static str),
    /// The listing is closed with nothing left: sold out, or as its kind says it (an auction
    /// sold, a giveaway given away, a wanted ad found).
    #[error(
        "listing {} is {}: {}",
        .0.fmt_short(),
        .1,
        // A wanted ad has nothing "left" (a trial read that as awkward).
        if *.1 == "found" { "its author has what it wanted, and takes no more offers" } else { "nothing of it is left" }
    )]
    ListingSoldOut(ObjectId, &'static str),
    /// One of the owner's listings is closed: its owner cannot change it now. The text says
    /// how it closed, and whether a called-off deal reopens it.
    #[error(
        "your listing {} is closed ({}): it can no longer be updated or renewed; `haggle publish --from {}{}` offers it anew, as a new listing",
        .0.fmt_short(),
        .1,
        .0.fmt_short(),
        .2
    )]
    OwnListingClosed(ObjectId, &'static str, &'static str),
    /// One of the owner's listings, asked to be retracted, is closed already.
    #[error(
        "your listing {} is closed already ({}): there is nothing to retract; `haggle publish --from {}{}` offers it anew, as a new listing",
        .0.fmt_short(),
        .1,
        .0.fmt_short(),
        .2
    )]
    OwnListingClosedAlready(ObjectId, &'static str, &'static str),
    /// The listing has expired.
    #[error(
        "listing {} has expired: nothing can be agreed on it until its author renews it (its author: haggle renew {}; anyone else may ask them to: haggle message {} \"...\")",
        .0.fmt_short(), .0.fmt_short(), .0.fmt_short()
    )]
    ListingExpired(ObjectId),
    /// One of the owner's listings has expired: it is renewed before it can change.
    #[error(
        "your listing {} has expired: renew it first (haggle renew {} --expires 30d), then change it",
        .0.fmt_short(), .0.fmt_short()
    )]
    OwnListingExpired(ObjectId),
    /// A new listing the same as one of the owner's still on offer (a command run twice).
    #[error(
        "you already have this on offer: \"{title}\" ({}), with the same title, description, price and pictures. {}; to publish it again anyway, add --again",
        .id.fmt_short(), .more.say(*.id)
    )]
    SameListing {
        /// The listing on offer (its current revision).
        id: ObjectId,
        /// Its title.
        title: String,
        /// What the owner may do instead, by the listing's kind.
        more: More,
    },
    /// A step on a deal that was rated though its record here is not finished: this node lacks
    /// steps the ratings came after (restored from a backup).
    #[error(
        "deal {} was rated, which only a finished deal (or one idle for 14 days) can be, but this node's record of it is not finished: it lacks steps that came before the ratings (restored from a backup?). The other party's node gives them back when the two connect; haggle deal {} shows them then",
        .0.fmt_short(), .0.fmt_short()
    )]
    StepsMissing(ObjectId),
    /// A cancel of the seller's that would call the deal off alone (past the payment request's
    /// days) while the buyer has said it paid (or received): kept for a payment that never came.
    #[error("{}", cancel_would_call_off(*deal, *disputed_until, *received))]
    CancelWouldCallOff {
        /// The deal.
        deal: ObjectId,
        /// Until when a payment the seller disputed may still come, if it disputed one.
        disputed_until: Option<haggle_protocol::Timestamp>,
        /// The buyer said it received the thing.
        received: bool,
    },
    /// A payment request the same as the one in force on the deal (a command run twice): it would
    /// sign a step that changes nothing (an integrator's retry signed two).
    #[error(
        "you asked for this payment already, with the same details (request {}): nothing would change. It goes to the buyer's node by itself (haggle deal {} shows whether it was delivered); to change the details, send the new ones",
        .request.fmt_short(), .deal.fmt_short()
    )]
    SameRequest {
        /// The deal.
        deal: ObjectId,
        /// The request in force (its step's id).
        request: ObjectId,
    },
    /// An offer the owner already has open on the listing, with the same terms.
    #[error(
        "you have an open offer with these terms on this listing already: thread {} (haggle show {} to see it; withdraw it first to send it again)",
        .0.fmt_short(), .0.fmt_short()
    )]
    SameOffer(ObjectId),
    /// A pledge of the amount and message the owner's current pledge has: it would change
    /// nothing, at the cost of a public object every node stores.
    #[error(
        "you pledged {amount} to this campaign already, with the same message: nothing would change (pledge another amount to change it, or --withdraw to take it back; haggle show {} shows the campaign)",
        .listing.fmt_short()
    )]
    SamePledge {
        /// The campaign.
        listing: ObjectId,
        /// The current pledge's amount, e.g. `50.00 EUR`.
        amount: String,
    },
    /// The owner has as many open offers on the listing as one party may.
    #[error(
        "you already have {max} open offers on this listing, as many as one person may: withdraw one (haggle offers lists them; haggle withdraw <thread>) or wait for an answer"
    )]
    TooManyOpenOffers {
        /// The limit.
        max: usize,
    },
    /// The owner has started as many offer threads as one party may keep, with the listing's
    /// author (`scope` "with this seller") or on the listing ("on this listing").
    #[error(
        "you have started {max} offer threads {scope}, ended ones included (each is kept 30 days after its last message), as many as one person may: the seller's node would refuse another until old ones go"
    )]
    TooManyThreads {
        /// The limit.
        max: usize,
        /// Where.
        scope: &'static str,
    },
    /// The owner's offer that opened the thread was refused for good by the other party's
    /// node, which so holds nothing of it.
    #[error(
        "thread {} was refused by the other party's node, for good (it said: {}): that node holds nothing of it, so there is nothing to withdraw or answer; it takes no place among your open offers",
        .thread.fmt_short(),
        .why
    )]
    OfferRefused {
        /// The thread.
        thread: ObjectId,
        /// The refusal, as the other node gave it.
        why: String,
    },
    /// As many searches are saved as a node keeps.
    #[error(
        "{max} searches are saved already, as many as a node keeps: delete one first (haggle saved lists them; haggle saved NAME --delete), or save this one under the name of one it replaces"
    )]
    SavedSearchesFull {
        /// The limit.
        max: usize,
    },
    /// A saved search whose stored record does not read.
    #[error("the saved search {name}'s stored record does not read: haggle saved {name} --delete removes it")]
    SavedSearchDamaged {
        /// Its name.
        name: String,
    },
    /// A name another key has already.
    #[error(
        "{} names {} already: a name stands for one key. Choose another, or take it from that key first (haggle name --clear {})",
        quoted(name),
        key.peer_id(),
        shell_word(name)
    )]
    NameTaken {
        /// The name.
        name: String,
        /// The key it names.
        key: PublicKey,
    },
    /// A name that looks like one another key has (`Hannаh` with a Cyrillic `а` beside
    /// `Hannah`): tables would show the two alike.
    #[error(
        "{} looks like {}, the name of {}, and tables would show the two alike: choose a name that reads differently",
        quoted(given),
        quoted(name),
        key.peer_id()
    )]
    NameLooksLike {
        /// The name asked for.
        given: String,
        /// The name held that it looks like.
        name: String,
        /// The key that name names.
        key: PublicKey,
    },
    /// As many keys are named as a node keeps.
    #[error(
        "{max} keys are named already, as many as a node keeps: take some names away first (haggle names lists them)"
    )]
    NamesFull {
        /// The limit.
        max: usize,
    },
    /// As many keys are blocked as a node keeps.
    #[error(
        "{max} keys are blocked already, as many as a node keeps: unblock some first (haggle blocked lists them, the oldest last)"
    )]
    BlockListFull {
        /// The limit.
        max: usize,
    },
    /// More asked than is left.
    #[error("{}", quantity_exceeded(*requested, *remaining, held))]
    QuantityExceeded {
        /// Quantity asked.
        requested: u32,
        /// Quantity left.
        remaining: u32,
        /// What the owner's other open threads hold (empty when unknown, or when deals took it
        /// all).
        held: Vec<haggle_storage::Promise>,
    },
    /// A quantity below what open counter-offers promise.
    #[error(
        "you have promised {promised} in open threads (counter-offers, and accepts awaiting confirmation: threads {}); withdraw your counter-offers (`haggle withdraw THREAD`) or wait for the accepts to be confirmed or to lapse, or keep the quantity at {promised} or more, not {quantity}",
        threads.iter().map(ObjectId::fmt_short).collect::<Vec<_>>().join(", ")
    )]
    PromisedByCounters {
        /// The quantity asked for.
        quantity: u32,
        /// What the open counters promise together.
        promised: u64,
        /// Their threads.
        threads: Vec<ObjectId>,
    },
    /// An offer, bid or pledge on one's own listing; `.0` says who does what with it instead.
    #[error("that is your own {0}")]
    OwnListing(&'static str),
    /// A withdrawal a bid or a pledge does not take (a market's own rules say how each ends):
    /// the text says what does.
    #[error("{0}")]
    MarketWithdraw(String),
    /// Answering one's own terms.
    #[error(
        "the terms on the table are your own; wait for the other party (you cannot {action} them; {instead})"
    )]
    OwnTerms {
        /// accept, counter or decline.
        action: &'static str,
        /// What the owner can do with its own terms: a bid stands, a pledge is changed on its
        /// campaign, other terms are withdrawn and made anew.
        instead: String,
    },
    /// Answering one's own terms whose nights can no longer be booked: the move is to withdraw
    /// them.
    #[error(
        "the terms on the table are your own, and their nights can no longer be booked ({why}): withdraw them (haggle withdraw {}), then ask for other nights",
        .thread.fmt_short()
    )]
    OwnNightsGone {
        /// The thread.
        thread: ObjectId,
        /// Why the nights cannot be booked.
        why: String,
    },
    /// Withdrawing the other party's terms.
    #[error("the terms on the table are the other party's: decline them instead of withdrawing")]
    TheirTerms,
    /// The owner accepted; the other party's node has yet to confirm.
    #[error(
        "you accepted in thread {}: an accept is not taken back; it becomes a deal when the other party's node confirms (it does so when it is online and the terms still stand)",
        .0.fmt_short()
    )]
    AwaitingConfirmation(ObjectId),
    /// The thread has ended.
    #[error(
        "thread {} {}; nothing more can be said in it{}",
        thread.fmt_short(),
        match (ended_here, ended_here.as_deref().is_some_and(super::endings::is_automatic_note)) {
            (Some(note), true) => format!(
                "was {state} by your node by itself, with the note {note:?} (when a listing sells out, closes or expires, your node ends its other threads)"
            ),
            (Some(note), false) if note.is_empty() => format!("was {state} by you"),
            (Some(note), false) => format!("was {state} by you, with the note {note:?}"),
            // Ended by the other party: said so, and where their note is.
            (None, _) if matches!(state, ThreadState::Declined | ThreadState::Withdrawn) => format!(
                "was {state} by the other party (haggle show {} has their note, if they left one)",
                thread.fmt_short()
            ),
            (None, _) => format!("is {state}"),
        },
        match (state, again) {
            (ThreadState::Accepted, again) if *called_off => match again {
                Some(command) => format!(": its deal was called off, and the listing is on offer again: to buy it after all, make a new offer ({command})"),
                None => ": its deal was called off".to_owned(),
            },
            (ThreadState::Accepted, _) => match deal {
                Some(deal) => format!(": it is a deal now (haggle deal {} shows where it stands and what can follow)", deal.fmt_short()),
                None => ": it is a deal now (haggle deals shows it)".to_owned(),
            },
            (ThreadState::Expired | ThreadState::Withdrawn | ThreadState::Declined, Some(command)) if *booking => {
                format!(": to ask again, request the nights anew ({command})")
            }
            (ThreadState::Expired | ThreadState::Withdrawn | ThreadState::Declined, Some(command)) => {
                format!(": to go on haggling, make a new offer ({command})")
            }
            _ => String::new(),
        }
    )]
    ThreadEnded {
        /// The thread.
        thread: ObjectId,
        /// How it ended.
        state: ThreadState,
        /// The command that starts anew, when the thread was the owner's offer (not a bid or
        /// pledge, and not on the owner's own listing): a new offer, or a new booking request.
        again: Option<String>,
        /// Whether the thread was a booking (its new request is `haggle book`, not an offer).
        booking: bool,
        /// Its deal, once the thread made one.
        deal: Option<ObjectId>,
        /// Whether that deal was called off (by both parties).
        called_off: bool,
        /// When this node ended it (a Decline or Withdraw it signed, by hand or by itself when
        /// the listing closed): that message's note.
        ended_here: Option<String>,
    },
    /// A newer revision of the listing exists.
    #[error("a newer revision of this listing exists")]
    NewerRevision,
    /// The revision counter is exhausted.
    #[error("this listing has run out of revision numbers")]
    RevisionsExhausted,
    /// A deal step the owner may not sign now (see `haggle_protocol::lifecycle`), in the deal's
    /// own words (a giveaway's giver and taker, a campaign's creator and backer, a service's
    /// work) with the command that comes next.
    #[error("{}", step_refusal(.deal, .why, *.kind, *.rated))]
    Step {
        /// The deal.
        deal: ObjectId,
        /// Why not.
        why: haggle_protocol::NotAllowed,
        /// The kind of the listing the deal was made on, which names its parties and steps.
        kind: Option<haggle_protocol::ListingKind>,
        /// Whether the owner rated the deal already (a completed deal's refusal then does not
        /// suggest rating it).
        rated: bool,
    },
    /// A payment request or payment on a deal whose price is 0 (a giveaway, a free file).
    #[error("{}", nothing_to_pay(.deal, *.file, *.kind))]
    NothingToPay {
        /// The deal.
        deal: ObjectId,
        /// Whether it is a digital good's (its key went with the deal).
        file: bool,
        /// The kind of the listing it was made on, which names its parties and steps.
        kind: Option<haggle_protocol::ListingKind>,
    },
    /// The owner already rated the deal (one feedback per party and deal).
    #[error("you already rated deal {} (feedback {}); this node signs one rating per deal", deal.fmt_short(), feedback.fmt_short())]
    AlreadyRated {
        /// The deal.
        deal: ObjectId,
        /// The owner's feedback on it.
        feedback: ObjectId,
    },
    /// The deal is not at a point where it may be rated.
    #[error(
        "deal {} is {}: {}",
        deal.fmt_short(),
        stage.replace('_', " "),
        if *stage == "cancelled" {
            "both parties called it off, so neither rates it".to_owned()
        } else if *received_unpaid {
            format!("the {} said it was received before the payment request reached its node, and it can be rated once the {} says it paid, or once it has stayed at this stage for 14 days", party_name(haggle_protocol::Role::Buyer, *kind), party_name(haggle_protocol::Role::Buyer, *kind))
        } else {
            format!("it can be rated once the {} says it was received, or once it has stayed at this stage for 14 days", party_name(haggle_protocol::Role::Buyer, *kind))
        }
    )]
    NotRateable {
        /// The deal.
        deal: ObjectId,
        /// Its listing's kind, which names its parties (a giveaway's taker).
        kind: Option<haggle_protocol::ListingKind>,
        /// Its stage.
        stage: &'static str,
        /// The buyer said `received` while it owed the payment asked for
        /// (`DealState::received_unpaid`).
        received_unpaid: bool,
    },
    /// The owner signed as many steps in the deal as one party may.
    #[error(
        "you have signed {max} steps in deal {}, as many as one party may: no more can be added (haggle message {} reaches the other party; haggle deal {} shows the timeline)",
        deal.fmt_short(),
        deal.fmt_short(),
        deal.fmt_short()
    )]
    StepsFull {
        /// The deal.
        deal: ObjectId,
        /// The limit.
        max: usize,
    },
    /// A dispute or payment request that would leave fewer of the owner's steps than are kept
    /// for carrying the deal on or ending it.
    #[error(
        "you have signed {signed} steps in deal {}: the last {kept} of the 32 a party may sign are kept for paying, handing over, receiving and calling the deal off; to add to what you said, write to the other party (haggle message {} \"...\")",
        deal.fmt_short(),
        deal.fmt_short()
    )]
    StepsKept {
        /// The deal.
        deal: ObjectId,
        /// How many the owner signed.
        signed: usize,
        /// How many are kept.
        kept: usize,
    },
    /// A booking's `received` before its first day, or its rating before its last (a trial's
    /// guest completed and rated a stay two weeks before it began).
    #[error("{}", stay_ahead(deal, dates, *service, *rating))]
    StayAhead {
        /// The deal.
        deal: ObjectId,
        /// The nights (or days of work) it books.
        dates: haggle_protocol::calendar::DateRange,
        /// Whether the listing is a service (days of work, not a stay).
        service: bool,
        /// Whether a rating was asked for (else `received`).
        rating: bool,
    },
    /// A booking's nights do not fit, or are booked or promised already; `.1` is whether the
    /// listing is a service, whose calendar books days of work, not stays.
    #[error("{}", booking_text(.0, *.1))]
    Booking(haggle_protocol::BookingError, bool),
    /// An accept of terms whose nights do not fit (any more), with the ways on: the thread
    /// stays open for other dates (a trial's owner read only the overlap).
    #[error(
        "{}: counter with other dates (haggle counter {1} --from YYYY-MM-DD --to YYYY-MM-DD), or decline (haggle decline {1})",
        booking_text(.why, *.service),
        .thread.fmt_short()
    )]
    BookingAccept {
        /// Why the nights do not fit.
        why: haggle_protocol::BookingError,
        /// The thread.
        thread: ObjectId,
        /// Whether the listing is a service (its calendar books days of work: a trial's
        /// accept read "the first stay as long").
        service: bool,
    },
    /// The listing's author answering, without `as_offered`, an offer made on an earlier
    /// revision that described the listing otherwise: an accept or counter binds the author to
    /// the revision offered on.
    #[error(
        "this offer was made before you changed the listing's {}: a deal from it, by an accept or a counter, stands on the revision offered on (haggle show {} --exact). {} it as offered with --as-offered, or decline it (haggle decline {}) and let the other party offer again on the listing as it is now",
        in_words(changed),
        offered_on.fmt_short(),
        if *action == "counter" { "Counter" } else { "Accept" },
        thread.fmt_short()
    )]
    ListingChangedSince {
        /// The thread.
        thread: ObjectId,
        /// The revision the offer was made on.
        offered_on: ObjectId,
        /// What changed since, as `Listing::changes_since` names it.
        changed: Vec<&'static str>,
        /// `accept` or `counter`.
        action: &'static str,
    },
    /// The listing's author answering, without `as_offered`, terms without nights on a listing
    /// that took bookings after they were offered: a deal from them would book no nights and
    /// hold nothing on the calendar.
    #[error(
        "thread {} names no nights: it was offered before listing {} took bookings, so a deal from it would book none and hold nothing on the calendar. {} it as offered, outside the calendar, with --as-offered; or decline it (haggle decline {}), and the other party can book nights (haggle book {} --from ... --to ...)",
        thread.fmt_short(),
        listing.fmt_short(),
        if *action == "counter" { "Counter" } else { "Accept" },
        thread.fmt_short(),
        listing.fmt_short()
    )]
    NoNightsNamed {
        /// The thread.
        thread: ObjectId,
        /// The listing's current revision.
        listing: ObjectId,
        /// `accept` or `counter`.
        action: &'static str,
    },
    /// A bid on a listing that is not an auction (named by the id given), and what it takes.
    #[error("listing {} is not an auction: {}", .0.fmt_short(), takes(.0, .1))]
    NotAnAuction(haggle_protocol::ObjectId, Takes),
    /// A pledge to a listing that is not a campaign (named by the id given), and what it takes.
    #[error("listing {} is not a crowdfunding campaign: {}", .0.fmt_short(), takes(.0, .1))]
    NotACampaign(haggle_protocol::ObjectId, Takes),
    /// A pledge after the campaign's deadline.
    #[error(
        "the campaign {} reached its deadline {}: pledges can no longer be made, raised or withdrawn (if it met its goal, each pledge is a deal now: haggle deals lists yours, and haggle cancel DEAL proposes to call one off)",
        listing.fmt_short(),
        when(*deadline)
    )]
    CampaignEnded {
        /// The campaign.
        listing: ObjectId,
        /// Its deadline.
        deadline: haggle_protocol::Timestamp,
    },
    /// A pledge so close to the deadline that it could reach the creator's node after it: that
    /// node would not count it while others did.
    #[error(
        "the campaign {} reaches its deadline {}: a pledge (or a withdrawal) made now could reach the creator's node after it, and would then not count there; pledges close {} s before the deadline",
        listing.fmt_short(), when(*deadline), crate::service::campaigns::LAST_CALL.as_secs()
    )]
    DeadlineTooClose {
        /// The campaign.
        listing: ObjectId,
        /// Its deadline.
        deadline: haggle_protocol::Timestamp,
    },
    /// A bid that could not reach the seller's node before the auction's end.
    #[error(
        "the auction {} ends {}: a bid made now could reach the seller's node after that, and would not count there; it was not sent",
        listing.fmt_short(), when(*ends_at)
    )]
    BidTooLate {
        /// The auction.
        listing: ObjectId,
        /// The end the bid would have left.
        ends_at: haggle_protocol::Timestamp,
    },
    /// A bid after the auction's end.
    #[error(
        "the auction {} ended {}: bidding is closed (haggle show {} says how it came out)",
        listing.fmt_short(),
        when(*ends_at),
        listing.fmt_short()
    )]
    AuctionEnded {
        /// The auction.
        listing: ObjectId,
        /// When it ended.
        ends_at: haggle_protocol::Timestamp,
    },
    /// Accepting a bid while the auction runs.
    #[error("the auction {} ends {}: bids are answered once it has ended (your node then accepts the high bid by itself, unless it is under the reserve or from a key you blocked)", listing.fmt_short(), when(*ends_at))]
    AuctionRunning {
        /// The auction.
        listing: ObjectId,
        /// When it ends, as things stand.
        ends_at: haggle_protocol::Timestamp,
    },
    /// Accepting a bid of an ended auction that is neither its high bid nor, once the high bid
    /// fell through, the next bid (the best one still open).
    #[error("{}", not_the_high_bid(listing, high, *how, next))]
    NotTheHighBid {
        /// The auction.
        listing: ObjectId,
        /// The high bid's thread and amount, if a bid leads.
        high: Option<(ObjectId, String)>,
        /// How the high bid stands.
        how: HighBid,
        /// The next bid's thread and amount, if the high bid fell through and one is open
        /// (boxed: every service error is as large as its largest).
        next: Option<Box<(ObjectId, String)>>,
    },
    /// Answering a pledge by hand while the campaign runs.
    #[error("the campaign {} runs until its deadline {}: pledges are accepted then if it is funded", listing.fmt_short(), when(*deadline))]
    CampaignRunning {
        /// The campaign.
        listing: ObjectId,
        /// Its deadline.
        deadline: haggle_protocol::Timestamp,
    },
    /// The owner has as many bids or pledges on the listing as one key may.
    #[error(
        "you have made {max} bids on this auction, as many as one key may: it takes no more from you (your highest stands)"
    )]
    TooManyBids {
        /// The limit.
        max: usize,
    },
    /// A message about a listing, or in a thread that ended without a deal, to a key the owner
    /// blocked: its answers would be refused.
    #[error(
        "you blocked {0}: their answers about a listing, or in a thread that ended without a deal, would not reach you, so a message there is not sent to them (in an open thread or a deal, messages go on both ways). haggle unblock {0} first"
    )]
    NoteToBlocked(haggle_protocol::PublicKey),
    /// An offer, booking request, bid or pledge on the listing of a key the owner blocked
    /// (`.1`: `offer on`, `book`, `bid on`, `pledge to`): a block keeps new threads from
    /// starting either way (a trial's user blocked someone, then made a deal with them with only
    /// a line in the thread to say so, while a message to them was refused).
    #[error(
        "you blocked {0}: a block keeps new offers, bookings, bids and pledges from starting between you, either way. To {1} their listing, haggle unblock {0} first"
    )]
    ToBlocked(haggle_protocol::PublicKey, &'static str),
    /// A conversation named that holds no message yet.
    #[error("there are no messages about `{given}`{} yet: haggle message {given} \"TEXT\" sends one; haggle messages lists your conversations", .with.map(|k| format!(" between you and {k}")).unwrap_or_default())]
    NoNotes {
        /// What was named.
        given: String,
        /// The other key.
        with: Option<haggle_protocol::PublicKey>,
    },
    /// The owner's listing named where a conversation is meant, with none or several about it.
    #[error("{}", which_conversation(.listing, .conversations, .threads))]
    WhichConversation {
        /// The listing.
        listing: ObjectId,
        /// Each conversation about it (the id `haggle messages` lists), with the other key and
        /// the owner's name for it, if it gave one.
        conversations: Vec<(ObjectId, haggle_protocol::PublicKey, Option<String>)>,
        /// With no conversation about it: a few threads on it (offers, bookings, bids), each with
        /// the key that opened it and the owner's name for it, whose conversations a message
        /// may go to instead.
        threads: Vec<(ObjectId, haggle_protocol::PublicKey, Option<String>)>,
    },
    /// A thread between two other people (a public bid or pledge).
    #[error("thread {} is between two other people: messages go between a thread's two parties", .0.fmt_short())]
    NotYourThread(ObjectId),
    /// The owner's messages in a row with no answer.
    #[error("you have sent {max} messages in a row in this conversation and had no answer: wait for one")]
    NotesUnanswered {
        /// The limit.
        max: usize,
    },
    /// Conversations the owner opened with this key that it never answered.
    #[error(
        "you have started {max} conversations with this key that it has not answered, as many as one key may: wait for an answer (a conversation goes 30 days after its last message)"
    )]
    TooManyConversations {
        /// The limit.
        max: usize,
    },
    /// The owner's messages in one conversation.
    #[error("you have written {max} messages in this conversation, as many as one side may")]
    ConversationFull {
        /// The limit.
        max: usize,
    },
    /// The owner has as many open listings as a node keeps for one author.
    #[error(
        "you already have {max} open listings, as many as nodes keep for one seller: a place frees when one is sold, retracted or expires (haggle listings shows yours; haggle retract <id> ends one)"
    )]
    TooManyListings {
        /// The limit.
        max: usize,
    },
    /// The owner has as many listings, open and closed, as a node holds for one author.
    #[error(
        "you already have {max} listings, open and closed, as many as nodes hold for one seller: a closed one is kept up to 90 days after it closed, to end the offers on it, and its place frees then"
    )]
    TooManyListingsHeld {
        /// The limit.
        max: usize,
    },
    /// The store refused the object for another reason.
    #[error(transparent)]
    Refused(RejectReason),
    /// A download from a deal that is not for a digital good.
    #[error("deal {} is not for a digital good: there is no file to download or hand over", .0.fmt_short())]
    NotDigital(ObjectId),
    /// A download before the seller's node handed over the key.
    #[error("the seller has not handed over the key of deal {} yet: the seller's node does once you have paid (haggle paid {}; at once for a free file), or the seller by hand (haggle deliver), while both nodes are online", .0.fmt_short(), .0.fmt_short())]
    NoFileKey(ObjectId),
    /// The seller's node lacks the key of a file it sold.
    #[error("this node does not hold the key of deal {}'s file (blobs/keys/ in the data dir): restore it from a backup", .0.fmt_short())]
    KeyLost(ObjectId),
    /// `haggle deliver` by the buyer.
    #[error("only the seller of deal {} hands over its key", .0.fmt_short())]
    NotSeller(ObjectId),
}

impl ServiceError {
    /// The store failure under this error, if it is one.
    pub fn store(&self) -> Option<&StoreError> {
        match self {
            ServiceError::Store(e) | ServiceError::Search(SearchError::Store(e)) => Some(e),
            _ => None,
        }
    }

    /// The stable code the API reports.
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::NotFound { .. }
            | ServiceError::WrongKind { .. }
            | ServiceError::RevisionGone { .. }
            | ServiceError::OnlyRated { .. } => ErrorCode::NotFound,
            ServiceError::Ambiguous { .. } => ErrorCode::Ambiguous,
            // A word that names no one, as an id that names nothing: not found (a trial's
            // `reputation Nobody` exited 2, `reputation 123456` 4).
            ServiceError::Invalid(InvalidInput::Identity(_) | InvalidInput::BlockWho(_)) => {
                ErrorCode::NotFound
            }
            ServiceError::Sign(SignError::Stopped) => ErrorCode::ShuttingDown,
            ServiceError::BadId(_)
            | ServiceError::Invalid(_)
            | ServiceError::Sign(_)
            | ServiceError::Amount(_) => ErrorCode::Invalid,
            ServiceError::Search(SearchError::Store(_)) => ErrorCode::Internal,
            ServiceError::Search(_) => ErrorCode::Invalid,
            ServiceError::NotYours { .. } => ErrorCode::NotYours,
            ServiceError::Conflict(c) => c.code(),
            ServiceError::Seal(_) | ServiceError::Store(_) | ServiceError::Files(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn not_found(what: &'static str, given: &str) -> Self {
        ServiceError::NotFound { what, given: given.to_owned() }
    }
}

/// What a seller is told whose cancel would call off alone a deal the buyer said it paid.
fn cancel_would_call_off(
    deal: ObjectId,
    disputed_until: Option<haggle_protocol::Timestamp>,
    received: bool,
) -> String {
    let id = deal.fmt_short();
    let together = format!(
        "to call it off together, ask the buyer to cancel (haggle message {id} \"...\"): your cancel then agrees to theirs"
    );
    if received {
        return format!(
            "the buyer said it received the thing, so a cancel of yours cannot stand alone on deal {id}; {together}"
        );
    }
    let days = haggle_protocol::lifecycle::PAYMENT_DISPUTE_WAIT.as_secs() / 86_400;
    match disputed_until {
        Some(until) => format!(
            "the buyer said it paid, and you disputed it: you may call deal {id} off alone from {} (UTC), {days} days after your dispute, if the payment has not come; {together}",
            haggle_protocol::calendar::Date(haggle_protocol::calendar::day_of(until))
        ),
        None => format!(
            "the buyer said it paid, so a cancel of yours would call deal {id} off on its own, which is kept for a payment that never came: if none came, say so (haggle dispute {id} --reason \"no payment has come\"), and you may call it off alone {days} days later; {together}"
        ),
    }
}

/// Names as people list them: `price`, `price and title`, `price, title and pictures`.
pub fn in_words<S: AsRef<str>>(names: &[S]) -> String {
    match names {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

impl Conflict {
    /// The owner's listing `l` is closed; `id` names it as the owner typed it; `reopens` if a
    /// deal sold it out and it reopens were the deal called off; `retracted` if the owner
    /// retracted it after it sold out.
    pub(super) fn own_closed(
        l: &haggle_protocol::Listing,
        reopens: bool,
        retracted: bool,
        id: ObjectId,
    ) -> Conflict {
        Conflict::OwnListingClosed(id, Self::how_closed(l, reopens, retracted), Self::anew(l))
    }

    /// The owner's listing `l`, asked to be retracted, is closed already (and no deal that
    /// sold it out would reopen it: such a one is retracted); the rest as in [`Self::own_closed`].
    pub(super) fn own_closed_already(
        l: &haggle_protocol::Listing,
        retracted: bool,
        id: ObjectId,
    ) -> Conflict {
        Conflict::OwnListingClosedAlready(id, Self::how_closed(l, false, retracted), Self::anew(l))
    }

    /// How the owner's closed listing `l` closed, in words; the rest as in [`Self::own_closed`].
    fn how_closed(l: &haggle_protocol::Listing, reopens: bool, retracted: bool) -> &'static str {
        use haggle_protocol::ListingKind;
        if retracted {
            return "you retracted it after it sold out";
        }
        match (reopens, l.kind) {
            (true, ListingKind::Giveaway) => {
                "given away; it reopens by itself if the deal is called off, unless `haggle retract` closes it for good"
            }
            (true, ListingKind::Wanted) => {
                "found; it reopens by itself if the deal is called off, unless `haggle retract` closes it for good"
            }
            (true, _) => {
                "sold out; it reopens by itself if a deal for it is called off, unless `haggle retract` closes it for good"
            }
            (false, ListingKind::Crowdfund) if l.quantity > 0 => "you retracted it",
            (false, ListingKind::Crowdfund) => "the campaign is over",
            (false, ListingKind::Auction) if l.quantity == 0 => "the auction is over",
            (false, _) if l.quantity == 0 => "sold out, and it stays closed",
            (false, _) => "you retracted it",
        }
    }

    /// What a new listing like `l` needs besides what `publish --from` copies: an auction's end
    /// or a campaign's deadline (a trial's `publish --from` was refused for want of it).
    fn anew(l: &haggle_protocol::Listing) -> &'static str {
        match l.kind {
            haggle_protocol::ListingKind::Auction => " --ends 3d",
            haggle_protocol::ListingKind::Crowdfund => " --deadline 30d",
            _ => "",
        }
    }

    /// The listing `l` is closed; `id` names it as the user knows it. Closed with nothing left,
    /// it sold out (a campaign closed so missed its goal: just closed).
    pub(super) fn closed(l: &haggle_protocol::Listing, id: ObjectId) -> Conflict {
        use haggle_protocol::ListingKind;
        if l.quantity == 0 && l.kind != ListingKind::Crowdfund {
            let word = match l.kind {
                ListingKind::Auction => "sold",
                ListingKind::Giveaway => "given away",
                ListingKind::Wanted => "found",
                _ => "sold out",
            };
            Conflict::ListingSoldOut(id, word)
        } else if l.kind == ListingKind::Crowdfund {
            Conflict::ListingClosed(id, "the campaign is over", "pledges")
        } else if l.kind == ListingKind::Auction {
            Conflict::ListingClosed(id, "its author retracted it", "bids")
        } else if l.calendar().is_some() {
            // A listing with a calendar is booked (a trial's retracted service "took no offers").
            Conflict::ListingClosed(id, "its author retracted it", "bookings")
        } else {
            Conflict::ListingClosed(id, "its author retracted it", "offers")
        }
    }

    /// The stable code the API reports.
    pub fn code(&self) -> ErrorCode {
        match self {
            Conflict::OwnListingExpired(_) => ErrorCode::ListingExpired,
            Conflict::ListingClosed(..)
            | Conflict::ListingSoldOut(..)
            | Conflict::OwnListingClosed(..)
            | Conflict::OwnListingClosedAlready(..) => ErrorCode::ListingClosed,
            Conflict::ListingExpired(_) => ErrorCode::ListingExpired,
            Conflict::QuantityExceeded { .. } | Conflict::PromisedByCounters { .. } => {
                ErrorCode::QuantityExceeded
            }
            Conflict::OwnListing(_) => ErrorCode::OwnListing,
            Conflict::OwnTerms { .. }
            | Conflict::OwnNightsGone { .. }
            | Conflict::TheirTerms
            | Conflict::AwaitingConfirmation(_) => ErrorCode::NotYourTurn,
            Conflict::ThreadEnded { .. } | Conflict::OfferRefused { .. } => ErrorCode::ThreadEnded,
            Conflict::ListingChangedSince { .. } | Conflict::NoNightsNamed { .. } => {
                ErrorCode::ListingChanged
            }
            Conflict::Step { .. }
            | Conflict::CancelWouldCallOff { .. }
            | Conflict::NotRateable { .. }
            | Conflict::StayAhead { .. }
            | Conflict::NothingToPay { .. } => ErrorCode::NotYourTurn,
            Conflict::AlreadyRated { .. }
            | Conflict::TooManyBids { .. }
            | Conflict::Booking(..)
            | Conflict::BookingAccept { .. }
            | Conflict::SameOffer(_)
            | Conflict::SameRequest { .. }
            | Conflict::SamePledge { .. }
            | Conflict::SameListing { .. }
            | Conflict::StepsMissing(_)
            | Conflict::StepsFull { .. }
            | Conflict::StepsKept { .. }
            | Conflict::TooManyOpenOffers { .. }
            | Conflict::TooManyThreads { .. }
            | Conflict::TooManyListings { .. }
            | Conflict::TooManyListingsHeld { .. }
            | Conflict::BlockListFull { .. }
            | Conflict::NameTaken { .. }
            | Conflict::NameLooksLike { .. }
            | Conflict::NamesFull { .. }
            | Conflict::SavedSearchesFull { .. }
            | Conflict::SavedSearchDamaged { .. }
            | Conflict::NoteToBlocked(_)
            | Conflict::ToBlocked(..)
            | Conflict::NotesUnanswered { .. }
            | Conflict::TooManyConversations { .. }
            | Conflict::ConversationFull { .. } => ErrorCode::Conflict,
            Conflict::NoNotes { .. } => ErrorCode::NotFound,
            Conflict::WhichConversation { conversations, .. } if conversations.is_empty() => {
                ErrorCode::NotFound
            }
            Conflict::WhichConversation { .. } => ErrorCode::Ambiguous,
            Conflict::NotYourThread(_) => ErrorCode::NotYours,
            Conflict::NotAnAuction(..) | Conflict::NotACampaign(..) | Conflict::NotDigital(_) => {
                ErrorCode::Invalid
            }
            Conflict::NoFileKey(_) | Conflict::NotSeller(_) => ErrorCode::NotYourTurn,
            Conflict::KeyLost(_) => ErrorCode::Conflict,
            Conflict::AuctionEnded { .. }
            | Conflict::CampaignEnded { .. }
            | Conflict::MarketOver { .. }
            | Conflict::DeadlineTooClose { .. }
            | Conflict::BidTooLate { .. } => ErrorCode::ListingExpired,
            Conflict::AuctionRunning { .. }
            | Conflict::CampaignRunning { .. }
            | Conflict::MarketWithdraw(_) => ErrorCode::NotYourTurn,
            Conflict::NotTheHighBid { .. } => ErrorCode::Conflict,
            Conflict::Refused(RejectReason::Decode(_)) => ErrorCode::Invalid,
            Conflict::NewerRevision | Conflict::RevisionsExhausted | Conflict::Refused(_) => {
                ErrorCode::Conflict
            }
        }
    }
}

impl From<RejectReason> for ServiceError {
    fn from(reason: RejectReason) -> Self {
        match reason {
            RejectReason::QuantityExceeded { requested, remaining } => {
                Conflict::QuantityExceeded { requested, remaining, held: Vec::new() }.into()
            }
            RejectReason::Step(e) => InvalidInput::Step(e).into(),
            RejectReason::DatesTaken(e) => Conflict::Booking(e, false).into(),
            RejectReason::TooManyOpenOffers { max } => Conflict::TooManyOpenOffers { max }.into(),
            RejectReason::AuthorQuota { max } => Conflict::TooManyListings { max }.into(),
            RejectReason::AuthorHeldQuota { max } => Conflict::TooManyListingsHeld { max }.into(),
            RejectReason::ThreadQuota { max } => {
                Conflict::TooManyThreads { max, scope: "with this seller" }.into()
            }
            RejectReason::ListingThreadQuota { max } => {
                Conflict::TooManyThreads { max, scope: "on this listing" }.into()
            }
            RejectReason::NotesUnanswered { max } => Conflict::NotesUnanswered { max }.into(),
            RejectReason::ConversationQuota { max } => Conflict::TooManyConversations { max }.into(),
            RejectReason::NotesFull { max } => Conflict::ConversationFull { max }.into(),
            other => Conflict::Refused(other).into(),
        }
    }
}

/// Which conversation about the owner's listing is meant: none yet, or one of several.
fn which_conversation(
    listing: &ObjectId,
    conversations: &[(ObjectId, haggle_protocol::PublicKey, Option<String>)],
    threads: &[(ObjectId, haggle_protocol::PublicKey, Option<String>)],
) -> String {
    let l = listing.fmt_short();
    let each = |held: &[(ObjectId, haggle_protocol::PublicKey, Option<String>)]| {
        held.iter()
            .map(|(id, with, name)| {
                let who = name.as_deref().map_or_else(|| peer_short(with), quoted);
                format!("{} with {who}", id.fmt_short())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (conversations, threads) {
        ([], []) => format!(
            "nobody has written to you about your listing {l} yet: a message about it goes to someone who wrote first (haggle messages lists your conversations)"
        ),
        ([], _) => format!(
            "nobody has asked about your listing {l}: to write to someone who made an offer on it, name the offer's thread ({}); haggle offers lists them",
            each(threads)
        ),
        _ => format!(
            "{} people have written to you about your listing {l}: name the conversation ({}); haggle messages lists them",
            conversations.len(),
            each(conversations)
        ),
    }
}

/// A key as tables show it: the start and end of its PeerId (`12D3KooW…a1b2c3`).
fn peer_short(key: &haggle_protocol::PublicKey) -> String {
    let peer = key.to_string();
    let tail = peer.len().saturating_sub(6);
    format!("{}…{}", peer.get(..8).unwrap_or(&peer), peer.get(tail..).unwrap_or_default())
}

/// What a listing takes, for a bid or pledge on the wrong kind: the command that fits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// An auction: bids.
    Bids,
    /// A campaign: pledges.
    Pledges,
    /// A listing with a calendar: bookings.
    Bookings,
    /// Any other: offers.
    Offers,
}

impl Takes {
    /// What `listing` takes.
    pub fn of(listing: &haggle_protocol::Listing) -> Takes {
        match &listing.market {
            Some(haggle_protocol::Market::Auction(_)) => Takes::Bids,
            Some(haggle_protocol::Market::Campaign(_)) => Takes::Pledges,
            Some(haggle_protocol::Market::Calendar(_)) => Takes::Bookings,
            None => Takes::Offers,
        }
    }
}

/// The command for what a listing takes, named by `id`.
fn takes(id: &ObjectId, what: &Takes) -> String {
    let id = id.fmt_short();
    match what {
        Takes::Bids => format!("it takes bids (haggle bid {id} --price ...)"),
        Takes::Pledges => format!("it takes pledges (haggle pledge {id} --amount ...)"),
        Takes::Bookings => format!("it takes bookings (haggle book {id} --from DATE --to DATE)"),
        Takes::Offers => format!("make an offer instead (haggle offer {id} --price ...)"),
    }
}

/// Where ids of `what` are listed, for a "no such id" message.
fn look_in(what: &str) -> &'static str {
    match what {
        "offer thread" => {
            ": haggle offers lists the threads you are in (one between two other people never reaches your node)"
        }
        "deal" => ": haggle deals lists yours",
        "saved search" => ": haggle saved lists yours",
        "conversation" => {
            ": haggle messages lists your conversations; a message can be about a listing, a thread, a deal or another message"
        }
        "listing, thread, deal or message" => {
            ": haggle search finds listings, haggle offers and haggle deals list your threads and deals, haggle messages your conversations"
        }
        // Found in a trial: a rental's first id, shared by its owner, named nothing on a node
        // that got the listing after later revisions (each booking makes one) replaced it.
        "listing" => {
            ": haggle search finds listings, haggle listings lists your own (an id of a revision from before this node held the listing is not known here: search for it, or ask for its current id)"
        }
        "object" => {
            ": haggle search, haggle listings, haggle offers and haggle deals show the ids this node holds (an id of a listing's revision from before this node held it is not known here)"
        }
        _ => "",
    }
}

/// A time relative to now, as people say it: `3m 20s ago`, `in 2h 5m`; within the second,
/// `just now` or `in under a second` (a trial read "the auction ... ended 0s ago").
fn when(t: haggle_protocol::Timestamp) -> String {
    let now = haggle_protocol::Timestamp::now();
    let (span, past) = if t <= now { (now.since(t), true) } else { (t.since(now), false) };
    let secs = span.as_secs();
    let text = match secs {
        0 if past => return "just now".to_owned(),
        0 => return "in under a second".to_owned(),
        1..60 => format!("{secs}s"),
        60..3_600 => format!("{}m {}s", secs / 60, secs % 60),
        3_600..86_400 => format!("{}h {}m", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3_600),
    };
    if past { format!("{text} ago") } else { format!("in {text}") }
}

/// How the high bid of the owner's ended auction stands, on the owner's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HighBid {
    /// Open (the owner's node accepts it, or the owner may, under the reserve), accepted, or a
    /// deal.
    Stands,
    /// Open, from a key the owner blocked: the owner accepts or declines it.
    Blocked,
    /// Declined by the owner, or accepted and never confirmed: another bid may be taken.
    FellThrough,
    /// Accepted by the owner, its Confirm not yet here: it becomes a deal, or lapses when the
    /// bidder's node has not confirmed by then.
    Accepted {
        /// When the accept lapses unconfirmed.
        confirm_by: haggle_protocol::Timestamp,
    },
}

/// Why a bid of an ended auction cannot be accepted: which bid can, if any.
fn not_the_high_bid(
    listing: &ObjectId,
    high: &Option<(ObjectId, String)>,
    how: HighBid,
    next: &Option<Box<(ObjectId, String)>>,
) -> String {
    match (high, next.as_deref()) {
        (Some((high, _)), Some((next, amount))) => format!(
            "this is not the bid to accept in auction {}: its high bid {} {}, and the best bid of another still open is {} ({amount}); accept that one, or decline this one, or leave it to lapse",
            listing.fmt_short(),
            high.fmt_short(),
            if how == HighBid::Blocked { "is from a key you blocked" } else { "fell through" },
            next.fmt_short()
        ),
        (Some((high, _)), None) if how == HighBid::FellThrough => format!(
            "no bid of auction {} can be accepted now: its high bid {} fell through (you declined it, or your accept of it was never confirmed), and no other bidder's bid is still open from someone you neither blocked nor declined",
            listing.fmt_short(),
            high.fmt_short()
        ),
        (Some((high, amount)), None) if how == HighBid::Blocked => format!(
            "this bid of auction {} cannot be accepted: its high bid {} ({amount}) is from a key you blocked, which you may accept or decline, and no other bidder's bid is still open from someone you neither blocked nor declined",
            listing.fmt_short(),
            high.fmt_short()
        ),
        // From a trial: a seller whose winner's node was away at the end was told to decline or
        // block the high bid already accepted, and neither could be done.
        (Some((thread, amount)), None) if let HighBid::Accepted { confirm_by } = how => format!(
            "this is not the bid to accept in auction {}: you accepted its high bid {} ({amount}), and its bidder's node has not confirmed yet. An accept is not taken back, by a decline or a block; if no confirm comes {}, it lapses and you may sell to the best bid still open",
            listing.fmt_short(),
            thread.fmt_short(),
            when(confirm_by)
        ),
        (Some((thread, amount)), None) => format!(
            "this is not the high bid of auction {}: only the high bid can be accepted, and that is {} ({amount}); a lower bid only once the high one falls through (you decline it, or you blocked its bidder); decline this one, or leave it to lapse",
            listing.fmt_short(),
            thread.fmt_short()
        ),
        (None, _) => format!(
            "no bid counts in auction {}: none was made before its end, so there is nothing to accept; decline this one, or leave it to lapse",
            listing.fmt_short()
        ),
    }
}

/// Why only `remaining` can be promised where `requested` was asked, naming the threads that
/// hold the rest and how each lets go of it.
fn quantity_exceeded(requested: u32, remaining: u32, held: &[haggle_storage::Promise]) -> String {
    let mut out = format!(
        "only {remaining} can be promised now, {requested} asked: the listing's quantity, less what deals took"
    );
    if held.is_empty() {
        out.push_str(" and what your open counter-offers and accepts awaiting a confirm hold (haggle offers lists those)");
    } else {
        let each: Vec<String> = held
            .iter()
            .map(|p| {
                let t = p.thread.fmt_short();
                if p.counter {
                    format!(
                        "your counter-offer for {} in thread {t} (haggle withdraw {t} frees it)",
                        p.quantity
                    )
                } else {
                    format!(
                        "{} in thread {t}, accepted and awaiting its confirm (a deal follows, or it lapses)",
                        p.quantity
                    )
                }
            })
            .collect();
        out.push_str(&format!(", and what you have promised in other threads: {}", each.join("; ")));
    }
    if remaining == 0 && held.is_empty() {
        out.push_str(". Decline this one");
    } else if remaining == 0 {
        out.push_str(". Decline this one, or wait for those threads to end");
    } else {
        out.push_str(&format!(". Counter for {remaining} or fewer, or decline"));
    }
    out
}

/// A deal's party as its listing names it: a giveaway's giver and taker, a campaign's creator
/// and backer, else the seller and the buyer.
pub fn party_name(role: haggle_protocol::Role, kind: Option<haggle_protocol::ListingKind>) -> &'static str {
    use haggle_protocol::{ListingKind, Role};
    match (role, kind) {
        (Role::Seller, Some(ListingKind::Giveaway)) => "giver",
        (Role::Buyer, Some(ListingKind::Giveaway)) => "taker",
        (Role::Seller, Some(ListingKind::Crowdfund)) => "creator",
        (Role::Buyer, Some(ListingKind::Crowdfund)) => "backer",
        // A host and guest, or a bike's owner and its hirer: renting, not buying (a trial's
        // guest was told to wait for the seller to send the cabin).
        (Role::Seller, Some(ListingKind::Rental)) => "owner",
        (Role::Buyer, Some(ListingKind::Rental)) => "renter",
        (role, _) => role.name(),
    }
}

/// The text of [`Conflict::Booking`]: the protocol's words, which speak of stays and nights, or
/// for a service's calendar of bookings and days (a trial's workshop was told "the longest stay
/// is 2 nights").
fn booking_text(e: &haggle_protocol::BookingError, service: bool) -> String {
    use haggle_protocol::BookingError;
    let days = |n: u32| if n == 1 { "1 day".to_owned() } else { format!("{n} days") };
    match e {
        _ if !service => e.to_string(),
        // With a booking that fits, as a stay's refusal has (from a trial).
        BookingError::TooShort { example, range, nights, min } => format!(
            "the shortest booking is {}; {range} is {}: {}",
            days(*min),
            days(*nights),
            match example {
                Some(booking) => format!("e.g. {booking}"),
                None => format!(
                    "none that long can be booked from {} on",
                    haggle_protocol::calendar::Date(range.from)
                ),
            }
        ),
        BookingError::TooLong { range, nights, max } => format!(
            "the longest booking is {}; {range} is {}: e.g. {}",
            days(*max),
            days(*nights),
            haggle_protocol::DateRange { from: range.from, to: range.from.saturating_add(*max) }
        ),
        _ => e
            .to_string()
            .replace("its check-in is open", "its first day is open")
            .replace("check out by", "end by")
            .replace("the first stay as long", "the first booking as long"),
    }
}

/// The text of [`Conflict::NothingToPay`]: the deal's parties and hand-over named as its
/// listing's kind names them (a trial's free rental read "the giver hands it over").
fn nothing_to_pay(deal: &ObjectId, file: bool, kind: Option<haggle_protocol::ListingKind>) -> String {
    use haggle_protocol::{ListingKind, Role};
    let id = deal.fmt_short();
    let (seller, buyer) = (party_name(Role::Seller, kind), party_name(Role::Buyer, kind));
    let next = if file {
        format!(
            "A free file's key went with the deal: the {buyer} downloads it (haggle download {id}) and confirms (haggle received {id})"
        )
    } else {
        let handed = match kind {
            Some(ListingKind::Service) => "says the work is done",
            Some(ListingKind::Rental) => "says it is handed over (the keys, the thing rented)",
            _ => "hands it over",
        };
        format!("The {seller} {handed} (haggle shipped {id}) and the {buyer} confirms (haggle received {id})")
    };
    format!("deal {id} is free: there is nothing to pay. {next}")
}

/// The text of [`Conflict::StayAhead`]: when the booking lets the step or the rating be said,
/// and what the parties can do until then.
fn stay_ahead(
    deal: &ObjectId,
    dates: &haggle_protocol::calendar::DateRange,
    service: bool,
    rating: bool,
) -> String {
    use haggle_protocol::calendar::Date;
    let id = deal.fmt_short();
    let (what, begins, ends) = if service {
        ("books the days of work", "they begin", "they are over")
    } else {
        ("is a booking of", "it begins", "it is over")
    };
    if rating {
        format!(
            "deal {id} {what} {dates}: it can be rated once {ends}, from {} (UTC), so that a rating tells how it went",
            Date(dates.to)
        )
    } else {
        let said =
            if service { "say the work is done" } else { "say it was received (the stay or rental began)" };
        format!(
            "deal {id} {what} {dates}, and {begins} on {} (UTC): {said} from that day; until then, haggle message {id} reaches the other party, and haggle cancel {id} asks to call it off",
            Date(dates.from)
        )
    }
}

/// The text of [`Conflict::Step`]: the protocol's reason, with the deal's parties named as its
/// listing names them and the command that comes next.
fn step_refusal(
    deal: &ObjectId,
    why: &haggle_protocol::NotAllowed,
    kind: Option<haggle_protocol::ListingKind>,
    rated: bool,
) -> String {
    use haggle_protocol::{ListingKind, NotAllowed, Role};
    let id = deal.fmt_short();
    let name = |role: Role| party_name(role, kind);
    match why {
        NotAllowed::NotYours { signer } => format!(
            "the {} signs this step, and you are the {}: it is theirs to say (haggle deal {id} shows your next step)",
            name(*signer),
            name(signer.other())
        ),
        NotAllowed::NotShipped if kind == Some(ListingKind::Service) => format!(
            "the {} has not said the work is done yet: say it is once they have (haggle deal {id} shows when they do)",
            name(Role::Seller)
        ),
        NotAllowed::NotShipped if kind == Some(ListingKind::Rental) => format!(
            "the {owner} has not said it handed it over yet (the keys, the thing rented; haggle shipped {id}, on the {owner}'s node): once you have it, ask them to say so, then say it was handed over (haggle deal {id} shows when they do)",
            owner = name(Role::Seller)
        ),
        NotAllowed::NotShipped if kind == Some(ListingKind::Crowdfund) => format!(
            "the {} has not said it delivered what the pledge is owed yet: say it arrived once it has (haggle deal {id} shows when it does)",
            name(Role::Seller)
        ),
        // The step the other side owes comes first: a taker who had the sofa in hand was left
        // waiting with no word of whose step it was (from a trial).
        NotAllowed::NotShipped => format!(
            "the {seller} has not said it shipped or handed it over yet (haggle shipped {id}, on the {seller}'s node): once you have it, ask them to say so, then say it arrived (haggle deal {id} shows when they do)",
            seller = name(Role::Seller)
        ),
        NotAllowed::NotPaid => format!(
            "you have not said you paid: say so first (haggle paid {id}); received completes the deal, and nothing can follow it"
        ),
        NotAllowed::AlreadyPaid => format!(
            "the {} has already paid: the payment request can no longer change (haggle deal {id} shows the one paid)",
            name(Role::Buyer)
        ),
        NotAllowed::Done(what) => {
            format!("you already signed {what} (haggle deal {id} shows what comes next)")
        }
        NotAllowed::Final(haggle_protocol::Stage::Completed) if rated => format!(
            "the deal is completed: no step can follow, and you rated it already (a rating is signed once and cannot change; haggle deal {id} shows it)"
        ),
        NotAllowed::Final(haggle_protocol::Stage::Completed) => format!(
            "the deal is completed: no step can follow; say how it went by rating it (haggle feedback {id} positive, neutral or negative)"
        ),
        other => other.to_string(),
    }
}

/// A name in double quotes, as a line says it: its own characters shown, the joiners a name may
/// hold among them (Rust's `{:?}` wrote `"یوناس\u{200c}خان"`, from an international retrial);
/// a quote or backslash escaped, and any control character as its escape.
pub fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A word as a shell takes it: as it is when it holds only characters no shell reads otherwise,
/// else in single quotes (for a command an error or the command-line client suggests).
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_alphanumeric() || "._,:/@%+=-".contains(c);
    if !word.is_empty() && word.chars().all(plain) && !word.starts_with('-') {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What [`ServiceError::NotYours`] says: a listing is its author's to change; a thread, such as
/// someone's bid on a third party's auction, is its two parties' to answer (a trial's
/// `accept` of another's bid read "only its author can change it").
fn not_yours(what: &str, id: &ObjectId) -> String {
    let short = id.fmt_short();
    match what {
        "thread" => format!(
            "thread {short} is not yours: it is between two other people, and only they can answer it (haggle show {short} names them)"
        ),
        _ => format!("{what} {short} is not yours: only its author can change it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within the second a time is "just now" (a trial read "the auction ... ended 0s ago").
    #[test]
    fn a_time_within_the_second_is_said_as_people_say_it() {
        let now = haggle_protocol::Timestamp::now();
        assert_eq!(when(now), "just now");
        let ahead = when(now.saturating_add(std::time::Duration::from_secs(30)));
        assert!(ahead.starts_with("in ") && ahead.ends_with('s') && !ahead.contains("under"), "{ahead}");
        let ago = haggle_protocol::Timestamp::from_millis(now.as_millis().saturating_sub(90_000));
        assert!(when(ago).ends_with("s ago") && when(ago).starts_with("1m "), "{}", when(ago));
    }

    /// A closed auction or campaign offered anew names what a new one needs besides what it
    /// copies: its end or deadline (a trial's `publish --from` was refused for want of it).
    #[test]
    fn a_closed_market_offered_anew_names_its_end() {
        use haggle_protocol::{ListingKind, ListingStatus};
        let id = ObjectId::from_bytes([7; 32]);
        for (kind, again) in [
            (ListingKind::Auction, "--from 0707070707 --ends 3d`"),
            (ListingKind::Crowdfund, "--from 0707070707 --deadline 30d`"),
            (ListingKind::Sell, "--from 0707070707` offers it anew"),
        ] {
            let l = haggle_protocol::Listing {
                kind,
                status: ListingStatus::Closed,
                quantity: 0,
                ..haggle_protocol::fixtures::listing("Lamp")
            };
            // Only a listing whose deals take quantity reopens when one is called off.
            let said = Conflict::own_closed(&l, kind == ListingKind::Sell, false, id).to_string();
            assert!(said.contains(again), "{kind:?}: {said}");
        }
    }

    /// The store's per-author quotas, met by the owner's own publish, speak to the owner and say
    /// what frees a place, not of "the author" as a stranger's refusal does.
    #[test]
    fn the_owners_listing_quota_speaks_to_the_owner() {
        for (reason, words) in [
            (RejectReason::AuthorQuota { max: 1_000 }, "you already have 1000 open listings"),
            (RejectReason::AuthorHeldQuota { max: 5_000 }, "you already have 5000 listings, open and closed"),
        ] {
            let stranger = reason.to_string();
            assert!(stranger.starts_with("the author already has"), "{stranger}");
            let own = ServiceError::from(reason);
            let said = own.to_string();
            assert!(said.starts_with(words), "{said}");
            assert!(said.contains("frees"), "says what frees a place: {said}");
            assert_eq!(own.code(), ErrorCode::Conflict);
        }
    }
}
