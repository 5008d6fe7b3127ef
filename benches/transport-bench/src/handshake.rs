//! The rate of Umbra's Noise handshake over loopback TCP, and the CPU cost of each of its
//! steps without I/O.
//!
//! A round: a listener on `127.0.0.1` whose accept loop answers every connection with
//! [`respond`] in its own task (as `NoiseTransport`'s listener does), on the server
//! side's runtime, and `concurrency` client tasks on the client side's runtime that
//! each, in a loop, connect, run [`initiate`] to the end (msg1 out, msg2 and its padding
//! in) and drop the session, until `count` handshakes are done.
//! Default [`Config`]: handshake padding up to 512 bytes, replay filter on. The round's
//! time runs from the first connect to the last client's end; the CPU time is the whole
//! process's (both ends, every thread). Handshakes per CPU-second is therefore "full
//! handshakes (both sides) per second per core".

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use umbra_identity::Identity;
use umbra_transport::noise::{
    Config, InitiatorHandshake, NoiseStats, ReplayFilter, Responder, ResponderHandshake,
    handshake::{MSG1_LEN, MSG2_LEN, unix_ms_now},
    initiate, respond,
};

use crate::{
    BenchError, Result,
    cpu::{CpuClock, LoadClock, ThreadsClock},
    sides::{AbortOnDrop, Sides, on},
    stats, within,
};

/// One round of handshakes.
#[derive(Debug, Clone)]
pub struct Round {
    /// Handshakes completed.
    pub handshakes: usize,
    /// Wall time of the round.
    pub elapsed: Duration,
    /// CPU time of the process over the round, if `/proc` could be read.
    pub cpu: Option<Duration>,
    /// Cores kept busy by other processes over the round, if known.
    pub others: Option<f64>,
    /// CPU time of the dialling and the listening peer's threads over the round, when
    /// each peer has its own runtime.
    pub peers_cpu: Option<(Duration, Duration)>,
    /// Each handshake as its client saw it: TCP connect to the end of [`initiate`].
    pub latencies: Vec<Duration>,
}

impl Round {
    /// Handshakes per second of wall time.
    #[must_use]
    pub fn wall_rate(&self) -> f64 {
        per_second(self.handshakes, self.elapsed)
    }

    /// Handshakes per second of CPU time (per core).
    #[must_use]
    pub fn cpu_rate(&self) -> Option<f64> {
        self.cpu.map(|cpu| per_second(self.handshakes, cpu))
    }

    /// Handshakes per second of the listening peer's CPU time (what one core of a
    /// listener answers).
    #[must_use]
    pub fn responder_rate(&self) -> Option<f64> {
        self.peers_cpu
            .map(|(_, server)| per_second(self.handshakes, server))
    }
}

fn per_second(count: usize, time: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
    let count = count as f64;
    let secs = time.as_secs_f64();
    if secs > 0.0 { count / secs } else { 0.0 }
}

/// The figures of one concurrency level: medians over the rounds.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeReport {
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// Handshakes per round.
    pub per_round: usize,
    /// Timed rounds.
    pub rounds: usize,
    /// Handshakes per second of wall time (median round).
    pub wall_rate: f64,
    /// Handshakes per CPU-second of the process (median round), if measurable.
    pub cpu_rate: Option<f64>,
    /// Median connect + handshake time seen by a client, over every handshake.
    pub latency_p50: Duration,
    /// 99th percentile of the same.
    pub latency_p99: Duration,
    /// Cores kept busy by other processes (median round), if known.
    pub others: Option<f64>,
    /// Handshakes per CPU-second of the listening peer alone (median round), when each
    /// peer has its own runtime.
    pub responder_rate: Option<f64>,
}

/// Runs one round: `count` handshakes, `concurrency` at once; bounded by `limit`.
///
/// # Errors
/// A failed connect or handshake, or `limit` passing.
pub async fn round(
    sides: &Sides,
    concurrency: usize,
    count: usize,
    limit: Duration,
) -> Result<Round> {
    let config = Arc::new(Config::default());
    let server_id = Arc::new(Identity::generate());
    let client_id = Arc::new(Identity::generate());
    let server_key = server_id.public();
    let responder = Arc::new(Responder::new(&config));
    let listener = on(&sides.server, limit, "TCP listen", async {
        TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    })
    .await?;
    let addr = listener.local_addr()?;

    let server = {
        let config = Arc::clone(&config);
        AbortOnDrop(sides.server.spawn(async move {
            let mut handshakes = JoinSet::new();
            loop {
                tokio::select! {
                    Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        if stream.set_nodelay(true).is_err() {
                            continue;
                        }
                        let (reader, writer) = stream.into_split();
                        let (id, config, responder) =
                            (Arc::clone(&server_id), Arc::clone(&config), Arc::clone(&responder));
                        handshakes.spawn(async move {
                            // The session is dropped (closed) at once; a failure shows on
                            // the client.
                            let _ = respond(reader, writer, &id, &config, &responder).await;
                        });
                    }
                }
            }
        }))
    };

    let next = Arc::new(AtomicUsize::new(0));
    let stats = Arc::new(NoiseStats::default());
    let cpu = CpuClock::start();
    let load = LoadClock::start();
    let peers = sides
        .thread_names()
        .map(|(client, server)| (ThreadsClock::start(client), ThreadsClock::start(server)));
    let started = Instant::now();
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (next, id, config, stats) = (
            Arc::clone(&next),
            Arc::clone(&client_id),
            Arc::clone(&config),
            Arc::clone(&stats),
        );
        clients.push(AbortOnDrop(sides.client.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let began = Instant::now();
                let stream = within(limit, "TCP connect", TcpStream::connect(addr)).await?;
                stream.set_nodelay(true)?;
                let (reader, writer) = stream.into_split();
                // `initiate` has its own timeout (`Config::handshake_timeout`, 10 s).
                let session = initiate(reader, writer, &id, &server_key, &config, &stats).await?;
                latencies.push(began.elapsed());
                drop(session);
            }
            Ok::<_, BenchError>(latencies)
        })));
    }
    let latencies = within(limit, "handshake round", async {
        let mut all = Vec::with_capacity(count);
        for client in &mut clients {
            let done = (&mut client.0)
                .await
                .map_err(|error| format!("client task failed: {error}"))??;
            all.extend(done);
        }
        Ok::<_, BenchError>(all)
    })
    .await?;
    let elapsed = started.elapsed();
    let cpu = cpu.elapsed();
    let others = load.others();
    let peers_cpu = peers.and_then(|(client, server)| Some((client.elapsed()?, server.elapsed()?)));
    drop(server);
    Ok(Round {
        handshakes: latencies.len(),
        elapsed,
        cpu,
        others,
        peers_cpu,
        latencies,
    })
}

/// One untimed round of `warmup` handshakes, then `repeats` rounds of `count`; medians.
///
/// # Errors
/// As [`round`].
pub async fn measure(
    sides: &Sides,
    concurrency: usize,
    count: usize,
    warmup: usize,
    repeats: usize,
    limit: Duration,
) -> Result<HandshakeReport> {
    if warmup > 0 {
        round(sides, concurrency, warmup, limit).await?;
    }
    let mut rounds = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        rounds.push(round(sides, concurrency, count, limit).await?);
    }
    let wall: Vec<f64> = rounds.iter().map(Round::wall_rate).collect();
    let cpu: Option<Vec<f64>> = rounds.iter().map(Round::cpu_rate).collect();
    let latencies: Vec<Duration> = rounds.iter().flat_map(|r| r.latencies.clone()).collect();
    let others: Option<Vec<f64>> = rounds.iter().map(|r| r.others).collect();
    let responder: Option<Vec<f64>> = rounds.iter().map(Round::responder_rate).collect();
    Ok(HandshakeReport {
        concurrency,
        per_round: count,
        rounds: rounds.len(),
        wall_rate: stats::median(&wall).ok_or("no handshake rounds")?,
        cpu_rate: cpu.as_deref().and_then(stats::median),
        latency_p50: stats::quantile(&latencies, 0.5).unwrap_or_default(),
        latency_p99: stats::quantile(&latencies, 0.99).unwrap_or_default(),
        others: others.as_deref().and_then(stats::median),
        responder_rate: responder.as_deref().and_then(stats::median),
    })
}

/// The CPU cost of each step of the handshake without I/O (median over `count` runs on
/// the calling thread).
#[derive(Debug, Clone, Copy)]
pub struct StepCosts {
    /// `InitiatorHandshake::start`: ephemeral key with an Elligator2 representative, `es`,
    /// `ss`, msg1 sealed and padded.
    pub initiator_start: Duration,
    /// `ResponderHandshake::read_msg1`: `es`, `ss`, payload opened, Ed25519 key checked
    /// against the Noise static key, replay filter.
    pub responder_read_msg1: Duration,
    /// `ResponderHandshake::write_msg2`: ephemeral key with a representative, `ee`, `se`,
    /// msg2 sealed, session keys split.
    pub responder_write_msg2: Duration,
    /// `InitiatorHandshake::read_msg2`: `ee`, `se`, payload opened, session keys split.
    pub initiator_read_msg2: Duration,
}

impl StepCosts {
    /// The four steps together: the CPU one handshake costs both ends, I/O aside.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.initiator_start
            + self.responder_read_msg1
            + self.responder_write_msg2
            + self.initiator_read_msg2
    }
}

/// Runs `count` handshakes through the sans-IO state machines, timing each step.
///
/// # Errors
/// If a handshake fails (it never should).
pub fn step_costs(count: usize) -> Result<StepCosts> {
    let config = Config::default();
    let initiator = Identity::generate();
    let responder = Identity::generate();
    let responder_key = responder.public();
    let filter = ReplayFilter::new(config.replay_window, count.max(1) + 16);
    let mut rng = rand::rng();
    let mut steps: [Vec<Duration>; 4] = Default::default();
    for _ in 0..count.max(1) {
        let t0 = Instant::now();
        let (pending, msg1) = InitiatorHandshake::start(
            &initiator,
            &responder_key,
            &config,
            unix_ms_now(),
            &mut rng,
        )?;
        let t1 = Instant::now();
        let msg1: &[u8; MSG1_LEN] = msg1
            .get(..MSG1_LEN)
            .and_then(|fixed| fixed.try_into().ok())
            .ok_or("msg1 too short")?;
        let accepted =
            ResponderHandshake::read_msg1(&responder, msg1, unix_ms_now(), &filter, &mut rng)?;
        let t2 = Instant::now();
        let (msg2, _responder_session) = accepted.write_msg2(&config, unix_ms_now(), &mut rng)?;
        let t3 = Instant::now();
        let msg2: &[u8; MSG2_LEN] = msg2
            .get(..MSG2_LEN)
            .and_then(|fixed| fixed.try_into().ok())
            .ok_or("msg2 too short")?;
        let _initiator_session = pending.read_msg2(msg2, &config)?;
        let t4 = Instant::now();
        for (step, time) in steps.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            step.push(time);
        }
    }
    let [a, b, c, d] = steps;
    let median = |samples: &[Duration]| stats::quantile(samples, 0.5).unwrap_or_default();
    Ok(StepCosts {
        initiator_start: median(&a),
        responder_read_msg1: median(&b),
        responder_write_msg2: median(&c),
        initiator_read_msg2: median(&d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_takes_some_time() {
        let costs = step_costs(3).unwrap();
        assert!(costs.total() > Duration::ZERO);
    }
}
