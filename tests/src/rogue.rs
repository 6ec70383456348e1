//! A rogue peer for attack tests: a bare libp2p swarm that speaks gossipsub and the node's
//! negotiation, sync and file protocols, and sends whatever it is told, as fast as it is told.
//! It can also send a request on a raw stream and never read the answer. It is not a haggle
//! node: it validates nothing and keeps no store.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

use haggle_node::codec::BincodeCodec;
use haggle_node::files::wire::{
    BLOB_PROTOCOL, BlobRequest, BlobResponse, MAX_BLOB_REQUEST, MAX_BLOB_RESPONSE,
};
use haggle_node::party::{
    MAX_PARTY_REQUEST, MAX_PARTY_RESPONSE, PARTY_PROTOCOL, PartyRequest, PartyResponse,
};
use haggle_node::sync::{MAX_SYNC_REQUEST, MAX_SYNC_RESPONSE, SYNC_PROTOCOL_V2, SyncRequest, SyncResponse};
use haggle_node::wire::{
    LISTINGS_TOPIC, MAX_NEGOTIATE_REQUEST, MAX_NEGOTIATE_RESPONSE, NEGOTIATE_PROTOCOL, NegotiateRequest,
    NegotiateResponse,
};

use crate::STEP;

#[derive(NetworkBehaviour)]
struct RogueBehaviour {
    gossipsub: gossipsub::Behaviour,
    negotiate: request_response::Behaviour<BincodeCodec<NegotiateRequest, NegotiateResponse>>,
    sync: request_response::Behaviour<BincodeCodec<SyncRequest, SyncResponse>>,
    blobs: request_response::Behaviour<BincodeCodec<BlobRequest, BlobResponse>>,
    party: request_response::Behaviour<BincodeCodec<PartyRequest, PartyResponse>>,
    streams: libp2p_stream::Behaviour,
}

/// How the rogue answers file requests.
#[derive(Clone, Debug)]
pub struct FileServing {
    /// Where it reads files from.
    pub blobs: std::sync::Arc<haggle_storage::blobs::Blobs>,
    /// Flip a bit in every answer, so it no longer matches the hash.
    pub tamper: bool,
    /// File requests answered so far.
    pub answered: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What the rogue saw of its connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connections {
    /// Connected to any peer now.
    pub connected: bool,
    /// Connections established so far.
    pub opened: u64,
    /// Connections closed, or dials that failed, so far.
    pub ended: u64,
}

enum Command {
    Publish(Vec<u8>, oneshot::Sender<Result<(), String>>),
    TopicPeers(oneshot::Sender<usize>),
    Negotiate(PeerId, Vec<u8>, oneshot::Sender<Result<NegotiateResponse, String>>),
    Sync(PeerId, SyncRequest, oneshot::Sender<Result<SyncResponse, String>>),
    Dial(Multiaddr),
    Connections(oneshot::Sender<Connections>),
    AnswerSync(SyncResponse),
    ServeFiles(FileServing),
    AskFile(PeerId, BlobRequest, oneshot::Sender<Result<BlobResponse, String>>),
    Listening(oneshot::Sender<Option<Multiaddr>>),
    Disconnect(PeerId, oneshot::Sender<()>),
    Party(PeerId, PartyRequest, oneshot::Sender<Result<PartyResponse, String>>),
    AnswerParty(PartyResponse),
}

/// Hands the outcome of one of the rogue's requests to whoever asked: the response, or why none
/// came. Returns the channel of a request from the target, for the caller to answer or drop.
fn settle<Req, Resp>(
    asked: &mut HashMap<OutboundRequestId, oneshot::Sender<Result<Resp, String>>>,
    event: request_response::Event<Req, Resp>,
) -> Option<request_response::ResponseChannel<Resp>> {
    match event {
        request_response::Event::Message { message, .. } => match message {
            request_response::Message::Request { channel, .. } => return Some(channel),
            request_response::Message::Response { request_id, response } => {
                if let Some(reply) = asked.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
        },
        request_response::Event::OutboundFailure { request_id, error, .. } => {
            if let Some(reply) = asked.remove(&request_id) {
                let _ = reply.send(Err(error.to_string()));
            }
        }
        _ => {}
    }
    None
}

/// A running rogue; dropping it stops the swarm.
pub struct Rogue {
    /// Its PeerId.
    pub id: PeerId,
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
    streams: libp2p_stream::Control,
    /// Streams it sent a request on and reads nothing from.
    unread: tokio::sync::Mutex<Vec<libp2p::Stream>>,
}

impl std::fmt::Debug for Rogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rogue").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Rogue {
    /// Starts a rogue that dials `target` and subscribes to the listings topic.
    pub fn spawn(target: Multiaddr) -> Result<Rogue> {
        Self::start(Some(target))
    }

    /// Starts a rogue that listens on 127.0.0.1 and dials nobody, for a node to dial (as a
    /// bootstrap peer, say); returns its address, `/p2p/` included.
    pub async fn spawn_listening() -> Result<(Rogue, Multiaddr)> {
        let rogue = Self::start(None)?;
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            if let Some(address) = rogue.ask(Command::Listening).await? {
                let id = rogue.id;
                return Ok((rogue, address.with(libp2p::multiaddr::Protocol::P2p(id))));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(anyhow!("the rogue was not listening after {STEP:?}"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn start(target: Option<Multiaddr>) -> Result<Rogue> {
        let topic = IdentTopic::new(LISTINGS_TOPIC);
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
            .with_behaviour(|_| {
                let config = gossipsub::ConfigBuilder::default()
                    .validation_mode(ValidationMode::Anonymous)
                    .message_id_fn(|m: &gossipsub::Message| {
                        MessageId::from(haggle_node::gossip_message_id(&m.data))
                    })
                    .max_transmit_size(256 * 1024)
                    .heartbeat_interval(Duration::from_millis(200))
                    .build()
                    .map_err(|e| e.to_string())?;
                let gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?;
                let negotiate = request_response::Behaviour::with_codec(
                    BincodeCodec::new(MAX_NEGOTIATE_REQUEST, MAX_NEGOTIATE_RESPONSE),
                    [(NEGOTIATE_PROTOCOL, ProtocolSupport::Outbound)],
                    request_response::Config::default()
                        .with_request_timeout(STEP)
                        .with_max_concurrent_streams(1_000),
                );
                // Sync as a node from before version 3 speaks it: the node falls back to it.
                let sync = request_response::Behaviour::with_codec(
                    BincodeCodec::new(MAX_SYNC_REQUEST * 64, MAX_SYNC_RESPONSE),
                    [(SYNC_PROTOCOL_V2, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(STEP)
                        .with_max_concurrent_streams(1_000),
                );
                let blobs = request_response::Behaviour::with_codec(
                    BincodeCodec::new(MAX_BLOB_REQUEST, MAX_BLOB_RESPONSE),
                    [(BLOB_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(STEP)
                        .with_max_concurrent_streams(1_000),
                );
                let party = request_response::Behaviour::with_codec(
                    BincodeCodec::new(MAX_PARTY_REQUEST * 4, MAX_PARTY_RESPONSE * 4),
                    [(PARTY_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(STEP)
                        .with_max_concurrent_streams(1_000),
                );
                Ok(RogueBehaviour {
                    gossipsub,
                    negotiate,
                    sync,
                    blobs,
                    party,
                    streams: libp2p_stream::Behaviour::new(),
                })
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm.behaviour_mut().gossipsub.subscribe(&topic)?;
        match target {
            Some(target) => swarm.dial(target)?,
            None => {
                swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
            }
        }
        let id = *swarm.local_peer_id();
        let streams = swarm.behaviour().streams.new_control();
        let (tx, mut rx) = mpsc::channel::<Command>(64);
        let task = tokio::spawn(async move {
            let mut pending: HashMap<OutboundRequestId, oneshot::Sender<Result<NegotiateResponse, String>>> =
                HashMap::new();
            let mut syncing: HashMap<OutboundRequestId, oneshot::Sender<Result<SyncResponse, String>>> =
                HashMap::new();
            let mut seen = Connections::default();
            // What it answers the target's sync requests with (by default, nothing).
            let mut sync_answer: Option<SyncResponse> = None;
            // How it answers the target's file requests (by default, not at all).
            let mut serving: Option<FileServing> = None;
            let mut asked_files: HashMap<OutboundRequestId, oneshot::Sender<Result<BlobResponse, String>>> =
                HashMap::new();
            let mut asked_party: HashMap<OutboundRequestId, oneshot::Sender<Result<PartyResponse, String>>> =
                HashMap::new();
            // What it answers the target's party requests with (by default, nothing).
            let mut party_answer: Option<PartyResponse> = None;
            loop {
                tokio::select! {
                    command = rx.recv() => match command {
                        Some(Command::Publish(bytes, reply)) => {
                            let result = swarm.behaviour_mut().gossipsub.publish(topic.clone(), bytes);
                            let _ = reply.send(result.map(|_| ()).map_err(|e| e.to_string()));
                        }
                        Some(Command::TopicPeers(reply)) => {
                            let peers = swarm.behaviour().gossipsub.all_peers();
                            let _ = reply.send(peers.filter(|(_, t)| t.contains(&&topic.hash())).count());
                        }
                        Some(Command::Negotiate(peer, object, reply)) => {
                            let id = swarm.behaviour_mut().negotiate.send_request(&peer, NegotiateRequest { object });
                            pending.insert(id, reply);
                        }
                        Some(Command::Sync(peer, request, reply)) => {
                            let id = swarm.behaviour_mut().sync.send_request(&peer, request);
                            syncing.insert(id, reply);
                        }
                        Some(Command::Dial(addr)) => {
                            if swarm.dial(addr).is_err() {
                                seen.ended += 1;
                            }
                        }
                        Some(Command::Connections(reply)) => {
                            seen.connected = swarm.connected_peers().next().is_some();
                            let _ = reply.send(seen);
                        }
                        Some(Command::AnswerSync(answer)) => sync_answer = Some(answer),
                        Some(Command::ServeFiles(how)) => serving = Some(how),
                        Some(Command::AskFile(peer, request, reply)) => {
                            let id = swarm.behaviour_mut().blobs.send_request(&peer, request);
                            asked_files.insert(id, reply);
                        }
                        Some(Command::Listening(reply)) => {
                            let _ = reply.send(swarm.listeners().next().cloned());
                        }
                        Some(Command::Disconnect(peer, reply)) => {
                            let _ = swarm.disconnect_peer_id(peer);
                            let _ = reply.send(());
                        }
                        Some(Command::Party(peer, request, reply)) => {
                            let id = swarm.behaviour_mut().party.send_request(&peer, request);
                            asked_party.insert(id, reply);
                        }
                        Some(Command::AnswerParty(answer)) => party_answer = Some(answer),
                        None => break,
                    },
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::ConnectionEstablished { .. } => seen.opened += 1,
                        SwarmEvent::ConnectionClosed { .. } | SwarmEvent::OutgoingConnectionError { .. } => {
                            seen.ended += 1;
                        }
                        SwarmEvent::Behaviour(RogueBehaviourEvent::Negotiate(event)) => {
                            // Requests from the target go unanswered.
                            let _ = settle(&mut pending, event);
                        }
                        SwarmEvent::Behaviour(RogueBehaviourEvent::Blobs(event)) => {
                            let request = match &event {
                                request_response::Event::Message {
                                    message: request_response::Message::Request { request, .. }, ..
                                } => Some(request.clone()),
                                _ => None,
                            };
                            if let (Some(channel), Some(request), Some(how)) =
                                (settle(&mut asked_files, event), request, &serving)
                            {
                                let answer = match how.blobs.encode(&request.hash, request.first, request.count) {
                                    Ok(mut data) => {
                                        if how.tamper {
                                            let at = data.len().saturating_sub(100);
                                            data[at] ^= 0x10;
                                        }
                                        how.answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                        BlobResponse::Data(data)
                                    }
                                    Err(_) => BlobResponse::Missing { fetching: false },
                                };
                                let _ = swarm.behaviour_mut().blobs.send_response(channel, answer);
                            }
                        }
                        SwarmEvent::Behaviour(RogueBehaviourEvent::Party(event)) => {
                            if let Some(channel) = settle(&mut asked_party, event)
                                && let Some(answer) = &party_answer
                            {
                                let _ = swarm.behaviour_mut().party.send_response(channel, answer.clone());
                            }
                        }
                        SwarmEvent::Behaviour(RogueBehaviourEvent::Sync(event)) => {
                            if let Some(channel) = settle(&mut syncing, event)
                                && let Some(answer) = &sync_answer
                            {
                                let _ = swarm.behaviour_mut().sync.send_response(channel, answer.clone());
                            }
                        }
                        _ => {}
                    }
                }
            }
        });
        Ok(Rogue { id, commands: tx, task, streams, unread: Default::default() })
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| anyhow!("the rogue stopped"))?;
        Ok(rx.await?)
    }

    /// Sends `request` to `peer` on `n` new streams of `protocol` and reads none of the
    /// answers: they wait in the peer's send buffers until its requests time out or the
    /// connection closes ([`Rogue::disconnect`]).
    pub async fn ask_unread(
        &self,
        peer: PeerId,
        protocol: libp2p::StreamProtocol,
        request: &impl serde::Serialize,
        n: usize,
    ) -> Result<()> {
        use futures::AsyncWriteExt;
        let bytes = bincode::serde::encode_to_vec(request, bincode::config::standard())?;
        for _ in 0..n {
            let mut control = self.streams.clone();
            let mut stream =
                tokio::time::timeout(STEP, control.open_stream(peer, protocol.clone())).await??;
            stream.write_all(&bytes).await?;
            // The request ends where the stream's writing half does.
            stream.close().await?;
            self.unread.lock().await.push(stream);
        }
        Ok(())
    }

    /// Closes every connection to `peer` (the streams [`Rogue::ask_unread`] left unread go
    /// with them). Dropping such a stream alone does not end the peer's write to it: yamux
    /// leaves it waiting for a window update until its request times out.
    pub async fn disconnect(&self, peer: PeerId) -> Result<()> {
        self.unread.lock().await.clear();
        self.ask(|reply| Command::Disconnect(peer, reply)).await
    }

    /// Closes its connections to `peer`, waits until they are gone, dials `addr` again and waits
    /// until connected (each wait bounded).
    pub async fn reconnect(&self, peer: PeerId, addr: Multiaddr) -> Result<()> {
        self.disconnect(peer).await?;
        crate::wait_until("the rogue to be gone", || async { !self.is_connected().await }).await?;
        self.dial(addr.clone()).await?;
        // A dial can land while the peer still counts the connection just closed (its cap per
        // address, a handshake under way) and be refused: dialled again every few checks, as a
        // node's dialer would (one dial alone failed a run in three under load).
        let mut checks = 0u32;
        crate::wait_until("the rogue to be back", || {
            checks += 1;
            let again = checks.is_multiple_of(8);
            let addr = addr.clone();
            async move {
                if self.is_connected().await {
                    return true;
                }
                if again {
                    let _ = self.dial(addr).await;
                }
                false
            }
        })
        .await
    }

    /// Whether it is connected to any peer now.
    pub async fn is_connected(&self) -> bool {
        self.connections().await.is_ok_and(|c| c.connected)
    }

    /// Publishes raw bytes on the listings topic.
    pub async fn publish(&self, bytes: Vec<u8>) -> Result<()> {
        self.ask(|reply| Command::Publish(bytes, reply)).await?.map_err(anyhow::Error::msg)
    }

    /// Peers it sees subscribed to the listings topic.
    pub async fn topic_peers(&self) -> Result<usize> {
        self.ask(Command::TopicPeers).await
    }

    /// Waits (bounded) until the target's subscription is seen, so gossip will reach it.
    pub async fn wait_subscribed(&self) -> Result<()> {
        crate::wait_until("the rogue to see a subscription", || async {
            self.topic_peers().await.is_ok_and(|n| n >= 1)
        })
        .await
    }

    /// Sends one negotiation request and waits for its answer (or failure).
    pub async fn negotiate(
        &self,
        peer: PeerId,
        object: Vec<u8>,
    ) -> Result<Result<NegotiateResponse, String>> {
        self.ask(|reply| Command::Negotiate(peer, object, reply)).await
    }

    /// Sends one sync request (of any size: the rogue's own limit is far above the node's) and
    /// waits for its answer (or failure).
    pub async fn sync(&self, peer: PeerId, request: SyncRequest) -> Result<Result<SyncResponse, String>> {
        self.ask(|reply| Command::Sync(peer, request, reply)).await
    }

    /// Answers every sync request from now on with `answer`, whatever was asked.
    pub async fn answer_sync_with(&self, answer: SyncResponse) -> Result<()> {
        self.commands.send(Command::AnswerSync(answer)).await.map_err(|_| anyhow!("the rogue stopped"))
    }

    /// Sends one `/haggle/party/1` request (of any size: the rogue's own limit is above the
    /// node's) and waits for its answer (or failure).
    pub async fn party(&self, peer: PeerId, request: PartyRequest) -> Result<Result<PartyResponse, String>> {
        self.ask(|reply| Command::Party(peer, request, reply)).await
    }

    /// Answers every party request from now on with `answer`.
    pub async fn answer_party_with(&self, answer: PartyResponse) -> Result<()> {
        self.commands.send(Command::AnswerParty(answer)).await.map_err(|_| anyhow!("the rogue stopped"))
    }

    /// Asks `peer` for part of a file.
    pub async fn ask_file(&self, peer: PeerId, request: BlobRequest) -> Result<Result<BlobResponse, String>> {
        self.ask(|reply| Command::AskFile(peer, request, reply)).await
    }

    /// Answers file requests from now on as `how` says.
    pub async fn serve_files(&self, how: FileServing) -> Result<()> {
        self.commands.send(Command::ServeFiles(how)).await.map_err(|_| anyhow!("the rogue stopped"))
    }

    /// Dials `addr` again.
    pub async fn dial(&self, addr: Multiaddr) -> Result<()> {
        self.commands.send(Command::Dial(addr)).await.map_err(|_| anyhow!("the rogue stopped"))
    }

    /// What it saw of its connections.
    pub async fn connections(&self) -> Result<Connections> {
        self.ask(Command::Connections).await
    }
}

/// A reconciliation answer that never lets a session end: "everything you hold below the last
/// moment, I lack", then a fingerprint up to the end that matches nothing, so the initiator
/// splits that range and asks again. Sent every round, it names the initiator's whole set each
/// time (negentropy's encoding: protocol 0x61, then bounds, modes and payloads).
pub fn endless_reconcile_answer() -> Vec<u8> {
    fn varint(mut n: u64) -> Vec<u8> {
        let mut out = vec![(n & 0x7f) as u8];
        n >>= 7;
        while n > 0 {
            out.push((n & 0x7f) as u8 | 0x80);
            n >>= 7;
        }
        out.reverse();
        out
    }
    let mut answer = vec![0x61];
    for part in [u64::MAX, 0, 2, 0, 0, 0, 1] {
        // bound u64::MAX - 1 (encoded plus one), no id prefix, an id list of no ids; a bound at
        // infinity, no id prefix, a fingerprint
        answer.extend(varint(part));
    }
    answer.extend([0xab; 16]);
    answer
}
