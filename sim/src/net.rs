//! Starting many real nodes in this process and wiring them into a topology.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use haggle_node::{NodeConfig, NodeEvent, RunningNode};

/// A small deterministic generator: the same seed gives the same topology, publishers and
/// listings.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Which nodes dial which: an edge `(a, b)` with `a < b` means node `b` dials node `a`.
pub fn edges(n: usize, degree: usize, line: bool, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut edges: Vec<(usize, usize)> = (1..n).map(|i| (i - 1, i)).collect();
    if line || n < 3 {
        return edges;
    }
    edges.push((0, n - 1));
    let target = n * degree / 2;
    let mut tries = 0;
    while edges.len() < target && tries < target * 20 {
        tries += 1;
        let (a, b) = (rng.below(n), rng.below(n));
        let e = (a.min(b), a.max(b));
        if a != b && !edges.contains(&e) {
            edges.push(e);
        }
    }
    edges
}

/// One node of the simulation.
#[derive(Debug)]
pub struct SimNode {
    pub node: Option<RunningNode>,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

/// What every simulated node is started with.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// gossipsub heartbeat.
    pub heartbeat_ms: u64,
    /// Seconds between catch-up syncs.
    pub sync_secs: u64,
    /// The network's proof-of-work base (0: none).
    pub pow_bits: u32,
}

pub fn config(bootstrap: Vec<String>, tuning: Tuning) -> NodeConfig {
    // Every simulated node shares 127.0.0.1, so the per-IP cap is lifted to the node count.
    NodeConfig {
        bootstrap,
        heartbeat_ms: tuning.heartbeat_ms,
        pow_bits: tuning.pow_bits,
        sync_secs: tuning.sync_secs,
        max_inbound_per_ip: 1_024,
        // A saturated machine may leave the simulation's event readers behind for a while;
        // every arrival must be seen to be measured.
        event_capacity: 16_384,
        ..NodeConfig::for_tests()
    }
}

impl SimNode {
    pub async fn start(
        index: usize,
        dir: tempfile::TempDir,
        bootstrap: Vec<String>,
        tuning: Tuning,
    ) -> Result<(SimNode, broadcast::Receiver<NodeEvent>)> {
        let shutdown = CancellationToken::new();
        let mut node = haggle_node::start(dir.path(), config(bootstrap, tuning), shutdown.clone())
            .await
            .with_context(|| format!("starting node {index}"))?;
        let events = node.take_events().context("events")?;
        Ok((SimNode { node: Some(node), dir, shutdown }, events))
    }

    pub fn node(&self) -> &RunningNode {
        self.node.as_ref().expect("running")
    }

    pub fn addr(&self) -> String {
        self.node().dial_addr().map(|a| a.to_string()).unwrap_or_default()
    }

    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            self.shutdown.cancel();
            node.wait().await;
        }
    }

    pub async fn restart(
        &mut self,
        bootstrap: Vec<String>,
        tuning: Tuning,
    ) -> Result<broadcast::Receiver<NodeEvent>> {
        self.shutdown = CancellationToken::new();
        let mut node =
            haggle_node::start(self.dir.path(), config(bootstrap, tuning), self.shutdown.clone()).await?;
        let events = node.take_events().context("events")?;
        self.node = Some(node);
        Ok(events)
    }
}

/// Waits (bounded) until every running node has at least one gossip mesh peer.
pub async fn wait_for_mesh(nodes: &[SimNode], limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let mut ready = true;
        for n in nodes.iter().filter(|n| n.node.is_some()) {
            if n.node().handle.status().await.map(|s| s.mesh_peers == 0).unwrap_or(true) {
                ready = false;
                break;
            }
        }
        if ready {
            return Ok(start.elapsed());
        }
        anyhow::ensure!(start.elapsed() < limit, "the gossip mesh did not form within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
