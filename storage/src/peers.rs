//! The address book: where this node last reached each peer it dialled, so that a node restarted
//! without bootstrap peers (or whose bootstrap peers are gone) finds its way back to the network
//! and to the parties its queued messages are for.
//!
//! Only peers this node dialled are written (see the node's event loop): an address that worked
//! for a connection this node chose. Peers that dial in cannot fill the book, so a crowd of fresh
//! identities cannot push the useful entries out. The book keeps the [`MAX_KNOWN_PEERS`] most
//! recently reached; opaque bytes here, the node parses them.

use crate::error::StoreError;
use crate::keys;
use crate::store::Store;

/// Peers the address book keeps: the most recently reached.
pub const MAX_KNOWN_PEERS: usize = 64;
/// The longest peer id and address kept, in bytes (a peer id is 38 bytes for an Ed25519 key; an
/// address through a relay about 100).
const MAX_PEER_BYTES: usize = 64;
const MAX_ADDRESS_BYTES: usize = 256;

/// A peer in the address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPeer {
    /// The peer id's bytes.
    pub peer: Vec<u8>,
    /// The address it was reached at, as a multiaddr's bytes.
    pub address: Vec<u8>,
    /// When (unix ms).
    pub reached_at: u64,
}

impl Store {
    /// Notes that `peer` was reached at `address` at `reached_at` (unix ms), replacing what the
    /// book held for it, and forgets the least recently reached peers beyond
    /// [`MAX_KNOWN_PEERS`]. Ids or addresses too long to be real are not kept. Not flushed: a
    /// crash loses at most the last moments' entries.
    pub fn remember_peer(&self, peer: &[u8], address: &[u8], reached_at: u64) -> Result<(), StoreError> {
        if peer.is_empty() || peer.len() > MAX_PEER_BYTES || address.len() > MAX_ADDRESS_BYTES {
            return Ok(());
        }
        let mut value = Vec::with_capacity(8 + address.len());
        value.extend_from_slice(&reached_at.to_be_bytes());
        value.extend_from_slice(address);
        self.db.insert(keys::key(keys::PEER_ADDRESS, &[peer]), value)?;
        let mut known = self.known_peers()?;
        for old in known.drain(..).skip(MAX_KNOWN_PEERS) {
            self.db.remove(keys::key(keys::PEER_ADDRESS, &[&old.peer]))?;
        }
        Ok(())
    }

    /// The address book, most recently reached first.
    pub fn known_peers(&self) -> Result<Vec<KnownPeer>, StoreError> {
        let mut known = Vec::new();
        for entry in self.db.scan_prefix([keys::PEER_ADDRESS]) {
            let (k, v) = entry?;
            let Some((at, address)) = v.split_first_chunk::<8>() else {
                return Err(StoreError::Corrupt { what: "address book entry" });
            };
            known.push(KnownPeer {
                peer: k[1..].to_vec(),
                address: address.to_vec(),
                reached_at: u64::from_be_bytes(*at),
            });
        }
        known.sort_by(|a, b| b.reached_at.cmp(&a.reached_at).then_with(|| a.peer.cmp(&b.peer)));
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_keeps_the_most_recently_reached_peers_and_their_last_address() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.remember_peer(b"peer-a", b"/old", 1).expect("remember");
        store.remember_peer(b"peer-a", b"/new", 2).expect("remember");
        let known = store.known_peers().expect("read");
        assert_eq!(
            known,
            vec![KnownPeer { peer: b"peer-a".to_vec(), address: b"/new".to_vec(), reached_at: 2 }]
        );

        for i in 0..MAX_KNOWN_PEERS as u64 + 10 {
            store.remember_peer(format!("peer-{i}").as_bytes(), b"/addr", 10 + i).expect("remember");
        }
        let known = store.known_peers().expect("read");
        assert_eq!(known.len(), MAX_KNOWN_PEERS, "bounded");
        assert_eq!(known[0].peer, format!("peer-{}", MAX_KNOWN_PEERS + 9).into_bytes(), "newest first");
        assert!(known.iter().all(|k| k.peer != b"peer-a"), "the least recent went first");

        // What no real peer sends is not kept.
        store.remember_peer(&[7; 65], b"/addr", 999).expect("ignored");
        store.remember_peer(b"peer-z", &[1; 257], 999).expect("ignored");
        assert!(store.known_peers().expect("read").iter().all(|k| k.reached_at < 999));
    }
}
