//! The full-text search index (tantivy): ranked, typo-tolerant search over the current revision of
//! every active listing, with filters and sorts.
//!
//! The index is derived data. sled is the source of truth; every change to a listing marks it in
//! the store's pending table in the same batch, and [`crate::Store`] replays pending entries into
//! this index, so a crash at any moment is repaired on the next open.

use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{AsciiFoldingFilter, Language, LowerCaser, Stemmer, TextAnalyzer};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use haggle_protocol::geo::Point;
use haggle_protocol::{Currency, ListingKey, ListingKind, Object, ObjectId, PublicKey, Timestamp};

use crate::error::{IndexError, SearchError};
use crate::index_key::{ID_FIELDS, IdReader, KeyQuery, id_quarters, nonce_halves};

/// Bumped whenever the schema or analyzer changes; an index of another version is rebuilt.
/// Version 2 indexes a listing's words in one field, weighted by repetition; version 3 keeps a
/// listing's key as its seller and two nonce halves, not as 96 hex characters; version 4 cuts
/// words over 39 bytes to their first 39 instead of dropping them; version 5 keeps the indexed
/// revision's id, which a hit is read by; version 6 gives a giveaway the price 0, so a price
/// sort or a highest price keeps it; version 7 adds the words a kind is searched by
/// (`kind_words`: a giveaway is "free"); version 8 weighs them as the title's words, and holds
/// each hyphenated word also as one (`compounds`); version 9 holds the title's and tags' words
/// unstemmed too, for typos stemming moves away (`Fields::plain`); version 10 keeps the middle
/// of a listing's geohash cell (`Fields::point`), for distance filters and sorts; version 11
/// cuts Chinese, Japanese and Korean text in overlapping pairs of characters
/// ([`crate::words`]), where it was one word a phrase, and holds every word composed (NFC),
/// Arabic without its optional marks and article; version 12 holds a word joining letters and
/// digits by its parts too (`model_parts`: `iPhone15` also as `iPhone` and `15`).
pub(crate) const INDEX_VERSION: u32 = 12;
const VERSION_FILE: &str = "haggle-index-version";
const ANALYZER: &str = "haggle";
/// The analyzer of [`Fields::plain`]: [`ANALYZER`] without the stemmer, and without the
/// characters of a run [`crate::words`] pairs given alone (no typo is guessed for them).
const PLAIN_ANALYZER: &str = "haggle-plain";
/// A query's words: [`ANALYZER`], but a character of a run that is paired is not given alone
/// ([`crate::words::WordTokenizer::querying`]).
const QUERY_ANALYZER: &str = "haggle-query";
/// Words a query leaves out unless it has nothing else: they join the words that say what is
/// wanted ("a road bike", "room for rent", the "s" of "kid's") and, required like the others,
/// made listings that say it differently ("Road bike, 56 cm") miss.
/// German, French, Spanish, Italian and Dutch articles and the like count the same way (from an
/// international trial: "ein Fahrrad", "un vélo électrique" and the elided "l'état" found
/// nothing). Words that are also English words a listing may mean ("die", "den", "con") and
/// "e", the first half of "e-bike" as searched, are not among them.
const QUERY_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "any", "at", "by", "for", "from", "i", "in", "is", "me", "my", "of", "on", "or", "s",
    "some", "t", "the", "to", "with", "your", // English
    "am", "beim", "das", "dem", "der", "des", "ein", "eine", "einem", "einen", "einer", "eines", "für", "im",
    "mit", "und", "vom", "von", "zu", "zum", "zur", // German
    "au", "aux", "avec", "d", "de", "du", "et", "l", "la", "le", "les", "pour", "qu", "un",
    "une", // French
    "al", "del", "el", "las", "los", "para", "una", "unas", "uno", "unos", "y", // Spanish
    "degli", "dei", "dell", "della", "delle", "di", "gli", "il", "lo", "nel", "nella", "per", // Italian
    "een", "het", "met", "van", "voor", // Dutch
];
/// Indexing memory: tantivy's minimum per thread is 15 MB; one thread at 32 MB keeps the node
/// well inside its memory target and flushes segments rarely enough for bulk ingest.
const WRITER_MEMORY: usize = 32 * 1024 * 1024;
/// Most results one page may hold.
pub const MAX_PAGE: usize = 500;
/// The fast field of [`Fields::point`].
const POINT_FIELD: &str = "point";

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best text match first; newest first when there is no text.
    #[default]
    Relevance,
    /// Lowest price first.
    PriceAsc,
    /// Highest price first.
    PriceDesc,
    /// Most recently published revision first.
    Newest,
    /// The seller's reputation first (the node re-orders the best text matches; the store
    /// ranks them by relevance).
    Reputation,
    /// Running auctions, soonest to end first (the store ranks listings by expiry, soonest
    /// first; the node re-orders the first matches by the end their bids make).
    EndingSoon,
    /// Nearest first (needs [`SearchQuery::around`]).
    Distance,
}

impl Sort {
    /// Every sort.
    pub const ALL: [Sort; 7] = [
        Sort::Relevance,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::Newest,
        Sort::Reputation,
        Sort::EndingSoon,
        Sort::Distance,
    ];

    /// The name the API and the command use.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::PriceAsc => "price",
            Sort::PriceDesc => "price-desc",
            Sort::Newest => "newest",
            Sort::Reputation => "reputation",
            Sort::EndingSoon => "ending-soon",
            Sort::Distance => "distance",
        }
    }
}

impl std::str::FromStr for Sort {
    type Err = haggle_protocol::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            // `price-asc` is an alias of `price`.
            "price-asc" => Ok(Sort::PriceAsc),
            s => Sort::ALL
                .into_iter()
                .find(|sort| sort.as_str() == s)
                .ok_or_else(|| haggle_protocol::UnknownName::new("sort", s, &Sort::ALL.map(Sort::as_str))),
        }
    }
}

impl std::fmt::Display for Sort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A search: free text plus filters, a sort and a page.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// Words to match in title, tags, category and description; empty matches everything.
    pub text: String,
    /// Only listings of this kind.
    pub kind: Option<ListingKind>,
    /// Category path prefix: `vehicles` matches `vehicles/bikes`.
    pub category: Option<String>,
    /// Price bounds in minor units, inclusive; need `currency`.
    pub min_price: Option<u64>,
    /// Upper price bound in minor units, inclusive; needs `currency`.
    pub max_price: Option<u64>,
    /// Only listings priced in this currency.
    pub currency: Option<Currency>,
    /// Only listings by this author (for a wanted ad, the buyer).
    pub seller: Option<PublicKey>,
    /// Never listings by these authors (the keys the owner blocked).
    pub hide_sellers: Vec<PublicKey>,
    /// Words that must all appear in the location text.
    pub location: Option<String>,
    /// Only listings whose geohash's middle is within this distance of this place.
    pub around: Option<Around>,
    /// How results are ordered.
    pub sort: Sort,
    /// How many results to skip before the page starts.
    pub offset: usize,
    /// Most results on the page: 1 to [`MAX_PAGE`].
    pub limit: usize,
}

impl SearchQuery {
    /// A query for `text` with no filters, 20 results a page.
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery {
            text: text.into(),
            kind: None,
            category: None,
            min_price: None,
            max_price: None,
            currency: None,
            seller: None,
            hide_sellers: Vec::new(),
            location: None,
            around: None,
            sort: Sort::Relevance,
            offset: 0,
            limit: 20,
        }
    }
}

/// A distance filter: listings whose geohash's middle is within `within_m` metres of `from`
/// (listings without a geohash never match).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Around {
    /// The place measured from.
    pub from: Point,
    /// The greatest distance, in metres.
    pub within_m: u32,
}

/// A point as the index keeps it: latitude and longitude each as 32-bit fixed point, latitude in
/// the high half (one fast-field value a listing, read once per candidate).
fn pack(p: Point) -> u64 {
    let scale = |v: f64, span: f64| ((v + span / 2.0) / span * f64::from(u32::MAX)).round() as u64;
    // The north pole on the antimeridian would be [`NO_POINT`]: a millimetre away it is not.
    (scale(p.lat, 180.0) << 32 | scale(p.lon, 360.0)).min(NO_POINT - 1)
}

/// The point of a listing without a geohash. Every document has a value, so the column is read
/// directly by document (an optional column costs a rank lookup per read).
const NO_POINT: u64 = u64::MAX;

/// A document's point, if its listing has one.
fn point_of(column: Option<&tantivy::columnar::Column<u64>>, doc: tantivy::DocId) -> Option<Point> {
    column.and_then(|c| c.first(doc)).filter(|&p| p != NO_POINT).map(unpack)
}

fn unpack(v: u64) -> Point {
    let unscale = |x: u64, span: f64| x as f64 / f64::from(u32::MAX) * span - span / 2.0;
    Point { lat: unscale(v >> 32, 180.0), lon: unscale(v & u64::from(u32::MAX), 360.0) }
}

/// One page of results and how many matched in all.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// How many listings matched in all.
    pub total: usize,
    /// This page's listings, in the query's order.
    pub hits: Vec<SearchHit>,
    /// The query's words no listing uses, as typed: each matched the words within an edit or
    /// two of it instead (a guess the user should be told of).
    pub guessed: Vec<String>,
    /// The query's words no listing uses, nor a word near them, as typed (nothing can match).
    pub unknown: Vec<String>,
}

/// One listing in a page of results.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The listing's current revision.
    pub listing: Object,
    /// Relevance score, for text searches sorted by relevance.
    pub score: Option<f32>,
}

/// The id of a matching listing's indexed revision and, for relevance-ranked text searches,
/// its score.
pub(crate) type RankedId = (ObjectId, Option<f32>);

/// What [`SearchIndex::search`] found: the total, one page, and the words no listing uses.
pub(crate) struct Ranked {
    pub total: usize,
    pub hits: Vec<RankedId>,
    pub guessed: Guessed,
}

#[derive(Clone, Copy)]
struct Fields {
    /// A listing's key is its seller and its nonce, as two big-endian halves in fast fields: a
    /// listing's document is removed by its seller's term and the two halves' values. As one
    /// 96-character hex term, indexed and stored, the key took most of the index (about 166 of
    /// 175 bytes a listing at 100,000): random hex neither shares prefixes in the term
    /// dictionary nor compresses in the document store, while a fast field packs each half in
    /// 8 bytes.
    nonce_hi: Field,
    nonce_lo: Field,
    /// The indexed revision's id, as four big-endian quarters in fast fields: a hit is read
    /// from the store by it, in one read. Read by its key instead, a hit cost two (the
    /// listing's head, then its object) and the seller's hex read back from a dictionary. 32
    /// bytes a listing: random, they do not compress.
    id: [Field; 4],
    /// Every searchable word of a listing: title, tags, category and description.
    text: Field,
    /// The title's and tags' words as written (lower-cased and folded, not stemmed), read only
    /// to guess what a misspelt word meant: stemming can take a typo far from its word
    /// ("sittng" stays as typed, while "sitting" is stored as "sit", three edits away), so a
    /// typo is also matched against these, and each near word found is searched by its stem.
    /// Title and tags only: the words a listing is named by, at a small cost in the index.
    plain: Field,
    location: Field,
    category: Field,
    kind: Field,
    currency: Field,
    seller: Field,
    price: Field,
    created: Field,
    expires: Field,
    /// The middle of the listing's geohash cell ([`pack`]), or [`NO_POINT`].
    point: Field,
}

/// How many times the title's words are indexed, and the tags': a word in the title says more
/// about a listing than the same word in its description, so it counts as if written three
/// times, a tag twice, a category or description word once (the description's words are indexed
/// once each, however often they are written, so repeating a word there buys no rank). The field
/// keeps no lengths: a long description does not push a title match below a short listing's
/// passing mention. So a word ranks a listing by where it appears: title and description, title,
/// tags, category or description (BM25 saturates, so each step is smaller than the last).
/// One field weighted this way, rather than a field per part with a boost each, makes every
/// query word one posting list: a query of several words is a plain intersection, which
/// tantivy ranks with block-max WAND, skipping blocks that cannot reach the best page.
const TITLE_REPEAT: usize = 3;
const TAGS_REPEAT: usize = 2;

/// The writer's budget for the index of one listing [`SearchIndex::would_match`] makes: the
/// least tantivy takes.
const ONE_LISTING_MEMORY: usize = 15_000_000;

/// What a listing of `kind` is called in a search, beyond its own words: a giveaway is free,
/// a rental for rent.
fn kind_words(kind: ListingKind) -> &'static str {
    match kind {
        ListingKind::Sell => "",
        ListingKind::Wanted => "wanted",
        ListingKind::Service => "service",
        ListingKind::Rental => "rental rent",
        ListingKind::Giveaway => "free giveaway",
        ListingKind::Auction => "auction",
        ListingKind::Crowdfund => "campaign crowdfunding",
        ListingKind::Digital => "digital download",
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqs),
    );
    let weighted = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs)
            .set_fieldnorms(false),
    );
    let plain = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(PLAIN_ANALYZER)
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    // Fields matched only whole and never ranked keep no lengths (a byte per listing each).
    let exact = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    // Numbers are filtered by ranges, which tantivy runs on a fast field's column (it reads the
    // column's bounds first, so a segment with no expired listing costs nothing); indexed, each
    // distinct value would add a term and a posting list that no query reads.
    let fields = Fields {
        nonce_hi: b.add_u64_field("nonce_hi", FAST),
        nonce_lo: b.add_u64_field("nonce_lo", FAST),
        id: ID_FIELDS.map(|name| b.add_u64_field(name, FAST)),
        text: b.add_text_field("text", weighted),
        plain: b.add_text_field("plain", plain),
        location: b.add_text_field("location", text),
        category: b.add_facet_field("category", FacetOptions::default()),
        kind: b.add_text_field("kind", exact.clone()),
        currency: b.add_text_field("currency", exact.clone()),
        seller: b.add_text_field("seller", exact),
        price: b.add_u64_field("price", FAST),
        created: b.add_u64_field("created", FAST),
        expires: b.add_u64_field("expires", FAST),
        point: b.add_u64_field(POINT_FIELD, FAST),
    };
    (b.build(), fields)
}

fn analyzer() -> TextAnalyzer {
    stemmed(crate::words::WordTokenizer::indexing())
}

fn query_analyzer() -> TextAnalyzer {
    stemmed(crate::words::WordTokenizer::querying())
}

fn stemmed(words: crate::words::WordTokenizer) -> TextAnalyzer {
    TextAnalyzer::builder(words)
        .filter(crate::clip::ClipLongFilter)
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

fn plain_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(crate::words::WordTokenizer::querying())
        .filter(crate::clip::ClipLongFilter)
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The segment's column of listing points, if it has one.
fn point_column(segment: &tantivy::SegmentReader) -> Option<tantivy::columnar::Column<u64>> {
    segment.fast_fields().u64(POINT_FIELD).ok()
}

/// Runs `query` into `collector`, keeping only the listings within `around` if given: the
/// query holds the band of latitudes the distance spans (a range on the point's column, which
/// tantivy scans fast), and each document it matches is measured here, once. As a clause of the
/// query instead (tantivy's `DocPredicateQuery`), the same measure made a one-word search within
/// 25 km take twice as long at 100,000 listings.
fn collect<C: tantivy::collector::Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    around: Option<Around>,
    collector: C,
) -> Result<C::Fruit, SearchError> {
    let Some(around) = around else { return searcher.search(query, &collector).map_err(index_err) };
    let reach = Reach::new(around);
    let within = move |p: u64| p != NO_POINT && reach.contains(unpack(p));
    let filtered = tantivy::collector::FilterCollector::new(POINT_FIELD.to_owned(), within, collector);
    searcher.search(query, &filtered).map_err(index_err)
}

/// Metres along a meridian per degree of latitude, on the sphere distances are measured on.
const METRES_PER_DEGREE: f64 = 111_195.08;

/// A distance filter with the box around its circle: a point outside the box is refused by two
/// comparisons, and only one inside it is measured (the box holds the circle, so it refuses
/// nothing the distance would keep).
#[derive(Debug, Clone, Copy)]
struct Reach {
    around: Around,
    /// Latitudes the circle spans.
    lat: (f64, f64),
    /// How far east and west of the place the circle reaches, in degrees; None when it holds a
    /// pole or spans every longitude.
    lon: Option<f64>,
}

impl Reach {
    fn new(around: Around) -> Reach {
        let from = around.from;
        // A hair wider than the circle, for rounding.
        let metres = f64::from(around.within_m) * 1.000_001 + 1.0;
        // The circle's angular radius, in degrees: as many degrees of latitude either way.
        let angle = metres / METRES_PER_DEGREE;
        let lat = (from.lat - angle, from.lat + angle);
        // East and west, the widest point of a circle on a sphere is asin(sin r / cos lat).
        let reach = angle.to_radians().sin() / from.lat.to_radians().cos();
        let lon =
            (lat.0 > -90.0 && lat.1 < 90.0 && angle < 90.0 && reach < 1.0).then(|| reach.asin().to_degrees());
        Reach { around, lat, lon }
    }

    fn contains(&self, p: Point) -> bool {
        if p.lat < self.lat.0 || p.lat > self.lat.1 {
            return false;
        }
        if let Some(dlon) = self.lon {
            let apart = (p.lon - self.around.from.lon).abs();
            if apart.min(360.0 - apart) > dlon {
                return false;
            }
        }
        self.around.from.distance_m(&p) <= f64::from(self.around.within_m)
    }
}

/// A listing to index, with the high bid held when it is an auction (its price in the index).
pub(crate) type Priced<'a> = (&'a Object, Option<u64>);

pub(crate) struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<Writer>,
    /// Changes fed since the last commit: read without the writer's lock, which a commit holds
    /// while tantivy finishes its work.
    uncommitted: AtomicUsize,
    fields: Fields,
}

/// The index writer and what it was given since its last commit. Changes are fed as they come
/// (tantivy analyses them on its own thread, beside the store's writes) and committed, which
/// makes them searchable, only when a search or a threshold asks.
struct Writer {
    writer: IndexWriter,
    /// The store sequence number up to which every change has been fed, if any since the last
    /// commit.
    fed: Option<u64>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates it. Returns whether it is new (and so must be rebuilt
    /// from the store): there was none, or one of another version.
    pub fn open(dir: &Path) -> Result<(SearchIndex, bool), IndexError> {
        let version_path = dir.join(VERSION_FILE);
        let current = std::fs::read_to_string(&version_path).ok().and_then(|v| v.trim().parse::<u32>().ok());
        let mut fresh = current != Some(INDEX_VERSION);
        // A file where the index directory belongs (found in a trial: "Not a directory", and no
        // rebuild) goes like a damaged index: all of it is derived from the database.
        if dir.exists() && !dir.is_dir() {
            tracing::warn!(path = %dir.display(), "a file stood where the search index belongs: it is removed, and the index built again from the database");
            std::fs::remove_file(dir).map_err(io_err)?;
            fresh = true;
        }
        if let Some(old) = current.filter(|_| fresh) {
            // Said before the rebuild, which at a million listings takes minutes (the retrial's
            // log said only that an index was built).
            tracing::info!(
                from = old,
                to = INDEX_VERSION,
                "the search index is of another version: it is built again from the database"
            );
        }
        if fresh && dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_err)?;
        }
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(IndexError::from)?;
        let index = match Index::open_or_create(directory, schema.clone()) {
            Ok(index) => index,
            Err(_) => {
                // Damaged beyond opening: it is derived data, so start again and rebuild.
                std::fs::remove_dir_all(dir).map_err(io_err)?;
                std::fs::create_dir_all(dir).map_err(io_err)?;
                fresh = true;
                Index::create_in_dir(dir, schema)?
            }
        };
        index.tokenizers().register(ANALYZER, analyzer());
        index.tokenizers().register(PLAIN_ANALYZER, plain_analyzer());
        index.tokenizers().register(QUERY_ANALYZER, query_analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        std::fs::write(&version_path, INDEX_VERSION.to_string()).map_err(io_err)?;
        let writer = Mutex::new(Writer { writer, fed: None });
        Ok((SearchIndex { index, reader, writer, uncommitted: AtomicUsize::new(0), fields }, fresh))
    }

    /// Replaces the documents of `changes`' listings: each is removed (if it may be indexed),
    /// then added again if it has a listing to show. Searches see them after the next
    /// [`Self::commit`]; `watermark` is the store sequence number up to which every change has
    /// now been fed.
    pub fn feed<'a>(
        &self,
        changes: impl IntoIterator<Item = (ListingKey, bool, Option<Priced<'a>>)>,
        watermark: u64,
    ) -> Result<(), IndexError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for (key, indexed, listing) in changes {
            if indexed {
                w.writer.delete_query(self.key_query(&key))?;
            }
            if let Some(doc) = listing.and_then(|(l, high_bid)| self.document(&key, l, high_bid)) {
                w.writer.add_document(doc)?;
            }
            self.uncommitted.fetch_add(1, Ordering::Relaxed);
        }
        w.fed = Some(w.fed.map_or(watermark, |fed| fed.max(watermark)));
        Ok(())
    }

    /// Commits what was fed, with its watermark, and makes it visible to searches. Does nothing
    /// when nothing was fed since the last commit.
    pub fn commit(&self) -> Result<(), IndexError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(watermark) = w.fed else { return Ok(()) };
        commit(&mut w.writer, watermark)?;
        w.fed = None;
        self.uncommitted.store(0, Ordering::Relaxed);
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    /// [`Self::feed`], then [`Self::commit`].
    pub fn apply<'a>(
        &self,
        changes: impl IntoIterator<Item = (ListingKey, bool, Option<Priced<'a>>)>,
        watermark: u64,
    ) -> Result<(), IndexError> {
        self.feed(changes, watermark)?;
        self.commit()
    }

    /// Documents fed since the last commit.
    pub fn uncommitted(&self) -> usize {
        self.uncommitted.load(Ordering::Relaxed)
    }

    /// Removes every document (before a rebuild), resetting the watermark.
    pub fn clear(&self) -> Result<(), IndexError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Documents fed but not committed are still in the writer's queue and would survive the
        // deletion (it drops committed segments only), then be added again by the rebuild.
        w.writer.rollback()?;
        w.writer.delete_all_documents()?;
        commit(&mut w.writer, 0)?;
        w.fed = None;
        self.uncommitted.store(0, Ordering::Relaxed);
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    /// The store sequence number the index has taken in every change up to (0 if none).
    pub fn watermark(&self) -> Result<u64, IndexError> {
        let metas = self.index.load_metas()?;
        Ok(metas.payload.and_then(|p| p.parse().ok()).unwrap_or(0))
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn document(&self, key: &ListingKey, object: &Object, high_bid: Option<u64>) -> Option<TantivyDocument> {
        let l = object.listing()?;
        let f = &self.fields;
        let mut doc = TantivyDocument::new();
        let (hi, lo) = nonce_halves(key);
        doc.add_u64(f.nonce_hi, hi);
        doc.add_u64(f.nonce_lo, lo);
        for (field, quarter) in f.id.iter().zip(id_quarters(&object.id())) {
            doc.add_u64(*field, quarter);
        }
        // Each hyphenated word also as one word ("e-bike" as "ebike"), weighed as where it is
        // written.
        let title = crate::words::with_compounds(&l.title);
        for _ in 0..TITLE_REPEAT {
            doc.add_text(f.text, &*title);
        }
        for _ in 0..TAGS_REPEAT {
            for tag in &l.tags {
                doc.add_text(f.text, &*crate::words::with_compounds(tag));
            }
        }
        doc.add_text(f.plain, &*title);
        for tag in &l.tags {
            doc.add_text(f.plain, &*crate::words::with_compounds(tag));
        }
        doc.add_text(f.text, l.category.replace(['/', '-'], " "));
        doc.add_text(f.text, crate::words::distinct_words(&crate::words::with_compounds(&l.description)));
        // The words people search a kind by ("free sofa", "room rent", "wanted bike"), weighed
        // as the title's: a giveaway is free more than a sale with free delivery is.
        for _ in 0..TITLE_REPEAT {
            doc.add_text(f.text, kind_words(l.kind));
        }
        doc.add_facet(f.category, Facet::from_path(l.category.split('/')));
        doc.add_text(f.location, &l.location.text);
        doc.add_text(f.kind, l.kind.as_str());
        doc.add_text(f.seller, key.author.to_hex());
        if let Some(price) = &l.price {
            doc.add_text(f.currency, price.currency.as_str());
            doc.add_u64(f.price, high_bid.map_or(price.amount, |bid| bid.max(price.amount)));
        } else if l.kind == ListingKind::Giveaway {
            // Free in any currency: a currency filter keeps it (see `build_query`).
            doc.add_u64(f.price, 0);
        }
        doc.add_u64(f.created, object.created_at().as_millis());
        doc.add_u64(f.expires, l.expires_at.as_millis());
        let point = l.location.geohash.as_deref().and_then(haggle_protocol::geo::decode);
        doc.add_u64(f.point, point.map_or(NO_POINT, pack));
        Some(doc)
    }

    /// Runs `q`, returning the total number of matches and one page of the indexed revisions'
    /// ids with scores.
    pub fn search(&self, q: &SearchQuery, now: Timestamp) -> Result<Ranked, SearchError> {
        if q.limit == 0 || q.limit > MAX_PAGE {
            return Err(SearchError::BadLimit { asked: q.limit, max: MAX_PAGE });
        }
        let searcher = self.reader.searcher();
        let (query, guessed) = self.build_query(q, now, &searcher, &searcher)?;
        let top = TopDocs::with_limit(q.limit).and_offset(q.offset);
        let has_text = !self.tokens(&q.text).is_empty();
        let (total, page): (usize, Vec<(Option<f32>, DocAddress)>) = match q.sort {
            Sort::Relevance | Sort::Reputation if has_text => {
                // Ranked alone, the best page skips blocks of matches that cannot reach it
                // (block-max WAND); collected together with the count, every match would be
                // scored. The count then only intersects posting lists, without scores. (Within
                // a distance, the filter sees every match: each is scored and measured.)
                let docs = collect(&searcher, &query, q.around, top.order_by_score())?;
                let total = collect(&searcher, &query, q.around, Count)?;
                (total, docs.into_iter().map(|(s, a)| (Some(s), a)).collect())
            }
            Sort::Distance => {
                let Some(around) = q.around else { return Err(SearchError::SortWithoutPlace) };
                // Nearest first: the key grows as the distance shrinks (every match has a point:
                // the distance filter requires one).
                let nearest = top.tweak_score(move |segment: &tantivy::SegmentReader| {
                    let points = point_column(segment);
                    move |doc: tantivy::DocId, _score: tantivy::Score| {
                        point_of(points.as_ref(), doc)
                            .map_or(0, |p| u64::MAX - around.from.distance_m(&p).round() as u64)
                    }
                });
                let (docs, total) = collect(&searcher, &query, q.around, (nearest, Count))?;
                (total, docs.into_iter().map(|(_, a)| (None, a)).collect())
            }
            sort => {
                let (field, order) = match sort {
                    Sort::PriceAsc => ("price", Order::Asc),
                    Sort::PriceDesc => ("price", Order::Desc),
                    // An auction lives until its bids lapse, a fixed time after its end: the
                    // soonest to expire are the soonest to end (the node orders them by the end
                    // their bids make).
                    Sort::EndingSoon => ("expires", Order::Asc),
                    _ => ("created", Order::Desc),
                };
                let (docs, total) =
                    collect(&searcher, &query, q.around, (top.order_by_u64_field(field, order), Count))?;
                (total, docs.into_iter().map(|(_, a)| (None, a)).collect())
            }
        };
        let mut ids = IdReader::default();
        let mut hits = Vec::with_capacity(page.len());
        for (score, address) in page {
            if let Some(id) = ids.read(searcher.segment_reader(address.segment_ord), address)? {
                hits.push((id, score));
            }
        }
        Ok(Ranked { total, hits, guessed })
    }

    /// Whether the indexed document of listing `key` matches `q` at `now`: a search narrowed to
    /// that one listing.
    pub fn indexed_match(
        &self,
        q: &SearchQuery,
        key: &ListingKey,
        now: Timestamp,
    ) -> Result<bool, SearchError> {
        let searcher = self.reader.searcher();
        let (query, _) = self.build_query(q, now, &searcher, &searcher)?;
        let narrowed = BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, self.key_query(key))]);
        Ok(collect(&searcher, &narrowed, q.around, Count)? > 0)
    }

    /// Whether `object`, a revision of listing `key` that is not indexed (closed, or replaced),
    /// matches `q`'s words and filters as it would if it were the indexed revision at the time
    /// it was made, its price an auction's `high_bid` if it has one: `watch` asks this of a
    /// listing just retracted or sold out, which has left the index. The words are judged as a
    /// search judges them (a word the index knows matches only itself; a typo is matched against
    /// this listing's words), on an index in memory holding that one listing: a writer, its
    /// threads and a commit each time, so for the rare closed listing only.
    pub fn would_match(
        &self,
        q: &SearchQuery,
        key: &ListingKey,
        object: &Object,
        high_bid: Option<u64>,
    ) -> Result<bool, SearchError> {
        let Some(doc) = self.document(key, object, high_bid) else { return Ok(false) };
        let one = Index::create_in_ram(self.index.schema());
        one.tokenizers().register(ANALYZER, analyzer());
        one.tokenizers().register(PLAIN_ANALYZER, plain_analyzer());
        one.tokenizers().register(QUERY_ANALYZER, query_analyzer());
        let mut writer: IndexWriter =
            one.writer_with_num_threads(1, ONE_LISTING_MEMORY).map_err(index_err)?;
        writer.add_document(doc).map_err(index_err)?;
        writer.commit().map_err(index_err)?;
        let searcher = one.reader().map_err(index_err)?.searcher();
        // Known words are the whole index's; a typo is matched against this listing's words.
        let (query, _) = self.build_query(q, object.created_at(), &self.reader.searcher(), &searcher)?;
        Ok(collect(&searcher, &query, q.around, Count)? > 0)
    }

    /// The query matching exactly the document of the listing `key`.
    fn key_query(&self, key: &ListingKey) -> Box<dyn Query> {
        let seller = Term::from_field_text(self.fields.seller, &key.author.to_hex());
        Box::new(KeyQuery::new(seller, key))
    }

    /// The query for `q` at `now`: words known to `known` match exactly, others as typos of the
    /// words of `near` (the same searcher, but for [`Self::would_match`]); with the query's
    /// words taken for typos, as typed.
    fn build_query(
        &self,
        q: &SearchQuery,
        now: Timestamp,
        known: &Searcher,
        near: &Searcher,
    ) -> Result<(Box<dyn Query>, Guessed), SearchError> {
        let f = &self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let (mut near_at, mut unknown_at) = (Vec::new(), Vec::new());
        // In the form the index cuts words from, so the words' offsets name this text.
        let text = crate::words::normalized(&q.text);
        for word in self.query_words(&text) {
            let (query, matched) = self.word_query(&word, known, near)?;
            must.push((Occur::Must, query));
            match matched {
                Matched::Exactly => {}
                Matched::Near => near_at.push(word.at),
                Matched::Nothing => unknown_at.push(word.at),
            }
        }
        let guessed = Guessed { near: as_typed(&text, near_at), unknown: as_typed(&text, unknown_at) };
        // Listings past their expiry leave results at once, before the sweep removes them.
        // Running auctions live at least the award window past their latest end: those expiring
        // sooner have ended, and would fill the first matches of `ending-soon`. Expired
        // listings are excluded rather than live ones required: a segment with none expired
        // (the usual case, as the sweep removes them) then leaves the words a plain
        // intersection, which ranks with block-max WAND.
        let floor = match q.sort {
            Sort::EndingSoon => now.saturating_add(haggle_protocol::auction::AWARD_WINDOW),
            _ => now,
        };
        let expired_by = Term::from_field_u64(f.expires, floor.as_millis());
        let expired = RangeQuery::new(Bound::Unbounded, Bound::Included(expired_by));
        if let Some(kind) = q.kind {
            must.push((Occur::Must, exact(f.kind, kind.as_str())));
        }
        if let Some(category) = &q.category {
            let path = category.trim_matches('/');
            if !haggle_protocol::limits::is_category_path(path) {
                return Err(SearchError::BadCategory(category.clone()));
            }
            let facet = Facet::from_path(path.split('/'));
            must.push((
                Occur::Must,
                Box::new(TermQuery::new(Term::from_facet(f.category, &facet), IndexRecordOption::Basic)),
            ));
        }
        // A giveaway costs nothing in any currency: "cheapest first in EUR", or "at most 10
        // EUR", keeps it (the cheapest of all); a lowest price above 0 leaves it out.
        if let Some(currency) = &q.currency {
            let priced = exact(f.currency, currency.as_str());
            let free = exact(f.kind, ListingKind::Giveaway.as_str());
            must.push((
                Occur::Must,
                Box::new(BooleanQuery::new(vec![(Occur::Should, priced), (Occur::Should, free)])),
            ));
        }
        // At most 0 is free in every currency (giveaways, and anything offered at 0): it needs
        // no currency, and every price it keeps compares.
        let free = q.max_price == Some(0) && q.min_price.is_none_or(|m| m == 0);
        if matches!(q.sort, Sort::PriceAsc | Sort::PriceDesc) && q.currency.is_none() && !free {
            return Err(SearchError::SortWithoutCurrency);
        }
        if q.min_price.is_some() || q.max_price.is_some() {
            if q.currency.is_none() && !free {
                return Err(SearchError::PriceWithoutCurrency);
            }
            if let (Some(min), Some(max)) = (q.min_price, q.max_price)
                && min > max
            {
                return Err(SearchError::EmptyPriceRange { min, max });
            }
            let bound = |v: Option<u64>| {
                v.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_u64(f.price, v)))
            };
            must.push((Occur::Must, Box::new(RangeQuery::new(bound(q.min_price), bound(q.max_price)))));
        }
        if let Some(seller) = &q.seller {
            must.push((Occur::Must, exact(f.seller, &seller.to_hex())));
        }
        if q.sort == Sort::Distance && q.around.is_none() {
            return Err(SearchError::SortWithoutPlace);
        }
        if let Some(around) = q.around {
            let reach = Reach::new(around);
            let band = |lat: f64| pack(Point { lat: lat.clamp(-90.0, 90.0), lon: -180.0 });
            let (low, high) = (band(reach.lat.0), band(reach.lat.1) | u64::from(u32::MAX));
            let low = Term::from_field_u64(f.point, low);
            let high = Term::from_field_u64(f.point, high.min(NO_POINT - 1));
            must.push((Occur::Must, Box::new(RangeQuery::new(Bound::Included(low), Bound::Included(high)))));
        }
        if let Some(location) = &q.location {
            for word in self.query_words(&crate::words::normalized(location)) {
                let term = Term::from_field_text(f.location, &word.stem);
                let live = has_live(known, &term).map_err(index_err)?;
                let mut terms = self.umlaut_terms(f.location, &word, live, known)?;
                if live || terms.is_empty() {
                    terms.insert(0, term);
                }
                must.push((Occur::Must, any_of(terms, IndexRecordOption::Basic)));
            }
        }
        if must.is_empty() {
            must.push((Occur::Must, Box::new(AllQuery)));
        }
        must.push((Occur::MustNot, Box::new(expired)));
        if !q.hide_sellers.is_empty() {
            let hidden = q.hide_sellers.iter().map(|k| Term::from_field_text(f.seller, &k.to_hex()));
            must.push((Occur::MustNot, Box::new(TermSetQuery::new(hidden))));
        }
        Ok((Box::new(BooleanQuery::new(must)), guessed))
    }

    /// One query word: matches exactly (a title match ranking highest, see [`TITLE_REPEAT`]). A
    /// word no listing uses is taken for a typo and matches within an edit or two instead (more
    /// for longer words); a word the index knows never matches its neighbours, so "bike" finds
    /// bikes, not "bake" or "like", and the total counts only what the word names.
    /// Also says how the word matched.
    fn word_query(
        &self,
        word: &Word,
        known: &Searcher,
        near: &Searcher,
    ) -> Result<(Box<dyn Query>, Matched), SearchError> {
        let term = Term::from_field_text(self.fields.text, &word.stem);
        let live = has_live(known, &term).map_err(index_err)?;
        let mut terms = self.umlaut_terms(self.fields.text, word, live, known)?;
        if live {
            terms.insert(0, term.clone());
        }
        if !terms.is_empty() {
            return Ok((any_of(terms, IndexRecordOption::WithFreqs), Matched::Exactly));
        }
        // A number is no typo: another model or year is another thing (the second retrial's
        // `rtx 3090` was shown an RTX3080 as a guess, `ps5` a PS4 controller).
        if word.stem.bytes().any(|b| b.is_ascii_digit()) {
            return Ok((Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), Matched::Nothing));
        }
        // The word stemmed, and as typed when stemming changed it.
        // (The typed form, longer than its stem, gets no more edits than the stem: `chairs`
        // would get two where `chair` gets one.)
        let plain = word.typed.to_lowercase();
        let stem_distance = typo_distance(&word.stem);
        let mut forms = vec![(word.stem.as_str(), stem_distance)];
        if plain != word.stem {
            forms.push((plain.as_str(), typo_distance(&plain).min(stem_distance)));
        }
        forms.retain(|&(_, distance)| distance > 0);
        // The words written near the word as typed (analysed as those words are, and given no
        // more edits than its stem), by their stems.
        let mut written = Vec::new();
        let as_written = self.plain_form(&word.typed);
        let plain_distance = as_written.as_deref().map_or(0, typo_distance).min(stem_distance);
        if let Some(as_written) = as_written.filter(|_| plain_distance > 0) {
            for (near_word, edits, docs) in
                crate::typos::near_words(near, self.fields.plain, &as_written, plain_distance)
                    .map_err(index_err)?
            {
                if let Some(stem) = self.tokens(&near_word).into_iter().next().map(|w| w.stem) {
                    written.push((stem, edits, docs));
                }
            }
        }
        let typo = if forms.is_empty() && written.is_empty() {
            None
        } else {
            crate::typos::near_query(near, self.fields.text, &forms, written).map_err(index_err)?
        };
        Ok(match typo {
            Some(query) => (query, Matched::Near),
            None => (Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), Matched::Nothing),
        })
    }

    /// The terms of `word`'s other German spellings that listings use in `field`: written with
    /// `ae`, `oe` or `ue` for an umlaut (`muenchen`), as the index holds the umlaut (folded to
    /// its letter alone: `munchen`); written with `ä`, `ö` or `ü`, as `ae`, `oe` or `ue`. From an
    /// international trial and its retrial: `muenchen` missed `München`, and once one listing
    /// wrote `Muenchen`, `münchen` missed it and `muenchen` the six others.
    ///
    /// A word written with `ae`, `oe` or `ue` that listings use as written (`live`) is most
    /// often no umlaut at all (`guest` is no `gust`, `poets` no `pots`, Dutch `stoelen` no
    /// `stolen`, found in the second retrial), so in a listing's text it looks for nothing
    /// else; a place name (`places`) so written is German far more often, and looks for its
    /// umlaut from five letters (`muenchen` finds `München` beside `Muenchen`).
    fn umlaut_terms(
        &self,
        field: Field,
        word: &Word,
        live: bool,
        known: &Searcher,
    ) -> Result<Vec<Term>, SearchError> {
        let typed = word.typed.to_lowercase();
        let places = field == self.fields.location;
        let mut forms = Vec::new();
        if ["ae", "oe", "ue"].iter().any(|d| typed.contains(d))
            && (!live || places && typed.chars().count() >= 5)
        {
            forms.push(typed.replace("ae", "a").replace("oe", "o").replace("ue", "u"));
        }
        if typed.contains(['ä', 'ö', 'ü']) {
            forms.push(typed.replace('ä', "ae").replace('ö', "oe").replace('ü', "ue"));
        }
        let mut terms = Vec::new();
        for form in forms {
            let Some(stem) = self.tokens(&form).into_iter().next().map(|w| w.stem) else { continue };
            let term = Term::from_field_text(field, &stem);
            if stem != word.stem && has_live(known, &term).map_err(index_err)? {
                terms.push(term);
            }
        }
        Ok(terms)
    }

    /// `typed` as [`Fields::plain`] holds words (lower-cased, folded, cut, not stemmed).
    fn plain_form(&self, typed: &str) -> Option<String> {
        let mut analyzer = self.index.tokenizers().get(PLAIN_ANALYZER).unwrap_or_else(plain_analyzer);
        let mut stream = analyzer.token_stream(typed);
        stream.next().map(|token| token.text.clone())
    }

    /// The words of a query's text that count: its [`Self::tokens`] but the
    /// [`QUERY_STOP_WORDS`], unless it has nothing else.
    fn query_words(&self, text: &str) -> Vec<Word> {
        let words = self.tokens(text);
        let stop = |w: &Word| QUERY_STOP_WORDS.contains(&w.typed.to_lowercase().as_str());
        if words.iter().all(stop) {
            return words;
        }
        words.into_iter().filter(|w| !stop(w)).collect()
    }

    /// The words of `text` as the index stores them (lowercased, folded, stemmed), each once,
    /// with the word as typed.
    fn tokens(&self, text: &str) -> Vec<Word> {
        let mut analyzer = self.index.tokenizers().get(QUERY_ANALYZER).unwrap_or_else(query_analyzer);
        let mut stream = analyzer.token_stream(text);
        let mut out: Vec<Word> = Vec::new();
        while let Some(token) = stream.next() {
            if !out.iter().any(|w| w.stem == token.text) {
                let typed = text.get(token.offset_from..token.offset_to).unwrap_or(&token.text).to_owned();
                let at = (token.offset_from, token.offset_to);
                out.push(Word { stem: token.text.clone(), typed, at });
            }
        }
        // Bound the work one query can ask for.
        out.truncate(16);
        out
    }
}

/// How a query word matched.
enum Matched {
    /// A word a searchable listing uses.
    Exactly,
    /// No listing uses it: the words near it, a guess at a typo.
    Near,
    /// No listing uses it, nor a word near it.
    Nothing,
}

/// A query's words that no listing uses, as typed: with near words matched instead, and
/// without.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guessed {
    pub near: Vec<String>,
    pub unknown: Vec<String>,
}

/// One word of a query: as the index stores it, and as typed (where in the query's text).
struct Word {
    stem: String,
    typed: String,
    at: (usize, usize),
}

/// The words of `text` at `spans`, as typed, overlapping spans as one: the pairs of characters
/// of a run without spaces ([`crate::words`]) name the run, "自動車", not "自動" and "動車".
fn as_typed(text: &str, mut spans: Vec<(usize, usize)>) -> Vec<String> {
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        match merged.last_mut() {
            Some(last) if from < last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged.into_iter().filter_map(|(from, to)| text.get(from..to).map(str::to_owned)).collect()
}

/// Whether a listing in the index that is not deleted uses `term`. The term dictionary's
/// counts include deleted documents until their segment is merged: a word only a retracted or
/// replaced listing used still read as known, and a search for a misspelling of a live word
/// then found nothing on one node and the live listings on another.
pub(crate) fn has_live(searcher: &Searcher, term: &Term) -> tantivy::Result<bool> {
    use tantivy::DocSet;
    for segment in searcher.segment_readers() {
        let index = segment.inverted_index(term.field())?;
        let Some(mut postings) = index.read_postings(term, IndexRecordOption::Basic)? else { continue };
        let alive = segment.alive_bitset();
        let mut doc = postings.doc();
        while doc != tantivy::TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                return Ok(true);
            }
            doc = postings.advance();
        }
    }
    Ok(false)
}

/// Edits a misspelt word may be away from what it matches: none for one or two letters, one up
/// to five, two from six. Only words no listing uses get any, so "bkie" finds bikes while
/// "bike" never finds "bake" or "like".
fn typo_distance(token: &str) -> u8 {
    match token.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

fn commit(writer: &mut IndexWriter, watermark: u64) -> Result<(), IndexError> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&watermark.to_string());
    prepared.commit()?;
    Ok(())
}

/// A query matching any of `terms` (one term's own query when there is one).
fn any_of(mut terms: Vec<Term>, record: IndexRecordOption) -> Box<dyn Query> {
    if terms.len() == 1 {
        return Box::new(TermQuery::new(terms.remove(0), record));
    }
    Box::new(BooleanQuery::new(
        terms
            .into_iter()
            .map(|t| (Occur::Should, Box::new(TermQuery::new(t, record)) as Box<dyn Query>))
            .collect(),
    ))
}

fn exact(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

pub(crate) fn index_err(e: tantivy::TantivyError) -> SearchError {
    SearchError::Store(IndexError::from(e).into())
}

fn io_err(e: std::io::Error) -> IndexError {
    IndexError::from(e)
}

#[cfg(test)]
mod tests;
