//! Human output: aligned tables, prices with their currency, relative times, colour only on a
//! terminal (and never with NO_COLOR); and `--json` output of the API's own types.

/// Like `println!`, through [`output::write_line`](crate::output::write_line): a closed pipe ends
/// the program quietly instead of panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}

/// A note on what was done that may be a slip (`Note: ...`): on stdout after the human output,
/// on stderr with `--json` (`note: ...`), where stdout holds only the JSON document. The first
/// argument says whether `--json` is on.
#[macro_export]
macro_rules! note {
    ($json:expr, $($arg:tt)*) => {
        $crate::output::write_note($json, format_args!($($arg)*))
    };
}

use std::io::IsTerminal;

use serde::Serialize;

use haggle_node::api::types::{
    DeliveryState, ListingKind, ListingState, ListingView, Party, PriceView, PublicOutcome, Role, TermsView,
    ThreadView,
};

/// Writes one line to standard output. A closed pipe (`haggle search bike | head -1`) ends the
/// program at once with success, as it would any Unix tool; any other write failure ends it with
/// a message and exit code 1. Every line the command prints goes through here ([`outln!`]).
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let text = args.to_string();
    let line = visible(&text);
    #[cfg(test)]
    if CAPTURED.with(|c| c.borrow_mut().as_mut().map(|out| out.push_str(&format!("{line}\n"))).is_some()) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written =
        out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
    exit_on_write_error(written);
}

#[cfg(test)]
thread_local! {
    /// What the lines written on this thread read, while [`captured`] runs.
    static CAPTURED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The lines `write` writes (through `outln!`), instead of on stdout: for tests of what a
/// command prints.
#[cfg(test)]
pub(crate) fn captured(write: impl FnOnce()) -> String {
    CAPTURED.with(|c| *c.borrow_mut() = Some(String::new()));
    write();
    CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default()
}

/// Writes a note (see [`note!`](crate::note)).
pub fn write_note(json: bool, args: std::fmt::Arguments<'_>) {
    if json {
        use std::io::Write;
        let text = format!("note: {args}");
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(visible(&text).as_bytes()).and_then(|()| err.write_all(b"\n"));
    } else {
        write_line(format_args!("Note: {args}"));
    }
}

/// `text` with the characters that reorder or hide text shown as `\u202e`-style escapes:
/// direction overrides, embeddings and isolates, zero-width spaces, byte-order marks, Unicode
/// line and paragraph separators. Anyone
/// can put them in a listing's title to make it read as something else; escaped, a title reads
/// as what it holds. Inside a JSON string the escape is the same character, so `--json` output
/// keeps its data. (Joiners, which emoji and some scripts need, are left alone.)
fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden =
        |c: char| matches!(c, '\u{200B}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
    if !text.contains(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A note someone else wrote (a bid's, a pledge's, a negotiation message's), on one line: a
/// line break (or a Unicode line or paragraph separator) shows as ` ↵ `, a tab as a space, and any other control character as its
/// `\u{..}` escape. A note shown as written could start lines of its own and fake what the
/// screen says around it (a "raised" line, a higher bid).
pub fn note(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split(['\n', '\u{2028}', '\u{2029}']).peekable();
    while let Some(line) = lines.next() {
        for c in line.chars() {
            match c {
                '\t' | '\r' => out.push(' '),
                c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
                c => out.push(c),
            }
        }
        if lines.peek().is_some() {
            out.push_str(" ↵ ");
        }
    }
    out
}

/// Writes bytes to standard output, with [`write_line`]'s handling of a closed pipe.
pub fn write_bytes(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    exit_on_write_error(out.write_all(bytes).and_then(|()| out.flush()));
}

fn exit_on_write_error(written: std::io::Result<()>) {
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}

/// Prints `value` as pretty JSON (for `--json`).
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Whether to use colour on stdout.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub fn bold(text: &str) -> String {
    if colour() { format!("\x1b[1m{text}\x1b[0m") } else { text.to_owned() }
}

pub fn dim(text: &str) -> String {
    if colour() { format!("\x1b[2m{text}\x1b[0m") } else { text.to_owned() }
}

/// Prints rows as aligned columns under a bold header.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut lines = table_lines(headers, rows).into_iter();
    if let Some(header) = lines.next() {
        outln!("{}", bold(&header));
    }
    for line in lines {
        outln!("{line}");
    }
}

/// [`table`]'s lines, the header first (not yet in bold).
fn table_lines(headers: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    // Padded by the columns a terminal gives each cell: an emoji or a CJK character takes two,
    // and a hidden character as its escape shows it (`\u202e`, six).
    use unicode_width::UnicodeWidthStr;
    let rows: Vec<Vec<String>> =
        rows.iter().map(|row| row.iter().map(|cell| left_to_right_after(&visible(cell))).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.width());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c.clone()
                } else {
                    format!("{c}{}", " ".repeat(widths[i].saturating_sub(c.width())))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    std::iter::once(line(headers.iter().map(|h| (*h).to_owned()).collect()))
        .chain(rows.into_iter().map(line))
        .collect()
}

/// A cell of right-to-left text (Arabic, Hebrew, Syriac, Thaana, N'Ko and the like) followed by
/// a left-to-right mark (U+200E), which takes no column: in a terminal that lays text out both
/// ways, the digits of the next cells would otherwise join the right-to-left run (from an
/// international trial: the price after an Arabic title could be drawn on the title's other
/// side). Not the isolate marks (U+2068, U+2069): every line printed shows those escaped, as a
/// title could use them to reorder what a line says (a retrial read `\u2068` in every such
/// table). Other cells are as given.
fn left_to_right_after(cell: &str) -> String {
    let rtl = |c: char| matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFE | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF);
    if cell.contains(rtl) { format!("{cell}\u{200E}") } else { cell.to_owned() }
}

/// `text` cut to `max` columns of a terminal, the cut marked with an ellipsis: a table cell
/// stays readable however long the text (`haggle show` prints it whole). A Chinese, Japanese
/// or Korean character or an emoji takes two columns (cut by characters, a Japanese title took
/// 80 columns, and a search's table 186).
pub fn clip(text: &str, max: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    // A run of spaces or a tab in a cell reads as the gap between two columns (from a hostile
    // trial: a place of `Ghent   alice: trusted` passed for a SELLER cell): one space each.
    let spaced;
    let text = if text.contains(['\t']) || text.contains("  ") {
        spaced = text.split_whitespace().collect::<Vec<_>>().join(" ");
        spaced.as_str()
    } else {
        text
    };
    if text.width() <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(1);
    let mut used = 0;
    let mut cut = String::new();
    for c in text.chars() {
        used += c.width().unwrap_or(0);
        if used > room {
            break;
        }
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// The widest a title or a place is shown in a table.
pub const TITLE_COLUMN: usize = 40;
pub const PLACE_COLUMN: usize = 24;

/// "1 thread", "2 threads".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// The article before `word`: "an auction", "a rental" (by its first letter, which serves the
/// listing kinds' names).
pub fn a(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// "in 3 days", "2 hours ago", "just now".
pub fn relative(ms: u64, now_ms: u64) -> String {
    let (delta, future) = if ms >= now_ms { (ms - now_ms, true) } else { (now_ms - ms, false) };
    let secs = delta / 1000;
    // Nearest whole unit, so a listing published for 30 days reads "in 30 days". Hours up to two
    // days: a day and a half is not "1 day" (from an international trial's `--expires 36h`).
    let (n, unit) = match secs {
        0..=59 => return "just now".to_owned(),
        60..=3_569 => ((secs + 30) / 60, "minute"),
        3_570..=170_999 => ((secs + 1_800) / 3_600, "hour"),
        _ => ((secs + 43_200) / 86_400, "day"),
    };
    let unit = if n == 1 { unit.to_owned() } else { format!("{unit}s") };
    if future { format!("in {n} {unit}") } else { format!("{n} {unit} ago") }
}

/// When a listing or terms expire, or expired: "expires in 3 days", "expired 2 hours ago".
pub fn expiry(expires_at: u64, now_ms: u64) -> String {
    // What ends within the minute says how soon ("just now" would read as past). Only here:
    // times others stamped can be a few seconds ahead of this clock, and read "just now".
    let left = expires_at.saturating_sub(now_ms) / 1000;
    if (1..60).contains(&left) {
        return format!("expires in {left} second{}", if left == 1 { "" } else { "s" });
    }
    let when = relative(expires_at, now_ms);
    if expires_at <= now_ms { format!("expired {when}") } else { format!("expires {when}") }
}

/// The line under a page of `shown` results after `offset`, of `total`: `21-40 of 57 shown;
/// --offset 40 for more`; none when the page holds them all.
pub fn page_line(offset: usize, shown: usize, total: usize) -> Option<String> {
    let next = offset + shown;
    if shown == 0 || (total <= next && offset == 0) {
        return None;
    }
    let range = match offset {
        0 => format!("{shown} of {total} shown"),
        first => format!("{}-{next} of {total} shown", first + 1),
    };
    let more = if total > next { format!("; --offset {next} for more") } else { String::new() };
    Some(format!("{range}{more}"))
}

/// Runs `f`, a call that has the node sign a listing, with a line on a terminal's stderr while it
/// works: the proof of work grows with the listing's size (one more bit per doubling above 1 KiB),
/// and a long description's publish sat silent for 8 s (a trial read it as hung). Nothing is
/// drawn on a pipe, and the line is cleared when `f` returns.
pub fn signing<T>(json: bool, f: impl FnOnce() -> T) -> T {
    use std::io::IsTerminal;
    if json || !std::io::stderr().is_terminal() {
        return f();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(
        "signing the listing and doing its proof of work (about a second; longer for a long description)",
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let out = f();
    bar.finish_and_clear();
    out
}

/// A date `YYYY-MM-DD` as `MM-DD`, where the year is plain from the context (a table's cell).
pub fn month_day(date: &str) -> &str {
    date.get(5..).unwrap_or(date)
}

pub fn now_ms() -> u64 {
    haggle_protocol::Timestamp::now().as_millis()
}

/// The first 10 characters of an id, as tables show it.
pub fn short(id: &impl ToString) -> String {
    id.to_string().chars().take(haggle_protocol::SHORT_LEN).collect()
}

pub use haggle_node::service::shell_word;

/// Where the owner's names for keys (`haggle name`) are read from: the command's node, set by
/// `commands::run` (none for `--json`, whose output keeps keys), and set again by a `watch`
/// that follows its node through a restart (the node's token is new then).
static NAMES_FROM: std::sync::Mutex<Option<haggle_node::ApiClient>> = std::sync::Mutex::new(None);

/// The owner's names, by key as printed, with when they were read: read from the node the
/// first time a key is shown (a command that shows none asks nothing more of its node), and
/// again once older than [`NAMES_LAST_MS`] (a long-running `watch` picks up names given since).
/// `None` as the time: to be read again at the next key shown (see [`names_follow`]).
static NAMES: std::sync::Mutex<Option<(Option<std::time::Instant>, std::sync::Arc<Names>)>> =
    std::sync::Mutex::new(None);

/// How long the names read stay current, in ms: for the whole command unless it says otherwise.
static NAMES_LAST_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

type Names = std::collections::HashMap<String, String>;

/// Has [`short_peer`] and [`peer`] show the names `api`'s node holds.
pub fn names_from(api: &haggle_node::ApiClient) {
    *NAMES_FROM.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(api.clone());
}

/// Has the names be read from `api` from now on, if names are shown at all (see
/// [`names_from`]), and at the next key shown: for a command that reached its node again
/// through a new client.
pub fn names_follow(api: &haggle_node::ApiClient) {
    {
        let mut from = NAMES_FROM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if from.is_none() {
            return;
        }
        *from = Some(api.clone());
    }
    // Read again at the next key shown; until a read succeeds, the names held stay shown.
    if let Some((read, _)) = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut() {
        *read = None;
    }
}

/// Has the names be read again once they are older than `last`: for a command that runs for
/// long, while its owner may give names.
pub fn names_last(last: std::time::Duration) {
    let ms = u64::try_from(last.as_millis()).unwrap_or(u64::MAX);
    NAMES_LAST_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// The owner's name for `key` (as printed), if it gave one. A node that cannot say (it
/// stopped meanwhile) leaves the names last read shown; a build without names, the keys.
pub fn name_of(key: &str) -> Option<String> {
    let last = std::time::Duration::from_millis(NAMES_LAST_MS.load(std::sync::atomic::Ordering::Relaxed));
    let held =
        |names: &std::sync::MutexGuard<'_, Option<(Option<std::time::Instant>, std::sync::Arc<Names>)>>| {
            names.as_ref().map(|(at, names)| (at.is_some_and(|at| at.elapsed() < last), names.clone()))
        };
    // Fresh names are shown without asking the node; the node is asked with no lock held (a
    // table shows many keys, and `names_follow` takes the locks the other way round).
    let before = held(&NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let names = match before {
        Some((true, names)) => names,
        before => {
            let api = NAMES_FROM.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            let names = match api.map(|api| api.names()) {
                Some(Ok(page)) => std::sync::Arc::new(
                    page.names.into_iter().map(|n| (n.key.to_string(), n.name)).collect::<Names>(),
                ),
                _ => before.map_or_else(Default::default, |(_, names)| names),
            };
            *NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((Some(std::time::Instant::now()), names.clone()));
            names
        }
    };
    names.get(key).cloned()
}

/// A PeerId for tables: the owner's name for it, else shortened, `12D3KooW…a1b2c3`.
pub fn short_peer(peer: &impl ToString) -> String {
    let s = peer.to_string();
    if let Some(name) = name_of(&s) {
        return name;
    }
    if s.len() > 16 { format!("{}{}", &s[..8], key_end(&s)) } else { s }
}

/// The end of a key, for a table's column too narrow for [`short_peer`]: `…WA4YPf`, the
/// characters `haggle show` and [`short_peer`] end it with.
pub fn key_end(key: &str) -> String {
    match key.char_indices().rev().nth(5) {
        Some((at, _)) => format!("…{}", &key[at..]),
        None => key.to_owned(),
    }
}

/// A person as a command takes them: the owner's name for the key, quoted for a shell, else
/// the key.
pub fn typed_peer(peer: &impl ToString) -> String {
    let s = peer.to_string();
    name_of(&s).map_or(s, |name| shell_word(&name))
}

/// A PeerId in full, for a line of its own, with the owner's name for it: `12D3KooW… (Bob)`.
pub fn peer(peer: &impl ToString) -> String {
    let s = peer.to_string();
    match name_of(&s) {
        Some(name) => format!("{s} ({name})"),
        None => s,
    }
}

/// A price for people; no price is "free".
pub fn price(p: Option<&PriceView>) -> String {
    p.map_or_else(|| "free".to_owned(), |p| p.display.clone())
}

/// A listing's price for people: a wanted ad without one is open to offers, not free.
fn listing_price(l: &ListingView) -> String {
    match (&l.price, l.kind) {
        (None, haggle_protocol::ListingKind::Wanted) => "open to offers".to_owned(),
        (p, _) => price(p.as_ref()),
    }
}

/// Terms as a table cell: `110.00 EUR`, for more than one item the price of them all
/// (`60.00 EUR for 3`), for a listing priced per period the periods it covers (`45.00 EUR for
/// 3 days`), or for a booking `140.00 EUR 2026-12-20..2026-12-27`.
pub fn terms(t: &TermsView) -> String {
    match (&t.dates, t.unit) {
        (Some(dates), _) => format!("{} {dates}", t.price.display),
        (None, Some(unit)) => {
            format!("{} for {}", t.price.display, count(t.quantity as usize, unit.as_str()))
        }
        (None, None) if t.quantity == 1 => t.price.display.clone(),
        (None, None) => format!("{} for {}", t.price.display, t.quantity),
    }
}

/// Of a booking's terms, the nights its dates cover (`, 7 nights`), said where the terms
/// have a line of their own (a table gives the dates alone); a service's are days of work (a
/// trial's workshop read "2 nights").
pub fn stay(t: &TermsView, kind: Option<haggle_protocol::ListingKind>) -> String {
    t.dates
        .as_deref()
        .and_then(|d| d.parse::<haggle_protocol::calendar::DateRange>().ok())
        .map_or_else(String::new, |d| format!(", {}", count(d.nights() as usize, night_word(kind))))
}

/// What one unit of a calendar is called: a night of a stay, or a day of a service.
pub fn night_word(kind: Option<haggle_protocol::ListingKind>) -> &'static str {
    if kind == Some(haggle_protocol::ListingKind::Service) { "day" } else { "night" }
}

pub fn live(t: &ThreadView) -> bool {
    t.live()
}

/// Whether the thread is a bid or pledge still open before its end ([`ThreadView::waits_for_end`]).
pub fn waits_for_end(t: &ThreadView) -> bool {
    t.waits_for_end()
}

/// A thread's current terms: a pledge of 0 is named for what it is, a withdrawal.
pub fn thread_terms(t: &ThreadView) -> String {
    message_terms(t.opening, &t.terms, several(t))
}

/// What `show` says of terms in another currency than the listing's price, `asked`.
pub fn other_currency(t: &ThreadView, asked: &haggle_protocol::Currency) -> String {
    let offered = &t.terms.price.currency;
    let (listing, theirs) = match t.listing_kind {
        Some(ListingKind::Wanted) => ("wanted ad", "budget"),
        _ => ("listing", "price"),
    };
    match t.role {
        Role::ListingAuthor => format!(
            "these terms are in {offered}, your {listing}'s {theirs} in {asked}: accepting agrees to {offered}"
        ),
        Role::Offerer => format!("these terms are in {offered}, the {listing}'s {theirs} in {asked}"),
    }
}

/// Whether some terms in `t` are for more than one: then terms for one say `for 1`, so that a
/// counter for fewer does not read as the same quantity at a lower price (a trial's buyer read
/// "26.00 EUR" after "50.00 EUR for 2" as two for 26).
pub fn several(t: &ThreadView) -> bool {
    t.terms.quantity != 1 || t.messages.iter().filter_map(|m| m.terms.as_ref()).any(|m| m.quantity != 1)
}

/// A deal's terms, with `for 1` when the listing offered more than one (a retrial's buyer, who
/// had asked for 2, could not tell from the deal that it covered one). Asks the node for the
/// revision the deal was made on; a revision no longer held says nothing more.
pub fn deal_terms(api: &haggle_node::ApiClient, d: &haggle_node::api::types::DealView) -> String {
    let t = &d.terms;
    // Asked only where `for 1` could be said: goods by the item, not an auction's or a
    // campaign's one (a funded campaign makes many deals at once), nor a digital good's copy
    // (copies are not scarce: "5.00 EUR for 1" read as if there were more to buy).
    let by_the_item = t.quantity == 1
        && t.dates.is_none()
        && t.unit.is_none()
        && !matches!(
            d.listing_kind,
            Some(ListingKind::Auction | ListingKind::Crowdfund | ListingKind::Digital)
        );
    if !by_the_item {
        return terms(t);
    }
    // Terms for more than one asked in its thread, or a listing offering more than one.
    let several = api.thread(&d.thread.to_hex()).is_ok_and(|thread| several(&thread))
        || matches!(
            api.object_exact(&d.listing.to_hex()),
            Ok(haggle_node::api::types::ObjectView::Listing(l)) if l.quantity > 1
        );
    terms_among(t, several)
}

/// How many a listing has free to promise, said where terms ask for more.
pub fn free_to_promise(left: u32) -> String {
    match left {
        0 => "none free to promise now".to_owned(),
        n => format!("only {n} free to promise"),
    }
}

/// Terms as [`terms`] says them, with `for 1` where `several` (see [`several`]).
pub fn terms_among(t: &TermsView, several: bool) -> String {
    if several && t.quantity == 1 && t.dates.is_none() && t.unit.is_none() {
        format!("{} for 1", t.price.display)
    } else {
        terms(t)
    }
}

/// A message's terms, a pledge of 0 named as a withdrawal.
fn message_terms(kind: haggle_node::api::types::ObjectKind, t: &TermsView, several: bool) -> String {
    if kind == haggle_node::api::types::ObjectKind::Pledge && t.price.amount == 0 {
        "withdrawal of the pledge".to_owned()
    } else {
        terms_among(t, several)
    }
}

/// A table of listings (search results, the owner's listings), distances told in `unit` (the
/// unit the search's `--within` was given in: from an international trial, `--within 5mi`
/// showed km).
pub fn listings(list: &[ListingView], empty: &str, unit: haggle_protocol::geo::DistanceUnit, whose: Whose) {
    if list.is_empty() {
        outln!("{empty}");
        return;
    }
    let now = now_ms();
    let price_heading = price_column(list);
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|l| {
            vec![
                short(&l.id),
                l.kind.to_string(),
                match l.images.len() {
                    0 => clip(&l.title, TITLE_COLUMN),
                    1 => format!("{} [1 pic]", clip(&l.title, TITLE_COLUMN)),
                    n => format!("{} [{n} pics]", clip(&l.title, TITLE_COLUMN)),
                },
                price_cell(l, price_heading),
                // A campaign's quantity means nothing (its tiers count their rewards).
                // The owner's own: what open threads hold of it, too.
                match l.remaining {
                    _ if l.campaign.is_some() => "-".to_owned(),
                    Some(free) if free < l.quantity && l.state == ListingState::Active => {
                        format!("{} ({free} free)", l.quantity)
                    }
                    _ => l.quantity.to_string(),
                },
                // In a search by distance, how far each is (the place may be blank).
                // A place given only on the map reads as its geohash.
                match (l.distance_m.map(|m| unit.away(m)), l.geohash.as_deref()) {
                    (Some(d), _) if l.location.is_empty() => d,
                    (Some(d), _) => format!("{}, {d}", clip(&l.location, PLACE_COLUMN)),
                    (None, Some(g)) if l.location.is_empty() => format!("geohash {g}"),
                    (None, _) => clip(&l.location, PLACE_COLUMN),
                },
                if l.mine {
                    "you".to_owned()
                } else if l.blocked {
                    "blocked".to_owned()
                } else {
                    // A seller the owner named (`haggle name`) is named before its reputation,
                    // another by the end of its key: a trial's dodgy seller copied an honest
                    // one's listing (`publish --from`), and the two rows read alike.
                    let brief = crate::commands::reputation_brief(l.reputation.as_ref());
                    let author = l.author.to_string();
                    match (name_of(&author), &l.reputation) {
                        (Some(name), _) => format!("{name}: {brief}"),
                        (None, Some(_)) => format!("{} {brief}", key_end(&author)),
                        (None, None) => key_end(&author),
                    }
                },
                l.label().to_owned(),
                match (l.state, &l.auction) {
                    (ListingState::Closed, _) => "-".to_owned(),
                    (_, Some(a)) => crate::commands::auction_ends(a, now),
                    _ if l.campaign.is_some() => l
                        .campaign
                        .as_deref()
                        .map(|c| crate::commands::campaign_deadline(c, now))
                        .unwrap_or_default(),
                    _ => expiry(l.expires_at, now),
                },
            ]
        })
        .collect();
    let mut headers = vec![
        "ID",
        "KIND",
        "TITLE",
        price_heading,
        "QTY",
        "LOCATION",
        author_column(list),
        "STATE",
        "EXPIRES",
    ];
    // The owner's own listings (`haggle listings`): a SELLER column of `you` says nothing (from
    // a trial). A search's page of them keeps it: `you` says whose they are (another trial).
    let mut rows = rows;
    if whose == Whose::Owners {
        headers.remove(6);
        for row in &mut rows {
            row.remove(6);
        }
    }
    table(&headers, &rows);
}

/// Whose listings a table shows: the owner's own (`haggle listings`: no author column), or
/// anyone's (a search).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    Owners,
    Anyones,
}

/// The heading of a table's author column: named as the listings' kind names their authors when
/// every listing is of one kind that has no seller (a trial's `search --kind giveaway` read
/// SELLER), SELLER otherwise.
fn author_column(list: &[ListingView]) -> &'static str {
    let first = list.first().map(|l| l.kind);
    if list.iter().any(|l| Some(l.kind) != first) {
        return "SELLER";
    }
    match first {
        Some(ListingKind::Giveaway) => "GIVER",
        Some(ListingKind::Wanted) => "WANTED BY",
        Some(ListingKind::Crowdfund) => "CREATOR",
        _ => "SELLER",
    }
}

/// A listing's cell in a table's price column headed `heading`.
fn price_cell(l: &ListingView, heading: &str) -> String {
    match (&l.auction, &l.campaign) {
        (Some(a), _) => crate::commands::auction_price(a),
        (_, Some(c)) => crate::commands::campaign_price(c),
        // Among other kinds, a wanted ad's price is said to be its budget.
        _ if l.kind == ListingKind::Wanted && l.price.is_some() && heading == "PRICE" => {
            format!("budget {}", listing_price(l))
        }
        _ => listing_price(l),
    }
}

/// The heading of a table's price column: BUDGET when every listing is a wanted ad (what its
/// author would pay; a trial read a wanted ad's PRICE as an asking price), PRICE otherwise.
fn price_column(list: &[ListingView]) -> &'static str {
    if !list.is_empty() && list.iter().all(|l| l.kind == ListingKind::Wanted) { "BUDGET" } else { "PRICE" }
}

/// A listing in one line: title, then its price or what it is (`giveaway`, `wanted`).
pub fn summary(l: &ListingView) -> String {
    if let Some(a) = &l.auction {
        // The bid accepted is known to its two parties only: anyone else sees the high bid.
        match (&a.accepted, &a.high_bid) {
            (Some(taken), _) => return format!("{} — {} (the bid accepted)", l.title, taken.amount.display),
            // The high bid held here is the owner's own, and the sale was to another: it did not
            // count (from a trial: a bid made while the seller's node was away was never told so).
            (None, Some(high)) if a.state == haggle_node::api::types::AuctionState::Sold && high.mine => {
                return format!(
                    "{} (sold to another bid: your {} was the high bid held here, and did not count: it reached the seller's node after the end, or the seller declined it)",
                    l.title, high.amount.display
                );
            }
            (None, Some(high)) if a.state == haggle_node::api::types::AuctionState::Sold => {
                return format!(
                    "{} (its price is known to its two parties only; the high bid held here{} was {})",
                    l.title,
                    if a.high_declined { ", declined," } else { "" },
                    high.amount.display
                );
            }
            (None, Some(high)) => return format!("{} — {} (high bid)", l.title, high.amount.display),
            // Found in a trial: a sale no bid of which reached this node read as sold at the
            // start price.
            (None, None) if a.state == haggle_node::api::types::AuctionState::Sold => {
                return format!("{} (its price is known to its two parties only)", l.title);
            }
            (None, None) => {}
        }
    }
    match (&l.price, l.kind) {
        // A wanted ad's price is what its author will pay (a trial's watch read a budget as a
        // price asked).
        (Some(p), ListingKind::Wanted) => format!("{} — wanted, budget {}", l.title, p.display),
        // A campaign's price is its goal (a retrial's watch read it as a price asked).
        (Some(p), ListingKind::Crowdfund) => format!("{} — campaign, goal {}", l.title, p.display),
        (Some(p), _) => format!("{} — {}", l.title, p.display),
        (None, kind) => format!("{} — {kind}", l.title),
    }
}

/// A size in bytes as people read it: 512 B, 40.0 KiB, 50.0 MiB.
pub fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.2} GiB", n as f64 / 1_073_741_824.0),
    }
}

/// Prints one listing in full.
pub fn listing(l: &ListingView) {
    let now = now_ms();
    outln!("{}  {}", bold(&l.title), dim(&format!("[{}, {}]", l.kind, l.label())));
    outln!("  id        {}", l.id);
    if let Some(current) = &l.replaced_by {
        // `haggle show ID --exact` of an earlier revision: as it read, not as it is.
        outln!(
            "  earlier   revision {} as it read; the listing reads otherwise now (haggle show {})",
            l.revision,
            short(current)
        );
    }
    match (&l.auction, &l.campaign) {
        (Some(a), _) => crate::commands::auction_lines(l, a),
        (_, Some(c)) => crate::commands::campaign_lines(l, c),
        // A wanted ad's price is what its author would pay.
        _ if l.kind == haggle_protocol::ListingKind::Wanted => outln!("  budget    {}", listing_price(l)),
        _ => outln!("  price     {}", listing_price(l)),
    }
    match &l.calendar {
        // A closed or expired listing takes no bookings: no calendar to read nights from.
        Some(_) if l.state != ListingState::Active => {
            outln!("  calendar  none open: the listing is {}", l.state.as_str())
        }
        Some(c) => crate::commands::calendar_lines(c, l.kind),
        None => {}
    }
    // Only a listing that can still be traded has anything to promise.
    let remaining = l
        .remaining
        .filter(|_| l.state == ListingState::Active)
        .map(|r| format!(" ({r} left to promise)"))
        .unwrap_or_default();
    // A service's work, or a rental's item without a calendar, is there again after each deal.
    let again =
        matches!(l.kind, haggle_protocol::ListingKind::Service | haggle_protocol::ListingKind::Rental)
            && l.calendar.is_none();
    if again {
        // Priced per period, the quantity counts periods: "up to 3 hours" (a trial's tutor read
        // a bare 3).
        let most = match l.price.as_ref().and_then(|p| p.per) {
            Some(per) => count(l.quantity as usize, per.as_str()),
            None => l.quantity.to_string(),
        };
        outln!("  quantity  up to {most} per deal (deals do not use it up)");
    } else if l.campaign.is_none() {
        // A campaign's tiers say what is left of each reward.
        outln!("  quantity  {}{remaining}", l.quantity);
    }
    outln!("  category  {}", l.category);
    if !l.tags.is_empty() {
        outln!("  tags      {}", l.tags.join(", "));
    }
    match (l.location.is_empty(), &l.geohash) {
        (false, Some(g)) => outln!("  location  {} (geohash {g})", l.location),
        (false, None) => outln!("  location  {}", l.location),
        (true, Some(g)) => outln!("  location  geohash {g}"),
        (true, None) => {}
    }
    if !l.payment.is_empty() {
        outln!("  payment   {}", l.payment.join(", "));
    }
    if !l.delivery.is_empty() {
        outln!("  delivery  {}", l.delivery);
    }
    if !l.images.is_empty() {
        let sizes: Vec<String> =
            l.images.iter().map(|i| format!("{}x{} {}", i.width, i.height, i.kind.extension())).collect();
        outln!(
            "  pictures  {} ({}); haggle show {} --images saves {}",
            l.images.len(),
            sizes.join(", "),
            short(&l.id),
            if l.images.len() == 1 { "it" } else { "them" }
        );
    }
    if let Some(file) = &l.file {
        outln!("  file      {} ({}), BLAKE3 {}", file.name, bytes(file.size), file.hash.fmt_short());
        if l.file_lost {
            // From a trial: the seller's copy was removed, and the listing went on selling.
            outln!(
                "  LOST      this node no longer holds the encrypted file or its key (removed from blobs/ in the data dir): no buyer can get it, and offers wait for you. Publish the file again: haggle update {} --file PATH",
                short(&l.id)
            );
        }
        if let Some(preview) = &file.preview {
            outln!("  preview   {} ({})", preview.hash.fmt_short(), bytes(preview.size));
        }
    }
    // The author of a wanted ad is the one buying; a campaign's, its creator (as `deals` says).
    let author = match l.kind {
        haggle_protocol::ListingKind::Wanted => "wanted by",
        haggle_protocol::ListingKind::Giveaway => "giver    ",
        haggle_protocol::ListingKind::Crowdfund => "creator  ",
        _ => "seller   ",
    };
    outln!("  {author} {}{}", peer(&l.author), if l.mine { " (you)" } else { "" });
    if l.blocked {
        outln!(
            "  blocked   you blocked this author: left out of your searches (haggle unblock {})",
            l.author
        );
    }
    // Reputation is how others' ratings read to you: of yourself it would only confuse
    // (`haggle reputation` of your own key explains what others see).
    if let Some(r) = l.reputation.as_ref().filter(|_| !l.mine) {
        outln!("  rep       {}", crate::commands::reputation_sentence(r));
    }
    if let Some(line) = l.messages.as_ref().and_then(listing_messages_line) {
        outln!("  messages  {line}");
    }
    outln!("  revision  {}, published {}", l.revision, relative(l.created_at, now));
    match l.state {
        ListingState::Closed => match l.label() {
            "retracted" => outln!("  closed    retracted by its author"),
            // A campaign its creator closed after the deadline, neither funded nor missed.
            "closed" => outln!("  closed    by its creator after the deadline"),
            label => outln!("  closed    {label}"),
        },
        ListingState::Expired => outln!("  expired   {}", relative(l.expires_at, now)),
        // As the tables say it: within the minute, how many seconds are left.
        ListingState::Active if l.expires_at > now => {
            outln!("  expires   {}", expiry(l.expires_at, now).trim_start_matches("expires "))
        }
        ListingState::Active => outln!("  expires   {}", relative(l.expires_at, now)),
    }
    if !l.description.is_empty() {
        outln!();
        for line in l.description.lines() {
            outln!("  {line}");
        }
    }
}

/// What a thread is beyond its state: `called off` once both parties cancelled its deal; for a
/// bid or pledge, a pledge `replaced` by a later pledge of its backer, or a `withdrawal` (a
/// pledge of 0); once the auction or campaign is over, a bid `outbid` or under the reserve, a
/// pledge to a campaign that missed its goal. `None` for other threads, and for a bid or pledge
/// that still stands.
pub fn public_state(t: &ThreadView) -> Option<&'static str> {
    if t.deal_cancelled {
        return Some("called off");
    }
    match (t.opening, t.replaced_by, t.outcome) {
        (haggle_node::api::types::ObjectKind::Pledge, Some(_), _) => Some("replaced"),
        (haggle_node::api::types::ObjectKind::Pledge, None, _) if t.terms.price.amount == 0 => {
            Some("withdrawal")
        }
        (_, _, Some(outcome)) => Some(outcome.as_str()),
        _ => None,
    }
}

/// Times as a timeline shows them, and the width that keeps them in one column ("just now",
/// "2 minutes ago"), at least `min`.
pub fn time_column(at: impl IntoIterator<Item = u64>, now: u64, min: usize) -> (Vec<String>, usize) {
    let times: Vec<String> = at.into_iter().map(|t| relative(t, now)).collect();
    let width = times.iter().map(|t| t.chars().count()).max().unwrap_or(0).max(min);
    (times, width)
}

/// Whether a listing's changes since an offer (`listing_changed`) are to what it describes: an
/// accept or counter of the offer then binds the owner to the old text. A new asking price or
/// other tags alone bind it to nothing (the offer names its own price).
pub fn changes_what_it_describes(changed: &[String]) -> bool {
    changed.iter().any(|c| haggle_protocol::Listing::change_binds(c))
}

/// ` --as-offered` when the listing's author answering the thread's terms must say it stands by
/// the revision they were offered on (it describes the listing otherwise now), else nothing.
fn as_offered_flag(t: &ThreadView) -> &'static str {
    let owner = t.role == haggle_node::api::types::Role::ListingAuthor;
    if owner && changes_what_it_describes(&t.listing_changed) { " --as-offered" } else { "" }
}

pub use haggle_node::service::in_words;

/// The messages about a thread or deal in a few words (`None`: none), naming the command
/// that reads them.
pub fn notes_line(notes: usize, unread: usize, id: &haggle_node::api::types::ObjectId) -> Option<String> {
    let new = if unread > 0 { format!(", {unread} new") } else { String::new() };
    (notes > 0).then(|| format!("{}{new} (haggle messages {})", count(notes, "message"), short(id)))
}

/// Under a list of threads or deals: those with messages not read yet (`(id, unread)`), at
/// most five named, and how to read one.
pub fn unread_line(
    unread: impl IntoIterator<Item = (haggle_node::api::types::ObjectId, usize)>,
) -> Option<String> {
    let with: Vec<_> = unread.into_iter().filter(|(_, n)| *n > 0).collect();
    let named: Vec<String> = with.iter().take(5).map(|(id, n)| format!("{} ({n})", short(id))).collect();
    let more = if with.len() > named.len() {
        format!(" and {} more", with.len() - named.len())
    } else {
        String::new()
    };
    (!with.is_empty()).then(|| {
        format!(
            "New messages in {} of these: {}{more}. haggle messages ID reads them.",
            with.len(),
            named.join(", ")
        )
    })
}

/// The owner's messages about a listing, in a line: with its author, or, about its own listing,
/// how many people wrote and where to read them.
pub fn listing_messages_line(m: &haggle_node::api::types::ListingMessages) -> Option<String> {
    // The node names the conversation when there is just one.
    match m.conversation {
        Some(id) => notes_line(m.notes, m.unread, &id),
        _ => {
            let new = if m.unread > 0 { format!(", {} new", m.unread) } else { String::new() };
            (m.notes > 0).then(|| {
                format!(
                    "{} in {}{new} (haggle messages lists them)",
                    count(m.notes, "message"),
                    count(m.conversations, "conversation")
                )
            })
        }
    }
}

/// Prints one thread in full.
/// Whether the owner's accept awaiting the other party's confirm reached that node after the
/// terms it accepts expired (by this node's clock): that node does not confirm it.
fn accept_arrived_late(t: &ThreadView) -> bool {
    t.state == haggle_node::api::types::ThreadState::Confirming
        && t.messages.iter().any(|m| {
            m.kind == haggle_node::api::types::ObjectKind::Accept
                && m.from == Party::Me
                && m.on_chain
                && m.delivered_at.is_some_and(|at| at > t.terms.expires_at)
        })
}

pub fn thread(t: &ThreadView) {
    let now = now_ms();
    let what = match (t.opening, &t.terms.dates) {
        (haggle_node::api::types::ObjectKind::Bid, _) => "Bid",
        (haggle_node::api::types::ObjectKind::Pledge, _) => "Pledge",
        (_, Some(_)) => "Booking",
        _ => "Offer",
    };
    // A bid's or pledge's state as `haggle offers` shows it (replaced, withdrawal, outbid...).
    let state = match public_state(t) {
        Some(state) => state.to_owned(),
        None if t.refused => "refused".to_owned(),
        None => t.state.to_string(),
    };
    outln!("{}  {}", bold(&format!("{what} thread {}", short(&t.thread))), dim(&format!("[{state}]")));
    // The listing's current id, as `haggle listings` and `haggle search` show it; the title is
    // the one offered on, which a trial read as stale beside the current id.
    let retitled = if t.listing_changed.iter().any(|c| c == "title") { ", retitled since" } else { "" };
    outln!(
        "  listing   {} ({}{retitled})",
        t.listing_title.as_deref().unwrap_or("no longer held here (expired or removed)"),
        t.current_listing.or(t.listing).map(|l| short(&l)).unwrap_or_default()
    );
    // Only while the offer can still become a deal, or did.
    let changing = live(t) || t.deal.is_some();
    if !t.listing_changed.is_empty() && changing {
        outln!(
            "  changed   since the offer: the listing's {}; the offer stands on the revision it was made on (haggle show {} --exact)",
            in_words(&t.listing_changed),
            t.listing.map(|l| short(&l)).unwrap_or_default()
        );
    }
    let role = match (t.opening, t.role) {
        (haggle_node::api::types::ObjectKind::Bid, haggle_node::api::types::Role::Offerer) => "bidder",
        (haggle_node::api::types::ObjectKind::Bid, _) => "seller",
        (haggle_node::api::types::ObjectKind::Pledge, haggle_node::api::types::Role::Offerer) => "backer",
        (haggle_node::api::types::ObjectKind::Pledge, _) => "campaign's creator",
        (_, role) => role.as_str(),
    };
    // Who would pay whom, where the kind turns it round or leaves it out; once a deal is made,
    // who does (a trial's giver read "you would give it away" after handing it over).
    let (sell, buy, take, give) = match t.deal {
        Some(_) => ("you sell", "you buy", "you take it, free", "you give it away"),
        None => ("you would sell", "you would buy", "you would take it, free", "you would give it away"),
    };
    let role = match (t.listing_kind, t.role) {
        (Some(ListingKind::Wanted), Role::Offerer) => format!("{role} ({sell})"),
        (Some(ListingKind::Wanted), Role::ListingAuthor) => format!("{role} ({buy})"),
        (Some(ListingKind::Giveaway), Role::Offerer) => format!("{role} ({take})"),
        (Some(ListingKind::Giveaway), Role::ListingAuthor) => format!("{role} ({give})"),
        _ => role.to_owned(),
    };
    outln!("  you are   the {role}; other party {}", peer(&t.counterparty));
    if t.blocked {
        outln!("  blocked   you blocked them (haggle unblock {})", t.counterparty);
    }
    if t.refused {
        outln!(
            "  refused   by the other party's node, for good (why is under the offer): nothing more comes of this thread, and it takes no place among your open offers"
        );
    }
    let expiry = if live(t) { format!(", {}", expiry(t.terms.expires_at, now)) } else { String::new() };
    outln!(
        "  terms     {}{} (proposed by {}{expiry})",
        thread_terms(t),
        stay(&t.terms, t.listing_kind),
        t.proposed_by.as_str()
    );
    if let Some(asked) = &t.listing_currency {
        outln!("  currency  {}", other_currency(t, asked));
    }
    match (t.awaiting, &t.nights_unavailable) {
        (Some(Party::Me), _) if t.outcome.is_some() => {}
        // A bid or pledge waiting for the end is nobody's move (`awaiting` is none): the side
        // says which line fits.
        _ if waits_for_end(t)
            && t.role == Role::ListingAuthor
            && t.blocked
            && t.opening == haggle_node::api::types::ObjectKind::Bid =>
        {
            outln!(
                "  next      at the end: if this bid is the high one, you accept or decline it by hand (you blocked its bidder)"
            )
        }
        _ if waits_for_end(t) && t.role == Role::ListingAuthor => {
            if t.opening == haggle_node::api::types::ObjectKind::Bid {
                outln!("  next      at the end: your node accepts the high bid by itself")
            } else {
                outln!(
                    "  next      at the deadline: your node accepts every pledge by itself if the goal is met"
                )
            }
        }
        _ if waits_for_end(t) => {
            if t.opening == haggle_node::api::types::ObjectKind::Bid {
                outln!(
                    "  next      once the auction has ended: the seller's node accepts the high bid by itself if it meets any reserve (unless the seller blocked its bidder); a lower bid only if the high one falls through"
                )
            } else if t.deadline.is_some_and(|d| d <= now) {
                // A trial's backer read "at the deadline" after it had passed.
                outln!(
                    "  next      the deadline has passed: the creator's node accepts every pledge by itself if the goal is met, and its accept has not reached your node yet (haggle show {} has the campaign's count)",
                    t.listing.as_ref().map_or_else(|| "CAMPAIGN".to_owned(), short)
                )
            } else {
                outln!(
                    "  next      at the deadline: the creator's node accepts every pledge by itself if the goal is met"
                )
            }
        }
        (Some(Party::Me), _)
            if t.state == haggle_node::api::types::ThreadState::Confirming
                && t.opening == haggle_node::api::types::ObjectKind::Pledge =>
        {
            outln!(
                "  next      the creator's node accepted your pledge: your node confirms it by itself once the deadline is 5 minutes past, if the campaign is funded in its own count too, which makes the deal (haggle deals)"
            )
        }
        (Some(Party::Them), _)
            if t.state == haggle_node::api::types::ThreadState::Confirming
                && t.opening == haggle_node::api::types::ObjectKind::Pledge =>
        {
            outln!(
                "  next      the backer's node confirms your accept by itself if the campaign is funded in its count too; if it counts it short (a withdrawal or a lowered pledge that reached your node only after the deadline counts there), it never does, and the accept lapses with the pledge's terms: nothing is owed then"
            )
        }
        (Some(Party::Me), _) if t.state == haggle_node::api::types::ThreadState::Confirming => outln!(
            "  next      the other party accepted: your node confirms by itself if the terms still stand, which makes the deal (haggle deals); if no deal follows, withdraw them"
        ),
        // Terms for more than is left cannot be accepted: the way on is fewer (from a trial).
        // The move is the other party's, as for any terms; the proposer may withdraw them.
        (Some(whose), _) if t.quantity_left.is_some() => {
            let left = t.quantity_left.unwrap_or(0);
            let asked = t.terms.quantity;
            let have = free_to_promise(left);
            outln!(
                "  left      {have}, {asked} asked (the listing's quantity, less deals and other promises)"
            );
            let thread = short(&t.thread);
            match (whose, left) {
                (Party::Me, 0) => outln!(
                    "  next      your move: decline (haggle decline {thread}), or wait for other promises to end"
                ),
                // A giveaway's counter names no price (from a trial: the hint's --price was
                // refused).
                (Party::Me, _) => outln!(
                    "  next      your move: counter for {left} or fewer (haggle counter {thread} --qty {left}{}{}), or decline",
                    if t.listing_kind == Some(ListingKind::Giveaway) { "" } else { " --price ..." },
                    as_offered_flag(t)
                ),
                // None free: fewer is none (a trial read "counter for fewer" with none to give).
                (Party::Them, 0) => outln!(
                    "  next      waiting for the other party to decline, or for other promises to end; or withdraw these terms (haggle withdraw {thread})"
                ),
                (Party::Them, _) => outln!(
                    "  next      waiting for the other party to counter for fewer or decline; or withdraw these terms (haggle withdraw {thread})"
                ),
            }
        }
        // Terms the calendar no longer takes cannot be accepted: the way on is other nights.
        // The move is the other party's, as for any terms; the proposer may withdraw them.
        (Some(whose), Some(why)) => {
            // A service's are days of work (a trial's garden work read "nights").
            let nights = match night_word(t.listing_kind) {
                "day" => "days",
                _ => "nights",
            };
            outln!("  {nights:<9} no longer available: {why}");
            let thread = short(&t.thread);
            let guest = t.role == haggle_node::api::types::Role::Offerer;
            match (whose, guest) {
                (Party::Me, _) => {
                    outln!("  next      your move: counter with other {nights} (--from, --to), or decline")
                }
                (Party::Them, true) => outln!(
                    "  next      waiting for the owner to offer other {nights} or decline; to ask for other {nights} yourself, withdraw these terms (haggle withdraw {thread}) and book again"
                ),
                (Party::Them, false) => outln!(
                    "  next      waiting for the guest to ask for other {nights} or decline; or withdraw these terms (haggle withdraw {thread})"
                ),
            }
        }
        // The owner's answer to an offer on a revision that described the listing otherwise
        // needs --as-offered (from a trial: the line's command was refused for lacking it).
        // Nights the owner promised in another thread: not accepted while that holds (a trial's
        // owner was offered `accept`, and refused).
        (Some(Party::Me), None) if let Some(why) = &t.nights_promised => {
            let nights = match night_word(t.listing_kind) {
                "day" => "days",
                _ => "nights",
            };
            outln!("  {nights:<9} promised elsewhere: {why}");
            outln!(
                "  next      your move: counter with other {nights} (--from, --to) or decline; accepting these waits until that promise ends"
            );
        }
        (Some(Party::Me), None) if !as_offered_flag(t).is_empty() => outln!(
            "  next      your move: accept or counter as offered, on the revision it was made on (haggle accept {} --as-offered; haggle counter {} --price ... --as-offered), or decline",
            short(&t.thread),
            short(&t.thread)
        ),
        (Some(Party::Me), None) => outln!("  next      your move: accept, counter or decline"),
        (Some(Party::Them), None) if accept_arrived_late(t) => outln!(
            "  next      your accept reached their node after these terms expired: their node does not confirm it (unless its clock is behind), so no deal follows; the thread reads expired once the grace for clocks passes"
        ),
        (Some(Party::Them), None) => outln!("  next      waiting for the other party"),
        (None, _) => {
            if let Some(command) = &t.again {
                outln!("  next      this thread is over; to go on, start again: {command}");
            }
        }
    }
    if let Some(line) = notes_line(t.notes, t.notes_unread, &t.thread) {
        outln!("  messages  {line}");
    }
    match (public_state(t), t.replaced_by, t.outcome) {
        (Some("withdrawal"), _, _) => outln!("  pledge    withdrawn (a pledge of 0): nothing to accept"),
        (Some(_), Some(later), _) => {
            let whose =
                if t.role == haggle_node::api::types::Role::Offerer { "your" } else { "the backer's" };
            outln!("  replaced  by {whose} later pledge {}: this one no longer counts", short(&later))
        }
        (_, _, Some(PublicOutcome::Outbid)) if t.role == haggle_node::api::types::Role::ListingAuthor => {
            outln!(
                "  outcome   the auction is over and a higher bid is the high one: this one is not accepted unless the high bid falls through and this becomes the best bid still open"
            )
        }
        (_, _, Some(PublicOutcome::Outbid)) => outln!(
            "  outcome   the auction is over and a higher bid is the high one: this one is not accepted, unless the high bid falls through and the seller sells to this one instead (your node confirms it by itself while your bid stands, {})",
            self::expiry(t.terms.expires_at, now)
        ),
        (_, _, Some(PublicOutcome::PassedOver)) if t.role == haggle_node::api::types::Role::ListingAuthor => {
            outln!(
                "  outcome   the auction is over and you declined a higher bid of this bidder: this one is passed over too (a next bid comes from another bidder)"
            )
        }
        (_, _, Some(PublicOutcome::PassedOver)) => outln!(
            "  outcome   the auction is over and the seller declined a higher bid of yours: this one is passed over too, and is not accepted"
        ),
        (_, _, Some(PublicOutcome::NextBid)) => outln!(
            "  outcome   the auction is over and its high bid fell through (declined, its accept never confirmed, or from a key you blocked): this is the best bid still open; sell to it (haggle accept {}), or let it lapse",
            short(&t.thread)
        ),
        (_, _, Some(PublicOutcome::ReserveNotMet)) if t.awaiting == Some(Party::Me) => outln!(
            "  outcome   the auction is over and this high bid is under your reserve: accept it by hand if you like (haggle accept {}), or let it lapse",
            short(&t.thread)
        ),
        (_, _, Some(PublicOutcome::BidderBlocked)) => outln!(
            "  outcome   the auction is over and this high bid is from a key you blocked: your node leaves it to you: accept it (haggle accept {}) or decline it (haggle decline {}; haggle show of the auction names the best bid of another, if any)",
            short(&t.thread),
            short(&t.thread)
        ),
        (_, _, Some(PublicOutcome::BackerBlocked)) => outln!(
            "  outcome   the campaign met its goal and this pledge is from a key you blocked: your node did not accept it by itself; accept it (haggle accept {}) to make it a deal, or decline it (haggle decline {})",
            short(&t.thread),
            short(&t.thread)
        ),
        (_, _, Some(PublicOutcome::ReserveNotMet)) => {
            outln!(
                "  outcome   the auction is over and this high bid is under the reserve: no sale unless the seller accepts it"
            )
        }
        (_, _, Some(PublicOutcome::GoalMissed))
            if t.state == haggle_node::api::types::ThreadState::Confirming =>
        {
            outln!(
                "  outcome   the campaign missed its goal by the deadline in this node's count: nothing is owed. The creator's node accepted this pledge, counting it funded (a pledge or withdrawal that reached it only after the deadline counts here, not there); this node does not confirm, so no deal follows, and the accept lapses with the pledge's terms"
            )
        }
        (_, _, Some(PublicOutcome::GoalMissed)) => {
            outln!("  outcome   the campaign missed its goal by the deadline: nothing is owed")
        }
        (_, _, Some(PublicOutcome::NotAccepted))
            if t.role == haggle_node::api::types::Role::ListingAuthor =>
        {
            outln!("  outcome   you accepted another bid of the auction: this one is not accepted")
        }
        (_, _, Some(PublicOutcome::NotAccepted)) => outln!(
            "  outcome   the seller's node sold the auction to another bid and closed it: this one is not accepted (a bid counts only if it reached the seller's node before the end)"
        ),
        (_, _, Some(PublicOutcome::Closed)) if t.role == haggle_node::api::types::Role::ListingAuthor => {
            outln!("  outcome   you closed the listing without accepting this")
        }
        (_, _, Some(PublicOutcome::Closed)) => {
            outln!("  outcome   the owner closed the listing without accepting this: nothing is owed")
        }
        _ => {}
    }
    match t.deal {
        Some(deal) if t.deal_cancelled => outln!("  deal      {deal} (called off by you both)"),
        Some(deal) => outln!("  deal      {deal}"),
        None => {}
    }
    outln!();
    // Two spaces after the longest time, as a deal's timeline has them ("5 minutes ago them"
    // ran together in a trial).
    let (times, width) = time_column(t.messages.iter().map(|m| m.created_at), now, 8);
    let several = several(t);
    for (m, at) in t.messages.iter().zip(&times) {
        let message_terms = m
            .terms
            .as_ref()
            .map(|terms| format!(" {}", message_terms(m.kind, terms, several)))
            .unwrap_or_default();
        // A sealed copy on the network is said: `[queued]` alone read as if nothing had left.
        let delivery = match m.delivery {
            Some(d) if m.sealed => {
                format!(" [{d}; also sealed, for any node yours reaches to carry to them]")
            }
            Some(d) => format!(" [{d}]"),
            None => String::new(),
        };
        let mut off_chain = if m.on_chain { "" } else { " (crossed, not counted)" }.to_owned();
        // The owner's node ended the thread by itself as the listing closed: not the owner's
        // doing (a busy shop's trial read a decline it never typed as its own).
        if m.automatic && m.from == Party::Me {
            off_chain.push_str(" (your node's, as the listing closed)");
        }
        // A note starts where terms do when there are none (`decline   Sold, sorry.`), and a line
        // ends with its last word, not the kind's padding.
        // After a delivery tag, two spaces as after terms (`[delivered] Changed my mind` ran close).
        let gap =
            if message_terms.is_empty() && delivery.is_empty() && off_chain.is_empty() { " " } else { "  " };
        let note =
            if m.message.is_empty() { String::new() } else { format!("{gap}{}", dim(&note(&m.message))) };
        let line = format!(
            "  {at:<width$}  {:<5} {:<9}{message_terms}{delivery}{off_chain}{note}",
            m.from.as_str(),
            m.kind.to_string()
        );
        outln!("{}", line.trim_end());
        if let Some(error) = &m.delivery_error {
            let what = if m.delivery == Some(DeliveryState::Failed) { "refused" } else { "last try" };
            // The other node's words: one line, control characters shown escaped, clipped.
            // Under the party column, where the line above starts after its time.
            outln!("  {:<width$}  {what}: {}", "", self::note(&clip(error, 300)));
        }
    }
}

/// A listing view for tests: a giveaway "Sofa" by a fixed key, at `revision`, `state` and `quantity`.
#[cfg(test)]
pub(crate) fn sample_listing(
    revision: u32,
    state: haggle_node::api::types::ListingState,
    quantity: u32,
) -> haggle_node::api::types::ListingView {
    ListingView {
        id: haggle_node::api::types::ObjectId::from_bytes([1; 32]),
        replaced_by: None,
        key: String::new(),
        author: "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"
            .parse::<haggle_node::api::types::PublicKey>()
            .expect("a key"),
        mine: false,
        blocked: false,
        retracted: false,
        status: String::new(),
        revision,
        kind: haggle_node::api::types::ListingKind::Giveaway,
        state,
        title: "Sofa".into(),
        description: String::new(),
        category: "home".into(),
        tags: Vec::new(),
        price: None,
        quantity,
        remaining: None,
        location: String::new(),
        geohash: None,
        payment: Vec::new(),
        delivery: String::new(),
        created_at: 0,
        expires_at: 0,
        score: None,
        gossip: None,
        reputation: None,
        auction: None,
        calendar: None,
        messages: None,
        distance_m: None,
        campaign: None,
        images: Vec::new(),
        file: None,
        file_lost: false,
    }
}

/// A thread view for tests: an offer on "Desk lamp" with one accept from the other party,
/// `on_chain` or not, in `state`.
#[cfg(test)]
pub(crate) fn sample_thread(
    state: haggle_node::api::types::ThreadState,
    on_chain: bool,
) -> haggle_node::api::types::ThreadView {
    use haggle_node::api::types::{
        MessageView, ObjectId, ObjectKind, Party, PriceView, Role, TermsView, ThreadView,
    };
    let price = PriceView {
        amount: 1_500,
        currency: "EUR".parse().expect("a currency"),
        per: None,
        decimals: None,
        display: "15.00 EUR".into(),
    };
    let terms = TermsView { quantity: 1, price, expires_at: 0, dates: None, unit: None };
    let accept = MessageView {
        id: ObjectId::from_bytes([2; 32]),
        kind: ObjectKind::Accept,
        from: Party::Them,
        created_at: 0,
        message: String::new(),
        terms: None,
        on_chain,
        delivery: None,
        delivery_error: None,
        delivered_at: None,
        sealed: false,
        automatic: false,
    };
    ThreadView {
        thread: ObjectId::from_bytes([3; 32]),
        opening: ObjectKind::Offer,
        listing: None,
        current_listing: None,
        listing_changed: Vec::new(),
        listing_title: Some("Desk lamp".into()),
        listing_kind: None,
        role: Role::Offerer,
        counterparty: sample_listing(1, ListingState::Active, 1).author,
        blocked: false,
        refused: false,
        state,
        terms,
        proposed_by: Party::Me,
        awaiting: None,
        delivery: None,
        deal: None,
        messages: vec![accept],
        updated_at: None,
        replaced_by: None,
        outcome: None,
        nights_unavailable: None,
        nights_promised: None,
        quantity_left: None,
        listing_currency: None,
        again: None,
        deal_cancelled: false,
        deadline: None,
        notes: 0,
        notes_unread: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backer whose pledge is still open after the deadline (its creator blocked it, or the
    /// accept is on its way) read "at the deadline", which had passed (from a trial).
    #[test]
    fn a_pledge_waiting_past_its_deadline_says_the_deadline_passed() {
        use haggle_node::api::types::{ObjectKind, ThreadState};
        let mut pledge = sample_thread(ThreadState::Open, true);
        pledge.messages.clear();
        pledge.opening = ObjectKind::Pledge;
        pledge.awaiting = None;
        pledge.listing = Some(haggle_node::api::types::ObjectId::from_bytes([7; 32]));
        pledge.deadline = Some(now_ms() + 60_000);
        let before = captured(|| thread(&pledge));
        assert!(
            before.contains("next      at the deadline: the creator's node accepts every pledge"),
            "{before}"
        );
        pledge.deadline = Some(now_ms() - 1_000);
        let after = captured(|| thread(&pledge));
        assert!(
            after.contains("next      the deadline has passed:")
                && after.contains("(haggle show 0707070707 has"),
            "{after}"
        );
        // A giveaway's giver, once the deal is made, gives it away (not "would").
        let mut given = sample_thread(ThreadState::Accepted, true);
        (given.listing_kind, given.role) =
            (Some(ListingKind::Giveaway), haggle_node::api::types::Role::ListingAuthor);
        assert!(captured(|| thread(&given)).contains("(you would give it away)"));
        given.deal = Some(haggle_node::api::types::ObjectId::from_bytes([2; 32]));
        let said = captured(|| thread(&given));
        assert!(said.contains("the listing author (you give it away)"), "{said}");
        // A listing retitled since the pledge says so beside its current id.
        pledge.listing_changed = vec!["title".into()];
        let said = captured(|| thread(&pledge));
        assert!(said.contains("  listing   Desk lamp (0707070707, retitled since)"), "{said}");
    }

    /// From a trial: after the seller changed the listing's description, the `next` line of an
    /// offer made before proposed `haggle counter ... --qty 2 --price ...`, which was refused
    /// for lacking `--as-offered`.
    #[test]
    fn the_owners_next_move_on_a_changed_listing_carries_as_offered() {
        use haggle_node::api::types::{Party, Role, ThreadState};
        let mut t = sample_thread(ThreadState::Open, false);
        (t.role, t.awaiting, t.proposed_by) = (Role::ListingAuthor, Some(Party::Me), Party::Them);
        t.listing_changed = vec!["description".into()];
        let said = captured(|| thread(&t));
        assert!(said.contains("(haggle accept 0303030303 --as-offered;"), "{said}");
        t.quantity_left = Some(2);
        t.terms.quantity = 3;
        let said = captured(|| thread(&t));
        assert!(said.contains("--qty 2 --price ... --as-offered), or decline"), "{said}");
        // A giveaway's counter names no price (from a trial).
        t.listing_kind = Some(ListingKind::Giveaway);
        let said = captured(|| thread(&t));
        assert!(said.contains("(haggle counter 0303030303 --qty 2 --as-offered), or decline"), "{said}");
        t.listing_kind = None;
        // A new asking price binds nobody to anything: no flag.
        (t.listing_changed, t.quantity_left, t.terms.quantity) = (vec!["price".into()], None, 1);
        let said = captured(|| thread(&t));
        assert!(said.contains("next      your move: accept, counter or decline"), "{said}");
    }

    /// From a trial: the line under a message that says why it was refused started a column
    /// left of the party, and a note after a delivery tag ran one space from it.
    #[test]
    fn a_timeline_keeps_its_columns_under_delivery_tags_and_refusals() {
        use haggle_node::api::types::{DeliveryState, ObjectKind, Party, ThreadState};
        let mut t = sample_thread(ThreadState::Withdrawn, true);
        let m = &mut t.messages[0];
        (m.kind, m.from, m.message) = (ObjectKind::Withdraw, Party::Me, "Changed my mind".into());
        (m.delivery, m.delivery_error) = (Some(DeliveryState::Failed), Some("the thread is over".into()));
        m.created_at = now_ms();
        let said = captured(|| thread(&t));
        let line = said.lines().find(|l| l.contains(" withdraw ")).expect("the message's line");
        assert!(line.ends_with("withdraw  [failed]  Changed my mind"), "{said}");
        let under = said.lines().find(|l| l.contains("refused: ")).expect("the refusal's line");
        assert_eq!(under.find("refused"), line.find("me "), "{said}");
        // A decline the owner's node signed as the listing sold out says so.
        let m = &mut t.messages[0];
        (m.kind, m.message, m.automatic, m.delivery_error) =
            (ObjectKind::Decline, "Sold out, sorry.".into(), true, None);
        let said = captured(|| thread(&t));
        assert!(
            said.contains("decline   [failed] (your node's, as the listing closed)  Sold out, sorry."),
            "{said}"
        );
    }

    #[test]
    fn lists_name_what_has_new_messages_and_a_listing_counts_its_conversations() {
        use haggle_node::api::types::{ListingMessages, ObjectId};
        let id = |b: u8| ObjectId::from_bytes([b; 32]);
        assert_eq!(unread_line([(id(1), 0), (id(2), 0)]), None, "nothing new: no line");
        let said = unread_line((1..=7).map(|b| (id(b), usize::from(b % 3))));
        assert_eq!(
            said.as_deref(),
            Some(
                "New messages in 5 of these: 0101010101 (1), 0202020202 (2), 0404040404 (1), 0505050505 (2), 0707070707 (1). haggle messages ID reads them."
            )
        );
        let said = unread_line((1..=8).map(|b| (id(b), 1))).expect("a line");
        assert!(said.contains("0505050505 (1) and 3 more."), "{said}");
        let mine = ListingMessages { conversations: 2, notes: 5, unread: 1, conversation: None };
        assert_eq!(
            listing_messages_line(&mine).as_deref(),
            Some("5 messages in 2 conversations, 1 new (haggle messages lists them)")
        );
        let one = ListingMessages { conversations: 1, notes: 2, unread: 0, conversation: Some(id(9)) };
        assert_eq!(listing_messages_line(&one).as_deref(), Some("2 messages (haggle messages 0909090909)"));
    }

    /// Defect: an offer of 45 EUR for 3 on a trailer at 15 EUR a day read `45.00 EUR for 3`,
    /// three of nothing named. Terms on a listing priced per period name the periods.
    #[test]
    fn terms_name_what_their_quantity_counts() {
        use haggle_protocol::Period;
        let at = |amount: u64, quantity: u32, unit: Option<Period>, dates: Option<&str>| TermsView {
            quantity,
            price: PriceView {
                amount,
                currency: "EUR".parse().expect("a currency"),
                per: None,
                decimals: Some(2),
                display: format!("{}.00 EUR", amount / 100),
            },
            expires_at: 0,
            dates: dates.map(str::to_owned),
            unit,
        };
        assert_eq!(terms(&at(4_500, 3, Some(Period::Day), None)), "45.00 EUR for 3 days");
        assert_eq!(terms(&at(2_000, 1, Some(Period::Hour), None)), "20.00 EUR for 1 hour");
        assert_eq!(terms(&at(6_000, 3, None, None)), "60.00 EUR for 3");
        assert_eq!(terms(&at(11_000, 1, None, None)), "110.00 EUR");
        assert_eq!(
            terms(&at(14_000, 1, Some(Period::Day), Some("2026-12-20..2026-12-27"))),
            "140.00 EUR 2026-12-20..2026-12-27",
            "a booking's nights say it"
        );
        // Among terms for several, one says so; a booking's or a period's terms say theirs.
        assert_eq!(terms_among(&at(2_600, 1, None, None), true), "26.00 EUR for 1");
        assert_eq!(terms_among(&at(2_600, 1, None, None), false), "26.00 EUR");
        assert_eq!(terms_among(&at(2_000, 1, Some(Period::Hour), None), true), "20.00 EUR for 1 hour");
        assert_eq!(free_to_promise(0), "none free to promise now");
        assert_eq!(free_to_promise(2), "only 2 free to promise");
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = 10_000_000_000;
        assert_eq!(relative(now + 3 * 86_400_000 + 5, now), "in 3 days");
        assert_eq!(relative(now - 2 * 3_600_000, now), "2 hours ago");
        assert_eq!(relative(now + 36 * 3_600_000 - 10_000, now), "in 36 hours");
        assert_eq!(relative(now + 2 * 86_400_000, now), "in 2 days");
        assert_eq!(relative(now - 60_000, now), "1 minute ago");
        assert_eq!(relative(now + 500, now), "just now");
        assert_eq!(relative(now + 25_000, now), "just now", "a clock a little ahead");
        assert_eq!(expiry(now + 25_000, now), "expires in 25 seconds");
        assert_eq!(expiry(now - 25_000, now), "expired just now");
        assert_eq!(expiry(now + 3 * 86_400_000, now), "expires in 3 days");
        assert_eq!(expiry(now - 2 * 3_600_000, now), "expired 2 hours ago");
        assert_eq!(expiry(now - 500, now), "expired just now");
    }

    /// Attack: a bid's note with line breaks printed fake lines under it on every node's
    /// `show` (a "raised 9000 EUR" line, a higher bid). A note stays on its line.
    #[test]
    fn a_note_cannot_start_lines_of_its_own() {
        let fake = "ok\"\n  raised    9000.00 EUR [####] 900%\r\n\tx\u{1b}[2J";
        let shown = note(fake);
        assert!(!shown.contains('\n') && !shown.contains('\r') && !shown.contains('\u{1b}'), "{shown}");
        assert_eq!(shown, "ok\" ↵   raised    9000.00 EUR [####] 900%  ↵  x\\u{1b}[2J");
        assert_eq!(note("Plain note, café"), "Plain note, café");
        assert_eq!(note("x\u{2029}  reserve   met"), "x ↵   reserve   met", "a paragraph separator too");
        assert_eq!(
            visible("Lamp\u{2028}  price 1 EUR"),
            "Lamp\\u2028  price 1 EUR",
            "a line separator in a title"
        );
    }

    /// Attack: a title holding a right-to-left override (U+202E) or zero-width spaces read as
    /// another title on every node. They are shown escaped; in JSON the escape keeps the data.
    #[test]
    fn characters_that_reorder_or_hide_text_are_shown_escaped() {
        assert_eq!(visible("Lamp \u{202E}gpj.exe"), "Lamp \\u202egpj.exe");
        assert_eq!(visible("Bi\u{200B}ke"), "Bi\\u200bke");
        assert_eq!(visible("family 👨\u{200D}👩\u{200D}👧"), "family 👨\u{200D}👩\u{200D}👧", "joiners stay");
        let json = serde_json::to_string(&"x\u{202E}y").expect("json");
        let back: String = serde_json::from_str(&visible(&json)).expect("still JSON");
        assert_eq!(back, "x\u{202E}y");
    }

    /// A long title or place is cut, marked, in a table cell; a short one is left whole.
    /// From a trial: a wanted ad's budget read as a price asked in `watch`.
    #[test]
    fn a_wanted_ads_line_says_its_price_is_a_budget() {
        let price = PriceView {
            amount: 3_000,
            currency: "EUR".parse().expect("a currency"),
            per: None,
            decimals: Some(2),
            display: "30.00 EUR".into(),
        };
        let ad = ListingView {
            kind: ListingKind::Wanted,
            title: "Wanted: child's bike".into(),
            price: Some(price.clone()),
            ..sample_listing(1, ListingState::Active, 1)
        };
        assert_eq!(summary(&ad), "Wanted: child's bike — wanted, budget 30.00 EUR");
        let sale =
            ListingView { kind: ListingKind::Sell, title: "Bike".into(), price: Some(price), ..ad.clone() };
        assert_eq!(summary(&sale), "Bike — 30.00 EUR");
        assert_eq!(summary(&ListingView { price: None, ..ad.clone() }), "Wanted: child's bike — wanted");
        let campaign = ListingView { kind: ListingKind::Crowdfund, title: "Tool shed".into(), ..ad };
        assert_eq!(summary(&campaign), "Tool shed — campaign, goal 30.00 EUR");
    }

    #[test]
    fn a_page_says_where_it_is_and_how_to_go_on() {
        assert_eq!(page_line(0, 20, 57).as_deref(), Some("20 of 57 shown; --offset 20 for more"));
        assert_eq!(page_line(20, 20, 57).as_deref(), Some("21-40 of 57 shown; --offset 40 for more"));
        assert_eq!(page_line(40, 17, 57).as_deref(), Some("41-57 of 57 shown"));
        assert_eq!(page_line(0, 5, 5), None, "the page holds them all");
        assert_eq!(page_line(60, 0, 57), None, "nothing on the page: said otherwise");
    }

    /// From a trial: the owner's own listings had a SELLER column of `you` on every row.
    /// From another: a search that found only the owner's own listings had no SELLER column,
    /// where the guide promises `you`.
    #[test]
    fn the_owners_own_listings_have_no_seller_column() {
        let mut mine = sample_listing(1, ListingState::Active, 1);
        mine.mine = true;
        let unit = haggle_protocol::geo::DistanceUnit::Metric;
        let own = captured(|| listings(std::slice::from_ref(&mine), "", unit, Whose::Owners));
        assert!(!own.contains("GIVER") && !own.contains("SELLER") && !own.contains(" you "), "{own}");
        let found = captured(|| listings(std::slice::from_ref(&mine), "", unit, Whose::Anyones));
        assert!(found.contains("GIVER") && found.contains(" you "), "{found}");
        let theirs = sample_listing(1, ListingState::Active, 1);
        let both = captured(|| listings(&[mine, theirs], "", unit, Whose::Anyones));
        assert!(both.contains("GIVER") && both.contains(" you "), "{both}");
    }

    /// From a hostile trial: a place of `Ghent   alice: trusted` passed for a SELLER cell, and
    /// a tab in a message read as a column's gap. A cell's runs of spaces are one space.
    #[test]
    fn a_cell_has_no_gap_that_reads_as_a_column() {
        assert_eq!(clip("Ghent   alice: trusted", 40), "Ghent alice: trusted");
        assert_eq!(clip("tab\there", 40), "tab here");
        assert_eq!(clip("one space", 40), "one space");
    }

    /// From a trial: a copy of an honest seller's listing by a dodgy one read like it, row for
    /// row: each unnamed seller is told by the end of its key.
    #[test]
    fn an_unnamed_seller_is_told_by_the_end_of_its_key() {
        let mut listing = sample_listing(1, ListingState::Active, 1);
        let author = listing.author.to_string();
        let end = &author[author.len() - 6..];
        let unit = haggle_protocol::geo::DistanceUnit::Metric;
        let table = captured(|| listings(std::slice::from_ref(&listing), "", unit, Whose::Anyones));
        assert!(table.contains(&format!("…{end}  ")) && !table.contains(" - "), "no reputation: {table}");
        listing.reputation = Some(haggle_node::api::types::ReputationBrief {
            positive: 0,
            neutral: 0,
            negative: 0,
            weighted_deals: 0.0,
            weighted_positive: 0.0,
            weighted_negative: 0.0,
            in_web_of_trust: false,
            trusted_raters: 0,
            trusted: false,
            yours: None,
        });
        let table = captured(|| listings(std::slice::from_ref(&listing), "", unit, Whose::Anyones));
        assert!(table.contains(&format!("…{end} new")), "{table}");
        assert_eq!(key_end("12D3KooWPzkVmSMJkqemZVfHSu5LRwxWY4T41wqfNAswY2WA4YPf"), "…WA4YPf");
        assert_eq!(key_end("short"), "short");
    }

    /// From a trial: `search --kind giveaway` headed its givers SELLER.
    #[test]
    fn the_author_column_is_named_by_the_listings_kind() {
        let giveaway = sample_listing(1, ListingState::Active, 1);
        let wanted = ListingView { kind: ListingKind::Wanted, ..giveaway.clone() };
        let sale = ListingView { kind: ListingKind::Sell, ..giveaway.clone() };
        assert_eq!(author_column(&[giveaway.clone(), giveaway.clone()]), "GIVER");
        assert_eq!(author_column(std::slice::from_ref(&wanted)), "WANTED BY");
        assert_eq!(author_column(&[giveaway, wanted]), "SELLER");
        assert_eq!(author_column(&[sale]), "SELLER");
        assert_eq!(author_column(&[]), "SELLER");
    }

    /// From a trial: a wanted ad's price, its budget, read as an asking price under PRICE.
    #[test]
    fn a_wanted_ads_price_is_called_its_budget() {
        let price = PriceView {
            amount: 20_000,
            currency: "EUR".parse().expect("a currency"),
            per: None,
            decimals: Some(2),
            display: "200.00 EUR".into(),
        };
        let sale = ListingView {
            kind: ListingKind::Sell,
            price: Some(price),
            ..sample_listing(1, ListingState::Active, 1)
        };
        let wanted = ListingView { kind: ListingKind::Wanted, ..sale.clone() };
        let unpriced = ListingView { price: None, ..wanted.clone() };
        assert_eq!(price_column(&[wanted.clone(), unpriced.clone()]), "BUDGET");
        assert_eq!(price_column(&[wanted.clone(), sale.clone()]), "PRICE");
        assert_eq!(price_column(&[]), "PRICE");
        let shown = listing_price(&sale);
        assert_eq!(shown, "200.00 EUR");
        assert_eq!(price_cell(&wanted, "BUDGET"), shown, "the heading says it already");
        assert_eq!(price_cell(&wanted, "PRICE"), format!("budget {shown}"));
        assert_eq!(price_cell(&sale, "PRICE"), shown);
        assert_eq!(price_cell(&unpriced, "PRICE"), "open to offers");
    }

    /// From an auction trial: the owner's bid, the high bid this node held, lost to a sale its
    /// seller's node made without it, and nothing said so.
    #[test]
    fn a_sale_to_another_over_the_owners_high_bid_says_the_bid_did_not_count() {
        let price = |cents: u64| {
            serde_json::json!({"amount": cents, "currency": "EUR", "per": null, "decimals": 2,
                "display": format!("{}.00 EUR", cents / 100)})
        };
        let bid = serde_json::json!({"id": "01".repeat(32),
            "bidder": "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5", "mine": true,
            "amount": price(1200), "created_at": 0, "counts": true, "message": ""});
        let info = |mine: bool| {
            let mut high = bid.clone();
            high["mine"] = mine.into();
            serde_json::from_value(serde_json::json!({"state": "sold", "accepted": null, "ends_at": 0,
                "scheduled_end": 0, "over": true, "start": price(1000), "reserve": null,
                "reserve_met": true, "increment": price(100), "window_secs": 0, "high_bid": high,
                "min_next": price(1300), "bids": 2, "bidders": 2, "history": []}))
            .expect("an auction")
        };
        let mut l = sample_listing(2, haggle_node::api::types::ListingState::Closed, 1);
        l.title = "Mirror".into();
        l.auction = Some(info(true));
        assert_eq!(
            summary(&l),
            "Mirror (sold to another bid: your 12.00 EUR was the high bid held here, and did not count: it reached the seller's node after the end, or the seller declined it)"
        );
        l.auction = Some(info(false));
        assert!(summary(&l).contains("its price is known to its two parties only"), "{}", summary(&l));
    }

    #[test]
    fn right_to_left_cells_end_with_a_mark_and_take_their_own_columns() {
        // As printed (each line goes through the escaping of hidden characters).
        let rows = [vec!["دراجة هوائية".to_owned(), "2500.00 EGP".to_owned()]];
        let printed = captured(|| table(&["TITLE", "PRICE"], &rows));
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines[1], "دراجة هوائية\u{200E}  2500.00 EGP");
        assert!(
            lines[0].ends_with(&format!("TITLE{}  PRICE", " ".repeat(7))),
            "the mark takes no column: {printed}"
        );
        let plain = table_lines(&["TITLE", "PRICE"], &[vec!["Fahrrad".into(), "250.00 CHF".into()]]);
        assert_eq!(plain[1], "Fahrrad  250.00 CHF");
        // A title's own isolate marks are still shown escaped, not obeyed.
        let forged = table_lines(&["TITLE"], &[vec!["\u{2068}x".into()]]);
        assert_eq!(forged[1], "\\u2068x");
    }

    #[test]
    fn long_cells_are_clipped_with_a_mark() {
        assert_eq!(clip("Oak chair", TITLE_COLUMN), "Oak chair");
        let long = "Vintage hand-made solid oak dining chair with woven seat, set of four";
        let cut = clip(long, TITLE_COLUMN);
        assert_eq!(cut.chars().count(), TITLE_COLUMN);
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
        assert_eq!(clip("ÄÖÜäöü", 4), "ÄÖÜ…", "cut by characters, not bytes");
        // From an international trial: by the columns a terminal gives them.
        let wide = "ヴィンテージのロードバイク、フレームはクロモリ、シマノ製コンポーネント付き";
        let cut = clip(wide, TITLE_COLUMN);
        // 19 characters of two columns and the mark: a twentieth would take 41.
        assert_eq!(unicode_width::UnicodeWidthStr::width(cut.as_str()), TITLE_COLUMN - 1);
        assert_eq!(cut, "ヴィンテージのロードバイク、フレームは…");
        assert_eq!(clip("東京都渋谷区", PLACE_COLUMN), "東京都渋谷区", "12 columns");
    }

    #[test]
    fn peers_and_ids_are_shortened() {
        assert_eq!(short_peer(&"12D3KooWABCDEFGHIJKLMNOP"), "12D3KooW…KLMNOP");
        // Defect (found in a trial): a name with emoji pushed the rest of its row right.
        let rows =
            vec![vec!["Bob 🚲🚲".to_owned(), "x".to_owned()], vec!["carol".to_owned(), "y".to_owned()]];
        let lines = table_lines(&["WITH", "TERMS"], &rows);
        let at = |line: &str, cell: &str| {
            unicode_width::UnicodeWidthStr::width(&line[..line.find(cell).expect("a cell")])
        };
        assert_eq!((at(&lines[1], "x"), at(&lines[2], "y")), (10, 10), "{lines:?}");
        // Defect (found in a trial): a direction override, shown as its six-character escape,
        // was padded as if it took no room.
        let rows =
            vec![vec!["\u{202E}Lamp".to_owned(), "x".to_owned()], vec!["Desk".to_owned(), "y".to_owned()]];
        let lines = table_lines(&["TITLE", "PRICE"], &rows);
        assert!(lines[1].starts_with("\\u202eLamp  x"), "{lines:?}");
        assert_eq!((at(&lines[1], "x"), at(&lines[2], "y")), (12, 12), "{lines:?}");
        assert_eq!(short(&"0123456789abcdef"), "0123456789");
    }
}
