//! Keys: the ed25519 secret a person's node signs with, and the public key that names them.
//!
//! The same secret also builds the node's libp2p identity, so the author of a listing is a dialable
//! peer and its PeerId string (`12D3KooW…`) is the id people see.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// An ed25519 secret key. Never printed; zeroed when dropped (ed25519-dalek's `zeroize` feature).
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source is available");
        let key = Self::from_seed(&seed);
        seed.zeroize();
        key
    }

    /// The key whose 32-byte seed is `seed` (deterministic: tests and key files use this).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed. Handle with care: it is the whole identity.
    pub fn to_seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key that names this key's owner.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` (the caller adds the domain tag).
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The X25519 secret scalar of this key (for opening sealed mail), zeroed when dropped.
    pub(crate) fn x25519_scalar(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_scalar_bytes())
    }

    /// The libp2p identity built from the same secret, for the node's swarm.
    pub fn to_libp2p_keypair(&self) -> libp2p_identity::Keypair {
        let mut seed = zeroize::Zeroizing::new(self.to_seed());
        // `ed25519_from_bytes` zeroes the buffer it is given (and `Zeroizing` again on drop).
        libp2p_identity::Keypair::ed25519_from_bytes(&mut *seed)
            .expect("any 32 bytes are a valid ed25519 secret")
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<redacted>, public {})", self.public().fmt_short())
    }
}

/// An ed25519 public key: the author of objects and a party to negotiations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublicKey(pub(crate) [u8; 32]);

impl PublicKey {
    /// The key with these 32 bytes, unchecked: bytes that are not a curve point never verify.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PublicKey(bytes)
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Verifies an ed25519 signature with `verify_strict` (rejects small-order keys and
    /// non-canonical signatures, so one message has one valid signature encoding per key).
    pub(crate) fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &signature).is_ok()
    }

    /// The libp2p PeerId (`12D3KooW…` as a string), the id people see and dial.
    ///
    /// Built from the key's bytes as libp2p builds it (an identity multihash of the key's
    /// protobuf encoding), without decompressing the curve point: libp2p's own conversion does,
    /// which cost a search through the API about a tenth of its time (every hit shows its
    /// seller). 32 bytes that are not a point on the curve get a PeerId too, which no node can
    /// hold; such keys never verify, so no stored object carries one.
    pub fn peer_id(&self) -> libp2p_identity::PeerId {
        libp2p_identity::PeerId::from_bytes(&self.peer_id_bytes())
            .expect("an identity multihash of 36 bytes is a PeerId")
    }

    /// The bytes of [`Self::peer_id`].
    fn peer_id_bytes(&self) -> [u8; 2 + 4 + 32] {
        let mut bytes = [0u8; 2 + 4 + 32];
        bytes[..2].copy_from_slice(&IDENTITY_MULTIHASH);
        bytes[2..6].copy_from_slice(&ED25519_PROTOBUF);
        bytes[6..].copy_from_slice(&self.0);
        bytes
    }

    /// The public key inside a PeerId, if it is an ed25519 identity PeerId as libp2p makes them
    /// (the inverse of [`Self::peer_id`]).
    ///
    /// Read from the bytes, without decompressing the curve point as libp2p's own decoding
    /// does: a client reading a page of search results parses every hit's seller, and the
    /// decompression took a third of its time. A PeerId holding 32 bytes that are not a point
    /// gives a key that never verifies, which nothing it names can be signed by; text a person
    /// typed is checked by [`FromStr`].
    pub fn from_peer_id(peer: &libp2p_identity::PeerId) -> Option<Self> {
        let digest = peer.as_ref();
        if digest.code() != 0 {
            return None;
        }
        let key = digest.digest().strip_prefix(&ED25519_PROTOBUF)?;
        Some(PublicKey(key.try_into().ok()?))
    }

    /// The first 10 characters of the lowercase hex form, for logs.
    pub fn fmt_short(&self) -> String {
        hex_lower(&self.0[..5])
    }

    /// The whole key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }
}

/// Inline ed25519 PeerIds are an identity multihash of the protobuf-encoded key: code 0x00, a
/// length byte, then the key bytes.
/// An identity multihash (code 0x00) of 36 bytes: how a PeerId holds a key this short.
const IDENTITY_MULTIHASH: [u8; 2] = [0x00, 0x24];
/// libp2p's protobuf encoding of an ed25519 public key, before the key's 32 bytes: field 1
/// (key type) = 1 (Ed25519), field 2 (data) of 32 bytes.
const ED25519_PROTOBUF: [u8; 4] = [0x08, 0x01, 0x12, 0x20];

impl fmt::Display for PublicKey {
    /// The PeerId form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::base58::encode(&self.peer_id_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fmt_short())
    }
}

/// How every ed25519 key's PeerId starts, in text.
const PEER_ID_PREFIX: &str = "12D3KooW";
/// How long an ed25519 key's PeerId is, in text.
const PEER_ID_LEN: usize = 52;

/// Why a string is not a public key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseKeyError {
    /// The text is neither a PeerId nor 64 hex characters.
    #[error("`{0}` is neither a PeerId (12D3KooW…) nor 64 hex characters")]
    Unrecognised(String),
    /// The text is a listing's key (96 hex characters), which `--json` output prints beside
    /// the author's: a trial gave one where a person's key was asked for.
    #[error(
        "`{0}` is a listing's key (its author's key, then a nonce), not a person's: the author's key is its first 64 characters (the same key as the listing's author, shown as a PeerId)"
    )]
    ListingKey(String),
    /// The text starts as a person's PeerId does but is shorter than one (a trial's key cut
    /// short was called "a PeerId, but not of an ed25519 key").
    #[error(
        "`{0}` is a key cut short: a person's key is {PEER_ID_LEN} characters, 12D3KooW and {more} more; copy it whole (haggle show ID prints the author's, haggle peers those of the peers)",
        more = PEER_ID_LEN - PEER_ID_PREFIX.len()
    )]
    CutShort(String),
    /// The text is a PeerId, but not one holding an ed25519 key.
    #[error("`{0}` is a PeerId, but not of an ed25519 key")]
    NotEd25519(String),
    /// The text has the form of a key, but its 32 bytes are not a point on the curve: no one
    /// holds such a key (often a mistyped character).
    #[error(
        "`{0}` is not a valid public key (its bytes are not an ed25519 point); check it was copied whole"
    )]
    NotAPoint(String),
}

impl FromStr for PublicKey {
    type Err = ParseKeyError;

    /// Accepts the PeerId form or 64 hex characters, of a key someone can hold: the bytes must
    /// be a point on the curve.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = PublicKey::parse_unchecked(s)?;
        match key.is_point() {
            true => Ok(key),
            false => Err(ParseKeyError::NotAPoint(s.to_owned())),
        }
    }
}

impl PublicKey {
    /// Whether the bytes are a point on the curve: a key someone can hold (one that is not
    /// verifies nothing). A point decompression, so not for every key read back from the store.
    pub fn is_point(&self) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok()
    }
}

impl PublicKey {
    /// Reads a key as [`FromStr`] does, without checking that its bytes are a point on the
    /// curve: for text a node wrote from keys it holds (the answers of its API), where the
    /// check, a curve-point decompression, was a third of a client's time reading a page of
    /// search results. Never for text a person typed: a mistyped key would pass.
    pub fn parse_unchecked(s: &str) -> Result<Self, ParseKeyError> {
        if let Some(bytes) = parse_hex_32(s) {
            return Ok(PublicKey(bytes));
        }
        if s.len() == 96 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseKeyError::ListingKey(s.to_owned()));
        }
        if s.starts_with(PEER_ID_PREFIX) && s.len() < PEER_ID_LEN {
            return Err(ParseKeyError::CutShort(s.to_owned()));
        }
        let peer: libp2p_identity::PeerId =
            s.parse().map_err(|_| ParseKeyError::Unrecognised(s.to_owned()))?;
        PublicKey::from_peer_id(&peer).ok_or_else(|| ParseKeyError::NotEd25519(s.to_owned()))
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

pub(crate) fn parse_hex_32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let bytes = data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_round_trips_through_the_public_key() {
        let key = SecretKey::from_seed(&[7; 32]);
        let public = key.public();
        let peer = public.peer_id();
        assert_eq!(peer, key.to_libp2p_keypair().public().to_peer_id());
        assert!(peer.to_string().starts_with("12D3KooW"));
        assert_eq!(PublicKey::from_peer_id(&peer), Some(public));
        assert_eq!(peer.to_string().parse::<PublicKey>().expect("parses"), public);
        assert_eq!(public.to_hex().parse::<PublicKey>().expect("parses"), public);
    }

    /// Found in a trial: a key cut short was called a PeerId of another kind of key, or
    /// neither a PeerId nor hex, though it starts as every person's key does.
    #[test]
    fn a_key_cut_short_is_said_to_be_cut_short() {
        let whole = SecretKey::from_seed(&[7; 32]).public().to_string();
        assert_eq!(whole.len(), PEER_ID_LEN);
        for cut in [12, 30, PEER_ID_LEN - 1] {
            let said = whole[..cut].parse::<PublicKey>().expect_err("cut short").to_string();
            assert!(
                said.contains("is a key cut short: a person's key is 52 characters, 12D3KooW and 44 more"),
                "{said}"
            );
        }
        assert!(matches!("12D3Koo".parse::<PublicKey>(), Err(ParseKeyError::Unrecognised(_))));
    }

    /// The PeerId built from the bytes is libp2p's own, for many keys.
    #[test]
    fn peer_id_is_the_one_libp2p_makes() {
        for seed in 0..200u8 {
            let key = SecretKey::from_seed(&[seed; 32]);
            let theirs = key.to_libp2p_keypair().public().to_peer_id();
            assert_eq!(key.public().peer_id(), theirs);
            assert_eq!(key.public().to_string(), theirs.to_string());
        }
    }

    #[test]
    fn secret_key_debug_does_not_leak() {
        let key = SecretKey::from_seed(&[0xAB; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("abab"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn signatures_verify_only_for_their_message() {
        let key = SecretKey::from_seed(&[1; 32]);
        let sig = key.sign(b"hello");
        assert!(key.public().verify_strict(b"hello", &sig));
        assert!(!key.public().verify_strict(b"hellp", &sig));
        assert!(!SecretKey::from_seed(&[2; 32]).public().verify_strict(b"hello", &sig));
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!("nope".parse::<PublicKey>().is_err());
        assert!("zz".repeat(32).parse::<PublicKey>().is_err());
    }

    /// A listing's key, as `--json` prints it, given for a person's: said to be one, with where
    /// the author's key is.
    #[test]
    fn a_listing_key_is_said_to_be_one() {
        let author = SecretKey::from_seed(&[3; 32]).public().to_hex();
        let listing_key = format!("{author}{}", "ab".repeat(16));
        let e = listing_key.parse::<PublicKey>().expect_err("a listing's key");
        assert!(matches!(e, ParseKeyError::ListingKey(_)), "{e:?}");
        assert!(e.to_string().contains("the author's key is its first 64 characters"), "{e}");
        assert_eq!(listing_key[..64].parse::<PublicKey>().expect("the author's").to_hex(), author);
    }

    /// 32 bytes that are not a point on the curve (y = 2) are no one's key: typed, as a PeerId or
    /// in hex, they are refused; read from a node's own answers, they are taken as written.
    #[test]
    fn a_key_off_the_curve_is_refused_when_typed() {
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let off = PublicKey(bytes);
        assert!(VerifyingKey::from_bytes(&bytes).is_err(), "y = 2 is not on the curve");
        for text in [off.to_string(), off.to_hex()] {
            assert!(matches!(text.parse::<PublicKey>(), Err(ParseKeyError::NotAPoint(_))), "{text}");
            assert_eq!(PublicKey::parse_unchecked(&text).expect("its form is a key's"), off);
        }
        let real = SecretKey::from_seed(&[3; 32]).public();
        assert_eq!(PublicKey::parse_unchecked(&real.to_string()).expect("parses"), real);
    }

    /// Reading a key back from its PeerId matches libp2p's own decoding, and PeerIds of other
    /// key types or hashed keys are not ed25519 keys.
    #[test]
    fn the_key_in_a_peer_id_is_the_one_libp2p_reads() {
        for seed in 0..200u8 {
            let pair = SecretKey::from_seed(&[seed; 32]).to_libp2p_keypair();
            let peer = pair.public().to_peer_id();
            let theirs = pair.public().try_into_ed25519().expect("ed25519").to_bytes();
            assert_eq!(PublicKey::from_peer_id(&peer), Some(PublicKey(theirs)));
            let text = peer.to_string();
            assert_eq!(text.parse::<PublicKey>().expect("parses").peer_id().to_string(), text);
        }
        // A sha256 multihash (code 0x12) is how libp2p names keys too long to inline.
        let mut hashed = vec![0x12, 0x24];
        hashed.extend_from_slice(&ED25519_PROTOBUF);
        hashed.extend_from_slice(&[7; 32]);
        let peer = libp2p_identity::PeerId::from_bytes(&hashed).expect("a PeerId");
        assert_eq!(PublicKey::from_peer_id(&peer), None);
        assert!(matches!(peer.to_string().parse::<PublicKey>(), Err(ParseKeyError::NotEd25519(_))));
        // An identity PeerId of a secp256k1 key (type 2, 33 bytes).
        let mut secp = vec![0x00, 0x25, 0x08, 0x02, 0x12, 0x21];
        secp.extend_from_slice(&[2; 33]);
        let peer = libp2p_identity::PeerId::from_bytes(&secp).expect("a PeerId");
        assert_eq!(PublicKey::from_peer_id(&peer), None);
    }
}
