//! What can go wrong, and how it looks through `io::Error`.

use std::{io, net::SocketAddr, time::Duration};

use umbra_identity::PublicKey;

/// Why a QUIC dial, listen or setup failed.
///
/// [`Transport`](crate::Transport) methods return `io::Error`; the `QuicError` is inside it
/// (`error.get_ref()` and `downcast_ref::<QuicError>()`), and the `io::ErrorKind` is chosen
/// as [`QuicError::kind`] says.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QuicError {
    /// The peer proved a key other than the one dialled: someone else holds that address
    /// (or the peer's key changed).
    #[error("QUIC peer at {addr} presented key {presented}, but key {expected} was expected")]
    WrongKey {
        /// Where we dialled.
        addr: SocketAddr,
        /// The key we dialled (boxed: keys are large, errors should not be).
        expected: Box<PublicKey>,
        /// The key the peer's certificate carries.
        presented: Box<PublicKey>,
    },
    /// The QUIC and TLS handshake did not finish in time.
    #[error("QUIC handshake with {addr} took over {timeout:?}")]
    HandshakeTimeout {
        /// Where we dialled.
        addr: SocketAddr,
        /// [`QuicConfig::handshake_timeout`](super::QuicConfig::handshake_timeout).
        timeout: Duration,
    },
    /// The peer gave no stream credit in time: it already has as many of our streams open as
    /// it allows.
    #[error(
        "opening a QUIC stream to {addr} took over {timeout:?} (the peer's stream limit is reached)"
    )]
    OpenStreamTimeout {
        /// Where we dialled.
        addr: SocketAddr,
        /// [`QuicConfig::open_stream_timeout`](super::QuicConfig::open_stream_timeout).
        timeout: Duration,
    },
    /// quinn would not start a connection (the address is of the wrong family for our socket,
    /// the transport is closed, ...).
    #[error("cannot start a QUIC connection to {addr}: {source}")]
    Connect {
        /// Where we dialled.
        addr: SocketAddr,
        /// quinn's reason.
        source: quinn::ConnectError,
    },
    /// The connection failed or was closed (handshake refused, certificate refused, timed
    /// out, closed by the peer, ...).
    #[error("QUIC connection with {addr}: {source}")]
    Connection {
        /// The peer.
        addr: SocketAddr,
        /// quinn's reason (for TLS failures it carries the TLS alert and rustls's message).
        source: quinn::ConnectionError,
    },
    /// Writing the stream-open header failed.
    #[error("QUIC stream to {addr}: {source}")]
    Stream {
        /// The peer.
        addr: SocketAddr,
        /// quinn's reason.
        source: quinn::WriteError,
    },
    /// Local setup failed (certificate, TLS configuration, socket, runtime).
    #[error("QUIC setup: {0}")]
    Setup(String),
    /// A [`QuicConfig`](super::QuicConfig) value is out of range.
    #[error("QUIC configuration: {0}")]
    Config(String),
}

impl QuicError {
    /// The `io::ErrorKind` this error is reported with through [`Transport`](crate::Transport):
    /// `PermissionDenied` for a wrong key, `TimedOut` for timeouts, `ConnectionRefused` when
    /// the peer refused or closed the connection with a QUIC or TLS error (a refused
    /// certificate arrives as a TLS alert), `InvalidData` when we found the peer's handshake
    /// unacceptable, `ConnectionReset`/`ConnectionAborted` when the connection went away,
    /// `InvalidInput` for addresses and configuration, `Other` for the rest.
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::WrongKey { .. } => io::ErrorKind::PermissionDenied,
            Self::HandshakeTimeout { .. } | Self::OpenStreamTimeout { .. } => {
                io::ErrorKind::TimedOut
            }
            Self::Connect { source, .. } => match source {
                quinn::ConnectError::InvalidRemoteAddress(_)
                | quinn::ConnectError::InvalidServerName(_) => io::ErrorKind::InvalidInput,
                _ => io::ErrorKind::Other,
            },
            Self::Connection { source, .. }
            | Self::Stream {
                source: quinn::WriteError::ConnectionLost(source),
                ..
            } => connection_kind(source),
            Self::Stream { .. } => io::ErrorKind::BrokenPipe,
            Self::Config(_) => io::ErrorKind::InvalidInput,
            Self::Setup(_) => io::ErrorKind::Other,
        }
    }
}

fn connection_kind(error: &quinn::ConnectionError) -> io::ErrorKind {
    use quinn::ConnectionError as C;
    match error {
        C::TimedOut => io::ErrorKind::TimedOut,
        C::Reset => io::ErrorKind::ConnectionReset,
        C::ConnectionClosed(_) => io::ErrorKind::ConnectionRefused,
        C::TransportError(_) => io::ErrorKind::InvalidData,
        C::VersionMismatch => io::ErrorKind::Unsupported,
        C::ApplicationClosed(_) | C::LocallyClosed => io::ErrorKind::ConnectionAborted,
        C::CidsExhausted => io::ErrorKind::Other,
    }
}

impl From<QuicError> for io::Error {
    fn from(error: QuicError) -> Self {
        Self::new(error.kind(), error)
    }
}
