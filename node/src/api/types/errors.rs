//! Error answers: a stable code and a message.

use serde::{Deserialize, Serialize};

/// The stable code of an API error: what went wrong, for programs. Each maps to one HTTP status
/// ([`ErrorCode::status`]); the `haggle` command maps each to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Malformed JSON body or query string, or an unknown field.
    BadRequest,
    /// A value breaks a rule (price, currency, title length, id too short, ...).
    Invalid,
    /// Missing or wrong token.
    Unauthorized,
    /// Changing someone else's listing or thread.
    NotYours,
    /// No object matches the id or prefix; unknown endpoint.
    NotFound,
    /// The id prefix matches several objects.
    Ambiguous,
    /// The listing is closed (retracted or sold out).
    ListingClosed,
    /// The listing has expired.
    ListingExpired,
    /// More asked than the listing has left after deals and what open threads promise.
    QuantityExceeded,
    /// An offer on one's own listing.
    OwnListing,
    /// The move belongs to the other party (e.g. accepting one's own terms).
    NotYourTurn,
    /// The thread has ended; nothing more can be said in it.
    ThreadEnded,
    /// An accept or counter, by the listing's author, of an offer made on an earlier revision
    /// that described the listing otherwise (send it again with `as_offered=true` to stand by
    /// the revision offered on).
    ListingChanged,
    /// The action does not fit the state in another way (a newer revision exists, ...).
    Conflict,
    /// The endpoint does not take the request's method (the `allow` header lists those it
    /// takes).
    MethodNotAllowed,
    /// The request body is over the endpoint's limit.
    TooLarge,
    /// A byte range outside the file (the `content-range` header gives its size).
    RangeNotSatisfiable,
    /// A storage failure.
    Internal,
    /// The node is stopping.
    ShuttingDown,
    /// A code this build does not know (from a newer node).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status the API answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::Invalid => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotYours => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::TooLarge => 413,
            ErrorCode::RangeNotSatisfiable => 416,
            ErrorCode::Ambiguous
            | ErrorCode::ListingClosed
            | ErrorCode::ListingExpired
            | ErrorCode::QuantityExceeded
            | ErrorCode::OwnListing
            | ErrorCode::NotYourTurn
            | ErrorCode::ThreadEnded
            | ErrorCode::ListingChanged
            | ErrorCode::Conflict => 409,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
            ErrorCode::ShuttingDown => 503,
        }
    }

    /// Whether the request itself was at fault (a usage mistake, not a state of the market).
    pub fn is_usage(self) -> bool {
        matches!(self, ErrorCode::BadRequest | ErrorCode::Invalid)
    }
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// For `ambiguous`: the full ids the prefix matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// For a `conflict` that would do again what is done already (the same listing on offer,
    /// the same offer open on a listing): the full id of what is there, so a client that
    /// retried a request it lost the answer to can carry on with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
}
