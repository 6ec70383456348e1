//! `GET /metrics`: Prometheus counters a real node keeps, behind the API's token.

use anyhow::Result;
use haggle_tests::{TestNode, draft, id_of};

/// The metrics text, with or without the token: (status, body).
fn scrape(base: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request.call().expect("the node answers");
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listing_from_gossip_and_a_search_show_in_the_metrics() -> Result<()> {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    // No periodic sync: the one session counted is the one B's connection started.
    let (a, mut b) = TestNode::pair_without_periodic_sync(da.path(), db.path()).await?;
    a.wait_mesh(1).await?;
    b.wait_mesh(1).await?;
    let id = id_of(&a.post("/v1/listings", draft("Oak desk", "80")).await?);
    b.wait_listing(&id).await?;
    assert_eq!(b.get("/v1/search?q=desk").await?["total"], 1);

    let base = format!("http://{}", b.node.api_addr);
    let token = b.node.cookie()?;
    let (denied, (status, text)) =
        tokio::task::spawn_blocking(move || (scrape(&base, None), scrape(&base, Some(&token)))).await?;
    assert_eq!(denied.0, 401, "metrics are behind the token");
    assert_eq!(status, 200);
    for line in [
        "haggle_objects_received_total{kind=\"listing\",via=\"gossip\",fate=\"accepted\"} 1",
        "haggle_peers 1",
        "haggle_mesh_peers 1",
        // B dialled A, its bootstrap peer, and synced with it on connecting.
        "haggle_sync_sessions_started_total 1",
        "haggle_listings 1",
        "haggle_sync_set 1",
        "haggle_search_seconds_count 1",
        "haggle_outbox_pending 0",
        // Both listen on loopback alone: public at once, relaying (auto), no reservation.
        "haggle_reachability{state=\"public\"} 1",
        "haggle_reachability{state=\"private\"} 0",
        "haggle_relay_reservations 0",
        "haggle_relaying 1",
        "haggle_deliveries_total{path=\"direct\"} 0",
        "haggle_hole_punches_total{result=\"failed\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
    assert!(text.contains("haggle_ingest_seconds_bucket{le="), "{text}");
    assert!(text.contains("haggle_object_bytes_received_total{via=\"gossip\"}"), "{text}");
    // The index's size is exported beside the database's (its files are never empty: tantivy's
    // meta file and the version file are there from the start).
    let index_bytes = text.lines().find_map(|l| l.strip_prefix("haggle_store_index_bytes "));
    assert!(index_bytes.and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n > 0), "{text}");
    a.stop().await;
    b.stop().await;
    Ok(())
}
