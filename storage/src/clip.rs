//! A token filter that cuts long words to their first bytes instead of dropping them.
//!
//! tantivy's `RemoveLongFilter` drops a word over its limit from documents and queries alike, so
//! a query of one long word (a part number, a compound) had no words left and matched every
//! listing, and the listing using that word could not be found by it. Cut the same way on both
//! sides, a long word is indexed and searched by its first [`MAX_WORD_BYTES`] bytes.

use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

/// The longest word kept whole, in bytes of UTF-8; longer ones are cut to this (at a character
/// boundary). tantivy's terms may be far longer; this bounds what one word costs the term
/// dictionary and the typo search.
pub(crate) const MAX_WORD_BYTES: usize = 39;

/// Cuts every token to at most [`MAX_WORD_BYTES`] bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClipLongFilter;

impl TokenFilter for ClipLongFilter {
    type Tokenizer<T: Tokenizer> = ClipLong<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> ClipLong<T> {
        ClipLong(tokenizer)
    }
}

#[derive(Clone)]
pub(crate) struct ClipLong<T>(T);

impl<T: Tokenizer> Tokenizer for ClipLong<T> {
    type TokenStream<'a> = ClipLongStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        ClipLongStream(self.0.token_stream(text))
    }
}

pub(crate) struct ClipLongStream<S>(S);

impl<S: TokenStream> TokenStream for ClipLongStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        let text = &mut self.0.token_mut().text;
        if text.len() > MAX_WORD_BYTES {
            let mut end = MAX_WORD_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        true
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::{SimpleTokenizer, TextAnalyzer};

    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default()).filter(ClipLongFilter).build();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn long_words_are_cut_at_a_character_boundary_and_short_ones_kept() {
        let long = "Donaudampfschifffahrtsgesellschaftskapitaenswitwe";
        assert_eq!(words(&format!("hat {long}")), ["hat", &long[..MAX_WORD_BYTES]]);
        // Two-byte letters: the cut falls before the letter that would cross the limit.
        let accents = "é".repeat(30);
        let cut = &words(&accents)[0];
        assert_eq!(cut.len(), 38);
        assert!(accents.starts_with(cut.as_str()));
        let exact = "x".repeat(MAX_WORD_BYTES);
        assert_eq!(words(&exact), [exact]);
    }
}
