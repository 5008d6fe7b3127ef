//! The levin framing protocol used by Monero P2P: bucket header, tokio codec, fragments.
//!
//! # Where this sits
//!
//! ```text
//! bytes ─► transport ─► umbra-levin ─► umbra-wire ─► p2p-core connection task
//!                       (frames)       (messages: handshake, blocks, txs, ...)
//! ```
//!
//! levin is monerod's framing: every message is a 33-byte [`Header`] followed by a body.
//! This crate knows nothing about what a body means. It turns a byte stream into
//! `(head, body)` pairs and back, and a message set plugs in through the [`LevinMessage`]
//! trait (Umbra's is `umbra-wire`, whose bodies are epee). It has no I/O of its own: its
//! codecs are driven by `tokio_util::codec::Framed` or by hand over a `BytesMut`.
//!
//! # The pieces
//!
//! - [`Header`]: encode/decode of the 33 bytes, with validation. [`FrameKind`] says what a
//!   header announces: a message ([`MessageKind`]: request, response, notification),
//!   noise, or one of the three kinds of fragment.
//! - [`BucketCodec`]: a `Decoder<Item = Bucket>` / `Encoder<Bucket>`. It enforces a max
//!   packet size that the owner changes at run time (monerod uses
//!   [`INITIAL_MAX_PACKET_SIZE`] = 256 KiB until the handshake is done, then
//!   [`DEFAULT_MAX_PACKET_SIZE`] = 100 MB), drops noise and reassembles fragments.
//! - [`LevinCodec<M>`]: the same, yielding and taking a message set's own type `M`.
//! - [`NoiseSize`] / [`Noise`]: the sending side of monerod's traffic padding.
//!
//! # Decoding, and what it costs
//!
//! ```text
//!  read buffer: [ header | body ........ ][ header | body ... ]
//!                   │
//!                   ├─ signature checked after 8 bytes, whole header after 33
//!                   ├─ body size checked against the limit *before* any reserve
//!                   ├─ body complete? split_to(size).freeze() ─► Bucket (no copy)
//!                   ├─ noise (BEGIN|END)? skipped
//!                   └─ fragment? body copied once into the reassembly buffer;
//!                      at END the inner header is parsed and its body comes out
//!                      as an ordinary Bucket
//! ```
//!
//! A header alone never makes the codec reserve more than [`RESERVE_AHEAD`] (64 KiB), so
//! a peer that announces a large body and sends nothing costs little; a header that
//! announces more than the limit is refused at once. The decoder never consumes bytes of
//! the next frame. A truncated frame only makes it wait for more bytes; at the end of the
//! stream (`decode_eof`) leftovers are an error.
//!
//! # Fragments and noise
//!
//! On Tor and I2P monerod sends a frame of a fixed size (the noise size, 3 KiB) every few
//! seconds on a couple of connections: noise if it has nothing to say, else the next piece
//! of a real message. A noise frame is a header (command 0, flags `BEGIN|END`) plus zeros.
//! A message that does not fit in one frame is sent as a complete levin message (its own
//! header and body) cut into pieces of `noise size - 33` bytes, each behind a header with
//! command 0 and flags `BEGIN` (first), none (middle) or `END` (last); the last piece is
//! padded with zeros. A message that fits is sent whole, with zeros appended to its body.
//!
//! The decoder accepts what monerod sends and refuses the rest with a typed
//! [`FragmentError`]:
//!
//! | received | result |
//! |---|---|
//! | noise, anywhere (also between fragments) | dropped |
//! | `BEGIN` | opens a message; if one was open it is discarded and restarted, as monerod's sender restarts an in-flight message when it re-selects a connection |
//! | middle or `END` with nothing open | [`FragmentError::WithoutBegin`] |
//! | an ordinary message while one is open | delivered (monerod interleaves them), or [`FragmentError::Interleaved`] with [`Interleaving::Reject`] |
//! | fragment bytes beyond the max packet size | [`FragmentError::TooLarge`] (checked from the header, before the body is read) |
//! | more than the fragment limit ([`DEFAULT_MAX_FRAGMENTS`]) | [`FragmentError::TooManyFragments`] |
//! | inner header invalid | [`FragmentError::InvalidInnerHeader`] |
//! | inner header is itself a fragment or noise | [`FragmentError::Nested`] |
//! | `END` before 33 bytes, or before the inner body is complete | [`FragmentError::TooShortForHeader`], [`FragmentError::InnerSizeExceedsReassembled`] |
//!
//! The reassembled body is exactly the inner header's size; the sender's zero padding
//! after it is counted against the limit but not stored.
//!
//! # Example
//!
//! A two-message set riding on levin, sent once plainly and once padded as on Tor:
//!
//! ```
//! use bytes::{BufMut, Bytes, BytesMut};
//! use tokio_util::codec::{Decoder, Encoder};
//! use umbra_levin::{LevinCodec, LevinMessage, MessageHead, MessageKind, NoiseSize};
//!
//! #[derive(Debug, PartialEq)]
//! enum Chat {
//!     Say(Bytes),
//!     Ack,
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("unknown chat command {0}")]
//! struct UnknownCommand(u32);
//!
//! impl LevinMessage for Chat {
//!     type Error = UnknownCommand;
//!
//!     fn head(&self) -> MessageHead {
//!         match self {
//!             Chat::Say(_) => MessageHead::request(9001),
//!             Chat::Ack => MessageHead::response(9001, 1),
//!         }
//!     }
//!
//!     fn encode_body(&self, dst: &mut BytesMut) -> Result<(), Self::Error> {
//!         if let Chat::Say(text) = self {
//!             dst.put_slice(text);
//!         }
//!         Ok(())
//!     }
//!
//!     fn decode(head: MessageHead, body: Bytes) -> Result<Self, Self::Error> {
//!         match (head.command, head.kind) {
//!             (9001, MessageKind::Request) => Ok(Chat::Say(body)),
//!             (9001, MessageKind::Response) => Ok(Chat::Ack),
//!             (other, _) => Err(UnknownCommand(other)),
//!         }
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut codec = LevinCodec::<Chat>::default();
//! let mut wire = BytesMut::new();
//! codec.encode(Chat::Say(Bytes::from_static(b"hello")), &mut wire)?;
//! assert_eq!(wire.len(), 33 + 5);
//! assert_eq!(codec.decode(&mut wire)?, Some(Chat::Say(Bytes::from_static(b"hello"))));
//!
//! // Padded to a 64-byte noise size: 33 + 50 bytes become three 64-byte fragments.
//! codec.set_padding(NoiseSize::new(64));
//! let long = Bytes::from(vec![7u8; 50]);
//! codec.encode(Chat::Say(long.clone()), &mut wire)?;
//! assert_eq!(wire.len(), 3 * 64);
//! assert_eq!(codec.decode(&mut wire)?, Some(Chat::Say(long)));
//! assert!(wire.is_empty());
//! # Ok(())
//! # }
//! ```

mod codec;
mod fragment;
mod header;
mod message;

pub use codec::{Bucket, BucketCodec, Interleaving, LevinError, RESERVE_AHEAD};
pub use fragment::{
    DEFAULT_MAX_FRAGMENTS, FragmentError, MONEROD_MAX_FRAGMENTS, Noise, NoiseSize, put_noise,
};
pub use header::{
    DEFAULT_MAX_PACKET_SIZE, FlagProblem, Flags, FrameKind, HEADER_SIZE, Header, HeaderError,
    INITIAL_MAX_PACKET_SIZE, PROTOCOL_VERSION, SIGNATURE, return_code,
};
pub use message::{CodecError, LevinCodec, LevinMessage, MessageHead, MessageKind};

/// Overwrites `src.len()` bytes of `dst` from offset `at`, byte by byte, without any way to
/// panic. Callers only patch ranges they wrote themselves.
fn overwrite(dst: &mut [u8], at: usize, src: &[u8]) {
    for (slot, byte) in dst.iter_mut().skip(at).zip(src) {
        *slot = *byte;
    }
}
