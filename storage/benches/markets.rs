//! Costs of the timed markets: taking in a full auction's bids (2,000, each the smallest that
//! counts; each checked against the view of every bid held, so the later ones cost more) and a
//! full campaign's pledges (2,000 backers), and building
//! the auction or campaign view that every listing view, bid event and settle tick pays.
//!
//! `cargo bench -p haggle-storage --bench markets`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use haggle_protocol::auction::{BIDS_AT_INCREMENT, RAISE_DOUBLES_EVERY};
use haggle_protocol::crowdfund::MAX_BACKERS;
use haggle_protocol::fixtures::{DAY, auction, author, bid, campaign, key, pledge, sign_at};
use haggle_protocol::{AuctionView, Body, CampaignView, Object, Timestamp, Verified};
use haggle_storage::{Durability, MAX_BIDS_PER_AUCTION, Store};

fn objects(n: usize, make: impl Fn(usize) -> Verified<Object>) -> Vec<Verified<Object>> {
    (0..n).map(make).collect()
}

/// Ingests `offers` into a fresh store holding `listing`; returns how long the last tenth took,
/// per object, and the total.
fn fill(listing: &Verified<Object>, offers: &[Verified<Object>]) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    assert!(store.ingest(listing.bytes(), Durability::Lazy).expect("ingest").is_new());
    let started = Instant::now();
    let tail = offers.len() - offers.len() / 10;
    let mut tail_started = started;
    for (i, o) in offers.iter().enumerate() {
        if i == tail {
            tail_started = Instant::now();
        }
        let out = store.ingest(o.bytes(), Durability::Lazy).expect("ingest");
        assert!(out.is_new(), "offer {i}: {out:?}");
    }
    let per_tail = tail_started.elapsed() / (offers.len() - tail) as u32;
    (per_tail, started.elapsed())
}

fn main() {
    let mut c = Criterion::default().configure_from_args().sample_size(10);
    let t = Timestamp::now().saturating_sub(Duration::from_secs(60));
    let lamp = sign_at(&key(1), Body::Listing(auction("Lamp", 1_000, 100, t.saturating_add(DAY), 300)), t);
    // Each bid the smallest that counts: the raise doubles every 50 bids past 200.
    let mut amount = 1_000u64;
    let amounts: Vec<u64> = (0..MAX_BIDS_PER_AUCTION)
        .map(|i| {
            if i > 0 {
                let doublings = i.saturating_sub(BIDS_AT_INCREMENT) / RAISE_DOUBLES_EVERY;
                amount += 100u64 << doublings;
            }
            amount
        })
        .collect();
    let bids = objects(MAX_BIDS_PER_AUCTION, |i| {
        let at = t.saturating_add(Duration::from_millis(i as u64));
        sign_at(&author(i as u32), bid(&lamp, amounts[i]), at)
    });
    let oven = sign_at(&key(1), Body::Listing(campaign("Oven", 1_000_000, t.saturating_add(DAY))), t);
    let pledges = objects(MAX_BACKERS, |i| {
        sign_at(
            &author(i as u32),
            pledge(&oven, 1_000 + i as u64),
            t.saturating_add(Duration::from_millis(i as u64)),
        )
    });

    let mut group = c.benchmark_group("market_ingest");
    group.throughput(Throughput::Elements(bids.len() as u64));
    group.bench_function(format!("auction_{}_bids", bids.len()), |b| b.iter(|| fill(&lamp, &bids)));
    group.throughput(Throughput::Elements(pledges.len() as u64));
    group.bench_function(format!("campaign_{}_pledges", pledges.len()), |b| b.iter(|| fill(&oven, &pledges)));
    group.finish();

    let mut group = c.benchmark_group("market_view");
    group.bench_function(format!("auction_{}_bids", bids.len()), |b| {
        b.iter(|| AuctionView::new(&lamp, bids.iter().map(|b| &**b)))
    });
    group.bench_function(format!("campaign_{}_pledges", pledges.len()), |b| {
        b.iter(|| CampaignView::new(&oven, pledges.iter().map(|p| &**p)))
    });
    group.finish();

    // What criterion does not print: the cost of the last bids and pledges, which are checked
    // against the fullest views.
    let (tail, total) = fill(&lamp, &bids);
    println!(
        "auction: {} bids in {:.0} ms; the last tenth {:.2} ms each",
        bids.len(),
        total.as_secs_f64() * 1e3,
        tail.as_secs_f64() * 1e3
    );
    let (tail, total) = fill(&oven, &pledges);
    println!(
        "campaign: {} pledges in {:.0} ms; the last tenth {:.2} ms each",
        pledges.len(),
        total.as_secs_f64() * 1e3,
        tail.as_secs_f64() * 1e3
    );
    c.final_summary();
}
