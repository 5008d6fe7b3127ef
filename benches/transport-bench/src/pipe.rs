//! Where Noise's CPU goes, without the kernel: both ends on one thread over an in-memory
//! pipe.
//!
//! [`measure()`] moves the same bytes, in the same 64 KiB writes and reads as the bulk runs,
//! through a `tokio::io::duplex` pipe on a current-thread runtime — once as they are,
//! once through a Noise session (the real [`initiate`]/[`respond`], default [`Config`]) —
//! and the thread's CPU time (`/proc/thread-self/schedstat`) is what one core spends on
//! both ends. Subtracting the plain pipe gives
//! what Noise's record layer costs for both ends (sealing and opening included); taking
//! the AEAD's own seal + open time ([`aead`](crate::aead)) away from that leaves the
//! record layer's overhead beyond the cipher (buffer copies, padding, framing, polling).

use std::{sync::Arc, time::Duration};

use tokio::io::{duplex, join, split};
use umbra_identity::Identity;
use umbra_transport::noise::{Config, NoiseStats, Responder, initiate, respond};

use crate::{BoxIo, Result, cpu::thread_cpu, measure, stats, within};

/// Bytes the in-memory pipe buffers between the ends.
const PIPE_BUFFER: usize = 256 * 1024;

/// Bound on one handshake or transfer over the pipe (nothing here waits on a network,
/// but a bug must not hang the harness).
const PIPE_TIMEOUT: Duration = Duration::from_secs(120);

/// CPU seconds per GiB on one core, both ends (medians over the repeats).
#[derive(Debug, Clone, Copy)]
pub struct PipeCosts {
    /// Bytes per repeat.
    pub bytes: u64,
    /// The plain pipe: the harness's own writes, reads and the pipe's copy.
    pub plain: f64,
    /// The same through a Noise session.
    pub noise: f64,
}

impl PipeCosts {
    /// What Noise adds to the plain pipe, seconds per GiB (both ends).
    #[must_use]
    pub fn noise_layer(&self) -> f64 {
        self.noise - self.plain
    }
}

fn per_gib(bytes: u64, time: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)] // byte counts are far below 2^52
    let gib = bytes as f64 / f64::from(1u32 << 30);
    time.as_secs_f64() / gib
}

/// Sends `bytes` from `client` to `server` on this thread; the thread's CPU time taken.
async fn transfer(client: BoxIo, server: BoxIo, bytes: u64) -> Result<Duration> {
    let started = thread_cpu()?;
    let (sent, received) = tokio::join!(
        measure::send(client, bytes),
        measure::receive(server, bytes, false)
    );
    sent?;
    received?;
    Ok(thread_cpu()?.saturating_sub(started))
}

/// A connected plain pipe.
fn plain_pair() -> (BoxIo, BoxIo) {
    let (a, b) = duplex(PIPE_BUFFER);
    (Box::new(a), Box::new(b))
}

/// A Noise session over a pipe, handshake done.
async fn noise_pair() -> Result<(BoxIo, BoxIo)> {
    let (a, b) = duplex(PIPE_BUFFER);
    let (a_read, a_write) = split(a);
    let (b_read, b_write) = split(b);
    let config = Config::default();
    let (client_id, server_id) = (Identity::generate(), Identity::generate());
    let responder = Responder::new(&config);
    let stats = Arc::new(NoiseStats::default());
    let server_key = server_id.public();
    let (client, server) = tokio::join!(
        initiate(a_read, a_write, &client_id, &server_key, &config, &stats),
        respond(b_read, b_write, &server_id, &config, &responder)
    );
    let (client_read, client_write, _) = client?;
    let (server_read, server_write, _) = server?;
    Ok((
        Box::new(join(client_read, client_write)),
        Box::new(join(server_read, server_write)),
    ))
}

/// Measures the plain pipe and Noise over it, `bytes` per run, one warm-up run each and
/// `repeats` timed ones, on a current-thread runtime made for the purpose (call it from a
/// thread that may block). Nothing here waits on the network.
///
/// # Errors
/// If the runtime cannot be made, the handshake fails, or a transfer fails.
pub fn measure(bytes: u64, repeats: usize) -> Result<PipeCosts> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut plain = Vec::with_capacity(repeats);
        let mut noise = Vec::with_capacity(repeats);
        for round in 0..=repeats.max(1) {
            let (client, server) = plain_pair();
            let plain_time =
                within(PIPE_TIMEOUT, "plain pipe", transfer(client, server, bytes)).await?;
            let (client, server) = within(
                PIPE_TIMEOUT,
                "Noise handshake over a pipe",
                Box::pin(noise_pair()),
            )
            .await?;
            let noise_time = within(
                PIPE_TIMEOUT,
                "Noise over a pipe",
                transfer(client, server, bytes),
            )
            .await?;
            if round > 0 {
                plain.push(per_gib(bytes, plain_time));
                noise.push(per_gib(bytes, noise_time));
            }
        }
        Ok(PipeCosts {
            bytes,
            plain: stats::median(&plain).ok_or("no pipe runs")?,
            noise: stats::median(&noise).ok_or("no pipe runs")?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_over_a_pipe_runs() {
        // CPU time comes from the scheduler's counters (updated at ticks and switches),
        // too coarse for an order between two short runs: only check both ran.
        let costs = measure(4 << 20, 1).unwrap();
        assert!(costs.plain.is_finite() && costs.noise.is_finite());
    }
}
