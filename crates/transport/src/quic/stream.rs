//! The two halves of one bidirectional QUIC stream.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Instant,
};

/// The byte a dialler writes first on every stream it opens.
///
/// QUIC tells the peer about a new stream only when a frame for it is sent, so a stream that
/// the dialler opened and then only read from would never reach the listener. Writing this
/// byte at once makes every dialled stream show up on the listener's side; the listener's
/// [`QuicReader`] checks and removes it, so neither side's application ever sees it. The
/// value is also a version: a later stream format gets another byte.
pub(crate) const STREAM_OPEN: u8 = 1;

/// The read half of a QUIC stream.
///
/// Reads end (`Ok(0)`) when the peer finished its write half; a stream the peer reset, or a
/// connection that closed, is an `io::Error`.
#[derive(Debug)]
pub struct QuicReader {
    recv: quinn::RecvStream,
    /// On the listener's side until [`STREAM_OPEN`] has been read.
    header_pending: bool,
    _usage: Arc<StreamUse>,
}

/// The write half of a QUIC stream.
///
/// `shutdown` (or dropping the writer) finishes the stream: the peer reads the end after the
/// data written before. The data is delivered even if the stream is dropped at once: the
/// connection stays open until it has had no stream for
/// [`QuicConfig::linger`](super::QuicConfig::linger).
#[derive(Debug)]
pub struct QuicWriter {
    send: quinn::SendStream,
    _usage: Arc<StreamUse>,
}

/// Which side of a stream we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// We opened it (and wrote [`STREAM_OPEN`]).
    Dialled,
    /// The peer opened it (its [`STREAM_OPEN`] is still to be read).
    Accepted,
}

/// The two halves of a stream; `usage` counts it as open on its connection until both
/// halves are dropped.
pub(crate) fn halves(
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    side: Side,
    usage: StreamUse,
) -> (QuicReader, QuicWriter) {
    let usage = Arc::new(usage);
    (
        QuicReader {
            recv,
            header_pending: side == Side::Accepted,
            _usage: Arc::clone(&usage),
        },
        QuicWriter {
            send,
            _usage: usage,
        },
    )
}

impl AsyncRead for QuicReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.header_pending {
            let mut byte = [0u8; 1];
            let mut header = ReadBuf::new(&mut byte);
            ready!(Pin::new(&mut this.recv).poll_read(cx, &mut header))?;
            match header.filled() {
                [STREAM_OPEN] => this.header_pending = false,
                [] => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the QUIC stream ended before its stream-open byte",
                    )));
                }
                [other, ..] => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unknown QUIC stream-open byte {other:#04x}"),
                    )));
                }
            }
        }
        Pin::new(&mut this.recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for QuicWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(&mut self.get_mut().send), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().send), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().send), cx)
    }
}

/// How many streams are open on one connection, and since when none is: a connection is
/// closed only once it has had no stream for [`QuicConfig::linger`](super::QuicConfig::linger),
/// so data written just before a stream was dropped still reaches the peer.
#[derive(Debug)]
pub(crate) struct Usage {
    open: AtomicUsize,
    last_release: Mutex<Instant>,
}

impl Usage {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            last_release: Mutex::new(Instant::now()),
        })
    }

    /// No stream open, and none for `linger`.
    pub(crate) fn idle_for(&self, linger: Duration) -> bool {
        let since = *self
            .last_release
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.open.load(Ordering::Acquire) == 0 && since.elapsed() >= linger
    }
}

/// One stream counted as open on its connection; dropping it (when both halves are gone)
/// ends the count and notes the time.
#[derive(Debug)]
pub(crate) struct StreamUse {
    usage: Arc<Usage>,
}

impl StreamUse {
    /// Counts a stream as open. A dial calls it with the peer's slot locked, so the idle
    /// check (which takes the same lock) never closes a connection a dial is about to use.
    pub(crate) fn new(usage: &Arc<Usage>) -> Self {
        usage.open.fetch_add(1, Ordering::AcqRel);
        Self {
            usage: Arc::clone(usage),
        }
    }
}

impl Drop for StreamUse {
    fn drop(&mut self) {
        *self
            .usage
            .last_release
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.usage.open.fetch_sub(1, Ordering::AcqRel);
    }
}
