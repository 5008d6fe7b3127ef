//! The halves of a hybrid connection: plain levin, Noise, or a QUIC stream.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Prefixed;
use crate::noise::{NoiseReader, NoiseWriter};
#[cfg(feature = "quic")]
use crate::quic::{QuicReader, QuicWriter};

/// The read half of a [`HybridTransport`](super::HybridTransport) connection.
#[derive(Debug)]
pub enum HybridReader<R> {
    /// Plain levin (with the bytes read to sniff it given back first).
    Plain(Prefixed<R>),
    /// Umbra's Noise transport.
    Noise(Box<NoiseReader<Prefixed<R>>>),
    /// A QUIC stream.
    #[cfg(feature = "quic")]
    Quic(Box<QuicReader>),
}

/// The write half of a [`HybridTransport`](super::HybridTransport) connection.
#[derive(Debug)]
pub enum HybridWriter<W> {
    /// Plain levin.
    Plain(W),
    /// Umbra's Noise transport.
    Noise(Box<NoiseWriter<W>>),
    /// A QUIC stream.
    #[cfg(feature = "quic")]
    Quic(Box<QuicWriter>),
}

impl<R> HybridReader<R> {
    /// Whether the connection is encrypted and the peer authenticated by key.
    pub const fn is_encrypted(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for HybridReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(r) => Pin::new(r).poll_read(cx, buf),
            Self::Noise(r) => Pin::new(&mut **r).poll_read(cx, buf),
            #[cfg(feature = "quic")]
            Self::Quic(r) => Pin::new(&mut **r).poll_read(cx, buf),
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for HybridWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(w) => Pin::new(w).poll_write(cx, buf),
            Self::Noise(w) => Pin::new(&mut **w).poll_write(cx, buf),
            #[cfg(feature = "quic")]
            Self::Quic(w) => Pin::new(&mut **w).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            Self::Noise(w) => Pin::new(&mut **w).poll_write_vectored(cx, bufs),
            #[cfg(feature = "quic")]
            Self::Quic(w) => Pin::new(&mut **w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(w) => w.is_write_vectored(),
            Self::Noise(w) => w.is_write_vectored(),
            #[cfg(feature = "quic")]
            Self::Quic(w) => w.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(w) => Pin::new(w).poll_flush(cx),
            Self::Noise(w) => Pin::new(&mut **w).poll_flush(cx),
            #[cfg(feature = "quic")]
            Self::Quic(w) => Pin::new(&mut **w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(w) => Pin::new(w).poll_shutdown(cx),
            Self::Noise(w) => Pin::new(&mut **w).poll_shutdown(cx),
            #[cfg(feature = "quic")]
            Self::Quic(w) => Pin::new(&mut **w).poll_shutdown(cx),
        }
    }
}
