//! Crash safety: a child process (this test binary, re-run with an environment variable)
//! writes and pops blocks in a loop and is killed with SIGKILL at random moments; after
//! each kill the database opens, passes the full integrity check (every stored block
//! complete, nothing of a partial one), and holds every commit the child reported — or
//! that state plus the one operation in flight when it died.
//!
//! SIGKILL tests atomicity and that a commit is never half-visible; it cannot test the
//! fsync against power loss (the kernel's page cache survives the process).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use umbra_storage::{EngineKind, Storage, StorageConfig, synthetic::SyntheticChain};

const CHILD_DIR: &str = "UMBRA_STORAGE_CRASH_CHILD_DIR";
const CHILD_ENGINE: &str = "UMBRA_STORAGE_CRASH_CHILD_ENGINE";
/// Kills per engine.
const KILLS: usize = 10;
/// The child stops by itself after this long (it is normally killed well before).
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

fn engine_named(name: &str) -> EngineKind {
    *EngineKind::ALL.iter().find(|e| e.name() == name).unwrap()
}

/// The child's loop; runs only when the environment names a directory.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let engine = engine_named(&std::env::var(CHILD_ENGINE).unwrap());
    let mut config = StorageConfig::new(dir).with_engine(engine);
    config.lmdb_map_size = 1 << 30;
    let db = Storage::open(&config).unwrap();
    let mut out = std::io::stdout().lock();
    let started = Instant::now();
    let mut op = 0u64;
    while started.elapsed() < CHILD_LIFETIME {
        op += 1;
        let top = db.read(|s| s.top_info()).unwrap();
        let (next, hash, cd) = top.map_or((0, [0; 32], 0), |t| {
            (t.height + 1, t.hash, t.cumulative_difficulty)
        });
        let mut chain = SyntheticChain::on_top_of(next ^ (op << 32), next, hash, cd);
        if op.is_multiple_of(7) && next > 4 {
            let k = 1 + op % 3;
            writeln!(out, "begin pop {k}").unwrap();
            out.flush().unwrap();
            db.pop_blocks(k).unwrap();
        } else if op.is_multiple_of(3) {
            let blocks: Vec<_> = (0..4).map(|_| chain.block(3)).collect();
            writeln!(out, "begin write 4").unwrap();
            out.flush().unwrap();
            db.write_blocks(&blocks).unwrap();
        } else {
            let block = chain.block(if next == 0 { 0 } else { 6 });
            writeln!(out, "begin write 1").unwrap();
            out.flush().unwrap();
            db.write_block(&block).unwrap();
        }
        let (h, t) = db.read(|s| s.top()).unwrap().unwrap();
        writeln!(out, "committed {h} {}", hex::encode(t)).unwrap();
        out.flush().unwrap();
    }
}

/// What the child last said.
#[derive(Debug, Clone, Default)]
struct Heard {
    committed: Option<(u64, String)>,
    in_flight: Option<String>,
    lines: u64,
}

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[test]
fn a_killed_writer_leaves_every_committed_block_intact() {
    for engine in EngineKind::ALL {
        let dir = tempfile::tempdir().unwrap();
        let mut killed_mid_write = 0;
        let mut last_height = None;
        for round in 0..KILLS {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "crash_child",
                    "--nocapture",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(CHILD_DIR, dir.path())
                .env(CHILD_ENGINE, engine.name())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let heard = Arc::new(Mutex::new(Heard::default()));
            let reader = {
                let heard = Arc::clone(&heard);
                let stdout = child.stdout.take().unwrap();
                std::thread::spawn(move || {
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        let mut h = heard.lock().unwrap();
                        h.lines += 1;
                        if let Some(rest) = line.strip_prefix("committed ") {
                            let (height, hash) = rest.split_once(' ').unwrap();
                            h.committed = Some((height.parse().unwrap(), hash.to_owned()));
                            h.in_flight = None;
                        } else if let Some(rest) = line.strip_prefix("begin ") {
                            h.in_flight = Some(rest.to_owned());
                        }
                    }
                })
            };
            // Let it run a random while: 50 to 800 ms after its first commit.
            let deadline = Instant::now() + Duration::from_secs(20);
            while heard.lock().unwrap().committed.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50 + random_u64() % 750));
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            reader.join().unwrap();
            let heard = heard.lock().unwrap().clone();
            if heard.in_flight.is_some() {
                killed_mid_write += 1;
            }

            let db = Storage::open(&common::config(&dir, *engine)).unwrap();
            let report = db
                .check_integrity()
                .unwrap_or_else(|e| panic!("{}: round {round}: {e}", engine.name()));
            let (height, hash) = db.read(|s| s.top()).unwrap().unwrap();
            let (said_height, said_hash) = heard.committed.clone().unwrap();
            let as_said = height == said_height && hex::encode(hash) == said_hash;
            let one_more = match heard.in_flight.as_deref() {
                Some("write 1") => height == said_height + 1,
                Some("write 4") => height == said_height + 4,
                Some(pop) => pop
                    .strip_prefix("pop ")
                    .is_some_and(|k| height + k.parse::<u64>().unwrap() == said_height),
                None => false,
            };
            assert!(
                as_said || one_more,
                "{}: round {round}: stored top {height}, child said {said_height} then {:?}",
                engine.name(),
                heard.in_flight
            );
            eprintln!(
                "{} round {round}: {} lines heard, top {height} ({}), {} txs, {} key images",
                engine.name(),
                heard.lines,
                if as_said {
                    "as reported"
                } else {
                    "plus the operation in flight"
                },
                report.txs,
                report.key_images
            );
            last_height = Some(height);
        }
        eprintln!(
            "{}: killed during an operation {killed_mid_write} of {KILLS} times",
            engine.name()
        );
        assert!(last_height.unwrap() > 0);
    }
}
