//! [`Snapshot`]: every read query, inside one consistent view of the database.

use std::ops::{Bound, Range};

use crate::{
    AltBlock, AltChain, BlockEntry, BlockInfo, BlockLocation, ChainSupplement, Hash, HexHash,
    OutputId, OutputInfo, StorageError, TxBlob, TxEntry, TxLocation,
    backend::{ReadTx, Table, contains, get_with, last_with},
    codec::{
        amount_index_key, decode_alt_block, decode_block_info, decode_output, decode_tx_blob,
        decode_tx_blob_hash, decode_tx_location, decode_u64_value, decode_u64s, u64_key,
    },
    history::{MAX_PEER_HISTORY, short_history_heights},
};

/// Most blocks one range query ([`Snapshot::block_infos`], [`Snapshot::block_hashes`])
/// returns; a longer range is an error rather than a huge allocation.
pub const MAX_RANGE: u64 = 1_000_000;

/// A consistent, read-only view of the database: every query made through one snapshot
/// sees the same committed state, whatever the writer does meanwhile.
///
/// Obtained from [`crate::Storage::read`]; the read service runs each request in its own
/// snapshot.
pub struct Snapshot<'a> {
    tx: &'a dyn ReadTx,
}

impl std::fmt::Debug for Snapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl<'a> Snapshot<'a> {
    pub(crate) fn new(tx: &'a dyn ReadTx) -> Self {
        Snapshot { tx }
    }

    /// The metadata of the top block, if the chain is not empty.
    pub fn top_info(&self) -> Result<Option<BlockInfo>, StorageError> {
        last_with(self.tx, Table::BlockInfo, decode_block_info)
    }

    /// The number of blocks in the main chain (the next block's height).
    pub fn chain_height(&self) -> Result<u64, StorageError> {
        Ok(self.top_info()?.map_or(0, |top| top.height + 1))
    }

    /// Height and hash of the top block, if the chain is not empty.
    pub fn top(&self) -> Result<Option<(u64, Hash)>, StorageError> {
        Ok(self.top_info()?.map(|top| (top.height, top.hash)))
    }

    /// The metadata of the block at `height`.
    pub fn block_info(&self, height: u64) -> Result<Option<BlockInfo>, StorageError> {
        let key = u64_key(height);
        get_with(self.tx, Table::BlockInfo, &key, |v| {
            decode_block_info(&key, v)
        })
    }

    /// Calls `f` with the metadata of every block in `range`, in height order (stopping at
    /// the top). The allocation-free form of [`Snapshot::block_infos`].
    pub fn for_each_block_info(
        &self,
        range: Range<u64>,
        mut f: impl FnMut(BlockInfo),
    ) -> Result<(), StorageError> {
        let (from, to) = (u64_key(range.start), u64_key(range.end));
        self.tx.scan(
            Table::BlockInfo,
            Bound::Included(&from),
            Bound::Excluded(&to),
            false,
            &mut |k, v| {
                f(decode_block_info(k, v)?);
                Ok(true)
            },
        )
    }

    /// The metadata of the blocks in `range` (those that exist), in height order; one
    /// range scan. At most [`MAX_RANGE`] blocks.
    pub fn block_infos(&self, range: Range<u64>) -> Result<Vec<BlockInfo>, StorageError> {
        check_range(&range)?;
        let mut out = Vec::with_capacity(self.clamp(&range)?);
        self.for_each_block_info(range, |info| out.push(info))?;
        Ok(out)
    }

    /// The hashes of the blocks in `range` (those that exist), in height order. At most
    /// [`MAX_RANGE`] blocks.
    pub fn block_hashes(&self, range: Range<u64>) -> Result<Vec<Hash>, StorageError> {
        check_range(&range)?;
        let mut out = Vec::with_capacity(self.clamp(&range)?);
        self.for_each_block_info(range, |info| out.push(info.hash))?;
        Ok(out)
    }

    /// How many of `range`'s blocks exist (for a capacity).
    fn clamp(&self, range: &Range<u64>) -> Result<usize, StorageError> {
        let end = range.end.min(self.chain_height()?);
        Ok(usize::try_from(end.saturating_sub(range.start)).unwrap_or(0))
    }

    /// The hash of the main-chain block at `height`.
    pub fn block_hash(&self, height: u64) -> Result<Option<Hash>, StorageError> {
        Ok(self.block_info(height)?.map(|info| info.hash))
    }

    /// The height of the main-chain block `hash`.
    pub fn block_height(&self, hash: &Hash) -> Result<Option<u64>, StorageError> {
        get_with(self.tx, Table::BlockHeights, hash, |v| {
            decode_u64_value(Table::BlockHeights, hash, v)
        })
    }

    /// Where the block `hash` is: main chain, an alternative chain, or nowhere.
    pub fn find_block(&self, hash: &Hash) -> Result<BlockLocation, StorageError> {
        if let Some(height) = self.block_height(hash)? {
            return Ok(BlockLocation::Main { height });
        }
        match self.alt_block(hash)? {
            Some(alt) => Ok(BlockLocation::Alt {
                height: alt.height,
                chain_id: alt.chain_id,
            }),
            None => Ok(BlockLocation::Unknown),
        }
    }

    /// The blob of the main-chain block at `height`.
    pub fn block_blob(&self, height: u64) -> Result<Option<Vec<u8>>, StorageError> {
        get_with(self.tx, Table::BlockBlobs, &u64_key(height), |v| {
            Ok(v.to_vec())
        })
    }

    /// The blob of the main-chain block `hash`.
    pub fn block_blob_by_hash(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StorageError> {
        match self.block_height(hash)? {
            Some(height) => self.block_blob(height),
            None => Ok(None),
        }
    }

    /// The transactions of the main-chain block at `height`, not its miner transaction,
    /// in the block's order (with the block blob: what a peer's `GET_OBJECTS` asks for).
    pub fn block_txs(&self, height: u64) -> Result<Option<Vec<TxBlob>>, StorageError> {
        let Some(info) = self.block_info(height)? else {
            return Ok(None);
        };
        let first = info.first_tx_index.saturating_add(1);
        let end = info.first_tx_index.saturating_add(info.tx_count);
        let mut txs = Vec::with_capacity(usize::try_from(info.tx_count).unwrap_or(0));
        let (from, to) = (u64_key(first), u64_key(end));
        self.tx.scan(
            Table::TxBlobs,
            Bound::Included(&from),
            Bound::Excluded(&to),
            false,
            &mut |k, v| {
                txs.push(decode_tx_blob(k, v)?);
                Ok(true)
            },
        )?;
        if u64::try_from(txs.len()).ok() != Some(info.tx_count.saturating_sub(1)) {
            return Err(StorageError::corrupt(
                Table::TxBlobs.name(),
                &from,
                "transactions of a block missing",
            ));
        }
        Ok(Some(txs))
    }

    /// For each hash, the main-chain block with its transactions, or `None` if it is not
    /// in the main chain.
    pub fn block_entries(&self, hashes: &[Hash]) -> Result<Vec<Option<BlockEntry>>, StorageError> {
        let mut out = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let entry = match self.block_height(hash)? {
                None => None,
                Some(height) => {
                    let missing = || {
                        StorageError::corrupt(
                            Table::BlockBlobs.name(),
                            &u64_key(height),
                            "block missing",
                        )
                    };
                    let blob = self.block_blob(height)?.ok_or_else(missing)?;
                    let txs = self.block_txs(height)?.ok_or_else(missing)?;
                    Some(BlockEntry {
                        height,
                        hash: *hash,
                        blob,
                        txs,
                    })
                }
            };
            out.push(entry);
        }
        Ok(out)
    }

    /// Where the transaction `hash` is.
    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StorageError> {
        get_with(self.tx, Table::TxIds, hash, |v| decode_tx_location(hash, v))
    }

    /// The transaction `hash`: blob, location and its outputs' indices.
    pub fn tx(&self, hash: &Hash) -> Result<Option<TxEntry>, StorageError> {
        let Some(location) = self.tx_location(hash)? else {
            return Ok(None);
        };
        let key = u64_key(location.tx_index);
        let blob = get_with(self.tx, Table::TxBlobs, &key, |v| decode_tx_blob(&key, v))?
            .ok_or_else(|| {
                StorageError::corrupt(Table::TxIds.name(), hash, "transaction blob missing")
            })?;
        let output_indices = get_with(self.tx, Table::TxOutputs, &key, |v| {
            decode_u64s(Table::TxOutputs, &key, v)
        })?
        .ok_or_else(|| {
            StorageError::corrupt(Table::TxIds.name(), hash, "output indices missing")
        })?;
        if blob.hash != *hash {
            return Err(StorageError::corrupt(
                Table::TxBlobs.name(),
                &key,
                "holds another transaction",
            ));
        }
        Ok(Some(TxEntry {
            hash: *hash,
            blob: blob.blob,
            location,
            output_indices,
        }))
    }

    /// The hash of the transaction numbered `tx_index` ([`TxLocation::tx_index`],
    /// [`OutputInfo::tx_index`]).
    pub fn tx_hash_by_index(&self, tx_index: u64) -> Result<Option<Hash>, StorageError> {
        let key = u64_key(tx_index);
        get_with(self.tx, Table::TxBlobs, &key, |v| {
            decode_tx_blob_hash(&key, v)
        })
    }

    /// The output `id` (amount 0: RingCT by global index; else pre-RingCT by amount and
    /// index).
    pub fn output(&self, id: OutputId) -> Result<Option<OutputInfo>, StorageError> {
        if id.amount == 0 {
            let key = u64_key(id.index);
            get_with(self.tx, Table::RctOutputs, &key, |v| {
                decode_output(Table::RctOutputs, &key, v)
            })
        } else {
            let key = amount_index_key(id.amount, id.index);
            get_with(self.tx, Table::PreRctOutputs, &key, |v| {
                decode_output(Table::PreRctOutputs, &key, v)
            })
        }
    }

    /// Several outputs, in the order asked; `None` for those that do not exist.
    pub fn outputs(&self, ids: &[OutputId]) -> Result<Vec<Option<OutputInfo>>, StorageError> {
        ids.iter().map(|id| self.output(*id)).collect()
    }

    /// The number of outputs in the pool of `amount` (0: RingCT).
    pub fn num_outputs(&self, amount: u64) -> Result<u64, StorageError> {
        if amount == 0 {
            Ok(self.top_info()?.map_or(0, |top| top.cumulative_rct_outputs))
        } else {
            let key = u64_key(amount);
            Ok(get_with(self.tx, Table::AmountCounts, &key, |v| {
                decode_u64_value(Table::AmountCounts, &key, v)
            })?
            .unwrap_or(0))
        }
    }

    /// Whether `key_image` is spent in the main chain.
    pub fn key_image_spent(&self, key_image: &Hash) -> Result<bool, StorageError> {
        contains(self.tx, Table::KeyImages, key_image)
    }

    /// For each key image, whether it is spent.
    pub fn key_images_spent(&self, key_images: &[Hash]) -> Result<Vec<bool>, StorageError> {
        key_images
            .iter()
            .map(|ki| self.key_image_spent(ki))
            .collect()
    }

    /// Our short chain history: the ids of the blocks at
    /// [`crate::history::short_history_heights`], top first, genesis last (what
    /// `NOTIFY_REQUEST_CHAIN` carries). Empty for an empty chain.
    pub fn short_chain_history(&self) -> Result<Vec<Hash>, StorageError> {
        let heights = short_history_heights(self.chain_height()?);
        let mut ids = Vec::with_capacity(heights.len());
        for height in heights {
            let hash = self.block_hash(height)?.ok_or_else(|| {
                StorageError::corrupt(
                    Table::BlockInfo.name(),
                    &u64_key(height),
                    "block missing below the top",
                )
            })?;
            ids.push(hash);
        }
        Ok(ids)
    }

    /// The answer to a peer's short chain history (`peer_history`: top first, its genesis
    /// last): the highest of its blocks in our main chain, and at most `max_ids` of our
    /// block ids from that block on (it first). `None` when the history is empty or its
    /// last id is not our genesis (monerod drops such a peer).
    ///
    /// Only the first [`MAX_PEER_HISTORY`] entries (and the last) are looked up.
    pub fn chain_supplement(
        &self,
        peer_history: &[Hash],
        max_ids: u64,
    ) -> Result<Option<ChainSupplement>, StorageError> {
        let Some(genesis) = peer_history.last() else {
            return Ok(None);
        };
        let Some(top) = self.top_info()? else {
            return Ok(None);
        };
        if self.block_hash(0)?.as_ref() != Some(genesis) {
            return Ok(None);
        }
        let mut start_height = 0;
        for hash in peer_history.iter().take(MAX_PEER_HISTORY) {
            if let Some(height) = self.block_height(hash)? {
                start_height = height;
                break;
            }
        }
        let total_height = top.height + 1;
        let end = start_height
            .saturating_add(max_ids.min(MAX_RANGE))
            .min(total_height);
        let block_ids = self.block_hashes(start_height..end)?;
        Ok(Some(ChainSupplement {
            start_height,
            total_height,
            cumulative_difficulty: top.cumulative_difficulty,
            block_ids,
        }))
    }

    /// The alternative block `hash`.
    pub fn alt_block(&self, hash: &Hash) -> Result<Option<AltBlock>, StorageError> {
        get_with(self.tx, Table::AltBlocks, hash, |v| {
            decode_alt_block(hash, v)
        })
    }

    /// The alternative chain ending at `tip`: its blocks back to the split point, oldest
    /// first. Fails if `tip` is not an alternative block, or if the chain's first block
    /// does not build on a main-chain block any more (the main chain moved under it).
    pub fn alt_chain(&self, tip: &Hash) -> Result<AltChain, StorageError> {
        let mut block = self.alt_block(tip)?.ok_or(StorageError::AltUnknown {
            hash: HexHash(*tip),
        })?;
        let mut blocks = Vec::new();
        loop {
            let prev = block.prev;
            let height = block.height;
            blocks.push(block);
            match self.alt_block(&prev)? {
                // Heights strictly decrease along the walk, so it ends.
                Some(parent) if parent.height.checked_add(1) == Some(height) => block = parent,
                Some(_) => {
                    return Err(StorageError::corrupt(
                        Table::AltBlocks.name(),
                        &prev,
                        "alternative parent at the wrong height",
                    ));
                }
                None => {
                    let split_height = height.checked_sub(1);
                    let main = self.block_height(&prev)?;
                    return match (main, split_height) {
                        (Some(main), Some(split)) if main == split => {
                            blocks.reverse();
                            Ok(AltChain {
                                split_height: split,
                                blocks,
                            })
                        }
                        _ => Err(StorageError::AltParentUnknown {
                            hash: HexHash(blocks.last().map_or(*tip, |b| b.hash)),
                            prev: HexHash(prev),
                        }),
                    };
                }
            }
        }
    }

    /// Every alternative chain: its id and its number of blocks.
    pub fn alt_chains(&self) -> Result<Vec<(Hash, u64)>, StorageError> {
        let mut chains: Vec<(Hash, u64)> = Vec::new();
        self.tx.scan(
            Table::AltChains,
            Bound::Unbounded,
            Bound::Unbounded,
            false,
            &mut |k, _| {
                let id: Hash = k
                    .get(..32)
                    .and_then(|id| id.try_into().ok())
                    .ok_or_else(|| {
                        StorageError::corrupt(Table::AltChains.name(), k, "short key")
                    })?;
                match chains.last_mut() {
                    Some((last, count)) if *last == id => *count += 1,
                    _ => chains.push((id, 1)),
                }
                Ok(true)
            },
        )?;
        Ok(chains)
    }

    /// Number of alternative blocks.
    pub fn alt_block_count(&self) -> Result<u64, StorageError> {
        self.tx.len(Table::AltBlocks)
    }

    /// The underlying transaction (for the integrity check).
    pub(crate) fn raw(&self) -> &'a dyn ReadTx {
        self.tx
    }
}

fn check_range(range: &Range<u64>) -> Result<(), StorageError> {
    if range.end.saturating_sub(range.start) > MAX_RANGE {
        return Err(StorageError::RangeTooLarge {
            start: range.start,
            end: range.end,
            max: MAX_RANGE,
        });
    }
    Ok(())
}
