//! The load scenario: a node's memory while it takes a market's traffic live, and a new node's
//! while it catches up with all of it.
//!
//! The node measured is a real `haggle node` process (B). Publishers, one identity each (an
//! author may hold 1,000 open listings), run in this process and dial only B, so every listing
//! reaches B by gossip while it is published. When B holds them all, a second process (C) joins
//! with B as its only peer and catches up by sync (bounded by `--settle-secs`, as B's wait for
//! the live listings is). Resident memory is read from /proc at each step: the peak (`VmHWM`,
//! the kernel's high-water mark, which no sampling can miss, reset before the live load and
//! before C starts, so each peak is its phase's), what stays right after, what stays after a
//! quiet spell, when the node has had time to give memory back, and the threads.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use haggle_node::ApiClient;

use crate::net::{Rng, SimNode, Tuning, wait_for_mesh};
use crate::procs::Proc;
use crate::{Args, draft, procfs, round};

/// The most open listings one author may hold: one publisher per this many listings.
const PER_AUTHOR: usize = 1_000;

/// A process's resident memory now and its peak since [`reset_peak`] (or its start), in MiB;
/// of what is resident now, the anonymous memory (the heap: what the process holds) apart from
/// file pages (the search index's mapped files, which the kernel may take back); and its
/// threads.
fn memory_of(pid: &str) -> Value {
    let mib = |field| procfs::status_kib(pid, field).map(|b| b / 1_048_576);
    json!({
        "rss_mib": mib("VmRSS"),
        "peak_rss_mib": mib("VmHWM"),
        "anon_mib": mib("RssAnon"),
        "file_mib": mib("RssFile"),
        "threads": procfs::status_number(pid, "Threads"),
    })
}

/// Starts a new peak for `pid`: its `VmHWM` is set to what is resident now.
fn reset_peak(pid: &str) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("resetting a peak (/proc/PID/clear_refs)")
}

/// Waits, bounded by `limit`, until the node behind `api` holds at least `listings` listings;
/// returns how long that took.
async fn wait_until_held(api: &ApiClient, listings: usize, limit: Duration, who: &str) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let api = api.clone();
        let held = tokio::task::spawn_blocking(move || api.status().map(|s| s.store.active_listings))
            .await?
            .unwrap_or(0);
        if held >= listings {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            bail!("{who} held {held} of {listings} listings after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new data dir holding what `market` holds, with its identity when `same_identity`, else
/// with a new one (a node refuses a database without a key; a store no node ran has no owner
/// yet, so any key may take it).
fn copy_of(market: &Path, same_identity: bool) -> Result<tempfile::TempDir> {
    fn copy(from: &Path, to: &Path, skip: Option<&std::ffi::OsStr>) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            if Some(entry.file_name().as_os_str()) == skip {
                continue;
            }
            if entry.file_type()?.is_dir() {
                copy(&entry.path(), &to.join(entry.file_name()), None)?;
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name()))?;
            }
        }
        Ok(())
    }
    let dir = tempfile::tempdir()?;
    let skip = (!same_identity).then_some(std::ffi::OsStr::new("identity.key"));
    copy(market, dir.path(), skip).context("copying the preloaded store")?;
    if !same_identity {
        haggle_protocol::keyfile::load_or_create(&dir.path().join("identity.key"))?;
    }
    Ok(dir)
}

pub async fn run(args: &Args, haggle: &Path) -> Result<Value> {
    if args.listings == 0 {
        bail!("--listings must be at least 1");
    }

    let limit = Duration::from_secs(args.settle_secs);
    let quiet = Duration::from_secs(args.quiet_secs);
    // The market as it stood: the same preloaded listings on B and on every publisher (which
    // would otherwise fetch them all from B by sync and load it with work no market gives it).
    let market = tempfile::tempdir()?;
    drop(crate::preload(market.path(), args.preload, &mut Rng::new(args.seed ^ 0x5eed))?);
    let b = Proc::start_in(copy_of(market.path(), true)?, haggle, args, &[])?;
    let held_in_all = args.preload + args.listings;
    let (b_pid, b_api) = (b.pid(), b.api()?);
    let at_start = memory_of(&b_pid);

    // Publishers with the node's settings, each dialling B alone.
    let tuning = Tuning { heartbeat_ms: args.heartbeat_ms, sync_secs: args.sync_secs, pow_bits: 0 };
    let mut publishers = Vec::new();
    for i in 0..args.listings.div_ceil(PER_AUTHOR) {
        let dir = copy_of(market.path(), false)?;
        let (node, _events) = SimNode::start(i, dir, vec![b.addr().to_owned()], tuning).await?;
        publishers.push(node);
    }
    wait_for_mesh(&publishers, Duration::from_secs(120)).await?;

    reset_peak(&b_pid)?;
    // Publish round-robin at the rate asked for.
    let mut rng = Rng::new(args.seed);
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let publish_start = Instant::now();
    for i in 0..args.listings {
        let who = &publishers[i % publishers.len()];
        let (service, draft) = (who.node().service.clone(), draft(i, &mut rng));
        let effect = tokio::task::spawn_blocking(move || service.publish(draft)).await??;
        for bytes in effect.then.publish {
            who.node().handle.publish(bytes).await?;
        }
        tokio::time::sleep_until((publish_start + interval * (i as u32 + 1)).into()).await;
    }
    let publishing = publish_start.elapsed();
    let b_settle = wait_until_held(&b_api, held_in_all, limit, "B").await?;
    let b_loaded = memory_of(&b_pid);
    tokio::time::sleep(quiet).await;
    let b_quiet = memory_of(&b_pid);
    for p in &mut publishers {
        p.stop().await;
    }

    // A new node catches up from B alone.
    reset_peak(&b_pid)?;
    let started = Instant::now();
    let c = Proc::start(haggle, args, &[b.addr().to_owned()])?;
    let (c_pid, c_api) = (c.pid(), c.api()?);
    let c_catch_up = wait_until_held(&c_api, held_in_all, limit, "C").await.context("catching up")?;
    let c_total = started.elapsed();
    let c_caught_up = memory_of(&c_pid);
    let b_serving = memory_of(&b_pid);
    tokio::time::sleep(quiet).await;
    let c_quiet = memory_of(&c_pid);
    crate::procs::stop_all(&mut [c]);

    // B again after a restart on the same store: what the same listings cost at rest.
    let dir = b.stop_keeping_dir();
    let mut b = Proc::spawn(haggle, dir, &[])?;
    let b_api = b.api()?;
    let held = tokio::task::spawn_blocking(move || b_api.status().map(|s| s.store.active_listings)).await??;
    tokio::time::sleep(quiet).await;
    let b_restarted = memory_of(&b.pid());
    b.stop();

    Ok(json!({
        "scenario": "load",
        "preloaded": args.preload,
        "listings": args.listings,
        "publishers": publishers.len(),
        "rate_per_s": args.rate,
        "publishing_s": round(publishing.as_secs_f64()),
        "b_all_held_after_last_publish_s": round(b_settle.as_secs_f64()),
        "b_at_start": at_start,
        "b_after_load": b_loaded,
        "b_after_load_and_quiet": b_quiet,
        "b_serving_catch_up": b_serving,
        "c_catch_up_s": round(c_catch_up.as_secs_f64()),
        "c_start_to_all_held_s": round(c_total.as_secs_f64()),
        "c_caught_up": c_caught_up,
        "c_caught_up_and_quiet": c_quiet,
        "b_restarted_listings": held,
        "b_restarted": b_restarted,
        "quiet_s": args.quiet_secs,
        "cache_mib": args.cache_mib.unwrap_or(haggle_storage::DEFAULT_CACHE_MIB),
    }))
}
