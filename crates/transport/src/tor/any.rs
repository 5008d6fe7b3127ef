//! One transport type for either Tor back-end, chosen at run time.

use std::{
    fmt, io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};

#[cfg(feature = "arti")]
use super::arti::ArtiTor;
use super::{OnionAddr, TorAddr, system::SystemTor};
use crate::{LocalAddr, Transport};

/// The read half of a Tor stream of either back-end.
pub type TorReader = Box<dyn AsyncRead + Unpin + Send>;
/// The write half of a Tor stream of either back-end.
pub type TorWriter = Box<dyn AsyncWrite + Unpin + Send>;
type Accepted = io::Result<(TorReader, TorWriter, TorAddr)>;

/// A system tor or the embedded client, behind one [`Transport`] (an operator picks the
/// back-end in the configuration; the P2P code has one zone type either way).
#[derive(Debug, Clone)]
pub enum AnyTor {
    /// A tor daemon: dials through its SOCKS port, creates the onion service through its
    /// control port.
    System(SystemTor),
    /// A tor daemon whose torrc already has our onion service (monerod's
    /// `--anonymous-inbound`): dials through its SOCKS port, and listening is accepting
    /// what tor forwards to a local port.
    SystemForwarded(SystemTor, ForwardedOnion),
    /// The embedded client.
    #[cfg(feature = "arti")]
    Embedded(ArtiTor),
}

impl AnyTor {
    /// `"system"` or `"embedded"`, for logs.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::System(_) | Self::SystemForwarded(..) => "system",
            #[cfg(feature = "arti")]
            Self::Embedded(_) => "embedded",
        }
    }
}

impl Transport for AnyTor {
    type Addr = TorAddr;
    type Reader = TorReader;
    type Writer = TorWriter;
    type Listener = AnyTorListener;

    async fn dial(&self, addr: &TorAddr) -> io::Result<(TorReader, TorWriter)> {
        match self {
            Self::System(tor) | Self::SystemForwarded(tor, _) => {
                let (r, w) = tor.dial(addr).await?;
                Ok((Box::new(r), Box::new(w)))
            }
            #[cfg(feature = "arti")]
            Self::Embedded(tor) => {
                let (r, w) = tor.dial(addr).await?;
                Ok((Box::new(r), Box::new(w)))
            }
        }
    }

    async fn listen(&self, addr: &TorAddr) -> io::Result<AnyTorListener> {
        let (local, accepted): (TorAddr, Pin<Box<dyn Stream<Item = Accepted> + Send>>) = match self
        {
            Self::System(tor) => {
                let listener = tor.listen(addr).await?;
                (listener.local_addr()?, Box::pin(listener.map(boxed)))
            }
            Self::SystemForwarded(_, forwarded) => forwarded.listen(addr).await?,
            #[cfg(feature = "arti")]
            Self::Embedded(tor) => {
                let listener = tor.listen(addr).await?;
                (listener.local_addr()?, Box::pin(listener.map(boxed)))
            }
        };
        Ok(AnyTorListener { local, accepted })
    }
}

/// An onion service configured in tor's torrc (`HiddenServicePort <port> <local>`): where
/// peers reach us, and the loopback address tor forwards them to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedOnion {
    /// Our onion service, as peers dial it.
    pub onion: OnionAddr,
    /// The loopback address tor forwards to.
    pub local: SocketAddr,
}

impl ForwardedOnion {
    async fn listen(
        &self,
        addr: &TorAddr,
    ) -> io::Result<(TorAddr, Pin<Box<dyn Stream<Item = Accepted> + Send>>)> {
        if *addr != TorAddr::Onion(self.onion) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot listen on {addr}: the onion service in torrc is {}",
                    self.onion
                ),
            ));
        }
        if !self.local.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to accept onion connections on {}: not a loopback address, so \
                     anyone could connect around tor",
                    self.local
                ),
            ));
        }
        let listener = tokio::net::TcpListener::bind(self.local).await?;
        let accepted = futures::stream::unfold(listener, |listener| async move {
            let accepted = listener.accept().await.map(|(stream, _)| {
                let _ = stream.set_nodelay(true);
                let (r, w) = stream.into_split();
                (
                    Box::new(r) as TorReader,
                    Box::new(w) as TorWriter,
                    TorAddr::next_inbound(),
                )
            });
            Some((accepted, listener))
        });
        Ok((TorAddr::Onion(self.onion), Box::pin(accepted)))
    }
}

fn boxed<R, W>(accepted: io::Result<(R, W, TorAddr)>) -> Accepted
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    accepted.map(|(r, w, from)| (Box::new(r) as TorReader, Box::new(w) as TorWriter, from))
}

/// Connections to our onion service, from either back-end.
pub struct AnyTorListener {
    local: TorAddr,
    accepted: Pin<Box<dyn Stream<Item = Accepted> + Send>>,
}

impl fmt::Debug for AnyTorListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyTorListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl LocalAddr<TorAddr> for AnyTorListener {
    fn local_addr(&self) -> io::Result<TorAddr> {
        Ok(self.local)
    }
}

impl Stream for AnyTorListener {
    type Item = Accepted;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Accepted>> {
        self.accepted.as_mut().poll_next(cx)
    }
}
