//! The scenario: probe, open connections in steps, hold, idle, and measure the target.
//!
//! ```text
//!  probe ─ one handshake (adopts the target's chain) ─ settle ─ baseline sample
//!  for each step N₁ < N₂ < …:
//!     open the new connections (bounded concurrency) ─ timed: handshakes/s, latencies
//!     hold ─ sample: RSS, alive                         ─ stop on a failure or a drop
//!     at `idle_at`: idle window ─ CPU %, RSS, alive at its end
//!  close everything
//! ```
//!
//! Connections are never closed between steps: step N₂ adds N₂ − N₁ connections to the N₁
//! already open, so one pass gives the memory curve, the idle figures at `idle_at` and the
//! largest N in one go.

use std::{
    collections::BTreeMap,
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};
use umbra_p2p_core::handshake::DEFAULT_HANDSHAKE_TIMEOUT;
use umbra_wire::{CoreSyncData, network_id};

use crate::{
    ProcSample, SourcePlan,
    conn::{self, ConnError, Shared, StatsSnapshot},
};

/// Results that may wait for the scenario loop before connection tasks block on sending.
const RESULT_QUEUE: usize = 1024;

/// File descriptors kept free for everything that is not a load connection.
const FD_RESERVE: u64 = 64;

/// Safety margin kept before the deadline when planning a step or the idle window.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// What to run against which target.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The target's P2P address.
    pub target: SocketAddr,
    /// The target's process, for RSS and CPU (`/proc/<pid>`); `None` measures handshakes
    /// and liveness only.
    pub target_pid: Option<u32>,
    /// The network id we present. Default: mainnet's, which regtest uses.
    pub network_id: [u8; 16],
    /// The chain we claim in the probe handshake. Must be one the target accepts: monerod
    /// drops a peer whose `top_version` is not the hard-fork version at that height.
    pub chain: CoreSyncData,
    /// Claim the chain the target reported in the probe handshake for every later
    /// connection (default `true`): equal chains make the load look like synchronised peers.
    pub adopt_target_chain: bool,
    /// Connection counts to reach, ascending; each step adds connections to the ones open.
    /// A single step is a plain "open N and idle" run.
    pub steps: Vec<usize>,
    /// Handshakes in flight at once. Default 16: umbrad refuses (closes) inbound
    /// connections beyond 32 handshakes in progress (`max_inbound_handshakes`), and a
    /// margin below that keeps the release of its slots and our next connect from racing.
    pub concurrency: usize,
    /// Source addresses of the connections.
    pub sources: SourcePlan,
    /// Pause after each step before sampling the target and counting live connections.
    pub hold: Duration,
    /// Length of the idle window (CPU and memory of the target while all connections idle).
    pub idle_window: Duration,
    /// The step at whose count the idle window runs; if that step is not reached (or is
    /// `None`), the window runs at the last count reached.
    pub idle_at: Option<usize>,
    /// Sampling interval inside the idle window (for the RSS maximum and live-connection
    /// minimum).
    pub sample_every: Duration,
    /// Bound on one TCP connect.
    pub connect_timeout: Duration,
    /// Bound on one handshake.
    pub handshake_timeout: Duration,
    /// Pause between the probe and the baseline sample.
    pub settle: Duration,
    /// Wall-clock budget: no step is started that would not finish by then, and the idle
    /// window is shortened to fit.
    pub deadline: Option<Instant>,
}

impl LoadConfig {
    /// A config for one step of 1,000 connections to `target` claiming `chain`, with the
    /// defaults documented on each field.
    #[must_use]
    pub fn new(target: SocketAddr, chain: CoreSyncData) -> Self {
        Self {
            target,
            target_pid: None,
            network_id: network_id::MAINNET,
            chain,
            adopt_target_chain: true,
            steps: vec![1000],
            concurrency: 16,
            sources: SourcePlan::new(1),
            hold: Duration::from_secs(3),
            idle_window: Duration::from_secs(10),
            idle_at: None,
            sample_every: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            settle: Duration::from_secs(1),
            deadline: None,
        }
    }
}

/// The handshake-rate burst ([`burst`]): `rounds` times, `handshakes` fresh connections,
/// each closed right after its handshake, at most [`LoadConfig::concurrency`] in flight.
/// Sources start at [`BURST_FIRST_SOURCE`].
///
/// Run it on a fresh target process, not before or after the steps on the same one:
/// before, the memory the churn leaves in the target skews the RSS baseline (monerod's
/// RSS grew by ~40 KiB per churned connection here and stayed there); after, the target
/// may still be tearing down the steps' connections (monerod kept a core busy for minutes
/// after 15,000 closed, and handshook 22 per second meanwhile). Even rounds on one
/// process are not independent with monerod 0.18.0.0: each is slower than the last
/// (791, 373, 246 per second for three rounds of 2,000), so `p2p-load-compare` gives
/// every round its own fresh process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstConfig {
    /// Handshakes per round.
    pub handshakes: usize,
    /// Rounds (the report gives each and their median).
    pub rounds: usize,
}

/// The first source index ([`SourcePlan::ip`]) of the burst's connections, far from the
/// steps' (`127.15.112.x` onwards with one connection per address).
pub const BURST_FIRST_SOURCE: usize = 1_000_000;

/// One round of the burst.
#[derive(Debug, Clone, Serialize)]
pub struct BurstRound {
    /// Handshakes that succeeded.
    pub succeeded: usize,
    /// Failures, by reason.
    pub failures: BTreeMap<String, usize>,
    /// Wall time from the first connect to the last handshake result, seconds.
    pub secs: f64,
    /// `succeeded / secs`.
    pub handshakes_per_sec: f64,
    /// Connect-plus-handshake latencies.
    pub latency: Latency,
    /// The target's CPU use during the round, percent of one core.
    pub target_cpu_percent: Option<f64>,
    /// This process's CPU use during the round, percent of one core.
    pub client_cpu_percent: Option<f64>,
    /// Whether the deadline stopped the round before all its handshakes were tried.
    pub cut_short: bool,
}

/// The burst's rounds and their median rate.
#[derive(Debug, Clone, Serialize)]
pub struct BurstReport {
    /// Handshakes per round.
    pub handshakes: usize,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// Each round.
    pub rounds: Vec<BurstRound>,
    /// The median of the rounds' rates.
    pub median_handshakes_per_sec: f64,
}

impl BurstReport {
    /// A report of `rounds` (from one target process or several) and their median rate
    /// (the upper median for an even count).
    #[must_use]
    pub fn from_rounds(handshakes: usize, concurrency: usize, rounds: Vec<BurstRound>) -> Self {
        let mut rates: Vec<f64> = rounds.iter().map(|r| r.handshakes_per_sec).collect();
        rates.sort_by(f64::total_cmp);
        let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
        Self {
            handshakes,
            concurrency,
            rounds,
            median_handshakes_per_sec: median,
        }
    }

    /// Whether every handshake of every round succeeded and no round was cut short.
    #[must_use]
    pub fn clean(&self) -> bool {
        self.rounds
            .iter()
            .all(|r| r.failures.is_empty() && !r.cut_short)
    }
}

/// Why a run could not start (once running, problems end up in the [`LoadReport`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// No step above zero connections.
    #[error("no steps: give at least one connection count above 0")]
    NoSteps,
    /// The first handshake failed: the target is not listening, or refuses our chain.
    #[error("the probe handshake with {target} failed: {source}")]
    Probe {
        /// The target.
        target: SocketAddr,
        /// What failed.
        source: ConnError,
    },
    /// The target process could not be read.
    #[error("cannot read the target process {pid} in /proc: {source}")]
    Target {
        /// Its pid.
        pid: u32,
        /// The OS error.
        source: io::Error,
    },
    /// Encoding our answers failed (a bug).
    #[error(transparent)]
    Encode(ConnError),
}

/// Handshake latencies of one step, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[allow(missing_docs)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Self {
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// One step: the new connections it opened and the state after its hold.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The connection count this step aimed at.
    pub planned: usize,
    /// New connections attempted in this step.
    pub attempted: usize,
    /// Of those, handshaken.
    pub succeeded: usize,
    /// Of those, failed, by reason.
    pub failures: BTreeMap<String, usize>,
    /// Wall time from the step's first connect to its last handshake result, seconds.
    pub open_secs: f64,
    /// `succeeded / open_secs`.
    pub handshakes_per_sec: f64,
    /// Connect-plus-handshake latencies of the successful attempts.
    pub latency: Latency,
    /// The target's CPU use while this step's connections were opened, percent of one
    /// core (above 100 with several threads busy).
    pub target_cpu_percent_opening: Option<f64>,
    /// This process's CPU use over the same time (the client runs on one thread: near 100
    /// means the client, not the target, set the pace).
    pub client_cpu_percent_opening: Option<f64>,
    /// Handshaken connections still open after the hold.
    pub alive_after_hold: usize,
    /// Handshaken connections expected open (all successes so far).
    pub expected_alive: usize,
    /// The target after the hold.
    pub target: Option<ProcSample>,
    /// `(RSS after the hold − baseline RSS) / alive`, bytes.
    pub rss_per_conn_bytes: Option<f64>,
    /// The same with anonymous memory only (`RssAnon`).
    pub rss_anon_per_conn_bytes: Option<f64>,
    /// This process's RSS after the hold, KiB.
    pub client_rss_kib: Option<u64>,
    /// Whether the time budget stopped the step before all its connections were tried.
    pub cut_short: bool,
}

impl StepReport {
    /// Whether every attempt succeeded and every connection survived the hold.
    #[must_use]
    pub fn clean(&self) -> bool {
        self.failures.is_empty()
            && !self.cut_short
            && self.alive_after_hold >= self.expected_alive
            && self.expected_alive >= self.planned
    }
}

/// The idle window.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// Connections open when it started.
    pub connections: usize,
    /// Still open at its end.
    pub alive_at_end: usize,
    /// Fewest open during it (sampled every `sample_every`).
    pub min_alive: usize,
    /// Its length, seconds.
    pub window_secs: f64,
    /// Whether the time budget made it shorter than configured.
    pub shortened: bool,
    /// The target's CPU use over the window, percent of one core.
    pub target_cpu_percent: Option<f64>,
    /// This process's CPU use over the window, percent of one core.
    pub client_cpu_percent: Option<f64>,
    /// The target at the start.
    pub target_start: Option<ProcSample>,
    /// The target at the end.
    pub target_end: Option<ProcSample>,
    /// Largest RSS sampled, KiB.
    pub target_max_rss_kib: Option<u64>,
    /// `(RSS at the end − baseline RSS) / alive at the end`, bytes.
    pub rss_per_conn_bytes: Option<f64>,
    /// The same with anonymous memory only.
    pub rss_anon_per_conn_bytes: Option<f64>,
    /// What the connections answered and saw during the window.
    pub activity: StatsSnapshot,
    /// Inbound connections as the target itself counts them at the end of the window, if
    /// the caller can ask it (monerod's `get_info`; see [`run_with_check`]).
    pub target_reported_connections: Option<u64>,
}

/// Why stepping stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// The next step would not fit in the time budget: the largest N is a lower bound.
    TimeBudget,
    /// This process may not open more sockets (`RLIMIT_NOFILE`): a lower bound too.
    FdLimit,
    /// Handshakes failed in the last step.
    HandshakesFailed,
    /// Connections were closed by the target (during a hold or the idle window), or the
    /// step was cut short.
    ConnectionsLost,
    /// The target process exited.
    TargetExited,
}

impl StopKind {
    /// Whether the target itself gave way (not our budget or limits).
    #[must_use]
    pub fn is_target_limit(self) -> bool {
        !matches!(self, Self::TimeBudget | Self::FdLimit)
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The target's P2P address.
    pub target: SocketAddr,
    /// Its pid, if measured.
    pub target_pid: Option<u32>,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// Connections per source address.
    pub per_ip: usize,
    /// The probe handshake's duration (connect included), milliseconds.
    pub probe_ms: f64,
    /// The chain the load claimed.
    pub chain_height: u64,
    /// Its top block's major version.
    pub chain_top_version: u8,
    /// The handshake-rate burst, if the caller ran one ([`burst`], on a fresh target
    /// process) and put it here.
    pub burst: Option<BurstReport>,
    /// The target before any load connection (after the probe and the settle pause).
    pub baseline: Option<ProcSample>,
    /// The steps run.
    pub steps: Vec<StepReport>,
    /// The idle window, if one ran.
    pub idle: Option<IdleReport>,
    /// The largest step count reached with every handshake successful and no connection
    /// lost (through the hold and, at `idle_at`, the idle window); 0 if none.
    pub largest_clean: usize,
    /// The largest number of connections open at once.
    pub peak_alive: usize,
    /// Why stepping stopped before the last step, if it did.
    pub stop_reason: Option<String>,
    /// What kind of stop that was.
    pub stop_kind: Option<StopKind>,
    /// Counters at the end, before the connections were closed.
    pub final_stats: StatsSnapshot,
    /// Whether the target process disappeared during the run.
    pub target_exited: bool,
    /// Wall time of the whole run, seconds.
    pub elapsed_secs: f64,
}

impl LoadReport {
    /// The step that aimed at `planned` connections.
    #[must_use]
    pub fn step(&self, planned: usize) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.planned == planned)
    }
}

/// How many more sockets this process may open (`RLIMIT_NOFILE` minus the descriptors open
/// now and a small reserve).
#[must_use]
pub fn fd_room() -> u64 {
    let soft = rlimit::Resource::NOFILE
        .get()
        .map_or(1024, |(soft, _hard)| soft);
    let open = std::fs::read_dir("/proc/self/fd").map_or(16, |dir| dir.count() as u64);
    soft.saturating_sub(open).saturating_sub(FD_RESERVE)
}

/// Raises this process's `RLIMIT_NOFILE` to `wanted` (soft and hard) if it can (root may
/// raise the hard limit), else the soft limit to the hard one. Children started afterwards
/// (monerod, umbrad) inherit it. Returns the new `(soft, hard)`.
///
/// # Errors
/// The limit could not be read or set.
pub fn raise_nofile_limit(wanted: u64) -> io::Result<(u64, u64)> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    if soft >= wanted {
        return Ok((soft, hard));
    }
    if rlimit::Resource::NOFILE
        .set(wanted, wanted.max(hard))
        .is_err()
    {
        rlimit::Resource::NOFILE.set(hard.min(wanted).max(soft), hard)?;
    }
    rlimit::Resource::NOFILE.get()
}

/// What a connection task reports when its handshake is done.
#[derive(Debug)]
struct Attempt {
    done: Instant,
    latency: Duration,
    result: Result<(), String>,
}

fn per_conn(now: Option<u64>, base: Option<u64>, alive: usize) -> Option<f64> {
    let (now, base) = (now?, base?);
    if alive == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let bytes = (now as f64 - base as f64) * 1024.0 / alive as f64;
    Some(bytes)
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// The state of a run between steps.
struct Run<'a> {
    config: &'a LoadConfig,
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    results: mpsc::Receiver<Attempt>,
    results_tx: mpsc::Sender<Attempt>,
    semaphore: Arc<Semaphore>,
    next_index: usize,
    succeeded: usize,
    report: LoadReport,
}

/// Runs the scenario of `config` against its target and reports what it measured; every
/// connection is closed when it returns.
///
/// Runs on whatever tokio runtime calls it; the binaries use a current-thread runtime, so
/// the client takes at most one core and its numbers are stable on a 2-core machine.
///
/// # Errors
/// [`LoadError`] when the run cannot start: no steps, the probe handshake fails, the
/// target process cannot be read.
pub async fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    run_with_check(config, || std::future::ready(None)).await
}

/// [`run`], asking `target_connections` at the end of the idle window, while every
/// connection is still open, how many inbound connections the target counts (for monerod:
/// `get_info.incoming_connections_count`); the answer goes to
/// [`IdleReport::target_reported_connections`].
///
/// # Errors
/// As [`run`].
pub async fn run_with_check<F, Fut>(
    config: &LoadConfig,
    mut target_connections: F,
) -> Result<LoadReport, LoadError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<u64>>,
{
    let started = Instant::now();
    let mut steps = config.steps.clone();
    steps.retain(|&n| n > 0);
    steps.sort_unstable();
    steps.dedup();
    if steps.is_empty() {
        return Err(LoadError::NoSteps);
    }

    // The probe: one handshake from the first source address, closed again.
    let probe_shared = Shared::new(
        config.target,
        config.network_id,
        config.chain.clone(),
        config.connect_timeout,
        config.handshake_timeout,
    )
    .map_err(LoadError::Encode)?;
    let probe_ip = config
        .sources
        .ip(0)
        .unwrap_or(std::net::Ipv4Addr::new(127, 0, 0, 2));
    let probe_start = Instant::now();
    let probe = conn::connect(&probe_shared, probe_ip)
        .await
        .map_err(|source| LoadError::Probe {
            target: config.target,
            source,
        })?;
    let probe_ms = probe_start.elapsed().as_secs_f64() * 1000.0;
    let chain = if config.adopt_target_chain {
        probe.outcome.core_sync.clone()
    } else {
        config.chain.clone()
    };
    drop(probe);
    tokio::time::sleep(config.settle).await;
    let read_target =
        |pid: u32| ProcSample::read(pid).map_err(|source| LoadError::Target { pid, source });
    let baseline = config.target_pid.map(read_target).transpose()?;

    let shared = Arc::new(
        Shared::new(
            config.target,
            config.network_id,
            chain.clone(),
            config.connect_timeout,
            config.handshake_timeout,
        )
        .map_err(LoadError::Encode)?,
    );
    let (results_tx, results) = mpsc::channel(RESULT_QUEUE);
    let mut run = Run {
        config,
        shared,
        tasks: JoinSet::new(),
        results,
        results_tx,
        semaphore: Arc::new(Semaphore::new(config.concurrency.max(1))),
        // Index 0 was the probe's.
        next_index: 1,
        succeeded: 0,
        report: LoadReport {
            target: config.target,
            target_pid: config.target_pid,
            concurrency: config.concurrency.max(1),
            per_ip: config.sources.per_ip(),
            probe_ms,
            chain_height: chain.current_height,
            chain_top_version: chain.top_version,
            burst: None,
            baseline,
            steps: Vec::new(),
            idle: None,
            largest_clean: 0,
            peak_alive: 0,
            stop_reason: None,
            stop_kind: None,
            final_stats: StatsSnapshot::default(),
            target_exited: false,
            elapsed_secs: 0.0,
        },
    };
    run.steps(&steps, &mut target_connections).await;
    if run.report.idle.is_none() && !run.report.target_exited {
        run.idle_window(&mut target_connections).await;
    }
    run.report.final_stats = run.shared.stats.snapshot();
    run.report.peak_alive = run.report.peak_alive.max(run.report.final_stats.alive);
    run.tasks.shutdown().await;
    run.report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(run.report)
}

/// Target CPU (percent of one core over a second) below which it counts as quiet.
const QUIET_CPU_PERCENT: f64 = 5.0;

/// Waits until process `pid` uses less than 5 % of a core over a second (a target may still
/// be tearing down thousands of connections after a run), at least `min` and at most `max`.
/// Returns whether it became quiet.
pub async fn wait_until_quiet(pid: u32, min: Duration, max: Duration) -> bool {
    let started = tokio::time::Instant::now();
    tokio::time::sleep(min).await;
    let Ok(mut last) = ProcSample::read(pid) else {
        return false;
    };
    while started.elapsed() < max {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(now) = ProcSample::read(pid) else {
            return false;
        };
        if now.cpu_percent_since(&last) < QUIET_CPU_PERCENT {
            return true;
        }
        last = now;
    }
    false
}

/// The handshake-rate burst against `config.target`: a probe handshake (adopting the
/// target's chain like [`run`]), then `burst.rounds` rounds of `burst.handshakes`
/// handshakes on fresh connections, each closed as soon as it is handshaken, at most
/// `config.concurrency` in flight. Stops early (fewer rounds, or a round cut short) at
/// `config.deadline`. Use a fresh target process; see [`BurstConfig`].
///
/// # Errors
/// The probe handshake failed.
pub async fn burst(config: &LoadConfig, burst: BurstConfig) -> Result<BurstReport, LoadError> {
    let probe_shared = Shared::new(
        config.target,
        config.network_id,
        config.chain.clone(),
        config.connect_timeout,
        config.handshake_timeout,
    )
    .map_err(LoadError::Encode)?;
    let probe_ip = config
        .sources
        .ip(BURST_FIRST_SOURCE)
        .unwrap_or(std::net::Ipv4Addr::new(127, 0, 0, 2));
    let probe = conn::connect(&probe_shared, probe_ip)
        .await
        .map_err(|source| LoadError::Probe {
            target: config.target,
            source,
        })?;
    let chain = if config.adopt_target_chain {
        probe.outcome.core_sync.clone()
    } else {
        config.chain.clone()
    };
    drop(probe);
    let shared = Arc::new(
        Shared::new(
            config.target,
            config.network_id,
            chain,
            config.connect_timeout,
            config.handshake_timeout,
        )
        .map_err(LoadError::Encode)?,
    );
    Ok(run_burst(config, &shared, burst, BURST_FIRST_SOURCE + 1).await)
}

/// Runs the burst's rounds one after the other.
async fn run_burst(
    config: &LoadConfig,
    shared: &Arc<Shared>,
    burst: BurstConfig,
    first_source: usize,
) -> BurstReport {
    let concurrency = config.concurrency.max(1);
    let mut rounds = Vec::with_capacity(burst.rounds);
    let mut next = first_source;
    for _ in 0..burst.rounds {
        if config
            .deadline
            .is_some_and(|d| Instant::now() + DEADLINE_MARGIN >= d)
        {
            break;
        }
        let round = burst_round(config, shared, next, burst.handshakes, concurrency).await;
        tracing::info!(
            target = %config.target,
            succeeded = round.succeeded,
            failed = round.failures.values().sum::<usize>(),
            handshakes_per_sec = format_args!("{:.0}", round.handshakes_per_sec),
            "burst round done"
        );
        rounds.push(round);
        next += burst.handshakes;
    }
    BurstReport::from_rounds(burst.handshakes, concurrency, rounds)
}

/// One round: `count` handshakes from source indices `first..`, each connection closed
/// as soon as its handshake is done, at most `concurrency` in flight.
async fn burst_round(
    config: &LoadConfig,
    shared: &Arc<Shared>,
    first: usize,
    count: usize,
    concurrency: usize,
) -> BurstRound {
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let mut set: JoinSet<(Instant, Duration, Result<(), String>)> = JoinSet::new();
    let target_before = config.target_pid.and_then(|pid| ProcSample::read(pid).ok());
    let client_before = ProcSample::read_self().ok();
    let started = Instant::now();
    let mut spawned = 0usize;
    let mut last_done = started;
    let mut latencies = Vec::with_capacity(count);
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut cut_short = false;
    while (spawned < count && !cut_short) || !set.is_empty() {
        tokio::select! {
            biased;
            Some(joined) = set.join_next(), if !set.is_empty() => match joined {
                Ok((done, latency, result)) => {
                    last_done = last_done.max(done);
                    match result {
                        Ok(()) => latencies.push(latency),
                        Err(key) => *failures.entry(key).or_default() += 1,
                    }
                }
                Err(error) => *failures.entry(format!("task: {error}")).or_default() += 1,
            },
            permit = Arc::clone(&semaphore).acquire_owned(), if spawned < count && !cut_short => {
                let Ok(permit) = permit else { break };
                let past_deadline = config.deadline.is_some_and(|d| Instant::now() >= d);
                let ip = config.sources.ip(first + spawned).filter(|_| !past_deadline);
                let Some(ip) = ip else {
                    cut_short = true;
                    continue;
                };
                spawned += 1;
                let shared = Arc::clone(shared);
                set.spawn(async move {
                    let begun = Instant::now();
                    let result = conn::connect(&shared, ip).await;
                    let done = Instant::now();
                    drop(permit);
                    // Dropping the connection closes it.
                    let result = result.map(drop).map_err(|e| e.kind_key());
                    (done, done.saturating_duration_since(begun), result)
                });
            }
        }
    }
    let target_after = config.target_pid.and_then(|pid| ProcSample::read(pid).ok());
    let client_after = ProcSample::read_self().ok();
    let cpu = |a: Option<ProcSample>, b: Option<ProcSample>| Some(b?.cpu_percent_since(&a?));
    let secs = last_done.saturating_duration_since(started).as_secs_f64();
    let succeeded = latencies.len();
    #[allow(clippy::cast_precision_loss)]
    let handshakes_per_sec = if secs > 0.0 {
        succeeded as f64 / secs
    } else {
        0.0
    };
    BurstRound {
        succeeded,
        failures,
        secs,
        handshakes_per_sec,
        latency: Latency::of(latencies),
        target_cpu_percent: cpu(target_before, target_after),
        client_cpu_percent: cpu(client_before, client_after),
        cut_short,
    }
}

impl Run<'_> {
    async fn steps<F, Fut>(&mut self, steps: &[usize], target_connections: &mut F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<u64>>,
    {
        // Measured before any load connection is open: the room for all of them.
        let room = fd_room();
        for &planned in steps {
            if planned as u64 > room {
                self.stop(
                    StopKind::FdLimit,
                    format!(
                        "step {planned}: this process may open only {room} sockets \
                         (RLIMIT_NOFILE); raise it"
                    ),
                );
                break;
            }
            if let Some(reason) = self.out_of_time(planned) {
                self.stop(StopKind::TimeBudget, reason);
                break;
            }
            let step = self.open_step(planned).await;
            tracing::info!(
                target = %self.config.target,
                planned,
                succeeded = step.succeeded,
                failed = step.failures.values().sum::<usize>(),
                alive = step.alive_after_hold,
                handshakes_per_sec = format_args!("{:.0}", step.handshakes_per_sec),
                rss_per_conn_kib = format_args!("{:.1}", step.rss_per_conn_bytes.unwrap_or(0.0) / 1024.0),
                "step done"
            );
            let clean = step.clean();
            let step_failed = !step.failures.is_empty();
            self.report.steps.push(step);
            if self.report.target_exited {
                self.stop(StopKind::TargetExited, "the target process exited".into());
                break;
            }
            if !clean {
                if step_failed {
                    self.stop(
                        StopKind::HandshakesFailed,
                        format!("step {planned}: handshakes failed"),
                    );
                } else {
                    self.stop(
                        StopKind::ConnectionsLost,
                        format!("step {planned}: connections were lost or the step was cut short"),
                    );
                }
                break;
            }
            if self.config.idle_at == Some(planned) {
                let Some(idle) = self.idle_window(target_connections).await else {
                    break;
                };
                if idle.alive_at_end < idle.connections {
                    self.stop(
                        StopKind::ConnectionsLost,
                        format!(
                            "{} of {} connections were lost during the idle window",
                            idle.connections - idle.alive_at_end,
                            idle.connections
                        ),
                    );
                    break;
                }
            }
            self.report.largest_clean = planned;
        }
    }

    fn stop(&mut self, kind: StopKind, reason: String) {
        self.report.stop_kind = Some(kind);
        self.report.stop_reason = Some(reason);
    }

    /// A reason not to start the step to `planned`, judged by the rate of the last step.
    fn out_of_time(&self, planned: usize) -> Option<String> {
        let left = remaining(self.config.deadline)?;
        let rate = self
            .report
            .steps
            .last()
            .map_or(0.0, |s| s.handshakes_per_sec);
        let new = planned.saturating_sub(self.succeeded);
        #[allow(clippy::cast_precision_loss)]
        let opening = if rate > 0.0 {
            Duration::from_secs_f64((new as f64 / rate * 1.5).min(86_400.0))
        } else {
            Duration::ZERO
        };
        let mut needed = opening + self.config.hold + DEADLINE_MARGIN;
        if self.config.idle_at == Some(planned) {
            needed += self.config.idle_window;
        }
        (needed > left).then(|| {
            format!(
                "time budget: the step to {planned} would need about {:.0} s, {:.0} s left",
                needed.as_secs_f64(),
                left.as_secs_f64()
            )
        })
    }

    /// Opens connections up to `planned`, then holds and samples.
    async fn open_step(&mut self, planned: usize) -> StepReport {
        let count = planned.saturating_sub(self.succeeded);
        let target_before = self.sample_target();
        let client_before = ProcSample::read_self().ok();
        let started = Instant::now();
        let stall = self.config.connect_timeout + self.config.handshake_timeout + DEADLINE_MARGIN;
        let mut spawned = 0usize;
        let mut received = 0usize;
        let mut last_done = started;
        let mut last_progress = tokio::time::Instant::now();
        let mut cut_short = false;
        let mut latencies = Vec::with_capacity(count);
        let mut failures: BTreeMap<String, usize> = BTreeMap::new();
        loop {
            if received == spawned && (spawned == count || cut_short) {
                break;
            }
            let may_spawn = spawned < count && !cut_short;
            tokio::select! {
                biased;
                attempt = self.results.recv() => {
                    let Some(attempt) = attempt else { break };
                    received += 1;
                    last_progress = tokio::time::Instant::now();
                    last_done = last_done.max(attempt.done);
                    match attempt.result {
                        Ok(()) => latencies.push(attempt.latency),
                        Err(key) => *failures.entry(key).or_default() += 1,
                    }
                }
                permit = Arc::clone(&self.semaphore).acquire_owned(), if may_spawn => {
                    let Ok(permit) = permit else { break };
                    let past_deadline = self
                        .config
                        .deadline
                        .is_some_and(|d| Instant::now() + DEADLINE_MARGIN >= d);
                    let ip = self.config.sources.ip(self.next_index);
                    let Some(ip) = ip.filter(|_| !past_deadline) else {
                        cut_short = true;
                        continue;
                    };
                    self.next_index += 1;
                    spawned += 1;
                    let shared = Arc::clone(&self.shared);
                    let tx = self.results_tx.clone();
                    self.tasks.spawn(async move {
                        let begun = Instant::now();
                        let result = conn::connect(&shared, ip).await;
                        drop(permit);
                        let done = Instant::now();
                        let latency = done.saturating_duration_since(begun);
                        match result {
                            Ok(connected) => {
                                let _ = tx.send(Attempt { done, latency, result: Ok(()) }).await;
                                drop(tx);
                                conn::idle(connected, &shared).await;
                            }
                            Err(error) => {
                                let result = Err(error.kind_key());
                                let _ = tx.send(Attempt { done, latency, result }).await;
                            }
                        }
                    });
                }
                () = tokio::time::sleep_until(last_progress + stall) => {
                    // Every attempt is bounded by its own timeouts, so this means a bug
                    // or a frozen machine: give up on the rest of the step.
                    *failures.entry("no result in time".into()).or_default() += spawned - received;
                    cut_short = true;
                    break;
                }
            }
            // Reap tasks that ended (failed handshakes, dropped connections).
            while self.tasks.try_join_next().is_some() {}
        }
        let target_after = self.sample_target();
        let client_after = ProcSample::read_self().ok();
        let cpu = |a: Option<ProcSample>, b: Option<ProcSample>| Some(b?.cpu_percent_since(&a?));
        let open_secs = last_done.saturating_duration_since(started).as_secs_f64();
        let succeeded = latencies.len();
        self.succeeded += succeeded;
        self.report.peak_alive = self.report.peak_alive.max(
            self.shared
                .stats
                .alive
                .load(std::sync::atomic::Ordering::Relaxed),
        );

        tokio::time::sleep(self.config.hold).await;
        while self.tasks.try_join_next().is_some() {}
        let alive = self.shared.stats.snapshot().alive;
        self.report.peak_alive = self.report.peak_alive.max(alive);
        let target = self.sample_target();
        let base = self.report.baseline;
        #[allow(clippy::cast_precision_loss)]
        let handshakes_per_sec = if open_secs > 0.0 {
            succeeded as f64 / open_secs
        } else {
            0.0
        };
        StepReport {
            planned,
            attempted: spawned,
            succeeded,
            failures,
            open_secs,
            handshakes_per_sec,
            latency: Latency::of(latencies),
            target_cpu_percent_opening: cpu(target_before, target_after),
            client_cpu_percent_opening: cpu(client_before, client_after),
            alive_after_hold: alive,
            expected_alive: self.succeeded,
            rss_per_conn_bytes: per_conn(target.map(|t| t.rss_kib), base.map(|b| b.rss_kib), alive),
            rss_anon_per_conn_bytes: per_conn(
                target.and_then(|t| t.rss_anon_kib),
                base.and_then(|b| b.rss_anon_kib),
                alive,
            ),
            target,
            client_rss_kib: ProcSample::read_self().ok().map(|s| s.rss_kib),
            cut_short,
        }
    }

    /// Reads the target; marks it exited if it is gone.
    fn sample_target(&mut self) -> Option<ProcSample> {
        let pid = self.config.target_pid?;
        match ProcSample::read(pid) {
            Ok(sample) => Some(sample),
            Err(error) => {
                tracing::warn!(pid, %error, "the target process cannot be read");
                self.report.target_exited = true;
                None
            }
        }
    }

    /// Keeps every connection idle for the window and measures; stores and returns the
    /// report (`None` if the target exited).
    async fn idle_window<F, Fut>(&mut self, target_connections: &mut F) -> Option<IdleReport>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<u64>>,
    {
        let mut window = self.config.idle_window;
        let mut shortened = false;
        if let Some(left) = remaining(self.config.deadline) {
            let fits = left.saturating_sub(DEADLINE_MARGIN);
            if fits < window {
                window = fits;
                shortened = true;
            }
        }
        let before = self.shared.stats.snapshot();
        let start = self.sample_target();
        let client_start = ProcSample::read_self().ok();
        let begun = tokio::time::Instant::now();
        let end_at = begun + window;
        let mut min_alive = before.alive;
        let mut max_rss = start.map(|s| s.rss_kib);
        let every = self.config.sample_every.max(Duration::from_millis(100));
        loop {
            let now = tokio::time::Instant::now();
            if now >= end_at {
                break;
            }
            tokio::time::sleep_until((now + every).min(end_at)).await;
            while self.tasks.try_join_next().is_some() {}
            min_alive = min_alive.min(self.shared.stats.snapshot().alive);
            if let Some(pid) = self.config.target_pid {
                match ProcSample::read(pid) {
                    Ok(sample) => max_rss = max_rss.max(Some(sample.rss_kib)),
                    Err(_) => {
                        self.report.target_exited = true;
                        break;
                    }
                }
            }
        }
        let end = self.sample_target();
        let client_end = ProcSample::read_self().ok();
        let after = self.shared.stats.snapshot();
        let target_reported_connections = if self.report.target_exited {
            None
        } else {
            target_connections().await
        };
        if self.report.target_exited {
            self.stop(StopKind::TargetExited, "the target process exited".into());
        }
        let base = self.report.baseline;
        let cpu = |a: Option<ProcSample>, b: Option<ProcSample>| Some(b?.cpu_percent_since(&a?));
        let idle = IdleReport {
            connections: before.alive,
            alive_at_end: after.alive,
            min_alive: min_alive.min(after.alive),
            window_secs: begun.elapsed().as_secs_f64(),
            shortened,
            target_cpu_percent: cpu(start, end),
            client_cpu_percent: cpu(client_start, client_end),
            target_start: start,
            target_end: end,
            target_max_rss_kib: max_rss.max(end.map(|s| s.rss_kib)),
            rss_per_conn_bytes: per_conn(
                end.map(|t| t.rss_kib),
                base.map(|b| b.rss_kib),
                after.alive,
            ),
            rss_anon_per_conn_bytes: per_conn(
                end.and_then(|t| t.rss_anon_kib),
                base.and_then(|b| b.rss_anon_kib),
                after.alive,
            ),
            activity: StatsSnapshot {
                alive: after.alive,
                handshaken: after.handshaken - before.handshaken,
                closed_by_target: after.closed_by_target - before.closed_by_target,
                errors: after.errors - before.errors,
                timed_syncs: after.timed_syncs - before.timed_syncs,
                pings: after.pings - before.pings,
                support_flags: after.support_flags - before.support_flags,
                notifications: after.notifications - before.notifications,
                unexpected: after.unexpected - before.unexpected,
            },
            target_reported_connections,
        };
        tracing::info!(
            target = %self.config.target,
            connections = idle.connections,
            alive_at_end = idle.alive_at_end,
            window_secs = format_args!("{:.1}", idle.window_secs),
            cpu_percent = format_args!("{:.2}", idle.target_cpu_percent.unwrap_or(0.0)),
            "idle window done"
        );
        self.report.idle = Some(idle.clone());
        (!self.report.target_exited).then_some(idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let latency = Latency::of(samples);
        assert!((latency.p50_ms - 51.0).abs() < 1.5, "{latency:?}");
        assert!((latency.p99_ms - 99.0).abs() < 1.5, "{latency:?}");
        assert!((latency.max_ms - 100.0).abs() < 0.01, "{latency:?}");
        assert_eq!(Latency::of(Vec::new()), Latency::default());
    }

    #[test]
    fn per_connection_memory() {
        assert_eq!(per_conn(Some(2048), Some(1024), 1024), Some(1024.0));
        assert_eq!(per_conn(Some(1000), Some(1024), 24), Some(-1024.0));
        assert_eq!(per_conn(Some(2048), None, 10), None);
        assert_eq!(per_conn(Some(2048), Some(1024), 0), None);
    }
}
