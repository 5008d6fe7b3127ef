//! Runs the built `umbrad` binary as an operator would: help, version, the generated and
//! the effective configuration, bad configuration, and a run stopped by a signal.
//!
//! Every run gets a cleared environment with `HOME` in a fresh temporary directory, so the
//! operator's own config and data are never touched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a run may take to start or to stop.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `umbrad` with `args`, in a cleared environment whose `HOME` is `home`.
fn umbrad(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_umbrad"));
    cmd.env_clear().env("HOME", home).args(args);
    cmd
}

/// Kills the child if a test fails before it is reaped, so no `umbrad` outlives the test.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `cmd` to completion within [`TIMEOUT`] (a command that should fail at once must
/// not hang the test if it starts the node instead). Its output must fit in the pipes'
/// buffers, which it does for everything but a running node.
fn run(cmd: &mut Command) -> Output {
    let mut child = Reaper(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "umbrad did not exit within {TIMEOUT:?}: {cmd:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut output = Output {
        status,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut output.stdout)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut output.stderr)
        .unwrap();
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Runs `umbrad --print-config` with `args` and parses its output.
fn print_config(cmd: &mut Command) -> toml::Table {
    let output = run(cmd.arg("--print-config"));
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).parse().unwrap()
}

#[test]
fn help_lists_every_flag() {
    let home = tempfile::tempdir().unwrap();
    let output = run(&mut umbrad(home.path(), &["--help"]));
    assert!(output.status.success());
    let help = stdout(&output);
    for flag in [
        "--config",
        "--data-dir",
        "--network",
        "--p2p-listen",
        "--log ",
        "--log-format",
        "--outbound-peers",
        "--inbound-peers",
        "--exclusive-peer",
        "--priority-peer",
        "--generate-config",
        "--print-config",
        "--version",
        "UMBRA_CONFIG",
        "UMBRA_LOG",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn version_is_the_package_version() {
    let home = tempfile::tempdir().unwrap();
    for flag in ["--version", "-V"] {
        let output = run(&mut umbrad(home.path(), &[flag]));
        assert!(output.status.success());
        let expected = format!("umbrad {}", env!("CARGO_PKG_VERSION"));
        assert!(
            stdout(&output).starts_with(&expected),
            "{}",
            stdout(&output)
        );
    }
}

#[test]
fn generated_config_parses_back_to_the_defaults() {
    let home = tempfile::tempdir().unwrap();
    let output = run(&mut umbrad(home.path(), &["--generate-config"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let sample = stdout(&output);
    assert!(sample.contains("# The Monero network to join."), "{sample}");

    let sample_path = home.path().join("sample.toml");
    std::fs::write(&sample_path, &sample).unwrap();
    let from_sample = print_config(&mut umbrad(
        home.path(),
        &["--config", sample_path.to_str().unwrap()],
    ));
    let defaults = print_config(&mut umbrad(home.path(), &[]));
    assert_eq!(from_sample, defaults);
    assert_eq!(defaults["network"].as_str(), Some("mainnet"));
    let data_dir = home.path().join(".local/share/umbra");
    assert_eq!(defaults["data_dir"].as_str(), data_dir.to_str());
    assert_eq!(defaults["p2p"]["listen"].as_str(), Some("0.0.0.0:18080"));
    assert_eq!(defaults["p2p"]["outbound_peers"].as_integer(), Some(12));
    assert_eq!(defaults["p2p"]["inbound_peers"].as_integer(), Some(64));
    assert_eq!(defaults["log"]["level"].as_str(), Some("info"));
}

#[test]
fn print_config_layers_flags_over_environment_over_file_over_defaults() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("umbrad.toml");
    std::fs::write(
        &file,
        r#"
network = "testnet"

[p2p]
outbound_peers = 5
inbound_peers = 9
exclusive_peers = ["file.example:1"]

[log]
level = "debug"
format = "compact"
"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let config = print_config(
        umbrad(
            home.path(),
            &[
                "--config",
                file,
                "--inbound-peers",
                "3",
                "--exclusive-peer",
                "[::1]:2",
            ],
        )
        .env("UMBRA_LOG", "warn"),
    );
    assert_eq!(config["network"].as_str(), Some("testnet")); // file
    assert_eq!(config["p2p"]["listen"].as_str(), Some("0.0.0.0:28080")); // follows the file's network
    assert_eq!(config["p2p"]["outbound_peers"].as_integer(), Some(5)); // file
    assert_eq!(config["p2p"]["inbound_peers"].as_integer(), Some(3)); // flag
    assert_eq!(
        config["p2p"]["exclusive_peers"].as_array().unwrap().len(),
        1
    ); // flag replaces
    assert_eq!(
        config["p2p"]["exclusive_peers"][0].as_str(),
        Some("[::1]:2")
    );
    assert_eq!(config["log"]["level"].as_str(), Some("warn")); // environment
    assert_eq!(config["log"]["format"].as_str(), Some("compact")); // file
    assert_eq!(
        config["p2p"]["priority_peers"].as_array().map(Vec::len),
        Some(0)
    ); // default

    // A flag beats its environment variable; a network flag moves the default port.
    let config = print_config(
        umbrad(
            home.path(),
            &["--config", file, "--log", "trace", "--network", "stagenet"],
        )
        .env("UMBRA_LOG", "warn"),
    );
    assert_eq!(config["log"]["level"].as_str(), Some("trace"));
    assert_eq!(config["network"].as_str(), Some("stagenet"));
    assert_eq!(config["p2p"]["listen"].as_str(), Some("0.0.0.0:38080"));

    // The config file can come from UMBRA_CONFIG too.
    let config = print_config(umbrad(home.path(), &[]).env("UMBRA_CONFIG", file));
    assert_eq!(config["network"].as_str(), Some("testnet"));
}

#[test]
fn config_file_in_the_data_dir_is_used_when_no_config_is_given() {
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let file = data_dir.join("umbrad.toml");
    std::fs::write(
        &file,
        "network = \"regtest\"\n[p2p]\nlisten = \"127.0.0.1:18444\"\n",
    )
    .unwrap();

    let output = run(umbrad(home.path(), &["--print-config"]).env("UMBRA_DATA_DIR", &data_dir));
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(
        printed.contains(&format!("# Config file: {}", file.display())),
        "{printed}"
    );
    let config: toml::Table = printed.parse().unwrap();
    assert_eq!(config["network"].as_str(), Some("regtest"));
    assert_eq!(config["p2p"]["listen"].as_str(), Some("127.0.0.1:18444"));
    assert_eq!(config["data_dir"].as_str(), data_dir.to_str());

    // No file there is fine: defaults.
    let empty = home.path().join("empty");
    let config = print_config(&mut umbrad(
        home.path(),
        &["--data-dir", empty.to_str().unwrap()],
    ));
    assert_eq!(config["network"].as_str(), Some("mainnet"));
}

#[test]
fn bad_config_file_exits_2_naming_the_file_key_and_line() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("bad.toml");
    let cases = [
        (
            "network = \"mainnet\"\n\n[p2p]\nmax_peers = 3\n",
            "p2p.max_peers",
            "line 4",
        ),
        (
            "[p2p]\noutbound_peers = \"lots\"\n",
            "p2p.outbound_peers",
            "line 2",
        ),
        ("[rpc]\nport = 1\n", "rpc", "line 1"),
        ("network = \"moneronet\"\n", "network", "line 1"),
    ];
    for (text, key, line) in cases {
        std::fs::write(&file, text).unwrap();
        for action in [None, Some("--print-config")] {
            let mut cmd = umbrad(home.path(), &["--config", file.to_str().unwrap()]);
            cmd.args(action);
            let output = run(&mut cmd);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{text:?}: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(err.contains(file.to_str().unwrap()), "{text:?}: {err}");
            assert!(err.contains(&format!("key `{key}`")), "{text:?}: {err}");
            assert!(err.contains(line), "{text:?}: {err}");
            assert!(stdout(&output).is_empty());
        }
    }
}

#[test]
fn missing_explicit_config_file_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("missing.toml");
    let output = run(&mut umbrad(
        home.path(),
        &["--config", missing.to_str().unwrap(), "--print-config"],
    ));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(missing.to_str().unwrap()),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_flags_and_rust_log_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let output = run(&mut umbrad(home.path(), &["--network", "moneronet"]));
    assert_eq!(output.status.code(), Some(2));
    let output = run(umbrad(home.path(), &[]).env("RUST_LOG", "umbrad=loud"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("RUST_LOG"), "{}", stderr(&output));
}

/// Running the node and stopping it with a signal.
#[cfg(unix)]
mod signals {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;

    /// Starts the node, waits for its startup line, sends `signal` and checks that it stops
    /// cleanly with a shutdown line.
    fn runs_until(signal: libc::c_int, name: &str) {
        let home = tempfile::tempdir().unwrap();
        let data_dir = home.path().join("data/umbra");
        let mut child = Reaper(
            umbrad(home.path(), &["--data-dir", data_dir.to_str().unwrap()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stderr = child.0.stderr.take().unwrap();
        let (lines_tx, lines) = mpsc::sync_channel(1024);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                if lines_tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });

        let deadline = Instant::now() + TIMEOUT;
        let mut log = Vec::new();
        while !log.iter().any(|l: &String| l.contains("umbrad starting")) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => log.push(line),
                Err(err) => panic!("no startup line ({err}); log so far: {log:#?}"),
            }
        }
        let start = log.last().unwrap();
        for part in [
            "network=mainnet",
            &format!("data_dir={}", data_dir.display()),
            "listen=0.0.0.0:18080",
            env!("CARGO_PKG_VERSION"),
        ] {
            assert!(start.contains(part), "startup line lacks {part}: {start}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "data dir mode {mode:o}");
        }

        let pid = libc::pid_t::try_from(child.0.id()).unwrap();
        // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own child, which has
        // not been reaped yet (the `Reaper` holds it), so the id cannot have been reused.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill failed");

        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "umbrad did not stop after {name}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        reader.join().unwrap();
        log.extend(lines.try_iter());
        assert_eq!(status.code(), Some(0), "log: {log:#?}");
        assert!(
            log.iter().any(|l| l.contains("networking is not wired")),
            "log: {log:#?}"
        );
        let last = log.last().unwrap();
        assert!(
            last.contains("shutting down") && last.contains(name),
            "log: {log:#?}"
        );
    }

    #[test]
    fn runs_until_sigterm_and_exits_0() {
        runs_until(libc::SIGTERM, "SIGTERM");
    }

    #[test]
    fn runs_until_ctrl_c_and_exits_0() {
        runs_until(libc::SIGINT, "SIGINT");
    }
}
