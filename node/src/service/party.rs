//! This node's side of `/haggle/party/1` ([`crate::party`]): what it holds of its threads and
//! deals with one other key, which of those the other lacks, and taking back what the other
//! sent.

use std::collections::HashSet;

use haggle_protocol::{Object, ObjectId, PublicKey, Timestamp};
use haggle_storage::{Durability, Outcome};

use super::inbound::Refusal;
use super::{Service, ServiceError};
use crate::party::MAX_HELD;

/// What a party's answer brought.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PartyTaken {
    /// Objects new to this node, stored.
    pub new: usize,
    /// Objects it held already.
    pub known: usize,
    /// Objects refused for now (what they follow is not here yet: a listing revision, say).
    pub later: usize,
    /// Objects refused as the sender's fault: not of the two parties' threads and deals, not
    /// decoding or verifying, or breaking the rules.
    pub invalid: usize,
}

impl Service {
    /// The objects of the owner's threads with `other` (bids and pledges left out: they are
    /// public, and the catch-up sync carries them) and of those threads' deals' steps: each
    /// thread's messages in order, then its deal's steps in order, oldest thread first. Up to
    /// [`MAX_HELD`] objects, of the most recent threads.
    fn between(&self, other: &PublicKey) -> Result<Vec<Object>, ServiceError> {
        let me = self.me();
        let mut picked = Vec::new();
        let mut count = 0;
        // Most recently active first.
        for thread in self.store.threads_of(other)? {
            let (a, b) = (thread.view.offerer, thread.view.listing_author);
            if !((a == me && b == *other) || (a == *other && b == me)) {
                continue;
            }
            let steps = match thread.view.deal_id() {
                Some(deal) => self.store.deal_steps(&deal)?,
                None => Vec::new(),
            };
            let objects: Vec<Object> =
                thread.messages.into_iter().filter(|m| !m.kind().is_public()).chain(steps).collect();
            if count + objects.len() > MAX_HELD {
                break;
            }
            count += objects.len();
            picked.push(objects);
        }
        picked.reverse();
        Ok(picked.into_iter().flatten().collect())
    }

    /// The ids of the objects of the owner's threads and deals with `other` (see
    /// [`Self::between`]), for a `/haggle/party/1` request to it.
    pub fn party_held(&self, other: &PublicKey) -> Result<Vec<[u8; 32]>, ServiceError> {
        Ok(self.between(other)?.iter().map(|o| *o.id().as_bytes()).collect())
    }

    /// The objects of the owner's threads and deals with `other` that `other` did not name in
    /// `held`, in order (see [`Self::between`]): the answer to its request.
    pub fn party_missing(&self, other: &PublicKey, held: &[[u8; 32]]) -> Result<Vec<Vec<u8>>, ServiceError> {
        let held: HashSet<&[u8; 32]> = held.iter().collect();
        Ok(self
            .between(other)?
            .into_iter()
            .filter(|o| !held.contains(o.id().as_bytes()))
            .map(|o| o.bytes().to_vec())
            .collect())
    }

    /// Takes in the objects `other`'s node sent back, in the order sent: each must be a
    /// negotiation message or deal step between the owner and `other` (signed by either:
    /// the owner's own, lost here, come back too), and is checked and stored as a direct
    /// message is, flushed once at the end. History is not news: no event is announced and no
    /// follow-up runs (a confirm of an accept that came back would be a second, different
    /// one). A node that starts again repairs what a deal left undone (ARCHITECTURE.md,
    /// "Durability").
    pub fn receive_from_party(&self, other: &PublicKey, objects: &[Vec<u8>]) -> PartyTaken {
        let me = self.me();
        let now = Timestamp::now();
        let mut taken = PartyTaken::default();
        for bytes in objects {
            let object = match Object::decode_unverified(bytes) {
                Ok(object) => object,
                Err(_) => {
                    taken.invalid += 1;
                    continue;
                }
            };
            let recipient = object.body().recipient();
            let between = !object.kind().is_public()
                && ((object.author() == *other && recipient == Some(me))
                    || (object.author() == me && recipient == Some(*other)));
            if !between || !object.has_work(self.policy.pow_bits) {
                taken.invalid += 1;
                continue;
            }
            let id: ObjectId = object.id();
            let verified = match object.verify(now) {
                Ok(verified) => verified,
                Err(e) => {
                    let refusal = Refusal::from(e);
                    if refusal.is_peer_fault() {
                        taken.invalid += 1;
                    } else {
                        taken.later += 1;
                    }
                    continue;
                }
            };
            if self.blocked_refusal(&verified).is_some() {
                taken.later += 1;
                continue;
            }
            match self.store.ingest_verified(&verified, Durability::Lazy) {
                Ok(Outcome::New { .. }) => taken.new += 1,
                Ok(Outcome::Duplicate { .. } | Outcome::Stale { .. }) => taken.known += 1,
                Ok(Outcome::Rejected(r)) => {
                    tracing::debug!(%id, reason = %r.reason, "refused an object a party sent back");
                    if r.reason.is_peer_fault() {
                        taken.invalid += 1;
                    } else {
                        taken.later += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot store an object a party sent back");
                    self.halt.check(&e);
                    taken.later += 1;
                }
            }
        }
        if taken.new > 0
            && let Err(e) = self.store.flush()
        {
            tracing::warn!(error = %e, "cannot flush what a party sent back");
            self.halt.check(&e);
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::TermsDraft;
    use crate::service::Via;
    use crate::service::testing::{draft, service};

    fn offer_of(price: &str) -> TermsDraft {
        TermsDraft { price: Some(price.into()), ..TermsDraft::default() }
    }

    /// A seller's node answers a buyer for their thread only (a third key's thread with the
    /// seller stays out), and what it names as held is left out. A buyer's node that lost its
    /// store takes its own offer back; an object of a thread it is not in is the sender's fault.
    #[test]
    fn only_the_two_parties_threads_go_between_them_and_a_lost_offer_comes_back() {
        let (seller, _sd) = service(1);
        let (buyer, _bd) = service(2);
        let (third, _td) = service(3);
        let listing = seller.publish(draft("Road bike", "120")).expect("published");
        for node in [&buyer, &third] {
            node.receive(listing.object.bytes(), Via::Gossip);
        }
        let id = listing.object.id().to_hex();
        let offer = buyer.offer(&id, offer_of("100")).expect("offered").object;
        let other = third.offer(&id, offer_of("90")).expect("offered").object;
        seller.receive(offer.bytes(), Via::Direct);
        seller.receive(other.bytes(), Via::Direct);
        let (b, t) = (buyer.me(), third.me());
        // The seller names both threads to neither: each gets its own.
        assert_eq!(seller.party_missing(&b, &[]).expect("answer"), vec![offer.bytes().to_vec()]);
        assert_eq!(seller.party_missing(&t, &[]).expect("answer"), vec![other.bytes().to_vec()]);
        assert!(
            seller.party_missing(&b, &[*offer.id().as_bytes()]).expect("answer").is_empty(),
            "named held"
        );
        assert_eq!(buyer.party_held(&seller.me()).expect("held"), vec![*offer.id().as_bytes()]);

        // The buyer's node, its store lost, takes its own offer back from the seller's answer.
        let (restored, _rd) = service(2);
        restored.receive(listing.object.bytes(), Via::Gossip);
        assert!(restored.party_held(&seller.me()).expect("held").is_empty());
        let answer =
            seller.party_missing(&b, &restored.party_held(&seller.me()).expect("held")).expect("answer");
        let taken = restored.receive_from_party(&seller.me(), &answer);
        assert_eq!(taken, PartyTaken { new: 1, ..PartyTaken::default() });
        assert_eq!(restored.party_held(&seller.me()).expect("held"), vec![*offer.id().as_bytes()]);
        assert_eq!(
            restored.receive_from_party(&seller.me(), &answer),
            PartyTaken { known: 1, ..PartyTaken::default() }
        );
        // A third key's offer, or a public listing, sent as if between the two: refused, the
        // sender's fault; garbage too.
        let bad = [other.bytes().to_vec(), listing.object.bytes().to_vec(), vec![1, 2, 3]];
        assert_eq!(
            restored.receive_from_party(&seller.me(), &bad),
            PartyTaken { invalid: 3, ..PartyTaken::default() }
        );
    }
}
