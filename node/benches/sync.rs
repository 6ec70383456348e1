//! Catch-up sync figures: time and bytes for a node that missed 10,000 listings, and bytes moved
//! reconciling 100,000 common objects with 100 differences.
//!
//! `cargo bench -p haggle-node --bench sync` (`HAGGLE_BENCH_MISSED=2000` for a quick run;
//! `HAGGLE_BENCH_CACHE_MIB=16` sets both nodes' `cache_mib`).

use std::time::{Duration, Instant};

use haggle_node::sync::reconcile_in_memory;
use haggle_node::{NodeConfig, start};
use haggle_protocol::fixtures::{author, live_listing, sign_now};
use haggle_protocol::{Body, Listing, ObjectId, Timestamp};
use haggle_storage::{Durability, SyncItem};
use tokio_util::sync::CancellationToken;

/// The allocator the `haggle` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn listings(n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut l = Listing {
                title: format!("Listing number {i}"),
                description: "A thing in good condition, collect in person or I ship at cost.".into(),
                ..live_listing("x")
            };
            // Random-looking, as a node makes them.
            l.nonce = blake3::hash(&i.to_be_bytes()).as_bytes()[..16].try_into().expect("16 bytes");
            sign_now(&author(i / 500), Body::Listing(l)).bytes().to_vec()
        })
        .collect()
}

/// A test node's settings, with the page cache `HAGGLE_BENCH_CACHE_MIB` asks for, if any.
fn config() -> NodeConfig {
    let default = NodeConfig::for_tests();
    let cache_mib = std::env::var("HAGGLE_BENCH_CACHE_MIB")
        .ok()
        .map(|v| v.trim().parse().expect("HAGGLE_BENCH_CACHE_MIB is a number of MiB"))
        .unwrap_or(default.cache_mib);
    NodeConfig { cache_mib, ..default }
}

async fn catch_up(missed: u32) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let objects = listings(missed);
    let object_bytes: usize = objects.iter().map(Vec::len).sum();
    let (da, db) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let shutdown = CancellationToken::new();
    let a = start(da.path(), config(), shutdown.clone()).await.expect("start A");
    a.store().ingest_batch(&objects, Durability::Lazy).expect("store on A");
    let bootstrap = vec![a.dial_addr().expect("address").to_string()];

    let started = Instant::now();
    let b = start(db.path(), NodeConfig { bootstrap, ..config() }, shutdown.clone()).await.expect("start B");
    let deadline = Instant::now() + Duration::from_secs(300);
    // The set sync compares is every listing held: a cheap count (a full `stats()` scan every
    // few milliseconds would take a good share of a core from the node being measured).
    let held = || b.store().sync_set_len().unwrap_or(0);
    let mut tick = Instant::now();
    while held() < missed as usize {
        assert!(Instant::now() < deadline, "B did not catch up within 300 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
        if std::env::var_os("HAGGLE_BENCH_PROGRESS").is_some() && tick.elapsed() >= Duration::from_secs(1) {
            tick = Instant::now();
            eprintln!("{:.1?}: {} held", started.elapsed(), held());
        }
    }
    let took = started.elapsed();
    let mut status = b.handle.status().await.expect("status");
    while status.syncs.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = b.handle.status().await.expect("status");
    }
    let reconcile: u64 = status.syncs.iter().map(|s| s.reconcile_bytes).sum();
    println!(
        "catch-up of {missed} missed listings: complete {took:.2?} after start (start-up, connection, sync)"
    );
    println!(
        "  reconciliation {reconcile} bytes, objects {:.1} MiB ({} bytes a listing on average)",
        object_bytes as f64 / 1_048_576.0,
        object_bytes / missed as usize
    );
    shutdown.cancel();
    a.wait().await;
    b.wait().await;
}

fn item(n: u64) -> SyncItem {
    (
        Timestamp::from_millis(1_700_000_000_000 + n * 997),
        ObjectId::from_bytes(*blake3::hash(&n.to_le_bytes()).as_bytes()),
    )
}

fn reconcile_bytes() {
    for (common, diff) in [(10_000u64, 100u64), (100_000, 100), (100_000, 1_000)] {
        let mut a: Vec<SyncItem> = (0..common).map(item).collect();
        let mut b = a.clone();
        a.extend((0..diff / 2).map(|i| item(10_000_000 + i)));
        b.extend((0..diff / 2).map(|i| item(20_000_000 + i)));
        a.sort();
        b.sort();
        let t = Instant::now();
        let r = reconcile_in_memory(&a, &b).expect("reconciles");
        let ids_only = (common + diff) * 40;
        println!(
            "reconcile {common} common + {diff} differing: {} bytes in {} rounds ({:.2}% of sending every (time, id) pair), {:.1?}",
            r.bytes,
            r.rounds,
            r.bytes as f64 * 100.0 / ids_only as f64,
            t.elapsed()
        );
    }
}

fn main() {
    let missed: u32 =
        std::env::var("HAGGLE_BENCH_MISSED").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    reconcile_bytes();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(catch_up(missed));
}
