//! How a network zone dials and listens.
//!
//! # Where this sits
//!
//! ```text
//! umbra-transport ─► byte streams ─► umbra-levin frames ─► umbra-wire messages ─► p2p-core
//! ```
//!
//! A [`Transport`] turns an address into a connected byte stream ([`Transport::dial`]) and
//! a local address into a stream of accepted connections ([`Transport::listen`]). Every
//! connection comes as a read half and a write half, so a connection task can read and
//! write at the same time without a lock between them.
//!
//! This crate has:
//!
//! - [`Tcp`]: plain TCP over tokio, with a connect timeout and `TCP_NODELAY`;
//! - [`memory`]: an in-process transport (`tokio::io::duplex` pipes behind a registry of
//!   listening addresses), so many peers can run inside one test without sockets;
//! - `noise` (feature `noise`): Umbra's encrypted, authenticated, unfingerprintable
//!   transport between peers known by key (Noise IK, Elligator2-encoded keys, padding,
//!   rekeying, probing resistance);
//! - `quic` (feature `quic`): QUIC (quinn) with the identity key bound to the connection;
//! - `hybrid` (with `noise`): plain levin and Umbra's transports on one port, the transport
//!   of a node on the public internet, with a stealth mode; generic over the address
//!   underneath, so the same runs inside Tor streams;
//! - `socks` and `tor` (feature `tor`): a SOCKS5 client, tor's control port, `SystemTor`
//!   (a tor daemon) and, with feature `arti`, `ArtiTor` (the embedded client), both over
//!   onion addresses with per-peer stream isolation;
//! - `i2p` (feature `i2p`): a SAM v3 client and `SamTransport` (i2pd);
//! - [`relisten`]: a listener that listens again with back-off when the one underneath
//!   ends (an onion service whose tor died).
//!
//! Addresses of peers known by key are `Keyed` (or `hybrid::PeerAddr`); the P2P code
//! above never names a concrete transport.
//!
//! # Example
//!
//! ```
//! use futures::StreamExt;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use umbra_transport::{Transport, memory::MemoryTransport};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = MemoryTransport::new();
//! let addr = "10.0.0.1:18080".parse()?;
//! let mut listener = net.listen(&addr).await?;
//! let (_reader, mut writer) = net.dial(&addr).await?;
//! writer.write_all(b"hello").await?;
//! let (mut reader, _writer, _from) = listener.next().await.ok_or("listener ended")??;
//! let mut buf = [0u8; 5];
//! reader.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"hello");
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "noise")]
pub mod hybrid;
#[cfg(feature = "i2p")]
pub mod i2p;
#[cfg(any(feature = "noise", feature = "quic"))]
mod keyed;
pub mod memory;
#[cfg(feature = "noise")]
pub mod noise;
#[cfg(feature = "quic")]
pub mod quic;
pub mod relisten;
#[cfg(any(feature = "tor", feature = "i2p"))]
pub mod socks;
mod tcp;
#[cfg(feature = "tor")]
pub mod tor;

use std::{fmt, future::Future, hash::Hash, io};

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};

#[cfg(any(feature = "noise", feature = "quic"))]
pub use keyed::{Keyed, KeyedParseError, PublicKey};
pub use tcp::{Tcp, TcpListenerStream};

/// A listener that knows the address it is bound to.
pub trait LocalAddr<A> {
    /// The address peers reach this listener at (after listening on port 0, the port
    /// actually bound).
    ///
    /// # Errors
    /// The I/O error, if the transport cannot tell.
    fn local_addr(&self) -> io::Result<A>;
}

/// A way to reach peers: dial an address, or listen on one.
///
/// Implementations are cheap to clone (a handle to shared state, if any), so every task
/// that dials can hold its own.
pub trait Transport: Clone + Send + Sync + 'static {
    /// What a peer is dialled at and what an accepted connection reports it came from.
    type Addr: Clone + fmt::Debug + fmt::Display + Eq + Hash + Send + Sync + 'static;
    /// The read half of a connection.
    type Reader: AsyncRead + Unpin + Send + 'static;
    /// The write half of a connection.
    type Writer: AsyncWrite + Unpin + Send + 'static;
    /// Accepted connections: each is its two halves and the address it came from.
    ///
    /// An `Err` item is one failed accept (the listener goes on); the stream ends only when
    /// the listener is closed.
    type Listener: Stream<Item = io::Result<(Self::Reader, Self::Writer, Self::Addr)>>
        + LocalAddr<Self::Addr>
        + Unpin
        + Send
        + 'static;

    /// Connects to `addr`.
    ///
    /// # Errors
    /// The I/O error, with [`io::ErrorKind::TimedOut`] when the transport's own connect
    /// timeout passed.
    fn dial(
        &self,
        addr: &Self::Addr,
    ) -> impl Future<Output = io::Result<(Self::Reader, Self::Writer)>> + Send;

    /// Starts accepting connections on `addr`.
    ///
    /// # Errors
    /// The I/O error (address in use, not allowed, ...).
    fn listen(&self, addr: &Self::Addr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
}
