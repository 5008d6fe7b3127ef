//! A zone's network, running: the inbound server, the connection maintainer, the peer set
//! and the address book, started together and stopped together.
//!
//! ```text
//!  listener ─► inbound server ─┐ limits, bans,          ┌─► PeerSet (routing, broadcast)
//!                              ├─ handshake, ping back ─┤
//!  maintainer ─► dial ─────────┘                        └─► AddressBook (white, gray,
//!   (out_peers, anchors, priority,                           anchors, bans; saved on
//!    exclusive, back-off)                                    shutdown and periodically)
//! ```
//!
//! [`Network::start`] binds the listener (if any), loads nothing itself (the caller passes
//! an [`AddressBookHandle`], usually from `AddressBook::load`), and spawns three tasks: the
//! inbound server (`inbound.rs`), the maintainer (`outbound.rs`) and the periodic save.
//! [`Network::shutdown`] stops accepting and dialling, saves the address book *before*
//! closing the connections (so the anchors of this run are the ones tried first at the
//! next start), closes every connection and waits for the tasks, bounded.
//!
//! Every connection, inbound or outbound, is one task from accept or dial to close, and
//! every count (inbound per host, handshakes under way, dials under way) is held by a
//! guard that gives its place back when the task ends, whichever way it ends.

mod config;
mod directory;
mod events;
mod inbound;
mod join;
mod outbound;
mod slots;

use std::{
    fmt, io,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, Semaphore, broadcast, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{info, warn};
use umbra_address_book::{AddressBookError, AddressBookHandle, BookStats};
use umbra_p2p_core::{
    NetworkZone, ZoneAddr,
    connection::{Ours, ProtocolHandler},
    handshake::HandshakeConfig,
    node_id_for_connection,
};
use umbra_transport::{LocalAddr, Transport};
use umbra_wire::CoreSyncData;

pub use config::NetworkConfig;
pub use directory::BookDirectory;
pub use events::{DialSource, EVENT_BUFFER, NetworkEvent, Refused};

use crate::{PeerSet, PeerSetConfig};

/// How long [`Network::shutdown`] waits for connections and tasks to end after closing
/// them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What [`Network::start`] needs.
#[derive(Debug)]
pub struct NetworkSetup<Z: NetworkZone, H> {
    /// The settings.
    pub config: NetworkConfig<Z::Addr>,
    /// How the zone dials and listens.
    pub transport: Z::Transport,
    /// The zone's address book (see `AddressBook::load`).
    pub address_book: AddressBookHandle<Z>,
    /// Our chain state, kept current by the node; sent in handshakes and timed syncs.
    pub core_sync: watch::Receiver<CoreSyncData>,
    /// Answers the peers' protocol requests.
    pub handler: H,
    /// Our node id on this zone, from `umbra_p2p_core::NodeIds::fresh` (never shared with
    /// another zone).
    pub node_id: u64,
}

/// State shared by the network's tasks.
pub(crate) struct Shared<Z: NetworkZone, H> {
    config: NetworkConfig<Z::Addr>,
    transport: Z::Transport,
    book: AddressBookHandle<Z>,
    peers: PeerSet<Z>,
    directory: BookDirectory<Z>,
    node_id: u64,
    core_sync: watch::Receiver<CoreSyncData>,
    handler: H,
    /// The port we listen on, advertised where the zone allows.
    my_port: Option<u16>,
    /// The address we listen on, never dialled.
    local_addr: Option<Z::Addr>,
    events: broadcast::Sender<NetworkEvent<Z::Addr>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    counters: Arc<Counters<Z::Addr>>,
    ping_backs: Arc<Semaphore>,
}

/// Counts the status reads without knowing the handler type.
struct Counters<A> {
    slots: Arc<slots::Slots<A>>,
    /// Dials (connect + handshake) under way.
    dialling: AtomicUsize,
    /// Woken when a dial ends, so the maintainer can start the next at once.
    dial_done: Notify,
}

impl<Z: NetworkZone, H> Shared<Z, H> {
    fn emit(&self, event: NetworkEvent<Z::Addr>) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// The handshake settings for one new connection; its `node_id` is the id to use for
    /// the whole connection.
    fn handshake_config(&self) -> HandshakeConfig {
        HandshakeConfig {
            allow_local_addresses: self.config.allow_local,
            timeout: self.config.handshake_timeout,
            umbra: self.config.umbra,
            ..HandshakeConfig::for_zone::<Z>(
                self.config.network_id,
                node_id_for_connection::<Z>(self.node_id),
                self.my_port,
            )
        }
    }

    /// What a connection says about us, with the node id of its handshake.
    fn ours(&self, handshake: &HandshakeConfig) -> Ours {
        Ours {
            node_id: handshake.node_id,
            support_flags: handshake.support_flags,
            core_sync: self.core_sync.clone(),
            allow_local_addresses: self.config.allow_local,
        }
    }

    /// Whether `addr` may be dialled at all: routable (local addresses only with
    /// `allow_local`) and not our own listening address.
    fn dialable(&self, addr: &Z::Addr) -> bool {
        addr.is_routable(self.config.allow_local) && self.local_addr.as_ref() != Some(addr)
    }
}

/// Why [`Network::shutdown`] could not save the address book.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    /// Saving failed.
    #[error(transparent)]
    Save(#[from] AddressBookError),
    /// The blocking task that saves failed.
    #[error("the address book save task failed: {0}")]
    SaveTask(#[from] tokio::task::JoinError),
}

/// A snapshot of the network's state, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkStatus {
    /// Inbound peers in the peer set.
    pub inbound: usize,
    /// Outbound peers in the peer set.
    pub outbound: usize,
    /// Inbound connections still in their handshake.
    pub inbound_handshakes: usize,
    /// Outbound dials under way.
    pub dialling: usize,
    /// The highest chain any peer claims, if there are peers.
    pub best_peer_height: Option<u64>,
    /// Peers (either direction) on an encrypted, key-authenticated connection
    /// ([`ZoneAddr::is_authenticated`]).
    pub encrypted: usize,
    /// The address book's sizes.
    pub book: BookStats,
}

impl fmt::Display for NetworkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peers out {} in {} encrypted {} (dialling {}, inbound handshakes {}), best peer \
             height {}, white {} gray {} anchors {} bans {}",
            self.outbound,
            self.inbound,
            self.encrypted,
            self.dialling,
            self.inbound_handshakes,
            self.best_peer_height
                .map_or_else(|| "-".to_owned(), |h| h.to_string()),
            self.book.white,
            self.book.gray,
            self.book.anchors,
            self.book.bans,
        )
    }
}

/// A running zone network; see the [module docs](self). Dropping it stops its tasks
/// without saving; call [`Network::shutdown`] to save and close cleanly.
pub struct Network<Z: NetworkZone> {
    peers: PeerSet<Z>,
    book: AddressBookHandle<Z>,
    events: broadcast::Sender<NetworkEvent<Z::Addr>>,
    local_addr: Option<Z::Addr>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    counters: Arc<Counters<Z::Addr>>,
}

impl<Z: NetworkZone> fmt::Debug for Network<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("zone", &Z::NAME)
            .field("local_addr", &self.local_addr)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl<Z: NetworkZone> Network<Z> {
    /// Binds the listener (if `config.listen` is set) and starts the inbound server, the
    /// connection maintainer and the periodic save of the address book.
    ///
    /// # Errors
    /// The I/O error of binding the listener or reading its address.
    pub async fn start<H>(setup: NetworkSetup<Z, H>) -> io::Result<Self>
    where
        H: ProtocolHandler + Sync,
    {
        let NetworkSetup {
            config,
            transport,
            address_book: book,
            core_sync,
            handler,
            node_id,
        } = setup;
        let listener = match &config.listen {
            Some(addr) => Some(transport.listen(addr).await?),
            None => None,
        };
        let local_addr = listener.as_ref().map(LocalAddr::local_addr).transpose()?;
        let wanted = config
            .in_peers
            .saturating_add(config.out_peers)
            .saturating_add(config.priority_nodes.len());
        let peers = PeerSet::new(PeerSetConfig {
            max_peers: config.peer_set.max_peers.max(wanted),
            ..config.peer_set
        });
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let counters = Arc::new(Counters {
            slots: slots::Slots::new(slots::Limits {
                inbound: config.in_peers,
                per_host: config.max_connections_per_host,
                handshakes: config.max_inbound_handshakes,
            }),
            dialling: AtomicUsize::new(0),
            dial_done: Notify::new(),
        });
        // Seeds are remembered like any peer heard of; the maintainer also dials them early.
        book.add_gray(
            config
                .seed_peers
                .iter()
                .map(|addr| umbra_p2p_core::PeerCandidate {
                    addr: addr.clone(),
                    id: 0,
                    last_seen: 0,
                    pruning_seed: 0,
                    rpc_port: 0,
                    rpc_credits_per_hash: 0,
                }),
        );
        let mut directory = BookDirectory::new(book.clone(), peers.clone(), events.clone());
        if let Some(ours) = &local_addr
            && ours.is_routable(config.allow_local)
        {
            directory = directory.with_own_address(ours.clone());
        }
        let shared = Arc::new(Shared {
            directory,
            my_port: local_addr.as_ref().map(ZoneAddr::port),
            local_addr: local_addr.clone(),
            ping_backs: Arc::new(Semaphore::new(config.max_concurrent_ping_backs)),
            config,
            transport,
            book: book.clone(),
            peers: peers.clone(),
            node_id,
            core_sync,
            handler,
            events: events.clone(),
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
            counters: Arc::clone(&counters),
        });
        if let (Some(listener), Some(addr)) = (listener, &local_addr) {
            info!(zone = Z::NAME, %addr, "listening for peers");
            shared.emit(NetworkEvent::Listening { addr: addr.clone() });
            tasks.spawn(inbound::serve(Arc::clone(&shared), listener));
        }
        tasks.spawn(outbound::Maintainer::new(Arc::clone(&shared)).run());
        tasks.spawn(save_periodically(Arc::clone(&shared)));
        Ok(Self {
            peers,
            book,
            events,
            local_addr,
            shutdown,
            tasks,
            counters,
        })
    }

    /// The connected peers, for routing requests and broadcasts.
    #[must_use]
    pub fn peer_set(&self) -> &PeerSet<Z> {
        &self.peers
    }

    /// The address book.
    #[must_use]
    pub fn address_book(&self) -> &AddressBookHandle<Z> {
        &self.book
    }

    /// Where we accept peers, if we do.
    #[must_use]
    pub fn local_addr(&self) -> Option<&Z::Addr> {
        self.local_addr.as_ref()
    }

    /// Events from now on; see [`NetworkEvent`].
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<NetworkEvent<Z::Addr>> {
        self.events.subscribe()
    }

    /// The current counts.
    #[must_use]
    pub fn status(&self) -> NetworkStatus {
        let counts = self.peers.counts();
        let peers = self.peers.peers();
        let best_peer_height = peers.iter().map(|p| p.height).max();
        let encrypted = peers.iter().filter(|p| p.addr.is_authenticated()).count();
        let (_, inbound_handshakes) = self.counters.slots.inbound();
        NetworkStatus {
            inbound: counts.inbound,
            outbound: counts.outbound,
            inbound_handshakes,
            dialling: self.counters.dialling.load(Ordering::Acquire),
            best_peer_height,
            encrypted,
            book: self.book.stats(),
        }
    }

    /// Stops accepting and dialling, saves the address book (before closing the
    /// connections, so this run's anchors are kept), closes every connection, and waits
    /// up to [`SHUTDOWN_GRACE`] for the tasks to end.
    ///
    /// # Errors
    /// The address book could not be saved (everything is stopped regardless).
    pub async fn shutdown(self) -> Result<(), ShutdownError> {
        self.shutdown.cancel();
        let book = self.book.clone();
        let saved = match tokio::task::spawn_blocking(move || book.save()).await {
            Ok(saved) => saved.map_err(ShutdownError::Save),
            Err(error) => Err(ShutdownError::SaveTask(error)),
        };
        for peer in self.peers.peers() {
            if let Some(client) = self.peers.get(peer.id) {
                client.info().close("shutting down");
            }
        }
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tasks.wait())
            .await
            .is_err()
        {
            warn!(
                zone = Z::NAME,
                tasks = self.tasks.len(),
                "some network tasks did not stop in time"
            );
        }
        info!(zone = Z::NAME, saved = saved.is_ok(), "network stopped");
        saved
    }
}

impl<Z: NetworkZone> Drop for Network<Z> {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Saves the address book every `save_interval` until shutdown (the shutdown saves last).
async fn save_periodically<Z: NetworkZone, H: Send + Sync + 'static>(shared: Arc<Shared<Z, H>>) {
    let interval = shared.config.save_interval;
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let book = shared.book.clone();
        match tokio::task::spawn_blocking(move || book.save()).await {
            Ok(Ok(())) => tracing::debug!(zone = Z::NAME, "address book saved"),
            Ok(Err(error)) => warn!(zone = Z::NAME, %error, "cannot save the address book"),
            Err(error) => warn!(zone = Z::NAME, %error, "address book save task failed"),
        }
    }
}
