//! `haggle watch`: the node's events as they come, for people (a line each) or scripts
//! (`--json`, an object each). A watch outlives a restart of its node: it waits for the node to
//! be back, and then says what reached the node while the watch could not see it.

use anyhow::{Context as _, Result, bail};

use haggle_node::api::types::{
    BidStanding, DeliveryState, ListingKind, ListingState, ListingView, NodeEvent, ObjectId, ObjectKind,
    Party, Role, SearchParams,
};
use haggle_node::{ApiClient, ClientError};

use super::Context;
use crate::args::WatchArgs;
use crate::output;

/// How long a watch waits for its node to come back after its event stream ended.
const NODE_BACK_WITHIN: std::time::Duration = std::time::Duration::from_secs(24 * 3_600);
/// How often it looks meanwhile.
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Of what reached the node while the watch could not see it, the newest listings looked at.
const AWAY_LISTINGS: usize = 50;
/// How far before the stream ended a message may be dated and still be told as having come
/// while the watch was away: a message signed before, delivered after (from its sender's outbox,
/// or a mailbox), is dated before.
const AWAY_SLACK_MS: u64 = 10 * 60_000;
/// The node's recent events asked for go back this far before the watch lost its stream: an
/// event announced as the stream broke may not have come through.
const REPLAY_SLACK_MS: u64 = 2_000;

/// A node started this recently (ms) is replayed from its start to a new watch: what it
/// announced in its first moments came before the watch could connect.
const FRESH_NODE_MS: u64 = 30_000;
/// How long a watch shows the names it read before reading them again (`haggle name` given
/// while it runs).
const NAMES_LAST: std::time::Duration = std::time::Duration::from_secs(2);

/// Follows the event stream. Listing events are shown when the listing matches the search (the
/// node checks it with the same search engine); negotiation and deal events always. When the
/// stream ends (the node stopped), the watch waits for the node and goes on, first telling
/// what reached the node meanwhile: messages and deal steps from the other parties, new deals,
/// and new listings that match.
pub fn watch(cx: &Context<'_>, args: &WatchArgs) -> Result<()> {
    if args.ending_soon {
        return Err(crate::usage(format!("--ending-soon: {}", crate::args::SEARCH_ONLY)));
    }
    // Paging and order mean nothing for events shown as they come: watch takes only the filters.
    let params = match &args.saved {
        Some(_) if args.filters.params().is_filtered() => {
            return Err(crate::usage(
                "--saved follows a saved search's own words and filters: give no others with it (haggle search ... --save NAME saves new ones)",
            ));
        }
        Some(name) => saved_params(cx.api.look_at_saved(name, false)?.saved.search),
        None => args.filters.params(),
    };
    // Check the filters once, so a mistake is reported before waiting for events.
    let matching = matching_now(cx.api, &params)?;
    // Names given while the watch runs are shown from the next event a few seconds on.
    output::names_last(NAMES_LAST);
    let status = cx.api.status().ok();
    let state = std::cell::RefCell::new(Watching {
        me: status.as_ref().map(|s| s.peer_id),
        params,
        // As the node keeps it (trimmed, lower case), so its events are recognised.
        saved: args.saved.as_deref().map(|name| Following {
            name: haggle_node::service::check_saved_name(name).unwrap_or_else(|_| name.to_owned()),
            gone: false,
        }),
        // What the node found before the watch started is no news when a restart finds it
        // again (a trial's watch, started on a node already public, told `reachability now
        // public` after each restart).
        reachability: status.as_ref().map(|s| s.network.reachability),
        node_started: status.as_ref().map(|s| s.started_at),
        matching,
        delivered: Default::default(),
        seen: Default::default(),
        seen_listings: Default::default(),
        bookings: None,
        failure: None,
        started: output::now_ms(),
    });
    let mut api = cx.api.clone();
    let mut away_since: Option<u64> = None;
    // A node that started within the last 30 seconds has announced what came in its first
    // moments (an offer from its mailbox, a deal made) before this watch connected: the first
    // stream starts from the node's start (from a trial: a watch started 0.3 s after the node
    // missed an accept and a question).
    let now = output::now_ms();
    let mut fresh_since =
        status.as_ref().map(|s| s.started_at).filter(|at| now.saturating_sub(*at) < FRESH_NODE_MS);
    loop {
        let round = Context { api: &api, json: cx.json };
        let opened = std::cell::Cell::new(false);
        let ready = || {
            opened.set(true);
            // A node back is told once; if it goes again, that is news again.
            match away_since {
                None => started(&round),
                Some(since) => back(&round, &state, since),
            }
        };
        // Back from a node away: first what it announced since the stream was lost (an auction
        // or campaign it settled at its start, ...), then live events.
        let replay = away_since.map(|since| since.saturating_sub(REPLAY_SLACK_MS));
        let before_watch = replay.is_none() && fresh_since.is_some();
        let replay = replay.or(fresh_since.take());
        let followed = api.follow_since(
            replay,
            ready,
            |event, replayed| {
                let mut state = state.borrow_mut();
                let replayed = match (replayed, before_watch) {
                    (false, _) => None,
                    // The owner's own listings, published before the watch started, are no news.
                    (true, true) if matches!(event, NodeEvent::ListingPublished { .. }) => return true,
                    (true, true) => Some("before_watch"),
                    (true, false) => Some("while_away"),
                };
                // What was missed could not be told: the watch ends (see below).
                state.failure.is_none() && state.show(&round, &event, replayed)
            },
            |n| missed(cx.json, n),
        );
        if let Some(e) = state.borrow_mut().failure.take() {
            return Err(e).context("while watching");
        }
        match followed {
            Ok(()) => {}
            // The stream broke off (the node was killed, or crashed), or the node went again
            // between coming back and the stream opening.
            Err(e) if gone(&e) && (opened.get() || away_since.is_some()) => {}
            Err(e) => return Err(e).context("the watch stopped: once the node runs, run haggle watch again"),
        }
        // The stream ends when the node stops or the connection to it closes: the watch says so
        // (a watcher that went quiet would look like one with nothing to show) and waits. A
        // stream that did not open is the same time away, already told.
        let lost = output::now_ms();
        if opened.get() {
            if cx.json {
                outln!("{}", serde_json::json!({ "event": "node_stopped", "at": lost }));
            } else {
                eprintln!(
                    "The node stopped, or the connection to it closed (its event stream ended): waiting for it to run again (Ctrl-C to stop)..."
                );
            }
        }
        // A node shutting down may answer for a moment after its stream ended, and one that
        // answers but does not stream must not be asked again at once.
        std::thread::sleep(LOOK_EVERY);
        api = node_back(&api, lost)?;
        // Names are read with the node's new token from now on.
        output::names_follow(&api);
        // What came while the node was away is told once the stream is open again; if it did
        // not open, the node went again, and the time away goes on.
        away_since = match away_since {
            Some(since) if !opened.get() => Some(since),
            _ => Some(lost),
        };
    }
}

/// Says that the node's stream could not give `n` events: it no longer kept them for the
/// watch's return (a burst of listings, say), or the watch read slower than they came. From a
/// trial: a replay left an offer out, unsaid.
fn missed(json: bool, n: u64) {
    if json {
        outln!("{}", serde_json::json!({ "event": "missed", "count": n, "at": output::now_ms() }));
    } else {
        eprintln!(
            "{}",
            output::dim(&format!(
                "{} could not be told here (the node keeps its last 2,000 of each sort for 10 minutes, and a watch that falls behind loses the oldest): haggle offers, haggle deals and haggle messages have everything",
                output::count(n as usize, "event")
            ))
        );
    }
}

/// The search a watch of a saved one follows. An ending-soon search keeps the auction kind and
/// drops the order: a watch shows what becomes of its auctions, their ends included (sold, not
/// "no longer matches").
fn saved_params(search: SearchParams) -> SearchParams {
    let ending_soon = search.sort == Some(haggle_node::api::types::Sort::EndingSoon);
    let kind = if ending_soon { Some(ListingKind::Auction) } else { search.kind };
    SearchParams { sort: None, kind, ..search }
}

/// The keys of the listings a filtered search finds now (up to a page of 500): what an update
/// can take out of it.
fn matching_now(
    api: &ApiClient,
    params: &SearchParams,
) -> Result<std::collections::HashSet<String>, ClientError> {
    let page = if params.is_filtered() { 500 } else { 1 };
    let first = api.search(&SearchParams { limit: Some(page), offset: Some(0), ..params.clone() })?;
    Ok(if params.is_filtered() {
        first.hits.into_iter().map(|h| h.key).collect()
    } else {
        Default::default()
    })
}

/// Whether `e` says the node is not there (stopped, stopping, or starting), rather than refusing.
fn gone(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::NoNode { .. }
            | ClientError::Unreachable { .. }
            | ClientError::Stream { .. }
            | ClientError::NoAnswer { .. }
            | ClientError::Dropped { .. }
    ) || e.code() == Some(haggle_node::api::types::ErrorCode::ShuttingDown)
}

/// How long a node that runs again may refuse the token read from its data dir: it binds its
/// port before it writes its new token, so the first reads can find the last start's.
const NEW_TOKEN_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The node's API once it answers again, read afresh from its data dir (a node writes a new
/// token, and may take another port, at each start); gives up after [`NODE_BACK_WITHIN`].
fn node_back(api: &ApiClient, lost: u64) -> Result<ApiClient> {
    let deadline = std::time::Instant::now() + NODE_BACK_WITHIN;
    let mut refused_since: Option<std::time::Instant> = None;
    loop {
        // Until the node has written its new address and token, they cannot be read.
        if let Ok(again) = api.renewed() {
            match again.status() {
                Ok(_) => return Ok(again),
                Err(e) if gone(&e) => {}
                // The token of the node's last start, read before the new one was written.
                Err(e)
                    if e.code() == Some(haggle_node::api::types::ErrorCode::Unauthorized)
                        && api.data_dir().is_some()
                        && refused_since.get_or_insert_with(std::time::Instant::now).elapsed()
                            < NEW_TOKEN_WITHIN => {}
                // Running, and refusing: a watch given --token keeps the token of the node's
                // last start.
                Err(e) => return Err(e).context("the node runs again, but the watch cannot follow it"),
            }
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "the node has not run again since its event stream ended {}: once it runs, run haggle watch again",
                output::relative(lost, output::now_ms())
            );
        }
        std::thread::sleep(LOOK_EVERY);
    }
}

/// What the watch says once its stream is open the first time: a ready line, a clock far off,
/// and what the node's first syncs brought before the watch connected.
fn started(cx: &Context<'_>) {
    // Once the stream is open (every event from then on comes through), a line says so: for a
    // script, the moment to start what it watches for.
    if cx.json {
        outln!("{}", serde_json::json!({ "event": "watching", "at": output::now_ms() }));
    } else {
        eprintln!("Watching for events (Ctrl-C to stop)...");
    }
    let Ok(status) = cx.api.status() else { return };
    // A clock far behind refuses what peers sign: the watch would stay silent.
    super::status::note_clock(cx, &status.network.clock);
    if cx.json {
        return;
    }
    // A node just started catches up in its first moments, often before a watch started with
    // it connects: what those syncs brought is said too.
    let now = output::now_ms();
    let recent = status.network.syncs.iter().filter(|s| s.received > 0 && now.saturating_sub(s.at) < 120_000);
    for s in recent {
        outln!("{}", caught_up(s, now, "before this watch started"));
    }
}

/// The line for a catch-up sync the watch did not see happen: what the live event's line says,
/// with when, and `when` it was against the watch.
fn caught_up(s: &haggle_node::api::types::SyncInfo, now: u64, when: &str) -> String {
    format!(
        "caught up with {}: {} new or updated, {} ({when})",
        output::short_peer(&s.peer),
        s.received,
        output::relative(s.at, now)
    )
}

/// What the watch says once its stream is open again after the node was away since `since`:
/// a ready line, then what reached the node meanwhile, as the events it would have shown.
fn back(cx: &Context<'_>, state: &std::cell::RefCell<Watching>, since: u64) {
    let now = output::now_ms();
    let floor = since.saturating_sub(AWAY_SLACK_MS).max(state.borrow().started);
    // The saved search may have changed while the node was away: what came meanwhile is
    // looked for with its words and filters as they are now.
    state.borrow_mut().follow_saved(cx);
    let missed = while_away(cx.api, &state.borrow().params, floor);
    if cx.json {
        outln!(
            "{}",
            serde_json::json!({ "event": "watching", "at": now, "again": true, "away_since": since })
        );
    } else {
        // What reached it meanwhile follows, each event told as it would have been; this line
        // does not promise any (a trial read "what reached it meanwhile follows" before nothing,
        // and what was told live already is not told again).
        // In seconds under a minute: "just now" read wrong after 15 s away (a trial).
        let away = now.saturating_sub(since) / 1000;
        let when = match away {
            0 => "just now".to_owned(),
            1..=59 => format!("{away} second{} ago", if away == 1 { "" } else { "s" }),
            _ => output::relative(since, now),
        };
        eprintln!("The node runs again (the watch lost it {when}). Watching for events (Ctrl-C to stop)...");
    }
    let missed = match missed {
        Ok(missed) => missed,
        Err(e) => {
            note!(cx.json, "what reached the node while the watch was away cannot be read: {e}");
            return;
        }
    };
    for event in &missed.events {
        if !state.borrow_mut().show(cx, event, Some("while_away")) {
            return;
        }
    }
    // The node's catch-up since it runs again, which may have ended before the stream opened
    // (its event then never reaches the watch): how many it brought, as a new watch says it
    // (a trial's watch showed 50 of 2,000 listings and said nothing of the rest).
    // Since the node's run began, when it is a new one (the watch may notice the loss late: it
    // was held still, say), else since the watch lost it.
    let status = cx.api.status().ok();
    let run = status.as_ref().map(|s| s.started_at);
    let known = std::mem::replace(&mut state.borrow_mut().node_started, run);
    let from = match (run, known) {
        (Some(run), Some(known)) if run != known => run,
        _ => since,
    };
    let syncs = status
        .iter()
        .flat_map(|s| s.network.syncs.iter())
        .filter(|s| s.received > 0 && s.at >= from && s.at <= now);
    for s in syncs {
        if cx.json {
            outln!(
                "{}",
                serde_json::json!({ "event": "sync_completed", "peer": s.peer.to_string(), "received": s.received, "sent": s.sent, "at": s.at, "while_away": true })
            );
        } else {
            outln!("{}", caught_up(s, now, "while the watch was away"));
        }
    }
    if missed.more_listings && !cx.json {
        outln!(
            "{}",
            output::dim(&format!(
                "(the {AWAY_LISTINGS} newest listings that came meanwhile are shown: haggle search with the same words and --sort newest shows the others)"
            ))
        );
    }
}

/// What reached the node since `floor` (unix ms), as the events a watch would have shown:
/// negotiation messages, notes and deal steps the other parties signed, deals made, and the
/// newest listings stored or closed, oldest first.
fn while_away(api: &ApiClient, params: &SearchParams, floor: u64) -> Result<Missed, ClientError> {
    let mut missed: Vec<(u64, NodeEvent)> = Vec::new();
    for t in api.threads()?.threads {
        for m in t.messages.iter().filter(|m| m.from == Party::Them && m.created_at >= floor) {
            missed.push((
                m.created_at,
                NodeEvent::NegotiationReceived { id: m.id, thread: t.thread, kind: m.kind },
            ));
        }
    }
    for d in api.deals()?.deals {
        if d.made_at >= floor {
            missed.push((d.made_at, NodeEvent::DealMade { id: d.id, thread: d.thread }));
        }
        for s in d.timeline.iter().filter(|s| s.by == Party::Them && s.at >= floor) {
            let event = NodeEvent::DealStep {
                id: s.id,
                deal: d.id,
                step: s.step.clone(),
                stage: d.stage.clone(),
                mine: false,
            };
            missed.push((s.at, event));
        }
    }
    // A list gives each conversation's newest message (by date): one is read in full only if
    // that one is new enough.
    for c in api.conversations()?.conversations {
        if c.notes.last().is_none_or(|n| n.created_at < floor) {
            continue;
        }
        let whole = api.conversation(&c.id.to_hex(), false)?;
        let about = whole.about.describe(ObjectId::fmt_short);
        for n in whole.notes.iter().filter(|n| n.from == Party::Them && n.created_at >= floor) {
            let event = NodeEvent::NoteReceived {
                id: n.id,
                from: whole.with,
                about: about.clone(),
                message: n.message.clone(),
            };
            missed.push((n.created_at, event));
        }
    }
    let newest = SearchParams {
        sort: Some(haggle_node::api::types::Sort::Newest),
        limit: Some(AWAY_LISTINGS),
        offset: Some(0),
        ..params.clone()
    };
    let by = haggle_node::api::types::Arrival::Sync;
    let hits = api.search(&newest)?.hits;
    // Counted before the owner's and the older are left out: as many new as were asked may
    // leave more behind.
    let recent = hits.iter().filter(|h| h.created_at >= floor).count();
    for hit in hits.into_iter().filter(|h| h.created_at >= floor && !h.mine) {
        missed.push((hit.created_at, NodeEvent::ListingStored { id: hit.id, by }));
    }
    // Retracted, sold out or ended: no search finds them. A node from before this endpoint
    // answers 404, and the rest is still told.
    for closed in api.closed_listings(floor).map(|page| page.listings).unwrap_or_default() {
        missed.push((closed.closed_at, NodeEvent::ListingStored { id: closed.id, by }));
    }
    missed.sort_by_key(|(at, _)| *at);
    Ok(Missed {
        events: missed.into_iter().map(|(_, e)| e).collect(),
        more_listings: recent == AWAY_LISTINGS,
    })
}

/// What reached the node while the watch could not see it.
struct Missed {
    /// As the events the watch would have shown, oldest first.
    events: Vec<NodeEvent>,
    /// Whether the newest listings shown may not be all (as many as it looks at were new).
    more_listings: bool,
}

/// A watch's state across events and across restarts of its node.
struct Watching {
    /// The owner's key, said `you` where an event names it.
    me: Option<haggle_node::api::types::PublicKey>,
    params: SearchParams,
    /// The saved search the watch follows (`--saved`), if any.
    saved: Option<Following>,
    /// The reachability last told: a node restarted finds it again, which is no news.
    reachability: Option<haggle_node::api::types::Reachability>,
    /// The keys of the listings that match a filtered watch's search, as far as it knows.
    matching: std::collections::HashSet<String>,
    /// Messages announced delivered: a receipt for a sealed copy, or an answer to a second
    /// attempt, may say it again.
    delivered: Recent<ObjectId>,
    /// Messages, deal steps, deals and listing revisions shown, by kind of event (a deal's id
    /// is its accept's), so that one told as having come while the watch was away is not told
    /// again when its event comes after.
    seen: Recent<(&'static str, ObjectId)>,
    /// The same of listing revisions, apart: a sync brings thousands, which must not push out
    /// the messages and deals told (a trial's watch told six negotiation lines again after
    /// 20,000 listings, when one set of 10,000 was emptied whole).
    seen_listings: Recent<ObjectId>,
    /// What ended the watch.
    failure: Option<ClientError>,
    /// When the watch started (unix ms): nothing from before it is told as missed.
    started: u64,
    /// When the node's run the watch last saw began (unix ms), to tell a new run.
    node_started: Option<u64>,
    /// The owner's open booking requests (thread, listing key), and when they were listed.
    bookings: Option<(std::time::Instant, Vec<(ObjectId, String)>)>,
}

/// What a watch told lately, to tell each once: at most [`Recent::MAX`], the oldest forgotten
/// first (a long watch must not grow without bound).
struct Recent<T> {
    set: std::collections::HashSet<T>,
    order: std::collections::VecDeque<T>,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent { set: Default::default(), order: Default::default() }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Recent<T> {
    const MAX: usize = 10_000;

    /// Whether `item` is new here (then remembered).
    fn insert(&mut self, item: T) -> bool {
        if !self.set.insert(item.clone()) {
            return false;
        }
        self.order.push_back(item);
        if self.order.len() > Self::MAX
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }
}

/// A saved search a watch follows.
struct Following {
    name: String,
    /// Whether it was found deleted (said once; saved again, it is followed again).
    gone: bool,
}

impl Watching {
    /// Whether `event` tells what the watch told last of the same thing: a reachability found
    /// again by a node restarted (`reachability now public` after every restart).
    fn told_again(&mut self, event: &NodeEvent) -> bool {
        match event {
            NodeEvent::ReachabilityChanged { reachability } => {
                self.reachability.replace(*reachability) == Some(*reachability)
            }
            _ => false,
        }
    }

    /// Reads the followed saved search again: saved anew with other words or filters, the
    /// watch follows them from here, and deleted, it keeps its last ones. Either is said once.
    fn follow_saved(&mut self, cx: &Context<'_>) {
        let Some(saved) = self.saved.as_mut() else { return };
        let name = saved.name.clone();
        let (deleted, said, search) = match cx.api.look_at_saved(&name, false) {
            Ok(look) => {
                let params = saved_params(look.saved.search.clone());
                let again = saved.gone;
                if params == self.params && !again {
                    return;
                }
                // The node went, or the search cannot run: kept as it was, read again later.
                self.matching = match matching_now(cx.api, &params) {
                    Ok(matching) => matching,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot run the saved search again");
                        return;
                    }
                };
                saved.gone = false;
                self.params = params;
                let what = if again { "was saved again" } else { "changed" };
                (
                    false,
                    format!(
                        "The saved search \"{name}\" {what}: the watch follows it from here ({}).",
                        super::saved::in_table(&look.saved.search)
                    ),
                    Some(look.saved.search),
                )
            }
            Err(e) if e.code() == Some(haggle_node::api::types::ErrorCode::NotFound) => {
                if std::mem::replace(&mut saved.gone, true) {
                    return;
                }
                (
                    true,
                    format!(
                        "The saved search \"{name}\" was deleted: the watch goes on with its last words and filters (Ctrl-C to stop)."
                    ),
                    None,
                )
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the saved search again");
                return;
            }
        };
        if cx.json {
            // The node's event, as any watch prints it, with the search the watch follows now.
            let mut json = serde_json::json!({
                "event": "saved_search_changed",
                "name": name,
                "deleted": deleted,
                "at": output::now_ms(),
            });
            if let Some(search) = search {
                json["search"] = serde_json::to_value(search).unwrap_or_default();
            }
            outln!("{json}");
        } else {
            outln!("{}", output::dim(&said));
        }
    }

    /// Shows `event` (one that came `while_away`, read back after the node returned, says so
    /// under `--json`); false when the watch must end (see `failure`).
    fn show(&mut self, cx: &Context<'_>, event: &NodeEvent, replayed: Option<&'static str>) -> bool {
        // A request of the owner's sent or answered: the booking requests are listed again.
        if matches!(event, NodeEvent::DeliveryChanged { .. } | NodeEvent::NegotiationReceived { .. }) {
            self.bookings = None;
        }
        if let NodeEvent::DeliveryChanged { id, state: DeliveryState::Delivered } = event
            && !self.delivered.insert(*id)
        {
            return true;
        }
        let first = match told(event) {
            Some(("listing", id)) => self.seen_listings.insert(id),
            Some(id) => self.seen.insert(id),
            None => true,
        };
        if !first {
            return true;
        }
        if self.told_again(event) {
            return true;
        }
        // The followed saved search saved anew or deleted: the watch says what it does about it
        // instead of the bare event.
        if let NodeEvent::SavedSearchChanged { name, .. } = event
            && self.saved.as_ref().is_some_and(|s| s.name.eq_ignore_ascii_case(name))
        {
            self.follow_saved(cx);
            return true;
        }
        let mut extra = Vec::new();
        let shown = line(cx.api, &self.params, self.me.as_ref(), event, &mut self.matching, &mut extra);
        // The listing's key, which the line looked up (for the booking requests on it).
        let key =
            extra.iter().find(|(name, _)| *name == "key").and_then(|(_, v)| v.as_str().map(str::to_owned));
        let shown = match shown {
            Ok(shown) => shown,
            // What the event names went before the watch looked it up (a revision replaced
            // and swept, a listing evicted): nothing to show, and the watch goes on.
            Err(e) if e.code() == Some(haggle_node::api::types::ErrorCode::NotFound) => {
                tracing::debug!(error = %e, "an event's object is gone");
                return true;
            }
            Err(e) => {
                self.failure = Some(e);
                return false;
            }
        };
        match shown {
            // With --json every event is printed, except those about listings the text
            // form leaves out.
            _ if cx.json && (shown.is_some() || !of_listing(event)) => match serde_json::to_value(event) {
                Ok(mut json) => {
                    // When it came (unix ms): the node sends each event as it happens.
                    json["at"] = output::now_ms().into();
                    if let Some(tag) = replayed {
                        json[tag] = true.into();
                    }
                    // What the text form found out: of a listing event, what changed (a
                    // new listing, an update, a retraction, one that left the search); of
                    // a delivery, the thread or deal.
                    for (name, value) in extra {
                        json[name] = value;
                    }
                    outln!("{json}")
                }
                Err(e) => tracing::warn!(error = %e, "cannot encode an event"),
            },
            Some(line) if !cx.json => outln!("{line}"),
            _ => {}
        }
        // Someone else's listing changed: a booking request of the owner's on it may have lost
        // its nights (a trial's guest was told nothing when another booking took them).
        if let (NodeEvent::ListingStored { id, .. }, Some(key)) = (event, key) {
            self.nights_gone(cx, *id, &key);
        }
        true
    }

    /// Tells, once each, the owner's open booking requests on listing `key` (revision `id`, just
    /// stored) whose nights the listing's calendar no longer takes. The requests are listed at
    /// most every 2 s (a sync brings thousands of listings), and again after a negotiation
    /// message of the owner's went out or one came in; a thread is asked for only when one is on
    /// this listing. A failure to ask leaves it to `haggle offers`.
    fn nights_gone(&mut self, cx: &Context<'_>, id: ObjectId, key: &str) {
        const FRESH: std::time::Duration = std::time::Duration::from_secs(2);
        if self.bookings.as_ref().is_none_or(|(at, _)| at.elapsed() > FRESH) {
            let Ok(page) = cx.api.threads() else { return };
            let open = page
                .threads
                .iter()
                .filter(|t| t.role == Role::Offerer && t.terms.dates.is_some() && !t.state.is_final());
            let requests = open
                .take(64)
                .filter_map(|t| {
                    let revision = t.current_listing.or(t.listing)?;
                    Some((t.thread, cx.api.listing(&revision.to_hex()).ok()?.key))
                })
                .collect();
            self.bookings = Some((std::time::Instant::now(), requests));
        }
        let on: Vec<ObjectId> = match &self.bookings {
            Some((_, requests)) => requests.iter().filter(|(_, k)| k == key).map(|(t, _)| *t).collect(),
            None => Vec::new(),
        };
        if on.is_empty() {
            return;
        }
        let Ok(listing) = cx.api.listing(&id.to_hex()) else { return };
        for thread in on {
            let Ok(t) = cx.api.thread(&thread.to_hex()) else { continue };
            let Some(why) = t.nights_unavailable.as_deref() else { continue };
            if !self.seen.insert(("nights gone", t.thread)) {
                continue;
            }
            if cx.json {
                let event = serde_json::json!({
                    "event": "nights_gone", "at": output::now_ms(), "thread": t.thread.to_hex(),
                    "listing": id.to_hex(), "title": listing.title, "why": why,
                });
                outln!("{event}");
            } else {
                let thread = output::short(&t.thread);
                // A service's calendar books days (left from the services trial).
                let gone = format!("{}s gone", output::night_word(Some(listing.kind)));
                outln!(
                    "{gone}: your booking request {thread} on {} can no longer be booked as asked: {why} (haggle show {thread})",
                    listing.title
                );
            }
        }
    }
}

/// Whether `event` is about a listing: filtered by the search in both forms.
fn of_listing(event: &NodeEvent) -> bool {
    matches!(
        event,
        NodeEvent::ListingStored { .. }
            | NodeEvent::ListingPublished { .. }
            | NodeEvent::BidStored { .. }
            | NodeEvent::PledgeStored { .. }
            | NodeEvent::AuctionEnded { .. }
            | NodeEvent::CampaignEnded { .. }
    )
}

/// What a watch remembers having told of `event`, so that it tells it once: a message (a bid
/// or pledge is one: told live as stored, read back as a thread's message), a deal step, a
/// deal (by its accept's id) or a listing revision.
fn told(event: &NodeEvent) -> Option<(&'static str, ObjectId)> {
    match event {
        NodeEvent::NegotiationReceived { id, .. }
        | NodeEvent::BidStored { id, .. }
        | NodeEvent::PledgeStored { id, .. } => Some(("message", *id)),
        NodeEvent::NoteReceived { id, .. } => Some(("note", *id)),
        NodeEvent::DealStep { id, .. } => Some(("step", *id)),
        NodeEvent::DealMade { id, .. } => Some(("deal", *id)),
        NodeEvent::ListingStored { id, .. } => Some(("listing", *id)),
        // Its end is told once, live or retold after the node was away.
        NodeEvent::AuctionEnded { listing, .. } | NodeEvent::CampaignEnded { listing, .. } => {
            Some(("ended", *listing))
        }
        _ => None,
    }
}

/// The line `watch` prints for an event, or `None` for an event it does not show (a listing that
/// does not match, peers coming and going).
/// `matching` holds the keys of the listings that match a filtered watch's search as far as it
/// knows (those that did when it started, and those it showed since): an update that takes one
/// out reads `no longer matches:`, one that brings a listing in `now matches:`. What it found
/// out that the event does not say goes into `extra`, for `--json`: of a listing event, that
/// word as `change`, the listing's `key` and `title`; of a delivery, its `thread` or `deal`.
fn line(
    api: &ApiClient,
    params: &SearchParams,
    me: Option<&haggle_node::api::types::PublicKey>,
    event: &NodeEvent,
    matching: &mut std::collections::HashSet<String>,
    extra: &mut Vec<(&'static str, serde_json::Value)>,
) -> Result<Option<String>, ClientError> {
    Ok(Some(match event {
        NodeEvent::ListingStored { id, .. } | NodeEvent::ListingPublished { id, .. } => {
            let listing = api.listing(&id.to_hex())?;
            let mut what = change(event, &listing);
            // How far it is, in a watch around a place (the search measures it).
            let mut away = None;
            if params.is_filtered() {
                let hit = matching_hit(api, params, &listing.id)?;
                away = hit.as_ref().and_then(|h| h.distance_m);
                let matched = hit.is_some();
                let known = matching.contains(&listing.key);
                match (matched, known) {
                    (false, false) => return Ok(None),
                    (false, true) => {
                        matching.remove(&listing.key);
                        what = "no longer matches:";
                    }
                    (true, known) => {
                        if matching.len() >= 10_000 {
                            matching.clear();
                        }
                        matching.insert(listing.key.clone());
                        if !known && what == "updated:" {
                            what = "now matches:";
                        }
                    }
                }
            }
            extra.extend([
                ("change", what.trim_end_matches(':').replace(' ', "_").into()),
                ("key", listing.key.clone().into()),
                ("title", listing.title.clone().into()),
                ("author", listing.author.to_string().into()),
            ]);
            // In a watch around a place, how far it is (metres), as the text form says.
            if let Some(m) = away {
                extra.push(("distance_m", m.into()));
            }
            let holds = if tells_holds(what, &listing) { holds(&listing) } else { String::new() };
            let away = away.map_or_else(String::new, |m| {
                let unit = haggle_protocol::geo::DistanceUnit::of_within(params.within.as_deref());
                format!(", {} away", unit.away(m))
            });
            // Whose it is: a trial's copy of an honest seller's listing by a dodgy one read
            // like the honest one's.
            let by = if listing.mine {
                String::new()
            } else {
                format!(", by {}", output::short_peer(&listing.author))
            };
            format!("{what} {} {}{away}{by}{holds}", output::short(&listing.id), output::summary(&listing))
        }
        NodeEvent::NegotiationReceived { id, kind, thread } => {
            negotiation_line(api, *id, *kind, *thread, extra)
        }
        // What was agreed, and with whom (a trial's line named the deal's id alone).
        NodeEvent::DealMade { id, .. } => match api.deal(&id.to_hex()) {
            Ok(d) => {
                let (seller, buyer) = super::deal::parties(&d);
                let with = match d.you_are.as_deref() {
                    Some("seller") => format!(" with {} ({buyer})", output::short_peer(&d.buyer)),
                    Some("buyer") => format!(" with {} ({seller})", output::short_peer(&d.seller)),
                    _ => String::new(),
                };
                let title = d.title.as_deref().map(|t| format!(" on {t}")).unwrap_or_default();
                // A bidder sold to after the end may have read "you lost" by its node's count
                // (the high bid fell through): the deal says it won (from a retrial).
                let won = match (d.listing_kind, d.you_are.as_deref()) {
                    (Some(ListingKind::Auction), Some("buyer")) => {
                        "you won: the seller sold it to your bid, "
                    }
                    _ => "",
                };
                format!(
                    "deal {} made{title}: {won}{}{with} (haggle deal {} for what comes next)",
                    output::short(id),
                    output::deal_terms(api, &d),
                    output::short(id)
                )
            }
            Err(_) => format!("deal {} made", output::short(id)),
        },
        NodeEvent::BidStored { listing, bidder, amount, leads, outbids_me, mine, moved_end_to, .. } => {
            let Some(ListingView { title, .. }) = watched(api, params, listing, *mine || *outbids_me)? else {
                return Ok(None);
            };
            let by = if *mine { "you".to_owned() } else { output::short_peer(bidder) };
            let what = match (outbids_me, leads) {
                (true, _) => "outbid: you were outbid,",
                (false, true) => "bid:",
                (false, false) => "bid (not the high bid):",
            };
            // A bid in the last minutes moves the end (a trial's watch never said so).
            let moved = moved_end_to.map_or_else(String::new, |end| {
                let now = output::now_ms();
                match end > now {
                    true => format!(
                        "; made near the end, it moved the end: now in {} (anti-sniping)",
                        super::auction::left(end, now)
                    ),
                    false => "; made near the end, it moved the end (anti-sniping)".to_owned(),
                }
            });
            format!("{what} {amount} on {title} ({}) by {by}{moved}", output::short(listing))
        }
        NodeEvent::PledgeStored { listing, backer, amount, total, mine, .. } => {
            let Some(ListingView { title, .. }) = watched(api, params, listing, *mine)? else {
                return Ok(None);
            };
            let by = if *mine { "you".to_owned() } else { output::short_peer(backer) };
            let withdrawn =
                amount.split(' ').next().is_some_and(|n| n.trim_start_matches(['0', '.']).is_empty());
            if withdrawn {
                format!("pledge to {title} ({}) withdrawn by {by}; total {total}", output::short(listing))
            } else {
                format!("pledge: {amount} to {title} ({}) by {by}; total {total}", output::short(listing))
            }
        }
        NodeEvent::CampaignEnded { listing, funded, total, pledged, withdrawn, cancelled, blocked } => {
            let backed = pledged.is_some() || *withdrawn;
            let Some(ListingView { title, mine, .. }) = watched(api, params, listing, backed)? else {
                return Ok(None);
            };
            let result = match (funded, pledged) {
                _ if *cancelled => {
                    format!(
                        "cancelled by its creator before the deadline (with {total} pledged): nothing is owed"
                    )
                }
                // A backer who took its pledge back read the creator's "every pledge becomes a
                // deal" (from a trial).
                (true, None) if *withdrawn => {
                    format!(
                        "funded with {total}; you withdrew your pledge before the deadline, so you owe nothing"
                    )
                }
                (false, None) if *withdrawn => {
                    format!(
                        "missed its goal with {total} by this node's count; you withdrew your pledge, and nothing is owed"
                    )
                }
                (true, Some(p)) => format!(
                    "funded with {total} by this node's count; your pledge of {p} becomes a deal when the creator's node accepts it"
                ),
                (true, None) if *blocked > 0 => format!(
                    "funded with {total}; every pledge becomes a deal but {blocked} from keys you blocked, left to you: accept or decline each (haggle offers)"
                ),
                (true, None) => format!("funded with {total}; every pledge becomes a deal"),
                // The creator's node's count decides (it closes the campaign); another node's may
                // differ.
                (false, _) if mine => format!("missed its goal with {total}; nothing is owed"),
                (false, _) => format!("missed its goal with {total} by this node's count; nothing is owed"),
            };
            format!("campaign ended: {title} ({}): {result}", output::short(listing))
        }
        NodeEvent::AuctionEnded { listing, winner, amount, reserve_met, standing } => {
            let Some(ListingView { title, mine, auction, .. }) =
                watched(api, params, listing, standing.is_some())?
            else {
                return Ok(None);
            };
            // The owner's auction whose high bid the node leaves to the owner: said so, with
            // the best bid of another if there is one.
            let sold_past = sold_past_me(auction.as_deref());
            let left_to_me = auction.filter(|a| mine && a.high_blocked && a.accepted.is_none());
            let result = match (standing, winner, amount, reserve_met) {
                (None, Some(w), Some(amount), _) if left_to_me.is_some() => {
                    let next = left_to_me.and_then(|a| a.next_bid).map_or_else(String::new, |b| {
                        format!(
                            ", or the best bid of another, {} (haggle accept {})",
                            b.amount.display,
                            output::short(&b.id)
                        )
                    });
                    format!(
                        "high bid {amount} by {}, a key you blocked: your node leaves it to you: accept it or decline it{next} (haggle show {})",
                        output::short_peer(w),
                        output::short(listing)
                    )
                }
                (Some(BidStanding::Awaiting), _, Some(amount), false) => {
                    format!(
                        "your bid of {amount} is on top but under the reserve: the seller may accept it by hand"
                    )
                }
                // A bidder's node judges by the bids it holds; the seller's, by those that reached
                // it before the end, which decide (a trial's bidder read "you lost" and then won,
                // a higher bid having never reached the seller's node): said so.
                (Some(BidStanding::Awaiting), _, Some(amount), true) => format!(
                    "your bid of {amount} is on top by this node's count; the seller's node accepts the high bid it holds (haggle show {} says how it came out)",
                    output::short(listing)
                ),
                // This node's high bid is the owner's, and lost: the seller's node took a bid
                // this one never saw (a trial's bidder, back after the end, read "you lost by
                // this node's count (high bid 64.00 EUR)", the 64 being its own).
                (Some(BidStanding::Lost), Some(w), Some(amount), _)
                    if !mine && me == Some(w) && sold_past =>
                {
                    format!(
                        "you lost: your {amount} is the high bid this node holds, but the seller's node took another (a higher bid this node never saw, or yours reached that node too late) (haggle show {} says more)",
                        output::short(listing)
                    )
                }
                (Some(s @ BidStanding::Lost), _, Some(amount), _) if !mine => format!(
                    "you {s} by this node's count (high bid {amount}); the seller's node, whose bids decide, may hold another (haggle show {} says how it came out)",
                    output::short(listing)
                ),
                (Some(s), _, Some(amount), _) => format!("you {s} (high bid {amount})"),
                (None, Some(w), Some(amount), _) => format!("high bid {amount} by {}", output::short_peer(w)),
                (None, None, Some(amount), false) => format!("high bid {amount} is under the reserve"),
                _ => "no bids".to_owned(),
            };
            format!("auction ended: {title} ({}): {result}", output::short(listing))
        }
        NodeEvent::FeedbackStored { deal, author, subject, rating, .. } => {
            let who = |key: &haggle_node::api::types::PublicKey| match me == Some(key) {
                true => "you".to_owned(),
                false => output::short_peer(key),
            };
            format!(
                "feedback: {} rated {} {rating} (deal {})",
                who(author),
                who(subject),
                output::short(deal)
            )
        }
        NodeEvent::ReachabilityChanged { reachability } => {
            format!(
                "reachability now {}",
                serde_json::to_value(reachability)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        }
        NodeEvent::DealStep { id, deal, step, stage, .. } => step_line(api, *id, *deal, step, stage),
        NodeEvent::NoteReceived { id, from, about, message } => {
            let first = message.lines().next().unwrap_or_default();
            let more = if message.lines().nth(1).is_some() { " …" } else { "" };
            format!(
                "message from {} about {about}: {}{more} (haggle messages {})",
                output::short_peer(from),
                output::clip(first, 80),
                output::short(id)
            )
        }
        // A message already delivered when its `sent` is read says so once, on its `delivered`
        // line, which follows (20 questions made 40 lines; `--json` keeps both events).
        NodeEvent::DeliveryChanged { id, state: DeliveryState::Sent } if delivered_already(api, *id) => {
            return Ok(None);
        }
        NodeEvent::DeliveryChanged { id, state } => delivery_line(api, *id, state, extra),
        NodeEvent::HistoryRestored { peer, taken } => format!(
            "took back what this node had lost of your threads and deals with {} ({taken} signed offers, steps and messages; restored from a backup?): haggle offers, haggle deals and haggle messages show them",
            output::short_peer(peer)
        ),
        NodeEvent::SyncCompleted { peer, received, .. } if *received > 0 => {
            // What a sync brings is every signed object the node lacked: new listings, new
            // revisions of known ones, bids, messages, ratings.
            format!("caught up with {}: {received} new or updated", output::short_peer(peer))
        }
        _ => return Ok(None),
    }))
}

/// Whether the owner's message `id` reads delivered now (its thread, deal or conversation read
/// once); false if it cannot be read.
fn delivered_already(api: &ApiClient, id: ObjectId) -> bool {
    use haggle_node::api::types::ObjectView;
    let delivered = Some(DeliveryState::Delivered);
    match api.object(&id.to_hex()) {
        Ok(ObjectView::Thread(t)) => t.messages.iter().any(|m| m.id == id && m.delivery == delivered),
        Ok(ObjectView::Deal(d)) => d.timeline.iter().any(|s| s.id == id && s.delivery == delivered),
        Ok(ObjectView::Conversation(c)) => c.notes.iter().any(|n| n.id == id && n.delivery == delivered),
        _ => false,
    }
}

/// An outgoing message's delivery: what it is and where (`your counter in thread ... on Brass
/// lamp: delivered`), or its id alone if it cannot be read. Its thread or deal goes into
/// `extra`.
fn delivery_line(
    api: &ApiClient,
    id: ObjectId,
    state: &impl std::fmt::Display,
    extra: &mut Vec<(&'static str, serde_json::Value)>,
) -> String {
    use haggle_node::api::types::ObjectView;
    // Read again a moment later if the node did not answer at once (from a trial: one step's
    // `sent` came without its deal while the node was busy with the step's own effects).
    let mut read = api.object(&id.to_hex());
    for _ in 0..3 {
        // A definite answer (not found, say) is not asked again; only a node that did not
        // answer, or answered with its own failure.
        let again = match &read {
            Ok(_) => false,
            Err(haggle_node::ClientError::Api { status, .. }) => *status >= 500,
            Err(_) => true,
        };
        if !again {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        read = api.object(&id.to_hex());
    }
    match read {
        Ok(ObjectView::Thread(t)) => {
            extra.push(("thread", t.thread.to_hex().into()));
            if let Some(deal) = t.deal {
                extra.push(("deal", deal.to_hex().into()));
            }
            let message = t.messages.iter().find(|m| m.id == id);
            // A confirm is the node's, signed by itself when the other party accepted: said as
            // what it does (a trial's buyer read "your confirm", a step it never typed).
            let kind = match message.map(|m| (m.kind, m.automatic)) {
                Some((ObjectKind::Confirm, _)) => "node's confirmation of the deal".to_owned(),
                // A decline or withdrawal the node signed as the listing closed (a busy shop's
                // trial read "your decline" of one it never typed).
                Some((kind, true)) => format!(
                    "node's {kind} (the listing closed: {})",
                    message.map(|m| output::note(&m.message)).unwrap_or_default()
                ),
                Some((kind, false)) => kind.to_string(),
                None => "message".to_owned(),
            };
            let on = t.listing_title.as_deref().map(|title| format!(" on {title}")).unwrap_or_default();
            let why = refusal(message.and_then(|m| Some((m.delivery?, m.delivery_error.as_deref()?))));
            let nothing = message.and_then(|m| accept_came_to_nothing(&t, m));
            if nothing.is_some() {
                extra.push(("counted", false.into()));
            }
            let nothing = nothing.map(|n| format!("; {n}")).unwrap_or_default();
            format!("your {kind} in thread {}{on}: {state}{why}{nothing}", output::short(&t.thread))
        }
        Ok(ObjectView::Deal(d)) => {
            // The accept that made the deal is a message of its thread too: named by both, so
            // a script reads `thread` whether the line came before the deal or after.
            if d.id == id {
                extra.push(("thread", d.thread.to_hex().into()));
            }
            extra.push(("deal", d.id.to_hex().into()));
            let on = d.title.map(|title| format!(" on {title}")).unwrap_or_default();
            // A deal's id is its Accept's; a step is named (`your shipped step in deal ...`).
            let step = d.timeline.iter().find(|s| s.id == id);
            let what = match step {
                _ if d.id == id => "accept, which made".to_owned(),
                Some(s) => format!("{} step in", super::deal::step_name(&s.step, d.listing_kind)),
                None => "step in".to_owned(),
            };
            // A `received` that crossed the last cancel (a trial's buyer read it as counted), or
            // a step signed after it.
            let void = if step.is_some_and(|s| s.void) {
                "; it does not count: the deal is called off, and that is final"
            } else {
                ""
            };
            format!("your {what} deal {}{on}: {state}{void}", output::short(&d.id))
        }
        Ok(ObjectView::Conversation(c)) => {
            let note = c.notes.iter().find(|n| n.id == id);
            let why = refusal(note.and_then(|n| Some((n.delivery?, n.delivery_error.as_deref()?))));
            format!(
                "your message {} to {}: {state}{why} (haggle messages {})",
                output::short(&id),
                output::short_peer(&c.with.peer_id()),
                output::short(&c.id)
            )
        }
        _ => format!("message {} {state}", output::short(&id)),
    }
}

/// Why the other node refused a message for good, as a line's end (` (why)`), or
/// nothing for a message in any other state.
fn refusal(delivery: Option<(DeliveryState, &str)>) -> String {
    match delivery {
        Some((DeliveryState::Failed, why)) => format!(" ({why})"),
        _ => String::new(),
    }
}

/// A negotiation message's line: its kind, its thread and listing, and the note it carries.
/// The thread is read for the note; if it cannot be, the line says what the event says.
/// What `--json` gets besides the event: the listing's title, the terms proposed and the note,
/// as `listing_title`, `terms` and `message`.
/// Why the accept `m` in thread `t` makes no deal, if it makes none: it lost a crossing with
/// the other side's move (a withdrawal, say), or it came after the terms it accepts lapsed.
fn accept_came_to_nothing(
    t: &haggle_node::api::types::ThreadView,
    m: &haggle_node::api::types::MessageView,
) -> Option<&'static str> {
    if m.kind != ObjectKind::Accept {
        return None;
    }
    if !m.on_chain {
        return Some(
            "it crossed the other side's last move (a withdrawal or a decline) and does not count: no deal",
        );
    }
    (t.state == haggle_node::api::types::ThreadState::Expired && t.deal.is_none())
        .then_some("it came after the terms it accepts had lapsed: no deal")
}

fn negotiation_line(
    api: &ApiClient,
    id: ObjectId,
    kind: ObjectKind,
    thread: ObjectId,
    extra: &mut Vec<(&'static str, serde_json::Value)>,
) -> String {
    // A confirm is the other node's, signed by itself when the owner accepted.
    let said = match kind {
        ObjectKind::Confirm => "their node's confirmation of the deal".to_owned(),
        kind => kind.to_string(),
    };
    let plain = format!("{said} received in thread {}", output::short(&thread));
    let Ok(view) = api.thread(&thread.to_hex()) else { return plain };
    let title = view.listing_title.as_deref().map(|t| format!(" on {t}")).unwrap_or_default();
    let message = view.messages.iter().find(|m| m.id == id);
    if let Some(t) = &view.listing_title {
        extra.push(("listing_title", t.clone().into()));
    }
    if let Some(m) = message {
        if let Some(terms) = m.terms.as_ref().and_then(|t| serde_json::to_value(t).ok()) {
            extra.push(("terms", terms));
        }
        if !m.message.is_empty() {
            extra.push(("message", m.message.clone().into()));
        }
    }
    // What an offer or counter proposes, so it can be weighed from the line.
    let terms = message
        .and_then(|m| m.terms.as_ref())
        .map(|t| format!(" ({})", output::terms_among(t, output::several(&view))))
        .unwrap_or_default();
    let note = message
        .filter(|m| !m.message.is_empty())
        // One event, one line: a note's line breaks are spaces here.
        .map(|m| format!(": \"{}\"", m.message.split_whitespace().collect::<Vec<_>>().join(" ")))
        .unwrap_or_default();
    // An accept that makes no deal says so (a trial's watch told such accepts as any other).
    if let Some(why) = message.and_then(|m| accept_came_to_nothing(&view, m)) {
        extra.push(("counted", false.into()));
        return format!("{said} received in thread {}{title}: {why}", output::short(&thread));
    }
    // An offer the node accepted by itself (instant booking, a digital good at its price) has
    // nothing left to answer.
    let next = match kind {
        ObjectKind::Offer | ObjectKind::Counter if view.awaiting == Some(Party::Me) => {
            format!(" (haggle show {} to answer)", output::short(&thread))
        }
        _ => String::new(),
    };
    // Terms that cannot be accepted as they came say so (a retrial's owner read a request for
    // nights already booked as any other).
    // Only of the terms on the table: an older offer read back is not judged by today's stock.
    let current = message.and_then(|m| m.terms.as_ref()) == Some(&view.terms);
    let short = match (kind, &view.nights_unavailable, view.quantity_left) {
        _ if !current => String::new(),
        (ObjectKind::Offer | ObjectKind::Counter, Some(why), _) => {
            format!("; nights no longer available: {why}")
        }
        (ObjectKind::Offer | ObjectKind::Counter, None, Some(left)) => {
            format!("; {}", output::free_to_promise(left))
        }
        _ => String::new(),
    };
    // A bidder's declined bid: the auction went to someone else, or was called off (a trial's
    // bidder, on top by its own node's count, was never told plainly that it lost).
    let lost = match (kind, view.opening, view.role) {
        (ObjectKind::Decline, ObjectKind::Bid, haggle_node::api::types::Role::Offerer) => {
            declined_bid(message.map_or("", |m| m.message.as_str()))
        }
        _ => "",
    };
    format!("{said} received in thread {}{title}{lost}{terms}{note}{short}{next}", output::short(&thread))
}

/// What a decline of the owner's bid says of it, by the decline's note: the winner's own earlier
/// bids are declined too, saying a later one won (from a trial: the winner read "your bid did
/// not win" four times).
fn declined_bid(note: &str) -> &'static str {
    if note.ends_with("a later bid of yours won.") {
        ": an earlier bid of yours"
    } else {
        ": your bid did not win"
    }
}

/// A deal step's line: who signed it, what it asks of the owner, a dispute's reason. The deal is
/// read for who signed and the details; if it cannot be, the line says what the event says.
fn step_line(api: &ApiClient, id: ObjectId, deal: ObjectId, step: &str, stage: &str) -> String {
    let short = output::short(&deal);
    let plain = format!("deal {short}: {}; now {}", step.replace('_', " "), stage.replace('_', " "));
    let Ok(view) = api.deal(&deal.to_hex()) else { return plain };
    let Some(signed) = view.timeline.iter().find(|s| s.id == id) else { return plain };
    step_said(&view, signed, step, stage)
}

/// [`step_line`] once the deal `view` is read: `signed` is the step, of its timeline, that the
/// event (`step`, making `stage`) told.
fn step_said(
    view: &haggle_node::api::types::DealView,
    signed: &haggle_node::api::types::StepView,
    step: &str,
    stage: &str,
) -> String {
    let short = output::short(&view.id);
    let id = signed.id;
    let mine = signed.by == Party::Me;
    let details = signed.details.as_deref().filter(|d| !d.is_empty());
    // The other party by the owner's name for it, as the deal's own line names it (a trial's
    // lines said "the other party" under "... with Carol (seller)").
    let other = match view.you_are.as_deref() {
        Some("seller") => output::short_peer(&view.buyer),
        Some("buyer") => output::short_peer(&view.seller),
        _ => "the other party".to_owned(),
    };
    match (step, stage, mine) {
        // A step signed after the deal was called off, by a node that did not know (restored
        // from a backup, say), or a `received` that crossed the last cancel: it does not count.
        (step, _, mine) if signed.void => format!(
            "deal {short}: {} by {}, after the deal was called off: it does not count",
            super::deal::step_name(step, view.listing_kind),
            if mine { "you" } else { other.as_str() }
        ),
        // A `received` signed before this reached its node crossed it, and does not count (a
        // trial's buyer was told "now completed", then this line, with no word of which held).
        // Called off by the seller alone, the buyer not having paid in time (a review: it read
        // "both parties agreed").
        ("cancel", "cancelled", _) if view.called_off_unpaid => {
            format!("deal {short}: {}", super::deal::called_off_alone(view))
        }
        ("cancel", "cancelled", _) if view.timeline.iter().any(|s| s.step == "received" && s.void) => {
            format!(
                "deal {short}: cancelled, both parties agreed; the received that crossed it does not count (a deal called off stays off)"
            )
        }
        ("cancel", "cancelled", _) => format!("deal {short}: cancelled, both parties agreed"),
        ("cancel", _, true) => {
            format!("deal {short}: you asked to cancel; it is called off when {other} agrees")
        }
        ("cancel", _, false) => {
            format!("deal {short}: {other} asks to cancel; haggle cancel {short} agrees")
        }
        ("dispute", _, mine) => format!(
            "deal {short}: {} opened a dispute{}",
            if mine { "you" } else { other.as_str() },
            details.map(|d| format!(": \"{d}\"")).unwrap_or_default()
        ),
        // A payment request that reached the buyer's node after its "received" (it travelled
        // apart from the "shipped" after it): the deal waits on the payment.
        ("payment_request" | "received", _, _) if view.received_unpaid => match view.you_are.as_deref() {
            Some("buyer") => format!(
                "deal {short}: you said it arrived before the seller's payment request reached your node: pay, then say so (haggle paid {short}); the deal is complete once you have"
            ),
            _ => format!(
                "deal {short}: the buyer said it arrived before your payment request reached its node; the deal is complete once it says it paid"
            ),
        },
        // The stage as `haggle deals` shows it, with what else stands (disputed, cancel asked),
        // when it is still the stage the step made; a line retold later, after further steps,
        // says the deal moved on. A payment request says how to pay, and a second one that it
        // replaces the first (found in a trial: four requests with four IBANs read the same).
        (step, stage, mine) => {
            let replaces = step == "payment_request"
                && view.timeline.iter().any(|s| s.step == step && s.id != id && s.at <= signed.at);
            let how = match (step, details) {
                ("payment_request", Some(d)) if replaces => {
                    format!(": {d} (it replaces the earlier request)")
                }
                ("payment_request", Some(d)) => format!(": {d}"),
                _ => String::new(),
            };
            format!(
                "deal {short}: {} by {}{how}; {}",
                super::deal::step_name(step, view.listing_kind),
                if mine { "you" } else { other.as_str() },
                if stage == view.stage {
                    format!("now {}", super::deal::stage(view))
                } else {
                    format!("the deal has moved on since: now {}", super::deal::stage(view))
                }
            )
        }
    }
}

/// Whether the auction was sold or awarded to another bid while the owner's was the high one
/// this node holds, and not declined by hand (see `auction::lines`).
fn sold_past_me(auction: Option<&haggle_node::api::types::AuctionInfo>) -> bool {
    use haggle_node::api::types::AuctionState;
    auction.is_some_and(|a| matches!(a.state, AuctionState::Sold | AuctionState::Awarded) && !a.high_declined)
}

/// The label of a revision the owner's node signed by itself, after which the line says what
/// the listing holds now.
const NODE_UPDATED: &str = "your node updated:";

/// What a listing event says happened: a new listing, an update, a retraction, a sell-out.
fn change(event: &NodeEvent, listing: &haggle_node::api::types::ListingView) -> &'static str {
    let mine = matches!(event, NodeEvent::ListingPublished { .. });
    let by_node = matches!(event, NodeEvent::ListingPublished { automatic: true, .. });
    match (listing.state, listing.revision, mine) {
        // Retracted after it sold out: it stays closed (its sell-out had its own line).
        (ListingState::Closed, _, true) if listing.retracted => "you retracted:",
        (ListingState::Closed, _, _) if listing.retracted => "retracted:",
        (ListingState::Closed, _, _) if listing.quantity == 0 && listing.kind == ListingKind::Crowdfund => {
            "missed its goal:"
        }
        (ListingState::Closed, _, _) if listing.quantity == 0 => match listing.kind {
            ListingKind::Auction => "sold:",
            ListingKind::Giveaway => "given away:",
            ListingKind::Wanted => "found:",
            _ => "sold out:",
        },
        (ListingState::Closed, _, true) => "you retracted:",
        (ListingState::Closed, _, _) => "retracted:",
        (_, 1, true) => "published:",
        (_, 1, false) => "new listing:",
        // The quantity or nights a deal took, or its cancellation gave back.
        (_, _, true) if by_node => NODE_UPDATED,
        (_, _, true) => "you updated:",
        (_, _, false) => "updated:",
    }
}

/// Whether a listing line says what the listing holds: after the owner's node took from it or
/// gave back, and, for others watching an update, what is left of goods sold by the item or
/// which nights are booked (a trial's competing buyers could not see the chairs going).
fn tells_holds(what: &str, l: &ListingView) -> bool {
    let counted = l.calendar.is_some() || matches!(l.kind, ListingKind::Sell | ListingKind::Giveaway);
    what == NODE_UPDATED || (counted && matches!(what, "updated:" | "now matches:" | "you updated:"))
}

/// What a listing the owner's node revised by itself (a deal took from it, or a cancelled one
/// gave back) holds now: the stays its calendar has booked, or the quantity left.
fn holds(l: &ListingView) -> String {
    const SHOWN: usize = 3;
    match &l.calendar {
        Some(c) if c.booked.is_empty() => "; no nights booked".to_owned(),
        Some(c) if c.booked.len() > SHOWN => {
            format!("; booked {} and {} more", c.booked[..SHOWN].join(", "), c.booked.len() - SHOWN)
        }
        Some(c) => format!("; booked {}", c.booked.join(", ")),
        None => format!("; {} left", l.quantity),
    }
}

/// The auction or campaign `listing` as the node shows it, if the watch shows its events: the
/// search matches it, or the event is about the owner's own bid or pledge (`about_me`) or own
/// auction or campaign. An auction's price is its high bid, so the outbid
/// that matters most to a bidder would otherwise take it out of a `--max-price` watch.
fn watched(
    api: &ApiClient,
    params: &SearchParams,
    listing: &haggle_node::api::types::ObjectId,
    about_me: bool,
) -> Result<Option<ListingView>, ClientError> {
    let l = api.listing(&listing.to_hex())?;
    if params.is_filtered() && !about_me && !l.mine && !matches(api, params, &l.id)? {
        return Ok(None);
    }
    Ok(Some(l))
}

/// Whether the listing `id` matches the search, whatever its state: the node judges it with its
/// own search engine (so watch and search agree), a retracted or sold-out listing included.
fn matches(
    api: &ApiClient,
    params: &SearchParams,
    id: &haggle_node::api::types::ObjectId,
) -> Result<bool, ClientError> {
    Ok(matching_hit(api, params, id)?.is_some())
}

/// [`matches`], with the listing as the search found it (its distance, in a search around a
/// place).
fn matching_hit(
    api: &ApiClient,
    params: &SearchParams,
    id: &haggle_node::api::types::ObjectId,
) -> Result<Option<ListingView>, ClientError> {
    let one = SearchParams { listing: Some(*id), limit: Some(1), offset: Some(0), ..params.clone() };
    Ok(api.search(&one)?.hits.into_iter().find(|h| h.id == *id))
}

#[cfg(test)]
mod tests {
    use haggle_node::api::types::{ListingKind, ListingView, ObjectId};

    use super::*;

    fn listing(revision: u32, state: ListingState, quantity: u32) -> ListingView {
        crate::output::sample_listing(revision, state, quantity)
    }

    /// Found in a trial: a deal's step lines said "the other party" under a line naming them,
    /// and a `received` that crossed the last cancel went by as if it counted.
    #[test]
    fn the_winners_earlier_bids_are_not_told_as_lost() {
        assert_eq!(declined_bid("The auction ended: a later bid of yours won."), ": an earlier bid of yours");
        assert_eq!(
            declined_bid("The auction ended: the seller sold it to another bid."),
            ": your bid did not win"
        );
        assert_eq!(declined_bid(""), ": your bid did not win");
    }

    #[test]
    fn a_steps_line_names_the_other_party_and_a_crossed_received_is_said_void() {
        use haggle_node::api::types::StepView;
        let step = |n: u8, by: Party, step: &str| StepView {
            id: ObjectId::from_bytes([n; 32]),
            by,
            step: step.into(),
            details: None,
            at: u64::from(n),
            delivery: None,
            delivery_error: None,
            superseded: false,
            void: false,
        };
        let paid = step(1, Party::Them, "paid");
        let seller = haggle_node::api::types::DealView {
            you_are: Some("seller".into()),
            timeline: vec![paid.clone()],
            ..crate::commands::deal::sample_deal("paid", None)
        };
        let said = step_said(&seller, &paid, "paid", "paid");
        let buyer = output::short_peer(&seller.buyer);
        assert!(said.starts_with(&format!("deal 0707070707: paid by {buyer}; now paid")), "{said}");
        assert!(buyer.starts_with("12D3KooW…") && !said.contains("the other party"), "{said}");

        let received = StepView { void: true, ..step(3, Party::Me, "received") };
        let (theirs, mine) = (step(2, Party::Them, "cancel"), step(4, Party::Me, "cancel"));
        let called_off = haggle_node::api::types::DealView {
            you_are: Some("buyer".into()),
            timeline: vec![theirs, received, mine.clone()],
            ..crate::commands::deal::sample_deal("cancelled", None)
        };
        assert_eq!(
            step_said(&called_off, &mine, "cancel", "cancelled"),
            "deal 0707070707: cancelled, both parties agreed; the received that crossed it does not count (a deal called off stays off)"
        );
        let plain = haggle_node::api::types::DealView { timeline: vec![mine.clone()], ..called_off.clone() };
        assert_eq!(
            step_said(&plain, &mine, "cancel", "cancelled"),
            "deal 0707070707: cancelled, both parties agreed"
        );
        // Found in a second trial: a step from a node restored from a backup, signed after the
        // deal was called off, read as any other.
        let late = StepView { void: true, ..step(5, Party::Them, "shipped") };
        let said = step_said(&called_off, &late, "shipped", "cancelled");
        assert!(said.ends_with(", after the deal was called off: it does not count"), "{said}");
    }

    /// From a trial: 20,000 listings emptied the one set of what was told, and six negotiation
    /// lines were told again after a restart. What was told is forgotten oldest first, and
    /// listings apart.
    #[test]
    fn what_was_told_is_forgotten_oldest_first() {
        let mut told = Recent::default();
        assert!(told.insert(0usize));
        assert!(!told.insert(0), "told once");
        for n in 1..=Recent::<usize>::MAX {
            assert!(told.insert(n));
        }
        assert_eq!(told.order.len(), Recent::<usize>::MAX);
        assert!(told.insert(0), "the oldest went first");
        assert!(!told.insert(Recent::<usize>::MAX), "the newest stay");
    }

    /// Defect: a watch said `reachability now public` again after each restart of its node.
    #[test]
    fn a_reachability_found_again_is_not_told_again() {
        use haggle_node::api::types::Reachability;
        let mut w = Watching {
            me: None,
            params: SearchParams::default(),
            saved: None,
            reachability: None,
            matching: Default::default(),
            delivered: Default::default(),
            seen: Default::default(),
            seen_listings: Default::default(),
            bookings: None,
            failure: None,
            started: 0,
            node_started: None,
        };
        let now = |reachability| NodeEvent::ReachabilityChanged { reachability };
        assert!(!w.told_again(&now(Reachability::Public)), "the first is told");
        assert!(w.told_again(&now(Reachability::Public)), "the same, after a restart, is not");
        assert!(!w.told_again(&now(Reachability::Private)));
        assert!(!w.told_again(&now(Reachability::Public)), "a change back is");
        // Public when the watch started (read from the node's status): a restart finding it
        // again is not news.
        let mut w = Watching { reachability: Some(Reachability::Public), ..w };
        assert!(w.told_again(&now(Reachability::Public)));
    }

    /// From a trial: buyers competing for chairs saw `updated:` with no count while the seller's
    /// watch said `1 left`.
    #[test]
    fn an_update_of_goods_sold_by_the_item_says_how_many_are_left() {
        let chairs = listing(3, ListingState::Active, 2);
        assert!(
            tells_holds("updated:", &chairs)
                && tells_holds(NODE_UPDATED, &chairs)
                && tells_holds("you updated:", &chairs)
        );
        assert_eq!(holds(&chairs), "; 2 left");
        let one = listing(3, ListingState::Active, 1);
        assert!(tells_holds("updated:", &one), "the last chair is said too");
        assert_eq!(holds(&one), "; 1 left");
        let wanted = ListingView { kind: ListingKind::Wanted, ..listing(3, ListingState::Active, 2) };
        assert!(!tells_holds("updated:", &wanted), "a wanted ad sells nothing");
        let hours = ListingView { kind: ListingKind::Service, ..listing(3, ListingState::Active, 5) };
        assert!(!tells_holds("updated:", &hours), "a service's quantity caps a deal, deals leave it");
        assert!(!tells_holds("new listing:", &chairs), "only a change says what is left");
    }

    /// Defect: watch printed every revision and retraction as "new listing ... (closed)", and a
    /// giveaway's price as "free free".
    #[test]
    fn watch_says_what_changed() {
        let stored = NodeEvent::ListingStored { id: ObjectId::from_bytes([1; 32]), by: Default::default() };
        let published = NodeEvent::ListingPublished { id: ObjectId::from_bytes([1; 32]), automatic: false };
        assert_eq!(change(&stored, &listing(1, ListingState::Active, 1)), "new listing:");
        assert_eq!(change(&stored, &listing(2, ListingState::Active, 1)), "updated:");
        assert_eq!(change(&stored, &listing(3, ListingState::Closed, 1)), "retracted:");
        assert_eq!(change(&published, &listing(3, ListingState::Closed, 1)), "you retracted:");
        assert_eq!(change(&published, &listing(1, ListingState::Active, 1)), "published:");
        assert_eq!(change(&published, &listing(2, ListingState::Active, 1)), "you updated:");
        // Revisions the node signed by itself are not said to be the owner's doing.
        let by_node = NodeEvent::ListingPublished { id: ObjectId::from_bytes([1; 32]), automatic: true };
        assert_eq!(change(&by_node, &listing(2, ListingState::Active, 1)), "your node updated:");
        assert_eq!(holds(&listing(2, ListingState::Active, 4)), "; 4 left");
        let calendar = |booked: &[&str]| haggle_node::api::types::CalendarView {
            open: vec!["2026-12-01..2027-04-01".into()],
            booked: booked.iter().map(|b| (*b).to_owned()).collect(),
            min_stay: 1,
            max_stay: 0,
            instant: true,
        };
        let cabin = |booked: &[&str]| ListingView {
            calendar: Some(Box::new(calendar(booked))),
            ..listing(2, ListingState::Active, 1)
        };
        assert_eq!(holds(&cabin(&[])), "; no nights booked");
        assert_eq!(holds(&cabin(&["2026-12-20..2026-12-27"])), "; booked 2026-12-20..2026-12-27");
        let weeks = [
            "2026-12-01..2026-12-08",
            "2026-12-08..2026-12-15",
            "2026-12-15..2026-12-22",
            "2027-01-05..2027-01-12",
        ];
        assert_eq!(
            holds(&cabin(&weeks)),
            "; booked 2026-12-01..2026-12-08, 2026-12-08..2026-12-15, 2026-12-15..2026-12-22 and 1 more"
        );
        let campaign = ListingView { kind: ListingKind::Crowdfund, ..listing(2, ListingState::Closed, 0) };
        assert_eq!(change(&by_node, &campaign), "missed its goal:");
        assert_eq!(output::summary(&listing(1, ListingState::Active, 1)), "Sofa — giveaway");
        // A closed listing's word is the one `show` and `search` give its state.
        let giveaway = listing(3, ListingState::Closed, 0);
        assert_eq!(change(&stored, &giveaway), "given away:");
        assert_eq!(giveaway.label(), "given away");
        let sold = ListingView { kind: ListingKind::Sell, ..listing(3, ListingState::Closed, 0) };
        assert_eq!(change(&stored, &sold), "sold out:");
        // Retracted after it sold out (a trial's watch said "sold out" twice).
        let retracted = ListingView { retracted: true, ..sold };
        assert_eq!(change(&stored, &retracted), "retracted:");
        assert_eq!(retracted.label(), "retracted");
        // A campaign its creator closed after the deadline reads funded, not "closed closed".
        let eur = |amount| haggle_node::api::types::PriceView {
            amount,
            currency: "EUR".parse().expect("a currency"),
            per: None,
            decimals: Some(2),
            display: String::new(),
        };
        let info = haggle_node::api::types::CampaignInfo {
            deadline: 0,
            over: true,
            goal: eur(100),
            total: eur(150),
            percent: 150,
            funded: true,
            missed: false,
            cancelled: false,
            backers: 2,
            tiers: Vec::new(),
            pledges: Vec::new(),
            mine: None,
            left_to_you: 0,
        };
        let funded = ListingView {
            kind: ListingKind::Crowdfund,
            campaign: Some(Box::new(info.clone())),
            ..listing(3, ListingState::Closed, 5)
        };
        assert_eq!(funded.label(), "funded");
        let closed = ListingView {
            campaign: Some(Box::new(haggle_node::api::types::CampaignInfo { funded: false, ..info })),
            ..funded
        };
        assert_eq!(closed.label(), "closed");
    }

    /// Defect: a watch back after its node's restart told again the bids and pledges it had
    /// shown live, read back as their threads' messages.
    /// A thread with one accept, `on_chain` or not, in `state`.
    fn accepted(
        state: haggle_node::api::types::ThreadState,
        on_chain: bool,
    ) -> haggle_node::api::types::ThreadView {
        crate::output::sample_thread(state, on_chain)
    }

    /// Found in a trial: an accept that crossed a withdrawal, or came after the terms lapsed,
    /// was told as any accept.
    #[test]
    fn an_accept_that_makes_no_deal_says_why() {
        use haggle_node::api::types::ThreadState;
        let crossed = accepted(ThreadState::Withdrawn, false);
        let why = accept_came_to_nothing(&crossed, &crossed.messages[0]).expect("no deal");
        assert!(why.contains("crossed") && why.ends_with("no deal"), "{why}");
        let late = accepted(ThreadState::Expired, true);
        let why = accept_came_to_nothing(&late, &late.messages[0]).expect("no deal");
        assert!(why.contains("lapsed"), "{why}");
        let counted = accepted(ThreadState::Confirming, true);
        assert_eq!(accept_came_to_nothing(&counted, &counted.messages[0]), None);
    }

    #[test]
    fn a_bid_or_pledge_is_told_once_live_or_read_back() {
        let id = ObjectId::from_bytes([7; 32]);
        let author = listing(1, ListingState::Active, 1).author;
        let bid = NodeEvent::BidStored {
            id,
            listing: ObjectId::from_bytes([1; 32]),
            bidder: author,
            amount: "55.00 EUR".into(),
            leads: true,
            outbids_me: false,
            mine: false,
            moved_end_to: None,
        };
        let pledge = NodeEvent::PledgeStored {
            id,
            listing: ObjectId::from_bytes([1; 32]),
            backer: author,
            amount: "10.00 EUR".into(),
            total: "10.00 EUR".into(),
            mine: false,
        };
        for kind in [ObjectKind::Bid, ObjectKind::Pledge] {
            let read_back = NodeEvent::NegotiationReceived { id, thread: id, kind };
            assert_eq!(told(&read_back), told(&bid));
            assert_eq!(told(&read_back), told(&pledge));
        }
        assert_eq!(told(&NodeEvent::DealMade { id, thread: id }), Some(("deal", id)));
    }
}
