//! Files by content hash between peers: fetching a blob in verified 16 KiB groups from whichever
//! connected peers hold it, and the pictures the owner attaches.
//!
//! A fetch asks up to [`IN_FLIGHT`] runs of 16 groups at once, spread over the peers that
//! answer. Each answer is checked group by group against the hash before a byte is written
//! (`haggle_storage::blobs`); a peer whose answer does not match is penalised like a sender of
//! an invalid object and asked nothing more. A peer without the file says so, or says it is
//! fetching it itself (a node fetches a picture for a peer that asks, when the picture is
//! small; see [`MAX_PULL_THROUGH_BYTES`]), and is asked again later. One fetch runs per hash;
//! whoever asks for the same file joins it.

pub mod images;
pub mod wire;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use libp2p::PeerId;
use tokio::sync::watch;

use haggle_protocol::blob::MAX_IMAGE_BYTES;
use haggle_protocol::{BlobHash, BlobRef};
use haggle_storage::blobs::{BlobError, Blobs, MAX_GROUPS_PER_REQUEST, Progress};

use crate::api::types::NodeEvent;
use crate::handle::NodeHandle;
use wire::{BlobRequest, BlobResponse};

/// Requests of one fetch in flight at once.
const IN_FLIGHT: usize = 8;
/// Requests of one fetch in flight to one peer.
const PER_PEER: usize = 4;
/// Requests in flight to one peer over all fetches: a connection carries at most 16 file
/// streams both ways (`BLOB_STREAMS` in node.rs), and the peer may be fetching from us as much
/// at the same time. Past it, libp2p refuses the stream (or the peer drops it) and the request
/// fails, which several downloads from one seller at once did.
const PEER_REQUESTS: usize = 6;
/// A fetch the owner asked for that makes no progress for this long gives up.
const STALL: Duration = Duration::from_secs(30);
/// A background fetch (a thumbnail, a file for a peer) gives up sooner.
const BACKGROUND_STALL: Duration = Duration::from_secs(10);
/// An owner's fetch that every connected peer said no to ends this long after it started, not
/// at the stall: a node that just started may have one peer yet, and others a moment later.
const ALL_SAID_NO: Duration = Duration::from_secs(5);
/// A fetch nobody waits for (a thumbnail, a file for a peer) ends after this long plus a second
/// per [`SLOWEST_RATE`] bytes of its size, whatever its progress: a peer sending one verified
/// group every 9 s kept one of the 4 slots for such fetches for 19 minutes (each group resets
/// the stall). The owner's own fetches have no such limit: a slow link is still progress.
const UNWAITED_BASE: Duration = Duration::from_secs(30);
/// The slowest transfer a fetch nobody waits for is given time for (bytes a second).
const SLOWEST_RATE: u64 = 64 * 1024;
/// Wait before asking again peers that were fetching the file or busy.
const RETRY: Duration = Duration::from_millis(300);
/// Failed requests (timeouts, closed connections) after which a peer is asked nothing more in
/// one fetch.
const MAX_PEER_FAILURES: u32 = 3;
/// The owner's fetches at once (the rest wait their turn).
const MAX_FETCHES: usize = 16;
/// Background fetches at once, apart from the owner's, so a flood of listings whose thumbnails
/// nobody serves never holds up a download.
const MAX_BACKGROUND: usize = 4;
/// Background fetches waiting their turn; past it, new ones are skipped (a thumbnail skipped is
/// fetched when someone looks at its listing).
const MAX_BACKGROUND_QUEUE: usize = 256;
/// Largest file a node fetches because a peer asked it for it (pictures, thumbnails and
/// previews; never a digital good).
pub const MAX_PULL_THROUGH_BYTES: u64 = MAX_IMAGE_BYTES;
/// Files fetched for peers at once.
const MAX_PULL_THROUGH: usize = 4;
/// Files a fetch for a peer failed to find, remembered (and not fetched again for peers) this
/// long, at most [`MAX_NOT_FOUND`] of them.
const NOT_FOUND_FOR: Duration = Duration::from_secs(300);
const MAX_NOT_FOUND: usize = 1_024;
/// A progress event is sent at most this often per fetch.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Where a fetch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchState {
    /// Under way.
    Running,
    /// Every byte is here and verified.
    Done,
    /// Gave up, with why.
    Failed(String),
}

/// Who a fetch is for, which decides its queue and its patience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The owner is waiting (a picture looked at, a download).
    Owner,
    /// Nobody is waiting: a thumbnail of a listing that arrived.
    Background,
    /// A peer asked for a file this node lacks: its requests say so, and the peers asked never
    /// fetch it in turn.
    ForPeer,
}

/// The blob directory and the fetches under way.
#[derive(Debug)]
pub struct Files {
    blobs: Arc<Blobs>,
    /// Fetches by hash, with the size they were started for.
    fetches: Mutex<HashMap<BlobHash, (u64, watch::Receiver<FetchState>)>>,
    running: tokio::sync::Semaphore,
    background: tokio::sync::Semaphore,
    queued_background: std::sync::atomic::AtomicUsize,
    pulling: std::sync::atomic::AtomicUsize,
    /// Files a fetch for a peer did not find, and when.
    not_found: Mutex<HashMap<BlobHash, Instant>>,
    /// Budget for other people's files, in bytes: no file is fetched for a peer past it.
    budget: u64,
    /// Encrypted files whose decryption was checked against the listing's hash, with that hash.
    verified: Mutex<HashSet<(BlobHash, BlobHash)>>,
    /// Requests in flight to each peer over all fetches (at most [`PEER_REQUESTS`]); a peer
    /// leaves the map when its last request ends, so it holds only peers being asked.
    asking: Arc<Mutex<HashMap<PeerId, usize>>>,
    metrics: crate::metrics::Metrics,
}

/// A request's place in the budget of requests to one peer, given back when dropped.
struct Slot {
    asking: Arc<Mutex<HashMap<PeerId, usize>>>,
    peer: PeerId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut asking = self.asking.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = asking.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                asking.remove(&self.peer);
            }
        }
    }
}

impl Files {
    /// Whether another request may go to `peer` now (see [`PEER_REQUESTS`]).
    fn has_room(&self, peer: &PeerId) -> bool {
        let asking = self.asking.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        asking.get(peer).copied().unwrap_or(0) < PEER_REQUESTS
    }

    /// A place for one request to `peer`, if the budget has one.
    fn take_slot(&self, peer: PeerId) -> Option<Slot> {
        let mut asking = self.asking.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = asking.entry(peer).or_default();
        if *n >= PEER_REQUESTS {
            return None;
        }
        *n += 1;
        Some(Slot { asking: self.asking.clone(), peer })
    }

    /// Fetches over `blobs`, fetching for peers only while other people's files take less than
    /// `budget` bytes.
    pub fn new(blobs: Arc<Blobs>, budget: u64, metrics: crate::metrics::Metrics) -> Self {
        Files {
            blobs,
            fetches: Mutex::default(),
            running: tokio::sync::Semaphore::new(MAX_FETCHES),
            background: tokio::sync::Semaphore::new(MAX_BACKGROUND),
            queued_background: std::sync::atomic::AtomicUsize::new(0),
            pulling: std::sync::atomic::AtomicUsize::new(0),
            not_found: Mutex::default(),
            budget,
            verified: Mutex::default(),
            asking: Arc::default(),
            metrics,
        }
    }

    /// Whether the encrypted file `sealed` was found to decrypt to `plain` (see
    /// [`Files::set_verified`]).
    pub fn is_verified(&self, sealed: &BlobHash, plain: &BlobHash) -> bool {
        self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&(*sealed, *plain))
    }

    /// Remembers that `sealed` decrypts to `plain` (at most a few thousand are remembered).
    pub fn set_verified(&self, sealed: BlobHash, plain: BlobHash) {
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= 4_096 {
            verified.clear();
        }
        verified.insert((sealed, plain));
    }

    /// Checks the complete copy of `sealed` held here, if any, against its hash; a damaged or
    /// missing one is discarded (and forgotten as verified), so the next fetch gets it again.
    /// Returns whether it was discarded.
    pub fn discard_if_damaged(&self, sealed: &BlobHash) -> Result<bool, haggle_storage::blobs::BlobError> {
        if self.blobs.has(sealed).is_none() || self.blobs.intact(sealed)? {
            return Ok(false);
        }
        tracing::warn!(file = %sealed.fmt_short(), "a file's copy here was damaged or removed: fetching it again");
        self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|(s, _)| s != sealed);
        self.blobs.discard(sealed);
        Ok(true)
    }

    /// The blob directory.
    pub fn blobs(&self) -> &Arc<Blobs> {
        &self.blobs
    }

    fn fetches(&self) -> std::sync::MutexGuard<'_, HashMap<BlobHash, (u64, watch::Receiver<FetchState>)>> {
        self.fetches.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a fetch of `hash` is under way.
    pub fn is_fetching(&self, hash: &BlobHash) -> bool {
        self.fetches().get(hash).is_some_and(|(_, rx)| *rx.borrow() == FetchState::Running)
    }

    /// The state of the last fetch of `hash` since the node started.
    pub fn state(&self, hash: &BlobHash) -> Option<FetchState> {
        self.fetches().get(hash).map(|(_, rx)| rx.borrow().clone())
    }

    /// Whether a fetch for a peer looked for `hash` lately and found nobody holding it.
    fn recently_not_found(&self, hash: &BlobHash) -> bool {
        let mut not_found = self.not_found.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        not_found.retain(|_, at| at.elapsed() < NOT_FOUND_FOR);
        not_found.contains_key(hash)
    }

    fn note_not_found(&self, hash: BlobHash) {
        let mut not_found = self.not_found.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if not_found.len() >= MAX_NOT_FOUND
            && let Some(oldest) = not_found.iter().min_by_key(|(_, at)| **at).map(|(h, _)| *h)
        {
            not_found.remove(&oldest);
        }
        not_found.insert(hash, Instant::now());
    }
}

impl NodeHandle {
    /// Fetches `blob` for the owner unless it is here or on its way (asking the peers in
    /// `prefer` first, then every connected peer); the receiver says when it is done.
    pub fn fetch(&self, blob: BlobRef, prefer: Vec<PeerId>) -> watch::Receiver<FetchState> {
        self.fetch_for(blob, prefer, Priority::Owner)
    }

    /// [`NodeHandle::fetch`] in the queue `priority` names.
    pub fn fetch_for(
        &self,
        blob: BlobRef,
        prefer: Vec<PeerId>,
        priority: Priority,
    ) -> watch::Receiver<FetchState> {
        use std::sync::atomic::Ordering;
        let files = self.files.clone();
        if files.blobs.has(&blob.hash) == Some(blob.size) {
            return watch::channel(FetchState::Done).1;
        }
        let mut fetches = files.fetches();
        if let Some((size, rx)) = fetches.get(&blob.hash)
            && *rx.borrow() == FetchState::Running
        {
            if *size == blob.size {
                return rx.clone();
            }
            return watch::channel(FetchState::Failed(
                "another fetch of this file, with another size, is under way".into(),
            ))
            .1;
        }
        let queued = &files.queued_background;
        if priority != Priority::Owner && queued.load(Ordering::SeqCst) >= MAX_BACKGROUND_QUEUE {
            return watch::channel(FetchState::Failed("too many background fetches waiting".into())).1;
        }
        let (tx, rx) = watch::channel(FetchState::Running);
        fetches.insert(blob.hash, (blob.size, rx.clone()));
        // Finished fetches are forgotten past a few hundred.
        if fetches.len() > 512 {
            fetches.retain(|_, (_, rx)| *rx.borrow() == FetchState::Running);
        }
        drop(fetches);
        if priority != Priority::Owner {
            queued.fetch_add(1, Ordering::SeqCst);
        }
        let handle = self.clone();
        tokio::spawn(async move {
            let files = handle.files.clone();
            let _permit = match priority {
                Priority::Owner => files.running.acquire().await,
                _ => {
                    let permit = files.background.acquire().await;
                    files.queued_background.fetch_sub(1, Ordering::SeqCst);
                    permit
                }
            };
            let state = match handle.run_fetch(blob, prefer, priority).await {
                Ok(()) => FetchState::Done,
                Err(why) => FetchState::Failed(why),
            };
            let failed = match &state {
                FetchState::Failed(why) => Some(why.clone()),
                _ => None,
            };
            if failed.is_some() && priority == Priority::ForPeer {
                files.note_not_found(blob.hash);
            }
            handle.announce(NodeEvent::FileFetched {
                hash: blob.hash.to_hex(),
                size: blob.size,
                error: failed,
            });
            let _ = tx.send(state);
        });
        rx
    }

    /// Starts fetching a small file a peer asked us for and we lack, if the pull-through budget
    /// allows: not for a request that was itself made for a peer (no chains of nodes fetching
    /// for each other), at most [`MAX_PULL_THROUGH`] at once, never a file larger than a
    /// picture, not one lately not found, and not past the file budget. Says whether it is on
    /// its way.
    pub(crate) fn pull_through(&self, blob: BlobRef, from_peer: PeerId, for_peer: bool) -> bool {
        use std::sync::atomic::Ordering;
        let files = &self.files;
        if files.is_fetching(&blob.hash) {
            return files.fetches().get(&blob.hash).is_some_and(|(size, _)| *size == blob.size);
        }
        if for_peer
            || blob.size > MAX_PULL_THROUGH_BYTES
            || blob.size == 0
            || files.recently_not_found(&blob.hash)
            || files.blobs.usage().1 >= files.budget
        {
            return false;
        }
        let pulling = &files.pulling;
        if pulling.fetch_add(1, Ordering::SeqCst) >= MAX_PULL_THROUGH {
            pulling.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        let mut rx = self.fetch_for(blob, vec![], Priority::ForPeer);
        let files = files.clone();
        tokio::spawn(async move {
            let _ = rx.wait_for(|s| *s != FetchState::Running).await;
            files.pulling.fetch_sub(1, Ordering::SeqCst);
        });
        tracing::debug!(hash = %blob.hash.fmt_short(), peer = %from_peer, "fetching a file a peer asked for");
        true
    }

    async fn run_fetch(&self, blob: BlobRef, prefer: Vec<PeerId>, priority: Priority) -> Result<(), String> {
        let stall = if priority == Priority::Owner { STALL } else { BACKGROUND_STALL };
        let for_peer = priority == Priority::ForPeer;
        let blobs = self.files.blobs.clone();
        let missing = blocking(move || blobs.missing(&blob)).await.map_err(|e| e.to_string())?;
        let mut pieces: VecDeque<(u32, u32)> = runs(&missing);
        let mut fetch = Fetch::new(prefer);
        let mut in_flight = FuturesUnordered::new();
        let mut last_progress = Instant::now();
        let mut last_event = Instant::now() - PROGRESS_EVERY;
        let deadline = (priority != Priority::Owner).then(|| Instant::now() + unwaited_limit(blob.size));
        let started = Instant::now();
        while !pieces.is_empty() || !in_flight.is_empty() {
            if fetch.peers.is_empty() || (in_flight.is_empty() && fetch.idle_peers().is_empty()) {
                fetch.refresh(self.connected_peers().await.map_err(|e| e.to_string())?);
            }
            while in_flight.len() < IN_FLIGHT && !pieces.is_empty() {
                let Some(peer) = fetch.next_peer(|p| self.files.has_room(p)) else { break };
                let Some(slot) = self.files.take_slot(peer) else { break };
                let Some((first, count)) = pieces.pop_front() else { break };
                *fetch.load.entry(peer).or_default() += 1;
                let request = BlobRequest { hash: blob.hash, size: blob.size, first, count, for_peer };
                let handle = self.clone();
                in_flight.push(async move {
                    let answer = handle.blob_request(peer, request).await;
                    drop(slot);
                    (peer, first, count, answer)
                });
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(format!(
                    "the file was not whole after {} s (a fetch nobody waits for gets that long for its size)",
                    unwaited_limit(blob.size).as_secs()
                ));
            }
            if in_flight.is_empty() {
                // Peers that would answer, all busy with this node's other fetches: waiting
                // for them is not a stall (their requests end, by answer or timeout).
                if !pieces.is_empty() && fetch.idle_peers().iter().any(|p| !self.files.has_room(p)) {
                    last_progress = Instant::now();
                }
                // The owner waiting at the command is told as soon as every peer said no; a
                // background fetch (and its `not_found` mark for a peer's later asks) waits the
                // stall, for peers that come.
                let all_said_no = priority == Priority::Owner
                    && started.elapsed() >= ALL_SAID_NO
                    && fetch.every_peer_said_no();
                if last_progress.elapsed() > stall || all_said_no {
                    return Err(fetch.why_stalled());
                }
                tokio::time::sleep(RETRY).await;
                fetch.retry_later_peers();
                continue;
            }
            let Some((peer, first, count, answer)) = in_flight.next().await else { continue };
            if let Some(n) = fetch.load.get_mut(&peer) {
                *n = n.saturating_sub(1);
            }
            match answer {
                Ok(BlobResponse::Data(encoded)) => {
                    let blobs = self.files.blobs.clone();
                    let received = blocking(move || blobs.receive(&blob, first, count, &encoded)).await;
                    self.files.metrics.file_answer(match &received {
                        Ok(_) => "verified",
                        Err(BlobError::Corrupt(_)) => "corrupt",
                        Err(_) => "failed",
                    });
                    match received {
                        Ok(progress) => {
                            last_progress = Instant::now();
                            if progress.complete || last_event.elapsed() >= PROGRESS_EVERY {
                                last_event = Instant::now();
                                self.progress(&blob, progress);
                            }
                        }
                        Err(BlobError::Corrupt(_)) => {
                            tracing::info!(%peer, hash = %blob.hash.fmt_short(), "a peer sent a file chunk that does not match its hash");
                            self.penalise(peer).await;
                            fetch.drop_peer(peer, "sent bytes that do not match the file's hash");
                            pieces.push_back((first, count));
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok(BlobResponse::Missing { fetching }) => {
                    self.files.metrics.file_answer("missing");
                    // Said if the fetch stalls: a trial's seller, its own copy lost, was left
                    // out of the peers named, and the buyer told to wait for it to be online.
                    if fetching {
                        fetch.note(
                            peer,
                            "does not hold the file now, and is looking for it among its own peers".into(),
                        );
                    }
                    fetch.set_aside(peer, fetching);
                    pieces.push_back((first, count));
                }
                Ok(BlobResponse::Busy) => {
                    self.files.metrics.file_answer("busy");
                    fetch.set_aside(peer, true);
                    pieces.push_back((first, count));
                }
                Err(e) => {
                    self.files.metrics.file_answer("failed");
                    // A timeout or a dropped connection: asked again later, unless it keeps failing.
                    fetch.failed(peer, e);
                    pieces.push_back((first, count));
                }
            }
            if pieces.is_empty() && in_flight.is_empty() {
                // A run may hold groups already here (a bad answer's good part): ask only for
                // what is still missing.
                let blobs = self.files.blobs.clone();
                let missing = blocking(move || blobs.missing(&blob)).await.map_err(|e| e.to_string())?;
                pieces = runs(&missing);
            }
        }
        Ok(())
    }

    fn progress(&self, blob: &BlobRef, progress: Progress) {
        let _ = self.events.send(NodeEvent::FileProgress {
            hash: blob.hash.to_hex(),
            have: progress.have,
            size: progress.size,
        });
    }
}

impl NodeHandle {
    /// Fetches, in the background, the thumbnails of a listing shown that are not here yet.
    pub(crate) fn fetch_thumbnails_of(&self, listing: &crate::api::types::ListingView) {
        let author: Vec<PeerId> = vec![listing.author.peer_id()];
        for image in &listing.images {
            if self.files.blobs.has(&image.thumb.hash).is_none() && !self.files.is_fetching(&image.thumb.hash)
            {
                drop(self.fetch_for(image.thumb, author.clone(), Priority::Background));
            }
        }
    }
}

/// Consecutive missing groups, in runs of at most [`MAX_GROUPS_PER_REQUEST`].
fn runs(missing: &[u32]) -> VecDeque<(u32, u32)> {
    let mut out: VecDeque<(u32, u32)> = VecDeque::new();
    for &g in missing {
        match out.back_mut() {
            Some((first, count)) if *first + *count == g && *count < MAX_GROUPS_PER_REQUEST => *count += 1,
            _ => out.push_back((g, 1)),
        }
    }
    out
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(BlobError::Io { path: "blobs".into(), source: std::io::Error::other(e) }))
}

/// The peers of one fetch.
#[derive(Debug)]
struct Fetch {
    /// Peers to ask, in order of preference.
    peers: Vec<PeerId>,
    /// Requests in flight per peer.
    load: HashMap<PeerId, usize>,
    /// Peers set aside for now (no file, busy, fetching it themselves), to ask again later if
    /// they said so.
    later: HashSet<PeerId>,
    /// Peers not to ask again in this fetch.
    dropped: HashSet<PeerId>,
    /// Failed requests per peer.
    failures: HashMap<PeerId, u32>,
    /// The last thing each peer said that was not the file, for the error.
    notes: Vec<String>,
    prefer: Vec<PeerId>,
    turn: usize,
    /// Whether any peer was connected while the fetch ran.
    saw_a_peer: bool,
}

impl Fetch {
    fn new(prefer: Vec<PeerId>) -> Self {
        Fetch {
            peers: Vec::new(),
            load: HashMap::new(),
            later: HashSet::new(),
            dropped: HashSet::new(),
            failures: HashMap::new(),
            notes: Vec::new(),
            prefer,
            turn: 0,
            saw_a_peer: false,
        }
    }

    /// Takes the connected peers, preferred ones first.
    fn refresh(&mut self, connected: Vec<PeerId>) {
        let connected: HashSet<PeerId> = connected.into_iter().collect();
        self.saw_a_peer |= !connected.is_empty();
        let mut peers: Vec<PeerId> = self.prefer.iter().filter(|p| connected.contains(p)).copied().collect();
        let mut rest: Vec<PeerId> = connected.iter().filter(|p| !self.prefer.contains(p)).copied().collect();
        rest.sort();
        peers.extend(rest);
        peers.retain(|p| !self.dropped.contains(p));
        self.peers = peers;
        // What is kept per peer goes with the peer: these maps never outgrow the connected set.
        self.load.retain(|p, _| connected.contains(p));
        self.failures.retain(|p, _| connected.contains(p));
        self.later.retain(|p| connected.contains(p));
        self.dropped.retain(|p| connected.contains(p));
    }

    fn idle_peers(&self) -> Vec<PeerId> {
        self.peers.iter().filter(|p| !self.later.contains(p)).copied().collect()
    }

    /// The next peer with room for a request (in this fetch, and by `room` over all fetches),
    /// round robin over those not set aside.
    fn next_peer(&mut self, room: impl Fn(&PeerId) -> bool) -> Option<PeerId> {
        let candidates = self.idle_peers();
        for i in 0..candidates.len() {
            let peer = candidates[(self.turn + i) % candidates.len()];
            if self.load.get(&peer).copied().unwrap_or(0) < PER_PEER && room(&peer) {
                self.turn = self.turn.wrapping_add(i + 1);
                return Some(peer);
            }
        }
        None
    }

    fn set_aside(&mut self, peer: PeerId, ask_again: bool) {
        if ask_again {
            self.later.insert(peer);
        } else {
            self.drop_peer(peer, "does not hold the file");
        }
    }

    fn failed(&mut self, peer: PeerId, why: String) {
        let failures = self.failures.entry(peer).or_default();
        *failures += 1;
        if *failures >= MAX_PEER_FAILURES {
            self.drop_peer(peer, &why);
        } else {
            self.later.insert(peer);
            self.note(peer, why);
        }
    }

    fn drop_peer(&mut self, peer: PeerId, why: &str) {
        self.dropped.insert(peer);
        self.peers.retain(|p| *p != peer);
        self.note(peer, why.to_owned());
    }

    /// Remembers what `peer` last said that was not the file (one line a peer, at most 8).
    fn note(&mut self, peer: PeerId, why: String) {
        let line = format!("{peer}: {why}");
        if let Some(old) = self.notes.iter_mut().find(|n| n.starts_with(&format!("{peer}:"))) {
            *old = line;
        } else if self.notes.len() < 8 {
            self.notes.push(line);
        }
    }

    /// Whether every connected peer was asked and is out of this fetch: each said it does not
    /// hold the file (and is not fetching it), failed too often, or sent bad bytes. Waiting
    /// longer only waits for a new peer, and the owner waiting at the command is better told.
    fn every_peer_said_no(&self) -> bool {
        self.saw_a_peer && self.peers.is_empty() && !self.dropped.is_empty()
    }

    fn retry_later_peers(&mut self) {
        self.later.clear();
    }

    fn why_stalled(&self) -> String {
        if !self.saw_a_peer {
            "this node has no connection to any peer (see `haggle status`; it may still be starting or offline)"
                .to_owned()
        } else if self.notes.is_empty() {
            "no connected peer holds the file".to_owned()
        } else {
            format!("no connected peer could send the file ({})", self.notes.join("; "))
        }
    }
}

/// How long a fetch nobody waits for may take in all (see [`UNWAITED_BASE`]).
fn unwaited_limit(size: u64) -> Duration {
    UNWAITED_BASE + Duration::from_secs(size.div_ceil(SLOWEST_RATE))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attack: a peer sending one verified group every 9 s kept a slot of the fetches nobody
    /// waits for (4 in all) for 19 minutes. Such a fetch now has a time for its size, at the
    /// slowest rate worth waiting for: a 2 MiB picture a minute, a thumbnail half of one.
    #[test]
    fn a_fetch_nobody_waits_for_has_a_time_for_its_size() {
        assert_eq!(unwaited_limit(2 * 1024 * 1024), Duration::from_secs(30 + 32));
        assert_eq!(unwaited_limit(16 * 1024), Duration::from_secs(31));
        // The drip: 128 groups of 16 KiB at one per 9 s would take 19 minutes.
        assert!(unwaited_limit(2 * 1024 * 1024) < Duration::from_secs(128 * 9) / 10);
    }

    #[test]
    fn runs_split_at_gaps_and_at_the_request_limit() {
        let missing: Vec<u32> = (0..40).chain(50..52).collect();
        assert_eq!(runs(&missing), VecDeque::from(vec![(0, 16), (16, 16), (32, 8), (50, 2)]));
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn a_stalled_fetch_says_whether_any_peer_was_there_to_ask() {
        let mut alone = Fetch::new(Vec::new());
        alone.refresh(Vec::new());
        assert!(alone.why_stalled().contains("no connection to any peer"), "{}", alone.why_stalled());

        let peer = PeerId::random();
        let mut asked = Fetch::new(Vec::new());
        asked.refresh(vec![peer]);
        asked.refresh(Vec::new());
        assert_eq!(asked.why_stalled(), "no connected peer holds the file");
        asked.refresh(vec![peer]);
        assert!(!asked.every_peer_said_no(), "not asked yet");
        asked.set_aside(peer, false);
        assert!(asked.why_stalled().contains("does not hold the file"), "{}", asked.why_stalled());
    }

    /// Defect: with every connected peer having said it does not hold a picture, `show
    /// --images` still waited the whole 30 s stall. A peer fetching it, or one not asked yet,
    /// is still worth the wait.
    #[test]
    fn a_fetch_ends_once_every_connected_peer_said_no() {
        let (one, two) = (PeerId::random(), PeerId::random());
        let mut fetch = Fetch::new(Vec::new());
        fetch.refresh(vec![one, two]);
        fetch.set_aside(one, false);
        fetch.refresh(vec![one, two]);
        assert!(!fetch.every_peer_said_no(), "the second was not asked");
        fetch.set_aside(two, true);
        fetch.refresh(vec![one, two]);
        assert!(!fetch.every_peer_said_no(), "the second is fetching it: ask again soon");
        fetch.set_aside(two, false);
        fetch.refresh(vec![one, two]);
        assert!(fetch.every_peer_said_no());
        // A new peer is asked in turn.
        fetch.refresh(vec![one, two, PeerId::random()]);
        assert!(!fetch.every_peer_said_no());
    }
}
