//! haggle's protocol: the signed objects people trade with, their wire encoding, and the rules
//! that every node checks before it stores or forwards anything.
//!
//! No networking, no database and no async here: only keys, objects, validation and the thread
//! rules, so that storage, the node and other implementations agree on one definition.
//!
//! ```
//! use haggle_protocol::{Body, Envelope, Listing, ListingKind, ListingStatus, Location, Object,
//!     Price, Currency, SecretKey, Timestamp, new_nonce};
//! use std::time::Duration;
//!
//! let key = SecretKey::generate();
//! let now = Timestamp::now();
//! let listing = Listing {
//!     nonce: new_nonce(), revision: 1, kind: ListingKind::Sell, status: ListingStatus::Active,
//!     title: "Road bike, 56 cm".into(), description: "Steel frame, new tyres.".into(),
//!     category: "vehicles/bikes".into(), tags: vec!["steel".into()],
//!     price: Some(Price::new(12_000, Currency::new("EUR").unwrap())), quantity: 1,
//!     location: Location { text: "Ghent".into(), geohash: None }, payment: vec!["cash".into()],
//!     delivery: "pickup only".into(), expires_at: now.saturating_add(Duration::from_secs(86_400)),
//!     market: None, images: vec![], file: None,
//! };
//! let signed = Envelope::new(key.public(), Body::Listing(listing)).sign(&key, now).unwrap();
//! let received = Object::decode_verify(signed.bytes(), now).unwrap();
//! assert_eq!(received.id(), signed.id());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auction;
mod base58;
pub mod blob;
pub mod calendar;
pub mod crowdfund;
pub mod deal;
pub mod feedback;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod geo;
pub mod id;
pub mod identity;
pub mod keyfile;
pub mod lifecycle;
pub mod limits;
pub mod listing;
pub mod mailbox;
mod market;
pub use market::terms_fixed;
pub mod name;
pub mod negotiation;
pub mod note;
pub mod object;
pub mod payment;
pub mod price;
pub mod thread;
pub mod time;
pub mod work;

pub use auction::{AuctionTerms, AuctionView, BidEntry, BidError};
pub use blob::{BlobHash, BlobRef, DigitalFile, FileKey, Image, ImageType, ParseBlobHashError};
pub use calendar::{BookingError, Calendar, DateRange};
pub use crowdfund::{Backing, Campaign, CampaignView, PledgeError, Tier};
pub use deal::{Deal, DealError};
pub use feedback::{DealProof, Feedback, FeedbackError, Rating};
pub use id::{IdPrefix, MIN_PREFIX_LEN, ObjectId, ParseIdError, SHORT_LEN};
pub use identity::{ParseKeyError, PublicKey, SecretKey};
pub use keyfile::KeyFileError;
pub use lifecycle::{DealState, DealStep, NotAllowed, Role, SignedStep, Stage, Step, StepError};
pub use limits::ValidationError;
pub use listing::{
    Listing, ListingKey, ListingKind, ListingStatus, Location, Market, ParseListingKeyError, new_nonce,
};
pub use mailbox::{MAILBOX_LIFETIME, Mailbox, Receipt, SealError, seal};
pub use name::UnknownName;
pub use negotiation::{Accept, Confirm, Counter, Decline, Offer, Reply, Terms, Withdraw};
pub use note::{About, Conversation, Note};
pub use object::{
    Body, DOMAIN, DecodeError, Envelope, MAX_OBJECT_SIZE, Object, ObjectKind, PROTOCOL_VERSION, SignError,
    Verified,
};
pub use payment::{PaymentError, PaymentMethod};
pub use price::{AmountError, Currency, CurrencyError, Period, Price};
pub use thread::{ThreadError, ThreadState, ThreadView};
pub use time::Timestamp;
