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

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        out = Some(value);
    }
    (best, out.unwrap())
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

#[test]
#[ignore = "throughput harness: run in release with --ignored --nocapture"]
fn tx_throughput() {
    let rules = SemanticRules::for_block(HardFork::V16, 600_000);
    let ctx = Context::new(CHAIN_HEIGHT, 1_700_000_000);
    let chain = TestChain::new(20_000, 400);
    println!("| shape | threads | semantic, BP+ batched | semantic, BP+ one by one | contextual (CLSAGs) | whole, batched | batched / one by one |");
    println!("|---|---|---|---|---|---|---|");
    for (inputs, outputs, count) in [(1usize, 2usize, 96usize), (2, 2, 64), (4, 16, 24)] {
        let txs: Vec<Tx> = (0..count)
            .map(|i| build(&chain, &Spec::type6((i * inputs..(i + 1) * inputs).collect(), outputs)))
            .collect();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let items = || txs.iter().cloned().map(|t| (t, rules)).collect::<Vec<_>>();
                let (batched, checked) = best(|| batch::check_many_with(items(), RangeProofMode::Batched));
                let (single, _) = best(|| batch::check_many_with(items(), RangeProofMode::Individual));
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
                    "| {inputs} in, {outputs} out | {threads} | {:.0} tx/s | {:.0} tx/s | {:.0} tx/s | {:.0} tx/s | {:.2}x |",
                    per_sec(count, batched),
                    per_sec(count, single),
                    per_sec(count, contextual),
                    per_sec(count, whole),
                    whole_single.as_secs_f64() / whole.as_secs_f64(),
                );
            });
        }
    }
}
