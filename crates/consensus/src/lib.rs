//! Monero's consensus rules (monerod 0.18), kept free of I/O.
//!
//! # Where this sits
//!
//! ```text
//!  p2p block downloader ──► block bytes + tx bytes
//!                               │
//!        ┌──────────────────────┴──────────────────────────┐
//!        ▼                                                 ▼
//!  block::parse_block                          tx rules (module `tx`): each tx checked
//!  pow::RandomXHasher (batch, parallel)        against the chain ─► BlockTx {hash, weight, fee}
//!        │                                                 │
//!        └──► block::verify_block_header_and_coinbase ◄────┘
//!                    (with a ChainContext)
//!                               │
//!                               ▼
//!                      VerifiedBlockInfo ──► storage, and ChainContext::apply
//! ```
//!
//! The crate does no I/O and keeps no global state. Its rules are pure functions and small
//! state machines the caller feeds: [`ChainContext`] holds what the block rules need to know
//! about the chain (built once from storage, then updated with each accepted block), and
//! [`pow::RandomXHasher`] holds RandomX caches and VMs (CPU work only; call it from a
//! blocking thread).
//!
//! # Modules, one rule set each
//!
//! - [`hardfork`]: fork tables per network (regtest's included), voting, version rule.
//! - [`pow`]: algorithm by version, RandomX seed schedule, difficulty check, the hasher.
//! - [`difficulty`]: next difficulty (window 720, lag 15, cut 60), `--fixed-difficulty`.
//! - [`timestamp`]: median of the last 60, two hours into the future.
//! - [`weight`]: transaction weight (Bulletproof clawback), long-term weight, medians,
//!   block weight limit.
//! - [`reward`]: emission curve, tail emission, penalty, coinbase rules.
//! - [`block`]: parsing limits, [`ChainContext`], [`verify_block_header_and_coinbase`].
//! - [`tx`]: transaction rules in two I/O-free steps — [`tx::semantic::check`] (no chain
//!   data) gives a [`tx::CheckedTx`], whose ring request the caller answers from storage;
//!   [`tx::contextual::verify`] with that ring data gives a [`tx::VerifiedTx`]; [`tx::batch`]
//!   spreads whole blocks over rayon and batches Bulletproofs(+).
//!
//! `docs/consensus.md` lists every rule with its monerod source, what is not covered, and
//! the measured RandomX figures.
//!
//! # Example
//!
//! ```
//! use umbra_consensus::{
//!     ChainConfig, ChainContext, HardFork, Network, PowCheck, verify_block_header_and_coinbase,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A `monerod --regtest --fixed-difficulty 1` chain: starts empty, takes the genesis block.
//! let mut ctx = ChainContext::new(ChainConfig::regtest(Some(1)));
//! let genesis = Network::Regtest.genesis_block();
//! let info = verify_block_header_and_coinbase(
//!     &genesis,
//!     &ctx,
//!     &[],                                       // no transactions besides the coinbase
//!     PowCheck::Checkpoint(genesis.hash()),      // genesis is known by hash
//!     None,                                      // no clock check
//! )?;
//! ctx.apply(&info)?;
//! assert_eq!(ctx.height(), 1);
//! assert_eq!(ctx.hard_fork(), HardFork::V16);    // regtest jumps to the newest version
//! assert_eq!(ctx.next_difficulty()?, 1);
//! assert_eq!(info.generated_coins, 17_592_186_044_415);
//! # Ok(()) }
//! ```

pub mod block;
pub mod difficulty;
pub mod hardfork;
pub mod network;
pub mod pow;
pub mod reward;
pub mod timestamp;
pub mod tx;
pub mod weight;

/// The Monero types this crate works on (blocks, transactions), re-exported so callers use
/// the same version.
pub use monero_oxide;

pub use block::{
    BlockError, BlockTx, ChainContext, ChainHistory, PowCheck, VerifiedBlockInfo,
    verify_block_header_and_coinbase,
};
pub use hardfork::HardFork;
pub use network::{ChainConfig, Network};
