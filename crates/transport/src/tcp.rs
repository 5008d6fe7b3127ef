//! Plain TCP.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use tokio::net::{
    TcpListener, TcpStream,
    tcp::{OwnedReadHalf, OwnedWriteHalf},
};

use crate::Transport;

/// TCP over tokio.
///
/// Dialling gives up after [`Tcp::connect_timeout`]; every connection has `TCP_NODELAY`
/// set (P2P messages are small and latency matters more than packet count).
#[derive(Debug, Clone, Copy)]
pub struct Tcp {
    /// How long [`Transport::dial`] waits for the TCP handshake.
    pub connect_timeout: Duration,
}

impl Tcp {
    /// monerod waits 5 s for an outbound TCP connection (`P2P_DEFAULT_CONNECTION_TIMEOUT`).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Default for Tcp {
    fn default() -> Self {
        Self {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl Transport for Tcp {
    type Addr = SocketAddr;
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;
    type Listener = TcpListenerStream;

    async fn dial(&self, addr: &SocketAddr) -> io::Result<(OwnedReadHalf, OwnedWriteHalf)> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting to {addr} took over {:?}", self.connect_timeout),
                )
            })??;
        stream.set_nodelay(true)?;
        Ok(stream.into_split())
    }

    async fn listen(&self, addr: &SocketAddr) -> io::Result<TcpListenerStream> {
        let listener = TcpListener::bind(addr).await?;
        Ok(TcpListenerStream { listener })
    }
}

/// Accepted TCP connections, as a [`Stream`].
#[derive(Debug)]
pub struct TcpListenerStream {
    listener: TcpListener,
}

impl TcpListenerStream {
    /// The address actually bound (useful after listening on port 0).
    ///
    /// # Errors
    /// The I/O error from the socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl crate::LocalAddr<SocketAddr> for TcpListenerStream {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl Stream for TcpListenerStream {
    type Item = io::Result<(OwnedReadHalf, OwnedWriteHalf, SocketAddr)>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.listener.poll_accept(cx) {
            Poll::Ready(Ok((stream, addr))) => {
                // A socket option failing is no reason to refuse the peer.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%addr, %error, "could not set TCP_NODELAY");
                }
                let (reader, writer) = stream.into_split();
                Poll::Ready(Some(Ok((reader, writer, addr))))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
            Poll::Pending => Poll::Pending,
        }
    }
}
