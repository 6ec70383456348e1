//! Node configuration: one serde struct, every field documented, defaults for a home node.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The peer-to-peer port a home node listens on by default (TCP and QUIC/UDP). Open it in the
/// router to be reachable from outside.
pub const DEFAULT_P2P_PORT: u16 = 7400;

/// The local API's default port.
pub const DEFAULT_API_PORT: u16 = 7401;

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
        }
    }
}

impl NodeConfig {
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
        }
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.max(50))
    }

    pub fn retry_interval(&self) -> Duration {
        Duration::from_secs(self.retry_secs.max(1))
    }

    pub fn sync_interval(&self) -> Duration {
        Duration::from_secs(self.sync_secs.max(1))
    }

    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_secs.max(10))
    }
}
