//! End-to-end names for people's keys: the real `haggle` binary, a seller and a buyer as
//! separate processes on 127.0.0.1. Every wait is bounded and waits on a condition.

mod common;

use common::{NodeProcess, haggle, json, ok, stderr, wait};

/// A seller names the buyer of an offer by the offer's thread, and the buyer names the seller by
/// a listing: each name shows where the key did, and is taken where a key is; names that would
/// pass for a key or an id, or name a second key, are refused; JSON keeps the keys.
#[test]
fn a_name_given_to_a_key_shows_in_its_place_and_is_taken_for_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let (ds, db) = (root.path().join("seller"), root.path().join("buyer"));
    let seller = NodeProcess::start(&ds, None);
    let buyer = NodeProcess::start(&db, Some(&seller.addr));
    buyer.wait_mesh();
    let args =
        ["publish", "--title", "Road bike", "--price", "120", "--currency", "EUR", "--category", "sport"];
    let listing = json(&ds, &args)["id"].as_str().expect("id").to_owned();
    let l = &listing[..10];
    wait("the listing to reach the buyer", || haggle(&db, &["show", l]).status.success().then_some(()));
    let thread = json(&db, &["offer", l, "--price", "100"])["thread"].as_str().expect("thread").to_owned();
    let t = &thread[..10];
    wait("the offer to reach the seller", || haggle(&ds, &["show", t]).status.success().then_some(()));

    // Named by the thread: the name shows in the table, and `reputation` takes it.
    let said = ok(&ds, &["name", t, "Bob"]);
    assert!(said.contains(&format!("Named {} \"Bob\".", buyer.peer_id)), "{said}");
    let offers = ok(&ds, &["offers"]);
    assert!(offers.contains(" Bob ") && !offers.contains("12D3KooW…"), "{offers}");
    let rep = ok(&ds, &["reputation", "bob"]);
    assert!(rep.contains(&format!("Reputation of {} (Bob)", buyer.peer_id)), "{rep}");
    let offers = json(&ds, &["offers"]).to_string();
    assert!(offers.contains(&buyer.peer_id) && !offers.contains("Bob"), "JSON keeps the key: {offers}");

    // Mistakes: shaped like an id, no name, one's own key.
    let out = haggle(&ds, &["name", t, "cafe12"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("it looks like an id"), "{}", stderr(&out));
    let out = haggle(&ds, &["name", t]);
    assert_eq!(out.status.code(), Some(2), "a name or --clear: {}", stderr(&out));
    let out = haggle(&ds, &["name", &seller.peer_id, "Myself"]);
    assert!(stderr(&out).contains("that is your own key"), "{}", stderr(&out));

    // Renamed by its name; listed; a second key is refused the name. The buyer names the seller
    // by its listing: its search and `show` say it.
    let said = ok(&ds, &["name", "Bob", "Bob from Ghent"]);
    assert!(said.contains("\"Bob\" is now \"Bob from Ghent\""), "{said}");
    let listed = ok(&ds, &["names"]);
    assert!(listed.contains("Bob from Ghent") && listed.contains(&buyer.peer_id), "{listed}");
    let stranger = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
    let out = haggle(&ds, &["name", stranger, "bob from ghent"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"Bob from Ghent\" names")
            && stderr(&out).contains("a name stands for one key")
            && stderr(&out).contains("(haggle name --clear 'Bob from Ghent')"),
        "{}",
        stderr(&out)
    );
    ok(&db, &["name", l, "Anna"]);
    let found = ok(&db, &["search", "bike"]);
    assert!(found.contains("Anna: "), "{found}");
    let hers = json(&db, &["search", "--seller", "anna"]);
    assert_eq!(hers["total"], 1, "{hers}");
    // A name nobody was given matches nothing, as an id that names nothing (exit code 4), for
    // every command that takes a person (a trial's `reputation Nobody` exited 2).
    let out = haggle(&db, &["search", "--seller", "Nobody"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("nor a name you gave one (haggle names lists them"), "{}", stderr(&out));
    for args in [&["reputation", "Nobody"][..], &["block", "Nobody"]] {
        let out = haggle(&db, args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("a name you gave one (haggle names lists them)"), "{}", stderr(&out));
    }
    // A key cut short is a mistake in what was typed (exit 2), not a name nobody was given.
    let out = haggle(&db, &["reputation", "12D3KooWXYZ"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = haggle(&db, &["--json", "reputation", "Nobody"]);
    assert!(stderr(&out).contains("\"code\":\"not_found\""), "{}", stderr(&out));
    let shown = ok(&db, &["show", l]);
    assert!(shown.contains(&format!("{} (Anna)", seller.peer_id)), "{shown}");
    // Found in a trial: `peers` showed keys only.
    let peers = ok(&db, &["peers"]);
    assert!(peers.contains(&format!("{} (Anna)", seller.peer_id)), "{peers}");

    // Taken away: the key shows again.
    let said = ok(&ds, &["name", "--clear", "Bob from Ghent"]);
    assert!(said.contains("is no longer named \"Bob from Ghent\""), "{said}");
    assert!(ok(&ds, &["offers"]).contains("12D3KooW…"));
    assert!(ok(&ds, &["names"]).contains("You have named nobody."));
}
