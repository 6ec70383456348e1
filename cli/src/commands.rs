//! The client commands: each turns its arguments into one API call and prints the answer.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use haggle_node::client::ApiClient;

use crate::args::{Command, ListingFields, SearchArgs, TermsArgs, UpdateArgs};
use crate::output;
use crate::{UsageError, usage};

/// Runs a client command against `api`.
pub fn run(command: Command, api: &ApiClient, data_dir: &Path, json_out: bool) -> Result<()> {
    let print = |v: &Value, human: &dyn Fn(&Value)| {
        if json_out {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            human(v);
        }
    };
    match command {
        Command::Status => {
            let s = api.get("/v1/status")?;
            print(&s, &|s| {
                let n = &s["network"];
                println!(
                    "{}",
                    output::bold(&format!(
                        "haggle {} node {}",
                        output::text(&s["version"]),
                        output::text(&s["peer_id"])
                    ))
                );
                println!("  data dir      {}", output::text(&s["data_dir"]));
                println!("  API           {}", api_addr(data_dir));
                for addr in n["listen_addrs"].as_array().into_iter().flatten() {
                    println!("  listening     {}", output::text(addr));
                }
                println!(
                    "  peers         {} connected, {} on the listings topic, {} in the gossip mesh",
                    n["connected_peers"], n["topic_peers"], n["mesh_peers"]
                );
                let st = &s["store"];
                println!(
                    "  listings      {} active, {} closed",
                    st["active_listings"], st["closed_listings"]
                );
                println!(
                    "  negotiation   {}, {}",
                    output::count(&st["threads"], "thread"),
                    output::count(&st["deals"], "deal")
                );
                println!(
                    "  outbox        {} waiting for delivery",
                    output::count(&s["outbox_pending"], "message")
                );
                println!(
                    "  unpublished   {} waiting for a peer",
                    output::count(&n["unpublished"], "listing")
                );
                println!(
                    "  disk          {:.1} MiB",
                    st["size_on_disk"].as_f64().unwrap_or(0.0) / 1_048_576.0
                );
                sync_lines(n);
            });
        }
        Command::Peers => {
            let p = api.get("/v1/peers")?;
            print(&p, &|p| {
                let rows: Vec<Vec<String>> = p["peers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|peer| {
                        vec![
                            output::text(&peer["peer_id"]),
                            output::text(&peer["agent"]),
                            peer["score"].as_f64().map(|s| format!("{s:.1}")).unwrap_or_default(),
                            output::text(&peer["rejected"]),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("No peers connected.");
                } else {
                    output::table(&["PEER", "AGENT", "SCORE", "REJECTED"], &rows);
                }
            });
        }
        Command::Publish(args) => {
            let mut body = fields(&args.fields)?;
            body.insert("kind".into(), json!(args.kind));
            body.insert("title".into(), json!(args.title));
            if let Some(expires) = &args.expires {
                body.insert("expires_in".into(), json!(duration(expires)?.as_secs()));
            }
            let l = api.post("/v1/listings", &Value::Object(body))?;
            print(&l, &|l| {
                println!(
                    "Published {} ({}), stored and announced to the network.",
                    output::text(&l["title"]),
                    output::short(&l["id"])
                );
                output::listing(l);
            });
        }
        Command::Update(UpdateArgs { id, title, fields: f }) => {
            let mut body = fields(&f)?;
            if let Some(title) = title {
                body.insert("title".into(), json!(title));
            }
            if body.is_empty() {
                return Err(usage("nothing to change: give at least one field, e.g. --price 110"));
            }
            let l = api.patch(&format!("/v1/listings/{id}"), &Value::Object(body))?;
            print(&l, &|l| {
                println!("Updated to revision {}.", output::text(&l["revision"]));
                output::listing(l);
            });
        }
        Command::Renew { id, expires } => {
            let body = match expires {
                Some(e) => json!({ "expires_in": duration(&e)?.as_secs() }),
                None => json!({}),
            };
            let l = api.post(&format!("/v1/listings/{id}/renew"), &body)?;
            print(&l, &|l| {
                let when = output::relative(l["expires_at"].as_u64().unwrap_or(0), output::now_ms());
                println!("Renewed {}: expires {when}.", output::short(&l["id"]));
            });
        }
        Command::Retract { id } => {
            let l = api.post(&format!("/v1/listings/{id}/retract"), &json!({}))?;
            print(&l, &|l| println!("Retracted {}: it is closed everywhere.", output::text(&l["title"])));
        }
        Command::Listings => {
            let ls = api.get("/v1/listings")?;
            print(&ls, &|ls| {
                listings_table(
                    &ls["listings"],
                    "You have no listings yet: publish one with `haggle publish`.",
                )
            });
        }
        Command::Show { id } => {
            let v = api.get(&format!("/v1/objects/{id}"))?;
            print(&v, &|v| {
                if v.get("thread").is_some() {
                    output::thread(v);
                } else if v.get("signed").is_some() {
                    output::deal(v);
                } else {
                    output::listing(v);
                }
            });
        }
        Command::Search(args) => {
            let results = api.get(&format!("/v1/search?{}", search_query(&args)))?;
            print(&results, &|r| {
                let total = r["total"].as_u64().unwrap_or(0);
                listings_table(&r["hits"], "No listings match.");
                let shown = r["hits"].as_array().map_or(0, Vec::len) as u64;
                if total > shown {
                    println!(
                        "{}",
                        output::dim(&format!(
                            "{shown} of {total} shown; --offset {} for more",
                            args.offset as u64 + shown
                        ))
                    );
                }
            });
        }
        Command::Offer(args) => {
            let t = api.post(&format!("/v1/listings/{}/offers", args.listing), &terms(&args.terms)?)?;
            print(&t, &|t| sent("Offer", t));
        }
        Command::Counter(args) => {
            let t = api.post(&format!("/v1/threads/{}/counter", args.thread), &terms(&args.terms)?)?;
            print(&t, &|t| sent("Counter-offer", t));
        }
        Command::Accept { thread } => {
            let t = api.post(&format!("/v1/threads/{thread}/accept"), &json!({}))?;
            print(&t, &|t| {
                println!("Accepted: deal {} made.", output::short(&t["deal"]));
                output::thread(t);
            });
        }
        Command::Decline { thread, message } => {
            let t = api.post(&format!("/v1/threads/{thread}/decline"), &json!({ "message": message }))?;
            print(&t, &|t| sent("Decline", t));
        }
        Command::Withdraw { thread, message } => {
            let t = api.post(&format!("/v1/threads/{thread}/withdraw"), &json!({ "message": message }))?;
            print(&t, &|t| sent("Withdrawal", t));
        }
        Command::Offers => {
            let ts = api.get("/v1/threads")?;
            print(&ts, &|ts| {
                let now = output::now_ms();
                let rows: Vec<Vec<String>> = ts["threads"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        vec![
                            output::short(&t["thread"]),
                            if t["role"] == "offerer" { "out".into() } else { "in".into() },
                            output::text(&t["listing_title"]),
                            format!(
                                "{} x{}",
                                output::price(&t["terms"]["price"]),
                                output::text(&t["terms"]["quantity"])
                            ),
                            output::text(&t["state"]),
                            match t["awaiting"].as_str() {
                                Some("me") => "you".into(),
                                Some(_) => "them".into(),
                                None => "-".into(),
                            },
                            t["delivery"].as_str().unwrap_or("-").to_owned(),
                            output::relative(t["updated_at"].as_u64().unwrap_or(0), now),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("No offers yet: make one with `haggle offer LISTING --price ...`.");
                } else {
                    output::table(
                        &["THREAD", "DIR", "LISTING", "TERMS", "STATE", "NEXT", "DELIVERY", "UPDATED"],
                        &rows,
                    );
                }
            });
        }
        Command::Deals => {
            let ds = api.get("/v1/deals")?;
            print(&ds, &|ds| {
                let now = output::now_ms();
                let rows: Vec<Vec<String>> = ds["deals"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        vec![
                            output::short(&d["id"]),
                            output::text(&d["title"]),
                            format!(
                                "{} x{}",
                                output::price(&d["terms"]["price"]),
                                output::text(&d["terms"]["quantity"])
                            ),
                            output::short_peer(&d["seller"]),
                            output::short_peer(&d["buyer"]),
                            output::relative(d["made_at"].as_u64().unwrap_or(0), now),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("No deals yet.");
                } else {
                    output::table(&["DEAL", "LISTING", "TERMS", "SELLER", "BUYER", "MADE"], &rows);
                }
            });
        }
        Command::Watch(args) => watch(api, &args, json_out)?,
        Command::Node(_) | Command::Id | Command::Completions { .. } => unreachable!("handled in main"),
    }
    Ok(())
}

/// The sync part of `haggle status`: sessions under way and the last sync with each peer.
fn sync_lines(network: &Value) {
    let now = output::now_ms();
    let syncs = network["syncs"].as_array().cloned().unwrap_or_default();
    println!(
        "  sync          {} under way; last with {}",
        network["syncing"],
        output::count(&Value::from(syncs.len()), "peer")
    );
    for s in syncs.iter().take(5) {
        println!(
            "                {} {}: {} received, {} sent, {} reconciliation bytes",
            output::short_peer(&s["peer"]),
            output::relative(s["at"].as_u64().unwrap_or(0), now),
            s["received"],
            s["sent"],
            s["reconcile_bytes"]
        );
    }
}

fn api_addr(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join(haggle_node::ADDR_FILE))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn sent(what: &str, t: &Value) {
    let delivery = t["delivery"].as_str().unwrap_or("queued");
    let note = match delivery {
        "delivered" => "delivered",
        "sent" => "sent; waiting for the other node to confirm",
        _ => "saved and queued: it goes out as soon as the other party is reachable",
    };
    println!("{what} {}: {note}.", output::short(&t["id"]));
    output::thread(t);
}

fn listings_table(list: &Value, empty: &str) {
    let now = output::now_ms();
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            vec![
                output::short(&l["id"]),
                output::text(&l["kind"]),
                output::text(&l["title"]),
                output::price(&l["price"]),
                output::text(&l["quantity"]),
                output::text(&l["location"]),
                output::text(&l["state"]),
                format!("expires {}", output::relative(l["expires_at"].as_u64().unwrap_or(0), now)),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("{empty}");
    } else {
        output::table(&["ID", "KIND", "TITLE", "PRICE", "QTY", "LOCATION", "STATE", "EXPIRES"], &rows);
    }
}

/// The listing fields given on the command line, as API JSON.
fn fields(f: &ListingFields) -> Result<Map<String, Value>> {
    let mut body = Map::new();
    let mut put = |k: &str, v: Value| {
        body.insert(k.to_owned(), v);
    };
    if let Some(v) = &f.price {
        put("price", json!(v));
    }
    if let Some(v) = &f.currency {
        put("currency", json!(v.to_ascii_uppercase()));
    }
    if let Some(v) = &f.per {
        put("per", json!(v));
    }
    if let Some(v) = f.qty {
        put("quantity", json!(v));
    }
    if let Some(v) = &f.category {
        put("category", json!(v));
    }
    if !f.tags.is_empty() {
        put("tags", json!(f.tags));
    }
    if let Some(v) = &f.location {
        put("location", json!(v));
    }
    if let Some(v) = &f.geohash {
        put("geohash", json!(v));
    }
    if !f.payment.is_empty() {
        put("payment", json!(f.payment));
    }
    if let Some(v) = &f.delivery {
        put("delivery", json!(v));
    }
    if let Some(v) = &f.description {
        put("description", json!(v));
    }
    if let Some(path) = &f.description_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read description file {}: {e}", path.display())))?;
        put("description", json!(text));
    }
    Ok(body)
}

fn terms(t: &TermsArgs) -> Result<Value> {
    let mut body = json!({ "message": t.message });
    if let Some(p) = &t.price {
        body["price"] = json!(p);
    }
    if let Some(c) = &t.currency {
        body["currency"] = json!(c.to_ascii_uppercase());
    }
    if let Some(q) = t.qty {
        body["quantity"] = json!(q);
    }
    if let Some(e) = &t.expires {
        body["expires_in"] = json!(duration(e)?.as_secs());
    }
    Ok(body)
}

/// `30d`, `2w`, `12h`, `90m`, `45s`, or plain seconds.
pub fn duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let bad = || usage(format!("`{text}` is not a duration: write e.g. 30d, 2w, 12h or 90m"));
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3_600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn search_query(a: &SearchArgs) -> String {
    let mut parts = vec![
        format!("q={}", encode(&a.text.join(" "))),
        format!("limit={}", a.limit),
        format!("offset={}", a.offset),
    ];
    let mut opt = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{name}={}", encode(v)));
        }
    };
    opt("kind", &a.kind);
    opt("category", &a.category);
    opt("min_price", &a.min_price);
    opt("max_price", &a.max_price);
    opt("currency", &a.currency.as_ref().map(|c| c.to_ascii_uppercase()));
    opt("seller", &a.seller);
    opt("near", &a.near);
    opt("sort", &a.sort);
    parts.join("&")
}

/// Follows the event stream. Listing events are shown when the listing matches the search (the
/// node checks it with the same search engine); negotiation and deal events always.
fn watch(api: &ApiClient, args: &SearchArgs, json_out: bool) -> Result<()> {
    let filtered = !args.text.is_empty()
        || args.kind.is_some()
        || args.category.is_some()
        || args.min_price.is_some()
        || args.max_price.is_some()
        || args.seller.is_some()
        || args.near.is_some();
    // Check the filters once, so a mistake is reported before waiting for events.
    let probe = SearchArgs { limit: 1, offset: 0, ..args.clone() };
    api.get(&format!("/v1/search?{}", search_query(&probe)))?;
    if !json_out {
        eprintln!("Watching for events (Ctrl-C to stop)...");
    }
    let mut failure = None;
    api.events(|event| {
        let kind = event["event"].as_str().unwrap_or_default().to_owned();
        let line = match kind.as_str() {
            "listing_stored" | "listing_published" => {
                let id = output::text(&event["id"]);
                let listing = match api.get(&format!("/v1/listings/{id}")) {
                    Ok(l) => l,
                    Err(e) => {
                        failure = Some(e);
                        return false;
                    }
                };
                if filtered && !matches_search(api, args, &listing) {
                    return true;
                }
                format!(
                    "{} listing {} {} {} ({})",
                    if kind == "listing_published" { "published" } else { "new" },
                    output::short(&listing["id"]),
                    output::text(&listing["title"]),
                    output::price(&listing["price"]),
                    output::text(&listing["state"])
                )
            }
            "negotiation_received" => format!(
                "{} received in thread {}",
                output::text(&event["kind"]),
                output::short(&event["thread"])
            ),
            "deal_made" => format!("deal {} made", output::short(&event["id"])),
            "delivery_changed" => {
                format!("message {} {}", output::short(&event["id"]), output::text(&event["state"]))
            }
            "peer_connected" | "peer_disconnected" if !json_out => return true,
            _ if json_out => String::new(),
            _ => return true,
        };
        if json_out {
            println!("{event}");
        } else {
            println!("{line}");
        }
        true
    })?;
    match failure {
        Some(e) => Err(e).context("while watching"),
        None => Ok(()),
    }
}

/// Whether `listing` is among the search's results (the node's own search engine decides, so
/// watch and search agree).
fn matches_search(api: &ApiClient, args: &SearchArgs, listing: &Value) -> bool {
    let Some(id) = listing["id"].as_str() else { return false };
    let seller = listing["author"].as_str().map(str::to_owned);
    let narrowed =
        SearchArgs { seller: args.seller.clone().or(seller), limit: 500, offset: 0, ..args.clone() };
    api.get(&format!("/v1/search?{}", search_query(&narrowed)))
        .map(|r| r["hits"].as_array().into_iter().flatten().any(|h| h["id"] == id))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration("30d").expect("ok"), Duration::from_secs(30 * 86_400));
        assert_eq!(duration("2w").expect("ok"), Duration::from_secs(14 * 86_400));
        assert_eq!(duration("90m").expect("ok"), Duration::from_secs(5_400));
        assert_eq!(duration("45").expect("ok"), Duration::from_secs(45));
        for bad in ["", "d", "3y", "0d", "-1d", "1.5d"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn search_queries_are_encoded() {
        let args = SearchArgs {
            text: vec!["road".into(), "bike&co".into()],
            kind: None,
            category: Some("vehicles/bikes".into()),
            min_price: None,
            max_price: Some("200".into()),
            currency: Some("eur".into()),
            seller: None,
            near: None,
            sort: None,
            limit: 20,
            offset: 0,
        };
        assert_eq!(
            search_query(&args),
            "q=road%20bike%26co&limit=20&offset=0&category=vehicles%2Fbikes&max_price=200&currency=EUR"
        );
    }
}
