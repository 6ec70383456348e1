//! The identity key file: the 32-byte secret seed as 64 hex characters and a newline, mode 0600.
//!
//! Like ssh, a key file that group or others can read is refused: anyone who reads it can sign
//! listings and accept deals as its owner.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::identity::{SecretKey, parse_hex_32};

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The key file could not be read.
    #[error(
        "cannot read key file {path}: make it a file the node's user can read (it is your identity: \
         another key would be another PeerId, with none of your listings, deals and ratings)"
    )]
    Read {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The key file could not be created or written.
    #[error("cannot write key file {path}")]
    Write {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Group or others may read or write the key file.
    #[error(
        "key file {path} is open to others (mode {mode:o}: group or others may read or write it); anyone who \
         can read it can trade as you, and anyone who can write it can swap in a key of theirs. Fix it with \
         `chmod 600 {path}`"
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// The file's permission bits, e.g. `0o644`.
        mode: u32,
    },
    /// The key file does not hold 64 hex characters.
    #[error(
        "key file {path} is not 64 hex characters; it is damaged or not a haggle key: restore it from \
         a backup (a new key would be another PeerId, with none of your listings, deals and ratings)"
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
    },
}

/// Loads the key at `path`, or creates one there (mode 0600) if there is none. Returns the key and
/// whether it was created.
pub fn load_or_create(path: &Path) -> Result<(SecretKey, bool), KeyFileError> {
    sweep_partials(path);
    match load(path) {
        Ok(key) => Ok((key, false)),
        Err(KeyFileError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            // Two starts at once on a new data dir: one links its key in first (the other's link
            // then finds the name taken), or sweeps the other's partial file away. The other
            // takes the key made (and is then refused the database, which the first holds).
            // From a crash trial: the second was told "cannot write key file: No such file".
            for _ in 0..3 {
                let key = SecretKey::generate();
                match save_new(path, &key) {
                    Ok(()) => return Ok((key, true)),
                    Err(KeyFileError::Write { .. }) if path.exists() => return Ok((load(path)?, false)),
                    // Its partial file swept away by the other start, before either linked.
                    Err(KeyFileError::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            let key = SecretKey::generate();
            save_new(path, &key)?;
            Ok((key, true))
        }
        Err(e) => Err(e),
    }
}

/// Loads the key at `path`, refusing a file that group or others may read.
pub fn load(path: &Path) -> Result<SecretKey, KeyFileError> {
    let read_err = |source| KeyFileError::Read { path: path.to_owned(), source };
    let meta = fs::metadata(path).map_err(read_err)?;
    check_permissions(path, &meta)?;
    let text = Zeroizing::new(fs::read_to_string(path).map_err(read_err)?);
    let seed = Zeroizing::new(
        parse_hex_32(text.trim()).ok_or_else(|| KeyFileError::Corrupt { path: path.to_owned() })?,
    );
    Ok(SecretKey::from_seed(&seed))
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &fs::Metadata) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::InsecurePermissions { path: path.to_owned(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path, _: &fs::Metadata) -> Result<(), KeyFileError> {
    Ok(())
}

/// Writes `key` to a new file at `path` with mode 0600 and syncs it; fails if the file exists.
/// The file appears whole or not at all: the key is written and synced to a file of its own
/// beside it, then linked in under `path` (which fails if `path` exists, so two starts racing
/// keep one key). A write cut short (a full disk) left an empty key file that every later start
/// refused as damaged (from a trial).
pub fn save_new(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    let write_err = |source| KeyFileError::Write { path: path.to_owned(), source };
    let partial = partial_path(path);
    // One left by a run cut short with the same process id (pid 1 in a container, say).
    let _ = fs::remove_file(&partial);
    write_synced(&partial, key).map_err(|e| {
        let _ = fs::remove_file(&partial);
        write_err(e)
    })?;
    let linked = fs::hard_link(&partial, path);
    let _ = fs::remove_file(&partial);
    match linked {
        Ok(()) => {}
        // A file system without hard links (some shared and FUSE mounts): written in place,
        // as before, whole unless the disk fills in the middle of 65 bytes.
        Err(e) if matches!(e.kind(), io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied) => {
            write_synced(path, key).map_err(write_err)?;
        }
        Err(e) => return Err(write_err(e)),
    }
    // The new name itself survives a power cut.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Where [`save_new`] writes a key before linking it in: beside it, named for this process and
/// this call (two threads, or two runs with the same process id, never share one).
fn partial_path(path: &Path) -> std::path::PathBuf {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".new-{}-{call}", std::process::id()));
    path.with_file_name(name)
}

/// Removes the partial key files a run cut short between linking its key and removing the
/// partial left beside `path` (a second name for the secret key).
fn sweep_partials(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!("{}.new-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `key` to the new file `path`, mode 0600, and syncs it.
fn write_synced(path: &Path, key: &SecretKey) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let seed = Zeroizing::new(key.to_seed());
    let text = Zeroizing::new(format!("{}\n", data_encoding::HEXLOWER.encode(&*seed)));
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_appears_whole_and_never_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.key");
        let first = SecretKey::generate();
        save_new(&path, &first).expect("saved");
        assert_eq!(load(&path).expect("loaded").public(), first.public());
        // A second key for the same file is refused, the first kept; no partial file is left.
        let second = save_new(&path, &SecretKey::generate()).expect_err("exists");
        assert!(matches!(second, KeyFileError::Write { .. }), "{second}");
        assert_eq!(load(&path).expect("loaded").public(), first.public());
        let names: Vec<_> =
            fs::read_dir(dir.path()).expect("read").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("identity.key")]);
        // A partial left by a run cut short (the same process id: pid 1 in a container) does not
        // stop a new key, and one left beside a key is swept at the next load.
        let other = dir.path().join("other.key");
        fs::write(dir.path().join(format!("other.key.new-{}-0", std::process::id())), "stale")
            .expect("a stale partial");
        save_new(&other, &first).expect("saved beside the stale partial");
        fs::write(dir.path().join("identity.key.new-99999"), "leftover").expect("a leftover");
        load_or_create(&path).expect("loaded");
        assert!(!dir.path().join("identity.key.new-99999").exists(), "swept");
    }

    /// From a crash trial: two nodes started at once on a new data dir, and the second was told
    /// "cannot write key file: No such file or directory". Every start takes the one key made.
    #[test]
    fn starts_racing_on_a_new_data_dir_all_take_one_key() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("identity.key");
            let keys: Vec<_> = std::thread::scope(|s| {
                let racing: Vec<_> = (0..6).map(|_| s.spawn(|| load_or_create(&path))).collect();
                racing.into_iter().map(|r| r.join().expect("no panic")).collect()
            });
            let publics: Vec<_> = keys.into_iter().map(|k| k.expect("a key").0.public()).collect();
            assert!(publics.windows(2).all(|w| w[0] == w[1]), "one key for every start");
            assert_eq!(load(&path).expect("the key").public(), publics[0]);
        }
    }

    #[test]
    fn creates_then_loads_the_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.key");
        let (created, fresh) = load_or_create(&path).expect("created");
        assert!(fresh);
        let (loaded, fresh) = load_or_create(&path).expect("loaded");
        assert!(!fresh);
        assert_eq!(created.public(), loaded.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_key_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.key");
        load_or_create(&path).expect("created");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = load(&path).expect_err("refused");
        assert!(matches!(err, KeyFileError::InsecurePermissions { mode: 0o644, .. }));
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_damaged_key_file_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.key");
        save_new(&path, &SecretKey::from_seed(&[3; 32])).expect("saved");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::write(&path, "not hex").expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let e = load(&path).expect_err("damaged");
        assert!(matches!(e, KeyFileError::Corrupt { .. }));
        // What to do, and why a new key is no fix (found in a trial: it said neither).
        let said = e.to_string();
        assert!(said.contains("restore it from a backup") && said.contains("another PeerId"), "{said}");
    }
}
