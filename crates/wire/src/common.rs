//! Structures shared by several messages: node data, core sync data, peer-list entries and
//! block entries.

use bytes::{BufMut, Bytes};
use umbra_epee::{EpeeObject, EpeeValue, Error, Reader, Result};

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
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct TxBlobEntry {
    /// The transaction without its prunable part.
    pub blob: Bytes,
    /// Hash of the pruned part.
    pub prunable_hash: [u8; 32],
}

/// The transactions of a [`BlockCompleteEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionBlobs {
    /// Full transaction blobs (the entry is not pruned).
    Normal(Vec<Bytes>),
    /// Pruned transactions (the entry is pruned).
    Pruned(Vec<TxBlobEntry>),
}

impl TransactionBlobs {
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

/// A block and its transactions (`block_complete_entry`).
///
/// On the wire `txs` is an array of strings when the entry is not pruned and an array of
/// `tx_blob_entry` objects when it is; the decoder checks that `txs` agrees with `pruned`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCompleteEntry {
    /// Whether the transactions are pruned.
    pub pruned: bool,
    /// The block blob.
    pub block: Bytes,
    /// The block's weight; monerod sends it only for pruned entries (0 otherwise).
    pub block_weight: u64,
    /// The block's transactions (not the miner transaction).
    pub txs: TransactionBlobs,
}

impl EpeeObject for BlockCompleteEntry {
    fn read_fields(r: &mut Reader<'_>) -> Result<Self> {
        let mut pruned = None;
        let mut block = None;
        let mut block_weight = None;
        let mut txs = None;
        let count = r.read_field_count()?;
        for _ in 0..count {
            let name = r.read_name()?;
            let marker = r.read_marker()?;
            let field = match name {
                b"pruned" => "pruned",
                b"block" => "block",
                b"block_weight" => "block_weight",
                b"txs" => "txs",
                _ => {
                    r.skip_value(marker)?;
                    continue;
                }
            };
            let duplicate = match field {
                "pruned" => pruned.replace(bool::read(r, marker).map_err(|e| e.in_field(field))?),
                "block" => block
                    .replace(Bytes::read(r, marker).map_err(|e| e.in_field(field))?)
                    .map(|_| true),
                "block_weight" => block_weight
                    .replace(u64::read(r, marker).map_err(|e| e.in_field(field))?)
                    .map(|_| true),
                _ => {
                    // An array of strings is a normal entry, an array of objects a pruned one.
                    let value = if marker == Vec::<TxBlobEntry>::MARKER {
                        TransactionBlobs::Pruned(
                            Vec::read(r, marker).map_err(|e| e.in_field(field))?,
                        )
                    } else {
                        TransactionBlobs::Normal(
                            Vec::read(r, marker).map_err(|e| e.in_field(field))?,
                        )
                    };
                    txs.replace(value).map(|_| true)
                }
            };
            if duplicate.is_some() {
                return Err(Error::DuplicateField(field.into()));
            }
        }
        let pruned = pruned.unwrap_or(false);
        let txs = match txs {
            Some(txs) => txs,
            None if pruned => TransactionBlobs::Pruned(Vec::new()),
            None => TransactionBlobs::Normal(Vec::new()),
        };
        if pruned != matches!(txs, TransactionBlobs::Pruned(_)) && !txs.is_empty() {
            return Err(Error::Invalid(format!(
                "entry says pruned={pruned} but its transactions are {}",
                if pruned {
                    "full blobs"
                } else {
                    "pruned entries"
                }
            ))
            .in_field("txs"));
        }
        Ok(Self {
            pruned,
            block: block.ok_or(Error::MissingField("block"))?,
            block_weight: block_weight.unwrap_or(0),
            txs,
        })
    }

    fn write_fields<B: BufMut>(&self, w: &mut B) -> Result<()> {
        let write_weight = self.block_weight != 0;
        let write_txs = !self.txs.is_empty();
        let count =
            1 + usize::from(write_weight) + usize::from(self.pruned) + usize::from(write_txs);
        umbra_epee::write_field_count(w, count)?;
        umbra_epee::write_field(w, b"block", &self.block)?;
        if write_weight {
            umbra_epee::write_field(w, b"block_weight", &self.block_weight)?;
        }
        if self.pruned {
            umbra_epee::write_field(w, b"pruned", &true)?;
        }
        if write_txs {
            match &self.txs {
                TransactionBlobs::Normal(txs) => umbra_epee::write_field(w, b"txs", txs)?,
                TransactionBlobs::Pruned(txs) => umbra_epee::write_field(w, b"txs", txs)?,
            }
        }
        Ok(())
    }
}

umbra_epee::impl_value_for_object!(BlockCompleteEntry);

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
