//! Real i2pd routers for tests: one on 127.0.0.1 with its SAM bridge ([`I2pd`]), or a
//! private I2P network of several that know only each other ([`I2pNetwork`]).
//!
//! ```text
//!  test ──start()──▶ I2pd ──spawn (PR_SET_PDEATHSIG)──▶ i2pd --conf D/i2pd.conf --datadir D ...
//!    │                 │ drop: SIGTERM → wait ≤ 10 s → SIGKILL → reap
//!    └── SAM client ── TCP 127.0.0.1:S (SAM bridge) ──▶ i2pd ── NTCP2 H:P ── other routers
//! ```
//!
//! # How an i2pd is started
//!
//! Each router gets a temporary data dir `D` with its own `i2pd.conf`, an empty
//! `tunnels.conf` and `tunnels.d/`, and runs
//! `i2pd --conf D/i2pd.conf --tunconf D/tunnels.conf --tunnelsdir D/tunnels.d --datadir D
//! --certsdir /usr/share/i2pd/certificates --pidfile D/i2pd.pid` (stdout and stderr to
//! [`OUTPUT_FILE_NAME`], i2pd's own log to [`LOG_FILE_NAME`]). The config:
//!
//! | setting | why |
//! |---|---|
//! | `sam.enabled`, `sam.address = 127.0.0.1`, `sam.port = S` | the SAM bridge under test, loopback only |
//! | `http`, `httpproxy`, `socksproxy`, `bob`, `i2cp`, `i2pcontrol`, `upnp` off | no other listener, no UPnP (the SOCKS proxy on 127.0.0.1 when asked: [`I2pdBuilder::socks_proxy`]) |
//! | `host = H`, `address4 = H`, `ntcp2.port = P`, `ipv6 = false`, `ssu2.enabled = false` | NTCP2 (TCP) on H only, no UDP |
//! | `nat = false`, `reservedrange = false` | loopback and test addresses are acceptable peers |
//! | `netid = 77` ([`PRIVATE_NETID`]) | a private network id: never mixes with the real I2P network (id 2) |
//! | `floodfill = true`, `bandwidth = X` | every router stores the network database and is a good tunnel hop |
//! | `reseed.urls = http://127.0.0.1:<dead port>/`, `reseed.yggurls =`, `reseed.verify = false` | i2pd reseeds when it knows fewer than 25 routers: point it at a loopback port that refuses, never the internet |
//! | `nettime.enabled = false`, `nettime.frompeers = false` | no NTP |
//! | `addressbook.enabled = true`, `defaulturl` and `subscriptions` at [`NOWHERE_HOSTS_URL`] | i2pd 2.45.1 crashes (SIGSEGV) on `NAMING LOOKUP` of a `.b32.i2p` name when the address book is disabled; with the book on and an *empty* `defaulturl` it dies (`std::out_of_range`) about 3 minutes after start, at its first subscription download ("Addressbook: Downloading hosts database from "): point it at a destination nobody has, whose lookups just fail |
//! | `exploratory.*.length = 1` | tunnels a small network can build |
//! | `persist.profiles = false`, `precomputation.elgamal = false` | less disk, faster start |
//!
//! **Ready** when the SAM bridge answers `HELLO VERSION` with `HELLO REPLY RESULT=OK`
//! (about 0.1 s after the spawn here). **Stopping**: `SIGTERM` (i2pd 2.45 exits at once),
//! `SIGKILL` after the stop timeout, always reaped; only the pid of our own child is
//! signalled.
//!
//! # What works where (i2pd 2.45.1, measured here)
//!
//! - **One router on 127.0.0.1**: SAM works: `SESSION CREATE` (about 20 s: i2pd answers
//!   only once the session's tunnels exist and checks every 20 s; use 0-hop tunnels, a lone
//!   router has no peers), `NAMING LOOKUP` of a session's own name and of `ME`,
//!   `DEST GENERATE`, `STREAM ACCEPT`. A stream between two sessions of the *same* router
//!   does **not** work: `STREAM CONNECT` answers `CANT_REACH_PEER` at once, because a
//!   client destination looks the peer's lease set up through floodfills only, and a lone
//!   router has none besides itself ("Destination: ... was not found on 7 floodfills").
//! - **Several routers on 127.0.0.1**: they do not connect: i2pd refuses every incoming
//!   NTCP2 connection from a reserved address whatever `reservedrange` says ("NTCP2:
//!   Incoming connection from invalid IP 127.0.0.1").
//! - **Several routers on 198.18.0.x inside a network namespace** ([`I2pNetwork`], with
//!   [`crate::netns`]): works. i2pd's list of reserved ranges has a typo for 198.18.0.0/15
//!   (the benchmarking range: "198.18.0.0"–"192.19.255.255", an empty range), so these
//!   addresses pass; inside the namespace they live on its own `lo` and traffic never
//!   leaves it. Routers connect within seconds, build 1-hop tunnels, and a stream from a
//!   session on one router reaches a session on another (1 MB in about 0.2 s).
//! - **Lease sets in a small network**: an i2pd client destination does not look a lease
//!   set up in its own router's database (seen on a lone router), so a peer whose lease
//!   set were stored only on the dialling router could not be found: the routers of the
//!   sessions under test are best non-floodfill ([`I2pNetwork::start_with_floodfills`]).
//!   And i2pd 2.45 publishes a session's lease set when an inbound tunnel is built, but
//!   drops the publication for good while the session has no outbound tunnel yet ("Can't
//!   publish LeaseSet. Destination is not ready"; no retry until the tunnels are rebuilt
//!   about ten minutes later; `SESSION CREATE` then often takes 40 s instead of 20 s).
//!   With 1-hop tunnels both ways this hit the listening session in about two runs in
//!   five (lookups of it fail: "... was not found on 7 floodfills"); giving the listening
//!   session 0-hop outbound tunnels (they exist at once) made six runs in six find it at
//!   the first try.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::ports::{self, DeadPort};
use crate::process;

/// Where the kit looks for i2pd when neither [`I2pdBuilder::binary`] nor `UMBRA_I2PD` names
/// one (the Debian package installs it here).
pub const DEFAULT_I2PD_PATH: &str = "/usr/sbin/i2pd";

/// Environment variable naming the i2pd binary to run.
pub const I2PD_ENV: &str = "UMBRA_I2PD";

/// Where i2pd's certificates are (Debian); the data dir's own is used when it is missing.
const CERTS_DIR: &str = "/usr/share/i2pd/certificates";

/// The network id every router of the kit uses: not the real network's (2).
pub const PRIVATE_NETID: u16 = 77;

/// Default bound on start-up (until the SAM bridge answers `HELLO`).
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Default grace between `SIGTERM` and `SIGKILL`.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Start attempts with fresh ports when a port was taken meanwhile.
pub const DEFAULT_PORT_ATTEMPTS: u32 = 3;

/// File in the data dir that receives i2pd's stdout and stderr.
pub const OUTPUT_FILE_NAME: &str = "i2pd-output.log";

/// File in the data dir where i2pd writes its log.
pub const LOG_FILE_NAME: &str = "i2pd.log";

/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between probes and between exit checks while stopping.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Lines of log quoted in errors.
const LOG_TAIL_LINES: usize = 40;

/// Bytes read from the end of a log.
const LOG_READ_LIMIT: u64 = 256 * 1024;

/// What i2pd logs when a port it was told to use is taken.
const BIND_FAILURE_MARKERS: [&str; 2] = ["already in use", "Failed to bind"];

/// Where the routers' address books download their subscriptions from: a `.b32.i2p` name
/// of 32 zero bytes, a destination nobody has, so every download fails at the lookup
/// (never reaching out, never crashing i2pd 2.45.1 as an empty URL does).
pub const NOWHERE_HOSTS_URL: &str =
    "http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b32.i2p/hosts.txt";

/// Most routers an [`I2pNetwork`] starts.
pub const MAX_NETWORK_ROUTERS: usize = 16;

/// The addresses [`I2pNetwork`] tests use, from 198.18.0.1: a benchmarking range (never
/// routed on the internet) that i2pd 2.45 does not treat as reserved. Add them to a
/// namespace's `lo` with [`crate::netns::rerun_in_namespace`].
#[must_use]
pub fn network_hosts(count: u8) -> Vec<Ipv4Addr> {
    (1..=count).map(|i| Ipv4Addr::new(198, 18, 0, i)).collect()
}

/// Why an i2pd could not be started or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum I2pdError {
    /// Setting up the data dir, config or logs failed.
    #[error("could not prepare the i2pd data dir {path}: {source}")]
    DataDir {
        /// The file or dir.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Free ports could not be picked.
    #[error("could not pick free 127.0.0.1 ports for i2pd: {0}")]
    Ports(#[source] io::Error),
    /// The NTCP2 address is not an address of this machine (or namespace).
    #[error(
        "i2pd cannot listen on {host}: {source} (run the test in a namespace with that address on lo, see umbra_test_kit::netns)"
    )]
    HostNotLocal {
        /// The address.
        host: Ipv4Addr,
        /// The bind error.
        #[source]
        source: io::Error,
    },
    /// The binary could not be executed.
    #[error("could not run {binary}: {source}")]
    Spawn {
        /// The i2pd binary.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// i2pd exited before its SAM bridge answered.
    #[error("i2pd exited during start-up ({status}); log {log}:\n{log_excerpt}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Its log.
        log: PathBuf,
        /// The end of its output and log.
        log_excerpt: String,
    },
    /// The SAM bridge did not answer in time; i2pd has been stopped.
    #[error(
        "i2pd's SAM bridge on {sam} did not answer within {timeout:?} ({last}); log {log}:\n{log_excerpt}"
    )]
    StartTimeout {
        /// The SAM address.
        sam: SocketAddr,
        /// The bound.
        timeout: Duration,
        /// The last probe error.
        last: String,
        /// Its log.
        log: PathBuf,
        /// The end of its output and log.
        log_excerpt: String,
    },
    /// Signalling or waiting for the child failed.
    #[error("could not control the i2pd process {pid}: {source}")]
    Process {
        /// Its pid.
        pid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A router of a network did not write its router info in time.
    #[error("i2pd in {dir} wrote no router.info within {timeout:?}")]
    NoRouterInfo {
        /// Its data dir.
        dir: PathBuf,
        /// The bound.
        timeout: Duration,
    },
    /// An [`I2pNetwork`] was asked for no routers, too many, the same address twice, or
    /// no floodfill.
    #[error(
        "an I2P test network needs 1 to 16 distinct router addresses and a floodfill, got {0} addresses"
    )]
    NetworkSize(usize),
}

/// Options for starting an [`I2pd`]; see [`I2pd::builder`].
#[derive(Debug, Clone)]
pub struct I2pdBuilder {
    binary: Option<PathBuf>,
    host: Ipv4Addr,
    floodfill: bool,
    netid: u16,
    log_level: String,
    known_routers: Vec<Vec<u8>>,
    start_timeout: Duration,
    stop_timeout: Duration,
    port_attempts: u32,
    socks_proxy: bool,
    server_tunnels: Vec<(String, SocketAddr)>,
}

impl Default for I2pdBuilder {
    fn default() -> Self {
        Self {
            binary: None,
            host: Ipv4Addr::LOCALHOST,
            floodfill: true,
            netid: PRIVATE_NETID,
            log_level: "info".to_owned(),
            known_routers: Vec::new(),
            start_timeout: DEFAULT_START_TIMEOUT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            port_attempts: DEFAULT_PORT_ATTEMPTS,
            socks_proxy: false,
            server_tunnels: Vec::new(),
        }
    }
}

impl I2pdBuilder {
    /// The i2pd binary. Default: `$UMBRA_I2PD`, else [`DEFAULT_I2PD_PATH`] if it exists,
    /// else `i2pd` from `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// The address NTCP2 binds to and publishes. Default 127.0.0.1 (enough for a lone
    /// router; routers of a network need addresses like [`network_hosts`]).
    pub fn host(mut self, host: Ipv4Addr) -> Self {
        self.host = host;
        self
    }

    /// Whether the router is a floodfill (stores the network database). Default true.
    pub fn floodfill(mut self, floodfill: bool) -> Self {
        self.floodfill = floodfill;
        self
    }

    /// The network id. Default [`PRIVATE_NETID`].
    pub fn netid(mut self, netid: u16) -> Self {
        self.netid = netid;
        self
    }

    /// i2pd's log level (`debug`, `info`, `warn`, `error`, `none`). Default `info`.
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = level.into();
        self
    }

    /// A router this one knows from the start: the contents of another router's
    /// `router.info` ([`I2pd::router_info`]), written into the new router's `netDb`.
    pub fn known_router(mut self, router_info: Vec<u8>) -> Self {
        self.known_routers.push(router_info);
        self
    }

    /// Turns on i2pd's SOCKS proxy, on a 127.0.0.1 port of its own
    /// ([`I2pd::socks_addr`]): what monerod's `--tx-proxy i2p,IP:PORT` dials through. No
    /// outproxy; its tunnels have 1 hop in and 0 out (as for server tunnels: see
    /// [`I2pdBuilder::server_tunnel`]). Default off.
    pub fn socks_proxy(mut self, on: bool) -> Self {
        self.socks_proxy = on;
        self
    }

    /// Adds a server tunnel `name` (`type = server` in `tunnels.conf`) forwarding to
    /// `target`: what monerod's `--anonymous-inbound <b32>,IP:PORT` expects. i2pd makes its
    /// keys (`<name>.dat`) at the first start; [`I2pd::tunnel_address`] gives the
    /// `.b32.i2p` name. Its tunnels have 1 hop in and 0 out (i2pd 2.45 publishes a
    /// destination's lease set reliably only when an outbound tunnel exists at once; see
    /// the module docs). `name`: letters, digits, `-`, `_`.
    pub fn server_tunnel(mut self, name: &str, target: SocketAddr) -> Self {
        self.server_tunnels.push((name.to_owned(), target));
        self
    }

    /// Bound on start-up. Default [`DEFAULT_START_TIMEOUT`].
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Grace between `SIGTERM` and `SIGKILL`. Default [`DEFAULT_STOP_TIMEOUT`].
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Starts i2pd and waits until its SAM bridge answers `HELLO`.
    ///
    /// # Errors
    /// [`I2pdError`]: no such binary, the host not local, i2pd exiting or not answering in
    /// time (the error quotes its log).
    pub fn start(self) -> Result<I2pd, I2pdError> {
        if let Err(source) = std::net::TcpListener::bind((self.host, 0)) {
            return Err(I2pdError::HostNotLocal {
                host: self.host,
                source,
            });
        }
        let binary = self.resolve_binary();
        let dir = tempfile::Builder::new()
            .prefix("umbra-i2pd-")
            .tempdir()
            .map_err(|source| I2pdError::DataDir {
                path: PathBuf::new(),
                source,
            })?;
        let mut dir = dir;
        if std::env::var_os(crate::KEEP_DIRS_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
            tracing::info!(dir = %dir.path().display(), "keeping the i2pd data dir");
            dir.disable_cleanup(true);
        }
        let data_dir = dir.path().to_path_buf();
        let data_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| I2pdError::DataDir { path, source }
        };
        fs::create_dir_all(data_dir.join("tunnels.d")).map_err(data_err(&data_dir))?;
        let tunconf = data_dir.join("tunnels.conf");
        fs::write(&tunconf, self.tunnels_conf()).map_err(data_err(&tunconf))?;
        for router_info in &self.known_routers {
            write_known_router(&data_dir, router_info)?;
        }
        let dead_port = DeadPort::bind().map_err(I2pdError::Ports)?;
        let mut node = I2pd {
            child: None,
            pid: 0,
            sam_addr: ports::loopback(0),
            socks_addr: None,
            ntcp2_addr: SocketAddr::new(IpAddr::V4(self.host), 0),
            binary,
            args: Vec::new(),
            data_dir: data_dir.clone(),
            stop_timeout: self.stop_timeout,
            start_timeout: self.start_timeout,
            _dead_port: dead_port,
            _dir: dir,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let picked = ports::pick_free_ports(3).map_err(I2pdError::Ports)?;
            let (Some(&ntcp2), Some(&sam), Some(&socks)) =
                (picked.first(), picked.get(1), picked.get(2))
            else {
                return Err(I2pdError::Ports(io::Error::other("picked too few ports")));
            };
            node.sam_addr = ports::loopback(sam);
            node.socks_addr = self.socks_proxy.then(|| ports::loopback(socks));
            node.ntcp2_addr = SocketAddr::new(IpAddr::V4(self.host), ntcp2);
            let mut config = self.config(&data_dir, ntcp2, sam, node._dead_port.addr().port());
            if self.socks_proxy {
                config.push_str(&format!(
                    "[socksproxy]\nenabled = true\naddress = 127.0.0.1\nport = {socks}\n\
                     outproxy.enabled = false\ninbound.length = 1\noutbound.length = 0\n"
                ));
            }
            let config_path = data_dir.join("i2pd.conf");
            fs::write(&config_path, config).map_err(data_err(&config_path))?;
            match node.spawn_and_wait() {
                Ok(()) => return Ok(node),
                Err(error) if attempt < self.port_attempts && node.log_mentions_bind_failure() => {
                    tracing::warn!(attempt, %error, "i2pd could not bind its ports; retrying with new ones");
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn resolve_binary(&self) -> PathBuf {
        if let Some(binary) = &self.binary {
            return binary.clone();
        }
        if let Some(binary) = std::env::var_os(I2PD_ENV).filter(|b| !b.is_empty()) {
            return PathBuf::from(binary);
        }
        let default = Path::new(DEFAULT_I2PD_PATH);
        if default.exists() {
            default.to_path_buf()
        } else {
            PathBuf::from("i2pd")
        }
    }

    /// The `tunnels.conf` text: the server tunnels.
    fn tunnels_conf(&self) -> String {
        self.server_tunnels
            .iter()
            .map(|(name, target)| {
                format!(
                    "[{name}]\ntype = server\nhost = {}\nport = {}\nkeys = {name}.dat\n\
                     inbound.length = 1\noutbound.length = 0\n\
                     inbound.quantity = 2\noutbound.quantity = 2\n",
                    target.ip(),
                    target.port()
                )
            })
            .collect()
    }

    /// The `i2pd.conf` text (see the module docs for why each setting).
    fn config(&self, data_dir: &Path, ntcp2_port: u16, sam_port: u16, dead_port: u16) -> String {
        let host = self.host;
        let floodfill = self.floodfill;
        let netid = self.netid;
        let level = &self.log_level;
        let log = data_dir.join(LOG_FILE_NAME);
        let log = log.display();
        // i2pd turns its SOCKS proxy on by default; [`I2pdBuilder::start`] appends the
        // section when it is wanted.
        let socks_off = if self.socks_proxy {
            ""
        } else {
            "[socksproxy]\nenabled = false\n"
        };
        format!(
            "# Written by umbra-test-kit: a private i2pd on {host}, SAM on 127.0.0.1:{sam_port}.\n\
             log = file\nlogfile = {log}\nloglevel = {level}\ndaemon = false\nservice = false\n\
             host = {host}\naddress4 = {host}\nipv4 = true\nipv6 = false\nnat = false\n\
             reservedrange = false\nnetid = {netid}\nfloodfill = {floodfill}\nbandwidth = X\n\
             [ntcp2]\nenabled = true\npublished = true\nport = {ntcp2_port}\n\
             [ssu2]\nenabled = false\n\
             [http]\nenabled = false\n[httpproxy]\nenabled = false\n{socks_off}\
             [sam]\nenabled = true\naddress = 127.0.0.1\nport = {sam_port}\n\
             [bob]\nenabled = false\n[i2cp]\nenabled = false\n[i2pcontrol]\nenabled = false\n\
             [upnp]\nenabled = false\n[precomputation]\nelgamal = false\n\
             [reseed]\nverify = false\nurls = http://127.0.0.1:{dead_port}/\nyggurls =\n\
             [addressbook]\nenabled = true\ndefaulturl = {NOWHERE_HOSTS_URL}\n\
             subscriptions = {NOWHERE_HOSTS_URL}\n\
             [nettime]\nenabled = false\nfrompeers = false\n\
             [persist]\nprofiles = false\naddressbook = false\n\
             [exploratory]\ninbound.length = 1\noutbound.length = 1\n\
             inbound.quantity = 2\noutbound.quantity = 2\n"
        )
    }
}

/// A running i2pd with its SAM bridge on 127.0.0.1, stopped when dropped.
///
/// Dropping it (also while a test unwinds) sends `SIGTERM`, waits up to the stop timeout,
/// sends `SIGKILL` if needed and reaps it; then the data dir is deleted. If the test
/// process dies outright, the kernel kills i2pd (`PR_SET_PDEATHSIG`).
#[derive(Debug)]
pub struct I2pd {
    child: Option<Child>,
    pid: u32,
    sam_addr: SocketAddr,
    socks_addr: Option<SocketAddr>,
    ntcp2_addr: SocketAddr,
    binary: PathBuf,
    args: Vec<OsString>,
    data_dir: PathBuf,
    stop_timeout: Duration,
    start_timeout: Duration,
    /// The reseed URL's port: bound, never listening.
    _dead_port: DeadPort,
    // Dropped last (fields drop in order, and `Drop` stops the child first).
    _dir: tempfile::TempDir,
}

impl I2pd {
    /// Starts an i2pd with the default options on 127.0.0.1.
    ///
    /// # Errors
    /// See [`I2pdBuilder::start`].
    pub fn start() -> Result<Self, I2pdError> {
        Self::builder().start()
    }

    /// Options for starting an i2pd.
    #[must_use]
    pub fn builder() -> I2pdBuilder {
        I2pdBuilder::default()
    }

    /// Its SAM bridge, `127.0.0.1:S`.
    #[must_use]
    pub fn sam_addr(&self) -> SocketAddr {
        self.sam_addr
    }

    /// Its SOCKS proxy, `127.0.0.1:P`, when turned on ([`I2pdBuilder::socks_proxy`]).
    #[must_use]
    pub fn socks_addr(&self) -> Option<SocketAddr> {
        self.socks_addr
    }

    /// The `.b32.i2p` name of server tunnel `name` ([`I2pdBuilder::server_tunnel`]), from
    /// the keys i2pd made for it (it writes them while starting the tunnel, moments
    /// after the SAM bridge answers: this waits up to 10 s for the file).
    ///
    /// # Errors
    /// The keys file not there in time, or too short to hold a destination.
    pub fn tunnel_address(&self, name: &str) -> io::Result<String> {
        let path = self.data_dir.join(format!("{name}.dat"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match fs::read(&path) {
                Ok(keys) => {
                    return destination_b32(&keys).ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{} does not hold a destination", path.display()),
                        )
                    });
                }
                Err(error) if Instant::now() >= deadline => return Err(error),
                Err(_) => thread::sleep(POLL_INTERVAL),
            }
        }
    }

    /// Its NTCP2 address (what other routers connect to).
    #[must_use]
    pub fn ntcp2_addr(&self) -> SocketAddr {
        self.ntcp2_addr
    }

    /// Its process id (of the current run).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its data dir.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// i2pd's own log.
    #[must_use]
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join(LOG_FILE_NAME)
    }

    /// The last `lines` lines of its log, for assertion messages.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        read_tail(&self.log_path(), lines)
            .unwrap_or_else(|error| format!("(could not read the i2pd log: {error})"))
    }

    /// Whether a line of its log contains `needle`.
    #[must_use]
    pub fn log_contains(&self, needle: &str) -> bool {
        File::open(self.log_path())
            .map(|file| {
                BufReader::new(file)
                    .lines()
                    .map_while(Result::ok)
                    .any(|line| line.contains(needle))
            })
            .unwrap_or(false)
    }

    /// Its `router.info` (written at start-up): what other routers need to know it.
    ///
    /// # Errors
    /// The I/O error reading it.
    pub fn router_info(&self) -> io::Result<Vec<u8>> {
        fs::read(self.data_dir.join("router.info"))
    }

    /// Makes it know another router from its next start on (see
    /// [`I2pdBuilder::known_router`]).
    ///
    /// # Errors
    /// [`I2pdError::DataDir`] when the file cannot be written or the router info is too
    /// short to hold a router identity.
    pub fn add_known_router(&self, router_info: &[u8]) -> Result<(), I2pdError> {
        write_known_router(&self.data_dir, router_info)
    }

    /// Whether the process is still running (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_)) | Err(_)) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Kills it at once (`SIGKILL`) and reaps it: a router that dies mid-session.
    ///
    /// # Errors
    /// [`I2pdError::Process`] when signalling or waiting fails.
    pub fn kill(&mut self) -> Result<(), I2pdError> {
        let pid = self.pid;
        if let Some(mut child) = self.child.take() {
            // `Child::kill` signals this child only, and is a no-op once it has exited.
            child
                .kill()
                .and_then(|()| child.wait())
                .map_err(|source| I2pdError::Process { pid, source })?;
        }
        Ok(())
    }

    /// Stops it (what `Drop` does): `SIGTERM`, up to the stop timeout, then `SIGKILL`.
    /// `Ok(None)` when it was not running.
    ///
    /// # Errors
    /// [`I2pdError::Process`] when signalling or waiting fails.
    pub fn stop(&mut self) -> Result<Option<ExitStatus>, I2pdError> {
        let pid = self.pid;
        match self.child.take() {
            Some(mut child) => process::stop_child(&mut child, "i2pd", self.stop_timeout)
                .map(Some)
                .map_err(|source| I2pdError::Process { pid, source }),
            None => Ok(None),
        }
    }

    /// Starts it again (stopping it first if it runs) with the same data dir, keys,
    /// config and ports, and waits until the SAM bridge answers.
    ///
    /// # Errors
    /// As [`I2pdBuilder::start`]; a port taken meanwhile is not retried.
    pub fn restart(&mut self) -> Result<(), I2pdError> {
        self.stop()?;
        self.spawn_and_wait()
    }

    fn spawn_and_wait(&mut self) -> Result<(), I2pdError> {
        let data_dir = self.data_dir.clone();
        let certs = if Path::new(CERTS_DIR).is_dir() {
            PathBuf::from(CERTS_DIR)
        } else {
            data_dir.join("certificates")
        };
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |flag: &str, value: &Path| {
            args.push(flag.into());
            args.push(value.as_os_str().to_owned());
        };
        push("--conf", &data_dir.join("i2pd.conf"));
        push("--tunconf", &data_dir.join("tunnels.conf"));
        push("--tunnelsdir", &data_dir.join("tunnels.d"));
        push("--datadir", &data_dir);
        push("--certsdir", &certs);
        push("--pidfile", &data_dir.join("i2pd.pid"));
        let output = data_dir.join(OUTPUT_FILE_NAME);
        let mut stdout = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&output)
            .map_err(|source| I2pdError::DataDir {
                path: output.clone(),
                source,
            })?;
        let mut header = format!("=== umbra-test-kit: {}", self.binary.display());
        for arg in &args {
            header.push(' ');
            header.push_str(&arg.to_string_lossy());
        }
        header.push('\n');
        let stderr = stdout
            .write_all(header.as_bytes())
            .and_then(|()| stdout.try_clone())
            .map_err(|source| I2pdError::DataDir {
                path: output.clone(),
                source,
            })?;
        let mut command = Command::new(&self.binary);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = process::spawn(command).map_err(|source| I2pdError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        self.pid = child.id();
        self.child = Some(child);
        self.args = args;
        tracing::debug!(pid = self.pid, sam = %self.sam_addr, ntcp2 = %self.ntcp2_addr, "i2pd spawned");
        let started = Instant::now();
        match self.wait_until_ready() {
            Ok(()) => {
                tracing::info!(
                    pid = self.pid,
                    sam = %self.sam_addr,
                    elapsed_ms = started.elapsed().as_millis(),
                    "i2pd ready"
                );
                Ok(())
            }
            Err(error) => {
                if let Err(stop) = self.stop() {
                    tracing::warn!(%stop, "could not stop i2pd after a failed start");
                }
                Err(error)
            }
        }
    }

    fn wait_until_ready(&mut self) -> Result<(), I2pdError> {
        let deadline = Instant::now() + self.start_timeout;
        let pid = self.pid;
        loop {
            if let Some(child) = self.child.as_mut() {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        self.child = None;
                        return Err(I2pdError::Exited {
                            status,
                            log: self.log_path(),
                            log_excerpt: self.log_excerpt(),
                        });
                    }
                    Ok(None) => {}
                    Err(source) => return Err(I2pdError::Process { pid, source }),
                }
            }
            let last = match sam_hello(self.sam_addr) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(I2pdError::StartTimeout {
                    sam: self.sam_addr,
                    timeout: self.start_timeout,
                    last: last.to_string(),
                    log: self.log_path(),
                    log_excerpt: self.log_excerpt(),
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn log_mentions_bind_failure(&self) -> bool {
        BIND_FAILURE_MARKERS
            .iter()
            .any(|marker| self.log_contains(marker))
    }

    fn log_excerpt(&self) -> String {
        let output = read_tail(&self.data_dir.join(OUTPUT_FILE_NAME), 10).unwrap_or_default();
        format!(
            "--- output ---\n{output}\n--- last {LOG_TAIL_LINES} log lines ---\n{}",
            self.log_tail(LOG_TAIL_LINES)
        )
    }
}

impl Drop for I2pd {
    fn drop(&mut self) {
        let pid = self.pid;
        match self.stop() {
            Ok(Some(status)) => tracing::debug!(pid, %status, "i2pd stopped"),
            Ok(None) => {}
            Err(error) => tracing::error!(pid, %error, "could not stop i2pd"),
        }
    }
}

/// A private I2P network: several i2pd routers, each knowing all the others from the
/// start and nobody else (no reseeding), each with its SAM bridge on 127.0.0.1.
///
/// i2pd refuses NTCP2 connections from 127.0.0.0/8, so the routers need other local
/// addresses: run the test inside a network namespace with [`network_hosts`] on its `lo`
/// (see [`crate::netns::rerun_in_namespace`]). Dropping the network stops every router.
#[derive(Debug)]
pub struct I2pNetwork {
    routers: Vec<I2pd>,
}

impl I2pNetwork {
    /// Starts one floodfill router per address in `hosts` (1 to 16, distinct): first each
    /// alone, to make its keys and `router.info`; then all again, each with the others'
    /// router infos in its `netDb`. Returns when every SAM bridge answers (about 2 s);
    /// the routers connect to each other during the next seconds.
    ///
    /// # Errors
    /// [`I2pdError`] of the router that failed (the others are stopped).
    pub fn start(hosts: &[Ipv4Addr]) -> Result<Self, I2pdError> {
        Self::start_with_floodfills(hosts, &vec![true; hosts.len()])
    }

    /// As [`I2pNetwork::start`], with router `i` a floodfill only if `floodfill[i]`.
    ///
    /// Routers that host the sessions under test are best not floodfills: an i2pd client
    /// destination does not look a lease set up in its own router's database, so a peer
    /// whose lease set were stored only on the dialling router could not be found.
    ///
    /// # Errors
    /// As [`I2pNetwork::start`]; [`I2pdError::NetworkSize`] also when `floodfill` is not
    /// as long as `hosts` or names no floodfill.
    pub fn start_with_floodfills(
        hosts: &[Ipv4Addr],
        floodfill: &[bool],
    ) -> Result<Self, I2pdError> {
        if floodfill.len() != hosts.len() {
            return Err(I2pdError::NetworkSize(hosts.len()));
        }
        Self::start_with(
            hosts
                .iter()
                .zip(floodfill)
                .map(|(&host, &floodfill)| I2pd::builder().host(host).floodfill(floodfill))
                .collect(),
        )
    }

    /// As [`I2pNetwork::start`], with one router per builder (each with its own host, see
    /// [`I2pdBuilder::host`], and whatever else it asks: a SOCKS proxy, server tunnels).
    ///
    /// # Errors
    /// As [`I2pNetwork::start`]; [`I2pdError::NetworkSize`] also when no router is a
    /// floodfill or two share a host.
    pub fn start_with(builders: Vec<I2pdBuilder>) -> Result<Self, I2pdError> {
        let hosts: Vec<Ipv4Addr> = builders.iter().map(|b| b.host).collect();
        let distinct = hosts
            .iter()
            .enumerate()
            .all(|(i, h)| !hosts.iter().take(i).any(|other| other == h));
        if hosts.is_empty()
            || hosts.len() > MAX_NETWORK_ROUTERS
            || !distinct
            || !builders.iter().any(|b| b.floodfill)
        {
            return Err(I2pdError::NetworkSize(hosts.len()));
        }
        let mut routers = builders
            .into_iter()
            .map(I2pdBuilder::start)
            .collect::<Result<Vec<_>, _>>()?;
        let mut infos = Vec::with_capacity(routers.len());
        for router in &routers {
            infos.push(wait_for_router_info(router, DEFAULT_START_TIMEOUT)?);
        }
        for router in &mut routers {
            router.stop()?;
        }
        for (i, router) in routers.iter().enumerate() {
            for (j, info) in infos.iter().enumerate() {
                if i != j {
                    router.add_known_router(info)?;
                }
            }
        }
        for router in &mut routers {
            router.restart()?;
        }
        Ok(Self { routers })
    }

    /// The routers, in the order of the hosts given.
    #[must_use]
    pub fn routers(&self) -> &[I2pd] {
        &self.routers
    }

    /// The routers, to kill or restart one.
    pub fn routers_mut(&mut self) -> &mut [I2pd] {
        &mut self.routers
    }

    /// The last `lines` log lines of every router, for assertion messages.
    #[must_use]
    pub fn log_tails(&self, lines: usize) -> String {
        self.routers
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "=== router {i} ({}):\n{}\n",
                    r.ntcp2_addr(),
                    r.log_tail(lines)
                )
            })
            .collect()
    }
}

/// Waits until `router.info` exists and holds a whole router identity.
fn wait_for_router_info(router: &I2pd, timeout: Duration) -> Result<Vec<u8>, I2pdError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(info) = router.router_info()
            && router_hash(&info).is_some()
        {
            return Ok(info);
        }
        if Instant::now() >= deadline {
            return Err(I2pdError::NoRouterInfo {
                dir: router.data_dir().to_path_buf(),
                timeout,
            });
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// The router's hash (SHA-256 of its identity) in I2P's base64, as i2pd names netDb
/// files; `None` if the bytes are too short for an identity.
#[must_use]
pub fn router_hash(router_info: &[u8]) -> Option<String> {
    // An identity is a 256-byte public key, a 128-byte signing key and a certificate
    // (type, 2-byte length, payload), like a destination.
    let &[hi, lo] = router_info.get(385..387)? else {
        return None;
    };
    let len = 387usize.checked_add(usize::from(u16::from_be_bytes([hi, lo])))?;
    let identity = router_info.get(..len)?;
    let digest = Sha256::digest(identity);
    Some(i2p_base64(&digest))
}

/// The `.b32.i2p` name of the destination at the start of `keys` (a destination, or
/// private keys, which begin with one): lower-case base32 of the SHA-256 of the
/// destination's bytes. `None` if too short.
#[must_use]
pub fn destination_b32(keys: &[u8]) -> Option<String> {
    // A destination has the layout of a router identity: 256 + 128 key bytes and a
    // certificate (type, 2-byte length, payload).
    let &[hi, lo] = keys.get(385..387)? else {
        return None;
    };
    let len = 387usize.checked_add(usize::from(u16::from_be_bytes([hi, lo])))?;
    let digest = Sha256::digest(keys.get(..len)?);
    let mut host = data_encoding::BASE32_NOPAD
        .encode(&digest)
        .to_ascii_lowercase();
    host.push_str(".b32.i2p");
    Some(host)
}

/// I2P's base64: `-` and `~` instead of `+` and `/`.
fn i2p_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .replace('+', "-")
        .replace('/', "~")
}

/// Writes a router info where i2pd looks for it: `netDb/r<first char>/routerInfo-<hash>.dat`.
fn write_known_router(data_dir: &Path, router_info: &[u8]) -> Result<(), I2pdError> {
    let net_db = data_dir.join("netDb");
    let hash = router_hash(router_info).ok_or_else(|| I2pdError::DataDir {
        path: net_db.clone(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not a router info"),
    })?;
    let first = hash.chars().next().unwrap_or('A');
    let dir = net_db.join(format!("r{first}"));
    let file = dir.join(format!("routerInfo-{hash}.dat"));
    fs::create_dir_all(&dir)
        .and_then(|()| fs::write(&file, router_info))
        .map_err(|source| I2pdError::DataDir { path: file, source })
}

/// One readiness probe: `HELLO` on the SAM port.
fn sam_hello(sam: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&sam, PROBE_TIMEOUT)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
    stream.write_all(b"HELLO VERSION MIN=3.1 MAX=3.1\n")?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while reply.len() < 256 {
        match stream.read(&mut byte)? {
            0 => break,
            _ if byte == [b'\n'] => break,
            _ => reply.extend_from_slice(&byte),
        }
    }
    if reply.starts_with(b"HELLO REPLY RESULT=OK") {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "SAM answered {:?}",
            String::from_utf8_lossy(&reply)
        )))
    }
}

fn read_tail(path: &Path, lines: usize) -> io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_READ_LIMIT)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    Ok(all
        .get(all.len().saturating_sub(lines)..)
        .unwrap_or_default()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_everything_on_loopback() {
        let builder = I2pd::builder();
        let config = builder.config(Path::new("/d"), 1001, 1002, 1003);
        for line in [
            "host = 127.0.0.1",
            "address4 = 127.0.0.1",
            "reservedrange = false",
            "netid = 77",
            "[sam]\nenabled = true\naddress = 127.0.0.1\nport = 1002",
            "[ntcp2]\nenabled = true\npublished = true\nport = 1001",
            "urls = http://127.0.0.1:1003/",
            "[nettime]\nenabled = false",
            "[upnp]\nenabled = false",
            "[http]\nenabled = false",
            "[ssu2]\nenabled = false",
            "[addressbook]\nenabled = true\ndefaulturl = http://",
            "logfile = /d/i2pd.log",
        ] {
            assert!(config.contains(line), "missing {line:?} in\n{config}");
        }
    }

    #[test]
    fn router_hash_names_the_netdb_file_like_i2pd() {
        // A router identity with a 4-byte key certificate, then the rest of a router info.
        let mut info = vec![7u8; 384];
        info.extend_from_slice(&[5, 0, 4, 0, 7, 0, 4]);
        info.extend_from_slice(b"published date, addresses, signature");
        let hash = router_hash(&info).unwrap();
        assert_eq!(hash.len(), 44);
        assert!(!hash.contains('+') && !hash.contains('/'));
        assert_eq!(hash, i2p_base64(&Sha256::digest(info.get(..391).unwrap())));
        assert_eq!(router_hash(&info[..390]), None);
        let dir = tempfile::tempdir().unwrap();
        write_known_router(dir.path(), &info).unwrap();
        let first = hash.chars().next().unwrap();
        assert!(
            dir.path()
                .join(format!("netDb/r{first}/routerInfo-{hash}.dat"))
                .exists()
        );
    }

    #[test]
    fn network_hosts_are_in_the_benchmark_range() {
        assert_eq!(
            network_hosts(3),
            [
                Ipv4Addr::new(198, 18, 0, 1),
                Ipv4Addr::new(198, 18, 0, 2),
                Ipv4Addr::new(198, 18, 0, 3)
            ]
        );
        assert!(matches!(
            I2pNetwork::start(&[]),
            Err(I2pdError::NetworkSize(0))
        ));
        let twice = [Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST];
        assert!(matches!(
            I2pNetwork::start(&twice),
            Err(I2pdError::NetworkSize(2))
        ));
    }
}
