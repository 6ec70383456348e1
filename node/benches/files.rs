//! File transfer figures between two nodes on loopback: throughput for a 50 MiB file (hashing
//! and verification included), time to the first verified group, and the process's peak memory
//! (both nodes are in this process).
//!
//! `cargo bench -p haggle-node --bench files` (`HAGGLE_BENCH_FILE_MIB=8` for a quick run).

use std::time::{Duration, Instant};

use haggle_node::files::FetchState;
use haggle_node::{NodeConfig, NodeEvent, start};
use tokio_util::sync::CancellationToken;

/// The allocator the `haggle` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resident memory of this process now, in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn transfer(mib: usize, run: usize) {
    let (da, db) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let shutdown = CancellationToken::new();
    let a = start(da.path(), NodeConfig::for_tests(), shutdown.clone()).await.expect("start A");
    let bytes = noise(mib * 1024 * 1024);
    let stored = Instant::now();
    let (blob, _) = a.service.blobs().import(&bytes[..], None, u64::MAX, true).expect("store on A");
    let store_took = stored.elapsed();
    drop(bytes);
    let bootstrap = vec![a.dial_addr().expect("address").to_string()];
    let b = start(db.path(), NodeConfig { bootstrap, ..NodeConfig::for_tests() }, shutdown.clone())
        .await
        .expect("start B");
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.handle.peers().await.map(|p| p.is_empty()).unwrap_or(true) {
        assert!(Instant::now() < deadline, "B did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut events = b.handle.subscribe();
    let before = rss_kib();
    // Resident memory sampled every 5 ms while the file moves.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(rss_kib());
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        })
    };
    let started = Instant::now();
    let mut fetch = b.handle.fetch(blob, vec![a.peer_id]);
    let mut first = None;
    let done = async {
        loop {
            tokio::select! {
                state = fetch.wait_for(|s| *s != FetchState::Running) => return state.map(|s| s.clone()),
                event = events.recv() => {
                    if first.is_none() && matches!(event, Ok(NodeEvent::FileProgress { .. })) {
                        first = Some(started.elapsed());
                    }
                }
            }
        }
    };
    let state =
        tokio::time::timeout(Duration::from_secs(300), done).await.expect("within 300 s").expect("state");
    let took = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().expect("sampler");
    assert_eq!(state, FetchState::Done, "the fetch completes");
    let mb = blob.size as f64 / 1e6;
    println!(
        "files/run {run}: {mib} MiB in {:.2} s = {:.0} MB/s (stored on A in {:.2} s); first verified group after {:.1} ms; resident memory {} MiB before, at most {} MiB during (+{} MiB, both nodes)",
        took.as_secs_f64(),
        mb / took.as_secs_f64(),
        store_took.as_secs_f64(),
        first.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
        before / 1024,
        most / 1024,
        most.saturating_sub(before) / 1024,
    );
    shutdown.cancel();
    b.shutdown().await;
    a.shutdown().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` builds benches too but runs them with no
    // such flag: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mib = std::env::var("HAGGLE_BENCH_FILE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for run in 1..=3 {
        runtime.block_on(transfer(mib, run));
    }
}
