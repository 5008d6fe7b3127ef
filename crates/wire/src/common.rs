//! Structures shared by several messages: node data, core sync data, peer-list entries and
//! block entries.

use std::fmt;

use bytes::{BufMut, Bytes};
use umbra_epee::{
    Blob, EpeeObject, EpeeValue, ErrorKind, InputBlob, Limits, Marker, Reader, Result, TypeCode,
    read_object_value, varint::write_varint, write_field, write_field_count,
};

use crate::NetworkAddress;

/// The 16-byte network ids (`NETWORK_ID` in monerod's `cryptonote_config.h`).
pub mod network_id {
    /// Mainnet, and also regtest (regtest runs with mainnet's id).
    pub const MAINNET: [u8; 16] = [
        0x12, 0x30, 0xf1, 0x71, 0x61, 0x04, 0x41, 0x61, 0x17, 0x31, 0x00, 0x82, 0x16, 0xa1, 0xa1,
        0x10,
    ];
    /// Testnet.
    pub const TESTNET: [u8; 16] = [
        0x12, 0x30, 0xf1, 0x71, 0x61, 0x04, 0x41, 0x61, 0x17, 0x31, 0x00, 0x82, 0x16, 0xa1, 0xa1,
        0x11,
    ];
    /// Stagenet.
    pub const STAGENET: [u8; 16] = [
        0x12, 0x30, 0xf1, 0x71, 0x61, 0x04, 0x41, 0x61, 0x17, 0x31, 0x00, 0x82, 0x16, 0xa1, 0xa1,
        0x12,
    ];
}

/// The hashes of the networks' genesis blocks (what `get_block_header_by_height 0` gives
/// on each network's monerod).
pub mod genesis {
    /// Mainnet, and also regtest (regtest starts from mainnet's genesis block).
    pub const MAINNET: [u8; 32] = [
        0x41, 0x80, 0x15, 0xbb, 0x9a, 0xe9, 0x82, 0xa1, 0x97, 0x5d, 0xa7, 0xd7, 0x92, 0x77, 0xc2,
        0x70, 0x57, 0x27, 0xa5, 0x68, 0x94, 0xba, 0x0f, 0xb2, 0x46, 0xad, 0xaa, 0xbb, 0x1f, 0x46,
        0x32, 0xe3,
    ];
    /// Testnet.
    pub const TESTNET: [u8; 32] = [
        0x48, 0xca, 0x7c, 0xd3, 0xc8, 0xde, 0x5b, 0x6a, 0x4d, 0x53, 0xd2, 0x86, 0x1f, 0xbd, 0xae,
        0xdc, 0xa1, 0x41, 0x55, 0x35, 0x59, 0xf9, 0xbe, 0x95, 0x20, 0x06, 0x80, 0x53, 0xcd, 0xa8,
        0x43, 0x0b,
    ];
    /// Stagenet.
    pub const STAGENET: [u8; 32] = [
        0x76, 0xee, 0x3c, 0xc9, 0x86, 0x46, 0x29, 0x22, 0x06, 0xcd, 0x3e, 0x86, 0xf7, 0x4d, 0x88,
        0xb4, 0xdc, 0xc1, 0xd9, 0x37, 0x08, 0x86, 0x45, 0xe9, 0xb0, 0xcb, 0xca, 0x84, 0xb7, 0xce,
        0x74, 0xeb,
    ];
}

/// P2P support flags (`P2P_SUPPORT_FLAG_*`).
pub mod support_flags {
    /// The peer understands fluffy (compact) blocks.
    pub const FLUFFY_BLOCKS: u32 = 0x01;
    /// Every flag monerod 0.18 sets.
    pub const ALL: u32 = FLUFFY_BLOCKS;
}

/// The Umbra transports a node accepts on its P2P port (`umbra_transports` of
/// [`BasicNodeData`] and [`PeerListEntry`]): bit flags.
pub mod umbra_transports {
    /// Umbra's encrypted Noise transport over TCP, on the same port as plain levin.
    pub const NOISE_TCP: u32 = 0x01;
    /// QUIC over UDP, on the same port number.
    pub const QUIC: u32 = 0x02;
    /// Every transport this version knows.
    pub const ALL: u32 = NOISE_TCP | QUIC;
}

/// Who a node is (`basic_node_data`).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct BasicNodeData {
    /// The network the node is on; see [`network_id`].
    pub network_id: [u8; 16],
    /// The port the node accepts P2P connections on; 0 if it accepts none.
    pub my_port: u32,
    /// The node's restricted RPC port, 0 if it does not advertise one.
    #[epee(default = 0)]
    pub rpc_port: u16,
    /// RPC payment: credits per hash, 0 if free or no RPC.
    #[epee(default = 0)]
    pub rpc_credits_per_hash: u32,
    /// A random id for this node on this network zone.
    pub peer_id: u64,
    /// [`support_flags`] the node has.
    #[epee(default = 0)]
    pub support_flags: u32,
    /// Umbra: the node's identity key (Ed25519), so that the next connection to it can be
    /// encrypted. An extra optional field: monerod ignores it (tested against monerod).
    pub umbra_key: Option<[u8; 32]>,
    /// Umbra: the transports the node accepts ([`umbra_transports`]), with `umbra_key`.
    pub umbra_transports: Option<u32>,
}

impl BasicNodeData {
    /// Node data with the fields monerod knows and no Umbra fields.
    #[must_use]
    pub const fn new(network_id: [u8; 16], my_port: u32, peer_id: u64, support_flags: u32) -> Self {
        Self {
            network_id,
            my_port,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            peer_id,
            support_flags,
            umbra_key: None,
            umbra_transports: None,
        }
    }
}

/// The state of a node's chain (`CORE_SYNC_DATA`).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct CoreSyncData {
    /// Number of blocks (height of the top block + 1).
    pub current_height: u64,
    /// Low 64 bits of the cumulative difficulty.
    pub cumulative_difficulty: u64,
    /// High 64 bits of the cumulative difficulty (monerod 0.18 always writes it; older
    /// peers may not).
    #[epee(missing = 0)]
    pub cumulative_difficulty_top64: u64,
    /// Hash of the top block.
    pub top_id: [u8; 32],
    /// Major version of the top block.
    #[epee(default = 0)]
    pub top_version: u8,
    /// The node's pruning seed, 0 if it does not prune.
    #[epee(default = 0)]
    pub pruning_seed: u32,
}

impl CoreSyncData {
    /// A chain of just the genesis block `genesis` (one of [`genesis`](mod@genesis)):
    /// height 1, cumulative difficulty 1, hard-fork version 1. What a node without blocks
    /// claims; monerod drops a peer whose `top_version` is not the version it expects at
    /// the claimed height, so the claim must be exactly this.
    #[must_use]
    pub const fn genesis(genesis: [u8; 32]) -> Self {
        Self {
            current_height: 1,
            cumulative_difficulty: 1,
            cumulative_difficulty_top64: 0,
            top_id: genesis,
            top_version: 1,
            pruning_seed: 0,
        }
    }

    /// The full 128-bit cumulative difficulty.
    #[must_use]
    pub const fn cumulative_difficulty(&self) -> u128 {
        ((self.cumulative_difficulty_top64 as u128) << 64) | self.cumulative_difficulty as u128
    }

    /// Sets both halves of the cumulative difficulty.
    pub const fn set_cumulative_difficulty(&mut self, difficulty: u128) {
        self.cumulative_difficulty = difficulty as u64;
        self.cumulative_difficulty_top64 = (difficulty >> 64) as u64;
    }
}

/// An entry of a peer list (`peerlist_entry`).
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct PeerListEntry {
    /// Where the peer can be reached.
    pub adr: NetworkAddress,
    /// The peer's id.
    pub id: u64,
    /// When the sender last saw the peer, in seconds since the epoch; 0 if never.
    #[epee(default = 0)]
    pub last_seen: i64,
    /// The peer's pruning seed.
    #[epee(default = 0)]
    pub pruning_seed: u32,
    /// The peer's RPC port, 0 if none.
    #[epee(default = 0)]
    pub rpc_port: u16,
    /// RPC payment: credits per hash.
    #[epee(default = 0)]
    pub rpc_credits_per_hash: u32,
    /// Umbra: the peer's identity key, when it accepts Umbra's encrypted transports. Umbra
    /// shares keys only inside encrypted sessions; monerod ignores the field.
    pub umbra_key: Option<[u8; 32]>,
    /// Umbra: the transports the peer accepts ([`umbra_transports`]).
    pub umbra_transports: Option<u32>,
}

/// A pruned transaction: its non-prunable part and the hash of the prunable part
/// (`tx_blob_entry`).
///
/// `B` is where blobs live: [`Bytes`] (owned, sharing the received buffer) or `&[u8]`
/// (borrowed from the input, see [`umbra_epee::from_slice`]); the same holds for every
/// message type with a blob in it.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct TxBlobEntry<B: Blob = Bytes> {
    /// The transaction without its prunable part.
    pub blob: B,
    /// Hash of the pruned part.
    pub prunable_hash: [u8; 32],
}

/// The transactions of a [`BlockCompleteEntry`]: full transaction blobs when the entry is
/// not pruned, [`TxBlobEntry`]s when it is.
///
/// A decoded list is a view of the input, like [`umbra_epee::ByteArrayVec`]: the decoder
/// checks every element as it would to build a vector of them (element type, string
/// lengths and every [`umbra_epee::Limits`] budget; for pruned entries their fields, with
/// missing, duplicate and wrongly sized ones refused), then keeps the elements' bytes as
/// one blob `B` of the input instead of building one value per transaction. So a block
/// entry costs no allocation, and [`TransactionBlobs::iter`] reads the transactions again
/// from that blob when they are wanted. Lists built to be sent hold their elements
/// ([`TransactionBlobs::from_blobs`], [`TransactionBlobs::from_pruned`]). Either way a list
/// compares, iterates and encodes the same: equal lists have the same kind and the same
/// transactions, and encoding writes them as monerod would, whatever the input's spelling
/// was (so a decoded list encodes back to exactly the bytes an owned one does).
///
/// ```
/// use bytes::Bytes;
/// use umbra_wire::{BlockCompleteEntry, TransactionBlobs};
///
/// let entry = BlockCompleteEntry {
///     pruned: false,
///     block: Bytes::from_static(b"block"),
///     block_weight: 0,
///     txs: TransactionBlobs::from_blobs(vec![Bytes::from_static(b"tx1"), Bytes::from_static(b"tx2")]),
/// };
/// let bytes = umbra_epee::to_bytes(&entry)?;
/// let decoded: BlockCompleteEntry<&[u8]> = umbra_epee::from_slice(&bytes)?;
/// assert_eq!(decoded.txs.len(), 2);
/// let blobs: Vec<&[u8]> = decoded.txs.iter().map(|tx| tx.blob()).collect();
/// assert_eq!(blobs, [&b"tx1"[..], &b"tx2"[..]]);
/// # Ok::<(), umbra_epee::Error>(())
/// ```
#[derive(Clone)]
pub struct TransactionBlobs<B: Blob = Bytes>(Repr<B>);

#[derive(Clone)]
enum Repr<B: Blob> {
    /// Decoded (or empty): the elements exactly as they are on the wire (what follows the
    /// array's length), every one of them checked by the decoder.
    Wire { elements: B, shape: Shape },
    /// Full blobs, held.
    Normal(Vec<B>),
    /// Pruned entries, held.
    Pruned(Vec<TxBlobEntry<B>>),
}

/// The length and kind of a decoded list in one word: the count shifted left by one, the
/// low bit set if pruned. (One word rather than a count and a `bool` keeps a block entry
/// made of whole words, which the decoder moves around cheaply.)
#[derive(Debug, Clone, Copy)]
struct Shape(usize);

impl Shape {
    /// A count never exceeds the input's length, so shifting it loses nothing.
    const fn new(count: usize, pruned: bool) -> Self {
        Self((count << 1) | pruned as usize)
    }

    const fn count(self) -> usize {
        self.0 >> 1
    }

    const fn pruned(self) -> bool {
        self.0 & 1 == 1
    }
}

/// The marker of a list of full blobs (an array of strings).
const NORMAL: Marker = Marker::array_of(TypeCode::String);
/// The marker of a list of pruned entries (an array of objects).
const PRUNED: Marker = Marker::array_of(TypeCode::Object);
/// The marker of one pruned entry.
const OBJECT: Marker = Marker::scalar(TypeCode::Object);

/// Limits for reading the elements of a decoded list again: they were decoded once within
/// the decoder's limits (nesting included), so they are trusted now.
const REREAD: Limits = Limits {
    max_depth: usize::MAX,
    ..Limits::TRUSTED
};

impl<B: Blob> TransactionBlobs<B> {
    /// An empty list of the kind `pruned` says.
    #[must_use]
    pub fn new(pruned: bool) -> Self {
        Self(Repr::Wire {
            elements: B::default(),
            shape: Shape::new(0, pruned),
        })
    }

    /// A list of full transaction blobs (for an entry that is not pruned).
    #[must_use]
    pub const fn from_blobs(blobs: Vec<B>) -> Self {
        Self(Repr::Normal(blobs))
    }

    /// A list of pruned transactions (for a pruned entry).
    #[must_use]
    pub const fn from_pruned(entries: Vec<TxBlobEntry<B>>) -> Self {
        Self(Repr::Pruned(entries))
    }

    /// Whether the transactions are pruned ([`TxBlobEntry`]s) rather than full blobs.
    #[must_use]
    pub const fn is_pruned(&self) -> bool {
        match &self.0 {
            Repr::Wire { shape, .. } => shape.pruned(),
            Repr::Normal(_) => false,
            Repr::Pruned(_) => true,
        }
    }

    /// Number of transactions.
    #[must_use]
    pub const fn len(&self) -> usize {
        match &self.0 {
            Repr::Wire { shape, .. } => shape.count(),
            Repr::Normal(txs) => txs.len(),
            Repr::Pruned(txs) => txs.len(),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterates over the transactions, borrowed from the list.
    pub fn iter(&self) -> TransactionBlobsIter<'_, B> {
        TransactionBlobsIter(match &self.0 {
            Repr::Wire { elements, shape } => IterRepr::Wire {
                rest: elements.as_ref(),
                left: shape.count(),
                pruned: shape.pruned(),
            },
            Repr::Normal(txs) => IterRepr::Normal(txs.iter()),
            Repr::Pruned(txs) => IterRepr::Pruned(txs.iter()),
        })
    }
}

impl<B: Blob> Default for TransactionBlobs<B> {
    /// An empty list of full blobs (what an absent `txs` field decodes to).
    fn default() -> Self {
        Self::new(false)
    }
}

impl<B: Blob> From<Vec<B>> for TransactionBlobs<B> {
    fn from(blobs: Vec<B>) -> Self {
        Self::from_blobs(blobs)
    }
}

impl<B: Blob> From<Vec<TxBlobEntry<B>>> for TransactionBlobs<B> {
    fn from(entries: Vec<TxBlobEntry<B>>) -> Self {
        Self::from_pruned(entries)
    }
}

/// Lists are equal when they have the same kind and the same transactions, whether they were
/// decoded or built.
impl<B: Blob> PartialEq for TransactionBlobs<B> {
    fn eq(&self, other: &Self) -> bool {
        self.is_pruned() == other.is_pruned()
            && self.len() == other.len()
            && self.iter().eq(other.iter())
    }
}

impl<B: Blob> Eq for TransactionBlobs<B> {}

impl<B: Blob> fmt::Debug for TransactionBlobs<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_pruned() { "Pruned" } else { "Normal" };
        f.debug_tuple(kind)
            .field(&self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a, B: Blob> IntoIterator for &'a TransactionBlobs<B> {
    type Item = TxBlobRef<'a>;
    type IntoIter = TransactionBlobsIter<'a, B>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One transaction of a [`TransactionBlobs`] list, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxBlobRef<'a> {
    /// A full transaction blob.
    Full(&'a [u8]),
    /// A pruned transaction (a [`TxBlobEntry`]).
    Pruned {
        /// The transaction without its prunable part.
        blob: &'a [u8],
        /// Hash of the pruned part.
        prunable_hash: &'a [u8; 32],
    },
}

impl<'a> TxBlobRef<'a> {
    /// The transaction blob: the whole transaction, or its non-prunable part if pruned.
    #[must_use]
    pub const fn blob(&self) -> &'a [u8] {
        match self {
            Self::Full(blob) | Self::Pruned { blob, .. } => blob,
        }
    }

    /// The hash of the pruned part, if the transaction is pruned.
    #[must_use]
    pub const fn prunable_hash(&self) -> Option<&'a [u8; 32]> {
        match self {
            Self::Full(_) => None,
            Self::Pruned { prunable_hash, .. } => Some(prunable_hash),
        }
    }
}

/// A [`TxBlobEntry`] borrowed from the input, hash included: what the decoder checks each
/// pruned element with, and what iteration reads it again with. Same fields, same rules
/// (both required, no duplicates, a hash of exactly 32 bytes), same errors.
#[derive(EpeeObject)]
struct TxBlobEntryRef<'a> {
    blob: &'a [u8],
    prunable_hash: HashRef<'a>,
}

/// A 32-byte hash borrowed from the input; decodes like `[u8; 32]`.
struct HashRef<'a>(&'a [u8; 32]);

impl<'de: 'a, 'a> EpeeValue<'de> for HashRef<'a> {
    const MARKER: Marker = Marker::scalar(TypeCode::String);

    #[inline(always)]
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker != Self::MARKER {
            return Err(ErrorKind::WrongType {
                expected: Self::MARKER,
                found: marker,
            }
            .into());
        }
        let bytes = r.read_string()?;
        match <&[u8; 32]>::try_from(bytes) {
            Ok(hash) => Ok(Self(hash)),
            Err(_) => Err(ErrorKind::WrongLength {
                expected: 32,
                found: bytes.len(),
            }
            .into()),
        }
    }

    fn write<W: BufMut>(&self, w: &mut W) -> Result<()> {
        self.0.write(w)
    }
}

/// Iterator over the transactions of a [`TransactionBlobs`] list ([`TransactionBlobs::iter`]).
#[derive(Debug, Clone)]
pub struct TransactionBlobsIter<'a, B: Blob>(IterRepr<'a, B>);

#[derive(Debug, Clone)]
enum IterRepr<'a, B: Blob> {
    Wire {
        rest: &'a [u8],
        left: usize,
        pruned: bool,
    },
    Normal(std::slice::Iter<'a, B>),
    Pruned(std::slice::Iter<'a, TxBlobEntry<B>>),
}

impl<'a, B: Blob> Iterator for TransactionBlobsIter<'a, B> {
    type Item = TxBlobRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<TxBlobRef<'a>> {
        match &mut self.0 {
            IterRepr::Wire { rest, left, pruned } => {
                *left = left.checked_sub(1)?;
                let mut r = Reader::from_slice(rest, REREAD);
                // Every element was decoded once already, so this cannot fail; if it did,
                // the iteration would just end.
                let tx = if *pruned {
                    TxBlobEntryRef::read(&mut r, OBJECT).map(|entry| TxBlobRef::Pruned {
                        blob: entry.blob,
                        prunable_hash: entry.prunable_hash.0,
                    })
                } else {
                    r.read_string().map(TxBlobRef::Full)
                };
                let Ok(tx) = tx else {
                    *left = 0;
                    return None;
                };
                *rest = rest
                    .get(rest.len().saturating_sub(r.remaining())..)
                    .unwrap_or_default();
                Some(tx)
            }
            IterRepr::Normal(txs) => txs.next().map(|tx| TxBlobRef::Full(tx.as_ref())),
            IterRepr::Pruned(txs) => txs.next().map(|tx| TxBlobRef::Pruned {
                blob: tx.blob.as_ref(),
                prunable_hash: &tx.prunable_hash,
            }),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match &self.0 {
            IterRepr::Wire { left, .. } => *left,
            IterRepr::Normal(txs) => txs.len(),
            IterRepr::Pruned(txs) => txs.len(),
        };
        (left, Some(left))
    }
}

impl<B: Blob> ExactSizeIterator for TransactionBlobsIter<'_, B> {}

impl<B: Blob> std::iter::FusedIterator for TransactionBlobsIter<'_, B> {}

/// On the wire, `txs` is an array of strings (full blobs) or an array of `tx_blob_entry`
/// objects (pruned); which one is read from its marker.
impl<'de, B: InputBlob<'de>> EpeeValue<'de> for TransactionBlobs<B> {
    /// Nominal: the marker actually written is [`EpeeValue::marker`]'s.
    const MARKER: Marker = NORMAL;

    /// Checks every element as decoding it would, and keeps them as one blob.
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        let marker = r.resolve_array_marker(marker)?;
        let pruned = if marker == NORMAL {
            false
        } else if marker == PRUNED {
            true
        } else {
            return Err(ErrorKind::WrongType {
                expected: NORMAL,
                found: marker,
            }
            .into());
        };
        r.nested(|r| {
            let count = r.read_array_len(marker.code)?;
            let mark = r.mark();
            if pruned {
                for _ in 0..count {
                    TxBlobEntryRef::read(r, OBJECT)?;
                }
            } else {
                for _ in 0..count {
                    r.read_string()?;
                }
            }
            Ok(Self(Repr::Wire {
                elements: B::read_since(r, mark),
                shape: Shape::new(count, pruned),
            }))
        })
    }

    fn write<W: BufMut>(&self, w: &mut W) -> Result<()> {
        match &self.0 {
            Repr::Normal(txs) => txs.write(w),
            Repr::Pruned(txs) => txs.write(w),
            Repr::Wire { shape, .. } => {
                write_varint(w, shape.count() as u64)?;
                for tx in self.iter() {
                    match tx {
                        TxBlobRef::Full(blob) => blob.write(w)?,
                        TxBlobRef::Pruned {
                            blob,
                            prunable_hash,
                        } => TxBlobEntry {
                            blob,
                            prunable_hash: *prunable_hash,
                        }
                        .write(w)?,
                    }
                }
                Ok(())
            }
        }
    }

    fn missing() -> Option<Self> {
        Some(Self::new(false))
    }

    fn should_write(&self) -> bool {
        !self.is_empty()
    }

    fn marker(&self) -> Marker {
        if self.is_pruned() { PRUNED } else { NORMAL }
    }
}

/// A block and its transactions (`block_complete_entry`).
///
/// On the wire `txs` is an array of strings when the entry is not pruned and an array of
/// `tx_blob_entry` objects when it is; the decoder checks that `txs` agrees with `pruned`.
/// An empty or absent `txs` carries no evidence either way and takes the kind `pruned`
/// says, so that what is decoded encodes back to the same value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCompleteEntry<B: Blob = Bytes> {
    /// Whether the transactions are pruned (absent means `false`, and `false` is not
    /// written).
    pub pruned: bool,
    /// The block blob.
    pub block: B,
    /// The block's weight; monerod sends it only for pruned entries (absent means 0, and 0
    /// is not written).
    pub block_weight: u64,
    /// The block's transactions (not the miner transaction); absent means none, and none is
    /// not written.
    pub txs: TransactionBlobs<B>,
}

/// Reads a field's value into its slot; a second value for the same field is an error.
#[inline(always)]
fn read_once<'de, T: EpeeValue<'de>>(
    slot: &mut Option<T>,
    r: &mut Reader<'de>,
    marker: Marker,
    name: &'static str,
) -> Result<()> {
    if slot.is_some() {
        return Err(ErrorKind::DuplicateField(String::from(name)).into());
    }
    *slot = Some(T::read(r, marker).map_err(|e| e.in_field(name))?);
    Ok(())
}

/// Written by hand rather than derived, because of the rule between `pruned` and `txs`:
/// it is checked on the decoded fields before the entry is built, which lets the entry be
/// built once, straight into its final place (this is the innermost loop of block
/// download). The rules are the derive's: unknown fields skipped, duplicates and a missing
/// `block` refused, fields written in byte order of their names, defaults not written.
impl<'de, B: InputBlob<'de>> EpeeObject<'de> for BlockCompleteEntry<B> {
    #[inline]
    fn read_fields(r: &mut Reader<'de>) -> Result<Self> {
        let mut pruned = None;
        let mut block = None;
        let mut block_weight = None;
        let mut txs: Option<TransactionBlobs<B>> = None;
        let count = r.read_field_count()?;
        for _ in 0..count {
            let name = r.read_name()?;
            let marker = r.read_marker()?;
            if name == b"block" {
                read_once(&mut block, r, marker, "block")?;
            } else if name == b"block_weight" {
                read_once(&mut block_weight, r, marker, "block_weight")?;
            } else if name == b"pruned" {
                read_once(&mut pruned, r, marker, "pruned")?;
            } else if name == b"txs" {
                read_once(&mut txs, r, marker, "txs")?;
            } else {
                r.skip_value(marker)?;
            }
        }
        let Some(block) = block else {
            return Err(ErrorKind::MissingField("block").into());
        };
        let pruned = pruned.unwrap_or(false);
        let txs = match txs {
            Some(txs) if txs.is_pruned() == pruned => txs,
            Some(txs) if !txs.is_empty() => return Err(txs_disagree(pruned)),
            _ => TransactionBlobs::new(pruned),
        };
        Ok(Self {
            pruned,
            block,
            block_weight: block_weight.unwrap_or(0),
            txs,
        })
    }

    fn write_fields<W: BufMut>(&self, w: &mut W) -> Result<()> {
        let write_weight = self.block_weight != 0;
        let write_txs = !self.txs.is_empty();
        let count =
            1 + usize::from(write_weight) + usize::from(self.pruned) + usize::from(write_txs);
        write_field_count(w, count)?;
        write_field(w, b"block", &self.block)?;
        if write_weight {
            write_field(w, b"block_weight", &self.block_weight)?;
        }
        if self.pruned {
            write_field(w, b"pruned", &self.pruned)?;
        }
        if write_txs {
            write_field(w, b"txs", &self.txs)?;
        }
        Ok(())
    }
}

impl<'de, B: InputBlob<'de>> EpeeValue<'de> for BlockCompleteEntry<B> {
    const MARKER: Marker = OBJECT;

    #[inline]
    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        read_object_value(r, marker)
    }

    fn write<W: BufMut>(&self, w: &mut W) -> Result<()> {
        self.write_fields(w)
    }
}

/// The error for transactions of the other kind than `pruned` says.
#[cold]
fn txs_disagree(pruned: bool) -> umbra_epee::Error {
    ErrorKind::Invalid(format!(
        "entry says pruned={pruned} but its transactions are {}",
        if pruned {
            "full blobs"
        } else {
            "pruned entries"
        }
    ))
    .in_field("txs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_difficulty_is_split_in_two_u64() {
        let mut data = CoreSyncData {
            current_height: 1,
            cumulative_difficulty: 0,
            cumulative_difficulty_top64: 0,
            top_id: [0; 32],
            top_version: 1,
            pruning_seed: 0,
        };
        let difficulty = (5u128 << 64) | 7;
        data.set_cumulative_difficulty(difficulty);
        assert_eq!(
            (data.cumulative_difficulty_top64, data.cumulative_difficulty),
            (5, 7)
        );
        assert_eq!(data.cumulative_difficulty(), difficulty);
    }

    #[test]
    fn block_entries_round_trip_pruned_and_not() {
        for entry in [
            BlockCompleteEntry {
                pruned: false,
                block: Bytes::from_static(b"block"),
                block_weight: 0,
                txs: TransactionBlobs::from_blobs(vec![Bytes::from_static(b"tx1")]),
            },
            BlockCompleteEntry {
                pruned: true,
                block: Bytes::from_static(b"block"),
                block_weight: 1234,
                txs: TransactionBlobs::from_pruned(vec![TxBlobEntry {
                    blob: Bytes::from_static(b"tx"),
                    prunable_hash: [3; 32],
                }]),
            },
            BlockCompleteEntry {
                pruned: false,
                block: Bytes::from_static(b"empty"),
                block_weight: 0,
                txs: TransactionBlobs::new(false),
            },
        ] {
            let bytes = umbra_epee::to_bytes(&entry).unwrap().freeze();
            assert_eq!(
                umbra_epee::from_bytes::<BlockCompleteEntry>(&bytes).unwrap(),
                entry
            );
        }
    }

    #[test]
    fn txs_that_disagree_with_pruned_are_an_error() {
        let entry = BlockCompleteEntry {
            pruned: true,
            block: Bytes::from_static(b"block"),
            block_weight: 0,
            txs: TransactionBlobs::from_pruned(vec![TxBlobEntry {
                blob: Bytes::new(),
                prunable_hash: [0; 32],
            }]),
        };
        let mut bytes = umbra_epee::to_bytes(&entry).unwrap().to_vec();
        // Flip `pruned` from true to false (the byte after its marker).
        let at = bytes.windows(7).position(|w| w == b"pruned\x0b").unwrap() + 7;
        bytes[at] = 0;
        let error = umbra_epee::from_bytes::<BlockCompleteEntry>(&Bytes::from(bytes)).unwrap_err();
        assert_eq!(error.field_path(), ["txs"]);
    }
}
