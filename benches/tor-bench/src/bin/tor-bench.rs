//! `tor-bench`: the Tor zone's reference figures on a private Tor network on 127.0.0.1, in
//! one run — zone ready time (system tor vs embedded arti), connection set-up to an onion
//! service, the Monero handshake with monerod over Tor, and bulk throughput over 3-hop and
//! onion-service circuits against direct TCP.
//!
//! ```text
//! cargo run --release -p umbra-tor-bench --bin tor-bench              # full run, ~3 min
//! cargo run --release -p umbra-tor-bench --bin tor-bench -- --quick   # smoke run, ~35–40 s
//! ```
//!
//! The Markdown report goes to stdout, progress to stderr (and arti's or the kit's logs, at
//! `RUST_LOG`'s level, `error` by default). Exits with status 1 if any sample failed (the
//! report still shows the rest), 2 if the network could not start.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{process::ExitCode, time::Instant};

use clap::Parser;
use tracing_subscriber::EnvFilter;
use umbra_tor_bench::{Plan, Sections, report};

/// Measure Umbra's Tor zone on a private Tor network on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Smoke run: 1 zone-ready run per client, 2 samples, 1 bulk round of 4 MiB.
    #[arg(long)]
    quick: bool,
    /// Zone-ready runs per client, and bulk rounds [default: 3; quick: 1].
    #[arg(long)]
    runs: Option<usize>,
    /// Samples per dial kind (cold, warm) and per handshake path [default: 10; quick: 2].
    #[arg(long)]
    samples: Option<usize>,
    /// Bytes per bulk transfer, MiB [default: 32; quick: 4].
    #[arg(long)]
    bulk_mib: Option<u64>,
    /// Only these parts (comma-separated: zone, dial, handshake, bulk) [default: all].
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
}

fn sections(names: &[String]) -> Result<Sections, String> {
    let mut s = Sections {
        zone: false,
        dial: false,
        handshake: false,
        bulk: false,
    };
    for name in names {
        match name.as_str() {
            "zone" => s.zone = true,
            "dial" => s.dial = true,
            "handshake" => s.handshake = true,
            "bulk" => s.bulk = true,
            other => {
                return Err(format!(
                    "unknown part {other:?} (zone, dial, handshake, bulk)"
                ));
            }
        }
    }
    Ok(s)
}

fn main() -> Result<ExitCode, String> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut plan = if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(runs) = args.runs {
        plan.runs = runs.max(1);
    }
    if let Some(samples) = args.samples {
        plan.samples = samples.max(1);
    }
    if let Some(mib) = args.bulk_mib {
        plan.bulk_bytes = mib.max(1) << 20;
    }
    if let Some(only) = &args.only {
        plan.sections = sections(only)?;
    }
    let started = Instant::now();
    let progress = |line: &str| {
        eprintln!("[{:6.1} s] {line}", started.elapsed().as_secs_f64());
    };
    eprintln!(
        "tor-bench: {} run: {} runs, {} samples, {} MiB bulk",
        if plan.quick { "quick" } else { "full" },
        plan.runs,
        plan.samples,
        plan.bulk_bytes >> 20
    );
    let report = match umbra_tor_bench::run(&plan, &progress) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("tor-bench: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    print!("{}", report::markdown(&report));
    let errors = report.all_errors();
    eprintln!(
        "tor-bench: done in {:.1} s, {} failure(s)",
        started.elapsed().as_secs_f64(),
        errors.len()
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
