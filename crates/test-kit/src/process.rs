//! The few operating-system calls the kit needs: spawning a child that dies with the test
//! process, sending signals to that child by its pid, and locking a file (`flock`).
//!
//! This is the only module of the crate that uses `unsafe`; every block says why it is sound.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, ExitStatus};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Owns a spawned child process and stops it ([`stop_child`]) when dropped.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    /// `None` once the child has been reaped.
    child: Option<Child>,
    /// Its pid (kept after reaping, for logs).
    pub(crate) pid: u32,
    /// Its name in log lines.
    name: &'static str,
    /// How long it may take to exit after `SIGTERM`.
    pub(crate) stop_timeout: Duration,
}

impl ChildGuard {
    /// Takes ownership of `child`, named `name` in log lines.
    pub(crate) fn new(child: Child, name: &'static str, stop_timeout: Duration) -> Self {
        Self {
            pid: child.id(),
            child: Some(child),
            name,
            stop_timeout,
        }
    }

    /// Whether the child has not been reaped yet.
    pub(crate) fn is_held(&self) -> bool {
        self.child.is_some()
    }

    /// The exit status if the child has exited (and reaps it).
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let status = child.try_wait()?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }

    /// Stops the child: `SIGTERM`, up to `stop_timeout` for it to exit, then `SIGKILL`; reaps
    /// it either way. `Ok(None)` when it had already been reaped.
    pub(crate) fn stop(&mut self) -> io::Result<Option<ExitStatus>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        stop_child(&mut child, self.name, self.stop_timeout).map(Some)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let (pid, name) = (self.pid, self.name);
        match self.stop() {
            Ok(Some(status)) => tracing::debug!(pid, %status, "{name} stopped"),
            Ok(None) => {}
            Err(error) => tracing::error!(pid, %error, "could not stop {name}"),
        }
    }
}

/// How often [`stop_child`] checks whether the child has exited.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Stops `child` (named `name` in log lines): `SIGTERM`, up to `grace` to exit, then
/// `SIGKILL`; reaps it and returns its exit status. A child that already exited is only
/// reaped.
pub(crate) fn stop_child(child: &mut Child, name: &str, grace: Duration) -> io::Result<ExitStatus> {
    let pid = child.id();
    // Only signal a child that has not been reaped: its pid cannot belong to anyone else.
    match child.try_wait() {
        Ok(Some(status)) => return Ok(status),
        Ok(None) => match terminate(pid) {
            Ok(()) => {
                let deadline = Instant::now() + grace;
                loop {
                    match child.try_wait() {
                        Ok(Some(status)) => return Ok(status),
                        Ok(None) if Instant::now() < deadline => thread::sleep(STOP_POLL),
                        Ok(None) => {
                            tracing::warn!(pid, name, ?grace, "ignored SIGTERM; killing it");
                            break;
                        }
                        Err(error) => {
                            tracing::warn!(pid, name, %error, "could not poll; killing it");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(pid, name, %error, "could not send SIGTERM; killing it"),
        },
        Err(error) => tracing::warn!(pid, name, %error, "could not poll; killing it"),
    }
    // `Child::kill` sends SIGKILL to this child only, and is a no-op once it has exited.
    child.kill()?;
    child.wait()
}

/// Sends `SIGTERM` to the process `pid`.
///
/// Callers pass only the pid of a child they have not reaped yet, so the pid cannot have been
/// reused by an unrelated process.
pub(crate) fn terminate(pid: u32) -> io::Result<()> {
    let pid = to_pid(pid)?;
    // SAFETY: `kill` has no memory-safety preconditions; it takes two plain integers.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Tries to take an exclusive `flock` on `file` without blocking: `Ok(true)` when taken,
/// `Ok(false)` when another open file description holds it (another process, or another
/// `open` of the same file in this process).
///
/// The lock lives as long as the file stays open; closing it (dropping the [`File`]) releases
/// it, also when the process dies. Files opened by std are close-on-exec, so children do not
/// inherit the lock.
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    let fd = file.as_raw_fd();
    // SAFETY: `flock` has no memory-safety preconditions: it takes a file descriptor, which
    // stays valid for the call because `file` is borrowed, and integer flags.
    let rc = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(code) if code == libc::EWOULDBLOCK || code == libc::EINTR => Ok(false),
        _ => Err(error),
    }
}

/// Whether a process with this pid exists (running, or a zombie not yet reaped).
///
/// Sends the null signal (`kill(pid, 0)`): no signal is delivered, only the existence and
/// permission checks run. A process that exists but belongs to another user also counts as
/// existing (`EPERM`). Tests use it to check that a [`Monerod`](crate::Monerod) is really gone
/// after it was dropped.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = to_pid(pid) else {
        return false;
    };
    if pid <= 0 {
        // 0 and negative values address process groups, not one process.
        return false;
    }
    // SAFETY: `kill` has no memory-safety preconditions; signal 0 delivers nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn to_pid(pid: u32) -> io::Result<libc::pid_t> {
    libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))
}

/// Spawns `command` so that the child is killed (`SIGKILL`) when the test process dies, even
/// when the process is killed without a chance to run destructors.
///
/// On Linux this sets `PR_SET_PDEATHSIG` in the child between `fork` and `exec`. That signal
/// fires when the *thread* that forked the child exits, not only when the process does; so the
/// fork happens on one long-lived spawner thread owned by this module, and a `Monerod` started
/// from a short-lived thread (a `spawn_blocking` task, a helper thread) is not killed when that
/// thread ends.
pub(crate) fn spawn(mut command: Command) -> io::Result<Child> {
    set_parent_death_signal(&mut command)?;
    match spawner() {
        Some(spawner) => {
            let (reply_tx, reply_rx) = mpsc::sync_channel(1);
            match spawner.send(SpawnRequest {
                command,
                reply: reply_tx,
            }) {
                Ok(()) => reply_rx
                    .recv()
                    .map_err(|_| io::Error::other("the spawner thread ended"))?,
                // The spawner thread is gone: spawn from this thread instead.
                Err(mpsc::SendError(mut request)) => request.command.spawn(),
            }
        }
        None => command.spawn(),
    }
}

struct SpawnRequest {
    command: Command,
    reply: mpsc::SyncSender<io::Result<Child>>,
}

/// The spawner thread's queue, or `None` when the thread could not be started (then children
/// are spawned from the caller's thread).
fn spawner() -> Option<&'static mpsc::SyncSender<SpawnRequest>> {
    static SPAWNER: OnceLock<Option<mpsc::SyncSender<SpawnRequest>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            // Spawning takes milliseconds; a few queued requests are plenty, and a full queue
            // only makes the caller wait.
            let (tx, rx) = mpsc::sync_channel::<SpawnRequest>(8);
            let started = thread::Builder::new()
                .name("umbra-test-kit-spawner".to_owned())
                .spawn(move || {
                    // The sender lives in a static, so this loop ends only with the process.
                    for mut request in rx {
                        let result = request.command.spawn();
                        // The caller may have given up waiting; then the child is dropped
                        // here and still dies with the process through its death signal.
                        let _ = request.reply.send(result);
                    }
                });
            match started {
                Ok(_) => Some(tx),
                Err(error) => {
                    tracing::warn!(%error, "could not start the spawner thread; spawning inline");
                    None
                }
            }
        })
        .as_ref()
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(command: &mut Command) -> io::Result<()> {
    use std::os::unix::process::CommandExt;

    let parent = to_pid(std::process::id())?;
    let signal = libc::c_ulong::try_from(libc::SIGKILL)
        .map_err(|_| io::Error::other("SIGKILL does not fit in c_ulong"))?;
    // SAFETY: the closure runs in the child between `fork` and `exec`, where only
    // async-signal-safe operations are allowed. It calls `prctl(PR_SET_PDEATHSIG)` and
    // `getppid`, both plain system calls, and builds errors with `last_os_error` /
    // `from_raw_os_error`, which store an integer and do not allocate. It captures only two
    // integers (copied, no locks, no heap). Nothing else runs in the child before `exec`.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between `fork` and `prctl`; then the death signal will
            // never come, so do not start at all.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_command: &mut Command) -> io::Result<()> {
    // No equivalent outside Linux: `Drop` still stops the child, but a test process that is
    // killed outright leaves it running.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_lock_excludes_a_second_open_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = File::create(&path).unwrap();
        let second = File::open(&path).unwrap();
        assert!(try_lock_exclusive(&first).unwrap());
        assert!(!try_lock_exclusive(&second).unwrap());
        drop(first);
        assert!(try_lock_exclusive(&second).unwrap());
    }

    #[test]
    fn own_process_exists_and_absurd_pid_does_not() {
        assert!(process_exists(std::process::id()));
        assert!(!process_exists(0));
        assert!(!process_exists(u32::MAX));
    }

    #[test]
    fn spawned_child_can_be_terminated_and_is_gone_after_wait() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut child = spawn(command).unwrap();
        let pid = child.id();
        assert!(process_exists(pid));
        terminate(pid).unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(!process_exists(pid));
    }

    #[test]
    fn child_started_from_a_thread_that_ends_keeps_running() {
        let mut child = thread::spawn(|| {
            let mut command = Command::new("sleep");
            command.arg("30");
            spawn(command).unwrap()
        })
        .join()
        .unwrap();
        thread::sleep(Duration::from_millis(200));
        assert!(
            child.try_wait().unwrap().is_none(),
            "child died with its thread"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
