//! `haggle-sim`: starts N real haggle nodes in this process on 127.0.0.1 (TCP, temporary data
//! dirs, no mDNS) in a chosen topology, publishes listings from random nodes, and measures
//! delivery, propagation latency, convergence, bytes, CPU and memory. Deterministic given
//! `--seed`, apart from timings.
//!
//! ```text
//! cargo run --release -p haggle-sim -- --nodes 50 --degree 4 --listings 200 --rate 20
//! cargo run --release -p haggle-sim -- --scenario churn --nodes 30
//! cargo run --release -p haggle-sim -- --scenario memory --listings 100000
//! cargo run --release -p haggle-sim -- --scenario load --listings 20000 --rate 100
//! cargo run --release -p haggle-sim -- --scenario attack --pow-bits 12
//! cargo run --release -p haggle-sim -- --scenario floor   # bare gossipsub processes
//! ```

#![forbid(unsafe_code)]

mod attack;
mod floor;
mod load;
mod net;
mod procfs;
mod procs;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use haggle_node::NodeEvent;
use haggle_node::api::types::{Arrival as By, ListingDraft, SearchParams};
use haggle_protocol::ObjectId;

use crate::net::{Rng, SimNode, Tuning, edges, wait_for_mesh};

/// The allocator the `haggle` binary uses, so in-process nodes cost what real ones do.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Listings at a steady rate.
    Steady,
    /// All listings at once.
    Burst,
    /// Steady, with 10% of nodes stopped for the middle third and restarted (sync repairs them).
    Churn,
    /// Two halves publish apart, then one link joins them.
    Partition,
    /// One `haggle node` process with many listings: resident memory and start-up time.
    Memory,
    /// One `haggle node` process's memory while it takes `--listings` live by gossip from
    /// publishers in this process (one identity per 1,000), and a new process's while it
    /// catches up with them all from it.
    Load,
    /// Steady, on bare libp2p gossipsub processes with a node's gossip settings and nothing
    /// of haggle's on top: the floor the `--processes` figures stand on.
    Floor,
    /// Steady, while attackers (bare libp2p swarms) flood victims with garbage, objects without
    /// work, negotiation messages and reconnections after their bans, at full speed.
    Attack,
}

#[derive(Debug, Parser)]
#[command(about = "Multi-node simulation of haggle on 127.0.0.1")]
struct Args {
    #[arg(long, value_enum, default_value = "steady")]
    scenario: Scenario,
    #[arg(long, default_value_t = 50)]
    nodes: usize,
    /// Average connections per node in a random connected topology.
    #[arg(long, default_value_t = 4)]
    degree: usize,
    /// A line instead (each node dials only the previous one): the worst case.
    #[arg(long)]
    line: bool,
    #[arg(long, default_value_t = 200)]
    listings: usize,
    /// Listings per second (steady and churn).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// gossipsub heartbeat in milliseconds (default: a node's own).
    #[arg(long, default_value_t = haggle_node::NodeConfig::default().heartbeat_ms)]
    heartbeat_ms: u64,
    /// Seconds between a node's catch-up syncs with a random peer (default: a node's own).
    #[arg(long, default_value_t = haggle_node::NodeConfig::default().sync_secs)]
    sync_secs: u64,
    /// The network's proof-of-work base in bits (0: none). Compare runs at the same base.
    #[arg(long, default_value_t = 0)]
    pow_bits: u32,
    /// Attackers in the attack scenario, each on its own victim.
    #[arg(long, default_value_t = 3)]
    attackers: usize,
    /// Longest wait for every node to hold every listing after the last publish.
    #[arg(long, default_value_t = 60)]
    settle_secs: u64,
    /// Load scenario: listings written into the measured node's store before it starts, on top
    /// of which `--listings` arrive live (and a new node catches up with both).
    #[arg(long, default_value_t = 0)]
    preload: usize,
    /// Load scenario: seconds of quiet after each phase before memory is read again (for the
    /// node to give back what it no longer uses).
    #[arg(long, default_value_t = 30)]
    quiet_secs: u64,
    /// Processes and load scenarios: the `haggle` nodes' database page cache in MiB
    /// (`cache_mib`; default: a node's own).
    #[arg(long)]
    cache_mib: Option<u64>,
    /// The `haggle` binary for the memory and load scenarios (default: next to this one).
    #[arg(long)]
    haggle: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    /// Steady scenario only: every node a separate `haggle node` process (see `--haggle`),
    /// publishing and reporting through its local API, instead of all nodes in this process.
    #[arg(long)]
    processes: bool,
    /// Processes mode: seconds of quiet after the mesh forms, measured (CPU and bytes with no
    /// listing published) before publishing starts, so per-listing figures can be given net of
    /// what an idle network costs.
    #[arg(long, default_value_t = 10)]
    idle_secs: u64,
    /// Processes mode: seconds after the mesh forms before anything is measured, for the nodes
    /// to finish connecting, their first syncs and closing connections above their target
    /// (none closes before a connection is 10 s old).
    #[arg(long, default_value_t = 15)]
    warmup_secs: u64,
    /// Processes mode: each node's `target_peers` (0: keep every connection; default: the
    /// node's own default).
    #[arg(long)]
    target_peers: Option<usize>,
    /// Processes mode: read no node's event stream while publishing (the simulation still
    /// publishes through the API): the cost of a node with no event-stream client. No latency
    /// figures; delivery is checked through each node's status and store afterwards.
    #[arg(long)]
    no_event_stream: bool,
    /// Floor scenario: run as one of its child nodes (set by the scenario itself).
    #[arg(long, hide = true)]
    floor_child: bool,
    /// Floor scenario: a child's peers to dial.
    #[arg(long, hide = true)]
    floor_bootstrap: Vec<String>,
}

/// An arrival: which node stored which listing, when, and how (gossip or sync).
type Arrival = (usize, ObjectId, Instant, By);

fn main() -> Result<()> {
    let args = Args::parse();
    if args.floor_child {
        return floor::child(&args);
    }
    if args.no_event_stream && !args.processes {
        bail!("--no-event-stream is for --processes only");
    }
    let speed = machine_speed();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut report = match args.scenario {
        Scenario::Memory => memory(&args)?,
        Scenario::Load => runtime.block_on(load::run(&args, &haggle_binary(&args)?))?,
        Scenario::Floor => floor::run(&args)?,
        Scenario::Steady if args.processes => procs::run(&args, &haggle_binary(&args)?)?,
        _ if args.processes => bail!("--processes runs the steady scenario only"),
        _ => runtime.block_on(network(&args))?,
    };
    if let Some(map) = report.as_object_mut() {
        map.insert("machine_verifies_per_s".into(), json!(speed.round()));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// The machine's speed before anything starts: signed listings decoded and verified a second
/// on one core, for half a second. This shared machine's speed moves from day to day by more
/// than most changes measured with it (the same build's CPU per listing by a quarter), so every
/// report carries it and runs are compared at a like speed.
fn machine_speed() -> f64 {
    use haggle_protocol::fixtures::{author, live_listing, sign_now};
    use haggle_protocol::{Body, Object, Timestamp};

    let bytes = sign_now(&author(0), Body::Listing(live_listing("calibration"))).bytes().to_vec();
    assert!(Object::decode_verify(&bytes, Timestamp::now()).is_ok(), "a fresh listing verifies");
    let start = Instant::now();
    let mut done = 0u32;
    while start.elapsed() < Duration::from_millis(500) {
        for _ in 0..100 {
            let _ =
                std::hint::black_box(Object::decode_verify(std::hint::black_box(&bytes), Timestamp::now()));
        }
        done += 100;
    }
    f64::from(done) / start.elapsed().as_secs_f64()
}

fn print_table(report: &Value) {
    println!("haggle-sim {}", report["scenario"].as_str().unwrap_or_default());
    if let Some(map) = report.as_object() {
        for (k, v) in map {
            if k != "scenario" {
                println!("  {k:<28} {v}");
            }
        }
    }
}

/// Passes a node's arrivals to the collector (whose channel holds every arrival the run can
/// have, so the reader is never held back); events the node's buffer dropped anyway are
/// counted in `lagged`.
fn forward_events(
    index: usize,
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
    tx: mpsc::Sender<Arrival>,
    lagged: Arc<AtomicU64>,
) {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(NodeEvent::ListingStored { id, by }) => {
                    let _ = tx.send((index, id, Instant::now(), by)).await;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

fn draft(i: usize, rng: &mut Rng) -> ListingDraft {
    const NOUNS: [&str; 8] = ["bike", "lamp", "sofa", "guitar", "drill", "tent", "camera", "desk"];
    ListingDraft {
        kind: haggle_node::api::types::ListingKind::Sell,
        title: format!("{} number {i}", NOUNS[rng.below(NOUNS.len())]),
        description: "Simulated listing: good condition, collect in person.".into(),
        category: "sim/goods".into(),
        price: Some(format!("{}", 5 + rng.below(500))),
        currency: "EUR".parse().ok(),
        ..ListingDraft::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1_000.0
}

async fn network(args: &Args) -> Result<Value> {
    if args.nodes < 2 {
        bail!("--nodes must be at least 2");
    }
    let mut rng = Rng::new(args.seed);
    let tuning =
        Tuning { heartbeat_ms: args.heartbeat_ms, sync_secs: args.sync_secs, pow_bits: args.pow_bits };
    let partition = args.scenario == Scenario::Partition;
    // In a partition the two halves get their own topologies and no link between them.
    let half = args.nodes / 2;
    let links: Vec<(usize, usize)> = if partition {
        let mut e = edges(half, args.degree, args.line, &mut rng);
        e.extend(
            edges(args.nodes - half, args.degree, args.line, &mut rng)
                .into_iter()
                .map(|(a, b)| (a + half, b + half)),
        );
        e
    } else {
        edges(args.nodes, args.degree, args.line, &mut rng)
    };

    // Arrivals are collected as they happen. Each node stores each listing once, so the channel
    // holds every arrival the run can have and a reader never waits.
    let (tx, mut rx) = mpsc::channel::<Arrival>((args.nodes * args.listings).max(1));
    let lagged = Arc::new(AtomicU64::new(0));
    let collector = tokio::spawn(async move {
        let mut first_seen: HashMap<(usize, ObjectId), (Instant, By)> = HashMap::new();
        while let Some((node, id, at, by)) = rx.recv().await {
            first_seen.entry((node, id)).or_insert((at, by));
        }
        first_seen
    });
    let cpu0 = procfs::cpu_seconds().unwrap_or(0.0);
    let started = Instant::now();
    let mut nodes: Vec<SimNode> = Vec::with_capacity(args.nodes);
    for i in 0..args.nodes {
        let bootstrap: Vec<String> =
            links.iter().filter(|(_, b)| *b == i).map(|(a, _)| nodes[*a].addr()).collect();
        let (node, events) = SimNode::start(i, tempfile::tempdir()?, bootstrap, tuning).await?;
        forward_events(i, events, tx.clone(), lagged.clone());
        nodes.push(node);
    }
    let mesh = wait_for_mesh(&nodes, Duration::from_secs(120)).await?;
    let startup = started.elapsed();
    let attacks = if args.scenario == Scenario::Attack {
        Some(attack::Attacks::start(&nodes, args.attackers.min(args.nodes))?)
    } else {
        None
    };
    let tx_bytes0 = procfs::loopback_tx_bytes().unwrap_or(0);

    // Publish.
    let interval = match args.scenario {
        Scenario::Burst | Scenario::Partition => Duration::ZERO,
        _ => Duration::from_secs_f64(1.0 / args.rate.max(0.001)),
    };
    let churned: Vec<usize> = if args.scenario == Scenario::Churn {
        let count = (args.nodes / 10).max(1);
        let mut picked = Vec::new();
        while picked.len() < count {
            let i = 1 + rng.below(args.nodes - 1);
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked
    } else {
        Vec::new()
    };
    let mut published: HashMap<ObjectId, Instant> = HashMap::new();
    let mut publisher: HashMap<ObjectId, usize> = HashMap::new();
    let mut order: Vec<ObjectId> = Vec::new();
    let publish_start = Instant::now();
    for i in 0..args.listings {
        if args.scenario == Scenario::Churn && i == args.listings / 3 {
            for &c in &churned {
                nodes[c].stop().await;
            }
        }
        if args.scenario == Scenario::Churn && i == 2 * args.listings / 3 {
            for &c in &churned {
                let live: Vec<String> =
                    nodes.iter().filter(|n| n.node.is_some()).take(2).map(SimNode::addr).collect();
                let events = nodes[c].restart(live, tuning).await?;
                forward_events(c, events, tx.clone(), lagged.clone());
            }
        }
        let mut who = rng.below(args.nodes);
        while nodes[who].node.is_none() || (partition && (who < half) != (i % 2 == 0)) {
            who = rng.below(args.nodes);
        }
        let draft = draft(i, &mut rng);
        let service = nodes[who].node().service.clone();
        let effect = tokio::task::spawn_blocking(move || service.publish(draft)).await??;
        let id = effect.object.id();
        published.insert(id, Instant::now());
        publisher.insert(id, who);
        order.push(id);
        for bytes in effect.then.publish {
            nodes[who].node().handle.publish(bytes).await?;
        }
        let next = publish_start + interval * (i as u32 + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    let last_publish = Instant::now();
    if partition {
        // Heal: one node of the second half dials one of the first.
        let addr = nodes[0].addr().parse().context("address")?;
        nodes[half].node().handle.dial(addr).await?;
    }

    // Wait for every node to hold every listing (gossip, or sync for those that missed it).
    let settle_limit = Duration::from_secs(args.settle_secs);
    let mut complete = false;
    while last_publish.elapsed() < settle_limit {
        let mut all = true;
        'check: for n in &nodes {
            let store = n.node().store();
            for id in &order {
                if !store.contains(id).unwrap_or(false) {
                    all = false;
                    break 'check;
                }
            }
        }
        if all {
            complete = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let convergence = last_publish.elapsed();
    let attacked = match attacks {
        Some(attacks) => Some(attacks.stop(&nodes, args.listings).await?),
        None => None,
    };

    // Tally.
    let mut held_pairs: HashSet<(usize, ObjectId)> = HashSet::new();
    for (i, n) in nodes.iter().enumerate() {
        let store = n.node().store();
        held_pairs.extend(order.iter().filter(|id| store.contains(id).unwrap_or(false)).map(|id| (i, *id)));
    }
    let held = held_pairs.len();
    let pairs = args.listings * args.nodes;
    // Stopping the nodes ends their event streams, which ends the collector.
    drop(tx);
    for n in &mut nodes {
        n.stop().await;
    }
    let first_seen = tokio::time::timeout(Duration::from_secs(30), collector)
        .await
        .context("the arrival collector did not finish after the nodes stopped")??;
    // Every arrival counts, by gossip or by sync: latency is what the user of that node sees.
    let mut latencies: Vec<Duration> = Vec::new();
    let mut gossip_latencies: Vec<Duration> = Vec::new();
    let mut full_spread: Vec<Duration> = Vec::new();
    let (mut by_sync, mut unseen) = (0usize, 0usize);
    for id in &order {
        let t0 = published[id];
        let mut worst = Duration::ZERO;
        let mut everywhere = true;
        for n in (0..args.nodes).filter(|n| *n != publisher[id]) {
            match first_seen.get(&(n, *id)) {
                Some(&(at, by)) => {
                    let d = at.saturating_duration_since(t0);
                    latencies.push(d);
                    match by {
                        By::Gossip => gossip_latencies.push(d),
                        By::Sync => by_sync += 1,
                    }
                    worst = worst.max(d);
                }
                // Held but never announced: the measurement missed it (reported, never
                // counted as a delivery with a latency).
                None if held_pairs.contains(&(n, *id)) => {
                    unseen += 1;
                    everywhere = false;
                }
                // Lost: counted in `lost_pairs`.
                None => everywhere = false,
            }
        }
        if everywhere {
            full_spread.push(worst);
        }
    }
    latencies.sort();
    gossip_latencies.sort();
    full_spread.sort();
    let lagged = lagged.load(Ordering::Relaxed);
    let tx_bytes = procfs::loopback_tx_bytes().unwrap_or(0).saturating_sub(tx_bytes0);
    let cpu = procfs::cpu_seconds().unwrap_or(0.0) - cpu0;
    let report = json!({
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "nodes": args.nodes,
        "topology": if args.line { "line".to_owned() } else { format!("random, degree {}", args.degree) },
        "edges": links.len(),
        "listings": args.listings,
        "rate_per_s": if interval.is_zero() { Value::Null } else { json!(args.rate) },
        "heartbeat_ms": args.heartbeat_ms,
        "sync_secs": args.sync_secs,
        "seed": args.seed,
        "churned_nodes": churned.len(),
        "startup_to_mesh_s": round(startup.as_secs_f64()),
        "mesh_wait_s": round(mesh.as_secs_f64()),
        "delivered_ratio": round(held as f64 / pairs as f64),
        "complete": complete,
        "lost_pairs": pairs - held,
        "convergence_after_last_publish_s": round(convergence.as_secs_f64()),
        "arrivals_by_gossip": gossip_latencies.len(),
        "arrivals_by_sync": by_sync,
        "arrived_unseen": unseen,
        "events_lagged": lagged,
        "measurement_complete": unseen == 0 && lagged == 0,
        "latency_ms_p50": round(percentile(&latencies, 0.50)),
        "latency_ms_p95": round(percentile(&latencies, 0.95)),
        "latency_ms_p99": round(percentile(&latencies, 0.99)),
        "latency_ms_max": round(latencies.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1_000.0)),
        "gossip_latency_ms_p99": round(percentile(&gossip_latencies, 0.99)),
        "everywhere_ms_p99": round(percentile(&full_spread, 0.99)),
        "loopback_bytes_per_node_per_listing": if args.listings > 0 { json!(tx_bytes / (args.nodes * args.listings) as u64) } else { Value::Null },
        "processes": false,
        "cpu_s": round(cpu),
        "cpu_ms_per_listing_per_node": round(cpu * 1_000.0 / (pairs - args.listings).max(1) as f64),
        "peak_rss_mib": procfs::status_kib("self", "VmHWM").map(|b| b / 1_048_576),
    });
    let mut report = report;
    if let (Some(attacked), Some(map)) = (attacked, report.as_object_mut()) {
        map.extend(attacked);
    }
    Ok(report)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn round(x: f64) -> Value {
    if x.is_finite() { json!((x * 1000.0).round() / 1000.0) } else { Value::Null }
}

/// One real `haggle node` process over a store of `--listings` listings: start-up time to a
/// serving API, and resident memory after searches.
/// The `haggle` binary the process scenarios run: `--haggle`, or the one next to this binary.
fn haggle_binary(args: &Args) -> Result<PathBuf> {
    let haggle = match &args.haggle {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("haggle"),
    };
    anyhow::ensure!(
        haggle.exists(),
        "no haggle binary at {} (build it: cargo build --release -p haggle-cli)",
        haggle.display()
    );
    Ok(haggle)
}

/// A data dir for a `haggle node` holding `count` listings from 2,000 authors, written
/// straight into its store (flushed), with the node's identity made first (`haggle node`
/// refuses a database without its key). Returns the store, to be dropped before the node starts.
fn preload(dir: &std::path::Path, count: usize, rng: &mut Rng) -> Result<haggle_storage::Store> {
    use haggle_protocol::fixtures::{author, live_listing, sign_now};
    use haggle_protocol::{Body, Listing};

    haggle_protocol::keyfile::load_or_create(&dir.join("identity.key"))?;
    let store = haggle_storage::Store::open(dir)?;
    let mut batch = Vec::with_capacity(5_000);
    for i in 0..count {
        let mut l = Listing {
            title: format!("{} {} number {i}", ["Blue", "Old", "New", "Small"][rng.below(4)], ["bike", "lamp", "sofa", "desk"][rng.below(4)]),
            description: "Simulated listing with a description of a typical length: good condition, collect in person or shipped at cost.".into(),
            ..live_listing("x")
        };
        // Random, as a node makes them.
        l.nonce[..8].copy_from_slice(&rng.next().to_be_bytes());
        l.nonce[8..].copy_from_slice(&rng.next().to_be_bytes());
        batch.push(sign_now(&author(i as u32 % 2_000), Body::Listing(l)).bytes().to_vec());
        if batch.len() == 5_000 {
            store.ingest_batch(&batch, haggle_storage::Durability::Lazy)?;
            batch.clear();
        }
    }
    store.ingest_batch(&batch, haggle_storage::Durability::Lazy)?;
    store.flush()?;
    Ok(store)
}

fn memory(args: &Args) -> Result<Value> {
    let haggle = haggle_binary(args)?;
    let dir = tempfile::tempdir()?;
    let mut tables = serde_json::Map::new();
    {
        let store = preload(dir.path(), args.listings, &mut Rng::new(args.seed))?;
        // Where the database's bytes go: records and their bytes (keys and values) per table.
        for (table, count, bytes) in store.table_sizes()? {
            tables.insert(table.to_string(), json!({ "records": count, "bytes": bytes }));
        }
    }
    let started = Instant::now();
    let mut node = procs::Proc::spawn(&haggle, dir, &[])?;
    let startup = started.elapsed();
    let pid = node.pid();
    let api = node.api()?;
    let status = api.status()?;
    // What `haggle search` waits for: a page of 50 through the API, 200 times each.
    let mut searches = serde_json::Map::new();
    for q in ["bike", "blue lamp", "sofa", "desk number", "bkie"] {
        let params = SearchParams { q: q.to_owned(), limit: Some(50), ..SearchParams::default() };
        let total = api.search(&params)?.total;
        let mut times: Vec<Duration> = (0..200)
            .map(|_| {
                let t = Instant::now();
                api.search(&params).map(|_| t.elapsed())
            })
            .collect::<Result<_, _>>()?;
        times.sort();
        searches.insert(
            q.to_owned(),
            json!({
                "total": total,
                "p50_ms": round(percentile(&times, 0.50)),
                "p99_ms": round(percentile(&times, 0.99)),
            }),
        );
    }
    // `haggle saved`: as many saved searches as a node keeps, each run again for its counts
    // (its 200 newest matches), 20 times; and one look at what is new, 50 times.
    let words = ["bike", "blue lamp", "sofa", "desk number", "bkie"];
    for i in 0..haggle_storage::MAX_SAVED_SEARCHES {
        // Each matches thousands: every one runs to its 200 newest (the most a look reads).
        let params = SearchParams { q: words[i % words.len()].to_owned(), ..SearchParams::default() };
        api.save_search(&format!("s{i}"), &params)?;
    }
    let time = |runs: usize, f: &dyn Fn() -> Result<(), haggle_node::ClientError>| -> Result<Value> {
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                f().map(|()| t.elapsed())
            })
            .collect::<Result<_, _>>()?;
        times.sort();
        Ok(json!({ "p50_ms": round(percentile(&times, 0.50)), "p99_ms": round(percentile(&times, 0.99)) }))
    };
    let saved_list = time(20, &|| api.saved().map(drop))?;
    let saved_look = time(50, &|| api.look_at_saved("s0", true).map(drop))?;
    let rss = procfs::status_kib(&pid, "VmRSS");
    let peak = procfs::status_kib(&pid, "VmHWM");
    node.stop();
    Ok(json!({
        "scenario": "memory",
        "listings": args.listings,
        "listings_active": status.store.active_listings,
        "startup_to_api_s": round(startup.as_secs_f64()),
        "rss_mib": rss.map(|b| b / 1_048_576),
        "peak_rss_mib": peak.map(|b| b / 1_048_576),
        "database_mib": round(mib(status.store.size_on_disk)),
        "index_mib": round(mib(status.store.index_size)),
        "disk_mib": round(mib(status.store.size_on_disk + status.store.index_size)),
        "database_tables": tables,
        "api_search_limit_50": searches,
        "api_saved_20_searches": saved_list,
        "api_saved_look": saved_look,
    }))
}
