//! Listeners that come back: [`Relisten`] listens again, with back-off, when the listener
//! of the transport underneath ends.
//!
//! A listener on the public internet lives as long as the process. A listener on Tor or
//! I2P is an onion service or a SAM session: it dies with the tor daemon or the I2P
//! router, and it cannot start while they are down. `Relisten` keeps the P2P code's view
//! simple: one listener that never ends, which accepts nothing while the network
//! underneath is away and resumes when it is back, with a warning in the log for each
//! failed attempt and exponential back-off between them.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::{LocalAddr, Transport};

/// Accepted connections waiting for the consumer.
const QUEUE: usize = 32;

/// Back-off between attempts to listen again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 second, doubling to at most a minute.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failed attempts in a row (at least one), with up to 25%
    /// random jitter so that many nodes do not retry in step.
    #[must_use]
    pub fn delay(&self, failures: u32) -> Duration {
        let doubling = failures.saturating_sub(1).min(16);
        let base = self
            .initial
            .saturating_mul(1u32 << doubling)
            .min(self.max.max(self.initial));
        let jitter = base.mul_f64(rand_fraction() * 0.25);
        base.saturating_add(jitter).min(self.max.max(self.initial))
    }
}

/// A number in [0, 1) from the clock's nanoseconds: jitter needs no cryptographic
/// randomness, and this keeps the module free of a random-number dependency.
fn rand_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

/// A transport whose listeners listen again when they end; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Relisten<T> {
    inner: T,
    backoff: Backoff,
}

impl<T> Relisten<T> {
    /// `inner`, with `backoff` between attempts to listen again.
    pub const fn new(inner: T, backoff: Backoff) -> Self {
        Self { inner, backoff }
    }

    /// The transport underneath.
    pub const fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Transport> Transport for Relisten<T> {
    type Addr = T::Addr;
    type Reader = T::Reader;
    type Writer = T::Writer;
    type Listener = RelistenListener<T>;

    fn dial(
        &self,
        addr: &T::Addr,
    ) -> impl Future<Output = io::Result<(T::Reader, T::Writer)>> + Send {
        self.inner.dial(addr)
    }

    /// Listens on `addr`. Never fails: when the transport underneath cannot listen yet,
    /// the listener keeps trying in the background, and until its first success its
    /// address is `addr` as given (for an onion service, exactly where peers will reach
    /// it).
    async fn listen(&self, addr: &T::Addr) -> io::Result<RelistenListener<T>> {
        let first = self.inner.listen(addr).await;
        let local = match &first {
            Ok(listener) => listener.local_addr().unwrap_or_else(|_| addr.clone()),
            Err(error) => {
                warn!(%addr, %error, "cannot listen yet; will keep trying");
                addr.clone()
            }
        };
        let (sender, accepted) = mpsc::channel(QUEUE);
        let task = tokio::spawn(keep_listening(
            self.inner.clone(),
            addr.clone(),
            first.ok(),
            self.backoff,
            sender,
        ));
        Ok(RelistenListener {
            local,
            accepted,
            task,
        })
    }
}

type Accepted<T> = io::Result<(
    <T as Transport>::Reader,
    <T as Transport>::Writer,
    <T as Transport>::Addr,
)>;

/// Forwards what the listener underneath accepts; listens again when it ends.
async fn keep_listening<T: Transport>(
    inner: T,
    addr: T::Addr,
    mut current: Option<T::Listener>,
    backoff: Backoff,
    accepted: mpsc::Sender<Accepted<T>>,
) {
    let mut failures = u32::from(current.is_none());
    loop {
        if let Some(mut listener) = current.take() {
            loop {
                let next = tokio::select! {
                    next = listener.next() => next,
                    () = accepted.closed() => return,
                };
                let Some(item) = next else { break };
                if accepted.send(item).await.is_err() {
                    return;
                }
            }
            warn!(%addr, "the listener ended; listening again");
            failures = 0;
        }
        if failures > 0 {
            let wait = backoff.delay(failures);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = accepted.closed() => return,
            }
        }
        match inner.listen(&addr).await {
            Ok(listener) => {
                info!(%addr, "listening again");
                current = Some(listener);
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                warn!(%addr, %error, attempt = failures, "cannot listen yet");
            }
        }
    }
}

/// A listener of [`Relisten`]: ends only when dropped.
#[derive(Debug)]
pub struct RelistenListener<T: Transport> {
    local: T::Addr,
    accepted: mpsc::Receiver<Accepted<T>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T: Transport> Drop for RelistenListener<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T: Transport> LocalAddr<T::Addr> for RelistenListener<T> {
    fn local_addr(&self) -> io::Result<T::Addr> {
        Ok(self.local.clone())
    }
}

impl<T: Transport> Stream for RelistenListener<T> {
    type Item = Accepted<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Accepted<T>>> {
        self.get_mut().accepted.poll_recv(cx)
    }
}

impl<T: Transport> Unpin for RelistenListener<T> {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::memory::MemoryTransport;

    #[test]
    fn backoff_doubles_up_to_the_max() {
        let backoff = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        let first = backoff.delay(1);
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_millis(1250));
        let third = backoff.delay(3);
        assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(5));
        assert_eq!(backoff.delay(40), Duration::from_secs(10));
    }

    /// A memory transport whose first `fail` listens fail and whose listeners end after
    /// one connection.
    #[derive(Clone)]
    struct Flaky {
        net: MemoryTransport,
        listens: Arc<AtomicUsize>,
        fail: usize,
    }

    impl Transport for Flaky {
        type Addr = <MemoryTransport as Transport>::Addr;
        type Reader = <MemoryTransport as Transport>::Reader;
        type Writer = <MemoryTransport as Transport>::Writer;
        type Listener = <MemoryTransport as Transport>::Listener;

        async fn dial(&self, addr: &Self::Addr) -> io::Result<(Self::Reader, Self::Writer)> {
            self.net.dial(addr).await
        }

        async fn listen(&self, addr: &Self::Addr) -> io::Result<Self::Listener> {
            let n = self.listens.fetch_add(1, Ordering::SeqCst);
            if n < self.fail {
                return Err(io::Error::other("the network is down"));
            }
            self.net.listen(addr).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_listener_that_cannot_start_keeps_trying() {
        let flaky = Flaky {
            net: MemoryTransport::new(),
            listens: Arc::new(AtomicUsize::new(0)),
            fail: 3,
        };
        let addr = "10.0.0.9:1".parse().unwrap();
        let transport = Relisten::new(flaky.clone(), Backoff::default());
        let mut listener = transport.listen(&addr).await.unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);
        // Before the network is back, dials fail; after the back-off, they get through.
        assert!(flaky.net.dial(&addr).await.is_err());
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(flaky.listens.load(Ordering::SeqCst) >= 4);
        let (_r, mut w) = flaky.net.dial(&addr).await.unwrap();
        w.write_all(b"hi").await.unwrap();
        let (mut r, _w, _) = listener.next().await.unwrap().unwrap();
        let mut buf = [0u8; 2];
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
    }
}
