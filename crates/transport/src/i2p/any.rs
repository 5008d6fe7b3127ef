//! [`AnyI2p`]: the I2P zone's transport, over SAM or the way monerod does it (i2pd's SOCKS
//! proxy out, a server tunnel forwarding to a local port in).

use std::{
    fmt, io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{I2pAddr, I2pEndpoint, SamListener, SamTransport};
use crate::{
    LocalAddr, Transport,
    socks::{Socks5Proxy, TargetAddr},
};

/// The read half of an I2P stream of either kind.
pub type I2pReader = Box<dyn AsyncRead + Unpin + Send>;
/// The write half of an I2P stream of either kind.
pub type I2pWriter = Box<dyn AsyncWrite + Unpin + Send>;
type Accepted = io::Result<(I2pReader, I2pWriter, I2pEndpoint)>;

/// How the I2P zone opens streams to peers.
#[derive(Debug, Clone)]
pub enum I2pDial {
    /// `STREAM CONNECT` on a SAM session.
    Sam(SamTransport),
    /// A SOCKS5 proxy of the router (i2pd's `socksproxy`, port 4447 by default): what
    /// monerod's `--tx-proxy i2p,IP:PORT` points at. The `.b32.i2p` name goes to the proxy,
    /// never to a resolver.
    Socks(Socks5Proxy),
}

/// How peers reach us on I2P.
#[derive(Debug, Clone)]
pub enum I2pListen {
    /// `STREAM ACCEPT` on a SAM session: our address is the session's destination.
    Sam(SamTransport),
    /// A server tunnel configured in the router (i2pd's `tunnels.conf`) that forwards to a
    /// local port: monerod's `--anonymous-inbound <b32>.b32.i2p,IP:PORT`.
    Forwarded(ForwardedI2p),
}

/// A server tunnel of the router forwarding to a loopback port: where peers reach us, and
/// where the router delivers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedI2p {
    /// The tunnel's destination, as peers dial it.
    pub dest: I2pAddr,
    /// The loopback address the router forwards to.
    pub local: SocketAddr,
}

/// The I2P zone's [`Transport`]: dials through SAM or a SOCKS proxy ([`I2pDial`]), and
/// listens through SAM or a forwarded server tunnel ([`I2pListen`]), or not at all.
///
/// Addresses are [`I2pEndpoint`]s: [`I2pEndpoint::Dest`] is dialled (its port ignored,
/// I2P streams have none); accepted connections are [`I2pEndpoint::Inbound`], with the
/// sending destination when SAM names it.
///
/// A SAM listener ends at its first failed accept (the router stopped, the session
/// dropped): wrap the transport in [`Relisten`](crate::relisten::Relisten), which listens
/// again with back-off and logs each attempt, and the SAM session is made again with the
/// same keys, so the address stays.
#[derive(Debug, Clone)]
pub struct AnyI2p {
    dial: I2pDial,
    listen: Option<I2pListen>,
}

impl AnyI2p {
    /// One SAM session for both: dials from, and listens on, its destination.
    #[must_use]
    pub fn sam(sam: SamTransport) -> Self {
        Self {
            dial: I2pDial::Sam(sam.clone()),
            listen: Some(I2pListen::Sam(sam)),
        }
    }

    /// Dials with `dial`, listens with `listen` (none: [`Transport::listen`] fails).
    #[must_use]
    pub const fn new(dial: I2pDial, listen: Option<I2pListen>) -> Self {
        Self { dial, listen }
    }

    /// How streams are opened.
    #[must_use]
    pub const fn dialer(&self) -> &I2pDial {
        &self.dial
    }

    /// How peers reach us, if they do.
    #[must_use]
    pub const fn listener(&self) -> Option<&I2pListen> {
        self.listen.as_ref()
    }

    /// `"SAM"`, `"SOCKS"`, and how inbound works, for logs.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match (&self.dial, &self.listen) {
            (I2pDial::Sam(_), Some(I2pListen::Sam(_))) => "SAM",
            (I2pDial::Sam(_), None) => "SAM, outbound only",
            (I2pDial::Sam(_), Some(I2pListen::Forwarded(_))) => "SAM out, server tunnel in",
            (I2pDial::Socks(_), None) => "SOCKS, outbound only",
            (I2pDial::Socks(_), Some(I2pListen::Forwarded(_))) => "SOCKS out, server tunnel in",
            (I2pDial::Socks(_), Some(I2pListen::Sam(_))) => "SOCKS out, SAM in",
        }
    }
}

impl Transport for AnyI2p {
    type Addr = I2pEndpoint;
    type Reader = I2pReader;
    type Writer = I2pWriter;
    type Listener = AnyI2pListener;

    async fn dial(&self, addr: &I2pEndpoint) -> io::Result<(I2pReader, I2pWriter)> {
        let Some(dest) = addr.dest() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an inbound I2P connection has no address to dial",
            ));
        };
        match &self.dial {
            I2pDial::Sam(sam) => {
                let (r, w) = sam.dial(dest).await?;
                Ok((Box::new(r), Box::new(w)))
            }
            I2pDial::Socks(proxy) => {
                let target = TargetAddr::domain(dest.host(), dest.port())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let stream = proxy.connect(&target, None).await?;
                let (r, w) = stream.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
        }
    }

    async fn listen(&self, addr: &I2pEndpoint) -> io::Result<AnyI2pListener> {
        let Some(dest) = addr.dest() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot listen on an inbound I2P connection",
            ));
        };
        match &self.listen {
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this I2P transport has no inbound side (no SAM session, no server tunnel)",
            )),
            Some(I2pListen::Sam(sam)) => {
                let listener = sam.listen(dest).await?;
                let local = I2pEndpoint::Dest(listener.local_addr()?);
                Ok(AnyI2pListener {
                    local,
                    accepted: Box::pin(until_first_error(listener)),
                })
            }
            Some(I2pListen::Forwarded(forwarded)) => forwarded.listen(dest).await,
        }
    }
}

/// The streams of a SAM listener, ending after the first failed accept (reported first).
fn until_first_error(listener: SamListener) -> impl Stream<Item = Accepted> + Send {
    futures::stream::unfold(Some(listener), |state| async move {
        let mut listener = state?;
        match listener.next().await? {
            Ok((r, w, from)) => Some((
                Ok((
                    Box::new(r) as I2pReader,
                    Box::new(w) as I2pWriter,
                    I2pEndpoint::next_inbound(Some(from)),
                )),
                Some(listener),
            )),
            // Dropping the listener closes its waiting `STREAM ACCEPT` connections.
            Err(error) => Some((Err(error), None)),
        }
    })
}

impl ForwardedI2p {
    async fn listen(&self, dest: &I2pAddr) -> io::Result<AnyI2pListener> {
        if !dest.same_destination(&self.dest) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot listen on {dest}: the router's server tunnel is {}",
                    self.dest
                ),
            ));
        }
        if !self.local.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to accept I2P connections on {}: not a loopback address, so \
                     anyone could connect around the router",
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
                    Box::new(r) as I2pReader,
                    Box::new(w) as I2pWriter,
                    I2pEndpoint::next_inbound(None),
                )
            });
            Some((accepted, listener))
        });
        Ok(AnyI2pListener {
            local: I2pEndpoint::Dest(self.dest),
            accepted: Box::pin(accepted),
        })
    }
}

/// Connections to our I2P destination, through SAM or a forwarded tunnel.
pub struct AnyI2pListener {
    local: I2pEndpoint,
    accepted: Pin<Box<dyn Stream<Item = Accepted> + Send>>,
}

impl fmt::Debug for AnyI2pListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyI2pListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl LocalAddr<I2pEndpoint> for AnyI2pListener {
    fn local_addr(&self) -> io::Result<I2pEndpoint> {
        Ok(self.local)
    }
}

impl Stream for AnyI2pListener {
    type Item = Accepted;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Accepted>> {
        self.accepted.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const B32: &str = "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p";

    fn forwarded(local: SocketAddr) -> AnyI2p {
        AnyI2p::new(
            I2pDial::Socks(Socks5Proxy::new(local)),
            Some(I2pListen::Forwarded(ForwardedI2p {
                dest: B32.parse().unwrap(),
                local,
            })),
        )
    }

    #[tokio::test]
    async fn a_forwarded_tunnel_listens_on_loopback_only_and_peers_have_no_address() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = free.local_addr().unwrap();
        drop(free);
        let transport = forwarded(local);
        assert_eq!(transport.kind(), "SOCKS out, server tunnel in");
        let ours: I2pEndpoint = B32.parse().unwrap();
        let mut listener = transport.listen(&ours).await.unwrap();
        assert_eq!(listener.local_addr().unwrap(), ours);
        let mut stream = tokio::net::TcpStream::connect(local).await.unwrap();
        stream.write_all(b"hi").await.unwrap();
        let (mut r, _w, from) = listener.next().await.unwrap().unwrap();
        assert!(matches!(from, I2pEndpoint::Inbound { from: None, .. }));
        let mut buf = [0u8; 2];
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");

        let other: I2pEndpoint = format!("{}.b32.i2p", "a".repeat(52)).parse().unwrap();
        assert!(transport.listen(&other).await.is_err());
        let open = forwarded("0.0.0.0:1".parse().unwrap());
        let error = open.listen(&ours).await.unwrap_err();
        assert!(error.to_string().contains("loopback"), "{error}");
        assert!(
            transport.dial(&from).await.is_err(),
            "inbound is not dialled"
        );
        let outbound_only = AnyI2p::new(I2pDial::Socks(Socks5Proxy::new(local)), None);
        assert_eq!(
            outbound_only.listen(&ours).await.unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
    }
}
