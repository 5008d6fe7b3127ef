//! [`NoiseTransport`]: any [`Transport`] with a Noise session on every connection.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures::{Stream, StreamExt};
use tokio::{
    sync::{Semaphore, mpsc},
    task::{JoinHandle, JoinSet},
};
use umbra_identity::{Identity, PublicKey};

use super::{
    config::Config,
    session::{Responder, initiate, respond},
    stats::{NoiseStats, NoiseStatsSnapshot},
    stream::{NoiseReader, NoiseWriter},
};
use crate::{Keyed, LocalAddr, Transport};

/// Accepted sessions waiting for the listener's owner: beyond this, finished handshakes
/// wait (holding their handshake slot) until it takes some.
const ACCEPTED_QUEUE: usize = 16;

struct Shared {
    identity: Identity,
    config: Config,
    responder: Responder,
}

/// Umbra's encrypted transport over `T`: dial a [`Keyed`] address (where, and which key
/// must answer), listen on one (our own key); every connection is a Noise session.
///
/// Accepted connections report the dialler's address and its proven key. Handshakes of
/// a listener run in their own tasks, at most [`Config::max_concurrent_handshakes`] at
/// once; a failed one is closed silently after the probe delay and only counted
/// ([`NoiseTransport::stats`]). Clones share the identity, the replay filter and the
/// counters.
pub struct NoiseTransport<T> {
    inner: T,
    shared: Arc<Shared>,
}

impl<T: Clone> Clone for NoiseTransport<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for NoiseTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseTransport")
            .field("inner", &self.inner)
            .field("key", &self.shared.identity.public())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<T> NoiseTransport<T> {
    /// `inner` with sessions authenticated by `identity`.
    #[must_use]
    pub fn new(inner: T, identity: Identity, config: Config) -> Self {
        let responder = Responder::new(&config);
        Self {
            inner,
            shared: Arc::new(Shared {
                identity,
                config,
                responder,
            }),
        }
    }

    /// Our identity's public key: what peers dial us with.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.shared.identity.public()
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The transport underneath.
    #[must_use]
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The counters of every session of this transport (and its clones).
    #[must_use]
    pub fn stats(&self) -> NoiseStatsSnapshot {
        self.shared.responder.stats().snapshot()
    }

    /// The shared counters themselves.
    #[must_use]
    pub fn stats_handle(&self) -> &Arc<NoiseStats> {
        self.shared.responder.stats()
    }
}

impl<T: Transport> Transport for NoiseTransport<T> {
    type Addr = Keyed<T::Addr>;
    type Reader = NoiseReader<T::Reader>;
    type Writer = NoiseWriter<T::Writer>;
    type Listener = NoiseListener<T>;

    async fn dial(&self, addr: &Keyed<T::Addr>) -> io::Result<(Self::Reader, Self::Writer)> {
        let (reader, writer) = self.inner.dial(&addr.addr).await?;
        let shared = &*self.shared;
        let (reader, writer, _) = initiate(
            reader,
            writer,
            &shared.identity,
            &addr.key,
            &shared.config,
            shared.responder.stats(),
        )
        .await?;
        Ok((reader, writer))
    }

    async fn listen(&self, addr: &Keyed<T::Addr>) -> io::Result<NoiseListener<T>> {
        let ours = self.public_key();
        if addr.key != ours {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot listen as {}: this transport's identity is {ours}",
                    addr.key
                ),
            ));
        }
        let listener = self.inner.listen(&addr.addr).await?;
        let local = listener
            .local_addr()
            .map(|addr| Keyed::new(addr, ours))
            .map_err(|error| (error.kind(), error.to_string()));
        let (sender, receiver) = mpsc::channel(ACCEPTED_QUEUE);
        let task = tokio::spawn(accept_loop::<T>(listener, Arc::clone(&self.shared), sender));
        Ok(NoiseListener {
            receiver,
            local,
            task,
        })
    }
}

/// One accepted session, or one failed accept of the transport underneath.
type Accepted<T> = io::Result<(
    NoiseReader<<T as Transport>::Reader>,
    NoiseWriter<<T as Transport>::Writer>,
    Keyed<<T as Transport>::Addr>,
)>;

/// Accepts connections, answers each handshake in its own task (bounded by a semaphore),
/// and queues the sessions that succeed.
async fn accept_loop<T: Transport>(
    mut listener: T::Listener,
    shared: Arc<Shared>,
    sender: mpsc::Sender<Accepted<T>>,
) {
    let slots = Arc::new(Semaphore::new(
        shared.config.max_concurrent_handshakes.max(1),
    ));
    let mut handshakes = JoinSet::new();
    loop {
        let accept = async {
            let permit = Arc::clone(&slots).acquire_owned().await;
            (permit, listener.next().await)
        };
        let (permit, next) = tokio::select! {
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
            () = sender.closed() => return,
            accepted = accept => accepted,
        };
        let Ok(permit) = permit else { return };
        match next {
            None => break,
            Some(Err(error)) => {
                drop(permit);
                if sender.send(Err(error)).await.is_err() {
                    return;
                }
            }
            Some(Ok((reader, writer, from))) => {
                let shared = Arc::clone(&shared);
                let sender = sender.clone();
                handshakes.spawn(async move {
                    let _permit = permit;
                    let result = respond(
                        reader,
                        writer,
                        &shared.identity,
                        &shared.config,
                        &shared.responder,
                    )
                    .await;
                    if let Ok((reader, writer, info)) = result {
                        // If nobody takes it any more, the session is dropped (closed).
                        let _ = sender
                            .send(Ok((reader, writer, Keyed::new(from, info.remote_key()))))
                            .await;
                    }
                });
            }
        }
    }
    // The listener underneath ended: let the handshakes under way finish, then end.
    while handshakes.join_next().await.is_some() {}
}

/// Sessions accepted by a [`NoiseTransport`] listener. Dropping it stops accepting and
/// aborts the handshakes under way.
pub struct NoiseListener<T: Transport> {
    receiver: mpsc::Receiver<Accepted<T>>,
    local: Result<Keyed<T::Addr>, (io::ErrorKind, String)>,
    task: JoinHandle<()>,
}

impl<T: Transport> std::fmt::Debug for NoiseListener<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

// Nothing in it is ever pinned (the addresses are plain values).
impl<T: Transport> Unpin for NoiseListener<T> {}

impl<T: Transport> Drop for NoiseListener<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T: Transport> LocalAddr<Keyed<T::Addr>> for NoiseListener<T> {
    fn local_addr(&self) -> io::Result<Keyed<T::Addr>> {
        self.local
            .clone()
            .map_err(|(kind, message)| io::Error::new(kind, message))
    }
}

impl<T: Transport> Stream for NoiseListener<T> {
    type Item = Accepted<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}
