//! `umbra-chain-fixture`: builds the cached regtest chain fixture of
//! `umbra_test_kit::chain_fixture` if it is missing (or anew with `--rebuild`) and prints a
//! summary: where it is, what is in it, how big it is, how long the build took.
//!
//! ```text
//! cargo run -p umbra-test-kit --bin umbra-chain-fixture -- [options]
//!   --rebuild            build anew even if a complete fixture exists
//!   --path               only print the fixture dir (builds nothing)
//!   --dir DIR            cache root (default $UMBRA_FIXTURE_DIR, else ~/.cache/umbra-fixtures)
//!   --lock-timeout SECS  how long to wait for another process's build (default 2700)
//! ```
//!
//! Progress goes to stderr (`RUST_LOG=debug` for more).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use umbra_test_kit::chain_fixture::{
    BLOCKS_DIR, FACTS_FILE_NAME, MONEROD_DIR, OUTPUTS_FILE_NAME, TXS_DIR,
};
use umbra_test_kit::{ChainFixture, ChainFixtureOptions};

const USAGE: &str =
    "usage: umbra-chain-fixture [--rebuild] [--path] [--dir DIR] [--lock-timeout SECS]";

struct Options {
    fixture: ChainFixtureOptions,
    path_only: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut fixture = ChainFixture::options();
    let mut path_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rebuild" => fixture = fixture.rebuild(true),
            "--path" => path_only = true,
            "--dir" => {
                let dir = args
                    .next()
                    .ok_or_else(|| format!("--dir needs a value\n{USAGE}"))?;
                fixture = fixture.cache_root(PathBuf::from(dir));
            }
            "--lock-timeout" => {
                let text = args
                    .next()
                    .ok_or_else(|| format!("--lock-timeout needs a value\n{USAGE}"))?;
                let secs = text
                    .parse::<u64>()
                    .map_err(|e| format!("bad timeout {text:?}: {e}"))?;
                fixture = fixture.lock_timeout(Duration::from_secs(secs));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Options { fixture, path_only })
}

/// Total size in bytes of the regular files under `path`, and their number.
fn disk_usage(path: &Path) -> (u64, u64) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return (0, 0);
    };
    if meta.is_file() {
        return (meta.len(), 1);
    }
    if !meta.is_dir() {
        return (0, 0);
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return (0, 0);
    };
    entries.flatten().fold((0, 0), |(bytes, files), entry| {
        let (b, f) = disk_usage(&entry.path());
        (bytes + b, files + f)
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if options.path_only {
        return match options.fixture.fixture_dir() {
            Ok(dir) => {
                println!("{}", dir.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let started = Instant::now();
    let fixture = match options.fixture.ensure() {
        Ok(fixture) => fixture,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let facts = fixture.facts();
    let t = &facts.totals;
    let mut tags: BTreeMap<String, usize> = BTreeMap::new();
    for tx in &facts.txs {
        for tag in &tx.tags {
            let name = serde_json::to_string(tag).unwrap_or_default();
            *tags.entry(name.trim_matches('"').to_owned()).or_default() += 1;
        }
    }
    let busy: Vec<String> = facts
        .blocks
        .iter()
        .filter(|b| b.tx_hashes.len() >= 10)
        .map(|b| format!("{} ({} txs)", b.height, b.tx_hashes.len()))
        .collect();
    let max_inputs = facts
        .txs
        .iter()
        .map(|tx| tx.inputs.len())
        .max()
        .unwrap_or(0);
    let max_outputs = facts
        .txs
        .iter()
        .map(|tx| tx.output_count)
        .max()
        .unwrap_or(0);
    let dir = fixture.dir();
    println!("chain fixture   {}", dir.display());
    println!(
        "recipe          r{} (facts format {}), monerod {}, wallet-rpc {}",
        facts.recipe_version, facts.format, facts.monerod_version, facts.wallet_rpc_version
    );
    println!(
        "chain           {} blocks, tip {} {}",
        t.block_count,
        t.tip_height,
        hex::encode(t.tip_hash)
    );
    println!(
        "transactions    {} non-coinbase ({} RingCT type 6), {} with coinbases; up to {} inputs, {} outputs",
        t.tx_count, t.ringct_tx_count, t.tx_count_with_coinbase, max_inputs, max_outputs
    );
    println!("busy blocks     {}", busy.join(", "));
    println!(
        "tags            {}",
        tags.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "totals          {} RingCT outputs, cumulative difficulty {}, generated coins {}, fees {}",
        t.rct_output_count, t.cumulative_difficulty, t.already_generated_coins, t.total_fees
    );
    println!(
        "build           {:.0} s total: mining {:.0} s, wallet {:.0} s, export {:.0} s",
        facts.build.total_ms as f64 / 1000.0,
        facts.build.mining_ms as f64 / 1000.0,
        facts.build.wallet_ms as f64 / 1000.0,
        facts.build.export_ms as f64 / 1000.0
    );
    let (total, files) = disk_usage(dir);
    println!("size            {} in {files} files", mib(total));
    for part in [
        BLOCKS_DIR,
        TXS_DIR,
        MONEROD_DIR,
        FACTS_FILE_NAME,
        OUTPUTS_FILE_NAME,
    ] {
        let (bytes, files) = disk_usage(&dir.join(part));
        println!("  {part:<14}{} ({files} files)", mib(bytes));
    }
    println!("this run        {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
