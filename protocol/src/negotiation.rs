//! Negotiation messages: offers, counters, acceptances, declines and withdrawals between two
//! parties. Each reply names the thread (the offer's id) and the message it answers (`prev`), so a
//! thread is a hash-linked chain.

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::identity::PublicKey;
use crate::price::Price;
use crate::time::Timestamp;

/// What one side proposes: how many, at what price (for the whole quantity), until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// How many items the terms cover.
    pub quantity: u32,
    /// The price for the whole quantity, not per item.
    pub price: Price,
    /// After this the proposal can no longer be accepted or countered.
    pub expires_at: Timestamp,
    /// For a booking (a listing with a calendar): the nights asked; `None` otherwise.
    pub dates: Option<crate::calendar::DateRange>,
}

/// Opens a thread: made to the listing's author (a buyer to a seller, or a seller to the author of
/// a wanted ad).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Object id of the listing revision the offer was made on.
    pub listing: ObjectId,
    /// The listing's author.
    pub to: PublicKey,
    /// The terms proposed.
    pub terms: Terms,
    /// Free text to the listing's author, at most 2 KiB.
    pub message: String,
}

/// The part every reply shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Id of the offer that opened the thread.
    pub thread: ObjectId,
    /// Id of the message this one answers.
    pub prev: ObjectId,
    /// The other party.
    pub to: PublicKey,
}

/// New terms in answer to the other party's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// The thread, the terms answered (`prev`) and the other party.
    pub reply: Reply,
    /// The new terms proposed.
    pub terms: Terms,
    /// Free text to the other party, at most 2 KiB.
    pub message: String,
}

/// Accepts exactly the terms of `reply.prev`, which the other party proposed. It binds once the
/// proposer's node confirms it ([`Confirm`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accept {
    /// The thread, the terms accepted (`prev`) and the other party.
    pub reply: Reply,
}

/// Refuses the other party's terms and ends the thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decline {
    /// The thread, the terms declined (`prev`) and the other party.
    pub reply: Reply,
    /// Free text to the other party, at most 2 KiB.
    pub message: String,
}

/// Takes back one's own terms (`reply.prev`) and ends the thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdraw {
    /// The thread, the own terms taken back (`prev`) and the other party.
    pub reply: Reply,
    /// Free text to the other party, at most 2 KiB.
    pub message: String,
}

/// The proposer's countersignature on an Accept of its own terms (`reply.prev` is the Accept):
/// the proposal still stood when the Accept reached the proposer's node (not withdrawn, not
/// expired by that node's clock, within quantity). Listing, chain and Confirm make the Deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirm {
    /// The thread, the Accept confirmed (`prev`) and the party who accepted.
    pub reply: Reply,
}
