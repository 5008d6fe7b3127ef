//! `p2p-load-compare`: umbrad vs monerod under the same load, in one run.
//!
//! ```text
//! cargo run --release -p umbra-p2p-load --bin p2p-load-compare              # ≤ 10 minutes
//! cargo run --release -p umbra-p2p-load --bin p2p-load-compare -- --quick   # smoke run
//! ```
//!
//! Builds umbrad (`cargo build --release -p umbrad`, unless `--umbrad PATH` or
//! `--no-build`), then measures one target at a time so they never compete for the 2
//! cores, umbrad first (at most half the budget), then monerod (the rest). Each target is
//! started fresh for each round of the handshake-rate burst (connections closed after
//! their handshake) and once more for the stepped scenario (idle connections, memory,
//! CPU, largest N).
//! umbrad runs on a free port with a temporary data dir and is waited for (bounded) until
//! its P2P port accepts connections; monerod is a regtest node from `umbra-test-kit`. Prints a Markdown comparison table
//! with umbrad ÷ monerod ratios, then each target's steps. Both processes are stopped by
//! their pids whatever happens (guards, Ctrl-C included).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use umbra_p2p_load::{
    BurstConfig, BurstReport, LoadConfig, LoadReport, SourcePlan, report,
    target::{self, MonerodTarget, UmbradTarget},
};
use umbra_wire::CoreSyncData;

/// Which targets to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    /// monerod, then umbrad.
    Both,
    /// monerod only.
    Monerod,
    /// umbrad only.
    Umbrad,
}

/// Measure umbrad's and monerod's P2P listeners under the same load, side by side.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Smoke run: steps 50,200, 5 s idle window, 2 minutes at most.
    #[arg(long)]
    quick: bool,
    /// Which targets to measure.
    #[arg(long, value_enum, default_value = "both")]
    only: Only,
    /// The umbrad binary (default: build this workspace's release umbrad).
    #[arg(long)]
    umbrad: Option<PathBuf>,
    /// Do not run `cargo build --release -p umbrad`; use target/release/umbrad as it is.
    #[arg(long)]
    no_build: bool,
    /// The monerod binary (default: $UMBRA_MONEROD, else /usr/bin/monerod).
    #[arg(long)]
    monerod: Option<PathBuf>,
    /// Connection counts to step through [default: 1000,2000,5000,10000,15000,19000
    /// (19,000: below a 20,000 RLIMIT_NOFILE for both processes); quick: 50,200].
    #[arg(long, value_delimiter = ',')]
    steps: Option<Vec<usize>>,
    /// The step at which the idle window runs [default: 10000; quick: 200].
    #[arg(long)]
    idle_at: Option<usize>,
    /// Idle window, seconds (monerod sends timed syncs every 60 s) [default: 65; quick: 5].
    #[arg(long)]
    idle_secs: Option<f64>,
    /// Pause after each step before sampling, seconds [default: 3; quick: 1].
    #[arg(long)]
    hold_secs: Option<f64>,
    /// Handshakes per round of the handshake-rate burst (connections closed right after
    /// their handshake; 0: no burst) [default: 1000; quick: 200].
    #[arg(long)]
    burst: Option<usize>,
    /// Rounds of the burst, each on a fresh target process (the table shows their median).
    #[arg(long, default_value_t = 3)]
    burst_rounds: usize,
    /// Handshakes in flight at once (umbrad refuses more than 32 handshakes in progress)
    /// [default: 16].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Connections per loopback source address (≤ 10, the per-IP cap both targets get).
    #[arg(long, default_value_t = 1)]
    per_ip: usize,
    /// Budget for the measurements (building umbrad excluded), seconds [default: 600;
    /// quick: 120].
    #[arg(long)]
    max_time_secs: Option<f64>,
    /// How long umbrad may take to accept connections, seconds.
    #[arg(long, default_value_t = 30.0)]
    listen_timeout_secs: f64,
    /// Also write both reports as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The load both targets get.
#[derive(Debug, Clone)]
struct Plan {
    steps: Vec<usize>,
    idle_at: usize,
    idle: Duration,
    hold: Duration,
    concurrency: usize,
    per_ip: usize,
    burst: Option<BurstConfig>,
    budget: Duration,
}

fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

impl Plan {
    fn from(args: &Args) -> Self {
        let (steps, idle_at, idle, hold, concurrency, burst, budget) = if args.quick {
            (vec![50, 200], 200, 5.0, 1.0, 16, 200, 120.0)
        } else {
            (
                vec![1000, 2000, 5000, 10_000, 15_000, 19_000],
                10_000,
                65.0,
                3.0,
                16,
                1000,
                600.0,
            )
        };
        let burst = args.burst.unwrap_or(burst);
        let mut steps = args.steps.clone().unwrap_or(steps);
        steps.retain(|&n| n > 0);
        steps.sort_unstable();
        steps.dedup();
        Self {
            idle_at: args.idle_at.unwrap_or(idle_at),
            steps,
            idle: secs(args.idle_secs.unwrap_or(idle)),
            hold: secs(args.hold_secs.unwrap_or(hold)),
            concurrency: args.concurrency.unwrap_or(concurrency).max(1),
            per_ip: args.per_ip.clamp(1, target::MAX_CONNECTIONS_PER_IP),
            burst: (burst > 0 && args.burst_rounds > 0).then_some(BurstConfig {
                handshakes: burst,
                rounds: args.burst_rounds,
            }),
            budget: secs(args.max_time_secs.unwrap_or(budget)),
        }
    }

    fn largest(&self) -> usize {
        self.steps.iter().copied().max().unwrap_or(0)
    }

    fn first(&self) -> usize {
        self.steps.first().copied().unwrap_or(0)
    }

    fn config(
        &self,
        target: std::net::SocketAddr,
        chain: CoreSyncData,
        pid: u32,
        deadline: Instant,
    ) -> LoadConfig {
        let mut config = LoadConfig::new(target, chain);
        config.target_pid = Some(pid);
        config.steps.clone_from(&self.steps);
        config.idle_at = Some(self.idle_at);
        config.idle_window = self.idle;
        config.hold = self.hold;
        config.concurrency = self.concurrency;
        config.sources = SourcePlan::new(self.per_ip);
        config.deadline = Some(deadline);
        config
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    umbra_p2p_load::cli::init_tracing();
    let plan = Plan::from(&args);
    if plan.steps.is_empty() {
        eprintln!("p2p-load-compare: no steps above 0");
        return ExitCode::FAILURE;
    }
    match umbra_p2p_load::raise_nofile_limit(umbra_p2p_load::cli::nofile_wanted(&plan.steps)) {
        Ok((soft, hard)) => {
            eprintln!(
                "p2p-load-compare: RLIMIT_NOFILE {soft} (hard {hard}), inherited by both targets"
            );
        }
        Err(error) => eprintln!("p2p-load-compare: could not raise RLIMIT_NOFILE: {error}"),
    }

    // Build (or find) umbrad first: a failed build shows at once, and the measurement
    // budget starts after it.
    let umbrad = if args.only == Only::Monerod {
        None
    } else {
        Some(umbrad_binary(&args))
    };

    let runtime = match umbra_p2p_load::cli::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("p2p-load-compare: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    let work = compare(&args, &plan, umbrad);
    match runtime.block_on(umbra_p2p_load::cli::until_ctrl_c(work)) {
        Ok(code) => code,
        Err(interrupted) => {
            eprintln!("p2p-load-compare: {interrupted}");
            ExitCode::FAILURE
        }
    }
}

fn umbrad_binary(args: &Args) -> Result<PathBuf, String> {
    if let Some(path) = &args.umbrad {
        return Ok(path.clone());
    }
    if args.no_build {
        return Ok(target::release_umbrad_path());
    }
    eprintln!("p2p-load-compare: building umbrad (cargo build --release -p umbrad)");
    target::build_umbrad(Duration::from_secs(30 * 60)).map_err(|e| e.to_string())
}

async fn compare(args: &Args, plan: &Plan, umbrad: Option<Result<PathBuf, String>>) -> ExitCode {
    let started = Instant::now();
    let end = started + plan.budget;
    let measure_monerod_too = args.only != Only::Umbrad;
    // umbrad first, with at most half the budget (all of it when alone); monerod gets
    // whatever is left, so time umbrad does not need goes to monerod's slower steps.
    let umbrad_result = match umbrad {
        None => None,
        Some(Err(error)) => Some(Err(error)),
        Some(Ok(binary)) => {
            let share = if measure_monerod_too {
                plan.budget / 2
            } else {
                plan.budget
            };
            eprintln!(
                "p2p-load-compare: umbrad ({}): steps {:?}, idle window at {}, budget {:.0} s",
                binary.display(),
                plan.steps,
                plan.idle_at,
                share.as_secs_f64()
            );
            Some(measure_umbrad(args, plan, &binary, Instant::now() + share).await)
        }
    };
    let mut monerod_result: Option<Result<LoadReport, String>> = None;
    if measure_monerod_too {
        eprintln!(
            "p2p-load-compare: monerod: steps {:?}, idle window at {}, budget {:.0} s",
            plan.steps,
            plan.idle_at,
            end.saturating_duration_since(Instant::now()).as_secs_f64()
        );
        monerod_result = Some(measure_monerod(args, plan, end).await);
    }

    print_report(
        plan,
        monerod_result.as_ref(),
        umbrad_result.as_ref(),
        started,
    );
    if let Some(path) = &args.json {
        let column = |r: Option<&Result<LoadReport, String>>| match r {
            None => serde_json::Value::Null,
            Some(Ok(report)) => serde_json::to_value(report).unwrap_or_default(),
            Some(Err(error)) => serde_json::json!({ "error": error }),
        };
        let json = serde_json::json!({
            "monerod": column(monerod_result.as_ref()),
            "umbrad": column(umbrad_result.as_ref()),
        });
        match serde_json::to_vec_pretty(&json).map(|bytes| std::fs::write(path, bytes)) {
            Ok(Ok(())) => eprintln!("p2p-load-compare: wrote {}", path.display()),
            Ok(Err(error)) => eprintln!("p2p-load-compare: {}: {error}", path.display()),
            Err(error) => eprintln!("p2p-load-compare: JSON: {error}"),
        }
    }
    let failed = [monerod_result.as_ref(), umbrad_result.as_ref()]
        .into_iter()
        .flatten()
        .any(Result::is_err);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One round of `burst`: every round of the comparison runs on its own fresh process.
fn one_round(burst: BurstConfig) -> BurstConfig {
    BurstConfig { rounds: 1, ..burst }
}

/// Starts a fresh monerod sized for the plan (blocking start off the runtime thread).
async fn start_monerod(args: &Args, plan: &Plan) -> Result<MonerodTarget, String> {
    let largest = plan.largest();
    let binary = args.monerod.clone();
    let monerod =
        tokio::task::spawn_blocking(move || MonerodTarget::start(largest, binary.as_deref()))
            .await
            .map_err(|e| format!("starting monerod: {e}"))?
            .map_err(|e| format!("starting monerod: {e}"))?;
    eprintln!(
        "p2p-load-compare: monerod pid {} on {}",
        monerod.pid(),
        monerod.p2p_addr()
    );
    Ok(monerod)
}

/// Stops monerod; that waits for it to exit (≤ 10 s), so off the runtime thread.
async fn stop_monerod(monerod: MonerodTarget) {
    let _ = tokio::task::spawn_blocking(move || drop(monerod)).await;
}

/// The burst, each round on a fresh monerod, then the steps on another.
async fn measure_monerod(
    args: &Args,
    plan: &Plan,
    deadline: Instant,
) -> Result<LoadReport, String> {
    let mut burst = None;
    if let Some(plan_burst) = plan.burst {
        let mut rounds = Vec::new();
        for _ in 0..plan_burst.rounds {
            let monerod = start_monerod(args, plan).await?;
            let result = async {
                let chain = monerod.chain().await.map_err(|e| e.to_string())?;
                let config = plan.config(monerod.p2p_addr(), chain, monerod.pid(), deadline);
                umbra_p2p_load::burst(&config, one_round(plan_burst))
                    .await
                    .map_err(|e| format!("{e}\nmonerod's log ends:\n{}", monerod.log_tail(20)))
            }
            .await;
            stop_monerod(monerod).await;
            rounds.extend(result?.rounds);
        }
        burst = Some(BurstReport::from_rounds(
            plan_burst.handshakes,
            plan.concurrency,
            rounds,
        ));
    }
    let monerod = start_monerod(args, plan).await?;
    let result = async {
        let chain = monerod.chain().await.map_err(|e| e.to_string())?;
        let config = plan.config(monerod.p2p_addr(), chain, monerod.pid(), deadline);
        let rpc = monerod.monerod().rpc().clone();
        umbra_p2p_load::run_with_check(&config, || {
            let rpc = rpc.clone();
            async move {
                rpc.run_blocking(|r| r.get_info())
                    .await
                    .ok()
                    .map(|info| info.incoming_connections_count)
            }
        })
        .await
        .map_err(|e| format!("{e}\nmonerod's log ends:\n{}", monerod.log_tail(20)))
    }
    .await;
    stop_monerod(monerod).await;
    let mut report = result?;
    report.burst = burst;
    Ok(report)
}

/// Starts a fresh umbrad sized for the plan and waits (bounded) for its P2P port.
async fn start_umbrad(
    args: &Args,
    plan: &Plan,
    binary: &std::path::Path,
) -> Result<UmbradTarget, String> {
    let mut umbrad = UmbradTarget::start(binary, plan.largest()).map_err(|e| e.to_string())?;
    eprintln!(
        "p2p-load-compare: umbrad pid {} on {}; waiting for its P2P port",
        umbrad.pid(),
        umbrad.p2p_addr()
    );
    umbrad
        .wait_listening(secs(args.listen_timeout_secs))
        .await
        .map_err(|e| e.to_string())?;
    Ok(umbrad)
}

/// The burst, each round on a fresh umbrad, then the steps on another.
async fn measure_umbrad(
    args: &Args,
    plan: &Plan,
    binary: &std::path::Path,
    deadline: Instant,
) -> Result<LoadReport, String> {
    let config_for = |umbrad: &UmbradTarget| {
        plan.config(
            umbrad.p2p_addr(),
            target::regtest_genesis_chain(),
            umbrad.pid(),
            deadline,
        )
    };
    let mut burst = None;
    if let Some(plan_burst) = plan.burst {
        let mut rounds = Vec::new();
        for _ in 0..plan_burst.rounds {
            let mut umbrad = start_umbrad(args, plan, binary).await?;
            let result = umbra_p2p_load::burst(&config_for(&umbrad), one_round(plan_burst))
                .await
                .map_err(|e| format!("{e}\numbrad's log ends:\n{}", umbrad.log_tail(20)));
            umbrad.stop();
            rounds.extend(result?.rounds);
        }
        burst = Some(BurstReport::from_rounds(
            plan_burst.handshakes,
            plan.concurrency,
            rounds,
        ));
    }
    let mut umbrad = start_umbrad(args, plan, binary).await?;
    let result = umbra_p2p_load::run(&config_for(&umbrad))
        .await
        .map_err(|e| format!("{e}\numbrad's log ends:\n{}", umbrad.log_tail(20)));
    umbrad.stop();
    let mut report = result?;
    report.burst = burst;
    Ok(report)
}

fn print_report(
    plan: &Plan,
    monerod: Option<&Result<LoadReport, String>>,
    umbrad: Option<&Result<LoadReport, String>>,
    started: Instant,
) {
    use std::fmt::Write as _;
    let skipped = Err("skipped (--only)".to_owned());
    let monerod = monerod.unwrap_or(&skipped);
    let umbrad = umbrad.unwrap_or(&skipped);
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let nofile = rlimit::Resource::NOFILE.get().map_or(0, |(soft, _)| soft);
    let mut out = String::from("# P2P listener under load: umbrad vs monerod\n\n");
    let _ = writeln!(
        out,
        "{cores} cores, RLIMIT_NOFILE {nofile}; the client is one tokio thread; targets measured \
         one after the other (umbrad first); {:.0} s of measurements. Steps {:?}, idle window \
         {:.0} s at {}, {} handshakes in flight, {} connection(s) per source address.\n",
        started.elapsed().as_secs_f64(),
        plan.steps,
        plan.idle.as_secs_f64(),
        plan.idle_at,
        plan.concurrency,
        plan.per_ip,
    );
    let columns = [
        report::Column {
            name: "monerod",
            result: monerod.as_ref().map_err(String::as_str),
        },
        report::Column {
            name: "umbrad",
            result: umbrad.as_ref().map_err(String::as_str),
        },
    ];
    let _ = writeln!(
        out,
        "{}",
        report::comparison_table(columns, plan.first(), plan.idle_at)
    );
    for (name, result) in [("monerod", monerod), ("umbrad", umbrad)] {
        let _ = writeln!(out, "## {name}\n");
        match result {
            Ok(report) => {
                out.push_str(&report::summary(report));
                if let Some(count) = report
                    .idle
                    .as_ref()
                    .and_then(|i| i.target_reported_connections)
                {
                    let _ = writeln!(
                        out,
                        "- {name} itself counts {count} inbound connections at the end of the \
                         idle window"
                    );
                }
                let _ = writeln!(out, "\n{}", report::steps_table(report));
            }
            Err(error) => {
                let _ = writeln!(out, "not measured: {error}\n");
            }
        }
    }
    // A closed pipe (`| head`) is not worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
}
