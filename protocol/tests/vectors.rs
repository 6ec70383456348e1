//! Golden test vectors: one object of each kind signed by fixed keys at a fixed time. The same
//! vectors are printed in docs/PROTOCOL.md so another implementation can check its encoder and
//! verifier against them. `HAGGLE_BLESS=1 cargo test -p haggle-protocol --test vectors` rewrites
//! `tests/vectors.txt` after a deliberate format change.

use haggle_protocol::fixtures::{T0, accept, confirm, counter, decline, key, terms, withdraw};
use haggle_protocol::{Envelope, SecretKey, Verified};

/// The vectors carry proof of work for a network of this base (small, so they are quick to
/// mine and check; a real network asks for more).
const VECTOR_BASE_BITS: u32 = 12;

/// Signs at `T0` with the work [`VECTOR_BASE_BITS`] asks.
fn sign(key: &SecretKey, body: Body) -> Verified<Object> {
    let envelope = Envelope { created_at: T0, ..Envelope::new(key.public(), body) };
    envelope.sign_with_work(key, T0, VECTOR_BASE_BITS).expect("vector objects are valid")
}
use haggle_protocol::{
    About, AuctionTerms, BlobHash, BlobRef, Body, Calendar, Campaign, Currency, DateRange, DealStep,
    DigitalFile, Feedback, Image, ImageType, Listing, ListingKind, ListingStatus, Location, Market, Note,
    Object, Offer, PaymentMethod, Period, Price, Rating, Step, Terms, Tier,
};

fn vectors() -> Vec<(&'static str, Object)> {
    let seller = key(1);
    let buyer = key(2);
    let listing = sign(
        &seller,
        Body::Listing(Listing {
            nonce: [0x11; 16],
            revision: 1,
            kind: ListingKind::Sell,
            status: ListingStatus::Active,
            title: "Road bike".into(),
            description: "Steel, 56 cm.".into(),
            category: "vehicles/bikes".into(),
            tags: vec!["steel".into()],
            price: Some(Price::new(12_000, Currency::new("EUR").expect("code"))),
            quantity: 1,
            location: Location { text: "Ghent".into(), geohash: Some("u14dh".into()) },
            payment: vec!["cash".into()],
            delivery: "pickup".into(),
            expires_at: T0.saturating_add(std::time::Duration::from_secs(30 * 86_400)),
            market: None,
            images: vec![],
            file: None,
        }),
    );
    let offer = sign(
        &buyer,
        Body::Offer(Offer {
            listing: listing.id(),
            to: seller.public(),
            terms: terms(1, 10_000),
            message: "100?".into(),
        }),
    );
    let counter = sign(&seller, counter(&offer, &offer, terms(1, 11_000)));
    let accept = sign(&buyer, accept(&offer, &counter));
    let decline = sign(&seller, decline(&offer, &offer));
    let withdraw = sign(&buyer, withdraw(&offer, &offer, &listing));
    let confirm = sign(&seller, confirm(&offer, &accept));
    // After the deal (its id is the Accept's): the seller says how to pay.
    let step = sign(
        &seller,
        Body::Step(DealStep {
            deal: accept.id(),
            to: buyer.public(),
            step: Step::PaymentRequest(PaymentMethod::Iban {
                iban: "BE71 0961 2345 6769".into(),
                reference: "Road bike".into(),
            }),
        }),
    );
    // After the trade: the buyer rates the deal, carrying its proof.
    let feedback = sign(
        &buyer,
        Body::Feedback(Feedback::new(&offer, &accept, &confirm, Rating::Positive, "Smooth trade".into())),
    );
    // An auction (start 50 EUR, reserve 80, steps of 2, ending 7 days after T0, 5-minute
    // anti-sniping window) and a public bid of 55 EUR on it.
    let auction = sign(
        &seller,
        Body::Listing(Listing {
            nonce: [0x22; 16],
            kind: ListingKind::Auction,
            title: "Brass lamp".into(),
            description: "1930s, rewired.".into(),
            category: "home/lighting".into(),
            tags: vec![],
            price: Some(Price::new(5_000, Currency::new("EUR").expect("code"))),
            market: Some(Market::Auction(AuctionTerms {
                reserve: Some(8_000),
                increment: 200,
                ends_at: T0.saturating_add(std::time::Duration::from_secs(7 * 86_400)),
                window_secs: 300,
            })),
            ..listing.listing().expect("a listing").clone()
        }),
    );
    let bid = sign(&buyer, haggle_protocol::fixtures::bid(&auction, 5_500));
    // A cabin at 60.00 EUR a night with a calendar (open 2026-02-01..2026-04-01, stays of 2 to
    // 14 nights, one week booked, instant booking), and a request for three nights at 180.00.
    let day = |date: &str| haggle_protocol::calendar::parse_date(date).expect("a date");
    let range = |a: &str, b: &str| DateRange { from: day(a), to: day(b) };
    let rental = sign(
        &seller,
        Body::Listing(Listing {
            nonce: [0x33; 16],
            kind: ListingKind::Rental,
            title: "Cabin by the lake".into(),
            description: "Sleeps four.".into(),
            category: "holiday/cabins".into(),
            tags: vec![],
            price: Some(Price::new(6_000, Currency::new("EUR").expect("code")).per(Period::Day)),
            market: Some(Market::Calendar(Calendar {
                open: vec![range("2026-02-01", "2026-04-01")],
                booked: vec![range("2026-02-14", "2026-02-21")],
                min_stay: 2,
                max_stay: 14,
                instant: true,
            })),
            ..listing.listing().expect("a listing").clone()
        }),
    );
    let booking = sign(
        &buyer,
        Body::Offer(Offer {
            listing: rental.id(),
            to: seller.public(),
            terms: Terms { dates: Some(range("2026-03-06", "2026-03-09")), ..terms(1, 18_000) },
            message: "Three nights, please.".into(),
        }),
    );
    // A campaign (goal 2,000.00 EUR by 20 days after T0; tiers: a sticker from 10.00, one of
    // 50 loaves a week from 100.00) and a pledge of 120.00.
    let crowdfund = sign(
        &seller,
        Body::Listing(Listing {
            nonce: [0x44; 16],
            kind: ListingKind::Crowdfund,
            title: "Community bread oven".into(),
            description: "A wood-fired oven for the square.".into(),
            category: "community".into(),
            tags: vec![],
            price: Some(Price::new(200_000, Currency::new("EUR").expect("code"))),
            market: Some(Market::Campaign(Campaign {
                deadline: T0.saturating_add(std::time::Duration::from_secs(20 * 86_400)),
                tiers: vec![
                    Tier { name: "Sticker".into(), min: 1_000, quantity: 0 },
                    Tier { name: "Loaf a week".into(), min: 10_000, quantity: 50 },
                ],
            })),
            ..listing.listing().expect("a listing").clone()
        }),
    );
    let pledge = sign(&buyer, haggle_protocol::fixtures::pledge(&crowdfund, 12_000));
    // A listing with one picture (a 1600x1200 JPEG of 412,345 bytes and its 2,345-byte
    // thumbnail), and a digital good: an e-book of 1 MiB at 4.99 EUR with a 20,000-byte preview.
    let blob = |text: &str, size| BlobRef { hash: BlobHash::of(text.as_bytes()), size };
    let pictured = sign(
        &seller,
        Body::Listing(Listing {
            nonce: [0x55; 16],
            images: vec![Image {
                blob: blob("picture", 412_345),
                kind: ImageType::Jpeg,
                width: 1600,
                height: 1200,
                thumb: blob("thumbnail", 2_345),
            }],
            ..listing.listing().expect("a listing").clone()
        }),
    );
    let digital = sign(
        &seller,
        Body::Listing(Listing {
            nonce: [0x66; 16],
            kind: ListingKind::Digital,
            title: "Bread at home (e-book)".into(),
            description: "120 pages, EPUB.".into(),
            category: "books/cooking".into(),
            tags: vec![],
            price: Some(Price::new(499, Currency::new("EUR").expect("code"))),
            quantity: 1_000_000,
            location: Location::default(),
            payment: vec!["sepa".into()],
            delivery: "download".into(),
            file: Some(DigitalFile {
                name: "bread-at-home.epub".into(),
                hash: BlobHash::of(b"book"),
                size: 1_048_576,
                sealed: BlobHash::of(b"sealed book"),
                preview: Some(blob("sample chapter", 20_000)),
            }),
            ..listing.listing().expect("a listing").clone()
        }),
    );
    // A question about the road bike (the listing vector), from the buyer to the seller.
    let note = sign(
        &buyer,
        Body::Note(Note {
            about: About::Listing(listing.listing_key().expect("a listing")),
            to: seller.public(),
            message: "Does it come with lights?".into(),
        }),
    );
    vec![
        ("listing", listing.into_inner()),
        ("offer", offer.into_inner()),
        ("counter", counter.into_inner()),
        ("accept", accept.into_inner()),
        ("decline", decline.into_inner()),
        ("withdraw", withdraw.into_inner()),
        ("confirm", confirm.into_inner()),
        ("step", step.into_inner()),
        ("feedback", feedback.into_inner()),
        ("auction", auction.into_inner()),
        ("bid", bid.into_inner()),
        ("rental", rental.into_inner()),
        ("booking", booking.into_inner()),
        ("crowdfund", crowdfund.into_inner()),
        ("pledge", pledge.into_inner()),
        ("pictured", pictured.into_inner()),
        ("digital", digital.into_inner()),
        ("note", note.into_inner()),
    ]
}

fn render() -> String {
    let mut out = String::new();
    for (role, k) in [("seller", key(1)), ("buyer", key(2))] {
        let public = k.public();
        out.push_str(&format!(
            "{role} seed={} public={} peer={}\n",
            data_encoding::HEXLOWER.encode(&k.to_seed()),
            public.to_hex(),
            public
        ));
    }
    for (name, obj) in vectors() {
        out.push_str(&format!("{name} id={}\n{}\n", obj.id(), data_encoding::HEXLOWER.encode(obj.bytes())));
    }
    out
}

#[test]
fn golden_vectors_are_stable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors.txt");
    let now = render();
    if std::env::var_os("HAGGLE_BLESS").is_some() {
        std::fs::write(path, &now).expect("write vectors");
    }
    let golden = std::fs::read_to_string(path).expect("tests/vectors.txt exists (HAGGLE_BLESS=1 writes it)");
    assert_eq!(now, golden, "the wire format changed; if on purpose, bless and update docs/PROTOCOL.md");
}

#[test]
fn golden_vectors_verify_and_are_in_the_protocol_doc() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .expect("docs/PROTOCOL.md");
    // The doc wraps long hex at 96 characters; compare without whitespace.
    let doc: String = doc.split_whitespace().collect();
    for (name, obj) in vectors() {
        let back = Object::decode_verify(obj.bytes(), T0).expect("verifies");
        assert_eq!(back.id(), obj.id());
        assert!(back.has_work(VECTOR_BASE_BITS), "the {name} vector carries its work");
        let hex = data_encoding::HEXLOWER.encode(obj.bytes());
        assert!(doc.contains(&hex), "docs/PROTOCOL.md lacks the {name} vector");
        assert!(doc.contains(&obj.id().to_hex()), "docs/PROTOCOL.md lacks the {name} id");
    }
}
