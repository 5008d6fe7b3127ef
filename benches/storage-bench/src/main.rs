//! `storage-bench`: umbra-storage's chain workload on redb and on LMDB (heed), side by side
//! in one run, reported as ratios.
//!
//! The same synthetic chain (RingCT blocks of type-6 transactions, 1–2 inputs and 2–16
//! outputs each, ring size 16; see `umbra_storage::synthetic`) is written through the
//! real schema on each engine, then read back. The engines are **interleaved**: each block
//! is written to every database in turn (the first one rotating), each batch of reads runs
//! on every database in turn, so that the load of a shared machine falls on all of them
//! alike and the ratios stay meaningful even when the absolute figures drift.
//!
//! - **sync write**: every block in its own durable transaction (`Storage::write_block`),
//!   as a node at the tip stores blocks; blocks/s and the latency of one block (median,
//!   99th percentile);
//! - **batched write**: `Storage::write_blocks`, `--batch` blocks per transaction, as
//!   during initial sync;
//! - **random reads**, one thread, warm page cache: a key image (spent, or not) per
//!   snapshot; 1,000 key images in one snapshot; a ring of 16 random RingCT outputs by
//!   global index per snapshot; a transaction by hash; the whole chain's block metadata
//!   in one range read;
//! - **file size** after the sync write, against the bytes of blobs stored;
//! - **reopen after a crash**: a child process (this binary, `--crash-child`) writes the
//!   chain and is killed with SIGKILL; the time to open the database again and read its
//!   top (redb repairs a database that was not closed cleanly; LMDB needs nothing).
//!
//! redb runs twice: with `redb_quick_repair` (two-phase commit, the allocator state saved
//! at each commit) and without. Reads are measured once for redb (the option does not
//! change them).
//!
//! ```sh
//! cargo run --release -p umbra-storage-bench -- --blocks 3000 --txs 8 --rounds 3 --dir /path/on/the/disk
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{
    io::{BufRead, Write},
    path::{Path, PathBuf},
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
    about = "umbra-storage on redb vs LMDB: sync writes, batched writes, random reads, file size, crash reopen"
)]
struct Args {
    /// Blocks in the chain.
    #[arg(long, default_value_t = 3000)]
    blocks: u64,
    /// Mean transactions per block (each block has between half and 1.5 times this).
    #[arg(long, default_value_t = 8)]
    txs: u64,
    /// Blocks per transaction in the batched-write test.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Random reads per read test and engine.
    #[arg(long, default_value_t = 100_000)]
    reads: u64,
    /// Directory for the databases (on the disk to measure; default: a temporary
    /// directory under the system's).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the synthetic chain and of the read patterns.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Rounds; the report gives each figure's median over the rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Internal: write the chain into this directory, say so, and wait to be killed.
    #[arg(long, hide = true)]
    crash_child: Option<PathBuf>,
    /// Internal: the variant of `--crash-child` (`redb`, `redb-qr`, `lmdb`).
    #[arg(long, hide = true, default_value = "redb")]
    child_variant: String,
}

/// An engine as configured for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Redb,
    RedbQuickRepair,
    Lmdb,
}

const VARIANTS: [Variant; 3] = [Variant::Redb, Variant::RedbQuickRepair, Variant::Lmdb];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Redb => "redb",
            Variant::RedbQuickRepair => "redb-qr",
            Variant::Lmdb => "lmdb",
        }
    }

    fn from_name(name: &str) -> Variant {
        VARIANTS
            .into_iter()
            .find(|v| v.name() == name)
            .unwrap_or(Variant::Redb)
    }

    fn config(self, dir: &Path) -> StorageConfig {
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

    /// Whether reads are measured on this variant.
    fn reads(self) -> bool {
        self != Variant::RedbQuickRepair
    }
}

/// One variant's figures in one round.
#[derive(Debug, Default, Clone)]
struct Figures {
    sync_blocks_per_s: f64,
    sync_p50_ms: f64,
    sync_p99_ms: f64,
    batch_blocks_per_s: f64,
    reopen_ms: f64,
    ki_hit_per_s: f64,
    ki_miss_per_s: f64,
    ki_batch_per_s: f64,
    ring_per_s: f64,
    tx_per_s: f64,
    infos_per_s: f64,
    file_apparent: u64,
    file_allocated: u64,
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
    let mut w = Workload {
        blocks: Vec::new(),
        key_images: Vec::new(),
        tx_hashes: Vec::new(),
        rct_outputs: 0,
        blob_bytes: 0,
    };
    for height in 0..args.blocks {
        let txs = if height == 0 {
            0
        } else {
            args.txs / 2 + rng.below(args.txs + 1)
        };
        let block = chain.block(usize::try_from(txs).unwrap_or(0));
        w.blob_bytes += block.blob.len() as u64;
        w.rct_outputs += block.block.miner_transaction().prefix().outputs.len() as u64;
        for tx in &block.txs {
            w.blob_bytes += tx.blob.len() as u64;
            w.tx_hashes.push(tx.hash);
            w.rct_outputs += tx.tx.prefix().outputs.len() as u64;
            for input in &tx.tx.prefix().inputs {
                if let Input::ToKey { key_image, .. } = input {
                    w.key_images.push(key_image.to_bytes());
                }
            }
        }
        w.blocks.push(block);
    }
    w
}

fn fail(what: &str) -> ! {
    eprintln!("storage-bench: {what}");
    std::process::exit(1)
}

fn open(dir: &Path, variant: Variant) -> Storage {
    Storage::open(&variant.config(dir))
        .unwrap_or_else(|e| fail(&format!("open {}: {e}", variant.name())))
}

fn fresh(base: &Path, what: &str, variant: Variant) -> (PathBuf, Storage) {
    let dir = base.join(format!("{}-{what}", variant.name()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = open(&dir, variant);
    (dir, db)
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn percentile_ms(sorted: &[Duration], percent: usize) -> f64 {
    let i = sorted.len().saturating_sub(1) * percent / 100;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// The child of the reopen test: writes the chain, says `written`, waits to be killed.
fn crash_child(args: &Args, dir: &Path) -> ! {
    let w = workload(args);
    let db = open(dir, Variant::from_name(&args.child_variant));
    for chunk in w.blocks.chunks(args.batch.max(1)) {
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
fn reopen_after_kill(variant: Variant, args: &Args, base: &Path) -> f64 {
    let dir = base.join(format!("{}-crash", variant.name()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("own path: {e}")));
    let mut child = std::process::Command::new(exe)
        .arg("--crash-child")
        .arg(&dir)
        .args(["--child-variant", variant.name()])
        .args([
            "--blocks",
            &args.blocks.to_string(),
            "--txs",
            &args.txs.to_string(),
        ])
        .args([
            "--seed",
            &args.seed.to_string(),
            "--batch",
            &args.batch.to_string(),
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

/// Times `op` on every database in `dbs` (those whose variant reads), `chunks` times
/// each, interleaved; returns the total time per database. `op` gets the chunk number so
/// that every database gets the same requests.
fn interleave(
    dbs: &[(Variant, Storage)],
    chunks: u64,
    mut op: impl FnMut(&Storage, u64),
) -> Vec<Duration> {
    let mut total = vec![Duration::ZERO; dbs.len()];
    for chunk in 0..chunks {
        for (i, (variant, db)) in dbs.iter().enumerate() {
            if !variant.reads() {
                continue;
            }
            let start = Instant::now();
            op(db, chunk);
            if let Some(t) = total.get_mut(i) {
                *t += start.elapsed();
            }
        }
    }
    total
}

/// One round over every variant.
fn round(w: &Workload, args: &Args, base: &Path, round: usize) -> Vec<Figures> {
    let mut figures = vec![Figures::default(); VARIANTS.len()];
    let n = VARIANTS.len();

    // Sync writes, interleaved block by block, the first variant rotating.
    let opened: Vec<(PathBuf, Storage)> =
        VARIANTS.iter().map(|v| fresh(base, "sync", *v)).collect();
    let mut latencies = vec![Vec::with_capacity(w.blocks.len()); n];
    let mut busy = vec![Duration::ZERO; n];
    for (k, block) in w.blocks.iter().enumerate() {
        for j in 0..n {
            let i = (j + k + round) % n;
            let Some((_, db)) = opened.get(i) else {
                continue;
            };
            let start = Instant::now();
            if let Err(e) = db.write_block(block) {
                fail(&format!("write block {}: {e}", block.height));
            }
            let t = start.elapsed();
            if let (Some(l), Some(b)) = (latencies.get_mut(i), busy.get_mut(i)) {
                l.push(t);
                *b += t;
            }
        }
    }
    for (i, f) in figures.iter_mut().enumerate() {
        let (Some(l), Some(b), Some((_, db))) = (latencies.get_mut(i), busy.get(i), opened.get(i))
        else {
            continue;
        };
        l.sort();
        f.sync_blocks_per_s = per_second(w.blocks.len() as u64, *b);
        f.sync_p50_ms = percentile_ms(l, 50);
        f.sync_p99_ms = percentile_ms(l, 99);
        let size = db
            .file_size()
            .unwrap_or_else(|e| fail(&format!("file size: {e}")));
        f.file_apparent = size.apparent;
        f.file_allocated = size.allocated;
    }

    // Reads, interleaved in chunks of 1,000 requests.
    let dbs: Vec<(Variant, Storage)> = VARIANTS
        .iter()
        .copied()
        .zip(opened.into_iter().map(|(_, db)| db))
        .collect();
    // Read patterns from their own streams (not the chain generator's: a "random" key
    // image drawn from the chain's stream would be spent).
    let seed = (args.seed ^ 0xdead_beef) << 32 ^ (round as u64) << 24;
    let pick = |rng: &mut Rng, list: &[Hash]| {
        list.get(rng.below(list.len() as u64) as usize)
            .copied()
            .unwrap_or([0; 32])
    };
    let chunks = (args.reads / 1000).max(1);
    let ops = chunks * 1000;
    let assign =
        |figures: &mut [Figures], totals: Vec<Duration>, count: u64, set: fn(&mut Figures, f64)| {
            for (f, t) in figures.iter_mut().zip(totals) {
                set(f, per_second(count, t));
            }
        };

    let t = interleave(&dbs, chunks, |db, c| {
        let mut rng = Rng::new(seed + c * 8);
        for _ in 0..1000 {
            let ki = pick(&mut rng, &w.key_images);
            match db.read(|s| s.key_image_spent(&ki)) {
                Ok(true) => {}
                Ok(false) => fail("a spent key image reads as unspent"),
                Err(e) => fail(&format!("key image read: {e}")),
            }
        }
    });
    assign(&mut figures, t, ops, |f, v| f.ki_hit_per_s = v);

    let t = interleave(&dbs, chunks, |db, c| {
        let mut rng = Rng::new(seed + c * 8 + 1);
        for _ in 0..1000 {
            let ki = rng.hash();
            match db.read(|s| s.key_image_spent(&ki)) {
                Ok(false) => {}
                Ok(true) => fail("a random key image reads as spent"),
                Err(e) => fail(&format!("key image read: {e}")),
            }
        }
    });
    assign(&mut figures, t, ops, |f, v| f.ki_miss_per_s = v);

    let t = interleave(&dbs, chunks, |db, c| {
        let mut rng = Rng::new(seed + c * 8 + 2);
        let batch: Vec<Hash> = (0..1000).map(|_| pick(&mut rng, &w.key_images)).collect();
        let spent = db.read(|s| s.key_images_spent(&batch)).unwrap_or_default();
        if spent.len() != batch.len() || spent.iter().any(|s| !s) {
            fail("a batch of spent key images reads wrong");
        }
    });
    assign(&mut figures, t, ops, |f, v| f.ki_batch_per_s = v);

    let t = interleave(&dbs, chunks, |db, c| {
        let mut rng = Rng::new(seed + c * 8 + 3);
        for _ in 0..1000 / 16 {
            let ids: Vec<OutputId> = (0..16)
                .map(|_| OutputId::rct(rng.below(w.rct_outputs)))
                .collect();
            let outs = db.read(|s| s.outputs(&ids)).unwrap_or_default();
            if outs.len() != 16 || outs.iter().any(Option::is_none) {
                fail("a ring member is missing");
            }
        }
    });
    assign(&mut figures, t, chunks * (1000 / 16) * 16, |f, v| {
        f.ring_per_s = v;
    });

    let tx_chunks = (chunks / 10).max(1);
    let t = interleave(&dbs, tx_chunks, |db, c| {
        let mut rng = Rng::new(seed + c * 8 + 4);
        for _ in 0..1000 {
            let hash = pick(&mut rng, &w.tx_hashes);
            if !matches!(db.read(|s| s.tx(&hash)), Ok(Some(_))) {
                fail("a transaction is missing");
            }
        }
    });
    assign(&mut figures, t, tx_chunks * 1000, |f, v| f.tx_per_s = v);

    let t = interleave(&dbs, 20, |db, _| {
        let got = db
            .read(|s| s.block_infos(0..w.blocks.len() as u64))
            .unwrap_or_default();
        if got.len() != w.blocks.len() {
            fail("block metadata missing");
        }
    });
    assign(&mut figures, t, 20 * w.blocks.len() as u64, |f, v| {
        f.infos_per_s = v;
    });

    drop(dbs);
    for v in VARIANTS {
        let _ = std::fs::remove_dir_all(base.join(format!("{}-sync", v.name())));
    }

    // Batched writes, interleaved batch by batch.
    let opened: Vec<(PathBuf, Storage)> =
        VARIANTS.iter().map(|v| fresh(base, "batch", *v)).collect();
    let mut busy = vec![Duration::ZERO; n];
    for (k, chunk) in w.blocks.chunks(args.batch.max(1)).enumerate() {
        for j in 0..n {
            let i = (j + k + round) % n;
            let Some((_, db)) = opened.get(i) else {
                continue;
            };
            let start = Instant::now();
            if let Err(e) = db.write_blocks(chunk) {
                fail(&format!("batched write: {e}"));
            }
            if let Some(b) = busy.get_mut(i) {
                *b += start.elapsed();
            }
        }
    }
    for (f, b) in figures.iter_mut().zip(&busy) {
        f.batch_blocks_per_s = per_second(w.blocks.len() as u64, *b);
    }
    for (dir, db) in opened {
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    // Reopen after a kill.
    for (f, v) in figures.iter_mut().zip(VARIANTS) {
        f.reopen_ms = reopen_after_kill(v, args, base);
    }
    figures
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
        reopen_ms: m(|f| f.reopen_ms),
        ki_hit_per_s: m(|f| f.ki_hit_per_s),
        ki_miss_per_s: m(|f| f.ki_miss_per_s),
        ki_batch_per_s: m(|f| f.ki_batch_per_s),
        ring_per_s: m(|f| f.ring_per_s),
        tx_per_s: m(|f| f.tx_per_s),
        infos_per_s: m(|f| f.infos_per_s),
        file_apparent: mu(|f| f.file_apparent),
        file_allocated: mu(|f| f.file_allocated),
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
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); VARIANTS.len()];
    for r in 0..args.rounds.max(1) {
        eprintln!("round {} ...", r + 1);
        for (list, f) in results.iter_mut().zip(round(&w, &args, &base, r)) {
            list.push(f);
        }
    }
    let [r, q, l] = [0, 1, 2].map(|i| results.get(i).map(|f| median(f)).unwrap_or_default());

    println!(
        "| metric | redb | redb, quick repair | LMDB (heed) | redb / LMDB | redb quick repair / LMDB |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, a: f64, qr: Option<f64>, b: f64, unit: &str| {
        let ratio = |x: f64| format!("{:.2}", x / b.max(1e-12));
        let (qv, qratio) = qr.map_or_else(
            || ("(as redb)".to_owned(), String::new()),
            |v| (format!("{v:.1} {unit}"), ratio(v)),
        );
        println!(
            "| {name} | {a:.1} {unit} | {qv} | {b:.1} {unit} | {} | {qratio} |",
            ratio(a)
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
        "RingCT output by index (rings of 16 per snapshot)",
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
        "\nmedians of {} rounds; {} blocks, {} txs, {:.1} MB of blobs; allocated file / blobs: redb {:.2}, LMDB {:.2}",
        args.rounds.max(1),
        w.blocks.len(),
        w.tx_hashes.len(),
        w.blob_bytes as f64 / 1e6,
        r.file_allocated as f64 / w.blob_bytes as f64,
        l.file_allocated as f64 / w.blob_bytes as f64
    );
}
