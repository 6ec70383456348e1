//! The file endpoints: storing the owner's pictures and digital goods, serving files by hash
//! (with byte ranges), starting fetches, and a buyer's download of a digital good.

use std::io::{Read, Seek, SeekFrom};

use axum::Json;
use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use haggle_protocol::{BlobHash, BlobRef, DigitalFile, FileKey, Image, ImageType};

use super::error::ApiError;
use super::handlers::{AppState, Body, NoFields, Params, blocking};
use super::types::{DownloadView, ErrorCode, FetchRequest, FileQuery, FileStatus, ImageQuery};
use crate::files::FetchState;

type Answer<T> = Result<Json<T>, ApiError>;

/// Bytes read from a file per piece of a streamed answer.
const PIECE: usize = 256 * 1024;

fn hash_of(text: &str) -> Result<BlobHash, ApiError> {
    text.parse()
        .map_err(|e: haggle_protocol::ParseBlobHashError| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

/// `POST /v1/images?keep_metadata=false`: a picture's bytes in, the `Image` to put in a draft
/// out (stored and pinned, with its thumbnail).
pub(crate) async fn store_image(
    State(state): State<AppState>,
    Params(query): Params<ImageQuery>,
    bytes: Bytes,
) -> Answer<Image> {
    let image = blocking(&state, move |s| s.store_image(bytes.to_vec(), query.keep_metadata)).await?;
    Ok(Json(image))
}

/// `POST /v1/blobs`: a file stored as it is (a digital good's preview), pinned.
pub(crate) async fn store_blob(State(state): State<AppState>, bytes: Bytes) -> Answer<BlobRef> {
    Ok(Json(blocking(&state, move |s| s.store_blob(&bytes)).await?))
}

/// `POST /v1/files?name=book.epub`: a digital good's file, streamed in and stored encrypted;
/// answers the `DigitalFile` to put in a `digital` draft.
pub(crate) async fn store_file(
    State(state): State<AppState>,
    Params(query): Params<FileQuery>,
    body: HttpBody,
) -> Answer<DigitalFile> {
    // The name first: a name publishing would refuse is refused before the upload is read.
    haggle_protocol::blob::check_file_name(&query.name)
        .map_err(|e| ApiError::new(ErrorCode::Invalid, format!("name: {e}")))?;
    let scratch = Scratch(state.service.blobs().scratch_path());
    let result = async {
        let mut out = tokio::fs::File::create(&scratch.0).await.map_err(ApiError::internal)?;
        let mut stream = body.into_data_stream();
        let mut size = 0u64;
        while let Some(piece) = stream.next().await {
            let piece =
                piece.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("upload cut short: {e}")))?;
            size += piece.len() as u64;
            if size > haggle_protocol::blob::MAX_FILE_BYTES {
                return Err(ApiError::new(
                    ErrorCode::Invalid,
                    "the file is over the 1 GiB limit of a digital good",
                ));
            }
            out.write_all(&piece).await.map_err(ApiError::internal)?;
        }
        out.flush().await.map_err(ApiError::internal)?;
        let path = scratch.0.clone();
        blocking(&state, move |s| {
            let file =
                std::fs::File::open(&path).map_err(|e| crate::service::ServiceError::Files(e.to_string()))?;
            s.store_digital(&query.name, std::io::BufReader::with_capacity(PIECE, file))
        })
        .await
    }
    .await;
    drop(scratch);
    Ok(Json(result?))
}

/// An upload's scratch file, removed however the handler ends (a client gone mid-upload drops
/// the handler's future).
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn status(state: &AppState, hash: BlobHash) -> FileStatus {
    let files = state.handle.files();
    let progress = files.blobs().progress(&hash);
    let fetch = files.state(&hash);
    FileStatus {
        hash,
        size: progress.map(|p| p.size),
        have: progress.map_or(0, |p| p.have),
        complete: progress.is_some_and(|p| p.complete),
        fetching: fetch == Some(FetchState::Running),
        error: match fetch {
            Some(FetchState::Failed(why)) if !progress.is_some_and(|p| p.complete) => Some(why),
            _ => None,
        },
    }
}

/// `GET /v1/blobs/{hash}/status`.
pub(crate) async fn blob_status(
    State(state): State<AppState>,
    UrlPath(hash): UrlPath<String>,
) -> Answer<FileStatus> {
    Ok(Json(status(&state, hash_of(&hash)?)))
}

/// `POST /v1/blobs/fetch`: starts fetching a file (unless it is here or on its way).
pub(crate) async fn fetch_blob(
    State(state): State<AppState>,
    Body(request): Body<FetchRequest>,
) -> Answer<FileStatus> {
    if request.size == 0 || request.size > haggle_protocol::blob::MAX_FILE_BYTES {
        return Err(ApiError::new(ErrorCode::Invalid, "a file's size is 1 byte to 1 GiB"));
    }
    let prefer = request.from.map(|k| k.peer_id()).into_iter().collect();
    drop(state.handle.fetch(BlobRef { hash: request.hash, size: request.size }, prefer));
    Ok(Json(status(&state, request.hash)))
}

/// `GET /v1/blobs/{hash}`: a file held here, whole or a byte range (`Range: bytes=a-b`), typed
/// by its content.
pub(crate) async fn get_blob(
    State(state): State<AppState>,
    UrlPath(hash): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hash = hash_of(&hash)?;
    let blobs = state.handle.files().blobs().clone();
    let opened = tokio::task::spawn_blocking(move || {
        let (mut file, size) = blobs.open_blob(&hash).ok()?;
        let mut head = [0u8; 12];
        let n = file.read(&mut head).ok()?;
        Some((file, size, ImageType::sniff(&head[..n]).map_or("application/octet-stream", ImageType::mime)))
    })
    .await
    .map_err(ApiError::internal)?;
    let Some((file, size, kind)) = opened else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("file {} is not held here: fetch it first (POST /v1/blobs/fetch)", hash.fmt_short()),
        ));
    };
    serve(file, size, None, kind, None, &headers)
}

/// Removes this node's copy of the blob `sealed` if it no longer hashes to its name (damaged on
/// this disk, or removed by hand), so the next fetch gets it again; whether it did.
async fn discard_if_damaged(state: &AppState, sealed: BlobHash) -> Result<bool, ApiError> {
    let files = state.handle.files().clone();
    tokio::task::spawn_blocking(move || files.discard_if_damaged(&sealed))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// `POST /v1/deals/{id}/download`: starts fetching a bought digital good's encrypted file (from
/// the seller first).
pub(crate) async fn start_download(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(NoFields {}): Body<NoFields>,
) -> Answer<DownloadView> {
    let given = id.clone();
    let ((file, seller), key) = blocking(&state, move |s| {
        let found = s.deal_file(&given)?;
        let key = s.download(&given).is_ok();
        Ok((found, key))
    })
    .await?;
    // A copy damaged or removed on this disk is fetched again, not served as the seller's.
    discard_if_damaged(&state, file.sealed).await?;
    drop(state.handle.fetch(BlobRef { hash: file.sealed, size: file.size }, vec![seller]));
    let status = status(&state, file.sealed);
    Ok(Json(DownloadView { file, status, key }))
}

/// `GET /v1/deals/{id}/file`: the bought file, decrypted, once its encrypted form is here and the
/// key has come. It is checked against the listing's hash before a byte is sent.
pub(crate) async fn download(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let given = id.clone();
    let got = blocking(&state, move |s| s.download(&given)).await?;
    let files = state.handle.files().clone();
    let (sealed, expected, key) = (got.file.sealed, got.file.hash, got.key.clone());
    // Decrypted and hashed once: later requests (ranges, a second download) trust the check.
    let checked = tokio::task::spawn_blocking(move || -> Option<std::io::Result<BlobHash>> {
        if files.is_verified(&sealed, &expected) {
            return Some(Ok(expected));
        }
        let (file, _) = files.blobs().open_blob(&sealed).ok()?;
        let checked = plain_hash(file, &key);
        if checked.as_ref().is_ok_and(|h| *h == expected) {
            files.set_verified(sealed, expected);
        }
        Some(checked)
    })
    .await
    .map_err(ApiError::internal)?;
    let Some(checked) = checked else {
        return Err(ApiError::new(
            ErrorCode::NotYourTurn,
            "the file is not here yet: start its download (POST /v1/deals/{id}/download) and wait for it",
        ));
    };
    let checked = checked.map_err(ApiError::internal)?;
    if checked != expected {
        // The encrypted copy here may be what is wrong (damaged on this disk): then it goes, to
        // be fetched again, and the seller is not blamed.
        if discard_if_damaged(&state, sealed).await? {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "this node's copy of the file was damaged on its disk and has been removed: run the download again to fetch it again (deal {id})"
                ),
            ));
        }
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "the file decrypts to {} but the listing promised {}: the seller's file or key is wrong",
                checked.fmt_short(),
                expected.fmt_short()
            ),
        ));
    }
    let files = state.handle.files().clone();
    let (file, size) = tokio::task::spawn_blocking(move || match files.blobs().open_blob(&sealed) {
        Ok(opened) => Ok(Some(opened)),
        // Removed from the data dir by hand: forgotten, so the next download fetches it again.
        Err(haggle_storage::blobs::BlobError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            files.discard_if_damaged(&sealed).map(|_| None)
        }
        Err(e) => Err(e),
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("this node's copy of the file is gone from its data dir: run the download again to fetch it again (deal {id})"),
        )
    })?;
    serve(file, size, Some(got.key), "application/octet-stream", Some(&got.file.name), &headers)
}

/// BLAKE3 of a sealed file decrypted with `key`, reading a piece at a time.
fn plain_hash(mut file: std::fs::File, key: &FileKey) -> std::io::Result<BlobHash> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; PIECE];
    let mut offset = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(BlobHash(*hasher.finalize().as_bytes()));
        }
        key.apply(offset, &mut buf[..n]);
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
}

/// A single byte range of a `size`-byte file: `(start, end_inclusive)`; `None` for a header we
/// do not take (the whole file is sent); `Err` if it cannot be satisfied.
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let Some(spec) = spec.strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (a, b) => (a.parse().map_err(|_| ())?, b.parse::<u64>().map_err(|_| ())?.min(size.saturating_sub(1))),
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Streams `file` (decrypting with `key` if given), whole or the range asked for.
fn serve(
    mut file: std::fs::File,
    size: u64,
    key: Option<FileKey>,
    content_type: &str,
    name: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (status, start, end) = match range(headers, size) {
        Ok(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Ok(None) => (StatusCode::OK, 0, size.saturating_sub(1)),
        Err(()) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
    };
    let len = if size == 0 { 0 } else { end - start + 1 };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut offset = start;
        let mut left = len;
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        while left > 0 {
            let mut buf = vec![0u8; left.min(PIECE as u64) as usize];
            if let Err(e) = file.read_exact(&mut buf) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            if let Some(key) = &key {
                key.apply(offset, &mut buf);
            }
            offset += buf.len() as u64;
            left -= buf.len() as u64;
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(HttpBody::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // Files come from strangers: a browser reading the API must take the type given, which is
    // read from the bytes, not guess another (a "picture" that is a page with a script).
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if let Some(name) = name
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", name.replace('"', "")))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn ranges_parse_like_http_says() {
        assert_eq!(range(&HeaderMap::new(), 100), Ok(None));
        assert_eq!(range(&with("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(range(&with("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(range(&with("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(range(&with("bytes=50-500"), 100), Ok(Some((50, 99))));
        assert_eq!(range(&with("bytes=100-"), 100), Err(()));
        assert_eq!(range(&with("bytes=9-3"), 100), Err(()));
        assert_eq!(range(&with("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(range(&with("items=0-1"), 100), Ok(None));
    }

    #[tokio::test]
    async fn a_file_is_served_with_its_type_and_no_guessing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("page");
        std::fs::write(&path, b"<html><script>alert(1)</script>").expect("write");
        let file = std::fs::File::open(&path).expect("open");
        let response =
            serve(file, 32, None, "application/octet-stream", None, &HeaderMap::new()).expect("served");
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/octet-stream");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
