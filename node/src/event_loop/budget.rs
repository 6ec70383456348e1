//! What one peer may make this node do, per second, and what happens past it.
//!
//! Each connected peer has a token bucket per kind of work (gossip objects to verify, objects
//! pushed by sync, sync requests, negotiation requests). A bucket refills at its rate up to its
//! burst; work past it is turned away before any decoding or signature check: gossip is
//! answered Ignore (not forwarded, not stored), requests are refused with a reason and
//! `retry`. For requests, which a peer sends of its own accord, a peer that keeps going past
//! the limit is provably over it: every [`OVERFLOW_OFFENCE`] turned-away requests count one
//! offence towards a ban (the same count bad signatures feed). Gossip and pushes are turned
//! away but never penalised: an honest relay passes on whatever its mesh carries, and a node
//! that has just caught up re-gossips what it fetched, bursts no peer can know are over our
//! budget. Buckets live in the peer's connection state; when the peer leaves, what is left of
//! them is remembered for a while, by PeerId and by address (see `PeerTable`), so a reconnect
//! does not refill them.

use std::time::Instant;

/// Items turned away, per peer, that count as one offence.
pub(super) const OVERFLOW_OFFENCE: u32 = 500;

/// A rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Most tokens held (what a peer may spend at once after a quiet spell).
    pub burst: f64,
}

/// Gossip objects one peer may hand us to verify: a busy market carries a few a second, and a
/// relay passes on what its mesh carries, so the bucket is wide.
pub(super) const GOSSIP: Rate = Rate { per_second: 100.0, burst: 2_000.0 };
/// Objects one peer may push to us in its sync sessions. Over it, the push is refused and the
/// session ends (not penalised: a node with a backlog pushes in good faith); what is left
/// arrives when this node fetches in a session of its own.
pub(super) const PUSHED: Rate = Rate { per_second: 200.0, burst: 5_000.0 };
/// Sync requests (reconcile rounds, fetches, pushes) one peer may send: a catch-up of a million
/// objects is about 4,000 fetches of 256, which a peer that stores 20,000 objects a second sends
/// at about 80 a second. A fetch costs the responder 256 reads (about a millisecond).
pub(super) const SYNC_REQUESTS: Rate = Rate { per_second: 100.0, burst: 1_000.0 };
/// Negotiation messages one peer may send directly: a person haggles at human speed; a node
/// delivering its outbox after a long absence sends a few dozen at once.
pub(super) const NEGOTIATE: Rate = Rate { per_second: 1.0, burst: 60.0 };
/// Requests for two parties' threads and deals (`/haggle/party/1`) one peer may send: a
/// session asks once on connecting and once for each answer that left some out (at most 8), and
/// each costs the responder a read of every thread and deal step it has with the asker.
pub(super) const PARTY: Rate = Rate { per_second: 0.2, burst: 16.0 };
/// File requests (16 groups of 16 KiB each, 256 KiB) one peer may send: 800 a second is about
/// 200 MB/s, more than a home link, so only a peer hammering over loopback meets it. Each costs
/// the responder a read of the file and its tree (about half a millisecond).
pub(super) const BLOB_REQUESTS: Rate = Rate { per_second: 800.0, burst: 1_600.0 };

/// A token bucket.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    rate: Rate,
    tokens: f64,
    at: Instant,
    /// Items turned away since the last offence was counted.
    overflow: u32,
}

/// What a bucket says about `n` more items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spend {
    /// Within the budget.
    Allowed,
    /// Over it: turn the items away.
    Over,
    /// Over it, and the peer has now been turned away [`OVERFLOW_OFFENCE`] times: count an
    /// offence.
    Offence,
}

impl Bucket {
    pub(super) fn new(rate: Rate, now: Instant) -> Self {
        Bucket { rate, tokens: rate.burst, at: now, overflow: 0 }
    }

    /// Spends `n` tokens if there are enough.
    pub(super) fn spend(&mut self, n: u32, now: Instant) -> Spend {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        self.at = now;
        let n = f64::from(n);
        if self.tokens >= n {
            self.tokens -= n;
            return Spend::Allowed;
        }
        self.overflow = self.overflow.saturating_add(n as u32);
        if self.overflow >= OVERFLOW_OFFENCE {
            self.overflow = 0;
            Spend::Offence
        } else {
            Spend::Over
        }
    }
}

/// A connected peer's buckets.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budgets {
    pub gossip: Bucket,
    pub pushed: Bucket,
    pub sync_requests: Bucket,
    pub negotiate: Bucket,
    pub blob_requests: Bucket,
    pub party: Bucket,
}

impl Budgets {
    /// The same tokens, with no items counted as turned away.
    pub(super) fn without_overflow(self) -> Self {
        let clear = |b: Bucket| Bucket { overflow: 0, ..b };
        Budgets {
            gossip: clear(self.gossip),
            pushed: clear(self.pushed),
            sync_requests: clear(self.sync_requests),
            negotiate: clear(self.negotiate),
            blob_requests: clear(self.blob_requests),
            party: clear(self.party),
        }
    }

    pub(super) fn new(now: Instant) -> Self {
        Budgets {
            gossip: Bucket::new(GOSSIP, now),
            pushed: Bucket::new(PUSHED, now),
            sync_requests: Bucket::new(SYNC_REQUESTS, now),
            negotiate: Bucket::new(NEGOTIATE, now),
            blob_requests: Bucket::new(BLOB_REQUESTS, now),
            party: Bucket::new(PARTY, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let now = Instant::now();
        let mut bucket = Bucket::new(Rate { per_second: 10.0, burst: 20.0 }, now);
        for _ in 0..20 {
            assert_eq!(bucket.spend(1, now), Spend::Allowed);
        }
        assert_eq!(bucket.spend(1, now), Spend::Over);
        // Half a second buys five more, never more than the burst.
        let later = now + Duration::from_millis(500);
        for _ in 0..5 {
            assert_eq!(bucket.spend(1, later), Spend::Allowed);
        }
        assert_eq!(bucket.spend(1, later), Spend::Over);
        let much_later = later + Duration::from_secs(3_600);
        assert_eq!(bucket.spend(20, much_later), Spend::Allowed);
        assert_eq!(bucket.spend(1, much_later), Spend::Over);
    }

    #[test]
    fn sustained_overflow_counts_an_offence_every_so_often() {
        let now = Instant::now();
        let mut bucket = Bucket::new(Rate { per_second: 1.0, burst: 1.0 }, now);
        assert_eq!(bucket.spend(1, now), Spend::Allowed);
        let offences = (0..OVERFLOW_OFFENCE * 3).filter(|_| bucket.spend(1, now) == Spend::Offence).count();
        assert_eq!(offences, 3);
    }
}
