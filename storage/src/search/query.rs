//! Searching the index: a query's words (typos, umlauts, stop words), its filters and sort,
//! and the ranked page of hits.

use super::geo::Reach;
use super::*;

impl SearchIndex {
    /// Runs `q`, returning the total number of matches and one page of the indexed revisions'
    /// ids with scores.
    pub fn search(&self, q: &SearchQuery, now: Timestamp) -> Result<Ranked, SearchError> {
        if q.limit == 0 || q.limit > MAX_PAGE {
            return Err(SearchError::BadLimit { asked: q.limit, max: MAX_PAGE });
        }
        let searcher = self.reader.searcher();
        let (query, guessed) = self.build_query(q, now, &searcher, &searcher)?;
        // The default order crowds one seller's many matches among the best (see `crowd`): the
        // best window is collected whatever the page, and the page cut from it. An order asked
        // by price, date, distance or end is kept as asked.
        // A page wholly past the window is cut as before (its order is the search's).
        let crowded = matches!(q.sort, Sort::Relevance | Sort::Reputation)
            && q.seller.is_none()
            && q.offset < super::crowd::WINDOW;
        let top = if crowded {
            TopDocs::with_limit((q.offset + q.limit).max(super::crowd::WINDOW))
        } else {
            TopDocs::with_limit(q.limit).and_offset(q.offset)
        };
        let has_text = !self.tokens(&q.text).is_empty();
        let (total, page): (usize, Vec<(Option<f32>, DocAddress)>) = match q.sort {
            Sort::Relevance | Sort::Reputation if has_text => {
                // Ranked alone, the best page skips blocks of matches that cannot reach it
                // (block-max WAND); collected together with the count, every match would be
                // scored. The count then only intersects posting lists, without scores. (Within
                // a distance, the filter sees every match: each is scored and measured.)
                let docs = collect(&searcher, &query, q.around, top.order_by_score())?;
                let total = collect(&searcher, &query, q.around, Count)?;
                (total, docs.into_iter().map(|(s, a)| (Some(s), a)).collect())
            }
            Sort::Distance => {
                let Some(around) = q.around else { return Err(SearchError::SortWithoutPlace) };
                // Nearest first: the key grows as the distance shrinks (every match has a point:
                // the distance filter requires one).
                let nearest = top.tweak_score(move |segment: &tantivy::SegmentReader| {
                    let points = point_column(segment);
                    move |doc: tantivy::DocId, _score: tantivy::Score| {
                        point_of(points.as_ref(), doc)
                            .map_or(0, |p| u64::MAX - around.from.distance_m(&p).round() as u64)
                    }
                });
                let (docs, total) = collect(&searcher, &query, q.around, (nearest, Count))?;
                (total, docs.into_iter().map(|(_, a)| (None, a)).collect())
            }
            sort => {
                let (field, order) = match sort {
                    Sort::PriceAsc => ("price", Order::Asc),
                    Sort::PriceDesc => ("price", Order::Desc),
                    // An auction lives until its bids lapse, a fixed time after its end: the
                    // soonest to expire are the soonest to end (the node orders them by the end
                    // their bids make).
                    Sort::EndingSoon => ("expires", Order::Asc),
                    _ => ("created", Order::Desc),
                };
                let (docs, total) =
                    collect(&searcher, &query, q.around, (top.order_by_u64_field(field, order), Count))?;
                (total, docs.into_iter().map(|(_, a)| (None, a)).collect())
            }
        };
        let page = if crowded { super::crowd::crowd_page(&searcher, page, q.offset, q.limit)? } else { page };
        let mut ids = IdReader::default();
        let mut hits = Vec::with_capacity(page.len());
        for (score, address) in page {
            if let Some(id) = ids.read(searcher.segment_reader(address.segment_ord), address)? {
                hits.push((id, score));
            }
        }
        // Asked of the search alone, after it (a watch's matching has no one to tell).
        let did_you_mean = if has_text { self.did_you_mean(&q.text, &searcher)? } else { None };
        Ok(Ranked { total, hits, guessed, did_you_mean })
    }

    /// Whether the indexed document of listing `key` matches `q` at `now`: a search narrowed to
    /// that one listing.
    pub fn indexed_match(
        &self,
        q: &SearchQuery,
        key: &ListingKey,
        now: Timestamp,
    ) -> Result<bool, SearchError> {
        let searcher = self.reader.searcher();
        let (query, _) = self.build_query(q, now, &searcher, &searcher)?;
        let narrowed = BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, self.key_query(key))]);
        Ok(collect(&searcher, &narrowed, q.around, Count)? > 0)
    }

    /// Whether `object`, a revision of listing `key` that is not indexed (closed, or replaced),
    /// matches `q`'s words and filters as it would if it were the indexed revision at the time
    /// it was made, its price an auction's `high_bid` if it has one: `watch` asks this of a
    /// listing just retracted or sold out, which has left the index. The words are judged as a
    /// search judges them (a word the index knows matches only itself; a typo is matched against
    /// this listing's words), on an index in memory holding that one listing: a writer, its
    /// threads and a commit each time, so for the rare closed listing only.
    pub fn would_match(
        &self,
        q: &SearchQuery,
        key: &ListingKey,
        object: &Object,
        high_bid: Option<u64>,
    ) -> Result<bool, SearchError> {
        let Some(doc) = self.document(key, object, high_bid) else { return Ok(false) };
        let one = Index::create_in_ram(self.index.schema());
        one.tokenizers().register(ANALYZER, analyzer());
        one.tokenizers().register(PLAIN_ANALYZER, plain_analyzer());
        one.tokenizers().register(QUERY_ANALYZER, query_analyzer());
        let mut writer: IndexWriter =
            one.writer_with_num_threads(1, ONE_LISTING_MEMORY).map_err(index_err)?;
        writer.add_document(doc).map_err(index_err)?;
        writer.commit().map_err(index_err)?;
        let searcher = one.reader().map_err(index_err)?.searcher();
        // Known words are the whole index's; a typo is matched against this listing's words.
        let (query, _) = self.build_query(q, object.created_at(), &self.reader.searcher(), &searcher)?;
        Ok(collect(&searcher, &query, q.around, Count)? > 0)
    }

    /// The query matching exactly the document of the listing `key`.
    pub(super) fn key_query(&self, key: &ListingKey) -> Box<dyn Query> {
        let seller = Term::from_field_text(self.fields.seller, &key.author.to_hex());
        Box::new(KeyQuery::new(seller, key))
    }

    /// The query for `q` at `now`: words known to `known` match exactly, others as typos of the
    /// words of `near` (the same searcher, but for [`Self::would_match`]); with the query's
    /// words taken for typos, as typed.
    fn build_query(
        &self,
        q: &SearchQuery,
        now: Timestamp,
        known: &Searcher,
        near: &Searcher,
    ) -> Result<(Box<dyn Query>, Guessed), SearchError> {
        let f = &self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let (mut near_at, mut unknown_at) = (Vec::new(), Vec::new());
        // In the form the index cuts words from, so the words' offsets name this text.
        let text = crate::words::normalized(&q.text);
        let words = self.query_words(&text);
        let mut asked = Vec::with_capacity(words.len());
        for word in &words {
            asked.push(self.word_query(word, known, near)?);
        }
        // A pair of characters no listing uses, where words of a script without spaces were
        // typed together, may span the two (`中古自転車`: `古自`); it is not asked for when the
        // pairs on both sides of it are (from an international trial: `中古自転車` missed
        // `中古の自転車`). The pairs that are there still must all be, and a pair at either end
        // is always asked for (`スマホ` is not `スマートフォン`).
        let pair = |w: &Word| w.stem.chars().count() == 2 && w.stem.chars().all(crate::words::paired);
        let held = |side: &dyn Fn(&Word) -> bool| {
            words.iter().zip(&asked).any(|(w, (_, m))| pair(w) && side(w) && matches!(m, Matched::Exactly))
        };
        let spans_two: Vec<bool> = words
            .iter()
            .zip(&asked)
            .map(|(word, (_, matched))| {
                matches!(matched, Matched::Nothing)
                    && pair(word)
                    && held(&|w: &Word| w.at.0 < word.at.0 && word.at.0 < w.at.1)
                    && held(&|w: &Word| word.at.0 < w.at.0 && w.at.0 < word.at.1)
            })
            .collect();
        for ((word, (query, matched)), skipped) in words.into_iter().zip(asked).zip(spans_two) {
            if skipped {
                continue;
            }
            must.push((Occur::Must, query));
            match matched {
                Matched::Exactly => {}
                Matched::Near => near_at.push(word.at),
                Matched::Nothing => unknown_at.push(word.at),
            }
        }
        let guessed = Guessed { near: as_typed(&text, near_at), unknown: as_typed(&text, unknown_at) };
        // Listings past their expiry leave results at once, before the sweep removes them.
        // Running auctions live at least the award window past their latest end: those expiring
        // sooner have ended, and would fill the first matches of `ending-soon`. Expired
        // listings are excluded rather than live ones required: a segment with none expired
        // (the usual case, as the sweep removes them) then leaves the words a plain
        // intersection, which ranks with block-max WAND.
        let floor = match q.sort {
            Sort::EndingSoon => now.saturating_add(haggle_protocol::auction::AWARD_WINDOW),
            _ => now,
        };
        let expired_by = Term::from_field_u64(f.expires, floor.as_millis());
        let expired = RangeQuery::new(Bound::Unbounded, Bound::Included(expired_by));
        if let Some(kind) = q.kind {
            must.push((Occur::Must, exact(f.kind, kind.as_str())));
        }
        if let Some(category) = &q.category {
            let path = category.trim_matches('/');
            if !haggle_protocol::limits::is_category_path(path) {
                return Err(SearchError::BadCategory(category.clone()));
            }
            let facet = Facet::from_path(path.split('/'));
            must.push((
                Occur::Must,
                Box::new(TermQuery::new(Term::from_facet(f.category, &facet), IndexRecordOption::Basic)),
            ));
        }
        // A giveaway costs nothing in any currency: "cheapest first in EUR", or "at most 10
        // EUR", keeps it (the cheapest of all); a lowest price above 0 leaves it out.
        if let Some(currency) = &q.currency {
            let priced = exact(f.currency, currency.as_str());
            let free = exact(f.kind, ListingKind::Giveaway.as_str());
            must.push((
                Occur::Must,
                Box::new(BooleanQuery::new(vec![(Occur::Should, priced), (Occur::Should, free)])),
            ));
        }
        // At most 0 is free in every currency (giveaways, and anything offered at 0): it needs
        // no currency, and every price it keeps compares. Giveaways alone sort so too (a price
        // bound on them still names a currency, as on anything else).
        let free = q.max_price == Some(0) && q.min_price.is_none_or(|m| m == 0);
        let giveaways = q.kind == Some(ListingKind::Giveaway);
        if matches!(q.sort, Sort::PriceAsc | Sort::PriceDesc) && q.currency.is_none() && !free && !giveaways {
            return Err(SearchError::SortWithoutCurrency);
        }
        if q.min_price.is_some() || q.max_price.is_some() {
            if q.currency.is_none() && !free {
                return Err(SearchError::PriceWithoutCurrency);
            }
            if let (Some(min), Some(max)) = (q.min_price, q.max_price)
                && min > max
            {
                return Err(SearchError::EmptyPriceRange { min, max });
            }
            let bound = |v: Option<u64>| {
                v.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_u64(f.price, v)))
            };
            must.push((Occur::Must, Box::new(RangeQuery::new(bound(q.min_price), bound(q.max_price)))));
        }
        if let Some(seller) = &q.seller {
            must.push((Occur::Must, exact(f.seller, &seller.to_hex())));
        }
        if q.sort == Sort::Distance && q.around.is_none() {
            return Err(SearchError::SortWithoutPlace);
        }
        if let Some(around) = q.around {
            let (low, high) = Reach::new(around).band();
            let (low, high) = (Term::from_field_u64(f.point, low), Term::from_field_u64(f.point, high));
            must.push((Occur::Must, Box::new(RangeQuery::new(Bound::Included(low), Bound::Included(high)))));
        }
        if let Some(location) = &q.location {
            for word in self.query_words(&crate::words::normalized(location)) {
                let term = Term::from_field_text(f.location, &word.stem);
                let live = has_live(known, &term).map_err(index_err)?;
                let mut terms = self.umlaut_terms(f.location, &word, live, known)?;
                if live || terms.is_empty() {
                    terms.insert(0, term);
                }
                must.push((Occur::Must, any_of(terms, IndexRecordOption::Basic)));
            }
        }
        if must.is_empty() {
            must.push((Occur::Must, Box::new(AllQuery)));
        }
        must.push((Occur::MustNot, Box::new(expired)));
        if !q.hide_sellers.is_empty() {
            let hidden = q.hide_sellers.iter().map(|k| Term::from_field_text(f.seller, &k.to_hex()));
            must.push((Occur::MustNot, Box::new(TermSetQuery::new(hidden))));
        }
        Ok((Box::new(BooleanQuery::new(must)), guessed))
    }

    /// One query word: matches exactly (a title match ranking highest, see [`TITLE_REPEAT`]). A
    /// word no listing uses is taken for a typo and matches within an edit or two instead (more
    /// for longer words); a word the index knows never matches its neighbours, so "bike" finds
    /// bikes, not "bake" or "like", and the total counts only what the word names.
    /// Also says how the word matched.
    fn word_query(
        &self,
        word: &Word,
        known: &Searcher,
        near: &Searcher,
    ) -> Result<(Box<dyn Query>, Matched), SearchError> {
        let term = Term::from_field_text(self.fields.text, &word.stem);
        let live = has_live(known, &term).map_err(index_err)?;
        let mut terms = self.umlaut_terms(self.fields.text, word, live, known)?;
        if live {
            terms.insert(0, term.clone());
        }
        if !terms.is_empty() {
            return Ok((any_of(terms, IndexRecordOption::WithFreqs), Matched::Exactly));
        }
        // A number is no typo: another model or year is another thing (the second retrial's
        // `rtx 3090` was shown an RTX3080 as a guess, `ps5` a PS4 controller).
        if word.stem.bytes().any(|b| b.is_ascii_digit()) {
            // Written together where listings write it apart (a trial's `iphone13` found
            // nothing beside 286 listings of an `iPhone 13`): its name and its number, each a
            // word some listing uses, both. The index holds no positions, so the two are asked
            // anywhere in a listing (see `words::name_and_number` for which words split).
            let apart = crate::words::name_and_number(&word.typed).unwrap_or_default();
            let parts: Vec<Term> = self
                .tokens(&apart)
                .into_iter()
                .map(|w| Term::from_field_text(self.fields.text, &w.stem))
                .collect();
            let mut all_live = parts.len() == 2;
            for part in &parts {
                all_live = all_live && has_live(known, part).map_err(index_err)?;
            }
            if all_live {
                let each = parts
                    .into_iter()
                    .map(|t| {
                        (
                            Occur::Must,
                            Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)) as Box<dyn Query>,
                        )
                    })
                    .collect();
                return Ok((Box::new(BooleanQuery::new(each)), Matched::Exactly));
            }
            return Ok((Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), Matched::Nothing));
        }
        // The word stemmed, and as typed when stemming changed it.
        // (The typed form, longer than its stem, gets no more edits than the stem: `chairs`
        // would get two where `chair` gets one.)
        let plain = word.typed.to_lowercase();
        let stem_distance = typo_distance(&word.stem);
        let mut forms = vec![(word.stem.as_str(), stem_distance)];
        if plain != word.stem {
            forms.push((plain.as_str(), typo_distance(&plain).min(stem_distance)));
        }
        forms.retain(|&(_, distance)| distance > 0);
        // The words written near the word as typed (analysed as those words are, and given no
        // more edits than its stem), by their stems.
        let mut written = Vec::new();
        let as_written = self.plain_form(&word.typed);
        let plain_distance = as_written.as_deref().map_or(0, typo_distance).min(stem_distance);
        if let Some(as_written) = as_written.filter(|_| plain_distance > 0) {
            for (near_word, edits, docs) in
                crate::typos::near_words(near, self.fields.plain, &as_written, plain_distance)
                    .map_err(index_err)?
            {
                if let Some(stem) = self.tokens(&near_word).into_iter().next().map(|w| w.stem) {
                    written.push((stem, edits, docs));
                }
            }
        }
        let typo = if forms.is_empty() && written.is_empty() {
            None
        } else {
            crate::typos::near_query(near, self.fields.text, &forms, written).map_err(index_err)?
        };
        Ok(match typo {
            Some(query) => (query, Matched::Near),
            None => (Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), Matched::Nothing),
        })
    }

    /// The terms of `word`'s other German spellings that listings use in `field`: written with
    /// `ae`, `oe` or `ue` for an umlaut (`muenchen`), as the index holds the umlaut (folded to
    /// its letter alone: `munchen`); written with `ä`, `ö` or `ü`, as `ae`, `oe` or `ue`. From an
    /// international trial and its retrial: `muenchen` missed `München`, and once one listing
    /// wrote `Muenchen`, `münchen` missed it and `muenchen` the six others.
    ///
    /// A word written with `ae`, `oe` or `ue` that listings use as written (`live`) is most
    /// often no umlaut at all (`guest` is no `gust`, `poets` no `pots`, Dutch `stoelen` no
    /// `stolen`, found in the second retrial), so in a listing's text it looks for nothing
    /// else; a place name (`places`) so written is German far more often, and looks for its
    /// umlaut from five letters (`muenchen` finds `München` beside `Muenchen`).
    fn umlaut_terms(
        &self,
        field: Field,
        word: &Word,
        live: bool,
        known: &Searcher,
    ) -> Result<Vec<Term>, SearchError> {
        let typed = word.typed.to_lowercase();
        let places = field == self.fields.location;
        let mut forms = Vec::new();
        if ["ae", "oe", "ue"].iter().any(|d| typed.contains(d))
            && (!live || places && typed.chars().count() >= 5)
        {
            forms.push(typed.replace("ae", "a").replace("oe", "o").replace("ue", "u"));
        }
        if typed.contains(['ä', 'ö', 'ü']) {
            forms.push(typed.replace('ä', "ae").replace('ö', "oe").replace('ü', "ue"));
        }
        let mut terms = Vec::new();
        for form in forms {
            let Some(stem) = self.tokens(&form).into_iter().next().map(|w| w.stem) else { continue };
            let term = Term::from_field_text(field, &stem);
            if stem != word.stem && has_live(known, &term).map_err(index_err)? {
                terms.push(term);
            }
        }
        Ok(terms)
    }

    /// `typed` as [`Fields::plain`] holds words (lower-cased, folded, cut, not stemmed).
    pub(super) fn plain_form(&self, typed: &str) -> Option<String> {
        let mut analyzer = self.index.tokenizers().get(PLAIN_ANALYZER).unwrap_or_else(plain_analyzer);
        let mut stream = analyzer.token_stream(typed);
        stream.next().map(|token| token.text.clone())
    }

    /// The words of a query's text that count: its [`Self::tokens`] but the
    /// [`QUERY_STOP_WORDS`], unless it has nothing else.
    pub(super) fn query_words(&self, text: &str) -> Vec<Word> {
        let words = self.tokens(text);
        let stop = |w: &Word| QUERY_STOP_WORDS.contains(&w.typed.to_lowercase().as_str());
        if words.iter().all(stop) {
            return words;
        }
        words.into_iter().filter(|w| !stop(w)).collect()
    }

    /// The words of `text` as the index stores them (lowercased, folded, stemmed), each once,
    /// with the word as typed.
    pub(super) fn tokens(&self, text: &str) -> Vec<Word> {
        let mut out: Vec<Word> = Vec::new();
        for word in self.every_token(text) {
            if !out.iter().any(|w| w.stem == word.stem) {
                out.push(word);
            }
        }
        // Bound the work one query can ask for.
        out.truncate(16);
        out
    }

    /// Every word of `text` where it stands, as [`Self::tokens`] gives them, but a word typed
    /// twice given twice (the node takes a query of at most 1,000 characters).
    pub(super) fn every_token(&self, text: &str) -> Vec<Word> {
        let mut analyzer = self.index.tokenizers().get(QUERY_ANALYZER).unwrap_or_else(query_analyzer);
        let mut stream = analyzer.token_stream(text);
        let mut out: Vec<Word> = Vec::new();
        while let Some(token) = stream.next() {
            let typed = text.get(token.offset_from..token.offset_to).unwrap_or(&token.text).to_owned();
            out.push(Word { stem: token.text.clone(), typed, at: (token.offset_from, token.offset_to) });
        }
        out
    }
}

/// How a query word matched.
enum Matched {
    /// A word a searchable listing uses.
    Exactly,
    /// No listing uses it: the words near it, a guess at a typo.
    Near,
    /// No listing uses it, nor a word near it.
    Nothing,
}

/// A query's words that no listing uses, as typed: with near words matched instead, and
/// without.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guessed {
    pub near: Vec<String>,
    pub unknown: Vec<String>,
}

/// One word of a query: as the index stores it, and as typed (where in the query's text).
pub(super) struct Word {
    pub stem: String,
    pub typed: String,
    pub at: (usize, usize),
}

/// The words of `text` at `spans`, as typed, overlapping spans as one: the pairs of characters
/// of a run without spaces ([`crate::words`]) name the run, "自動車", not "自動" and "動車".
fn as_typed(text: &str, mut spans: Vec<(usize, usize)>) -> Vec<String> {
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        match merged.last_mut() {
            Some(last) if from < last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    // A pair of characters of a script written without spaces is named with the run it is
    // part of, as typed (a trial's `スマホ` was told as `マホ`, the pair nothing held).
    let run = |(mut from, mut to): (usize, usize)| {
        let paired = |c: Option<char>| c.is_some_and(crate::words::paired);
        if paired(text.get(from..).and_then(|t| t.chars().next())) {
            while paired(text.get(..from).and_then(|t| t.chars().next_back())) {
                from -= text[..from].chars().next_back().map_or(1, char::len_utf8);
            }
            while paired(text.get(to..).and_then(|t| t.chars().next())) {
                to += text[to..].chars().next().map_or(1, char::len_utf8);
            }
        }
        (from, to)
    };
    let mut named: Vec<String> = Vec::with_capacity(merged.len());
    for word in merged.into_iter().map(run).filter_map(|(from, to)| text.get(from..to)) {
        if !named.iter().any(|n| n == word) {
            named.push(word.to_owned());
        }
    }
    named
}

/// Whether a listing in the index that is not deleted uses `term`. The term dictionary's
/// counts include deleted documents until their segment is merged: a word only a retracted or
/// replaced listing used still read as known, and a search for a misspelling of a live word
/// then found nothing on one node and the live listings on another.
pub(crate) fn has_live(searcher: &Searcher, term: &Term) -> tantivy::Result<bool> {
    Ok(live_uses(searcher, term, 1)? > 0)
}

/// How many listings in the index that are not deleted use `term` (see [`has_live`]), counted
/// up to `up_to`.
pub(super) fn live_uses(searcher: &Searcher, term: &Term, up_to: u64) -> tantivy::Result<u64> {
    use tantivy::DocSet;
    let mut found = 0;
    for segment in searcher.segment_readers() {
        let index = segment.inverted_index(term.field())?;
        let Some(mut postings) = index.read_postings(term, IndexRecordOption::Basic)? else { continue };
        let alive = segment.alive_bitset();
        let mut doc = postings.doc();
        while doc != tantivy::TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                found += 1;
                if found >= up_to {
                    return Ok(found);
                }
            }
            doc = postings.advance();
        }
    }
    Ok(found)
}

/// Edits a misspelt word may be away from what it matches: none for one or two letters, one up
/// to five, two from six. Only words no listing uses get any, so "bkie" finds bikes while
/// "bike" never finds "bake" or "like".
pub(super) fn typo_distance(token: &str) -> u8 {
    match token.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

/// A query matching any of `terms` (one term's own query when there is one).
fn any_of(mut terms: Vec<Term>, record: IndexRecordOption) -> Box<dyn Query> {
    if terms.len() == 1 {
        return Box::new(TermQuery::new(terms.remove(0), record));
    }
    Box::new(BooleanQuery::new(
        terms
            .into_iter()
            .map(|t| (Occur::Should, Box::new(TermQuery::new(t, record)) as Box<dyn Query>))
            .collect(),
    ))
}

fn exact(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}
