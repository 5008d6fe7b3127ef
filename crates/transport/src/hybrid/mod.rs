//! One port, two worlds: plain levin for monerod, Umbra's encrypted transports for Umbra
//! peers.
//!
//! [`HybridTransport`] is the transport of a node on the public internet. Its address,
//! [`PeerAddr`], is a socket address with, for an Umbra peer, the peer's identity key:
//!
//! - **dialling** an address without a key speaks plain levin (monerod); with a key it
//!   speaks Umbra's [Noise transport](crate::noise) over TCP, or QUIC when both sides run
//!   it, and the peer must prove the key;
//! - **listening**, every accepted TCP connection is sniffed: a connection whose first
//!   eight bytes are levin's signature goes to the monerod-compatible path, anything else
//!   is answered as a Noise responder (which stays silent and closes after a random delay
//!   on bytes that do not authenticate). With QUIC on, the same port number over UDP
//!   accepts QUIC streams too;
//! - **stealth mode** ([`HybridConfig::plain_levin`] off) turns plain levin off both ways:
//!   the port answers Umbra peers only (a levin handshake gets the same silence as
//!   garbage), and addresses without a key are never dialled.
//!
//! Sniffing and the Noise handshake of inbound connections run in tasks of the listener,
//! at most [`HybridConfig::max_pending`] at once and [`HybridConfig::max_pending_per_ip`]
//! from one address (a refused handshake keeps its place through its silent close);
//! beyond that a new connection is closed at once (and counted).
//!
//! # Example
//!
//! ```
//! use futures::StreamExt;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use umbra_identity::Identity;
//! use umbra_transport::{LocalAddr, Transport, hybrid::{HybridConfig, HybridTransport, PeerAddr}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = HybridTransport::tcp(Identity::generate(), HybridConfig::default());
//! let client = HybridTransport::tcp(Identity::generate(), HybridConfig::default());
//! let mut listener = server.listen(&PeerAddr::plain("127.0.0.1:0".parse()?)).await?;
//! // The server's address with its key: the client dials it encrypted.
//! let addr = listener.local_addr()?;
//! assert_eq!(addr.key(), Some(server.public_key()));
//! let (_reader, mut writer) = client.dial(&addr).await?;
//! writer.write_all(b"hello").await?;
//! writer.flush().await?;
//! let (mut reader, _writer, from) = listener.next().await.ok_or("listener ended")??;
//! assert_eq!(from.key(), Some(client.public_key()));
//! let mut buf = [0u8; 5];
//! reader.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"hello");
//! # Ok(())
//! # }
//! ```

mod addr;
mod io;
mod prefixed;

use std::{
    collections::HashMap,
    io as std_io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt};
use tokio::{
    io::AsyncReadExt,
    sync::{Semaphore, mpsc},
    task::JoinSet,
};
use umbra_identity::{Identity, PublicKey};

pub use self::{
    addr::{BaseAddr, PeerAddr, UmbraPeer, transports},
    io::{HybridReader, HybridWriter},
    prefixed::Prefixed,
};
#[cfg(feature = "quic")]
use crate::{Keyed, quic::QuicTransport};
use crate::{LocalAddr, Tcp, Transport, noise};

/// The first eight bytes of every levin message (its signature, `0x0101010101012101`
/// little-endian): what a plain monerod peer sends first.
pub const LEVIN_SIGNATURE: [u8; 8] = [0x01, 0x21, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01];

/// Settings of a [`HybridTransport`].
#[derive(Debug, Clone)]
pub struct HybridConfig {
    /// Whether plain levin is spoken at all. `false` is **stealth mode**: inbound levin
    /// gets the silence any bytes that do not authenticate get, and peers without a key
    /// are never dialled.
    ///
    /// Default: `true`.
    pub plain_levin: bool,
    /// Whether to dial Umbra peers that accept QUIC over QUIC (when a QUIC transport is
    /// attached) rather than Noise over TCP.
    ///
    /// Default: `false`.
    pub prefer_quic: bool,
    /// How long an inbound connection may take to send the eight bytes that tell levin
    /// from Noise; after that it is handed to the Noise responder with what it sent.
    ///
    /// Default: 10 seconds.
    pub sniff_timeout: Duration,
    /// Inbound connections being sniffed, in their Noise handshake, or held silent after
    /// a failed one (see [`noise::Config::probe_close_delay`]) at once.
    ///
    /// Default: 256.
    pub max_pending: usize,
    /// The same, from one IP address: a single prober holding connections open in the
    /// silent close cannot take every place.
    ///
    /// Default: 16.
    pub max_pending_per_ip: usize,
    /// Accepted connections waiting for the consumer of the listener.
    ///
    /// Default: 32.
    pub accept_queue: usize,
    /// The Noise transport's settings (padding, jitter, rekeying, probing resistance).
    pub noise: noise::Config,
}

impl Default for HybridConfig {
    fn default() -> Self {
        Self {
            plain_levin: true,
            prefer_quic: false,
            sniff_timeout: Duration::from_secs(10),
            max_pending: 256,
            max_pending_per_ip: 16,
            accept_queue: 32,
            noise: noise::Config::default(),
        }
    }
}

/// Counters of a [`HybridTransport`]'s listeners.
#[derive(Debug, Default)]
struct Counters {
    plain: AtomicU64,
    encrypted: AtomicU64,
    refused: AtomicU64,
    overloaded: AtomicU64,
}

/// What a [`HybridTransport`]'s listeners have accepted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HybridStats {
    /// Connections that spoke plain levin.
    pub plain: u64,
    /// Connections that completed an Umbra handshake (Noise or QUIC).
    pub encrypted: u64,
    /// Connections that did neither (garbage, probes, levin in stealth mode, timeouts):
    /// each got silence and a close after a random delay.
    pub refused: u64,
    /// Connections closed at once because `max_pending` (or `max_pending_per_ip` from
    /// their address) were being sniffed.
    pub overloaded: u64,
}

/// Plain levin and Umbra's encrypted transports on one port; see the [module docs](self).
///
/// `B` is the byte-stream transport underneath (TCP; tests use
/// [`MemoryTransport`](crate::memory::MemoryTransport)).
#[derive(Debug)]
pub struct HybridTransport<B = Tcp> {
    inner: Arc<Inner<B>>,
}

impl<B> Clone for HybridTransport<B> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

#[derive(Debug)]
struct Inner<B> {
    base: B,
    identity: Identity,
    config: HybridConfig,
    responder: noise::Responder,
    counters: Counters,
    /// Inbound connections being sniffed, per source IP (an entry exists only while one
    /// is, so at most `max_pending` entries).
    pending_per_ip: Mutex<HashMap<IpAddr, usize>>,
    #[cfg(feature = "quic")]
    quic: Option<QuicTransport>,
}

/// One place of an IP address among the connections being sniffed; given back on drop.
/// Connections without a source address (Tor) take no such place.
struct IpPlace<B> {
    inner: Arc<Inner<B>>,
    ip: Option<IpAddr>,
}

impl<B> IpPlace<B> {
    /// A place for `ip`, unless it has `max_pending_per_ip` already.
    fn take(inner: &Arc<Inner<B>>, ip: Option<IpAddr>) -> Option<Self> {
        let Some(ip) = ip else {
            return Some(Self {
                inner: Arc::clone(inner),
                ip: None,
            });
        };
        let mut pending = inner
            .pending_per_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = pending.entry(ip).or_insert(0);
        if *count >= inner.config.max_pending_per_ip.max(1) {
            return None;
        }
        *count += 1;
        Some(Self {
            inner: Arc::clone(inner),
            ip: Some(ip),
        })
    }
}

impl<B> Drop for IpPlace<B> {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut pending = self
            .inner
            .pending_per_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = pending.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                pending.remove(&ip);
            }
        }
    }
}

impl HybridTransport<Tcp> {
    /// Over TCP with the default connect timeout.
    #[must_use]
    pub fn tcp(identity: Identity, config: HybridConfig) -> Self {
        Self::new(Tcp::default(), identity, config)
    }
}

impl<B: Transport> HybridTransport<B>
where
    B::Addr: BaseAddr,
{
    /// Over `base`, authenticating as `identity`.
    #[must_use]
    pub fn new(base: B, identity: Identity, config: HybridConfig) -> Self {
        Self::build(
            base,
            identity,
            config,
            #[cfg(feature = "quic")]
            None,
        )
    }
}

impl<B: Transport<Addr = SocketAddr>> HybridTransport<B> {
    /// Over `base`, with `quic` for Umbra peers that accept QUIC. `quic` must hold the
    /// same identity; [`Transport::listen`] then also listens for QUIC on the same port
    /// number over UDP.
    #[cfg(feature = "quic")]
    #[must_use]
    pub fn with_quic(
        base: B,
        identity: Identity,
        config: HybridConfig,
        quic: QuicTransport,
    ) -> Self {
        Self::build(base, identity, config, Some(quic))
    }
}

impl<B: Transport> HybridTransport<B>
where
    B::Addr: BaseAddr,
{
    fn build(
        base: B,
        identity: Identity,
        config: HybridConfig,
        #[cfg(feature = "quic")] quic: Option<QuicTransport>,
    ) -> Self {
        let responder = noise::Responder::new(&config.noise);
        Self {
            inner: Arc::new(Inner {
                base,
                identity,
                config,
                responder,
                counters: Counters::default(),
                pending_per_ip: Mutex::new(HashMap::new()),
                #[cfg(feature = "quic")]
                quic,
            }),
        }
    }

    /// Our public identity key: what peers dial us with.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.inner.identity.public()
    }

    /// The Umbra transports we accept ([`transports`] flags), to advertise.
    #[must_use]
    pub fn transports(&self) -> u32 {
        #[cfg(feature = "quic")]
        if self.inner.quic.is_some() {
            return transports::NOISE_TCP | transports::QUIC;
        }
        transports::NOISE_TCP
    }

    /// Whether plain levin is off (stealth mode).
    #[must_use]
    pub fn is_stealth(&self) -> bool {
        !self.inner.config.plain_levin
    }

    /// What the listeners have accepted so far.
    #[must_use]
    pub fn stats(&self) -> HybridStats {
        let c = &self.inner.counters;
        HybridStats {
            plain: c.plain.load(Ordering::Relaxed),
            encrypted: c.encrypted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
        }
    }

    /// The Noise transport's counters (handshakes, failures by reason, rejected records).
    #[must_use]
    pub fn noise_stats(&self) -> noise::NoiseStatsSnapshot {
        self.inner.responder.stats().snapshot()
    }

    async fn dial_noise(
        &self,
        addr: &B::Addr,
        key: &PublicKey,
    ) -> std_io::Result<(HybridReader<B::Reader>, HybridWriter<B::Writer>)> {
        let (reader, writer) = self.inner.base.dial(addr).await?;
        let (reader, writer, _session) = noise::initiate(
            Prefixed::plain(reader),
            writer,
            &self.inner.identity,
            key,
            &self.inner.config.noise,
            self.inner.responder.stats(),
        )
        .await
        .map_err(std_io::Error::from)?;
        Ok((
            HybridReader::Noise(Box::new(reader)),
            HybridWriter::Noise(Box::new(writer)),
        ))
    }
}

impl<B: Transport> Transport for HybridTransport<B>
where
    B::Addr: BaseAddr,
{
    type Addr = PeerAddr<B::Addr>;
    type Reader = HybridReader<B::Reader>;
    type Writer = HybridWriter<B::Writer>;
    type Listener = HybridListener<B>;

    async fn dial(&self, addr: &PeerAddr<B::Addr>) -> std_io::Result<(Self::Reader, Self::Writer)> {
        let Some(peer) = addr.umbra else {
            if !self.inner.config.plain_levin {
                return Err(std_io::Error::new(
                    std_io::ErrorKind::PermissionDenied,
                    format!("stealth mode: plain levin is off and {addr} has no Umbra key"),
                ));
            }
            let (reader, writer) = self.inner.base.dial(&addr.addr).await?;
            return Ok((
                HybridReader::Plain(Prefixed::plain(reader)),
                HybridWriter::Plain(writer),
            ));
        };
        #[cfg(feature = "quic")]
        if let Some(quic) = &self.inner.quic
            && self.inner.config.prefer_quic
            && peer.transports & transports::QUIC != 0
            && let Some(socket) = addr.addr.socket_addr()
        {
            let result = quic.dial(&Keyed::new(socket, peer.key)).await;
            match result {
                Ok((reader, writer)) => {
                    return Ok((
                        HybridReader::Quic(Box::new(reader)),
                        HybridWriter::Quic(Box::new(writer)),
                    ));
                }
                Err(error) if peer.transports & transports::NOISE_TCP != 0 => {
                    tracing::debug!(%addr, %error, "QUIC dial failed; trying Noise over TCP");
                }
                Err(error) => return Err(error),
            }
        }
        if peer.transports & transports::NOISE_TCP == 0 {
            return Err(std_io::Error::new(
                std_io::ErrorKind::Unsupported,
                format!("{addr} accepts no Umbra transport we can dial"),
            ));
        }
        self.dial_noise(&addr.addr, &peer.key).await
    }

    async fn listen(&self, addr: &PeerAddr<B::Addr>) -> std_io::Result<HybridListener<B>> {
        let base = self.inner.base.listen(&addr.addr).await?;
        let local = base.local_addr()?;
        let (tx, rx) = mpsc::channel(self.inner.config.accept_queue.max(1));
        let mut tasks = JoinSet::new();
        #[cfg(feature = "quic")]
        if let Some(quic) = &self.inner.quic
            && let Some(socket) = local.socket_addr()
        {
            let listener = quic.listen(&Keyed::new(socket, self.public_key())).await?;
            tasks.spawn(forward_quic(listener, tx.clone(), Arc::clone(&self.inner)));
        }
        tasks.spawn(accept_loop(base, tx, Arc::clone(&self.inner)));
        Ok(HybridListener {
            rx,
            local: PeerAddr {
                addr: local,
                umbra: Some(UmbraPeer {
                    key: self.public_key(),
                    transports: self.transports(),
                }),
            },
            _tasks: tasks,
        })
    }
}

type Accepted<B> = std_io::Result<(
    HybridReader<<B as Transport>::Reader>,
    HybridWriter<<B as Transport>::Writer>,
    PeerAddr<<B as Transport>::Addr>,
)>;

/// Accepts base connections and sniffs each in its own task (bounded).
async fn accept_loop<B: Transport>(
    mut base: B::Listener,
    tx: mpsc::Sender<Accepted<B>>,
    inner: Arc<Inner<B>>,
) where
    B::Addr: BaseAddr,
{
    let pending = Arc::new(Semaphore::new(inner.config.max_pending.max(1)));
    let mut sniffing = JoinSet::new();
    loop {
        let next = tokio::select! {
            next = base.next() => next,
            // Reap finished sniff tasks so the set does not grow.
            Some(_) = sniffing.join_next(), if !sniffing.is_empty() => continue,
            () = tx.closed() => return,
        };
        let Some(accepted) = next else { return };
        let (reader, writer, from) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if tx.send(Err(error)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&pending).try_acquire_owned() else {
            inner.counters.overloaded.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%from, "too many inbound connections being sniffed; closed");
            continue;
        };
        let Some(place) = IpPlace::take(&inner, from.source_ip()) else {
            inner.counters.overloaded.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%from, "too many inbound connections being sniffed from this address; closed");
            continue;
        };
        let tx = tx.clone();
        let inner = Arc::clone(&inner);
        sniffing.spawn(async move {
            let accepted = sniff::<B>(reader, writer, from, &inner).await;
            drop((permit, place));
            if let Some(accepted) = accepted {
                let _ = tx.send(Ok(accepted)).await;
            }
        });
    }
}

/// Tells levin from Noise on one inbound connection; `None` if it was neither (the Noise
/// responder has already kept silent and closed it after a random delay).
async fn sniff<B: Transport>(
    mut reader: B::Reader,
    writer: B::Writer,
    from: B::Addr,
    inner: &Inner<B>,
) -> Option<(
    HybridReader<B::Reader>,
    HybridWriter<B::Writer>,
    PeerAddr<B::Addr>,
)>
where
    B::Addr: BaseAddr,
{
    let mut first = [0u8; LEVIN_SIGNATURE.len()];
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + inner.config.sniff_timeout;
    while got < first.len() {
        let Some(rest) = first.get_mut(got..) else {
            break;
        };
        match tokio::time::timeout_at(deadline, reader.read(rest)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                inner.counters.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Ok(Ok(n)) => got += n,
            Err(_) => break,
        }
    }
    let prefix = first.get(..got).unwrap_or_default().to_vec();
    if inner.config.plain_levin && prefix == LEVIN_SIGNATURE {
        inner.counters.plain.fetch_add(1, Ordering::Relaxed);
        return Some((
            HybridReader::Plain(Prefixed::new(prefix, reader)),
            HybridWriter::Plain(writer),
            PeerAddr::plain(from),
        ));
    }
    match noise::respond(
        Prefixed::new(prefix, reader),
        writer,
        &inner.identity,
        &inner.config.noise,
        &inner.responder,
    )
    .await
    {
        Ok((reader, writer, session)) => {
            inner.counters.encrypted.fetch_add(1, Ordering::Relaxed);
            Some((
                HybridReader::Noise(Box::new(reader)),
                HybridWriter::Noise(Box::new(writer)),
                PeerAddr::umbra(from, session.remote_key()),
            ))
        }
        Err(error) => {
            inner.counters.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%from, %error, "inbound connection spoke neither levin nor Umbra");
            None
        }
    }
}

/// Passes QUIC streams on as connections.
#[cfg(feature = "quic")]
async fn forward_quic<B: Transport>(
    mut listener: <QuicTransport as Transport>::Listener,
    tx: mpsc::Sender<Accepted<B>>,
    inner: Arc<Inner<B>>,
) where
    B::Addr: BaseAddr,
{
    loop {
        let next = tokio::select! {
            next = listener.next() => next,
            () = tx.closed() => return,
        };
        let Some(accepted) = next else { return };
        let accepted = accepted.and_then(|(reader, writer, from)| {
            let addr = B::Addr::from_socket_addr(from.addr).ok_or_else(|| {
                std_io::Error::other("a QUIC connection on a network without socket addresses")
            })?;
            inner.counters.encrypted.fetch_add(1, Ordering::Relaxed);
            Ok((
                HybridReader::Quic(Box::new(reader)),
                HybridWriter::Quic(Box::new(writer)),
                PeerAddr {
                    addr,
                    umbra: Some(UmbraPeer {
                        key: from.key,
                        transports: transports::QUIC,
                    }),
                },
            ))
        });
        if tx.send(accepted).await.is_err() {
            return;
        }
    }
}

/// Connections accepted by a [`HybridTransport`]: plain levin and Umbra sessions alike.
/// Dropping it stops accepting and abandons connections still being sniffed.
#[derive(Debug)]
pub struct HybridListener<B: Transport> {
    rx: mpsc::Receiver<Accepted<B>>,
    local: PeerAddr<B::Addr>,
    _tasks: JoinSet<()>,
}

impl<B: Transport> LocalAddr<PeerAddr<B::Addr>> for HybridListener<B> {
    fn local_addr(&self) -> std_io::Result<PeerAddr<B::Addr>> {
        Ok(self.local.clone())
    }
}

impl<B: Transport> Stream for HybridListener<B>
where
    B::Addr: BaseAddr,
{
    type Item = Accepted<B>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
