//! Keys and record layouts, and their checked decoders.
//!
//! Numbers in keys are big-endian (key order is numeric order); numbers in values are
//! little-endian. Every decoder checks lengths before reading and refuses trailing bytes;
//! a record that does not decode is [`StorageError::Corrupt`], never a panic.
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | name | bytes |
//! | `block_info` | height u64 | hash 32, timestamp u64, cumulative difficulty u128, weight u64, long-term weight u64, generated coins u64, cumulative generated coins u64, major u8, minor u8, cumulative RingCT outputs u64, blob size u64, first tx index u64, tx count u64 (122 bytes) |
//! | `block_heights` | hash 32 | height u64 |
//! | `block_blobs` | height u64 | block blob |
//! | `tx_ids` | hash 32 | tx index u64, height u64, index in block u64 |
//! | `tx_blobs` | tx index u64 | hash 32, tx blob |
//! | `tx_outputs` | tx index u64 | n × u64 (output index within its amount) |
//! | `rct_outputs` | global index u64 | key 32, commitment 32, unlock time u64, height u64, tx index u64, flags u8 (89 bytes) |
//! | `pre_rct_outputs` | amount u64, index u64 | key 32, unlock time u64, height u64, tx index u64, flags u8 (57 bytes) |
//! | `amount_counts` | amount u64 | count u64 |
//! | `key_images` | key image 32 | (empty) |
//! | `alt_blocks` | hash 32 | see [`encode_alt_block`] |
//! | `alt_chains` | chain id 32, hash 32 | (empty) |

use crate::{
    AltBlock, BlockInfo, Hash, OutputInfo, StorageError, TxBlob, TxLocation, backend::Table,
};

/// Largest blob a record may claim (a block or transaction blob inside an alternative
/// block record). Monero caps blocks far below this.
pub(crate) const MAX_BLOB: usize = 100 * 1024 * 1024;

/// Most transactions an alternative block record may claim.
pub(crate) const MAX_ALT_TXS: usize = 1 << 20;

/// A height, index or amount as a key.
pub(crate) fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// (amount, index) of a pre-RingCT output as a key.
pub(crate) fn amount_index_key(amount: u64, index: u64) -> [u8; 16] {
    let mut key = [0; 16];
    let (a, i) = key.split_at_mut(8);
    a.copy_from_slice(&amount.to_be_bytes());
    i.copy_from_slice(&index.to_be_bytes());
    key
}

/// (chain id, hash) of an alternative block as a key.
pub(crate) fn chain_key(chain_id: &Hash, hash: &Hash) -> [u8; 64] {
    let mut key = [0; 64];
    let (c, h) = key.split_at_mut(32);
    c.copy_from_slice(chain_id);
    h.copy_from_slice(hash);
    key
}

/// A checked reader over one record.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    table: Table,
    key: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(table: Table, key: &'a [u8], buf: &'a [u8]) -> Self {
        Reader { buf, table, key }
    }

    /// The error for this record.
    pub(crate) fn corrupt(&self, what: &'static str) -> StorageError {
        StorageError::corrupt(self.table.name(), self.key, what)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], StorageError> {
        if self.buf.len() < n {
            return Err(self.corrupt("record too short"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], StorageError> {
        let bytes = self.bytes(N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, StorageError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, StorageError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, StorageError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn u128(&mut self) -> Result<u128, StorageError> {
        Ok(u128::from_le_bytes(self.array()?))
    }

    /// A u32 length prefix, then that many bytes (at most `max`).
    pub(crate) fn blob(&mut self, max: usize) -> Result<&'a [u8], StorageError> {
        let len = usize::try_from(self.u32()?).map_err(|_| self.corrupt("length too large"))?;
        if len > max {
            return Err(self.corrupt("length over the limit"));
        }
        self.bytes(len)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Fails if bytes are left.
    pub(crate) fn finish(&self) -> Result<(), StorageError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt("trailing bytes"))
        }
    }
}

/// Decodes a big-endian u64 key.
pub(crate) fn decode_u64_key(table: Table, key: &[u8]) -> Result<u64, StorageError> {
    let mut r = Reader::new(table, key, key);
    let n = u64::from_be_bytes(r.array()?);
    r.finish()?;
    Ok(n)
}

/// Decodes a little-endian u64 value.
pub(crate) fn decode_u64_value(
    table: Table,
    key: &[u8],
    value: &[u8],
) -> Result<u64, StorageError> {
    let mut r = Reader::new(table, key, value);
    let n = r.u64()?;
    r.finish()?;
    Ok(n)
}

/// Decodes a 32-byte value.
pub(crate) fn decode_hash(table: Table, key: &[u8], value: &[u8]) -> Result<Hash, StorageError> {
    let mut r = Reader::new(table, key, value);
    let h = r.array()?;
    r.finish()?;
    Ok(h)
}

/// Size of an encoded [`BlockInfo`].
pub(crate) const BLOCK_INFO_LEN: usize = 32 + 8 + 16 + 8 * 4 + 2 + 8 * 4;

pub(crate) fn encode_block_info(info: &BlockInfo) -> Vec<u8> {
    let mut v = Vec::with_capacity(BLOCK_INFO_LEN);
    v.extend_from_slice(&info.hash);
    v.extend_from_slice(&info.timestamp.to_le_bytes());
    v.extend_from_slice(&info.cumulative_difficulty.to_le_bytes());
    v.extend_from_slice(&info.weight.to_le_bytes());
    v.extend_from_slice(&info.long_term_weight.to_le_bytes());
    v.extend_from_slice(&info.generated_coins.to_le_bytes());
    v.extend_from_slice(&info.cumulative_generated_coins.to_le_bytes());
    v.push(info.major_version);
    v.push(info.minor_version);
    v.extend_from_slice(&info.cumulative_rct_outputs.to_le_bytes());
    v.extend_from_slice(&info.blob_size.to_le_bytes());
    v.extend_from_slice(&info.first_tx_index.to_le_bytes());
    v.extend_from_slice(&info.tx_count.to_le_bytes());
    v
}

pub(crate) fn decode_block_info(key: &[u8], value: &[u8]) -> Result<BlockInfo, StorageError> {
    let height = decode_u64_key(Table::BlockInfo, key)?;
    let mut r = Reader::new(Table::BlockInfo, key, value);
    let info = BlockInfo {
        height,
        hash: r.array()?,
        timestamp: r.u64()?,
        cumulative_difficulty: r.u128()?,
        weight: r.u64()?,
        long_term_weight: r.u64()?,
        generated_coins: r.u64()?,
        cumulative_generated_coins: r.u64()?,
        major_version: r.u8()?,
        minor_version: r.u8()?,
        cumulative_rct_outputs: r.u64()?,
        blob_size: r.u64()?,
        first_tx_index: r.u64()?,
        tx_count: r.u64()?,
    };
    r.finish()?;
    Ok(info)
}

pub(crate) fn encode_tx_location(loc: &TxLocation) -> [u8; 24] {
    let mut v = [0; 24];
    let (a, rest) = v.split_at_mut(8);
    let (b, c) = rest.split_at_mut(8);
    a.copy_from_slice(&loc.tx_index.to_le_bytes());
    b.copy_from_slice(&loc.height.to_le_bytes());
    c.copy_from_slice(&loc.index_in_block.to_le_bytes());
    v
}

pub(crate) fn decode_tx_location(key: &[u8], value: &[u8]) -> Result<TxLocation, StorageError> {
    let mut r = Reader::new(Table::TxIds, key, value);
    let loc = TxLocation {
        tx_index: r.u64()?,
        height: r.u64()?,
        index_in_block: r.u64()?,
    };
    r.finish()?;
    Ok(loc)
}

pub(crate) fn encode_tx_blob(hash: &Hash, blob: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + blob.len());
    v.extend_from_slice(hash);
    v.extend_from_slice(blob);
    v
}

pub(crate) fn decode_tx_blob(key: &[u8], value: &[u8]) -> Result<TxBlob, StorageError> {
    let mut r = Reader::new(Table::TxBlobs, key, value);
    let hash = r.array()?;
    Ok(TxBlob {
        hash,
        blob: r.rest().to_vec(),
    })
}

/// Only the hash of a `tx_blobs` record.
pub(crate) fn decode_tx_blob_hash(key: &[u8], value: &[u8]) -> Result<Hash, StorageError> {
    Reader::new(Table::TxBlobs, key, value).array()
}

pub(crate) fn encode_u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(crate) fn decode_u64s(
    table: Table,
    key: &[u8],
    value: &[u8],
) -> Result<Vec<u64>, StorageError> {
    let r = Reader::new(table, key, value);
    let chunks = value.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return Err(r.corrupt("length is not a multiple of 8"));
    }
    Ok(chunks
        .map(|c| {
            let mut b = [0; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect())
}

const FLAG_COINBASE: u8 = 1;

/// Encodes an output; the commitment is written only for RingCT outputs.
pub(crate) fn encode_output(out: &OutputInfo) -> Vec<u8> {
    let mut v = Vec::with_capacity(89);
    v.extend_from_slice(&out.key);
    if let Some(c) = &out.commitment {
        v.extend_from_slice(c);
    }
    v.extend_from_slice(&out.unlock_time.to_le_bytes());
    v.extend_from_slice(&out.height.to_le_bytes());
    v.extend_from_slice(&out.tx_index.to_le_bytes());
    v.push(if out.is_coinbase { FLAG_COINBASE } else { 0 });
    v
}

/// Decodes an output of `table` ([`Table::RctOutputs`] records carry a commitment).
pub(crate) fn decode_output(
    table: Table,
    key: &[u8],
    value: &[u8],
) -> Result<OutputInfo, StorageError> {
    let mut r = Reader::new(table, key, value);
    let key_point = r.array()?;
    let commitment = if table == Table::RctOutputs {
        Some(r.array()?)
    } else {
        None
    };
    let unlock_time = r.u64()?;
    let height = r.u64()?;
    let tx_index = r.u64()?;
    let flags = r.u8()?;
    if flags & !FLAG_COINBASE != 0 {
        return Err(r.corrupt("unknown output flags"));
    }
    r.finish()?;
    Ok(OutputInfo {
        key: key_point,
        commitment,
        unlock_time,
        height,
        tx_index,
        is_coinbase: flags & FLAG_COINBASE != 0,
    })
}

/// An alternative block record:
/// height u64, chain id 32, parent hash 32, timestamp u64, major u8, minor u8, weight u64,
/// long-term weight u64, cumulative difficulty u128, generated coins u64, cumulative
/// generated coins u64, blob (u32 length + bytes), tx count u32, then per tx: hash 32, blob
/// (u32 length + bytes). The block's hash is the key.
pub(crate) fn encode_alt_block(b: &AltBlock) -> Result<Vec<u8>, StorageError> {
    let too_large = || StorageError::InconsistentBlock {
        hash: crate::HexHash(b.hash),
        height: b.height,
        what: "alternative block or transaction blob too large".into(),
    };
    let len32 = |n: usize, max: usize| {
        if n > max {
            Err(too_large())
        } else {
            u32::try_from(n).map_err(|_| too_large())
        }
    };
    let size = 128 + b.blob.len() + b.txs.iter().map(|t| 36 + t.blob.len()).sum::<usize>();
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(&b.height.to_le_bytes());
    v.extend_from_slice(&b.chain_id);
    v.extend_from_slice(&b.prev);
    v.extend_from_slice(&b.timestamp.to_le_bytes());
    v.push(b.major_version);
    v.push(b.minor_version);
    v.extend_from_slice(&b.weight.to_le_bytes());
    v.extend_from_slice(&b.long_term_weight.to_le_bytes());
    v.extend_from_slice(&b.cumulative_difficulty.to_le_bytes());
    v.extend_from_slice(&b.generated_coins.to_le_bytes());
    v.extend_from_slice(&b.cumulative_generated_coins.to_le_bytes());
    v.extend_from_slice(&len32(b.blob.len(), MAX_BLOB)?.to_le_bytes());
    v.extend_from_slice(&b.blob);
    v.extend_from_slice(&len32(b.txs.len(), MAX_ALT_TXS)?.to_le_bytes());
    for tx in &b.txs {
        v.extend_from_slice(&tx.hash);
        v.extend_from_slice(&len32(tx.blob.len(), MAX_BLOB)?.to_le_bytes());
        v.extend_from_slice(&tx.blob);
    }
    Ok(v)
}

pub(crate) fn decode_alt_block(key: &[u8], value: &[u8]) -> Result<AltBlock, StorageError> {
    let hash = decode_hash(Table::AltBlocks, key, key)?;
    let mut r = Reader::new(Table::AltBlocks, key, value);
    let height = r.u64()?;
    let chain_id = r.array()?;
    let prev = r.array()?;
    let timestamp = r.u64()?;
    let major_version = r.u8()?;
    let minor_version = r.u8()?;
    let weight = r.u64()?;
    let long_term_weight = r.u64()?;
    let cumulative_difficulty = r.u128()?;
    let generated_coins = r.u64()?;
    let cumulative_generated_coins = r.u64()?;
    let blob = r.blob(MAX_BLOB)?.to_vec();
    let count = usize::try_from(r.u32()?).map_err(|_| r.corrupt("count too large"))?;
    if count > MAX_ALT_TXS {
        return Err(r.corrupt("transaction count over the limit"));
    }
    // Each transaction takes at least 36 bytes: no allocation beyond what the record holds.
    let mut txs = Vec::with_capacity(count.min(value.len() / 36));
    for _ in 0..count {
        let hash = r.array()?;
        let blob = r.blob(MAX_BLOB)?.to_vec();
        txs.push(TxBlob { hash, blob });
    }
    r.finish()?;
    Ok(AltBlock {
        hash,
        height,
        chain_id,
        prev,
        timestamp,
        major_version,
        minor_version,
        blob,
        txs,
        weight,
        long_term_weight,
        cumulative_difficulty,
        generated_coins,
        cumulative_generated_coins,
    })
}

/// Runs every record decoder on `data` (as key and as value) and checks that whatever
/// decodes re-encodes to the same bytes. For fuzzing: it must return normally for every
/// input.
#[doc(hidden)]
pub fn fuzz_records(data: &[u8]) {
    let (key, value) = data.split_at(
        data.len()
            .min(data.first().map_or(0, |b| usize::from(*b % 65))),
    );
    if let Ok(info) = decode_block_info(key, value) {
        assert_eq!(encode_block_info(&info), value, "block info re-encodes");
    }
    if let Ok(loc) = decode_tx_location(key, value) {
        assert_eq!(encode_tx_location(&loc), value, "tx location re-encodes");
    }
    if let Ok(tx) = decode_tx_blob(key, value) {
        assert_eq!(
            encode_tx_blob(&tx.hash, &tx.blob),
            value,
            "tx blob re-encodes"
        );
    }
    if let Ok(list) = decode_u64s(Table::TxOutputs, key, value) {
        assert_eq!(encode_u64s(&list), value, "output indices re-encode");
    }
    for table in [Table::RctOutputs, Table::PreRctOutputs] {
        if let Ok(out) = decode_output(table, key, value) {
            assert_eq!(encode_output(&out), value, "output re-encodes");
        }
    }
    if let Ok(alt) = decode_alt_block(key, value) {
        let again = encode_alt_block(&alt);
        assert!(
            matches!(again.as_deref(), Ok(bytes) if bytes == value),
            "alt block re-encodes"
        );
    }
    let _ = decode_u64_key(Table::BlockInfo, key);
    let _ = decode_u64_value(Table::AmountCounts, key, value);
    let _ = decode_hash(Table::TxIds, key, value);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    fn hash() -> impl Strategy<Value = Hash> {
        any::<[u8; 32]>()
    }

    prop_compose! {
        fn block_info()(height in any::<u64>(), hash in hash(), timestamp in any::<u64>(),
            cumulative_difficulty in any::<u128>(), weight in any::<u64>(), long_term_weight in any::<u64>(),
            generated_coins in any::<u64>(), cumulative_generated_coins in any::<u64>(),
            major_version in any::<u8>(), minor_version in any::<u8>(), cumulative_rct_outputs in any::<u64>(),
            blob_size in any::<u64>(), first_tx_index in any::<u64>(), tx_count in any::<u64>()) -> BlockInfo {
            BlockInfo { height, hash, timestamp, cumulative_difficulty, weight, long_term_weight, generated_coins,
                cumulative_generated_coins, major_version, minor_version, cumulative_rct_outputs, blob_size,
                first_tx_index, tx_count }
        }
    }

    prop_compose! {
        fn output(rct: bool)(key in hash(), commitment in hash(), unlock_time in any::<u64>(), height in any::<u64>(),
            tx_index in any::<u64>(), is_coinbase in any::<bool>()) -> OutputInfo {
            OutputInfo { key, commitment: rct.then_some(commitment), unlock_time, height, tx_index, is_coinbase }
        }
    }

    prop_compose! {
        fn alt_block()(hash in hash(), height in any::<u64>(), chain_id in hash(), prev in hash(),
            timestamp in any::<u64>(), major_version in any::<u8>(), minor_version in any::<u8>(),
            blob in prop::collection::vec(any::<u8>(), 0..300),
            txs in prop::collection::vec((hash(), prop::collection::vec(any::<u8>(), 0..100)), 0..5),
            weight in any::<u64>(), long_term_weight in any::<u64>(), cumulative_difficulty in any::<u128>(),
            generated_coins in any::<u64>(), cumulative_generated_coins in any::<u64>()) -> AltBlock {
            AltBlock { hash, height, chain_id, prev, timestamp, major_version, minor_version, blob,
                txs: txs.into_iter().map(|(hash, blob)| TxBlob { hash, blob }).collect(),
                weight, long_term_weight, cumulative_difficulty, generated_coins, cumulative_generated_coins }
        }
    }

    proptest! {
        #[test]
        fn records_round_trip(info in block_info(), rct in output(true), pre in output(false), alt in alt_block(),
            loc in (any::<u64>(), any::<u64>(), any::<u64>()), list in prop::collection::vec(any::<u64>(), 0..40)) {
            let key = u64_key(info.height);
            let bytes = encode_block_info(&info);
            prop_assert_eq!(bytes.len(), BLOCK_INFO_LEN);
            prop_assert_eq!(decode_block_info(&key, &bytes).unwrap(), info);
            prop_assert_eq!(decode_output(Table::RctOutputs, &[], &encode_output(&rct)).unwrap(), rct);
            prop_assert_eq!(decode_output(Table::PreRctOutputs, &[], &encode_output(&pre)).unwrap(), pre);
            let encoded = encode_alt_block(&alt).unwrap();
            prop_assert_eq!(decode_alt_block(&alt.hash, &encoded).unwrap(), alt);
            let loc = TxLocation { tx_index: loc.0, height: loc.1, index_in_block: loc.2 };
            prop_assert_eq!(decode_tx_location(&[], &encode_tx_location(&loc)).unwrap(), loc);
            prop_assert_eq!(decode_u64s(Table::TxOutputs, &[], &encode_u64s(&list)).unwrap(), list);
        }

        #[test]
        fn decoders_never_panic_and_what_decodes_re_encodes(data in prop::collection::vec(any::<u8>(), 0..600)) {
            fuzz_records(&data);
        }

        #[test]
        fn cut_records_are_errors(info in block_info(), alt in alt_block(), cut in 0usize..1000) {
            let bytes = encode_block_info(&info);
            let cut_at = cut % bytes.len();
            prop_assert!(decode_block_info(&u64_key(1), &bytes[..cut_at]).is_err());
            let bytes = encode_alt_block(&alt).unwrap();
            let cut_at = cut % bytes.len();
            prop_assert!(decode_alt_block(&alt.hash, &bytes[..cut_at]).is_err());
        }
    }

    #[test]
    fn keys_sort_numerically() {
        assert!(u64_key(255) < u64_key(256));
        assert!(amount_index_key(1, u64::MAX) < amount_index_key(2, 0));
    }
}
