//! The address book: where this node last reached peers it chose to dial, and where peers that
//! dialled it said they listen, so that a node restarted without bootstrap peers (or whose
//! bootstrap peers are gone) finds its way back to the network and to the parties its queued
//! messages are for.
//!
//! Three standings, kept in this order when the book is full: trading partners and bootstrap
//! peers ("chosen"), then peers this node reached by its own dial at a direct address that
//! worked ("reached"), then peers that dialled in and told their listen addresses ("heard",
//! untested: anyone can dial in and say anything). A heard entry never replaces a reached or
//! chosen one, goes first when the book is full, and at most [`MAX_HEARD_PEERS`] are kept, so
//! strangers dialling in can churn only those places. Within a standing, the least recently
//! noted goes first. Peers the DHT's own lookups reach are never written. Opaque bytes here; the node
//! parses them.

use crate::error::StoreError;
use crate::keys;
use crate::store::Store;

/// Peers the address book keeps.
pub const MAX_KNOWN_PEERS: usize = 64;
/// Of those, peers only heard of: a crowd of identities dialling in churns these places only.
pub const MAX_HEARD_PEERS: usize = 16;
/// The longest peer id and address kept, in bytes (a peer id is 38 bytes for an Ed25519 key; a
/// TCP or QUIC address under 60).
const MAX_PEER_BYTES: usize = 64;
const MAX_ADDRESS_BYTES: usize = 256;

/// A peer in the address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPeer {
    /// The peer id's bytes.
    pub peer: Vec<u8>,
    /// The address it was reached at, as a multiaddr's bytes.
    pub address: Vec<u8>,
    /// When (unix ms; never earlier than the entry before it, whatever the clock did).
    pub reached_at: u64,
    /// A bootstrap peer or a trading partner: kept before the others.
    pub chosen: bool,
    /// Only heard of: it dialled this node and told this address (kept after all the others).
    pub heard: bool,
}

/// The standing byte of an entry (see the module docs), in the order entries are kept.
const HEARD: u8 = 2;
const REACHED: u8 = 0;
const CHOSEN: u8 = 1;

/// How long an entry is kept relative to others: heard, then reached, then chosen.
fn rank(k: &KnownPeer) -> u8 {
    match (k.chosen, k.heard) {
        (true, _) => 2,
        (false, false) => 1,
        (false, true) => 0,
    }
}

impl Store {
    /// Notes that `peer` was reached at `address` at `now` (unix ms), replacing what the book
    /// held for it, and forgets peers beyond [`MAX_KNOWN_PEERS`]: the least recently noted of
    /// those heard of, then of those reached, then of the chosen. Ids or addresses too long to be
    /// real are not kept.
    /// Not flushed: a crash loses at most the last moments' entries.
    pub fn remember_peer(
        &self,
        peer: &[u8],
        address: &[u8],
        now: u64,
        chosen: bool,
    ) -> Result<(), StoreError> {
        self.note_peer(peer, address, now, if chosen { CHOSEN } else { REACHED })
    }

    /// Notes that `peer`, which dialled this node, says it listens at `address`: kept only if
    /// the book holds nothing better for it (see the module docs).
    pub fn heard_of_peer(&self, peer: &[u8], address: &[u8], now: u64) -> Result<(), StoreError> {
        self.note_peer(peer, address, now, HEARD)
    }

    fn note_peer(&self, peer: &[u8], address: &[u8], now: u64, standing: u8) -> Result<(), StoreError> {
        if peer.is_empty() || peer.len() > MAX_PEER_BYTES || address.len() > MAX_ADDRESS_BYTES {
            return Ok(());
        }
        let mut known = self.known_peers()?;
        let held = known.iter().find(|k| k.peer == peer);
        if standing == HEARD && held.is_some_and(|k| !k.heard) {
            return Ok(());
        }
        let standing = if held.is_some_and(|k| k.chosen) { CHOSEN } else { standing };
        // After the clock went back, a new entry would otherwise look the oldest and go first.
        let newest = known.iter().map(|k| k.reached_at).max().unwrap_or(0);
        let at = now.max(newest.saturating_add(1));
        let mut value = Vec::with_capacity(9 + address.len());
        value.extend_from_slice(&at.to_be_bytes());
        value.push(standing);
        value.extend_from_slice(address);
        known.retain(|k| k.peer != peer);
        // Least kept first: heard, then reached, then chosen; the least recent first in each.
        known.sort_by_key(|k| (rank(k), k.reached_at));
        let mut excess = (known.len() + 1).saturating_sub(MAX_KNOWN_PEERS);
        if standing == HEARD {
            // A heard peer takes no room a better entry holds, and heard peers only so many.
            let heard = known.iter().filter(|k| k.heard).count();
            excess = excess.max((heard + 1).saturating_sub(MAX_HEARD_PEERS));
            if known.iter().take(excess).any(|k| !k.heard) {
                return Ok(());
            }
        }
        self.db.insert(keys::key(keys::PEER_ADDRESS, &[peer]), value)?;
        for old in known.iter().take(excess) {
            self.db.remove(keys::key(keys::PEER_ADDRESS, &[&old.peer]))?;
        }
        Ok(())
    }

    /// Takes `peer` out of the address book (a peer banned for what it sent is not dialled at
    /// the next start).
    pub fn forget_peer(&self, peer: &[u8]) -> Result<(), StoreError> {
        self.db.remove(keys::key(keys::PEER_ADDRESS, &[peer]))?;
        Ok(())
    }

    /// The address book: chosen peers, then reached, then heard of, each group the most recently
    /// noted first. An entry that does not read is dropped.
    pub fn known_peers(&self) -> Result<Vec<KnownPeer>, StoreError> {
        let mut known = Vec::new();
        for entry in self.db.scan_prefix([keys::PEER_ADDRESS]) {
            let (k, v) = entry?;
            match (v.split_first_chunk::<8>(), k.get(1..)) {
                (Some((at, [chosen, address @ ..])), Some(peer)) if !peer.is_empty() && *chosen <= HEARD => {
                    known.push(KnownPeer {
                        peer: peer.to_vec(),
                        address: address.to_vec(),
                        reached_at: u64::from_be_bytes(*at),
                        chosen: *chosen == CHOSEN,
                        heard: *chosen == HEARD,
                    });
                }
                _ => {
                    self.db.remove(&k)?;
                }
            }
        }
        known.sort_by(|a, b| {
            (rank(b), b.reached_at).cmp(&(rank(a), a.reached_at)).then_with(|| a.peer.cmp(&b.peer))
        });
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_keeps_chosen_peers_then_the_most_recently_reached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.remember_peer(b"partner", b"/old", 1, true).expect("remember");
        store.remember_peer(b"partner", b"/new", 2, false).expect("remember");
        let known = store.known_peers().expect("read");
        let partner = KnownPeer {
            peer: b"partner".to_vec(),
            address: b"/new".to_vec(),
            reached_at: 2,
            chosen: true,
            heard: false,
        };
        assert_eq!(known, vec![partner], "the newer address, still chosen");

        // A crowd of others fills the book, but the partner stays, and the oldest others go.
        for i in 0..MAX_KNOWN_PEERS as u64 + 10 {
            store.remember_peer(format!("peer-{i}").as_bytes(), b"/addr", 10 + i, false).expect("remember");
        }
        let known = store.known_peers().expect("read");
        assert_eq!(known.len(), MAX_KNOWN_PEERS, "bounded");
        assert_eq!(known[0].peer, b"partner", "chosen first");
        assert_eq!(known[1].peer, format!("peer-{}", MAX_KNOWN_PEERS + 9).into_bytes(), "then the newest");
        assert!(known.iter().all(|k| k.peer != b"peer-0"), "the least recent went first");

        // A clock gone back does not make the newest entry the first to go.
        store.remember_peer(b"late", b"/addr", 5, false).expect("remember");
        let known = store.known_peers().expect("read");
        assert_eq!(known[1].peer, b"late", "dated after the newest entry");

        // What no real peer sends is not kept, and an unreadable entry is dropped.
        store.remember_peer(&[7; 65], b"/addr", 999, false).expect("ignored");
        store.remember_peer(b"peer-z", &[1; 257], 999, false).expect("ignored");
        store.db.insert(keys::key(keys::PEER_ADDRESS, &[b"broken"]), &[1u8, 2][..]).expect("insert");
        let known = store.known_peers().expect("read");
        assert!(known.iter().all(|k| k.peer != b"peer-z" && k.peer != b"broken" && k.peer.len() <= 64));
        assert!(store.known_peers().expect("read").len() <= MAX_KNOWN_PEERS);

        // A banned peer is forgotten, chosen or not.
        store.forget_peer(b"partner").expect("forget");
        assert!(store.known_peers().expect("read").iter().all(|k| k.peer != b"partner"));
    }

    /// Peers that dialled in are kept only where no peer this node reached needs the room, and
    /// only so many: a crowd of strangers dialling in cannot push out the peers it chose or
    /// reached.
    #[test]
    fn peers_heard_of_never_displace_peers_reached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for i in 0..40u64 {
            store.heard_of_peer(format!("crowd-{i}").as_bytes(), b"/addr", i).expect("note");
        }
        let known = store.known_peers().expect("read");
        assert_eq!(known.len(), MAX_HEARD_PEERS, "a crowd takes only the places of the heard");
        for k in &known {
            store.forget_peer(&k.peer).expect("forget");
        }
        store.heard_of_peer(b"inbound", b"/told", 1).expect("note");
        let known = store.known_peers().expect("read");
        assert!(known.len() == 1 && known[0].heard && !known[0].chosen, "{known:?}");
        // Reached by a dial later: no longer only heard of, and hearing again does not demote it.
        store.remember_peer(b"inbound", b"/dialled", 2, false).expect("note");
        store.heard_of_peer(b"inbound", b"/told-again", 3).expect("note");
        let known = store.known_peers().expect("read");
        assert_eq!((known[0].address.as_slice(), known[0].heard), (&b"/dialled"[..], false));

        for i in 0..MAX_KNOWN_PEERS as u64 - 1 {
            store.remember_peer(format!("reached-{i}").as_bytes(), b"/addr", 10 + i, false).expect("note");
        }
        // The book is full of peers reached: strangers find no room.
        for i in 0..100u64 {
            store.heard_of_peer(format!("stranger-{i}").as_bytes(), b"/addr", 100 + i).expect("note");
        }
        let known = store.known_peers().expect("read");
        assert_eq!(known.len(), MAX_KNOWN_PEERS);
        assert!(known.iter().all(|k| !k.heard), "no stranger displaced a peer reached");
        // With room, heard peers are kept after every other, and go first when room is needed.
        store.forget_peer(b"reached-0").expect("forget");
        store.forget_peer(b"reached-1").expect("forget");
        store.heard_of_peer(b"stranger-a", b"/addr", 300).expect("note");
        store.heard_of_peer(b"stranger-b", b"/addr", 301).expect("note");
        let known = store.known_peers().expect("read");
        assert_eq!(known.last().map(|k| k.heard), Some(true), "heard of last");
        store.remember_peer(b"reached-new", b"/addr", 400, false).expect("note");
        let known = store.known_peers().expect("read");
        assert!(known.iter().any(|k| k.peer == b"reached-new"));
        assert!(known.iter().all(|k| k.peer != b"stranger-a"), "the oldest heard entry made room");
        assert!(known.iter().any(|k| k.peer == b"stranger-b"));
    }
}
