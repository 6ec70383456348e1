//! Address hygiene: which peer addresses are worth keeping. A peer reached over the internet may
//! advertise its LAN, Docker or VPN addresses (identify sends every listen address), and Kademlia
//! would spread them network-wide; they are useless outside that peer's network and tell others
//! about it. Such addresses are kept only from peers on this node's own network (reached at a
//! private or loopback address, or found by mDNS).
//!
//! The same rule the other way: this node tells peers (identify, and through it the DHT) only its
//! global listen addresses; LAN peers find its LAN addresses by mDNS. A node that listens on
//! loopback alone (a test or development node) advertises its loopback addresses: it has
//! nothing else to say and nothing to hide. A relay set `on` that listens on private addresses
//! alone (a campus's or community network's relay) tells those: it has no other to give.

use std::net::{Ipv4Addr, Ipv6Addr};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// Whether `addr` can be reached from anywhere on the internet (a DNS name counts: it is
/// resolved where it is dialled).
pub(super) fn is_global(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => is_global_v4(ip),
        Some(Protocol::Ip6(ip)) => is_global_v6(ip),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_)) => true,
        _ => false,
    }
}

/// Whether `addr` is on a local network: private, loopback or link-local.
pub(super) fn is_local(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_private() || ip.is_loopback() || ip.is_link_local(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback() || is_unique_local(ip) || is_link_local_v6(ip),
        _ => false,
    }
}

/// Whether this node advertises its own listen address `addr` (see the module docs);
/// `loopback_only` says whether every address it listens on is a loopback one; `private_too`,
/// whether it tells its private addresses as well (a relay set `on` on a private network, see
/// [`advertise`]), link-local ones never.
pub(crate) fn advertised(addr: &Multiaddr, loopback_only: bool, private_too: bool) -> bool {
    is_global(addr)
        || (loopback_only && is_loopback(addr))
        || (private_too && is_ip(addr) && !is_loopback(addr) && !is_link_local(addr))
}

/// Tells peers about the listen address `addr` (adds it as an external address, which identify
/// sends) if it is one this node advertises, given all it listens on. A relay set `on` on a
/// private network (every address it listens on private: a campus's, a community's) tells its
/// private addresses too: a relay's reservations carry the addresses it tells, and one with none
/// grants reservations no one can use (a trial's relay there refused every home's). A relay with
/// a public address keeps its private ones to itself, as every node does.
pub(crate) fn advertise(
    swarm: &mut libp2p::Swarm<crate::behaviour::Behaviour>,
    addr: Multiaddr,
    relay_on: bool,
) {
    let private_too = relay_on && private_network(swarm.listeners());
    if advertised(&addr, loopback_only(swarm.listeners()), private_too) {
        swarm.add_external_address(addr);
    }
}

fn is_link_local(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_link_local(),
        Some(Protocol::Ip6(ip)) => is_link_local_v6(ip),
        _ => false,
    }
}

fn is_ip(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => !ip.is_unspecified(),
        Some(Protocol::Ip6(ip)) => !ip.is_unspecified(),
        _ => false,
    }
}

/// Whether `addrs` (a node's listen addresses) are on a private network alone: none global, and
/// not loopback alone (a test node). An unspecified address (`0.0.0.0`) is no answer: the
/// addresses it stands for are listed beside it once bound.
pub(crate) fn private_network<'a>(addrs: impl IntoIterator<Item = &'a Multiaddr>) -> bool {
    let bound: Vec<&Multiaddr> = addrs.into_iter().filter(|a| is_ip(a)).collect();
    !bound.is_empty() && !bound.iter().any(|a| is_global(a)) && !bound.iter().all(|a| is_loopback(a))
}

/// Whether every one of `addrs` is a loopback address.
pub(crate) fn loopback_only<'a>(addrs: impl IntoIterator<Item = &'a Multiaddr>) -> bool {
    addrs.into_iter().all(is_loopback)
}

fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// The addresses worth keeping from a peer: all of them if the peer is on this node's network,
/// else only global ones.
pub(super) fn keep(addrs: Vec<Multiaddr>, peer_is_local: bool) -> Vec<Multiaddr> {
    if peer_is_local { addrs } else { addrs.into_iter().filter(is_global).collect() }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || shared)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || is_unique_local(ip)
        || is_link_local_v6(ip))
}

fn is_unique_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xfe00 == 0xfc00
}

fn is_link_local_v6(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Multiaddr {
        text.parse().expect("a multiaddr")
    }

    #[test]
    fn only_global_addresses_are_advertised_except_on_a_loopback_only_node() {
        let lan = addr("/ip4/192.168.1.20/tcp/7400");
        let public = addr("/ip4/203.0.114.7/tcp/7400");
        let docker = addr("/ip4/172.17.0.2/tcp/7400");
        let lo = addr("/ip4/127.0.0.1/tcp/7400");
        let home = [lan.clone(), docker.clone(), lo.clone(), public.clone()];
        let only_lo = loopback_only(&home);
        assert!(!only_lo);
        assert!(advertised(&public, only_lo, false));
        for hidden in [&lan, &docker, &lo] {
            assert!(!advertised(hidden, only_lo, false), "{hidden}");
        }
        assert!(
            loopback_only([&lo]) && advertised(&lo, true, false),
            "a test node on 127.0.0.1 says where it is"
        );
        // A relay set `on` tells its private addresses too (its reservations carry them), never
        // loopback or an unspecified one.
        assert!(advertised(&lan, only_lo, true) && advertised(&docker, only_lo, true));
        assert!(
            !advertised(&lo, only_lo, true) && !advertised(&addr("/ip4/0.0.0.0/tcp/7400"), only_lo, true)
        );
        // A node on a private network alone (a campus's relay), not one with a public address or
        // a test node on loopback.
        assert!(private_network([&lan, &lo]));
        assert!(!private_network([&lan, &public]) && !private_network([&lo]));
    }

    #[test]
    fn only_public_addresses_are_global() {
        for global in ["/ip4/203.0.114.7/tcp/7400", "/ip6/2a01:4f8::1/tcp/7400", "/dns4/example.org/tcp/7400"]
        {
            assert!(is_global(&addr(global)), "{global}");
        }
        for local in [
            "/ip4/192.168.1.20/tcp/7400",
            "/ip4/10.0.0.5/tcp/7400",
            "/ip4/172.17.0.2/tcp/7400",
            "/ip4/127.0.0.1/tcp/7400",
            "/ip4/169.254.3.4/tcp/7400",
            "/ip4/100.64.1.1/tcp/7400",
            "/ip6/::1/tcp/7400",
            "/ip6/fd12:3456::1/tcp/7400",
            "/ip6/fe80::1/tcp/7400",
        ] {
            assert!(!is_global(&addr(local)), "{local}");
        }
        assert!(is_local(&addr("/ip4/192.168.1.20/tcp/7400")));
        assert!(!is_local(&addr("/ip4/203.0.114.7/tcp/7400")));
    }

    #[test]
    fn a_remote_peer_s_private_addresses_are_dropped_a_local_peer_s_kept() {
        let advertised = vec![addr("/ip4/203.0.114.7/tcp/7400"), addr("/ip4/172.17.0.2/tcp/7400")];
        assert_eq!(keep(advertised.clone(), false), vec![addr("/ip4/203.0.114.7/tcp/7400")]);
        assert_eq!(keep(advertised.clone(), true), advertised);
    }

    /// A node behind a NAT is reached through its relays: an address through a public relay is
    /// told to everyone and kept from anyone; one through a relay on someone's LAN is neither.
    #[test]
    fn relayed_addresses_follow_the_relay_s_address() {
        let relay = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
        let public_relay = addr(&format!("/ip4/198.18.0.1/udp/7400/quic-v1/p2p/{relay}/p2p-circuit"));
        let lan_relay = addr(&format!("/ip4/192.168.1.7/tcp/7400/p2p/{relay}/p2p-circuit"));
        assert!(advertised(&public_relay, false, false));
        assert!(!advertised(&lan_relay, false, false));
        assert_eq!(keep(vec![public_relay.clone(), lan_relay.clone()], false), vec![public_relay]);
        // The test-bed range the NAT test uses as "the internet" counts as global (RFC 2544
        // set it aside for such networks; it is not routed on the internet either way).
        assert!(is_global(&addr("/ip4/198.18.0.11/tcp/7400")));
    }
}
