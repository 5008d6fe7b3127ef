//! A reader that first gives back bytes already read from it.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, ReadBuf};

/// `inner`, with `prefix` (bytes read from it earlier, to sniff the protocol) served first.
#[derive(Debug)]
pub struct Prefixed<R> {
    prefix: Vec<u8>,
    taken: usize,
    inner: R,
}

impl<R> Prefixed<R> {
    /// `inner` preceded by `prefix`.
    pub const fn new(prefix: Vec<u8>, inner: R) -> Self {
        Self {
            prefix,
            taken: 0,
            inner,
        }
    }

    /// `inner` with nothing before it.
    pub const fn plain(inner: R) -> Self {
        Self::new(Vec::new(), inner)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Prefixed<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.prefix.get(this.taken..)
            && !rest.is_empty()
        {
            let n = rest.len().min(buf.remaining());
            if let Some(chunk) = rest.get(..n) {
                buf.put_slice(chunk);
            }
            this.taken += n;
            if this.taken == this.prefix.len() {
                this.prefix = Vec::new();
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn prefix_then_inner() {
        let mut reader = Prefixed::new(b"abc".to_vec(), &b"defg"[..]);
        let mut small = [0u8; 2];
        reader.read_exact(&mut small).await.unwrap();
        assert_eq!(&small, b"ab");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"cdefg");
    }
}
