//! `haggle status` and `haggle peers`.

use anyhow::Result;

use haggle_node::api::types::{DialReason, NetworkStatus, Reachability, StatusView};

use super::Context;
use crate::output;

pub fn status(cx: &Context<'_>) -> Result<()> {
    let s = cx.api.status()?;
    // The address this command reached the node at (`--api`, or the data dir's).
    let api = cx.api.base().trim_start_matches("http://");
    if cx.json {
        // The API's status, with the address it was reached at, as the table shows it.
        let mut value = serde_json::to_value(&s)?;
        if let Some(fields) = value.as_object_mut() {
            fields.insert("api".into(), serde_json::Value::String(api.to_owned()));
        }
        return output::json(&value);
    }
    print_status(&s, api);
    Ok(())
}

fn print_status(s: &StatusView, api: &str) {
    let n = &s.network;
    outln!("{}", output::bold(&format!("haggle {} node {}", s.version, s.peer_id)));
    outln!("  data dir      {}", s.data_dir);
    outln!("  API           {api}");
    if s.started_at > 0 {
        outln!("  started       {}", output::relative(s.started_at, output::now_ms()));
    }
    for addr in &n.listen_addrs {
        outln!("  listening     {addr}");
    }
    outln!(
        "  peers         {} connected, {} on the listings topic, {} in the gossip mesh",
        n.connected_peers,
        n.topic_peers,
        n.mesh_peers
    );
    dialing_lines(n);
    reach_lines(n, &s.peer_id);
    let st = &s.store;
    outln!(
        "  listings      {} active, {} expired, {} closed",
        st.active_listings,
        st.expired_listings,
        st.closed_listings
    );
    // Threads held: the owner's, and others' public bids and pledges on the auctions and
    // campaigns held here (`haggle offers` lists the owner's).
    outln!(
        "  negotiation   {} held (yours, and public bids and pledges), {}",
        output::count(st.threads, "thread"),
        output::count(st.deals, "deal")
    );
    outln!("  feedback      {} (public ratings of deals)", output::count(st.feedback, "rating"));
    outln!("  outbox        {} waiting for delivery", output::count(s.outbox_pending, "message"));
    outln!("  unpublished   {} waiting for a peer", output::count(n.unpublished, "listing"));
    outln!(
        "  disk          {} (database {}, search index {}, files {})",
        output::bytes(st.size_on_disk + st.index_size + s.files_size),
        output::bytes(st.size_on_disk),
        output::bytes(st.index_size),
        output::bytes(s.files_size)
    );
    sync_lines(n);
}

/// Whether peers can dial this node, and how it is reached when they cannot.
fn reach_lines(n: &NetworkStatus, me: &impl std::fmt::Display) {
    let (word, meaning) = match n.reachability {
        Reachability::Public => ("public", "peers can dial this node"),
        Reachability::Private => ("private", "behind a NAT or firewall: reached through relays"),
        Reachability::Unknown => ("unknown", "not tested yet (needs a connected peer to dial it back)"),
    };
    outln!("  reachability  {word}: {meaning}");
    // With this node's PeerId, as `--bootstrap` takes it.
    for addr in &n.external_addrs {
        let addr = addr.to_string();
        if addr.ends_with(&format!("/p2p/{me}")) {
            outln!("                reachable at {addr}");
        } else {
            outln!("                reachable at {addr}/p2p/{me}");
        }
    }
    if !n.relays.is_empty() {
        outln!("  relayed by    {}", n.relays.iter().map(output::short_peer).collect::<Vec<_>>().join(", "));
    }
    outln!(
        "  relaying      {}; hole punching {} direct, {} failed; UPnP {}",
        if n.relaying { "on (carrying others' connections)" } else { "off" },
        n.hole_punches.succeeded,
        n.hole_punches.failed,
        if n.upnp.is_empty() { "off" } else { &n.upnp }
    );
    outln!(
        "  delivered     {} direct, {} through a relay (negotiation messages since start)",
        n.delivered.direct,
        n.delivered.relayed
    );
}

/// Why the node has no peers (or not the ones it wants): the peers it is trying to reach and why
/// each last failed, or what to do when it knows of none.
fn dialing_lines(n: &NetworkStatus) {
    if n.connected_peers == 0 && n.dialing.is_empty() {
        let local =
            if n.mdns { "none found on the local network" } else { "and local discovery (mDNS) is off" };
        outln!("                no peers known: none configured, none in its address book, {local};");
        outln!(
            "                add one with `haggle node --bootstrap /ip4/ADDRESS/tcp/7400/p2p/PEERID` (or in config.toml)"
        );
        return;
    }
    for d in n.dialing.iter().take(5) {
        let reason = match d.reason {
            DialReason::Bootstrap => "bootstrap peer",
            DialReason::Recent => "recent peer",
            DialReason::Party => "trading partner",
        };
        let failed = match (&d.last_error, d.attempts) {
            (Some(error), attempts) if attempts > 0 => {
                format!("{error} ({}), ", output::count(attempts as usize, "attempt"))
            }
            _ => String::new(),
        };
        let next = if d.next_attempt_ms < 1_000 {
            "trying now".to_owned()
        } else {
            format!("next try in {} s", d.next_attempt_ms.div_ceil(1_000))
        };
        outln!("                not connected to {reason} {}: {failed}{next}", output::short_peer(&d.peer));
    }
}

/// The sync part of `haggle status`: sessions under way and the last syncs.
fn sync_lines(network: &NetworkStatus) {
    let now = output::now_ms();
    // Sessions this node started: a peer that dialled in starts its own, which syncs both ways.
    if network.syncs.is_empty() {
        outln!(
            "  sync          {} under way; none started by this node yet (the side that dials starts it, and it syncs both ways)",
            network.syncing
        );
    } else {
        outln!(
            "  sync          {} under way; the last this node started, with {}:",
            network.syncing,
            output::count(network.syncs.len(), "peer")
        );
    }
    for s in network.syncs.iter().take(5) {
        outln!(
            "                {} {}: {} received, {} sent, {} reconciliation bytes",
            output::short_peer(&s.peer),
            output::relative(s.at, now),
            s.received,
            s.sent,
            s.reconcile_bytes
        );
    }
}

pub fn peers(cx: &Context<'_>) -> Result<()> {
    let page = cx.api.peers()?;
    if cx.json {
        return output::json(&page);
    }
    if page.peers.is_empty() {
        outln!("No peers connected.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = page
        .peers
        .iter()
        .map(|p| {
            vec![
                p.peer_id.to_string(),
                p.agent.clone().unwrap_or_default(),
                p.score.map(|s| format!("{s:.1}")).unwrap_or_default(),
                p.rejected.to_string(),
                connections(p),
            ]
        })
        .collect();
    output::table(&["PEER", "AGENT", "SCORE", "REJECTED", "CONNECTION"], &rows);
    Ok(())
}

/// "direct tcp", "relayed quic", or several of them ("direct quic, relayed tcp") while a relayed
/// connection is being replaced.
fn connections(p: &haggle_node::api::types::PeerInfo) -> String {
    p.connections
        .iter()
        .map(|c| format!("{} {}", if c.relayed { "relayed" } else { "direct" }, c.transport))
        .collect::<Vec<_>>()
        .join(", ")
}
