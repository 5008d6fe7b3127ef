//! The whole message set, how it rides on levin, and its errors.

use bytes::{Bytes, BytesMut};
use umbra_epee::{EpeeObject, Limits};
use umbra_levin::{LevinMessage, MessageHead, MessageKind, return_code};

use crate::{
    AdminRequest, AdminResponse, ChainRequest, ChainResponse, FluffyMissingTxsRequest,
    GetObjectsRequest, GetObjectsResponse, GetTxPoolComplement, HandshakeRequest,
    HandshakeResponse, NewBlock, NewFluffyBlock, NewTransactions, PingResponse, ProtocolMessage,
    SupportFlagsResponse, TimedSyncRequest, TimedSyncResponse, admin::Empty,
};

/// Every message of the Monero P2P protocol, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageId {
    /// 1001.
    Handshake,
    /// 1002.
    TimedSync,
    /// 1003.
    Ping,
    /// 1007.
    SupportFlags,
    /// 2001.
    NewBlock,
    /// 2002.
    NewTransactions,
    /// 2003.
    GetObjectsRequest,
    /// 2004.
    GetObjectsResponse,
    /// 2006.
    ChainRequest,
    /// 2007.
    ChainResponse,
    /// 2008.
    NewFluffyBlock,
    /// 2009.
    FluffyMissingTxsRequest,
    /// 2010.
    GetTxPoolComplement,
}

impl MessageId {
    /// Every message id.
    pub const ALL: [Self; 13] = [
        Self::Handshake,
        Self::TimedSync,
        Self::Ping,
        Self::SupportFlags,
        Self::NewBlock,
        Self::NewTransactions,
        Self::GetObjectsRequest,
        Self::GetObjectsResponse,
        Self::ChainRequest,
        Self::ChainResponse,
        Self::NewFluffyBlock,
        Self::FluffyMissingTxsRequest,
        Self::GetTxPoolComplement,
    ];

    /// The levin command number.
    #[must_use]
    pub const fn command(self) -> u32 {
        match self {
            Self::Handshake => 1001,
            Self::TimedSync => 1002,
            Self::Ping => 1003,
            Self::SupportFlags => 1007,
            Self::NewBlock => 2001,
            Self::NewTransactions => 2002,
            Self::GetObjectsRequest => 2003,
            Self::GetObjectsResponse => 2004,
            Self::ChainRequest => 2006,
            Self::ChainResponse => 2007,
            Self::NewFluffyBlock => 2008,
            Self::FluffyMissingTxsRequest => 2009,
            Self::GetTxPoolComplement => 2010,
        }
    }

    /// The message with levin command `command`.
    #[must_use]
    pub const fn from_command(command: u32) -> Option<Self> {
        Some(match command {
            1001 => Self::Handshake,
            1002 => Self::TimedSync,
            1003 => Self::Ping,
            1007 => Self::SupportFlags,
            2001 => Self::NewBlock,
            2002 => Self::NewTransactions,
            2003 => Self::GetObjectsRequest,
            2004 => Self::GetObjectsResponse,
            2006 => Self::ChainRequest,
            2007 => Self::ChainResponse,
            2008 => Self::NewFluffyBlock,
            2009 => Self::FluffyMissingTxsRequest,
            2010 => Self::GetTxPoolComplement,
            _ => return None,
        })
    }

    /// Whether this is an admin message (a levin request/response); otherwise it is a
    /// protocol message (a levin notification).
    #[must_use]
    pub const fn is_admin(self) -> bool {
        self.command() < 2000
    }
}

/// A levin message of the Monero P2P protocol: what [`umbra_levin::LevinCodec`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An admin request (levin request).
    Request(AdminRequest),
    /// An admin response (levin response).
    Response(AdminResponse),
    /// A protocol message (levin notification).
    Protocol(ProtocolMessage),
}

/// The levin codec for the Monero P2P protocol.
pub type MoneroCodec = umbra_levin::LevinCodec<Message>;

/// What can go wrong turning a levin body into a [`Message`] or back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A command number this message set does not have.
    #[error("unknown command {0}")]
    UnknownCommand(u32),
    /// A known command with the wrong levin kind (e.g. a handshake sent as a notification).
    #[error("command {command} ({id:?}) cannot be a {kind}")]
    WrongKind {
        /// The command.
        command: u32,
        /// What it is.
        id: MessageId,
        /// The kind it arrived as.
        kind: MessageKind,
    },
    /// A response carrying an error return code instead of a body.
    #[error("peer answered command {command} with error code {code}")]
    ErrorResponse {
        /// The command.
        command: u32,
        /// The levin return code (zero or negative).
        code: i32,
    },
    /// The body is not valid epee for the command.
    #[error("bad body for {id:?}: {source}")]
    Body {
        /// The message.
        id: MessageId,
        /// What was wrong.
        #[source]
        source: umbra_epee::Error,
    },
}

impl Message {
    /// The message's id.
    #[must_use]
    pub const fn id(&self) -> MessageId {
        match self {
            Self::Request(request) => request.id(),
            Self::Response(response) => response.id(),
            Self::Protocol(message) => message.id(),
        }
    }

    /// Decodes a message with explicit epee limits (the [`LevinMessage`] impl uses
    /// [`Limits::default`], monerod's own P2P limits).
    ///
    /// # Errors
    /// [`WireError`] naming the command and what was wrong.
    pub fn decode_with_limits(
        head: MessageHead,
        body: &Bytes,
        limits: Limits,
    ) -> Result<Self, WireError> {
        let id =
            MessageId::from_command(head.command).ok_or(WireError::UnknownCommand(head.command))?;
        let wrong_kind = || WireError::WrongKind {
            command: head.command,
            id,
            kind: head.kind,
        };
        let body_of = |source| WireError::Body { id, source };
        fn read<'de, T: EpeeObject<'de>>(
            body: &'de Bytes,
            limits: Limits,
        ) -> Result<T, umbra_epee::Error> {
            umbra_epee::from_bytes_with_limits(body, limits)
        }
        match head.kind {
            MessageKind::Request => Ok(Self::Request(match id {
                MessageId::Handshake => {
                    AdminRequest::Handshake(read(body, limits).map_err(body_of)?)
                }
                MessageId::TimedSync => {
                    AdminRequest::TimedSync(read(body, limits).map_err(body_of)?)
                }
                MessageId::Ping => {
                    read::<Empty>(body, limits).map_err(body_of)?;
                    AdminRequest::Ping
                }
                MessageId::SupportFlags => {
                    read::<Empty>(body, limits).map_err(body_of)?;
                    AdminRequest::SupportFlags
                }
                _ => return Err(wrong_kind()),
            })),
            MessageKind::Response => {
                if !id.is_admin() {
                    return Err(wrong_kind());
                }
                if head.return_code <= 0 {
                    return Err(WireError::ErrorResponse {
                        command: head.command,
                        code: head.return_code,
                    });
                }
                Ok(Self::Response(match id {
                    MessageId::Handshake => {
                        AdminResponse::Handshake(read(body, limits).map_err(body_of)?)
                    }
                    MessageId::TimedSync => {
                        AdminResponse::TimedSync(read(body, limits).map_err(body_of)?)
                    }
                    MessageId::Ping => AdminResponse::Ping(read(body, limits).map_err(body_of)?),
                    _ => AdminResponse::SupportFlags(read(body, limits).map_err(body_of)?),
                }))
            }
            MessageKind::Notification => Ok(Self::Protocol(match id {
                MessageId::NewBlock => {
                    ProtocolMessage::NewBlock(read(body, limits).map_err(body_of)?)
                }
                MessageId::NewTransactions => {
                    ProtocolMessage::NewTransactions(read(body, limits).map_err(body_of)?)
                }
                MessageId::GetObjectsRequest => {
                    ProtocolMessage::GetObjectsRequest(read(body, limits).map_err(body_of)?)
                }
                MessageId::GetObjectsResponse => {
                    ProtocolMessage::GetObjectsResponse(read(body, limits).map_err(body_of)?)
                }
                MessageId::ChainRequest => {
                    ProtocolMessage::ChainRequest(read(body, limits).map_err(body_of)?)
                }
                MessageId::ChainResponse => {
                    ProtocolMessage::ChainResponse(read(body, limits).map_err(body_of)?)
                }
                MessageId::NewFluffyBlock => {
                    ProtocolMessage::NewFluffyBlock(read(body, limits).map_err(body_of)?)
                }
                MessageId::FluffyMissingTxsRequest => {
                    ProtocolMessage::FluffyMissingTxsRequest(read(body, limits).map_err(body_of)?)
                }
                MessageId::GetTxPoolComplement => {
                    ProtocolMessage::GetTxPoolComplement(read(body, limits).map_err(body_of)?)
                }
                _ => return Err(wrong_kind()),
            })),
        }
    }
}

impl AdminRequest {
    /// The message's id.
    #[must_use]
    pub const fn id(&self) -> MessageId {
        match self {
            Self::Handshake(_) => MessageId::Handshake,
            Self::TimedSync(_) => MessageId::TimedSync,
            Self::Ping => MessageId::Ping,
            Self::SupportFlags => MessageId::SupportFlags,
        }
    }
}

impl AdminResponse {
    /// The message's id.
    #[must_use]
    pub const fn id(&self) -> MessageId {
        match self {
            Self::Handshake(_) => MessageId::Handshake,
            Self::TimedSync(_) => MessageId::TimedSync,
            Self::Ping(_) => MessageId::Ping,
            Self::SupportFlags(_) => MessageId::SupportFlags,
        }
    }
}

impl ProtocolMessage {
    /// The message's id.
    #[must_use]
    pub const fn id(&self) -> MessageId {
        match self {
            Self::NewBlock(_) => MessageId::NewBlock,
            Self::NewTransactions(_) => MessageId::NewTransactions,
            Self::GetObjectsRequest(_) => MessageId::GetObjectsRequest,
            Self::GetObjectsResponse(_) => MessageId::GetObjectsResponse,
            Self::ChainRequest(_) => MessageId::ChainRequest,
            Self::ChainResponse(_) => MessageId::ChainResponse,
            Self::NewFluffyBlock(_) => MessageId::NewFluffyBlock,
            Self::FluffyMissingTxsRequest(_) => MessageId::FluffyMissingTxsRequest,
            Self::GetTxPoolComplement(_) => MessageId::GetTxPoolComplement,
        }
    }
}

fn write<'de, T: EpeeObject<'de>>(
    value: &T,
    dst: &mut BytesMut,
    id: MessageId,
) -> Result<(), WireError> {
    umbra_epee::to_writer(value, dst).map_err(|source| WireError::Body { id, source })
}

impl LevinMessage for Message {
    type Error = WireError;

    fn head(&self) -> MessageHead {
        let command = self.id().command();
        match self {
            Self::Request(_) => MessageHead::request(command),
            // monerod's handlers answer with 1 on success, and treat 0 or less as failure.
            Self::Response(_) => MessageHead::response(command, return_code::SUCCESS),
            Self::Protocol(_) => MessageHead::notification(command),
        }
    }

    fn encode_body(&self, dst: &mut BytesMut) -> Result<(), WireError> {
        let id = self.id();
        match self {
            Self::Request(AdminRequest::Handshake(m)) => write(m, dst, id),
            Self::Request(AdminRequest::TimedSync(m)) => write(m, dst, id),
            Self::Request(AdminRequest::Ping | AdminRequest::SupportFlags) => {
                write(&Empty {}, dst, id)
            }
            Self::Response(AdminResponse::Handshake(m)) => write(m, dst, id),
            Self::Response(AdminResponse::TimedSync(m)) => write(m, dst, id),
            Self::Response(AdminResponse::Ping(m)) => write(m, dst, id),
            Self::Response(AdminResponse::SupportFlags(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::NewBlock(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::NewTransactions(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::GetObjectsRequest(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::GetObjectsResponse(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::ChainRequest(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::ChainResponse(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::NewFluffyBlock(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::FluffyMissingTxsRequest(m)) => write(m, dst, id),
            Self::Protocol(ProtocolMessage::GetTxPoolComplement(m)) => write(m, dst, id),
        }
    }

    fn decode(head: MessageHead, body: Bytes) -> Result<Self, WireError> {
        Self::decode_with_limits(head, &body, Limits::default())
    }
}

macro_rules! from_protocol {
    ($($ty:ident),* $(,)?) => {$(
        impl From<$ty> for Message {
            fn from(value: $ty) -> Self {
                Self::Protocol(ProtocolMessage::$ty(value))
            }
        }
    )*};
}

impl From<HandshakeRequest> for Message {
    fn from(value: HandshakeRequest) -> Self {
        Self::Request(AdminRequest::Handshake(value))
    }
}
impl From<TimedSyncRequest> for Message {
    fn from(value: TimedSyncRequest) -> Self {
        Self::Request(AdminRequest::TimedSync(value))
    }
}
impl From<HandshakeResponse> for Message {
    fn from(value: HandshakeResponse) -> Self {
        Self::Response(AdminResponse::Handshake(value))
    }
}
impl From<TimedSyncResponse> for Message {
    fn from(value: TimedSyncResponse) -> Self {
        Self::Response(AdminResponse::TimedSync(value))
    }
}
impl From<PingResponse> for Message {
    fn from(value: PingResponse) -> Self {
        Self::Response(AdminResponse::Ping(value))
    }
}
impl From<SupportFlagsResponse> for Message {
    fn from(value: SupportFlagsResponse) -> Self {
        Self::Response(AdminResponse::SupportFlags(value))
    }
}
impl From<AdminRequest> for Message {
    fn from(value: AdminRequest) -> Self {
        Self::Request(value)
    }
}
impl From<AdminResponse> for Message {
    fn from(value: AdminResponse) -> Self {
        Self::Response(value)
    }
}
impl From<ProtocolMessage> for Message {
    fn from(value: ProtocolMessage) -> Self {
        Self::Protocol(value)
    }
}

from_protocol! {
    NewBlock,
    NewTransactions,
    GetObjectsRequest,
    GetObjectsResponse,
    ChainRequest,
    ChainResponse,
    NewFluffyBlock,
    FluffyMissingTxsRequest,
    GetTxPoolComplement,
}
