//! The engines under the chain database, behind one small byte-level interface.
//!
//! Everything above this module speaks in [`Table`]s of byte keys and byte values, read in
//! a [`ReadTx`] (a consistent snapshot) and written in a [`WriteTx`] (committed whole, or
//! not at all). [`Engine`] is the engine picked at open: redb (pure Rust, always built) or
//! LMDB through heed (feature `lmdb`, builds LMDB's C code). Both are copy-on-write B-trees
//! with MVCC: readers never block the writer nor each other, and a commit is durable
//! (fsynced) when it returns.

use std::{ops::Bound, path::Path};

use crate::{StorageConfig, StorageError, config::EngineKind};

#[cfg(feature = "lmdb")]
mod lmdb;
mod redb;

/// The tables of the chain database. Keys are big-endian where they are numbers, so that
/// key order is numeric order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// Format marker and schema version.
    Meta,
    /// height → block metadata (fixed size).
    BlockInfo,
    /// block hash → height.
    BlockHeights,
    /// height → block blob.
    BlockBlobs,
    /// tx hash → location (tx index, height, index in block).
    TxIds,
    /// tx index → tx hash + blob.
    TxBlobs,
    /// tx index → the output indices (per amount) of its outputs.
    TxOutputs,
    /// RingCT global index → output.
    RctOutputs,
    /// (amount, index) → pre-RingCT output.
    PreRctOutputs,
    /// amount → number of pre-RingCT outputs of that amount.
    AmountCounts,
    /// key image → (empty).
    KeyImages,
    /// alt block hash → alt block.
    AltBlocks,
    /// (chain id, alt block hash) → (empty): the blocks of each alternative chain.
    AltChains,
}

impl Table {
    /// Every table, in [`Table::index`] order.
    pub(crate) const ALL: [Table; 13] = [
        Table::Meta,
        Table::BlockInfo,
        Table::BlockHeights,
        Table::BlockBlobs,
        Table::TxIds,
        Table::TxBlobs,
        Table::TxOutputs,
        Table::RctOutputs,
        Table::PreRctOutputs,
        Table::AmountCounts,
        Table::KeyImages,
        Table::AltBlocks,
        Table::AltChains,
    ];

    /// The table's name in the file.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::BlockInfo => "block_info",
            Table::BlockHeights => "block_heights",
            Table::BlockBlobs => "block_blobs",
            Table::TxIds => "tx_ids",
            Table::TxBlobs => "tx_blobs",
            Table::TxOutputs => "tx_outputs",
            Table::RctOutputs => "rct_outputs",
            Table::PreRctOutputs => "pre_rct_outputs",
            Table::AmountCounts => "amount_counts",
            Table::KeyImages => "key_images",
            Table::AltBlocks => "alt_blocks",
            Table::AltChains => "alt_chains",
        }
    }

    /// The table's position in [`Table::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// A visitor over entries in key order; returns `false` to stop.
pub(crate) type Visit<'v> = dyn FnMut(&[u8], &[u8]) -> Result<bool, StorageError> + 'v;

/// Reading inside one snapshot.
pub(crate) trait ReadTx {
    /// Hands the value at `key` to `f`, if there is one; `Ok(false)` if there is none.
    fn get(
        &self,
        table: Table,
        key: &[u8],
        f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<bool, StorageError>;

    /// Visits the entries with keys in `(from, to)`, ascending or (`rev`) descending, until
    /// `visit` returns `false`.
    fn scan(
        &self,
        table: Table,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        rev: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StorageError>;

    /// Number of entries in `table`.
    fn len(&self, table: Table) -> Result<u64, StorageError>;
}

/// Writing inside one transaction (which also reads its own writes).
pub(crate) trait WriteTx: ReadTx {
    /// Inserts or replaces.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StorageError>;

    /// Removes; `true` if the key was there.
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StorageError>;
}

/// What the engine reports about its file(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSize {
    /// Apparent size in bytes (`ls -l`).
    pub apparent: u64,
    /// Bytes allocated on disk (`du`); smaller for sparse files.
    pub allocated: u64,
}

/// The open engine.
pub(crate) enum Engine {
    Redb(redb::RedbEngine),
    #[cfg(feature = "lmdb")]
    Lmdb(lmdb::LmdbEngine),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind().name())
    }
}

impl Engine {
    /// Opens (creating if needed) the engine's files under `dir`. A database with none of
    /// the tables (new, or created by a process that died before its first commit) gets
    /// every table, and `init`'s writes, in one transaction; a database with only some of
    /// them, or with tables of other types, is not ours.
    pub(crate) fn open(
        config: &StorageConfig,
        init: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StorageError>,
    ) -> Result<Engine, StorageError> {
        let dir = &config.data_dir;
        guarded("open", || match config.engine {
            EngineKind::Redb => {
                redb::RedbEngine::open(dir, config.redb_quick_repair, init).map(Engine::Redb)
            }
            #[cfg(feature = "lmdb")]
            EngineKind::Lmdb => {
                lmdb::LmdbEngine::open(dir, config.lmdb_map_size, init).map(Engine::Lmdb)
            }
        })
    }

    /// The file (redb) or directory (LMDB) the engine keeps under `dir`.
    pub(crate) fn path_in(kind: EngineKind, dir: &Path) -> std::path::PathBuf {
        match kind {
            EngineKind::Redb => dir.join(redb::FILE_NAME),
            #[cfg(feature = "lmdb")]
            EngineKind::Lmdb => dir.join(lmdb::DIR_NAME),
        }
    }

    /// Which engine this is.
    pub(crate) fn kind(&self) -> EngineKind {
        match self {
            Engine::Redb(_) => EngineKind::Redb,
            #[cfg(feature = "lmdb")]
            Engine::Lmdb(_) => EngineKind::Lmdb,
        }
    }

    /// Runs `f` in a read snapshot.
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&dyn ReadTx) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        guarded("read", || match self {
            Engine::Redb(e) => e.read(f),
            #[cfg(feature = "lmdb")]
            Engine::Lmdb(e) => e.read(f),
        })
    }

    /// Runs `f` in a write transaction: committed (durably) if `f` returns `Ok`, aborted
    /// if it returns an error.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&mut dyn WriteTx) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        guarded("write", || match self {
            Engine::Redb(e) => e.write(f),
            #[cfg(feature = "lmdb")]
            Engine::Lmdb(e) => e.write(f),
        })
    }

    /// Size of the engine's data file.
    pub(crate) fn file_size(&self) -> Result<FileSize, StorageError> {
        let path = match self {
            Engine::Redb(e) => e.path(),
            #[cfg(feature = "lmdb")]
            Engine::Lmdb(e) => e.data_file(),
        };
        let meta = std::fs::metadata(path).map_err(|e| StorageError::engine("file size", e))?;
        use std::os::unix::fs::MetadataExt;
        Ok(FileSize {
            apparent: meta.len(),
            allocated: meta.blocks().saturating_mul(512),
        })
    }
}

/// Runs `f`, turning a panic inside it into [`StorageError::EnginePanicked`].
///
/// redb panics on some damaged files (a page index past the end of a bitmap, seen with
/// bit-flipped files) instead of returning an error; a damaged local file must not take
/// the node down with it. Nothing of a write that panicked is committed (the commit is
/// the last step). The engine may refuse further use afterwards (a poisoned lock): those
/// refusals are errors too.
fn guarded<R>(
    op: &'static str,
    f: impl FnOnce() -> Result<R, StorageError>,
) -> Result<R, StorageError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            tracing::error!(op, %message, "the database engine panicked");
            Err(StorageError::EnginePanicked { op, message })
        }
    }
}

/// Whether the range `(from, to)` is empty because its start lies after its end (engines
/// may panic or error on such a range).
pub(crate) fn empty_range(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
        _ => false,
    }
}

/// Reads the value at `key` and decodes it with `decode`.
pub(crate) fn get_with<T>(
    tx: &dyn ReadTx,
    table: Table,
    key: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, StorageError>,
) -> Result<Option<T>, StorageError> {
    let mut decode = Some(decode);
    let mut out = None;
    tx.get(table, key, &mut |value| {
        if let Some(decode) = decode.take() {
            out = Some(decode(value)?);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Whether `key` is in `table`.
pub(crate) fn contains(tx: &dyn ReadTx, table: Table, key: &[u8]) -> Result<bool, StorageError> {
    tx.get(table, key, &mut |_| Ok(()))
}

/// The last entry of `table` (highest key), decoded.
pub(crate) fn last_with<T>(
    tx: &dyn ReadTx,
    table: Table,
    decode: impl FnOnce(&[u8], &[u8]) -> Result<T, StorageError>,
) -> Result<Option<T>, StorageError> {
    let mut decode = Some(decode);
    let mut out = None;
    tx.scan(
        table,
        Bound::Unbounded,
        Bound::Unbounded,
        true,
        &mut |k, v| {
            if let Some(decode) = decode.take() {
                out = Some(decode(k, v)?);
            }
            Ok(false)
        },
    )?;
    Ok(out)
}
