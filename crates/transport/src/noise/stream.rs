//! The two halves of an established session: [`NoiseReader`] ([`AsyncRead`]) and
//! [`NoiseWriter`] ([`AsyncWrite`]), each owning one direction's key, so they work
//! independently from two tasks.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};
use umbra_identity::PublicKey;

use super::{
    record::{HEADER_LEN, MAX_RECORD, RecordDecoder, RecordEncoder, RecordError},
    stats::NoiseStats,
};

/// The read buffer starts this small (idle connections stay cheap) and grows to what
/// the records need.
const INITIAL_READ_BUFFER: usize = 4096;
/// The read buffer never grows beyond two of the longest records.
const MAX_READ_BUFFER: usize = 2 * MAX_RECORD;

/// Grows `buf`'s capacity to hold `len` bytes: at least doubling, but never past one
/// record (so a buffer sized for records stays at most [`MAX_RECORD`]).
fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.capacity() < len {
        let target = buf.capacity().saturating_mul(2).min(MAX_RECORD).max(len);
        buf.reserve_exact(target - buf.len());
    }
}

fn record_error(error: RecordError) -> io::Error {
    let kind = match error {
        RecordError::Truncated => io::ErrorKind::UnexpectedEof,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, error)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Open,
    /// The peer's final record was read: end of stream.
    Finished,
    /// A record was refused (or the stream was cut): the session is over.
    Failed(RecordError),
}

/// The receiving half of a session: decrypts and authenticates records.
///
/// Reads return the peer's data in order. The stream ends (`Ok(0)`) only after the
/// peer's final record ([`NoiseWriter`]'s shutdown); a connection that ends without it
/// is an [`io::ErrorKind::UnexpectedEof`] error ([`RecordError::Truncated`]), a record
/// that does not authenticate or whose header lies an [`io::ErrorKind::InvalidData`]
/// error. After an error every read fails. Records are decrypted in place in the read
/// buffer, which holds at most two records and is allocated as the records need it.
pub struct NoiseReader<R> {
    inner: R,
    decoder: RecordDecoder,
    /// Raw bytes: `start..end` not yet opened; `data_pos..data_end` (before `start`) the
    /// data of the last record opened, not yet delivered.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    data_pos: usize,
    data_end: usize,
    state: ReadState,
    stats: Arc<NoiseStats>,
    remote_key: PublicKey,
}

impl<R> std::fmt::Debug for NoiseReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseReader")
            .field("remote_key", &self.remote_key)
            .field("buffered", &(self.end - self.start))
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<R> NoiseReader<R> {
    /// The receiving half over `inner`, opening records with `decoder` (from a handshake:
    /// [`Established`](super::Established), or [`record_pair`](super::record::record_pair)
    /// in tests), counting into `stats`, reporting `remote_key` as the peer. `inner` must
    /// be positioned at the first record. [`initiate`](super::initiate) and
    /// [`respond`](super::respond) do this themselves.
    pub fn new(
        inner: R,
        decoder: RecordDecoder,
        stats: Arc<NoiseStats>,
        remote_key: PublicKey,
    ) -> Self {
        Self {
            inner,
            decoder,
            buf: Vec::new(),
            start: 0,
            end: 0,
            data_pos: 0,
            data_end: 0,
            state: ReadState::Open,
            stats,
            remote_key,
        }
    }

    /// The peer's identity, proven by the handshake.
    pub fn remote_key(&self) -> PublicKey {
        self.remote_key
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    fn fail(&mut self, error: RecordError) -> io::Error {
        if matches!(self.state, ReadState::Open) {
            self.stats.record_rejected(error);
        }
        self.state = ReadState::Failed(error);
        record_error(error)
    }

    /// Makes room for `need` bytes from `start` in the buffer.
    fn reserve(&mut self, need: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.start < need {
            // Move what is left to the front, then grow if that is still not enough.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < need {
            let len = need
                .max(self.buf.len().saturating_mul(2))
                .max(INITIAL_READ_BUFFER)
                .min(MAX_READ_BUFFER.max(need));
            self.buf.resize(len, 0);
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for NoiseReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.data_pos < this.data_end {
                let available = this
                    .buf
                    .get(this.data_pos..this.data_end)
                    .unwrap_or_default();
                let n = available.len().min(out.remaining());
                out.put_slice(available.get(..n).unwrap_or_default());
                this.data_pos += n;
                return Poll::Ready(Ok(()));
            }
            match this.state {
                ReadState::Open => {}
                ReadState::Finished => return Poll::Ready(Ok(())),
                ReadState::Failed(error) => return Poll::Ready(Err(record_error(error))),
            }
            let available = this.buf.get(this.start..this.end).unwrap_or_default();
            // How many bytes from `start` the next step needs, and whether to read no
            // further than that.
            let (need, exact) = match this.decoder.decode_header(available) {
                Err(error) => return Poll::Ready(Err(this.fail(error))),
                // Small records: read whatever has come.
                Ok(None) => (HEADER_LEN, false),
                // The rest of a known record and the next header, no more: what is left
                // over after it is at most a header, so the buffer never has to move a
                // large partial record to its front.
                Ok(Some(header)) if available.len() < header.record_len() => {
                    (header.record_len() + HEADER_LEN, true)
                }
                Ok(Some(header)) => {
                    let len = header.record_len();
                    let record = this
                        .buf
                        .get_mut(this.start..this.start + len)
                        .unwrap_or_default();
                    let opened = match this.decoder.open_in_place(record) {
                        Ok(opened) => opened,
                        Err(error) => return Poll::Ready(Err(this.fail(error))),
                    };
                    let data = opened.data();
                    this.data_pos = this.start + data.start;
                    this.data_end = this.start + data.end;
                    this.start += len;
                    this.stats.record_received(opened.rekeyed);
                    if opened.fin {
                        this.state = ReadState::Finished;
                    }
                    continue;
                }
            };
            this.reserve(need);
            let limit = if exact {
                this.start + need
            } else {
                this.buf.len()
            };
            let Some(space) = this.buf.get_mut(this.end..limit) else {
                return Poll::Ready(Err(this.fail(RecordError::Buffer)));
            };
            let mut read = ReadBuf::new(space);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let n = read.filled().len();
            if n == 0 {
                return Poll::Ready(Err(this.fail(RecordError::Truncated)));
            }
            this.end += n;
        }
    }
}

/// The sending half of a session: collects writes into records.
///
/// Writes are buffered up to one record's worth of data (64 KiB less the padding
/// allowance), directly in the buffer the record is then sealed in (no copy beyond the
/// one from the caller's slice); a full record is sealed and written at once, a partial
/// one on [`flush`](tokio::io::AsyncWriteExt::flush) (after the configured random
/// jitter, if any). Each record goes out in a single write of header and body, while
/// the next one fills. [`shutdown`](tokio::io::AsyncWriteExt::shutdown) sends the final
/// record, so the peer's reader sees a clean end of stream, then shuts the underlying
/// writer down. Memory: two record buffers, allocated as needed.
pub struct NoiseWriter<W> {
    inner: W,
    encoder: RecordEncoder,
    /// The record being filled: header room, then data (empty before the first byte).
    cur: Vec<u8>,
    /// Sealed bytes being written: `out_pos..` still to go.
    out: Vec<u8>,
    out_pos: usize,
    max_data: usize,
    jitter: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    sleeping: bool,
    rng: StdRng,
    stats: Arc<NoiseStats>,
    remote_key: PublicKey,
}

impl<W> std::fmt::Debug for NoiseWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseWriter")
            .field("remote_key", &self.remote_key)
            .field("buffered", &self.buffered())
            .field("unwritten", &(self.out.len() - self.out_pos))
            .finish_non_exhaustive()
    }
}

impl<W> NoiseWriter<W> {
    /// The sending half over `inner`, sealing records with `encoder`, delaying flushed
    /// records by up to `jitter`; see [`NoiseReader::new`].
    pub fn new(
        inner: W,
        encoder: RecordEncoder,
        jitter: Duration,
        stats: Arc<NoiseStats>,
        remote_key: PublicKey,
    ) -> Self {
        let max_data = encoder.max_data();
        Self {
            inner,
            encoder,
            cur: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            max_data,
            jitter,
            sleep: None,
            sleeping: false,
            rng: StdRng::from_rng(&mut rand::rng()),
            stats,
            remote_key,
        }
    }

    /// The peer's identity, proven by the handshake.
    pub fn remote_key(&self) -> PublicKey {
        self.remote_key
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Bytes of data waiting for the next record.
    fn buffered(&self) -> usize {
        self.cur.len().saturating_sub(HEADER_LEN)
    }

    /// Seals the buffered data as one record (the output must be drained).
    fn seal(&mut self, fin: bool) -> io::Result<()> {
        std::mem::swap(&mut self.cur, &mut self.out);
        self.cur.clear();
        self.out_pos = 0;
        if self.out.len() < HEADER_LEN {
            self.out.clear();
            self.out.resize(HEADER_LEN, 0);
        }
        let data_len = self.out.len() - HEADER_LEN;
        grow(&mut self.out, self.encoder.max_record_len(data_len));
        let sealed = self
            .encoder
            .seal_in_place(&mut self.out, fin)
            .map_err(record_error);
        if sealed.is_err() {
            self.out.clear();
        }
        self.stats.record_sent(sealed?.rekeyed);
        Ok(())
    }

    /// Waits for the jitter delay before a flushed record, if one is configured.
    fn poll_jitter(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.jitter.is_zero() {
            return Poll::Ready(());
        }
        if !self.sleeping {
            let delay = self.rng.random_range(Duration::ZERO..=self.jitter);
            let deadline = Instant::now() + delay;
            match &mut self.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.sleeping = true;
        }
        if let Some(sleep) = &mut self.sleep {
            ready!(sleep.as_mut().poll(cx));
        }
        self.sleeping = false;
        Poll::Ready(())
    }
}

impl<W: AsyncWrite + Unpin> NoiseWriter<W> {
    /// Writes out every sealed byte.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(pending) = self.out.get(self.out_pos..).filter(|rest| !rest.is_empty()) {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        Poll::Ready(Ok(()))
    }

    fn drained(&self) -> bool {
        self.out_pos >= self.out.len()
    }

    fn closed() -> io::Error {
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the session's final record was sent (shut down)",
        )
    }

    /// Takes as much of `bufs` as fits in the record being collected.
    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.encoder.fin_sent() {
            return Poll::Ready(Err(Self::closed()));
        }
        let total: usize = bufs.iter().map(|buf| buf.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.buffered() >= self.max_data {
            // The record is full: it goes out before more is taken.
            ready!(self.poll_drain(cx))?;
            self.seal(false)?;
        }
        let room = self.max_data - self.buffered();
        let take = total.min(room);
        // Room for the data and, later, the padding and tag: sealing never reallocates.
        let record_len = self.encoder.max_record_len(self.buffered() + take);
        grow(&mut self.cur, record_len);
        if self.cur.is_empty() {
            self.cur.resize(HEADER_LEN, 0);
        }
        let mut left = take;
        for buf in bufs {
            if left == 0 {
                break;
            }
            let part = buf.get(..buf.len().min(left)).unwrap_or_default();
            self.cur.extend_from_slice(part);
            left -= part.len();
        }
        if self.buffered() >= self.max_data && self.drained() {
            // Seal now and start writing, so the next write finds room.
            self.seal(false)?;
            if let Poll::Ready(Err(error)) = self.poll_drain(cx) {
                return Poll::Ready(Err(error));
            }
        }
        Poll::Ready(Ok(take))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for NoiseWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_take(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_take(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.buffered() > 0 {
            ready!(this.poll_jitter(cx));
            this.seal(false)?;
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if !this.encoder.fin_sent() {
            this.seal(true)?;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
