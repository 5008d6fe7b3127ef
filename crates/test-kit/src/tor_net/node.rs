//! One tor child process: spawned with its own torrc and log, watched through its log, and
//! always stopped (`SIGTERM`, wait, `SIGKILL`, reap) when dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::TorNetError;
use crate::process;

/// Name of the file, in each node's data dir, that receives tor's stdout and stderr (its
/// notice-level log: every torrc says `Log notice stdout`).
pub const TOR_LOG_FILE_NAME: &str = "tor.log";

/// Name of each node's torrc, in its data dir.
pub const TORRC_FILE_NAME: &str = "torrc";

/// What tor logs when a port it was told to listen on is taken.
pub(super) const BIND_FAILURE_MARKER: &str = "Address already in use";

/// Pause between checks while waiting for a process to exit.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// Bytes read from the end of a log for its tail, and from the start for searches.
const LOG_READ_LIMIT: u64 = 1024 * 1024;

/// A running tor (relay, authority or client), stopped when dropped.
#[derive(Debug)]
pub(super) struct TorProcess {
    name: String,
    /// `None` once the child has been reaped.
    child: Option<Child>,
    pid: u32,
    data_dir: PathBuf,
    log_path: PathBuf,
    /// Where this start's output begins in the log (a data dir may be reused).
    log_offset: u64,
    stop_timeout: Duration,
}

impl TorProcess {
    /// Writes `torrc` into `data_dir` (created if missing) and starts
    /// `tor --defaults-torrc <defaults> -f <data_dir>/torrc`, output appended to the log.
    ///
    /// The child gets `PR_SET_PDEATHSIG` (see [`crate::process`]); the torrc also names this
    /// process as `__OwningControllerProcess`.
    pub(super) fn spawn(
        tor: &Path,
        defaults_torrc: &Path,
        name: &str,
        data_dir: &Path,
        torrc: &str,
        stop_timeout: Duration,
    ) -> Result<Self, TorNetError> {
        create_private_dir(data_dir)?;
        let torrc_path = data_dir.join(TORRC_FILE_NAME);
        fs::write(&torrc_path, torrc).map_err(|source| TorNetError::WriteFile {
            path: torrc_path.clone(),
            source,
        })?;
        let log_path = data_dir.join(TOR_LOG_FILE_NAME);
        let log_err = |source| TorNetError::WriteFile {
            path: log_path.clone(),
            source,
        };
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(log_err)?;
        let log_offset = log.seek(SeekFrom::End(0)).map_err(log_err)?;
        writeln!(
            log,
            "=== umbra-test-kit: {} --defaults-torrc {} -f {}",
            tor.display(),
            defaults_torrc.display(),
            torrc_path.display()
        )
        .map_err(log_err)?;
        let stderr = log.try_clone().map_err(log_err)?;
        let mut command = Command::new(tor);
        command
            .arg("--defaults-torrc")
            .arg(defaults_torrc)
            .arg("-f")
            .arg(&torrc_path)
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        let child = process::spawn(command).map_err(|source| TorNetError::Spawn {
            binary: tor.to_path_buf(),
            source,
        })?;
        let pid = child.id();
        tracing::debug!(pid, node = name, data_dir = %data_dir.display(), "tor spawned");
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            pid,
            data_dir: data_dir.to_path_buf(),
            log_path,
            log_offset,
            stop_timeout,
        })
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    pub(super) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub(super) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The exit status if the child has exited (and reaps it); `Ok(None)` while it runs or
    /// once it has been reaped earlier.
    pub(super) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let status = child.try_wait()?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }

    /// Whether the child is still running (reaps it if it has exited).
    pub(super) fn is_running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None)) && self.child.is_some()
    }

    /// `Ok` while the child runs; otherwise the error a start-up reports (with the log tail,
    /// and whether tor could not bind a port).
    pub(super) fn check_running(&mut self) -> Result<(), TorNetError> {
        let status = match self.try_wait() {
            Ok(Some(status)) => status,
            Ok(None) if self.child.is_some() => return Ok(()),
            Ok(None) => {
                return Err(TorNetError::Process {
                    node: self.name.clone(),
                    pid: self.pid,
                    source: io::Error::other("the process was already stopped"),
                });
            }
            Err(source) => {
                return Err(TorNetError::Process {
                    node: self.name.clone(),
                    pid: self.pid,
                    source,
                });
            }
        };
        Err(TorNetError::Exited {
            node: self.name.clone(),
            status,
            port_taken: self.log_since_start().contains(BIND_FAILURE_MARKER),
            log: self.log_path.clone(),
            log_tail: self.log_tail(super::LOG_TAIL_LINES),
        })
    }

    /// This start's part of the log (at most 1 MiB); empty if it cannot be read.
    pub(super) fn log_since_start(&self) -> String {
        read_from(&self.log_path, self.log_offset).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub(super) fn log_tail(&self, lines: usize) -> String {
        read_tail(&self.log_path, lines).unwrap_or_else(|error| {
            format!("(could not read {}: {error})", self.log_path.display())
        })
    }

    /// Sends `SIGTERM` unless the child has exited (it is reaped then).
    pub(super) fn signal_terminate(&mut self) {
        if matches!(self.try_wait(), Ok(None))
            && self.child.is_some()
            && let Err(error) = process::terminate(self.pid)
        {
            tracing::warn!(pid = self.pid, node = %self.name, %error, "could not send SIGTERM to tor");
        }
    }

    /// Sends `SIGHUP` (tor reloads its torrc, resets its download back-off and fetches a
    /// consensus at once if it has none) unless the child has exited.
    ///
    /// Sent with `kill -s HUP <pid>` rather than `libc::kill`, so that [`crate::process`]
    /// stays the crate's only `unsafe` module; the pid is that of our unreaped child.
    pub(super) fn reload(&mut self) {
        if !self.is_running() {
            return;
        }
        let status = Command::new("kill")
            .arg("-s")
            .arg("HUP")
            .arg(self.pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(status) if status.success() => {
                tracing::debug!(pid = self.pid, node = %self.name, "sent SIGHUP to tor");
            }
            Ok(status) => {
                tracing::warn!(pid = self.pid, node = %self.name, %status, "kill -s HUP failed");
            }
            Err(error) => {
                tracing::warn!(pid = self.pid, node = %self.name, %error, "could not run kill -s HUP");
            }
        }
    }

    /// Waits until the child has exited or `deadline` passes; `SIGKILL`s it then. Reaps it
    /// either way. `Ok(None)` if it had already been reaped.
    pub(super) fn finish_stop(&mut self, deadline: Instant) -> io::Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Ok(Some(status));
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(EXIT_POLL),
                Ok(None) => {
                    tracing::warn!(pid = self.pid, node = %self.name, "tor ignored SIGTERM; killing it");
                    break;
                }
                Err(error) => {
                    tracing::warn!(pid = self.pid, node = %self.name, %error, "could not poll tor; killing it");
                    break;
                }
            }
        }
        self.kill()
    }

    /// Stops the child: `SIGTERM`, up to the stop timeout, then `SIGKILL`; reaps it.
    pub(super) fn stop(&mut self) -> io::Result<Option<ExitStatus>> {
        self.signal_terminate();
        self.finish_stop(Instant::now() + self.stop_timeout)
    }

    /// Kills the child at once (`SIGKILL`, no chance to clean up) and reaps it. `Ok(None)` if
    /// it had already been reaped.
    pub(super) fn kill(&mut self) -> io::Result<Option<ExitStatus>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        // `Child::kill` signals this child only (by its pid, which cannot have been reused
        // since it is not reaped yet), and is a no-op once it has exited.
        child.kill()?;
        child.wait().map(Some)
    }

    pub(super) fn stop_timeout(&self) -> Duration {
        self.stop_timeout
    }
}

impl Drop for TorProcess {
    fn drop(&mut self) {
        let pid = self.pid;
        match self.stop() {
            Ok(Some(status)) => tracing::debug!(pid, node = %self.name, %status, "tor stopped"),
            Ok(None) => {}
            Err(error) => tracing::error!(pid, node = %self.name, %error, "could not stop tor"),
        }
    }
}

/// Stops several tors at once: `SIGTERM` to all, then one shared grace period (the longest
/// stop timeout among them), then `SIGKILL` for any left; all are reaped.
pub(super) fn stop_all<'a>(processes: impl IntoIterator<Item = &'a mut TorProcess>) {
    let mut processes: Vec<&mut TorProcess> = processes.into_iter().collect();
    let grace = processes
        .iter()
        .map(|p| p.stop_timeout())
        .max()
        .unwrap_or_default();
    for process in &mut processes {
        process.signal_terminate();
    }
    let deadline = Instant::now() + grace;
    for process in processes {
        let (pid, name) = (process.pid(), process.name().to_owned());
        match process.finish_stop(deadline) {
            Ok(Some(status)) => tracing::debug!(pid, node = %name, %status, "tor stopped"),
            Ok(None) => {}
            Err(error) => tracing::error!(pid, node = %name, %error, "could not stop tor"),
        }
    }
}

/// Creates `dir` (and its parents) with mode 0700, as tor wants for a data dir.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), TorNetError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| TorNetError::DataDir {
            path: dir.to_path_buf(),
            source,
        })
}

/// Up to 1 MiB of `path` from `offset`, as text.
pub(super) fn read_from(path: &Path, offset: u64) -> io::Result<String> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(LOG_READ_LIMIT).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last `lines` lines of `path`.
pub(super) fn read_tail(path: &Path, lines: usize) -> io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_READ_LIMIT)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    Ok(all.get(start..).unwrap_or_default().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_takes_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "a\nb\nc\n").unwrap();
        assert_eq!(read_tail(&path, 2).unwrap(), "b\nc");
        assert_eq!(read_tail(&path, 9).unwrap(), "a\nb\nc");
        assert_eq!(read_from(&path, 2).unwrap(), "b\nc\n");
    }

    #[test]
    fn private_dir_is_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("x/y");
        create_private_dir(&sub).unwrap();
        let mode = fs::metadata(&sub).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
