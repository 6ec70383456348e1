//! Catch-up sync: a node that was away gets everything it missed, a brand-new node gets the
//! whole market, and two halves of a partition converge.

use anyhow::Result;
use haggle_node::NodeEvent;
use haggle_protocol::fixtures::{author, live_listing, sign_now};
use haggle_protocol::{Body, Listing, ListingStatus};
use haggle_storage::Durability;
use haggle_tests::{TestNode, wait_until};

/// `n` signed listings by seller group `k` (500 per author: a node keeps at most 1,000 listings
/// per author), distinct by nonce.
fn listings(k: u8, n: u32, title: &str) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut l = Listing { title: format!("{title} {i}"), ..live_listing("x") };
            l.nonce[..4].copy_from_slice(&i.to_be_bytes());
            l.nonce[4] = k;
            sign_now(&author(u32::from(k) * 1_000 + i / 500), Body::Listing(l)).bytes().to_vec()
        })
        .collect()
}

/// Stores objects on a node directly, as if it had received them while the other was away.
fn store_on(node: &TestNode, objects: &[Vec<u8>]) -> Result<()> {
    let outcomes = node.node.store().ingest_batch(objects, Durability::Lazy)?;
    assert!(outcomes.iter().all(|o| o.is_new()));
    Ok(())
}

async fn active(node: &TestNode) -> usize {
    node.node.store().stats().map(|s| s.active_listings).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_was_away_catches_up_and_a_new_node_gets_everything() -> Result<()> {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let mut a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    let b = TestNode::start("B", dirs[1].path(), vec![a.addr()]).await?;
    b.wait_mesh(1).await?;
    // 3,800 listings published on A and B while C is away: more from A than one peer's gossip
    // burst, so C's re-gossip of what it fetched must not get it banned by A.
    store_on(&a, &listings(1, 3_000, "Chair"))?;
    store_on(&b, &listings(2, 800, "Table"))?;

    let mut c = TestNode::start("C", dirs[2].path(), vec![a.addr(), b.addr()]).await?;
    wait_until("C to hold all 3,800 listings", || async { active(&c).await == 3_800 }).await?;
    c.wait_for(
        "a completed sync",
        |e| matches!(e, NodeEvent::SyncCompleted { received, .. } if *received > 0),
    )
    .await?;
    // Searchable with no search asking: the node commits what the sync brought once it stops
    // coming (fewer than the 8,000 that make an ingest commit).
    wait_until("C's search index to take all 3,800 by itself", || async {
        c.node.store().indexed_listings() == 3_800
    })
    .await?;
    let found = c.get("/v1/search?q=chair&limit=1").await?;
    assert_eq!(found["total"], 3_000);
    let status = c.get("/v1/status").await?;
    assert!(status["network"]["syncs"].as_array().is_some_and(|s| !s.is_empty()), "{status}");

    // A brand-new node that knows only C gets the whole market from it.
    let d = TestNode::start("D", dirs[3].path(), vec![c.addr()]).await?;
    wait_until("D to hold all 3,800 listings", || async { active(&d).await == 3_800 }).await?;
    // Nobody was penalised for passing on what it had caught up on.
    let misbehaved = |node: &mut TestNode| {
        let mut seen = false;
        while let Ok(e) = node.events.try_recv() {
            seen |= matches!(e, NodeEvent::PeerMisbehaved { .. });
        }
        seen
    };
    assert!(!misbehaved(&mut a), "A penalised a peer");
    assert!(!misbehaved(&mut c), "C penalised a peer");

    for node in [a, b, c, d] {
        node.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_halves_of_a_partition_converge_tombstones_included() -> Result<()> {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let left = TestNode::start("left", dirs[0].path(), vec![]).await?;
    let right = TestNode::start("right", dirs[1].path(), vec![]).await?;
    // Each side publishes on its own; one listing both know is closed on the left only.
    let shared = listings(3, 1, "Lamp");
    store_on(&left, &shared)?;
    store_on(&right, &shared)?;
    store_on(&left, &listings(4, 150, "Bike"))?;
    store_on(&right, &listings(5, 120, "Kettle"))?;
    let mut closed = Listing {
        title: "Lamp 0".into(),
        revision: 2,
        status: ListingStatus::Closed,
        quantity: 0,
        ..live_listing("x")
    };
    closed.nonce[..4].copy_from_slice(&0u32.to_be_bytes());
    closed.nonce[4] = 3;
    let tomb = sign_now(&author(3_000), Body::Listing(closed));
    store_on(&left, &[tomb.bytes().to_vec()])?;

    // The partition heals.
    let right_addr = right.addr();
    let left = {
        left.stop().await;
        TestNode::start("left", dirs[0].path(), vec![right_addr]).await?
    };
    wait_until("both sides to converge", || async {
        let (l, r) = (left.node.store(), right.node.store());
        let now = haggle_protocol::Timestamp::now();
        match (l.sync_items(now), r.sync_items(now)) {
            (Ok(a), Ok(b)) => a == b && a.len() == 271,
            _ => false,
        }
    })
    .await?;
    assert_eq!(active(&right).await, 270, "the tombstone closed the shared listing on the right too");
    assert_eq!(right.get("/v1/search?q=lamp").await?["total"], 0);

    left.stop().await;
    right.stop().await;
    Ok(())
}

/// Attack: more valid listings than a home machine should hold. Over its budget a node evicts
/// others' listings, and later syncs do not bring them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_its_budget_a_node_evicts_and_sync_brings_them_back_only_when_it_is_raised() -> Result<()> {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    store_on(&a, &listings(7, 120, "Crate"))?;
    let config = haggle_node::NodeConfig {
        bootstrap: vec![a.addr()],
        max_listings: 50,
        ..haggle_node::NodeConfig::for_tests()
    };
    let mut b = TestNode::start_with("B", dirs[1].path(), config).await?;
    wait_until("B to hold A's 120 listings", || async { active(&b).await == 120 }).await?;
    // The store holds them a moment before the session that brought them ends and says so.
    wait_until("B's first sync to end", || async {
        b.node.handle.status().await.is_ok_and(|s| s.syncing == 0)
    })
    .await?;
    let (swept, _) = b.node.service.sweep()?;
    assert_eq!(swept.evicted, 120 - 48, "down to 95% of the budget (rounded up)");
    assert_eq!(active(&b).await, 48);
    // The next syncs (every 5 s here) find B lacking the evicted listings and do not fetch them.
    while b.events.try_recv().is_ok() {}
    for _ in 0..2 {
        let synced = b.wait_for("a sync with A", |e| matches!(e, NodeEvent::SyncCompleted { .. })).await?;
        assert!(matches!(synced, NodeEvent::SyncCompleted { received: 0, .. }), "{synced:?}");
    }
    assert_eq!(active(&b).await, 48);
    // From a trial: a budget raised later let none of them back. B restarted with room for
    // 100 (95 kept after eviction) takes 47 of the 72 back by sync, and no more.
    b.stop().await;
    let config = haggle_node::NodeConfig {
        bootstrap: vec![a.addr()],
        max_listings: 100,
        ..haggle_node::NodeConfig::for_tests()
    };
    let mut b = TestNode::start_with("B", dirs[1].path(), config).await?;
    wait_until("B to hold 95 of A's listings again", || async { active(&b).await == 95 }).await?;
    // As above: the session that brought them back says so a moment after the store holds them.
    wait_until("B's sync after the restart to end", || async {
        b.node.handle.status().await.is_ok_and(|s| s.syncing == 0)
    })
    .await?;
    // A later sync with A (every 5 s here) fetches no more.
    while b.events.try_recv().is_ok() {}
    let synced = b.wait_for("a later sync with A", |e| matches!(e, NodeEvent::SyncCompleted { .. })).await?;
    assert!(matches!(synced, NodeEvent::SyncCompleted { received: 0, .. }), "{synced:?}");
    assert_eq!(active(&b).await, 95, "the rest stay evicted");
    for node in [a, b] {
        node.stop().await;
    }
    Ok(())
}

/// The count of `series` (a metric's name and labels as the exposition writes them) on `node`.
fn metric(node: &TestNode, series: &str) -> u64 {
    let text = node.node.service.metrics().encode();
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0)
}

/// Defect: a new node catching up from several peers at once fetched every missing object from
/// each of them (four peers: four times the bytes). A session now leaves alone what another
/// session is fetching, and skips what was stored since it began.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_catching_up_from_three_peers_at_once_fetches_each_object_about_once() -> Result<()> {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let market = listings(3, 2_000, "Lamp");
    let mut holders = Vec::new();
    for (i, name) in ["A", "B", "C"].into_iter().enumerate() {
        let node = TestNode::start(name, dirs[i].path(), vec![]).await?;
        store_on(&node, &market)?;
        holders.push(node);
    }
    let d = TestNode::start("D", dirs[3].path(), holders.iter().map(TestNode::addr).collect()).await?;
    wait_until("D to hold all 2,000 listings", || async { active(&d).await == 2_000 }).await?;
    let accepted = metric(&d, r#"haggle_objects_received_total{kind="listing",via="sync",fate="accepted"}"#);
    let known = metric(&d, r#"haggle_objects_received_total{kind="listing",via="sync",fate="known"}"#);
    assert_eq!(accepted, 2_000);
    // Before, 2,000 to 4,000 came twice; a fetch that races another session's store may still.
    assert!(known <= 200, "{known} listings fetched again");
    for node in holders.into_iter().chain([d]) {
        node.stop().await;
    }
    Ok(())
}

/// From an operator's trial: a node that asks more proof of work than its peers' fetched and
/// refused all their listings again at every sync (1,699 listings, about 1 MB, twice every 30
/// s), with nothing said. What it refused for its work is not fetched again for an hour, and a
/// peer whose pushes it took none of does not push them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_refused_for_their_work_are_not_fetched_again_at_every_sync() -> Result<()> {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let mut a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    // The fixtures' listings carry no proof of work: A (the tests' base) takes them; B, asking
    // 16 bits, refuses each but about one in 65,536.
    store_on(&a, &listings(9, 100, "Stool"))?;
    let config = haggle_node::NodeConfig {
        bootstrap: vec![a.addr()],
        pow_bits: 16,
        ..haggle_node::NodeConfig::for_tests()
    };
    let mut b = TestNode::start_with("B", dirs[1].path(), config).await?;
    // Once each: B's own session fetches them, A's session pushes them (both sides sync).
    let ignored = r#"haggle_objects_received_total{kind="listing",via="sync",fate="ignored"}"#;
    wait_until("B to refuse A's listings twice, fetched and pushed", || async {
        metric(&b, ignored) >= 2 * (100 - active(&b).await as u64)
    })
    .await?;
    let lacking = 100 - active(&b).await as u64;
    assert!(lacking >= 98, "{lacking} refused for their work");
    let refused = metric(&b, ignored);
    // The next syncs of both (every 5 s here) find B lacking them and move none.
    while b.events.try_recv().is_ok() {}
    while a.events.try_recv().is_ok() {}
    for _ in 0..2 {
        let synced = b.wait_for("a sync with A", |e| matches!(e, NodeEvent::SyncCompleted { .. })).await?;
        assert!(matches!(synced, NodeEvent::SyncCompleted { received: 0, .. }), "{synced:?}");
        let synced = a.wait_for("a sync with B", |e| matches!(e, NodeEvent::SyncCompleted { .. })).await?;
        assert!(matches!(synced, NodeEvent::SyncCompleted { sent: 0, .. }), "{synced:?}");
    }
    assert_eq!(metric(&b, ignored), refused, "none fetched or pushed again");
    for node in [a, b] {
        node.stop().await;
    }
    Ok(())
}
