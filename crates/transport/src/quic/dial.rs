//! Dialling: one connection per peer, shared by every dial to it, one stream per dial.
//!
//! Each peer (address and key) has a [`Slot`] in a bounded map. A dial locks the slot: if it
//! holds a live connection the dial opens a stream on it, otherwise the dial connects and
//! stores the connection, so concurrent dials to one peer wait for one handshake instead of
//! racing to make several. If that handshake fails, the dials that were waiting for it fail
//! with the same error rather than each trying (and timing out) in turn.
//!
//! Each connection has a watcher task that drops the slot when the connection closes and
//! closes the connection once no stream has been open on it for
//! [`QuicConfig::linger`](super::QuicConfig::linger).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use umbra_identity::PublicKey;

use super::{
    QuicError, QuicTransport,
    stream::{self, QuicReader, QuicWriter, STREAM_OPEN, Side, StreamUse, Usage},
    tls,
};
use crate::Keyed;

/// The application error code we close an idle connection with.
const IDLE_CLOSE: quinn::VarInt = quinn::VarInt::from_u32(0);

/// Who a cached connection goes to: where we dialled and the key it proved.
pub(crate) type PeerKey = (SocketAddr, PublicKey);

/// Connections we dialled, by peer, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct Peers {
    map: Mutex<HashMap<PeerKey, Arc<Slot>>>,
    capacity: usize,
}

/// One peer's place in [`Peers`].
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// Connection attempts made under this slot; a dial that waited for the lock compares it
    /// with the value it saw before waiting to learn whether someone else just tried.
    attempts: AtomicU64,
    state: tokio::sync::Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    conn: Option<(quinn::Connection, Arc<Usage>)>,
    last_error: Option<QuicError>,
}

impl SlotState {
    fn live(&self) -> Option<&(quinn::Connection, Arc<Usage>)> {
        self.conn
            .as_ref()
            .filter(|(conn, _)| conn.close_reason().is_none())
    }
}

impl Peers {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerKey, Arc<Slot>>> {
        // Every update is one insert or remove: the map is consistent even after a panic.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The peer's slot. When the map is full (after dropping slots without a live
    /// connection), a slot of its own that no later dial finds.
    fn slot(&self, peer: &PeerKey) -> Arc<Slot> {
        let mut map = self.lock();
        if let Some(slot) = map.get(peer) {
            return Arc::clone(slot);
        }
        if map.len() >= self.capacity {
            map.retain(|_, slot| !slot.is_dead());
        }
        let slot = Arc::new(Slot::default());
        if map.len() < self.capacity {
            map.insert(*peer, Arc::clone(&slot));
        } else {
            tracing::debug!(peer = %peer.0, "QUIC connection cache is full; this connection is not shared");
        }
        slot
    }

    /// Drops `slot` from the map if it is still the peer's slot and holds no live connection.
    fn forget(&self, peer: &PeerKey, slot: &Arc<Slot>) {
        let mut map = self.lock();
        if map
            .get(peer)
            .is_some_and(|current| Arc::ptr_eq(current, slot) && slot.is_dead())
        {
            map.remove(peer);
        }
    }

    /// How many connections are cached and live.
    pub(crate) fn live(&self) -> usize {
        self.lock()
            .values()
            .filter(|slot| {
                slot.state
                    .try_lock()
                    .map_or(true, |state| state.live().is_some())
            })
            .count()
    }
}

impl Slot {
    /// Not in use by a dial and without a live connection.
    fn is_dead(&self) -> bool {
        self.state
            .try_lock()
            .is_ok_and(|state| state.live().is_none())
    }
}

impl QuicTransport {
    /// [`Transport::dial`](crate::Transport::dial): a stream to `peer`, over the cached
    /// connection if there is a live one.
    pub(super) async fn dial_stream(
        &self,
        peer: &Keyed<SocketAddr>,
    ) -> Result<(QuicReader, QuicWriter), std::io::Error> {
        let inner = &self.inner;
        let endpoint = inner.endpoint(None)?;
        let key = (peer.addr, peer.key);
        let slot = inner.peers.slot(&key);
        let seen = slot.attempts.load(Ordering::Acquire);
        let mut state = slot.state.lock().await;
        let (conn, stream_use) = if let Some((conn, usage)) = state.live() {
            (conn.clone(), StreamUse::new(usage))
        } else {
            if slot.attempts.load(Ordering::Acquire) != seen
                && let Some(error) = state.last_error.clone()
            {
                // We waited behind a dial to this peer that just failed: share its answer.
                return Err(error.into());
            }
            slot.attempts.fetch_add(1, Ordering::AcqRel);
            // Cleared first, so a waiter behind an attempt that is cancelled midway makes
            // its own attempt instead of taking an older error.
            state.last_error = None;
            match self.connect(&endpoint, peer).await {
                Ok(conn) => {
                    let usage = Usage::new();
                    let stream_use = StreamUse::new(&usage);
                    state.conn = Some((conn.clone(), Arc::clone(&usage)));
                    state.last_error = None;
                    tokio::spawn(watch_connection(Watch {
                        conn: conn.clone(),
                        usage,
                        slot: Arc::clone(&slot),
                        peer: key,
                        peers: Arc::downgrade(&inner.peers),
                        linger: inner.config.linger,
                    }));
                    (conn, stream_use)
                }
                Err(error) => {
                    state.conn = None;
                    state.last_error = Some(error.clone());
                    drop(state);
                    inner.peers.forget(&key, &slot);
                    return Err(error.into());
                }
            }
        };
        drop(state);

        let timeout = inner.config.open_stream_timeout;
        let open = async {
            let (mut send, recv) =
                conn.open_bi()
                    .await
                    .map_err(|source| QuicError::Connection {
                        addr: peer.addr,
                        source,
                    })?;
            send.write_all(&[STREAM_OPEN])
                .await
                .map_err(|source| QuicError::Stream {
                    addr: peer.addr,
                    source,
                })?;
            Ok::<_, QuicError>((send, recv))
        };
        let (send, recv) = tokio::time::timeout(timeout, open).await.map_err(|_| {
            QuicError::OpenStreamTimeout {
                addr: peer.addr,
                timeout,
            }
        })??;
        inner
            .counters
            .streams_opened
            .fetch_add(1, Ordering::Relaxed);
        Ok(stream::halves(send, recv, Side::Dialled, stream_use))
    }

    /// A new connection to `peer`, its key checked.
    async fn connect(
        &self,
        endpoint: &quinn::Endpoint,
        peer: &Keyed<SocketAddr>,
    ) -> Result<quinn::Connection, QuicError> {
        let inner = &self.inner;
        let presented = Arc::new(Mutex::new(None));
        let tls = tls::client_config(&inner.certified, peer.key, Arc::clone(&presented))
            .map_err(|error| QuicError::Setup(format!("TLS client configuration: {error}")))?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(tls))
            .map_err(|error| QuicError::Setup(format!("QUIC client configuration: {error}")))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(Arc::clone(&inner.client_transport));
        let connecting = endpoint
            .connect_with(client, peer.addr, tls::SERVER_NAME)
            .map_err(|source| QuicError::Connect {
                addr: peer.addr,
                source,
            })?;
        let timeout = inner.config.handshake_timeout;
        let result = tokio::time::timeout(timeout, connecting).await;
        let presented = *presented.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(Ok(conn)) => {
                inner.counters.dialled.fetch_add(1, Ordering::Relaxed);
                Ok(conn)
            }
            Ok(Err(source)) => Err(match presented {
                Some(presented) if presented != peer.key => QuicError::WrongKey {
                    addr: peer.addr,
                    expected: Box::new(peer.key),
                    presented: Box::new(presented),
                },
                _ => QuicError::Connection {
                    addr: peer.addr,
                    source,
                },
            }),
            Err(_) => Err(QuicError::HandshakeTimeout {
                addr: peer.addr,
                timeout,
            }),
        }
    }
}

/// What a connection's watcher needs.
struct Watch {
    conn: quinn::Connection,
    usage: Arc<Usage>,
    slot: Arc<Slot>,
    peer: PeerKey,
    peers: Weak<Peers>,
    linger: Duration,
}

/// Closes the connection after [`Watch::linger`] without streams and drops the peer's slot
/// when the connection is gone.
///
/// It goes on after the transport is dropped: closing a connection at once could lose data
/// written on a stream just before it was dropped (quinn's close does not wait for it).
async fn watch_connection(watch: Watch) {
    loop {
        tokio::select! {
            _ = watch.conn.closed() => break,
            () = tokio::time::sleep(watch.linger) => {}
        }
        // A dial holding the lock may be about to open a stream: look again later.
        let Ok(mut state) = watch.slot.state.try_lock() else {
            continue;
        };
        let idle = watch.usage.idle_for(watch.linger);
        let ours = state
            .conn
            .as_ref()
            .is_some_and(|(conn, _)| conn.stable_id() == watch.conn.stable_id());
        if idle && ours {
            tracing::trace!(peer = %watch.peer.0, "closing idle QUIC connection");
            watch.conn.close(IDLE_CLOSE, b"idle");
            state.conn = None;
            break;
        }
    }
    if let Some(peers) = watch.peers.upgrade() {
        peers.forget(&watch.peer, &watch.slot);
    }
}
