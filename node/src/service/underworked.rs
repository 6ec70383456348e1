//! Objects refused for too little proof of work, remembered a while so that sync does not fetch
//! them again. A peer whose node asks less work (`pow_bits` lower, as a private test network
//! may set it) holds objects this node refuses; they stay on the peer's side of every
//! reconciliation, and without this each sync fetched and refused them all again (from an
//! operator's trial: 1,699 listings, about 1 MB, twice every 30 s, with nothing said).
//!
//! In memory, bounded by count and age: the ids come from peers (a hostile one can make up
//! objects without work for free), so nothing is written to disk for them, and a restart
//! forgets them (the node then fetches them once more, and says so once more).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use haggle_protocol::ObjectId;

/// Ids remembered at most: 65,536 ids take about 6 MiB at most, only when such objects come.
pub(crate) const MAX_UNDERWORKED: usize = 65_536;
/// How long an id is remembered: an operator who lowers `pow_bits` restarts the node, which
/// forgets them at once.
pub(crate) const UNDERWORKED_FOR: Duration = Duration::from_secs(3_600);
/// How often the log says that such objects were refused.
const TOLD_EVERY: Duration = Duration::from_secs(600);

/// The refused ids, oldest first, and when the log last said so.
#[derive(Debug, Default)]
pub(crate) struct Underworked {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashSet<ObjectId>,
    order: VecDeque<(Instant, ObjectId)>,
    told_at: Option<Instant>,
    /// Refused since the log last said so.
    untold: u64,
}

impl Underworked {
    /// Remembers `ids` as refused at `now`, dropping the oldest over [`MAX_UNDERWORKED`] and
    /// those older than [`UNDERWORKED_FOR`]. Returns how many were refused since the log last
    /// said so when it is time to say it again.
    pub(crate) fn refused(&self, ids: &[ObjectId], now: Instant) -> Option<u64> {
        if ids.is_empty() {
            return None;
        }
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.expire(now);
        for id in ids {
            if !inner.ids.insert(*id) {
                continue;
            }
            if inner.order.len() >= MAX_UNDERWORKED
                && let Some((_, oldest)) = inner.order.pop_front()
            {
                inner.ids.remove(&oldest);
            }
            inner.order.push_back((now, *id));
        }
        inner.untold += ids.len() as u64;
        if inner.told_at.is_some_and(|at| now.duration_since(at) < TOLD_EVERY) {
            return None;
        }
        inner.told_at = Some(now);
        Some(std::mem::take(&mut inner.untold))
    }

    /// Whether `id` was refused for its work within the last [`UNDERWORKED_FOR`].
    pub(crate) fn contains(&self, id: &ObjectId, now: Instant) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if inner.ids.is_empty() {
            return false;
        }
        inner.expire(now);
        inner.ids.contains(id)
    }
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        while let Some((at, id)) = self.order.front().copied() {
            if now.duration_since(at) < UNDERWORKED_FOR {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> ObjectId {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        ObjectId::from_bytes(bytes)
    }

    #[test]
    fn refused_ids_are_remembered_for_an_hour_and_bounded_in_count() {
        let set = Underworked::default();
        let start = Instant::now();
        // The first refusal is told at once, the next only after ten minutes, with the count.
        assert_eq!(set.refused(&[id(1), id(2)], start), Some(2));
        assert_eq!(set.refused(&[id(3)], start + Duration::from_secs(60)), None);
        assert!(set.contains(&id(1), start + Duration::from_secs(60)));
        assert_eq!(set.refused(&[id(4)], start + TOLD_EVERY), Some(2));
        // An hour after its refusal, an id is forgotten (fetched again).
        assert!(!set.contains(&id(1), start + UNDERWORKED_FOR));
        assert!(set.contains(&id(4), start + UNDERWORKED_FOR));
        // Bounded: the oldest go first.
        let many: Vec<ObjectId> = (10..10 + MAX_UNDERWORKED as u32).map(id).collect();
        let later = start + UNDERWORKED_FOR;
        set.refused(&many, later);
        let inner = set.inner.lock().expect("lock");
        assert_eq!((inner.ids.len(), inner.order.len()), (MAX_UNDERWORKED, MAX_UNDERWORKED));
        drop(inner);
        assert!(!set.contains(&id(4), later) && set.contains(&id(10), later));
    }
}
