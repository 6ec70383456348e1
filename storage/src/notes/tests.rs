use std::time::Duration;

use haggle_protocol::fixtures::{key, live_listing, live_terms, now, offer, sign_at, sign_now};
use haggle_protocol::note::{About, Conversation, Note};
use haggle_protocol::{Body, Listing, SecretKey, Verified};

use super::*;
use crate::RejectReason;
use crate::testing::{put, store};

fn note(by: &SecretKey, about: About, to: &SecretKey, text: &str, at: Timestamp) -> Verified<Object> {
    sign_at(by, Body::Note(Note { about, to: to.public(), message: text.into() }), at)
}

fn reason(outcome: Outcome) -> RejectReason {
    match outcome {
        Outcome::Rejected(r) => r.reason,
        other => panic!("refused, not {other:?}"),
    }
}

/// A listing by `seller`, stored; its key as a note's subject.
fn listed(store: &Store, seller: &SecretKey, title: &str) -> (Verified<Object>, About) {
    let listing =
        sign_now(seller, Body::Listing(Listing { nonce: [title.len() as u8; 16], ..live_listing(title) }));
    assert!(put(store, &listing).is_new());
    let about = About::Listing(listing.listing_key().expect("a listing"));
    (listing, about)
}

#[test]
fn a_question_and_its_answer_make_one_conversation_read_by_arrival() {
    let (_dir, store) = store();
    let (seller, buyer) = (key(1), key(2));
    let (_, about) = listed(&store, &seller, "Road bike");
    let t = now().saturating_sub(Duration::from_secs(3_600));
    let question = note(&buyer, about, &seller, "Is it still available?", t);
    let answer =
        note(&seller, about, &buyer, "Yes, until Saturday.", t.saturating_add(Duration::from_secs(60)));
    // The answer arrives first (mail and direct delivery keep no order): both are kept, shown
    // in date order.
    assert!(put(&store, &answer).is_new());
    assert!(put(&store, &question).is_new());
    assert!(matches!(put(&store, &question), Outcome::Duplicate { .. }), "a copy changes nothing");
    let all = store.conversations().expect("conversations");
    assert_eq!(all.len(), 1, "{all:?}");
    let c = &all[0];
    assert_eq!(c.conversation, Conversation::new(about, seller.public(), buyer.public()));
    assert_eq!(c.notes.iter().map(|n| n.id).collect::<Vec<_>>(), [question.id(), answer.id()]);
    assert_eq!(c.notes.iter().map(|n| n.arrival).collect::<Vec<_>>(), [2, 1], "numbered as they came");
    assert!(c.answered, "both sides wrote");
    // The seller's node: the buyer's question is unread until read.
    assert_eq!(c.unread(&seller.public()), 1);
    assert_eq!(c.unread(&buyer.public()), 1, "the answer, on the buyer's node");
    store.mark_read(&c.conversation, c.last_arrival()).expect("read");
    let c = store.conversation(&c.conversation).expect("read").expect("held");
    assert_eq!((c.unread(&seller.public()), c.read), (0, 2));
    // Defect: a note dated before what was read, delivered after (from a mailbox, a retry),
    // counted as read. Read marks go by arrival: it is unread, though shown first.
    let late =
        note(&buyer, about, &seller, "Also: does it have lights?", t.saturating_sub(Duration::from_secs(60)));
    assert!(put(&store, &late).is_new());
    let c = store.conversation(&c.conversation).expect("read").expect("held");
    assert_eq!(c.notes[0].id, late.id(), "shown by its date");
    assert_eq!(c.unread(&seller.public()), 1, "and unread");
    store.mark_read(&c.conversation, 1).expect("read");
    let c = store.conversation(&c.conversation).expect("read").expect("held");
    assert_eq!(c.read, 2, "an earlier mark changes nothing");
    // Kept across a restart.
    drop(store);
    let store = Store::open(_dir.path()).expect("open again");
    let c = store.conversation(&c.conversation).expect("read").expect("held");
    assert_eq!((c.notes.len(), c.read, c.unread(&seller.public())), (3, 2, 1));
    let held = store.notes(&c.notes).expect("notes");
    assert_eq!(held[1].1.id(), question.id(), "the notes themselves, in the index's order");
}

#[test]
fn a_note_goes_between_the_two_keys_its_subject_is_between() {
    let (_dir, store) = store();
    let (seller, buyer, stranger) = (key(1), key(2), key(3));
    let (listing, about) = listed(&store, &seller, "Lamp");
    let t = now().saturating_sub(Duration::from_secs(3_600));
    // About a listing: its author is one of the two.
    assert!(matches!(
        reason(put(&store, &note(&buyer, about, &stranger, "Hi", t))),
        RejectReason::NotBetweenParties
    ));
    // About a listing not held: perhaps not here yet, nobody's fault.
    let elsewhere =
        About::Listing(haggle_protocol::ListingKey { author: seller.public(), nonce: [0xee; 16] });
    let unknown = reason(put(&store, &note(&buyer, elsewhere, &seller, "Hi", t)));
    assert!(
        matches!(unknown, RejectReason::UnknownSubject) && !unknown.is_peer_fault() && !unknown.is_final()
    );
    // About a thread: between its two parties only.
    let opening = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
    assert!(put(&store, &opening).is_new());
    let thread = About::Thread(opening.id());
    assert!(put(&store, &note(&seller, thread, &buyer, "Pick-up after six?", t)).is_new());
    let outsider = reason(put(&store, &note(&stranger, thread, &seller, "Me too", t)));
    assert!(matches!(outsider, RejectReason::NotBetweenParties) && outsider.is_peer_fault());
    // A thread's id that names a held object opening no thread (a listing) is the sender's
    // fault, for good.
    let not_a_thread = reason(put(&store, &note(&buyer, About::Thread(listing.id()), &seller, "Hi", t)));
    assert!(matches!(not_a_thread, RejectReason::NotAThread(_)), "{not_a_thread}");
    assert!(not_a_thread.is_peer_fault() && not_a_thread.is_final());
    // Once a conversation is held, its listing need not be (it may expire meanwhile): only
    // its first note's was checked. Its two keys still are.
    let refusal = |by: &SecretKey, to: &SecretKey, held| {
        store.subject_refusal(by.public(), &to.public(), &elsewhere, held).expect("read")
    };
    assert!(refusal(&buyer, &seller, true).is_none());
    assert!(matches!(refusal(&buyer, &seller, false), Some(RejectReason::UnknownSubject)));
    assert!(matches!(refusal(&buyer, &stranger, true), Some(RejectReason::NotBetweenParties)));
}

#[test]
fn one_key_is_held_to_its_share_of_notes_and_unanswered_conversations() {
    let (_dir, store) = store();
    let (seller, pest) = (key(1), key(2));
    let t = now().saturating_sub(Duration::from_secs(3_600));
    let at = |n: u64| t.saturating_add(Duration::from_millis(n));
    // Notes in a row: the 21st waits for an answer; the answer makes room again.
    let (_, about) = listed(&store, &seller, "Sofa");
    for n in 0..MAX_NOTES_IN_A_ROW as u64 {
        assert!(put(&store, &note(&pest, about, &seller, &format!("Hello? {n}"), at(n))).is_new());
    }
    let over = reason(put(&store, &note(&pest, about, &seller, "Hello??", at(100))));
    assert!(matches!(over, RejectReason::NotesUnanswered { max: MAX_NOTES_IN_A_ROW }), "{over}");
    assert!(!over.is_peer_fault() && !over.is_final(), "an answer may be on its way");
    // Defect: a note dated before the other side's answer was not counted in the row, so a
    // peer could send 200 in a row by backdating. Counted by arrival, a backdated one counts.
    assert!(put(&store, &note(&seller, about, &pest, "Still here.", at(200))).is_new());
    for n in 0..MAX_NOTES_IN_A_ROW as u64 {
        let backdated = note(&pest, about, &seller, &format!("Old news {n}"), at(150 - n));
        assert!(put(&store, &backdated).is_new(), "{n}");
    }
    let over = reason(put(&store, &note(&pest, about, &seller, "Hello???", at(140))));
    assert!(matches!(over, RejectReason::NotesUnanswered { .. }), "{over}");
    assert!(put(&store, &note(&seller, about, &pest, "Please stop.", at(400))).is_new());
    assert!(put(&store, &note(&pest, about, &seller, "Great", at(300))).is_new());
    // Conversations opened and never answered: the ninth is refused, with another key's free.
    let mut abouts = Vec::new();
    for n in 0..MAX_UNANSWERED_CONVERSATIONS {
        let (_, about) = listed(&store, &seller, &"x".repeat(n + 10));
        assert!(put(&store, &note(&pest, about, &seller, "Available?", t)).is_new());
        abouts.push(about);
    }
    let (_, ninth) = listed(&store, &seller, &"y".repeat(40));
    let quota = reason(put(&store, &note(&pest, ninth, &seller, "Available?", t)));
    assert!(
        matches!(quota, RejectReason::ConversationQuota { max: MAX_UNANSWERED_CONVERSATIONS }),
        "{quota}"
    );
    assert!(!quota.is_peer_fault() && !quota.is_final());
    assert!(put(&store, &note(&key(3), ninth, &seller, "Available?", t)).is_new(), "another key");
    // A note in a thread is not a question about a listing: it does not count.
    let listing = store.listing(&match ninth {
        About::Listing(k) => k,
        About::Thread(_) => unreachable!("a listing"),
    });
    let opening = sign_now(&pest, offer(&listing.expect("read").expect("held"), live_terms(1, 100)));
    assert!(put(&store, &opening).is_new());
    assert!(put(&store, &note(&pest, About::Thread(opening.id()), &seller, "Tomorrow?", t)).is_new());
    // The seller answers one: a place frees.
    assert!(put(&store, &note(&seller, abouts[0], &pest, "Yes", at(1))).is_new());
    assert!(put(&store, &note(&pest, ninth, &seller, "Available?", t)).is_new());
    assert_eq!(store.conversations().expect("conversations").len(), 1 + MAX_UNANSWERED_CONVERSATIONS + 3);
}

#[test]
fn a_party_keeps_at_most_its_share_of_one_conversation() {
    let (_dir, store) = store();
    let (seller, buyer) = (key(1), key(2));
    let (_, about) = listed(&store, &seller, "Piano");
    let t = now().saturating_sub(Duration::from_secs(3_600));
    // Taking turns, each side reaches its share; the next note of either is refused for good.
    for n in 0..MAX_NOTES_PER_PARTY as u64 {
        let at = t.saturating_add(Duration::from_millis(2 * n));
        assert!(put(&store, &note(&buyer, about, &seller, &format!("q{n}"), at)).is_new());
        let later = at.saturating_add(Duration::from_millis(1));
        assert!(put(&store, &note(&seller, about, &buyer, &format!("a{n}"), later)).is_new());
    }
    let full = reason(put(
        &store,
        &note(&buyer, about, &seller, "one more", t.saturating_add(Duration::from_secs(60))),
    ));
    assert!(matches!(full, RejectReason::NotesFull { max: MAX_NOTES_PER_PARTY }), "{full}");
    assert!(full.is_final(), "never taken here");
    assert!(!full.is_peer_fault(), "the sender's node may have swept the conversation already");
}

#[test]
fn the_owners_note_is_queued_for_delivery_and_old_conversations_go_unless_their_thread_stays() {
    let (_dir, store) = store();
    let (seller, buyer) = (key(1), key(2));
    let (listing, about) = listed(&store, &seller, "Desk");
    let opening = sign_now(&buyer, offer(&listing, live_terms(1, 10_000)));
    assert!(put(&store, &opening).is_new());
    let t = now().saturating_sub(Duration::from_secs(3_600));
    let asked = note(&buyer, about, &seller, "Size?", t);
    assert!(store.ingest_own(&asked).expect("own").is_new());
    assert!(store.outbox_entry(&asked.id()).expect("outbox").is_some(), "on its way to the seller");
    assert_eq!(store.unanswered_opened_by(&buyer.public(), &seller.public()).expect("count"), 1);
    let on_thread = note(&seller, About::Thread(opening.id()), &buyer, "Fine by me", t);
    assert!(put(&store, &on_thread).is_new());
    assert!(store.outbox_entry(&on_thread.id()).expect("outbox").is_none(), "someone else's");
    // Past the retention (the cutoff after both notes): the listing's conversation goes, the
    // thread's stays while its thread is held.
    let cutoff = t.saturating_add(Duration::from_secs(60));
    assert_eq!(store.sweep_notes(cutoff).expect("sweep"), 1);
    let left = store.conversations().expect("conversations");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].conversation.about, About::Thread(opening.id()));
    assert!(store.get(&asked.id()).expect("read").is_none(), "the note itself went");
    assert_eq!(
        store.unanswered_opened_by(&buyer.public(), &seller.public()).expect("count"),
        0,
        "no longer among the buyer's unanswered conversations"
    );
    assert!(store.outbox_entry(&asked.id()).expect("outbox").is_none(), "and its outbox record");
}
