//! The bucket codec: levin frames in, messages (reassembled if fragmented) out.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::fragment::{self, DEFAULT_MAX_FRAGMENTS, FragmentError, Noise, NoiseSize, Reassembly};
use crate::header::{
    FlagProblem, FrameKind, HEADER_SIZE, Header, HeaderError, INITIAL_MAX_PACKET_SIZE,
};
use crate::message::MessageHead;
use crate::overwrite;

/// The most the decoder reserves ahead of bytes that have not arrived yet.
///
/// A header alone (33 bytes from a peer) never makes the codec reserve more than this;
/// larger bodies grow the buffer as their bytes actually arrive.
pub const RESERVE_AHEAD: usize = 64 * 1024;

/// One levin message: its header and its body.
///
/// The decoder only yields messages (requests, responses, notifications), never fragments
/// or noise; for a yielded bucket `header.size == body.len()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The header; when encoding, its `size` is replaced by the body's length.
    pub header: Header,
    /// The body, shared with the read buffer (no copy).
    pub body: Bytes,
}

impl Bucket {
    /// A bucket for a message with `head` and `body`.
    #[must_use]
    pub fn new(head: MessageHead, body: Bytes) -> Self {
        Self {
            header: Header::new(head, body.len() as u64),
            body,
        }
    }

    /// Command, kind and return code, if the header is a valid message header.
    #[must_use]
    pub fn message_head(&self) -> Option<MessageHead> {
        self.header.message_head()
    }
}

/// What the decoder does with an ordinary message that arrives between the fragments of
/// another.
///
/// monerod sends fragments on its noise timer, one every few seconds, while requests and
/// responses on the same connection go out at once, so ordinary messages do arrive
/// between fragments; monerod's reader delivers them and keeps the fragments it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interleaving {
    /// Deliver the message and keep reassembling, as monerod does (the default).
    #[default]
    Allow,
    /// Fail with [`FragmentError::Interleaved`]: for links whose peers never interleave.
    Reject,
}

/// Everything that can go wrong while framing levin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LevinError {
    /// A header was refused (signature, version, flags or size).
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A fragment sequence was refused.
    #[error(transparent)]
    Fragment(#[from] FragmentError),
    /// The stream ended inside a header.
    #[error("stream ended after {received} of the 33 bytes of a levin header")]
    EofInHeader {
        /// Header bytes received.
        received: usize,
    },
    /// The stream ended inside a body.
    #[error(
        "stream ended after {received} of the {expected} body bytes of a frame with command {command}"
    )]
    EofInBody {
        /// Command in the frame's header.
        command: u32,
        /// Body bytes received.
        received: usize,
        /// Body size in the header.
        expected: u64,
    },
    /// Reading or writing the underlying stream failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    header: Header,
    kind: FrameKind,
    size: usize,
}

/// A `tokio_util` codec for levin buckets.
///
/// Decoding: headers are validated as soon as their 33 bytes are there (the signature
/// already after eight), the body size is checked against the max packet size before
/// anything is reserved, and a body is handed out with `split_to` + `freeze` (no copy).
/// Noise is dropped, fragments are reassembled (copied once) and the inner message comes
/// out as an ordinary bucket. Encoding: a header placeholder is written, the body after
/// it, then the header is patched in place; with [padding](Self::set_padding) on, the
/// frame is then padded or fragmented to the noise size.
///
/// After an error the position in the stream is unspecified: drop the connection.
#[derive(Debug)]
pub struct BucketCodec {
    max_packet_size: usize,
    max_fragments: usize,
    interleaving: Interleaving,
    padding: Option<NoiseSize>,
    pending: Option<Pending>,
    reassembly: Option<Reassembly>,
}

impl Default for BucketCodec {
    /// A codec with monerod's pre-handshake limit, [`INITIAL_MAX_PACKET_SIZE`].
    fn default() -> Self {
        Self::new(INITIAL_MAX_PACKET_SIZE)
    }
}

impl BucketCodec {
    /// A codec that refuses bodies (and fragment sequences) above `max_packet_size` bytes.
    #[must_use]
    pub fn new(max_packet_size: usize) -> Self {
        Self {
            max_packet_size,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            interleaving: Interleaving::Allow,
            padding: None,
            pending: None,
            reassembly: None,
        }
    }

    /// Sets the fragment limit per message (default [`DEFAULT_MAX_FRAGMENTS`]).
    #[must_use]
    pub fn with_max_fragments(mut self, max_fragments: usize) -> Self {
        self.max_fragments = max_fragments;
        self
    }

    /// Sets what happens to messages between fragments (default [`Interleaving::Allow`]).
    #[must_use]
    pub fn with_interleaving(mut self, interleaving: Interleaving) -> Self {
        self.interleaving = interleaving;
        self
    }

    /// Sets the padding of sent messages (default none).
    #[must_use]
    pub fn with_padding(mut self, padding: Option<NoiseSize>) -> Self {
        self.padding = padding;
        self
    }

    /// The current max packet size.
    #[must_use]
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// Changes the max packet size, e.g. from [`INITIAL_MAX_PACKET_SIZE`] to
    /// [`DEFAULT_MAX_PACKET_SIZE`](crate::DEFAULT_MAX_PACKET_SIZE) once the handshake is
    /// done. It applies from the next header on: a body whose header was already accepted
    /// is still read.
    pub fn set_max_packet_size(&mut self, max_packet_size: usize) {
        self.max_packet_size = max_packet_size;
    }

    /// The fragment limit per message.
    #[must_use]
    pub fn max_fragments(&self) -> usize {
        self.max_fragments
    }

    /// Changes the fragment limit per message.
    pub fn set_max_fragments(&mut self, max_fragments: usize) {
        self.max_fragments = max_fragments;
    }

    /// What happens to messages between fragments.
    #[must_use]
    pub fn interleaving(&self) -> Interleaving {
        self.interleaving
    }

    /// Changes what happens to messages between fragments.
    pub fn set_interleaving(&mut self, interleaving: Interleaving) {
        self.interleaving = interleaving;
    }

    /// The noise size sent messages are padded to, if any.
    #[must_use]
    pub fn padding(&self) -> Option<NoiseSize> {
        self.padding
    }

    /// Pads every sent message to `padding` as monerod does on anonymity networks
    /// (`Some`), or sends messages as they are (`None`).
    pub fn set_padding(&mut self, padding: Option<NoiseSize>) {
        self.padding = padding;
    }

    /// Whether a fragmented message is being reassembled.
    #[must_use]
    pub fn is_reassembling(&self) -> bool {
        self.reassembly.is_some()
    }

    /// Decodes the next message: header, head and body.
    pub(crate) fn next_message(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<(Header, MessageHead, Bytes)>, LevinError> {
        loop {
            let pending = match self.pending.take() {
                Some(pending) => pending,
                None => match self.next_header(src)? {
                    Some(pending) => pending,
                    None => return Ok(None),
                },
            };
            let Pending { header, kind, size } = pending;
            if src.len() < size {
                src.reserve(size.saturating_sub(src.len()).min(RESERVE_AHEAD));
                self.pending = Some(pending);
                return Ok(None);
            }
            match kind {
                FrameKind::Message(message_kind) => {
                    let body = src.split_to(size).freeze();
                    let head = MessageHead {
                        command: header.command,
                        kind: message_kind,
                        return_code: header.return_code,
                    };
                    return Ok(Some((header, head, body)));
                }
                FrameKind::Noise => {
                    src.advance(size);
                    tracing::trace!(size, "levin noise dropped");
                }
                FrameKind::FragmentBegin | FrameKind::FragmentMiddle | FrameKind::FragmentEnd => {
                    let limit = self.max_packet_size;
                    let reassembly = self.reassembly.get_or_insert_with(Reassembly::new);
                    let pushed = match src.get(..size) {
                        Some(chunk) => reassembly.push(chunk, limit),
                        None => Ok(()),
                    };
                    src.advance(size);
                    if let Err(err) = pushed {
                        self.reassembly = None;
                        return Err(err.into());
                    }
                    if kind != FrameKind::FragmentEnd {
                        continue;
                    }
                    if let Some(done) = self.reassembly.take() {
                        let fragments = done.fragments();
                        let (header, head, body) = done.finish()?;
                        tracing::trace!(
                            fragments,
                            command = header.command,
                            size = body.len(),
                            "levin fragments reassembled"
                        );
                        return Ok(Some((header, head, body)));
                    }
                }
            }
        }
    }

    /// Reads, validates and admits the next header, consuming it.
    fn next_header(&mut self, src: &mut BytesMut) -> Result<Option<Pending>, LevinError> {
        Header::check_signature_prefix(src)?;
        let Some(raw) = src.get(..HEADER_SIZE) else {
            return Ok(None);
        };
        let Ok(raw) = <&[u8; HEADER_SIZE]>::try_from(raw) else {
            return Ok(None);
        };
        let header = Header::decode(raw)?;
        let kind = header.frame_kind()?;
        let size = self.admit(&header, kind)?;
        src.advance(HEADER_SIZE);
        Ok(Some(Pending { header, kind, size }))
    }

    /// Checks a header against the limits and the fragment state, before its body is read.
    fn admit(&mut self, header: &Header, kind: FrameKind) -> Result<usize, LevinError> {
        let limit = self.max_packet_size;
        match (kind, &self.reassembly) {
            (FrameKind::Message(_), Some(_)) if self.interleaving == Interleaving::Reject => {
                Err(FragmentError::Interleaved {
                    command: header.command,
                }
                .into())
            }
            // Like monerod, fragments held for reassembly count against the same limit.
            (FrameKind::Message(_) | FrameKind::Noise, open) => {
                let held = open.as_ref().map_or(0, Reassembly::received);
                Ok(header.check_size(limit.saturating_sub(held))?)
            }
            (FrameKind::FragmentBegin, open) => {
                if let Some(old) = open {
                    // monerod's sender restarts an in-flight message from its first
                    // fragment when it re-selects the connection of a noise channel.
                    tracing::trace!(
                        fragments = old.fragments(),
                        "levin fragmented message restarted"
                    );
                }
                self.reassembly = None;
                let size = self.check_fragment(0, 0, header)?;
                self.reassembly = Some(Reassembly::new());
                Ok(size)
            }
            (FrameKind::FragmentMiddle | FrameKind::FragmentEnd, None) => {
                Err(FragmentError::WithoutBegin {
                    flags: header.flags,
                }
                .into())
            }
            (FrameKind::FragmentMiddle | FrameKind::FragmentEnd, Some(open)) => {
                self.check_fragment(open.fragments(), open.received(), header)
            }
        }
    }

    fn check_fragment(
        &self,
        fragments: usize,
        received: usize,
        header: &Header,
    ) -> Result<usize, LevinError> {
        let count = fragments.saturating_add(1);
        if count > self.max_fragments {
            return Err(FragmentError::TooManyFragments {
                count,
                limit: self.max_fragments,
            }
            .into());
        }
        let limit = self.max_packet_size;
        header
            .check_size(limit.saturating_sub(received))
            .map_err(|_| {
                FragmentError::TooLarge {
                    size: (received as u64).saturating_add(header.size),
                    limit: u64::try_from(limit).unwrap_or(u64::MAX),
                }
                .into()
            })
    }

    /// Like [`next_message`](Self::next_message), at the end of the stream: anything left
    /// over is an error.
    pub(crate) fn next_message_eof(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<(Header, MessageHead, Bytes)>, LevinError> {
        if let Some(message) = self.next_message(src)? {
            return Ok(Some(message));
        }
        if let Some(pending) = self.pending {
            return Err(LevinError::EofInBody {
                command: pending.header.command,
                received: src.len(),
                expected: pending.header.size,
            });
        }
        if !src.is_empty() {
            return Err(LevinError::EofInHeader {
                received: src.len(),
            });
        }
        if let Some(open) = &self.reassembly {
            return Err(FragmentError::UnfinishedAtEof {
                fragments: open.fragments(),
                bytes: open.received(),
            }
            .into());
        }
        Ok(None)
    }

    /// Completes a frame started by [`start_frame`]: checks the body size, writes the
    /// header in place, and pads if configured. On error `dst` is truncated back to
    /// `start`.
    pub(crate) fn finish_frame(
        &self,
        dst: &mut BytesMut,
        start: usize,
        head: MessageHead,
    ) -> Result<(), LevinError> {
        let result = self.try_finish_frame(dst, start, head);
        if result.is_err() {
            dst.truncate(start);
        }
        result
    }

    fn try_finish_frame(
        &self,
        dst: &mut BytesMut,
        start: usize,
        head: MessageHead,
    ) -> Result<(), LevinError> {
        let body_len = dst.len().saturating_sub(start).saturating_sub(HEADER_SIZE);
        let header = Header::new(head, body_len as u64);
        header.check_size(self.max_packet_size)?;
        overwrite(dst, start, &header.to_bytes());
        if let Some(noise) = self.padding {
            fragment::pad(dst, start, noise, self.max_packet_size, self.max_fragments)?;
        }
        Ok(())
    }
}

/// Starts a frame: appends a header placeholder and returns where the frame starts.
pub(crate) fn start_frame(dst: &mut BytesMut) -> usize {
    let start = dst.len();
    dst.put_bytes(0, HEADER_SIZE);
    start
}

impl Decoder for BucketCodec {
    type Item = Bucket;
    type Error = LevinError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bucket>, LevinError> {
        Ok(self
            .next_message(src)?
            .map(|(header, _, body)| Bucket { header, body }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bucket>, LevinError> {
        Ok(self
            .next_message_eof(src)?
            .map(|(header, _, body)| Bucket { header, body }))
    }
}

impl Encoder<Bucket> for BucketCodec {
    type Error = LevinError;

    /// Encodes a message bucket. Its header must be a message header: fragments and
    /// noise are produced by padding, not encoded directly.
    fn encode(&mut self, item: Bucket, dst: &mut BytesMut) -> Result<(), LevinError> {
        let head = item.header.frame_kind().and_then(|kind| match kind {
            FrameKind::Message(kind) => Ok(MessageHead {
                command: item.header.command,
                kind,
                return_code: item.header.return_code,
            }),
            _ => Err(HeaderError::InvalidFlags {
                flags: item.header.flags,
                have_to_return_data: item.header.have_to_return_data,
                problem: FlagProblem::NotAMessage,
            }),
        })?;
        dst.reserve(HEADER_SIZE.saturating_add(item.body.len()));
        let start = start_frame(dst);
        dst.extend_from_slice(&item.body);
        self.finish_frame(dst, start, head)
    }
}

impl Encoder<Noise> for BucketCodec {
    type Error = LevinError;

    fn encode(&mut self, item: Noise, dst: &mut BytesMut) -> Result<(), LevinError> {
        fragment::put_noise(item.0, dst);
        Ok(())
    }
}
