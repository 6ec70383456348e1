//! Bookings: the owner's node never promises a night twice. Random booking requests arrive; the
//! owner accepts them from several threads at once, in random order; whatever the race, the
//! accepted requests never overlap, every refusal names nights already promised, and the deals
//! the buyers confirm take exactly the accepted nights.

use std::sync::Arc;

use haggle_protocol::fixtures::{
    accept, author, bookable, booking, confirm, counter, days_ahead, key, live_terms, sign_now, withdraw,
};
use haggle_protocol::{Body, DateRange, Object, Verified};
use haggle_storage::{Durability, Outcome, RejectReason, Store};
use proptest::prelude::*;

fn requests_and_accepts(
    store: &Store,
    listing: &Verified<Object>,
    ranges: &[(u32, u32)],
) -> Vec<(DateRange, Verified<Object>, Verified<Object>)> {
    ranges
        .iter()
        .enumerate()
        .map(|(i, (from, nights))| {
            let dates = days_ahead(10 + from, 10 + from + nights);
            let buyer = author(i as u32);
            let offer = sign_now(&buyer, booking(listing, dates, 1_000));
            let out = store.ingest(offer.bytes(), Durability::Lazy).expect("ingest");
            assert!(out.is_new(), "request {i} {dates}: {out:?}");
            let acc = sign_now(&key(1), accept(&offer, &offer));
            (dates, offer, acc)
        })
        .collect()
}

/// The owner counters one guest with other nights, then tries to accept another guest's request
/// for some of them: refused, naming the counter-offer and how to free the nights; once it is
/// withdrawn, the accept goes through.
#[test]
fn nights_held_by_the_owners_counter_are_refused_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    store.set_owner(key(1).public());
    let listing = sign_now(&key(1), Body::Listing(bookable("Cabin", days_ahead(0, 90))));
    assert!(store.ingest_own(&listing).expect("ingest").is_new());
    let first = sign_now(&author(1), booking(&listing, days_ahead(10, 14), 1_000));
    let second = sign_now(&author(2), booking(&listing, days_ahead(12, 16), 1_000));
    for o in [&first, &second] {
        assert!(store.ingest(o.bytes(), Durability::Lazy).expect("ingest").is_new());
    }
    let terms = haggle_protocol::Terms { dates: Some(days_ahead(11, 15)), ..live_terms(1, 900) };
    let countered = sign_now(&key(1), counter(&first, &first, terms));
    assert!(store.ingest_own(&countered).expect("ingest").is_new());

    let refused = store.ingest_own(&sign_now(&key(1), accept(&second, &second))).expect("ingest");
    let Outcome::Rejected(r) = refused else { panic!("{refused:?}") };
    let RejectReason::DatesHeld { holder, .. } = &r.reason else { panic!("{}", r.reason) };
    assert_eq!((holder.thread, holder.counter), (first.id(), true));
    let short = first.id().fmt_short();
    assert!(
        r.reason.to_string().ends_with(&format!("withdraw it to free them: haggle withdraw {short}")),
        "{}",
        r.reason
    );

    let withdrawn = sign_now(&key(1), withdraw(&first, &countered, &first));
    assert!(store.ingest_own(&withdrawn).expect("ingest").is_new());
    let taken = store.ingest_own(&sign_now(&key(1), accept(&second, &second))).expect("ingest");
    assert!(taken.is_new(), "{taken:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_accepts_never_promise_a_night_twice(
        ranges in proptest::collection::vec((0u32..40, 2u32..10), 2..12),
        threads in 2usize..5,
        seed in any::<u64>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open"));
        store.set_owner(key(1).public());
        let listing = sign_now(&key(1), Body::Listing(bookable("Cabin", days_ahead(0, 90))));
        prop_assert!(store.ingest_own(&listing).expect("ingest").is_new());
        let requests = requests_and_accepts(&store, &listing, &ranges);
        // Deal the accepts out to the threads in a shuffled order.
        let mut order: Vec<usize> = (0..requests.len()).collect();
        haggle_protocol::fixtures::Rng(seed | 1).shuffle(&mut order);
        let requests = Arc::new(requests);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (store, requests) = (store.clone(), requests.clone());
                let mine: Vec<usize> = order.iter().copied().skip(t).step_by(threads).collect();
                std::thread::spawn(move || {
                    mine.into_iter()
                        .map(|i| (i, store.ingest_own(&requests[i].2).expect("ingest")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut accepted: Vec<usize> = Vec::new();
        let mut refused: Vec<usize> = Vec::new();
        for h in handles {
            for (i, out) in h.join().expect("thread") {
                match out {
                    Outcome::New { .. } => accepted.push(i),
                    Outcome::Rejected(r) => {
                        // Nothing is confirmed yet: what holds the nights is an accept awaiting
                        // its confirm, and the refusal names that thread (an offer's id).
                        match &r.reason {
                            RejectReason::DatesHeld { holder, .. } => {
                                prop_assert!(requests.iter().any(|(_, o, _)| o.id() == holder.thread), "{}", holder.thread);
                                prop_assert!(!holder.counter, "an accept holds them, not a counter");
                                let said = r.reason.to_string();
                                let hint = format!("your accept in thread {} holds them while it waits", holder.thread.fmt_short());
                                prop_assert!(said.contains(&hint), "{}", said);
                            }
                            other => prop_assert!(false, "{other}"),
                        }
                        refused.push(i);
                    }
                    other => prop_assert!(false, "{other:?}"),
                }
            }
        }
        for (n, a) in accepted.iter().enumerate() {
            for b in &accepted[n + 1..] {
                prop_assert!(!requests[*a].0.overlaps(&requests[*b].0), "{} and {} both accepted", requests[*a].0, requests[*b].0);
            }
        }
        for r in &refused {
            prop_assert!(accepted.iter().any(|a| requests[*a].0.overlaps(&requests[*r].0)), "{} refused for nothing", requests[*r].0);
        }
        // The buyers confirm: the deals take exactly the accepted nights.
        for a in &accepted {
            let (_, offer, acc) = &requests[*a];
            let cf = sign_now(&author(*a as u32), confirm(offer, acc));
            let out = store.ingest(cf.bytes(), Durability::Lazy).expect("ingest");
            prop_assert!(matches!(out, Outcome::New { deal: Some(_), .. }), "{out:?}");
        }
        let key = listing.listing_key().expect("listing");
        let mut taken = store.dates_taken_except(&key, None).expect("read");
        let mut want: Vec<DateRange> = accepted.iter().map(|a| requests[*a].0).collect();
        taken.sort();
        want.sort();
        prop_assert_eq!(taken, want);
    }
}

#[test]
fn a_request_for_nights_not_open_or_too_short_is_refused_as_the_senders_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let listing = sign_now(&key(1), Body::Listing(bookable("Cabin", days_ahead(0, 30))));
    assert!(store.ingest(listing.bytes(), Durability::Lazy).expect("ingest").is_new());
    for dates in [days_ahead(25, 35), days_ahead(3, 4), days_ahead(0, 20)] {
        let offer = sign_now(&key(2), booking(&listing, dates, 1_000));
        match store.ingest(offer.bytes(), Durability::Lazy).expect("ingest") {
            Outcome::Rejected(r) => assert!(r.reason.is_peer_fault(), "{dates}: {}", r.reason),
            other => panic!("{dates}: {other:?}"),
        }
    }
    // An offer without dates on a listing that takes bookings is refused too.
    let plain = sign_now(
        &key(2),
        haggle_protocol::fixtures::offer(&listing, haggle_protocol::fixtures::live_terms(1, 1_000)),
    );
    assert!(matches!(store.ingest(plain.bytes(), Durability::Lazy).expect("ingest"), Outcome::Rejected(_)));
}

/// A guest's Confirm that reaches the owner's node after the window to confirm (a node that
/// backdates it, or mail that took days) makes no booking once the nights went to someone
/// else; with the nights still free, it does.
#[test]
fn a_late_confirm_makes_no_booking_of_nights_given_away_since() {
    use haggle_protocol::fixtures::sign_at;
    use haggle_protocol::{Terms, Timestamp};
    let ago =
        |days: f64| Timestamp::now().saturating_sub(std::time::Duration::from_secs_f64(days * 86_400.0));
    let listing = sign_at(&key(1), Body::Listing(bookable("Cabin", days_ahead(0, 90))), ago(10.0));
    let nights = days_ahead(20, 25);
    let mut request = booking(&listing, nights, 10_000);
    if let Body::Offer(o) = &mut request {
        o.terms = Terms { expires_at: ago(9.0), ..o.terms.clone() };
    }
    let first = sign_at(&author(1), request, ago(10.0));
    let accepted = sign_at(&key(1), accept(&first, &first), ago(9.5));
    let late = sign_at(&author(1), confirm(&first, &accepted), ago(9.4));
    for nights_gone in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.set_owner(key(1).public());
        assert!(store.ingest_own(&listing).expect("ingest").is_new());
        assert!(store.ingest(first.bytes(), Durability::Lazy).expect("ingest").is_new());
        assert!(store.ingest_own(&accepted).expect("ingest").is_new());
        if nights_gone {
            let other = sign_now(&author(2), booking(&listing, days_ahead(22, 27), 10_000));
            assert!(store.ingest(other.bytes(), Durability::Lazy).expect("ingest").is_new());
            let yes = sign_now(&key(1), accept(&other, &other));
            assert!(
                store.ingest_own(&yes).expect("ingest").is_new(),
                "the lapsed accept no longer holds the nights"
            );
        }
        let out = store.ingest(late.bytes(), Durability::Lazy).expect("ingest");
        if nights_gone {
            match out {
                Outcome::Rejected(r) => {
                    assert!(
                        matches!(r.reason, RejectReason::ConfirmLate) && !r.reason.is_peer_fault(),
                        "{}",
                        r.reason
                    )
                }
                other => panic!("a night booked twice: {other:?}"),
            }
        } else {
            assert!(matches!(out, Outcome::New { deal: Some(_), .. }), "{out:?}");
        }
    }
}
