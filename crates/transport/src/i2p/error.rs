//! What can go wrong talking to a SAM bridge, as a typed error that also converts to an
//! [`io::Error`] of a fitting kind.

use std::{fmt, io, net::SocketAddr, time::Duration};

use super::{DestinationError, I2pAddr, reply::ReplyError};

/// A SAM `RESULT=` code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResultCode {
    /// `OK`.
    Ok,
    /// `CANT_REACH_PEER`: the peer's destination was not found or did not answer.
    CantReachPeer,
    /// `DUPLICATED_DEST`: another session of this router already uses these keys.
    DuplicatedDest,
    /// `DUPLICATED_ID`: a session with this id already exists.
    DuplicatedId,
    /// `I2P_ERROR`: the router failed (see the message).
    I2pError,
    /// `INVALID_ID`: no session with this id (it ended, or the router restarted).
    InvalidId,
    /// `INVALID_KEY`: the name, destination or private key given is not valid (i2pd also
    /// answers `NAMING LOOKUP` of a name it cannot find with it).
    InvalidKey,
    /// `KEY_NOT_FOUND`: the name could not be resolved to a destination.
    KeyNotFound,
    /// `PEER_NOT_FOUND`: the peer's destination was not found.
    PeerNotFound,
    /// `TIMEOUT`: the router gave up waiting.
    Timeout,
    /// `NOVERSION`: the bridge speaks none of the SAM versions asked for.
    NoVersion,
    /// `ALREADY_ACCEPTING`: the session is already accepting in another way.
    AlreadyAccepting,
    /// Any other code, as sent (at most 64 characters).
    Other(String),
}

impl ResultCode {
    /// Reads a code as the bridge wrote it.
    #[must_use]
    pub fn parse(code: &str) -> Self {
        match code {
            "OK" => Self::Ok,
            "CANT_REACH_PEER" => Self::CantReachPeer,
            "DUPLICATED_DEST" => Self::DuplicatedDest,
            "DUPLICATED_ID" => Self::DuplicatedId,
            "I2P_ERROR" => Self::I2pError,
            "INVALID_ID" => Self::InvalidId,
            "INVALID_KEY" => Self::InvalidKey,
            "KEY_NOT_FOUND" => Self::KeyNotFound,
            "PEER_NOT_FOUND" => Self::PeerNotFound,
            "TIMEOUT" => Self::Timeout,
            "NOVERSION" => Self::NoVersion,
            "ALREADY_ACCEPTING" => Self::AlreadyAccepting,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// The code as SAM writes it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => "OK",
            Self::CantReachPeer => "CANT_REACH_PEER",
            Self::DuplicatedDest => "DUPLICATED_DEST",
            Self::DuplicatedId => "DUPLICATED_ID",
            Self::I2pError => "I2P_ERROR",
            Self::InvalidId => "INVALID_ID",
            Self::InvalidKey => "INVALID_KEY",
            Self::KeyNotFound => "KEY_NOT_FOUND",
            Self::PeerNotFound => "PEER_NOT_FOUND",
            Self::Timeout => "TIMEOUT",
            Self::NoVersion => "NOVERSION",
            Self::AlreadyAccepting => "ALREADY_ACCEPTING",
            Self::Other(code) => code,
        }
    }

    /// What the code means, in a few words.
    #[must_use]
    pub const fn meaning(&self) -> &'static str {
        match self {
            Self::Ok => "success",
            Self::CantReachPeer => "the peer's destination could not be reached",
            Self::DuplicatedDest => "another session of this router already uses these keys",
            Self::DuplicatedId => "a session with this id already exists",
            Self::I2pError => "the I2P router failed",
            Self::InvalidId => "no such session (it ended, or the router restarted)",
            Self::InvalidKey => {
                "the name, destination or key is not valid; i2pd also says so for a name it cannot find"
            }
            Self::KeyNotFound => "the name could not be resolved",
            Self::PeerNotFound => "the peer's destination was not found",
            Self::Timeout => "the router gave up waiting",
            Self::NoVersion => "the bridge speaks none of the SAM versions 3.1 to 3.3",
            Self::AlreadyAccepting => "the session already accepts in another way",
            Self::Other(_) => "a result code this client does not know",
        }
    }

    /// The [`io::ErrorKind`] a failure with this code maps to.
    #[must_use]
    pub const fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::CantReachPeer | Self::PeerNotFound => io::ErrorKind::HostUnreachable,
            Self::KeyNotFound => io::ErrorKind::NotFound,
            Self::InvalidKey => io::ErrorKind::InvalidInput,
            Self::InvalidId => io::ErrorKind::NotConnected,
            Self::DuplicatedDest | Self::DuplicatedId | Self::AlreadyAccepting => {
                io::ErrorKind::AddrInUse
            }
            Self::Timeout => io::ErrorKind::TimedOut,
            Self::NoVersion => io::ErrorKind::Unsupported,
            Self::Ok | Self::I2pError | Self::Other(_) => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why talking to a SAM bridge failed.
///
/// Every variant names the bridge and the step (`HELLO`, `SESSION CREATE`, ...). Peer
/// addresses are never part of it (they are not to be logged on an anonymous zone); the
/// caller knows which peer it dialled. Converts into an [`io::Error`] of kind
/// [`SamError::kind`] that carries this error (`get_ref()` and downcast to get it back).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamError {
    /// The bridge could not be reached at all (no router, SAM disabled, wrong port).
    #[error(
        "cannot reach the SAM bridge at {bridge}: {source} (is the I2P router running with its SAM bridge enabled?)"
    )]
    Unreachable {
        /// The bridge's address.
        bridge: SocketAddr,
        /// The connect error.
        #[source]
        source: io::Error,
    },
    /// Reading or writing failed.
    #[error("SAM bridge at {bridge}, {during}: {source}")]
    Io {
        /// The bridge's address.
        bridge: SocketAddr,
        /// The step.
        during: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The bridge closed the connection.
    #[error(
        "the SAM bridge at {bridge} closed the connection during {during} (did the I2P router stop?)"
    )]
    Closed {
        /// The bridge's address.
        bridge: SocketAddr,
        /// The step.
        during: &'static str,
    },
    /// The bridge did not answer in time.
    #[error("the SAM bridge at {bridge} did not answer {during} within {after:?}")]
    Timeout {
        /// The bridge's address.
        bridge: SocketAddr,
        /// The step.
        during: &'static str,
        /// The time limit.
        after: Duration,
    },
    /// The bridge answered something that is not the SAM reply expected.
    #[error(
        "the SAM bridge at {bridge} answered {during} with something that is not SAM ({source}); is this port really a SAM bridge?"
    )]
    Garbled {
        /// The bridge's address.
        bridge: SocketAddr,
        /// The step.
        during: &'static str,
        /// What is wrong with the line.
        #[source]
        source: ReplyError,
    },
    /// The bridge refused the command with a `RESULT=` code other than `OK`.
    #[error("{during} refused by the SAM bridge at {bridge}: {code} ({}){}", code.meaning(), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Refused {
        /// The bridge's address.
        bridge: SocketAddr,
        /// The command.
        during: &'static str,
        /// The result code.
        code: ResultCode,
        /// The bridge's `MESSAGE=`, if any (at most 200 characters).
        message: Option<String>,
    },
    /// The bridge sent a destination or key that is not well-formed.
    #[error("the SAM bridge at {bridge} sent a malformed destination during {during}: {source}")]
    BadDestination {
        /// The bridge's address.
        bridge: SocketAddr,
        /// The step.
        during: &'static str,
        /// What is wrong with it.
        #[source]
        source: DestinationError,
    },
    /// `listen` was asked for an address that is not the session's own.
    #[error(
        "{asked} is not this SAM session's address {ours}: a session accepts only on its own destination"
    )]
    NotOurAddress {
        /// The address asked for.
        asked: I2pAddr,
        /// The session's address.
        ours: I2pAddr,
    },
    /// The configuration cannot work.
    #[error("invalid SAM transport configuration: {0}")]
    Config(&'static str),
}

impl SamError {
    /// The [`io::ErrorKind`] this error converts to.
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Unreachable { source, .. } | Self::Io { source, .. } => source.kind(),
            Self::Closed { .. } => io::ErrorKind::ConnectionAborted,
            Self::Timeout { .. } => io::ErrorKind::TimedOut,
            Self::Garbled { .. } | Self::BadDestination { .. } => io::ErrorKind::InvalidData,
            Self::Refused { code, .. } => code.io_kind(),
            Self::NotOurAddress { .. } => io::ErrorKind::AddrNotAvailable,
            Self::Config(_) => io::ErrorKind::InvalidInput,
        }
    }

    /// The `RESULT=` code, when the bridge refused a command.
    #[must_use]
    pub fn result_code(&self) -> Option<&ResultCode> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the error says the session is gone (the router restarted or dropped it), so
    /// a new session must be made.
    #[must_use]
    pub fn session_is_gone(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                code: ResultCode::InvalidId,
                ..
            }
        )
    }
}

impl From<SamError> for io::Error {
    fn from(error: SamError) -> Self {
        Self::new(error.kind(), error)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn codes_round_trip_and_map_to_io_kinds() {
        for code in [
            "OK",
            "CANT_REACH_PEER",
            "DUPLICATED_DEST",
            "DUPLICATED_ID",
            "I2P_ERROR",
            "INVALID_ID",
            "INVALID_KEY",
            "KEY_NOT_FOUND",
            "PEER_NOT_FOUND",
            "TIMEOUT",
            "NOVERSION",
            "ALREADY_ACCEPTING",
            "SOMETHING_NEW",
        ] {
            assert_eq!(ResultCode::parse(code).as_str(), code);
        }
        assert_eq!(
            ResultCode::CantReachPeer.io_kind(),
            io::ErrorKind::HostUnreachable
        );
        assert_eq!(ResultCode::KeyNotFound.io_kind(), io::ErrorKind::NotFound);
        assert_eq!(ResultCode::parse(&"X".repeat(100)).as_str().len(), 64);
    }

    #[test]
    fn refusal_reads_well_and_converts_to_io_error() {
        let error = SamError::Refused {
            bridge: "127.0.0.1:7656".parse().unwrap(),
            during: "STREAM CONNECT",
            code: ResultCode::CantReachPeer,
            message: Some("no leaseset".into()),
        };
        assert_eq!(
            error.to_string(),
            "STREAM CONNECT refused by the SAM bridge at 127.0.0.1:7656: CANT_REACH_PEER \
             (the peer's destination could not be reached): no leaseset"
        );
        let io: io::Error = error.into();
        assert_eq!(io.kind(), io::ErrorKind::HostUnreachable);
        let inner = io.get_ref().unwrap().downcast_ref::<SamError>().unwrap();
        assert_eq!(inner.result_code(), Some(&ResultCode::CantReachPeer));
    }
}
