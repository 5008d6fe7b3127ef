//! [`SamTransport`]: the [`Transport`] of the I2P zone, over one SAM session.

use std::{
    collections::HashMap,
    fmt, io,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use tokio::{
    net::tcp::OwnedWriteHalf,
    sync::{Mutex as AsyncMutex, mpsc},
    task::JoinSet,
};

use super::{
    Destination, I2pAddr, PrivateKey, SamError,
    sam::{SamConnection, SamReader, SamStream, TunnelOptions},
    session::Session,
};
use crate::{LocalAddr, Transport};

/// Where a session's keys come from.
#[derive(Debug, Clone, Default)]
pub enum SessionKey {
    /// The router makes fresh keys for the session (`DESTINATION=TRANSIENT`). The keys are
    /// still known afterwards ([`SamTransport::private_key`]) and reused when the session
    /// has to be made again, so the address holds for the life of the transport.
    #[default]
    Transient,
    /// Fresh keys from `DEST GENERATE` before the first session (the same as `Transient`
    /// in effect, for routers that handle `TRANSIENT` badly).
    Generate,
    /// Keys the caller kept from an earlier run: the node keeps its `.b32.i2p` address.
    Stored(PrivateKey),
}

/// How [`SamTransport::dial`](Transport::dial) names the peer in `STREAM CONNECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolve {
    /// `NAMING LOOKUP` first (on the session's control connection, so the router looks
    /// the name up through the session's own tunnels), then `STREAM CONNECT` with the full
    /// destination on a new connection. Works with i2pd and Java I2P. Destinations found
    /// are cached (a `.b32.i2p` name is the hash of its destination, so entries never go
    /// stale).
    #[default]
    NamingLookup,
    /// `STREAM CONNECT DESTINATION=<b32>.b32.i2p` directly: one round trip less on routers
    /// that resolve names there (Java I2P); i2pd 2.45 does not (`CANT_REACH_PEER`).
    ByName,
}

/// How a [`SamTransport`] reaches its SAM bridge and what it asks of it.
#[derive(Debug, Clone)]
pub struct SamConfig {
    /// The SAM bridge. Default `127.0.0.1:7656`.
    pub bridge: SocketAddr,
    /// The session's keys. Default [`SessionKey::Transient`].
    pub key: SessionKey,
    /// Tunnel lengths and quantities. Default 3 hops, 2 tunnels each way.
    pub tunnels: TunnelOptions,
    /// How peers are named when dialling. Default [`Resolve::NamingLookup`].
    pub resolve: Resolve,
    /// Bound on one dial: the name lookup and `STREAM CONNECT` (not the session's
    /// creation, see `session_timeout`). Default 60 s: I2P lookups and stream set-ups
    /// take seconds.
    pub connect_timeout: Duration,
    /// Bound on connecting to the bridge, `HELLO` and other quick commands. Default 10 s.
    pub control_timeout: Duration,
    /// Bound on `SESSION CREATE`, which waits for the session's tunnels. Default 180 s.
    pub session_timeout: Duration,
    /// `STREAM ACCEPT` connections a listener keeps waiting at the bridge, 1 to 64.
    /// Default 4.
    pub accept_pool: usize,
    /// Accepted connections a listener holds until they are taken, 1 to 1024; when it is
    /// full, accepting pauses (peers wait at the router). Default 16.
    pub accept_queue: usize,
    /// Longest pause between failed accepts (the pause starts at 250 ms and doubles).
    /// Default 10 s.
    pub accept_retry_max: Duration,
    /// Destinations remembered from `NAMING LOOKUP`, 0 to 65,536. Default 1,024.
    pub lookup_cache: usize,
}

impl SamConfig {
    /// The SAM port routers use by default.
    pub const DEFAULT_BRIDGE_PORT: u16 = 7656;
    /// Largest `accept_pool`.
    pub const MAX_ACCEPT_POOL: usize = 64;
    /// Largest `accept_queue`.
    pub const MAX_ACCEPT_QUEUE: usize = 1024;
    /// Largest `lookup_cache`.
    pub const MAX_LOOKUP_CACHE: usize = 65_536;

    /// The default configuration for the bridge at `bridge`.
    #[must_use]
    pub fn new(bridge: SocketAddr) -> Self {
        Self {
            bridge,
            ..Self::default()
        }
    }

    /// Checks every bound.
    ///
    /// # Errors
    /// [`SamError::Config`] naming the setting out of range.
    pub fn validate(&self) -> Result<(), SamError> {
        self.tunnels.validate()?;
        if !(1..=Self::MAX_ACCEPT_POOL).contains(&self.accept_pool) {
            return Err(SamError::Config("accept_pool is 1 to 64"));
        }
        if !(1..=Self::MAX_ACCEPT_QUEUE).contains(&self.accept_queue) {
            return Err(SamError::Config("accept_queue is 1 to 1024"));
        }
        if self.lookup_cache > Self::MAX_LOOKUP_CACHE {
            return Err(SamError::Config("lookup_cache is at most 65536"));
        }
        if [
            self.connect_timeout,
            self.control_timeout,
            self.session_timeout,
            self.accept_retry_max,
        ]
        .contains(&Duration::ZERO)
        {
            return Err(SamError::Config(
                "timeouts and accept_retry_max must not be zero",
            ));
        }
        Ok(())
    }
}

impl Default for SamConfig {
    fn default() -> Self {
        Self {
            bridge: SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::LOCALHOST,
                Self::DEFAULT_BRIDGE_PORT,
            )),
            key: SessionKey::default(),
            tunnels: TunnelOptions::default(),
            resolve: Resolve::default(),
            connect_timeout: Duration::from_secs(60),
            control_timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(180),
            accept_pool: 4,
            accept_queue: 16,
            accept_retry_max: Duration::from_secs(10),
            lookup_cache: 1024,
        }
    }
}

/// First pause after a failed accept.
const ACCEPT_RETRY_MIN: Duration = Duration::from_millis(250);

/// The I2P zone's [`Transport`]: one SAM session on a router's SAM bridge (i2pd or Java
/// I2P), `dial` = `STREAM CONNECT` on a new control connection, `listen` = a bounded pool
/// of `STREAM ACCEPT` connections.
///
/// The session is made on first use (or by [`SamTransport::connect`]) and lives as long as
/// the transport: its control connection is held open by a keeper task. When the router
/// closes it (the router stopped, restarted or dropped the session), the next dial or
/// accept makes a new session with the same keys, so the address stays the same; while the
/// router is down they fail with [`SamError::Unreachable`] at once. Retrying with back-off
/// is the caller's job for dials; listeners retry by themselves (250 ms doubling to
/// [`SamConfig::accept_retry_max`]) and report each failed attempt as an `Err` item.
///
/// Cheap to clone: clones share the session.
#[derive(Clone)]
pub struct SamTransport {
    inner: Arc<Inner>,
}

struct Inner {
    config: SamConfig,
    /// The current session; replaced when it dies. Held across its creation, so callers
    /// wait for one creation instead of racing several.
    session: AsyncMutex<Option<Arc<Session>>>,
    /// The keys of the last session made, reused for the next one.
    key: Mutex<Option<PrivateKey>>,
    /// Destinations found by `NAMING LOOKUP`, by hash; bounded by `config.lookup_cache`.
    cache: Mutex<HashMap<[u8; 32], Destination>>,
}

impl fmt::Debug for SamTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamTransport")
            .field("bridge", &self.inner.config.bridge)
            .finish_non_exhaustive()
    }
}

impl SamTransport {
    /// A transport that makes its session on first use.
    ///
    /// # Errors
    /// [`SamError::Config`] when a setting is out of range.
    pub fn new(config: SamConfig) -> Result<Self, SamError> {
        config.validate()?;
        let key = match &config.key {
            SessionKey::Stored(key) => Some(key.clone()),
            SessionKey::Transient | SessionKey::Generate => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                session: AsyncMutex::new(None),
                key: Mutex::new(key),
                cache: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A transport with its session made now (bounded by the configuration's timeouts;
    /// about 20 s on i2pd).
    ///
    /// # Errors
    /// [`SamError`]: the bridge unreachable or not SAM, the session refused.
    pub async fn connect(config: SamConfig) -> Result<Self, SamError> {
        let transport = Self::new(config)?;
        transport.session().await?;
        Ok(transport)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SamConfig {
        &self.inner.config
    }

    /// This node's address (making the session if there is none), at
    /// [`I2pAddr::MONERO_PORT`].
    ///
    /// # Errors
    /// As [`SamTransport::connect`].
    pub async fn local_addr(&self) -> Result<I2pAddr, SamError> {
        Ok(self.session().await?.addr)
    }

    /// The session's private key, once a session has been made (or the stored one):
    /// persist it to keep the address across restarts ([`SessionKey::Stored`]).
    #[must_use]
    pub fn private_key(&self) -> Option<PrivateKey> {
        self.inner
            .key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a session exists and its control connection is open, as far as this side
    /// knows (a router that died is noticed within moments, one that hangs is not).
    pub async fn is_connected(&self) -> bool {
        self.inner
            .session
            .lock()
            .await
            .as_ref()
            .is_some_and(|s| s.is_alive())
    }

    /// The full destination behind `addr`, from the cache or by `NAMING LOOKUP` on the
    /// session's control connection (making the session if there is none).
    ///
    /// # Errors
    /// [`SamError::Refused`] (`KEY_NOT_FOUND`, `INVALID_KEY`) when the router cannot find
    /// it, [`SamError::BadDestination`] when the bridge answers with a destination whose
    /// hash is not `addr`, the I/O errors.
    pub async fn lookup(&self, addr: &I2pAddr) -> Result<Destination, SamError> {
        if let Some(destination) = self.cached(addr) {
            return Ok(destination);
        }
        let session = self.session().await?;
        self.lookup_on(&session, addr).await
    }

    /// A fresh destination and its private key from the bridge (`DEST GENERATE`), without
    /// making a session: for a node that wants to store its keys before it first goes
    /// online.
    ///
    /// # Errors
    /// [`SamError`]: the bridge unreachable, not SAM, or refusing.
    pub async fn generate_key(
        bridge: SocketAddr,
        timeout: Duration,
    ) -> Result<PrivateKey, SamError> {
        let mut conn = SamConnection::connect(bridge, timeout).await?;
        conn.dest_generate(timeout).await
    }

    /// The live session, made (again) if there is none.
    async fn session(&self) -> Result<Arc<Session>, SamError> {
        let mut slot = self.inner.session.lock().await;
        if let Some(session) = slot.as_ref().filter(|s| s.is_alive()) {
            return Ok(Arc::clone(session));
        }
        // Drop a dead session first: that closes its control connection.
        *slot = None;
        let key = self.private_key();
        let session = Arc::new(Session::create(&self.inner.config, key).await?);
        *self
            .inner
            .key
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(session.key.clone());
        *slot = Some(Arc::clone(&session));
        Ok(session)
    }

    fn cached(&self, addr: &I2pAddr) -> Option<Destination> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(addr.hash())
            .cloned()
    }

    async fn lookup_on(&self, session: &Session, addr: &I2pAddr) -> Result<Destination, SamError> {
        let config = &self.inner.config;
        let destination = session.lookup(addr, config.connect_timeout).await?;
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if config.lookup_cache > 0 {
            if cache.len() >= config.lookup_cache {
                // Full: forget one entry (any will do; all are equally valid).
                if let Some(old) = cache.keys().next().copied() {
                    cache.remove(&old);
                }
            }
            cache.insert(*addr.hash(), destination.clone());
        }
        Ok(destination)
    }

    async fn dial_stream(&self, addr: &I2pAddr) -> Result<SamStream, SamError> {
        let session = self.session().await?;
        let config = &self.inner.config;
        let work = async {
            match config.resolve {
                Resolve::NamingLookup => {
                    let destination = match self.cached(addr) {
                        Some(destination) => destination,
                        None => self.lookup_on(&session, addr).await?,
                    };
                    let conn =
                        SamConnection::connect(config.bridge, config.control_timeout).await?;
                    conn.stream_connect(&session.id, &destination, config.connect_timeout)
                        .await
                }
                Resolve::ByName => {
                    let conn =
                        SamConnection::connect(config.bridge, config.control_timeout).await?;
                    conn.stream_connect_name(&session.id, addr, config.connect_timeout)
                        .await
                }
            }
        };
        let result = tokio::time::timeout(config.connect_timeout, work)
            .await
            .unwrap_or(Err(SamError::Timeout {
                bridge: config.bridge,
                during: "dialling (NAMING LOOKUP and STREAM CONNECT)",
                after: config.connect_timeout,
            }));
        if let Err(error) = &result
            && error.session_is_gone()
        {
            session.mark_dead();
        }
        result
    }

    /// Waits for one incoming stream on a new `STREAM ACCEPT` connection.
    async fn accept_stream(&self) -> Result<(SamStream, Destination), SamError> {
        let session = self.session().await?;
        let config = &self.inner.config;
        let pending = async {
            let conn = SamConnection::connect(config.bridge, config.control_timeout).await?;
            conn.stream_accept(&session.id, config.control_timeout)
                .await
        };
        let result = match pending.await {
            Ok(pending) => tokio::select! {
                accepted = pending.accept() => accepted,
                () = session.died() => Err(SamError::Closed {
                    bridge: config.bridge,
                    during: "STREAM ACCEPT (the session ended)",
                }),
            },
            Err(error) => Err(error),
        };
        if let Err(error) = &result
            && error.session_is_gone()
        {
            session.mark_dead();
        }
        result
    }
}

impl Transport for SamTransport {
    type Addr = I2pAddr;
    type Reader = SamReader;
    type Writer = OwnedWriteHalf;
    type Listener = SamListener;

    /// Opens a stream to `addr` (its port is ignored: I2P streams through SAM 3.1 have no
    /// ports). Makes the session first if needed.
    async fn dial(&self, addr: &I2pAddr) -> io::Result<(SamReader, OwnedWriteHalf)> {
        Ok(self.dial_stream(addr).await?.into_split())
    }

    /// Starts accepting streams to this node's address. `addr` must name the session's
    /// destination ([`SamTransport::local_addr`]); its port is what
    /// [`LocalAddr::local_addr`] reports. Accepted peers come with their address at
    /// [`I2pAddr::MONERO_PORT`].
    async fn listen(&self, addr: &I2pAddr) -> io::Result<SamListener> {
        let session = self.session().await?;
        if !addr.same_destination(&session.addr) {
            return Err(SamError::NotOurAddress {
                asked: *addr,
                ours: session.addr,
            }
            .into());
        }
        let config = &self.inner.config;
        let (sender, receiver) = mpsc::channel(config.accept_queue);
        let mut workers = JoinSet::new();
        for _ in 0..config.accept_pool {
            workers.spawn(accept_loop(self.clone(), sender.clone()));
        }
        Ok(SamListener {
            receiver,
            local: session.addr.with_port(addr.port()),
            _workers: workers,
        })
    }
}

/// What a listener yields.
type Accepted = io::Result<(SamReader, OwnedWriteHalf, I2pAddr)>;

/// One slot of a listener's accept pool: accept, hand over, again; pause after failures.
async fn accept_loop(transport: SamTransport, sender: mpsc::Sender<Accepted>) {
    let mut pause = ACCEPT_RETRY_MIN;
    loop {
        let item = match transport.accept_stream().await {
            Ok((stream, destination)) => {
                pause = ACCEPT_RETRY_MIN;
                let (reader, writer) = stream.into_split();
                Ok((reader, writer, I2pAddr::from_destination(&destination)))
            }
            Err(error) => Err(io::Error::from(error)),
        };
        let failed = item.is_err();
        // Waits while the queue is full: back-pressure reaches the peers at the router.
        if sender.send(item).await.is_err() {
            return; // the listener is gone
        }
        if failed {
            tokio::time::sleep(pause).await;
            pause = pause
                .saturating_mul(2)
                .min(transport.inner.config.accept_retry_max);
        }
    }
}

/// Streams accepted on a [`SamTransport`]'s session, as a [`Stream`].
///
/// Holds at most [`SamConfig::accept_queue`] accepted connections and
/// [`SamConfig::accept_pool`] waiting `STREAM ACCEPT` connections. Each `Err` item is one
/// failed accept (the bridge down, the session gone); the listener keeps trying, with
/// pauses. Dropping it closes every waiting connection.
pub struct SamListener {
    receiver: mpsc::Receiver<Accepted>,
    local: I2pAddr,
    /// Aborted when dropped.
    _workers: JoinSet<()>,
}

impl fmt::Debug for SamListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamListener")
            .field("workers", &self._workers.len())
            .finish_non_exhaustive()
    }
}

impl LocalAddr<I2pAddr> for SamListener {
    fn local_addr(&self) -> io::Result<I2pAddr> {
        Ok(self.local)
    }
}

impl Stream for SamListener {
    type Item = Accepted;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Accepted>> {
        self.receiver.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn default_config_is_valid_and_bounds_are_checked() {
        assert!(SamConfig::default().validate().is_ok());
        assert_eq!(SamConfig::default().bridge.to_string(), "127.0.0.1:7656");
        for bad in [
            SamConfig {
                accept_pool: 0,
                ..SamConfig::default()
            },
            SamConfig {
                accept_pool: 65,
                ..SamConfig::default()
            },
            SamConfig {
                accept_queue: 0,
                ..SamConfig::default()
            },
            SamConfig {
                lookup_cache: 1 << 20,
                ..SamConfig::default()
            },
            SamConfig {
                connect_timeout: Duration::ZERO,
                ..SamConfig::default()
            },
        ] {
            assert!(matches!(
                SamTransport::new(bad).unwrap_err(),
                SamError::Config(_)
            ));
        }
    }
}
