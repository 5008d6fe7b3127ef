//! rust-libp2p's TCP + Noise + yamux stack, without a `Swarm`: the transport is built as
//! libp2p builds it (`tcp::tokio::Transport` → `upgrade(V1)` → `authenticate(noise)` →
//! `multiplex(yamux)`, every part with its default configuration, `TCP_NODELAY` on), one
//! connection is dialled, and each stream is a raw yamux substream on it (no protocol
//! negotiation per substream). `streams` streams are `streams` substreams on one
//! connection.
//!
//! A yamux connection makes progress only while its [`StreamMuxer`] is polled, so each
//! end's muxer lives in a driver task (as in libp2p's own connection tasks) that polls
//! it, opens outbound substreams on request and queues inbound ones (bounded).
//!
//! [`StreamMuxer`]: libp2p::core::StreamMuxer

use std::{future::poll_fn, task::Poll, time::Duration};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Transport,
    core::{
        Endpoint,
        muxing::{StreamMuxerBox, StreamMuxerExt, SubstreamBox},
        transport::{Boxed, DialOpts, ListenerId, PortUse, TransportEvent},
        upgrade,
    },
    identity::Keypair,
    noise, tcp, yamux,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    runtime::Handle,
    sync::{mpsc, oneshot},
};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::{
    BenchError, BoxIo, Connected, Pair, Result,
    sides::{AbortOnDrop, Sides, on},
    within,
};

/// Inbound substreams waiting to be taken; beyond this they are dropped (the harness
/// never opens more than a handful at once).
const INBOUND_QUEUE: usize = 64;

/// Requests for outbound substreams waiting for the driver.
const OPEN_QUEUE: usize = 16;

/// The reply to a request for an outbound substream.
type OpenReply = oneshot::Sender<std::result::Result<SubstreamBox, String>>;

/// The libp2p transport: TCP (`TCP_NODELAY`), multistream-select V1, Noise XX, yamux.
///
/// # Errors
/// If the Noise configuration cannot be made from `keypair`.
pub fn transport(keypair: &Keypair) -> Result<Boxed<(PeerId, StreamMuxerBox)>> {
    Ok(tcp::tokio::Transport::new(tcp::Config::new().nodelay(true))
        .upgrade(upgrade::Version::V1)
        .authenticate(noise::Config::new(keypair)?)
        .multiplex(yamux::Config::default())
        .boxed())
}

/// One end of a libp2p connection: asks its driver task for substreams.
struct MuxerHandle {
    open: mpsc::Sender<OpenReply>,
    inbound: mpsc::Receiver<SubstreamBox>,
    _driver: AbortOnDrop<()>,
}

impl MuxerHandle {
    /// Drives `muxer` in a task on `runtime`.
    fn spawn(runtime: &Handle, muxer: StreamMuxerBox) -> Self {
        let (open, requests) = mpsc::channel(OPEN_QUEUE);
        let (queue, inbound) = mpsc::channel(INBOUND_QUEUE);
        let driver = runtime.spawn(drive(muxer, requests, queue));
        Self {
            open,
            inbound,
            _driver: AbortOnDrop(driver),
        }
    }

    async fn open(&self, limit: Duration) -> Result<SubstreamBox> {
        let (reply, answer) = oneshot::channel();
        within(limit, "libp2p open substream", async {
            self.open
                .send(reply)
                .await
                .map_err(|_| "the libp2p connection is gone")?;
            answer
                .await
                .map_err(|_| BenchError::from("the libp2p connection is gone"))?
                .map_err(BenchError::from)
        })
        .await
    }

    async fn accept(&mut self, limit: Duration) -> Result<SubstreamBox> {
        within(limit, "libp2p accept substream", async {
            self.inbound
                .recv()
                .await
                .ok_or_else(|| BenchError::from("the libp2p connection is gone"))
        })
        .await
    }
}

/// Polls `muxer` until the connection fails: drives it, answers requests for outbound
/// substreams one at a time, and queues inbound substreams.
async fn drive(
    mut muxer: StreamMuxerBox,
    mut requests: mpsc::Receiver<OpenReply>,
    inbound: mpsc::Sender<SubstreamBox>,
) {
    let mut pending: Option<OpenReply> = None;
    let mut no_more_requests = false;
    poll_fn(|cx| {
        loop {
            // The connection's own progress: must be polled unconditionally.
            match muxer.poll_unpin(cx) {
                // The connection failed: its substreams see I/O errors, which the
                // harness reports.
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(_address_change)) => continue,
                Poll::Pending => {}
            }
            match muxer.poll_inbound_unpin(cx) {
                Poll::Ready(Ok(substream)) => {
                    // Full queue: the substream is dropped (reset), which the harness
                    // never provokes.
                    let _ = inbound.try_send(substream);
                    continue;
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {}
            }
            if pending.is_none() && !no_more_requests {
                match requests.poll_recv(cx) {
                    Poll::Ready(Some(reply)) => pending = Some(reply),
                    Poll::Ready(None) => no_more_requests = true,
                    Poll::Pending => {}
                }
            }
            if let Some(reply) = pending.take() {
                match muxer.poll_outbound_unpin(cx) {
                    Poll::Ready(result) => {
                        let _ = reply.send(result.map_err(|error| error.to_string()));
                        continue;
                    }
                    Poll::Pending => pending = Some(reply),
                }
            }
            return Poll::Pending;
        }
    })
    .await;
}

/// The next event of `transport` that `pick` wants (others are skipped).
async fn next_event<T>(
    transport: &mut Boxed<(PeerId, StreamMuxerBox)>,
    mut pick: impl FnMut(
        TransportEvent<
            <Boxed<(PeerId, StreamMuxerBox)> as Transport>::ListenerUpgrade,
            std::io::Error,
        >,
    ) -> Option<Result<T>>,
) -> Result<T> {
    loop {
        let event = transport
            .next()
            .await
            .ok_or_else(|| BenchError::from("the libp2p transport ended"))?;
        if let Some(result) = pick(event) {
            return result;
        }
    }
}

/// The listening peer, on its own runtime: listens on `127.0.0.1`, tells `addr` where,
/// accepts one connection and upgrades it (Noise, yamux).
async fn listen_and_accept(
    addr: oneshot::Sender<Multiaddr>,
) -> Result<(Boxed<(PeerId, StreamMuxerBox)>, StreamMuxerBox)> {
    let mut server = transport(&Keypair::generate_ed25519())?;
    let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse()?;
    server.listen_on(ListenerId::next(), listen)?;
    let listening = next_event(&mut server, |event| match event {
        TransportEvent::NewAddress { listen_addr, .. } => Some(Ok(listen_addr)),
        TransportEvent::ListenerError { error, .. } => Some(Err(error.into())),
        TransportEvent::ListenerClosed { .. } => Some(Err("listener closed".into())),
        _ => None,
    })
    .await?;
    addr.send(listening)
        .map_err(|_| "nobody waits for the libp2p address")?;
    let upgrade = next_event(&mut server, |event| match event {
        TransportEvent::Incoming { upgrade, .. } => Some(Ok(upgrade)),
        TransportEvent::ListenerError { error, .. } => Some(Err(error.into())),
        TransportEvent::ListenerClosed { .. } => Some(Err("listener closed".into())),
        _ => None,
    })
    .await?;
    let (_peer, muxer) = upgrade.await?;
    Ok((server, muxer))
}

/// Opens one libp2p connection to a listener on `127.0.0.1` and `streams` yamux
/// substreams on it. Each peer's transport and muxer driver run on its side's runtime.
///
/// # Errors
/// Any transport, Noise or yamux error, or `limit` passing.
pub async fn connect(sides: &Sides, streams: usize, limit: Duration) -> Result<Connected> {
    let (addr, listening) = oneshot::channel();
    let mut accepting = AbortOnDrop(sides.server.spawn(listen_and_accept(addr)));
    let addr = within(limit, "libp2p listen", listening).await?;
    let (client_transport, client_muxer) = on(
        &sides.client,
        limit,
        "libp2p dial (TCP, Noise, yamux)",
        async move {
            let mut client = transport(&Keypair::generate_ed25519())?;
            let dial = client.dial(
                addr,
                DialOpts {
                    role: Endpoint::Dialer,
                    port_use: PortUse::New,
                },
            )?;
            let (_peer, muxer) = dial.await?;
            Ok::<_, BenchError>((client, muxer))
        },
    )
    .await?;
    let (server_transport, server_muxer) = within(limit, "libp2p accept", async {
        (&mut accepting.0)
            .await
            .map_err(|error| BenchError::from(format!("task failed: {error}")))?
    })
    .await?;
    let dialler = MuxerHandle::spawn(&sides.client, client_muxer);
    let mut listener = MuxerHandle::spawn(&sides.server, server_muxer);

    let mut pairs = Vec::with_capacity(streams);
    for _ in 0..streams {
        let mut client = dialler.open(limit).await?.compat();
        // yamux tells the peer about a substream with its first frame: send a byte, then
        // take the substream on the other end and check the byte.
        within(limit, "libp2p first byte", async {
            client.write_all(&[0x42]).await?;
            client.flush().await
        })
        .await?;
        let mut server = listener.accept(limit).await?.compat();
        let mut byte = [0u8; 1];
        within(limit, "libp2p first byte", server.read_exact(&mut byte)).await?;
        if byte != [0x42] {
            return Err(format!("expected 0x42, read {byte:?}").into());
        }
        pairs.push(Pair {
            client: Box::new(client) as BoxIo,
            server: Box::new(server) as BoxIo,
        });
    }
    Ok(Connected::new(
        pairs,
        vec![
            Box::new(dialler),
            Box::new(listener),
            Box::new(server_transport),
            Box::new(client_transport),
        ],
        None,
    ))
}
