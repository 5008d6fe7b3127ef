//! Turns criterion's saved results (`target/criterion/**/new/*.json`) into the markdown
//! table of `docs/benchmarks.md`.
//!
//! Each figure is criterion's *typical* estimate, the one it prints: the slope of the
//! linear regression when it has one, else the mean. Throughput is in decimal units
//! (1 MB/s = 10^6 bytes per second); criterion's own console output uses binary units
//! (MiB/s, GiB/s).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde_json::Value;

use crate::CASES;

/// What can go wrong reading the results.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Benchmark names within each group.
pub const OURS_DECODE: &str = "ours/decode";
/// Our decode with blobs borrowed from the input (`&[u8]` storage).
pub const OURS_DECODE_BORROWED: &str = "ours/decode-borrowed";
/// The monero-epee decode benchmark.
pub const THEIRS_DECODE: &str = "monero-epee/decode";
/// Our encode benchmark.
pub const OURS_ENCODE: &str = "ours/encode";

/// The decode speed our decoder must reach, as a multiple of monero-epee's.
pub const TARGET_RATIO: f64 = 2.0;
/// The decode speed blob-heavy messages must reach, in MB/s.
pub const TARGET_BLOB_MBPS: f64 = 1000.0;

/// One benchmark's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Time per iteration, in nanoseconds (criterion's typical estimate).
    pub ns: f64,
    /// Lower bound of its 95 % confidence interval.
    pub lower_ns: f64,
    /// Upper bound of its 95 % confidence interval.
    pub upper_ns: f64,
    /// Bytes per iteration (the epee body length).
    pub bytes: u64,
}

impl Measurement {
    /// Throughput in MB/s (10^6 bytes per second).
    #[must_use]
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 * 1e3 / self.ns
    }
}

/// Results by group, then by benchmark name.
pub type Results = BTreeMap<String, BTreeMap<String, Measurement>>;

/// The criterion output directory of this workspace: `$CARGO_TARGET_DIR/criterion`, or
/// `target/criterion` at the workspace root.
#[must_use]
pub fn default_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("criterion")
}

/// Reads every `new/benchmark.json` + `new/estimates.json` pair under `dir`.
///
/// # Errors
/// If a directory cannot be listed or a result file cannot be read or parsed.
pub fn load(dir: &Path) -> Result<Results, Error> {
    let mut results = Results::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "benchmark.json")
                && dir.file_name().is_some_and(|n| n == "new")
            {
                let (group, name, measurement) = read_pair(&dir)?;
                results.entry(group).or_default().insert(name, measurement);
            }
        }
    }
    Ok(results)
}

fn read_json(path: &Path) -> Result<Value, Error> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_slice(&text)?)
}

fn read_pair(new_dir: &Path) -> Result<(String, String, Measurement), Error> {
    let id = read_json(&new_dir.join("benchmark.json"))?;
    let estimates = read_json(&new_dir.join("estimates.json"))?;
    let text = |key: &str| id.get(key).and_then(Value::as_str).map(str::to_owned);
    let group = text("group_id").ok_or("benchmark.json without group_id")?;
    let name = match (text("function_id"), text("value_str")) {
        (Some(function), Some(value)) => format!("{function}/{value}"),
        (Some(name), None) | (None, Some(name)) => name,
        (None, None) => String::new(),
    };
    let bytes = id
        .get("throughput")
        .and_then(|t| t.get("Bytes").or_else(|| t.get("BytesDecimal")))
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{group}/{name}: no byte throughput"))?;
    let typical = estimates
        .get("slope")
        .filter(|slope| !slope.is_null())
        .or_else(|| estimates.get("mean"))
        .ok_or_else(|| format!("{group}/{name}: no estimate"))?;
    let number = |value: Option<&Value>| {
        value
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("{group}/{name}: malformed estimates.json"))
    };
    let interval = typical.get("confidence_interval");
    Ok((
        group.clone(),
        name.clone(),
        Measurement {
            ns: number(typical.get("point_estimate"))?,
            lower_ns: number(interval.and_then(|i| i.get("lower_bound")))?,
            upper_ns: number(interval.and_then(|i| i.get("upper_bound")))?,
            bytes,
        },
    ))
}

fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.2} MB", bytes as f64 / 1e6),
    }
}

fn speed(measurement: Option<&Measurement>) -> String {
    measurement.map_or_else(|| "–".to_owned(), |m| format!("{:.0}", m.mb_per_s()))
}

fn time(measurement: Option<&Measurement>) -> String {
    measurement.map_or_else(
        || "–".to_owned(),
        |m| {
            let (scale, unit) = if m.ns >= 1e6 {
                (1e6, "ms")
            } else if m.ns >= 1e3 {
                (1e3, "µs")
            } else {
                (1.0, "ns")
            };
            format!(
                "{:.2} {unit} [{:.2}–{:.2}]",
                m.ns / scale,
                m.lower_ns / scale,
                m.upper_ns / scale
            )
        },
    )
}

/// Group names in report order: [`CASES`] first, then any others alphabetically.
fn ordered(results: &Results) -> Vec<(&str, &str, bool)> {
    let mut groups: Vec<(&str, &str, bool)> = CASES
        .iter()
        .filter(|case| results.contains_key(case.name))
        .map(|case| (case.name, case.title, case.blob_heavy))
        .collect();
    for name in results.keys() {
        if !CASES.iter().any(|case| case.name == name) {
            groups.push((name, name, false));
        }
    }
    groups
}

fn ratio(ours: Option<&Measurement>, theirs: Option<&Measurement>) -> Option<f64> {
    Some(theirs?.ns / ours?.ns)
}

fn times(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
}

/// The markdown tables (throughput, times) and the verdict on the targets.
///
/// The like-for-like comparison is our *borrowed* decode against monero-epee's, which
/// also borrows its blobs from the input; our owned decode (blobs as `Bytes` sharing the
/// buffer, which costs a reference count per blob, but gives values that outlive the
/// buffer and cross threads) is reported beside it.
#[must_use]
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| message | epee body | ours decode, borrowed (MB/s) | ours decode, owned (MB/s) | monero-epee decode (MB/s) | borrowed ÷ monero-epee | owned ÷ monero-epee | ours encode (MB/s) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for (name, title, blob_heavy) in ordered(results) {
        let Some(group) = results.get(name) else {
            continue;
        };
        let owned = group.get(OURS_DECODE);
        let borrowed = group.get(OURS_DECODE_BORROWED);
        let theirs = group.get(THEIRS_DECODE);
        let encode = group.get(OURS_ENCODE);
        let bytes = owned
            .or(borrowed)
            .or(theirs)
            .or(encode)
            .map_or(0, |m| m.bytes);
        let like_for_like = ratio(borrowed, theirs);
        let _ = writeln!(
            out,
            "| {title} | {} | {} | {} | {} | {} | {} | {} |",
            size(bytes),
            speed(borrowed),
            speed(owned),
            speed(theirs),
            times(like_for_like),
            times(ratio(owned, theirs)),
            speed(encode),
        );
        if let Some(ratio) = like_for_like {
            let met = if ratio >= TARGET_RATIO {
                "met"
            } else {
                "NOT met"
            };
            verdicts.push(format!(
                "- {title}: decode ≥ {TARGET_RATIO}× monero-epee (borrowed vs borrowed): **{met}** ({ratio:.2}×)"
            ));
        }
        if blob_heavy {
            for (label, measurement) in [("borrowed", borrowed), ("owned", owned)] {
                if let Some(m) = measurement {
                    let mbps = m.mb_per_s();
                    let met = if mbps >= TARGET_BLOB_MBPS {
                        "met"
                    } else {
                        "NOT met"
                    };
                    verdicts.push(format!(
                        "- {title}: blob-heavy decode ≥ {TARGET_BLOB_MBPS:.0} MB/s ({label}): **{met}** ({mbps:.0} MB/s)"
                    ));
                }
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Time per message (criterion's estimate [95 % confidence interval]):"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| message | ours decode, borrowed | ours decode, owned | monero-epee decode | ours encode |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (name, title, _) in ordered(results) {
        if let Some(group) = results.get(name) {
            let _ = writeln!(
                out,
                "| {title} | {} | {} | {} | {} |",
                time(group.get(OURS_DECODE_BORROWED)),
                time(group.get(OURS_DECODE)),
                time(group.get(THEIRS_DECODE)),
                time(group.get(OURS_ENCODE)),
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Targets:");
    let _ = writeln!(out);
    for verdict in verdicts {
        let _ = writeln!(out, "{verdict}");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn throughput_ratio_and_verdicts() {
        let m = |ns: f64| Measurement {
            ns,
            lower_ns: ns * 0.9,
            upper_ns: ns * 1.1,
            bytes: 1_000_000,
        };
        let mut results = Results::new();
        let group = results.entry("chain_response_10k".to_owned()).or_default();
        group.insert(OURS_DECODE_BORROWED.to_owned(), m(500_000.0));
        group.insert(OURS_DECODE.to_owned(), m(1_000_000.0));
        group.insert(THEIRS_DECODE.to_owned(), m(1_500_000.0));
        group.insert(OURS_ENCODE.to_owned(), m(250_000.0));
        assert!((m(500_000.0).mb_per_s() - 2000.0).abs() < 1e-9);
        let table = markdown(&results);
        assert!(
            table.contains("| 1.00 MB | 2000 | 1000 | 667 | 3.00× | 1.50× | 4000 |"),
            "{table}"
        );
        assert!(
            table.contains("(borrowed vs borrowed): **met** (3.00×)"),
            "{table}"
        );
        assert!(
            table.contains("1000 MB/s (borrowed): **met** (2000 MB/s)"),
            "{table}"
        );
        assert!(
            table.contains("1000 MB/s (owned): **met** (1000 MB/s)"),
            "{table}"
        );
    }
}
