//! Test kit: starts real `monerod` processes on loopback and wraps the RPC calls tests need.
//!
//! Umbra's integration tests prove things against the real reference implementation: that
//! `wire` decodes what monerod sends, that the handshaker satisfies monerod, that `umbrad`
//! syncs from monerod and monerod syncs from `umbrad`. This crate is the harness those tests
//! share (as a dev-dependency). It has two parts:
//!
//! - [`Monerod`]: one `monerod --regtest` child process on fresh 127.0.0.1 ports with its own
//!   temporary data dir, ready when [`Monerod::start`] returns and *always* stopped when the
//!   value is dropped;
//! - [`RpcClient`]: a blocking JSON-RPC client with typed answers ([`GetInfo`],
//!   [`BlockHeader`], [`Block`], [`GenerateBlocks`], [`Transactions`], [`OutputEntry`], ...)
//!   and a typed [`RpcError`].
//!
//! On top of them, [`WalletRpc`] runs a `monero-wallet-rpc` against a test monerod (restore
//! the functional-test wallet, `transfer`, `sweep_all`), and [`ChainFixture`] is a cached
//! regtest chain of 2,200 blocks with 76 real RingCT transactions, exported as block and
//! transaction blobs plus `facts.json` / `outputs.json` for consensus, storage and sync tests
//! (see [`chain_fixture`] and `docs/chain-fixture.md`; `cargo run -p umbra-test-kit --bin
//! umbra-chain-fixture` builds it by hand).
//!
//! ```text
//!   test ──start()──▶ Monerod ──spawn (pre_exec: PR_SET_PDEATHSIG)──▶ monerod --regtest
//!     │                  │ drop: SIGTERM → wait ≤ 10 s → SIGKILL → reap      ▲   ▲
//!     │                  └─ rpc() ─▶ RpcClient ── HTTP 127.0.0.1:R/json_rpc ─┘   │
//!     └── code under test (levin/wire, umbrad) ── TCP 127.0.0.1:P (P2P) ─────────┘
//! ```
//!
//! Beside them, [`tor_net`] starts a private Tor network on 127.0.0.1 ([`TorNetwork`]: three
//! directory authorities, two exits, a middle relay, a client tor with SOCKS and control
//! ports, onion services on demand, and the data an embedded arti client needs to join),
//! every tor stopped the same way when the value is dropped. See its module docs and
//! `docs/tor-network.md`; `cargo run -p umbra-test-kit --bin umbra-tor-net` runs it by hand.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use umbra_test_kit::{GENESIS_HASH_HEX, Monerod};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Monerod::start()?; // about 1.2 s
//! let info = node.rpc().get_info()?;
//! assert_eq!(info.height, 1);
//! assert_eq!(hex::encode(info.top_block_hash), GENESIS_HASH_HEX);
//!
//! // A fresh node with no peers refuses to mine ...
//! assert!(node.mine(1).unwrap_err().is_busy());
//! // ... until a peer has handshaken with it (here a helper monerod; later Umbra's own
//! // handshaker can do the same by connecting to `node.p2p_addr()`).
//! node.make_synchronized(Duration::from_secs(60))?;
//! let mined = node.mine(10)?;
//! assert_eq!(node.rpc().get_info()?.height, 11);
//! assert_eq!(node.rpc().get_block_by_height(10)?.block_header.hash, mined.blocks[9]);
//! # Ok(())
//! # } // `node` is dropped here: monerod is stopped and its data dir deleted.
//! ```
//!
//! # How monerod is started
//!
//! The command line is exactly (DESIGN.md, "Real components"):
//!
//! ```text
//! monerod --regtest --fixed-difficulty 1
//!         --p2p-bind-ip 127.0.0.1 --p2p-bind-port P --rpc-bind-ip 127.0.0.1 --rpc-bind-port R
//!         --rpc-ssl disabled --no-zmq --no-igd --disable-dns-checkpoints
//!         --check-updates disabled --non-interactive --data-dir D
//!         --add-exclusive-node 127.0.0.1:Q --max-connections-per-ip 10
//!         [--keep-fakechain] [--log-level L] [extra args...]
//! ```
//!
//! | flag | why |
//! |---|---|
//! | `--regtest --fixed-difficulty 1` | private chain, one hash per block; every node of a test network needs the same difficulty or they ban each other |
//! | `--p2p-bind-ip`, `--rpc-bind-ip 127.0.0.1` | nothing listens beyond loopback |
//! | `--rpc-ssl disabled --no-zmq --no-igd` | plain HTTP RPC, no ZMQ port, no UPnP |
//! | `--disable-dns-checkpoints --check-updates disabled` | no DNS or HTTPS to the outside world |
//! | `--non-interactive` | no console on stdin |
//! | `--add-exclusive-node 127.0.0.1:Q` | monerod dials only Q: by default a port the kit keeps *bound but not listening*, so every dial is refused at once and no other socket can take the port meanwhile ([`MonerodBuilder::exclusive_node`] points it at a real peer instead) |
//! | `--max-connections-per-ip 10` | the default (1) resets a second loopback connection |
//! | never `--offline` | it closes the P2P port |
//! | `--keep-fakechain` | only with [`MonerodBuilder::keep_data_dir`]: regtest otherwise wipes its chain at start |
//!
//! **Ports.** P and R are picked by binding 127.0.0.1:0 and closing the listeners just before
//! the spawn; a process never hands out the same port twice. If another process grabs a port
//! in between, monerod logs `Failed to bind` and exits; the kit then starts again with fresh
//! ports, at most [`DEFAULT_PORT_ATTEMPTS`] times.
//!
//! **Readiness.** [`MonerodBuilder::start`] polls `get_info` every 50 ms (2 s per probe), then
//! checks that the P2P port accepts a TCP connection, all within the start timeout (60 s by
//! default). A bare connect-and-close does not count as a failed handshake in monerod (15 in a
//! row leave no ban). If monerod exits or the timeout passes, the error carries the log's
//! error lines and its last 40 lines.
//!
//! **Logs.** stdout and stderr go to [`LOG_FILE_NAME`] in the data dir (each start attempt
//! begins with a line giving the full command); monerod also writes `bitmonero.log` there.
//! Set `UMBRA_TEST_KIT_KEEP_DIRS=1` ([`KEEP_DIRS_ENV`]) to keep temporary data dirs for
//! inspection, and `UMBRA_MONEROD` ([`MONEROD_ENV`]) to run another binary.
//!
//! # Guarantees
//!
//! - **Always stopped.** Dropping a [`Monerod`] (at the end of the test, or while a panicking
//!   test unwinds) sends `SIGTERM` to that child's pid, waits up to the stop timeout (10 s by
//!   default; a regtest node exits in 0.6–2.6 s), sends `SIGKILL` if needed, and reaps
//!   it. If the test process is killed outright, the kernel kills monerod: the child is
//!   spawned with `PR_SET_PDEATHSIG = SIGKILL`, from one long-lived spawner thread, because
//!   that signal follows the forking *thread*, and a monerod started from a short-lived
//!   thread (a `spawn_blocking` task) must not die with it.
//! - **Only our own child.** Signals go to the pid of a child the kit spawned and has not
//!   reaped yet; nothing is ever killed by name.
//! - **Only 127.0.0.1**, for every listener and every RPC request (no proxy from the
//!   environment either).
//! - **Bounded.** Start-up, every RPC request ([`DEFAULT_RPC_TIMEOUT`]; `generateblocks`
//!   gets 0.5 s more per block), stopping and [`Monerod::make_synchronized`] all have time
//!   limits, and every retry loop a count limit.
//!
//! # From async tests
//!
//! Everything here blocks. In a tokio test, start and drop monerod with
//! `tokio::task::spawn_blocking` (or accept a blocked worker for a second), and make RPC calls
//! with [`RpcClient::run_blocking`]: `node.rpc().run_blocking(|rpc| rpc.get_info()).await`.
//! [`RpcClient`] is cheap to clone and `Send + Sync`.
//!
//! # What monerod 0.18.0.0 does on a fresh regtest node (observed here)
//!
//! - **Start-up** takes about 1.2 s until `get_info` answers; the P2P port is already open by
//!   then. `get_info` reports `height` 1, `top_block_hash` = the mainnet genesis
//!   ([`GENESIS_HASH_HEX`]), `nettype` `"fakechain"`, `synchronized: false`,
//!   `target_height` 0.
//! - **`generateblocks` answers `BUSY`** (HTTP 200, `result.status = "BUSY"`, `height` 0;
//!   here [`RpcError::Busy`]) right after start, and still after 90 s: with no peer the node
//!   never considers itself synchronised. `get_last_block_header` is BUSY too; `get_info`,
//!   `get_block`, `get_block_header_by_height`/`_by_hash` and `get_block_headers_range` answer
//!   normally.
//! - **One handshake unblocks it**, as DESIGN.md says: a second monerod started with
//!   `--add-exclusive-node` = the node's P2P address made it `synchronized` 2.1–2.6 s after
//!   the second one was launched, and mining worked; it stayed synchronised after that peer left.
//!   [`Monerod::make_synchronized`] does this (about 3.2 s in all, helper shutdown included).
//! - **The rule** (monerod's `process_payload_sync_data`): on a peer's *first* handshake the
//!   node becomes synchronised if the peer's `current_height` is at least the node's target
//!   height (its own height while nobody claimed more) and the node has the peer's `top_id`.
//!   So a fresh helper at genesis does *not* unblock a node restarted on a kept chain (after
//!   `--keep-fakechain` a node is BUSY again); the helper first syncs the chain and must then
//!   handshake anew (about 21 s for 500 blocks). For Umbra's own handshaker: claim exactly the
//!   node's `get_info.height` and `top_block_hash` to unblock it in one handshake.
//! - **Mining** costs about 0.1 s per block on these 2-core machines (RandomX); the
//!   `generateblocks` answer's `height` is the height of the last mined block (`get_info`
//!   height − 1 when mining on the main chain); `prev_block` forks (the side block shows
//!   `orphan_status: true`).
//! - **Stopping** with `SIGTERM` exits cleanly (status 0) in 0.6–2.6 s.

pub mod chain_fixture;
pub mod i2pd;
mod monerod;
pub mod netns;
mod ports;
mod process;
mod rpc;
pub mod tor_net;
mod wallet_rpc;

pub use chain_fixture::{ChainFixture, ChainFixtureError, ChainFixtureOptions};
pub use i2pd::{I2pNetwork, I2pd, I2pdBuilder, I2pdError};
pub use monerod::{
    DEFAULT_MONEROD_PATH, DEFAULT_PORT_ATTEMPTS, DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT,
    KEEP_DIRS_ENV, LOG_FILE_NAME, MONEROD_ENV, Monerod, MonerodBuilder, MonerodError,
};
pub use process::process_exists;
pub use rpc::{
    Block, BlockHeader, BlockTemplate, CoinbaseTxSum, Connection, DEFAULT_RPC_TIMEOUT,
    GenerateBlocks, GenerateBlocksRequest, GetInfo, Hash, OutputDistribution, OutputEntry,
    PoolTransaction, RpcClient, RpcError, TransactionEntry, Transactions,
};
pub use tor_net::{
    ArtiAuthority, ArtiFallbackCache, ArtiNetwork, OnionService, TorClient, TorNetError,
    TorNetwork, TorNetworkBuilder,
};
pub use wallet_rpc::{
    Balance, DEFAULT_WALLET_RPC_PATH, DEFAULT_WALLET_START_TIMEOUT, DEFAULT_WALLET_STOP_TIMEOUT,
    Destination, NewAccount, Refresh, RestoredWallet, Sweep, SweepAllRequest, TEST_WALLET_SEED,
    Transfer, TransferRequest, WALLET_LOG_FILE_NAME, WALLET_OWN_LOG_FILE_NAME, WALLET_RPC_ENV,
    WalletRpc, WalletRpcBuilder, WalletRpcError,
};

/// Primary address of the wallet Monero's own functional tests use (restored from a known
/// seed; see DESIGN.md). regtest mines to mainnet-format addresses, so this is the default
/// coinbase target.
pub const MINING_ADDRESS: &str = "42ey1afDFnn4886T7196doS9GPMzexD9gXpsZJDwVjeRVdFCSoHnv7KPbBeGpzJBzHRCAs9UxqeoyFQMYbqSWYTfJJQAWDm";

/// Hash of the genesis block, in hex. regtest uses the mainnet genesis block, so a fresh
/// regtest monerod reports this as its top block (`get_info.height` is 1).
pub const GENESIS_HASH_HEX: &str =
    "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3";
