//! The redb engine: one file, `<data dir>/chain.redb`.
//!
//! Each [`Table`] is a redb table of `&[u8]` keys and values. Commits use redb's default
//! durability (`Immediate`: the commit has reached the disk when `commit` returns): by
//! default one fsync per commit, with checksums deciding after a crash which of the two
//! commit slots is valid, and a full repair (checksums and allocator rebuilt over the
//! whole file) on the first open after a crash. With `redb_quick_repair` (the default)
//! each commit also saves the allocator state and commits in two phases (two fsyncs), and
//! that open is immediate.

use std::{
    cell::OnceCell,
    ops::Bound,
    path::{Path, PathBuf},
};

use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, TableError, TableHandle,
};

use super::{ReadTx, Table, Visit, WriteTx};
use crate::StorageError;

/// The database file's name inside the data directory.
pub(crate) const FILE_NAME: &str = "chain.redb";

type Bytes = &'static [u8];

const fn def(table: Table) -> TableDefinition<'static, Bytes, Bytes> {
    TableDefinition::new(table.name())
}

/// The slot of `table` in a per-table array.
#[allow(
    clippy::indexing_slicing,
    reason = "Table::index is the enum's discriminant, below Table::ALL.len(), the arrays' length"
)]
fn slot<T>(array: &[T; Table::ALL.len()], table: Table) -> &T {
    &array[table.index()]
}

/// An open redb database.
pub(crate) struct RedbEngine {
    db: Database,
    path: PathBuf,
    quick_repair: bool,
}

impl RedbEngine {
    /// Opens or creates `<dir>/chain.redb`. A file with none of the tables (new, or created
    /// by a process that died before its first commit) gets every table and `init`'s
    /// writes in one transaction.
    pub(crate) fn open(
        dir: &Path,
        quick_repair: bool,
        init: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StorageError>,
    ) -> Result<Self, StorageError> {
        let path = dir.join(FILE_NAME);
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StorageError::Open {
            path: path.clone(),
            source,
        };
        let db = Database::builder()
            .create(&path)
            .map_err(|e| open_err(Box::new(e)))?;
        let engine = RedbEngine {
            db,
            path: path.clone(),
            quick_repair,
        };

        let present: Vec<String> = {
            let txn = engine.db.begin_read().map_err(|e| open_err(Box::new(e)))?;
            let tables = txn.list_tables().map_err(|e| open_err(Box::new(e)))?;
            tables.map(|t| t.name().to_owned()).collect()
        };
        if present.is_empty() {
            engine.write(|tx| init(tx))?;
            return Ok(engine);
        }
        // Every table must be there, with our key and value types.
        let txn = engine.db.begin_read().map_err(|e| open_err(Box::new(e)))?;
        for table in Table::ALL {
            match txn.open_table(def(table)) {
                Ok(_) => {}
                Err(TableError::TableDoesNotExist(_)) => {
                    return Err(StorageError::NotAChainDatabase {
                        path,
                        reason: format!("table {} is missing", table.name()),
                    });
                }
                Err(
                    e @ (TableError::TableTypeMismatch { .. } | TableError::TableIsMultimap(_)),
                ) => {
                    return Err(StorageError::NotAChainDatabase {
                        path,
                        reason: format!("table {}: {e}", table.name()),
                    });
                }
                Err(e) => return Err(open_err(Box::new(e))),
            }
        }
        Ok(engine)
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&dyn ReadTx) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| StorageError::engine("begin read", e))?;
        let read = RedbRead {
            txn,
            tables: Default::default(),
        };
        f(&read)
    }

    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&mut dyn WriteTx) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| StorageError::engine("begin write", e))?;
        txn.set_quick_repair(self.quick_repair);
        let result = {
            let mut tables = Vec::with_capacity(Table::ALL.len());
            for table in Table::ALL {
                tables.push(
                    txn.open_table(def(table))
                        .map_err(|e| StorageError::engine("open table", e))?,
                );
            }
            let mut write = RedbWrite { tables };
            f(&mut write)
        };
        match result {
            Ok(value) => {
                txn.commit()
                    .map_err(|e| StorageError::engine("commit", e))?;
                Ok(value)
            }
            Err(e) => {
                txn.abort().map_err(|e| StorageError::engine("abort", e))?;
                Err(e)
            }
        }
    }
}

/// A read snapshot; tables are opened on first use.
struct RedbRead {
    txn: ReadTransaction,
    tables: [OnceCell<ReadOnlyTable<Bytes, Bytes>>; Table::ALL.len()],
}

impl RedbRead {
    fn table(&self, table: Table) -> Result<&ReadOnlyTable<Bytes, Bytes>, StorageError> {
        let cell = slot(&self.tables, table);
        if let Some(open) = cell.get() {
            return Ok(open);
        }
        let open = self
            .txn
            .open_table(def(table))
            .map_err(|e| StorageError::engine("open table", e))?;
        Ok(cell.get_or_init(|| open))
    }
}

fn get_in<T: ReadableTable<Bytes, Bytes>>(
    table: &T,
    key: &[u8],
    f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
) -> Result<bool, StorageError> {
    match table.get(key).map_err(|e| StorageError::engine("get", e))? {
        Some(guard) => {
            f(guard.value())?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn scan_in<T: ReadableTable<Bytes, Bytes>>(
    table: &T,
    from: Bound<&[u8]>,
    to: Bound<&[u8]>,
    rev: bool,
    visit: &mut Visit<'_>,
) -> Result<(), StorageError> {
    if super::empty_range(from, to) {
        return Ok(());
    }
    let range = table
        .range::<&[u8]>((from, to))
        .map_err(|e| StorageError::engine("range", e))?;
    let mut step = |item: Result<
        (redb::AccessGuard<'_, Bytes>, redb::AccessGuard<'_, Bytes>),
        redb::StorageError,
    >| {
        let (k, v) = item.map_err(|e| StorageError::engine("range", e))?;
        visit(k.value(), v.value())
    };
    if rev {
        for item in range.rev() {
            if !step(item)? {
                break;
            }
        }
    } else {
        for item in range {
            if !step(item)? {
                break;
            }
        }
    }
    Ok(())
}

impl ReadTx for RedbRead {
    fn get(
        &self,
        table: Table,
        key: &[u8],
        f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<bool, StorageError> {
        get_in(self.table(table)?, key, f)
    }

    fn scan(
        &self,
        table: Table,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        rev: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StorageError> {
        scan_in(self.table(table)?, from, to, rev, visit)
    }

    fn len(&self, table: Table) -> Result<u64, StorageError> {
        self.table(table)?
            .len()
            .map_err(|e| StorageError::engine("len", e))
    }
}

/// A write transaction's open tables (one per [`Table`], in [`Table::ALL`] order).
struct RedbWrite<'t> {
    tables: Vec<redb::Table<'t, Bytes, Bytes>>,
}

impl<'t> RedbWrite<'t> {
    fn table(&self, table: Table) -> Result<&redb::Table<'t, Bytes, Bytes>, StorageError> {
        self.tables.get(table.index()).ok_or(StorageError::Engine {
            op: "open table",
            source: format!("table {} not open", table.name()).into(),
        })
    }

    fn table_mut(
        &mut self,
        table: Table,
    ) -> Result<&mut redb::Table<'t, Bytes, Bytes>, StorageError> {
        self.tables
            .get_mut(table.index())
            .ok_or(StorageError::Engine {
                op: "open table",
                source: format!("table {} not open", table.name()).into(),
            })
    }
}

impl ReadTx for RedbWrite<'_> {
    fn get(
        &self,
        table: Table,
        key: &[u8],
        f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<bool, StorageError> {
        get_in(self.table(table)?, key, f)
    }

    fn scan(
        &self,
        table: Table,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        rev: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StorageError> {
        scan_in(self.table(table)?, from, to, rev, visit)
    }

    fn len(&self, table: Table) -> Result<u64, StorageError> {
        self.table(table)?
            .len()
            .map_err(|e| StorageError::engine("len", e))
    }
}

impl WriteTx for RedbWrite<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.table_mut(table)?
            .insert(key, value)
            .map_err(|e| StorageError::engine("insert", e))?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StorageError> {
        let removed = self
            .table_mut(table)?
            .remove(key)
            .map_err(|e| StorageError::engine("remove", e))?;
        Ok(removed.is_some())
    }
}
