//! Starting and always stopping a real `monero-wallet-rpc` on 127.0.0.1 against a test
//! monerod, with typed calls for making transactions.
//!
//! The command line is (DESIGN.md, "Facts for building a regtest chain"):
//!
//! ```text
//! monero-wallet-rpc --daemon-address 127.0.0.1:R --trusted-daemon --daemon-ssl disabled
//!     --rpc-bind-ip 127.0.0.1 --rpc-bind-port W --disable-rpc-login --rpc-ssl disabled
//!     --wallet-dir D --shared-ringdb-dir D2 --non-interactive --log-file D/monero-wallet-rpc.log
//! ```
//!
//! `--log-file` is the kit's addition: without it monero-wallet-rpc 0.18 writes
//! `monero-wallet-rpc.log` into the current directory. Its stdout and stderr go to
//! [`WALLET_LOG_FILE_NAME`] in the wallet dir. The ring database (`D2`) lives in a temporary
//! dir of its own, deleted with the [`WalletRpc`].
//!
//! Observed with monero-wallet-rpc 0.18.0.0: ready (answers `get_version`) about 1 s after the
//! spawn; `restore_deterministic_wallet` takes about 6 s (key derivation), `refresh` of a few
//! hundred regtest blocks well under a second, a `transfer` about 0.5–1 s. A port that is
//! taken makes it log `Failed to bind` and exit with status 1 within a second; the kit then
//! retries with a fresh port. It answers JSON-RPC without a `status` field in `result`, so its
//! [`RpcClient`] does not check one. A `transfer` on a chain with fewer than 16 unlocked
//! outputs fails with `-19 "not enough outputs to use"` (no decoys for a ring of 16): on a
//! coinbase-only regtest chain, mine about 100 blocks first. monerod mines a transaction it
//! got over RPC only after relaying it ([`PoolTransaction::relayed`](crate::PoolTransaction)).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::monerod::{
    BIND_FAILURE_MARKER, keep_dirs_requested, log_excerpt, open_attempt_log, read_from,
};
use crate::ports;
use crate::process::{self, ChildGuard};
use crate::rpc::{Hash, RpcClient, RpcError};

/// Where the kit looks for monero-wallet-rpc when neither [`WalletRpcBuilder::binary`] nor
/// `UMBRA_MONERO_WALLET_RPC` names one (the Debian package installs it here).
pub const DEFAULT_WALLET_RPC_PATH: &str = "/usr/bin/monero-wallet-rpc";

/// Environment variable naming the monero-wallet-rpc binary to run.
pub const WALLET_RPC_ENV: &str = "UMBRA_MONERO_WALLET_RPC";

/// Name of the file, in the wallet dir, that receives monero-wallet-rpc's stdout and stderr.
pub const WALLET_LOG_FILE_NAME: &str = "monero-wallet-rpc-output.log";

/// Name of the log file monero-wallet-rpc writes itself (`--log-file`), in the wallet dir.
pub const WALLET_OWN_LOG_FILE_NAME: &str = "monero-wallet-rpc.log";

/// The mnemonic seed of the wallet Monero's own functional tests use; its primary address is
/// [`MINING_ADDRESS`](crate::MINING_ADDRESS) (DESIGN.md).
pub const TEST_WALLET_SEED: &str = "velvet lymph giddy number token physics poetry unquoted nibs useful sabotage limits benches lifestyle eden nitrogen anvil fewest avoid batch vials washing fences goat unquoted";

/// Default bound on start-up (until `get_version` answers).
pub const DEFAULT_WALLET_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Default grace between `SIGTERM` and `SIGKILL` when stopping.
pub const DEFAULT_WALLET_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Start attempts with fresh ports when the RPC port turns out to be taken.
const PORT_ATTEMPTS: u32 = 5;

/// Bound on one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Bound on one wallet call once started (restoring and sweeping take seconds).
const WALLET_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a monero-wallet-rpc could not be started or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletRpcError {
    /// The wallet dir or the ring database dir could not be created.
    #[error("could not create the wallet dir {path}: {source}")]
    Dir {
        /// The dir (empty for a temporary dir that could not be created).
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A free loopback port could not be found.
    #[error("could not pick a free 127.0.0.1 port for monero-wallet-rpc: {0}")]
    Ports(#[source] io::Error),
    /// The log file could not be opened.
    #[error("could not open monero-wallet-rpc's log file {path}: {source}")]
    LogFile {
        /// The log file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The binary could not be executed.
    #[error("could not run {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// It exited before it was ready.
    #[error(
        "monero-wallet-rpc exited during start-up ({status}) on attempt {attempt}; log {log}:\n{log_excerpt}"
    )]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Which start attempt this was.
        attempt: u32,
        /// The log file.
        log: PathBuf,
        /// Error lines and the tail of the log.
        log_excerpt: String,
    },
    /// It kept running but did not answer in time; it has been stopped.
    #[error("monero-wallet-rpc did not answer within {timeout:?}; log {log}:\n{log_excerpt}")]
    StartTimeout {
        /// The bound.
        timeout: Duration,
        /// The log file.
        log: PathBuf,
        /// Error lines and the tail of the log.
        log_excerpt: String,
    },
    /// Waiting for or signalling the child failed.
    #[error("could not control the monero-wallet-rpc process {pid}: {source}")]
    Process {
        /// The child's pid.
        pid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Options for starting a [`WalletRpc`]; see [`WalletRpc::builder`].
#[derive(Debug, Clone)]
pub struct WalletRpcBuilder {
    daemon: SocketAddr,
    binary: Option<PathBuf>,
    wallet_dir: Option<PathBuf>,
    start_timeout: Duration,
    stop_timeout: Duration,
}

impl WalletRpcBuilder {
    /// The monero-wallet-rpc binary. Default: `$UMBRA_MONERO_WALLET_RPC`, else
    /// [`DEFAULT_WALLET_RPC_PATH`] if it exists, else `monero-wallet-rpc` from `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Keep wallet files (and logs) in `dir` (created if missing) instead of a temporary dir
    /// deleted on drop.
    pub fn wallet_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.wallet_dir = Some(dir.into());
        self
    }

    /// Bound on start-up. Default [`DEFAULT_WALLET_START_TIMEOUT`].
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Grace between `SIGTERM` and `SIGKILL`. Default [`DEFAULT_WALLET_STOP_TIMEOUT`].
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Starts monero-wallet-rpc and waits until it answers `get_version`.
    pub fn start(self) -> Result<WalletRpc, WalletRpcError> {
        let binary = resolve_wallet_binary(self.binary.as_deref());
        let temp = match &self.wallet_dir {
            Some(_) => None,
            None => Some(temp_dir("umbra-wallet-rpc-")?),
        };
        let wallet_dir = match (&self.wallet_dir, &temp) {
            (Some(dir), _) => dir.clone(),
            (None, Some(temp)) => temp.path().to_path_buf(),
            (None, None) => PathBuf::new(),
        };
        fs::create_dir_all(&wallet_dir).map_err(|source| WalletRpcError::Dir {
            path: wallet_dir.clone(),
            source,
        })?;
        let ringdb = temp_dir("umbra-wallet-ringdb-")?;
        let log_path = wallet_dir.join(WALLET_LOG_FILE_NAME);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = ports::pick_free_ports(1)
                .map_err(WalletRpcError::Ports)?
                .pop()
                .ok_or_else(|| WalletRpcError::Ports(io::Error::other("picked no port")))?;
            let rpc_addr = ports::loopback(port);
            let args = command_args(self.daemon, port, &wallet_dir, ringdb.path());
            let (stdout, stderr, offset) = open_attempt_log(&log_path, attempt, &binary, &args)
                .map_err(|source| WalletRpcError::LogFile {
                    path: log_path.clone(),
                    source,
                })?;
            let mut command = Command::new(&binary);
            command
                .args(&args)
                .current_dir(&wallet_dir)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr);
            let child = process::spawn(command).map_err(|source| WalletRpcError::Spawn {
                binary: binary.clone(),
                source,
            })?;
            let pid = child.id();
            let mut guard = ChildGuard::new(child, "monero-wallet-rpc", self.stop_timeout);
            tracing::debug!(pid, %rpc_addr, attempt, "monero-wallet-rpc spawned");
            match wait_until_ready(&mut guard, rpc_addr, self.start_timeout) {
                Ok(()) => {
                    tracing::info!(pid, %rpc_addr, daemon = %self.daemon, "monero-wallet-rpc ready");
                    return Ok(WalletRpc {
                        guard,
                        rpc_addr,
                        rpc: RpcClient::with_timeout(rpc_addr, WALLET_CALL_TIMEOUT)
                            .without_status_check(),
                        wallet_dir,
                        log_path,
                        _ringdb: ringdb,
                        _temp: temp,
                    });
                }
                Err(Wait::Exited(status)) => {
                    let attempt_log = read_from(&log_path, offset);
                    if attempt_log.contains(BIND_FAILURE_MARKER) && attempt < PORT_ATTEMPTS {
                        tracing::warn!(attempt, %rpc_addr, "monero-wallet-rpc could not bind; retrying");
                        continue;
                    }
                    return Err(WalletRpcError::Exited {
                        status,
                        attempt,
                        log_excerpt: log_excerpt(&log_path, &attempt_log),
                        log: log_path,
                    });
                }
                Err(Wait::Timeout) => {
                    if let Err(error) = guard.stop() {
                        tracing::warn!(pid, %error, "could not stop monero-wallet-rpc");
                    }
                    let attempt_log = read_from(&log_path, offset);
                    return Err(WalletRpcError::StartTimeout {
                        timeout: self.start_timeout,
                        log_excerpt: log_excerpt(&log_path, &attempt_log),
                        log: log_path,
                    });
                }
                Err(Wait::Io(source)) => return Err(WalletRpcError::Process { pid, source }),
            }
        }
    }
}

fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, WalletRpcError> {
    let mut dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|source| WalletRpcError::Dir {
            path: PathBuf::new(),
            source,
        })?;
    if keep_dirs_requested() {
        dir.disable_cleanup(true);
    }
    Ok(dir)
}

/// The binary to run: `explicit`, else `$UMBRA_MONERO_WALLET_RPC`, else the Debian path if it
/// exists, else `monero-wallet-rpc` from `PATH`.
pub(crate) fn resolve_wallet_binary(explicit: Option<&Path>) -> PathBuf {
    if let Some(binary) = explicit {
        return binary.to_path_buf();
    }
    if let Some(binary) = std::env::var_os(WALLET_RPC_ENV).filter(|b| !b.is_empty()) {
        return PathBuf::from(binary);
    }
    let default = Path::new(DEFAULT_WALLET_RPC_PATH);
    if default.exists() {
        default.to_path_buf()
    } else {
        PathBuf::from("monero-wallet-rpc")
    }
}

fn command_args(daemon: SocketAddr, port: u16, wallet_dir: &Path, ringdb: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::with_capacity(24);
    let mut push = |a: &dyn AsRef<std::ffi::OsStr>| args.push(a.as_ref().to_owned());
    push(&"--daemon-address");
    push(&daemon.to_string());
    push(&"--trusted-daemon");
    push(&"--daemon-ssl");
    push(&"disabled");
    push(&"--rpc-bind-ip");
    push(&"127.0.0.1");
    push(&"--rpc-bind-port");
    push(&port.to_string());
    push(&"--disable-rpc-login");
    push(&"--rpc-ssl");
    push(&"disabled");
    push(&"--wallet-dir");
    push(&wallet_dir);
    push(&"--shared-ringdb-dir");
    push(&ringdb);
    push(&"--non-interactive");
    push(&"--log-file");
    push(&wallet_dir.join(WALLET_OWN_LOG_FILE_NAME));
    args
}

enum Wait {
    Exited(ExitStatus),
    Timeout,
    Io(io::Error),
}

fn wait_until_ready(
    guard: &mut ChildGuard,
    rpc_addr: SocketAddr,
    timeout: Duration,
) -> Result<(), Wait> {
    let deadline = Instant::now() + timeout;
    let probe = RpcClient::with_timeout(rpc_addr, PROBE_TIMEOUT).without_status_check();
    loop {
        match guard.try_wait() {
            Ok(Some(status)) => return Err(Wait::Exited(status)),
            Ok(None) => {}
            Err(error) => return Err(Wait::Io(error)),
        }
        // A cheap connect first, so the common "not listening yet" case costs no HTTP error.
        if TcpStream::connect_timeout(&rpc_addr, PROBE_TIMEOUT).is_ok()
            && probe
                .call::<_, serde_json::Value>("get_version", &serde_json::json!({}))
                .is_ok()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Wait::Timeout);
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// A running `monero-wallet-rpc` on 127.0.0.1, stopped (by its pid: `SIGTERM`, then `SIGKILL`
/// after the grace) when dropped; its temporary dirs are deleted after it stopped.
///
/// ```no_run
/// use umbra_test_kit::{MINING_ADDRESS, Monerod, TransferRequest, WalletRpc};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Monerod::start()?;
/// node.make_synchronized(std::time::Duration::from_secs(60))?;
/// // A ring of 16 needs 16 unlocked outputs on the chain; coinbases unlock after 60 blocks.
/// node.mine(100)?;
/// let wallet = WalletRpc::start(node.rpc_addr())?;
/// wallet.restore_test_wallet("w")?;
/// wallet.refresh()?;
/// let sent = wallet.transfer(&TransferRequest::to(MINING_ADDRESS, 1_000_000_000_000))?;
/// node.mine(1)?; // the transaction is in this block
/// # let _ = sent; Ok(()) }
/// ```
#[derive(Debug)]
pub struct WalletRpc {
    guard: ChildGuard,
    rpc_addr: SocketAddr,
    rpc: RpcClient,
    wallet_dir: PathBuf,
    log_path: PathBuf,
    // Dropped after `guard`, so the dirs outlive the process.
    _ringdb: tempfile::TempDir,
    _temp: Option<tempfile::TempDir>,
}

impl WalletRpc {
    /// Options for a wallet RPC server talking to the monerod whose RPC port is `daemon_rpc`.
    pub fn builder(daemon_rpc: SocketAddr) -> WalletRpcBuilder {
        WalletRpcBuilder {
            daemon: daemon_rpc,
            binary: None,
            wallet_dir: None,
            start_timeout: DEFAULT_WALLET_START_TIMEOUT,
            stop_timeout: DEFAULT_WALLET_STOP_TIMEOUT,
        }
    }

    /// Starts one with the default options against `daemon_rpc` (a temporary wallet dir).
    pub fn start(daemon_rpc: SocketAddr) -> Result<Self, WalletRpcError> {
        Self::builder(daemon_rpc).start()
    }

    /// Its RPC address.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// A JSON-RPC client for it (for calls without a typed method here).
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The wallet dir (wallet files and logs).
    pub fn wallet_dir(&self) -> &Path {
        &self.wallet_dir
    }

    /// The file receiving its stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid
    }

    /// Stops it now (what `Drop` does) and returns its exit status.
    pub fn stop(mut self) -> Result<Option<ExitStatus>, WalletRpcError> {
        let pid = self.guard.pid;
        self.guard
            .stop()
            .map_err(|source| WalletRpcError::Process { pid, source })
    }

    /// `restore_deterministic_wallet`: creates wallet `filename` (empty password) in the
    /// wallet dir from an English mnemonic `seed`, scanning from `restore_height`.
    pub fn restore_deterministic_wallet(
        &self,
        filename: &str,
        seed: &str,
        restore_height: u64,
    ) -> Result<RestoredWallet, RpcError> {
        self.rpc.call(
            "restore_deterministic_wallet",
            &serde_json::json!({
                "filename": filename,
                "password": "",
                "seed": seed,
                "restore_height": restore_height,
                "language": "English",
                "autosave_current": true,
            }),
        )
    }

    /// Restores the wallet of [`TEST_WALLET_SEED`] (primary address
    /// [`MINING_ADDRESS`](crate::MINING_ADDRESS)) as `filename`, scanning from genesis.
    pub fn restore_test_wallet(&self, filename: &str) -> Result<RestoredWallet, RpcError> {
        self.restore_deterministic_wallet(filename, TEST_WALLET_SEED, 0)
    }

    /// `refresh`: scans the daemon's new blocks.
    pub fn refresh(&self) -> Result<Refresh, RpcError> {
        self.rpc.call("refresh", &serde_json::json!({}))
    }

    /// `get_balance` of account `account_index`.
    pub fn get_balance(&self, account_index: u32) -> Result<Balance, RpcError> {
        self.rpc.call(
            "get_balance",
            &serde_json::json!({ "account_index": account_index }),
        )
    }

    /// `create_account`: a new account; returns its index and primary (subaddress-format)
    /// address.
    pub fn create_account(&self, label: &str) -> Result<NewAccount, RpcError> {
        self.rpc
            .call("create_account", &serde_json::json!({ "label": label }))
    }

    /// `create_address`: `count` new subaddresses of account `account_index`, in order.
    pub fn create_addresses(
        &self,
        account_index: u32,
        count: u32,
    ) -> Result<Vec<String>, RpcError> {
        self.rpc
            .call::<_, NewAddresses>(
                "create_address",
                &serde_json::json!({ "account_index": account_index, "count": count }),
            )
            .map(|r| r.addresses)
    }

    /// `make_integrated_address`: the primary address with an 8-byte payment id.
    pub fn make_integrated_address(&self, payment_id: [u8; 8]) -> Result<String, RpcError> {
        self.rpc
            .call::<_, IntegratedAddress>(
                "make_integrated_address",
                &serde_json::json!({ "payment_id": hex::encode(payment_id) }),
            )
            .map(|r| r.integrated_address)
    }

    /// `transfer`: builds, signs and relays one transaction.
    pub fn transfer(&self, request: &TransferRequest) -> Result<Transfer, RpcError> {
        self.rpc.call("transfer", request)
    }

    /// `sweep_all`: sends every unlocked output of an account (or some of its subaddresses)
    /// to one address; may make several transactions.
    pub fn sweep_all(&self, request: &SweepAllRequest) -> Result<Sweep, RpcError> {
        self.rpc.call("sweep_all", request)
    }

    /// `store`: writes the wallet files.
    pub fn store(&self) -> Result<(), RpcError> {
        self.rpc
            .call::<_, serde_json::Value>("store", &serde_json::json!({}))
            .map(|_| ())
    }
}

/// The answer to `restore_deterministic_wallet`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RestoredWallet {
    /// The wallet's primary address.
    pub address: String,
    /// What the wallet said.
    #[serde(default)]
    pub info: String,
}

/// The answer to `refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Refresh {
    /// Blocks scanned.
    pub blocks_fetched: u64,
    /// Whether the wallet received money in them.
    pub received_money: bool,
}

/// The answer to `get_balance`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Balance {
    /// Balance in atomic units.
    pub balance: u64,
    /// The part of it that is spendable now.
    pub unlocked_balance: u64,
    /// Blocks until the whole balance is unlocked.
    #[serde(default)]
    pub blocks_to_unlock: u64,
}

/// The answer to `create_account`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct NewAccount {
    /// The new account's index.
    pub account_index: u32,
    /// Its primary address (a subaddress in format).
    pub address: String,
}

#[derive(Deserialize)]
struct NewAddresses {
    #[serde(default)]
    addresses: Vec<String>,
}

#[derive(Deserialize)]
struct IntegratedAddress {
    integrated_address: String,
}

/// One destination of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// Amount in atomic units.
    pub amount: u64,
    /// Address (standard, subaddress or integrated).
    pub address: String,
}

/// Parameters of `transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferRequest {
    /// Where the money goes (at most 15: a transaction has at most 16 outputs, one is change).
    pub destinations: Vec<Destination>,
    /// The account to spend from.
    pub account_index: u32,
    /// Spend only outputs received on these subaddresses of the account (empty: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subaddr_indices: Vec<u32>,
    /// Fee priority, 0 (default) to 4; higher pays more per byte.
    pub priority: u32,
    /// Unlock time of the outputs: 0 for none, a block height below 500,000,000, else a
    /// Unix time. monero-wallet-rpc 0.18 still accepts it.
    #[serde(skip_serializing_if = "is_zero")]
    pub unlock_time: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl TransferRequest {
    /// One destination, from account 0, default priority, no unlock time.
    pub fn to(address: &str, amount: u64) -> Self {
        Self {
            destinations: vec![Destination {
                amount,
                address: address.to_owned(),
            }],
            account_index: 0,
            subaddr_indices: Vec::new(),
            priority: 0,
            unlock_time: 0,
        }
    }

    /// Adds a destination.
    pub fn and(mut self, address: &str, amount: u64) -> Self {
        self.destinations.push(Destination {
            amount,
            address: address.to_owned(),
        });
        self
    }

    /// Spends from account `account_index`.
    pub fn from_account(mut self, account_index: u32) -> Self {
        self.account_index = account_index;
        self
    }

    /// Uses fee priority `priority` (0–4).
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// Locks the outputs until `unlock_time` (height or Unix time).
    pub fn unlock_time(mut self, unlock_time: u64) -> Self {
        self.unlock_time = unlock_time;
        self
    }
}

/// The answer to `transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Transfer {
    /// The transaction's hash.
    #[serde(deserialize_with = "de_hash")]
    pub tx_hash: Hash,
    /// Amount sent (without change and fee).
    pub amount: u64,
    /// Fee paid.
    pub fee: u64,
    /// The transaction's weight, as the wallet computed it.
    #[serde(default)]
    pub weight: u64,
}

/// Parameters of `sweep_all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepAllRequest {
    /// Where everything goes.
    pub address: String,
    /// The account to sweep.
    pub account_index: u32,
    /// Sweep every subaddress of the account.
    pub subaddr_indices_all: bool,
    /// Fee priority, 0 to 4.
    pub priority: u32,
}

/// The answer to `sweep_all`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Sweep {
    /// Hashes of the transactions made.
    #[serde(default, deserialize_with = "de_hashes")]
    pub tx_hash_list: Vec<Hash>,
    /// Their fees.
    #[serde(default)]
    pub fee_list: Vec<u64>,
    /// Their weights.
    #[serde(default)]
    pub weight_list: Vec<u64>,
}

fn de_hash<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
    let s = String::deserialize(d)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(&s, &mut out)
        .map_err(|e| serde::de::Error::custom(format_args!("bad hash {s:?}: {e}")))?;
    Ok(out)
}

fn de_hashes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    list.iter()
        .map(|s| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(s, &mut out)
                .map_err(|e| serde::de::Error::custom(format_args!("bad hash {s:?}: {e}")))?;
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_has_the_documented_flags_and_a_log_file() {
        let args = command_args(
            ports::loopback(18081),
            5000,
            Path::new("/w"),
            Path::new("/r"),
        );
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
            "--daemon-address 127.0.0.1:18081 --trusted-daemon --daemon-ssl disabled \
             --rpc-bind-ip 127.0.0.1 --rpc-bind-port 5000 --disable-rpc-login --rpc-ssl disabled \
             --wallet-dir /w --shared-ringdb-dir /r --non-interactive \
             --log-file /w/monero-wallet-rpc.log"
        );
    }

    #[test]
    fn transfer_request_serialises_like_the_wallet_expects() {
        let r = TransferRequest::to("a", 5).and("b", 6).priority(2);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({
                "destinations": [{"amount": 5, "address": "a"}, {"amount": 6, "address": "b"}],
                "account_index": 0, "priority": 2
            })
        );
        let v = serde_json::to_value(r.from_account(1).unlock_time(300)).unwrap();
        assert_eq!(v["unlock_time"], 300);
        assert_eq!(v["account_index"], 1);
    }

    #[test]
    fn decodes_a_real_transfer_answer() {
        let body = r#"{"amount":1000000000000,"fee":2605200000,"multisig_txset":"",
            "spent_key_images":{"key_images":["c4a80655046e6796789f3437a28f167bf4de6c79aa0a3d9a022e88c8feb7da1d"]},
            "tx_blob":"","tx_hash":"67cda18aa24e0d0729ac12dde5e5c065c9072ecdae02b24f391710792a219274",
            "tx_key":"","tx_metadata":"","unsigned_txset":"","weight":2167}"#;
        let t: Transfer = serde_json::from_str(body).unwrap();
        assert_eq!(t.fee, 2_605_200_000);
        assert_eq!(t.weight, 2167);
        assert_eq!(
            hex::encode(t.tx_hash),
            "67cda18aa24e0d0729ac12dde5e5c065c9072ecdae02b24f391710792a219274"
        );
    }
}
