//! Reputation costs: taking in feedback (four signatures each: the feedback's and its deal
//! proof's three), building the trust graph from every feedback held, and one identity's
//! reputation once the graph is built (what each search hit and `haggle reputation` pay).
//!
//! `cargo bench -p haggle-storage --bench reputation`. `HAGGLE_BENCH_DEALS=N` sets the size of
//! the generated market for the graph build (default 100000 deals, two ratings each).

use std::time::Instant;

use criterion::{Criterion, Throughput};
use haggle_protocol::fixtures::{Rng, deal_proof, feedback, key};
use haggle_protocol::{ObjectId, PublicKey, Rating, SecretKey, Timestamp};
use haggle_storage::reputation::{Edge, TrustGraph};
use haggle_storage::{Durability, Store};

fn ident(n: usize) -> PublicKey {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(n as u64).to_be_bytes());
    PublicKey::from_bytes(b)
}

/// `deals` deals among `deals / 5` identities, each rated both ways (one in ten negative).
fn market(deals: usize) -> Vec<Edge> {
    let people = (deals / 5).max(10);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut edges = Vec::with_capacity(deals * 2);
    for n in 0..deals {
        let (a, b) = (ident(rng.below(people)), ident(rng.below(people)));
        let rating = if rng.below(10) == 0 { Rating::Negative } else { Rating::Positive };
        let mut deal = [0u8; 32];
        deal[..8].copy_from_slice(&(n as u64).to_be_bytes());
        for (author, subject, k) in [(a, b, 1u8), (b, a, 2u8)] {
            let mut id = deal;
            id[31] = k;
            edges.push(Edge {
                author,
                subject,
                deal: ObjectId::from_bytes(deal),
                rating,
                made_at: Timestamp::from_millis(1_700_000_000_000 + n as u64),
                rated_at: Timestamp::from_millis(1_700_000_000_000 + n as u64),
                feedback: ObjectId::from_bytes(id),
            });
        }
    }
    edges
}

fn main() {
    let deals: usize =
        std::env::var("HAGGLE_BENCH_DEALS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let mut c = Criterion::default().configure_from_args().sample_size(10);

    // Feedback ingest: decode, verify four signatures, store.
    let keys: Vec<SecretKey> = (1..=200u8).map(key).collect();
    let objects: Vec<Vec<u8>> = (0..2_000)
        .map(|i| {
            let (seller, buyer) = (&keys[i % 200], &keys[(i * 7 + 1) % 200]);
            let proof = deal_proof(seller, buyer, "Oak table");
            feedback(buyer, &proof, Rating::Positive, "Smooth").bytes().to_vec()
        })
        .collect();
    let mut group = c.benchmark_group("feedback_ingest");
    group.throughput(Throughput::Elements(objects.len() as u64));
    group.bench_function("2000", |b| {
        b.iter_with_setup(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = Store::open(dir.path()).expect("store");
                (dir, store)
            },
            |(_dir, store)| {
                for bytes in &objects {
                    let _ = store.ingest(bytes, Durability::Lazy).expect("ingest");
                }
            },
        );
    });
    group.finish();

    // The graph over the whole market, and one reputation read.
    let edges = market(deals);
    let me = ident(0);
    let mut group = c.benchmark_group("trust_graph");
    group.throughput(Throughput::Elements(edges.len() as u64));
    group.bench_function(format!("build_{deals}_deals"), |b| {
        b.iter(|| TrustGraph::build(&edges, &[me], &[], 2));
    });
    group.finish();
    let graph = TrustGraph::build(&edges, &[me], &[], 2);
    let subject = ident(1);
    c.bench_function("reputation_of_one", |b| b.iter(|| graph.reputation(&subject)));

    // One figure criterion does not print: the graph's reach.
    let started = Instant::now();
    let graph = TrustGraph::build(&edges, &[me], &[], 2);
    let reached = (0..(deals / 5).max(10)).filter(|n| graph.standing(&ident(*n)) > 0.0).count();
    println!(
        "graph of {} feedback edges built in {:.1} ms; {reached} identities with standing > 0",
        edges.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    c.final_summary();
}
