//! haggle's local store: every signed object a node holds, the current revision of each listing,
//! negotiation threads and deals, in sled; and a ranked full-text search index over listings, in
//! tantivy. Neither sled's nor tantivy's types leave this crate.
//!
//! Everything enters through [`Store::ingest`] (or its variants), which verifies, applies the
//! revision and thread rules, and writes all an object implies in one atomic batch.
//!
//! ```no_run
//! use haggle_storage::{Durability, SearchQuery, Store};
//! # fn run(bytes_from_the_network: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::open(std::path::Path::new("/tmp/haggle-data"))?;
//! let outcome = store.ingest(bytes_from_the_network, Durability::Lazy)?;
//! println!("{outcome:?}");
//! let results = store.search(&SearchQuery::new("road bike"))?;
//! for hit in results.hits {
//!     println!("{}", hit.listing.listing().map_or("", |l| l.title.as_str()));
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
pub mod blobs;
mod blocks;
mod clip;
mod derived;
mod error;
mod feedback;
mod index_key;
mod ingest;
mod keys;
mod mail;
mod migrate;
mod names;
mod notes;
mod outbox;
mod peers;
mod public_offers;
pub mod reputation;
mod saved;
mod search;
mod steps;
mod store;
mod sweep;
mod sync;
#[cfg(test)]
mod testing;
mod threads;
mod typos;
mod words;
mod writes;

pub use blocks::{BlockOutcome, Blocked, MAX_BLOCKED};
pub use error::{DbError, IndexError, MigrateError, OpenError, SearchError, StoreError};
pub use feedback::MAX_FEEDBACK_PER_AUTHOR;
pub use ingest::{
    MAX_HELD_PER_AUTHOR, MAX_LISTINGS_PER_AUTHOR, MAX_OPEN_OFFERS, MAX_THREADS_PER_LISTING,
    MAX_THREADS_PER_OFFERER, Outcome, RejectReason, Rejection,
};
pub use mail::{MAX_MAIL_PER_RECIPIENT, MAX_MAIL_PER_SENDER};
pub use names::{MAX_NAME_CHARS, MAX_NAMES, NameOutcome, Named, looks_alike, same_name};
pub use notes::{
    ConversationEntry, MAX_NOTES_IN_A_ROW, MAX_NOTES_PER_PARTY, MAX_UNANSWERED_CONVERSATIONS, NoteRef,
};
pub use outbox::{DeliveryState, OutboxEntry};
pub use peers::{KnownPeer, MAX_HEARD_PEERS, MAX_KNOWN_PEERS};
pub use public_offers::{
    MAX_BIDS_PER_AUCTION, MAX_BIDS_PER_AUTHOR, MAX_PER_AUTHOR_PER_LISTING, MAX_PLEDGES_PER_CAMPAIGN,
};
pub use saved::{MAX_SAVED_NAME, MAX_SAVED_SEARCHES, MAX_SEEN, SaveOutcome, SavedRecord, SavedSearch, Seen};
pub use search::{Around, DidYouMean, Instead, MAX_PAGE, SearchHit, SearchQuery, SearchResults, Sort};
pub use steps::{MAX_DEAL_STEPS, signed_step};
pub use store::{DEFAULT_CACHE_MIB, Durability, ListingEntry, Lookup, SCHEMA_VERSION, Store, StoreStats};
pub use sweep::{OWN_EXPIRED_RETENTION, Swept, THREAD_RETENTION};
pub use sync::SyncItem;
pub use threads::{DateHolder, Promise, ThreadRecord};
/// Whether a character is of a script searched two characters at a time (Chinese, Japanese,
/// Korean): written without spaces, its words are cut so.
pub use words::paired as searched_in_pairs;
