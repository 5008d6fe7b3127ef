//! Noise frames and fragmented messages, as monerod's `make_noise_notify` and
//! `make_fragmented_notify` produce them on anonymity networks.
//!
//! The receiving side ([`Reassembly`]) is driven by [`BucketCodec`](crate::BucketCodec);
//! the sending side ([`pad`]) is switched on with
//! [`BucketCodec::set_padding`](crate::BucketCodec::set_padding).

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{LevinError, RESERVE_AHEAD};
use crate::header::{FrameKind, HEADER_SIZE, Header, HeaderError};
use crate::message::MessageHead;
use crate::{Flags, overwrite};

/// How many fragments monerod's sender puts in one message at most
/// (`CRYPTONOTE_MAX_FRAGMENTS`).
pub const MONEROD_MAX_FRAGMENTS: usize = 20;

/// How many fragments the codec accepts in one message unless told otherwise.
///
/// monerod never sends more than [`MONEROD_MAX_FRAGMENTS`]; the margin leaves room for
/// peers configured with a smaller noise size. Together with the byte limit this bounds
/// both the memory and the work one fragmented message can cost.
pub const DEFAULT_MAX_FRAGMENTS: usize = 256;

/// The fixed size of every frame on a padded link: noise frames, fragments, and messages
/// small enough to be padded whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NoiseSize(usize);

impl NoiseSize {
    /// monerod's noise size on Tor and I2P (`CRYPTONOTE_NOISE_BYTES`, 3 KiB).
    pub const MONEROD: Self = Self(3 * 1024);

    /// A noise size of `bytes` per frame, header included. It must leave room for at
    /// least one payload byte after the 33-byte header.
    #[must_use]
    pub const fn new(bytes: usize) -> Option<Self> {
        if bytes > HEADER_SIZE {
            Some(Self(bytes))
        } else {
            None
        }
    }

    /// Bytes per frame, header included.
    #[must_use]
    pub const fn get(self) -> usize {
        self.0
    }

    /// Bytes per frame after the header: the body size of every padded frame.
    #[must_use]
    pub const fn payload_space(self) -> usize {
        self.0.saturating_sub(HEADER_SIZE)
    }
}

/// A noise frame to send: the header says command 0, flags `BEGIN|END`, and the body is
/// zeros up to the given size. Receivers drop it.
///
/// Both codecs implement `Encoder<Noise>`, so a `Framed` sink can interleave noise with
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Noise(pub NoiseSize);

/// Appends a noise frame of exactly `size` bytes to `dst`.
pub fn put_noise(size: NoiseSize, dst: &mut BytesMut) {
    let payload = size.payload_space();
    dst.reserve(size.get());
    Header::frame(Flags::BEGIN | Flags::END, payload as u64).put(dst);
    dst.put_bytes(0, payload);
}

/// What is wrong with a sequence of fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// A middle or `END` fragment arrived while no fragmented message was open.
    #[error("fragment with flags {flags} arrived without a BEGIN fragment")]
    WithoutBegin {
        /// Flags of the stray fragment.
        flags: Flags,
    },
    /// An ordinary message arrived between the fragments of another, and the codec was
    /// told to refuse that ([`Interleaving::Reject`](crate::Interleaving::Reject)).
    #[error("message with command {command} arrived in the middle of a fragmented message")]
    Interleaved {
        /// Command of the interleaved message.
        command: u32,
    },
    /// The fragments carry more bytes than the max packet size.
    #[error("fragments carrying {size} bytes exceed the limit of {limit}")]
    TooLarge {
        /// Bytes carried so far (decoding, including the fragment refused) or in all
        /// (encoding).
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// One message is split into more fragments than allowed.
    #[error("{count} fragments exceed the limit of {limit} per message")]
    TooManyFragments {
        /// Fragments counted, including the one refused.
        count: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The `END` fragment arrived before the 33 bytes of the inner header were complete.
    #[error("fragmented message ended after {len} bytes, too short for the 33-byte inner header")]
    TooShortForHeader {
        /// Bytes reassembled.
        len: usize,
    },
    /// The inner header of the reassembled message is invalid.
    #[error("invalid inner header in a fragmented message: {0}")]
    InvalidInnerHeader(HeaderError),
    /// The inner header announces more body bytes than the fragments carried.
    #[error("inner header announces {announced} body bytes but only {available} were reassembled")]
    InnerSizeExceedsReassembled {
        /// Body size in the inner header.
        announced: u64,
        /// Bytes after the inner header in all fragments.
        available: u64,
    },
    /// The reassembled message is itself a fragment or noise.
    #[error("the reassembled message is itself a fragment or noise frame (flags {flags})")]
    Nested {
        /// Flags of the inner header.
        flags: Flags,
    },
    /// The stream ended while a fragmented message was open.
    #[error("stream ended inside a fragmented message after {fragments} fragments ({bytes} bytes)")]
    UnfinishedAtEof {
        /// Fragments received.
        fragments: usize,
        /// Bytes they carried.
        bytes: usize,
    },
}

fn limit_u64(limit: usize) -> u64 {
    u64::try_from(limit).unwrap_or(u64::MAX)
}

/// The state of one fragmented message being received.
///
/// The inner header is collected into a 33-byte array; once it is complete and valid, a
/// body buffer is reserved for the announced size (at most `RESERVE_AHEAD` up front, the
/// rest as bytes arrive) and every fragment byte up to that size is copied into it once.
/// Bytes beyond it are the sender's zero padding and are counted but not stored.
#[derive(Debug)]
pub(crate) struct Reassembly {
    head: [u8; HEADER_SIZE],
    head_len: usize,
    inner: Option<Inner>,
    body: BytesMut,
    received: usize,
    fragments: usize,
}

#[derive(Debug, Clone, Copy)]
struct Inner {
    header: Header,
    head: MessageHead,
    size: usize,
}

impl Reassembly {
    pub(crate) fn new() -> Self {
        Self {
            head: [0; HEADER_SIZE],
            head_len: 0,
            inner: None,
            body: BytesMut::new(),
            received: 0,
            fragments: 0,
        }
    }

    /// Fragment bytes received so far, padding included.
    pub(crate) fn received(&self) -> usize {
        self.received
    }

    /// Fragments received so far.
    pub(crate) fn fragments(&self) -> usize {
        self.fragments
    }

    /// Adds the body of one fragment. The caller has already checked the fragment count
    /// and that `received + chunk.len()` is within `limit`.
    pub(crate) fn push(&mut self, chunk: &[u8], limit: usize) -> Result<(), FragmentError> {
        self.fragments = self.fragments.saturating_add(1);
        self.received = self.received.saturating_add(chunk.len());
        let mut rest = chunk;
        if self.inner.is_none() {
            let want = HEADER_SIZE.saturating_sub(self.head_len).min(rest.len());
            let Some((part, after)) = rest.split_at_checked(want) else {
                return Ok(());
            };
            let end = self.head_len.saturating_add(want);
            if let Some(slot) = self.head.get_mut(self.head_len..end) {
                slot.copy_from_slice(part);
            }
            self.head_len = end;
            rest = after;
            if self.head_len == HEADER_SIZE {
                self.open_inner(limit)?;
            }
        }
        if let Some(inner) = self.inner {
            let want = inner.size.saturating_sub(self.body.len()).min(rest.len());
            if let Some(part) = rest.get(..want) {
                self.body.extend_from_slice(part);
            }
        }
        Ok(())
    }

    fn open_inner(&mut self, limit: usize) -> Result<(), FragmentError> {
        let header = Header::decode(&self.head).map_err(FragmentError::InvalidInnerHeader)?;
        let kind = header
            .frame_kind()
            .map_err(FragmentError::InvalidInnerHeader)?;
        let FrameKind::Message(message_kind) = kind else {
            return Err(FragmentError::Nested {
                flags: header.flags,
            });
        };
        let size = header
            .check_size(limit.saturating_sub(HEADER_SIZE))
            .map_err(|_| FragmentError::TooLarge {
                size: header.size.saturating_add(HEADER_SIZE as u64),
                limit: limit_u64(limit),
            })?;
        self.body = BytesMut::with_capacity(size.min(RESERVE_AHEAD));
        self.inner = Some(Inner {
            header,
            head: MessageHead {
                command: header.command,
                kind: message_kind,
                return_code: header.return_code,
            },
            size,
        });
        Ok(())
    }

    /// Completes the message after the `END` fragment.
    pub(crate) fn finish(self) -> Result<(Header, MessageHead, Bytes), FragmentError> {
        let Some(inner) = self.inner else {
            return Err(FragmentError::TooShortForHeader { len: self.head_len });
        };
        if self.body.len() < inner.size {
            return Err(FragmentError::InnerSizeExceedsReassembled {
                announced: inner.header.size,
                available: self.received.saturating_sub(HEADER_SIZE) as u64,
            });
        }
        Ok((inner.header, inner.head, self.body.freeze()))
    }
}

/// Rewrites the complete message at `dst[start..]` (header and body, header already
/// final) so that it goes out padded to `noise`, exactly as monerod's
/// `make_fragmented_notify` does:
///
/// - if the whole message fits in one frame, zeros are appended to its body and the
///   header's size is raised to cover them (the body's own parser ignores them);
/// - otherwise the message bytes are cut into pieces of `payload_space` bytes, each sent
///   behind a fragment header (command 0, size `payload_space`, flags `BEGIN` on the first,
///   none in the middle, `END` on the last), the last piece padded with zeros.
///
/// The in-place case copies nothing; the fragmented case copies the message once. On
/// error `dst` is left for the caller to truncate.
pub(crate) fn pad(
    dst: &mut BytesMut,
    start: usize,
    noise: NoiseSize,
    limit: usize,
    max_fragments: usize,
) -> Result<(), LevinError> {
    let len = dst.len().saturating_sub(start);
    let frame = noise.get();
    let payload = noise.payload_space();
    if len <= frame {
        if payload > limit {
            return Err(HeaderError::BodyTooLarge {
                size: payload as u64,
                limit: limit_u64(limit),
            }
            .into());
        }
        dst.put_bytes(0, frame.saturating_sub(len));
        overwrite(
            dst,
            start.saturating_add(8),
            &(payload as u64).to_le_bytes(),
        );
        return Ok(());
    }
    let count = len.div_ceil(payload);
    if count > max_fragments {
        return Err(FragmentError::TooManyFragments {
            count,
            limit: max_fragments,
        }
        .into());
    }
    let carried = count.saturating_mul(payload);
    if carried > limit {
        return Err(FragmentError::TooLarge {
            size: carried as u64,
            limit: limit_u64(limit),
        }
        .into());
    }
    let message = dst.split_off(start);
    dst.reserve(count.saturating_mul(frame));
    for (index, piece) in message.chunks(payload).enumerate() {
        let flags = if index == 0 {
            Flags::BEGIN
        } else if index.saturating_add(1) == count {
            Flags::END
        } else {
            Flags::NONE
        };
        Header::frame(flags, payload as u64).put(dst);
        dst.extend_from_slice(piece);
        dst.put_bytes(0, payload.saturating_sub(piece.len()));
    }
    tracing::trace!(count, frame, "levin message split into fragments");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageKind;

    fn message(command: u32, body: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        Header::new(MessageHead::notification(command), body.len() as u64).put(&mut out);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn noise_size_needs_a_payload_byte() {
        assert_eq!(NoiseSize::new(33), None);
        assert_eq!(NoiseSize::new(34).unwrap().payload_space(), 1);
        assert_eq!(NoiseSize::MONEROD.get(), 3072);
    }

    #[test]
    fn noise_frame_is_exactly_noise_size() {
        let mut out = BytesMut::new();
        put_noise(NoiseSize::new(1024).unwrap(), &mut out);
        assert_eq!(out.len(), 1024);
        let header = Header::decode(out[..33].try_into().unwrap()).unwrap();
        assert_eq!(header, Header::frame(Flags::BEGIN | Flags::END, 991));
        assert!(out[33..].iter().all(|&b| b == 0));
    }

    #[test]
    fn small_message_is_padded_in_place() {
        let mut out = message(11, b"");
        pad(&mut out, 0, NoiseSize::new(1024).unwrap(), 1 << 20, 20).unwrap();
        assert_eq!(out.len(), 1024);
        let header = Header::decode(out[..33].try_into().unwrap()).unwrap();
        assert_eq!(header.size, 991);
        assert_eq!(header.flags, Flags::REQUEST);
        assert!(!header.have_to_return_data);
    }

    #[test]
    fn large_message_is_cut_like_monerod() {
        // monerod's own unit test: 3 * 1024 - 150 body bytes at noise 1024 give three
        // fragments and 18 bytes of trailing padding.
        let body: Vec<u8> = (0..3 * 1024usize - 150)
            .map(|i| (i % 251) as u8 + 1)
            .collect();
        let mut out = message(114, &body);
        let inner = out.clone();
        pad(&mut out, 0, NoiseSize::new(1024).unwrap(), 1 << 20, 20).unwrap();
        assert_eq!(out.len(), 3 * 1024);
        for (index, flags) in [Flags::BEGIN, Flags::NONE, Flags::END]
            .into_iter()
            .enumerate()
        {
            let frame = &out[index * 1024..(index + 1) * 1024];
            let header = Header::decode(frame[..33].try_into().unwrap()).unwrap();
            assert_eq!(header, Header::frame(flags, 991));
            let piece =
                &inner[(index * 991).min(inner.len())..((index + 1) * 991).min(inner.len())];
            assert_eq!(&frame[33..33 + piece.len()], piece);
        }
        assert_eq!(out[3 * 1024 - 18..], [0; 18]);
        assert_ne!(out[3 * 1024 - 19], 0);
    }

    #[test]
    fn reassembly_collects_header_across_tiny_fragments() {
        let inner = message(5, b"hello");
        let mut r = Reassembly::new();
        for byte in inner.iter() {
            r.push(&[*byte], 1000).unwrap();
        }
        r.push(&[0, 0, 0], 1000).unwrap();
        let (header, head, body) = r.finish().unwrap();
        assert_eq!(header.command, 5);
        assert_eq!(head.kind, MessageKind::Notification);
        assert_eq!(&body[..], b"hello");
    }

    #[test]
    fn reassembly_reserves_no_more_than_the_cap() {
        let mut inner = BytesMut::new();
        Header::new(MessageHead::notification(5), 50_000_000).put(&mut inner);
        let mut r = Reassembly::new();
        r.push(&inner, 100_000_000).unwrap();
        assert!(r.body.capacity() <= RESERVE_AHEAD);
    }
}
