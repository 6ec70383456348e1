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
