//! `haggle message` (alias `ask`) and `haggle messages`: free text to the other side of a
//! listing, a thread or a deal, outside the terms, and the conversations it makes.

use anyhow::Result;

use haggle_node::api::types::{ConversationView, DeliveryState, NoteView, Party};

use super::Context;
use crate::output;

/// The most a message may hold, in bytes (the protocol's limit).
pub const MAX_MESSAGE_BYTES: usize = haggle_protocol::limits::MAX_MESSAGE_BYTES;

/// The message's text from the words given, checked before the node is asked.
pub fn text(words: &[String]) -> Result<String, String> {
    use haggle_protocol::ValidationError as E;
    use unicode_normalization::UnicodeNormalization;
    // Composed (NFC), as listings are signed: an accent typed as a separate mark is one letter,
    // and takes the bytes the accented letter takes (from the international retrial: 1,000
    // accented letters typed apart, 2,000 bytes composed, were refused as 3,000).
    let text: String = words.join(" ").nfc().collect();
    // The protocol's own check, said in the user's terms.
    match haggle_protocol::limits::check_message(&text) {
        Ok(()) => Ok(text),
        Err(E::Empty { .. }) => {
            // Said for `haggle message` and for `--message` alike (a trial's `cancel --message ""`
            // was shown a `haggle message` example).
            Err("the message is empty: write what to say, in quotes (e.g. \"I can pick it up on Saturday\")"
                .into())
        }
        Err(E::TooLong { len, .. }) => {
            // How many characters fit, counted on this message's own (from an international
            // trial: a Japanese message was told its bytes, not how much to cut).
            let (fit, chars) = characters_fitting(&text, MAX_MESSAGE_BYTES);
            Err(format!(
                "the message is {len} bytes; one holds at most {MAX_MESSAGE_BYTES} (a letter of English takes one byte, an accented letter two, a Chinese, Japanese or Korean character three, most emoji four): its first {fit} of {chars} characters fit; say the rest in another"
            ))
        }
        Err(E::ControlCharacter { .. }) => {
            Err("the message holds a control character; only newlines and tabs may be among its words".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// How many of `text`'s characters, as a reader counts them, fit whole in `bytes`, and how
/// many it has: a letter with its combining marks, an emoji with its modifiers and variation
/// selectors, and emoji joined by zero-width joiners are one (counted by code points, the
/// retrial was told a cut inside a family emoji).
fn characters_fitting(text: &str, bytes: usize) -> (usize, usize) {
    use unicode_normalization::char::is_combining_mark;
    // `all` characters begun so far; the bytes up to the start of the last one.
    let (mut fit, mut all, mut used, mut joined) = (0, 0, 0, false);
    for c in text.chars() {
        let extends = all > 0
            && (joined
                || is_combining_mark(c)
                || matches!(c, '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}'));
        joined = c == '\u{200D}';
        if !extends {
            // The character before this one ended where this one starts.
            if used <= bytes {
                fit = all;
            }
            all += 1;
        }
        used += c.len_utf8();
    }
    if used <= bytes {
        fit = all;
    }
    (fit, all)
}

pub fn send(cx: &Context<'_>, id: &str, words: &[String]) -> Result<()> {
    let text = text(words).map_err(crate::usage)?;
    let view = cx.api.send_note(id, &text)?;
    if cx.json {
        output::json(&view)?;
        return refused(&view);
    }
    // The one this command sent (others may have come meanwhile, from either side).
    let sent = view
        .notes
        .iter()
        .find(|n| Some(n.id) == view.sent)
        .or(view.notes.last())
        .filter(|n| n.from == Party::Me);
    let state = match sent.and_then(|n| n.delivery) {
        Some(DeliveryState::Delivered) => "delivered",
        Some(DeliveryState::Sent) => "sent; their node has not acknowledged it yet",
        Some(DeliveryState::Failed) => "refused by their node, for good: it is not sent again",
        _ if sent.is_some_and(|n| n.delivery_error.is_some()) => {
            "saved; the last try did not deliver it (why is under it), and it is tried again"
        }
        _ => "saved and queued: it goes out as soon as they are reachable (or sealed, through other nodes)",
    };
    outln!(
        "Message {} to {} about {}: {state}.",
        output::short(&sent.map_or(view.id, |n| n.id)),
        output::short_peer(&view.with.peer_id()),
        subject(&view)
    );
    // A refusal's reason is the command's error, just after: said once.
    let was_refused = sent.is_some_and(|n| n.delivery == Some(DeliveryState::Failed));
    if let Some(why) = sent.and_then(|n| n.delivery_error.as_deref()).filter(|_| !was_refused) {
        outln!("  {why}");
    }
    outln!("The conversation: haggle messages {}", output::short(&view.id));
    refused(&view)
}

/// A message the other key's node refused for good is a failure of the command (exit 1).
fn refused(view: &ConversationView) -> Result<()> {
    let sent = view.notes.iter().find(|n| Some(n.id) == view.sent);
    match sent.filter(|n| n.from == Party::Me && n.delivery == Some(DeliveryState::Failed)) {
        Some(n) => anyhow::bail!(
            "message {} was refused: {}",
            output::short(&n.id),
            n.delivery_error.as_deref().unwrap_or("their node did not say why")
        ),
        None => Ok(()),
    }
}

pub fn list(cx: &Context<'_>) -> Result<()> {
    let page = cx.api.conversations()?;
    if cx.json {
        return output::json(&page);
    }
    if page.conversations.is_empty() {
        outln!(
            "No messages yet. haggle message LISTING \"TEXT\" asks a listing's author a question; a thread's or deal's id writes to the other party. (A note sent with an offer or a counter is in its thread: haggle offers lists them.)"
        );
        return Ok(());
    }
    let now = output::now_ms();
    let rows: Vec<Vec<String>> = page
        .conversations
        .iter()
        .map(|c| {
            let last = c.notes.last();
            vec![
                output::short(&c.id),
                output::short_peer(&c.with.peer_id()),
                about_cell(c, 30),
                if c.unread > 0 { c.unread.to_string() } else { String::new() },
                last.map(|n| output::relative(n.created_at, now)).unwrap_or_default(),
                last.map(|n| line(n, 50)).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["ID", "WITH", "ABOUT", "NEW", "LAST", "MESSAGE"], &rows);
    let unread = match page.unread {
        0 => "none unread".to_owned(),
        n => format!("{} unread", output::count(n, "message")),
    };
    outln!(
        "{}, {unread}. haggle messages ID reads one; haggle message ID \"TEXT\" answers.",
        output::count(page.conversations.len(), "conversation")
    );
    Ok(())
}

pub fn show(cx: &Context<'_>, id: &str, mark: bool) -> Result<()> {
    let view = cx.api.conversation(id, mark)?;
    if cx.json {
        return output::json(&view);
    }
    print(&view, mark);
    Ok(())
}

/// Prints a conversation; `marked`: reading it counted its messages as read.
pub fn print(view: &ConversationView, marked: bool) {
    let opened = if view.opened_by_me { "you wrote first" } else { "they wrote first" };
    outln!(
        "With {}, about {}: {}, {opened}.",
        output::peer(&view.with.peer_id()),
        subject(view),
        output::count(view.count, "message")
    );
    let now = output::now_ms();
    let (times, width) = output::time_column(view.notes.iter().map(|n| n.created_at), now, 0);
    for (n, at) in view.notes.iter().zip(times) {
        let who = match n.from {
            Party::Me => "you ",
            Party::Them => "them",
        };
        let mark = if n.read { " " } else { "*" };
        let shown = shown_lines(&n.message);
        let mut lines = shown.iter();
        outln!("{mark} {at:<width$}  {who}  {}", lines.next().map_or("", String::as_str));
        for more in lines {
            outln!("  {:<width$}        {more}", "");
        }
        if let Some(state) = delivery(n) {
            outln!("  {:<width$}        ({state})", "");
        }
    }
    if view.notes.iter().any(|n| !n.read) {
        let still = if marked {
            String::new()
        } else {
            format!("; still unread (haggle messages {} marks them read)", output::short(&view.id))
        };
        outln!("* new since you last read{still}.");
    }
    outln!("{}", answer_line(view));
}

/// A message's lines as a conversation prints them: as written, but a run of more than two
/// blank lines is one line that counts them (from a hostile trial: one message of line
/// breaks filled 2,408 lines of the screen and buried the others).
fn shown_lines(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut blank = 0usize;
    let flush = |out: &mut Vec<String>, blank: usize| match blank {
        0 => {}
        1 | 2 => out.extend(std::iter::repeat_n(String::new(), blank)),
        n => out.push(format!("({n} blank lines)")),
    };
    for line in message.lines() {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        flush(&mut out, std::mem::take(&mut blank));
        out.push(line.to_owned());
    }
    flush(&mut out, blank);
    out
}

/// How to answer, or why no answer would go.
fn answer_line(view: &ConversationView) -> String {
    if let Some(why) = &view.closed {
        return format!("No message can go in it now: {why}.");
    }
    let answer = format!("Answer: haggle message {} \"TEXT\"", output::short(&view.id));
    // Their node refused the owner's last message for good (a block of theirs, say): the next
    // is likely refused too, unless that changed.
    match view.notes.iter().rev().find(|n| n.from == Party::Me) {
        Some(n) if n.delivery == Some(DeliveryState::Failed) => {
            format!("{answer} (their node refused your last message: the next may be refused too)")
        }
        _ => answer,
    }
}

/// What a conversation is about, in words.
fn subject(c: &ConversationView) -> String {
    c.about.describe(output::short)
}

/// What a conversation is about, for a table of `width` columns: the title first (the ID column
/// names it), and a booking's dates, month and day, kept whole at the end (a guest with two
/// bookings of one cabin could not tell their conversations apart).
fn about_cell(c: &ConversationView, width: usize) -> String {
    let title = c.about.title.clone().unwrap_or_else(|| "(no longer held here)".to_owned());
    // The mark first, so the column's clip keeps it.
    let mark = match (c.about.kind.as_str(), c.about.deal) {
        ("listing", _) if c.about.mine => "yours: ",
        ("listing", _) => "",
        (_, Some(_)) => "deal: ",
        _ => "thread: ",
    };
    let dates = c.about.dates.as_deref().and_then(|d| d.split_once("..")).map(|(from, to)| {
        // `2026-12-22..2026-12-29` as `12-22..12-29`, the year being plain from the context.
        format!(" {}..{}", output::month_day(from), output::month_day(to))
    });
    match dates {
        Some(dates) => {
            let room = width.saturating_sub(mark.chars().count() + dates.chars().count()).max(4);
            format!("{mark}{}{dates}", output::clip(&title, room))
        }
        None => output::clip(&format!("{mark}{title}"), width),
    }
}

/// A note's first line, clipped, for a table.
fn line(n: &NoteView, max: usize) -> String {
    let who = if n.from == Party::Me { "you: " } else { "" };
    let first = n.message.lines().next().unwrap_or_default();
    let more = if n.message.lines().nth(1).is_some() { " …" } else { "" };
    output::clip(&format!("{who}{first}{more}"), max)
}

/// How far the owner's note got, when it is not delivered.
fn delivery(n: &NoteView) -> Option<String> {
    let state = match n.delivery? {
        DeliveryState::Delivered => return None,
        // Their node was reached and turned it away for now, or the try failed on the way.
        DeliveryState::Queued if n.delivery_error.is_some() => {
            "queued: the last try did not deliver it, and it is tried again"
        }
        DeliveryState::Queued => "queued: it goes out as soon as they are reachable",
        DeliveryState::Sent => "sent; not acknowledged yet",
        DeliveryState::Failed => "refused by their node",
        // Only offers lapse (with their terms); a note is sent until delivered.
        DeliveryState::Lapsed => "not sent again",
    };
    // A sealed copy on the network is said, as a thread's messages say it: `queued` alone read
    // as if nothing had left.
    let sealed = if n.sealed { "; also sealed, for any node yours reaches to carry to them" } else { "" };
    Some(match &n.delivery_error {
        Some(why) => format!("{state}{sealed}: {why}"),
        None => format!("{state}{sealed}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From a hostile trial: one message of line breaks filled the screen.
    #[test]
    fn a_run_of_blank_lines_is_one_line_that_counts_them() {
        let flood = format!("look{}here", "\n".repeat(1_500));
        assert_eq!(shown_lines(&flood), ["look", "(1499 blank lines)", "here"]);
        assert_eq!(shown_lines("a\n\nb"), ["a", "", "b"], "a paragraph's gap is kept");
        assert_eq!(shown_lines("a\n\n\nb"), ["a", "", "", "b"]);
        assert_eq!(shown_lines("one line"), ["one line"]);
    }

    #[test]
    fn a_message_is_checked_before_the_node_is_asked() {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            text(&words(&["Is", "it", "still", "available?"])).as_deref(),
            Ok("Is it still available?")
        );
        assert_eq!(text(&words(&["two\nlines"])).as_deref(), Ok("two\nlines"));
        assert!(text(&words(&["  "])).expect_err("empty").starts_with("the message is empty"));
        let long = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert!(text(&words(&[&long])).expect_err("too long").contains("2048"));
        // Said in characters too: 690 Japanese characters are 2070 bytes, of which 682 fit.
        let japanese = "自".repeat(690);
        let said = text(&words(&[&japanese])).expect_err("too long");
        assert!(
            said.contains("is 2070 bytes") && said.contains("its first 682 of 690 characters fit"),
            "{said}"
        );
        // From the retrial: a letter and its accent, or a family emoji, is one character, and
        // an accent typed apart takes the bytes of the accented letter.
        let fits = "e\u{301}".repeat(1_000);
        assert_eq!(text(&words(&[&fits])).map(|t| (t.len(), t.chars().count())), Ok((2_000, 1_000)));
        let decomposed = "e\u{301}".repeat(1_100);
        let said = text(&words(&[&decomposed])).expect_err("too long");
        assert!(
            said.contains("is 2200 bytes") && said.contains("its first 1024 of 1100 characters fit"),
            "{said}"
        );
        let family = "👨\u{200D}👩\u{200D}👧".repeat(114);
        let said = text(&words(&[&family])).expect_err("too long");
        assert!(said.contains("its first 113 of 114 characters fit"), "{said}");
        assert_eq!(characters_fitting("ab", 1), (1, 2));
        assert_eq!(characters_fitting("a\u{301}b", 2), (0, 2), "not a letter without its accent");
        assert_eq!(characters_fitting("", 10), (0, 0));
        assert!(text(&words(&["bell\u{7}"])).expect_err("a bell").contains("control character"));
        assert_eq!(text(&words(&[&"x".repeat(MAX_MESSAGE_BYTES)])).map(|t| t.len()), Ok(MAX_MESSAGE_BYTES));
    }

    /// From a trial: a guest's two bookings of one cabin read `deal: Cabin in the woods` both.
    /// A booking's cell keeps its dates whole, the title clipped before them.
    #[test]
    fn a_bookings_conversation_names_its_dates() {
        let about = |dates: Option<&str>| haggle_node::api::types::SubjectView {
            kind: "thread".into(),
            id: Some(haggle_protocol::ObjectId::from_bytes([2; 32])),
            title: Some("Cabin in the woods by the lake".into()),
            deal: Some(haggle_protocol::ObjectId::from_bytes([3; 32])),
            mine: false,
            state: None,
            dates: dates.map(str::to_owned),
        };
        let c = |dates| ConversationView {
            id: haggle_protocol::ObjectId::from_bytes([1; 32]),
            sent: None,
            about: about(dates),
            with: haggle_protocol::fixtures::key(1).public(),
            opened_by_me: true,
            count: 1,
            unread: 0,
            notes: Vec::new(),
            closed: None,
        };
        let cell = about_cell(&c(Some("2026-12-22..2026-12-29")), 30);
        assert!(cell.starts_with("deal: Cabin") && cell.ends_with(" 12-22..12-29"), "{cell}");
        assert!(cell.chars().count() <= 30, "{cell}");
        assert_eq!(about_cell(&c(None), 30), output::clip("deal: Cabin in the woods by the lake", 30));
        assert!(
            about(Some("2026-12-22..2026-12-29"))
                .describe(|_| "x".into())
                .ends_with(" for 2026-12-22..2026-12-29")
        );
    }

    /// A note still waiting says when a sealed copy of it is on its way, as a thread's
    /// messages do; a delivered one says nothing.
    #[test]
    fn a_waiting_note_says_its_sealed_copy() {
        let note = NoteView {
            id: haggle_protocol::ObjectId::from_bytes([1; 32]),
            from: Party::Me,
            created_at: 0,
            message: "Still there?".into(),
            read: true,
            delivery: Some(DeliveryState::Queued),
            sealed: false,
            delivery_error: None,
        };
        assert_eq!(delivery(&note).as_deref(), Some("queued: it goes out as soon as they are reachable"));
        let sealed = NoteView { sealed: true, ..note.clone() };
        assert_eq!(
            delivery(&sealed).as_deref(),
            Some(
                "queued: it goes out as soon as they are reachable; also sealed, for any node yours reaches to carry to them"
            )
        );
        let failed = NoteView { delivery_error: Some("no route".into()), ..sealed.clone() };
        assert!(delivery(&failed).expect("waiting").ends_with("to carry to them: no route"));
        // Turned away for now by a node that was reached: not "as soon as they are reachable".
        assert_eq!(
            delivery(&NoteView { sealed: false, ..failed.clone() }).as_deref(),
            Some("queued: the last try did not deliver it, and it is tried again: no route")
        );
        let delivered = NoteView { delivery: Some(DeliveryState::Delivered), ..sealed };
        assert_eq!(delivery(&delivered), None);
    }
}
