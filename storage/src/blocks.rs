//! Keys the owner blocked. The node leaves their listings out of searches and live events and
//! refuses new threads from them (see the node's `service::blocks`); the store only keeps the
//! list: `X` + key → when (unix ms, 8 bytes) and the owner's note, on disk and, for the checks
//! every arrival makes, in memory.

use std::collections::HashMap;

use haggle_protocol::{PublicKey, Timestamp};

use crate::error::StoreError;
use crate::keys;
use crate::store::Store;

/// Keys one node may block: far more than a person blocks by hand, few enough that a search
/// leaving them all out stays cheap.
pub const MAX_BLOCKED: usize = 1_024;

/// One blocked key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The key.
    pub key: PublicKey,
    /// When it was blocked.
    pub since: Timestamp,
    /// Why, in the owner's words (may be empty).
    pub note: String,
}

/// What [`Store::block`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockOutcome {
    /// The key is blocked now.
    Added,
    /// The key was blocked already; its note is the new one (its date stays).
    Updated,
    /// The key was blocked already with this note: nothing changed.
    Unchanged,
    /// [`MAX_BLOCKED`] keys are blocked already: nothing changed.
    Full,
}

/// The blocked keys in memory: when each was blocked, and the owner's note.
pub(crate) type BlockedKeys = HashMap<PublicKey, (Timestamp, String)>;

/// The blocked keys held on disk (an entry that does not read is left out, here and in every
/// answer: the list in memory is the one that counts).
pub(crate) fn load(db: &sled::Db) -> Result<BlockedKeys, sled::Error> {
    let mut blocked = HashMap::new();
    for entry in db.scan_prefix([keys::BLOCKED]) {
        let (k, v) = entry?;
        let key = k.get(1..).and_then(|k| <[u8; 32]>::try_from(k).ok()).map(PublicKey::from_bytes);
        if let (Some(key), Some((since, note))) = (key, v.split_first_chunk::<8>()) {
            let note = String::from_utf8_lossy(note).into_owned();
            blocked.insert(key, (Timestamp::from_millis(u64::from_be_bytes(*since)), note));
        }
    }
    Ok(blocked)
}

impl Store {
    /// Blocks `key` (or changes its note; without one, a key blocked already keeps its own), on
    /// disk before it returns. The list in memory follows every write sled took, so a failed
    /// flush leaves the two agreeing.
    pub fn block(
        &self,
        key: PublicKey,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<BlockOutcome, StoreError> {
        let _one_at_a_time = self.blocking.lock().unwrap_or_else(|p| p.into_inner());
        // A note changed keeps the date the key was first blocked.
        let held = match self.blocked.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            Some((_, held)) if note.is_none_or(|note| held == note) => return Ok(BlockOutcome::Unchanged),
            Some((since, _)) => Some(*since),
            None => None,
        };
        let now = held.unwrap_or(now);
        let held = held.is_some();
        let note = note.unwrap_or_default();
        if !held && self.blocked.read().unwrap_or_else(|p| p.into_inner()).len() >= MAX_BLOCKED {
            return Ok(BlockOutcome::Full);
        }
        let mut value = Vec::with_capacity(8 + note.len());
        value.extend_from_slice(&now.to_be_bytes());
        value.extend_from_slice(note.as_bytes());
        self.db.insert(keys::key(keys::BLOCKED, &[key.as_bytes()]), value)?;
        self.blocked.write().unwrap_or_else(|p| p.into_inner()).insert(key, (now, note.to_owned()));
        self.db.flush()?;
        Ok(if held { BlockOutcome::Updated } else { BlockOutcome::Added })
    }

    /// Unblocks `key`, on disk before it returns; whether it was blocked.
    pub fn unblock(&self, key: &PublicKey) -> Result<bool, StoreError> {
        let _one_at_a_time = self.blocking.lock().unwrap_or_else(|p| p.into_inner());
        self.db.remove(keys::key(keys::BLOCKED, &[key.as_bytes()]))?;
        let removed = self.blocked.write().unwrap_or_else(|p| p.into_inner()).remove(key).is_some();
        self.db.flush()?;
        Ok(removed)
    }

    /// Whether `key` is blocked.
    pub fn is_blocked(&self, key: &PublicKey) -> bool {
        self.blocked.read().unwrap_or_else(|p| p.into_inner()).contains_key(key)
    }

    /// The blocked keys, for a search to leave out; in no set order.
    pub fn blocked_keys(&self) -> Vec<PublicKey> {
        self.blocked.read().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
    }

    /// The blocked keys with their dates and notes, the most recent first.
    pub fn blocked(&self) -> Vec<Blocked> {
        let blocked = self.blocked.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Blocked> = blocked
            .iter()
            .map(|(key, (since, note))| Blocked { key: *key, since: *since, note: note.clone() })
            .collect();
        out.sort_by(|a, b| b.since.cmp(&a.since).then_with(|| a.key.cmp(&b.key)));
        out
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::SecretKey;

    use super::*;

    fn key(n: u8) -> PublicKey {
        SecretKey::from_seed(&[n; 32]).public()
    }

    #[test]
    fn blocks_are_kept_across_a_restart_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            assert_eq!(
                store.block(key(1), Some("spam offers"), Timestamp::from_millis(10)).expect("block"),
                BlockOutcome::Added
            );
            assert_eq!(
                store.block(key(2), Some(""), Timestamp::from_millis(20)).expect("block"),
                BlockOutcome::Added
            );
            assert_eq!(
                store.block(key(1), Some("lowballs"), Timestamp::from_millis(30)).expect("block"),
                BlockOutcome::Updated
            );
            assert!(store.is_blocked(&key(1)) && store.is_blocked(&key(2)) && !store.is_blocked(&key(3)));
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert!(store.is_blocked(&key(1)) && store.is_blocked(&key(2)), "read back at open");
        let listed = store.blocked();
        let firsts: Vec<(PublicKey, u64, &str)> =
            listed.iter().map(|b| (b.key, b.since.as_millis(), b.note.as_str())).collect();
        assert_eq!(
            firsts,
            vec![(key(2), 20, ""), (key(1), 10, "lowballs")],
            "the most recently blocked first; a note changed keeps its key's date"
        );

        assert!(store.unblock(&key(1)).expect("unblock"));
        assert!(!store.unblock(&key(1)).expect("unblock again"), "not blocked any more");
        assert!(!store.is_blocked(&key(1)));
        assert_eq!(store.blocked_keys(), vec![key(2)]);

        // Full: a new key is refused, a held one's note still changes.
        for n in 0..MAX_BLOCKED - 1 {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&(n as u64 + 1_000).to_be_bytes());
            store.block(PublicKey::from_bytes(bytes), Some(""), Timestamp::from_millis(40)).expect("block");
        }
        assert_eq!(store.blocked_keys().len(), MAX_BLOCKED);
        assert_eq!(
            store.block(key(3), Some(""), Timestamp::from_millis(50)).expect("block"),
            BlockOutcome::Full
        );
        assert!(!store.is_blocked(&key(3)));
        assert_eq!(
            store.block(key(2), Some("again"), Timestamp::from_millis(50)).expect("block"),
            BlockOutcome::Updated
        );
    }
}
