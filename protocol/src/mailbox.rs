//! Offline delivery: a negotiation message sealed to its recipient travels as a public
//! **Mailbox** object that every node stores and syncs but only the recipient can open; the
//! recipient answers with a public **Receipt**, which tells the sender it arrived and lets every
//! node drop the mailbox.
//!
//! Sealing is libsodium's sealed box (`crypto_box_seal`: an ephemeral X25519 key, XSalsa20-Poly1305)
//! to the recipient's X25519 key, derived from their ed25519 key the standard way (the Montgomery
//! form of the public point; the clamped scalar of the secret), so no extra keys are needed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::identity::{PublicKey, SecretKey};

/// How long a mailbox object (and its receipt) lives: long enough for a holiday, short enough
/// that undeliverable mail does not pile up on everyone's disk.
pub const MAILBOX_LIFETIME: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// Largest sealed payload: a negotiation message (text capped at 2 KiB) with room to spare.
pub const MAX_SEALED_BYTES: usize = 8 * 1024;

/// A sealed negotiation message for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// The recipient: the only key that can open it.
    pub to: PublicKey,
    /// `crypto_box_seal` of the inner object's wire bytes.
    pub sealed: Vec<u8>,
    /// When the mailbox expires: at most [`MAILBOX_LIFETIME`] after it was made.
    pub expires_at: crate::time::Timestamp,
}

/// The recipient's word that a mailbox reached it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The mailbox object's id.
    pub mailbox: ObjectId,
    /// The mailbox's author.
    pub to: PublicKey,
    /// When the receipt expires: at most [`MAILBOX_LIFETIME`] after it was made.
    pub expires_at: crate::time::Timestamp,
}

/// Why a payload could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The recipient's key is not a valid ed25519 public key, so it has no X25519 form.
    #[error("the recipient's key is not a valid ed25519 public key")]
    BadRecipient,
    /// The payload, once sealed, would be over [`MAX_SEALED_BYTES`].
    #[error("the payload is {0} bytes, over the {MAX_SEALED_BYTES}-byte limit once sealed")]
    TooLarge(usize),
    /// The payload was not sealed to this key, or is damaged.
    #[error("the mailbox cannot be opened with this key (not addressed to it, or damaged)")]
    CannotOpen,
}

fn x25519_public(key: &PublicKey) -> Result<crypto_box::PublicKey, SealError> {
    let verifying =
        ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes()).map_err(|_| SealError::BadRecipient)?;
    Ok(crypto_box::PublicKey::from(verifying.to_montgomery().to_bytes()))
}

/// Seals `plaintext` so that only `recipient` can open it.
pub fn seal(recipient: &PublicKey, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let public = x25519_public(recipient)?;
    let sealed = public
        .seal(&mut crypto_box::aead::OsRng, plaintext)
        .map_err(|_| SealError::TooLarge(plaintext.len()))?;
    if sealed.len() > MAX_SEALED_BYTES {
        return Err(SealError::TooLarge(sealed.len()));
    }
    Ok(sealed)
}

impl SecretKey {
    /// Opens a payload sealed to this key.
    pub fn open_sealed(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        // crypto_box's key zeroes itself on drop; the scalar's buffer is zeroed by `Zeroizing`
        // (read by reference, so no other copy of it is left on the stack).
        let scalar = self.x25519_scalar();
        let secret = crypto_box::SecretKey::from_slice(&scalar[..]).map_err(|_| SealError::CannotOpen)?;
        secret.unseal(sealed).map_err(|_| SealError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_opens_a_sealed_payload() {
        let alice = SecretKey::from_seed(&[1; 32]);
        let bob = SecretKey::from_seed(&[2; 32]);
        let sealed = seal(&bob.public(), b"an offer").expect("sealed");
        assert!(!sealed.windows(8).any(|w| w == b"an offer"), "the payload is not in the clear");
        assert_eq!(bob.open_sealed(&sealed).expect("opens"), b"an offer");
        assert_eq!(alice.open_sealed(&sealed), Err(SealError::CannotOpen));
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(bob.open_sealed(&damaged), Err(SealError::CannotOpen));
        assert!(matches!(seal(&bob.public(), &vec![0; MAX_SEALED_BYTES]), Err(SealError::TooLarge(_))));
    }

    proptest::proptest! {
        /// Mail is network input twice over: the sealed bytes, and what they hold once opened.
        /// Neither ever panics the opener or the decoder (and random bytes never open).
        #[test]
        fn random_mail_never_panics_the_opener_or_the_decoder(
            sealed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2_048),
            inside in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2_048),
        ) {
            let bob = SecretKey::from_seed(&[2; 32]);
            proptest::prop_assert!(bob.open_sealed(&sealed).is_err());
            let opened = bob.open_sealed(&seal(&bob.public(), &inside).expect("sealed")).expect("opens");
            let _ = crate::Object::decode_verify(&opened, crate::Timestamp::now());
            let _ = crate::deal::Deal::decode_verify(&inside);
        }
    }
}
