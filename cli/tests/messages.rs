//! End-to-end messages: the real `haggle` binary, a seller and a buyer as separate processes on
//! 127.0.0.1. Every wait is bounded and waits on a condition.

mod common;

use common::{NodeProcess, Watch, haggle, json, ok, stderr, wait};

/// A question before any offer, its answer, a message while the buyer's node is off (both nodes
/// killed with `kill -9` meanwhile), and the mistakes: what a buyer and a seller do with
/// `haggle ask`, `haggle message` and `haggle messages`.
#[test]
fn a_question_is_answered_and_a_message_waits_for_a_party_away() {
    let root = tempfile::tempdir().expect("tempdir");
    let (ds, db) = (root.path().join("seller"), root.path().join("buyer"));
    let seller = NodeProcess::start(&ds, None);
    let buyer = NodeProcess::start(&db, Some(&seller.addr));
    buyer.wait_mesh();
    let args =
        ["publish", "--title", "Road bike", "--price", "120", "--currency", "EUR", "--category", "sport"];
    let listing = json(&ds, &args)["id"].as_str().expect("id").to_owned();
    let l = &listing[..10];
    wait("the listing to reach the buyer", || haggle(&db, &["show", l]).status.success().then_some(()));

    // Mistakes, each said before anything is sent.
    let out = haggle(&db, &["ask", l, "  "]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the message is empty"), "{}", stderr(&out));
    let out = haggle(&ds, &["message", l, "Anyone?"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("nobody has written to you about your listing"), "{}", stderr(&out));
    let out = haggle(&db, &["messages", l]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("there are no messages about"), "{}", stderr(&out));
    assert!(ok(&db, &["messages"]).contains("No messages yet."));

    // The question, delivered at once; the seller's watch tells it.
    let mut watch = Watch::start(&ds);
    watch.ready(&ds);
    let said = ok(&db, &["ask", l, "Is it still available?", "Does it come with lights?"]);
    assert!(said.contains("about the listing \"Road bike\"") && said.contains(": delivered."), "{said}");
    watch.line_with(&[
        "message from",
        "about your listing \"Road bike\" (",
        "): Is it still available? Does it come with lights?",
    ]);
    drop(watch);
    // The listing's view on both sides counts the conversation.
    let shown = ok(&ds, &["show", l]);
    assert!(shown.contains("messages  1 message, 1 new (haggle messages "), "{shown}");
    let shown = ok(&db, &["show", l]);
    assert!(shown.contains("messages  1 message (haggle messages "), "{shown}");
    let status = ok(&ds, &["status"]);
    assert!(
        status.contains("messages      1 conversation; 1 message unread in it (haggle messages)"),
        "{status}"
    );
    let table = ok(&ds, &["messages"]);
    assert!(table.contains("ABOUT") && table.contains("yours: Road bike"), "{table}");
    assert!(table.contains("1 conversation, 1 message unread."), "{table}");
    // Read by the listing's id (the seller's own: its one conversation), counted read since.
    let read = ok(&ds, &["messages", l]);
    assert!(read.contains("they wrote first") && read.contains("* new since you last read."), "{read}");
    assert!(ok(&ds, &["status"]).contains("messages      1 conversation, nothing unread"));

    // The answer, by the question's id.
    let page = json(&ds, &["messages"]);
    let question = page["conversations"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(page["unread"], 0);
    let said = ok(&ds, &["message", &question[..10], "Yes, with lights.\nCome after six."]);
    assert!(said.contains(": delivered."), "{said}");
    let conversation = json(&db, &["messages", l, "--peek"]);
    assert_eq!(conversation["count"], 2);
    assert_eq!(conversation["unread"], 1);
    assert_eq!(conversation["notes"][1]["message"], "Yes, with lights.\nCome after six.");
    assert_eq!(conversation["notes"][0]["delivery"], "delivered");
    assert_eq!(json(&db, &["messages"])["unread"], 1, "a peek marks nothing read");
    // `show` of a message shows its conversation.
    let shown = ok(&db, &["show", &question[..10]]);
    assert!(shown.contains("With ") && shown.contains("Come after six."), "{shown}");

    // A message in an offer's thread, by the thread's id: the thread says it has one, unread.
    let offer = json(&db, &["offer", l, "--price", "100"]);
    let thread = offer["thread"].as_str().expect("a thread").to_owned();
    let said = ok(&ds, &["message", &thread[..10], "Can you come on Saturday?"]);
    assert!(said.contains("about thread") && said.contains(": delivered."), "{said}");
    let shown = ok(&db, &["show", &thread[..10]]);
    assert!(shown.contains("messages  1 message, 1 new (haggle messages"), "{shown}");
    let offers = ok(&db, &["offers"]);
    assert!(offers.contains(&format!("New messages in 1 of these: {} (1).", &thread[..10])), "{offers}");
    assert_eq!(json(&db, &["messages"])["conversations"].as_array().map(Vec::len), Some(2));

    // The buyer goes away (kill -9); the seller's message waits for it, on disk: the seller is
    // killed too before the buyer is back.
    buyer.kill_9();
    let said = ok(&ds, &["message", &question[..10], "I have a second one, 100 EUR."]);
    assert!(said.contains("saved and queued"), "{said}");
    seller.kill_9();
    let seller = NodeProcess::start(&ds, None);
    let buyer = NodeProcess::start(&db, Some(&seller.addr));
    wait("the queued message to reach the buyer after both restarts", || {
        (json(&db, &["messages", l, "--peek"])["count"] == 3).then_some(())
    });
    // A watch started in the node's first moments hears what came before it connected (from a
    // trial: a watch started 0.3 s after its node missed a question).
    let mut early = Watch::start(&db);
    early.line_with(&["message from", "I have a second one, 100 EUR."]);
    drop(early);
    let read = ok(&db, &["messages", l]);
    assert!(read.contains("I have a second one, 100 EUR."), "{read}");
    wait("the seller's node to mark it delivered", || {
        let c = json(&ds, &["messages", &question[..10]]);
        (c["notes"][2]["delivery"] == "delivered").then_some(())
    });

    // A blocked buyer's messages are refused by the seller's node, for good; the buyer's watch
    // says why.
    assert!(haggle(&ds, &["block", &buyer.peer_id]).status.success());
    let mut watch = Watch::start(&db);
    watch.ready(&db);
    let out = haggle(&db, &["message", l, "Hello?"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not take new offers, booking requests or messages"),
        "{}",
        stderr(&out)
    );
    watch.line_with(&["your message", ": failed (", "does not take new offers", "(haggle messages "]);
    drop(watch);
    let out = haggle(&ds, &["message", &question[..10], "Bye"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("haggle unblock"), "{}", stderr(&out));
    // Reading it again says no message can go, on both sides, instead of inviting an answer.
    let read = ok(&ds, &["messages", &question[..10]]);
    assert!(read.contains("No message can go in it now: you blocked") && !read.contains("Answer:"), "{read}");
    let read = ok(&db, &["messages", l]);
    assert!(read.contains("(their node refused your last message: the next may be refused too)"), "{read}");
    for n in [buyer, seller] {
        n.stop();
    }
}
