//! Files: pictures, previews and digital goods, and their transfers.

use serde::{Deserialize, Serialize};

use haggle_protocol::{BlobHash, DigitalFile, PublicKey};

use super::serde_text::opt_text;

/// `POST /v1/images`'s query: keep the picture's metadata (EXIF, with its GPS position) as it
/// is, instead of stripping it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageQuery {
    /// Keep location and camera metadata (off by default).
    pub keep_metadata: bool,
}

/// `POST /v1/files`'s query: the digital good's file name, as buyers will save it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    /// The file name (no path).
    pub name: String,
}

/// `POST /v1/blobs/fetch`: fetch a file by hash and size (from a listing), asking `from` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    /// The file's BLAKE3 hash.
    pub hash: BlobHash,
    /// Its size, as the listing says.
    pub size: u64,
    /// A peer likely to hold it (the listing's author); every connected peer is asked too.
    #[serde(default, with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub from: Option<PublicKey>,
}

/// Where a file stands on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStatus {
    /// The file's hash.
    pub hash: BlobHash,
    /// Its size, when known here.
    pub size: Option<u64>,
    /// Verified bytes held.
    pub have: u64,
    /// Every byte is here.
    pub complete: bool,
    /// A fetch is under way.
    pub fetching: bool,
    /// Why the last fetch gave up, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A digital good bought (or sold) in a deal: the file, whether its encrypted form is here,
/// and whether the key is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadView {
    /// The file as the listing describes it.
    pub file: DigitalFile,
    /// The encrypted form's transfer.
    pub status: FileStatus,
    /// Whether the key is here (the seller's node hands it over once the deal is paid).
    pub key: bool,
}
