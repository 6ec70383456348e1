//! The attack scenario's attackers: bare libp2p swarms (the test suite's rogue peer), one per
//! victim, each running one attack at full speed for as long as honest nodes publish (attacker
//! `k` runs attack `k mod 3`), and dialling its victim again at once whenever cut off:
//!
//! 0. gossip: valid listings made without proof of work from ever new keys (not the sender's
//!    fault, so met by the per-peer budget), with some garbage;
//! 1. negotiation: signed offers on listings the victim does not hold (not the sender's fault
//!    either: met by the per-peer negotiation budget), eight at a time;
//! 2. negotiation garbage (the sender's fault: penalised, then banned), eight at a time.
//!
//! What the victims end up storing is measured against what the honest nodes published.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use haggle_node::wire::{Multiaddr, NegotiateResponse, PeerId};
use haggle_protocol::fixtures::{author, live_listing, sign_now};
use haggle_protocol::{Body, Listing};
use haggle_tests::rogue::Rogue;

use crate::net::SimNode;

/// What the attackers did, added up.
#[derive(Debug, Default)]
struct Counts {
    gossiped: AtomicU64,
    negotiations: AtomicU64,
    rate_limited: AtomicU64,
    refused_streams: AtomicU64,
    redials: AtomicU64,
}

/// Attackers under way.
pub struct Attacks {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    counts: Arc<Counts>,
    victims: Vec<usize>,
    disk_before: Vec<u64>,
}

impl Attacks {
    /// Starts one attacker on each of the first `n` nodes.
    pub fn start(nodes: &[SimNode], n: usize) -> Result<Attacks> {
        let stop = CancellationToken::new();
        let counts = Arc::new(Counts::default());
        let mut tasks = Vec::new();
        let victims: Vec<usize> = (0..n).collect();
        let mut disk_before = Vec::new();
        for (k, &v) in victims.iter().enumerate() {
            let node = nodes[v].node();
            disk_before.push(node.store().stats()?.size_on_disk);
            let addr: Multiaddr = nodes[v].addr().parse().context("a victim address")?;
            let rogue = Arc::new(Rogue::spawn(addr.clone())?);
            let target = node.peer_id;
            tasks.push(tokio::spawn(redial(rogue.clone(), addr, counts.clone(), stop.clone())));
            tasks.push(match k % 3 {
                0 => tokio::spawn(gossip(rogue, k, counts.clone(), stop.clone())),
                mode => {
                    let victim = node.service.me();
                    tokio::spawn(negotiate(rogue, target, victim, mode == 2, counts.clone(), stop.clone()))
                }
            });
        }
        Ok(Attacks { stop, tasks, counts, victims, disk_before })
    }

    /// Stops the attackers and reports what they did and what the victims kept.
    pub async fn stop(self, nodes: &[SimNode], honest_listings: usize) -> Result<Map<String, Value>> {
        self.stop.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let mut flood_stored = 0;
        let mut disk_growth = Vec::new();
        for (i, &v) in self.victims.iter().enumerate() {
            let store = nodes[v].node().store();
            // Every listing beyond the honest ones is the attacker's.
            flood_stored += store.stats()?.active_listings.saturating_sub(honest_listings);
            disk_growth.push(store.stats()?.size_on_disk.saturating_sub(self.disk_before[i]) / 1024);
        }
        let c = &self.counts;
        let mut out = Map::new();
        out.insert("attackers".into(), json!(self.victims.len()));
        out.insert("attack_gossip_sent".into(), json!(c.gossiped.load(Ordering::Relaxed)));
        out.insert("attack_negotiations_sent".into(), json!(c.negotiations.load(Ordering::Relaxed)));
        out.insert("attack_negotiations_rate_limited".into(), json!(c.rate_limited.load(Ordering::Relaxed)));
        out.insert(
            "attack_negotiations_refused_or_dropped".into(),
            json!(c.refused_streams.load(Ordering::Relaxed)),
        );
        out.insert("attack_redials_after_cut_off".into(), json!(c.redials.load(Ordering::Relaxed)));
        out.insert("attack_objects_stored_by_victims".into(), json!(flood_stored));
        out.insert("victim_disk_growth_kib".into(), json!(disk_growth));
        Ok(out)
    }
}

/// Dials the victim again as soon as it has cut this attacker off.
async fn redial(rogue: Arc<Rogue>, addr: Multiaddr, counts: Arc<Counts>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if rogue.connections().await.is_ok_and(|c| !c.connected) {
            let _ = rogue.dial(addr.clone()).await;
            counts.redials.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Gossip floods: workless listings from ever new keys, garbage now and then.
async fn gossip(rogue: Arc<Rogue>, k: usize, counts: Arc<Counts>, stop: CancellationToken) {
    let mut i: u32 = 0;
    while !stop.is_cancelled() {
        i = i.wrapping_add(1);
        let mut listing = Listing { title: format!("Flood {k} {i}"), ..live_listing("Flood") };
        listing.nonce[..4].copy_from_slice(&i.to_le_bytes());
        listing.nonce[4] = k as u8;
        let object =
            sign_now(&author(1_000_000 + (k as u32) * 100_000 + i % 100_000), Body::Listing(listing));
        if rogue.publish(object.bytes().to_vec()).await.is_ok() {
            counts.gossiped.fetch_add(1, Ordering::Relaxed);
        }
        if i.is_multiple_of(1_024) {
            let _ = rogue.publish(vec![0xAB; 300]).await;
        }
        tokio::task::yield_now().await;
    }
}

/// Negotiation floods, eight requests at a time: signed offers on listings the victim does not
/// hold, or garbage.
async fn negotiate(
    rogue: Arc<Rogue>,
    target: PeerId,
    victim: haggle_protocol::PublicKey,
    garbage: bool,
    counts: Arc<Counts>,
    stop: CancellationToken,
) {
    let mut i: u32 = 0;
    while !stop.is_cancelled() {
        let wave = (0..8).map(|_| {
            i = i.wrapping_add(1);
            let bytes = if garbage {
                vec![0xCD; 200]
            } else {
                let nowhere = sign_now(&author(2_000_000 + i), Body::Listing(live_listing("Nowhere")));
                let mut offer =
                    haggle_protocol::fixtures::offer(&nowhere, haggle_protocol::fixtures::live_terms(1, 100));
                if let Body::Offer(o) = &mut offer {
                    o.to = victim;
                }
                sign_now(&author(3_000_000 + i), offer).bytes().to_vec()
            };
            rogue.negotiate(target, bytes)
        });
        let answers = futures::future::join_all(wave).await;
        for answer in answers {
            counts.negotiations.fetch_add(1, Ordering::Relaxed);
            match answer {
                Ok(Ok(NegotiateResponse::Rejected { reason, .. })) if reason.contains("rate limited") => {
                    counts.rate_limited.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(_)) | Err(_) => {
                    counts.refused_streams.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Ok(_)) => {}
            }
        }
        if stop.is_cancelled() {
            break;
        }
        // Not connected: the redial task dials again; don't spin meanwhile.
        if rogue.connections().await.is_ok_and(|c| !c.connected) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
