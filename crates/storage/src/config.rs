//! [`StorageConfig`]: where the database lives, which engine, and the service's bounds.

use std::path::PathBuf;

/// The embedded engine under the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// redb: pure Rust, one file `<data_dir>/chain.redb`. The default (see
    /// `docs/storage.md` for the measurements behind the choice: within 0.6–1.0x of LMDB
    /// where the node is bound, safe failure on damaged files, no C build).
    #[default]
    Redb,
    /// LMDB through heed (feature `lmdb`): a directory `<data_dir>/chain-lmdb/`.
    #[cfg(feature = "lmdb")]
    Lmdb,
}

impl EngineKind {
    /// The engine's name, as in file names and messages: `redb` or `lmdb`.
    pub const fn name(self) -> &'static str {
        match self {
            EngineKind::Redb => "redb",
            #[cfg(feature = "lmdb")]
            EngineKind::Lmdb => "lmdb",
        }
    }

    /// Every engine built into this binary.
    pub const ALL: &'static [EngineKind] = &[
        EngineKind::Redb,
        #[cfg(feature = "lmdb")]
        EngineKind::Lmdb,
    ];
}

/// How to open the chain database and run its service.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The data directory (created if missing). The database is `chain.redb` (redb) or
    /// `chain-lmdb/` (LMDB) inside it.
    pub data_dir: PathBuf,
    /// The engine. Opening a data directory that holds the other engine's database fails
    /// with [`crate::StorageError::EngineMismatch`].
    pub engine: EngineKind,
    /// Threads in the read pool (at least 1). Default: the number of CPUs, at most 8.
    pub read_threads: usize,
    /// Read requests accepted but not finished, across all clones of the read handle (at
    /// least 1); at the bound `poll_ready` waits. Default: 4 per read thread.
    pub read_queue: usize,
    /// Write requests waiting for the writer thread (at least 1); at the bound
    /// `poll_ready` waits. Default: 8.
    pub write_queue: usize,
    /// redb only: save the allocator state and commit in two phases (two fsyncs per
    /// commit instead of one), so that opening after a crash is immediate instead of a
    /// walk over the whole file to verify checksums and rebuild the allocator — minutes
    /// for a mainnet-sized file (see `docs/storage.md` for both costs). Default: on.
    pub redb_quick_repair: bool,
    /// LMDB only: the map size in bytes, the most the data file may grow to (address
    /// space, reserved at open; the file grows as it fills). Default: 1 TiB on 64-bit.
    pub lmdb_map_size: usize,
}

impl StorageConfig {
    /// The defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let read_threads = cpus.clamp(1, 8);
        StorageConfig {
            data_dir: data_dir.into(),
            engine: EngineKind::default(),
            read_threads,
            read_queue: read_threads * 4,
            write_queue: 8,
            redb_quick_repair: true,
            lmdb_map_size: usize::try_from(1u64 << 40).unwrap_or(1 << 30),
        }
    }

    /// This configuration with another engine.
    #[must_use]
    pub fn with_engine(mut self, engine: EngineKind) -> Self {
        self.engine = engine;
        self
    }
}
