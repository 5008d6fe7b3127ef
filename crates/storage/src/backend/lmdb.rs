//! The LMDB engine (through heed): a directory, `<data dir>/chain-lmdb/` (`data.mdb`,
//! `lock.mdb`).
//!
//! Each [`Table`] is a named LMDB database of byte keys and values. The environment is
//! opened with LMDB's default flags, so every commit is synced to disk before it returns.
//! The map size (the most the file may grow to) is set at open; on 64-bit systems it is
//! address space, not memory or disk.

#![allow(
    unsafe_code,
    reason = "opening an LMDB environment is unsafe in heed; see SAFETY below"
)]

use std::{
    ops::Bound,
    path::{Path, PathBuf},
};

use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, RoTxn, RwTxn, types::Bytes};

use super::{ReadTx, Table, Visit, WriteTx};
use crate::StorageError;

/// The environment's directory inside the data directory.
pub(crate) const DIR_NAME: &str = "chain-lmdb";

type Db<'e> = Database<'e, Bytes, Bytes>;

/// An open LMDB environment with every table's handle.
pub(crate) struct LmdbEngine {
    env: Env,
    dbs: [Db<'static>; Table::ALL.len()],
    data_file: PathBuf,
}

/// Errors inside heed's open-and-commit closure.
enum OpenFailure {
    Heed(heed::Error),
    Storage(StorageError),
}

impl From<heed::Error> for OpenFailure {
    fn from(e: heed::Error) -> Self {
        OpenFailure::Heed(e)
    }
}

/// Cannot happen: one handle was collected per table.
fn table_count_error() -> OpenFailure {
    OpenFailure::Storage(StorageError::Engine {
        op: "open tables",
        source: "wrong number of table handles".into(),
    })
}

#[allow(
    clippy::indexing_slicing,
    reason = "Table::index is the enum's discriminant, below Table::ALL.len(), the arrays' length"
)]
fn slot<T>(array: &[T; Table::ALL.len()], table: Table) -> &T {
    &array[table.index()]
}

impl LmdbEngine {
    /// Opens or creates the environment in `<dir>/chain-lmdb`. An environment with none of
    /// the tables gets every table and `init`'s writes in one transaction.
    pub(crate) fn open(
        dir: &Path,
        map_size: usize,
        init: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StorageError>,
    ) -> Result<Self, StorageError> {
        let path = dir.join(DIR_NAME);
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StorageError::Open {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&path).map_err(|e| open_err(Box::new(e)))?;
        let mut options = EnvOpenOptions::new();
        options
            .map_size(map_size)
            .max_dbs(Table::ALL.len() as u32 + 2)
            .max_readers(256);
        // SAFETY: heed marks opening unsafe because the memory map must not be modified
        // behind LMDB's back (by truncating or rewriting the file in this or another
        // process). The directory is private to this database; LMDB's own lock file
        // coordinates processes that open it through LMDB, and nothing in this crate writes
        // to the files directly.
        let env = unsafe { options.open(&path) }.map_err(|e| open_err(Box::new(e)))?;

        let wtxn = env.write_txn().map_err(|e| open_err(Box::new(e)))?;
        let opened = env.create_databases_and_commit(wtxn, |opener, wtxn| {
            let mut found = Vec::with_capacity(Table::ALL.len());
            for table in Table::ALL {
                let db: Option<Db<'_>> = opener
                    .database_options()
                    .types::<Bytes, Bytes>()
                    .name(table.name())
                    .open(wtxn)
                    .map_err(|e| {
                        OpenFailure::Storage(StorageError::NotAChainDatabase {
                            path: path.clone(),
                            reason: format!("table {}: {e}", table.name()),
                        })
                    })?;
                found.push(db);
            }
            let missing: Vec<&str> = Table::ALL
                .iter()
                .zip(&found)
                .filter(|(_, db)| db.is_none())
                .map(|(t, _)| t.name())
                .collect();
            // Named databases are keys of the unnamed one: an environment with none of ours
            // is new only if it has no named database at all (else it is someone else's).
            let unnamed: Option<Db<'_>> = opener
                .database_options()
                .types::<Bytes, Bytes>()
                .open(wtxn)?;
            let empty = match unnamed {
                Some(db) => db.is_empty(wtxn)?,
                None => true,
            };
            if missing.len() == Table::ALL.len() && !empty {
                return Ok(CommitOrAbort::Abort(StorageError::NotAChainDatabase {
                    path: path.clone(),
                    reason: "an LMDB environment with other databases".into(),
                }));
            }
            if missing.len() == Table::ALL.len() {
                // A new environment: create everything and run `init` in this transaction.
                let mut dbs = Vec::with_capacity(Table::ALL.len());
                for table in Table::ALL {
                    dbs.push(
                        opener
                            .database_options()
                            .types::<Bytes, Bytes>()
                            .name(table.name())
                            .create(wtxn)?,
                    );
                }
                let dbs: [Db<'_>; Table::ALL.len()] =
                    dbs.try_into().map_err(|_| table_count_error())?;
                let mut write = LmdbWrite {
                    txn: wtxn,
                    dbs: &dbs,
                };
                init(&mut write).map_err(OpenFailure::Storage)?;
                return Ok(CommitOrAbort::Commit(dbs));
            }
            if let Some(first) = missing.first() {
                return Ok(CommitOrAbort::Abort(StorageError::NotAChainDatabase {
                    path: path.clone(),
                    reason: format!("table {first} is missing"),
                }));
            }
            let dbs: Vec<Db<'_>> = found.into_iter().flatten().collect();
            let dbs: [Db<'_>; Table::ALL.len()] =
                dbs.try_into().map_err(|_| table_count_error())?;
            Ok(CommitOrAbort::Commit(dbs))
        });
        let dbs = match opened {
            Ok(CommitOrAbort::Commit(dbs)) => dbs,
            Ok(CommitOrAbort::Abort(e)) | Err(OpenFailure::Storage(e)) => return Err(e),
            Err(OpenFailure::Heed(e)) => return Err(open_err(Box::new(e))),
        };
        Ok(LmdbEngine {
            env,
            dbs,
            data_file: path.join("data.mdb"),
        })
    }

    /// The environment's data file.
    pub(crate) fn data_file(&self) -> &Path {
        &self.data_file
    }

    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&dyn ReadTx) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let txn = self
            .env
            .read_txn()
            .map_err(|e| StorageError::engine("begin read", e))?;
        let read = LmdbRead {
            txn: &txn,
            dbs: &self.dbs,
        };
        f(&read)
    }

    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&mut dyn WriteTx) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut txn = self
            .env
            .write_txn()
            .map_err(|e| StorageError::engine("begin write", e))?;
        let result = {
            let mut write = LmdbWrite {
                txn: &mut txn,
                dbs: &self.dbs,
            };
            f(&mut write)
        };
        match result {
            Ok(value) => {
                txn.commit()
                    .map_err(|e| StorageError::engine("commit", e))?;
                Ok(value)
            }
            Err(e) => {
                txn.abort();
                Err(e)
            }
        }
    }
}

struct LmdbRead<'a> {
    txn: &'a RoTxn<'a>,
    dbs: &'a [Db<'static>; Table::ALL.len()],
}

fn get_in(
    db: &Db<'_>,
    txn: &RoTxn<'_>,
    key: &[u8],
    f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
) -> Result<bool, StorageError> {
    match db
        .get(txn, key)
        .map_err(|e| StorageError::engine("get", e))?
    {
        Some(value) => {
            f(value)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn scan_in(
    db: &Db<'_>,
    txn: &RoTxn<'_>,
    from: Bound<&[u8]>,
    to: Bound<&[u8]>,
    rev: bool,
    visit: &mut Visit<'_>,
) -> Result<(), StorageError> {
    if super::empty_range(from, to) {
        return Ok(());
    }
    let range = (from, to);
    let mut step = |item: heed::Result<(&[u8], &[u8])>| {
        let (k, v) = item.map_err(|e| StorageError::engine("range", e))?;
        visit(k, v)
    };
    if rev {
        for item in db
            .rev_range(txn, &range)
            .map_err(|e| StorageError::engine("range", e))?
        {
            if !step(item)? {
                break;
            }
        }
    } else {
        for item in db
            .range(txn, &range)
            .map_err(|e| StorageError::engine("range", e))?
        {
            if !step(item)? {
                break;
            }
        }
    }
    Ok(())
}

fn len_in(db: &Db<'_>, txn: &RoTxn<'_>) -> Result<u64, StorageError> {
    db.len(txn).map_err(|e| StorageError::engine("len", e))
}

impl ReadTx for LmdbRead<'_> {
    fn get(
        &self,
        table: Table,
        key: &[u8],
        f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<bool, StorageError> {
        get_in(slot(self.dbs, table), self.txn, key, f)
    }

    fn scan(
        &self,
        table: Table,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        rev: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StorageError> {
        scan_in(slot(self.dbs, table), self.txn, from, to, rev, visit)
    }

    fn len(&self, table: Table) -> Result<u64, StorageError> {
        len_in(slot(self.dbs, table), self.txn)
    }
}

struct LmdbWrite<'a, 'e> {
    txn: &'a mut RwTxn<'e>,
    dbs: &'a [Db<'e>; Table::ALL.len()],
}

impl ReadTx for LmdbWrite<'_, '_> {
    fn get(
        &self,
        table: Table,
        key: &[u8],
        f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<bool, StorageError> {
        get_in(slot(self.dbs, table), self.txn, key, f)
    }

    fn scan(
        &self,
        table: Table,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        rev: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StorageError> {
        scan_in(slot(self.dbs, table), self.txn, from, to, rev, visit)
    }

    fn len(&self, table: Table) -> Result<u64, StorageError> {
        len_in(slot(self.dbs, table), self.txn)
    }
}

impl WriteTx for LmdbWrite<'_, '_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        slot(self.dbs, table)
            .put(self.txn, key, value)
            .map_err(|e| StorageError::engine("put", e))
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StorageError> {
        slot(self.dbs, table)
            .delete(self.txn, key)
            .map_err(|e| StorageError::engine("delete", e))
    }
}
