//! One seller's many matches share the best places with other sellers'.
//!
//! From a hostile trial: a spammer's 300 listings, each repeating the words people search,
//! filled every page of results, and an honest seller's one listing came 83rd of 84. Search
//! engines crowd a site's pages the same way: among the best [`WINDOW`] matches, a seller's
//! first [`PER_ROUND`] keep their places; its next [`PER_ROUND`] come after every other
//! seller's first [`PER_ROUND`], and so on. Nothing is dropped and the total is unchanged; a
//! search for one seller's listings is not crowded.
//!
//! The window is fixed, not the page's, so every page is cut from the same order: pages of 10
//! read in turn list what one page of 100 lists. Past the window, matches keep the search's
//! order.

use tantivy::columnar::Column;
use tantivy::{DocAddress, Searcher};

use super::SELLER_TAG_FIELD;
use crate::error::SearchError;

/// How many of the best matches are crowded. A seller whose matches all rank below this many
/// of another's is not lifted (its listings do not answer the words as well).
pub const WINDOW: usize = 200;

/// How many of one seller's matches keep their places in each round.
pub const PER_ROUND: usize = 3;

/// `ranked` (best first) with the first [`WINDOW`] crowded by `seller`: ordered by round (a
/// seller's first [`PER_ROUND`] matches are round 0, its next round 1, ...), then by their
/// place in `ranked`.
pub(super) fn crowd<T>(mut ranked: Vec<T>, seller: impl Fn(&T) -> u64) -> Vec<T> {
    let window = ranked.len().min(WINDOW);
    let mut seen: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut rounds: Vec<usize> = Vec::with_capacity(window);
    for item in &ranked[..window] {
        let n = seen.entry(seller(item)).or_default();
        rounds.push(*n / PER_ROUND);
        *n += 1;
    }
    let rest = ranked.split_off(window);
    let mut keyed: Vec<(usize, T)> = rounds.into_iter().zip(ranked).collect();
    // Stable: within a round, the search's order.
    keyed.sort_by_key(|(round, _)| *round);
    keyed.into_iter().map(|(_, item)| item).chain(rest).collect()
}

/// The seller tag of `key`: its first 8 bytes, enough to tell sellers apart (two keys sharing
/// them would cost 2^64 tries to make, and would only share their rounds).
pub(super) fn seller_tag(key: &haggle_protocol::PublicKey) -> u64 {
    let bytes = key.as_bytes();
    u64::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// The page at `offset` of `limit` hits cut from `ranked` (the search's best, at least
/// [`WINDOW`] of them or all there are), its first [`WINDOW`] crowded: only those have their
/// seller tags read.
pub(super) fn crowd_page<S>(
    searcher: &Searcher,
    mut ranked: Vec<(S, DocAddress)>,
    offset: usize,
    limit: usize,
) -> Result<Vec<(S, DocAddress)>, SearchError> {
    let rest = ranked.split_off(ranked.len().min(WINDOW));
    let mut tags = SellerTags::default();
    let tagged = ranked
        .into_iter()
        .map(|(score, address)| Ok((tags.read(searcher, address)?, score, address)))
        .collect::<Result<Vec<_>, SearchError>>()?;
    Ok(crowd(tagged, |(tag, _, _)| *tag)
        .into_iter()
        .map(|(_, score, address)| (score, address))
        .chain(rest)
        .skip(offset)
        .take(limit)
        .collect())
}

/// Reads hits' seller tags, keeping each segment's column once opened (hits in score order go
/// from segment to segment).
#[derive(Default)]
struct SellerTags {
    columns: std::collections::HashMap<u32, Column<u64>>,
}

impl SellerTags {
    /// The seller tag of the document at `address`.
    fn read(&mut self, searcher: &Searcher, address: DocAddress) -> Result<u64, SearchError> {
        let column = match self.columns.entry(address.segment_ord) {
            std::collections::hash_map::Entry::Occupied(column) => column.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let reader = searcher.segment_reader(address.segment_ord);
                slot.insert(reader.fast_fields().u64(SELLER_TAG_FIELD).map_err(super::index_err)?)
            }
        };
        Ok(column.first(address.doc_id).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sellers_matches_past_its_round_wait_for_every_other_sellers() {
        // Seller 1 holds the best five places, seller 2 the sixth, seller 3 the seventh.
        let ranked = vec![(1, 'a'), (1, 'b'), (1, 'c'), (1, 'd'), (1, 'e'), (2, 'f'), (3, 'g')];
        let crowded: String = crowd(ranked, |(s, _)| *s).into_iter().map(|(_, c)| c).collect();
        assert_eq!(crowded, "abcfgde");
    }

    #[test]
    fn matches_past_the_window_keep_their_order_and_nothing_is_lost() {
        // 250 of one seller's, then one of another's (at 251: outside the window).
        let mut ranked: Vec<(u64, usize)> = (0..250).map(|i| (1, i)).collect();
        ranked.push((2, 250));
        let crowded = crowd(ranked.clone(), |(s, _)| *s);
        assert_eq!(crowded, ranked, "one seller in the window: nothing moves");

        // The other seller inside the window is lifted to round 0; the rest keep their order.
        let mut ranked: Vec<(u64, usize)> = (0..250).map(|i| (1, i)).collect();
        ranked.insert(150, (2, 999));
        let crowded = crowd(ranked.clone(), |(s, _)| *s);
        assert_eq!(crowded[..4], [(1, 0), (1, 1), (1, 2), (2, 999)]);
        assert_eq!(crowded[4], (1, 3));
        assert_eq!(crowded[WINDOW..], ranked[WINDOW..], "past the window, the search's order");
        let mut sorted = crowded.clone();
        sorted.sort();
        let mut all = ranked;
        all.sort();
        assert_eq!(sorted, all, "the same matches, each once");
    }

    #[test]
    fn every_round_keeps_the_searchs_order_within_it() {
        let ranked = vec![(1, 0), (2, 1), (1, 2), (1, 3), (1, 4), (2, 5), (2, 6), (2, 7), (3, 8)];
        let crowded: Vec<usize> = crowd(ranked, |(s, _)| *s).into_iter().map(|(_, i)| i).collect();
        assert_eq!(crowded, [0, 1, 2, 3, 5, 6, 8, 4, 7]);
    }
}
