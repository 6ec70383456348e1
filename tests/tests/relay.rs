//! The relay service under strangers' load: a node that relays keeps to its limits. Fresh
//! identities (bare libp2p swarms with only a relay client) ask a real node for more
//! reservations and more relayed connections than it offers; the excess is refused, and what
//! it granted keeps working.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, noise, relay, tcp, yamux};

use haggle_node::NodeConfig;
use haggle_node::config::RelayMode;
use haggle_tests::TestNode;

/// Longest wait for one relay answer.
const ANSWER: Duration = Duration::from_secs(20);

fn client() -> Result<Swarm<relay::client::Behaviour>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_, relay_client| relay_client)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

/// The node's circuit address: `<addr>/p2p-circuit`.
fn circuit(node: &Multiaddr) -> Multiaddr {
    node.clone().with(Protocol::P2pCircuit)
}

/// A fresh identity asks `node` for a reservation; returns its swarm and whether it got one.
async fn reserve(node: &Multiaddr) -> Result<(Swarm<relay::client::Behaviour>, bool)> {
    let mut swarm = client()?;
    swarm.listen_on(circuit(node))?;
    let answer = tokio::time::timeout(ANSWER, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(relay::client::Event::ReservationReqAccepted { .. }) => return true,
                SwarmEvent::ListenerClosed { .. } | SwarmEvent::ListenerError { .. } => return false,
                _ => {}
            }
        }
    })
    .await
    .context("no answer to a reservation request")?;
    Ok((swarm, answer))
}

/// Drives a swarm in the background (a reserved peer must answer relayed dials).
fn drive(mut swarm: Swarm<relay::client::Behaviour>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    })
}

/// A fresh identity dials `target` through `node`: Ok once connected, Err with the reason.
async fn dial_through(node: &Multiaddr, target: PeerId) -> Result<Swarm<relay::client::Behaviour>> {
    let mut swarm = client()?;
    swarm.dial(circuit(node).with(Protocol::P2p(target)))?;
    let outcome = tokio::time::timeout(ANSWER, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == target => return Ok(()),
                SwarmEvent::OutgoingConnectionError { error, .. } => return Err(error.to_string()),
                _ => {}
            }
        }
    })
    .await
    .context("no answer to a relayed dial")?;
    match outcome {
        Ok(()) => Ok(swarm),
        Err(e) => bail!("{e}"),
    }
}

/// Attack: strangers ask a relaying node for reservations past its budget (here 2), to make it
/// remember them. The first two are granted; the rest are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservations_past_the_relay_budget_are_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = NodeConfig { relay: RelayMode::On, relay_max_reservations: 2, ..NodeConfig::for_tests() };
    let node = TestNode::start_with("relay", dir.path(), config).await?;
    let addr: Multiaddr = node.addr().parse()?;
    let mut granted = Vec::new();
    let mut refused = 0;
    for _ in 0..4 {
        let (swarm, accepted) = reserve(&addr).await?;
        if accepted {
            granted.push(drive(swarm));
        } else {
            refused += 1;
        }
    }
    assert_eq!((granted.len(), refused), (2, 2), "two reservations granted, the rest refused");
    for task in granted {
        task.abort();
    }
    node.stop().await;
    Ok(())
}

/// Attack: strangers open relayed connections through a node past its circuit budget (here 1),
/// to make it forward their traffic. The first goes through; the next is refused while it
/// lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relayed_connections_past_the_circuit_budget_are_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = NodeConfig { relay: RelayMode::On, relay_max_circuits: 1, ..NodeConfig::for_tests() };
    let node = TestNode::start_with("relay", dir.path(), config).await?;
    let addr: Multiaddr = node.addr().parse()?;
    let (target, accepted) = reserve(&addr).await?;
    assert!(accepted, "a reservation within the budget");
    let target_id = *target.local_peer_id();
    let serving = drive(target);

    let first = dial_through(&addr, target_id).await.context("the first relayed connection")?;
    let second = dial_through(&addr, target_id).await;
    let refused = second.err().context("a second relayed connection went through")?;
    assert!(
        refused.to_string().contains("RESOURCE_LIMIT")
            || refused.to_string().to_lowercase().contains("limit"),
        "refused for the limit: {refused}"
    );
    drop(first);
    serving.abort();
    node.stop().await;
    Ok(())
}

/// A node in `off` mode relays for nobody, whatever it could.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_the_relay_off_grants_no_reservation() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = NodeConfig { relay: RelayMode::Off, ..NodeConfig::for_tests() };
    let node = TestNode::start_with("no-relay", dir.path(), config).await?;
    let addr: Multiaddr = node.addr().parse()?;
    let (_, accepted) = reserve(&addr).await?;
    assert!(!accepted);
    node.stop().await;
    Ok(())
}
