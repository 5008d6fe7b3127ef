//! Every message of the Monero P2P protocol, with monerod's exact field names and types,
//! riding on [`umbra_levin`] with bodies in [`umbra_epee`].
//!
//! # Where it sits
//!
//! ```text
//! bytes ─▶ levin frame (umbra-levin) ─▶ Message (this crate) ─▶ peer connection (p2p-core)
//! ```
//!
//! - [`Message`] is the levin message set: admin requests and responses (handshake 1001,
//!   timed sync 1002, ping 1003, support flags 1007) and protocol notifications
//!   (2001–2010). It implements [`umbra_levin::LevinMessage`], so
//!   [`MoneroCodec`] frames and parses a byte stream to and from monerod.
//! - The structs ([`HandshakeRequest`], [`ChainResponse`], …) are the message bodies; each
//!   field has monerod's name on the wire and monerod's type, including the 128-bit
//!   cumulative difficulty split in two `u64` fields and hash lists stored as one blob.
//! - [`NetworkAddress`] covers every address type monerod puts in peer lists (IPv4, IPv6,
//!   Tor v3, I2P).
//! - [`split`] turns protocol notifications into requests and responses, so a peer can be
//!   served as a request/response service.
//!
//! Encoding is byte-for-byte what monerod writes (field order, omitted defaults and empty
//! containers); the test data in `tests/data` was captured from a real monerod and is
//! checked both ways.
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use tokio_util::codec::{Decoder, Encoder};
//! use umbra_wire::{AdminRequest, Message, MoneroCodec};
//!
//! let mut codec = MoneroCodec::default();
//! let mut wire = BytesMut::new();
//! codec.encode(Message::Request(AdminRequest::Ping), &mut wire)?;
//! assert_eq!(&wire[..8], &[0x01, 0x21, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01]);
//! let decoded = codec.decode(&mut wire)?.expect("a whole message");
//! assert_eq!(decoded, Message::Request(AdminRequest::Ping));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
mod admin;
mod common;
mod message;
mod protocol;
pub mod split;

pub use address::{MAX_HOST_LEN, NetworkAddress, address_type};
pub use admin::{
    AdminRequest, AdminResponse, Empty, HandshakeRequest, HandshakeResponse, PING_OK_STATUS,
    PingResponse, SupportFlagsResponse, TimedSyncRequest, TimedSyncResponse,
};
pub use common::{
    BasicNodeData, BlockCompleteEntry, CoreSyncData, PeerListEntry, TransactionBlobs,
    TransactionBlobsIter, TxBlobEntry, TxBlobRef, genesis, network_id, support_flags,
    umbra_transports,
};
pub use message::{Message, MessageId, MoneroCodec, WireError};
pub use protocol::{
    ChainRequest, ChainResponse, FluffyMissingTxsRequest, GetObjectsRequest, GetObjectsResponse,
    GetTxPoolComplement, NewBlock, NewFluffyBlock, NewTransactions, ProtocolMessage,
};
