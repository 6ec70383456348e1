//! The owner's own names for other people's keys (petnames): `Bob` for the key of someone it
//! traded with. A name lives on this node only, and means what its owner says it means: it is
//! never published, and nobody else can set or spoof it (a name someone gave themselves could
//! be anyone's). `Y` + key → when it was named (unix ms, 8 bytes) and the name.

use haggle_protocol::{PublicKey, Timestamp};

use crate::error::StoreError;
use crate::keys;
use crate::store::Store;

/// Keys one node may name: far more than a person names by hand.
pub const MAX_NAMES: usize = 1_024;

/// Longest name, in characters: it stands for a key in a table's column.
pub const MAX_NAME_CHARS: usize = 32;

/// One named key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The key.
    pub key: PublicKey,
    /// The owner's name for it.
    pub name: String,
    /// When it was named (or last renamed).
    pub since: Timestamp,
}

/// What [`Store::name`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOutcome {
    /// The key has this name now; it had none.
    Added,
    /// The key had another name, given here.
    Renamed(String),
    /// The key had this name already: nothing changed.
    Unchanged,
    /// [`MAX_NAMES`] keys are named already: nothing changed.
    Full,
    /// Another key has this name already (given here, with the name as it holds it): a name
    /// stands for one key, or it would not tell them apart.
    Taken(PublicKey, String),
}

/// Whether two names are the same name: equal in lower case (Unicode's), compatibility-composed
/// (NFKC: a letter and its combining accent is the accented letter, a full-width `（` is `(`)
/// and without the zero-width joiners a name may hold (from international trials: `München`
/// typed both ways named two keys; `ユルゲン（チューリッヒ）`, as a Japanese keyboard writes it, was
/// not found as `ユルゲン(チューリッヒ)`).
pub fn same_name(a: &str, b: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let plain = |s: &str| -> String {
        s.nfkc().filter(|c| !matches!(c, '\u{200C}' | '\u{200D}')).collect::<String>().to_lowercase()
    };
    plain(a) == plain(b)
}

/// Whether two names look alike on screen: the same name ([`same_name`]), or the same once
/// compatibility forms are folded (`Ｂｏｂ`, `𝐁𝐨𝐛`) and letters of Cyrillic and Greek that are
/// drawn as Latin ones are read as those (`Hannаh` with a Cyrillic `а`, `ΒΟΒ`). From a trial: a
/// buyer named a second seller `Hannаh` beside `Hannah`, and tables showed the two alike.
pub fn looks_alike(a: &str, b: &str) -> bool {
    same_name(a, b) || skeleton(a) == skeleton(b)
}

/// A name as it looks: compatibility-folded (NFKC), look-alike letters of other scripts as the
/// Latin ones they are drawn as (by case: a capital `Н` is an `H`, a small `н` is not an `h`),
/// zero-width joiners dropped, then in lower case.
fn skeleton(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfkc()
        .filter(|c| !matches!(c, '\u{200C}' | '\u{200D}'))
        .map(drawn_as_latin)
        .collect::<String>()
        .to_lowercase()
}

/// The Latin letter a Cyrillic or Greek one is drawn as in common fonts, else the letter.
#[rustfmt::skip]
fn drawn_as_latin(c: char) -> char {
    match c {
        // Cyrillic capitals and small letters.
        'А' => 'A', 'В' => 'B', 'Е' => 'E', 'К' => 'K', 'М' => 'M', 'Н' => 'H', 'О' => 'O',
        'Р' => 'P', 'С' => 'C', 'Т' => 'T', 'Х' => 'X', 'У' => 'Y', 'І' => 'I', 'Ј' => 'J',
        'Ѕ' => 'S', 'Ԛ' => 'Q', 'Ԝ' => 'W', 'а' => 'a', 'е' => 'e', 'о' => 'o', 'р' => 'p',
        'с' => 'c', 'у' => 'y', 'х' => 'x', 'і' => 'i', 'ј' => 'j', 'ѕ' => 's', 'ԁ' => 'd',
        'һ' => 'h', 'ԛ' => 'q', 'ԝ' => 'w', 'ӏ' => 'l', 'ё' => 'ë', 'ї' => 'ï',
        // Greek capitals and small letters.
        'Α' => 'A', 'Β' => 'B', 'Ε' => 'E', 'Ζ' => 'Z', 'Η' => 'H', 'Ι' => 'I', 'Κ' => 'K',
        'Μ' => 'M', 'Ν' => 'N', 'Ο' => 'O', 'Ρ' => 'P', 'Τ' => 'T', 'Υ' => 'Y', 'Χ' => 'X',
        'ο' => 'o', 'ρ' => 'p', 'ν' => 'v', 'ι' => 'i', 'κ' => 'k', 'υ' => 'u', 'α' => 'a',
        // Latin letters of other alphabets drawn as plain ones.
        'ɡ' => 'g', 'ı' => 'i', 'ɑ' => 'a',
        other => other,
    }
}

fn decode(k: &[u8], v: &[u8]) -> Option<Named> {
    let key = k.get(1..).and_then(|k| <[u8; 32]>::try_from(k).ok()).map(PublicKey::from_bytes)?;
    let (since, name) = v.split_first_chunk::<8>()?;
    let name = std::str::from_utf8(name).ok()?.to_owned();
    Some(Named { key, name, since: Timestamp::from_millis(u64::from_be_bytes(*since)) })
}

impl Store {
    /// Names `key` (or renames it), on disk before it returns. The name is taken as given: the
    /// caller checks its shape. Names are compared without regard to case (Unicode's lower
    /// case), so `bob` and `Bob`, or `Émile` and `émile`, cannot name two keys; nor can two
    /// names that look alike ([`looks_alike`]).
    pub fn name(&self, key: PublicKey, name: &str, now: Timestamp) -> Result<NameOutcome, StoreError> {
        let _one_at_a_time = self.blocking.lock().unwrap_or_else(|p| p.into_inner());
        let all = self.names()?;
        let held = all.iter().find(|n| n.key == key);
        if let Some(other) = all.iter().find(|n| n.key != key && looks_alike(&n.name, name)) {
            return Ok(NameOutcome::Taken(other.key, other.name.clone()));
        }
        let outcome = match held {
            Some(n) if n.name == name => return Ok(NameOutcome::Unchanged),
            Some(n) => NameOutcome::Renamed(n.name.clone()),
            None if all.len() >= MAX_NAMES => return Ok(NameOutcome::Full),
            None => NameOutcome::Added,
        };
        let mut value = Vec::with_capacity(8 + name.len());
        value.extend_from_slice(&now.to_be_bytes());
        value.extend_from_slice(name.as_bytes());
        self.db.insert(keys::key(keys::NAME, &[key.as_bytes()]), value)?;
        self.db.flush()?;
        Ok(outcome)
    }

    /// Takes `key`'s name away, on disk before it returns; the name it had.
    pub fn unname(&self, key: &PublicKey) -> Result<Option<String>, StoreError> {
        let _one_at_a_time = self.blocking.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.db.remove(keys::key(keys::NAME, &[key.as_bytes()]))?;
        self.db.flush()?;
        Ok(old.and_then(|v| decode(&keys::key(keys::NAME, &[key.as_bytes()]), &v)).map(|n| n.name))
    }

    /// Every named key, by name (an entry that does not read is left out).
    pub fn names(&self) -> Result<Vec<Named>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix([keys::NAME]) {
            let (k, v) = entry?;
            out.extend(decode(&k, &v));
        }
        out.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.key.cmp(&b.key)));
        Ok(out)
    }

    /// The key named `name` (compared without regard to case), if any.
    pub fn named(&self, name: &str) -> Result<Option<PublicKey>, StoreError> {
        Ok(self.names()?.into_iter().find(|n| same_name(&n.name, name)).map(|n| n.key))
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
    fn names_are_kept_across_a_restart_one_per_key_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = Timestamp::from_millis;
        {
            let store = Store::open(dir.path()).expect("open");
            assert_eq!(store.name(key(1), "Bob", at(10)).expect("name"), NameOutcome::Added);
            assert_eq!(store.name(key(2), "alice", at(20)).expect("name"), NameOutcome::Added);
            assert_eq!(store.name(key(1), "Bob", at(30)).expect("name"), NameOutcome::Unchanged);
            assert_eq!(
                store.name(key(3), "BOB", at(30)).expect("name"),
                NameOutcome::Taken(key(1), "Bob".into())
            );
            assert_eq!(store.name(key(4), "Émile", at(30)).expect("name"), NameOutcome::Added);
            assert_eq!(
                store.name(key(5), "émile", at(30)).expect("name"),
                NameOutcome::Taken(key(4), "Émile".into()),
                "beyond ASCII too"
            );
            // From a trial: a Cyrillic `а` in `Hannah`, and other look-alikes.
            assert_eq!(store.name(key(6), "Hannah", at(30)).expect("name"), NameOutcome::Added);
            for alike in ["Hannаh", "HΑNNΑH", "Ｈａｎｎａｈ", "𝐇𝐚𝐧𝐧𝐚𝐡"] {
                assert_eq!(
                    store.name(key(7), alike, at(30)).expect("name"),
                    NameOutcome::Taken(key(6), "Hannah".into()),
                    "{alike}"
                );
            }
            // Letters of another script that do not pass for Latin ones name another key.
            assert_eq!(store.name(key(7), "Ганна", at(30)).expect("name"), NameOutcome::Added);
            assert_eq!(store.unname(&key(7)).expect("unname"), Some("Ганна".into()));
            assert_eq!(store.unname(&key(6)).expect("unname"), Some("Hannah".into()));
            assert_eq!(store.unname(&key(4)).expect("unname"), Some("Émile".into()));
            assert_eq!(
                store.name(key(1), "Bob the bikes", at(40)).expect("rename"),
                NameOutcome::Renamed("Bob".into())
            );
        }
        let store = Store::open(dir.path()).expect("reopen");
        let listed: Vec<(PublicKey, String, u64)> =
            store.names().expect("names").into_iter().map(|n| (n.key, n.name, n.since.as_millis())).collect();
        assert_eq!(
            listed,
            vec![(key(2), "alice".into(), 20), (key(1), "Bob the bikes".into(), 40)],
            "by name"
        );
        assert_eq!(store.named("BOB THE BIKES").expect("read"), Some(key(1)));
        assert_eq!(store.unname(&key(1)).expect("unname"), Some("Bob the bikes".into()));
        assert_eq!(store.unname(&key(1)).expect("again"), None);
        assert_eq!(store.named("Bob the bikes").expect("read"), None);

        for n in 0..MAX_NAMES - 1 {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&(n as u64 + 1_000).to_be_bytes());
            store.name(PublicKey::from_bytes(bytes), &format!("n{n}"), at(50)).expect("name");
        }
        assert_eq!(store.name(key(3), "carol", at(60)).expect("name"), NameOutcome::Full);
        assert_eq!(
            store.name(key(2), "Alice", at(60)).expect("a held key is renamed"),
            NameOutcome::Renamed("alice".into())
        );
    }
}
