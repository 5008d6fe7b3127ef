//! The connection maintainer: keeps `out_peers` outbound connections, replacing lost ones.
//!
//! Whom it dials, in order:
//!
//! 1. with exclusive nodes configured, only those (each redialled with back-off);
//! 2. priority nodes not connected (redialled with back-off);
//! 3. after a start, the anchors of the last run, then the seed peers, once each;
//! 4. then the address book: the white list while fewer than 70 % of the outbound
//!    connections come from it (monerod's `P2P_DEFAULT_WHITELIST_CONNECTIONS_PERCENT`), the
//!    gray list otherwise, each falling back on the other;
//! 5. with nothing else to dial and no outbound connection, the fallback seeds (a fresh
//!    node's way in).
//!
//! At most `max_concurrent_dials` dials run at once; banned hosts, addresses we are
//! connected or dialling to, and configured peers in back-off are skipped. A failed dial of
//! a book peer demotes it (white to gray, gray out); one of a configured peer doubles its
//! back-off. Each outbound connection is one task of the maintainer from dial to close, so
//! the count it keeps cannot drift.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, atomic::Ordering},
};

use rand::Rng;
use tokio::{
    task::{Id, JoinError, JoinSet},
    time::Instant,
};
use tracing::{debug, info};
use umbra_p2p_core::{
    NetworkZone, PeerCandidate, ZoneAddr,
    connection::{ByteCounters, Counted, PeerDirectory, ProtocolHandler, counted},
    handshake::{
        HandshakeConfig, HandshakeError, HandshakeOutcome, Handshaken, handshake_outbound,
    },
};
use umbra_transport::Transport;

use super::{
    Shared,
    events::{DialSource, NetworkEvent},
    join::join,
};

/// Share of outbound connections taken from the white list (monerod:
/// `P2P_DEFAULT_WHITELIST_CONNECTIONS_PERCENT`).
const WHITE_PERCENT: usize = 70;

/// Most configured peers remembered in back-off (there are only as many as configured, so
/// this is a guard, not a working limit).
const MAX_BACKOFF_ENTRIES: usize = 4096;

/// Most addresses remembered as leading to ourselves (our own listening addresses: a
/// handful at most).
const MAX_OURSELVES: usize = 64;

/// How an outbound task ended.
struct Ended<A> {
    addr: A,
    source: DialSource,
    how: EndedHow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndedHow {
    /// The handshake succeeded; the connection ran until it closed.
    Connected,
    /// The dial or the handshake failed.
    Failed,
    /// The address led to ourselves.
    Ourselves,
}

/// Back-off of one configured peer.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    until: Instant,
}

/// The maintainer's state; lives in its own task.
pub(crate) struct Maintainer<Z: NetworkZone, H> {
    shared: Arc<Shared<Z, H>>,
    /// Outbound tasks: dialling, or connected until the connection closes.
    tasks: JoinSet<Ended<Z::Addr>>,
    /// Addresses of `tasks`, with the source each was dialled for.
    active: HashMap<Z::Addr, DialSource>,
    /// The address of each task, to clean up after a task that did not return.
    task_addrs: HashMap<Id, Z::Addr>,
    /// Anchors and seeds still to try once after the start.
    first_round: VecDeque<(PeerCandidate<Z::Addr>, DialSource)>,
    backoff: HashMap<Z::Addr, Backoff>,
    /// Addresses that turned out to be ourselves: never dialled again.
    ourselves: HashSet<Z::Addr>,
}

impl<Z, H> Maintainer<Z, H>
where
    Z: NetworkZone,
    H: ProtocolHandler + Sync,
{
    pub(crate) fn new(shared: Arc<Shared<Z, H>>) -> Self {
        let mut first_round = VecDeque::new();
        if shared.config.exclusive_nodes.is_empty() {
            for anchor in shared.book.anchors() {
                first_round.push_back((anchor, DialSource::Anchor));
            }
            for addr in &shared.config.seed_peers {
                first_round.push_back((configured(addr.clone()), DialSource::Seed));
            }
        }
        Self {
            shared,
            tasks: JoinSet::new(),
            active: HashMap::new(),
            task_addrs: HashMap::new(),
            first_round,
            backoff: HashMap::new(),
            ourselves: HashSet::new(),
        }
    }

    /// Runs until shutdown, then waits for its connections to end (the network closes
    /// them).
    pub(crate) async fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        loop {
            self.fill();
            tokio::select! {
                biased;
                () = shared.shutdown.cancelled() => break,
                Some(ended) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.ended(ended);
                }
                () = shared.counters.dial_done.notified() => {}
                () = tokio::time::sleep(shared.config.maintain_interval) => {}
            }
        }
        while self.tasks.join_next().await.is_some() {}
    }

    fn ended(&mut self, ended: Result<(Id, Ended<Z::Addr>), JoinError>) {
        let (id, Ended { addr, source, how }) = match ended {
            Ok(ended) => ended,
            Err(error) => {
                // A task that panicked (none should) or was aborted: forget its address.
                tracing::error!(zone = Z::NAME, %error, "outbound task failed");
                if let Some(addr) = self.task_addrs.remove(&error.id()) {
                    self.active.remove(&addr);
                }
                return;
            }
        };
        self.task_addrs.remove(&id);
        self.active.remove(&addr);
        let configured = matches!(
            source,
            DialSource::Exclusive | DialSource::Priority | DialSource::Seed
        );
        match how {
            EndedHow::Ourselves => {
                self.backoff.remove(&addr);
                if self.ourselves.len() >= MAX_OURSELVES {
                    // Only our own listening addresses can land here; a set this large
                    // means something else is going on, and forgetting costs one dial.
                    self.ourselves.clear();
                }
                self.ourselves.insert(addr);
            }
            EndedHow::Connected if configured => {
                self.backoff.remove(&addr);
            }
            EndedHow::Failed if configured => self.back_off(addr),
            EndedHow::Connected | EndedHow::Failed => {}
        }
    }

    fn back_off(&mut self, addr: Z::Addr) {
        let config = &self.shared.config;
        let now = Instant::now();
        if self.backoff.len() >= MAX_BACKOFF_ENTRIES {
            self.backoff.retain(|_, b| b.until > now);
        }
        let failures = self.backoff.get(&addr).map_or(0, |b| b.failures) + 1;
        let exp = config
            .redial_backoff_initial
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(config.redial_backoff_max);
        // ±25 % jitter, so that many nodes restarted together do not dial in step.
        let jitter = rand::rng().random_range(0.75..=1.25);
        let wait = exp.mul_f64(jitter);
        debug!(zone = Z::NAME, %addr, failures, ?wait, "configured peer in back-off");
        self.backoff.insert(
            addr,
            Backoff {
                failures,
                until: now + wait,
            },
        );
    }

    fn in_backoff(&self, addr: &Z::Addr) -> bool {
        self.backoff
            .get(addr)
            .is_some_and(|b| b.until > Instant::now())
    }

    /// Starts as many dials as the targets and limits allow.
    fn fill(&mut self) {
        if self.shared.shutdown.is_cancelled() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let exclusive = !config.exclusive_nodes.is_empty();
        loop {
            let dialling = self.shared.counters.dialling.load(Ordering::Acquire);
            if dialling >= config.max_concurrent_dials {
                return;
            }
            let next = if exclusive {
                if self.active.len() >= config.out_peers {
                    return;
                }
                self.next_configured(&config.exclusive_nodes, DialSource::Exclusive)
            } else {
                // Priority nodes are dialled even when the target is met by others: they
                // replace nothing, they are just always wanted.
                self.next_configured(&config.priority_nodes, DialSource::Priority)
                    .or_else(|| {
                        if self.active.len() >= config.out_peers {
                            None
                        } else {
                            self.next_first_round()
                                .or_else(|| self.next_from_book())
                                .or_else(|| self.next_fallback_seed())
                        }
                    })
            };
            let Some((candidate, source)) = next else {
                return;
            };
            self.dial(candidate, source);
        }
    }

    fn skip(&self, addr: &Z::Addr) -> bool {
        self.active.contains_key(addr)
            || self.ourselves.contains(addr)
            || self.in_backoff(addr)
            || !self.shared.dialable(addr)
    }

    fn next_configured(
        &self,
        nodes: &[Z::Addr],
        source: DialSource,
    ) -> Option<(PeerCandidate<Z::Addr>, DialSource)> {
        nodes
            .iter()
            .find(|addr| !self.skip(addr) && !self.shared.book.is_banned(addr))
            .map(|addr| (configured(addr.clone()), source))
    }

    fn next_first_round(&mut self) -> Option<(PeerCandidate<Z::Addr>, DialSource)> {
        while let Some((candidate, source)) = self.first_round.pop_front() {
            if !self.skip(&candidate.addr) && !self.shared.book.is_banned(&candidate.addr) {
                return Some((candidate, source));
            }
        }
        None
    }

    /// A fallback seed, only while we have no other outbound connection or dial.
    fn next_fallback_seed(&self) -> Option<(PeerCandidate<Z::Addr>, DialSource)> {
        if !self.active.is_empty() {
            return None;
        }
        self.next_configured(&self.shared.config.fallback_seeds, DialSource::Seed)
    }

    fn next_from_book(&self) -> Option<(PeerCandidate<Z::Addr>, DialSource)> {
        let from_white = self
            .active
            .values()
            .filter(|s| matches!(s, DialSource::White | DialSource::Anchor))
            .count();
        let want_white = self.shared.config.out_peers * WHITE_PERCENT / 100;
        let exclude = |addr: &Z::Addr| self.skip(addr);
        let white = || {
            self.shared
                .book
                .take_white(exclude)
                .map(|c| (c, DialSource::White))
        };
        let gray = || {
            self.shared
                .book
                .take_gray(exclude)
                .map(|c| (c, DialSource::Gray))
        };
        if from_white < want_white {
            white().or_else(gray)
        } else {
            gray().or_else(white)
        }
    }

    fn dial(&mut self, candidate: PeerCandidate<Z::Addr>, source: DialSource) {
        let addr = candidate.addr.clone();
        self.active.insert(addr.clone(), source);
        self.shared.counters.dialling.fetch_add(1, Ordering::AcqRel);
        self.shared.emit(NetworkEvent::Dialling {
            addr: addr.clone(),
            source,
        });
        debug!(zone = Z::NAME, %addr, %source, "dialling");
        let shared = Arc::clone(&self.shared);
        let task = self
            .tasks
            .spawn(async move { outbound_connection(shared, candidate, source).await });
        self.task_addrs.insert(task.id(), addr);
    }
}

/// A configured address as a candidate (nothing known about it yet).
fn configured<A>(addr: A) -> PeerCandidate<A> {
    PeerCandidate {
        addr,
        id: 0,
        last_seen: 0,
        pruning_seed: 0,
        rpc_port: 0,
        rpc_credits_per_hash: 0,
    }
}

/// Lowers the dialling count when dropped, and wakes the maintainer.
struct Dialling<'a, Z: NetworkZone, H>(&'a Shared<Z, H>);

impl<Z: NetworkZone, H> Drop for Dialling<'_, Z, H> {
    fn drop(&mut self) {
        self.0.counters.dialling.fetch_sub(1, Ordering::AcqRel);
        self.0.counters.dial_done.notify_one();
    }
}

/// One outbound connection: dial, handshake, then run until it closes.
///
/// A plain handshake with an Umbra peer (its node data carries a key, see
/// [`ZoneAddr::upgraded`]) records the keyed address in the book, closes the plaintext
/// connection and connects again over the encrypted transport: an Umbra peer is met in
/// plaintext at most once.
async fn outbound_connection<Z, H>(
    shared: Arc<Shared<Z, H>>,
    candidate: PeerCandidate<Z::Addr>,
    source: DialSource,
) -> Ended<Z::Addr>
where
    Z: NetworkZone,
    H: ProtocolHandler + Sync,
{
    let mut addr = candidate.addr.clone();
    let (mut handshaken, mut bytes, mut config) = match dial(&shared, &addr).await {
        Ok(ok) => ok,
        Err(error) => {
            let how = failed(&shared, &addr, source, &error);
            return Ended { addr, source, how };
        }
    };
    if let Some(better) = addr.upgraded(&handshaken.outcome.node_data) {
        shared
            .book
            .handshake_succeeded(candidate_of(better.clone(), &handshaken.outcome));
        drop(handshaken);
        debug!(zone = Z::NAME, %better, "an Umbra peer met over plain levin: reconnecting encrypted");
        addr = better;
        (handshaken, bytes, config) = match dial(&shared, &addr).await {
            Ok(ok) => ok,
            Err(error) => {
                let how = failed(&shared, &addr, source, &error);
                return Ended { addr, source, how };
            }
        };
    }
    let outcome = &handshaken.outcome;
    let peer = candidate_of(addr.clone(), outcome);
    shared.book.handshake_succeeded(peer.clone());
    let list = outcome.peer_list.clone();
    if list.dropped > 0 {
        // As for timed syncs: junk costs a little, a list of only junk more.
        let score = if list.peers.is_empty() { 10 } else { 1 };
        shared
            .directory
            .misbehaved(&addr, score, "junk in its handshake peer list");
    }
    shared.directory.heard_of(&addr, list);
    let Some(joined) = join(&shared, handshaken, bytes, &config) else {
        return Ended {
            addr,
            source,
            how: EndedHow::Failed,
        };
    };
    shared.book.anchor_connected(peer);
    info!(zone = Z::NAME, %addr, %source, height = joined.client.info().height(), "outbound peer connected");
    joined.run_to_end(&shared).await;
    // At shutdown the book is saved before connections are closed, so the anchors of this
    // run survive; forgetting them here only touches the in-memory book.
    if !shared.shutdown.is_cancelled() {
        shared.book.anchor_disconnected(&addr);
    }
    Ended {
        addr,
        source,
        how: EndedHow::Connected,
    }
}

/// A handshaken outbound connection, its byte counters and the handshake settings used.
type Dialled<Z> = (
    Handshaken<
        Counted<<<Z as NetworkZone>::Transport as Transport>::Reader>,
        Counted<<<Z as NetworkZone>::Transport as Transport>::Writer>,
        <Z as NetworkZone>::Addr,
    >,
    ByteCounters,
    HandshakeConfig,
);

/// Connects to `addr` and handshakes (counted as a dial under way), unless shutting down.
async fn dial<Z, H>(shared: &Shared<Z, H>, addr: &Z::Addr) -> Result<Dialled<Z>, DialError>
where
    Z: NetworkZone,
    H: ProtocolHandler + Sync,
{
    let _dialling = Dialling(shared);
    let config = shared.handshake_config();
    let core_sync = shared.core_sync.borrow().clone();
    let attempt = async {
        let (reader, writer) =
            tokio::time::timeout(shared.config.handshake_timeout, shared.transport.dial(addr))
                .await
                .map_err(|_| DialError::Connect("connect timed out".to_owned()))?
                .map_err(|e| DialError::Connect(e.to_string()))?;
        let (reader, writer, bytes) = counted(reader, writer);
        let handshaken =
            handshake_outbound(reader, writer, addr.clone(), config.clone(), core_sync)
                .await
                .map_err(DialError::Handshake)?;
        Ok::<_, DialError>((handshaken, bytes, config))
    };
    tokio::select! {
        () = shared.shutdown.cancelled() => Err(DialError::Connect("shutting down".to_owned())),
        result = attempt => result,
    }
}

/// The book entry for the peer of a successful handshake at `addr`.
fn candidate_of<A>(addr: A, outcome: &HandshakeOutcome<A>) -> PeerCandidate<A> {
    PeerCandidate {
        addr,
        id: outcome.node_data.peer_id,
        last_seen: 0,
        pruning_seed: outcome.core_sync.pruning_seed,
        rpc_port: outcome.node_data.rpc_port,
        rpc_credits_per_hash: outcome.node_data.rpc_credits_per_hash,
    }
}

/// Why a dial failed.
enum DialError {
    Connect(String),
    Handshake(HandshakeError),
}

fn failed<Z: NetworkZone, H: ProtocolHandler + Sync>(
    shared: &Shared<Z, H>,
    addr: &Z::Addr,
    source: DialSource,
    error: &DialError,
) -> EndedHow {
    let text = match error {
        DialError::Connect(text) => text.clone(),
        DialError::Handshake(error) => error.to_string(),
    };
    if shared.shutdown.is_cancelled() {
        return EndedHow::Failed;
    }
    debug!(zone = Z::NAME, %addr, %source, error = %text, "dial failed");
    let mut how = EndedHow::Failed;
    if let DialError::Handshake(error) = error {
        shared.directory.misbehaved(addr, error.ban_score(), &text);
        if matches!(error, HandshakeError::SelfConnection) {
            how = EndedHow::Ourselves;
        }
    }
    // Configured peers stay in the book (they are redialled with back-off); book peers
    // are demoted.
    if matches!(
        source,
        DialSource::White | DialSource::Gray | DialSource::Anchor
    ) {
        shared.book.dial_failed(addr);
    }
    shared.emit(NetworkEvent::DialFailed {
        addr: addr.clone(),
        source,
        error: text,
    });
    how
}
