//! The tokenizer every searched field goes through: words are runs of letters and digits, as
//! tantivy's `SimpleTokenizer` cuts them, except in the scripts written without spaces.
//!
//! Chinese and Japanese put no space between words, and Korean attaches its particles to the
//! word before them, so a whole phrase ("自転車を売ります", "I sell a bicycle") used to be one
//! token, cut to its first 13 characters by [`crate::clip`]: a search for "自転車" (bicycle)
//! found nothing. Without a dictionary, the usual answer (Lucene's CJK analyzer) is to index a
//! run of such characters as its overlapping pairs ("自転", "転車", "車を", ...), and to search
//! a query's run by its pairs too: every pair of "自転車" is in the listing's text, so it is
//! found. A listing's text also gives each character alone ([`WordTokenizer::indexing`]), so a
//! word of one character ("車", car) is found inside a phrase; a query gives a character alone
//! only for a run of one. Letters of other scripts beside them are words as before
//! ("iPhone用" is `iphone` and `用`).
//!
//! Every word is also put in one form ([`fold`]): composed (Unicode NFC), so an accent typed as
//! a letter and a combining mark (as macOS writes file names and some keyboards type) is the
//! accented letter, and the marks stay in the word (Hindi's vowel signs and virama, Thai's
//! vowels: the word was cut at each); and Arabic without its optional marks, as Lucene's Arabic
//! normalizer writes it (no vowel marks or tatweel; أ إ آ ٱ as ا, ة as ه, ى and Persian ی as
//! ي, Persian ک as ك), and without
//! the article ال ("the bike", الدراجة, finds دراجة).

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Cuts text into words, and runs of [`paired`] characters into overlapping pairs.
#[derive(Clone, Default)]
pub(crate) struct WordTokenizer {
    token: Token,
    /// The text in the form it is cut in, when it was not in that form ([`normalized`]).
    normalized: String,
    /// Whether each paired character is given alone too (a listing's text), or only in a run of
    /// one (a query's).
    singles: bool,
}

impl WordTokenizer {
    /// For a listing's text: pairs, and each character alone.
    pub(crate) fn indexing() -> Self {
        Self { singles: true, ..Self::default() }
    }

    /// For a query: pairs, and a character alone only when no pair holds it.
    pub(crate) fn querying() -> Self {
        Self::default()
    }
}

pub(crate) struct WordStream<'a> {
    text: &'a str,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    token: &'a mut Token,
    singles: bool,
    /// Within a run of paired characters: where the last one read starts, and whether a pair
    /// ending at it was given (else a run of one is given alone when it ends).
    run: Option<(usize, bool)>,
    /// A character to give alone before reading on (the pair ending at it was given first).
    pending: Option<(usize, usize)>,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.token.reset();
        let text: &'a str = match normalized(text) {
            std::borrow::Cow::Borrowed(text) => text,
            std::borrow::Cow::Owned(text) => {
                self.normalized = text;
                &self.normalized
            }
        };
        let chars = text.char_indices().peekable();
        WordStream { text, chars, token: &mut self.token, singles: self.singles, run: None, pending: None }
    }
}

impl WordStream<'_> {
    fn give(&mut self, from: usize, to: usize) -> bool {
        self.token.text.clear();
        fold(&self.text[from..to], &mut self.token.text);
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = self.token.position.wrapping_add(1);
        true
    }
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        if let Some((from, to)) = self.pending.take() {
            return self.give(from, to);
        }
        if let Some((last, paired_before)) = self.run {
            match self.chars.peek().copied() {
                Some((next, c)) if paired(c) => {
                    self.chars.next();
                    self.run = Some((next, true));
                    let end = next + c.len_utf8();
                    if self.singles {
                        self.pending = Some((next, end));
                    }
                    return self.give(last, end);
                }
                _ => {
                    self.run = None;
                    if !paired_before && !self.singles {
                        let end = last + self.text[last..].chars().next().map_or(0, char::len_utf8);
                        return self.give(last, end);
                    }
                }
            }
        }
        // Past anything that is no letter or digit (a mark with no letter before it too).
        let (from, first) = loop {
            match self.chars.next() {
                Some((i, c)) if c.is_alphanumeric() => break (i, c),
                Some(_) => {}
                None => return false,
            }
        };
        if paired(first) {
            self.run = Some((from, false));
            if self.singles {
                return self.give(from, from + first.len_utf8());
            }
            return self.advance();
        }
        let mut to = from + first.len_utf8();
        while let Some(&(i, c)) = self.chars.peek() {
            if !(c.is_alphanumeric() || is_combining_mark(c)) || paired(c) {
                break;
            }
            self.chars.next();
            to = i + c.len_utf8();
        }
        self.give(from, to)
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// `text` in the form words are cut from: Unicode's compatibility composition (NFKC), so an
/// accent typed as a separate mark is the accented letter, Korean typed as separate letters
/// (jamo, as macOS writes file names) is its syllables, and half-width katakana and full-width
/// Latin letters and digits are the usual ones. Queries are put in the same form before their
/// words are read, so the offsets of their words name the text as searched. Text of ASCII
/// alone, the most of it, is as it is.
pub(crate) fn normalized(text: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{IsNormalized, is_nfkc_quick};
    if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.nfkc().collect())
}

/// Writes `word` (from [`normalized`] text) into `out` in the one form the index holds it in:
/// Arabic without its optional marks and article (see the module's notes). Text of ASCII
/// alone, the most of it, is copied as it is.
pub(crate) fn fold(word: &str, out: &mut String) {
    if word.is_ascii() {
        out.push_str(word);
        return;
    }
    let start = out.len();
    for c in word.chars() {
        match c {
            // Arabic vowel marks (harakat), the superscript alef, and the tatweel that stretches
            // a line.
            '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => {}
            'أ' | 'إ' | 'آ' | 'ٱ' => out.push('ا'),
            'ة' => out.push('ه'),
            // Persian writes kaf and yeh in forms of its own (ک, ی), and keyboards type either.
            'ى' | 'ی' => out.push('ي'),
            'ک' => out.push('ك'),
            c => out.push(c),
        }
    }
    // The article, and the article after a one-letter conjunction or preposition, where
    // enough is left to be a word.
    for article in ["وال", "بال", "كال", "فال", "لل", "ال"] {
        if let Some(rest) = out[start..].strip_prefix(article)
            && rest.chars().count() >= 2
        {
            let cut = article.len();
            out.replace_range(start..start + cut, "");
            break;
        }
    }
}

/// Whether `c` is of a script written without spaces between words, indexed in pairs: Chinese
/// characters, Japanese kana and Korean hangul (the blocks Lucene's CJK analyzer pairs).
pub fn paired(c: char) -> bool {
    matches!(
        c as u32,
        0x1100..=0x11FF // Hangul jamo
            | 0x3005 // 々, the ideographic repeat mark
            | 0x3040..=0x30FF // hiragana, katakana
            | 0x3130..=0x318F // Hangul compatibility jamo
            | 0x31F0..=0x31FF // katakana phonetic extensions
            | 0x3400..=0x4DBF // CJK extension A
            | 0x4E00..=0x9FFF // CJK unified ideographs
            | 0xAC00..=0xD7AF // Hangul syllables
            | 0xF900..=0xFAFF // CJK compatibility ideographs
            | 0xFF66..=0xFF9F // half-width katakana
            | 0x20000..=0x323AF // CJK extensions B to H
    )
}

/// The hyphenated words of `text` written as one (`e-bike` as `ebike`, `wi-fi` as `wifi`),
/// space-separated. The index holds them beside their parts, so a search for `ebike` finds
/// `E-bike`; a query's own hyphenated words are searched by their parts, as before (joining
/// them would lose `E bike`, and `t-shirt` its `shirt`).
pub(crate) fn compounds(text: &str) -> String {
    let mut out = String::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '-')) {
        let mut parts = word.split('-').filter(|p| !p.is_empty()).peekable();
        let Some(first) = parts.next() else { continue };
        if parts.peek().is_none() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(first);
        out.extend(parts);
    }
    out
}

/// The parts of `text`'s words that join letters and digits (`iPhone15` as `iPhone 15`,
/// `RTX3080` as `RTX 3080`, `56cm` as `56 cm`), space-separated: model numbers are written both
/// ways, and a retrial's `iphone` and `iphone 15` missed `iPhone15用ケース`. The index holds the
/// parts beside the word, so `iphone15` still finds it whole. Letters and digits of ASCII only.
pub(crate) fn model_parts(text: &str) -> String {
    let mut out = String::new();
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return out;
    }
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let bytes = word.as_bytes();
        let mixed = bytes.iter().any(u8::is_ascii_digit) && bytes.iter().any(u8::is_ascii_alphabetic);
        if !mixed {
            continue;
        }
        let mut start = 0;
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&word[start..i]);
                start = i;
            }
        }
    }
    out
}

/// A query word written as a name and a number together (`iphone13`), as the two words
/// listings may write apart (`iphone 13`): only for a name of three letters or more and a
/// number of two digits or more, which a listing rarely holds apart by chance (`ps5` would
/// find a `PS4 controller, 5 games`). `None` for any other word.
pub(crate) fn name_and_number(word: &str) -> Option<String> {
    let parts = model_parts(word);
    let (a, b) = parts.split_once(' ').filter(|(_, b)| !b.contains(' '))?;
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    let (name, number) = if digits(a) { (b, a) } else { (a, b) };
    (name.len() >= 3 && number.len() >= 2 && digits(number)).then_some(parts)
}

/// `text` followed by its [`compounds`] and [`model_parts`], if it has any.
pub(crate) fn with_compounds(text: &str) -> std::borrow::Cow<'_, str> {
    let joined = if text.contains('-') { compounds(text) } else { String::new() };
    // Full-width letters and digits are their ASCII ones here too (from an international
    // trial: `ｉＰｈｏｎｅ１５` was found by `iphone15` but not by `iphone`).
    let parts = model_parts(&normalized(text));
    match (joined.is_empty(), parts.is_empty()) {
        (true, true) => std::borrow::Cow::Borrowed(text),
        (false, true) => std::borrow::Cow::Owned(format!("{text} {joined}")),
        (true, false) => std::borrow::Cow::Owned(format!("{text} {parts}")),
        (false, false) => std::borrow::Cow::Owned(format!("{text} {joined} {parts}")),
    }
}

/// The words of `text`, each once (compared lowercased), in the order they first appear.
pub(crate) fn distinct_words(text: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::with_capacity(text.len());
    // Words as the tokenizer cuts them: a combining mark belongs to its word (a decomposed
    // `torre\u{301}faction` is one word, not two).
    for word in text.split(|c: char| !(c.is_alphanumeric() || is_combining_mark(c))).filter(|w| !w.is_empty())
    {
        let lower = match word.chars().any(char::is_uppercase) {
            true => std::borrow::Cow::Owned(word.to_lowercase()),
            false => std::borrow::Cow::Borrowed(word),
        };
        if seen.insert(lower) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, usize, usize)> {
        cut(WordTokenizer::querying(), text)
    }

    fn cut(mut tokenizer: WordTokenizer, text: &str) -> Vec<(String, usize, usize)> {
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            let mut folded = String::new();
            fold(&normalized(text)[t.offset_from..t.offset_to], &mut folded);
            assert_eq!(folded, t.text, "offsets name the token's text");
            out.push((t.text.clone(), t.offset_from, t.position));
        }
        out
    }

    fn texts(text: &str) -> Vec<String> {
        words(text).into_iter().map(|(t, _, _)| t).collect()
    }

    #[test]
    fn words_of_spaced_scripts_are_cut_as_before() {
        assert_eq!(
            texts("Road bike, 56 cm — très bon état!"),
            ["Road", "bike", "56", "cm", "très", "bon", "état"]
        );
        assert_eq!(texts("Fahrräder & Straße"), ["Fahrräder", "Straße"]);
        assert_eq!(texts("  ...  "), Vec::<String>::new());
        let positions: Vec<usize> = words("a b c").into_iter().map(|(_, _, p)| p).collect();
        assert_eq!(positions, [0, 1, 2]);
    }

    #[test]
    fn runs_without_spaces_are_cut_in_overlapping_pairs() {
        assert_eq!(texts("自転車を売ります"), ["自転", "転車", "車を", "を売", "売り", "りま", "ます"]);
        // A run of one is its own token; one of two is one pair.
        assert_eq!(texts("車"), ["車"]);
        assert_eq!(texts("東京 車"), ["東京", "車"]);
        // Other letters beside them are words of their own, and punctuation ends a run.
        assert_eq!(texts("iPhone15用ケース、美品"), ["iPhone15", "用ケ", "ケー", "ース", "美品"]);
        assert_eq!(texts("自転車bike"), ["自転", "転車", "bike"]);
        assert_eq!(texts("자전거를 팝니다"), ["자전", "전거", "거를", "팝니", "니다"]);
        // Characters outside the basic plane are paired too, by their own widths.
        assert_eq!(texts("𠮷野家"), ["𠮷野", "野家"]);
    }

    /// From an international trial: a title typed with its accents as combining marks was
    /// found by neither `torréfaction` nor `torrefaction` (the word was cut at the mark), and
    /// Arabic's optional marks and article made the same word another.
    #[test]
    fn one_word_typed_two_ways_is_one_word() {
        let decomposed = "Cafe\u{301} en grains, torre\u{301}faction";
        assert_eq!(texts(decomposed), ["Café", "en", "grains", "torréfaction"]);
        assert_eq!(texts("la\u{308}uft München"), ["läuft", "München"]);
        // Marks inside words of other scripts stay in them.
        assert_eq!(texts("दिल्ली"), ["दिल्ली"]);
        // Arabic: vowel marks and tatweel gone, letters of one sound as one, the article off.
        for typed in ["دراجة", "دَرّاجة", "دراجـة", "الدراجة", "دراجه", "بالدراجة"]
        {
            assert_eq!(texts(typed), ["دراجه"], "{typed}");
        }
        assert_eq!(texts("أحمد"), ["احمد"]);
        // Persian's own kaf and yeh are Arabic's (from the retrial: کوهستان typed with ك).
        assert_eq!(texts("کوهستان"), texts("كوهستان"));
        assert_eq!(texts("ایران"), texts("ايران"));
        // Too short to be a word without it: kept whole.
        assert_eq!(texts("الي"), ["الي"]);
        // A mark with no letter before it is no word.
        assert_eq!(texts("\u{301} bike"), ["bike"]);
        // From the retrial: Korean typed as separate letters (jamo) is its syllables, and
        // half-width katakana and full-width Latin are the usual letters.
        let jamo: String = "가방".nfd().collect();
        assert_eq!(jamo.chars().count(), 5);
        assert_eq!(texts(&jamo), ["가방"]);
        assert_eq!(texts("ｹｰｽ"), texts("ケース"));
        assert_eq!(texts("ｉＰｈｏｎｅ１５"), ["iPhone15"]);
    }

    #[test]
    fn a_listing_gives_each_character_alone_too() {
        let indexed = |text| -> Vec<String> {
            cut(WordTokenizer::indexing(), text).into_iter().map(|(t, _, _)| t).collect()
        };
        assert_eq!(indexed("車のタイヤ"), ["車", "車の", "の", "のタ", "タ", "タイ", "イ", "イヤ", "ヤ"]);
        assert_eq!(indexed("車 bike"), ["車", "bike"]);
        assert_eq!(indexed("road bike"), ["road", "bike"]);
        // Whatever a query gives, a listing holding its text gives too.
        let listing = indexed("中古の自転車を売ります、車も");
        for query in ["自転車", "車", "売ります", "中古"] {
            for word in texts(query) {
                assert!(listing.contains(&word), "{word} of {query} is in the listing's words");
            }
        }
    }
}
