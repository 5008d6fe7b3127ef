//! What the network of one zone does: how many peers, whom to dial, how long to wait.

use std::time::Duration;

use umbra_p2p_core::{
    connection::ConnectionConfig,
    handshake::{DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_PING_BACK_TIMEOUT, UmbraAdvert},
};
use umbra_wire::network_id;

use crate::PeerSetConfig;

/// Settings of one zone's network. [`NetworkConfig::new`] gives monerod's defaults where
/// monerod has one.
#[derive(Debug, Clone)]
pub struct NetworkConfig<A> {
    /// The network: mainnet, testnet or stagenet (regtest uses mainnet's id). Peers of
    /// another network are refused in the handshake.
    pub network_id: [u8; 16],
    /// Where to accept peers; `None` connects out only.
    ///
    /// Example: `0.0.0.0:18080`. Default: `None`.
    pub listen: Option<A>,
    /// Outbound connections to keep (monerod's `--out-peers`, default 12).
    pub out_peers: usize,
    /// Most inbound connections, those still in their handshake included (monerod's
    /// `--in-peers`; monerod has no limit by default, we take 64 so that a flood of
    /// connections cannot exhaust memory or file descriptors).
    pub in_peers: usize,
    /// Most inbound connections from one host (monerod's `--max-connections-per-ip`,
    /// default 1). A host is what a ban applies to (an IP on clearnet).
    pub max_connections_per_host: usize,
    /// Most inbound handshakes under way at once; a connection beyond it is closed at once.
    /// Bounds what a slow-loris attacker holding connections open in their handshake costs.
    ///
    /// Default: 32.
    pub max_inbound_handshakes: usize,
    /// Peers to add to the address book at start and dial early (monerod's `--add-peer`).
    pub seed_peers: Vec<A>,
    /// Well-known nodes dialled only when we have nothing else to dial and no outbound
    /// connection (monerod's built-in seed nodes, which it uses when its peer list is
    /// empty): a fresh node's way in. Never dialled with exclusive nodes configured.
    pub fallback_seeds: Vec<A>,
    /// When not empty, the only peers we dial (monerod's `--add-exclusive-node`); peers
    /// learnt from others are still recorded but never dialled.
    pub exclusive_nodes: Vec<A>,
    /// Peers we always try to stay connected to, dialled before any other (monerod's
    /// `--add-priority-node`). They count towards `out_peers`.
    pub priority_nodes: Vec<A>,
    /// Whether private, loopback and link-local addresses may be dialled, accepted into the
    /// address book and pinged back (monerod's `--allow-local-ip`).
    pub allow_local: bool,
    /// Most dials (connect + handshake) under way at once.
    ///
    /// Default: 4.
    pub max_concurrent_dials: usize,
    /// How often the connection maintainer checks the outbound count when nothing else
    /// wakes it (monerod's connection maker runs every second).
    ///
    /// Default: 1 second.
    pub maintain_interval: Duration,
    /// First wait before redialling a configured peer (seed, priority or exclusive node)
    /// whose dial failed; doubles on each further failure, with jitter.
    ///
    /// Default: 1 second.
    pub redial_backoff_initial: Duration,
    /// Longest wait between dials of a configured peer.
    ///
    /// Default: 60 seconds.
    pub redial_backoff_max: Duration,
    /// Deadline of a whole handshake, both directions.
    ///
    /// Default: [`DEFAULT_HANDSHAKE_TIMEOUT`] (10 seconds).
    pub handshake_timeout: Duration,
    /// Deadline of the ping back that checks an inbound peer's advertised address.
    ///
    /// Default: [`DEFAULT_PING_BACK_TIMEOUT`] (5 seconds).
    pub ping_back_timeout: Duration,
    /// Most ping backs under way at once; an inbound peer arriving beyond it is not
    /// pinged back (its address just does not enter the white list).
    ///
    /// Default: 8.
    pub max_concurrent_ping_backs: usize,
    /// How often the address book is written to disk while running (it is also written at
    /// shutdown), so a crash loses little.
    ///
    /// Default: 10 minutes.
    pub save_interval: Duration,
    /// Timing of each connection (timed sync interval, request and idle timeouts).
    pub connection: ConnectionConfig,
    /// Routing settings of the peer set. Its `max_peers` is raised to at least
    /// `in_peers + out_peers` when the network starts.
    pub peer_set: PeerSetConfig,
    /// Our identity key and Umbra transports, advertised in every handshake (extra fields
    /// monerod ignores), so that Umbra peers met over plain levin connect encrypted next
    /// time. `None` (the default) advertises nothing.
    pub umbra: Option<UmbraAdvert>,
}

impl<A> NetworkConfig<A> {
    /// The defaults for a network (`network_id`), listening nowhere.
    #[must_use]
    pub fn new(network_id: [u8; 16]) -> Self {
        Self {
            network_id,
            listen: None,
            out_peers: 12,
            in_peers: 64,
            max_connections_per_host: 1,
            max_inbound_handshakes: 32,
            seed_peers: Vec::new(),
            fallback_seeds: Vec::new(),
            exclusive_nodes: Vec::new(),
            priority_nodes: Vec::new(),
            allow_local: false,
            max_concurrent_dials: 4,
            maintain_interval: Duration::from_secs(1),
            redial_backoff_initial: Duration::from_secs(1),
            redial_backoff_max: Duration::from_secs(60),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            ping_back_timeout: DEFAULT_PING_BACK_TIMEOUT,
            max_concurrent_ping_backs: 8,
            save_interval: Duration::from_secs(10 * 60),
            connection: ConnectionConfig::default(),
            peer_set: PeerSetConfig::default(),
            umbra: None,
        }
    }
}

impl<A> Default for NetworkConfig<A> {
    /// Mainnet, listening nowhere.
    fn default() -> Self {
        Self::new(network_id::MAINNET)
    }
}
