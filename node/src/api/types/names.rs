//! The owner's own names for other people's keys (`haggle name`): shown in place of a key, and
//! taken wherever a key is, on this node only.

use serde::{Deserialize, Serialize};

use haggle_protocol::PublicKey;

use super::serde_text::key_text;

/// `POST /v1/names`: name a key, given as a key (PeerId), as the id of a listing (its author),
/// an offer thread, a deal or a message (the other party), or by its current name (to rename).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRequest {
    /// Whom: a key, a name, or an id (or id prefix) of a listing, thread, deal or message.
    pub who: String,
    /// The name: 1 to 32 characters on one line, not shaped like a key or an id.
    pub name: String,
}

/// A named key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameView {
    /// The key.
    #[serde(with = "key_text")]
    pub key: PublicKey,
    /// The owner's name for it.
    pub name: String,
    /// When it was named (or last renamed), unix ms.
    pub since: u64,
}

/// `GET /v1/names`: the named keys, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamesPage {
    /// The keys and their names.
    pub names: Vec<NameView>,
    /// The most a node keeps.
    pub max: usize,
}

/// What `POST /v1/names` and `DELETE /v1/names/{who}` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameChange {
    /// The key.
    #[serde(with = "key_text")]
    pub key: PublicKey,
    /// Its name now; null once it is taken away.
    pub name: Option<String>,
    /// The name it had before, if any.
    pub was: Option<String>,
    /// Whether anything changed.
    pub changed: bool,
}
