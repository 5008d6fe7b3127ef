//! Synthetic Monero blocks and transactions, for tests and benchmarks of the database.
//!
//! The bytes follow Monero's consensus serialization closely enough to parse (with
//! `monero-oxide`) and hash like real ones, with random keys, key images, commitments and
//! proofs: RingCT transactions of type 6 (CLSAG + Bulletproofs+, ring size 16) of about
//! 1.5–6 KB, version-1 transactions with ring signatures, and miner transactions of both
//! versions. They would fail verification (the proofs are noise), which the database
//! never does.
//!
//! Everything is deterministic in the seed.
//!
//! ```
//! use umbra_storage::synthetic::SyntheticChain;
//!
//! let mut chain = SyntheticChain::new(7);
//! let genesis = chain.block(0);
//! let next = chain.block(3);
//! assert_eq!((genesis.height, next.height), (0, 1));
//! assert_eq!(next.block.header.previous, genesis.hash);
//! assert_eq!(next.txs.len(), 3);
//! ```

use crate::{Hash, VerifiedBlock, VerifiedTx, derive::parse_block};

/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// 32 random bytes (a random "point": never checked by the database).
    pub fn hash(&mut self) -> Hash {
        let mut out = [0; 32];
        for chunk in out.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }

    /// 32 random bytes forming a canonical scalar (below 2^252).
    fn scalar(&mut self) -> Hash {
        let mut s = self.hash();
        s[31] &= 0x0f;
        s
    }
}

/// Appends `n` as a Monero varint.
pub fn write_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

const RING: usize = 16;

fn usize_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn extra(rng: &mut Rng, out: &mut Vec<u8>) {
    // tx_extra: the transaction public key (tag 1 + 32 bytes).
    write_varint(33, out);
    out.push(1);
    out.extend_from_slice(&rng.hash());
}

/// A RingCT (type 6: CLSAG + Bulletproofs+) transaction blob with `inputs` inputs of
/// ring size 16 and `outputs` outputs, spending `key_images` first (then random ones).
pub fn rct_tx_blob(rng: &mut Rng, inputs: usize, outputs: usize, key_images: &[Hash]) -> Vec<u8> {
    let inputs = inputs.max(1);
    let outputs = outputs.max(1);
    let mut b = Vec::with_capacity(800 + inputs * 700 + outputs * 80);
    write_varint(2, &mut b);
    write_varint(0, &mut b);
    write_varint(usize_u64(inputs), &mut b);
    for i in 0..inputs {
        b.push(2);
        write_varint(0, &mut b);
        write_varint(RING as u64, &mut b);
        for _ in 0..RING {
            write_varint(1 + rng.below(100_000), &mut b);
        }
        let ki = key_images.get(i).copied().unwrap_or_else(|| rng.hash());
        b.extend_from_slice(&ki);
    }
    write_varint(usize_u64(outputs), &mut b);
    for _ in 0..outputs {
        write_varint(0, &mut b);
        b.push(3);
        b.extend_from_slice(&rng.hash());
        b.push(rng.next_u64() as u8);
    }
    extra(rng, &mut b);
    // RctBase: type, fee, compact encrypted amounts, commitments.
    b.push(6);
    write_varint(30_000_000 + rng.below(1_000_000), &mut b);
    for _ in 0..outputs {
        b.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    for _ in 0..outputs {
        b.extend_from_slice(&rng.hash());
    }
    // Prunable: one Bulletproof+ (A, A1, B, r1, s1, d1, L, R), CLSAGs, pseudo-outs.
    b.push(1);
    for _ in 0..3 {
        b.extend_from_slice(&rng.hash());
    }
    for _ in 0..3 {
        b.extend_from_slice(&rng.scalar());
    }
    let lr = 6 + usize::try_from(outputs.next_power_of_two().trailing_zeros()).unwrap_or(0);
    for _ in 0..2 {
        write_varint(usize_u64(lr), &mut b);
        for _ in 0..lr {
            b.extend_from_slice(&rng.hash());
        }
    }
    for _ in 0..inputs {
        for _ in 0..RING {
            b.extend_from_slice(&rng.scalar());
        }
        b.extend_from_slice(&rng.scalar());
        b.extend_from_slice(&rng.hash());
    }
    for _ in 0..inputs {
        b.extend_from_slice(&rng.hash());
    }
    b
}

/// A version-1 (pre-RingCT) transaction blob: inputs of the given amounts (ring size 3)
/// and outputs of the given amounts.
pub fn v1_tx_blob(rng: &mut Rng, input_amounts: &[u64], output_amounts: &[u64]) -> Vec<u8> {
    const V1_RING: usize = 3;
    let mut b = Vec::new();
    write_varint(1, &mut b);
    write_varint(0, &mut b);
    write_varint(usize_u64(input_amounts.len()), &mut b);
    for amount in input_amounts {
        b.push(2);
        write_varint(*amount, &mut b);
        write_varint(V1_RING as u64, &mut b);
        for _ in 0..V1_RING {
            write_varint(1 + rng.below(1000), &mut b);
        }
        b.extend_from_slice(&rng.hash());
    }
    write_varint(usize_u64(output_amounts.len()), &mut b);
    for amount in output_amounts {
        write_varint(*amount, &mut b);
        b.push(2);
        b.extend_from_slice(&rng.hash());
    }
    extra(rng, &mut b);
    for _ in 0..input_amounts.len() * V1_RING {
        b.extend_from_slice(&rng.scalar());
        b.extend_from_slice(&rng.scalar());
    }
    b
}

/// A miner transaction blob of `version` (1 or 2) for `height`, paying `amounts`.
pub fn miner_tx_blob(rng: &mut Rng, version: u8, height: u64, amounts: &[u64]) -> Vec<u8> {
    let mut b = Vec::new();
    write_varint(u64::from(version), &mut b);
    write_varint(height + 60, &mut b);
    write_varint(1, &mut b);
    b.push(0xff);
    write_varint(height, &mut b);
    write_varint(usize_u64(amounts.len()), &mut b);
    for amount in amounts {
        write_varint(*amount, &mut b);
        if version >= 2 {
            b.push(3);
            b.extend_from_slice(&rng.hash());
            b.push(rng.next_u64() as u8);
        } else {
            b.push(2);
            b.extend_from_slice(&rng.hash());
        }
    }
    extra(rng, &mut b);
    if version >= 2 {
        b.push(0);
    }
    b
}

/// A block blob from its parts.
pub fn block_blob(
    major: u8,
    minor: u8,
    timestamp: u64,
    prev: &Hash,
    nonce: u32,
    miner_tx: &[u8],
    tx_hashes: &[Hash],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(100 + miner_tx.len() + tx_hashes.len() * 32);
    write_varint(u64::from(major), &mut b);
    write_varint(u64::from(minor), &mut b);
    write_varint(timestamp, &mut b);
    b.extend_from_slice(prev);
    b.extend_from_slice(&nonce.to_le_bytes());
    b.extend_from_slice(miner_tx);
    write_varint(usize_u64(tx_hashes.len()), &mut b);
    for h in tx_hashes {
        b.extend_from_slice(h);
    }
    b
}

/// The era of the blocks a [`SyntheticChain`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// Major version 1: version-1 transactions and miner transactions, outputs by amount.
    PreRct,
    /// Major version 16: RingCT transactions, version-2 miner transactions.
    Rct,
}

/// Makes a chain of synthetic blocks, each building on the last.
#[derive(Debug, Clone)]
pub struct SyntheticChain {
    /// The generator (public so that tests can draw from the same stream).
    pub rng: Rng,
    /// Height of the next block.
    pub next_height: u64,
    /// Hash of the last block (zero before genesis).
    pub top: Hash,
    /// Cumulative difficulty of the last block.
    pub cumulative_difficulty: u128,
    /// The era of the next blocks.
    pub era: Era,
}

impl SyntheticChain {
    /// A chain from genesis, RingCT era.
    pub fn new(seed: u64) -> Self {
        SyntheticChain {
            rng: Rng::new(seed),
            next_height: 0,
            top: [0; 32],
            cumulative_difficulty: 0,
            era: Era::Rct,
        }
    }

    /// A chain continuing on top of block `top` at `next_height - 1` (to resume a stored
    /// chain, or to fork one).
    pub fn on_top_of(seed: u64, next_height: u64, top: Hash, cumulative_difficulty: u128) -> Self {
        SyntheticChain {
            rng: Rng::new(seed),
            next_height,
            top,
            cumulative_difficulty,
            era: Era::Rct,
        }
    }

    /// A random transaction of the current era with realistic shape: 1–2 inputs
    /// (RingCT; 1–3 for version 1) and 2–16 outputs, mostly 2.
    pub fn tx(&mut self) -> VerifiedTx {
        let outputs = match self.rng.below(10) {
            0..=6 => 2,
            7 | 8 => 3 + self.rng.below(4),
            _ => 2 + self.rng.below(15),
        } as usize;
        match self.era {
            Era::Rct => {
                let inputs = 1 + self.rng.below(2) as usize;
                self.rct_tx(inputs, outputs, &[])
            }
            Era::PreRct => {
                let inputs: Vec<u64> = (0..1 + self.rng.below(3)).map(|_| self.amount()).collect();
                let outs: Vec<u64> = (0..outputs).map(|_| self.amount()).collect();
                let blob = v1_tx_blob(&mut self.rng, &inputs, &outs);
                self.parsed(blob)
            }
        }
    }

    /// A random pre-RingCT denomination (a few distinct amounts, so pools fill up).
    fn amount(&mut self) -> u64 {
        [
            1_000_000_000,
            2_000_000_000,
            5_000_000_000,
            10_000_000_000,
            300_000,
        ]
        .get(self.rng.below(5) as usize)
        .copied()
        .unwrap_or(1)
    }

    /// A RingCT transaction spending `key_images` (then random key images).
    pub fn rct_tx(&mut self, inputs: usize, outputs: usize, key_images: &[Hash]) -> VerifiedTx {
        let blob = rct_tx_blob(&mut self.rng, inputs, outputs, key_images);
        self.parsed(blob)
    }

    fn parsed(&mut self, blob: Vec<u8>) -> VerifiedTx {
        match VerifiedTx::from_blob(blob) {
            Ok(tx) => tx,
            Err(e) => unreachable_blob(&e),
        }
    }

    /// The next block with `txs` random transactions.
    pub fn block(&mut self, txs: usize) -> VerifiedBlock {
        let txs = (0..txs).map(|_| self.tx()).collect();
        self.block_with(txs)
    }

    /// The next block with these transactions.
    pub fn block_with(&mut self, txs: Vec<VerifiedTx>) -> VerifiedBlock {
        let height = self.next_height;
        let (major, miner) = match self.era {
            Era::Rct => (
                16,
                miner_tx_blob(&mut self.rng, 2, height, &[600_000_000_000]),
            ),
            Era::PreRct => {
                let amounts: Vec<u64> = (0..1 + self.rng.below(4)).map(|_| self.amount()).collect();
                (1, miner_tx_blob(&mut self.rng, 1, height, &amounts))
            }
        };
        let hashes: Vec<Hash> = txs.iter().map(|t: &VerifiedTx| t.hash).collect();
        let timestamp = 1_700_000_000 + height * 120;
        let nonce = self.rng.next_u64() as u32;
        let blob = block_blob(major, major, timestamp, &self.top, nonce, &miner, &hashes);
        let block = match parse_block(&blob) {
            Ok((block, _)) => block,
            Err(e) => unreachable_blob(&e),
        };
        let hash = block.hash();
        let weight = usize_u64(blob.len() + txs.iter().map(|t| t.blob.len()).sum::<usize>());
        let difficulty = 1_000 + u128::from(self.rng.below(1_000));
        self.cumulative_difficulty += difficulty;
        self.top = hash;
        self.next_height += 1;
        VerifiedBlock {
            block,
            blob,
            hash,
            height,
            txs,
            weight,
            long_term_weight: weight,
            cumulative_difficulty: self.cumulative_difficulty,
            generated_coins: 600_000_000_000,
        }
    }
}

/// The generators above always produce parseable bytes; a failure is a bug in them.
#[allow(
    clippy::panic,
    reason = "a synthetic blob that does not parse is a bug in this module, not bad input"
)]
fn unreachable_blob(e: &crate::StorageError) -> ! {
    panic!("synthetic blob does not parse: {e}")
}
