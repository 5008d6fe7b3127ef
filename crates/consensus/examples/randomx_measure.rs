//! Measures RandomX on this machine through [`RandomXHasher`]: cache and dataset build
//! times, light-mode and full-mode hashes per second per thread, and a batch of block
//! hashing blobs on several threads (what syncing a chain costs).
//!
//! ```text
//! cargo run --release -p umbra-consensus --example randomx_measure -- [--blocks N] [--threads T] [--full] [--no-thp] [--fixture DIR]
//! ```
//!
//! CPU time is read from `/proc` (per thread and per process), so the figures stay
//! meaningful on a machine shared with other work; wall time is printed too. With
//! `--fixture DIR` (a regtest chain fixture, `blocks/<height>.bin`), the batch hashes the
//! real blocks 1..=N with their real keys; otherwise synthetic 76-byte blobs on one key.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use umbra_consensus::block::parse_block;
use umbra_consensus::pow::{DatasetPolicy, PowJob, RandomXConfig, RandomXHasher, seed_height};

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

/// CPU time of the whole process (all threads).
fn process_cpu() -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let s = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

fn synthetic_blob(i: u64) -> Vec<u8> {
    // Shaped like a v16 hashing blob: header (43 bytes), Merkle root, tx count.
    let mut blob = vec![16u8, 16];
    blob.extend_from_slice(&[0x80, 0xc0, 0xe4, 0xa9, 0x06]);
    blob.extend_from_slice(&[0x5a; 32]);
    blob.extend_from_slice(&(i as u32).to_le_bytes());
    let mut root = [0u8; 32];
    root[..8].copy_from_slice(&i.to_le_bytes());
    blob.extend_from_slice(&root);
    blob.push(1);
    blob
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let blocks: u64 = arg("--blocks").map_or(2000, |v| v.parse().unwrap());
    let threads: usize = arg("--threads").map_or(2, |v| v.parse().unwrap());
    let full = args.iter().any(|a| a == "--full");
    let thp = !args.iter().any(|a| a == "--no-thp");
    let fixture = arg("--fixture").cloned();

    let key = [0x41u8; 32];
    println!(
        "machine: {} CPUs online, load average {}",
        num_cpus(),
        load_average()
    );

    // 1. Cache build and light mode, one thread.
    let hasher = RandomXHasher::new(RandomXConfig {
        threads,
        dataset: DatasetPolicy::Never,
        transparent_huge_pages: thp,
        ..RandomXConfig::default()
    })
    .unwrap();
    let (w, c) = (Instant::now(), thread_cpu());
    hasher.prepare(&key).unwrap();
    println!(
        "cache build (argon2, 256 MiB):  {:>8.0} ms wall  {:>8.0} ms cpu",
        ms(w.elapsed()),
        ms(thread_cpu() - c)
    );
    let n_light = 100;
    hasher.hash(&key, &synthetic_blob(0)).unwrap(); // VM creation out of the timing
    let (w, c) = (Instant::now(), thread_cpu());
    for i in 0..n_light {
        hasher.hash(&key, &synthetic_blob(i)).unwrap();
    }
    let cpu = thread_cpu() - c;
    println!(
        "light, 1 thread:               {:>8.2} ms/hash cpu  {:>7.1} hashes/s per thread  ({:.2} ms/hash wall)",
        ms(cpu) / n_light as f64,
        n_light as f64 / cpu.as_secs_f64(),
        ms(w.elapsed()) / n_light as f64
    );

    // 2. The batch: N blocks on `threads` threads.
    let (w, c) = (Instant::now(), process_cpu());
    let hashed = if let Some(dir) = &fixture {
        let parsed: Vec<_> = (1..=blocks)
            .map(|h| {
                let bytes = std::fs::read(format!("{dir}/blocks/{h}.bin")).unwrap();
                parse_block(&bytes, u64::MAX).unwrap()
            })
            .collect();
        let hashes: Vec<[u8; 32]> = (0..=blocks)
            .map(|h| {
                let bytes = std::fs::read(format!("{dir}/blocks/{h}.bin")).unwrap();
                parse_block(&bytes, u64::MAX).unwrap().hash()
            })
            .collect();
        let jobs: Vec<PowJob<'_>> = parsed
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let height = i as u64 + 1;
                PowJob {
                    block,
                    height,
                    seed: Some(hashes[seed_height(height) as usize]),
                }
            })
            .collect();
        let (w2, c2) = (Instant::now(), process_cpu());
        let results = hasher.hash_blocks(&jobs);
        assert!(results.iter().all(Result::is_ok));
        println!(
            "  (parsing {} fixture blocks took {:.0} ms; the batch below excludes it: {:.0} ms wall, {:.0} ms cpu)",
            blocks,
            ms(w2 - w),
            ms(w2.elapsed()),
            ms(process_cpu() - c2)
        );
        results.len()
    } else {
        let blobs: Vec<Vec<u8>> = (0..blocks).map(synthetic_blob).collect();
        let jobs: Vec<(&[u8], &[u8])> = blobs
            .iter()
            .map(|b| (key.as_slice(), b.as_slice()))
            .collect();
        let results = hasher.hash_batch(&jobs);
        assert!(results.iter().all(Result::is_ok));
        results.len()
    };
    let wall = w.elapsed();
    let cpu = process_cpu() - c;
    println!(
        "light batch, {threads} threads, {hashed} blocks: {:>8.0} ms wall  {:>8.0} ms cpu  ({:.1} blocks/s)",
        ms(wall),
        ms(cpu),
        hashed as f64 / wall.as_secs_f64()
    );
    println!("stats: {:?}", hasher.stats());

    if !full {
        return;
    }
    // 3. Full mode: dataset build (one thread in randomx-rs 1.6) and hashes per thread.
    let full_hasher = RandomXHasher::new(RandomXConfig {
        threads,
        dataset: DatasetPolicy::MinBatch(1),
        transparent_huge_pages: thp,
        ..RandomXConfig::default()
    })
    .unwrap();
    let (w, c) = (Instant::now(), process_cpu());
    let first = full_hasher.hash_batch(&[(key.as_slice(), synthetic_blob(0).as_slice())]);
    assert!(first[0].is_ok());
    println!(
        "dataset build (2080 MiB):      {:>8.0} ms wall  {:>8.0} ms cpu",
        ms(w.elapsed()),
        ms(process_cpu() - c)
    );
    // Full and light mode give the same hashes.
    for i in 0..10 {
        assert_eq!(
            full_hasher.hash(&key, &synthetic_blob(i)).unwrap(),
            hasher.hash(&key, &synthetic_blob(i)).unwrap()
        );
    }
    let n_full = 2000;
    let (w, c) = (Instant::now(), thread_cpu());
    for i in 0..n_full {
        full_hasher.hash(&key, &synthetic_blob(i)).unwrap();
    }
    let cpu = thread_cpu() - c;
    println!(
        "full, 1 thread:                {:>8.2} ms/hash cpu  {:>7.1} hashes/s per thread  ({:.2} ms/hash wall)",
        ms(cpu) / n_full as f64,
        n_full as f64 / cpu.as_secs_f64(),
        ms(w.elapsed()) / n_full as f64
    );
    println!("stats: {:?}", full_hasher.stats());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
