//! The Tor zone's reference figures (issue 5), measured on a private Tor network on
//! 127.0.0.1 ([`TorNetwork`]: 3 authorities, 2 exits, a middle relay, a client tor and an
//! onion-service host, all real Debian `tor` processes), side by side in one run:
//!
//! - **zone ready** ([`zone`]): from start until Umbra's Tor zone can be used — a fresh
//!   client tor that can build circuits plus Umbra's onion service published through its
//!   control port ([`SystemTor`](umbra_transport::tor::SystemTor)), against the embedded
//!   client ([`ArtiTor`]) bootstrapping from fresh state and launching its onion service
//!   until arti reports the descriptor uploaded;
//! - **connection set-up to an onion service** ([`dial`]): first (cold) and later (warm)
//!   dials to an echo server of ours published as an onion service, each with a 1-byte
//!   round trip; the same through an exit, for reference;
//! - **handshake with monerod over Tor** ([`handshake`]): monerod 0.18 (regtest) with
//!   `--anonymous-inbound` behind an onion service and `--tx-proxy` at the network's SOCKS
//!   port; Umbra's real outbound Monero handshake (`umbra-p2p-core`) over each client, and
//!   directly over TCP as the baseline;
//! - **bulk throughput** ([`bulk`]): a fixed byte count to a sink of ours, directly over
//!   TCP, over a 3-hop circuit through an exit, and to the sink as an onion service
//!   (6 hops), with each client; with the cores the machine kept busy meanwhile.
//!
//! Onion services are hosted both by the network's onion host (C tor) and by a second arti
//! client ([`arti_host`]); the dial measurement pairs each client with both, the handshake
//! and bulk measurements each client with services of its own implementation.
//!
//! ```text
//! cargo run --release -p umbra-tor-bench --bin tor-bench              # full run, ~3 min
//! cargo run --release -p umbra-tor-bench --bin tor-bench -- --quick   # smoke run, ~35–40 s
//! ```
//!
//! The Markdown report goes to stdout ([`report::markdown`]), progress to stderr. The crate
//! is a workspace member outside `default-members`: the everyday `cargo build` and
//! `cargo test` never build it.
//!
//! # Guarantees
//!
//! Only 127.0.0.0/8 is used. Every wait has a timeout ([`within`]); a failed sample is
//! recorded and shown, and the run goes on. Everything started is stopped: the tors and
//! monerod by the test kit's types when dropped (by pid, never by name), our servers, the
//! embedded clients and their onion services with the runtime.

pub mod arti_host;
pub mod bulk;
pub mod clients;
pub mod dial;
pub mod handshake;
pub mod machine;
pub mod report;
pub mod servers;
pub mod stats;
pub mod zone;

use std::{
    fmt,
    future::Future,
    time::{Duration, Instant},
};

use tempfile::TempDir;
use tokio::runtime::Runtime;
use umbra_test_kit::tor_net::{RelayRole, StartTimings, TorNetwork};
use umbra_transport::tor::{TorAddr, arti::ArtiTor};

pub use machine::Machine;

/// Where progress lines go (the binary prints them to stderr with a timestamp).
pub type Progress<'a> = &'a dyn Fn(&str);

/// `future`, failing with a message naming `what` if it takes longer than `limit`.
///
/// # Errors
/// The future's error as text, or the timeout.
pub async fn within<T, E: fmt::Display>(
    limit: Duration,
    what: &str,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{what}: {error}")),
        Err(_) => Err(format!("{what}: no result within {limit:?}")),
    }
}

/// `future`'s output and how long it took.
pub async fn timed<F: Future>(future: F) -> (F::Output, Duration) {
    let started = Instant::now();
    let output = future.await;
    (output, started.elapsed())
}

/// Which parts to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Sections {
    /// Zone ready time.
    pub zone: bool,
    /// Connection set-up to an onion service.
    pub dial: bool,
    /// Handshake with monerod.
    pub handshake: bool,
    /// Bulk throughput.
    pub bulk: bool,
}

impl Sections {
    /// Everything.
    pub const ALL: Self = Self {
        zone: true,
        dial: true,
        handshake: true,
        bulk: true,
    };
}

/// What one run measures, and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Zone-ready runs per client, and bulk rounds.
    pub runs: usize,
    /// Samples per dial kind (cold, warm) and per handshake path.
    pub samples: usize,
    /// Bytes per bulk transfer.
    pub bulk_bytes: u64,
    /// Which parts.
    pub sections: Sections,
    /// Whether this is the `--quick` smoke run.
    pub quick: bool,
}

impl Plan {
    /// The full run: 3 zone-ready runs per client and 3 bulk rounds of 32 MiB, 10 samples
    /// per dial kind and handshake path.
    #[must_use]
    pub const fn full() -> Self {
        Self {
            runs: 3,
            samples: 10,
            bulk_bytes: 32 << 20,
            sections: Sections::ALL,
            quick: false,
        }
    }

    /// The smoke run: one of each zone-ready run and bulk round of 4 MiB, 2 samples.
    #[must_use]
    pub const fn quick() -> Self {
        Self {
            runs: 1,
            samples: 2,
            bulk_bytes: 4 << 20,
            sections: Sections::ALL,
            quick: true,
        }
    }
}

/// The private network the figures were taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Directory authorities.
    pub authorities: usize,
    /// Exits.
    pub exits: usize,
    /// Middle relays.
    pub middles: usize,
    /// How long its start took, phase by phase.
    pub start: StartTimings,
}

/// Everything one run found.
#[derive(Debug)]
pub struct Report {
    /// What was asked for.
    pub plan: Plan,
    /// The machine, probed at the start.
    pub machine: Machine,
    /// Load averages at the end.
    pub load_end: String,
    /// The network.
    pub network: NetworkInfo,
    /// Zone-ready runs with a system tor.
    pub zone_system: Vec<Result<zone::SystemRun, String>>,
    /// Zone-ready runs with arti.
    pub zone_arti: Vec<Result<zone::ArtiRun, String>>,
    /// Bootstrap time of the arti client used for dials, handshakes and bulk (`None` when
    /// those were not run).
    pub arti_bootstrap: Option<Result<Duration, String>>,
    /// Connection set-up.
    pub dials: Option<dial::Dials>,
    /// Handshakes with monerod.
    pub handshakes: Option<handshake::Handshakes>,
    /// Bulk throughput.
    pub bulk: Option<bulk::Bulk>,
    /// Failures outside any sample.
    pub errors: Vec<String>,
    /// The whole run, network start included.
    pub elapsed: Duration,
}

impl Report {
    /// Every failure of the run, sample failures included.
    #[must_use]
    pub fn all_errors(&self) -> Vec<String> {
        let mut all = self.errors.clone();
        let zone = |name: &str, e: &String| format!("zone ready, {name}: {e}");
        all.extend(
            self.zone_system
                .iter()
                .filter_map(|r| r.as_ref().err())
                .map(|e| zone("system tor", e)),
        );
        all.extend(
            self.zone_arti
                .iter()
                .filter_map(|r| r.as_ref().err())
                .map(|e| zone("arti", e)),
        );
        if let Some(Err(e)) = &self.arti_bootstrap {
            all.push(format!("arti client: {e}"));
        }
        if let Some(dials) = &self.dials {
            all.extend(dials.errors.iter().map(|e| format!("dials: {e}")));
            for client in &dials.clients {
                all.extend(
                    client
                        .errors
                        .iter()
                        .map(|e| format!("dials, {}: {e}", client.name)),
                );
            }
        }
        if let Some(handshakes) = &self.handshakes {
            all.extend(handshakes.errors.iter().map(|e| format!("handshakes: {e}")));
            for path in &handshakes.paths {
                all.extend(
                    path.errors
                        .iter()
                        .map(|e| format!("handshakes, {}: {e}", path.name)),
                );
            }
        }
        if let Some(bulk) = &self.bulk {
            for route in &bulk.routes {
                all.extend(
                    route
                        .errors
                        .iter()
                        .map(|e| format!("bulk, {}: {e}", route.route.name())),
                );
            }
        }
        all
    }
}

/// Runs `plan`: starts the private Tor network, measures each section in turn and stops
/// everything it started.
///
/// # Errors
/// Only what prevents any measurement: the network or the runtime could not start.
pub fn run(plan: &Plan, progress: Progress<'_>) -> Result<Report, String> {
    let started = Instant::now();
    let machine = Machine::probe();
    progress("starting the private Tor network");
    let net = TorNetwork::start().map_err(|e| format!("starting the private Tor network: {e}"))?;
    let count = |role| net.relays().iter().filter(|r| r.role == role).count();
    let network = NetworkInfo {
        authorities: count(RelayRole::Authority),
        exits: count(RelayRole::Exit),
        middles: count(RelayRole::Middle),
        start: net.start_timings(),
    };
    progress(&format!(
        "network ready in {:.1} s",
        network.start.total.as_secs_f64()
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    // arti's state directories live until the runtime is gone (its tasks may still write).
    let mut dirs: Vec<TempDir> = Vec::new();
    let mut report = Report {
        plan: *plan,
        machine,
        load_end: String::new(),
        network,
        zone_system: Vec::new(),
        zone_arti: Vec::new(),
        arti_bootstrap: None,
        dials: None,
        handshakes: None,
        bulk: None,
        errors: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let arti_network = net.arti_network();

    if plan.sections.zone {
        for i in 0..plan.runs {
            progress(&format!("zone ready: run {} of {}", i + 1, plan.runs));
            let system_first = i % 2 == 0;
            for system in [system_first, !system_first] {
                if system {
                    report.zone_system.push(zone::system_run(&rt, &net));
                } else {
                    match tempfile::Builder::new()
                        .prefix("umbra-tor-bench-")
                        .tempdir()
                    {
                        Ok(dir) => {
                            report
                                .zone_arti
                                .push(zone::arti_run(&rt, &arti_network, dir.path()));
                            dirs.push(dir);
                        }
                        Err(e) => report.zone_arti.push(Err(format!("temp dir: {e}"))),
                    }
                }
            }
        }
    }

    let needs_clients = plan.sections.dial || plan.sections.handshake || plan.sections.bulk;
    if needs_clients {
        let system = clients::system_tor(net.socks_addr(), net.control_addr());
        progress("bootstrapping two arti clients: one dials, one hosts arti's onion services");
        let mut arti_bootstrap = Err("not run".to_owned());
        let arti = bootstrap_or_stub(&rt, &arti_network, &mut dirs, &mut arti_bootstrap);
        report.arti_bootstrap = Some(arti_bootstrap);
        let mut host_bootstrap = Err("not run".to_owned());
        let host = bootstrap_or_stub(&rt, &arti_network, &mut dirs, &mut host_bootstrap);
        if let Err(e) = host_bootstrap {
            report.errors.push(format!("arti service host: {e}"));
        }
        if let (Some(arti), Some(host)) = (arti, host) {
            let clients = Clients {
                system: &system,
                arti: &arti,
                host: &host,
            };
            measure_with_clients(&rt, &net, &clients, plan, &mut report, progress);
            // arti's clients are dropped where their runtime is.
            rt.block_on(async move {
                drop(arti);
                drop(host);
            });
        } else {
            report
                .errors
                .push("no arti client: dials, handshakes and bulk skipped".to_owned());
        }
    }

    progress("stopping everything");
    report.load_end = machine::load_average();
    drop(net);
    rt.shutdown_timeout(Duration::from_secs(5));
    drop(dirs);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// A bootstrapped arti client with fresh state in a new temporary directory (kept in
/// `dirs`); if bootstrapping fails, an unbootstrapped one (every sample then fails with
/// arti's error). `took` gets the bootstrap time or the error.
fn bootstrap_or_stub(
    rt: &Runtime,
    network: &umbra_test_kit::tor_net::ArtiNetwork,
    dirs: &mut Vec<TempDir>,
    took: &mut Result<Duration, String>,
) -> Option<ArtiTor> {
    let dir = match tempfile::Builder::new()
        .prefix("umbra-tor-bench-")
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => {
            *took = Err(format!("temp dir: {e}"));
            return None;
        }
    };
    let arti = rt.block_on(async {
        match clients::bootstrap_arti(network, dir.path()).await {
            Ok((arti, elapsed)) => {
                *took = Ok(elapsed);
                Some(arti)
            }
            Err(e) => {
                *took = Err(e);
                ArtiTor::unbootstrapped(clients::arti_config(network, &dir.path().join("retry")))
                    .ok()
            }
        }
    });
    dirs.push(dir);
    arti
}

/// The clients the dial, handshake and bulk measurements use.
struct Clients<'a> {
    system: &'a umbra_transport::tor::SystemTor,
    arti: &'a ArtiTor,
    /// The arti client hosting arti's onion services.
    host: &'a ArtiTor,
}

fn measure_with_clients(
    rt: &Runtime,
    net: &TorNetwork,
    clients: &Clients<'_>,
    plan: &Plan,
    report: &mut Report,
    progress: Progress<'_>,
) {
    let Clients { system, arti, host } = *clients;
    if plan.sections.dial {
        match rt.block_on(servers::Server::echo()) {
            Ok(echo) => {
                report.dials = Some(dial::measure(
                    rt,
                    net,
                    system,
                    arti,
                    host,
                    echo.addr(),
                    plan.samples,
                    progress,
                ));
            }
            Err(e) => report.errors.push(format!("echo server: {e}")),
        }
    }
    if plan.sections.handshake {
        report.handshakes = Some(handshake::measure(
            rt,
            net,
            system,
            arti,
            host,
            plan.samples,
            progress,
        ));
    }
    if plan.sections.bulk {
        let sink = match rt.block_on(servers::Server::sink()) {
            Ok(sink) => sink,
            Err(e) => {
                report.errors.push(format!("sink server: {e}"));
                return;
            }
        };
        progress("bulk: publishing the sink's onion services");
        let service = net.add_onion_service(bulk::SINK_PORT, sink.addr());
        let system_onion = match &service {
            Ok(service) => match clients::onion_addr(service) {
                Ok(onion) => Some(TorAddr::Onion(onion)),
                Err(e) => {
                    report.errors.push(e);
                    None
                }
            },
            Err(e) => {
                report
                    .errors
                    .push(format!("publishing the sink's onion service: {e}"));
                None
            }
        };
        let arti_service = rt.block_on(async {
            let service = arti_host::launch(host.client(), "sink", bulk::SINK_PORT, sink.addr())?;
            service.wait_published(zone::PUBLISH_TIMEOUT).await?;
            Ok::<_, String>(service)
        });
        let arti_onion = match &arti_service {
            Ok(service) => Some(TorAddr::Onion(service.onion)),
            Err(e) => {
                report.errors.push(format!("arti's sink service: {e}"));
                None
            }
        };
        let pids = net.pids();
        let targets = bulk::Targets {
            sink: sink.addr(),
            system_onion: system_onion.as_ref(),
            arti_onion: arti_onion.as_ref(),
            pids: &pids,
        };
        report.bulk = Some(bulk::measure(
            rt,
            &targets,
            system,
            arti,
            plan.bulk_bytes,
            plan.runs,
            progress,
        ));
        if let Ok(service) = &service {
            let _ = net.remove_onion_service(service);
        }
        rt.block_on(async move { drop(arti_service) });
    }
}
