//! Byte counting around a connection's read and write halves.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes received and sent on one connection. Clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct ByteCounters {
    received: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
}

impl ByteCounters {
    /// Bytes received so far.
    #[must_use]
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Bytes sent so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// A read or write half that adds what passes through it to a counter.
#[derive(Debug)]
pub struct Counted<T> {
    inner: T,
    counter: Arc<AtomicU64>,
}

/// Wraps both halves of a fresh connection; the counters go to
/// [`ConnectionInfo`](crate::ConnectionInfo) once the handshake is done.
pub fn counted<R, W>(reader: R, writer: W) -> (Counted<R>, Counted<W>, ByteCounters) {
    let counters = ByteCounters::default();
    (
        Counted {
            inner: reader,
            counter: Arc::clone(&counters.received),
        },
        Counted {
            inner: writer,
            counter: Arc::clone(&counters.sent),
        },
        counters,
    )
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.counter.fetch_add(read as u64, Ordering::Relaxed);
        result
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counted<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = result {
            self.counter.fetch_add(written as u64, Ordering::Relaxed);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
