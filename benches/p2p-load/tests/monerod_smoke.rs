//! The scenario against a real regtest monerod (Debian's 0.18, started by the test kit), at
//! a small scale: every handshake succeeds, every connection survives a short idle window,
//! and the measurements of the target process are there and plausible.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::time::Duration;

use umbra_p2p_load::{BurstConfig, LoadConfig, SourcePlan, report, target::MonerodTarget};

#[tokio::test(flavor = "current_thread")]
async fn twenty_connections_handshake_and_stay_idle_with_monerod() {
    let monerod = tokio::task::spawn_blocking(|| MonerodTarget::start(20, None))
        .await
        .unwrap()
        .expect("monerod starts (is the Debian package `monero` installed?)");
    let chain = monerod.chain().await.expect("monerod's chain over RPC");
    assert_eq!(
        (chain.current_height, chain.top_version),
        (1, 1),
        "a fresh regtest chain: genesis, hard fork 1"
    );

    let mut config = LoadConfig::new(monerod.p2p_addr(), chain.clone());
    config.target_pid = Some(monerod.pid());
    config.steps = vec![10, 20];
    config.concurrency = 8;
    // Two connections per address: also covers sharing an address (monerod allows 10).
    config.sources = SourcePlan::new(2);
    config.hold = Duration::from_millis(500);
    config.idle_window = Duration::from_secs(2);
    config.sample_every = Duration::from_millis(500);
    config.deadline = Some(std::time::Instant::now() + Duration::from_secs(120));
    let rpc = monerod.monerod().rpc().clone();
    let report = umbra_p2p_load::run_with_check(&config, || {
        let rpc = rpc.clone();
        async move {
            rpc.run_blocking(|r| r.get_info())
                .await
                .ok()
                .map(|i| i.incoming_connections_count)
        }
    })
    .await
    .expect("the scenario runs");
    eprintln!(
        "{}\n{}",
        report::steps_table(&report),
        report::summary(&report)
    );

    assert_eq!(report.stop_reason, None);
    assert_eq!(report.largest_clean, 20);
    assert_eq!(report.steps.len(), 2);
    for step in &report.steps {
        assert!(step.failures.is_empty(), "{:?}", step.failures);
        assert_eq!(step.succeeded, 10);
        assert_eq!(step.alive_after_hold, step.planned);
        assert!(step.handshakes_per_sec > 1.0, "{step:?}");
        assert!(step.latency.p50_ms > 0.0 && step.latency.max_ms < 10_000.0);
        let target = step.target.expect("monerod's /proc entry is readable");
        assert!(
            target.rss_kib > 10_000,
            "monerod uses more than 10 MiB: {target:?}"
        );
        assert!(step.rss_per_conn_bytes.is_some());
    }
    // The handshake-rate burst, on the same monerod here (small enough not to matter).
    let burst = umbra_p2p_load::burst(
        &config,
        BurstConfig {
            handshakes: 10,
            rounds: 2,
        },
    )
    .await
    .expect("the burst runs");
    assert_eq!(burst.rounds.len(), 2);
    assert!(burst.clean(), "{burst:?}");
    assert!(burst.rounds.iter().all(|r| r.succeeded == 10));
    assert!(burst.median_handshakes_per_sec > 1.0, "{burst:?}");
    assert_eq!(report.chain_height, chain.current_height);
    assert_eq!(report.chain_top_version, chain.top_version);

    let idle = report.idle.as_ref().expect("an idle window ran");
    assert_eq!(idle.connections, 20);
    assert_eq!(idle.alive_at_end, 20);
    assert_eq!(idle.min_alive, 20);
    assert_eq!(idle.activity.closed_by_target, 0);
    assert_eq!(idle.activity.errors, 0);
    assert!(idle.window_secs >= 1.9, "{idle:?}");
    let cpu = idle.target_cpu_percent.expect("CPU sampled");
    assert!((0.0..=200.0).contains(&cpu), "{cpu}");
    let per_conn = idle.rss_per_conn_bytes.expect("RSS per connection");
    assert!(
        per_conn.abs() < 10.0 * 1024.0 * 1024.0,
        "RSS per connection {per_conn} B is implausible"
    );
    assert_eq!(
        idle.target_reported_connections,
        Some(20),
        "monerod counts our 20 connections as inbound"
    );
    assert_eq!(report.final_stats.handshaken, 20);
    assert_eq!(report.peak_alive, 20);
    assert_eq!(report.final_stats.unexpected, 0);
    assert!(!report.target_exited);

    tokio::task::spawn_blocking(move || drop(monerod))
        .await
        .unwrap();
}
