//! Offline delivery through a third node: neither party is ever online at the same time as the
//! other, yet the offer and the acceptance arrive and both hold the same deal. The third node
//! carries only sealed mail.

use anyhow::Result;
use haggle_node::{NodeConfig, NodeEvent};
use haggle_protocol::{ObjectId, PublicKey};
use haggle_storage::DeliveryState;
use haggle_tests::{TestNode, draft, id_of, wait_until};
use serde_json::json;

async fn has_mail_for(node: &TestNode, who: PublicKey) -> bool {
    node.node.store().mail_for(&who).map(|m| !m.is_empty()).unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_and_its_acceptance_travel_sealed_through_a_third_node() -> Result<()> {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let third = TestNode::start("third", dirs[0].path(), vec![]).await?;
    let seller = TestNode::start("seller", dirs[1].path(), vec![third.addr()]).await?;
    let mut buyer = TestNode::start("buyer", dirs[2].path(), vec![third.addr()]).await?;
    third.wait_mesh(2).await?;
    let seller_key = seller.node.service.me();
    let buyer_key = buyer.node.service.me();

    let listing = seller.post("/v1/listings", draft("Espresso machine", "90")).await?;
    buyer.wait_listing(&id_of(&listing)).await?;

    // The seller goes away; the buyer offers. The offer waits in the buyer's outbox and travels
    // sealed to the third node.
    seller.stop().await;
    let offer =
        buyer.post(&format!("/v1/listings/{}/offers", id_of(&listing)), json!({"price": "80"})).await?;
    let offer_id: ObjectId = id_of(&offer).parse()?;
    let thread = offer["thread"].as_str().unwrap_or_default().to_owned();
    wait_until("the third node to hold sealed mail for the seller", || has_mail_for(&third, seller_key))
        .await?;
    // The buyer's thread says a sealed copy is made (it read `queued` as if nothing had left).
    let mine = buyer.get(&format!("/v1/threads/{thread}")).await?;
    assert_eq!(
        (&mine["messages"][0]["delivery"], &mine["messages"][0]["sealed"]),
        (&json!("queued"), &json!(true))
    );
    // A note in the thread travels the same way, and its conversation says so too (`haggle
    // messages` said only `queued`).
    let asked =
        buyer.post(&format!("/v1/messages/{thread}"), json!({"message": "Pick-up on Saturday?"})).await?;
    let note = asked["sent"].as_str().unwrap_or_default().to_owned();
    let mail_count = || third.node.store().mail_for(&seller_key).map(|m| m.len()).unwrap_or(0);
    wait_until("the note's sealed copy at the third node", || async { mail_count() >= 2 }).await?;
    wait_until("the note's view to say its sealed copy", || async {
        let view = buyer.get(&format!("/v1/messages/{thread}")).await.unwrap_or_default();
        let mine =
            view["notes"].as_array().and_then(|n| n.iter().find(|n| n["id"] == note.as_str())).cloned();
        mine.is_some_and(|n| n["delivery"] != "delivered" && n["sealed"] == true)
    })
    .await?;

    // The buyer goes away too; the seller comes back, connected only to the third node.
    buyer.stop().await;
    let mut seller = TestNode::start("seller", dirs[1].path(), vec![third.addr()]).await?;
    seller
        .wait_for(
            "the offer, through the mailbox",
            |e| matches!(e, NodeEvent::NegotiationReceived { kind, .. } if kind.as_str() == "offer"),
        )
        .await?;
    let accepted = seller.post(&format!("/v1/threads/{thread}/accept"), json!({})).await?;
    assert_eq!(accepted["state"], "confirming");
    let accept_id: ObjectId = accepted["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["id"].as_str())
        .unwrap_or_default()
        .parse()?;
    wait_until("the third node to hold sealed mail for the buyer", || has_mail_for(&third, buyer_key))
        .await?;
    seller.stop().await;

    // The buyer returns: the acceptance arrives, the buyer's node confirms it (its offer still
    // stands) and holds the deal; the seller's receipt marks the offer delivered.
    let buyer = TestNode::start("buyer", dirs[2].path(), vec![third.addr()]).await?;
    wait_until("the buyer to hold the deal", || async {
        buyer.node.store().deals_of(&buyer_key).map(|d| d.len() == 1).unwrap_or(false)
    })
    .await?;
    wait_until("the offer to show as delivered", || async {
        buyer
            .node
            .store()
            .outbox_entry(&offer_id)
            .ok()
            .flatten()
            .is_some_and(|e| e.state == DeliveryState::Delivered)
    })
    .await?;
    // Counted by its path (an operator's status said "0 direct, 0 through a relay" after a
    // delivery like it).
    wait_until("the mailbox delivery to be counted", || async {
        let status = buyer.get("/v1/status").await.unwrap_or_default();
        status["network"]["delivered"]["mailbox"].as_u64().unwrap_or(0) >= 1
    })
    .await?;

    // The confirm travels the same way to the seller.
    wait_until("the third node to hold sealed mail for the seller", || has_mail_for(&third, seller_key))
        .await?;
    buyer.stop().await;
    let seller = TestNode::start("seller", dirs[1].path(), vec![third.addr()]).await?;
    wait_until("the seller to hold the deal", || async {
        seller.node.store().deals_of(&seller_key).map(|d| d.len() == 1).unwrap_or(false)
    })
    .await?;
    let buyer = TestNode::start("buyer", dirs[2].path(), vec![]).await?;
    let (seller_deals, buyer_deals) = (seller.get("/v1/deals").await?, buyer.get("/v1/deals").await?);
    assert_eq!(seller_deals["deals"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        seller_deals["deals"][0]["signed"], buyer_deals["deals"][0]["signed"],
        "both hold the same deal"
    );

    // The third node carried mail it could not read: it never held either message in the clear.
    let store = third.node.store();
    assert!(!store.contains(&offer_id)? && !store.contains(&accept_id)?);
    assert!(store.thread(&offer_id)?.is_none());

    for node in [third, seller, buyer] {
        node.stop().await;
    }
    Ok(())
}

/// Defect (found in a trial): an offer acknowledged as queued, its node stopped at once, left
/// with no sealed copy: the seller, offline, got nothing until the buyer's node ran again. A
/// stopping node now hands its sealed copies to its peers first (bounded), and the seller gets
/// the offer from the third node alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_queued_just_before_its_node_stops_still_travels_sealed() -> Result<()> {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    // Sealing signs a mailbox with the network's full work, as on a real network (the tests'
    // usual base of 0 seals at once, before any stop could come): here it takes a moment.
    let config = |bootstrap: Vec<String>| NodeConfig { bootstrap, pow_bits: 20, ..NodeConfig::for_tests() };
    let third = TestNode::start_with("third", dirs[0].path(), config(vec![])).await?;
    let seller = TestNode::start_with("seller", dirs[1].path(), config(vec![third.addr()])).await?;
    let mut buyer = TestNode::start_with("buyer", dirs[2].path(), config(vec![third.addr()])).await?;
    third.wait_mesh(2).await?;
    let seller_key = seller.node.service.me();
    let listing = seller.post("/v1/listings", draft("Record player", "60")).await?;
    buyer.wait_listing(&id_of(&listing)).await?;
    seller.stop().await;

    buyer.post(&format!("/v1/listings/{}/offers", id_of(&listing)), json!({"price": "50"})).await?;
    buyer.stop().await;
    wait_until("the third node to hold sealed mail for the seller", || has_mail_for(&third, seller_key))
        .await?;
    let mut seller = TestNode::start_with("seller", dirs[1].path(), config(vec![third.addr()])).await?;
    seller
        .wait_for(
            "the offer, through the mailbox",
            |e| matches!(e, NodeEvent::NegotiationReceived { kind, .. } if kind.as_str() == "offer"),
        )
        .await?;
    for node in [third, seller] {
        node.stop().await;
    }
    Ok(())
}

/// Defect (found in a trial): a seller signed the payment request and the shipment of two deals
/// with a buyer who was away, then went away too; only the first deal's steps reached the buyer
/// through the node that stayed up. Every queued step travels sealed, whichever deal it is of.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_step_of_several_deals_travels_sealed_while_both_are_away() -> Result<()> {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let third = TestNode::start("third", dirs[0].path(), vec![]).await?;
    let mut seller = TestNode::start("seller", dirs[1].path(), vec![third.addr()]).await?;
    let mut buyer = TestNode::start("buyer", dirs[2].path(), vec![third.addr()]).await?;
    third.wait_mesh(2).await?;
    let buyer_key = buyer.node.service.me();

    // Two deals, made while both are online.
    let mut deals = Vec::new();
    for title in ["Tea cups", "Saucers"] {
        let listing = seller.post("/v1/listings", draft(title, "4")).await?;
        buyer.wait_listing(&id_of(&listing)).await?;
        let offer =
            buyer.post(&format!("/v1/listings/{}/offers", id_of(&listing)), json!({"price": "4"})).await?;
        let thread = offer["thread"].as_str().unwrap_or_default().to_owned();
        seller.wait_for("the offer", |e| matches!(e, NodeEvent::NegotiationReceived { .. })).await?;
        seller.post(&format!("/v1/threads/{thread}/accept"), json!({})).await?;
        buyer.wait_for("the deal", |e| matches!(e, NodeEvent::DealMade { .. })).await?;
        let view = buyer.get(&format!("/v1/threads/{thread}")).await?;
        deals.push(view["deal"].as_str().unwrap_or_default().to_owned());
    }

    // The buyer goes away; the seller asks for payment and ships, in both deals.
    buyer.stop().await;
    for deal in &deals {
        let steps = format!("/v1/deals/{deal}/steps");
        let iban = json!({"step": "payment_request", "method": "iban", "details": "BE71 0961 2345 6769"});
        seller.post(&steps, iban).await?;
        seller.post(&steps, json!({"step": "shipped"})).await?;
    }
    wait_until("the third node to hold all four steps sealed for the buyer", || async {
        third.node.store().mail_for(&buyer_key).map(|m| m.len() >= 4).unwrap_or(false)
    })
    .await?;

    // The seller goes away; the buyer comes back to the third node alone: both deals shipped.
    seller.stop().await;
    let buyer = TestNode::start("buyer", dirs[2].path(), vec![third.addr()]).await?;
    wait_until("both deals to reach the buyer as shipped, each with its request", || async {
        let Ok(page) = buyer.get("/v1/deals").await else { return false };
        let shipped = |d: &serde_json::Value| d["stage"] == "shipped" && d["payment"]["method"] == "iban";
        page["deals"].as_array().is_some_and(|d| d.len() == 2 && d.iter().all(shipped))
    })
    .await?;
    for node in [third, buyer] {
        node.stop().await;
    }
    Ok(())
}

/// A stranger fills a seller's mailbox quota on the node that carries its mail, from four fresh
/// keys (256 sealed mailboxes nobody can open, never receipted, each living 14 days). An honest
/// buyer's offer, made while the seller is away, still travels sealed: its mailbox takes the
/// place of the oldest of a key with more, on the buyer's node and on the carrier.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stranger_filling_a_sellers_mail_quota_does_not_shut_out_an_honest_offer() -> Result<()> {
    use haggle_protocol::fixtures::{author, key, live_listing, sign_at};
    use haggle_protocol::{Body, MAILBOX_LIFETIME, Mailbox, Timestamp};
    use haggle_storage::MAX_MAIL_PER_RECIPIENT;
    use haggle_tests::rogue::Rogue;

    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let carrier = TestNode::start("carrier", dirs[0].path(), vec![]).await?;
    let buyer = TestNode::start("buyer", dirs[1].path(), vec![carrier.addr()]).await?;
    carrier.wait_mesh(1).await?;
    // The seller is away; its listing reached the buyer earlier.
    let seller = key(5);
    let listing = sign_at(&seller, Body::Listing(live_listing("Desk lamp")), Timestamp::now());
    let _ = buyer.node.store().ingest(listing.bytes(), haggle_storage::Durability::Flush)?;

    let rogue = Rogue::spawn(carrier.addr().parse()?)?;
    rogue.wait_subscribed().await?;
    let start = Timestamp::now().saturating_sub(std::time::Duration::from_secs(600));
    for n in 0..MAX_MAIL_PER_RECIPIENT as u32 {
        let at = start.saturating_add(std::time::Duration::from_millis(u64::from(n)));
        let sealed = haggle_protocol::seal(&seller.public(), &n.to_be_bytes())?;
        let body = Body::Mailbox(Mailbox {
            to: seller.public(),
            sealed,
            expires_at: at.saturating_add(MAILBOX_LIFETIME),
        });
        rogue.publish(sign_at(&author(3_000 + n % 4), body, at).bytes().to_vec()).await?;
    }
    let held = |node: &TestNode| node.node.store().mail_for(&seller.public()).map(|m| m.len()).unwrap_or(0);
    wait_until("the carrier to hold the stranger's 256 mailboxes", || async {
        held(&carrier) == MAX_MAIL_PER_RECIPIENT
    })
    .await?;

    let buyer_key = buyer.node.service.me();
    buyer.post(&format!("/v1/listings/{}/offers", listing.id().to_hex()), json!({"price": "5"})).await?;
    let from_buyer = |node: &TestNode| {
        node.node
            .store()
            .mail_for(&seller.public())
            .is_ok_and(|m| m.iter().any(|mailbox| mailbox.author() == buyer_key))
    };
    wait_until("the buyer's sealed offer on the carrier", || async { from_buyer(&carrier) }).await?;
    assert!(from_buyer(&buyer), "the buyer's node keeps its own copy too");
    assert_eq!(held(&carrier), MAX_MAIL_PER_RECIPIENT, "still within the quota");
    drop(rogue);
    for node in [buyer, carrier] {
        node.stop().await;
    }
    Ok(())
}

/// Found in a trial: twenty messages queued for a party whose node was down reached it 30 s to
/// 2 minutes after it came back, out of order, though both nodes were connected: the outbox
/// sent them all at once, the party's node dropped the streams past its eight, and the rest
/// waited out their backoff. A party's messages now go one at a time, oldest first, each
/// once the one before is answered: every one is delivered at its first attempt. (The
/// conversations read in date order whatever the arrival: that check is of what arrived.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backlog_reaches_a_party_back_online_each_at_its_first_attempt() -> Result<()> {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let seller = TestNode::start("seller", dirs[0].path(), vec![]).await?;
    let mut buyer = TestNode::start("buyer", dirs[1].path(), vec![seller.addr()]).await?;
    // Two conversations of 20 questions each (as many as one may send unanswered).
    let mut listings = Vec::new();
    for title in ["Writing desk", "Desk chair"] {
        let listing = id_of(&seller.post("/v1/listings", draft(title, "120")).await?);
        buyer.wait_listing(&listing).await?;
        listings.push(listing);
    }
    seller.stop().await;

    let mut sent = Vec::new();
    for n in 0..20 {
        for listing in &listings {
            let view = buyer
                .post(&format!("/v1/messages/{listing}"), json!({"message": format!("question {n}")}))
                .await?;
            let last = view["notes"].as_array().and_then(|n| n.last()).cloned().unwrap_or_default();
            assert_eq!(last["message"], format!("question {n}"), "{view}");
            sent.push(last["id"].as_str().unwrap_or_default().parse::<ObjectId>()?);
        }
    }
    let seller = TestNode::start("seller", dirs[0].path(), vec![buyer.addr()]).await?;
    let entries = |node: &TestNode| {
        sent.iter().filter_map(|id| node.node.store().outbox_entry(id).ok().flatten()).collect::<Vec<_>>()
    };
    wait_until("every question delivered", || async {
        entries(&buyer).iter().all(|e| e.state == DeliveryState::Delivered)
    })
    .await?;
    // At most one attempt each (the record of a send may land after its delivery's, which it
    // then leaves alone: 0). One send may race the reconnection itself on a loaded machine (a
    // full run once gave [2, 1, 0, ...]: the first question went out over the connection being
    // replaced, and again at once); the defect this guards against had most of the backlog
    // take two or three attempts each.
    let attempts: Vec<u32> = entries(&buyer).iter().map(|e| e.attempts).collect();
    let again = attempts.iter().filter(|a| **a > 1).count();
    assert!(again <= 1 && attempts.iter().all(|a| *a <= 2), "each at its first attempt: {attempts:?}");
    for listing in &listings {
        let conversation = seller.get(&format!("/v1/messages/{listing}")).await?;
        let said: Vec<String> = conversation["notes"]
            .as_array()
            .map(|n| n.iter().filter_map(|n| n["message"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        assert_eq!(said, (0..20).map(|n| format!("question {n}")).collect::<Vec<_>>());
    }
    for node in [seller, buyer] {
        node.stop().await;
    }
    Ok(())
}
