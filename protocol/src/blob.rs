//! Files a listing carries by content hash: pictures (each with a thumbnail) and the file a
//! digital-goods listing sells.
//!
//! A listing never holds file bytes. It names each file by its BLAKE3 hash and size; nodes fetch
//! the bytes from whichever peers hold them and check every 16 KiB group against the hash as it
//! arrives (BLAKE3 verified streaming), so a peer cannot make a node keep a byte that is not part
//! of the file the seller signed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::{hex_lower, parse_hex_32};
use crate::limits::ValidationError;

/// Most pictures on one listing.
pub const MAX_IMAGES: usize = 8;
/// Largest picture, in bytes (after its location data is stripped).
pub const MAX_IMAGE_BYTES: u64 = 2 * 1024 * 1024;
/// Largest thumbnail, in bytes: one verification group, so one request fetches it.
pub const MAX_THUMB_BYTES: u64 = 16 * 1024;
/// Largest picture side, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest file a digital-goods listing sells, in bytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;
/// Largest preview (a sample) of a digital good, in bytes.
pub const MAX_PREVIEW_BYTES: u64 = MAX_IMAGE_BYTES;
/// Longest file name of a digital good, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 128;
/// Length of a digital good's key sealed to its buyer: a 32-byte key in a sealed box (an
/// ephemeral X25519 key of 32 bytes and a 16-byte tag).
pub const SEALED_KEY_LEN: usize = 32 + 48;

/// A file's BLAKE3 hash: what names it on the network. On the wire, 32 bytes; in JSON, 64 hex
/// characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub [u8; 32]);

impl Serialize for BlobHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&self.to_hex()) } else { self.0.serialize(s) }
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(BlobHash)
        }
    }
}

impl BlobHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        BlobHash(*blake3::hash(bytes).as_bytes())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }

    /// The first [`crate::id::SHORT_LEN`] hex characters, for display.
    pub fn fmt_short(&self) -> String {
        hex_lower(&self.0[..crate::id::SHORT_LEN / 2])
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.fmt_short())
    }
}

/// A blob hash is not 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a file hash (64 hex characters)")]
pub struct ParseBlobHashError(pub String);

impl std::str::FromStr for BlobHash {
    type Err = ParseBlobHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex_32(s).map(BlobHash).ok_or_else(|| ParseBlobHashError(s.to_owned()))
    }
}

/// A file by hash and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    /// BLAKE3 of the bytes.
    pub hash: BlobHash,
    /// Length in bytes.
    pub size: u64,
}

/// A picture's format, known from its first bytes (never from a file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageType {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
    /// WebP (`RIFF....WEBP`).
    Webp,
    /// GIF (`GIF87a` or `GIF89a`).
    Gif,
}

impl ImageType {
    /// The format of `bytes`, from their signature; `None` for anything else.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageType::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageType::Png)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageType::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageType::Gif)
        } else {
            None
        }
    }

    /// The media type, as HTTP says it.
    pub fn mime(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Webp => "image/webp",
            ImageType::Gif => "image/gif",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageType::Jpeg => "jpg",
            ImageType::Png => "png",
            ImageType::Webp => "webp",
            ImageType::Gif => "gif",
        }
    }
}

/// A picture of the thing listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The picture itself, fetched when someone looks at it.
    pub blob: BlobRef,
    /// Its format.
    pub kind: ImageType,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// A small JPEG of it (at most [`MAX_THUMB_BYTES`]), which nodes fetch with the listing so a
    /// search result can show it at once.
    pub thumb: BlobRef,
}

/// The file a digital-goods listing sells. Only its encrypted form travels; the key goes to a
/// buyer sealed to the buyer's key, in a deal step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigitalFile {
    /// The file's name, as the buyer saves it; no path.
    pub name: String,
    /// BLAKE3 of the file as the buyer gets it (decrypted): what a buyer can prove they got.
    pub hash: BlobHash,
    /// Length in bytes (the encrypted form has the same length).
    pub size: u64,
    /// BLAKE3 of the encrypted form, which any node may hold and pass on.
    pub sealed: BlobHash,
    /// An optional sample anyone may fetch (a chapter, a track's first minute, a render).
    pub preview: Option<BlobRef>,
}

/// Checks a listing's pictures and digital file against the limits above.
pub(crate) fn check_files(images: &[Image], file: Option<&DigitalFile>) -> Result<(), ValidationError> {
    if images.len() > MAX_IMAGES {
        return Err(ValidationError::TooMany { field: "images", count: images.len(), max: MAX_IMAGES });
    }
    for image in images {
        size(image.blob.size, "image", MAX_IMAGE_BYTES)?;
        size(image.thumb.size, "thumbnail", MAX_THUMB_BYTES)?;
        if !(1..=MAX_IMAGE_SIDE).contains(&image.width) || !(1..=MAX_IMAGE_SIDE).contains(&image.height) {
            return Err(ValidationError::BadFile("an image's sides are 1 to 16384 pixels"));
        }
    }
    if let Some(file) = file {
        check_file_name(&file.name)?;
        size(file.size, "file", MAX_FILE_BYTES)?;
        if let Some(preview) = &file.preview {
            size(preview.size, "preview", MAX_PREVIEW_BYTES)?;
        }
    }
    Ok(())
}

/// A digital good's file name: one name (no path), not empty, at most
/// [`MAX_FILE_NAME_CHARS`] characters, without control characters. Checked where the file is
/// given too, before it is stored (from a trial: a name of `../x` was taken with the file and
/// refused only at publishing).
pub fn check_file_name(name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() {
        return Err(ValidationError::Empty { field: "file name" });
    }
    let chars = name.chars().count();
    if chars > MAX_FILE_NAME_CHARS {
        return Err(ValidationError::TooLong {
            field: "file name",
            len: chars,
            unit: "characters",
            max: MAX_FILE_NAME_CHARS,
        });
    }
    if name.chars().any(|c| c.is_control() || c == '/' || c == '\\') || name == "." || name == ".." {
        return Err(ValidationError::BadFile(
            "a file name is one name, without `/`, `\\` or control characters",
        ));
    }
    Ok(())
}

fn size(len: u64, field: &'static str, max: u64) -> Result<(), ValidationError> {
    if len == 0 {
        return Err(ValidationError::Empty { field });
    }
    if len > max {
        return Err(ValidationError::TooLong { field, len: len as usize, unit: "bytes", max: max as usize });
    }
    Ok(())
}

/// A digital good's key: ChaCha20 with a zero nonce (each key encrypts one file only).
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct FileKey([u8; 32]);

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey(..)")
    }
}

impl FileKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source is available");
        FileKey(key)
    }

    /// The key's bytes, for the seller's own store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        FileKey(bytes)
    }

    /// Encrypts or decrypts (the same operation) `buf`, which sits at byte `offset` of the file.
    pub fn apply(&self, offset: u64, buf: &mut [u8]) {
        use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
        let mut cipher = chacha20::ChaCha20::new(&self.0.into(), &[0u8; 12].into());
        cipher.seek(offset);
        cipher.apply_keystream(buf);
    }

    /// The key sealed to `buyer`: what a [`crate::Step::FileKey`] carries.
    pub fn seal_to(&self, buyer: &crate::PublicKey) -> Result<Vec<u8>, crate::SealError> {
        crate::mailbox::seal(buyer, &self.0)
    }

    /// Opens a key sealed to `me`.
    pub fn open(me: &crate::SecretKey, sealed: &[u8]) -> Result<Self, crate::SealError> {
        let bytes = zeroize::Zeroizing::new(me.open_sealed(sealed)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| crate::SealError::CannotOpen)?;
        Ok(FileKey(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats_by_their_bytes() {
        assert_eq!(ImageType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some(ImageType::Jpeg));
        assert_eq!(ImageType::sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageType::Png));
        assert_eq!(ImageType::sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(ImageType::Webp));
        assert_eq!(ImageType::sniff(b"GIF89a.."), Some(ImageType::Gif));
        assert_eq!(ImageType::sniff(b"<svg xmlns="), None);
        assert_eq!(ImageType::sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(ImageType::sniff(&[]), None);
    }

    #[test]
    fn hashes_round_trip_as_hex() {
        let hash = BlobHash::of(b"picture");
        assert_eq!(hash.to_hex().parse::<BlobHash>(), Ok(hash));
        assert!("xyz".parse::<BlobHash>().is_err());
    }

    fn image(size: u64, thumb: u64) -> Image {
        Image {
            blob: BlobRef { hash: BlobHash([1; 32]), size },
            kind: ImageType::Jpeg,
            width: 800,
            height: 600,
            thumb: BlobRef { hash: BlobHash([2; 32]), size: thumb },
        }
    }

    #[test]
    fn file_keys_encrypt_by_offset_and_open_only_for_the_buyer() {
        let key = FileKey::generate();
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut whole = plain.clone();
        key.apply(0, &mut whole);
        assert_ne!(whole, plain);
        // Pieces at their offsets give the same bytes as the whole.
        let mut pieces = plain.clone();
        for (i, piece) in pieces.chunks_mut(16_384).enumerate() {
            key.apply(i as u64 * 16_384, piece);
        }
        assert_eq!(pieces, whole);
        key.apply(0, &mut whole);
        assert_eq!(whole, plain);

        let buyer = crate::SecretKey::generate();
        let sealed = key.seal_to(&buyer.public()).expect("seal");
        assert_eq!(sealed.len(), SEALED_KEY_LEN);
        assert_eq!(FileKey::open(&buyer, &sealed).expect("open"), key);
        assert!(FileKey::open(&crate::SecretKey::generate(), &sealed).is_err());
    }

    #[test]
    fn limits_hold() {
        assert!(check_files(&[image(1000, 500)], None).is_ok());
        assert!(check_files(&vec![image(1000, 500); MAX_IMAGES + 1], None).is_err());
        assert!(check_files(&[image(MAX_IMAGE_BYTES + 1, 500)], None).is_err());
        assert!(check_files(&[image(1000, MAX_THUMB_BYTES + 1)], None).is_err());
        assert!(check_files(&[image(0, 500)], None).is_err());
        let file = |name: &str| DigitalFile {
            name: name.into(),
            hash: BlobHash([3; 32]),
            size: 10,
            sealed: BlobHash([4; 32]),
            preview: None,
        };
        assert!(check_files(&[], Some(&file("book.epub"))).is_ok());
        for bad in ["", "../x", "a/b", "..", "a\nb"] {
            assert!(check_files(&[], Some(&file(bad))).is_err(), "{bad:?}");
        }
    }
}
