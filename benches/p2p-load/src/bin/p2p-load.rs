//! `p2p-load`: the load scenario against one running P2P listener.
//!
//! ```text
//! cargo run --release -p umbra-p2p-load --bin p2p-load -- \
//!     --target 127.0.0.1:18080 --pid 1234 --steps 1000,5000,10000 --idle-at 10000
//! ```
//!
//! Opens connections from 127.0.0.2, .3, … (one per address by default) with real
//! handshakes, in steps, keeps them idle answering timed syncs, and prints per-step and idle
//! figures as Markdown. With `--pid` the target's RSS and CPU are read from `/proc`. The
//! claimed chain is a fresh regtest chain (genesis, version 1), or monerod's own with
//! `--monerod-rpc`; either way the probe handshake's answer is then adopted.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use umbra_p2p_load::{BurstConfig, LoadConfig, SourcePlan, report, target};
use umbra_test_kit::RpcClient;

/// Load a Monero P2P listener with N handshaken, idle connections and measure it.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The listener's P2P address (loopback only).
    #[arg(long)]
    target: SocketAddr,
    /// The listener's process id, to read its RSS and CPU time from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Connection counts to step through, ascending (each step adds connections).
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    steps: Vec<usize>,
    /// The step at which to run the idle window (default: the last step reached).
    #[arg(long)]
    idle_at: Option<usize>,
    /// Handshakes in flight at once (umbrad refuses more than 32 handshakes in progress).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Handshakes per round of a handshake-rate burst after the steps (connections closed
    /// right after their handshake); 0: no burst. It waits for the target to calm down
    /// first (≤ 60 s), but a target still tearing down thousands of connections handshakes
    /// slowly: for a clean figure use `--steps` small or a fresh target, as
    /// p2p-load-compare does.
    #[arg(long, default_value_t = 0)]
    burst: usize,
    /// Rounds of the burst.
    #[arg(long, default_value_t = 3)]
    burst_rounds: usize,
    /// Connections per loopback source address.
    #[arg(long, default_value_t = 1)]
    per_ip: usize,
    /// Pause after each step before sampling, seconds.
    #[arg(long, default_value_t = 3.0)]
    hold_secs: f64,
    /// Idle window, seconds (a monerod sends its timed syncs every 60 s).
    #[arg(long, default_value_t = 65.0)]
    idle_secs: f64,
    /// Bound on one handshake, seconds.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout_secs: f64,
    /// A monerod RPC address to take the chain to claim from (default: a fresh regtest
    /// chain at genesis).
    #[arg(long)]
    monerod_rpc: Option<SocketAddr>,
    /// Keep claiming our chain instead of the one the target reports in the probe.
    #[arg(long)]
    no_adopt_chain: bool,
    /// Whole-run budget, seconds.
    #[arg(long, default_value_t = 600.0)]
    max_time_secs: f64,
    /// Also write the full report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

fn main() -> ExitCode {
    let args = Args::parse();
    umbra_p2p_load::cli::init_tracing();
    if !args.target.ip().is_loopback() {
        eprintln!("p2p-load: --target must be a loopback address");
        return ExitCode::FAILURE;
    }
    let wanted = umbra_p2p_load::cli::nofile_wanted(&args.steps);
    match umbra_p2p_load::raise_nofile_limit(wanted) {
        Ok((soft, hard)) => eprintln!("p2p-load: RLIMIT_NOFILE {soft} (hard {hard})"),
        Err(error) => eprintln!("p2p-load: could not raise RLIMIT_NOFILE: {error}"),
    }
    let runtime = match umbra_p2p_load::cli::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("p2p-load: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(umbra_p2p_load::cli::until_ctrl_c(run(&args))) {
        Ok(Ok(code)) => code,
        Ok(Err(error)) => {
            eprintln!("p2p-load: {error}");
            ExitCode::FAILURE
        }
        Err(interrupted) => {
            eprintln!("p2p-load: {interrupted}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let deadline = std::time::Instant::now() + secs(args.max_time_secs);
    let chain = match args.monerod_rpc {
        Some(rpc) => {
            let rpc = RpcClient::new(rpc);
            let info = rpc.run_blocking(|r| r.get_info()).await?;
            let top = info.height.saturating_sub(1);
            let header = rpc
                .run_blocking(move |r| r.get_block_header_by_height(top))
                .await?;
            let mut chain = target::regtest_genesis_chain();
            chain.current_height = info.height;
            chain.top_id = info.top_block_hash;
            chain.top_version = header.major_version;
            chain.set_cumulative_difficulty(info.cumulative_difficulty_u128());
            chain
        }
        None => target::regtest_genesis_chain(),
    };
    let mut config = LoadConfig::new(args.target, chain);
    config.target_pid = args.pid;
    config.adopt_target_chain = !args.no_adopt_chain;
    config.steps.clone_from(&args.steps);
    config.idle_at = args.idle_at;
    config.concurrency = args.concurrency;
    config.sources = SourcePlan::new(args.per_ip);
    config.hold = secs(args.hold_secs);
    config.idle_window = secs(args.idle_secs);
    config.handshake_timeout = secs(args.handshake_timeout_secs);
    config.deadline = Some(deadline);

    let mut report = umbra_p2p_load::run(&config).await?;
    if args.burst > 0 && args.burst_rounds > 0 {
        if let Some(pid) = args.pid {
            umbra_p2p_load::wait_until_quiet(pid, Duration::from_secs(1), Duration::from_secs(60))
                .await;
        }
        let burst = BurstConfig {
            handshakes: args.burst,
            rounds: args.burst_rounds,
        };
        report.burst = Some(umbra_p2p_load::burst(&config, burst).await?);
    }
    let out = format!(
        "## p2p-load against {}\n\n{}\n{}",
        args.target,
        report::steps_table(&report),
        report::summary(&report)
    );
    // A closed pipe (`| head`) is not worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("p2p-load: wrote {}", path.display());
    }
    let all_steps = report.largest_clean == report.steps.last().map_or(0, |s| s.planned)
        && report.stop_reason.is_none();
    Ok(if all_steps {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
