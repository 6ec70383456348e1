//! Starting and stopping a node: identity, store, swarm, event loop and local API.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Multiaddr, PeerId, Swarm, autonat, connection_limits, dcutr, identify, kad, mdns, noise, ping, relay,
    request_response, tcp, upnp, yamux,
};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use haggle_protocol::keyfile;
use haggle_storage::Store;

use crate::api;
use crate::api::types::NodeEvent;
use crate::behaviour::Behaviour;
use crate::codec::{BincodeCodec, StampedCodec};
use crate::config::{NodeConfig, RelayMode};
use crate::error::StartError;
use crate::event_loop::EventLoop;
use crate::gossip;
use crate::guard::Guard;
use crate::handle::NodeHandle;
use crate::service::Service;
use crate::sync::{MAX_SYNC_REQUEST, MAX_SYNC_RESPONSE, SYNC_PROTOCOL, SYNC_PROTOCOL_V2};
use crate::wire::{KAD_PROTOCOL, MAX_NEGOTIATE_REQUEST, MAX_NEGOTIATE_RESPONSE, NEGOTIATE_PROTOCOL};

/// The identity key in the data dir (mode 0600).
pub const KEY_FILE: &str = "identity.key";
/// The API token in the data dir (mode 0600, new at each start).
pub const COOKIE_FILE: &str = "api.cookie";
/// Where the API listens, in the data dir (so a client finds it even on port 0).
pub const ADDR_FILE: &str = "api.addr";

/// Capacity of the command channel: commands are small and handled at once; a full channel
/// makes callers wait rather than grow memory.
const COMMAND_CAPACITY: usize = 256;
/// The longest a node started holds back the ends of other people's markets, waiting for its
/// first sync (see `Service::catch_up_within`).
const CATCH_UP_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
/// Peers of the address book dialled at start (trading partners and bootstrap peers first, then
/// the most recently reached): enough to find the network and the DHT again; fewer if the
/// connection target is lower.
const KNOWN_AT_START: usize = 16;
/// How long start-up waits for each listen address to be bound.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the loop and the API to finish.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// A negotiation request that gets no answer in this time is retried later.
const NEGOTIATE_TIMEOUT: Duration = Duration::from_secs(20);
/// A sync request (a batch of up to 256 objects) that gets no answer in this time ends the
/// session; the next connection or periodic sync starts over.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// Inbound connections at once, apart from outbound ones, so peers that dial us can never take
/// the slots of the peers we chose (bootstrap peers, parties to our deals, sync partners).
const MAX_INBOUND: u32 = 128;
/// Outbound connections at once.
const MAX_OUTBOUND: u32 = 64;
/// Inbound connections still in their handshake.
const MAX_PENDING_INCOMING: u32 = 32;
/// Our dials under way.
const MAX_PENDING_OUTGOING: u32 = 32;
/// Connections with one peer (two, for a simultaneous dial from both sides).
const MAX_PER_PEER: u32 = 2;
/// Concurrent negotiation streams per connection (each buffers at most one message of
/// [`MAX_NEGOTIATE_REQUEST`] bytes): a party delivers its outbox a few messages at a time.
const NEGOTIATE_STREAMS: usize = 8;
/// How long a party's answer about two parties' threads and deals may take (up to 2 MiB of
/// objects read from its store).
const PARTY_TIMEOUT: Duration = Duration::from_secs(30);
/// Inbound `/haggle/party/1` streams per connection: a peer asks one request at a time.
const PARTY_STREAMS: usize = 2;
/// Concurrent sync streams per connection, both ways together: a session keeps at most four
/// fetches and two pushes in flight, and the peer may run a session with us at the same time.
/// Each inbound stream buffers at most one request (`MAX_SYNC_REQUEST`, 256 KiB).
const SYNC_STREAMS: usize = 12;
/// A file request (256 KiB) that gets no answer in this time is asked of another peer.
const BLOB_TIMEOUT: Duration = Duration::from_secs(20);
/// Concurrent file streams per connection, both ways: a fetch keeps at most four requests in
/// flight to one peer, and the peer may fetch from us at the same time.
const BLOB_STREAMS: usize = 16;
/// Idle connections stay open this long, so peers keep their gossip mesh in a quiet market.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(600);
/// How often each connection is pinged. Pings keep a home router's state for the connection
/// alive and measure its round trip; libp2p's default of 15 s costs an idle node with 50
/// connections more wake-ups than anything else it does (about 7 ping exchanges a second), and
/// routers keep an established TCP connection's state for minutes at least.
const PING_INTERVAL: Duration = Duration::from_secs(60);

/// A running node.
#[derive(Debug)]
pub struct RunningNode {
    /// The node's PeerId.
    pub peer_id: PeerId,
    /// Peer-to-peer addresses it listens on (with the real ports).
    pub listen_addrs: Vec<Multiaddr>,
    /// Where the local API listens.
    pub api_addr: SocketAddr,
    /// Talks to the event loop.
    pub handle: NodeHandle,
    /// The application: actions, inbound path, reads.
    pub service: Service,
    /// The data dir.
    pub data_dir: PathBuf,
    /// The store, for tools and tests that inspect or preload it; the node's own code reaches it
    /// only through the service.
    store: Arc<Store>,
    /// Events from the very start (subscribed before the event loop ran); see
    /// [`RunningNode::take_events`].
    first_events: Option<broadcast::Receiver<NodeEvent>>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// Whether the event loop stopped on a panic.
    loop_failed: Arc<std::sync::atomic::AtomicBool>,
}

impl RunningNode {
    /// A dialable address of this node: its first listen address with `/p2p/<PeerId>`.
    pub fn dial_addr(&self) -> Option<Multiaddr> {
        self.listen_addrs.first().map(|a| a.clone().with(libp2p::multiaddr::Protocol::P2p(self.peer_id)))
    }

    /// A receiver of every event since the node started (later subscribers, through
    /// [`NodeHandle::subscribe`], see only what happens after they subscribe). `None` after the
    /// first call.
    pub fn take_events(&mut self) -> Option<broadcast::Receiver<NodeEvent>> {
        self.first_events.take()
    }

    /// The node's store, for tools and tests that inspect or preload it (benchmarks, the
    /// simulation). Writing through it bypasses the node's inbound path: nothing is announced or
    /// gossiped.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The API cookie (bearer token).
    pub fn cookie(&self) -> std::io::Result<String> {
        std::fs::read_to_string(self.data_dir.join(COOKIE_FILE)).map(|s| s.trim().to_owned())
    }

    /// Stops the node and waits (bounded) for it to finish: the loop stops, the API stops taking
    /// requests, the store is flushed.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.wait().await;
    }

    /// Waits until the node stops (after its shutdown token is cancelled). Returns why, if it
    /// stopped by itself: its store could take no more writes, or its event loop panicked.
    pub async fn wait(self) -> Option<String> {
        let data_dir = self.data_dir.clone();
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(SHUTDOWN_TIMEOUT + Duration::from_secs(1), all).await.is_err() {
            tracing::warn!("node tasks did not stop in time");
        }
        let store = self.store.clone();
        let failure = self.service.store_failure().or_else(|| {
            self.loop_failed.load(std::sync::atomic::Ordering::Acquire).then(|| {
                "the node's event loop stopped on a defect (a panic: see the log above); start the node again, and please report it".to_owned()
            })
        });
        drop(self.service);
        drop(self.handle);
        drop(self.store);
        let _ = tokio::task::spawn_blocking(move || store.flush()).await;
        let _ = std::fs::remove_file(data_dir.join(ADDR_FILE));
        tracing::info!("node stopped");
        failure
    }
}

/// Starts a node on `data_dir` (created with its identity on first run). The node runs until
/// `shutdown` is cancelled.
pub async fn start(
    data_dir: &Path,
    config: NodeConfig,
    shutdown: CancellationToken,
) -> Result<RunningNode, StartError> {
    // What the configuration asks for is checked before anything is written: a port another
    // program holds leaves no identity or database behind in a new data dir.
    let bootstrap = config.bootstrap_peers()?;
    // A node already running on this data dir holds its ports too: say that, not "port taken".
    let dir = data_dir.to_owned();
    tokio::task::spawn_blocking(move || Store::ensure_not_in_use(&dir))
        .await
        .map_err(StartError::StoreTask)??;
    free_ports(&config)?;
    api_port_free(&config)?;
    create_private_dir(data_dir)?;
    // A database without its key: the key was lost or moved. A new one would quietly become
    // someone else, unable to sign for the listings, threads and deals the database holds.
    let (key_path, db) = (data_dir.join(KEY_FILE), data_dir.join("db"));
    if !key_path.exists() && db.exists() {
        return Err(StartError::KeyMissing { dir: data_dir.to_owned(), key: key_path, db });
    }
    let (key, created) = keyfile::load_or_create(&key_path)?;
    let me = key.public().peer_id();
    if created {
        tracing::info!(peer = %key.public(), "created a new identity");
    }
    let (dir, cache_mib) = (data_dir.to_owned(), config.cache_mib);
    let store = tokio::task::spawn_blocking(move || Store::open_with_cache(&dir, cache_mib))
        .await
        .map_err(|source| StartError::StoreOpenFailed { db: db.clone(), source })??;
    // The database knows whose it is: a key restored from another backup would sign as a
    // stranger over someone else's listings, threads and deals (a trial's node started so,
    // and said "no listings" beside "1 deal").
    let mine = key.public();
    let (store, other) = tokio::task::spawn_blocking(move || {
        let other = other_owner(&store, &mine);
        (store, other)
    })
    .await
    .map_err(StartError::StoreTask)?;
    if let Some(owner) = other.map_err(|source| StartError::Owner { db: db.clone(), source })? {
        return Err(StartError::NotTheOwner {
            key: key_path,
            key_owner: me.to_string(),
            db,
            db_owner: owner.peer_id().to_string(),
        });
    }
    // After the owner's check: a key restored from another node's backup is the mistake to
    // name, not the bootstrap address that then names this node (a trial's operator was
    // pointed at the address).
    if let Some((_, addr)) = bootstrap.iter().find(|(peer, _)| *peer == me) {
        return Err(StartError::BootstrapSelf(addr.to_string()));
    }
    let store = Arc::new(store);
    let blob_dir = data_dir.join("blobs");
    let blobs = tokio::task::spawn_blocking(move || haggle_storage::blobs::Blobs::open(&blob_dir))
        .await
        .map_err(StartError::StoreTask)?
        .map_err(StartError::Blobs)?;
    let blobs = Arc::new(blobs);
    // A budget raised since listings were evicted for it lets them back (sync fetches them).
    let (max_listings, readmitting) = (config.max_listings, store.clone());
    match tokio::task::spawn_blocking(move || readmitting.readmit_evicted(max_listings)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(
            listings = n,
            max_listings,
            "max_listings has room for listings evicted earlier: sync fetches them again"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot let evicted listings back"),
        Err(e) => tracing::warn!(error = %e, "cannot let evicted listings back"),
    }
    let key = Arc::new(key);
    let service = Service::new(store.clone(), key.clone(), (&config).into(), blobs.clone());
    // Other people's auctions and campaigns that ended while the node was off are announced
    // once it has synced with a peer (or after a minute alone).
    service.catch_up_within(CATCH_UP_GRACE);
    service.stops_on_store_failure(shutdown.clone());

    let mut swarm = build_swarm(&key, &config)?;
    let listen_addrs = listen(&mut swarm, &config).await?;
    for addr in &listen_addrs {
        crate::event_loop::addresses::advertise(
            &mut swarm,
            addr.clone(),
            config.relay == crate::config::RelayMode::On,
        );
    }

    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&gossip::topic())
        .map_err(|e| StartError::Gossip(std::io::Error::other(e)))?;
    let peer_id = *swarm.local_peer_id();

    let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (event_tx, first_events) = broadcast::channel(config.event_capacity.clamp(16, 1 << 20));
    let handle = NodeHandle {
        recent: crate::recent::RecentEvents::default(),
        commands: command_tx,
        events: event_tx,
        files: Arc::new(crate::files::Files::new(
            blobs,
            config.blob_budget_mib.saturating_mul(1 << 20),
            service.metrics().clone(),
        )),
    };
    let mut event_loop =
        EventLoop::new(swarm, command_rx, service.clone(), shutdown.clone(), &config, handle.clone());
    event_loop.bootstrap(bootstrap);
    let book = service.clone();
    let known = match config.target_peers {
        0 => KNOWN_AT_START,
        target => KNOWN_AT_START.min(target),
    };
    match tokio::task::spawn_blocking(move || book.known_peers(known)).await {
        Ok(Ok(known)) => event_loop.known(known),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the address book"),
        Err(e) => tracing::warn!(error = %e, "cannot read the address book"),
    }
    // A defect that panics the event loop stops the whole node, said in the log and by `wait`,
    // rather than leaving a process whose API answers and whose network is gone (a supervisor
    // then restarts it).
    let loop_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loop_task = tokio::spawn({
        let (failed, shutdown) = (loop_failed.clone(), shutdown.clone());
        async move {
            use futures::FutureExt;
            if std::panic::AssertUnwindSafe(event_loop.run()).catch_unwind().await.is_err() {
                tracing::error!(
                    "the node's event loop stopped on a defect (a panic, logged above): the node stops"
                );
                failed.store(true, std::sync::atomic::Ordering::Release);
                shutdown.cancel();
            }
        }
    });
    let (api_addr, api_task) =
        api::serve(data_dir, &config, service.clone(), handle.clone(), shutdown.clone()).await?;
    tracing::info!(%peer_id, %api_addr, "node started");
    Ok(RunningNode {
        peer_id,
        listen_addrs,
        api_addr,
        handle,
        service,
        data_dir: data_dir.to_owned(),
        store,
        first_events: Some(first_events),
        shutdown,
        tasks: vec![loop_task, api_task],
        loop_failed,
    })
}

/// Creates the data dir `dir` (and its parents) if it is missing, readable by its owner only:
/// it holds the node's secret key and the API token.
pub fn create_private_dir(dir: &Path) -> Result<(), StartError> {
    let existed = dir.exists();
    // A dir that exists and refuses this user is most often one made by another (root's
    // `mkdir` before a service's first start): said so, with what to do.
    let err = |source: std::io::Error| match existed && source.kind() == std::io::ErrorKind::PermissionDenied
    {
        true => StartError::DataDirAccess { path: dir.to_owned(), source },
        false => StartError::DataDir { path: dir.to_owned(), source },
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).map_err(err)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
            // Said only for a dir someone made with other rights.
            if existed && mode & 0o077 != 0 {
                tracing::info!(dir = %dir.display(), from = format!("{mode:o}"), "the data dir is now readable by its owner only (mode 700): it is where the node's secret key is kept");
            }
        }
    }
    // One this user may not write to (another's, already private) is said now, not as a
    // failure to write the key or the database later.
    let probe = dir.join(".haggle-write-check");
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&probe).map_err(err)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn build_swarm(
    key: &haggle_protocol::SecretKey,
    config: &NodeConfig,
) -> Result<Swarm<Behaviour>, StartError> {
    let net = |e: &dyn std::fmt::Display| StartError::Transport(std::io::Error::other(e.to_string()));
    let mdns_on = config.mdns;
    let max_per_ip = config.max_inbound_per_ip;
    let heartbeat = config.heartbeat();
    let upnp_on = config.upnp;
    let relay_config = config.clone();
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key.to_libp2p_keypair())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| net(&e))?
        .with_quic()
        .with_dns()
        .map_err(|e| net(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| net(&e))?
        .with_behaviour(|key, relay_client| {
            let id = key.public().to_peer_id();
            let gossipsub = gossip::behaviour(heartbeat, HashSet::new())?;
            let mut kad_config = kad::Config::new(KAD_PROTOCOL);
            kad_config.set_query_timeout(Duration::from_secs(30));
            // The DHT finds peers, nothing more: records and provider records peers put are
            // not stored (the events that offer them are ignored), so none is kept for 48 hours
            // and replicated to 20 peers every hour on a stranger's behalf.
            kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
            kad_config.set_replication_interval(None);
            kad_config.set_publication_interval(None);
            kad_config.set_provider_publication_interval(None);
            let mut kad = kad::Behaviour::with_config(id, kad::store::MemoryStore::new(id), kad_config);
            // A client (asks, does not answer) until this node is confirmed reachable: peers
            // that cannot dial it should not keep it in their routing tables.
            kad.set_mode(Some(kad::Mode::Client));
            let mdns =
                if mdns_on { Some(mdns::tokio::Behaviour::new(mdns::Config::default(), id)?) } else { None };
            Ok(Behaviour {
                guard: Guard::new(max_per_ip),
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                        .with_max_pending_outgoing(Some(MAX_PENDING_OUTGOING))
                        .with_max_established_incoming(Some(MAX_INBOUND))
                        .with_max_established_outgoing(Some(MAX_OUTBOUND))
                        .with_max_established_per_peer(Some(MAX_PER_PEER)),
                ),
                gossipsub,
                negotiate: request_response::Behaviour::with_codec(
                    BincodeCodec::new(MAX_NEGOTIATE_REQUEST, MAX_NEGOTIATE_RESPONSE),
                    [(NEGOTIATE_PROTOCOL, request_response::ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(NEGOTIATE_TIMEOUT)
                        .with_max_concurrent_streams(NEGOTIATE_STREAMS),
                ),
                // Version 3 first; a node from before it answers version 2.
                sync: request_response::Behaviour::with_codec(
                    StampedCodec::new(MAX_SYNC_REQUEST, MAX_SYNC_RESPONSE, SYNC_PROTOCOL),
                    [
                        (SYNC_PROTOCOL, request_response::ProtocolSupport::Full),
                        (SYNC_PROTOCOL_V2, request_response::ProtocolSupport::Full),
                    ],
                    request_response::Config::default()
                        .with_request_timeout(SYNC_TIMEOUT)
                        .with_max_concurrent_streams(SYNC_STREAMS),
                ),
                party: request_response::Behaviour::with_codec(
                    BincodeCodec::new(crate::party::MAX_PARTY_REQUEST, crate::party::MAX_PARTY_RESPONSE),
                    [(crate::party::PARTY_PROTOCOL, request_response::ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(PARTY_TIMEOUT)
                        .with_max_concurrent_streams(PARTY_STREAMS),
                ),
                blobs: request_response::Behaviour::with_codec(
                    BincodeCodec::new(
                        crate::files::wire::MAX_BLOB_REQUEST,
                        crate::files::wire::MAX_BLOB_RESPONSE,
                    ),
                    [(crate::files::wire::BLOB_PROTOCOL, request_response::ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(BLOB_TIMEOUT)
                        .with_max_concurrent_streams(BLOB_STREAMS),
                ),
                kad,
                // Only the addresses added as external ones (global listen addresses; see
                // `event_loop::addresses`) are told to peers, never LAN, container or VPN ones.
                identify: identify::Behaviour::new(
                    identify::Config::new(crate::wire::identify_version(run()), key.public())
                        .with_agent_version(format!("haggle/{}", env!("CARGO_PKG_VERSION")))
                        .with_hide_listen_addrs(true),
                ),
                ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_INTERVAL)),
                mdns: Toggle::from(mdns),
                // Probes a candidate address every 5 s (libp2p's default).
                autonat: autonat::v2::client::Behaviour::default(),
                autonat_server: autonat::v2::server::Behaviour::default(),
                relay: relay_server(id, &relay_config),
                relay_client,
                dcutr: dcutr::Behaviour::new(id),
                upnp: Toggle::from(upnp_on.then(upnp::tokio::Behaviour::default)),
                candidates: crate::candidates::Candidates::default(),
            })
        })
        .map_err(|e| net(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

/// The relay service with this node's limits: in `auto` mode offered only while the node is
/// publicly reachable; `on` and `off` force it.
fn relay_server(id: PeerId, config: &NodeConfig) -> relay::Behaviour {
    let limits = relay::Config {
        max_reservations: config.relay_max_reservations,
        max_reservations_per_peer: 2,
        max_circuits: config.relay_max_circuits,
        max_circuits_per_peer: 4,
        max_circuit_duration: Duration::from_secs(config.relay_circuit_secs.max(1)),
        max_circuit_bytes: config.relay_circuit_kib.saturating_mul(1_024),
        ..relay::Config::default()
    };
    let mut relay = relay::Behaviour::new(id, limits);
    match config.relay {
        // Switched on while the node is public (`event_loop::reach`): libp2p's own automatic
        // switch would also count an address through someone else's relay.
        RelayMode::Auto => relay.set_status(Some(relay::Status::Disable)),
        RelayMode::On => relay.set_status(Some(relay::Status::Enable)),
        RelayMode::Off => relay.set_status(Some(relay::Status::Disable)),
    }
    relay
}

/// Refuses a listen address whose port another program holds. libp2p's TCP listener sets
/// `SO_REUSEPORT` (so that dials can leave from the listening port), which lets a second process
/// of the same user bind a port already in use and take a share of its connections without a
/// word; a plain bind first (the standard library's sets only `SO_REUSEADDR`) fails as a port in
/// use should. QUIC's UDP socket would fail by itself, but only once the identity and database
/// are made, and in libp2p's words: it is probed the same way.
fn port_free(addr: &Multiaddr) -> std::io::Result<()> {
    match socket_of(addr) {
        // Named where it is chosen, as the API's is (from a trial).
        Some((ip, Transport::Tcp(port))) if port != 0 => {
            probe_port((ip, port).into(), "choose another port with --listen (or `listen` in config.toml)")
        }
        // A trial's busy UDP port read `caused by: Address already in use` three times.
        Some((ip, Transport::Udp(port))) if port != 0 => probe_udp_port(
            (ip, port).into(),
            "choose another port for QUIC with --listen (or `listen` in config.toml)",
        ),
        _ => Ok(()),
    }
}

/// Binds `addr` for a moment: a port another program holds is an error that says so, and
/// `choose` says what to do.
fn probe_port(addr: SocketAddr, choose: &str) -> std::io::Result<()> {
    in_use_said(std::net::TcpListener::bind(addr).map(drop), "port", addr, choose)
}

/// [`probe_port`] for a UDP port.
fn probe_udp_port(addr: SocketAddr, choose: &str) -> std::io::Result<()> {
    in_use_said(std::net::UdpSocket::bind(addr).map(drop), "UDP port", addr, choose)
}

/// A bind's result, a port in use said in words.
fn in_use_said(
    bound: std::io::Result<()>,
    what: &str,
    addr: SocketAddr,
    choose: &str,
) -> std::io::Result<()> {
    match bound {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(std::io::Error::new(
            e.kind(),
            format!("{what} {} is in use by another program (another haggle node?); {choose}", addr.port()),
        )),
        // `--listen /ip4/8.8.8.8/...`: said `Cannot assign requested address (os error 99)`.
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Err(std::io::Error::new(
            e.kind(),
            format!(
                "{} is not an address of this machine: listen on one of its own (`ip address` lists them), or on 0.0.0.0 for all of them",
                addr.ip()
            ),
        )),
        other => other,
    }
}

/// Whether the API's address may be used and its port is free (probed as the listeners' are;
/// the API binds it for good once the node is up).
fn api_port_free(config: &NodeConfig) -> Result<(), StartError> {
    if !config.api.ip().is_loopback() && !config.api_public {
        return Err(StartError::ApiNotLoopback(config.api));
    }
    if config.api.port() == 0 {
        return Ok(());
    }
    // The listeners bind first, so a probe would find the API's port free, then taken.
    let api = config.api;
    // Only a TCP listener can clash with the API's TCP port (QUIC's is UDP).
    let clash = |(ip, transport): (std::net::IpAddr, Transport)| {
        matches!(transport, Transport::Tcp(port) if port == api.port())
            && (ip == api.ip() || ip.is_unspecified() || api.ip().is_unspecified())
    };
    for addr in &config.listen {
        if crate::config::listen_addr(addr).is_ok_and(|m| socket_of(&m).is_some_and(clash)) {
            let source = std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "port {} is also a --listen port of this node ({addr}): give the API another with --api-listen",
                    config.api.port()
                ),
            );
            return Err(StartError::ApiBind { addr: config.api, source });
        }
    }
    probe_port(config.api, "choose another with --api-listen")
        .map_err(|source| StartError::ApiBind { addr: config.api, source })
}

/// Whose the database is, if not `mine`'s: as recorded, or, in a database from before the
/// record, by the author of its outbox's messages (only the owner's go there). A database that
/// is `mine`'s, or says nothing, is recorded as `mine`'s.
fn other_owner(
    store: &Store,
    mine: &haggle_protocol::PublicKey,
) -> Result<Option<haggle_protocol::PublicKey>, haggle_storage::StoreError> {
    let owner = match store.recorded_owner()? {
        Some(owner) => owner,
        None => match store.outbox_author()? {
            Some(author) if author != *mine => author,
            _ => {
                store.record_owner(mine)?;
                return Ok(None);
            }
        },
    };
    Ok((owner != *mine).then_some(owner))
}

/// A listen address's port, by transport.
enum Transport {
    Tcp(u16),
    Udp(u16),
}

/// The IP address and port of a listen address, if it has both.
fn socket_of(addr: &Multiaddr) -> Option<(std::net::IpAddr, Transport)> {
    use libp2p::multiaddr::Protocol;
    // Listening through a relay binds nothing here: its address is the relay's.
    if addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
        return None;
    }
    let ip = addr.iter().find_map(|p| match p {
        Protocol::Ip4(a) => Some(std::net::IpAddr::V4(a)),
        Protocol::Ip6(a) => Some(std::net::IpAddr::V6(a)),
        _ => None,
    })?;
    let port = addr.iter().find_map(|p| match p {
        Protocol::Tcp(port) => Some(Transport::Tcp(port)),
        Protocol::Udp(port) => Some(Transport::Udp(port)),
        _ => None,
    })?;
    Some((ip, port))
}

/// The listen addresses, each port probed (see [`port_free`]). Every port is probed
/// before any listener binds, so the node's own IPv4 listener cannot make a dual-stack probe of
/// its IPv6 one look taken.
fn free_ports(config: &NodeConfig) -> Result<Vec<(&String, Multiaddr)>, StartError> {
    let mut addrs: Vec<(&String, Multiaddr)> = Vec::new();
    for addr in &config.listen {
        let multiaddr = crate::config::listen_addr(addr)?;
        // The same address given twice is one listener (it was bound once and said twice).
        if addrs.iter().any(|(_, m)| *m == multiaddr) {
            continue;
        }
        port_free(&multiaddr).map_err(|source| StartError::Listener { addrs: addr.clone(), source })?;
        addrs.push((addr, multiaddr));
    }
    Ok(addrs)
}

/// Starts every listener and waits (bounded) until each has an address. The ports are probed
/// again just before binding: another program may have taken one since the start.
async fn listen(swarm: &mut Swarm<Behaviour>, config: &NodeConfig) -> Result<Vec<Multiaddr>, StartError> {
    let addrs = free_ports(config)?;
    // Each listener (TCP and QUIC for every address given) reports at least one address before
    // the node says where it listens: counting addresses instead let an unspecified TCP address,
    // which reports one per interface, stand in for the QUIC listener.
    let mut order = Vec::new();
    for (addr, multiaddr) in addrs {
        let id =
            swarm.listen_on(multiaddr).map_err(|source| StartError::Listen { addr: addr.clone(), source })?;
        order.push(id);
    }
    let mut pending: std::collections::HashSet<_> = order.iter().copied().collect();
    let mut bound = Vec::new();
    let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
    while !pending.is_empty() {
        let listener_error = |source| StartError::Listener { addrs: config.listen.join(", "), source };
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some()).await.map_err(|_| {
            listener_error(std::io::Error::new(std::io::ErrorKind::TimedOut, "no address bound in time"))
        })?;
        match event {
            SwarmEvent::NewListenAddr { listener_id, address } => {
                pending.remove(&listener_id);
                bound.push((listener_id, address));
            }
            SwarmEvent::ListenerError { error, .. }
            | SwarmEvent::ListenerClosed { reason: Err(error), .. } => {
                return Err(listener_error(error));
            }
            SwarmEvent::ListenerClosed { reason: Ok(()), .. } => {
                return Err(listener_error(std::io::Error::other("a listener closed as it started")));
            }
            _ => {}
        }
    }
    // The addresses already reported (an unspecified address gives one per interface), without
    // waiting for more.
    while let Some(SwarmEvent::NewListenAddr { listener_id, address }) =
        futures::FutureExt::now_or_never(swarm.select_next_some())
    {
        bound.push((listener_id, address));
    }
    // In the order the addresses were given: the first is the one the node is dialled at.
    bound.sort_by_key(|(id, _)| order.iter().position(|o| o == id));
    Ok(bound.into_iter().map(|(_, address)| address).collect())
}

/// A random number for this run of the node (see [`crate::wire::identify_version`]).
fn run() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use haggle_protocol::Body;
    use haggle_protocol::fixtures::{key, live_listing, live_terms, offer, sign_now};
    use haggle_storage::Durability;

    use super::*;

    /// From the review: a database from before the owner record, opened with another identity's
    /// key, would have recorded that key as its owner. Its outbox (the owner's messages only)
    /// says whose it is; the key of the outbox's author is recorded.
    #[test]
    fn a_database_without_an_owner_record_is_judged_by_its_outbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let listing = sign_now(&key(1), Body::Listing(live_listing("Road bike")));
        let _ = store.ingest(listing.bytes(), Durability::Lazy).expect("ingest");
        let mine = sign_now(&key(2), offer(&listing, live_terms(1, 10_000)));
        assert!(store.ingest_own(&mine).expect("ingest").is_new());
        let (owner, stranger) = (key(2).public(), key(3).public());
        assert_eq!(other_owner(&store, &stranger).expect("read"), Some(owner));
        assert_eq!(store.recorded_owner().expect("read"), None, "nothing recorded for a stranger");
        assert_eq!(other_owner(&store, &owner).expect("read"), None);
        assert_eq!(store.recorded_owner().expect("read"), Some(owner));
        assert_eq!(other_owner(&store, &stranger).expect("read"), Some(owner));
    }
}
