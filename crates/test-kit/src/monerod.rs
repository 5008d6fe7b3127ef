//! Starting, watching and always stopping a real `monerod --regtest`.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::ports::{self, DeadPort};
use crate::process::{self, ChildGuard};
use crate::rpc::{GenerateBlocks, RpcClient, RpcError};

/// Where the kit looks for monerod when neither [`MonerodBuilder::binary`] nor the
/// `UMBRA_MONEROD` environment variable names one (the Debian package installs it here).
pub const DEFAULT_MONEROD_PATH: &str = "/usr/bin/monerod";

/// Environment variable naming the monerod binary to run.
pub const MONEROD_ENV: &str = "UMBRA_MONEROD";

/// Environment variable that, when set to anything but `0` or empty, keeps the temporary data
/// dirs (with their logs) instead of deleting them, for debugging a failing test.
pub const KEEP_DIRS_ENV: &str = "UMBRA_TEST_KIT_KEEP_DIRS";

/// Default bound on start-up: until `get_info` answers and the P2P port accepts connections.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Default grace between `SIGTERM` and `SIGKILL` when stopping. monerod 0.18 took 0.6–2.6 s
/// to shut down cleanly on a regtest chain here.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Default number of start attempts with fresh ports when monerod cannot bind its ports
/// (another process took a port between the pick and monerod's bind).
pub const DEFAULT_PORT_ATTEMPTS: u32 = 5;

/// Name of the file, in the data dir, that receives monerod's stdout and stderr.
pub const LOG_FILE_NAME: &str = "monerod-output.log";

/// How long one readiness probe (`get_info` or a TCP connect) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between readiness probes and between exit checks while stopping.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Lines of log an error message quotes from the end of the log.
const LOG_TAIL_LINES: usize = 40;

/// Error lines (`Failed ...`, `Exception ...`) an error message quotes from the attempt.
const LOG_ERROR_LINES: usize = 10;

/// Bytes read from the end of the log for the tail, and from an attempt's start for errors.
const LOG_READ_LIMIT: u64 = 256 * 1024;

/// What monerod prints when a port it was told to bind is taken.
pub(crate) const BIND_FAILURE_MARKER: &str = "Failed to bind";

/// Grace for the node to take a helper's handshake once the helper has caught up with it,
/// before the helper is restarted to handshake again (see [`Monerod::make_synchronized`]).
const HELPER_HANDSHAKE_GRACE: Duration = Duration::from_secs(3);

/// Why a monerod could not be started, stopped or synchronised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonerodError {
    /// The data dir could not be created.
    #[error("could not create the monerod data dir {path}: {source}")]
    DataDir {
        /// The dir (empty for a temporary dir that could not be created).
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Free loopback ports could not be found or reserved.
    #[error("could not pick free 127.0.0.1 ports for monerod: {0}")]
    Ports(#[source] io::Error),
    /// The log file could not be opened.
    #[error("could not open monerod's log file {path}: {source}")]
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
        /// The monerod binary.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// monerod exited before it was ready (bad flag, unusable data dir, ports taken on every
    /// attempt, ...).
    #[error(
        "monerod exited during start-up ({status}) on attempt {attempt}; log {log}:\n{log_excerpt}"
    )]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Which start attempt this was (attempts after the first used fresh ports).
        attempt: u32,
        /// The log file (deleted with a temporary data dir).
        log: PathBuf,
        /// Error lines of that attempt and the tail of the log, colours stripped.
        log_excerpt: String,
    },
    /// monerod kept running but did not become ready in time; it has been stopped.
    #[error("monerod was not ready within {timeout:?} ({waiting_for}); log {log}:\n{log_excerpt}")]
    StartTimeout {
        /// The start-up bound.
        timeout: Duration,
        /// What was still missing, with the last probe error.
        waiting_for: String,
        /// The log file (deleted with a temporary data dir).
        log: PathBuf,
        /// Error lines and the tail of the log, colours stripped.
        log_excerpt: String,
    },
    /// Waiting for or signalling the child failed.
    #[error("could not control the monerod process {pid}: {source}")]
    Process {
        /// The child's pid.
        pid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An RPC call made while synchronising failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// [`Monerod::make_synchronized`] ran out of time.
    #[error("monerod on {rpc} did not become synchronised within {timeout:?}: {detail}")]
    NotSynchronized {
        /// The node's RPC address.
        rpc: SocketAddr,
        /// The bound that ran out.
        timeout: Duration,
        /// What the helper and the node reported last.
        detail: String,
    },
}

/// Options for starting a [`Monerod`]; see [`Monerod::builder`].
#[derive(Debug, Clone)]
pub struct MonerodBuilder {
    binary: Option<PathBuf>,
    exclusive_node: Option<SocketAddr>,
    extra_args: Vec<OsString>,
    kept_data_dir: Option<PathBuf>,
    /// A temporary data dir holding a chain to keep, deleted with the last `Monerod` using it.
    owned_chain_dir: Option<Arc<tempfile::TempDir>>,
    log_level: Option<String>,
    start_timeout: Duration,
    stop_timeout: Duration,
    port_attempts: u32,
    /// Ports for the first attempt instead of picked ones (unit tests of the retry path).
    first_ports: Option<(u16, u16)>,
    /// The address monerod's P2P port binds to.
    p2p_bind_ip: IpAddr,
}

impl Default for MonerodBuilder {
    fn default() -> Self {
        Self {
            binary: None,
            exclusive_node: None,
            extra_args: Vec::new(),
            kept_data_dir: None,
            owned_chain_dir: None,
            log_level: None,
            start_timeout: DEFAULT_START_TIMEOUT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            port_attempts: DEFAULT_PORT_ATTEMPTS,
            first_ports: None,
            p2p_bind_ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        }
    }
}

impl MonerodBuilder {
    /// The monerod binary to run. Default: `$UMBRA_MONEROD`, else [`DEFAULT_MONEROD_PATH`] if
    /// it exists, else `monerod` from `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// The only peer monerod dials (`--add-exclusive-node`), for example another monerod's
    /// [`Monerod::p2p_addr`] to build a two-node network. Default: a 127.0.0.1 port that is
    /// bound by the kit but not listening, so monerod dials nothing real and every attempt is
    /// refused at once.
    pub fn exclusive_node(mut self, addr: SocketAddr) -> Self {
        self.exclusive_node = Some(addr);
        self
    }

    /// The IP address monerod's P2P port binds to (`--p2p-bind-ip`). Default: 127.0.0.1.
    /// Another address makes sense only inside a network namespace the test made, such as
    /// one from [`crate::netns`], where private addresses live on the namespace's own
    /// loopback interface (monerod never keeps 127.0.0.0/8 peers in its peer lists, so tests
    /// of peer-list exchange need such addresses).
    pub fn p2p_bind_ip(mut self, ip: IpAddr) -> Self {
        self.p2p_bind_ip = ip;
        self
    }

    /// One more command-line argument, appended after the kit's own flags.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// More command-line arguments, appended after the kit's own flags.
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Use `dir` as the data dir (created if missing), keep the chain it holds
    /// (`--keep-fakechain`; regtest otherwise wipes it at start) and leave it in place when
    /// the monerod is dropped. For cached fixture chains: give each test its own copy, since
    /// monerod writes to it.
    pub fn keep_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.kept_data_dir = Some(dir.into());
        self
    }

    /// Use the temporary dir `dir` as the data dir and keep the chain it holds
    /// (`--keep-fakechain`), like [`MonerodBuilder::keep_data_dir`], but delete the dir when the
    /// [`Monerod`] is dropped (unless `UMBRA_TEST_KIT_KEEP_DIRS` is set). For a private copy of
    /// a cached chain, such as [`ChainFixture::start_monerod`](crate::ChainFixture::start_monerod)
    /// makes.
    pub fn keep_chain_in_temp_dir(mut self, dir: tempfile::TempDir) -> Self {
        let mut dir = dir;
        if keep_dirs_requested() {
            tracing::info!(dir = %dir.path().display(), "{KEEP_DIRS_ENV} set: keeping the monerod data dir");
            dir.disable_cleanup(true);
        }
        self.kept_data_dir = None;
        self.owned_chain_dir = Some(Arc::new(dir));
        self
    }

    /// monerod's `--log-level` (`0`..`4`, or a category list such as `net.p2p:DEBUG`).
    /// Default: monerod's own (0).
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = Some(level.into());
        self
    }

    /// Bound on start-up (per attempt). Default [`DEFAULT_START_TIMEOUT`].
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Grace between `SIGTERM` and `SIGKILL` when stopping. Default [`DEFAULT_STOP_TIMEOUT`].
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// How many times to start with fresh ports when monerod cannot bind them (at least 1).
    /// Default [`DEFAULT_PORT_ATTEMPTS`].
    pub fn port_attempts(mut self, attempts: u32) -> Self {
        self.port_attempts = attempts.max(1);
        self
    }

    /// Starts monerod and waits until it is ready: `get_info` answers on the RPC port, and the
    /// P2P port accepts TCP connections.
    ///
    /// Blocks for about a second on an idle machine, at most [`MonerodBuilder::start_timeout`]
    /// per attempt. On failure the monerod is stopped and the error quotes its log.
    pub fn start(self) -> Result<Monerod, MonerodError> {
        let binary = self.resolve_binary();
        let data_dir = self.prepare_data_dir()?;
        let log_path = data_dir.path().join(LOG_FILE_NAME);
        let (dead_port, exclusive_node) = match self.exclusive_node {
            Some(addr) => (None, addr),
            None => {
                let dead = DeadPort::bind().map_err(MonerodError::Ports)?;
                let addr = dead.addr();
                (Some(dead), addr)
            }
        };

        let mut attempt = 0;
        loop {
            attempt += 1;
            let (p2p_port, rpc_port) = match self.first_ports.filter(|_| attempt == 1) {
                Some(forced) => forced,
                None => {
                    let picked = ports::pick_free_ports(2).map_err(MonerodError::Ports)?;
                    let (Some(&p2p), Some(&rpc)) = (picked.first(), picked.get(1)) else {
                        return Err(MonerodError::Ports(io::Error::other(
                            "picked too few ports",
                        )));
                    };
                    (p2p, rpc)
                }
            };
            let p2p_addr = SocketAddr::new(self.p2p_bind_ip, p2p_port);
            let rpc_addr = ports::loopback(rpc_port);
            let args = self.command_args(p2p_port, rpc_port, exclusive_node, data_dir.path());

            let (stdout, stderr, attempt_offset) = open_log(&log_path, attempt, &binary, &args)?;
            let mut command = Command::new(&binary);
            command
                .args(&args)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr);
            let child = process::spawn(command).map_err(|source| MonerodError::Spawn {
                binary: binary.clone(),
                source,
            })?;
            let pid = child.id();
            tracing::debug!(pid, %p2p_addr, %rpc_addr, attempt, "monerod spawned");
            let mut guard = ChildGuard::new(child, "monerod", self.stop_timeout);
            let started = Instant::now();
            let not_ready =
                match wait_until_ready(&mut guard, rpc_addr, p2p_addr, self.start_timeout) {
                    Ok(()) => {
                        tracing::info!(
                            pid,
                            %p2p_addr,
                            %rpc_addr,
                            elapsed_ms = started.elapsed().as_millis(),
                            data_dir = %data_dir.path().display(),
                            "monerod ready"
                        );
                        return Ok(Monerod {
                            guard,
                            p2p_addr,
                            rpc_addr,
                            exclusive_node,
                            rpc: RpcClient::new(rpc_addr),
                            binary,
                            args,
                            log_path,
                            data_dir,
                            _dead_port: dead_port,
                        });
                    }
                    Err(not_ready) => not_ready,
                };
            match not_ready {
                NotReady::Exited(status) => {
                    let attempt_log = read_from(&log_path, attempt_offset);
                    if attempt_log.contains(BIND_FAILURE_MARKER) && attempt < self.port_attempts {
                        tracing::warn!(
                            attempt,
                            %p2p_addr,
                            %rpc_addr,
                            "monerod could not bind its ports; retrying with new ones"
                        );
                        continue;
                    }
                    return Err(MonerodError::Exited {
                        status,
                        attempt,
                        log_excerpt: log_excerpt(&log_path, &attempt_log),
                        log: log_path,
                    });
                }
                NotReady::Timeout(waiting_for) => {
                    // Stop it before reading the log, so the log is complete.
                    if let Err(error) = guard.stop() {
                        tracing::warn!(pid, %error, "could not stop monerod after a start timeout");
                    }
                    let attempt_log = read_from(&log_path, attempt_offset);
                    return Err(MonerodError::StartTimeout {
                        timeout: self.start_timeout,
                        waiting_for,
                        log_excerpt: log_excerpt(&log_path, &attempt_log),
                        log: log_path,
                    });
                }
                NotReady::Io(source) => return Err(MonerodError::Process { pid, source }),
            }
        }
    }

    fn resolve_binary(&self) -> PathBuf {
        resolve_monerod_binary(self.binary.as_deref())
    }

    fn prepare_data_dir(&self) -> Result<DataDir, MonerodError> {
        if let Some(dir) = &self.owned_chain_dir {
            return Ok(DataDir::Shared(Arc::clone(dir)));
        }
        if let Some(dir) = &self.kept_data_dir {
            fs::create_dir_all(dir).map_err(|source| MonerodError::DataDir {
                path: dir.clone(),
                source,
            })?;
            return Ok(DataDir::Kept(dir.clone()));
        }
        let mut dir = tempfile::Builder::new()
            .prefix("umbra-monerod-")
            .tempdir()
            .map_err(|source| MonerodError::DataDir {
                path: PathBuf::new(),
                source,
            })?;
        if keep_dirs_requested() {
            tracing::info!(dir = %dir.path().display(), "{KEEP_DIRS_ENV} set: keeping the monerod data dir");
            dir.disable_cleanup(true);
        }
        Ok(DataDir::Temp(dir))
    }

    /// The full command line after the binary, in the order DESIGN.md gives.
    fn command_args(
        &self,
        p2p_port: u16,
        rpc_port: u16,
        exclusive_node: SocketAddr,
        data_dir: &Path,
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::with_capacity(32 + self.extra_args.len());
        let mut push = |a: &dyn AsRef<OsStr>| args.push(a.as_ref().to_owned());
        push(&"--regtest");
        if self.kept_data_dir.is_some() || self.owned_chain_dir.is_some() {
            push(&"--keep-fakechain");
        }
        push(&"--fixed-difficulty");
        push(&"1");
        push(&"--p2p-bind-ip");
        push(&self.p2p_bind_ip.to_string());
        push(&"--p2p-bind-port");
        push(&p2p_port.to_string());
        push(&"--rpc-bind-ip");
        push(&"127.0.0.1");
        push(&"--rpc-bind-port");
        push(&rpc_port.to_string());
        push(&"--rpc-ssl");
        push(&"disabled");
        push(&"--no-zmq");
        push(&"--no-igd");
        push(&"--disable-dns-checkpoints");
        push(&"--check-updates");
        push(&"disabled");
        push(&"--non-interactive");
        push(&"--data-dir");
        push(&data_dir);
        push(&"--add-exclusive-node");
        push(&exclusive_node.to_string());
        push(&"--max-connections-per-ip");
        push(&"10");
        if let Some(level) = &self.log_level {
            push(&"--log-level");
            push(level);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// A data dir: a temporary one deleted on drop, one the caller keeps, or a temporary one
/// holding a chain (deleted when the last user drops it).
#[derive(Debug)]
enum DataDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
    Shared(Arc<tempfile::TempDir>),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temp(dir) => dir.path(),
            Self::Kept(dir) => dir,
            Self::Shared(dir) => dir.path(),
        }
    }
}

/// Whether [`KEEP_DIRS_ENV`] asks to keep temporary dirs.
pub(crate) fn keep_dirs_requested() -> bool {
    std::env::var_os(KEEP_DIRS_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The monerod binary to run: `explicit`, else `$UMBRA_MONEROD`, else
/// [`DEFAULT_MONEROD_PATH`] if it exists, else `monerod` from `PATH`.
pub(crate) fn resolve_monerod_binary(explicit: Option<&Path>) -> PathBuf {
    if let Some(binary) = explicit {
        return binary.to_path_buf();
    }
    if let Some(binary) = std::env::var_os(MONEROD_ENV).filter(|b| !b.is_empty()) {
        return PathBuf::from(binary);
    }
    let default = Path::new(DEFAULT_MONEROD_PATH);
    if default.exists() {
        default.to_path_buf()
    } else {
        PathBuf::from("monerod")
    }
}

/// Why start-up did not complete.
enum NotReady {
    Exited(ExitStatus),
    Timeout(String),
    Io(io::Error),
}

/// Polls until `get_info` answers, then until the P2P port accepts a TCP connection, checking
/// before each probe that the child is still running. Bounded by `timeout` plus one probe.
fn wait_until_ready(
    guard: &mut ChildGuard,
    rpc_addr: SocketAddr,
    p2p_addr: SocketAddr,
    timeout: Duration,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + timeout;
    let probe = RpcClient::with_timeout(rpc_addr, PROBE_TIMEOUT);
    let check_alive = |guard: &mut ChildGuard| match guard.try_wait() {
        Ok(Some(status)) => Err(NotReady::Exited(status)),
        Ok(None) => Ok(()),
        Err(error) => Err(NotReady::Io(error)),
    };

    loop {
        check_alive(guard)?;
        match probe.get_info() {
            Ok(_) => break,
            Err(error) if Instant::now() >= deadline => {
                return Err(NotReady::Timeout(format!(
                    "get_info on {} never answered; last error: {error}",
                    probe.url()
                )));
            }
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
    // monerod opens its P2P listener before its RPC server, so this normally succeeds at
    // once. A bare connect-and-close is harmless: monerod does not count it as a failed
    // handshake (checked: 15 in a row leave no ban).
    loop {
        check_alive(guard)?;
        match TcpStream::connect_timeout(&p2p_addr, PROBE_TIMEOUT) {
            Ok(stream) => {
                drop(stream);
                break;
            }
            Err(error) if Instant::now() >= deadline => {
                return Err(NotReady::Timeout(format!(
                    "P2P port {p2p_addr} never accepted a connection; last error: {error}"
                )));
            }
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
    check_alive(guard)
}

/// Opens the log for appending, writes a header line for this attempt, and returns handles
/// for stdout and stderr plus the offset where this attempt starts.
fn open_log(
    path: &Path,
    attempt: u32,
    binary: &Path,
    args: &[OsString],
) -> Result<(File, File, u64), MonerodError> {
    open_attempt_log(path, attempt, binary, args).map_err(|source| MonerodError::LogFile {
        path: path.to_path_buf(),
        source,
    })
}

/// [`open_log`] with a plain I/O error (shared with the wallet RPC starter).
pub(crate) fn open_attempt_log(
    path: &Path,
    attempt: u32,
    binary: &Path,
    args: &[OsString],
) -> io::Result<(File, File, u64)> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let offset = file.seek(SeekFrom::End(0))?;
    let mut line = format!(
        "=== umbra-test-kit: start attempt {attempt}: {}",
        binary.display()
    );
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line.push('\n');
    file.write_all(line.as_bytes())?;
    let stderr = file.try_clone()?;
    Ok((file, stderr, offset))
}

/// Up to [`LOG_READ_LIMIT`] bytes of the log from `offset`, colours stripped; empty if the
/// log cannot be read.
pub(crate) fn read_from(path: &Path, offset: u64) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::new();
        file.take(LOG_READ_LIMIT).read_to_end(&mut bytes)?;
        Ok(strip_ansi(&String::from_utf8_lossy(&bytes)))
    };
    read().unwrap_or_default()
}

/// The last `lines` lines of the log, colours stripped.
pub(crate) fn read_tail(path: &Path, lines: usize) -> io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_READ_LIMIT)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = strip_ansi(&String::from_utf8_lossy(&bytes));
    Ok(last_lines(&text, lines))
}

fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all.get(start..).unwrap_or_default().join("\n")
}

/// What an error message quotes: the attempt's error lines (monerod prints "Failed to parse
/// arguments" first and then its whole usage text, so the tail alone would miss it), then
/// the tail of the log.
pub(crate) fn log_excerpt(path: &Path, attempt_log: &str) -> String {
    let errors: Vec<&str> = attempt_log
        .lines()
        .filter(|line| is_error_line(line))
        .take(LOG_ERROR_LINES)
        .collect();
    let tail = read_tail(path, LOG_TAIL_LINES)
        .unwrap_or_else(|error| format!("(could not read the log: {error})"));
    let mut out = String::new();
    if !errors.is_empty() {
        out.push_str("--- error lines ---\n");
        out.push_str(&errors.join("\n"));
        out.push('\n');
    }
    out.push_str(&format!("--- last {LOG_TAIL_LINES} lines ---\n"));
    out.push_str(&tail);
    out
}

fn is_error_line(line: &str) -> bool {
    const MARKERS: [&str; 7] = [
        "Failed",
        "failed",
        "Error",
        "Exception",
        "unrecognised option",
        "\tE ",
        "\tF ",
    ];
    MARKERS.iter().any(|m| line.contains(m))
}

/// Removes ANSI escape sequences (`ESC [ ... letter`), which monerod writes even to a file.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

/// A running `monerod --regtest` on 127.0.0.1, stopped when dropped.
///
/// Start one with [`Monerod::start`] or [`Monerod::builder`]. Dropping it (also while a test
/// panics and unwinds) sends `SIGTERM`, waits up to the stop timeout, sends `SIGKILL` if
/// needed, and reaps the process; then a temporary data dir is deleted. If the test process
/// dies without unwinding, the kernel kills monerod (`PR_SET_PDEATHSIG`).
///
/// Dropping blocks for the shutdown (0.6–2.6 s); in async tests that is acceptable, or drop
/// it inside `tokio::task::spawn_blocking`.
#[derive(Debug)]
pub struct Monerod {
    guard: ChildGuard,
    p2p_addr: SocketAddr,
    rpc_addr: SocketAddr,
    exclusive_node: SocketAddr,
    rpc: RpcClient,
    binary: PathBuf,
    args: Vec<OsString>,
    log_path: PathBuf,
    // Dropped after `guard` (fields drop in order), so the dir outlives the process.
    data_dir: DataDir,
    _dead_port: Option<DeadPort>,
}

impl Monerod {
    /// Starts a monerod with the default options; see [`MonerodBuilder::start`].
    pub fn start() -> Result<Self, MonerodError> {
        Self::builder().start()
    }

    /// Options for starting a monerod.
    pub fn builder() -> MonerodBuilder {
        MonerodBuilder::default()
    }

    /// Its P2P address (`127.0.0.1:P`): connect a peer here.
    pub fn p2p_addr(&self) -> SocketAddr {
        self.p2p_addr
    }

    /// Its RPC address (`127.0.0.1:R`).
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// The only peer it dials (`--add-exclusive-node`).
    pub fn exclusive_node(&self) -> SocketAddr {
        self.exclusive_node
    }

    /// A JSON-RPC client for it (clone it to move it into another thread or task).
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Its data dir.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The file receiving its stdout and stderr (inside the data dir). monerod also writes
    /// its own `bitmonero.log` there.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of its log, colours stripped: handy in assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        read_tail(&self.log_path, lines).unwrap_or_else(|error| {
            format!("(could not read {}: {error})", self.log_path.display())
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid
    }

    /// The binary that runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The arguments it was started with (after the binary).
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Whether the process is still running (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.guard.try_wait(), Ok(None)) && self.guard.is_held()
    }

    /// Stops it now (what `Drop` does) and returns its exit status; a clean shutdown after
    /// `SIGTERM` is `success()`. `None` if it had already exited and been reaped.
    pub fn stop(mut self) -> Result<Option<ExitStatus>, MonerodError> {
        let pid = self.guard.pid;
        self.guard
            .stop()
            .map_err(|source| MonerodError::Process { pid, source })
    }

    /// Mines `amount_of_blocks` blocks to [`MINING_ADDRESS`](crate::MINING_ADDRESS) with
    /// `generateblocks`. [`RpcError::Busy`] until the node considers itself synchronised; see
    /// [`Monerod::make_synchronized`].
    pub fn mine(&self, amount_of_blocks: u64) -> Result<GenerateBlocks, RpcError> {
        self.rpc
            .generateblocks(amount_of_blocks, crate::MINING_ADDRESS)
    }

    /// Makes this node consider itself synchronised, so `generateblocks` and
    /// `get_last_block_header` stop answering BUSY, by letting a helper monerod (same binary,
    /// its own temporary data dir, `--add-exclusive-node` = this node) handshake with it.
    ///
    /// monerod marks itself synchronised on the *first* handshake of a peer whose chain
    /// height is at least its own and whose top block it has. A fresh helper qualifies when
    /// this node is still at genesis (takes 2–3 s). When this node has a longer chain, the
    /// helper first syncs it (RandomX-bound: about 25 s per 2,000 blocks here) and is then
    /// restarted on its synced chain to handshake again. Returns at once if the node is
    /// already synchronised; the helper is stopped before returning (under 3 s). The node
    /// stays synchronised after the helper leaves.
    ///
    /// Extra arguments given to this node's builder are not given to the helper.
    pub fn make_synchronized(&self, timeout: Duration) -> Result<(), MonerodError> {
        let deadline = Instant::now() + timeout;
        if self.rpc.get_info()?.synchronized {
            return Ok(());
        }
        let helper_dir = tempfile::Builder::new()
            .prefix("umbra-monerod-helper-")
            .tempdir()
            .map_err(|source| MonerodError::DataDir {
                path: PathBuf::new(),
                source,
            })?;
        let mut detail = String::from("no helper started");
        // Round 1: a fresh helper. Round 2: the same helper restarted on the chain it synced.
        for round in 1..=2 {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let helper = Monerod::builder()
                .binary(&self.binary)
                .exclusive_node(self.p2p_addr)
                .keep_data_dir(helper_dir.path())
                .start_timeout(remaining.max(Duration::from_secs(1)))
                .stop_timeout(self.guard.stop_timeout)
                .start()?;
            tracing::debug!(round, helper = %helper.p2p_addr(), node = %self.p2p_addr, "synchronising through a helper monerod");
            let mut caught_up_at: Option<Instant> = None;
            loop {
                let node = self.rpc.get_info()?;
                if node.synchronized {
                    tracing::debug!(round, "node synchronised by the helper's handshake");
                    return Ok(());
                }
                let peer = helper.rpc.get_info()?;
                detail = format!(
                    "round {round}: node height {} synchronized {}, helper height {} synchronized {}",
                    node.height, node.synchronized, peer.height, peer.synchronized
                );
                let caught_up = peer.synchronized
                    && peer.height >= node.height
                    && peer.top_block_hash == node.top_block_hash;
                if caught_up && caught_up_at.is_none() {
                    caught_up_at = Some(Instant::now());
                }
                if round == 1 && caught_up_at.is_some_and(|t| t.elapsed() >= HELPER_HANDSHAKE_GRACE)
                {
                    // The helper has this node's chain; its next first handshake qualifies.
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(MonerodError::NotSynchronized {
                        rpc: self.rpc_addr,
                        timeout,
                        detail,
                    });
                }
                thread::sleep(Duration::from_millis(100));
            }
            // Dropping the helper stops it cleanly, so its chain survives for round 2.
            drop(helper);
        }
        Err(MonerodError::NotSynchronized {
            rpc: self.rpc_addr,
            timeout,
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_monerod_colours() {
        let raw = "\u{1b}[0m\u{1b}[0;31m2026-11-20 23:23:59.387\tF \u{1b}[0;31mError starting server: Failed to bind IPv4\n\u{1b}[0m";
        assert_eq!(
            strip_ansi(raw),
            "2026-11-20 23:23:59.387\tF Error starting server: Failed to bind IPv4\n"
        );
    }

    #[test]
    fn last_lines_takes_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(last_lines("", 5), "");
    }

    #[test]
    fn command_line_has_exactly_the_documented_flags() {
        let builder = Monerod::builder();
        let args = builder.command_args(1001, 1002, ports::loopback(1003), Path::new("/d"));
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
            "--regtest --fixed-difficulty 1 --p2p-bind-ip 127.0.0.1 --p2p-bind-port 1001 \
             --rpc-bind-ip 127.0.0.1 --rpc-bind-port 1002 --rpc-ssl disabled --no-zmq --no-igd \
             --disable-dns-checkpoints --check-updates disabled --non-interactive --data-dir /d \
             --add-exclusive-node 127.0.0.1:1003 --max-connections-per-ip 10"
        );
        assert!(!args.iter().any(|a| a == "--offline"));
    }

    #[test]
    fn kept_dir_log_level_and_extra_args_extend_the_command_line() {
        let builder = Monerod::builder()
            .keep_data_dir("/fixture")
            .log_level("1")
            .args(["--out-peers", "2"]);
        let args = builder.command_args(1, 2, ports::loopback(3), Path::new("/fixture"));
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args.get(1).map(String::as_str), Some("--keep-fakechain"));
        assert!(args.ends_with(&[
            "--log-level".into(),
            "1".into(),
            "--out-peers".into(),
            "2".into()
        ]));
    }

    #[test]
    fn taken_port_is_retried_with_fresh_ports() {
        if !Path::new(DEFAULT_MONEROD_PATH).exists() {
            return;
        }
        // Someone else holds the P2P port of the first attempt.
        let squatter = std::net::TcpListener::bind(ports::loopback(0)).unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let free = ports::pick_free_ports(1).unwrap()[0];
        let mut builder = Monerod::builder().start_timeout(Duration::from_secs(60));
        builder.first_ports = Some((taken, free));
        let started = Instant::now();
        let node = builder.start().unwrap();
        assert_ne!(node.p2p_addr().port(), taken);
        assert_eq!(node.rpc().get_info().unwrap().height, 1);
        let log = fs::read_to_string(node.log_path()).unwrap();
        assert!(log.contains(BIND_FAILURE_MARKER), "{log}");
        assert!(log.contains("start attempt 2"), "{log}");
        assert!(started.elapsed() < Duration::from_secs(60));
        let pid = node.pid();
        drop(node);
        assert!(!process::process_exists(pid));
    }

    #[test]
    fn missing_binary_is_a_spawn_error() {
        let err = Monerod::builder()
            .binary("/nonexistent/monerod")
            .start()
            .unwrap_err();
        assert!(matches!(err, MonerodError::Spawn { .. }), "{err}");
    }

    #[test]
    fn excerpt_quotes_error_lines_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut text = String::from("Failed to parse arguments: unrecognised option '--x'\n");
        for i in 0..100 {
            text.push_str(&format!("usage line {i}\n"));
        }
        fs::write(&path, &text).unwrap();
        let excerpt = log_excerpt(&path, &text);
        assert!(excerpt.contains("unrecognised option '--x'"), "{excerpt}");
        assert!(excerpt.contains("usage line 99"));
        assert!(!excerpt.contains("usage line 10\n"));
    }
}
