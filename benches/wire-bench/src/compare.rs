//! Pairs each of our message types with its [`crate::reference`] twin, so a benchmark can
//! decode the same bytes both ways and check that both decoders extracted the same values.

use std::fmt::Debug;

use umbra_epee::EpeeObject;
use umbra_wire::{
    BasicNodeData, BlockCompleteEntry, ChainResponse, CoreSyncData, GetObjectsResponse,
    HandshakeRequest, HandshakeResponse, NetworkAddress, PeerListEntry, TxBlobRef,
};

use crate::reference;

/// A message of ours that the reference decoder also decodes.
pub trait Compared: for<'a> EpeeObject<'a> + Debug {
    /// The same message with its blobs borrowed from the input (`&[u8]` storage).
    type Borrowed<'a>: EpeeObject<'a> + Debug;

    /// The reference decoder's struct for this message, borrowing from the body.
    type Reference<'a>: PartialEq + Debug;

    /// Decodes an epee body with `monero-epee`.
    ///
    /// # Errors
    /// Whatever the reference decoder refuses.
    fn decode_reference(body: &[u8]) -> reference::Result<Self::Reference<'_>>;

    /// Our decoded value in the reference's shape, to compare the two.
    fn as_reference(&self) -> Self::Reference<'_>;
}

fn node_data(ours: &BasicNodeData) -> reference::NodeData<'_> {
    reference::NodeData {
        network_id: &ours.network_id,
        my_port: ours.my_port,
        rpc_port: ours.rpc_port,
        rpc_credits_per_hash: ours.rpc_credits_per_hash,
        peer_id: ours.peer_id,
        support_flags: ours.support_flags,
    }
}

fn core_sync(ours: &CoreSyncData) -> reference::CoreSyncData<'_> {
    reference::CoreSyncData {
        current_height: ours.current_height,
        cumulative_difficulty: ours.cumulative_difficulty,
        cumulative_difficulty_top64: ours.cumulative_difficulty_top64,
        top_id: &ours.top_id,
        top_version: ours.top_version,
        pruning_seed: ours.pruning_seed,
    }
}

fn address(ours: &NetworkAddress) -> reference::Address<'_> {
    match ours {
        NetworkAddress::Ipv4(a) => reference::Address::Ipv4(*a),
        NetworkAddress::Ipv6(a) => reference::Address::Ipv6(*a),
        NetworkAddress::Tor { host, port } => reference::Address::Tor { host, port: *port },
        NetworkAddress::I2p { host, port } => reference::Address::I2p { host, port: *port },
    }
}

fn peer(ours: &PeerListEntry) -> reference::PeerListEntry<'_> {
    reference::PeerListEntry {
        adr: address(&ours.adr),
        id: ours.id,
        last_seen: ours.last_seen,
        pruning_seed: ours.pruning_seed,
        rpc_port: ours.rpc_port,
        rpc_credits_per_hash: ours.rpc_credits_per_hash,
    }
}

/// A pruned transaction in the reference's shape (`None` for a full blob, which a pruned
/// list never holds).
fn pruned_tx(ours: TxBlobRef<'_>) -> Option<reference::TxBlobEntry<'_>> {
    Some(reference::TxBlobEntry {
        blob: ours.blob(),
        prunable_hash: ours.prunable_hash()?,
    })
}

fn block_entry(ours: &BlockCompleteEntry) -> reference::BlockCompleteEntry<'_> {
    reference::BlockCompleteEntry {
        pruned: ours.pruned,
        block: &ours.block,
        block_weight: ours.block_weight,
        txs: if ours.txs.is_pruned() {
            reference::TransactionBlobs::Pruned(ours.txs.iter().filter_map(pruned_tx).collect())
        } else {
            reference::TransactionBlobs::Normal(ours.txs.iter().map(|tx| tx.blob()).collect())
        },
    }
}

impl Compared for HandshakeRequest {
    type Borrowed<'a> = HandshakeRequest;
    type Reference<'a> = reference::HandshakeRequest<'a>;

    fn decode_reference(body: &[u8]) -> reference::Result<Self::Reference<'_>> {
        reference::handshake_request(body)
    }

    fn as_reference(&self) -> Self::Reference<'_> {
        reference::HandshakeRequest {
            node_data: node_data(&self.node_data),
            payload_data: core_sync(&self.payload_data),
        }
    }
}

impl Compared for HandshakeResponse {
    type Borrowed<'a> = HandshakeResponse;
    type Reference<'a> = reference::HandshakeResponse<'a>;

    fn decode_reference(body: &[u8]) -> reference::Result<Self::Reference<'_>> {
        reference::handshake_response(body)
    }

    fn as_reference(&self) -> Self::Reference<'_> {
        reference::HandshakeResponse {
            node_data: node_data(&self.node_data),
            payload_data: core_sync(&self.payload_data),
            local_peerlist_new: self.local_peerlist_new.iter().map(peer).collect(),
        }
    }
}

impl Compared for ChainResponse {
    type Borrowed<'a> = ChainResponse<&'a [u8]>;
    type Reference<'a> = reference::ChainResponse<'a>;

    fn decode_reference(body: &[u8]) -> reference::Result<Self::Reference<'_>> {
        reference::chain_response(body)
    }

    fn as_reference(&self) -> Self::Reference<'_> {
        reference::ChainResponse {
            start_height: self.start_height,
            total_height: self.total_height,
            cumulative_difficulty: self.cumulative_difficulty,
            cumulative_difficulty_top64: self.cumulative_difficulty_top64,
            m_block_ids: self.m_block_ids.as_slice(),
            m_block_weights: self.m_block_weights.blob(),
            first_block: &self.first_block,
        }
    }
}

impl Compared for GetObjectsResponse {
    type Borrowed<'a> = GetObjectsResponse<&'a [u8]>;
    type Reference<'a> = reference::GetObjectsResponse<'a>;

    fn decode_reference(body: &[u8]) -> reference::Result<Self::Reference<'_>> {
        reference::get_objects_response(body)
    }

    fn as_reference(&self) -> Self::Reference<'_> {
        reference::GetObjectsResponse {
            blocks: self.blocks.iter().map(block_entry).collect(),
            missed_ids: self.missed_ids.as_slice(),
            current_blockchain_height: self.current_blockchain_height,
        }
    }
}
