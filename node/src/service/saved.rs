//! Saved searches (`haggle search ... --save NAME`, `haggle saved`): a buyer who looks for a
//! road bike under 150 EUR every few days wants to see only what came since the last look,
//! whether it came by gossip while the node ran or by sync after it was off, and which of
//! the bikes seen before are cheaper now.
//!
//! A saved search keeps its words and filters, and the listings it matched when last looked
//! at (its [`MAX_SEEN`] newest, each with its price then). Looking runs it again, newest first:
//! a listing among the newest matches that was not matched then is new; one matched then at
//! another price is repriced. A search that matches more than [`MAX_SEEN`] listings reports
//! what is new among its newest ones only (an old listing that reached this node late, below
//! them, is not). Everything stays on this node.

use haggle_protocol::{ListingKey, Timestamp};
use haggle_storage::{MAX_SAVED_NAME, MAX_SAVED_SEARCHES, MAX_SEEN, SaveOutcome, SavedSearch, Seen};

use super::{Conflict, InvalidInput, Service, ServiceError};
use crate::api::types::{
    ListingView, Repriced, SavedLook, SavedPage, SavedView, SearchPage, SearchParams, Sort,
};

/// A saved search's name as kept (lowercase), if it is 1 to [`MAX_SAVED_NAME`] letters, digits,
/// `-` and `_`.
pub fn check_saved_name(name: &str) -> Result<String, InvalidInput> {
    let name = name.trim();
    let fits = (1..=MAX_SAVED_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !fits {
        return Err(InvalidInput::SavedName { given: name.to_owned(), max: MAX_SAVED_NAME });
    }
    Ok(name.to_ascii_lowercase())
}

/// The search as saved: its words and filters, without a page, an order or a single listing
/// (`ending-soon` stays: it asks for running auctions only).
fn as_saved(params: SearchParams) -> SearchParams {
    let sort = params.sort.filter(|s| *s == Sort::EndingSoon);
    SearchParams { sort, limit: None, offset: None, listing: None, ..params }
}

/// The newest matches a look compares, as a search asks for them.
fn newest(search: &SearchParams) -> SearchParams {
    let sort = Some(search.sort.filter(|s| *s == Sort::EndingSoon).unwrap_or(Sort::Newest));
    SearchParams { sort, limit: Some(MAX_SEEN), offset: Some(0), ..search.clone() }
}

fn key_of(view: &ListingView) -> Option<ListingKey> {
    view.key.parse().ok()
}

fn price_of(view: &ListingView) -> Option<String> {
    view.price.as_ref().map(|p| p.display.clone())
}

/// What the newest matches hold against what was seen: the new ones and the repriced ones, in
/// the page's order (newest first).
fn compare(page: &SearchPage, seen: &[Seen]) -> (Vec<ListingView>, Vec<Repriced>) {
    let then: std::collections::HashMap<&ListingKey, &Option<String>> =
        seen.iter().map(|s| (&s.key, &s.price)).collect();
    let (mut new, mut repriced) = (Vec::new(), Vec::new());
    for hit in &page.hits {
        let Some(key) = key_of(hit) else { continue };
        match then.get(&key) {
            None => new.push(hit.clone()),
            Some(was) if **was != price_of(hit) => {
                repriced.push(Repriced { listing: hit.clone(), was: (*was).clone() });
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

impl Service {
    /// Saves `search` under `name` (replacing a search of that name), after running it: a
    /// search that cannot run is refused with its own error, and what it matches now counts
    /// as seen.
    pub fn save_search(&self, name: &str, search: SearchParams) -> Result<SavedView, ServiceError> {
        let name = check_saved_name(name)?;
        let search = as_saved(search);
        let page = self.search(newest(&search))?;
        let now = Timestamp::now();
        let query = serde_json::to_string(&search).expect("search parameters encode");
        let saved = SavedSearch { name, query, saved_at: now, looked_at: now, seen: seen_in(&page) };
        if self.store.save_search(&saved)? == SaveOutcome::Full {
            return Err(Conflict::SavedSearchesFull { max: MAX_SAVED_SEARCHES }.into());
        }
        Ok(view(&saved, search, Ok(&page)))
    }

    /// The saved searches, by name, each run again for its counts.
    pub fn saved_searches(&self) -> Result<SavedPage, ServiceError> {
        let mut saved = Vec::new();
        for record in self.store.saved_searches()? {
            let search = read(&record)?;
            let page = self.search(newest(&search));
            if let Err(e) = &page
                && e.store().is_some()
            {
                return Err(page.expect_err("an error"));
            }
            saved.push(view(&record, search, page.as_ref().map_err(ToString::to_string)));
        }
        Ok(SavedPage { saved, max: MAX_SAVED_SEARCHES })
    }

    /// What is new for the saved search `name` since the owner last looked; with `mark`, what
    /// it matches now counts as seen from now on.
    pub fn look_at_saved(&self, name: &str, mark: bool) -> Result<SavedLook, ServiceError> {
        let record = self.saved_record(name)?;
        let search = read(&record)?;
        let page = self.search(newest(&search))?;
        let (new, repriced) = compare(&page, &record.seen);
        let saved = view(&record, search, Ok(&page));
        if mark && !self.store.looked_at(&record.name, seen_in(&page), Timestamp::now())? {
            return Err(ServiceError::not_found("saved search", name));
        }
        Ok(SavedLook { saved, new, repriced, marked: mark })
    }

    /// Deletes the saved search `name`; what it was.
    pub fn unsave_search(&self, name: &str) -> Result<SavedView, ServiceError> {
        let record = self.saved_record(name)?;
        let search = read(&record)?;
        self.store.unsave_search(&record.name)?;
        let mut gone = view(&record, search, Err(String::new()));
        gone.error = None;
        Ok(gone)
    }

    fn saved_record(&self, name: &str) -> Result<SavedSearch, ServiceError> {
        let Ok(kept) = check_saved_name(name) else {
            return Err(ServiceError::not_found("saved search", name));
        };
        self.store.saved_search(&kept)?.ok_or_else(|| ServiceError::not_found("saved search", name))
    }
}

/// The search a record keeps.
fn read(record: &SavedSearch) -> Result<SearchParams, ServiceError> {
    serde_json::from_str(&record.query)
        .map_err(|_| haggle_storage::StoreError::Corrupt { what: "saved search" }.into())
}

/// The view of `record`, with the counts of `page` (or why it cannot run now).
fn view(record: &SavedSearch, search: SearchParams, page: Result<&SearchPage, String>) -> SavedView {
    let (matches, new, repriced, error) = match page {
        Ok(page) => {
            let (new, repriced) = compare(page, &record.seen);
            (page.total, new.len(), repriced.len(), None)
        }
        Err(why) => (0, 0, 0, Some(why)),
    };
    SavedView {
        name: record.name.clone(),
        search,
        saved_at: record.saved_at.as_millis(),
        looked_at: record.looked_at.as_millis(),
        matches,
        new,
        repriced,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{BlockRequest, ListingDraft, ListingPatch};
    use crate::service::Via;
    use crate::service::testing::{draft, service};

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

        // Gone from the matches and back (retracted, then a new listing): new again.
        arrive(seller.publish(draft("Gravel bike", "140")).expect("publish"));
        let look = buyer.look_at_saved("road-bikes", true).expect("look");
        assert_eq!(titles(&look.new), ["Gravel bike"]);

        let gone = buyer.unsave_search("road-bikes").expect("unsaved");
        assert_eq!(gone.name, "road-bikes");
        let missing = buyer.look_at_saved("road-bikes", false).expect_err("deleted").to_string();
        assert!(missing.contains("haggle saved lists yours"), "{missing}");
    }

    #[test]
    fn a_bad_name_a_search_that_cannot_run_and_a_full_list_say_why() {
        let (buyer, _d) = service(1);
        for name in ["", "road bikes", "a/b", &"x".repeat(MAX_SAVED_NAME + 1)] {
            let e = buyer.save_search(name, bikes()).expect_err("a bad name").to_string();
            assert!(e.contains("a saved search's name is 1 to 32 letters"), "{e}");
        }
        let no_currency = SearchParams { currency: None, ..bikes() };
        let e = buyer.save_search("bikes", no_currency).expect_err("cannot run");
        assert!(matches!(e, ServiceError::Search(_) | ServiceError::Invalid(_)), "{e:?}");
        assert!(buyer.saved_searches().expect("listed").saved.is_empty(), "nothing saved");

        for i in 0..MAX_SAVED_SEARCHES {
            buyer.save_search(&format!("s{i}"), bikes()).expect("saved");
        }
        let full = buyer.save_search("one-more", bikes()).expect_err("full").to_string();
        assert!(full.contains("20 searches are saved already"), "{full}");
        buyer
            .save_search("s3", SearchParams { q: "lamp".into(), ..SearchParams::default() })
            .expect("replaced");
        let listed = buyer.saved_searches().expect("listed");
        assert_eq!(listed.saved.len(), MAX_SAVED_SEARCHES);
        assert!(listed.saved.iter().any(|s| s.name == "s3" && s.search.q == "lamp"));
    }
}
