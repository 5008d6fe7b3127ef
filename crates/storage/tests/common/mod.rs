//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use tempfile::TempDir;
use umbra_storage::{EngineKind, Storage, StorageConfig};

/// A fresh database of `engine` in a temporary directory (kept alive with it).
pub fn open(engine: EngineKind) -> (TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(&config(&dir, engine)).unwrap();
    (dir, storage)
}

/// The configuration for `engine` in `dir` (a small LMDB map: tests write little).
pub fn config(dir: &TempDir, engine: EngineKind) -> StorageConfig {
    let mut config = StorageConfig::new(dir.path()).with_engine(engine);
    config.lmdb_map_size = 1 << 30;
    config
}

/// Runs `f` once per engine built in, naming the engine on failure.
pub fn each_engine(f: impl Fn(EngineKind)) {
    for engine in EngineKind::ALL {
        eprintln!("engine: {}", engine.name());
        f(*engine);
    }
}
