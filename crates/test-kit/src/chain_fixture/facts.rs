//! The typed contents of `facts.json` and `outputs.json`: what monerod said about every block,
//! transaction and RingCT output of the fixture chain, so consumers need no monerod.
//!
//! Hashes and keys are 32-byte arrays, written as lowercase hex strings. 128-bit quantities
//! (difficulties, coin totals) are JSON numbers (serde_json reads them into `u128`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rpc::Hash;

/// Version of the `facts.json` / `outputs.json` layout; bumped on any change of these types.
pub const FACTS_FORMAT: u32 = 1;

/// The whole of `facts.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Facts {
    /// [`FACTS_FORMAT`] of the writer.
    pub format: u32,
    /// The recipe that built the chain ([`RECIPE_VERSION`](super::RECIPE_VERSION)).
    pub recipe_version: u32,
    /// `monerod --version` of the node that mined it, for example `0.18.0.0-unknown`.
    pub monerod_version: String,
    /// `monero-wallet-rpc --version` of the wallet that made the transactions.
    pub wallet_rpc_version: String,
    /// When the build finished (Unix seconds).
    pub created_unix: u64,
    /// How long the build took.
    pub build: BuildStats,
    /// The wallet's addresses the recipe paid.
    pub addresses: Addresses,
    /// Chain-wide totals.
    pub totals: Totals,
    /// Every block from genesis (index = height).
    pub blocks: Vec<BlockFacts>,
    /// Every non-coinbase transaction, in chain order (block by block, in block order).
    pub txs: Vec<TxFacts>,
}

/// Durations of the build's phases, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildStats {
    /// The whole build, start of monerod to the completion marker.
    pub total_ms: u64,
    /// Spent in `generateblocks`.
    pub mining_ms: u64,
    /// Spent in wallet calls (restore, refresh, transfer, sweep).
    pub wallet_ms: u64,
    /// Spent reading the chain back from monerod and writing the files.
    pub export_ms: u64,
}

/// The fixture wallet's addresses (wallet of [`TEST_WALLET_SEED`](crate::TEST_WALLET_SEED)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Addresses {
    /// Primary address, account 0 ([`MINING_ADDRESS`](crate::MINING_ADDRESS): every coinbase
    /// pays it).
    pub primary: String,
    /// Subaddresses 1, 2, 3 of account 0.
    pub subaddresses: Vec<String>,
    /// Primary address of account 1 (subaddress format). Account 1 holds only outputs of
    /// earlier non-coinbase transactions, so every spend from it spends such outputs.
    pub account1: String,
    /// Subaddress 1 of account 1.
    pub account1_subaddresses: Vec<String>,
    /// The primary address with the payment id [`Addresses::payment_id`].
    pub integrated: String,
    /// The integrated address's 8-byte payment id, in hex.
    pub payment_id: String,
}

/// Chain-wide totals at the tip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Totals {
    /// Height of the top block.
    pub tip_height: u64,
    /// Hash of the top block.
    #[serde(with = "hex32")]
    pub tip_hash: Hash,
    /// Number of blocks, genesis included (`tip_height + 1`).
    pub block_count: u64,
    /// Cumulative difficulty at the tip.
    pub cumulative_difficulty: u128,
    /// Coins in existence after the tip (`get_coinbase_tx_sum` emission over every block,
    /// genesis included): monerod's `already_generated_coins` at the tip.
    pub already_generated_coins: u128,
    /// Fees paid by all transactions.
    pub total_fees: u128,
    /// Non-coinbase transactions.
    pub tx_count: u64,
    /// Non-coinbase transactions of RingCT type 6 (CLSAG + Bulletproofs+).
    pub ringct_tx_count: u64,
    /// Transactions including coinbases (`tx_count + block_count`; monerod's
    /// `get_info.tx_count` is `tx_count`, coinbases excluded).
    pub tx_count_with_coinbase: u64,
    /// RingCT outputs (amount 0), coinbase outputs from height 1 on included; their global
    /// indices are `0..rct_output_count` and all are in `outputs.json`.
    pub rct_output_count: u64,
    /// Height of the block whose hash keys RandomX for the block after the tip (from
    /// `get_block_template`; checks [`randomx_seed_height`](super::randomx_seed_height)).
    pub next_seed_height: u64,
    /// Most transactions in one block.
    pub max_txs_per_block: u64,
}

/// One block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlockFacts {
    /// Height (genesis is 0).
    pub height: u64,
    /// Block hash (id).
    #[serde(with = "hex32")]
    pub hash: Hash,
    /// Previous block's hash (zeros for genesis).
    #[serde(with = "hex32")]
    pub prev_hash: Hash,
    /// Timestamp (wall clock at mining time; 0 for genesis).
    pub timestamp: u64,
    /// Major version (1 for genesis, 16 from height 1 on regtest).
    pub major_version: u8,
    /// Minor version (vote).
    pub minor_version: u8,
    /// Nonce.
    pub nonce: u32,
    /// Difficulty (1: `--fixed-difficulty 1`).
    pub difficulty: u128,
    /// Cumulative difficulty up to and including this block.
    pub cumulative_difficulty: u128,
    /// Size in bytes (`block_size`: coinbase plus transactions).
    pub size: u64,
    /// Weight (`block_weight`).
    pub weight: u64,
    /// Long-term weight.
    pub long_term_weight: u64,
    /// Coinbase reward (emission plus fees).
    pub reward: u64,
    /// Fees paid by the block's transactions (part of `reward`).
    pub fees: u64,
    /// Coins in existence after this block: the running sum of `reward - fees` from genesis
    /// (monerod's `already_generated_coins`; the reward of the next block depends on it).
    pub already_generated_coins: u64,
    /// Proof-of-work hash (RandomX from height 1; monerod's `fill_pow_hash`).
    #[serde(with = "hex32")]
    pub pow_hash: Hash,
    /// Height of the block whose hash keys RandomX for this block
    /// ([`randomx_seed_height`](super::randomx_seed_height)).
    pub seed_height: u64,
    /// That block's hash.
    #[serde(with = "hex32")]
    pub seed_hash: Hash,
    /// The coinbase transaction.
    pub miner_tx: MinerTxFacts,
    /// Hashes of the other transactions, in block order (`txs/<hash>.bin`).
    #[serde(with = "hex32_vec")]
    pub tx_hashes: Vec<Hash>,
}

/// A block's coinbase transaction (its bytes are inside `blocks/<height>.bin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MinerTxFacts {
    /// Transaction hash.
    #[serde(with = "hex32")]
    pub hash: Hash,
    /// Transaction version (1 for genesis, 2 after).
    pub version: u64,
    /// Unlock time (height + 60).
    pub unlock_time: u64,
    /// Clear amounts of its outputs.
    pub amounts: Vec<u64>,
    /// Global indices of its outputs: RingCT (amount 0) indices from height 1 on; genesis's
    /// single output is index 0 of the pre-RingCT amount 17592186044415.
    pub output_indices: Vec<u64>,
    /// Serialised size in bytes (equals its weight).
    pub blob_size: u64,
}

/// One non-coinbase transaction (`txs/<hash>.bin` holds its full bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TxFacts {
    /// Transaction hash.
    #[serde(with = "hex32")]
    pub hash: Hash,
    /// Height of the block holding it.
    pub block_height: u64,
    /// Its position among the block's non-coinbase transactions.
    pub index_in_block: u64,
    /// Transaction version (2).
    pub version: u64,
    /// RingCT type (6: CLSAG + Bulletproofs+).
    pub rct_type: u64,
    /// Fee in atomic units.
    pub fee: u64,
    /// Unlock time: 0, a block height, or (from 500,000,000) a Unix time.
    pub unlock_time: u64,
    /// Serialised size in bytes.
    pub blob_size: u64,
    /// Weight as the wallet computed it when making the transaction.
    pub weight: Option<u64>,
    /// What the recipe made it to show.
    pub tags: Vec<TxTag>,
    /// Its inputs, in order.
    pub inputs: Vec<InputFacts>,
    /// Number of outputs.
    pub output_count: u64,
    /// Global RingCT indices of its outputs (keys and commitments in `outputs.json`).
    pub output_indices: Vec<u64>,
}

/// One input (`txin_to_key`) of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputFacts {
    /// Its key image.
    #[serde(with = "hex32")]
    pub key_image: Hash,
    /// Its amount (0 for RingCT).
    pub amount: u64,
    /// The ring as serialised: offsets relative to the previous member.
    pub key_offsets: Vec<u64>,
    /// The ring as absolute global output indices (running sums of `key_offsets`).
    pub ring: Vec<u64>,
}

/// What a transaction of the recipe was made to exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TxTag {
    /// Made together with many others that all landed in one block.
    Burst,
    /// More than one destination (outputs beyond the change).
    MultiDestination,
    /// 15 destinations plus change: the 16-output maximum.
    MaxOutputs,
    /// Pays at least one subaddress (the transaction carries additional public keys when
    /// more than one output goes to subaddresses).
    ToSubaddress,
    /// Pays an integrated address (encrypted payment id in `extra`).
    IntegratedAddress,
    /// Non-zero unlock time given as a block height.
    UnlockTimeHeight,
    /// Non-zero unlock time given as a Unix time.
    UnlockTimeTimestamp,
    /// Spends only outputs of earlier non-coinbase transactions (from account 1).
    SpendsNonCoinbase,
    /// A `sweep_all` of account 1: many inputs, one destination.
    Sweep,
    /// In the last blocks of the chain.
    TipRegion,
    /// In the first block keyed by the second RandomX seed.
    SeedChange,
}

/// The whole of `outputs.json`: every RingCT output of the chain by global index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutputsFile {
    /// [`FACTS_FORMAT`] of the writer.
    pub format: u32,
    /// The amount whose index space this is (0: RingCT).
    pub amount: u64,
    /// Number of outputs (indices `0..count`).
    pub count: u64,
    /// `unlocked` below is as of this height (the tip).
    pub as_of_height: u64,
    /// The outputs by global index.
    pub outputs: BTreeMap<u64, OutputFacts>,
}

/// One RingCT output (from `/get_outs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutputFacts {
    /// One-time public key.
    #[serde(with = "hex32")]
    pub key: Hash,
    /// Amount commitment (for a coinbase output the commitment to its clear amount with
    /// blinding factor 1).
    #[serde(with = "hex32")]
    pub mask: Hash,
    /// Height of the block that created it.
    pub height: u64,
    /// Whether monerod called it spendable on top of the tip (10 blocks deep, unlock time
    /// passed).
    pub unlocked: bool,
    /// Hash of the transaction that created it.
    #[serde(with = "hex32")]
    pub txid: Hash,
}

/// Serde for one 32-byte hash as hex.
pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::rpc::Hash;

    pub(crate) fn serialize<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub(crate) fn parse(text: &str) -> Result<Hash, String> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)
            .map_err(|e| format!("bad 32-byte hex {text:?}: {e}"))?;
        Ok(out)
    }
}

/// Serde for a list of 32-byte hashes as hex.
pub(crate) mod hex32_vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::rpc::Hash;

    pub(crate) fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(hashes.len()))?;
        for hash in hashes {
            seq.serialize_element(&hex::encode(hash))?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| super::hex32::parse(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

impl Facts {
    /// The block at `height`, if the chain has it.
    pub fn block(&self, height: u64) -> Option<&BlockFacts> {
        usize::try_from(height)
            .ok()
            .and_then(|h| self.blocks.get(h))
            .filter(|b| b.height == height)
    }

    /// The non-coinbase transaction with this hash.
    pub fn tx(&self, hash: &Hash) -> Option<&TxFacts> {
        self.txs.iter().find(|tx| &tx.hash == hash)
    }

    /// The non-coinbase transactions carrying `tag`.
    pub fn txs_tagged(&self, tag: TxTag) -> impl Iterator<Item = &TxFacts> {
        self.txs.iter().filter(move |tx| tx.tags.contains(&tag))
    }

    /// The non-coinbase transactions of block `height`, in block order.
    pub fn txs_in_block(&self, height: u64) -> impl Iterator<Item = &TxFacts> {
        self.txs.iter().filter(move |tx| tx.block_height == height)
    }
}

/// Turns a ring's relative `key_offsets` into absolute global indices; `None` on overflow.
pub fn absolute_ring(key_offsets: &[u64]) -> Option<Vec<u64>> {
    let mut sum: u64 = 0;
    key_offsets
        .iter()
        .map(|&offset| {
            sum = sum.checked_add(offset)?;
            Some(sum)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_become_absolute_and_overflow_is_caught() {
        assert_eq!(absolute_ring(&[5, 1, 3]), Some(vec![5, 6, 9]));
        assert_eq!(absolute_ring(&[]), Some(vec![]));
        assert_eq!(absolute_ring(&[u64::MAX, 1]), None);
    }

    #[test]
    fn hashes_round_trip_as_hex_and_big_numbers_as_u128() {
        let totals = Totals {
            tip_height: 2,
            tip_hash: [0xab; 32],
            block_count: 3,
            cumulative_difficulty: u128::from(u64::MAX) + 5,
            already_generated_coins: 1,
            total_fees: 0,
            tx_count: 0,
            ringct_tx_count: 0,
            tx_count_with_coinbase: 3,
            rct_output_count: 2,
            next_seed_height: 0,
            max_txs_per_block: 0,
        };
        let text = serde_json::to_string(&totals).unwrap();
        assert!(text.contains(&"ab".repeat(32)), "{text}");
        assert!(text.contains("18446744073709551620"), "{text}");
        let back: Totals = serde_json::from_str(&text).unwrap();
        assert_eq!(back, totals);
    }

    #[test]
    fn bad_hex_is_an_error_naming_the_text() {
        let err = serde_json::from_str::<Totals>(
            r#"{"tip_height":0,"tip_hash":"zz","block_count":1,"cumulative_difficulty":1,
            "already_generated_coins":1,"total_fees":0,"tx_count":0,"ringct_tx_count":0,
            "tx_count_with_coinbase":1,"rct_output_count":0,"next_seed_height":0,
            "max_txs_per_block":0}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"zz\""), "{err}");
    }

    #[test]
    fn tags_are_snake_case() {
        assert_eq!(
            serde_json::to_string(&TxTag::SpendsNonCoinbase).unwrap(),
            "\"spends_non_coinbase\""
        );
    }
}
