//! The local API: authentication, malformed requests, and every endpoint.

use anyhow::{Context, Result};
use haggle_node::{ApiClient, ClientError, NodeEvent};
use haggle_tests::{TestNode, draft, id_of};
use serde_json::{Value, json};

/// A raw request, to send what the client would never send.
fn raw(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let auth = token.map(|t| format!("Bearer {t}"));
    let response = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        (_, body) => {
            let mut r = agent.post(url).header("Content-Type", "application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send(body.unwrap_or("").as_bytes())
        }
    };
    let mut response = response.expect("the node answers");
    let status = response.status().as_u16();
    (status, response.body_mut().read_json().unwrap_or(Value::Null))
}

/// The status of a POST of `path` with `Content-Type: application/json` and no body and no
/// length at all, as curl's `-X POST -H 'Content-Type: application/json'` without `-d` sends it.
fn post_without_length(base: &str, path: &str, token: &str) -> u16 {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(host).expect("connect");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("a timeout");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn api_error(result: Result<Value>) -> (u16, String, String) {
    match result.expect_err("an error").downcast::<ClientError>() {
        Ok(ClientError::Api { status, code, message, .. }) => (
            status,
            serde_json::to_value(code).expect("a code").as_str().unwrap_or_default().to_owned(),
            message,
        ),
        Ok(other) => panic!("not an API error: {other}"),
        Err(other) => panic!("not a client error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_answers_and_bad_requests_get_clear_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let node = TestNode::start("solo", dir.path(), vec![]).await?;
    let base = format!("http://{}", node.node.api_addr);
    let token = node.node.cookie()?;

    // Authentication.
    let (base2, token2) = (base.clone(), token.clone());
    let (no_token, wrong, good) = tokio::task::spawn_blocking(move || {
        (
            raw("GET", &format!("{base2}/v1/status"), None, None),
            raw("GET", &format!("{base2}/v1/status"), Some("not-the-token"), None),
            raw("GET", &format!("{base2}/v1/status"), Some(&token2), None),
        )
    })
    .await?;
    assert_eq!(no_token.0, 401);
    assert_eq!(no_token.1["error"]["code"], "unauthorized");
    assert_eq!(wrong.0, 401);
    assert_eq!(good.0, 200);
    assert_eq!(good.1["peer_id"], node.node.peer_id.to_string().as_str());
    let started = good.1["started_at"].as_u64().expect("when the node started");
    let now = haggle_protocol::Timestamp::now().as_millis();
    assert!(started > 0 && started <= now && now - started < 600_000, "started {started}, now {now}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(haggle_node::COOKIE_FILE))?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Malformed requests.
    let (base2, token2) = (base.clone(), token.clone());
    let (bad_json, unknown_field, bad_query, nowhere) = tokio::task::spawn_blocking(move || {
        (
            raw("POST", &format!("{base2}/v1/listings"), Some(&token2), Some("{not json")),
            raw("POST", &format!("{base2}/v1/listings"), Some(&token2), Some(r#"{"titel": "x"}"#)),
            raw("GET", &format!("{base2}/v1/search?limit=lots"), Some(&token2), None),
            raw("GET", &format!("{base2}/v1/nowhere"), Some(&token2), None),
        )
    })
    .await?;
    // A parameter an endpoint does not take, and a body that is not a JSON object.
    let (base2, token2) = (base.clone(), token.clone());
    let (unknown_param, not_an_object, misspelt, publish_param, listings_param, threads_param, deals_param) =
        tokio::task::spawn_blocking(move || {
            (
                raw("GET", &format!("{base2}/v1/peers?state=open"), Some(&token2), None),
                raw("POST", &format!("{base2}/v1/listings/ffffffffffff/offers"), Some(&token2), Some("[]")),
                raw("GET", &format!("{base2}/v1/objects/ffffffffffff?exakt=true"), Some(&token2), None),
                raw("POST", &format!("{base2}/v1/listings?state=active"), Some(&token2), Some("{}")),
                raw("GET", &format!("{base2}/v1/listings?stat=active"), Some(&token2), None),
                raw("GET", &format!("{base2}/v1/threads?state=open"), Some(&token2), None),
                raw("GET", &format!("{base2}/v1/deals?todo=true&limit=5"), Some(&token2), None),
            )
        })
        .await?;
    // A GET of the owner's listings takes parameters; publishing there takes none.
    assert_eq!(publish_param.0, 400, "{}", publish_param.1);
    assert_eq!(publish_param.1["error"]["message"], "/v1/listings takes no query parameters (got `state`)");
    assert_eq!(listings_param.0, 400, "{}", listings_param.1);
    let said = listings_param.1["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(said.contains("unknown field `stat`"), "{said}");
    // Threads and deals are picked by whose move it is, and a misspelt parameter is named.
    assert_eq!(threads_param.0, 400, "{}", threads_param.1);
    let said = threads_param.1["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(said.contains("unknown field `state`") && said.contains("`todo`"), "{said}");
    assert_eq!(deals_param.0, 200, "{}", deals_param.1);
    assert_eq!(deals_param.1["total"], 0, "{}", deals_param.1);
    // A value of the wrong kind is named without axum's preamble.
    let base3 = base.clone();
    let token3 = token.clone();
    let since = tokio::task::spawn_blocking(move || {
        raw("GET", &format!("{base3}/v1/listings/closed?since=abc"), Some(&token3), None)
    })
    .await?;
    assert_eq!(since.0, 400, "{}", since.1);
    let said = since.1["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(said.starts_with("malformed query: since: ") && !said.contains("Failed to"), "{said}");
    // `/v1/objects/{id}` takes `exact`, and names a parameter it does not know.
    assert_eq!(misspelt.0, 400, "{}", misspelt.1);
    assert!(misspelt.1["error"]["message"].as_str().is_some_and(|m| m.contains("exakt")), "{}", misspelt.1);
    assert_eq!(unknown_param.0, 400, "{}", unknown_param.1);
    assert_eq!(
        unknown_param.1["error"]["message"], "/v1/peers takes no query parameters (got `state`)",
        "{}",
        unknown_param.1
    );
    assert_eq!(not_an_object.0, 400);
    assert!(
        not_an_object.1["error"]["message"].as_str().is_some_and(|m| m.contains("a JSON object")),
        "{}",
        not_an_object.1
    );
    assert_eq!(bad_json.0, 400);
    assert_eq!(bad_json.1["error"]["code"], "bad_request");
    assert!(
        bad_json.1["error"]["message"].as_str().is_some_and(|m| m.contains("malformed")),
        "{}",
        bad_json.1
    );
    assert_eq!(unknown_field.0, 400);
    assert!(
        unknown_field.1["error"]["message"].as_str().is_some_and(|m| m.contains("titel")),
        "{}",
        unknown_field.1
    );
    assert_eq!(bad_query.0, 400);
    assert_eq!(nowhere.0, 404);

    // Invalid listings say which field is wrong.
    let (status, code, message) = api_error(
        node.post(
            "/v1/listings",
            json!({"kind": "sell", "title": "x", "category": "misc", "price": "12,5", "currency": "EUR"}),
        )
        .await,
    );
    assert_eq!((status, code.as_str()), (400, "invalid"));
    assert!(message.contains("12,5"), "{message}");
    // Found in a trial: a price given as a number named no field.
    let (status, code, message) = api_error(
        node.post(
            "/v1/listings",
            json!({"title": "Lamp", "category": "home", "price": 12, "currency": "EUR"}),
        )
        .await,
    );
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    assert!(message.contains("price: invalid type: the number `12`, expected a string"), "{message}");
    let (status, code, message) =
        api_error(node.post("/v1/listings", json!({"kind": "lottery", "title": "x"})).await);
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    assert!(message.contains("lottery") && message.contains("giveaway"), "{message}");
    let (_, _, message) = api_error(
        node.post(
            "/v1/listings",
            json!({"kind": "sell", "title": "", "category": "misc", "price": "1", "currency": "EUR"}),
        )
        .await,
    );
    assert!(message.contains("title"), "{message}");

    // Publish, list, show, update, renew, search, retract.
    let listing = node.post("/v1/listings", draft("Cast iron pan", "25")).await?;
    let id = id_of(&listing);
    assert_eq!(listing["state"], "active");
    assert_eq!(listing["mine"], true);
    assert_eq!(node.get("/v1/listings").await?["listings"].as_array().map(Vec::len), Some(1));
    let picked = node.get("/v1/listings?state=active&kind=sell&category=Vehicles&limit=5").await?;
    assert_eq!((picked["total"].as_u64(), picked["held"].as_u64()), (Some(1), Some(1)), "{picked}");
    let none = node.get("/v1/listings?state=closed").await?;
    assert_eq!((none["total"].as_u64(), none["listings"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert_eq!(node.get(&format!("/v1/listings/{}", &id[..8])).await?["title"], "Cast iron pan");
    assert_eq!(node.get(&format!("/v1/objects/{}", &id[..8])).await?["id"], id.as_str());
    let updated =
        node.patch(&format!("/v1/listings/{id}"), json!({"quantity": 3, "tags": ["kitchen"]})).await?;
    assert_eq!((updated["quantity"].as_u64(), updated["revision"].as_u64()), (Some(3), Some(2)));
    let renewed = node.post(&format!("/v1/listings/{id}/renew"), json!({"expires_in": 86_400})).await?;
    assert_eq!(renewed["revision"], 3);
    let found = node.get("/v1/search?q=iron&currency=EUR&max_price=30&sort=price").await?;
    assert_eq!(found["total"], 1, "{found}");
    let (status, _, message) = api_error(node.get("/v1/search?min_price=5").await);
    assert_eq!(status, 400);
    assert!(message.contains("currency"), "{message}");
    let (status, code, message) = api_error(node.get("/v1/search?offset=100000").await);
    assert_eq!((status, code.as_str()), (400, "invalid"), "pages are capped: {message}");
    let (status, _, _) = api_error(node.get("/v1/listings/abc").await);
    assert_eq!(status, 400, "a prefix shorter than 6 characters is refused");
    let (status, code, _) = api_error(node.get("/v1/listings/ffffffffffff").await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
    // One cannot make an offer on one's own listing.
    let (status, code, message) =
        api_error(node.post(&format!("/v1/listings/{id}/offers"), json!({"price": "20"})).await);
    assert_eq!((status, code.as_str()), (409, "own_listing"));
    assert!(message.contains("your own"), "{message}");
    // An action that cannot be taken back refuses a body it does not take, before acting:
    // `retract` (and `accept`) with fields, or with what is not JSON, closed the listing.
    let (base3, token3, retract) = (base.clone(), token.clone(), format!("/v1/listings/{id}/retract"));
    let (with_fields, not_json) = tokio::task::spawn_blocking(move || {
        (
            raw("POST", &format!("{base3}{retract}"), Some(&token3), Some(r#"{"why": "sold elsewhere"}"#)),
            raw("POST", &format!("{base3}{retract}"), Some(&token3), Some("{not json")),
        )
    })
    .await?;
    assert_eq!(
        (with_fields.0, &with_fields.1["error"]["code"]),
        (400, &json!("bad_request")),
        "{}",
        with_fields.1
    );
    assert!(
        with_fields.1["error"]["message"].as_str().is_some_and(|m| m.contains("why")),
        "{}",
        with_fields.1
    );
    assert_eq!(not_json.0, 400, "{}", not_json.1);
    // No body, sent with `Content-Type: application/json` (as HTTP libraries do), is none (from
    // a trial); a step without a body is told which field it needs, not a column of nothing.
    let (base4, token4, renew) = (base.clone(), token.clone(), format!("/v1/listings/{id}/renew"));
    let (empty_renew, empty_step) = tokio::task::spawn_blocking(move || {
        (
            raw("POST", &format!("{base4}{renew}"), Some(&token4), Some("")),
            raw("POST", &format!("{base4}/v1/deals/ffffffffffff/steps"), Some(&token4), Some("")),
        )
    })
    .await?;
    assert_eq!(empty_renew.0, 200, "{}", empty_renew.1);
    // A field left null is a field left out, whichever it is (from an integrator's trial:
    // `"per": null` was taken, `"description": null` refused).
    let (base7, token7) = (base.clone(), token.clone());
    let nulls = tokio::task::spawn_blocking(move || {
        let body = r#"{"title":"Null lamp","category":"home","price":"5","currency":"EUR","description":null,"tags":null,"per":null,"again":null}"#;
        raw("POST", &format!("{base7}/v1/listings"), Some(&token7), Some(body))
    })
    .await?;
    assert_eq!((nulls.0, &nulls.1["title"]), (200, &json!("Null lamp")), "{}", nulls.1);
    // Nor with no length at all (from an integrator's trial: refused as JSON cut short).
    let (base6, token6, renew6) = (base.clone(), token.clone(), format!("/v1/listings/{id}/renew"));
    let no_length =
        tokio::task::spawn_blocking(move || post_without_length(&base6, &renew6, &token6)).await?;
    assert_eq!(no_length, 200);
    // A file's name that publishing would refuse is refused before its upload (from a trial).
    let (base5, token5) = (base.clone(), token.clone());
    let bad_name = tokio::task::spawn_blocking(move || {
        raw("POST", &format!("{base5}/v1/files?name=../escape.bin"), Some(&token5), Some("bytes"))
    })
    .await?;
    assert_eq!((bad_name.0, &bad_name.1["error"]["code"]), (400, &json!("invalid")), "{}", bad_name.1);
    assert!(
        bad_name.1["error"]["message"].as_str().is_some_and(|m| m.contains("one name, without `/`")),
        "{}",
        bad_name.1
    );
    assert_eq!(
        empty_step.1["error"]["message"],
        "malformed request body: missing field `step` (the request had no body)",
        "{}",
        empty_step.1
    );
    assert_eq!(node.get(&format!("/v1/listings/{id}")).await?["state"], "active", "not retracted");

    // The event stream carries the owner's own actions. The subscription starts at some point
    // after the request is sent, so publish until an event arrives (bounded).
    let client = ApiClient::for_data_dir(dir.path())?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<NodeEvent>(1);
    let watcher = tokio::task::spawn_blocking(move || {
        client.events(|event| {
            let _ = tx.blocking_send(event);
            false
        })
    });
    let mut event = None;
    for i in 0..50 {
        node.post("/v1/listings", draft(&format!("Pan {i}"), "5")).await?;
        if let Ok(Some(e)) = tokio::time::timeout(std::time::Duration::from_millis(500), rx.recv()).await {
            event = Some(e);
            break;
        }
    }
    let event = event.expect("an event within 50 publishes");
    assert!(matches!(event, NodeEvent::ListingPublished { .. }), "{event:?}");
    watcher.await??;
    let retracted = node.post(&format!("/v1/listings/{id}/retract"), json!({})).await?;
    assert_eq!(retracted["state"], "closed");
    let (status, code, _) = api_error(node.post(&format!("/v1/listings/{id}/renew"), json!({})).await);
    assert_eq!((status, code.as_str()), (409, "listing_closed"), "each conflict has its own code");
    assert_eq!(node.get(&format!("/v1/objects/{id}")).await?["type"], "listing");
    assert_eq!(node.get("/v1/search?q=cast").await?["total"], 0);

    assert!(node.get("/v1/peers").await?["peers"].as_array().is_some());
    assert!(node.get("/v1/threads").await?["threads"].as_array().is_some_and(Vec::is_empty));
    assert!(node.get("/v1/deals").await?["deals"].as_array().is_some_and(Vec::is_empty));
    // Deal steps: an unknown deal, an unknown step, a payment request without its details.
    let (status, code, _) =
        api_error(node.post("/v1/deals/ffffffffffff/steps", json!({"step": "received"})).await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, _, _) =
        api_error(node.post("/v1/deals/ffffffffffff/steps", json!({"step": "teleported"})).await);
    assert_eq!(status, 400, "an unknown step is refused before any lookup");
    // From a trial: `received` and `cancel` took a stray field unread (and signed the step).
    for step in ["received", "cancel", "deliver"] {
        let (status, code, message) = api_error(
            node.post("/v1/deals/ffffffffffff/steps", json!({"step": step, "rating": "positive"})).await,
        );
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{step}: {message}");
        assert!(message.contains("rating"), "{message}");
    }
    let (status, _, message) = api_error(
        node.post("/v1/deals/ffffffffffff/steps", json!({"step": "payment_request", "method": "wampum"}))
            .await,
    );
    assert_eq!(status, 400, "the request is checked before the deal is looked up: {message}");
    assert!(message.contains("wampum") && message.contains("iban"), "{message}");

    // A stream still open when the node stops ends with it (it used to hold the API's graceful
    // shutdown until its timeout, and the server task beyond it).
    let client = ApiClient::for_data_dir(dir.path())?;
    let (opened_tx, mut opened) = tokio::sync::mpsc::channel::<()>(1);
    let open_stream = tokio::task::spawn_blocking(move || {
        client.events(|_| {
            let _ = opened_tx.try_send(());
            true
        })
    });
    for i in 0..50 {
        node.post("/v1/listings", draft(&format!("Lid {i}"), "5")).await?;
        if tokio::time::timeout(std::time::Duration::from_millis(500), opened.recv()).await.is_ok() {
            break;
        }
    }
    node.stop().await;
    tokio::time::timeout(std::time::Duration::from_secs(30), open_stream)
        .await
        .expect("the event stream ends when the node stops")??;
    Ok(())
}

/// The events of `GET /v1/events` (from `since`, if given) as they come, each as its SSE name
/// (empty for a live one), id and data; the reading thread ends with the receiver, or after 400
/// lines.
fn event_stream(
    addr: std::net::SocketAddr,
    token: String,
    since: Option<u64>,
    by_header: bool,
) -> std::sync::mpsc::Receiver<(String, u64, String)> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let url = match since {
            Some(since) if !by_header => format!("http://{addr}/v1/events?since={since}"),
            _ => format!("http://{addr}/v1/events"),
        };
        let mut request = ureq::get(&url).header("Authorization", format!("Bearer {token}"));
        // As SSE client libraries resume: the last id read, in `Last-Event-ID`.
        if let (Some(since), true) = (since, by_header) {
            request = request.header("Last-Event-ID", since.to_string());
        }
        let Ok(response) = request.call() else {
            return;
        };
        let (mut name, mut id) = (String::new(), 0);
        for line in std::io::BufReader::new(response.into_body().into_reader()).lines().take(400) {
            let Ok(line) = line else { return };
            if line.is_empty() {
                (name, id) = (String::new(), 0);
            } else if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_owned();
            } else if let Some(at) = line.strip_prefix("id:") {
                id = at.trim().parse().unwrap_or(0);
            } else if let Some(data) = line.strip_prefix("data:")
                && tx.send((name.clone(), id, data.to_owned())).is_err()
            {
                return;
            }
        }
    });
    rx
}

/// The first event on `events` whose data names any of `ids`, waiting at most 30 s.
fn first_naming(
    events: &std::sync::mpsc::Receiver<(String, u64, String)>,
    ids: &[String],
) -> Option<(String, u64, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let event = events.recv_timeout(left).ok()?;
        if ids.iter().any(|id| event.2.contains(id.as_str())) {
            return Some(event);
        }
    }
    None
}

/// From a script writer's trial: the raw stream said nothing of when an event came, so where to
/// resume with `?since=` had to come from the client's clock. Each event's SSE `id` is when it
/// was announced, the same live and replayed, and resuming from it brings the event again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_event_carries_a_time_to_resume_from() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let node = TestNode::start("solo", dir.path(), vec![]).await?;
    let (addr, token) = (node.node.api_addr, node.node.cookie()?);
    let now = || haggle_protocol::Timestamp::now().as_millis();
    let before = now();
    let desk = id_of(&node.post("/v1/listings", draft("Oak desk", "80")).await?);
    let replays = event_stream(addr, token.clone(), Some(before), false);
    let (name, at, _) =
        tokio::task::block_in_place(|| first_naming(&replays, &[desk])).expect("the desk's event");
    assert_eq!(name, "replayed");
    assert!((before..=now()).contains(&at), "{before} <= {at}");
    // Live: listings published until one comes on a stream opened without `since`.
    let live = event_stream(addr, token.clone(), None, false);
    let mut chairs = Vec::new();
    let mut seen = None;
    for i in 0..20 {
        chairs.push(id_of(&node.post("/v1/listings", draft(&format!("Oak chair {i}"), "20")).await?));
        let event = tokio::task::block_in_place(|| live.recv_timeout(std::time::Duration::from_millis(500)));
        if let Ok(event) = event
            && chairs.iter().any(|c| event.2.contains(c.as_str()))
        {
            seen = Some(event);
            break;
        }
    }
    let (name, live_at, data) = seen.expect("a chair's event, live");
    assert_eq!(name, "", "live, not replayed");
    // Resumed from its id, it comes again, replayed, with the same id.
    let chair: Vec<String> = chairs.into_iter().filter(|c| data.contains(c.as_str())).collect();
    let resumed = event_stream(addr, token.clone(), Some(live_at), false);
    let again =
        tokio::task::block_in_place(|| first_naming(&resumed, &chair)).expect("the chair's event again");
    assert_eq!((again.0.as_str(), again.1, again.2.as_str()), ("replayed", live_at, data.as_str()));
    // The same from `Last-Event-ID`, as SSE libraries resume (from a trial: nothing came).
    let by_header = event_stream(addr, token, Some(live_at), true);
    let again = tokio::task::block_in_place(|| first_naming(&by_header, &chair))
        .expect("the chair's event by the header");
    assert_eq!((again.0.as_str(), again.1, again.2), ("replayed", live_at, data));
    node.stop().await;
    Ok(())
}

/// From an integrator's trial: a resume from before a restart heard nothing, and no word of a
/// loss; and two events shared one SSE id. A `since` before the node's start is told first,
/// as a `restarted` event carrying the start; every kept event has an id of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resume_from_before_the_start_is_told_and_event_ids_are_unique() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let node = TestNode::start("solo", dir.path(), vec![]).await?;
    let (addr, token) = (node.node.api_addr, node.node.cookie()?);
    let started = node.get("/v1/status").await?["started_at"].as_u64().context("started_at")?;
    let mut desks = Vec::new();
    for i in 0..5 {
        desks.push(id_of(&node.post("/v1/listings", draft(&format!("Oak desk {i}"), "80")).await?));
    }
    let events = event_stream(addr, token, Some(1), false);
    let first = tokio::task::block_in_place(|| events.recv_timeout(std::time::Duration::from_secs(30)))?;
    assert_eq!((first.0.as_str(), first.2.trim()), ("restarted", started.to_string().as_str()));
    let mut ids = Vec::new();
    for desk in &desks {
        let event = tokio::task::block_in_place(|| first_naming(&events, std::slice::from_ref(desk)))
            .context("the desk's event")?;
        ids.push(event.1);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "each its own id, in order: {ids:?}");
    node.stop().await;
    Ok(())
}

/// `status` carries the settings the node runs with, so an operator can check that a change to
/// `config.toml` took (a trial could not see its `cache_mib`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_says_the_settings_the_node_runs_with() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let trusted = haggle_protocol::fixtures::key(7).public().peer_id().to_string();
    let config = haggle_node::NodeConfig {
        cache_mib: 32,
        target_peers: 8,
        // Twice: counted once, as reputation counts it.
        trusted_keys: vec![trusted.clone(), trusted],
        ..haggle_node::NodeConfig::for_tests()
    };
    let node = TestNode::start_with("node", dir.path(), config).await?;
    let settings = node.get("/v1/status").await?["settings"].clone();
    assert_eq!(
        (&settings["cache_mib"], &settings["target_peers"], &settings["trusted_keys"]),
        (&json!(32), &json!(8), &json!(1)),
        "{settings}"
    );
    node.stop().await;
    Ok(())
}
