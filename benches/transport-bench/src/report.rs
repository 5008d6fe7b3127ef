//! The Markdown tables of a [`Report`].
//!
//! Throughput is in MB/s (10^6 bytes per second) of application data; CPU is the whole
//! process's (both ends) in seconds per GiB moved.

use std::{fmt::Write as _, time::Duration};

use crate::{
    Stack,
    run::{BulkFigure, Report},
};

/// monerod's plain levin handshake rate from `docs/benchmarks.md`, issue 3 (burst of
/// 1000, 16 in flight, 2 cores shared by the client and monerod), not re-measured.
pub const MONEROD_HANDSHAKES_PER_SEC: f64 = 1094.0;

/// The targets of issue 4.
pub mod targets {
    /// Umbra Noise throughput ÷ libp2p throughput, at least.
    pub const NOISE_OVER_LIBP2P: f64 = 3.0;
    /// Umbra Noise throughput ÷ the AEAD's single-core seal speed, at least.
    pub const NOISE_OVER_AEAD: f64 = 0.70;
}

/// `value` rounded to whole units with thousands separators: `12,345`.
#[must_use]
pub fn grouped(value: f64) -> String {
    if !value.is_finite() {
        return "—".to_owned();
    }
    #[allow(clippy::cast_possible_truncation)] // rounded, and far below i64's range
    let whole = value.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if whole < 0 { format!("-{out}") } else { out }
}

fn mbps(rate: f64) -> String {
    grouped(rate / 1e6)
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn show_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"))
}

fn verdict(r: Option<f64>, at_least: f64) -> &'static str {
    match r {
        Some(r) if r >= at_least => "**met**",
        Some(_) => "**missed**",
        None => "not measured",
    }
}

fn figure(report: &Report, stack: Stack, many: bool) -> Option<&BulkFigure> {
    let stack = report.stack(stack)?;
    if many {
        stack.many.as_ref().ok()
    } else {
        stack.one.as_ref().ok()
    }
}

fn rate(report: &Report, stack: Stack, many: bool) -> Option<f64> {
    figure(report, stack, many).map(|f| f.rate)
}

fn p50(report: &Report, stack: Stack) -> Option<f64> {
    let latency = report.stack(stack)?.latency.as_ref().ok()?;
    Some(latency.p50.as_secs_f64())
}

/// The throughput and latency table, one row per stack.
#[must_use]
pub fn transports_table(report: &Report) -> String {
    let n = report.plan.streams;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| stack | 1 stream, MB/s | {n} streams, MB/s | MB/s per busier peer's CPU-second, 1 / {n} streams | CPU s/GiB (both ends), 1 / {n} streams | RTT p50, µs | RTT p99, µs | {n} streams are |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    for stack in &report.stacks {
        let bulk = |f: &Result<BulkFigure, String>| match f {
            Ok(f) => mbps(f.rate),
            Err(_) => "error".to_owned(),
        };
        let cpu = |f: &Result<BulkFigure, String>| match f {
            Ok(BulkFigure {
                cpu_per_gib: Some(c),
                ..
            }) => format!("{c:.2}"),
            _ => "—".to_owned(),
        };
        let core = |f: &Result<BulkFigure, String>| match f {
            Ok(BulkFigure {
                per_busiest_core: Some(c),
                ..
            }) => mbps(*c),
            _ => "—".to_owned(),
        };
        let (rtt50, rtt99) = match &stack.latency {
            Ok(l) => (micros(l.p50), micros(l.p99)),
            Err(_) => ("error".to_owned(), "error".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {} | {} / {} | {rtt50} | {rtt99} | {} |",
            stack.stack.name(),
            bulk(&stack.one),
            bulk(&stack.many),
            core(&stack.one),
            core(&stack.many),
            cpu(&stack.one),
            cpu(&stack.many),
            stack.stack.streams_are(),
        );
    }
    out
}

/// The AEAD table.
#[must_use]
pub fn aead_table(report: &Report) -> String {
    let mut out = String::new();
    match &report.aead {
        None => {}
        Some(Ok(a)) => {
            let _ = writeln!(
                out,
                "| ChaCha20-Poly1305, one thread, {} KiB records | MB/s per CPU-second |",
                a.record / 1024
            );
            let _ = writeln!(out, "|---|---:|");
            let _ = writeln!(
                out,
                "| seal, {} (what Umbra's Noise records use) | {} |",
                a.backend.name(),
                mbps(a.seal)
            );
            let _ = writeln!(out, "| open, same | {} |", mbps(a.open));
            let _ = writeln!(
                out,
                "| seal, ring in place (no copy), for reference | {} |",
                mbps(a.ring_in_place)
            );
            let _ = writeln!(
                out,
                "| AES-256-GCM seal, ring in place — not used by Umbra, for reference | {} |",
                mbps(a.aes_gcm_in_place)
            );
            let _ = writeln!(
                out,
                "| ChaCha20-Poly1305 seal through snow, per second of wall time (lower if the machine was busy) | {} |",
                mbps(a.seal_wall)
            );
        }
        Some(Err(error)) => {
            let _ = writeln!(out, "AEAD: error: {error}");
        }
    }
    out
}

/// The ratios and the targets.
#[must_use]
pub fn ratios_table(report: &Report) -> String {
    let n = report.plan.streams;
    let aead = report
        .aead
        .as_ref()
        .and_then(|a| a.as_ref().ok())
        .map(|a| a.seal);
    let mut out = String::new();
    let _ = writeln!(out, "| ratio | 1 stream | {n} streams | target |");
    let _ = writeln!(out, "|---|---:|---:|---|");
    let both = |a: Stack, b: Stack| {
        (
            ratio(rate(report, a, false), rate(report, b, false)),
            ratio(rate(report, a, true), rate(report, b, true)),
        )
    };
    let (one, many) = both(Stack::Noise, Stack::Libp2p);
    let _ = writeln!(
        out,
        "| Umbra Noise ÷ libp2p (throughput) | {} | {} | ≥ {:.0}×: {} / {} |",
        show_ratio(one),
        show_ratio(many),
        targets::NOISE_OVER_LIBP2P,
        verdict(one, targets::NOISE_OVER_LIBP2P),
        verdict(many, targets::NOISE_OVER_LIBP2P),
    );
    let per_core =
        |stack: Stack, many: bool| figure(report, stack, many).and_then(|f| f.per_busiest_core);
    let one = ratio(
        per_core(Stack::Noise, false),
        per_core(Stack::Libp2p, false),
    );
    let many = ratio(per_core(Stack::Noise, true), per_core(Stack::Libp2p, true));
    let _ = writeln!(
        out,
        "| same, per CPU-second of the busier peer (background load taken out) | {} | {} | ≥ {:.0}×: {} / {} |",
        show_ratio(one),
        show_ratio(many),
        targets::NOISE_OVER_LIBP2P,
        verdict(one, targets::NOISE_OVER_LIBP2P),
        verdict(many, targets::NOISE_OVER_LIBP2P),
    );
    let cpu = |stack: Stack, many: bool| figure(report, stack, many).and_then(|f| f.cpu_per_gib);
    let _ = writeln!(
        out,
        "| libp2p CPU per GiB ÷ Umbra Noise CPU per GiB (efficiency, both ends) | {} | {} | |",
        show_ratio(ratio(cpu(Stack::Libp2p, false), cpu(Stack::Noise, false))),
        show_ratio(ratio(cpu(Stack::Libp2p, true), cpu(Stack::Noise, true))),
    );
    let _ = writeln!(
        out,
        "| AEAD single-core seal ÷ libp2p per busier peer's CPU-second: the most Noise ÷ libp2p can be with one core per peer (Noise at the AEAD's speed) | {} | {} | |",
        show_ratio(ratio(aead, per_core(Stack::Libp2p, false))),
        show_ratio(ratio(aead, per_core(Stack::Libp2p, true))),
    );
    let one = ratio(rate(report, Stack::Noise, false), aead);
    let many = ratio(rate(report, Stack::Noise, true), aead);
    let _ = writeln!(
        out,
        "| Umbra Noise ÷ AEAD single-core seal | {} | {} | ≥ {:.2}×: {} / {} |",
        show_ratio(one),
        show_ratio(many),
        targets::NOISE_OVER_AEAD,
        verdict(one, targets::NOISE_OVER_AEAD),
        verdict(many, targets::NOISE_OVER_AEAD),
    );
    let one = ratio(per_core(Stack::Noise, false), aead);
    let many = ratio(per_core(Stack::Noise, true), aead);
    let _ = writeln!(
        out,
        "| same, per CPU-second of the busier peer (background load taken out) | {} | {} | ≥ {:.2}×: {} / {} |",
        show_ratio(one),
        show_ratio(many),
        targets::NOISE_OVER_AEAD,
        verdict(one, targets::NOISE_OVER_AEAD),
        verdict(many, targets::NOISE_OVER_AEAD),
    );
    for (label, a, b) in [
        ("Umbra Noise ÷ TCP", Stack::Noise, Stack::Tcp),
        ("Umbra QUIC ÷ TCP", Stack::Quic, Stack::Tcp),
        ("libp2p ÷ TCP", Stack::Libp2p, Stack::Tcp),
        ("Umbra QUIC ÷ Umbra Noise", Stack::Quic, Stack::Noise),
        ("Umbra QUIC ÷ libp2p", Stack::Quic, Stack::Libp2p),
    ] {
        let (one, many) = both(a, b);
        let _ = writeln!(
            out,
            "| {label} (throughput) | {} | {} | |",
            show_ratio(one),
            show_ratio(many)
        );
    }
    for (label, a) in [
        ("Umbra Noise ÷ TCP (RTT p50)", Stack::Noise),
        ("Umbra QUIC ÷ TCP (RTT p50)", Stack::Quic),
        ("libp2p ÷ TCP (RTT p50)", Stack::Libp2p),
    ] {
        let _ = writeln!(
            out,
            "| {label} | {} | | lower is better |",
            show_ratio(ratio(p50(report, a), p50(report, Stack::Tcp)))
        );
    }
    out
}

/// Seconds per GiB from a rate in bytes per second.
fn secs_per_gib(rate: f64) -> Option<f64> {
    (rate > 0.0).then(|| f64::from(1u32 << 30) / rate)
}

/// Where Noise's CPU goes: the in-memory pipe split, the AEAD's share, and TCP.
#[must_use]
pub fn cpu_split_table(report: &Report) -> String {
    let mut out = String::new();
    let Some(Ok(pipe)) = &report.pipe else {
        if let Some(Err(error)) = &report.pipe {
            let _ = writeln!(out, "in-memory pipe: error: {error}");
        }
        return out;
    };
    let aead = report
        .aead
        .as_ref()
        .and_then(|a| a.as_ref().ok())
        .and_then(|a| Some(secs_per_gib(a.seal)? + secs_per_gib(a.open)?));
    let show = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"));
    let cpu = |stack: Stack| figure(report, stack, false).and_then(|f| f.cpu_per_gib);
    let _ = writeln!(out, "| CPU per GiB moved, both ends | s/GiB |");
    let _ = writeln!(out, "|---|---:|");
    let _ = writeln!(
        out,
        "| in-memory pipe, one thread: the harness's writes and reads + the pipe's copy | {:.3} |",
        pipe.plain
    );
    let _ = writeln!(
        out,
        "| Noise over the same pipe, one thread | {:.3} |",
        pipe.noise
    );
    let _ = writeln!(
        out,
        "| → Noise's record layer, both ends (difference) | {:.3} |",
        pipe.noise_layer()
    );
    let _ = writeln!(
        out,
        "| of which the AEAD: seal + open at the single-thread speeds above | {} |",
        show(aead)
    );
    let _ = writeln!(
        out,
        "| → record layer beyond the AEAD (copies, padding, framing, polling) | {} |",
        show(aead.map(|a| pipe.noise_layer() - a))
    );
    let _ = writeln!(
        out,
        "| plain TCP, 1 stream (bulk run above, both ends, kernel included) | {} |",
        show(cpu(Stack::Tcp))
    );
    let _ = writeln!(
        out,
        "| Umbra Noise over TCP, 1 stream (same) | {} |",
        show(cpu(Stack::Noise))
    );
    out
}

/// The handshake table, with monerod's issue-3 figure next to it.
#[must_use]
pub fn handshake_table(report: &Report) -> String {
    let mut out = String::new();
    if report.handshakes.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "| Umbra Noise handshake over loopback TCP | handshakes × rounds | per s (wall) | per CPU-second, both ends | per CPU-second of the listener | connect+handshake p50 / p99, ms | ÷ monerod's {} /s (wall) | other load, cores |",
        grouped(MONEROD_HANDSHAKES_PER_SEC)
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (level, result) in report
        .plan
        .handshake_concurrency
        .iter()
        .zip(&report.handshakes)
    {
        match result {
            Ok(h) => {
                let _ = writeln!(
                    out,
                    "| {level} in flight | {} × {} | {} | {} | {} | {:.2} / {:.2} | {:.2}× | {} |",
                    grouped(f64::from(u32::try_from(h.per_round).unwrap_or(u32::MAX))),
                    h.rounds,
                    grouped(h.wall_rate),
                    h.cpu_rate.map_or_else(|| "—".to_owned(), grouped),
                    h.responder_rate.map_or_else(|| "—".to_owned(), grouped),
                    h.latency_p50.as_secs_f64() * 1e3,
                    h.latency_p99.as_secs_f64() * 1e3,
                    h.wall_rate / MONEROD_HANDSHAKES_PER_SEC,
                    h.others
                        .map_or_else(|| "—".to_owned(), |o| format!("{o:.2}")),
                );
            }
            Err(error) => {
                let _ = writeln!(out, "| {level} in flight | error: {error} | | | | | | |");
            }
        }
    }
    let _ = writeln!(
        out,
        "| monerod plain levin handshake (issue 3: 16 in flight, wall, not re-measured) | 1,000 × 3 | {} | — | — | — | 1.00× | |",
        grouped(MONEROD_HANDSHAKES_PER_SEC)
    );
    out
}

/// The handshake steps without I/O.
#[must_use]
pub fn steps_table(report: &Report) -> String {
    let mut out = String::new();
    match &report.steps {
        None => {}
        Some(Ok(s)) => {
            let _ = writeln!(
                out,
                "| handshake step, sans-IO, one thread (median of {}) | µs |",
                report.plan.step_costs
            );
            let _ = writeln!(out, "|---|---:|");
            for (label, d) in [
                (
                    "initiator: start (ephemeral + Elligator2, es, ss, msg1)",
                    s.initiator_start,
                ),
                (
                    "responder: read msg1 (es, ss, key check, replay filter)",
                    s.responder_read_msg1,
                ),
                (
                    "responder: write msg2 (ephemeral + Elligator2, ee, se, split)",
                    s.responder_write_msg2,
                ),
                (
                    "initiator: read msg2 (ee, se, split)",
                    s.initiator_read_msg2,
                ),
            ] {
                let _ = writeln!(out, "| {label} | {} |", micros(d));
            }
            let total = s.total();
            let per_core = if total.is_zero() {
                f64::NAN
            } else {
                1.0 / total.as_secs_f64()
            };
            let _ = writeln!(
                out,
                "| **total (both ends)** → at most {} handshakes per core-second before any I/O | {} |",
                grouped(per_core),
                micros(total)
            );
        }
        Some(Err(error)) => {
            let _ = writeln!(out, "handshake steps: error: {error}");
        }
    }
    out
}

/// Median and largest background load (cores used by other processes) over every bulk
/// run, if known.
#[must_use]
pub fn bulk_background(report: &Report) -> Option<(f64, f64)> {
    let others: Vec<f64> = report
        .stacks
        .iter()
        .flat_map(|s| [s.one.as_ref().ok(), s.many.as_ref().ok()])
        .flatten()
        .flat_map(|f| f.runs.iter().filter_map(|run| run.others))
        .collect();
    let median = crate::stats::median(&others)?;
    let max = others.iter().copied().fold(f64::NAN, f64::max);
    Some((median, max))
}

/// Every table, with headings.
#[must_use]
pub fn markdown(report: &Report) -> String {
    let plan = &report.plan;
    let mut out = String::new();
    let _ = writeln!(out, "Peers: {}.\n", report.mode);
    let _ = writeln!(
        out,
        "Bulk: {} MiB per run ({} KiB writes, flushed at the end), 1 warm-up + {} runs, median; latency: {} round trips of 1 byte; {:.0} s in all.\n",
        plan.bulk_bytes >> 20,
        crate::WRITE_SIZE / 1024,
        plan.repeats,
        plan.pings,
        report.elapsed.as_secs_f64()
    );
    if let Some((median, max)) = bulk_background(report) {
        let _ = writeln!(
            out,
            "Other processes kept {median:.2} cores busy during the median bulk run ({max:.2} at most).\n"
        );
    }
    let _ = writeln!(out, "{}", transports_table(report));
    let _ = writeln!(out, "{}", ratios_table(report));
    let _ = writeln!(out, "{}", aead_table(report));
    let _ = writeln!(out, "{}", cpu_split_table(report));
    let _ = writeln!(out, "{}", handshake_table(report));
    let _ = writeln!(out, "{}", steps_table(report));
    let errors = report.errors();
    if !errors.is_empty() {
        let _ = writeln!(out, "Errors:\n");
        for error in errors {
            let _ = writeln!(out, "- {error}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0.4), "0");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(1094.0), "1,094");
        assert_eq!(grouped(1_234_567.8), "1,234,568");
        assert_eq!(grouped(-1234.0), "-1,234");
        assert_eq!(grouped(f64::NAN), "—");
    }
}
