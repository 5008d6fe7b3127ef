//! The messages the benchmarks decode and encode, as epee bodies (levin header removed).
//!
//! Everything is read from `data/` in this crate:
//!
//! - `data/monerod/*.bin`: levin frames captured from a real monerod 0.18 (copies of the
//!   vectors in `crates/wire/tests/data/monerod`);
//! - `data/mainnet/`: real Monero mainnet blocks and transactions (consensus-serialised
//!   blobs named by their hash) and `blocks.json`, which lists them and the transactions of
//!   each block.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use umbra_epee::{ByteArrayVec, ContainerAsBlob, EpeeObject};
use umbra_levin::{HEADER_SIZE, Header};
use umbra_wire::{BlockCompleteEntry, ChainResponse, GetObjectsResponse, TransactionBlobs};

/// What can go wrong loading test data.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Block ids (and weights) in the chain-entry response.
pub const CHAIN_IDS: usize = 10_000;

/// Block entries in the get-objects responses.
pub const OBJECTS_BLOCKS: usize = 100;

/// The directory holding the test data.
#[must_use]
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn read(relative: &str) -> Result<Bytes, Error> {
    let path = data_dir().join(relative);
    std::fs::read(&path)
        .map(Bytes::from)
        .map_err(|e| format!("{}: {e}", path.display()).into())
}

/// The epee body of a single captured levin frame, checked against its header.
///
/// # Errors
/// If the frame is shorter than a header, the header is invalid, or the body is not
/// exactly the size the header announces.
pub fn levin_body(frame: &Bytes) -> Result<Bytes, Error> {
    let head = frame
        .first_chunk::<HEADER_SIZE>()
        .ok_or("frame shorter than a levin header")?;
    let header = Header::decode(head)?;
    let body_len = frame.len() - HEADER_SIZE;
    if u64::try_from(body_len)? != header.size {
        return Err(format!(
            "levin header announces {} body bytes, the frame has {body_len}",
            header.size
        )
        .into());
    }
    Ok(frame.slice(HEADER_SIZE..))
}

fn captured(name: &str) -> Result<Bytes, Error> {
    levin_body(&read(&format!("monerod/{name}.bin"))?)
}

/// Encodes a message with our encoder into a standalone body.
///
/// # Errors
/// If the encoder refuses the value.
pub fn encode<'de, T: EpeeObject<'de>>(message: &T) -> Result<Bytes, Error> {
    let mut body = BytesMut::new();
    umbra_epee::to_writer(message, &mut body)?;
    Ok(body.freeze())
}

/// The `COMMAND_HANDSHAKE` request monerod sent us (epee body).
///
/// # Errors
/// If the data file is missing or malformed.
pub fn handshake_request() -> Result<Bytes, Error> {
    captured("handshake_request")
}

/// The `COMMAND_HANDSHAKE` response monerod sent us (epee body).
///
/// # Errors
/// If the data file is missing or malformed.
pub fn handshake_response() -> Result<Bytes, Error> {
    captured("handshake_response")
}

/// The `NOTIFY_RESPONSE_GET_OBJECTS` with 100 small regtest blocks monerod sent us
/// (epee body).
///
/// # Errors
/// If the data file is missing or malformed.
pub fn get_objects_regtest() -> Result<Bytes, Error> {
    captured("get_objects_response_100")
}

/// A deterministic pseudo-random generator (SplitMix64), so every run benchmarks the same
/// bytes.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 pseudo-random bits.
    pub const fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 32 pseudo-random bytes.
    pub fn next_hash(&mut self) -> [u8; 32] {
        let mut hash = [0u8; 32];
        for chunk in hash.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        hash
    }
}

/// The mainnet blocks in `blocks.json` order, each with the blobs of those of its
/// transactions that are in `data/mainnet/tx`.
///
/// # Errors
/// If `blocks.json` or a block file is missing or malformed.
pub fn mainnet_blocks() -> Result<Vec<(Bytes, Vec<Bytes>)>, Error> {
    let list: serde_json::Value = serde_json::from_slice(&read("mainnet/blocks.json")?)?;
    let blocks = list
        .get("blocks")
        .and_then(serde_json::Value::as_array)
        .ok_or("blocks.json has no `blocks` array")?;
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        let hash = block
            .get("hash")
            .and_then(serde_json::Value::as_str)
            .ok_or("a block of blocks.json has no hash")?;
        let blob = read(&format!("mainnet/block/{hash}.bin"))?;
        let mut txs = Vec::new();
        let listed = block.get("txs").and_then(serde_json::Value::as_array);
        for tx in listed.into_iter().flatten() {
            let tx = tx
                .as_str()
                .ok_or("a tx hash of blocks.json is not a string")?;
            let path = format!("mainnet/tx/{tx}.bin");
            if data_dir().join(&path).exists() {
                txs.push(read(&path)?);
            }
        }
        out.push((blob, txs));
    }
    if out.is_empty() {
        return Err("blocks.json lists no blocks".into());
    }
    Ok(out)
}

/// A `NOTIFY_RESPONSE_GET_OBJECTS` of `count` entries cycling through the real mainnet
/// blocks, each carrying the real transaction blobs available for it.
///
/// # Errors
/// As [`mainnet_blocks`].
pub fn get_objects_mainnet(count: usize) -> Result<GetObjectsResponse, Error> {
    let blocks = mainnet_blocks()?;
    let entries = blocks
        .iter()
        .cycle()
        .take(count)
        .map(|(block, txs)| BlockCompleteEntry {
            pruned: false,
            block: block.clone(),
            block_weight: 0,
            txs: TransactionBlobs::from_blobs(txs.clone()),
        })
        .collect();
    Ok(GetObjectsResponse {
        blocks: entries,
        missed_ids: ByteArrayVec::new(),
        current_blockchain_height: 3_000_000,
    })
}

/// A `NOTIFY_RESPONSE_CHAIN_ENTRY` with `count` pseudo-random block ids and weights; its
/// `first_block` is a real mainnet block.
///
/// # Errors
/// If the mainnet block is missing.
pub fn chain_response(count: usize) -> Result<ChainResponse, Error> {
    let mut rng = SplitMix64::new(0x0075_6d62_7261);
    let ids: ByteArrayVec<32> = (0..count).map(|_| rng.next_hash()).collect();
    // Block weights as they are on mainnet: from a few hundred bytes to a few hundred KB.
    let weights: Vec<u64> = (0..count).map(|_| 300 + rng.next_u64() % 300_000).collect();
    let start_height = 3_000_000;
    let first_block =
        read("mainnet/block/43bd1f2b6556dcafa413d8372974af59e4e8f37dbf74dc6b2a9b7212d0577428.bin")?;
    Ok(ChainResponse {
        start_height,
        total_height: start_height + u64::try_from(count)?,
        cumulative_difficulty: 0x0540_8e6c_2f1a_3b7d,
        cumulative_difficulty_top64: 0,
        m_block_ids: ids,
        m_block_weights: ContainerAsBlob::from(weights),
        first_block,
    })
}
