//! `haggle status` and `haggle peers`.

use anyhow::Result;

use haggle_node::api::types::{ClockView, DialReason, NetworkStatus, Reachability, StatusView};

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
            // The messages, as the text's line counts them (asked apart, as there).
            if let Ok(page) = cx.api.conversations() {
                let messages =
                    serde_json::json!({"conversations": page.conversations.len(), "unread": page.unread});
                fields.insert("messages".into(), messages);
            }
            if let Some((offers, deals)) = waiting_on_me(cx) {
                fields.insert("waiting_on_you".into(), serde_json::json!({"offers": offers, "deals": deals}));
            }
        }
        return output::json(&value);
    }
    // The saved searches with something new (asked apart: they run each search).
    let saved = cx.api.saved().ok().filter(|p| !p.saved.is_empty()).map(|p| saved_line(&p.saved));
    let messages =
        cx.api.conversations().ok().filter(|p| !p.conversations.is_empty()).map(|p| messages_line(&p));
    let waiting = waiting_on_me(cx).map(|(offers, deals)| waiting_line(offers, deals));
    print_status(&s, api, saved.as_deref(), messages.as_deref(), waiting.as_deref());
    Ok(())
}

/// How many offer threads and deals wait on the owner (NEXT `you`), asked apart; `None` when
/// the node could not say.
fn waiting_on_me(cx: &Context<'_>) -> Option<(usize, usize)> {
    let todo = haggle_node::api::types::InboxParams { todo: true, limit: Some(1), ..Default::default() };
    let offers = cx.api.threads_picked(&todo).ok()?.total;
    let deals = cx.api.deals_picked(&todo).ok()?.total;
    Some((offers, deals))
}

/// The offers and deals waiting on the owner in one line (a busy shop's trial found its turns
/// scattered through `offers` and `deals`, and `status` counted only unread messages).
fn waiting_line(offers: usize, deals: usize) -> String {
    let mut parts = Vec::new();
    if offers > 0 {
        parts.push(format!("{} (haggle offers --todo)", output::count(offers, "offer thread")));
    }
    if deals > 0 {
        parts.push(format!("{} (haggle deals --todo)", output::count(deals, "deal")));
    }
    if parts.is_empty() {
        "nothing: no offer or deal step is yours to take".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The conversations in one line: how many, and the messages not read yet.
fn messages_line(page: &haggle_node::api::types::ConversationsPage) -> String {
    let all = output::count(page.conversations.len(), "conversation");
    let new = page.conversations.iter().filter(|c| c.unread > 0).count();
    match page.unread {
        0 => format!("{all}, nothing unread"),
        n => {
            let in_which = match (new, page.conversations.len()) {
                (1, 1) => "it".to_owned(),
                (new, all) if new == all => "all of them".to_owned(),
                (new, _) => format!("{new} of them"),
            };
            format!("{all}; {} unread in {in_which} (haggle messages)", output::count(n, "message"))
        }
    }
}

/// The saved searches in one line: how many have something new or repriced, and which.
fn saved_line(saved: &[haggle_node::api::types::SavedView]) -> String {
    let news: Vec<&str> = saved.iter().filter(|s| s.new + s.repriced > 0).map(|s| s.name.as_str()).collect();
    let all = if saved.len() == 1 { "1 search".to_owned() } else { format!("{} searches", saved.len()) };
    match news.as_slice() {
        [] => format!("{all}, nothing new since you last looked"),
        [one] => format!("{all}; new or repriced in {one} (haggle saved {one})"),
        _ => format!("{all}; new or repriced in {} (haggle saved NAME)", news.join(", ")),
    }
}

fn print_status(
    s: &StatusView,
    api: &str,
    saved: Option<&str>,
    messages: Option<&str>,
    waiting: Option<&str>,
) {
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
    if s.proof_of_work > 0 {
        outln!(
            "  working       the proof of work of {} of yours (a command waits for it: longer for a long description, minutes on a slow machine)",
            output::count(s.proof_of_work, "object")
        );
    }
    if let Some(waiting) = waiting {
        outln!("  your move     {waiting}");
    }
    if let Some(messages) = messages {
        outln!("  messages      {messages}");
    }
    if let Some(saved) = saved {
        outln!("  saved         {saved}");
    }
    // Only this run's: what a restart forgot from the queue, the first peer's sync hands over.
    match (n.unpublished, n.connected_peers) {
        (0, 0) => outln!("  unpublished   none queued; what is yours goes to the first peer when it syncs"),
        (count, _) => outln!(
            "  unpublished   {} waiting for a peer (listings, bids, ratings)",
            output::count(count, "object")
        ),
    }
    outln!(
        "  disk          {} (database {}, search index {}, files {})",
        output::bytes(st.size_on_disk + st.index_size + s.files_size),
        output::bytes(st.size_on_disk),
        output::bytes(st.index_size),
        output::bytes(s.files_size)
    );
    if let (Some(free), Some(total)) = (s.disk_free, s.disk_total) {
        outln!("  disk free     {}", disk_free(free, total));
    }
    // From a trial: with the disk full, the index took nothing, and status said nothing of it.
    if let Some(error) = &st.index_error {
        outln!(
            "  search index  {} not yet searchable: the index cannot take changes ({error}); they are tried again at each search, and a restart rebuilds the index",
            output::count(st.index_pending, "listing change")
        );
    }
    settings_line(&s.settings);
    clock_line(&n.clock);
    sync_lines(n);
}

/// The settings an operator tunes, as the node runs with them (from `config.toml`).
/// The free space line: the bytes free of the file system's size, with a warning when little is
/// left (the node stops when a write finds the disk full).
fn disk_free(free: u64, total: u64) -> String {
    let line = format!("{} of {} on the data dir's file system", output::bytes(free), output::bytes(total));
    // Under 5%, or under 256 MiB of a disk more than half used: a busy market adds about 1.4 KB
    // a listing, and sled's segments grow in steps (a small disk still empty is not "almost
    // full", from a retrial).
    if free < total / 20 || (free < 256 << 20 && free < total / 2) {
        format!("{line}: almost full; free disk space, or the node stops when a write finds the disk full")
    } else {
        line
    }
}

fn settings_line(s: &haggle_node::api::types::SettingsView) {
    outln!(
        "  settings      cache_mib {}, max_listings {}, target_peers {}, sync_secs {}, pow_bits {}, blob_budget_mib {}, trusted_keys {}, trust_hops {}",
        s.cache_mib,
        s.max_listings,
        s.target_peers,
        s.sync_secs,
        s.pow_bits,
        s.blob_budget_mib,
        s.trusted_keys,
        s.trust_hops
    );
    // The rest that differ from the defaults (from a trial: a restart's max_inbound_per_ip
    // could not be checked).
    if !s.changed.is_empty() {
        outln!("                also set: {}", s.changed.join(", "));
    }
}

/// The clock part of `haggle status`.
fn clock_line(c: &ClockView) {
    match (c.skew_ms, clock_warning(c)) {
        (_, Some(warning)) => outln!("  clock         {warning}"),
        (Some(skew), None) => outln!(
            "  clock         in step with its peers ({}{:.1} s, going by {})",
            if skew >= 0 { "+" } else { "" },
            skew as f64 / 1_000.0,
            output::count(c.peers, "peer")
        ),
        (None, None) => outln!(
            "  clock         not compared yet (no connected peer has synced or sent anything new in the last hour)"
        ),
    }
    if c.refused_ahead > 0 {
        outln!(
            "                {} refused as dated more than 5 minutes ahead of this clock since start",
            output::count(usize::try_from(c.refused_ahead).unwrap_or(usize::MAX), "object")
        );
    }
}

/// What the node's clock being more than a minute off its peers' means for its owner, and what
/// to do; `None` when it is in step (or not compared yet).
pub fn clock_warning(c: &ClockView) -> Option<String> {
    const REFUSED_PAST: u64 = haggle_protocol::limits::MAX_CLOCK_SKEW_MS;
    let skew = c.off_by()?;
    let how = format!("about {} {}", span(skew.unsigned_abs()), if skew > 0 { "ahead of" } else { "behind" });
    if !c.is_sure() {
        // One or two peers or authors, or peers that disagree: this clock may be the right one.
        let who = if c.peers < 3 {
            format!("going by {} only", output::count(c.peers, "peer"))
        } else if c.authors < 3 {
            format!("going by what {} signed", output::count(c.authors, "author"))
        } else {
            format!(
                "going by {} peers that disagree: {} of them within a minute of that",
                c.peers, c.agreeing
            )
        };
        return Some(format!(
            "this node's clock reads {how} its peers' ({who}), so either it or they are wrong: check it against a reliable clock (`timedatectl` says whether NTP keeps it synchronised)."
        ));
    }
    let far = skew.unsigned_abs() > REFUSED_PAST;
    let effect = match (skew > 0, far) {
        (true, true) => "its peers refuse what it signs (dated ahead of their clocks) until their clocks catch up".to_owned(),
        (true, false) => "what it signs is dated that far ahead; past 5 minutes ahead, its peers would refuse it".to_owned(),
        (false, true) => format!(
            "it refuses what its peers sign until its clock is within 5 minutes of their dates ({} refused so far), so new listings and messages reach its owner about {} late, by catch-up sync; and what it signs looks that old to them",
            c.refused_ahead,
            span(skew.unsigned_abs() - REFUSED_PAST)
        ),
        (false, false) => "what it signs looks that old to its peers: offers reach them nearer their expiry, and auctions and campaigns it starts end that much early".to_owned(),
    };
    Some(format!(
        "this node's clock is {how} its peers' (going by {}): {effect}. Set the system clock right (e.g. `timedatectl set-ntp true`).",
        output::count(c.peers, "peer")
    ))
}

/// A clock difference in whole minutes, hours or days.
fn span(ms: u64) -> String {
    let minutes = (ms + 30_000) / 60_000;
    match minutes {
        0 => "under a minute".to_owned(),
        1..=89 => output::count(minutes as usize, "minute"),
        90..=2_159 => output::count(((minutes + 30) / 60) as usize, "hour"),
        _ => output::count(((minutes + 720) / 1_440) as usize, "day"),
    }
}

/// After a command that had the node sign something: a note when the node's clock is off (see
/// [`clock_warning`]). Best effort: a status that cannot be read says nothing.
pub fn clock_note(cx: &Context<'_>) {
    if let Ok(s) = cx.api.status() {
        note_clock(cx, &s.network.clock);
    }
}

/// The note of [`clock_note`], from a status already read.
pub fn note_clock(cx: &Context<'_>, clock: &ClockView) {
    if let Some(warning) = clock_warning(clock) {
        note!(cx.json, "{warning}");
    }
}

/// The reachability of a private node whose relays refused it a reservation.
fn refused_by(relays: &[String]) -> String {
    let names: Vec<String> = relays.iter().map(output::short_peer).collect();
    format!(
        "behind a NAT or firewall, and no relay holds a reservation for it now: peers cannot dial it; it reaches them. {} refused one (full, relaying for no one, or with no address of its own to give); asked again when it reconnects, or of another relay",
        if names.len() == 1 {
            format!("The relay {}", names[0])
        } else {
            format!("The relays {}", names.join(", "))
        }
    )
}

/// Whether peers can dial this node, and how it is reached when they cannot.
fn reach_lines(n: &NetworkStatus, me: &impl std::fmt::Display) {
    let (word, meaning) = match n.reachability {
        Reachability::Public => ("public", "peers can dial this node"),
        Reachability::Private if !n.relays.is_empty() => {
            ("private", "behind a NAT or firewall: reached through relays")
        }
        // A relay found and lost, or none known yet: said as it is, not as a path that works
        // (a trial's operator handed out a relayed address no relay served).
        // From a NAT trial: a relay on a private network read "behind a NAT or firewall".
        Reachability::Private if n.private_network && n.relaying => (
            "private",
            "it listens on private addresses only (a LAN, a VPN, a campus or community network): peers on that network can dial it, and it relays for them; the internet cannot",
        ),
        Reachability::Private if !n.relays_refused.is_empty() => ("private", &*refused_by(&n.relays_refused)),
        Reachability::Private => (
            "private",
            "behind a NAT or firewall, and no relay holds a reservation for it now: peers cannot dial it; it reaches them, and looks for a relay among its public peers (a bootstrap peer helps)",
        ),
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
        "  delivered     {} direct, {} through a relay, {} through a mailbox (your messages, offers and steps this node delivered since it started)",
        n.delivered.direct,
        n.delivered.relayed,
        n.delivered.mailbox
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
        // Why, when the node tried (a bootstrap address with another node's peer id, a peer
        // down): `status` said it, and `peers` said nothing.
        // The one the owner most likely means: a bootstrap peer, a trading partner, then the
        // peer lost last (the fewest failed tries), not one long gone.
        let tried = cx.api.status().ok().and_then(|s| {
            s.network.dialing.into_iter().filter(|d| d.last_error.is_some()).min_by_key(|d| {
                let first = match d.reason {
                    DialReason::Bootstrap => 0,
                    DialReason::Party => 1,
                    DialReason::Recent => 2,
                };
                (first, d.attempts)
            })
        });
        match tried {
            Some(d) => outln!(
                "No peers connected. The last try to reach {} failed: {} (haggle status shows the peers it is trying).",
                output::short_peer(&d.peer),
                d.last_error.unwrap_or_default()
            ),
            None => outln!("No peers connected."),
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = page
        .peers
        .iter()
        .map(|p| {
            vec![
                // In full (to dial or block), with the name the owner gave it, if any.
                output::peer(&p.peer_id),
                p.agent.clone().unwrap_or_default(),
                p.score.map(|s| format!("{s:.1}")).unwrap_or_default(),
                p.rejected.to_string(),
                p.throttled.to_string(),
                connections(p),
            ]
        })
        .collect();
    output::table(&["PEER", "AGENT", "SCORE", "REJECTED", "THROTTLED", "CONNECTION"], &rows);
    Ok(())
}

/// "direct tcp", "relayed quic", or several of them ("direct quic, relayed tcp") while a relayed
/// connection is being replaced; two of one kind (both nodes dialled at once) as `2 × direct
/// quic` (a retrial read "direct quic, direct quic").
fn connections(p: &haggle_node::api::types::PeerInfo) -> String {
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for c in &p.connections {
        let kind = format!("{} {}", if c.relayed { "relayed" } else { "direct" }, c.transport);
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    kinds
        .into_iter()
        .map(|(kind, n)| if n == 1 { kind } else { format!("{n} × {kind}") })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From a NAT trial: a home whose relay refused it read "looks for a relay".
    #[test]
    fn a_relay_that_refused_is_named() {
        let me = haggle_protocol::fixtures::key(1).public().peer_id().to_string();
        let said = refused_by(std::slice::from_ref(&me));
        assert!(said.contains("The relay ") && said.contains(" refused one"), "{said}");
    }

    /// From a small-machine trial: status showed only the node's own usage on a full disk.
    #[test]
    fn little_disk_left_is_warned_of() {
        let gib = 1u64 << 30;
        assert!(
            !disk_free(40 * gib, 100 * gib).contains("almost full"),
            "{}",
            disk_free(40 * gib, 100 * gib)
        );
        assert!(disk_free(4 * gib, 100 * gib).contains("almost full"), "under 5%");
        assert!(disk_free(100 << 20, gib).contains("almost full"), "under 256 MiB");
        assert!(!disk_free(64 << 20, 64 << 20).contains("almost full"), "a small disk, empty");
        assert!(disk_free(40 * gib, 100 * gib).ends_with("on the data dir's file system"));
    }

    /// Found in a retrial: two QUIC connections read "direct quic, direct quic".
    #[test]
    fn connections_of_one_kind_are_counted() {
        use haggle_node::api::types::{ConnectionView, PeerInfo};
        let conn = |relayed: bool, transport: &str| ConnectionView {
            address: String::new(),
            relayed,
            transport: transport.into(),
            outbound: true,
        };
        let peer = |connections: Vec<ConnectionView>| PeerInfo {
            peer_id: haggle_protocol::fixtures::key(1).public().peer_id(),
            addresses: Vec::new(),
            agent: None,
            score: None,
            rejected: 0,
            throttled: 0,
            connections,
        };
        assert_eq!(connections(&peer(vec![conn(false, "quic")])), "direct quic");
        assert_eq!(connections(&peer(vec![conn(false, "quic"), conn(false, "quic")])), "2 × direct quic");
        assert_eq!(
            connections(&peer(vec![conn(false, "quic"), conn(true, "tcp")])),
            "direct quic, relayed tcp"
        );
    }

    fn clock(skew_ms: Option<i64>, refused_ahead: u64) -> ClockView {
        ClockView { skew_ms, peers: 4, agreeing: 4, authors: 9, refused_ahead }
    }

    #[test]
    fn the_saved_searches_line_names_those_with_something_new() {
        let one = |name: &str, new: usize, repriced: usize| haggle_node::api::types::SavedView {
            name: name.into(),
            new,
            repriced,
            ..Default::default()
        };
        assert_eq!(saved_line(&[one("bikes", 0, 0)]), "1 search, nothing new since you last looked");
        assert_eq!(
            saved_line(&[one("bikes", 0, 1), one("desks", 0, 0)]),
            "2 searches; new or repriced in bikes (haggle saved bikes)"
        );
        assert_eq!(
            saved_line(&[one("bikes", 2, 0), one("desks", 1, 0)]),
            "2 searches; new or repriced in bikes, desks (haggle saved NAME)"
        );
    }

    #[test]
    fn a_clock_in_step_or_not_compared_says_nothing() {
        assert_eq!(clock_warning(&clock(None, 0)), None);
        assert_eq!(clock_warning(&clock(Some(350), 0)), None);
        assert_eq!(clock_warning(&clock(Some(-59_000), 0)), None);
    }

    #[test]
    fn a_clock_off_says_which_way_how_far_what_it_breaks_and_what_to_do() {
        let far_behind = clock_warning(&clock(Some(-8 * 60_000 - 400), 17)).expect("a warning");
        assert!(
            far_behind
                .starts_with("this node's clock is about 8 minutes behind its peers' (going by 4 peers)")
        );
        assert!(far_behind.contains("(17 refused so far)"), "{far_behind}");
        assert!(far_behind.contains("reach its owner about 3 minutes late"), "{far_behind}");
        assert!(far_behind.contains("timedatectl set-ntp true"), "{far_behind}");
        let behind = clock_warning(&clock(Some(-3 * 60_000), 0)).expect("a warning");
        assert!(behind.contains("3 minutes behind") && behind.contains("end that much early"), "{behind}");
        let ahead = clock_warning(&clock(Some(2 * 60_000), 0)).expect("a warning");
        assert!(
            ahead.contains("2 minutes ahead of")
                && ahead.contains("past 5 minutes ahead, its peers would refuse it"),
            "{ahead}"
        );
        let far_ahead = clock_warning(&clock(Some(49 * 3_600_000), 0)).expect("a warning");
        assert!(
            far_ahead.contains("about 2 days ahead of") && far_ahead.contains("refuse what it signs"),
            "{far_ahead}"
        );
    }

    #[test]
    fn a_guess_from_few_peers_or_peers_that_disagree_says_so() {
        let one =
            ClockView { skew_ms: Some(-10 * 60_000), peers: 1, agreeing: 1, authors: 5, refused_ahead: 3 };
        let said = clock_warning(&one).expect("a warning");
        assert!(said.starts_with("this node's clock reads about 10 minutes behind its peers' (going by 1 peer only), so either it or they are wrong"), "{said}");
        assert!(!said.contains("set-ntp"), "{said}");
        let one_author = ClockView { peers: 4, agreeing: 4, authors: 1, ..one };
        let said = clock_warning(&one_author).expect("a warning");
        assert!(said.contains("(going by what 1 author signed), so either it or they are wrong"), "{said}");
        let split = ClockView { peers: 4, agreeing: 2, ..one };
        let said = clock_warning(&split).expect("a warning");
        assert!(
            said.contains("(going by 4 peers that disagree: 2 of them within a minute of that)"),
            "{said}"
        );
    }

    #[test]
    fn spans_round_to_the_nearest_unit() {
        assert_eq!(span(29_000), "under a minute");
        assert_eq!(span(61_000), "1 minute");
        assert_eq!(span(89 * 60_000), "89 minutes");
        assert_eq!(span(90 * 60_000), "2 hours");
        assert_eq!(span(35 * 3_600_000), "35 hours");
        assert_eq!(span(36 * 3_600_000), "2 days");
    }
}
