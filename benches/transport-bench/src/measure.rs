//! Bulk transfer and ping-pong over connected [`Pair`]s, the same code for every stack.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    task::JoinHandle,
};

use crate::{
    BenchError, BoxIo, Pair, Result, WRITE_SIZE,
    cpu::{CpuClock, LoadClock, ThreadsClock},
    sides::Sides,
    within,
};

/// The bulk payload repeats every this many bytes (a prime, so it never lines up with
/// record or frame boundaries); byte `i` of a stream is `i % PERIOD`.
const PERIOD: usize = 251;

/// One bulk run.
#[derive(Debug, Clone, Copy)]
pub struct BulkRun {
    /// Bytes moved, over all streams.
    pub bytes: u64,
    /// From before the first write to the last byte received.
    pub elapsed: Duration,
    /// CPU time of the whole process over the run (both ends, every thread), if `/proc`
    /// could be read.
    pub cpu: Option<Duration>,
    /// Cores kept busy by other processes over the run (background load), if known.
    pub others: Option<f64>,
    /// CPU time of the client peer's and the server peer's threads over the run, when
    /// each peer has its own runtime.
    pub peers_cpu: Option<(Duration, Duration)>,
}

impl BulkRun {
    /// Bytes per second of CPU time of the busier peer: what the stack moves with one
    /// full core per peer, whatever else ran on the machine.
    #[must_use]
    pub fn per_busiest_core(&self) -> Option<f64> {
        let (client, server) = self.peers_cpu?;
        let busiest = client.max(server);
        (!busiest.is_zero()).then(|| crate::stats::rate(self.bytes, busiest))
    }
}

/// Tasks aborted when dropped, so a timeout or an error leaves nothing running.
struct Tasks<T>(Vec<JoinHandle<T>>);

impl<T> Drop for Tasks<T> {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl<T> Tasks<T> {
    /// Waits for every task, in order (under the caller's timeout).
    async fn join(&mut self) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(self.0.len());
        for task in &mut self.0 {
            out.push(
                task.await
                    .map_err(|error| format!("task failed: {error}"))?,
            );
        }
        Ok(out)
    }
}

/// The bulk pattern, long enough to take a [`WRITE_SIZE`] slice at any phase.
fn pattern() -> Vec<u8> {
    (0..WRITE_SIZE + PERIOD)
        .map(|i| u8::try_from(i % PERIOD).unwrap_or(0))
        .collect()
}

/// Where in the pattern stream offset `offset` falls.
fn phase(offset: u64) -> usize {
    // `PERIOD` fits in u64 and the remainder in usize.
    usize::try_from(offset % PERIOD as u64).unwrap_or(0)
}

/// Writes `bytes` bytes in [`WRITE_SIZE`] writes, then flushes.
pub(crate) async fn send(mut io: BoxIo, bytes: u64) -> Result<BoxIo> {
    let pattern = pattern();
    let mut sent = 0u64;
    while sent < bytes {
        let n = usize::try_from((bytes - sent).min(WRITE_SIZE as u64))?;
        let start = phase(sent);
        let chunk = pattern
            .get(start..start + n)
            .ok_or("pattern slice out of range")?;
        io.write_all(chunk).await?;
        sent += n as u64;
    }
    io.flush().await?;
    Ok(io)
}

/// Reads exactly `bytes` bytes into a [`WRITE_SIZE`] buffer (checking them against the
/// pattern if `verify`).
pub(crate) async fn receive(mut io: BoxIo, bytes: u64, verify: bool) -> Result<BoxIo> {
    let pattern = pattern();
    let mut buf = vec![0u8; WRITE_SIZE];
    let mut got = 0u64;
    while got < bytes {
        let want = usize::try_from((bytes - got).min(WRITE_SIZE as u64))?;
        let space = buf.get_mut(..want).ok_or("read buffer out of range")?;
        let n = io.read(space).await?;
        if n == 0 {
            return Err(format!("stream ended after {got} of {bytes} bytes").into());
        }
        if verify {
            let start = phase(got);
            let expected = pattern.get(start..start + n).ok_or("pattern slice")?;
            if space.get(..n) != Some(expected) {
                return Err(format!("wrong bytes at offset {got}").into());
            }
        }
        got += n as u64;
    }
    Ok(io)
}

/// Sends `total` bytes from the clients to the servers of `pairs`, split evenly over
/// the pairs, all at once (one task per end: senders on the client side's runtime,
/// receivers on the server side's); returns the pairs for the next run.
///
/// # Errors
/// An I/O error on any stream, wrong bytes (with `verify`), or `limit` passing; the
/// pairs are lost then (their tasks are aborted).
pub async fn bulk(
    sides: &Sides,
    pairs: Vec<Pair>,
    total: u64,
    verify: bool,
    limit: Duration,
) -> Result<(Vec<Pair>, BulkRun)> {
    let streams = u64::try_from(pairs.len())?;
    if streams == 0 {
        return Err("no streams".into());
    }
    let per_stream = total / streams;
    let cpu = CpuClock::start();
    let load = LoadClock::start();
    let peers = sides
        .thread_names()
        .map(|(client, server)| (ThreadsClock::start(client), ThreadsClock::start(server)));
    let started = Instant::now();
    let mut senders = Tasks(Vec::with_capacity(pairs.len()));
    let mut receivers = Tasks(Vec::with_capacity(pairs.len()));
    for pair in pairs {
        receivers
            .0
            .push(sides.server.spawn(receive(pair.server, per_stream, verify)));
        senders
            .0
            .push(sides.client.spawn(send(pair.client, per_stream)));
    }
    let (servers, clients) = within(limit, "bulk transfer", async {
        let servers = receivers.join().await?;
        let elapsed = started.elapsed();
        let clients = senders.join().await?;
        Ok::<_, BenchError>(((servers, elapsed), clients))
    })
    .await?;
    let (servers, elapsed) = servers;
    let cpu = cpu.elapsed();
    let others = load.others();
    let peers_cpu = peers.and_then(|(client, server)| Some((client.elapsed()?, server.elapsed()?)));
    let pairs = clients
        .into_iter()
        .zip(servers)
        .map(|(client, server)| {
            Ok(Pair {
                client: client?,
                server: server?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        pairs,
        BulkRun {
            bytes: per_stream * streams,
            elapsed,
            cpu,
            others,
            peers_cpu,
        },
    ))
}

/// Round trips of one byte on `pair`: the client writes a byte and flushes, the server
/// reads it and writes it back (flushed), the client reads it. `warmup` round trips
/// first, then `count` timed ones (the client on the client side's runtime, the echo on
/// the server side's). Returns the pair and each timed round trip.
///
/// # Errors
/// An I/O error, a wrong echo, or `limit` passing.
pub async fn ping_pong(
    sides: &Sides,
    pair: Pair,
    warmup: usize,
    count: usize,
    limit: Duration,
) -> Result<(Pair, Vec<Duration>)> {
    let Pair { client, server } = pair;
    let rounds = warmup + count;
    let echo = sides.server.spawn(async move {
        let mut io = server;
        let mut byte = [0u8; 1];
        for _ in 0..rounds {
            io.read_exact(&mut byte).await?;
            io.write_all(&byte).await?;
            io.flush().await?;
        }
        Ok::<_, BenchError>(io)
    });
    let ping = sides.client.spawn(async move {
        let mut io = client;
        let mut samples = Vec::with_capacity(count);
        let mut back = [0u8; 1];
        for round in 0..rounds {
            let byte = [u8::try_from(round % 256).unwrap_or(0)];
            let started = Instant::now();
            io.write_all(&byte).await?;
            io.flush().await?;
            io.read_exact(&mut back).await?;
            let rtt = started.elapsed();
            if back != byte {
                return Err(BenchError::from("the echo is not the byte sent"));
            }
            if round >= warmup {
                samples.push(rtt);
            }
        }
        Ok::<_, BenchError>((io, samples))
    });
    let mut ping = Tasks(vec![ping]);
    let mut echo = Tasks(vec![echo]);
    let (pinged, echoed) = within(limit, "ping-pong", async {
        let pinged = ping.join().await?;
        let echoed = echo.join().await?;
        Ok::<_, BenchError>((pinged, echoed))
    })
    .await?;
    let (client, samples) = pinged.into_iter().next().ok_or("no ping task")??;
    let server = echoed.into_iter().next().ok_or("no echo task")??;
    Ok((Pair { client, server }, samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_lines_up_at_any_offset() {
        let pattern = pattern();
        for offset in [0u64, 1, 250, 251, 252, 65_536, 1 << 30] {
            let start = phase(offset);
            let slice = &pattern[start..start + 4];
            for (i, byte) in slice.iter().enumerate() {
                assert_eq!(u64::from(*byte), (offset + i as u64) % 251);
            }
        }
    }
}
