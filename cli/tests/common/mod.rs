//! The harness the end-to-end tests share: the real `haggle` binary run as a user would (in a
//! network namespace when a test builds one), nodes as processes, and bounded waits.

#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const STEP: Duration = Duration::from_secs(30);

/// What a run printed on standard output.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a run printed on standard error.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `args` on `dir`'s node, which must succeed; its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = haggle(dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// `haggle` (inside network namespace `ns`, if given).
pub fn command(ns: Option<&str>) -> Command {
    match ns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_haggle")]);
            cmd
        }
        None => Command::new(env!("CARGO_BIN_EXE_haggle")),
    }
}

pub fn haggle(dir: &Path, args: &[&str]) -> Output {
    haggle_in(None, dir, args)
}

pub fn haggle_in(ns: Option<&str>, dir: &Path, args: &[&str]) -> Output {
    command(ns).arg("--data-dir").arg(dir).args(args).env("NO_COLOR", "1").output().expect("run haggle")
}

/// Runs a command that must succeed with `--json` and returns its document.
pub fn json(dir: &Path, args: &[&str]) -> Value {
    json_in(None, dir, args)
}

pub fn json_in(ns: Option<&str>, dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = haggle_in(ns, dir, &all);
    assert!(out.status.success(), "haggle {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "haggle {args:?} printed no single JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Polls `check` (bounded by STEP) until it returns Some.
pub fn wait<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait_for(STEP, what, check)
}

/// Polls `check` (bounded by `limit`) until it returns Some.
pub fn wait_for<T>(limit: Duration, what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait_explained(limit, what, check, String::new)
}

/// [`wait_for`], adding what `explain` says to the failure (read only on a timeout: what the
/// nodes saw, for a wait that fails now and then).
pub fn wait_explained<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
    explain: impl FnOnce() -> String,
) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        if start.elapsed() >= limit {
            panic!("timed out after {limit:?} waiting for {what}{}", explain());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(300));
    }
}

pub struct NodeProcess {
    pub child: Child,
    pub dir: PathBuf,
    /// Its first listen address, with `/p2p/<id>`.
    pub addr: String,
    /// Every listen address, with `/p2p/<id>`.
    pub addrs: Vec<String>,
    pub peer_id: String,
    pub ns: Option<String>,
}

/// A node a failed test leaves behind is killed, not left running.
impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl NodeProcess {
    pub fn start(dir: &Path, bootstrap: Option<&str>) -> NodeProcess {
        Self::start_with(dir, bootstrap, &[])
    }

    /// Starts a node with extra environment variables.
    pub fn start_with(dir: &Path, bootstrap: Option<&str>, env: &[(&str, &str)]) -> NodeProcess {
        let bootstrap: Vec<&str> = bootstrap.into_iter().collect();
        Self::spawn(None, dir, &["/ip4/127.0.0.1/tcp/0"], &bootstrap, env, &[])
    }

    /// Starts a lone node whose log (stderr) goes to `log`.
    pub fn start_logged(dir: &Path, log: &Path) -> NodeProcess {
        Self::start_logged_with(dir, &[], log)
    }

    /// [`NodeProcess::start_logged`] with bootstrap peers.
    pub fn start_logged_with(dir: &Path, bootstrap: &[&str], log: &Path) -> NodeProcess {
        Self::spawn_logged(None, dir, &["/ip4/127.0.0.1/tcp/0"], bootstrap, &[], &[], Some(log))
    }

    /// Starts `haggle node` in namespace `ns` (if any) on `listen`, dialling `bootstrap`, with
    /// extra flags, and waits (bounded) for its start-up line.
    pub fn spawn(
        ns: Option<&str>,
        dir: &Path,
        listen: &[&str],
        bootstrap: &[&str],
        env: &[(&str, &str)],
        flags: &[&str],
    ) -> NodeProcess {
        Self::spawn_logged(ns, dir, listen, bootstrap, env, flags, None)
    }

    /// [`NodeProcess::spawn`], its log to `log_to` if given.
    pub fn spawn_logged(
        ns: Option<&str>,
        dir: &Path,
        listen: &[&str],
        bootstrap: &[&str],
        env: &[(&str, &str)],
        flags: &[&str],
        log_to: Option<&Path>,
    ) -> NodeProcess {
        let mut cmd = command(ns);
        cmd.envs(env.iter().copied());
        cmd.arg("--data-dir").arg(dir).args([
            "--json",
            "node",
            "--api-listen",
            "127.0.0.1:0",
            "--no-mdns",
            "--no-upnp",
        ]);
        for l in listen {
            cmd.args(["--listen", l]);
        }
        for b in bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        cmd.args(flags);
        // HAGGLE_TEST_LOGS=DIR keeps each node's log (set RUST_LOG too) in DIR, named after its
        // data dir, for looking into a failure.
        let stderr = match (log_to, std::env::var_os("HAGGLE_TEST_LOGS")) {
            (Some(to), _) => Stdio::from(std::fs::File::create(to).expect("a log file")),
            (None, Some(logs)) => {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let file = std::fs::File::create(Path::new(&logs).join(format!("{n:02}-{name}.log")))
                    .expect("a log file");
                Stdio::from(file)
            }
            (None, None) => Stdio::null(),
        };
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("start haggle node");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(STEP).expect("the node prints its addresses");
        let started: Value = serde_json::from_str(&line).expect("a JSON start-up line");
        let addrs: Vec<String> = started["listen"]
            .as_array()
            .expect("listen addresses")
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        let addr = addrs.first().expect("a listen address").clone();
        let peer_id = started["peer_id"].as_str().expect("a peer id").to_owned();
        NodeProcess { child, dir: dir.to_owned(), addr, addrs, peer_id, ns: ns.map(str::to_owned) }
    }

    /// `haggle --json ARGS` against this node (in its namespace).
    pub fn json(&self, args: &[&str]) -> Value {
        json_in(self.ns.as_deref(), &self.dir, args)
    }

    /// `haggle ARGS` against this node (in its namespace).
    pub fn run(&self, args: &[&str]) -> Output {
        haggle_in(self.ns.as_deref(), &self.dir, args)
    }

    pub fn wait_mesh(&self) {
        wait("a gossip mesh", || {
            let s = json(&self.dir, &["status"]);
            (s["network"]["mesh_peers"].as_u64() >= Some(1)).then_some(())
        });
    }

    pub fn stop(self) {
        self.stop_with("-TERM");
    }

    /// Sends `signal` (`-TERM`, `-HUP`, ...) and waits (bounded) for the node to exit.
    pub fn stop_with(mut self, signal: &str) -> std::process::ExitStatus {
        let _ = Command::new("kill").args([signal, &self.child.id().to_string()]).status();
        let start = Instant::now();
        while start.elapsed() < STEP {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("the node did not stop within {STEP:?} of {signal}");
    }

    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

/// `haggle watch` on a node, its lines read as they come (a reader thread), killed when dropped.
pub struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    /// The lines read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The watch's process id (to pause it with SIGSTOP).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn start(dir: &Path) -> Watch {
        Watch::start_filtered(dir, &[])
    }

    /// `haggle watch` of a search: `words` and filters as `watch` takes them.
    pub fn start_filtered(dir: &Path, words: &[&str]) -> Watch {
        let mut child = command(None)
            .arg("--data-dir")
            .arg(dir)
            .arg("watch")
            .args(words)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            // One line at start, and why it ended (read by `ended`): never enough to fill the pipe.
            .stderr(Stdio::piped())
            .spawn()
            .expect("start haggle watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines, seen: Vec::new() }
    }

    /// Waits until the watch follows the node's events: publishes a probe listing on `dir`'s
    /// node (again, at most 5 times, in case the first went out before the watch subscribed)
    /// until its line shows.
    pub fn ready(&mut self, dir: &Path) {
        self.ready_with(dir, &[]);
    }

    /// [`Watch::ready`], the probes published with `extra` flags too (a place, for a watch
    /// around one).
    pub fn ready_with(&mut self, dir: &Path, extra: &[&str]) {
        for attempt in 0..5 {
            let title = format!("Watch probe {attempt}");
            let args =
                ["publish", "--title", &title, "--price", "1", "--currency", "EUR", "--category", "misc"];
            let args = [&args[..], extra].concat();
            assert!(haggle(dir, &args).status.success(), "publish {title}");
            let deadline = Instant::now() + Duration::from_secs(5);
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match self.lines.recv_timeout(left) {
                    Ok(line) if line.contains(&title) => return,
                    Ok(line) => self.seen.push(line),
                    Err(_) => break,
                }
            }
        }
        panic!("the watch showed none of 5 probe listings; seen: {:#?}", self.seen);
    }

    /// Waits (bounded by [`STEP`]) for a line containing every part of `parts`, and returns it.
    pub fn line_with(&mut self, parts: &[&str]) -> String {
        let matches = |l: &String| parts.iter().all(|p| l.contains(p));
        if let Some(l) = self.seen.iter().find(|l| matches(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + STEP;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no watch line with {parts:?} within {STEP:?}; seen: {:#?}", self.seen);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
