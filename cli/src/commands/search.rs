//! `haggle search`.

use anyhow::Result;

use haggle_node::api::types::{SearchParams, Sort};
use haggle_protocol::geo::DistanceUnit;

use super::Context;
use crate::args::SearchArgs;
use crate::output;

pub fn search(cx: &Context<'_>, args: &SearchArgs) -> Result<()> {
    if args.ending_soon
        && args.sort.as_ref().is_some_and(|s| s.0 != haggle_node::api::types::Sort::EndingSoon)
    {
        return Err(crate::usage(
            "--ending-soon orders running auctions by their end: it takes no other --sort; drop one of the two",
        ));
    }
    // The search first, then the save: a search that cannot run (as typed, with its order and
    // page) is refused, and nothing is saved or printed.
    let page = cx.api.search(&args.params())?;
    let saved = args.save.as_deref().map(|name| cx.api.save_search(name, &args.params())).transpose()?;
    if cx.json {
        unknown_currency_note(cx, args, &page);
        return match saved {
            Some(saved) => output::json(&serde_json::json!({ "saved": saved, "search": page })),
            None => output::json(&page),
        };
    }
    let result = show(cx, args, &page);
    unknown_currency_note(cx, args, &page);
    // From a retrial: with the disk full, a search said no listing held a word the node held.
    if let Some(why) = &page.index_error {
        note!(
            cx.json,
            "the search index cannot take changes now ({why}): listings that came since are missing from these results; they are taken once it can (haggle status)"
        );
    }
    if let Some(saved) = &saved {
        // An ending-soon order is kept (it asks for running auctions); any other is not.
        let sorted = args.sort.is_some_and(|s| s.0 != haggle_node::api::types::Sort::EndingSoon);
        let ordered = sorted || args.offset > 0 || args.limit != 20;
        super::saved::saved_line(saved, ordered);
    }
    result
}

/// A code no currency has, with matches none of which is priced in it: giveaways match whatever
/// the currency, so a slip (`EUT`) hid every priced listing without a word (from a trial). A
/// currency of an owner's own that listings are priced in is not one. With no match, the empty
/// page says it (see `show`).
fn unknown_currency_note(cx: &Context<'_>, args: &SearchArgs, page: &haggle_node::api::types::SearchPage) {
    let Some(code) = args.filters.currency.as_ref().filter(|c| !c.is_known()) else { return };
    if page.hits.is_empty() || page.hits.iter().any(|h| h.price.as_ref().is_some_and(|p| p.currency == *code))
    {
        return;
    }
    let near = code.near_known();
    crate::note!(
        cx.json,
        "`{code}` is not a currency code this node knows{}: only listings priced in `{code}`, and giveaways (free in any currency), match it",
        if near.is_empty() { String::new() } else { format!(" (did you mean {}?)", near.join(" or ")) }
    );
}

fn show(cx: &Context<'_>, args: &SearchArgs, page: &haggle_node::api::types::SearchPage) -> Result<()> {
    // Distances are told in the unit `--within` was given in (kilometres when not given).
    let unit = DistanceUnit::of_within(args.filters.within.as_deref());
    if page.hits.is_empty() && page.total > 0 {
        outln!(
            "No results past the first {total}: {total} listing{s} match{es} (--offset 0 starts from the first).",
            total = page.total,
            s = if page.total == 1 { "" } else { "s" },
            es = if page.total == 1 { "es" } else { "" }
        );
        return Ok(());
    }
    // Only listings of people the owner blocked match: that, and nothing about the words.
    if page.hits.is_empty() && page.hidden > 0 {
        let (verb, they) = if page.hidden == 1 { ("matches", "it is") } else { ("match", "they are") };
        outln!(
            "No listings match but {} by people you blocked, which {verb}: {they} left out (haggle blocked lists whom you blocked; --seller KEY shows one's listings).",
            output::count(page.hidden, "listing")
        );
        return Ok(());
    }
    let quoted = |words: &[String]| words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(", ");
    // The words alone match something, when filters are what left nothing (asked only then).
    let words_match = |params: &SearchParams| {
        let words = SearchParams { q: params.q.clone(), limit: Some(1), ..SearchParams::default() };
        cx.api.search(&words).is_ok_and(|p| p.total > 0)
    };
    // A category that finds nothing by itself where its broader part finds some (`vehicles/bike`
    // for `vehicles/bikes`): asked only when the page is empty and the search has no words. The
    // answer is the category to try: one of the broader part's that starts with what was typed,
    // or else the broader part.
    let category_cut = |params: &SearchParams| -> Option<String> {
        let category = params.category.as_deref().filter(|_| page.hits.is_empty())?;
        let find = |c: Option<&str>, limit: usize| {
            let alone = SearchParams {
                category: c.map(str::to_owned),
                limit: Some(limit),
                ..SearchParams::default()
            };
            cx.api.search(&alone).ok().filter(|p| p.total > 0)
        };
        if find(Some(category), 1).is_some() {
            return None;
        }
        if let Some((broader, _)) = category.rsplit_once('/')
            && let Some(wider) = find(Some(broader), 50)
        {
            return Some(category_to_try(category, broader, wider.hits.iter().map(|h| h.category.as_str())));
        }
        // A top level no listing uses, or nothing under the broader part either (`lesson`,
        // `music` or `lesson/music` for `lessons/music`, from a trial and its retrial): a
        // category the listings held here use that the one typed is close to, if any.
        let all = find(None, 500)?;
        category_near(category, all.hits.iter().map(|h| h.category.as_str()))
    };
    let try_cut;
    let farther;
    let slip;
    let place;
    // Whether one filter alone finds anything (asked only when the page is empty): a seller's
    // key or a place typed wrong reads as any empty search otherwise (from a trial).
    let alone_finds = |filter: SearchParams| {
        cx.api.search(&SearchParams { limit: Some(1), ..filter }).is_ok_and(|p| p.total > 0)
    };
    // A code no currency has (`EUT` for `EUR`), with nothing found: likely a
    // slip, said as `publish` says it (a currency of an owner's own is found by its code).
    let unknown_currency = args.filters.currency.as_ref().filter(|c| !c.is_known() && page.hits.is_empty());
    let empty = if let Some(code) = unknown_currency {
        let near = code.near_known();
        slip = format!(
            "No listings match. `{code}` is not a currency code this node knows (ISO 4217, such as EUR or \
             USD, or a common one outside it, such as BTC){}",
            if near.is_empty() { ".".to_owned() } else { format!(": did you mean {}?", near.join(" or ")) }
        );
        &slip
    } else if let Some(seller) = args.filters.seller.filter(|_| page.hits.is_empty())
        && !alone_finds(SearchParams { seller: Some(seller), ..SearchParams::default() })
    {
        "No listings match: this node holds no listing by that key. Check it (a key with a character \
         changed names no one); haggle reputation KEY says what this node knows of it."
    } else if let Some(near) = args.filters.near.as_deref().filter(|_| page.hits.is_empty())
        && !alone_finds(SearchParams { near: Some(near.to_owned()), ..SearchParams::default() })
    {
        place = format!(
            "No listings match: no listing's place says \"{near}\" (--near matches the words of the place a listing gives: check its spelling, or try a larger place)."
        );
        &place
    } else if args.filters.trusted || args.filters.min_deals.is_some() {
        "No listings match. --trusted and --min-deals count only ratings by people your own deals vouch for \
         (see `haggle reputation` for a seller); without them, every match is shown with its SELLER column."
    } else if args.params().sort == Some(haggle_node::api::types::Sort::EndingSoon) {
        "No running auctions match: ending-soon lists auctions only (drop it to see other listings)."
    } else if let Some(nearest) = page.around.and_then(|a| a.nearest_m) {
        // Something matches, farther away: how far, and the distance that finds it.
        farther = format!(
            "No listings match within that distance. The nearest that matches is {} away: --within {} finds it.",
            unit.away(nearest),
            unit.within_to_reach(nearest)
        );
        &farther
    } else if args.filters.around.is_some() && page.unknown.is_empty() {
        // Found by distance: only listings that give a place on the map (a word no listing
        // uses, said below, is the reason otherwise).
        "No listings match within that distance. Only listings that give a place on the map (a \
         geohash) are found by distance: run it without --around to see what matches anywhere, \
         or with --near PLACE, which matches the words of every listing's place."
    } else if args.filters.around.is_some() {
        "No listings match."
    } else if !args.filters.text.is_empty()
        && page.unknown.is_empty()
        && page.hits.is_empty()
        && filters_besides_words(&args.params())
        && words_match(&args.params())
    {
        // The words match: a filter is what left nothing. A price filter or order leaves out
        // what has no price (a wanted ad open to offers): said, as a trial's ad vanished.
        let params = args.params();
        let priced = params.min_price.is_some()
            || params.max_price.is_some()
            || params.currency.is_some()
            || matches!(params.sort, Some(Sort::PriceAsc | Sort::PriceDesc));
        // A category typed a little wrong is the likely filter: named as without words (a
        // trial's `bicycle --category vehicles/bike` was told only to drop the filters).
        if let Some(cut) = category_cut(&params) {
            try_cut = format!(
                "No listings match the words and the filters together. {}",
                whole_parts(params.category.as_deref().unwrap_or_default(), &cut)
            );
            &try_cut
        } else if priced {
            "No listings match the words and the filters together: run it without the filters to see \
             what the words alone find (a price filter, order or currency leaves out wanted ads that \
             name no price)."
        } else {
            "No listings match the words and the filters together: run it without the filters to see \
             what the words alone find."
        }
    } else if let Some(cut) = args.filters.text.is_empty().then(|| category_cut(&args.params())).flatten() {
        // `vehicles/bike` does not find `vehicles/bikes`: a category matches by whole parts.
        try_cut = format!(
            "No listings match. {}, or the words with the search instead.",
            whole_parts(args.filters.category.as_deref().unwrap_or_default(), &cut)
        );
        &try_cut
    } else if !args.filters.text.is_empty() && args.filters.near.is_none() {
        // Buyers type the town with the words; places are matched by --near only.
        "No listings match. Words are looked for in titles, descriptions, categories and tags; for a \
         place, use --near PLACE (e.g. haggle search bike --near ghent)."
    } else {
        "No listings match."
    };
    let unknown_note = || {
        if page.unknown.is_empty() {
            return;
        }
        let them = if page.unknown.len() == 1 { "it" } else { "them" };
        // Closed listings are not searched: a word only they used is unknown (a trial's "car
        // seat", once the seat was found, read as a typo).
        // Text without spaces is looked for two characters at a time, and no typo is guessed
        // in it (from an international trial: `中古自転車` was told of "a letter or two").
        let in_pairs = |w: &String| w.chars().any(haggle_node::service::searched_in_pairs);
        let note = if page.unknown.iter().all(in_pairs) {
            format!(
                "No listing on offer says {} (sold, closed and expired listings are not searched). Text without \
                 spaces is looked for two characters at a time: a space between its words, or fewer characters, finds more.",
                quoted(&page.unknown)
            )
        } else {
            format!(
                "No listing on offer says {}, nor a word a letter or two from {them} (sold, closed and expired listings are not searched).",
                quoted(&page.unknown)
            )
        };
        outln!("{}", output::dim(&note));
    };
    let guessed_note = || {
        if page.guessed.is_empty() {
            return;
        }
        let (that, it) = if page.guessed.len() == 1 { ("that word", "it") } else { ("those words", "them") };
        // The search is that one word and nothing else: its near words are only in listings
        // gone since (sold, retracted, expired).
        let words = args.filters.text.iter().flat_map(|t| t.split_whitespace()).count();
        let alone = words == 1 && page.guessed.len() == 1 && !filters_besides_words(&args.params());
        let note = if page.hits.is_empty() && alone {
            format!(
                "No listing says {} now, nor a word a letter or two from it (a listing that did may have sold, closed or expired).",
                quoted(&page.guessed)
            )
        } else if page.hits.is_empty() {
            format!(
                "No listing says {}; words a letter or two from {it} match nothing with the rest of this search.",
                quoted(&page.guessed)
            )
        } else {
            format!(
                "No listing says {}: these match words a letter or two from {that} (a guess at a typo).",
                quoted(&page.guessed)
            )
        };
        outln!("{}", output::dim(&note));
    };
    // Told in the order the words were typed (from a trial: `gardn chair` explained `chair`
    // first).
    let typed: Vec<String> =
        args.filters.text.iter().flat_map(|t| t.split_whitespace()).map(str::to_lowercase).collect();
    let first_at = |words: &[String]| {
        words
            .iter()
            .filter_map(|w| typed.iter().position(|t| *t == w.to_lowercase()))
            .min()
            .unwrap_or(usize::MAX)
    };
    if first_at(&page.guessed) < first_at(&page.unknown) {
        guessed_note();
        unknown_note();
    } else {
        unknown_note();
        guessed_note();
    }
    if let Some(instead) = &page.did_you_mean {
        let typed: Vec<String> = instead.words.iter().map(|w| w.typed.clone()).collect();
        let words: Vec<String> = instead.words.iter().map(|w| w.word.clone()).collect();
        let options = if filters_besides_words(&args.params()) { " with the same options" } else { "" };
        // "Match", not "say": the word offered is as the index holds it (lowercased, accents
        // folded), and the others' count is not narrowed by this search's filters.
        // With nothing found, not "few" (a trial read "Few listings match" over none).
        let few =
            if page.hits.is_empty() { "No listing matches all of this with" } else { "Few listings match" };
        let note = format!(
            "{few} {}; many more match {}: try haggle search {}{options}.",
            quoted(&typed),
            quoted(&words),
            as_argument(&instead.text)
        );
        outln!("{}", output::dim(&note));
    }
    // The suggestion above is why, not a place typed as a word (from a trial: its `--near`
    // hint followed a typo's).
    let typo = page.did_you_mean.is_some() || !page.guessed.is_empty();
    // Nor after a word no listing says that is no listing's place either (from a trial: a
    // search for `sourdough`, whose one listing had expired, was told to try --near).
    let a_place = |word: &String| {
        let near = SearchParams { near: Some(word.clone()), limit: Some(1), ..SearchParams::default() };
        cx.api.search(&near).is_ok_and(|p| p.total > 0)
    };
    let near_hint = empty.contains("for a place, use --near");
    let explained = match page.unknown.is_empty() {
        true => typo,
        false => !page.unknown.iter().any(a_place),
    };
    let empty = if near_hint && explained { "No listings match." } else { empty };
    output::listings(&page.hits, empty, unit, output::Whose::Anyones);
    if let Some(note) = mixed_rates(&args.params(), &page.hits) {
        outln!("{}", output::dim(&note));
    }
    if let (Some(around), Some(place)) = (&page.around, args.filters.around.as_deref()) {
        outln!("{}", output::dim(&around_line(around, place, unit)));
    }
    if let Some(line) = output::page_line(args.offset, page.hits.len(), page.total) {
        outln!("{}", output::dim(&line));
    }
    if let Some(matched) = page.matched {
        outln!("{}", output::dim(&looked_at(&args.params(), matched)));
    }
    Ok(())
}

/// Why `--category typed` found nothing where `--category cut` would, with `typed`'s own example
/// (it explained itself by vehicles/bikes whatever was typed, from a trial).
fn whole_parts(typed: &str, cut: &str) -> String {
    // The broader part offered (nothing is listed under what was typed): said as that, not as a
    // part the typed one is not (from a review: "vehicles finds ..., not vehicles/boats").
    if typed.strip_prefix(cut).is_some_and(|rest| rest.starts_with('/')) {
        return format!("nothing listed here is under {typed}, and {cut} holds some: try --category {cut}");
    }
    format!(
        "--category matches whole parts of a category's path ({cut} finds {cut} and {cut}/..., not {typed}): try --category {cut}"
    )
}

/// `text` as words to type after `haggle search`: as it is when it has only letters, digits,
/// spaces and `-` or `.`, else in single quotes (the shell passes them on unchanged); after
/// `--` when a word starts with `-`, which would otherwise be read as an option.
fn as_argument(text: &str) -> String {
    let plain = text.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '.');
    let quoted = if plain { text.to_owned() } else { format!("'{}'", text.replace('\'', r"'\''")) };
    if text.split_whitespace().any(|w| w.starts_with('-')) { format!("-- {quoted}") } else { quoted }
}

/// Under a search whose reputation, calendar or auction filter or order looked at only the
/// first matches: how many there were, and how to see the others.
fn looked_at(params: &SearchParams, matched: usize) -> String {
    let max = haggle_node::api::types::MAX_PAGE;
    let which = if params.sort == Some(Sort::EndingSoon) {
        format!("the {max} that end soonest")
    } else {
        format!("the best {max}")
    };
    format!(
        "{matched} listings match, and only {which} were looked at: narrow the search (words, --category, --max-price, --around) to reach the others"
    )
}

/// A note when a search ordered or bounded by price shows prices per different periods (or per
/// period beside a whole price): they compare as numbers, `30.00 EUR/hour` before `85.00 EUR`
/// (from a trial of services).
fn mixed_rates(params: &SearchParams, hits: &[haggle_node::api::types::ListingView]) -> Option<String> {
    let by_price = matches!(params.sort, Some(Sort::PriceAsc | Sort::PriceDesc))
        || params.min_price.is_some()
        || params.max_price.is_some();
    let mut pers: Vec<Option<haggle_protocol::Period>> =
        hits.iter().filter_map(|h| h.price.as_ref()).map(|p| p.per).collect();
    pers.sort_by_key(|p| p.map(|p| p as u8));
    pers.dedup();
    (by_price && pers.len() > 1).then(|| {
        "Prices per hour, day, week or month and whole prices are compared as numbers, whatever \
         each is for: a rate of 30.00 EUR/hour is ordered as 30.00 beside a whole job at 85.00 EUR."
            .to_owned()
    })
}

/// Where a search by distance measured from, as the node read the place given (a geohash as
/// the middle of its cell, so a mistyped one shows where it actually is).
fn around_line(around: &haggle_node::api::types::AroundView, given: &str, unit: DistanceUnit) -> String {
    let at = haggle_protocol::geo::Point { lat: around.lat, lon: around.lon };
    let given = given.trim();
    let from = if given.contains(',') {
        at.to_string()
    } else if given.chars().any(|c| c.is_ascii_digit()) {
        format!("{at} (the middle of geohash {given})")
    } else {
        // A geohash of letters alone may be a place's name that happens to be one (a trial's
        // `--around ghent` searched Greenland).
        format!(
            "{at} (the middle of geohash {given}; a place's name is not looked up: for the place, give \
             its latitude and longitude, e.g. --around 51.054,3.717)"
        )
    };
    format!(
        "Within {} of {from}, measured to the middle of each listing's geohash.",
        unit.describe(f64::from(around.within_m))
    )
}

/// Whether a search asks for more than its words: a kind, a price, a place, a seller...
fn filters_besides_words(params: &SearchParams) -> bool {
    SearchParams { q: String::new(), ..params.clone() }.is_filtered()
}

/// The category to suggest for `typed`, which found nothing where `broader` (its parent) found
/// listings in `found`: the shortest of those that starts with what was typed, cut to as many
/// parts as were typed (`vehicles/bikes` for `vehicles/bike`, not a listing's
/// `vehicles/bikes/road`), or else the broader part.
fn category_to_try<'a>(typed: &str, broader: &str, found: impl Iterator<Item = &'a str>) -> String {
    let typed = typed.to_lowercase();
    let depth = typed.split('/').count();
    found
        .map(|c| c.to_lowercase().split('/').take(depth).collect::<Vec<_>>().join("/"))
        .filter(|c| c.starts_with(&typed))
        // The nearest to what was typed: `vehicles/bikes`, not `vehicles/bike-parts`, for
        // `vehicles/bike` (from a trial), whichever the listings name first.
        .min_by_key(|c| c.len())
        .unwrap_or_else(|| broader.to_owned())
}

/// Of the categories `found`, one close to `typed`, none of whose listings matched: each part
/// typed starts a part of it in order (`lesson/music` for `lessons/music`), cut as deep as
/// typed; or else a part of it starts with the last part typed (`music`), cut there.
fn category_near<'a>(typed: &str, found: impl Iterator<Item = &'a str> + Clone) -> Option<String> {
    let typed = typed.to_lowercase();
    let parts: Vec<&str> = typed.split('/').filter(|p| !p.is_empty()).collect();
    let last = *parts.last()?;
    let lower: Vec<String> = found.map(str::to_lowercase).collect();
    let by_parts = lower.iter().find_map(|c| {
        let theirs: Vec<&str> = c.split('/').collect();
        let close = theirs.len() >= parts.len() && parts.iter().zip(&theirs).all(|(t, c)| c.starts_with(t));
        close.then(|| theirs[..parts.len()].join("/"))
    });
    by_parts.or_else(|| {
        lower.iter().find_map(|c| {
            let theirs: Vec<&str> = c.split('/').collect();
            let at = theirs.iter().position(|p| p.starts_with(last))?;
            Some(theirs[..=at].join("/"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search offered instead is typed as shown: words starting with `-` are not read as
    /// options, and quotes and other marks reach the command unchanged (found in review: a
    /// `-cable` was shown bare).
    #[test]
    fn an_offered_search_is_shown_as_it_must_be_typed() {
        assert_eq!(as_argument("wireless headphones"), "wireless headphones");
        assert_eq!(as_argument("e-bike 2.5"), "e-bike 2.5");
        assert_eq!(as_argument("headphones -cable"), "-- headphones -cable");
        assert_eq!(as_argument("kid's $bike"), r"'kid'\''s $bike'");
        assert_eq!(as_argument("-ohm headphones!"), "-- '-ohm headphones!'");
    }

    /// The distance suggested to reach the nearest match always reaches it, and reads as
    /// people write one.
    #[test]
    fn the_distance_to_reach_the_nearest_match_is_rounded_up() {
        for (metres, said) in [
            (0.2, "1m"),
            (799.1, "800m"),
            (999.5, "1km"),
            (22_310.0, "23km"),
            (23_000.0, "23km"),
            (99_999.0, "100km"),
            (123_400.0, "130km"),
            (19_999_000.0, "20000km"),
        ] {
            assert_eq!(DistanceUnit::Metric.within_to_reach(metres), said, "{metres}");
            let reach = haggle_protocol::geo::distance(said).expect("a distance the command takes");
            assert!(f64::from(reach) >= metres, "{said} falls short of {metres}");
        }
    }

    #[test]
    fn a_search_by_distance_says_where_it_measured_from() {
        use haggle_node::api::types::AroundView;
        assert_eq!(
            around_line(
                &AroundView { lat: 51.054, lon: 3.717, within_m: 10_000, nearest_m: None },
                "51.054,3.717",
                DistanceUnit::Metric
            ),
            "Within 10 km of 51.05400,3.71700, measured to the middle of each listing's geohash."
        );
        let middle = haggle_protocol::geo::decode("u14dk").expect("a geohash");
        assert_eq!(
            around_line(
                &AroundView { lat: middle.lat, lon: middle.lon, within_m: 25_000, nearest_m: None },
                "u14dk",
                DistanceUnit::Metric
            ),
            "Within 25 km of 51.04248,3.71338 (the middle of geohash u14dk), measured to the middle of each listing's geohash."
        );
        let greenland = haggle_protocol::geo::decode("ghent").expect("a geohash");
        let line = around_line(
            &AroundView { lat: greenland.lat, lon: greenland.lon, within_m: 10_000, nearest_m: None },
            "ghent",
            DistanceUnit::Metric,
        );
        assert!(line.contains("(the middle of geohash ghent; a place's name is not looked up"), "{line}");
        assert_eq!(
            around_line(
                &AroundView { lat: 51.054, lon: 3.717, within_m: 8_047, nearest_m: None },
                "51.054,3.717",
                DistanceUnit::Miles
            ),
            "Within 5 mi of 51.05400,3.71700, measured to the middle of each listing's geohash."
        );
    }

    /// From a trial: an hourly rate sorted before a whole job's price without a word.
    #[test]
    fn prices_for_different_periods_ordered_together_are_noted() {
        use haggle_node::api::types::{ListingState, PriceView};
        let priced = |per: Option<haggle_protocol::Period>| {
            let mut l = crate::output::sample_listing(1, ListingState::Active, 1);
            l.price = Some(PriceView {
                amount: 3_000,
                currency: "EUR".parse().expect("a currency"),
                per,
                decimals: Some(2),
                display: "30.00 EUR".into(),
            });
            l
        };
        let hour = Some(haggle_protocol::Period::Hour);
        let by_price = SearchParams { sort: Some(Sort::PriceAsc), ..SearchParams::default() };
        let capped = SearchParams { max_price: Some("25".into()), ..SearchParams::default() };
        assert!(mixed_rates(&by_price, &[priced(hour), priced(None)]).is_some());
        assert!(mixed_rates(&capped, &[priced(None), priced(hour)]).is_some());
        assert!(mixed_rates(&by_price, &[priced(hour), priced(hour)]).is_none(), "one period");
        assert!(
            mixed_rates(&SearchParams::default(), &[priced(hour), priced(None)]).is_none(),
            "by relevance"
        );
    }

    #[test]
    fn the_category_suggested_is_as_deep_as_the_one_typed() {
        let found = ["home/kitchen", "vehicles/bikes/road", "vehicles/bikes"];
        assert_eq!(category_to_try("vehicles/bike", "vehicles", found.into_iter()), "vehicles/bikes");
        assert_eq!(category_to_try("Home/Kit", "home", found.into_iter()), "home/kitchen");
        assert_eq!(category_to_try("vehicles/cars", "vehicles", found.into_iter()), "vehicles");
        let parts_first = ["vehicles/bike-parts", "vehicles/bikes"];
        assert_eq!(category_to_try("vehicles/bike", "vehicles", parts_first.into_iter()), "vehicles/bikes");
        assert_eq!(
            category_to_try("vehicles/bike", "vehicles", ["vehicles/bike-parts"].into_iter()),
            "vehicles/bike-parts"
        );
        // Close to one the listings use, found among them all.
        let held = ["home/kitchen", "lessons/music", "vehicles/bikes"];
        let near = |typed: &str| category_near(typed, held.iter().copied());
        assert_eq!(near("lesson").as_deref(), Some("lessons"));
        assert_eq!(near("Lesson/Mus").as_deref(), Some("lessons/music"));
        assert_eq!(near("music").as_deref(), Some("lessons/music"));
        assert_eq!(near("bikes").as_deref(), Some("vehicles/bikes"));
        assert_eq!(near("cars"), None);
        assert_eq!(near("/"), None);
    }
}
