//! Pictures and digital goods: checking the files given before any work, uploading them to the
//! node, fetching a listing's pictures (`haggle show --images`) and a bought file
//! (`haggle download`), with progress bars on long transfers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use haggle_node::api::types::{FetchRequest, ListingView};
use haggle_node::client::ClientError;
use haggle_protocol::blob::{MAX_FILE_BYTES, MAX_IMAGES, MAX_PREVIEW_BYTES};
use haggle_protocol::{BlobHash, DigitalFile, Image, ImageType, PublicKey};

use super::Context;
use crate::usage;

/// Largest picture file read: a 2 MiB picture with its metadata (removed before the limit is
/// checked, by the node).
const MAX_IMAGE_FILE: u64 = 8 * 1024 * 1024;
/// How often a transfer's progress is read from the node.
const POLL: Duration = Duration::from_millis(100);
/// A transfer that makes no progress for this long is given up.
const STALL: Duration = Duration::from_secs(60);
/// What to do after a fetch that stopped, with `have` bytes here.
fn again(have: u64) -> &'static str {
    if have == 0 {
        "Nothing of it is here yet: run this again when the seller's node (or another node holding the file) is online. A seller's node that is online and does not hold it (said above) has lost its copy: ask the seller to publish the file again"
    } else {
        "What arrived is kept: run this again when the seller's node (or another node holding the file) is online, and it goes on from there. A seller's node that is online and does not hold it (said above) has lost its copy: ask the seller to publish the file again"
    }
}
/// Transfers at least this large get a progress bar.
const BAR_FROM: u64 = 1024 * 1024;

/// Pictures read and checked (count, size, format by content), before anything is sent.
pub struct Pictures(Vec<(PathBuf, Vec<u8>)>);

impl Pictures {
    /// Whether none were given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads the regular file at `path` (`what` names it in messages), at most `limit` bytes of
/// it: a directory, a device or a pipe (which may never end, or block) is refused before it is
/// opened, and a file that grows past `limit` while read is refused there, not read whole.
/// `rule` says the limit as the user knows it.
pub(crate) fn read_bounded(path: &Path, limit: u64, what: &str, rule: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| usage(format!("cannot read {what} {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if meta.is_dir() {
        return Err(usage(format!("{what} {} is a directory: give a file", path.display())));
    }
    if !meta.is_file() {
        return Err(usage(format!(
            "{what} {} is not a regular file (a device or a pipe?): give a file",
            path.display()
        )));
    }
    // With its size, so the user knows how far over it is (a file growing as it is read is
    // said to be over the limit).
    let too_big = |size: String| usage(format!("{what} {} is too big ({size}): {rule}", path.display()));
    if meta.len() > limit {
        // In bytes where the rounded size would read as the limit itself.
        let (size, at_most) = (crate::output::bytes(meta.len()), crate::output::bytes(limit));
        return Err(too_big(if size == at_most { format!("{} bytes", meta.len()) } else { size }));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(format!("over {}", crate::output::bytes(limit))));
    }
    Ok(bytes)
}

/// A directory removed when dropped if it is still empty.
struct EmptyDir(Option<PathBuf>);

impl Drop for EmptyDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            // Fails, as wanted, once the directory holds the saved file.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Creates `dir` (and its parents) to save into; `flag` is the option that named it.
fn make_dir(dir: &Path, flag: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| match e.kind() {
        // A file where a directory of the path should be.
        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => usage(format!(
            "cannot save into {}: part of that path is a file, not a directory; choose another {flag}",
            dir.display()
        )),
        _ => usage(format!("cannot create {}: {e}", dir.display())),
    })
}

/// Reads the pictures given with `--image`, checking each before any work is done.
pub fn read_pictures(paths: &[PathBuf]) -> Result<Pictures> {
    if paths.len() > MAX_IMAGES {
        return Err(usage(format!("{} pictures given: a listing has at most {MAX_IMAGES}", paths.len())));
    }
    let mut out: Vec<(PathBuf, Vec<u8>)> = Vec::with_capacity(paths.len());
    for path in paths {
        let size = std::fs::metadata(path)
            .map_err(|e| usage(format!("cannot read picture {}: {e}", path.display())))?
            .len();
        if size > MAX_IMAGE_FILE {
            return Err(usage(format!(
                "picture {} is {} MiB: pictures are at most 2 MiB; make it smaller first",
                path.display(),
                size / (1024 * 1024)
            )));
        }
        // The size said is not trusted: a device or a pipe says 0 and never ends.
        let bytes = read_bounded(path, MAX_IMAGE_FILE, "picture", "pictures are at most 2 MiB")?;
        if ImageType::sniff(&bytes).is_none() {
            return Err(usage(format!(
                "{} is not a JPEG, PNG, WebP or GIF picture (its content is checked, not its name)",
                path.display()
            )));
        }
        // The same picture twice (one path given twice, or a copy) would show twice.
        if let Some((first, _)) = out.iter().find(|(_, earlier)| *earlier == bytes) {
            return Err(usage(format!(
                "picture {} is the same as {}: give each picture once",
                path.display(),
                first.display()
            )));
        }
        out.push((path.clone(), bytes));
    }
    Ok(Pictures(out))
}

/// Stores the pictures on the node (stripped of location data unless `keep_metadata`).
pub fn upload_pictures(cx: &Context<'_>, pictures: Pictures, keep_metadata: bool) -> Result<Vec<Image>> {
    let mut images: Vec<(PathBuf, Image)> = Vec::with_capacity(pictures.0.len());
    for (path, bytes) in pictures.0 {
        let image = cx
            .api
            .upload_image(&bytes, keep_metadata)
            .with_context(|| format!("picture {}", path.display()))?;
        // Two files that differ only in what the node strips (a location, a camera's notes) are
        // one picture once stored (from a trial, published twice); the uploads go with the
        // hour's grace every upload nothing names has.
        if let Some((first, _)) = images.iter().find(|(_, earlier)| earlier.blob.hash == image.blob.hash) {
            return Err(usage(format!(
                "picture {} is the same as {} once its metadata is removed: give each picture once",
                path.display(),
                first.display()
            )));
        }
        images.push((path, image));
    }
    Ok(images.into_iter().map(|(_, image)| image).collect())
}

/// A digital good's file and preview, checked before any work is done.
pub struct Goods {
    file: PathBuf,
    name: String,
    size: u64,
    preview: Option<Vec<u8>>,
}

/// Checks `--file` and `--preview`.
pub fn read_goods(file: &Path, preview: Option<&Path>) -> Result<Goods> {
    let meta =
        std::fs::metadata(file).map_err(|e| usage(format!("cannot read file {}: {e}", file.display())))?;
    if !meta.is_file() {
        return Err(usage(format!("{} is not a file", file.display())));
    }
    if meta.len() == 0 || meta.len() > MAX_FILE_BYTES {
        // In bytes as well: just over 1 GiB rounds to "1.00 GiB", which reads as within it.
        return Err(usage(format!(
            "{} is {} ({} bytes): a digital good is 1 byte to 1 GiB ({MAX_FILE_BYTES} bytes)",
            file.display(),
            crate::output::bytes(meta.len()),
            meta.len()
        )));
    }
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| usage(format!("{} has no file name in UTF-8", file.display())))?
        .to_owned();
    let preview = preview.map(read_preview).transpose()?;
    Ok(Goods { file: file.to_owned(), name, size: meta.len(), preview })
}

/// Reads and checks `--preview`.
pub fn read_preview(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_bounded(path, MAX_PREVIEW_BYTES, "preview", "a preview is at most 2 MiB")?;
    if bytes.is_empty() {
        return Err(usage(format!(
            "preview {} is {}: a preview is 1 byte to 2 MiB",
            path.display(),
            crate::output::bytes(bytes.len() as u64)
        )));
    }
    Ok(bytes)
}

/// Stores a digital good's file (encrypted by the node) and its preview.
pub fn upload_goods(cx: &Context<'_>, goods: Goods) -> Result<DigitalFile> {
    let source = std::fs::File::open(&goods.file)
        .map_err(|e| usage(format!("cannot read file {}: {e}", goods.file.display())))?;
    let bar = bar(goods.size, "storing");
    let mut file = cx.api.upload_file(&goods.name, bar.wrap_read(source))?;
    bar.finish_and_clear();
    if let Some(preview) = goods.preview {
        file.preview = Some(cx.api.upload_blob(&preview)?);
    }
    Ok(file)
}

/// A progress bar on stderr for a transfer of `size` bytes (hidden for small ones and when
/// stderr is not a terminal).
fn bar(size: u64, what: &str) -> indicatif::ProgressBar {
    if size < BAR_FROM {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("#>."),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Fetches a file through the node (asking `from` first) and waits until it is all here,
/// showing progress.
fn fetch(cx: &Context<'_>, hash: BlobHash, size: u64, from: Option<PublicKey>, what: &str) -> Result<()> {
    let mut status = cx.api.fetch_blob(&FetchRequest { hash, size, from })?;
    let bar = bar(size, what);
    let mut last = (status.have, Instant::now());
    let mut restarted = false;
    loop {
        bar.set_position(status.have);
        if status.complete {
            bar.finish_and_clear();
            return Ok(());
        }
        if !status.fetching {
            if let Some(why) = status.error.take() {
                bar.abandon();
                bail!("cannot fetch {what}: {why}. {}", again(status.have));
            }
            if restarted {
                bar.abandon();
                bail!("cannot fetch {what}: the node stopped fetching it. {}", again(status.have));
            }
            status = cx
                .api
                .fetch_blob(&FetchRequest { hash, size, from })
                .map_err(|e| lost(e, what, status.have))?;
            restarted = true;
            continue;
        }
        if status.have > last.0 {
            last = (status.have, Instant::now());
        } else if last.1.elapsed() > STALL {
            bar.abandon();
            bail!("cannot fetch {what}: no progress for {} s. {}", STALL.as_secs(), again(status.have));
        }
        std::thread::sleep(POLL);
        status = cx.api.blob_status(&hash).map_err(|e| lost(e, what, last.0))?;
    }
}

/// `e`, from the node while it fetched `what` (`have` bytes of it here): if the node went away
/// (stopped, killed), the error says the fetch was cut off and that what arrived is kept.
fn lost(e: ClientError, what: &str, have: u64) -> anyhow::Error {
    if e.node_gone() {
        let kept = if have == 0 {
            "nothing of it had arrived yet: once it runs again, run this again"
        } else {
            "what arrived is kept: once it runs again, run this again, and it goes on from there"
        };
        anyhow::Error::new(e).context(format!("the node stopped answering while it fetched {what}; {kept}"))
    } else {
        e.into()
    }
}

/// Refuses an `--images` path that is a file (checked before anything is printed or fetched).
pub fn images_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(usage(format!(
            "{} is not a directory: --images takes the directory to save into",
            dir.display()
        )));
    }
    Ok(())
}

/// `haggle show --images DIR`: fetches a listing's pictures (and a digital good's preview) and
/// saves them in `dir`.
pub fn save_pictures(cx: &Context<'_>, listing: &ListingView, dir: &Path) -> Result<Vec<PathBuf>> {
    let preview = listing.file.as_ref().and_then(|f| f.preview);
    if listing.images.is_empty() && preview.is_none() {
        return Ok(Vec::new());
    }
    images_dir(dir)?;
    make_dir(dir, "--images")?;
    let short = crate::output::short(&listing.id);
    // `.` as the directory: plain file names.
    let place = |name: String| if dir == Path::new(".") { PathBuf::from(name) } else { dir.join(name) };
    let mut saved = Vec::new();
    for (i, image) in listing.images.iter().enumerate() {
        let what = format!("picture {} of {}", i + 1, listing.images.len());
        fetch(cx, image.blob.hash, image.blob.size, Some(listing.author), &what)?;
        let path = place(format!("{short}-{}.{}", i + 1, image.kind.extension()));
        save(cx, &image.blob.hash, &path)?;
        if let Some(path) = as_its_bytes_say(cx, image, path, &what)? {
            saved.push(path);
        }
    }
    if let Some(preview) = preview {
        fetch(cx, preview.hash, preview.size, Some(listing.author), "the preview")?;
        let path = place(format!("{short}-preview"));
        save(cx, &preview.hash, &path)?;
        // Named by its content: a picture by its format, a few common kinds by their first
        // bytes, text as text, anything else as bytes of no known kind.
        let mut head = Vec::with_capacity(512);
        std::io::Read::read_to_end(&mut std::io::Read::take(std::fs::File::open(&path)?, 512), &mut head)?;
        let extension = ImageType::sniff(&head).map(ImageType::extension).or_else(|| extension_of(&head));
        let named = path.with_extension(extension.unwrap_or("bin"));
        std::fs::rename(&path, &named).with_context(|| format!("cannot name {}", named.display()))?;
        saved.push(named);
    }
    Ok(saved)
}

/// What a saved picture's bytes say against what its listing says of it.
#[derive(Debug, PartialEq, Eq)]
struct Found {
    /// Its format, if it is a picture at all.
    kind: Option<ImageType>,
    /// Its size in pixels, when other than the one stated (or that turned).
    other_size: Option<(u32, u32)>,
}

fn found(image: &Image, bytes: &[u8]) -> Found {
    let Some((kind, width, height)) = haggle_node::files::images::describe(bytes) else {
        return Found { kind: None, other_size: None };
    };
    let stated = (image.width, image.height);
    let other_size = ((width, height) != stated && (height, width) != stated).then_some((width, height));
    Found { kind: Some(kind), other_size }
}

/// A picture saved at `path`, checked against what its listing says of it: the hash proves the
/// bytes are the ones the author signed, not that they are the picture the listing describes.
/// An honest node checks its owner's pictures before publishing, but a modified one could name
/// any file a JPEG. Bytes that are no picture are not kept (an executable saved as `.jpg` is a
/// trap); a picture of another format is named by its format; a size other than the one stated
/// (or its turn) is said.
fn as_its_bytes_say(cx: &Context<'_>, image: &Image, path: PathBuf, what: &str) -> Result<Option<PathBuf>> {
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let stated = image.kind.extension();
    let found = found(image, &bytes);
    let Some(kind) = found.kind else {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        note!(
            cx.json,
            "{what} is not a picture, though its listing says it is a {stated}: not saved (its author's node did not check it, as haggle's does)"
        );
        return Ok(None);
    };
    let path = if kind == image.kind {
        path
    } else {
        let named = path.with_extension(kind.extension());
        std::fs::rename(&path, &named).with_context(|| format!("cannot name {}", named.display()))?;
        note!(
            cx.json,
            "{what} is a {}, though its listing says {stated}: saved as {}",
            kind.extension(),
            named.display()
        );
        named
    };
    if let Some((width, height)) = found.other_size {
        note!(
            cx.json,
            "{what} is {width} x {height} pixels, though its listing says {} x {}",
            image.width,
            image.height
        );
    }
    Ok(Some(path))
}

/// A file extension for the commonest kinds of preview that are not pictures, from their first
/// bytes.
fn extension_of(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF") {
        Some("pdf")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("zip")
    } else if head.starts_with(b"ID3") || head.starts_with(&[0xFF, 0xFB]) {
        Some("mp3")
    } else if head.starts_with(b"OggS") {
        Some("ogg")
    } else if head.starts_with(b"fLaC") {
        Some("flac")
    } else if is_text(head) {
        Some("txt")
    } else {
        None
    }
}

/// Whether the first bytes of a file read as text: UTF-8 (a character cut at the end allowed)
/// with no control character but tab and line ends.
fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        // Only a character cut by the end of the head.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return false,
    };
    !valid.is_empty() && !valid.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Writes a file held by the node to `path`.
fn save(cx: &Context<'_>, hash: &BlobHash, path: &Path) -> Result<()> {
    let mut out = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    cx.api.save_blob(hash, &mut out)?;
    out.sync_all().with_context(|| format!("cannot write {}", path.display()))
}

/// `haggle download DEAL [--out FILE]`.
pub fn download(cx: &Context<'_>, deal: &str, out: Option<&Path>, force: bool) -> Result<()> {
    // The deal first: a listing's id given by mistake is named as such.
    let deal_view = cx.api.deal(deal).map_err(super::deal::no_such_deal)?;
    let Some(file) = &deal_view.file else {
        return Err(usage(format!(
            "deal {} is not for a digital good: there is no file to download",
            crate::output::short(&deal_view.id)
        )));
    };
    // Like cp: no --out, or a directory, saves under the file's own name.
    let out = match out {
        None => PathBuf::from(&file.name),
        // A directory, or a name ending in `/` (made if missing).
        Some(dir) if dir.is_dir() || dir.to_string_lossy().ends_with('/') => dir.join(&file.name),
        Some(path) => path.to_owned(),
    };
    let out = out.as_path();
    if out.exists() && !force {
        // Found in a trial: too early, in a folder with a file of that name, only the name was
        // said; the wait for the key is said too.
        let key =
            if deal_view.file_key { "" } else { " (and the seller has not handed over the file's key yet)" };
        return Err(usage(format!(
            "{} exists: choose another --out, or add --force to replace it{key}",
            out.display()
        )));
    }
    if out.is_dir() {
        return Err(usage(format!("{} is a directory: --out names the file to write", out.display())));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let made = !parent.exists();
    make_dir(&parent, "--out")?;
    // A directory made for a download that saves nothing goes again.
    let _made = EmptyDir(made.then(|| parent.clone()));
    let view = cx.api.start_download(deal)?;
    let file = &view.file;
    fetch(cx, file.sealed, file.size, None, &file.name)?;
    // The key may have come while the file did.
    let key = view.key || cx.api.start_download(deal).is_ok_and(|v| v.key);
    let paid = matches!(deal_view.stage.as_str(), "paid" | "shipped" | "completed");
    let named = crate::output::short(&deal_view.id);
    if !key && paid {
        bail!(
            "the encrypted file is here and you have paid, but the seller has not handed over its key yet: the seller's node does by itself unless it is set to wait for the seller (haggle deliver {named}), and both nodes must be online; ask the seller, then run this again"
        );
    }
    if !key {
        bail!(
            "the encrypted file is here, but the seller has not handed over its key yet: the seller's node does once you have paid (after the seller's payment request, `haggle paid {named}`; at once for a free file), or the seller by hand (haggle deliver), while both nodes are online; run this again then"
        );
    }
    let partial =
        parent.join(format!(".{}.part", out.file_name().and_then(|n| n.to_str()).unwrap_or("download")));
    let result = (|| -> Result<u64> {
        // Named by the path the user gave: the partial copy is the command's own business.
        let mut writer = std::fs::File::create(&partial).with_context(|| {
            format!(
                "cannot write {} (a download is written first to {}, then renamed)",
                out.display(),
                partial.display()
            )
        })?;
        let mut hashing = HashingWriter { inner: &mut writer, hasher: blake3::Hasher::new() };
        let written = cx.api.save_download(deal, &mut hashing).map_err(|e| {
            if e.node_gone() {
                anyhow::Error::new(e).context(
                    "the node stopped answering while it handed over the decrypted file; nothing was saved, and the whole file is kept on the node: once it runs again, run this again",
                )
            } else {
                e.into()
            }
        })?;
        let hash = BlobHash(*hashing.hasher.finalize().as_bytes());
        if hash != file.hash || written != file.size {
            bail!(
                "the file received ({written} bytes, BLAKE3 {}) does not match the listing ({} bytes, {}); nothing was saved. Run this again: your node checks its copy first and fetches the file again if the copy was damaged",
                hash.fmt_short(),
                file.size,
                file.hash.fmt_short()
            );
        }
        writer.sync_all().with_context(|| format!("cannot write {}", partial.display()))?;
        Ok(written)
    })();
    let written = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).with_context(|| format!("cannot save {}", out.display()))?;
    if cx.json {
        return crate::output::json(&serde_json::json!({
            "path": out.display().to_string(),
            "size": written,
            "blake3": file.hash.to_hex(),
        }));
    }
    outln!("Saved {} ({} bytes); its BLAKE3 hash {} matches the listing.", out.display(), written, file.hash);
    Ok(())
}

/// Hashes what passes through.
struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect: a download whose node was killed said only "no node is running for data dir
    /// ...", not that the fetch was cut off, nor that what arrived is kept and a new run goes on.
    #[test]
    fn a_fetch_whose_node_went_away_says_what_is_kept() {
        let gone = || ClientError::NoNode { data_dir: PathBuf::from("/tmp/bob") };
        let e = lost(gone(), "book.epub", 4096);
        assert!(
            e.to_string().contains("stopped answering while it fetched book.epub; what arrived is kept"),
            "{e}"
        );
        assert!(
            matches!(e.downcast_ref::<ClientError>(), Some(ClientError::NoNode { .. })),
            "exit code 3 still"
        );
        assert!(lost(gone(), "book.epub", 0).to_string().contains("nothing of it had arrived yet"));
        let refused = ClientError::Api {
            status: 404,
            code: haggle_node::api::types::ErrorCode::NotFound,
            message: "no such file".into(),
            candidates: Vec::new(),
        };
        assert_eq!(lost(refused, "book.epub", 1).to_string(), "no such file", "only a node gone is reworded");
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_or_oversized_input_is_refused_without_reading_it_whole() {
        // A device that never ends (its size reads 0), a directory, and a file one byte over.
        let rule = "at most 1 KiB";
        let endless = read_bounded(Path::new("/dev/zero"), 1024, "preview", rule).expect_err("endless");
        assert!(endless.to_string().contains("is not a regular file"), "{endless}");
        let dir = tempfile::tempdir().expect("tempdir");
        let not_a_file = read_bounded(dir.path(), 1024, "picture", rule).expect_err("a directory");
        assert!(not_a_file.to_string().contains("is a directory"), "{not_a_file}");
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, vec![b'a'; 1025]).expect("write");
        let over = read_bounded(&path, 1024, "description file", rule).expect_err("one byte over");
        assert!(over.to_string().ends_with("is too big (1025 bytes): at most 1 KiB"), "{over}");
        assert_eq!(read_bounded(&path, 1025, "description file", rule).expect("fits").len(), 1025);
    }

    /// A modified node could name any bytes a picture: what is saved is judged by its bytes.
    /// A preview is named by what its first bytes say (a trial saved random bytes with no
    /// extension at all).
    #[test]
    fn a_preview_is_named_by_its_first_bytes() {
        assert_eq!(extension_of(b"%PDF-1.7\n"), Some("pdf"));
        assert_eq!(extension_of("Chapter one\n\tIt was a dark night".as_bytes()), Some("txt"));
        // A character cut by the end of the bytes read is still text.
        let cut = "Brot backen: Teig für".as_bytes();
        assert_eq!(extension_of(&cut[..cut.len() - 1]), Some("txt"));
        assert_eq!(extension_of(&[0x00, 0x9f, 0x92, 0x96, 0x01, 0x02]), None);
        assert_eq!(extension_of(b"text with a \x07 bell"), None);
        assert_eq!(extension_of(b""), None);
    }

    #[test]
    fn a_saved_picture_is_judged_by_its_bytes_not_its_listing() {
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode_image(&image::RgbImage::new(8, 6))
            .expect("encodes");
        let blob = haggle_protocol::BlobRef { hash: BlobHash([0; 32]), size: jpeg.len() as u64 };
        let stated = |kind, width, height| Image { blob, kind, width, height, thumb: blob };
        let as_said = found(&stated(ImageType::Jpeg, 8, 6), &jpeg);
        assert_eq!(as_said, Found { kind: Some(ImageType::Jpeg), other_size: None });
        assert_eq!(found(&stated(ImageType::Jpeg, 6, 8), &jpeg).other_size, None, "turned by EXIF");
        let lied = found(&stated(ImageType::Png, 3200, 2400), &jpeg);
        assert_eq!(lied, Found { kind: Some(ImageType::Jpeg), other_size: Some((8, 6)) });
        let program = b"\x7fELF\x02\x01\x01\0 not a picture at all";
        assert_eq!(found(&stated(ImageType::Jpeg, 8, 6), program).kind, None);
        // A JPEG's first bytes on something else are no picture either.
        assert_eq!(found(&stated(ImageType::Jpeg, 8, 6), b"\xff\xd8\xff\xe0 junk").kind, None);
    }

    #[test]
    fn a_file_in_the_way_of_a_directory_to_save_into_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("afile");
        std::fs::write(&file, b"x").expect("write");
        let err = make_dir(&file.join("sub"), "--out").expect_err("a file in the way");
        assert!(
            err.to_string().contains("part of that path is a file") && err.to_string().contains("--out"),
            "{err}"
        );
        assert!(make_dir(&dir.path().join("new/dir"), "--out").is_ok());
    }
}
