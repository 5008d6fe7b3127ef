//! `umbra-tor-net`: starts the private Tor network of `umbra_test_kit::tor_net` on 127.0.0.1,
//! prints how to use it (SOCKS and control addresses, relays, the data an arti client needs),
//! and runs until Ctrl-C or `SIGTERM`, then stops every tor and deletes the data dir.
//!
//! ```text
//! cargo run -p umbra-test-kit --bin umbra-tor-net -- [options]
//!   --authorities N     directory authorities (default 3)
//!   --exits N           exit relays (default 2)
//!   --middles N         middle relays (default 1)
//!   --no-onion-host     host onion services on the client instead of a separate tor
//!   --onion V:IP:PORT   publish an onion service: virtual port V forwarding to IP:PORT
//!                       (repeatable)
//!   --keep-dirs         keep the data dir (torrcs, logs) after stopping
//!   --timeout SECS      start-up bound (default 120)
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use umbra_test_kit::tor_net::{RelayRole, TorNetwork, TorNetworkBuilder};

const USAGE: &str = "usage: umbra-tor-net [--authorities N] [--exits N] [--middles N] \
[--no-onion-host] [--onion VIRT_PORT:IP:PORT]... [--keep-dirs] [--timeout SECS]";

struct Options {
    builder: TorNetworkBuilder,
    onions: Vec<(u16, SocketAddr)>,
    keep_dirs: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut builder = TorNetwork::builder();
    let mut onions = Vec::new();
    let mut keep_dirs = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let count = |text: String| {
            text.parse::<usize>()
                .map_err(|e| format!("bad count {text:?}: {e}"))
        };
        match arg.as_str() {
            "--authorities" => builder = builder.authorities(count(value(&arg)?)?),
            "--exits" => builder = builder.exits(count(value(&arg)?)?),
            "--middles" => builder = builder.middles(count(value(&arg)?)?),
            "--no-onion-host" => builder = builder.onion_host(false),
            "--keep-dirs" => {
                keep_dirs = true;
                builder = builder.keep_dirs(true);
            }
            "--timeout" => {
                let text = value(&arg)?;
                let secs = text
                    .parse::<u64>()
                    .map_err(|e| format!("bad timeout {text:?}: {e}"))?;
                builder = builder.start_timeout(Duration::from_secs(secs));
            }
            "--onion" => {
                let text = value(&arg)?;
                let (virt, target) = text
                    .split_once(':')
                    .ok_or_else(|| format!("--onion wants VIRT_PORT:IP:PORT, got {text:?}"))?;
                let virt = virt
                    .parse::<u16>()
                    .map_err(|e| format!("bad virtual port {virt:?}: {e}"))?;
                let target = target
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("bad target {target:?}: {e}"))?;
                if !target.ip().is_loopback() {
                    return Err(format!("onion target {target} is not on loopback"));
                }
                onions.push((virt, target));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Options {
        builder,
        onions,
        keep_dirs,
    })
}

fn print_network(net: &TorNetwork, keep_dirs: bool) {
    let t = net.start_timings();
    println!(
        "Private Tor network ready in {:.1} s (keys {:.1} s, relays {:.1} s, clients {:.1} s, attempt {}).",
        t.total.as_secs_f64(),
        t.keys.as_secs_f64(),
        t.relays.as_secs_f64(),
        t.clients.as_secs_f64(),
        t.attempts
    );
    println!();
    println!("UMBRA_TOR_SOCKS={}", net.socks_addr());
    println!("UMBRA_TOR_CONTROL={}", net.control_addr());
    println!(
        "UMBRA_TOR_CONTROL_COOKIE={}",
        net.control_cookie_path().display()
    );
    println!();
    println!(
        "data dir   {} ({})",
        net.data_dir().display(),
        if keep_dirs {
            "kept after exit"
        } else {
            "deleted on exit"
        }
    );
    let client = net.client();
    println!(
        "client     {}  socks {}  control {} (cookie auth)  pid {}",
        client.name(),
        client.socks_addr(),
        client.control_addr(),
        client.pid()
    );
    if let Some(host) = net.onion_host() {
        println!(
            "onion host {}  socks {}  control {} (cookie auth)  pid {}",
            host.name(),
            host.socks_addr(),
            host.control_addr(),
            host.pid()
        );
    }
    println!("relays:");
    for relay in net.relays() {
        let role = match relay.role {
            RelayRole::Authority => "authority",
            RelayRole::Exit => "exit",
            RelayRole::Middle => "middle",
        };
        let dir = relay
            .dir_addr
            .map(|a| format!(" dir {a}"))
            .unwrap_or_default();
        println!(
            "  {:<8} {:<9} pid {:<7} or {}{dir}\n           rsa {}  ed25519 {}",
            relay.nickname,
            role,
            relay.pid,
            relay.or_addr,
            relay.rsa_identity,
            relay.ed25519_identity
        );
    }
    let arti = net.arti_network();
    println!();
    println!("For arti (TorClientConfigBuilder::tor_network()):");
    for authority in &arti.authorities {
        println!(
            "  authority {:<8} v3ident {}  dir {}",
            authority.name,
            authority.v3ident_hex(),
            authority.dir_addr
        );
    }
    for cache in &arti.fallback_caches {
        let orports: Vec<String> = cache.orports.iter().map(ToString::to_string).collect();
        println!(
            "  fallback  {:<8} rsa {}  ed {}  orports {}",
            cache.name,
            cache.rsa_identity_hex(),
            cache.ed_identity_base64(),
            orports.join(",")
        );
    }
    println!();
    println!("--- arti configuration (TOML) ---");
    print!("{}", arti.to_arti_toml());
    println!("---");
}

/// Blocks until Ctrl-C (SIGINT) or SIGTERM.
fn wait_for_signal() -> Result<&'static str, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| format!("cannot catch SIGTERM: {e}"))?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => {
                result.map_err(|e| format!("cannot catch SIGINT: {e}"))?;
                Ok("SIGINT")
            }
            _ = term.recv() => Ok("SIGTERM"),
        }
    })
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    eprintln!("Starting the private Tor network on 127.0.0.1 (usually 14–25 s)...");
    let net = match options.builder.start() {
        Ok(net) => net,
        Err(error) => {
            eprintln!("could not start the Tor network: {error}");
            return ExitCode::FAILURE;
        }
    };
    print_network(&net, options.keep_dirs);
    for (virt, target) in &options.onions {
        match net.add_onion_service(*virt, *target) {
            Ok(service) => println!(
                "onion service {}:{} -> {} (published in {:.1} s)",
                service.hostname,
                service.port,
                service.target,
                service.published_in.as_secs_f64()
            ),
            Err(error) => {
                eprintln!("could not publish the onion service for {target}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("Running. Press Ctrl-C (or send SIGTERM) to stop.");
    let outcome = wait_for_signal();
    eprintln!("Stopping every tor...");
    net.stop();
    match outcome {
        Ok(signal) => {
            eprintln!("Stopped ({signal}).");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
