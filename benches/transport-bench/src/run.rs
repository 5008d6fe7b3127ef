//! Every measurement of a [`Plan`], in order, into a [`Report`].
//!
//! Order: the AEAD first (one thread, nothing else running); then every stack's single
//! stream (bulk, then latency), then every stack's `streams` streams; then the
//! handshakes. Within a phase the stacks take turns: round 1 of every stack, then round 2
//! of every stack, and so on, so a change in the machine's background load (the 2 cores
//! are shared) touches every stack alike instead of whichever ran at that moment.

use std::time::{Duration, Instant};

use crate::{
    Connected, Mode, Pair, Result, Sides, Stack,
    aead::{self, AeadReport},
    handshake::{self, HandshakeReport, StepCosts},
    measure::{self, BulkRun},
    pipe::{self, PipeCosts},
    stats,
};

/// How much of everything to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The stacks, in the order shown.
    pub stacks: Vec<Stack>,
    /// Bytes per bulk run (over all streams of the run).
    pub bulk_bytes: u64,
    /// Bytes of the untimed warm-up run before the timed ones.
    pub warmup_bytes: u64,
    /// Timed bulk runs per stack and stream count (the median is reported).
    pub repeats: usize,
    /// Streams of the concurrent bulk run.
    pub streams: usize,
    /// Timed ping-pongs per stack (split over `repeats` turns).
    pub pings: usize,
    /// Untimed ping-pongs before them.
    pub ping_warmup: usize,
    /// Plaintext bytes sealed per AEAD repeat.
    pub aead_bytes: u64,
    /// AEAD repeats (0: the AEAD is not measured).
    pub aead_repeats: usize,
    /// Bytes per run of the in-memory pipe split (0: not measured).
    pub pipe_bytes: u64,
    /// Timed runs of the pipe split.
    pub pipe_repeats: usize,
    /// Handshakes per timed round.
    pub handshakes: usize,
    /// Handshakes of the untimed round before them.
    pub handshake_warmup: usize,
    /// Timed handshake rounds per concurrency level.
    pub handshake_repeats: usize,
    /// The concurrency levels (handshakes in flight; none: no handshake rounds).
    pub handshake_concurrency: Vec<usize>,
    /// Sans-IO handshakes timed step by step (0: not measured).
    pub step_costs: usize,
    /// Check every received byte against the pattern (slower; for tests).
    pub verify: bool,
    /// Bound on each setup step (connect, accept, first byte) and the floor of every
    /// other timeout.
    pub setup_timeout: Duration,
    /// The slowest throughput tolerated, bytes per second: a bulk run of `n` bytes times
    /// out after `setup_timeout + n / min_rate`.
    pub min_rate: f64,
}

impl Plan {
    /// The full run: 1 GiB per bulk run, 5 runs each, 20,000 ping-pongs, 1 GiB through
    /// the AEAD, 2,000 handshakes per round.
    #[must_use]
    pub fn full() -> Self {
        Self {
            stacks: Stack::ALL.to_vec(),
            bulk_bytes: 1 << 30,
            warmup_bytes: 128 << 20,
            repeats: 5,
            streams: 8,
            pings: 20_000,
            ping_warmup: 1_000,
            aead_bytes: 1 << 30,
            aead_repeats: 5,
            pipe_bytes: 1 << 30,
            pipe_repeats: 3,
            handshakes: 2_000,
            handshake_warmup: 200,
            handshake_repeats: 3,
            handshake_concurrency: vec![1, 4, 16],
            step_costs: 2_000,
            verify: false,
            setup_timeout: Duration::from_secs(15),
            min_rate: 10e6,
        }
    }

    /// A smoke run of under a minute: 128 MiB per bulk run, 3 runs.
    #[must_use]
    pub fn quick() -> Self {
        Self {
            bulk_bytes: 128 << 20,
            warmup_bytes: 16 << 20,
            repeats: 3,
            pings: 3_000,
            ping_warmup: 200,
            aead_bytes: 128 << 20,
            aead_repeats: 3,
            pipe_bytes: 128 << 20,
            pipe_repeats: 2,
            handshakes: 300,
            handshake_warmup: 50,
            handshake_repeats: 2,
            step_costs: 300,
            ..Self::full()
        }
    }

    /// Tiny sizes with every byte checked: proves every target still runs (tests).
    #[must_use]
    pub fn tiny() -> Self {
        Self {
            bulk_bytes: 2 << 20,
            warmup_bytes: 256 << 10,
            repeats: 1,
            streams: 3,
            pings: 20,
            ping_warmup: 5,
            aead_bytes: 1 << 20,
            aead_repeats: 1,
            pipe_bytes: 1 << 20,
            pipe_repeats: 1,
            handshakes: 10,
            handshake_warmup: 2,
            handshake_repeats: 1,
            handshake_concurrency: vec![1, 3],
            step_costs: 5,
            verify: true,
            ..Self::full()
        }
    }

    /// The timeout of a bulk run of `bytes`.
    #[must_use]
    pub fn bulk_timeout(&self, bytes: u64) -> Duration {
        #[allow(clippy::cast_precision_loss)] // byte counts are far below 2^52
        let secs = bytes as f64 / self.min_rate.max(1.0);
        self.setup_timeout + Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(3600))
    }

    /// The timeout of `count` ping-pongs (a generous 10 ms each).
    #[must_use]
    pub fn ping_timeout(&self, count: usize) -> Duration {
        self.setup_timeout
            + Duration::from_millis(10).saturating_mul(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// The timeout of a handshake round of `count` (a generous 20 ms each).
    #[must_use]
    pub fn handshake_timeout(&self, count: usize) -> Duration {
        self.setup_timeout
            + Duration::from_millis(20).saturating_mul(u32::try_from(count).unwrap_or(u32::MAX))
    }
}

/// Bulk figures of one stack at one stream count.
#[derive(Debug, Clone)]
pub struct BulkFigure {
    /// Streams at once.
    pub streams: usize,
    /// The timed runs.
    pub runs: Vec<BulkRun>,
    /// Median throughput, bytes per second.
    pub rate: f64,
    /// Median CPU time of the process per GiB moved, seconds (both ends).
    pub cpu_per_gib: Option<f64>,
    /// Median bytes per second of CPU time of the busier peer (split mode only): the
    /// throughput with one full core per peer, independent of background load.
    pub per_busiest_core: Option<f64>,
}

impl BulkFigure {
    fn from_runs(streams: usize, runs: Vec<BulkRun>) -> Result<Self> {
        let rates: Vec<f64> = runs
            .iter()
            .map(|run| stats::rate(run.bytes, run.elapsed))
            .collect();
        let cpu: Option<Vec<f64>> = runs
            .iter()
            .map(|run| {
                #[allow(clippy::cast_precision_loss)] // byte counts are far below 2^52
                let gib = run.bytes as f64 / f64::from(1u32 << 30);
                run.cpu.map(|cpu| cpu.as_secs_f64() / gib)
            })
            .collect();
        let per_core: Option<Vec<f64>> = runs.iter().map(BulkRun::per_busiest_core).collect();
        Ok(Self {
            streams,
            per_busiest_core: per_core.as_deref().and_then(stats::median),
            rate: stats::median(&rates).ok_or("no bulk runs")?,
            cpu_per_gib: cpu.as_deref().and_then(stats::median),
            runs,
        })
    }
}

/// Round-trip latency of one stack.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Timed round trips.
    pub samples: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

/// Everything measured on one stack; an `Err` holds why that part failed.
#[derive(Debug, Clone)]
pub struct StackReport {
    /// The stack.
    pub stack: Stack,
    /// One stream.
    pub one: Result<BulkFigure, String>,
    /// `Plan::streams` streams at once.
    pub many: Result<BulkFigure, String>,
    /// Ping-pong on one stream.
    pub latency: Result<Latency, String>,
}

/// The results of a [`run`].
#[derive(Debug, Clone)]
pub struct Report {
    /// What was asked.
    pub plan: Plan,
    /// Where the peers ran.
    pub mode: Mode,
    /// Per stack, in the plan's order.
    pub stacks: Vec<StackReport>,
    /// The AEAD (`None`: not measured).
    pub aead: Option<Result<AeadReport, String>>,
    /// Noise on one thread over an in-memory pipe (`None`: not measured).
    pub pipe: Option<Result<PipeCosts, String>>,
    /// Per handshake concurrency level.
    pub handshakes: Vec<Result<HandshakeReport, String>>,
    /// The handshake's steps without I/O (`None`: not measured).
    pub steps: Option<Result<StepCosts, String>>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl Report {
    /// The report of `stack`, if it was measured.
    #[must_use]
    pub fn stack(&self, stack: Stack) -> Option<&StackReport> {
        self.stacks.iter().find(|report| report.stack == stack)
    }

    /// Every error of the run, with where it happened.
    #[must_use]
    pub fn errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for report in &self.stacks {
            let name = report.stack.name();
            if let Err(error) = &report.one {
                errors.push(format!("{name}, 1 stream: {error}"));
            }
            if let Err(error) = &report.many {
                errors.push(format!("{name}, {} streams: {error}", self.plan.streams));
            }
            if let Err(error) = &report.latency {
                errors.push(format!("{name}, latency: {error}"));
            }
        }
        if let Some(Err(error)) = &self.aead {
            errors.push(format!("AEAD: {error}"));
        }
        if let Some(Err(error)) = &self.pipe {
            errors.push(format!("in-memory pipe: {error}"));
        }
        for (level, result) in self.plan.handshake_concurrency.iter().zip(&self.handshakes) {
            if let Err(error) = result {
                errors.push(format!("handshakes, {level} in flight: {error}"));
            }
        }
        if let Some(Err(error)) = &self.steps {
            errors.push(format!("handshake steps: {error}"));
        }
        errors
    }
}

/// One stack's connections during a phase, or why it dropped out.
struct Slot {
    stack: Stack,
    connected: Result<Connected, String>,
    runs: Vec<BulkRun>,
    samples: Vec<Duration>,
    latency_error: Option<String>,
}

impl Slot {
    fn pairs(&mut self) -> Option<Vec<Pair>> {
        self.connected
            .as_mut()
            .ok()
            .map(|connected| std::mem::take(&mut connected.pairs))
    }

    fn restore(&mut self, result: Result<Vec<Pair>>) {
        match (result, &mut self.connected) {
            (Ok(pairs), Ok(connected)) => connected.pairs = pairs,
            (Err(error), _) => self.fail(&error.to_string()),
            (Ok(_), Err(_)) => {}
        }
    }

    fn fail(&mut self, error: &str) {
        if self.connected.is_ok() {
            self.connected = Err(error.to_owned());
        }
    }

    async fn close(
        self,
        limit: Duration,
    ) -> (
        Stack,
        Result<Vec<BulkRun>, String>,
        Vec<Duration>,
        Option<String>,
    ) {
        let runs = match self.connected {
            Ok(connected) => {
                connected.close(limit).await;
                Ok(self.runs)
            }
            Err(error) => Err(error),
        };
        (self.stack, runs, self.samples, self.latency_error)
    }
}

/// Opens `streams` streams on every stack.
async fn connect_all(
    plan: &Plan,
    sides: &Sides,
    streams: usize,
    progress: &mut dyn FnMut(&str),
) -> Vec<Slot> {
    let mut slots = Vec::with_capacity(plan.stacks.len());
    for &stack in &plan.stacks {
        progress(&format!("{}: opening {streams} stream(s)", stack.name()));
        let connected = stack
            .connect(sides, streams, plan.setup_timeout)
            .await
            .map_err(|error| error.to_string());
        if let Err(error) = &connected {
            progress(&format!("{}: setup failed: {error}", stack.name()));
        }
        slots.push(Slot {
            stack,
            connected,
            runs: Vec::new(),
            samples: Vec::new(),
            latency_error: None,
        });
    }
    slots
}

/// A warm-up run, then `plan.repeats` turns of one run per stack.
async fn bulk_phase(
    plan: &Plan,
    sides: &Sides,
    slots: &mut [Slot],
    progress: &mut dyn FnMut(&str),
) {
    for slot in slots.iter_mut() {
        let Some(pairs) = slot.pairs() else { continue };
        let limit = plan.bulk_timeout(plan.warmup_bytes);
        let result = measure::bulk(sides, pairs, plan.warmup_bytes, plan.verify, limit).await;
        slot.restore(result.map(|(pairs, _)| pairs));
    }
    for turn in 1..=plan.repeats {
        for slot in slots.iter_mut() {
            let Some(pairs) = slot.pairs() else { continue };
            let limit = plan.bulk_timeout(plan.bulk_bytes);
            let result = measure::bulk(sides, pairs, plan.bulk_bytes, plan.verify, limit).await;
            let result = result.map(|(pairs, run)| {
                progress(&format!(
                    "{}: bulk run {turn}/{}: {} streams, {:.0} MB/s",
                    slot.stack.name(),
                    plan.repeats,
                    pairs.len(),
                    stats::rate(run.bytes, run.elapsed) / 1e6
                ));
                slot.runs.push(run);
                pairs
            });
            slot.restore(result);
        }
    }
}

/// Ping-pong on the first stream of every stack, in `plan.repeats` turns.
async fn latency_phase(
    plan: &Plan,
    sides: &Sides,
    slots: &mut [Slot],
    progress: &mut dyn FnMut(&str),
) {
    let turns = plan.repeats.max(1);
    let per_turn = plan.pings.div_ceil(turns);
    for turn in 0..turns {
        for slot in slots.iter_mut() {
            if slot.latency_error.is_some() {
                continue;
            }
            let Some(mut pairs) = slot.pairs() else {
                continue;
            };
            if pairs.is_empty() {
                slot.latency_error = Some("no stream".to_owned());
                continue;
            }
            let pair = pairs.remove(0);
            let warmup = if turn == 0 { plan.ping_warmup } else { 0 };
            let limit = plan.ping_timeout(warmup + per_turn);
            match measure::ping_pong(sides, pair, warmup, per_turn, limit).await {
                Ok((pair, samples)) => {
                    pairs.insert(0, pair);
                    slot.samples.extend(samples);
                    slot.restore(Ok(pairs));
                }
                Err(error) => {
                    progress(&format!("{}: ping-pong failed: {error}", slot.stack.name()));
                    slot.latency_error = Some(error.to_string());
                    slot.restore(Ok(pairs));
                }
            }
        }
    }
}

/// Runs everything in `plan`, each peer on its side of `sides`; `progress` hears what
/// is going on.
pub async fn run(plan: &Plan, sides: &Sides, progress: &mut dyn FnMut(&str)) -> Report {
    let started = Instant::now();

    let aead = if plan.aead_repeats > 0 {
        progress("AEAD: sealing and opening on one thread");
        let (bytes, repeats) = (plan.aead_bytes, plan.aead_repeats);
        Some(
            match tokio::task::spawn_blocking(move || {
                aead::measure(bytes, crate::WRITE_SIZE, repeats)
            })
            .await
            {
                Ok(result) => result.map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            },
        )
    } else {
        None
    };

    let pipe = if plan.pipe_bytes > 0 && plan.pipe_repeats > 0 {
        progress("Noise over an in-memory pipe, one thread");
        let (bytes, repeats) = (plan.pipe_bytes, plan.pipe_repeats);
        Some(
            match tokio::task::spawn_blocking(move || pipe::measure(bytes, repeats)).await {
                Ok(result) => result.map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            },
        )
    } else {
        None
    };

    // One stream: bulk, then latency on the same stream.
    let mut slots = connect_all(plan, sides, 1, progress).await;
    bulk_phase(plan, sides, &mut slots, progress).await;
    latency_phase(plan, sides, &mut slots, progress).await;
    let mut one = Vec::with_capacity(slots.len());
    for slot in slots {
        one.push(slot.close(plan.setup_timeout).await);
    }

    // Many streams.
    let mut slots = connect_all(plan, sides, plan.streams, progress).await;
    bulk_phase(plan, sides, &mut slots, progress).await;
    let mut many = Vec::with_capacity(slots.len());
    for slot in slots {
        many.push(slot.close(plan.setup_timeout).await);
    }

    let mut stacks = Vec::with_capacity(one.len());
    for ((stack, one_runs, samples, latency_error), (_, many_runs, _, _)) in
        one.into_iter().zip(many)
    {
        let figure = |streams: usize, runs: Result<Vec<BulkRun>, String>| {
            runs.and_then(|runs| {
                BulkFigure::from_runs(streams, runs).map_err(|error| error.to_string())
            })
        };
        let latency = match (&one_runs, latency_error) {
            (_, Some(error)) => Err(error),
            (Err(error), None) => Err(error.clone()),
            (Ok(_), None) => match (
                stats::quantile(&samples, 0.5),
                stats::quantile(&samples, 0.99),
            ) {
                (Some(p50), Some(p99)) => Ok(Latency {
                    samples: samples.len(),
                    p50,
                    p99,
                }),
                _ => Err("no ping-pong samples".to_owned()),
            },
        };
        stacks.push(StackReport {
            stack,
            one: figure(1, one_runs),
            many: figure(plan.streams, many_runs),
            latency,
        });
    }

    let mut handshakes = Vec::with_capacity(plan.handshake_concurrency.len());
    for &concurrency in &plan.handshake_concurrency {
        progress(&format!("Noise handshakes, {concurrency} in flight"));
        let limit = plan.handshake_timeout(plan.handshakes.max(plan.handshake_warmup));
        let result = handshake::measure(
            sides,
            concurrency,
            plan.handshakes,
            plan.handshake_warmup,
            plan.handshake_repeats,
            limit,
        )
        .await
        .map_err(|error| error.to_string());
        if let Ok(report) = &result {
            progress(&format!(
                "Noise handshakes, {concurrency} in flight: {:.0}/s",
                report.wall_rate
            ));
        }
        handshakes.push(result);
    }

    let steps = if plan.step_costs > 0 {
        progress("Noise handshake steps without I/O");
        let count = plan.step_costs;
        Some(
            match tokio::task::spawn_blocking(move || handshake::step_costs(count)).await {
                Ok(result) => result.map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            },
        )
    } else {
        None
    };

    Report {
        plan: plan.clone(),
        mode: sides.mode,
        stacks,
        aead,
        pipe,
        handshakes,
        steps,
        elapsed: started.elapsed(),
    }
}
