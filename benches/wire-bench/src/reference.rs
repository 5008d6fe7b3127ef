//! The reference decoder: the same messages walked with [`monero_epee`] into typed structs.
//!
//! `monero-epee` has no typed decoding: it is a streaming reader that hands out one field
//! at a time. To compare like with like, each message is walked here into a struct that
//! holds the same information our typed decode produces, with the least overhead the
//! reader allows:
//!
//! - blobs are `&[u8]` slices of the input (zero-copy, as our `Bytes` are), fixed-size
//!   blobs are `&[u8; N]`, and hash lists are `&[[u8; 32]]` (as our `ByteArrayVec`);
//! - integers are read with the exact typed accessor (`to_u64`, …);
//! - arrays become `Vec`s, reserved up front from the length the reader announces;
//! - text (Tor/I2P host names) is checked as UTF-8 but borrowed, not copied;
//! - like ours, required fields must be present, duplicates are refused, absent optional
//!   fields take monerod's defaults and unknown fields are skipped.

use std::{
    fmt,
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6},
};

use monero_epee::{Epee, EpeeEntry, EpeeError, Type};

/// An entry of an epee document held in a byte slice.
type Entry<'a, 'p> = EpeeEntry<'a, 'p, &'a [u8]>;

/// At most this many elements are reserved up front for one array (monero-epee does not
/// check a declared length against the input, so the reservation is capped).
const MAX_PREALLOC: usize = 1 << 16;

/// Why the reference decoder refused an input.
#[derive(Debug, Clone, Copy)]
pub enum Error {
    /// `monero-epee` refused the bytes.
    Epee(EpeeError),
    /// A required field is absent.
    Missing(&'static str),
    /// A field appears twice.
    Duplicate(&'static str),
    /// A value has the right type but is not acceptable.
    Invalid(&'static str),
}

impl From<EpeeError> for Error {
    fn from(error: EpeeError) -> Self {
        Self::Epee(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Epee(error) => write!(f, "monero-epee: {error:?}"),
            Self::Missing(field) => write!(f, "missing field {field}"),
            Self::Duplicate(field) => write!(f, "duplicate field {field}"),
            Self::Invalid(what) => write!(f, "invalid {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// The reference decoder's result.
pub type Result<T> = std::result::Result<T, Error>;

/// `basic_node_data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData<'a> {
    /// `network_id`.
    pub network_id: &'a [u8; 16],
    /// `my_port`.
    pub my_port: u32,
    /// `rpc_port` (0 when absent).
    pub rpc_port: u16,
    /// `rpc_credits_per_hash` (0 when absent).
    pub rpc_credits_per_hash: u32,
    /// `peer_id`.
    pub peer_id: u64,
    /// `support_flags` (0 when absent).
    pub support_flags: u32,
}

/// `CORE_SYNC_DATA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreSyncData<'a> {
    /// `current_height`.
    pub current_height: u64,
    /// `cumulative_difficulty`.
    pub cumulative_difficulty: u64,
    /// `cumulative_difficulty_top64` (0 when absent).
    pub cumulative_difficulty_top64: u64,
    /// `top_id`.
    pub top_id: &'a [u8; 32],
    /// `top_version` (0 when absent).
    pub top_version: u8,
    /// `pruning_seed` (0 when absent).
    pub pruning_seed: u32,
}

/// A peer's network address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address<'a> {
    /// IPv4.
    Ipv4(SocketAddrV4),
    /// IPv6.
    Ipv6(SocketAddrV6),
    /// Tor onion service.
    Tor {
        /// Host name.
        host: &'a str,
        /// Port.
        port: u16,
    },
    /// I2P destination.
    I2p {
        /// Host name.
        host: &'a str,
        /// Port.
        port: u16,
    },
}

/// `peerlist_entry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerListEntry<'a> {
    /// `adr`.
    pub adr: Address<'a>,
    /// `id`.
    pub id: u64,
    /// `last_seen` (0 when absent).
    pub last_seen: i64,
    /// `pruning_seed` (0 when absent).
    pub pruning_seed: u32,
    /// `rpc_port` (0 when absent).
    pub rpc_port: u16,
    /// `rpc_credits_per_hash` (0 when absent).
    pub rpc_credits_per_hash: u32,
}

/// `COMMAND_HANDSHAKE` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest<'a> {
    /// `node_data`.
    pub node_data: NodeData<'a>,
    /// `payload_data`.
    pub payload_data: CoreSyncData<'a>,
}

/// `COMMAND_HANDSHAKE` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse<'a> {
    /// `node_data`.
    pub node_data: NodeData<'a>,
    /// `payload_data`.
    pub payload_data: CoreSyncData<'a>,
    /// `local_peerlist_new` (empty when absent).
    pub local_peerlist_new: Vec<PeerListEntry<'a>>,
}

/// `NOTIFY_RESPONSE_CHAIN_ENTRY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainResponse<'a> {
    /// `start_height`.
    pub start_height: u64,
    /// `total_height`.
    pub total_height: u64,
    /// `cumulative_difficulty`.
    pub cumulative_difficulty: u64,
    /// `cumulative_difficulty_top64` (0 when absent).
    pub cumulative_difficulty_top64: u64,
    /// `m_block_ids`, in place.
    pub m_block_ids: &'a [[u8; 32]],
    /// `m_block_weights`: their blob, checked to hold whole `u64`s and kept in place, as
    /// Umbra's `ContainerAsBlob` keeps it.
    pub m_block_weights: &'a [u8],
    /// `first_block` (empty when absent).
    pub first_block: &'a [u8],
}

/// `tx_blob_entry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxBlobEntry<'a> {
    /// `blob`.
    pub blob: &'a [u8],
    /// `prunable_hash`.
    pub prunable_hash: &'a [u8; 32],
}

/// The `txs` of a block entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionBlobs<'a> {
    /// Full transaction blobs.
    Normal(Vec<&'a [u8]>),
    /// Pruned transactions.
    Pruned(Vec<TxBlobEntry<'a>>),
}

/// `block_complete_entry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCompleteEntry<'a> {
    /// `pruned` (false when absent).
    pub pruned: bool,
    /// `block`.
    pub block: &'a [u8],
    /// `block_weight` (0 when absent).
    pub block_weight: u64,
    /// `txs`.
    pub txs: TransactionBlobs<'a>,
}

/// `NOTIFY_RESPONSE_GET_OBJECTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetObjectsResponse<'a> {
    /// `blocks` (empty when absent).
    pub blocks: Vec<BlockCompleteEntry<'a>>,
    /// `missed_ids`, in place (empty when absent).
    pub missed_ids: &'a [[u8; 32]],
    /// `current_blockchain_height`.
    pub current_blockchain_height: u64,
}

/// Decodes a `COMMAND_HANDSHAKE` request body.
///
/// # Errors
/// Any [`Error`].
pub fn handshake_request(body: &[u8]) -> Result<HandshakeRequest<'_>> {
    let mut epee = Epee::new(body)?;
    let (mut node_data, mut payload_data) = (None, None);
    fields(epee.entry()?, |key, value| match key {
        b"node_data" => set(&mut node_data, read_node_data(value)?, "node_data"),
        b"payload_data" => set(&mut payload_data, read_core_sync(value)?, "payload_data"),
        _ => Ok(()),
    })?;
    Ok(HandshakeRequest {
        node_data: node_data.ok_or(Error::Missing("node_data"))?,
        payload_data: payload_data.ok_or(Error::Missing("payload_data"))?,
    })
}

/// Decodes a `COMMAND_HANDSHAKE` response body.
///
/// # Errors
/// Any [`Error`].
pub fn handshake_response(body: &[u8]) -> Result<HandshakeResponse<'_>> {
    let mut epee = Epee::new(body)?;
    let (mut node_data, mut payload_data, mut peers) = (None, None, None);
    fields(epee.entry()?, |key, value| match key {
        b"node_data" => set(&mut node_data, read_node_data(value)?, "node_data"),
        b"payload_data" => set(&mut payload_data, read_core_sync(value)?, "payload_data"),
        b"local_peerlist_new" => set(&mut peers, array(value, read_peer)?, "local_peerlist_new"),
        _ => Ok(()),
    })?;
    Ok(HandshakeResponse {
        node_data: node_data.ok_or(Error::Missing("node_data"))?,
        payload_data: payload_data.ok_or(Error::Missing("payload_data"))?,
        local_peerlist_new: peers.unwrap_or_default(),
    })
}

/// Decodes a `NOTIFY_RESPONSE_CHAIN_ENTRY` body.
///
/// # Errors
/// Any [`Error`].
pub fn chain_response(body: &[u8]) -> Result<ChainResponse<'_>> {
    let mut epee = Epee::new(body)?;
    let (mut start, mut total, mut low, mut top64) = (None, None, None, None);
    let (mut ids, mut weights, mut first_block) = (None, None, None);
    fields(epee.entry()?, |key, value| match key {
        b"start_height" => set(&mut start, value.to_u64()?, "start_height"),
        b"total_height" => set(&mut total, value.to_u64()?, "total_height"),
        b"cumulative_difficulty" => set(&mut low, value.to_u64()?, "cumulative_difficulty"),
        b"cumulative_difficulty_top64" => {
            set(&mut top64, value.to_u64()?, "cumulative_difficulty_top64")
        }
        b"m_block_ids" => set(&mut ids, hashes(value)?, "m_block_ids"),
        b"m_block_weights" => set(&mut weights, u64s(value)?, "m_block_weights"),
        b"first_block" => set(&mut first_block, blob(value)?, "first_block"),
        _ => Ok(()),
    })?;
    Ok(ChainResponse {
        start_height: start.ok_or(Error::Missing("start_height"))?,
        total_height: total.ok_or(Error::Missing("total_height"))?,
        cumulative_difficulty: low.ok_or(Error::Missing("cumulative_difficulty"))?,
        cumulative_difficulty_top64: top64.unwrap_or(0),
        m_block_ids: ids.unwrap_or_default(),
        m_block_weights: weights.unwrap_or_default(),
        first_block: first_block.unwrap_or_default(),
    })
}

/// Decodes a `NOTIFY_RESPONSE_GET_OBJECTS` body.
///
/// # Errors
/// Any [`Error`].
pub fn get_objects_response(body: &[u8]) -> Result<GetObjectsResponse<'_>> {
    let mut epee = Epee::new(body)?;
    let (mut blocks, mut missed, mut height) = (None, None, None);
    fields(epee.entry()?, |key, value| match key {
        b"blocks" => set(&mut blocks, array(value, read_block_entry)?, "blocks"),
        b"missed_ids" => set(&mut missed, hashes(value)?, "missed_ids"),
        b"current_blockchain_height" => {
            set(&mut height, value.to_u64()?, "current_blockchain_height")
        }
        _ => Ok(()),
    })?;
    Ok(GetObjectsResponse {
        blocks: blocks.unwrap_or_default(),
        missed_ids: missed.unwrap_or_default(),
        current_blockchain_height: height.ok_or(Error::Missing("current_blockchain_height"))?,
    })
}

/// Calls `each` with the name and value of every field of the object `entry`; a value that
/// `each` does not consume is skipped when it is dropped.
#[inline]
fn fields<'a>(
    entry: Entry<'a, '_>,
    mut each: impl FnMut(&'a [u8], Entry<'a, '_>) -> Result<()>,
) -> Result<()> {
    let mut iter = entry.fields()?;
    while let Some(field) = iter.next() {
        let (key, value) = field?;
        each(key.consume(), value)?;
    }
    Ok(())
}

/// Reads every element of the array `entry` with `each`.
#[inline]
fn array<'a, T>(
    entry: Entry<'a, '_>,
    mut each: impl FnMut(Entry<'a, '_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut items = Vec::with_capacity(entry.len().min(MAX_PREALLOC));
    let mut iter = entry.iterate()?;
    while let Some(item) = iter.next() {
        items.push(each(item?)?);
    }
    Ok(items)
}

/// Fills a field slot, refusing a second value.
#[inline]
fn set<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<()> {
    if slot.is_some() {
        return Err(Error::Duplicate(name));
    }
    *slot = Some(value);
    Ok(())
}

/// A string value, borrowed.
#[inline]
fn blob<'a>(entry: Entry<'a, '_>) -> Result<&'a [u8]> {
    Ok(entry.to_str()?.consume())
}

/// A string of exactly `N` bytes, borrowed.
#[inline]
fn fixed<'a, const N: usize>(entry: Entry<'a, '_>) -> Result<&'a [u8; N]> {
    <&[u8; N]>::try_from(blob(entry)?).map_err(|_| Error::Invalid("fixed-size blob length"))
}

/// A blob of 32-byte hashes, borrowed in place.
#[inline]
fn hashes<'a>(entry: Entry<'a, '_>) -> Result<&'a [[u8; 32]]> {
    match blob(entry)?.as_chunks::<32>() {
        (hashes, []) => Ok(hashes),
        _ => Err(Error::Invalid("hash list length")),
    }
}

/// A blob of little-endian `u64`s, decoded.
#[inline]
fn u64s<'a>(entry: Entry<'a, '_>) -> Result<&'a [u8]> {
    let blob = blob(entry)?;
    if blob.len().is_multiple_of(8) {
        Ok(blob)
    } else {
        Err(Error::Invalid("u64 blob length"))
    }
}

fn read_node_data<'a>(entry: Entry<'a, '_>) -> Result<NodeData<'a>> {
    let (mut network_id, mut my_port, mut rpc_port) = (None, None, None);
    let (mut credits, mut peer_id, mut flags) = (None, None, None);
    fields(entry, |key, value| match key {
        b"network_id" => set(&mut network_id, fixed::<16>(value)?, "network_id"),
        b"my_port" => set(&mut my_port, value.to_u32()?, "my_port"),
        b"rpc_port" => set(&mut rpc_port, value.to_u16()?, "rpc_port"),
        b"rpc_credits_per_hash" => set(&mut credits, value.to_u32()?, "rpc_credits_per_hash"),
        b"peer_id" => set(&mut peer_id, value.to_u64()?, "peer_id"),
        b"support_flags" => set(&mut flags, value.to_u32()?, "support_flags"),
        _ => Ok(()),
    })?;
    Ok(NodeData {
        network_id: network_id.ok_or(Error::Missing("network_id"))?,
        my_port: my_port.ok_or(Error::Missing("my_port"))?,
        rpc_port: rpc_port.unwrap_or(0),
        rpc_credits_per_hash: credits.unwrap_or(0),
        peer_id: peer_id.ok_or(Error::Missing("peer_id"))?,
        support_flags: flags.unwrap_or(0),
    })
}

fn read_core_sync<'a>(entry: Entry<'a, '_>) -> Result<CoreSyncData<'a>> {
    let (mut height, mut low, mut top64) = (None, None, None);
    let (mut top_id, mut top_version, mut seed) = (None, None, None);
    fields(entry, |key, value| match key {
        b"current_height" => set(&mut height, value.to_u64()?, "current_height"),
        b"cumulative_difficulty" => set(&mut low, value.to_u64()?, "cumulative_difficulty"),
        b"cumulative_difficulty_top64" => {
            set(&mut top64, value.to_u64()?, "cumulative_difficulty_top64")
        }
        b"top_id" => set(&mut top_id, fixed::<32>(value)?, "top_id"),
        b"top_version" => set(&mut top_version, value.to_u8()?, "top_version"),
        b"pruning_seed" => set(&mut seed, value.to_u32()?, "pruning_seed"),
        _ => Ok(()),
    })?;
    Ok(CoreSyncData {
        current_height: height.ok_or(Error::Missing("current_height"))?,
        cumulative_difficulty: low.ok_or(Error::Missing("cumulative_difficulty"))?,
        cumulative_difficulty_top64: top64.unwrap_or(0),
        top_id: top_id.ok_or(Error::Missing("top_id"))?,
        top_version: top_version.unwrap_or(0),
        pruning_seed: seed.unwrap_or(0),
    })
}

fn read_peer<'a>(entry: Entry<'a, '_>) -> Result<PeerListEntry<'a>> {
    let (mut adr, mut id, mut last_seen) = (None, None, None);
    let (mut seed, mut rpc_port, mut credits) = (None, None, None);
    fields(entry, |key, value| match key {
        b"adr" => set(&mut adr, read_address(value)?, "adr"),
        b"id" => set(&mut id, value.to_u64()?, "id"),
        b"last_seen" => set(&mut last_seen, value.to_i64()?, "last_seen"),
        b"pruning_seed" => set(&mut seed, value.to_u32()?, "pruning_seed"),
        b"rpc_port" => set(&mut rpc_port, value.to_u16()?, "rpc_port"),
        b"rpc_credits_per_hash" => set(&mut credits, value.to_u32()?, "rpc_credits_per_hash"),
        _ => Ok(()),
    })?;
    Ok(PeerListEntry {
        adr: adr.ok_or(Error::Missing("adr"))?,
        id: id.ok_or(Error::Missing("id"))?,
        last_seen: last_seen.unwrap_or(0),
        pruning_seed: seed.unwrap_or(0),
        rpc_port: rpc_port.unwrap_or(0),
        rpc_credits_per_hash: credits.unwrap_or(0),
    })
}

fn read_address<'a>(entry: Entry<'a, '_>) -> Result<Address<'a>> {
    let (mut kind, mut seen_addr) = (None, false);
    let (mut m_ip, mut m_port, mut ipv6) = (None, None, None);
    let (mut host, mut port) = (None, None);
    fields(entry, |key, value| match key {
        b"type" => set(&mut kind, value.to_u8()?, "type"),
        b"addr" => {
            if std::mem::replace(&mut seen_addr, true) {
                return Err(Error::Duplicate("addr"));
            }
            fields(value, |key, value| match key {
                b"m_ip" => set(&mut m_ip, value.to_u32()?, "m_ip"),
                b"m_port" => set(&mut m_port, value.to_u16()?, "m_port"),
                b"addr" => set(&mut ipv6, fixed::<16>(value)?, "addr"),
                b"host" => {
                    let text = std::str::from_utf8(blob(value)?)
                        .map_err(|_| Error::Invalid("host name (not UTF-8)"))?;
                    set(&mut host, text, "host")
                }
                b"port" => set(&mut port, value.to_u16()?, "port"),
                _ => Ok(()),
            })
        }
        _ => Ok(()),
    })?;
    if !seen_addr {
        return Err(Error::Missing("addr"));
    }
    Ok(match kind.ok_or(Error::Missing("type"))? {
        1 => Address::Ipv4(SocketAddrV4::new(
            Ipv4Addr::from(m_ip.ok_or(Error::Missing("m_ip"))?.to_le_bytes()),
            m_port.ok_or(Error::Missing("m_port"))?,
        )),
        2 => Address::Ipv6(SocketAddrV6::new(
            Ipv6Addr::from(*ipv6.ok_or(Error::Missing("addr"))?),
            m_port.ok_or(Error::Missing("m_port"))?,
            0,
            0,
        )),
        kind @ (3 | 4) => {
            let host = host.ok_or(Error::Missing("host"))?;
            if host.is_empty() || host.len() > umbra_wire::MAX_HOST_LEN {
                return Err(Error::Invalid("host name length"));
            }
            let port = port.ok_or(Error::Missing("port"))?;
            if kind == 4 {
                Address::Tor { host, port }
            } else {
                Address::I2p { host, port }
            }
        }
        _ => return Err(Error::Invalid("address type")),
    })
}

fn read_block_entry<'a>(entry: Entry<'a, '_>) -> Result<BlockCompleteEntry<'a>> {
    let (mut pruned, mut block, mut weight, mut txs) = (None, None, None, None);
    fields(entry, |key, value| match key {
        b"pruned" => set(&mut pruned, value.to_bool()?, "pruned"),
        b"block" => set(&mut block, blob(value)?, "block"),
        b"block_weight" => set(&mut weight, value.to_u64()?, "block_weight"),
        b"txs" => {
            // An array of strings is a normal entry, an array of objects a pruned one.
            let value = if value.kind() == Type::Object {
                TransactionBlobs::Pruned(array(value, read_tx_blob_entry)?)
            } else {
                TransactionBlobs::Normal(array(value, blob)?)
            };
            set(&mut txs, value, "txs")
        }
        _ => Ok(()),
    })?;
    let pruned = pruned.unwrap_or(false);
    let txs = match txs {
        Some(txs) => txs,
        None if pruned => TransactionBlobs::Pruned(Vec::new()),
        None => TransactionBlobs::Normal(Vec::new()),
    };
    let disagree = match &txs {
        TransactionBlobs::Normal(txs) => pruned && !txs.is_empty(),
        TransactionBlobs::Pruned(txs) => !pruned && !txs.is_empty(),
    };
    if disagree {
        return Err(Error::Invalid("txs that disagree with pruned"));
    }
    Ok(BlockCompleteEntry {
        pruned,
        block: block.ok_or(Error::Missing("block"))?,
        block_weight: weight.unwrap_or(0),
        txs,
    })
}

fn read_tx_blob_entry<'a>(entry: Entry<'a, '_>) -> Result<TxBlobEntry<'a>> {
    let (mut blob_slot, mut hash) = (None, None);
    fields(entry, |key, value| match key {
        b"blob" => set(&mut blob_slot, blob(value)?, "blob"),
        b"prunable_hash" => set(&mut hash, fixed::<32>(value)?, "prunable_hash"),
        _ => Ok(()),
    })?;
    Ok(TxBlobEntry {
        blob: blob_slot.ok_or(Error::Missing("blob"))?,
        prunable_hash: hash.ok_or(Error::Missing("prunable_hash"))?,
    })
}
