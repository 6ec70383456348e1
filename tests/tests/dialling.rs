//! Dialling: a dead bootstrap peer is retried on a paced schedule (never in a loop), and is
//! connected soon after it comes up; a peer that goes away is redialled when it comes back.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use haggle_node::{KEY_FILE, NodeEvent};
use haggle_tests::{TestNode, wait_until};

/// A loopback TCP port free right now.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Defect: a node whose only bootstrap peer was down dialled it in a loop (~47,000 attempts in
/// 13 s, a full core), and a peer that came back was not redialled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_bootstrap_peer_is_retried_paced_and_connected_when_it_comes_up() -> Result<()> {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    // A's identity exists before A runs, so B can name it in its bootstrap address.
    let (key, _) = haggle_protocol::keyfile::load_or_create(&da.path().join(KEY_FILE))?;
    let a_peer = key.public().peer_id().context("a PeerId")?;
    let port = free_port()?;
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let bootstrap = format!("{listen}/p2p/{a_peer}");

    let started = Instant::now();
    let mut b = TestNode::start("b", db.path(), vec![bootstrap]).await?;
    // Test nodes retry after 1 s, doubling to at most 4 s: three failed attempts take at least
    // 1 + 2 s. A dial loop would fail three times within milliseconds.
    wait_until("three failed dials to the dead bootstrap peer", || async {
        let status = b.node.handle.status().await;
        status.is_ok_and(|s| s.dialing.first().is_some_and(|d| d.peer == a_peer && d.attempts >= 3))
    })
    .await?;
    assert!(started.elapsed() >= Duration::from_secs(3), "paced: {:?}", started.elapsed());
    let status = b.node.handle.status().await?;
    let dialing = &status.dialing[0];
    assert!(dialing.attempts <= 4, "no loop: {dialing:?}");
    assert!(dialing.last_error.is_some(), "{dialing:?}");

    // A comes up on the address B knows: B connects at its next turn (at most 4 s + jitter).
    let mut config = haggle_node::NodeConfig::for_tests();
    config.listen = vec![listen.clone()];
    let shutdown = tokio_util::sync::CancellationToken::new();
    let a = haggle_node::start(da.path(), config.clone(), shutdown.clone()).await?;
    b.wait_for("A to connect", |e| matches!(e, NodeEvent::PeerConnected { peer } if *peer == a_peer)).await?;
    assert!(b.node.handle.status().await?.dialing.iter().all(|d| d.peer != a_peer));

    // A restarts: B redials it when it is back.
    shutdown.cancel();
    a.wait().await;
    b.wait_for("A to go", |e| matches!(e, NodeEvent::PeerDisconnected { peer } if *peer == a_peer)).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let a = haggle_node::start(da.path(), config, shutdown.clone()).await?;
    b.wait_for("A to be back", |e| matches!(e, NodeEvent::PeerConnected { peer } if *peer == a_peer)).await?;
    shutdown.cancel();
    a.wait().await;
    b.stop().await;
    Ok(())
}

/// A node says when its reachability changes (the event `haggle watch` shows): a node on
/// 127.0.0.1 alone counts as public at once, answers DHT queries and offers to relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_loopback_node_announces_it_is_public_and_relays() -> Result<()> {
    use haggle_node::api::types::Reachability;
    let dir = tempfile::tempdir()?;
    let mut node = TestNode::start("solo", dir.path(), vec![]).await?;
    node.wait_for("reachability public", |e| {
        matches!(e, NodeEvent::ReachabilityChanged { reachability: Reachability::Public })
    })
    .await?;
    let status = node.get("/v1/status").await?;
    assert_eq!(
        (&status["network"]["reachability"], &status["network"]["relaying"]),
        (&"public".into(), &true.into())
    );
    node.stop().await;
    Ok(())
}
