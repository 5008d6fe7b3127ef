//! The async driver: runs a [`Handshaker`] over a connection's two halves.

use std::{fmt, time::Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::debug;
use umbra_levin::{CodecError, DEFAULT_MAX_PACKET_SIZE, INITIAL_MAX_PACKET_SIZE};
use umbra_wire::{CoreSyncData, Message, MoneroCodec, PeerListEntry, WireError};

use super::{Finished, HandshakeConfig, HandshakeError, HandshakeOutcome, Handshaker, Step};
use crate::ZoneAddr;

/// A connection that passed its handshake.
pub struct Handshaken<R, W, A> {
    /// The read half, framed, with whatever the peer sent after the handshake already
    /// buffered in it; its max packet size is raised to [`DEFAULT_MAX_PACKET_SIZE`].
    pub reader: FramedRead<R, MoneroCodec>,
    /// The write half, framed; its max packet size is raised to
    /// [`DEFAULT_MAX_PACKET_SIZE`] too.
    pub writer: FramedWrite<W, MoneroCodec>,
    /// What the handshake learned.
    pub outcome: HandshakeOutcome<A>,
}

impl<R, W, A: fmt::Debug> fmt::Debug for Handshaken<R, W, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshaken")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// How a driven handshake ended.
pub enum Handshake<R, W, A> {
    /// A peer: carry on with the connection.
    Peer(Box<Handshaken<R, W, A>>),
    /// Inbound only: monerod's ping-back probe, answered; the halves were dropped (the
    /// connection is closed).
    PingProbe,
}

impl<R, W, A: fmt::Debug> fmt::Debug for Handshake<R, W, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Peer(peer) => f.debug_tuple("Peer").field(peer).finish(),
            Self::PingProbe => f.write_str("PingProbe"),
        }
    }
}

impl<R, W, A> Handshake<R, W, A> {
    /// The connection, if this was a peer.
    #[must_use]
    pub fn into_peer(self) -> Option<Handshaken<R, W, A>> {
        match self {
            Self::Peer(peer) => Some(*peer),
            Self::PingProbe => None,
        }
    }
}

/// The time on tokio's clock (so that tests with a paused clock control the handshake), as
/// the `Instant` the [`Handshaker`] takes.
#[must_use]
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Runs `machine` over a connection: frames the halves with [`MoneroCodec`] at the
/// pre-handshake limit ([`INITIAL_MAX_PACKET_SIZE`], 256 KiB, refused from the header
/// before anything is allocated), sends what the machine says, feeds it what arrives, and
/// enforces its deadline with `tokio::time` (writes included).
///
/// Build `machine` with the time from [`now`] (tokio's clock). On success the framed halves
/// come back with their limit raised to [`DEFAULT_MAX_PACKET_SIZE`] and any bytes already
/// read kept in the reader.
///
/// # Errors
/// [`HandshakeError`]: the machine's verdicts, plus I/O, framing, decoding, the peer
/// closing, and the deadline passing.
pub async fn handshake<R, W, A>(
    reader: R,
    writer: W,
    machine: Handshaker<A>,
) -> Result<Handshake<R, W, A>, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    A: ZoneAddr,
{
    let reader = FramedRead::new(reader, MoneroCodec::new(INITIAL_MAX_PACKET_SIZE));
    let writer = FramedWrite::new(writer, MoneroCodec::new(INITIAL_MAX_PACKET_SIZE));
    handshake_framed(reader, writer, machine).await
}

/// [`handshake`] on halves the caller already framed (for a custom codec setting, such as
/// padding); their max packet size is set to [`INITIAL_MAX_PACKET_SIZE`] for the handshake.
///
/// # Errors
/// As [`handshake`].
pub async fn handshake_framed<R, W, A>(
    mut reader: FramedRead<R, MoneroCodec>,
    mut writer: FramedWrite<W, MoneroCodec>,
    mut machine: Handshaker<A>,
) -> Result<Handshake<R, W, A>, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    A: ZoneAddr,
{
    reader
        .decoder_mut()
        .set_max_packet_size(INITIAL_MAX_PACKET_SIZE);
    writer
        .encoder_mut()
        .set_max_packet_size(INITIAL_MAX_PACKET_SIZE);
    let deadline = tokio::time::Instant::from_std(machine.deadline());
    loop {
        send_queued(&mut machine, &mut writer, deadline).await?;
        if machine.is_done() {
            break;
        }
        tokio::select! {
            next = reader.next() => match next {
                Some(Ok(message)) => machine.handle_message(message, now())?,
                Some(Err(CodecError::Decode {
                    error: WireError::ErrorResponse { command, code },
                    ..
                })) => machine.handle_error_response(command, code)?,
                Some(Err(error)) => return Err(HandshakeError::from_codec(error, machine.step())),
                None => return Err(HandshakeError::Closed { step: machine.step() }),
            },
            () = tokio::time::sleep_until(deadline) => machine.handle_timeout(now())?,
        }
    }
    match machine.take_outcome() {
        Some(Finished::Handshaken(outcome)) => {
            reader
                .decoder_mut()
                .set_max_packet_size(DEFAULT_MAX_PACKET_SIZE);
            writer
                .encoder_mut()
                .set_max_packet_size(DEFAULT_MAX_PACKET_SIZE);
            Ok(Handshake::Peer(Box::new(Handshaken {
                reader,
                writer,
                outcome: *outcome,
            })))
        }
        Some(Finished::PingProbe) => {
            // Best effort: the probe's answer is flushed; monerod closes its side anyway.
            let _ = SinkExt::<Message>::close(&mut writer).await;
            Ok(Handshake::PingProbe)
        }
        None => Err(HandshakeError::Closed {
            step: Step::Finished,
        }),
    }
}

/// Writes everything the machine queued and flushes, by the deadline.
async fn send_queued<W, A>(
    machine: &mut Handshaker<A>,
    writer: &mut FramedWrite<W, MoneroCodec>,
    deadline: tokio::time::Instant,
) -> Result<(), HandshakeError>
where
    W: AsyncWrite + Unpin,
    A: ZoneAddr,
{
    let mut queued = Vec::new();
    while let Some(message) = machine.poll_transmit() {
        queued.push(message);
    }
    if queued.is_empty() {
        return Ok(());
    }
    let step = machine.step();
    let write = async {
        for message in queued {
            writer.feed(message).await?;
        }
        SinkExt::<Message>::flush(writer).await
    };
    match tokio::time::timeout_at(deadline, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(HandshakeError::from_codec(error, step)),
        Err(_) => {
            debug!(%step, "handshake write timed out");
            Err(HandshakeError::Timeout {
                step,
                timeout: machine.timeout(),
            })
        }
    }
}

/// An outbound handshake on a connection we opened to `peer_addr`, starting now (tokio's
/// clock).
///
/// # Errors
/// As [`handshake`].
pub async fn handshake_outbound<R, W, A>(
    reader: R,
    writer: W,
    peer_addr: A,
    config: HandshakeConfig,
    core_sync: CoreSyncData,
) -> Result<Handshaken<R, W, A>, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    A: ZoneAddr,
{
    let machine = Handshaker::outbound(config, core_sync, peer_addr, now());
    match handshake(reader, writer, machine).await? {
        Handshake::Peer(peer) => Ok(*peer),
        // The outbound machine never ends in a ping probe.
        Handshake::PingProbe => Err(HandshakeError::Closed {
            step: Step::Finished,
        }),
    }
}

/// An inbound handshake on a connection `peer_addr` opened to us, starting now (tokio's
/// clock); `peer_list` is what we share in our response.
///
/// # Errors
/// As [`handshake`].
pub async fn handshake_inbound<R, W, A>(
    reader: R,
    writer: W,
    peer_addr: A,
    config: HandshakeConfig,
    core_sync: CoreSyncData,
    peer_list: Vec<PeerListEntry>,
) -> Result<Handshake<R, W, A>, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    A: ZoneAddr,
{
    let machine = Handshaker::inbound(config, core_sync, peer_list, peer_addr, now());
    handshake(reader, writer, machine).await
}
