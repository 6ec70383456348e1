//! The store: opening, reading, durability, the search index's catch-up, and the expiry sweep.
//! Writing objects lives in `ingest.rs`, threads and deals in `threads.rs`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use haggle_protocol::{IdPrefix, ListingKey, Object, ObjectId, PublicKey, Timestamp};

use crate::error::{DbError, OpenError, SearchError, StoreError};
use crate::keys::{self, Head};
use crate::search::{SearchHit, SearchIndex, SearchQuery, SearchResults};

/// The layout version of the database; a database of another version is refused rather than
/// misread.
pub const SCHEMA_VERSION: u32 = 1;

/// sled's page cache: large enough for the hot part of 100,000 listings, small enough to keep the
/// whole node within its memory target (sled's default is 1 GiB).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How often sled writes lazily ingested data to disk on its own. Objects from gossip can be a
/// moment late to disk: sync brings back anything a crash loses.
const FLUSH_EVERY_MS: u64 = 500;

/// How many pending index entries make an ingest bring the index up to date at once, so search
/// stays fresh and the pending table small during a long stream of gossip.
pub(crate) const INDEX_BATCH: usize = 2_000;

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
    pub key: ListingKey,
    pub object: Object,
}

/// Counts for `haggle status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Listings whose current revision is active and unexpired.
    pub active_listings: usize,
    /// Listings whose current revision is a tombstone.
    pub closed_listings: usize,
    pub threads: usize,
    pub deals: usize,
    /// Listing changes the search index has yet to take in.
    pub index_pending: usize,
    pub size_on_disk: u64,
}

/// What a prefix lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    None,
    One(ObjectId),
    /// The prefix matches several ids (at most a handful are listed).
    Ambiguous(Vec<ObjectId>),
}

/// The node's database: signed objects, listing revisions, threads, deals and the search index.
/// Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct Store {
    pub(crate) db: sled::Db,
    pub(crate) index: SearchIndex,
    /// Serialises writers: ingest reads current state, decides, then writes one batch.
    pub(crate) write_lock: Mutex<()>,
    /// Serialises index catch-up, so two threads never replay the same entries at once.
    index_lock: Mutex<()>,
    /// Roughly how many listing changes await the index (exact count lives in the database).
    pub(crate) pending_hint: AtomicUsize,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `dir`: the database in `dir/db`, the index in `dir/index`.
    /// Brings the index up to date with anything it missed, e.g. after a crash.
    pub fn open(dir: &Path) -> Result<Store, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let db_path = dir.join("db");
        let db = sled::Config::new()
            .path(&db_path)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(FLUSH_EVERY_MS))
            .open()
            .map_err(|e| OpenError::Database {
                path: db_path.clone(),
                source: DbError(e),
            })?;
        let db_err = |e: sled::Error| OpenError::Database {
            path: db_path.clone(),
            source: DbError(e),
        };
        match db.get(keys::SCHEMA_KEY).map_err(db_err)? {
            None => {
                db.insert(keys::SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(db_err)?;
                db.flush().map_err(db_err)?;
            }
            Some(v) => {
                let found = v.as_ref().try_into().map(u32::from_be_bytes).unwrap_or(0);
                if found != SCHEMA_VERSION {
                    return Err(OpenError::SchemaVersion {
                        path: db_path,
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
        }
        let index_path = dir.join("index");
        let (index, fresh) = SearchIndex::open(&index_path).map_err(|source| OpenError::Index {
            path: index_path,
            source,
        })?;
        let store = Store {
            db,
            index,
            write_lock: Mutex::new(()),
            index_lock: Mutex::new(()),
            pending_hint: AtomicUsize::new(0),
            path: dir.to_owned(),
        };
        if fresh {
            store.rebuild_index().map_err(OpenError::CatchUp)?;
        } else {
            store.catch_up_index().map_err(OpenError::CatchUp)?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The object with this id, as stored (it was verified before it was stored).
    pub fn get(&self, id: &ObjectId) -> Result<Option<Object>, StoreError> {
        match self.db.get(keys::object(id))? {
            None => Ok(None),
            Some(bytes) => decode_stored(&bytes).map(Some),
        }
    }

    pub fn contains(&self, id: &ObjectId) -> Result<bool, StoreError> {
        Ok(self.db.contains_key(keys::object(id))?)
    }

    /// Finds the object whose id starts with `prefix` (objects, and deals by their id).
    pub fn lookup(&self, prefix: &IdPrefix) -> Result<Lookup, StoreError> {
        let mut found = Vec::new();
        for table in [keys::OBJECT, keys::DEAL] {
            for entry in self
                .db
                .scan_prefix(keys::key(table, &[&prefix.leading_bytes()]))
                .keys()
            {
                let id =
                    keys::id_at_end(&entry?).ok_or(StoreError::Corrupt { what: "object key" })?;
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

    pub(crate) fn head(&self, key: &ListingKey) -> Result<Option<Head>, StoreError> {
        match self.db.get(keys::head(key))? {
            None => Ok(None),
            Some(v) => Head::decode(&v).map(Some).ok_or(StoreError::Corrupt {
                what: "listing head",
            }),
        }
    }

    /// The current revision of every listing by `author`, newest first, tombstones included.
    pub fn listings_by(&self, author: &PublicKey) -> Result<Vec<ListingEntry>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(keys::head_prefix_of_author(author)) {
            let (k, v) = entry?;
            let key = keys::listing_key_at_end(&k).ok_or(StoreError::Corrupt {
                what: "listing key",
            })?;
            let head = Head::decode(&v).ok_or(StoreError::Corrupt {
                what: "listing head",
            })?;
            if let Some(object) = self.get(&head.id)? {
                out.push(ListingEntry { key, object });
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.object.created_at()));
        Ok(out)
    }

    /// Every listing key whose current revision is in `category` or below it.
    pub fn listings_in_category(&self, category: &str) -> Result<Vec<ListingKey>, StoreError> {
        let mut out = Vec::new();
        for entry in self
            .db
            .scan_prefix(keys::key(keys::CATEGORY, &[category.as_bytes()]))
            .keys()
        {
            let k = entry?;
            let rest = &k[1 + category.len()..];
            // `bikes` must not match `bikes-parts`: the next byte is the 0 separator or a `/`.
            if rest.first() == Some(&0) || rest.first() == Some(&b'/') {
                out.extend(keys::listing_key_at_end(&k));
            }
        }
        Ok(out)
    }

    /// Ranked search over active, unexpired listings.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        self.catch_up_index()?;
        let now = Timestamp::now();
        let (total, page) = self.index.search(query, now)?;
        let mut hits = Vec::with_capacity(page.len());
        for (key, score) in page {
            // The index can briefly trail the store; show only what the store still holds.
            if let Some(object) = self.listing(&key)? {
                hits.push(SearchHit {
                    listing: object,
                    score,
                });
            }
        }
        Ok(SearchResults { total, hits })
    }

    /// Takes every pending listing change into the search index. Cheap when nothing is pending.
    pub fn catch_up_index(&self) -> Result<(), StoreError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let mut batch: Vec<(ListingKey, sled::IVec)> = Vec::new();
            for entry in self
                .db
                .scan_prefix([keys::INDEX_PENDING])
                .take(INDEX_BATCH * 4)
            {
                let (k, seq) = entry?;
                batch.push((
                    keys::listing_key_at_end(&k).ok_or(StoreError::Corrupt {
                        what: "pending key",
                    })?,
                    seq,
                ));
            }
            if batch.is_empty() {
                self.pending_hint.store(0, Ordering::Relaxed);
                return Ok(());
            }
            let mut docs = Vec::with_capacity(batch.len());
            let now = Timestamp::now();
            for (key, _) in &batch {
                let current = self.listing(key)?.filter(|o| is_searchable(o, now));
                docs.push((*key, current));
            }
            // What the index shows must be on disk first: otherwise a crash could leave the index
            // showing a listing the database lost.
            self.db.flush()?;
            self.index
                .apply(docs.iter().map(|(k, o)| (*k, o.as_ref())))?;
            for (key, seq) in batch {
                // Only clear entries no newer ingest has marked again meanwhile.
                let _ = self.db.compare_and_swap(
                    keys::index_pending(&key),
                    Some(seq),
                    None::<&[u8]>,
                )?;
            }
        }
    }

    /// Rebuilds the search index from the database.
    pub fn rebuild_index(&self) -> Result<(), StoreError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.index.clear()?;
        let now = Timestamp::now();
        let mut docs: Vec<(ListingKey, Object)> = Vec::new();
        for entry in self.db.scan_prefix([keys::HEAD]) {
            let (k, v) = entry?;
            let key = keys::listing_key_at_end(&k).ok_or(StoreError::Corrupt {
                what: "listing key",
            })?;
            let head = Head::decode(&v).ok_or(StoreError::Corrupt {
                what: "listing head",
            })?;
            if let Some(object) = self.get(&head.id)?.filter(|o| is_searchable(o, now)) {
                docs.push((key, object));
            }
            if docs.len() >= INDEX_BATCH * 10 {
                self.index.apply(docs.iter().map(|(k, o)| (*k, Some(o))))?;
                docs.clear();
            }
        }
        self.index.apply(docs.iter().map(|(k, o)| (*k, Some(o))))?;
        for k in self.db.scan_prefix([keys::INDEX_PENDING]).keys() {
            self.db.remove(k?)?;
        }
        Ok(())
    }

    /// Removes every listing whose current revision expired before `now`: all its revisions, its
    /// index entries and its search document. Returns how many listings went.
    pub fn sweep_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let end = keys::key(keys::EXPIRY, &[&now.to_be_bytes()]);
        let expired: Vec<sled::IVec> = self
            .db
            .range(vec![keys::EXPIRY]..end)
            .keys()
            .collect::<Result<_, _>>()?;
        for k in &expired {
            let key =
                keys::listing_key_at_end(k).ok_or(StoreError::Corrupt { what: "expiry key" })?;
            let mut batch = sled::Batch::default();
            batch.remove(k.clone());
            if let Some(head) = self.head(&key)? {
                batch.remove(keys::head(&key));
                batch.remove(keys::category(&head.category, &key));
                batch.remove(keys::recon(head.created_at, &head.id));
            }
            for rev in self
                .db
                .scan_prefix(keys::key(keys::REVISION, &[&key.to_bytes()]))
                .keys()
            {
                let rev = rev?;
                let id = keys::id_at_end(&rev).ok_or(StoreError::Corrupt {
                    what: "revision key",
                })?;
                batch.remove(keys::object(&id));
                batch.remove(rev);
            }
            self.mark_for_index(&mut batch, &key)?;
            self.db.apply_batch(batch)?;
        }
        drop(_guard);
        if !expired.is_empty() {
            self.catch_up_index()?;
        }
        Ok(expired.len())
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let now = Timestamp::now();
        let mut stats = StoreStats::default();
        for v in self.db.scan_prefix([keys::HEAD]).values() {
            let head = Head::decode(&v?).ok_or(StoreError::Corrupt {
                what: "listing head",
            })?;
            if head.closed {
                stats.closed_listings += 1;
            } else if head.expires_at > now {
                stats.active_listings += 1;
            }
        }
        stats.threads = count_distinct_threads(&self.db)?;
        stats.deals = self.db.scan_prefix([keys::DEAL]).count();
        stats.index_pending = self.db.scan_prefix([keys::INDEX_PENDING]).count();
        stats.size_on_disk = self.db.size_on_disk()?;
        Ok(stats)
    }

    /// Number of documents in the search index (for tests and diagnostics).
    pub fn indexed_listings(&self) -> u64 {
        self.index.num_docs()
    }
}

fn count_distinct_threads(db: &sled::Db) -> Result<usize, StoreError> {
    let mut count = 0;
    let mut last: Option<ObjectId> = None;
    for k in db.scan_prefix([keys::THREAD]).keys() {
        let k = k?;
        let thread = keys::tail::<64>(&k)
            .map(|b| ObjectId::from_bytes(b[..32].try_into().expect("32 of 64")));
        if thread != last {
            count += 1;
            last = thread;
        }
    }
    Ok(count)
}

/// Whether a listing revision belongs in search results at `now`.
pub(crate) fn is_searchable(object: &Object, now: Timestamp) -> bool {
    object
        .listing()
        .is_some_and(|l| l.status == haggle_protocol::ListingStatus::Active && l.expires_at > now)
}

/// Decodes bytes this store wrote after verifying them.
pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Object, StoreError> {
    Object::decode_unverified(bytes).map_err(|_| StoreError::Corrupt {
        what: "stored object",
    })
}
