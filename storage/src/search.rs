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

mod crowd;
mod geo;
mod query;
mod suggest;

use geo::{NO_POINT, collect, pack, point_column, point_of};
pub(crate) use query::{Guessed, has_live};
pub use suggest::{DidYouMean, Instead};

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
/// digits by its parts too (`model_parts`: `iPhone15` also as `iPhone` and `15`); version 13
/// finds those parts in full-width letters and digits too (`ｉＰｈｏｎｅ１５`); version 14 holds
/// each word of a title once, however often the title writes it; version 15 keeps each
/// listing's seller tag in a fast field, to crowd one seller's many matches (see [`crowd`]).
pub(crate) const INDEX_VERSION: u32 = 15;
const SELLER_TAG_FIELD: &str = "seller_tag";
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
    /// The query with its words that few listings use replaced by a word a letter or two away
    /// that many more use, if it has any (a typo some listings share).
    pub did_you_mean: Option<DidYouMean>,
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
    pub did_you_mean: Option<DidYouMean>,
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
    /// The seller's key's first 8 bytes ([`crowd::seller_tag`]), read for each of the best
    /// matches to crowd one seller's many (the seller's term cannot be read back per document).
    seller_tag: Field,
    price: Field,
    created: Field,
    expires: Field,
    /// The middle of the listing's geohash cell ([`pack`]), or [`NO_POINT`].
    point: Field,
}

/// How many times the title's words are indexed, and the tags': a word in the title says more
/// about a listing than the same word in its description, so it counts as if written three
/// times, a tag twice, a category or description word once (the description's words are indexed
/// once each, however often they are written, so repeating a word there buys no rank; so are the
/// title's, and a title's own words count once however often it repeats them). The field
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
        seller_tag: b.add_u64_field(SELLER_TAG_FIELD, FAST),
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
    /// Tests: the next commits fail as one whose segment could not be written does (what was
    /// fed is lost, and the error returned).
    #[cfg(test)]
    pub(crate) failing_commits: AtomicUsize,
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
        let index = SearchIndex {
            index,
            reader,
            writer,
            uncommitted: AtomicUsize::new(0),
            fields,
            #[cfg(test)]
            failing_commits: AtomicUsize::new(0),
        };
        Ok((index, fresh))
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
        #[cfg(test)]
        if self
            .failing_commits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            w.writer.rollback()?;
            return Err(IndexError::from(std::io::Error::other("the disk is full (a test's)")));
        }
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

    /// Drops what was fed since the last commit, with a new writer (one whose threads failed
    /// takes nothing more).
    pub fn roll_back(&self) -> Result<(), IndexError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.fed = None;
        self.uncommitted.store(0, Ordering::Relaxed);
        w.writer.rollback()?;
        Ok(())
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
        // Each word once, as a description's: a title repeating a word ranked above the same
        // title without (a hostile trial's `Blue road bike bike bike` came first).
        let title_words = crate::words::distinct_words(&title);
        for _ in 0..TITLE_REPEAT {
            doc.add_text(f.text, &*title_words);
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
        doc.add_u64(f.seller_tag, crowd::seller_tag(&key.author));
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
}

fn commit(writer: &mut IndexWriter, watermark: u64) -> Result<(), IndexError> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&watermark.to_string());
    prepared.commit()?;
    Ok(())
}

pub(crate) fn index_err(e: tantivy::TantivyError) -> SearchError {
    SearchError::Store(IndexError::from(e).into())
}

fn io_err(e: std::io::Error) -> IndexError {
    IndexError::from(e)
}

#[cfg(test)]
mod tests;
