//! The values going in and out of the database.

use monero_oxide::{block::Block, transaction::Transaction};

use crate::StorageError;

/// A 32-byte hash (block id, transaction id) or point (key image, output key, commitment).
pub type Hash = [u8; 32];

/// What the database keeps about each main-chain block, besides its blob. Fixed size, so
/// that windows of 100,000 blocks (the long-term weight median) read quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// The block's height (genesis is 0).
    pub height: u64,
    /// The block's hash.
    pub hash: Hash,
    /// The header's timestamp (seconds since the epoch).
    pub timestamp: u64,
    /// Sum of the difficulties of every block up to and including this one.
    pub cumulative_difficulty: u128,
    /// The block's weight.
    pub weight: u64,
    /// The block's long-term weight.
    pub long_term_weight: u64,
    /// Coins created by this block (the emission, without fees), atomic units.
    pub generated_coins: u64,
    /// Coins created by every block up to and including this one, saturating at
    /// `u64::MAX` as monerod's counter does.
    pub cumulative_generated_coins: u64,
    /// The header's major version (the hard fork it follows).
    pub major_version: u8,
    /// The header's minor version (its hard-fork vote, see [`BlockInfo::hard_fork_vote`]).
    pub minor_version: u8,
    /// RingCT outputs (amount-0 index) in the chain up to and including this block.
    pub cumulative_rct_outputs: u64,
    /// Size of the block blob in bytes (header, miner transaction, transaction hashes).
    pub blob_size: u64,
    /// Index (in the database's transaction numbering) of the block's miner transaction;
    /// its other transactions follow it.
    pub first_tx_index: u64,
    /// Transactions in the block, the miner transaction included.
    pub tx_count: u64,
}

impl BlockInfo {
    /// The hard-fork version this block votes for: its minor version, where a minor
    /// version of 0 (what blocks before the first vote carry) counts as a vote for 1.
    pub fn hard_fork_vote(&self) -> u8 {
        self.minor_version.max(1)
    }
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// The transaction's number in the database (0 for genesis' miner transaction, then
    /// in chain order). Stable until the block is popped.
    pub tx_index: u64,
    /// Height of the block holding it.
    pub height: u64,
    /// Position in that block: 0 is the miner transaction, `i + 1` is the block's
    /// `transactions[i]`.
    pub index_in_block: u64,
}

/// A transaction's hash and blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxBlob {
    /// The transaction's hash.
    pub hash: Hash,
    /// Its consensus serialization (full, not pruned).
    pub blob: Vec<u8>,
}

/// A main-chain block with its transactions: what a peer's `GET_OBJECTS` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEntry {
    /// The block's height.
    pub height: u64,
    /// The block's hash.
    pub hash: Hash,
    /// The block's consensus serialization.
    pub blob: Vec<u8>,
    /// Its transactions (not the miner transaction), in the block's order.
    pub txs: Vec<TxBlob>,
}

/// A stored transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxEntry {
    /// The transaction's hash.
    pub hash: Hash,
    /// Its consensus serialization.
    pub blob: Vec<u8>,
    /// Where it is.
    pub location: TxLocation,
    /// For each of its outputs, the output's index within its amount: the RingCT global
    /// index for RingCT outputs (amount 0), the index among outputs of that amount for
    /// pre-RingCT outputs. (monerod's `get_o_indexes`.)
    pub output_indices: Vec<u64>,
}

/// An output's identity: `amount` 0 is the RingCT pool (every output of a version-2
/// transaction, miner transactions included), any other amount a pre-RingCT pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputId {
    /// The pool: 0 for RingCT, else the pre-RingCT output's amount.
    pub amount: u64,
    /// Index within the pool (the global index for RingCT).
    pub index: u64,
}

impl OutputId {
    /// A RingCT output by global index.
    pub const fn rct(index: u64) -> Self {
        OutputId { amount: 0, index }
    }
}

/// A stored output, as ring members need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputInfo {
    /// The one-time output key.
    pub key: Hash,
    /// The amount commitment: the transaction's for RingCT outputs, monerod's
    /// `zeroCommit(amount)` for outputs of version-2 miner transactions; `None` for
    /// pre-RingCT outputs (whose amount is their pool's).
    pub commitment: Option<Hash>,
    /// The transaction's unlock time (a height below 500,000,000, else a timestamp; 0
    /// for none).
    pub unlock_time: u64,
    /// Height of the block holding the output.
    pub height: u64,
    /// The transaction's number ([`TxLocation::tx_index`]).
    pub tx_index: u64,
    /// Whether it is an output of a miner transaction.
    pub is_coinbase: bool,
}

/// Where a block hash was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockLocation {
    /// In the main chain at this height.
    Main {
        /// The block's height.
        height: u64,
    },
    /// An alternative block.
    Alt {
        /// The block's height.
        height: u64,
        /// Its alternative chain ([`AltBlock::chain_id`]).
        chain_id: Hash,
    },
    /// Not stored.
    Unknown,
}

/// A transaction the caller has verified, with its blob and hash.
#[derive(Debug, Clone)]
pub struct VerifiedTx {
    /// The parsed transaction.
    pub tx: Transaction,
    /// Its consensus serialization (what is stored).
    pub blob: Vec<u8>,
    /// Its hash.
    pub hash: Hash,
}

impl VerifiedTx {
    /// Parses `blob` and computes its hash. The whole blob must be one transaction.
    pub fn from_blob(blob: Vec<u8>) -> Result<Self, StorageError> {
        let tx = crate::derive::parse_tx(&blob)?;
        let hash = tx.hash();
        Ok(VerifiedTx { tx, blob, hash })
    }
}

/// A block the caller (consensus) has verified and wants stored on top of the chain.
///
/// The storage derives everything else itself (output indices, key images, transaction
/// numbers, the miner transaction's blob) and checks that the block connects: `height`
/// is the chain's height, the header's previous hash is the top block's, the miner
/// transaction names `height`, and `txs` are the block's transactions in its order.
/// Blob ↔ parsed ↔ hash agreement is the caller's promise (checked by
/// [`crate::Storage::check_integrity`], not on every write).
#[derive(Debug, Clone)]
pub struct VerifiedBlock {
    /// The parsed block.
    pub block: Block,
    /// Its consensus serialization.
    pub blob: Vec<u8>,
    /// Its hash.
    pub hash: Hash,
    /// Its height.
    pub height: u64,
    /// Its transactions (not the miner transaction), in the block's order.
    pub txs: Vec<VerifiedTx>,
    /// The block's weight.
    pub weight: u64,
    /// The block's long-term weight.
    pub long_term_weight: u64,
    /// The chain's cumulative difficulty including this block (greater than the top's).
    pub cumulative_difficulty: u128,
    /// Coins this block creates (its reward minus the fees it collects).
    pub generated_coins: u64,
}

/// An alternative block to store (a block on a side chain).
#[derive(Debug, Clone)]
pub struct NewAltBlock {
    /// The block's consensus serialization; its header (previous hash, timestamp,
    /// versions) is read from here.
    pub blob: Vec<u8>,
    /// Its hash.
    pub hash: Hash,
    /// Its height: its parent's plus one.
    pub height: u64,
    /// Its transactions (not the miner transaction), in the block's order.
    pub txs: Vec<TxBlob>,
    /// The block's weight.
    pub weight: u64,
    /// The block's long-term weight.
    pub long_term_weight: u64,
    /// Cumulative difficulty of its chain up to and including this block.
    pub cumulative_difficulty: u128,
    /// Coins this block creates.
    pub generated_coins: u64,
}

/// A stored alternative block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltBlock {
    /// The block's hash.
    pub hash: Hash,
    /// Its height.
    pub height: u64,
    /// The alternative chain it belongs to: the hash of that chain's first block (the
    /// one whose parent is in the main chain). Sub-forks of an alternative chain share
    /// its id.
    pub chain_id: Hash,
    /// The parent's hash (from the header).
    pub prev: Hash,
    /// The header's timestamp.
    pub timestamp: u64,
    /// The header's major version.
    pub major_version: u8,
    /// The header's minor version.
    pub minor_version: u8,
    /// The block's consensus serialization.
    pub blob: Vec<u8>,
    /// Its transactions (not the miner transaction), in the block's order.
    pub txs: Vec<TxBlob>,
    /// The block's weight.
    pub weight: u64,
    /// The block's long-term weight.
    pub long_term_weight: u64,
    /// Cumulative difficulty of its chain up to and including it.
    pub cumulative_difficulty: u128,
    /// Coins it creates.
    pub generated_coins: u64,
    /// Coins created by its chain up to and including it (saturating).
    pub cumulative_generated_coins: u64,
}

/// An alternative chain, from the block after the split point to a tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltChain {
    /// Height of the main-chain block the chain builds on.
    pub split_height: u64,
    /// The chain's blocks, oldest first (`blocks[0].height == split_height + 1`).
    pub blocks: Vec<AltBlock>,
}

/// A main-chain block removed by [`crate::Storage::pop_blocks`], with everything needed to
/// store it again (as an alternative block, or back on the main chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoppedBlock {
    /// Its metadata as it was stored.
    pub info: BlockInfo,
    /// The block's consensus serialization.
    pub blob: Vec<u8>,
    /// Its transactions (not the miner transaction), in the block's order.
    pub txs: Vec<TxBlob>,
}

/// The answer to a peer's short chain history (`NOTIFY_REQUEST_CHAIN`): where our chains
/// meet, and our block ids from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSupplement {
    /// Height of the highest block of the peer's history that is in our main chain; the
    /// first of `block_ids`.
    pub start_height: u64,
    /// Our chain height (number of blocks).
    pub total_height: u64,
    /// Our cumulative difficulty at the top.
    pub cumulative_difficulty: u128,
    /// Our block ids from `start_height` on (at most the limit asked for).
    pub block_ids: Vec<Hash>,
}

/// What [`crate::Storage::check_integrity`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IntegrityReport {
    /// Main-chain blocks.
    pub blocks: u64,
    /// Transactions, miner transactions included.
    pub txs: u64,
    /// RingCT outputs.
    pub rct_outputs: u64,
    /// Pre-RingCT outputs.
    pub pre_rct_outputs: u64,
    /// Spent key images.
    pub key_images: u64,
    /// Alternative blocks.
    pub alt_blocks: u64,
}
