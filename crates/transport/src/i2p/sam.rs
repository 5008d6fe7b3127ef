//! A SAM v3 client over tokio TCP: one [`SamConnection`] per control connection, the
//! commands Umbra needs (`HELLO`, `SESSION CREATE`, `NAMING LOOKUP`, `DEST GENERATE`,
//! `STREAM CONNECT`, `STREAM ACCEPT`), and [`SamStream`], what a connection becomes once
//! a stream is open.
//!
//! SAM answers each command with one line and takes the next command only after that, so
//! a connection runs one command at a time. Every wait has a time limit except waiting for
//! a peer after `STREAM ACCEPT` ([`PendingAccept::accept`]), which lasts until a peer
//! comes or the bridge closes the connection. Lines are at most [`MAX_LINE`] bytes and the
//! receive buffer never holds more than one line.

use std::{
    fmt, io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

use super::{
    Destination, I2pAddr, PrivateKey, ResultCode, SamError,
    dest::SIGNATURE_TYPE_ED25519,
    reply::{MAX_LINE, Reply, ReplyError, ReplyKind, take_line},
};

/// Lowest SAM version Umbra speaks (3.1 added `SIGNATURE_TYPE` and fixed the stream
/// header).
pub const MIN_VERSION: (u8, u8) = (3, 1);
/// Highest SAM version Umbra asks for.
pub const MAX_VERSION: (u8, u8) = (3, 3);

/// Tunnel options of a session: how many hops its tunnels have and how many of them it
/// keeps. More hops hide the endpoint better and cost latency; the I2P default is 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelOptions {
    /// Hops of inbound tunnels (`inbound.length`), 0 to 7.
    pub inbound_length: u8,
    /// Hops of outbound tunnels (`outbound.length`), 0 to 7.
    pub outbound_length: u8,
    /// Inbound tunnels kept (`inbound.quantity`), 1 to 16.
    pub inbound_quantity: u8,
    /// Outbound tunnels kept (`outbound.quantity`), 1 to 16.
    pub outbound_quantity: u8,
}

impl TunnelOptions {
    /// Longest tunnel I2P routers build.
    pub const MAX_LENGTH: u8 = 7;
    /// Most tunnels of one direction a session may ask for.
    pub const MAX_QUANTITY: u8 = 16;

    /// Checks the ranges.
    ///
    /// # Errors
    /// [`SamError::Config`] naming the option out of range.
    pub fn validate(&self) -> Result<(), SamError> {
        if self.inbound_length > Self::MAX_LENGTH || self.outbound_length > Self::MAX_LENGTH {
            return Err(SamError::Config("tunnel lengths are 0 to 7 hops"));
        }
        let quantities = 1..=Self::MAX_QUANTITY;
        if !quantities.contains(&self.inbound_quantity)
            || !quantities.contains(&self.outbound_quantity)
        {
            return Err(SamError::Config("tunnel quantities are 1 to 16"));
        }
        Ok(())
    }
}

impl Default for TunnelOptions {
    /// 3 hops each way, 2 tunnels each way (Java I2P's defaults for a client).
    fn default() -> Self {
        Self {
            inbound_length: 3,
            outbound_length: 3,
            inbound_quantity: 2,
            outbound_quantity: 2,
        }
    }
}

/// One TCP connection to a SAM bridge, after a successful `HELLO`.
pub struct SamConnection {
    reader: LineReader,
    writer: OwnedWriteHalf,
    bridge: SocketAddr,
    version: (u8, u8),
}

/// The read side of a connection to a bridge, cut into lines.
pub(crate) struct LineReader {
    read: OwnedReadHalf,
    /// Received bytes not yet consumed: at most one line (and the data after a stream's
    /// status line).
    buf: Vec<u8>,
    bridge: SocketAddr,
}

impl LineReader {
    /// Reads the next line (without its newline), waiting as long as it takes.
    /// Cancel-safe: bytes read stay in the buffer.
    ///
    /// # Errors
    /// [`SamError::Closed`] at end of stream, [`SamError::Garbled`] for a line over
    /// [`MAX_LINE`] bytes or not UTF-8, [`SamError::Io`].
    pub(crate) async fn next_line(&mut self, during: &'static str) -> Result<String, SamError> {
        let bridge = self.bridge;
        let mut chunk = [0u8; 2048];
        loop {
            if let Some(line) = take_line(&mut self.buf).map_err(|source| SamError::Garbled {
                bridge,
                during,
                source,
            })? {
                return Ok(line);
            }
            // `take_line` refuses more than MAX_LINE + 1 bytes without a newline, so there
            // is always room for at least one more byte here.
            let room = (MAX_LINE + 2)
                .saturating_sub(self.buf.len())
                .clamp(1, chunk.len());
            let into = chunk.get_mut(..room).unwrap_or(&mut []);
            let read = self
                .read
                .read(into)
                .await
                .map_err(|source| io_error(bridge, during, source))?;
            if read == 0 {
                return Err(SamError::Closed { bridge, during });
            }
            self.buf
                .extend_from_slice(into.get(..read).unwrap_or_default());
        }
    }
}

/// Writes one command line (the line and its newline in one write).
pub(crate) async fn send_line(
    writer: &mut OwnedWriteHalf,
    bridge: SocketAddr,
    line: &str,
    during: &'static str,
) -> Result<(), SamError> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    writer
        .write_all(&bytes)
        .await
        .map_err(|source| io_error(bridge, during, source))
}

impl fmt::Debug for SamConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamConnection")
            .field("bridge", &self.bridge)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl SamConnection {
    /// Connects to the bridge and says `HELLO VERSION MIN=3.1 MAX=3.3`, all within
    /// `timeout`.
    ///
    /// # Errors
    /// [`SamError::Unreachable`] when nothing accepts the connection, [`SamError::Timeout`],
    /// [`SamError::Refused`] (`NOVERSION`, ...), [`SamError::Garbled`] when what answers is
    /// not a SAM bridge of a version from 3.1 to 3.3.
    pub async fn connect(bridge: SocketAddr, timeout: Duration) -> Result<Self, SamError> {
        let during = "HELLO";
        let work = async {
            let stream = TcpStream::connect(bridge)
                .await
                .map_err(|source| SamError::Unreachable { bridge, source })?;
            // Commands are single small lines: send each at once.
            stream.set_nodelay(true).map_err(|source| SamError::Io {
                bridge,
                during,
                source,
            })?;
            let (read, writer) = stream.into_split();
            let mut conn = Self {
                reader: LineReader {
                    read,
                    buf: Vec::new(),
                    bridge,
                },
                writer,
                bridge,
                version: MIN_VERSION,
            };
            let (min_major, min_minor) = MIN_VERSION;
            let (max_major, max_minor) = MAX_VERSION;
            let hello =
                format!("HELLO VERSION MIN={min_major}.{min_minor} MAX={max_major}.{max_minor}");
            let reply = conn.command(&hello, ReplyKind::Hello, during).await?;
            let version = reply
                .get("VERSION")
                .and_then(parse_version)
                .filter(|v| (MIN_VERSION..=MAX_VERSION).contains(v))
                .ok_or_else(|| conn.garbled(during, &reply, "no VERSION from 3.1 to 3.3"))?;
            conn.version = version;
            Ok(conn)
        };
        limit(bridge, during, timeout, work).await
    }

    /// The SAM version the bridge chose, as `(major, minor)`.
    #[must_use]
    pub const fn version(&self) -> (u8, u8) {
        self.version
    }

    /// The bridge's address.
    #[must_use]
    pub const fn bridge(&self) -> SocketAddr {
        self.bridge
    }

    /// `SESSION CREATE STYLE=STREAM ID=<id> DESTINATION=<key or TRANSIENT>
    /// SIGNATURE_TYPE=7` with the tunnel options, and returns the session's private key
    /// (the router's fresh one for a transient session). The session lives as long as
    /// this connection stays open.
    ///
    /// Routers may take long: i2pd 2.45 answers only once the session's tunnels are built
    /// and checks every 20 s, so even on an idle router this takes about 20 s.
    ///
    /// # Errors
    /// [`SamError::Config`] for an invalid id; [`SamError::Refused`] (`DUPLICATED_ID`,
    /// `DUPLICATED_DEST`, `INVALID_KEY`, `I2P_ERROR`); [`SamError::BadDestination`] when the
    /// key returned is malformed or, for a stored key, belongs to another destination; the
    /// I/O errors of [`SamConnection::connect`].
    pub async fn session_create(
        &mut self,
        id: &str,
        key: Option<&PrivateKey>,
        tunnels: &TunnelOptions,
        timeout: Duration,
    ) -> Result<PrivateKey, SamError> {
        let during = "SESSION CREATE";
        check_id(id)?;
        tunnels.validate()?;
        let destination = key.map_or("TRANSIENT", PrivateKey::to_base64);
        let command = format!(
            "SESSION CREATE STYLE=STREAM ID={id} DESTINATION={destination} \
             SIGNATURE_TYPE={SIGNATURE_TYPE_ED25519} inbound.length={} outbound.length={} \
             inbound.quantity={} outbound.quantity={}",
            tunnels.inbound_length,
            tunnels.outbound_length,
            tunnels.inbound_quantity,
            tunnels.outbound_quantity,
        );
        let bridge = self.bridge;
        let reply = limit(
            bridge,
            during,
            timeout,
            self.command(&command, ReplyKind::Session, during),
        )
        .await?;
        let text = reply
            .get("DESTINATION")
            .ok_or_else(|| self.garbled(during, &reply, "no DESTINATION in the reply"))?;
        let created = PrivateKey::from_base64(text).map_err(|source| SamError::BadDestination {
            bridge,
            during,
            source,
        })?;
        if let Some(key) = key
            && created.destination() != key.destination()
        {
            return Err(SamError::BadDestination {
                bridge,
                during,
                source: super::DestinationError {
                    input: "<private key>".to_owned(),
                    reason: "the session was made for another destination than the key given",
                },
            });
        }
        Ok(created)
    }

    /// `NAMING LOOKUP NAME=<name>`: the full destination behind a name (`<b32>.b32.i2p`,
    /// or `ME` on a session's own control connection). On a connection without a session
    /// the router looks up through a shared destination of its own (i2pd: 3-hop tunnels).
    ///
    /// # Errors
    /// [`SamError::Refused`] with `KEY_NOT_FOUND` or `INVALID_KEY` when the router cannot
    /// find it; [`SamError::BadDestination`]; the I/O errors.
    pub async fn naming_lookup(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Destination, SamError> {
        let command = naming_command(name)?;
        let bridge = self.bridge;
        let reply = limit(
            bridge,
            NAMING,
            timeout,
            self.command(&command, ReplyKind::Naming, NAMING),
        )
        .await?;
        naming_value(bridge, &reply)
    }

    /// `DEST GENERATE SIGNATURE_TYPE=7`: a fresh Ed25519 destination and its private key,
    /// for a node that wants to keep its address from the start.
    ///
    /// # Errors
    /// [`SamError::Refused`], [`SamError::BadDestination`] (also when `PUB` is not the
    /// destination of `PRIV`), the I/O errors.
    pub async fn dest_generate(&mut self, timeout: Duration) -> Result<PrivateKey, SamError> {
        let during = "DEST GENERATE";
        let command = format!("DEST GENERATE SIGNATURE_TYPE={SIGNATURE_TYPE_ED25519}");
        let bridge = self.bridge;
        let reply = limit(
            bridge,
            during,
            timeout,
            self.command(&command, ReplyKind::Dest, during),
        )
        .await?;
        let (Some(public), Some(private)) = (reply.get("PUB"), reply.get("PRIV")) else {
            return Err(self.garbled(during, &reply, "no PUB and PRIV in the reply"));
        };
        let bad = |source| SamError::BadDestination {
            bridge,
            during,
            source,
        };
        let public = Destination::from_base64(public).map_err(bad)?;
        let key = PrivateKey::from_base64(private).map_err(bad)?;
        if key.destination() != &public {
            return Err(bad(super::DestinationError {
                input: "<private key>".to_owned(),
                reason: "PRIV is not the private key of PUB",
            }));
        }
        Ok(key)
    }

    /// `STREAM CONNECT ID=<id> DESTINATION=<destination> SILENT=false`: opens a stream
    /// from session `id` to `destination`.
    ///
    /// # Errors
    /// [`SamError::Refused`] (`CANT_REACH_PEER`, `INVALID_ID` when the session is gone,
    /// `INVALID_KEY`, `TIMEOUT`, `I2P_ERROR`), the I/O errors.
    pub async fn stream_connect(
        self,
        id: &str,
        destination: &Destination,
        timeout: Duration,
    ) -> Result<SamStream, SamError> {
        self.stream_connect_to(id, &destination.to_base64(), timeout)
            .await
    }

    /// `STREAM CONNECT` naming the peer by its `.b32.i2p` host instead of its full
    /// destination, which saves the `NAMING LOOKUP` on bridges that resolve names there
    /// (Java I2P). i2pd 2.45 does not: it answers `CANT_REACH_PEER`.
    ///
    /// # Errors
    /// As [`SamConnection::stream_connect`].
    pub async fn stream_connect_name(
        self,
        id: &str,
        addr: &I2pAddr,
        timeout: Duration,
    ) -> Result<SamStream, SamError> {
        self.stream_connect_to(id, &addr.host(), timeout).await
    }

    async fn stream_connect_to(
        mut self,
        id: &str,
        destination: &str,
        timeout: Duration,
    ) -> Result<SamStream, SamError> {
        let during = "STREAM CONNECT";
        check_id(id)?;
        let command = format!("STREAM CONNECT ID={id} DESTINATION={destination} SILENT=false");
        let bridge = self.bridge;
        limit(
            bridge,
            during,
            timeout,
            self.command(&command, ReplyKind::Stream, during),
        )
        .await?;
        Ok(self.into_stream())
    }

    /// `STREAM ACCEPT ID=<id> SILENT=false`: asks the bridge to hand the session's next
    /// incoming stream to this connection. `timeout` bounds the bridge's answer, not the
    /// wait for a peer ([`PendingAccept::accept`]).
    ///
    /// # Errors
    /// [`SamError::Refused`] (`INVALID_ID` when the session is gone, `ALREADY_ACCEPTING`,
    /// `I2P_ERROR`), the I/O errors.
    pub async fn stream_accept(
        mut self,
        id: &str,
        timeout: Duration,
    ) -> Result<PendingAccept, SamError> {
        let during = "STREAM ACCEPT";
        check_id(id)?;
        let command = format!("STREAM ACCEPT ID={id} SILENT=false");
        let bridge = self.bridge;
        limit(
            bridge,
            during,
            timeout,
            self.command(&command, ReplyKind::Stream, during),
        )
        .await?;
        Ok(PendingAccept { conn: self })
    }

    /// Writes one command line.
    pub(crate) async fn send(&mut self, line: &str, during: &'static str) -> Result<(), SamError> {
        send_line(&mut self.writer, self.bridge, line, during).await
    }

    /// Reads the next line (see [`LineReader::next_line`]).
    pub(crate) async fn next_line(&mut self, during: &'static str) -> Result<String, SamError> {
        self.reader.next_line(during).await
    }

    /// The two sides, for a task that reads and writes at the same time.
    pub(crate) fn into_parts(self) -> (LineReader, OwnedWriteHalf) {
        (self.reader, self.writer)
    }

    /// Sends a command and reads its reply, which must be of `kind` with `RESULT=OK`.
    async fn command(
        &mut self,
        line: &str,
        kind: ReplyKind,
        during: &'static str,
    ) -> Result<Reply, SamError> {
        self.send(line, during).await?;
        let text = self.next_line(during).await?;
        check_reply(self.bridge, during, &text, kind)
    }

    fn garbled(&self, during: &'static str, reply: &Reply, reason: &'static str) -> SamError {
        garbled(self.bridge, during, reply, reason)
    }

    /// The connection as a byte stream (after a successful `STREAM CONNECT` or accept):
    /// bytes already received after the status line come first.
    fn into_stream(self) -> SamStream {
        SamStream {
            reader: SamReader {
                pending: self.reader.buf,
                pos: 0,
                inner: self.reader.read,
            },
            writer: self.writer,
        }
    }
}

/// A connection that said `STREAM ACCEPT` and waits for a peer.
#[derive(Debug)]
pub struct PendingAccept {
    conn: SamConnection,
}

impl PendingAccept {
    /// Waits for the next incoming stream: the bridge sends the peer's destination on one
    /// line (SAM 3.2 bridges may add `FROM_PORT=` and `TO_PORT=`), then the peer's bytes.
    /// No time limit: it waits until a peer comes, the bridge closes the connection (the
    /// session or the router ended) or the future is dropped.
    ///
    /// # Errors
    /// [`SamError::Closed`], [`SamError::Refused`] when the bridge sends a `STREAM STATUS`
    /// error instead, [`SamError::BadDestination`], [`SamError::Garbled`], [`SamError::Io`].
    pub async fn accept(mut self) -> Result<(SamStream, Destination), SamError> {
        let during = "STREAM ACCEPT (waiting for a peer)";
        let bridge = self.conn.bridge;
        let line = self.conn.next_line(during).await?;
        if line.starts_with("STREAM STATUS") {
            let reply = Reply::parse(&line).map_err(|source| SamError::Garbled {
                bridge,
                during,
                source,
            })?;
            return Err(SamError::Refused {
                bridge,
                during,
                code: reply.result().unwrap_or(ResultCode::I2pError),
                message: reply.message().map(|m| m.chars().take(200).collect()),
            });
        }
        let text = line.split(' ').next().unwrap_or_default();
        let destination =
            Destination::from_base64(text).map_err(|source| SamError::BadDestination {
                bridge,
                during,
                source,
            })?;
        Ok((self.conn.into_stream(), destination))
    }
}

/// An open I2P stream through the bridge.
#[derive(Debug)]
pub struct SamStream {
    reader: SamReader,
    writer: OwnedWriteHalf,
}

impl SamStream {
    /// The two halves. Shutting the write half down (or dropping it) ends the whole
    /// stream: SAM bridges close the I2P stream when their socket is half-closed.
    #[must_use]
    pub fn into_split(self) -> (SamReader, OwnedWriteHalf) {
        (self.reader, self.writer)
    }
}

/// The read half of a [`SamStream`]: first the peer's bytes that arrived together with
/// the bridge's status line, then the socket.
#[derive(Debug)]
pub struct SamReader {
    pending: Vec<u8>,
    pos: usize,
    inner: OwnedReadHalf,
}

impl AsyncRead for SamReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(rest) = this.pending.get(this.pos..).filter(|rest| !rest.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or_default());
            this.pos = this.pos.saturating_add(n);
            if this.pos >= this.pending.len() {
                this.pending = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

/// What `NAMING LOOKUP` errors say they were doing.
pub(crate) const NAMING: &str = "NAMING LOOKUP";

/// The `NAMING LOOKUP` command for `name`.
///
/// # Errors
/// [`SamError::Config`] when `name` is empty, longer than 255 bytes or has characters
/// other than printable ASCII (it goes unquoted into the command).
pub(crate) fn naming_command(name: &str) -> Result<String, SamError> {
    if name.is_empty() || name.len() > 255 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SamError::Config(
            "a name to look up is 1 to 255 printable characters",
        ));
    }
    Ok(format!("NAMING LOOKUP NAME={name}"))
}

/// The destination in a successful `NAMING REPLY`.
pub(crate) fn naming_value(bridge: SocketAddr, reply: &Reply) -> Result<Destination, SamError> {
    let value = reply
        .get("VALUE")
        .ok_or_else(|| garbled(bridge, NAMING, reply, "no VALUE in the reply"))?;
    Destination::from_base64(value).map_err(|source| SamError::BadDestination {
        bridge,
        during: NAMING,
        source,
    })
}

/// Reads `text` as a reply of `kind` with `RESULT=OK`.
///
/// # Errors
/// [`SamError::Garbled`] when it is not such a reply, [`SamError::Refused`] for another
/// result.
pub(crate) fn check_reply(
    bridge: SocketAddr,
    during: &'static str,
    text: &str,
    kind: ReplyKind,
) -> Result<Reply, SamError> {
    let reply = Reply::parse(text).map_err(|source| SamError::Garbled {
        bridge,
        during,
        source,
    })?;
    if reply.kind() != kind {
        return Err(garbled(
            bridge,
            during,
            &reply,
            "a reply to another command",
        ));
    }
    match reply.result() {
        Some(ResultCode::Ok) => Ok(reply),
        Some(code) => Err(SamError::Refused {
            bridge,
            during,
            code,
            message: reply.message().map(|m| m.chars().take(200).collect()),
        }),
        None => Err(garbled(bridge, during, &reply, "no RESULT in the reply")),
    }
}

fn garbled(
    bridge: SocketAddr,
    during: &'static str,
    reply: &Reply,
    reason: &'static str,
) -> SamError {
    SamError::Garbled {
        bridge,
        during,
        source: ReplyError::new(reply.to_line().as_bytes(), reason),
    }
}

/// Runs `work` within `timeout`.
async fn limit<T>(
    bridge: SocketAddr,
    during: &'static str,
    timeout: Duration,
    work: impl Future<Output = Result<T, SamError>>,
) -> Result<T, SamError> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| SamError::Timeout {
            bridge,
            during,
            after: timeout,
        })?
}

fn io_error(bridge: SocketAddr, during: &'static str, source: io::Error) -> SamError {
    if matches!(
        source.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    ) {
        SamError::Closed { bridge, during }
    } else {
        SamError::Io {
            bridge,
            during,
            source,
        }
    }
}

/// Session ids go unquoted into commands: letters, digits, `_` and `-` only.
fn check_id(id: &str) -> Result<(), SamError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(SamError::Config(
            "a session id is 1 to 64 letters, digits, '_' or '-'",
        ));
    }
    Ok(())
}

fn parse_version(text: &str) -> Option<(u8, u8)> {
    let (major, minor) = text.split_once('.')?;
    let all_digits =
        |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(major) || !all_digits(minor) {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn versions_and_ids_are_checked() {
        assert_eq!(parse_version("3.1"), Some((3, 1)));
        assert_eq!(parse_version("3.10"), Some((3, 10)));
        for bad in ["3", "3.", ".1", "3.1.2", "a.b", "+3.1", "999.1", ""] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
        assert!(check_id("umbra-0123abcd_X").is_ok());
        for bad in ["", "a b", "a=b", "ü", &"a".repeat(65)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tunnel_options_are_range_checked() {
        assert!(TunnelOptions::default().validate().is_ok());
        let long = TunnelOptions {
            inbound_length: 8,
            ..TunnelOptions::default()
        };
        assert!(long.validate().is_err());
        let none = TunnelOptions {
            outbound_quantity: 0,
            ..TunnelOptions::default()
        };
        assert!(none.validate().is_err());
    }
}
