//! When a listing stops being on offer (retracted, sold out, expired), every open thread on it
//! ends, and the other side is told: the listing's author withdraws its own terms on the table
//! and declines the other party's. No deal can form on such a thread afterwards (a reply that
//! crossed one of these messages in flight is settled by the protocol's crossing rule).

use haggle_protocol::{Body, Decline, Listing, ListingStatus, Object, Reply, Timestamp, Withdraw};
use haggle_storage::ThreadRecord;

use super::{Conflict, Followups, Service, ServiceError};

/// Why a listing's threads end; the note the other party reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// The author retracted the listing.
    Retracted,
    /// The last of it went in a deal.
    SoldOut,
    /// It expired without being renewed.
    Expired,
}

impl Ending {
    fn note(self) -> &'static str {
        match self {
            Ending::Retracted => "The listing was retracted.",
            Ending::SoldOut => "Sold out, sorry.",
            Ending::Expired => "The listing expired.",
        }
    }
}

impl Service {
    /// Ends every open thread on `listing` (one of the owner's), signing a Withdraw of the
    /// owner's terms or a Decline of the other party's in each, queued for delivery.
    pub(super) fn end_threads(
        &self,
        listing: &Object,
        ending: Ending,
        then: &mut Followups,
    ) -> Result<(), ServiceError> {
        let me = self.me();
        let Some(key) = listing.listing_key().filter(|k| k.author == me) else { return Ok(()) };
        let now = Timestamp::now();
        for thread in self.store.threads_on(&key)? {
            if thread.view.state.is_final() {
                continue;
            }
            let reply =
                Reply { thread: thread.view.thread, prev: thread.view.head(), to: thread.view.offerer };
            let message = ending.note().to_owned();
            let body = if thread.view.proposer == me {
                Body::Withdraw(Withdraw { reply, message })
            } else {
                Body::Decline(Decline { reply, message })
            };
            let object = self.sign(body, now)?;
            self.ingest_own(&object)?;
            then.deliver.push(thread.view.offerer);
        }
        Ok(())
    }

    /// Ends the threads on the owner's listings that have expired without being renewed.
    pub(super) fn end_expired_threads(&self, then: &mut Followups) -> Result<(), ServiceError> {
        let now = Timestamp::now();
        for entry in self.store.listings_by(&self.me())? {
            let expired = entry
                .object
                .listing()
                .is_some_and(|l| l.status == ListingStatus::Active && l.expires_at <= now);
            if expired {
                self.end_threads(&entry.object, Ending::Expired, then)?;
            }
        }
        Ok(())
    }

    /// Refuses an answer that would make a deal on a listing that is no longer on offer (as far
    /// as this node knows: the author's node ends such threads and says so).
    pub(super) fn still_on_offer(&self, thread: &ThreadRecord) -> Result<(), ServiceError> {
        let Some(key) = thread.listing.as_ref().and_then(Object::listing_key) else { return Ok(()) };
        let Some(current) = self.store.listing(&key)? else { return Ok(()) };
        match current.listing() {
            Some(Listing { status: ListingStatus::Closed, .. }) => {
                Err(Conflict::ListingClosed(current.id()).into())
            }
            Some(l) if l.expires_at <= Timestamp::now() => Err(Conflict::ListingExpired(current.id()).into()),
            _ => Ok(()),
        }
    }
}
