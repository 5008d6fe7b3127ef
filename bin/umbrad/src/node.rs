//! Running the node: prepare the data directory, start the runtime and the clearnet P2P
//! network, log a status line now and then, and on SIGINT or SIGTERM save the address book
//! and stop.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tracing::{info, warn};
use umbra_address_book::{AddressBook, AddressBookConfig, AddressBookHandle, LoadReport};
use umbra_identity::{Identity, Origin};
use umbra_p2p::{Network, NetworkConfig, NetworkSetup};
use umbra_p2p_core::{HybridNet, NodeIds, connection::NothingToServe, handshake::UmbraAdvert};
use umbra_transport::{
    Tcp,
    hybrid::{HybridConfig, HybridTransport, PeerAddr as ZonePeer},
    i2p::I2pEndpoint,
    quic::{QuicConfig, QuicTransport},
    tor::TorAddr,
};
use umbra_wire::CoreSyncData;

use crate::chain::genesis_claim;
use crate::config::{Config, I2pMode, PeerAddr, TorMode};
use crate::identity;
use crate::tor::TorZone;

/// The clearnet zone: plain levin for monerod, Umbra's encrypted transports for Umbra
/// peers, on one port.
type Zone = HybridNet<HybridTransport<Tcp>>;

/// Why the node could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory could not be created.
    #[error("cannot create data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// A signal handler could not be installed.
    #[error("cannot listen for {signal}: {source}")]
    Signal {
        /// The signal.
        signal: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// The node's identity could not be loaded or created.
    #[error(transparent)]
    Identity(#[from] umbra_identity::StoreError),
    /// The QUIC transport could not be set up.
    #[error("cannot set up QUIC: {0}")]
    Quic(#[from] umbra_transport::quic::QuicError),
    /// The Tor zone could not be set up.
    #[error("cannot set up the Tor zone: {0}")]
    Tor(#[from] crate::tor::TorSetupError),
    /// The I2P zone could not be set up.
    #[error("cannot set up the I2P zone: {0}")]
    I2p(#[from] crate::i2p::I2pSetupError),
    /// The Tor zone could not start.
    #[error("cannot start the Tor zone (listening on {addr}): {source}")]
    TorListen {
        /// Our onion address.
        addr: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The P2P listener could not be bound.
    #[error("cannot listen for peers on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
}

/// Runs the node on `config` until Ctrl-C or SIGTERM. `config_file` is the file the
/// configuration was read from, for the startup line.
pub fn run(config: &Config, config_file: Option<&Path>) -> Result<(), NodeError> {
    create_data_dir(&config.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("umbrad")
        .build()
        .map_err(NodeError::Runtime)?;
    runtime.block_on(serve(config, config_file))
}

/// The node's main task.
async fn serve(config: &Config, config_file: Option<&Path>) -> Result<(), NodeError> {
    // Listen for signals before announcing the start, so that a signal sent as soon as the
    // startup line appears is handled, not fatal.
    let mut shutdown = Shutdown::listen()?;
    info!(
        version = %env!("CARGO_PKG_VERSION"),
        network = %config.network,
        data_dir = %config.data_dir.display(),
        listen = %config.p2p.listen_addr(),
        config_file = %config_file.map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
        "umbrad starting"
    );
    let node_ids = NodeIds::new();
    let book_config = AddressBookConfig {
        data_dir: Some(config.data_dir.clone()),
        allow_local: config.p2p.allow_local_ip,
        ..AddressBookConfig::default()
    };
    let (identity, origin) = identity::clearnet(&config.data_dir)?;
    info!(
        public_key = %identity.public(),
        created = (origin == Origin::Created),
        "clearnet identity ready (Umbra peers dial KEY@HOST:PORT with this key)"
    );
    let (book, report) = AddressBook::<Zone>::load_with_report(book_config, SystemTime::now());
    if let LoadReport::Loaded { path, stats, .. } = &report {
        info!(
            path = %path.display(),
            white = stats.white,
            gray = stats.gray,
            anchors = stats.anchors,
            bans = stats.bans,
            "address book loaded"
        );
    }
    // Our chain, as peers are told it; the chain-sync issue will keep it current.
    let (_chain, core_sync) = watch::channel(genesis_claim(config.network));
    let core_sync_tor = core_sync.clone();
    let core_sync_i2p = core_sync.clone();
    let transport = transport(config, identity)?;
    let ZonePeers {
        clearnet: clearnet_peers,
        onion: onion_peers,
        i2p: i2p_peers,
    } = split_peers(config);
    let network_config = network_config(config, &transport, &clearnet_peers).await;
    let listen = config.p2p.listen_addr();
    let network = Network::<Zone>::start(NetworkSetup {
        config: network_config,
        transport,
        address_book: AddressBookHandle::new(book),
        core_sync,
        handler: NothingToServe,
        node_id: node_ids.fresh(),
    })
    .await
    .map_err(|source| NodeError::Listen {
        addr: listen,
        source,
    })?;
    let tor = if config.tor.mode == TorMode::Off {
        None
    } else {
        Some(start_tor(config, onion_peers, &node_ids, core_sync_tor).await?)
    };
    // The I2P zone starts in the background: the router may be down, or have to make our
    // destination first.
    let i2p = if config.i2p.mode == I2pMode::Off {
        None
    } else {
        Some(crate::i2p::start(
            config,
            i2p_peers,
            node_ids.fresh(),
            core_sync_i2p,
        )?)
    };
    let mut status = tokio::time::interval(Duration::from_secs(config.log.status_interval));
    status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: skip it, nothing has happened yet.
    status.tick().await;
    let signal = loop {
        tokio::select! {
            signal = shutdown.recv() => break signal,
            _ = status.tick() => {
                info!(zone = "clearnet", "status: {}", network.status());
                if let Some(tor) = &tor {
                    info!(zone = "tor", "status: {}", tor.status());
                }
                if let Some(i2p) = &i2p {
                    info!(zone = "i2p", "status: {}", i2p.status());
                }
            }
        }
    };
    info!("received {signal}, shutting down");
    if let Some(i2p) = i2p {
        match i2p.shutdown().await {
            Ok(()) => info!(zone = "i2p", "stopped"),
            Err(error) => warn!(zone = "i2p", %error, "the address book could not be saved"),
        }
    }
    if let Some(tor) = tor {
        match tor.shutdown().await {
            Ok(()) => info!(zone = "tor", "address book saved"),
            Err(error) => warn!(zone = "tor", %error, "the address book could not be saved"),
        }
    }
    match network.shutdown().await {
        Ok(()) => info!("address book saved"),
        Err(error) => warn!(%error, "the address book could not be saved"),
    }
    Ok(())
}

/// The clearnet transport: plain TCP for monerod, Noise over TCP for Umbra peers, and QUIC
/// when configured.
fn transport(config: &Config, identity: Identity) -> Result<HybridTransport<Tcp>, NodeError> {
    let p2p = &config.p2p;
    let hybrid = HybridConfig {
        plain_levin: !p2p.stealth,
        prefer_quic: p2p.prefer_quic,
        ..HybridConfig::default()
    };
    if p2p.stealth {
        info!("stealth mode: plain levin is off; only Umbra peers are dialled and answered");
    }
    Ok(if p2p.quic {
        let quic = QuicTransport::new(&identity, QuicConfig::default())?;
        HybridTransport::with_quic(Tcp::default(), identity, hybrid, quic)
    } else {
        HybridTransport::new(Tcp::default(), identity, hybrid)
    })
}

/// The clearnet network's settings from the node's configuration; host names in peer
/// addresses are resolved now (a name that does not resolve is skipped with a warning).
async fn network_config(
    config: &Config,
    transport: &HybridTransport<Tcp>,
    add_peers: &[PeerAddr],
) -> NetworkConfig<ZonePeer> {
    let p2p = &config.p2p;
    let mut network = NetworkConfig::new(config.network.network_id());
    network.listen = (p2p.in_peers > 0).then(|| ZonePeer::plain(p2p.listen_addr()));
    network.umbra = Some(UmbraAdvert {
        key: transport.public_key().to_bytes(),
        transports: transport.transports(),
    });
    network.out_peers = p2p.out_peers;
    network.in_peers = p2p.in_peers;
    network.connection.timed_sync_interval = Duration::from_secs(p2p.timed_sync_interval);
    network.max_connections_per_host = p2p.max_connections_per_ip;
    network.allow_local = p2p.allow_local_ip;
    network.seed_peers = resolve(add_peers).await;
    network.exclusive_nodes = resolve(&clearnet_only(&p2p.exclusive_nodes)).await;
    network.priority_nodes = resolve(&clearnet_only(&p2p.priority_nodes)).await;
    // monerod's seed nodes: a fresh node's way in, dialled only with nothing else to dial
    // (plain levin: never in stealth mode).
    if network.exclusive_nodes.is_empty() && !p2p.stealth {
        network.fallback_seeds = config
            .network
            .seed_nodes()
            .into_iter()
            .map(ZonePeer::plain)
            .collect();
    }
    network
}

/// `--add-peer` addresses by zone.
struct ZonePeers {
    clearnet: Vec<PeerAddr>,
    onion: Vec<ZonePeer<TorAddr>>,
    i2p: Vec<ZonePeer<I2pEndpoint>>,
}

/// Splits `--add-peer` addresses by zone: onion addresses go to the Tor zone, I2P
/// addresses to the I2P zone, and neither is ever looked up in the DNS (that would tell
/// the resolver which peer we want); the rest is clearnet.
fn split_peers(config: &Config) -> ZonePeers {
    let mut peers = ZonePeers {
        clearnet: Vec::new(),
        onion: Vec::new(),
        i2p: Vec::new(),
    };
    for peer in &config.p2p.add_peers {
        if is_onion(peer) {
            if config.tor.mode == TorMode::Off {
                warn!(%peer, "an onion peer, but the Tor zone is off (--tor); skipped");
                continue;
            }
            match crate::config::parse_onion_peer(&peer.to_string()) {
                Ok(addr) => peers.onion.push(addr),
                Err(error) => warn!(%error, "skipped"),
            }
        } else if is_i2p(peer) {
            if config.i2p.mode == I2pMode::Off {
                warn!(%peer, "an I2P peer, but the I2P zone is off (--i2p); skipped");
                continue;
            }
            match crate::config::parse_i2p_peer(&peer.to_string()) {
                Ok(addr) => peers.i2p.push(addr),
                Err(error) => warn!(%error, "skipped"),
            }
        } else {
            peers.clearnet.push(peer.clone());
        }
    }
    peers
}

/// `peers` without onion and I2P addresses (exclusive and priority nodes are clearnet's;
/// an anonymous address there is skipped, never looked up).
fn clearnet_only(peers: &[PeerAddr]) -> Vec<PeerAddr> {
    peers
        .iter()
        .filter(|peer| {
            let anonymous = is_onion(peer) || is_i2p(peer);
            if anonymous {
                warn!(%peer, "anonymous-network addresses are not clearnet nodes; skipped");
            }
            !anonymous
        })
        .cloned()
        .collect()
}

fn is_onion(peer: &PeerAddr) -> bool {
    peer.host().to_ascii_lowercase().ends_with(".onion")
}

fn is_i2p(peer: &PeerAddr) -> bool {
    peer.host().to_ascii_lowercase().ends_with(".i2p")
}

/// Starts the Tor zone. Tor being down is not an error: the zone keeps trying.
async fn start_tor(
    config: &Config,
    onion_peers: Vec<ZonePeer<TorAddr>>,
    node_ids: &NodeIds,
    core_sync: watch::Receiver<CoreSyncData>,
) -> Result<Network<TorZone>, NodeError> {
    let setup = crate::tor::setup(config, onion_peers)?;
    info!(backend = setup.kind, "starting the Tor zone");
    if let Some(arti) = setup.embedded.clone() {
        tokio::spawn(crate::tor::bootstrap(arti));
    }
    let book_config = AddressBookConfig {
        data_dir: Some(config.data_dir.clone()),
        allow_local: false,
        ..AddressBookConfig::default()
    };
    let (book, report) = AddressBook::<TorZone>::load_with_report(book_config, SystemTime::now());
    if let LoadReport::Loaded { path, stats, .. } = &report {
        info!(zone = "tor", path = %path.display(), white = stats.white, gray = stats.gray, "address book loaded");
    }
    let listen = setup.network.listen;
    Network::<TorZone>::start(NetworkSetup {
        config: setup.network,
        transport: setup.transport,
        address_book: AddressBookHandle::new(book),
        core_sync,
        handler: NothingToServe,
        node_id: node_ids.fresh(),
    })
    .await
    .map_err(|source| NodeError::TorListen {
        addr: listen.map_or_else(|| "none".to_owned(), |addr| addr.to_string()),
        source,
    })
}

/// The addresses of `peers`: IP addresses as they are, names looked up (every address a
/// name has is taken), each with the peer's key when one was given.
async fn resolve(peers: &[PeerAddr]) -> Vec<ZonePeer> {
    let mut out = Vec::new();
    for peer in peers {
        match tokio::net::lookup_host((peer.host(), peer.port())).await {
            Ok(addrs) => out.extend(addrs.map(|socket| match peer.key() {
                Some(key) => ZonePeer::umbra(socket, key),
                None => ZonePeer::plain(socket),
            })),
            Err(error) => warn!(%peer, %error, "cannot resolve peer address; skipped"),
        }
    }
    out
}

/// Creates the data directory and any missing parents, private to the user (0700) on unix;
/// warns if an existing one is open to others.
pub fn create_data_dir(path: &Path) -> Result<(), NodeError> {
    let fail = |source| NodeError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(path).map_err(fail)?;
        let mode = std::fs::metadata(path).map_err(fail)?.permissions().mode();
        if mode & 0o077 != 0 {
            warn!(
                data_dir = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "the data directory is open to other users; `chmod 700` it"
            );
        }
    }
    #[cfg(not(unix))]
    builder.create(path).map_err(fail)?;
    Ok(())
}

/// The shutdown signals the node listens for.
struct Shutdown {
    /// SIGINT (Ctrl-C).
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    /// SIGTERM.
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Starts listening for the signals; from now on they no longer end the process.
    #[cfg(unix)]
    fn listen() -> Result<Self, NodeError> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind, name| {
            signal(kind).map_err(|source| NodeError::Signal {
                signal: name,
                source,
            })
        };
        Ok(Self {
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Starts listening for the signals.
    #[cfg(not(unix))]
    fn listen() -> Result<Self, NodeError> {
        Ok(Self {})
    }

    /// Waits for a signal and returns its name.
    #[cfg(unix)]
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    /// Waits for Ctrl-C and returns its name.
    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
        // If Ctrl-C cannot be listened for, there is nothing to wait for: stop.
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn data_dir_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_data_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Creating it again is fine.
        create_data_dir(&dir).unwrap();
    }

    #[test]
    fn data_dir_over_a_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let err = create_data_dir(&file).unwrap_err();
        assert!(
            err.to_string().contains("cannot create data directory"),
            "{err}"
        );
    }
}
