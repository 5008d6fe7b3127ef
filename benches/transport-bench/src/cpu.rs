//! The CPU time this process has used (user + system, every thread), from
//! `/proc/self/stat`, and how busy the machine's other processes kept the cores, from
//! `/proc/stat`.

use std::{
    fs, io,
    time::{Duration, Instant},
};

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`): 100 on every architecture
/// Linux runs on today (reading `sysconf(_SC_CLK_TCK)` would need `unsafe` for the same
/// number). CPU times are therefore good to 10 ms; every measured run is far longer.
pub const CLOCK_TICKS_PER_SEC: u64 = 100;

/// User plus system CPU time of this process so far.
///
/// # Errors
/// `/proc` is missing or not Linux's.
pub fn process_cpu() -> io::Result<Duration> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    let ticks = parse_stat_cpu_ticks(&stat)?;
    Ok(Duration::from_millis(ticks * 1000 / CLOCK_TICKS_PER_SEC))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name
/// (field 2) is in parentheses and may contain spaces, so fields are counted after the
/// last `)`.
fn parse_stat_cpu_ticks(stat: &str) -> io::Result<u64> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/self/stat");
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(bad)?;
    // After the name: field 3 (state) is the first; utime is field 14, stime 15.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let stime: u64 = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    Ok(utime + stime)
}

/// The time a thread has run on a CPU, in nanoseconds: the first field of its
/// `/proc/.../schedstat` (the scheduler's `sum_exec_runtime`, user and system time
/// together, kept with nanosecond precision).
fn parse_schedstat(text: &str) -> io::Result<Duration> {
    text.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .map(Duration::from_nanos)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected schedstat"))
}

/// CPU time of the calling thread so far (nanosecond precision).
///
/// # Errors
/// `/proc` is missing or not Linux's.
pub fn thread_cpu() -> io::Result<Duration> {
    parse_schedstat(&fs::read_to_string("/proc/thread-self/schedstat")?)
}

/// CPU time of this process's threads named `name` (as in `/proc/self/task/<tid>/comm`),
/// together (nanosecond precision).
///
/// # Errors
/// `/proc` is missing or not Linux's.
pub fn threads_cpu(name: &str) -> io::Result<Duration> {
    let mut total = Duration::ZERO;
    for task in fs::read_dir("/proc/self/task")? {
        let path = task?.path();
        // A thread may end between listing and reading: skip it.
        let Ok(comm) = fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim_end() != name {
            continue;
        }
        let Ok(stat) = fs::read_to_string(path.join("schedstat")) else {
            continue;
        };
        total += parse_schedstat(&stat)?;
    }
    Ok(total)
}

/// CPU time of the threads of one name across a section (each peer's runtime threads
/// carry their own name).
#[derive(Debug, Clone, Copy)]
pub struct ThreadsClock {
    name: &'static str,
    start: Option<Duration>,
}

impl ThreadsClock {
    /// Starts counting the threads named `name`.
    #[must_use]
    pub fn start(name: &'static str) -> Self {
        Self {
            name,
            start: threads_cpu(name).ok(),
        }
    }

    /// Their CPU time since [`ThreadsClock::start`] (threads that ended meanwhile are
    /// not counted; the runtimes' workers never end during a run).
    #[must_use]
    pub fn elapsed(&self) -> Option<Duration> {
        Some(threads_cpu(self.name).ok()?.saturating_sub(self.start?))
    }
}

/// Busy and total ticks of every core together, from the first line of `/proc/stat`
/// (busy: user, nice, system, irq, softirq and steal, which counts time the hypervisor
/// gave to other guests).
fn system_ticks() -> io::Result<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat")?;
    parse_system_ticks(&stat)
}

fn parse_system_ticks(stat: &str) -> io::Result<(u64, u64)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/stat");
    let line = stat.lines().next().ok_or_else(bad)?;
    let mut fields = line.split_whitespace();
    if fields.next() != Some("cpu") {
        return Err(bad());
    }
    let values: Vec<u64> = fields.take(8).map(|f| f.parse().unwrap_or(0)).collect();
    let &[user, nice, system, idle, iowait, irq, softirq, steal] = values.as_slice() else {
        return Err(bad());
    };
    let busy = user + nice + system + irq + softirq + steal;
    Ok((busy, busy + idle + iowait))
}

/// How many cores' worth of CPU other processes (and other guests, through steal time)
/// used over a section: the machine's busy time minus this process's, per second of wall
/// time.
#[derive(Debug, Clone, Copy)]
pub struct LoadClock {
    started: Instant,
    system_busy: Option<u64>,
    process: Option<Duration>,
}

impl LoadClock {
    /// Starts counting.
    #[must_use]
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            system_busy: system_ticks().ok().map(|(busy, _)| busy),
            process: process_cpu().ok(),
        }
    }

    /// Cores used by everything but this process since [`LoadClock::start`], if `/proc`
    /// could be read.
    #[must_use]
    pub fn others(&self) -> Option<f64> {
        let wall = self.started.elapsed().as_secs_f64();
        let busy = system_ticks().ok()?.0.checked_sub(self.system_busy?)?;
        let ours = process_cpu().ok()?.checked_sub(self.process?)?;
        if wall <= 0.0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // tick counts are far below 2^52
        let busy = busy as f64 / CLOCK_TICKS_PER_SEC as f64;
        Some(((busy - ours.as_secs_f64()) / wall).max(0.0))
    }
}

/// Measures CPU time across a section: `start` now, [`CpuClock::elapsed`] after.
#[derive(Debug, Clone, Copy)]
pub struct CpuClock {
    start: Option<Duration>,
}

impl CpuClock {
    /// Starts counting (if `/proc` cannot be read, every reading is `None`).
    #[must_use]
    pub fn start() -> Self {
        Self {
            start: process_cpu().ok(),
        }
    }

    /// CPU time used since [`CpuClock::start`].
    #[must_use]
    pub fn elapsed(&self) -> Option<Duration> {
        let now = process_cpu().ok()?;
        Some(now.saturating_sub(self.start?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line() {
        let line = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 17 0 0 20 0 \
                    3 0 5000 10000 200 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(line).unwrap(), 267);
        assert!(parse_stat_cpu_ticks("garbage").is_err());
        assert!(process_cpu().is_ok());
        let stat = "cpu  100 2 30 1000 4 0 5 6 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(parse_system_ticks(stat).unwrap(), (143, 1147));
        assert!(parse_system_ticks("intr 1 2 3").is_err());
        assert!(system_ticks().is_ok());
        assert!(threads_cpu("no-such-thread").unwrap().is_zero());
        assert_eq!(
            parse_schedstat("326744979 38251074 133\n").unwrap(),
            Duration::from_nanos(326_744_979)
        );
        assert!(parse_schedstat("").is_err());
        // The counter moves at scheduler ticks: spin (bounded) until it does.
        let before = thread_cpu().unwrap();
        let started = Instant::now();
        let mut x = 0u64;
        while thread_cpu().unwrap() == before && started.elapsed() < Duration::from_secs(5) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu().unwrap() > before);
    }
}
