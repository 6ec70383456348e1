//! A node whose disk fills: the write that fails says so, the node stops by itself saying why
//! (sled refuses every write after its first I/O error, even once space is back), and started
//! again once space is freed it works, with what it had acknowledged before.
//!
//! Needs root to mount a small tmpfs for the data dir; skipped with a message when not root or
//! when the mount is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A tmpfs of `mib` MiB mounted on a new temporary directory, unmounted on drop (even when the
/// test fails).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> Option<SmallDisk> {
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipped: the disk-full test mounts a small tmpfs and needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        if !mounted.success() {
            // Root without the right to mount (an unprivileged container).
            eprintln!("skipped: mounting a tmpfs on {} was refused", dir.path().display());
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 64 * 1024];
        // Bounded: the disk is a few MiB.
        for _ in 0..100_000 {
            if file.write_all(&block).and_then(|()| file.sync_all()).is_err() {
                return filler;
            }
        }
        panic!("the disk never filled");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_stops_the_node_with_what_to_do_and_a_restart_recovers() {
    let Some(disk) = SmallDisk::mount(16) else { return };
    let logs = tempfile::tempdir().expect("tempdir");
    let dir = disk.path().join("node");
    let log = logs.path().join("node.log");
    let node = NodeProcess::start_logged(&dir, &log);

    let kept = node.json(&[
        "publish",
        "--title",
        "Oak desk",
        "--price",
        "80",
        "--currency",
        "EUR",
        "--category",
        "home",
    ]);
    let kept = kept["id"].as_str().expect("published").to_owned();

    let filler = disk.fill();
    // The next writes fail (sled may take a write or two into memory before its file refuses
    // one); each says what was wrong, none says it was published.
    let mut failed = None;
    for n in 0..20 {
        let title = format!("Pine shelf {n}");
        let out = node.run(&shelf(&title));
        if !out.status.success() {
            failed = Some(String::from_utf8_lossy(&out.stderr).into_owned());
            break;
        }
    }
    let failed = failed.expect("a publish fails on a full disk");
    assert!(failed.contains("disk is full") || failed.contains("the node"), "{failed}");

    // The node stops by itself, exit 1, its log saying why and what to do.
    let mut node = node;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = node.child.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < STEP, "the node stops by itself; log: {}", read(&log));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1), "log: {}", read(&log));
    let said = read(&log);
    assert!(said.contains("can take no more writes") && said.contains("free disk space"), "{said}");

    drop(node);

    // Space back, started again: it works, and what it acknowledged before is there.
    std::fs::remove_file(filler).expect("free the space");
    let node = NodeProcess::start_logged(&dir, &log);
    let listings = node.json(&["listings"]);
    let ids: Vec<&str> =
        listings["listings"].as_array().expect("listings").iter().filter_map(|l| l["id"].as_str()).collect();
    assert!(ids.contains(&kept.as_str()), "{listings}");
    let again = node.json(&shelf("Pine shelf"));
    assert!(again["id"].as_str().is_some(), "{again}");
    node.stop();
}

/// `publish` of a shelf titled `title`.
fn shelf(title: &str) -> [&str; 9] {
    ["publish", "--title", title, "--price", "20", "--currency", "EUR", "--category", "home"]
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
