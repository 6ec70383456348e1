//! Searches the owner saved, to be told what is new since they last looked: `S` + name → the
//! search (as the node's API words it, opaque here), when it was saved and last looked at, and
//! the listings the owner was shown, with their prices then. The node runs the search again and compares
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

/// Listings a saved search remembers as seen: its newest matches at each look, and before
/// them those seen at earlier looks that it does not match now (so one that leaves the matches
/// for a while, say while its seller is blocked, is not new when it is back).
pub const MAX_SEEN: usize = 500;

/// The longest name a saved search takes, in bytes.
pub const MAX_SAVED_NAME: usize = 32;

/// The largest record kept and read back (a search's words are at most 1,000 characters; the
/// seen listings take about 60 bytes each).
const MAX_RECORD: usize = 64 * 1024;

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
    /// The listings seen: its newest matches at the last look first, then those seen before
    /// that it did not match then; at most [`MAX_SEEN`].
    pub seen: Vec<Seen>,
}

/// One listing a saved search showed the owner at a look.
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

fn decode(bytes: &[u8]) -> Option<SavedSearch> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard().with_limit::<MAX_RECORD>())
        .ok()
        .map(|(saved, _)| saved)
}

/// `saved` as kept: its seen listings cut to [`MAX_SEEN`], and then to what fits a record.
fn encode_kept(saved: &SavedSearch) -> Vec<u8> {
    let mut kept = saved.clone();
    kept.seen.truncate(MAX_SEEN);
    loop {
        let bytes = encode(&kept);
        if bytes.len() <= MAX_RECORD || kept.seen.is_empty() {
            return bytes;
        }
        kept.seen.truncate(kept.seen.len() / 2);
    }
}

/// One saved search as read back: the search, or its name alone when its record does not read
/// (the owner can still delete it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedRecord {
    /// The search.
    Read(SavedSearch),
    /// The record under this name does not read.
    Damaged(String),
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
        self.db.insert(key, encode_kept(saved))?;
        self.db.flush()?;
        Ok(if held { SaveOutcome::Replaced } else { SaveOutcome::Added })
    }

    /// The saved searches, by name.
    pub fn saved_searches(&self) -> Result<Vec<SavedRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix([keys::SAVED_SEARCH]) {
            let (k, v) = entry?;
            out.push(match decode(&v) {
                Some(saved) => SavedRecord::Read(saved),
                None => SavedRecord::Damaged(String::from_utf8_lossy(&k[1..]).into_owned()),
            });
        }
        Ok(out)
    }

    /// The saved search named `name`, if there is one.
    pub fn saved_search(&self, name: &str) -> Result<Option<SavedRecord>, StoreError> {
        Ok(self.db.get(record_key(name))?.map(|v| match decode(&v) {
            Some(saved) => SavedRecord::Read(saved),
            None => SavedRecord::Damaged(name.to_owned()),
        }))
    }

    /// Records that the owner looked at the saved search `name` at `at`, when it matched
    /// `matched` (its newest matches): those are seen, and before them the listings seen
    /// earlier that it did not match now (the oldest past [`MAX_SEEN`] dropped). On disk before
    /// it returns. Whether the search is still the one saved at `saved_at` (not deleted, nor
    /// saved anew since the look began): if not, nothing is changed.
    pub fn looked_at(
        &self,
        name: &str,
        saved_at: Timestamp,
        matched: Vec<Seen>,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let _one_at_a_time = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let Some(SavedRecord::Read(mut saved)) = self.saved_search(name)? else { return Ok(false) };
        if saved.saved_at != saved_at {
            return Ok(false);
        }
        let now: std::collections::HashSet<ListingKey> = matched.iter().map(|s| s.key).collect();
        let earlier = saved.seen.into_iter().filter(|s| !now.contains(&s.key));
        saved.seen = matched.into_iter().chain(earlier).collect();
        saved.looked_at = at;
        self.db.insert(record_key(name), encode_kept(&saved))?;
        self.db.flush()?;
        Ok(true)
    }

    /// Deletes the saved search `name` (whether its record reads or not), on disk before it
    /// returns; whether there was one.
    pub fn unsave_search(&self, name: &str) -> Result<bool, StoreError> {
        let _one_at_a_time = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let removed = self.db.remove(record_key(name))?.is_some();
        self.db.flush()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> ListingKey {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
        ListingKey { author: haggle_protocol::PublicKey::from_bytes([7; 32]), nonce }
    }

    fn seen(range: std::ops::Range<usize>) -> Vec<Seen> {
        range.map(|i| Seen { key: key(i), price: Some(format!("{i}.00 EUR")) }).collect()
    }

    fn saved(name: &str, n: usize) -> SavedSearch {
        SavedSearch {
            name: name.into(),
            query: "{\"q\":\"bike\"}".into(),
            saved_at: Timestamp::from_millis(1_000),
            looked_at: Timestamp::from_millis(1_000),
            seen: seen(0..n),
        }
    }

    fn read(store: &Store, name: &str) -> SavedSearch {
        match store.saved_search(name).expect("read") {
            Some(SavedRecord::Read(saved)) => saved,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn saved_searches_are_kept_across_a_restart_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = Timestamp::from_millis(5_000);
        {
            let store = Store::open(dir.path()).expect("open");
            assert_eq!(store.save_search(&saved("bikes", 3)).expect("save"), SaveOutcome::Added);
            assert_eq!(store.save_search(&saved("bikes", 2)).expect("save"), SaveOutcome::Replaced);
            for i in 1..MAX_SAVED_SEARCHES {
                let outcome = store.save_search(&saved(&format!("s{i:02}"), 0)).expect("save");
                assert_eq!(outcome, SaveOutcome::Added);
            }
            assert_eq!(store.save_search(&saved("one-more", 0)).expect("save"), SaveOutcome::Full);
            // Replacing one is still allowed when full.
            assert_eq!(store.save_search(&saved("s01", 1)).expect("save"), SaveOutcome::Replaced);
            assert!(
                store
                    .looked_at("s02", Timestamp::from_millis(1_000), seen(0..MAX_SEEN + 50), at)
                    .expect("look")
            );
            assert!(
                !store.looked_at("nothing", Timestamp::from_millis(1_000), Vec::new(), at).expect("look")
            );
        }
        let store = Store::open(dir.path()).expect("open");
        let all = store.saved_searches().expect("list");
        assert_eq!(all.len(), MAX_SAVED_SEARCHES);
        assert_eq!(all[0], SavedRecord::Read(saved("bikes", 2)), "by name, as saved last");
        let looked = read(&store, "s02");
        assert_eq!((looked.seen.len(), looked.looked_at), (MAX_SEEN, at));
        assert!(store.unsave_search("bikes").expect("unsave"));
        assert!(!store.unsave_search("bikes").expect("unsave"));
        assert_eq!(store.save_search(&saved("one-more", 0)).expect("save"), SaveOutcome::Added);
    }

    /// A listing seen at one look and not matched at the next (its seller blocked meanwhile,
    /// say) stays seen, with its price then: back later, it is neither new nor repriced unless
    /// its price moved.
    #[test]
    fn a_look_keeps_what_was_seen_before_behind_what_matches_now() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.save_search(&saved("bikes", 5)).expect("save");
        let saved_at = Timestamp::from_millis(1_000);
        let mut now = seen(3..8);
        now[0].price = Some("1.00 EUR".into());
        assert!(
            store.looked_at("bikes", saved_at, now.clone(), Timestamp::from_millis(2_000)).expect("look")
        );
        let kept = read(&store, "bikes").seen;
        assert_eq!(kept[..5], now[..], "what matches now first, at its price now");
        assert_eq!(kept[5..], seen(0..3)[..], "then what was seen before");

        // Full: the oldest seen go first.
        let many = seen(100..100 + MAX_SEEN - 2);
        assert!(
            store.looked_at("bikes", saved_at, many.clone(), Timestamp::from_millis(3_000)).expect("look")
        );
        let kept = read(&store, "bikes").seen;
        assert_eq!(kept.len(), MAX_SEEN);
        assert_eq!(kept[..MAX_SEEN - 2], many[..]);
        assert_eq!(kept[MAX_SEEN - 2..], now[..2]);

        // Saved anew while a look ran: the look changes nothing.
        store
            .save_search(&SavedSearch { saved_at: Timestamp::from_millis(9_000), ..saved("bikes", 1) })
            .expect("save");
        assert!(
            !store.looked_at("bikes", saved_at, seen(0..9), Timestamp::from_millis(9_500)).expect("look")
        );
        assert_eq!(read(&store, "bikes").seen, seen(0..1));
    }

    /// A record that does not read is listed by its name and can be deleted; one that would not
    /// fit is kept with fewer listings seen.
    #[test]
    fn a_damaged_record_is_named_and_deleted_and_a_big_one_is_cut_to_fit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.db.insert(record_key("broken"), b"\xff\xff not a record".to_vec()).expect("insert");
        assert_eq!(store.saved_searches().expect("list"), vec![SavedRecord::Damaged("broken".into())]);
        assert_eq!(store.saved_search("broken").expect("read"), Some(SavedRecord::Damaged("broken".into())));
        assert!(store.unsave_search("broken").expect("unsave"));
        assert!(store.saved_searches().expect("list").is_empty());

        let mut big = saved("big", MAX_SEEN);
        for s in &mut big.seen {
            s.price = Some("9".repeat(200));
        }
        store.save_search(&big).expect("save");
        let kept = read(&store, "big");
        assert!(!kept.seen.is_empty() && kept.seen.len() < MAX_SEEN, "{}", kept.seen.len());
        assert_eq!(kept.seen[..], big.seen[..kept.seen.len()], "the first ones, the newest, kept");
    }
}
