//! Request-response codecs for our own protocols: one bincode message per stream, read to the
//! end of the stream with a size limit, so a peer can never make us buffer more than that.
//! [`StampedCodec`] also carries the sender's clock on the protocol versions that have it.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bincode codec with separate request and response size limits (bytes).
#[derive(Debug)]
pub struct BincodeCodec<Req, Resp> {
    max_request: u64,
    max_response: u64,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> BincodeCodec<Req, Resp> {
    /// A codec that reads requests of at most `max_request` bytes and responses of at most
    /// `max_response`.
    pub fn new(max_request: u64, max_response: u64) -> Self {
        BincodeCodec { max_request, max_response, _types: PhantomData }
    }
}

impl<Req, Resp> Clone for BincodeCodec<Req, Resp> {
    fn clone(&self) -> Self {
        BincodeCodec::new(self.max_request, self.max_response)
    }
}

/// Bounds the decoder's own allocations, whatever length prefixes the bytes claim: above the
/// largest message any codec reads (a full fetch answer, `MAX_SYNC_RESPONSE`).
const DECODE_LIMIT: usize = 17 * 1024 * 1024;

async fn read_limited<T, M>(io: &mut T, max: u64) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: DeserializeOwned,
{
    let mut buf = Vec::new();
    io.take(max + 1).read_to_end(&mut buf).await?;
    if buf.len() as u64 > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("message over {max} bytes")));
    }
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    let (message, read) = bincode::serde::decode_from_slice(&buf, config)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if read != buf.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "trailing bytes after message"));
    }
    Ok(message)
}

async fn write_message<T, M>(io: &mut T, message: M) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    M: Serialize,
{
    let bytes =
        bincode::serde::encode_to_vec(message, bincode::config::standard()).map_err(io::Error::other)?;
    io.write_all(&bytes).await?;
    io.close().await
}

impl<Req, Resp> libp2p::request_response::Codec for BincodeCodec<Req, Resp>
where
    Req: Serialize + DeserializeOwned + Send,
    Resp: Serialize + DeserializeOwned + Send,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, req).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: Resp) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, res).await
    }
}

/// A message, and the sender's clock when it wrote it, where the protocol carries it.
#[derive(Debug, Clone)]
pub struct Stamped<M> {
    /// The message.
    pub message: M,
    /// Milliseconds since the Unix epoch by the sender's clock, as it wrote the message: `None`
    /// on a protocol version without it, and on what this node sends (the codec reads the clock
    /// as it writes).
    pub clock_ms: Option<u64>,
}

impl<M> From<M> for Stamped<M> {
    fn from(message: M) -> Self {
        Stamped { message, clock_ms: None }
    }
}

/// [`BincodeCodec`]'s messages, and on protocol `stamped` each one after the sender's clock (a
/// `u64` of milliseconds since the Unix epoch, bincode's varint): a peer learns how its clock
/// compares with this node's from any exchange, not only from objects someone signed lately.
#[derive(Debug)]
pub struct StampedCodec<Req, Resp> {
    plain: BincodeCodec<Req, Resp>,
    stamped: StreamProtocol,
}

impl<Req, Resp> StampedCodec<Req, Resp> {
    /// A codec with [`BincodeCodec::new`]'s limits (the stamp is at most 9 bytes more) that
    /// stamps messages on `stamped` and no other protocol.
    pub fn new(max_request: u64, max_response: u64, stamped: StreamProtocol) -> Self {
        StampedCodec { plain: BincodeCodec::new(max_request, max_response), stamped }
    }

    async fn read<T, M>(&self, protocol: &StreamProtocol, io: &mut T, max: u64) -> io::Result<Stamped<M>>
    where
        T: AsyncRead + Unpin + Send,
        M: DeserializeOwned,
    {
        if *protocol == self.stamped {
            let (clock_ms, message): (u64, M) = read_limited(io, max + STAMP_BYTES).await?;
            Ok(Stamped { message, clock_ms: Some(clock_ms) })
        } else {
            Ok(Stamped::from(read_limited::<T, M>(io, max).await?))
        }
    }

    async fn write<T, M>(&self, protocol: &StreamProtocol, io: &mut T, message: Stamped<M>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
        M: Serialize,
    {
        if *protocol == self.stamped {
            write_message(io, (haggle_protocol::Timestamp::now().as_millis(), message.message)).await
        } else {
            write_message(io, message.message).await
        }
    }
}

/// The most a stamp adds to a message (bincode's varint of a `u64`).
const STAMP_BYTES: u64 = 9;

impl<Req, Resp> Clone for StampedCodec<Req, Resp> {
    fn clone(&self) -> Self {
        StampedCodec { plain: self.plain.clone(), stamped: self.stamped.clone() }
    }
}

impl<Req, Resp> libp2p::request_response::Codec for StampedCodec<Req, Resp>
where
    Req: Serialize + DeserializeOwned + Send,
    Resp: Serialize + DeserializeOwned + Send,
{
    type Protocol = StreamProtocol;
    type Request = Stamped<Req>;
    type Response = Stamped<Resp>;

    async fn read_request<T>(&mut self, protocol: &StreamProtocol, io: &mut T) -> io::Result<Stamped<Req>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read(protocol, io, self.plain.max_request).await
    }

    async fn read_response<T>(&mut self, protocol: &StreamProtocol, io: &mut T) -> io::Result<Stamped<Resp>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read(protocol, io, self.plain.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        req: Stamped<Req>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.write(protocol, io, req).await
    }

    async fn write_response<T>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        res: Stamped<Resp>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.write(protocol, io, res).await
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sync::{MAX_SYNC_REQUEST, MAX_SYNC_RESPONSE, SyncRequest, SyncResponse};
    use crate::wire::{MAX_NEGOTIATE_REQUEST, NegotiateRequest, NegotiateResponse};

    fn read<M: DeserializeOwned>(bytes: &[u8], max: u64) -> io::Result<M> {
        futures::executor::block_on(read_limited(&mut futures::io::Cursor::new(bytes), max))
    }

    #[test]
    fn the_largest_messages_decode_and_one_byte_more_is_refused() {
        let answer = SyncResponse::Objects { objects: vec![vec![7; 64 * 1024]; 256] };
        let bytes = bincode::serde::encode_to_vec(&answer, bincode::config::standard()).expect("encodes");
        assert!(bytes.len() as u64 <= MAX_SYNC_RESPONSE);
        assert!(read::<SyncResponse>(&bytes, MAX_SYNC_RESPONSE).is_ok());
        let over = vec![0u8; MAX_NEGOTIATE_REQUEST as usize + 1];
        assert!(read::<NegotiateRequest>(&over, MAX_NEGOTIATE_REQUEST).is_err());
    }

    /// What the sync codec writes on `protocol` for `message`.
    fn written(protocol: &StreamProtocol, message: SyncResponse) -> Vec<u8> {
        use libp2p::request_response::Codec;
        let mut codec = sync_codec();
        futures::executor::block_on(async {
            let mut written = futures::io::Cursor::new(Vec::new());
            codec.write_response(protocol, &mut written, message.into()).await.expect("writes");
            written.into_inner()
        })
    }

    fn sync_codec() -> StampedCodec<SyncRequest, SyncResponse> {
        StampedCodec::new(MAX_SYNC_REQUEST, MAX_SYNC_RESPONSE, crate::sync::SYNC_PROTOCOL)
    }

    /// `bytes` read as a response on `protocol` by the sync codec.
    fn read_back(protocol: &StreamProtocol, bytes: Vec<u8>) -> io::Result<Stamped<SyncResponse>> {
        use libp2p::request_response::Codec;
        futures::executor::block_on(
            sync_codec().read_response(protocol, &mut futures::io::Cursor::new(bytes)),
        )
    }

    /// What the sync codec writes on `protocol` for `message`, read back by a codec like it.
    fn round_trip(protocol: &StreamProtocol, message: SyncResponse) -> io::Result<Stamped<SyncResponse>> {
        read_back(protocol, written(protocol, message))
    }

    #[test]
    fn version_3_carries_the_senders_clock_and_version_2_does_not() {
        let before = haggle_protocol::Timestamp::now().as_millis();
        let stamped =
            round_trip(&crate::sync::SYNC_PROTOCOL, SyncResponse::Stored { new: 7 }).expect("reads");
        let after = haggle_protocol::Timestamp::now().as_millis();
        assert!(matches!(stamped.message, SyncResponse::Stored { new: 7 }));
        let clock = stamped.clock_ms.expect("a clock reading");
        assert!((before..=after).contains(&clock), "{before} <= {clock} <= {after}");

        let plain =
            round_trip(&crate::sync::SYNC_PROTOCOL_V2, SyncResponse::Stored { new: 7 }).expect("reads");
        assert!(matches!(plain.message, SyncResponse::Stored { new: 7 }));
        assert_eq!(plain.clock_ms, None);
        // Version 2's bytes are exactly the message: what a node from before version 3 reads.
        let plain =
            bincode::serde::encode_to_vec(SyncResponse::Stored { new: 7 }, bincode::config::standard())
                .expect("encodes");
        assert_eq!(written(&crate::sync::SYNC_PROTOCOL_V2, SyncResponse::Stored { new: 7 }), plain);
        assert_ne!(written(&crate::sync::SYNC_PROTOCOL, SyncResponse::Stored { new: 7 }), plain);
    }

    /// The test vector in docs/PROTOCOL.md, "Catch-up sync".
    #[test]
    fn a_stamped_message_is_the_clock_then_the_message() {
        let bytes = bincode::serde::encode_to_vec(
            (1_767_225_600_000u64, SyncResponse::Stored { new: 7 }),
            bincode::config::standard(),
        )
        .expect("encodes");
        assert_eq!(bytes, [0xfd, 0x00, 0xa8, 0xda, 0x76, 0x9b, 0x01, 0x00, 0x00, 0x02, 0x07]);
        let read = futures::executor::block_on(
            StampedCodec::<SyncRequest, SyncResponse>::new(
                MAX_SYNC_REQUEST,
                MAX_SYNC_RESPONSE,
                crate::sync::SYNC_PROTOCOL,
            )
            .read::<_, SyncResponse>(
                &crate::sync::SYNC_PROTOCOL,
                &mut futures::io::Cursor::new(bytes),
                MAX_SYNC_RESPONSE,
            ),
        )
        .expect("reads");
        assert_eq!(read.clock_ms, Some(1_767_225_600_000));
        assert!(matches!(read.message, SyncResponse::Stored { new: 7 }));
    }

    #[test]
    fn an_answer_at_the_size_limit_reads_with_its_stamp_and_one_byte_more_does_not() {
        // An answer whose message is exactly MAX_SYNC_RESPONSE bytes: 255 full-size objects and
        // one that takes the rest.
        let size = |objects: &Vec<Vec<u8>>| {
            let answer = SyncResponse::Objects { objects: objects.clone() };
            bincode::serde::encode_to_vec(answer, bincode::config::standard()).expect("encodes").len() as u64
        };
        let mut objects = vec![vec![7u8; haggle_protocol::MAX_OBJECT_SIZE]; 255];
        objects.push(Vec::new());
        // The empty last object costs its 1-byte length; n bytes cost n and a length of 1, 3
        // (up to 65,535) or 5 bytes (bincode's varint).
        let room = MAX_SYNC_RESPONSE - size(&objects) + 1;
        let varint = |n: u64| match n {
            0..=250 => 1,
            251..=65_535 => 3,
            _ => 5,
        };
        let n = (room.saturating_sub(5)..=room)
            .rev()
            .find(|n| n + varint(*n) == room)
            .expect("a length that fits");
        objects[255] = vec![7; n as usize];
        assert_eq!(size(&objects), MAX_SYNC_RESPONSE, "exactly at the limit");
        let at_limit = SyncResponse::Objects { objects: objects.clone() };
        let read = round_trip(&crate::sync::SYNC_PROTOCOL, at_limit).expect("the largest answer reads");
        assert!(read.clock_ms.is_some());
        objects[255].push(7);
        let over = written(&crate::sync::SYNC_PROTOCOL, SyncResponse::Objects { objects });
        assert!(read_back(&crate::sync::SYNC_PROTOCOL, over).is_err(), "one byte over");
    }

    proptest! {
        /// Every decoder of network input takes any bytes without panicking or allocating past
        /// its limit: negotiation requests and answers, sync requests and answers.
        #[test]
        fn random_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..4_096)) {
            let _ = read::<NegotiateRequest>(&bytes, MAX_NEGOTIATE_REQUEST);
            let _ = read::<NegotiateResponse>(&bytes, 4 * 1024);
            let _ = read::<SyncRequest>(&bytes, MAX_SYNC_REQUEST);
            let _ = read::<SyncResponse>(&bytes, MAX_SYNC_RESPONSE);
            let _ = read::<(u64, SyncRequest)>(&bytes, MAX_SYNC_REQUEST);
            let _ = read::<(u64, SyncResponse)>(&bytes, MAX_SYNC_RESPONSE);
        }

        /// Length prefixes that claim gigabytes are refused, not allocated.
        #[test]
        fn huge_length_prefixes_are_refused(tag in 0u8..4, len in 0xFB_u8..=0xFD, tail in proptest::collection::vec(any::<u8>(), 8..16)) {
            let mut bytes = vec![tag, len];
            bytes.extend(tail);
            let _ = read::<SyncRequest>(&bytes, MAX_SYNC_REQUEST);
            let _ = read::<SyncResponse>(&bytes, MAX_SYNC_RESPONSE);
        }
    }
}
