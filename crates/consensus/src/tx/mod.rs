//! Transaction verification: Monero's consensus rules for non-coinbase transactions.
//!
//! Verification runs in two steps, as a node needs them, both free of I/O:
//!
//! ```text
//!  blob ──Tx::parse──▶ Tx ──semantic::check──▶ CheckedTx ──ring_request()──▶ RingRequest
//!                        (structure, versions,      │                        │ caller fetches
//!                         key images, outputs,      │                        ▼ from storage
//!                         amounts, weight, range    └──contextual::verify(ctx, RingData)──▶ VerifiedTx
//!                         proofs)                      (members exist and unlocked, key
//!                                                       images unspent, signatures)
//! ```
//!
//! 1. [`Tx::parse`] decodes a blob (at most [`MAX_TX_SIZE`] bytes, exactly one transaction,
//!    canonically encoded) and computes its hash and weight.
//! 2. [`semantic::check`] applies every rule that needs no chain data, for a hard fork and
//!    a weight limit ([`SemanticRules`]), range proofs included, and returns a
//!    [`CheckedTx`].
//! 3. [`CheckedTx::ring_request`] lists what the chain must provide: per input the amount
//!    pool and absolute output indices of the ring, and the key image.
//! 4. [`contextual::verify`] takes that data ([`RingData`]) and where the transaction would
//!    go ([`Context`]), and checks ring members exist and are unlocked, key images are
//!    unspent, and the signatures: v1 ring signatures, MLSAGs with Borromean proofs or
//!    Bulletproofs for the older RingCT types, CLSAGs with Bulletproofs(+) for the current
//!    ones. The result, a [`VerifiedTx`], carries what storage and the block rules need.
//!
//! [`batch`] does steps 2 and 4 for a block (or many): independent work over the rayon
//! pool, Bulletproofs(+) batch-verified, a failed batch re-verified proof by proof to name
//! the bad transaction, and key images checked across the block.
//! [`policy`] holds the pool-only rules (extra size, weight, fee).
//!
//! Every rejection is a [`TxError`] naming the transaction and the [`Reason`] (with the
//! input or output index). Nothing here panics on transaction data; calls into the
//! cryptography library are additionally guarded, a panic there becomes
//! [`Reason::LibraryPanic`].
//!
//! ```
//! use umbra_consensus::{HardFork, tx::{Tx, SemanticRules, semantic}};
//!
//! // A version-1 transaction from mainnet block 202,609 (hard fork 1).
//! let blob = include_bytes!("testdata/mainnet/tx/2180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3.bin");
//! let tx = Tx::parse(blob).unwrap();
//! assert_eq!(hex::encode(tx.hash()), "2180a87f724702d37af087e22476297e818a73579ef7b7da947da963245202a3");
//!
//! let checked = semantic::check(tx, &SemanticRules::for_block(HardFork::V1, 40_000)).unwrap();
//! let request = checked.ring_request();
//! assert_eq!(request.inputs.len(), 19);
//! // ... fetch `request` from storage into a `RingData`, then `contextual::verify`.
//! ```

pub mod batch;
pub mod contextual;
mod error;
mod parse;
mod points;
pub mod policy;
mod range;
mod rules;
pub mod semantic;
mod signatures;
pub mod unlock;

#[cfg(test)]
mod tests;

pub use contextual::{
    Context, InputRequest, InputRingData, OutputInfo, RingData, RingMember, RingRequest, VerifiedTx,
};
pub use error::{ProofKind, Reason, TxError, TxHash, TxId};
pub use parse::{MAX_TX_SIZE, Tx};
pub use points::zero_commitment;
pub use range::RangeProofMode;
pub use rules::MAX_BULLETPROOF_OUTPUTS;
pub use semantic::{CheckedTx, SemanticRules};

/// Runs `f`, turning a panic into [`Reason::LibraryPanic`]: a guard around calls into the
/// cryptography library with untrusted data.
pub(crate) fn guard<T>(what: &'static str, f: impl FnOnce() -> T) -> Result<T, Reason> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| {
        tracing::error!(what, "cryptography library panicked on a transaction");
        Reason::LibraryPanic(what)
    })
}
