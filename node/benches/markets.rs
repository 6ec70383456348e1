//! The market tick's cost for a shop: `Service::settle_markets` runs every second on every node;
//! with 1,000 listings of the owner's (10 of them auctions still running), how long does one
//! tick take when nothing has ended?
//!
//! `cargo bench -p haggle-node --bench markets` (`HAGGLE_BENCH_LISTINGS=N` for another count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use haggle_node::api::types::{AuctionDraft, ListingDraft};
use haggle_node::{Policy, Service};
use haggle_protocol::ListingKind;

/// The allocator the `haggle` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn draft(i: usize) -> ListingDraft {
    let auction = i.is_multiple_of(100);
    ListingDraft {
        kind: if auction { ListingKind::Auction } else { ListingKind::Sell },
        title: format!("lamp number {i}"),
        description: "A brass desk lamp, rewired, with a green glass shade. Collection only.".repeat(3),
        category: "home/lighting".into(),
        price: Some(format!("{}", 20 + i % 300)),
        currency: "EUR".parse().ok(),
        location: Some("Ghent".into()),
        auction: auction.then_some(AuctionDraft {
            ends_in: 3_600,
            reserve: None,
            increment: None,
            window: None,
        }),
        ..ListingDraft::default()
    }
}

fn main() {
    let n: usize = std::env::var("HAGGLE_BENCH_LISTINGS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = haggle_storage::Store::open(&dir.path().join("store")).expect("store");
    let blobs = haggle_storage::blobs::Blobs::open(&dir.path().join("blobs")).expect("blobs");
    let key = haggle_protocol::fixtures::key(1);
    let service = Service::new(Arc::new(store), Arc::new(key), Policy::default(), Arc::new(blobs));
    for i in 0..n {
        service.publish(draft(i)).expect("publish");
    }
    assert!(service.settle_markets().expect("settle").is_empty(), "nothing has ended");
    let mut times: Vec<Duration> = (0..300)
        .map(|_| {
            let t = Instant::now();
            let then = service.settle_markets().expect("settle");
            let took = t.elapsed();
            assert!(then.is_empty(), "nothing has ended");
            took
        })
        .collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "market tick, {n} listings of the owner's ({} auctions running), nothing ended: p50 {:.2?}, p99 {:.2?}, mean {:.2?} \
         ({:.2}% of a core at one tick a second)",
        n.div_ceil(100),
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        mean,
        mean.as_secs_f64() * 100.0
    );
}
