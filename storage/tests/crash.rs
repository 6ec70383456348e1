//! Crash safety: a child process ingests in a loop and is killed with SIGKILL. The store must
//! reopen cleanly, hold every object whose durable ingest returned, and bring its search index up
//! to date.
//!
//! The child is this same test binary, re-run with `HAGGLE_CRASH_CHILD` naming the data dir.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use haggle_protocol::fixtures::{key, live_listing, sign_now};
use haggle_protocol::{Body, Listing, ObjectId};
use haggle_storage::{Durability, SearchQuery, Store};

const CHILD_ENV: &str = "HAGGLE_CRASH_CHILD";
/// Acknowledged durable ingests to wait for before the kill.
const ACKS_BEFORE_KILL: usize = 60;
/// Bounds every wait on the child.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

fn listing(n: u32, durable: bool) -> haggle_protocol::Verified<haggle_protocol::Object> {
    let mut l = Listing { title: format!("Crash test item {n}"), ..live_listing("x") };
    l.nonce[..4].copy_from_slice(&n.to_be_bytes());
    l.nonce[4] = u8::from(durable);
    // Spread over many authors: one author may have at most 1,000 listings on a node.
    sign_now(&key((n % 251) as u8), Body::Listing(l))
}

/// In the child: ingest forever (bounded), alternating durable single ingests, which are
/// acknowledged on stdout once they return, and lazy batches, which are not.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&dir)).expect("child opens the store");
    for n in 0..100_000u32 {
        let own = listing(n, true);
        assert!(store.ingest_own(&own).expect("ingest").is_new());
        println!("ACK {}", own.id());
        let lazy: Vec<Vec<u8>> = (0..20).map(|i| listing(n * 100 + i, false).bytes().to_vec()).collect();
        store.ingest_batch(&lazy, Durability::Lazy).expect("batch");
    }
}

#[test]
fn kill_9_loses_no_acknowledged_object() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel::<ObjectId>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("ACK ").and_then(|s| s.parse().ok())
                && tx.send(id).is_err()
            {
                break;
            }
        }
    });
    let mut acked = Vec::new();
    while acked.len() < ACKS_BEFORE_KILL {
        match rx.recv_timeout(STEP_TIMEOUT) {
            Ok(id) => acked.push(id),
            Err(e) => {
                let _ = child.kill();
                panic!("child stopped acknowledging after {} ingests: {e}", acked.len());
            }
        }
    }
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap child");
    // Acknowledgements already written before the kill count too.
    while let Ok(id) = rx.try_recv() {
        acked.push(id);
    }
    reader.join().expect("reader thread");

    let store = Store::open(dir.path()).expect("the store reopens cleanly after SIGKILL");
    for id in &acked {
        assert!(store.get(id).expect("read").is_some(), "acknowledged object {id} was lost");
    }
    let stats = store.stats().expect("stats");
    assert_eq!(stats.index_pending, 0, "the index caught up on open");
    let found =
        store.search(&SearchQuery { limit: 500, ..SearchQuery::new("crash test item") }).expect("search");
    assert_eq!(found.total as u64, store.indexed_listings());
    assert_eq!(store.indexed_listings() as usize, stats.active_listings, "index and database agree");
    assert!(stats.active_listings >= acked.len());
}
