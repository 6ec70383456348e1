//! Test harness for multi-node tests: real nodes on 127.0.0.1 with temporary data dirs, talked to
//! through their real API. Every wait is bounded and waits for an event or a condition, never a
//! fixed time.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use haggle_node::ApiClient;
use haggle_node::{NodeConfig, NodeEvent, RunningNode};

pub mod dht;
pub mod rogue;

/// Bound on any single wait in a test.
pub const STEP: Duration = Duration::from_secs(30);

/// One node under test.
#[derive(Debug)]
pub struct TestNode {
    pub name: &'static str,
    pub node: RunningNode,
    pub events: broadcast::Receiver<NodeEvent>,
    dir: PathBuf,
    shutdown: CancellationToken,
}

impl TestNode {
    /// Starts a node on `dir` that dials `bootstrap` (multiaddrs with /p2p/).
    pub async fn start(name: &'static str, dir: &Path, bootstrap: Vec<String>) -> Result<TestNode> {
        Self::start_with(name, dir, NodeConfig { bootstrap, ..NodeConfig::for_tests() }).await
    }

    /// Starts a node on `dir` with its own configuration.
    pub async fn start_with(name: &'static str, dir: &Path, config: NodeConfig) -> Result<TestNode> {
        let shutdown = CancellationToken::new();
        let mut node = haggle_node::start(dir, config, shutdown.clone())
            .await
            .with_context(|| format!("starting {name}"))?;
        let events = node.take_events().context("events from the start")?;
        Ok(TestNode { name, node, events, dir: dir.to_owned(), shutdown })
    }

    /// Two nodes, B bootstrapped to A, with no periodic sync: every sync session counted is one
    /// a connection started.
    pub async fn pair_without_periodic_sync(a_dir: &Path, b_dir: &Path) -> Result<(TestNode, TestNode)> {
        let quiet = || NodeConfig { sync_secs: 3_600, ..NodeConfig::for_tests() };
        let a = Self::start_with("A", a_dir, quiet()).await?;
        let b = Self::start_with("B", b_dir, NodeConfig { bootstrap: vec![a.addr()], ..quiet() }).await?;
        Ok((a, b))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The address other nodes bootstrap from.
    pub fn addr(&self) -> String {
        self.node.dial_addr().expect("a listen address").to_string()
    }

    pub fn api(&self) -> Result<ApiClient> {
        Ok(ApiClient::for_data_dir(&self.dir)?)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        let api = self.api()?;
        let path = path.to_owned();
        Ok(tokio::task::spawn_blocking(move || api.get::<Value>(&path)).await??)
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let api = self.api()?;
        let path = path.to_owned();
        Ok(tokio::task::spawn_blocking(move || api.post::<Value, Value>(&path, &body)).await??)
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Value> {
        let api = self.api()?;
        let path = path.to_owned();
        Ok(tokio::task::spawn_blocking(move || api.patch::<Value, Value>(&path, &body)).await??)
    }

    /// `GET /metrics`, with the token: the Prometheus text.
    pub async fn metrics(&self) -> Result<String> {
        let url = format!("http://{}/metrics", self.node.api_addr);
        let token = self.node.cookie()?;
        tokio::task::spawn_blocking(move || -> Result<String> {
            let mut response = ureq::get(url).header("Authorization", format!("Bearer {token}")).call()?;
            Ok(response.body_mut().read_to_string()?)
        })
        .await?
    }

    /// Waits (bounded) for an event matching `pred`, skipping others.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&NodeEvent) -> bool) -> Result<NodeEvent> {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => bail!("{}: timed out after {STEP:?} waiting for {what}", self.name),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(e)) => bail!("{}: event stream ended waiting for {what}: {e}", self.name),
                Ok(Ok(event)) if pred(&event) => return Ok(event),
                Ok(Ok(_)) => continue,
            }
        }
    }

    /// Waits until this node stored the listing revision `id` from the network.
    pub async fn wait_listing(&mut self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.wait_for(
            &format!("listing {id}"),
            |e| matches!(e, NodeEvent::ListingStored { id: got, .. } if got.to_hex() == id),
        )
        .await
        .map(|_| ())
    }

    /// Waits (bounded) until the node's gossip mesh holds at least `n` peers.
    pub async fn wait_mesh(&self, n: usize) -> Result<()> {
        wait_until(&format!("{} to have {n} mesh peers", self.name), || async {
            self.node.handle.status().await.map(|s| s.mesh_peers >= n).unwrap_or(false)
        })
        .await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.node.wait().await;
    }
}

/// Polls `check` until it holds, at most [`STEP`]; between checks it yields for a short moment
/// (this waits on a condition, bounded, rather than sleeping a fixed time).
pub async fn wait_until<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + STEP;
    let mut pause = Duration::from_millis(10);
    loop {
        if check().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {STEP:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Waits for a deal step of `step`, signed by the other party, on `node`.
pub async fn step_arrives(node: &mut TestNode, step: &'static str) -> Result<()> {
    node.wait_for(step, |e| matches!(e, NodeEvent::DealStep { step: s, mine: false, .. } if s == step))
        .await?;
    Ok(())
}

/// A listing draft for the API.
pub fn draft(title: &str, price: &str) -> Value {
    serde_json::json!({
        "kind": "sell",
        "title": title,
        "description": "Test listing",
        "category": "vehicles/bikes",
        "tags": ["test"],
        "price": price,
        "currency": "EUR",
        "quantity": 1,
        "location": "Ghent",
    })
}

/// The `id` field of an API answer.
pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}
