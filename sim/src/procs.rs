//! The steady scenario with every node a separate `haggle node` process (`--processes`), so one
//! process's CPU saturation is not mistaken for network latency. Nodes are configured through
//! their `config.toml`, listings are published through each node's local API, and arrivals are
//! read from each node's event stream (`/v1/events`), one reader thread per node, stamped on
//! this process's clock.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use haggle_node::api::types::Arrival as By;
use haggle_node::{ApiClient, NodeEvent};
use haggle_protocol::ObjectId;

use crate::net::{Rng, edges};
use crate::{Args, draft, percentile, procfs, round};

/// How long a node may take to print its banner.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node may take to shut down cleanly.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// One `haggle node` process on 127.0.0.1, stopped (killed if need be) when dropped.
pub(crate) struct Proc {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
}

impl Proc {
    /// A simulated network's node: a fresh data dir with the simulation's settings.
    pub(crate) fn start(haggle: &Path, args: &Args, bootstrap: &[String]) -> Result<Proc> {
        Proc::start_in(tempfile::tempdir()?, haggle, args, bootstrap)
    }

    /// As [`Proc::start`], on `dir` with whatever it holds.
    pub(crate) fn start_in(
        dir: tempfile::TempDir,
        haggle: &Path,
        args: &Args,
        bootstrap: &[String],
    ) -> Result<Proc> {
        // Every node shares 127.0.0.1, so the per-IP cap is lifted; events are buffered deep so
        // a busy reader misses none.
        let mut config = format!(
            "heartbeat_ms = {}\npow_bits = 0\nsync_secs = {}\nmax_inbound_per_ip = 1024\nevent_capacity = 16384\n",
            args.heartbeat_ms, args.sync_secs
        );
        if let Some(target) = args.target_peers {
            config.push_str(&format!("target_peers = {target}\n"));
        }
        if let Some(mib) = args.cache_mib {
            config.push_str(&format!("cache_mib = {mib}\n"));
        }
        std::fs::write(dir.path().join("config.toml"), config)?;
        Proc::spawn(haggle, dir, bootstrap)
    }

    /// Starts `haggle node` on `dir` (with whatever it holds) and waits, bounded, for its banner.
    pub(crate) fn spawn(haggle: &Path, dir: tempfile::TempDir, bootstrap: &[String]) -> Result<Proc> {
        let mut command = Command::new(haggle);
        command.arg("--data-dir").arg(dir.path()).args([
            "--json",
            "-q",
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api-listen",
            "127.0.0.1:0",
            "--no-mdns",
            "--no-upnp",
        ]);
        for addr in bootstrap {
            command.args(["--bootstrap", addr]);
        }
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().context("starting haggle node")?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let addr = rx
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| anyhow::anyhow!("a node printed no banner within {START_TIMEOUT:?}"))
            .and_then(|line| serde_json::from_str::<Value>(&line).context("the node's banner"))
            .and_then(|banner| {
                Ok(banner["listen"][0].as_str().context("a listen address in the banner")?.to_owned())
            });
        match addr {
            Ok(addr) => Ok(Proc { child, dir, addr }),
            Err(e) => {
                // Not left running on a data dir about to be deleted.
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    pub(crate) fn api(&self) -> Result<ApiClient> {
        Ok(ApiClient::for_data_dir(self.dir.path())?)
    }

    /// The address the node listens on, for others to dial.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Stops the node (as [`Proc::stop`]) and hands back its data dir, to start it again.
    pub(crate) fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        self.stop();
        let empty = tempfile::tempdir().expect("a temporary dir");
        std::mem::replace(&mut self.dir, empty)
    }

    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Stops the node: SIGTERM, then up to [`STOP_TIMEOUT`] for it to finish, then SIGKILL.
    pub(crate) fn stop(&mut self) {
        stop_all(std::slice::from_mut(self));
    }
}

/// Stops nodes together: SIGTERM to all, then up to [`STOP_TIMEOUT`] for them to finish, then
/// SIGKILL to any still running.
pub(crate) fn stop_all(nodes: &mut [Proc]) {
    for node in nodes.iter() {
        let _ = Command::new("kill").args(["-TERM", &node.pid()]).status();
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    for node in nodes.iter_mut() {
        while matches!(node.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = node.child.kill();
        let _ = node.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the steady scenario with one process per node.
pub fn run(args: &Args, haggle: &Path) -> Result<Value> {
    let mut rng = Rng::new(args.seed);
    let links = edges(args.nodes, args.degree, args.line, &mut rng);
    let started = Instant::now();
    let mut nodes: Vec<Proc> = Vec::with_capacity(args.nodes);
    for i in 0..args.nodes {
        let bootstrap: Vec<String> =
            links.iter().filter(|(_, b)| *b == i).map(|(a, _)| nodes[*a].addr.clone()).collect();
        nodes.push(Proc::start(haggle, args, &bootstrap)?);
    }
    let apis: Vec<ApiClient> = nodes.iter().map(Proc::api).collect::<Result<_>>()?;

    // One reader per node's event stream; each ends when its node stops. Each node stores each
    // listing once, so the channel holds every arrival the run can have (they are read after
    // publishing) and a reader never waits.
    let (tx, rx) = mpsc::sync_channel::<(usize, ObjectId, Instant, By)>((args.nodes * args.listings).max(1));
    let mut readers = Vec::new();
    for (i, api) in apis.iter().enumerate().filter(|_| !args.no_event_stream) {
        let (api, tx) = (api.clone(), tx.clone());
        readers.push(std::thread::spawn(move || {
            let _ = api.events(|event| {
                if let NodeEvent::ListingStored { id, by } = event {
                    return tx.send((i, id, Instant::now(), by)).is_ok();
                }
                true
            });
        }));
    }
    drop(tx);

    let deadline = Instant::now() + Duration::from_secs(120);
    for api in &apis {
        while api.status().map(|s| s.network.mesh_peers).unwrap_or(0) == 0 {
            if Instant::now() > deadline {
                bail!("the nodes did not form a mesh within 120 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let startup = started.elapsed();
    // Start-up is not over when the meshes form (connections still opening and being trimmed,
    // first syncs): it would show as the idle network's first second.
    std::thread::sleep(Duration::from_secs(args.warmup_secs));
    let cpu = |nodes: &[Proc]| nodes.iter().filter_map(|n| procfs::cpu_seconds_of(&n.pid())).sum::<f64>();

    // What the network costs with nothing published, second by second (reported, to show
    // whether it has settled).
    let mut idle_trace = Vec::new();
    let (idle_cpu0, idle_tx0, idle_packets0, idle_start) = (
        cpu(&nodes),
        procfs::loopback_tx_bytes().unwrap_or(0),
        procfs::loopback_tx_packets().unwrap_or(0),
        Instant::now(),
    );
    for second in 0..args.idle_secs {
        let (c, b) = (cpu(&nodes), procfs::loopback_tx_bytes().unwrap_or(0));
        std::thread::sleep(
            (idle_start + Duration::from_secs(second + 1)).saturating_duration_since(Instant::now()),
        );
        let (c2, b2) = (cpu(&nodes), procfs::loopback_tx_bytes().unwrap_or(0));
        idle_trace.push(
            json!({ "second": second, "cpu_ms": round((c2 - c) * 1_000.0), "bytes": b2.saturating_sub(b) }),
        );
    }
    let idle_secs = idle_start.elapsed().as_secs_f64().max(1e-3);
    let idle_cpu_per_s = (cpu(&nodes) - idle_cpu0) / idle_secs;
    let idle_bytes_per_s =
        procfs::loopback_tx_bytes().unwrap_or(0).saturating_sub(idle_tx0) as f64 / idle_secs;
    let idle_packets_per_s =
        procfs::loopback_tx_packets().unwrap_or(0).saturating_sub(idle_packets0) as f64 / idle_secs;

    let (cpu0, tx_bytes0, packets0) =
        (cpu(&nodes), procfs::loopback_tx_bytes().unwrap_or(0), procfs::loopback_tx_packets().unwrap_or(0));

    // Publish, round robin at random, through each node's API.
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let mut published: HashMap<ObjectId, (Instant, usize)> = HashMap::new();
    let mut order = Vec::new();
    procfs::mark("publishing starts");
    let publish_start = Instant::now();
    for i in 0..args.listings {
        let who = rng.below(args.nodes);
        let view = apis[who].publish(&draft(i, &mut rng))?;
        published.insert(view.id, (Instant::now(), who));
        order.push(view.id);
        let next = publish_start + interval * (i as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let last_publish = Instant::now();
    procfs::mark("publishing ends");

    // Collect arrivals until every other node has announced every listing, or the settle time.
    let wanted = args.listings * (args.nodes - 1);
    let mut first_seen: HashMap<(usize, ObjectId), (Instant, By)> = HashMap::new();
    let settle = Duration::from_secs(args.settle_secs);
    if args.no_event_stream {
        wait_for_listings(&apis, args.listings, last_publish + settle);
    }
    while !args.no_event_stream && first_seen.len() < wanted && last_publish.elapsed() < settle {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((node, id, at, by)) => {
                if published.get(&id).is_some_and(|(_, who)| *who != node) {
                    first_seen.entry((node, id)).or_insert((at, by));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let convergence = last_publish.elapsed();
    let window = publish_start.elapsed().as_secs_f64();
    let (cpu_used, tx_bytes, packets) = (
        cpu(&nodes) - cpu0,
        procfs::loopback_tx_bytes().unwrap_or(0).saturating_sub(tx_bytes0),
        procfs::loopback_tx_packets().unwrap_or(0).saturating_sub(packets0),
    );
    // The shape of the network the figures come from: peers and gossip mesh per node.
    let statuses: Vec<_> = apis.iter().filter_map(|api| api.status().ok()).collect();
    let mean = |f: &dyn Fn(&haggle_node::api::types::NetworkStatus) -> usize| {
        statuses.iter().map(|s| f(&s.network)).sum::<usize>() as f64 / statuses.len().max(1) as f64
    };
    let (peers_mean, mesh_mean) = (mean(&|n| n.connected_peers), mean(&|n| n.mesh_peers));
    let rss: u64 = nodes.iter().filter_map(|n| procfs::status_kib(&n.pid(), "VmHWM")).sum();
    let rss_now: u64 = nodes.iter().filter_map(|n| procfs::status_kib(&n.pid(), "VmRSS")).sum();

    // What nodes hold without having announced it is reported, never counted as a delivery.
    let mut held_unseen = 0usize;
    let mut lost = 0usize;
    for (n, api) in apis.iter().enumerate() {
        for id in &order {
            if published[id].1 == n || first_seen.contains_key(&(n, *id)) {
                continue;
            }
            match api.object(&id.to_hex()) {
                Ok(_) => held_unseen += 1,
                Err(_) => lost += 1,
            }
        }
    }
    stop_all(&mut nodes);
    for reader in readers {
        let _ = reader.join();
    }

    let mut latencies: Vec<Duration> = Vec::new();
    let mut by_sync = 0usize;
    let mut spread: Vec<Duration> = Vec::new();
    let seen: HashSet<ObjectId> = first_seen.keys().map(|(_, id)| *id).collect();
    for id in &order {
        let (t0, who) = published[id];
        let mut worst = Duration::ZERO;
        let mut everywhere = true;
        for n in (0..args.nodes).filter(|n| *n != who) {
            match first_seen.get(&(n, *id)) {
                Some(&(at, by)) => {
                    let d = at.saturating_duration_since(t0);
                    latencies.push(d);
                    by_sync += usize::from(by == By::Sync);
                    worst = worst.max(d);
                }
                None => everywhere = false,
            }
        }
        if everywhere && seen.contains(id) {
            spread.push(worst);
        }
    }
    latencies.sort();
    spread.sort();
    let streamed = !args.no_event_stream;
    Ok(json!({
        "scenario": "steady",
        "processes": true,
        "nodes": args.nodes,
        "topology": if args.line { "line".to_owned() } else { format!("random, degree {}", args.degree) },
        "listings": args.listings,
        "rate_per_s": args.rate,
        "heartbeat_ms": args.heartbeat_ms,
        "sync_secs": args.sync_secs,
        "seed": args.seed,
        "startup_to_mesh_s": round(startup.as_secs_f64()),
        "warmup_s": args.warmup_secs,
        "delivered_ratio": round((latencies.len() + held_unseen) as f64 / wanted as f64),
        "lost_pairs": lost,
        // Without event streams no arrival is seen: these say nothing, and are left out.
        "arrived_unseen": streamed.then_some(held_unseen),
        "arrivals_by_gossip": streamed.then_some(latencies.len() - by_sync),
        "arrivals_by_sync": streamed.then_some(by_sync),
        "measurement_complete": streamed.then_some(held_unseen == 0),
        "convergence_after_last_publish_s": streamed.then(|| round(convergence.as_secs_f64())),
        "latency_ms_p50": round(percentile(&latencies, 0.50)),
        "latency_ms_p95": round(percentile(&latencies, 0.95)),
        "latency_ms_p99": round(percentile(&latencies, 0.99)),
        "latency_ms_max": round(latencies.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1_000.0)),
        "everywhere_ms_p99": round(percentile(&spread, 0.99)),
        "connected_peers_mean": round(peers_mean),
        "mesh_peers_mean": round(mesh_mean),
        "loopback_bytes_per_node_per_listing": tx_bytes / (args.nodes * args.listings).max(1) as u64,
        "loopback_packets_per_node_per_listing": round(packets as f64 / (args.nodes * args.listings).max(1) as f64),
        "net_of_idle_packets_per_node_per_listing":
            round((packets as f64 - idle_packets_per_s * window).max(0.0) / (args.nodes * args.listings).max(1) as f64),
        "cpu_s_all_nodes": round(cpu_used),
        "cpu_ms_per_listing_per_node": round(cpu_used * 1_000.0 / wanted.max(1) as f64),
        "peak_rss_mib_all_nodes": rss / 1_048_576,
        "rss_mib_all_nodes_at_end": rss_now / 1_048_576,
        "target_peers": args.target_peers,
        "event_stream": streamed,
        "idle_trace_all_nodes": idle_trace,
        "idle_cpu_ms_per_node_per_s": round(idle_cpu_per_s * 1_000.0 / args.nodes as f64),
        "idle_loopback_bytes_per_node_per_s": (idle_bytes_per_s / args.nodes as f64) as u64,
        "net_of_idle_cpu_ms_per_listing_per_node":
            round((cpu_used - idle_cpu_per_s * window).max(0.0) * 1_000.0 / wanted.max(1) as f64),
        "net_of_idle_bytes_per_node_per_listing":
            ((tx_bytes as f64 - idle_bytes_per_s * window).max(0.0) / (args.nodes * args.listings).max(1) as f64) as u64,
    }))
}

/// Without event streams: waits until every node's store holds `listings` active listings (the
/// simulation's own; the nodes start empty), or the deadline. Each node is asked every 200 ms
/// until it has them all, so a converged network costs one status request per node.
fn wait_for_listings(apis: &[ApiClient], listings: usize, deadline: Instant) {
    let mut waiting: Vec<&ApiClient> = apis.iter().collect();
    while !waiting.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        waiting.retain(|api| api.status().map_or(true, |s| s.store.active_listings < listings));
    }
}
