//! Helpers shared by the integration tests: raw frame builders and a pass-through
//! message set.
#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::Decoder;
use umbra_levin::{Flags, Header, LevinMessage, MessageHead, SIGNATURE};

/// The 33 bytes of a header with every field chosen, including invalid ones.
pub fn raw_header(
    signature: u64,
    size: u64,
    have_to_return_data: u8,
    command: u32,
    return_code: i32,
    flags: u32,
    version: u32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    out.extend_from_slice(&signature.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.push(have_to_return_data);
    out.extend_from_slice(&command.to_le_bytes());
    out.extend_from_slice(&return_code.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out
}

/// A complete message frame.
pub fn message(head: MessageHead, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Header::new(head, body.len() as u64).put(&mut out);
    out.put_slice(body);
    out.to_vec()
}

/// A fragment or noise frame (command 0) carrying `body`.
pub fn frame(flags: Flags, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Header::frame(flags, body.len() as u64).put(&mut out);
    out.put_slice(body);
    out.to_vec()
}

/// A valid header with a chosen size and flags, command 0.
pub fn frame_header(flags: Flags, size: u64) -> Vec<u8> {
    raw_header(SIGNATURE, size, 0, 0, 0, flags.bits(), 1)
}

/// Feeds `stream` to `decoder` in the given chunk sizes (the rest in one go), then calls
/// `decode_eof`; returns everything decoded, or the first error.
pub fn decode_in_chunks<D: Decoder>(
    decoder: &mut D,
    stream: &[u8],
    chunks: &[usize],
) -> Result<Vec<D::Item>, D::Error> {
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut rest = stream;
    let mut sizes = chunks.iter().copied();
    while !rest.is_empty() {
        let take = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (now, later) = rest.split_at(take);
        buf.extend_from_slice(now);
        rest = later;
        while let Some(item) = decoder.decode(&mut buf)? {
            out.push(item);
        }
    }
    while let Some(item) = decoder.decode_eof(&mut buf)? {
        out.push(item);
    }
    Ok(out)
}

/// A message set that carries any head and body unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    pub head: MessageHead,
    pub body: Bytes,
}

/// The error of [`Raw`]: command 666 is refused both ways.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("command {0} is not part of this message set")]
pub struct Unknown(pub u32);

impl LevinMessage for Raw {
    type Error = Unknown;

    fn head(&self) -> MessageHead {
        self.head
    }

    fn encode_body(&self, dst: &mut BytesMut) -> Result<(), Unknown> {
        if self.head.command == 666 {
            return Err(Unknown(666));
        }
        dst.put_slice(&self.body);
        Ok(())
    }

    fn decode(head: MessageHead, body: Bytes) -> Result<Self, Unknown> {
        if head.command == 666 {
            return Err(Unknown(666));
        }
        Ok(Self { head, body })
    }
}
