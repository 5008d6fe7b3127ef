//! [`Storage`]: the open database and its synchronous API.

use std::path::{Path, PathBuf};

use crate::{
    FileSize, Hash, IntegrityReport, NewAltBlock, PoppedBlock, StorageConfig, StorageError,
    VerifiedBlock, backend::Engine, config::EngineKind, read::Snapshot, schema, write,
};

/// The chain database, open. Every method is synchronous and may block on disk I/O (a
/// write waits for its fsync); async code goes through the service
/// ([`crate::ReadHandle`], [`crate::WriteHandle`]) or `spawn_blocking`.
///
/// `Storage` is `Send + Sync`: share it in an `Arc`. Reads run concurrently, each in its
/// own snapshot, and never wait for the writer. Writes are serialized by the engine (one
/// write transaction at a time); the service adds a single writer thread in front.
pub struct Storage {
    engine: Engine,
    path: PathBuf,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("engine", &self.engine)
            .field("path", &self.path)
            .finish()
    }
}

impl Storage {
    /// Opens the database in `config.data_dir` (creating the directory and the database if
    /// needed) with `config.engine`.
    ///
    /// Fails with a clear error, never a panic, when the files are not a database of the
    /// engine ([`StorageError::Open`]), are another program's database
    /// ([`StorageError::NotAChainDatabase`]), were written by a newer schema
    /// ([`StorageError::NewerSchema`]), or belong to the other engine
    /// ([`StorageError::EngineMismatch`]).
    pub fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Open {
            path: dir.clone(),
            source: Box::new(e),
        })?;
        for other in EngineKind::ALL
            .iter()
            .copied()
            .filter(|k| *k != config.engine)
        {
            if Engine::path_in(other, dir).exists() && !Engine::path_in(config.engine, dir).exists()
            {
                return Err(StorageError::EngineMismatch {
                    path: dir.clone(),
                    found: other.name(),
                    requested: config.engine.name(),
                });
            }
        }
        let path = Engine::path_in(config.engine, dir);
        let engine = Engine::open(config, &mut schema::init)?;
        engine.read(|tx| schema::check(tx, &path))?;
        tracing::debug!(path = %path.display(), engine = config.engine.name(), "chain database open");
        Ok(Storage { engine, path })
    }

    /// The engine in use.
    pub fn engine(&self) -> EngineKind {
        self.engine.kind()
    }

    /// The database file (redb) or directory (LMDB).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the data file.
    pub fn file_size(&self) -> Result<FileSize, StorageError> {
        self.engine.file_size()
    }

    /// Runs `f` in one read snapshot.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let storage = umbra_storage::Storage::open(&umbra_storage::StorageConfig::new(dir.path()))?;
    /// let (height, top) = storage.read(|chain| Ok((chain.chain_height()?, chain.top()?)))?;
    /// assert_eq!((height, top), (0, None));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read<R>(
        &self,
        f: impl FnOnce(&Snapshot<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        self.engine.read(|tx| f(&Snapshot::new(tx)))
    }

    /// Appends one block on top of the main chain, in one atomic, durable transaction.
    /// When this returns `Ok` the block is on disk; on any error nothing of it is.
    pub fn write_block(&self, block: &VerifiedBlock) -> Result<(), StorageError> {
        self.engine.write(|tx| write::append_block(tx, block))
    }

    /// Appends several consecutive blocks in one atomic, durable transaction (one fsync
    /// for all: faster when syncing). All of them are stored, or (on any error, which
    /// names the block) none.
    pub fn write_blocks(&self, blocks: &[VerifiedBlock]) -> Result<(), StorageError> {
        self.engine.write(|tx| {
            for block in blocks {
                write::append_block(tx, block)?;
            }
            Ok(())
        })
    }

    /// Removes the top `count` blocks and everything they added (transactions, outputs,
    /// key images), in one atomic transaction; returns them, lowest first. The genesis
    /// block cannot be popped.
    pub fn pop_blocks(&self, count: u64) -> Result<Vec<PoppedBlock>, StorageError> {
        self.engine.write(|tx| {
            let height = Snapshot::new(tx).chain_height()?;
            if count >= height && count > 0 {
                return Err(StorageError::PopTooDeep {
                    requested: count,
                    height,
                });
            }
            let mut popped = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1024));
            for _ in 0..count {
                popped.push(write::pop_block(tx)?);
            }
            popped.reverse();
            Ok(popped)
        })
    }

    /// Stores an alternative block whose parent is a main-chain block or a stored
    /// alternative block; returns its chain id ([`crate::AltBlock::chain_id`]).
    pub fn write_alt_block(&self, block: &NewAltBlock) -> Result<Hash, StorageError> {
        self.engine.write(|tx| write::put_alt_block(tx, block))
    }

    /// Deletes the alternative chain `chain_id` (every block with that id); returns how
    /// many blocks went.
    pub fn delete_alt_chain(&self, chain_id: &Hash) -> Result<u64, StorageError> {
        self.engine
            .write(|tx| write::delete_alt_chain(tx, chain_id))
    }

    /// Deletes every alternative block; returns how many went.
    pub fn clear_alt_blocks(&self) -> Result<u64, StorageError> {
        self.engine.write(write::clear_alt_blocks)
    }

    /// Checks, in one snapshot, that the database is exactly a chain of complete blocks:
    /// every block's metadata, hash entry and blob (parsing and hashing to its hash,
    /// building on the block below); every transaction's blob (hashing to the hash its
    /// block lists), location and output indices; every output stored as its transaction
    /// says; every key image spent; and no table holding anything more (entry counts, the
    /// per-amount counters, the alternative-chain index). Reads and hashes everything:
    /// minutes on a large chain.
    pub fn check_integrity(&self) -> Result<IntegrityReport, StorageError> {
        self.read(crate::integrity::check)
    }

    /// Sets the stored schema version (to test the refusal of newer versions).
    #[doc(hidden)]
    pub fn set_schema_version_for_tests(&self, version: u32) -> Result<(), StorageError> {
        self.engine.write(|tx| schema::set_version(tx, version))
    }
}
