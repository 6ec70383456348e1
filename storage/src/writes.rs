//! Atomic groups of writes to the one sled tree, made cheap for the small groups gossip brings.
//!
//! sled makes a `Batch` atomic by closing its current log buffer before and after the batch and
//! handing each closed buffer to its I/O thread pool, which wakes all seven of its threads for
//! every buffer. For one listing from gossip (four keys, a kilobyte) that was most of what
//! storing it cost: in the 50-node simulation, sled's threads made over half of every node's
//! futex calls and context switches.
//!
//! A small [`Batch`] is made atomic here instead by a journal entry in the same tree: the whole
//! batch is written as one record under `J` + a sequence number, then its writes are made one
//! by one (plain inserts, which only append to sled's open log buffer), then the record is
//! removed. sled recovers its log as a prefix (it stops at the first write that did not reach
//! the disk), so after a crash either the journal record is gone with everything after it, or
//! it is there and [`replay`] makes its writes again on open (they set keys to whole values, so
//! making them twice is harmless). A large batch (a sync's, a bulk import's) goes to sled as
//! one `Batch`: there the cost of closing the buffers is spread over many objects, and writing
//! everything twice would cost more.
//!
//! Readers may see a batch half made, so its writes are made in an order that keeps that
//! harmless (see [`Batch::ordered`]): the records others point at (objects, deals, outbox
//! entries, removal and eviction markers) before the records pointing at them, removals of
//! those records last, and search-index marks after every other change, so an index catch-up
//! that sees a mark also sees the change it is about. Readers of the other pointers skip a
//! target that is missing. A write outside any batch (the index catch-up clearing its marks by
//! compare-and-swap) can fall between a batch's writes; replaying it only brings back a mark,
//! which costs one more index check.
//!
//! A write that fails after its journal record is in the tree leaves the journal poisoned: every
//! later batch fails until the node restarts and replays the record. Otherwise later batches
//! would change the same keys and the replay, at the next start, would undo them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use sled::IVec;

use crate::error::StoreError;
use crate::keys;

/// Batches whose writes (keys and values) come to at most this many bytes are journaled;
/// larger ones go to sled as one `Batch`.
const JOURNAL_MAX_BYTES: usize = 64 * 1024;

/// A group of writes applied atomically by [`crate::Store::apply_writes`]. A later write to a
/// key replaces an earlier one in the same batch (as in `sled::Batch`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Batch {
    writes: BTreeMap<IVec, Option<IVec>>,
}

impl Batch {
    pub(crate) fn insert<K: Into<IVec>, V: Into<IVec>>(&mut self, key: K, value: V) {
        self.writes.insert(key.into(), Some(value.into()));
    }

    pub(crate) fn remove<K: Into<IVec>>(&mut self, key: K) {
        self.writes.insert(key.into(), None);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    fn bytes(&self) -> usize {
        self.writes.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len())).sum()
    }

    /// The writes in the order a reader may safely see them made: inserts of records others
    /// point at, other inserts, other removals, search-index marks, removals of records others
    /// point at.
    fn ordered(&self) -> impl Iterator<Item = (&IVec, &Option<IVec>)> {
        let step = |k: &IVec, v: &Option<IVec>| {
            let prefix = k.first().copied().unwrap_or_default();
            let target =
                matches!(prefix, keys::OBJECT | keys::DEAL | keys::OUTBOX | keys::GONE | keys::EVICTED);
            match (v.is_some(), target) {
                (true, true) => 0,
                (true, false) if prefix == keys::INDEX_PENDING => 3,
                (true, false) => 1,
                (false, false) => 2,
                (false, true) => 4,
            }
        };
        (0..5).flat_map(move |n| self.writes.iter().filter(move |(k, v)| step(k, v) == n))
    }

    /// The journal record: per write, a tag (1 insert, 0 removal), the key's length (4, BE),
    /// the key, and for an insert the value's length (4, BE) and the value.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes() + 9 * self.writes.len());
        for (k, v) in &self.writes {
            out.push(u8::from(v.is_some()));
            put(&mut out, k);
            if let Some(v) = v {
                put(&mut out, v);
            }
        }
        out
    }

    fn decode(mut bytes: &[u8]) -> Option<Batch> {
        let mut batch = Batch::default();
        while let Some((&tag, rest)) = bytes.split_first() {
            let (key, rest) = take(rest)?;
            bytes = rest;
            match tag {
                0 => batch.remove(key),
                1 => {
                    let (value, rest) = take(bytes)?;
                    bytes = rest;
                    batch.insert(key, value);
                }
                _ => return None,
            }
        }
        Some(batch)
    }

    fn into_sled(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (k, v) in self.writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        batch
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).expect("a key or value under 4 GiB").to_be_bytes());
    out.extend_from_slice(bytes);
}

fn take(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The journal record's key for sequence number `seq`.
pub(crate) fn journal_key(seq: u64) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = keys::JOURNAL;
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Makes the writes of every journal record a crash left behind, oldest first, and removes the
/// records. Called on open, before anything reads the tree. Returns how many it replayed.
pub(crate) fn replay(db: &sled::Db) -> Result<usize, StoreError> {
    let mut replayed = 0;
    for entry in db.scan_prefix([keys::JOURNAL]) {
        let (key, record) = entry?;
        let batch = Batch::decode(&record).ok_or(StoreError::Corrupt { what: "journal record" })?;
        apply_each(db, &batch)?;
        db.remove(key)?;
        replayed += 1;
    }
    if replayed > 0 {
        db.flush()?;
        tracing::info!(batches = replayed, "finished writes a crash interrupted");
    }
    Ok(replayed)
}

fn apply_each(db: &sled::Db, batch: &Batch) -> Result<(), StoreError> {
    for (k, v) in batch.ordered() {
        match v {
            Some(v) => db.insert(k, v.clone())?,
            None => db.remove(k)?,
        };
    }
    Ok(())
}

/// The journal's state: held while a batch is made, so batches never interleave (as sled's own
/// batches do not) and replay order is the order they were made in.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    next: std::sync::Mutex<u64>,
    /// Set when a batch failed after its record was written (see the module docs).
    poisoned: AtomicBool,
}

impl Journal {
    /// Applies `batch` atomically: journaled if small, as one sled batch if not.
    pub(crate) fn apply(&self, db: &sled::Db, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Interrupted);
        }
        if batch.bytes() > JOURNAL_MAX_BYTES {
            db.apply_batch(batch.into_sled())?;
            return Ok(());
        }
        let key = journal_key(*next);
        *next = next.wrapping_add(1);
        db.insert(key, batch.encode())?;
        let made = apply_each(db, &batch).and_then(|()| Ok(db.remove(key)?));
        if made.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        made.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new().path(dir.path()).open().expect("open");
        (dir, db)
    }

    fn sample() -> Batch {
        let mut batch = Batch::default();
        batch.insert(&b"hkey"[..], &b"head"[..]);
        batch.insert(&[keys::OBJECT, 1][..], &b"object"[..]);
        batch.remove(&[keys::OBJECT, 0][..]);
        batch.remove(&b"sgone"[..]);
        batch.insert(&b"empty"[..], &b""[..]);
        batch.insert(&[keys::INDEX_PENDING, 5][..], &b"seq"[..]);
        batch.insert(&[keys::DEAL, 2][..], &b"deal"[..]);
        batch
    }

    #[test]
    fn a_journal_record_round_trips() {
        let batch = sample();
        let back = Batch::decode(&batch.encode()).expect("decodes");
        assert_eq!(back.writes, batch.writes);
        assert!(Batch::decode(&[2, 0, 0, 0, 0]).is_none(), "an unknown tag");
        assert!(Batch::decode(&[1, 0, 0, 0, 9, 1]).is_none(), "a key cut short");
        assert!(Batch::decode(&[1, 0, 0, 0, 1, 7]).is_none(), "an insert without its value");
        assert!(Batch::decode(&[]).is_some_and(|b| b.is_empty()));
    }

    /// Records pointed at come first, index marks after the changes they are about (a swept
    /// head's removal), and removals of records pointed at last.
    #[test]
    fn writes_are_made_in_an_order_readers_can_meet_half_made() {
        let order: Vec<(Vec<u8>, bool)> =
            sample().ordered().map(|(k, v)| (k.to_vec(), v.is_some())).collect();
        assert_eq!(
            order,
            vec![
                (vec![keys::DEAL, 2], true),
                (vec![keys::OBJECT, 1], true),
                (b"empty".to_vec(), true),
                (b"hkey".to_vec(), true),
                (b"sgone".to_vec(), false),
                (vec![keys::INDEX_PENDING, 5], true),
                (vec![keys::OBJECT, 0], false),
            ]
        );
    }

    /// A batch that failed after its record was written: no later batch is made (it would be
    /// undone by the replay at the next start).
    #[test]
    fn a_poisoned_journal_takes_no_more_batches() {
        let (_dir, db) = temp_db();
        let journal = Journal::default();
        journal.poisoned.store(true, Ordering::Release);
        assert!(matches!(journal.apply(&db, sample()), Err(StoreError::Interrupted)));
        assert!(db.get(b"hkey").expect("get").is_none(), "nothing written");
        assert!(journal.apply(&db, Batch::default()).is_ok(), "an empty batch writes nothing");
    }

    /// The whole path through the store: a record a crash left is finished by `Store::open`.
    #[test]
    fn opening_a_store_finishes_an_interrupted_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = crate::Store::open(dir.path()).expect("open");
            let mut batch = Batch::default();
            batch.insert(&b"mnote"[..], &b"kept"[..]);
            store.db.insert(journal_key(7), batch.encode()).expect("record");
            store.db.flush().expect("flush");
        }
        let store = crate::Store::open(dir.path()).expect("reopen");
        assert_eq!(store.db.get(b"mnote").expect("get").as_deref(), Some(&b"kept"[..]));
        assert_eq!(store.db.scan_prefix([keys::JOURNAL]).count(), 0);
    }

    #[test]
    fn small_and_large_batches_both_apply_and_leave_no_journal() {
        let (_dir, db) = temp_db();
        db.insert([keys::OBJECT, 0], &b"old"[..]).expect("insert");
        db.insert(b"sgone", &b"x"[..]).expect("insert");
        let journal = Journal::default();
        journal.apply(&db, sample()).expect("small");
        assert_eq!(db.get(b"hkey").expect("get").as_deref(), Some(&b"head"[..]));
        assert_eq!(db.get([keys::OBJECT, 1]).expect("get").as_deref(), Some(&b"object"[..]));
        assert!(db.get([keys::OBJECT, 0]).expect("get").is_none());
        assert!(db.get(b"sgone").expect("get").is_none());
        let mut large = Batch::default();
        for i in 0..100u32 {
            large.insert(i.to_be_bytes().to_vec(), vec![7; 1024]);
        }
        assert!(large.bytes() > JOURNAL_MAX_BYTES);
        journal.apply(&db, large).expect("large");
        assert_eq!(db.get(99u32.to_be_bytes()).expect("get").map(|v| v.len()), Some(1024));
        assert_eq!(db.scan_prefix([keys::JOURNAL]).count(), 0, "no journal record is left");
    }

    /// A crash after the journal record reached the disk but before all its writes did: open
    /// makes them, once, and removes the record.
    #[test]
    fn a_journal_record_left_by_a_crash_is_replayed_on_open() {
        let (_dir, db) = temp_db();
        db.insert([keys::OBJECT, 0], &b"old"[..]).expect("insert");
        let batch = sample();
        db.insert(journal_key(41), batch.encode()).expect("record");
        db.insert(b"hkey", &b"half"[..]).expect("one write of the batch made");
        assert_eq!(replay(&db).expect("replay"), 1);
        assert_eq!(db.get(b"hkey").expect("get").as_deref(), Some(&b"head"[..]));
        assert_eq!(db.get([keys::OBJECT, 1]).expect("get").as_deref(), Some(&b"object"[..]));
        assert!(db.get([keys::OBJECT, 0]).expect("get").is_none());
        assert_eq!(db.scan_prefix([keys::JOURNAL]).count(), 0);
        assert_eq!(replay(&db).expect("again"), 0, "nothing left to replay");
        db.insert(journal_key(42), vec![9, 9]).expect("a damaged record");
        assert!(matches!(replay(&db), Err(StoreError::Corrupt { .. })));
    }
}
