//! The node's recent events, kept a while for a client that reconnects: a `haggle watch` whose
//! node restarted (or whose connection broke) asks for the events since it lost the stream, and
//! hears what the node announced meanwhile (an auction that ended at start-up, a pledge
//! accepted) before the live ones. In memory only: a restarted node starts empty, and what it
//! announced since its start is what a watch reconnecting to it missed. Each event is kept as
//! it is announced (a clone and an uncontended lock), not by a subscriber task: no task wakes
//! per event for it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::api::types::NodeEvent;

/// The most events kept: a catch-up of thousands of listings keeps only its last ones (a watch
/// retells the newest listings by a search anyway).
pub(crate) const MAX_RECENT: usize = 2_000;
/// How long an event is kept (ms): a watch looks for its node every second.
pub(crate) const MAX_AGE_MS: u64 = 10 * 60_000;

/// Dropped events whose times are remembered, to count what a replay misses: past it, the
/// count is at least that.
const MAX_DROPPED: usize = 8_192;

/// Recent events with the time each was announced (unix ms), oldest first: other people's
/// listings by gossip apart from the rest, so that a burst of listings (a busy market, or a
/// stranger revising thousands) cannot push out the offers, deals and messages a reconnecting
/// client needs (from a trial: 2,940 revisions in 42 s left a replay of listings alone).
#[derive(Debug, Clone, Default)]
pub(crate) struct RecentEvents {
    kept: Arc<Mutex<Rings>>,
}

#[derive(Debug, Default)]
struct Rings {
    events: Ring,
    listings: Ring,
    /// The time given to the last event kept: each kept event's time is later than the one
    /// before, by a millisecond where two came in the same one, so that it names the event (an
    /// integrator trial saw two events with one SSE id in 25).
    last: u64,
}

impl Rings {
    /// The ring `event` is kept in.
    fn of(&mut self, event: &NodeEvent) -> &mut Ring {
        match event {
            NodeEvent::ListingStored { .. } => &mut self.listings,
            _ => &mut self.events,
        }
    }
}

/// Events kept, and the times of those dropped for the count (not for their age).
#[derive(Debug, Default)]
struct Ring {
    kept: VecDeque<(u64, NodeEvent)>,
    dropped: VecDeque<u64>,
}

impl Ring {
    fn keep(&mut self, at: u64, event: &NodeEvent) {
        while self.kept.front().is_some_and(|(t, _)| t.saturating_add(MAX_AGE_MS) < at) {
            self.kept.pop_front();
        }
        while self.dropped.front().is_some_and(|t| t.saturating_add(MAX_AGE_MS) < at) {
            self.dropped.pop_front();
        }
        if self.kept.len() >= MAX_RECENT
            && let Some((t, _)) = self.kept.pop_front()
        {
            if self.dropped.len() >= MAX_DROPPED {
                self.dropped.pop_front();
            }
            self.dropped.push_back(t);
        }
        self.kept.push_back((at, event.clone()));
    }

    /// How many events announced at or after `since` were dropped for the count.
    fn missed(&self, since: u64) -> usize {
        self.dropped.iter().filter(|t| **t >= since).count()
    }
}

/// What a client that lost the stream at `since` gets: the events kept since then, oldest
/// first, each with when it was announced, and how many of those announced since then were no
/// longer kept (0: none was lost).
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub(crate) events: Vec<(u64, NodeEvent)>,
    pub(crate) missed: usize,
}

impl RecentEvents {
    /// Keeps `event`, announced now.
    pub(crate) fn keep(&self, event: &NodeEvent) {
        self.keep_at(now_ms(), event);
    }

    /// Keeps `event`, announced at `at`, dropping what is too old or over the count. Routine
    /// events are not kept (a file's progress, a sync's, peers coming and going, listings a
    /// catch-up brought, which a watch retells by a search): a catch-up of thousands of
    /// listings, or peers churning, would push out the ends and deals a reconnecting watch
    /// needs.
    pub(crate) fn keep_at(&self, at: u64, event: &NodeEvent) {
        if routine(event) {
            return;
        }
        let mut rings = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = at.max(rings.last.saturating_add(1));
        rings.last = at;
        rings.of(event).keep(at, event);
    }

    /// When `event` was announced (unix ms), if it is kept: the newest kept that equals it. A
    /// live event's id is then the time its replay carries. A routine event, never kept, is not
    /// looked for (a catch-up brings thousands).
    pub(crate) fn announced_at(&self, event: &NodeEvent) -> Option<u64> {
        if routine(event) {
            return None;
        }
        let mut rings = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rings.of(event).kept.iter().rev().find(|(_, e)| e == event).map(|(at, _)| *at)
    }

    /// The events announced at or after `since` (unix ms), oldest first, none older than the
    /// age kept, each with when it was announced; and how many since then are no longer kept.
    pub(crate) fn since_at(&self, since: u64) -> Replay {
        let from = since.max(now_ms().saturating_sub(MAX_AGE_MS));
        let rings = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut events: Vec<(u64, NodeEvent)> = rings
            .events
            .kept
            .iter()
            .chain(rings.listings.kept.iter())
            .filter(|(at, _)| *at >= from)
            .cloned()
            .collect();
        // Each ring is in order; merged by time, each ring's own order kept among equal times.
        events.sort_by_key(|(at, _)| *at);
        Replay { events, missed: rings.events.missed(from) + rings.listings.missed(from) }
    }
}

/// Whether `event` is routine, and not kept: a file's progress, a sync's, peers coming and
/// going, listings a catch-up brought (a watch retells them by a search), a saved search
/// changed (a watch back from a node away reads it again anyway).
fn routine(event: &NodeEvent) -> bool {
    matches!(
        event,
        NodeEvent::FileProgress { .. }
            | NodeEvent::SyncProgress { .. }
            | NodeEvent::SyncCompleted { .. }
            | NodeEvent::PeerConnected { .. }
            | NodeEvent::PeerDisconnected { .. }
            | NodeEvent::ListingStored { by: crate::api::types::Arrival::Sync, .. }
            | NodeEvent::SavedSearchChanged { .. }
    )
}

fn now_ms() -> u64 {
    haggle_protocol::Timestamp::now().as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use haggle_protocol::ObjectId;

    /// The events of [`RecentEvents::since_at`], without their times.
    fn since(recent: &RecentEvents, since: u64) -> Vec<NodeEvent> {
        recent.since_at(since).events.into_iter().map(|(_, e)| e).collect()
    }

    fn stored(n: u8) -> NodeEvent {
        NodeEvent::ListingStored { id: ObjectId::from_bytes([n; 32]), by: crate::api::types::Arrival::Gossip }
    }

    /// What a reconnecting watch asks for: the events since it lost the stream, in order, never
    /// more than the bound or older than the age kept, and none of the routine ones that would
    /// push the others out.
    #[test]
    fn recent_events_are_kept_in_order_and_bounded_by_count_and_age() {
        let recent = RecentEvents::default();
        let now = now_ms();
        recent.keep_at(now - MAX_AGE_MS - 5_000, &stored(9));
        recent.keep_at(now - 3_000, &stored(1));
        recent.keep_at(now - 2_500, &NodeEvent::FileProgress { hash: "ab".into(), have: 1, size: 2 });
        let synced = NodeEvent::ListingStored {
            id: ObjectId::from_bytes([7; 32]),
            by: crate::api::types::Arrival::Sync,
        };
        recent.keep_at(now - 2_500, &synced);
        recent.keep_at(now - 1_000, &stored(2));
        assert_eq!(
            since(&recent, 0),
            vec![stored(1), stored(2)],
            "too old, progress and catch-up are not kept"
        );
        assert_eq!(since(&recent, now - 2_000), vec![stored(2)]);
        for n in 0..MAX_RECENT + 10 {
            recent.keep_at(now, &stored((n % 200) as u8));
        }
        assert_eq!(since(&recent, 0).len(), MAX_RECENT);
        assert_eq!(
            recent.since_at(0).missed,
            12,
            "stored(1), stored(2) and 10 more dropped for the count, told"
        );
    }

    /// From a trial: a stranger's 2,940 listing revisions in 42 s pushed a buyer's offer out of
    /// the replay, and nothing said so. Listings have a ring of their own, and a replay that
    /// lost events says how many.
    #[test]
    fn a_burst_of_listings_does_not_push_out_the_rest_and_losses_are_told() {
        let recent = RecentEvents::default();
        let now = now_ms();
        let offer = NodeEvent::NegotiationReceived {
            id: ObjectId::from_bytes([1; 32]),
            kind: crate::api::types::ObjectKind::Offer,
            thread: ObjectId::from_bytes([1; 32]),
        };
        recent.keep_at(now - 5_000, &offer);
        for n in 0..MAX_RECENT + 500 {
            recent.keep_at(now - 4_000 + (n / 1_000) as u64, &stored((n % 250) as u8));
        }
        let replay = recent.since_at(now - 5_000);
        assert_eq!(replay.events.first().map(|(_, e)| e), Some(&offer), "the offer is kept, first");
        assert_eq!(replay.events.len(), MAX_RECENT + 1);
        assert_eq!(replay.missed, 500, "the listings dropped are counted");
        assert!(replay.events.windows(2).all(|w| w[0].0 < w[1].0), "in time order, each time its own");
        assert_eq!(recent.since_at(now).missed, 0, "none announced since then was dropped");
    }
}
