//! Answers handed to libp2p and not yet written. An answer leaves the serving count when it is
//! handed over, but it stays in memory until the peer has read it: a peer that asks for large
//! answers and reads none holds them until the request times out, as many per connection as the
//! protocol allows streams. Sync answers and file answers are counted here, per peer and in all,
//! and a protocol refuses new requests (busy) while the asker, or everyone, is at its limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::InboundRequestId;

/// What a protocol lets wait unwritten.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Bytes waiting for one peer, at most (checked before an answer is made, so one answer may
    /// take a peer past it).
    pub per_peer: usize,
    /// Bytes waiting for all peers together, at most.
    pub total: usize,
    /// An answer still counted after this long is forgotten, whatever libp2p reported: longer
    /// than a stream of the protocol may live, so a report that never came cannot leave the
    /// node busy.
    pub forget_after: Duration,
}

/// The answers of one protocol waiting to be written. Bounded by the protocol's streams (an
/// entry per inbound stream answered), each entry gone on `ResponseSent` or `InboundFailure`
/// for its request (libp2p reports one for each answer of a connection that closes), or after
/// [`Limits::forget_after`] at the latest.
#[derive(Debug)]
pub(super) struct Unwritten<R = InboundRequestId> {
    /// Whose answer, its bytes, and when it was handed over, by request.
    waiting: HashMap<R, (PeerId, usize, Instant)>,
    /// The sum of `waiting`'s bytes.
    bytes: usize,
}

impl<R> Default for Unwritten<R> {
    fn default() -> Self {
        Unwritten { waiting: HashMap::new(), bytes: 0 }
    }
}

impl<R: Hash + Eq + Copy> Unwritten<R> {
    /// `bytes` of an answer to `peer` were handed to libp2p for `request` at `now`, or are
    /// reserved for it (replaced by the answer's own size when it is handed; an empty answer
    /// takes the reservation back).
    pub(super) fn handed(&mut self, request: R, peer: PeerId, bytes: usize, now: Instant) {
        if bytes == 0 {
            self.written(&request);
            return;
        }
        if let Some((_, old, _)) = self.waiting.insert(request, (peer, bytes, now)) {
            self.bytes -= old;
        }
        self.bytes += bytes;
    }

    /// The answer to `request` is written, or will never be.
    pub(super) fn written(&mut self, request: &R) {
        if let Some((_, bytes, _)) = self.waiting.remove(request) {
            self.bytes -= bytes;
        }
    }

    /// Whether answers waiting for `peer`, or for everyone, are at their limit at `now`
    /// (forgetting those counted for longer than `limits.forget_after` first).
    pub(super) fn full(&mut self, peer: &PeerId, limits: Limits, now: Instant) -> bool {
        let bytes = &mut self.bytes;
        self.waiting.retain(|_, (_, size, at)| {
            let kept = now.saturating_duration_since(*at) <= limits.forget_after;
            if !kept {
                *bytes -= *size;
            }
            kept
        });
        self.bytes >= limits.total
            || self.waiting.values().filter(|(p, ..)| p == peer).map(|(_, b, _)| b).sum::<usize>()
                >= limits.per_peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { per_peer: 100, total: 250, forget_after: Duration::from_secs(60) };

    #[test]
    fn a_peer_at_its_limit_is_busy_others_until_the_total() {
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut unwritten = Unwritten::<u64>::default();
        let now = Instant::now();
        unwritten.handed(1, a, 60, now);
        assert!(!unwritten.full(&a, LIMITS, now));
        unwritten.handed(2, a, 60, now);
        assert!(unwritten.full(&a, LIMITS, now), "120 waiting for a");
        assert!(!unwritten.full(&b, LIMITS, now));
        unwritten.handed(3, b, 90, now);
        unwritten.handed(4, c, 90, now);
        assert!(unwritten.full(&c, LIMITS, now) && unwritten.full(&b, LIMITS, now), "300 in all");
        // Written (or failed): counted no more; a second report changes nothing.
        unwritten.written(&2);
        unwritten.written(&2);
        assert!(!unwritten.full(&a, LIMITS, now) && !unwritten.full(&b, LIMITS, now), "{unwritten:?}");
        assert_eq!(unwritten.bytes, 240);
        // Empty answers are not counted at all, and take back what was reserved.
        unwritten.handed(5, a, 0, now);
        assert_eq!(unwritten.waiting.len(), 3);
        unwritten.handed(6, a, 50, now);
        unwritten.handed(6, a, 0, now);
        assert_eq!((unwritten.waiting.len(), unwritten.bytes), (3, 240));
        // A reservation replaced by the answer's size counts once.
        unwritten.handed(7, b, 90, now);
        unwritten.handed(7, b, 5, now);
        assert_eq!(unwritten.bytes, 245);
    }

    #[test]
    fn an_answer_counted_too_long_is_forgotten() {
        let a = PeerId::random();
        let mut unwritten = Unwritten::<u64>::default();
        let now = Instant::now();
        unwritten.handed(1, a, 500, now);
        assert!(unwritten.full(&a, LIMITS, now));
        assert!(unwritten.full(&a, LIMITS, now + LIMITS.forget_after));
        assert!(!unwritten.full(&a, LIMITS, now + LIMITS.forget_after + Duration::from_secs(1)));
        assert_eq!((unwritten.waiting.len(), unwritten.bytes), (0, 0));
    }
}
