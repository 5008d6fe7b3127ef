//! Umbra's encrypted, authenticated, unfingerprintable transport between Umbra peers.
//!
//! Monero's P2P traffic is plaintext levin, recognisable from its first eight bytes.
//! Between two Umbra peers this module replaces it with a Noise session that is
//! identified by a key rather than an address and gives a passive observer nothing fixed
//! to match, and an active prober nothing at all.
//!
//! # What it guarantees
//!
//! - **Noise IK** (`Noise_IK_25519_ChaChaPoly_BLAKE2s`, [snow]): the dialler knows the
//!   listener's [`PublicKey`] beforehand and both prove their identity (the [`Identity`]'s
//!   X25519 form is the Noise static key). The listener learns the dialler's Ed25519 key
//!   from the encrypted first message and refuses it unless it is the same key as the
//!   Noise static one. Forward secrecy from the ephemeral keys; every direction rekeys
//!   (Noise `REKEY`) after [`Config::rekey_after`] bytes, announced inside the encrypted
//!   record header.
//! - **No fixed bytes**: ephemeral keys travel as Elligator2 representatives
//!   (`curve25519-elligator2`, `Randomized` variant: random low-order component and top
//!   bits), so even the first 32 bytes of a connection are uniformly random; everything
//!   after is ciphertext or random padding. Both handshake messages carry random-length
//!   padding; every record carries random padding inside its encryption ([`Padding`]);
//!   flushed records can be delayed by a random jitter ([`Config::jitter`]).
//! - **Probing resistance**: a listener writes nothing until the first message has
//!   authenticated (only a dialler that knows its key can make one), is fresh
//!   (timestamp within [`Config::replay_window`]) and is not a replay ([`ReplayFilter`]).
//!   Anything else — random bytes, plain levin, a replay, a truncated message, a message
//!   for another key, silence — gets the same answer: nothing, reading and discarding,
//!   and a close at a random time in [`Config::probe_close_delay`].
//! - **Bounded and robust**: record lengths are authenticated before the body is read
//!   (at most 65,535 bytes a record), buffers never exceed two records, and bad input (a
//!   flipped bit, a lying length, a replayed or reordered record, a cut connection) ends
//!   that one session with an error and a counter in [`NoiseStats`], never a panic.
//!
//! # Layers
//!
//! ```text
//! NoiseTransport<T> (Transport, Keyed<T::Addr>)     dial = T::dial + initiate; listen = T::listen + respond
//!   └─ initiate / respond (async, any AsyncRead + AsyncWrite)  → NoiseReader + NoiseWriter + SessionInfo
//!        ├─ InitiatorHandshake / ResponderHandshake (sans-IO: bytes in, bytes out)
//!        └─ RecordEncoder / RecordDecoder (sans-IO records)
//! ```
//!
//! The sans-IO cores take the clock and the random number generator as arguments, so
//! tests drive them deterministically without sockets; the async functions are thin
//! drivers around them.
//!
//! # Wire format
//!
//! The handshake messages are described in [`handshake`], records in [`record`]. In
//! short: msg1 = 32-byte representative ‖ 48-byte encrypted static key ‖ 64-byte
//! encrypted payload (version, padding length, timestamp, Ed25519 key) ‖ 0–512 random
//! bytes; msg2 = 32-byte representative ‖ 32-byte encrypted payload ‖ 0–512 random
//! bytes; then records of a 21-byte encrypted header (body length, padding length,
//! flags) and an encrypted body of data and padding.
//!
//! # Example
//!
//! ```
//! use futures::StreamExt;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use umbra_transport::{
//!     Keyed, LocalAddr, Transport,
//!     memory::MemoryTransport,
//!     noise::{Config, Identity, NoiseTransport},
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = MemoryTransport::new();
//! let server = NoiseTransport::new(net.clone(), Identity::generate(), Config::default());
//! let client = NoiseTransport::new(net, Identity::generate(), Config::default());
//!
//! let addr = Keyed::new("10.0.0.1:18080".parse()?, server.public_key());
//! let mut listener = server.listen(&addr).await?;
//! assert_eq!(listener.local_addr()?, addr);
//!
//! let (_reader, mut writer) = client.dial(&addr).await?;
//! writer.write_all(b"hello").await?;
//! writer.flush().await?;
//!
//! let (mut reader, _writer, from) = listener.next().await.ok_or("listener ended")??;
//! assert_eq!(from.key, client.public_key());
//! let mut buf = [0u8; 5];
//! reader.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"hello");
//! # Ok(())
//! # }
//! ```
//!
//! [snow]: https://docs.rs/snow

mod config;
mod crypto;
pub mod handshake;
pub mod record;
mod replay;
mod session;
mod stats;
mod stream;
mod transport;

pub use config::{Config, DelayRange, MAX_HANDSHAKE_PADDING, MAX_RECORD_PADDING, Padding};
pub use handshake::{
    Established, HandshakeError, InitiatorHandshake, ResponderHandshake, Role, SessionInfo,
};
pub use record::{RecordDecoder, RecordEncoder, RecordError};
pub use replay::{Admitted, ReplayFilter, ReplayRefusal};
pub use session::{Responder, Session, initiate, respond};
pub use stats::{NoiseStats, NoiseStatsSnapshot};
pub use stream::{NoiseReader, NoiseWriter};
pub use transport::{NoiseListener, NoiseTransport};
pub use umbra_identity::{Identity, PublicKey};
