//! The haggle node: joins peers over libp2p, spreads signed listings by gossipsub, delivers
//! negotiation messages straight to the other party (queuing them while it is away), and serves
//! the local API the `haggle` command talks to.
//!
//! One task owns the Swarm (the event loop); the rest of the program talks to it through a
//! [`NodeHandle`]. The application's rules live in the [`Service`]: the owner's actions, the one
//! inbound path every object from outside goes through, and the reads the API serves. The API's
//! request and response types are in [`api::types`], shared by the server and [`ApiClient`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use haggle_node::{NodeConfig, start};
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let node = start(std::path::Path::new("/tmp/haggle-a"), NodeConfig::for_tests(), shutdown.clone()).await?;
//! println!("{} listening on {:?}, API on {}", node.peer_id, node.listen_addrs, node.api_addr);
//! node.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
mod behaviour;
mod candidates;
pub mod client;
pub mod codec;
pub mod config;
pub mod error;
mod event_loop;
pub mod files;
pub mod gossip;
mod guard;
mod handle;
pub mod metrics;
mod node;
pub mod party;
mod recent;
pub mod service;
pub mod sync;
pub mod wire;

pub use api::types::{ErrorCode, NodeEvent};
pub use client::{ApiClient, ClientError};
pub use config::{DEFAULT_API_PORT, DEFAULT_P2P_PORT, NodeConfig};
pub use error::{NodeGone, StartError};
pub use handle::NodeHandle;
pub use node::{ADDR_FILE, COOKIE_FILE, KEY_FILE, RunningNode, create_private_dir, start};
pub use service::{Effect, Policy, Service, ServiceError};

/// The gossipsub message id of an object's bytes (blake3 of the whole message), as peers
/// compute it; exposed for tests and other tools.
pub fn gossip_message_id(bytes: &[u8]) -> Vec<u8> {
    gossip::message_id(bytes).0
}
