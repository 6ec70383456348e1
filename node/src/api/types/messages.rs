//! Notes: free text between the owner and another key about a listing or a thread, outside the
//! terms, kept per conversation.

use serde::{Deserialize, Serialize};

use super::serde_text::{key_text, opt_text, text};
use super::{DeliveryState, ListingState, ObjectId, Party, PublicKey};

/// What a conversation is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectView {
    /// `listing` (a question before any offer, and what follows) or `thread` (an offer's,
    /// bid's or pledge's thread, and the deal it may have become).
    pub kind: String,
    /// For a listing, its current revision (null once this node no longer holds it); for a
    /// thread, its id.
    #[serde(with = "opt_text")]
    pub id: Option<ObjectId>,
    /// The listing's title (for a thread, the title of the listing it is on), when held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// For a thread that became a deal: the deal.
    #[serde(with = "opt_text", default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<ObjectId>,
    /// Whether the listing is the owner's own.
    pub mine: bool,
    /// For a listing held: whether it can still be traded (a question about a closed or expired
    /// listing still reaches its author, who may answer it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ListingState>,
    /// For a booking's thread: the nights (or days) its terms name now, `FROM..TO` (a guest with
    /// two bookings of one cabin could not tell their conversations apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates: Option<String>,
}

impl SubjectView {
    /// What it is about, in words: `the listing "Road bike" (3fa2c1d0e9)`, `your listing ...`
    /// (with `, closed` or `, expired` when it can no longer be traded), `deal 94647d5f64 on
    /// "Road bike"` or `thread ...`; `short` shortens an id.
    pub fn describe(&self, short: impl Fn(&ObjectId) -> String) -> String {
        let title = self.title.as_deref().map(|t| format!("\"{t}\""));
        let on = |title: Option<String>| title.map(|t| format!(" on {t}")).unwrap_or_default();
        match (self.kind.as_str(), self.deal) {
            ("listing", _) => {
                let whose = if self.mine { "your listing" } else { "the listing" };
                let state = match self.state {
                    Some(s @ (ListingState::Closed | ListingState::Expired)) => format!(", {}", s.as_str()),
                    _ => String::new(),
                };
                match (title, self.id) {
                    (Some(t), Some(id)) => format!("{whose} {t} ({}{state})", short(&id)),
                    _ => format!("{whose} (no longer held here)"),
                }
            }
            (_, Some(deal)) => format!("deal {}{}{}", short(&deal), on(title), self.for_dates()),
            _ => format!(
                "thread {}{}{}",
                self.id.map(|id| short(&id)).unwrap_or_default(),
                on(title),
                self.for_dates()
            ),
        }
    }
}

impl SubjectView {
    /// ` for 2026-12-22..2026-12-29` for a booking's thread, nothing otherwise.
    pub fn for_dates(&self) -> String {
        self.dates.as_deref().map(|d| format!(" for {d}")).unwrap_or_default()
    }
}

/// One note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteView {
    /// The note's id: any note's id names its conversation.
    #[serde(with = "text")]
    pub id: ObjectId,
    /// Who wrote it.
    pub from: Party,
    /// When it was signed (unix ms).
    pub created_at: u64,
    /// The text.
    pub message: String,
    /// Whether the owner had read it before this answer (always true for the owner's own).
    pub read: bool,
    /// For the owner's own notes: how far delivery got.
    #[serde(with = "opt_text")]
    pub delivery: Option<DeliveryState>,
    /// For the owner's own notes not delivered yet: whether a sealed copy of it travels through
    /// other nodes meanwhile (made once the other party has been unreachable a while).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
    /// For the owner's own notes not delivered: why the last attempt did not deliver it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
}

/// A conversation: its subject, the other key, and its notes (in a list, the last one only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationView {
    /// Its first note to arrive here: an id that stays the conversation's whatever comes later
    /// (any of its notes' ids names it too).
    #[serde(with = "text")]
    pub id: ObjectId,
    /// In the answer to `POST /v1/messages/{id}`: the note just sent (others may have been
    /// sent or received since, and come after it).
    #[serde(with = "opt_text", default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<ObjectId>,
    /// What it is about.
    pub about: SubjectView,
    /// The other key.
    #[serde(with = "key_text")]
    pub with: PublicKey,
    /// Whether the owner wrote its first note held here.
    pub opened_by_me: bool,
    /// Notes held, in all.
    pub count: usize,
    /// The other key's notes the owner had not read before this answer.
    pub unread: usize,
    /// Its notes, oldest first: all of them for one conversation, the newest only in a list.
    pub notes: Vec<NoteView>,
    /// Why a message in it would not go now, if one would not: the owner blocked the other key
    /// (a conversation about a listing), or the other node refused the owner's offer that
    /// opened the thread. Null when a message can be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<String>,
}

/// `GET /v1/messages`: the owner's conversations, the most recent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationsPage {
    /// The conversations (each with its newest note).
    pub conversations: Vec<ConversationView>,
    /// Unread notes over all of them.
    pub unread: usize,
}

/// `POST /v1/messages/{id}`: a note to the other party of what `id` names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// The text: 1 to 2,048 bytes; newlines and tabs allowed.
    pub message: String,
}
