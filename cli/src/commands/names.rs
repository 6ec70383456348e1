//! `haggle name` and `haggle names`: the owner's own names for other people's keys, shown in
//! place of a key (see `output::short_peer`). A name lives on the owner's node only.

use anyhow::Result;

use haggle_node::api::types::NameRequest;

use super::Context;
use crate::output;
use haggle_node::service::quoted;

pub fn name(cx: &Context<'_>, who: &str, name: &str) -> Result<()> {
    let change = cx.api.set_name(&NameRequest { who: who.to_owned(), name: name.to_owned() })?;
    if cx.json {
        return output::json(&change);
    }
    let key = change.key.to_string();
    let name = change.name.as_deref().unwrap_or_default();
    match change.was.as_deref() {
        _ if !change.changed => outln!("{key} is named {} already.", quoted(name)),
        Some(was) => outln!("Renamed {key}: {} is now {}.", quoted(was), quoted(name)),
        None => outln!("Named {key} {}.", quoted(name)),
    }
    outln!(
        "Tables and lines show {} in place of the key, and commands take it where they take a key (haggle reputation {}). It is yours alone: nothing is published.",
        quoted(name),
        output::shell_word(name)
    );
    Ok(())
}

pub fn clear(cx: &Context<'_>, who: &str) -> Result<()> {
    let change = cx.api.clear_name(who)?;
    if cx.json {
        return output::json(&change);
    }
    let key = change.key.to_string();
    match change.was.as_deref() {
        Some(was) => outln!("{key} is no longer named {}: tables show its key again.", quoted(was)),
        None => outln!("{key} had no name (haggle names lists the names you gave)."),
    }
    Ok(())
}

pub fn list(cx: &Context<'_>) -> Result<()> {
    let page = cx.api.names()?;
    if cx.json {
        return output::json(&page);
    }
    if page.names.is_empty() {
        outln!(
            "You have named nobody. haggle name ID NAME names the author of a listing, or the other party of a thread, deal or message."
        );
        return Ok(());
    }
    let now = output::now_ms();
    let rows: Vec<Vec<String>> = page
        .names
        .iter()
        .map(|n| vec![n.name.clone(), n.key.to_string(), output::relative(n.since, now)])
        .collect();
    output::table(&["NAME", "KEY", "SINCE"], &rows);
    outln!(
        "{} of at most {}; haggle name --clear NAME takes one away.",
        output::count(page.names.len(), "name"),
        page.max
    );
    Ok(())
}
