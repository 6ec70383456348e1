//! Files between real nodes with a hostile peer among them: a peer that answers file requests
//! with bytes that do not match the hash is penalised and asked nothing more, and the fetch
//! completes from an honest peer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use haggle_node::NodeEvent;
use haggle_node::files::FetchState;
use haggle_tests::rogue::{FileServing, Rogue};
use haggle_tests::{TestNode, wait_until};

/// 1.5 MiB of noise: 96 groups of 16 KiB, six requests of 16.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_chunk_is_refused_its_sender_penalised_and_the_fetch_completes_from_an_honest_peer()
-> Result<()> {
    let (dir_a, dir_c, dir_r) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    let a = TestNode::start("A", dir_a.path(), vec![]).await?;
    let mut c = TestNode::start("C", dir_c.path(), vec![a.addr()]).await?;
    let bytes = noise(1_536 * 1024);
    let blob = a.node.service.store_blob(&bytes)?;

    // The rogue holds the same file and answers every request for it with one bit flipped.
    let rogue_store = Arc::new(haggle_storage::blobs::Blobs::open(dir_r.path())?);
    rogue_store.insert(&bytes, true)?;
    let answered = Arc::new(AtomicU64::new(0));
    let rogue = Rogue::spawn(c.addr().parse()?)?;
    rogue.serve_files(FileServing { blobs: rogue_store, tamper: true, answered: answered.clone() }).await?;
    let handle = c.node.handle.clone();
    wait_until("C to be connected to A and to the rogue", || {
        let handle = handle.clone();
        async move { handle.peers().await.is_ok_and(|p| p.len() == 2) }
    })
    .await?;

    let mut fetch = c.node.handle.fetch(blob, vec![]);
    let state = tokio::time::timeout(haggle_tests::STEP * 4, fetch.wait_for(|s| *s != FetchState::Running))
        .await??
        .clone();
    assert_eq!(state, FetchState::Done);
    assert!(answered.load(Ordering::SeqCst) >= 1, "the rogue was asked for part of the file");
    let mut on_c = Vec::new();
    std::io::Read::read_to_end(&mut c.node.service.blobs().open_blob(&blob.hash)?.0, &mut on_c)?;
    assert!(on_c == bytes, "C holds the file byte for byte");
    let rogue_id = rogue.id;
    c.wait_for(
        "C to penalise the rogue",
        |e| matches!(e, NodeEvent::PeerMisbehaved { peer, .. } if *peer == rogue_id),
    )
    .await?;
    let counted = c.node.service.metrics().encode();
    assert!(counted.contains("haggle_file_answers_received_total{answer=\"corrupt\"}"), "{counted}");
    assert!(counted.contains("haggle_file_answers_received_total{answer=\"verified\"}"), "{counted}");
    assert!(a.node.service.metrics().encode().contains("haggle_file_requests_served_total{answer=\"data\"}"));
    // Asked once, refused once: the rogue got no more requests after its bad answer, beyond
    // those already in flight (at most four to one peer).
    assert!(
        answered.load(Ordering::SeqCst) <= 4,
        "{} answers from the rogue",
        answered.load(Ordering::SeqCst)
    );
    a.stop().await;
    c.stop().await;
    Ok(())
}

/// Defect: several downloads from one seller at once failed (`max sub-streams reached`): each
/// fetch kept four requests in flight to the peer, and a connection carries 16 file streams.
/// Ten fetches at once from the only peer holding the files now all complete, and none of
/// them saw a failed request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_downloads_from_one_seller_at_once_all_complete() -> Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = TestNode::start("A", dir_a.path(), vec![]).await?;
    let b = TestNode::start("B", dir_b.path(), vec![a.addr()]).await?;
    let files: Vec<Vec<u8>> = (0..10u8)
        .map(|i| {
            let mut bytes = noise(768 * 1024);
            bytes[0] = i;
            bytes
        })
        .collect();
    let blobs = files.iter().map(|f| a.node.service.store_blob(f)).collect::<Result<Vec<_>, _>>()?;
    let handle = b.node.handle.clone();
    wait_until("B to be connected to A", || {
        let handle = handle.clone();
        async move { handle.peers().await.is_ok_and(|p| p.len() == 1) }
    })
    .await?;
    let fetches: Vec<_> = blobs.iter().map(|blob| b.node.handle.fetch(*blob, vec![])).collect();
    for (i, mut fetch) in fetches.into_iter().enumerate() {
        let state =
            tokio::time::timeout(haggle_tests::STEP * 4, fetch.wait_for(|s| *s != FetchState::Running))
                .await??
                .clone();
        assert_eq!(state, FetchState::Done, "download {i}");
    }
    for (blob, bytes) in blobs.iter().zip(&files) {
        let mut held = Vec::new();
        std::io::Read::read_to_end(&mut b.node.service.blobs().open_blob(&blob.hash)?.0, &mut held)?;
        assert!(held == *bytes, "B holds each file byte for byte");
    }
    let counted = b.node.service.metrics().encode();
    assert!(!counted.contains("haggle_file_answers_received_total{answer=\"failed\"}"), "{counted}");
    a.stop().await;
    b.stop().await;
    Ok(())
}

/// Attack: a peer asks a node for files it does not hold, to make it fetch them from the network
/// on the peer's behalf (amplification), and sends requests no honest node sends. The node
/// fetches at most four small files for peers at once and never a large one; a malformed request
/// counts against its sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_cannot_make_a_node_fetch_without_bound_and_malformed_requests_cost_it() -> Result<()> {
    use haggle_node::files::wire::{BlobRequest, BlobResponse};
    use haggle_protocol::BlobHash;

    let dir = tempfile::tempdir()?;
    let mut b = TestNode::start("B", dir.path(), vec![]).await?;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    let handle = b.node.handle.clone();
    wait_until("B to be connected to the rogue", || {
        let handle = handle.clone();
        async move { handle.peers().await.is_ok_and(|p| p.len() == 1) }
    })
    .await?;
    let target = b.node.peer_id;
    let ask = |hash: [u8; 32], size: u64, count: u32| BlobRequest {
        hash: BlobHash(hash),
        size,
        first: 0,
        count,
        for_peer: false,
    };

    // Twenty small files nobody holds: B sets out to fetch a few, then says it is not fetching.
    let mut fetching = 0;
    for i in 0..20u8 {
        match rogue.ask_file(target, ask([i; 32], 100_000, 1)).await? {
            Ok(BlobResponse::Missing { fetching: true }) => fetching += 1,
            Ok(BlobResponse::Missing { fetching: false }) => {}
            other => anyhow::bail!("unexpected answer {other:?}"),
        }
    }
    assert!((1..=4).contains(&fetching), "{fetching} fetches for a peer at once");
    // A request made on behalf of another peer never sets this node fetching in turn.
    let chained = rogue.ask_file(target, BlobRequest { for_peer: true, ..ask([98; 32], 100_000, 1) }).await?;
    assert!(matches!(chained, Ok(BlobResponse::Missing { fetching: false })), "{chained:?}");
    // A file larger than a picture is never fetched for a peer.
    let big = rogue.ask_file(target, ask([99; 32], 50 * 1024 * 1024, 1)).await?;
    assert!(matches!(big, Ok(BlobResponse::Missing { fetching: false })), "{big:?}");

    // Requests for no groups, or more than sixteen, are the sender's fault.
    for count in [0, 17] {
        let answer = rogue.ask_file(target, ask([7; 32], 100_000, count)).await?;
        assert!(matches!(answer, Ok(BlobResponse::Missing { fetching: false })), "{answer:?}");
    }
    let rogue_id = rogue.id;
    b.wait_for(
        "B to count the malformed requests",
        |e| matches!(e, NodeEvent::PeerMisbehaved { peer, rejected: 2 } if *peer == rogue_id),
    )
    .await?;
    b.stop().await;
    Ok(())
}

/// Attack: a peer asks for parts of a file and reads none of the answers, which stayed in
/// memory until the requests timed out: 16 answers of 272 KiB per connection. Answers not yet
/// written are counted; past eight answers' worth for one peer its requests are answered busy,
/// another peer is served meanwhile, and once its connection closes it is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_that_reads_no_file_answers_is_answered_busy_and_others_are_served() -> Result<()> {
    use haggle_node::files::wire::{BLOB_PROTOCOL, BlobRequest, BlobResponse};
    let dir = tempfile::tempdir()?;
    let b = TestNode::start("B", dir.path(), vec![]).await?;
    let blob = b.node.service.store_blob(&noise(512 * 1024))?;
    let whole = BlobRequest { hash: blob.hash, size: blob.size, first: 0, count: 16, for_peer: true };
    let small = BlobRequest { count: 1, ..whole.clone() };
    let b_id = b.node.peer_id;
    let rogue = Rogue::spawn(b.addr().parse()?)?;
    wait_until("the rogue to connect", || rogue.is_connected()).await?;
    // Ten answers of 256 KiB unread: over the eight answers' worth one peer may have waiting.
    rogue.ask_unread(b_id, BLOB_PROTOCOL, &whole, 10).await?;
    wait_until("B to answer the rogue busy", || async {
        matches!(rogue.ask_file(b_id, small.clone()).await, Ok(Ok(BlobResponse::Busy)))
    })
    .await?;
    // Another peer is served.
    let other = Rogue::spawn(b.addr().parse()?)?;
    wait_until("the other peer to connect", || other.is_connected()).await?;
    match other.ask_file(b_id, whole.clone()).await? {
        Ok(BlobResponse::Data(data)) => assert!(data.len() >= 256 * 1024, "{}", data.len()),
        got => panic!("another peer is served: {got:?}"),
    }
    // Once the rogue's connection closes, its answers leave the count, and back, it is served.
    rogue.reconnect(b_id, b.addr().parse()?).await?;
    wait_until("B to serve the rogue again", || async {
        matches!(rogue.ask_file(b_id, small.clone()).await, Ok(Ok(BlobResponse::Data(_))))
    })
    .await?;
    b.stop().await;
    Ok(())
}
