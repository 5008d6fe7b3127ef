//! QUIC between Umbra peers, with the identity key bound to the connection.
//!
//! [`QuicTransport`] is a [`Transport`] over QUIC ([quinn]) whose addresses are
//! [`Keyed<SocketAddr>`](crate::Keyed): a UDP address and the [`PublicKey`] the peer there
//! must prove. A dial gives one bidirectional QUIC *stream*; dials to the same peer share one
//! QUIC *connection*, so many concurrent requests to a peer are many streams with one
//! handshake, one congestion controller and no head-of-line blocking between them.
//!
//! ```text
//!  dialler (QuicTransport)                              listener (QuicListener)
//!  dial(key@addr) ─┐                                     ┌─► (reader, writer, key'@addr')
//!  dial(key@addr) ─┼─ streams ══ one QUIC connection ══ ─┼─► (reader, writer, key'@addr')
//!  dial(key@addr) ─┘   (cached per addr and key)         └─► (reader, writer, key'@addr')
//! ```
//!
//! # How the identity is bound
//!
//! Both sides present a self-signed X.509 certificate whose key *is* the node's identity
//! key: the [`Identity`]'s Ed25519 key, certified by itself (made with rcgen). TLS 1.3 is
//! mutual and Ed25519-only:
//!
//! - the dialler accepts the server's certificate only if its `SubjectPublicKeyInfo` is the
//!   Ed25519 key it dialled and it is signed by that key, and the handshake's
//!   `CertificateVerify` must verify under it (the ring provider's TLS 1.3 helper), so the
//!   server has proved it holds the secret. Anything else fails the dial; a different key
//!   fails with [`QuicError::WrongKey`], which names the expected and the presented key;
//! - the listener requires a client certificate and accepts any self-signed Ed25519 one with
//!   a valid `CertificateVerify`: that key is the peer's identity, reported with every stream
//!   it opens. A client without a certificate, or with another kind of key, is refused by
//!   the TLS handshake;
//! - TLS 1.2, other signature schemes, certificate chains, session resumption and 0-RTT are
//!   all off, so every connection proves both keys afresh. Names and validity dates are not
//!   checked: the certificate carries a key and nothing else. No server name (SNI) is sent;
//!   quinn requires one internally and gets the fixed, never-sent `"umbra"`. The ALPN is
//!   `umbra/1`.
//!
//! The secret never leaves the [`Identity`]: the certificate is self-signed and every
//! handshake signed by calling [`Identity::sign`], so no copy of the key (PKCS#8 or other)
//! is made for rcgen or rustls.
//!
//! # One socket per transport
//!
//! A transport has one UDP socket (one quinn endpoint), made on first use: [`listen`] binds
//! it where asked, a [`dial`] before any listen binds it at [`QuicConfig::bind`], and
//! [`QuicTransport::bind`] binds it explicitly. The same socket dials and, once listening,
//! accepts — so a node that listens dials from its listening address, and the address a
//! listener reports for a peer is that peer's listening address when the peer listens too.
//! A second `listen` on another address is an error (make a second transport for it).
//!
//! # Streams and the stream-open byte
//!
//! QUIC tells a peer about a new stream only when data for it is sent. A dial therefore
//! writes one byte (`0x01`, which doubles as a format version) as soon as it opens the
//! stream, so the listener sees every dialled stream even when the dialler waits to read
//! first; the listener's [`QuicReader`] checks and strips it. Neither application sees it.
//!
//! # Limits
//!
//! All in [`QuicConfig`]: handshake timeout, idle timeout and keep-alive, streams a dialler
//! may have open at once on one connection (more dials wait for credit, up to
//! [`QuicConfig::open_stream_timeout`]), accepted connections served at once (more are
//! refused before their handshake), the bounded queue of accepted streams, the bounded cache
//! of dialled connections, how long a connection without streams lingers, and the socket's
//! kernel buffers.
//!
//! A connection closes once it has had no stream for [`QuicConfig::linger`], never at once:
//! closing a QUIC connection drops whatever stream data the peer has not acknowledged yet,
//! so a stream written and dropped just before would lose its tail.
//!
//! # What an observer learns
//!
//! QUIC is recognisable as QUIC: UDP, long-header packets with the QUIC version during the
//! handshake, short headers after. Its Initial packets are encrypted with keys derived from
//! the Destination Connection ID sent in the same packet (RFC 9001 §5.2), so *anyone on the
//! path can decrypt them*: the TLS ClientHello is readable, with the ALPN `umbra/1` (which
//! marks the connection as Umbra's), the cipher suites, key-share groups, the signature
//! algorithms (only `ed25519`, itself unusual) and quinn's QUIC transport parameters. No SNI
//! is sent. The ServerHello is readable the same way. With TLS 1.3 both certificates, and
//! so both identity keys, travel in Handshake packets encrypted with handshake keys: a
//! passive observer does not see them. But the server sends its certificate before the
//! client proves anything, so anyone who connects to a listener learns its key; and sizes
//! and timing are QUIC's own, unpadded beyond QUIC's 1200-byte Initials. Where being seen to
//! run Umbra matters, use the Noise transport instead.
//!
//! # Example
//!
//! ```
//! use futures::StreamExt;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use umbra_identity::Identity;
//! use umbra_transport::{
//!     Keyed, LocalAddr, Transport,
//!     quic::{QuicConfig, QuicTransport},
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let alice = Identity::generate();
//! let server = QuicTransport::new(&alice, QuicConfig::default())?;
//! let mut listener = server
//!     .listen(&Keyed::new("127.0.0.1:0".parse()?, alice.public()))
//!     .await?;
//! // The bound socket and Alice's key: what a peer needs to reach her.
//! let alice_at = listener.local_addr()?;
//!
//! let bob = Identity::generate();
//! let client = QuicTransport::new(&bob, QuicConfig::default())?;
//! let (mut reader, mut writer) = client.dial(&alice_at).await?;
//! writer.write_all(b"ping").await?;
//!
//! let (mut their_reader, mut their_writer, from) =
//!     listener.next().await.ok_or("listener ended")??;
//! assert_eq!(from.key, bob.public()); // Alice learns who dialled.
//! let mut buf = [0u8; 4];
//! their_reader.read_exact(&mut buf).await?;
//! their_writer.write_all(b"pong").await?;
//! reader.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"pong");
//! # Ok(())
//! # }
//! ```
//!
//! [`listen`]: Transport::listen
//! [`dial`]: Transport::dial
//! [quinn]: https://docs.rs/quinn

mod config;
mod dial;
mod error;
mod listener;
mod stream;
mod tls;

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use rustls::sign::CertifiedKey;
use tokio::sync::watch;
use umbra_identity::{Identity, PublicKey};

pub use self::{
    config::QuicConfig,
    error::QuicError,
    listener::QuicListener,
    stream::{QuicReader, QuicWriter},
};
use self::{
    dial::Peers,
    listener::{AcceptTask, Counters, CurrentSink},
};
use crate::{Keyed, Transport};

/// QUIC with Umbra identities; see the [module docs](self).
///
/// Cheap to clone: clones share the socket, the connection cache and the counters.
///
/// Connections are never closed while data written on them may still be on its way: a
/// connection closes once it has had no open stream for [`QuicConfig::linger`] (dialled
/// ones always, accepted ones once the listener is gone), also after the transport is
/// dropped, and the socket stays open until its last connection has closed. To close
/// everything at once, call [`QuicTransport::close`].
#[derive(Debug, Clone)]
pub struct QuicTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    own: PublicKey,
    config: QuicConfig,
    certified: Arc<CertifiedKey>,
    server: quinn::ServerConfig,
    client_transport: Arc<quinn::TransportConfig>,
    socket: Mutex<Option<Bound>>,
    listener: CurrentSink,
    peers: Arc<Peers>,
    counters: Arc<Counters>,
    next_listener: AtomicU64,
    /// Set by [`QuicTransport::close`].
    closed: AtomicBool,
    /// Dropped with the transport, which ends its tasks.
    shutdown: watch::Sender<()>,
}

/// The transport's socket, once made.
#[derive(Debug)]
struct Bound {
    endpoint: quinn::Endpoint,
    /// The address it was bound with (port 0 perhaps), to recognise a `listen` on it.
    requested: SocketAddr,
}

/// Counters of a [`QuicTransport`] (since it was made) and its state now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuicStats {
    /// Connections we dialled whose handshake succeeded.
    pub connections_dialled: u64,
    /// Connections our listener accepted whose handshake succeeded.
    pub connections_accepted: u64,
    /// Incoming connections whose handshake failed or timed out (no certificate, not an
    /// Ed25519 identity, ...).
    pub handshakes_failed: u64,
    /// Incoming connections refused before their handshake (no listener, or
    /// [`QuicConfig::max_connections`] reached).
    pub connections_refused: u64,
    /// Streams opened by dials.
    pub streams_opened: u64,
    /// Streams accepted from peers (handed to the listener's queue).
    pub streams_accepted: u64,
    /// Dialled connections in the cache now, live or being set up.
    pub cached_connections: usize,
    /// Accepted connections being served now.
    pub serving_connections: usize,
    /// Connections on the socket now, either way, as quinn counts them (including ones
    /// closing).
    pub open_connections: usize,
}

impl QuicTransport {
    /// A transport for `identity` (it keeps a clone, to sign handshakes). No socket is made
    /// yet (see [`QuicTransport::bind`]).
    ///
    /// # Errors
    /// [`QuicError::Config`] if `config` is out of range ([`QuicConfig::validate`]),
    /// [`QuicError::Setup`] if the certificate or TLS configuration cannot be built.
    pub fn new(identity: &Identity, config: QuicConfig) -> Result<Self, QuicError> {
        config.validate()?;
        let certified = tls::certified_key(identity)?;
        let tls = tls::server_config(&certified)
            .map_err(|error| QuicError::Setup(format!("TLS server configuration: {error}")))?;
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(Arc::new(tls))
            .map_err(|error| QuicError::Setup(format!("QUIC server configuration: {error}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server
            .transport_config(config.transport(config.max_concurrent_streams)?)
            .max_incoming(config.max_connections);
        let client_transport = config.transport(0)?;
        let (shutdown, _) = watch::channel(());
        Ok(Self {
            inner: Arc::new(Inner {
                own: identity.public(),
                peers: Arc::new(Peers::new(config.max_cached_connections)),
                config,
                certified,
                server,
                client_transport,
                socket: Mutex::new(None),
                listener: Arc::new(Mutex::new(None)),
                counters: Arc::default(),
                next_listener: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                shutdown,
            }),
        })
    }

    /// Binds the transport's UDP socket at `addr` now, and gives the address bound (the
    /// port chosen, if `addr`'s is 0). A later [`listen`](Transport::listen) must use this
    /// address (as given or as bound).
    ///
    /// # Errors
    /// The socket's error; `InvalidInput` if the socket is already bound elsewhere;
    /// `Other` outside a tokio runtime.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        self.inner.endpoint(Some(addr))?.local_addr()
    }

    /// The address the socket is bound to, once it is.
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner
            .lock_socket()
            .as_ref()
            .and_then(|bound| bound.endpoint.local_addr().ok())
    }

    /// The identity this transport proves.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.inner.own
    }

    /// Counters and current state.
    #[must_use]
    pub fn stats(&self) -> QuicStats {
        let counters = &self.inner.counters;
        let open_connections = self
            .inner
            .lock_socket()
            .as_ref()
            .map_or(0, |bound| bound.endpoint.open_connections());
        QuicStats {
            connections_dialled: counters.dialled.load(Ordering::Relaxed),
            connections_accepted: counters.accepted.load(Ordering::Relaxed),
            handshakes_failed: counters.handshakes_failed.load(Ordering::Relaxed),
            connections_refused: counters.refused.load(Ordering::Relaxed),
            streams_opened: counters.streams_opened.load(Ordering::Relaxed),
            streams_accepted: counters.streams_accepted.load(Ordering::Relaxed),
            cached_connections: self.inner.peers.live(),
            serving_connections: counters.serving.load(Ordering::Relaxed),
            open_connections,
        }
    }

    /// Closes every connection now (peers see a close, not a timeout) and waits until they
    /// are gone. Data not yet acknowledged by the peer is lost, as with any QUIC close. The
    /// listener's stream ends; the transport cannot dial or listen afterwards.
    pub async fn close(&self) {
        let endpoint = {
            // Under the socket's lock, so no dial or listen makes a socket after this.
            let socket = self.inner.lock_socket();
            self.inner.closed.store(true, Ordering::Release);
            socket.as_ref().map(|bound| bound.endpoint.clone())
        };
        // The listener's stream ends once the connections being served are gone.
        drop(listener::take_sink(&self.inner.listener));
        if let Some(endpoint) = endpoint {
            endpoint.close(quinn::VarInt::from_u32(0), b"closed");
            endpoint.wait_idle().await;
        }
    }
}

impl Inner {
    fn lock_socket(&self) -> std::sync::MutexGuard<'_, Option<Bound>> {
        // Set once, never modified after: consistent even after a panic.
        self.socket.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The socket, made at `want` (or [`QuicConfig::bind`]) if there is none yet.
    fn endpoint(&self, want: Option<SocketAddr>) -> io::Result<quinn::Endpoint> {
        let mut socket = self.lock_socket();
        if self.closed.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "this QUIC transport was closed",
            ));
        }
        if let Some(bound) = socket.as_ref() {
            if let Some(want) = want {
                let local = bound.endpoint.local_addr()?;
                if want != bound.requested && want != local {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "this QUIC transport's socket is bound to {local}, not {want} \
                             (one transport has one socket: make another transport)"
                        ),
                    ));
                }
            }
            return Ok(bound.endpoint.clone());
        }
        let runtime = quinn::default_runtime().ok_or_else(|| {
            io::Error::from(QuicError::Setup(
                "the QUIC transport runs inside a tokio runtime".to_owned(),
            ))
        })?;
        let requested = want.unwrap_or(self.config.bind);
        let udp = std::net::UdpSocket::bind(requested)?;
        if let Some(bytes) = self.config.socket_buffer {
            set_buffer_sizes(&udp, bytes);
        }
        let endpoint = quinn::Endpoint::new(quinn::EndpointConfig::default(), None, udp, runtime)?;
        tokio::spawn(listener::accept_loop(AcceptTask {
            endpoint: endpoint.clone(),
            current: Arc::clone(&self.listener),
            shutdown: self.shutdown.subscribe(),
            counters: Arc::clone(&self.counters),
            handshake_timeout: self.config.handshake_timeout,
            linger: self.config.linger,
            max_connections: self.config.max_connections,
        }));
        *socket = Some(Bound {
            endpoint: endpoint.clone(),
            requested,
        });
        Ok(endpoint)
    }
}

/// Asks for `bytes` of kernel buffer each way on the socket (the kernel may give less: Linux
/// caps it at `net.core.rmem_max` / `wmem_max`). Best effort: QUIC works with the default
/// buffers, only slower, as bursts overflow them and count as loss.
fn set_buffer_sizes(udp: &std::net::UdpSocket, bytes: usize) {
    let result = quinn::udp::UdpSocketState::new(udp.into()).and_then(|state| {
        state.set_recv_buffer_size(udp.into(), bytes)?;
        state.set_send_buffer_size(udp.into(), bytes)
    });
    if let Err(error) = result {
        tracing::debug!(%error, bytes, "could not size the QUIC socket's buffers");
    }
}

impl Transport for QuicTransport {
    type Addr = Keyed<SocketAddr>;
    type Reader = QuicReader;
    type Writer = QuicWriter;
    type Listener = QuicListener;

    /// Opens a stream to `addr.addr`, over the live connection to it if there is one (its
    /// key proved when it was made), else over a new connection that must prove
    /// `addr.key`.
    ///
    /// Errors carry a [`QuicError`]: `PermissionDenied` for [`QuicError::WrongKey`],
    /// `TimedOut` for [`QuicConfig::handshake_timeout`] and
    /// [`QuicConfig::open_stream_timeout`], others as [`QuicError::kind`] says.
    async fn dial(&self, addr: &Keyed<SocketAddr>) -> io::Result<(QuicReader, QuicWriter)> {
        self.dial_stream(addr).await
    }

    /// Starts accepting streams on `addr.addr`; `addr.key` must be this transport's own key
    /// (`InvalidInput` otherwise). One listener at a time (`AddrInUse` while another is
    /// alive).
    async fn listen(&self, addr: &Keyed<SocketAddr>) -> io::Result<QuicListener> {
        self.start_listening(addr)
    }
}
