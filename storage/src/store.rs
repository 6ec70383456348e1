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
        self.search_at(query, Timestamp::now())
    }

    /// [`Self::search`] as if the clock read `now` (expiry is judged against it).
    pub(crate) fn search_at(
        &self,
        query: &SearchQuery,
        now: Timestamp,
    ) -> Result<SearchResults, SearchError> {
        self.catch_up_index()?;
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

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{DAY, key, live_listing, sign_now};
    use haggle_protocol::{Body, Listing};

    use super::*;
    use crate::Durability;

    fn listing(n: u8, title: &str, category: &str) -> haggle_protocol::Verified<Object> {
        let l = Listing {
            nonce: [n; 16],
            category: category.into(),
            ..live_listing(title)
        };
        sign_now(&key(1), Body::Listing(l))
    }

    #[test]
    fn objects_survive_reopening_and_the_index_catches_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids: Vec<ObjectId> = {
            let store = Store::open(dir.path()).expect("open");
            let objects: Vec<_> = (0..5)
                .map(|n| listing(n, "Desk lamp", "home/lighting"))
                .collect();
            for o in &objects {
                // Lazy and few: nothing has triggered an index commit yet.
                assert!(
                    store
                        .ingest(o.bytes(), Durability::Lazy)
                        .expect("ingest")
                        .is_new()
                );
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
        assert_eq!(
            store
                .search(&crate::SearchQuery::new("lamp"))
                .expect("search")
                .total,
            1
        );
    }

    #[test]
    fn a_database_of_another_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            store
                .db
                .insert(keys::SCHEMA_KEY, &99u32.to_be_bytes())
                .expect("write");
            store.flush().expect("flush");
        }
        let err = Store::open(dir.path()).expect_err("refused");
        assert!(
            matches!(err, OpenError::SchemaVersion { found: 99, .. }),
            "{err}"
        );
    }

    #[test]
    fn the_sweep_removes_expired_listings_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let o = listing(1, "Desk lamp", "home/lighting");
        let key = o.listing_key().expect("listing");
        assert!(store.ingest_own(&o).expect("ingest").is_new());
        assert_eq!(store.sweep_expired(Timestamp::now()).expect("sweep"), 0);
        assert_eq!(
            store
                .sweep_expired(Timestamp::now().saturating_add(31 * DAY))
                .expect("sweep"),
            1
        );
        assert!(store.get(&o.id()).expect("read").is_none());
        assert!(store.listing(&key).expect("read").is_none());
        assert!(store.listings_in_category("home").expect("read").is_empty());
        assert_eq!(store.indexed_listings(), 0);
        assert_eq!(store.db.scan_prefix([keys::RECON]).count(), 0);
    }

    #[test]
    fn prefixes_find_one_or_list_candidates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let objects: Vec<_> = (0..40)
            .map(|n| listing(n, "Desk lamp", "home/lighting"))
            .collect();
        for o in &objects {
            let _ = store.ingest(o.bytes(), Durability::Lazy).expect("ingest");
        }
        let id = objects[0].id();
        let full: IdPrefix = id.to_hex()[..12].parse().expect("prefix");
        assert_eq!(store.lookup(&full).expect("lookup"), Lookup::One(id));
        let missing: IdPrefix = "ffffffffffff".parse().expect("prefix");
        assert!(matches!(
            store.lookup(&missing).expect("lookup"),
            Lookup::None | Lookup::One(_)
        ));
        // 40 ids over 16 first hex digits: some digit starts several of them.
        let digit = (0..16u8)
            .map(|d| format!("{d:x}"))
            .find(|d| {
                objects
                    .iter()
                    .filter(|o| o.id().to_hex().starts_with(d.as_str()))
                    .count()
                    > 1
            })
            .expect("pigeonhole");
        match store
            .lookup(&haggle_protocol::fixtures::short_prefix(&digit))
            .expect("lookup")
        {
            Lookup::Ambiguous(ids) => assert!(ids.iter().all(|id| id.to_hex().starts_with(&digit))),
            other => panic!("not ambiguous: {other:?}"),
        }
    }

    #[test]
    fn listings_by_author_and_category() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for (n, cat) in [
            (1, "home/lighting"),
            (2, "home"),
            (3, "home-office"),
            (4, "tools"),
        ] {
            let _ = store
                .ingest(listing(n, "Thing", cat).bytes(), Durability::Lazy)
                .expect("ingest");
        }
        assert_eq!(store.listings_by(&key(1).public()).expect("read").len(), 4);
        assert!(
            store
                .listings_by(&key(2).public())
                .expect("read")
                .is_empty()
        );
        assert_eq!(store.listings_in_category("home").expect("read").len(), 2);
    }
}
