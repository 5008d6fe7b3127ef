//! An embedded Tor client (arti) as a transport: Tor without a tor daemon.
//!
//! [`ArtiTor`] dials onion services through circuits of its own, each peer on circuits of
//! its own ([stream isolation](ArtiConfig::isolate_streams)), and serves Umbra's onion
//! service from the same client. It joins the public Tor network by default; tests give it
//! the authorities and fallback caches of a private network on loopback
//! ([`TorDirectory::Private`]).
//!
//! ```text
//!   dial(onion) ──► TorClient::connect_with_prefs(host:port, isolation = peer) ──► DataStream
//!   listen(ours) ─► launch_onion_service ─► RendRequest ─► StreamRequest (port check)
//!                                                        └─► accept ─► (reader, writer, Inbound)
//! ```
//!
//! Nothing here ever connects outside Tor: every stream is a Tor stream, and a failure is
//! an error, never a reason to try another way.

use std::{
    fmt, io,
    net::SocketAddr,
    path::PathBuf,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};

use arti_client::{
    BootstrapBehavior, DataReader, DataStream, DataWriter, ErrorKind, HasKind, StreamPrefs,
    TorClient, TorClientConfig,
    config::{
        BoolOrAuto, TorClientConfigBuilder, dir::FallbackDir,
        onion_service::OnionServiceConfigBuilder,
    },
    isolation::IsolationHelper,
};
use futures::{Stream, StreamExt};
use safelog::DisplayRedacted as _;
use tokio::sync::{Semaphore, mpsc};
use tor_cell::relaycell::msg::Connected;
use tor_hsservice::{HsNickname, RendRequest, RunningOnionService, StreamRequest};
use tor_proto::stream::IncomingStreamRequest;
use tor_rtcompat::PreferredRuntime;
use tracing::{debug, info, warn};

use super::{OnionAddr, TorAddr};
use crate::{LocalAddr, Transport};

/// Accepted streams waiting for the P2P code to take them.
const ACCEPT_QUEUE: usize = 32;
/// Stream requests being answered at once; more wait their turn.
const MAX_ACCEPTING: usize = 64;
/// How long answering one stream request may take.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Which Tor network the client joins.
#[derive(Debug, Clone, Default)]
pub enum TorDirectory {
    /// The public Tor network, through the authorities and fallback caches built into arti.
    #[default]
    Public,
    /// A private network (tests): its authorities and at least one directory cache.
    Private {
        /// The v3 identity fingerprints (RSA, 20 bytes) of the directory authorities.
        authorities: Vec<[u8; 20]>,
        /// Relays to fetch the first consensus from.
        fallbacks: Vec<FallbackCache>,
    },
}

/// A directory cache to fetch the first consensus from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackCache {
    /// The relay's RSA identity fingerprint.
    pub rsa_identity: [u8; 20],
    /// The relay's Ed25519 identity.
    pub ed_identity: [u8; 32],
    /// Its OR ports.
    pub orports: Vec<SocketAddr>,
}

/// How the embedded client is set up.
#[derive(Debug, Clone)]
pub struct ArtiConfig {
    /// Where arti keeps its state (guards, and the onion service's keys: the service keeps
    /// its address across restarts as long as this directory is kept).
    pub state_dir: PathBuf,
    /// Where arti caches directory documents.
    pub cache_dir: PathBuf,
    /// The network to join.
    pub directory: TorDirectory,
    /// Whether streams to local addresses (and relays on them) are allowed: only for a
    /// private network on loopback.
    pub allow_local_addrs: bool,
    /// Whether arti may trust directories writable by others (tests under `/tmp`); arti
    /// refuses such state directories by default.
    pub trust_all_dirs: bool,
    /// How long one stream may take to open.
    pub connect_timeout: Duration,
    /// Whether every peer gets circuits of its own (on by default: two peers never see one
    /// circuit, so they cannot tell they talk to the same node).
    pub isolate_streams: bool,
    /// The onion service's nickname in arti's key store.
    pub service_nickname: String,
}

impl ArtiConfig {
    /// The public network, with state and cache in `dir/state` and `dir/cache`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            state_dir: dir.join("state"),
            cache_dir: dir.join("cache"),
            directory: TorDirectory::Public,
            allow_local_addrs: false,
            trust_all_dirs: false,
            connect_timeout: Duration::from_secs(60),
            isolate_streams: true,
            service_nickname: "umbra-p2p".to_owned(),
        }
    }

    fn client_config(&self) -> Result<TorClientConfig, ArtiError> {
        let mut builder =
            TorClientConfigBuilder::from_directories(&self.state_dir, &self.cache_dir);
        if self.trust_all_dirs {
            builder.storage().permissions().dangerously_trust_everyone();
        }
        if let TorDirectory::Private {
            authorities,
            fallbacks,
        } = &self.directory
        {
            let network = builder.tor_network();
            network
                .authorities()
                .set_v3idents(authorities.iter().map(|id| (*id).into()).collect());
            network.set_fallback_caches(
                fallbacks
                    .iter()
                    .map(|cache| {
                        let mut fallback = FallbackDir::builder();
                        fallback
                            .rsa_identity(cache.rsa_identity.into())
                            .ed_identity(cache.ed_identity.into());
                        for port in &cache.orports {
                            fallback.orports().push(*port);
                        }
                        fallback
                    })
                    .collect(),
            );
        }
        if self.allow_local_addrs {
            builder.address_filter().allow_local_addrs(true);
            // Every relay of a loopback network shares 127.0.0.1: do not treat them as
            // one family.
            builder
                .path_rules()
                .ipv4_subnet_family_prefix(33)
                .ipv6_subnet_family_prefix(129);
        }
        builder
            .stream_timeouts()
            .connect_timeout(self.connect_timeout);
        builder
            .build()
            .map_err(|error| ArtiError::Config(error.to_string()))
    }
}

/// Why the embedded Tor client failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtiError {
    /// The configuration was refused.
    #[error("the embedded Tor client's configuration is invalid: {0}")]
    Config(String),
    /// The client could not start or join the network.
    #[error("the embedded Tor client could not bootstrap: {0}")]
    Bootstrap(String),
    /// Bootstrapping took longer than allowed.
    #[error("the embedded Tor client did not bootstrap within {0:?}")]
    BootstrapTimeout(Duration),
    /// The onion service could not be started.
    #[error("the embedded Tor client could not start onion service {nickname:?}: {reason}")]
    OnionService {
        /// The service's nickname.
        nickname: String,
        /// Why.
        reason: String,
    },
}

/// An embedded Tor client as a [`Transport`] over [`TorAddr`]; see the [module docs](self).
#[derive(Clone)]
pub struct ArtiTor {
    client: Arc<TorClient<PreferredRuntime>>,
    config: Arc<ArtiConfig>,
    service: Arc<Mutex<ServiceSlot>>,
}

impl fmt::Debug for ArtiTor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtiTor")
            .field("state_dir", &self.config.state_dir)
            .field("directory", &self.config.directory)
            .finish_non_exhaustive()
    }
}

/// The onion service, once launched; its requests until a listener takes them.
#[derive(Default)]
struct ServiceSlot {
    running: Option<Arc<RunningOnionService>>,
    address: Option<OnionAddr>,
    requests: Option<Pin<Box<dyn Stream<Item = RendRequest> + Send>>>,
}

impl ArtiTor {
    /// Starts the client and waits (at most `timeout`) until it has joined the network.
    ///
    /// # Errors
    /// [`ArtiError`] when the configuration is invalid, the network cannot be reached or
    /// bootstrapping takes longer than `timeout`.
    pub async fn bootstrap(config: ArtiConfig, timeout: Duration) -> Result<Self, ArtiError> {
        let tor = Self::unbootstrapped(config)?;
        match tokio::time::timeout(timeout, tor.client.bootstrap()).await {
            Ok(Ok(())) => Ok(tor),
            Ok(Err(error)) => Err(ArtiError::Bootstrap(error.to_string())),
            Err(_) => Err(ArtiError::BootstrapTimeout(timeout)),
        }
    }

    /// Starts the client without waiting for the network: the first dial or listen
    /// bootstraps it (and fails with an error, not a hang, while the network cannot be
    /// reached). A node uses this to come up while Tor is down and keep retrying.
    ///
    /// # Errors
    /// [`ArtiError::Config`] or [`ArtiError::Bootstrap`] when the client cannot be created
    /// (an invalid configuration, an unusable state directory).
    pub fn unbootstrapped(config: ArtiConfig) -> Result<Self, ArtiError> {
        let client_config = config.client_config()?;
        let client = TorClient::builder()
            .config(client_config)
            .bootstrap_behavior(BootstrapBehavior::OnDemand)
            .create_unbootstrapped()
            .map_err(|error| ArtiError::Bootstrap(error.to_string()))?;
        Ok(Self {
            client,
            config: Arc::new(config),
            service: Arc::default(),
        })
    }

    /// Whether the client has joined the network (it has a usable directory).
    #[must_use]
    pub fn is_bootstrapped(&self) -> bool {
        self.client.bootstrap_status().ready_for_traffic()
    }

    /// Starts Umbra's onion service (once; later calls return the same address) and
    /// returns its address at `port`. Connections reach a listener from
    /// [`Transport::listen`] at that address.
    ///
    /// # Errors
    /// [`ArtiError::OnionService`] when arti cannot start it.
    pub fn launch_onion_service(&self, port: u16) -> Result<OnionAddr, ArtiError> {
        let nickname = self.config.service_nickname.clone();
        let error = |reason: String| ArtiError::OnionService {
            nickname: nickname.clone(),
            reason,
        };
        let mut slot = self.service.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(address) = slot.address {
            return Ok(address.with_port(port));
        }
        let parsed: HsNickname = nickname
            .parse()
            .map_err(|e: tor_hsservice::InvalidNickname| error(e.to_string()))?;
        let mut service_config = OnionServiceConfigBuilder::default();
        service_config.nickname(parsed);
        let service_config = service_config.build().map_err(|e| error(e.to_string()))?;
        let (running, requests) = self
            .client
            .launch_onion_service(service_config)
            .map_err(|e| error(e.to_string()))?
            .ok_or_else(|| error("the service is disabled".to_owned()))?;
        let hsid = running
            .onion_address()
            .ok_or_else(|| error("arti has no key for the service".to_owned()))?;
        let host = hsid.display_unredacted().to_string();
        let address = OnionAddr::new(&host, port)
            .map_err(|e| error(format!("arti named the service {host}: {e}")))?;
        info!(%address, "onion service launched (embedded Tor)");
        slot.running = Some(running);
        slot.address = Some(address);
        slot.requests = Some(Box::pin(requests));
        Ok(address)
    }

    /// Waits until the onion service's descriptor is published and it is reachable, or
    /// `timeout` passes. Returns whether it is reachable.
    pub async fn wait_onion_service_reachable(&self, timeout: Duration) -> bool {
        let running = {
            let slot = self.service.lock().unwrap_or_else(PoisonError::into_inner);
            slot.running.clone()
        };
        let Some(running) = running else {
            return false;
        };
        let reachable = |state: tor_hsservice::status::State| {
            matches!(
                state,
                tor_hsservice::status::State::Running
                    | tor_hsservice::status::State::DegradedReachable
            )
        };
        if reachable(running.status().state()) {
            return true;
        }
        let mut events = running.status_events();
        tokio::time::timeout(timeout, async {
            while let Some(status) = events.next().await {
                if reachable(status.state()) {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    }

    /// Opens a stream to a clearnet address through an exit relay. This leaves the onion-only
    /// rule of an anonymity zone to the caller: it is for benchmarks and tools, never for the
    /// Tor zone's peers.
    ///
    /// # Errors
    /// The I/O error Tor reported, with a kind (see [`Transport::dial`]).
    pub async fn connect_socket(&self, addr: SocketAddr) -> io::Result<DataStream> {
        let mut prefs = StreamPrefs::new();
        if self.config.allow_local_addrs {
            prefs.connect_to_local_addrs(BoolOrAuto::Explicit(true));
        }
        self.client
            .connect_with_prefs((addr.ip().to_string(), addr.port()), &prefs)
            .await
            .map_err(|error| to_io(&addr.to_string(), &error))
    }

    /// The client, for what this transport does not wrap.
    #[must_use]
    pub fn client(&self) -> &Arc<TorClient<PreferredRuntime>> {
        &self.client
    }
}

/// Stream isolation by peer: streams to one onion service may share circuits, streams to
/// two different ones never do.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeerIsolation(OnionAddr);

impl IsolationHelper for PeerIsolation {
    fn compatible_same_type(&self, other: &Self) -> bool {
        self == other
    }

    fn join_same_type(&self, other: &Self) -> Option<Self> {
        (self == other).then(|| self.clone())
    }
}

/// An arti error as an [`io::Error`] naming `target`, with a kind a caller can act on.
fn to_io(target: &str, error: &arti_client::Error) -> io::Error {
    let kind = match error.kind() {
        ErrorKind::RemoteNetworkTimeout | ErrorKind::TorNetworkTimeout => io::ErrorKind::TimedOut,
        ErrorKind::RemoteConnectionRefused => io::ErrorKind::ConnectionRefused,
        ErrorKind::OnionServiceNotFound | ErrorKind::RemoteHostNotFound => io::ErrorKind::NotFound,
        ErrorKind::InvalidStreamTarget | ErrorKind::OnionServiceAddressInvalid => {
            io::ErrorKind::InvalidInput
        }
        ErrorKind::BootstrapRequired | ErrorKind::TorAccessFailed => io::ErrorKind::NotConnected,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("Tor stream to {target}: {error}"))
}

impl Transport for ArtiTor {
    type Addr = TorAddr;
    type Reader = DataReader;
    type Writer = DataWriter;
    type Listener = ArtiListener;

    async fn dial(&self, addr: &TorAddr) -> io::Result<(DataReader, DataWriter)> {
        let onion = match addr {
            TorAddr::Onion(onion) => *onion,
            TorAddr::Inbound(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{addr} came in through our onion service and cannot be dialled"),
                ));
            }
        };
        let mut prefs = StreamPrefs::new();
        if self.config.isolate_streams {
            prefs.set_isolation(PeerIsolation(onion));
        }
        let target = (onion.host(), onion.port());
        let connect = self.client.connect_with_prefs(target, &prefs);
        // arti has its own connect timeout; this one also covers bootstrapping on demand.
        let limit = self.config.connect_timeout.saturating_mul(2);
        let stream = match tokio::time::timeout(limit, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(to_io(&onion.to_string(), &error)),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("Tor stream to {onion}: no answer within {limit:?}"),
                ));
            }
        };
        debug!(peer = %onion, "Tor stream open (embedded)");
        Ok(stream.split())
    }

    async fn listen(&self, addr: &TorAddr) -> io::Result<ArtiListener> {
        let TorAddr::Onion(wanted) = addr else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot listen on {addr}: not an onion address"),
            ));
        };
        let ours = self
            .launch_onion_service(wanted.port())
            .map_err(io::Error::other)?;
        if ours != *wanted {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "cannot listen on {wanted}: this Tor client's onion service is {ours} (its \
                     key is in {})",
                    self.config.state_dir.display()
                ),
            ));
        }
        let requests = {
            let mut slot = self.service.lock().unwrap_or_else(PoisonError::into_inner);
            slot.requests.take()
        }
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{ours} already has a listener"),
            )
        })?;
        let (sender, receiver) = mpsc::channel(ACCEPT_QUEUE);
        let task = tokio::spawn(serve_requests(requests, ours.port(), sender));
        Ok(ArtiListener {
            address: ours,
            accepted: receiver,
            task,
        })
    }
}

type Accepted = io::Result<(DataReader, DataWriter, TorAddr)>;

/// Turns the service's rendezvous requests into accepted streams on `port`.
async fn serve_requests(
    requests: Pin<Box<dyn Stream<Item = RendRequest> + Send>>,
    port: u16,
    accepted: mpsc::Sender<Accepted>,
) {
    let accepting = Arc::new(Semaphore::new(MAX_ACCEPTING));
    let mut streams = Box::pin(tor_hsservice::handle_rend_requests(requests));
    while let Some(request) = streams.next().await {
        let Ok(permit) = Arc::clone(&accepting).acquire_owned().await else {
            break;
        };
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(stream) = accept(request, port).await {
                // A full queue or a closed listener drops the stream (Tor closes it).
                if accepted.try_send(Ok(stream)).is_err() {
                    debug!("inbound onion stream dropped: the accept queue is full");
                }
            }
        });
    }
    warn!("the embedded Tor client's onion service stopped");
    let _ = accepted
        .send(Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the onion service stopped (the embedded Tor client shut down)",
        )))
        .await;
}

/// Accepts one stream request for `port`; others are refused as Tor does.
async fn accept(request: StreamRequest, port: u16) -> Option<(DataReader, DataWriter, TorAddr)> {
    let wanted = match request.request() {
        IncomingStreamRequest::Begin(begin) => begin.port() == port,
        _ => false,
    };
    if !wanted {
        let _ = request.shutdown_circuit();
        return None;
    }
    match tokio::time::timeout(ACCEPT_TIMEOUT, request.accept(Connected::new_empty())).await {
        Ok(Ok(stream)) => {
            let (reader, writer) = stream.split();
            Some((reader, writer, TorAddr::next_inbound()))
        }
        Ok(Err(error)) => {
            debug!(%error, "an inbound onion stream failed to open");
            None
        }
        Err(_) => None,
    }
}

/// Connections to Umbra's onion service, from [`ArtiTor::listen`].
#[derive(Debug)]
pub struct ArtiListener {
    address: OnionAddr,
    accepted: mpsc::Receiver<Accepted>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ArtiListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalAddr<TorAddr> for ArtiListener {
    fn local_addr(&self) -> io::Result<TorAddr> {
        Ok(TorAddr::Onion(self.address))
    }
}

impl Stream for ArtiListener {
    type Item = Accepted;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Accepted>> {
        self.accepted.poll_recv(cx)
    }
}
