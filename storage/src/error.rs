//! Error types. sled and tantivy errors are wrapped in opaque types so that neither crate's types
//! leave this one.

use std::fmt;
use std::path::PathBuf;

/// A failure of the embedded database (sled).
#[derive(Debug)]
pub struct DbError(pub(crate) sled::Error);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // sled shows an I/O error in its debug form (`Os { code: 28, ... }`), and may pass one
        // on wrapped with that form as its text: the disk being full is said in words alone.
        match &self.0 {
            sled::Error::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                write!(f, "database: the disk is full (no space left on device)")
            }
            sled::Error::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                write!(f, "database: {e}: give the node's user write access to the data dir and all in it")
            }
            sled::Error::Io(e) => write!(f, "database: {e}"),
            // Its own words end in an empty "backtrace ()".
            sled::Error::Corruption { .. } => write!(f, "database: what it read does not check out"),
            other => write!(f, "database: {other}"),
        }
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

impl IndexError {
    /// The I/O error under a failure to take the index's lock file, if that is what failed:
    /// tantivy's own text for it is its debug form, and blames a second writer whatever the
    /// cause (a directory the node's user cannot write to, say).
    fn lock_io(&self) -> Option<&std::io::Error> {
        use tantivy::directory::error::LockError;
        match &self.0 {
            IndexFailure::Tantivy(tantivy::TantivyError::LockFailure(LockError::IoError(e), _)) => Some(e),
            _ => None,
        }
    }
}

impl IndexError {
    /// What to do about a failure whose cause is known (a trial's full disk and unwritable
    /// index were told no more than tantivy's words, twice): from the I/O error under it, found
    /// in its chain of causes or, where tantivy keeps it only as text, by its OS error number.
    fn fix(&self) -> Option<&'static str> {
        use std::io::ErrorKind;
        let inner: &(dyn std::error::Error + 'static) = match &self.0 {
            IndexFailure::Tantivy(e) => e,
            IndexFailure::Directory(e) => e,
            IndexFailure::Io(e) => e,
        };
        let mut kind = None;
        let mut cause = Some(inner);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                kind = Some(io.kind());
                break;
            }
            cause = e.source();
        }
        let text = inner.to_string();
        // Tantivy's text of an I/O error is its display form (`os error 28`) or its debug form
        // (`code: 13, kind: PermissionDenied`: a small-machine trial's status read it whole).
        let os_error =
            |n: u32| text.contains(&format!("(os error {n})")) || text.contains(&format!("code: {n},"));
        let kind = kind.filter(|k| *k != ErrorKind::Other).or_else(|| {
            if os_error(28) {
                Some(ErrorKind::StorageFull)
            } else if os_error(13) {
                Some(ErrorKind::PermissionDenied)
            } else if os_error(30) {
                Some(ErrorKind::ReadOnlyFilesystem)
            } else {
                None
            }
        });
        // Failures tantivy names without their cause (from the same trial).
        let Some(kind) = kind else {
            if text.contains("Failed to spawn") {
                return Some(
                    "a thread could not be started: the process's limits are too low (a node reserves about 2 GiB of address space while it uses far less memory, so limit its memory with MemoryMax= or a cgroup rather than ulimit -v or LimitAS=; ulimit -u or TasksMax= of 100 or more)",
                );
            }
            if text.contains("index writer was killed") {
                return Some(
                    "its writer stopped on a failed write (a full disk, most likely): free disk space, or give the node's user write access to the data dir; it takes changes again by itself",
                );
            }
            return None;
        };
        match kind {
            ErrorKind::PermissionDenied => Some(
                "give the node's user write access to the data dir and all in it (the index is rebuilt from the database if removed)",
            ),
            ErrorKind::ReadOnlyFilesystem => {
                Some("the file system is read-only (remounted so after disk errors?): check the disk")
            }
            ErrorKind::StorageFull => Some("the disk is full: free disk space"),
            _ => None,
        }
    }
}

impl IndexError {
    /// The failure in a few words where its cause is known (`search index: the disk is full:
    /// free disk space`), else whole: `haggle status` shows it on one line (a retrial read
    /// tantivy's debug form of the error there).
    pub(crate) fn brief(&self) -> String {
        match self.fix() {
            Some(fix) if self.lock_io().is_none() => format!("search index: {fix}"),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = self.lock_io() {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                ": give the node's user write access to the data dir and all in it (the index is rebuilt from the database if removed)"
            } else {
                ""
            };
            return write!(f, "search index: cannot take its lock file ({e}){hint}");
        }
        match &self.0 {
            IndexFailure::Tantivy(e) => write!(f, "search index: {e}"),
            IndexFailure::Directory(e) => write!(f, "search index directory: {e}"),
            IndexFailure::Io(e) => write!(f, "search index files: {e}"),
        }?;
        match self.fix() {
            Some(fix) => write!(f, ": {fix}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The lock failure is said whole above, and so is an I/O error or one whose fix is
        // said: tantivy's text would repeat it as a cause.
        if self.lock_io().is_some() || self.fix().is_some() {
            return None;
        }
        match &self.0 {
            IndexFailure::Tantivy(e) => Some(e),
            IndexFailure::Directory(e) => Some(e),
            IndexFailure::Io(_) => None,
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
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}")]
    CreateDir {
        /// The data directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process holds the database's lock: a node is already running on this data dir.
    #[error(
        "another node is running on the data dir {dir} (its database is locked): stop that node \
         first (haggle --data-dir {dir} status shows it), or give this one its own --data-dir"
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// The database's files do not check out (cut short, overwritten).
    #[error(
        "the database in {path} is damaged (its files do not check out). Restore {path} from a backup; or move it aside and start the node again with an empty one: your identity.key stays yours and the market comes back by sync, but your threads, deals and unsent messages were only in the database"
    )]
    Damaged {
        /// The database directory (`db` in the data directory).
        path: PathBuf,
        /// What the database read.
        source: DbError,
    },
    /// The database could not be opened or read.
    #[error(
        "cannot open the database in {path}{}",
        if matches!(&source.0, sled::Error::Io(e) if e.kind() == std::io::ErrorKind::StorageFull) {
            ": free disk space, then start the node again"
        } else {
            ""
        }
    )]
    Database {
        /// The database directory (`db` in the data directory).
        path: PathBuf,
        /// The database's error.
        source: DbError,
    },
    /// The database has another layout version than this build reads.
    #[error(
        "the database in {path} has schema version {found}; this build reads versions 6 to {expected}. A database newer than that was written by a newer build: run that build. One older than version 6 cannot be read (the wire format changed): move {path} aside and start the node again (your identity stays; the node syncs the market anew)"
    )]
    SchemaVersion {
        /// The database directory (`db` in the data directory).
        path: PathBuf,
        /// The version the database records (0 if it is unreadable).
        found: u32,
        /// The newest version this build reads (and the one it writes): [`crate::SCHEMA_VERSION`].
        expected: u32,
    },
    /// Moving a database of an earlier schema version to this build's layout failed. The
    /// database is as it was: the next start tries again.
    #[error("cannot move the database in {path} to this build's layout")]
    Migrate {
        /// The database directory (`db` in the data directory).
        path: PathBuf,
        /// What failed.
        source: MigrateError,
    },
    /// The search index could not be opened or created.
    #[error("cannot open the search index in {path}")]
    Index {
        /// The index directory (`index` in the data directory).
        path: PathBuf,
        /// The index's error.
        source: IndexError,
    },
    /// Replaying the writes a crash interrupted, or the listing changes the search index missed,
    /// failed.
    #[error("cannot bring the search index up to date")]
    CatchUp(#[source] StoreError),
}

/// Why moving a database to this build's layout failed (see [`OpenError::Migrate`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// Reading the old database or writing the copy failed.
    #[error(transparent)]
    Database(#[from] DbError),
    /// A record of the old database could not be read.
    #[error("stored record under {what} is damaged")]
    Corrupt {
        /// What sort of record.
        what: &'static str,
    },
    /// The data dir holds directories a move to this build's layout cannot leave by itself.
    #[error(
        "{dir} holds directories of a move to this build's layout that was cut short and then an earlier build started (each if present: db.premigration, the database as it was before the move; db.migrating, a complete copy of it in this build's layout; db, what the earlier build wrote since). Keep the one you want as db, move the others out of the data dir, and start again"
    )]
    Unfinished {
        /// The data dir.
        dir: PathBuf,
    },
    /// Renaming or removing a directory failed (disk full, permissions).
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done: `rename`, `remove`, `sync`.
        action: &'static str,
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl From<sled::Error> for MigrateError {
    fn from(e: sled::Error) -> Self {
        MigrateError::Database(DbError(e))
    }
}

/// A failure while reading or writing the store. Expected outcomes (duplicates, stale revisions,
/// rejected objects) are not errors: see [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The search index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A stored record could not be decoded.
    #[error("stored record under {what} is damaged")]
    Corrupt {
        /// What sort of record, e.g. `listing head`.
        what: &'static str,
    },
    /// An earlier write failed half made; the store takes no more writes until it is opened
    /// again, which finishes that write.
    #[error("an earlier write failed half made: restart the node to finish it, then try again")]
    Interrupted,
}

impl StoreError {
    /// Whether the store takes no more writes until it is opened again: its file could not be
    /// written (after its first I/O error, a full disk say, sled refuses every later write even
    /// once space is back), or a write was left half made.
    pub fn needs_restart(&self) -> bool {
        matches!(self, StoreError::Database(DbError(sled::Error::Io(_))) | StoreError::Interrupted)
            || self.is_damage()
    }

    /// Whether the database's files do not check out (cut short, overwritten): a node on them
    /// would answer with errors, or wrongly (from a trial: `haggle deals` said "No deals yet"),
    /// so it stops and says to restore them.
    pub fn is_damage(&self) -> bool {
        matches!(self, StoreError::Database(DbError(sled::Error::Corruption { .. })))
    }

    /// What to fix before the node is started again, for an error that [needs a
    /// restart](Self::needs_restart), by its cause (a trial's data dir, moved away while the node
    /// ran, was told to free disk space).
    pub fn fix(&self) -> &'static str {
        if self.is_damage() {
            return "the database's files are damaged: restore db in the data dir from a backup; or move it aside and start the node again with an empty one (your identity.key stays yours and the market comes back by sync, but your threads, deals and unsent messages were only in the database)";
        }
        let StoreError::Database(DbError(sled::Error::Io(io))) = self else {
            return "free disk space, check the data dir's permissions";
        };
        match io.kind() {
            std::io::ErrorKind::StorageFull => "free disk space",
            std::io::ErrorKind::PermissionDenied => {
                "give the node's user write access to the data dir and all in it"
            }
            std::io::ErrorKind::ReadOnlyFilesystem => {
                "the file system is read-only (remounted so after disk errors?): check the disk, then remount it"
            }
            std::io::ErrorKind::NotFound => {
                "the data dir was moved or deleted while the node ran: put it back, or start the node on where it is now"
            }
            _ => "free disk space, check the data dir's permissions",
        }
    }
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
    /// A price bound was given without a currency.
    #[error(
        "a price range needs a currency (e.g. --currency EUR): prices in different currencies do not compare"
    )]
    PriceWithoutCurrency,
    /// Sorting by price without a currency.
    #[error(
        "sorting by price needs a currency (e.g. --currency EUR): prices in different currencies do not compare"
    )]
    SortWithoutCurrency,
    /// The minimum price is above the maximum price.
    #[error("minimum price {min} is above maximum price {max}")]
    EmptyPriceRange {
        /// The lower bound, in minor units.
        min: u64,
        /// The upper bound, in minor units.
        max: u64,
    },
    /// The category filter is not a path of lowercase segments.
    #[error(
        "category `{0}` is not a path of words like `vehicles/bikes`: letters a-z (no accents), digits and hyphens between slashes"
    )]
    BadCategory(String),
    /// The page size is 0 or over [`crate::MAX_PAGE`].
    #[error("a page holds 1 to {max} results, not {asked}")]
    BadLimit {
        /// The page size asked for.
        asked: usize,
        /// The largest page size.
        max: usize,
    },
    /// Sorting by distance without a place to measure from.
    #[error("sorting by distance needs a place to measure from (e.g. --around 51.054,3.717)")]
    SortWithoutPlace,
    /// The store or index failed while searching.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect: an index directory the node's user could not write to was reported in tantivy's
    /// debug text, twice, blaming a second writer; and a full disk in the database's debug form.
    #[test]
    fn failures_to_write_say_what_to_do_once() {
        use std::error::Error as _;
        use tantivy::directory::error::LockError;

        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let lock = LockError::IoError(std::sync::Arc::new(denied));
        let e = IndexError::from(tantivy::TantivyError::LockFailure(lock, Some("another writer?".into())));
        let said = e.to_string();
        assert!(said.starts_with("search index: cannot take its lock file (permission denied)"), "{said}");
        assert!(said.ends_with("(the index is rebuilt from the database if removed)"), "{said}");
        assert!(e.source().is_none(), "said once");
        // A full disk or a permission refused under the index says what to do, once.
        let full = IndexError::from(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(full.to_string().ends_with(": the disk is full: free disk space"), "{full}");
        assert_eq!(full.brief(), "search index: the disk is full: free disk space");
        // Tantivy keeps some I/O errors as text only: read by their OS error number, exactly.
        let text = IndexError::from(tantivy::TantivyError::SystemError(
            "An IO error occurred: 'No space left on device (os error 28) at path \"index/.tmp\"'".into(),
        ));
        assert!(text.to_string().ends_with(": the disk is full: free disk space"), "{text}");
        let debug_form = IndexError::from(tantivy::TantivyError::SystemError(
            "Failed to open file for write: 'IoError { io_error: Custom { kind: PermissionDenied, error: PathError { path: \"index/.tmp1\", err: Os { code: 13, kind: PermissionDenied } } } }'".into(),
        ));
        assert!(
            debug_form.brief().starts_with("search index: give the node's user write access"),
            "{debug_form}"
        );
        // Told without their cause, said with what most likely is (a small-machine trial).
        let threads = IndexError::from(tantivy::TantivyError::SystemError(
            "Failed to spawn segment merging thread".into(),
        ));
        assert!(threads.brief().contains("the process's limits are too low"), "{threads}");
        let killed = IndexError::from(tantivy::TantivyError::ErrorInThread(
            "An index writer was killed.. A worker thread encountered an error (io::Error most likely) or panicked.".into(),
        ));
        assert!(killed.brief().contains("a full disk, most likely"), "{killed}");
        let other = IndexError::from(tantivy::TantivyError::SystemError("(os error 130)".into()));
        assert!(!other.to_string().contains("write access"), "{other}");
        assert!(full.source().is_none(), "said once");
        let denied = IndexError::from(std::io::Error::from_raw_os_error(13));
        assert!(denied.to_string().contains("give the node's user write access"), "{denied}");
        let full =
            DbError(sled::Error::Io(std::io::Error::new(std::io::ErrorKind::StorageFull, "Os { code: 28 }")));
        assert_eq!(full.to_string(), "database: the disk is full (no space left on device)");
        // What to fix is the failure's (a trial's data dir moved away was told to free space).
        let io = |kind| StoreError::Database(DbError(sled::Error::Io(std::io::Error::from(kind))));
        assert_eq!(io(std::io::ErrorKind::StorageFull).fix(), "free disk space");
        assert!(io(std::io::ErrorKind::NotFound).fix().starts_with("the data dir was moved or deleted"));
        assert!(
            io(std::io::ErrorKind::PermissionDenied).fix().starts_with("give the node's user write access")
        );
        // Files that do not check out stop the node, saying to restore them (from a crash trial: a
        // node on an overwritten database ran on, answering every command with the bare error).
        let damaged = StoreError::Database(DbError(sled::Error::Corruption { at: None, bt: () }));
        assert!(damaged.is_damage() && damaged.needs_restart());
        assert!(damaged.fix().contains("restore db in the data dir from a backup"), "{}", damaged.fix());
        assert!(!io(std::io::ErrorKind::StorageFull).is_damage());
    }
}
