//! Throughput harness (not a test): type-6 transactions with 16-member rings, verified on
//! 1 and 2 threads, range proofs batched and one by one.
//!
//! ```text
//! cargo test -p umbra-consensus --release --lib -- --ignored tx_throughput --nocapture
//! ```
//!
//! Figures go to `docs/consensus-tx.md`. Nothing here asserts a time.

use std::time::{Duration, Instant};

use super::build::{CHAIN_HEIGHT, Spec, TestChain, build};
use crate::{
    HardFork,
    tx::{Context, RangeProofMode, RingData, SemanticRules, Tx, batch, semantic::CheckedTx},
};

const ROUNDS: usize = 3;

/// CPU time of this process (all threads), from `/proc/self/stat` (Linux; 10 ms ticks).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // After the command name: state is field 3, utime 14, stime 15 (1-based).
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Wall and CPU time of the fastest of [`ROUNDS`] runs (by wall time).
#[derive(Clone, Copy)]
struct Time {
    wall: Duration,
    cpu: Duration,
}

impl std::ops::Add for Time {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            wall: self.wall + o.wall,
            cpu: self.cpu + o.cpu,
        }
    }
}

fn best<T>(mut f: impl FnMut() -> T) -> (Time, T) {
    let mut best = Time {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };
    let mut out = None;
    for _ in 0..ROUNDS {
        let (start, cpu) = (Instant::now(), cpu_time());
        let value = f();
        let t = Time {
            wall: start.elapsed(),
            cpu: cpu_time() - cpu,
        };
        if t.wall < best.wall {
            best = t;
        }
        out = Some(value);
    }
    (best, out.unwrap())
}

/// "wall tx/s (tx per CPU-second)".
fn rate(n: usize, t: Time) -> String {
    let cpu = t.cpu.as_secs_f64();
    let per_cpu = if cpu > 0.0 {
        format!("{:.0}", n as f64 / cpu)
    } else {
        "-".into()
    };
    format!("{:.0} ({per_cpu})", n as f64 / t.wall.as_secs_f64())
}

#[test]
#[ignore = "throughput harness: run in release with --ignored --nocapture"]
fn tx_throughput() {
    let rules = SemanticRules::for_block(HardFork::V16, 600_000);
    let ctx = Context::new(CHAIN_HEIGHT, 1_700_000_000);
    let chain = TestChain::new(20_000, 400);
    println!(
        "load average before: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("tx/s by wall clock (tx per CPU-second in parentheses)");
    println!(
        "| shape | threads | semantic, BP+ batched | semantic, BP+ one by one | contextual (CLSAGs) | whole, batched | whole, one by one | speed-up of batching |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (inputs, outputs, count) in [(1usize, 2usize, 96usize), (2, 2, 64), (4, 16, 24)] {
        let txs: Vec<Tx> = (0..count)
            .map(|i| {
                build(
                    &chain,
                    &Spec::type6((i * inputs..(i + 1) * inputs).collect(), outputs),
                )
            })
            .collect();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let items = || txs.iter().cloned().map(|t| (t, rules)).collect::<Vec<_>>();
                let (batched, checked) =
                    best(|| batch::check_many_with(items(), RangeProofMode::Batched));
                let (single, _) =
                    best(|| batch::check_many_with(items(), RangeProofMode::Individual));
                let checked: Vec<CheckedTx> = checked.into_iter().map(Result::unwrap).collect();
                let with_data: Vec<(CheckedTx, RingData, Context)> = checked
                    .into_iter()
                    .map(|c| {
                        let data = chain.ring_data(&c.ring_request());
                        (c, data, ctx)
                    })
                    .collect();
                let (contextual, verified) = best(|| batch::verify_many(with_data.clone()));
                assert!(verified.iter().all(Result::is_ok));
                let whole = batched + contextual;
                let whole_single = single + contextual;
                println!(
                    "| {inputs} in, {outputs} out | {threads} | {} | {} | {} | {} | {} | {:.2}x |",
                    rate(count, batched),
                    rate(count, single),
                    rate(count, contextual),
                    rate(count, whole),
                    rate(count, whole_single),
                    whole_single.wall.as_secs_f64() / whole.wall.as_secs_f64(),
                );
            });
        }
    }
    println!(
        "load average after: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

#[test]
#[ignore = "throughput harness: run in release with --ignored --nocapture"]
fn fixture_throughput() {
    use std::collections::HashSet;

    let Some(fixture) = super::fixture::Fixture::load() else {
        return;
    };
    // Every fixture transaction with its block's rules, context and the chain before it.
    let mut spent: HashSet<[u8; 32]> = HashSet::new();
    let mut semantic_items = Vec::new();
    let mut contexts = Vec::new();
    let mut spent_before = Vec::new();
    for (height, _, txs) in fixture.blocks_with_txs() {
        let images: Vec<[u8; 32]> = txs.iter().flat_map(Tx::key_images).collect();
        for tx in txs {
            spent_before.push(spent.clone());
            contexts.push(fixture.context(height));
            semantic_items.push((tx, fixture.rules(height)));
        }
        spent.extend(images);
    }
    let count = semantic_items.len();
    let inputs: usize = semantic_items
        .iter()
        .map(|(t, _)| t.transaction().prefix().inputs.len())
        .sum();
    println!("fixture: {count} type-6 transactions, {inputs} inputs (ring size 16)");
    println!(
        "| threads | semantic, BP+ batched | semantic, BP+ one by one | contextual (CLSAGs) | whole, batched | whole, one by one | speed-up of batching |"
    );
    println!("|---|---|---|---|---|---|---|");
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (batched, checked) =
                best(|| batch::check_many_with(semantic_items.clone(), RangeProofMode::Batched));
            let (single, _) =
                best(|| batch::check_many_with(semantic_items.clone(), RangeProofMode::Individual));
            let with_data: Vec<(CheckedTx, RingData, Context)> = checked
                .into_iter()
                .zip(&contexts)
                .zip(&spent_before)
                .map(|((c, ctx), spent)| {
                    let c = c.unwrap();
                    let data = fixture.ring_data(&c, spent);
                    (c, data, *ctx)
                })
                .collect();
            let (contextual, verified) = best(|| batch::verify_many(with_data.clone()));
            assert!(verified.iter().all(Result::is_ok));
            let whole = batched + contextual;
            let whole_single = single + contextual;
            println!(
                "| {threads} | {} | {} | {} | {} | {} | {:.2}x |",
                rate(count, batched),
                rate(count, single),
                rate(count, contextual),
                rate(count, whole),
                rate(count, whole_single),
                whole_single.wall.as_secs_f64() / whole.wall.as_secs_f64(),
            );
        });
    }
}
