//! Searches the owner saved, to be told what is new since they last looked.

use serde::{Deserialize, Serialize};

use super::{ListingView, SearchParams};

/// A saved search and what it finds now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedView {
    /// Its name.
    pub name: String,
    /// The search: its words and filters (no page, and no order: what is new is listed newest
    /// first).
    pub search: SearchParams,
    /// When it was saved (saving again under the name saves it anew), unix ms.
    pub saved_at: u64,
    /// When the owner last looked at what was new (at first, when it was saved), unix ms.
    pub looked_at: u64,
    /// Listings it matches now, in all.
    pub matches: usize,
    /// Of those, how many a look compares with what was seen: its newest, at most 200 (for
    /// `ending-soon`, the soonest to end). Fewer than `matches`: narrow the search to be told
    /// of every new one.
    #[serde(default)]
    pub compared: usize,
    /// Of its newest matches, those never seen at a look.
    pub new: usize,
    /// Of its newest matches, those seen at a look at another price (an auction's high bid).
    pub repriced: usize,
    /// Why it cannot run now (its nights are past, say, or its record does not read), instead
    /// of the counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// In the answer to a save under a name taken: the search it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<SearchParams>,
}

/// `GET /v1/saved`: the saved searches, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPage {
    /// The searches.
    pub saved: Vec<SavedView>,
    /// The most a node keeps.
    pub max: usize,
}

/// A listing a saved search matched when last looked at, at another price then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repriced {
    /// The listing as it is now.
    pub listing: ListingView,
    /// Its price then, as shown (null: it had none).
    pub was: Option<String>,
    /// Its price now, as a search shows it (an auction's high bid; null: it has none).
    pub now: Option<String>,
}

/// `GET /v1/saved/{name}` (a look that changes nothing) and `POST /v1/saved/{name}/look` (the
/// listings shown count as seen from then on): what is new since the owner last looked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedLook {
    /// The search, with its counts and the time of the look before this one.
    pub saved: SavedView,
    /// Listings it did not match then, the newest first.
    pub new: Vec<ListingView>,
    /// Listings it matched then at another price, the newest first.
    pub repriced: Vec<Repriced>,
    /// Whether this look counts them as seen (`POST`), or changed nothing (`GET`, or the search
    /// was deleted or saved anew while it ran).
    pub marked: bool,
    /// When it matches nothing: how many listings by people the owner blocked it would match
    /// (left out, as from every search).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hidden: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
