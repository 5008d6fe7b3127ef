//! The format marker and the schema version, in the `meta` table.
//!
//! A new database gets both in the transaction that creates its tables. Opening checks
//! them: no marker means the file is not Umbra's chain database; a schema version above
//! [`SCHEMA_VERSION`] means a newer Umbra wrote it, and it is refused rather than misread.

use std::path::Path;

use crate::{
    StorageError,
    backend::{ReadTx, Table, WriteTx, get_with},
};

/// The schema this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

const FORMAT_KEY: &[u8] = b"format";
const FORMAT: &[u8] = b"umbra-monero-chain";
const VERSION_KEY: &[u8] = b"schema_version";

/// Writes the marker and version into a new database.
pub(crate) fn init(tx: &mut dyn WriteTx) -> Result<(), StorageError> {
    tx.put(Table::Meta, FORMAT_KEY, FORMAT)?;
    tx.put(Table::Meta, VERSION_KEY, &SCHEMA_VERSION.to_le_bytes())
}

/// Checks the marker and version of an opened database.
pub(crate) fn check(tx: &dyn ReadTx, path: &Path) -> Result<(), StorageError> {
    let not_ours = |reason: &str| StorageError::NotAChainDatabase {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let format = get_with(tx, Table::Meta, FORMAT_KEY, |v| Ok(v == FORMAT))?;
    match format {
        None => return Err(not_ours("no format marker")),
        Some(false) => return Err(not_ours("another format marker")),
        Some(true) => {}
    }
    let version = get_with(tx, Table::Meta, VERSION_KEY, |v| {
        let bytes: [u8; 4] = v
            .try_into()
            .map_err(|_| not_ours("malformed schema version"))?;
        Ok(u32::from_le_bytes(bytes))
    })?
    .ok_or_else(|| not_ours("no schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(StorageError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        return Err(not_ours("schema version 0"));
    }
    Ok(())
}

/// Overwrites the schema version (tests of the refusal of newer versions).
#[doc(hidden)]
pub(crate) fn set_version(tx: &mut dyn WriteTx, version: u32) -> Result<(), StorageError> {
    tx.put(Table::Meta, VERSION_KEY, &version.to_le_bytes())
}
