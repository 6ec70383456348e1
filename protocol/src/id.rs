//! Object ids: the blake3 hash of an object's signed bytes, shown as lowercase hex.
//!
//! People type any unique prefix of at least [`MIN_PREFIX_LEN`] hex characters, as with git.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::identity::{hex_lower, parse_hex_32};

/// The shortest id prefix accepted from a person: 6 hex characters are 16 million values, enough
/// to be unique in one node's store nearly always, and short enough to type.
pub const MIN_PREFIX_LEN: usize = 6;

/// Length of the short form of an id in logs, tables and messages: the node's messages and the
/// `haggle` command's tables show the same ten characters (they showed 12 and 10, and a trial
/// read them as two ids).
pub const SHORT_LEN: usize = 10;

/// Content address of an object (32-byte blake3 digest).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId(pub(crate) [u8; 32]);

impl ObjectId {
    /// The id whose digest is `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ObjectId(bytes)
    }

    /// The 32-byte digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash of `signed` (the exact bytes the signature covers).
    pub(crate) fn of_signed_bytes(signed: &[u8]) -> Self {
        ObjectId(*blake3::hash(signed).as_bytes())
    }

    /// The whole id as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }

    /// The first [`SHORT_LEN`] hex characters.
    pub fn fmt_short(&self) -> String {
        hex_lower(&self.0[..SHORT_LEN / 2])
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.fmt_short())
    }
}

/// Why a string is not an id or id prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseIdError {
    /// The text is not a whole id: 64 hex characters.
    #[error("`{0}` is not a full object id (64 hex characters)")]
    NotFull(String),
    /// The prefix is shorter than [`MIN_PREFIX_LEN`].
    #[error("id prefix `{given}` is too short: type at least {min} hex characters")]
    TooShort {
        /// The text given.
        given: String,
        /// The shortest prefix accepted, in hex characters.
        min: usize,
    },
    /// The prefix has characters that are not hex.
    #[error("id prefix `{0}` has characters that are not hex (0-9, a-f)")]
    NotHex(String),
    /// A listing key (96 hex characters: its author and nonce), where an id belongs.
    #[error(
        "`{0}` is a listing key (its author and nonce, the `key` of --json output), not an id: give the listing's `id`, or its first 6 or more characters"
    )]
    ListingKey(String),
    /// The text is longer than a whole id.
    #[error("`{given}` is {len} characters: an id is at most 64 hex characters")]
    TooLong {
        /// The text given.
        given: String,
        /// Its length, in characters.
        len: usize,
    },
}

/// The text given, as an error repeats it: cut after 72 characters (an id is at most 64), so a
/// pasted page does not come back whole in the answer.
fn shown(given: &str) -> String {
    const SHOWN: usize = 72;
    match given.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &given[..at]),
        None => given.to_owned(),
    }
}

impl FromStr for ObjectId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex_32(s).map(ObjectId).ok_or_else(|| ParseIdError::NotFull(shown(s)))
    }
}

/// A prefix of an id's hex form, as a person types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPrefix {
    /// Lowercase hex, at least [`MIN_PREFIX_LEN`] characters, at most 64.
    pub(crate) hex: String,
}

impl IdPrefix {
    /// The whole bytes the prefix fixes (an odd last nibble is left to [`Self::matches`]).
    pub fn leading_bytes(&self) -> Vec<u8> {
        let even = self.hex.len() / 2 * 2;
        data_encoding::HEXLOWER.decode(&self.hex.as_bytes()[..even]).expect("validated as hex on parse")
    }

    /// Whether `id`'s hex form starts with this prefix.
    pub fn matches(&self, id: &ObjectId) -> bool {
        id.to_hex().starts_with(&self.hex)
    }

    /// The prefix as lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.hex
    }
}

impl FromStr for IdPrefix {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.trim().to_ascii_lowercase();
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseIdError::NotHex(shown(s)));
        }
        // A listing key (author and nonce, 48 bytes) as `--json` prints it beside the id.
        if hex.len() == 96 {
            return Err(ParseIdError::ListingKey(shown(s)));
        }
        if hex.len() > 64 {
            return Err(ParseIdError::TooLong { given: shown(s), len: hex.len() });
        }
        if hex.len() < MIN_PREFIX_LEN {
            return Err(ParseIdError::TooShort { given: s.to_owned(), min: MIN_PREFIX_LEN });
        }
        Ok(IdPrefix { hex })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_key_given_for_an_id_says_which_is_which() {
        let e = "ab".repeat(48).parse::<IdPrefix>().expect_err("a key");
        assert!(matches!(e, ParseIdError::ListingKey(_)), "{e:?}");
        assert!(e.to_string().contains("is a listing key (its author and nonce"), "{e}");
    }

    #[test]
    fn prefixes_match_their_ids() {
        let id = ObjectId::of_signed_bytes(b"x");
        let hex = id.to_hex();
        let odd: IdPrefix = hex[..7].parse().expect("valid");
        assert!(odd.matches(&id));
        assert_eq!(odd.leading_bytes(), id.as_bytes()[..3]);
        let upper: IdPrefix = hex[..8].to_uppercase().parse().expect("valid");
        assert!(upper.matches(&id));
        assert_eq!(hex.parse::<ObjectId>().expect("full"), id);
    }

    #[test]
    fn bad_prefixes_say_why() {
        assert!(matches!("abc".parse::<IdPrefix>(), Err(ParseIdError::TooShort { .. })));
        assert!(matches!("abcxyz12".parse::<IdPrefix>(), Err(ParseIdError::NotHex(_))));
        let long = "ab".repeat(33).parse::<IdPrefix>().expect_err("66 characters");
        assert_eq!(
            long.to_string(),
            format!("`{}` is 66 characters: an id is at most 64 hex characters", "ab".repeat(33))
        );
        // A pasted page is not echoed back whole: the first 72 characters, then an ellipsis.
        let page = "ab".repeat(10_000);
        let said = page.parse::<IdPrefix>().expect_err("20,000 characters").to_string();
        assert_eq!(
            said,
            format!("`{}…` is 20000 characters: an id is at most 64 hex characters", &page[..72])
        );
        let said = format!("{}zz", "é".repeat(100)).parse::<IdPrefix>().expect_err("not hex").to_string();
        assert!(said.starts_with(&format!("id prefix `{}…`", "é".repeat(72))), "{said}");
    }
}
