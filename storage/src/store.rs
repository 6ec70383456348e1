//! The store: opening, reading, durability, the search index's catch-up, and the expiry sweep.
//! Writing objects lives in `ingest.rs`, threads and deals in `threads.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use haggle_protocol::{IdPrefix, ListingKey, Object, ObjectId, PublicKey, Timestamp};

use crate::error::{DbError, OpenError, SearchError, StoreError};
use crate::keys::{self, Head};
use crate::search::{SearchHit, SearchIndex, SearchQuery, SearchResults};

/// The layout version of the database. Version 5 came with the timed markets, which changed the
/// wire form of every listing and every set of terms; version 6 with pictures and digital goods,
/// which added two fields to every listing: objects an earlier database holds can no longer be
/// read, and such a database is refused rather than misread. Version 7 keys listing heads nonce
/// first (see `keys`); a version 6 database is moved to it when opened (see `migrate`). A
/// database of a later version, written by a newer build, is refused.
pub const SCHEMA_VERSION: u32 = 7;

/// sled's page cache by default, in MiB: large enough for the hot part of 100,000 listings,
/// small enough to keep a node with them at rest within its memory target (sled's default is
/// 1 GiB). sled counts a page by its size on disk, so the pages it holds take more memory than
/// this. A smaller cache reads more pages back from the file: at 100,000 listings, 32 MiB ingested
/// 4% slower and 16 MiB 16% (docs/PERFORMANCE.md, "The page cache as a setting").
pub const DEFAULT_CACHE_MIB: u64 = 64;

/// How often sled writes lazily ingested data to disk on its own. Objects from gossip can be a
/// moment late to disk: sync brings back anything a crash loses. Each flush wakes all seven of
/// sled's I/O threads and fsyncs even when nothing was written, but it is also when sled cleans
/// its segments: at 2 s, a database just filled with 100,000 listings measured 145-154 MiB
/// against 146-148 MiB at 500 ms, and the CPU saved did not show above the noise.
const FLUSH_EVERY_MS: u64 = 500;

/// How many listing changes fed to the search index make an ingest commit them, so search stays
/// fresh and the replay after a crash short during a long stream of gossip.
pub(crate) const INDEX_BATCH: usize = 8_000;
/// How many pending listing changes make an ingest feed them to the search index (uncommitted):
/// enough to amortise the feed, few enough that the index's own thread analyses them beside the
/// store's writes rather than all at once when the commit waits for it.
pub(crate) const FEED_BATCH: usize = 1_024;

/// Whether an ingest must be on disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Flushed to disk before returning: the user's own objects and negotiation messages, which
    /// the user is told are saved.
    Flush,
    /// Written to disk within about half a second: objects from the network, which sync can
    /// fetch again.
    Lazy,
}

/// What a listing looks like to a reader: its current revision and when it was last replaced.
#[derive(Debug, Clone)]
pub struct ListingEntry {
    /// The listing's key.
    pub key: ListingKey,
    /// The listing's current revision.
    pub object: Object,
}

/// Counts for `haggle status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct StoreStats {
    /// Listings whose current revision is active and unexpired.
    pub active_listings: usize,
    /// Listings whose current revision is a tombstone.
    pub closed_listings: usize,
    /// Listings past their expiry, still held (the owner's stay 30 days, to be renewed; others'
    /// go at the next sweep).
    #[serde(default)]
    pub expired_listings: usize,
    /// Negotiation threads with messages in the store.
    pub threads: usize,
    /// Deals in the store.
    pub deals: usize,
    /// Feedback (public ratings of deals) in the store.
    #[serde(default)]
    pub feedback: usize,
    /// Listing changes the search index has yet to take in.
    pub index_pending: usize,
    /// Why the search index last failed to take changes in, while it has not taken them since
    /// (they are tried again, and searches find what it took before).
    #[serde(default)]
    pub index_error: Option<String>,
    /// The database's size on disk, in bytes, as sled reports it.
    pub size_on_disk: u64,
    /// The search index's size on disk, in bytes (its files).
    #[serde(default)]
    pub index_size: u64,
}

/// Listing changes not yet in the search index. Lost in a crash, and found again on open: every
/// head whose sequence number is above the index's watermark.
#[derive(Debug, Default)]
struct PendingIndex {
    keys: HashMap<ListingKey, IndexChange>,
    /// Sequence number of the newest change noted.
    last_seq: u64,
    /// When the newest change was noted (since the store was opened).
    last_noted: Option<std::time::Instant>,
    /// When a quiet commit last failed (a full disk, say): the next waits [`QUIET_RETRY`].
    quiet_failed: Option<std::time::Instant>,
    /// A quiet commit runs.
    quiet_running: bool,
}

/// Whether `pending` (and `uncommitted` documents fed) make a quiet commit due after `quiet`.
fn quiet_due(pending: &PendingIndex, uncommitted: usize, quiet: std::time::Duration) -> bool {
    !pending.quiet_running
        && pending.keys.len() + uncommitted >= QUIET_MIN
        && pending.last_noted.is_some_and(|t| t.elapsed() >= quiet)
        && pending.quiet_failed.is_none_or(|t| t.elapsed() >= QUIET_RETRY)
}

/// A quiet commit's claim, given up when dropped: after the commit, or by a panic inside it,
/// which counts as a failure (else quiet commits would stop for good, searches alone
/// committing).
struct QuietClaim<'a> {
    pending: &'a Mutex<PendingIndex>,
    /// Whether the commit failed (a panic drops the claim before this is cleared).
    failed: bool,
}

impl Drop for QuietClaim<'_> {
    fn drop(&mut self) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.quiet_running = false;
        pending.quiet_failed = self.failed.then(std::time::Instant::now);
    }
}

/// How many listing changes must wait for a quiet commit: what fewer hold in the index's
/// writer is small, and the next search takes them in.
pub(crate) const QUIET_MIN: usize = 256;

/// How long after a failed quiet commit the next is tried: a timer asks every second, and a
/// full disk would otherwise log a failure each time.
const QUIET_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// One listing the index must bring in line with the database.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexChange {
    /// Whether the index may already hold a document for it (if not, adding one needs no delete
    /// first, which makes bulk ingest much cheaper).
    indexed: bool,
    /// The new current revision, when the writer had it at hand: saves reading it back.
    current: Option<Object>,
}

/// What a prefix lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// No stored id starts with the prefix.
    None,
    /// Exactly one stored id starts with the prefix.
    One(ObjectId),
    /// The prefix matches several ids (at most a handful are listed).
    Ambiguous(Vec<ObjectId>),
}

/// The node's database: signed objects, listing revisions, threads, deals and the search index.
/// Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct Store {
    pub(crate) db: sled::Db,
    /// Makes small batches atomic without sled's batch (see [`crate::writes`]).
    journal: crate::writes::Journal,
    pub(crate) index: SearchIndex,
    /// Serialises writers: ingest reads current state, decides, then writes one batch.
    pub(crate) write_lock: Mutex<()>,
    /// Serialises index catch-up, so two threads never replay the same entries at once.
    index_lock: Mutex<()>,
    /// Listing changes the index has yet to take in, and the newest change's sequence number.
    pending: Mutex<PendingIndex>,
    /// The listings fed to the index since its last commit, given back to `pending` if the
    /// commit fails (see [`Store::index_failed`]).
    fed: Mutex<Vec<ListingKey>>,
    /// Why the index last failed, and when, until it takes changes again.
    index_error: Mutex<Option<(String, std::time::Instant)>>,
    /// Bumped whenever the reconciliation set changes (see [`Store::sync_generation`]).
    pub(crate) sync_generation: std::sync::atomic::AtomicU64,
    /// Bumped whenever a deal step is stored (see [`Store::step_generation`]).
    pub(crate) step_generation: std::sync::atomic::AtomicU64,
    /// Held by an eviction pass (`Store::evict_over_budget`), so two never overlap.
    pub(crate) evicting: Mutex<()>,
    /// The reconciliation set, listings by expiry and per author: loaded at first use and kept
    /// up to date by every write.
    pub(crate) derived: Mutex<Option<crate::derived::Derived>>,
    /// False while the store holds no eviction markers (set before the first is written), so
    /// [`Store::is_evicted`] costs nothing on stores that never evicted.
    pub(crate) may_have_evicted: std::sync::atomic::AtomicBool,
    /// The owner's messages marked delivered by a receipt for their sealed copy (not delivered
    /// otherwise before), since the store opened: see [`Store::delivered_by_mail`].
    pub(crate) delivered_by_mail: std::sync::atomic::AtomicU64,
    /// Bumped whenever the feedback held changes (see [`Store::feedback_generation`]).
    pub(crate) feedback_generation: std::sync::atomic::AtomicU64,
    /// The last reputation graph built, and what it was built from.
    pub(crate) trust: Mutex<Option<crate::reputation::CachedGraph>>,
    /// The node's own key, once the node says it ([`Store::set_owner`]): bids on its own
    /// auctions are judged by its clock at arrival.
    pub(crate) owner: std::sync::OnceLock<haggle_protocol::PublicKey>,
    /// The bids or pledges of the auctions and campaigns written to lately, decoded (see
    /// `public_offers.rs`): filled and changed only under the write lock.
    pub(crate) offer_cache: Mutex<HashMap<ListingKey, std::sync::Arc<Vec<Object>>>>,
    /// The keys the owner blocked (see `blocks`), as on disk.
    pub(crate) blocked: std::sync::RwLock<crate::blocks::BlockedKeys>,
    /// Held by a change of the blocked keys, so two never interleave.
    pub(crate) blocking: Mutex<()>,
    /// Held by a change of the saved searches, so two never interleave.
    pub(crate) saving: Mutex<()>,
    path: PathBuf,
    /// The data directory's device and inode at open, to notice it deleted or replaced.
    place: Option<(u64, u64)>,
}

/// The search index's directory inside the store's.
const INDEX_DIR: &str = "index";

/// The bytes of the files under `dir` (0 for what cannot be read: a file a merge just removed).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// How long opening waits for the database's lock while a store just closed in this process lets
/// go of it: sled's flusher thread holds the file lock for a moment after the last handle is
/// dropped, so an immediate reopen (a restart, a test) would otherwise fail now and then. A lock
/// held longer than this is another node using the data dir.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether opening failed on the database's lock (sled reports it as an I/O error with this
/// text).
fn is_locked(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Runs `attempt` again while it fails on the database's lock (`locked`), for [`LOCK_WAIT`] at
/// most: the lock may be one a store just closed in this process is letting go of.
fn while_locked<T, E>(
    mut attempt: impl FnMut() -> Result<T, E>,
    locked: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match attempt() {
            Err(e) if locked(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Opens the sled database, waiting (bounded) for a lock that is being released.
pub(crate) fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db, sled::Error> {
    while_locked(
        || {
            sled::Config::new()
                .path(path)
                .cache_capacity(cache_bytes)
                .flush_every_ms(Some(FLUSH_EVERY_MS))
                .open()
        },
        is_locked,
    )
}

impl Store {
    /// Refuses a data dir whose database another process holds open (a node running on it),
    /// without opening it: a node checks this before its ports, so a second `haggle node` on the
    /// same data dir hears that, not that a port is taken. A database not made yet, or one the
    /// check cannot read, is left to [`Store::open`] to judge. Like opening, it waits (for
    /// [`LOCK_WAIT`] at most) for a lock a store just closed in this process is letting go of.
    pub fn ensure_not_in_use(dir: &Path) -> Result<(), OpenError> {
        let Ok(file) = std::fs::File::open(dir.join("db").join("db")) else { return Ok(()) };
        // sled locks this file (flock, exclusive) for as long as the database is open; the
        // probe's own lock goes with the handle.
        let held = |e: &std::fs::TryLockError| matches!(e, std::fs::TryLockError::WouldBlock);
        match while_locked(|| file.try_lock(), held) {
            Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::Locked { dir: dir.to_owned() }),
            Ok(()) | Err(std::fs::TryLockError::Error(_)) => Ok(()),
        }
    }

    /// Whether a process holds the database in `dir` open now (a node running on it), asked
    /// once, without waiting: `None` when there is no database or the check cannot tell (a
    /// data dir of another user's). A client uses it to tell an `api.addr` left behind by a node
    /// killed outright from a running node's.
    pub fn in_use(dir: &Path) -> Option<bool> {
        let file = std::fs::File::open(dir.join("db").join("db")).ok()?;
        match file.try_lock() {
            // The probe's own lock goes with the handle, at once.
            Ok(()) => Some(false),
            Err(std::fs::TryLockError::WouldBlock) => Some(true),
            Err(std::fs::TryLockError::Error(_)) => None,
        }
    }

    /// Opens (or creates) the store in `dir`: the database in `dir/db`, the index in `dir/index`.
    /// Brings the index up to date with anything it missed, e.g. after a crash. sled's page
    /// cache is [`DEFAULT_CACHE_MIB`].
    pub fn open(dir: &Path) -> Result<Store, OpenError> {
        Store::open_with_cache(dir, DEFAULT_CACHE_MIB)
    }

    /// [`Store::open`] with a page cache of `cache_mib` MiB (a node's `cache_mib`): less memory
    /// for a busy node, at the cost of reading more pages back from the file.
    pub fn open_with_cache(dir: &Path, cache_mib: u64) -> Result<Store, OpenError> {
        let cache_bytes = cache_mib.saturating_mul(1 << 20);
        std::fs::create_dir_all(dir)
            .map_err(|source| OpenError::CreateDir { path: dir.to_owned(), source })?;
        let db_path = dir.join("db");
        crate::migrate::recover(dir)
            .map_err(|source| OpenError::Migrate { path: db_path.clone(), source })?;
        let db = open_db(&db_path, cache_bytes).map_err(|e| match e {
            _ if is_locked(&e) => OpenError::Locked { dir: dir.to_owned() },
            sled::Error::Corruption { .. } => {
                OpenError::Damaged { path: db_path.clone(), source: DbError(e) }
            }
            _ => OpenError::Database { path: db_path.clone(), source: DbError(e) },
        })?;
        let db_err = |e: sled::Error| OpenError::Database { path: db_path.clone(), source: DbError(e) };
        let found = match db.get(keys::SCHEMA_KEY).map_err(db_err)? {
            None => {
                db.insert(keys::SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes()).map_err(db_err)?;
                db.flush().map_err(db_err)?;
                SCHEMA_VERSION
            }
            Some(v) => v.as_ref().try_into().map(u32::from_be_bytes).unwrap_or(0),
        };
        if !(crate::migrate::OLDEST_MIGRATED..=SCHEMA_VERSION).contains(&found) {
            return Err(OpenError::SchemaVersion { path: db_path, found, expected: SCHEMA_VERSION });
        }
        // Batches a crash interrupted are finished before anything reads the database (and
        // before a migration: an earlier build's batch writes that build's layout).
        crate::writes::replay(&db).map_err(OpenError::CatchUp)?;
        let db = if found < SCHEMA_VERSION {
            crate::migrate::migrate(dir, db, found, cache_bytes)
                .map_err(|source| OpenError::Migrate { path: db_path.clone(), source })?
        } else {
            db
        };
        let index_path = dir.join(INDEX_DIR);
        let (index, fresh) =
            SearchIndex::open(&index_path).map_err(|source| OpenError::Index { path: index_path, source })?;
        let may_have_evicted = db.scan_prefix([keys::EVICTED]).next().is_some();
        let blocked = crate::blocks::load(&db).map_err(db_err)?;
        let store = Store {
            db,
            index,
            write_lock: Mutex::new(()),
            index_lock: Mutex::new(()),
            pending: Mutex::new(PendingIndex::default()),
            fed: Mutex::new(Vec::new()),
            index_error: Mutex::new(None),
            sync_generation: std::sync::atomic::AtomicU64::new(0),
            step_generation: std::sync::atomic::AtomicU64::new(0),
            derived: Mutex::new(None),
            may_have_evicted: std::sync::atomic::AtomicBool::new(may_have_evicted),
            delivered_by_mail: std::sync::atomic::AtomicU64::new(0),
            feedback_generation: std::sync::atomic::AtomicU64::new(0),
            trust: Mutex::new(None),
            owner: std::sync::OnceLock::new(),
            offer_cache: Mutex::default(),
            blocked: std::sync::RwLock::new(blocked),
            blocking: Mutex::new(()),
            saving: Mutex::new(()),
            evicting: Mutex::new(()),
            path: dir.to_owned(),
            place: place_of(dir).ok(),
            journal: crate::writes::Journal::default(),
        };
        let mark = store.take_clean_mark().map_err(OpenError::CatchUp)?;
        let watermark = match fresh {
            true => 0,
            false => store.index.watermark().map_err(|e| OpenError::CatchUp(e.into()))?,
        };
        // A clean shutdown records the last change, which the index never passes: an index past
        // it took in changes this database never made. The database was restored from a backup
        // (or copied in) beside a newer index, which would show listings twice.
        let foreign = matches!(mark, Some(Some(last)) if watermark > last);
        if foreign {
            tracing::info!(
                "the search index is newer than the database (restored from a backup?): rebuilding it"
            );
        }
        // The index failed to take changes in the last run and had not taken them since (from a
        // trial: a disk that filled left listings out of search for good, restarts included).
        let suspect =
            store.db.get(keys::INDEX_SUSPECT_KEY).map_err(|e| OpenError::CatchUp(e.into()))?.is_some();
        if suspect && !fresh {
            tracing::info!("the search index failed to take changes in the last run: rebuilding it");
        }
        if fresh || foreign || suspect {
            let started = std::time::Instant::now();
            store.rebuild_index().map_err(OpenError::CatchUp)?;
            if suspect {
                store.db.remove(keys::INDEX_SUSPECT_KEY).map_err(|e| OpenError::CatchUp(e.into()))?;
            }
            let listings = store.index.num_docs();
            if listings > 0 {
                // A new index over an old database: after an upgrade that changed its layout, or
                // one removed, damaged or left from another copy of the database.
                tracing::info!(listings, took = ?started.elapsed(), "search index built from the database");
            }
        } else {
            match mark {
                // A clean shutdown left the index caught up to the last change: nothing to scan.
                Some(Some(last)) if watermark >= last => {
                    store.pending.lock().unwrap_or_else(|p| p.into_inner()).last_seq = last;
                }
                _ => store.find_unindexed().map_err(OpenError::CatchUp)?,
            }
            store.catch_up_index().map_err(OpenError::CatchUp)?;
            if mark.is_none() {
                store.repair_index_after_crash().map_err(OpenError::CatchUp)?;
            }
        }
        Ok(store)
    }

    /// Reads and clears the mark a clean shutdown leaves (`None` after a crash; inside, the last
    /// change's sequence number if the index had caught up with it). The cleared mark is on disk
    /// before any new write, so a crash from here on is noticed at the next open.
    fn take_clean_mark(&self) -> Result<Option<Option<u64>>, StoreError> {
        let mark = self.db.remove(keys::CLEAN_KEY)?;
        self.db.flush()?;
        Ok(mark.map(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    }

    /// After a crash the index may hold a listing the database lost (index commits do not wait
    /// for the database's lazy writes). Compares the two and rebuilds the index if they differ.
    fn repair_index_after_crash(&self) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let mut searchable = 0u64;
        for v in self.db.scan_prefix([keys::HEAD]).values() {
            let head = Head::decode(&v?).ok_or(StoreError::Corrupt { what: "listing head" })?;
            if !head.closed && head.expires_at > now {
                searchable += 1;
            }
        }
        let indexed = self.index.num_docs();
        if searchable != indexed {
            // The index may hold more: others' listings from the last moments before the crash
            // (sync brings them back), and expired ones not yet swept.
            tracing::warn!(searchable, indexed, "search index out of step after a crash; rebuilding");
            self.rebuild_index()?;
        }
        Ok(())
    }

    /// Notes every listing changed after the index's watermark (after a crash, those the index
    /// missed).
    fn find_unindexed(&self) -> Result<(), StoreError> {
        let watermark = self.index.watermark()?;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.last_seq = watermark;
        for entry in self.db.scan_prefix([keys::HEAD]) {
            let (k, v) = entry?;
            let head = Head::decode(&v).ok_or(StoreError::Corrupt { what: "listing head" })?;
            if head.seq > watermark {
                let key = keys::listing_key_of_head(&k).ok_or(StoreError::Corrupt { what: "listing key" })?;
                pending.keys.insert(key, IndexChange { indexed: true, current: None });
                pending.last_seq = pending.last_seq.max(head.seq);
            }
        }
        Ok(())
    }

    /// A new change sequence number: increasing across restarts, and never 0, which is the
    /// watermark of an empty index.
    pub(crate) fn next_seq(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()? + 1)
    }

    /// Records that listing `key` changed with sequence number `seq`. Called under the write
    /// lock, so sequence numbers arrive in order.
    pub(crate) fn note_index_change(&self, key: ListingKey, seq: u64, was_indexed: bool, current: Object) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let change = pending.keys.entry(key).or_default();
        change.indexed |= was_indexed;
        change.current = Some(current);
        pending.last_seq = pending.last_seq.max(seq);
        pending.last_noted = Some(std::time::Instant::now());
    }

    /// Whether at least [`QUIET_MIN`] listing changes wait for the search index (pending, or fed
    /// and not committed), none came for `quiet`, and no quiet commit runs:
    /// [`Self::commit_index_if_quiet`] has work. Cheap, for a timer.
    pub fn index_quiet_due(&self, quiet: std::time::Duration) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        quiet_due(&pending, self.index.uncommitted(), quiet)
    }

    /// Brings the search index up to date once at least [`QUIET_MIN`] listing changes wait and
    /// none came for `quiet`. Otherwise the end of a burst waits in the index's writer,
    /// uncommitted, until a search asks, and the writer's memory with it (15 MiB after a load of
    /// 20,000 listings). Fewer changes are left to the next search, so a node that publishes,
    /// or hears a listing now and then, pays no commit per listing. Returns whether it committed.
    pub fn commit_index_if_quiet(&self, quiet: std::time::Duration) -> Result<bool, StoreError> {
        {
            // Claimed under the lock: a timer that asks again while this runs finds it busy.
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if !quiet_due(&pending, self.index.uncommitted(), quiet) {
                return Ok(false);
            }
            pending.quiet_running = true;
        }
        let mut claim = QuietClaim { pending: &self.pending, failed: true };
        let result = self.catch_up_index();
        claim.failed = result.is_err();
        drop(claim);
        result.map(|()| true)
    }

    pub(crate) fn pending_index_len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).keys.len()
    }

    /// The data directory the store was opened in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the data directory is still where the store was opened: an error that needs a
    /// restart if it was deleted, moved, or replaced by another. A deleted one goes on taking
    /// writes into files no one can open again (from a trial: a node ran on for minutes with its
    /// data dir deleted, and its next start made a new identity beside it).
    pub fn still_in_place(&self) -> Result<(), StoreError> {
        let gone = |why: &str| {
            StoreError::Database(DbError(sled::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the data dir {} {why}", self.path.display()),
            ))))
        };
        match place_of(&self.path) {
            Ok(place) if self.place.is_none_or(|at_open| at_open == place) => Ok(()),
            Ok(_) => Err(gone("is another directory than the one the node opened")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone("is gone")),
            // Anything else (a permission, say) is for the next read or write to tell.
            Err(_) => Ok(()),
        }
    }

    /// Applies a group of writes atomically (on disk and to readers that matter; see
    /// [`crate::writes`]).
    pub(crate) fn apply_writes(&self, batch: crate::writes::Batch) -> Result<(), StoreError> {
        self.journal.apply(&self.db, batch)
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The time up to which the node has told the end of every auction and campaign it held
    /// (its owner's `watch` heard of them): one that ended earlier is not told again after a
    /// restart. `None` before the first.
    pub fn ends_told_through(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .db
            .get(keys::ENDS_TOLD_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
            .map(|b| Timestamp::from_millis(u64::from_be_bytes(b))))
    }

    /// Records [`Self::ends_told_through`] (lazily: a crash may tell the last few seconds' ends
    /// again, which is harmless).
    pub fn set_ends_told_through(&self, at: Timestamp) -> Result<(), StoreError> {
        self.db.insert(keys::ENDS_TOLD_KEY, &at.as_millis().to_be_bytes())?;
        Ok(())
    }

    /// The identity whose node keeps this database, as recorded at the first start that recorded
    /// one (`None` before): a data dir holds one identity's listings, threads and deals.
    pub fn recorded_owner(&self) -> Result<Option<PublicKey>, StoreError> {
        match self.db.get(keys::OWNER_KEY)? {
            None => Ok(None),
            Some(v) => <[u8; 32]>::try_from(&v[..])
                .map(|b| Some(PublicKey::from_bytes(b)))
                .map_err(|_| StoreError::Corrupt { what: "owner record" }),
        }
    }

    /// Records [`Self::recorded_owner`], on disk before it returns.
    pub fn record_owner(&self, owner: &PublicKey) -> Result<(), StoreError> {
        self.db.insert(keys::OWNER_KEY, owner.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// The author of a message in the outbox, if it holds one: only the owner's own messages
    /// go there, so a database from before [`Self::recorded_owner`] says whose it is by them.
    pub fn outbox_author(&self) -> Result<Option<PublicKey>, StoreError> {
        for k in self.db.scan_prefix([keys::OUTBOX]).keys() {
            let Some(id) = keys::id_at_end(&k?) else { continue };
            if let Some(message) = self.get(&id)? {
                return Ok(Some(message.author()));
            }
        }
        Ok(None)
    }

    /// The object with this id, as stored (it was verified before it was stored).
    pub fn get(&self, id: &ObjectId) -> Result<Option<Object>, StoreError> {
        match self.db.get(keys::object(id))? {
            None => Ok(None),
            // Stored under its id: the id is not hashed again.
            Some(bytes) => Object::decode_stored(&bytes, *id)
                .map(Some)
                .map_err(|_| StoreError::Corrupt { what: "stored object" }),
        }
    }

    /// Whether the object with this id is stored.
    pub fn contains(&self, id: &ObjectId) -> Result<bool, StoreError> {
        Ok(self.db.contains_key(keys::object(id))?)
    }

    /// Whether `object` is stored: for a listing, whether its head names this revision (see
    /// [`Store::listed_head`]), which answers a new listing without reading the database.
    pub fn holds(&self, object: &Object) -> Result<bool, StoreError> {
        match object.listing_key() {
            Some(key) => Ok(self.listed_head(&key, false)?.is_some_and(|head| head.holds(&object.id()))),
            None => self.contains(&object.id()),
        }
    }

    /// Finds the object whose id starts with `prefix` (objects, and deals by their id).
    pub fn lookup(&self, prefix: &IdPrefix) -> Result<Lookup, StoreError> {
        let mut found = Vec::new();
        for table in [keys::OBJECT, keys::DEAL, keys::ALIAS] {
            for entry in self.db.scan_prefix(keys::key(table, &[&prefix.leading_bytes()])).keys() {
                let id = keys::id_at_end(&entry?).ok_or(StoreError::Corrupt { what: "object key" })?;
                if prefix.matches(&id) && !found.contains(&id) {
                    found.push(id);
                }
                if found.len() > 8 {
                    break;
                }
            }
        }
        Ok(match found.len() {
            0 => Lookup::None,
            1 => Lookup::One(found[0]),
            _ => Lookup::Ambiguous(found),
        })
    }

    /// The current revision of a listing, even if closed or expired (callers decide how to show
    /// those).
    pub fn listing(&self, key: &ListingKey) -> Result<Option<Object>, StoreError> {
        match self.head(key)? {
            None => Ok(None),
            Some(head) => self.get(&head.id),
        }
    }

    /// The revision a listing's current one replaced (the highest revision number below the
    /// current one's among those still held), if any.
    pub fn previous_revision(&self, key: &ListingKey) -> Result<Option<Object>, StoreError> {
        let Some(head) = self.head(key)? else { return Ok(None) };
        let mut best: Option<Object> = None;
        for id in &head.history {
            let Some(object) = self.get(id)? else { continue };
            let revision = object.listing().map_or(0, |l| l.revision);
            if revision < head.revision
                && best.as_ref().and_then(|b| b.listing()).is_none_or(|b| b.revision < revision)
            {
                best = Some(object);
            }
        }
        Ok(best)
    }

    /// The id of a listing's current revision, without reading the revision.
    pub fn listing_head_id(&self, key: &ListingKey) -> Result<Option<haggle_protocol::ObjectId>, StoreError> {
        Ok(self.head(key)?.map(|h| h.id))
    }

    pub(crate) fn head(&self, key: &ListingKey) -> Result<Option<Head>, StoreError> {
        match self.db.get(keys::head(key))? {
            None => Ok(None),
            Some(v) => Head::decode(&v).map(Some).ok_or(StoreError::Corrupt { what: "listing head" }),
        }
    }

    /// Every file the current revisions of stored listings name (pictures, thumbnails,
    /// previews, digital goods' encrypted files): what the blob directory keeps.
    pub fn files_named(&self) -> Result<std::collections::HashSet<haggle_protocol::BlobHash>, StoreError> {
        let mut out = std::collections::HashSet::new();
        for v in self.db.scan_prefix([keys::HEAD]).values() {
            let head = Head::decode(&v?).ok_or(StoreError::Corrupt { what: "listing head" })?;
            if let Some(object) = self.get(&head.id)?
                && let Some(listing) = object.listing()
            {
                out.extend(listing.files());
            }
        }
        Ok(out)
    }

    /// The id of a listing's current revision (its head alone: no object is read).
    pub fn current_revision(&self, key: &ListingKey) -> Result<Option<ObjectId>, StoreError> {
        Ok(self.head(key)?.map(|head| head.id))
    }

    /// The current revision's id of every listing by `author`, in nonce order (heads alone: no
    /// object is read).
    pub fn current_revisions_by(
        &self,
        author: &PublicKey,
    ) -> Result<Vec<(ListingKey, ObjectId)>, StoreError> {
        let mut out = Vec::new();
        for key in self.listing_keys_by(author)? {
            // A listing swept between the two reads is no longer the author's.
            if let Some(head) = self.head(&key)? {
                out.push((key, head.id));
            }
        }
        Ok(out)
    }

    /// The current revision of every listing by `author`, newest first, tombstones included.
    pub fn listings_by(&self, author: &PublicKey) -> Result<Vec<ListingEntry>, StoreError> {
        let mut out = Vec::new();
        for (key, id) in self.current_revisions_by(author)? {
            if let Some(object) = self.get(&id)? {
                out.push(ListingEntry { key, object });
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.object.created_at()));
        Ok(out)
    }

    /// Ranked search over active, unexpired listings.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        self.search_at(query, Timestamp::now())
    }

    /// [`Self::search`] as if the clock read `now` (expiry is judged against it).
    pub(crate) fn search_at(
        &self,
        query: &SearchQuery,
        now: Timestamp,
    ) -> Result<SearchResults, SearchError> {
        // An index that cannot take changes now still finds what it took before (from a trial:
        // with the disk full, every search failed, for old listings too); the failure is in the
        // log and in `haggle status`. A failure of the database is the search's.
        match self.catch_up_index() {
            Ok(()) => {}
            Err(StoreError::Index(e)) => tracing::debug!(error = %e, "searching what the index took before"),
            Err(e) => return Err(e.into()),
        }
        // Only the hidden sellers with listings here change the results, and each key costs the
        // query a lookup in every segment (about 13 µs: 1,024 keys with none made a one-word
        // search at 100k take 13 ms instead of 0.3).
        let narrowed;
        let query = if query.hide_sellers.is_empty() {
            query
        } else {
            let mut q = query.clone();
            q.hide_sellers.retain(|k| self.listing_count_by(k).map_or(true, |n| n > 0));
            narrowed = q;
            &narrowed
        };
        let crate::search::Ranked { total, hits: page, guessed, did_you_mean } =
            self.index.search(query, now)?;
        let crate::search::Guessed { near: guessed, unknown } = guessed;
        let mut hits = Vec::with_capacity(page.len());
        for (id, score) in page {
            // The revision the words matched. The index can trail the store by what was
            // written since the catch-up above: a hit may then be a revision just replaced,
            // or (swept meanwhile) gone, and is left out.
            if let Some(object) = self.get(&id)? {
                hits.push(SearchHit { listing: object, score });
            }
        }
        Ok(SearchResults { total, hits, guessed, unknown, did_you_mean })
    }

    /// The listing revision `id` as the one hit of `query` if it matches, whatever its state: the
    /// current open revision as a search would find it, a closed or replaced one as it would
    /// have been found (see [`SearchIndex::would_match`]); no hit if it does not match, or is
    /// no listing held here.
    pub fn search_one(&self, query: &SearchQuery, id: &ObjectId) -> Result<SearchResults, SearchError> {
        let Some((object, key)) = self.get(id)?.and_then(|o| o.listing_key().map(|key| (o, key))) else {
            return Ok(SearchResults {
                total: 0,
                hits: Vec::new(),
                guessed: Vec::new(),
                unknown: Vec::new(),
                did_you_mean: None,
            });
        };
        let indexed = self.head(&key)?.is_some_and(|h| h.id == *id && !h.closed);
        let matched = if indexed {
            self.catch_up_index()?;
            self.index.indexed_match(query, &key, Timestamp::now())?
        } else {
            let high_bid = self.high_bid(&key, &object)?;
            self.index.would_match(query, &key, &object, high_bid)?
        };
        let hits: Vec<SearchHit> =
            matched.then_some(SearchHit { listing: object, score: None }).into_iter().collect();
        Ok(SearchResults {
            total: hits.len(),
            hits,
            guessed: Vec::new(),
            unknown: Vec::new(),
            did_you_mean: None,
        })
    }

    /// Takes every pending listing change into the search index. Cheap when nothing is pending.
    pub fn catch_up_index(&self) -> Result<(), StoreError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: under a steady stream of ingests, the next call takes the rest.
        for _ in 0..4 {
            let (changes, watermark) = self.take_pending();
            let mut marks = Vec::new();
            for entry in self.db.scan_prefix([keys::INDEX_PENDING]) {
                let (k, seq) = entry?;
                let key = keys::listing_key_at_end(&k).ok_or(StoreError::Corrupt { what: "pending key" })?;
                marks.push((key, seq));
            }
            if changes.is_empty() && marks.is_empty() {
                // What was fed ahead (see `feed_index`) becomes searchable.
                return self.commit_index();
            }
            let noted = changes.len();
            let swept = IndexChange { indexed: true, current: None };
            let items: Vec<(ListingKey, IndexChange)> =
                changes.into_iter().chain(marks.iter().map(|(k, _)| (*k, swept.clone()))).collect();
            self.note_fed(&items[..noted]);
            if let Err(e) = self.index_listings(&items, watermark) {
                // Try these again next time (a restart would find them too; the swept marks
                // stay in the database).
                self.index_failed(&e);
                return Err(e);
            }
            self.commit_index()?;
            for (key, seq) in marks {
                // Only clear marks no newer change has set again meanwhile.
                let _ = self.db.compare_and_swap(keys::index_pending(&key), Some(seq), None::<&[u8]>)?;
            }
        }
        Ok(())
    }

    /// Hands the pending listing changes to the search index without committing them: the
    /// index analyses them on its own thread while the store goes on writing, so the commit
    /// that makes them searchable (the next search, or [`INDEX_BATCH`] fed) finds the work done.
    pub(crate) fn feed_index(&self) -> Result<(), StoreError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (changes, watermark) = self.take_pending();
        if changes.is_empty() {
            return Ok(());
        }
        let items: Vec<(ListingKey, IndexChange)> = changes.into_iter().collect();
        self.note_fed(&items);
        if let Err(e) = self.index_listings(&items, watermark) {
            self.index_failed(&e);
            return Err(e);
        }
        Ok(())
    }

    /// Why the search index cannot take changes now, while it cannot (see [`Self::index_failed`]).
    pub fn index_error(&self) -> Option<String> {
        self.index_error.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(why, _)| why.clone())
    }

    /// Whether the index failed less than [`QUIET_RETRY`] ago: ingest then leaves it alone (each
    /// try sets its writer back, and would log, once an object), and the next search or quiet
    /// commit tries again.
    pub(crate) fn index_failed_lately(&self) -> bool {
        let failed = self.index_error.lock().unwrap_or_else(|p| p.into_inner());
        failed.as_ref().is_some_and(|(_, at)| at.elapsed() < QUIET_RETRY)
    }

    /// Notes `items` as fed to the index, to be given back to `pending` should the commit that
    /// makes them searchable fail.
    fn note_fed(&self, items: &[(ListingKey, IndexChange)]) {
        self.fed.lock().unwrap_or_else(|p| p.into_inner()).extend(items.iter().map(|(key, _)| *key));
    }

    /// Commits what was fed to the index: searchable from now on. On failure, see
    /// [`Self::index_failed`].
    fn commit_index(&self) -> Result<(), StoreError> {
        if let Err(e) = self.index.commit() {
            let e = StoreError::from(e);
            self.index_failed(&e);
            return Err(e);
        }
        self.fed.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if self.index_error.lock().unwrap_or_else(|p| p.into_inner()).take().is_some() {
            tracing::info!("the search index takes changes again");
            if let Err(e) = self.db.remove(keys::INDEX_SUSPECT_KEY) {
                tracing::warn!(error = %e, "could not clear the search index's failure mark");
            }
        }
        Ok(())
    }

    /// After the index failed to take changes (a full disk, a file it may not write): its writer
    /// is set back to its last commit, and every listing fed since is noted pending again, to be
    /// tried at the next catch-up. Before, a failed commit lost what it held, and the next one
    /// recorded a watermark past it: those listings stayed out of search, restarts included
    /// (found in a trial). A mark in the database has the next open rebuild the index if this
    /// run ends before the index takes changes again.
    fn index_failed(&self, error: &StoreError) {
        let fed = std::mem::take(&mut *self.fed.lock().unwrap_or_else(|p| p.into_inner()));
        if let Err(e) = self.index.roll_back() {
            tracing::warn!(error = %e, "could not set the search index's writer back to its last commit");
        }
        self.restore_pending(fed.into_iter().map(|key| (key, IndexChange { indexed: true, current: None })));
        let brief = match error {
            StoreError::Index(e) => e.brief(),
            e => e.to_string(),
        };
        let first = self
            .index_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace((brief, std::time::Instant::now()))
            .is_none();
        if first {
            tracing::warn!(error = %error, "the search index could not take changes: they are tried again, and searches find what it took before");
            let marked = self.db.insert(keys::INDEX_SUSPECT_KEY, &[]).and_then(|_| self.db.flush());
            if let Err(e) = marked {
                tracing::warn!(error = %e, "could not mark the search index for a rebuild at the next start");
            }
        }
    }

    /// The listing changes waiting for the index, taken, with the sequence number they reach.
    fn take_pending(&self) -> (HashMap<ListingKey, IndexChange>, u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        (std::mem::take(&mut pending.keys), pending.last_seq)
    }

    /// Puts back changes the index failed to take, to be tried again; a newer revision noted
    /// meanwhile wins.
    fn restore_pending(&self, items: impl IntoIterator<Item = (ListingKey, IndexChange)>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (key, change) in items {
            let entry = pending.keys.entry(key).or_default();
            entry.indexed |= change.indexed;
            if entry.current.is_none() {
                entry.current = change.current;
            }
        }
    }

    /// Feeds the index the documents of `listings` as the database holds them, with
    /// `watermark`; the caller commits.
    fn index_listings(
        &self,
        listings: &[(ListingKey, IndexChange)],
        watermark: u64,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now();
        // Only what the writer did not hand over is read back.
        let loaded: Vec<Option<Object>> = listings
            .iter()
            .map(|(key, change)| match change.current {
                Some(_) => Ok(None),
                None => self.listing(key),
            })
            .collect::<Result<_, _>>()?;
        let mut docs = Vec::with_capacity(listings.len());
        for ((key, change), loaded) in listings.iter().zip(&loaded) {
            let current = change.current.as_ref().or(loaded.as_ref()).filter(|o| is_searchable(o, now));
            // An auction is found and sorted by what it costs now: its high bid, once it has one.
            let high_bid = match current {
                Some(o) if o.listing().is_some_and(|l| l.kind == haggle_protocol::ListingKind::Auction) => {
                    self.high_bid(key, o)?
                }
                _ => None,
            };
            docs.push((*key, change.indexed, current.map(|o| (o, high_bid))));
        }
        self.index.feed(docs, watermark)?;
        Ok(())
    }

    /// The high bid held on the auction `key` (whose current revision is `listing`).
    fn high_bid(&self, key: &ListingKey, listing: &Object) -> Result<Option<u64>, StoreError> {
        let bids = self.public_offers_on(key)?;
        if bids.is_empty() {
            return Ok(None);
        }
        let view = haggle_protocol::AuctionView::new(listing, bids.iter());
        Ok(view.and_then(|v| v.leader().map(|b| b.amount)))
    }

    /// Rebuilds the search index from the database.
    pub fn rebuild_index(&self) -> Result<(), StoreError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        let watermark = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.keys.clear();
            pending.last_seq
        };
        self.index.clear()?;
        let mut keys_seen = Vec::new();
        let mut max_seq = watermark;
        for entry in self.db.scan_prefix([keys::HEAD]) {
            let (k, v) = entry?;
            let head = Head::decode(&v).ok_or(StoreError::Corrupt { what: "listing head" })?;
            max_seq = max_seq.max(head.seq);
            let key = keys::listing_key_of_head(&k).ok_or(StoreError::Corrupt { what: "listing key" })?;
            keys_seen.push((key, IndexChange::default()));
        }
        // Until the last chunk lands, the watermark stays 0: a crash mid-way redoes it all.
        let chunks: Vec<&[(ListingKey, IndexChange)]> = keys_seen.chunks(INDEX_BATCH * 10).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mark = if i + 1 == chunks.len() { max_seq } else { 0 };
            self.index_listings(chunk, mark)?;
            self.index.commit()?;
        }
        if chunks.is_empty() {
            self.index.apply(std::iter::empty(), max_seq)?;
        }
        // The last change is at least what the index now holds (a clean shutdown records it).
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.last_seq = pending.last_seq.max(max_seq);
        drop(pending);
        for k in self.db.scan_prefix([keys::INDEX_PENDING]).keys() {
            self.db.remove(k?)?;
        }
        Ok(())
    }

    /// Counts of what the store holds, for `haggle status`.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let now = Timestamp::now();
        let mut stats = StoreStats::default();
        for v in self.db.scan_prefix([keys::HEAD]).values() {
            let head = Head::decode(&v?).ok_or(StoreError::Corrupt { what: "listing head" })?;
            if head.closed {
                stats.closed_listings += 1;
            } else if head.expires_at > now {
                stats.active_listings += 1;
            } else {
                stats.expired_listings += 1;
            }
        }
        stats.threads = count_distinct_threads(&self.db)?;
        stats.deals = self.db.scan_prefix([keys::DEAL]).count();
        stats.feedback = self.db.scan_prefix([keys::FEEDBACK_ABOUT]).count();
        stats.index_error = self.index_error();
        stats.index_pending = self.pending_index_len()
            + self.index.uncommitted()
            + self.db.scan_prefix([keys::INDEX_PENDING]).count();
        stats.size_on_disk = self.db.size_on_disk()?;
        stats.index_size = self.index_size();
        Ok(stats)
    }

    /// The search index's size on disk, in bytes: the files in its directory.
    pub fn index_size(&self) -> u64 {
        dir_size(&self.path.join(INDEX_DIR))
    }

    /// Records and their bytes (keys plus values) per table, by the table's prefix byte: where
    /// the database's bytes go, for measurements. Scans everything.
    pub fn table_sizes(&self) -> Result<Vec<(char, usize, u64)>, StoreError> {
        let mut tables: std::collections::BTreeMap<u8, (usize, u64)> = std::collections::BTreeMap::new();
        for entry in self.db.iter() {
            let (k, v) = entry?;
            let t = tables.entry(k.first().copied().unwrap_or(b'?')).or_default();
            t.0 += 1;
            t.1 += (k.len() + v.len()) as u64;
        }
        Ok(tables.into_iter().map(|(t, (n, bytes))| (char::from(t), n, bytes)).collect())
    }

    /// The database's size on disk, in bytes, as sled reports it.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Number of documents in the search index (for tests and diagnostics).
    pub fn indexed_listings(&self) -> u64 {
        self.index.num_docs()
    }
}

/// A directory's device and inode.
fn place_of(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir)?;
    Ok((meta.dev(), meta.ino()))
}

impl Drop for Store {
    /// A clean shutdown: everything on disk, and a mark that says so.
    fn drop(&mut self) {
        // With the index caught up, the mark records the last change so the next open can skip
        // scanning every listing for changes the index missed.
        let mark = match self.catch_up_index() {
            Ok(()) => self.pending.lock().unwrap_or_else(|p| p.into_inner()).last_seq.to_be_bytes().to_vec(),
            Err(_) => Vec::new(),
        };
        let result =
            self.db.flush().and_then(|_| self.db.insert(keys::CLEAN_KEY, mark)).and_then(|_| self.db.flush());
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not flush the store on shutdown");
        }
    }
}

fn count_distinct_threads(db: &sled::Db) -> Result<usize, StoreError> {
    let mut count = 0;
    let mut last: Option<ObjectId> = None;
    for k in db.scan_prefix([keys::THREAD]).keys() {
        let k = k?;
        let thread =
            keys::tail::<64>(&k).map(|b| ObjectId::from_bytes(b[..32].try_into().expect("32 of 64")));
        if thread != last {
            count += 1;
            last = thread;
        }
    }
    Ok(count)
}

/// Whether a listing revision belongs in search results at `now`.
pub(crate) fn is_searchable(object: &Object, now: Timestamp) -> bool {
    object.listing().is_some_and(|l| l.status == haggle_protocol::ListingStatus::Active && l.expires_at > now)
}

/// Decodes bytes this store wrote after verifying them.
pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Object, StoreError> {
    Object::decode_unverified(bytes).map_err(|_| StoreError::Corrupt { what: "stored object" })
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{DAY, key, live_listing, sign_now};
    use haggle_protocol::{Body, Listing};

    use super::*;
    use crate::Durability;

    fn listing(n: u8, title: &str, category: &str) -> haggle_protocol::Verified<Object> {
        let l = Listing { nonce: [n; 16], category: category.into(), ..live_listing(title) };
        sign_now(&key(1), Body::Listing(l))
    }

    /// After a failed quiet commit the next waits [`QUIET_RETRY`], and a commit that panics
    /// gives its claim up as a failure: the quiet commits go on after it.
    #[test]
    fn a_failed_or_panicking_quiet_commit_is_tried_again_a_minute_later() {
        let waiting = || PendingIndex {
            keys: (0..QUIET_MIN)
                .map(|i| {
                    let mut nonce = [0; 16];
                    nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    (ListingKey { author: key(1).public(), nonce }, IndexChange::default())
                })
                .collect(),
            last_noted: Some(std::time::Instant::now()),
            ..PendingIndex::default()
        };
        let quiet = std::time::Duration::ZERO;
        assert!(quiet_due(&waiting(), 0, quiet), "enough changes, quiet");
        assert!(!quiet_due(&PendingIndex { quiet_running: true, ..waiting() }, 0, quiet), "one runs");
        let failed_now = PendingIndex { quiet_failed: Some(std::time::Instant::now()), ..waiting() };
        assert!(!quiet_due(&failed_now, 0, quiet), "failed just now: waits");
        if let Some(a_minute_ago) = std::time::Instant::now().checked_sub(QUIET_RETRY) {
            let failed_before = PendingIndex { quiet_failed: Some(a_minute_ago), ..waiting() };
            assert!(quiet_due(&failed_before, 0, quiet), "failed a minute ago: tried again");
        }
        // A commit that panics while it holds the claim: the claim is given up, as a failure.
        let pending = Mutex::new(PendingIndex { quiet_running: true, ..waiting() });
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _claim = QuietClaim { pending: &pending, failed: true };
            panic!("the index's writer failed");
        }));
        assert!(panicked.is_err());
        let after = pending.lock().unwrap_or_else(|p| p.into_inner());
        assert!(!after.quiet_running && after.quiet_failed.is_some(), "released, as a failure");
        // One that succeeds gives it up clean.
        drop(after);
        drop(QuietClaim { pending: &pending, failed: false });
        assert!(pending.lock().expect("lock").quiet_failed.is_none());
    }

    /// A store a few times larger than the smallest cache a node may set (`cache_mib = 1`)
    /// writes, reopens and reads every listing back, by key and by search.
    #[test]
    fn a_store_larger_than_its_cache_reads_every_listing_back() {
        const SMALL: u64 = 1;
        let listings: Vec<_> = (0..4_000u32)
            .map(|i| {
                let mut l = live_listing(&format!("Oak chair number {i}"));
                l.description = format!("A chair of oak, {i} of a set: {}", "sturdy and plain. ".repeat(40));
                l.nonce[..4].copy_from_slice(&i.to_be_bytes());
                sign_now(&haggle_protocol::fixtures::author(i % 50), Body::Listing(l))
            })
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open_with_cache(dir.path(), SMALL).expect("open");
            let bytes: Vec<&[u8]> = listings.iter().map(|o| o.bytes()).collect();
            let _ = store.ingest_batch(&bytes, Durability::Flush).expect("batch");
        }
        let written: u64 = listings.iter().map(|o| o.bytes().len() as u64).sum();
        assert!(written > 3 * (SMALL << 20), "the listings ({written} bytes) outgrow the cache");
        let store = Store::open_with_cache(dir.path(), SMALL).expect("reopen");
        assert_eq!(store.listings_held().expect("count"), listings.len());
        for l in &listings {
            let held = store.get(&l.id()).expect("read").expect("every listing is read back");
            assert_eq!(held.bytes(), l.bytes());
        }
        let found = store.search(&crate::SearchQuery::new("oak chair")).expect("search");
        assert_eq!(found.total, listings.len());
    }

    #[test]
    fn objects_survive_reopening_and_the_index_catches_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids: Vec<ObjectId> = {
            let store = Store::open(dir.path()).expect("open");
            let objects: Vec<_> = (0..5).map(|n| listing(n, "Desk lamp", "home/lighting")).collect();
            for o in &objects {
                // Lazy and few: nothing has triggered an index commit yet.
                assert!(store.ingest(o.bytes(), Durability::Lazy).expect("ingest").is_new());
            }
            store.flush().expect("flush");
            assert_eq!(store.stats().expect("stats").index_pending, 5);
            objects.iter().map(|o| o.id()).collect()
        };
        let store = Store::open(dir.path()).expect("reopen");
        for id in &ids {
            assert!(store.get(id).expect("read").is_some());
        }
        assert_eq!(store.stats().expect("stats").index_pending, 0);
        assert_eq!(store.indexed_listings(), 5);
    }

    /// From a trial: after one failed write of the search index (a full disk), what it held was
    /// lost, and the next commit's watermark passed it, so those listings stayed out of search
    /// for good, restarts included, and every search failed meanwhile.
    #[test]
    fn listings_a_failed_index_commit_lost_are_taken_again_and_searches_go_on() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().expect("tempdir");
        let titles =
            |store: &Store, words: &str| store.search(&crate::SearchQuery::new(words)).expect("search").total;
        let add = |store: &Store, n: u8, title: &str| {
            let new = store.ingest(listing(n, title, "home").bytes(), Durability::Flush).expect("ingest");
            assert!(new.is_new(), "{title}");
        };
        {
            let store = Store::open(dir.path()).expect("open");
            add(&store, 1, "Oak desk");
            assert_eq!(titles(&store, "desk"), 1);
            store.index.failing_commits.store(2, Ordering::Relaxed);
            add(&store, 2, "Brass lamp");
            // The commit fails: the search finds what the index took before, and says nothing new.
            assert_eq!(titles(&store, "desk"), 1, "old listings are still found");
            assert_eq!(titles(&store, "lamp"), 0);
            let stats = store.stats().expect("stats");
            assert!(stats.index_error.as_deref().is_some_and(|e| e.contains("disk is full")), "{stats:?}");
            assert_eq!(stats.index_pending, 1, "the lamp waits");
            assert_eq!(store.index_error(), stats.index_error, "what a search page carries");
            assert!(store.db.get(keys::INDEX_SUSPECT_KEY).expect("read").is_some());
            // The next catch-up takes it.
            assert_eq!(titles(&store, "lamp"), 1, "taken again once the index can");
            assert_eq!(store.stats().expect("stats").index_error, None);
            assert!(store.db.get(keys::INDEX_SUSPECT_KEY).expect("read").is_none());
            // A failure the run ends with: the next open rebuilds the index.
            store.index.failing_commits.store(usize::MAX, Ordering::Relaxed);
            add(&store, 3, "Pine shelf");
            assert_eq!(titles(&store, "shelf"), 0);
            add(&store, 4, "Walnut chair");
        }
        let store = Store::open(dir.path()).expect("reopen");
        for words in ["desk", "lamp", "shelf", "chair"] {
            assert_eq!(titles(&store, words), 1, "{words}");
        }
        assert!(store.db.get(keys::INDEX_SUSPECT_KEY).expect("read").is_none());
    }

    #[test]
    fn a_data_dir_deleted_or_replaced_under_the_store_is_noticed() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("data");
        let store = Store::open(&dir).expect("open");
        assert!(store.still_in_place().is_ok());
        std::fs::rename(&dir, root.path().join("moved")).expect("move");
        let gone = store.still_in_place().expect_err("moved away");
        assert!(
            gone.needs_restart() && gone.fix().starts_with("the data dir was moved or deleted"),
            "{gone}"
        );
        assert!(gone.to_string().contains("is gone"), "{gone}");
        std::fs::create_dir(&dir).expect("another in its place");
        let other = store.still_in_place().expect_err("replaced");
        assert!(other.needs_restart() && other.to_string().contains("is another directory"), "{other}");
    }

    #[test]
    fn a_data_dir_in_use_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(Store::ensure_not_in_use(dir.path()).is_ok(), "no database yet");
        assert_eq!(Store::in_use(dir.path()), None, "no database yet");
        let running = Store::open(dir.path()).expect("open");
        assert!(matches!(Store::ensure_not_in_use(dir.path()), Err(OpenError::Locked { .. })));
        assert_eq!(Store::in_use(dir.path()), Some(true));
        match Store::open(dir.path()) {
            Err(e @ OpenError::Locked { .. }) => {
                let text = e.to_string();
                assert!(text.contains("another node is running") && text.contains("--data-dir"), "{text}");
            }
            other => panic!("expected Locked, got {:?}", other.err()),
        }
        drop(running);
    }

    /// Defect (found in a trial): a database cut short read "Read corrupted data at file offset
    /// None backtrace ()", with nothing about what to do.
    #[test]
    fn a_damaged_database_is_said_with_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for n in 0u32..5_000 {
            store.db.insert(n.to_be_bytes(), vec![7u8; 100]).expect("a write");
        }
        store.flush().expect("flush");
        drop(store);
        // Opened again, sled leaves a snapshot of where its log stood: the log cut short then
        // ends before it.
        drop(Store::open(dir.path()).expect("opened again"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("db").join("db"))
            .expect("the db file");
        file.set_len(1_000).expect("cut short");
        drop(file);
        match Store::open(dir.path()) {
            Err(e @ OpenError::Damaged { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("is damaged")
                        && text.contains("from a backup")
                        && text.contains("identity.key"),
                    "{text}"
                );
            }
            other => panic!("expected Damaged, got {:?}", other.err()),
        }
    }

    /// A database restored from a backup beside the index of later days: the index is rebuilt,
    /// so a listing synced back in after the restore is found once, not twice; and the clean mark
    /// a store leaves after a rebuild is not behind its index (each open would rebuild again).
    #[test]
    fn a_database_restored_beside_a_newer_index_gets_its_index_rebuilt() {
        fn copy(from: &std::path::Path, to: &std::path::Path) {
            std::fs::create_dir_all(to).expect("mkdir");
            for entry in std::fs::read_dir(from).expect("read dir") {
                let entry = entry.expect("entry");
                let target = to.join(entry.file_name());
                if entry.file_type().expect("type").is_dir() {
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), target).expect("copy");
                }
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let backup = tempfile::tempdir().expect("tempdir");
        let older = listing(1, "Desk lamp", "home/lighting");
        let later = listing(2, "Floor lamp", "home/lighting");
        {
            let store = Store::open(dir.path()).expect("open");
            assert!(store.ingest(older.bytes(), Durability::Flush).expect("ingest").is_new());
        }
        copy(&dir.path().join("db"), backup.path());
        {
            let store = Store::open(dir.path()).expect("reopen");
            assert!(store.ingest(later.bytes(), Durability::Flush).expect("ingest").is_new());
            assert_eq!(store.search(&SearchQuery::new("lamp")).expect("search").total, 2);
        }
        std::fs::remove_dir_all(dir.path().join("db")).expect("remove");
        copy(backup.path(), &dir.path().join("db"));
        {
            let store = Store::open(dir.path()).expect("open the restored database");
            assert_eq!(store.search(&SearchQuery::new("lamp")).expect("search").total, 1, "the backup's");
        }
        // Closed with no write after the rebuild: the clean mark it leaves is not behind the
        // index the rebuild committed (or every later open would rebuild again).
        let watermark = {
            let (index, fresh) = SearchIndex::open(&dir.path().join(INDEX_DIR)).expect("index");
            assert!(!fresh);
            index.watermark().expect("watermark")
        };
        {
            let db = sled::open(dir.path().join("db")).expect("sled");
            let mark = db.get(keys::CLEAN_KEY).expect("read").expect("a clean mark");
            let last = u64::from_be_bytes(mark.as_ref().try_into().expect("a sequence number"));
            assert!(last >= watermark, "the mark ({last}) is not behind the index ({watermark})");
        }
        let store = Store::open(dir.path()).expect("open again");
        // Sync brings the later listing back: found once.
        assert!(store.ingest(later.bytes(), Durability::Flush).expect("ingest").is_new());
        assert_eq!(store.search(&SearchQuery::new("floor lamp")).expect("search").total, 1, "found once");
        assert_eq!(store.search(&SearchQuery::new("lamp")).expect("search").total, 2);
    }

    #[test]
    fn a_lost_index_is_rebuilt_from_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            let o = listing(1, "Desk lamp", "home/lighting");
            assert!(store.ingest_own(&o).expect("ingest").is_new());
        }
        std::fs::remove_dir_all(dir.path().join("index")).expect("remove index");
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.search(&crate::SearchQuery::new("lamp")).expect("search").total, 1);
    }

    /// An index an older build made (as after an upgrade that changed its layout) is rebuilt,
    /// and its hits are the listings' current revisions, read by the ids it now keeps.
    #[test]
    fn an_index_of_another_version_is_rebuilt_from_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let revised = {
            let store = Store::open(dir.path()).expect("open");
            for n in 0..3 {
                assert!(
                    store.ingest_own(&listing(n, "Desk lamp", "home/lighting")).expect("ingest").is_new()
                );
            }
            let l = Listing { revision: 2, nonce: [1; 16], ..live_listing("Desk lamp, brass") };
            let revised = sign_now(&key(1), Body::Listing(l));
            assert!(store.ingest_own(&revised).expect("ingest").is_new());
            revised
        };
        let version = dir.path().join(INDEX_DIR).join("haggle-index-version");
        std::fs::write(&version, "4").expect("write version");
        let store = Store::open(dir.path()).expect("reopen");
        let now = std::fs::read_to_string(&version).expect("read version");
        assert_eq!(now, crate::search::INDEX_VERSION.to_string());
        let lamps = store.search(&crate::SearchQuery::new("lamp")).expect("search");
        assert_eq!(lamps.total, 3);
        let brass = store.search(&crate::SearchQuery::new("brass")).expect("search");
        assert_eq!(brass.hits.iter().map(|h| h.listing.id()).collect::<Vec<_>>(), [revised.id()]);
        // A file where the index directory belongs is replaced by a rebuilt index (found in a
        // trial: the node would not start, "Not a directory").
        drop(store);
        std::fs::remove_dir_all(dir.path().join(INDEX_DIR)).expect("index gone");
        std::fs::write(dir.path().join(INDEX_DIR), "not an index").expect("a file in its place");
        let store = Store::open(dir.path()).expect("reopen over a file");
        assert_eq!(store.search(&crate::SearchQuery::new("lamp")).expect("search").total, 3);
    }

    #[test]
    fn the_sweep_removes_expired_listings_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let o = listing(1, "Desk lamp", "home/lighting");
        let key = o.listing_key().expect("listing");
        assert!(store.ingest_own(&o).expect("ingest").is_new());
        assert_eq!(store.sweep_expired(Timestamp::now()).expect("sweep").listings, 0);
        assert_eq!(
            store.sweep_expired(Timestamp::now().saturating_add(31 * DAY)).expect("sweep").listings,
            1
        );
        assert!(store.get(&o.id()).expect("read").is_none());
        assert!(store.listing(&key).expect("read").is_none());
        assert_eq!(store.indexed_listings(), 0);
        assert_eq!(store.db.scan_prefix([keys::RECON]).count(), 0);
    }

    #[test]
    fn prefixes_find_one_or_list_candidates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let objects: Vec<_> = (0..40).map(|n| listing(n, "Desk lamp", "home/lighting")).collect();
        for o in &objects {
            let _ = store.ingest(o.bytes(), Durability::Lazy).expect("ingest");
        }
        let id = objects[0].id();
        let full: IdPrefix = id.to_hex()[..12].parse().expect("prefix");
        assert_eq!(store.lookup(&full).expect("lookup"), Lookup::One(id));
        let missing: IdPrefix = "ffffffffffff".parse().expect("prefix");
        assert!(matches!(store.lookup(&missing).expect("lookup"), Lookup::None | Lookup::One(_)));
        // 40 ids over 16 first hex digits: some digit starts several of them.
        let digit = (0..16u8)
            .map(|d| format!("{d:x}"))
            .find(|d| objects.iter().filter(|o| o.id().to_hex().starts_with(d.as_str())).count() > 1)
            .expect("pigeonhole");
        match store.lookup(&haggle_protocol::fixtures::short_prefix(&digit)).expect("lookup") {
            Lookup::Ambiguous(ids) => assert!(ids.iter().all(|id| id.to_hex().starts_with(&digit))),
            other => panic!("not ambiguous: {other:?}"),
        }
    }

    #[test]
    fn listings_by_author() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for (n, cat) in [(1, "home/lighting"), (2, "home"), (3, "tools")] {
            let _ = store.ingest(listing(n, "Thing", cat).bytes(), Durability::Lazy).expect("ingest");
        }
        assert_eq!(store.listings_by(&key(1).public()).expect("read").len(), 3);
        assert!(store.listings_by(&key(2).public()).expect("read").is_empty());
    }
}
