//! Error types of the node crate.

use std::path::PathBuf;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("cannot create the data directory {path}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Key(#[from] haggle_protocol::KeyFileError),
    #[error(transparent)]
    Store(#[from] haggle_storage::OpenError),
    #[error("invalid listen address `{addr}`: {reason}")]
    ListenAddr { addr: String, reason: String },
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("invalid bootstrap peer `{addr}`: {reason}")]
    Bootstrap { addr: String, reason: String },
    #[error("gossipsub setup failed: {0}")]
    Gossip(String),
    #[error("network setup failed: {0}")]
    Network(String),
    #[error(
        "the API address {0} is not a loopback address; binding the API beyond this machine needs \
         `api_public = true` (it is still protected by the cookie)"
    )]
    ApiNotLoopback(std::net::SocketAddr),
    #[error("cannot bind the local API on {addr}")]
    ApiBind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot write {path}")]
    WriteFile { path: PathBuf, source: std::io::Error },
    #[error("a node is already running with data dir {0} (its database is locked)")]
    AlreadyRunning(PathBuf),
}

/// Why the node stopped talking to its caller (it has shut down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the node has shut down")]
pub struct NodeGone;
