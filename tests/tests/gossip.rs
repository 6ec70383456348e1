//! Listings spread over a line of five nodes, each dialing only its neighbour.

use anyhow::Result;
use haggle_tests::{TestNode, draft, id_of};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listing_its_update_and_its_retraction_cross_a_line_of_five() -> Result<()> {
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let names = ["A", "B", "C", "D", "E"];
    let mut nodes: Vec<TestNode> = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let bootstrap = nodes.last().map(|prev| vec![prev.addr()]).unwrap_or_default();
        nodes.push(TestNode::start(names[i], dir.path(), bootstrap).await?);
    }
    for (i, node) in nodes.iter().enumerate() {
        node.wait_mesh(if i == 0 || i == 4 { 1 } else { 2 }).await?;
    }

    let published = nodes[0].post("/v1/listings", draft("Blue steel road bike", "250")).await?;
    let id = id_of(&published);
    nodes[4].wait_listing(&id).await?;
    let found = nodes[4].get("/v1/search?q=steel%20bike").await?;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["hits"][0]["id"], id.as_str());
    assert_eq!(found["hits"][0]["author"], nodes[0].node.peer_id.to_string().as_str());

    let updated = nodes[0]
        .patch(&format!("/v1/listings/{id}"), json!({"title": "Red steel road bike", "price": "200"}))
        .await?;
    let id2 = id_of(&updated);
    assert_eq!(updated["revision"], 2);
    nodes[4].wait_listing(&id2).await?;
    let found = nodes[4].get("/v1/search?q=red%20bike").await?;
    assert_eq!(found["hits"][0]["price"]["display"], "200.00 EUR", "{found}");
    assert_eq!(nodes[4].get("/v1/search?q=blue").await?["total"], 0);

    let retracted = nodes[0].post(&format!("/v1/listings/{id2}/retract"), json!({})).await?;
    assert_eq!(retracted["state"], "closed");
    nodes[4].wait_listing(&id_of(&retracted)).await?;
    assert_eq!(nodes[4].get("/v1/search?q=bike").await?["total"], 0);
    let shown = nodes[4].get(&format!("/v1/listings/{id}")).await?;
    assert_eq!(shown["state"], "closed", "the tombstone replaced the listing on E: {shown}");

    for node in nodes {
        node.stop().await;
    }
    Ok(())
}
