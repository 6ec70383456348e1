//! A listing's key in the search index, its seller's term and its nonce as two big-endian u64
//! halves in fast fields, and its indexed revision's id as four quarters. [`KeyQuery`] finds a
//! listing's document to replace it; [`IdReader`] reads a hit's revision id back.

use tantivy::columnar::Column;
use tantivy::query::{ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

use haggle_protocol::{ListingKey, ObjectId};

use crate::error::SearchError;

/// Matches the one document of a listing: the seller's posting list, each of its documents
/// checked against the nonce's halves in the fast fields. The work is bounded by the seller's
/// documents in each segment (a range query on a fast field, intersected with the seller's
/// term, would build its doc set by scanning the column from the segment's first document).
#[derive(Clone, Debug)]
pub(crate) struct KeyQuery {
    seller: Term,
    hi: u64,
    lo: u64,
}

impl KeyQuery {
    pub(crate) fn new(seller: Term, key: &ListingKey) -> KeyQuery {
        let (hi, lo) = nonce_halves(key);
        KeyQuery { seller, hi, lo }
    }

    fn matches(&self, reader: &SegmentReader) -> tantivy::Result<Vec<DocId>> {
        let index = reader.inverted_index(self.seller.field())?;
        let Some(mut postings) = index.read_postings(&self.seller, IndexRecordOption::Basic)? else {
            return Ok(Vec::new());
        };
        let fast = reader.fast_fields();
        let (hi, lo) = (fast.u64("nonce_hi")?, fast.u64("nonce_lo")?);
        let mut docs = Vec::new();
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if hi.first(doc) == Some(self.hi) && lo.first(doc) == Some(self.lo) {
                docs.push(doc);
            }
            doc = postings.advance();
        }
        Ok(docs)
    }
}

impl Query for KeyQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for KeyQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ConstScorer::new(Docs { docs: self.matches(reader)?, at: 0 }, boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.matches(reader)?.contains(&doc) {
            Ok(Explanation::new("the listing's key", 1.0))
        } else {
            Err(TantivyError::InvalidArgument(format!("document {doc} is not this listing's")))
        }
    }
}

pub(crate) fn nonce_halves(key: &ListingKey) -> (u64, u64) {
    let (hi, lo) = key.nonce.split_at(8);
    let half = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
    (half(hi), half(lo))
}

/// The documents a [`KeyQuery`] found in a segment, in order.
struct Docs {
    docs: Vec<DocId>,
    at: usize,
}

impl DocSet for Docs {
    fn advance(&mut self) -> DocId {
        self.at = (self.at + 1).min(self.docs.len());
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.at).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        u32::try_from(self.docs.len()).unwrap_or(u32::MAX)
    }
}

/// The fast fields that hold a revision's id, a big-endian quarter each.
pub(crate) const ID_FIELDS: [&str; 4] = ["id_0", "id_1", "id_2", "id_3"];

pub(crate) fn id_quarters(id: &ObjectId) -> [u64; 4] {
    let mut out = [0; 4];
    for (quarter, bytes) in out.iter_mut().zip(id.as_bytes().chunks_exact(8)) {
        *quarter = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
    }
    out
}

/// Reads hits' revision ids from the fast fields, opening each segment's columns once.
#[derive(Default)]
pub(crate) struct IdReader {
    segment: Option<(u32, [Column<u64>; 4])>,
}

impl IdReader {
    /// The id of the revision indexed at `address`, in the segment `reader` reads.
    pub(crate) fn read(
        &mut self,
        reader: &SegmentReader,
        address: DocAddress,
    ) -> Result<Option<ObjectId>, SearchError> {
        if self.segment.as_ref().is_none_or(|(ord, _)| *ord != address.segment_ord) {
            let fast = reader.fast_fields();
            let column = |name| fast.u64(name).map_err(crate::search::index_err);
            let columns =
                [column(ID_FIELDS[0])?, column(ID_FIELDS[1])?, column(ID_FIELDS[2])?, column(ID_FIELDS[3])?];
            self.segment = Some((address.segment_ord, columns));
        }
        let Some((_, columns)) = &self.segment else { return Ok(None) };
        let mut id = [0; 32];
        for (bytes, column) in id.chunks_exact_mut(8).zip(columns) {
            let Some(quarter) = column.first(address.doc_id) else { return Ok(None) };
            bytes.copy_from_slice(&quarter.to_be_bytes());
        }
        Ok(Some(ObjectId::from_bytes(id)))
    }
}
