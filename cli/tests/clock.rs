//! Nodes whose clocks are wrong, run under libfaketime: the node 10 minutes behind its peer is
//! told so in `haggle status` and after `haggle search`, and an owner whose listing was signed
//! while the clock ran 2 hours ahead is told, once the clock is right, why the listing's new
//! revisions stay out of the market and what to do. A node 10 minutes ahead is told so as soon
//! as it connects, before it has published anything that peers would refuse.
//!
//! Needs libfaketime (.ci/run installs it); skipped with a message when it is missing.

mod common;

use std::path::PathBuf;

use common::{NodeProcess, haggle, json, wait};

/// libfaketime's preload library, where Debian and Ubuntu put it; without it, the test says it
/// is skipped.
fn faketime() -> Option<PathBuf> {
    let found = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        eprintln!("skipped: libfaketime is not installed (apt-get install libfaketime)");
    }
    found
}

/// A node whose clock reads `offset` (libfaketime's form: `-10m`, `+2h`).
fn skewed(
    dir: &std::path::Path,
    bootstrap: Option<&str>,
    lib: &std::path::Path,
    offset: &str,
) -> NodeProcess {
    let lib = lib.to_string_lossy().into_owned();
    NodeProcess::start_with(
        dir,
        bootstrap,
        &[("LD_PRELOAD", &lib), ("FAKETIME", offset), ("FAKETIME_DONT_FAKE_MONOTONIC", "1")],
    )
}

fn text(out: &std::process::Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_node_behind_its_peer_says_so_in_status_and_after_a_search() {
    let Some(lib) = faketime() else { return };
    let (da, db) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let a = NodeProcess::start(da.path(), None);
    let b = skewed(db.path(), Some(&a.addr), &lib, "-10m");
    b.wait_mesh();
    a.wait_mesh();
    let publish =
        ["publish", "--title", "Brass lamp", "--price", "9", "--currency", "EUR", "--category", "home"];
    // A's listing reads 10 minutes ahead to B: refused there (not blamed), and dated.
    let listing = json(da.path(), &publish);
    let clock = wait("B to compare its clock with A's", || {
        let c = json(db.path(), &["status"])["network"]["clock"].clone();
        (c["peers"] == 1 && c["refused_ahead"].as_u64() >= Some(1)).then_some(c)
    });
    let skew = clock["skew_ms"].as_i64().expect("an estimate");
    assert!((-610_000..-590_000).contains(&skew), "10 minutes behind: {clock}");
    // From one peer the figure is a guess, and reads as one.
    let status = text(&haggle(db.path(), &["status"]));
    assert!(
        status.contains(
            "  clock         this node's clock reads about 10 minutes behind its peers' (going by 1 peer only), so either it or they are wrong"
        ),
        "{status}"
    );
    assert!(status.contains("1 object refused as dated more than 5 minutes ahead of this clock"), "{status}");
    // The empty market comes with the reason.
    let search = text(&haggle(db.path(), &["search", "lamp"]));
    assert!(search.contains("Note: this node's clock reads about 10 minutes behind"), "{search}");
    assert!(search.contains("check it against a reliable clock"), "{search}");
    // A lookup that fails for the clock's sake says so too.
    let id = listing["id"].as_str().expect("an id");
    let out = haggle(db.path(), &["show", id]);
    assert_eq!(out.status.code(), Some(4), "B does not hold the listing");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("Note: this node's clock reads about 10 minutes behind")
    );
    // Under --json the note goes to stderr, and stdout stays one document.
    let out = haggle(db.path(), &["--json", "search", "lamp"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("note: this node's clock reads about 10 minutes behind")
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("one JSON document");

    // A's own clock is in step with... its one peer, B, whose word it has to take: with a
    // single peer the figure is that peer's (the docs say so).
    let theirs = json(
        db.path(),
        &["publish", "--title", "Oak stool", "--price", "5", "--currency", "EUR", "--category", "home"],
    );
    let theirs = theirs["id"].as_str().expect("an id").to_owned();
    wait("B's stool on A", || a.run(&["show", &theirs]).status.success().then_some(()));
    // The stool is stored before its date is noted: wait for the estimate.
    let a_clock = wait("A to date B's stool", || {
        let c = json(da.path(), &["status"])["network"]["clock"].clone();
        c["skew_ms"].as_i64().is_some().then_some(c)
    });
    assert!(a_clock["skew_ms"].as_i64().is_some_and(|s| (590_000..610_000).contains(&s)), "{a_clock}");
    b.stop();
    a.stop();
}

#[test]
fn a_listing_signed_while_the_clock_ran_ahead_is_explained_once_it_is_right() {
    let Some(lib) = faketime() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let ahead = skewed(dir.path(), None, &lib, "+2h");
    let listing = json(
        dir.path(),
        &["publish", "--title", "Walnut desk", "--price", "80", "--currency", "EUR", "--category", "home"],
    );
    let id = listing["id"].as_str().expect("an id").to_owned();
    ahead.stop();
    // The clock set right: the next revision is dated after the last, 2 hours ahead.
    let node = NodeProcess::start(dir.path(), None);
    let out = text(&haggle(dir.path(), &["update", &id[..10], "--price", "75"]));
    assert!(
        out.contains(
            "Note: this revision is dated in 2 hours, more than 5 minutes ahead of this node's clock"
        ),
        "{out}"
    );
    assert!(out.contains("haggle retract"), "{out}");
    let mine = text(&haggle(dir.path(), &["listings"]));
    assert!(
        mine.contains("Note: 1 listing is dated more than 5 minutes ahead of this node's clock"),
        "{mine}"
    );
    // Retracted and published again, it is dated now, and nothing more is said.
    assert!(haggle(dir.path(), &["retract", &id[..10]]).status.success());
    let again = text(&haggle(
        dir.path(),
        &["publish", "--title", "Walnut desk", "--price", "75", "--currency", "EUR", "--category", "home"],
    ));
    assert!(!again.contains("ahead of this node's clock"), "{again}");
    let mine = text(&haggle(dir.path(), &["listings"]));
    assert!(
        !mine.contains("Note: 1 listing is dated"),
        "the retracted one is closed, the new one in step: {mine}"
    );
    node.stop();
}

#[test]
fn an_offer_from_a_clock_ahead_says_why_it_waits() {
    let Some(lib) = faketime() else { return };
    let (da, dc) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let a = NodeProcess::start(da.path(), None);
    let c = skewed(dc.path(), Some(&a.addr), &lib, "+10m");
    c.wait_mesh();
    let listing = json(
        da.path(),
        &["publish", "--title", "Copper kettle", "--price", "20", "--currency", "EUR", "--category", "home"],
    );
    let id = listing["id"].as_str().expect("an id").to_owned();
    wait("C to hold the kettle", || c.run(&["show", &id[..10]]).status.success().then_some(()));
    // C's offer is dated 10 minutes ahead of A's clock: A refuses it for now, and says why.
    let offer = text(&haggle(dc.path(), &["offer", &id[..10], "--price", "15"]));
    assert!(
        offer.contains("saved; the last try did not deliver it (why is under it), and it is tried again"),
        "{offer}"
    );
    assert!(offer.contains("last try: dated"), "{offer}");
    let thread = json(dc.path(), &["offers"])["threads"][0]["thread"].as_str().expect("a thread").to_owned();
    let error = wait("the refusal's reason on C", || {
        let t = json(dc.path(), &["show", &thread]);
        let m = &t["messages"][0];
        (m["delivery"] == "queued").then(|| m["delivery_error"].as_str().map(str::to_owned)).flatten()
    });
    // 600 s, less the time the offer took to sign and travel.
    assert!(error.starts_with("dated 59") || error.starts_with("dated 60"), "{error}");
    assert!(error.contains("ahead of the clock of the node that checked it"), "{error}");
    let shown = text(&haggle(dc.path(), &["show", &thread]));
    assert!(shown.contains(&format!("last try: {error}")), "{shown}");
    // A blames C for nothing.
    let peers = json(da.path(), &["peers"]);
    assert!(peers["peers"].as_array().expect("peers").iter().all(|p| p["rejected"] == 0), "{peers}");
    c.stop();
    a.stop();
}

#[test]
fn a_node_ahead_is_told_as_it_connects_before_it_publishes() {
    let Some(lib) = faketime() else { return };
    let (da, db) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let a = NodeProcess::start(da.path(), None);
    let b = skewed(db.path(), Some(&a.addr), &lib, "+10m");
    // Nothing is published anywhere: the sync B starts on connecting carries both clocks.
    let clock = wait("B to compare its clock with A's", || {
        let c = json(db.path(), &["status"])["network"]["clock"].clone();
        (c["peers"] == 1).then_some(c)
    });
    let skew = clock["skew_ms"].as_i64().expect("an estimate");
    assert!((590_000..610_000).contains(&skew), "10 minutes ahead: {clock}");
    assert_eq!(clock["refused_ahead"], 0, "{clock}");
    let status = text(&haggle(db.path(), &["status"]));
    assert!(
        status.contains("  clock         this node's clock reads about 10 minutes ahead of its peers' (going by 1 peer only), so either it or they are wrong"),
        "{status}"
    );
    // A, with only B to go by, reads the other way, as a guess too.
    let theirs = wait("A to compare its clock with B's", || {
        let c = json(da.path(), &["status"])["network"]["clock"].clone();
        (c["peers"] == 1).then_some(c)
    });
    assert!(theirs["skew_ms"].as_i64().is_some_and(|s| (-610_000..-590_000).contains(&s)), "{theirs}");
    // B's first listing comes with the warning: A refuses it (dated 10 minutes ahead).
    let out = text(&haggle(
        db.path(),
        &["publish", "--title", "Brass lamp", "--price", "9", "--currency", "EUR", "--category", "home"],
    ));
    assert!(out.contains("Note: this node's clock reads about 10 minutes ahead"), "{out}");
    b.stop();
    a.stop();
}
