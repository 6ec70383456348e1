//! End-to-end bookings: the real `haggle` binary, an owner and two guests as separate processes
//! on 127.0.0.1. Two guests ask for overlapping nights at the same moment: exactly one booking
//! is made, whether the owner's node books instantly or the owner accepts both at once by hand;
//! the other guest is offered other dates by a counter. Every wait is bounded.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use haggle_protocol::calendar::{Date, day_of};
use serde_json::Value;

use common::{NodeProcess, Watch, haggle, json, wait};

/// Check-in and check-out `from` and `to` days after today, as `YYYY-MM-DD`.
fn days(from: u32, to: u32) -> (String, String) {
    let today = day_of(haggle_protocol::Timestamp::now());
    (Date(today + from).to_string(), Date(today + to).to_string())
}

fn range(from: u32, to: u32) -> String {
    let (a, b) = days(from, to);
    format!("{a}..{b}")
}

/// Runs `haggle --json ARGS` for each of `dirs` at the same moment; returns each output.
fn at_once(runs: &[(&Path, Vec<String>)]) -> Vec<std::process::Output> {
    let children: Vec<_> = runs
        .iter()
        .map(|(dir, args)| {
            Command::new(env!("CARGO_BIN_EXE_haggle"))
                .arg("--data-dir")
                .arg(dir)
                .arg("--json")
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run haggle")
        })
        .collect();
    children.into_iter().map(|c| c.wait_with_output().expect("haggle finishes")).collect()
}

/// `haggle publish` of a rental at 20 EUR a day, open `open`.
fn rental<'a>(title: &'a str, open: &'a str) -> Vec<&'a str> {
    vec![
        "publish",
        "--kind",
        "rental",
        "--title",
        title,
        "--price",
        "20",
        "--currency",
        "EUR",
        "--per",
        "day",
        "--category",
        "holiday/cabins",
        "--available",
        open,
    ]
}

fn publish(dir: &Path, title: &str, instant: bool) -> String {
    let open = range(1, 60);
    let mut args = rental(title, &open);
    args.extend(["--min-stay", "2", "--max-stay", "14"]);
    if instant {
        args.push("--instant");
    }
    json(dir, &args)["id"].as_str().expect("id").to_owned()
}

fn deals(dir: &Path) -> Vec<Value> {
    json(dir, &["deals"])["deals"].as_array().cloned().unwrap_or_default()
}

#[test]
fn of_two_overlapping_requests_at_once_exactly_one_is_booked() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db, dc) = (root.path().join("owner"), root.path().join("g1"), root.path().join("g2"));
    let owner = NodeProcess::start(&da, None);
    let g1 = NodeProcess::start(&db, Some(&owner.addr));
    let g2 = NodeProcess::start(&dc, Some(&owner.addr));
    for n in [&owner, &g1, &g2] {
        n.wait_mesh();
    }

    // Mistakes: a calendar setting without the calendar; a booking without dates.
    let out = haggle(
        &da,
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
            "--per",
            "day",
            "--min-stay",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--available"));
    // On a listing for sale, the kind is the mistake: not sent to add --available first.
    let sofa = ["publish", "--title", "Sofa", "--price", "5", "--currency", "EUR", "--min-stay", "2"];
    let out = haggle(&da, &sofa);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("only a rental or a service takes a calendar") && said.contains("sell listing"),
        "{said}"
    );

    // A calendar open past the listing's expiry (30 days by default) is said, with the renewal:
    // after it, no one finds or books the listing (a trial's cabin was open until March on a
    // listing that lapsed in January). One that ends before the expiry says nothing. (Neither is
    // open on the nights the guests look for below.)
    let out = haggle(&da, &rental("Tree house", &range(20, 60)));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let until = days(20, 60).1;
    assert!(
        said.contains(&format!("the calendar is open until {until}, but the listing expires on")),
        "{said}"
    );
    assert!(said.contains("--expires 90d"), "{said}");
    let out = haggle(&da, &rental("Yurt", &range(20, 25)));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("calendar is open until"));

    let instant = publish(&da, "Cabin by the lake", true);
    let by_hand = publish(&da, "Lakeside loft", false);
    for d in [&db, &dc] {
        wait("both listings to reach the guests", || {
            let r = json(d, &["search", "--free", &range(10, 17)]);
            (r["total"] == 2).then_some(())
        });
    }
    let out = haggle(&db, &["offer", &instant[..10], "--price", "100"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("haggle book"));
    let out = haggle(&db, &["book", &instant[..10], "--from", &days(10, 11).0, "--to", &days(10, 11).1]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && said.contains("shortest stay"), "{said}");
    // With a stay that fits, from the same check-in.
    assert!(said.contains(&format!("e.g. {}..{}", days(10, 11).0, days(10, 12).1)), "{said}");
    // Dates the wrong way round: the example given is the listing's shortest stay, 2 nights.
    let (check_in, check_out) = (days(12, 13).0, days(12, 14).1);
    let out = haggle(&db, &["book", &instant[..10], "--from", &check_in, "--to", &days(10, 11).0]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains(&format!("--from {check_in} --to {check_out} books 2, the shortest stay")),
        "{said}"
    );

    // Instant booking: two guests ask for overlapping weeks at once; the owner's node books one.
    // Each guest watches: the one who loses is told (a trial's guest was told nothing).
    let mut watches = [Watch::start(&db), Watch::start(&dc)];
    watches[0].ready(&db);
    watches[1].ready(&dc);
    let ((a1, b1), (a2, b2)) = (days(10, 17), days(13, 20));
    let requests = at_once(&[
        (
            &db,
            vec!["book".into(), instant[..10].into(), "--from".into(), a1.clone(), "--to".into(), b1.clone()],
        ),
        (
            &dc,
            vec!["book".into(), instant[..10].into(), "--from".into(), a2.clone(), "--to".into(), b2.clone()],
        ),
    ]);
    for r in &requests {
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let booked = wait("one booking on the owner's node", || {
        let d = deals(&da);
        (d.len() == 1).then(|| d[0].clone())
    });
    let winner_dates = booked["terms"]["dates"].as_str().expect("dates").to_owned();
    assert!(winner_dates == format!("{a1}..{b1}") || winner_dates == format!("{a2}..{b2}"), "{booked}");
    let (winner, loser, loser_dates) = if winner_dates.starts_with(&a1) {
        (&db, &dc, format!("{a2}..{b2}"))
    } else {
        (&dc, &db, format!("{a1}..{b1}"))
    };
    wait("the winner's deal", || (deals(winner).len() == 1).then_some(()));
    // The winner's command answered with its request's thread (the answer waits at most 3 s
    // for the owner's node to accept, which two requests at once on a slow machine may pass;
    // the deals above are what shows the booking).
    let said = String::from_utf8_lossy(&requests[if winner == &db { 0 } else { 1 }].stdout).into_owned();
    assert!(said.contains("\"thread\": \""), "{said}");
    // The owner's node publishes the nights booked; the other guest sees them taken.
    wait("the booked nights to reach the other guest", || {
        let l = json(loser, &["show", &instant[..10]]);
        (l["calendar"]["booked"][0] == winner_dates.as_str()).then_some(())
    });
    let r = json(loser, &["search", "--free", &loser_dates]);
    assert_eq!(r["total"], 1, "only the loft is free for those nights: {r}");
    // Free nights of listings that take no bookings could match nothing: refused.
    let out = haggle(loser, &["search", "--free", &loser_dates, "--kind", "sell"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("asks for sell listings"));
    let watch = &mut watches[if loser == &db { 0 } else { 1 }];
    let told = watch.line_with(&[
        "nights gone: your booking request ",
        " on Cabin by the lake can no longer be booked as asked: ",
    ]);
    assert!(told.contains(&loser_dates) && told.contains("booked meanwhile (haggle show "), "{told}");
    drop(watches);
    // On the owner's list, the request whose nights went reads so.
    let table = String::from_utf8_lossy(&haggle(&da, &["offers"]).stdout).into_owned();
    let row = table.lines().find(|l| l.contains(&loser_dates)).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("nights gone"), "{table}");
    assert!(deals(loser).is_empty());
    // On the guest's, the move is the owner's (to offer other nights or decline; she may
    // withdraw meanwhile): NEXT says so, and show says both.
    let table = String::from_utf8_lossy(&haggle(loser, &["offers"]).stdout).into_owned();
    let row = table.lines().find(|l| l.contains(&loser_dates)).unwrap_or_else(|| panic!("{table}"));
    let words: Vec<&str> = row.split_whitespace().collect();
    assert!(words.windows(2).any(|w| w == ["gone", "them"]), "{table}");
    let thread = row.split_whitespace().next().expect("the thread's id");
    let text = String::from_utf8_lossy(&haggle(loser, &["show", thread]).stdout).into_owned();
    assert!(text.contains("next      waiting for the owner to offer other nights or decline; to ask for other nights yourself, withdraw these terms"), "{text}");
    let text = String::from_utf8_lossy(&haggle(loser, &["show", &instant[..10]]).stdout).into_owned();
    assert!(text.contains("calendar  open") && text.contains('■') && text.contains("booked    "), "{text}");

    // By hand: both ask for the loft's overlapping nights; the owner accepts both at once.
    let t1 = json(&db, &["book", &by_hand[..10], "--from", &a1, "--to", &b1])["thread"]
        .as_str()
        .expect("thread")
        .to_owned();
    let t2 = json(&dc, &["book", &by_hand[..10], "--from", &a2, "--to", &b2])["thread"]
        .as_str()
        .expect("thread")
        .to_owned();
    wait("both requests on the owner's node", || {
        let t = json(&da, &["offers"]);
        let threads = t["threads"].as_array()?;
        let has = |id: &str| threads.iter().any(|x| x["thread"] == id);
        (has(&t1) && has(&t2)).then_some(())
    });
    // The requests waiting on the owner are picked out, a page at a time, and status counts
    // them (a busy shop's trial found its turns scattered through 23 threads).
    let todo = String::from_utf8_lossy(&haggle(&da, &["offers", "--todo"]).stdout).into_owned();
    assert!(todo.contains(&t1[..10]) && todo.contains(&t2[..10]), "{todo}");
    let page = json(&da, &["offers", "--todo", "--limit", "1"]);
    let total = page["total"].as_u64().expect("a total");
    assert!(total >= 2 && page["threads"].as_array().map(Vec::len) == Some(1), "{page}");
    let status = String::from_utf8_lossy(&haggle(&da, &["status"]).stdout).into_owned();
    assert!(
        status.contains(&format!("your move     {total} offer threads (haggle offers --todo)")),
        "{status}"
    );
    let none = String::from_utf8_lossy(&haggle(&db, &["deals", "--todo"]).stdout).into_owned();
    assert!(none.contains("None of your deals waits on you now (haggle deals lists them all)."), "{none}");
    let answers = at_once(&[
        (&da, vec!["accept".into(), t1[..10].into()]),
        (&da, vec!["accept".into(), t2[..10].into()]),
    ]);
    let ok: Vec<bool> = answers.iter().map(|o| o.status.success()).collect();
    assert_eq!(ok.iter().filter(|s| **s).count(), 1, "exactly one accept goes through: {ok:?}");
    let refused = answers.iter().find(|o| !o.status.success()).expect("one refused");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("booked or promised"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let (other_thread, other_guest) = if ok[0] { (&t2, &dc) } else { (&t1, &db) };
    // Until the guest's confirm makes it a deal (a round trip away, so usually still), the
    // accepted thread holds the nights and the refusal names it; once it is a deal, the refusal
    // is the booked one (the store's test pins the held case down without the race).
    let winner_thread = if ok[0] { &t1 } else { &t2 };
    let said = String::from_utf8_lossy(&refused.stderr);
    let held = format!("your accept in thread {} holds them while it waits", &winner_thread[..10]);
    assert!(said.contains(&held) || !said.contains("holds them"), "{said}");
    wait("two bookings on the owner's node", || (deals(&da).len() == 2).then_some(()));

    // The other guest is offered other nights by a counter, accepts, and has its booking.
    let (a3, b3) = days(30, 33);
    json(&da, &["counter", &other_thread[..10], "--from", &a3, "--to", &b3, "--price", "55"]);
    wait("the counter to reach the guest", || {
        let t = json(other_guest, &["show", &other_thread[..10]]);
        (t["state"] == "countered").then_some(())
    });
    // Its terms say how many nights the dates cover (they gave the dates alone).
    let text =
        String::from_utf8_lossy(&haggle(other_guest, &["show", &other_thread[..10]]).stdout).into_owned();
    assert!(text.contains(&format!("55.00 EUR {a3}..{b3}, 3 nights (proposed by them")), "{text}");
    json(other_guest, &["accept", &other_thread[..10]]);
    wait("three bookings on the owner's node", || (deals(&da).len() == 3).then_some(()));
    wait("the loft's calendar to show both bookings", || {
        let l = json(&da, &["show", &by_hand[..10]]);
        (l["calendar"]["booked"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    // Retracted, the loft draws no calendar of open nights, and its owner is told the two
    // bookings still stand.
    let out = haggle(&da, &["retract", &by_hand[..10]]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains("Note: 2 deals on it still stand: ") && said.contains("ends offers, not deals"),
        "{said}"
    );
    // Open dates typed from before today are opened from today, and the owner is told.
    let today = day_of(haggle_protocol::Timestamp::now());
    let begun = format!("{}..{}", Date(today - 3), Date(today + 20));
    let out = haggle(&da, &rental("Tent", &begun));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let told =
        format!("Note: open dates start today ({} in UTC): {begun} is open from today on", Date(today));
    assert!(said.contains(&told), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&haggle(&da, &["show", &by_hand[..10]]).stdout).into_owned();
    assert!(
        text.contains("calendar  none open: the listing is closed") && !text.contains("calendar  open"),
        "{text}"
    );

    // An offer without nights on a rental without a calendar; the owner then gives it one. The
    // update says the offer names no nights, the accept is refused, and --as-offered makes the
    // deal all the same.
    let ladder = json(
        &da,
        &[
            "publish",
            "--kind",
            "rental",
            "--title",
            "Ladder",
            "--price",
            "5",
            "--currency",
            "EUR",
            "--per",
            "day",
            "--category",
            "tools",
        ],
    )["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait("the ladder to reach a guest", || (json(&db, &["search", "ladder"])["total"] == 1).then_some(()));
    let undated =
        json(&db, &["offer", &ladder[..10], "--price", "5"])["thread"].as_str().expect("thread").to_owned();
    wait("the owner to hold the offer", || {
        (json(&da, &["show", &undated[..10]])["awaiting"] == "me").then_some(())
    });
    let open = range(1, 30);
    let out = haggle(&da, &["update", &ladder[..10], "--available", &open]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("Note: 1 open offer names no nights: a deal from it would book none"), "{said}");
    let out = haggle(&da, &["accept", &undated[..10]]);
    assert_eq!(out.status.code(), Some(1), "a conflict, not a usage mistake");
    assert!(String::from_utf8_lossy(&out.stderr).contains("names no nights"), "{out:?}");
    json(&da, &["accept", &undated[..10], "--as-offered"]);

    // A free booking of the priced ladder, accepted: the owner is told what the listing asks (a
    // trial's owner accepted a free stay unwarned), and the free deal's payment request is
    // refused in a rental's words, not a giveaway's.
    wait("the ladder's calendar to reach the other guest", || {
        json(&dc, &["show", &ladder[..10]])["calendar"].is_object().then_some(())
    });
    let (f1, f2) = days(5, 7);
    let free = json(&dc, &["book", &ladder[..10], "--from", &f1, "--to", &f2, "--price", "0"])["thread"]
        .as_str()
        .expect("thread")
        .to_owned();
    wait("the owner to hold the free request", || {
        (json(&da, &["show", &free[..10]])["awaiting"] == "me").then_some(())
    });
    let out = haggle(&da, &["accept", &free[..10]]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains("Note: you accepted terms of 0 (free); your listing asks 5.00 EUR/")
            && said.contains("If that was a slip, haggle cancel"),
        "{said}"
    );
    let deal = wait("the free booking's deal", || {
        json(&da, &["show", &free[..10]])["deal"].as_str().map(str::to_owned)
    });
    let out = haggle(&da, &["pay-request", &deal[..10], "--cash"]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("is free: there is nothing to pay. The owner says it is handed over"), "{said}");
    // Handed over ahead: the guest says it received the stay once it begins, and rates it
    // once it is over (a trial's guest completed and rated a stay two weeks ahead).
    json(&da, &["shipped", &deal[..10]]);
    wait("the guest to hold the handover", || {
        (json(&dc, &["deal", &deal[..10]])["stage"] == "shipped").then_some(())
    });
    let out = haggle(&dc, &["received", &deal[..10]]);
    assert_eq!(out.status.code(), Some(1), "not the guest's step yet: {out:?}");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains(&format!("is a booking of {f1}..{f2}, and it begins on {f1} (UTC)")), "{said}");
    let out = haggle(&dc, &["feedback", &deal[..10], "positive"]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains(&format!("it can be rated once it is over, from {f2} (UTC)")), "{said}");
    // Called off by both, the owner is told the nights are on offer again (a shop's trial
    // found its sale back on offer with no word, after calling it off for a broken thing).
    json(&dc, &["cancel", &deal[..10]]);
    wait("the owner to hold the guest's cancel", || {
        json(&da, &["deal", &deal[..10]])["cancel_asked_by"].as_str().map(|_| ())
    });
    let out = haggle(&da, &["cancel", &deal[..10]]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("Note: the deal is off, and its nights are free again: your listing ")
            && said.contains("is on offer again. If it no longer is, retract it (haggle retract "),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Open dates moved past the cabin's booked week: the booking stands, and the owner is told
    // (a trial's host shrank the open dates past three stays with no word).
    let out = haggle(&da, &["update", &instant[..10], "--available", &range(30, 60)]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains(&format!(
            "Note: a booking lies outside the open dates now ({winner_dates}): it is a deal and stands"
        )),
        "{said}"
    );
    owner.stop();
    g1.stop();
    g2.stop();
}
