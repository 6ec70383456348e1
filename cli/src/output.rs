//! Human output: aligned tables, prices with their currency, relative times, colour only on a
//! terminal (and never with NO_COLOR).

use std::io::IsTerminal;

use serde_json::Value;

/// Whether to use colour on stdout.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub fn bold(text: &str) -> String {
    if colour() { format!("\x1b[1m{text}\x1b[0m") } else { text.to_owned() }
}

pub fn dim(text: &str) -> String {
    if colour() { format!("\x1b[2m{text}\x1b[0m") } else { text.to_owned() }
}

/// Prints rows as aligned columns under a bold header.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.clone() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", bold(&line(headers.iter().map(|h| (*h).to_owned()).collect())));
    for row in rows {
        println!("{}", line(row.clone()));
    }
}

/// "1 thread", "2 threads".
pub fn count(n: &serde_json::Value, noun: &str) -> String {
    let n = n.as_u64().unwrap_or(0);
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// "in 3 days", "2 hours ago", "just now".
pub fn relative(ms: u64, now_ms: u64) -> String {
    let (delta, future) = if ms >= now_ms { (ms - now_ms, true) } else { (now_ms - ms, false) };
    let secs = delta / 1000;
    // Nearest whole unit, so a listing published for 30 days reads "in 30 days".
    let (n, unit) = match secs {
        0..=59 => return "just now".to_owned(),
        60..=3_569 => ((secs + 30) / 60, "minute"),
        3_570..=84_599 => ((secs + 1_800) / 3_600, "hour"),
        _ => ((secs + 43_200) / 86_400, "day"),
    };
    let unit = if n == 1 { unit.to_owned() } else { format!("{unit}s") };
    if future { format!("in {n} {unit}") } else { format!("{n} {unit} ago") }
}

pub fn now_ms() -> u64 {
    haggle_protocol::Timestamp::now().as_millis()
}

/// The first 10 characters of an id, as tables show it.
pub fn short(id: &Value) -> String {
    id.as_str().map(|s| s.chars().take(10).collect()).unwrap_or_default()
}

/// A PeerId shortened for tables: `12D3KooW…a1b2c3`.
pub fn short_peer(peer: &Value) -> String {
    let s = peer.as_str().unwrap_or_default();
    if s.len() > 16 { format!("{}…{}", &s[..8], &s[s.len() - 6..]) } else { s.to_owned() }
}

pub fn price(p: &Value) -> String {
    p["display"].as_str().map_or_else(|| "free".to_owned(), str::to_owned)
}

pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Prints one listing in full.
pub fn listing(l: &Value) {
    let now = now_ms();
    println!(
        "{}  {}",
        bold(&text(&l["title"])),
        dim(&format!("[{}, {}]", text(&l["kind"]), text(&l["state"])))
    );
    println!("  id        {}", text(&l["id"]));
    println!("  price     {}", price(&l["price"]));
    let remaining = l["remaining"].as_u64().map(|r| format!(" ({r} left to promise)")).unwrap_or_default();
    println!("  quantity  {}{remaining}", text(&l["quantity"]));
    println!("  category  {}", text(&l["category"]));
    if let Some(tags) = l["tags"].as_array().filter(|t| !t.is_empty()) {
        println!("  tags      {}", tags.iter().map(text).collect::<Vec<_>>().join(", "));
    }
    if !text(&l["location"]).is_empty() {
        println!("  location  {}", text(&l["location"]));
    }
    if let Some(pay) = l["payment"].as_array().filter(|p| !p.is_empty()) {
        println!("  payment   {}", pay.iter().map(text).collect::<Vec<_>>().join(", "));
    }
    if !text(&l["delivery"]).is_empty() {
        println!("  delivery  {}", text(&l["delivery"]));
    }
    println!("  seller    {}{}", text(&l["author"]), if l["mine"] == true { " (you)" } else { "" });
    println!(
        "  revision  {}, published {}",
        text(&l["revision"]),
        relative(l["created_at"].as_u64().unwrap_or(0), now)
    );
    let expires = l["expires_at"].as_u64().unwrap_or(0);
    println!("  expires   {}", relative(expires, now));
    if !text(&l["description"]).is_empty() {
        println!();
        for line in text(&l["description"]).lines() {
            println!("  {line}");
        }
    }
}

/// Prints one thread in full.
pub fn thread(t: &Value) {
    let now = now_ms();
    println!(
        "{}  {}",
        bold(&format!("Offer thread {}", short(&t["thread"]))),
        dim(&format!("[{}]", text(&t["state"])))
    );
    println!("  listing   {} ({})", text(&t["listing_title"]), short(&t["listing"]));
    println!("  you are   the {}; other party {}", text(&t["role"]), text(&t["counterparty"]));
    let terms = &t["terms"];
    let expiry = if t["awaiting"].is_null() {
        String::new()
    } else {
        format!(", expires {}", relative(terms["expires_at"].as_u64().unwrap_or(0), now))
    };
    println!(
        "  terms     {} x{} (proposed by {}{expiry})",
        price(&terms["price"]),
        text(&terms["quantity"]),
        text(&t["proposed_by"])
    );
    match t["awaiting"].as_str() {
        Some("me") => println!("  next      your move: accept, counter or decline"),
        Some(_) => println!("  next      waiting for the other party"),
        None => {}
    }
    if let Some(deal) = t["deal"].as_str() {
        println!("  deal      {deal}");
    }
    println!();
    for m in t["messages"].as_array().into_iter().flatten() {
        let terms = if m["terms"].is_null() {
            String::new()
        } else {
            format!(" {} x{}", price(&m["terms"]["price"]), text(&m["terms"]["quantity"]))
        };
        let delivery = m["delivery"].as_str().map(|d| format!(" [{d}]")).unwrap_or_default();
        let off_chain = if m["on_chain"] == false { " (crossed, not counted)" } else { "" };
        println!(
            "  {:<9} {:<5} {:<9}{terms}{delivery}{off_chain}  {}",
            relative(m["created_at"].as_u64().unwrap_or(0), now),
            text(&m["from"]),
            text(&m["kind"]),
            dim(&text(&m["message"]))
        );
    }
}

/// Prints one deal.
pub fn deal(d: &Value) {
    println!("{}", bold(&format!("Deal {}", short(&d["id"]))));
    println!("  listing   {} ({})", text(&d["title"]), short(&d["listing"]));
    println!("  terms     {} x{}", price(&d["terms"]["price"]), text(&d["terms"]["quantity"]));
    println!("  seller    {}", text(&d["seller"]));
    println!("  buyer     {}", text(&d["buyer"]));
    println!("  made      {}", relative(d["made_at"].as_u64().unwrap_or(0), now_ms()));
    println!(
        "  signed    {} bytes (haggle show {} --json prints them)",
        text(&d["signed"]).len() / 2,
        short(&d["id"])
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = 10_000_000_000;
        assert_eq!(relative(now + 3 * 86_400_000 + 5, now), "in 3 days");
        assert_eq!(relative(now - 2 * 3_600_000, now), "2 hours ago");
        assert_eq!(relative(now - 60_000, now), "1 minute ago");
        assert_eq!(relative(now + 500, now), "just now");
    }

    #[test]
    fn peers_and_ids_are_shortened() {
        assert_eq!(short_peer(&Value::from("12D3KooWABCDEFGHIJKLMNOP")), "12D3KooW…KLMNOP");
        assert_eq!(short(&Value::from("0123456789abcdef")), "0123456789");
    }
}
