//! Error types. sled and tantivy errors are wrapped in opaque types so that neither crate's types
//! leave this one.

use std::fmt;
use std::path::PathBuf;

/// A failure of the embedded database (sled).
#[derive(Debug)]
pub struct DbError(pub(crate) sled::Error);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database: {}", self.0)
    }
}

impl std::error::Error for DbError {}

impl From<sled::Error> for DbError {
    fn from(e: sled::Error) -> Self {
        DbError(e)
    }
}

/// A failure of the search index (tantivy, or the files it lives in).
#[derive(Debug)]
pub struct IndexError(pub(crate) IndexFailure);

/// What failed under the index; private so tantivy's types stay inside this crate.
#[derive(Debug)]
pub(crate) enum IndexFailure {
    Tantivy(tantivy::TantivyError),
    Directory(tantivy::directory::error::OpenDirectoryError),
    Io(std::io::Error),
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            IndexFailure::Tantivy(e) => write!(f, "search index: {e}"),
            IndexFailure::Directory(e) => write!(f, "search index directory: {e}"),
            IndexFailure::Io(e) => write!(f, "search index files: {e}"),
        }
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            IndexFailure::Tantivy(e) => Some(e),
            IndexFailure::Directory(e) => Some(e),
            IndexFailure::Io(e) => Some(e),
        }
    }
}

impl From<tantivy::TantivyError> for IndexError {
    fn from(e: tantivy::TantivyError) -> Self {
        IndexError(IndexFailure::Tantivy(e))
    }
}

impl From<std::io::Error> for IndexError {
    fn from(e: std::io::Error) -> Self {
        IndexError(IndexFailure::Io(e))
    }
}

impl From<tantivy::directory::error::OpenDirectoryError> for IndexError {
    fn from(e: tantivy::directory::error::OpenDirectoryError) -> Self {
        IndexError(IndexFailure::Directory(e))
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("cannot create the data directory {path}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open the database in {path} (is another node using this data dir?)")]
    Database { path: PathBuf, source: DbError },
    #[error("the database in {path} has schema version {found}; this build reads version {expected}")]
    SchemaVersion { path: PathBuf, found: u32, expected: u32 },
    #[error("cannot open the search index in {path}")]
    Index { path: PathBuf, source: IndexError },
    #[error("cannot bring the search index up to date")]
    CatchUp(#[source] StoreError),
}

/// A failure while reading or writing the store. Expected outcomes (duplicates, stale revisions,
/// rejected objects) are not errors: see [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("stored record under {what} is damaged")]
    Corrupt { what: &'static str },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Database(DbError(e))
    }
}

impl From<tantivy::TantivyError> for StoreError {
    fn from(e: tantivy::TantivyError) -> Self {
        StoreError::Index(e.into())
    }
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    #[error(
        "a price range needs a currency (e.g. --currency EUR): prices in different currencies do not compare"
    )]
    PriceWithoutCurrency,
    #[error("minimum price {min} is above maximum price {max}")]
    EmptyPriceRange { min: u64, max: u64 },
    #[error("category `{0}` is not a path like `vehicles/bikes`")]
    BadCategory(String),
    #[error("a page holds 1 to {max} results, not {asked}")]
    BadLimit { asked: usize, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}
