//! Structures shared by several messages: node data, core sync data, peer-list entries and
//! block entries.

use bytes::{BufMut, Bytes};
use umbra_epee::{Blob, EpeeObject, EpeeValue, ErrorKind, Marker, Reader, Result};

use crate::NetworkAddress;

/// The 16-byte network ids (`NETWORK_ID` in monerod's `cryptonote_config.h`).
pub mod network_id {
    /// Mainnet, and also regtest (regtest runs with mainnet's id).
    pub const MAINNET: [u8; 16] = [
        0x12, 0x30, 0xf1, 0x71, 0x61, 0x04, 0x41, 0x61, 0x17, 0x31, 0x00, 0x82, 0x16, 0xa1, 0xa1,
        0x10,
    ];
    /// Testnet.
    pub const TESTNET: [u8; 16] = [
        0x12, 0x30, 0xf1, 0x71, 0x61, 0x04, 0x41, 0x61, 0x17, 0x31, 0x00, 0x82, 0x16, 0xa1, 0xa1,
        0x11,
    ];
    /// Stagenet.
    pub const STAGENET: [u8; 16] = [
        0x12, 0x30, 0xf1, 0x71, 0x61, 0x04, 0x41, 0x61, 0x17, 0x31, 0x00, 0x82, 0x16, 0xa1, 0xa1,
        0x12,
    ];
}

/// P2P support flags (`P2P_SUPPORT_FLAG_*`).
pub mod support_flags {
    /// The peer understands fluffy (compact) blocks.
    pub const FLUFFY_BLOCKS: u32 = 0x01;
    /// Every flag monerod 0.18 sets.
    pub const ALL: u32 = FLUFFY_BLOCKS;
}

/// Who a node is (`basic_node_data`).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct BasicNodeData {
    /// The network the node is on; see [`network_id`].
    pub network_id: [u8; 16],
    /// The port the node accepts P2P connections on; 0 if it accepts none.
    pub my_port: u32,
    /// The node's restricted RPC port, 0 if it does not advertise one.
    #[epee(default = 0)]
    pub rpc_port: u16,
    /// RPC payment: credits per hash, 0 if free or no RPC.
    #[epee(default = 0)]
    pub rpc_credits_per_hash: u32,
    /// A random id for this node on this network zone.
    pub peer_id: u64,
    /// [`support_flags`] the node has.
    #[epee(default = 0)]
    pub support_flags: u32,
}

/// The state of a node's chain (`CORE_SYNC_DATA`).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct CoreSyncData {
    /// Number of blocks (height of the top block + 1).
    pub current_height: u64,
    /// Low 64 bits of the cumulative difficulty.
    pub cumulative_difficulty: u64,
    /// High 64 bits of the cumulative difficulty (monerod 0.18 always writes it; older
    /// peers may not).
    #[epee(missing = 0)]
    pub cumulative_difficulty_top64: u64,
    /// Hash of the top block.
    pub top_id: [u8; 32],
    /// Major version of the top block.
    #[epee(default = 0)]
    pub top_version: u8,
    /// The node's pruning seed, 0 if it does not prune.
    #[epee(default = 0)]
    pub pruning_seed: u32,
}

impl CoreSyncData {
    /// The full 128-bit cumulative difficulty.
    #[must_use]
    pub const fn cumulative_difficulty(&self) -> u128 {
        ((self.cumulative_difficulty_top64 as u128) << 64) | self.cumulative_difficulty as u128
    }

    /// Sets both halves of the cumulative difficulty.
    pub const fn set_cumulative_difficulty(&mut self, difficulty: u128) {
        self.cumulative_difficulty = difficulty as u64;
        self.cumulative_difficulty_top64 = (difficulty >> 64) as u64;
    }
}

/// An entry of a peer list (`peerlist_entry`).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct PeerListEntry {
    /// Where the peer can be reached.
    pub adr: NetworkAddress,
    /// The peer's id.
    pub id: u64,
    /// When the sender last saw the peer, in seconds since the epoch; 0 if never.
    #[epee(default = 0)]
    pub last_seen: i64,
    /// The peer's pruning seed.
    #[epee(default = 0)]
    pub pruning_seed: u32,
    /// The peer's RPC port, 0 if none.
    #[epee(default = 0)]
    pub rpc_port: u16,
    /// RPC payment: credits per hash.
    #[epee(default = 0)]
    pub rpc_credits_per_hash: u32,
}

/// A pruned transaction: its non-prunable part and the hash of the prunable part
/// (`tx_blob_entry`).
///
/// `B` is where blobs live: [`Bytes`] (owned, sharing the received buffer) or `&[u8]`
/// (borrowed from the input, see [`umbra_epee::from_slice`]); the same holds for every
/// message type with a blob in it.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct TxBlobEntry<B: Blob = Bytes> {
    /// The transaction without its prunable part.
    pub blob: B,
    /// Hash of the pruned part.
    pub prunable_hash: [u8; 32],
}

/// The transactions of a [`BlockCompleteEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionBlobs<B: Blob = Bytes> {
    /// Full transaction blobs (the entry is not pruned).
    Normal(Vec<B>),
    /// Pruned transactions (the entry is pruned).
    Pruned(Vec<TxBlobEntry<B>>),
}

impl<B: Blob> TransactionBlobs<B> {
    /// Number of transactions.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Normal(txs) => txs.len(),
            Self::Pruned(txs) => txs.len(),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// On the wire, `txs` is an array of strings (full blobs) or an array of `tx_blob_entry`
/// objects (pruned); which one is read from its marker.
impl<'de, B: Blob + EpeeValue<'de>> EpeeValue<'de> for TransactionBlobs<B> {
    /// Nominal: the marker actually written is [`EpeeValue::marker`]'s.
    const MARKER: Marker = <Vec<B> as EpeeValue<'de>>::MARKER;

    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker == <Vec<TxBlobEntry<B>> as EpeeValue<'de>>::MARKER {
            Vec::read(r, marker).map(Self::Pruned)
        } else {
            Vec::read(r, marker).map(Self::Normal)
        }
    }

    fn write<W: BufMut>(&self, w: &mut W) -> Result<()> {
        match self {
            Self::Normal(txs) => txs.write(w),
            Self::Pruned(txs) => txs.write(w),
        }
    }

    fn missing() -> Option<Self> {
        Some(Self::Normal(Vec::new()))
    }

    fn should_write(&self) -> bool {
        !self.is_empty()
    }

    fn marker(&self) -> Marker {
        match self {
            Self::Normal(_) => <Vec<B> as EpeeValue<'de>>::MARKER,
            Self::Pruned(_) => <Vec<TxBlobEntry<B>> as EpeeValue<'de>>::MARKER,
        }
    }
}

/// A block and its transactions (`block_complete_entry`).
///
/// On the wire `txs` is an array of strings when the entry is not pruned and an array of
/// `tx_blob_entry` objects when it is; the decoder checks that `txs` agrees with `pruned`.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
#[epee(validate = Self::check_txs)]
pub struct BlockCompleteEntry<B: Blob = Bytes> {
    /// Whether the transactions are pruned.
    #[epee(default = false)]
    pub pruned: bool,
    /// The block blob.
    pub block: B,
    /// The block's weight; monerod sends it only for pruned entries (0 otherwise).
    #[epee(default = 0)]
    pub block_weight: u64,
    /// The block's transactions (not the miner transaction).
    pub txs: TransactionBlobs<B>,
}

impl<B: Blob> BlockCompleteEntry<B> {
    /// `txs` must be of the kind `pruned` says. An empty list carries no evidence either way
    /// and takes the kind `pruned` says, so that what is decoded encodes back to the same
    /// value.
    #[inline]
    fn check_txs(&mut self) -> Result<()> {
        let is_pruned_list = matches!(self.txs, TransactionBlobs::Pruned(_));
        if self.pruned == is_pruned_list {
            return Ok(());
        }
        if self.txs.is_empty() {
            self.txs = if self.pruned {
                TransactionBlobs::Pruned(Vec::new())
            } else {
                TransactionBlobs::Normal(Vec::new())
            };
            return Ok(());
        }
        Err(ErrorKind::Invalid(format!(
            "entry says pruned={} but its transactions are {}",
            self.pruned,
            if self.pruned {
                "full blobs"
            } else {
                "pruned entries"
            }
        ))
        .in_field("txs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_difficulty_is_split_in_two_u64() {
        let mut data = CoreSyncData {
            current_height: 1,
            cumulative_difficulty: 0,
            cumulative_difficulty_top64: 0,
            top_id: [0; 32],
            top_version: 1,
            pruning_seed: 0,
        };
        let difficulty = (5u128 << 64) | 7;
        data.set_cumulative_difficulty(difficulty);
        assert_eq!(
            (data.cumulative_difficulty_top64, data.cumulative_difficulty),
            (5, 7)
        );
        assert_eq!(data.cumulative_difficulty(), difficulty);
    }

    #[test]
    fn block_entries_round_trip_pruned_and_not() {
        for entry in [
            BlockCompleteEntry {
                pruned: false,
                block: Bytes::from_static(b"block"),
                block_weight: 0,
                txs: TransactionBlobs::Normal(vec![Bytes::from_static(b"tx1")]),
            },
            BlockCompleteEntry {
                pruned: true,
                block: Bytes::from_static(b"block"),
                block_weight: 1234,
                txs: TransactionBlobs::Pruned(vec![TxBlobEntry {
                    blob: Bytes::from_static(b"tx"),
                    prunable_hash: [3; 32],
                }]),
            },
            BlockCompleteEntry {
                pruned: false,
                block: Bytes::from_static(b"empty"),
                block_weight: 0,
                txs: TransactionBlobs::Normal(Vec::new()),
            },
        ] {
            let bytes = umbra_epee::to_bytes(&entry).unwrap().freeze();
            assert_eq!(
                umbra_epee::from_bytes::<BlockCompleteEntry>(&bytes).unwrap(),
                entry
            );
        }
    }

    #[test]
    fn txs_that_disagree_with_pruned_are_an_error() {
        let entry = BlockCompleteEntry {
            pruned: true,
            block: Bytes::from_static(b"block"),
            block_weight: 0,
            txs: TransactionBlobs::Pruned(vec![TxBlobEntry {
                blob: Bytes::new(),
                prunable_hash: [0; 32],
            }]),
        };
        let mut bytes = umbra_epee::to_bytes(&entry).unwrap().to_vec();
        // Flip `pruned` from true to false (the byte after its marker).
        let at = bytes.windows(7).position(|w| w == b"pruned\x0b").unwrap() + 7;
        bytes[at] = 0;
        let error = umbra_epee::from_bytes::<BlockCompleteEntry>(&Bytes::from(bytes)).unwrap_err();
        assert_eq!(error.field_path(), ["txs"]);
    }
}
