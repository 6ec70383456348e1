//! Saved searches (`haggle search ... --save NAME`, `haggle saved`): a buyer who looks for a
//! road bike under 150 EUR every few days wants to see only what came since the last look,
//! whether it came by gossip while the node ran or by sync after it was off, and which of
//! the bikes seen before changed price.
//!
//! A saved search keeps its words and filters, and the listings seen (each with its price
//! then). Looking runs it again for its [`WINDOW`] newest matches (for `ending-soon`, the
//! running auctions soonest to end): one not seen before is new; one seen at another price (an
//! auction's high bid, as searches show it) is repriced. A look that marks them seen puts what
//! matches now first and keeps the listings seen earlier behind (up to [`haggle_storage::MAX_SEEN`]), so one
//! that leaves the matches for a while (its seller blocked, a price over the bound) is not new
//! when it is back. A search that matches more than [`WINDOW`] listings compares its newest
//! only: an older one below them that was never seen shows as new once an update or renewal
//! brings it up, and one that reached this node late, below them, is not shown. Everything stays
//! on this node.

use haggle_protocol::{ListingKey, Timestamp};
use haggle_storage::{MAX_SAVED_NAME, MAX_SAVED_SEARCHES, SaveOutcome, SavedRecord, SavedSearch, Seen};

use super::{Conflict, InvalidInput, Service, ServiceError};
use crate::api::types::{
    ListingView, Repriced, SavedLook, SavedPage, SavedView, SearchPage, SearchParams, Sort,
};

/// The newest matches a look compares with what was seen.
pub(crate) const WINDOW: usize = 200;

/// A saved search's name as kept (composed, lowercase), if it is 1 to [`MAX_SAVED_NAME`]
/// letters and digits of any script, `-` and `_`, starting with a letter or a digit (a name
/// starting with `-` would read as an option). From an international trial: `自転車` and
/// `دراجات` were refused for not being ASCII.
pub fn check_saved_name(name: &str) -> Result<String, InvalidInput> {
    // Compatibility-composed: a name typed full-width (`ＩＰｈｏｎｅ`, as a Japanese input method
    // may) is the one typed in ASCII (from a retrial: it was kept full-width, and not found so).
    let name: String = {
        use unicode_normalization::UnicodeNormalization;
        name.trim().nfkc().collect()
    };
    let fits = (1..=MAX_SAVED_NAME).contains(&name.chars().count())
        && name.chars().next().is_some_and(char::is_alphanumeric)
        && name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if !fits {
        return Err(InvalidInput::SavedName { given: name, max: MAX_SAVED_NAME });
    }
    Ok(name.to_lowercase())
}

/// Whether `search` asks for running auctions only (`ending-soon`: the one order a saved search
/// keeps, since it filters).
fn ending_soon(search: &SearchParams) -> bool {
    search.sort == Some(Sort::EndingSoon)
}

/// The search as saved: its words and filters, without a page, an order or a single listing.
fn as_saved(params: SearchParams) -> SearchParams {
    let sort = ending_soon(&params).then_some(Sort::EndingSoon);
    SearchParams { sort, limit: None, offset: None, listing: None, ..params }
}

/// The matches a look compares, as a search asks for them.
fn newest(search: &SearchParams) -> SearchParams {
    let sort = if ending_soon(search) { Sort::EndingSoon } else { Sort::Newest };
    SearchParams { sort: Some(sort), limit: Some(WINDOW), offset: Some(0), ..search.clone() }
}

fn key_of(view: &ListingView) -> Option<ListingKey> {
    view.key.parse().ok()
}

/// A listing's price as a search shows it: an auction's high bid, else its price.
fn price_of(view: &ListingView) -> Option<String> {
    let high = view.auction.as_ref().and_then(|a| a.high_bid.as_ref()).map(|b| &b.amount);
    high.or(view.price.as_ref()).map(|p| p.display.clone())
}

/// A price shown, for comparing: a rental on a calendar shows its price per day as `/night`
/// (since 2026-12-06), which is the same price as the `/day` a search saved before saw, and
/// as the same rental's price without a calendar (the review of that change).
fn same_price(shown: &str) -> std::borrow::Cow<'_, str> {
    match shown.strip_suffix("/night") {
        Some(amount) => format!("{amount}/day").into(),
        None => shown.into(),
    }
}

/// What the matches hold against what was seen: the new ones and the repriced ones, in the
/// page's order.
fn compare(page: &SearchPage, seen: &[Seen]) -> (Vec<ListingView>, Vec<Repriced>) {
    let then: std::collections::HashMap<&ListingKey, &Option<String>> =
        seen.iter().map(|s| (&s.key, &s.price)).collect();
    let (mut new, mut repriced) = (Vec::new(), Vec::new());
    for hit in &page.hits {
        let Some(key) = key_of(hit) else { continue };
        let now = price_of(hit);
        match then.get(&key) {
            None => new.push(hit.clone()),
            Some(was) if was.as_deref().map(same_price) != now.as_deref().map(same_price) => {
                repriced.push(Repriced { listing: hit.clone(), was: (*was).clone(), now });
            }
            Some(_) => {}
        }
    }
    (new, repriced)
}

/// The listings of `page`, as seen now.
fn seen_in(page: &SearchPage) -> Vec<Seen> {
    page.hits.iter().filter_map(|h| Some(Seen { key: key_of(h)?, price: price_of(h) })).collect()
}

/// What a damaged record's view says.
const DAMAGED: &str = "its stored record does not read: haggle saved NAME --delete removes it";

impl Service {
    /// Saves `search` under `name` (replacing a search of that name), after running it: a
    /// search that cannot run is refused with its own error, and what it matches now counts
    /// as seen.
    pub fn save_search(&self, name: &str, search: SearchParams) -> Result<SavedView, ServiceError> {
        let name = check_saved_name(name)?;
        // A search that cannot run as asked is refused, though a saved one keeps no order: a
        // trial's `"sort": "price"` without a currency was saved as the words alone.
        self.search(SearchParams { limit: Some(1), offset: Some(0), ..search.clone() })?;
        let search = as_saved(search);
        let page = self.search(newest(&search))?;
        let replaced = match self.store.saved_search(&name)? {
            Some(SavedRecord::Read(old)) => read(&old).ok(),
            _ => None,
        };
        let now = Timestamp::now();
        let query = serde_json::to_string(&search).expect("search parameters encode");
        let saved = SavedSearch { name, query, saved_at: now, looked_at: now, seen: seen_in(&page) };
        if self.store.save_search(&saved)? == SaveOutcome::Full {
            return Err(Conflict::SavedSearchesFull { max: MAX_SAVED_SEARCHES }.into());
        }
        Ok(SavedView { replaced, ..view(&saved, search, page.total, 0, 0) })
    }

    /// The saved searches, by name, each run again for its counts.
    pub fn saved_searches(&self) -> Result<SavedPage, ServiceError> {
        let mut saved = Vec::new();
        for record in self.store.saved_searches()? {
            let record = match record {
                SavedRecord::Read(record) => record,
                SavedRecord::Damaged(name) => {
                    saved.push(damaged(name));
                    continue;
                }
            };
            let Ok(search) = read(&record) else {
                saved.push(damaged(record.name));
                continue;
            };
            match self.search(newest(&search)) {
                Ok(page) => {
                    let (new, repriced) = compare(&page, &record.seen);
                    saved.push(view(&record, search, page.total, new.len(), repriced.len()));
                }
                Err(e) if e.store().is_some() => return Err(e),
                Err(e) => {
                    saved.push(SavedView { error: Some(e.to_string()), ..view(&record, search, 0, 0, 0) })
                }
            }
        }
        Ok(SavedPage { saved, max: MAX_SAVED_SEARCHES })
    }

    /// What is new for the saved search `name` since the owner last looked; with `mark`, what
    /// it matches now counts as seen from now on.
    pub fn look_at_saved(&self, name: &str, mark: bool) -> Result<SavedLook, ServiceError> {
        let record = match self.saved_record(name)? {
            SavedRecord::Read(record) => record,
            SavedRecord::Damaged(name) => return Err(Conflict::SavedSearchDamaged { name }.into()),
        };
        let search = read(&record).map_err(|_| Conflict::SavedSearchDamaged { name: record.name.clone() })?;
        let page = self.search(newest(&search))?;
        let (new, repriced) = compare(&page, &record.seen);
        let saved = view(&record, search, page.total, new.len(), repriced.len());
        let marked =
            mark && self.store.looked_at(&record.name, record.saved_at, seen_in(&page), Timestamp::now())?;
        Ok(SavedLook { saved, new, repriced, marked, hidden: page.hidden })
    }

    /// Deletes the saved search `name`; what it was (its name and search).
    pub fn unsave_search(&self, name: &str) -> Result<SavedView, ServiceError> {
        let gone = match self.saved_record(name)? {
            SavedRecord::Read(record) => match read(&record) {
                Ok(search) => view(&record, search, 0, 0, 0),
                Err(_) => damaged(record.name),
            },
            SavedRecord::Damaged(name) => damaged(name),
        };
        if !self.store.unsave_search(&gone.name)? {
            return Err(ServiceError::not_found("saved search", name));
        }
        Ok(gone)
    }

    fn saved_record(&self, name: &str) -> Result<SavedRecord, ServiceError> {
        let Ok(kept) = check_saved_name(name) else {
            return Err(ServiceError::not_found("saved search", name));
        };
        self.store.saved_search(&kept)?.ok_or_else(|| ServiceError::not_found("saved search", name))
    }
}

/// The search a record keeps.
fn read(record: &SavedSearch) -> Result<SearchParams, serde_json::Error> {
    serde_json::from_str(&record.query)
}

/// The view of `record` with its counts now.
fn view(
    record: &SavedSearch,
    search: SearchParams,
    matches: usize,
    new: usize,
    repriced: usize,
) -> SavedView {
    SavedView {
        name: record.name.clone(),
        search,
        saved_at: record.saved_at.as_millis(),
        looked_at: record.looked_at.as_millis(),
        matches,
        compared: matches.min(WINDOW),
        new,
        repriced,
        error: None,
        replaced: None,
    }
}

/// The view of a saved search whose record does not read: its name, and how to remove it.
fn damaged(name: String) -> SavedView {
    SavedView { name, error: Some(DAMAGED.to_owned()), ..SavedView::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{BlockRequest, ListingDraft, ListingPatch};
    use crate::service::Via;
    use crate::service::testing::{draft, service};

    /// The review: a calendar rental's price shown `/night` (2026-12-06) would have read as
    /// repriced to every saved search that saw it as `/day`.
    #[test]
    fn a_price_per_night_is_the_same_price_per_day() {
        assert_eq!(same_price("80.00 EUR/night"), same_price("80.00 EUR/day"));
        assert_ne!(same_price("80.00 EUR/night"), same_price("90.00 EUR/day"));
        assert_eq!(same_price("120.00 EUR"), "120.00 EUR");
    }

    fn bikes() -> SearchParams {
        SearchParams {
            q: "bike".into(),
            max_price: Some("150".into()),
            currency: "EUR".parse().ok(),
            sort: Some(Sort::PriceAsc),
            limit: Some(5),
            ..SearchParams::default()
        }
    }

    fn titles(views: &[ListingView]) -> Vec<&str> {
        views.iter().map(|v| v.title.as_str()).collect()
    }

    #[test]
    fn a_saved_search_tells_what_is_new_and_cheaper_since_the_last_look() {
        let (seller, _d0) = service(1);
        let (stranger, _d1) = service(2);
        let (buyer, _d2) = service(3);
        let arrive = |effect: crate::service::Effect| {
            buyer.receive(effect.object.bytes(), Via::Gossip);
        };
        let road = seller.publish(draft("Road bike", "120")).expect("publish");
        let road_id = road.object.id().to_hex();
        arrive(road);

        let saved = buyer.save_search("Road-Bikes", bikes()).expect("saved");
        assert_eq!((saved.name.as_str(), saved.matches, saved.new, saved.repriced), ("road-bikes", 1, 0, 0));
        assert_eq!((saved.search.sort, saved.search.limit), (None, None), "no order and no page kept");

        // A new bike, a cheaper one, one over the price, a lamp, and a blocked stranger's bike.
        arrive(seller.publish(draft("Kids bike", "60")).expect("publish"));
        let patch = ListingPatch { price: Some("110".into()), ..ListingPatch::default() };
        arrive(seller.update(&road_id, patch).expect("update"));
        arrive(seller.publish(draft("Carbon bike", "900")).expect("publish"));
        let lamp = ListingDraft { category: "home/lighting".into(), ..draft("Desk lamp", "20") };
        arrive(seller.publish(lamp).expect("publish"));
        let theirs = stranger.publish(draft("Cheap bike", "10")).expect("publish");
        let who = theirs.object.id().to_hex();
        arrive(theirs);
        buyer.block(BlockRequest { who, note: None }).expect("block");

        let listed = buyer.saved_searches().expect("listed");
        let one = &listed.saved[0];
        let peek = buyer.look_at_saved("road-bikes", false).expect("look");
        assert_eq!(titles(&peek.new), ["Kids bike"], "{peek:?}");
        assert_eq!((one.matches, one.new, one.repriced, &one.error), (2, 1, 1, &None), "{listed:?}");

        // A look that marks nothing, twice, then one that marks.
        for mark in [false, false, true] {
            let look = buyer.look_at_saved("road-bikes", mark).expect("look");
            assert_eq!(titles(&look.new), ["Kids bike"]);
            assert_eq!(look.repriced.len(), 1);
            assert_eq!(look.repriced[0].was.as_deref(), Some("120.00 EUR"));
            assert_eq!(
                look.repriced[0].listing.price.as_ref().map(|p| p.display.as_str()),
                Some("110.00 EUR")
            );
            assert_eq!(look.saved.looked_at, saved.looked_at, "the look before this one");
            assert_eq!(look.marked, mark);
        }
        let after = buyer.look_at_saved("ROAD-BIKES", true).expect("look");
        assert!(after.new.is_empty() && after.repriced.is_empty(), "{after:?}");
        assert!(after.saved.looked_at >= saved.looked_at);

        // A listing published after the look is new at the next.
        arrive(seller.publish(draft("Gravel bike", "140")).expect("publish"));
        let look = buyer.look_at_saved("road-bikes", true).expect("look");
        assert_eq!(titles(&look.new), ["Gravel bike"]);

        // Defect: a look while the seller was blocked forgot what had been seen, and what it
        // had not shown yet: unblocked, the seller's listings came back as new, and a price cut
        // made meanwhile as a new listing. Now they stay seen, at their price then.
        let patch = ListingPatch { price: Some("100".into()), ..ListingPatch::default() };
        arrive(seller.update(&road_id, patch).expect("update"));
        let seller_key = seller.me().to_string();
        buyer.block(BlockRequest { who: seller_key.clone(), note: None }).expect("block");
        let blocked = buyer.look_at_saved("road-bikes", true).expect("look");
        assert!(blocked.new.is_empty() && blocked.repriced.is_empty(), "{blocked:?}");
        assert_eq!((blocked.saved.matches, blocked.hidden), (0, 4), "said to be left out");
        buyer.unblock(&seller_key).expect("unblock");
        let back = buyer.look_at_saved("road-bikes", true).expect("look");
        assert!(back.new.is_empty(), "{:?}", titles(&back.new));
        let cut: Vec<_> = back
            .repriced
            .iter()
            .map(|r| (r.listing.title.as_str(), r.was.as_deref(), r.now.as_deref()))
            .collect();
        assert_eq!(cut, [("Road bike", Some("110.00 EUR"), Some("100.00 EUR"))]);

        let gone = buyer.unsave_search("road-bikes").expect("unsaved");
        assert_eq!(gone.name, "road-bikes");
        let missing = buyer.look_at_saved("road-bikes", false).expect_err("deleted").to_string();
        assert!(missing.contains("haggle saved lists yours"), "{missing}");
    }

    /// Defect: a new high bid on an auction a saved search had seen was not a price change,
    /// though searches show the high bid as the price.
    #[test]
    fn an_auctions_high_bid_is_its_price_to_a_saved_search() {
        use crate::api::types::{AuctionDraft, BidRequest};
        let (seller, _d0) = service(1);
        let (bidder, _d1) = service(2);
        let (buyer, _d2) = service(3);
        let auction = ListingDraft {
            kind: haggle_protocol::ListingKind::Auction,
            auction: Some(AuctionDraft { ends_in: 3_600, reserve: None, increment: None, window: None }),
            ..draft("Antique bike bell", "10")
        };
        let listing = seller.publish(auction).expect("publish").object;
        for node in [&bidder, &buyer] {
            node.receive(listing.bytes(), Via::Gossip);
        }
        let soon = SearchParams { sort: Some(Sort::EndingSoon), ..SearchParams::default() };
        let saved = buyer.save_search("auctions", soon).expect("saved");
        assert_eq!((saved.matches, saved.search.sort), (1, Some(Sort::EndingSoon)));
        let request = BidRequest { price: "12".into(), message: String::new() };
        let bid = bidder.bid(&listing.id().to_hex(), request).expect("bid").object;
        buyer.receive(bid.bytes(), Via::Gossip);
        let look = buyer.look_at_saved("auctions", true).expect("look");
        let changed: Vec<_> = look.repriced.iter().map(|r| (r.was.as_deref(), r.now.as_deref())).collect();
        assert_eq!(changed, [(Some("10.00 EUR"), Some("12.00 EUR"))]);
    }

    #[test]
    fn a_search_by_distance_says_how_far_each_is_and_is_saved_with_its_place() {
        let (seller, _d0) = service(1);
        let (buyer, _d1) = service(2);
        let placed = |title: &str, at: &str| ListingDraft { geohash: Some(at.into()), ..draft(title, "50") };
        let ghent = seller.publish(placed("Ghent bike", "51.054,3.717")).expect("publish");
        let geohash = ghent.object.listing().and_then(|l| l.location.geohash.clone());
        assert_eq!(geohash.as_deref(), Some("u14dkw"), "coordinates become the cell around them");
        buyer.receive(ghent.object.bytes(), Via::Gossip);
        let paris = seller.publish(placed("Paris bike", "u09tvw")).expect("publish");
        buyer.receive(paris.object.bytes(), Via::Gossip);
        let bad = seller.publish(placed("Lost bike", "Ghent")).expect_err("a name is not a geohash here");
        assert!(bad.to_string().contains("`Ghent` has capitals"), "{bad}");

        let near = SearchParams {
            q: "bike".into(),
            around: Some("51.0,3.7".into()),
            within: Some("50km".into()),
            ..SearchParams::default()
        };
        let page = buyer.search(near.clone()).expect("search");
        assert_eq!((titles(&page.hits), page.total), (vec!["Ghent bike"], 1));
        let measured =
            crate::api::types::AroundView { lat: 51.0, lon: 3.7, within_m: 50_000, nearest_m: None };
        assert_eq!(page.around, Some(measured), "the answer says where it measured from");
        let d = page.hits[0].distance_m.expect("a distance");
        assert!((6_000.0..7_000.0).contains(&d), "{d}");
        // Nothing within 2 km: the answer says how far the nearest match is, the bike in Ghent.
        let close =
            buyer.search(SearchParams { within: Some("2km".into()), ..near.clone() }).expect("search");
        let nearest = close.around.and_then(|a| a.nearest_m);
        assert_eq!((close.total, nearest), (0, Some(d)), "{close:?}");
        let none = SearchParams { q: "sofa".into(), within: Some("2km".into()), ..near.clone() };
        let none = buyer.search(none).expect("search");
        assert_eq!(none.around.map(|a| a.nearest_m), Some(None), "nothing matches anywhere");
        // With no words, the nearest first: Ghent before Paris, published after it.
        let map = SearchParams { q: String::new(), within: Some("1000km".into()), ..near.clone() };
        assert_eq!(titles(&buyer.search(map).expect("search").hits), ["Ghent bike", "Paris bike"]);
        let default = buyer.search(SearchParams { within: None, ..near.clone() }).expect("search");
        assert_eq!(default.total, 1, "25 km without a distance");
        let plain =
            buyer.search(SearchParams { around: None, within: None, ..near.clone() }).expect("search");
        assert!(plain.hits.iter().all(|h| h.distance_m.is_none()), "a distance only when searched by one");
        let lost = buyer.search(SearchParams { around: None, ..near.clone() }).expect_err("no place");
        assert!(matches!(lost, ServiceError::Invalid(InvalidInput::WithinWithoutPlace)), "{lost:?}");
        let lost =
            buyer.search(SearchParams { around: Some("Ghent".into()), ..near.clone() }).expect_err("a name");
        assert!(lost.to_string().contains("place names are not looked up"), "{lost}");
        let far = buyer.search(SearchParams { within: Some("far".into()), ..near.clone() }).expect_err("far");
        assert!(far.to_string().contains("is not a distance"), "{far}");

        // Saved with its place: a bike published nearby later is new to it, one far away is not.
        let saved = buyer.save_search("nearby", near).expect("saved");
        assert_eq!((saved.search.around.as_deref(), saved.matches), (Some("51.0,3.7"), 1));
        let oak = seller.publish(placed("Oak bike", "51.06,3.72")).expect("publish");
        buyer.receive(oak.object.bytes(), Via::Gossip);
        let lyon = seller.publish(placed("Lyon bike", "45.76,4.84")).expect("publish");
        buyer.receive(lyon.object.bytes(), Via::Gossip);
        assert_eq!(titles(&buyer.look_at_saved("nearby", true).expect("look").new), ["Oak bike"]);
    }

    #[test]
    fn a_bad_name_a_search_that_cannot_run_and_a_full_list_say_why() {
        let (buyer, _d) = service(1);
        for name in ["", "road bikes", "a/b", "-peek", "_x", "x\u{200b}y", &"x".repeat(MAX_SAVED_NAME + 1)] {
            let e = buyer.save_search(name, bikes()).expect_err("a bad name").to_string();
            assert!(e.contains("a saved search's name is 1 to 32 letters"), "{e}");
        }
        // Letters of any script (from an international trial).
        let wide = buyer.save_search("ＩＰｈｏｎｅ－１５", bikes()).expect("full-width");
        assert_eq!(wide.name, "iphone-15", "kept as typed in ASCII");
        buyer.unsave_search("iphone-15").expect("found by its ASCII name");
        for name in ["Vélos", "自転車", "دراجات"] {
            let saved = buyer.save_search(name, bikes()).expect("a name in any script");
            assert_eq!(saved.name, name.to_lowercase());
            buyer.unsave_search(name).expect("removed by the name as typed");
        }
        let no_currency = SearchParams { currency: None, ..bikes() };
        let e = buyer.save_search("bikes", no_currency).expect_err("cannot run");
        assert!(matches!(e, ServiceError::Search(_) | ServiceError::Invalid(_)), "{e:?}");
        assert!(buyer.saved_searches().expect("listed").saved.is_empty(), "nothing saved");
        // Found in a trial: an order that cannot run (by price, without a currency) was dropped
        // and the words saved alone.
        let by_price = SearchParams {
            q: "bike".into(),
            sort: Some(haggle_storage::Sort::PriceAsc),
            ..SearchParams::default()
        };
        let e = buyer.save_search("bikes", by_price).expect_err("cannot run").to_string();
        assert!(e.contains("sorting by price needs a currency"), "{e}");
        assert!(buyer.saved_searches().expect("listed").saved.is_empty(), "nothing saved");

        for i in 0..MAX_SAVED_SEARCHES {
            buyer.save_search(&format!("s{i}"), bikes()).expect("saved");
        }
        let full = buyer.save_search("one-more", bikes()).expect_err("full").to_string();
        assert!(full.contains("20 searches are saved already"), "{full}");
        let replacing = buyer
            .save_search("s3", SearchParams { q: "lamp".into(), ..SearchParams::default() })
            .expect("replaced");
        assert_eq!(
            replacing.replaced.map(|r| r.q),
            Some("bike".to_owned()),
            "the answer names what it replaced"
        );
        let listed = buyer.saved_searches().expect("listed");
        assert_eq!(listed.saved.len(), MAX_SAVED_SEARCHES);
        assert!(listed.saved.iter().any(|s| s.name == "s3" && s.search.q == "lamp"));
    }
}
