//! The owner's notes between two services over temporary stores, exchanging objects as their
//! nodes would.

use super::*;
use crate::api::types::{BlockRequest, ErrorCode, TermsDraft};
use crate::service::testing::{draft, service};
use crate::service::{Received, Via};

fn hex(effect: &Effect) -> String {
    effect.object.id().to_hex()
}

#[test]
fn a_question_about_a_listing_is_answered_in_one_conversation_read_once() {
    let (seller, _sd) = service(1);
    let (buyer, _bd) = service(2);
    let listing = seller.publish(draft("Road bike", "120")).expect("published");
    buyer.receive(listing.object.bytes(), Via::Gossip);
    // The buyer asks by the listing's id.
    let asked = buyer.send_note(&hex(&listing), "Is it still available?".into()).expect("asked");
    assert_eq!(asked.then.deliver, vec![seller.me()], "on its way to the seller");
    let got = seller.receive(asked.object.bytes(), Via::Direct);
    assert!(matches!(got.first(), Some(Received::New)), "{:?}", got.received);
    assert!(
        matches!(&got.then.events[..], [NodeEvent::NoteReceived { about, message, .. }]
            if about == &format!("your listing \"Road bike\" ({})", listing.object.id().fmt_short())
                && message == "Is it still available?"),
        "{:?}",
        got.then.events
    );
    // The seller's list: one conversation, one unread, about the seller's own listing.
    let page = seller.conversations().expect("conversations");
    assert_eq!((page.conversations.len(), page.unread), (1, 1));
    let c = &page.conversations[0];
    assert!(c.about.mine && !c.opened_by_me && c.about.title.as_deref() == Some("Road bike"));
    assert_eq!(c.with, buyer.me());
    // Naming the owner's listing finds the one conversation about it; reading marks it read.
    let read = seller.conversation_view(&hex(&listing), true).expect("read");
    assert_eq!(read.unread, 1, "the answer says what was new");
    assert!(!read.notes[0].read);
    assert_eq!(seller.conversations().expect("conversations").unread, 0, "read now");
    // A peek changes nothing: a new note stays unread after it. The answer is signed at least a
    // millisecond after the question (notes are shown in the order of their dates, the id
    // breaking a tie: a fast machine signed both in the same millisecond, and the order flipped
    // with the ids).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while Timestamp::now() <= asked.object.created_at() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let answer = seller.send_note(&hex(&asked), "Yes, until Saturday.".into()).expect("answered");
    buyer.receive(answer.object.bytes(), Via::Direct);
    let peeked = buyer.conversation_view(&hex(&listing), false).expect("peek");
    assert_eq!((peeked.count, peeked.unread), (2, 1));
    assert_eq!(buyer.conversations().expect("conversations").unread, 1, "still unread after a peek");
    assert!(peeked.opened_by_me && !peeked.about.mine);
    assert_eq!(peeked.notes.iter().map(|n| n.from).collect::<Vec<_>>(), [Party::Me, Party::Them]);
    assert_eq!(peeked.notes[0].delivery, Some(haggle_storage::DeliveryState::Queued), "no network here");
    // The conversation keeps its id, its first message's, whatever comes after.
    assert_eq!(peeked.id, asked.object.id());
    // Answering marks what came before read.
    buyer.send_note(&hex(&listing), "Great, Saturday then.".into()).expect("sent");
    assert_eq!(buyer.conversations().expect("conversations").unread, 0, "an answer is written having read");
    // A second person writes: the seller's listing now names two conversations.
    let (other, _od) = service(3);
    other.receive(listing.object.bytes(), Via::Gossip);
    let second = other.send_note(&hex(&listing), "Would you ship it?".into()).expect("asked");
    seller.receive(second.object.bytes(), Via::Direct);
    let which = seller.send_note(&hex(&listing), "Which one of you?".into()).expect_err("two people");
    assert_eq!(which.code(), ErrorCode::Ambiguous, "{which}");
    assert!(which.to_string().contains("2 people have written"), "{which}");
    // The one the seller named is called by that name; the other by a short key.
    seller
        .set_name(crate::api::types::NameRequest { who: other.me().to_string(), name: "Dora".into() })
        .expect("named");
    let which = seller.send_note(&hex(&listing), "Which one of you?".into()).expect_err("two people");
    let said = which.to_string();
    assert!(said.contains(&format!("{} with \"Dora\"", second.object.id().fmt_short())), "{said}");
    assert!(said.contains(&format!("{} with 12D3KooW", asked.object.id().fmt_short())), "{said}");
    assert!(seller.send_note(&hex(&second), "Yes, 10 EUR.".into()).is_ok(), "by a message's id");
    // The listing's view counts them: both conversations for the seller (the second person's
    // question read by answering it), the one with its author for the buyer.
    let counted = seller.listing_view(&hex(&listing)).expect("view").messages.expect("messages");
    assert_eq!((counted.conversations, counted.notes, counted.unread, counted.conversation), (2, 4, 0, None));
    let counted = buyer.listing_view(&hex(&listing)).expect("view").messages.expect("messages");
    assert_eq!(
        (counted.conversations, counted.notes, counted.unread, counted.conversation),
        (1, 3, 0, Some(asked.object.id()))
    );
    assert_eq!(other.listing_view(&hex(&listing)).expect("view").messages.map(|m| m.notes), Some(1));
    // Retracted, the listing is named closed where the conversation says what it is about.
    let retracted = seller.retract(&hex(&listing)).expect("retracted");
    buyer.receive(retracted.object.bytes(), Via::Gossip);
    let c = buyer.conversation_view(&hex(&asked), false).expect("the conversation");
    assert_eq!(c.about.state, Some(crate::api::types::ListingState::Closed));
    assert!(c.about.describe(ObjectId::fmt_short).ends_with(", closed)"), "{:?}", c.about);
    assert_eq!(c.closed, None, "its author may still answer");
}

#[test]
fn a_note_in_a_thread_goes_to_the_other_party_and_a_blocked_key_is_refused() {
    let (seller, _sd) = service(1);
    let (buyer, _bd) = service(2);
    let listing = seller.publish(draft("Desk", "80")).expect("published");
    buyer.receive(listing.object.bytes(), Via::Gossip);
    let offer = buyer
        .offer(&hex(&listing), TermsDraft { price: Some("70".into()), ..TermsDraft::default() })
        .expect("offered");
    seller.receive(offer.object.bytes(), Via::Direct);
    // By the listing's id, with no question about it: the error names the offer's thread, whose
    // conversation the seller meant (a trial's seller was told only that nobody had written).
    let which = seller.send_note(&hex(&listing), "75?".into()).expect_err("no question");
    assert_eq!(which.code(), ErrorCode::NotFound, "{which}");
    let said = which.to_string();
    assert!(
        said.contains("nobody has asked")
            && said.contains(&format!("{} with 12D3KooW", offer.object.id().fmt_short())),
        "{said}"
    );
    let note = seller.send_note(&hex(&offer), "I can do 75 if you pick it up.".into()).expect("noted");
    assert_eq!(note.then.deliver, vec![buyer.me()]);
    buyer.receive(note.object.bytes(), Via::Direct);
    let c = buyer.conversation_view(&hex(&offer), false).expect("the thread's conversation");
    assert_eq!(c.about.kind, "thread");
    assert_eq!(c.about.id, Some(offer.object.id()));
    assert_eq!(c.about.title.as_deref(), Some("Desk"));
    // The thread itself is untouched (still the buyer's offer, awaiting the seller), and says
    // it has a message, unread.
    let thread = buyer.thread_view(&hex(&offer)).expect("thread");
    assert_eq!(thread.messages.len(), 1);
    assert_eq!((thread.notes, thread.notes_unread), (1, 1));
    buyer.conversation_view(&hex(&note), true).expect("read");
    let thread = buyer.thread_view(&hex(&offer)).expect("thread");
    assert_eq!((thread.notes, thread.notes_unread), (1, 0));
    let mine = seller.thread_view(&hex(&offer)).expect("thread");
    assert_eq!((mine.notes, mine.notes_unread), (1, 0), "the seller's own message");
    // A thread with no notes yet says how to start one.
    let (third, _td) = service(3);
    third.receive(listing.object.bytes(), Via::Gossip);
    let quiet = third.conversation_view(&hex(&listing), false).expect_err("nothing yet");
    assert_eq!(quiet.code(), ErrorCode::NotFound);
    assert!(quiet.to_string().contains("haggle message"), "{quiet}");
    // Blocked by the message's id: the seller's node refuses the buyer's questions about
    // listings for good; messages in their thread go on, both ways.
    let early = buyer.send_note(&hex(&listing), "Is it oak?".into()).expect("asked");
    seller.receive(early.object.bytes(), Via::Direct);
    let unread_before = seller.conversations().expect("conversations").unread;
    let change = seller.block(BlockRequest { who: hex(&note), note: None }).expect("blocked");
    assert_eq!(change.key, buyer.me(), "a message names the other key");
    // The blocked key's question about the listing no longer counts as unread (it stays
    // listed); the thread's messages would.
    let page = seller.conversations().expect("conversations");
    let question = page.conversations.iter().find(|c| c.id == early.object.id()).expect("still listed");
    assert_eq!(question.unread, 0);
    assert_eq!(page.unread, unread_before - 1, "the question was unread before the block");
    let asked = buyer.send_note(&hex(&listing), "Hello?".into()).expect("sent");
    let got = seller.receive(asked.object.bytes(), Via::Direct);
    assert!(
        matches!(got.first(), Some(Received::Refused { reason, peer_fault: false }) if reason.is_final()),
        "{:?}",
        got.received
    );
    // Its view says no message can go now (a send would be refused here), instead of
    // inviting an answer; the thread's conversation stays open.
    let c = seller.conversation_view(&hex(&early), false).expect("the conversation");
    assert!(c.closed.as_deref().is_some_and(|why| why.starts_with("you blocked")), "{:?}", c.closed);
    // Found in a trial: it said "a message to them is not sent", though messages in threads
    // and deals with them go on.
    assert!(
        c.closed
            .as_deref()
            .is_some_and(|why| why.contains(
                "their answers about a listing, or in a thread that ended without a deal, would not reach you"
            ) && why.contains("in an open thread or a deal, messages go on both ways")),
        "{:?}",
        c.closed
    );
    assert_eq!(seller.conversation_view(&hex(&note), false).expect("the thread's").closed, None);
    let in_thread = buyer.send_note(&hex(&offer), "Still on for 75?".into()).expect("sent");
    assert!(matches!(seller.receive(in_thread.object.bytes(), Via::Direct).first(), Some(Received::New)));
    assert!(seller.send_note(&hex(&offer), "Yes".into()).is_ok(), "in the thread, to a blocked key");
    // The seller cannot start one about a listing with the key it blocked: the answer would
    // not reach it.
    let (other, _od) = service(4);
    let elsewhere = other.publish(draft("Chair", "20")).expect("published");
    seller.receive(elsewhere.object.bytes(), Via::Gossip);
    let mine = seller.publish(draft("Lamp", "15")).expect("published");
    buyer.receive(mine.object.bytes(), Via::Gossip);
    let asked = buyer.send_note(&hex(&mine), "Lamp still there?".into()).expect("sent");
    assert!(matches!(
        seller.receive(asked.object.bytes(), Via::Direct).first(),
        Some(Received::Refused { .. })
    ));
    let to_blocked = seller.send_note(&hex(&in_thread), "Never mind".into());
    assert!(to_blocked.is_ok(), "a message in the thread's conversation: {to_blocked:?}");
    // accept, counter and decline take a message in the thread as the thread's id.
    assert_eq!(seller.thread(&hex(&in_thread)).expect("its thread").view.thread, offer.object.id());
    // An empty message is refused before anything is signed.
    assert!(buyer.send_note(&hex(&offer), "  ".into()).is_err());
    // From a trial: a blocked key went on writing in threads that had ended without a deal
    // (20 messages in each of 32 withdrawn threads). Once the thread ends, with nothing to
    // settle, its messages are refused too.
    let withdrawn = buyer.withdraw(&hex(&offer), String::new()).expect("withdrawn");
    seller.receive(withdrawn.object.bytes(), Via::Direct);
    let after = buyer.send_note(&hex(&offer), "You cannot get rid of me".into()).expect("sent");
    assert!(
        matches!(
            seller.receive(after.object.bytes(), Via::Direct).first(),
            Some(Received::Refused { reason, peer_fault: false }) if reason.is_final()
        ),
        "a message in an ended thread from a blocked key"
    );
    // Nor does the owner's go there: the answer would be refused.
    let mine = seller.send_note(&hex(&offer), "Sorry".into()).expect_err("refused");
    assert!(mine.to_string().starts_with("you blocked"), "{mine}");
}

/// A message in a deal's conversation names the deal, as `show` and `message` take it (a
/// trial's `haggle deal MESSAGE` was told no deal matched).
#[test]
fn a_message_in_a_deals_conversation_names_the_deal() {
    let (seller, _sd) = service(1);
    let (buyer, _bd) = service(2);
    let (_, deal) = crate::service::testing::chairs_deal(&seller, &buyer, 2, 1);
    let note = buyer.send_note(&deal.to_hex(), "Arrived safe, thanks!".into()).expect("sent");
    let view = buyer.deal_view(&note.object.id().to_hex()[..10]).expect("the deal");
    assert_eq!(view.id, deal);
    // So does a step's id (from a trial: `/v1/deals/STEP` was not found).
    let asked = crate::api::types::StepRequest::PaymentRequest {
        method: "cash".into(),
        details: None,
        reference: None,
    };
    let step = seller.deal_step_request(&deal.to_hex(), asked).expect("asked");
    assert_eq!(seller.deal_view(&step.object.id().to_hex()[..10]).expect("the deal").id, deal);
}

/// A message by one's own listing's id with no question about it names the open offers first,
/// the most recent first (from a review: any three threads of the index were named).
#[test]
fn a_listing_without_questions_names_its_open_offers_first() {
    let (seller, _sd) = service(1);
    let listing = seller.publish(draft("Desk", "80")).expect("published");
    let mut offers = Vec::new();
    for n in 2..=5 {
        let (buyer, _bd) = service(n);
        buyer.receive(listing.object.bytes(), Via::Gossip);
        let offer = buyer
            .offer(&hex(&listing), TermsDraft { price: Some(format!("{}", 60 + n)), ..TermsDraft::default() })
            .expect("offered");
        seller.receive(offer.object.bytes(), Via::Direct);
        offers.push(offer.object.id());
    }
    // The first two are declined: only the last two are open.
    for id in &offers[..2] {
        seller.decline(&id.to_hex(), String::new()).expect("declined");
    }
    let said = seller.send_note(&hex(&listing), "75?".into()).expect_err("no question").to_string();
    let named: Vec<usize> = offers.iter().filter_map(|id| said.find(&id.fmt_short().to_string())).collect();
    assert_eq!(named.len(), 3, "three named: {said}");
    let (open_a, open_b) =
        (said.find(&offers[2].fmt_short().to_string()), said.find(&offers[3].fmt_short().to_string()));
    let declined = offers[..2].iter().filter_map(|id| said.find(&id.fmt_short().to_string())).min();
    assert!(open_a.zip(open_b).is_some_and(|(a, b)| declined.is_some_and(|d| a < d && b < d)), "{said}");
}
