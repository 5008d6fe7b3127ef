//! Transaction weight.
//!
//! A private copy until the block rules' `weight` module lands; the lead keeps one at merge.

use monero_oxide::{ringct::bulletproofs::Bulletproof, transaction::Transaction};

/// A transaction's weight: its blob size, plus the Bulletproof(+) "clawback" for
/// transactions whose proof covers more than two (padded) outputs, which makes the weight
/// follow verification time rather than the logarithmic proof size.
pub(crate) fn tx_weight(tx: &Transaction, blob_len: usize) -> u64 {
    let clawback = match tx {
        Transaction::V2 {
            prefix,
            proofs: Some(proofs),
        } => {
            use monero_oxide::ringct::RctType;
            match proofs.rct_type() {
                RctType::MlsagBulletproofs
                | RctType::MlsagBulletproofsCompactAmount
                | RctType::ClsagBulletproof => {
                    Bulletproof::calculate_clawback(false, prefix.outputs.len()).0
                }
                RctType::ClsagBulletproofPlus => {
                    Bulletproof::calculate_clawback(true, prefix.outputs.len()).0
                }
                RctType::AggregateMlsagBorromean | RctType::MlsagBorromean => 0,
            }
        }
        Transaction::V1 { .. } | Transaction::V2 { proofs: None, .. } => 0,
    };
    u64::try_from(blob_len.saturating_add(clawback)).unwrap_or(u64::MAX)
}
