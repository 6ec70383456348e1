//! `haggle saved` (and `haggle search ... --save NAME`): searches the owner saved, and what is
//! new or repriced for one since they last looked.

use anyhow::Result;

use haggle_node::api::types::{SavedView, SearchParams};

use super::Context;
use crate::output;

pub fn list(cx: &Context<'_>) -> Result<()> {
    let page = cx.api.saved()?;
    if cx.json {
        return output::json(&page);
    }
    if page.saved.is_empty() {
        outln!(
            "You have saved no search. haggle search WORDS... --save NAME saves one; haggle saved NAME then shows what is new since you last looked."
        );
        return Ok(());
    }
    let now = output::now_ms();
    let rows: Vec<Vec<String>> = page
        .saved
        .iter()
        .map(|s| {
            let (new, repriced, matches) = match s.error {
                Some(_) => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
                None => (s.new.to_string(), s.repriced.to_string(), s.matches.to_string()),
            };
            let looked = if s.looked_at == 0 { "-".to_owned() } else { output::relative(s.looked_at, now) };
            vec![s.name.clone(), new, repriced, matches, output::clip(&in_table(&s.search), 50), looked]
        })
        .collect();
    output::table(&["NAME", "NEW", "REPRICED", "MATCHES", "SEARCH", "LOOKED"], &rows);
    for s in page.saved.iter().filter(|s| s.error.is_some()) {
        let why = s.error.as_deref().unwrap_or_default();
        outln!("{}", output::dim(&format!("{} cannot run now: {why}", s.name)));
    }
    let n = page.saved.len();
    outln!(
        "{n} saved search{} of at most {}; haggle saved NAME shows what is new for one.",
        if n == 1 { "" } else { "es" },
        page.max
    );
    Ok(())
}

pub fn look(cx: &Context<'_>, name: &str, mark: bool) -> Result<()> {
    let look = cx.api.look_at_saved(name, mark)?;
    if cx.json {
        return output::json(&look);
    }
    let s = &look.saved;
    let since = output::relative(s.looked_at, output::now_ms());
    outln!("{}: {}", output::bold(&s.name), command(&s.search));
    if look.hidden > 0 {
        let (verb, they) = if look.hidden == 1 { ("matches", "it is") } else { ("match", "they are") };
        outln!(
            "{}",
            output::dim(&format!(
                "{} by people you blocked {verb} too: {they} left out (what you saw of them stays seen).",
                output::count(look.hidden, "listing")
            ))
        );
    }
    if s.compared < s.matches {
        outln!(
            "{}",
            output::dim(&format!(
                "It matches {} listings: only its {} newest are compared with what you saw, so an older one can show as new once it is updated; narrow it to be told of all.",
                s.matches, s.compared
            ))
        );
    }
    if look.new.is_empty() && look.repriced.is_empty() {
        outln!("Nothing new or repriced since you last looked, {since}; {}.", matching(s.matches));
        return Ok(());
    }
    if !look.new.is_empty() {
        outln!("{} since you last looked, {since} ({}):", new_count(look.new.len()), matching(s.matches));
        let unit = haggle_protocol::geo::DistanceUnit::of_within(s.search.within.as_deref());
        output::listings(&look.new, "", unit, output::Whose::Anyones);
    }
    if !look.repriced.is_empty() {
        let when =
            if look.new.is_empty() { format!(", {since} ({})", matching(s.matches)) } else { String::new() };
        outln!("Price changed since you last looked{when}:");
        let rows: Vec<Vec<String>> = look
            .repriced
            .iter()
            .map(|r| {
                vec![
                    output::short(&r.listing.id),
                    output::clip(&r.listing.title, 40),
                    r.was.clone().unwrap_or_else(|| "-".to_owned()),
                    r.now.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        output::table(&["ID", "TITLE", "WAS", "NOW"], &rows);
    }
    if mark {
        outln!("{}", output::dim("These count as seen now: the next look shows only what comes after."));
    } else {
        outln!("{}", output::dim("--peek: these still count as new next time."));
    }
    Ok(())
}

pub fn delete(cx: &Context<'_>, name: &str) -> Result<()> {
    let gone = cx.api.unsave_search(name)?;
    if cx.json {
        return output::json(&gone);
    }
    if gone.error.is_some() {
        outln!("Deleted the saved search {} (its record did not read).", gone.name);
    } else {
        outln!("Deleted the saved search {} ({}).", gone.name, command(&gone.search));
    }
    Ok(())
}

/// What `haggle search ... --save` prints after the results.
pub fn saved_line(saved: &SavedView, replaced_order: bool) {
    // What it matches now counts as seen (its newest, when it matches more than a look reads).
    let seen = match (saved.matches, saved.compared) {
        (0, _) => "nothing matches it now".to_owned(),
        (1, _) => "the 1 listing it matches now counts as seen".to_owned(),
        (all, compared) if compared < all => {
            format!("the newest {compared} of the {all} listings it matches now count as seen")
        }
        (all, _) => format!("the {all} listings it matches now count as seen"),
    };
    outln!(
        "Saved as {} ({seen}): haggle saved {} shows what is new or repriced since you last looked.",
        saved.name,
        saved.name
    );
    if let Some(old) = &saved.replaced {
        outln!(
            "It replaces the search saved as {} before ({}), and what was seen with it.",
            saved.name,
            command(old)
        );
    }
    if replaced_order {
        outln!(
            "{}",
            output::dim(
                "A saved search keeps the words and filters, not --sort, --limit or --offset: what is new is shown newest first."
            )
        );
    }
}

fn new_count(n: usize) -> String {
    if n == 1 { "1 listing is new".to_owned() } else { format!("{n} listings are new") }
}

fn matching(n: usize) -> String {
    format!("{} match{} now", output::count(n, "listing"), if n == 1 { "es" } else { "" })
}

/// The command that runs the search: `haggle search road bike --max-price 150 --currency EUR`.
fn command(p: &SearchParams) -> String {
    let args = arguments(p, false);
    if args.is_empty() { "haggle search".to_owned() } else { format!("haggle search {args}") }
}

/// The search as the SEARCH column shows it: a seller's key shortened, so that the rest shows.
pub(super) fn in_table(p: &SearchParams) -> String {
    let args = arguments(p, true);
    if args.is_empty() { "(everything)".to_owned() } else { args }
}

/// The search as `haggle search` takes it: `road bike --max-price 150 --currency EUR` (with
/// `short_seller`, a seller's key shortened for a table).
fn arguments(p: &SearchParams, short_seller: bool) -> String {
    let mut out: Vec<String> = p.q.split_whitespace().map(output::shell_word).collect();
    let mut flag = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push(format!("--{name} {}", output::shell_word(&value)));
        }
    };
    let ending_soon = p.sort == Some(haggle_node::api::types::Sort::EndingSoon);
    flag("kind", p.kind.filter(|_| !ending_soon).map(|k| k.to_string()));
    flag("category", p.category.clone());
    flag("min-price", p.min_price.clone());
    flag("max-price", p.max_price.clone());
    flag("currency", p.currency.as_ref().map(ToString::to_string));
    // Shortened, a key is no longer something to type: shown as it is, not quoted.
    let short = p.seller.as_ref().filter(|_| short_seller).map(|k| match output::name_of(&k.to_string()) {
        // A name is typed as it is given: quoted for a shell.
        Some(name) => format!("--seller {}", output::shell_word(&name)),
        None => format!("--seller {}", output::short_peer(k)),
    });
    flag("seller", p.seller.as_ref().filter(|_| !short_seller).map(ToString::to_string));
    flag("near", p.near.clone());
    flag("around", p.around.clone());
    flag("within", p.within.clone());
    flag("min-deals", p.min_deals.map(|n| n.to_string()));
    flag("free", p.free.clone());
    out.extend(short);
    if p.trusted {
        out.push("--trusted".to_owned());
    }
    if ending_soon {
        out.push("--ending-soon".to_owned());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_search_reads_as_the_command_that_runs_it() {
        let p = SearchParams {
            q: "road  bike".into(),
            max_price: Some("150".into()),
            currency: "EUR".parse().ok(),
            near: Some("new york".into()),
            around: Some("40.71,-74.0".into()),
            within: Some("5km".into()),
            trusted: true,
            ..SearchParams::default()
        };
        assert_eq!(
            command(&p),
            "haggle search road bike --max-price 150 --currency EUR --near 'new york' --around 40.71,-74.0 --within 5km --trusted"
        );
        let soon = SearchParams {
            kind: Some(haggle_node::api::types::ListingKind::Auction),
            sort: Some(haggle_node::api::types::Sort::EndingSoon),
            ..SearchParams::default()
        };
        assert_eq!(arguments(&soon, false), "--ending-soon");
        assert_eq!(
            (command(&SearchParams::default()), in_table(&SearchParams::default())),
            ("haggle search".into(), "(everything)".into())
        );
        // Whatever a shell would read otherwise is quoted: `&`, `;`, `*`, a leading `-`.
        let odd = SearchParams { q: "it's r&b a;b *x -y café".into(), ..SearchParams::default() };
        assert_eq!(arguments(&odd, false), r"'it'\''s' 'r&b' 'a;b' '*x' '-y' café");
        let key: haggle_node::api::types::PublicKey =
            "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5".parse().expect("a key");
        let theirs = SearchParams { seller: Some(key), ..SearchParams::default() };
        assert_eq!(arguments(&theirs, false), format!("--seller {key}"));
        assert_eq!(in_table(&theirs), format!("--seller {}", output::short_peer(&key)));
    }
}
