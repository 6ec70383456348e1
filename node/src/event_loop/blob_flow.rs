//! Files over `/haggle/blob/1`: answering peers' requests for parts of files (read and encoded
//! on the blocking pool), and carrying this node's own requests for the fetches in
//! [`crate::files`].

use std::collections::HashMap;

use libp2p::PeerId;
use libp2p::request_response::{self, InboundRequestId, OutboundRequestId, ResponseChannel};
use tokio::sync::oneshot;

use haggle_protocol::BlobRef;
use haggle_storage::blobs::{BlobError, MAX_GROUPS_PER_REQUEST};

use super::budget::Spend;
use super::peers::Kind;
use super::unwritten::{Limits, Unwritten};
use super::{Done, EventLoop, or_on_panic};
use crate::files::wire::{BlobRequest, BlobResponse};

/// File requests answered at once (each reads up to 256 KiB on the blocking pool).
const MAX_SERVING_BLOBS: usize = 32;
/// This node's file requests in flight at once (all fetches together).
const MAX_OUTBOUND_BLOBS: usize = 256;
/// File answers let wait unwritten (see [`super::unwritten`]): a peer that reads none held 16
/// answers of 272 KiB per connection (4.3 MiB) until its requests timed out. Per peer, eight
/// whole answers (an honest fetch keeps at most six requests in flight to one peer); in all,
/// 96 MiB (one address's 8 connections hold 17 MiB); counted at most 60 s (a file stream lives
/// 20 s).
const UNWRITTEN: Limits = Limits {
    per_peer: 8 * crate::files::wire::MAX_BLOB_RESPONSE as usize,
    total: 96 << 20,
    forget_after: std::time::Duration::from_secs(60),
};
/// What a file request is counted at from its admission until its answer is handed over.
const UNWRITTEN_RESERVED: usize = crate::files::wire::MAX_BLOB_RESPONSE as usize;

type Reply = oneshot::Sender<Result<BlobResponse, String>>;

/// File requests in flight, both ways; both maps are bounded by the limits above.
#[derive(Debug, Default)]
pub(super) struct BlobFlow {
    /// Our requests: request id → who waits for the answer.
    outbound: HashMap<OutboundRequestId, Reply>,
    /// Peers' requests being read from disk, by token.
    inbound: HashMap<u64, (ResponseChannel<BlobResponse>, InboundRequestId)>,
    next_token: u64,
    /// Our answers handed to libp2p and not yet written (or dropped).
    unwritten: Unwritten,
}

/// A file request answered from disk (or not).
#[derive(Debug)]
pub(crate) struct Served {
    token: u64,
    peer: PeerId,
    request: BlobRequest,
    answer: Result<Vec<u8>, BlobError>,
}

impl EventLoop {
    pub(super) fn on_blob_event(&mut self, event: request_response::Event<BlobRequest, BlobResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, request_id } => {
                    self.on_blob_request(peer, request, (channel, request_id));
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(reply) = self.blob_flow.outbound.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                if let Some(reply) = self.blob_flow.outbound.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, request_id, .. } => {
                self.blob_flow.unwritten.written(&request_id);
                tracing::debug!(%peer, %error, "inbound file request failed");
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.blob_flow.unwritten.written(&request_id);
            }
        }
    }

    fn on_blob_request(
        &mut self,
        peer: PeerId,
        request: BlobRequest,
        (channel, request_id): (ResponseChannel<BlobResponse>, InboundRequestId),
    ) {
        let now = std::time::Instant::now();
        if self.peers.is_banned(&peer, now) {
            return;
        }
        if request.count == 0 || request.count > MAX_GROUPS_PER_REQUEST {
            // No honest node asks for that.
            self.penalise(peer);
            let _ = self
                .swarm
                .behaviour_mut()
                .blobs
                .send_response(channel, BlobResponse::Missing { fetching: false });
            return;
        }
        let spent = self.peers.spend(&peer, Kind::BlobRequest, 1, now);
        if spent != Spend::Allowed
            || self.blob_flow.inbound.len() >= MAX_SERVING_BLOBS
            || self.blob_flow.unwritten.full(&peer, UNWRITTEN, now)
        {
            if spent == Spend::Offence {
                self.penalise(peer);
            }
            self.service.metrics().file_request("busy");
            let _ = self.swarm.behaviour_mut().blobs.send_response(channel, BlobResponse::Busy);
            return;
        }
        self.blob_flow.next_token += 1;
        let token = self.blob_flow.next_token;
        self.blob_flow.inbound.insert(token, (channel, request_id));
        // Counted from now, at the largest answer's size: requests that arrive together are held
        // to the limit before any of them is answered.
        self.blob_flow.unwritten.handed(request_id, peer, UNWRITTEN_RESERVED, now);
        let failed = Done::BlobServed(Served {
            token,
            peer,
            request: request.clone(),
            answer: Err(BlobError::Io {
                path: std::path::PathBuf::from("blobs"),
                source: std::io::Error::other("answering the request panicked"),
            }),
        });
        self.spawn_in_turn(or_on_panic(failed, move |service| {
            let blobs = service.blobs();
            let answer = match blobs.has(&request.hash) {
                // A file of another size is not the one asked for: answering would make the
                // asker's check fail and blame us.
                Some(size) if size != request.size => {
                    Err(BlobError::BadRange { first: request.first, count: request.count, size })
                }
                _ => blobs.encode(&request.hash, request.first, request.count),
            };
            Some(Done::BlobServed(Served { token, peer, request, answer }))
        }));
    }

    pub(super) fn on_blob_served(&mut self, served: Served) {
        let Served { token, peer, request, answer } = served;
        let Some((channel, request_id)) = self.blob_flow.inbound.remove(&token) else { return };
        let response = match answer {
            Ok(data) => BlobResponse::Data(data),
            Err(BlobError::Missing(_)) => {
                let blob = BlobRef { hash: request.hash, size: request.size };
                BlobResponse::Missing { fetching: self.handle.pull_through(blob, peer, request.for_peer) }
            }
            Err(BlobError::BadRange { .. }) => BlobResponse::Missing { fetching: false },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a file a peer asked for");
                BlobResponse::Busy
            }
        };
        self.service.metrics().file_request(match response {
            BlobResponse::Data(_) => "data",
            BlobResponse::Missing { .. } => "missing",
            BlobResponse::Busy => "busy",
        });
        let bytes = match &response {
            BlobResponse::Data(data) => data.len(),
            BlobResponse::Missing { .. } | BlobResponse::Busy => 0,
        };
        let handed = self.swarm.behaviour_mut().blobs.send_response(channel, response).is_ok();
        self.blob_flow.unwritten.handed(
            request_id,
            peer,
            if handed { bytes } else { 0 },
            std::time::Instant::now(),
        );
    }

    /// Sends a file request of this node's own; the answer goes to `reply`.
    pub(super) fn send_blob_request(&mut self, peer: PeerId, request: BlobRequest, reply: Reply) {
        if !self.swarm.is_connected(&peer) {
            let _ = reply.send(Err("not connected".into()));
            return;
        }
        if self.blob_flow.outbound.len() >= MAX_OUTBOUND_BLOBS {
            let _ = reply.send(Err("too many file requests in flight".into()));
            return;
        }
        self.peers.used(&peer, std::time::Instant::now());
        let id = self.swarm.behaviour_mut().blobs.send_request(&peer, request);
        self.blob_flow.outbound.insert(id, reply);
    }
}
