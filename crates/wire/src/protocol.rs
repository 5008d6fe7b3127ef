//! Protocol messages (commands 2001–2010): all are levin notifications.

use bytes::Bytes;
use umbra_epee::{Blob, ByteArrayVec, ContainerAsBlob, EpeeObject};

use crate::BlockCompleteEntry;

/// `NOTIFY_NEW_BLOCK` (2001): a full new block.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct NewBlock<B: Blob = Bytes> {
    /// The block and its transactions.
    pub b: BlockCompleteEntry<B>,
    /// The sender's chain height.
    pub current_blockchain_height: u64,
}

/// `NOTIFY_NEW_TRANSACTIONS` (2002): transactions to relay.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct NewTransactions<B: Blob = Bytes> {
    /// Transaction blobs.
    pub txs: Vec<B>,
    /// Random padding that hides the real size (monerod always writes it, maybe empty).
    #[epee(rename = "_", missing)]
    pub padding: B,
    /// `true` when the transactions are in the fluff phase of Dandelion++, `false` in stem.
    #[epee(default = true)]
    pub dandelionpp_fluff: bool,
}

/// `NOTIFY_REQUEST_GET_OBJECTS` (2003): ask for blocks by hash.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct GetObjectsRequest<B: Blob = Bytes> {
    /// Hashes of the wanted blocks.
    pub blocks: ByteArrayVec<32, B>,
    /// Whether pruned blocks are acceptable.
    #[epee(default = false)]
    pub prune: bool,
}

/// `NOTIFY_RESPONSE_GET_OBJECTS` (2004): the blocks asked for.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct GetObjectsResponse<B: Blob = Bytes> {
    /// The blocks found.
    pub blocks: Vec<BlockCompleteEntry<B>>,
    /// Hashes that were asked for but not found.
    pub missed_ids: ByteArrayVec<32, B>,
    /// The responder's chain height.
    pub current_blockchain_height: u64,
}

/// `NOTIFY_REQUEST_CHAIN` (2006): ask which blocks follow ours.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct ChainRequest<B: Blob = Bytes> {
    /// Our sparse chain history: the first 10 ids consecutive from the top, then at
    /// offsets 2, 4, 8, …, ending with the genesis id.
    pub block_ids: ByteArrayVec<32, B>,
    /// Whether pruned data is acceptable.
    #[epee(default = false)]
    pub prune: bool,
}

/// `NOTIFY_RESPONSE_CHAIN_ENTRY` (2007): the ids of the blocks that follow.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct ChainResponse<B: Blob = Bytes> {
    /// Height of the first id in `m_block_ids`.
    pub start_height: u64,
    /// The responder's chain height.
    pub total_height: u64,
    /// Low 64 bits of the responder's cumulative difficulty.
    pub cumulative_difficulty: u64,
    /// High 64 bits of the responder's cumulative difficulty (always written by monerod
    /// 0.18; older peers may not send it).
    #[epee(missing = 0)]
    pub cumulative_difficulty_top64: u64,
    /// Block ids from `start_height` on.
    pub m_block_ids: ByteArrayVec<32, B>,
    /// Weights of those blocks (may be empty).
    pub m_block_weights: ContainerAsBlob<u64, B>,
    /// The first block's blob, so its parent can be checked (may be empty).
    #[epee(missing)]
    pub first_block: B,
}

impl<B: Blob> ChainResponse<B> {
    /// The full 128-bit cumulative difficulty.
    #[must_use]
    pub const fn cumulative_difficulty(&self) -> u128 {
        ((self.cumulative_difficulty_top64 as u128) << 64) | self.cumulative_difficulty as u128
    }
}

/// `NOTIFY_NEW_FLUFFY_BLOCK` (2008): a new block with only the transactions the receiver
/// is unlikely to have.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct NewFluffyBlock<B: Blob = Bytes> {
    /// The block and the transactions sent along.
    pub b: BlockCompleteEntry<B>,
    /// The sender's chain height.
    pub current_blockchain_height: u64,
}

/// `NOTIFY_REQUEST_FLUFFY_MISSING_TX` (2009): ask for the transactions of a fluffy block
/// we are missing.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct FluffyMissingTxsRequest<B: Blob = Bytes> {
    /// The block's hash.
    pub block_hash: [u8; 32],
    /// Our chain height.
    pub current_blockchain_height: u64,
    /// Indices, within the block, of the transactions we need.
    pub missing_tx_indices: ContainerAsBlob<u64, B>,
}

/// `NOTIFY_GET_TXPOOL_COMPLEMENT` (2010): the hashes of our pool; the peer answers with
/// the transactions of its pool that are not among them.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct GetTxPoolComplement<B: Blob = Bytes> {
    /// Hashes of the transactions we have.
    pub hashes: ByteArrayVec<32, B>,
}

/// Any protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolMessage {
    /// 2001.
    NewBlock(NewBlock),
    /// 2002.
    NewTransactions(NewTransactions),
    /// 2003.
    GetObjectsRequest(GetObjectsRequest),
    /// 2004.
    GetObjectsResponse(GetObjectsResponse),
    /// 2006.
    ChainRequest(ChainRequest),
    /// 2007.
    ChainResponse(ChainResponse),
    /// 2008.
    NewFluffyBlock(NewFluffyBlock),
    /// 2009.
    FluffyMissingTxsRequest(FluffyMissingTxsRequest),
    /// 2010.
    GetTxPoolComplement(GetTxPoolComplement),
}
