//! Block verification: everything about a block except its transactions' own validity.
//!
//! # The seam with transaction verification
//!
//! ```text
//!            block bytes ──► parse_block ──► Block
//!                                              │
//!  tx blobs ──► tx rules (crate::tx, another   │   (hash, weight, fee) per transaction,
//!              module) ───────────────────────►│   in block order: &[BlockTx]
//!                                              ▼
//!  ChainContext ──────────► verify_block_header_and_coinbase ──► VerifiedBlockInfo ──► storage
//!       ▲                    (version, timestamp, difficulty,          │
//!       └───── apply ◄────── PoW, coinbase, weight, reward)  ◄─────────┘
//! ```
//!
//! The transaction verifier checks each transaction against the chain (inputs, signatures,
//! proofs, fee rules) and hands over, for each one in block order, its hash, its weight
//! ([`crate::weight::transaction_weight`]) and its fee ([`BlockTx`]). This module checks that
//! they are exactly the block's transactions, in order, none twice, and uses their weights
//! and fees for the block weight, the penalty and the coinbase amount. It never looks inside
//! a transaction.
//!
//! # What is checked (monerod 0.18 `Blockchain::handle_block_to_main_chain`, in order)
//!
//! 1. size of the bytes (at most the weight limit + 100, `check_incoming_block_size`), a
//!    canonical encoding, at most `0x10000000` transactions ([`parse_block`]);
//! 2. the previous hash is the top of the chain; the genesis block is the network's;
//! 3. hard-fork version and vote ([`crate::hardfork`]);
//! 4. timestamp: median of the last 60, and 2 hours ahead of `now` ([`crate::timestamp`]);
//! 5. difficulty ([`crate::difficulty`], or the fixed difficulty) and the proof of work,
//!    computed by RandomX for every block or taken from a checkpoint ([`PowCheck`]);
//! 6. coinbase structure ([`crate::reward::prevalidate_miner_tx`]);
//! 7. the transactions are the block's ([`BlockTx`]);
//! 8. block weight, the reward with its penalty, and the coinbase amount
//!    ([`crate::reward::validate_miner_tx_reward`]).
//!
//! Every refusal is a [`BlockError`] naming the values involved, and is logged at `warn`
//! with the block's hash and height.

use std::collections::HashSet;

use monero_oxide::block::Block;
use thiserror::Error;
use tracing::warn;

use crate::difficulty::{DifficultyError, DifficultyWindow};
use crate::hardfork::{HardFork, HardForkError, HardForkState};
use crate::network::ChainConfig;
use crate::pow::{
    BLOCK_202612_HEIGHT, PowCheckError, PowHash, PowJob, RandomXHasher, SEEDHASH_EPOCH_BLOCKS,
    check_pow, seed_height,
};
use crate::reward::{self, MONEY_SUPPLY, MinerTxError};
use crate::timestamp::{TimestampError, TimestampWindow};
use crate::weight::{LONG_TERM_WINDOW, WeightWindows, transaction_weight};

/// Slack on top of the block weight limit for the size of a block's bytes
/// (`BLOCK_SIZE_SANITY_LEEWAY`).
pub const BLOCK_SIZE_SANITY_LEEWAY: u64 = 100;

/// Most transactions a block may list (`CRYPTONOTE_MAX_TX_PER_BLOCK`).
pub const MAX_TX_PER_BLOCK: usize = 0x1000_0000;

/// A block refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    /// More bytes than the chain's weight limit allows.
    #[error("block of {size} bytes is above the limit of {limit} bytes")]
    Oversized {
        /// Size of the bytes.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a block.
    #[error("block does not parse: {reason}")]
    Malformed {
        /// What the parser said.
        reason: String,
    },
    /// The bytes parse but are not the block's canonical encoding (trailing bytes).
    #[error("block encoding is not canonical: {size} bytes given, {canonical} in the block")]
    NonCanonical {
        /// Size of the bytes given.
        size: usize,
        /// Size of the block's encoding.
        canonical: usize,
    },
    /// The previous-block hash is not the chain's top.
    #[error("block {hash} builds on {previous}, but the chain's top is {top}")]
    WrongPrevious {
        /// The block's hash.
        hash: String,
        /// Its previous-block hash.
        previous: String,
        /// The chain's top hash.
        top: String,
    },
    /// The coinbase names another height than the chain's next.
    #[error("block's coinbase is for height {found}, the chain's next height is {expected}")]
    WrongHeight {
        /// Height in the coinbase.
        found: u64,
        /// The chain's next height.
        expected: u64,
    },
    /// The first block is not the network's genesis block.
    #[error("genesis block {found} is not the network's genesis {expected}")]
    WrongGenesis {
        /// The block's hash.
        found: String,
        /// The network's genesis hash.
        expected: String,
    },
    /// Version fields.
    #[error(transparent)]
    HardFork(#[from] HardForkError),
    /// Timestamp.
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    /// The difficulty could not be computed.
    #[error(transparent)]
    Difficulty(#[from] DifficultyError),
    /// Proof of work.
    #[error(transparent)]
    Pow(#[from] PowCheckError),
    /// The coinbase.
    #[error(transparent)]
    MinerTx(#[from] MinerTxError),
    /// The transactions given are not the block's.
    #[error("block lists {listed} transactions, {given} given")]
    TxCount {
        /// In the block.
        listed: usize,
        /// Given by the caller.
        given: usize,
    },
    /// A transaction given is not the one the block lists at that place.
    #[error("transaction {index} of the block is {listed}, {given} given")]
    TxMismatch {
        /// Position in the block.
        index: usize,
        /// Hash in the block.
        listed: String,
        /// Hash given.
        given: String,
    },
    /// The block lists a transaction twice, or its coinbase among them.
    #[error("block lists transaction {hash} twice")]
    DuplicateTx {
        /// The hash.
        hash: String,
    },
    /// Fees or weights overflow.
    #[error("block {what} overflows 64 bits")]
    Overflow {
        /// "fees", "weight" or "cumulative difficulty".
        what: &'static str,
    },
}

/// A transaction of the block as the transaction verifier hands it over: already verified
/// against the chain, reduced to what the block rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTx {
    /// Its hash (must be the block's transaction at this position).
    pub hash: [u8; 32],
    /// Its weight ([`crate::weight::transaction_weight`]).
    pub weight: u64,
    /// Its fee in atomic units.
    pub fee: u64,
}

/// How the proof of work of a block is established.
#[derive(Debug, Clone, Copy)]
pub enum PowCheck<'a> {
    /// A hash computed beforehand by a [`RandomXHasher`] for this block (typically in a
    /// parallel batch, [`RandomXHasher::hash_blocks`] with the seeds from
    /// [`ChainContext::pow_jobs`]); its block, height and key are checked.
    Computed(&'a PowHash),
    /// Compute it now, on the calling thread.
    Compute(&'a RandomXHasher),
    /// The caller knows this block by hash (a compiled-in checkpoint, as monerod's
    /// hash-of-hashes for old blocks): the proof of work is not computed, and the block's
    /// hash must be this. The only way to accept CryptoNight blocks (versions 1-11).
    Checkpoint([u8; 32]),
}

/// What storage needs to know about a verified block (and what [`ChainContext::apply`]
/// takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedBlockInfo {
    /// Block hash (id).
    pub hash: [u8; 32],
    /// Previous block's hash.
    pub previous: [u8; 32],
    /// Height.
    pub height: u64,
    /// The hard fork it was verified under (its `major_version`).
    pub hard_fork: HardFork,
    /// Its vote (`minor_version`).
    pub minor_version: u8,
    /// Timestamp.
    pub timestamp: u64,
    /// Proof-of-work hash (`None` when accepted by checkpoint).
    pub pow_hash: Option<[u8; 32]>,
    /// Its difficulty.
    pub difficulty: u128,
    /// Cumulative difficulty up to and including it.
    pub cumulative_difficulty: u128,
    /// Block weight (coinbase + transactions).
    pub weight: u64,
    /// Long-term weight.
    pub long_term_weight: u64,
    /// Hash of its coinbase transaction.
    pub miner_tx_hash: [u8; 32],
    /// Weight (= size) of its coinbase transaction.
    pub miner_tx_weight: u64,
    /// Number of transactions besides the coinbase.
    pub tx_count: usize,
    /// Sum of their fees.
    pub total_fees: u64,
    /// What the coinbase pays (new coins + fees).
    pub coinbase_amount: u64,
    /// New coins this block created.
    pub generated_coins: u64,
    /// Coins in existence after it (capped at `MONEY_SUPPLY`).
    pub already_generated_coins: u64,
}

/// Reads a block from bytes: at most `max_size` bytes ([`ChainContext::max_block_size`]),
/// a canonical encoding, at most [`MAX_TX_PER_BLOCK`] transactions.
pub fn parse_block(bytes: &[u8], max_size: u64) -> Result<Block, BlockError> {
    let size = bytes.len() as u64;
    if size > max_size {
        return Err(BlockError::Oversized {
            size,
            limit: max_size,
        });
    }
    let mut reader = bytes;
    let block = Block::read(&mut reader).map_err(|e| BlockError::Malformed {
        reason: e.to_string(),
    })?;
    if !reader.is_empty() {
        return Err(BlockError::NonCanonical {
            size: bytes.len(),
            canonical: bytes.len() - reader.len(),
        });
    }
    if block.transactions.len() >= MAX_TX_PER_BLOCK {
        return Err(BlockError::Malformed {
            reason: "too many transactions".into(),
        });
    }
    Ok(block)
}

/// Errors building or updating a [`ChainContext`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ContextError {
    /// The history has the wrong number of blocks.
    #[error("chain history of height {height} needs its last {needed} blocks, {given} given")]
    HistoryLength {
        /// Chain height.
        height: u64,
        /// Blocks needed.
        needed: u64,
        /// Blocks given.
        given: usize,
    },
    /// A seed hash the context needs is missing.
    #[error("chain history of height {height} lacks the hash of block {seed_height}")]
    MissingSeed {
        /// Chain height.
        height: u64,
        /// The block whose hash is needed.
        seed_height: u64,
    },
    /// A block applied out of order.
    #[error("block at height {given} applied to a chain whose next height is {expected}")]
    NotNext {
        /// The chain's next height.
        expected: u64,
        /// The block's height.
        given: u64,
    },
    /// A block applied that does not build on the top.
    #[error("block builds on {previous}, the chain's top is {top}")]
    NotOnTop {
        /// The block's previous hash.
        previous: String,
        /// The chain's top.
        top: String,
    },
}

/// One of the chain's last blocks, for [`ChainHistory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryBlock {
    /// Timestamp.
    pub timestamp: u64,
    /// `minor_version` (its hard-fork vote).
    pub minor_version: u8,
    /// Cumulative difficulty up to and including it.
    pub cumulative_difficulty: u128,
    /// Block weight.
    pub weight: u64,
    /// Long-term weight.
    pub long_term_weight: u64,
}

/// What storage provides to build a [`ChainContext`] at start or after a reorg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHistory {
    /// Number of blocks in the chain (the next block's height); at least 1.
    pub height: u64,
    /// Hash of the top block.
    pub top_hash: [u8; 32],
    /// Hard-fork version of the top block (its `major_version`).
    pub top_version: HardFork,
    /// Coins in existence after the top block.
    pub already_generated_coins: u64,
    /// The last [`ChainContext::history_len`]`(height)` blocks, oldest first.
    pub recent: Vec<HistoryBlock>,
    /// The hashes of the blocks at [`ChainContext::seed_heights`]`(height)`.
    pub seeds: Vec<(u64, [u8; 32])>,
}

/// Everything the block rules need to know about the chain a block is added to: a small
/// state machine the caller builds from storage once ([`ChainContext::from_history`]) and
/// then updates with each block accepted ([`ChainContext::apply`]); after a reorg it builds
/// it again for the new chain.
///
/// It holds the hard-fork voting window (10,080 votes), the last 60 timestamps, the
/// difficulty window (735 blocks), the short-term (100) and long-term (100,000) weight
/// windows, the top's cumulative difficulty and generated coins, and at most two RandomX
/// seed hashes: about 2 MB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainContext {
    config: ChainConfig,
    height: u64,
    top_hash: [u8; 32],
    hard_forks: HardForkState,
    timestamps: TimestampWindow,
    difficulty: DifficultyWindow,
    cumulative_difficulty: u128,
    weights: WeightWindows,
    already_generated_coins: u64,
    seeds: Vec<(u64, [u8; 32])>,
}

impl ChainContext {
    /// The context of an empty chain: the next block is the genesis block.
    pub fn new(config: ChainConfig) -> Self {
        Self {
            config,
            height: 0,
            top_hash: [0; 32],
            hard_forks: HardForkState::new(*config.network.hard_forks()),
            timestamps: TimestampWindow::new(),
            difficulty: DifficultyWindow::new(),
            cumulative_difficulty: 0,
            weights: WeightWindows::new(),
            already_generated_coins: 0,
            seeds: Vec::new(),
        }
    }

    /// How many of its last blocks a chain of `height` blocks must provide in
    /// [`ChainHistory::recent`]: all of them up to 100,000.
    pub fn history_len(height: u64) -> u64 {
        height.min(LONG_TERM_WINDOW as u64)
    }

    /// The heights whose block hashes a chain of `height` blocks must provide in
    /// [`ChainHistory::seeds`]: the RandomX key of the next block and, if it already exists,
    /// the key of the next epoch (at most two).
    pub fn seed_heights(height: u64) -> Vec<u64> {
        if height == 0 {
            return Vec::new();
        }
        let first = seed_height(height);
        let mut heights = vec![first];
        let mut h = first + SEEDHASH_EPOCH_BLOCKS;
        while h < height {
            heights.push(h);
            h += SEEDHASH_EPOCH_BLOCKS;
        }
        heights
    }

    /// The context of an existing chain, from what storage provides.
    pub fn from_history(config: ChainConfig, history: &ChainHistory) -> Result<Self, ContextError> {
        let height = history.height;
        if height == 0 {
            return Ok(Self::new(config));
        }
        let needed = Self::history_len(height);
        if history.recent.len() as u64 != needed {
            return Err(ContextError::HistoryLength {
                height,
                needed,
                given: history.recent.len(),
            });
        }
        let mut seeds = Vec::new();
        for seed_height in Self::seed_heights(height) {
            let hash = history
                .seeds
                .iter()
                .find(|(h, _)| *h == seed_height)
                .map(|(_, hash)| *hash)
                .ok_or(ContextError::MissingSeed {
                    height,
                    seed_height,
                })?;
            seeds.push((seed_height, hash));
        }
        let first_height = height - needed;
        let recent = &history.recent;
        let hard_forks = HardForkState::from_history(
            *config.network.hard_forks(),
            height,
            history.top_version,
            recent.iter().map(|b| b.minor_version),
        );
        let timestamps = TimestampWindow::from_timestamps(recent.iter().map(|b| b.timestamp));
        // The difficulty window leaves out genesis.
        let difficulty = DifficultyWindow::from_blocks(
            recent
                .iter()
                .enumerate()
                .filter(|(i, _)| first_height + *i as u64 != 0)
                .map(|(_, b)| (b.timestamp, b.cumulative_difficulty)),
        );
        let weights =
            WeightWindows::from_blocks(recent.iter().map(|b| (b.weight, b.long_term_weight)));
        let cumulative_difficulty = recent.last().map_or(0, |b| b.cumulative_difficulty);
        Ok(Self {
            config,
            height,
            top_hash: history.top_hash,
            hard_forks,
            timestamps,
            difficulty,
            cumulative_difficulty,
            weights,
            already_generated_coins: history.already_generated_coins,
            seeds,
        })
    }

    /// The chain parameters.
    pub const fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// Number of blocks (the next block's height).
    pub const fn height(&self) -> u64 {
        self.height
    }

    /// Hash of the top block (zeros for an empty chain).
    pub const fn top_hash(&self) -> [u8; 32] {
        self.top_hash
    }

    /// The hard-fork version the next block must have.
    pub fn hard_fork(&self) -> HardFork {
        self.hard_forks.current()
    }

    /// The voting state.
    pub const fn hard_fork_state(&self) -> &HardForkState {
        &self.hard_forks
    }

    /// Cumulative difficulty of the top block.
    pub const fn cumulative_difficulty(&self) -> u128 {
        self.cumulative_difficulty
    }

    /// Coins in existence after the top block.
    pub const fn already_generated_coins(&self) -> u64 {
        self.already_generated_coins
    }

    /// The weight windows.
    pub const fn weights(&self) -> &WeightWindows {
        &self.weights
    }

    /// The median the next block's timestamp must reach (once the chain has 60 blocks).
    pub fn median_timestamp(&self) -> Option<u64> {
        self.timestamps.median()
    }

    /// The difficulty of the next block.
    pub fn next_difficulty(&self) -> Result<u128, DifficultyError> {
        if let Some(fixed) = self.config.effective_fixed_difficulty() {
            return Ok(if self.height == 0 { 1 } else { fixed });
        }
        self.difficulty.next_difficulty(self.hard_fork())
    }

    /// The largest weight the next block may have (twice the effective median).
    pub fn max_block_weight(&self) -> u64 {
        self.weights.max_block_weight(self.hard_fork())
    }

    /// The largest size of the next block's bytes ([`parse_block`]).
    pub fn max_block_size(&self) -> u64 {
        self.max_block_weight()
            .saturating_add(BLOCK_SIZE_SANITY_LEEWAY)
    }

    /// The hash keying RandomX for the block at `height`, if this context knows it (`height`
    /// is the next height, or a later one whose key block is already in the chain).
    pub fn seed_hash(&self, height: u64) -> Option<[u8; 32]> {
        let wanted = seed_height(height);
        self.seeds
            .iter()
            .find(|(h, _)| *h == wanted)
            .map(|(_, hash)| *hash)
    }

    /// Proof-of-work jobs for `blocks`, which follow this chain's top in order (block `i` at
    /// height `height() + i`): each RandomX block gets its key from this context or from an
    /// earlier block of the batch. Hash them with [`RandomXHasher::hash_blocks`], then verify
    /// each block (applying each before the next) with [`PowCheck::Computed`].
    pub fn pow_jobs<'b>(&self, blocks: &'b [Block]) -> Vec<PowJob<'b>> {
        let mut batch_seeds: Vec<(u64, [u8; 32])> = Vec::new();
        blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let height = self.height + i as u64;
                let wanted = seed_height(height);
                let seed = self.seed_hash(height).or_else(|| {
                    batch_seeds
                        .iter()
                        .find(|(h, _)| *h == wanted)
                        .map(|(_, hash)| *hash)
                });
                if height.is_multiple_of(SEEDHASH_EPOCH_BLOCKS) {
                    batch_seeds.push((height, block.hash()));
                }
                PowJob {
                    block,
                    height,
                    seed,
                }
            })
            .collect()
    }

    /// Updates the context with a block verified against it.
    pub fn apply(&mut self, info: &VerifiedBlockInfo) -> Result<(), ContextError> {
        if info.height != self.height {
            return Err(ContextError::NotNext {
                expected: self.height,
                given: info.height,
            });
        }
        if info.previous != self.top_hash {
            return Err(ContextError::NotOnTop {
                previous: hex(&info.previous),
                top: hex(&self.top_hash),
            });
        }
        self.hard_forks.add_block(info.height, info.minor_version);
        self.timestamps.push(info.timestamp);
        if info.height != 0 {
            self.difficulty
                .push(info.timestamp, info.cumulative_difficulty);
        }
        self.weights.push(info.weight, info.long_term_weight);
        self.cumulative_difficulty = info.cumulative_difficulty;
        self.already_generated_coins = info.already_generated_coins;
        self.top_hash = info.hash;
        self.height = info.height + 1;
        if info.height.is_multiple_of(SEEDHASH_EPOCH_BLOCKS) {
            self.seeds.push((info.height, info.hash));
        }
        let oldest_needed = seed_height(self.height);
        self.seeds.retain(|(h, _)| *h >= oldest_needed);
        Ok(())
    }
}

/// Verifies a block on top of the chain `ctx` describes, except its transactions' own
/// validity (see the [module docs](self)): `txs` are the block's transactions as the
/// transaction verifier reports them, `pow` says how to establish the proof of work, `now`
/// is the local clock for the future-timestamp rule (`None` skips it, e.g. for blocks of an
/// alternative chain, which monerod does not hold to it).
///
/// On success, [`ChainContext::apply`] the result before verifying the next block.
pub fn verify_block_header_and_coinbase(
    block: &Block,
    ctx: &ChainContext,
    txs: &[BlockTx],
    pow: PowCheck<'_>,
    now: Option<u64>,
) -> Result<VerifiedBlockInfo, BlockError> {
    let hash = block.hash();
    let result = verify(block, hash, ctx, txs, pow, now);
    if let Err(error) = &result {
        warn!(height = ctx.height, hash = %hex(&hash), %error, "block rejected");
    }
    result
}

fn verify(
    block: &Block,
    hash: [u8; 32],
    ctx: &ChainContext,
    txs: &[BlockTx],
    pow: PowCheck<'_>,
    now: Option<u64>,
) -> Result<VerifiedBlockInfo, BlockError> {
    let height = ctx.height;
    let header = &block.header;

    // 2. Position in the chain.
    if header.previous != ctx.top_hash {
        return Err(BlockError::WrongPrevious {
            hash: hex(&hash),
            previous: hex(&header.previous),
            top: hex(&ctx.top_hash),
        });
    }
    let coinbase_height = block.number() as u64;
    if coinbase_height != height {
        return Err(BlockError::WrongHeight {
            found: coinbase_height,
            expected: height,
        });
    }
    if height == 0 {
        let expected = ctx.config.network.genesis_hash();
        if hash != expected {
            return Err(BlockError::WrongGenesis {
                found: hex(&hash),
                expected: hex(&expected),
            });
        }
    }

    // 3. Version and vote.
    ctx.hard_forks
        .check(header.hardfork_version, header.hardfork_signal)?;
    let version = ctx.hard_fork();

    // 4. Timestamp.
    ctx.timestamps.check(header.timestamp, now)?;

    // 5. Difficulty and proof of work.
    let difficulty = ctx.next_difficulty()?;
    let pow_hash = if height == 0 {
        // The genesis block is known by hash (checked above).
        None
    } else {
        check_block_pow(block, hash, height, ctx, pow, difficulty)?
    };

    // 6. Coinbase structure.
    let miner_tx = block.miner_transaction();
    reward::prevalidate_miner_tx(miner_tx, height, version)?;

    // 7. The transactions are the block's.
    if txs.len() != block.transactions.len() {
        return Err(BlockError::TxCount {
            listed: block.transactions.len(),
            given: txs.len(),
        });
    }
    let miner_tx_hash = miner_tx.hash();
    let mut seen = HashSet::with_capacity(txs.len() + 1);
    seen.insert(miner_tx_hash);
    let mut total_fees: u64 = 0;
    let mut txs_weight: u64 = 0;
    for (index, (listed, given)) in block.transactions.iter().zip(txs).enumerate() {
        if *listed != given.hash {
            return Err(BlockError::TxMismatch {
                index,
                listed: hex(listed),
                given: hex(&given.hash),
            });
        }
        if !seen.insert(*listed) {
            return Err(BlockError::DuplicateTx { hash: hex(listed) });
        }
        total_fees = total_fees
            .checked_add(given.fee)
            .ok_or(BlockError::Overflow { what: "fees" })?;
        txs_weight = txs_weight
            .checked_add(given.weight)
            .ok_or(BlockError::Overflow { what: "weight" })?;
    }

    // 8. Weight, reward and the coinbase amount.
    let miner_tx_weight = transaction_weight(miner_tx);
    let weight = txs_weight
        .checked_add(miner_tx_weight)
        .ok_or(BlockError::Overflow { what: "weight" })?;
    let outcome = reward::validate_miner_tx_reward(
        miner_tx,
        ctx.weights.penalty_median(version),
        weight,
        total_fees,
        ctx.already_generated_coins,
        version,
    )?;
    let long_term_weight = ctx.weights.next_long_term_weight(weight, version);
    let cumulative_difficulty =
        ctx.cumulative_difficulty
            .checked_add(difficulty)
            .ok_or(BlockError::Overflow {
                what: "cumulative difficulty",
            })?;
    let already_generated_coins = if outcome.generated < MONEY_SUPPLY - ctx.already_generated_coins
    {
        ctx.already_generated_coins + outcome.generated
    } else {
        MONEY_SUPPLY
    };

    Ok(VerifiedBlockInfo {
        hash,
        previous: header.previous,
        height,
        hard_fork: version,
        minor_version: header.hardfork_signal,
        timestamp: header.timestamp,
        pow_hash,
        difficulty,
        cumulative_difficulty,
        weight,
        long_term_weight,
        miner_tx_hash,
        miner_tx_weight,
        tx_count: txs.len(),
        total_fees,
        coinbase_amount: outcome.paid,
        generated_coins: outcome.generated,
        already_generated_coins,
    })
}

/// The proof-of-work step: the hash (computed now, given, or replaced by a checkpoint) must
/// be this block's, made with this chain's key, and meet `difficulty`.
fn check_block_pow(
    block: &Block,
    hash: [u8; 32],
    height: u64,
    ctx: &ChainContext,
    pow: PowCheck<'_>,
    difficulty: u128,
) -> Result<Option<[u8; 32]>, PowCheckError> {
    let seed = ctx.seed_hash(height);
    let computed;
    let pow_hash = match pow {
        PowCheck::Checkpoint(expected) => {
            if hash != expected {
                return Err(PowCheckError::CheckpointMismatch {
                    height,
                    expected: hex(&expected),
                    found: hex(&hash),
                });
            }
            return Ok(None);
        }
        PowCheck::Compute(hasher) => {
            computed = hasher.hash_block(&PowJob {
                block,
                height,
                seed,
            })?;
            &computed
        }
        PowCheck::Computed(given) => given,
    };
    if pow_hash.block_hash() != hash || pow_hash.height() != height {
        return Err(PowCheckError::OtherBlock {
            height,
            computed_for: hex(&pow_hash.block_hash()),
            computed_height: pow_hash.height(),
        });
    }
    if height != BLOCK_202612_HEIGHT && pow_hash.seed() != seed {
        return Err(PowCheckError::WrongSeed {
            height,
            expected: seed.as_ref().map(hex),
            used: pow_hash.seed().as_ref().map(hex),
        });
    }
    if !check_pow(&pow_hash.hash(), difficulty) {
        return Err(PowCheckError::InsufficientWork {
            height,
            hash: hex(&pow_hash.hash()),
            difficulty,
        });
    }
    Ok(Some(pow_hash.hash()))
}

/// What [`check_block_bytes`] found.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockBytesCheck {
    /// [`parse_block`] refused the bytes.
    Unparsed,
    /// The bytes parsed but are not the block's own encoding (a parser bug).
    NonCanonical,
    /// The block parsed and a rule refused it.
    Refused,
    /// The block passed every rule.
    Accepted,
}

/// Parses `bytes` as a block and runs every rule of [`verify_block_header_and_coinbase`] on
/// it against `ctx`, with its listed transactions given as 1,500-byte transactions without
/// fee and its proof of work replaced by a checkpoint of its own hash (hashing RandomX for
/// every input would make fuzzing a thousand times slower). This is the body of a fuzz check
/// for block parsing and the header rules: it must return for every input, and never with
/// [`BlockBytesCheck::NonCanonical`].
#[doc(hidden)]
pub fn check_block_bytes(bytes: &[u8], ctx: &ChainContext) -> BlockBytesCheck {
    let Ok(block) = parse_block(bytes, ctx.max_block_size().max(2_000_000)) else {
        return BlockBytesCheck::Unparsed;
    };
    if block.serialize() != bytes {
        return BlockBytesCheck::NonCanonical;
    }
    let txs: Vec<BlockTx> = block
        .transactions
        .iter()
        .map(|hash| BlockTx {
            hash: *hash,
            weight: 1_500,
            fee: 0,
        })
        .collect();
    match verify_block_header_and_coinbase(
        &block,
        ctx,
        &txs,
        PowCheck::Checkpoint(block.hash()),
        None,
    ) {
        Ok(_) => BlockBytesCheck::Accepted,
        Err(_) => BlockBytesCheck::Refused,
    }
}

/// Lowercase hex of 32 bytes.
pub(crate) fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use std::sync::OnceLock;

    use monero_oxide::block::BlockHeader;
    use monero_oxide::ed25519::CompressedPoint;
    use monero_oxide::transaction::{Input, Output, Timelock, Transaction, TransactionPrefix};

    use super::*;
    use crate::network::Network;
    use crate::pow::RandomXConfig;
    use crate::reward::{base_reward, block_reward};

    const MAINNET: &str = "/work/shared/testdata/monero/mainnet";

    fn mainnet_block(hash: &str) -> Vec<u8> {
        std::fs::read(format!("{MAINNET}/block/{hash}.bin")).unwrap()
    }

    fn mainnet_tx(hash: &str) -> Transaction {
        let blob = std::fs::read(format!("{MAINNET}/tx/{hash}.bin")).unwrap();
        Transaction::read(&mut blob.as_slice()).unwrap()
    }

    pub(crate) fn hasher() -> &'static RandomXHasher {
        static HASHER: OnceLock<RandomXHasher> = OnceLock::new();
        HASHER.get_or_init(|| {
            RandomXHasher::new(RandomXConfig {
                threads: 2,
                ..RandomXConfig::default()
            })
            .unwrap()
        })
    }

    #[test]
    fn mainnet_blocks_parse_canonically() {
        for hash in [
            "bbd604d2ba11ba27935e006ed39c9bfdd99b76bf4a50654bc1e1e61217962698",
            "5ecb7e663bbe947c734c8059e7d7d52dc7d6644bb82d81a6ad4057d127ee8eda",
            "f910435a5477ca27be1986c080d5476aeab52d0c07cf3d9c72513213350d25d4",
            "43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428",
            "5da0a3d004c352a90cc86b00fab676695d76a4d1de16036c41ba4dd188c4d76f",
        ] {
            let bytes = mainnet_block(hash);
            let block = parse_block(&bytes, u64::MAX).unwrap();
            assert_eq!(hex(&block.hash()), hash);
            assert_eq!(block.serialize(), bytes);
            // Limits and damage.
            assert!(matches!(
                parse_block(&bytes, bytes.len() as u64 - 1),
                Err(BlockError::Oversized { .. })
            ));
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(matches!(
                parse_block(&longer, u64::MAX),
                Err(BlockError::NonCanonical { .. })
            ));
            assert!(matches!(
                parse_block(&bytes[..bytes.len() - 1], u64::MAX),
                Err(BlockError::Malformed { .. })
            ));
        }
    }

    /// blocks.json: block weights (coinbase + transactions) of the blocks whose transactions
    /// are in the test data, and their coinbases pass the structural rules.
    #[test]
    fn mainnet_block_weights_and_coinbases() {
        let cases: [(&str, u64, HardFork, &[&str], u64); 3] = [
            (
                "5ecb7e663bbe947c734c8059e7d7d52dc7d6644bb82d81a6ad4057d127ee8eda",
                202_609,
                HardFork::V1,
                &[
                    "2180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3",
                    "d7febd16293799d9c6a8e0fe9199b8a0a3e0da5a8a165098937b60f0bbd582df",
                ],
                21_905,
            ),
            (
                "f910435a5477ca27be1986c080d5476aeab52d0c07cf3d9c72513213350d25d4",
                1_731_606,
                HardFork::V9,
                &[
                    "e2d39395dd1625b2d707b98af789e7eab9d24c2bd2978ec38ef910961a8cdcee",
                    "e57440ec66d2f3b2a5fa2081af40128868973e7c021bb3877290db3066317474",
                    "b6b4394d4ec5f08ad63267c07962550064caa8d225dd9ad6d739ebf60291c169",
                ],
                6_597,
            ),
            (
                "43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428",
                2_751_506,
                HardFork::V16,
                &[],
                106,
            ),
        ];
        for (hash, height, version, txs, expected_weight) in cases {
            let block = parse_block(&mainnet_block(hash), u64::MAX).unwrap();
            assert_eq!(block.number() as u64, height);
            assert_eq!(
                Network::Mainnet.hard_forks().scheduled_version(height),
                version
            );
            crate::hardfork::check_block_version(
                block.header.hardfork_version,
                block.header.hardfork_signal,
                version,
            )
            .unwrap();
            reward::prevalidate_miner_tx(block.miner_transaction(), height, version).unwrap();
            let mut weight = transaction_weight(block.miner_transaction());
            for (listed, tx_hash) in block.transactions.iter().zip(txs) {
                let tx = mainnet_tx(tx_hash);
                assert_eq!(hex(&tx.hash()), *tx_hash);
                assert_eq!(hex(listed), *tx_hash);
                weight += transaction_weight(&tx);
            }
            assert_eq!(weight, expected_weight, "{hash}");
        }
        // 2751506 pays exactly the tail emission (reward 600000000000 by monerod's RPC) with
        // no fees, which version 16 requires exactly; its long-term weight is 176470.
        let block = parse_block(
            &mainnet_block("43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428"),
            u64::MAX,
        )
        .unwrap();
        let generated_in_tail = u64::MAX - 1;
        let outcome = reward::validate_miner_tx_reward(
            block.miner_transaction(),
            300_000,
            106,
            0,
            generated_in_tail,
            HardFork::V16,
        )
        .unwrap();
        assert_eq!(outcome.paid, 600_000_000_000);
        assert_eq!(
            crate::weight::long_term_block_weight(106, 300_000, HardFork::V16),
            176_470
        );
    }

    /// Block 202612's proof-of-work hash is the fixed one, whatever the hasher.
    #[test]
    fn block_202612_has_the_fixed_pow_hash() {
        let block = parse_block(
            &mainnet_block("bbd604d2ba11ba27935e006ed39c9bfdd99b76bf4a50654bc1e1e61217962698"),
            u64::MAX,
        )
        .unwrap();
        let job = PowJob {
            block: &block,
            height: 202_612,
            seed: None,
        };
        let pow = hasher().hash_block(&job).unwrap();
        assert_eq!(
            hex(&pow.hash()),
            "84f64766475d51837ac9efbef1926486e58563c95a19fef4aec3254f03000000"
        );
        // Other CryptoNight blocks cannot be hashed.
        let block = parse_block(
            &mainnet_block("5ecb7e663bbe947c734c8059e7d7d52dc7d6644bb82d81a6ad4057d127ee8eda"),
            u64::MAX,
        )
        .unwrap();
        let job = PowJob {
            block: &block,
            height: 202_609,
            seed: None,
        };
        assert!(matches!(
            hasher().hash_block(&job),
            Err(crate::pow::PowError::Unsupported {
                algorithm: "CryptoNight v0",
                ..
            })
        ));
    }

    /// A synthetic regtest chain: blocks built here on the regtest genesis, with the
    /// coinbase monerod would write, proven by RandomX (difficulty 1 lets any hash pass, but
    /// every hash is computed).
    pub(crate) struct Synth {
        pub ctx: ChainContext,
        pub blocks: Vec<Block>,
        pub infos: Vec<VerifiedBlockInfo>,
    }

    pub(crate) fn coinbase(height: u64, amount: u64, tagged: bool) -> Transaction {
        Transaction::V2 {
            prefix: TransactionPrefix {
                additional_timelock: Timelock::Block(height as usize + 60),
                inputs: vec![Input::Gen(height as usize)],
                outputs: vec![Output {
                    amount: Some(amount),
                    key: CompressedPoint::G,
                    view_tag: tagged.then_some(0x42),
                }],
                extra: vec![0x01; 33],
            },
            proofs: None,
        }
    }

    pub(crate) fn next_block(ctx: &ChainContext, timestamp: u64) -> Block {
        let height = ctx.height();
        let version = ctx.hard_fork();
        let reward = base_reward(ctx.already_generated_coins(), version);
        let miner = coinbase(height, reward, version >= HardFork::V15);
        // A light block gets the whole base reward.
        assert_eq!(
            block_reward(
                ctx.weights().penalty_median(version),
                transaction_weight(&miner),
                ctx.already_generated_coins(),
                version
            )
            .unwrap(),
            reward
        );
        let header = BlockHeader {
            hardfork_version: version.as_u8(),
            hardfork_signal: version.as_u8(),
            timestamp,
            previous: ctx.top_hash(),
            nonce: height as u32,
        };
        Block::new(header, miner, vec![]).unwrap()
    }

    impl Synth {
        pub(crate) fn new() -> Self {
            let mut ctx = ChainContext::new(ChainConfig::regtest(Some(1)));
            let genesis = Network::Regtest.genesis_block();
            let info = verify_block_header_and_coinbase(
                &genesis,
                &ctx,
                &[],
                PowCheck::Compute(hasher()),
                None,
            )
            .unwrap();
            ctx.apply(&info).unwrap();
            Self {
                ctx,
                blocks: vec![genesis],
                infos: vec![info],
            }
        }

        pub(crate) fn timestamp(height: u64) -> u64 {
            1_700_000_000 + 120 * height
        }

        pub(crate) fn grow(&mut self, n: usize) {
            for _ in 0..n {
                let block = next_block(&self.ctx, Self::timestamp(self.ctx.height()));
                let info = verify_block_header_and_coinbase(
                    &block,
                    &self.ctx,
                    &[],
                    PowCheck::Compute(hasher()),
                    Some(Self::timestamp(self.ctx.height())),
                )
                .unwrap();
                assert!(info.pow_hash.is_some());
                self.ctx.apply(&info).unwrap();
                self.blocks.push(block);
                self.infos.push(info);
            }
        }

        pub(crate) fn history(&self) -> ChainHistory {
            let height = self.ctx.height();
            let n = ChainContext::history_len(height) as usize;
            let recent = self.infos[self.infos.len() - n..]
                .iter()
                .map(|i| HistoryBlock {
                    timestamp: i.timestamp,
                    minor_version: i.minor_version,
                    cumulative_difficulty: i.cumulative_difficulty,
                    weight: i.weight,
                    long_term_weight: i.long_term_weight,
                })
                .collect();
            let seeds = ChainContext::seed_heights(height)
                .into_iter()
                .map(|h| (h, self.infos[h as usize].hash))
                .collect();
            let top = self.infos.last().unwrap();
            ChainHistory {
                height,
                top_hash: top.hash,
                top_version: top.hard_fork,
                already_generated_coins: top.already_generated_coins,
                recent,
                seeds,
            }
        }
    }

    #[test]
    fn regtest_genesis_then_v16_blocks() {
        let mut synth = Synth::new();
        let genesis = &synth.infos[0];
        assert_eq!(genesis.hash, Network::Regtest.genesis_hash());
        assert_eq!(genesis.generated_coins, 17_592_186_044_415);
        assert_eq!(genesis.difficulty, 1);
        assert_eq!(genesis.pow_hash, None);
        assert_eq!(synth.ctx.hard_fork(), HardFork::V16);
        synth.grow(70);
        let tip = synth.infos.last().unwrap();
        assert_eq!(tip.height, 70);
        assert_eq!(tip.cumulative_difficulty, 71);
        assert_eq!(tip.hard_fork, HardFork::V16);
        // Long-term weight of a light v16 block is raised to 300000 / 1.7.
        assert_eq!(tip.long_term_weight, 176_470);
        assert!(synth.ctx.median_timestamp().is_some());
        // The context rebuilt from storage equals the one updated block by block.
        let rebuilt =
            ChainContext::from_history(ChainConfig::regtest(Some(1)), &synth.history()).unwrap();
        assert_eq!(rebuilt, synth.ctx);
    }

    #[test]
    fn batch_pow_then_sequential_verification() {
        let mut synth = Synth::new();
        synth.grow(3);
        // Build 5 more blocks ahead, then hash them all in one parallel batch.
        let mut ahead_ctx = synth.ctx.clone();
        let mut ahead = Vec::new();
        for _ in 0..5 {
            let block = next_block(&ahead_ctx, Synth::timestamp(ahead_ctx.height()));
            let info = verify_block_header_and_coinbase(
                &block,
                &ahead_ctx,
                &[],
                PowCheck::Checkpoint(block.hash()),
                None,
            )
            .unwrap();
            ahead_ctx.apply(&info).unwrap();
            ahead.push(block);
        }
        let jobs = synth.ctx.pow_jobs(&ahead);
        assert!(
            jobs.iter()
                .all(|j| j.seed == Some(Network::Regtest.genesis_hash()))
        );
        let hashes = hasher().hash_blocks(&jobs);
        let mut ctx = synth.ctx.clone();
        for (block, pow) in ahead.iter().zip(&hashes) {
            let pow = pow.as_ref().unwrap();
            let info =
                verify_block_header_and_coinbase(block, &ctx, &[], PowCheck::Computed(pow), None)
                    .unwrap();
            // The batch hash is the one computed one by one.
            let single = hasher()
                .hash_block(&PowJob {
                    block,
                    height: ctx.height(),
                    seed: ctx.seed_hash(ctx.height()),
                })
                .unwrap();
            assert_eq!(info.pow_hash, Some(single.hash()));
            ctx.apply(&info).unwrap();
        }
        // Checkpointed and proven blocks leave the same context.
        assert_eq!(ctx, ahead_ctx);
        // A hash computed for one block does not prove another.
        let mut ctx = synth.ctx.clone();
        let first = hashes[0].as_ref().unwrap();
        let info =
            verify_block_header_and_coinbase(&ahead[0], &ctx, &[], PowCheck::Computed(first), None)
                .unwrap();
        ctx.apply(&info).unwrap();
        assert!(matches!(
            verify_block_header_and_coinbase(&ahead[1], &ctx, &[], PowCheck::Computed(first), None),
            Err(BlockError::Pow(PowCheckError::OtherBlock { .. }))
        ));
    }

    #[test]
    fn each_rule_refuses_a_bad_block() {
        let mut synth = Synth::new();
        synth.grow(61);
        let ctx = &synth.ctx;
        let height = ctx.height();
        let good = next_block(ctx, Synth::timestamp(height));
        let check = |block: &Block, txs: &[BlockTx], now: Option<u64>| {
            verify_block_header_and_coinbase(block, ctx, txs, PowCheck::Compute(hasher()), now)
        };
        check(&good, &[], Some(Synth::timestamp(height))).unwrap();

        let mut b = good.clone();
        b.header.previous = [9; 32];
        assert!(matches!(
            check(&b, &[], None),
            Err(BlockError::WrongPrevious { .. })
        ));

        let mut b = good.clone();
        b.header.hardfork_version = 15;
        assert!(matches!(check(&b, &[], None), Err(BlockError::HardFork(_))));
        let mut b = good.clone();
        b.header.hardfork_signal = 15;
        assert!(matches!(
            check(&b, &[], None),
            Err(BlockError::HardFork(HardForkError::VoteTooLow { .. }))
        ));

        let mut b = good.clone();
        b.header.timestamp = ctx.median_timestamp().unwrap() - 1;
        assert!(matches!(
            check(&b, &[], None),
            Err(BlockError::Timestamp(TimestampError::BelowMedian { .. }))
        ));
        assert!(matches!(
            check(&good, &[], Some(Synth::timestamp(height) - 7_201)),
            Err(BlockError::Timestamp(TimestampError::TooFarInFuture { .. }))
        ));

        // Coinbase for another height.
        let reward = base_reward(ctx.already_generated_coins(), HardFork::V16);
        let b = Block::new(
            good.header.clone(),
            coinbase(height + 1, reward, true),
            vec![],
        )
        .unwrap();
        assert!(matches!(
            check(&b, &[], None),
            Err(BlockError::WrongHeight { .. })
        ));
        // Coinbase paying one atomic unit too much, or too little (v16 wants it exact).
        for amount in [reward + 1, reward - 1] {
            let b =
                Block::new(good.header.clone(), coinbase(height, amount, true), vec![]).unwrap();
            assert!(
                matches!(check(&b, &[], None), Err(BlockError::MinerTx(_))),
                "{amount}"
            );
        }
        // Coinbase without a view tag in v16.
        let b = Block::new(good.header.clone(), coinbase(height, reward, false), vec![]).unwrap();
        assert!(matches!(
            check(&b, &[], None),
            Err(BlockError::MinerTx(MinerTxError::WrongOutputType { .. }))
        ));

        // Transactions: the ones given must be the ones listed.
        let listed = [[1u8; 32], [2u8; 32]];
        let with_txs = Block::new(
            good.header.clone(),
            good.miner_transaction().clone(),
            listed.to_vec(),
        )
        .unwrap();
        let tx = |hash, fee| BlockTx {
            hash,
            weight: 1_500,
            fee,
        };
        assert!(matches!(
            check(&with_txs, &[tx([1; 32], 0)], None),
            Err(BlockError::TxCount { .. })
        ));
        assert!(matches!(
            check(&with_txs, &[tx([1; 32], 0), tx([3; 32], 0)], None),
            Err(BlockError::TxMismatch { index: 1, .. })
        ));
        let twice = Block::new(
            good.header.clone(),
            good.miner_transaction().clone(),
            vec![[1; 32], [1; 32]],
        )
        .unwrap();
        assert!(matches!(
            check(&twice, &[tx([1; 32], 0), tx([1; 32], 0)], None),
            Err(BlockError::DuplicateTx { .. })
        ));
        // With fees the coinbase must claim them too (v16: exactly).
        assert!(matches!(
            check(&with_txs, &[tx([1; 32], 5), tx([2; 32], 6)], None),
            Err(BlockError::MinerTx(MinerTxError::NotExact { .. }))
        ));
        let paid = Block::new(
            good.header.clone(),
            coinbase(height, reward + 11, true),
            listed.to_vec(),
        )
        .unwrap();
        let info = check(&paid, &[tx([1; 32], 5), tx([2; 32], 6)], None).unwrap();
        assert_eq!(info.total_fees, 11);
        assert_eq!(info.generated_coins, reward);
        assert_eq!(info.weight, info.miner_tx_weight + 3_000);

        // Too heavy: above twice the effective median (300000 here).
        let heavy = [
            BlockTx {
                hash: [1; 32],
                weight: 400_000,
                fee: 0,
            },
            BlockTx {
                hash: [2; 32],
                weight: 300_000,
                fee: 0,
            },
        ];
        assert!(matches!(
            check(&with_txs, &heavy, None),
            Err(BlockError::MinerTx(MinerTxError::Reward(
                reward::RewardError::BlockTooHeavy { .. }
            )))
        ));
        // Heavier than the median but allowed: the penalty lowers the reward.
        let penalised = [
            BlockTx {
                hash: [1; 32],
                weight: 200_000,
                fee: 0,
            },
            BlockTx {
                hash: [2; 32],
                weight: 200_000,
                fee: 0,
            },
        ];
        let miner_weight = transaction_weight(good.miner_transaction());
        let penalised_reward = block_reward(
            300_000,
            400_000 + miner_weight,
            ctx.already_generated_coins(),
            HardFork::V16,
        )
        .unwrap();
        assert!(penalised_reward < reward);
        let b = Block::new(
            good.header.clone(),
            coinbase(height, penalised_reward, true),
            listed.to_vec(),
        )
        .unwrap();
        let info = check(&b, &penalised, None).unwrap();
        assert_eq!(info.generated_coins, penalised_reward);

        // Checkpoints: the block must be the one named.
        assert!(matches!(
            verify_block_header_and_coinbase(&good, ctx, &[], PowCheck::Checkpoint([0; 32]), None),
            Err(BlockError::Pow(PowCheckError::CheckpointMismatch { .. }))
        ));
    }

    #[test]
    fn wrong_genesis_and_out_of_order_apply() {
        let ctx = ChainContext::new(ChainConfig::stagenet());
        let regtest_genesis = Network::Regtest.genesis_block();
        assert!(matches!(
            verify_block_header_and_coinbase(
                &regtest_genesis,
                &ctx,
                &[],
                PowCheck::Compute(hasher()),
                None
            ),
            Err(BlockError::WrongGenesis { .. })
        ));
        let stagenet_genesis = Network::Stagenet.genesis_block();
        let info = verify_block_header_and_coinbase(
            &stagenet_genesis,
            &ctx,
            &[],
            PowCheck::Compute(hasher()),
            None,
        )
        .unwrap();
        let mut applied = ctx;
        applied.apply(&info).unwrap();
        assert!(matches!(
            applied.apply(&info),
            Err(ContextError::NotNext { .. })
        ));
        assert!(matches!(
            ChainContext::from_history(
                ChainConfig::stagenet(),
                &ChainHistory {
                    height: 5,
                    top_hash: [0; 32],
                    top_version: HardFork::V1,
                    already_generated_coins: 0,
                    recent: vec![],
                    seeds: vec![],
                }
            ),
            Err(ContextError::HistoryLength {
                needed: 5,
                given: 0,
                ..
            })
        ));
    }

    #[test]
    fn difficulty_comes_from_the_chain_without_fixed_difficulty() {
        // The same synthetic blocks on a regtest chain without --fixed-difficulty: difficulty
        // 1 until there are two blocks after genesis, then computed.
        let mut ctx = ChainContext::new(ChainConfig::regtest(None));
        let genesis = Network::Regtest.genesis_block();
        let info = verify_block_header_and_coinbase(
            &genesis,
            &ctx,
            &[],
            PowCheck::Compute(hasher()),
            None,
        )
        .unwrap();
        ctx.apply(&info).unwrap();
        assert_eq!(ctx.next_difficulty().unwrap(), 1);
        for _ in 0..3 {
            let block = next_block(&ctx, Synth::timestamp(ctx.height()));
            let info = verify_block_header_and_coinbase(
                &block,
                &ctx,
                &[],
                PowCheck::Checkpoint(block.hash()),
                None,
            )
            .unwrap();
            ctx.apply(&info).unwrap();
        }
        // Window: blocks 1..=3, difficulties 1 each, 120 s apart: ceil(2 * 120 / 240) = 1.
        assert_eq!(ctx.next_difficulty().unwrap(), 1);
        assert_eq!(ctx.cumulative_difficulty(), 4);
    }

    /// Damaged block bytes never panic the parser or the rules (the libFuzzer target
    /// `consensus_block` proposed in `docs/consensus.md` runs the same function).
    #[test]
    fn damaged_blocks_never_panic() {
        let mut synth = Synth::new();
        synth.grow(2);
        let mut seeds: Vec<Vec<u8>> = synth.blocks.iter().map(Block::serialize).collect();
        for hash in [
            "5ecb7e663bbe947c734c8059e7d7d52dc7d6644bb82d81a6ad4057d127ee8eda",
            "43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428",
            "f910435a5477ca27be1986c080d5476aeab52d0c07cf3d9c72513213350d25d4",
        ] {
            seeds.push(mainnet_block(hash));
        }
        let ctx = &synth.ctx;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut accepted = 0;
        for round in 0..6_000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..(1 + next() % 4) {
                let len = bytes.len().max(1);
                let at = (next() as usize) % len;
                match next() % 5 {
                    0 => {
                        let i = at.min(bytes.len().saturating_sub(1));
                        bytes[i] ^= 1 << (next() % 8);
                    }
                    1 => bytes.truncate(at),
                    2 => bytes.insert(at.min(bytes.len()), next() as u8),
                    3 => {
                        let end = (at + 8).min(bytes.len());
                        for b in &mut bytes[at.min(end)..end] {
                            *b = 0xff;
                        }
                    }
                    _ => {
                        if at < bytes.len() {
                            bytes.remove(at);
                        }
                    }
                }
                if bytes.is_empty() {
                    bytes.push(0);
                }
            }
            match check_block_bytes(&bytes, ctx) {
                BlockBytesCheck::Accepted => accepted += 1,
                BlockBytesCheck::NonCanonical => {
                    panic!("non-canonical bytes parsed: {}", ::hex::encode(&bytes))
                }
                BlockBytesCheck::Unparsed | BlockBytesCheck::Refused => {}
            }
        }
        // Almost every damaged block is refused somewhere.
        assert!(accepted < 100, "{accepted}");
    }

    #[test]
    fn seeds_follow_the_epochs() {
        assert_eq!(ChainContext::seed_heights(1), vec![0]);
        assert_eq!(ChainContext::seed_heights(2049), vec![0, 2048]);
        assert_eq!(ChainContext::seed_heights(2112), vec![0, 2048]);
        assert_eq!(ChainContext::seed_heights(2113), vec![2048]);
        assert_eq!(ChainContext::seed_heights(4097), vec![2048, 4096]);
        // What `apply` keeps is what a rebuilt context needs, at every height.
        let mut ctx = ChainContext::new(ChainConfig::regtest(Some(1)));
        let mut previous = [0u8; 32];
        for height in 0..4_300u64 {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&height.to_le_bytes());
            hash[31] = 1;
            let info = VerifiedBlockInfo {
                hash,
                previous,
                height,
                hard_fork: ctx.hard_fork(),
                minor_version: 16,
                timestamp: height,
                pow_hash: None,
                difficulty: 1,
                cumulative_difficulty: u128::from(height) + 1,
                weight: 100,
                long_term_weight: 100,
                miner_tx_hash: [0; 32],
                miner_tx_weight: 100,
                tx_count: 0,
                total_fees: 0,
                coinbase_amount: 0,
                generated_coins: 0,
                already_generated_coins: 0,
            };
            ctx.apply(&info).unwrap();
            previous = hash;
            let kept: Vec<u64> = ctx.seeds.iter().map(|(h, _)| *h).collect();
            assert_eq!(
                kept,
                ChainContext::seed_heights(ctx.height()),
                "at {}",
                ctx.height()
            );
            let next_seed = ctx.seed_hash(ctx.height()).unwrap();
            assert_eq!(next_seed[..8], seed_height(ctx.height()).to_le_bytes());
        }
    }
}
