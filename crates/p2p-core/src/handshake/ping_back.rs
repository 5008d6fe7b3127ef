//! The ping-back check: is an inbound peer really reachable where it says it listens?

use std::{io, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::debug;
use umbra_levin::{CodecError, INITIAL_MAX_PACKET_SIZE, LevinError};
use umbra_transport::Transport;
use umbra_wire::{
    AdminRequest, AdminResponse, Message, MessageId, MoneroCodec, PING_OK_STATUS, WireError,
};

/// A bound for [`ping_back`]: monerod gives the connect 2 s
/// (`P2P_DEFAULT_PING_CONNECTION_TIMEOUT`); we allow the whole exchange 5 s.
pub const DEFAULT_PING_BACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of a wrong status string an error keeps.
const STATUS_SHOWN: usize = 64;

/// Why a ping back failed: the address does not lead to the peer that handshook.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PingBackError {
    /// Connecting failed.
    #[error("cannot connect back to the advertised port: {0}")]
    Connect(#[source] io::Error),
    /// Reading or writing failed.
    #[error("I/O error during the ping back: {0}")]
    Io(#[source] io::Error),
    /// The answer was not valid levin or not a valid message.
    #[error("bad answer to the ping back: {0}")]
    Codec(#[source] CodecError<WireError>),
    /// The connection closed before the answer.
    #[error("the connection closed before the ping response")]
    Closed,
    /// No answer within the bound.
    #[error("no ping response within {0:?}")]
    Timeout(Duration),
    /// The answer was a levin error code.
    #[error("the ping was answered with error code {0}")]
    ErrorResponse(i32),
    /// Something else came instead of a ping response.
    #[error("{0:?} came instead of a ping response")]
    UnexpectedMessage(MessageId),
    /// The status was not `"OK"`.
    #[error("ping response status {status:?}, expected {PING_OK_STATUS:?}")]
    WrongStatus {
        /// The status (cut to 64 characters).
        status: String,
    },
    /// A node answered, but not the one that handshook.
    #[error("ping answered by node id {got:016x}, but the handshake presented {expected:016x}")]
    WrongPeerId {
        /// The peer id of the handshake.
        expected: u64,
        /// The peer id in the ping response.
        got: u64,
    },
}

/// Checks that `addr` leads to the node with id `expected_peer_id`, as monerod's
/// `try_ping` does before an inbound peer's advertised address enters its white list:
/// connect, send a `COMMAND_PING` request, expect a response with status `"OK"` and
/// `peer_id == expected_peer_id`, close. The whole exchange is bounded by `timeout`
/// (see [`DEFAULT_PING_BACK_TIMEOUT`]).
///
/// The address comes from
/// [`HandshakeOutcome::ping_back`](super::HandshakeOutcome::ping_back), the id from the
/// outcome's `node_data.peer_id`.
///
/// # Errors
/// [`PingBackError`] saying what did not match. None of them is misbehaviour: the peer may
/// be behind NAT or a firewall; its address just stays out of the white list.
pub async fn ping_back<T: Transport>(
    transport: &T,
    addr: &T::Addr,
    expected_peer_id: u64,
    timeout: Duration,
) -> Result<(), PingBackError> {
    let result = tokio::time::timeout(timeout, ping(transport, addr, expected_peer_id))
        .await
        .unwrap_or(Err(PingBackError::Timeout(timeout)));
    debug!(ok = result.is_ok(), "ping back");
    result
}

async fn ping<T: Transport>(
    transport: &T,
    addr: &T::Addr,
    expected_peer_id: u64,
) -> Result<(), PingBackError> {
    let (reader, writer) = transport.dial(addr).await.map_err(PingBackError::Connect)?;
    let mut reader = FramedRead::new(reader, MoneroCodec::new(INITIAL_MAX_PACKET_SIZE));
    let mut writer = FramedWrite::new(writer, MoneroCodec::new(INITIAL_MAX_PACKET_SIZE));
    writer
        .send(Message::Request(AdminRequest::Ping))
        .await
        .map_err(codec_error)?;
    let answer = match reader.next().await {
        None => Err(PingBackError::Closed),
        Some(Err(error)) => Err(codec_error(error)),
        Some(Ok(Message::Response(AdminResponse::Ping(response)))) => {
            if response.status != PING_OK_STATUS {
                Err(PingBackError::WrongStatus {
                    status: response.status.chars().take(STATUS_SHOWN).collect(),
                })
            } else if response.peer_id != expected_peer_id {
                Err(PingBackError::WrongPeerId {
                    expected: expected_peer_id,
                    got: response.peer_id,
                })
            } else {
                Ok(())
            }
        }
        Some(Ok(other)) => Err(PingBackError::UnexpectedMessage(other.id())),
    };
    // Like monerod, close as soon as the answer is in.
    let _ = SinkExt::<Message>::close(&mut writer).await;
    answer
}

fn codec_error(error: CodecError<WireError>) -> PingBackError {
    match error {
        CodecError::Levin(LevinError::Io(error)) => PingBackError::Io(error),
        CodecError::Levin(LevinError::EofInHeader { .. } | LevinError::EofInBody { .. }) => {
            PingBackError::Closed
        }
        CodecError::Decode {
            error: WireError::ErrorResponse { code, .. },
            ..
        } => PingBackError::ErrorResponse(code),
        other => PingBackError::Codec(other),
    }
}
