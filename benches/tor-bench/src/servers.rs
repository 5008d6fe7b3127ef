//! The benchmark's own servers on 127.0.0.1, and the client side of their protocols.
//!
//! - **echo** ([`Server::echo`]): writes back every byte it reads; a 1-byte round trip
//!   ([`round_trip`]) measures the latency of an open stream;
//! - **sink** ([`Server::sink`]): reads an 8-byte big-endian length, then that many bytes,
//!   and answers with the count it received (8 bytes, big-endian). [`send_bulk`] times from
//!   its first byte written to the sink's answer, so the time covers delivery. The
//!   acknowledgement is in-band because a Tor stream has no half-close: a client shutting
//!   down its write half ends the whole stream (`RELAY_END`).
//!
//! Both accept at most [`MAX_CONNECTIONS`] connections at once (more are closed at once)
//! and give each connection at most [`CONNECTION_LIFETIME`].

use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::JoinHandle,
};

/// Connections a server serves at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
/// The longest a server keeps one connection.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(900);
/// Size of every application write and read buffer.
pub const IO_SIZE: usize = 64 * 1024;
/// The most a sink accepts on one connection (a sanity bound on the announced length).
pub const MAX_SINK_BYTES: u64 = 64 << 30;

/// One of the benchmark's servers: stops accepting (and drops its connections) when
/// dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Echo,
    Sink,
}

impl Server {
    /// An echo server on `127.0.0.1:<free port>`. Call inside a tokio runtime.
    ///
    /// # Errors
    /// Binding the listener failed.
    pub async fn echo() -> io::Result<Self> {
        Self::start(Kind::Echo).await
    }

    /// A sink server on `127.0.0.1:<free port>`. Call inside a tokio runtime.
    ///
    /// # Errors
    /// Binding the listener failed.
    pub async fn sink() -> io::Result<Self> {
        Self::start(Kind::Sink).await
    }

    /// Where it listens.
    #[must_use]
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn start(kind: Kind) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, kind));
        Ok(Self { addr, task })
    }
}

async fn accept_loop(listener: TcpListener, kind: Kind) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Runs until the server is dropped (its task aborted); each round is one accept.
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // A failed accept (out of descriptors, ...): back off a little.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            continue; // full: the stream is dropped, i.e. closed
        };
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let served = match kind {
                Kind::Echo => tokio::time::timeout(CONNECTION_LIFETIME, echo(stream)).await,
                Kind::Sink => tokio::time::timeout(CONNECTION_LIFETIME, sink(stream)).await,
            };
            drop(served);
        });
    }
}

async fn echo(stream: TcpStream) -> io::Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = vec![0u8; IO_SIZE];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        writer.write_all(buf.get(..n).unwrap_or_default()).await?;
    }
}

async fn sink(mut stream: TcpStream) -> io::Result<()> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await?;
    let wanted = u64::from_be_bytes(header);
    if wanted > MAX_SINK_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("announced {wanted} bytes, more than {MAX_SINK_BYTES}"),
        ));
    }
    let mut buf = vec![0u8; IO_SIZE];
    let mut received = 0u64;
    while received < wanted {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    stream.write_all(&received.to_be_bytes()).await?;
    stream.flush().await?;
    // Let the client close first, so the answer is never cut off by our close.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
    Ok(())
}

/// One byte to an echo server and back on an open stream: the round-trip time.
///
/// # Errors
/// The stream failed or echoed something else.
pub async fn round_trip<R, W>(reader: &mut R, writer: &mut W) -> io::Result<Duration>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let started = Instant::now();
    writer.write_all(&[0x5a]).await?;
    writer.flush().await?;
    let mut back = [0u8; 1];
    reader.read_exact(&mut back).await?;
    let elapsed = started.elapsed();
    if back != [0x5a] {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the echo server sent back {back:?}"),
        ));
    }
    Ok(elapsed)
}

/// Sends `bytes` bytes to a sink server on an open stream, in [`IO_SIZE`] writes, and
/// waits for its count: the time from the first byte written to the answer.
///
/// # Errors
/// The stream failed, or the sink counted another number of bytes.
pub async fn send_bulk<R, W>(reader: &mut R, writer: &mut W, bytes: u64) -> io::Result<Duration>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let chunk = vec![0u8; IO_SIZE];
    let started = Instant::now();
    writer.write_all(&bytes.to_be_bytes()).await?;
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left).map_or(IO_SIZE, |left| left.min(IO_SIZE));
        writer.write_all(chunk.get(..n).unwrap_or_default()).await?;
        left -= n as u64;
    }
    writer.flush().await?;
    let mut answer = [0u8; 8];
    reader.read_exact(&mut answer).await?;
    let elapsed = started.elapsed();
    let counted = u64::from_be_bytes(answer);
    if counted != bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sent {bytes} bytes, the sink counted {counted}"),
        ));
    }
    Ok(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn echo_and_sink_answer_as_documented() {
        let echo_server = Server::echo().await.unwrap();
        let stream = TcpStream::connect(echo_server.addr()).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        round_trip(&mut r, &mut w).await.unwrap();

        let sink_server = Server::sink().await.unwrap();
        let stream = TcpStream::connect(sink_server.addr()).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        send_bulk(&mut r, &mut w, 3 * IO_SIZE as u64 + 17)
            .await
            .unwrap();
    }
}
