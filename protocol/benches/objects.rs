//! Sign, verify, encode and decode costs per object kind, and the raw ed25519 limit beside them.
//!
//! `cargo bench -p haggle-protocol --bench objects`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use haggle_protocol::fixtures::{T0, accept, counter, key, listing, offer, sign, terms};
use haggle_protocol::{Body, Envelope, Object};

fn samples() -> Vec<(&'static str, Object)> {
    let l = sign(&key(1), Body::Listing(listing("Road bike, steel frame, 56 cm")));
    let o = sign(&key(2), offer(&l, terms(1, 10_000)));
    let c = sign(&key(1), counter(&o, &o, terms(1, 11_000)));
    let a = sign(&key(2), accept(&o, &c));
    vec![
        ("listing", l.into_inner()),
        ("offer", o.into_inner()),
        ("counter", c.into_inner()),
        ("accept", a.into_inner()),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("object");
    g.throughput(Throughput::Elements(1));
    for (kind, obj) in samples() {
        let author = if matches!(kind, "listing" | "counter") { key(1) } else { key(2) };
        let env: Envelope = obj.envelope().clone();
        g.bench_with_input(BenchmarkId::new("sign", kind), &env, |b, env| {
            b.iter(|| env.clone().sign(&author, T0).expect("valid"))
        });
        g.bench_with_input(BenchmarkId::new("decode_verify", kind), obj.bytes(), |b, bytes| {
            b.iter(|| Object::decode_verify(bytes, T0).expect("valid"))
        });
        g.bench_with_input(BenchmarkId::new("decode_unverified", kind), obj.bytes(), |b, bytes| {
            b.iter(|| Object::decode_unverified(bytes).expect("valid"))
        });
        g.bench_with_input(BenchmarkId::new("decode_stored", kind), obj.bytes(), |b, bytes| {
            b.iter(|| Object::decode_stored(bytes, obj.id()).expect("valid"))
        });
    }
    g.finish();

    // The limit every ingest figure is a fraction of: one bare ed25519 verify_strict.
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let msg = [0u8; 600];
    let sig = ed25519_dalek::Signer::sign(&sk, &msg);
    let vk = sk.verifying_key();
    c.bench_function("ed25519/verify_strict_600B", |b| {
        b.iter(|| vk.verify_strict(&msg, &sig).expect("valid"))
    });
}

/// Verification throughput on one and on all cores (the ceiling for ingest).
fn verify_rate_report() {
    let obj = sign(&key(1), Body::Listing(listing("Road bike, steel frame, 56 cm")));
    let bytes = obj.bytes().to_vec();
    let per_thread = 20_000;
    for threads in [1, std::thread::available_parallelism().map_or(2, |n| n.get())] {
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                let bytes = &bytes;
                s.spawn(move || {
                    for _ in 0..per_thread {
                        Object::decode_verify(bytes, T0).expect("valid");
                    }
                });
            }
        });
        let rate = (threads * per_thread) as f64 / start.elapsed().as_secs_f64();
        println!("decode_verify on {threads} thread(s): {rate:.0} objects/s");
    }
}

/// Proof of work: the hash rate, what publishing a listing costs at the default base (mean and
/// worst of many stamps: the search time is random), and what checking it costs.
fn work_report() {
    use haggle_protocol::work::{DEFAULT_BASE_BITS, mine, work_of};
    let obj = sign(&key(1), Body::Listing(listing("Road bike, steel frame, 56 cm")));
    let prefix = &obj.bytes()[..obj.bytes().len() - 64 - 8];
    // Hash rate on one core: a 16-bit search is about 65,536 hashes.
    let single = std::time::Instant::now();
    let mut hashes = 0u64;
    for i in 0..64u8 {
        let mut p = prefix.to_vec();
        p[0] ^= i;
        hashes += u64::from_le_bytes(mine(&p, 16)) + 1;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let rate = hashes as f64 / single.elapsed().as_secs_f64() / threads;
    println!("work: about {rate:.0} hashes/s per core ({threads} cores)");
    let runs = std::env::var("HAGGLE_WORK_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(12u8);
    let mut times = Vec::new();
    for i in 0..runs {
        let mut p = prefix.to_vec();
        p[1] ^= i;
        let start = std::time::Instant::now();
        let stamp = mine(&p, DEFAULT_BASE_BITS);
        times.push(start.elapsed().as_secs_f64());
        let mut signed = p.clone();
        signed.extend_from_slice(&stamp);
        assert!(work_of(&signed).is_some_and(|w| w >= DEFAULT_BASE_BITS));
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "work: a listing of up to 1 KiB at base {DEFAULT_BASE_BITS}: mean {mean:.2} s, median {:.2} s, max {:.2} s over {runs} stamps on all cores",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    let mut signed = prefix.to_vec();
    signed.extend_from_slice(&[0; 8]);
    let start = std::time::Instant::now();
    for _ in 0..100_000 {
        std::hint::black_box(work_of(std::hint::black_box(&signed)));
    }
    println!("work: checking a stamp takes {:.2} µs", start.elapsed().as_secs_f64() * 10.0);
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    verify_rate_report();
    work_report();
}
