//! Home nodes behind NATs, for real: Linux network namespaces make "the internet" (a bridge on
//! 198.18.0.0/24, the range set aside for network test beds), a public node on it, and two homes
//! (192.168.1.2 and 192.168.2.2), each behind its own router that does what a home router does
//! with nftables: masquerade (source NAT) to its public address, stateful filtering (only replies
//! to what went out come in), and nothing addressed to the router itself from outside. Real
//! `haggle` processes run in the namespaces; every command goes through `haggle` as a user would.
//!
//! Three runs: cone NATs (hole punching gives a direct connection, and the trade goes over it),
//! symmetric NATs (it cannot; the trade goes through the relay), and no relay at all (the trade
//! goes as sealed mail carried by the public node).
//!
//! Needs root, `ip` and `nft` (.ci/run installs nftables); skipped with a message when not root.
//! Only addresses inside the namespaces the test creates are used, every wait is bounded, and
//! the namespaces (with anything still running in them) are removed when the test ends, also
//! when it fails.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{NodeProcess, wait, wait_explained};

/// Longest wait for the direct connection. The goal is 30 s from start (docs/PERFORMANCE.md
/// has the measured times, which this test prints); a test asserts no timing of its own on a
/// shared, noisy machine, only that the connection comes.
const DIRECT_WITHIN: Duration = Duration::from_secs(90);

/// The tests run one at a time: each starts three nodes that punch holes on timers, and three
/// networks at once on 2 cores made the punches miss their moment.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How the routers map ports.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nat {
    /// A connection keeps its source port where it can (Linux masquerade's default), so the
    /// address a peer observes is the one a hole punch reaches: endpoint-independent mapping.
    Cone,
    /// Every connection gets a random port ("symmetric" NAT): the observed address is useless
    /// for hole punching.
    Symmetric,
}

/// The namespaces of one test, removed on drop.
struct Net {
    prefix: String,
    /// The first three octets of "the internet": `198.18.0`, or a private range for a
    /// community network.
    wan: &'static str,
}

impl Net {
    /// Builds the network, or returns None (with a message) when the test cannot run here.
    fn build(tag: &str, nat: Nat) -> Option<Net> {
        Self::build_on(tag, nat, "198.18.0")
    }

    /// [`Net::build`] with "the internet" on `wan` (`10.250.0`: a private network).
    fn build_on(tag: &str, nat: Nat, wan: &'static str) -> Option<Net> {
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipped: the NAT test builds network namespaces and needs root");
            return None;
        }
        for (tool, arg) in [("ip", "-V"), ("nft", "--version")] {
            let found = Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
            assert!(found, "the NAT test needs `{tool}` (Debian: apt-get install iproute2 nftables)");
        }
        let net = Net { prefix: format!("hg{}{tag}", std::process::id() % 100_000), wan };
        net.setup(nat);
        Some(net)
    }

    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn setup(&self, nat: Nat) {
        for name in ["inet", "pub", "r1", "r2", "h1", "h2"] {
            ip(&["netns", "add", &self.ns(name)]);
            ip(&["-n", &self.ns(name), "link", "set", "lo", "up"]);
        }
        let inet = self.ns("inet");
        ip(&["-n", &inet, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &inet, "link", "set", "br0", "up"]);
        // The public node and the two routers' WAN sides on the bridge.
        let wan = self.wan;
        for (name, dev, addr) in [
            ("pub", "eth0", format!("{wan}.1/24")),
            ("r1", "wan", format!("{wan}.11/24")),
            ("r2", "wan", format!("{wan}.12/24")),
        ] {
            let outer = format!("{}x{name}", self.prefix);
            ip(&["link", "add", &outer, "type", "veth", "peer", "name", dev, "netns", &self.ns(name)]);
            ip(&["link", "set", &outer, "netns", &inet]);
            ip(&["-n", &inet, "link", "set", &outer, "master", "br0", "up"]);
            ip(&["-n", &self.ns(name), "addr", "add", &addr, "dev", dev]);
            ip(&["-n", &self.ns(name), "link", "set", dev, "up"]);
        }
        // Each home behind its router.
        for (router, home, subnet) in [("r1", "h1", 1), ("r2", "h2", 2)] {
            let (r, h) = (self.ns(router), self.ns(home));
            ip(&["-n", &r, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", &h]);
            ip(&["-n", &r, "addr", "add", &format!("192.168.{subnet}.1/24"), "dev", "lan"]);
            ip(&["-n", &r, "link", "set", "lan", "up"]);
            ip(&["-n", &h, "addr", "add", &format!("192.168.{subnet}.2/24"), "dev", "eth0"]);
            ip(&["-n", &h, "link", "set", "eth0", "up"]);
            ip(&["-n", &h, "route", "add", "default", "via", &format!("192.168.{subnet}.1")]);
            run_in(&r, "sh", &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"], None);
            run_in(&r, "nft", &["-f", "-"], Some(&router_rules(nat)));
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for name in ["h1", "h2", "r1", "r2", "pub", "inet"] {
            let ns = self.ns(name);
            // Anything still running in it (a node of a failed test) goes first.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

/// A home router's rules: source NAT to the WAN address, replies only, the router itself closed
/// from outside (an unsolicited packet to it must not leave a conntrack entry behind, which
/// would make the NAT pick another port for the home's own connection to that peer later).
fn router_rules(nat: Nat) -> String {
    let masquerade = if nat == Nat::Symmetric { "masquerade random" } else { "masquerade" };
    format!(
        "table ip nat {{
  chain postrouting {{
    type nat hook postrouting priority 100;
    oifname \"wan\" {masquerade};
  }}
}}
table inet filter {{
  chain forwarding {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept;
    iifname \"lan\" accept;
  }}
  chain input {{
    type filter hook input priority 0; policy accept;
    iifname \"wan\" ct state established,related accept;
    iifname \"wan\" drop;
  }}
}}
"
    )
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn run_in(ns: &str, program: &str, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip netns exec");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{program} {args:?} in {ns}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The three nodes: the public one (with `public_flags`), then the two homes dialling it (QUIC
/// and TCP).
fn start_nodes(net: &Net, root: &Path, public_flags: &[&str]) -> (NodeProcess, NodeProcess, NodeProcess) {
    let (tcp, quic) =
        (format!("/ip4/{}.1/tcp/7000", net.wan), format!("/ip4/{}.1/udp/7000/quic-v1", net.wan));
    let public = NodeProcess::spawn(
        Some(&net.ns("pub")),
        &root.join("pub"),
        &[tcp.as_str(), quic.as_str()],
        &[],
        &[],
        public_flags,
    );
    let boot: Vec<&str> = public.addrs.iter().map(String::as_str).collect();
    let home = |name: &str| {
        NodeProcess::spawn(
            Some(&net.ns(name)),
            &root.join(name),
            &["/ip4/0.0.0.0/tcp/7400", "/ip4/0.0.0.0/udp/7400/quic-v1"],
            &boot,
            &[],
            &[],
        )
    };
    let (h1, h2) = (home("h1"), home("h2"));
    (public, h1, h2)
}

fn network(node: &NodeProcess) -> Value {
    node.json(&["status"])["network"].clone()
}

/// The connections `node` has to `peer` (empty if none).
fn connections(node: &NodeProcess, peer: &str) -> Vec<Value> {
    let peers = node.json(&["peers"]);
    peers["peers"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["peer_id"] == peer))
        .and_then(|p| p["connections"].as_array().cloned())
        .unwrap_or_default()
}

/// Both homes find they are private and get a reservation on the public node, which is public
/// and relays.
fn wait_reserved(public: &NodeProcess, homes: [&NodeProcess; 2]) {
    let n = network(public);
    assert_eq!(n["reachability"], "public", "{n}");
    assert_eq!(n["relaying"], true, "a public node relays by default: {n}");
    for home in homes {
        wait("a home to learn it is private and hold a relay reservation", || {
            let n = network(home);
            (n["reachability"] == "private" && n["relays"].as_array().is_some_and(|r| !r.is_empty()))
                .then_some(())
        });
        let n = network(home);
        assert_eq!(n["relaying"], false, "a private node does not relay: {n}");
        let addrs: Vec<String> = n["external_addrs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        assert!(!addrs.is_empty(), "a private node advertises its relayed addresses");
        for addr in addrs {
            assert!(addr.contains("/p2p-circuit"), "only relayed addresses, never its LAN ones: {addr}");
        }
    }
}

/// h2 publishes; h1 sees the listing (through the public node) and makes an offer. Returns the
/// thread.
fn offer(h1: &NodeProcess, h2: &NodeProcess) -> String {
    let listing = h2.json(&[
        "publish",
        "--title",
        "Road bike, 56 cm",
        "--price",
        "120",
        "--currency",
        "EUR",
        "--category",
        "vehicles/bikes",
    ]);
    let id = listing["id"].as_str().expect("id").to_owned();
    wait("the listing to reach the other home", || {
        h1.run(&["show", &id[..10]]).status.success().then_some(())
    });
    let offer = h1.json(&["offer", &id[..10], "--price", "100"]);
    offer["thread"].as_str().expect("thread").to_owned()
}

/// h2 accepts the offer once it has it; both end with the deal.
fn accept(h1: &NodeProcess, h2: &NodeProcess, thread: &str) {
    wait("the seller to receive the offer", || {
        let t = h2.json(&["offers"]);
        (t["threads"][0]["thread"] == thread).then_some(())
    });
    h2.json(&["accept", &thread[..10]]);
    for node in [h1, h2] {
        wait("both homes to hold the deal", || {
            (node.json(&["deals"])["deals"].as_array().map(Vec::len) == Some(1)).then_some(())
        });
    }
}

#[test]
fn two_homes_behind_nats_punch_a_direct_connection_and_trade_over_it() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(net) = Net::build("c", Nat::Cone) else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (public, h1, h2) = start_nodes(&net, root.path(), &[]);
    wait_reserved(&public, [&h1, &h2]);

    // The offer makes h1 look for h2: through the relay, then hole punching.
    let thread = offer(&h1, &h2);
    // On failure, what each home saw: its connections, reachability, relays and punches.
    wait_explained(
        DIRECT_WITHIN,
        "a direct connection between the homes",
        || {
            let c = connections(&h1, &h2.peer_id);
            (!c.is_empty() && c.iter().all(|c| c["relayed"] == false)).then_some(())
        },
        || {
            format!(
                ": h1 connections {:?}; h1 {}; h2 {}",
                connections(&h1, &h2.peer_id),
                network(&h1),
                network(&h2)
            )
        },
    );
    eprintln!("direct connection {:.1} s after the nodes started", started.elapsed().as_secs_f64());
    // Behind two NATs a direct connection can only come from a hole punch; the side that sees
    // the punch succeed counts it (one side or both, depending on which attempt won).
    let punched = |n: &NodeProcess| network(n)["hole_punches"]["succeeded"].as_u64().unwrap_or(0);
    assert!(punched(&h1) + punched(&h2) >= 1, "{} / {}", network(&h1), network(&h2));

    // Once the homes are connected directly, their messages go over that connection, not
    // through the public node. (The offer itself may have crossed as sealed mail while the
    // homes were still looking for each other.) The seller counters, the buyer accepts.
    wait("the seller to receive the offer", || {
        (h2.json(&["offers"])["threads"][0]["thread"] == thread.as_str()).then_some(())
    });
    // What went through the relay before the direct connection (the offer may have) is not
    // counted against it.
    let relayed = |n: &NodeProcess| network(n)["delivered"]["relayed"].as_u64().unwrap_or(0);
    wait("the buyer's node to record the offer delivered", || {
        (h1.json(&["offers"])["threads"][0]["delivery"] == "delivered").then_some(())
    });
    let before = [relayed(&h1), relayed(&h2)];
    h2.json(&["counter", &thread[..10], "--price", "110"]);
    wait("the counter to be delivered over the direct connection", || {
        (network(&h2)["delivered"]["direct"].as_u64() >= Some(1)).then_some(())
    });
    wait("the buyer to receive the counter", || {
        let t = h1.json(&["offers"]);
        (t["threads"][0]["terms"]["price"]["display"] == "110.00 EUR").then_some(())
    });
    h1.json(&["accept", &thread[..10]]);
    for node in [&h1, &h2] {
        wait("both homes to hold the deal", || {
            (node.json(&["deals"])["deals"].as_array().map(Vec::len) == Some(1)).then_some(())
        });
    }
    // The seller's node holds the deal as soon as it stores the acceptance; the buyer's node
    // counts the delivery when the seller's answer comes back, a moment later.
    wait("the acceptance to be counted as delivered over the direct connection", || {
        (network(&h1)["delivered"]["direct"].as_u64() >= Some(1)).then_some(())
    });
    for (node, before) in [&h1, &h2].into_iter().zip(before) {
        let n = network(node);
        assert!(n["delivered"]["direct"].as_u64() >= Some(1), "{n}");
        assert_eq!(
            relayed(node),
            before,
            "nothing went through the relay once the homes were connected: {n}"
        );
    }

    // What a user sees.
    let peers = String::from_utf8_lossy(&h1.run(&["peers"]).stdout).to_string();
    let row = peers.lines().find(|l| l.contains(&h2.peer_id)).expect("h2 in `haggle peers`").to_owned();
    assert!(row.contains("direct quic") || row.contains("direct tcp"), "{peers}");
    assert!(!row.contains("relayed"), "{peers}");
    let status = String::from_utf8_lossy(&h1.run(&["status"]).stdout).to_string();
    assert!(status.contains("reachability  private"), "{status}");
    assert!(status.contains("hole punching"), "{status}");
    drop((h1, h2, public));
    drop(net);
}

#[test]
fn behind_symmetric_nats_the_homes_still_trade_through_the_relay() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(net) = Net::build("s", Nat::Symmetric) else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let (public, h1, h2) = start_nodes(&net, root.path(), &[]);
    wait_reserved(&public, [&h1, &h2]);

    let thread = offer(&h1, &h2);
    // h1 reaches h2 through the relay; hole punching cannot work across random port mappings.
    wait("a relayed connection between the homes", || {
        let c = connections(&h1, &h2.peer_id);
        c.iter().any(|c| c["relayed"] == true).then_some(())
    });
    accept(&h1, &h2, &thread);
    for node in [&h1, &h2] {
        let n = network(node);
        assert_eq!(n["hole_punches"]["succeeded"], 0, "{n}");
        assert_eq!(n["delivered"]["direct"], 0, "nothing can go direct: {n}");
    }
    let c = connections(&h1, &h2.peer_id);
    assert!(c.iter().all(|c| c["relayed"] == true), "no direct connection: {c:?}");
    // The messages crossed through the relay or, when that was quicker, as sealed mail carried
    // by the public node; never direct.
    // A sender counts a delivery when the receiver's answer comes back, which may be a moment
    // after the receiver holds the message.
    let relayed = || {
        network(&h1)["delivered"]["relayed"].as_u64().unwrap_or(0)
            + network(&h2)["delivered"]["relayed"].as_u64().unwrap_or(0)
    };
    let relayed = wait("the relay to have carried the trade", || Some(relayed()).filter(|n| *n >= 1));
    eprintln!("symmetric NAT: {relayed} negotiation messages through the relay, the rest by mailbox");
    // The relay goes: the homes stop advertising the circuit address it served (a trial's
    // operator was told `reached through relays` and handed out an address no relay served).
    public.stop();
    for home in [&h1, &h2] {
        wait("a home to stop advertising its relayed address", || {
            let n = network(home);
            let circuit = n["external_addrs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a.as_str().is_some_and(|a| a.contains("/p2p-circuit")));
            (!circuit && n["relays"].as_array().is_some_and(Vec::is_empty)).then_some(())
        });
        let said = String::from_utf8_lossy(&home.run(&["status"]).stdout).into_owned();
        assert!(said.contains("no relay holds a reservation for it now"), "{said}");
    }
    drop((h1, h2));
    drop(net);
}

/// With no relay at all (the public node has it off), the homes still trade: the offer and the
/// accept cross as sealed mail that the public node carries by gossip.
#[test]
fn with_no_relay_the_homes_trade_through_mailboxes() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(net) = Net::build("m", Nat::Cone) else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let (public, h1, h2) = start_nodes(&net, root.path(), &["--relay", "off"]);
    assert_eq!(network(&public)["relaying"], false);
    for home in [&h1, &h2] {
        wait("a home to learn it is private", || (network(home)["reachability"] == "private").then_some(()));
    }
    let thread = offer(&h1, &h2);
    accept(&h1, &h2, &thread);
    for node in [&h1, &h2] {
        let n = network(node);
        assert_eq!(n["relays"].as_array().map(Vec::len), Some(0), "no relay to hold a slot on: {n}");
        assert_eq!((&n["delivered"]["direct"], &n["delivered"]["relayed"]), (&0.into(), &0.into()), "{n}");
    }
    // Counted as what they were, once the receipts came back (status said 0 and 0 before).
    wait("the mailbox deliveries to be counted", || {
        let sum = |n: &NodeProcess| network(n)["delivered"]["mailbox"].as_u64().unwrap_or(0);
        (sum(&h1) + sum(&h2) >= 2).then_some(())
    });
    assert!(connections(&h1, &h2.peer_id).is_empty(), "the homes never connected");
    drop((h1, h2, public));
    drop(net);
}

/// From a trial on a private network (a campus's, a community's): a relay set `on` whose only
/// addresses were private granted reservations with no address in them, which every home
/// refused, and the homes traded only by mailbox. It now tells its private addresses, and the
/// homes hold reservations on it and trade through it.
#[test]
fn on_a_private_network_a_relay_set_on_holds_the_homes_reservations() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(net) = Net::build_on("p", Nat::Symmetric, "10.250.0") else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let (public, h1, h2) = start_nodes(&net, root.path(), &["--relay", "on"]);
    assert_eq!(network(&public)["relaying"], true);
    for home in [&h1, &h2] {
        wait("a home to hold a reservation on the private relay", || {
            let n = network(home);
            n["relays"].as_array().is_some_and(|r| !r.is_empty()).then_some(())
        });
    }
    let thread = offer(&h1, &h2);
    wait("a relayed connection between the homes", || {
        connections(&h1, &h2.peer_id).iter().any(|c| c["relayed"] == true).then_some(())
    });
    accept(&h1, &h2, &thread);
    // The relay says where it is, not "behind a NAT" (from the same trial).
    wait("the relay to find it is not reachable from the internet", || {
        (network(&public)["reachability"] == "private").then_some(())
    });
    let said = String::from_utf8_lossy(&public.run(&["status"]).stdout).into_owned();
    assert!(said.contains("it listens on private addresses only"), "{said}");
    drop((h1, h2, public));
    drop(net);
}
