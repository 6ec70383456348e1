//! A request-response codec for our own protocols: one bincode message per stream, read to the
//! end of the stream with a size limit, so a peer can never make us buffer more than that.

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

    proptest! {
        /// Every decoder of network input takes any bytes without panicking or allocating past
        /// its limit: negotiation requests and answers, sync requests and answers.
        #[test]
        fn random_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..4_096)) {
            let _ = read::<NegotiateRequest>(&bytes, MAX_NEGOTIATE_REQUEST);
            let _ = read::<NegotiateResponse>(&bytes, 4 * 1024);
            let _ = read::<SyncRequest>(&bytes, MAX_SYNC_REQUEST);
            let _ = read::<SyncResponse>(&bytes, MAX_SYNC_RESPONSE);
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
