//! Attacks by one hostile peer on a real node: bans that hold, a per-IP cap on inbound
//! connections, and per-peer budgets on negotiation messages and gossip. Each test plays the
//! attacker with a bare libp2p swarm ([`Rogue`]) and shows the attack failing while honest
//! traffic still gets through.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use haggle_node::wire::NegotiateResponse;
use haggle_node::{NodeConfig, NodeEvent};
use haggle_protocol::Body;
use haggle_protocol::fixtures::{key, live_listing, live_terms, offer, sign_now};
use haggle_tests::rogue::{Connections, Rogue};
use haggle_tests::{TestNode, draft, id_of, wait_until};
use tokio::sync::broadcast::error::TryRecvError;

/// Waits until the rogue has a connection, or has seen `after` + 1 connections end.
async fn settled(rogue: &Rogue, after: u64) -> Result<Connections> {
    wait_until("the rogue's dial to settle", || async {
        rogue.connections().await.is_ok_and(|c| c.connected || c.ended > after)
    })
    .await?;
    rogue.connections().await
}

/// Attack: a peer banned for garbage reconnects at once and carries on over another protocol.
/// Its third invalid message bans it; its reconnection is refused at the door, so no protocol
/// (gossip, sync, negotiation) serves it until the ban ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_banned_peer_is_refused_on_every_protocol_and_on_reconnect() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut b = TestNode::start("B", dir.path(), vec![]).await?;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    settled(&rogue, 0).await?;
    let target = b.node.peer_id;

    // Garbage over the negotiation protocol: the sender's fault each time.
    for n in 1..=3u32 {
        let answer = rogue.negotiate(target, format!("garbage {n}").into_bytes()).await?;
        if n < 3 {
            assert!(
                matches!(&answer, Ok(NegotiateResponse::Rejected { retry: false, .. })),
                "garbage is refused for good: {answer:?}"
            );
        }
    }
    let rogue_id = rogue.id;
    b.wait_for(
        "the ban",
        |e| matches!(e, NodeEvent::PeerMisbehaved { peer, rejected: 3 } if *peer == rogue_id),
    )
    .await?;
    wait_until("B to cut the rogue off", || async { rogue.connections().await.is_ok_and(|c| !c.connected) })
        .await?;

    // It comes straight back: turned away. The dialler finishes its side of the handshake
    // before B's guard sees the connection, so the rogue may count it as opened for a moment;
    // what counts is that the connection ends, and B never admits the peer.
    while !matches!(b.events.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
    let before = rogue.connections().await?;
    rogue.dial(b.addr().parse()?).await?;
    wait_until("B to turn the rogue away", || async {
        rogue.connections().await.is_ok_and(|c| c.ended > before.ended && !c.connected)
    })
    .await?;
    loop {
        let event = match b.events.try_recv() {
            Ok(event) => event,
            Err(TryRecvError::Lagged(_)) => bail!("B's events lagged; the check would be blind"),
            Err(_) => break,
        };
        assert!(
            !matches!(event, NodeEvent::PeerConnected { peer } if peer == rogue_id),
            "a banned peer must not be admitted"
        );
    }
    let answer = rogue.negotiate(target, b"garbage 4".to_vec()).await?;
    assert!(answer.is_err(), "no protocol serves a banned peer: {answer:?}");
    let peers = b.get("/v1/peers").await?;
    assert!(!peers.to_string().contains(&rogue_id.to_string()), "{peers}");
    b.stop().await;
    Ok(())
}

/// Attack: a bootstrap peer turns hostile. The node dialled it, so its address is in the
/// address book; the ban takes it out, so a restart does not dial it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_banned_peer_leaves_the_address_book() -> Result<()> {
    let (rogue, address) = Rogue::spawn_listening().await?;
    let dir = tempfile::tempdir()?;
    let mut b = TestNode::start("B", dir.path(), vec![address.to_string()]).await?;
    let rogue_id = rogue.id;
    let in_book = |b: &TestNode| {
        b.node.store().known_peers().is_ok_and(|k| k.iter().any(|k| k.peer == rogue_id.to_bytes()))
    };
    wait_until("B to note the bootstrap peer it dialled", || async { in_book(&b) }).await?;
    settled(&rogue, 0).await?;

    for n in 1..=3u32 {
        rogue.negotiate(b.node.peer_id, format!("garbage {n}").into_bytes()).await?.ok();
    }
    b.wait_for(
        "the ban",
        |e| matches!(e, NodeEvent::PeerMisbehaved { peer, rejected: 3 } if *peer == rogue_id),
    )
    .await?;
    wait_until("B to forget the banned peer's address", || async { !in_book(&b) }).await?;
    b.stop().await;
    Ok(())
}

/// Attack: one address opens connection after connection to take every inbound slot. The
/// per-IP cap (here 2) holds, and a slot is given back when a connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_gets_at_most_its_share_of_inbound_connections() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let b = TestNode::start_with(
        "B",
        dir.path(),
        NodeConfig { max_inbound_per_ip: 2, ..NodeConfig::for_tests() },
    )
    .await?;
    let addr: libp2p::Multiaddr = b.addr().parse()?;
    let mut rogues = Vec::new();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let rogue = Rogue::spawn(addr.clone())?;
        outcomes.push(settled(&rogue, 0).await?.connected);
        rogues.push(rogue);
    }
    assert_eq!(outcomes, vec![true, true, false], "the third connection from one IP is refused");
    // The dialler counts itself connected a moment before B has handled the connection.
    wait_until("B to hold the two connections", || async {
        b.node.handle.status().await.is_ok_and(|s| s.connected_peers == 2)
    })
    .await?;

    // One leaves; its slot is free again.
    rogues.remove(0);
    wait_until("B to see the rogue go", || async {
        b.node.handle.status().await.is_ok_and(|s| s.connected_peers == 1)
    })
    .await?;
    let newcomer = Rogue::spawn(addr)?;
    assert!(settled(&newcomer, 0).await?.connected, "a freed slot is given to the next");
    b.stop().await;
    Ok(())
}

/// Attack: a flood of well-formed offers to a seller, to fill its threads and make honest
/// offers wait behind "busy". The flooder is held to its budget (rate limited, not stored)
/// while an honest buyer's offer is delivered in the middle of the flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn honest_offers_get_through_a_negotiation_flood() -> Result<()> {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let seller = TestNode::start("seller", dirs[0].path(), vec![]).await?;
    let mut buyer = TestNode::start("buyer", dirs[1].path(), vec![seller.addr()]).await?;
    let listing = seller.post("/v1/listings", draft("Road bike", "300")).await?;
    let listing_id = id_of(&listing);
    buyer.wait_listing(&listing_id).await?;
    let listing_object = seller
        .node
        .store()
        .get(&listing_id.parse().context("an id")?)?
        .context("the seller holds its listing")?;

    let rogue = Rogue::spawn(seller.addr().parse()?)?;
    settled(&rogue, 0).await?;
    // 240 offers from 240 keys, all valid, eight at a time (the streams one connection may have
    // open at once: more are dropped unread).
    let offers: Vec<Vec<u8>> = (0..240u16)
        .map(|i| {
            let k = key(u8::try_from(i % 240).unwrap_or(0).wrapping_add(10));
            sign_now(&k, offer(&listing_object, live_terms(1, 100 + u64::from(i)))).bytes().to_vec()
        })
        .collect();
    let started = Instant::now();
    let flood = {
        let target = seller.node.peer_id;
        let rogue = &rogue;
        futures::stream::iter(offers.into_iter().map(move |o| rogue.negotiate(target, o)))
            .buffer_unordered(8)
            .collect::<Vec<_>>()
    };
    let honest = async {
        let sent = buyer
            .post(&format!("/v1/listings/{listing_id}/offers"), serde_json::json!({"price": "250"}))
            .await?;
        let thread = id_of(&sent);
        wait_until("the honest offer to be delivered", || async {
            buyer.get(&format!("/v1/threads/{thread}")).await.is_ok_and(|t| t["delivery"] == "delivered")
        })
        .await?;
        anyhow::Ok(thread)
    };
    let (answers, thread) = tokio::join!(flood, honest);
    let thread = thread?;
    let elapsed = started.elapsed().as_secs_f64();
    let stored = answers.iter().filter(|a| matches!(a, Ok(Ok(NegotiateResponse::Stored)))).count();
    let limited = answers
        .iter()
        .filter(|a| matches!(a, Ok(Ok(NegotiateResponse::Rejected { reason, retry: true })) if reason.contains("rate limited")))
        .count();
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for a in &answers {
        *kinds.entry(format!("{a:?}").chars().take(90).collect()).or_default() += 1;
    }
    eprintln!("flood: {stored} stored, {limited} limited in {elapsed:.2} s: {kinds:?}");
    assert!(limited > 0, "the flood met the budget: {stored} stored, {limited} limited: {kinds:#?}");
    // The budget: a burst of 60 and one a second after it.
    let budget = 60.0 + elapsed.ceil() + 1.0;
    assert!((stored as f64) <= budget, "{stored} stored in {elapsed:.1} s, over the budget of {budget}");
    // The honest offer is in the seller's store.
    assert!(seller.get(&format!("/v1/threads/{thread}")).await.is_ok());
    buyer.stop().await;
    seller.stop().await;
    Ok(())
}

/// Attack: one peer gossips thousands of valid listings as fast as it can. Its gossip is held to
/// its budget (a burst of 2,000 and 100 a second): the rest is neither verified, stored nor
/// forwarded (and not penalised: an honest relay can burst too). Honest listings still spread.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gossip_flood_is_held_to_the_peers_budget() -> Result<()> {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    let b = TestNode::start("B", dirs[1].path(), vec![a.addr()]).await?;
    let mut c = TestNode::start("C", dirs[2].path(), vec![b.addr()]).await?;
    b.wait_mesh(2).await?;
    c.wait_mesh(1).await?;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    rogue.wait_subscribed().await?;

    let started = Instant::now();
    let mut published = 0u32;
    for i in 0..3_200u32 {
        let k = key(u8::try_from(i % 200).unwrap_or(0).wrapping_add(20));
        let listing = live_listing(&format!("Flood item {i}"));
        let object = sign_now(&k, Body::Listing(haggle_protocol::Listing { nonce: nonce(i), ..listing }));
        if rogue.publish(object.bytes().to_vec()).await.is_ok() {
            published += 1;
        }
    }
    // Wait until B has taken in all it will: its store has not grown for a second.
    let mut last = (usize::MAX, Instant::now());
    wait_until("B to take in what it will of the flood", || {
        let now = b.node.store().stats().map(|s| s.active_listings).unwrap_or(0);
        if now != last.0 {
            last = (now, Instant::now());
        }
        let settled = last.1.elapsed() >= std::time::Duration::from_secs(1);
        async move { settled }
    })
    .await?;
    // The budget refills while B works through what it received, so it counts until B was done
    // (and what B stored is read at that moment).
    let elapsed = started.elapsed().as_secs_f64();
    let stored = b.node.store().stats()?.active_listings as f64;
    // Not banned: an honest relay can burst too.
    let peers = b.get("/v1/peers").await?;
    assert!(peers.to_string().contains(&rogue.id.to_string()), "the flooder is still connected: {peers}");
    // What was turned away shows beside it (a hostile trial's victim saw nothing of a flood
    // under the offence line).
    let throttled = peers["peers"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["peer_id"] == rogue.id.to_string()))
        .and_then(|p| p["throttled"].as_u64())
        .unwrap_or(0);

    // Honest traffic from A reaches C through B, flood or not.
    let honest = a.post("/v1/listings", draft("Honest bicycle", "90")).await?;
    c.wait_listing(&id_of(&honest)).await?;

    eprintln!("gossip flood: {stored} of {published} stored in {elapsed:.2} s");
    let budget = 2_000.0 + 100.0 * elapsed.ceil() + 1.0;
    assert!(
        stored <= budget,
        "{stored} of {published} stored in {elapsed:.1} s, over the budget of {budget}"
    );
    assert!(stored < f64::from(published), "{stored} of {published}");
    assert!(throttled > 0, "the listings turned away are counted against the flooder: {peers}");
    drop(rogue);
    for node in [a, b, c] {
        node.stop().await;
    }
    Ok(())
}

/// Attack: one key floods the market with listings that repeat the words people search, to push
/// everyone else's off the first page. A third party's search still shows an honest seller's
/// listing among the first four (after the flooder's best three), though all 30 of the
/// flooder's match the word better.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_keys_listing_flood_leaves_room_for_others_on_the_first_page() -> Result<()> {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let mut a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    let b = TestNode::start("B", dirs[1].path(), vec![a.addr()]).await?;
    a.wait_mesh(1).await?;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    rogue.wait_subscribed().await?;
    let flooder = key(77);
    for i in 0..30u32 {
        let listing = live_listing(&format!("Road bike {i} bike bike"));
        let object =
            sign_now(&flooder, Body::Listing(haggle_protocol::Listing { nonce: nonce(i), ..listing }));
        rogue.publish(object.bytes().to_vec()).await?;
    }
    let honest = b.post("/v1/listings", draft("Commuter", "90")).await?;
    a.wait_listing(&id_of(&honest)).await?;
    wait_until("A to hold the flood", || async {
        a.node.store().stats().is_ok_and(|s| s.active_listings >= 31)
    })
    .await?;

    let found = a.get("/v1/search?q=bike&limit=5").await?;
    let titles: Vec<&str> = found["hits"]
        .as_array()
        .map(|hits| hits.iter().filter_map(|h| h["title"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(found["total"], 31, "{found}");
    assert_eq!(titles.get(3), Some(&"Commuter"), "{titles:?}");
    assert!(titles[..3].iter().all(|t| t.starts_with("Road bike")), "{titles:?}");
    drop(rogue);
    for node in [a, b] {
        node.stop().await;
    }
    Ok(())
}

fn nonce(i: u32) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..4].copy_from_slice(&i.to_le_bytes());
    n[4] = 0xF1;
    n
}

/// Attack: the seller signs an Accept dated before the buyer's Withdraw, so that it would win
/// the crossing everywhere. The buyer's node, which had withdrawn, never confirms it: no deal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backdated_accept_does_not_revive_a_withdrawn_offer() -> Result<()> {
    use haggle_protocol::fixtures::{accept, sign_at};

    let dir = tempfile::tempdir()?;
    let buyer = TestNode::start("buyer", dir.path(), vec![]).await?;
    let seller = key(5);
    let listing = sign_now(&seller, Body::Listing(live_listing("Desk lamp")));
    let _ = buyer.node.store().ingest(listing.bytes(), haggle_storage::Durability::Flush)?;
    let offer = buyer
        .post(&format!("/v1/listings/{}/offers", listing.id().to_hex()), serde_json::json!({"price": "5"}))
        .await?;
    let thread = offer["thread"].as_str().context("a thread")?.to_owned();
    let withdrawn = buyer.post(&format!("/v1/threads/{thread}/withdraw"), serde_json::json!({})).await?;
    assert_eq!(withdrawn["state"], "withdrawn");

    let offer_object = buyer.node.store().get(&thread.parse()?)?.context("the offer")?;
    let backdated = sign_at(&seller, accept(&offer_object, &offer_object), offer_object.created_at());
    let rogue = Rogue::spawn(buyer.addr().parse()?)?;
    settled(&rogue, 0).await?;
    let answer = rogue.negotiate(buyer.node.peer_id, backdated.bytes().to_vec()).await?;
    assert!(matches!(answer, Ok(NegotiateResponse::Stored)), "a valid message is kept: {answer:?}");

    let shown = buyer.get(&format!("/v1/threads/{thread}")).await?;
    assert_eq!(shown["state"], "withdrawn", "{shown}");
    assert_eq!(buyer.get("/v1/deals").await?["deals"].as_array().map(Vec::len), Some(0));
    let record = buyer.node.store().thread(&thread.parse()?)?.context("the thread")?;
    assert!(
        record.messages.iter().all(|m| m.kind() != haggle_protocol::ObjectKind::Confirm),
        "the buyer's node confirms nothing it withdrew"
    );
    buyer.stop().await;
    Ok(())
}

/// Attack: objects made for free, on a network that asks for work. B refuses the rogue's
/// listing before checking its signature (not stored, not forwarded) while listings its peers
/// paid for cross it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_without_the_networks_work_are_neither_stored_nor_forwarded() -> Result<()> {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let config = |bootstrap: Vec<String>| NodeConfig { bootstrap, pow_bits: 12, ..NodeConfig::for_tests() };
    let a = TestNode::start_with("A", dirs[0].path(), config(vec![])).await?;
    let mut b = TestNode::start_with("B", dirs[1].path(), config(vec![a.addr()])).await?;
    let mut c = TestNode::start_with("C", dirs[2].path(), config(vec![b.addr()])).await?;
    b.wait_mesh(2).await?;
    c.wait_mesh(1).await?;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    rogue.wait_subscribed().await?;

    let free = sign_now(&key(9), Body::Listing(live_listing("Free lunch")));
    assert!(!free.has_work(12));
    rogue.publish(free.bytes().to_vec()).await?;
    let paid = a.post("/v1/listings", draft("Paid bicycle", "90")).await?;
    // B took in and passed on what was paid for; by then it had long seen the free one.
    b.wait_listing(&id_of(&paid)).await?;
    c.wait_listing(&id_of(&paid)).await?;
    for node in [&a, &b, &c] {
        assert!(!node.node.store().contains(&free.id())?, "{} stored an object without work", node.name);
    }
    let stored = b.node.store().get(&id_of(&paid).parse()?)?.context("held")?;
    assert!(stored.has_work(12));
    drop(rogue);
    for node in [a, b, c] {
        node.stop().await;
    }
    Ok(())
}

/// Attack: a peer answers the node's sync requests with the wrong kind of response (a push's
/// "stored" for a reconciliation round), which would leave the session waiting for ever and
/// hold one of the few sync slots. The session ends at once and the peer is penalised.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_answer_of_the_wrong_kind_ends_the_session_and_costs_the_peer() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut b = TestNode::start("B", dir.path(), vec![]).await?;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    rogue.answer_sync_with(haggle_node::sync::SyncResponse::Stored { new: 0 }).await?;
    settled(&rogue, 0).await?;
    let rogue_id = rogue.id;
    b.wait_for(
        "the penalty for a wrong answer",
        |e| matches!(e, NodeEvent::PeerMisbehaved { peer, .. } if *peer == rogue_id),
    )
    .await?;
    wait_until("the session to end", || async {
        b.get("/v1/status").await.is_ok_and(|s| s["network"]["syncing"] == 0)
    })
    .await?;
    b.stop().await;
    Ok(())
}

/// Attack: a responder answering every reconciliation round with "you hold everything I lack,
/// and the rest differs", which names the node's whole set each round and never agrees. Each
/// round used to add the whole set to the ids to push (gigabytes at a large store, in
/// seconds); the session now keeps each id once, at most 4,096, and ends at its round limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_responder_that_never_agrees_ends_its_session_and_the_node_serves_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let b = TestNode::start("B", dir.path(), vec![]).await?;
    for n in 0..20 {
        b.post("/v1/listings", draft(&format!("Lamp {n}"), "10")).await?;
    }
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    let answer = haggle_tests::rogue::endless_reconcile_answer();
    rogue.answer_sync_with(haggle_node::sync::SyncResponse::Reconcile { message: answer }).await?;
    settled(&rogue, 0).await?;
    wait_until("a session with the rogue to start", || async {
        b.get("/v1/status").await.is_ok_and(|s| s["network"]["syncs_started"].as_u64() >= Some(1))
    })
    .await?;
    wait_until("the session to end", || async {
        b.get("/v1/status").await.is_ok_and(|s| s["network"]["syncing"] == 0)
    })
    .await?;
    // Still serving: a search answers, and a new listing is taken.
    let found = b.get("/v1/search?q=lamp").await?;
    assert_eq!(found["total"], 20, "{found}");
    b.post("/v1/listings", draft("Lamp 21", "10")).await?;
    b.stop().await;
    Ok(())
}

/// Attack: a fetch naming one large object 256 times, to be sent 256 copies of it for a few
/// kilobytes asked (and to hold them in memory while they are written). It is answered with
/// the object once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fetch_naming_one_object_many_times_gets_it_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let b = TestNode::start("B", dir.path(), vec![]).await?;
    let listing = b.post("/v1/listings", draft("Oak wardrobe", "120")).await?;
    let id: haggle_protocol::ObjectId = id_of(&listing).parse()?;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    settled(&rogue, 0).await?;
    let ids = vec![*id.as_bytes(); haggle_node::sync::FETCH_BATCH];
    let answer = rogue
        .sync(b.node.peer_id, haggle_node::sync::SyncRequest::Fetch { ids })
        .await?
        .map_err(anyhow::Error::msg)?;
    match answer {
        haggle_node::sync::SyncResponse::Objects { objects } => assert_eq!(objects.len(), 1),
        other => panic!("expected the object: {other:?}"),
    }
    b.stop().await;
    Ok(())
}

/// Attack: a peer asks for large sync answers and reads none of them. Each answer leaves the
/// serving count once handed to libp2p, and waited in the send buffers for a minute: one peer
/// held up to 12 of 16 MiB per connection. Answers not yet written are counted; past 16 MiB for
/// one peer its new requests are refused busy, other peers are served meanwhile, and the count
/// goes down when the answers are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_that_reads_no_answers_is_refused_busy_and_others_are_served() -> Result<()> {
    use haggle_node::sync::{SyncRequest, SyncResponse};
    let dir = tempfile::tempdir()?;
    let b = TestNode::start("B", dir.path(), vec![]).await?;
    // 256 listings of about 8.4 KB: a fetch of all of them is answered with about 2.2 MB.
    let seller = haggle_protocol::fixtures::author(1);
    let mut ids = Vec::new();
    for n in 0..haggle_node::sync::FETCH_BATCH as u32 {
        let mut nonce = [0; 16];
        nonce[..4].copy_from_slice(&n.to_le_bytes());
        let listing = haggle_protocol::Listing {
            nonce,
            description: "Solid oak, hand finished. ".repeat(300),
            ..live_listing(&format!("Crate {n}"))
        };
        let object = sign_now(&seller, Body::Listing(listing));
        let _ = b.node.store().ingest(object.bytes(), haggle_storage::Durability::Lazy)?;
        ids.push(*object.id().as_bytes());
    }
    let everything = SyncRequest::Fetch { ids: ids.clone() };
    let one = SyncRequest::Fetch { ids: ids[..1].to_vec() };
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    settled(&rogue, 0).await?;
    let b_id = b.node.peer_id;
    // Eight unread answers are over the 16 MiB one peer may have waiting; nine, to be sure.
    rogue.ask_unread(b_id, haggle_node::sync::SYNC_PROTOCOL_V2, &everything, 9).await?;
    wait_until("B to refuse the rogue as busy", || async {
        matches!(answer(&rogue, b_id, &one).await, Some(SyncResponse::Refused { reason }) if reason == "busy")
    })
    .await?;
    // Another peer is served.
    let other = Rogue::spawn(b.addr().parse()?)?;
    settled(&other, 0).await?;
    match answer(&other, b_id, &everything).await {
        Some(SyncResponse::Objects { objects }) => assert_eq!(objects.len(), ids.len()),
        got => panic!("another peer is served: {got:?}"),
    }
    // Once the rogue's connection closes, B's writes fail, the answers leave the count, and the
    // rogue, back, is served again.
    rogue.reconnect(b_id, b.addr().parse()?).await?;
    wait_until("B to serve the rogue again", || async {
        matches!(answer(&rogue, b_id, &one).await, Some(SyncResponse::Objects { objects }) if objects.len() == 1)
    })
    .await?;
    b.stop().await;
    Ok(())
}

/// The rogue's answer to a sync request, if one came.
async fn answer(
    rogue: &Rogue,
    peer: libp2p::PeerId,
    request: &haggle_node::sync::SyncRequest,
) -> Option<haggle_node::sync::SyncResponse> {
    rogue.sync(peer, request.clone()).await.ok().and_then(Result::ok)
}
