//! `/haggle/blob/1`: one request asks a peer for a run of 16 KiB groups of a file by hash; the
//! answer carries them with the BLAKE3 tree hashes that prove them against the hash alone.

use serde::{Deserialize, Serialize};

use haggle_protocol::BlobHash;

/// The file-transfer protocol.
pub const BLOB_PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/haggle/blob/1");
/// Largest request, in bytes (a hash, three numbers and a flag).
pub const MAX_BLOB_REQUEST: u64 = 128;
/// Largest answer, in bytes: 16 groups of 16 KiB and the tree hashes over them (64 bytes a
/// level, at most about 30 levels on each side), with room to spare.
pub const MAX_BLOB_RESPONSE: u64 = 16 * 16 * 1024 + 16 * 1024;

/// Asks for groups `first..first + count` of the file `hash` of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRequest {
    /// The file's BLAKE3 hash.
    pub hash: BlobHash,
    /// Its size, as the listing that names it says (the answer proves it).
    pub size: u64,
    /// First 16 KiB group.
    pub first: u32,
    /// How many groups, 1 to 16.
    pub count: u32,
    /// Asked on behalf of another peer: a node without the file answers `Missing` rather than
    /// fetching it in turn.
    pub for_peer: bool,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobResponse {
    /// The groups asked for, encoded with their proofs (BLAKE3 verified streaming, pre-order,
    /// 16 KiB groups).
    Data(Vec<u8>),
    /// This node does not hold the file; `fetching` if it is fetching it now (ask again soon).
    Missing {
        /// Whether it is on its way here.
        fetching: bool,
    },
    /// Too many requests at once: ask again later.
    Busy,
}
