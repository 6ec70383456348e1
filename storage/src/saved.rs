//! Searches the owner saved, to be told what is new since they last looked: `S` + name → the
//! search (as the node's API words it, opaque here), when it was saved and last looked at, and
//! the listings it matched then with their prices. The node runs the search again and compares
//! (see the node's `service::saved`); the store only keeps the records, flushed before it
//! answers.

use haggle_protocol::{ListingKey, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::keys;
use crate::store::Store;

/// Searches one node keeps: more than a person follows by hand, few enough that running them
/// all again for `haggle saved` stays quick.
pub const MAX_SAVED_SEARCHES: usize = 20;

/// Listings a saved search remembers as seen: its newest matches when last looked at.
pub const MAX_SEEN: usize = 200;

/// The longest name a saved search takes, in bytes.
pub const MAX_SAVED_NAME: usize = 32;

/// The largest record read back (a search's words are at most 1,000 characters; the seen
/// listings take about 60 bytes each).
const MAX_RECORD: usize = 32 * 1024;

/// A saved search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// Its name, as the owner gave it.
    pub name: String,
    /// The search, in the words of the node's API (kept as given; the node reads it).
    pub query: String,
    /// When it was saved (a search saved again under its name is saved anew).
    pub saved_at: Timestamp,
    /// When the owner last looked at what was new.
    pub looked_at: Timestamp,
    /// Its newest matches when last looked at, at most [`MAX_SEEN`], in no set order.
    pub seen: Vec<Seen>,
}

/// One listing a saved search matched when last looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The listing.
    pub key: ListingKey,
    /// Its price then, as shown (none for a giveaway or a listing without one).
    pub price: Option<String>,
}

/// What [`Store::save_search`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// A new saved search.
    Added,
    /// A search saved under this name before is replaced.
    Replaced,
    /// [`MAX_SAVED_SEARCHES`] are saved already: nothing changed.
    Full,
}

fn record_key(name: &str) -> Vec<u8> {
    keys::key(keys::SAVED_SEARCH, &[name.as_bytes()])
}

fn encode(saved: &SavedSearch) -> Vec<u8> {
    bincode::serde::encode_to_vec(saved, bincode::config::standard()).expect("encoding cannot fail")
}

fn decode(bytes: &[u8]) -> Result<SavedSearch, StoreError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard().with_limit::<MAX_RECORD>())
        .map(|(saved, _)| saved)
        .map_err(|_| StoreError::Corrupt { what: "saved search" })
}

impl Store {
    /// Saves `saved` under its name, replacing a search of that name, on disk before it
    /// returns. Its seen listings past [`MAX_SEEN`] are not kept.
    pub fn save_search(&self, saved: &SavedSearch) -> Result<SaveOutcome, StoreError> {
        let _one_at_a_time = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let key = record_key(&saved.name);
        let held = self.db.contains_key(&key)?;
        if !held && self.db.scan_prefix([keys::SAVED_SEARCH]).count() >= MAX_SAVED_SEARCHES {
            return Ok(SaveOutcome::Full);
        }
        let mut kept = saved.clone();
        kept.seen.truncate(MAX_SEEN);
        self.db.insert(key, encode(&kept))?;
        self.db.flush()?;
        Ok(if held { SaveOutcome::Replaced } else { SaveOutcome::Added })
    }

    /// The saved searches, by name.
    pub fn saved_searches(&self) -> Result<Vec<SavedSearch>, StoreError> {
        self.db.scan_prefix([keys::SAVED_SEARCH]).map(|entry| decode(&entry?.1)).collect()
    }

    /// The saved search named `name`, if there is one.
    pub fn saved_search(&self, name: &str) -> Result<Option<SavedSearch>, StoreError> {
        self.db.get(record_key(name))?.map(|v| decode(&v)).transpose()
    }

    /// Records that the owner looked at the saved search `name` at `at`, when it matched `seen`
    /// (at most [`MAX_SEEN`] kept), on disk before it returns; whether it is still saved.
    pub fn looked_at(&self, name: &str, seen: Vec<Seen>, at: Timestamp) -> Result<bool, StoreError> {
        let _one_at_a_time = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut saved) = self.saved_search(name)? else { return Ok(false) };
        saved.seen = seen;
        saved.seen.truncate(MAX_SEEN);
        saved.looked_at = at;
        self.db.insert(record_key(name), encode(&saved))?;
        self.db.flush()?;
        Ok(true)
    }

    /// Deletes the saved search `name`, on disk before it returns; the search, if there was one.
    pub fn unsave_search(&self, name: &str) -> Result<Option<SavedSearch>, StoreError> {
        let _one_at_a_time = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let removed = self.db.remove(record_key(name))?.map(|v| decode(&v)).transpose()?;
        self.db.flush()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(name: &str, seen: usize) -> SavedSearch {
        let key = |i: usize| ListingKey {
            author: haggle_protocol::PublicKey::from_bytes([7; 32]),
            nonce: [i as u8; 16],
        };
        SavedSearch {
            name: name.into(),
            query: "{\"q\":\"bike\"}".into(),
            saved_at: Timestamp::from_millis(1_000),
            looked_at: Timestamp::from_millis(1_000),
            seen: (0..seen).map(|i| Seen { key: key(i), price: Some(format!("{i}.00 EUR")) }).collect(),
        }
    }

    #[test]
    fn saved_searches_are_kept_across_a_restart_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            assert_eq!(store.save_search(&saved("bikes", 3)).expect("save"), SaveOutcome::Added);
            assert_eq!(store.save_search(&saved("bikes", 2)).expect("save"), SaveOutcome::Replaced);
            for i in 1..MAX_SAVED_SEARCHES {
                assert_eq!(
                    store.save_search(&saved(&format!("s{i:02}"), 0)).expect("save"),
                    SaveOutcome::Added
                );
            }
            assert_eq!(store.save_search(&saved("one-more", 0)).expect("save"), SaveOutcome::Full);
            // Replacing one is still allowed when full.
            assert_eq!(store.save_search(&saved("s01", 1)).expect("save"), SaveOutcome::Replaced);
            let many = saved("s02", MAX_SEEN + 50).seen;
            assert!(store.looked_at("s02", many, Timestamp::from_millis(5_000)).expect("look"));
            assert!(!store.looked_at("nothing", Vec::new(), Timestamp::from_millis(5_000)).expect("look"));
        }
        let store = Store::open(dir.path()).expect("open");
        let all = store.saved_searches().expect("list");
        assert_eq!(all.len(), MAX_SAVED_SEARCHES);
        assert_eq!(all[0], saved("bikes", 2), "by name, as saved last");
        let looked = store.saved_search("s02").expect("read").expect("saved");
        assert_eq!((looked.seen.len(), looked.looked_at), (MAX_SEEN, Timestamp::from_millis(5_000)));
        assert_eq!(store.unsave_search("bikes").expect("unsave").map(|s| s.name), Some("bikes".into()));
        assert_eq!(store.unsave_search("bikes").expect("unsave"), None);
        assert_eq!(store.save_search(&saved("one-more", 0)).expect("save"), SaveOutcome::Added);
    }
}
