//! Crowdfunding from the owner's side: pledging, the campaign as the API shows it, and the
//! deadline. At the deadline, if the campaign is funded, the creator's node accepts every
//! current pledge by itself and each backer's node confirms its own: one ordinary Deal per
//! backer, after which the creator sends payment requests as in any deal. If it is not funded,
//! nothing is signed: the pledges lapse and nothing is owed. Both sides announce the end once
//! (`campaign_ended`).

use std::time::Duration;

use haggle_protocol::crowdfund::{Campaign, CampaignView, Tier};
use haggle_protocol::{
    Accept, Body, ListingKind, ListingStatus, Market, Object, ObjectId, Offer, Price, PublicKey, Terms,
    ThreadState, Timestamp,
};
use haggle_storage::{Store, StoreError};

use super::actions::Effect;
use super::{Conflict, Followups, InvalidInput, Service, ServiceError, views};
use crate::api::types::{CampaignDraft, CampaignInfo, NodeEvent, PledgeRequest, PledgeView, TierView};

/// Current pledges a listing view shows, newest first.
const SHOWN: usize = 20;

/// How long before a campaign's deadline pledges close here: a pledge must reach the creator's
/// node before the deadline (it refuses one that arrives later) while every other node counts
/// it by the time it was signed, so one signed in the last moments would leave backers
/// thinking a goal was met that the creator's node never saw met. This covers the proof of
/// work and a few hops of gossip.
pub(crate) const LAST_CALL: Duration = Duration::from_secs(10);

/// Refuses a pledge to `listing` made within [`LAST_CALL`] of its `deadline`.
fn too_close(listing: ObjectId, deadline: Timestamp, now: Timestamp) -> Result<(), ServiceError> {
    if now.saturating_add(LAST_CALL) > deadline {
        return Err(Conflict::DeadlineTooClose { listing, deadline }.into());
    }
    Ok(())
}

impl Service {
    /// Pledges to someone else's campaign before its deadline (a public object); an amount of 0
    /// withdraws the owner's pledge.
    pub fn pledge(&self, given: &str, request: PledgeRequest) -> Result<Effect, ServiceError> {
        // One pledge of this node's at a time, from reading the backer's current pledge to
        // storing the next: two at once would both be dated after the same one, and tie.
        let _one_at_a_time = self.revising();
        let listing = self.listing(given)?;
        let key = listing.listing_key().ok_or_else(|| ServiceError::not_found("listing", given))?;
        let Some((head, view)) = self.store.campaign(&key)? else {
            // Named by the id typed, not by its current revision, which the user never saw.
            let takes = listing.listing().map_or(super::error::Takes::Offers, super::error::Takes::of);
            return Err(Conflict::NotACampaign(self.resolve(given, "listing")?, takes).into());
        };
        self.others_open(&head, given)?;
        let now = Timestamp::now();
        if view.is_over(now) {
            return Err(
                Conflict::CampaignEnded { listing: head.id(), deadline: view.campaign.deadline }.into()
            );
        }
        too_close(head.id(), view.campaign.deadline, now)?;
        let currency = view.goal.currency.clone();
        let amount = currency.parse_amount(request.amount.trim())?;
        if amount == 0 && view.backing_of(&self.me()).is_none_or(|b| b.amount == 0) {
            return Err(InvalidInput::Campaign("you have no pledge to withdraw").into());
        }
        // A pledge made before the block can still be withdrawn.
        if amount > 0 {
            self.not_to_blocked(&head.author(), "pledge to")?;
        }
        // The same pledge again changes nothing: refused, not signed and gossiped (a new message
        // with the same amount is a change).
        if let Some(current) = view.backing_of(&self.me()).filter(|b| b.amount == amount && amount > 0) {
            let said =
                self.store.get(&current.id)?.and_then(|o| o.body().opening().map(|b| b.message.clone()));
            if said.as_deref() == Some(request.message.as_str()) {
                let amount = Price::new(amount, currency).to_string();
                return Err(Conflict::SamePledge { listing: head.id(), amount }.into());
            }
        }
        // No cap on one's own pledges: each replaces the last on other nodes, and a backer can
        // always change or withdraw its pledge before the last call.
        let terms = Terms {
            quantity: 1,
            price: Price::new(amount, currency),
            expires_at: view.campaign.pledges_stand_until(),
            dates: None,
        };
        let body =
            Body::Pledge(Offer { listing: head.id(), to: head.author(), terms, message: request.message });
        // Dated after the backer's current pledge, so it replaces that one on every node even
        // when both fall in one millisecond (of two in a tie, the larger id counts: a coin
        // toss).
        let after_last =
            view.backing_of(&self.me()).map(|b| b.created_at.saturating_add(Duration::from_millis(1)));
        let object = self.sign(body, after_last.map_or(now, |after| now.max(after)))?;
        // The proof of work took a moment: the pledge must still reach the creator in time.
        too_close(head.id(), view.campaign.deadline, Timestamp::now())?;
        self.ingest_own(&object)?;
        let then = Followups {
            publish: vec![object.bytes().to_vec()],
            events: pledge_event(&self.store, &object, &self.me())?.into_iter().collect(),
            ..Followups::default()
        };
        Ok(Effect { object, then })
    }

    /// The view of what a bid or pledge action stored: its auction or campaign.
    pub fn effect_public_offer(
        &self,
        effect: &Effect,
    ) -> Result<crate::api::types::ListingView, ServiceError> {
        let Some(o) = effect.object.body().opening() else {
            return Err(ServiceError::not_found("bid or pledge", &effect.object.id().to_hex()));
        };
        self.listing_view(&o.listing.to_hex())
    }

    /// Accepts every current pledge of the owner's campaigns that reached their deadline
    /// funded, and announces, once each, the end of campaigns the owner created or backed.
    pub(super) fn settle_campaigns(
        &self,
        keys: &[haggle_protocol::ListingKey],
        now: Timestamp,
        then: &mut Followups,
    ) -> Result<(), ServiceError> {
        let me = self.me();
        for key in keys {
            let Some((head, view)) = self.store.campaign(key)? else { continue };
            if !view.is_over(now) || self.announced(key) {
                continue;
            }
            // A campaign its creator closed (retracted) before the deadline is owed nothing.
            let active = head.listing().is_some_and(|l| l.status == ListingStatus::Active);
            let open = active || head.created_at() > view.campaign.deadline;
            let mut blocked = 0;
            if key.author == me && view.funded() && open {
                blocked = self.accept_pledges(&head, then)?;
            }
            // Short of its goal, the creator's node says so to every node: a node that counts a
            // pledge this one never held (made while it was offline) would otherwise await
            // deals that never come.
            if key.author == me && !view.funded() && active {
                self.close_missed_campaign(key, then)?;
            }
            // Told by an earlier run: what the creator's node owes above still runs.
            self.announce_end(*key, view.campaign.deadline, ended_event(&head, &view, &me, blocked), then);
        }
        Ok(())
    }

    /// Tells the end of the campaign a pledge's deal was made on before the deal, once, when the
    /// creator's accept reaches this node before its own tick announced the end (a retrial's
    /// backer read the deal, then "becomes a deal when the creator's node accepts it").
    pub(super) fn tell_campaign_end(
        &self,
        key: &haggle_protocol::ListingKey,
        then: &mut Followups,
    ) -> Result<(), ServiceError> {
        if self.announced(key) {
            return Ok(());
        }
        let Some((head, view)) = self.store.campaign(key)? else { return Ok(()) };
        if !view.is_over(Timestamp::now()) {
            return Ok(());
        }
        self.announce_end(*key, view.campaign.deadline, ended_event(&head, &view, &self.me(), 0), then);
        Ok(())
    }

    /// Signs an Accept of each backer's current pledge not yet accepted (each is its own thread
    /// and its own deal once the backer's node confirms), except a blocked key's: those are left
    /// to the owner to accept or decline by hand, and counted in the result.
    fn accept_pledges(&self, head: &Object, then: &mut Followups) -> Result<usize, ServiceError> {
        let _revising = self.revising();
        let key = head.listing_key().expect("a campaign is a listing");
        let held = self.store.public_offers_on(&key)?;
        // Every backer's current pledge this node holds, counted or not: a flood of large
        // pledges that never pay must not cost the real backers their deals.
        let current = haggle_protocol::crowdfund::current_pledges(head, held.iter());
        drop(held);
        let mut blocked = 0;
        for b in current.iter().filter(|b| b.amount > 0) {
            let Some(thread) = self.store.thread(&b.id)? else { continue };
            if thread.view.state != ThreadState::Open {
                continue;
            }
            if self.store.is_blocked(&b.backer) {
                blocked += 1;
                continue;
            }
            let reply = haggle_protocol::Reply { thread: b.id, prev: b.id, to: b.backer };
            let object = self.sign(Body::Accept(Accept { reply }), Timestamp::now())?;
            match self.ingest_own(&object) {
                Ok(_) => then.deliver.push(b.backer),
                Err(e) => tracing::warn!(pledge = %b.id.fmt_short(), error = %e, "cannot accept a pledge"),
            }
        }
        Ok(blocked)
    }

    /// The event for a pledge new to this node.
    pub(super) fn pledge_stored_event(&self, pledge: &Object) -> Result<Option<NodeEvent>, ServiceError> {
        Ok(pledge_event(&self.store, pledge, &self.me())?)
    }
}

/// A campaign from a draft of kind `crowdfund` whose price (`goal`) is the goal; `None` for
/// other kinds, which may not carry campaign settings.
pub(super) fn campaign_of_draft(
    kind: ListingKind,
    draft: Option<&CampaignDraft>,
    goal: Option<&Price>,
    now: Timestamp,
) -> Result<Option<Market>, ServiceError> {
    let Some(d) = draft else {
        if kind == ListingKind::Crowdfund {
            return Err(InvalidInput::Campaign("a campaign needs its deadline, e.g. --deadline 30d").into());
        }
        return Ok(None);
    };
    if kind != ListingKind::Crowdfund {
        return Err(InvalidInput::Campaign("--deadline and --tier are for --kind crowdfund").into());
    }
    let Some(goal) = goal else {
        return Err(
            InvalidInput::Campaign("a campaign needs its goal, e.g. --goal 5000 --currency EUR").into()
        );
    };
    if d.deadline_in == 0 {
        return Err(InvalidInput::Campaign("a campaign needs its deadline, e.g. --deadline 30d").into());
    }
    if d.deadline_in < 2 * LAST_CALL.as_secs() {
        return Err(InvalidInput::Campaign(
            "a campaign's deadline must leave time to pledge (pledges close 10 s before it): --deadline 20s or more",
        )
        .into());
    }
    if d.deadline_in > 87 * 86_400 {
        return Err(
            InvalidInput::Campaign("a campaign's deadline is at most 87 days away (--deadline 87d)").into()
        );
    }
    let tiers = d
        .tiers
        .iter()
        .map(|t| {
            Ok(Tier {
                name: t.name.trim().to_owned(),
                min: goal.currency.parse_amount(t.min.trim())?,
                quantity: t.quantity.unwrap_or(0),
            })
        })
        .collect::<Result<Vec<Tier>, ServiceError>>()?;
    // A reward is named by its tier: two of one name (in any case) could not be told apart.
    for (i, t) in tiers.iter().enumerate() {
        if tiers[..i].iter().any(|other| other.name.eq_ignore_ascii_case(&t.name)) {
            return Err(
                InvalidInput::Campaign("two tiers have one name: give each reward its own name").into()
            );
        }
    }
    let deadline = now.saturating_add(Duration::from_secs(d.deadline_in));
    Ok(Some(Market::Campaign(Campaign { deadline, tiers })))
}

/// `pledge_stored`: who pledged what, and the total after it.
fn pledge_event(store: &Store, pledge: &Object, me: &PublicKey) -> Result<Option<NodeEvent>, StoreError> {
    let Body::Pledge(o) = pledge.body() else { return Ok(None) };
    let Some(key) = store.get(&o.listing)?.and_then(|l| l.listing_key()) else { return Ok(None) };
    let Some((head, view)) = store.campaign(&key)? else { return Ok(None) };
    Ok(Some(NodeEvent::PledgeStored {
        id: pledge.id(),
        listing: head.id(),
        backer: pledge.author(),
        amount: o.terms.price.to_string(),
        total: Price::new(view.total, view.goal.currency.clone()).to_string(),
        mine: pledge.author() == *me,
    }))
}

/// The campaign part of a listing view, or `None` if `listing` is not a campaign.
/// Whether `head`, a campaign's current revision, is its creator's node's word that it ended
/// short of its goal: closed after the deadline with nothing left (quantity 0).
pub(super) fn closed_short(head: &Object) -> bool {
    head.listing().is_some_and(|l| {
        l.status == ListingStatus::Closed
            && l.quantity == 0
            && l.campaign().is_some_and(|c| head.created_at() > c.deadline)
    })
}

pub(super) fn info(
    store: &Store,
    listing: &Object,
    me: &PublicKey,
) -> Result<Option<CampaignInfo>, StoreError> {
    if listing.listing().is_none_or(|l| l.kind != ListingKind::Crowdfund) {
        return Ok(None);
    }
    let Some(key) = listing.listing_key() else { return Ok(None) };
    let pledges = store.public_offers_on(&key)?;
    let Some(view) = CampaignView::new(listing, pledges.iter()) else { return Ok(None) };
    let shown = view
        .backings
        .iter()
        .rev()
        .filter(|b| b.amount > 0)
        .take(SHOWN)
        .chain(view.backing_of(me))
        .map(|b| b.id)
        .collect();
    let notes = super::auctions::notes(&pledges, &shown);
    drop(pledges);
    let over = view.is_over(Timestamp::now());
    let funded = view.funded() && !closed_short(listing);
    // The owner's own funded campaign: the blocked keys' pledges its node left to it, still open.
    let mut left_to_you = 0;
    if listing.author() == *me && over && funded {
        for b in view.backings.iter().filter(|b| b.amount > 0 && store.is_blocked(&b.backer)) {
            if store.thread(&b.id)?.is_some_and(|t| t.view.state == haggle_protocol::ThreadState::Open) {
                left_to_you += 1;
            }
        }
    }
    let currency = view.goal.currency.clone();
    let money = |amount: u64| views::money(&Price::new(amount, currency.clone()));
    let pledge_view = |b: &haggle_protocol::Backing| PledgeView {
        id: b.id,
        backer: b.backer,
        mine: b.backer == *me,
        amount: money(b.amount),
        created_at: b.created_at.as_millis(),
        tier: b.tier.map(|t| view.campaign.tiers[t].name.clone()),
        message: notes.get(&b.id).cloned().unwrap_or_default(),
    };
    let tiers = view
        .campaign
        .tiers
        .iter()
        .zip(&view.claimed)
        .map(|(t, claimed)| TierView {
            name: t.name.clone(),
            min: money(t.min),
            quantity: t.quantity,
            claimed: *claimed,
        })
        .collect();
    Ok(Some(CampaignInfo {
        deadline: view.campaign.deadline.as_millis(),
        over,
        goal: views::price(&view.goal),
        total: money(view.total),
        percent: view.total.saturating_mul(100) / view.goal.amount.max(1),
        // The creator's node closed it short of its goal: not funded, whatever this node counts.
        funded,
        missed: closed_short(listing),
        // Closed before the deadline: cancelled (closed after it, the deals stand).
        cancelled: listing.listing().is_some_and(|l| l.status == ListingStatus::Closed)
            && listing.created_at() <= view.campaign.deadline,
        backers: view.backers(),
        tiers,
        pledges: view.backings.iter().rev().filter(|b| b.amount > 0).take(SHOWN).map(pledge_view).collect(),
        mine: view.backing_of(me).map(pledge_view),
        left_to_you,
    }))
}

/// The end of campaign `head` as node `me` announces it: funded unless its creator closed it
/// before the deadline, with the owner's own pledge, or its withdrawal; `blocked` as
/// [`NodeEvent::CampaignEnded`] says.
fn ended_event(
    head: &Object,
    view: &haggle_protocol::CampaignView,
    me: &PublicKey,
    blocked: usize,
) -> NodeEvent {
    // A campaign its creator closed (retracted) before the deadline is owed nothing.
    let active = head.listing().is_some_and(|l| l.status == ListingStatus::Active);
    let open = active || head.created_at() > view.campaign.deadline;
    let backing = view.backing_of(me);
    let currency = &view.goal.currency;
    NodeEvent::CampaignEnded {
        listing: head.id(),
        funded: view.funded() && open,
        total: Price::new(view.total, currency.clone()).to_string(),
        pledged: backing.filter(|b| b.amount > 0).map(|b| Price::new(b.amount, currency.clone()).to_string()),
        withdrawn: backing.is_some_and(|b| b.amount == 0),
        cancelled: !open,
        blocked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::PublicOutcome;
    use crate::service::Via;
    use crate::service::testing::service;
    use haggle_protocol::fixtures::{self, sign_at};
    use haggle_storage::Durability;

    /// Key 1's campaign of 30.00 EUR until `deadline`, published an hour ago, and a way to sign
    /// key `n`'s pledge of `amount` cents to it, `minutes` after it was published.
    fn campaign_with_pledges(
        title: &str,
        deadline: Timestamp,
    ) -> (haggle_protocol::Verified<Object>, impl Fn(u8, u64, u64) -> haggle_protocol::Verified<Object>) {
        let published = Timestamp::now().saturating_sub(Duration::from_secs(3_600));
        let listing =
            sign_at(&fixtures::key(1), Body::Listing(fixtures::campaign(title, 3_000, deadline)), published);
        let of = listing.clone();
        let pledge = move |n: u8, amount: u64, minutes: u64| {
            let at = published.saturating_add(Duration::from_secs(minutes * 60));
            sign_at(&fixtures::key(n), fixtures::pledge(&of, amount), at)
        };
        (listing, pledge)
    }

    /// Defect: a pledge made while the creator's node was offline, which that node never held,
    /// left the backers' nodes counting the campaign funded while the creator's node counted it
    /// short: nothing happened at the deadline, and the backers' pledges awaited deals until they
    /// lapsed. The creator's node now closes a campaign short of its goal (nothing left), and
    /// every node then reads it as missed, with the pledges it never held owed nothing.
    #[test]
    fn a_campaign_short_by_its_creators_count_is_closed_and_missed_everywhere() {
        let (creator, _d0) = service(1);
        let (held, _d1) = service(2);
        let (unseen, _d2) = service(3);
        // The pledges reach the stores before the deadline, five seconds away (the creator's
        // node refuses a pledge that reaches it after; six flushed writes on a slow machine).
        let now = Timestamp::now();
        let deadline = now.saturating_add(Duration::from_secs(5));
        let (listing, pledge) = campaign_with_pledges("Windmill", deadline);
        let (taken, missed) = (pledge(2, 2_000, 10), pledge(3, 1_500, 20));
        assert!(creator.store.ingest_own(&listing).expect("stored").is_new());
        assert!(creator.store.ingest_verified(&taken, Durability::Flush).expect("stored").is_new());
        for (s, own) in [(&held, &taken), (&unseen, &missed)] {
            assert!(s.store.ingest_verified(&listing, Durability::Flush).expect("stored").is_new());
            assert!(s.store.ingest_own(own).expect("stored").is_new());
        }
        assert!(held.store.ingest_verified(&missed, Durability::Flush).expect("stored").is_new());
        assert!(unseen.store.ingest_verified(&taken, Durability::Flush).expect("stored").is_new());
        let id = listing.id().to_hex();
        let info = |s: &Service| s.listing_view(&id).expect("a view").campaign.expect("a campaign");
        let before = info(&unseen);
        assert!(before.funded && !before.missed, "35.00 of 30.00 here: {before:?}");

        // After the deadline the creator's node counts 20.00 of 30.00: it closes the campaign
        // and declines the pledge it holds.
        let until = std::time::Instant::now() + Duration::from_secs(20);
        let then = loop {
            let then = creator.settle_markets().expect("settled");
            if !then.publish.is_empty() {
                break then;
            }
            assert!(std::time::Instant::now() < until, "the creator's node never closed the campaign");
            std::thread::sleep(Duration::from_millis(50));
        };
        let closing = then.publish.first().expect("the closing revision").clone();
        let head = haggle_protocol::Object::decode_unverified(&closing).expect("an object");
        let l = head.listing().expect("a listing");
        assert_eq!((l.status, l.quantity), (ListingStatus::Closed, 0));
        assert_eq!(then.deliver, vec![held.me()], "the held pledge's decline");
        let declined = creator.thread_view(&taken.id().to_hex()).expect("its thread");
        assert_eq!(declined.state, ThreadState::Declined);
        assert!(creator.settle_markets().expect("settled").publish.is_empty(), "closed once");

        // Every node now reads it as missed, whatever it counts; the pledge the creator's node
        // never held is owed nothing and awaits nothing.
        for s in [&held, &unseen] {
            s.receive(&closing, Via::Gossip);
            let after = info(s);
            assert!(after.missed && !after.funded && !after.cancelled, "{after:?}");
        }
        assert_eq!(info(&unseen).total.display, "35.00 EUR", "its own count stands, as a count");
        let thread = unseen.thread_view(&missed.id().to_hex()).expect("its thread");
        assert_eq!((thread.outcome, thread.awaiting), (Some(PublicOutcome::GoalMissed), None), "{thread:?}");
    }

    /// Found in a retrial: a backer's watch read the deal its pledge made, then the campaign's
    /// end saying the pledge "becomes a deal when the creator's node accepts it": the accept
    /// reached it before its own tick told the end. The end is now told first, once.
    #[test]
    fn a_backer_is_told_the_end_before_the_deal() {
        use crate::service::Via;

        let (creator, _d0) = service(1);
        let (backer, _d1) = service(2);
        let deadline = Timestamp::now().saturating_add(Duration::from_secs(3));
        let (listing, pledge) = campaign_with_pledges("Reading room", deadline);
        let (mine, other) = (pledge(2, 2_000, 10), pledge(3, 1_500, 20));
        assert!(creator.store.ingest_own(&listing).expect("stored").is_new());
        for p in [&mine, &other] {
            assert!(creator.store.ingest_verified(p, Durability::Flush).expect("stored").is_new());
        }
        assert!(backer.store.ingest_verified(&listing, Durability::Flush).expect("stored").is_new());
        assert!(backer.store.ingest_own(&mine).expect("stored").is_new());
        assert!(backer.store.ingest_verified(&other, Durability::Flush).expect("stored").is_new());
        let until = std::time::Instant::now() + Duration::from_secs(20);
        while creator.settle_markets().expect("settled").deliver.is_empty() {
            assert!(std::time::Instant::now() < until, "the creator's node never accepted the pledges");
            std::thread::sleep(Duration::from_millis(50));
        }
        let accept = creator
            .thread_view(&mine.id().to_hex())
            .expect("its thread")
            .messages
            .last()
            .expect("the accept")
            .id;
        let accept = creator.store.get(&accept).expect("read").expect("held");
        // The accept arrives before the backer's node settled anything.
        let got = backer.receive(accept.bytes(), Via::Direct);
        let told: Vec<&str> = got
            .then
            .events
            .iter()
            .filter_map(|e| match e {
                NodeEvent::CampaignEnded { .. } => Some("ended"),
                NodeEvent::DealMade { .. } => Some("deal"),
                _ => None,
            })
            .collect();
        assert_eq!(told, ["ended", "deal"]);
        assert!(
            matches!(
                got.then.events.iter().find(|e| matches!(e, NodeEvent::CampaignEnded { .. })),
                Some(NodeEvent::CampaignEnded { funded: true, pledged: Some(_), .. })
            ),
            "{:?}",
            got.then.events
        );
        let again = backer.settle_markets().expect("settled").events;
        assert!(!again.iter().any(|e| matches!(e, NodeEvent::CampaignEnded { .. })), "told once: {again:?}");
    }

    /// Found in a trial: a backer who took its pledge back read the creator's "every pledge
    /// becomes a deal" when the campaign ended funded. Its node's end says it withdrew.
    #[test]
    fn a_backer_who_withdrew_is_told_it_owes_nothing_at_the_end() {
        let (backer, _d) = service(2);
        let deadline = Timestamp::now().saturating_add(Duration::from_secs(3));
        let (listing, pledge) = campaign_with_pledges("Community garden", deadline);
        let (mine, taken_back, other) = (pledge(2, 2_000, 10), pledge(2, 0, 20), pledge(3, 3_500, 30));
        assert!(backer.store.ingest_verified(&listing, Durability::Flush).expect("stored").is_new());
        for own in [&mine, &taken_back] {
            assert!(backer.store.ingest_own(own).expect("stored").is_new());
        }
        assert!(backer.store.ingest_verified(&other, Durability::Flush).expect("stored").is_new());
        let until = std::time::Instant::now() + Duration::from_secs(20);
        let then = loop {
            let then = backer.settle_markets().expect("settled");
            if !then.events.is_empty() {
                break then;
            }
            assert!(std::time::Instant::now() < until, "the campaign never ended on the backer's node");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            matches!(
                &then.events[..],
                [NodeEvent::CampaignEnded { funded: true, pledged: None, withdrawn: true, .. }]
            ),
            "{:?}",
            then.events
        );
    }

    /// Found in a trial: a withdrawal signed before the deadline reached the backers' nodes but
    /// not the creator's, offline until after it. The creator's node counted the campaign
    /// funded and accepted the pledges; another backer's node counted it short and did not
    /// confirm; and both threads read as waiting, with every way out refused. The backer's
    /// thread now reads as missed, owed nothing and awaiting nothing, and says why; the
    /// creator's still awaits the confirm, which lapses with the pledge's terms.
    #[test]
    fn a_withdrawal_the_creator_never_held_leaves_its_accept_unconfirmed_and_said() {
        let (creator, _d0) = service(1);
        let (backer, _d1) = service(2);
        let now = Timestamp::now();
        let deadline = now.saturating_add(Duration::from_secs(5));
        let (listing, pledge) = campaign_with_pledges("Park bench", deadline);
        let (bobs, carols, carol_withdraws) = (pledge(2, 2_000, 10), pledge(3, 1_500, 20), pledge(3, 0, 30));
        // The creator's node holds both pledges (35.00 of 30.00); the backer's, the withdrawal
        // too (20.00).
        assert!(creator.store.ingest_own(&listing).expect("stored").is_new());
        for p in [&bobs, &carols] {
            assert!(creator.store.ingest_verified(p, Durability::Flush).expect("stored").is_new());
        }
        assert!(backer.store.ingest_verified(&listing, Durability::Flush).expect("stored").is_new());
        assert!(backer.store.ingest_own(&bobs).expect("stored").is_new());
        for p in [&carols, &carol_withdraws] {
            assert!(backer.store.ingest_verified(p, Durability::Flush).expect("stored").is_new());
        }
        let until = std::time::Instant::now() + Duration::from_secs(20);
        while creator.settle_markets().expect("settled").deliver.is_empty() {
            assert!(std::time::Instant::now() < until, "the creator's node never accepted the pledges");
            std::thread::sleep(Duration::from_millis(50));
        }
        let thread = bobs.id().to_hex();
        let on_creator = creator.thread_view(&thread).expect("its thread");
        assert_eq!(
            (on_creator.state, on_creator.awaiting, on_creator.outcome),
            (ThreadState::Confirming, Some(crate::api::types::Party::Them), None)
        );
        let accept = on_creator.messages.last().expect("the accept").id;
        let accept = creator.store.get(&accept).expect("read").expect("held");
        backer.receive(accept.bytes(), Via::Direct);
        let then = backer.settle_markets().expect("settled");
        assert!(then.deliver.is_empty(), "no confirm: the backer's node counts 20.00 of 30.00");
        let on_backer = backer.thread_view(&thread).expect("its thread");
        assert_eq!(
            (on_backer.state, on_backer.outcome, on_backer.awaiting),
            (ThreadState::Confirming, Some(PublicOutcome::GoalMissed), None),
            "{on_backer:?}"
        );
    }

    /// Carried from an earlier trial: a funded campaign's node accepted the pledge of a key its
    /// owner had blocked, making a deal with them unasked. Such a pledge is now left to the
    /// owner, said in the thread and in the end's event, and the owner may still take it.
    #[test]
    fn a_funded_campaign_leaves_a_blocked_backers_pledge_to_its_owner() {
        let (creator, _d0) = service(1);
        let now = Timestamp::now();
        let deadline = now.saturating_add(Duration::from_secs(3));
        let (listing, pledge) = campaign_with_pledges("Bus shelter", deadline);
        let (bobs, carols) = (pledge(2, 2_000, 10), pledge(3, 1_500, 20));
        // Eve, blocked too, pledged and took it back.
        let (eves, eve_withdraws) = (pledge(5, 500, 12), pledge(5, 0, 16));
        assert!(creator.store.ingest_own(&listing).expect("stored").is_new());
        for p in [&bobs, &eves, &eve_withdraws, &carols] {
            assert!(creator.store.ingest_verified(p, Durability::Flush).expect("stored").is_new());
        }
        let carol = fixtures::key(3).public();
        creator.store.block(carol, None, now).expect("blocked");
        creator.store.block(fixtures::key(5).public(), None, now).expect("blocked");
        let until = std::time::Instant::now() + Duration::from_secs(20);
        let then = loop {
            let then = creator.settle_markets().expect("settled");
            if !then.events.is_empty() {
                break then;
            }
            assert!(std::time::Instant::now() < until, "the campaign never ended on its creator's node");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(then.deliver, vec![fixtures::key(2).public()], "only Bob's pledge is accepted");
        assert!(
            matches!(then.events[..], [NodeEvent::CampaignEnded { funded: true, blocked: 1, .. }]),
            "{:?}",
            then.events
        );
        let view = |id: &Object| creator.thread_view(&id.id().to_hex()).expect("its thread");
        let held = view(&carols);
        assert_eq!(
            (held.state, held.outcome, held.awaiting),
            (ThreadState::Open, Some(PublicOutcome::BackerBlocked), Some(crate::api::types::Party::Me)),
            "{held:?}"
        );
        assert_eq!(view(&bobs).state, ThreadState::Confirming);
        // From a review: a blocked backer's withdrawal is nothing to accept.
        let withdrawn = view(&eve_withdraws);
        assert_eq!((withdrawn.outcome, withdrawn.awaiting), (None, None), "{withdrawn:?}");
        // The campaign's view counts it as left to the owner (a trial's `show` said every pledge
        // was accepted); Eve's withdrawn one is not.
        let left = || {
            let listing = creator.listing_view(&listing.id().to_hex()).expect("the campaign");
            listing.campaign.expect("a campaign").left_to_you
        };
        assert_eq!(left(), 1);
        // Settling again accepts nothing more; the owner may still take the pledge by hand.
        assert!(creator.settle_markets().expect("settled").deliver.is_empty());
        creator.accept(&carols.id().to_hex()).expect("the owner takes it");
        let taken = view(&carols);
        assert_eq!((taken.state, taken.outcome), (ThreadState::Confirming, None), "{taken:?}");
        assert_eq!(left(), 0, "answered");
    }

    /// A backer who runs `withdraw` on its pledge's thread is pointed to the withdrawal every
    /// node counts: a Withdraw in the thread left the campaign's total as it was.
    #[test]
    fn a_pledge_is_taken_back_on_its_campaign_not_in_its_thread() {
        let (backer, _dir) = service(2);
        let deadline = Timestamp::now().saturating_add(Duration::from_secs(86_400));
        let listing = sign_at(
            &fixtures::key(1),
            Body::Listing(fixtures::campaign("Windmill", 3_000, deadline)),
            Timestamp::now(),
        );
        let pledge = sign_at(&fixtures::key(2), fixtures::pledge(&listing, 2_000), Timestamp::now());
        assert!(backer.store.ingest_verified(&listing, Durability::Flush).expect("stored").is_new());
        assert!(backer.store.ingest_own(&pledge).expect("stored").is_new());
        let refused = backer.withdraw(&pledge.id().to_hex(), String::new()).expect_err("refused");
        assert!(refused.to_string().contains("--withdraw"), "{refused}");
        assert_eq!(refused.code(), crate::api::types::ErrorCode::NotYourTurn, "as a bid's");
        // The campaign's id given for the thread's: the same way (a trial's backer typed it).
        let id = listing.id().to_hex();
        let refused = backer.withdraw(&id[..8], String::new()).expect_err("a campaign");
        let said = refused.to_string();
        assert!(
            said.contains("is a campaign")
                && said.ends_with(&format!("haggle pledge {} --withdraw", listing.id().fmt_short())),
            "{said}"
        );
        let total = backer.listing_view(&id).expect("a view").campaign.expect("a campaign").total;
        assert_eq!(total.display, "20.00 EUR");
        // Found in a trial: the same pledge again was signed and gossiped, changing nothing.
        let again = |amount: &str, message: &str| {
            backer.pledge(&id, PledgeRequest { amount: amount.to_owned(), message: message.to_owned() })
        };
        let same = again("20.00", "").expect_err("the same pledge");
        assert_eq!(same.code(), crate::api::types::ErrorCode::Conflict);
        assert!(same.to_string().contains("you pledged 20.00 EUR to this campaign already"), "{same}");
        again("20", "Count me in").expect("a new message is a change");
        again("25", "Count me in").expect("a new amount is a change");
    }

    /// Defect: a pledge signed a second before the deadline reached the creator's node after it:
    /// the backers' nodes counted the campaign funded, the creator's node missed. Pledges now
    /// close [`LAST_CALL`] before the deadline, and the refusal says why.
    #[test]
    fn pledges_close_shortly_before_the_deadline() {
        let deadline = Timestamp::from_millis(1_000_000_000);
        let listing = ObjectId::from_bytes([7; 32]);
        let at = |before: Duration| Timestamp::from_millis(deadline.as_millis() - before.as_millis() as u64);
        assert!(too_close(listing, deadline, at(LAST_CALL)).is_ok());
        let err =
            too_close(listing, deadline, at(LAST_CALL - Duration::from_millis(1))).expect_err("too close");
        let said = err.to_string();
        assert!(
            said.contains("could reach the creator's node after it") && said.contains("10 s before"),
            "{said}"
        );
    }
}
