//! Prometheus metrics, served at `GET /metrics` on the local API (behind its token): what
//! arrives from the network and what became of it, per kind and channel; object bytes by
//! channel; ingest and search latency; and, read when scraped, peers, sync sessions, the
//! store's size and the outbox. `haggle status` stays the human summary.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use haggle_protocol::ObjectKind;

use crate::service::{Received, Via};

/// The channel an object arrived by, as a label value.
fn channel(via: Via) -> &'static str {
    match via {
        Via::Gossip => "gossip",
        Via::Sync => "sync",
        Via::Direct => "direct",
        Via::Mail => "mail",
    }
}

/// What became of an object from the network, as a label value: `accepted` (new here), `known`
/// (held already), `rejected` (the sender's fault: bad bytes, signature or rules), `ignored`
/// (not the sender's fault: expired, early, dated ahead, without the work asked), `failed`
/// (this node could not store it).
fn fate(received: &Received) -> &'static str {
    match received {
        Received::New => "accepted",
        Received::Known => "known",
        Received::Refused { peer_fault: true, .. } => "rejected",
        Received::Refused { peer_fault: false, .. } => "ignored",
        Received::Failed => "failed",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    kind: &'static str,
    via: &'static str,
    fate: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    via: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    answer: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    path: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The node's metrics. Cheap to clone (every handle is shared).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    objects: Family<ObjectLabels, Counter>,
    object_bytes: Family<ChannelLabels, Counter>,
    ingest_seconds: Family<ChannelLabels, Histogram>,
    search_seconds: Histogram,
    file_answers: Family<AnswerLabels, Counter>,
    file_requests: Family<AnswerLabels, Counter>,
    /// Negotiation messages delivered, by path (`direct`, `relayed`, `mailbox`), raised to the
    /// node's counts when scraped.
    deliveries: Family<PathLabels, Counter>,
    /// 1 for the node's reachability now (`public`, `private`, `unknown`), 0 for the others.
    reachability: Family<StateLabels, Gauge>,
    /// Hole punches, `succeeded` and `failed`, raised to the event loop's counts when scraped.
    hole_punches: Family<ResultLabels, Counter>,
    /// Read when scraped.
    pub(crate) gauges: Gauges,
}

/// Values read when scraped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gauges {
    pub peers: Gauge,
    pub mesh_peers: Gauge,
    pub syncing: Gauge,
    /// A counter, though read when scraped: the event loop counts the sessions it starts, and a
    /// scrape raises this to that count (never lowers it).
    pub syncs_started: Counter,
    pub unpublished: Gauge,
    pub listings: Gauge,
    pub sync_set: Gauge,
    pub disk_bytes: Gauge,
    pub index_bytes: Gauge,
    pub outbox_pending: Gauge,
    pub file_bytes: Gauge,
    pub file_cache_bytes: Gauge,
    /// This node's clock minus its peers' (0 while there is no estimate: see `clock_peers`).
    pub clock_skew: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub clock_peers: Gauge,
    pub clock_agreeing: Gauge,
    pub clock_authors: Gauge,
    /// Raised to the event loop's count when scraped, like `syncs_started`.
    pub refused_ahead: Counter,
    /// Relays holding a reservation for this node.
    pub relay_reservations: Gauge,
    /// 1 while this node relays for others.
    pub relaying: Gauge,
}

/// Latency buckets from 50 µs to about 3.3 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 17)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in its own registry (prefix `haggle`).
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("haggle");
        let objects = Family::<ObjectLabels, Counter>::default();
        registry.register(
            "objects_received",
            "Objects from the network, by kind, channel and what became of them",
            objects.clone(),
        );
        let object_bytes = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "object_bytes_received",
            "Bytes of objects from the network, by channel",
            object_bytes.clone(),
        );
        let ingest_seconds =
            Family::<ChannelLabels, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        registry.register(
            "ingest_seconds",
            "Time to check and store what one arrival brought (one object, or one sync batch)",
            ingest_seconds.clone(),
        );
        let search_seconds = Histogram::new(latency_buckets());
        registry.register("search_seconds", "Time to answer a search", search_seconds.clone());
        let gauges = Gauges::default();
        registry.register("peers", "Peers connected", gauges.peers.clone());
        registry.register(
            "mesh_peers",
            "Peers in the gossip mesh of the listings topic",
            gauges.mesh_peers.clone(),
        );
        registry.register("sync_sessions", "Sync sessions this node runs now", gauges.syncing.clone());
        registry.register(
            "sync_sessions_started",
            "Sync sessions this node started (it dialled a peer it had no direct connection to, or the periodic sync)",
            gauges.syncs_started.clone(),
        );
        registry.register(
            "unpublished",
            "Own objects waiting for a peer to gossip to",
            gauges.unpublished.clone(),
        );
        registry.register("listings", "Listings held (current revisions)", gauges.listings.clone());
        registry.register("sync_set", "Public objects in the reconciliation set", gauges.sync_set.clone());
        registry.register("store_disk_bytes", "The database's size on disk", gauges.disk_bytes.clone());
        registry.register("store_index_bytes", "The search index's size on disk", gauges.index_bytes.clone());
        registry.register(
            "outbox_pending",
            "Own negotiation messages not yet delivered",
            gauges.outbox_pending.clone(),
        );
        let file_answers = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "file_answers_received",
            "Answers to this node's file requests: verified (every group matched the hash), corrupt (penalised), missing, busy, failed (no answer)",
            file_answers.clone(),
        );
        let file_requests = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "file_requests_served",
            "Peers' file requests, by answer: data, missing, busy",
            file_requests.clone(),
        );
        registry.register("file_bytes", "Bytes of complete files held", gauges.file_bytes.clone());
        registry.register(
            "file_cache_bytes",
            "Bytes of complete files held that are other people's (what the file budget limits; bought goods count but are never dropped)",
            gauges.file_cache_bytes.clone(),
        );
        registry.register(
            "clock_skew_seconds",
            "This node's clock minus its connected peers' (the median of what they sent fresh in the last hour; positive: ahead), valid when clock_peers is above 0",
            gauges.clock_skew.clone(),
        );
        registry.register(
            "clock_peers",
            "Connected peers the clock estimate comes from",
            gauges.clock_peers.clone(),
        );
        registry.register(
            "clock_agreeing_peers",
            "Of those, the peers whose clocks read within a minute of the estimate",
            gauges.clock_agreeing.clone(),
        );
        registry.register(
            "clock_authors",
            "The authors of the objects the clock estimate comes from",
            gauges.clock_authors.clone(),
        );
        registry.register(
            "objects_refused_ahead",
            "Distinct signed objects that came by gossip or directly and were refused because they were dated more than 5 minutes ahead of this node's clock",
            gauges.refused_ahead.clone(),
        );
        let deliveries = Family::<PathLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Own negotiation messages delivered since start, by path: direct, relayed (through a relay), mailbox (through other nodes while the party was away; counted at its receipt)",
            deliveries.clone(),
        );
        let reachability = Family::<StateLabels, Gauge>::default();
        registry.register(
            "reachability",
            "Whether peers can dial this node: 1 for the state it is in (public, private, unknown), 0 for the others",
            reachability.clone(),
        );
        let hole_punches = Family::<ResultLabels, Counter>::default();
        registry.register(
            "hole_punches",
            "Relayed connections this node tried to turn into direct ones, by result: succeeded, failed",
            hole_punches.clone(),
        );
        registry.register(
            "relay_reservations",
            "Relays holding a reservation for this node (a private node is reached through them)",
            gauges.relay_reservations.clone(),
        );
        registry.register("relaying", "1 while this node relays for others, else 0", gauges.relaying.clone());
        Metrics {
            registry: Arc::new(registry),
            objects,
            object_bytes,
            ingest_seconds,
            search_seconds,
            file_answers,
            file_requests,
            deliveries,
            reachability,
            hole_punches,
            gauges,
        }
    }

    /// Sets the reachability and relay figures from the event loop's view.
    pub(crate) fn reach(&self, network: &crate::api::types::NetworkStatus) {
        use crate::api::types::Reachability;
        // Raised to the node's counts, never lowered (scrapes may run at once).
        let raise = |counter: &Counter, to: u64| {
            counter.inner().fetch_max(to, std::sync::atomic::Ordering::Relaxed);
        };
        let delivered = network.delivered;
        for (path, n) in
            [("direct", delivered.direct), ("relayed", delivered.relayed), ("mailbox", delivered.mailbox)]
        {
            raise(&self.deliveries.get_or_create(&PathLabels { path }), n);
        }
        let punches = network.hole_punches;
        for (result, n) in [("succeeded", punches.succeeded), ("failed", punches.failed)] {
            raise(&self.hole_punches.get_or_create(&ResultLabels { result }), n);
        }
        for (state, is) in [
            ("public", Reachability::Public),
            ("private", Reachability::Private),
            ("unknown", Reachability::Unknown),
        ] {
            self.reachability
                .get_or_create(&StateLabels { state })
                .set(i64::from(network.reachability == is));
        }
        self.gauges.relay_reservations.set(i64::try_from(network.relays.len()).unwrap_or(i64::MAX));
        self.gauges.relaying.set(i64::from(network.relaying));
    }

    /// Counts one object from the network: `kind` is `None` for bytes that did not decode.
    pub(crate) fn received(&self, kind: Option<ObjectKind>, via: Via, bytes: usize, what: &Received) {
        let kind = kind.map_or("undecodable", ObjectKind::as_str);
        self.objects.get_or_create(&ObjectLabels { kind, via: channel(via), fate: fate(what) }).inc();
        self.object_bytes.get_or_create(&ChannelLabels { via: channel(via) }).inc_by(bytes as u64);
    }

    /// Records how long taking in one arrival took.
    pub(crate) fn ingested(&self, via: Via, took: Duration) {
        self.ingest_seconds.get_or_create(&ChannelLabels { via: channel(via) }).observe(took.as_secs_f64());
    }

    /// Counts one answer to a file request of this node's: `verified`, `corrupt`, `missing`,
    /// `busy` or `failed`.
    pub(crate) fn file_answer(&self, answer: &'static str) {
        self.file_answers.get_or_create(&AnswerLabels { answer }).inc();
    }

    /// Counts one peer's file request answered: `data`, `missing` or `busy`.
    pub(crate) fn file_request(&self, answer: &'static str) {
        self.file_requests.get_or_create(&AnswerLabels { answer }).inc();
    }

    /// Raises the count of sync sessions started to `started` (the event loop's own count). A
    /// maximum, not an addition, so scrapes that run at once cannot count a session twice.
    pub(crate) fn syncs_started(&self, started: u64) {
        self.gauges.syncs_started.inner().fetch_max(started, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets the clock estimate's gauges from the event loop's view.
    pub(crate) fn clock(&self, clock: &crate::api::types::ClockView) {
        let gauges = &self.gauges;
        gauges.clock_skew.set(clock.skew_ms.map_or(0.0, |ms| ms as f64 / 1_000.0));
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        gauges.clock_peers.set(count(clock.peers));
        gauges.clock_agreeing.set(count(clock.agreeing));
        gauges.clock_authors.set(count(clock.authors));
        gauges.refused_ahead.inner().fetch_max(clock.refused_ahead, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records how long a search took.
    pub(crate) fn searched(&self, took: Duration) {
        self.search_seconds.observe(took.as_secs_f64());
    }

    /// The metrics in the Prometheus text format (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_format() {
        let m = Metrics::new();
        m.received(Some(ObjectKind::Listing), Via::Gossip, 300, &Received::New);
        m.received(None, Via::Sync, 7, &Received::Failed);
        m.ingested(Via::Gossip, Duration::from_millis(2));
        m.searched(Duration::from_micros(700));
        m.gauges.peers.set(3);
        m.syncs_started(4);
        m.syncs_started(2);
        m.file_answer("corrupt");
        m.file_request("data");
        m.file_request("data");
        let text = m.encode();
        for line in [
            "haggle_objects_received_total{kind=\"listing\",via=\"gossip\",fate=\"accepted\"} 1",
            "haggle_objects_received_total{kind=\"undecodable\",via=\"sync\",fate=\"failed\"} 1",
            "haggle_object_bytes_received_total{via=\"gossip\"} 300",
            "haggle_peers 3",
            "# TYPE haggle_sync_sessions_started counter",
            "haggle_sync_sessions_started_total 4",
            "haggle_search_seconds_count 1",
            "haggle_file_answers_received_total{answer=\"corrupt\"} 1",
            "haggle_file_requests_served_total{answer=\"data\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
