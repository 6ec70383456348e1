//! Typo matches that rank: a word no listing uses is expanded to the words the index holds
//! within an edit or two of it, and each is searched as an ordinary term scored by BM25 (with
//! its own weight: a rare near word weighs more than a common one), weighed down by its edits.
//! Tantivy's fuzzy query gives every match the same score, so a listing that matched only
//! through a tag ranked level with one that has the word in its title.

use std::collections::HashMap;
use std::sync::OnceLock;

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

/// The most words one misspelt word is expanded to: the closest first, then the most used.
pub(crate) const MAX_EXPANSIONS: usize = 32;

/// The most dictionary words looked at per segment for one misspelt word.
const MAX_CANDIDATES: usize = 1_024;

/// A word one edit away counts this much of an exact match, two edits away half of that.
const BOOST_PER_EDIT: f32 = 0.5;

/// A Levenshtein automaton over the term dictionary's bytes.
struct Near<'a>(&'a DFA);

impl tantivy_fst::Automaton for Near<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// Builders are costly to make (a distance of 2 takes milliseconds): one per distance, kept.
fn builder(distance: u8) -> &'static LevenshteinAutomatonBuilder {
    static ONE: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    static TWO: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    let cell = if distance <= 1 { &ONE } else { &TWO };
    cell.get_or_init(|| LevenshteinAutomatonBuilder::new(distance.clamp(1, 2), true))
}

/// The words of `field` within `distance` edits of `token` (a transposition counts as one) that
/// start with its first letter, with their edit distance and how many listings use them, closest and most used first, at
/// most [`MAX_EXPANSIONS`].
pub(crate) fn near_words(
    searcher: &Searcher,
    field: Field,
    token: &str,
    distance: u8,
) -> tantivy::Result<Vec<(String, u8, u64)>> {
    let dfa = builder(distance).build_dfa(token);
    // Word -> (edits, listings using it), over every segment.
    let mut found: HashMap<String, (u8, u64)> = HashMap::new();
    for segment in searcher.segment_readers() {
        let index = segment.inverted_index(field)?;
        // Only the words with the token's first letter are read, so words under other letters
        // cannot use up the candidates (the dictionary is in byte order).
        let mut stream = match first_letter_range(token) {
            Some((from, to)) => index.terms().search(Near(&dfa)).ge(from).lt(to).into_stream()?,
            None => index.terms().search(Near(&dfa)).into_stream()?,
        };
        // Bounded whatever the dictionary holds: others' listings choose its words.
        let mut read = 0;
        while read < MAX_CANDIDATES && stream.advance() {
            read += 1;
            let Ok(word) = std::str::from_utf8(stream.key()) else { continue };
            // A typo rarely hits the first letter, and near words that differ there are mostly
            // other things: "printer" is two edits from "grinder", "like" one from "bike".
            if word.chars().next() != token.chars().next() {
                continue;
            }
            let docs = u64::from(stream.value().doc_freq);
            match found.get_mut(word) {
                Some(entry) => entry.1 += docs,
                None => {
                    let (Distance::Exact(edits) | Distance::AtLeast(edits)) = dfa.eval(word);
                    found.insert(word.to_owned(), (edits, docs));
                }
            }
        }
    }
    let mut found: Vec<(String, u8, u64)> = found.into_iter().map(|(w, (e, d))| (w, e, d)).collect();
    closest_first(&mut found);
    Ok(found)
}

/// Keeps the [`MAX_EXPANSIONS`] near words to search: the closest first, then the most used
/// (then in byte order, so the choice does not depend on the segments' order).
fn closest_first(words: &mut Vec<(String, u8, u64)>) {
    words.sort_by(|a, b| (a.1, std::cmp::Reverse(a.2), &a.0).cmp(&(b.1, std::cmp::Reverse(b.2), &b.0)));
    words.truncate(MAX_EXPANSIONS);
}

/// The byte range of the words that start with `token`'s first letter: its UTF-8 bytes, up to
/// the same with the last byte one higher (a UTF-8 sequence's last byte is at most 0xBF).
fn first_letter_range(token: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let first = token.chars().next()?;
    let mut bytes = [0u8; 4];
    let from = first.encode_utf8(&mut bytes).as_bytes().to_vec();
    let mut to = from.clone();
    let last = to.last_mut()?;
    *last = last.checked_add(1)?;
    Some((from, to))
}

/// A query matching what the near words of any of `tokens` (a word's forms: as the index
/// stores it, stemmed, and as typed, lower-cased) match, each within its own distance, and the
/// words of `found` (stems of words written near the typo, with their edits and use), scored
/// by BM25 and weighed down by their edits: any of them will do. Matches nothing if no word is
/// near (then `None`). Both forms count because stemming can move a typo further from the
/// word: "hony" stems to "honi", two edits from the stored "honey", one as typed; and `found`
/// because it can move the stored word away: "sittng" is one edit from "sitting", stored "sit".
pub(crate) fn near_query(
    searcher: &Searcher,
    field: Field,
    tokens: &[(&str, u8)],
    found: Vec<(String, u8, u64)>,
) -> tantivy::Result<Option<Box<dyn Query>>> {
    let mut words: Vec<(String, u8, u64)> = Vec::new();
    let near = tokens.iter().map(|&(token, distance)| near_words(searcher, field, token, distance));
    for candidates in near.chain(std::iter::once(Ok(found))) {
        for (word, edits, docs) in candidates? {
            match words.iter_mut().find(|w| w.0 == word) {
                Some(known) => known.1 = known.1.min(edits),
                None => words.push((word, edits, docs)),
            }
        }
    }
    // Words only listings gone since used (their documents deleted, their segments not merged
    // yet) match nothing: a typo near them alone is no guess (a trial's `search teddy`, after the
    // teddy bear was retracted, was a guess in `--json` and "no word near it" in the text).
    let mut live = Vec::with_capacity(words.len());
    for word in words {
        if crate::search::has_live(searcher, &Term::from_field_text(field, &word.0))? {
            live.push(word);
        }
    }
    let mut words = live;
    if words.is_empty() {
        return Ok(None);
    }
    closest_first(&mut words);
    let listings = searcher.num_docs();
    let most = words.iter().map(|w| w.2).max().unwrap_or(1).max(1);
    let clauses = words
        .into_iter()
        .map(|(word, edits, docs)| {
            let term = TermQuery::new(Term::from_field_text(field, &word), IndexRecordOption::WithFreqs);
            let boost = BOOST_PER_EDIT.powi(i32::from(edits)) * weight(docs, most, listings);
            (Occur::Should, Box::new(BoostQuery::new(Box::new(term), boost)) as Box<dyn Query>)
        })
        .collect();
    Ok(Some(Box::new(BooleanQuery::new(clauses))))
}

/// How much a near word of a typo counts beside the most used one (`most` listings of
/// `listings` use that one; `docs` this one). BM25 weighs a word by its rarity, which ranks a
/// typo's rarest neighbours first: a busy market's other misspellings (a trial's `laptpo`
/// showed nine `lpatop`, `lapop` and `latop` before the first `laptop`). A near word's rarity
/// is taken back out (its weight as if it were as used as the most used neighbour), and what
/// is left favours the used ones: a word used by a hundredth as many counts about half.
fn weight(docs: u64, most: u64, listings: u64) -> f32 {
    // BM25's idf, as tantivy computes it.
    let idf = |df: u64| {
        let (n, df) = (listings.max(df) as f32, df as f32);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    };
    let rarity = idf(most) / idf(docs.max(1));
    let use_share = (docs.max(1) as f32 / most as f32).clamp(0.0, 1.0);
    rarity * (1.0 + use_share.log10() / 4.0).clamp(0.25, 1.0)
}
