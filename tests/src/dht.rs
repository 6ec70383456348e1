//! A peer for tests of what a node believes about other peers: a bare libp2p swarm that speaks
//! identify and Kademlia (in server mode) with the node's protocol names, claims whatever
//! addresses it is told, and asks a node's DHT what it holds about a peer. Like the rogue, it is
//! not a haggle node.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use futures::StreamExt;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, kad, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

use haggle_node::wire::{IDENTIFY_PROTOCOL, KAD_PROTOCOL};

use crate::STEP;

#[derive(NetworkBehaviour)]
struct DhtBehaviour {
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

enum Command {
    Listening(oneshot::Sender<Option<Multiaddr>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), String>>),
    Connected(PeerId, oneshot::Sender<bool>),
    Claim(Vec<Multiaddr>, oneshot::Sender<()>),
    Lookup { ask: PeerId, at: Multiaddr, target: PeerId, reply: oneshot::Sender<Vec<Multiaddr>> },
}

/// A running DHT peer; dropping it stops the swarm.
pub struct DhtPeer {
    /// Its PeerId.
    pub id: PeerId,
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for DhtPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhtPeer").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Drop for DhtPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DhtPeer {
    /// Starts a peer listening on 127.0.0.1; returns it with its address (`/p2p/` included).
    pub async fn spawn() -> Result<(DhtPeer, Multiaddr)> {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                // Only the addresses it is told to claim go out, and only when it is told to.
                let identify = identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                        .with_hide_listen_addrs(true)
                        .with_push_listen_addr_updates(false)
                        .with_interval(Duration::from_secs(3_600)),
                );
                let mut config = kad::Config::new(KAD_PROTOCOL);
                config.set_query_timeout(Duration::from_secs(10));
                let mut kad = kad::Behaviour::with_config(id, kad::store::MemoryStore::new(id), config);
                kad.set_mode(Some(kad::Mode::Server));
                Ok(DhtBehaviour { identify, kad })
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
        let id = *swarm.local_peer_id();
        let (tx, mut rx) = mpsc::channel::<Command>(16);
        let task = tokio::spawn(async move {
            let mut claimed: Vec<Multiaddr> = Vec::new();
            let mut dialling: HashMap<ConnectionId, oneshot::Sender<Result<(), String>>> = HashMap::new();
            let mut lookups: Vec<(kad::QueryId, PeerId, oneshot::Sender<Vec<Multiaddr>>)> = Vec::new();
            loop {
                tokio::select! {
                    command = rx.recv() => match command {
                        Some(Command::Listening(reply)) => {
                            let _ = reply.send(swarm.listeners().next().cloned());
                        }
                        Some(Command::Dial(addr, reply)) => {
                            let dial = DialOpts::from(addr);
                            let id = dial.connection_id();
                            match swarm.dial(dial) {
                                Ok(()) => {
                                    dialling.insert(id, reply);
                                }
                                Err(e) => {
                                    let _ = reply.send(Err(e.to_string()));
                                }
                            }
                        }
                        Some(Command::Connected(peer, reply)) => {
                            let _ = reply.send(swarm.is_connected(&peer));
                        }
                        Some(Command::Claim(addrs, reply)) => {
                            for old in claimed.drain(..) {
                                swarm.remove_external_address(&old);
                            }
                            for addr in &addrs {
                                swarm.add_external_address(addr.clone());
                            }
                            claimed = addrs;
                            let peers: Vec<PeerId> = swarm.connected_peers().copied().collect();
                            swarm.behaviour_mut().identify.push(peers);
                            let _ = reply.send(());
                        }
                        Some(Command::Lookup { ask, at, target, reply }) => {
                            let kad = &mut swarm.behaviour_mut().kad;
                            kad.add_address(&ask, at);
                            let query = kad.get_closest_peers(target);
                            lookups.push((query, target, reply));
                        }
                        None => break,
                    },
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::ConnectionEstablished { connection_id, .. } => {
                            if let Some(reply) = dialling.remove(&connection_id) {
                                let _ = reply.send(Ok(()));
                            }
                        }
                        SwarmEvent::OutgoingConnectionError { connection_id, error, .. } => {
                            if let Some(reply) = dialling.remove(&connection_id) {
                                let _ = reply.send(Err(error.to_string()));
                            }
                        }
                        SwarmEvent::Behaviour(DhtBehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                            id, result: kad::QueryResult::GetClosestPeers(result), step, ..
                        })) if step.last => {
                            let peers = match result {
                                Ok(ok) => ok.peers,
                                Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                            };
                            if let Some(at) = lookups.iter().position(|(q, ..)| *q == id) {
                                let (_, target, reply) = lookups.swap_remove(at);
                                let found = peers.into_iter().find(|p| p.peer_id == target);
                                let addrs = found.map(|p| p.addrs).unwrap_or_default();
                                let _ = reply.send(addrs.iter().map(bare).collect());
                            }
                        }
                        _ => {}
                    }
                }
            }
        });
        let peer = DhtPeer { id, commands: tx, task };
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            if let Some(address) = peer.ask(Command::Listening).await? {
                return Ok((peer, address.with(libp2p::multiaddr::Protocol::P2p(id))));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(anyhow!("the DHT peer was not listening after {STEP:?}"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| anyhow!("the DHT peer stopped"))?;
        Ok(rx.await?)
    }

    /// Dials `addr` and waits until connected (or the dial failed).
    pub async fn dial(&self, addr: Multiaddr) -> Result<()> {
        let dialled = self.ask(|reply| Command::Dial(addr, reply));
        tokio::time::timeout(STEP, dialled).await??.map_err(anyhow::Error::msg)
    }

    /// Whether it is connected to `peer` now.
    pub async fn connected(&self, peer: PeerId) -> Result<bool> {
        self.ask(|reply| Command::Connected(peer, reply)).await
    }

    /// Claims to listen on `addrs` (and nowhere else), and pushes that to every connected peer
    /// at once (identify push).
    pub async fn claim(&self, addrs: Vec<Multiaddr>) -> Result<()> {
        self.ask(|reply| Command::Claim(addrs, reply)).await
    }

    /// Asks `ask` (reached at `at`) for the peers closest to `target`, and returns the addresses
    /// its answer gave for `target` itself, without their `/p2p/` part (none if it named no such
    /// peer). Bounded by the query's timeout (10 s).
    pub async fn lookup(&self, ask: PeerId, at: Multiaddr, target: PeerId) -> Result<Vec<Multiaddr>> {
        let asked = self.ask(|reply| Command::Lookup { ask, at, target, reply });
        tokio::time::timeout(STEP, asked).await?
    }
}

/// An address without its `/p2p/<id>` part.
fn bare(m: &Multiaddr) -> Multiaddr {
    m.iter().filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_))).collect()
}
