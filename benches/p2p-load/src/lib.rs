//! Load generator for a Monero P2P listener: opens N inbound connections with real
//! handshakes, keeps them idle while answering the target's timed syncs, and measures the
//! target process (issue 3's figures: largest N, RSS per idle connection, idle CPU,
//! handshakes per second, umbrad vs monerod in the same run).
//!
//! # Running
//!
//! ```text
//! cargo run --release -p umbra-p2p-load --bin p2p-load-compare            # umbrad vs monerod, ≤ 10 min
//! cargo run --release -p umbra-p2p-load --bin p2p-load-compare -- --quick # smoke run, < 1 min
//! cargo run --release -p umbra-p2p-load --bin p2p-load -- --target 127.0.0.1:18080 --pid 1234 --steps 1000,10000
//! ```
//!
//! This crate is a workspace member but not a default member: the everyday `cargo build`
//! and `cargo test` skip it; `cargo test -p umbra-p2p-load` runs its test against a real
//! monerod. See `README.md` next to `Cargo.toml` for the method and measured figures.
//!
//! # How it works
//!
//! ```text
//!  p2p-load (one tokio thread)                                   target (monerod / umbrad)
//!   ├─ probe: bind 127.0.0.2, connect, handshake ─────────────────► adopts the target's chain
//!   ├─ baseline: /proc/<pid>/status VmRSS, /proc/<pid>/stat CPU
//!   ├─ step to N₁: connections from 127.0.0.3, .4, … (one per address),
//!   │   ≤ C handshakes in flight: connect + handshake_outbound ──► timed: handshakes/s
//!   │   each connection then idles in its own task:
//!   │     ◄── timed sync / ping / support flags ─── answered with our chain / "OK" / flags
//!   ├─ hold, sample RSS and live connections; step to N₂ (adds N₂ − N₁) …
//!   └─ idle window at `idle_at`: CPU % and RSS over it, connections alive at its end
//!
//!  burst (on a fresh target): M connect + handshake + close, C in flight ── handshakes/s
//! ```
//!
//! - [`conn`]: one connection (bind, connect, handshake with `umbra-p2p-core`, idle loop);
//! - [`scenario`]: the steps and the measurements ([`run`], [`LoadConfig`],
//!   [`LoadReport`]) and the handshake-rate burst ([`burst`]);
//! - [`target`]: starting monerod (through `umbra-test-kit`) and umbrad, always stopped;
//! - [`report`]: Markdown tables; [`cli`]: what the binaries share (runtime, limits);
//! - [`ProcSample`]: RSS and CPU time from `/proc`; [`SourcePlan`]: source addresses.
//!
//! # Example
//!
//! The scenario against any listener that speaks the Monero handshake (here a regtest
//! monerod started by the test kit):
//!
//! ```no_run
//! use std::time::Duration;
//! use umbra_p2p_load::{LoadConfig, target::MonerodTarget};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let monerod = MonerodTarget::start(100, None)?;
//! let mut config = LoadConfig::new(monerod.p2p_addr(), monerod.chain().await?);
//! config.target_pid = Some(monerod.pid());
//! config.steps = vec![50];
//! config.idle_window = Duration::from_secs(2);
//! let report = umbra_p2p_load::run(&config).await?;
//! assert_eq!(report.largest_clean, 50);
//! println!("{}", umbra_p2p_load::report::steps_table(&report));
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod conn;
mod procfs;
pub mod report;
pub mod scenario;
mod source;
pub mod target;

pub use procfs::{CLOCK_TICKS_PER_SEC, ProcSample};
pub use scenario::{
    BURST_FIRST_SOURCE, BurstConfig, BurstReport, BurstRound, IdleReport, Latency, LoadConfig,
    LoadError, LoadReport, StepReport, StopKind, burst, fd_room, raise_nofile_limit, run,
    run_with_check, wait_until_quiet,
};
pub use source::SourcePlan;
