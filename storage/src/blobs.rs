//! Files by content hash: pictures, thumbnails and digital goods' encrypted files.
//!
//! Each complete blob is two files under `blobs/`: the bytes (`<hash>`) and their BLAKE3
//! outboard (`<hash>.obao`: the tree's hash pairs, about 1/256 of the size), from which any
//! range of 16 KiB groups is sent with the hashes that prove it against the root alone. A blob
//! being fetched lives in `partial/` with a map of the groups verified so far (`<hash>.have`),
//! so a fetch resumes where it stopped, even after a restart. Nothing enters `partial/` without
//! passing verification against the hash the caller names (from a signed listing).
//!
//! Pinned blobs (the owner's own pictures and files) are never evicted; the others are a cache
//! kept within a byte budget, least recently used first, and dropped when no stored listing
//! names them any more ([`Blobs::retain`]).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bao_tree::io::outboard::PreOrderOutboard;
use bao_tree::io::sync::{CreateOutboard, DecodeResponseIter, encode_ranges_validated};
use bao_tree::io::{BaoContentItem, DecodeError};
use bao_tree::{BaoTree, BlockSize, ChunkNum, ChunkRanges};
use haggle_protocol::blob::{BlobHash, BlobRef, FileKey};

/// Verification group: 16 KiB, the unit of requests and of the resume map.
pub const GROUP_BYTES: u64 = 16 * 1024;
const BLOCK: BlockSize = BlockSize::from_chunk_log(4);
/// Most groups one request may ask for (256 KiB of data).
pub const MAX_GROUPS_PER_REQUEST: u32 = 16;
/// Most blobs being fetched at once; older partial fetches are dropped past it.
const MAX_PARTIAL: usize = 64;

/// What went wrong with a blob.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// Reading or writing the blob directory failed.
    #[error("blob store at {path}: {source}{}", full_disk_hint(source))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The bytes a peer sent do not hash to what the listing says: the sender's fault.
    #[error("a chunk of {0:?} does not match its hash")]
    Corrupt(BlobHash),
    /// The blob is not held here.
    #[error("file {0} is not held here")]
    Missing(BlobHash),
    /// A request asks for groups past the end or too many at once.
    #[error("bad range: groups {first}..+{count} of a {size}-byte file")]
    BadRange {
        /// First group asked for.
        first: u32,
        /// How many.
        count: u32,
        /// The blob's size.
        size: u64,
    },
    /// The file is over the size limit asked for.
    #[error("the file is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
}

/// What to do about a full disk or a refused write, after the system's own words.
fn full_disk_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::StorageFull => {
            " (the disk holding the node's files is full: free some space there, and try again; the pictures and files of other people's listings it keeps take at most blob_budget_mib in config.toml, and a lower one frees what they take over it at the next start)"
        }
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            ": give the node's user write access to the data dir and all in it"
        }
        _ => "",
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BlobError + '_ {
    move |source| BlobError::Io { path: path.to_owned(), source }
}

/// How far a fetch has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Verified bytes held.
    pub have: u64,
    /// The blob's size.
    pub size: u64,
    /// Whether the blob is whole and can be read: its last bytes written is not enough (the
    /// whole is hashed and moved into place after), so a reader told `complete` never finds
    /// it missing.
    pub complete: bool,
}

impl Progress {
    fn held(size: u64) -> Self {
        Progress { have: size, size, complete: true }
    }
}

#[derive(Debug)]
struct Entry {
    size: u64,
    /// Stored by the owner (an upload), and when: kept while the owner's listings or deals
    /// name it, and for a grace period after the upload (the listing naming it comes next).
    pinned: Option<SystemTime>,
    /// A logical clock of the last use, for least-recently-used eviction.
    used: u64,
}

#[derive(Debug)]
struct Partial {
    size: u64,
    have: Vec<bool>,
    used: u64,
    /// Every group is here and one `receive` is hashing the whole and moving it into place.
    finishing: bool,
}

impl Partial {
    fn have_bytes(&self) -> u64 {
        let groups = self.have.len() as u64;
        let full = self.have.iter().filter(|h| **h).count() as u64;
        if groups > 0 && self.have[groups as usize - 1] {
            (full - 1) * GROUP_BYTES + (self.size - (groups - 1) * GROUP_BYTES)
        } else {
            full * GROUP_BYTES
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    complete: HashMap<BlobHash, Entry>,
    /// Bytes in complete blobs: all of them, and the unpinned ones (kept as entries change, so
    /// [`Blobs::usage`] costs nothing however many blobs there are).
    bytes: (u64, u64),
    partial: HashMap<BlobHash, Partial>,
    clock: u64,
}

impl Inner {
    /// Adds (or replaces) a complete blob's entry, keeping the byte counts.
    fn put(&mut self, hash: BlobHash, entry: Entry) {
        self.take(&hash);
        self.bytes.0 += entry.size;
        if entry.pinned.is_none() {
            self.bytes.1 += entry.size;
        }
        self.complete.insert(hash, entry);
    }

    /// Removes a complete blob's entry, keeping the byte counts.
    fn take(&mut self, hash: &BlobHash) -> Option<Entry> {
        let entry = self.complete.remove(hash)?;
        self.bytes.0 -= entry.size;
        if entry.pinned.is_none() {
            self.bytes.1 -= entry.size;
        }
        Some(entry)
    }
}

/// The blob directory.
#[derive(Debug)]
pub struct Blobs {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

fn groups_of(size: u64) -> usize {
    size.div_ceil(GROUP_BYTES).max(1) as usize
}

fn tree(size: u64) -> BaoTree {
    BaoTree::new(size, BLOCK)
}

fn ranges(first: u32, count: u32) -> ChunkRanges {
    let start = u64::from(first) * GROUP_BYTES;
    let end = start + u64::from(count) * GROUP_BYTES;
    ChunkRanges::from(ChunkNum::full_chunks(start)..ChunkNum::full_chunks(end))
}

fn root(hash: &BlobHash) -> bao_tree::blake3::Hash {
    bao_tree::blake3::Hash::from(*hash.as_bytes())
}

impl Blobs {
    /// Opens (creating) the blob directory `dir` and takes stock of what it holds.
    pub fn open(dir: &Path) -> Result<Blobs, BlobError> {
        for sub in ["complete", "partial", "pinned", "keys", "tmp"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(io_err(&path))?;
            // Written to at once, not when the first picture comes (from an operator's trial:
            // a `blobs/` owned by root was found out by a publish that failed).
            let probe = path.join(format!(".write-probe-{}", std::process::id()));
            fs::write(&probe, b"").map_err(io_err(&path))?;
            fs::remove_file(&probe).map_err(io_err(&probe))?;
        }
        let tmp = dir.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))?.flatten() {
            let _ = fs::remove_file(entry.path());
        }
        private_keys(&dir.join("keys"));
        let mut inner = Inner::default();
        let pinned: HashMap<BlobHash, SystemTime> = names(&dir.join("pinned"))?
            .into_iter()
            .map(|(h, path)| {
                (h, fs::metadata(path).and_then(|m| m.modified()).unwrap_or_else(|_| SystemTime::now()))
            })
            .collect();
        for (hash, path) in names(&dir.join("complete"))? {
            let size = fs::metadata(&path).map_err(io_err(&path))?.len();
            inner.put(hash, Entry { size, pinned: pinned.get(&hash).copied(), used: 0 });
        }
        for (hash, path) in names(&dir.join("partial"))? {
            let size = fs::metadata(&path).map_err(io_err(&path))?.len();
            let have_path = path.with_extension("have");
            let have: Vec<bool> = match fs::read(&have_path) {
                Ok(bits) if bits.len() == groups_of(size).div_ceil(8) => {
                    (0..groups_of(size)).map(|g| bits[g / 8] & (1 << (g % 8)) != 0).collect()
                }
                // No map, or a damaged one: start that fetch again.
                _ => vec![false; groups_of(size)],
            };
            // Stopped between the last group and moving the whole into place: `missing` asks
            // for the last group again, and its arrival finishes the file.
            inner.partial.insert(hash, Partial { size, have, used: 0, finishing: false });
        }
        Ok(Blobs { dir: dir.to_owned(), inner: Mutex::new(inner) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn complete_path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join("complete").join(hash.to_hex())
    }

    fn outboard_path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join("complete").join(format!("{}.obao", hash.to_hex()))
    }

    fn partial_path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join("partial").join(hash.to_hex())
    }

    /// The size of a complete blob held here.
    pub fn has(&self, hash: &BlobHash) -> Option<u64> {
        self.lock().complete.get(hash).map(|e| e.size)
    }

    /// [`Blobs::has`], checking that the file is still on disk: a complete blob whose file was
    /// removed behind the store's back is forgotten (as [`Blobs::encode`] does on a read) and
    /// reads as not held. A look at the directory entry, not a read of the file.
    pub fn still_held(&self, hash: &BlobHash) -> Option<u64> {
        let size = self.has(hash)?;
        let path = self.complete_path(hash);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.forget_missing(hash, &path);
                None
            }
            // Another error (a permission, the disk) is not a removal: the blob stays known.
            _ => Some(size),
        }
    }

    /// Forgets the complete blob `hash` because `path`, one of its files, is not there: checked
    /// again under the lock, so a copy put back meanwhile (a fetch finishing) stays, and said
    /// once, by the caller that forgot it.
    fn forget_missing(&self, hash: &BlobHash, path: &Path) {
        let mut inner = self.lock();
        let gone = matches!(fs::symlink_metadata(path), Err(e) if e.kind() == io::ErrorKind::NotFound);
        if !gone || !self.take_files(&mut inner, hash) {
            return;
        }
        drop(inner);
        tracing::warn!(file = %hash.fmt_short(), path = %path.display(), "a file held here was removed from the blob directory: it is forgotten");
    }

    /// How far a blob has come: complete, being fetched, or `None` if nothing of it is here.
    pub fn progress(&self, hash: &BlobHash) -> Option<Progress> {
        let inner = self.lock();
        if let Some(e) = inner.complete.get(hash) {
            return Some(Progress::held(e.size));
        }
        inner.partial.get(hash).map(|p| Progress { have: p.have_bytes(), size: p.size, complete: false })
    }

    /// A fresh path in the directory's scratch space (emptied at every start), for a file on
    /// its way in.
    pub fn scratch_path(&self) -> PathBuf {
        self.dir.join("tmp").join(format!("upload-{}", hex_random()))
    }

    /// Fetches begun and not finished.
    pub fn partial_count(&self) -> usize {
        self.lock().partial.len()
    }

    /// Bytes held in complete blobs: (all, of them unpinned).
    pub fn usage(&self) -> (u64, u64) {
        self.lock().bytes
    }

    /// Stores `bytes` as a blob, pinned if `pin` (the owner's own files).
    pub fn insert(&self, bytes: &[u8], pin: bool) -> Result<BlobRef, BlobError> {
        self.import(bytes, None, u64::MAX, pin).map(|(blob, _)| blob)
    }

    /// Stores what `source` reads as a blob (encrypted with `key` if given), at most `max` bytes,
    /// without holding it in memory. Returns the blob and the BLAKE3 hash of the bytes as read
    /// (before encryption).
    pub fn import(
        &self,
        mut source: impl Read,
        key: Option<&FileKey>,
        max: u64,
        pin: bool,
    ) -> Result<(BlobRef, BlobHash), BlobError> {
        let tmp = self.dir.join("tmp").join(format!("import-{}", hex_random()));
        let result = (|| {
            let mut out = io::BufWriter::new(File::create(&tmp).map_err(io_err(&tmp))?);
            let mut plain = bao_tree::blake3::Hasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut size = 0u64;
            loop {
                let n = source.read(&mut buf).map_err(io_err(&tmp))?;
                if n == 0 {
                    break;
                }
                if size + n as u64 > max {
                    return Err(BlobError::TooLarge { size: size + n as u64, max });
                }
                plain.update(&buf[..n]);
                if let Some(key) = key {
                    key.apply(size, &mut buf[..n]);
                }
                out.write_all(&buf[..n]).map_err(io_err(&tmp))?;
                size += n as u64;
            }
            out.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all()).map_err(io_err(&tmp))?;
            let hash = self.finish(&tmp, size, None, pin)?;
            Ok((BlobRef { hash, size }, BlobHash(*plain.finalize().as_bytes())))
        })();
        let _ = fs::remove_file(&tmp);
        result
    }

    /// Builds the outboard of the data file `data` (of `size` bytes), checks its root against
    /// `expected` if given, and moves both into `complete/` (pinned as the owner's if `pin`),
    /// under the lock, so a [`Blobs::retain`] pass never removes what was just stored.
    fn finish(
        &self,
        data: &Path,
        size: u64,
        expected: Option<&BlobHash>,
        pin: bool,
    ) -> Result<BlobHash, BlobError> {
        let obao_tmp = data.with_extension("obao");
        let file = File::open(data).map_err(io_err(data))?;
        let mut outboard = PreOrderOutboard {
            root: bao_tree::blake3::Hash::from([0; 32]),
            tree: tree(size),
            data: File::create(&obao_tmp).map_err(io_err(&obao_tmp))?,
        };
        outboard.init_from(BufReader::with_capacity(256 * 1024, file)).map_err(io_err(data))?;
        outboard.data.sync_all().map_err(io_err(&obao_tmp))?;
        let hash = BlobHash(*outboard.root.as_bytes());
        if let Some(expected) = expected.filter(|e| **e != hash) {
            // Every group was checked as it arrived: a whole that does not hash right was damaged
            // here (the disk), not by a peer.
            let _ = fs::remove_file(&obao_tmp);
            let source = io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the file assembled here hashes to {}, not {}",
                    hash.fmt_short(),
                    expected.fmt_short()
                ),
            );
            return Err(BlobError::Io { path: data.to_owned(), source });
        }
        let (path, obao) = (self.complete_path(&hash), self.outboard_path(&hash));
        let mut inner = self.lock();
        if pin {
            self.write_pin(&hash)?;
        }
        // The data first: if it cannot move, no outboard is left in `complete/` without it.
        if let Err(source) = fs::rename(data, &path) {
            let _ = fs::remove_file(&obao_tmp);
            return Err(BlobError::Io { path, source });
        }
        if let Err(source) = fs::rename(&obao_tmp, &obao) {
            let _ = fs::remove_file(&obao_tmp);
            let _ = fs::remove_file(&path);
            return Err(BlobError::Io { path: obao, source });
        }
        sync_dir(&self.dir.join("complete"))?;
        inner.clock += 1;
        let used = inner.clock;
        let pinned =
            if pin { Some(SystemTime::now()) } else { inner.complete.get(&hash).and_then(|e| e.pinned) };
        inner.put(hash, Entry { size, pinned, used });
        // A fetch of the same file is over: readers see it complete, never missing.
        if inner.partial.remove(&hash).is_some() && data != self.partial_path(&hash) {
            let partial = self.partial_path(&hash);
            let _ = fs::remove_file(partial.with_extension("have"));
            let _ = fs::remove_file(partial);
        }
        Ok(hash)
    }

    /// Writes the pin marker of `hash`, durably.
    fn write_pin(&self, hash: &BlobHash) -> Result<(), BlobError> {
        let path = self.dir.join("pinned").join(hash.to_hex());
        File::create(&path).and_then(|f| f.sync_all()).map_err(io_err(&path))?;
        sync_dir(&self.dir.join("pinned"))
    }

    /// Pins a blob as the owner's: kept while the owner's listings or deals name it (see
    /// [`Blobs::retain`]), and for a grace period from now.
    pub fn pin(&self, hash: &BlobHash) -> Result<(), BlobError> {
        let mut inner = self.lock();
        self.write_pin(hash)?;
        if let Some(e) = inner.take(hash) {
            inner.put(*hash, Entry { pinned: Some(SystemTime::now()), ..e });
        }
        Ok(())
    }

    /// Marks a complete blob used now (for least-recently-used eviction); its size.
    fn touch(&self, hash: &BlobHash) -> Result<u64, BlobError> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.complete.get_mut(hash).ok_or(BlobError::Missing(*hash))?;
        entry.used = clock;
        Ok(entry.size)
    }

    /// Encodes groups `first..first + count` of a complete blob with the hashes that prove them:
    /// the answer to a peer's request.
    pub fn encode(&self, hash: &BlobHash, first: u32, count: u32) -> Result<Vec<u8>, BlobError> {
        let size = self.touch(hash)?;
        if count == 0 || count > MAX_GROUPS_PER_REQUEST || u64::from(first) >= groups_of(size) as u64 {
            return Err(BlobError::BadRange { first, count, size });
        }
        let path = self.complete_path(hash);
        let obao = self.outboard_path(hash);
        let data = self.open_held(hash, &path)?;
        let outboard =
            PreOrderOutboard { root: root(hash), tree: tree(size), data: self.open_held(hash, &obao)? };
        let mut out = Vec::with_capacity((u64::from(count) * GROUP_BYTES) as usize + 4096);
        encode_ranges_validated(&data, &outboard, &ranges(first, count), &mut out)
            .map_err(|e| BlobError::Io { path, source: e.into() })?;
        Ok(out)
    }

    /// The groups of `blob` still missing, in order: all of them if nothing of it is here yet,
    /// none if it is complete. A partial copy of another size is refused, never thrown away (its
    /// groups were verified against the hash, which fixes the size).
    pub fn missing(&self, blob: &BlobRef) -> Result<Vec<u32>, BlobError> {
        let mut inner = self.lock();
        if inner.complete.contains_key(&blob.hash) {
            return Ok(vec![]);
        }
        inner.clock += 1;
        let clock = inner.clock;
        match inner.partial.get_mut(&blob.hash) {
            Some(p) if p.size == blob.size => {
                p.used = clock;
                let mut missing: Vec<u32> =
                    p.have.iter().enumerate().filter(|(_, h)| !**h).map(|(i, _)| i as u32).collect();
                // Every group here and none finishing (a failure between the last group and the
                // move, or a last answer with a bad tail): the last group is asked for again, and
                // its arrival finishes the file. A fetch never ends on nothing to ask for.
                if missing.is_empty() && !p.finishing && !p.have.is_empty() {
                    missing.push(p.have.len() as u32 - 1);
                }
                Ok(missing)
            }
            Some(p) => Err(BlobError::BadRange { first: 0, count: 0, size: p.size }),
            None => Ok((0..groups_of(blob.size) as u32).collect()),
        }
    }

    /// Makes room for and creates the partial file of `blob`, unless it exists. Called with the
    /// first verified groups, so a fetch that gets nothing good leaves nothing behind.
    fn start_partial(&self, inner: &mut Inner, blob: &BlobRef) -> Result<(), BlobError> {
        if let Some(p) = inner.partial.get(&blob.hash) {
            return if p.size == blob.size {
                Ok(())
            } else {
                Err(BlobError::BadRange { first: 0, count: 0, size: p.size })
            };
        }
        if inner.partial.len() >= MAX_PARTIAL {
            // The one least recently fed: a fetch under way is fed every few milliseconds.
            // Never one being moved into place.
            let oldest = inner
                .partial
                .iter()
                .filter(|(_, p)| !p.finishing)
                .min_by_key(|(_, p)| p.used)
                .map(|(h, _)| *h);
            if let Some(oldest) = oldest {
                inner.partial.remove(&oldest);
                let path = self.partial_path(&oldest);
                let _ = fs::remove_file(path.with_extension("have"));
                let _ = fs::remove_file(path);
            }
        }
        let path = self.partial_path(&blob.hash);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.set_len(blob.size).map_err(io_err(&path))?;
        let groups = groups_of(blob.size);
        inner.clock += 1;
        let used = inner.clock;
        inner.partial.insert(
            blob.hash,
            Partial { size: blob.size, have: vec![false; groups], used, finishing: false },
        );
        Ok(())
    }

    /// Takes in a peer's answer for groups `first..first + count` of `blob`, verifying every
    /// group against the blob's hash before it is written. Groups verified before a bad one
    /// are kept. Completes the blob when its last group arrives.
    pub fn receive(
        &self,
        blob: &BlobRef,
        first: u32,
        count: u32,
        encoded: &[u8],
    ) -> Result<Progress, BlobError> {
        let path = self.partial_path(&blob.hash);
        if let Some(p) = self.lock().partial.get(&blob.hash)
            && p.size != blob.size
        {
            return Err(BlobError::BadRange { first, count, size: p.size });
        }
        // Checked in memory first (at most 256 KiB): nothing is written unless verified.
        let wanted = ranges(first, count);
        let mut leaves = Vec::new();
        let mut corrupt = false;
        for item in DecodeResponseIter::new(root(&blob.hash), tree(blob.size), encoded, &wanted) {
            match item {
                Ok(BaoContentItem::Leaf(leaf)) => leaves.push(leaf),
                Ok(BaoContentItem::Parent(_)) => {}
                Err(DecodeError::Io(source)) => return Err(BlobError::Io { path, source }),
                // A hash that does not match, or an answer cut short: the sender's fault.
                Err(_) => {
                    corrupt = true;
                    break;
                }
            }
        }
        if leaves.is_empty() {
            return Err(if corrupt {
                BlobError::Corrupt(blob.hash)
            } else {
                BlobError::BadRange { first, count, size: blob.size }
            });
        }
        {
            let mut inner = self.lock();
            if inner.complete.contains_key(&blob.hash) {
                return Ok(Progress::held(blob.size));
            }
            self.start_partial(&mut inner, blob)?;
        }
        let file = fs::OpenOptions::new().write(true).open(&path).map_err(io_err(&path))?;
        let mut got = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            file.write_all_at(&leaf.data, leaf.offset).map_err(io_err(&path))?;
            got.push((leaf.offset / GROUP_BYTES) as usize);
        }
        file.sync_data().map_err(io_err(&path))?;
        let (progress, have, finish) = {
            let mut inner = self.lock();
            inner.clock += 1;
            let clock = inner.clock;
            if inner.complete.contains_key(&blob.hash) {
                return Ok(Progress::held(blob.size));
            }
            let Some(p) = inner.partial.get_mut(&blob.hash) else {
                return Err(BlobError::Missing(blob.hash));
            };
            p.used = clock;
            for g in got {
                if let Some(slot) = p.have.get_mut(g) {
                    *slot = true;
                }
            }
            // One bit a group: 8 KiB for a 1 GiB file.
            let mut bits = vec![0u8; p.have.len().div_ceil(8)];
            for (g, _) in p.have.iter().enumerate().filter(|(_, h)| **h) {
                bits[g / 8] |= 1 << (g % 8);
            }
            // The one call that sees the last group arrive finishes the blob; the partial entry
            // stays (not complete) until the complete one replaces it under one lock.
            let finish = !corrupt && !p.finishing && p.have.iter().all(|h| *h);
            p.finishing |= finish;
            (Progress { have: p.have_bytes(), size: p.size, complete: false }, bits, finish)
        };
        let have_path = path.with_extension("have");
        if let Err(source) = fs::write(&have_path, have) {
            if finish && let Some(p) = self.lock().partial.get_mut(&blob.hash) {
                // Not finished: the next arrival may try again.
                p.finishing = false;
            }
            return Err(BlobError::Io { path: have_path, source });
        }
        if corrupt {
            return Err(BlobError::Corrupt(blob.hash));
        }
        if finish {
            let finished = self.finish(&path, blob.size, Some(&blob.hash), false);
            let _ = fs::remove_file(&have_path);
            if finished.is_err() {
                // Assembled but damaged here: fetched again from the start.
                self.lock().partial.remove(&blob.hash);
                let _ = fs::remove_file(&path);
            }
            finished?;
            return Ok(Progress::held(blob.size));
        }
        Ok(progress)
    }

    /// Opens a complete blob for reading, with its size.
    pub fn open_blob(&self, hash: &BlobHash) -> Result<(File, u64), BlobError> {
        let size = self.touch(hash)?;
        let path = self.complete_path(hash);
        Ok((self.open_held(hash, &path)?, size))
    }

    /// Opens `path`, a file of the complete blob `hash`. One removed behind the store's back
    /// (a hand in the data dir) is forgotten, so the blob reads as not held from then on: a
    /// trial's seller, its file removed, answered every chunk asked for with an error (400
    /// warnings in 30 s) while still saying it held the file.
    fn open_held(&self, hash: &BlobHash, path: &Path) -> Result<File, BlobError> {
        match File::open(path) {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.forget_missing(hash, path);
                Err(BlobError::Missing(*hash))
            }
            Err(e) => Err(BlobError::Io { path: path.to_owned(), source: e }),
        }
    }

    /// Whether the complete blob `hash` is here and its file still hashes to it: false when the
    /// file was damaged or removed behind the store's back (a disk error, a hand in the data
    /// dir). Reads the whole file.
    pub fn intact(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        let path = self.complete_path(hash);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(BlobError::Io { path, source: e }),
        };
        let mut hasher = bao_tree::blake3::Hasher::new();
        std::io::copy(&mut file, &mut hasher).map_err(io_err(&path))?;
        Ok(hasher.finalize().as_bytes() == hash.as_bytes())
    }

    /// Forgets the complete blob `hash` and removes its files, so that a fetch starts it again
    /// (after [`Blobs::intact`] found it damaged or gone).
    pub fn discard(&self, hash: &BlobHash) {
        self.take_files(&mut self.lock(), hash);
    }

    /// Forgets the complete blob `hash` and removes what is left of its files, under the lock
    /// held as `inner`; says whether it was held.
    fn take_files(&self, inner: &mut Inner, hash: &BlobHash) -> bool {
        if inner.take(hash).is_none() {
            return false;
        }
        for path in [self.complete_path(hash), self.outboard_path(hash)] {
            let _ = fs::remove_file(path);
        }
        true
    }

    /// Reads a whole complete blob (small ones: thumbnails).
    pub fn read(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError> {
        let (mut file, size) = self.open_blob(hash)?;
        let mut out = Vec::with_capacity(size as usize);
        file.read_to_end(&mut out)
            .map_err(|source| BlobError::Io { path: self.complete_path(hash), source })?;
        Ok(out)
    }

    /// Keeps the seller's key of a digital good's encrypted blob `sealed`.
    pub fn save_key(&self, sealed: &BlobHash, key: &FileKey) -> Result<(), BlobError> {
        let path = self.dir.join("keys").join(sealed.to_hex());
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // Readable by the owner alone, as the identity key is (a trial found them 0644).
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io_err(&path))?;
        file.write_all(key.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err(&path))?;
        sync_dir(&self.dir.join("keys"))
    }

    /// The seller's key of the encrypted blob `sealed`, if this node made it.
    pub fn key(&self, sealed: &BlobHash) -> Option<FileKey> {
        let bytes = fs::read(self.dir.join("keys").join(sealed.to_hex())).ok()?;
        Some(FileKey::from_bytes(bytes.try_into().ok()?))
    }

    /// Keeps what `keep` names (the files of the owner's listings and deals) whatever else
    /// holds; drops the owner's uploads that nothing names once `grace` has passed since the
    /// upload (a picture replaced, an upload whose listing was never published), every other
    /// blob (complete or partial) that `named` (the stored listings) does not name, then the
    /// least recently used of the rest until they fit in `budget` bytes. Returns the bytes freed.
    pub fn retain(
        &self,
        keep: impl Fn(&BlobHash) -> bool,
        named: impl Fn(&BlobHash) -> bool,
        budget: u64,
        grace: Duration,
    ) -> u64 {
        let wanted = |h: &BlobHash| keep(h) || named(h);
        let now = SystemTime::now();
        let mut drop = Vec::new();
        {
            let mut inner = self.lock();
            let mut unpinned: Vec<(u64, BlobHash, u64)> = Vec::new();
            let mut total = 0;
            for (hash, e) in &inner.complete {
                if keep(hash) {
                    continue;
                }
                if let Some(at) = e.pinned {
                    if !named(hash) && now.duration_since(at).is_ok_and(|age| age >= grace) {
                        drop.push((*hash, e.size, true));
                    }
                    continue;
                }
                if named(hash) {
                    unpinned.push((e.used, *hash, e.size));
                    total += e.size;
                } else {
                    drop.push((*hash, e.size, true));
                }
            }
            unpinned.sort();
            for (_, hash, size) in unpinned {
                if total <= budget {
                    break;
                }
                total -= size;
                drop.push((hash, size, true));
            }
            let stale: Vec<BlobHash> =
                inner.partial.iter().filter(|(h, p)| !p.finishing && !wanted(h)).map(|(h, _)| *h).collect();
            for hash in stale {
                if let Some(p) = inner.partial.remove(&hash) {
                    drop.push((hash, p.size, false));
                }
            }
            // Moved aside under the lock (renames: quick, whatever the file's size), so a store
            // of the same file meanwhile waits and is not undone; deleted after it, so readers of
            // the map (the event loop among them) never wait on the disk freeing space.
            let mut freed = 0;
            let mut doomed = Vec::new();
            for (hash, size, complete) in drop {
                let paths = if complete {
                    inner.take(&hash);
                    freed += size;
                    let pin = self.dir.join("pinned").join(hash.to_hex());
                    vec![self.complete_path(&hash), self.outboard_path(&hash), pin]
                } else {
                    let path = self.partial_path(&hash);
                    vec![path.with_extension("have"), path]
                };
                for (n, path) in paths.into_iter().enumerate() {
                    let aside = self.dir.join("tmp").join(format!("drop-{}-{n}", hash.to_hex()));
                    if fs::rename(&path, &aside).is_ok() {
                        doomed.push(aside);
                    }
                }
            }
            std::mem::drop(inner);
            for path in doomed {
                let _ = fs::remove_file(path);
            }
            freed
        }
    }
}

/// Blob files in `dir` named by a hash (other files ignored).
fn names(dir: &Path) -> Result<Vec<(BlobHash, PathBuf)>, BlobError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
        let name = entry.file_name();
        if let Some(hash) = name.to_str().and_then(|n| n.parse::<BlobHash>().ok()) {
            out.push((hash, entry.path()));
        }
    }
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

fn hex_random() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    data_encoding::HEXLOWER.encode(&bytes)
}

/// Makes the key directory and the keys in it readable by the owner alone: keys saved before
/// they were written so (a trial found them 0644) are mended at open. Best effort: a key that
/// cannot be changed stays as it was, and the data dir itself is the owner's alone.
fn private_keys(keys: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(keys, fs::Permissions::from_mode(0o700));
        for entry in fs::read_dir(keys).into_iter().flatten().flatten() {
            let path = entry.path();
            // A regular file only: a link is not followed to change what it points at.
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o077 != 0) {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = keys;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| (i.wrapping_mul(2654435761) >> 7) as u8).collect()
    }

    /// Moves a blob from one store to another group range by group range.
    fn transfer(from: &Blobs, to: &Blobs, blob: &BlobRef, step: u32) -> Progress {
        let groups = groups_of(blob.size) as u32;
        let mut progress = None;
        let mut first = 0;
        while first < groups {
            let count = step.min(groups - first);
            let encoded = from.encode(&blob.hash, first, count).expect("encode");
            progress = Some(to.receive(blob, first, count, &encoded).expect("receive"));
            first += count;
        }
        progress.expect("at least one group")
    }

    #[test]
    fn a_blob_moves_between_stores_verified_and_hashes_like_blake3() {
        for len in [1usize, 1000, 16_384, 16_385, 300_000, 1_048_576 + 7] {
            let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
            let (from, to) = (Blobs::open(a.path()).expect("open"), Blobs::open(b.path()).expect("open"));
            let bytes = data(len);
            let blob = from.insert(&bytes, true).expect("insert");
            assert_eq!(blob, BlobRef { hash: BlobHash::of(&bytes), size: len as u64 });
            let progress = transfer(&from, &to, &blob, 5);
            assert!(progress.complete, "{len}");
            assert_eq!(to.read(&blob.hash).expect("read"), bytes, "{len}");
            // And on to a third store from the copy.
            let c = tempfile::tempdir().expect("dir");
            let third = Blobs::open(c.path()).expect("open");
            transfer(&to, &third, &blob, MAX_GROUPS_PER_REQUEST);
            assert_eq!(third.read(&blob.hash).expect("read"), bytes);
        }
    }

    /// From a trial: a seller's file removed by hand was still said to be held, and every
    /// chunk a buyer asked for failed (400 warnings in 30 s). It is now forgotten at the first
    /// read: not held, as a peer is then told.
    #[test]
    fn a_file_removed_by_hand_is_forgotten_at_its_first_read() {
        let dir = tempfile::tempdir().expect("dir");
        let blobs = Blobs::open(dir.path()).expect("open");
        let blob = blobs.insert(&data(40_000), true).expect("insert");
        assert_eq!(blobs.has(&blob.hash), Some(40_000));
        std::fs::remove_file(blobs.complete_path(&blob.hash)).expect("removed by hand");
        assert!(matches!(blobs.encode(&blob.hash, 0, 1), Err(BlobError::Missing(h)) if h == blob.hash));
        assert_eq!(blobs.has(&blob.hash), None, "forgotten");
        assert!(matches!(blobs.encode(&blob.hash, 0, 1), Err(BlobError::Missing(_))));
        // Reading it whole says the same.
        let again = blobs.insert(&data(20_000), true).expect("insert");
        std::fs::remove_file(blobs.complete_path(&again.hash)).expect("removed by hand");
        assert!(matches!(blobs.read(&again.hash), Err(BlobError::Missing(_))));
        assert_eq!(blobs.has(&again.hash), None);
        // A copy put back between the miss and the forgetting (a fetch finishing) stays: the
        // file is looked at again under the lock.
        let third = blobs.insert(&data(30_000), true).expect("insert");
        let path = blobs.complete_path(&third.hash);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::remove_file(&path).expect("removed");
        std::fs::write(&path, &bytes).expect("put back");
        blobs.forget_missing(&third.hash, &path);
        assert_eq!(blobs.still_held(&third.hash), Some(30_000));
        assert_eq!(blobs.read(&third.hash).expect("read"), data(30_000));
    }

    #[test]
    fn a_tampered_group_is_refused_and_the_good_ones_before_it_are_kept() {
        let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let (from, to) = (Blobs::open(a.path()).expect("open"), Blobs::open(b.path()).expect("open"));
        let bytes = data(200_000);
        let blob = from.insert(&bytes, false).expect("insert");
        let mut encoded = from.encode(&blob.hash, 0, 4).expect("encode");
        let last = encoded.len() - 100;
        encoded[last] ^= 0x40;
        assert!(matches!(to.receive(&blob, 0, 4, &encoded), Err(BlobError::Corrupt(_))));
        let progress = to.progress(&blob.hash).expect("partial");
        assert_eq!(progress.have, 3 * GROUP_BYTES, "the three groups before the bad one stay");
        assert_eq!(to.missing(&blob).expect("missing"), (3..13).collect::<Vec<u32>>());
        // A truncated answer is the sender's fault too.
        let short = from.encode(&blob.hash, 4, 2).expect("encode");
        assert!(matches!(to.receive(&blob, 4, 2, &short[..short.len() / 2]), Err(BlobError::Corrupt(_))));
        // Claiming another blob's bytes fails at once.
        let other = from.insert(&data(50_000), false).expect("insert");
        let wrong = from.encode(&other.hash, 0, 1).expect("encode");
        let fresh = BlobRef { hash: BlobHash([9; 32]), size: 50_000 };
        assert!(matches!(to.receive(&fresh, 0, 1, &wrong), Err(BlobError::Corrupt(_))));
    }

    #[test]
    fn another_size_for_a_partial_file_is_refused_and_loses_nothing() {
        let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let (from, to) = (Blobs::open(a.path()).expect("open"), Blobs::open(b.path()).expect("open"));
        let blob = from.insert(&data(100_000), false).expect("insert");
        assert_eq!(to.missing(&blob).expect("missing").len(), 7);
        assert!(to.progress(&blob.hash).is_none(), "asking creates nothing");
        to.receive(&blob, 0, 2, &from.encode(&blob.hash, 0, 2).expect("encode")).expect("receive");
        // An answer with nothing good in it leaves nothing behind.
        let other = from.insert(&data(40_000), false).expect("insert");
        let mut bad = from.encode(&other.hash, 0, 1).expect("encode");
        bad[100] ^= 1;
        assert!(matches!(to.receive(&other, 0, 1, &bad), Err(BlobError::Corrupt(_))));
        assert!(to.progress(&other.hash).is_none() && to.partial_count() == 1);
        let liar = BlobRef { hash: blob.hash, size: 100 };
        assert!(matches!(to.missing(&liar), Err(BlobError::BadRange { .. })));
        assert!(matches!(to.receive(&liar, 0, 1, &[]), Err(BlobError::BadRange { .. })));
        assert_eq!(to.progress(&blob.hash).expect("partial").have, 2 * GROUP_BYTES);
    }

    #[test]
    fn a_fetch_resumes_after_a_restart() {
        let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let from = Blobs::open(a.path()).expect("open");
        let bytes = data(500_000);
        let blob = from.insert(&bytes, false).expect("insert");
        {
            let to = Blobs::open(b.path()).expect("open");
            to.missing(&blob).expect("start");
            let encoded = from.encode(&blob.hash, 0, 10).expect("encode");
            to.receive(&blob, 0, 10, &encoded).expect("receive");
        }
        let to = Blobs::open(b.path()).expect("reopen");
        let missing = to.missing(&blob).expect("missing");
        assert_eq!(missing.first(), Some(&10));
        for first in missing {
            let encoded = from.encode(&blob.hash, first, 1).expect("encode");
            to.receive(&blob, first, 1, &encoded).expect("receive");
        }
        assert_eq!(to.read(&blob.hash).expect("read"), bytes);
        let to = Blobs::open(b.path()).expect("reopen complete");
        assert_eq!(to.has(&blob.hash), Some(500_000));
    }

    #[test]
    fn a_reader_told_complete_can_always_open_the_file() {
        // A large last step: the whole is hashed and moved into place after its bytes are
        // written, while another thread asks how far the fetch has come.
        let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let from = Blobs::open(a.path()).expect("open");
        let to = std::sync::Arc::new(Blobs::open(b.path()).expect("open"));
        for round in 0..4u8 {
            let mut bytes = data(4 * 1_048_576);
            bytes[0] = round;
            let blob = from.insert(&bytes, false).expect("insert");
            let groups = groups_of(blob.size) as u32;
            let mut first = 0;
            while first < groups - 1 {
                let count = MAX_GROUPS_PER_REQUEST.min(groups - 1 - first);
                let encoded = from.encode(&blob.hash, first, count).expect("encode");
                to.receive(&blob, first, count, &encoded).expect("receive");
                first += count;
            }
            let tail = from.encode(&blob.hash, groups - 1, 1).expect("encode");
            let writer = {
                let to = to.clone();
                std::thread::spawn(move || to.receive(&blob, groups - 1, 1, &tail).expect("receive"))
            };
            // Bounded by count, not time: every answer until the writer is done is checked.
            for _ in 0..1_000_000 {
                let progress = to.progress(&blob.hash).expect("started, never missing");
                if progress.complete {
                    assert_eq!(to.read(&blob.hash).expect("complete means readable"), bytes);
                    break;
                }
                assert!(!writer.is_finished() || to.has(&blob.hash).is_some());
            }
            assert!(writer.join().expect("writer").complete);
            assert_eq!(to.partial_count(), 0);
        }
    }

    #[test]
    fn a_fetch_stopped_before_its_last_step_is_moved_into_place_finishes_after_a_restart() {
        let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let from = Blobs::open(a.path()).expect("open");
        let bytes = data(100_000);
        let blob = from.insert(&bytes, false).expect("insert");
        let groups = groups_of(blob.size) as u32;
        // Every group written and its map saved, as a node killed before the rename leaves it.
        let partial = b.path().join("partial").join(blob.hash.to_hex());
        {
            let to = Blobs::open(b.path()).expect("open");
            to.missing(&blob).expect("start");
        }
        std::fs::write(&partial, &bytes).expect("data");
        std::fs::write(partial.with_extension("have"), vec![0xFF; groups.div_ceil(8) as usize]).expect("map");
        let to = Blobs::open(b.path()).expect("reopen");
        assert!(!to.progress(&blob.hash).expect("partial").complete);
        assert_eq!(to.missing(&blob).expect("missing"), vec![groups - 1]);
        let last = from.encode(&blob.hash, groups - 1, 1).expect("encode");
        assert!(to.receive(&blob, groups - 1, 1, &last).expect("receive").complete);
        assert_eq!(to.read(&blob.hash).expect("read"), bytes);
    }

    #[test]
    fn retain_drops_unnamed_and_least_recent_keeps_what_the_owner_needs() {
        let dir = tempfile::tempdir().expect("dir");
        let blobs = Blobs::open(dir.path()).expect("open");
        let own = blobs.insert(&data(40_000), true).expect("own");
        let bought = blobs.insert(&[3u8; 50_000], false).expect("bought");
        let old = blobs.insert(&data(30_000), false).expect("old");
        let new = blobs.insert(&[1u8; 30_000], false).expect("new");
        let gone = blobs.insert(&[2u8; 1000], false).expect("gone");
        blobs.encode(&new.hash, 0, 1).expect("use");
        let hour = Duration::from_secs(3600);
        let keep = |h: &BlobHash| *h == bought.hash;
        let freed = blobs.retain(keep, |h| *h != gone.hash && *h != own.hash, 35_000, hour);
        assert_eq!(freed, 31_000);
        assert!(blobs.has(&new.hash).is_some() && blobs.has(&bought.hash).is_some());
        assert!(blobs.has(&own.hash).is_some(), "an upload nothing names yet stays through its grace period");
        assert!(blobs.has(&old.hash).is_none() && blobs.has(&gone.hash).is_none());
        blobs.retain(keep, |_| false, 0, hour);
        assert!(blobs.has(&own.hash).is_some() && blobs.has(&bought.hash).is_some());
        // Past the grace period, an upload nothing names goes; one a listing names stays.
        let named = blobs.insert(&[4u8; 2000], true).expect("named");
        blobs.retain(keep, |h| *h == named.hash, 0, Duration::ZERO);
        assert!(blobs.has(&own.hash).is_none(), "an orphan upload goes after its grace period");
        assert!(blobs.has(&named.hash).is_some() && blobs.has(&bought.hash).is_some());
        assert_eq!(blobs.usage(), (2000 + 50_000, 50_000), "the counts follow every change");
        let reopened = Blobs::open(dir.path()).expect("reopen");
        assert_eq!(reopened.usage(), blobs.usage());
        assert!(reopened.has(&own.hash).is_none() && reopened.usage().1 == 50_000, "{:?}", reopened.usage());
    }

    #[test]
    fn an_encrypted_import_keeps_the_plain_hash() {
        let dir = tempfile::tempdir().expect("dir");
        let blobs = Blobs::open(dir.path()).expect("open");
        let key = FileKey::generate();
        let bytes = data(100_000);
        let (blob, plain) = blobs.import(&bytes[..], Some(&key), u64::MAX, true).expect("import");
        assert_eq!(plain, BlobHash::of(&bytes));
        let mut stored = blobs.read(&blob.hash).expect("read");
        assert_ne!(stored, bytes);
        key.apply(0, &mut stored);
        assert_eq!(stored, bytes);
        assert!(matches!(blobs.import(&bytes[..], None, 1000, false), Err(BlobError::TooLarge { .. })));
    }

    /// From a trial: a digital good's keys were readable by every user of the machine (0644),
    /// where the identity key is the owner's alone. Saved 0600; one saved before is mended at
    /// open.
    #[cfg(unix)]
    #[test]
    fn keys_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let blobs = Blobs::open(dir.path()).expect("open");
        let sealed = BlobHash::of(b"sealed");
        blobs.save_key(&sealed, &FileKey::generate()).expect("saved");
        let path = dir.path().join("keys").join(sealed.to_hex());
        let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("as an older node left it");
        drop(blobs);
        let blobs = Blobs::open(dir.path()).expect("open again");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
        assert!(blobs.key(&sealed).is_some(), "still read");
    }
}
