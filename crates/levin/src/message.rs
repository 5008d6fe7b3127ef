//! The seam between levin framing and a message set: [`LevinMessage`] and [`LevinCodec`].

use std::fmt;
use std::io;
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::codec::{BucketCodec, Interleaving, LevinError, start_frame};
use crate::fragment::{self, Noise, NoiseSize};
use crate::header::{Flags, HEADER_SIZE, INITIAL_MAX_PACKET_SIZE, return_code};

/// Whether a levin message is a request expecting a response, a response, or a one-way notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// An invoke: flags `REQUEST`, `have_to_return_data` true.
    Request,
    /// The answer to an invoke: flags `RESPONSE`, `have_to_return_data` false.
    Response,
    /// A one-way message: flags `REQUEST`, `have_to_return_data` false.
    Notification,
}

impl MessageKind {
    /// The header flags of this kind.
    #[must_use]
    pub const fn flags(self) -> Flags {
        match self {
            Self::Request | Self::Notification => Flags::REQUEST,
            Self::Response => Flags::RESPONSE,
        }
    }

    /// The header's `have_to_return_data` for this kind.
    #[must_use]
    pub const fn have_to_return_data(self) -> bool {
        matches!(self, Self::Request)
    }

    /// The kind announced by header flags and `have_to_return_data`, or `None` if they do
    /// not announce a message (fragments, noise, or a combination
    /// [`Header::frame_kind`](crate::Header::frame_kind) refuses).
    #[must_use]
    pub const fn from_flags(flags: Flags, have_to_return_data: bool) -> Option<Self> {
        if flags.bits() == Flags::REQUEST.bits() {
            Some(if have_to_return_data {
                Self::Request
            } else {
                Self::Notification
            })
        } else if flags.bits() == Flags::RESPONSE.bits() && !have_to_return_data {
            Some(Self::Response)
        } else {
            None
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::Notification => "notification",
        })
    }
}

/// What the codec needs to know to frame a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHead {
    /// The levin command.
    pub command: u32,
    /// Request, response or notification.
    pub kind: MessageKind,
    /// The return code; [`return_code::OK`] for requests and notifications.
    pub return_code: i32,
}

impl MessageHead {
    /// The head of an invoke of `command`.
    #[must_use]
    pub const fn request(command: u32) -> Self {
        Self {
            command,
            kind: MessageKind::Request,
            return_code: return_code::OK,
        }
    }

    /// The head of a notification of `command`.
    #[must_use]
    pub const fn notification(command: u32) -> Self {
        Self {
            command,
            kind: MessageKind::Notification,
            return_code: return_code::OK,
        }
    }

    /// The head of a response to `command` with `return_code` (monerod answers success
    /// with [`return_code::SUCCESS`]).
    #[must_use]
    pub const fn response(command: u32, return_code: i32) -> Self {
        Self {
            command,
            kind: MessageKind::Response,
            return_code,
        }
    }
}

/// A set of messages that can ride on levin.
pub trait LevinMessage: Sized {
    /// Error of encoding or decoding a body.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Command, kind and return code of this message.
    fn head(&self) -> MessageHead;
    /// Appends the body (without the levin header) to `dst`.
    fn encode_body(&self, dst: &mut BytesMut) -> Result<(), Self::Error>;
    /// Decodes a message from its head and body. Unknown commands are an error of the message set.
    fn decode(head: MessageHead, body: Bytes) -> Result<Self, Self::Error>;
}

/// An error of [`LevinCodec`]: framing, or the message set's body codec.
///
/// The body variants carry the message set's own error `E` in a field, so callers match
/// on it directly; its text is part of this error's text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError<E> {
    /// Framing failed (also wraps I/O errors, as [`LevinError::Io`]).
    #[error(transparent)]
    Levin(#[from] LevinError),
    /// The body of a received message could not be decoded.
    #[error("cannot decode the body of {kind} {command} ({size} bytes): {error}")]
    Decode {
        /// Command of the message.
        command: u32,
        /// Kind of the message.
        kind: MessageKind,
        /// Size of its body.
        size: usize,
        /// The message set's error.
        error: E,
    },
    /// A message to send could not be encoded.
    #[error("cannot encode the body of {kind} {command}: {error}")]
    Encode {
        /// Command of the message.
        command: u32,
        /// Kind of the message.
        kind: MessageKind,
        /// The message set's error.
        error: E,
    },
}

impl<E> From<io::Error> for CodecError<E> {
    fn from(err: io::Error) -> Self {
        Self::Levin(LevinError::Io(err))
    }
}

impl<E> From<crate::HeaderError> for CodecError<E> {
    fn from(err: crate::HeaderError) -> Self {
        Self::Levin(err.into())
    }
}

impl<E> From<crate::FragmentError> for CodecError<E> {
    fn from(err: crate::FragmentError) -> Self {
        Self::Levin(err.into())
    }
}

/// A `tokio_util` codec for a message set `M`, built on [`BucketCodec`].
///
/// Decoding yields `M` (fragments reassembled, noise dropped). Encoding writes a header
/// placeholder, lets `M` append its body straight into the output buffer, checks the
/// size against the max packet size and patches the header: the body is never copied.
///
/// ```
/// use umbra_levin::{DEFAULT_MAX_PACKET_SIZE, LevinCodec};
/// # use umbra_levin::{LevinMessage, MessageHead};
/// # #[derive(Debug)] struct Ping;
/// # impl LevinMessage for Ping {
/// #     type Error = std::io::Error;
/// #     fn head(&self) -> MessageHead { MessageHead::request(1003) }
/// #     fn encode_body(&self, _: &mut bytes::BytesMut) -> Result<(), Self::Error> { Ok(()) }
/// #     fn decode(_: MessageHead, _: bytes::Bytes) -> Result<Self, Self::Error> { Ok(Ping) }
/// # }
/// let mut codec = LevinCodec::<Ping>::default(); // 256 KiB, as before a handshake
/// // ... handshake done:
/// codec.set_max_packet_size(DEFAULT_MAX_PACKET_SIZE);
/// assert_eq!(codec.max_packet_size(), 100_000_000);
/// ```
pub struct LevinCodec<M> {
    buckets: BucketCodec,
    _messages: PhantomData<fn() -> M>,
}

impl<M> fmt::Debug for LevinCodec<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LevinCodec")
            .field("buckets", &self.buckets)
            .finish()
    }
}

impl<M> Default for LevinCodec<M> {
    /// A codec with monerod's pre-handshake limit, [`INITIAL_MAX_PACKET_SIZE`].
    fn default() -> Self {
        Self::new(INITIAL_MAX_PACKET_SIZE)
    }
}

impl<M> From<BucketCodec> for LevinCodec<M> {
    fn from(buckets: BucketCodec) -> Self {
        Self {
            buckets,
            _messages: PhantomData,
        }
    }
}

impl<M> LevinCodec<M> {
    /// A codec that refuses bodies above `max_packet_size` bytes; other settings default
    /// as on [`BucketCodec::new`].
    #[must_use]
    pub fn new(max_packet_size: usize) -> Self {
        BucketCodec::new(max_packet_size).into()
    }

    /// The bucket codec underneath, for its other settings.
    #[must_use]
    pub fn buckets(&self) -> &BucketCodec {
        &self.buckets
    }

    /// The bucket codec underneath, to change its settings.
    pub fn buckets_mut(&mut self) -> &mut BucketCodec {
        &mut self.buckets
    }

    /// The current max packet size.
    #[must_use]
    pub fn max_packet_size(&self) -> usize {
        self.buckets.max_packet_size()
    }

    /// Changes the max packet size; see [`BucketCodec::set_max_packet_size`].
    pub fn set_max_packet_size(&mut self, max_packet_size: usize) {
        self.buckets.set_max_packet_size(max_packet_size);
    }

    /// Changes what happens to messages between fragments.
    pub fn set_interleaving(&mut self, interleaving: Interleaving) {
        self.buckets.set_interleaving(interleaving);
    }

    /// Pads sent messages to a noise size, or not; see [`BucketCodec::set_padding`].
    pub fn set_padding(&mut self, padding: Option<NoiseSize>) {
        self.buckets.set_padding(padding);
    }
}

impl<M: LevinMessage> LevinCodec<M> {
    fn decode_message(head: MessageHead, body: Bytes) -> Result<M, CodecError<M::Error>> {
        let size = body.len();
        M::decode(head, body).map_err(|error| CodecError::Decode {
            command: head.command,
            kind: head.kind,
            size,
            error,
        })
    }
}

impl<M: LevinMessage> Decoder for LevinCodec<M> {
    type Item = M;
    type Error = CodecError<M::Error>;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<M>, Self::Error> {
        match self.buckets.next_message(src)? {
            Some((_, head, body)) => Self::decode_message(head, body).map(Some),
            None => Ok(None),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<M>, Self::Error> {
        match self.buckets.next_message_eof(src)? {
            Some((_, head, body)) => Self::decode_message(head, body).map(Some),
            None => Ok(None),
        }
    }
}

impl<M: LevinMessage> Encoder<M> for LevinCodec<M> {
    type Error = CodecError<M::Error>;

    fn encode(&mut self, item: M, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let head = item.head();
        dst.reserve(HEADER_SIZE);
        let start = start_frame(dst);
        if let Err(error) = item.encode_body(dst) {
            dst.truncate(start);
            return Err(CodecError::Encode {
                command: head.command,
                kind: head.kind,
                error,
            });
        }
        Ok(self.buckets.finish_frame(dst, start, head)?)
    }
}

impl<M: LevinMessage> Encoder<Noise> for LevinCodec<M> {
    type Error = CodecError<M::Error>;

    fn encode(&mut self, item: Noise, dst: &mut BytesMut) -> Result<(), Self::Error> {
        fragment::put_noise(item.0, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, HeaderError};
    use bytes::BufMut;

    #[derive(Debug, PartialEq)]
    struct Raw(MessageHead, Bytes);

    #[derive(Debug, thiserror::Error)]
    #[error("command {0} is unknown")]
    struct Unknown(u32);

    impl LevinMessage for Raw {
        type Error = Unknown;
        fn head(&self) -> MessageHead {
            self.0
        }
        fn encode_body(&self, dst: &mut BytesMut) -> Result<(), Unknown> {
            if self.0.command == 666 {
                dst.put_slice(b"partial");
                return Err(Unknown(666));
            }
            dst.put_slice(&self.1);
            Ok(())
        }
        fn decode(head: MessageHead, body: Bytes) -> Result<Self, Unknown> {
            if head.command == 666 {
                return Err(Unknown(666));
            }
            Ok(Raw(head, body))
        }
    }

    #[test]
    fn kind_flags_round_trip() {
        for kind in [
            MessageKind::Request,
            MessageKind::Response,
            MessageKind::Notification,
        ] {
            assert_eq!(
                MessageKind::from_flags(kind.flags(), kind.have_to_return_data()),
                Some(kind)
            );
        }
        assert_eq!(MessageKind::from_flags(Flags::RESPONSE, true), None);
        assert_eq!(MessageKind::from_flags(Flags::BEGIN, false), None);
        assert_eq!(
            MessageKind::from_flags(Flags::REQUEST | Flags::RESPONSE, false),
            None
        );
    }

    #[test]
    fn encode_writes_header_then_body_in_place() {
        let mut codec = LevinCodec::<Raw>::default();
        let mut dst = BytesMut::from(&b"previous"[..]);
        let msg = Raw(MessageHead::response(1001, 1), Bytes::from_static(b"abc"));
        codec.encode(msg, &mut dst).unwrap();
        assert_eq!(&dst[..8], b"previous");
        let header = Header::decode(dst[8..41].try_into().unwrap()).unwrap();
        assert_eq!(header, Header::new(MessageHead::response(1001, 1), 3));
        assert_eq!(&dst[41..], b"abc");
    }

    #[test]
    fn failed_body_encoding_leaves_buffer_untouched() {
        let mut codec = LevinCodec::<Raw>::default();
        let mut dst = BytesMut::from(&b"keep"[..]);
        let err = codec
            .encode(Raw(MessageHead::notification(666), Bytes::new()), &mut dst)
            .unwrap_err();
        assert!(matches!(
            err,
            CodecError::Encode {
                command: 666,
                error: Unknown(666),
                ..
            }
        ));
        assert_eq!(&dst[..], b"keep");
    }

    #[test]
    fn oversized_encoding_is_refused_and_rolled_back() {
        let mut codec = LevinCodec::<Raw>::new(4);
        let mut dst = BytesMut::new();
        let err = codec
            .encode(
                Raw(MessageHead::notification(1), Bytes::from_static(b"12345")),
                &mut dst,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            CodecError::Levin(LevinError::Header(HeaderError::BodyTooLarge {
                size: 5,
                limit: 4
            }))
        ));
        assert!(dst.is_empty());
    }

    #[test]
    fn body_errors_name_the_command() {
        let mut codec = LevinCodec::<Raw>::default();
        let mut src = BytesMut::new();
        Header::new(MessageHead::notification(666), 2).put(&mut src);
        src.put_slice(b"xy");
        let err = codec.decode(&mut src).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot decode the body of notification 666 (2 bytes): command 666 is unknown"
        );
    }
}
