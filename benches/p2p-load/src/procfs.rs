//! What a process costs, read from Linux's `/proc`: resident memory and CPU time.

use std::{fs, io, time::Instant};

use serde::Serialize;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`). The kernel reports CPU times
/// in `USER_HZ` units, which is 100 on every architecture Linux runs on today; reading it
/// with `sysconf(_SC_CLK_TCK)` would need `unsafe` for the same number.
pub const CLOCK_TICKS_PER_SEC: u64 = 100;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcSample {
    /// When it was read.
    #[serde(skip)]
    pub at: Instant,
    /// Resident set size (`VmRSS`), KiB: anonymous, file-backed and shared pages.
    pub rss_kib: u64,
    /// Anonymous resident memory (`RssAnon`), KiB: the heap and stacks, without mapped
    /// files such as monerod's LMDB database. `None` on kernels without the field.
    pub rss_anon_kib: Option<u64>,
    /// Threads (`Threads`).
    pub threads: Option<u64>,
    /// User plus system CPU time so far, in clock ticks ([`CLOCK_TICKS_PER_SEC`]).
    pub cpu_ticks: u64,
}

impl ProcSample {
    /// Reads process `pid` now.
    ///
    /// # Errors
    /// The process is gone, or `/proc` is not Linux's.
    pub fn read(pid: u32) -> io::Result<Self> {
        let at = Instant::now();
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let (rss_kib, rss_anon_kib, threads) = parse_status(&status)?;
        Ok(Self {
            at,
            rss_kib,
            rss_anon_kib,
            threads,
            cpu_ticks: parse_stat_cpu_ticks(&stat)?,
        })
    }

    /// Reads this process.
    ///
    /// # Errors
    /// As [`ProcSample::read`].
    pub fn read_self() -> io::Result<Self> {
        Self::read(std::process::id())
    }

    /// CPU used between `earlier` and `self`, in percent of one core.
    #[must_use]
    pub fn cpu_percent_since(&self, earlier: &Self) -> f64 {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        let ticks = self.cpu_ticks.saturating_sub(earlier.cpu_ticks);
        #[allow(clippy::cast_precision_loss)] // tick counts are far below 2^52
        let cpu = ticks as f64 / CLOCK_TICKS_PER_SEC as f64;
        cpu / wall * 100.0
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected /proc format: {what}"),
    )
}

/// `VmRSS`, `RssAnon` and `Threads` from `/proc/<pid>/status`.
fn parse_status(text: &str) -> io::Result<(u64, Option<u64>, Option<u64>)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
    };
    let rss = field("VmRSS").ok_or_else(|| bad("no VmRSS in status (a zombie?)"))?;
    Ok((rss, field("RssAnon"), field("Threads")))
}

/// `utime + stime` from `/proc/<pid>/stat` (fields 14 and 15, counted after the command
/// name in parentheses, which may itself contain spaces and parentheses).
fn parse_stat_cpu_ticks(text: &str) -> io::Result<u64> {
    let (_, rest) = text
        .rsplit_once(')')
        .ok_or_else(|| bad("no command name in stat"))?;
    // `rest` starts at field 3 (the state), so utime (14) and stime (15) are its 12th and
    // 13th fields.
    let mut fields = rest.split_whitespace().skip(11);
    let mut next = || -> io::Result<u64> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad("short stat line"))
    };
    let utime = next()?;
    let stime = next()?;
    Ok(utime.saturating_add(stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let text = "Name:\tmonerod\nThreads:\t17\nVmRSS:\t  123456 kB\nRssAnon:\t  100000 kB\n";
        assert_eq!(
            parse_status(text).ok(),
            Some((123_456, Some(100_000), Some(17)))
        );
        assert!(parse_status("Name:\tzombie\n").is_err());
    }

    #[test]
    fn parses_cpu_ticks_after_an_awkward_command_name() {
        let text = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 5 0 1 2 3";
        assert_eq!(parse_stat_cpu_ticks(text).ok(), Some(281));
    }

    #[test]
    fn reads_this_process() -> io::Result<()> {
        let sample = ProcSample::read_self()?;
        assert!(sample.rss_kib > 0);
        assert!(sample.threads.unwrap_or(0) >= 1);
        Ok(())
    }
}
