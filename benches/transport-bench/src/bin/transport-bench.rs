//! `transport-bench`: plain TCP, Umbra's Noise transport, Umbra over QUIC and libp2p's
//! TCP + Noise + yamux on loopback, side by side in one run, with the AEAD's single-core
//! speed and the Noise handshake rate; prints Markdown tables with ratios.
//!
//! ```text
//! cargo run --release -p umbra-transport-bench --bin transport-bench              # full run, ~2–4 min on 2 cores
//! cargo run --release -p umbra-transport-bench --bin transport-bench -- --quick   # smoke run, ~15 s
//! ```
//!
//! Tables go to stdout, progress to stderr. Both ends of every connection run in this
//! process: by default each peer on its own tokio runtime with one worker thread (one
//! core per peer on a 2-core machine); `--shared-runtime` puts both on one multi-thread
//! runtime with `--threads` workers (default: one per core). The orchestration runs on a
//! third, current-thread runtime that only waits. Exits with status 1 if any measurement
//! failed (the tables still show the rest).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{process::ExitCode, time::Instant};

use clap::Parser;
use umbra_transport_bench::{BenchError, Plan, Runtimes, Stack, report};

/// Measure TCP, Umbra Noise, Umbra QUIC and libp2p side by side on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Smoke run: 128 MiB per bulk run, fewer repeats, pings and handshakes.
    #[arg(long)]
    quick: bool,
    /// Bytes per bulk run, MiB [default: 1024; quick: 128].
    #[arg(long)]
    bulk_mib: Option<u64>,
    /// Timed bulk runs per stack and stream count [default: 5; quick: 3].
    #[arg(long)]
    repeats: Option<usize>,
    /// Streams of the concurrent bulk run.
    #[arg(long, default_value_t = 8)]
    streams: usize,
    /// Only these stacks (comma-separated: tcp, noise, quic, libp2p) [default: all].
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Skip the AEAD and in-memory pipe measurements.
    #[arg(long)]
    no_aead: bool,
    /// Skip the handshake measurements.
    #[arg(long)]
    no_handshakes: bool,
    /// Both peers on one multi-thread runtime instead of one single-worker runtime each.
    #[arg(long)]
    shared_runtime: bool,
    /// Worker threads of the shared runtime [default: one per core].
    #[arg(long, requires = "shared_runtime")]
    threads: Option<usize>,
}

fn stack(name: &str) -> Result<Stack, String> {
    match name {
        "tcp" => Ok(Stack::Tcp),
        "noise" => Ok(Stack::Noise),
        "quic" => Ok(Stack::Quic),
        "libp2p" => Ok(Stack::Libp2p),
        other => Err(format!(
            "unknown stack {other:?} (tcp, noise, quic, libp2p)"
        )),
    }
}

fn main() -> Result<ExitCode, BenchError> {
    let args = Args::parse();
    let mut plan = if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(mib) = args.bulk_mib {
        plan.bulk_bytes = mib << 20;
        plan.warmup_bytes = plan.warmup_bytes.min(plan.bulk_bytes);
    }
    if let Some(repeats) = args.repeats {
        plan.repeats = repeats.max(1);
    }
    plan.streams = args.streams.max(1);
    if args.no_aead {
        plan.aead_repeats = 0;
        plan.pipe_bytes = 0;
    }
    if args.no_handshakes {
        plan.handshake_concurrency.clear();
        plan.step_costs = 0;
    }
    if let Some(only) = &args.only {
        plan.stacks = only
            .iter()
            .map(|name| stack(name))
            .collect::<Result<_, _>>()?;
    }

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let runtimes = if args.shared_runtime {
        Runtimes::shared(args.threads.unwrap_or(cores))?
    } else {
        Runtimes::split()?
    };
    let sides = runtimes.sides()?;
    let orchestrator = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    eprintln!(
        "transport-bench: {} run, {cores} cores, {}",
        if args.quick { "quick" } else { "full" },
        sides.mode
    );
    let started = Instant::now();
    let report = orchestrator.block_on(umbra_transport_bench::run(
        &plan,
        &sides,
        &mut |line: &str| {
            eprintln!("[{:6.1} s] {line}", started.elapsed().as_secs_f64());
        },
    ));
    print!("{}", report::markdown(&report));
    // QUIC and libp2p may leave tasks lingering (idle timers): do not wait for them.
    drop(runtimes);
    orchestrator.shutdown_background();
    Ok(if report.errors().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
