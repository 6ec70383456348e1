//! The owner's files: pictures attached to listings, digital goods sold (stored encrypted, the
//! key handed to each buyer sealed to the buyer's key once the deal is paid, or at once when it
//! is free), and the blob directory's upkeep.

use std::io::Read;

use haggle_protocol::blob::{DigitalFile, FileKey, Image, MAX_FILE_BYTES, MAX_PREVIEW_BYTES};
use haggle_protocol::lifecycle::Step;
use haggle_protocol::{BlobHash, BlobRef, Deal, ObjectId};

use super::{Conflict, Followups, InvalidInput, Service, ServiceError};
use crate::files::images;

/// A digital good's decrypted bytes, checked against the listing's hash.
#[derive(Debug)]
pub struct Download {
    /// The file as the listing describes it.
    pub file: DigitalFile,
    /// The key, opened with the owner's key.
    pub key: FileKey,
}

impl Service {
    /// Stores a picture for a listing (checked by its bytes, stripped of location data unless
    /// `keep_metadata`, with a thumbnail), pinned while the owner's listings name it.
    pub fn store_image(&self, bytes: Vec<u8>, keep_metadata: bool) -> Result<Image, ServiceError> {
        let prepared =
            images::prepare(bytes, keep_metadata).map_err(|e| InvalidInput::File(e.to_string()))?;
        let blob = self.blobs.insert(&prepared.bytes, true).map_err(blob_err)?;
        let thumb = self.blobs.insert(&prepared.thumb, true).map_err(blob_err)?;
        Ok(Image { blob, kind: prepared.kind, width: prepared.width, height: prepared.height, thumb })
    }

    /// Stores a file as it is (a digital good's preview), pinned.
    pub fn store_blob(&self, bytes: &[u8]) -> Result<BlobRef, ServiceError> {
        // An empty file is nothing to show, and no node would fetch it (a fetch is 1 byte or
        // more).
        if bytes.is_empty() {
            return Err(InvalidInput::File("the file is empty: send its bytes as the body".into()).into());
        }
        if bytes.len() as u64 > MAX_PREVIEW_BYTES {
            return Err(InvalidInput::File(format!(
                "the file is {} bytes, over the {MAX_PREVIEW_BYTES}-byte limit of a preview",
                bytes.len()
            ))
            .into());
        }
        self.blobs.insert(bytes, true).map_err(blob_err)
    }

    /// Stores a digital good's file encrypted under a fresh key (kept on this node), pinned:
    /// what a `digital` listing's `file` names. `source` is read once, never whole in memory.
    pub fn store_digital(&self, name: &str, source: impl Read) -> Result<DigitalFile, ServiceError> {
        haggle_protocol::blob::check_file_name(name).map_err(|e| InvalidInput::File(format!("name: {e}")))?;
        let key = FileKey::generate();
        let (sealed, hash) =
            self.blobs.import(source, Some(&key), MAX_FILE_BYTES, true).map_err(|e| match e {
                haggle_storage::blobs::BlobError::TooLarge { size, max } => {
                    ServiceError::from(InvalidInput::File(format!(
                        "the file is over {size} bytes, over the {max}-byte (1 GiB) limit of a digital good"
                    )))
                }
                other => blob_err(other),
            })?;
        if sealed.size == 0 {
            return Err(InvalidInput::File("the file is empty".into()).into());
        }
        self.blobs.save_key(&sealed.hash, &key).map_err(blob_err)?;
        Ok(DigitalFile { name: name.to_owned(), hash, size: sealed.size, sealed: sealed.hash, preview: None })
    }

    /// Hands over a digital good's key when the deal calls for it: this node sold it, no key
    /// was handed over yet, and the good is free, or the buyer said it paid the seller's payment
    /// request (unless the owner hands keys over by hand, `deliver_on_paid = false`). The key
    /// goes sealed to the buyer, as a deal step.
    pub(super) fn hand_over_file(&self, deal_id: ObjectId, then: &mut Followups) -> Result<(), ServiceError> {
        match self.store.deal(&deal_id)? {
            Some(deal) => self.hand_over(&deal, then),
            None => Ok(()),
        }
    }

    /// [`Service::hand_over_file`] for a deal already read.
    fn hand_over(&self, deal: &Deal, then: &mut Followups) -> Result<(), ServiceError> {
        let deal_id = deal.id();
        let Some(file) = deal.listing().listing().and_then(|l| l.file.clone()) else { return Ok(()) };
        if deal.seller() != self.me() {
            return Ok(());
        }
        let state = self.store.deal_state(deal)?;
        let free = deal.terms().price.amount == 0;
        // A payment claimed without a payment request of the seller's is no payment.
        let paid = self.policy.deliver_on_paid && state.payment.is_some() && state.paid.is_some();
        if state.file_key.is_some() || !(free || paid) || state.stage().is_final() {
            return Ok(());
        }
        let Some(key) = self.blobs.key(&file.sealed) else {
            tracing::warn!(deal = %deal_id, "a digital good was paid for but its key is not on this node");
            return Ok(());
        };
        let sealed = key.seal_to(&deal.buyer()).map_err(|e| InvalidInput::File(e.to_string()))?;
        let effect = self.deal_step(&deal_id.to_hex(), Step::FileKey(sealed))?;
        then.merge(effect.then);
        Ok(())
    }

    /// `haggle deliver`: the seller hands the buyer the key now, whatever the deal's stage
    /// (after checking the payment arrived, when the node does not do it by itself).
    pub fn deliver(&self, given: &str) -> Result<super::Effect, ServiceError> {
        let deal = self.deal_named(given)?;
        let file =
            deal.listing().listing().and_then(|l| l.file.clone()).ok_or(Conflict::NotDigital(deal.id()))?;
        if deal.seller() != self.me() {
            return Err(Conflict::NotSeller(deal.id()).into());
        }
        let key = self.blobs.key(&file.sealed).ok_or(Conflict::KeyLost(deal.id()))?;
        let sealed = key.seal_to(&deal.buyer()).map_err(|e| InvalidInput::File(e.to_string()))?;
        self.deal_step(&deal.id().to_hex(), Step::FileKey(sealed))
    }

    /// Hands over every key the owner's deals call for and did not get (a crash between a
    /// payment and its key, a key file restored since): run at start and at each sweep. A deal
    /// whose key cannot go (say, a buyer key with no X25519 form) is logged and skipped, so it
    /// never holds up the others.
    pub(super) fn hand_over_due(&self, then: &mut Followups) -> Result<(), ServiceError> {
        let me = self.me();
        for deal in self.store.deals_of(&me)? {
            let digital = deal.listing().listing().is_some_and(|l| l.file.is_some());
            if digital
                && deal.seller() == me
                && let Err(e) = self.hand_over(&deal, then)
            {
                tracing::warn!(deal = %deal.id(), error = %e, "cannot hand over a digital good's key");
            }
        }
        Ok(())
    }

    /// Accepts an offer on one of the owner's digital goods that pays the asking price (or
    /// more) in its currency for one copy: a file is sold like a shop sells, with no haggling
    /// the owner must answer by hand. Lower offers wait for the owner. Says whether it accepted.
    pub(super) fn accept_if_bought(
        &self,
        thread: ObjectId,
        then: &mut Followups,
    ) -> Result<bool, ServiceError> {
        let Some((record, current)) = self.open_offer_to_me(thread)? else { return Ok(false) };
        let Some(listing) = current.listing() else { return Ok(false) };
        let Some(file) = &listing.file else { return Ok(false) };
        // Nothing is sold by itself that no buyer could get (the owner is told, `file_lost`).
        if !buys_at_once(listing, &record.view.terms) || self.file_lost(file) {
            return Ok(false);
        }
        Ok(self.accept_by_itself(thread, then, "not selling a digital good by itself"))
    }

    /// Whether the owner's digital good `file` can no longer reach a buyer from this node: its
    /// encrypted copy or its key is gone from the blob directory.
    pub(super) fn file_lost(&self, file: &DigitalFile) -> bool {
        self.blobs.still_held(&file.sealed).is_none() || self.blobs.key(&file.sealed).is_none()
    }

    /// The digital good bought in deal `given`, with its key: for the buyer once the seller's
    /// node handed the key over.
    pub fn download(&self, given: &str) -> Result<Download, ServiceError> {
        let deal = self.deal_named(given)?;
        let (file, key) = self.file_of(&deal)?;
        Ok(Download { file, key })
    }

    /// The encrypted file of the digital good bought in deal `given`, to fetch.
    pub fn deal_file(&self, given: &str) -> Result<(DigitalFile, libp2p::PeerId), ServiceError> {
        let deal = self.deal_named(given)?;
        let file =
            deal.listing().listing().and_then(|l| l.file.clone()).ok_or(Conflict::NotDigital(deal.id()))?;
        let seller = deal.seller().peer_id();
        Ok((file, seller))
    }

    fn file_of(&self, deal: &Deal) -> Result<(DigitalFile, FileKey), ServiceError> {
        let file =
            deal.listing().listing().and_then(|l| l.file.clone()).ok_or(Conflict::NotDigital(deal.id()))?;
        if deal.seller() == self.me() {
            let key = self.blobs.key(&file.sealed).ok_or(Conflict::KeyLost(deal.id()))?;
            return Ok((file, key));
        }
        let state = self.store.deal_state(deal)?;
        let (sealed, _) = state.file_key.ok_or(Conflict::NoFileKey(deal.id()))?;
        let key = FileKey::open(&self.key, &sealed)
            .map_err(|e| InvalidInput::File(format!("the key the seller sent does not open: {e}")))?;
        Ok((file, key))
    }

    /// Drops files no stored listing names any more, the owner's uploads nothing names an hour
    /// after they were made, and the least recently used of other people's files past `budget`
    /// bytes. The files of the owner's listings and deals (a digital good bought included) stay.
    /// Returns the bytes freed.
    pub fn retain_files(&self, budget: u64) -> Result<u64, ServiceError> {
        if self.blobs.usage().0 == 0 && self.blobs.partial_count() == 0 {
            return Ok(0);
        }
        let me = self.me();
        let mut keep = std::collections::HashSet::new();
        let listings = self.store.listings_by(&me)?.into_iter().map(|e| e.object);
        let deals = self.store.deals_of(&me)?.into_iter().map(|d| d.listing().clone());
        for object in listings.chain(deals) {
            if let Some(l) = object.listing() {
                keep.extend(l.files());
            }
        }
        let named = self.store.files_named()?;
        Ok(self.blobs.retain(
            |h: &BlobHash| keep.contains(h),
            |h: &BlobHash| named.contains(h),
            budget,
            UPLOAD_GRACE,
        ))
    }
}

/// How long an upload nothing names is kept: time enough to publish the listing that names it.
const UPLOAD_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

fn blob_err(e: haggle_storage::blobs::BlobError) -> ServiceError {
    ServiceError::Files(e.to_string())
}

/// Whether `terms` buy a digital good at its price, one copy: what the seller's node accepts by
/// itself (when it holds the file's key); the buyer's node asks it too, to wait for that answer.
pub(super) fn buys_at_once(listing: &haggle_protocol::Listing, terms: &haggle_protocol::Terms) -> bool {
    let (Some(price), Some(_)) = (&listing.price, &listing.file) else { return false };
    let offered = &terms.price;
    listing.kind == haggle_protocol::ListingKind::Digital
        && offered.currency == price.currency
        && offered.amount >= price.amount
        && terms.quantity == 1
}

#[cfg(test)]
mod tests {
    use haggle_protocol::{ListingKind, ThreadState};

    use crate::api::types::{ListingDraft, ListingsParams, TermsDraft};
    use crate::service::Via;
    use crate::service::testing::{draft, service};

    /// From a trial: a preview that is the file itself (the same bytes) gave the file away to
    /// anyone who asked; refused at publishing and at an update alike.
    #[test]
    fn a_preview_that_is_the_file_itself_is_refused() {
        let (seller, _dir) = service(1);
        let bytes: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = seller.store_digital("pattern.pdf", &bytes[..]).expect("stored");
        file.preview = Some(seller.store_blob(&bytes).expect("the same bytes as a preview"));
        let digital = |file| ListingDraft {
            kind: ListingKind::Digital,
            file: Some(file),
            quantity: None,
            ..draft("Knitting pattern", "3")
        };
        let refused = seller.publish(digital(file.clone())).expect_err("gives it away").to_string();
        assert!(refused.contains("the preview and the file are the same bytes"), "{refused}");
        // A sample is taken; an update whose new file is that sample is refused.
        let sample = seller.store_blob(&bytes[..500]).expect("a sample");
        file.preview = Some(sample);
        let id = seller.publish(digital(file)).expect("published").object.id().to_hex();
        let mut same = seller.store_digital("sample.pdf", &bytes[..500]).expect("stored");
        same.preview = Some(sample);
        let patch = crate::api::types::ListingPatch { file: Some(same), ..Default::default() };
        let refused = seller.update(&id, patch).expect_err("gives it away").to_string();
        assert!(refused.contains("the preview and the file are the same bytes"), "{refused}");
    }

    /// From a trial: the seller's encrypted copy of a digital good, removed from `blobs/` by
    /// hand, was still sold by itself and its key handed over, and nothing told the seller. Now
    /// the owner's views say the file is lost, and an offer at the price waits for the owner.
    #[test]
    fn a_digital_good_whose_file_is_lost_is_said_so_and_not_sold_by_itself() {
        let (seller, dir) = service(1);
        let (buyer, _bd) = service(2);
        let bytes: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let file = seller.store_digital("book.epub", &bytes[..]).expect("stored");
        let digital = ListingDraft {
            kind: ListingKind::Digital,
            file: Some(file.clone()),
            quantity: None,
            ..draft("Bread at home (e-book)", "5")
        };
        let listing = seller.publish(digital).expect("published").object;
        let id = listing.id().to_hex();
        assert!(!seller.listing_view(&id).expect("a view").file_lost);
        // Sold by itself while the file is here.
        buyer.receive(listing.bytes(), Via::Gossip);
        let bought = buyer.offer(&id, TermsDraft::default()).expect("offered").object;
        seller.receive(bought.bytes(), Via::Direct);
        let thread = seller.thread_view(&bought.id().to_hex()).expect("a thread");
        assert_ne!(thread.state, ThreadState::Open, "accepted by itself: {thread:?}");

        std::fs::remove_file(dir.path().join("blobs").join("complete").join(file.sealed.to_hex()))
            .expect("removed by hand");
        let view = seller.listing_view(&id).expect("a view");
        assert!(view.file_lost, "the owner is told");
        let mine = seller.my_listings(&ListingsParams::default()).expect("listed");
        assert!(mine.listings.iter().any(|l| l.id == view.id && l.file_lost));
        assert!(!buyer.listing_view(&id).expect("a view").file_lost, "only the owner's view says it");
        // A second buyer's offer at the price now waits for the owner.
        let (other, _od) = service(3);
        other.receive(listing.bytes(), Via::Gossip);
        let waits = other.offer(&id, TermsDraft::default()).expect("offered").object;
        seller.receive(waits.bytes(), Via::Direct);
        assert_eq!(seller.thread_view(&waits.id().to_hex()).expect("a thread").state, ThreadState::Open);
    }
}
