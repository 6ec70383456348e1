//! "Did you mean": a query word that listings use, but rarely, beside a word a letter or two
//! from it that many more use. A word the index knows matches only itself (see
//! `word_query`), so a typo some listing shares is not corrected: a trial's `headphnes` found the
//! 4 listings that wrote it so, and nothing said that 446 wrote `headphones`.

use super::query::{Word, live_uses, typo_distance};
use super::*;

/// At most this many listings use a word that is looked at for a more used neighbour.
const MAX_RARE: u64 = 10;
/// A neighbour is offered when at least this many times as many listings use it...
const TIMES_MORE: u64 = 20;
/// ...and at least this many in all.
const MIN_USES: u64 = 20;
/// Words shorter than this are not looked at: short words are more often words of their own
/// (`bake` beside `bike`) than typos.
const MIN_CHARS: usize = 5;
/// Neighbours of one word whose live listings are counted, at most.
const MAX_TRIED: usize = 3;

/// A search's words that listings rarely use, beside a word a letter or two away that many
/// more use: the query's text with those words instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidYouMean {
    /// The query's text with each such word replaced by the other, lowercased (the rest as
    /// typed).
    pub text: String,
    /// Each word replaced.
    pub words: Vec<Instead>,
}

/// One word of a [`DidYouMean`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instead {
    /// The word as typed.
    pub typed: String,
    /// The word many more listings use, lowercased and folded as the index holds it.
    pub word: String,
}

impl SearchIndex {
    /// The query `text`'s rare words' more used neighbours, if it has any (see the module's
    /// doc). Asked for the words of a search only: the words a watch matches are not looked at.
    pub(super) fn did_you_mean(
        &self,
        text: &str,
        searcher: &Searcher,
    ) -> Result<Option<DidYouMean>, SearchError> {
        let text = crate::words::normalized(text);
        let mut words: Vec<Instead> = Vec::new();
        // Each rare word's stem, and the word to put wherever the query has it.
        let mut stems: Vec<(String, String)> = Vec::new();
        for word in self.query_words(&text) {
            if let Some(neighbour) = self.more_used_neighbour(&word, searcher).map_err(index_err)? {
                stems.push((word.stem.clone(), neighbour.clone()));
                words.push(Instead { typed: word.typed.clone(), word: neighbour });
            }
        }
        if words.is_empty() {
            return Ok(None);
        }
        // Every place the query has such a word, a form typed twice too (`gutiar gutiars`:
        // [`Self::tokens`] gives each stem once).
        let spans: Vec<((usize, usize), &str)> = self
            .every_token(&text)
            .into_iter()
            .filter_map(|w| stems.iter().find(|(stem, _)| *stem == w.stem).map(|(_, n)| (w.at, n.as_str())))
            .collect();
        let mut suggested = text.to_string();
        // From the end, so the earlier spans still name their words (words of a script written
        // without spaces, whose pairs overlap, are never replaced).
        for ((from, to), neighbour) in spans.into_iter().rev() {
            if suggested.is_char_boundary(from) && suggested.is_char_boundary(to) && from <= to {
                suggested.replace_range(from..to, neighbour);
            }
        }
        Ok(Some(DidYouMean { text: suggested, words }))
    }

    /// A word, as listings write it, a letter or two from `word` and used by at least
    /// [`TIMES_MORE`] times as many listings, if `word` is one that at most [`MAX_RARE`]
    /// listings use.
    fn more_used_neighbour(&self, word: &Word, searcher: &Searcher) -> tantivy::Result<Option<String>> {
        // A model number is no typo; a script written without spaces is matched by pairs.
        if word.typed.chars().count() < MIN_CHARS
            || word.stem.chars().any(|c| c.is_ascii_digit() || crate::words::paired(c))
        {
            return Ok(None);
        }
        let term = Term::from_field_text(self.fields.text, &word.stem);
        let uses = live_uses(searcher, &term, MAX_RARE + 1)?;
        if uses == 0 || uses > MAX_RARE {
            return Ok(None);
        }
        let Some(as_written) = self.plain_form(&word.typed) else { return Ok(None) };
        let distance = typo_distance(&as_written).min(typo_distance(&word.stem));
        if distance == 0 {
            return Ok(None);
        }
        let mut near = crate::typos::near_words(searcher, self.fields.plain, &as_written, distance)?;
        // `near_words` gives them closest first, then most used: a rare word of six letters is
        // not offered a common one two letters away while one a letter away is used as much.
        near.retain(|&(_, edits, _)| edits > 0);
        let wanted = (uses * TIMES_MORE).max(MIN_USES);
        let mut tried = 0;
        for (near_word, _, docs) in near {
            // The dictionary's count includes listings deleted since its segment was merged:
            // below what is wanted, the live cannot reach it; above, they are counted.
            if docs < wanted {
                continue;
            }
            // Another spelling of the same word (`chairs` beside `chair`) is counted with it.
            if self.tokens(&near_word).first().is_none_or(|w| w.stem == word.stem) {
                continue;
            }
            let plain = Term::from_field_text(self.fields.plain, &near_word);
            if live_uses(searcher, &plain, wanted)? >= wanted {
                return Ok(Some(near_word));
            }
            tried += 1;
            if tried == MAX_TRIED {
                break;
            }
        }
        Ok(None)
    }
}
