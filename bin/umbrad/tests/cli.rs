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
        "--testnet",
        "--stagenet",
        "--regtest",
        "--p2p-bind-ip",
        "--p2p-bind-port",
        "--out-peers",
        "--in-peers",
        "--max-connections-per-ip",
        "--add-peer",
        "--add-exclusive-node",
        "--add-priority-node",
        "--allow-local-ip",
        "--log-level",
        "--log-format",
        "--status-interval",
        "--generate-config",
        "--print-config",
        "--version",
        "UMBRA_CONFIG",
        "UMBRA_DATA_DIR",
        "UMBRA_NETWORK",
        "UMBRA_P2P_BIND_IP",
        "UMBRA_P2P_BIND_PORT",
        "UMBRA_LOG_LEVEL",
        "UMBRA_LOG_FORMAT",
        "0 = warn, 1 = info, 2 = debug, 3 and 4 = trace",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
    for old in [
        "--network",
        "--p2p-listen",
        "--log ",
        "--outbound-peers",
        "--inbound-peers",
        "--exclusive-peer",
        "--priority-peer",
    ] {
        assert!(!help.contains(old), "--help still mentions {old}:\n{help}");
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
    assert_eq!(defaults["p2p"]["bind_ip"].as_str(), Some("0.0.0.0"));
    assert_eq!(defaults["p2p"]["bind_port"].as_integer(), Some(18080));
    assert_eq!(defaults["p2p"]["out_peers"].as_integer(), Some(12));
    assert_eq!(defaults["p2p"]["in_peers"].as_integer(), Some(64));
    for list in ["add_peers", "exclusive_nodes", "priority_nodes"] {
        assert_eq!(
            defaults["p2p"][list].as_array().map(Vec::len),
            Some(0),
            "{list}"
        );
    }
    assert_eq!(defaults["p2p"]["allow_local_ip"].as_bool(), Some(false));
    assert_eq!(defaults["log"]["level"].as_str(), Some("info"));
    assert_eq!(defaults["log"]["format"].as_str(), Some("text"));

    // The sample documents every setting, by its config key.
    for key in [
        "network",
        "data_dir",
        "[p2p]",
        "bind_ip",
        "bind_port",
        "out_peers",
        "in_peers",
        "max_connections_per_ip",
        "add_peers",
        "exclusive_nodes",
        "priority_nodes",
        "allow_local_ip",
        "[log]",
        "level",
        "format",
        "status_interval",
    ] {
        assert!(
            sample.contains(&format!("\n{key}")) || sample.contains(&format!("\n# {key} = ")),
            "{key}:\n{sample}"
        );
    }

    // A sample with a network set keeps the derived port following it.
    let testnet_sample = sample.replace("network = \"mainnet\"", "network = \"testnet\"");
    std::fs::write(&sample_path, testnet_sample).unwrap();
    let config = print_config(&mut umbrad(
        home.path(),
        &["--config", sample_path.to_str().unwrap()],
    ));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(28080));
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
bind_ip = "192.0.2.1"
out_peers = 5
in_peers = 9
exclusive_nodes = ["file.example:1"]

[log]
level = "debug"
format = "compact"
status_interval = 6
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
                "--in-peers",
                "3",
                "--add-exclusive-node",
                "[::1]:2",
            ],
        )
        .env("UMBRA_LOG_LEVEL", "warn")
        .env("UMBRA_P2P_BIND_PORT", "4000"),
    );
    assert_eq!(config["network"].as_str(), Some("testnet")); // file
    assert_eq!(config["p2p"]["bind_ip"].as_str(), Some("192.0.2.1")); // file
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(4000)); // environment
    assert_eq!(config["p2p"]["out_peers"].as_integer(), Some(5)); // file
    assert_eq!(config["p2p"]["in_peers"].as_integer(), Some(3)); // flag
    assert_eq!(
        config["p2p"]["exclusive_nodes"].as_array().unwrap().len(),
        1
    ); // flag replaces
    assert_eq!(
        config["p2p"]["exclusive_nodes"][0].as_str(),
        Some("[::1]:2")
    );
    assert_eq!(config["log"]["level"].as_str(), Some("warn")); // environment
    assert_eq!(config["log"]["format"].as_str(), Some("compact")); // file
    assert_eq!(
        config["p2p"]["priority_nodes"].as_array().map(Vec::len),
        Some(0)
    ); // default

    // The bind port follows the file's network when nothing pins it.
    let config = print_config(&mut umbrad(home.path(), &["--config", file]));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(28080));

    // A flag beats its environment variable, and the environment's network beats the
    // file's; a network flag beats both and moves the default port.
    let config = print_config(
        umbrad(
            home.path(),
            &[
                "--config",
                file,
                "--log-level",
                "trace",
                "--p2p-bind-port",
                "5000",
            ],
        )
        .env("UMBRA_LOG_LEVEL", "warn")
        .env("UMBRA_P2P_BIND_PORT", "4000")
        .env("UMBRA_NETWORK", "mainnet"),
    );
    assert_eq!(config["log"]["level"].as_str(), Some("trace"));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(5000));
    assert_eq!(config["network"].as_str(), Some("mainnet"));
    let config = print_config(
        umbrad(home.path(), &["--config", file, "--stagenet"]).env("UMBRA_NETWORK", "regtest"),
    );
    assert_eq!(config["network"].as_str(), Some("stagenet"));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(38080));

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
        "network = \"regtest\"\n[p2p]\nbind_ip = \"127.0.0.1\"\nbind_port = 18444\n",
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
    assert_eq!(config["p2p"]["bind_ip"].as_str(), Some("127.0.0.1"));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(18444));
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
        ("[p2p]\nout_peers = \"lots\"\n", "p2p.out_peers", "line 2"),
        ("[rpc]\nport = 1\n", "rpc", "line 1"),
        ("network = \"moneronet\"\n", "network", "line 1"),
        (
            "[p2p]\nbind_ip = \"0.0.0.0:18080\"\n",
            "p2p.bind_ip",
            "line 2",
        ),
        (
            "[p2p]\nadd_peers = [\"nohost\"]\n",
            "p2p.add_peers",
            "line 2",
        ),
        ("[log]\nlevel = 9\n", "log.level", "line 2"),
        // The keys of earlier versions are unknown now.
        (
            "[p2p]\nlisten = \"0.0.0.0:18080\"\n",
            "p2p.listen",
            "line 2",
        ),
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
    for args in [
        &["--network", "testnet"][..],
        &["--p2p-listen", "0.0.0.0:18080"],
        &["--p2p-bind-ip", "0.0.0.0:18080"],
        &["--p2p-bind-port", "65536"],
        &["--add-peer", "nohost"],
        &["--log-level", "5"],
        &["--log", "info"],
    ] {
        let output = run(&mut umbrad(home.path(), args));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stdout(&output).is_empty());
    }
    let output = run(umbrad(home.path(), &["--print-config"]).env("UMBRA_NETWORK", "moneronet"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("UMBRA_NETWORK"),
        "{}",
        stderr(&output)
    );
    let output = run(umbrad(home.path(), &[]).env("RUST_LOG", "umbrad=loud"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("RUST_LOG"), "{}", stderr(&output));
}

#[test]
fn network_flags_are_mutually_exclusive_and_exit_2() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        ["--testnet", "--regtest"],
        ["--testnet", "--stagenet"],
        ["--stagenet", "--regtest"],
    ] {
        let output = run(&mut umbrad(
            home.path(),
            &[args[0], args[1], "--print-config"],
        ));
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot be used with"), "{err}");
        assert!(err.contains(args[0]) && err.contains(args[1]), "{err}");
        assert!(stdout(&output).is_empty());
    }
}

#[test]
fn each_monerod_named_flag_reaches_the_effective_config() {
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("d");
    let config = print_config(&mut umbrad(
        home.path(),
        &[
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--stagenet",
            "--p2p-bind-ip",
            "127.0.0.1",
            "--p2p-bind-port",
            "18555",
            "--out-peers",
            "2",
            "--in-peers",
            "0",
            "--add-peer",
            "192.0.2.1:18080",
            "--add-peer",
            "peer.example:1",
            "--add-exclusive-node",
            "127.0.0.1:28080",
            "--add-priority-node",
            "[::1]:38080",
            "--allow-local-ip",
            "--log-level",
            "1",
            "--log-format",
            "compact",
            "--status-interval",
            "6",
        ],
    ));
    let strings = |value: &toml::Value| -> Vec<String> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(config["data_dir"].as_str(), data_dir.to_str());
    assert_eq!(config["network"].as_str(), Some("stagenet"));
    let p2p = &config["p2p"];
    assert_eq!(p2p["bind_ip"].as_str(), Some("127.0.0.1"));
    assert_eq!(p2p["bind_port"].as_integer(), Some(18555));
    assert_eq!(p2p["out_peers"].as_integer(), Some(2));
    assert_eq!(p2p["in_peers"].as_integer(), Some(0));
    assert_eq!(
        strings(&p2p["add_peers"]),
        ["192.0.2.1:18080", "peer.example:1"]
    );
    assert_eq!(strings(&p2p["exclusive_nodes"]), ["127.0.0.1:28080"]);
    assert_eq!(strings(&p2p["priority_nodes"]), ["[::1]:38080"]);
    assert_eq!(p2p["allow_local_ip"].as_bool(), Some(true));
    assert_eq!(config["log"]["level"].as_str(), Some("info"));
    assert_eq!(config["log"]["format"].as_str(), Some("compact"));

    for (flag, network, port) in [
        ("--testnet", "testnet", 28080),
        ("--stagenet", "stagenet", 38080),
        ("--regtest", "regtest", 18080),
    ] {
        let config = print_config(&mut umbrad(home.path(), &[flag]));
        assert_eq!(config["network"].as_str(), Some(network), "{flag}");
        assert_eq!(
            config["p2p"]["bind_port"].as_integer(),
            Some(port),
            "{flag}"
        );
    }
}

#[test]
fn log_level_takes_monerod_numbers_or_a_filter() {
    let home = tempfile::tempdir().unwrap();
    for (value, level) in [
        ("0", "warn"),
        ("1", "info"),
        ("2", "debug"),
        ("3", "trace"),
        ("4", "trace"),
        ("info,umbrad=trace", "info,umbrad=trace"),
        ("off", "off"),
    ] {
        let config = print_config(&mut umbrad(home.path(), &["--log-level", value]));
        assert_eq!(config["log"]["level"].as_str(), Some(level), "{value}");
    }
    let config = print_config(umbrad(home.path(), &[]).env("UMBRA_LOG_LEVEL", "2"));
    assert_eq!(config["log"]["level"].as_str(), Some("debug"));
}

#[test]
fn bind_ip_and_port_flags_override_one_part_each() {
    let home = tempfile::tempdir().unwrap();
    // Over the defaults.
    let config = print_config(&mut umbrad(
        home.path(),
        &["--testnet", "--p2p-bind-port", "1234"],
    ));
    assert_eq!(config["p2p"]["bind_ip"].as_str(), Some("0.0.0.0"));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(1234));
    let config = print_config(&mut umbrad(
        home.path(),
        &["--testnet", "--p2p-bind-ip", "::1"],
    ));
    assert_eq!(config["p2p"]["bind_ip"].as_str(), Some("::1"));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(28080));

    // Over a config file that sets both.
    let file = home.path().join("umbrad.toml");
    std::fs::write(&file, "[p2p]\nbind_ip = \"10.0.0.1\"\nbind_port = 1\n").unwrap();
    let file = file.to_str().unwrap();
    let config = print_config(&mut umbrad(
        home.path(),
        &["--config", file, "--p2p-bind-port", "2"],
    ));
    assert_eq!(config["p2p"]["bind_ip"].as_str(), Some("10.0.0.1"));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(2));
    let config = print_config(&mut umbrad(
        home.path(),
        &["--config", file, "--p2p-bind-ip", "127.0.0.1"],
    ));
    assert_eq!(config["p2p"]["bind_ip"].as_str(), Some("127.0.0.1"));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(1));
}

#[test]
fn flags_override_every_setting_of_the_config_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("umbrad.toml");
    std::fs::write(
        &file,
        r#"
network = "testnet"
data_dir = "/nonexistent/file"

[p2p]
bind_ip = "10.0.0.1"
bind_port = 1
out_peers = 1
in_peers = 1
max_connections_per_ip = 1
add_peers = ["file.example:1"]
exclusive_nodes = ["file.example:2"]
priority_nodes = ["file.example:3"]
allow_local_ip = false
stealth = false
quic = false
prefer_quic = false
timed_sync_interval = 5

[log]
level = 0
format = "text"
status_interval = 1

[tor]
mode = "embedded"
socks = "127.0.0.1:1"
control = "127.0.0.1:2"
anonymous_inbound = ""
out_peers = 1
in_peers = 1
"#,
    )
    .unwrap();
    let data_dir = home.path().join("flag");
    let config = print_config(&mut umbrad(
        home.path(),
        &[
            "--config",
            file.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--regtest",
            "--p2p-bind-ip",
            "127.0.0.1",
            "--p2p-bind-port",
            "2",
            "--out-peers",
            "3",
            "--in-peers",
            "4",
            "--max-connections-per-ip",
            "5",
            "--add-peer",
            "flag.example:1",
            "--add-exclusive-node",
            "flag.example:2",
            "--add-priority-node",
            "flag.example:3",
            "--allow-local-ip",
            "--stealth",
            "--quic",
            "--prefer-quic",
            "--log-level",
            "2",
            "--log-format",
            "compact",
            "--status-interval",
            "6",
            "--tx-proxy",
            "tor,127.0.0.1:7,9",
            "--tor-control",
            "127.0.0.1:8",
            "--anonymous-inbound",
            "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:18083,127.0.0.1:28083,10",
            "--tx-proxy",
            "i2p,127.0.0.1:11,3",
            "--anonymous-inbound",
            "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p,127.0.0.1:12,4",
        ],
    ));
    let expected: toml::Table = format!(
        r#"
network = "regtest"
data_dir = "{}"

[p2p]
bind_ip = "127.0.0.1"
bind_port = 2
out_peers = 3
in_peers = 4
max_connections_per_ip = 5
add_peers = ["flag.example:1"]
exclusive_nodes = ["flag.example:2"]
priority_nodes = ["flag.example:3"]
allow_local_ip = true
stealth = true
quic = true
prefer_quic = true
timed_sync_interval = 5

[log]
level = "debug"
format = "compact"
status_interval = 6

[tor]
mode = "system"
socks = "127.0.0.1:7"
control = "127.0.0.1:8"
inbound = true
onion_port = 18083
anonymous_inbound = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:18083,127.0.0.1:28083,10"
add_peers = []
out_peers = 9
in_peers = 10
authorities = []
fallbacks = []
allow_local = false

[i2p]
mode = "socks"
sam = "127.0.0.1:7656"
socks = "127.0.0.1:11"
inbound = true
anonymous_inbound = "cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p,127.0.0.1:12,4"
add_peers = []
out_peers = 3
in_peers = 4
inbound_hops = 3
outbound_hops = 3
"#,
        data_dir.display()
    )
    .parse()
    .unwrap();
    assert_eq!(config, expected);

    // Without a port, --regtest moves the port to regtest's 18080 even when the file
    // names another network.
    std::fs::write(&file, "network = \"stagenet\"\n").unwrap();
    let config = print_config(&mut umbrad(
        home.path(),
        &["--config", file.to_str().unwrap(), "--regtest"],
    ));
    assert_eq!(config["network"].as_str(), Some("regtest"));
    assert_eq!(config["p2p"]["bind_port"].as_integer(), Some(18080));
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
            umbrad(
                home.path(),
                // Loopback only, a port of the system's choice, no outbound peers: the test
                // touches no network but its own.
                &[
                    "--data-dir",
                    data_dir.to_str().unwrap(),
                    "--regtest",
                    "--p2p-bind-ip",
                    "127.0.0.1",
                    "--p2p-bind-port",
                    "0",
                    "--out-peers",
                    "0",
                ],
            )
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
        while !log
            .iter()
            .any(|l: &String| l.contains("listening for peers"))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => log.push(line),
                Err(err) => panic!("no startup line ({err}); log so far: {log:#?}"),
            }
        }
        let start = log.iter().find(|l| l.contains("umbrad starting")).unwrap();
        for part in [
            "network=regtest",
            &format!("data_dir={}", data_dir.display()),
            "listen=127.0.0.1:0",
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
            log.iter()
                .any(|l| l.contains("shutting down") && l.contains(name)),
            "log: {log:#?}"
        );
        // The address book is written on the way out.
        assert!(
            log.last().unwrap().contains("address book saved"),
            "log: {log:#?}"
        );
        assert!(data_dir.join("clearnet-peers.epee").is_file());
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
