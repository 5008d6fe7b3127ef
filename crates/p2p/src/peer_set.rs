//! [`PeerSet`]: the connected peers of one zone, keyed by connection id.
//!
//! The set is a cheap handle (`Arc<std::sync::Mutex<..>>`) that every part of the node can
//! clone. A plain (blocking) mutex is the right tool here: every critical section is a
//! short, synchronous scan or map update (at most [`PeerSetConfig::max_peers`] entries),
//! and the lock is never held across an `.await` — routing picks a peer and clones its
//! `Client` under the lock, then releases it before waiting on the peer. An async mutex
//! would only add overhead, and a dedicated task with a channel would add a queue to bound.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use rand::{Rng, seq::IndexedRandom};
use umbra_p2p_core::{Client, Direction, NetworkZone};

use crate::routing::PeerSetError;

/// Default for [`PeerSetConfig::max_peers`].
pub const DEFAULT_MAX_PEERS: usize = 128;
/// Default for [`PeerSetConfig::ready_timeout`].
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How routing compares the load of two candidate peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadMetric {
    /// Fewer requests in flight wins; ties go to the lower last round-trip time (a peer
    /// with no measured round trip yet counts as zero, so new peers get tried).
    #[default]
    InFlight,
    /// Lower `peak-EWMA rtt × (in flight + 1)` wins: the cost of Finagle's and tower's
    /// peak-EWMA balancers, on the estimate each connection keeps
    /// ([`ConnectionInfo::rtt_estimate`](umbra_p2p_core::ConnectionInfo::rtt_estimate):
    /// up at once with a slow answer, down slowly with fast ones). A peer with no measured
    /// round trip counts as `default_rtt`.
    Latency {
        /// The round trip assumed for a peer that has not answered anything yet.
        default_rtt: Duration,
    },
}

/// Limits of a [`PeerSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSetConfig {
    /// The most peers the set holds; [`PeerSet::insert`] refuses more.
    pub max_peers: usize,
    /// How long a routed request may wait for its peer's request queue to have room.
    pub ready_timeout: Duration,
    /// How two routing candidates are compared.
    pub load: LoadMetric,
}

impl Default for PeerSetConfig {
    fn default() -> Self {
        Self {
            max_peers: DEFAULT_MAX_PEERS,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            load: LoadMetric::default(),
        }
    }
}

/// Why [`PeerSet::insert`] refused a peer. The caller still owns the connection and
/// should close it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The set already holds its maximum number of live peers.
    #[error("the peer set is full ({max} peers); connection {id} refused")]
    Full {
        /// The configured maximum.
        max: usize,
        /// The refused connection.
        id: u64,
    },
    /// A peer with this connection id is already in the set.
    #[error("connection {id} is already in the peer set")]
    Duplicate {
        /// The connection id.
        id: u64,
    },
    /// The connection closed before it was inserted.
    #[error("connection {id} is already closed")]
    Closed {
        /// The connection id.
        id: u64,
    },
}

/// A snapshot of one peer, from [`PeerSet::peers`].
pub struct PeerSummary<Z: NetworkZone> {
    /// The connection id.
    pub id: u64,
    /// The peer's address. On anonymous zones, do not log it.
    pub addr: Z::Addr,
    /// Who opened the connection.
    pub direction: Direction,
    /// The peer's chain height at its last timed sync.
    pub height: u64,
    /// Requests in flight through its clients.
    pub in_flight: usize,
    /// Round-trip time of its last answered request.
    pub rtt: Option<Duration>,
}

impl<Z: NetworkZone> fmt::Debug for PeerSummary<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSummary")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("direction", &self.direction)
            .field("height", &self.height)
            .field("in_flight", &self.in_flight)
            .field("rtt", &self.rtt)
            .finish()
    }
}

impl<Z: NetworkZone> Clone for PeerSummary<Z> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            addr: self.addr.clone(),
            direction: self.direction,
            height: self.height,
            in_flight: self.in_flight,
            rtt: self.rtt,
        }
    }
}

/// Live peers by direction, from [`PeerSet::counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerCounts {
    /// Peers that connected to us.
    pub inbound: usize,
    /// Peers we connected to.
    pub outbound: usize,
}

/// One peer in the set.
struct Entry<Z: NetworkZone> {
    client: Client<Z>,
    /// Requests the set routed to this peer that still wait for a slot in its queue
    /// (not yet counted by `in_flight`, which starts at `Client::call`).
    waiting: Arc<AtomicUsize>,
}

impl<Z: NetworkZone> Entry<Z> {
    fn load(&self) -> usize {
        self.client
            .info()
            .in_flight()
            .saturating_add(self.waiting.load(Ordering::Relaxed))
    }

    /// Smaller is better; compared lexicographically.
    fn cost(&self, metric: LoadMetric) -> (u128, u128) {
        let load = self.load() as u128;
        let info = self.client.info();
        match metric {
            LoadMetric::InFlight => (load, info.rtt().unwrap_or(Duration::ZERO).as_micros()),
            LoadMetric::Latency { default_rtt } => (
                info.rtt_estimate()
                    .unwrap_or(default_rtt)
                    .as_micros()
                    .saturating_mul(load.saturating_add(1)),
                load,
            ),
        }
    }
}

/// A peer chosen for one request: a clone of its client, and the mark that counts the
/// request as waiting on it until [`Client::call`] takes over (or the request is dropped).
pub(crate) struct Picked<Z: NetworkZone> {
    pub(crate) client: Client<Z>,
    pub(crate) waiting: Waiting,
}

/// Decrements a peer's waiting count when dropped.
pub(crate) struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Shared<Z: NetworkZone> {
    config: PeerSetConfig,
    peers: Mutex<HashMap<u64, Entry<Z>>>,
}

/// The connected peers of one zone; see the [module docs](self) and the
/// [crate docs](crate) for routing. Cheap to clone: clones share the set.
///
/// It is a `tower::Service<`[`PeerSetRequest`](crate::PeerSetRequest)`>` (always ready)
/// and has a synchronous [`broadcast`](Self::broadcast).
pub struct PeerSet<Z: NetworkZone> {
    shared: Arc<Shared<Z>>,
}

impl<Z: NetworkZone> Clone for PeerSet<Z> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<Z: NetworkZone> fmt::Debug for PeerSet<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSet")
            .field("zone", &Z::NAME)
            .field("config", &self.shared.config)
            .field("peers", &self.lock_raw().len())
            .finish()
    }
}

impl<Z: NetworkZone> PeerSet<Z> {
    /// An empty set.
    #[must_use]
    pub fn new(config: PeerSetConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                peers: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The set's limits.
    #[must_use]
    pub fn config(&self) -> &PeerSetConfig {
        &self.shared.config
    }

    fn lock_raw(&self) -> MutexGuard<'_, HashMap<u64, Entry<Z>>> {
        self.shared
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the map and drops closed peers from it: O(peers), for the operations that go
    /// over every peer anyway (routing, broadcast, counts). The per-peer operations
    /// (insert, get, remove) use [`Self::lock_raw`] and stay O(1), so adding the 10,000th
    /// peer costs what adding the first did.
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry<Z>>> {
        let mut peers = self.lock_raw();
        Self::sweep(&mut peers);
        peers
    }

    fn sweep(peers: &mut HashMap<u64, Entry<Z>>) {
        peers.retain(|id, entry| {
            let closed = entry.client.info().is_closed();
            if closed {
                tracing::debug!(zone = Z::NAME, id, "closed peer removed from the peer set");
            }
            !closed
        });
    }

    /// Adds a connected peer.
    ///
    /// # Errors
    /// [`InsertError::Full`] when the set holds [`PeerSetConfig::max_peers`] live peers,
    /// [`InsertError::Duplicate`] when the connection is already in it,
    /// [`InsertError::Closed`] when the connection has closed.
    pub fn insert(&self, client: Client<Z>) -> Result<(), InsertError> {
        let id = client.info().id;
        if client.info().is_closed() {
            return Err(InsertError::Closed { id });
        }
        let mut peers = self.lock_raw();
        if peers.contains_key(&id) {
            return Err(InsertError::Duplicate { id });
        }
        let max = self.shared.config.max_peers;
        if peers.len() >= max {
            // Full, perhaps of closed peers not removed yet: sweep before refusing.
            Self::sweep(&mut peers);
        }
        if peers.len() >= max {
            tracing::debug!(zone = Z::NAME, id, max, "peer set full, peer refused");
            return Err(InsertError::Full { max, id });
        }
        peers.insert(
            id,
            Entry {
                client,
                waiting: Arc::new(AtomicUsize::new(0)),
            },
        );
        tracing::debug!(zone = Z::NAME, id, peers = peers.len(), "peer added");
        Ok(())
    }

    /// Removes a peer (without closing its connection) and returns its client.
    pub fn remove(&self, id: u64) -> Option<Client<Z>> {
        let removed = self.lock_raw().remove(&id).map(|entry| entry.client);
        if removed.is_some() {
            tracing::debug!(zone = Z::NAME, id, "peer removed");
        }
        removed
    }

    /// The client of one peer, if it is in the set and open.
    #[must_use]
    pub fn get(&self, id: u64) -> Option<Client<Z>> {
        self.lock_raw()
            .get(&id)
            .filter(|entry| !entry.client.info().is_closed())
            .map(|entry| entry.client.clone())
    }

    /// Whether the set holds this (open) peer.
    #[must_use]
    pub fn contains(&self, id: u64) -> bool {
        self.lock_raw()
            .get(&id)
            .is_some_and(|entry| !entry.client.info().is_closed())
    }

    /// How many open peers the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the set holds no open peer.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Open peers by direction.
    #[must_use]
    pub fn counts(&self) -> PeerCounts {
        let mut counts = PeerCounts::default();
        for entry in self.lock().values() {
            match entry.client.info().direction {
                Direction::Inbound => counts.inbound = counts.inbound.saturating_add(1),
                Direction::Outbound => counts.outbound = counts.outbound.saturating_add(1),
            }
        }
        counts
    }

    /// A snapshot of the open peers, sorted by connection id.
    #[must_use]
    pub fn peers(&self) -> Vec<PeerSummary<Z>> {
        let mut summaries: Vec<_> = self
            .lock()
            .values()
            .map(|entry| {
                let info = entry.client.info();
                PeerSummary {
                    id: info.id,
                    addr: info.addr.clone(),
                    direction: info.direction,
                    height: info.height(),
                    in_flight: info.in_flight(),
                    rtt: info.rtt(),
                }
            })
            .collect();
        summaries.sort_by_key(|summary| summary.id);
        summaries
    }

    /// Picks a peer by power of two choices among open peers at `min_height` or above
    /// (any height when `None`), and marks one request as waiting on it.
    pub(crate) fn pick(&self, min_height: Option<u64>) -> Result<Picked<Z>, PeerSetError> {
        let peers = self.lock();
        let candidates: Vec<&Entry<Z>> = peers
            .values()
            .filter(|entry| min_height.is_none_or(|h| entry.client.info().height() >= h))
            .collect();
        let mut rng = rand::rng();
        let mut two = candidates.choose_multiple(&mut rng, 2);
        let chosen = match (two.next(), two.next()) {
            (None, _) => {
                return Err(match min_height {
                    Some(height) => PeerSetError::NoPeerAtHeight { height },
                    None => PeerSetError::NoPeers,
                });
            }
            (Some(only), None) => only,
            (Some(a), Some(b)) => {
                let metric = self.shared.config.load;
                match a.cost(metric).cmp(&b.cost(metric)) {
                    std::cmp::Ordering::Less => a,
                    std::cmp::Ordering::Greater => b,
                    std::cmp::Ordering::Equal => {
                        if rng.random_bool(0.5) {
                            a
                        } else {
                            b
                        }
                    }
                }
            }
        };
        tracing::trace!(
            zone = Z::NAME,
            id = chosen.client.info().id,
            load = chosen.load(),
            candidates = candidates.len(),
            "request routed"
        );
        Ok(Picked {
            client: chosen.client.clone(),
            waiting: Waiting::new(&chosen.waiting),
        })
    }

    /// The peer `id`, marked with one request waiting on it.
    pub(crate) fn pick_id(&self, id: u64) -> Result<Picked<Z>, PeerSetError> {
        let peers = self.lock();
        let entry = peers.get(&id).ok_or(PeerSetError::PeerNotFound { id })?;
        Ok(Picked {
            client: entry.client.clone(),
            waiting: Waiting::new(&entry.waiting),
        })
    }

    /// Runs `f` on the open peers' clients under the lock. `f` must not block.
    pub(crate) fn with_clients<R>(&self, f: impl FnOnce(Vec<&Client<Z>>) -> R) -> R {
        let peers = self.lock();
        f(peers.values().map(|entry| &entry.client).collect())
    }
}
