//! Bookings in the API: a listing's calendar as drafted and as shown.

use serde::{Deserialize, Serialize};

/// The calendar of `POST /v1/listings` (a rental or service priced per period) and of
/// `PATCH /v1/listings/{id}` (which keeps what is booked).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarDraft {
    /// Ranges open for booking, each `2026-12-01..2027-04-01` (check-in..check-out); ranges
    /// that meet are joined. In an update, none keeps the open ranges as they were.
    pub open: Vec<String>,
    /// The shortest stay in nights (default 1; in an update, as it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_stay: Option<u32>,
    /// The longest stay in nights (default: none; in an update, as it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stay: Option<u32>,
    /// Accept, by itself, a request that fits the calendar and offers at least the asking
    /// price (default: no; in an update, as it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instant: Option<bool>,
}

/// A listing's calendar as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarView {
    /// Ranges open for booking (check-in..check-out).
    pub open: Vec<String>,
    /// Ranges booked, as the owner last published them.
    pub booked: Vec<String>,
    /// The shortest stay, in nights.
    pub min_stay: u32,
    /// The longest stay, in nights; 0 for no limit.
    pub max_stay: u32,
    /// Whether requests that fit are accepted by the owner's node by itself.
    pub instant: bool,
}
