//! What the figures were measured on.

use std::{
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

use umbra_test_kit::tor_net::{DEFAULT_TOR_PATH, TOR_ENV};

/// The arti-client version the embedded client is built with (the workspace's
/// `arti-client = "0.47"`).
pub const ARTI_CLIENT_VERSION: &str = "0.47";

/// The machine and the software under test.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// Logical cores (`available_parallelism`).
    pub cores: usize,
    /// The CPU's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// First line of `tor --version` (the tor the network runs).
    pub tor: String,
    /// The load averages over 1, 5, 15 minutes when probed (`/proc/loadavg`).
    pub load: String,
    /// UTC date and time when probed, `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
}

impl Machine {
    /// Reads it all now; anything unreadable is `"?"`.
    #[must_use]
    pub fn probe() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "?".to_owned());
        let tor_path = std::env::var_os(TOR_ENV).unwrap_or_else(|| DEFAULT_TOR_PATH.into());
        let tor = Command::new(tor_path)
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .map(|l| l.trim().trim_end_matches('.').to_owned())
            })
            .unwrap_or_else(|| "?".to_owned());
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu,
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            tor,
            load: load_average(),
            date: utc_now(),
        }
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned())
}

/// The whole machine's CPU time so far, from the first line of `/proc/stat`, in clock
/// ticks: (busy, total), busy being everything but idle and I/O wait.
#[must_use]
pub fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let fields: Vec<u64> = line
        .split_whitespace()
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total - idle, total))
}

/// How many cores were busy on average between two [`cpu_ticks`] readings.
#[must_use]
pub fn cores_busy(before: (u64, u64), after: (u64, u64), cores: usize) -> Option<f64> {
    let busy = after.0.checked_sub(before.0)?;
    let total = after.1.checked_sub(before.1)?;
    if total == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // tick counts and core counts are small
    Some(busy as f64 / total as f64 * cores as f64)
}

/// CPU time used so far by the processes `pids` plus this process (all its threads), in
/// clock ticks (`USER_HZ`, 100 per second on Linux), from `/proc/<pid>/stat`; processes that
/// are gone count nothing.
#[must_use]
pub fn process_ticks(pids: &[u32]) -> u64 {
    let of = |path: String| -> Option<u64> {
        let stat = std::fs::read_to_string(path).ok()?;
        // The command name (field 2) may hold spaces: count fields after its ')'.
        let (_, rest) = stat.rsplit_once(')')?;
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(utime + stime)
    };
    let others: u64 = pids
        .iter()
        .filter_map(|pid| of(format!("/proc/{pid}/stat")))
        .sum();
    others + of("/proc/self/stat".to_owned()).unwrap_or(0)
}

/// `USER_HZ`: the clock ticks per second of `/proc/*/stat` on Linux.
pub const USER_HZ: f64 = 100.0;

/// The three load averages from `/proc/loadavg`, e.g. `0.52 0.61 0.90`.
#[must_use]
pub fn load_average() -> String {
    let all = read_trimmed("/proc/loadavg");
    all.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
#[must_use]
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`, for non-negative day counts).
const fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_413), (2025, 11, 21));
    }
}
