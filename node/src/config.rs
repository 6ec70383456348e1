//! Node configuration: one serde struct, every field documented, defaults for a home node.

use std::net::SocketAddr;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::error::BadAddress;

/// The peer-to-peer port a home node listens on by default (TCP and QUIC/UDP). Open it in the
/// router to be reachable from outside.
pub const DEFAULT_P2P_PORT: u16 = 7400;

/// The store's budget by default, in listings: at the measured 1.3-1.4 KB of disk per listing
/// (database and index, at 100,000 listings) about 0.7 GB, a fair share of a home machine's disk.
pub const DEFAULT_MAX_LISTINGS: usize = 500_000;

/// The local API's default port.
pub const DEFAULT_API_PORT: u16 = 7401;

/// Everything a node needs besides its data dir, as `config.toml` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Peer-to-peer listen addresses (multiaddrs), e.g. `/ip4/0.0.0.0/tcp/7400`.
    pub listen: Vec<String>,
    /// Peers to connect to at start, as multiaddrs ending in `/p2p/<PeerId>`.
    pub bootstrap: Vec<String>,
    /// Find peers on the local network with mDNS.
    pub mdns: bool,
    /// Where the local API listens. Loopback unless `api_public` is set.
    pub api: SocketAddr,
    /// Allow the API on an address other machines can reach (it still requires the cookie).
    pub api_public: bool,
    /// gossipsub heartbeat in milliseconds (tests use a short one to form meshes quickly).
    pub heartbeat_ms: u64,
    /// How often queued negotiation messages are retried, in seconds.
    pub retry_secs: u64,
    /// How often expired listings are swept from disk, in seconds.
    pub sweep_secs: u64,
    /// How often the node syncs with a random connected peer, in seconds (it also syncs with
    /// every peer it connects to).
    pub sync_secs: u64,
    /// First wait, in seconds, before redialling a wanted peer after a failed dial or a lost
    /// connection; it doubles with each failure.
    pub redial_min_secs: u64,
    /// Longest wait, in seconds, between attempts to dial a wanted peer.
    pub redial_max_secs: u64,
    /// Inbound connections (handshaking or established) one remote IP address may have at once.
    pub max_inbound_per_ip: usize,
    /// Connections the node keeps: above one and a half times this many it closes the least
    /// useful (never a gossip mesh peer, a bootstrap peer, the other party of a queued message,
    /// a peer it is syncing or exchanging requests with, or one connected for under 10 s),
    /// and it redials peers it lost only while below it. 0 keeps every connection; 1 and 2 count
    /// as 3 (below 3 connections a node looks for more).
    pub target_peers: usize,
    /// The network's proof-of-work base in bits (every node of a network must use the same):
    /// what this node pays on the objects it signs and asks of those it receives. 0 asks for
    /// none (test networks); at most 32.
    pub pow_bits: u32,
    /// The store's budget in listings: past it, others' listings are evicted (soonest to expire
    /// first; never the owner's, nor one with a thread or a deal here).
    pub max_listings: usize,
    /// Budget in MiB for other people's files (pictures fetched when looked at, thumbnails):
    /// past it, the least recently used go first. The owner's own files and those of deals do
    /// not count and are never dropped.
    pub blob_budget_mib: u64,
    /// The database's page cache, in MiB (sled counts a page by its size on disk, so the pages
    /// held take more memory than this). Less holds a busy node's memory down; it costs ingest
    /// speed, since pages are read back from the file more often (16 held 37-49 MiB less than
    /// 64 after a load of 20,000 listings on 100,000, and ingested a sixth slower).
    pub cache_mib: u64,
    /// Hand a digital good's key to its buyer by itself as soon as the buyer says it paid your
    /// payment request (true), or only when you run `haggle deliver DEAL`, after checking the
    /// money arrived (false). Free files go at once either way.
    pub deliver_on_paid: bool,
    /// Events buffered for each event-stream subscriber (`haggle watch`, the API's
    /// `/v1/events`) before the slowest misses the oldest (and is told how many it missed).
    pub event_capacity: usize,
    /// Ask the router for a port mapping (UPnP IGD), so peers can dial in. Off for routers
    /// without UPnP makes no difference; turn it off where multicast is unwelcome.
    pub upnp: bool,
    /// Carry other nodes' connections (circuit relay v2), so two nodes behind NATs can reach
    /// each other and then punch a direct connection: `auto` (only while this node is
    /// confirmed reachable from the internet), `on`, or `off`.
    pub relay: RelayMode,
    /// Relay limits, for a home machine: reservations held for private nodes at once.
    pub relay_max_reservations: usize,
    /// Relayed connections carried at once.
    pub relay_max_circuits: usize,
    /// Longest life of one relayed connection, in seconds (two nodes use it to punch a direct
    /// one, or to exchange a few negotiation messages).
    pub relay_circuit_secs: u64,
    /// Most bytes one relayed connection may carry, in KiB.
    pub relay_circuit_kib: u64,
    /// Keys (PeerIds, as `haggle status` shows them) whose judgement this node's owner trusts
    /// like its own: reputation's anchors besides the owner (see docs/ARCHITECTURE.md).
    pub trusted_keys: Vec<String>,
    /// How far the web of trust reaches, in deals from the owner and the trusted keys.
    pub trust_hops: u32,
    /// Threads running the node's network tasks (0: one per core). The swarm is one task and
    /// store work runs on a pool of its own, so one thread serves a home node; more only add
    /// hand-offs between threads (in the 50-node simulation one used about a tenth less CPU per
    /// listing than two).
    pub worker_threads: usize,
}

/// The most `worker_threads` a node takes: more only add hand-offs, and each costs a stack.
pub const MAX_WORKER_THREADS: usize = 64;

/// Whether this node relays for others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RelayMode {
    /// Relay only while this node has a confirmed public address.
    #[default]
    Auto,
    /// Always offer to relay.
    On,
    /// Never relay.
    Off,
}

impl std::str::FromStr for RelayMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(RelayMode::Auto),
            "on" => Ok(RelayMode::On),
            "off" => Ok(RelayMode::Off),
            other => Err(format!("relay mode must be auto, on or off, not {other:?}")),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: vec![
                format!("/ip4/0.0.0.0/tcp/{DEFAULT_P2P_PORT}"),
                format!("/ip4/0.0.0.0/udp/{DEFAULT_P2P_PORT}/quic-v1"),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            api: SocketAddr::from(([127, 0, 0, 1], DEFAULT_API_PORT)),
            api_public: false,
            heartbeat_ms: 1_000,
            retry_secs: 15,
            sweep_secs: 600,
            sync_secs: 60,
            redial_min_secs: 2,
            redial_max_secs: 300,
            max_inbound_per_ip: 8,
            target_peers: 16,
            pow_bits: haggle_protocol::work::DEFAULT_BASE_BITS,
            max_listings: DEFAULT_MAX_LISTINGS,
            blob_budget_mib: 1_024,
            cache_mib: haggle_storage::DEFAULT_CACHE_MIB,
            deliver_on_paid: true,
            event_capacity: 1_024,
            upnp: true,
            relay: RelayMode::Auto,
            relay_max_reservations: 32,
            relay_max_circuits: 16,
            relay_circuit_secs: 120,
            relay_circuit_kib: 1_024,
            trusted_keys: Vec::new(),
            trust_hops: 2,
            worker_threads: 1,
        }
    }
}

impl NodeConfig {
    /// The settings that differ from the defaults, as `key = value` by name, apart
    /// from those `haggle status` shows anyway (`shown`) and the addresses (`listen`,
    /// `bootstrap`, `api`, which it shows as the node uses them): so an operator can check, after
    /// a restart, that what `config.toml` says took effect (from a trial).
    pub fn changed_settings(&self, shown: &[&str]) -> Vec<String> {
        let (Ok(serde_json::Value::Object(mine)), Ok(serde_json::Value::Object(default))) =
            (serde_json::to_value(self), serde_json::to_value(NodeConfig::default()))
        else {
            return Vec::new();
        };
        mine.into_iter()
            .filter(|(key, _)| {
                !shown.contains(&key.as_str()) && !["listen", "bootstrap", "api"].contains(&key.as_str())
            })
            .filter(|(key, value)| default.get(key) != Some(value))
            .map(|(key, value)| format!("{key} = {value}"))
            .collect()
    }

    /// A node for tests: TCP on a free loopback port, API on a free loopback port, no mDNS, a
    /// fast heartbeat and retry.
    pub fn for_tests() -> Self {
        NodeConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            bootstrap: Vec::new(),
            mdns: false,
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_public: false,
            heartbeat_ms: 200,
            retry_secs: 1,
            sweep_secs: 600,
            sync_secs: 5,
            redial_min_secs: 1,
            redial_max_secs: 4,
            max_inbound_per_ip: 8,
            pow_bits: 0,
            max_listings: DEFAULT_MAX_LISTINGS,
            event_capacity: 1_024,
            upnp: false,
            ..NodeConfig::default()
        }
    }

    /// The gossipsub heartbeat (at least 50 ms).
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.max(50))
    }

    /// How often queued negotiation messages are retried (at least 1 s).
    pub fn retry_interval(&self) -> Duration {
        Duration::from_secs(self.retry_secs.max(1))
    }

    /// How often the node syncs with a random peer (at least 1 s).
    pub fn sync_interval(&self) -> Duration {
        Duration::from_secs(self.sync_secs.max(1))
    }

    /// The first redial wait (at least 1 s).
    pub fn redial_min(&self) -> Duration {
        Duration::from_secs(self.redial_min_secs.max(1))
    }

    /// The longest redial wait (at least the first).
    pub fn redial_max(&self) -> Duration {
        Duration::from_secs(self.redial_max_secs.max(self.redial_min_secs).max(1))
    }

    /// How often expired listings are swept (at least 10 s).
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_secs.max(10))
    }

    /// The bootstrap peers, parsed.
    pub fn bootstrap_peers(&self) -> Result<Vec<(PeerId, Multiaddr)>, BadAddress> {
        self.bootstrap.iter().map(|addr| bootstrap_peer(addr)).collect()
    }
}

/// Parses a listen address: one of this machine's, without a peer id (the node's own is added).
pub fn listen_addr(addr: &str) -> Result<Multiaddr, BadAddress> {
    let multiaddr: Multiaddr =
        addr.parse().map_err(|source| BadAddress::Parse { addr: addr.to_owned(), source })?;
    // Relays are found and listened through by the node itself (a relay's address given here
    // would have to be up before the node could start, and nothing would listen again once its
    // reservation ended).
    if multiaddr.iter().any(|p| matches!(p, Protocol::P2p(_))) {
        return Err(BadAddress::ListenPeerId { addr: addr.to_owned() });
    }
    // UDP alone is no transport here: QUIC runs over it.
    if matches!(multiaddr.iter().last(), Some(Protocol::Udp(_))) {
        return Err(BadAddress::UdpWithoutQuic { addr: addr.to_owned() });
    }
    Ok(multiaddr)
}

/// Parses a bootstrap address, which must end in `/p2p/<PeerId>`. A node's PeerId holds its
/// ed25519 key; base58 has no checksum, so a mistyped one often still parses, and is caught
/// here when its key bytes are not a point on the curve (else the node would dial it for ever,
/// each handshake failing on the peer id).
pub fn bootstrap_peer(addr: &str) -> Result<(PeerId, Multiaddr), BadAddress> {
    let multiaddr: Multiaddr = addr.parse().map_err(|source| {
        // The address before the peer id is fine: the peer id is what is wrong.
        let peer_id_wrong = addr.rsplit_once("/p2p/").is_some_and(|(base, rest)| {
            let id = rest.split('/').next().unwrap_or_default();
            base.parse::<Multiaddr>().is_ok() && id.parse::<PeerId>().is_err()
        });
        match peer_id_wrong {
            true => BadAddress::NotAKey { addr: addr.to_owned() },
            false => BadAddress::BootstrapParse { addr: addr.to_owned(), source },
        }
    })?;
    // Where to reach it comes before its id, and the id once (a trial's `/p2p/ID` alone was
    // taken, and failed at each dial as "Unsupported resolved address"); a relay's id comes
    // before `/p2p-circuit` (`.../p2p/RELAY/p2p-circuit/p2p/ID`, as a private node prints it).
    let parts: Vec<Protocol<'_>> = multiaddr.iter().collect();
    let last = parts.len().saturating_sub(1);
    let stray = parts.iter().enumerate().any(|(i, p)| {
        matches!(p, Protocol::P2p(_)) && i != last && !matches!(parts.get(i + 1), Some(Protocol::P2pCircuit))
    });
    if matches!(parts.first(), Some(Protocol::P2p(_))) || stray {
        return Err(BadAddress::NoPlace { addr: addr.to_owned() });
    }
    match multiaddr.iter().last() {
        // Every node's PeerId holds its ed25519 key: one that holds none (`12D3KooWxxxx`, cut
        // short) or a key off the curve names no node.
        Some(Protocol::P2p(peer))
            if haggle_protocol::PublicKey::from_peer_id(&peer).is_none_or(|key| !key.is_point()) =>
        {
            Err(BadAddress::NotAKey { addr: addr.to_owned() })
        }
        Some(Protocol::P2p(peer)) => Ok((peer, multiaddr)),
        _ => Err(BadAddress::NoPeerId { addr: addr.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    /// From an operator's trial: after a restart, `haggle status` showed eight settings, and
    /// `max_inbound_per_ip` or `heartbeat_ms` could not be checked. The others that differ from
    /// the defaults are named.
    #[test]
    fn the_settings_that_differ_from_the_defaults_are_named() {
        let config = super::NodeConfig {
            max_inbound_per_ip: 1,
            mdns: false,
            cache_mib: 16,
            bootstrap: vec!["/ip4/127.0.0.1/tcp/7400".into()],
            ..super::NodeConfig::default()
        };
        assert_eq!(config.changed_settings(&["cache_mib"]), ["max_inbound_per_ip = 1", "mdns = false"]);
        assert!(super::NodeConfig::default().changed_settings(&[]).is_empty());
    }

    use super::*;

    #[test]
    fn bootstrap_addresses_need_a_peer_id() {
        assert!(matches!(bootstrap_peer("/ip4/127.0.0.1/tcp/7400"), Err(BadAddress::NoPeerId { .. })));
        assert!(matches!(bootstrap_peer("not an address"), Err(BadAddress::BootstrapParse { .. })));
        // A peer id that does not parse at all, after an address that does.
        assert!(matches!(
            bootstrap_peer("/ip4/127.0.0.1/tcp/1/p2p/12D3KooWfoo"),
            Err(BadAddress::NotAKey { .. })
        ));
        let addr = "/ip4/127.0.0.1/tcp/7400/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
        assert_eq!(
            bootstrap_peer(addr).expect("valid").0.to_string(),
            "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"
        );
        // A PeerId that parses but holds no ed25519 key (cut short): it names no node.
        assert!(matches!(
            bootstrap_peer("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWxxxx"),
            Err(BadAddress::NotAKey { .. })
        ));
        // A good peer id with something after it that is no protocol: the address is wrong.
        assert!(matches!(bootstrap_peer(&format!("{addr}/x")), Err(BadAddress::BootstrapParse { .. })));
        // Defects (found in a trial): a peer id with no place before it, or given twice, was
        // taken and failed at each dial.
        let id = "/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
        assert!(matches!(bootstrap_peer(id), Err(BadAddress::NoPlace { .. })));
        assert!(matches!(bootstrap_peer(&format!("{addr}{id}")), Err(BadAddress::NoPlace { .. })));
        // Two addresses run together (from the review).
        assert!(matches!(
            bootstrap_peer(&format!("{addr}/ip4/10.0.0.1/tcp/7400{id}")),
            Err(BadAddress::NoPlace { .. })
        ));
        // What people give stays taken: a relayed address as a private node prints it, names,
        // IPv6, QUIC.
        let relay = "/p2p/12D3KooWCqXVSxAZMeVs7RmfcSwtWD7jBBD5qFVEZ95MJ1LJmCrW";
        for good in [
            format!("/ip4/203.0.113.5/tcp/4001{relay}/p2p-circuit{id}"),
            format!("/dns4/shop.example/tcp/7400{id}"),
            format!("/dnsaddr/shop.example{id}"),
            format!("/ip6/::1/udp/7400/quic-v1{id}"),
        ] {
            assert!(bootstrap_peer(&good).is_ok(), "{good}");
        }
    }

    /// Defects (found in a trial): a listen address with a peer id was taken (the node listened
    /// as its own), and a UDP port without QUIC read "Multiaddr is not supported".
    #[test]
    fn a_listen_address_is_one_to_listen_on() {
        let id = "/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
        assert!(matches!(
            listen_addr(&format!("/ip4/127.0.0.1/tcp/7400{id}")),
            Err(BadAddress::ListenPeerId { .. })
        ));
        let udp = listen_addr("/ip4/127.0.0.1/udp/7400").expect_err("no transport").to_string();
        assert!(udp.contains("add /quic-v1"), "{udp}");
        listen_addr("/ip4/127.0.0.1/udp/7400/quic-v1").expect("QUIC");
        listen_addr("/ip4/0.0.0.0/tcp/0").expect("TCP");
        listen_addr("/ip6/::/tcp/7400").expect("IPv6");
        // Relays are the node's to find: one given is refused, with why.
        let relay = listen_addr(&format!("/ip4/203.0.113.5/tcp/4001{id}/p2p-circuit")).expect_err("a relay");
        assert!(relay.to_string().contains("finds relays by itself"), "{relay}");
    }

    #[test]
    fn a_mistyped_peer_id_that_still_parses_is_refused() {
        // The same id with its last characters changed: each still a PeerId. About half of all
        // 32-byte strings are curve points, so about half the typos are caught: these two are
        // not points, the other two are (a typo the check cannot see: the dial then fails on
        // the peer id).
        let typo = |end: &str| {
            format!("/ip4/127.0.0.1/tcp/7400/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKP{end}")
        };
        for end in ["H7", "H8"] {
            assert!(matches!(bootstrap_peer(&typo(end)), Err(BadAddress::NotAKey { .. })), "{end}");
        }
        for end in ["H4", "J5"] {
            assert!(bootstrap_peer(&typo(end)).is_ok(), "{end}");
        }
    }
}

/// A serde message (a config file's, a request body's) with Rust's type names in plain words: a
/// trial read `invalid value: integer `-5`, expected u64`.
pub fn plain_types(message: &str) -> String {
    // Only serde's own parts of the message: `, expected TYPE` at the end of it, and the value's
    // sort before its backquotes (a value or a config line quoted in it stays as written).
    const WORDS: [(&str, &str); 13] = [
        (", expected u64", ", expected a whole number from 0 to 18446744073709551615"),
        (", expected u32", ", expected a whole number from 0 to 4294967295"),
        (", expected u16", ", expected a whole number from 0 to 65535"),
        (", expected u8", ", expected a whole number from 0 to 255"),
        (", expected usize", ", expected a whole number from 0 to 18446744073709551615"),
        (", expected i64", ", expected a whole number"),
        (", expected i32", ", expected a whole number"),
        (", expected f64", ", expected a number"),
        (", expected f32", ", expected a number"),
        ("invalid value: integer `", "invalid value: the number `"),
        ("invalid type: integer `", "invalid type: the number `"),
        ("invalid value: floating point `", "invalid value: the number with a fraction `"),
        ("invalid type: floating point `", "invalid type: the number with a fraction `"),
    ];
    let mut said = message.to_owned();
    for (rust, plain) in WORDS {
        said = said.replace(rust, plain);
    }
    if let Some(near) = nearest_setting(message) {
        said.push_str(&format!("\nDid you mean `{near}`?"));
    }
    said
}

/// For an unknown setting (`unknown field `retry_sec`, expected one of ...`), the one it
/// likely meant: two edits away at most (from a crash trial: `retry_sec` was told only the
/// list of every setting).
fn nearest_setting(message: &str) -> Option<&str> {
    let rest = message.split_once("unknown field `")?.1;
    let (typed, known) = rest.split_once("`, expected one of ")?;
    let names = known.lines().next()?.split(", ").map(|n| n.trim().trim_matches('`'));
    names.map(|name| (edit_distance(typed, name), name)).filter(|(d, _)| *d <= 2).min().map(|(_, name)| name)
}

/// The edit (Levenshtein) distance between two short words, by characters: a setting's or a
/// flag's name typed against the one meant.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod plain_tests {
    #[test]
    fn an_unknown_setting_is_told_the_one_it_likely_meant() {
        let said = super::plain_types(
            "TOML parse error\nunknown field `retry_sec`, expected one of `listen`, `retry_secs`, `sync_secs`\n",
        );
        assert!(said.ends_with("\nDid you mean `retry_secs`?"), "{said}");
        let far = super::plain_types("unknown field `colour`, expected one of `listen`, `retry_secs`\n");
        assert!(!far.contains("Did you mean"), "{far}");
    }

    #[test]
    fn rusts_type_names_read_as_words() {
        assert_eq!(
            super::plain_types("invalid value: integer `-5`, expected u64"),
            "invalid value: the number `-5`, expected a whole number from 0 to 18446744073709551615"
        );
        assert_eq!(
            super::plain_types("quantity: invalid type: floating point `1.5`, expected u32"),
            "quantity: invalid type: the number with a fraction `1.5`, expected a whole number from 0 to 4294967295"
        );
        // A value too large for its type reads with the bound, not as "0 or more" (a review).
        assert!(
            super::plain_types("invalid value: integer `5000000000`, expected u32")
                .ends_with("from 0 to 4294967295")
        );
    }
}
