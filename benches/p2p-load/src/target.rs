//! The processes under test: a regtest monerod (started by `umbra-test-kit`) and umbrad
//! (this workspace's node binary), each on a free 127.0.0.1 port, each always stopped.

use std::{
    fs::File,
    io,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use umbra_test_kit::{Monerod, MonerodError, RpcError};
use umbra_wire::CoreSyncData;

/// The per-IP connection cap of both targets. The test kit always starts monerod with
/// `--max-connections-per-ip 10` (monerod refuses the flag twice), so umbrad gets the same.
/// The load spreads its connections over source addresses, one per address by default.
pub const MAX_CONNECTIONS_PER_IP: usize = 10;

/// Flags umbrad gets besides its data dir, port and connection limits. They mirror
/// monerod's; change them here if umbrad's command line changes.
pub const UMBRAD_FIXED_ARGS: &[&str] = &[
    "--regtest",
    "--p2p-bind-ip",
    "127.0.0.1",
    "--out-peers",
    "0",
    "--allow-local-ip",
    "--log-level",
    "0",
];

/// umbrad's data-dir flag.
pub const UMBRAD_DATA_DIR_FLAG: &str = "--data-dir";

/// umbrad's P2P port flag.
pub const UMBRAD_PORT_FLAG: &str = "--p2p-bind-port";

/// umbrad's inbound-connection limit flag (monerod's name).
pub const UMBRAD_IN_PEERS_FLAG: &str = "--in-peers";

/// umbrad's per-IP connection cap flag (monerod's name), given [`MAX_CONNECTIONS_PER_IP`];
/// `None` leaves umbrad's default, which is enough with one connection per source address.
pub const UMBRAD_MAX_CONNECTIONS_PER_IP_FLAG: Option<&str> = Some("--max-connections-per-ip");

/// Extra inbound slots given to a target beyond the largest step (the probe, readiness
/// checks, slack).
pub const IN_PEERS_SLACK: usize = 100;

/// Lines of a target's log quoted in errors.
const LOG_TAIL_LINES: usize = 30;

/// Why a target could not be started or asked something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// monerod did not start.
    #[error(transparent)]
    Monerod(#[from] MonerodError),
    /// A monerod RPC call failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// Building umbrad failed.
    #[error("`{command}` failed: {status}")]
    Build {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
    },
    /// umbrad could not be run.
    #[error("could not run {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file or port could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// umbrad exited before it listened.
    #[error("umbrad exited during start-up ({status}); log {log}:\n{tail}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// umbrad kept running but its P2P port never accepted a connection.
    #[error(
        "umbrad (pid {pid}) did not accept connections on {addr} within {timeout:?}: is its \
         P2P listener wired in yet? Log {log}:\n{tail}"
    )]
    NotListening {
        /// Its pid.
        pid: u32,
        /// The address it was told to listen on.
        addr: SocketAddr,
        /// The bound.
        timeout: Duration,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
}

/// The chain of a fresh regtest node: the mainnet genesis block at height 1, hard-fork
/// version 1, cumulative difficulty 1. What umbrad presents before it has blocks, and what
/// monerod's `get_info` reports on a fresh `--regtest` chain.
#[must_use]
pub fn regtest_genesis_chain() -> CoreSyncData {
    CoreSyncData::genesis(umbra_wire::genesis::MAINNET)
}

/// A regtest monerod for the load, on a free loopback port, stopped on drop.
#[derive(Debug)]
pub struct MonerodTarget {
    monerod: Monerod,
}

impl MonerodTarget {
    /// Starts monerod (blocking, about 1.2 s) with room for `max_connections` inbound
    /// connections: `--in-peers max_connections + IN_PEERS_SLACK --out-peers 0`, on top of
    /// the test kit's own flags (regtest, loopback only, `--max-connections-per-ip 10`, an
    /// exclusive node that refuses every dial). `binary` overrides the test kit's choice
    /// (`$UMBRA_MONEROD`, else `/usr/bin/monerod`).
    ///
    /// # Errors
    /// monerod did not start; the error quotes its log.
    pub fn start(max_connections: usize, binary: Option<&Path>) -> Result<Self, TargetError> {
        let in_peers = max_connections.saturating_add(IN_PEERS_SLACK);
        let mut builder = Monerod::builder().args([
            "--in-peers".to_owned(),
            in_peers.to_string(),
            "--out-peers".to_owned(),
            "0".to_owned(),
        ]);
        if let Some(binary) = binary {
            builder = builder.binary(binary);
        }
        Ok(Self {
            monerod: builder.start()?,
        })
    }

    /// The test kit's handle.
    #[must_use]
    pub fn monerod(&self) -> &Monerod {
        &self.monerod
    }

    /// Its P2P address.
    #[must_use]
    pub fn p2p_addr(&self) -> SocketAddr {
        self.monerod.p2p_addr()
    }

    /// Its pid.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.monerod.pid()
    }

    /// Its chain as a peer must claim it: `get_info`'s height, top block and cumulative
    /// difficulty, and the top block's major version (monerod drops a peer whose
    /// `top_version` is not the hard-fork version at that height: 1 on a fresh regtest
    /// chain).
    ///
    /// # Errors
    /// An RPC call failed.
    pub async fn chain(&self) -> Result<CoreSyncData, TargetError> {
        let rpc = self.monerod.rpc();
        let info = rpc.run_blocking(|r| r.get_info()).await?;
        let top = info.height.saturating_sub(1);
        let header = rpc
            .run_blocking(move |r| r.get_block_header_by_height(top))
            .await?;
        let mut chain = CoreSyncData {
            current_height: info.height,
            cumulative_difficulty: 0,
            cumulative_difficulty_top64: 0,
            top_id: info.top_block_hash,
            top_version: header.major_version,
            pruning_seed: 0,
        };
        chain.set_cumulative_difficulty(info.cumulative_difficulty_u128());
        Ok(chain)
    }

    /// The inbound connections monerod itself counts (`get_info`), to cross-check ours.
    ///
    /// # Errors
    /// The RPC call failed.
    pub async fn incoming_connections(&self) -> Result<u64, TargetError> {
        let info = self.monerod.rpc().run_blocking(|r| r.get_info()).await?;
        Ok(info.incoming_connections_count)
    }

    /// The end of monerod's log.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        self.monerod.log_tail(lines)
    }
}

/// The workspace this crate belongs to.
#[must_use]
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// Where the release umbrad of this workspace is built: `$CARGO_TARGET_DIR/release/umbrad`
/// or `<workspace>/target/release/umbrad`.
#[must_use]
pub fn release_umbrad_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    target.join("release").join("umbrad")
}

/// Runs `cargo build --release -p umbrad` in the workspace (at most `timeout`) and returns
/// the binary's path.
///
/// # Errors
/// cargo could not be run, failed or ran out of time.
pub fn build_umbrad(timeout: Duration) -> Result<PathBuf, TargetError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = ["build", "--release", "-p", "umbrad"];
    let command = format!("{} {}", cargo.to_string_lossy(), args.join(" "));
    let mut child = Command::new(&cargo)
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|source| TargetError::Spawn {
            binary: PathBuf::from(&cargo),
            source,
        })?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(release_umbrad_path()),
            Ok(Some(status)) => {
                return Err(TargetError::Build {
                    command,
                    status: status.to_string(),
                });
            }
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TargetError::Build {
                    command,
                    status: format!("still running after {timeout:?}, stopped"),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(source) => {
                return Err(TargetError::Io {
                    what: format!("waiting for `{command}`"),
                    source,
                });
            }
        }
    }
}

/// An umbrad child process on a free 127.0.0.1 port with a temporary data dir; killed (by
/// its pid) and reaped on drop.
#[derive(Debug)]
pub struct UmbradTarget {
    child: Option<Child>,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
    // Dropped after `child` is stopped (fields drop in order, and `Drop` stops it first).
    _dir: tempfile::TempDir,
}

impl UmbradTarget {
    /// Starts `binary` as `umbrad --data-dir D --p2p-bind-port P --in-peers N
    /// [--max-connections-per-ip 10]` plus [`UMBRAD_FIXED_ARGS`], with no `UMBRA_*` or
    /// `RUST_LOG` from our environment, its output in `D/umbrad-output.log`. Where
    /// `setpriv` exists the child is started through `setpriv --pdeathsig KILL`, so it dies
    /// with this process even if this process is killed outright.
    ///
    /// Returns once the process is spawned; see [`UmbradTarget::wait_listening`].
    ///
    /// # Errors
    /// The data dir, port or log could not be set up, or the binary could not be run.
    pub fn start(binary: &Path, max_connections: usize) -> Result<Self, TargetError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| TargetError::Io { what, source }
        };
        let dir = tempfile::Builder::new()
            .prefix("umbra-p2p-load-umbrad-")
            .tempdir()
            .map_err(io("creating umbrad's data dir"))?;
        let addr = free_loopback_port().map_err(io("picking a free 127.0.0.1 port"))?;
        let log = dir.path().join("umbrad-output.log");
        let out = File::create(&log).map_err(io("creating umbrad's log"))?;
        let err = out.try_clone().map_err(io("creating umbrad's log"))?;

        let mut args: Vec<String> = vec![
            UMBRAD_DATA_DIR_FLAG.into(),
            dir.path().to_string_lossy().into_owned(),
            UMBRAD_PORT_FLAG.into(),
            addr.port().to_string(),
            UMBRAD_IN_PEERS_FLAG.into(),
            max_connections.saturating_add(IN_PEERS_SLACK).to_string(),
        ];
        if let Some(flag) = UMBRAD_MAX_CONNECTIONS_PER_IP_FLAG {
            args.push(flag.into());
            args.push(MAX_CONNECTIONS_PER_IP.to_string());
        }
        args.extend(UMBRAD_FIXED_ARGS.iter().map(|&a| a.to_owned()));

        let setpriv = Path::new("/usr/bin/setpriv");
        let mut command = if setpriv.exists() {
            let mut command = Command::new(setpriv);
            command.args(["--pdeathsig", "KILL", "--"]).arg(binary);
            command
        } else {
            Command::new(binary)
        };
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env_remove("RUST_LOG");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("UMBRA_") {
                command.env_remove(key);
            }
        }
        let child = command.spawn().map_err(|source| TargetError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
            addr,
            log,
            _dir: dir,
        })
    }

    /// Waits until umbrad's P2P port accepts a TCP connection (probing from 127.0.0.1
    /// every 100 ms), at most `timeout`.
    ///
    /// # Errors
    /// [`TargetError::Exited`] if umbrad exits first, [`TargetError::NotListening`] after
    /// `timeout`; both quote the end of its log.
    pub async fn wait_listening(&mut self, timeout: Duration) -> Result<(), TargetError> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(TargetError::Exited {
                    status,
                    log: self.log.clone(),
                    tail: self.log_tail(LOG_TAIL_LINES),
                });
            }
            let probe = tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect(self.addr),
            )
            .await;
            if matches!(probe, Ok(Ok(_))) {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(TargetError::NotListening {
                    pid: self.pid,
                    addr: self.addr,
                    timeout,
                    log: self.log.clone(),
                    tail: self.log_tail(LOG_TAIL_LINES),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its P2P address.
    #[must_use]
    pub fn p2p_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its pid.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The end of its log.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all.iter()
            .skip(all.len().saturating_sub(lines))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills it (`SIGKILL` to its pid, a child we have not reaped, so the pid is still
    /// ours) and reaps it. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for UmbradTarget {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A 127.0.0.1 port that was free a moment ago (bound, then released).
fn free_loopback_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_chain_is_the_mainnet_genesis_at_height_one() {
        let chain = regtest_genesis_chain();
        assert_eq!(hex::encode(chain.top_id), umbra_test_kit::GENESIS_HASH_HEX);
        assert_eq!((chain.current_height, chain.top_version), (1, 1));
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").exists());
        assert!(workspace_root().join("bin/umbrad").exists());
    }
}
