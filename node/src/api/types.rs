//! The local API's requests, responses and events: one definition, used by the server (the node)
//! and by [`crate::client::ApiClient`] (the `haggle` command, tests, scripts).
//!
//! On the wire everything is JSON: ids are 64 lowercase hex characters, keys are PeerIds, times
//! are unix milliseconds, enums are their lowercase names (`sell`, `countered`, `delivered`).
//! Fields hold the protocol's own types (`ObjectId`, `ListingKind`, ...) and are written and read
//! through their `Display` and `FromStr`, so a value that does not parse is refused when the
//! request is decoded, with the protocol's own message.

mod auction;
mod blocks;
mod booking;
mod errors;
mod events;
mod files;
mod messages;
mod names;
mod requests;
mod saved;
pub(crate) mod serde_text;
mod views;

pub use auction::{
    AuctionDraft, AuctionInfo, AuctionState, BidRequest, BidStanding, BidView, CampaignDraft, CampaignInfo,
    PledgeRequest, PledgeView, TierDraft, TierView,
};
pub use blocks::{BlockChange, BlockRequest, BlockedPage, BlockedView, OpenThread};
pub use booking::{CalendarDraft, CalendarView};
pub use errors::{ErrorBody, ErrorCode, ErrorDetail};
pub use events::{Arrival, NodeEvent};
pub use files::{DownloadView, FetchRequest, FileQuery, FileStatus, ImageQuery};
pub use haggle_protocol::{
    Currency, CurrencyError, ListingKind, ObjectId, ObjectKind, ParseKeyError, Period, PublicKey, Rating,
    ThreadState,
};
pub use haggle_storage::reputation::TRUSTED_SCORE;
pub use haggle_storage::{DeliveryState, MAX_PAGE, Sort, StoreStats};
pub use messages::{ConversationView, ConversationsPage, NoteRequest, NoteView, SubjectView};
pub use names::{NameChange, NameRequest, NameView, NamesPage};
pub use requests::{
    AsOffered, EventsParams, FeedbackRequest, InboxParams, ListingDraft, ListingPatch, ListingsParams,
    ListingsState, MessageBody, RenewRequest, SearchParams, ShowParams, SinceParams, StepRequest, TermsDraft,
};
pub use saved::{Repriced, SavedLook, SavedPage, SavedView};
pub use views::{
    AroundView, ClockView, ClosedListing, ClosedPage, ConnectionView, DealRole, DealView, DealsPage,
    Delivered, DialInfo, DialReason, FeedbackView, GossipState, HolePunches, ListingMessages, ListingState,
    ListingView, ListingsPage, MessageView, NetworkStatus, ObjectView, Party, PaymentView, PeerInfo,
    PeersPage, PriceView, PublicOutcome, RatingCounts, Reachability, ReputationBrief, ReputationView, Role,
    SaidView, SearchPage, SentView, SettingsView, StatusView, StepView, SyncInfo, TermsView, ThreadTag,
    ThreadView, ThreadsPage,
};

#[cfg(test)]
mod tests {
    use super::*;

    /// From a trial: a reputation's raw counts read `2.0` where a listing's brief reads `2`.
    #[test]
    fn counts_are_whole_numbers_and_weights_keep_their_fraction() {
        let counts = RatingCounts { positive: 2.0, neutral: 0.0, negative: 0.13 };
        let json = serde_json::to_string(&counts).expect("json");
        assert_eq!(json, r#"{"positive":2,"neutral":0,"negative":0.13}"#);
        let back: RatingCounts = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, counts);
    }

    /// Defect: a block's open threads and deals were written as lists of 32 numbers.
    #[test]
    fn a_block_change_names_its_threads_and_deals_by_hex_ids() {
        let (thread, deal) = (ObjectId::from_bytes([0xab; 32]), ObjectId::from_bytes([0xcd; 32]));
        let key: PublicKey = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5".parse().expect("a key");
        let change = BlockChange {
            key,
            blocked: true,
            was_blocked: false,
            changed: true,
            open_threads: vec![OpenThread { thread, ends_with: Some("decline".into()), listing: None }],
            open_deals: vec![deal],
        };
        let json = serde_json::to_value(&change).expect("encodes");
        assert_eq!(json["open_threads"][0]["thread"], "ab".repeat(32));
        assert_eq!(json["open_deals"][0], "cd".repeat(32));
        assert_eq!(serde_json::from_value::<BlockChange>(json).expect("decodes"), change);
    }

    #[test]
    fn enums_and_ids_are_written_as_text() {
        let id = ObjectId::from_bytes([0xab; 32]);
        let event = NodeEvent::DeliveryChanged { id, state: DeliveryState::Delivered };
        let json = serde_json::to_value(&event).expect("encodes");
        assert_eq!(
            json,
            serde_json::json!({"event": "delivery_changed", "id": "ab".repeat(32), "state": "delivered"})
        );
        let back: NodeEvent = serde_json::from_value(json).expect("decodes");
        assert_eq!(back, event);
    }

    /// Defect: a thread's role was written `listing author`, with a space, unlike every other
    /// value of the API; the old spelling is still read (from an older node).
    #[test]
    fn a_role_is_one_word_and_the_old_spelling_still_reads() {
        assert_eq!(serde_json::to_value(Role::ListingAuthor).expect("encodes"), "listing_author");
        for spelling in [r#""listing_author""#, r#""listing author""#] {
            assert_eq!(serde_json::from_str::<Role>(spelling).expect("decodes"), Role::ListingAuthor);
        }
    }

    #[test]
    fn a_bad_kind_is_refused_with_the_protocols_message() {
        let err = serde_json::from_str::<ListingDraft>(r#"{"kind": "lottery", "title": "x"}"#)
            .expect_err("not a kind");
        assert!(err.to_string().contains("`lottery` is not a listing kind"), "{err}");
        let draft: ListingDraft = serde_json::from_str(r#"{"title": "x"}"#).expect("kind defaults");
        assert_eq!(draft.kind, ListingKind::Sell);
    }

    #[test]
    fn unknown_error_codes_from_newer_nodes_still_decode() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error": {"code": "brand_new", "message": "m"}}"#).expect("decodes");
        assert_eq!(body.error.code, ErrorCode::Unknown);
    }

    #[test]
    fn search_params_round_trip_through_a_query_string() {
        let params = SearchParams {
            q: "road bike".into(),
            kind: Some(ListingKind::Rental),
            currency: Some("EUR".parse().expect("a currency")),
            max_price: Some("200".into()),
            sort: Some(Sort::PriceDesc),
            limit: Some(5),
            listing: Some(ObjectId::from_bytes([0xcd; 32])),
            ..SearchParams::default()
        };
        let query = serde_urlencoded::to_string(params.pairs()).expect("encodes");
        let back: SearchParams = serde_urlencoded::from_str(&query).expect("decodes");
        assert_eq!(back, params);
    }
}
