//! Reputation, computed locally from verified feedback: what a reader can believe about an
//! identity, and how much of it an attacker with many keys can fake.
//!
//! Every feedback proves a deal that both parties signed, but two keys of one person can make
//! such a deal. So raw counts (positive, neutral and negative ratings from distinct
//! counterparties) are shown, but never trusted on their own. Two views are:
//!
//! - **Standing** (the default view). Trust flows from *anchors*: this node's own key, the keys
//!   its owner trusts explicitly, and every counterparty the owner rated positive; each has
//!   standing 1. Everyone else's standing is what flows to them along positive ratings: an
//!   author passes on [`DAMPING`] times its own standing, split evenly among the identities it
//!   rated positive, and no standing exceeds 1 (iterated to a fixed point). The flow is
//!   conserved, so a group of keys that only rate each other holds no more standing than flows
//!   in through the real deals it made with people who have some: with no such deal, none at
//!   all; with one, at most `DAMPING / (1 - DAMPING)` = 1 in total, however many keys it
//!   creates. A rater's standing is also what its ratings weigh *together*: each weighs its
//!   standing divided by the number of identities it rated, so a key the owner rated positive
//!   (standing 1) that rates three fresh keys of its own gives each a third, not a whole. The
//!   owner's own ratings and those of the keys it trusts by name weigh 1 each: they are the
//!   owner's own judgement. A seller is *trusted* when the owner rated it positive (its latest
//!   rating; one it rated negative never is), or else when its weighted positive feedback minus
//!   its weighted negative feedback reaches [`TRUSTED_SCORE`] (one rating by a key of standing
//!   1), which a group of keys behind one real deal reaches for at most one of its keys. The
//!   owner's own key is never marked trusted: its raters weigh what the owner's ratings gave them.
//! - **Web of trust** (`--trusted`): only counterparties within `hops` deals of the anchors
//!   count (people the owner traded with, people they traded with, ...). A rater every way to
//!   which leads through the subject does not count for the subject (a seller cannot bring in
//!   raters of its own), and raters every way to which leads through one identity (all the keys
//!   one counterparty vouched for, say) count as one between them for each subject, so one real
//!   deal brings in at most one unit of rating however many keys stand behind it.

use std::collections::{HashMap, HashSet, VecDeque};

use haggle_protocol::{ObjectId, PublicKey, Rating, Timestamp};

/// The share of its standing an author passes on to those it rated positive.
pub const DAMPING: f64 = 0.5;

/// Weighted positive minus weighted negative feedback at which a seller counts as trusted.
pub const TRUSTED_SCORE: f64 = 1.0;

/// Fixed-point rounds at most (standing settles to 1e-9 in a few dozen on any graph, since
/// every hop halves what flows).
const MAX_ROUNDS: usize = 64;

/// One feedback, as the reputation graph sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Who rated.
    pub author: PublicKey,
    /// Who was rated: the other party of the deal.
    pub subject: PublicKey,
    /// The deal (its Accept's id).
    pub deal: ObjectId,
    /// The rating.
    pub rating: Rating,
    /// When the deal was made (the Confirm's date, signed by one of the parties).
    pub made_at: Timestamp,
    /// When the author signed the feedback (by its own clock).
    pub rated_at: Timestamp,
    /// The feedback's id.
    pub feedback: ObjectId,
}

/// Ratings from distinct counterparties (each counts once, with its latest rating).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Positive.
    pub positive: f64,
    /// Neutral.
    pub neutral: f64,
    /// Negative.
    pub negative: f64,
}

impl Counts {
    fn add(&mut self, rating: Rating, weight: f64) {
        match rating {
            Rating::Positive => self.positive += weight,
            Rating::Neutral => self.neutral += weight,
            Rating::Negative => self.negative += weight,
        }
    }

    /// All three.
    pub fn total(&self) -> f64 {
        self.positive + self.neutral + self.negative
    }
}

/// What this node can say about one identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Reputation {
    /// Ratings from distinct counterparties, unweighted: what anyone can fake with enough keys.
    pub raw: Counts,
    /// The same ratings, each weighted by the counterparty's standing (0 to 1).
    pub weighted: Counts,
    /// Ratings from counterparties within the web of trust only.
    pub web_of_trust: Counts,
    /// Distinct deals seen in feedback either way (rated or rating).
    pub deals: usize,
    /// The earliest and latest of those deals.
    pub first_deal: Option<Timestamp>,
    /// See `first_deal`.
    pub last_deal: Option<Timestamp>,
    /// The identity's own standing, 0 to 1.
    pub standing: f64,
    /// Deals from the anchors, if within the web of trust (0 for an anchor).
    pub hops: Option<u32>,
    /// Whether this node's owner rated it positive itself, or weighted positive minus weighted
    /// negative reaches [`TRUSTED_SCORE`] (not when the owner rated it negative; never the
    /// owner's own key).
    pub trusted: bool,
    /// The owner's own latest rating of the identity, if any: the owner's judgement decides.
    pub owner_rating: Option<Rating>,
}

impl Reputation {
    /// Good deals that count in the chosen view: positive ratings, weighted by the raters'
    /// standing, or those from raters within the web of trust (a negative or neutral rating is
    /// a deal, but not a good one).
    pub fn deals_counted(&self, web_of_trust: bool) -> f64 {
        if web_of_trust { self.web_of_trust.positive } else { self.weighted.positive }
    }

    /// Whether the web of trust vouches for the identity: it is an anchor (this node's owner or
    /// a key it trusts), the owner rated it positive, or (unless the owner rated it negative)
    /// raters within the web of trust rated it positive more often than negative.
    pub fn in_web_of_trust(&self) -> bool {
        match self.owner_rating {
            _ if self.hops == Some(0) => true,
            Some(Rating::Positive) => true,
            Some(Rating::Negative) => false,
            _ => self.web_of_trust.positive >= 1.0 && self.web_of_trust.positive > self.web_of_trust.negative,
        }
    }
}

/// Everyone's standing and distance from the anchors, and every rated identity's reputation,
/// from every feedback held.
#[derive(Debug, Default)]
pub struct TrustGraph {
    standing: HashMap<PublicKey, f64>,
    /// What each rating of an identity with standing weighs (see the module docs).
    weight: HashMap<PublicKey, f64>,
    hops: HashMap<PublicKey, u32>,
    reputations: HashMap<PublicKey, Reputation>,
}

#[derive(Debug, Default)]
struct DealSpan {
    deals: HashSet<ObjectId>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl TrustGraph {
    /// Builds the graph from `edges`, anchored at `anchors` (this node's key first, then the
    /// keys its owner trusts), with `counterparties` (of the owner's own deals, rated or not)
    /// one deal away in the web of trust, which reaches `max_hops` deals.
    pub fn build(edges: &[Edge], anchors: &[PublicKey], counterparties: &[PublicKey], max_hops: u32) -> Self {
        let latest = latest_ratings(edges);
        let owner = anchors.first().copied();
        let rated_by_owner = |subject: &PublicKey, rating: Rating| {
            owner.is_some_and(|o| latest.get(&(o, *subject)).is_some_and(|(r, _)| *r == rating))
        };
        let mut anchored: HashSet<PublicKey> = anchors.iter().copied().collect();
        for ((author, subject), (rating, _)) in &latest {
            // The owner's own negative rating outweighs a trusted key's positive one.
            if anchors.contains(author)
                && *rating == Rating::Positive
                && !rated_by_owner(subject, Rating::Negative)
            {
                anchored.insert(*subject);
            }
        }
        let standing = standing(&latest, &anchored);
        let weight = rating_weights(&latest, &standing, anchors);
        let counterparties: Vec<PublicKey> =
            counterparties.iter().copied().filter(|c| !rated_by_owner(c, Rating::Negative)).collect();
        let (hops, parents, order) = distances(&latest, anchors, &counterparties, max_hops);
        let dominators = dominators(&hops, &parents, &order);
        let mut spans: HashMap<PublicKey, DealSpan> = HashMap::new();
        for e in edges {
            // A deal is not made after it was rated: the rater's clock bounds the deal's date.
            let at = e.made_at.min(e.rated_at);
            for party in [e.author, e.subject] {
                let span = spans.entry(party).or_default();
                if span.deals.insert(e.deal) {
                    span.first = Some(span.first.map_or(at, |t| t.min(at)));
                    span.last = Some(span.last.map_or(at, |t| t.max(at)));
                }
            }
        }
        let mut graph = TrustGraph { standing, weight, hops, reputations: HashMap::new() };
        // Within the web of trust, and not reached only through the subject itself (an identity
        // cannot bring in raters of its own); each counts as a share of its group (the raters
        // every way to which leads through one identity count as one for each subject).
        let counted = |author: &PublicKey, subject: &PublicKey| {
            graph.hops(author).is_some() && !dominated_by(&dominators, author, subject)
        };
        let mut group_sizes: HashMap<(PublicKey, PublicKey), u32> = HashMap::new();
        for (author, subject) in latest.keys() {
            if counted(author, subject) {
                *group_sizes.entry((*subject, group(&dominators, &graph.hops, author))).or_default() += 1;
            }
        }
        let mut counts: HashMap<PublicKey, (Counts, Counts, Counts)> = HashMap::new();
        for ((author, subject), (rating, _)) in &latest {
            let (raw, weighted, web) = counts.entry(*subject).or_default();
            raw.add(*rating, 1.0);
            weighted.add(*rating, graph.weight(author));
            if counted(author, subject) {
                let size = group_sizes.get(&(*subject, group(&dominators, &graph.hops, author))).copied();
                web.add(*rating, 1.0 / f64::from(size.unwrap_or(1).max(1)));
            }
        }
        for (subject, (raw, weighted, web_of_trust)) in counts {
            let span = spans.get(&subject);
            let owner_rating = owner.and_then(|o| latest.get(&(o, subject))).map(|(r, _)| *r);
            // The owner's own experience decides; others' ratings decide only without it.
            let trusted = owner != Some(subject)
                && match owner_rating {
                    Some(Rating::Positive) => true,
                    Some(Rating::Negative) => false,
                    _ => weighted.positive - weighted.negative >= TRUSTED_SCORE,
                };
            graph.reputations.insert(
                subject,
                Reputation {
                    raw,
                    weighted,
                    web_of_trust,
                    deals: span.map_or(0, |s| s.deals.len()),
                    first_deal: span.and_then(|s| s.first),
                    last_deal: span.and_then(|s| s.last),
                    standing: graph.standing(&subject),
                    hops: graph.hops(&subject),
                    trusted,
                    owner_rating,
                },
            );
        }
        // A key that rated deals and was never rated: no ratings, but its deals all the same (a
        // trial's `reputation` said `deals 0` of a key with three deals rated).
        for (party, span) in spans {
            if let std::collections::hash_map::Entry::Vacant(e) = graph.reputations.entry(party) {
                e.insert(Reputation {
                    raw: Counts::default(),
                    weighted: Counts::default(),
                    web_of_trust: Counts::default(),
                    deals: span.deals.len(),
                    first_deal: span.first,
                    last_deal: span.last,
                    standing: graph.standing.get(&party).copied().unwrap_or(0.0),
                    hops: graph.hops.get(&party).copied(),
                    trusted: false,
                    owner_rating: None,
                });
            }
        }
        graph
    }

    /// `key`'s standing, 0 to 1.
    pub fn standing(&self, key: &PublicKey) -> f64 {
        self.standing.get(key).copied().unwrap_or(0.0)
    }

    /// What one rating by `author` weighs in the weighted view, 0 to 1: its standing, shared
    /// among everyone it rated (1 for the owner and the keys it trusts by name).
    pub fn weight(&self, author: &PublicKey) -> f64 {
        self.weight.get(author).copied().unwrap_or(0.0)
    }

    /// `key`'s distance in deals from the anchors, if within the web of trust.
    pub fn hops(&self, key: &PublicKey) -> Option<u32> {
        self.hops.get(key).copied()
    }

    /// What the feedback held says of `subject` (nothing rated: no ratings, no standing unless
    /// anchored).
    pub fn reputation(&self, subject: &PublicKey) -> Reputation {
        self.reputations.get(subject).cloned().unwrap_or_else(|| Reputation {
            raw: Counts::default(),
            weighted: Counts::default(),
            web_of_trust: Counts::default(),
            deals: 0,
            first_deal: None,
            last_deal: None,
            standing: self.standing(subject),
            hops: self.hops(subject),
            trusted: false,
            owner_rating: None,
        })
    }
}

/// Each (author, subject) pair's latest rating, with its order key (rating time, feedback id).
type Latest = HashMap<(PublicKey, PublicKey), (Rating, (Timestamp, ObjectId))>;

/// Each (author, subject) pair's latest rating (by when the author signed it, then the
/// feedback id), so a counterparty counts once however many deals it made with the subject.
/// The rater's own clock orders its ratings: the other party signed the deal's date and could
/// backdate it to bury a newer rating.
fn latest_ratings<'a>(edges: impl IntoIterator<Item = &'a Edge>) -> Latest {
    let mut out = Latest::new();
    for e in edges {
        let order = (e.rated_at, e.feedback);
        let slot = out.entry((e.author, e.subject)).or_insert((e.rating, order));
        if order > slot.1 {
            *slot = (e.rating, order);
        }
    }
    out
}

/// The fixed point of the flow described in the module docs.
fn standing(latest: &Latest, anchored: &HashSet<PublicKey>) -> HashMap<PublicKey, f64> {
    let mut vouches: HashMap<PublicKey, Vec<PublicKey>> = HashMap::new();
    for ((author, subject), (rating, _)) in latest {
        if *rating == Rating::Positive {
            vouches.entry(*author).or_default().push(*subject);
        }
    }
    let mut standing: HashMap<PublicKey, f64> = anchored.iter().map(|k| (*k, 1.0)).collect();
    for _ in 0..MAX_ROUNDS {
        let mut next: HashMap<PublicKey, f64> = anchored.iter().map(|k| (*k, 1.0)).collect();
        for (author, subjects) in &vouches {
            let Some(w) = standing.get(author).copied().filter(|w| *w > 0.0) else { continue };
            let share = DAMPING * w / subjects.len() as f64;
            for s in subjects {
                if !anchored.contains(s) {
                    *next.entry(*s).or_default() += share;
                }
            }
        }
        for w in next.values_mut() {
            *w = w.min(1.0);
        }
        let change =
            next.iter().map(|(k, w)| (w - standing.get(k).copied().unwrap_or(0.0)).abs()).fold(0.0, f64::max);
        standing = next;
        if change < 1e-9 {
            break;
        }
    }
    standing
}

/// What one rating by each identity with standing weighs: its standing divided by the number
/// of identities it rated (its latest rating of each), so that all its ratings together weigh no
/// more than its standing; the anchors named (the owner and the keys it trusts) weigh 1 each.
fn rating_weights(
    latest: &Latest,
    standing: &HashMap<PublicKey, f64>,
    anchors: &[PublicKey],
) -> HashMap<PublicKey, f64> {
    let mut rated: HashMap<PublicKey, u32> = HashMap::new();
    for (author, _) in latest.keys() {
        if standing.get(author).is_some_and(|w| *w > 0.0) {
            *rated.entry(*author).or_default() += 1;
        }
    }
    rated
        .into_iter()
        .map(|(author, n)| {
            let w = if anchors.contains(&author) { 1.0 } else { standing[&author] / f64::from(n.max(1)) };
            (author, w)
        })
        .collect()
}

/// Each identity within the web of trust, the identities it was reached through one hop
/// earlier, and the order they were reached in (by distance).
type Reached = (HashMap<PublicKey, u32>, HashMap<PublicKey, Vec<PublicKey>>, Vec<PublicKey>);

/// Distances from the anchors, up to `max_hops`: the owner's counterparties (unless the owner
/// rated them negative) are one deal away, and trust extends only along positive ratings by
/// identities already reached (someone I traded with vouches for someone they traded with).
/// Returns each identity's distance, every identity one step nearer that vouches for it (the
/// owner for its counterparties), and the order they were reached in.
fn distances(latest: &Latest, anchors: &[PublicKey], counterparties: &[PublicKey], max_hops: u32) -> Reached {
    let mut vouches: HashMap<PublicKey, Vec<PublicKey>> = HashMap::new();
    for ((author, subject), (rating, _)) in latest {
        if *rating == Rating::Positive {
            vouches.entry(*author).or_default().push(*subject);
        }
    }
    let mut hops: HashMap<PublicKey, u32> = anchors.iter().map(|k| (*k, 0)).collect();
    let mut parents: HashMap<PublicKey, Vec<PublicKey>> = HashMap::new();
    let mut order: Vec<PublicKey> = Vec::new();
    let mut queue: VecDeque<PublicKey> = anchors.iter().copied().collect();
    if max_hops >= 1 {
        for c in counterparties {
            if !hops.contains_key(c) {
                hops.insert(*c, 1);
                parents.insert(*c, anchors.first().copied().into_iter().collect());
                order.push(*c);
                queue.push_back(*c);
            }
        }
    }
    while let Some(k) = queue.pop_front() {
        let h = hops[&k];
        if h >= max_hops {
            continue;
        }
        for n in vouches.get(&k).into_iter().flatten() {
            match hops.get(n) {
                None => {
                    hops.insert(*n, h + 1);
                    parents.insert(*n, vec![k]);
                    order.push(*n);
                    queue.push_back(*n);
                }
                Some(&at) if at == h + 1 => parents.entry(*n).or_default().push(k),
                Some(_) => {}
            }
        }
    }
    (hops, parents, order)
}

/// Each reached identity's nearest *dominator*: the identity every way from the anchors to it
/// passes through (none when the ways meet only at the anchors, or start at different ones).
/// The ways are the shortest ones the search found, so the result does not depend on the order
/// in which identities were met.
fn dominators(
    hops: &HashMap<PublicKey, u32>,
    parents: &HashMap<PublicKey, Vec<PublicKey>>,
    order: &[PublicKey],
) -> HashMap<PublicKey, PublicKey> {
    let mut idom: HashMap<PublicKey, PublicKey> = HashMap::new();
    // Depth in the dominator tree: an anchor, or an identity with no dominator, is a root.
    let mut depth: HashMap<PublicKey, u32> =
        hops.iter().filter(|(_, h)| **h == 0).map(|(k, _)| (*k, 0)).collect();
    for v in order {
        let mut ways = parents.get(v).into_iter().flatten();
        let mut common = ways.next().copied();
        for p in ways {
            common = common.and_then(|c| meet(&idom, &depth, c, *p));
        }
        match common {
            Some(d) => {
                depth.insert(*v, depth.get(&d).copied().unwrap_or(0) + 1);
                idom.insert(*v, d);
            }
            None => {
                depth.insert(*v, 0);
            }
        }
    }
    idom
}

/// The nearest identity that dominates both `a` and `b` (each itself included), if any.
fn meet(
    idom: &HashMap<PublicKey, PublicKey>,
    depth: &HashMap<PublicKey, u32>,
    mut a: PublicKey,
    mut b: PublicKey,
) -> Option<PublicKey> {
    let d = |k: &PublicKey| depth.get(k).copied().unwrap_or(0);
    // Each step moves one side up the tree, whose depth is at most the hops searched.
    while a != b {
        if d(&a) >= d(&b) {
            a = *idom.get(&a)?;
        } else {
            b = *idom.get(&b)?;
        }
    }
    Some(a)
}

/// Whether every way to `key` leads through `through`.
fn dominated_by(idom: &HashMap<PublicKey, PublicKey>, key: &PublicKey, through: &PublicKey) -> bool {
    let mut at = idom.get(key);
    // Chains are at most `max_hops` long; the bound only guards against a malformed map.
    for _ in 0..64 {
        match at {
            Some(p) if p == through => return true,
            Some(p) => at = idom.get(p),
            None => return false,
        }
    }
    false
}

/// The group `key` counts in within the web of trust: the identity nearest the anchors, not
/// an anchor, that every way to `key` leads through (`key` itself when none does).
fn group(idom: &HashMap<PublicKey, PublicKey>, hops: &HashMap<PublicKey, u32>, key: &PublicKey) -> PublicKey {
    let mut g = *key;
    for _ in 0..64 {
        match idom.get(&g) {
            Some(p) if hops.get(p).is_some_and(|h| *h > 0) => g = *p,
            _ => break,
        }
    }
    g
}

/// A graph and what it was built from, so it is rebuilt only when one of them changes.
#[derive(Debug)]
pub(crate) struct CachedGraph {
    generation: u64,
    built_at: std::time::Instant,
    build_time: std::time::Duration,
    anchors: Vec<PublicKey>,
    counterparties: Vec<PublicKey>,
    max_hops: u32,
    graph: std::sync::Arc<TrustGraph>,
}

/// How stale a graph may be kept after feedback arrived, in multiples of its build time: a
/// graph of 200,000 feedbacks takes about 0.4 s to build, so a busy network's ratings cost at
/// most a twentieth of a core, while a small graph is rebuilt at once.
const REUSE_FACTOR: u32 = 20;

/// The longest a graph is kept after feedback arrived.
const MAX_STALE: std::time::Duration = std::time::Duration::from_secs(30);

impl crate::Store {
    /// The reputation graph of every feedback held, anchored as [`TrustGraph::build`] says;
    /// kept until the anchors change, or the feedback changed and the graph has been used for
    /// [`REUSE_FACTOR`] times its build time (at most [`MAX_STALE`]).
    pub fn trust_graph(
        &self,
        anchors: &[PublicKey],
        counterparties: &[PublicKey],
        max_hops: u32,
    ) -> Result<std::sync::Arc<TrustGraph>, crate::StoreError> {
        let generation = self.feedback_generation();
        let mut cached = self.trust.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cached.as_ref()
            && (c.generation == generation
                || c.built_at.elapsed() < (c.build_time * REUSE_FACTOR).min(MAX_STALE))
            && c.anchors == anchors
            && c.counterparties == counterparties
            && c.max_hops == max_hops
        {
            return Ok(c.graph.clone());
        }
        let started = std::time::Instant::now();
        let graph = std::sync::Arc::new(TrustGraph::build(
            &self.feedback_edges()?,
            anchors,
            counterparties,
            max_hops,
        ));
        *cached = Some(CachedGraph {
            generation,
            built_at: std::time::Instant::now(),
            build_time: started.elapsed(),
            anchors: anchors.to_vec(),
            counterparties: counterparties.to_vec(),
            max_hops,
            graph: graph.clone(),
        });
        Ok(graph)
    }

    /// Drops the cached graph, so the next read builds it again (after the owner's own rating,
    /// which must show at once).
    pub fn forget_trust_graph(&self) {
        *self.trust.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use haggle_protocol::fixtures::Rng;

    use super::*;

    fn ident(n: u32) -> PublicKey {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        b[4] = 0xAB;
        PublicKey::from_bytes(b)
    }

    /// A deal between `a` and `b`, rated both ways.
    fn trade(edges: &mut Vec<Edge>, a: PublicKey, b: PublicKey, rating: Rating) {
        let n = edges.len() as u32;
        let mut deal = [0u8; 32];
        deal[..4].copy_from_slice(&n.to_be_bytes());
        for (author, subject, k) in [(a, b, 1u8), (b, a, 2u8)] {
            let mut feedback = deal;
            feedback[31] = k;
            edges.push(Edge {
                author,
                subject,
                deal: ObjectId::from_bytes(deal),
                rating,
                made_at: Timestamp::from_millis(1_700_000_000_000 + u64::from(n)),
                rated_at: Timestamp::from_millis(1_700_000_000_000 + u64::from(n)),
                feedback: ObjectId::from_bytes(feedback),
            });
        }
    }

    struct Market {
        edges: Vec<Edge>,
        me: PublicKey,
        honest: Vec<PublicKey>,
        sybils: Vec<PublicKey>,
        target: PublicKey,
    }

    /// An honest market of 200 people making 1,000 deals among them (me among them, with three
    /// deals), and 1,000 fresh identities trading only with each other, all rating positive,
    /// boosting one of them (the target), which also gets `attack_edges` real deals with honest
    /// people.
    fn market(attack_edges: usize) -> Market {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let me = ident(0);
        let honest: Vec<PublicKey> = (1..=200).map(ident).collect();
        let sybils: Vec<PublicKey> = (10_000..11_000).map(ident).collect();
        let target = sybils[0];
        let mut edges = Vec::new();
        for h in &honest[..3] {
            trade(&mut edges, me, *h, Rating::Positive);
        }
        for _ in 0..1_000 {
            let (a, b) = (honest[rng.below(200)], honest[rng.below(200)]);
            if a != b {
                trade(&mut edges, a, b, if rng.below(10) == 0 { Rating::Negative } else { Rating::Positive });
            }
        }
        for (i, s) in sybils.iter().enumerate().skip(1) {
            trade(&mut edges, *s, target, Rating::Positive);
            trade(&mut edges, *s, sybils[1 + (i * 7) % 999], Rating::Positive);
        }
        for h in honest.iter().take(attack_edges) {
            trade(&mut edges, *h, target, Rating::Positive);
        }
        Market { edges, me, honest, sybils, target }
    }

    fn about(edges: &[Edge], k: &PublicKey) -> Vec<Edge> {
        edges.iter().filter(|e| e.subject == *k).copied().collect()
    }

    #[test]
    fn a_thousand_identities_trading_among_themselves_are_not_trusted() {
        let m = market(0);
        let graph = TrustGraph::build(&m.edges, &[m.me], &[], 2);
        let target = graph.reputation(&m.target);
        assert_eq!(target.raw.positive, 999.0, "raw counts are what keys can fake");
        assert_eq!(target.weighted.positive, 0.0);
        assert_eq!(target.web_of_trust.total(), 0.0);
        assert!(!target.trusted);
        assert!(m.sybils.iter().all(|s| graph.standing(s) == 0.0 && graph.hops(s).is_none()));
        // Honest people I traded with, and those they vouched for, are trusted.
        let trusted_honest = m.honest.iter().filter(|h| graph.reputation(h).trusted).count();
        assert!(trusted_honest >= 3, "{trusted_honest}");
    }

    #[test]
    fn a_sybil_group_behind_one_real_deal_gains_at_most_the_flow_of_that_deal() {
        // The worst case: the honest party of the real deal is someone I rated positive myself
        // (standing 1) and it vouched for nobody else.
        let mut m = market(0);
        let insider = ident(500);
        trade(&mut m.edges, m.me, insider, Rating::Positive);
        trade(&mut m.edges, insider, m.target, Rating::Positive);
        let graph = TrustGraph::build(&m.edges, &[m.me], &[], 2);
        let target = graph.reputation(&m.target);
        let from_sybils = target.weighted.positive - graph.standing(&insider);
        let group: f64 = m.sybils.iter().map(|s| graph.standing(s)).sum();
        assert!(group <= DAMPING / (1.0 - DAMPING) + 1e-6, "group standing {group}");
        assert!(from_sybils < TRUSTED_SCORE, "999 keys added {from_sybils}");
        // The real deal counts, but 999 fake ones add less than one real one.
        assert!(target.weighted.positive < 2.0 * TRUSTED_SCORE);
        // In the web of trust (2 hops), only the insider's rating counts.
        assert_eq!(target.web_of_trust.positive, 1.0);
    }

    #[test]
    fn sybils_with_one_deal_each_with_random_honest_people_stay_below_honest_sellers() {
        let m = market(3);
        let graph = TrustGraph::build(&m.edges, &[m.me], &[], 2);
        let target = graph.reputation(&m.target);
        let from_sybils: f64 = about(&m.edges, &m.target)
            .iter()
            .filter(|e| m.sybils.contains(&e.author))
            .map(|e| graph.weight(&e.author))
            .sum();
        assert!(from_sybils < TRUSTED_SCORE, "999 keys added {from_sybils}");
        // Three real deals with honest strangers weigh about what three real deals should.
        assert!(target.weighted.positive <= 3.0 + TRUSTED_SCORE, "{:?}", target.weighted);
    }

    #[test]
    fn the_web_of_trust_reaches_as_far_as_asked_and_my_deals_count_unrated() {
        let (me, a, b, c) = (ident(0), ident(1), ident(2), ident(3));
        let mut edges = Vec::new();
        trade(&mut edges, a, b, Rating::Positive);
        trade(&mut edges, b, c, Rating::Positive);
        // My deal with `a` has no feedback yet: it still puts `a` one deal away.
        let graph = TrustGraph::build(&edges, &[me], &[a], 2);
        assert_eq!((graph.hops(&a), graph.hops(&b), graph.hops(&c)), (Some(1), Some(2), None));
        let rb = graph.reputation(&b);
        assert_eq!((rb.raw.positive, rb.web_of_trust.positive), (2.0, 1.0));
        assert_eq!(rb.deals, 2);
        assert_eq!(graph.standing(&a), 0.0, "an unrated deal vouches for nobody");
    }

    #[test]
    fn a_seller_i_rated_negative_cannot_bring_its_own_raters_into_my_web_of_trust() {
        // The seller scammed me; it then makes 100 keys that trade with it and rate it.
        let (me, scammer, honest) = (ident(0), ident(1), ident(2));
        let mut edges = Vec::new();
        trade(&mut edges, me, scammer, Rating::Negative);
        trade(&mut edges, me, honest, Rating::Positive);
        for n in 0..100 {
            trade(&mut edges, ident(1_000 + n), scammer, Rating::Positive);
        }
        let graph = TrustGraph::build(&edges, &[me], &[scammer, honest], 2);
        let r = graph.reputation(&scammer);
        assert_eq!(graph.hops(&scammer), None, "a counterparty I rated negative is not one deal away");
        assert_eq!((r.raw.positive, r.web_of_trust.positive, r.web_of_trust.negative), (100.0, 0.0, 1.0));
        assert!(!r.trusted);
        // The honest counterparty does the same: its own keys still do not count for it.
        for n in 0..100 {
            trade(&mut edges, ident(2_000 + n), honest, Rating::Positive);
        }
        let graph = TrustGraph::build(&edges, &[me], &[scammer, honest], 2);
        let r = graph.reputation(&honest);
        assert_eq!(r.raw.positive, 101.0);
        assert_eq!(r.web_of_trust.positive, 1.0, "raters reached only through the subject do not count");
    }

    #[test]
    fn my_negative_rating_outweighs_a_trusted_keys_positive_one() {
        let (me, friend, seller) = (ident(0), ident(1), ident(2));
        let mut edges = Vec::new();
        trade(&mut edges, friend, seller, Rating::Positive);
        trade(&mut edges, me, seller, Rating::Negative);
        let graph = TrustGraph::build(&edges, &[me, friend], &[seller], 2);
        assert!(graph.standing(&seller) < 1.0);
        assert!(!graph.reputation(&seller).trusted);
    }

    #[test]
    fn a_newer_rating_wins_however_the_deals_are_dated() {
        // Deal 2 is dated (by the other party) before deal 1; I rated it later, negative.
        let (me, s) = (ident(0), ident(1));
        let mut edges = Vec::new();
        trade(&mut edges, me, s, Rating::Positive);
        trade(&mut edges, me, s, Rating::Negative);
        let second = edges.len() - 2;
        edges[second].made_at = Timestamp::from_millis(946_684_800_000);
        let graph = TrustGraph::build(&edges, &[me], &[], 2);
        assert_eq!(graph.reputation(&s).raw.negative, 1.0);
        assert_eq!(graph.standing(&s), 0.0, "no longer vouched for");
    }

    /// Found in a trial: a key that rated three deals and was not rated back read `deals 0`.
    #[test]
    fn a_key_that_only_rated_still_counts_its_deals() {
        let (me, rater, s) = (ident(0), ident(1), ident(2));
        let mut edges = Vec::new();
        for _ in 0..3 {
            trade(&mut edges, rater, s, Rating::Positive);
            // Only the rater's half: the seller has not rated back.
            edges.pop();
        }
        let graph = TrustGraph::build(&edges, &[me], &[], 3);
        let r = graph.reputation(&rater);
        assert_eq!((r.deals, r.raw), (3, Counts::default()), "{r:?}");
        assert!(r.first_deal.is_some() && r.first_deal < r.last_deal);
        assert_eq!(graph.reputation(&s).deals, 3);
        assert_eq!(graph.reputation(&ident(9)).deals, 0, "a stranger");
    }

    #[test]
    fn a_counterparty_counts_once_with_its_latest_rating() {
        let (me, a, s) = (ident(0), ident(1), ident(2));
        let mut edges = Vec::new();
        trade(&mut edges, me, a, Rating::Positive);
        trade(&mut edges, a, s, Rating::Positive);
        trade(&mut edges, a, s, Rating::Negative);
        let graph = TrustGraph::build(&edges, &[me], &[], 3);
        let r = graph.reputation(&s);
        assert_eq!(r.raw, Counts { positive: 0.0, neutral: 0.0, negative: 1.0 });
        assert_eq!(r.deals, 2);
        assert!(!r.trusted);
        assert_eq!(graph.standing(&s), 0.0, "a negative rating vouches for nothing");
    }

    /// Someone I traded with (and rated positive) runs three more keys: it sells to each of
    /// them, they all rate positive, and the three buy from an honest seller I rated positive
    /// and rate it negative.
    fn an_insider_with_three_keys() -> (Vec<Edge>, PublicKey, PublicKey, [PublicKey; 3], PublicKey) {
        let (me, insider, seller, friend) = (ident(0), ident(1), ident(2), ident(3));
        let keys = [ident(10), ident(11), ident(12)];
        let mut edges = Vec::new();
        trade(&mut edges, me, insider, Rating::Positive);
        trade(&mut edges, me, seller, Rating::Positive);
        trade(&mut edges, friend, seller, Rating::Positive);
        for k in keys {
            trade(&mut edges, insider, k, Rating::Positive);
            trade(&mut edges, k, seller, Rating::Negative);
        }
        (edges, me, insider, keys, seller)
    }

    #[test]
    fn one_real_deal_makes_at_most_one_key_of_a_group_trusted() {
        let (edges, me, insider, keys, _) = an_insider_with_three_keys();
        let graph = TrustGraph::build(&edges, &[me], &[insider], 2);
        assert!(graph.reputation(&insider).trusted, "I rated the insider positive myself");
        for k in keys {
            let r = graph.reputation(&k);
            assert!(!r.trusted, "a key the insider vouched for weighs a share: {:?}", r.weighted);
            assert!(r.weighted.positive < 0.5, "{:?}", r.weighted);
        }
        // Its four ratings (three keys, and me) weigh its standing between them.
        assert!((graph.weight(&insider) - 0.25).abs() < 1e-9, "{}", graph.weight(&insider));
        assert_eq!(graph.weight(&me), 1.0, "my own ratings weigh fully, however many");
    }

    #[test]
    fn the_keys_one_counterparty_vouched_for_count_once_in_the_web_of_trust() {
        let (edges, me, insider, _, seller) = an_insider_with_three_keys();
        let graph = TrustGraph::build(&edges, &[me], &[insider, seller], 2);
        let r = graph.reputation(&seller);
        assert_eq!(r.raw.negative, 3.0);
        // Three keys reached only through the insider are one voice; mine is another.
        assert!((r.web_of_trust.negative - 1.0).abs() < 1e-9, "{:?}", r.web_of_trust);
        assert_eq!(
            r.web_of_trust.positive, 1.0,
            "my own rating (the friend is 2 steps away through the seller)"
        );
        // One voice for, one against: my own positive rating decides, for the ✓ and the web.
        assert!(r.trusted && r.in_web_of_trust(), "{r:?}");
        assert!(r.weighted.negative > 0.0);
        // One more counterparty of mine who vouches for the friend brings the friend's rating in.
        let mut edges = edges;
        let other = ident(4);
        trade(&mut edges, me, other, Rating::Positive);
        trade(&mut edges, other, ident(3), Rating::Positive);
        let graph = TrustGraph::build(&edges, &[me], &[insider, seller, other], 2);
        let r = graph.reputation(&seller);
        assert_eq!(r.web_of_trust.positive, 2.0, "{:?}", r.web_of_trust);
        assert!(r.in_web_of_trust());
    }

    #[test]
    fn my_own_rating_decides_whatever_others_say() {
        let (edges, me, insider, keys, seller) = an_insider_with_three_keys();
        // Without my rating of the seller, its voices for and against tie: not vouched for.
        let without: Vec<Edge> =
            edges.iter().filter(|e| !(e.author == me && e.subject == seller)).copied().collect();
        let graph = TrustGraph::build(&without, &[me], &[insider], 2);
        let r = graph.reputation(&seller);
        assert!(!r.trusted && r.owner_rating.is_none(), "{r:?}");
        // My negative rating of a key the insider vouched for outweighs the insider's positive.
        let mut edges = edges;
        trade(&mut edges, me, keys[0], Rating::Negative);
        let graph = TrustGraph::build(&edges, &[me], &[insider, seller, keys[0]], 2);
        let k = graph.reputation(&keys[0]);
        assert!(!k.trusted && !k.in_web_of_trust(), "{k:?}");
    }

    #[test]
    fn a_rater_reached_also_through_someone_else_counts_whatever_the_keys_sort_order() {
        // The rater is vouched for by the seller and by another counterparty of mine; which
        // of the two sorts first must not matter.
        for (seller_n, other_n) in [(1, 2), (2, 1)] {
            let (me, seller, other, rater) = (ident(0), ident(seller_n), ident(other_n), ident(7));
            let mut edges = Vec::new();
            trade(&mut edges, me, seller, Rating::Positive);
            trade(&mut edges, me, other, Rating::Positive);
            trade(&mut edges, seller, rater, Rating::Positive);
            trade(&mut edges, other, rater, Rating::Positive);
            for counterparties in [[seller, other], [other, seller]] {
                let graph = TrustGraph::build(&edges, &[me], &counterparties, 2);
                // Me and the rater (the other counterparty's rating is of the rater, not the seller).
                assert_eq!(graph.reputation(&seller).web_of_trust.positive, 2.0);
            }
            // Reached through the seller alone, the rater does not count for it.
            let graph = TrustGraph::build(&edges[..6], &[me], &[seller, other], 2);
            assert_eq!(graph.reputation(&seller).web_of_trust.positive, 1.0);
        }
    }

    #[test]
    fn my_own_key_is_never_marked_trusted_on_my_node() {
        let (me, a, b) = (ident(0), ident(1), ident(2));
        let mut edges = Vec::new();
        trade(&mut edges, me, a, Rating::Positive);
        trade(&mut edges, me, b, Rating::Positive);
        let graph = TrustGraph::build(&edges, &[me], &[a, b], 2);
        let mine = graph.reputation(&me);
        assert!(mine.weighted.positive > 0.0);
        assert!(!mine.trusted, "{:?}", mine.weighted);
        assert!(graph.reputation(&a).trusted);
    }
}
