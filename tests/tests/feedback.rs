//! Feedback between real nodes: a rating reaches nodes that never saw the deal (by gossip, and
//! by sync for a node that joins later), and forged ratings (by someone not a party, of a
//! "deal" the other party never confirmed) are refused everywhere and cost their sender, while
//! a second rating of one deal by the same author is dropped without blaming the forwarder.

use anyhow::{Context, Result};
use haggle_node::NodeEvent;
use haggle_protocol::fixtures::{deal_proof, feedback, key, sign_now};
use haggle_protocol::negotiation::{Confirm, Reply};
use haggle_protocol::{Body, Envelope, Feedback, Object, Rating, Timestamp};
use haggle_tests::rogue::Rogue;
use haggle_tests::{TestNode, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feedback_travels_and_forged_feedback_is_refused_everywhere() -> Result<()> {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let a = TestNode::start("A", dirs[0].path(), vec![]).await?;
    let mut b = TestNode::start("B", dirs[1].path(), vec![a.addr()]).await?;
    let mut c = TestNode::start("C", dirs[2].path(), vec![b.addr()]).await?;
    b.wait_mesh(2).await?;
    c.wait_mesh(1).await?;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    let rogue_id = rogue.id;
    rogue.wait_subscribed().await?;

    // A real deal between two keys none of the nodes belongs to, rated by its buyer.
    let (seller, buyer) = (key(1), key(2));
    let proof = deal_proof(&seller, &buyer, "Oak table");
    let mut two = [
        feedback(&buyer, &proof, Rating::Positive, "As described"),
        feedback(&buyer, &proof, Rating::Negative, "Changed my mind"),
    ];
    two.sort_by_key(|f| f.id());
    let [kept, second] = two;
    let kept_rating = match kept.body() {
        Body::Feedback(f) => f.rating.name(),
        _ => unreachable!("a feedback"),
    };
    rogue.publish(kept.bytes().to_vec()).await?;
    let kept_id = kept.id();
    c.wait_for(
        "C to store the rating",
        |e| matches!(e, NodeEvent::FeedbackStored { id, .. } if *id == kept_id),
    )
    .await?;

    // C holds the rating, not the deal (its messages go to its two parties alone): asked to
    // show the deal, by its id or a prefix, C says so and names the rating instead.
    let deal = proof[1].id();
    for path in [format!("/v1/objects/{}", deal.to_hex()), format!("/v1/deals/{}", &deal.to_hex()[..10])] {
        let said = format!("{:#}", c.get(&path).await.expect_err("C holds no deal"));
        assert!(said.contains("only their ratings of it reached this node"), "{path}: {said}");
        assert!(said.contains(&format!("haggle show {}", kept_id.fmt_short())), "{path}: {said}");
    }

    // The same author rating the same deal again: dropped, and not the forwarder's fault (it
    // may not have had the first). A marker rating sent after it shows it was processed.
    rogue.publish(second.bytes().to_vec()).await?;
    let other = deal_proof(&key(3), &key(4), "Lamp");
    let marker = feedback(&key(3), &other, Rating::Neutral, "");
    rogue.publish(marker.bytes().to_vec()).await?;
    let marker_id = marker.id();
    c.wait_for(
        "C to store the marker",
        |e| matches!(e, NodeEvent::FeedbackStored { id, .. } if *id == marker_id),
    )
    .await?;
    for node in [&a, &b, &c] {
        assert!(!node.node.store().contains(&second.id())?, "{} kept a second rating", node.name);
        let r = node.get(&format!("/v1/reputation/{}", seller.public())).await?;
        assert_eq!(r["raw"][kept_rating], 1.0, "{}: the smaller id is kept: {r}", node.name);
        assert_eq!(r["feedback"].as_array().map(Vec::len), Some(1), "{}: {r}", node.name);
        assert_eq!(r["trusted"], false, "{}: strangers' ratings are not trusted: {r}", node.name);
    }
    let peers = b.get("/v1/peers").await?;
    let entry = peers["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["peer_id"] == rogue_id.to_string().as_str())
        .with_context(|| format!("the rogue is connected: {peers}"))?;
    assert_eq!(entry["rejected"], 0, "a second rating is not the forwarder's fault: {entry}");

    // Forgeries: a stranger rating someone else's deal, and a "deal" whose confirm the other
    // party never signed.
    let stranger = key(9);
    let forge = |by: &haggle_protocol::SecretKey, f: Feedback| {
        Envelope::new(by.public(), Body::Feedback(f)).sign_unvalidated(by)
    };
    let not_a_party =
        forge(&stranger, Feedback::new(&proof[0], &proof[1], &proof[2], Rating::Negative, "Scam".into()));
    let (victim, forger) = (key(5), key(6));
    let real = deal_proof(&victim, &forger, "Bike");
    // The forger's offer and the victim's accept, but a confirm signed by a third key: the
    // other party never confirmed, so there is no deal to rate.
    let fake_confirm = sign_now(
        &key(7),
        Body::Confirm(Confirm {
            reply: Reply { thread: real[0].id(), prev: real[1].id(), to: victim.public() },
        }),
    );
    let no_such_deal = forge(
        &forger,
        Feedback::new(&real[0], &real[1], &fake_confirm, Rating::Negative, "Never paid".into()),
    );
    let forged_ids: Vec<_> = [&not_a_party, &no_such_deal]
        .iter()
        .map(|bytes| Object::decode_unverified(bytes).map(|o| o.id()))
        .collect::<Result<_, _>>()?;
    for forged in [&not_a_party, &no_such_deal] {
        let refused = Object::decode_verify(forged, Timestamp::now()).expect_err("a forgery");
        let why = refused.to_string();
        assert!(why.contains("party") || why.contains("confirm"), "{why}");
        // Publishing may fail once B has cut the rogue off; that is the point.
        let _ = rogue.publish(forged.clone()).await;
    }
    b.wait_for(
        "the forger to be penalised",
        |e| matches!(e, NodeEvent::PeerMisbehaved { peer, .. } if *peer == rogue_id),
    )
    .await?;
    for node in [&a, &b, &c] {
        for forged in &forged_ids {
            assert!(!node.node.store().contains(forged)?, "{} stored a forgery", node.name);
        }
        let r = node.get(&format!("/v1/reputation/{}", victim.public())).await?;
        assert_eq!(r["raw"]["negative"], 0.0, "{}: {r}", node.name);
    }
    drop(rogue);

    // A node that joins later gets the ratings by sync.
    let d = TestNode::start("D", dirs[3].path(), vec![b.addr()]).await?;
    wait_until("D to sync both ratings", || async {
        let store = d.node.store();
        store.contains(&kept_id).unwrap_or(false) && store.contains(&marker_id).unwrap_or(false)
    })
    .await?;
    let r = d.get(&format!("/v1/reputation/{}", seller.public())).await?;
    assert_eq!(r["raw"][kept_rating], 1.0, "{r}");
    assert_eq!(r["deals"], 1, "{r}");
    for node in [a, b, c, d] {
        node.stop().await;
    }
    Ok(())
}
