//! A cached regtest chain with real RingCT transactions, built once with monerod and
//! monero-wallet-rpc, and exported as files so consensus, storage and sync tests can use it
//! as test vectors without running monerod.
//!
//! [`ChainFixture::ensure`] returns the cached fixture, building it first if it is missing
//! (12–14 minutes on the shared 2-core machine here; see `docs/chain-fixture.md`). The chain has
//! [`TARGET_TIP_HEIGHT`]` + 1` blocks (genesis included) and 76 RingCT type-6 transactions of
//! many shapes; the [recipe](self#the-recipe) below lists them.
//!
//! # Layout
//!
//! ```text
//! $UMBRA_FIXTURE_DIR (default ~/.cache/umbra-fixtures)/
//!   regtest-chain-r<RECIPE_VERSION>-monerod-<monerod version>/
//!     COMPLETE            completion marker, written last (JSON: recipe, tip)
//!     facts.json          Facts: every block, every transaction, totals, addresses
//!     outputs.json        OutputsFile: every RingCT output by global index
//!     blocks/<height>.bin consensus-serialised blocks (get_block "blob")
//!     txs/<hash>.bin      whole non-coinbase transactions (prunable data included)
//!     monerod/fake/lmdb/  monerod's database (copied by start_monerod)
//!     wallet/fixture(.keys) the wallet that made the transactions (empty password)
//!     logs/               monerod and monero-wallet-rpc logs of the build
//!   regtest-chain-....lock  flock'd while a process builds
//! ```
//!
//! # Guarantees
//!
//! - A dir is used only if its [`COMPLETE_MARKER_NAME`] marker names this recipe version,
//!   facts format and monerod version; a build writes into a temporary dir beside it and
//!   renames it into place after the marker, so a half-built fixture is never used.
//! - Concurrent test binaries do not build twice: the build holds an exclusive `flock`;
//!   others wait (at most [`DEFAULT_LOCK_TIMEOUT`]) and then use the finished fixture.
//! - Every monerod and wallet RPC the build starts is stopped by pid, also on failure.
//!
//! # The recipe
//!
//! See [`recipe`] for the table of heights. In short: coinbase-only blocks, then
//! single transactions spread over blocks, three bursts of 10–12 transactions in one block,
//! spends of non-coinbase outputs (account 1), a sweep with many inputs, 2–15 destinations,
//! subaddresses, an integrated address, height and timestamp unlock times, a transaction in
//! the first block of the second RandomX key (height 2113), and transactions in each of the
//! last 8 blocks.
//!
//! # Example
//!
//! ```no_run
//! use umbra_test_kit::ChainFixture;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fixture = ChainFixture::ensure()?; // instant when cached
//! let facts = fixture.facts();
//! let tip = &facts.blocks[facts.totals.tip_height as usize];
//! let blob = fixture.block_blob(tip.height)?;
//! for tx in fixture.facts().txs_in_block(tip.height) {
//!     let bytes = fixture.tx_blob(&tx.hash)?;
//!     assert_eq!(bytes.len() as u64, tx.blob_size);
//! }
//! // A monerod serving the chain (a private copy of the database):
//! let node = fixture.start_monerod()?;
//! assert_eq!(node.rpc().get_info()?.height, facts.totals.block_count);
//! # let _ = blob; Ok(()) }
//! ```

mod cache;
mod export;
pub mod facts;
pub mod recipe;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use cache::{COMPLETE_MARKER_NAME, DEFAULT_LOCK_TIMEOUT, FIXTURE_DIR_ENV, RECIPE_VERSION};
pub use facts::{
    Addresses, BlockFacts, BuildStats, FACTS_FORMAT, Facts, InputFacts, MinerTxFacts, OutputFacts,
    OutputsFile, Totals, TxFacts, TxTag, absolute_ring,
};
pub use recipe::{TARGET_TIP_HEIGHT, WALLET_FILE_NAME};

use crate::monerod::{Monerod, MonerodBuilder, MonerodError, resolve_monerod_binary};
use crate::rpc::{Hash, RpcError};
use crate::wallet_rpc::{WalletRpc, WalletRpcError, resolve_wallet_binary};

/// `facts.json`.
pub const FACTS_FILE_NAME: &str = "facts.json";
/// `outputs.json`.
pub const OUTPUTS_FILE_NAME: &str = "outputs.json";
/// The dir of block blobs, `blocks/<height>.bin`.
pub const BLOCKS_DIR: &str = "blocks";
/// The dir of transaction blobs, `txs/<hex hash>.bin`.
pub const TXS_DIR: &str = "txs";
/// monerod's data dir inside the fixture (the chain is in `fake/lmdb`).
pub const MONEROD_DIR: &str = "monerod";
/// The wallet dir inside the fixture.
pub const WALLET_DIR: &str = "wallet";
/// The build's logs inside the fixture.
pub const LOGS_DIR: &str = "logs";

/// Largest JSON file the fixture reads (facts.json is about 3 MB).
const MAX_JSON_BYTES: u64 = 512 * 1024 * 1024;

/// Largest blob file the fixture reads.
const MAX_BLOB_BYTES: u64 = 16 * 1024 * 1024;

/// RandomX key epoch (`SEEDHASH_EPOCH_BLOCKS`) and lag (`SEEDHASH_EPOCH_LAG`).
const SEED_EPOCH_BLOCKS: u64 = 2048;
const SEED_EPOCH_LAG: u64 = 64;

/// The height of the block whose hash keys RandomX for the block at `height`: genesis up to
/// height 2048 + 64, then the last multiple of 2048 at least 64 + 1 blocks below. The build
/// checks it against monerod's `get_block_template`.
pub fn randomx_seed_height(height: u64) -> u64 {
    if height <= SEED_EPOCH_BLOCKS + SEED_EPOCH_LAG {
        0
    } else {
        (height - SEED_EPOCH_LAG - 1) & !(SEED_EPOCH_BLOCKS - 1)
    }
}

/// What went wrong with the fixture. Every variant names the file, dir or step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainFixtureError {
    /// Neither `UMBRA_FIXTURE_DIR` nor `HOME` is set.
    #[error("no cache dir: set {FIXTURE_DIR_ENV} or HOME")]
    NoCacheDir,
    /// A file operation failed.
    #[error("could not {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or dir.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A JSON file could not be read or written.
    #[error("bad JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// `--version` of a binary could not be run or parsed.
    #[error("could not learn the version of {binary}: {detail}")]
    Version {
        /// The binary.
        binary: PathBuf,
        /// What happened.
        detail: String,
    },
    /// Another process held the build lock for too long.
    #[error("waited {waited:?} for the build lock {lock}; is another build stuck?")]
    LockTimeout {
        /// The lock file.
        lock: PathBuf,
        /// How long.
        waited: Duration,
    },
    /// A dir that was expected to hold a complete fixture does not.
    #[error(
        "{dir} is not a complete chain fixture of this recipe and monerod (no valid {COMPLETE_MARKER_NAME})"
    )]
    NotComplete {
        /// The dir.
        dir: PathBuf,
    },
    /// monerod could not be started or synchronised.
    #[error(transparent)]
    Monerod(#[from] MonerodError),
    /// monero-wallet-rpc could not be started.
    #[error(transparent)]
    WalletRpc(#[from] WalletRpcError),
    /// An RPC call failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A build step did not have the expected effect.
    #[error("chain fixture recipe: {0}")]
    Recipe(String),
    /// monerod's answers contradict each other (or a transaction came back pruned).
    #[error("chain fixture export: {0}")]
    Inconsistent(String),
    /// The monerod started on the fixture is not at its tip.
    #[error(
        "monerod on the fixture copy reports height {got_height} and top {got_top}, expected {expected_height} and {expected_top}"
    )]
    WrongTip {
        /// Expected `get_info.height` (block count).
        expected_height: u64,
        /// Expected top block hash.
        expected_top: String,
        /// Reported height.
        got_height: u64,
        /// Reported top block hash.
        got_top: String,
    },
}

/// Options for [`ChainFixture::ensure`]; start from [`ChainFixture::options`].
#[derive(Debug, Clone)]
pub struct ChainFixtureOptions {
    cache_root: Option<PathBuf>,
    monerod: Option<PathBuf>,
    wallet_rpc: Option<PathBuf>,
    lock_timeout: Duration,
    rebuild: bool,
}

impl Default for ChainFixtureOptions {
    fn default() -> Self {
        Self {
            cache_root: None,
            monerod: None,
            wallet_rpc: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            rebuild: false,
        }
    }
}

impl ChainFixtureOptions {
    /// The cache root. Default: `$UMBRA_FIXTURE_DIR`, else `$HOME/.cache/umbra-fixtures`.
    pub fn cache_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_root = Some(dir.into());
        self
    }

    /// The monerod binary (default as for [`Monerod`]: `$UMBRA_MONEROD` or the Debian path).
    pub fn monerod_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.monerod = Some(path.into());
        self
    }

    /// The monero-wallet-rpc binary (default as for [`WalletRpc`]).
    pub fn wallet_rpc_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.wallet_rpc = Some(path.into());
        self
    }

    /// How long to wait for another process's build. Default [`DEFAULT_LOCK_TIMEOUT`].
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Build anew even if a complete fixture exists (it is replaced).
    pub fn rebuild(mut self, rebuild: bool) -> Self {
        self.rebuild = rebuild;
        self
    }

    /// Where the fixture of this recipe and monerod lives (runs `monerod --version`; builds
    /// nothing).
    pub fn fixture_dir(&self) -> Result<PathBuf, ChainFixtureError> {
        let (root, name, _) = self.locate()?;
        Ok(root.join(name))
    }

    fn locate(&self) -> Result<(PathBuf, String, String), ChainFixtureError> {
        let root = cache::cache_root(
            self.cache_root.as_deref(),
            std::env::var_os(FIXTURE_DIR_ENV),
            std::env::var_os("HOME"),
        )
        .ok_or(ChainFixtureError::NoCacheDir)?;
        let monerod = resolve_monerod_binary(self.monerod.as_deref());
        let version = cache::binary_version(&monerod)?;
        Ok((root, cache::dir_name(RECIPE_VERSION, &version), version))
    }

    /// Returns the complete fixture, building it first if it is missing (or if
    /// [`ChainFixtureOptions::rebuild`] asked for it).
    pub fn ensure(&self) -> Result<ChainFixture, ChainFixtureError> {
        let (root, name, version) = self.locate()?;
        let dir = root.join(&name);
        if !self.rebuild && cache::is_complete(&dir, &version) {
            return ChainFixture::open(&dir);
        }
        fs::create_dir_all(&root).map_err(|source| ChainFixtureError::Io {
            what: "create the cache dir",
            path: root.clone(),
            source,
        })?;
        let lock =
            cache::BuildLock::acquire(&root.join(format!("{name}.lock")), self.lock_timeout)?;
        // Someone else may have finished it while we waited.
        if !self.rebuild && cache::is_complete(&dir, &version) {
            drop(lock);
            return ChainFixture::open(&dir);
        }
        cache::remove_stale_builds(&root, &name);
        let temp = cache::temp_build_dir(&root, &name);
        tracing::info!(dir = %dir.display(), build = %temp.display(), "building the chain fixture");
        let built = self.build(&temp, &version);
        if let Err(error) = built {
            tracing::error!(build = %temp.display(), %error, "chain fixture build failed; its dir is kept until the next build");
            return Err(error);
        }
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|source| ChainFixtureError::Io {
                what: "remove the old fixture",
                path: dir.clone(),
                source,
            })?;
        }
        fs::rename(&temp, &dir).map_err(|source| ChainFixtureError::Io {
            what: "rename the finished build into place at",
            path: dir.clone(),
            source,
        })?;
        cache::sync_dir(&root).map_err(|source| ChainFixtureError::Io {
            what: "sync",
            path: root.clone(),
            source,
        })?;
        drop(lock);
        ChainFixture::open(&dir)
    }

    /// Builds the fixture into `temp` (which must not exist), marker last.
    fn build(&self, temp: &Path, monerod_version: &str) -> Result<(), ChainFixtureError> {
        let started = Instant::now();
        let io = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| ChainFixtureError::Io { what, path, source }
        };
        fs::create_dir_all(temp).map_err(io("create", temp))?;
        let wallet_binary = resolve_wallet_binary(self.wallet_rpc.as_deref());
        let wallet_version = cache::binary_version(&wallet_binary)?;
        let monerod_dir = temp.join(MONEROD_DIR);
        let wallet_dir = temp.join(WALLET_DIR);
        let node = Monerod::builder()
            .binary(resolve_monerod_binary(self.monerod.as_deref()))
            .keep_data_dir(&monerod_dir)
            .start()?;
        let wallet = WalletRpc::builder(node.rpc_addr())
            .binary(&wallet_binary)
            .wallet_dir(&wallet_dir)
            .start()?;
        let outcome = recipe::run(&node, &wallet)?;
        // The wallet is done; stop it before the export so its refresh does not compete.
        wallet.stop()?;

        let export_started = Instant::now();
        let exported = export::export(node.rpc(), temp, &outcome.notes)?;
        node.stop()?;
        let export_ms = millis(export_started.elapsed());

        let logs = temp.join(LOGS_DIR);
        fs::create_dir_all(&logs).map_err(io("create", &logs))?;
        for (dir, name) in [
            (&monerod_dir, crate::monerod::LOG_FILE_NAME),
            (&monerod_dir, "bitmonero.log"),
            (&wallet_dir, crate::wallet_rpc::WALLET_LOG_FILE_NAME),
            (&wallet_dir, crate::wallet_rpc::WALLET_OWN_LOG_FILE_NAME),
        ] {
            let from = dir.join(name);
            if from.exists() {
                fs::rename(&from, logs.join(name)).map_err(io("move", &from))?;
            }
        }

        let facts = Facts {
            format: FACTS_FORMAT,
            recipe_version: RECIPE_VERSION,
            monerod_version: monerod_version.to_owned(),
            wallet_rpc_version: wallet_version,
            created_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            build: BuildStats {
                total_ms: millis(started.elapsed()),
                mining_ms: millis(outcome.mining),
                wallet_ms: millis(outcome.wallet),
                export_ms,
            },
            addresses: outcome.addresses,
            totals: exported.totals,
            blocks: exported.blocks,
            txs: exported.txs,
        };
        write_json(&temp.join(FACTS_FILE_NAME), &facts)?;
        write_json(&temp.join(OUTPUTS_FILE_NAME), &exported.outputs)?;
        cache::write_marker(
            temp,
            &cache::Marker {
                recipe_version: RECIPE_VERSION,
                facts_format: FACTS_FORMAT,
                monerod_version: monerod_version.to_owned(),
                tip_height: facts.totals.tip_height,
                tip_hash: hex::encode(facts.totals.tip_hash),
            },
        )
        .map_err(io("write the marker in", temp))?;
        tracing::info!(
            seconds = started.elapsed().as_secs(),
            tip = facts.totals.tip_height,
            txs = facts.totals.tx_count,
            "chain fixture built"
        );
        Ok(())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ChainFixtureError> {
    let text = serde_json::to_vec_pretty(value).map_err(|source| ChainFixtureError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    fs::write(path, text).map_err(|source| ChainFixtureError::Io {
        what: "write",
        path: path.to_path_buf(),
        source,
    })
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ChainFixtureError> {
    let io = |source| ChainFixtureError::Io {
        what: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        )));
    }
    Ok(bytes)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ChainFixtureError> {
    let bytes = read_limited(path, MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|source| ChainFixtureError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// A complete, cached regtest chain fixture: its dir and its parsed `facts.json`.
///
/// Cheap to clone (the facts are shared).
#[derive(Debug, Clone)]
pub struct ChainFixture {
    dir: PathBuf,
    facts: Arc<Facts>,
}

impl ChainFixture {
    /// The cached fixture with the default options, built first if missing.
    pub fn ensure() -> Result<Self, ChainFixtureError> {
        ChainFixtureOptions::default().ensure()
    }

    /// Options (cache dir, binaries, rebuild).
    pub fn options() -> ChainFixtureOptions {
        ChainFixtureOptions::default()
    }

    /// Opens the fixture in `dir`, which must carry a completion marker of this recipe and
    /// facts format (any monerod version).
    pub fn open(dir: &Path) -> Result<Self, ChainFixtureError> {
        let marker = cache::read_marker(dir)
            .filter(|m| m.recipe_version == RECIPE_VERSION && m.facts_format == FACTS_FORMAT);
        if marker.is_none() {
            return Err(ChainFixtureError::NotComplete {
                dir: dir.to_path_buf(),
            });
        }
        let facts: Facts = read_json(&dir.join(FACTS_FILE_NAME))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            facts: Arc::new(facts),
        })
    }

    /// The fixture dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `facts.json`.
    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Height of the top block.
    pub fn tip_height(&self) -> u64 {
        self.facts.totals.tip_height
    }

    /// Path of the block blob at `height`.
    pub fn block_path(&self, height: u64) -> PathBuf {
        self.dir.join(BLOCKS_DIR).join(format!("{height}.bin"))
    }

    /// Path of the transaction blob with this hash.
    pub fn tx_path(&self, hash: &Hash) -> PathBuf {
        self.dir
            .join(TXS_DIR)
            .join(format!("{}.bin", hex::encode(hash)))
    }

    /// The consensus-serialised block at `height` (header, coinbase, transaction hashes).
    pub fn block_blob(&self, height: u64) -> Result<Vec<u8>, ChainFixtureError> {
        read_limited(&self.block_path(height), MAX_BLOB_BYTES)
    }

    /// The whole serialised non-coinbase transaction with this hash (prunable data
    /// included).
    pub fn tx_blob(&self, hash: &Hash) -> Result<Vec<u8>, ChainFixtureError> {
        read_limited(&self.tx_path(hash), MAX_BLOB_BYTES)
    }

    /// Parses `outputs.json`: every RingCT output by global index.
    pub fn outputs(&self) -> Result<OutputsFile, ChainFixtureError> {
        read_json(&self.dir.join(OUTPUTS_FILE_NAME))
    }

    /// The RingCT outputs of `outputs.json` as a map (shortcut for `outputs()?.outputs`).
    pub fn output_map(&self) -> Result<BTreeMap<u64, OutputFacts>, ChainFixtureError> {
        self.outputs().map(|o| o.outputs)
    }

    /// monerod's data dir of the fixture. Do not start monerod on it directly (monerod
    /// writes to its data dir); use [`ChainFixture::start_monerod`].
    pub fn monerod_data_dir(&self) -> PathBuf {
        self.dir.join(MONEROD_DIR)
    }

    /// The dir holding the wallet [`WALLET_FILE_NAME`] (empty password) that made the
    /// transactions. Copy it before opening it with a wallet RPC.
    pub fn wallet_dir(&self) -> PathBuf {
        self.dir.join(WALLET_DIR)
    }

    /// Starts a monerod (default options) on a private temporary copy of the fixture's
    /// database, and checks that it is at the fixture's tip. The copy is deleted when the
    /// [`Monerod`] is dropped.
    ///
    /// Like every monerod restarted on a kept chain it answers BUSY to `generateblocks`
    /// until a peer at its height handshakes ([`Monerod::make_synchronized`] syncs a helper
    /// first: about 25 s for this chain); serving the chain to a syncing peer works at once.
    pub fn start_monerod(&self) -> Result<Monerod, ChainFixtureError> {
        self.start_monerod_with(Monerod::builder())
    }

    /// [`ChainFixture::start_monerod`] with a builder of the caller's (binary, exclusive
    /// node, log level, ...); its data dir choice is replaced by the copy.
    pub fn start_monerod_with(
        &self,
        builder: MonerodBuilder,
    ) -> Result<Monerod, ChainFixtureError> {
        let copy = tempfile::Builder::new()
            .prefix("umbra-fixture-monerod-")
            .tempdir()
            .map_err(|source| ChainFixtureError::Io {
                what: "create a temporary dir for",
                path: PathBuf::from("a monerod data dir copy"),
                source,
            })?;
        let from = self.monerod_data_dir().join("fake");
        copy_dir(&from, &copy.path().join("fake"))?;
        let node = builder.keep_chain_in_temp_dir(copy).start()?;
        let info = node.rpc().get_info()?;
        let expected_height = self.facts.totals.block_count;
        if info.height != expected_height || info.top_block_hash != self.facts.totals.tip_hash {
            return Err(ChainFixtureError::WrongTip {
                expected_height,
                expected_top: hex::encode(self.facts.totals.tip_hash),
                got_height: info.height,
                got_top: hex::encode(info.top_block_hash),
            });
        }
        Ok(node)
    }
}

/// Copies the regular files of `from` into `to`, recursively (LMDB's `lock.mdb` is
/// skipped: monerod makes a fresh one).
fn copy_dir(from: &Path, to: &Path) -> Result<(), ChainFixtureError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ChainFixtureError::Io { what, path, source }
    };
    fs::create_dir_all(to).map_err(io("create", to))?;
    for entry in fs::read_dir(from).map_err(io("list", from))? {
        let entry = entry.map_err(io("list", from))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io("inspect", &path))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&path, &target)?;
        } else if kind.is_file() && entry.file_name() != "lock.mdb" {
            fs::copy(&path, &target).map_err(io("copy", &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_heights_follow_the_randomx_epochs() {
        assert_eq!(randomx_seed_height(0), 0);
        assert_eq!(randomx_seed_height(2112), 0);
        assert_eq!(randomx_seed_height(2113), 2048);
        assert_eq!(randomx_seed_height(4160), 2048);
        assert_eq!(randomx_seed_height(4161), 4096);
    }

    #[test]
    fn opening_a_dir_without_a_marker_fails() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FACTS_FILE_NAME), "{}").unwrap();
        let err = ChainFixture::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, ChainFixtureError::NotComplete { .. }),
            "{err}"
        );
    }

    #[test]
    fn copies_a_tree_without_the_lmdb_lock() {
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("lmdb")).unwrap();
        fs::write(from.path().join("lmdb/data.mdb"), b"data").unwrap();
        fs::write(from.path().join("lmdb/lock.mdb"), b"lock").unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_dir(from.path(), &to.path().join("x")).unwrap();
        assert_eq!(
            fs::read(to.path().join("x/lmdb/data.mdb")).unwrap(),
            b"data"
        );
        assert!(!to.path().join("x/lmdb/lock.mdb").exists());
    }

    #[test]
    fn oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        fs::write(&path, vec![0u8; 10]).unwrap();
        assert_eq!(read_limited(&path, 10).unwrap().len(), 10);
        let err = read_limited(&path, 9).unwrap_err();
        assert!(err.to_string().contains("larger than 9 bytes"), "{err}");
    }
}
