//! Running one test inside a network namespace of its own, with private addresses on the
//! namespace's loopback interface.
//!
//! monerod never keeps a 127.0.0.0/8 address in its peer lists (`is_host_allowed`: "never
//! allow loopback ip", `--allow-local-ip` or not), so a test of peer-list exchange between
//! monerods needs other addresses. Inside a fresh user + network namespace the test may add
//! private addresses (say 10.99.0.1–10.99.0.9) to the namespace's own `lo`: traffic still
//! never leaves the machine, and nothing on the host changes.
//!
//! [`rerun_in_namespace`] re-runs one test of the current test binary inside
//! `unshare --user --map-root-user --net --pid --fork --mount --mount-proc --kill-child`
//! (util-linux), after `ip` (iproute2) has brought `lo` up with the addresses. The test
//! finds itself there with [`inside`]. The namespace has its own PID space, so when the
//! re-run ends or is killed every process it started (monerods included) dies with it.

use std::{
    ffi::OsString,
    io::{self, Read},
    net::Ipv4Addr,
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

/// Set (to "1") in the environment of a test re-run inside a namespace.
pub const NETNS_ENV: &str = "UMBRA_TEST_NETNS";

/// Whether this process is a test re-run by [`rerun_in_namespace`].
#[must_use]
pub fn inside() -> bool {
    std::env::var_os(NETNS_ENV).is_some_and(|v| v == "1")
}

/// Why a re-run in a namespace failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The test binary's path, or `unshare`, could not be found or started.
    #[error("cannot start `unshare` (util-linux) for a network namespace: {0}")]
    Spawn(#[source] io::Error),
    /// The re-run did not finish in time; it was killed (and with it everything it started).
    #[error("the test in the namespace did not finish within {timeout:?}; output:\n{output}")]
    Timeout {
        /// The limit.
        timeout: Duration,
        /// What it printed.
        output: String,
    },
    /// The re-run failed (the test failed, or the namespace could not be set up: user
    /// namespaces disabled, `ip` missing).
    #[error("the test in the namespace failed ({status}); output:\n{output}")]
    Failed {
        /// Its exit status.
        status: ExitStatus,
        /// What it printed.
        output: String,
    },
}

/// Re-runs test `name` (its full path, as `cargo test -- --exact` takes it) of the current
/// test binary in a new user, network, PID and mount namespace whose loopback interface is
/// up and has `addrs` (each with a /8 prefix); returns its output when it passed.
///
/// # Errors
/// [`NetnsError`]: `unshare` missing, the test failing or taking longer than `timeout`.
pub fn rerun_in_namespace(
    name: &str,
    addrs: &[Ipv4Addr],
    timeout: Duration,
) -> Result<String, NetnsError> {
    let exe = std::env::current_exe().map_err(NetnsError::Spawn)?;
    let mut script = String::from("set -e; ip link set lo up; ");
    for addr in addrs {
        script.push_str(&format!("ip addr add {addr}/8 dev lo; "));
    }
    script.push_str("exec \"$@\"");
    let mut args: Vec<OsString> = [
        "--user",
        "--map-root-user",
        "--net",
        "--pid",
        "--fork",
        "--mount",
        "--mount-proc",
        "--kill-child",
        "sh",
        "-c",
        &script,
        "umbra-netns",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(exe.into_os_string());
    args.extend(
        ["--exact", name, "--nocapture", "--test-threads", "1"]
            .iter()
            .map(OsString::from),
    );
    let mut child = Command::new("unshare")
        .args(&args)
        .env(NETNS_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NetnsError::Spawn)?;
    // Drain both pipes on threads so the child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                // Our own child, by its handle; --kill-child takes the namespace down.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => return Err(NetnsError::Spawn(error)),
        }
    };
    let output = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default()
    );
    match status {
        None => Err(NetnsError::Timeout { timeout, output }),
        Some(status) if status.success() => Ok(output),
        Some(status) => Err(NetnsError::Failed { status, output }),
    }
}
