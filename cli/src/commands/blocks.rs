//! `haggle block`, `haggle unblock` and `haggle blocked`: people the owner wants to hear no more
//! from. A block lives on the owner's node only: nothing is published.

use anyhow::Result;

use haggle_node::api::types::{BlockChange, BlockRequest};

use super::Context;
use crate::output;

pub fn block(cx: &Context<'_>, who: &str, note: Option<String>) -> Result<()> {
    let noted_empty = note.as_deref().is_some_and(|n| n.trim().is_empty());
    let change = cx.api.block(&BlockRequest { who: who.to_owned(), note })?;
    if cx.json {
        return output::json(&change);
    }
    let key = output::peer(&change.key);
    if change.changed && change.was_blocked {
        let note = if noted_empty { "cleared" } else { "changed" };
        outln!("{key} was blocked already; its note is {note}.");
    } else if change.changed {
        outln!("Blocked {key}.");
        outln!(
            "Their listings are left out of your searches and of `haggle watch`, and no new offer, booking or conversation starts between you, whoever starts it, and you bid and pledge on none of theirs (messages in threads still open and in deals go on both ways; a conversation about a listing, or in a thread that ended without a deal, ends, for both of you). Their public bids and pledges on your auctions and campaigns still count, as every node counts them, but your node accepts none of them by itself: they are left to you. Nothing is published: they learn of it only if they write to you, when their node is told it is refused."
        );
    } else {
        outln!("{key} was blocked already (its note stays; --note changes it).");
    }
    open_with_them(&change);
    outln!("Undo: haggle unblock {}", output::typed_peer(&change.key));
    Ok(())
}

pub fn unblock(cx: &Context<'_>, who: &str) -> Result<()> {
    let change = cx.api.unblock(who)?;
    if cx.json {
        return output::json(&change);
    }
    let key = output::peer(&change.key);
    if change.changed {
        outln!(
            "Unblocked {key}: their listings show again, and they may make you offers and write to you again."
        );
    } else {
        outln!("{key} was not blocked (haggle blocked lists whom you blocked).");
    }
    Ok(())
}

pub fn list(cx: &Context<'_>) -> Result<()> {
    let page = cx.api.blocked()?;
    if cx.json {
        return output::json(&page);
    }
    if page.blocked.is_empty() {
        outln!(
            "You have blocked nobody. haggle block ID blocks the author of a listing, or the other party of a thread, deal or message."
        );
        return Ok(());
    }
    let now = output::now_ms();
    let rows: Vec<Vec<String>> = page
        .blocked
        .iter()
        .map(|b| {
            let key = b.key.to_string();
            let name = output::name_of(&key).unwrap_or_else(|| "-".to_owned());
            vec![key, name, output::relative(b.since, now), output::clip(&b.note, 60)]
        })
        .collect();
    output::table(&["KEY", "NAME", "SINCE", "NOTE"], &rows);
    outln!(
        "{} of at most {}; haggle unblock KEY undoes one.",
        output::count(page.blocked.len(), "key"),
        page.max
    );
    Ok(())
}

/// The threads and deals a block leaves open, with how to end them.
fn open_with_them(change: &BlockChange) {
    for open in &change.open_threads {
        let t = output::short(&open.thread);
        let ends = match (&open.ends_with, open.listing) {
            (Some(pledge), Some(listing)) if pledge == "pledge" => format!(
                "your pledge binds you if the campaign is funded: haggle pledge {} --withdraw takes it back",
                output::short(&listing)
            ),
            (Some(bid), _) if bid == "bid" => {
                "your bid binds you if it wins when the auction ends; a bid cannot be taken back".to_owned()
            }
            (Some(pledge), _) if pledge == "their pledge" => {
                "their pledge to your campaign stands; if it is funded, your node leaves this one to you to accept or decline".to_owned()
            }
            (Some(bid), _) if bid == "their bid" => {
                "their bid on your auction stands until it ends; if it wins, it waits for you to accept or decline it"
                    .to_owned()
            }
            (Some(command), _) => format!("haggle {command} {t} ends it"),
            (None, _) => "an accept awaits its confirm: a deal follows, or it lapses by itself".to_owned(),
        };
        outln!("Still open with them: thread {t} (haggle show {t}; {ends}).");
    }
    for deal in &change.open_deals {
        let d = output::short(deal);
        outln!("A deal with them goes on: haggle deal {d} (haggle cancel {d} asks to call it off).");
    }
}
