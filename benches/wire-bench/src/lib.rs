//! Criterion benchmarks of Umbra's wire crates side by side with monero-epee.
