//! The I2P zone: Umbra's P2P network over I2P, beside clearnet and kept apart from it.
//!
//! ```text
//!   I2pNet ─► Relisten ─► HybridTransport (levin for monerod, Noise for Umbra peers)
//!                              └─► AnyI2p: the router's SAM bridge (our own destination,
//!                                  dial and accept), or monerod's way (the router's SOCKS
//!                                  proxy out, a server tunnel forwarding to a local port in)
//! ```
//!
//! What keeps the zone apart from clearnet: its own identity (`identity/i2p.key`), its own
//! I2P destination (keys made by the router once, kept in
//! `identity/i2p-destination.secret`, so the `.b32.i2p` address survives restarts), its
//! own address book (`i2p-peers.epee`), a fresh node id on every connection, no port in
//! handshakes and only I2P destinations in its peer lists (the zone's types allow nothing
//! else). A router that is down is an error and a retry with back-off, never a direct
//! connection.
//!
//! The zone starts in a task of its own: with SAM and no destination yet, it first waits
//! (with back-off) for the router to make one, since our address must be known before
//! peers are told it; meanwhile the status line says so.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use umbra_address_book::{AddressBook, AddressBookConfig, AddressBookHandle, LoadReport};
use umbra_identity::{Identity, KeyStore, Origin};
use umbra_p2p::{Network, NetworkConfig, NetworkSetup, ShutdownError};
use umbra_p2p_core::{I2pNet, connection::NothingToServe, handshake::UmbraAdvert};
use umbra_transport::hybrid::{HybridConfig, HybridTransport, PeerAddr as ZonePeer, transports};
use umbra_transport::i2p::{
    AnyI2p, ForwardedI2p, I2pAddr, I2pDial, I2pEndpoint, I2pListen, PrivateKey, SamConfig,
    SamTransport, SessionKey, TunnelOptions,
};
use umbra_transport::relisten::{Backoff, Relisten};
use umbra_transport::socks::Socks5Proxy;
use umbra_wire::CoreSyncData;

use crate::config::{Config, I2pConfig, I2pInbound, I2pMode, ProxySpecError, parse_i2p_peer};
use crate::identity;

/// The I2P zone's transport.
pub type I2pTransport = Relisten<HybridTransport<AnyI2p>>;
/// The I2P zone.
pub type I2pZone = I2pNet<I2pTransport>;

/// The name of the I2P zone's identity in the key store.
pub const IDENTITY: &str = "i2p";
/// The name of our I2P destination's private keys in the key store.
pub const DESTINATION: &str = "i2p-destination";

/// How long dials and handshakes may take on I2P (name lookups and stream set-up take
/// seconds, more on a fresh router); as on Tor.
const I2P_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the I2P zone could not be set up (the router being unreachable is not such a
/// reason: the zone then retries with back-off).
#[derive(Debug, thiserror::Error)]
pub enum I2pSetupError {
    /// The I2P identity (or our stored destination) could not be loaded or created.
    #[error(transparent)]
    Identity(#[from] umbra_identity::StoreError),
    /// An `[i2p]` setting is invalid.
    #[error("invalid [i2p] setting: {0}")]
    Config(String),
    /// The stored destination keys are not I2P keys.
    #[error(
        "the stored I2P destination ({file}) is not usable: {reason}; move the file away to \
         get a new I2P address"
    )]
    StoredKey {
        /// The file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where our destination's keys come from.
#[derive(Debug)]
enum KeyPlan {
    /// No destination of our own (outbound only, or a server tunnel in the router).
    NotOurs,
    /// Kept from an earlier run.
    Stored(PrivateKey),
    /// To be made by the router (`DEST GENERATE`) and kept.
    Make,
}

/// Everything of the zone that is known before the router is reached.
#[derive(Debug)]
struct Plan {
    identity: Identity,
    store: KeyStore,
    key: KeyPlan,
    settings: I2pConfig,
    forwarded: Option<I2pInbound>,
    network: NetworkConfig<ZonePeer<I2pEndpoint>>,
    data_dir: std::path::PathBuf,
}

/// The running I2P zone (or the task still waiting to start it).
#[derive(Debug)]
pub struct I2pZoneHandle {
    network: Arc<Mutex<Option<Network<I2pZone>>>>,
    task: JoinHandle<()>,
    /// What the zone waits for while it has not started, for the status line.
    waiting: String,
}

impl I2pZoneHandle {
    /// The zone's status line.
    pub fn status(&self) -> String {
        match self
            .network
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            Some(network) => network.status().to_string(),
            None => format!("not started: {}", self.waiting),
        }
    }

    /// Stops the zone: saves its address book if it had started.
    ///
    /// # Errors
    /// The address book could not be saved.
    pub async fn shutdown(self) -> Result<(), ShutdownError> {
        self.task.abort();
        let _ = self.task.await;
        let network = self
            .network
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match network {
            Some(network) => network.shutdown().await,
            None => Ok(()),
        }
    }
}

/// Sets up the I2P zone of `config` (which has `i2p.mode` other than off) and starts it in
/// the background; `i2p_peers` are the .i2p addresses given to `--add-peer`.
///
/// # Errors
/// [`I2pSetupError`]: bad settings, an identity or stored destination that cannot be
/// read. The router being down is not an error.
pub fn start(
    config: &Config,
    i2p_peers: Vec<ZonePeer<I2pEndpoint>>,
    node_id: u64,
    core_sync: watch::Receiver<CoreSyncData>,
) -> Result<I2pZoneHandle, I2pSetupError> {
    let plan = plan(config, i2p_peers)?;
    let waiting = match plan.key {
        KeyPlan::Make => format!(
            "waiting for the I2P router's SAM bridge at {} to make our I2P destination",
            plan.settings.sam
        ),
        KeyPlan::Stored(_) | KeyPlan::NotOurs => "starting".to_owned(),
    };
    let slot = Arc::new(Mutex::new(None));
    let task = tokio::spawn(run(plan, node_id, core_sync, Arc::clone(&slot)));
    Ok(I2pZoneHandle {
        network: slot,
        task,
        waiting,
    })
}

/// Reads the settings, the identity and the stored destination.
fn plan(config: &Config, i2p_peers: Vec<ZonePeer<I2pEndpoint>>) -> Result<Plan, I2pSetupError> {
    let settings = config.i2p.clone();
    if settings.mode == I2pMode::Off {
        return Err(I2pSetupError::Config("the I2P zone is off".to_owned()));
    }
    let store = KeyStore::open(identity::store_dir(&config.data_dir))?;
    let (identity, origin) = store.load_or_create(IDENTITY)?;
    info!(
        zone = "i2p",
        public_key = %identity.public(),
        created = (origin == Origin::Created),
        "I2P identity ready (separate from the clearnet and Tor identities)"
    );
    let forwarded = if settings.anonymous_inbound.is_empty() {
        None
    } else {
        Some(
            settings
                .anonymous_inbound
                .parse::<I2pInbound>()
                .map_err(|e: ProxySpecError| I2pSetupError::Config(e.to_string()))?,
        )
    };
    let key = if settings.mode == I2pMode::Sam && settings.inbound && forwarded.is_none() {
        match store.load_secret(DESTINATION)? {
            Some(text) => KeyPlan::Stored(PrivateKey::from_base64(&text).map_err(|error| {
                I2pSetupError::StoredKey {
                    file: store
                        .secret_path(DESTINATION)
                        .map_or_else(|_| DESTINATION.to_owned(), |p| p.display().to_string()),
                    reason: error.to_string(),
                }
            })?),
            None => KeyPlan::Make,
        }
    } else {
        KeyPlan::NotOurs
    };
    let mut network = NetworkConfig::new(config.network.network_id());
    network.umbra = Some(UmbraAdvert {
        key: identity.public().to_bytes(),
        transports: transports::NOISE_TCP,
    });
    network.out_peers = settings.out_peers;
    network.in_peers = settings.in_peers;
    // No limit per source destination beyond the total: destinations are free to make,
    // so such a limit stops no one, and it refused an honest peer whose earlier attempts
    // still lingered (monerod gives a handshake 5 s, less than a first I2P round trip can
    // take, and retries: with a limit of 2 its streams that got through in time were
    // refused while two stale ones waited for the handshake timeout). Bans still apply
    // to the source.
    network.max_connections_per_host = network.in_peers.max(1);
    let mut seeds = i2p_peers;
    for text in &settings.add_peers {
        seeds.push(parse_i2p_peer(text).map_err(I2pSetupError::Config)?);
    }
    // A destination can take a minute to become reachable after its router starts (its
    // lease set must reach the floodfills), and I2P nodes are few: the peers the operator
    // gave are kept and redialled with back-off, as priority nodes, instead of being
    // forgotten after a failed dial as gray peers are.
    network.priority_nodes.clone_from(&seeds);
    network.seed_peers = seeds;
    network.handshake_timeout = network.handshake_timeout.max(I2P_HANDSHAKE_TIMEOUT);
    Ok(Plan {
        identity,
        store,
        key,
        settings,
        forwarded,
        network,
        data_dir: config.data_dir.clone(),
    })
}

/// The zone's start-up task: our destination (waiting for the router if it must make
/// one), the transport, the address book, the network.
async fn run(
    plan: Plan,
    node_id: u64,
    core_sync: watch::Receiver<CoreSyncData>,
    slot: Arc<Mutex<Option<Network<I2pZone>>>>,
) {
    let Plan {
        identity,
        store,
        key,
        settings,
        forwarded,
        mut network,
        data_dir,
    } = plan;
    let key = match key {
        KeyPlan::NotOurs => None,
        KeyPlan::Stored(key) => Some(key),
        KeyPlan::Make => Some(make_destination(&settings, &store).await),
    };
    let sam = |key: SessionKey| SamConfig {
        key,
        tunnels: TunnelOptions {
            inbound_length: settings.inbound_hops,
            outbound_length: settings.outbound_hops,
            ..TunnelOptions::default()
        },
        ..SamConfig::new(settings.sam)
    };
    let new_sam = |key| {
        SamTransport::new(sam(key)).map_err(|error| {
            warn!(zone = "i2p", %error, "invalid SAM settings; the I2P zone does not start");
        })
    };
    let forwarded = forwarded.map(|inbound| ForwardedI2p {
        dest: inbound.dest,
        local: inbound.local,
    });
    let (base, ours) = match (settings.mode, key) {
        (I2pMode::Sam, Some(key)) => {
            let ours = I2pAddr::from_destination(key.destination());
            let Ok(sam) = new_sam(SessionKey::Stored(key)) else {
                return;
            };
            (AnyI2p::sam(sam), Some(ours))
        }
        (I2pMode::Sam, None) => {
            // Outbound only, or a server tunnel in: a destination of the moment for
            // dialling, never kept.
            let Ok(sam) = new_sam(SessionKey::Transient) else {
                return;
            };
            (
                AnyI2p::new(I2pDial::Sam(sam), forwarded.map(I2pListen::Forwarded)),
                forwarded.map(|f| f.dest),
            )
        }
        (I2pMode::Socks | I2pMode::Off, _) => (
            AnyI2p::new(
                I2pDial::Socks(Socks5Proxy::new(settings.socks)),
                forwarded.map(I2pListen::Forwarded),
            ),
            forwarded.map(|f| f.dest),
        ),
    };
    let kind = base.kind();
    let router = match settings.mode {
        I2pMode::Sam => format!("SAM bridge {}", settings.sam),
        I2pMode::Socks | I2pMode::Off => format!("SOCKS proxy {}", settings.socks),
    };
    match ours {
        Some(ours) => info!(
            zone = "i2p",
            address = %ours.host(),
            "our I2P destination (Umbra peers dial {}@{})",
            identity.public(),
            ours.host()
        ),
        None => {
            info!(
                zone = "i2p",
                "no inbound I2P connections (no destination of our own: outbound only)"
            );
            network.in_peers = 0;
        }
    }
    network.listen = ours.map(|ours| ZonePeer::umbra(I2pEndpoint::Dest(ours), identity.public()));
    let hybrid = HybridTransport::new(base, identity, HybridConfig::default());
    let transport = Relisten::new(hybrid, Backoff::default());

    let book_config = AddressBookConfig {
        data_dir: Some(data_dir),
        allow_local: false,
        ..AddressBookConfig::default()
    };
    let (book, report) = AddressBook::<I2pZone>::load_with_report(book_config, SystemTime::now());
    if let LoadReport::Loaded { path, stats, .. } = &report {
        info!(zone = "i2p", path = %path.display(), white = stats.white, gray = stats.gray, "address book loaded");
    }
    info!(zone = "i2p", backend = kind, %router, "starting the I2P zone");
    // Relisten never fails to listen (it retries in the background), so this only fails
    // on what cannot be retried.
    match Network::<I2pZone>::start(NetworkSetup {
        config: network,
        transport,
        address_book: AddressBookHandle::new(book),
        core_sync,
        handler: NothingToServe,
        node_id,
    })
    .await
    {
        Ok(network) => {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(network);
        }
        Err(error) => warn!(zone = "i2p", %error, "the I2P zone cannot start"),
    }
}

/// Asks the router for a new destination until it answers (with back-off), and keeps it.
async fn make_destination(settings: &I2pConfig, store: &KeyStore) -> PrivateKey {
    let backoff = Backoff::default();
    let timeout = SamConfig::default().control_timeout;
    let mut failures = 0u32;
    loop {
        match SamTransport::generate_key(settings.sam, timeout).await {
            Ok(key) => {
                match store.save_secret(DESTINATION, key.to_base64()) {
                    Ok(()) => info!(
                        zone = "i2p",
                        "new I2P destination made by the router and kept"
                    ),
                    Err(error) => warn!(
                        zone = "i2p",
                        %error,
                        "cannot keep the new I2P destination: the I2P address will change at the next start"
                    ),
                }
                return key;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let wait = backoff.delay(failures);
                warn!(
                    zone = "i2p",
                    %error,
                    attempt = failures,
                    ?wait,
                    "cannot reach the I2P router's SAM bridge to make our I2P destination yet"
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}
