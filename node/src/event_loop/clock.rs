//! How this node's clock compares with its peers'. Every object that arrives fresh (by gossip,
//! or delivered directly by its sender, unless dated so far behind that it may have waited in
//! the sender's outbox) with a good signature carries its author's clock
//! reading, and every sync message (version 3) its sender's; the difference to this node's clock
//! at arrival, over many objects and peers, says whether this clock is wrong. A sync starts on
//! every new direct connection, so a node learns at once, in a market where nobody publishes.
//! A clock minutes off breaks quietly: peers refuse what it signs
//! (dated ahead of theirs), or it refuses everything they send (dated ahead of its own), and its
//! auctions end early. The estimate goes into `haggle status` and onto what the owner publishes.
//!
//! Samples are kept per peer that carried them, one per author (its latest), at most one every
//! 2 seconds (a peer's own clock, read from its sync messages, counts under the peer's own key,
//! as its latest object would: the later of the two): a burst (what a node back online
//! publishes at once, all of it signed long ago) is
//! one sample, and an author who publishes a lot is one sample in a peer's window however much it
//! publishes. Each peer counts by the median of its samples, and the estimate is the median over
//! peers: one author whose clock is a few minutes off (an object within 5 minutes ahead is taken
//! and passed on, so every peer may carry it) is one sample of several in each peer's window, and
//! a hostile peer sending dates of its choice moves the estimate only as far as its share of the
//! connected peers. The estimate says how many peers agree with it (within a minute) and how many
//! authors it comes from, so a verdict from few peers or few authors, or from peers that disagree
//! among themselves, can be worded as the guess it is. The map holds connected peers only and is
//! bounded.
//!
//! Offsets are kept against a steady timeline (the wall clock at the first sample, carried on by
//! the monotonic clock), not the wall clock itself: a clock set right while the node runs (NTP
//! stepping it) reads right at once, with no hour of samples taken before the step to outlive.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;

use haggle_protocol::limits::MAX_CLOCK_SKEW_MS;
use haggle_protocol::{ObjectId, PublicKey};

use crate::api::types::ClockView;
use crate::service::Dated;

/// Samples kept per peer (the newest): few, so that a peer whose clock was set right reads
/// right after a handful of new objects.
const PER_PEER: usize = 8;
/// At most one sample per peer this often.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Peers with samples at once (more than a node keeps connections to).
const MAX_PEERS: usize = 256;
/// Samples older than this are not counted: a clock fixed an hour ago reads right.
const FRESH_FOR: Duration = Duration::from_secs(3_600);
/// Objects refused as dated ahead remembered, so that one sent again is not counted again.
const MAX_REFUSED_IDS: usize = 1_024;
/// How often the estimate is checked for the log (a warning when the clock goes off, a note
/// when it is back in step).
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Both clocks read at one moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now {
    /// The monotonic clock.
    pub at: Instant,
    /// The wall clock, in ms since the epoch.
    pub wall_ms: i64,
}

impl Now {
    pub(super) fn read() -> Now {
        let wall_ms = i64::try_from(haggle_protocol::Timestamp::now().as_millis()).unwrap_or(i64::MAX);
        Now { at: Instant::now(), wall_ms }
    }
}

/// One object's date: when it arrived, who signed it, and its date minus the steady timeline.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    author: PublicKey,
    steady: i64,
}

#[derive(Debug, Default)]
pub(super) struct ClockWatch {
    /// Per connected peer, oldest first.
    peers: HashMap<PeerId, VecDeque<Sample>>,
    /// The steady timeline's start: the wall clock and the monotonic clock read together at the
    /// first sample.
    anchor: Option<Now>,
    /// Distinct objects with a good signature refused as dated more than 5 minutes ahead.
    refused_ahead: u64,
    /// The latest of those, so a copy sent again is not counted twice.
    refused_ids: HashSet<ObjectId>,
    refused_order: VecDeque<ObjectId>,
    /// When the estimate was last checked for the log, and whether it said the clock is off.
    checked: Option<(Instant, bool)>,
}

impl ClockWatch {
    /// Notes an object `peer` carried. The caller passes connected peers only (the map shrinks
    /// when they leave).
    pub(super) fn record(&mut self, peer: PeerId, dated: Dated, now: Now) {
        if dated.offset_ms > i64::try_from(MAX_CLOCK_SKEW_MS).unwrap_or(i64::MAX) {
            self.count_refused(dated.id);
        }
        self.sample(peer, dated.author, dated.offset_ms, now);
    }

    /// Notes `peer`'s own clock, read `offset_ms` ahead of this node's (behind if negative) from
    /// a message it sent. The caller passes connected peers only.
    pub(super) fn record_reading(&mut self, peer: PeerId, offset_ms: i64, now: Now) {
        // A peer id that is no Ed25519 key (it signed nothing here) counts as an author of its
        // own all the same, under its id's last 32 bytes (a hash of its key).
        let author = PublicKey::from_peer_id(&peer).unwrap_or_else(|| {
            let bytes = peer.to_bytes();
            PublicKey::from_bytes(last_32_bytes(&bytes))
        });
        self.sample(peer, author, offset_ms, now);
    }

    fn sample(&mut self, peer: PeerId, author: PublicKey, offset_ms: i64, now: Now) {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PEERS {
            return;
        }
        let steady = offset_ms.saturating_add(self.step(now));
        let samples = self.peers.entry(peer).or_default();
        if samples.back().is_some_and(|s| now.at.saturating_duration_since(s.at) < SAMPLE_EVERY) {
            return;
        }
        // One sample per author: its latest.
        samples.retain(|s| s.author != author);
        if samples.len() >= PER_PEER {
            samples.pop_front();
        }
        samples.push_back(Sample { at: now.at, author, steady });
    }

    fn count_refused(&mut self, id: ObjectId) {
        if !self.refused_ids.insert(id) {
            return;
        }
        self.refused_ahead += 1;
        self.refused_order.push_back(id);
        if self.refused_order.len() > MAX_REFUSED_IDS
            && let Some(old) = self.refused_order.pop_front()
        {
            self.refused_ids.remove(&old);
        }
    }

    /// How far the wall clock has been moved since the anchor, against the monotonic clock (0
    /// before the first sample, which sets the anchor).
    fn step(&mut self, now: Now) -> i64 {
        let anchor = *self.anchor.get_or_insert(now);
        drift(anchor, now)
    }

    /// Logs a warning when a sure estimate first says this clock is more than a minute off, and
    /// a note when it is back in step; looked at once a minute at most.
    fn log_change(&mut self, now: Now) {
        if self.checked.is_some_and(|(at, _)| now.at.saturating_duration_since(at) < LOG_EVERY) {
            return;
        }
        let view = self.view(now);
        // A guess (few peers or authors, or peers that disagree) is not worth a warning.
        let off = view.off_by().filter(|_| view.is_sure());
        let was_off = self.checked.is_some_and(|(_, off)| off);
        self.checked = Some((now.at, off.is_some()));
        match off {
            Some(skew) if !was_off => tracing::warn!(
                skew_seconds = skew / 1_000,
                peers = view.peers,
                authors = view.authors,
                refused_ahead = view.refused_ahead,
                "this node's clock is about {} s {} its peers' clocks: set the system clock right (e.g. turn on NTP)",
                skew.unsigned_abs() / 1_000,
                if skew > 0 { "ahead of" } else { "behind" },
            ),
            None if was_off => {
                tracing::info!(peers = view.peers, "this node's clock is back in step with its peers'")
            }
            _ => {}
        }
    }

    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    pub(super) fn view(&self, now: Now) -> ClockView {
        // Back from the steady timeline to the wall clock as it reads now.
        let step = self.anchor.map_or(0, |anchor| drift(anchor, now));
        let fresh = |s: &&Sample| now.at.saturating_duration_since(s.at) <= FRESH_FOR;
        let mut authors = HashSet::new();
        let mut per_peer: Vec<i64> = self
            .peers
            .values()
            .filter_map(|samples| {
                let mut offsets: Vec<i64> = samples
                    .iter()
                    .filter(fresh)
                    .map(|s| {
                        authors.insert(s.author);
                        s.steady.saturating_sub(step)
                    })
                    .collect();
                median(&mut offsets)
            })
            .collect();
        let theirs = median(&mut per_peer);
        let within = ClockView::OFF_MS.unsigned_abs();
        ClockView {
            // Ours minus theirs: the opposite of their dates minus our clock.
            skew_ms: theirs.map(i64::saturating_neg),
            peers: per_peer.len(),
            agreeing: theirs.map_or(0, |m| {
                per_peer.iter().filter(|p| p.saturating_sub(m).unsigned_abs() <= within).count()
            }),
            authors: authors.len(),
            refused_ahead: self.refused_ahead,
        }
    }
}

impl super::EventLoop {
    /// Notes the date of a fresh object `peer` sent, if it is still connected.
    pub(super) fn note_date(&mut self, peer: PeerId, inbound: &crate::service::Inbound) {
        if let Some(dated) = inbound.dated
            && self.swarm.is_connected(&peer)
        {
            let now = Now::read();
            self.clock.record(peer, dated, now);
            self.clock.log_change(now);
        }
    }

    /// Notes the clock reading a sync message from `peer` carried, if any.
    pub(super) fn note_clock(&mut self, peer: PeerId, clock_ms: Option<u64>) {
        if let Some(clock_ms) = clock_ms
            && self.swarm.is_connected(&peer)
        {
            let now = Now::read();
            let theirs = i64::try_from(clock_ms).unwrap_or(i64::MAX);
            self.clock.record_reading(peer, theirs.saturating_sub(now.wall_ms), now);
            self.clock.log_change(now);
        }
    }
}

/// The last 32 bytes of `bytes`, zero-padded in front when it is shorter.
fn last_32_bytes(bytes: &[u8]) -> [u8; 32] {
    let mut tail = [0; 32];
    let n = bytes.len().min(32);
    tail[32 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    tail
}

/// How far the wall clock moved against the monotonic clock from `anchor` to `now`, in ms.
fn drift(anchor: Now, now: Now) -> i64 {
    let elapsed = i64::try_from(now.at.saturating_duration_since(anchor.at).as_millis()).unwrap_or(i64::MAX);
    now.wall_ms.saturating_sub(anchor.wall_ms).saturating_sub(elapsed)
}

/// The median (of an even count, the mean of the middle two).
fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        let (a, b) = (values[mid - 1], values[mid]);
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// `now`, `d` later on both clocks.
    fn after(now: Now, d: Duration) -> Now {
        Now { at: now.at + d, wall_ms: now.wall_ms + d.as_millis() as i64 }
    }

    /// A clock for a test: each call is one sampling interval after the last.
    fn ticking() -> impl FnMut() -> Now {
        let mut now = Now::read();
        move || {
            now = after(now, SAMPLE_EVERY);
            now
        }
    }

    /// An object by author `n` (its id told apart by `object`), dated `offset_ms` from our clock.
    fn by(n: u8, object: u8, offset_ms: i64) -> Dated {
        let author = haggle_protocol::fixtures::key(n).public();
        Dated { offset_ms, author, id: ObjectId::from_bytes([n ^ object.rotate_left(4); 32]) }
    }

    #[test]
    fn the_median_over_peers_outvotes_a_peer_and_an_author_with_a_wrong_clock() {
        let mut watch = ClockWatch::default();
        let mut tick = ticking();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        // This node is 7 minutes behind: fresh objects from five authors read 7 minutes ahead,
        // less a little transit. One more author is an hour behind; peer c lies about everything.
        for n in 1..=5u8 {
            let now = tick();
            watch.record(a, by(n, 1, 7 * MIN - 200 - i64::from(n)), now);
            watch.record(b, by(n, 1, 7 * MIN - 300 - i64::from(n)), now);
            watch.record(c, by(50 + n, 1, 90 * MIN), now);
        }
        let now = tick();
        watch.record(a, by(9, 1, -53 * MIN), now);
        let view = watch.view(now);
        assert_eq!((view.peers, view.agreeing, view.authors), (3, 2, 11));
        assert!(view.is_sure());
        let skew = view.skew_ms.expect("an estimate");
        assert!((-7 * MIN..-7 * MIN + 1_000).contains(&skew), "{skew}");
        assert_eq!(view.off_by(), Some(skew));
        // Every object dated more than 5 minutes ahead was refused, each counted once (a and b
        // passed on the same five).
        assert_eq!(view.refused_ahead, 10);
    }

    #[test]
    fn peers_own_clocks_decide_where_nobody_publishes() {
        let mut watch = ClockWatch::default();
        let mut tick = ticking();
        // Three peers' sync messages read 6 minutes behind this clock (it is ahead); nothing
        // signed arrives. Each peer's own clock is an author of its own: three, so sure.
        let peers: Vec<PeerId> =
            (0..3).map(|_| libp2p::identity::Keypair::generate_ed25519().public().to_peer_id()).collect();
        let now = tick();
        for (i, p) in peers.iter().enumerate() {
            watch.record_reading(*p, -6 * MIN - i as i64 * 100, now);
        }
        let view = watch.view(now);
        assert_eq!((view.peers, view.agreeing, view.authors, view.refused_ahead), (3, 3, 3, 0));
        assert!(view.is_sure());
        let skew = view.skew_ms.expect("an estimate");
        assert!((6 * MIN..6 * MIN + 1_000).contains(&skew), "{skew}");

        // A peer's own clock and the objects it carries: one author more in its window, and a
        // reading again a moment later is not a second sample.
        let later = tick();
        watch.record(peers[0], by(7, 1, -6 * MIN), later);
        watch.record_reading(peers[0], -6 * MIN, later);
        assert_eq!(watch.peers[&peers[0]].len(), 2);
        assert_eq!(watch.view(later).authors, 4);

        // A peer id that is no Ed25519 key counts as an author all the same.
        let odd = PeerId::random();
        watch.record_reading(odd, 0, tick());
        assert_eq!(watch.view(tick()).authors, 5);
    }

    #[test]
    fn an_author_ahead_whom_every_peer_passes_on_does_not_decide() {
        // An object dated 4 minutes ahead is taken and passed on, so every peer carries the
        // prolific author's objects; each peer carries its latest once, among the others'.
        let mut watch = ClockWatch::default();
        let mut tick = ticking();
        let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        for round in 0..6u8 {
            for (p, peer) in peers.iter().enumerate() {
                let now = tick();
                let fast = by(1, round, 4 * MIN);
                let right = by(10 + round * 4 + p as u8, 0, -250);
                watch.record(*peer, if round % 2 == 0 { fast } else { right }, now);
            }
        }
        let view = watch.view(tick());
        assert_eq!(view.off_by(), None, "one fast author among many: {view:?}");
        assert_eq!(view.skew_ms, Some(250));
        assert!(view.authors >= 10, "{view:?}");
    }

    #[test]
    fn one_author_is_a_guess_however_many_peers_carry_it() {
        let mut watch = ClockWatch::default();
        let now = Now::read();
        for _ in 0..4 {
            watch.record(PeerId::random(), by(1, 1, -3 * MIN), now);
        }
        let view = watch.view(now);
        assert_eq!((view.peers, view.agreeing, view.authors), (4, 4, 1));
        assert!(view.off_by().is_some() && !view.is_sure(), "{view:?}");
    }

    #[test]
    fn an_object_sent_again_is_counted_refused_once() {
        let mut watch = ClockWatch::default();
        let mut tick = ticking();
        let peer = PeerId::random();
        for _ in 0..50 {
            watch.record(peer, by(1, 1, 10 * MIN), tick());
        }
        assert_eq!(watch.view(tick()).refused_ahead, 1);
        for object in 0..(MAX_REFUSED_IDS + 10) {
            let id = ObjectId::from_bytes(blake_ish(object));
            watch.count_refused(id);
        }
        assert_eq!((watch.refused_ids.len(), watch.refused_order.len()), (MAX_REFUSED_IDS, MAX_REFUSED_IDS));
    }

    /// 32 distinct bytes for `n`.
    fn blake_ish(n: usize) -> [u8; 32] {
        let mut bytes = [0; 32];
        bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
        bytes
    }

    #[test]
    fn a_right_clock_reads_in_step_and_old_samples_and_gone_peers_stop_counting() {
        let mut watch = ClockWatch::default();
        let then = Now::read();
        let later = after(then, FRESH_FOR + Duration::from_secs(1));
        let (a, b) = (PeerId::random(), PeerId::random());
        watch.record(a, by(1, 1, 30 * MIN), then);
        watch.record(a, by(2, 1, -150), later);
        watch.record(b, by(3, 1, -250), later);
        let view = watch.view(later);
        assert_eq!((view.skew_ms, view.peers, view.agreeing, view.off_by()), (Some(200), 2, 2, None));
        assert!(!view.is_sure(), "two peers are a guess");
        watch.forget(&a);
        watch.forget(&b);
        assert_eq!(
            watch.view(later),
            ClockView { skew_ms: None, peers: 0, agreeing: 0, authors: 0, refused_ahead: 1 }
        );
    }

    #[test]
    fn the_map_and_each_peers_samples_are_bounded() {
        let mut watch = ClockWatch::default();
        let mut tick = ticking();
        let first = PeerId::random();
        for n in 0..100u8 {
            watch.record(first, by(n, 0, i64::from(n)), tick());
        }
        assert_eq!(watch.peers[&first].len(), PER_PEER);
        assert_eq!(
            watch.peers[&first].front().map(|s| s.steady),
            Some(100 - PER_PEER as i64),
            "oldest go first"
        );
        // The same author again replaces its sample.
        watch.record(first, by(99, 0, 5), tick());
        assert_eq!(watch.peers[&first].len(), PER_PEER);
        assert_eq!(watch.peers[&first].back().map(|s| s.steady), Some(5));
        let now = tick();
        for _ in 0..MAX_PEERS + 10 {
            watch.record(PeerId::random(), by(1, 0, 0), now);
        }
        assert_eq!(watch.peers.len(), MAX_PEERS);
    }

    #[test]
    fn a_burst_of_late_objects_from_one_peer_is_one_sample() {
        let mut watch = ClockWatch::default();
        let mut tick = ticking();
        let peer = PeerId::random();
        for n in 0..4 {
            watch.record(peer, by(n, 0, -300), tick());
        }
        // Back online, a node publishes at once what it signed hours ago.
        let now = tick();
        for object in 0..10 {
            watch.record(peer, by(20, object, -3 * 60 * MIN), now);
        }
        let now = tick();
        watch.record(peer, by(30, 0, -250), now);
        assert_eq!(watch.peers[&peer].len(), 6);
        assert_eq!(watch.view(now).skew_ms, Some(300));
    }

    #[test]
    fn a_clock_set_right_while_the_node_runs_reads_right_at_once() {
        let mut watch = ClockWatch::default();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        // 10 minutes behind: everything reads 10 minutes ahead.
        let before = Now::read();
        for (n, peer) in [a, b, c].into_iter().enumerate() {
            watch.record(peer, by(n as u8, 0, 10 * MIN - 300), before);
        }
        assert!(watch.view(before).skew_ms.is_some_and(|s| s < -9 * MIN));
        // NTP steps the clock 10 minutes forward, a little later: the samples taken before the
        // step read as they would have against the right clock.
        let later = after(before, SAMPLE_EVERY);
        let stepped = Now { wall_ms: later.wall_ms + 10 * MIN, ..later };
        let view = watch.view(stepped);
        assert_eq!((view.skew_ms, view.off_by(), view.agreeing), (Some(300), None, 3));
        // And new samples are taken against the right clock.
        watch.record(a, by(7, 0, -300), stepped);
        assert_eq!(watch.peers[&a].len(), 2);
        assert_eq!(watch.view(stepped).skew_ms, Some(300));
    }

    #[test]
    fn peers_that_disagree_make_the_estimate_a_guess() {
        let mut watch = ClockWatch::default();
        let now = Now::read();
        for (n, offset) in [-10 * MIN, 0, 120 * MIN, 10 * MIN].into_iter().enumerate() {
            watch.record(PeerId::random(), by(n as u8, 0, offset), now);
        }
        let view = watch.view(now);
        assert_eq!((view.peers, view.authors), (4, 4));
        assert!(view.agreeing <= 2 && !view.is_sure(), "{view:?}");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3, 1, 2]), Some(2));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
        assert_eq!(median(&mut [i64::MAX, i64::MAX]), Some(i64::MAX));
        assert_eq!(median(&mut [-5, -4]), Some(-4));
    }
}
