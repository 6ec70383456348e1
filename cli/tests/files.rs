//! End-to-end pictures and digital goods: the real `haggle` binary, nodes as separate processes
//! on 127.0.0.1. Every wait is bounded and waits on a condition.

mod common;

use std::io::Write;
use std::path::Path;

use haggle_node::ApiClient;
use haggle_protocol::BlobHash;

use common::{NodeProcess, haggle, json, wait};

/// A `width` x `height` JPEG of noise (so it does not compress away) carrying a GPS position
/// in its EXIF block.
fn photo(path: &Path, width: u32, height: u32, seed: u32) {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        image::Rgb([(state % 256) as u8, ((x + y) % 256) as u8, (state >> 8) as u8])
    });
    let mut plain = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 80)
        .encode_image(&picture)
        .expect("encode");
    let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(plain.into()).expect("parse");
    use img_parts::ImageEXIF;
    let mut exif = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude=51.0543N GPSLongitude=3.7174E".to_vec();
    exif.resize(256, 0);
    jpeg.set_exif(Some(exif.into()));
    std::fs::write(path, jpeg.encoder().bytes()).expect("write photo");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn pictures_travel_two_hops_with_thumbnails_and_arrive_byte_for_byte() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db, dc) = (root.path().join("a"), root.path().join("b"), root.path().join("c"));
    let a = NodeProcess::start(&da, None);
    let b = NodeProcess::start(&db, Some(&a.addr));
    let c = NodeProcess::start(&dc, Some(&b.addr));
    a.wait_mesh();
    c.wait_mesh();

    let (front, back) = (root.path().join("front.jpg"), root.path().join("back.jpg"));
    photo(&front, 800, 600, 1);
    photo(&back, 640, 480, 2);
    assert!(contains(&std::fs::read(&front).expect("read"), b"GPSLatitude"));

    // Mistakes are caught before anything is stored: a text file named .jpg, nine pictures.
    let notes = root.path().join("notes.jpg");
    std::fs::write(&notes, "not a picture").expect("write");
    let out = haggle(&da, &["publish", "--title", "Chair", "--price", "5", "--currency", "EUR", "--image"])
        .status
        .code();
    assert_eq!(out, Some(2));
    let notes_arg = notes.to_str().expect("utf-8");
    let out = haggle(
        &da,
        &["publish", "--title", "Chair", "--price", "5", "--currency", "EUR", "--image", notes_arg],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JPEG, PNG, WebP or GIF"), "{out:?}");
    let front_arg = front.to_str().expect("utf-8");
    let mut nine = vec!["publish", "--title", "Chair", "--price", "5", "--currency", "EUR"];
    for _ in 0..9 {
        nine.extend(["--image", front_arg]);
    }
    let out = haggle(&da, &nine);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 8"));
    let out = haggle(&da, &nine[..11]);
    assert_eq!(out.status.code(), Some(2));
    let twice = format!("picture {front_arg} is the same as {front_arg}: give each picture once");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&twice), "{out:?}");
    // The same picture without its EXIF block: another file, the same picture once the node
    // strips the location (from a trial, it was published twice).
    let bare = root.path().join("front-bare.jpg");
    let mut jpeg =
        img_parts::jpeg::Jpeg::from_bytes(std::fs::read(&front).expect("read").into()).expect("parse");
    img_parts::ImageEXIF::set_exif(&mut jpeg, None);
    std::fs::write(&bare, jpeg.encoder().bytes()).expect("write");
    let bare_arg = bare.to_str().expect("utf-8");
    let two = ["publish", "--title", "Chair", "--price", "5", "--currency", "EUR", "--category", "home"];
    let out = haggle(&da, &[&two[..], &["--image", front_arg, "--image", bare_arg]].concat());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let same = format!("picture {bare_arg} is the same as {front_arg} once its metadata is removed");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&same), "{out:?}");

    let listing = json(
        &da,
        &[
            "publish",
            "--title",
            "Oak armchair",
            "--price",
            "80",
            "--currency",
            "EUR",
            "--category",
            "home/furniture",
            "--image",
            front_arg,
            "--image",
            back.to_str().expect("utf-8"),
        ],
    );
    let id = listing["id"].as_str().expect("id").to_owned();
    let images = listing["images"].as_array().expect("images").clone();
    assert_eq!(images.len(), 2);
    assert_eq!((images[0]["width"].as_u64(), images[0]["height"].as_u64()), (Some(800), Some(600)));
    let hash = |v: &serde_json::Value| v.as_str().expect("hash").parse::<BlobHash>().expect("a hash");
    // The pictures count in the node's disk figure.
    let held = json(&da, &["status"])["files_size"].as_u64().unwrap_or_default();
    assert!(held > 0, "A's status counts its pictures' bytes");
    let text = String::from_utf8_lossy(&haggle(&da, &["status"]).stdout).into_owned();
    assert!(text.contains(", files ") && !text.contains(", files 0 B)"), "{text}");

    // C, two hops from A, holds the listing and, soon after, both thumbnails.
    wait("C to hold the listing", || (json(&dc, &["search", "armchair"])["total"] == 1).then_some(()));
    let api_c = ApiClient::for_data_dir(&dc).expect("C's API");
    wait("C to hold both thumbnails", || {
        images
            .iter()
            .all(|i| api_c.blob_status(&hash(&i["thumb"]["hash"])).is_ok_and(|s| s.complete))
            .then_some(())
    });
    // The full pictures are fetched only when someone looks.
    assert!(!api_c.blob_status(&hash(&images[0]["blob"]["hash"])).expect("status").complete);

    let saved_dir = root.path().join("seen-on-c");
    let out = haggle(&dc, &["show", &id[..10], "--images", saved_dir.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Saved 2 pictures"), "{text}");
    let api_a = ApiClient::for_data_dir(&da).expect("A's API");
    for (n, image) in images.iter().enumerate() {
        let path = std::fs::read_dir(&saved_dir)
            .expect("the pictures' directory")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(&format!("-{}.jpg", n + 1)))
            .unwrap_or_else(|| panic!("picture {} saved in {}", n + 1, saved_dir.display()));
        let got = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut on_a = Vec::new();
        api_a.save_blob(&hash(&image["blob"]["hash"]), &mut on_a).expect("A's copy");
        assert_eq!(got, on_a, "picture {} matches A's byte for byte", n + 1);
        assert_eq!(BlobHash::of(&got), hash(&image["blob"]["hash"]));
        assert!(!contains(&got, b"GPSLatitude"), "the location was stripped before publishing");
    }

    // A file or preview goes only on a digital good, checked before any upload.
    let out = haggle(&da, &["update", &id[..10], "--preview", notes_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("are for a digital good"), "{out:?}");
    // An update replaces the pictures; --no-images removes them.
    let updated = json(&da, &["update", &id[..10], "--image", front_arg]);
    assert_eq!(updated["images"].as_array().map(Vec::len), Some(1));
    let shown = String::from_utf8_lossy(&haggle(&da, &["show", &id[..10]]).stdout).into_owned();
    assert!(shown.contains("--images saves it\n"), "one picture: {shown}");
    // Another's listing: refused as a state of things (exit 1, as any other change), not usage.
    let out = haggle(&db, &["update", &id[..10], "--image", front_arg]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("only its author can change its files"), "{out:?}");
    let updated = json(&da, &["update", &id[..10], "--no-images"]);
    assert!(updated.get("images").is_none_or(|v| v.as_array().is_some_and(Vec::is_empty)), "{updated}");
    a.stop();
    b.stop();
    c.stop();
}

#[test]
fn a_50_mib_digital_good_downloads_after_paid_and_only_the_buyer_can_open_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db, dc) = (root.path().join("seller"), root.path().join("buyer"), root.path().join("other"));
    let a = NodeProcess::start(&da, None);
    let b = NodeProcess::start(&db, Some(&a.addr));
    let c = NodeProcess::start(&dc, Some(&a.addr));
    a.wait_mesh();
    b.wait_mesh();

    let book = root.path().join("book.bin");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&book).expect("create"));
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..(50 * 1024 * 1024 / 8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.write_all(&state.to_le_bytes()).expect("write");
        }
    }
    let original = std::fs::read(&book).expect("read");
    let sample = root.path().join("sample.txt");
    std::fs::write(&sample, "Chapter one: flour, water, salt, time.").expect("write");
    let book_arg = book.to_str().expect("utf-8");

    // Mistakes: a digital listing without its file, a file on another kind.
    let out = haggle(
        &da,
        &["publish", "--kind", "digital", "--title", "Book", "--price", "5", "--currency", "EUR"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--file"));
    let out =
        haggle(&da, &["publish", "--title", "Book", "--price", "5", "--currency", "EUR", "--file", book_arg]);
    assert_eq!(out.status.code(), Some(2));
    // A period on a digital good is refused before the file goes up (from a trial).
    let by_day = ["publish", "--kind", "digital", "--title", "Book", "--price", "5", "--currency", "EUR"];
    let out = haggle(&da, &[&by_day[..], &["--per", "day", "--file", book_arg]].concat());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("leave out --per"), "{out:?}");
    let uploads = std::fs::read_dir(da.join("blobs").join("complete")).map_or(0, |d| d.count());
    assert_eq!(uploads, 0, "nothing went up");

    let listing = json(
        &da,
        &[
            "publish",
            "--kind",
            "digital",
            "--title",
            "Bread at home",
            "--price",
            "5",
            "--currency",
            "EUR",
            "--category",
            "books/cooking",
            "--file",
            book_arg,
            "--preview",
            sample.to_str().expect("utf-8"),
        ],
    );
    let id = listing["id"].as_str().expect("id").to_owned();
    let file = listing["file"].clone();
    assert_eq!(file["size"], 50 * 1024 * 1024);
    assert_eq!(file["name"], "book.bin");
    let plain_hash: BlobHash = file["hash"].as_str().expect("hash").parse().expect("hash");
    assert_eq!(plain_hash, BlobHash::of(&original));

    wait("B to hold the listing", || (json(&db, &["search", "bread"])["total"] == 1).then_some(()));
    // An offer under the price waits for the seller; one at the price (the default) buys.
    let low = json(&db, &["offer", &id[..10], "--price", "1"]);
    let low_thread = low["thread"].as_str().expect("thread").to_owned();
    wait("A to receive the low offer", || {
        let threads = json(&da, &["offers"]);
        threads["threads"].as_array()?.iter().find(|t| t["thread"] == low_thread.as_str()).map(|_| ())
    });
    assert_eq!(json(&db, &["show", &low_thread[..10]])["state"], "open", "a low offer is left to the seller");
    // Without a price, two copies are offered at the price of two (not of one, for both).
    wait("C to hold the listing", || (json(&dc, &["search", "bread"])["total"] == 1).then_some(()));
    let two = json(&dc, &["offer", &id[..10], "--qty", "2"]);
    assert_eq!(two["terms"]["price"]["display"], "10.00 EUR", "{two}");
    // At the price, a deal at once; the confirm B's node signs is shown once it left, not
    // `[queued]` with both nodes online (from a trial).
    let out = haggle(&db, &["offer", &id[..10]]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("delivered and accepted at once: it is a deal"), "{said}");
    let confirm = said.lines().find(|l| l.contains(" confirm ")).unwrap_or_else(|| panic!("{said}"));
    assert!(confirm.contains("[delivered]"), "{said}");
    let deal = wait("B to hold the deal", || {
        let d = json(&db, &["deals"]);
        d["deals"][0]["id"].as_str().map(str::to_owned)
    });
    let d = &deal[..10];

    // Before payment the encrypted file can be fetched, but it cannot be opened.
    let early = root.path().join("early").join("early.bin");
    let out = haggle(&db, &["download", d, "--out", early.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has not handed over its key yet"), "{out:?}");
    assert!(!early.exists());
    assert!(!root.path().join("early").exists(), "the directory made for it goes when nothing was saved");

    json(&da, &["pay-request", d, "--cash"]);
    wait("B to see the payment request", || {
        (json(&db, &["deal", d])["stage"] == "payment_requested").then_some(())
    });
    json(&db, &["paid", d]);
    wait("B to receive the key", || (json(&db, &["deal", d])["stage"] == "shipped").then_some(()));

    let got = root.path().join("got.bin");
    let out = haggle(&db, &["download", d, "--out", got.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("matches the listing"));
    assert!(std::fs::read(&got).expect("read") == original, "the download is the seller's file");
    let again = haggle(&db, &["download", d, "--out", got.to_str().expect("utf-8")]);
    assert_eq!(again.status.code(), Some(2), "an existing file is not replaced without --force");
    // A new version of the file: new buyers get it, the preview stays; Bob's deal keeps his.
    let second = root.path().join("book-2nd.bin");
    std::fs::write(&second, b"second edition, with a rye chapter").expect("write");
    let updated = json(&da, &["update", &id[..10], "--file", second.to_str().expect("utf-8")]);
    assert_eq!(
        updated["file"]["hash"].as_str(),
        Some(BlobHash::of(b"second edition, with a rye chapter").to_hex().as_str())
    );
    assert_eq!(updated["file"]["preview"], file["preview"], "the preview stays");
    let again = root.path().join("again.bin");
    let out = haggle(&db, &["download", d, "--out", again.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&again).expect("read") == original, "a deal keeps the version it was made for");
    // A directory as --out saves the file there under its own name.
    let shelf = root.path().join("shelf");
    std::fs::create_dir(&shelf).expect("mkdir");
    let out = haggle(&db, &["download", d, "--out", shelf.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(shelf.join("book.bin")).expect("saved under its name") == original);

    // B's encrypted copy damaged on its disk, then removed by hand: each time the download
    // fetches it again from the seller and saves the seller's file, blaming nobody.
    let copy = db.join("blobs").join("complete").join(file["sealed"].as_str().expect("sealed"));
    let mut bytes = std::fs::read(&copy).expect("B's encrypted copy");
    bytes[1_000_000] ^= 0x40;
    std::fs::write(&copy, &bytes).expect("damage it");
    let mended = root.path().join("mended.bin");
    let out = haggle(&db, &["download", d, "--out", mended.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&mended).expect("read") == original, "fetched again whole");
    std::fs::remove_file(&copy).expect("remove it");
    let out = haggle(&db, &["download", d, "--out", mended.to_str().expect("utf-8"), "--force"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&mended).expect("read") == original, "fetched again after removal");

    // A third node can fetch the encrypted form by its hash, but holds no deal and no key.
    let sealed: BlobHash = file["sealed"].as_str().expect("sealed").parse().expect("hash");
    let api_c = ApiClient::for_data_dir(&dc).expect("C's API");
    let from = listing["author"].as_str().expect("author").parse().ok();
    api_c
        .fetch_blob(&haggle_node::api::types::FetchRequest { hash: sealed, size: 50 * 1024 * 1024, from })
        .expect("fetch");
    wait("C to hold the encrypted file", || {
        api_c.blob_status(&sealed).is_ok_and(|s| s.complete).then_some(())
    });
    let mut on_c = Vec::new();
    api_c.save_blob(&sealed, &mut on_c).expect("C's copy");
    assert_eq!(BlobHash::of(&on_c), sealed);
    assert_ne!(BlobHash::of(&on_c), plain_hash, "what travels is encrypted");
    let out = haggle(&dc, &["download", d, "--out", root.path().join("c.bin").to_str().expect("utf-8")]);
    assert_ne!(out.status.code(), Some(0), "C has no deal to download from");

    // A free file: the offer buys it and the key comes with the deal, no payment steps.
    let recipe = root.path().join("recipe.txt");
    std::fs::write(&recipe, "Rye: 500 g flour, 350 g water, 10 g salt, starter.").expect("write");
    let free = json(
        &da,
        &[
            "publish",
            "--kind",
            "digital",
            "--title",
            "Rye recipe card",
            "--price",
            "0",
            "--currency",
            "EUR",
            "--category",
            "books/cooking",
            "--file",
            recipe.to_str().expect("utf-8"),
        ],
    );
    let free_id = free["id"].as_str().expect("id").to_owned();
    wait("C to hold the free listing", || (json(&dc, &["search", "rye"])["total"] == 1).then_some(()));
    json(&dc, &["offer", &free_id[..10]]);
    let free_deal = wait("C to hold the key of the free file", || {
        let d = json(&dc, &["deals"]);
        let id = d["deals"][0]["id"].as_str()?.to_owned();
        (json(&dc, &["deal", &id[..10]])["stage"] == "shipped").then_some(id)
    });
    let card = root.path().join("card.txt");
    let out = haggle(&dc, &["download", &free_deal[..10], "--out", card.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&card).expect("read"), std::fs::read(&recipe).expect("read"));

    // The two copies C asked for, accepted by hand and handed over before any payment was asked:
    // the seller is told, as for goods shipped unasked.
    let two_thread = two["thread"].as_str().expect("thread").to_owned();
    // (The listing sells a new version of the file since: the deal stands on the one offered on.)
    json(&da, &["accept", &two_thread[..10], "--as-offered"]);
    let two_deal = wait("A to hold the deal for two copies", || {
        json(&da, &["show", &two_thread[..10]])["deal"].as_str().map(str::to_owned)
    });
    let out = haggle(&da, &["deliver", &two_deal[..10]]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Note: no payment was asked for this deal (10.00 EUR)"), "{said}");
    a.stop();
    b.stop();
    c.stop();
}

/// `haggle publish --from ID` starts from an earlier listing: the owner's sold-out or retracted
/// one comes back with every field and its pictures, changed where flags say; another author's
/// lends its words but not its pictures, which this node may not hold; and what is counted from
/// now (an auction's end) is asked for again.
#[test]
fn publish_from_an_earlier_listing_copies_what_was_not_given() {
    let root = tempfile::tempdir().expect("tempdir");
    let (da, db) = (root.path().join("a"), root.path().join("b"));
    let a = NodeProcess::start(&da, None);
    let b = NodeProcess::start(&db, Some(&a.addr));
    b.wait_mesh();
    let front = root.path().join("front.jpg");
    photo(&front, 320, 240, 3);
    let first = json(
        &da,
        &[
            "publish",
            "--title",
            "Beeswax candles",
            "--price",
            "12.50",
            "--currency",
            "EUR",
            "--qty",
            "3",
            "--category",
            "home/lighting",
            "--tag",
            "handmade",
            "--tag",
            "wax",
            "--pay",
            "cash",
            "--delivery",
            "pickup only",
            "--location",
            "Ghent",
            "--geohash",
            "u14dh",
            "--description",
            "Hand-poured, 20 hours each.",
            "--image",
            front.to_str().expect("utf-8"),
        ],
    );
    let id = first["id"].as_str().expect("an id").to_owned();
    assert!(haggle(&da, &["retract", &id[..10]]).status.success());
    let mine = String::from_utf8_lossy(&haggle(&da, &["listings"]).stdout).into_owned();
    assert!(mine.lines().any(|l| l.contains("Beeswax candles") && l.contains(" retracted ")), "{mine}");

    // Another currency does not convert the copied amount: the price must come with it.
    let out = haggle(&da, &["publish", "--from", &id[..10], "--currency", "USD"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is priced in EUR, and --currency USD does not convert")
            && err.contains("give --price in USD"),
        "{err}"
    );

    // Another kind: a price per hour is not taken for the whole of a sale, and what the new
    // kind does not carry, or reads otherwise, is said.
    let lesson = json(
        &da,
        &[
            "publish",
            "--kind",
            "service",
            "--title",
            "Candle-making lesson",
            "--price",
            "20",
            "--currency",
            "EUR",
            "--per",
            "hour",
            "--qty",
            "4",
            "--category",
            "services/lessons",
        ],
    );
    let lesson = lesson["id"].as_str().expect("an id").to_owned();
    let out = haggle(&da, &["publish", "--from", &lesson[..10], "--kind", "sell"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is priced per hour (20.00 EUR/hour)") && err.contains("give --price"), "{err}");
    let out = haggle(&da, &["publish", "--from", &lesson[..10], "--kind", "sell", "--price", "60"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains("was a service listing; as a sell listing, the new one differs: its quantity 4 was the most one deal takes, and is now how many there are"),
        "{said}"
    );

    // The owner's: everything again, the price changed, the pictures kept.
    // Found in a trial: the note echoed the prefix typed; it names the listing's 10 characters
    // (of its current revision's id, when that is what the prefix names).
    let current = json(&da, &["show", &id[..10]])["id"].as_str().expect("an id").to_owned();
    let out = haggle(&da, &["publish", "--from", &current[..7], "--price", "11"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!(", copied from {}: stored", &current[..10])), "{said}");
    let again = json(&da, &["show", said.split(['(', ')']).nth(1).expect("the new id")]);
    assert_ne!(again["id"], first["id"]);
    assert_eq!(again["state"], "active");
    assert_eq!(again["price"]["display"], "11.00 EUR");
    for field in [
        "title",
        "kind",
        "category",
        "tags",
        "payment",
        "delivery",
        "location",
        "geohash",
        "description",
        "quantity",
        "images",
    ] {
        assert_eq!(again[field], first[field], "{field} copied");
    }

    // A category is matched by whole parts of its path: a search that finds nothing for a cut
    // one, where its broader part finds some, says so.
    let none =
        String::from_utf8_lossy(&haggle(&da, &["search", "--category", "home/light"]).stdout).into_owned();
    assert!(none.contains("--category matches whole parts of a category's path"), "{none}");
    assert!(none.contains("try --category home/lighting,"), "the category meant is named: {none}");
    assert!(
        none.contains("(home/lighting finds home/lighting and home/lighting/..., not home/light)"),
        "{none}"
    );
    // With words too, the category meant is named rather than "drop the filters" (from a trial).
    let title =
        again["title"].as_str().expect("a title").split_whitespace().next().expect("a word").to_owned();
    let both = String::from_utf8_lossy(&haggle(&da, &["search", &title, "--category", "home/light"]).stdout)
        .into_owned();
    assert!(
        both.contains("the words and the filters together. --category matches whole parts")
            && both.contains("try --category home/lighting"),
        "{both}"
    );

    // Another author's listing, once it reached B: its words, not its pictures.
    let new_id = again["id"].as_str().expect("an id").to_owned();
    wait("the candles on B", || b.run(&["show", &new_id[..10]]).status.success().then_some(()));
    let out =
        haggle(&db, &["publish", "--from", &new_id[..10], "--title", "Soy candles", "--location", "Antwerp"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Note: the pictures of"), "{said}");
    // A new title: the note names the one it came from.
    assert!(said.contains(&format!("copied from Beeswax candles ({})", &new_id[..10])), "{said}");
    let theirs = json(&db, &["show", said.split(['(', ')']).nth(1).expect("the new id")]);
    assert_eq!(theirs["title"], "Soy candles");
    // Another place: the old place's geohash does not come with it.
    assert_eq!(
        (theirs["location"].as_str(), theirs["geohash"].as_str()),
        (Some("Antwerp"), None),
        "{theirs}"
    );
    assert_eq!(theirs["price"]["display"], "11.00 EUR");
    assert!(theirs["images"].as_array().is_none_or(Vec::is_empty), "no pictures: {theirs}");

    // An auction's end is counted from now: asked for, before anything is signed.
    let auction = json(
        &da,
        &[
            "publish",
            "--kind",
            "auction",
            "--title",
            "Clock",
            "--price",
            "5",
            "--currency",
            "EUR",
            "--category",
            "home",
            "--ends",
            "1d",
            "--reserve",
            "20",
        ],
    );
    let auction = auction["id"].as_str().expect("an id").to_owned();
    let out = haggle(&da, &["publish", "--from", &auction[..10]]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("an auction needs its end: add e.g. --ends 3d"),
        "{out:?}"
    );
    // The same as one still on offer, as a command run twice would make it: refused, and
    // published with --again.
    let out = haggle(&da, &["publish", "--from", &auction[..10], "--ends", "2d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("you already have this on offer") && err.contains("add --again"), "{err}");
    let again = json(&da, &["publish", "--from", &auction[..10], "--ends", "2d", "--again"]);
    assert_eq!(again["auction"]["reserve"]["display"], "20.00 EUR", "{again}");
    // A currency of one's own: refused as a likely slip unless meant, and taken as the earlier
    // listing's when copied.
    let own =
        ["publish", "--title", "Garden chair", "--price", "3", "--currency", "HOUR", "--category", "home"];
    let out = haggle(&da, &own);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`HOUR` is not a currency code this node knows"));
    let chair =
        json(&da, &[&own[..], &["--any-currency"]].concat())["id"].as_str().expect("an id").to_owned();
    let copy = json(&da, &["publish", "--from", &chair[..10], "--title", "Garden chair 2"]);
    assert_eq!(copy["price"]["display"], "3.00 HOUR", "{copy}");
    // Neither --title nor --from: what is missing is said.
    let out = haggle(&da, &["publish", "--price", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--title"), "{out:?}");
    b.stop();
    a.stop();
}
