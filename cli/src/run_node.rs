//! `haggle node`: runs a node in the foreground until SIGINT or SIGTERM.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use haggle_node::NodeConfig;

use crate::args::NodeArgs;

pub const CONFIG_FILE: &str = "config.toml";

/// Loads `config.toml` from the data dir, writing the defaults there on first run.
pub fn load_config(data_dir: &Path) -> Result<NodeConfig> {
    let path = data_dir.join(CONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => {
            // Left so by a write cut short (a full disk) before the writes above were whole.
            eprintln!(
                "Note: {} is empty: every setting is at its default. Remove it, and the next start writes the defaults there, each explained.",
                path.display()
            );
            Ok(NodeConfig::default())
        }
        Ok(text) => {
            // A mistake in the file is the user's, as an out-of-range value is: exit code 2.
            toml::from_str(&text).map_err(|e| {
                crate::usage(format!(
                    "{} is not a valid haggle config: {}\nFix that line, or delete it to use that setting's default. (Or move the whole file away: the next start writes a new one, every setting at its default.)",
                    path.display(),
                    haggle_node::config::plain_types(&e.to_string())
                ))
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let config = NodeConfig::default();
            let body = toml::to_string_pretty(&config).context("encoding the default config")?;
            let text = format!(
                "# haggle node configuration. Command-line flags override these values.\n\
                 # listen: peer-to-peer addresses; bootstrap: peers to dial at start (multiaddr with /p2p/);\n\
                 # mdns: find peers on the LAN; api: local API address (loopback unless api_public).\n\n{body}"
            );
            std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
            write_whole(&path, &text)?;
            Ok(config)
        }
        Err(e) => Err(e).with_context(|| {
            format!("reading {} (the node's config: make it a file its user can read, or remove it for the defaults)", path.display())
        }),
    }
}

/// Writes `text` to `path` whole or not at all: to a temporary file beside it, synced, then
/// renamed over it (a small-machine trial's first start on a full disk left an empty
/// `config.toml`, which every later start took, silently, for the defaults).
fn write_whole(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("toml.tmp");
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        let fix = match e.kind() {
            std::io::ErrorKind::StorageFull => {
                ": the disk is full: free disk space, then start the node again"
            }
            std::io::ErrorKind::PermissionDenied => ": give the node's user write access to the data dir",
            _ => "",
        };
        anyhow::Error::new(e).context(format!("writing {}{fix}", path.display()))
    })
}

/// What the command line says over config.toml: each flag given replaces the file's value.
fn override_with(config: &mut NodeConfig, args: NodeArgs) -> Result<()> {
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    // Like --listen, the flag's peers replace the file's (as OPERATIONS.md says): a dead
    // peer in the file would otherwise be dialled beside them for good.
    if !args.bootstrap.is_empty() {
        config.bootstrap = args.bootstrap;
    }
    if args.no_mdns {
        config.mdns = false;
    }
    if let Some(api) = args.api_listen {
        config.api = api;
    }
    if args.api_public {
        config.api_public = true;
    }
    if args.no_upnp {
        config.upnp = false;
    }
    if let Some(mode) = args.relay {
        config.relay = mode.parse().map_err(crate::usage)?;
    }
    Ok(())
}

pub fn run(data_dir: &Path, args: NodeArgs, json_out: bool) -> Result<()> {
    // Private from the start, even if the node then fails to start (a port in use, say).
    haggle_node::create_private_dir(data_dir)?;
    let mut config = load_config(data_dir)?;
    override_with(&mut config, args)?;
    check(&config, &data_dir.join(CONFIG_FILE))?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        runtime.worker_threads(config.worker_threads);
    }
    let runtime = runtime.enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let mut node = match haggle_node::start(data_dir, config, shutdown.clone()).await {
            Ok(node) => node,
            // A mistake in the addresses given, like the other argument and config mistakes.
            Err(e @ haggle_node::StartError::BootstrapSelf(_)) => return Err(crate::usage(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        if let Some(events) = node.take_events() {
            tokio::spawn(show_initial_sync(events, shutdown.clone()));
        }
        let addrs: Vec<String> = node
            .listen_addrs
            .iter()
            .map(|a| a.clone().with(libp2p_p2p(node.peer_id)).to_string())
            .collect();
        // A running node keeps running when nobody reads its banner (stdout closed): the banner
        // is best effort, unlike a client command's output.
        let banner = if json_out {
            json!({ "peer_id": node.peer_id.to_string(), "listen": addrs, "api": node.api_addr.to_string(), "data_dir": data_dir.display().to_string() })
                .to_string()
        } else {
            let mut lines = vec![format!("haggle node {}", node.peer_id)];
            lines.extend(addrs.iter().map(|a| format!("  listening on {a}")));
            // 0.0.0.0 is no address to connect to (from a trial): said as every interface.
            let every = if node.api_addr.ip().is_unspecified() {
                format!(", on every interface: reach it at this machine's address, port {}", node.api_addr.port())
            } else {
                String::new()
            };
            lines.push(format!(
                "  API on http://{} (token in {}{every})",
                node.api_addr,
                data_dir.join(haggle_node::COOKIE_FILE).display()
            ));
            lines.push(format!("  data dir {}", data_dir.display()));
            lines.push("Press Ctrl-C to stop.".to_owned());
            lines.join("\n")
        };
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{banner}").and_then(|()| out.flush());
        }
        tokio::select! {
            () = wait_for_signal() => tracing::info!("shutting down"),
            // The node stopped by itself (its store can take no more writes).
            () = shutdown.cancelled() => {}
        }
        shutdown.cancel();
        match node.wait().await {
            Some(failure) => Err(anyhow::anyhow!(failure)),
            None => Ok(()),
        }
    })
}

fn libp2p_p2p(peer: haggle_node::wire::PeerId) -> haggle_node::wire::Protocol<'static> {
    haggle_node::wire::Protocol::P2p(peer)
}

/// Shows the first catch-up: a progress bar on a terminal, log lines otherwise. A restarted
/// node catches up from each of its peers at once: each peer's line names what that peer
/// brought, and the bar ends when the last of them is done.
async fn show_initial_sync(
    mut events: tokio::sync::broadcast::Receiver<haggle_node::NodeEvent>,
    shutdown: CancellationToken,
) {
    use haggle_node::NodeEvent;
    use std::io::IsTerminal;
    let terminal = std::io::stdout().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    // The peers being caught up from (a node syncs with at most a few at once), each with how
    // many objects it had that this node lacked.
    let mut catching_up: Vec<(haggle_node::wire::PeerId, u64)> = Vec::new();
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => event,
        };
        match event {
            Ok(NodeEvent::SyncProgress { peer, received, total }) if total > 0 => {
                match catching_up.iter_mut().find(|(p, _)| *p == peer) {
                    Some((_, missing)) => *missing = (*missing).max(total),
                    None => {
                        catching_up.push((peer, total));
                        if !terminal {
                            tracing::info!(%peer, missing = total, "catching up");
                        }
                    }
                }
                if !terminal {
                    continue;
                }
                let bar = bar.get_or_insert_with(|| {
                    let bar = indicatif::ProgressBar::new(total);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "catching up {bar:30} {pos}/{len} listings ({elapsed})",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar
                });
                bar.set_length(total.max(bar.length().unwrap_or(0)));
                bar.set_position(received);
            }
            Ok(NodeEvent::SyncCompleted { peer, received, .. }) => {
                // A periodic sync with a peer not being caught up from is no news here.
                let Some(at) = catching_up.iter().position(|(p, _)| *p == peer) else { continue };
                let (_, missing) = catching_up.swap_remove(at);
                if catching_up.is_empty()
                    && let Some(bar) = bar.take()
                {
                    bar.finish_and_clear();
                }
                // What this peer did not bring came meanwhile by gossip or from another peer, or
                // was refused (a line of `missing=5` then `new=0` read as five lost).
                let otherwise = missing.saturating_sub(received);
                if otherwise == 0 {
                    tracing::info!(%peer, new = received, "caught up");
                } else {
                    tracing::info!(%peer, new = received, otherwise, "caught up; the others came by gossip or from another peer meanwhile, or were refused");
                }
                if catching_up.is_empty() {
                    return;
                }
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // A closed terminal or a lost SSH session sends SIGHUP: a clean stop too, as SIGTERM
        // (a trial's node died on it without flushing or removing api.addr). Not when the node
        // was started ignoring it (`nohup`), which a handler would undo (from a review).
        let mut hangup = if hangup_ignored() { None } else { signal(SignalKind::hangup()).ok() };
        let hung_up = async {
            match hangup.as_mut() {
                Some(hangup) => {
                    hangup.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                    () = hung_up => {}
                }
            }
            Err(_) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = hung_up => {}
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Whether this process was started with SIGHUP ignored (`nohup`), from the kernel's account of
/// it (`SigIgn` in /proc/self/status, signal 1 its lowest bit); where that cannot be read, taken
/// as ignored, so a node is never stopped by a hangup its starter meant it to outlive.
#[cfg(unix)]
fn hangup_ignored() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return true };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_none_or(|mask| mask & 1 != 0)
}

/// Checks the configuration (the file, with the flags applied) before anything starts: each
/// mistake named with the file it is in, as a usage error.
fn check(config: &NodeConfig, file: &Path) -> Result<()> {
    // A usage mistake like every other setting's (a trial's exited 1 where they exit 2).
    if !config.api.ip().is_loopback() && !config.api_public {
        return Err(crate::usage(haggle_node::StartError::ApiNotLoopback(config.api).to_string()));
    }
    if config.worker_threads > haggle_node::config::MAX_WORKER_THREADS {
        return Err(crate::usage(format!(
            "worker_threads = {} in {}: at most {} (0 means one per core; 1 serves a home node)",
            config.worker_threads,
            file.display(),
            haggle_node::config::MAX_WORKER_THREADS
        )));
    }
    // A key the owner meant to trust that does not read as one would silently leave the web of
    // trust without its anchor (a trial's `["garbage"]` only logged a warning).
    for key in &config.trusted_keys {
        if let Err(e) = key.parse::<haggle_protocol::PublicKey>() {
            return Err(crate::usage(format!(
                "trusted_keys in {}: \"{key}\" is not a key ({e}): give each as a PeerId (12D3KooW..., as `haggle id` prints it) or 64 hex characters",
                file.display()
            )));
        }
    }
    // Addresses from the file or the flags, each named with where it came from.
    for addr in &config.bootstrap {
        if let Err(e) = haggle_node::config::bootstrap_peer(addr) {
            return Err(crate::usage(format!("{e} (in {} or --bootstrap)", file.display())));
        }
    }
    for addr in &config.listen {
        if let Err(e) = haggle_node::config::listen_addr(addr) {
            return Err(crate::usage(format!("{e} (in {} or --listen)", file.display())));
        }
    }
    // Settings where 0 would quietly break the node (keep no one's listings, sync without a
    // pause, take no connection from anyone) are refused, like any other out-of-range value.
    let at_least_one = [
        ("max_listings", config.max_listings as u64, "the listings of others the node keeps"),
        ("sync_secs", config.sync_secs, "seconds between syncs with a random peer"),
        ("max_inbound_per_ip", config.max_inbound_per_ip as u64, "connections one IP address may open"),
        ("heartbeat_ms", config.heartbeat_ms, "milliseconds between gossip heartbeats"),
        ("retry_secs", config.retry_secs, "seconds between delivery retries"),
        ("sweep_secs", config.sweep_secs, "seconds between sweeps of expired listings"),
        ("event_capacity", config.event_capacity as u64, "events buffered for each watcher"),
        ("redial_min_secs", config.redial_min_secs, "seconds before the first redial of a peer that is down"),
        ("cache_mib", config.cache_mib, "MiB of database pages kept in memory"),
    ];
    if let Some((name, _, what)) = at_least_one.iter().find(|(_, value, _)| *value == 0) {
        return Err(crate::usage(format!(
            "{name} = 0 in {}: it must be at least 1 ({what}); leave it out for the default",
            file.display()
        )));
    }
    // Times past a day (or a minute, for the heartbeat) are slips, and the largest overflow
    // the clock's arithmetic: refused, with the range, before anything starts.
    const DAY: u64 = 86_400;
    let at_most = [
        ("heartbeat_ms", config.heartbeat_ms, 60_000, "milliseconds between gossip heartbeats"),
        ("retry_secs", config.retry_secs, DAY, "seconds between delivery retries"),
        ("sweep_secs", config.sweep_secs, DAY, "seconds between sweeps of expired listings"),
        ("sync_secs", config.sync_secs, DAY, "seconds between syncs with a random peer"),
        ("redial_min_secs", config.redial_min_secs, DAY, "seconds before the first redial"),
        ("redial_max_secs", config.redial_max_secs, DAY, "seconds between redials at most"),
        ("relay_circuit_secs", config.relay_circuit_secs, DAY, "seconds a relayed connection lives"),
        // Past a few deals from the owner the web of trust is everyone; a number that large
        // is a slip, as is a connection count no machine serves.
        (
            "trust_hops",
            u64::from(config.trust_hops),
            16,
            "how many deals away from you the web of trust reaches",
        ),
        (
            "max_inbound_per_ip",
            config.max_inbound_per_ip as u64,
            1_024,
            "connections one IP address may open",
        ),
        // A cache past the machine's memory is a slip (a size in bytes, or in KiB).
        ("cache_mib", config.cache_mib, 65_536, "MiB of database pages kept in memory"),
        (
            "pow_bits",
            u64::from(config.pow_bits),
            u64::from(haggle_protocol::work::MAX_BASE_BITS),
            "the network's proof-of-work base",
        ),
    ];
    if let Some((name, value, most, what)) = at_most.iter().find(|(_, value, most, _)| value > most) {
        return Err(crate::usage(format!(
            "{name} = {value} in {}: it must be at most {most} ({what}); leave it out for the default",
            file.display()
        )));
    }
    if config.redial_min_secs > config.redial_max_secs {
        // A value left out is the default's, and said so (from a trial: `redial_max_secs = 0`
        // alone was told of a `redial_min_secs = 2` it never wrote).
        let defaults = haggle_node::NodeConfig::default();
        let said = |value: u64, default: u64| {
            if value == default { format!("{value} (the default)") } else { value.to_string() }
        };
        return Err(crate::usage(format!(
            "redial_min_secs = {} is over redial_max_secs = {} in {}: the first wait before a redial cannot be longer than the longest",
            said(config.redial_min_secs, defaults.redial_min_secs),
            said(config.redial_max_secs, defaults.redial_max_secs),
            file.display()
        )));
    }
    let relay_limits = [
        ("relay_max_reservations", config.relay_max_reservations as u64),
        ("relay_max_circuits", config.relay_max_circuits as u64),
        ("relay_circuit_kib", config.relay_circuit_kib),
        ("relay_circuit_secs", config.relay_circuit_secs),
    ];
    if config.relay != haggle_node::config::RelayMode::Off
        && let Some((name, _)) = relay_limits.iter().find(|(_, value)| *value == 0)
    {
        return Err(crate::usage(format!(
            "{name} = 0 in {}: a relay that carries nothing helps nobody; set relay = \"off\" to carry no connections, or leave it out for the default",
            file.display()
        )));
    }
    if config.listen.is_empty() {
        tracing::warn!(
            config = %file.display(),
            "listen = []: this node takes no connections from peers (it still dials out); give an address, or leave listen out for the defaults"
        );
    }
    let default = haggle_protocol::work::DEFAULT_BASE_BITS;
    if config.pow_bits < default {
        tracing::warn!(
            pow_bits = config.pow_bits,
            default,
            "pow_bits is under the network's default: nodes that use the default ignore what this node publishes, with less work than they ask (every node of a network must use the same)"
        );
    } else if config.pow_bits > default {
        tracing::warn!(
            pow_bits = config.pow_bits,
            default,
            "pow_bits is over the network's default: this node ignores what nodes that use the default publish, with less work than it asks (every node of a network must use the same)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defects (found in a trial): a relayed connection of 0 s, a web of trust 100,000 deals
    /// deep and 10^11 connections from one address were taken without a word.
    #[test]
    fn settings_out_of_range_are_refused_naming_the_file() {
        let file = Path::new("/d/config.toml");
        check(&NodeConfig::default(), file).expect("the defaults");
        for (config, said) in [
            (
                NodeConfig { relay_circuit_secs: 0, ..NodeConfig::default() },
                "relay_circuit_secs = 0 in /d/config.toml: a relay that carries nothing helps nobody",
            ),
            // A trial: a relay keeping no reservation read "relaying on" (circuits at 0 were
            // refused); a first redial after 0 s was taken.
            (
                NodeConfig { relay_max_reservations: 0, ..NodeConfig::default() },
                "relay_max_reservations = 0 in /d/config.toml: a relay that carries nothing helps nobody",
            ),
            (
                NodeConfig { redial_min_secs: 0, ..NodeConfig::default() },
                "redial_min_secs = 0 in /d/config.toml: it must be at least 1",
            ),
            (
                NodeConfig { trust_hops: 100_000, ..NodeConfig::default() },
                "trust_hops = 100000 in /d/config.toml: it must be at most 16",
            ),
            (
                NodeConfig { max_inbound_per_ip: 100_000_000_000, ..NodeConfig::default() },
                "max_inbound_per_ip = 100000000000 in /d/config.toml: it must be at most 1024",
            ),
            (
                NodeConfig { cache_mib: 0, ..NodeConfig::default() },
                "cache_mib = 0 in /d/config.toml: it must be at least 1",
            ),
            (
                NodeConfig { cache_mib: 67_108_864, ..NodeConfig::default() },
                "cache_mib = 67108864 in /d/config.toml: it must be at most 65536",
            ),
            (
                NodeConfig { trusted_keys: vec!["garbage".into()], ..NodeConfig::default() },
                "trusted_keys in /d/config.toml: \"garbage\" is not a key",
            ),
        ] {
            let e = check(&config, file).expect_err(said).to_string();
            assert!(e.starts_with(said), "{e}");
        }
        let trusted = haggle_protocol::fixtures::key(1).public().peer_id().to_string();
        check(&NodeConfig { trusted_keys: vec![trusted], ..NodeConfig::default() }, file).expect("a PeerId");
        // With the relay off, its limits mean nothing and are not judged.
        let off = NodeConfig {
            relay: haggle_node::config::RelayMode::Off,
            relay_max_reservations: 0,
            ..NodeConfig::default()
        };
        check(&off, file).expect("the relay off");
    }

    /// A trial: `--bootstrap` was added to the file's peers, so a dead one there was dialled
    /// for good, though OPERATIONS.md says flags override the file (as `--listen` did).
    #[test]
    fn flags_replace_what_the_file_says() {
        use clap::Parser as _;
        let live = "/ip4/127.0.0.1/tcp/7401/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
        let dead = "/ip4/127.0.0.1/tcp/7399/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
        let args = |flags: &[&str]| {
            let cli =
                crate::args::Cli::try_parse_from([&["haggle", "node"][..], flags].concat()).expect("parses");
            match cli.command {
                crate::args::Command::Node(args) => args,
                _ => unreachable!("a node command"),
            }
        };
        let file = NodeConfig { bootstrap: vec![dead.to_owned()], ..NodeConfig::default() };
        let mut config = file.clone();
        override_with(&mut config, args(&["--bootstrap", live, "--listen", "/ip4/127.0.0.1/tcp/0"]))
            .expect("ok");
        assert_eq!(config.bootstrap, [live]);
        assert_eq!(config.listen, ["/ip4/127.0.0.1/tcp/0"]);
        let mut config = file.clone();
        override_with(&mut config, args(&[])).expect("ok");
        assert_eq!(config.bootstrap, [dead], "no flag: the file's");
    }
}
