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

/// The identify protocol version a node announces: [`IDENTIFY_PROTOCOL`] and which run of the
/// node this is (a random number drawn at each start), `/haggle/1.0.0 run/3f2a9c1e5b7d0a46`. A
/// peer that sees a new run beside a connection of an earlier one knows that connection is dead
/// (the node was killed and started again).
pub fn identify_version(run: u64) -> String {
    format!("{IDENTIFY_PROTOCOL} run/{run:016x}")
}

/// The run an identify protocol version names (see [`identify_version`]), if any.
pub fn run_of(version: &str) -> Option<u64> {
    let run = version.strip_prefix(IDENTIFY_PROTOCOL)?.strip_prefix(" run/")?;
    (run.len() == 16).then(|| u64::from_str_radix(run, 16).ok()).flatten()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_read_back_from_the_identify_version_and_nothing_else_is_taken_for_one() {
        let run = 0x3f2a_9c1e_5b7d_0a46;
        assert_eq!(identify_version(run), "/haggle/1.0.0 run/3f2a9c1e5b7d0a46");
        assert_eq!(run_of(&identify_version(run)), Some(run));
        assert_eq!(run_of(&identify_version(0)), Some(0));
        for other in [
            "/haggle/1.0.0",
            "/haggle/1.0.0 run/3f2a",
            "/ipfs/0.1.0 run/3f2a9c1e5b7d0a46",
            "/haggle/1.0.0 run/zzzzzzzzzzzzzzzz",
        ] {
            assert_eq!(run_of(other), None, "{other}");
        }
    }
}
