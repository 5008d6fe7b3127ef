//! Monero's consensus rules, kept free of I/O.
//!
//! (Skeleton: the block rules and the transaction rules are being filled in.)

pub mod hardfork;
pub mod tx;

pub use hardfork::HardFork;
