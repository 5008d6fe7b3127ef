//! Umbra's Monero chain database: blocks, transactions, outputs, spent key images and
//! alternative chains in an embedded engine, reached through a `tower::Service` with a
//! read pool and a single writer.
//!
//! # Where this sits
//!
//! ```text
//!  block downloader ─▶ consensus (verifies) ── WriteRequest::WriteBlock(VerifiedBlock) ─▶ WriteHandle ─▶ writer thread ─┐
//!                          │                                                                                            │ one write
//!                          └──── ReadRequest (windows of block metadata, ring members, key images) ─▶ ReadHandle ─┐  │ transaction
//!  p2p server (chain history, GET_OBJECTS), rpc ──── ReadRequest ──────────────────────────────────────▶ (pool)    │  │ per request
//!                                                                                                                  ▼  ▼
//!                                                             Storage (synchronous API) ─▶ <data_dir>/chain.redb (or chain-lmdb/)
//! ```
//!
//! [`Storage`] is the open database with a plain synchronous API ([`Storage::read`] gives
//! a [`Snapshot`] with every query; `write_block`, `write_blocks`, `pop_blocks`, the alt
//! chain operations). [`open_service`] (or [`start`]) puts it behind two
//! `tower::Service`s: [`ReadHandle`] (`Service<ReadRequest>`, a bounded rayon pool) and
//! [`WriteHandle`] (`Service<WriteRequest>`, one writer thread behind a bounded queue).
//! [`ChainRead`] and [`ChainWrite`] name their bounds.
//!
//! # What is stored
//!
//! Per main-chain block: its blob, its hash ↔ height, and a fixed-size [`BlockInfo`]
//! (timestamp, cumulative difficulty as `u128`, weight, long-term weight, generated coins,
//! versions and vote, cumulative RingCT output count, blob size) that range queries read
//! in one scan. Per transaction (the miner transaction included): its blob, hash →
//! [`TxLocation`], and its outputs' indices. Outputs: RingCT outputs (every output of a
//! version-2 transaction; those of miner transactions with commitment `zeroCommit(amount)`)
//! by global index, pre-RingCT outputs by amount and index, each as an [`OutputInfo`].
//! Spent key images. Alternative blocks with their transactions, by hash and by chain.
//! The layouts are listed [below](crate#layouts), the schema version is [`SCHEMA_VERSION`].
//!
//! What a block adds is derived here, not trusted from the caller: the storage assigns
//! output indices and transaction numbers, reads key images and commitments from the
//! parsed transactions, and refuses a block that does not connect (height, previous hash),
//! repeats a transaction or a key image, or whose transaction list disagrees with the
//! transactions given — an error, never a silent write.
//!
//! # Guarantees
//!
//! - **Atomic, durable blocks.** Each write request is one engine transaction, committed
//!   with an fsync before the call returns. A crash at any moment leaves the database as
//!   of the last committed request: every block in it complete (metadata, transactions,
//!   outputs, key images), nothing of a block whose commit did not finish.
//!   `tests/crash.rs` kills a writing process at random moments and checks this with
//!   [`Storage::check_integrity`].
//! - **Batches.** [`Storage::write_blocks`] stores several blocks in one transaction (one
//!   commit): all of them or none.
//! - **Pops are exact.** [`Storage::pop_blocks`] removes exactly what the blocks added
//!   and returns them for re-use (e.g. as alternative blocks during a reorg).
//! - **Concurrency.** Readers see a consistent snapshot and never block the writer nor
//!   each other (both engines are MVCC B-trees). There is one writer.
//! - **Bad files.** A file that is not the engine's, a database of another program, a
//!   newer schema, or the other engine's files give a [`StorageError`] naming the path,
//!   not a panic; a record that does not decode is [`StorageError::Corrupt`]; a panic of
//!   the engine on a damaged file is caught and is [`StorageError::EnginePanicked`].
//!
//! # Engines
//!
//! [redb](https://docs.rs/redb) (pure Rust, the default, with quick repair: two-phase
//! commits and an immediate reopen after a crash) and LMDB through
//! [heed](https://docs.rs/heed) (feature `lmdb`, builds LMDB's C code), behind one
//! internal byte-level interface so that the whole schema runs on both. Why redb is the
//! default, with the measurements (`benches/storage-bench`), is in `docs/storage.md`.
//!
//! # Example
//!
//! ```
//! use umbra_storage::{Storage, StorageConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let storage = Storage::open(&StorageConfig::new(dir.path()))?;
//! assert_eq!(storage.read(|chain| chain.chain_height())?, 0);
//!
//! // A block verified by consensus would be written with `storage.write_block(&block)`;
//! // here, the empty chain's history and answer to a peer:
//! assert!(storage.read(|chain| chain.short_chain_history())?.is_empty());
//! assert_eq!(storage.read(|chain| chain.chain_supplement(&[[0; 32]], 100))?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layouts
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | name | format marker, schema version |
//! | `block_info` | height | [`BlockInfo`] without the height (122 bytes) |
//! | `block_heights` | block hash | height |
//! | `block_blobs` | height | block blob |
//! | `tx_ids` | tx hash | [`TxLocation`] |
//! | `tx_blobs` | tx index | tx hash, tx blob |
//! | `tx_outputs` | tx index | each output's index within its amount |
//! | `rct_outputs` | global index | [`OutputInfo`] (with commitment) |
//! | `pre_rct_outputs` | amount, index | [`OutputInfo`] (no commitment) |
//! | `amount_counts` | amount | number of pre-RingCT outputs of that amount |
//! | `key_images` | key image | (empty) |
//! | `alt_blocks` | block hash | [`AltBlock`] |
//! | `alt_chains` | chain id, block hash | (empty) |
//!
//! Numbers in keys are big-endian so that key order is numeric order; numbers in values
//! are little-endian.

mod backend;
mod codec;
mod config;
mod derive;
mod error;
pub mod history;
mod integrity;
mod read;
mod schema;
mod service;
mod storage;
pub mod synthetic;
mod types;
mod write;

pub use backend::FileSize;
#[doc(hidden)]
pub use codec::fuzz_records;
pub use config::{EngineKind, StorageConfig};
pub use derive::{parse_block_blob, zero_commit};
pub use error::{HexHash, StorageError};
pub use read::{MAX_RANGE, Snapshot};
pub use schema::SCHEMA_VERSION;
pub use service::{
    ChainRead, ChainWrite, ReadHandle, ReadRequest, ReadResponse, ResponseFuture, WriteHandle,
    WriteRequest, WriteResponse, open_service, start,
};
pub use storage::Storage;
pub use types::{
    AltBlock, AltChain, BlockEntry, BlockInfo, BlockLocation, ChainSupplement, Hash,
    IntegrityReport, NewAltBlock, OutputId, OutputInfo, PoppedBlock, TxBlob, TxEntry, TxLocation,
    VerifiedBlock, VerifiedTx,
};
