//! The libp2p floor (`--scenario floor`): what the steady scenario's gossip costs with nothing
//! of haggle's on top. Every node is a separate process of this binary running a bare libp2p
//! swarm: TCP, noise and yamux as a node has them, and the node's own gossipsub behaviour
//! (`haggle_node::gossip::behaviour`: mesh, lazy gossip, IDONTWANT, scoring) and nothing else.
//! Each publishes the steady scenario's listings (the same drafts, signed as a node signs them)
//! and accepts every message at once: no decoding, signature check, store, index, event stream,
//! sync, DHT, identify, ping or NAT traversal. The topology, publishers, rate, warm-up, idle
//! measurement and CPU window are those of `--processes`, so its headline figures (CPU, bytes,
//! packets, latency, delivery) compare with that report's: the difference is what haggle adds.
//!
//! A child reads commands on stdin (`publish N DRAFT`, the draft as JSON) and reports on
//! stdout: `addr A` once, `sent N ID` (or `failed N`) and `got ID` per message, and `mesh M P`
//! (mesh and connected peers) every second.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, noise, tcp, yamux};
use serde_json::{Value, json};

use haggle_node::api::types::ListingDraft;
use haggle_protocol::fixtures::{author, live_listing, sign_now};
use haggle_protocol::{Body, Listing, Location, Price};

use crate::net::{Rng, edges};
use crate::{Args, draft, percentile, procfs, round};

/// How long a child may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// A node's idle connection timeout (gossipsub's open streams keep connections anyway).
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(600);

/// The signed listing a floor node publishes as message `n`: the draft's fields in a listing as
/// a node builds it from a draft (no tags, place, payment or delivery), signed now by a key of
/// its own, so every message is distinct.
fn message(n: usize, draft: &ListingDraft) -> Result<Vec<u8>> {
    let price = match (&draft.price, &draft.currency) {
        (Some(amount), Some(currency)) => Some(Price::new(currency.parse_amount(amount)?, currency.clone())),
        _ => None,
    };
    let listing = Listing {
        kind: draft.kind,
        description: draft.description.clone(),
        category: draft.category.clone(),
        tags: Vec::new(),
        price,
        location: Location { text: String::new(), geohash: None },
        payment: Vec::new(),
        delivery: String::new(),
        ..live_listing(&draft.title)
    };
    Ok(sign_now(&author(n as u32), Body::Listing(listing)).bytes().to_vec())
}

/// A child: one bare gossipsub node until its stdin closes.
pub(crate) fn child(args: &Args) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(run_child(args))
}

async fn run_child(args: &Args) -> Result<()> {
    let heartbeat = Duration::from_millis(args.heartbeat_ms);
    let behaviour = haggle_node::gossip::behaviour(heartbeat, HashSet::new())?;
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| behaviour)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    let topic = haggle_node::gossip::topic();
    swarm.behaviour_mut().subscribe(&topic)?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    for addr in &args.floor_bootstrap {
        swarm.dial(addr.parse::<Multiaddr>()?)?;
    }

    // stdin is read on a thread of its own; its end ends the node.
    let (tx, mut commands) = tokio::sync::mpsc::channel::<(usize, ListingDraft)>(1024);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let Some((n, draft)) = line.strip_prefix("publish ").and_then(|rest| rest.split_once(' ')) else {
                continue;
            };
            if let (Ok(n), Ok(draft)) = (n.parse(), serde_json::from_str(draft))
                && tx.blocking_send((n, draft)).is_err()
            {
                break;
            }
        }
    });
    let mut out = std::io::stdout();
    let mut announced = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some((n, draft)) = command else { return Ok(()) };
                match swarm.behaviour_mut().publish(topic.clone(), message(n, &draft)?) {
                    Ok(id) => writeln!(out, "sent {n} {id}")?,
                    Err(e) => writeln!(out, "failed {n} {e}")?,
                }
            }
            _ = tick.tick() => {
                let mesh = swarm.behaviour().mesh_peers(&topic.hash()).count();
                writeln!(out, "mesh {mesh} {}", swarm.connected_peers().count())?;
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } if !announced => {
                    announced = true;
                    writeln!(out, "addr {address}")?;
                }
                SwarmEvent::Behaviour(gossipsub::Event::Message { propagation_source, message_id, .. }) => {
                    swarm.behaviour_mut().report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        MessageAcceptance::Accept,
                    );
                    writeln!(out, "got {message_id}")?;
                }
                _ => {}
            },
        }
    }
}

/// One child process, killed when dropped.
struct Floor {
    child: Child,
    stdin: ChildStdin,
    addr: String,
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a child reported, stamped on this process's clock.
enum Report {
    /// Message `n` left its publisher (when this process read so: the moment `--processes`
    /// takes as a publish's, when the node's API answered).
    Sent(usize, String, Instant),
    Failed,
    Got(usize, String, Instant),
}

/// Per child: its mesh peers and connected peers, as last reported.
type Meshes = Arc<Vec<(AtomicUsize, AtomicUsize)>>;

fn spawn(
    me: &Path,
    args: &Args,
    bootstrap: &[String],
    index: usize,
    reports: mpsc::SyncSender<Report>,
    mesh: Meshes,
) -> Result<Floor> {
    let mut command = Command::new(me);
    command.args(["--scenario", "floor", "--floor-child", "--heartbeat-ms", &args.heartbeat_ms.to_string()]);
    for addr in bootstrap {
        command.args(["--floor-bootstrap", addr]);
    }
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let stdin = child.stdin.take().context("stdin")?;
    let stdout = child.stdout.take().context("stdout")?;
    let (addr_tx, addr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut words = line.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("addr"), Some(addr), _) => {
                    let _ = addr_tx.send(addr.to_owned());
                }
                (Some("got"), Some(id), _) => {
                    let _ = reports.send(Report::Got(index, id.to_owned(), Instant::now()));
                }
                (Some("sent"), Some(n), Some(id)) => {
                    if let Ok(n) = n.parse() {
                        let _ = reports.send(Report::Sent(n, id.to_owned(), Instant::now()));
                    }
                }
                (Some("failed"), _, _) => {
                    let _ = reports.send(Report::Failed);
                }
                (Some("mesh"), Some(m), Some(p)) => {
                    mesh[index].0.store(m.parse().unwrap_or(0), Ordering::Relaxed);
                    mesh[index].1.store(p.parse().unwrap_or(0), Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
    let addr = match addr_rx.recv_timeout(START_TIMEOUT) {
        Ok(addr) => addr,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            match e {
                mpsc::RecvTimeoutError::Timeout => {
                    bail!("a floor node printed no address within {START_TIMEOUT:?}")
                }
                mpsc::RecvTimeoutError::Disconnected => bail!("a floor node exited before listening"),
            }
        }
    };
    Ok(Floor { child, stdin, addr })
}

/// Runs the floor: the steady scenario's network and load on bare gossipsub processes.
pub(crate) fn run(args: &Args) -> Result<Value> {
    if args.nodes < 2 {
        bail!("the floor needs at least 2 nodes");
    }
    if args.processes || args.no_event_stream || args.target_peers.is_some() {
        bail!("--processes, --no-event-stream and --target-peers are for haggle nodes, not the floor");
    }
    let me = std::env::current_exe()?;
    let mut rng = Rng::new(args.seed);
    let links = edges(args.nodes, args.degree, args.line, &mut rng);
    let mesh: Meshes =
        Arc::new((0..args.nodes).map(|_| (AtomicUsize::new(0), AtomicUsize::new(0))).collect());
    // Every report the run can have: a send or failure per listing, an arrival per listing and
    // other node (gossipsub hands a node each message once), so a reader never waits.
    let (tx, rx) = mpsc::sync_channel(args.listings * (args.nodes + 1));
    let started = Instant::now();
    let mut nodes: Vec<Floor> = Vec::with_capacity(args.nodes);
    for i in 0..args.nodes {
        let bootstrap: Vec<String> =
            links.iter().filter(|(_, b)| *b == i).map(|(a, _)| nodes[*a].addr.clone()).collect();
        nodes.push(spawn(&me, args, &bootstrap, i, tx.clone(), mesh.clone())?);
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    while mesh.iter().any(|(m, _)| m.load(Ordering::Relaxed) == 0) {
        if Instant::now() > deadline {
            bail!("the floor nodes did not form a mesh within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let startup = started.elapsed();
    std::thread::sleep(Duration::from_secs(args.warmup_secs));
    let pids: Vec<String> = nodes.iter().map(|n| n.child.id().to_string()).collect();
    let cpu = || pids.iter().filter_map(|pid| procfs::cpu_seconds_of(pid)).sum::<f64>();

    let (idle_cpu0, idle_tx0, idle_start) = (cpu(), procfs::loopback_tx_bytes().unwrap_or(0), Instant::now());
    std::thread::sleep(Duration::from_secs(args.idle_secs));
    let idle_secs = idle_start.elapsed().as_secs_f64().max(1e-3);
    let idle_cpu_per_s = (cpu() - idle_cpu0) / idle_secs;
    let idle_bytes_per_s =
        procfs::loopback_tx_bytes().unwrap_or(0).saturating_sub(idle_tx0) as f64 / idle_secs;

    let (cpu0, tx_bytes0, packets0) =
        (cpu(), procfs::loopback_tx_bytes().unwrap_or(0), procfs::loopback_tx_packets().unwrap_or(0));
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let mut publisher: Vec<usize> = Vec::with_capacity(args.listings);
    let mut drafts = Vec::with_capacity(args.listings);
    procfs::mark("publishing starts");
    let publish_start = Instant::now();
    for n in 0..args.listings {
        // The steady scenario's draws, in its order: the publisher, then the draft.
        let who = rng.below(args.nodes);
        let draft = draft(n, &mut rng);
        publisher.push(who);
        writeln!(nodes[who].stdin, "publish {n} {}", serde_json::to_string(&draft)?)?;
        drafts.push(draft);
        nodes[who].stdin.flush()?;
        let next = publish_start + interval * (n as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let last_publish = Instant::now();
    procfs::mark("publishing ends");

    // Every other node's first arrival of every message (gossipsub hands a node each message
    // once, and never its own), or the settle time.
    let wanted = args.listings * (args.nodes - 1);
    let mut ids: HashMap<String, (usize, Instant)> = HashMap::new();
    let mut failed = 0usize;
    let mut got: HashMap<(usize, String), Instant> = HashMap::new();
    let settle = Duration::from_secs(args.settle_secs);
    while (ids.len() + failed < args.listings || got.len() < wanted) && last_publish.elapsed() < settle {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Report::Sent(n, id, at)) => {
                ids.insert(id, (n, at));
            }
            Ok(Report::Failed) => failed += 1,
            Ok(Report::Got(node, id, at)) => {
                got.entry((node, id)).or_insert(at);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let convergence = last_publish.elapsed();
    let window = publish_start.elapsed().as_secs_f64();
    let (cpu_used, tx_bytes, packets) = (
        cpu() - cpu0,
        procfs::loopback_tx_bytes().unwrap_or(0).saturating_sub(tx_bytes0),
        procfs::loopback_tx_packets().unwrap_or(0).saturating_sub(packets0),
    );
    let mean = |f: &dyn Fn(&(AtomicUsize, AtomicUsize)) -> usize| {
        mesh.iter().map(f).sum::<usize>() as f64 / args.nodes.max(1) as f64
    };
    let (mesh_mean, peers_mean) =
        (mean(&|m| m.0.load(Ordering::Relaxed)), mean(&|m| m.1.load(Ordering::Relaxed)));
    drop(nodes);
    // The largest message, signed here after the run, not between publishes.
    let sizes = drafts.iter().enumerate().map(|(n, d)| message(n, d).map(|m| m.len()));
    let message_bytes = sizes.collect::<Result<Vec<_>>>()?.into_iter().max().unwrap_or(0);

    let mut latencies: Vec<Duration> = got
        .iter()
        .filter_map(|((node, id), at)| {
            let (n, t0) = *ids.get(id)?;
            (publisher[n] != *node).then(|| at.saturating_duration_since(t0))
        })
        .collect();
    latencies.sort();
    let per = (args.nodes * args.listings).max(1) as f64;
    Ok(json!({
        "scenario": "floor",
        "processes": true,
        "nodes": args.nodes,
        "topology": if args.line { "line".to_owned() } else { format!("random, degree {}", args.degree) },
        "listings": args.listings,
        "message_bytes": message_bytes,
        "rate_per_s": args.rate,
        "heartbeat_ms": args.heartbeat_ms,
        "seed": args.seed,
        "startup_to_mesh_s": round(startup.as_secs_f64()),
        "warmup_s": args.warmup_secs,
        "published_seen": ids.len(),
        "publish_failures": failed,
        "delivered_ratio": round(latencies.len() as f64 / wanted.max(1) as f64),
        "convergence_after_last_publish_s": round(convergence.as_secs_f64()),
        "latency_ms_p50": round(percentile(&latencies, 0.50)),
        "latency_ms_p99": round(percentile(&latencies, 0.99)),
        "connected_peers_mean": round(peers_mean),
        "mesh_peers_mean": round(mesh_mean),
        "loopback_bytes_per_node_per_listing": (tx_bytes as f64 / per) as u64,
        "loopback_packets_per_node_per_listing": round(packets as f64 / per),
        "cpu_s_all_nodes": round(cpu_used),
        "cpu_ms_per_listing_per_node": round(cpu_used * 1_000.0 / wanted.max(1) as f64),
        "idle_cpu_ms_per_node_per_s": round(idle_cpu_per_s * 1_000.0 / args.nodes as f64),
        "idle_loopback_bytes_per_node_per_s": (idle_bytes_per_s / args.nodes as f64) as u64,
        "net_of_idle_cpu_ms_per_listing_per_node":
            round((cpu_used - idle_cpu_per_s * window).max(0.0) * 1_000.0 / wanted.max(1) as f64),
    }))
}
