//! Accepting: connections from any Umbra identity, every stream of them a connection for
//! the listener.
//!
//! One accept task per socket (started with the socket) takes incoming connections and
//! hands each to a task of its own, which finishes the handshake, learns the peer's key and
//! passes every bidirectional stream the peer opens into the listener's bounded queue. With
//! no listener the socket has no server configuration, so quinn refuses connections itself.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use rustls::pki_types::CertificateDer;
use tokio::sync::{mpsc, watch};
use umbra_identity::PublicKey;

use super::{
    QuicTransport,
    stream::{self, QuicReader, QuicWriter, Side, StreamUse, Usage},
    tls,
};
use crate::{Keyed, LocalAddr};

/// One accepted stream: its halves and who opened it.
pub(crate) type Accepted = (QuicReader, QuicWriter, Keyed<SocketAddr>);

/// Where accepted streams go while a listener exists.
#[derive(Debug)]
pub(crate) struct Sink {
    id: u64,
    tx: mpsc::Sender<Accepted>,
}

/// The listener currently taking streams, if any; shared by the transport and the accept task.
pub(crate) type CurrentSink = Arc<Mutex<Option<Sink>>>;

fn lock(current: &CurrentSink) -> std::sync::MutexGuard<'_, Option<Sink>> {
    // The value is replaced whole: it is consistent even after a panic.
    current.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes the current listener's sink away (its stream ends once the tasks holding clones of
/// the sender are gone).
pub(crate) fn take_sink(current: &CurrentSink) -> Option<Sink> {
    lock(current).take()
}

/// Counters, shared with the tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dialled: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) handshakes_failed: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) streams_opened: AtomicU64,
    pub(crate) streams_accepted: AtomicU64,
    /// Accepted connections being served now (bounded by `max_connections`).
    pub(crate) serving: AtomicUsize,
}

/// Accepted streams from peers proving any Umbra identity.
///
/// Each item is a stream a peer opened with [`Transport::dial`](crate::Transport::dial),
/// its two halves, and `Keyed { addr: the peer's UDP address, key: the key its certificate
/// proved }`. The stream never ends by itself and has no `Err` items: connections that fail
/// their handshake are counted in [`QuicStats::handshakes_failed`](super::QuicStats) and
/// logged at `debug`.
///
/// Dropping the listener stops accepting: new connections are refused, new streams on
/// connections already accepted are reset, and streams already handed out go on (their
/// connections close once they have had no stream for [`QuicConfig::linger`](super::QuicConfig::linger)).
#[derive(Debug)]
pub struct QuicListener {
    transport: QuicTransport,
    endpoint: quinn::Endpoint,
    id: u64,
    rx: mpsc::Receiver<Accepted>,
    local: Keyed<SocketAddr>,
}

impl QuicTransport {
    /// [`Transport::listen`](crate::Transport::listen).
    pub(super) fn start_listening(&self, addr: &Keyed<SocketAddr>) -> io::Result<QuicListener> {
        let inner = &self.inner;
        if addr.key != inner.own {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot listen as key {}: this QUIC transport's identity is {}",
                    addr.key, inner.own
                ),
            ));
        }
        let endpoint = inner.endpoint(Some(addr.addr))?;
        let local = Keyed::new(endpoint.local_addr()?, inner.own);
        let (tx, rx) = mpsc::channel(inner.config.accept_queue);
        let id = inner.next_listener.fetch_add(1, Ordering::Relaxed);
        {
            let mut current = lock(&inner.listener);
            if current.as_ref().is_some_and(|sink| !sink.tx.is_closed()) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("this QUIC transport already listens on {}", local.addr),
                ));
            }
            *current = Some(Sink { id, tx });
            endpoint.set_server_config(Some(inner.server.clone()));
        }
        Ok(QuicListener {
            transport: self.clone(),
            endpoint,
            id,
            rx,
            local,
        })
    }
}

impl Drop for QuicListener {
    fn drop(&mut self) {
        let mut current = lock(&self.transport.inner.listener);
        if current.as_ref().is_some_and(|sink| sink.id == self.id) {
            *current = None;
            self.endpoint.set_server_config(None);
        }
    }
}

impl QuicListener {
    /// The transport this listener belongs to (dials from it leave from the same socket).
    #[must_use]
    pub fn transport(&self) -> &QuicTransport {
        &self.transport
    }
}

impl LocalAddr<Keyed<SocketAddr>> for QuicListener {
    /// The bound socket and our own key: what peers dial to reach us.
    fn local_addr(&self) -> io::Result<Keyed<SocketAddr>> {
        Ok(self.local.clone())
    }
}

impl Stream for QuicListener {
    type Item = io::Result<Accepted>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx).map(|item| item.map(Ok))
    }
}

/// What the accept task needs.
pub(crate) struct AcceptTask {
    pub(crate) endpoint: quinn::Endpoint,
    pub(crate) current: CurrentSink,
    /// Ends (with an error) when the transport is dropped.
    pub(crate) shutdown: watch::Receiver<()>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) linger: Duration,
    pub(crate) max_connections: usize,
}

/// Takes incoming connections until the socket closes or the transport is dropped.
pub(crate) async fn accept_loop(mut task: AcceptTask) {
    loop {
        let incoming = tokio::select! {
            biased;
            _ = task.shutdown.changed() => break,
            incoming = task.endpoint.accept() => incoming,
        };
        let Some(incoming) = incoming else {
            break;
        };
        let tx = lock(&task.current)
            .as_ref()
            .filter(|sink| !sink.tx.is_closed())
            .map(|sink| sink.tx.clone());
        let Some(tx) = tx else {
            task.counters.refused.fetch_add(1, Ordering::Relaxed);
            incoming.refuse();
            continue;
        };
        let Some(slot) = ServingSlot::take(&task.counters, task.max_connections) else {
            tracing::debug!(from = %incoming.remote_address(), "QUIC connection limit reached; refusing");
            task.counters.refused.fetch_add(1, Ordering::Relaxed);
            incoming.refuse();
            continue;
        };
        tokio::spawn(serve(
            incoming,
            tx,
            slot,
            task.handshake_timeout,
            task.linger,
        ));
    }
}

/// One accepted connection counted against `max_connections` until its task ends.
struct ServingSlot {
    counters: Arc<Counters>,
}

impl ServingSlot {
    fn take(counters: &Arc<Counters>, max: usize) -> Option<Self> {
        counters
            .serving
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |serving| {
                (serving < max).then_some(serving + 1)
            })
            .ok()?;
        Some(Self {
            counters: Arc::clone(counters),
        })
    }
}

impl Drop for ServingSlot {
    fn drop(&mut self) {
        self.counters.serving.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The application error code of a stream that arrives when no listener takes it.
const NOT_LISTENING: quinn::VarInt = quinn::VarInt::from_u32(1);

/// Finishes one connection's handshake and hands its streams to the listener.
///
/// When the listener is gone, streams the peer opens are reset at once, and the connection
/// is closed once it has had no stream for `linger` (not at once: data written on a stream
/// just before it was dropped must still reach the peer). Otherwise the connection lasts
/// until the peer closes it (its dialler lingers the same way) or it times out.
async fn serve(
    incoming: quinn::Incoming,
    tx: mpsc::Sender<Accepted>,
    slot: ServingSlot,
    handshake_timeout: Duration,
    linger: Duration,
) {
    let counters = Arc::clone(&slot.counters);
    let remote = incoming.remote_address();
    let failed = |reason: &dyn std::fmt::Display| {
        tracing::debug!(from = %remote, %reason, "QUIC handshake failed");
        counters.handshakes_failed.fetch_add(1, Ordering::Relaxed);
    };
    let connecting = match incoming.accept() {
        Ok(connecting) => connecting,
        Err(error) => return failed(&error),
    };
    let conn = match tokio::time::timeout(handshake_timeout, connecting).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => return failed(&error),
        Err(_) => return failed(&"timed out"),
    };
    let Some(key) = peer_key(&conn) else {
        // The verifier accepted the certificate, so this does not happen; refuse anyway.
        conn.close(quinn::VarInt::from_u32(1), b"no identity");
        return failed(&"no usable certificate after the handshake");
    };
    counters.accepted.fetch_add(1, Ordering::Relaxed);
    let from = Keyed::new(remote, key);
    let usage = Usage::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = tx.closed() => break,
            accepted = conn.accept_bi() => accepted,
        };
        let (send, recv) = match accepted {
            Ok(stream) => stream,
            Err(error) => {
                tracing::trace!(from = %from, %error, "QUIC connection ended");
                return;
            }
        };
        counters.streams_accepted.fetch_add(1, Ordering::Relaxed);
        let (reader, writer) = stream::halves(send, recv, Side::Accepted, StreamUse::new(&usage));
        // Waits while the queue is full; fails only when the listener is gone.
        if tx.send((reader, writer, from.clone())).await.is_err() {
            break;
        }
    }
    // The listener is gone.
    drop(tx);
    loop {
        tokio::select! {
            _ = conn.closed() => break,
            accepted = conn.accept_bi() => match accepted {
                Ok((mut send, mut recv)) => {
                    // Already reset or stopped is all the same here.
                    let _ = send.reset(NOT_LISTENING);
                    let _ = recv.stop(NOT_LISTENING);
                }
                Err(_) => break,
            },
            () = tokio::time::sleep(linger) => {
                if usage.idle_for(linger) {
                    conn.close(NOT_LISTENING, b"not listening");
                    break;
                }
            }
        }
    }
    drop(slot);
}

/// The key the peer's (already verified) certificate carries.
fn peer_key(conn: &quinn::Connection) -> Option<PublicKey> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    tls::certificate_key(certs.first()?).ok()
}
