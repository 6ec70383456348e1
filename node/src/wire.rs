//! Our own protocols' names and messages, and the gossip topic.

use libp2p::StreamProtocol;
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use haggle_protocol::MAX_OBJECT_SIZE;

/// The gossip topic every public object (listings and their tombstones) is published on.
pub const LISTINGS_TOPIC: &str = "haggle/1/listings";

/// Direct delivery of a negotiation message to the other party.
pub const NEGOTIATE_PROTOCOL: StreamProtocol = StreamProtocol::new("/haggle/negotiate/1");

/// Our private Kademlia DHT (peer routing only), apart from IPFS's.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/haggle/kad/1.0.0");

/// Identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/haggle/1.0.0";

/// A negotiation request carries one object; a little room for the framing.
pub const MAX_NEGOTIATE_REQUEST: u64 = MAX_OBJECT_SIZE as u64 + 64;
/// A reply is a short status.
pub const MAX_NEGOTIATE_RESPONSE: u64 = 4 * 1024;

/// `/haggle/negotiate/1` request: one signed negotiation object (wire bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NegotiateRequest {
    /// The object's wire bytes.
    pub object: Vec<u8>,
}

/// `/haggle/negotiate/1` response, sent only after the message is stored on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NegotiateResponse {
    /// Stored (or already held): delivered.
    Stored,
    /// Refused. `retry` says whether sending it again later may succeed (e.g. the listing it
    /// refers to has not arrived yet), as opposed to a message that will never be valid.
    Rejected {
        /// Why, for people (logs, the outbox's last error).
        reason: String,
        /// Whether a later retry may succeed.
        retry: bool,
    },
}
