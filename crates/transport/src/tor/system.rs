//! A system tor as a transport.
//!
//! # Where this sits
//!
//! ```text
//!            dial(TorAddr::Onion) ─► SOCKS5 CONNECT <host>.onion:port ─► tor SocksPort ─► Tor network
//! SystemTor ─┤
//!            listen(TorAddr::Onion) ─► ADD_ONION (control port) ─► tor ─► 127.0.0.1:<local> ─► accepted
//! ```
//!
//! [`SystemTor`] is the [`Transport`] of Umbra's Tor zone over a tor daemon:
//!
//! - **dial**: a SOCKS5 CONNECT to `<56 base32>.onion:<port>` through tor's `SocksPort`. The
//!   name goes to tor as a name (never resolved here). With
//!   [`SystemTorConfig::isolate_streams`] (the default) every peer gets its own SOCKS
//!   username, derived from the peer's address and a random secret of this transport, so
//!   tor (`IsolateSOCKSAuth`, on by default) never puts two peers on one circuit, while
//!   connections to the same peer may share one. Inbound addresses cannot be dialled.
//! - **listen**: binds a TCP listener on loopback, then (over the control port) creates
//!   the onion service mapping the virtual port to it with `ADD_ONION`, using the configured
//!   [`OnionKey`] ([`SystemTor::listen_new`] makes a fresh key and returns it, so the node
//!   can keep its `.onion` address across restarts). The listener holds the control
//!   connection: dropping it closes the connection, and tor removes the service. If tor
//!   stops, the listener yields one error and ends.
//!
//! There is no fallback to a direct connection, whatever fails: every outbound byte goes
//! through tor's SOCKS port, every inbound connection comes from tor's onion service.
//!
//! # Example
//!
//! ```no_run
//! use futures::StreamExt;
//! use umbra_transport::{Transport, tor::{TorAddr, system::{SystemTor, SystemTorConfig}}};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tor = SystemTor::new(SystemTorConfig::default());
//! // A new onion service on virtual port 18083; keep `key` to keep the address.
//! let (mut listener, key) = tor.listen_new(18083).await?;
//! println!("reachable at {}", listener.onion());
//! listener.wait_published(std::time::Duration::from_secs(120)).await?;
//! let peer: TorAddr = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:18083".parse()?;
//! let (_reader, _writer) = tor.dial(&peer).await?;
//! while let Some(accepted) = listener.next().await {
//!     let (_reader, _writer, _inbound) = accepted?;
//! }
//! # drop(key);
//! # Ok(())
//! # }
//! ```

use std::{
    fmt,
    future::Future,
    io,
    net::{Ipv4Addr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use sha3::{Digest, Sha3_256};
use tokio::{
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{oneshot, watch},
};
use zeroize::Zeroizing;

use super::{
    OnionAddr, TorAddr,
    control::{
        ControlAuth, ControlConnection, ControlError, HsDescEvent, OnionKey, UploadTracker,
        service_id,
    },
};
use crate::{
    LocalAddr, Transport,
    socks::{Credentials, Socks5Proxy, TargetAddr},
};

/// How to reach and use a system tor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemTorConfig {
    /// Tor's `SocksPort`. Default `127.0.0.1:9050`.
    pub socks: SocketAddr,
    /// Tor's `ControlPort` (needed only to listen). Default `127.0.0.1:9051`.
    pub control: SocketAddr,
    /// How to authenticate to the control port. Default [`ControlAuth::Auto`] (cookie
    /// authentication through PROTOCOLINFO).
    pub control_auth: ControlAuth,
    /// How long a dial may take in all, SOCKS handshake included (through Tor: building a
    /// circuit and reaching the onion service). Default 60 s.
    pub connect_timeout: Duration,
    /// How long each control-port reply may take. Default 10 s.
    pub control_timeout: Duration,
    /// Put every peer on its own circuits (SOCKS username/password per peer). Default
    /// `true`; turn off only if tor's `SocksPort` lacks `IsolateSOCKSAuth` support.
    pub isolate_streams: bool,
    /// The onion service key [`Transport::listen`] uses; its address must be the one
    /// listened on. Default `None` (then use [`SystemTor::listen_new`]).
    pub onion_key: Option<OnionKey>,
    /// Where tor delivers inbound connections: a loopback address (port 0 picks a free
    /// port). Anything else is refused, since anyone on that network could then connect
    /// around tor. Default `127.0.0.1:0`.
    pub inbound_bind: SocketAddr,
}

impl SystemTorConfig {
    /// Default [`SystemTorConfig::connect_timeout`].
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
}

impl Default for SystemTorConfig {
    fn default() -> Self {
        Self {
            socks: SocketAddr::from((Ipv4Addr::LOCALHOST, 9050)),
            control: SocketAddr::from((Ipv4Addr::LOCALHOST, 9051)),
            control_auth: ControlAuth::Auto,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            control_timeout: ControlConnection::DEFAULT_REPLY_TIMEOUT,
            isolate_streams: true,
            onion_key: None,
            inbound_bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

/// The [`Transport`] over a system tor (see the [module docs](self)). Cheap to clone.
#[derive(Clone)]
pub struct SystemTor {
    inner: Arc<Inner>,
}

struct Inner {
    config: SystemTorConfig,
    proxy: Socks5Proxy,
    /// Keys the per-peer SOCKS credentials: without it, tor's logs (or anyone who sees the
    /// SOCKS traffic) could not link credentials to peers either way, but it also keeps two
    /// Umbra processes on one tor from sharing circuits to the same peer.
    isolation_secret: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for SystemTor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemTor")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl SystemTor {
    /// A transport over the tor `config` describes. Connects to nothing yet.
    #[must_use]
    pub fn new(config: SystemTorConfig) -> Self {
        let proxy = Socks5Proxy {
            addr: config.socks,
            connect_timeout: config
                .connect_timeout
                .min(Socks5Proxy::DEFAULT_CONNECT_TIMEOUT),
            handshake_timeout: config.connect_timeout,
        };
        Self {
            inner: Arc::new(Inner {
                config,
                proxy,
                isolation_secret: Zeroizing::new(rand::random()),
            }),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SystemTorConfig {
        &self.inner.config
    }

    /// A new control connection, authenticated (for GETINFO, bootstrap status, ...).
    ///
    /// # Errors
    /// [`ControlError`] when tor cannot be reached or refuses authentication.
    pub async fn control(&self) -> Result<ControlConnection, ControlError> {
        let config = &self.inner.config;
        let mut control =
            ControlConnection::connect(config.control, config.control_timeout).await?;
        control.authenticate(&config.control_auth).await?;
        Ok(control)
    }

    /// The SOCKS credentials for a peer: `None` without stream isolation.
    fn credentials(&self, peer: &[u8]) -> Option<Credentials> {
        if !self.inner.config.isolate_streams {
            return None;
        }
        let mut hasher = Sha3_256::new();
        hasher.update(b"umbra tor stream isolation v1");
        hasher.update(*self.inner.isolation_secret);
        hasher.update(peer);
        let digest = hasher.finalize();
        let username = data_encoding::HEXLOWER.encode(digest.get(..16).unwrap_or_default());
        Credentials::new(username.into_bytes(), b"umbra".to_vec()).ok()
    }

    async fn socks_connect(
        &self,
        target: &TargetAddr,
        peer: &[u8],
    ) -> io::Result<(OwnedReadHalf, OwnedWriteHalf)> {
        let credentials = self.credentials(peer);
        let stream = self
            .inner
            .proxy
            .connect(target, credentials.as_ref())
            .await?;
        Ok(stream.into_split())
    }

    /// Connects to a clearnet `addr` through a Tor exit.
    ///
    /// **This leaves the anonymity zone's rule that peers are onion services**: the exit
    /// sees the destination and the traffic. It exists for benchmarks and tools; a caller
    /// that uses it for P2P traffic takes that rule on itself. Streams are isolated per
    /// destination as for [`Transport::dial`]; never connects directly.
    ///
    /// # Errors
    /// As [`Transport::dial`].
    pub async fn connect_socket(
        &self,
        addr: SocketAddr,
    ) -> io::Result<(OwnedReadHalf, OwnedWriteHalf)> {
        self.socks_connect(&TargetAddr::Ip(addr), addr.to_string().as_bytes())
            .await
    }

    /// Creates an onion service with a fresh key (made by tor) on virtual port `port`;
    /// returns its listener and the key (store it to keep the address).
    ///
    /// # Errors
    /// As [`Transport::listen`].
    pub async fn listen_new(&self, port: u16) -> io::Result<(SystemTorListener, OnionKey)> {
        self.start(None, port).await
    }

    /// Creates the onion service of `key` on virtual port `port`.
    ///
    /// # Errors
    /// As [`Transport::listen`].
    pub async fn listen_with_key(
        &self,
        key: &OnionKey,
        port: u16,
    ) -> io::Result<SystemTorListener> {
        self.start(Some(key), port)
            .await
            .map(|(listener, _)| listener)
    }

    async fn start(
        &self,
        key: Option<&OnionKey>,
        port: u16,
    ) -> io::Result<(SystemTorListener, OnionKey)> {
        let config = &self.inner.config;
        let bind = config.inbound_bind;
        if !bind.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to take onion service connections on {bind}: not a loopback \
                     address, so anyone on that network could connect around tor"
                ),
            ));
        }
        let listener = TcpListener::bind(bind).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("binding the onion service's local listener on {bind}: {e}"),
            )
        })?;
        let local = listener.local_addr()?;
        let mut control = self.control().await?;
        control.set_events(&["HS_DESC"]).await?;
        let added = control.add_onion(key, &[(port, local)]).await?;
        let key = match (key, added.key) {
            (Some(key), _) => key.clone(),
            (None, Some(key)) => key,
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "tor control port {}: ADD_ONION returned no key",
                        config.control
                    ),
                ));
            }
        };
        let onion = added.onion;
        tracing::debug!(control = %config.control, %local, "onion service created");
        let (state_tx, state_rx) = watch::channel(ServiceState::Starting);
        let (dead_tx, dead_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        tokio::spawn(hold_service(control, onion, state_tx, dead_tx, stop_rx));
        Ok((
            SystemTorListener {
                listener,
                onion,
                state: state_rx,
                dead: dead_rx,
                _stop: stop_tx,
                finished: false,
            },
            key,
        ))
    }
}

/// Owns the control connection that keeps the onion service alive, follows its descriptor
/// uploads, and reports when tor goes away. Ends (closing the connection, so tor removes
/// the service) when the listener is dropped.
async fn hold_service(
    mut control: ControlConnection,
    onion: OnionAddr,
    state: watch::Sender<ServiceState>,
    dead: oneshot::Sender<io::Error>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut uploads = UploadTracker::new(service_id(&onion));
    // Each round handles one event or ends: bounded by the connection's life.
    loop {
        tokio::select! {
            _ = &mut stop => break,
            event = control.next_event() => match event {
                Ok(event) => {
                    let Some(desc) = HsDescEvent::from_reply(&event) else { continue };
                    if uploads.handle(&desc) {
                        state.send_if_modified(|current| {
                            let changed = *current == ServiceState::Starting;
                            if changed {
                                *current = ServiceState::Published;
                            }
                            changed
                        });
                    }
                }
                Err(error) => {
                    let message = format!(
                        "onion service {onion} is gone: the control connection that held it ended ({error})"
                    );
                    tracing::warn!(control = %control.control_addr(), %error, "tor control connection ended; onion service gone");
                    state.send_replace(ServiceState::Gone(message.clone()));
                    // The listener may be gone too: nobody to tell then.
                    let _ = dead.send(io::Error::new(io::ErrorKind::ConnectionAborted, message));
                    break;
                }
            },
        }
    }
}

/// Where an onion service is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// Created; no descriptor uploaded yet.
    Starting,
    /// The descriptors are on the HSDirs (every upload tor started has ended, at least
    /// one successfully; see [`UploadTracker`]): clients can find the service.
    Published,
    /// The control connection ended (tor stopped): the service no longer exists.
    Gone(String),
}

/// Connections to our onion service, as a [`Stream`] (see [`SystemTor`]).
///
/// Each accepted connection has a fresh [`TorAddr::Inbound`] address. Dropping the
/// listener removes the onion service. If tor stops, the stream yields one error and ends.
#[derive(Debug)]
pub struct SystemTorListener {
    listener: TcpListener,
    onion: OnionAddr,
    state: watch::Receiver<ServiceState>,
    dead: oneshot::Receiver<io::Error>,
    _stop: oneshot::Sender<()>,
    finished: bool,
}

impl SystemTorListener {
    /// Our onion address (the service and its virtual port).
    #[must_use]
    pub const fn onion(&self) -> OnionAddr {
        self.onion
    }

    /// The loopback socket tor delivers connections to.
    ///
    /// # Errors
    /// The I/O error from the socket.
    pub fn local_socket(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the service is in its life.
    #[must_use]
    pub fn state(&self) -> ServiceState {
        self.state.borrow().clone()
    }

    /// Waits until tor has uploaded the service's descriptors (every upload it started has
    /// ended, at least one with `HS_DESC UPLOADED`), after which clients can reach it.
    ///
    /// # Errors
    /// [`io::ErrorKind::TimedOut`] after `timeout` (tor may still be bootstrapping);
    /// [`io::ErrorKind::ConnectionAborted`] if tor went away.
    pub async fn wait_published(&self, timeout: Duration) -> io::Result<()> {
        let mut state = self.state.clone();
        let waited = tokio::time::timeout(timeout, async {
            state
                .wait_for(|s| *s != ServiceState::Starting)
                .await
                .map(|s| s.clone())
        })
        .await;
        match waited {
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "onion service {}: no descriptor uploaded within {timeout:?} (is tor bootstrapped?)",
                    self.onion
                ),
            )),
            Ok(Ok(ServiceState::Published)) => Ok(()),
            Ok(Ok(ServiceState::Gone(message))) => {
                Err(io::Error::new(io::ErrorKind::ConnectionAborted, message))
            }
            Ok(Ok(ServiceState::Starting) | Err(_)) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("onion service {}: its control task ended", self.onion),
            )),
        }
    }
}

impl LocalAddr<TorAddr> for SystemTorListener {
    fn local_addr(&self) -> io::Result<TorAddr> {
        Ok(TorAddr::Onion(self.onion))
    }
}

impl Stream for SystemTorListener {
    type Item = io::Result<(OwnedReadHalf, OwnedWriteHalf, TorAddr)>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if let Poll::Ready(result) = Pin::new(&mut self.dead).poll(cx) {
            self.finished = true;
            let error = result.unwrap_or_else(|_| {
                io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("onion service {}: its control task ended", self.onion),
                )
            });
            return Poll::Ready(Some(Err(error)));
        }
        match self.listener.poll_accept(cx) {
            Poll::Ready(Ok((stream, _from))) => Poll::Ready(Some(Ok(split(stream)))),
            Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn split(stream: TcpStream) -> (OwnedReadHalf, OwnedWriteHalf, TorAddr) {
    // A socket option failing is no reason to refuse the peer.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let (reader, writer) = stream.into_split();
    (reader, writer, TorAddr::next_inbound())
}

impl Transport for SystemTor {
    type Addr = TorAddr;
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;
    type Listener = SystemTorListener;

    /// SOCKS5 CONNECT to the onion service through tor, isolated per peer. Inbound
    /// addresses are refused ([`io::ErrorKind::InvalidInput`]).
    async fn dial(&self, addr: &TorAddr) -> io::Result<(OwnedReadHalf, OwnedWriteHalf)> {
        let onion = match addr {
            TorAddr::Onion(onion) => onion,
            TorAddr::Inbound(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot dial {addr}: an inbound connection has no address to dial"),
                ));
            }
        };
        let mut peer = [0u8; 34];
        let (key, port) = peer.split_at_mut(32);
        key.copy_from_slice(onion.key());
        port.copy_from_slice(&onion.port().to_be_bytes());
        self.socks_connect(&TargetAddr::from(onion), &peer).await
    }

    /// Creates the onion service of [`SystemTorConfig::onion_key`], which must be `addr`'s,
    /// on `addr`'s port.
    async fn listen(&self, addr: &TorAddr) -> io::Result<SystemTorListener> {
        let TorAddr::Onion(onion) = addr else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot listen on {addr}: listen on our own onion address"),
            ));
        };
        let Some(key) = &self.inner.config.onion_key else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot listen on {onion}: no onion key configured (SystemTor::listen_new makes one)"
                ),
            ));
        };
        let ours = key.onion_addr(onion.port());
        if ours != *onion {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot listen on {onion}: the configured onion key is for {ours}"),
            ));
        }
        self.listen_with_key(key, onion.port()).await
    }
}
