//! Every target of the harness with tiny sizes and every byte checked, so the harness
//! cannot rot unnoticed.

use std::time::Duration;

use umbra_transport_bench::{Plan, Runtimes, Stack, measure, run};

/// The whole plan, tiny, with each peer on its own runtime (the default) and with both
/// on one shared runtime.
#[tokio::test]
async fn every_target_runs_with_tiny_sizes() {
    for runtimes in [Runtimes::split().unwrap(), Runtimes::shared(2).unwrap()] {
        let plan = Plan::tiny();
        let sides = runtimes.sides().unwrap();
        let report = run(&plan, &sides, &mut |line: &str| eprintln!("{line}")).await;
        let errors = report.errors();
        assert!(errors.is_empty(), "errors: {errors:#?}");
        assert_eq!(report.stacks.len(), Stack::ALL.len());
        for stack in &report.stacks {
            let one = stack.one.as_ref().unwrap();
            let many = stack.many.as_ref().unwrap();
            assert!(one.rate > 0.0 && many.rate > 0.0, "{:?}", stack.stack);
            assert_eq!(one.runs.len(), plan.repeats);
            assert_eq!(many.streams, plan.streams);
            let latency = stack.latency.as_ref().unwrap();
            assert_eq!(latency.samples, plan.pings);
            assert!(latency.p99 >= latency.p50);
        }
        assert!(report.aead.as_ref().unwrap().as_ref().unwrap().seal_wall > 0.0);
        let pipe = report.pipe.as_ref().unwrap().as_ref().unwrap();
        assert!(pipe.noise.is_finite());
        assert_eq!(report.handshakes.len(), plan.handshake_concurrency.len());
        for handshakes in &report.handshakes {
            let handshakes = handshakes.as_ref().unwrap();
            assert!(handshakes.wall_rate > 0.0);
        }
        let markdown = umbra_transport_bench::report::markdown(&report);
        assert!(markdown.contains("Umbra Noise ÷ libp2p"));
        assert!(!markdown.contains("Errors:"));
    }
}

/// A bulk run of an odd size over streams of every stack arrives whole and in order, and
/// the pairs come back usable.
#[tokio::test]
async fn bulk_moves_every_byte_in_order() {
    let limit = Duration::from_secs(20);
    let runtimes = Runtimes::split().unwrap();
    let sides = runtimes.sides().unwrap();
    for stack in Stack::ALL {
        let mut connected = stack.connect(&sides, 2, limit).await.unwrap();
        let mut pairs = std::mem::take(&mut connected.pairs);
        for bytes in [1u64, 65_537 * 2 + 6, 300_001 * 2] {
            let (back, run) = measure::bulk(&sides, pairs, bytes, true, limit)
                .await
                .unwrap();
            assert_eq!(run.bytes, bytes / 2 * 2);
            pairs = back;
        }
        let pair = pairs.pop().unwrap();
        let (_, samples) = measure::ping_pong(&sides, pair, 1, 3, limit).await.unwrap();
        assert_eq!(samples.len(), 3, "{stack:?}");
        connected.close(limit).await;
    }
}
