//! A node compares its clock with its peers' from the dates of what they send fresh, and says
//! so when it is off: peers whose objects read 8 minutes ahead of its clock (refused, but
//! signed) outvote one in step, and the estimate forgets a peer that leaves. Peers' own clocks,
//! carried by the sync that starts on every connection, count too: a node learns how its clock
//! compares in a market where nobody publishes.

use std::time::Duration;

use anyhow::{Context, Result};
use haggle_protocol::fixtures::{key, live_listing, sign_at};
use haggle_protocol::{Body, Listing, Timestamp};
use haggle_tests::rogue::Rogue;
use haggle_tests::{TestNode, wait_until};

/// A listing by author `n`, signed with its clock `ahead` of the real time.
fn dated(n: u8, ahead: Duration) -> Vec<u8> {
    let at = Timestamp::now().saturating_add(ahead);
    let listing = Listing {
        nonce: [n; 16],
        expires_at: at.saturating_add(Duration::from_secs(86_400)),
        ..live_listing(&format!("Lamp number {n}"))
    };
    sign_at(&key(n), Body::Listing(listing), at).bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_behind_its_peers_is_told_by_how_much() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let node = TestNode::start("B", dir.path(), vec![]).await?;
    let mut rogues = Vec::new();
    for _ in 0..3 {
        let rogue = Rogue::spawn(node.addr().parse()?)?;
        rogue.wait_subscribed().await?;
        rogues.push(rogue);
    }
    let eight_minutes = Duration::from_secs(8 * 60);
    // Two peers' objects read 8 minutes ahead (this node's clock is behind theirs); the third's
    // are in step.
    for (i, rogue) in rogues.iter().enumerate() {
        let ahead = if i < 2 { eight_minutes } else { Duration::ZERO };
        for j in 0..3 {
            rogue.publish(dated(10 * i as u8 + j + 1, ahead)).await?;
        }
    }
    let clock = || async { node.get("/v1/status").await.map(|s| s["network"]["clock"].clone()) };
    wait_until("the clock compared with all three peers", || async {
        clock().await.is_ok_and(|c| c["peers"] == 3 && c["refused_ahead"] == 6)
    })
    .await?;
    let c = clock().await?;
    let skew = c["skew_ms"].as_i64().context("an estimate")?;
    assert!((-8 * 60_000 - 5_000..-8 * 60_000 + 5_000).contains(&skew), "8 minutes behind: {c}");
    assert_eq!(c["agreeing"], 2, "the peer in step disagrees: {c}");
    // Refused for the date, not held against the peers: none is penalised.
    let peers = node.get("/v1/peers").await?;
    for p in peers["peers"].as_array().context("peers")? {
        assert_eq!(p["rejected"], 0, "a clock is not an offence: {p}");
    }
    let metrics = node.metrics().await?;
    assert!(metrics.contains("haggle_clock_peers 3"), "{metrics}");
    assert!(metrics.contains("haggle_clock_agreeing_peers 2"), "{metrics}");
    assert!(metrics.contains("haggle_clock_authors 3"), "{metrics}");
    assert!(metrics.contains("haggle_objects_refused_ahead_total 6"), "{metrics}");

    // A peer that leaves stops counting (the estimate keeps connected peers only).
    rogues.truncate(1);
    wait_until("the estimate to forget the peers that left", || async {
        clock().await.is_ok_and(|c| c["peers"] == 1)
    })
    .await?;
    node.stop().await;
    Ok(())
}

/// What node `n`'s status says of its clock.
async fn clock_of(n: &TestNode) -> Result<serde_json::Value> {
    Ok(n.get("/v1/status").await?["network"]["clock"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sync_on_connecting_compares_clocks_before_anything_is_published() -> Result<()> {
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?];
    let a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    let b = TestNode::start("B", dirs[1].path(), vec![a.addr()]).await?;
    let c = TestNode::start("C", dirs[2].path(), vec![a.addr()]).await?;
    // B and C dial A and sync with it: A reads both clocks from their requests, and each of them
    // A's from its answers. Nothing signed has crossed the network.
    wait_until("A to read the clocks of B and C", || async {
        clock_of(&a).await.is_ok_and(|c| c["peers"] == 2)
    })
    .await?;
    for n in [&b, &c] {
        wait_until("B and C to read A's clock", || async {
            clock_of(n).await.is_ok_and(|c| c["peers"].as_u64() >= Some(1))
        })
        .await?;
    }
    let seen = clock_of(&a).await?;
    assert_eq!(seen["authors"], 2, "each peer's own clock is an author: {seen}");
    assert_eq!(seen["agreeing"], 2, "{seen}");
    assert_eq!(seen["refused_ahead"], 0, "{seen}");
    let skew = seen["skew_ms"].as_i64().context("an estimate")?;
    // One machine's clock: only the time a message took to cross loopback and reach the loop.
    assert!(skew.abs() < 5_000, "in step: {seen}");
    let listings = a.get("/v1/search").await?;
    assert_eq!(listings["total"], 0, "nothing was published: {listings}");
    for n in [a, b, c] {
        n.stop().await;
    }
    Ok(())
}
