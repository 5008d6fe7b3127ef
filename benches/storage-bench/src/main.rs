//! `storage-bench`: umbra-storage's chain workload on redb and on LMDB (heed), side by side
//! in one run, reported as ratios.
//!
//! The same synthetic chain (RingCT blocks of type-6 transactions, 1–2 inputs and 2–16
//! outputs each, ring size 16; see `umbra_storage::synthetic`) is written through the
//! real schema on each engine, then read back:
//!
//! - **sync write**: every block in its own durable transaction (`Storage::write_block`:
//!   one fsync per block), as a node at the tip stores blocks; blocks/s and the latency of
//!   one block (median and 99th percentile);
//! - **batched write**: `Storage::write_blocks` with `--batch` blocks per transaction, as
//!   during initial sync;
//! - **random reads**, single thread, warm page cache: a key image (spent, or not) per
//!   snapshot; 1,000 key images in one snapshot; a ring of 16 random RingCT outputs by
//!   global index per snapshot; a transaction by hash; the whole chain's block metadata in
//!   one range read;
//! - **file size** after the sync write, against the bytes of blobs stored;
//! - **reopen after a crash**: a child process (this binary, `--crash-child`) writes the
//!   chain and is killed with SIGKILL; the time to open the database again and read its
//!   top (redb repairs a database that was not closed cleanly; LMDB needs nothing).
//!
//! redb runs twice: as configured by default, and with `redb_quick_repair` (two-phase
//! commit and the allocator state saved at each commit; only the write and reopen figures
//! are measured for it, reads are the same engine).
//!
//! ```sh
//! cargo run --release -p umbra-storage-bench -- --blocks 2000 --txs 8 --dir /path/on/the/disk
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::Parser;
use monero_oxide::transaction::Input;
use umbra_storage::{
    EngineKind, Hash, OutputId, Storage, StorageConfig, VerifiedBlock,
    synthetic::{Rng, SyntheticChain},
};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    about = "umbra-storage on redb vs LMDB: sync writes, batched writes, random reads, file size"
)]
struct Args {
    /// Blocks in the chain.
    #[arg(long, default_value_t = 2000)]
    blocks: u64,
    /// Mean transactions per block (each block has between half and 1.5 times this).
    #[arg(long, default_value_t = 8)]
    txs: u64,
    /// Blocks per transaction in the batched-write test.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Random reads per read test.
    #[arg(long, default_value_t = 100_000)]
    reads: u64,
    /// Directory for the databases (on the disk to measure; default: a temporary
    /// directory under the system's).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the synthetic chain and of the read patterns.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Rounds; each runs both engines, in alternating order, and the report gives each
    /// figure's median over the rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Internal: write the chain into this directory, say so, and wait to be killed.
    #[arg(long, hide = true)]
    crash_child: Option<PathBuf>,
    /// Internal: the engine of `--crash-child` (`redb`, `redb-qr`, `lmdb`).
    #[arg(long, hide = true, default_value = "redb")]
    child_engine: String,
}

/// An engine as configured for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Redb,
    RedbQuickRepair,
    Lmdb,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Redb => "redb",
            Variant::RedbQuickRepair => "redb-qr",
            Variant::Lmdb => "lmdb",
        }
    }

    fn from_name(name: &str) -> Variant {
        match name {
            "redb-qr" => Variant::RedbQuickRepair,
            "lmdb" => Variant::Lmdb,
            _ => Variant::Redb,
        }
    }

    fn config(self, dir: &std::path::Path) -> StorageConfig {
        let engine = if self == Variant::Lmdb {
            EngineKind::Lmdb
        } else {
            EngineKind::Redb
        };
        let mut config = StorageConfig::new(dir).with_engine(engine);
        config.lmdb_map_size = 64 << 30;
        config.redb_quick_repair = self == Variant::RedbQuickRepair;
        config
    }
}

/// One engine's figures.
#[derive(Debug, Default, Clone)]
struct Figures {
    sync_blocks_per_s: f64,
    sync_p50_ms: f64,
    sync_p99_ms: f64,
    batch_blocks_per_s: f64,
    ki_hit_per_s: f64,
    ki_miss_per_s: f64,
    ki_batch_per_s: f64,
    ring_per_s: f64,
    tx_per_s: f64,
    infos_per_s: f64,
    file_apparent: u64,
    file_allocated: u64,
    reopen_ms: f64,
}

struct Workload {
    blocks: Vec<VerifiedBlock>,
    key_images: Vec<Hash>,
    tx_hashes: Vec<Hash>,
    rct_outputs: u64,
    blob_bytes: u64,
}

fn workload(args: &Args) -> Workload {
    let mut chain = SyntheticChain::new(args.seed);
    let mut rng = Rng::new(args.seed ^ 0x5eed);
    let mut blocks = Vec::new();
    let mut key_images = Vec::new();
    let mut tx_hashes = Vec::new();
    let mut rct_outputs = 0;
    let mut blob_bytes = 0;
    for height in 0..args.blocks {
        let txs = if height == 0 {
            0
        } else {
            args.txs / 2 + rng.below(args.txs + 1)
        };
        let block = chain.block(usize::try_from(txs).unwrap_or(0));
        blob_bytes += block.blob.len() as u64;
        rct_outputs += block.block.miner_transaction().prefix().outputs.len() as u64;
        for tx in &block.txs {
            blob_bytes += tx.blob.len() as u64;
            tx_hashes.push(tx.hash);
            rct_outputs += tx.tx.prefix().outputs.len() as u64;
            for input in &tx.tx.prefix().inputs {
                if let Input::ToKey { key_image, .. } = input {
                    key_images.push(key_image.to_bytes());
                }
            }
        }
        blocks.push(block);
    }
    Workload {
        blocks,
        key_images,
        tx_hashes,
        rct_outputs,
        blob_bytes,
    }
}

fn open(dir: &std::path::Path, variant: Variant) -> Storage {
    match Storage::open(&variant.config(dir)) {
        Ok(s) => s,
        Err(e) => fail(&format!("open {}: {e}", variant.name())),
    }
}

/// The child of the reopen test: writes the chain, says `written`, waits to be killed.
fn crash_child(args: &Args, dir: &std::path::Path) -> ! {
    use std::io::Write;
    let w = workload(args);
    let db = open(dir, Variant::from_name(&args.child_engine));
    for chunk in w.blocks.chunks(100) {
        if let Err(e) = db.write_blocks(chunk) {
            fail(&format!("child write: {e}"));
        }
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "written");
    let _ = out.flush();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Runs the child, kills it once it has written everything, and times the reopen.
fn reopen_after_kill(variant: Variant, args: &Args, base: &std::path::Path) -> f64 {
    use std::io::BufRead;
    let dir = base.join(format!("{}-crash", variant.name()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("own path: {e}")));
    let mut child = std::process::Command::new(exe)
        .arg("--crash-child")
        .arg(&dir)
        .args(["--child-engine", variant.name()])
        .args([
            "--blocks",
            &args.blocks.to_string(),
            "--txs",
            &args.txs.to_string(),
            "--seed",
            &args.seed.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("spawn child: {e}")));
    let said = child
        .stdout
        .take()
        .map(|out| std::io::BufReader::new(out).lines().next());
    if !matches!(said, Some(Some(Ok(ref line))) if line == "written") {
        let _ = child.kill();
        fail("the crash child did not finish writing");
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let start = Instant::now();
    let db = open(&dir, variant);
    let top = db
        .read(|s| s.top())
        .unwrap_or_else(|e| fail(&format!("read after reopen: {e}")));
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if top.map(|(h, _)| h + 1) != Some(args.blocks) {
        fail("the reopened database lost blocks");
    }
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    ms
}

fn fail(what: &str) -> ! {
    eprintln!("storage-bench: {what}");
    std::process::exit(1)
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn run(variant: Variant, w: &Workload, args: &Args, base: &std::path::Path) -> Figures {
    let mut f = Figures::default();
    let dir = base.join(format!("{}-sync", variant.name()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = open(&dir, variant);

    // Sync writes: one durable transaction per block.
    let mut latencies = Vec::with_capacity(w.blocks.len());
    let start = Instant::now();
    for block in &w.blocks {
        let t = Instant::now();
        if let Err(e) = db.write_block(block) {
            fail(&format!("write block {}: {e}", block.height));
        }
        latencies.push(t.elapsed());
    }
    f.sync_blocks_per_s = per_second(w.blocks.len() as u64, start.elapsed());
    latencies.sort();
    let pick = |percent: usize| {
        let i = latencies.len().saturating_sub(1) * percent / 100;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    f.sync_p50_ms = pick(50);
    f.sync_p99_ms = pick(99);
    let size = db
        .file_size()
        .unwrap_or_else(|e| fail(&format!("file size: {e}")));
    f.file_apparent = size.apparent;
    f.file_allocated = size.allocated;
    let reads_too = variant != Variant::RedbQuickRepair;

    // Random reads.
    if reads_too {
        let mut rng = Rng::new(args.seed ^ 0x4ead);
        let reads = args.reads;
        let pick_ki = |rng: &mut Rng| {
            w.key_images
                .get(rng.below(w.key_images.len() as u64) as usize)
                .copied()
                .unwrap_or([0; 32])
        };

        let start = Instant::now();
        for _ in 0..reads {
            let ki = pick_ki(&mut rng);
            let spent = db.read(|s| s.key_image_spent(&ki)).unwrap_or(false);
            if !spent {
                fail("a spent key image reads as unspent");
            }
        }
        f.ki_hit_per_s = per_second(reads, start.elapsed());

        let start = Instant::now();
        for _ in 0..reads {
            let ki = rng.hash();
            if db.read(|s| s.key_image_spent(&ki)).unwrap_or(true) {
                fail("a random key image reads as spent");
            }
        }
        f.ki_miss_per_s = per_second(reads, start.elapsed());

        let start = Instant::now();
        let mut done = 0;
        while done < reads {
            let batch: Vec<Hash> = (0..1000).map(|_| pick_ki(&mut rng)).collect();
            let spent = db.read(|s| s.key_images_spent(&batch)).unwrap_or_default();
            if spent.iter().any(|s| !s) || spent.len() != batch.len() {
                fail("a batch of spent key images reads wrong");
            }
            done += 1000;
        }
        f.ki_batch_per_s = per_second(done, start.elapsed());

        let rings = (reads / 16).max(1);
        let start = Instant::now();
        for _ in 0..rings {
            let ids: Vec<OutputId> = (0..16)
                .map(|_| OutputId::rct(rng.below(w.rct_outputs)))
                .collect();
            let outs = db.read(|s| s.outputs(&ids)).unwrap_or_default();
            if outs.iter().any(Option::is_none) || outs.len() != 16 {
                fail("a ring member is missing");
            }
        }
        f.ring_per_s = per_second(rings * 16, start.elapsed());

        let txs = (reads / 10).max(1);
        let start = Instant::now();
        for _ in 0..txs {
            let hash = w
                .tx_hashes
                .get(rng.below(w.tx_hashes.len() as u64) as usize)
                .copied()
                .unwrap_or([0; 32]);
            if !matches!(db.read(|s| s.tx(&hash)), Ok(Some(_))) {
                fail("a transaction is missing");
            }
        }
        f.tx_per_s = per_second(txs, start.elapsed());

        let rounds = 20;
        let start = Instant::now();
        let mut infos = 0u64;
        for _ in 0..rounds {
            let got = db
                .read(|s| s.block_infos(0..w.blocks.len() as u64))
                .unwrap_or_default();
            infos += got.len() as u64;
        }
        f.infos_per_s = per_second(infos, start.elapsed());
    }

    if let Err(e) = db.check_integrity() {
        fail(&format!("{} integrity: {e}", variant.name()));
    }
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);

    // Batched writes.
    let dir = base.join(format!("{}-batch", variant.name()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = open(&dir, variant);
    let start = Instant::now();
    for chunk in w.blocks.chunks(args.batch.max(1)) {
        if let Err(e) = db.write_blocks(chunk) {
            fail(&format!("batched write: {e}"));
        }
    }
    f.batch_blocks_per_s = per_second(w.blocks.len() as u64, start.elapsed());
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);

    f.reopen_ms = reopen_after_kill(variant, args, base);
    f
}

/// Each figure's median over the rounds.
fn median(rounds: &[Figures]) -> Figures {
    let m = |get: fn(&Figures) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(get).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let mu = |get: fn(&Figures) -> u64| {
        let mut v: Vec<u64> = rounds.iter().map(get).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    Figures {
        sync_blocks_per_s: m(|f| f.sync_blocks_per_s),
        sync_p50_ms: m(|f| f.sync_p50_ms),
        sync_p99_ms: m(|f| f.sync_p99_ms),
        batch_blocks_per_s: m(|f| f.batch_blocks_per_s),
        ki_hit_per_s: m(|f| f.ki_hit_per_s),
        ki_miss_per_s: m(|f| f.ki_miss_per_s),
        ki_batch_per_s: m(|f| f.ki_batch_per_s),
        ring_per_s: m(|f| f.ring_per_s),
        tx_per_s: m(|f| f.tx_per_s),
        infos_per_s: m(|f| f.infos_per_s),
        file_apparent: mu(|f| f.file_apparent),
        file_allocated: mu(|f| f.file_allocated),
        reopen_ms: m(|f| f.reopen_ms),
    }
}

fn main() {
    let args = Args::parse();
    if let Some(dir) = &args.crash_child {
        crash_child(&args, dir);
    }
    let tmp;
    let base = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            tmp = tempfile::tempdir().unwrap_or_else(|e| fail(&format!("temp dir: {e}")));
            tmp.path().to_path_buf()
        }
    };
    if let Err(e) = std::fs::create_dir_all(&base) {
        fail(&format!("create {}: {e}", base.display()));
    }
    eprintln!("generating {} blocks ...", args.blocks);
    let w = workload(&args);
    eprintln!(
        "{} blocks, {} txs, {} key images, {} RingCT outputs, {:.1} MB of blobs",
        w.blocks.len(),
        w.tx_hashes.len(),
        w.key_images.len(),
        w.rct_outputs,
        w.blob_bytes as f64 / 1e6
    );
    let variants = [Variant::Redb, Variant::RedbQuickRepair, Variant::Lmdb];
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); variants.len()];
    for round in 0..args.rounds.max(1) {
        let mut order: Vec<usize> = (0..variants.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let Some(variant) = variants.get(i) else {
                continue;
            };
            eprintln!("round {}: {} ...", round + 1, variant.name());
            let figures = run(*variant, &w, &args, &base);
            if let Some(list) = results.get_mut(i) {
                list.push(figures);
            }
        }
    }
    let [r, q, l] = [0, 1, 2].map(|i| results.get(i).map(|f| median(f)).unwrap_or_default());

    println!("| metric | redb | redb, quick repair | LMDB (heed) | redb / LMDB |");
    println!("|---|---:|---:|---:|---:|");
    let row = |name: &str, a: f64, qr: Option<f64>, b: f64, unit: &str| {
        let qr = qr.map_or_else(|| "(same as redb)".to_owned(), |v| format!("{v:.1} {unit}"));
        println!(
            "| {name} | {a:.1} {unit} | {qr} | {b:.1} {unit} | {:.2} |",
            a / b.max(1e-12)
        );
    };
    row(
        "sync write, 1 block per durable commit",
        r.sync_blocks_per_s,
        Some(q.sync_blocks_per_s),
        l.sync_blocks_per_s,
        "blocks/s",
    );
    row(
        "  latency of one block, median",
        r.sync_p50_ms,
        Some(q.sync_p50_ms),
        l.sync_p50_ms,
        "ms",
    );
    row(
        "  latency of one block, p99",
        r.sync_p99_ms,
        Some(q.sync_p99_ms),
        l.sync_p99_ms,
        "ms",
    );
    row(
        &format!("batched write, {} blocks per commit", args.batch),
        r.batch_blocks_per_s,
        Some(q.batch_blocks_per_s),
        l.batch_blocks_per_s,
        "blocks/s",
    );
    row(
        "reopen after SIGKILL (open + read top)",
        r.reopen_ms,
        Some(q.reopen_ms),
        l.reopen_ms,
        "ms",
    );
    row(
        "key image, spent (1 per snapshot)",
        r.ki_hit_per_s / 1e3,
        None,
        l.ki_hit_per_s / 1e3,
        "k/s",
    );
    row(
        "key image, unspent (1 per snapshot)",
        r.ki_miss_per_s / 1e3,
        None,
        l.ki_miss_per_s / 1e3,
        "k/s",
    );
    row(
        "key images, 1,000 per snapshot",
        r.ki_batch_per_s / 1e3,
        None,
        l.ki_batch_per_s / 1e3,
        "k/s",
    );
    row(
        "RingCT output by index (rings of 16)",
        r.ring_per_s / 1e3,
        None,
        l.ring_per_s / 1e3,
        "k/s",
    );
    row(
        "transaction by hash",
        r.tx_per_s / 1e3,
        None,
        l.tx_per_s / 1e3,
        "k/s",
    );
    row(
        "block metadata, whole-chain range",
        r.infos_per_s / 1e6,
        None,
        l.infos_per_s / 1e6,
        "M/s",
    );
    row(
        "file size (apparent)",
        r.file_apparent as f64 / 1e6,
        Some(q.file_apparent as f64 / 1e6),
        l.file_apparent as f64 / 1e6,
        "MB",
    );
    row(
        "file size (allocated on disk)",
        r.file_allocated as f64 / 1e6,
        Some(q.file_allocated as f64 / 1e6),
        l.file_allocated as f64 / 1e6,
        "MB",
    );
    println!(
        "\nmedians of {} rounds; blobs stored: {:.1} MB ({} blocks, {} txs); allocated file / blobs: redb {:.2}, LMDB {:.2}",
        args.rounds.max(1),
        w.blob_bytes as f64 / 1e6,
        w.blocks.len(),
        w.tx_hashes.len(),
        r.file_allocated as f64 / w.blob_bytes as f64,
        l.file_allocated as f64 / w.blob_bytes as f64
    );
}
