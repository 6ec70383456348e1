//! gossipsub settings: anonymous messages (objects carry their own signatures), content-hash
//! message ids, manual validation, and peer scoring tuned for a quiet marketplace topic.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use libp2p::gossipsub::{
    self, ConfigBuilder, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode,
};

use haggle_protocol::MAX_OBJECT_SIZE;

use crate::wire::LISTINGS_TOPIC;

/// How long an identical message is remembered and not re-accepted. Five minutes covers any
/// realistic gossip path; re-announcing a listing is a new revision anyway.
const DUPLICATE_CACHE: Duration = Duration::from_secs(300);

/// Messages stay in the cache this many heartbeats, which bounds how long validation may take:
/// gossipsub forwards an accepted message from its cache, so an Accept reported after the
/// message left it forwards nothing. Doubled from the default 5, so a node busy with a burst
/// still forwards what it accepts.
const HISTORY_LENGTH: usize = 10;

/// Mesh degree: every message reaches a node about this many times (once new, the rest
/// duplicates), and every copy costs both ends a wake of the connection's task, the event loop
/// and the kernel's TCP path: in the 50-node simulation CPU per listing followed the mesh size
/// more closely than anything else. gossipsub's default (6, between 5 and 12) suits a chain's
/// blocks; a marketplace's small, rare objects do with 3: still three disjoint paths into every
/// node, and lazy gossip (IHAVE/IWANT to 3 more peers each heartbeat) and sync repair what a
/// thin mesh misses. A mesh below 3 grafts peers at the next heartbeat (with a floor of 2, the
/// meshes averaged 2.8 peers and 50 nodes in one saturated process fell back on sync about twice
/// as often); a graft from a peer may take it to 4, and at the next heartbeat a mesh of 4 is
/// pruned back to 3, so meshes stay at about 3 (with an upper bound of 8 the simulation's meshes
/// averaged 5 peers, with 6 about 4.3). One mesh peer at least is one this node dialled, so
/// peers that dial in cannot fill a mesh on their own.
const MESH_N: usize = 3;
const MESH_N_LOW: usize = 3;
const MESH_N_HIGH: usize = 4;
const MESH_OUTBOUND_MIN: usize = 1;
/// Of the peers a mesh over `MESH_N_HIGH` keeps, how many are the best scored; the rest are
/// drawn at random (gossipsub's default, 4, keeps only the best). Every honest peer's score is
/// its time in the mesh, so with a mesh of 3 and room for one graft, the default prunes a
/// newcomer (score 0) at the next heartbeat from every node whose mesh was full: a node that
/// joined or restarted among established peers stayed outside every mesh (0 mesh peers for
/// minutes, with lazy gossip and sync alone bringing it objects). Keeping the best one protects
/// a long-standing peer; the newcomer stays in two meshes of three.
const RETAIN_SCORES: usize = 1;
// gossipsub 0.50 checks only per-topic settings when it builds a config, so the mesh settings
// are checked here, at compile time, against the rules of the gossipsub specification.
const _: () = {
    assert!(MESH_N_LOW <= MESH_N && MESH_N <= MESH_N_HIGH, "low ≤ target ≤ high");
    assert!(MESH_OUTBOUND_MIN <= MESH_N_LOW, "the dialled peers fit under the floor");
    assert!(MESH_OUTBOUND_MIN * 2 <= MESH_N, "at most half the target must be dialled");
    assert!(MESH_N_HIGH > MESH_N, "a graft can land before the mesh is pruned back");
    assert!(RETAIN_SCORES < MESH_N, "a newcomer (the lowest score) can stay in a full mesh");
};

/// Lazy gossip (IHAVE, the ids of recent messages sent to peers outside the mesh) repairs what
/// the mesh missed. Sync repairs that too, so each id is announced in one heartbeat, not three,
/// to 3 peers outside the mesh, not 6: in the 50-node simulation this took the bytes a node
/// sends per listing from about 3.2 KB to 2.5-2.6 KB. gossipsub's default would also reach a
/// quarter of all the peers outside the mesh when that is more (11 of a node's 45 there).
const GOSSIP_LAZY: usize = 3;
const GOSSIP_FACTOR: f64 = 0.0;
const HISTORY_GOSSIP: usize = 1;

/// Messages over this many bytes are announced with IDONTWANT to mesh peers. Below it the
/// control message (an id per peer) costs about what the duplicates it saves would.
const IDONTWANT_THRESHOLD: usize = 512;

/// Penalty per invalid message (squared by count): one forged or malformed object takes a peer
/// below the graylist threshold (-80), so its traffic is ignored at once.
const INVALID_MESSAGE_WEIGHT: f64 = -100.0;

/// The one gossip topic every listing travels on.
pub fn topic() -> IdentTopic {
    IdentTopic::new(LISTINGS_TOPIC)
}

/// The message id: blake3 of the message bytes (the whole signed object). Content-addressed, so
/// one object is one message however many peers forward it.
pub fn message_id(data: &[u8]) -> MessageId {
    MessageId::from(blake3::hash(data).as_bytes().to_vec())
}

/// The gossipsub settings a node runs with, at the given heartbeat.
pub fn config(heartbeat: Duration) -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| message_id(&m.data))
        .max_transmit_size(MAX_OBJECT_SIZE + 1024)
        .duplicate_cache_time(DUPLICATE_CACHE)
        .history_length(HISTORY_LENGTH)
        .heartbeat_interval(heartbeat)
        // gossipsub v1.2: a node that receives a message over this size tells its mesh peers
        // at once not to send it too (a 40-byte control message instead of a copy), and a
        // publisher tells them not to send its own message back.
        .idontwant_message_size_threshold(IDONTWANT_THRESHOLD)
        .idontwant_on_publish(true)
        .mesh_n(MESH_N)
        .mesh_n_low(MESH_N_LOW)
        .mesh_n_high(MESH_N_HIGH)
        .mesh_outbound_min(MESH_OUTBOUND_MIN)
        .retain_scores(RETAIN_SCORES)
        .gossip_lazy(GOSSIP_LAZY)
        .gossip_factor(GOSSIP_FACTOR)
        .history_gossip(HISTORY_GOSSIP)
        // A node's own objects go to its mesh, not to every connected peer: flooding them made
        // every peer forward a copy its own mesh peers already had (about one message in five
        // a node received in the 50-node simulation), for latency a marketplace does not need.
        .flood_publish(false)
        .build()
}

/// A node's gossipsub behaviour: [`config`], anonymous messages, and the node's peer scoring
/// (loopback and `whitelist` exempt from the same-IP penalty).
pub fn behaviour(
    heartbeat: Duration,
    whitelist: HashSet<IpAddr>,
) -> Result<gossipsub::Behaviour, crate::error::StartError> {
    let gossip_error =
        |e: &dyn std::fmt::Display| crate::error::StartError::Gossip(std::io::Error::other(e.to_string()));
    let config = config(heartbeat).map_err(|e| gossip_error(&e))?;
    let mut behaviour =
        gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).map_err(|e| gossip_error(&e))?;
    behaviour
        .with_peer_score(score_params(whitelist), PeerScoreThresholds::default())
        .map_err(|e| gossip_error(&e))?;
    Ok(behaviour)
}

/// Scoring: mesh-delivery penalties off (a marketplace topic is quiet; the defaults punish mesh
/// peers that deliver fewer than 20 messages a window), a strong penalty for invalid messages,
/// and loopback exempt from the same-IP penalty so many local nodes (and tests) can mesh.
fn score_params(mut whitelist: HashSet<IpAddr>) -> PeerScoreParams {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: 0.5,
        ..TopicScoreParams::default()
    };
    whitelist.insert(IpAddr::from([127, 0, 0, 1]));
    let mut params =
        PeerScoreParams { ip_colocation_factor_whitelist: whitelist, ..PeerScoreParams::default() };
    params.topics.insert(topic().hash(), topic_params);
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_carries_the_mesh_settings() {
        let config = config(Duration::from_secs(1)).expect("a valid config");
        assert_eq!(
            (config.mesh_n(), config.mesh_n_low(), config.mesh_n_high()),
            (MESH_N, MESH_N_LOW, MESH_N_HIGH)
        );
        assert_eq!(config.mesh_outbound_min(), MESH_OUTBOUND_MIN);
        assert_eq!(config.retain_scores(), RETAIN_SCORES);
    }
}
