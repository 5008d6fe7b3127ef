//! Bulk throughput: a fixed byte count to the sink server, directly over TCP, over a 3-hop
//! circuit through an exit, and to the sink published as an onion service (6 hops: the
//! client's 3 to the rendezvous point and the service's 3; arti adds its vanguards-lite
//! layer-2 hops, on by default), with each client. The system tor goes to the onion host's
//! service (C tor), arti to a service arti hosts ([`arti_host`](crate::arti_host)).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    runtime::Runtime,
};
use umbra_transport::{
    Transport,
    tor::{SystemTor, TorAddr, arti::ArtiTor},
};

use crate::{Progress, machine, servers, within};

/// The virtual port the sink service is published on.
pub const SINK_PORT: u16 = 9;
/// Bound on opening one stream.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(150);
/// The slowest rate a transfer may have before it counts as failed (bytes/s).
pub const MIN_RATE: u64 = 100_000;

/// The ways bytes go to the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Plain TCP on loopback.
    Direct,
    /// System tor, through an exit ([`SystemTor::connect_socket`]).
    SystemExit,
    /// arti, through an exit ([`ArtiTor::connect_socket`]).
    ArtiExit,
    /// System tor, to the sink's onion service.
    SystemOnion,
    /// arti, to the sink's onion service.
    ArtiOnion,
}

impl Route {
    /// Every route, in the order measured within each round.
    pub const ALL: [Self; 5] = [
        Self::Direct,
        Self::SystemExit,
        Self::ArtiExit,
        Self::SystemOnion,
        Self::ArtiOnion,
    ];

    /// The route's name in the report.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct TCP",
            Self::SystemExit => "system tor → exit → sink",
            Self::ArtiExit => "arti → exit → sink",
            Self::SystemOnion => "system tor → C tor onion service → sink",
            Self::ArtiOnion => "arti → arti onion service → sink",
        }
    }

    /// The relays between client and sink.
    #[must_use]
    pub const fn hops(self) -> &'static str {
        match self {
            Self::Direct => "0",
            Self::SystemExit | Self::ArtiExit => "3",
            Self::SystemOnion => "6",
            // arti's onion-service circuits add vanguards-lite layer-2 hops (its default).
            Self::ArtiOnion => "≥ 6",
        }
    }
}

/// The transfers of one route.
#[derive(Debug, Clone)]
pub struct RouteRuns {
    /// Which route.
    pub route: Route,
    /// Time to open the stream, per run (not part of the transfer time).
    pub open: Vec<Duration>,
    /// Transfer time per run, first byte written to the sink's count received.
    pub transfer: Vec<Duration>,
    /// Cores the whole machine kept busy during each transfer (every tor, arti, the sink
    /// and anything else running, other people's work included), from `/proc/stat`.
    pub cores_busy: Vec<f64>,
    /// Cores used during each transfer by the network's tors and this process (arti, the
    /// sink, the sender), from `/proc/<pid>/stat`.
    pub cores_ours: Vec<f64>,
    /// Failed runs.
    pub errors: Vec<String>,
}

/// Everything the bulk measurement found.
#[derive(Debug, Clone)]
pub struct Bulk {
    /// Bytes per transfer.
    pub bytes: u64,
    /// One entry per route, in [`Route::ALL`] order.
    pub routes: Vec<RouteRuns>,
}

/// A transfer's time, the cores the machine kept busy meanwhile and the cores the
/// network's tors and this process used.
type Sent = (Duration, Option<f64>, Option<f64>);

async fn send<R, W>(mut reader: R, mut writer: W, bytes: u64, pids: &[u32]) -> Result<Sent, String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let limit = Duration::from_secs(30 + bytes / MIN_RATE);
    let before = machine::cpu_ticks();
    let ours_before = machine::process_ticks(pids);
    let took = within(
        limit,
        "transfer",
        servers::send_bulk(&mut reader, &mut writer, bytes),
    )
    .await?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // `/proc/stat` counts in 10 ms ticks: say nothing about shorter transfers.
    let busy = before
        .zip(machine::cpu_ticks())
        .filter(|_| took >= Duration::from_millis(500))
        .and_then(|(before, after)| machine::cores_busy(before, after, cores));
    let ours = (took >= Duration::from_millis(500)).then(|| {
        let ticks = machine::process_ticks(pids).saturating_sub(ours_before);
        #[allow(clippy::cast_precision_loss)] // tick counts are small
        let secs = ticks as f64 / machine::USER_HZ;
        secs / took.as_secs_f64()
    });
    Ok((took, busy, ours))
}

/// Opens the stream of `route` and sends `bytes`: (open time, (transfer time, cores busy)).
async fn run(
    route: Route,
    to: &Targets<'_>,
    system: &SystemTor,
    arti: &ArtiTor,
    bytes: u64,
) -> Result<(Duration, Sent), String> {
    let sink = to.sink;
    let no_onion = || "the sink's onion service was not published".to_owned();
    let started = Instant::now();
    match route {
        Route::Direct => {
            let stream = within(OPEN_TIMEOUT, "connect", TcpStream::connect(sink)).await?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let open = started.elapsed();
            let (r, w) = stream.into_split();
            Ok((open, send(r, w, bytes, to.pids).await?))
        }
        Route::SystemExit => {
            let (r, w) = within(OPEN_TIMEOUT, "connect", system.connect_socket(sink)).await?;
            let open = started.elapsed();
            Ok((open, send(r, w, bytes, to.pids).await?))
        }
        Route::ArtiExit => {
            let stream = within(OPEN_TIMEOUT, "connect", arti.connect_socket(sink)).await?;
            let open = started.elapsed();
            let (r, w) = stream.split();
            Ok((open, send(r, w, bytes, to.pids).await?))
        }
        Route::SystemOnion => {
            let onion = to.system_onion.ok_or_else(no_onion)?;
            let (r, w) = within(OPEN_TIMEOUT, "dial", system.dial(onion)).await?;
            let open = started.elapsed();
            Ok((open, send(r, w, bytes, to.pids).await?))
        }
        Route::ArtiOnion => {
            let onion = to.arti_onion.ok_or_else(no_onion)?;
            let (r, w) = within(OPEN_TIMEOUT, "dial", arti.dial(onion)).await?;
            let open = started.elapsed();
            Ok((open, send(r, w, bytes, to.pids).await?))
        }
    }
}

/// Where the sink is.
#[derive(Debug, Clone, Copy)]
pub struct Targets<'a> {
    /// The sink's TCP address.
    pub sink: SocketAddr,
    /// The sink as an onion service of the network's onion host (C tor), for the system tor.
    pub system_onion: Option<&'a TorAddr>,
    /// The sink as an onion service hosted by arti, for arti (see [`arti_host`](crate::arti_host)).
    pub arti_onion: Option<&'a TorAddr>,
    /// The network's tors ([`TorNetwork::pids`](umbra_test_kit::tor_net::TorNetwork::pids)),
    /// whose CPU time is counted with this process's.
    pub pids: &'a [u32],
}

/// `rounds` rounds; in each, every route sends `bytes` once, in [`Route::ALL`] order
/// (so a change in the machine's load hits all routes alike). One unmeasured warm-up
/// transfer of a tenth of `bytes` per route first (circuits built, windows opened).
#[allow(clippy::too_many_arguments)]
pub fn measure(
    rt: &Runtime,
    to: &Targets<'_>,
    system: &SystemTor,
    arti: &ArtiTor,
    bytes: u64,
    rounds: usize,
    progress: Progress<'_>,
) -> Bulk {
    let mut routes: Vec<RouteRuns> = Route::ALL
        .iter()
        .map(|&route| RouteRuns {
            route,
            open: Vec::new(),
            transfer: Vec::new(),
            cores_busy: Vec::new(),
            cores_ours: Vec::new(),
            errors: Vec::new(),
        })
        .collect();
    rt.block_on(async {
        for runs in &mut routes {
            let warm_up = (bytes / 10).max(1);
            if let Err(e) = run(runs.route, to, system, arti, warm_up).await {
                runs.errors.push(format!("warm-up: {e}"));
            }
        }
        for round in 0..rounds {
            progress(&format!("bulk: round {} of {rounds}", round + 1));
            for runs in &mut routes {
                match run(runs.route, to, system, arti, bytes).await {
                    Ok((open, (transfer, busy, ours))) => {
                        runs.open.push(open);
                        runs.transfer.push(transfer);
                        runs.cores_busy.extend(busy);
                        runs.cores_ours.extend(ours);
                    }
                    Err(e) => runs.errors.push(format!("round {}: {e}", round + 1)),
                }
            }
        }
    });
    Bulk { bytes, routes }
}
