//! Error types of the node crate (the service's are in [`crate::service`], the client's in
//! [`crate::client`]).

use std::path::PathBuf;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data dir cannot be created or made private.
    #[error(
        "cannot create or use the data directory {path}{}",
        match source.kind() {
            // Where it would be created, this user may not write (from a trial).
            std::io::ErrorKind::PermissionDenied => ": this user may not create it there: choose a --data-dir in a directory it can write to, or create that one and give the node's user ownership of it",
            std::io::ErrorKind::StorageFull => ": the disk is full: free disk space",
            // From a crash trial: said with no advice.
            std::io::ErrorKind::ReadOnlyFilesystem => ": its file system is read-only (mounted so, or remounted so after disk errors): choose a --data-dir on a writable one, or check the disk and remount it",
            _ => "",
        }
    )]
    DataDir {
        /// The data dir.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data dir exists, but this user cannot make it private (it belongs to another user,
    /// say).
    #[error(
        "cannot use the data directory {path}: it exists, but this user cannot change it: give the node's user ownership of it (chown -R USER {path}), or choose another --data-dir"
    )]
    DataDirAccess {
        /// The data dir.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The identity key cannot be read or created.
    #[error(transparent)]
    Key(#[from] haggle_protocol::KeyFileError),
    /// A bootstrap address names this node itself.
    #[error("bootstrap address {0} names this node itself: give another node's address")]
    BootstrapSelf(String),
    /// The data dir holds a database but no identity key: a new key would not own what the
    /// database holds (the owner's listings, threads and deals).
    #[error(
        "{} holds a database but no identity key ({}): restore the key from a backup (it signs everything this node holds as yours), or, to start over as a new identity, move {} away first",
        dir.display(), key.display(), db.display()
    )]
    KeyMissing {
        /// The data dir.
        dir: PathBuf,
        /// Where the key should be.
        key: PathBuf,
        /// The database.
        db: PathBuf,
    },
    /// The identity key is not the one whose node made the database: a key restored from the
    /// wrong backup, or another node's data dir.
    #[error(
        "{} is the key of {key_owner}, but the database in {} belongs to {db_owner}: restore {db_owner}'s key from its backup (a node signs as its own only what its key made). To be {key_owner} here instead, move {} away first (its listings, threads and deals are {db_owner}'s, and stay in the moved directory)",
        key.display(), db.display(), db.display()
    )]
    NotTheOwner {
        /// The key file.
        key: PathBuf,
        /// Whose it is (a PeerId).
        key_owner: String,
        /// The database.
        db: PathBuf,
        /// Whose the database is (a PeerId).
        db_owner: String,
    },
    /// The database's record of its owner cannot be read or written.
    #[error(
        "cannot read or record whose database {} is: {source}. Restore it from a backup, or move it aside to start with an empty one (your identity.key stays yours)",
        db.display()
    )]
    Owner {
        /// The database.
        db: PathBuf,
        /// Why.
        source: haggle_storage::StoreError,
    },
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] haggle_storage::OpenError),
    /// Opening the store panicked or was cancelled.
    #[error("opening the store did not finish")]
    StoreTask(#[source] tokio::task::JoinError),
    /// Opening the database failed inside the database's own code: its files are most likely
    /// damaged (from a trial: a database cut short gave a panic's text and no advice).
    #[error("{}", store_open_failed(db, source))]
    StoreOpenFailed {
        /// The database directory.
        db: PathBuf,
        /// The failure.
        source: tokio::task::JoinError,
    },
    /// The blob directory (pictures and files) cannot be opened.
    #[error(transparent)]
    Blobs(haggle_storage::blobs::BlobError),
    /// A listen or bootstrap address is malformed.
    #[error(transparent)]
    Address(#[from] BadAddress),
    /// A listen address cannot be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: libp2p::TransportError<std::io::Error>,
    },
    /// A listener failed or did not come up in time.
    #[error("cannot listen on {addrs}")]
    Listener {
        /// The addresses asked for.
        addrs: String,
        /// Why.
        source: std::io::Error,
    },
    /// The transports (TCP with Noise and Yamux, QUIC, DNS) cannot be set up.
    #[error("cannot set up the network transports")]
    Transport(#[source] std::io::Error),
    /// gossipsub rejected its configuration.
    #[error("gossipsub setup failed")]
    Gossip(#[source] std::io::Error),
    /// The API would be reachable from other machines without `api_public`.
    #[error(
        "the API address {0} is not a loopback address; binding the API beyond this machine needs \
         --api-public (or `api_public = true` in config.toml; it is still protected by the cookie)"
    )]
    ApiNotLoopback(std::net::SocketAddr),
    /// The API's address cannot be bound.
    #[error("cannot bind the local API on {addr}")]
    ApiBind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A file in the data dir cannot be written.
    #[error("cannot write {path}")]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A malformed peer-to-peer address.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BadAddress {
    /// Not a multiaddr.
    #[error("`{addr}` is not a multiaddr (e.g. /ip4/203.0.113.5/tcp/7400)")]
    Parse {
        /// The text given.
        addr: String,
        /// Why.
        source: libp2p::multiaddr::Error,
    },
    /// A listen address naming a peer id (the node's own is its key's).
    #[error(
        "listen address `{addr}` names a peer id: leave out the /p2p/ part (the node listens as the identity its key is, and finds relays by itself)"
    )]
    ListenPeerId {
        /// The text given.
        addr: String,
    },
    /// A listen address ending in a UDP port, without the QUIC that runs over it.
    #[error(
        "listen address `{addr}` is a UDP port alone: add /quic-v1 to listen for QUIC on it (e.g. {addr}/quic-v1)"
    )]
    UdpWithoutQuic {
        /// The text given.
        addr: String,
    },
    /// A bootstrap address whose peer id comes without a place to reach it, or twice.
    #[error(
        "bootstrap address `{addr}` needs where to reach the node, then its peer id once (e.g. /ip4/203.0.113.5/tcp/7400/p2p/12D3KooW...)"
    )]
    NoPlace {
        /// The text given.
        addr: String,
    },
    /// A bootstrap address without the peer's id.
    #[error("bootstrap address `{addr}` must end in /p2p/<PeerId>")]
    NoPeerId {
        /// The text given.
        addr: String,
    },
    /// A bootstrap address that is not a multiaddr.
    #[error(
        "`{addr}` is not a bootstrap address: give the address the other node printed, ending in \
         its peer id (e.g. /ip4/203.0.113.5/tcp/7400/p2p/12D3KooW...)"
    )]
    BootstrapParse {
        /// The text given.
        addr: String,
        /// Why.
        source: libp2p::multiaddr::Error,
    },
    /// The peer id is not one a node can have: it does not parse, or it names an ed25519 key
    /// whose bytes are not a point on the curve, so the address was mistyped or cut.
    #[error(
        "the peer id in bootstrap address `{addr}` is not one a node can have: check it was \
         copied whole, as the other node printed it"
    )]
    NotAKey {
        /// The text given.
        addr: String,
    },
}

/// Why the node stopped talking to its caller (it has shut down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the node has shut down")]
pub struct NodeGone;

/// What a panic while opening the database says: damage, most likely; or, for a thread the
/// database could not start (a small-machine retrial's address-space limit read "its files are
/// most likely damaged" of a sound database, with advice that would have lost its deals), the
/// process's limits.
fn store_open_failed(db: &std::path::Path, source: &tokio::task::JoinError) -> String {
    let said = source.to_string();
    let no_thread = ["WouldBlock", "os error 11", "Resource temporarily unavailable", "failed to spawn"]
        .iter()
        .any(|s| said.contains(s));
    if no_thread {
        return format!(
            "opening the database in {} stopped with an internal error ({said}): the database could not start a thread, so the process's limits are too low (a node reserves about 2 GiB of address space while it uses far less memory: limit its memory with MemoryMax= or a cgroup rather than ulimit -v or LimitAS=; ulimit -u or TasksMax= of 100 or more). The database's files are not the cause: start the node again without the limit",
            db.display()
        );
    }
    format!(
        "opening the database in {} stopped with an internal error ({said}): its files are most likely damaged (cut short or overwritten). Restore {} from a backup; or move it aside and start the node again with an empty one: your identity.key stays yours and the market comes back by sync, but your threads, deals and unsent messages were only in the database",
        db.display(),
        db.display()
    )
}

#[cfg(test)]
mod tests {
    use super::StartError;

    /// From a crash trial: a data dir on a read-only file system was refused with no advice.
    #[test]
    fn a_read_only_data_dir_says_what_to_do() {
        let e = StartError::DataDir {
            path: "/mnt/ro/haggle".into(),
            source: std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem),
        };
        assert!(
            e.to_string()
                .ends_with("choose a --data-dir on a writable one, or check the disk and remount it"),
            "{e}"
        );
    }

    /// From a small-machine retrial: a database that could not start a thread under an
    /// address-space limit was told it was most likely damaged, with advice that would have lost
    /// its deals.
    #[test]
    fn a_thread_the_database_could_not_start_is_not_damage() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let panicked = |message: &'static str| {
            runtime
                .block_on(
                    async move { tokio::task::spawn_blocking(move || -> () { panic!("{message}") }).await },
                )
                .expect_err("it panicked")
        };
        let limits = StartError::StoreOpenFailed {
            db: "/srv/haggle/db".into(),
            source: panicked("failed to spawn flusher thread: Os { code: 11, kind: WouldBlock }"),
        };
        assert!(limits.to_string().contains("the process's limits are too low"), "{limits}");
        assert!(!limits.to_string().contains("damaged"), "{limits}");
        let damage = StartError::StoreOpenFailed {
            db: "/srv/haggle/db".into(),
            source: panicked("index out of bounds"),
        };
        assert!(damage.to_string().contains("most likely damaged"), "{damage}");
    }
}
