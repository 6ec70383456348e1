//! Keys the owner blocked (`haggle block`): a stranger who floods the owner with offers, or
//! whose listings the owner never wants to see again.
//!
//! What a block does, on this node only (nothing is published; the blocked key is not told, but
//! its node hears why an offer was refused):
//! - its listings (and wanted ads) are left out of searches, unless the search names it as the
//!   seller, and out of the live events (`watch`), and their thumbnails are not fetched;
//! - a new thread from it (an offer or a booking request) is refused, whether it comes directly
//!   or by mail. The refusal is final, and nobody's fault: its node stops trying and is not
//!   penalised.
//!
//! What it leaves alone: threads already open and deals already made go on (both parties can
//! still answer, decline, withdraw or call a deal off: a block must not let either side walk
//! away from a deal without a word); its objects are still stored, synced and forwarded like any
//! other (a node must not split the network by what its owner dislikes); its public bids and
//! pledges count in auctions and campaigns as on every other node; and its ratings still count
//! for reputation.

use haggle_protocol::{Body, Object, PublicKey, Timestamp};
use haggle_storage::{BlockOutcome, MAX_BLOCKED};

use super::{Conflict, InvalidInput, Refusal, Service, ServiceError};
use crate::api::types::{BlockChange, BlockRequest, BlockedPage, BlockedView};

/// Longest note kept with a block, in characters.
pub const MAX_BLOCK_NOTE_CHARS: usize = 200;

impl Service {
    /// Blocks the key `request.who` names (see the module docs).
    pub fn block(&self, request: BlockRequest) -> Result<BlockChange, ServiceError> {
        let note = request.note.trim();
        let len = note.chars().count();
        if len > MAX_BLOCK_NOTE_CHARS {
            return Err(InvalidInput::BlockNote { len, max: MAX_BLOCK_NOTE_CHARS }.into());
        }
        let key = self.identity_named(&request.who, true)?;
        if key == self.me() {
            return Err(InvalidInput::BlockSelf.into());
        }
        let same = self.store.blocked()?.into_iter().any(|b| b.key == key && b.note == note);
        let changed = !same
            && match self.store.block(key, note, Timestamp::now())? {
                BlockOutcome::Full => return Err(Conflict::BlockListFull { max: MAX_BLOCKED }.into()),
                BlockOutcome::Added | BlockOutcome::Updated => true,
            };
        self.change(key, true, changed)
    }

    /// Unblocks the key `given` names.
    pub fn unblock(&self, given: &str) -> Result<BlockChange, ServiceError> {
        let key = self.identity_named(given, true)?;
        let changed = self.store.unblock(&key)?;
        self.change(key, false, changed)
    }

    /// The blocked keys, the most recent first.
    pub fn blocked(&self) -> Result<BlockedPage, ServiceError> {
        let blocked = self
            .store
            .blocked()?
            .into_iter()
            .map(|b| BlockedView { key: b.key, since: b.since.as_millis(), note: b.note })
            .collect();
        Ok(BlockedPage { blocked, max: MAX_BLOCKED })
    }

    /// Whether `object` is a new thread from a blocked key, to refuse.
    pub(super) fn blocked_refusal(&self, object: &Object) -> Option<Refusal> {
        (matches!(object.body(), Body::Offer(_)) && self.store.is_blocked(&object.author()))
            .then_some(Refusal::Blocked)
    }

    /// Whether listings by `author` are left out of what the owner sees unasked.
    pub(super) fn hides(&self, author: &PublicKey) -> bool {
        self.store.is_blocked(author)
    }

    /// What changed for `key`, with the threads and deals still open with it.
    fn change(&self, key: PublicKey, blocked: bool, changed: bool) -> Result<BlockChange, ServiceError> {
        let me = self.me();
        let with_key = |a: PublicKey, b: PublicKey| (a == me && b == key) || (a == key && b == me);
        let open_threads = self
            .store
            .threads_of(&key)?
            .into_iter()
            .filter(|t| !t.view.state.is_final() && with_key(t.view.offerer, t.view.listing_author))
            .map(|t| t.view.thread)
            .collect();
        let mut open_deals = Vec::new();
        for deal in self.store.deals_of(&key)? {
            if !with_key(deal.seller(), deal.buyer()) {
                continue;
            }
            use haggle_protocol::lifecycle::Stage;
            if !matches!(self.store.deal_state(&deal)?.stage(), Stage::Completed | Stage::Cancelled) {
                open_deals.push(deal.id());
            }
        }
        Ok(BlockChange { key, blocked, changed, open_threads, open_deals })
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{key, live_listing, sign_now};
    use haggle_protocol::{Body, SecretKey};

    use super::super::testing::service;
    use super::*;
    use crate::api::types::{ErrorCode, SearchParams};

    fn block(s: &Service, who: &str, note: &str) -> Result<BlockChange, ServiceError> {
        s.block(BlockRequest { who: who.to_owned(), note: note.to_owned() })
    }

    #[test]
    fn a_blocked_sellers_listings_leave_searches_and_events() {
        let (s, _dir) = service(1);
        let stranger = key(2);
        let bike = sign_now(&stranger, Body::Listing(live_listing("Road bike")));
        assert!(matches!(
            s.receive(bike.bytes(), super::super::Via::Gossip).first(),
            Some(super::super::Received::New)
        ));
        let search = |seller: Option<PublicKey>| {
            s.search(SearchParams { q: "bike".into(), seller, ..SearchParams::default() })
                .expect("search")
                .total
        };
        assert_eq!(search(None), 1);

        let change = block(&s, &bike.id().to_hex()[..10], "spam").expect("block by listing id");
        assert_eq!((change.key, change.blocked, change.changed), (stranger.public(), true, true));
        assert_eq!(search(None), 0, "left out of searches");
        assert_eq!(search(Some(stranger.public())), 1, "unless asked for by seller");
        assert!(s.listing_view(&bike.id().to_hex()).expect("shown by id").blocked);

        // A new listing of theirs is stored, but announces nothing.
        let lamp = sign_now(&stranger, Body::Listing(live_listing("Desk lamp")));
        let arrived = s.receive(lamp.bytes(), super::super::Via::Gossip);
        assert!(matches!(arrived.first(), Some(super::super::Received::New)));
        assert!(arrived.then.events.is_empty(), "{:?}", arrived.then.events);

        assert!(!block(&s, &stranger.public().to_string(), "spam").expect("again").changed, "nothing new");
        assert!(block(&s, &stranger.public().to_string(), "lowballs").expect("note").changed);
        let listed = s.blocked().expect("list");
        assert_eq!(listed.blocked.len(), 1);
        assert_eq!(listed.blocked[0].note, "lowballs");

        let gone = s.unblock(&stranger.public().to_string()).expect("unblock");
        assert_eq!((gone.blocked, gone.changed), (false, true));
        assert_eq!(search(None), 1, "back in searches");
        assert!(!s.unblock(&stranger.public().to_string()).expect("again").changed);
    }

    #[test]
    fn blocking_oneself_a_long_note_or_a_rating_says_why() {
        let (s, _dir) = service(1);
        let own = block(&s, &key(1).public().to_string(), "").expect_err("own key");
        assert!(own.to_string().contains("your own key"), "{own}");
        let long = "x".repeat(MAX_BLOCK_NOTE_CHARS + 1);
        let note =
            block(&s, &SecretKey::from_seed(&[9; 32]).public().to_string(), &long).expect_err("long note");
        assert_eq!(note.code(), ErrorCode::Invalid);
        assert!(note.to_string().contains("201 characters"), "{note}");
        let nothing = block(&s, "12D3KooWnothing", "").expect_err("not a key");
        assert!(nothing.to_string().contains("is not a key"), "{nothing}");
        assert!(s.blocked().expect("list").blocked.is_empty(), "nothing kept");
    }
}
