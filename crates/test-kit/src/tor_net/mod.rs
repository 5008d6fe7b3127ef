//! A private Tor network on 127.0.0.1, for tests: directory authorities, exits, a middle
//! relay, a client tor with SOCKS and control ports, and an onion-service host, all real
//! Debian `tor` 0.4.9 processes started with `TestingTorNetwork 1`.
//!
//! ```text
//!                      ┌──────── 127.0.0.1 only ─────────────────────────────────────────┐
//!  TorNetwork::start() │ auth0 auth1 auth2   (DirAuthority: ORPort + DirPort, vote every  │
//!   1. keys            │   │     │     │      15 s, the only directory caches and HSDirs) │
//!   2. relays ─────────│ exit0 exit1 middle0 (ORPort; exits: 127.0.0.0/8:* + test ports)  │
//!   3. wait: consensus │   ▲                                                              │
//!      lists all,      │   │ circuits                                                     │
//!      all at 100 %    │ client0 ◀── SocksPort S, ControlPort C (cookie) ◀── code under   │
//!   4. clients ────────│ onionhost ◀── ADD_ONION (add_onion_service)           test       │
//!                      │ client1.. ◀── start_client()                                     │
//!                      └──────────────────────────────────────────────────────────────────┘
//! ```
//!
//! # Example
//!
//! ```no_run
//! use std::net::TcpListener;
//! use umbra_test_kit::tor_net::TorNetwork;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = TorNetwork::start()?; // 14–25 s until clients can build circuits
//! let socks = net.socks_addr(); // 127.0.0.1:S, SOCKS5 (use hostnames, e.g. x.onion)
//!
//! // Something of the test's own, reachable through an exit or as an onion service.
//! let server = TcpListener::bind("127.0.0.1:0")?;
//! let service = net.add_onion_service(80, server.local_addr()?)?; // 1–3 s
//! println!("dial {}:{} through {socks}", service.hostname, service.port);
//!
//! // Data for an embedded arti client joining the same network.
//! let arti = net.arti_network();
//! assert_eq!(arti.authorities.len(), 3);
//!
//! // One more client tor that the test can kill abruptly.
//! let mut extra = net.start_client()?;
//! extra.kill()?;
//! # Ok(())
//! # } // `net` is dropped here: every tor is stopped and the data dir deleted.
//! ```
//!
//! # How it starts (blocking, like [`Monerod`](crate::Monerod))
//!
//! 1. **Keys.** A temporary root dir (`umbra-tor-net-*`) gets one data dir per node. Authority
//!    keys come from `tor-gencert` (cached in memory for later networks of the same process),
//!    relay identities from `tor --list-fingerprint`; all run in parallel.
//! 2. **Relays.** Authorities, exits and middles start together, each with its torrc in its
//!    data dir, on ports picked like [`Monerod`](crate::Monerod)'s (bound to 127.0.0.1:0 and
//!    released just before the spawn).
//! 3. **Wait** until every authority's `cached-microdesc-consensus` lists every relay as
//!    `Running Valid` (and the exits as `Exit`), and every relay logged `Bootstrapped 100%`
//!    (DESIGN.md: start clients only then). Relays that asked for a consensus before the
//!    first one existed back off for up to 15 s; once the consensus is complete, each relay
//!    still waiting gets `SIGHUP` (by pid, at most 3 times), which resets that back-off.
//! 4. **Clients.** The client and the onion host start together; each is ready when its
//!    control port reports `status/bootstrap-phase` `PROGRESS=100` and
//!    `status/circuit-established=1`.
//!
//! If a tor exits during start-up because a picked port was taken meanwhile ("Address
//! already in use"), the network (or that client) starts again on fresh ports, at most
//! [`DEFAULT_PORT_ATTEMPTS`](crate::DEFAULT_PORT_ATTEMPTS) times. Any other exit, or the
//! start timeout, is an error quoting the failing tor's log tail.
//!
//! # The torrc options, and why
//!
//! | nodes | option | why |
//! |---|---|---|
//! | all | `TestingTorNetwork 1` | short timeouts, no reachability waits, private addresses allowed |
//! | all | `DirAuthority <name> orport=O no-v2 v3ident=V 127.0.0.1:D <fp>` | our authorities instead of the public ones (and no public fallbacks) |
//! | all | `PathsNeededToBuildCircuits 0.67`, `ClientUseIPv6 0` | a 6-relay network; IPv4 only |
//! | all | `TestingDirAuthVoteExit <exits>`, `TestingDirAuthVoteGuard *`, `TestingMinExitFlagThreshold 0` | exits limited to loopback still get the `Exit` flag; every relay may be a guard |
//! | all | `TestingDirAuthVoteHSDir <authorities>`, `TestingDirAuthVoteHSDirIsStrict 1` | only directory caches can store onion descriptors: with `*`, uploads to the `DirCache 0` relays never complete |
//! | all | `__OwningControllerProcess <test pid>`, `ShutdownWaitLength 0` | tor exits by itself if the test process is gone; `SIGTERM` exits at once |
//! | all | `LearnCircuitBuildTimeout 0`, `CircuitBuildTimeout 30` | circuits on loopback build in milliseconds, so the learned timeout shrinks to nothing and, on a loaded machine, builds "time out" until tor gives up for a minute (measured: rendezvous stalled) |
//! | all | `Log notice stdout`, `SafeLogging 0` | the log ([`TOR_LOG_FILE_NAME`]) shows addresses, for debugging |
//! | relays | `Address 127.0.0.1`, `ORPort 127.0.0.1:O`, `AssumeReachable 1`, `SocksPort 0` | loopback only, no self-test wait |
//! | relays | `FetchDirInfoEarly 1`, `FetchDirInfoExtraEarly 1` | fetch each new consensus as soon as it is out, not at a random later time |
//! | authorities | `V3AuthVotingInterval 15`, `V3AuthVoteDelay 2`, `V3AuthDistDelay 2`, `TestingV3AuthInitial{VotingInterval 5, VoteDelay 2, DistDelay 2}`, a fresh `V3BandwidthsFile` | a consensus 5 s after start, a new one every 15 s (the initial delays must add up to less than the initial interval) |
//! | authorities | `ConsensusParams hsdir_interval=6` | arti's onion-service time period equals C tor's (24 voting intervals under `TestingTorNetwork`), so arti and C tor reach each other's onion services |
//! | exits, middles | `DirCache 0` | only authorities serve directory documents |
//! | exits | `ExitPolicyRejectPrivate 0`, `ExitPolicy accept 127.0.0.0/8:*`, `accept *:<ephemeral ports>`, `reject *:*` | loopback is reachable; microdescriptor clients (arti, C tor) only see port summaries, and an exit limited to 127.0.0.0/8 summarises as "reject all" |
//! | exits | `ServerDNSResolvConfFile` (`nameserver 127.0.0.1`), `ServerDNSDetectHijacking 0` | no DNS query ever leaves loopback |
//! | clients | `SocksPort 127.0.0.1:S ExtendedErrors`, `ControlPort 127.0.0.1:C`, `CookieAuthentication 1`, `VanguardsLiteEnabled 0` | see below |
//!
//! **Control port authentication: cookie.** Read the 32 bytes at
//! [`TorClient::control_cookie_path`] and send `AUTHENTICATE <hex>`.
//!
//! **SOCKS.** `ExtendedErrors` makes failures to reach onion services visible in the reply
//! code (0xF0–0xF7). Through an exit, dial 127.0.0.1 on any port, or any address on a port in
//! the kernel's ephemeral range ([`TorNetworkBuilder::exit_ports`]); nothing beyond loopback
//! is reachable here anyway, and DNS names do not resolve (use IP addresses and `.onion`).
//!
//! # Guarantees
//!
//! - **Always stopped.** Dropping a [`TorNetwork`] sends `SIGTERM` to all its tors at once,
//!   waits up to the stop timeout, `SIGKILL`s any left and reaps them; a [`TorClient`] does the
//!   same for its own tor. Each tor is spawned with `PR_SET_PDEATHSIG = SIGKILL` (from the kit's
//!   spawner thread) and names the test process as `__OwningControllerProcess`, so none
//!   survives a killed test process.
//! - **Only our own children**, by pid; never by name.
//! - **Only 127.0.0.1** for every listener and every connection the fixture makes.
//! - **Bounded.** Start-up ([`DEFAULT_NETWORK_START_TIMEOUT`]), client start-up
//!   ([`DEFAULT_CLIENT_START_TIMEOUT`]), onion publication ([`DEFAULT_ONION_SERVICE_TIMEOUT`])
//!   and stopping ([`DEFAULT_TOR_STOP_TIMEOUT`]) have time limits; retries have count limits.
//! - **Logs kept on request.** Set `UMBRA_TEST_KIT_KEEP_DIRS=1` ([`KEEP_DIRS_ENV`](crate::KEEP_DIRS_ENV))
//!   or [`TorNetworkBuilder::keep_dirs`] to keep the root dir with every torrc and log.
//!
//! # Measured here (2 shared cores; details in `docs/tor-network.md`)
//!
//! Default network (3 authorities, 2 exits, 1 middle, client, onion host): usable 14–25 s
//! after `start()` (median 16 s; 4–8 s of it is key generation, mostly `tor-gencert`, which a
//! second network in the same process skips); [`TorNetwork::start_client`] takes 2.1 s; an onion service is
//! published 1.2–2 s after `add_onion_service` and the first connection to it takes
//! 0.2–0.5 s (3 s at worst); the eight tors use 110–340 MB RSS in all, 2.5–4 CPU-seconds to
//! start (plus 4–8 for the keys) and 2–4 % of one core when idle.
//!
//! # Joining with arti
//!
//! [`TorNetwork::arti_network`] returns [`ArtiNetwork`]: the authorities' v3 identities and
//! directory caches an embedded arti client needs (see its docs for the builder calls).

mod consensus;
mod control;
mod keys;
mod node;
mod torrc;

use std::fmt;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;

use self::control::ControlConn;
use self::node::TorProcess;
pub use self::node::{TOR_LOG_FILE_NAME, TORRC_FILE_NAME};
use crate::ports;

/// Where the fixture looks for tor when neither [`TorNetworkBuilder::tor_binary`] nor
/// `UMBRA_TOR` names one (the Debian package installs it here).
pub const DEFAULT_TOR_PATH: &str = "/usr/sbin/tor";

/// Where the fixture looks for tor-gencert by default (Debian package `tor`).
pub const DEFAULT_TOR_GENCERT_PATH: &str = "/usr/bin/tor-gencert";

/// Environment variable naming the tor binary to run.
pub const TOR_ENV: &str = "UMBRA_TOR";

/// Environment variable naming the tor-gencert binary to run.
pub const TOR_GENCERT_ENV: &str = "UMBRA_TOR_GENCERT";

/// Default bound on [`TorNetworkBuilder::start`]: keys, relays, consensus and clients.
pub const DEFAULT_NETWORK_START_TIMEOUT: Duration = Duration::from_secs(120);

/// Default bound on starting one more client ([`TorNetwork::start_client`]).
pub const DEFAULT_CLIENT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Default bound on publishing an onion service ([`TorClient::add_onion_service`]).
pub const DEFAULT_ONION_SERVICE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default grace between `SIGTERM` and `SIGKILL`. tor exits within milliseconds of `SIGTERM`.
pub const DEFAULT_TOR_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Most relays (authorities + exits + middles) one network may have.
pub const MAX_RELAYS: usize = 32;

/// Fewest relays (authorities + exits + middles) one network may have: a relay never puts
/// itself in its own circuits, so each needs three others to bootstrap (measured: with three
/// relays none ever reaches 100 %).
pub const MIN_RELAYS: usize = 4;

/// Exit ports used when the kernel's ephemeral range cannot be read.
const FALLBACK_EXIT_PORTS: RangeInclusive<u16> = 32768..=60999;

/// Lines of log quoted in errors.
const LOG_TAIL_LINES: usize = 30;

/// Pause between readiness checks.
const POLL: Duration = Duration::from_millis(100);

/// Bound on one control-port command outside start-up and onion publication.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a relay that has not bootstrapped once the consensus is complete gets `SIGHUP`.
const NUDGE_INTERVAL: Duration = Duration::from_secs(4);

/// At most this many `SIGHUP`s per relay during one start.
const MAX_NUDGES: u32 = 3;

/// What a relay logs once it has enough directory information and a circuit.
const BOOTSTRAPPED: &str = "Bootstrapped 100%";

/// Why the network, a client or an onion service could not be started, or a tor controlled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TorNetError {
    /// The builder's options make no usable network.
    #[error("invalid Tor network configuration: {0}")]
    InvalidConfig(String),
    /// A data dir could not be created.
    #[error("could not create the tor data dir {path}: {source}")]
    DataDir {
        /// The dir (empty for a temporary dir that could not be created).
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A torrc, key or log file could not be written.
    #[error("could not write {path}: {source}")]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Free loopback ports could not be found.
    #[error("could not pick free 127.0.0.1 ports for tor: {0}")]
    Ports(#[source] io::Error),
    /// A binary could not be executed.
    #[error("could not run {binary}: {source}")]
    Spawn {
        /// The binary (tor or tor-gencert).
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `tor-gencert` or `tor --list-fingerprint` failed, or their output was unusable.
    #[error("key generation failed ({what}): {detail}")]
    KeyGeneration {
        /// Which step.
        what: String,
        /// Status and output.
        detail: String,
    },
    /// A tor exited during start-up.
    #[error("tor node {node} exited during start-up ({status}); log {log}:\n{log_tail}")]
    Exited {
        /// The node's nickname.
        node: String,
        /// Its exit status.
        status: ExitStatus,
        /// Whether it exited because a picked port was taken meanwhile (retried).
        port_taken: bool,
        /// Its log (deleted with a temporary root dir).
        log: PathBuf,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The network or a client was not ready in time; everything started has been stopped.
    #[error(
        "the Tor network was not ready within {timeout:?}; waiting for: {waiting_for}; \
         log of {node} ({log}):\n{log_tail}"
    )]
    StartTimeout {
        /// The bound that ran out.
        timeout: Duration,
        /// What was still missing.
        waiting_for: String,
        /// The node the log tail is from (the first one still missing something).
        node: String,
        /// Its log.
        log: PathBuf,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A control-port exchange failed.
    #[error("control port {addr} of {node}: {detail}")]
    Control {
        /// The client's nickname.
        node: String,
        /// Its control port.
        addr: SocketAddr,
        /// What failed.
        detail: String,
    },
    /// An onion service was not published in time.
    #[error("onion service for {target} on {node} was not published: {detail}; log:\n{log_tail}")]
    OnionService {
        /// The hosting client's nickname.
        node: String,
        /// Where the service forwards to.
        target: SocketAddr,
        /// The bound that ran out and the uploads seen so far.
        detail: String,
        /// The host's log file, then its last lines.
        log_tail: String,
    },
    /// Waiting for or signalling a tor failed.
    #[error("could not control the tor process {pid} ({node}): {source}")]
    Process {
        /// The node's nickname.
        node: String,
        /// Its pid.
        pid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl TorNetError {
    /// Whether a tor exited because a port picked for it was taken meanwhile.
    pub fn is_port_taken(&self) -> bool {
        matches!(
            self,
            Self::Exited {
                port_taken: true,
                ..
            }
        )
    }
}

/// The role of a relay in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayRole {
    /// A directory authority: also a relay (guard or middle), a directory cache and an HSDir.
    Authority,
    /// An exit relay (to 127.0.0.0/8, and to the exit ports on any address).
    Exit,
    /// A middle relay.
    Middle,
}

/// One relay (authorities included) of a running network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayInfo {
    /// Its nickname (`auth0`, `exit0`, `middle0`, ...).
    pub nickname: String,
    /// Its role.
    pub role: RelayRole,
    /// Its ORPort address.
    pub or_addr: SocketAddr,
    /// Its DirPort address (authorities only).
    pub dir_addr: Option<SocketAddr>,
    /// RSA identity fingerprint, 40 upper-case hex digits.
    pub rsa_identity: String,
    /// Ed25519 identity, unpadded base64 (as in its `fingerprint-ed25519` file).
    pub ed25519_identity: String,
    /// For an authority: its v3 identity fingerprint (40 upper-case hex digits).
    pub v3ident: Option<String>,
    /// Its process id.
    pub pid: u32,
    /// Its data dir (torrc, log, keys, cached documents).
    pub data_dir: PathBuf,
}

/// How long each phase of [`TorNetworkBuilder::start`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StartTimings {
    /// Making keys and fingerprints (last attempt).
    pub keys: Duration,
    /// From spawning the relays until the consensus listed all and all bootstrapped.
    pub relays: Duration,
    /// From spawning the client (and onion host) until they could build circuits.
    pub clients: Duration,
    /// Everything, from the call to the return (all attempts).
    pub total: Duration,
    /// Start attempts made (more than 1 when a port was taken).
    pub attempts: u32,
}

/// What an embedded [arti](https://docs.rs/arti-client) client needs to join the network.
///
/// Plain data; this crate does not depend on arti. With `arti-client` 0.47:
///
/// ```text
/// let mut b = TorClientConfigBuilder::from_directories(state_dir, cache_dir);
/// let net = b.tor_network();
/// let auth = net.authorities();                       // AuthorityContactsBuilder
/// auth.set_v3idents(arti.authorities.iter().map(|a| a.v3ident.into()).collect());
/// // Optional today, but replaces the public addresses these lists default to:
/// let dirs: Vec<Vec<SocketAddr>> = arti.authorities.iter().map(|a| vec![a.dir_addr]).collect();
/// auth.set_uploads(dirs.clone()); auth.set_downloads(dirs.clone()); auth.set_votes(dirs);
/// net.set_fallback_caches(arti.fallback_caches.iter().map(|c| {   // required with custom authorities
///     let mut f = FallbackDir::builder();
///     f.rsa_identity(c.rsa_identity.into()).ed_identity(c.ed_identity.into());
///     f.orports().extend(c.orports.iter().copied());
///     f
/// }).collect());
/// b.address_filter().allow_local_addrs(true);          // relays and targets on 127.0.0.1
/// b.path_rules().ipv4_subnet_family_prefix(33);        // every relay shares 127.0.0.1
/// ```
///
/// [`ArtiNetwork::to_arti_toml`] renders the same as an arti configuration file fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArtiNetwork {
    /// The directory authorities (`tor_network.authorities`).
    pub authorities: Vec<ArtiAuthority>,
    /// Directory caches to fetch the first consensus from (`tor_network.fallback_caches`):
    /// the authorities, the only relays with `DirCache` on.
    pub fallback_caches: Vec<ArtiFallbackCache>,
}

/// A directory authority, for arti's `AuthorityContactsBuilder`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArtiAuthority {
    /// Its nickname.
    pub name: String,
    /// Its v3 identity (SHA-1 of its authority identity key; `RsaIdentity` in arti): goes
    /// into `set_v3idents`.
    pub v3ident: [u8; 20],
    /// Its DirPort (`uploads`/`downloads`/`votes`).
    pub dir_addr: SocketAddr,
    /// Its ORPort.
    pub or_addr: SocketAddr,
}

impl ArtiAuthority {
    /// [`ArtiAuthority::v3ident`] as 40 upper-case hex digits.
    pub fn v3ident_hex(&self) -> String {
        hex::encode_upper(self.v3ident)
    }
}

/// A directory cache, for arti's `FallbackDirBuilder`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArtiFallbackCache {
    /// Its nickname.
    pub name: String,
    /// Its RSA identity fingerprint (`rsa_identity`).
    pub rsa_identity: [u8; 20],
    /// Its Ed25519 identity (`ed_identity`).
    pub ed_identity: [u8; 32],
    /// Its ORPort addresses (`orports`).
    pub orports: Vec<SocketAddr>,
}

impl ArtiFallbackCache {
    /// [`ArtiFallbackCache::rsa_identity`] as 40 upper-case hex digits.
    pub fn rsa_identity_hex(&self) -> String {
        hex::encode_upper(self.rsa_identity)
    }

    /// [`ArtiFallbackCache::ed_identity`] as unpadded base64 (arti's configuration format).
    pub fn ed_identity_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.ed_identity)
    }
}

impl ArtiNetwork {
    /// The network as a fragment of an arti configuration file (TOML), with the two
    /// settings a loopback network needs (`allow_local_addrs`, `ipv4_subnet_family_prefix`).
    ///
    /// Written after arti-client 0.47's serde field names (hex RSA identities, unpadded
    /// base64 Ed25519 identities); not yet checked by loading it into arti.
    pub fn to_arti_toml(&self) -> String {
        let quote_list = |items: Vec<String>| {
            items
                .iter()
                .map(|i| format!("\"{i}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let dir_lists = self
            .authorities
            .iter()
            .map(|a| format!("[\"{}\"]", a.dir_addr))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = String::from("[tor_network]\nfallback_caches = [\n");
        for cache in &self.fallback_caches {
            out.push_str(&format!(
                "    {{ rsa_identity = \"{}\", ed_identity = \"{}\", orports = [{}] }},\n",
                cache.rsa_identity_hex(),
                cache.ed_identity_base64(),
                quote_list(cache.orports.iter().map(ToString::to_string).collect())
            ));
        }
        out.push_str("]\n\n[tor_network.authorities]\n");
        out.push_str(&format!(
            "v3idents = [{}]\n",
            quote_list(self.authorities.iter().map(|a| a.v3ident_hex()).collect())
        ));
        out.push_str(&format!("uploads = [{dir_lists}]\n"));
        out.push_str(&format!("downloads = [{dir_lists}]\n"));
        out.push_str(&format!("votes = [{dir_lists}]\n"));
        out.push_str("\n[address_filter]\nallow_local_addrs = true\n");
        out.push_str("\n[path_rules]\nipv4_subnet_family_prefix = 33\n");
        out
    }
}

/// An onion service published by [`TorClient::add_onion_service`].
///
/// It lives as long as the tor that hosts it (it is added with `Flags=Detach`), or until
/// [`TorClient::remove_onion_service`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnionService {
    /// `<56 base32 characters>.onion`.
    pub hostname: String,
    /// The virtual port clients dial.
    pub port: u16,
    /// Where the host forwards connections.
    pub target: SocketAddr,
    /// The service's key as tor returns it (`ED25519-V3:<base64>`), to publish the same
    /// address again with [`TorClient::add_onion_service_with_key`]. Not shown by `Debug`.
    pub private_key: String,
    /// From `ADD_ONION` until the descriptor was uploaded to every HSDir it was sent to.
    pub published_in: Duration,
}

impl OnionService {
    /// The service id: the hostname without `.onion`.
    pub fn service_id(&self) -> &str {
        self.hostname
            .strip_suffix(".onion")
            .unwrap_or(&self.hostname)
    }
}

impl fmt::Debug for OnionService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnionService")
            .field("hostname", &self.hostname)
            .field("port", &self.port)
            .field("target", &self.target)
            .field("private_key", &"<redacted>")
            .field("published_in", &self.published_in)
            .finish()
    }
}

/// Options for starting a [`TorNetwork`]; see [`TorNetwork::builder`].
#[derive(Debug, Clone)]
pub struct TorNetworkBuilder {
    tor: Option<PathBuf>,
    gencert: Option<PathBuf>,
    authorities: usize,
    exits: usize,
    middles: usize,
    onion_host: bool,
    exit_ports: Option<RangeInclusive<u16>>,
    start_timeout: Duration,
    client_start_timeout: Duration,
    onion_timeout: Duration,
    stop_timeout: Duration,
    keep_dirs: Option<bool>,
    port_attempts: u32,
}

impl Default for TorNetworkBuilder {
    fn default() -> Self {
        Self {
            tor: None,
            gencert: None,
            authorities: 3,
            exits: 2,
            middles: 1,
            onion_host: true,
            exit_ports: None,
            start_timeout: DEFAULT_NETWORK_START_TIMEOUT,
            client_start_timeout: DEFAULT_CLIENT_START_TIMEOUT,
            onion_timeout: DEFAULT_ONION_SERVICE_TIMEOUT,
            stop_timeout: DEFAULT_TOR_STOP_TIMEOUT,
            keep_dirs: None,
            port_attempts: crate::DEFAULT_PORT_ATTEMPTS,
        }
    }
}

impl TorNetworkBuilder {
    /// The tor binary. Default: `$UMBRA_TOR`, else [`DEFAULT_TOR_PATH`] if it exists, else
    /// `tor` from `PATH`.
    pub fn tor_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.tor = Some(path.into());
        self
    }

    /// The tor-gencert binary. Default: `$UMBRA_TOR_GENCERT`, else
    /// [`DEFAULT_TOR_GENCERT_PATH`] if it exists, else `tor-gencert` from `PATH`.
    pub fn tor_gencert_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.gencert = Some(path.into());
        self
    }

    /// Number of directory authorities (at least 1). Default 3. A network needs at least
    /// [`MIN_RELAYS`] relays in all (authorities count as relays).
    pub fn authorities(mut self, count: usize) -> Self {
        self.authorities = count;
        self
    }

    /// Number of exit relays (at least 1). Default 2.
    pub fn exits(mut self, count: usize) -> Self {
        self.exits = count;
        self
    }

    /// Number of middle relays. Default 1.
    pub fn middles(mut self, count: usize) -> Self {
        self.middles = count;
        self
    }

    /// Whether to start a separate client tor, `onionhost`, that hosts the services of
    /// [`TorNetwork::add_onion_service`] (so dialling one from the client crosses two tor
    /// processes, as in real use). Without it the client hosts them. Default: on.
    pub fn onion_host(mut self, enabled: bool) -> Self {
        self.onion_host = enabled;
        self
    }

    /// Ports the exits accept on *any* address (on 127.0.0.0/8 they accept every port).
    /// Default: the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`,
    /// usually 32768–60999), where ports bound to 127.0.0.1:0 and the kit's picked ports come
    /// from. Clients that use microdescriptors (arti always, C tor by default) choose exits by
    /// port only, so a test server on a port outside this range may be unreachable.
    pub fn exit_ports(mut self, ports: RangeInclusive<u16>) -> Self {
        self.exit_ports = Some(ports);
        self
    }

    /// Bound on [`TorNetworkBuilder::start`]. Default [`DEFAULT_NETWORK_START_TIMEOUT`].
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Bound on [`TorNetwork::start_client`]. Default [`DEFAULT_CLIENT_START_TIMEOUT`].
    pub fn client_start_timeout(mut self, timeout: Duration) -> Self {
        self.client_start_timeout = timeout;
        self
    }

    /// Bound on publishing an onion service. Default [`DEFAULT_ONION_SERVICE_TIMEOUT`].
    pub fn onion_service_timeout(mut self, timeout: Duration) -> Self {
        self.onion_timeout = timeout;
        self
    }

    /// Grace between `SIGTERM` and `SIGKILL`. Default [`DEFAULT_TOR_STOP_TIMEOUT`].
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Keep the root data dir (every torrc, log, key) after the network is dropped. Default:
    /// whether `UMBRA_TEST_KIT_KEEP_DIRS` ([`KEEP_DIRS_ENV`](crate::KEEP_DIRS_ENV)) is set
    /// to anything but `0` or empty.
    pub fn keep_dirs(mut self, keep: bool) -> Self {
        self.keep_dirs = Some(keep);
        self
    }

    /// How many times to start again with fresh ports when a tor finds a picked port taken
    /// (at least 1). Default [`DEFAULT_PORT_ATTEMPTS`](crate::DEFAULT_PORT_ATTEMPTS).
    pub fn port_attempts(mut self, attempts: u32) -> Self {
        self.port_attempts = attempts.max(1);
        self
    }

    /// Starts the network and waits until it is usable: the consensus lists every relay,
    /// every relay has bootstrapped, and the client (and onion host) can build circuits.
    ///
    /// Blocks for 14–25 s on these machines, at most [`TorNetworkBuilder::start_timeout`].
    /// On failure everything started is stopped and the error quotes the failing tor's log.
    pub fn start(self) -> Result<TorNetwork, TorNetError> {
        self.validate()?;
        let started = Instant::now();
        let deadline = started + self.start_timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_start(deadline) {
                Ok(mut network) => {
                    network.timings.total = started.elapsed();
                    network.timings.attempts = attempt;
                    let t = network.timings;
                    tracing::info!(
                        socks = %network.socks_addr(),
                        control = %network.control_addr(),
                        root = %network.data_dir().display(),
                        keys_ms = t.keys.as_millis(),
                        relays_ms = t.relays.as_millis(),
                        clients_ms = t.clients.as_millis(),
                        total_ms = t.total.as_millis(),
                        attempt,
                        "private Tor network ready"
                    );
                    return Ok(network);
                }
                Err(error) if error.is_port_taken() && attempt < self.port_attempts => {
                    tracing::warn!(attempt, %error, "a tor could not bind its port; starting the network again on fresh ports");
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn validate(&self) -> Result<(), TorNetError> {
        if self.authorities == 0 {
            return Err(TorNetError::InvalidConfig(
                "at least one directory authority is needed".into(),
            ));
        }
        if self.exits == 0 {
            return Err(TorNetError::InvalidConfig(
                "at least one exit is needed".into(),
            ));
        }
        let total = self.authorities + self.exits + self.middles;
        if total > MAX_RELAYS {
            return Err(TorNetError::InvalidConfig(format!(
                "{total} relays requested; at most {MAX_RELAYS}"
            )));
        }
        if total < MIN_RELAYS {
            return Err(TorNetError::InvalidConfig(format!(
                "{total} relays are too few: a relay never uses itself, so each needs three \
                 others for its own circuits (at least {MIN_RELAYS} in all)"
            )));
        }
        if let Some(ports) = &self.exit_ports
            && (ports.is_empty() || *ports.start() == 0)
        {
            return Err(TorNetError::InvalidConfig(format!(
                "exit ports {ports:?} are not a range of real ports"
            )));
        }
        Ok(())
    }

    fn keep(&self) -> bool {
        self.keep_dirs.unwrap_or_else(|| {
            std::env::var_os(crate::KEEP_DIRS_ENV).is_some_and(|v| !v.is_empty() && v != "0")
        })
    }

    /// One start attempt on fresh ports in a fresh root dir.
    fn try_start(&self, deadline: Instant) -> Result<TorNetwork, TorNetError> {
        let tor = resolve_binary(self.tor.as_ref(), TOR_ENV, DEFAULT_TOR_PATH, "tor");
        let gencert = resolve_binary(
            self.gencert.as_ref(),
            TOR_GENCERT_ENV,
            DEFAULT_TOR_GENCERT_PATH,
            "tor-gencert",
        );
        let mut root = tempfile::Builder::new()
            .prefix("umbra-tor-net-")
            .tempdir()
            .map_err(|source| TorNetError::DataDir {
                path: PathBuf::new(),
                source,
            })?;
        if self.keep() {
            tracing::info!(dir = %root.path().display(), "keeping the Tor network's data dir");
            root.disable_cleanup(true);
        }
        let root = Arc::new(root);
        let root_path = root.path().to_path_buf();
        let defaults_torrc = root_path.join("torrc-defaults");
        write_file(&defaults_torrc, "")?;
        let resolv_conf = root_path.join("resolv.conf");
        write_file(&resolv_conf, torrc::RESOLV_CONF)?;

        // Plan the relays: names, roles, ports, data dirs.
        let mut plan: Vec<(String, RelayRole)> = Vec::new();
        plan.extend((0..self.authorities).map(|i| (format!("auth{i}"), RelayRole::Authority)));
        plan.extend((0..self.exits).map(|i| (format!("exit{i}"), RelayRole::Exit)));
        plan.extend((0..self.middles).map(|i| (format!("middle{i}"), RelayRole::Middle)));
        let mut free = ports::pick_free_ports(plan.len() + self.authorities)
            .map_err(TorNetError::Ports)?
            .into_iter();
        let mut next_port = || {
            free.next()
                .ok_or_else(|| TorNetError::Ports(io::Error::other("picked too few ports")))
        };
        let mut relays = Vec::with_capacity(plan.len());
        for (nickname, role) in plan {
            let or_port = next_port()?;
            let dir_port = match role {
                RelayRole::Authority => Some(next_port()?),
                _ => None,
            };
            let data_dir = root_path.join(&nickname);
            node::create_private_dir(&data_dir)?;
            relays.push(PlannedRelay {
                nickname,
                role,
                or_port,
                dir_port,
                data_dir,
            });
        }

        // 1. Keys.
        let keys_started = Instant::now();
        let requests: Vec<keys::KeyRequest<'_>> = relays
            .iter()
            .map(|r| keys::KeyRequest {
                nickname: &r.nickname,
                data_dir: &r.data_dir,
                authority: r.role == RelayRole::Authority,
            })
            .collect();
        let node_keys = keys::make_keys(&tor, &gencert, &defaults_torrc, &requests, deadline)?;
        let keys_time = keys_started.elapsed();

        let mut infos = Vec::with_capacity(relays.len());
        let mut authorities = Vec::new();
        for (relay, keys) in relays.iter().zip(node_keys) {
            if let (Some(dir_port), Some(v3ident)) = (relay.dir_port, keys.v3ident.clone()) {
                authorities.push(torrc::DirAuthority {
                    name: relay.nickname.clone(),
                    or_port: relay.or_port,
                    dir_port,
                    v3ident,
                    fingerprint: keys.ids.rsa.clone(),
                });
            }
            infos.push(RelayInfo {
                nickname: relay.nickname.clone(),
                role: relay.role,
                or_addr: ports::loopback(relay.or_port),
                dir_addr: relay.dir_port.map(ports::loopback),
                rsa_identity: keys.ids.rsa,
                ed25519_identity: keys.ids.ed25519,
                v3ident: keys.v3ident,
                pid: 0,
                data_dir: relay.data_dir.clone(),
            });
        }
        let shared = torrc::Shared {
            owner_pid: std::process::id(),
            authorities,
            exit_fingerprints: infos
                .iter()
                .filter(|i| i.role == RelayRole::Exit)
                .map(|i| i.rsa_identity.clone())
                .collect(),
        };

        // 2. Relays, all at once.
        let relays_started = Instant::now();
        let exit_ports = self.exit_ports.clone().unwrap_or_else(ephemeral_ports);
        let now_unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut processes: Vec<TorProcess> = Vec::with_capacity(relays.len());
        for (relay, info) in relays.iter().zip(infos.iter_mut()) {
            let bandwidth_file = relay.data_dir.join("bandwidth-file");
            let role = match relay.role {
                RelayRole::Authority => {
                    write_file(&bandwidth_file, &torrc::bandwidth_file(now_unix))?;
                    torrc::RelayRole::Authority {
                        dir_port: relay.dir_port.unwrap_or_default(),
                        bandwidth_file: &bandwidth_file,
                    }
                }
                RelayRole::Exit => torrc::RelayRole::Exit {
                    ports: exit_ports.clone(),
                    resolv_conf: &resolv_conf,
                },
                RelayRole::Middle => torrc::RelayRole::Middle,
            };
            let text = torrc::relay(
                &shared,
                &relay.nickname,
                &relay.data_dir,
                relay.or_port,
                &role,
            );
            let process = TorProcess::spawn(
                &tor,
                &defaults_torrc,
                &relay.nickname,
                &relay.data_dir,
                &text,
                self.stop_timeout,
            )?;
            info.pid = process.pid();
            processes.push(process);
        }
        let mut relays_guard = RelaysGuard(processes);

        // 3. Wait for the consensus and the relays.
        let identities: Vec<String> = infos
            .iter()
            .map(|i| rsa_hex_to_consensus_base64(&i.rsa_identity))
            .collect::<Result<_, _>>()?;
        let expected: Vec<consensus::Expected<'_>> = infos
            .iter()
            .zip(&identities)
            .map(|(info, identity)| consensus::Expected {
                nickname: &info.nickname,
                identity,
                exit: info.role == RelayRole::Exit,
            })
            .collect();
        wait_relays_ready(
            &mut relays_guard.0,
            self.authorities,
            &expected,
            deadline,
            self.start_timeout,
        )?;
        let relays_time = relays_started.elapsed();

        // 4. The client and the onion host, together.
        let spec = Arc::new(ClientSpec {
            tor,
            defaults_torrc,
            shared,
            root: Arc::clone(&root),
            stop_timeout: self.stop_timeout,
            client_start_timeout: self.client_start_timeout,
            onion_timeout: self.onion_timeout,
            port_attempts: self.port_attempts,
            next_client: AtomicU32::new(1),
        });
        let clients_started = Instant::now();
        let mut names = vec!["client0".to_owned()];
        if self.onion_host {
            names.push("onionhost".to_owned());
        }
        let mut clients = spec
            .start_clients(&names, deadline, self.start_timeout)?
            .into_iter();
        let clients_time = clients_started.elapsed();
        let client = clients
            .next()
            .ok_or_else(|| TorNetError::InvalidConfig("the client was not started".to_owned()))?;
        let onion_host = clients.next();

        Ok(TorNetwork {
            client,
            onion_host,
            relays: std::mem::take(&mut relays_guard.0),
            relay_info: infos,
            spec,
            timings: StartTimings {
                keys: keys_time,
                relays: relays_time,
                clients: clients_time,
                total: Duration::ZERO,
                attempts: 0,
            },
        })
    }
}

#[derive(Debug)]
struct PlannedRelay {
    nickname: String,
    role: RelayRole,
    or_port: u16,
    dir_port: Option<u16>,
    data_dir: PathBuf,
}

/// Stops the relays of a failed start all at once (faster than one after another).
struct RelaysGuard(Vec<TorProcess>);

impl Drop for RelaysGuard {
    fn drop(&mut self) {
        node::stop_all(self.0.iter_mut());
    }
}

/// Polls until every authority's microdescriptor consensus lists every relay as usable and
/// every relay logged "Bootstrapped 100%".
///
/// A relay that asked for a consensus before the first one existed backs off for up to 15 s;
/// once the consensus is complete, each relay still waiting gets `SIGHUP` (every
/// [`NUDGE_INTERVAL`], at most [`MAX_NUDGES`] times), which resets its back-off and makes it
/// fetch at once.
fn wait_relays_ready(
    relays: &mut [TorProcess],
    authority_count: usize,
    expected: &[consensus::Expected<'_>],
    deadline: Instant,
    timeout: Duration,
) -> Result<(), TorNetError> {
    let mut bootstrapped = vec![false; relays.len()];
    let mut nudges: Vec<(u32, Option<Instant>)> = vec![(0, None); relays.len()];
    loop {
        for relay in relays.iter_mut() {
            relay.check_running()?;
        }
        let mut waiting: Vec<String> = Vec::new();
        // Index of the first node still missing something: its log goes into the error.
        let mut laggard: Option<usize> = None;
        for (index, authority) in relays.iter().enumerate().take(authority_count) {
            let path = authority.data_dir().join("cached-microdesc-consensus");
            let missing = match fs::read_to_string(&path) {
                Ok(document) => consensus::missing(&document, expected),
                Err(_) => vec!["no consensus yet".to_owned()],
            };
            if !missing.is_empty() {
                waiting.push(format!("{}: {}", authority.name(), missing.join(", ")));
                laggard.get_or_insert(index);
            }
        }
        let consensus_complete = waiting.is_empty();
        for (index, relay) in relays.iter_mut().enumerate() {
            let (Some(done), Some(nudge)) = (bootstrapped.get_mut(index), nudges.get_mut(index))
            else {
                continue;
            };
            if !*done {
                *done = relay.log_since_start().contains(BOOTSTRAPPED);
            }
            if *done {
                continue;
            }
            if consensus_complete
                && nudge.0 < MAX_NUDGES
                && nudge.1.is_none_or(|at| at.elapsed() >= NUDGE_INTERVAL)
            {
                relay.reload();
                *nudge = (nudge.0 + 1, Some(Instant::now()));
            }
            waiting.push(format!("{} not bootstrapped", relay.name()));
            laggard.get_or_insert(index);
        }
        let Some(laggard) = laggard.and_then(|index| relays.get(index)) else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(TorNetError::StartTimeout {
                timeout,
                waiting_for: waiting.join("; "),
                node: laggard.name().to_owned(),
                log: laggard.log_path().to_path_buf(),
                log_tail: laggard.log_tail(LOG_TAIL_LINES),
            });
        }
        thread::sleep(POLL);
    }
}

/// What starting a client needs; shared by the network and every client it started.
#[derive(Debug)]
struct ClientSpec {
    tor: PathBuf,
    defaults_torrc: PathBuf,
    shared: torrc::Shared,
    /// Keeps the root dir alive (and deleted last) while any client runs.
    root: Arc<tempfile::TempDir>,
    stop_timeout: Duration,
    client_start_timeout: Duration,
    onion_timeout: Duration,
    port_attempts: u32,
    next_client: AtomicU32,
}

impl ClientSpec {
    /// Spawns one client tor on fresh ports.
    fn spawn(self: &Arc<Self>, name: &str) -> Result<TorClient, TorNetError> {
        let picked = ports::pick_free_ports(2).map_err(TorNetError::Ports)?;
        let (Some(&socks), Some(&control)) = (picked.first(), picked.get(1)) else {
            return Err(TorNetError::Ports(io::Error::other("picked too few ports")));
        };
        self.spawn_on(name, socks, control)
    }

    /// Spawns client `name` with its SOCKS and control ports at `socks` and `control` (its
    /// data dir is kept from an earlier run of the same name).
    fn spawn_on(
        self: &Arc<Self>,
        name: &str,
        socks: u16,
        control: u16,
    ) -> Result<TorClient, TorNetError> {
        let data_dir = self.root.path().join(name);
        let text = torrc::client(&self.shared, name, &data_dir, socks, control);
        let process = TorProcess::spawn(
            &self.tor,
            &self.defaults_torrc,
            name,
            &data_dir,
            &text,
            self.stop_timeout,
        )?;
        Ok(TorClient {
            control_cookie_path: data_dir.join("control_auth_cookie"),
            socks_addr: ports::loopback(socks),
            control_addr: ports::loopback(control),
            name: name.to_owned(),
            process,
            spec: Arc::clone(self),
        })
    }

    /// Starts the named clients together and waits until each can build circuits; a client
    /// whose port was taken starts again on fresh ports.
    fn start_clients(
        self: &Arc<Self>,
        names: &[String],
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Vec<TorClient>, TorNetError> {
        let mut pending = names
            .iter()
            .map(|name| self.spawn(name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ready = Vec::with_capacity(pending.len());
        for mut client in pending.drain(..) {
            let mut attempt = 1;
            loop {
                match client.wait_ready(deadline, timeout) {
                    Ok(()) => break,
                    Err(error) if error.is_port_taken() && attempt < self.port_attempts => {
                        tracing::warn!(node = %client.name, attempt, "client could not bind its ports; retrying");
                        attempt += 1;
                        let name = client.name.clone();
                        drop(client);
                        client = self.spawn(&name)?;
                    }
                    Err(error) => return Err(error),
                }
            }
            ready.push(client);
        }
        Ok(ready)
    }
}

/// A private Tor network on 127.0.0.1; see the [module docs](self).
///
/// Every tor it started is stopped when it is dropped (also while a test unwinds); clients
/// from [`TorNetwork::start_client`] are separate values with their own lifetime.
#[derive(Debug)]
pub struct TorNetwork {
    client: TorClient,
    onion_host: Option<TorClient>,
    /// Authorities first, then exits, then middles (the order of `relay_info`).
    relays: Vec<TorProcess>,
    relay_info: Vec<RelayInfo>,
    spec: Arc<ClientSpec>,
    timings: StartTimings,
}

impl TorNetwork {
    /// Starts the default network (3 authorities, 2 exits, 1 middle, a client and an onion
    /// host); see [`TorNetworkBuilder::start`].
    pub fn start() -> Result<Self, TorNetError> {
        Self::builder().start()
    }

    /// Options for starting a network.
    pub fn builder() -> TorNetworkBuilder {
        TorNetworkBuilder::default()
    }

    /// The client tor (nickname `client0`).
    pub fn client(&self) -> &TorClient {
        &self.client
    }

    /// The client tor, mutably (to [`kill`](TorClient::kill) it).
    pub fn client_mut(&mut self) -> &mut TorClient {
        &mut self.client
    }

    /// The onion-service host (`onionhost`), unless disabled with
    /// [`TorNetworkBuilder::onion_host`].
    pub fn onion_host(&self) -> Option<&TorClient> {
        self.onion_host.as_ref()
    }

    /// The client's SOCKS5 address (`127.0.0.1:S`, no authentication).
    pub fn socks_addr(&self) -> SocketAddr {
        self.client.socks_addr()
    }

    /// The client's control port (`127.0.0.1:C`, cookie authentication).
    pub fn control_addr(&self) -> SocketAddr {
        self.client.control_addr()
    }

    /// The client's control cookie (32 bytes; send `AUTHENTICATE <hex>`).
    pub fn control_cookie_path(&self) -> &Path {
        self.client.control_cookie_path()
    }

    /// The client's process id.
    pub fn client_pid(&self) -> u32 {
        self.client.pid()
    }

    /// Starts one more client tor (its own SOCKS and control ports, nickname `client<N>`) and
    /// waits until it can build circuits (about 2 s). It is stopped when dropped, may be
    /// [`killed`](TorClient::kill), and may outlive the network (it then cannot build new
    /// circuits).
    pub fn start_client(&self) -> Result<TorClient, TorNetError> {
        let n = self.spec.next_client.fetch_add(1, Ordering::Relaxed);
        let timeout = self.spec.client_start_timeout;
        let mut clients =
            self.spec
                .start_clients(&[format!("client{n}")], Instant::now() + timeout, timeout)?;
        clients
            .pop()
            .ok_or_else(|| TorNetError::InvalidConfig("the client was not started".to_owned()))
    }

    /// Publishes an onion service forwarding virtual port `virt_port` to `target`, on the
    /// onion host (or on the client without one), and returns once its descriptor is
    /// uploaded, so the service is reachable; see [`TorClient::add_onion_service`].
    pub fn add_onion_service(
        &self,
        virt_port: u16,
        target: SocketAddr,
    ) -> Result<OnionService, TorNetError> {
        self.service_host().add_onion_service(virt_port, target)
    }

    /// Removes a service published with [`TorNetwork::add_onion_service`].
    pub fn remove_onion_service(&self, service: &OnionService) -> Result<(), TorNetError> {
        self.service_host().remove_onion_service(service)
    }

    fn service_host(&self) -> &TorClient {
        self.onion_host.as_ref().unwrap_or(&self.client)
    }

    /// What an embedded arti client needs to join this network.
    pub fn arti_network(&self) -> ArtiNetwork {
        let authorities = self.relay_info.iter().filter_map(|relay| {
            let v3ident = relay.v3ident.as_deref().and_then(hex_20)?;
            Some((relay, v3ident, relay.dir_addr?))
        });
        let mut out = ArtiNetwork {
            authorities: Vec::new(),
            fallback_caches: Vec::new(),
        };
        for (relay, v3ident, dir_addr) in authorities {
            out.authorities.push(ArtiAuthority {
                name: relay.nickname.clone(),
                v3ident,
                dir_addr,
                or_addr: relay.or_addr,
            });
            if let (Some(rsa_identity), Some(ed_identity)) = (
                hex_20(&relay.rsa_identity),
                base64_32(&relay.ed25519_identity),
            ) {
                out.fallback_caches.push(ArtiFallbackCache {
                    name: relay.nickname.clone(),
                    rsa_identity,
                    ed_identity,
                    orports: vec![relay.or_addr],
                });
            }
        }
        out
    }

    /// Every relay, authorities first.
    pub fn relays(&self) -> &[RelayInfo] {
        &self.relay_info
    }

    /// The pids of every tor this network runs (relays, client, onion host; not the clients
    /// from [`TorNetwork::start_client`]).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.relays.iter().map(TorProcess::pid).collect();
        pids.push(self.client.pid());
        pids.extend(self.onion_host.as_ref().map(TorClient::pid));
        pids
    }

    /// The root dir holding one data dir per node (named after the node).
    pub fn data_dir(&self) -> &Path {
        self.spec.root.path()
    }

    /// How long the start took, phase by phase.
    pub fn start_timings(&self) -> StartTimings {
        self.timings
    }

    /// The last `lines` lines of every node's log, one section per node: handy in assertion
    /// messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        let clients =
            std::iter::once(&self.client.process).chain(self.onion_host.iter().map(|c| &c.process));
        for process in self.relays.iter().chain(clients) {
            out.push_str(&format!(
                "--- {} ({}) ---\n",
                process.name(),
                process.log_path().display()
            ));
            out.push_str(&process.log_tail(lines));
            out.push('\n');
        }
        out
    }

    /// Takes the network down: stops every authority and relay, but leaves the client and
    /// the onion host running (they keep their open circuits for a while, but can build no
    /// new ones). For "the Tor network is down" tests. Returns when all are reaped.
    pub fn stop_relays(&mut self) {
        node::stop_all(self.relays.iter_mut());
    }

    /// Stops every tor of the network now (what dropping it does), all at once.
    pub fn stop(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let clients = std::iter::once(&mut self.client.process)
            .chain(self.onion_host.iter_mut().map(|c| &mut c.process));
        node::stop_all(clients.chain(self.relays.iter_mut()));
    }
}

impl Drop for TorNetwork {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// One client tor with a SOCKS port and a control port (cookie authentication).
///
/// Dropping it sends `SIGTERM`, waits up to the stop timeout, sends `SIGKILL` if needed and
/// reaps it; [`TorClient::kill`] kills it abruptly instead.
#[derive(Debug)]
pub struct TorClient {
    name: String,
    socks_addr: SocketAddr,
    control_addr: SocketAddr,
    control_cookie_path: PathBuf,
    // Dropped before `spec`, which keeps the root dir alive.
    process: TorProcess,
    spec: Arc<ClientSpec>,
}

impl TorClient {
    /// Its nickname (`client0`, `onionhost`, `client1`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its SOCKS5 address (`127.0.0.1:S`, no authentication; `ExtendedErrors`).
    pub fn socks_addr(&self) -> SocketAddr {
        self.socks_addr
    }

    /// Its control port (`127.0.0.1:C`).
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// Its control cookie file (`CookieAuthentication 1`): 32 bytes, authenticate with
    /// `AUTHENTICATE <hex of the bytes>`.
    pub fn control_cookie_path(&self) -> &Path {
        &self.control_cookie_path
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Its data dir (torrc, log, cookie, state).
    pub fn data_dir(&self) -> &Path {
        self.process.data_dir()
    }

    /// Its log ([`TOR_LOG_FILE_NAME`] in its data dir).
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// Whether it is still running (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Kills it abruptly (`SIGKILL`: no clean-up, circuits and SOCKS connections drop at
    /// once) and reaps it, to simulate a tor that dies mid-session. A no-op once stopped.
    pub fn kill(&mut self) -> Result<(), TorNetError> {
        let pid = self.process.pid();
        self.process
            .kill()
            .map(drop)
            .map_err(|source| TorNetError::Process {
                node: self.name.clone(),
                pid,
                source,
            })
    }

    /// Starts it again, on the same SOCKS and control ports and data dir (after
    /// [`TorClient::kill`], say: "the tor client comes back"), and waits until it can build
    /// circuits. A client still running is killed first.
    pub fn restart(&mut self) -> Result<(), TorNetError> {
        self.kill()?;
        let timeout = self.spec.client_start_timeout;
        let mut fresh =
            self.spec
                .spawn_on(&self.name, self.socks_addr.port(), self.control_addr.port())?;
        fresh.wait_ready(Instant::now() + timeout, timeout)?;
        std::mem::swap(&mut self.process, &mut fresh.process);
        // `fresh` now holds the dead process; dropping it reaps nothing more.
        Ok(())
    }

    /// Stops it now (what dropping it does) and returns its exit status; `None` if it had
    /// already been reaped.
    pub fn stop(mut self) -> Result<Option<ExitStatus>, TorNetError> {
        let pid = self.process.pid();
        self.process.stop().map_err(|source| TorNetError::Process {
            node: self.name.clone(),
            pid,
            source,
        })
    }

    /// Runs one control-port command on a fresh authenticated connection and returns the
    /// reply lines (`250` replies only; anything else is an error). For example
    /// `GETINFO status/circuit-established` or `SIGNAL NEWNYM`.
    pub fn control_command(&self, line: &str) -> Result<Vec<String>, TorNetError> {
        let deadline = Instant::now() + CONTROL_TIMEOUT;
        let mut conn = self.connect_control(deadline)?;
        conn.command_ok(line, deadline)
            .map(|reply| reply.lines)
            .map_err(|detail| self.control_error(detail))
    }

    /// Publishes a new onion service (fresh ED25519-V3 key) forwarding virtual port
    /// `virt_port` to `target`, and returns once its descriptor has been uploaded to every
    /// HSDir it was sent to (at least one upload confirmed by an `HS_DESC UPLOADED` event),
    /// so it is reachable now: 1.2–2 s after the call here, and the first connection to it
    /// took 0.2–0.5 s (3 s at worst, when tor first discards paths whose rendezvous point is
    /// also its guard).
    ///
    /// The service is added with `ADD_ONION ... Flags=Detach`: it stays up until this tor
    /// stops or [`TorClient::remove_onion_service`].
    pub fn add_onion_service(
        &self,
        virt_port: u16,
        target: SocketAddr,
    ) -> Result<OnionService, TorNetError> {
        self.publish_onion_service("NEW:ED25519-V3", virt_port, target)
    }

    /// Publishes the service of `private_key` (an [`OnionService::private_key`], e.g. after
    /// its host was killed and restarted) again, like [`TorClient::add_onion_service`].
    pub fn add_onion_service_with_key(
        &self,
        virt_port: u16,
        target: SocketAddr,
        private_key: &str,
    ) -> Result<OnionService, TorNetError> {
        if !private_key.starts_with("ED25519-V3:") || private_key.contains(char::is_whitespace) {
            return Err(self.control_error("the key must be `ED25519-V3:<base64>`".to_owned()));
        }
        self.publish_onion_service(private_key, virt_port, target)
    }

    /// Removes an onion service this tor hosts (`DEL_ONION`).
    pub fn remove_onion_service(&self, service: &OnionService) -> Result<(), TorNetError> {
        self.control_command(&format!("DEL_ONION {}", service.service_id()))
            .map(drop)
    }

    fn publish_onion_service(
        &self,
        key: &str,
        virt_port: u16,
        target: SocketAddr,
    ) -> Result<OnionService, TorNetError> {
        let timeout = self.spec.onion_timeout;
        let started = Instant::now();
        let deadline = started + timeout;
        let mut conn = self.connect_control(deadline)?;
        conn.command_ok("SETEVENTS HS_DESC", deadline)
            .map_err(|detail| self.control_error(detail))?;
        let reply = conn
            .command_ok(
                &format!("ADD_ONION {key} Flags=Detach Port={virt_port},{target}"),
                deadline,
            )
            .map_err(|detail| self.control_error(detail))?;
        let service_id = reply
            .value("ServiceID")
            .ok_or_else(|| self.control_error("ADD_ONION returned no ServiceID".to_owned()))?
            .to_owned();
        let private_key = reply
            .value("PrivateKey")
            .map_or_else(|| key.to_owned(), str::to_owned);

        let mut uploads = UploadCount::default();
        loop {
            let event = conn
                .next_event(deadline)
                .map_err(|detail| self.control_error(detail))?;
            let Some(event) = event else {
                return Err(TorNetError::OnionService {
                    node: self.name.clone(),
                    target,
                    detail: format!("no descriptor uploaded within {timeout:?} ({uploads})"),
                    log_tail: format!(
                        "{}\n{}",
                        self.log_path().display(),
                        self.log_tail(LOG_TAIL_LINES)
                    ),
                });
            };
            uploads.observe(&event, &service_id);
            if uploads.done() {
                break;
            }
        }
        let published_in = started.elapsed();
        tracing::debug!(node = %self.name, %target, ?published_in, "onion service published");
        Ok(OnionService {
            hostname: format!("{service_id}.onion"),
            port: virt_port,
            target,
            private_key,
            published_in,
        })
    }

    fn connect_control(&self, deadline: Instant) -> Result<ControlConn, TorNetError> {
        ControlConn::connect(self.control_addr, &self.control_cookie_path, deadline)
            .map_err(|detail| self.control_error(detail))
    }

    fn control_error(&self, detail: String) -> TorNetError {
        TorNetError::Control {
            node: self.name.clone(),
            addr: self.control_addr,
            detail,
        }
    }

    /// Polls the control port until tor reports 100 % bootstrap and an established circuit.
    fn wait_ready(&mut self, deadline: Instant, timeout: Duration) -> Result<(), TorNetError> {
        let mut conn: Option<ControlConn> = None;
        let mut last = String::from("control port not open yet");
        loop {
            self.process.check_running()?;
            if conn.is_none() {
                let attempt_deadline = deadline.min(Instant::now() + Duration::from_secs(2));
                match ControlConn::connect(
                    self.control_addr,
                    &self.control_cookie_path,
                    attempt_deadline,
                ) {
                    Ok(c) => conn = Some(c),
                    Err(error) => last = error,
                }
            }
            if let Some(c) = conn.as_mut() {
                let probe_deadline = deadline.min(Instant::now() + Duration::from_secs(5));
                match c.command_ok(
                    "GETINFO status/bootstrap-phase status/circuit-established",
                    probe_deadline,
                ) {
                    Ok(reply) => {
                        let phase = reply.value("status/bootstrap-phase").unwrap_or_default();
                        let circuit = reply.value("status/circuit-established");
                        if phase.contains("PROGRESS=100 ") && circuit == Some("1") {
                            return Ok(());
                        }
                        last = format!(
                            "bootstrap phase {phase:?}, circuit-established={}",
                            circuit.unwrap_or("?")
                        );
                    }
                    Err(error) => {
                        last = error;
                        conn = None;
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(TorNetError::StartTimeout {
                    timeout,
                    waiting_for: format!("{}: {last}", self.name),
                    node: self.name.clone(),
                    log: self.log_path().to_path_buf(),
                    log_tail: self.log_tail(LOG_TAIL_LINES),
                });
            }
            thread::sleep(POLL);
        }
    }
}

/// `HS_DESC` upload events of one service.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct UploadCount {
    /// Uploads started (`UPLOAD`) without a result yet.
    pending: usize,
    /// Confirmed uploads (`UPLOADED`).
    uploaded: usize,
    /// Failed uploads (`FAILED`), with the last reason.
    failed: usize,
    last_failure: Option<String>,
}

impl UploadCount {
    /// Counts one event (`HS_DESC <action> <address> <auth> <hsdir> ...`) if it concerns
    /// `service_id`.
    fn observe(&mut self, event: &str, service_id: &str) {
        let mut words = event.split_whitespace();
        if words.next() != Some("HS_DESC") {
            return;
        }
        let action = words.next();
        if words.next() != Some(service_id) {
            return;
        }
        match action {
            Some("UPLOAD") => self.pending += 1,
            Some("UPLOADED") => {
                self.pending = self.pending.saturating_sub(1);
                self.uploaded += 1;
            }
            Some("FAILED") => {
                self.pending = self.pending.saturating_sub(1);
                self.failed += 1;
                self.last_failure = event
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("REASON="))
                    .map(str::to_owned);
            }
            _ => {}
        }
    }

    /// Every upload sent has a result, and at least one succeeded. (tor announces all the
    /// uploads of a round before any result arrives.)
    fn done(&self) -> bool {
        self.uploaded > 0 && self.pending == 0
    }
}

impl fmt::Display for UploadCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} uploads confirmed, {} pending, {} failed",
            self.uploaded, self.pending, self.failed
        )?;
        if let Some(reason) = &self.last_failure {
            write!(f, " (last reason {reason})")?;
        }
        Ok(())
    }
}

fn resolve_binary(explicit: Option<&PathBuf>, env: &str, default: &str, name: &str) -> PathBuf {
    if let Some(path) = explicit {
        return path.clone();
    }
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    if Path::new(default).exists() {
        PathBuf::from(default)
    } else {
        PathBuf::from(name)
    }
}

fn write_file(path: &Path, contents: &str) -> Result<(), TorNetError> {
    fs::write(path, contents).map_err(|source| TorNetError::WriteFile {
        path: path.to_path_buf(),
        source,
    })
}

/// The kernel's ephemeral port range, where ports bound to port 0 come from.
fn ephemeral_ports() -> RangeInclusive<u16> {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| parse_port_range(&text))
        .unwrap_or(FALLBACK_EXIT_PORTS)
}

fn parse_port_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut words = text.split_whitespace();
    let low: u16 = words.next()?.parse().ok()?;
    let high: u16 = words.next()?.parse().ok()?;
    (low > 0 && low <= high).then_some(low..=high)
}

/// A hex RSA fingerprint as the consensus `r` line writes it (base64, no padding).
fn rsa_hex_to_consensus_base64(hex_fp: &str) -> Result<String, TorNetError> {
    let bytes = hex_20(hex_fp).ok_or_else(|| TorNetError::KeyGeneration {
        what: "converting a fingerprint".to_owned(),
        detail: format!("{hex_fp:?} is not 40 hex digits"),
    })?;
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
}

fn hex_20(text: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

fn base64_32(text: &str) -> Option<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_uploads_of_our_service_only() {
        let mut count = UploadCount::default();
        let id = "wt5rd537kdcsg5lq6ojti7hbxk2g6nuwm3qlwljczqo5etay75ygvcyd";
        count.observe(&format!("HS_DESC CREATED {id} UNKNOWN UNKNOWN abc"), id);
        count.observe(&format!("HS_DESC UPLOAD {id} UNKNOWN $AA~auth0 abc"), id);
        count.observe(&format!("HS_DESC UPLOAD {id} UNKNOWN $BB~auth1 abc"), id);
        count.observe("HS_DESC UPLOAD otherservice UNKNOWN $BB~auth1 abc", id);
        assert!(!count.done());
        count.observe(&format!("HS_DESC UPLOADED {id} UNKNOWN $AA~auth0"), id);
        assert!(!count.done());
        count.observe(
            &format!("HS_DESC FAILED {id} UNKNOWN $BB~auth1 REASON=UPLOAD_REJECTED"),
            id,
        );
        assert!(count.done());
        assert_eq!(
            count.to_string(),
            "1 uploads confirmed, 0 pending, 1 failed (last reason UPLOAD_REJECTED)"
        );
    }

    #[test]
    fn reads_the_ephemeral_port_range() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("0 10"), None);
        assert_eq!(parse_port_range("x"), None);
    }

    #[test]
    fn converts_identities() {
        // exit0 of a real run: hex from its fingerprint file, base64 from the consensus.
        assert_eq!(
            rsa_hex_to_consensus_base64("788C5E9870CCBF29DDAA57C028FC615F0A856D78").unwrap(),
            "eIxemHDMvyndqlfAKPxhXwqFbXg"
        );
        let ed = base64_32("N+EHE4cgvMhQNk23gJDzdGdMlrB5fxrqJaxWejxXu5o").unwrap();
        let cache = ArtiFallbackCache {
            name: "a".into(),
            rsa_identity: [0xab; 20],
            ed_identity: ed,
            orports: vec![ports::loopback(1)],
        };
        assert_eq!(
            cache.ed_identity_base64(),
            "N+EHE4cgvMhQNk23gJDzdGdMlrB5fxrqJaxWejxXu5o"
        );
        assert_eq!(cache.rsa_identity_hex(), "AB".repeat(20));
        assert!(hex_20("zz").is_none());
    }

    #[test]
    fn arti_toml_names_every_authority_and_cache() {
        let net = ArtiNetwork {
            authorities: vec![ArtiAuthority {
                name: "auth0".into(),
                v3ident: [0x11; 20],
                dir_addr: ports::loopback(7001),
                or_addr: ports::loopback(7000),
            }],
            fallback_caches: vec![ArtiFallbackCache {
                name: "auth0".into(),
                rsa_identity: [0x22; 20],
                ed_identity: [0; 32],
                orports: vec![ports::loopback(7000)],
            }],
        };
        let toml = net.to_arti_toml();
        assert!(
            toml.contains(&format!("v3idents = [\"{}\"]", "11".repeat(20))),
            "{toml}"
        );
        assert!(toml.contains("uploads = [[\"127.0.0.1:7001\"]]"), "{toml}");
        assert!(
            toml.contains(&format!(
                "{{ rsa_identity = \"{}\", ed_identity = \"{}\", orports = [\"127.0.0.1:7000\"] }}",
                "22".repeat(20),
                "A".repeat(43)
            )),
            "{toml}"
        );
        assert!(toml.contains("allow_local_addrs = true"));
        assert!(toml.contains("ipv4_subnet_family_prefix = 33"));
    }

    #[test]
    fn builder_rejects_networks_without_circuits() {
        for builder in [
            TorNetwork::builder().authorities(0),
            TorNetwork::builder().exits(0),
            TorNetwork::builder().authorities(1).exits(1).middles(1),
            TorNetwork::builder().middles(MAX_RELAYS),
            TorNetwork::builder().exit_ports(0..=10),
        ] {
            assert!(matches!(
                builder.start(),
                Err(TorNetError::InvalidConfig(_))
            ));
        }
    }

    #[test]
    fn onion_service_debug_hides_the_key() {
        let service = OnionService {
            hostname: "abc.onion".into(),
            port: 80,
            target: ports::loopback(1),
            private_key: "ED25519-V3:secret".into(),
            published_in: Duration::ZERO,
        };
        assert_eq!(service.service_id(), "abc");
        assert!(!format!("{service:?}").contains("secret"));
    }
}
