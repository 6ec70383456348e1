//! Dialling: a dead bootstrap peer is retried on a paced schedule (never in a loop), and is
//! connected soon after it comes up; a peer that goes away is redialled when it comes back; a
//! node over its connection target closes spare connections.

use std::time::{Duration, Instant};

use anyhow::Result;
use haggle_node::{KEY_FILE, NodeEvent};
use haggle_tests::{TestNode, wait_until};

/// A loopback TCP port free right now, below the kernel's ephemeral range: the test lets it go
/// and binds it again later (twice), and a port from that range could meanwhile be handed to any
/// other socket on the machine (a parallel test's listener on port 0, an outgoing connection).
fn free_port() -> Result<u16> {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    const LOW: u16 = 10_000;
    if ephemeral <= LOW + 1_000 {
        return Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port());
    }
    let span = u64::from(ephemeral - LOW);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
    let seed = (u64::from(std::process::id()) << 32) ^ u64::from(nanos);
    // Bounded: 200 tries at most.
    for i in 0..200u64 {
        let port = LOW + ((seed.wrapping_add(i.wrapping_mul(7_919))) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port between {LOW} and {ephemeral}")
}

/// Defect: a node whose only bootstrap peer was down dialled it in a loop (~47,000 attempts in
/// 13 s, a full core), and a peer that came back was not redialled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_bootstrap_peer_is_retried_paced_and_connected_when_it_comes_up() -> Result<()> {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    // A's identity exists before A runs, so B can name it in its bootstrap address.
    let (key, _) = haggle_protocol::keyfile::load_or_create(&da.path().join(KEY_FILE))?;
    let a_peer = key.public().peer_id();
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

/// A node keeps its connections near its target: over one and a half times the target it closes
/// peers that dialled in and are not in its mesh (once their first seconds are over), takes them
/// off its dial schedule, and gossip still reaches every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_over_its_target_closes_spare_connections_and_gossip_still_flows() -> Result<()> {
    use haggle_node::NodeConfig;
    use std::collections::HashSet;
    let hub_dir = tempfile::tempdir()?;
    // Target 3: the hub trims above 4, never a mesh peer (at most 4). The leaves keep every
    // connection, so what closes is the hub's doing.
    let mut hub = TestNode::start_with(
        "hub",
        hub_dir.path(),
        NodeConfig { target_peers: 3, ..NodeConfig::for_tests() },
    )
    .await?;
    let names = ["l1", "l2", "l3", "l4", "l5", "l6", "l7"];
    let dirs: Vec<_> = names.iter().map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let mut leaves = Vec::new();
    for (name, dir) in names.into_iter().zip(&dirs) {
        let config = NodeConfig { bootstrap: vec![hub.addr()], target_peers: 0, ..NodeConfig::for_tests() };
        leaves.push(TestNode::start_with(name, dir.path(), config).await?);
    }
    wait_until("every leaf to connect to the hub", || async {
        hub.node.handle.status().await.is_ok_and(|s| s.connected_peers >= names.len())
    })
    .await?;

    // 7 connections, at most 4 of them mesh peers: at least 3 close.
    let mut closed = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while closed.len() < names.len() - 4 {
        anyhow::ensure!(Instant::now() < deadline, "the hub closed only {} connections", closed.len());
        if let Ok(Ok(NodeEvent::PeerDisconnected { peer })) =
            tokio::time::timeout(Duration::from_millis(500), hub.events.recv()).await
        {
            closed.insert(peer);
        }
    }
    let status = hub.node.handle.status().await?;
    assert!(status.dialing.iter().all(|d| !closed.contains(&d.peer)), "trimmed peers are not redialled");

    // Gossip still reaches every node.
    let id = haggle_tests::id_of(
        &leaves[0].post("/v1/listings", haggle_tests::draft("trimmed bike", "10")).await?,
    );
    hub.wait_listing(&id).await?;
    for leaf in leaves.iter_mut().skip(1) {
        leaf.wait_listing(&id).await?;
    }
    for leaf in leaves {
        leaf.stop().await;
    }
    hub.stop().await;
    Ok(())
}

/// A second direct connection to a peer already connected directly (an AutoNAT dial-back, two
/// nodes dialling each other at once) starts no second sync: only a first connection does, or a
/// direct one that replaces a relayed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_direct_connection_starts_no_second_sync() -> Result<()> {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (a, mut b) = TestNode::pair_without_periodic_sync(da.path(), db.path()).await?;
    b.wait_for("B's sync with A", |e| matches!(e, NodeEvent::SyncCompleted { .. })).await?;
    assert_eq!(b.node.handle.status().await?.syncs_started, 1);
    let a_id = a.node.handle.status().await?.peer_id;
    let connections = || async {
        let peers = b.node.handle.peers().await.unwrap_or_default();
        peers.iter().find(|p| p.peer_id == a_id).map_or(0, |p| p.connections.len())
    };
    assert_eq!(connections().await, 1);

    b.node.handle.dial(a.addr().parse()?).await?;
    wait_until("B to hold a second connection to A", || async { connections().await == 2 }).await?;
    // A sync would start as B's loop handles the new connection, which it did before it
    // answered the peers above; A, the side dialled, starts none either way.
    assert_eq!(b.node.handle.status().await?.syncs_started, 1, "no sync from the second connection");
    assert_eq!(a.node.handle.status().await?.syncs_started, 0);
    b.stop().await;
    a.stop().await;
    Ok(())
}
