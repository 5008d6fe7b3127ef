//! Markdown tables of [`LoadReport`]s: the steps of one run, and the side-by-side
//! comparison umbrad vs monerod with ratios.

use std::fmt::Write as _;

use crate::{BurstReport, LoadReport, ProcSample, StopKind};

/// One column of the comparison: a target's name and its report, or why there is none.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    /// The target's name (`monerod`, `umbrad`).
    pub name: &'a str,
    /// Its report, or why it was not measured.
    pub result: Result<&'a LoadReport, &'a str>,
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v:.decimals$}"))
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b.abs() > f64::EPSILON => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

/// The per-step table of one run.
#[must_use]
pub fn steps_table(report: &LoadReport) -> String {
    let mut out = String::new();
    out.push_str(
        "| connections | new | ok | failed | handshakes/s | p50 / p99 ms | CPU % target / client \
         | alive after hold | target RSS MiB | RSS/conn KiB | RssAnon/conn KiB | client RSS MiB |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for step in &report.steps {
        let failed: usize = step.failures.values().sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} | {:.1} / {:.1} | {} / {} | {} / {} | {} | {} | {} | {} |",
            step.planned,
            step.attempted,
            step.succeeded,
            failed,
            step.handshakes_per_sec,
            step.latency.p50_ms,
            step.latency.p99_ms,
            opt(step.target_cpu_percent_opening, 0),
            opt(step.client_cpu_percent_opening, 0),
            step.alive_after_hold,
            step.expected_alive,
            opt(step.target.map(|t| mib(t.rss_kib)), 1),
            opt(step.rss_per_conn_bytes.map(|b| b / 1024.0), 2),
            opt(step.rss_anon_per_conn_bytes.map(|b| b / 1024.0), 2),
            opt(step.client_rss_kib.map(mib), 1),
        );
    }
    out
}

/// A few lines on one run: the probe, the baseline, the idle window, why it stopped, the
/// failures.
#[must_use]
pub fn summary(report: &LoadReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "- target {} (pid {}), {} handshakes in flight, {} connection(s) per source address; \
         probe handshake {:.1} ms; chain claimed: height {}, top version {}",
        report.target,
        report
            .target_pid
            .map_or_else(|| "not measured".into(), |p| p.to_string()),
        report.concurrency,
        report.per_ip,
        report.probe_ms,
        report.chain_height,
        report.chain_top_version,
    );
    if let Some(burst) = &report.burst {
        let rates: Vec<String> = burst
            .rounds
            .iter()
            .map(|r| format!("{:.0}", r.handshakes_per_sec))
            .collect();
        let _ = writeln!(
            out,
            "- handshake burst: {} rounds × {} handshakes, {} in flight, each connection \
             closed after its handshake: {} /s (median {:.0} /s)",
            burst.rounds.len(),
            burst.handshakes,
            burst.concurrency,
            rates.join(", "),
            burst.median_handshakes_per_sec,
        );
        for (i, round) in burst.rounds.iter().enumerate() {
            let failed: usize = round.failures.values().sum();
            let _ = writeln!(
                out,
                "  - round {}: {} ok, {failed} failed in {:.2} s; latency p50 / p99 {:.1} / \
                 {:.1} ms; CPU target {} %, client {} %{}",
                i + 1,
                round.succeeded,
                round.secs,
                round.latency.p50_ms,
                round.latency.p99_ms,
                opt(round.target_cpu_percent, 0),
                opt(round.client_cpu_percent, 0),
                if round.failures.is_empty() {
                    String::new()
                } else {
                    format!("; failures: {:?}", round.failures)
                },
            );
        }
    }
    if let Some(base) = report.baseline {
        let _ = writeln!(out, "- baseline: {}", describe(&base));
    }
    if let Some(idle) = &report.idle {
        let _ = writeln!(
            out,
            "- idle window: {} connections for {:.1} s{}: target CPU {} % of one core, client \
             CPU {} %; alive at end {} (min {}); RSS/conn {} KiB (RssAnon {} KiB); answered \
             {} timed syncs, {} pings, {} support-flags requests; {} notifications; {} closed \
             by the target, {} errors",
            idle.connections,
            idle.window_secs,
            if idle.shortened {
                " (shortened by the time budget)"
            } else {
                ""
            },
            opt(idle.target_cpu_percent, 2),
            opt(idle.client_cpu_percent, 2),
            idle.alive_at_end,
            idle.min_alive,
            opt(idle.rss_per_conn_bytes.map(|b| b / 1024.0), 2),
            opt(idle.rss_anon_per_conn_bytes.map(|b| b / 1024.0), 2),
            idle.activity.timed_syncs,
            idle.activity.pings,
            idle.activity.support_flags,
            idle.activity.notifications,
            idle.activity.closed_by_target,
            idle.activity.errors,
        );
    }
    let _ = writeln!(
        out,
        "- largest clean step: {} (peak {} open at once); {}",
        report.largest_clean,
        report.peak_alive,
        report
            .stop_reason
            .as_deref()
            .map_or_else(|| "every step ran".into(), |r| format!("stopped: {r}")),
    );
    let mut failures: Vec<(String, usize)> = Vec::new();
    for step in &report.steps {
        for (key, count) in &step.failures {
            failures.push((format!("step {}: {key}", step.planned), *count));
        }
    }
    for (key, count) in failures {
        let _ = writeln!(out, "- failed handshakes, {key}: {count}");
    }
    if report.target_exited {
        out.push_str("- **the target process exited during the run**\n");
    }
    out
}

fn describe(sample: &ProcSample) -> String {
    format!(
        "RSS {:.1} MiB (RssAnon {}), {} threads",
        mib(sample.rss_kib),
        sample
            .rss_anon_kib
            .map_or_else(|| "—".into(), |k| format!("{:.1} MiB", mib(k))),
        sample.threads.map_or_else(|| "?".into(), |t| t.to_string()),
    )
}

/// One row of the comparison: a label, each column's value (number for the ratio, text to
/// show), and the goal.
struct Row {
    label: String,
    cells: [(Option<f64>, String); 2],
    goal: &'static str,
    ratio: bool,
}

/// The comparison table: umbrad and monerod side by side with umbrad ÷ monerod, for the
/// first step (handshakes/s, memory), `idle_at` (memory, idle CPU) and the largest N.
/// Column order is `[monerod, umbrad]`; the ratio is second ÷ first.
#[must_use]
pub fn comparison_table(columns: [Column<'_>; 2], first_step: usize, idle_at: usize) -> String {
    let get = |f: &dyn Fn(&LoadReport) -> (Option<f64>, String)| {
        columns.map(|c| match c.result {
            Ok(report) => f(report),
            Err(_) => (None, "—".into()),
        })
    };
    let concurrency = columns
        .iter()
        .find_map(|c| c.result.ok().map(|r| r.concurrency))
        .unwrap_or(0);
    let idle_label = columns
        .iter()
        .find_map(|c| {
            let idle = c.result.ok()?.idle.as_ref()?;
            Some(format!(
                "{} connections, {:.0} s window",
                idle.connections, idle.window_secs
            ))
        })
        .unwrap_or_else(|| format!("{idle_at} connections"));
    let kib = |b: Option<f64>| {
        let k = b.map(|b| b / 1024.0);
        (k, opt(k, 2))
    };
    let burst_label = columns
        .iter()
        .find_map(|c| {
            let burst = c.result.ok()?.burst.as_ref()?;
            Some(format!(
                "median of {} rounds × {}, {} in flight, closed after each",
                burst.rounds.len(),
                burst.handshakes,
                burst.concurrency
            ))
        })
        .unwrap_or_else(|| "no burst".into());
    let rows = [
        Row {
            label: format!("handshakes/s, burst ({burst_label})"),
            cells: get(&|r| {
                let v = r.burst.as_ref().map(|b| b.median_handshakes_per_sec);
                let clean = r.burst.as_ref().is_none_or(BurstReport::clean);
                (
                    v,
                    format!("{}{}", opt(v, 0), if clean { "" } else { " (failures)" }),
                )
            }),
            goal: "≥ 5× (higher is better)",
            ratio: true,
        },
        Row {
            label: format!(
                "handshakes/s opening the first {first_step} idle connections ({concurrency} in \
                 flight)"
            ),
            cells: get(&|r| {
                let v = r.step(first_step).map(|s| s.handshakes_per_sec);
                (v, opt(v, 0))
            }),
            goal: "higher is better",
            ratio: true,
        },
        Row {
            label: format!("handshake latency p50 / p99, ms (0 → {first_step})"),
            cells: get(&|r| {
                let s = r.step(first_step);
                (
                    s.map(|s| s.latency.p50_ms),
                    s.map_or_else(
                        || "—".into(),
                        |s| format!("{:.1} / {:.1}", s.latency.p50_ms, s.latency.p99_ms),
                    ),
                )
            }),
            goal: "lower is better (ratio of p50)",
            ratio: true,
        },
        Row {
            label: format!("RSS per connection at {first_step}, KiB"),
            cells: get(&|r| kib(r.step(first_step).and_then(|s| s.rss_per_conn_bytes))),
            goal: "lower is better",
            ratio: true,
        },
        Row {
            label: format!("RSS per idle connection, KiB ({idle_label})"),
            cells: get(&|r| kib(r.idle.as_ref().and_then(|i| i.rss_per_conn_bytes))),
            goal: "≤ 32 KiB at 10,000",
            ratio: true,
        },
        Row {
            label: format!("RssAnon per idle connection, KiB ({idle_label})"),
            cells: get(&|r| kib(r.idle.as_ref().and_then(|i| i.rss_anon_per_conn_bytes))),
            goal: "lower is better (heap only)",
            ratio: true,
        },
        Row {
            label: format!("idle CPU, % of one core ({idle_label})"),
            cells: get(&|r| {
                let v = r.idle.as_ref().and_then(|i| i.target_cpu_percent);
                (v, opt(v, 2))
            }),
            goal: "lower is better",
            ratio: true,
        },
        Row {
            label: "connections alive at the end of the idle window".into(),
            cells: get(&|r| match &r.idle {
                #[allow(clippy::cast_precision_loss)]
                Some(i) => (
                    Some(i.alive_at_end as f64),
                    format!("{} / {}", i.alive_at_end, i.connections),
                ),
                None => (None, "—".into()),
            }),
            goal: "all",
            ratio: false,
        },
        Row {
            label: "largest N handled (clean step)".into(),
            cells: get(&|r| {
                #[allow(clippy::cast_precision_loss)]
                let v = r.largest_clean as f64;
                let tried = r.steps.last().map_or(0, |s| s.planned);
                let text = match r.stop_kind {
                    Some(StopKind::TimeBudget) => {
                        format!("≥ {} (time budget; tried up to {tried})", r.largest_clean)
                    }
                    Some(StopKind::FdLimit) => {
                        format!("≥ {} (fd limit; tried up to {tried})", r.largest_clean)
                    }
                    Some(_) => format!("{} (failed at {tried})", r.largest_clean),
                    None => format!("≥ {} (every step passed)", r.largest_clean),
                };
                (Some(v), text)
            }),
            goal: "higher is better",
            ratio: true,
        },
        Row {
            label: "RSS before any load connection, MiB".into(),
            cells: get(&|r| {
                let v = r.baseline.map(|b| mib(b.rss_kib));
                (v, opt(v, 1))
            }),
            goal: "",
            ratio: true,
        },
    ];
    let [first, second] = columns;
    let mut out = format!(
        "| figure | {} | {} | {} ÷ {} | goal |\n|---|---:|---:|---:|---|\n",
        first.name, second.name, second.name, first.name
    );
    for row in rows {
        let [(a, a_text), (b, b_text)] = row.cells;
        let r = if row.ratio { ratio(b, a) } else { "—".into() };
        let _ = writeln!(
            out,
            "| {} | {a_text} | {b_text} | {r} | {} |",
            row.label, row.goal
        );
    }
    for column in columns {
        if let Err(why) = column.result {
            let _ = writeln!(out, "\n{}: not measured: {why}", column.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_of_missing_or_zero_is_a_dash() {
        assert_eq!(ratio(Some(10.0), Some(2.0)), "5.00×");
        assert_eq!(ratio(None, Some(2.0)), "—");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "—");
    }
}
