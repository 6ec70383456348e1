//! The haggle node: joins peers over libp2p, spreads signed listings by gossipsub, delivers
//! negotiation messages straight to the other party (queuing them while it is away), and serves
//! the local API the `haggle` command talks to.
//!
//! One task owns the Swarm ([`event_loop`]); the rest of the program talks to it through a
//! [`NodeHandle`]. The owner's actions ([`Service`]) sign and store objects, then hand the
//! network work to the loop.
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

mod api;
mod behaviour;
pub mod client;
mod codec;
pub mod config;
pub mod error;
mod event_loop;
mod gossip;
mod handle;
mod node;
pub mod service;
pub mod sync;
mod views;
pub mod wire;

pub use config::{DEFAULT_API_PORT, DEFAULT_P2P_PORT, NodeConfig};
pub use error::{NodeGone, StartError};
pub use handle::{NetworkStatus, NodeEvent, NodeHandle, PeerInfo};
pub use node::{ADDR_FILE, COOKIE_FILE, KEY_FILE, RunningNode, start};
pub use service::{Effect, ListingDraft, ListingPatch, Service, ServiceError, TermsDraft};

/// The gossipsub message id of an object's bytes (blake3 of the whole message), as peers
/// compute it; exposed for tests and other tools.
pub fn gossip_message_id(bytes: &[u8]) -> Vec<u8> {
    gossip::message_id(bytes).0
}
