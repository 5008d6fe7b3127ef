//! Why a handshake failed, where it was at the time, and how much of it is the peer's fault.

use std::{fmt, io, time::Duration};

use umbra_levin::{CodecError, HeaderError, LevinError, MessageKind};
use umbra_wire::{Message, MessageId, WireError};

use crate::MAX_PEER_LIST_LEN;

/// A ban score that bans the peer's address at once (the address book bans at 100 points;
/// see [`HandshakeError::ban_score`]).
pub const BAN_AT_ONCE: u32 = 100;

/// Where a handshake was when something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Inbound: waiting for the peer's first message (its handshake request, or a ping
    /// probe).
    AwaitingRequest,
    /// Outbound: our handshake request is (being) sent; waiting for the response.
    AwaitingResponse,
    /// Our handshake part is done; waiting for the answer to our support-flags request
    /// (sent because the peer announced no flags).
    AwaitingSupportFlags,
    /// The handshake has ended, successfully or not.
    Finished,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AwaitingRequest => "waiting for the handshake request",
            Self::AwaitingResponse => "waiting for the handshake response",
            Self::AwaitingSupportFlags => "waiting for the support flags",
            Self::Finished => "after the handshake ended",
        })
    }
}

/// Why a handshake failed.
///
/// [`ban_score`](Self::ban_score) says how much of it the peer is to blame for; see the
/// [module docs](super#errors-and-ban-scores) for the table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Reading from or writing to the connection failed.
    #[error("I/O error {step}: {source}")]
    Io {
        /// Where the handshake was.
        step: Step,
        /// The error.
        source: io::Error,
    },
    /// The bytes were not valid levin, a frame was over the size limit (256 KiB before the
    /// handshake ends), or a body was not a valid message.
    #[error("cannot read or write a message {step}: {source}")]
    Codec {
        /// Where the handshake was.
        step: Step,
        /// The error, naming the command and what was wrong.
        source: CodecError<WireError>,
    },
    /// The peer closed the connection (possibly in the middle of a frame).
    #[error("the peer closed the connection {step}")]
    Closed {
        /// Where the handshake was.
        step: Step,
    },
    /// The handshake did not finish within its time bound.
    #[error("no handshake within {timeout:?} (still {step})")]
    Timeout {
        /// Where the handshake was.
        step: Step,
        /// The bound ([`HandshakeConfig::timeout`](super::HandshakeConfig::timeout)).
        timeout: Duration,
    },
    /// The peer is on another network (testnet, stagenet, another coin).
    #[error("wrong network: the peer is on {}, we are on {}", hex16(.theirs), hex16(.ours))]
    WrongNetwork {
        /// Our network id.
        ours: [u8; 16],
        /// The peer's network id.
        theirs: [u8; 16],
    },
    /// The peer presented our own node id: we connected to ourselves.
    #[error("the peer presented our own node id: this is a connection to ourselves")]
    SelfConnection,
    /// A message that has no place at this step (a protocol message before the handshake
    /// request, a second handshake, a response we did not ask for, ...).
    #[error("unexpected {kind} {id:?} ({}) {step}", id.command())]
    UnexpectedMessage {
        /// The message.
        id: MessageId,
        /// Whether it was a request, a response or a notification.
        kind: MessageKind,
        /// Where the handshake was.
        step: Step,
    },
    /// The peer sent more requests or notifications during the handshake than an honest
    /// peer does ([`MAX_REQUESTS_ANSWERED`](super::MAX_REQUESTS_ANSWERED),
    /// [`MAX_EARLY_MESSAGES`](super::MAX_EARLY_MESSAGES)).
    #[error("the peer sent more than {limit} {what} {step}")]
    TooManyMessages {
        /// What kind of message overflowed.
        what: &'static str,
        /// The limit.
        limit: usize,
        /// Where the handshake was.
        step: Step,
    },
    /// The peer's peer list is longer than monerod's `P2P_MAX_PEERS_IN_HANDSHAKE`.
    #[error("the peer sent a peer list of {len} entries; at most {MAX_PEER_LIST_LEN} are allowed")]
    PeerListTooLong {
        /// How many entries it had.
        len: usize,
    },
    /// The peer answered our request with a levin error code instead of a body.
    #[error("the peer answered command {command} with error code {code} {step}")]
    ErrorResponse {
        /// The command answered.
        command: u32,
        /// The levin return code (zero or negative).
        code: i32,
        /// Where the handshake was.
        step: Step,
    },
}

impl HandshakeError {
    /// How much the peer is to blame, in points towards a ban of its address
    /// ([`BAN_AT_ONCE`] bans at once; 0 means nothing to blame it for).
    ///
    /// | error | score | why |
    /// |---|---|---|
    /// | `Io`, `Closed`, `Timeout` | 0 | networks fail and nodes restart; monerod does not count these either |
    /// | `SelfConnection` | 0 | it is us: forget the address instead |
    /// | `ErrorResponse` | 0 | the peer refused our request; refusing is not an attack |
    /// | `Codec` (encoding our own message) | 0 | our bug, not the peer's |
    /// | `UnexpectedMessage`, `TooManyMessages`, `PeerListTooLong` | 50 | a protocol violation no monerod commits; twice bans |
    /// | `Codec` (valid levin, invalid body) | 50 | the same |
    /// | `Codec` (not levin, or an oversized frame) | 100 | not a Monero node, or trying to make us allocate |
    /// | `WrongNetwork` | 100 | never useful to us; monerod counts a host fail for it |
    #[must_use]
    pub fn ban_score(&self) -> u32 {
        const VIOLATION: u32 = BAN_AT_ONCE / 2;
        match self {
            Self::Io { .. }
            | Self::Closed { .. }
            | Self::Timeout { .. }
            | Self::SelfConnection
            | Self::ErrorResponse { .. } => 0,
            Self::UnexpectedMessage { .. }
            | Self::TooManyMessages { .. }
            | Self::PeerListTooLong { .. } => VIOLATION,
            Self::WrongNetwork { .. } => BAN_AT_ONCE,
            Self::Codec { source, .. } => codec_blame(source),
        }
    }

    /// Whether the peer misbehaved (a [`ban_score`](Self::ban_score) above zero), as opposed
    /// to an innocent failure.
    #[must_use]
    pub fn is_misbehaviour(&self) -> bool {
        self.ban_score() > 0
    }

    /// Where the handshake was, if the error says.
    #[must_use]
    pub const fn step(&self) -> Option<Step> {
        match self {
            Self::Io { step, .. }
            | Self::Codec { step, .. }
            | Self::Closed { step }
            | Self::Timeout { step, .. }
            | Self::UnexpectedMessage { step, .. }
            | Self::TooManyMessages { step, .. }
            | Self::ErrorResponse { step, .. } => Some(*step),
            Self::WrongNetwork { .. } | Self::SelfConnection | Self::PeerListTooLong { .. } => None,
        }
    }

    /// The error for `message` arriving at `step` where it has no place.
    pub(crate) fn unexpected(message: &Message, step: Step) -> Self {
        Self::UnexpectedMessage {
            id: message.id(),
            kind: kind_of(message),
            step,
        }
    }

    /// The error for a failed read or write of the levin stream.
    pub(crate) fn from_codec(error: CodecError<WireError>, step: Step) -> Self {
        match error {
            CodecError::Levin(LevinError::Io(source)) => Self::Io { step, source },
            CodecError::Levin(LevinError::EofInHeader { .. } | LevinError::EofInBody { .. }) => {
                Self::Closed { step }
            }
            CodecError::Decode {
                error: WireError::ErrorResponse { command, code },
                ..
            } => Self::ErrorResponse {
                command,
                code,
                step,
            },
            source => Self::Codec { step, source },
        }
    }
}

/// How much a peer is to blame, in points towards a ban, for a frame that could not be
/// read or written — the same rule during and after the handshake:
///
/// | error | score |
/// |---|---|
/// | the stream ended (mid-frame too), I/O failed, an error response, encoding our own message | 0 |
/// | valid levin, invalid body; an unsupported levin version | 50 |
/// | not levin, bad flags or fragments, a frame over the limit (refused from its header) | 100 |
#[must_use]
pub fn codec_blame(error: &CodecError<WireError>) -> u32 {
    const VIOLATION: u32 = BAN_AT_ONCE / 2;
    match error {
        CodecError::Encode { .. }
        | CodecError::Levin(
            LevinError::Io(_) | LevinError::EofInHeader { .. } | LevinError::EofInBody { .. },
        )
        | CodecError::Decode {
            error: WireError::ErrorResponse { .. },
            ..
        } => 0,
        CodecError::Decode { .. }
        | CodecError::Levin(LevinError::Header(HeaderError::UnsupportedVersion { .. })) => {
            VIOLATION
        }
        _ => BAN_AT_ONCE,
    }
}

/// The levin kind a message travels as.
pub(crate) const fn kind_of(message: &Message) -> MessageKind {
    match message {
        Message::Request(_) => MessageKind::Request,
        Message::Response(_) => MessageKind::Response,
        Message::Protocol(_) => MessageKind::Notification,
    }
}

/// A network id in hex, as monerod prints it.
fn hex16(id: &[u8; 16]) -> String {
    use fmt::Write as _;
    id.iter().fold(String::with_capacity(32), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use umbra_wire::network_id;

    use super::*;

    #[test]
    fn wrong_network_names_both_ids_in_hex() {
        let error = HandshakeError::WrongNetwork {
            ours: network_id::MAINNET,
            theirs: network_id::TESTNET,
        };
        assert_eq!(
            error.to_string(),
            "wrong network: the peer is on 1230f171610441611731008216a1a111, \
             we are on 1230f171610441611731008216a1a110"
        );
        assert_eq!(error.ban_score(), BAN_AT_ONCE);
    }

    #[test]
    fn innocent_errors_score_zero() {
        let step = Step::AwaitingResponse;
        for error in [
            HandshakeError::Closed { step },
            HandshakeError::Timeout {
                step,
                timeout: Duration::from_secs(1),
            },
            HandshakeError::Io {
                step,
                source: io::ErrorKind::ConnectionReset.into(),
            },
            HandshakeError::SelfConnection,
        ] {
            assert_eq!(error.ban_score(), 0, "{error}");
            assert!(!error.is_misbehaviour());
        }
    }

    #[test]
    fn garbage_bans_at_once() {
        let error = HandshakeError::from_codec(
            CodecError::Levin(LevinError::Header(HeaderError::BadSignature { found: 0 })),
            Step::AwaitingRequest,
        );
        assert!(matches!(error, HandshakeError::Codec { .. }));
        assert_eq!(error.ban_score(), BAN_AT_ONCE);
    }

    #[test]
    fn eof_inside_a_frame_is_a_close() {
        let error = HandshakeError::from_codec(
            CodecError::Levin(LevinError::EofInHeader { received: 3 }),
            Step::AwaitingRequest,
        );
        assert!(matches!(error, HandshakeError::Closed { .. }));
    }
}
