//! Two parties' shared history: `/haggle/party/1`. Threads and deals are private, so the catch-up
//! sync never carries them; a node restored from a backup, or one that lost its disk, would hold
//! its deals at the stage the backup had, and refuse the other party's messages in threads it
//! no longer holds, for good. The other party's node holds every message of their threads and
//! every step of their deals, each signed by its author. On each new connection a node tells the
//! peer which of those it holds (the ids), and the peer answers with the ones it lacks: the
//! peer's own messages and its owner's, in the order they were made, checked and stored as if
//! they had come directly.

use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use haggle_protocol::MAX_OBJECT_SIZE;

/// `/haggle/party/1`: what two parties hold of their threads and deals.
pub const PARTY_PROTOCOL: StreamProtocol = StreamProtocol::new("/haggle/party/1");

/// Ids one request names at most: the objects of the most recent threads with the peer, and
/// their deals' steps, up to this many (a thread holds a few messages, a deal a handful of
/// steps: hundreds of deals between two people).
pub const MAX_HELD: usize = 4_096;
/// Objects one answer carries at most; what is left comes in the next answer (`more`).
pub const MAX_OBJECTS: usize = 256;
/// Object bytes one answer carries at most (a lone object always goes, whatever its size).
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// Largest request: the ids and their framing.
pub const MAX_PARTY_REQUEST: u64 = (MAX_HELD * 33 + 64) as u64;
/// Largest response: an answer's bytes, a last object over them, and the framing.
pub const MAX_PARTY_RESPONSE: u64 = (MAX_BYTES + MAX_OBJECT_SIZE + MAX_OBJECTS * 8 + 64) as u64;
/// Requests one connection's session makes at most (the first, then one per answer with
/// `more`): 8 answers carry 2,048 objects.
pub const MAX_ROUNDS: usize = 8;

/// A request: the ids of the objects the asker holds of the threads and deals it has with the
/// peer it asks (at most [`MAX_HELD`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartyRequest {
    /// Object ids.
    pub held: Vec<[u8; 32]>,
}

/// The answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PartyResponse {
    /// Objects of the two parties' threads and deals the asker did not name, oldest thread first,
    /// each thread's messages in order, then its deal's steps in order.
    Objects {
        /// Objects' wire bytes.
        objects: Vec<Vec<u8>>,
        /// Whether more were left out (over [`MAX_OBJECTS`] or [`MAX_BYTES`]): ask again.
        more: bool,
    },
    /// Not served (busy, rate-limited), with the reason.
    Refused {
        /// Why, for people.
        reason: String,
    },
}

/// Splits what an answer may carry off `objects` (oldest first): at most [`MAX_OBJECTS`] and
/// [`MAX_BYTES`] (the first always). Returns them and whether any were left.
pub fn answer(objects: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    let mut bytes = 0;
    let total = objects.len();
    for object in objects {
        if !out.is_empty() && (out.len() >= MAX_OBJECTS || bytes + object.len() > MAX_BYTES) {
            break;
        }
        bytes += object.len();
        out.push(object);
    }
    let more = out.len() < total;
    (out, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_cut_at_its_count_or_its_bytes_and_says_more_is_left() {
        let (out, more) = answer(vec![vec![0; 10]; 3]);
        assert_eq!((out.len(), more), (3, false));
        let (out, more) = answer(vec![vec![0; 10]; MAX_OBJECTS + 1]);
        assert_eq!((out.len(), more), (MAX_OBJECTS, true));
        let big = MAX_OBJECT_SIZE;
        let n = MAX_BYTES / big;
        let (out, more) = answer(vec![vec![0; big]; n + 2]);
        assert_eq!((out.len(), more), (n, true));
        let (out, more) = answer(vec![vec![0; MAX_BYTES + 1]]);
        assert_eq!((out.len(), more), (1, false), "a lone object goes whatever its size");
        assert_eq!(answer(Vec::new()), (Vec::new(), false));
    }

    fn encode<T: Serialize>(message: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(message, bincode::config::standard()).expect("encodes")
    }

    /// The bytes PROTOCOL.md gives as test vectors.
    #[test]
    fn messages_encode_as_protocol_md_says() {
        assert_eq!(encode(&PartyRequest { held: vec![[0xab; 32]] }), [&[1u8][..], &[0xab; 32]].concat());
        assert_eq!(
            encode(&PartyResponse::Objects { objects: vec![vec![7, 8]], more: true }),
            [0, 1, 2, 7, 8, 1]
        );
        assert_eq!(encode(&PartyResponse::Refused { reason: "busy".into() }), [1, 4, b'b', b'u', b's', b'y']);
    }

    /// The limits hold what they must: a full request, and a full answer, each under its codec's.
    #[test]
    fn full_messages_fit_the_codec_limits() {
        let config = bincode::config::standard();
        let request = PartyRequest { held: vec![[0xff; 32]; MAX_HELD] };
        let bytes = bincode::serde::encode_to_vec(&request, config).expect("encodes");
        assert!(bytes.len() as u64 <= MAX_PARTY_REQUEST, "{}", bytes.len());
        let (objects, _) = answer(vec![vec![0xff; MAX_OBJECT_SIZE]; MAX_OBJECTS]);
        let response = PartyResponse::Objects { objects, more: true };
        let bytes = bincode::serde::encode_to_vec(&response, config).expect("encodes");
        assert!(bytes.len() as u64 <= MAX_PARTY_RESPONSE, "{}", bytes.len());
    }
}
