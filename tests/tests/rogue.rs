//! A rogue peer (a plain libp2p swarm) publishes forged, malformed, oversized and future-dated
//! objects to B, which sits between honest A and C. None is stored or forwarded, honest traffic
//! keeps flowing, and the rogue is penalised and cut off.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use haggle_node::NodeEvent;
use haggle_protocol::fixtures::{key, live_listing, sign_at};
use haggle_protocol::{Body, Listing, Timestamp};
use haggle_tests::{TestNode, draft, id_of, wait_until};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

enum RogueCommand {
    Publish(Vec<u8>, oneshot::Sender<Result<(), String>>),
    TopicPeers(oneshot::Sender<usize>),
}

/// Starts a bare gossipsub swarm that dials `target` and publishes whatever it is told.
fn spawn_rogue(
    target: Multiaddr,
) -> Result<(libp2p::PeerId, mpsc::Sender<RogueCommand>, tokio::task::JoinHandle<()>)> {
    let topic = IdentTopic::new(haggle_node::wire::LISTINGS_TOPIC);
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| {
            let config = gossipsub::ConfigBuilder::default()
                .validation_mode(ValidationMode::Anonymous)
                .message_id_fn(|m: &gossipsub::Message| {
                    MessageId::from(haggle_node::gossip_message_id(&m.data))
                })
                .max_transmit_size(256 * 1024)
                .heartbeat_interval(Duration::from_millis(200))
                .build()
                .map_err(|e| e.to_string())?;
            let behaviour: gossipsub::Behaviour =
                gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?;
            Ok(behaviour)
        })?
        .build();
    swarm.behaviour_mut().subscribe(&topic)?;
    swarm.dial(target)?;
    let id = *swarm.local_peer_id();
    let (tx, mut rx) = mpsc::channel::<RogueCommand>(16);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    Some(RogueCommand::Publish(bytes, reply)) => {
                        let result = swarm.behaviour_mut().publish(topic.clone(), bytes).map(|_| ()).map_err(|e| e.to_string());
                        let _ = reply.send(result);
                    }
                    Some(RogueCommand::TopicPeers(reply)) => {
                        let _ = reply.send(swarm.behaviour().all_peers().filter(|(_, t)| t.contains(&&topic.hash())).count());
                    }
                    None => break,
                },
                event = swarm.select_next_some() => {
                    if let SwarmEvent::ConnectionClosed { .. } = event {}
                }
            }
        }
    });
    Ok((id, tx, task))
}

async fn publish(rogue: &mpsc::Sender<RogueCommand>, bytes: Vec<u8>) -> Result<()> {
    let (reply, rx) = oneshot::channel();
    rogue.send(RogueCommand::Publish(bytes, reply)).await?;
    rx.await?.map_err(anyhow::Error::msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_from_a_rogue_is_never_stored_or_forwarded() -> Result<()> {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    let mut b = TestNode::start("B", dirs[1].path(), vec![a.addr()]).await?;
    let mut c = TestNode::start("C", dirs[2].path(), vec![b.addr()]).await?;
    b.wait_mesh(2).await?;
    c.wait_mesh(1).await?;

    let (rogue_id, rogue, rogue_task) = spawn_rogue(b.addr().parse()?)?;
    wait_until("the rogue to see B's subscription", || async {
        let (reply, rx) = oneshot::channel();
        rogue.send(RogueCommand::TopicPeers(reply)).await.is_ok() && rx.await.is_ok_and(|n| n >= 1)
    })
    .await?;

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
        let _ = publish(&rogue, bytes).await;
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
    // B scored the rogue down (unless it already dropped the connection).
    let peers = b.get("/v1/peers").await?;
    if let Some(entry) = peers["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["peer_id"] == rogue_id.to_string().as_str())
    {
        assert!(entry["rejected"].as_u64() >= Some(1), "{entry}");
        assert!(entry["score"].as_f64().is_some_and(|s| s < -50.0), "{entry}");
    }

    drop(rogue);
    let _ = rogue_task.await;
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

    let (rogue_id, rogue, rogue_task) = spawn_rogue(buyer.addr().parse()?)?;
    wait_until("the rogue to see the buyer's subscription", || async {
        let (reply, rx) = oneshot::channel();
        rogue.send(RogueCommand::TopicPeers(reply)).await.is_ok() && rx.await.is_ok_and(|n| n >= 1)
    })
    .await?;
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
    publish(&rogue, forged.bytes().to_vec()).await?;
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
    rogue_task.abort();
    buyer.stop().await;
    Ok(())
}
