//! Tests of the transaction rules: mainnet vectors, synthetic RingCT transactions, the
//! regtest chain fixture, mutation robustness, and a throughput harness.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::redundant_clone,
    clippy::needless_pass_by_value
)]

mod bench;
mod build;
mod fixture;
mod mainnet;
mod robustness;
mod synthetic;
