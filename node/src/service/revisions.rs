//! The owner's listing after a deal: the next revision a deal or a cancellation calls for
//! (quantity down or back, nights booked or freed, closed when nothing is left), and the
//! start-up repair that signs any such revision a crash left unsigned.

use std::time::Duration;

use haggle_protocol::{
    Body, Deal, Listing, ListingKind, ListingStatus, Market, Object, ObjectId, ThreadState, Timestamp,
    Verified,
};

use haggle_storage::Outcome;

use super::actions::{TOMBSTONE_LIFETIME, next_revision};
use super::endings::Ending;
use super::{Conflict, Followups, Service, ServiceError};
use crate::api::types::NodeEvent;

impl Service {
    /// What follows a deal, whoever's message made it: the deal is announced, and when the
    /// listing is the owner's, its next revision (quantity down, or closed when none is left) is
    /// signed, stored, announced and queued for gossip.
    pub(super) fn after_deal(&self, deal_id: ObjectId, then: &mut Followups) -> Result<(), ServiceError> {
        let Some(deal) = self.store.deal(&deal_id)? else { return Ok(()) };
        // A fault hook for the crash test (debug builds only): die here, between the deal and
        // the revision it calls for, with no cleanup (as a power cut would).
        #[cfg(debug_assertions)]
        if std::env::var_os("HAGGLE_TEST_CRASH_AFTER_DEAL").is_some() {
            std::process::abort();
        }
        // A failure to read the auction leaves its end to the settle run, not the deal unsaid.
        if let Err(e) = self.tell_end_before_deal(&deal, then) {
            tracing::warn!(deal = %deal_id, error = %e, "cannot read the auction a deal sells");
        }
        then.events.push(NodeEvent::DealMade { id: deal_id, thread: deal.offer().id() });
        // A free digital good's key goes to the buyer at once.
        if let Err(e) = self.hand_over_file(deal_id, then) {
            tracing::warn!(deal = %deal_id, error = %e, "cannot hand over a digital good's key");
        }
        self.revise_after(&deal, then)
    }

    /// What follows a `cancel` or `received` on deal `deal_id`: when the deal is now called off
    /// (both parties signed `cancel`, or the seller alone once the buyer had not paid in time:
    /// [`haggle_protocol::DealState::called_off_unpaid`], which no step of the buyer's undoes)
    /// and the owner's listing has not given back what it took,
    /// the next revision gives back its nights or its quantity, so others can book or buy them
    /// again. A `received` that crossed the last `cancel` does not bring the deal back (a
    /// cancellation both signed is final), so what was given back is never taken again: it may
    /// be promised to someone else by then. Whether the listing has given them back is
    /// stored with the revision ([`haggle_storage::Store::ingest_own_settling`]), and this runs
    /// under the revision lock, so two steps at once, a repeated delivery or a restart never
    /// give back twice. A listing the deal sold out is reopened with what it gave back, until the
    /// expiry it had before (see [`Self::reopenable`]).
    pub(super) fn after_step(&self, deal_id: ObjectId, then: &mut Followups) -> Result<(), ServiceError> {
        let Some(deal) = self.store.deal(&deal_id)? else { return Ok(()) };
        if deal.listing_author() != self.me() {
            return Ok(());
        }
        let next = {
            let _revising = self.revising();
            self.settle_cancellation(&deal)?
        };
        // Nights given back on an instant-booking calendar: a request waiting for them, at the
        // asking price, is booked now, as it would have been had they been free when it came.
        let freed = next.as_ref().filter(|n| {
            deal.terms().dates.is_some() && n.listing().and_then(|l| l.calendar()).is_some_and(|c| c.instant)
        });
        let key = freed.and_then(|n| n.listing_key());
        self.announce_revision(next, then);
        if let Some(key) = key {
            self.book_waiting_requests(&key, then)?;
        }
        Ok(())
    }

    /// When the last `cancel` of deal `id` held here was signed, if any.
    pub(super) fn last_cancel(&self, id: &ObjectId) -> Result<Option<Timestamp>, ServiceError> {
        Ok(self
            .store
            .deal_steps(id)?
            .iter()
            .filter(|o| matches!(o.body(), Body::Step(s) if matches!(s.step, haggle_protocol::lifecycle::Step::Cancel)))
            .map(Object::created_at)
            .max())
    }

    /// The owner's listing's next revision when `deal`'s cancellation is not settled (see
    /// [`Self::after_step`]); `None` when it is, or when there is nothing to give back: the
    /// listing is retracted, expired, a campaign, an auction or a digital good, or its current
    /// revision never took the deal off (it came before the deal), and then the deal is only
    /// noted as settled.
    fn settle_cancellation(&self, deal: &Deal) -> Result<Option<Verified<Object>>, ServiceError> {
        let id = deal.id();
        let cancelled = self.store.is_cancelled(&id)?;
        if cancelled == self.store.given_back(&id)? {
            return Ok(None);
        }
        let counted = match self.counted_listing(deal)? {
            Some(counted) => Some(counted),
            None if cancelled => self.reopenable(deal)?,
            None => None,
        }
        .filter(|(_, current, _)| deal.made_at() < current.created_at());
        let Some((key, current, mut listing)) = counted else {
            self.store.set_given_back(&id, cancelled)?;
            return Ok(None);
        };

        let now = self.dated_after_deals(&key, Timestamp::now())?;
        let now = now.max(current.created_at().saturating_add(Duration::from_millis(1)));
        // Dated after the last cancel, so that a node restored from a backup tells a revision
        // that gave the deal back from one before it (see `settle_given_back`); by at most a
        // second more for a cancel dated ahead of this clock, as peers turn away a revision
        // dated further ahead.
        let now = match self.last_cancel(&id)? {
            Some(at) if cancelled => now.max(
                at.saturating_add(Duration::from_millis(1)).min(now.saturating_add(Duration::from_secs(1))),
            ),
            _ => now,
        };
        listing.revision = next_revision(&current)?;
        let quantity = u64::from(deal.terms().quantity);
        if let (Some(dates), Some(Market::Calendar(calendar))) = (deal.terms().dates, listing.market.as_mut())
        {
            if cancelled {
                calendar.release(dates);
            } else {
                calendar.book(dates);
            }
            calendar.forget_before(haggle_protocol::calendar::day_of(now));
        } else if cancelled {
            let back = u64::from(listing.quantity) + quantity;
            listing.quantity =
                u32::try_from(back.min(u64::from(haggle_protocol::limits::MAX_QUANTITY))).unwrap_or(u32::MAX);
        } else if u64::from(listing.quantity) <= quantity {
            listing.status = ListingStatus::Closed;
            listing.quantity = 0;
            listing.expires_at = now.saturating_add(TOMBSTONE_LIFETIME);
        } else {
            listing.quantity -= deal.terms().quantity;
        }
        let object = self.sign(Body::Listing(listing), now)?;
        match self.store.ingest_own_settling(&object, &id, cancelled)? {
            Outcome::New { .. } => Ok(Some(object)),
            Outcome::Rejected(r) => Err(r.reason.into()),
            _ => Err(Conflict::NewerRevision.into()),
        }
    }

    /// Announces and queues for gossip a revision the owner's node wrote after a deal or its
    /// cancellation; a revision that closes the listing (sold out) ends its open threads.
    fn announce_revision(&self, next: Option<Verified<Object>>, then: &mut Followups) {
        if let Some(next) = next {
            then.events.push(NodeEvent::ListingPublished { id: next.id(), automatic: true });
            then.publish.push(next.bytes().to_vec());
            if next.listing().is_some_and(|l| l.status == ListingStatus::Closed) {
                self.end_threads(&next, Ending::SoldOut, then);
            }
        }
    }

    /// Tells an auction's end before the deal that sells it, where the settle run has not told
    /// it yet (a retrial's winner read `deal made` before `auction ended: you won`): the accept
    /// can reach the winner's node before its own tick finds the end. Told once, as the settle
    /// run would, which then passes it by.
    fn tell_end_before_deal(&self, deal: &Deal, then: &mut Followups) -> Result<(), ServiceError> {
        let Some(key) = deal.listing().listing_key() else { return Ok(()) };
        match deal.offer().kind() {
            haggle_protocol::ObjectKind::Bid => {}
            haggle_protocol::ObjectKind::Pledge => return self.tell_campaign_end(&key, then),
            _ => return Ok(()),
        }
        if self.announced(&key) {
            return Ok(());
        }
        let Some((head, view)) = self.store.auction(&key)? else { return Ok(()) };
        if !view.is_over(Timestamp::now()) {
            return Ok(());
        }
        let ended = super::auctions::ended_event(&self.store, &head, &view, &self.me())?;
        self.announce_end(key, view.ends_at, ended, then);
        Ok(())
    }

    /// Publishes the owner's listing's next revision after `deal` (see [`Self::after_deal`]).
    fn revise_after(&self, deal: &Deal, then: &mut Followups) -> Result<(), ServiceError> {
        let next = {
            let _revising = self.revising();
            self.next_revision_after(deal)?
        };
        self.announce_revision(next, then);
        Ok(())
    }

    /// Repairs what a crash left half done: Accepts of the owner's terms that arrived but were
    /// not confirmed yet (confirmed now if the terms still stand), then the listing revisions
    /// deals call for (see below).
    pub fn repair(&self) -> Result<Followups, ServiceError> {
        let mut then = Followups::default();
        self.confirm_waiting(self.store.threads_of(&self.me())?, &mut then);
        self.repair_revisions(&mut then)?;
        if let Err(e) = self.hand_over_due(&mut then) {
            tracing::warn!(error = %e, "cannot hand over the keys of digital goods paid for");
        }
        Ok(then)
    }

    /// Confirms each Accept of the owner's terms among `threads` that waits for this node's
    /// Confirm, if the terms still stand (see [`Self::confirm_if_due`]); a thread that cannot be
    /// read or confirmed is logged and left for the next try.
    pub(super) fn confirm_waiting(&self, threads: Vec<haggle_storage::ThreadRecord>, then: &mut Followups) {
        for thread in threads {
            if thread.view.state == ThreadState::Confirming
                && thread.view.proposer == self.me()
                && let Err(e) = self.confirm_if_due(thread.view.thread, then)
            {
                tracing::warn!(thread = %thread.view.thread.fmt_short(), error = %e, "cannot confirm an accept");
            }
        }
    }

    /// Repairs what a crash between a deal and the owner's next listing revision left behind:
    /// a deal on one of the owner's listings made at or after the listing's current revision
    /// was signed is one the revision does not count yet (the revision [`Self::after_deal`]
    /// writes is always signed after the deal), so that revision is written now, deal by deal
    /// in the order they were made. Run once at start; returns what to announce and gossip.
    pub fn repair_after_deals(&self) -> Result<Followups, ServiceError> {
        let mut then = Followups::default();
        self.repair_revisions(&mut then)?;
        Ok(then)
    }

    /// [`Self::repair_after_deals`], adding to `then`.
    fn repair_revisions(&self, then: &mut Followups) -> Result<(), ServiceError> {
        for entry in self.store.listings_by(&self.me())? {
            let current = entry.object.created_at();
            // A campaign, a digital good, and a service or rental without a calendar owe no
            // revision after a deal.
            let closed = entry.object.listing().is_none_or(|l| {
                l.status == ListingStatus::Closed
                    || l.kind == ListingKind::Crowdfund
                    || l.deals_leave_quantity()
            });
            // Read from the deal index first: deals are decoded only for a listing that owes one.
            if closed {
                continue;
            }
            // Deals called off, or brought back by a `received`, whose revision a crash left
            // unwritten (or that were called off before this node gave anything back).
            // One deal that cannot be settled is logged; the others, and the other listings,
            // are still repaired.
            for deal in self.store.unsettled_cancellations(&entry.key)? {
                // The current revision signed after the last cancel is the one that gave it
                // back, on a node that lost that record (restored from a backup, the calling
                // off given back by the other party before sync brought the revision): marked,
                // not given back twice. Only here, at start: live, another deal's revision may
                // come between a cancel and its settling.
                if self.store.is_cancelled(&deal)? && self.last_cancel(&deal)?.is_some_and(|at| current > at)
                {
                    self.store.set_given_back(&deal, true)?;
                    continue;
                }
                tracing::info!(%deal, "settling a deal called off");
                if let Err(e) = self.after_step(deal, then) {
                    tracing::warn!(%deal, error = %e, "cannot settle a deal called off");
                }
            }
            if !self.store.deal_terms_on(&entry.key)?.iter().any(|(_, _, made_at)| *made_at >= current) {
                continue;
            }
            let mut uncounted = Vec::new();
            for deal in self.store.deals_on(&entry.key)? {
                // A deal called off meanwhile takes nothing, nor does one without nights on a
                // listing that takes bookings.
                let takes = entry.object.listing().is_some_and(|l| takes_from(l, &deal));
                if deal.made_at() >= current && takes && !self.store.is_cancelled(&deal.id())? {
                    uncounted.push(deal);
                }
            }
            uncounted.sort_by_key(|d| (d.made_at(), d.id()));
            for deal in uncounted {
                tracing::info!(deal = %deal.id(), "writing the listing revision a deal left pending");
                if let Err(e) = self.revise_after(&deal, then) {
                    tracing::warn!(deal = %deal.id(), error = %e, "cannot write the revision a deal left pending");
                }
            }
        }
        Ok(())
    }

    /// The current revision of `deal`'s listing, its key and its body, if it is the owner's and
    /// held here.
    fn owners_listing(
        &self,
        deal: &Deal,
    ) -> Result<Option<(haggle_protocol::ListingKey, Object, Listing)>, ServiceError> {
        if deal.listing_author() != self.me() {
            return Ok(None);
        }
        let Some(key) = deal.listing().listing_key() else { return Ok(None) };
        let Some(current) = self.store.listing(&key)? else { return Ok(None) };
        let Some(listing) = current.listing().cloned() else { return Ok(None) };
        Ok(Some((key, current, listing)))
    }

    /// The current revision of `deal`'s listing, if it is the owner's and counts its deals:
    /// `None` for someone else's listing (their node revises it), a closed or expired one, a campaign (it
    /// makes a deal with every backer and stays as it is), a digital good (it sells copies
    /// without counting down: a revision per sale would flood the network), or a listing that
    /// takes bookings when the deal names no nights (its offer came before the calendar): such
    /// a listing is let by the night, so the deal takes neither nights nor its one unit.
    fn counted_listing(
        &self,
        deal: &Deal,
    ) -> Result<Option<(haggle_protocol::ListingKey, Object, Listing)>, ServiceError> {
        let Some((key, current, listing)) = self.owners_listing(deal)? else { return Ok(None) };
        if listing.status == ListingStatus::Closed
            || listing.expires_at <= Timestamp::now()
            || listing.kind == ListingKind::Crowdfund
            || listing.deals_leave_quantity()
            || !takes_from(&listing, deal)
        {
            return Ok(None);
        }
        Ok(Some((key, current, listing)))
    }

    /// The owner's listing, reopened, when it is closed with nothing left (sold out: a retracted
    /// listing keeps its quantity) and `deal` may be what sold it out: a listing of things sold
    /// by the unit, not an auction or a campaign, whose revision before the closing one is still
    /// live. The listing returned is that closed revision made active again, with the expiry it
    /// had before; giving back the deal's quantity is the caller's.
    fn reopenable(
        &self,
        deal: &Deal,
    ) -> Result<Option<(haggle_protocol::ListingKey, Object, Listing)>, ServiceError> {
        let Some((key, current, mut listing)) = self.owners_listing(deal)? else { return Ok(None) };
        if !self.may_reopen(&key, &listing)? {
            return Ok(None);
        }
        let before = self.store.previous_revision(&key)?;
        let Some(before) = before.as_ref().and_then(|o| o.listing()) else { return Ok(None) };
        // An hour to spare, so the reopened revision is not refused as expired on the way.
        if before.expires_at <= Timestamp::now().saturating_add(Duration::from_secs(3_600)) {
            return Ok(None);
        }
        listing.status = ListingStatus::Active;
        listing.expires_at = before.expires_at;
        Ok(Some((key, current, listing)))
    }

    /// Whether the owner's listing `key`, whose current revision is `listing`, is one a deal sold
    /// out and that reopens if a deal for it is called off: closed with nothing left, of a kind
    /// whose deals take quantity, and closed by that revision (the one before was open: a
    /// listing retracted since it sold out stays closed).
    pub(super) fn may_reopen(
        &self,
        key: &haggle_protocol::ListingKey,
        listing: &Listing,
    ) -> Result<bool, ServiceError> {
        if !reopens_if_called_off(listing) {
            return Ok(false);
        }
        // The revision just before: one not held (after a restore from the key alone) says
        // nothing, and nothing reopens.
        let before = self.store.previous_revision(key)?;
        Ok(before.as_ref().and_then(|o| o.listing()).is_some_and(|b| {
            b.revision.checked_add(1) == Some(listing.revision) && b.status != ListingStatus::Closed
        }))
    }

    /// The next revision of the owner's listing after `deal` (its quantity less the deal's, or a
    /// tombstone when none is left); `None` if the listing is someone else's (their node does
    /// this) or already closed.
    fn next_revision_after(&self, deal: &Deal) -> Result<Option<Verified<Object>>, ServiceError> {
        // A deal called off meanwhile takes nothing (checked under the revision lock, like the
        // settling of a cancellation).
        if self.store.is_cancelled(&deal.id())? {
            return Ok(None);
        }
        let Some((_, current, mut listing)) = self.counted_listing(deal)? else { return Ok(None) };
        // This node runs this once per deal, when it first learns of it, so the current revision
        // cannot count it yet (even one the owner wrote after the deal was made, while the
        // deal's last message was still on its way): the deal's quantity comes off it.
        let left = u64::from(listing.quantity).saturating_sub(u64::from(deal.terms().quantity));
        let now = Timestamp::now().max(deal.made_at().saturating_add(Duration::from_millis(1)));
        listing.revision = next_revision(&current)?;
        // A booking takes nights, not the unit: they are marked booked for everyone to see.
        if let (Some(dates), Some(Market::Calendar(calendar))) = (deal.terms().dates, listing.market.as_mut())
        {
            calendar.book(dates);
            calendar.forget_before(haggle_protocol::calendar::day_of(now));
        } else if left == 0 {
            listing.status = ListingStatus::Closed;
            listing.quantity = 0;
            listing.expires_at = now.saturating_add(TOMBSTONE_LIFETIME);
        } else {
            listing.quantity = u32::try_from(left).unwrap_or(u32::MAX);
        }
        let object = self.sign(Body::Listing(listing), now)?;
        self.ingest_own(&object)?;
        Ok(Some(object))
    }
}

/// Whether `deal` takes something of `listing` (its quantity, or nights): not when the listing
/// takes bookings and the deal names no nights (its offer came before the calendar). Such a
/// listing is let by the night, and its one unit is never used up.
fn takes_from(listing: &Listing, deal: &Deal) -> bool {
    listing.calendar().is_none() || deal.terms().dates.is_some()
}

/// Whether `l`, closed, is sold out in a way a called-off deal undoes: things sold by the unit,
/// not an auction, a campaign, a calendar or a digital good (those deals leave the quantity).
fn reopens_if_called_off(l: &Listing) -> bool {
    l.status == ListingStatus::Closed
        && l.quantity == 0
        && l.market.is_none()
        && !matches!(l.kind, ListingKind::Crowdfund | ListingKind::Auction)
        && !l.deals_leave_quantity()
}
