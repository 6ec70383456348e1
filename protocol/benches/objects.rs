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

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    verify_rate_report();
}
