//! Ingest rate (decode + verify + store + index) and search latency at 10k and 100k listings.
//!
//! `cargo bench -p haggle-storage --bench store` runs the criterion groups, then prints search
//! latency percentiles (criterion reports means, and our targets are p50 and p99).
//! `HAGGLE_BENCH_SIZES=10000` limits the sizes (comma-separated).
//! `HAGGLE_BENCH_CACHE_MIB=16` opens every store with that page cache (a node's `cache_mib`)
//! instead of the default.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use haggle_protocol::fixtures::{DAY, Rng, author, live_listing, sign_now};
use haggle_protocol::{Body, Currency, Listing, ListingKind, Location, Price};
use haggle_storage::{Durability, Outcome, SearchQuery, Sort, Store};

/// The allocator the `haggle` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOUNS: &[&str] = &[
    "bike",
    "bicycle",
    "sofa",
    "table",
    "chair",
    "lamp",
    "laptop",
    "phone",
    "camera",
    "guitar",
    "piano",
    "drill",
    "mower",
    "tent",
    "kayak",
    "jacket",
    "boots",
    "stroller",
    "crib",
    "desk",
    "monitor",
    "keyboard",
    "printer",
    "speaker",
    "headphones",
    "watch",
    "ring",
    "painting",
    "mirror",
    "rug",
    "fridge",
    "oven",
    "kettle",
    "blender",
];
const ADJECTIVES: &[&str] = &[
    "vintage", "new", "used", "wooden", "steel", "electric", "red", "blue", "black", "small", "large",
    "folding", "portable", "antique", "modern", "handmade", "leather", "cotton", "digital", "classic",
];
const CATEGORIES: &[&str] = &[
    "vehicles/bikes",
    "home/furniture",
    "home/lighting",
    "electronics/computers",
    "electronics/phones",
    "music/instruments",
    "tools/power",
    "tools/garden",
    "outdoor/camping",
    "clothing/men",
    "clothing/women",
    "kids/baby",
    "art/paintings",
    "home/kitchen",
];
const CITIES: &[(&str, f64, f64)] = &[
    ("Ghent", 51.054, 3.717),
    ("Antwerp", 51.219, 4.402),
    ("Brussels", 50.850, 4.352),
    ("Lyon", 45.764, 4.836),
    ("Berlin", 52.520, 13.405),
    ("Porto", 41.158, -8.629),
    ("Leeds", 53.801, -1.549),
    ("Utrecht", 52.091, 5.122),
];

/// A listing's place: its city's name, and for four listings in five a geohash somewhere within
/// about 20 km of it (as a seller's coordinates are published: six characters).
fn place(rng: &mut Rng) -> Location {
    let (name, lat, lon) = CITIES[(rng.next_u64() % CITIES.len() as u64) as usize];
    let mut jitter = |span: f64| (rng.next_u64() % 10_000) as f64 / 10_000.0 * span - span / 2.0;
    let (dlat, dlon) = (jitter(0.36), jitter(0.56));
    let placed = !rng.next_u64().is_multiple_of(5);
    let geohash = placed.then(|| haggle_protocol::geo::Point { lat: lat + dlat, lon: lon + dlon }.geohash(6));
    Location { text: name.to_owned(), geohash }
}

fn market(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    // 500 listings per seller (a node keeps at most 1,000 per author).
    let sellers: Vec<_> = (0..n.div_ceil(500).max(50) as u32).map(author).collect();
    (0..n)
        .map(|i| {
            let title = format!("{} {} {}", rng.pick(ADJECTIVES), rng.pick(ADJECTIVES), rng.pick(NOUNS));
            // One listing in 20,000 misspells a common word: a search for it is answered with
            // the word the others write (`did_you_mean`).
            let title = if i % 20_000 == 7 { format!("{title}, gutiar case") } else { title };
            let description = (0..30)
                .map(|_| {
                    let words = if rng.next_u64().is_multiple_of(3) { NOUNS } else { ADJECTIVES };
                    rng.pick(words)
                })
                .collect::<Vec<_>>()
                .join(" ");
            let mut l = Listing {
                title,
                description,
                category: rng.pick(CATEGORIES).to_owned(),
                tags: vec![rng.pick(ADJECTIVES).to_owned(), rng.pick(NOUNS).to_owned()],
                kind: if i.is_multiple_of(10) { ListingKind::Wanted } else { ListingKind::Sell },
                price: Some(Price::new(
                    100 + rng.next_u64() % 200_000,
                    Currency::new(if i.is_multiple_of(4) { "USD" } else { "EUR" }).expect("code"),
                )),
                location: place(&mut rng),
                ..live_listing("x")
            };
            // Random, as a node makes them (sequential nonces would put each seller's new
            // listings at the end of its key range, which costs sled several times the disk).
            l.nonce[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
            l.nonce[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
            let seller = &sellers[i % sellers.len()];
            sign_now(seller, Body::Listing(l)).bytes().to_vec()
        })
        .collect()
}

/// New revisions (a renewal: ten more days) of `count` of `market(n, seed)`'s listings, spread over the
/// market, signed by their sellers.
fn revisions(market: &[Vec<u8>], count: usize) -> Vec<Vec<u8>> {
    let sellers = market.len().div_ceil(500).max(50);
    let step = (market.len() / count).max(1);
    (0..market.len())
        .step_by(step)
        .take(count)
        .map(|i| {
            let old = haggle_protocol::Object::decode_unverified(&market[i]).expect("decode");
            let Body::Listing(mut l) = old.body().clone() else { unreachable!("a listing") };
            l.revision += 1;
            l.expires_at = l.expires_at.saturating_add(10 * DAY);
            sign_now(&author((i % sellers) as u32), Body::Listing(l)).bytes().to_vec()
        })
        .collect()
}

/// A store in `dir`, with the page cache `HAGGLE_BENCH_CACHE_MIB` asks for, if any.
fn open(dir: &std::path::Path) -> Store {
    let cache_mib = std::env::var("HAGGLE_BENCH_CACHE_MIB")
        .ok()
        .map(|v| v.trim().parse::<u64>().expect("HAGGLE_BENCH_CACHE_MIB is a number of MiB"))
        .unwrap_or(haggle_storage::DEFAULT_CACHE_MIB);
    Store::open_with_cache(dir, cache_mib).expect("open")
}

fn sizes() -> Vec<usize> {
    std::env::var("HAGGLE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000])
}

/// Within `within_m` of central Ghent.
fn ghent(within_m: u32) -> Option<haggle_storage::Around> {
    Some(haggle_storage::Around { from: haggle_protocol::geo::Point { lat: 51.054, lon: 3.717 }, within_m })
}

fn queries() -> Vec<(&'static str, SearchQuery)> {
    let eur = || Currency::new("EUR").ok();
    vec![
        ("one word", SearchQuery::new("guitar")),
        ("three words", SearchQuery::new("vintage leather jacket")),
        ("typo", SearchQuery::new("bicylce")),
        // A word a few listings use, beside one thousands use: searched as written, and the
        // other word offered.
        ("rare word", SearchQuery::new("gutiar")),
        // As many keys blocked as a node keeps: ten of them sellers here (5,000 listings at 100k).
        (
            "one word, 10 blocked",
            SearchQuery {
                hide_sellers: (0..10).map(|n| author(n).public()).collect(),
                ..SearchQuery::new("guitar")
            },
        ),
        (
            "one word, 1,014 blocked, none selling",
            SearchQuery {
                hide_sellers: (100_000..101_014).map(|n| author(n).public()).collect(),
                ..SearchQuery::new("guitar")
            },
        ),
        (
            "one word, 1,024 blocked",
            SearchQuery {
                hide_sellers: (0..10).chain(100_000..101_014).map(|n| author(n).public()).collect(),
                ..SearchQuery::new("guitar")
            },
        ),
        (
            "filters only",
            SearchQuery {
                category: Some("home".into()),
                kind: Some(ListingKind::Sell),
                ..SearchQuery::new("")
            },
        ),
        (
            "text+price+sort",
            SearchQuery {
                min_price: Some(1_000),
                max_price: Some(50_000),
                currency: eur(),
                sort: Sort::PriceAsc,
                ..SearchQuery::new("lamp")
            },
        ),
        // A word within 25 km of Ghent (about a tenth of the market lies that near).
        ("one word, within 25 km", SearchQuery { around: ghent(25_000), ..SearchQuery::new("guitar") }),
        // Nothing but the distance, nearest first: every listing's point is measured.
        (
            "within 10 km, nearest first",
            SearchQuery { around: ghent(10_000), sort: Sort::Distance, ..SearchQuery::new("") },
        ),
        (
            "text, within 50 km, nearest first",
            SearchQuery { around: ghent(50_000), sort: Sort::Distance, ..SearchQuery::new("lamp") },
        ),
    ]
}

/// Runs `ingest` on `iters` fresh stores and returns the time spent in it plus the index
/// catch-up that makes the listings searchable.
fn timed_on_fresh_stores(iters: u64, ingest: impl Fn(&Store)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let start = Instant::now();
        ingest(&store);
        store.catch_up_index().expect("index");
        total += start.elapsed();
    }
    total
}

fn bench_ingest(c: &mut Criterion) {
    let batch = market(10_000, 1);
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("batch_10k_lazy", |b| {
        b.iter_custom(|iters| {
            timed_on_fresh_stores(iters, |store| {
                for chunk in batch.chunks(1_000) {
                    store.ingest_batch(chunk, Durability::Lazy).expect("ingest");
                }
            })
        })
    });
    g.bench_function("single_10k_lazy", |b| {
        b.iter_custom(|iters| {
            timed_on_fresh_stores(iters, |store| {
                for bytes in &batch {
                    let _ = store.ingest(bytes, Durability::Lazy).expect("ingest");
                }
            })
        })
    });
    g.finish();
}

/// The machine's limit beside our figures: sled inserting the two records a new listing writes
/// (an object of 400 bytes under its id, a head of 58 under its nonce-first listing key), with
/// nothing else going on; one sled batch per listing, and 256 listings to a batch (as
/// `ingest_batch` writes them). Until 2026-12-02 it wrote four records (a 700-byte object and
/// three small index entries), as a listing then cost.
fn bench_sled_raw(c: &mut Criterion) {
    let mut g = c.benchmark_group("machine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000));
    for per_batch in [1u64, 256] {
        g.bench_function(format!("sled_raw_10k_listings_2_keys_{per_batch}_per_batch"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let db =
                        sled::Config::new().path(dir.path()).cache_capacity(64 << 20).open().expect("open");
                    let start = Instant::now();
                    let mut batch = sled::Batch::default();
                    for i in 0..10_000u64 {
                        let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes();
                        let id = [k, k, k, k].concat();
                        batch.insert([&b"o"[..], &id].concat(), vec![7u8; 400]);
                        batch.insert([&b"H"[..], &id, &k, &k].concat(), vec![1u8; 58]);
                        if (i + 1) % per_batch == 0 {
                            db.apply_batch(std::mem::take(&mut batch)).expect("write");
                        }
                    }
                    db.apply_batch(batch).expect("write");
                    db.flush().expect("flush");
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

/// A store of `n` listings of the generated market; the time their ingest took, and their mean
/// size in bytes.
fn filled_store(n: usize) -> (tempfile::TempDir, Store, Duration, usize) {
    let objects = market(n, 7);
    let mean = objects.iter().map(Vec::len).sum::<usize>() / n.max(1);
    let (dir, store, took) = fill(&objects);
    (dir, store, took, mean)
}

/// A fresh store given `objects` in batches of 5,000, as sync delivers them, and the time it took.
fn fill(objects: &[Vec<u8>]) -> (tempfile::TempDir, Store, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let start = Instant::now();
    for chunk in objects.chunks(5_000) {
        store.ingest_batch(chunk, Durability::Lazy).expect("ingest");
    }
    store.flush().expect("flush");
    (dir, store, start.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn bench_search_and_report(c: &mut Criterion) {
    for n in sizes() {
        let (dir, store, ingest_time, mean) = filled_store(n);
        let mut g = c.benchmark_group(format!("search_{n}"));
        for (name, q) in queries() {
            g.bench_function(name, |b| b.iter(|| store.search(&q).expect("search")));
        }
        g.finish();

        println!(
            "\n== {n} listings: ingest {:.0}/s ({ingest_time:.2?} in batches of 5,000)",
            n as f64 / ingest_time.as_secs_f64()
        );
        // The ceiling sled's write path sets: the same number of listings' two records, nothing
        // else (no decoding, verification, checks or index).
        let (sled_time, _, _) = sled_alone(n as u64, mean, "nonce first");
        println!(
            "sled alone, the two records of {n} listings ({mean}-byte objects): {:.0}/s ({sled_time:.2?})",
            n as f64 / sled_time.as_secs_f64()
        );
        if n >= 10_000 {
            let offered = store.search(&SearchQuery::new("gutiar")).expect("search").did_you_mean;
            assert_eq!(offered.map(|d| d.text), Some("guitar".to_owned()), "the rare word is answered");
        }
        println!("{:<18} {:>9} {:>9} {:>9} {:>8}", "query", "p50", "p99", "max", "matches");
        for (name, q) in queries() {
            let total = store.search(&q).expect("search").total;
            let mut times: Vec<Duration> = (0..500)
                .map(|_| {
                    let t = Instant::now();
                    let _ = store.search(&q).expect("search");
                    t.elapsed()
                })
                .collect();
            times.sort();
            println!(
                "{name:<18} {:>9.2?} {:>9.2?} {:>9.2?} {total:>8}",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times[times.len() - 1]
            );
        }
        // Revisions: each replaces its listing's document in the index (found by seller and
        // nonce), 500 to a batch as sync brings them, until searchable.
        let revised = revisions(&market(n, 7), 5_000);
        let totals = |store: &Store| -> Vec<usize> {
            queries().iter().map(|(_, q)| store.search(q).expect("search").total).collect()
        };
        let before = totals(&store);
        let t = Instant::now();
        for chunk in revised.chunks(500) {
            let outcomes = store.ingest_batch(chunk, Durability::Lazy).expect("revisions");
            let new = outcomes.iter().filter(|o| matches!(o, Outcome::New { .. })).count();
            assert_eq!(new, chunk.len(), "every revision taken");
        }
        store.flush().expect("flush");
        // A search commits the index: tantivy applies the removals then, so they are timed too.
        let _ = store.search(&SearchQuery::new("bike")).expect("search");
        let took = t.elapsed();
        assert_eq!(totals(&store), before, "a revision replaces its listing's document");
        println!(
            "revisions: {} in {took:.2?}, {:.0}/s (the listings stay {n})",
            revised.len(),
            revised.len() as f64 / took.as_secs_f64()
        );
        let t = Instant::now();
        store.rebuild_index().expect("rebuild");
        println!("index rebuild: {:.2?}", t.elapsed());
        let stats = store.stats().expect("stats");
        let mib = |b: u64| b as f64 / 1_048_576.0;
        println!(
            "disk: {:.1} MiB ({:.1} MiB database, {:.1} MiB search index)",
            mib(stats.size_on_disk + stats.index_size),
            mib(stats.size_on_disk),
            mib(stats.index_size)
        );
        let tables = store.table_sizes().expect("tables");
        let live: u64 = tables.iter().map(|(_, _, b)| b).sum();
        println!("  records: {:.1} MiB of keys and values:", live as f64 / 1_048_576.0);
        for (table, n, bytes) in tables {
            println!("    {table}: {n} records, {:.1} MiB", bytes as f64 / 1_048_576.0);
        }
        let path = dir.path().to_owned();
        drop(store);
        let t = Instant::now();
        let reopened = open(&path);
        println!("store open: {:.2?}", t.elapsed());
        drop(reopened);
    }
}

/// sled alone writing the two records a listing costs (its object under a random id, and a
/// 58-byte head), for `n` listings by 2,000 authors, 256 listings to a batch as `ingest_batch`
/// writes them, with the store's page cache (64 MiB). The head's key is `layout`: author first
/// (schema version 6), nonce first (version 7, the store's) or slot first (an arrival sequence
/// number, then the nonce: tried, see docs/PERFORMANCE.md). Returns the time taken, the file's
/// size and the bytes of records.
fn sled_alone(n: u64, object_bytes: usize, layout: &str) -> (Duration, u64, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::Config::new().path(dir.path()).cache_capacity(64 << 20).open().expect("open");
    let mut rng = Rng(11);
    let mut batch = sled::Batch::default();
    let mut records = 0usize;
    let authors: Vec<[u8; 32]> = (0..2_000u32).map(|i| *author(i).public().as_bytes()).collect();
    let start = Instant::now();
    for i in 0..n {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
        nonce[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
        let author = &authors[rng.below(authors.len())];
        let head_key = match layout {
            "author first" => [&b"h"[..], author, &nonce].concat(),
            "nonce first" => [&b"H"[..], &nonce, author].concat(),
            _ => [&b"H"[..], &(i + 1).to_be_bytes(), &nonce, author].concat(),
        };
        let id = [
            rng.next_u64().to_be_bytes(),
            rng.next_u64().to_be_bytes(),
            rng.next_u64().to_be_bytes(),
            rng.next_u64().to_be_bytes(),
        ]
        .concat();
        let object_key = [&b"o"[..], &id].concat();
        records += head_key.len() + 58 + object_key.len() + object_bytes;
        batch.insert(head_key, vec![1u8; 58]);
        batch.insert(object_key, vec![7u8; object_bytes]);
        if (i + 1) % 256 == 0 {
            db.apply_batch(std::mem::take(&mut batch)).expect("write");
        }
    }
    db.apply_batch(batch).expect("write");
    db.flush().expect("flush");
    (start.elapsed(), db.size_on_disk().expect("size"), records)
}

/// Why listing heads are keyed nonce first: the file sled alone makes for 100,000 listings'
/// records (objects of 366 bytes) with each head layout. Printed, not timed.
fn report_head_layouts() {
    for layout in ["author first", "nonce first", "slot first"] {
        let (_, file, records) = sled_alone(100_000, 366, layout);
        println!(
            "sled alone, 100000 listings of 2000 authors, heads keyed {layout}: file {:.1} MiB for {:.1} MiB of records",
            file as f64 / 1_048_576.0,
            records as f64 / 1_048_576.0
        );
    }
}

fn main() {
    // `HAGGLE_BENCH_INGEST_ONLY=1`: time the ingest at each size (three stores each) and stop, for
    // quick comparisons of two builds.
    if std::env::var_os("HAGGLE_BENCH_INGEST_ONLY").is_some() {
        for n in sizes() {
            let objects = market(n, 7);
            for _ in 0..3 {
                let (_dir, _store, took) = fill(&objects);
                println!("{n} listings: ingest {:.0}/s ({took:.2?})", n as f64 / took.as_secs_f64());
            }
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_sled_raw(&mut c);
    bench_ingest(&mut c);
    bench_search_and_report(&mut c);
    report_head_layouts();
    c.final_summary();
}
