//! Negotiation between two nodes, online and with the seller away.

use anyhow::Result;
use haggle_node::NodeEvent;
use haggle_tests::{TestNode, draft, id_of, step_arrives, wait_until};
use serde_json::json;

fn received(kind: &'static str) -> impl Fn(&NodeEvent) -> bool {
    move |e| matches!(e, NodeEvent::NegotiationReceived { kind: k, .. } if k.as_str() == kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offer_counter_accept_gives_the_same_deal_on_both_sides() -> Result<()> {
    let (ds, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut seller = TestNode::start("seller", ds.path(), vec![]).await?;
    let mut buyer = TestNode::start("buyer", db.path(), vec![seller.addr()]).await?;
    seller.wait_mesh(1).await?;
    buyer.wait_mesh(1).await?;

    let listing = seller.post("/v1/listings", draft("Oak dining table", "300")).await?;
    let listing_id = id_of(&listing);
    buyer.wait_listing(&listing_id).await?;

    let offer = buyer
        .post(
            &format!("/v1/listings/{}/offers", &listing_id[..10]),
            json!({"price": "250", "message": "250?"}),
        )
        .await?;
    let thread = offer["thread"].as_str().unwrap_or_default().to_owned();
    assert_eq!(offer["state"], "open");
    seller.wait_for("the offer", received("offer")).await?;

    let counter = seller.post(&format!("/v1/threads/{thread}/counter"), json!({"price": "280"})).await?;
    assert_eq!(counter["state"], "countered");
    buyer.wait_for("the counter", received("counter")).await?;

    // The buyer cannot accept its own terms, and the seller cannot accept the seller's own.
    let own = seller.post(&format!("/v1/threads/{thread}/accept"), json!({})).await;
    assert!(own.is_err_and(|e| e.to_string().contains("your own")));

    let accepted = buyer.post(&format!("/v1/threads/{thread}/accept"), json!({})).await?;
    // A deal once the seller's node confirms: connected, the answer waits a moment for that,
    // so it may say `accepted` already.
    assert!(matches!(accepted["state"].as_str(), Some("confirming" | "accepted")), "{accepted}");
    seller
        .wait_for("the seller's node to confirm: the deal", |e| matches!(e, NodeEvent::DealMade { .. }))
        .await?;
    buyer.wait_for("the confirm: the deal", |e| matches!(e, NodeEvent::DealMade { .. })).await?;

    let seller_deals = seller.get("/v1/deals").await?;
    let buyer_deals = buyer.get("/v1/deals").await?;
    assert_eq!(seller_deals["deals"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        seller_deals["deals"][0]["signed"], buyer_deals["deals"][0]["signed"],
        "both sides hold the identical deal"
    );
    assert_eq!(
        (&seller_deals["deals"][0]["waiting_on"], &buyer_deals["deals"][0]["waiting_on"]),
        (&json!("me"), &json!("them")),
        "the seller says how to pay first"
    );
    assert_eq!(seller_deals["deals"][0]["terms"]["price"]["display"], "280.00 EUR");
    assert_eq!(seller_deals["deals"][0]["terms"]["price"]["decimals"], 2, "how to read the amount 28000");

    // The last one sold: the seller's node closes the listing and the buyer's node hears of it.
    // (It may arrive before the confirm, so this waits on the state, not an event.)
    wait_until("the closed revision", || async {
        buyer.get(&format!("/v1/listings/{listing_id}")).await.is_ok_and(|l| l["state"] == "closed")
    })
    .await?;

    seller.stop().await;
    buyer.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_to_an_offline_seller_waits_survives_a_restart_and_arrives() -> Result<()> {
    let (ds, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let seller = TestNode::start("seller", ds.path(), vec![]).await?;
    let mut buyer = TestNode::start("buyer", db.path(), vec![seller.addr()]).await?;
    seller.wait_mesh(1).await?;
    buyer.wait_mesh(1).await?;
    let listing = seller.post("/v1/listings", draft("Vintage camera", "80")).await?;
    buyer.wait_listing(&id_of(&listing)).await?;
    seller.stop().await;

    let offer =
        buyer.post(&format!("/v1/listings/{}/offers", id_of(&listing)), json!({"price": "70"})).await?;
    let thread = offer["thread"].as_str().unwrap_or_default().to_owned();
    let offer_id = id_of(&offer);
    assert!(matches!(offer["delivery"].as_str(), Some("queued" | "sent")), "{offer}");

    // Restart the buyer: the queued offer is on disk.
    buyer.stop().await;
    let mut buyer = TestNode::start("buyer", db.path(), vec![]).await?;
    let shown = buyer.get(&format!("/v1/threads/{thread}")).await?;
    assert!(matches!(shown["delivery"].as_str(), Some("queued" | "sent")), "{shown}");

    // The seller comes back and dials the buyer; the buyer delivers.
    let mut seller = TestNode::start("seller", ds.path(), vec![buyer.addr()]).await?;
    seller.wait_for("the offer", received("offer")).await?;
    buyer
        .wait_for("delivery", |e| matches!(e, NodeEvent::DeliveryChanged { id, state } if id.to_hex() == offer_id && state.as_str() == "delivered"))
        .await?;
    let threads = seller.get("/v1/threads").await?;
    assert_eq!(threads["threads"][0]["thread"], thread.as_str());
    assert_eq!(threads["threads"][0]["awaiting"], "me");

    seller.stop().await;
    buyer.stop().await;
    Ok(())
}

/// The seller's node, not only the `haggle` command, refuses to answer an offer made before
/// the listing's description changed (`409 listing_changed`), so no client can bind the seller
/// to the old text by leaving the question out; `?as_offered=true` stands by it, and the deal
/// carries the revision offered on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_refuses_an_accept_on_an_earlier_text_unless_as_offered() -> Result<()> {
    let (ds, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut seller = TestNode::start("seller", ds.path(), vec![]).await?;
    let mut buyer = TestNode::start("buyer", db.path(), vec![seller.addr()]).await?;
    seller.wait_mesh(1).await?;
    buyer.wait_mesh(1).await?;
    let listing = seller.post("/v1/listings", draft("Desk lamp", "30")).await?;
    let listing_id = id_of(&listing);
    buyer.wait_listing(&listing_id).await?;
    let offer = buyer.post(&format!("/v1/listings/{listing_id}/offers"), json!({"price": "25"})).await?;
    let thread = offer["thread"].as_str().unwrap_or_default().to_owned();
    seller.wait_for("the offer", received("offer")).await?;
    seller
        .patch(&format!("/v1/listings/{listing_id}"), json!({"description": "Has a dent on the base"}))
        .await?;

    let refused = seller.post(&format!("/v1/threads/{thread}/accept"), json!({})).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("before you changed the listing's description")),
        "{refused:?}"
    );
    let shown = seller.get(&format!("/v1/threads/{thread}")).await?;
    assert_eq!((&shown["state"], &shown["listing_changed"]), (&json!("open"), &json!(["description"])));
    let unknown = seller.post(&format!("/v1/threads/{thread}/accept?as_offerd=true"), json!({})).await;
    assert!(unknown.is_err_and(|e| e.to_string().contains("as_offerd")), "a misspelt parameter is named");

    seller.post(&format!("/v1/threads/{thread}/accept?as_offered=true"), json!({})).await?;
    buyer.wait_for("the deal", |e| matches!(e, NodeEvent::DealMade { .. })).await?;
    let deal = &seller.get("/v1/deals").await?["deals"][0];
    assert_eq!(deal["listing"], json!(listing_id), "the deal stands on the revision offered on: {deal}");
    assert_eq!(deal["listing_changed"], json!(["description"]), "{deal}");
    // The buyer's node says so too once the new revision has reached it (by gossip, which may
    // come after the deal).
    wait_until("the buyer's deal to name the change", || async {
        buyer.get("/v1/deals").await.is_ok_and(|d| d["deals"][0]["listing_changed"] == json!(["description"]))
    })
    .await?;

    seller.stop().await;
    buyer.stop().await;
    Ok(())
}

/// After the handshake: payment request, paid, shipped, received, each signed by the right
/// party and delivered to the other; both nodes end with the same timeline and a completed
/// deal. Steps out of turn, by the wrong party or with bad details are refused with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deal_goes_from_payment_request_to_received_on_both_sides() -> Result<()> {
    let (ds, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut seller = TestNode::start("seller", ds.path(), vec![]).await?;
    let mut buyer = TestNode::start("buyer", db.path(), vec![seller.addr()]).await?;
    seller.wait_mesh(1).await?;
    buyer.wait_mesh(1).await?;
    let listing = seller.post("/v1/listings", draft("Road bike", "120")).await?;
    let listing_id = id_of(&listing);
    buyer.wait_listing(&listing_id).await?;
    let offer =
        buyer.post(&format!("/v1/listings/{}/offers", &listing_id[..10]), json!({"price": "110"})).await?;
    let thread = offer["thread"].as_str().unwrap_or_default().to_owned();
    seller.wait_for("the offer", received("offer")).await?;
    seller.post(&format!("/v1/threads/{thread}/accept"), json!({})).await?;
    buyer.wait_for("the deal", |e| matches!(e, NodeEvent::DealMade { .. })).await?;
    let deal = buyer.get("/v1/deals").await?["deals"][0]["id"].as_str().unwrap_or_default().to_owned();
    let steps = format!("/v1/deals/{deal}/steps");

    // Out of turn, wrong party, bad details: refused, nothing sent.
    let early = buyer.post(&steps, json!({"step": "paid"})).await;
    assert!(early.is_err_and(|e| e.to_string().contains("not said how to pay")));
    let wrong = buyer.post(&steps, json!({"step": "shipped"})).await;
    assert!(
        wrong.is_err_and(|e| e.to_string().contains("the seller signs this step, and you are the buyer"))
    );
    let typo = seller
        .post(&steps, json!({"step": "payment_request", "method": "iban", "details": "BE71 0961 2345 6768"}))
        .await;
    assert!(typo.is_err_and(|e| e.to_string().contains("check digits")));

    let view = seller
        .post(&steps, json!({"step": "payment_request", "method": "iban", "details": "BE71 0961 2345 6769", "reference": "Road bike"}))
        .await?;
    assert_eq!((&view["stage"], &view["waiting_on"]), (&json!("payment_requested"), &json!("them")));
    step_arrives(&mut buyer, "payment_request").await?;
    let view = buyer.get(&format!("/v1/deals/{deal}")).await?;
    assert_eq!(view["payment"]["details"], "BE71 0961 2345 6769, reference \"Road bike\"");
    assert_eq!(view["waiting_on"], "me");

    buyer.post(&steps, json!({"step": "paid", "reference": "transfer 1 Dec"})).await?;
    step_arrives(&mut seller, "paid").await?;
    seller.post(&steps, json!({"step": "shipped", "tracking": "bpost 3232"})).await?;
    step_arrives(&mut buyer, "shipped").await?;
    buyer.post(&steps, json!({"step": "received"})).await?;
    step_arrives(&mut seller, "received").await?;

    let (s, b) =
        (seller.get(&format!("/v1/deals/{deal}")).await?, buyer.get(&format!("/v1/deals/{deal}")).await?);
    for v in [&s, &b] {
        assert_eq!(v["stage"], "completed", "{v}");
        assert_eq!(v["waiting_on"], serde_json::Value::Null);
        assert_eq!(v["timeline"].as_array().map(Vec::len), Some(4));
    }
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["step"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(&s), names(&b), "the same timeline on both sides");
    assert_eq!(names(&s), ["payment_request", "paid", "shipped", "received"]);
    let over = buyer.post(&steps, json!({"step": "cancel"})).await;
    assert!(over.is_err_and(|e| e.to_string().contains("completed")));

    seller.stop().await;
    buyer.stop().await;
    Ok(())
}
