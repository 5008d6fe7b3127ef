//! The node's identity keys in the data directory: one per zone, so zones cannot be
//! linked; shown, backed up and restored by `--show-identity`, `--backup-identity` and
//! `--restore-identity`.

use std::path::{Path, PathBuf};

use umbra_identity::{Identity, KeyStore, Origin, StoreError};

/// The key store's directory inside the data directory.
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("identity")
}

/// The name of the clearnet zone's identity in the store.
pub const CLEARNET: &str = "clearnet";

/// The clearnet identity: loaded, or created on first start.
pub fn clearnet(data_dir: &Path) -> Result<(Identity, Origin), StoreError> {
    KeyStore::open(store_dir(data_dir))?.load_or_create(CLEARNET)
}

/// Rebuilds the clearnet identity from its backup words.
pub fn restore_clearnet(data_dir: &Path, words: &str) -> Result<Identity, StoreError> {
    KeyStore::open(store_dir(data_dir))?.restore(CLEARNET, words)
}
