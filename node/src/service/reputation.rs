//! Feedback and reputation: the owner rates a deal (a public object, gossiped and synced like a
//! listing), and every view of an identity says what the verified feedback this node holds
//! says of it, weighted by trust that flows from the owner (see `haggle_storage::reputation`).

use std::sync::Arc;

use haggle_protocol::{Body, Deal, Feedback, ListingKind, Object, ObjectId, PublicKey, Rating, Timestamp};
use haggle_storage::reputation::{Counts, Edge, Reputation, TrustGraph};

use super::{Conflict, Effect, Followups, InvalidInput, Service, ServiceError};
use crate::api::types::{
    DealRole, FeedbackRequest, FeedbackView, ListingView, NodeEvent, RatingCounts, ReputationBrief,
    ReputationView,
};

/// Feedback listed in a reputation view at most (the counts cover all of it).
const MAX_FEEDBACK_SHOWN: usize = 50;

impl Service {
    /// The identity `given` names: a key (PeerId), or a listing (its author); with `parties`,
    /// also an offer thread, a deal or a deal's step (the other party: for a thread between two
    /// others, such as a bid, the one who opened it).
    pub(super) fn identity_named(&self, given: &str, parties: bool) -> Result<PublicKey, ServiceError> {
        // A name the owner gave a key (`haggle name`): a name never looks like a key or an id.
        if let Some(key) = self.key_by_name(given)? {
            return Ok(key);
        }
        // A listing this node holds first, then any other object it holds: a full id is also
        // 64 hex characters, which may parse as a key.
        let refused = match self.listing(given) {
            Ok(listing) => return Ok(listing.author()),
            Err(
                e @ (ServiceError::NotFound { .. } | ServiceError::WrongKind { .. } | ServiceError::BadId(_)),
            ) => e,
            Err(e) => return Err(e),
        };
        let is = match refused {
            ServiceError::WrongKind { is, .. } => Some(is),
            // A rating's id is not looked for among listings: look it up whole.
            _ if self.is_rating(given) => Some("a rating"),
            _ => None,
        };
        // A rating names two people, so nobody to block; a thread, a deal or a step one.
        if parties
            && is != Some("a rating")
            && let Some(key) = self.other_party(given)?
        {
            return Ok(key);
        }
        match is {
            // An id of a deal, a rating or a thread: say what it is.
            Some(is) => Err(ServiceError::WrongKind {
                given: given.to_owned(),
                is,
                wanted: if parties {
                    "a key, a listing, an offer thread, a deal or a message"
                } else {
                    "a key or a listing"
                },
                hint: "haggle show ID names the keys of the people it concerns",
            }),
            // An id prefix that names nothing held is not found, as every other command says it
            // (exit 4): a trial's `reputation` of an unknown id exited 2, `deal` of it 4. (A key
            // in hex is 64 characters.)
            // A deal between two other people, of which this node holds the ratings, is said
            // so, as `haggle show` says it (a trial's third node got "no ... deal matches").
            None if (6..64).contains(&given.trim().len())
                && given.trim().bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                let what = "listing, thread, deal or message";
                Err(match self.resolve_or_rated(given.trim(), what) {
                    Err(e @ (ServiceError::OnlyRated { .. } | ServiceError::Ambiguous { .. })) => e,
                    _ => ServiceError::not_found(what, given.trim()),
                })
            }
            None => given.trim().parse::<PublicKey>().map_err(|e| {
                let shortened = given.contains('…') || given.contains("...");
                // A key with a character mistyped reads as a key, but not one anybody holds: said
                // so, as `search --seller` says it (a trial got "is not a key (a PeerId such as
                // 12D3KooW...)" for a 12D3KooW... string).
                // So is a PeerId cut short, or nothing at all: a mistake in what was typed (exit
                // 2), not a name nobody was given (not found, exit 4).
                let typed = given.trim();
                if !shortened
                    && (matches!(
                        e,
                        haggle_protocol::ParseKeyError::NotAPoint(_)
                            | haggle_protocol::ParseKeyError::NotEd25519(_)
                            | haggle_protocol::ParseKeyError::ListingKey(_)
                    ) || typed.is_empty()
                        || typed.starts_with("12D3"))
                {
                    return match e {
                        haggle_protocol::ParseKeyError::Unrecognised(_) => InvalidInput::Key(format!(
                            "{e}: not a key, nor a name you gave one (a PeerId is 52 characters; haggle show LISTING and haggle deal DEAL give keys whole)"
                        )),
                        _ => InvalidInput::Key(e.to_string()),
                    }
                    .into();
                }
                match (shortened, parties) {
                    (true, false) => InvalidInput::ShortenedKey(given.to_owned()).into(),
                    (true, true) => InvalidInput::BlockShortenedKey(given.to_owned()).into(),
                    (false, false) => InvalidInput::Identity(given.to_owned()).into(),
                    (false, true) => InvalidInput::BlockWho(given.to_owned()).into(),
                }
            }),
        }
    }

    /// The owner's other party in the thread, deal, deal step or message `given` names (for a
    /// thread between two others, the one who opened it); `None` if it names none of them.
    fn other_party(&self, given: &str) -> Result<Option<PublicKey>, ServiceError> {
        let me = self.me();
        let other = |a: PublicKey, b: PublicKey| if a == me { b } else { a };
        let Ok(id) = self.resolve(given, "offer thread") else { return Ok(None) };
        // A message names its two keys, the owner's among them.
        if let Some(object) = self.store.get(&id)?
            && let Body::Note(note) = object.body()
        {
            return Ok(Some(other(object.author(), note.to)));
        }
        let deal = match self.store.get(&id)?.as_ref().map(Object::body) {
            Some(Body::Step(step)) => self.store.deal(&step.deal)?,
            _ => self.store.deal(&id)?,
        };
        if let Some(deal) = deal {
            return Ok(Some(other(deal.buyer(), deal.seller())));
        }
        match self.thread(given) {
            Ok(thread) => Ok(Some(other(thread.view.offerer, thread.view.listing_author))),
            Err(ServiceError::NotFound { .. } | ServiceError::WrongKind { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Service {
    /// Rates the deal `given` names, once, when [`haggle_protocol::DealState::may_rate`] allows
    /// and, for a booking, once its last night is over.
    pub fn leave_feedback(&self, given: &str, request: FeedbackRequest) -> Result<Effect, ServiceError> {
        let rating: Rating = request
            .rating
            .trim()
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| InvalidInput::Rating(request.rating.clone()))?;
        let deal = self.deal_named(given)?;
        let id = deal.id();
        // Two requests at once must not both pass the "not rated yet" check.
        let _one_at_a_time = self.revising();
        let me = self.me();
        if me != deal.seller() && me != deal.buyer() {
            return Err(ServiceError::not_found("deal", given));
        }
        if let Some(held) = self.store.feedback_on(&id, &me)? {
            return Err(Conflict::AlreadyRated { deal: id, feedback: held.id() }.into());
        }
        let state = self.store.deal_state(&deal)?;
        let now = Timestamp::now();
        if let Some(dates) = stay_ahead(&deal, &state, now) {
            let service =
                deal.listing().listing().is_some_and(|l| l.kind == haggle_protocol::ListingKind::Service);
            return Err(Conflict::StayAhead { deal: id, dates, service, rating: true }.into());
        }
        if !state.may_rate(now) {
            let received_unpaid = state.received_unpaid();
            return Err(Conflict::NotRateable {
                deal: id,
                kind: deal.listing().listing().map(|l| l.kind),
                stage: state.stage().name(),
                received_unpaid,
            }
            .into());
        }
        let feedback = Feedback::new(
            deal.offer(),
            deal.accept(),
            deal.confirm(),
            rating,
            request.text.trim().to_owned(),
        );
        let object = self.sign(Body::Feedback(feedback), now)?;
        self.ingest_own(&object)?;
        self.store.forget_trust_graph();
        let then = Followups {
            publish: vec![object.bytes().to_vec()],
            events: vec![self.feedback_event(&object, id)],
            ..Followups::default()
        };
        Ok(Effect { object, then })
    }

    /// The event for a stored feedback.
    pub(super) fn feedback_event(&self, object: &haggle_protocol::Object, deal: ObjectId) -> NodeEvent {
        let Body::Feedback(f) = object.body() else { unreachable!("called for feedback") };
        let subject = f.proof_unverified().and_then(|p| p.other(&object.author())).unwrap_or(object.author());
        NodeEvent::FeedbackStored {
            id: object.id(),
            deal,
            author: object.author(),
            subject,
            rating: f.rating.name().to_owned(),
        }
    }

    /// Whether the owner may rate `deal` now (not yet rated; see
    /// [`haggle_protocol::DealState::may_rate`]).
    pub(super) fn may_rate(&self, deal: &Deal) -> Result<bool, ServiceError> {
        let me = self.me();
        let now = Timestamp::now();
        Ok(self.store.feedback_on(&deal.id(), &me)?.is_none() && {
            let state = self.store.deal_state(deal)?;
            stay_ahead(deal, &state, now).is_none() && state.may_rate(now)
        })
    }

    /// Both parties' feedback on `deal`, weighted in `graph`.
    pub(super) fn deal_feedback(
        &self,
        deal: &Deal,
        graph: &TrustGraph,
    ) -> Result<Vec<FeedbackView>, ServiceError> {
        let mut out = Vec::new();
        for party in [deal.seller(), deal.buyer()] {
            if let Some(object) = self.store.feedback_on(&deal.id(), &party)?
                && let Body::Feedback(f) = object.body()
            {
                let subject = if party == deal.seller() { deal.buyer() } else { deal.seller() };
                let superseded = self.superseded(&object, &subject)?;
                let role = Some(if subject == deal.seller() { DealRole::Seller } else { DealRole::Buyer });
                out.push(FeedbackView {
                    role,
                    id: object.id(),
                    deal: deal.id(),
                    author: party,
                    subject,
                    rating: f.rating.name().to_owned(),
                    text: f.text.clone(),
                    made_at: deal.made_at().as_millis(),
                    weight: if superseded { 0.0 } else { hundredths(graph.weight(&party)) },
                    mine: party == self.me(),
                    about_me: subject == self.me(),
                    rated_at: object.created_at().as_millis(),
                    superseded,
                });
            }
        }
        Ok(out)
    }

    /// What this node can say of the identity `given` names: a key (PeerId), or a listing
    /// (its author).
    pub fn reputation_view(&self, given: &str) -> Result<ReputationView, ServiceError> {
        // Whom a thread, a deal or a message is with, as `block` and `name` take them.
        let key = self.identity_named(given, true)?;
        let graph = self.trust_graph()?;
        let mut about = self.store.feedback_about(&key)?;
        let r = graph.reputation(&key);
        // Newest rating first; each rater's latest counts, the rest are marked superseded.
        about.sort_by_key(|e| std::cmp::Reverse((e.rated_at, e.feedback)));
        let mut seen = std::collections::HashSet::new();
        let feedback = about
            .iter()
            .take(MAX_FEEDBACK_SHOWN)
            .map(|e| self.feedback_view(e, &graph, !seen.insert(e.author)))
            .collect::<Result<_, _>>()?;
        Ok(ReputationView {
            key,
            mine: key == self.me(),
            trusted_key: self.policy.trusted_keys.contains(&key),
            blocked: self.store.is_blocked(&key),
            in_web_of_trust: r.in_web_of_trust(),
            raw: counts(&r.raw),
            weighted: counts(&r.weighted),
            web_of_trust: counts(&r.web_of_trust),
            hops_limit: self.policy.trust_hops,
            deals: r.deals,
            first_deal: r.first_deal.map(Timestamp::as_millis),
            last_deal: r.last_deal.map(Timestamp::as_millis),
            standing: hundredths(r.standing),
            hops: r.hops,
            trusted: r.trusted,
            feedback,
        })
    }

    fn feedback_view(
        &self,
        e: &Edge,
        graph: &TrustGraph,
        superseded: bool,
    ) -> Result<FeedbackView, ServiceError> {
        let (text, role) = match self.store.get(&e.feedback)?.as_ref().map(|o| o.body()) {
            Some(Body::Feedback(f)) => (f.text.clone(), self.role_of(f, &e.subject)?),
            _ => (String::new(), None),
        };
        Ok(FeedbackView {
            role,
            id: e.feedback,
            deal: e.deal,
            author: e.author,
            subject: e.subject,
            rating: e.rating.name().to_owned(),
            text,
            made_at: e.made_at.as_millis(),
            weight: if superseded { 0.0 } else { hundredths(graph.weight(&e.author)) },
            mine: e.author == self.me(),
            about_me: e.subject == self.me(),
            rated_at: e.rated_at.as_millis(),
            superseded,
        })
    }

    /// One feedback, as `haggle show <id>` shows it.
    pub(super) fn feedback_object_view(
        &self,
        object: &haggle_protocol::Object,
    ) -> Result<FeedbackView, ServiceError> {
        let Body::Feedback(f) = object.body() else { unreachable!("called for feedback") };
        let corrupt = || haggle_storage::StoreError::Corrupt { what: "stored feedback" };
        let proof = f.proof_unverified().ok_or_else(corrupt)?;
        let subject = proof.other(&object.author()).ok_or_else(corrupt)?;
        let superseded = self.superseded(object, &subject)?;
        let graph = self.trust_graph()?;
        Ok(FeedbackView {
            role: self.role_of(f, &subject)?,
            id: object.id(),
            deal: proof.deal,
            author: object.author(),
            subject,
            rating: f.rating.name().to_owned(),
            text: f.text.clone(),
            made_at: proof.made_at.as_millis(),
            weight: if superseded { 0.0 } else { hundredths(graph.weight(&object.author())) },
            mine: object.author() == self.me(),
            about_me: subject == self.me(),
            rated_at: object.created_at().as_millis(),
            superseded,
        })
    }

    /// What `subject` was in the deal `f` rates: its seller (the listing's author, or the
    /// offerer on a wanted ad) or its buyer. The proof names the listing's revision, not its
    /// kind, so it is known where this node holds that revision.
    fn role_of(&self, f: &Feedback, subject: &PublicKey) -> Result<Option<DealRole>, ServiceError> {
        let Some(proof) = f.proof_unverified() else { return Ok(None) };
        let Some(kind) = self.store.get(&proof.listing)?.as_ref().and_then(|o| o.listing()).map(|l| l.kind)
        else {
            return Ok(None);
        };
        let seller = if kind == ListingKind::Wanted { proof.offerer } else { proof.listing_author };
        Ok(Some(if *subject == seller { DealRole::Seller } else { DealRole::Buyer }))
    }

    /// Whether `given` names a rating this node holds.
    fn is_rating(&self, given: &str) -> bool {
        self.resolve(given, "object")
            .ok()
            .and_then(|id| self.store.get(&id).ok().flatten())
            .is_some_and(|o| matches!(o.body(), Body::Feedback(_)))
    }

    /// Whether a later rating of `subject` by the same author replaced `feedback`.
    fn superseded(
        &self,
        feedback: &haggle_protocol::Object,
        subject: &PublicKey,
    ) -> Result<bool, ServiceError> {
        let latest = self
            .store
            .feedback_about(subject)?
            .into_iter()
            .filter(|e| e.author == feedback.author())
            .max_by_key(|e| (e.rated_at, e.feedback))
            .map(|e| e.feedback);
        Ok(latest.is_some_and(|id| id != feedback.id()))
    }

    /// The reputation graph, anchored at the owner, the keys it trusts and its counterparties.
    pub(super) fn trust_graph(&self) -> Result<Arc<TrustGraph>, ServiceError> {
        let me = self.me();
        let mut anchors = vec![me];
        anchors.extend(self.policy.trusted_keys.iter().copied().filter(|k| *k != me));
        // Read again when a deal is made or a step stored (a cancellation takes a deal out).
        let deals = (self.store.deal_count_of(&me)?, self.store.step_generation());
        let mut cached = self.counterparties.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cached.0 != deals {
            *cached = (deals, self.store.deal_counterparties(&me)?);
        }
        Ok(self.store.trust_graph(&anchors, &cached.1, self.policy.trust_hops)?)
    }

    /// The author's reputation on a listing view.
    pub(super) fn with_reputation(
        &self,
        graph: &TrustGraph,
        mut view: ListingView,
    ) -> Result<ListingView, ServiceError> {
        view.reputation = Some(brief(&graph.reputation(&view.author)));
        Ok(view)
    }
}

/// A reputation in a line.
pub(super) fn brief(r: &Reputation) -> ReputationBrief {
    // Counts of distinct counterparties: whole numbers held as f64.
    let whole = |x: f64| x.round() as u32;
    ReputationBrief {
        positive: whole(r.raw.positive),
        neutral: whole(r.raw.neutral),
        negative: whole(r.raw.negative),
        weighted_deals: hundredths(r.weighted.total()),
        weighted_positive: hundredths(r.weighted.positive),
        weighted_negative: hundredths(r.weighted.negative),
        in_web_of_trust: r.in_web_of_trust(),
        trusted_raters: whole(r.web_of_trust.total()),
        trusted: r.trusted,
        yours: r.owner_rating,
    }
}

fn counts(c: &Counts) -> RatingCounts {
    RatingCounts {
        positive: hundredths(c.positive),
        neutral: hundredths(c.neutral),
        negative: hundredths(c.negative),
    }
}

/// A weight, a standing or a count of them as the API gives it: to the hundredth, as people
/// read it, and the same way everywhere. From a trial: a total of one rating read 0.13 and
/// its row 0.12 (0.125 rounded by two rules), and the unrounded figures' last digits changed
/// across a restart (the fixed point the standing is iterated to depends on the order).
/// The nearest millionth first, so a figure that is a half hundredth up to that order's noise
/// (0.12499999936) rounds as the half it is.
fn hundredths(x: f64) -> f64 {
    let millionths = (x * 1_000_000.0).round();
    (millionths / 10_000.0).round() / 100.0
}

/// A booking's dates, while they keep it from being rated: a booking is rated once it is over,
/// whatever its stage (a rating tells how the stay, or the days of work, went), unless the
/// seller called it off unpaid, which fails before it.
fn stay_ahead(
    deal: &Deal,
    state: &haggle_protocol::DealState,
    now: Timestamp,
) -> Option<haggle_protocol::DateRange> {
    deal.terms().dates.filter(|dates| !dates.over(now) && !state.called_off_unpaid())
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::{deal_proof, feedback, key, live_listing, sign_now};
    use haggle_protocol::{Body, Listing, Rating};
    use haggle_storage::{Durability, Sort};

    use crate::api::types::SearchParams;
    use crate::service::testing::service;

    /// The owner (key 1) rated seller 2 after a deal; seller 10 got 30 glowing ratings from
    /// fresh keys that only ever traded with it. Both sell oak furniture.
    fn market() -> (crate::service::Service, tempfile::TempDir) {
        let (me, dir) = service(1);
        let put = |bytes: &[u8]| {
            let outcome = me.store.ingest(bytes, Durability::Lazy).expect("stored");
            assert!(outcome.is_new(), "{outcome:?}");
        };
        let (honest, sybil) = (key(2), key(10));
        let proof = deal_proof(&honest, &key(1), "Oak table");
        put(feedback(&key(1), &proof, Rating::Positive, "Lovely").bytes());
        for n in 11..41 {
            let proof = deal_proof(&sybil, &key(n), "Oak chair");
            put(feedback(&key(n), &proof, Rating::Positive, "Best seller ever").bytes());
        }
        // A seller the owner rated negative.
        let bad = key(3);
        let proof = deal_proof(&bad, &key(1), "Oak stool");
        put(feedback(&key(1), &proof, Rating::Negative, "Never shipped").bytes());
        for (seller, nonce, title) in
            [(&honest, 1, "Oak table"), (&sybil, 2, "Oak chair"), (&bad, 3, "Oak stool")]
        {
            let listing = Listing { nonce: [nonce; 16], ..live_listing(title) };
            put(sign_now(seller, Body::Listing(listing)).bytes());
        }
        (me, dir)
    }

    fn titles(me: &crate::service::Service, params: SearchParams) -> Vec<String> {
        let page = me.search(SearchParams { q: "oak".into(), ..params }).expect("a search");
        page.hits.iter().map(|h| h.title.clone()).collect()
    }

    /// From a trial: one rating's weight read 0.12 in its row and 0.13 in the total.
    #[test]
    fn weights_are_given_to_the_hundredth_one_way() {
        use super::hundredths;
        assert_eq!(hundredths(0.125), 0.13);
        assert_eq!(hundredths(0.12499999935971716), 0.13, "a half up to the iteration's noise");
        assert_eq!(hundredths(0.1249999993597172), 0.13, "the same after a restart");
        assert_eq!(hundredths(1.0 / 3.0), 0.33);
        assert_eq!(hundredths(1.0), 1.0);
        assert_eq!(hundredths(0.0), 0.0);
        assert_eq!(format!("{:.2}", hundredths(0.125)), "0.13", "as the command prints a row");
    }

    /// Each rating says what the rated one was in the deal: a standing earned by buying is not
    /// one earned by selling. A wanted ad's author is its buyer; a deal on a listing this node
    /// does not hold says nothing.
    #[test]
    fn a_rating_says_whether_its_subject_sold_or_bought() {
        use haggle_protocol::fixtures::{accept, confirm, live_terms, offer};
        use haggle_protocol::{ListingKind, Verified};

        use crate::api::types::DealRole;
        let (me, _dir) = service(1);
        let put = |bytes: &[u8]| assert!(me.store.ingest(bytes, Durability::Lazy).expect("stored").is_new());
        // `buyer` offers on `listing`, `author` accepts.
        let deal = |listing: &Verified<haggle_protocol::Object>, offerer: u8, author: u8| {
            let offer = sign_now(&key(offerer), offer(listing, live_terms(1, 500)));
            let accept = sign_now(&key(author), accept(&offer, &offer));
            let confirm = sign_now(&key(offerer), confirm(&offer, &accept));
            [offer, accept, confirm]
        };
        let desk = sign_now(&key(2), Body::Listing(live_listing("Oak desk")));
        let wanted = sign_now(
            &key(4),
            Body::Listing(Listing { kind: ListingKind::Wanted, ..live_listing("Wanted: a bike") }),
        );
        put(desk.bytes());
        put(wanted.bytes());
        // Key 3 bought the desk from key 2; key 3 sold a bike to key 4's wanted ad.
        let bought = deal(&desk, 3, 2);
        put(feedback(&key(2), &bought, Rating::Positive, "Paid at once").bytes());
        put(feedback(&key(3), &bought, Rating::Positive, "Nice desk").bytes());
        let sold = deal(&wanted, 3, 4);
        put(feedback(&key(4), &sold, Rating::Positive, "Good bike").bytes());
        put(feedback(&key(3), &sold, Rating::Positive, "Paid").bytes());
        let roles = |k: u8| {
            let view = me.reputation_view(&key(k).public().to_string()).expect("a reputation");
            let mut roles: Vec<_> = view.feedback.iter().map(|f| (f.text.clone(), f.role)).collect();
            roles.sort_by(|a, b| a.0.cmp(&b.0));
            roles
        };
        assert_eq!(
            roles(3),
            [
                ("Good bike".to_owned(), Some(DealRole::Seller)),
                ("Paid at once".to_owned(), Some(DealRole::Buyer))
            ]
        );
        assert_eq!(roles(2), [("Nice desk".to_owned(), Some(DealRole::Seller))]);
        assert_eq!(roles(4), [("Paid".to_owned(), Some(DealRole::Buyer))]);
        // The same from `show` of one rating, and in JSON as "as".
        let rating = feedback(&key(6), &deal_proof(&key(5), &key(6), "Lamp"), Rating::Neutral, "Late");
        put(rating.bytes());
        let view = me.feedback_object_view(&rating).expect("a view");
        assert_eq!(view.role, None, "the lamp's listing is not held here");
        let json = serde_json::to_value(me.reputation_view(&key(2).public().to_string()).expect("rep"))
            .expect("json");
        assert_eq!(json["feedback"][0]["as"], "seller");
    }

    #[test]
    fn search_shows_reputation_and_fake_ratings_do_not_make_a_seller_trusted() {
        let (me, _dir) = market();
        let page = me.search(SearchParams { q: "oak".into(), ..SearchParams::default() }).expect("a search");
        assert_eq!(page.total, 3);
        let rep = |title: &str| {
            page.hits.iter().find(|h| h.title == title).and_then(|h| h.reputation).expect("a reputation")
        };
        let (table, chair) = (rep("Oak table"), rep("Oak chair"));
        assert_eq!((table.positive, table.trusted, table.trusted_raters), (1, true, 1));
        assert_eq!((chair.positive, chair.trusted, chair.trusted_raters), (30, false, 0));
        assert_eq!(chair.weighted_deals, 0.0);
    }

    #[test]
    fn reputation_filters_and_order_follow_trust_not_raw_counts() {
        let (me, _dir) = market();
        assert_eq!(titles(&me, SearchParams { trusted: true, ..SearchParams::default() }), ["Oak table"]);
        assert_eq!(
            titles(&me, SearchParams { min_deals: Some(1), ..SearchParams::default() }),
            ["Oak table"]
        );
        assert!(titles(&me, SearchParams { min_deals: Some(2), ..SearchParams::default() }).is_empty());
        let ranked = titles(&me, SearchParams { sort: Some(Sort::Reputation), ..SearchParams::default() });
        assert_eq!(ranked, ["Oak table", "Oak chair", "Oak stool"]);
        // A negative rating is a deal, not a good one: it never passes --min-deals.
        let stool =
            me.search(SearchParams { q: "stool".into(), ..SearchParams::default() }).expect("a search").hits
                [0]
            .reputation
            .expect("a reputation");
        assert_eq!((stool.negative, stool.weighted_negative, stool.trusted), (1, 1.0, false));
        let page = me
            .search(SearchParams { q: "oak".into(), trusted: true, ..SearchParams::default() })
            .expect("a search");
        assert_eq!(page.total, 1, "totals count what the filter keeps");
        // The owner's own listings are vouched for by the web of trust (it is its anchor).
        me.publish(crate::service::testing::draft("Oak bench", "40")).expect("published");
        let mine = titles(&me, SearchParams { trusted: true, ..SearchParams::default() });
        assert_eq!(
            mine,
            ["Oak table", "Oak bench"]
                .map(str::to_owned)
                .into_iter()
                .filter(|t| mine.contains(t))
                .collect::<Vec<_>>()
        );
        assert!(
            mine.contains(&"Oak bench".to_owned()) && !mine.contains(&"Oak chair".to_owned()),
            "{mine:?}"
        );
    }

    /// From a trial: a filter that looks at the best 500 matches said "500 of 500" beside
    /// 1,132 matches. The page says how many matched in all when some were not looked at.
    #[test]
    fn a_filtered_search_says_how_many_matched_beyond_those_it_looked_at() {
        let (me, _dir) = service(1);
        for n in 0..(haggle_storage::MAX_PAGE as u32 + 1) {
            let mut nonce = [0u8; 16];
            nonce[..4].copy_from_slice(&n.to_be_bytes());
            let listing = Listing { nonce, ..live_listing("Oak shelf") };
            assert!(
                me.store
                    .ingest(sign_now(&key(2), Body::Listing(listing)).bytes(), Durability::Lazy)
                    .expect("stored")
                    .is_new()
            );
        }
        let q = |trusted: bool| {
            me.search(SearchParams { q: "shelf".into(), trusted, ..SearchParams::default() })
                .expect("a search")
        };
        let plain = q(false);
        assert_eq!((plain.total, plain.matched), (501, None), "a plain search counts them all");
        let filtered = q(true);
        assert_eq!((filtered.total, filtered.matched), (0, Some(501)));
    }

    /// Defect: among sellers this node cannot weigh (no rating by anyone with standing), raw
    /// counts decided the order, so fake ratings ranked a seller first on a node that trusts
    /// nobody yet. Ties keep the search's own order (relevance here).
    #[test]
    fn raw_counts_never_rank_a_seller_under_the_reputation_sort() {
        let (me, _dir) = market();
        let unrated = sign_now(
            &key(40),
            // First by relevance: the word in its tags too (a title's repeats count once).
            Body::Listing(Listing {
                nonce: [40; 16],
                tags: vec!["chair".into()],
                ..live_listing("Chair, chair: an oak chair")
            }),
        );
        assert!(me.store.ingest(unrated.bytes(), Durability::Lazy).expect("stored").is_new());
        let search = |sort| {
            let page = me.search(SearchParams { q: "chair".into(), sort, ..SearchParams::default() });
            page.expect("a search").hits.iter().map(|h| h.title.clone()).collect::<Vec<_>>()
        };
        let relevance = search(None);
        assert_eq!(
            relevance.first().map(String::as_str),
            Some("Chair, chair: an oak chair"),
            "{relevance:?}"
        );
        assert_eq!(search(Some(Sort::Reputation)), relevance, "30 fake ratings do not outrank");
    }

    /// The test, with real signed objects through the store: 1,000 fresh identities
    /// that trade with a seller and with each other, all rating positive, give it a reputation
    /// a default search does not trust.
    #[test]
    fn a_thousand_fresh_identities_trading_with_each_other_do_not_make_a_trusted_seller() {
        let (me, _dir) = market();
        let seller = haggle_protocol::SecretKey::generate();
        let sybils: Vec<_> = (0..1_000).map(|_| haggle_protocol::SecretKey::generate()).collect();
        let mut objects = Vec::new();
        for (i, s) in sybils.iter().enumerate() {
            let with_seller = deal_proof(&seller, s, "Oak chest");
            objects.push(feedback(s, &with_seller, Rating::Positive, "Superb").bytes().to_vec());
            objects.push(feedback(&seller, &with_seller, Rating::Positive, "Superb").bytes().to_vec());
            let next = &sybils[(i + 1) % sybils.len()];
            let among = deal_proof(next, s, "Oak chest");
            objects.push(feedback(s, &among, Rating::Positive, "Superb").bytes().to_vec());
        }
        objects.push(
            sign_now(&seller, Body::Listing(Listing { nonce: [9; 16], ..live_listing("Oak chest") }))
                .bytes()
                .to_vec(),
        );
        for outcome in me.store.ingest_batch(&objects, Durability::Lazy).expect("stored") {
            assert!(outcome.is_new(), "{outcome:?}");
        }
        let page =
            me.search(SearchParams { q: "oak chest".into(), ..SearchParams::default() }).expect("a search");
        let chest = page.hits[0].reputation.expect("a reputation");
        assert_eq!((chest.positive, chest.trusted, chest.weighted_positive), (1_000, false, 0.0));
        assert!(
            titles(&me, SearchParams { min_deals: Some(1), ..SearchParams::default() })
                .iter()
                .all(|t| t != "Oak chest")
        );
        assert!(
            titles(&me, SearchParams { trusted: true, ..SearchParams::default() })
                .iter()
                .all(|t| t != "Oak chest")
        );
        let ranked = titles(&me, SearchParams { sort: Some(Sort::Reputation), ..SearchParams::default() });
        assert_eq!(ranked.first().map(String::as_str), Some("Oak table"), "{ranked:?}");
    }

    #[test]
    fn a_reputation_is_found_by_key_or_listing_and_a_wrong_name_is_explained() {
        let (me, _dir) = market();
        let by_key = me.reputation_view(&key(10).public().to_string()).expect("by key");
        assert_eq!((by_key.raw.positive, by_key.deals, by_key.feedback.len()), (30.0, 30, 30));
        assert!(!by_key.trusted && by_key.hops.is_none());
        let listing =
            me.search(SearchParams { q: "table".into(), ..SearchParams::default() }).expect("a search");
        let by_listing = me.reputation_view(&listing.hits[0].id.to_hex()[..8]).expect("by listing");
        assert_eq!(by_listing.key, key(2).public());
        assert_eq!(by_listing.hops, Some(1));
        let err = me.reputation_view("nobody").expect_err("not a key");
        assert!(err.to_string().contains("not a key"), "{err}");
        // An id that names nothing held is not found, as other commands say it.
        let err = me.reputation_view("123456789a").expect_err("no such id");
        assert_eq!(err.code(), crate::api::types::ErrorCode::NotFound, "{err}");
        assert!(
            err.to_string().starts_with("no listing, thread, deal or message matches `123456789a`"),
            "{err}"
        );
        // A deal between two others, whose ratings are held here: said as `show` says it.
        let proof = deal_proof(&key(10), &key(11), "Oak chair");
        let rating = feedback(&key(11), &proof, Rating::Positive, "Fine");
        assert!(me.store.ingest(rating.bytes(), Durability::Lazy).expect("stored").is_new());
        let deal = proof[1].id().to_hex();
        let err = me.reputation_view(&deal[..10]).expect_err("not held whole");
        assert_eq!(err.code(), crate::api::types::ErrorCode::NotFound, "{err}");
        assert!(
            err.to_string().starts_with(&format!("deal {} is between two other people", &deal[..10])),
            "{err}"
        );
        // And by `message` (found in a trial: it said only "no ... matches").
        let err = me.send_note(&deal[..10], "hi".into()).expect_err("not ours");
        assert!(
            err.to_string().starts_with(&format!("deal {} is between two other people", &deal[..10])),
            "{err}"
        );
        // A key copied from a table, shortened there, is named as such.
        let err = me.reputation_view("12D3KooW…pWTGKh").expect_err("shortened");
        assert!(err.to_string().contains("is a key shortened for a table: give the whole key"), "{err}");
        // A key with its last character mistyped is said to be no key anybody holds (from a
        // trial: it read "is not a key (a PeerId such as 12D3KooW...)").
        let whole = key(10).public().to_string();
        let typo = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
            .chars()
            .map(|c| format!("{}{c}", &whole[..whole.len() - 1]))
            .find(|t| {
                matches!(
                    t.parse::<haggle_protocol::PublicKey>(),
                    Err(haggle_protocol::ParseKeyError::NotAPoint(_))
                )
            })
            .expect("a typo off the curve");
        let err = me.reputation_view(&typo).expect_err("no key").to_string();
        assert!(err.contains("is not a valid public key") && err.contains("copied whole"), "{err}");
    }
}
