//! Monero's consensus rules, kept free of I/O.
//!
//! (Being filled in: block rules here, transaction rules in `tx`.)

pub mod block;
pub mod difficulty;
pub mod hardfork;
pub mod network;
pub mod pow;
pub mod reward;
pub mod timestamp;
pub mod weight;

pub use block::{
    BlockError, BlockTx, ChainContext, ChainHistory, PowCheck, VerifiedBlockInfo,
    verify_block_header_and_coinbase,
};
pub use hardfork::HardFork;
pub use network::{ChainConfig, Network};
