//! Offline delivery through a third node: neither party is ever online at the same time as the
//! other, yet the offer and the acceptance arrive and both hold the same deal. The third node
//! carries only sealed mail.

use anyhow::Result;
use haggle_node::NodeEvent;
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
