//! Requests and responses out of notifications.
//!
//! Admin messages are levin requests and responses already, but protocol messages are all
//! one-way notifications: a `GetObjectsResponse` is a notification that happens to answer an
//! earlier `GetObjectsRequest`. To serve each peer as a request/response service, the
//! connection keeps track of which response it is waiting for and classifies each incoming
//! notification with [`classify`]:
//!
//! | request | response |
//! |---|---|
//! | `GetObjectsRequest` | `GetObjectsResponse` |
//! | `ChainRequest` | `ChainResponse` |
//! | `FluffyMissingTxsRequest` | `NewFluffyBlock` |
//! | `GetTxPoolComplement` | `NewTransactions` |
//! | `NewBlock`, `NewFluffyBlock`, `NewTransactions` | none |
//!
//! `NewFluffyBlock` and `NewTransactions` are responses when one is awaited and requests
//! (pushed by the peer) otherwise; `GetObjectsResponse` and `ChainResponse` that nobody
//! asked for are [`Incoming::Unsolicited`], a protocol violation the caller decides on.

use crate::{
    AdminRequest, AdminResponse, ChainRequest, ChainResponse, FluffyMissingTxsRequest,
    GetObjectsRequest, GetObjectsResponse, GetTxPoolComplement, MessageId, NewBlock,
    NewFluffyBlock, NewTransactions, ProtocolMessage,
};

/// A protocol message we send (or receive) as a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolRequest {
    /// Ask for blocks.
    GetObjects(GetObjectsRequest),
    /// Ask for chain ids.
    GetChain(ChainRequest),
    /// Ask for a fluffy block's missing transactions.
    FluffyMissingTxs(FluffyMissingTxsRequest),
    /// Ask for the peer's pool transactions we lack.
    GetTxPoolComplement(GetTxPoolComplement),
    /// Push a new block (no response).
    NewBlock(NewBlock),
    /// Push a new fluffy block (no response).
    NewFluffyBlock(NewFluffyBlock),
    /// Push transactions (no response).
    NewTransactions(NewTransactions),
}

/// A protocol message that answers a [`ProtocolRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolResponse {
    /// Answer to [`ProtocolRequest::GetObjects`].
    GetObjects(GetObjectsResponse),
    /// Answer to [`ProtocolRequest::GetChain`].
    GetChain(ChainResponse),
    /// Answer to [`ProtocolRequest::FluffyMissingTxs`].
    NewFluffyBlock(NewFluffyBlock),
    /// Answer to [`ProtocolRequest::GetTxPoolComplement`].
    NewTransactions(NewTransactions),
}

/// Any request a peer can be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerRequest {
    /// An admin request.
    Admin(AdminRequest),
    /// A protocol request.
    Protocol(ProtocolRequest),
}

/// Any response a peer can give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerResponse {
    /// An admin response.
    Admin(AdminResponse),
    /// A protocol response.
    Protocol(ProtocolResponse),
    /// The request was a one-way notification: nothing comes back.
    None,
}

impl ProtocolRequest {
    /// The message this request is sent as.
    #[must_use]
    pub const fn id(&self) -> MessageId {
        match self {
            Self::GetObjects(_) => MessageId::GetObjectsRequest,
            Self::GetChain(_) => MessageId::ChainRequest,
            Self::FluffyMissingTxs(_) => MessageId::FluffyMissingTxsRequest,
            Self::GetTxPoolComplement(_) => MessageId::GetTxPoolComplement,
            Self::NewBlock(_) => MessageId::NewBlock,
            Self::NewFluffyBlock(_) => MessageId::NewFluffyBlock,
            Self::NewTransactions(_) => MessageId::NewTransactions,
        }
    }

    /// The message that answers this request, if any.
    #[must_use]
    pub const fn expected_response(&self) -> Option<MessageId> {
        match self {
            Self::GetObjects(_) => Some(MessageId::GetObjectsResponse),
            Self::GetChain(_) => Some(MessageId::ChainResponse),
            Self::FluffyMissingTxs(_) => Some(MessageId::NewFluffyBlock),
            Self::GetTxPoolComplement(_) => Some(MessageId::NewTransactions),
            Self::NewBlock(_) | Self::NewFluffyBlock(_) | Self::NewTransactions(_) => None,
        }
    }
}

impl From<ProtocolRequest> for ProtocolMessage {
    fn from(request: ProtocolRequest) -> Self {
        match request {
            ProtocolRequest::GetObjects(m) => Self::GetObjectsRequest(m),
            ProtocolRequest::GetChain(m) => Self::ChainRequest(m),
            ProtocolRequest::FluffyMissingTxs(m) => Self::FluffyMissingTxsRequest(m),
            ProtocolRequest::GetTxPoolComplement(m) => Self::GetTxPoolComplement(m),
            ProtocolRequest::NewBlock(m) => Self::NewBlock(m),
            ProtocolRequest::NewFluffyBlock(m) => Self::NewFluffyBlock(m),
            ProtocolRequest::NewTransactions(m) => Self::NewTransactions(m),
        }
    }
}

impl From<ProtocolResponse> for ProtocolMessage {
    fn from(response: ProtocolResponse) -> Self {
        match response {
            ProtocolResponse::GetObjects(m) => Self::GetObjectsResponse(m),
            ProtocolResponse::GetChain(m) => Self::ChainResponse(m),
            ProtocolResponse::NewFluffyBlock(m) => Self::NewFluffyBlock(m),
            ProtocolResponse::NewTransactions(m) => Self::NewTransactions(m),
        }
    }
}

/// What an incoming protocol notification is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A request from the peer (one that may or may not expect an answer).
    Request(ProtocolRequest),
    /// The response we were waiting for.
    Response(ProtocolResponse),
    /// A response-only message nobody asked for.
    Unsolicited(ProtocolMessage),
}

/// Classifies an incoming protocol message, given the response we are waiting for.
#[must_use]
pub fn classify(message: ProtocolMessage, awaiting: Option<MessageId>) -> Incoming {
    let awaited = awaiting == Some(message.id());
    match message {
        ProtocolMessage::GetObjectsRequest(m) => Incoming::Request(ProtocolRequest::GetObjects(m)),
        ProtocolMessage::ChainRequest(m) => Incoming::Request(ProtocolRequest::GetChain(m)),
        ProtocolMessage::FluffyMissingTxsRequest(m) => {
            Incoming::Request(ProtocolRequest::FluffyMissingTxs(m))
        }
        ProtocolMessage::GetTxPoolComplement(m) => {
            Incoming::Request(ProtocolRequest::GetTxPoolComplement(m))
        }
        ProtocolMessage::NewBlock(m) => Incoming::Request(ProtocolRequest::NewBlock(m)),
        ProtocolMessage::NewFluffyBlock(m) if awaited => {
            Incoming::Response(ProtocolResponse::NewFluffyBlock(m))
        }
        ProtocolMessage::NewFluffyBlock(m) => Incoming::Request(ProtocolRequest::NewFluffyBlock(m)),
        ProtocolMessage::NewTransactions(m) if awaited => {
            Incoming::Response(ProtocolResponse::NewTransactions(m))
        }
        ProtocolMessage::NewTransactions(m) => {
            Incoming::Request(ProtocolRequest::NewTransactions(m))
        }
        ProtocolMessage::GetObjectsResponse(m) if awaited => {
            Incoming::Response(ProtocolResponse::GetObjects(m))
        }
        ProtocolMessage::ChainResponse(m) if awaited => {
            Incoming::Response(ProtocolResponse::GetChain(m))
        }
        other @ (ProtocolMessage::GetObjectsResponse(_) | ProtocolMessage::ChainResponse(_)) => {
            Incoming::Unsolicited(other)
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn txs() -> NewTransactions {
        NewTransactions {
            txs: vec![Bytes::from_static(b"tx")],
            padding: Bytes::new(),
            dandelionpp_fluff: true,
        }
    }

    #[test]
    fn new_transactions_is_a_response_only_when_awaited() {
        let message = ProtocolMessage::NewTransactions(txs());
        assert!(matches!(
            classify(message.clone(), Some(MessageId::NewTransactions)),
            Incoming::Response(ProtocolResponse::NewTransactions(_))
        ));
        assert!(matches!(
            classify(message.clone(), None),
            Incoming::Request(ProtocolRequest::NewTransactions(_))
        ));
        assert!(matches!(
            classify(message, Some(MessageId::ChainResponse)),
            Incoming::Request(ProtocolRequest::NewTransactions(_))
        ));
    }

    #[test]
    fn unsolicited_responses_are_flagged() {
        let message = ProtocolMessage::GetObjectsResponse(GetObjectsResponse {
            blocks: Vec::new(),
            missed_ids: Default::default(),
            current_blockchain_height: 1,
        });
        assert!(matches!(classify(message, None), Incoming::Unsolicited(_)));
    }

    #[test]
    fn each_request_expects_the_table_response() {
        let request = ProtocolRequest::GetTxPoolComplement(GetTxPoolComplement {
            hashes: Default::default(),
        });
        assert_eq!(
            request.expected_response(),
            Some(MessageId::NewTransactions)
        );
        assert_eq!(
            ProtocolRequest::NewTransactions(txs()).expected_response(),
            None
        );
        let message = ProtocolMessage::from(request);
        assert_eq!(message.id(), MessageId::GetTxPoolComplement);
    }
}
