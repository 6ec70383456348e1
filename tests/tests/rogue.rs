//! A rogue peer (a plain libp2p swarm) publishes forged, malformed, oversized and future-dated
//! objects to B, which sits between honest A and C. None is stored or forwarded, honest traffic
//! keeps flowing, and the rogue is penalised and cut off.

use std::time::Duration;

use anyhow::{Context, Result};
use haggle_node::NodeEvent;
use haggle_protocol::fixtures::{key, live_listing, sign_at};
use haggle_protocol::{Body, Listing, Timestamp};
use haggle_tests::rogue::Rogue;
use haggle_tests::{TestNode, draft, id_of, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_from_a_rogue_is_never_stored_or_forwarded() -> Result<()> {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    let mut b = TestNode::start("B", dirs[1].path(), vec![a.addr()]).await?;
    let mut c = TestNode::start("C", dirs[2].path(), vec![b.addr()]).await?;
    b.wait_mesh(2).await?;
    c.wait_mesh(1).await?;

    let rogue = Rogue::spawn(b.addr().parse()?)?;
    let rogue_id = rogue.id;
    rogue.wait_subscribed().await?;

    // A forged listing: signed, then its title changed.
    let genuine = sign_at(&key(7), Body::Listing(live_listing("Genuine bike")), Timestamp::now());
    let mut forged = genuine.bytes().to_vec();
    let pos = forged.windows(7).position(|w| w == b"Genuine").context("title in bytes")?;
    forged[pos] = b'X';
    // Dated an hour ahead, correctly signed.
    let future = Timestamp::now().saturating_add(Duration::from_secs(3_600));
    let future_listing = Listing {
        nonce: [9; 16],
        expires_at: future.saturating_add(Duration::from_secs(86_400)),
        ..live_listing("Time traveller")
    };
    let future_dated = sign_at(&key(7), Body::Listing(future_listing), future);
    // Garbage, and an oversized blob.
    let garbage = vec![0xAB; 500];
    let oversized = vec![0x01; 100 * 1024];

    for bytes in [forged.clone(), future_dated.bytes().to_vec(), garbage, oversized] {
        // Publishing may fail once B has cut the rogue off; that is the point.
        let _ = rogue.publish(bytes).await;
    }
    // The first invalid object takes the rogue below gossipsub's graylist threshold, after which
    // B drops its traffic unread; so one rejection is all that is sure to be counted.
    let rogue_peer = rogue_id;
    b.wait_for(
        "the rogue to be penalised",
        |e| matches!(e, NodeEvent::PeerMisbehaved { peer, .. } if *peer == rogue_peer),
    )
    .await?;

    // Honest traffic still flows from A through B to C.
    let honest = a.post("/v1/listings", draft("Honest bicycle", "90")).await?;
    c.wait_listing(&id_of(&honest)).await?;

    // Nothing of the rogue's reached any store.
    for node in [&a, &b, &c] {
        let found = node.get("/v1/search?q=time%20traveller").await?;
        assert_eq!(found["total"], 0, "{}: {found}", node.name);
        let found = node.get("/v1/search?q=genuine").await?;
        assert_eq!(found["total"], 0, "{}: {found}", node.name);
        assert_eq!(node.get(&format!("/v1/objects/{}", future_dated.id())).await.ok(), None);
    }
    // B scored the rogue down. Only the forgery and the garbage are its fault (the future-dated
    // listing is ignored, the oversized blob never passes gossipsub's size check), so it is below
    // the ban threshold of three and still connected: its entry must be there.
    let peers = b.get("/v1/peers").await?;
    let entry = peers["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["peer_id"] == rogue_id.to_string().as_str())
        .with_context(|| format!("two offences are not a ban: the rogue is still connected: {peers}"))?;
    let rejected = entry["rejected"].as_u64().context("a count")?;
    // (Not gossipsub's score of it, which halves its invalid-message count every second and may
    // read near 0 again by now: the node's count is what lasts.)
    assert!((1..=2).contains(&rejected), "{entry}");

    drop(rogue);
    for node in [a, b, c] {
        node.stop().await;
    }
    Ok(())
}

/// Attack: a receipt signed by anyone marked the sender's message delivered and stopped its
/// sealed copy from being carried: any peer could silently kill any offline message. A forged
/// receipt now changes nothing and costs its sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_receipt_changes_nothing_and_costs_its_sender() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut buyer = TestNode::start("buyer", dir.path(), vec![]).await?;
    // The seller's listing reached the buyer earlier; the seller is away.
    let seller = key(5);
    let listing = sign_at(&seller, Body::Listing(live_listing("Desk lamp")), Timestamp::now());
    let _ = buyer.node.store().ingest(listing.bytes(), haggle_storage::Durability::Flush)?;
    let offer = buyer
        .post(&format!("/v1/listings/{}/offers", listing.id().to_hex()), serde_json::json!({"price": "5"}))
        .await?;
    let offer_id = id_of(&offer);
    // The outbox seals the offer for delivery through the network.
    wait_until("the sealed copy", || async {
        buyer.node.store().mail_for(&seller.public()).is_ok_and(|m| !m.is_empty())
    })
    .await?;
    let mailbox = buyer.node.store().mail_for(&seller.public())?.remove(0);

    let rogue = Rogue::spawn(buyer.addr().parse()?)?;
    let rogue_id = rogue.id;
    rogue.wait_subscribed().await?;
    let now = Timestamp::now();
    let forged = sign_at(
        &key(9),
        Body::Receipt(haggle_protocol::Receipt {
            mailbox: mailbox.id(),
            to: buyer.node.service.me(),
            expires_at: now.saturating_add(Duration::from_secs(3_600)),
        }),
        now,
    );
    rogue.publish(forged.bytes().to_vec()).await?;
    buyer
        .wait_for(
            "the forger to be penalised",
            |e| matches!(e, NodeEvent::PeerMisbehaved { peer, .. } if *peer == rogue_id),
        )
        .await?;
    let thread = buyer.get(&format!("/v1/threads/{offer_id}")).await?;
    assert_ne!(thread["delivery"], "delivered", "{thread}");
    assert!(!buyer.node.store().has_receipt(&mailbox.id())?);
    assert!(buyer.node.store().mail_for(&seller.public())?.iter().any(|m| m.id() == mailbox.id()));
    drop(rogue);
    buyer.stop().await;
    Ok(())
}

/// Attack: identify pushes with new addresses each time. Kademlia keeps every address it is
/// given, so a peer pushing in a loop grew its routing-table entry (and the work of each
/// addition) without end, and the node handed the whole list to everyone who asked the DHT for
/// that peer. The entry now holds what the peer claims now, at most eight addresses, and others
/// asking the node's DHT get exactly that.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_pushing_new_addresses_keeps_one_bounded_dht_entry() -> Result<()> {
    use haggle_node::api::types::Reachability;
    use haggle_tests::dht::DhtPeer;
    use libp2p::Multiaddr;
    use std::collections::HashSet;

    let dir = tempfile::tempdir()?;
    let mut node = TestNode::start("N", dir.path(), vec![]).await?;
    // A node answers DHT queries once it counts itself public (at once on 127.0.0.1).
    node.wait_for("reachability public", |e| {
        matches!(e, NodeEvent::ReachabilityChanged { reachability: Reachability::Public })
    })
    .await?;
    let node_addr: Multiaddr = node.addr().parse()?;
    let node_id = node.node.peer_id;
    let (pusher, pusher_addr) = DhtPeer::spawn().await?;
    let (asker, _) = DhtPeer::spawn().await?;
    pusher.dial(node_addr.clone()).await?;
    asker.dial(node_addr.clone()).await?;
    // Connected to the pusher already, the asker's query reaches it without dialling the
    // addresses the node names (a failed dial would strike them from the query's answer).
    asker.dial(pusher_addr).await?;

    let claim = |round: u16, n: u16| -> Vec<Multiaddr> {
        use libp2p::multiaddr::Protocol;
        let at = |port| {
            Multiaddr::empty().with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST)).with(Protocol::Tcp(port))
        };
        (0..n).map(|i| at(40_000 + round * 32 + i)).collect()
    };
    for round in 0..6 {
        let claimed = claim(round, 8);
        pusher.claim(claimed.clone()).await?;
        let want: HashSet<Multiaddr> = claimed.into_iter().collect();
        answer_until(&asker, (node_id, &node_addr), pusher.id, |got| *got == want).await?;
    }
    // Twenty at once (as many as a swarm keeps): eight of them, none of the round before.
    let claimed: HashSet<Multiaddr> = claim(6, 20).into_iter().collect();
    pusher.claim(claimed.iter().cloned().collect()).await?;
    let got = answer_until(&asker, (node_id, &node_addr), pusher.id, |got| {
        !got.is_empty() && got.is_subset(&claimed)
    })
    .await?;
    assert_eq!(got.len(), 8, "{got:?}");
    assert!(pusher.connected(node_id).await?, "claiming addresses is no offence");

    drop((pusher, asker));
    node.stop().await;
    Ok(())
}

/// What `node` (at its address) answers `asker` for `target`'s addresses, once it answers what
/// `want` accepts (bounded by [`haggle_tests::STEP`]).
async fn answer_until(
    asker: &haggle_tests::dht::DhtPeer,
    (node, at): (libp2p::PeerId, &libp2p::Multiaddr),
    target: libp2p::PeerId,
    want: impl Fn(&std::collections::HashSet<libp2p::Multiaddr>) -> bool,
) -> Result<std::collections::HashSet<libp2p::Multiaddr>> {
    let deadline = tokio::time::Instant::now() + haggle_tests::STEP;
    loop {
        let got = asker.lookup(node, at.clone(), target).await?.into_iter().collect();
        if want(&got) {
            return Ok(got);
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the node's DHT still answers {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Attack on `/haggle/party/1`: a peer asking with more ids than the protocol allows is refused
/// and penalised; asking past its budget is refused; and a peer that answers the node's own
/// asking with objects not between the two (a public listing, garbage) has none of them stored
/// and is penalised.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn party_requests_over_the_limits_and_answers_not_between_the_two_cost_their_sender() -> Result<()> {
    use haggle_node::party::{MAX_HELD, PartyRequest, PartyResponse};
    let dir = tempfile::tempdir()?;
    let mut node = TestNode::start("node", dir.path(), vec![]).await?;
    let peer = node.node.service.me().peer_id();
    let rogue = Rogue::spawn(node.addr().parse()?)?;
    let rogue_id = rogue.id;
    rogue.wait_subscribed().await?;
    let penalised = |e: &NodeEvent| matches!(e, NodeEvent::PeerMisbehaved { peer, .. } if *peer == rogue_id);

    let over = rogue.party(peer, PartyRequest { held: vec![[7; 32]; MAX_HELD + 1] }).await?;
    assert!(
        matches!(&over, Ok(PartyResponse::Refused { reason }) if reason.contains("more ids than the protocol allows")),
        "{over:?}"
    );
    node.wait_for("the rogue penalised for too many ids", penalised).await?;
    let fine = rogue.party(peer, PartyRequest { held: Vec::new() }).await?;
    assert!(
        matches!(&fine, Ok(PartyResponse::Objects { objects, more: false }) if objects.is_empty()),
        "{fine:?}"
    );
    let mut limited = 0;
    for _ in 0..20 {
        if let Ok(PartyResponse::Refused { reason }) =
            rogue.party(peer, PartyRequest { held: Vec::new() }).await?
            && reason.contains("rate limited")
        {
            limited += 1;
        }
    }
    assert!(limited >= 4, "a burst of 16 requests, then refusals: {limited} refused of 20");

    // The node asks on each new connection; the rogue answers with what is not between them.
    let listing = sign_at(&key(5), Body::Listing(live_listing("Desk lamp")), Timestamp::now());
    rogue
        .answer_party_with(PartyResponse::Objects {
            objects: vec![listing.bytes().to_vec(), vec![1, 2, 3]],
            more: false,
        })
        .await?;
    // A new connection, once the node has seen the old one go (a connection opened beside the
    // old one is not a new session).
    rogue.disconnect(peer).await?;
    node.wait_for(
        "the node to see the rogue go",
        |e| matches!(e, NodeEvent::PeerDisconnected { peer } if *peer == rogue_id),
    )
    .await?;
    rogue.dial(node.addr().parse()?).await?;
    node.wait_for("the rogue penalised for objects not between the two", penalised).await?;
    assert!(node.node.store().get(&listing.id())?.is_none(), "nothing it sent was stored");
    drop(rogue);
    node.stop().await;
    Ok(())
}
