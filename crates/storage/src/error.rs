//! [`StorageError`]: everything that can go wrong, naming the input it went wrong with.

use std::{fmt, path::PathBuf};

use crate::Hash;

/// A 32-byte hash printed as hex (in errors and logs).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexHash(pub Hash);

impl fmt::Display for HexHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for HexHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error of every storage operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database could not be opened or created at `path`.
    #[error("cannot open the chain database at {path}: {source}")]
    Open {
        /// The database file or directory.
        path: PathBuf,
        /// What the engine or the file system said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file is a database of the engine, but not Umbra's chain database (a table or the
    /// format marker is missing).
    #[error("{path} is not an Umbra chain database: {reason}")]
    NotAChainDatabase {
        /// The database file or directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// The database was written by a newer Umbra with a schema this one does not know.
    #[error(
        "the chain database at {path} has schema version {found}; this build reads up to {supported}"
    )]
    NewerSchema {
        /// The database file or directory.
        path: PathBuf,
        /// The version on disk.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The data directory holds a database of the other engine.
    #[error(
        "the data directory {path} holds a {found} chain database, but {requested} was requested"
    )]
    EngineMismatch {
        /// The data directory.
        path: PathBuf,
        /// The engine whose files are there.
        found: &'static str,
        /// The engine asked for.
        requested: &'static str,
    },
    /// The engine failed during `op` (I/O error, corrupt page, full map, ...).
    #[error("database engine error during {op}: {source}")]
    Engine {
        /// What was being done.
        op: &'static str,
        /// What the engine said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The engine panicked during `op` (seen with damaged files); caught and turned into
    /// this error. Reopen the database, or restore it.
    #[error("the database engine panicked during {op} (a damaged file?): {message}")]
    EnginePanicked {
        /// What was being done.
        op: &'static str,
        /// The panic's message.
        message: String,
    },
    /// A stored record does not decode: the file is damaged or was written by something else.
    #[error("corrupt record in table {table} at key {key}: {what}")]
    Corrupt {
        /// The table's name.
        table: &'static str,
        /// The key, as hex.
        key: String,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A block does not extend the chain at the height it claims.
    #[error("block {hash} claims height {given}, but the next height is {expected}")]
    WrongHeight {
        /// The block's hash.
        hash: HexHash,
        /// The height it was given with.
        given: u64,
        /// The chain's height (the next free height).
        expected: u64,
    },
    /// A block's previous-block hash is not the top of the chain.
    #[error("block {hash} at height {height} builds on {prev}, but the top block is {top}")]
    DoesNotConnect {
        /// The block's hash.
        hash: HexHash,
        /// Its height.
        height: u64,
        /// The previous-block hash it names.
        prev: HexHash,
        /// The actual top (all zeroes for an empty chain).
        top: HexHash,
    },
    /// A block's parts do not agree with each other (transaction list, miner transaction
    /// height, commitments, amounts).
    #[error("block {hash} at height {height} is inconsistent: {what}")]
    InconsistentBlock {
        /// The block's hash.
        hash: HexHash,
        /// Its height.
        height: u64,
        /// What does not agree.
        what: String,
    },
    /// A block's hash is already in the main chain.
    #[error("block {hash} is already stored at height {height}")]
    DuplicateBlock {
        /// The block's hash.
        hash: HexHash,
        /// Where it is.
        height: u64,
    },
    /// A transaction hash is already stored.
    #[error("transaction {tx} is already stored (block {height})")]
    DuplicateTx {
        /// The transaction's hash.
        tx: HexHash,
        /// The height of the block that holds it.
        height: u64,
    },
    /// A key image is already spent.
    #[error("key image {key_image} of transaction {tx} is already spent")]
    KeyImageSpent {
        /// The key image.
        key_image: HexHash,
        /// The transaction spending it again.
        tx: HexHash,
    },
    /// More blocks were asked to be popped than there are above genesis.
    #[error("cannot pop {requested} blocks from a chain of {height} (the genesis block stays)")]
    PopTooDeep {
        /// Blocks asked for.
        requested: u64,
        /// The chain's height.
        height: u64,
    },
    /// An alternative block's parent is neither in the main chain nor an alternative block.
    #[error("alternative block {hash} builds on unknown block {prev}")]
    AltParentUnknown {
        /// The alternative block.
        hash: HexHash,
        /// Its parent.
        prev: HexHash,
    },
    /// An alternative block's height is not its parent's plus one.
    #[error("alternative block {hash} claims height {given}, its parent implies {expected}")]
    AltWrongHeight {
        /// The alternative block.
        hash: HexHash,
        /// The height given.
        given: u64,
        /// The parent's height + 1.
        expected: u64,
    },
    /// The block is already known (main chain or alternative).
    #[error("alternative block {hash} is already stored")]
    AltDuplicate {
        /// The alternative block.
        hash: HexHash,
    },
    /// No alternative block with this hash.
    #[error("no alternative block {hash}")]
    AltUnknown {
        /// The hash asked for.
        hash: HexHash,
    },
    /// A block or transaction blob does not parse.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// What was parsed ("block", "transaction", ...).
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A range query asked for more blocks than [`crate::MAX_RANGE`].
    #[error("range {start}..{end} is longer than {max} blocks")]
    RangeTooLarge {
        /// The range's start.
        start: u64,
        /// The range's end (exclusive).
        end: u64,
        /// The limit.
        max: u64,
    },
    /// The service was called without waiting for `poll_ready`.
    #[error("the storage service was called before it was ready")]
    NotReady,
    /// The storage service's worker (writer thread or read pool) has stopped.
    #[error("the storage service has stopped")]
    ServiceClosed,
}

impl StorageError {
    /// An [`StorageError::Engine`] from any engine error.
    pub(crate) fn engine(
        op: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StorageError::Engine {
            op,
            source: Box::new(source),
        }
    }

    /// A [`StorageError::Corrupt`] for `key` in `table`.
    pub(crate) fn corrupt(table: &'static str, key: &[u8], what: &'static str) -> Self {
        let mut hex = String::with_capacity(key.len() * 2);
        for byte in key {
            hex.push_str(&format!("{byte:02x}"));
        }
        StorageError::Corrupt {
            table,
            key: hex,
            what,
        }
    }
}
