//! End-to-end: the real `haggle` binary, three nodes as separate processes with their own data
//! dirs on 127.0.0.1. Every wait is bounded and waits on a condition.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use common::{NodeProcess, Watch, haggle, json, wait};

/// A node that dies right after storing a deal, before its listing's next revision (the fault
/// hook `HAGGLE_TEST_CRASH_AFTER_DEAL` aborts the process there: no cleanup, no flush, as a
/// power cut or `kill -9` would), comes back and writes the revision it owed.
#[test]
fn a_seller_killed_between_a_deal_and_its_next_revision_repairs_it_on_start() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db) = (root.path().join("a"), root.path().join("b"));
    let mut a = NodeProcess::start_with(&da, None, &[("HAGGLE_TEST_CRASH_AFTER_DEAL", "1")]);
    let b = NodeProcess::start(&db, Some(&a.addr));
    a.wait_mesh();
    b.wait_mesh();
    let listing = json(
        &da,
        &[
            "publish",
            "--title",
            "Garden chairs",
            "--price",
            "40",
            "--currency",
            "EUR",
            "--category",
            "home/garden",
            "--qty",
            "2",
        ],
    );
    let id = listing["id"].as_str().expect("id").to_owned();
    wait("B to hold the listing", || {
        let r = json(&db, &["search", "garden", "chairs"]);
        (r["total"] == 1).then_some(())
    });
    // A seller nobody rated, with a listing here, is not called a mistyped key (from a trial).
    let rep = String::from_utf8_lossy(&haggle(&db, &["reputation", &id[..10]]).stdout).into_owned();
    assert!(rep.contains("a seller nobody has rated; 1 listing here") && !rep.contains("mistyped"), "{rep}");
    // A small word is left out, and a typo's guess is said to be one.
    let out = haggle(&db, &["search", "a", "gardn", "chair"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No listing says \"gardn\"") && text.contains("Garden chairs"), "{text}");
    // A filter left nothing: the guess found words, and the words alone match.
    let out = haggle(&db, &["search", "gardn", "chair", "--kind", "giveaway"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("match nothing with the rest of this search"), "{text}");
    assert!(text.contains("run it without the filters"), "{text}");
    // A word with nothing near it: said once, and no filter is blamed.
    let out = haggle(&db, &["search", "xyzzyq", "--kind", "rental"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("No listing on offer says \"xyzzyq\", nor a word a letter or two from it (sold, closed and expired listings are not searched)."), "{text}");
    assert!(!text.contains("without the filters"), "{text}");
    // Text without spaces has no typo guessed, and is told how it is looked for (from an
    // international trial: `中古自転車` was told of "a letter or two").
    let text = String::from_utf8_lossy(&haggle(&db, &["search", "赤い自転車"]).stdout).into_owned();
    assert!(text.contains("No listing on offer says \"赤い自転車\" (sold, closed and expired listings are not searched). Text without spaces is looked for two characters at a time"), "{text}");
    // The notes follow the words as typed (from a trial: the second word's came first).
    let text = String::from_utf8_lossy(&haggle(&db, &["search", "gardn", "xyzzyq"]).stdout).into_owned();
    let at = |word: &str| text.find(&format!("says \"{word}\"")).unwrap_or_else(|| panic!("{word}: {text}"));
    assert!(at("gardn") < at("xyzzyq"), "{text}");
    let offer = json(&db, &["offer", &id[..10], "--price", "35"]);
    let thread = offer["thread"].as_str().expect("thread").to_owned();
    // A is connected: the command answers once A's node took the offer, not "queued".
    assert_eq!(offer["delivery"], "delivered", "{offer}");
    wait("A to receive the offer", || {
        let t = json(&da, &["offers"]);
        (t["threads"][0]["thread"] == thread.as_str()).then_some(())
    });
    // A accepts; B's node confirms; A stores the deal and dies before revising its listing.
    // The command waits for B's confirm, and A dies as the deal is made: its answer may be cut
    // off, but the accept was stored before it went out.
    let _ = haggle(&da, &["accept", &thread[..10]]);
    wait("A to die right after the deal", || a.child.try_wait().ok().flatten());
    let deal = wait("B to hold the deal", || {
        let d = json(&db, &["deals"]);
        (d["deals"].as_array().map(Vec::len) == Some(1))
            .then(|| d["deals"][0]["id"].as_str().map(str::to_owned))?
    });
    // One of two chairs: the deal says so (a trial's buyer could not tell a deal covered one).
    let said = String::from_utf8_lossy(&haggle(&db, &["deal", &deal[..10]]).stdout).into_owned();
    assert!(said.contains("terms     35.00 EUR for 1\n"), "{said}");

    // A comes back (without the fault): the deal is on its disk, and the revision follows.
    let a = NodeProcess::start(&da, None);
    let mine = wait("A's listing to show one chair left", || {
        let l = json(&da, &["listings"]);
        let entry = l["listings"].as_array()?.iter().find(|e| e["title"] == "Garden chairs")?.clone();
        (entry["quantity"] == 1).then_some(entry)
    });
    assert_eq!(mine["state"], "active", "{mine}");
    assert_eq!(json(&da, &["deals"])["deals"].as_array().map(Vec::len), Some(1));
    // Retracted, its words find nothing, and a search of one of them alone says so without
    // blaming "the rest of this search".
    let out = haggle(&da, &["retract", &id[..10]]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&haggle(&da, &["search", "chairs"]).stdout).into_owned();
    assert!(
        text.contains("No listing on offer says \"chairs\"")
            && text.contains("nor a word a letter or two from it"),
        "{text}"
    );
    assert!(!text.contains("the rest of this search"), "{text}");
    a.stop();
    b.stop();
}

/// A seller whose node died between a deal and its listing's next revision, and whose disk was
/// then restored from a backup taken before the offer, takes the thread back from the buyer's
/// node (`/haggle/party/1`), then the buyer's confirm, which it had refused a moment before
/// for want of that thread, and writes the revision the deal calls for. Before, the confirm
/// waited out its back-off (30 s when the party is connected) and this test timed out.
#[test]
fn a_seller_restored_from_before_a_deal_takes_the_deal_back_and_writes_its_revision() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db, backup) = (root.path().join("a"), root.path().join("b"), root.path().join("backup"));
    let a = NodeProcess::start(&da, None);
    let b = NodeProcess::start(&db, Some(&a.addr));
    a.wait_mesh();
    b.wait_mesh();
    let args = ["publish", "--title", "Garden chairs", "--price", "40", "--currency", "EUR"];
    let listing = json(&da, &[&args[..], &["--category", "home/garden", "--qty", "2"]].concat());
    let id = listing["id"].as_str().expect("id").to_owned();
    wait("B to hold the listing", || {
        (json(&db, &["search", "garden", "chairs"])["total"] == 1).then_some(())
    });
    // The backup, taken with A's node stopped, as OPERATIONS.md says.
    a.stop();
    let copied = Command::new("cp").arg("-a").arg(&da).arg(&backup).status().expect("cp");
    assert!(copied.success());
    // A accepts B's offer, B's node confirms, and A dies with the deal stored but not the
    // revision it calls for.
    let mut a = NodeProcess::start_with(&da, Some(&b.addr), &[("HAGGLE_TEST_CRASH_AFTER_DEAL", "1")]);
    a.wait_mesh();
    let offer = json(&db, &["offer", &id[..10], "--price", "35"]);
    let thread = offer["thread"].as_str().expect("thread").to_owned();
    wait("A to receive the offer", || {
        (json(&da, &["offers"])["threads"][0]["thread"] == thread.as_str()).then_some(())
    });
    let _ = haggle(&da, &["accept", &thread[..10]]);
    wait("A to die right after the deal", || a.child.try_wait().ok().flatten());
    wait("B to hold the deal", || {
        (json(&db, &["deals"])["deals"].as_array().map(Vec::len) == Some(1)).then_some(())
    });

    // A's disk is lost; the backup's db/ comes back. The confirm B still holds for A is
    // refused at once (the thread is not there); the thread comes back from B, and B sends
    // the confirm again soon after: the deal, then the revision.
    std::fs::remove_dir_all(da.join("db")).expect("remove db");
    let copied = Command::new("cp").arg("-a").arg(backup.join("db")).arg(da.join("db")).status().expect("cp");
    assert!(copied.success());
    let a = NodeProcess::start(&da, Some(&b.addr));
    wait("A's listing to show one chair left", || {
        let l = json(&da, &["listings"]);
        let entry = l["listings"].as_array()?.iter().find(|e| e["title"] == "Garden chairs")?.clone();
        (entry["quantity"] == 1).then_some(())
    });
    assert_eq!(json(&da, &["deals"])["deals"].as_array().map(Vec::len), Some(1));
    wait("B to learn of the revision", || (json(&db, &["show", &id[..10]])["quantity"] == 1).then_some(()));
    a.stop();
    b.stop();
}

/// Peak resident memory of process `pid`, in KiB (Linux `VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

/// Attack: one peer opening sync streams at full speed, each carrying a 4 MiB request (what
/// the protocol once allowed), to make the node buffer them all. The node reads at most 12
/// streams per connection and 256 KiB of each request (libp2p drops the rest unread): its peak
/// memory barely moves.
#[test]
fn a_peer_flooding_sync_streams_leaves_the_nodes_memory_within_its_bound() {
    use haggle_node::sync::SyncRequest;
    use haggle_node::wire::{Multiaddr, PeerId, Protocol};

    let root = tempfile::tempdir().expect("tempdir");
    let da = root.path().join("a");
    let a = NodeProcess::start(&da, None);
    let pid = a.child.id();
    let addr: Multiaddr = a.addr.parse().expect("an address");
    let Some(Protocol::P2p(peer)) = addr.iter().last() else { panic!("no peer id in {addr}") };
    let peer: PeerId = peer;
    // The peak so far is start-up's: reset it to the current size, so the flood's own is seen.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak (Linux, same user)");
    let before = peak_rss_kib(pid);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (answered, failed) = runtime.block_on(async {
        let rogue = haggle_tests::rogue::Rogue::spawn(addr.clone()).expect("a rogue");
        haggle_tests::wait_until("the rogue to connect", || async {
            rogue.connections().await.is_ok_and(|c| c.connected)
        })
        .await
        .expect("connected");
        // 40 requests at once, 4 MiB each: 160 MiB if the node read them all.
        let huge = SyncRequest::Push { objects: vec![vec![0x5A; 64 * 1024]; 64] };
        let answers = futures::future::join_all((0..40).map(|_| rogue.sync(peer, huge.clone()))).await;
        let answered = answers.iter().filter(|a| matches!(a, Ok(Ok(_)))).count();
        (answered, answers.len() - answered)
    });
    let after = peak_rss_kib(pid);
    let growth_mib = after.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "sync stream flood: {answered} answered, {failed} failed; peak RSS {before} -> {after} KiB (+{growth_mib:.1} MiB)"
    );
    assert_eq!(answered, 0, "no 4 MiB request is read, let alone answered");
    assert!(growth_mib < 48.0, "peak memory grew {growth_mib:.1} MiB");
    a.stop();
}

/// The thread id `haggle offer` printed (`Offer 1a2b3c4d5e: ...`).
fn id_of_offer(out: &Output) -> String {
    let said = String::from_utf8_lossy(&out.stdout);
    said.split_whitespace().nth(1).map(|id| id.trim_end_matches(':').to_owned()).unwrap_or_default()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn three_nodes_publish_search_and_negotiate_a_deal() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db, dc) = (root.path().join("a"), root.path().join("b"), root.path().join("c"));
    let a = NodeProcess::start(&da, None);
    let b = NodeProcess::start(&db, Some(&a.addr));
    let c = NodeProcess::start(&dc, Some(&b.addr));
    for n in [&a, &b, &c] {
        n.wait_mesh();
    }
    // C watches for what comes up within 10 km of a point 6 km from where the bike will be.
    let mut near_c = Watch::start_filtered(&dc, &["--around", "51.0,3.7", "--within", "10km"]);
    near_c.ready_with(&dc, &["--geohash", "51.0,3.7"]);
    let mut near_json = Watch::start_filtered(&dc, &["--json", "--around", "51.0,3.7", "--within", "10km"]);
    near_json.line_with(&["\"event\":\"watching\""]);

    let listing = json(
        &da,
        &[
            "publish",
            "--title",
            "Folding bike",
            "--price",
            "150",
            "--currency",
            "EUR",
            "--category",
            "vehicles/bikes",
            "--tag",
            "folding",
            "--location",
            "Ghent",
            "--geohash",
            "51.054,3.717",
            "--qty",
            "1",
        ],
    );
    let id = listing["id"].as_str().expect("id").to_owned();
    assert_eq!(listing["geohash"], "u14dkw", "coordinates are published as the cell around them: {listing}");
    assert_eq!(listing["type"], "listing", "tagged as the API answers: {listing}");
    let found = wait("C to find the listing", || {
        let r = json(&dc, &["search", "folding", "bike", "--max-price", "200", "--currency", "EUR"]);
        (r["total"] == 1).then_some(r)
    });
    assert_eq!(found["hits"][0]["id"], id.as_str());
    // The watch around a place says how far the new listing is.
    near_c.line_with(&["Folding bike — 150.00 EUR, 6.4 km away"]);
    drop(near_c);
    // So does its --json form (it carried no distance).
    let line = near_json.line_with(&["\"title\":\"Folding bike\""]);
    let event: Value = serde_json::from_str(&line).expect("a JSON event");
    assert!(event["distance_m"].as_f64().is_some_and(|m| (6_000.0..7_000.0).contains(&m)), "{event}");
    drop(near_json);
    // By distance: within 10 km of a point 6 km away, each hit with its distance, and where the
    // search measured from; not within 2 km.
    let near = haggle(&dc, &["search", "folding", "--around", "51.0,3.7", "--within", "10km"]);
    let said = String::from_utf8_lossy(&near.stdout).into_owned();
    assert!(near.status.success(), "{}", stderr(&near));
    assert!(said.contains("Folding bike") && said.contains("Ghent, 6.4 km"), "{said}");
    assert!(said.contains("Within 10 km of 51.00000,3.70000"), "{said}");
    let far = json(&dc, &["search", "folding", "--around", "51.0,3.7", "--within", "2km"]);
    assert_eq!(far["total"], 0, "{far}");
    // Nothing within 2 km: the answer says how far the nearest match is, and what finds it.
    let far = haggle(&dc, &["search", "folding", "--around", "51.0,3.7", "--within", "2km"]);
    let said = String::from_utf8_lossy(&far.stdout).into_owned();
    assert!(said.contains("The nearest that matches is 6.4 km away: --within 7km finds it."), "{said}");
    // A word no listing uses is the reason, not the distance.
    let none = haggle(&dc, &["search", "zqxjv", "--around", "51.0,3.7", "--within", "2km"]);
    let said = String::from_utf8_lossy(&none.stdout).into_owned();
    assert!(said.contains("No listing on offer says \"zqxjv\"") && !said.contains("on the map"), "{said}");
    let out = haggle(&dc, &["search", "bike", "--within", "5km"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--within is measured from a place: give one with --around"),
        "{}",
        stderr(&out)
    );
    let out = haggle(&dc, &["search", "bike", "--around", "Ghent"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`Ghent` has capitals")
            && stderr(&out).contains("place names are not looked up"),
        "{}",
        stderr(&out)
    );

    // An offer in another currency than the listing's is sent, with a note in case it was a slip.
    let out = haggle(&dc, &["offer", &id[..8], "--price", "160", "--currency", "USD"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(said.contains("you offered in USD; the listing asks in EUR"), "{said}");
    let slip = said.split("haggle withdraw ").nth(1).and_then(|rest| rest.split('`').next());
    let slip = slip.expect("the note names the thread to withdraw");
    // The seller is told too, in the thread and in the list of offers (a trial's seller
    // accepted 45 USD on a listing at 50 EUR without a word).
    let shown = wait("the offer in USD to reach the seller", || {
        let out = haggle(&da, &["show", slip]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert!(
        shown.contains(
            "currency  these terms are in USD, your listing's price in EUR: accepting agrees to USD"
        ),
        "{shown}"
    );
    let offers = String::from_utf8_lossy(&haggle(&da, &["offers"]).stdout).into_owned();
    assert!(offers.contains("160.00 USD (listing: EUR)"), "{offers}");
    let theirs = String::from_utf8_lossy(&haggle(&dc, &["show", slip]).stdout).into_owned();
    assert!(theirs.contains("these terms are in USD, the listing's price in EUR"), "{theirs}");
    let out = haggle(&dc, &["withdraw", slip]);
    assert!(out.status.success(), "{}", stderr(&out));
    // So is a price of 0 typed for a listing that asks a price.
    let out = haggle(&dc, &["offer", &id[..8], "--price", "0"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(said.contains("these terms have a price of 0 (free); the listing asks "), "{said}");
    let slip = said.split("haggle withdraw ").nth(1).and_then(|rest| rest.split('`').next());
    let out = haggle(&dc, &["withdraw", slip.expect("the note names the thread to withdraw")]);
    assert!(out.status.success(), "{}", stderr(&out));
    // So is a price ten times the asking one or more (a zero too many).
    let out = haggle(&dc, &["offer", &id[..8], "--price", "1500"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(said.contains("you offered 1500.00 EUR, 10 times what the listing asks (150.00 EUR)"), "{said}");
    let slip = said.split("haggle withdraw ").nth(1).and_then(|rest| rest.split('`').next());
    let slip = slip.expect("the note names the thread to withdraw");
    // A second offer while that one is open is noted (a trial's buyer opened two unwarned).
    let out = haggle(&dc, &["--json", "offer", &id[..8], "--price", "140"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains(&format!("you have 1 other offer open on this listing too: {slip} (1500.00 EUR)")),
        "{}",
        stderr(&out)
    );
    let second: Value = serde_json::from_slice(&out.stdout).expect("json");
    let second = second["thread"].as_str().expect("the thread").to_owned();
    for thread in [slip, &second[..10]] {
        let out = haggle(&dc, &["withdraw", thread]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // And under a tenth of it (a decimal point in the wrong place): it went without a word.
    let out = haggle(&dc, &["offer", &id[..8], "--price", "1.5"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        said.contains("you offered 1.50 EUR, under a tenth of what the listing asks (150.00 EUR)"),
        "{said}"
    );
    let slip = said.split("haggle withdraw ").nth(1).and_then(|rest| rest.split('`').next());
    let out = haggle(&dc, &["withdraw", slip.expect("the note names the thread to withdraw")]);
    assert!(out.status.success(), "{}", stderr(&out));
    // And the price of one offered for several.
    let honey = json(
        &da,
        &[
            "publish",
            "--title",
            "Heather honey",
            "--price",
            "8",
            "--currency",
            "EUR",
            "--category",
            "food",
            "--qty",
            "10",
        ],
    );
    let honey = honey["id"].as_str().expect("id").to_owned();
    wait("C to hold the honey", || haggle(&dc, &["show", &honey[..10]]).status.success().then_some(()));
    let out = haggle(&dc, &["offer", &honey[..10], "--price", "8", "--qty", "3"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        said.contains("--price is for all 3 together: you offered 8.00 EUR for 3, and the listing asks 8.00 EUR each (24.00 EUR for 3)"),
        "{said}"
    );
    let slip = said.split("haggle withdraw ").nth(1).and_then(|rest| rest.split('`').next());
    let out = haggle(&dc, &["withdraw", slip.expect("the note names the thread to withdraw")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = haggle(&dc, &["offer", &honey[..10], "--price", "22", "--qty", "3"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Note:"), "a haggle is no slip");
    let out = haggle(&dc, &["withdraw", &id_of_offer(&out)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A counter for fewer says how many (a trial's buyer, who had asked for 2, read "8.00 EUR"
    // and could not tell it was for one); a deal's terms are tested with the garden chairs.
    let jars = id_of_offer(&haggle(&dc, &["offer", &honey[..10], "--price", "15", "--qty", "2"]));
    wait("A to hold the offer for two jars", || haggle(&da, &["show", &jars]).status.success().then_some(()));
    let out = haggle(&da, &["counter", &jars, "--qty", "1", "--price", "8"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = wait("C to hold the counter for one", || {
        let said = String::from_utf8_lossy(&haggle(&dc, &["show", &jars]).stdout).into_owned();
        said.contains("countered").then_some(said)
    });
    assert!(shown.contains("terms     8.00 EUR for 1 (proposed by them"), "{shown}");
    assert!(shown.contains("15.00 EUR for 2") && shown.contains("8.00 EUR for 1"), "the timeline: {shown}");
    let out = haggle(&dc, &["decline", &jars]);
    assert!(out.status.success(), "{}", stderr(&out));
    // On a listing priced per day the quantity counts days: the note and the offers table
    // say so (it read `45.00 EUR/day for 3`, and the table `15.00 EUR for 3`).
    let trailer = json(
        &da,
        &[
            "publish",
            "--kind",
            "rental",
            "--title",
            "Cargo trailer",
            "--price",
            "15",
            "--currency",
            "EUR",
            "--per",
            "day",
            "--qty",
            "3",
            "--category",
            "vehicles/trailers",
        ],
    );
    let trailer = trailer["id"].as_str().expect("id").to_owned();
    wait("C to hold the trailer", || haggle(&dc, &["show", &trailer[..10]]).status.success().then_some(()));
    let out = haggle(&dc, &["offer", &trailer[..10], "--price", "15", "--qty", "3"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        said.contains("--price is for all 3 days together: you offered 15.00 EUR for 3 days, and the listing asks 15.00 EUR/day (45.00 EUR for 3 days)"),
        "{said}"
    );
    let offers = String::from_utf8_lossy(&haggle(&dc, &["offers"]).stdout).into_owned();
    assert!(offers.contains("15.00 EUR for 3 days"), "{offers}");
    let out = haggle(&dc, &["withdraw", &id_of_offer(&out)]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A watches: each event is one line saying what it is, with a note's text and who signed.
    let mut watch_a = Watch::start(&da);
    watch_a.ready(&da);
    // C watches a search: a listing it matched is shown when retracted too, though it has left
    // the index (the node judges the closed revision by the search's words and filters).
    let mut watch_c = Watch::start_filtered(&dc, &["probe", "--category", "misc"]);
    watch_c.ready(&dc);
    // The same with --json: each listing event says what the text form says, as a word. Its
    // first line says the stream is open (no probe needed: what follows is not missed).
    let mut watch_j = Watch::start_filtered(&dc, &["--json", "probe", "--category", "misc"]);
    let watching: Value =
        serde_json::from_str(&watch_j.line_with(&["\"event\":\"watching\""])).expect("JSON");
    assert!(watching["at"].as_u64().is_some_and(|at| at > 1_700_000_000_000), "{watching}");
    let lamp = json(
        &da,
        &["publish", "--title", "Probe lamp", "--price", "9", "--currency", "EUR", "--category", "misc"],
    );
    let author = lamp["author"].as_str().expect("author").to_owned();
    let lamp = lamp["id"].as_str().expect("id").to_owned();
    // Whose it is, by the end of the key (from a trial: a copy by another seller read alike).
    let by = format!(", by 12D3KooW…{}", &author[author.len() - 6..]);
    watch_c.line_with(&["new listing:", &lamp[..10], "Probe lamp", &by]);
    // An update that takes it out of the search says so, and one that brings it back too.
    assert!(haggle(&da, &["update", &lamp[..10], "--category", "home"]).status.success());
    watch_c.line_with(&["no longer matches:", "Probe lamp"]);
    assert!(haggle(&da, &["update", &lamp[..10], "--category", "misc"]).status.success());
    watch_c.line_with(&["now matches:", "Probe lamp"]);
    assert!(haggle(&da, &["retract", &lamp[..10]]).status.success());
    watch_c.line_with(&["retracted:", "Probe lamp"]);
    drop(watch_c);
    let keys: std::collections::BTreeSet<String> =
        ["new_listing", "no_longer_matches", "now_matches", "retracted"]
            .into_iter()
            .map(|change| {
                let line =
                    watch_j.line_with(&[&format!("\"change\":\"{change}\""), "\"title\":\"Probe lamp\""]);
                let event: Value = serde_json::from_str(&line).expect("one JSON object per line");
                assert_eq!(event["event"], "listing_stored", "{event}");
                assert!(
                    event["at"].as_u64().is_some_and(|at| at > 1_700_000_000_000),
                    "when it came: {event}"
                );
                event["key"].as_str().expect("the listing's key").to_owned()
            })
            .collect();
    assert_eq!(keys.len(), 1, "one listing, every revision: {keys:?}");
    let offer = json(&dc, &["offer", &id[..8], "--price", "120", "--message", "Cash on pickup?"]);
    let thread = offer["thread"].as_str().expect("thread").to_owned();
    // The delivery of C's offer names its thread in C's JSON watch.
    watch_j.line_with(&["\"event\":\"delivery_changed\"", &format!("\"thread\":\"{thread}\"")]);
    watch_a.line_with(&[
        &format!("offer received in thread {}", &thread[..10]),
        "on Folding bike (120.00 EUR): \"Cash on pickup?\"",
        "(haggle show",
    ]);
    wait("A to receive the offer", || {
        let t = json(&da, &["offers"]);
        t["threads"].as_array()?.iter().any(|t| t["thread"] == thread.as_str()).then_some(())
    });
    let countered = json(&da, &["counter", &thread[..10], "--price", "135"]);
    assert_eq!(countered["state"], "countered");
    // Its delivery says what went where, not a bare message id.
    watch_a.line_with(&[&format!("your counter in thread {} on Folding bike: delivered", &thread[..10])]);
    wait("C to receive the counter", || {
        let t = json(&dc, &["show", &thread]);
        (t["type"] == "thread" && t["state"] == "countered").then_some(())
    });
    let accepted = json(&dc, &["accept", &thread[..10]]);
    // A deal once A's node confirms: the command waits for the accept's delivery, so the confirm
    // may be back already.
    assert!(matches!(accepted["state"].as_str(), Some("confirming" | "accepted")), "{accepted}");
    // The accept's delivery names its thread whether the deal is made by then or not (and the
    // deal once it is).
    let messages = accepted["messages"].as_array().cloned().unwrap_or_default();
    let accept = messages.iter().find(|m| m["kind"] == "accept").expect("the accept");
    let accept_id = accept["id"].as_str().expect("its id").to_owned();
    let delivered = watch_j.line_with(&[
        "\"event\":\"delivery_changed\"",
        &format!("\"id\":\"{accept_id}\""),
        "\"state\":\"delivered\"",
    ]);
    assert!(delivered.contains(&format!("\"thread\":\"{thread}\"")), "{delivered}");
    drop(watch_j);
    let deals_a = wait("A to confirm and hold the deal", || {
        let d = json(&da, &["deals"]);
        (d["deals"].as_array().map(Vec::len) == Some(1)).then_some(d)
    });
    let deals_c = wait("C to receive the confirm", || {
        let d = json(&dc, &["deals"]);
        (d["deals"].as_array().map(Vec::len) == Some(1)).then_some(d)
    });
    assert_eq!(deals_a["deals"][0]["signed"], deals_c["deals"][0]["signed"], "both sides hold the same deal");
    assert_eq!(deals_a["deals"][0]["terms"]["price"]["display"], "135.00 EUR");

    // Human output too.
    let out = haggle(&da, &["deals"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("135.00 EUR"));

    // After the handshake: A says how to pay, C pays, A ships, C receives.
    let deal = deals_a["deals"][0]["id"].as_str().expect("deal id").to_owned();
    let d = &deal[..10];
    let out = haggle(&da, &["pay-request", d]);
    assert_eq!(out.status.code(), Some(2), "a method is required");
    assert!(stderr(&out).contains("--iban"), "{}", stderr(&out));
    // A blank reference is a slip, said before anything is signed (a trial's was signed).
    let out = haggle(&da, &["pay-request", d, "--iban", "BE71-0961-2345-6769", "--reference", "  "]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--reference is blank"), "{}", stderr(&out));
    let out = haggle(&da, &["pay-request", d, "--iban", "BE71 0961 2345 6768"]);
    assert!(!out.status.success() && stderr(&out).contains("check digits"), "{}", stderr(&out));
    let stage = |dir: &Path| json(dir, &["deal", d])["stage"].as_str().unwrap_or_default().to_owned();
    json(&da, &["pay-request", d, "--iban", "be71096123456769", "--reference", "Stove 7"]);
    wait("C to learn how to pay", || (stage(&dc) == "payment_requested").then_some(()));
    let shown = String::from_utf8_lossy(&haggle(&dc, &["deal", d]).stdout).to_string();
    assert!(shown.contains("pay by    iban: BE71 0961 2345 6769, reference \"Stove 7\""), "{shown}");
    // A script reads the IBAN and the reference apart (a trial had to take `details` apart).
    let payment = &json(&dc, &["deal", d])["payment"];
    assert_eq!(
        (&payment["iban"], &payment["reference"]),
        (&serde_json::json!("BE71 0961 2345 6769"), &serde_json::json!("Stove 7"))
    );
    assert!(shown.contains("next      your step: pay, then say so (haggle paid "), "{shown}");
    let waiting = String::from_utf8_lossy(&haggle(&da, &["deal", d]).stdout).to_string();
    assert!(waiting.contains("next      waiting for the buyer to pay and say so"), "{waiting}");
    assert!(
        shown.contains("(you)") && shown.lines().any(|l| l.starts_with("  buyer") && l.ends_with("(you)")),
        "{shown}"
    );
    // The watch says how to pay, and that a second request replaces the first (found in a
    // trial: four requests with four IBANs read the same).
    let first = format!("deal {d}: payment request by you: BE71 0961 2345 6769, reference \"Stove 7\"; now");
    watch_a.line_with(&[&first]);
    json(&da, &["pay-request", d, "--iban", "BE71 0961 2345 6769", "--reference", "Stove 7, blue"]);
    watch_a.line_with(&[&format!(
        "deal {d}: payment request by you: BE71 0961 2345 6769, reference \"Stove 7, blue\" (it replaces the earlier request); now"
    )]);
    wait("C to learn the corrected request", || {
        json(&dc, &["deal", d])["payment"]["details"]
            .as_str()
            .is_some_and(|p| p.contains("Stove 7, blue"))
            .then_some(())
    });
    let wrong = haggle(&dc, &["shipped", d]);
    assert!(
        stderr(&wrong).contains("the seller signs this step, and you are the buyer"),
        "{}",
        stderr(&wrong)
    );
    json(&dc, &["paid", d, "--reference", "transfer 1 Dec"]);
    wait("A to learn C paid", || (stage(&da) == "paid").then_some(()));
    // By the other party's short key (or the name A gave it), as the deal's own line names it.
    let paid = watch_a.line_with(&[&format!("deal {d}: paid by "), "; now paid"]);
    assert!(paid.contains("paid by 12D3KooW…"), "{paid}");
    // A dispute stands beside the stage: the watch's line for the next step says so.
    json(&dc, &["dispute", d, "--reason", "Is it on its way?"]);
    wait("A to learn of the dispute", || json(&da, &["deal", d])["disputed"].as_bool().filter(|d| *d));
    // Found in a trial: a second dispute went by without a word.
    let again = haggle(&dc, &["dispute", d, "--reason", "Still nothing"]);
    let said = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(said.contains("Note: this is your dispute number 2 on this deal"), "{said}");
    // The seller's view says what the parties can do about it (a trial read the unchanged next
    // line as if the dispute had done nothing).
    let shown = String::from_utf8_lossy(&haggle(&da, &["deal", d]).stdout).into_owned();
    assert!(
        shown.contains(
            "dispute   the other party opened a dispute (its reason is in the timeline): talk it through"
        ),
        "{shown}"
    );
    json(&da, &["shipped", d, "--tracking", "bpost 3232"]);
    watch_a.line_with(&[&format!("deal {d}: shipped by you; now shipped, disputed")]);
    wait("C to learn A shipped", || (stage(&dc) == "shipped").then_some(()));
    let early = haggle(&dc, &["feedback", d, "positive"]);
    assert!(!early.status.success() && stderr(&early).contains("can be rated once"), "{}", stderr(&early));
    json(&dc, &["received", d]);
    wait("A to learn C received it", || (stage(&da) == "completed").then_some(()));
    let received = watch_a.line_with(&[&format!("deal {d}: received by "), "; now completed"]);
    assert!(received.contains("received by 12D3KooW…"), "{received}");
    let out = String::from_utf8_lossy(&haggle(&da, &["deals"]).stdout).to_string();
    assert!(out.contains("completed"), "{out}");
    // Each of the seller's own steps says it reached the buyer's node (the answer of the step's
    // command said so too, or that it was queued while the nodes were not connected).
    let timeline = wait("A's steps to read delivered", || {
        let t = String::from_utf8_lossy(&haggle(&da, &["deal", d]).stdout).to_string();
        (t.contains("payment request [delivered]") && t.contains("shipped [delivered]  bpost 3232"))
            .then_some(t)
    });
    for line in ["paid  transfer 1 Dec", "them  received"] {
        assert!(timeline.contains(line), "{line} in {timeline}");
    }
    let steps = json(&dc, &["deal", d])["timeline"].as_array().cloned().unwrap_or_default();
    let mine = |step: &str| {
        steps.iter().find(|s| s["step"] == step).map(|s| (s["by"].clone(), s["delivery"].clone()))
    };
    assert_eq!(mine("paid").map(|(by, _)| by), Some("me".into()), "{steps:?}");
    let paid = mine("paid").map(|(_, delivery)| delivery).unwrap_or_default();
    assert!(
        ["queued", "sent", "delivered"].contains(&paid.as_str().unwrap_or("")),
        "as for messages: {paid}"
    );
    assert_eq!(mine("shipped"), Some(("them".into(), Value::Null)), "no delivery for the other's: {steps:?}");
    assert!(timeline.contains("rate it   haggle feedback"), "{timeline}");

    // Both rate the deal; B, which never saw it, checks the ratings and shows A's reputation.
    let (key_a, key_c) =
        (json(&da, &["status"])["peer_id"].clone(), json(&dc, &["status"])["peer_id"].clone());
    let (key_a, key_c) = (key_a.as_str().expect("a key"), key_c.as_str().expect("a key"));
    let out = haggle(&dc, &["feedback", d, "great"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("positive"), "{}", stderr(&out));
    // Found in a trial: blank text was dropped without a word, from a rating signed once.
    let blank = haggle(&dc, &["feedback", d, "positive", "--text", "   "]);
    assert_eq!(blank.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&blank.stderr).contains("--text is blank"), "{blank:?}");
    // Found in a trial: a running watch kept showing keys for names given after it started,
    // and its owner's own key where `you` was meant. Names are read again once 2 s old: the
    // rating is made once that much time has passed since the name was given.
    let named = std::time::Instant::now();
    json(&da, &["name", key_c, "Carol"]);
    wait("the watch's names to be 2 s old", || {
        (named.elapsed() > std::time::Duration::from_millis(2_500)).then_some(())
    });
    let rated = json(&dc, &["feedback", d, "positive", "--text", "Exactly as described, quick handover"]);
    assert_eq!(rated["feedback"][0]["rating"], "positive", "{rated}");
    assert_eq!(rated["may_rate"], false);
    let shown = json(&dc, &["show", d]);
    assert_eq!(shown["type"], "deal", "a deal's id shows the deal: {shown}");
    let rating_id = rated["feedback"][0]["id"].as_str().expect("a feedback id").to_owned();
    let one = json(&dc, &["show", &rating_id[..10]]);
    assert_eq!((one["type"].as_str(), one["rating"].as_str()), (Some("feedback"), Some("positive")), "{one}");
    let again = haggle(&dc, &["feedback", d, "negative"]);
    assert!(!again.status.success() && stderr(&again).contains("already rated"), "{}", stderr(&again));
    json(&da, &["feedback", d, "positive", "--text", "Paid on time"]);
    watch_a.line_with(&["feedback: Carol rated you positive", &d[..10]]);
    watch_a.line_with(&["feedback: you rated Carol positive", &d[..10]]);
    let seen = wait("B to hold C's rating of A", || {
        let r = json(&db, &["reputation", key_a]);
        (r["raw"]["positive"] == 1.0).then_some(r)
    });
    assert_eq!(seen["feedback"][0]["text"], "Exactly as described, quick handover");
    assert_eq!(seen["feedback"][0]["author"], key_c);
    assert_eq!(seen["feedback"][0]["as"], "seller", "B holds the listing: A sold");
    assert_eq!(seen["trusted"], false, "B traded with neither: {seen}");
    // B holds the ratings of A and C's deal, not the deal: showing it says so and names them.
    let out = haggle(&db, &["show", d]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("only their ratings of it reached this node"), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("haggle show {}", &rating_id[..10])), "{}", stderr(&out));
    let human = String::from_utf8_lossy(&haggle(&db, &["reputation", key_a]).stdout).to_string();
    assert!(human.contains("1 positive, 0 neutral, 0 negative"), "{human}");
    assert!(human.contains("RATING    AS") && human.contains("positive  seller"), "{human}");
    // On C's own node, C's positive rating of A counts fully: A is trusted there.
    let own = json(&dc, &["reputation", key_a]);
    assert_eq!(own["trusted"], true, "{own}");
    assert_eq!(own["web_of_trust"]["positive"], 1.0, "{own}");
    let by_listing = json(&dc, &["reputation", &id[..8]]);
    assert_eq!(by_listing["key"], key_a);
    // Without a key: the owner's own, as others' nodes see it.
    let mine = json(&da, &["reputation"]);
    assert_eq!(
        (&mine["key"], mine["raw"]["positive"].as_f64()),
        (&serde_json::json!(key_a), Some(1.0)),
        "{mine}"
    );
    let shown = String::from_utf8_lossy(&haggle(&dc, &["show", &id[..8]]).stdout).to_string();
    assert!(shown.contains("rep       1 positive, 0 neutral, 0 negative"), "{shown}");
    let out = haggle(&dc, &["reputation", "no-such-thing"]);
    assert!(!out.status.success() && stderr(&out).contains("not a key"), "{}", stderr(&out));

    c.stop();
    b.stop();
    a.stop();
    // A's watch waits for its node to run again (a_watch_outlives_its_nodes_restart...).
    drop(watch_a);
}

#[test]
fn errors_say_what_went_wrong_with_the_right_exit_code() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("n");

    // Exit 3: no node answers, so a script knows to start one or try later.
    let out = haggle(&dir, &["status"]);
    assert_eq!(out.status.code(), Some(3));
    // The directory does not exist: perhaps a mistyped --data-dir.
    assert!(
        stderr(&out).contains("no node is running")
            && stderr(&out).contains("the directory does not exist")
            && stderr(&out).contains(&format!("haggle --data-dir {} node", dir.display())),
        "{}",
        stderr(&out)
    );
    std::fs::create_dir_all(&dir).expect("data dir");
    let out = haggle(&dir, &["status"]);
    assert!(
        stderr(&out).contains(&format!("start one with `haggle --data-dir {} node`", dir.display())),
        "{}",
        stderr(&out)
    );
    // With --json, the error is one JSON document on stderr, as the API gives it, and stdout is
    // empty; a usage mistake the argument parser finds is reported the same way.
    let out = haggle(&dir, &["--json", "status"]);
    let error: Value = serde_json::from_str(stderr(&out).trim()).expect("one JSON document on stderr");
    assert_eq!((out.status.code(), &error["error"]["code"]), (Some(3), &Value::from("no_node")));
    assert!(
        error["error"]["message"].as_str().is_some_and(|m| m.contains("start one with `haggle --data-dir")),
        "{error}"
    );
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = haggle(&dir, &["offer", "abcdef1234", "--price", "ten", "--json"]);
    let error: Value = serde_json::from_str(stderr(&out).trim()).expect("one JSON document on stderr");
    assert_eq!((out.status.code(), &error["error"]["code"]), (Some(2), &Value::from("usage")));
    assert!(
        error["error"]["message"].as_str().is_some_and(|m| m.contains("`ten` is not an amount")),
        "{error}"
    );

    let out = haggle(&dir, &["publish"]);
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");
    // A flag the command does not take names those it does, not clap's `-- --sepa` tip.
    for json in [false, true] {
        let mut args = vec!["pay-request", "87b4b9", "--sepa", "BE71"];
        if json {
            args.push("--json");
        }
        let out = haggle(&dir, &args);
        assert_eq!(out.status.code(), Some(2));
        let said = stderr(&out);
        assert!(
            said.contains("haggle pay-request takes DEAL and --iban") && !said.contains("-- --sepa"),
            "{said}"
        );
        assert_eq!(said.trim().starts_with('{'), json, "{said}");
    }
    // A node that takes the connection and never answers: status says so within its 10 s, not
    // after a minute.
    let hung = root.path().join("hung");
    std::fs::create_dir_all(&hung).expect("mkdir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std::fs::write(hung.join("api.addr"), listener.local_addr().expect("addr").to_string()).expect("write");
    std::fs::write(hung.join("api.cookie"), "token").expect("write");
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        // Holds the one connection status makes, unanswered, until status has given up
        // (bounded: a minute at most).
        let held = listener.accept();
        let _ = finished.recv_timeout(std::time::Duration::from_secs(60));
        drop(held);
    });
    let out = haggle(&hung, &["status"]);
    let _ = done.send(());
    holder.join().expect("holder");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("did not answer within 10 s"), "{}", stderr(&out));
    // A data dir that is a file is named as the mistake, by every command.
    let file = root.path().join("a-file");
    std::fs::write(&file, "hi").expect("write");
    for args in [&["id"][..], &["status"]] {
        let out = haggle(&file, args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("is a file, not a directory"), "{}", stderr(&out));
    }
    // An empty HAGGLE_DATA_DIR is named as the mistake (clap blamed --data-dir, also when the
    // flag was given).
    for flag in [&[][..], &["--data-dir", "somewhere"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_haggle"))
            .env("HAGGLE_DATA_DIR", "")
            .args(flag)
            .arg("id")
            .output()
            .expect("run haggle");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("HAGGLE_DATA_DIR is set but empty"), "{}", stderr(&out));
    }
    // Under --json, as JSON (from a trial).
    let out = Command::new(env!("CARGO_BIN_EXE_haggle"))
        .env("HAGGLE_DATA_DIR", "")
        .args(["--json", "status"])
        .output()
        .expect("run haggle");
    let said: Value = serde_json::from_slice(&out.stderr).expect("one JSON document");
    assert_eq!((out.status.code(), &said["error"]["code"]), (Some(2), &Value::from("usage")), "{said}");
    // So is an empty HAGGLE_API_TOKEN with --api (it read as a wrong token, from a trial).
    let out = Command::new(env!("CARGO_BIN_EXE_haggle"))
        .env("HAGGLE_API_TOKEN", "")
        .args(["--api", "127.0.0.1:9", "status"])
        .output()
        .expect("run haggle");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("HAGGLE_API_TOKEN is set but empty"), "{}", stderr(&out));

    let node = NodeProcess::start(&dir, None);
    // -v on a client command says which node it asked and what it answered.
    let out = haggle(&dir, &["-v", "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("the node answered"), "{}", stderr(&out));
    assert!(!stderr(&haggle(&dir, &["status"])).contains("the node answered"), "quiet without -v");
    // A lone node says why it has no peers, and that it does not look on the local network.
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("no peers known") && said.contains("local discovery (mDNS) is off"), "{said}");
    // A second node refused for a port in use (the first one's API port) leaves its new data
    // dir private all the same.
    let taken = std::fs::read_to_string(dir.join("api.addr")).expect("the node's API address");
    let taken = taken.trim().trim_start_matches("http://").to_owned();
    let second = root.path().join("second");
    let out = haggle(
        &second,
        &["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--api-listen", &taken, "--no-mdns", "--no-upnp"],
    );
    assert!(!out.status.success(), "a port in use: {}", stderr(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&second).expect("the data dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", stderr(&out));
    }
    let out = haggle(
        &dir,
        &["publish", "--title", "Lamp", "--price", "12,5", "--currency", "EUR", "--category", "home"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("12,5"), "{}", stderr(&out));

    let out = haggle(&dir, &["publish", "--title", "Lamp", "--price", "12", "--category", "home"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("currency"), "{}", stderr(&out));

    // Exit 4: nothing matches the id; with --json, the node's code.
    let out = haggle(&dir, &["show", "ffffffffff"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("no object matches"), "{}", stderr(&out));
    let out = haggle(&dir, &["--json", "deal", "ffffffffff"]);
    let error: Value = serde_json::from_str(stderr(&out).trim()).expect("one JSON document on stderr");
    assert_eq!((out.status.code(), &error["error"]["code"]), (Some(4), &Value::from("not_found")));
    assert!(
        error["error"]["message"].as_str().is_some_and(|m| m.contains("haggle deals lists yours")),
        "{error}"
    );

    let out = haggle(&dir, &["show", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("at least 6"), "{}", stderr(&out));

    let out = haggle(&dir, &["renew", "ffffffffff", "--expires", "3y"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("duration"), "{}", stderr(&out));

    // Values are checked before any request: an overflowing duration, an unknown kind, a bad
    // currency are usage errors naming the value.
    let out = haggle(&dir, &["renew", "ffffffffff", "--expires", "99999999999w"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("too long"), "{}", stderr(&out));
    let out = haggle(&dir, &["update", "ffffffffff", "--goal", "50"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--goal cannot change: an auction's or campaign's kind, price and terms are set when it is published"), "{}", stderr(&out));
    assert!(stderr(&out).contains("haggle publish --from ffffffffff"), "{}", stderr(&out));
    // Not as the value's fault (a trial read "invalid value '30' for '--reserve'").
    assert!(!stderr(&out).contains("invalid value"), "{}", stderr(&out));
    let out = haggle(&dir, &["publish", "--kind", "lottery", "--title", "Lamp", "--category", "home"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("giveaway"), "the choices are listed: {}", stderr(&out));
    let out = haggle(&dir, &["search", "lamp", "--currency", "euros!"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("euros!"), "{}", stderr(&out));
    // A search too long for a URL is refused before it is sent (it used to panic in the HTTP
    // client), and the ending-soon order takes no other kind than auctions.
    let long = "a".repeat(100_000);
    let out = haggle(&dir, &["search", &long]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("at most 1000 characters, and this one is 100000"), "{}", stderr(&out));
    // Emoji or punctuation alone is no word: it would match everything, as an empty search.
    for nothing in ["🚲", "!!!"] {
        let out = haggle(&dir, &["search", nothing]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("has no word to look for"), "{}", stderr(&out));
    }
    let out = haggle(&dir, &["search", "--sort", "ending-soon", "--kind", "sell"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ending-soon lists running auctions only"), "{}", stderr(&out));
    // --ending-soon says the same, not the parser's "cannot be used with" (from a trial), takes
    // --kind auction, and names why another --sort does not go with it; watch refuses it
    // without reading it as a bad value.
    let out = haggle(&dir, &["search", "--ending-soon", "--kind", "rental"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("and the search asks for rental listings: drop one of the two"),
        "{}",
        stderr(&out)
    );
    assert!(haggle(&dir, &["search", "--ending-soon", "--kind", "auction"]).status.success());
    let out = haggle(&dir, &["search", "--ending-soon", "--sort", "price", "--currency", "EUR"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("it takes no other --sort"), "{}", stderr(&out));
    let out = haggle(&dir, &["watch", "--ending-soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--ending-soon: this is for haggle search")
            && !stderr(&out).contains("invalid value"),
        "{}",
        stderr(&out)
    );
    // A currency code no currency has is named even when giveaways match it, which they do
    // whatever the currency (a trial's `EUT` hid every priced sofa without a word).
    let args = ["publish", "--kind", "giveaway", "--title", "Old sofa", "--category", "home"];
    assert!(haggle(&dir, &args).status.success());
    let out = haggle(&dir, &["search", "sofa", "--currency", "EUT"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("Old sofa")
            && said.contains("Note: `EUT` is not a currency code this node knows (did you mean EUR?)"),
        "{said}"
    );
    // Under the results, as notes go.
    assert!(said.find("Old sofa") < said.find("Note: `EUT`"), "{said}");
    // A place no listing gives, and a key no listing is by, are said as such, not as any empty
    // search (from a trial: `--near gent` for Ghent, a key with one character changed).
    let out = haggle(&dir, &["search", "sofa", "--near", "gent"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("no listing's place says \"gent\""), "{said}");
    // A word no listing says is pointed to --near only when it is a listing's place (from a
    // trial: `sourdough`, whose listing had expired, was told to try --near).
    let args = [
        "publish",
        "--kind",
        "giveaway",
        "--title",
        "Garden chair",
        "--category",
        "home",
        "--location",
        "Ghent",
    ];
    assert!(haggle(&dir, &args).status.success());
    let out = haggle(&dir, &["search", "chair", "ghent"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("for a place, use --near PLACE"), "{said}");
    let out = haggle(&dir, &["search", "sourdough"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("No listings match.") && !said.contains("--near"), "{said}");
    let stranger = haggle_protocol::fixtures::key(9).public().to_string();
    let out = haggle(&dir, &["search", "sofa", "--seller", &stranger]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("this node holds no listing by that key"), "{said}");

    // A published listing is on disk: it survives kill -9 and a restart.
    let listing = json(
        &dir,
        &[
            "publish",
            "--title",
            "Desk lamp",
            "--price",
            "12",
            "--currency",
            "EUR",
            "--category",
            "home/lighting",
        ],
    );
    let id = listing["id"].as_str().expect("id").to_owned();
    node.kill_9();
    // Found in a trial: the address a node killed outright leaves behind, taken by another
    // program, answered `missing or wrong token` (or `HTTP 404`). Its database is not in use:
    // no node runs, and the client says so without asking that program.
    // It answers as a program with a token of its own would (the trial's `missing or wrong
    // token`), once; and (from a crash trial) one that answers 200 with JSON of its own was told
    // as "a response this command does not understand".
    for answer in [
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{}",
            r#"{"hello":1}"#
        ),
    ] {
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
        let taken = squatter.local_addr().expect("its address").to_string();
        // Not joined: a client that never asks leaves it waiting, and the test's process ends it.
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut conn, _) = squatter.accept().expect("a connection");
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            let _ = conn.write_all(answer.as_bytes());
        });
        std::fs::write(dir.join("api.addr"), &taken).expect("the stale address");
        let out = haggle(&dir, &["status"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("no node is running"), "{}", stderr(&out));
    }
    let node = NodeProcess::start(&dir, None);
    let shown = json(&dir, &["show", &id[..10]]);
    assert_eq!((&shown["type"], &shown["title"]), (&Value::from("listing"), &Value::from("Desk lamp")));
    // A state conflict is not a usage mistake: exit 1, with the reason.
    let out = haggle(&dir, &["offer", &id[..10], "--price", "10"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("your own listing"), "{}", stderr(&out));
    // A lifetime is renew's to change: update says so.
    let out = haggle(&dir, &["update", &id[..10], "--expires", "10d"]);
    assert_eq!(out.status.code(), Some(2));
    let renew = format!("to change it, haggle renew {} --expires 10d", &id[..10]);
    assert!(stderr(&out).contains(&renew), "{}", stderr(&out));
    // Of an id nothing matches, that is said instead (a renew of it would fail next).
    let out = haggle(&dir, &["update", "999999", "--expires", "10d"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    // A listing of less than a minute is published with a note (from a trial: `--expires 1s`
    // went out without a word).
    let out = haggle(
        &dir,
        &[
            "publish",
            "--title",
            "Brief candle",
            "--price",
            "3",
            "--currency",
            "EUR",
            "--category",
            "home",
            "--expires",
            "20s",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        said.contains("Note: it expires in ") && said.contains("may expire before other nodes store it"),
        "{said}"
    );
    // A minute asked is not less than a minute, whatever is left once it is signed (a trial's
    // `--expires 1m` was told so).
    let args =
        ["publish", "--title", "Minute candle", "--price", "3", "--currency", "EUR", "--category", "home"];
    let out = haggle(&dir, &[&args[..], &["--expires", "1m"]].concat());
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && !said.contains("less than a minute"), "{said}");
    assert_eq!(json(&dir, &["search", "lamp"])["total"], 1);
    let owner = node.peer_id.clone();
    node.stop();
    // Its key gone, the data dir's database is not quietly taken over by a new identity.
    let node_args =
        ["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--api-listen", "127.0.0.1:0", "--no-mdns", "--no-upnp"];
    std::fs::rename(dir.join("identity.key"), root.path().join("identity.key.moved")).expect("move the key");
    let out = haggle(&dir, &node_args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("holds a database but no identity key"), "{}", stderr(&out));
    assert!(!dir.join("identity.key").exists(), "no new key made");
    // `id` says the same (it suggested running a node once to create an identity).
    let out = haggle(&dir, &["id"]);
    assert!(
        stderr(&out).contains("holds a database but no identity key")
            && stderr(&out).contains("restore the key"),
        "{}",
        stderr(&out)
    );
    // Defect (found in a trial): another identity's key, restored from the wrong backup, was
    // taken silently, and the node read as a stranger over its owner's listings and deals.
    let other = dir.join("identity.key");
    std::fs::write(&other, "11".repeat(32)).expect("another key");
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("private");
    let out = haggle(&dir, &node_args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("belongs to {owner}: restore {owner}'s key")), "{}", stderr(&out));
    // The same when a bootstrap address names that other key (a trial restored a node's key
    // into a copy of a data dir that bootstraps to that node): the key is the mistake named.
    let stranger = String::from_utf8_lossy(&haggle(&dir, &["id"]).stdout).trim().to_owned();
    assert!(stranger.starts_with("12D3KooW") && stranger != owner, "{stranger}");
    let to_it = format!("/ip4/127.0.0.1/tcp/9/p2p/{stranger}");
    let out = haggle(&dir, &[&node_args[..], &["--bootstrap", &to_it]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("restore {owner}'s key")), "{}", stderr(&out));
    std::fs::rename(root.path().join("identity.key.moved"), dir.join("identity.key"))
        .expect("restore the key");
    // A node cannot bootstrap to itself.
    let me = String::from_utf8_lossy(&haggle(&dir, &["id"]).stdout).trim().to_owned();
    let own = format!("/ip4/127.0.0.1/tcp/9/p2p/{me}");
    let out = haggle(&dir, &[&node_args[..], &["--bootstrap", &own]].concat());
    assert_eq!(out.status.code(), Some(2), "a usage mistake like the others: {}", stderr(&out));
    assert!(stderr(&out).contains("names this node itself"), "{}", stderr(&out));
    // --api is a client's option: on `node` it is refused, not ignored.
    let out = haggle(&dir, &[&["--api", "127.0.0.1:9"][..], &node_args[..]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--api-listen"), "{}", stderr(&out));
    // A setting at 0 that would break the node is refused, naming the file.
    let config = dir.join("config.toml");
    let kept = std::fs::read_to_string(&config).expect("the node's config");
    // At the top: the file ends in tables, where the key would belong to the last one.
    let zero: String = kept.lines().filter(|l| !l.starts_with("max_listings")).collect::<Vec<_>>().join("\n");
    std::fs::write(&config, format!("max_listings = 0\n{zero}\n")).expect("write the config");
    let out = haggle(&dir, &node_args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("max_listings = 0 in") && stderr(&out).contains("at least 1"),
        "{}",
        stderr(&out)
    );
    // Found in a trial: a retry interval near the largest number panicked the running node's
    // event loop, leaving a process whose API said it had shut down. Past a day, refused.
    for (key, value, said) in [
        ("retry_secs", "18446744073709551615", "retry_secs = 18446744073709551615 in"),
        ("heartbeat_ms", "99999999999", "at most 60000"),
        ("redial_min_secs", "400", "redial_min_secs = 400 is over redial_max_secs = 300 (the default)"),
        // From a trial: the value not written is said to be the default's.
        ("redial_max_secs", "0", "redial_min_secs = 2 (the default) is over redial_max_secs = 0 in"),
        ("pow_bits", "40", "pow_bits = 40 in"),
    ] {
        let rest: String = kept.lines().filter(|l| !l.starts_with(key)).collect::<Vec<_>>().join("\n");
        std::fs::write(&config, format!("{key} = {value}\n{rest}\n")).expect("write the config");
        let out = haggle(&dir, &node_args);
        assert_eq!(out.status.code(), Some(2), "{key}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{key}: {}", stderr(&out));
    }
    // A bad address in the file is named with where it came from.
    let other: String = kept.lines().filter(|l| !l.starts_with("bootstrap")).collect::<Vec<_>>().join("\n");
    std::fs::write(&config, format!("bootstrap = [\"/ip4/127.0.0.1/tcp/7400\"]\n{other}\n")).expect("write");
    let out = haggle(&dir, &node_args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("must end in /p2p/<PeerId> (in ")
            && stderr(&out).contains("config.toml or --bootstrap)"),
        "{}",
        stderr(&out)
    );
    // A key the file cannot have is a usage mistake too (exit 2, as an out-of-range value).
    std::fs::write(&config, format!("no_such_setting = 1\n{kept}\n")).expect("write the config");
    let out = haggle(&dir, &node_args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not a valid haggle config"), "{}", stderr(&out));
    // A value of the wrong sort is said in words, not Rust's type names (from a trial).
    let without: String =
        kept.lines().filter(|l| !l.starts_with("max_listings")).collect::<Vec<_>>().join("\n");
    std::fs::write(&config, format!("max_listings = -5\n{without}\n")).expect("write the config");
    let out = haggle(&dir, &node_args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expected a whole number from 0 to") && !stderr(&out).contains("u64"),
        "{}",
        stderr(&out)
    );
    // An API address beyond this machine without api_public is a usage mistake too (it
    // exited 1, every other setting 2).
    let without: String = kept.lines().filter(|l| !l.starts_with("api ")).collect::<Vec<_>>().join("\n");
    std::fs::write(&config, format!("api = \"0.0.0.0:0\"\n{without}\n")).expect("write the config");
    let out = haggle(&dir, &["node", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not a loopback address"), "{}", stderr(&out));
    std::fs::write(&config, kept).expect("restore the config");

    let out = haggle(&dir, &["completions", "bash"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("haggle"));
}

#[test]
fn an_ambiguous_id_prefix_lists_the_candidates() {
    use haggle_protocol::fixtures::{key, live_listing, sign_now};
    use haggle_protocol::{Body, Listing};

    // Two listings whose ids share their first 6 hex characters: among a few thousand ids one
    // such pair is all but certain (birthday bound over 16.7 million prefixes).
    let mut seen = std::collections::HashMap::new();
    let (first, second, prefix) = (0..60_000u32)
        .find_map(|i| {
            let mut l = Listing { title: format!("Item {i}"), ..live_listing("x") };
            l.nonce[..4].copy_from_slice(&i.to_be_bytes());
            let object = sign_now(&key(5), Body::Listing(l));
            let prefix = object.id().to_hex()[..6].to_owned();
            seen.insert(prefix.clone(), object.clone()).map(|earlier| (earlier, object, prefix))
        })
        .expect("a shared 6-character prefix among 60,000 ids");

    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("n");
    {
        // The node's identity first: a database without its key is refused.
        std::fs::create_dir_all(&dir).expect("the data dir");
        haggle_protocol::keyfile::load_or_create(&dir.join("identity.key")).expect("an identity");
        let store = haggle_storage::Store::open(&dir).expect("open the store");
        for o in [&first, &second] {
            assert!(store.ingest(o.bytes(), haggle_storage::Durability::Flush).expect("ingest").is_new());
        }
    }
    let node = NodeProcess::start(&dir, None);
    let out = haggle(&dir, &["show", &prefix]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("matches several"), "{err}");
    assert!(err.contains(&first.id().to_hex()) && err.contains(&second.id().to_hex()), "{err}");
    node.stop();
}

/// Runs `haggle` with its standard output a pipe whose reading end is already closed, as in
/// `haggle search bike | head -1` once `head` has what it wants.
fn haggle_into_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let child = Command::new(env!("CARGO_BIN_EXE_haggle"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run haggle");
    child.wait_with_output().expect("haggle ends")
}

/// Defects: a closed pipe panicked (exit 101); messages leaked internals (milliseconds, minor
/// units, "quantity quantity 0", a u32 range, "no such endpoint"); output claimed what had not
/// happened ("announced to the network" with no peers, "expires in 90 days" on a closed
/// listing); a large offset suggested an even larger one.
#[test]
fn output_is_true_and_mistakes_are_told_in_the_users_terms() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("n");

    let out = haggle_into_closed_pipe(&dir, &["completions", "fish"]);
    assert_eq!(out.status.code(), Some(0), "a closed pipe is not an error: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    let node = NodeProcess::start(&dir, None);
    let lamp = ["--title", "Desk lamp", "--price", "12", "--currency", "EUR", "--category", "home/lighting"];
    let mut publish = vec!["publish"];
    publish.extend_from_slice(&lamp);
    let out = haggle(&dir, &publish);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("no peers yet") && !said.contains("announced"), "{said}");
    let out = haggle_into_closed_pipe(&dir, &["search", "lamp"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    // A town typed with the words finds nothing: the answer says places go with --near, when a
    // listing's place is that town (a word that is no place gets no such hint).
    let said = String::from_utf8_lossy(&haggle(&dir, &["search", "lamp", "ghent"]).stdout).into_owned();
    assert!(said.contains("No listings match.") && !said.contains("use --near PLACE"), "{said}");
    let mut placed = vec!["publish", "--title", "Reading light", "--price", "30", "--currency", "EUR"];
    placed.extend_from_slice(&[
        "--category",
        "home/lighting",
        "--location",
        "Ghent",
        "--geohash",
        "3.717,51.054",
    ]);
    let out = haggle(&dir, &placed);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    // Coordinates are told as read, with the swap (from a trial: longitude first put Ghent in
    // the Indian Ocean; a retrial found the note missing, the command having read a geohash).
    assert!(
        out.status.success()
            && said.contains("(geohash t0sm1u)")
            && said.contains(
                "Note: --geohash 3.717,51.054 was read as latitude 3.717 (north), longitude 51.054 (east)"
            )
            && said.contains("--geohash 51.054,3.717"),
        "{said}"
    );
    let said = String::from_utf8_lossy(&haggle(&dir, &["search", "desk", "ghent"]).stdout).into_owned();
    assert!(said.contains("No listings match.") && said.contains("use --near PLACE"), "{said}");
    // `id` prints the id alone (how another node joins goes to a terminal's stderr only).
    let out = haggle(&dir, &["id"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), node.peer_id);
    assert!(!stderr(&out).contains("joins this one"), "not into a script's output: {}", stderr(&out));
    // A currency code no currency has finds nothing: the answer names the slip (it said nothing).
    let said =
        String::from_utf8_lossy(&haggle(&dir, &["search", "lamp", "--currency", "EUT"]).stdout).into_owned();
    assert!(said.contains("`EUT` is not a currency code") && said.contains("did you mean EUR?"), "{said}");
    // show gives the geohash a listing was published with (it left it out).
    let chair = ["--json", "publish", "--title", "Garden chair", "--price", "5", "--currency", "EUR"];
    let out = haggle(
        &dir,
        &[&chair[..], &["--category", "garden", "--location", "Ghent", "--geohash", "u14dh"]].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id =
        serde_json::from_slice::<Value>(&out.stdout).expect("json")["id"].as_str().expect("id").to_owned();
    let shown = String::from_utf8_lossy(&haggle(&dir, &["show", &id]).stdout).into_owned();
    assert!(shown.contains("location  Ghent (geohash u14dh)"), "{shown}");
    // Taken off the map, the update says so (it used to print the listing without a word).
    let out = haggle(&dir, &["update", &id, "--geohash", ""]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("It is off the map now") && !said.contains("geohash u14dh"), "{said}");
    // Tags and ways to pay can be taken off again (an update could only replace them).
    let out = haggle(&dir, &["--json", "update", &id, "--tag", "teak", "--pay", "cash"]);
    let updated: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (&updated["tags"], &updated["payment"]),
        (&serde_json::json!(["teak"]), &serde_json::json!(["cash"]))
    );
    let out = haggle(&dir, &["--json", "update", &id, "--no-tags", "--no-pay"]);
    let updated: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (&updated["tags"], &updated["payment"]),
        (&serde_json::json!([]), &serde_json::json!([])),
        "{}",
        stderr(&out)
    );
    // A sell listing at 0 is published, with a pointer to giveaways.
    let out = haggle(
        &dir,
        &["publish", "--title", "Spare curtain", "--price", "0", "--currency", "EUR", "--category", "home"],
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && said.contains("Note: a price of 0 sells it for nothing"), "{said}");
    // With --json the note goes to stderr, and stdout holds the listing alone.
    let out = haggle(
        &dir,
        &[
            "--json",
            "publish",
            "--title",
            "Spare rod",
            "--price",
            "0",
            "--currency",
            "EUR",
            "--category",
            "home",
        ],
    );
    let listing: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    assert_eq!(listing["type"], "listing");
    assert!(stderr(&out).starts_with("note: a price of 0 sells it for nothing"), "{}", stderr(&out));
    let out = haggle(&dir, &["publish", "--no-tags", "--title", "Stool", "--category", "home"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--no-tags is for haggle update"), "{}", stderr(&out));

    let long_id = "ab".repeat(33);
    let cases: [(&[&str], &str); 18] = [
        (&["watch", "bike", "--limit", "1"], "is for haggle search: watch shows each event as it comes"),
        (
            &[
                "publish",
                "--title",
                "Lamp",
                "--price",
                "5",
                "--currency",
                "EUR",
                "--category",
                "home",
                "--preview",
                "a.pdf",
            ],
            "--preview is a sample of a file sold",
        ),
        (&["renew", "3fa2c1", "--expires", "0s"], "is no time at all"),
        (&["publish", "--title", "Lamp", "--price", "5", "--currency", "EUR"], "a listing needs a category"),
        (
            &[
                "publish",
                "--kind",
                "rental",
                "--title",
                "Van",
                "--price",
                "5",
                "--currency",
                "EUR",
                "--category",
                "vehicles",
            ],
            "a rental's price needs a period: add --per hour, day",
        ),
        (&["offer", "3fa2c1", "--price", "-3"], "an amount cannot be negative: write 3"),
        (
            &["book", "3fa2c1", "--from", "2030-01-01", "--to", "2030-01-03", "--qty", "2"],
            "a booking is for the whole place or thing: leave out --qty",
        ),
        (
            &["book", "3fa2c1", "--from", "2030-01-01", "--to", "2030-01-03", "--currency", "USD"],
            // The listing is unknown here, so its currency is not named.
            "a booking is in the listing's currency (`haggle show 3fa2c1` says which): leave out --currency",
        ),
        (&["publish", "--expires", "91d", "--title", "Lamp", "--category", "home"], "at most 90 days"),
        (
            &["publish", "--expires", "30", "--title", "Lamp", "--category", "home"],
            "needs a unit: 30d (days)",
        ),
        (&["show", &long_id], "is 66 characters: an id is at most 64"),
        (&["--api", "127.0.0.1", "status"], "write HOST:PORT"),
        (&["node", "--bootstrap", "/ip4/127.0.0.1/tcp/7400"], "must end in /p2p/<PeerId>"),
        (
            &["search", "--min-price", "50", "--max-price", "10", "--currency", "EUR"],
            "(50 EUR) is above the highest (10 EUR)",
        ),
        (&["publish", "--qty", "0", "--title", "Lamp", "--category", "home"], "1 to 1000000"),
        (&["publish", "--qty", "99999999999", "--title", "Lamp", "--category", "home"], "1 to 1000000"),
        (&["show", ""], "too short"),
        (&["offer", "", "--price", "5"], "too short"),
    ];
    for (args, expected) in cases {
        let out = haggle(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("no such endpoint"), "{args:?}: {}", stderr(&out));
    }

    // With --api (and the token in the environment), status names the address it reached.
    let addr = std::fs::read_to_string(dir.join(haggle_node::ADDR_FILE)).expect("the API address");
    let addr = addr.trim().trim_start_matches("http://").to_owned();
    let token = std::fs::read_to_string(dir.join(haggle_node::COOKIE_FILE)).expect("the token");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_haggle"))
        .args(["--api", &addr, "status"])
        .env("HAGGLE_API_TOKEN", token.trim())
        .env("NO_COLOR", "1")
        .output()
        .expect("run haggle");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    let api_line = said.lines().find(|l| l.trim_start().starts_with("API ")).unwrap_or_default();
    assert!(api_line.ends_with(&addr), "{said}");
    // Without the token in the environment, the node's data dir gives it; with neither, the
    // mistake is named.
    let run = |data_dir: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_haggle"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--api", &addr, "status"])
            .env_remove("HAGGLE_API_TOKEN")
            .env("NO_COLOR", "1")
            .output()
            .expect("run haggle")
    };
    let out = run(&dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = run(elsewhere.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("holds no api.cookie"), "{}", stderr(&out));
    // Another node's data dir gives another node's token: said so (a trial read only "missing or
    // wrong token").
    std::fs::write(elsewhere.path().join(haggle_node::COOKIE_FILE), "0123456789abcdef").expect("a cookie");
    let out = run(elsewhere.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let cookie = elsewhere.path().join(haggle_node::COOKIE_FILE);
    assert!(
        stderr(&out).contains(&format!("refused the token in {}", cookie.display()))
            && stderr(&out).contains("caused by: missing or wrong token"),
        "{}",
        stderr(&out)
    );
    // Where peers reach it, as --bootstrap takes it (with the PeerId), once it counts as public
    // (at once on 127.0.0.1).
    let said = wait("the node to count itself public", || {
        let said = String::from_utf8_lossy(&haggle(&dir, &["status"]).stdout).into_owned();
        said.contains("reachability  public").then_some(said)
    });
    let reach = said.lines().filter(|l| l.contains("reachable at")).collect::<Vec<_>>();
    assert!(!reach.is_empty() && reach.iter().all(|l| l.contains("/p2p/12D3KooW")), "{said}");

    let out = haggle(&dir, &["search", "lamp", "--offset", "100"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("No results past the first 1") && !said.contains("--offset 10"), "{said}");

    // A wanted ad without a price is open to offers, not free.
    let wanted = json(
        &dir,
        &["publish", "--kind", "wanted", "--title", "Wanted: road bike", "--category", "vehicles"],
    );
    let wanted = wanted["id"].as_str().expect("an id").to_owned();
    let out = haggle(&dir, &["show", &wanted[..10]]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("budget    open to offers"), "{said}");
    // A price filter leaves it out, and the answer says why (it said only "the filters").
    let out = haggle(&dir, &["search", "road", "bike", "--max-price", "50", "--currency", "EUR"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("leaves out wanted ads that name no price"), "{said}");
    assert!(haggle(&dir, &["retract", &wanted[..10]]).status.success());

    let id = json(&dir, &["listings"])["listings"]
        .as_array()
        .expect("listings")
        .iter()
        .find(|l| l["title"] == "Desk lamp")
        .and_then(|l| l["id"].as_str())
        .expect("the lamp")
        .to_owned();
    assert!(haggle(&dir, &["retract", &id[..10]]).status.success());
    let out = haggle(&dir, &["show", &id[..10]]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("retracted") && !said.contains("expires"), "{said}");
    node.stop();
}

/// Defect: with the seller's node frozen while the buyer withdrew, the seller's `accept`
/// answered "Accepted. It becomes a deal when the other party's node confirms" (exit 0) though
/// its own output showed the thread withdrawn and the accept "crossed, not counted". Whichever
/// reaches the seller's node first, the accept or the withdrawal, the command now fails and
/// says no deal follows, and no deal is made.
#[test]
fn an_accept_that_crosses_a_withdrawal_says_no_deal_follows() {
    let root = tempfile::tempdir().expect("tempdir");
    let (ds, db) = (root.path().join("seller"), root.path().join("buyer"));
    let seller = NodeProcess::start(&ds, None);
    let buyer = NodeProcess::start(&db, Some(&seller.addr));
    for n in [&seller, &buyer] {
        n.wait_mesh();
    }
    let listing = json(
        &ds,
        &["publish", "--title", "Desk lamp", "--price", "20", "--currency", "EUR", "--category", "home"],
    );
    let id = listing["id"].as_str().expect("id").to_owned();
    wait("the listing to reach the buyer", || {
        haggle(&db, &["show", &id[..10]]).status.success().then_some(())
    });
    let offer = json(&db, &["offer", &id[..10], "--price", "15"]);
    let thread = offer["thread"].as_str().expect("thread").to_owned();
    wait("the offer to reach the seller", || {
        (json(&ds, &["offers"])["threads"][0]["thread"] == thread.as_str()).then_some(())
    });

    // The seller's node freezes; the buyer withdraws; the seller accepts; the node resumes.
    let pid = seller.child.id();
    signal(pid, "-STOP");
    let withdrawn = haggle(&db, &["withdraw", &thread[..10]]);
    let accept = {
        let ds = ds.clone();
        let thread = thread.clone();
        std::thread::spawn(move || haggle(&ds, &["accept", &thread[..10]]))
    };
    signal(pid, "-CONT");
    let accept = accept.join().expect("the accept command ran");
    assert!(withdrawn.status.success(), "{}", stderr(&withdrawn));
    let said = stderr(&accept);
    eprintln!("the seller's accept: {said}");
    assert_eq!(accept.status.code(), Some(1), "{said}\n{}", String::from_utf8_lossy(&accept.stdout));
    assert!(
        said.contains("your accept crossed the other party's withdrawal in flight, and their node had taken that first (whatever the times in the thread say): it does not count, and no deal follows from it")
            || said.contains("was withdrawn by the other party (haggle show"),
        "{said}"
    );
    assert!(!String::from_utf8_lossy(&accept.stdout).contains("Accepted"), "{accept:?}");
    wait("the seller's thread to read withdrawn", || {
        (json(&ds, &["offers"])["threads"][0]["state"] == "withdrawn").then_some(())
    });
    for d in [&ds, &db] {
        assert_eq!(json(d, &["deals"])["deals"].as_array().map(Vec::len), Some(0), "no deal");
    }

    // A deal shipped with nothing asked to pay: the seller is told the buyer's `received` would
    // end it with no payment on record.
    let offer = json(&db, &["offer", &id[..10], "--price", "18"]);
    let thread = offer["thread"].as_str().expect("thread").to_owned();
    wait("the second offer to reach the seller", || {
        let threads = json(&ds, &["offers"])["threads"].as_array().cloned().unwrap_or_default();
        threads.iter().any(|t| t["thread"] == thread.as_str()).then_some(())
    });
    // The seller finds a dent and says so after the offer: the offer still stands on the
    // revision without it, so accepting it takes saying so.
    let updated = haggle(&ds, &["update", &id[..10], "--description", "Has a dent on the base"]);
    assert!(updated.status.success(), "{}", stderr(&updated));
    let said = String::from_utf8_lossy(&updated.stdout).into_owned();
    assert!(said.contains("Note: 1 open offer made on an earlier revision stands on what it said"), "{said}");
    // Both sides' offer lists say so (the buyer's once the new revision reaches it).
    let listed = String::from_utf8_lossy(&haggle(&ds, &["offers"]).stdout).into_owned();
    assert!(listed.contains("open, listing changed"), "{listed}");
    wait("the buyer's offers to say the listing changed", || {
        String::from_utf8_lossy(&haggle(&db, &["offers"]).stdout)
            .contains("open, listing changed")
            .then_some(())
    });
    // Countering binds to the old revision as much as accepting.
    let refused = haggle(&ds, &["counter", &thread[..10], "--price", "19"]);
    assert!(stderr(&refused).contains("Counter it as offered with --as-offered"), "{}", stderr(&refused));
    let refused = haggle(&ds, &["accept", &thread[..10]]);
    let said = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("this offer was made before you changed the listing's description"), "{said}");
    assert!(said.contains("--as-offered"), "{said}");
    // The hint shows the revision offered on as it read; the id alone shows the listing now.
    assert!(said.contains(&format!("(haggle show {} --exact)", &id[..10])), "{said}");
    let exact = haggle(&ds, &["show", &id[..10], "--exact"]);
    let then = String::from_utf8_lossy(&exact.stdout).into_owned();
    assert!(
        then.contains("earlier   revision 1 as it read") && !then.contains("Has a dent"),
        "{then}{}",
        stderr(&exact)
    );
    let now = String::from_utf8_lossy(&haggle(&ds, &["show", &id[..10]]).stdout).into_owned();
    assert!(now.contains("Has a dent") && !now.contains("earlier "), "{now}");
    // The seller counters as offered, then changes the listing again: its own counter awaits
    // the buyer, so the note says that, not to accept or counter it (found in a trial).
    json(&ds, &["counter", &thread[..10], "--price", "19", "--as-offered"]);
    let updated =
        haggle(&ds, &["update", &id[..10], "--description", "Has a dent on the base, and a scratch"]);
    let said = String::from_utf8_lossy(&updated.stdout).into_owned();
    assert!(updated.status.success(), "{}", stderr(&updated));
    assert!(
        said.contains("Note: 1 counter of yours on an earlier revision awaits the other party's answer")
            && !said.contains("accepting or countering"),
        "{said}"
    );
    wait("the counter to reach the buyer", || {
        (json(&db, &["offers"])["threads"][0]["state"] == "countered").then_some(())
    });
    let accepted = haggle(&db, &["accept", &thread[..10]]);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    let deal = wait("the deal on the seller's node", || {
        json(&ds, &["deals"])["deals"][0]["id"].as_str().map(str::to_owned)
    });
    let shown = haggle(&ds, &["deal", &deal[..10]]);
    let said = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        said.contains("changed   the listing's description, after the revision this deal stands on"),
        "{said}"
    );
    let shipped = haggle(&ds, &["shipped", &deal[..10]]);
    let said = String::from_utf8_lossy(&shipped.stdout).into_owned();
    assert!(shipped.status.success(), "{}", stderr(&shipped));
    assert!(said.contains("Note: no payment was asked for this deal (19.00 EUR)"), "{said}");
    seller.stop();
    buyer.stop();
}

/// A node restarted catches up in its first moments, before a watch started after it connects:
/// the watch begins with what that sync brought.
#[test]
fn a_watch_started_after_a_restart_says_what_the_catch_up_brought() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db, dc) = (root.path().join("a"), root.path().join("b"), root.path().join("c"));
    let a = NodeProcess::start(&da, None);
    let b = NodeProcess::start(&db, Some(&a.addr));
    // C keeps A's gossip going while B is down: what A publishes then reaches B by sync only.
    let c = NodeProcess::start(&dc, Some(&a.addr));
    b.wait_mesh();
    c.wait_mesh();
    b.stop();
    let args =
        ["publish", "--title", "Walnut table", "--price", "90", "--currency", "EUR", "--category", "home"];
    assert!(haggle(&da, &args).status.success());
    wait("C to hold it", || (json(&dc, &["search", "walnut"])["total"] == 1).then_some(()));
    let b = NodeProcess::start(&db, Some(&a.addr));
    wait("B to catch up", || {
        let syncs = json(&db, &["status"])["network"]["syncs"].clone();
        syncs.as_array()?.iter().any(|s| s["received"].as_u64() >= Some(1)).then_some(())
    });
    let mut watch = Watch::start(&db);
    watch.line_with(&["caught up with", "1 new or updated", "(before this watch started)"]);
    drop(watch);
    for n in [b, c, a] {
        n.stop();
    }
}

/// A closed terminal's SIGHUP stops a node as SIGTERM does: it exits 0 and leaves no api.addr
/// behind (a trial's node died on it, exit 129).
#[test]
fn a_hangup_stops_a_node_cleanly() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("a");
    let node = NodeProcess::start(&dir, None);
    let args =
        ["publish", "--title", "Oak chair", "--price", "20", "--currency", "EUR", "--category", "home"];
    assert!(haggle(&dir, &args).status.success());
    let status = node.stop_with("-HUP");
    assert!(status.success(), "{status:?}");
    assert!(!dir.join("api.addr").exists(), "a clean stop removes api.addr");
}

/// Sends `signal` (`-STOP`, `-CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let done = Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill runs");
    assert!(done.success(), "kill {signal} {pid}");
}

/// A watch outlives its node's restart: it waits for the node (which comes back on another API
/// port, with a new token), then tells what reached the node while it could not see it (here an
/// offer, a question, a new listing and a retraction that came while the watch was paused), and
/// goes on with live events.
#[test]
fn a_watch_outlives_its_nodes_restart_and_tells_what_came_meanwhile() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db) = (root.path().join("a"), root.path().join("b"));
    let a = NodeProcess::start(&da, None);
    let b = NodeProcess::start(&db, Some(&a.addr));
    b.wait_mesh();
    let args =
        ["publish", "--title", "Walnut desk", "--price", "90", "--currency", "EUR", "--category", "home"];
    let desk = json(&da, &args)["id"].as_str().expect("an id").to_owned();
    wait("B to hold the desk", || b.run(&["show", &desk[..10]]).status.success().then_some(()));
    let mut watch = Watch::start(&da);
    watch.ready(&da);
    let mut json_watch = Watch::start_filtered(&da, &["--json"]);
    json_watch.line_with(&["\"event\":\"watching\""]);
    // A's owner has a name for B, which the watch shows through A's restarts (defect: it read
    // the names with the token of the node it first asked, and showed keys once A ran again).
    assert!(haggle(&da, &["name", &b.peer_id, "Bram"]).status.success());

    // A stops while the watches run: they say so, wait, and follow it once it runs again (on
    // another API port, with a new token), live.
    a.stop();
    json_watch.line_with(&["\"event\":\"node_stopped\""]);
    let a = NodeProcess::start(&da, Some(&b.addr));
    json_watch.line_with(&["\"again\":true", "\"event\":\"watching\""]);
    let vase =
        ["publish", "--title", "Glass vase", "--price", "12", "--currency", "EUR", "--category", "home"];
    let vase = json(&db, &vase)["id"].as_str().expect("an id").to_owned();
    watch.line_with(&["new listing:", "Glass vase"]);

    // The watches are held still while A stops, B offers and publishes, and A runs again and
    // gets both: all of it happens while they cannot see it.
    signal(watch.pid(), "-STOP");
    signal(json_watch.pid(), "-STOP");
    a.stop();
    // A third node keeps B's gossip going while A is away: what B publishes then reaches A
    // by A's catch-up sync when it returns, not by gossip B held back for want of a peer.
    let dc = root.path().join("c");
    let c = NodeProcess::start(&dc, Some(&b.addr));
    c.wait_mesh();
    let offer = json(&db, &["offer", &desk[..10], "--price", "80", "--message", "Can collect Friday"]);
    assert_eq!(offer["delivery"], "queued", "A is down: {offer}");
    let shelf =
        ["publish", "--title", "Oak shelf", "--price", "25", "--currency", "EUR", "--category", "home"];
    assert!(haggle(&db, &shelf).status.success());
    let asked = String::from_utf8_lossy(&haggle(&db, &["ask", &desk[..10], "Is it solid walnut?"]).stdout)
        .into_owned();
    assert!(asked.contains("saved and queued"), "A is down: {asked}");
    // A retraction: no search finds it, and it is told all the same.
    assert!(haggle(&db, &["retract", &vase[..10]]).status.success());
    let a = NodeProcess::start(&da, Some(&b.addr));
    let thread = wait("A to get the offer", || {
        let threads = json(&da, &["offers"])["threads"].as_array()?.clone();
        (threads.len() == 1).then(|| threads[0]["thread"].as_str().map(str::to_owned)).flatten()
    });
    wait("A to get the shelf", || (json(&da, &["search", "oak shelf"])["total"] == 1).then_some(()));
    wait("A to get the question", || (json(&da, &["messages"])["unread"] == 1).then_some(()));
    wait("A to get the retraction", || {
        (json(&da, &["show", &vase[..10]])["state"] == "closed").then_some(())
    });
    signal(watch.pid(), "-CONT");
    signal(json_watch.pid(), "-CONT");

    // Told once the watch finds its node again.
    watch.line_with(&["offer received in thread", "on Walnut desk", "80.00 EUR", "Can collect Friday"]);
    watch.line_with(&["new listing:", "Oak shelf"]);
    watch.line_with(&["message from Bram", "about your listing \"Walnut desk\" (", "Is it solid walnut?"]);
    watch.line_with(&["retracted:", "Glass vase"]);
    // And what A's catch-up brought, which ended before the watch saw its node again (a trial's
    // watch showed 50 of 2,000 listings and said nothing of the rest).
    watch.line_with(&["caught up with", "new or updated", "(while the watch was away)"]);
    // Under --json: the stop, the return, and the offer with its terms and note, marked as
    // having come while the watch was away.
    json_watch.line_with(&["\"event\":\"node_stopped\""]);
    let offer: Value = serde_json::from_str(&json_watch.line_with(&["\"event\":\"negotiation_received\""]))
        .expect("a JSON line");
    assert_eq!(offer["while_away"], true, "{offer}");
    assert_eq!(offer["listing_title"], "Walnut desk", "{offer}");
    assert_eq!(offer["terms"]["price"]["display"], "80.00 EUR", "{offer}");
    assert_eq!(offer["message"], "Can collect Friday", "{offer}");
    let retracted: Value =
        serde_json::from_str(&json_watch.line_with(&["\"change\":\"retracted\""])).expect("a JSON line");
    assert_eq!(
        (&retracted["while_away"], &retracted["title"]),
        (&Value::from(true), &Value::from("Glass vase"))
    );
    drop(json_watch);
    // And what comes after is live again: A counters, B accepts, and A's watch tells the accept
    // and the deal (whose id is the accept's).
    assert!(haggle(&da, &["counter", &thread[..10], "--price", "85"]).status.success());
    wait("B to get the counter", || {
        let threads = json(&db, &["offers"])["threads"].as_array()?.clone();
        (threads.first()?["state"] == "countered").then_some(())
    });
    assert!(haggle(&db, &["accept", &thread[..10]]).status.success());
    watch.line_with(&["accept received in thread", "Walnut desk"]);
    // What was agreed and with whom (found in a trial: the line named the deal's id alone).
    watch.line_with(&["deal", "made on Walnut desk: 85.00 EUR", "(buyer)", "haggle deal"]);
    // Nothing was told twice.
    for told in ["offer received in thread", "new listing: ", "Oak shelf", "Is it solid walnut?"] {
        let lines: Vec<&String> = watch.seen().iter().filter(|l| l.contains(told)).collect();
        // The vase and the shelf (A's probe read `published:`).
        let expected = if told == "new listing: " { 2 } else { 1 };
        assert_eq!(lines.len(), expected, "{told}: {lines:#?}");
    }
    drop(watch);
    c.stop();
    b.stop();
    a.stop();
}

/// Runs `haggle --data-dir DIR node` as `nobody` from a copy of the binary in `root` (which it
/// makes readable), until it exits (at most 30 s); `None` without root or `setpriv`
/// (util-linux), said on stderr.
fn node_as_nobody(root: &Path, dir: &Path) -> Option<std::process::Output> {
    use std::os::unix::fs::PermissionsExt;

    let uid =
        Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let has_setpriv = Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    if uid.ok().as_deref() != Some("0") || !has_setpriv {
        eprintln!("skipped: needs root and setpriv");
        return None;
    }
    let open = |p: &Path| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    open(root);
    // The binary where `nobody` may run it.
    let bin = root.join("haggle");
    std::fs::copy(env!("CARGO_BIN_EXE_haggle"), &bin).expect("copy the binary");
    open(&bin);
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .arg("--data-dir")
        .arg(dir)
        .args([
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api-listen",
            "127.0.0.1:0",
            "--no-mdns",
            "--no-upnp",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run haggle as nobody");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node started as nobody and ran on");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Some(child.wait_with_output().expect("output"))
}

/// A data dir made by root and used by the node's own user: the error says the dir exists and
/// whose it must be, not "cannot create". Needs root (to run the node as `nobody`) and
/// `setpriv` (util-linux); skipped, and says so, without them.
#[test]
fn a_data_dir_of_another_user_says_to_change_its_owner() {
    use std::os::unix::fs::PermissionsExt;

    let root = tempfile::tempdir().expect("tempdir");
    // The data dir root's, as `mkdir` by an operator.
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let Some(out) = node_as_nobody(root.path(), &dir) else { return };
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert!(
        said.contains("it exists, but this user cannot change it") && said.contains("chown -R USER"),
        "{said}"
    );
}

/// From an operator's trial: a `blobs/` directory the node's user cannot write to (left owned
/// by root) was found out only when a publish with a picture failed. The node refuses to start
/// and says what to do.
#[test]
fn a_blob_directory_the_node_cannot_write_stops_it_at_start() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).expect("mkdir");
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
    // Root's, with its parts, as a restore by root leaves them.
    for sub in ["complete", "partial", "pinned", "keys", "tmp"] {
        std::fs::create_dir_all(dir.join("blobs").join(sub)).expect("mkdir");
    }
    let Some(out) = node_as_nobody(root.path(), &dir) else { return };
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert!(
        said.contains("blob store at") && said.contains("give the node's user write access to the data dir"),
        "{said}"
    );
}

/// From a crash trial: a data dir deleted under a running node went unnoticed (it took writes
/// into files no one could open again, and a new start on the path made a new identity beside
/// it). The node stops within seconds, saying why.
#[test]
fn a_data_dir_deleted_under_the_node_stops_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let (dir, log) = (root.path().join("data"), root.path().join("node.log"));
    let mut node = NodeProcess::start_logged(&dir, &log);
    std::fs::remove_dir_all(&dir).expect("delete the data dir");
    let status = wait("the node to stop", || node.child.try_wait().expect("wait"));
    assert_eq!(status.code(), Some(1));
    let said = std::fs::read_to_string(&log).expect("the log");
    assert!(
        said.contains("is gone") && said.contains("the data dir was moved or deleted while the node ran"),
        "{said}"
    );
}

/// A buyer blocks a seller who floods it: the seller's listings leave the buyer's searches (but
/// show when asked for by id), and the seller's node is told its new offer was refused, while
/// the thread it had open goes on. Unblocking undoes it.
#[test]
fn a_blocked_stranger_leaves_searches_and_opens_no_new_thread() {
    let root = tempfile::tempdir().expect("tempdir");
    let (dm, ds) = (root.path().join("me"), root.path().join("stranger"));
    let me = NodeProcess::start(&dm, None);
    let stranger = NodeProcess::start(&ds, Some(&me.addr));
    for n in [&me, &stranger] {
        n.wait_mesh();
    }
    let publish = |dir: &Path, title: &str| {
        let listing = json(
            dir,
            &["publish", "--title", title, "--price", "20", "--currency", "EUR", "--category", "home"],
        );
        listing["id"].as_str().expect("id").to_owned()
    };
    let theirs = publish(&ds, "Brass desk lamp");
    let mine = publish(&dm, "Oak bookshelf");
    wait("each listing to reach the other node", || {
        let found = json(&dm, &["search", "lamp"])["total"] == 1;
        (found && haggle(&ds, &["show", &mine[..10]]).status.success()).then_some(())
    });
    let first = json(&ds, &["offer", &mine[..10], "--price", "15"]);
    let thread = first["thread"].as_str().expect("thread").to_owned();
    wait("the first offer to reach me", || {
        (json(&dm, &["offers"])["threads"][0]["thread"] == thread.as_str()).then_some(())
    });

    // Blocked by their listing's id: the open thread is named, with how to end it.
    let blocked = haggle(&dm, &["block", &theirs[..10], "--note", "lowball offers every hour"]);
    let said = String::from_utf8_lossy(&blocked.stdout).into_owned();
    assert!(blocked.status.success(), "{}", stderr(&blocked));
    assert!(said.contains(&format!("Blocked {}.", stranger.peer_id)), "{said}");
    assert!(said.contains(&format!("Still open with them: thread {} ", &thread[..10])), "{said}");
    let listed = json(&dm, &["blocked"]);
    assert_eq!(listed["blocked"][0]["key"], stranger.peer_id.as_str());
    assert_eq!(listed["blocked"][0]["note"], "lowball offers every hour");
    let hidden = json(&dm, &["search", "lamp"]);
    assert_eq!(
        (&hidden["total"], &hidden["hidden"]),
        (&Value::from(0), &Value::from(1)),
        "left out, and said to be"
    );
    let told = String::from_utf8_lossy(&haggle(&dm, &["search", "lamp"]).stdout).into_owned();
    assert!(
        told.contains("No listings match but 1 listing by people you blocked, which matches: it is left out"),
        "{told}"
    );
    assert!(!told.contains("--near"), "nothing about the words: {told}");
    let by_seller = json(&dm, &["search", "lamp", "--seller", &stranger.peer_id]);
    assert_eq!(by_seller["total"], 1, "unless the search names the seller");
    let table =
        String::from_utf8_lossy(&haggle(&dm, &["search", "lamp", "--seller", &stranger.peer_id]).stdout)
            .into_owned();
    assert!(table.contains("blocked"), "the SELLER column says so: {table}");
    let offers = String::from_utf8_lossy(&haggle(&dm, &["offers"]).stdout).into_owned();
    assert!(offers.contains("(blocked)"), "the WITH column says so: {offers}");
    let shown = String::from_utf8_lossy(&haggle(&dm, &["show", &theirs[..10]]).stdout).into_owned();
    assert!(shown.contains("blocked   you blocked this author"), "{shown}");
    let rep = String::from_utf8_lossy(&haggle(&dm, &["reputation", &stranger.peer_id]).stdout).into_owned();
    assert!(rep.contains("blocked      by you (haggle unblock"), "{rep}");

    // A new offer is refused for good; its sender's node says why.
    // With --json too, the answer is printed and the command fails once the refusal is back.
    let second = haggle(&ds, &["--json", "offer", &mine[..10], "--price", "12"]);
    let answer: Value = serde_json::from_slice(&second.stdout).expect("the answer, printed");
    let refused = answer["thread"].as_str().expect("thread").to_owned();
    if answer["delivery"] == "failed" {
        assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    }
    let error = wait("the stranger's node to hear the refusal", || {
        let t = json(&ds, &["show", &refused[..10]]);
        (t["messages"][0]["delivery"] == "failed").then(|| t["messages"][0]["delivery_error"].to_string())
    });
    assert!(
        error.contains("does not take new offers, booking requests or messages from this key"),
        "{error}"
    );
    // In words: the command says so and fails; the thread reads refused and takes no place.
    let third = haggle(&ds, &["offer", &mine[..10], "--price", "11"]);
    let said = String::from_utf8_lossy(&third.stdout).into_owned();
    assert_eq!(third.status.code(), Some(1), "{said}{}", stderr(&third));
    assert!(said.contains("refused by the other party's node, for good"), "{said}");
    assert!(
        stderr(&third).contains("was refused: the recipient does not take new offers"),
        "{}",
        stderr(&third)
    );
    let listed = String::from_utf8_lossy(&haggle(&ds, &["offers"]).stdout).into_owned();
    assert!(listed.contains("refused"), "{listed}");
    let threads = json(&dm, &["offers"])["threads"].as_array().cloned().unwrap_or_default();
    assert!(threads.iter().all(|t| t["thread"] != refused.as_str()), "{threads:?}");
    // The old thread goes on: its withdrawal arrives.
    let withdrawn = haggle(&ds, &["withdraw", &thread[..10]]);
    assert!(withdrawn.status.success(), "{}", stderr(&withdrawn));
    wait("the withdrawal to reach me", || {
        (json(&dm, &["show", &thread[..10]])["state"] == "withdrawn").then_some(())
    });

    // Mistakes are told in the user's terms.
    let own = haggle(&dm, &["block", &mine[..10]]);
    assert_eq!(own.status.code(), Some(2), "refused as invalid");
    assert!(stderr(&own).contains("your own key"), "{}", stderr(&own));
    // An id that names nothing held is not found (exit 4), as for every other command.
    let nothing = haggle(&dm, &["block", "123456789a"]);
    assert_eq!(nothing.status.code(), Some(4), "{}", stderr(&nothing));
    assert!(
        stderr(&nothing).contains("no listing, thread, deal or message matches `123456789a`"),
        "{}",
        stderr(&nothing)
    );
    let file = root.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let images = haggle(&dm, &["show", &theirs[..10], "--images", &file.display().to_string()]);
    assert_eq!(images.status.code(), Some(2), "{}", stderr(&images));
    assert!(images.stdout.is_empty(), "refused before the listing is printed");
    let long = haggle(&dm, &["block", &theirs[..10], "--note", &"x".repeat(201)]);
    assert_eq!(long.status.code(), Some(2), "a usage mistake, found before any work");
    assert!(stderr(&long).contains("over the limit of 200"), "{}", stderr(&long));

    let unblocked = haggle(&dm, &["unblock", &stranger.peer_id]);
    assert!(String::from_utf8_lossy(&unblocked.stdout).contains("Unblocked"), "{unblocked:?}");
    assert_eq!(json(&dm, &["search", "lamp"])["total"], 1, "back in searches");
    let again = haggle(&dm, &["unblock", &stranger.peer_id]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("was not blocked"), "{again:?}");
    let none = String::from_utf8_lossy(&haggle(&dm, &["blocked"]).stdout).into_owned();
    assert!(none.contains("You have blocked nobody"), "{none}");
    me.stop();
    stranger.stop();
}

/// A saved search says what reached the node while it was off (by sync), and what got cheaper,
/// once each; it survives `kill -9`.
#[test]
fn a_saved_search_tells_what_came_while_the_node_was_off() {
    let root = tempfile::tempdir().expect("tempdir");
    let (ds, db) = (root.path().join("seller"), root.path().join("buyer"));
    let seller = NodeProcess::start(&ds, None);
    let buyer = NodeProcess::start(&db, Some(&seller.addr));
    buyer.wait_mesh();
    let out = haggle(&db, &["search", "bike", "--max-price", "150", "--currency", "EUR", "--save", "Bikes"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(said.contains("Saved as bikes (nothing matches it now): haggle saved bikes shows"), "{said}");
    // A name that cannot be is refused before the search runs.
    let out = haggle(&db, &["search", "bike", "--save", "road bikes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a saved search's name is 1 to 32 letters (of any script)"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "nothing printed before the refusal");
    // So is one that starts with a dash (it would read as an option).
    let out = haggle(&db, &["search", "bike", "--save", "-x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("starting with a letter or digit"), "{}", stderr(&out));
    // Defect: a search refused as typed (its order needs a currency) was saved all the same,
    // over a search of that name.
    let out = haggle(&db, &["search", "chair", "--sort", "price", "--save", "bikes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(json(&db, &["saved"])["saved"][0]["search"]["q"], "bike", "kept as it was");

    // Saved on disk before the answer: kill -9, and the seller publishes while the buyer is off.
    buyer.kill_9();
    let publish = |title: &str, price: &str| {
        let args =
            ["publish", "--title", title, "--price", price, "--currency", "EUR", "--category", "sport"];
        json(&ds, &args)["id"].as_str().expect("id").to_owned()
    };
    let road = publish("Road bike", "120");
    publish("Carbon bike", "900");
    let buyer = NodeProcess::start(&db, Some(&seller.addr));
    wait("the road bike to reach the buyer", || {
        let saved = json(&db, &["saved"]);
        (saved["saved"][0]["new"] == 1).then_some(())
    });
    let status = String::from_utf8_lossy(&haggle(&db, &["status"]).stdout).into_owned();
    assert!(
        status.contains("saved         1 search; new or repriced in bikes (haggle saved bikes)"),
        "{status}"
    );
    let table = String::from_utf8_lossy(&haggle(&db, &["saved"]).stdout).into_owned();
    assert!(table.contains("NAME") && table.contains("bikes"), "{table}");
    assert!(table.contains("bike --max-price 150 --currency EUR"), "{table}");

    for (args, last) in [
        (&["saved", "bikes", "--peek"][..], "--peek: these still count as new next time."),
        (&["saved", "bikes"][..], "These count as seen now"),
    ] {
        let out = haggle(&db, args);
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(said.contains("1 listing is new since you last looked"), "{said}");
        assert!(said.contains("Road bike") && !said.contains("Carbon"), "{said}");
        assert!(said.contains(last), "{said}");
    }
    let again = String::from_utf8_lossy(&haggle(&db, &["saved", "bikes"]).stdout).into_owned();
    assert!(again.contains("Nothing new or repriced since you last looked"), "{again}");

    // Cheaper now: said once, with the price it had.
    assert!(haggle(&ds, &["update", &road[..10], "--price", "100"]).status.success());
    wait("the new price to reach the buyer", || {
        (json(&db, &["saved"])["saved"][0]["repriced"] == 1).then_some(())
    });
    let look = json(&db, &["saved", "bikes"]);
    assert_eq!(look["repriced"][0]["was"], "120.00 EUR");
    assert_eq!(look["repriced"][0]["listing"]["price"]["display"], "100.00 EUR");
    assert_eq!(look["marked"], true);
    assert_eq!(json(&db, &["saved"])["saved"][0]["repriced"], 0);

    // Watched live by its name; what the watch showed is still new at the next look.
    // (Its first line says the stream is open: what follows is not missed.)
    let mut watch = Watch::start_filtered(&db, &["--json", "--saved", "bikes"]);
    watch.line_with(&["\"event\":\"watching\""]);
    publish("Touring bike", "130");
    watch.line_with(&["Touring bike"]);
    drop(watch);
    let look = json(&db, &["saved", "bikes", "--peek"]);
    assert_eq!(look["new"][0]["title"], "Touring bike");
    // Defect: a watch of a saved search kept the search it started with after the search was
    // saved anew under its name, or deleted, and said nothing.
    // Named as typed, not as kept (from the review: its events were not recognised then).
    let mut watch = Watch::start_filtered(&db, &["--json", "--saved", "Bikes"]);
    watch.line_with(&["\"event\":\"watching\""]);
    let out = haggle(&db, &["search", "tent", "--save", "bikes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    watch.line_with(&["\"event\":\"saved_search_changed\"", "\"deleted\":false", "\"q\":\"tent\""]);
    // Followed from there: a bike published first is left out, the tent after it shown.
    publish("Gravel bike", "110");
    publish("Family tent", "60");
    watch.line_with(&["Family tent"]);
    assert!(!watch.seen().iter().any(|l| l.contains("Gravel bike")), "{:?}", watch.seen());
    assert!(haggle(&db, &["saved", "bikes", "--delete"]).status.success());
    watch.line_with(&["\"event\":\"saved_search_changed\"", "\"name\":\"bikes\"", "\"deleted\":true"]);
    let bikes = ["search", "bike", "--max-price", "150", "--currency", "EUR", "--save", "bikes"];
    assert!(haggle(&db, &bikes).status.success());
    watch.line_with(&["\"event\":\"saved_search_changed\"", "\"q\":\"bike\""]);
    publish("Kids bike", "40");
    watch.line_with(&["Kids bike"]);
    drop(watch);
    let out = haggle(&db, &["watch", "--saved", "bikes", "lamp"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--saved follows a saved search's own words and filters"),
        "{}",
        stderr(&out)
    );

    // Mistakes, and deleting it.
    let out = haggle(&db, &["saved", "boats"]);
    assert_eq!(out.status.code(), Some(4), "not found: {}", stderr(&out));
    assert!(
        stderr(&out).contains("no saved search matches `boats`: haggle saved lists yours"),
        "{}",
        stderr(&out)
    );
    let out = haggle(&db, &["saved", "--peek"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = haggle(&db, &["saved", "bikes", "--delete"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("Deleted the saved search bikes (haggle search bike --max-price 150"), "{said}");
    let none = String::from_utf8_lossy(&haggle(&db, &["saved"]).stdout).into_owned();
    assert!(none.contains("You have saved no search."), "{none}");
    for n in [buyer, seller] {
        n.stop();
    }
}

/// Defect: a node given a bootstrap address with another node's peer id said nothing of it in
/// its own output, and `peers` only "No peers connected."; `status` alone said why.
#[test]
fn a_bootstrap_address_naming_another_node_is_said_where_its_owner_looks() {
    let root = tempfile::tempdir().expect("tempdir");
    let a = NodeProcess::start(&root.path().join("a"), None);
    let gone = NodeProcess::start(&root.path().join("gone"), None);
    let other_id = gone.peer_id.clone();
    gone.stop();
    let (at, _) = a.addr.rsplit_once("/p2p/").expect("an address with its peer id");
    let wrong = format!("{at}/p2p/{other_id}");
    let log = root.path().join("b.log");
    let b = NodeProcess::start_logged_with(&root.path().join("b"), &[&wrong], &log);
    wait("the node to say it cannot reach its bootstrap peer", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .find(|l| l.contains("cannot reach a bootstrap peer") && l.contains("not the peer id given"))
            .map(str::to_owned)
    });
    let said = String::from_utf8_lossy(&b.run(&["peers"]).stdout).into_owned();
    assert!(
        said.starts_with("No peers connected. The last try to reach")
            && said.contains("not the peer id given"),
        "{said}"
    );
    b.stop();
    a.stop();
}

/// Defect: a node listening on TCP and QUIC on every interface said it listened on TCP only.
/// It counted addresses instead of listeners, so the TCP listener's one address per interface
/// stood in for QUIC's. Every listener is named, in the order given, the first one dialled.
#[test]
fn the_start_up_line_names_every_listener_in_the_order_given() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let node = NodeProcess::spawn(
        None,
        dir.path(),
        &["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"],
        &[],
        &[],
        &[],
    );
    let tcp = node.addrs.iter().position(|a| a.contains("/tcp/"));
    let quic = node.addrs.iter().position(|a| a.contains("/quic-v1/"));
    assert_eq!(tcp, Some(0), "TCP first, as given: {:?}", node.addrs);
    assert!(quic.is_some(), "QUIC named too: {:?}", node.addrs);
    node.stop();
}

/// Found in a trial: after a seller's node was killed and started again, a buyer's message
/// waited 8-13 s: the buyer's node still held the old QUIC connection, which nothing tells dead
/// until it times out, and sent on it. Each run of a node announces itself (identify), so the
/// buyer's node sees the new run beside the old connection, lets the peer go and dials it
/// again at once; the message goes over the new connection.
#[test]
fn a_message_to_a_peer_killed_and_restarted_goes_over_its_new_connection() {
    let root = tempfile::tempdir().expect("tempdir");
    let (ds, db) = (root.path().join("seller"), root.path().join("buyer"));
    let log = root.path().join("buyer.log");
    let quic = ["/ip4/127.0.0.1/udp/0/quic-v1"];
    let seller = NodeProcess::spawn(None, &ds, &quic, &[], &[], &[]);
    let debug = [("RUST_LOG", "haggle_node=debug")];
    let buyer = NodeProcess::spawn_logged(None, &db, &quic, &[&seller.addr], &debug, &[], Some(&log));
    let listing = json(
        &ds,
        &["publish", "--title", "Hall lamp", "--price", "15", "--currency", "EUR", "--category", "home"],
    )["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    wait("the buyer to hold the lamp", || (json(&db, &["search", "hall lamp"])["total"] == 1).then_some(()));
    seller.kill_9();
    // The new run listens on a new port, which the buyer's node cannot know: the seller's node
    // must dial the buyer. It would from its address book, but the book is not flushed on every
    // entry, and a kill this soon after the buyer connected can lose it (it did, once in CI:
    // the buyer then waited on the old port for good). Naming the buyer as a bootstrap peer
    // makes the dial certain; the case under test, the new run beside the old connection, is
    // the same.
    let seller = NodeProcess::spawn(None, &ds, &quic, &[&buyer.addr], &[], &[]);
    let tail = || {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!("; the buyer's log ends:\n{}", lines[lines.len().saturating_sub(30)..].join("\n"))
    };
    // The buyer's node lets the seller's old run go: at once when the new run connects beside
    // it (the case this test is for), or when QUIC times the old connection out (about 10 s),
    // if the new run took longer than that to start (a loaded machine, in CI).
    common::wait_explained(
        std::time::Duration::from_secs(45),
        "the buyer's node to let the seller's old run go",
        || std::fs::read_to_string(&log).ok().filter(|l| l.contains("disconnected")).map(|_| ()),
        tail,
    );
    let said = haggle(&db, &["message", &listing[..10], "Still for sale?"]);
    assert!(said.status.success(), "{}", stderr(&said));
    // Until the message arrives the seller has no conversation about the listing, which the
    // command answers as not found (a poll that took that for a failure failed now and then,
    // under load, when the first poll came before the message).
    common::wait_explained(
        std::time::Duration::from_secs(45),
        "the seller to hold the message",
        || {
            let out = haggle(&ds, &["--json", "messages", &listing[..10], "--peek"]);
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (out.status.success() && doc["count"] == 1).then_some(())
        },
        tail,
    );
    buyer.stop();
    seller.stop();
}

/// Found in a trial: a node killed with `kill -9` and started again dialled its peer before the
/// peer saw the old connection die (over QUIC nothing tells it). gossipsub sends its
/// subscriptions on a peer's first connection only, so the restarted node never learnt the
/// peer's and left it off the listings topic for good: live listings stopped flowing between
/// the two. The peer now reconnects afresh once the old connection fails.
#[test]
fn a_peer_killed_and_restarted_is_back_on_the_listings_topic_both_ways() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db) = (root.path().join("a"), root.path().join("b"));
    let quic = ["/ip4/127.0.0.1/udp/0/quic-v1"];
    let a = NodeProcess::spawn(None, &da, &quic, &[], &[], &[]);
    let b = NodeProcess::spawn(None, &db, &quic, &[&a.addr], &[], &[]);
    let on_topic = |dir: &Path| json(dir, &["status"])["network"]["topic_peers"].as_u64().unwrap_or(0);
    common::wait_for(std::time::Duration::from_secs(60), "each on the other's topic", || {
        (on_topic(&da) == 1 && on_topic(&db) == 1).then_some(())
    });
    b.kill_9();
    let b = NodeProcess::spawn(None, &db, &quic, &[&a.addr], &[], &[]);
    // A's node sees B's new run beside the old connection and reconnects afresh; without that,
    // QUIC's idle timeout would let the old connection linger a while: bounded well past it.
    common::wait_for(std::time::Duration::from_secs(90), "each on the other's topic again", || {
        (on_topic(&da) == 1 && on_topic(&db) == 1).then_some(())
    });
    // And a listing goes out at once, not "no peers yet".
    let said = String::from_utf8_lossy(
        &haggle(
            &db,
            &["publish", "--title", "Lawn mower", "--price", "80", "--currency", "EUR", "--category", "home"],
        )
        .stdout,
    )
    .into_owned();
    assert!(said.contains("sent to the network"), "{said}");
    wait("A to hold the mower", || (json(&da, &["search", "lawn mower"])["total"] == 1).then_some(()));
    b.stop();
    a.stop();
}

/// Defect: a typo some listings share is a word the index knows, which matches only itself: a
/// trial's `headphnes` found the 4 listings that wrote it so, and said nothing of the 446 that
/// wrote `headphones`. The search finds what was asked, then says what many more listings
/// write, and the command that searches for it.
#[test]
fn a_typo_some_listings_share_is_answered_with_the_word_most_write() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("n");
    let node = NodeProcess::start(&dir, None);
    let publish = |title: &str| {
        let args = [
            "publish",
            "--title",
            title,
            "--price",
            "30",
            "--currency",
            "EUR",
            "--category",
            "electronics/audio",
        ];
        let out = haggle(&dir, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    publish("Headphnes, barely used");
    for n in 1..=20 {
        publish(&format!("Wireless headphones, pair {n}"));
    }
    let out = haggle(&dir, &["search", "headphnes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("Headphnes, barely used"), "what was asked is found: {said}");
    assert!(
        said.contains(
            "Few listings match \"headphnes\"; many more match \"headphones\": try haggle search headphones."
        ),
        "{said}"
    );
    let said = String::from_utf8_lossy(&haggle(&dir, &["search", "Headphnes", "--kind", "sell"]).stdout)
        .into_owned();
    assert!(said.contains("try haggle search headphones with the same options."), "{said}");
    let page = json(&dir, &["search", "headphnes"]);
    assert_eq!(page["did_you_mean"]["text"], "headphones", "{page}");
    assert_eq!(
        page["did_you_mean"]["words"],
        serde_json::json!([{ "typed": "headphnes", "word": "headphones" }])
    );
    let page = json(&dir, &["search", "headphones"]);
    assert_eq!((page["total"].as_u64(), page.get("did_you_mean")), (Some(20), None), "{page}");
    // With a second word nothing matches together: not "few", and no hint about places (from a
    // trial's `bicylce helmet`).
    let said =
        String::from_utf8_lossy(&haggle(&dir, &["search", "headphnes", "wireless"]).stdout).into_owned();
    assert!(
        said.contains("No listing matches all of this with \"headphnes\"; many more match \"headphones\""),
        "{said}"
    );
    assert!(!said.contains("--near"), "{said}");
    node.stop();
}
