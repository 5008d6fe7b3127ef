//! The RandomX hasher ([`RandomXHasher`]).

// The wrappers below are the only unsafe code of the crate.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use randomx_rs::{RandomXCache, RandomXDataset, RandomXFlag, RandomXVM};
use rayon::prelude::*;
use tracing::{debug, info, warn};

use super::{JobPlan, PowError, PowHash, PowJob, plan, pow_hash, thp};

/// Size of a RandomX cache (`RANDOMX_ARGON_MEMORY` KiB).
const CACHE_BYTES: usize = 256 * 1024 * 1024;
/// Size of a RandomX dataset (base + extra size).
const DATASET_BYTES: usize = 2_147_483_648 + 33_554_368;
/// Size of a VM's scratchpad (`RANDOMX_SCRATCHPAD_L3`).
const SCRATCHPAD_BYTES: usize = 2 * 1024 * 1024;

/// When to build the full 2080 MiB dataset instead of hashing in light mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetPolicy {
    /// Always light mode.
    Never,
    /// Full mode for a batch ([`RandomXHasher::hash_blocks`] or
    /// [`RandomXHasher::hash_batch`]) with at least this many inputs on one seed; later
    /// single hashes on that seed use the dataset too while it exists.
    MinBatch(usize),
}

/// How the hasher runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomXConfig {
    /// Threads that hash batches (default: the machine's available parallelism).
    pub threads: usize,
    /// Seeds whose caches are kept (at least 1; default 2).
    pub max_caches: usize,
    /// When to use the full dataset (default [`DatasetPolicy::Never`]; see
    /// `docs/consensus.md` for the measured trade-off).
    pub dataset: DatasetPolicy,
    /// Allocate caches and datasets in large pages when the system has them, else in
    /// ordinary pages (default true, as monerod).
    pub large_pages: bool,
    /// Ask Linux for transparent huge pages on RandomX's memory (cache, dataset, VM
    /// scratchpads) when it is not in reserved large pages (default true; about halves the
    /// CPU cost of a light-mode hash where THP is `madvise`, see `docs/consensus.md`).
    pub transparent_huge_pages: bool,
}

impl Default for RandomXConfig {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_caches: 2,
            dataset: DatasetPolicy::Never,
            large_pages: true,
            transparent_huge_pages: true,
        }
    }
}

/// Counters of what the hasher did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HasherStats {
    /// Caches built (one per seed per time it was (re)loaded).
    pub caches_built: u64,
    /// Datasets built.
    pub datasets_built: u64,
    /// VMs created.
    pub vms_created: u64,
    /// Hashes computed in light mode.
    pub light_hashes: u64,
    /// Hashes computed in full mode.
    pub full_hashes: u64,
}

/// A RandomX cache shared by the VMs of many threads.
struct SharedCache(RandomXCache);

// SAFETY: a `randomx_cache` is written only by `randomx_init_cache`, which `RandomXCache::new`
// finishes before returning; after that RandomX only reads it, and its documentation allows
// one cache to back VMs in several threads at once. `RandomXCache` is an `Arc` (atomic
// reference count) around the pointer, so clones may be made and dropped on any thread; the
// cache is released when the last clone, including those inside VMs, is dropped.
unsafe impl Send for SharedCache {}
// SAFETY: see above: shared access is read-only.
unsafe impl Sync for SharedCache {}

/// A RandomX dataset shared by the VMs of many threads.
struct SharedDataset(RandomXDataset);

// SAFETY: as for `SharedCache`: `RandomXDataset::new` initializes every item before
// returning (start 0), the dataset is read-only afterwards and may back VMs in several
// threads; the handle is an `Arc`.
unsafe impl Send for SharedDataset {}
// SAFETY: see above.
unsafe impl Sync for SharedDataset {}

/// A VM owned by one thread at a time.
struct Vm(RandomXVM);

// SAFETY: a `randomx_vm` has no thread affinity (its scratchpad and JIT buffer are plain
// memory); it must not be used by two threads at once, which `Vm` ensures by not being
// `Sync` and by being moved, never shared. The cache or dataset handles it holds are
// `Arc`s (see above).
unsafe impl Send for Vm {}

impl Vm {
    fn hash(&self, input: &[u8]) -> Result<[u8; 32], PowError> {
        let out = self
            .0
            .calculate_hash(input)
            .map_err(|e| PowError::RandomX(e.to_string()))?;
        out.try_into()
            .map_err(|out: Vec<u8>| PowError::RandomX(format!("hash of {} bytes", out.len())))
    }
}

/// `randomx-rs` 1.6 does not check the pointer `randomx_create_vm` returns (null when the
/// scratchpad or the JIT buffer cannot be allocated); hashing with it would crash. Its
/// derived `Debug` prints the pointer, which is the only way to see it.
fn vm_is_null(vm: &RandomXVM) -> bool {
    format!("{vm:?}").contains("vm: 0x0,")
}

/// A pool of VMs over one cache or one dataset.
struct VmPool {
    free: Mutex<Vec<Vm>>,
}

impl VmPool {
    fn new() -> Self {
        Self {
            free: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Option<Vm> {
        lock(&self.free).pop()
    }

    fn give_back(&self, vm: Vm) {
        lock(&self.free).push(vm);
    }
}

/// Locks, ignoring poisoning (the data guarded stays consistent: VMs and entries only).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One seed: its cache (built once) and its light VMs.
struct SeedEntry {
    /// The key (a 32-byte block hash for Monero; RandomX's own test keys are shorter).
    key: Box<[u8]>,
    cache: OnceLock<Result<SharedCache, PowError>>,
    light: VmPool,
}

/// The dataset of one seed and its full-mode VMs.
struct FullEntry {
    key: Box<[u8]>,
    dataset: SharedDataset,
    vms: VmPool,
}

/// The RandomX hasher: caches keyed by seed hash, virtual machines reused across calls, and
/// batches hashed in parallel on a bounded pool of threads.
///
/// # Modes and memory
///
/// - **Light mode** (the default, what monerod uses to verify): one 256 MiB cache per seed,
///   shared by all threads; each thread hashes with its own VM (2 MiB scratchpad + JIT code)
///   over that cache. At most [`RandomXConfig::max_caches`] caches are kept (default 2: the
///   current key and the next, or the previous one across an epoch boundary); the least
///   recently used is dropped when a new seed comes, as soon as no call still uses it.
/// - **Full mode**: a 2080 MiB dataset built from the cache (single-threaded in
///   `randomx-rs` 1.6), after which each hash is several times cheaper. It pays only when a
///   batch holds many blocks on one seed; [`DatasetPolicy`] says when. At most one dataset is
///   kept (a second exists only while calls still running on the old one finish).
/// - VMs are pooled per seed (and per dataset): a call takes one from the pool or makes one,
///   and puts it back; so there are never more VMs than calls running at once (the pool's
///   threads plus callers hashing on their own thread).
///
/// Peak memory: `max_caches * 256 MiB + (threads + callers) * ~2.1 MiB` in light mode, plus
/// 2080 MiB while a dataset exists.
///
/// # Threads
///
/// RandomX VMs are not `Sync` and the `randomx-rs` types are not even `Send` (they hold raw
/// pointers); the hasher wraps them with the guarantees RandomX documents: a cache or a
/// dataset is read-only once built and may back VMs in many threads; a VM is used by one
/// thread at a time. Hashing is CPU-bound and blocking: call it from a blocking context
/// (`tokio::task::spawn_blocking`), never from an async task.
///
/// # Example
///
/// ```no_run
/// use umbra_consensus::pow::{RandomXConfig, RandomXHasher};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hasher = RandomXHasher::new(RandomXConfig::default())?;
/// let hash = hasher.hash(b"test key 000", b"This is a test")?;
/// assert_eq!(hex::encode(hash), "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f");
/// # Ok(()) }
/// ```
pub struct RandomXHasher {
    config: RandomXConfig,
    flags: RandomXFlag,
    pool: rayon::ThreadPool,
    entries: Mutex<Vec<Arc<SeedEntry>>>,
    full: Mutex<Option<Arc<FullEntry>>>,
    dataset_build: Mutex<()>,
    caches_built: AtomicU64,
    datasets_built: AtomicU64,
    vms_created: AtomicU64,
    light_hashes: AtomicU64,
    full_hashes: AtomicU64,
}

impl std::fmt::Debug for RandomXHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomXHasher")
            .field("config", &self.config)
            .field("flags", &self.flags)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Which engine hashes a group of inputs.
enum Engine {
    Light(Arc<SeedEntry>),
    Full(Arc<FullEntry>),
}

impl RandomXHasher {
    /// A hasher with its own pool of `config.threads` threads. No cache is built until a
    /// seed is first used.
    pub fn new(config: RandomXConfig) -> Result<Self, PowError> {
        let threads = config.threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("umbra-randomx-{i}"))
            .build()
            .map_err(|e| PowError::ThreadPool(e.to_string()))?;
        let mut flags = RandomXFlag::get_recommended_flags();
        // monerod verifies with W^X JIT pages (RANDOMX_FLAG_SECURE) outside its miner.
        if flags.contains(RandomXFlag::FLAG_JIT) {
            flags |= RandomXFlag::FLAG_SECURE;
        }
        debug!(?flags, threads, "RandomX hasher ready");
        Ok(Self {
            config: RandomXConfig {
                threads,
                max_caches: config.max_caches.max(1),
                ..config
            },
            flags,
            pool,
            entries: Mutex::new(Vec::new()),
            full: Mutex::new(None),
            dataset_build: Mutex::new(()),
            caches_built: AtomicU64::new(0),
            datasets_built: AtomicU64::new(0),
            vms_created: AtomicU64::new(0),
            light_hashes: AtomicU64::new(0),
            full_hashes: AtomicU64::new(0),
        })
    }

    /// The configuration in effect.
    pub const fn config(&self) -> &RandomXConfig {
        &self.config
    }

    /// What the hasher did so far.
    pub fn stats(&self) -> HasherStats {
        HasherStats {
            caches_built: self.caches_built.load(Ordering::Relaxed),
            datasets_built: self.datasets_built.load(Ordering::Relaxed),
            vms_created: self.vms_created.load(Ordering::Relaxed),
            light_hashes: self.light_hashes.load(Ordering::Relaxed),
            full_hashes: self.full_hashes.load(Ordering::Relaxed),
        }
    }

    /// Seeds whose caches are held, least recently used first.
    pub fn cached_seeds(&self) -> Vec<Vec<u8>> {
        lock(&self.entries)
            .iter()
            .map(|entry| entry.key.to_vec())
            .collect()
    }

    /// Builds the cache for `seed` now (for example the next epoch's key, from a background
    /// thread, before the blocks that need it arrive).
    pub fn prepare(&self, seed: &[u8]) -> Result<(), PowError> {
        let entry = self.entry(seed);
        self.cache_of(&entry).map(|_| ())
    }

    /// One hash, on the calling thread (full mode if a dataset for `seed` exists).
    pub fn hash(&self, seed: &[u8], input: &[u8]) -> Result<[u8; 32], PowError> {
        let engine = self.engine(seed, 1)?;
        let mut lease = self.lease(&engine)?;
        let hash = lease.hash(input);
        self.count(&engine, 1);
        hash
    }

    /// Many hashes, in parallel on the hasher's threads; results in input order.
    pub fn hash_batch(&self, jobs: &[(&[u8], &[u8])]) -> Vec<Result<[u8; 32], PowError>> {
        let mut results: Vec<Option<Result<[u8; 32], PowError>>> = vec![None; jobs.len()];
        // Group by seed, keeping first-seen order.
        let mut groups: Vec<(&[u8], Vec<usize>)> = Vec::new();
        for (i, (seed, _)) in jobs.iter().enumerate() {
            match groups.iter_mut().find(|(s, _)| s == seed) {
                Some((_, indices)) => indices.push(i),
                None => groups.push((seed, vec![i])),
            }
        }
        for (seed, indices) in groups {
            let inputs: Vec<&[u8]> = indices
                .iter()
                .filter_map(|&i| jobs.get(i).map(|job| job.1))
                .collect();
            let hashes = self.hash_group(seed, &inputs);
            for (i, hash) in indices.into_iter().zip(hashes) {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(hash);
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(PowError::RandomX("job not hashed".into()))))
            .collect()
    }

    /// The proof-of-work hashes of blocks, in parallel; results in input order. Each job's
    /// algorithm follows its block's version; non-RandomX blocks fail with
    /// [`PowError::Unsupported`] (except block 202612's fixed hash).
    pub fn hash_blocks(&self, jobs: &[PowJob<'_>]) -> Vec<Result<PowHash, PowError>> {
        let plans: Vec<Result<JobPlan, PowError>> = jobs.iter().map(plan).collect();
        let randomx: Vec<(&[u8], &[u8])> = plans
            .iter()
            .filter_map(|p| match p {
                Ok(JobPlan::RandomX { seed, blob }) => Some((seed.as_slice(), blob.as_slice())),
                _ => None,
            })
            .collect();
        // RandomX results come back in the order of the RandomX jobs.
        let mut hashed = self.hash_batch(&randomx).into_iter();
        jobs.iter()
            .zip(plans.iter())
            .map(|(job, p)| match p {
                Ok(JobPlan::Fixed(hash)) => Ok(pow_hash(job, None, *hash)),
                Ok(JobPlan::RandomX { seed, .. }) => {
                    let hash = hashed
                        .next()
                        .unwrap_or_else(|| Err(PowError::RandomX("job not hashed".into())))?;
                    Ok(pow_hash(job, Some(*seed), hash))
                }
                Err(e) => Err(e.clone()),
            })
            .collect()
    }

    /// The proof-of-work hash of one block, on the calling thread.
    pub fn hash_block(&self, job: &PowJob<'_>) -> Result<PowHash, PowError> {
        match plan(job)? {
            JobPlan::Fixed(hash) => Ok(pow_hash(job, None, hash)),
            JobPlan::RandomX { seed, blob } => {
                let hash = self.hash(&seed, &blob)?;
                Ok(pow_hash(job, Some(seed), hash))
            }
        }
    }

    fn hash_group(&self, seed: &[u8], inputs: &[&[u8]]) -> Vec<Result<[u8; 32], PowError>> {
        let engine = match self.engine(seed, inputs.len()) {
            Ok(engine) => engine,
            Err(e) => return inputs.iter().map(|_| Err(e.clone())).collect(),
        };
        let started = Instant::now();
        let hashes: Vec<Result<[u8; 32], PowError>> = self.pool.install(|| {
            inputs
                .par_iter()
                .map_init(
                    || self.lease(&engine),
                    |lease, input| match lease {
                        Ok(lease) => lease.hash(input),
                        Err(e) => Err(e.clone()),
                    },
                )
                .collect()
        });
        self.count(&engine, inputs.len() as u64);
        debug!(
            inputs = inputs.len(),
            full = matches!(engine, Engine::Full(_)),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "RandomX batch hashed"
        );
        hashes
    }

    fn count(&self, engine: &Engine, n: u64) {
        match engine {
            Engine::Light(_) => self.light_hashes.fetch_add(n, Ordering::Relaxed),
            Engine::Full(_) => self.full_hashes.fetch_add(n, Ordering::Relaxed),
        };
    }

    /// The engine for `inputs` hashes on `seed`: a dataset if one exists for it or the
    /// policy wants one for a batch this large, else the seed's cache.
    fn engine(&self, seed: &[u8], inputs: usize) -> Result<Engine, PowError> {
        if let Some(full) = lock(&self.full).as_ref()
            && *full.key == *seed
        {
            return Ok(Engine::Full(Arc::clone(full)));
        }
        let entry = self.entry(seed);
        let cache = self.cache_of(&entry)?;
        if let DatasetPolicy::MinBatch(min) = self.config.dataset
            && inputs >= min.max(1)
        {
            match self.build_dataset(&entry, cache) {
                Ok(full) => return Ok(Engine::Full(full)),
                Err(e) => warn!(error = %e, "RandomX dataset not available, hashing in light mode"),
            }
        }
        Ok(Engine::Light(entry))
    }

    /// The entry for `seed`, created if new, marked most recently used; evicts the least
    /// recently used beyond `max_caches`.
    fn entry(&self, seed: &[u8]) -> Arc<SeedEntry> {
        let mut entries = lock(&self.entries);
        let entry = match entries.iter().position(|e| *e.key == *seed) {
            Some(i) => entries.remove(i),
            None => Arc::new(SeedEntry {
                key: seed.into(),
                cache: OnceLock::new(),
                light: VmPool::new(),
            }),
        };
        entries.push(Arc::clone(&entry));
        while entries.len() > self.config.max_caches {
            let evicted = entries.remove(0);
            debug!(seed = %hex_short(&evicted.key), "RandomX cache evicted");
        }
        entry
    }

    fn cache_of<'e>(&self, entry: &'e SeedEntry) -> Result<&'e SharedCache, PowError> {
        entry
            .cache
            .get_or_init(|| {
                let started = Instant::now();
                let cache = self.new_cache(&entry.key);
                if cache.is_ok() {
                    self.caches_built.fetch_add(1, Ordering::Relaxed);
                    info!(
                        seed = %hex_short(&entry.key),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "RandomX cache built"
                    );
                }
                cache
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn new_cache(&self, key: &[u8]) -> Result<SharedCache, PowError> {
        if self.config.large_pages
            && let Ok(cache) = RandomXCache::new(self.flags | RandomXFlag::FLAG_LARGE_PAGES, key)
        {
            return Ok(SharedCache(cache));
        }
        let before = self.thp_snapshot();
        let cache = RandomXCache::new(self.flags, key)
            .map(SharedCache)
            .map_err(|e| PowError::RandomX(format!("cache: {e}")))?;
        self.thp_advise(&before, CACHE_BYTES / 2, "cache");
        Ok(cache)
    }

    fn thp_snapshot(&self) -> Option<thp::Snapshot> {
        self.config.transparent_huge_pages.then(thp::snapshot)
    }

    fn thp_advise(&self, before: &Option<thp::Snapshot>, min_len: usize, what: &str) {
        if let Some(before) = before {
            let advised = thp::advise_new(before, min_len);
            debug!(
                what,
                advised_mib = advised >> 20,
                "transparent huge pages advised"
            );
        }
    }

    fn build_dataset(
        &self,
        entry: &SeedEntry,
        cache: &SharedCache,
    ) -> Result<Arc<FullEntry>, PowError> {
        let _building = lock(&self.dataset_build);
        if let Some(full) = lock(&self.full).as_ref()
            && full.key == entry.key
        {
            return Ok(Arc::clone(full));
        }
        // Drop the old dataset before allocating the new one.
        lock(&self.full).take();
        let started = Instant::now();
        let large = self
            .config
            .large_pages
            .then(|| {
                RandomXDataset::new(
                    self.flags | RandomXFlag::FLAG_LARGE_PAGES,
                    cache.0.clone(),
                    0,
                )
                .ok()
            })
            .flatten();
        let dataset = match large {
            Some(dataset) => dataset,
            None => {
                let before = self.thp_snapshot();
                let dataset = RandomXDataset::new(self.flags, cache.0.clone(), 0)
                    .map_err(|e| PowError::RandomX(format!("dataset: {e}")))?;
                self.thp_advise(&before, DATASET_BYTES / 2, "dataset");
                dataset
            }
        };
        self.datasets_built.fetch_add(1, Ordering::Relaxed);
        info!(
            seed = %hex_short(&entry.key),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "RandomX dataset built"
        );
        let full = Arc::new(FullEntry {
            key: entry.key.clone(),
            dataset: SharedDataset(dataset),
            vms: VmPool::new(),
        });
        *lock(&self.full) = Some(Arc::clone(&full));
        Ok(full)
    }

    fn lease<'e>(&self, engine: &'e Engine) -> Result<Lease<'e>, PowError> {
        let (pool, vm) = match engine {
            Engine::Light(entry) => {
                let pool = &entry.light;
                let vm = match pool.take() {
                    Some(vm) => vm,
                    None => {
                        let cache = self.cache_of(entry)?;
                        self.new_vm(self.flags, Some(&cache.0), None)?
                    }
                };
                (pool, vm)
            }
            Engine::Full(full) => {
                let pool = &full.vms;
                let vm = match pool.take() {
                    Some(vm) => vm,
                    None => self.new_vm(
                        self.flags | RandomXFlag::FLAG_FULL_MEM,
                        None,
                        Some(&full.dataset.0),
                    )?,
                };
                (pool, vm)
            }
        };
        Ok(Lease { pool, vm: Some(vm) })
    }

    fn new_vm(
        &self,
        flags: RandomXFlag,
        cache: Option<&RandomXCache>,
        dataset: Option<&RandomXDataset>,
    ) -> Result<Vm, PowError> {
        // No large pages for VMs: a failed large-page VM comes back null (see `vm_is_null`)
        // and could not be released cleanly; the 2 MiB scratchpad gains little from them.
        let before = self.thp_snapshot();
        let vm = RandomXVM::new(flags, cache.cloned(), dataset.cloned())
            .map_err(|e| PowError::RandomX(format!("VM: {e}")))?;
        if vm_is_null(&vm) {
            // Dropping it would call `randomx_destroy_vm(NULL)`, which asserts in debug
            // builds of RandomX: leak the wrapper instead (it holds a reference to the cache,
            // which therefore stays allocated; this happens only when memory is exhausted).
            std::mem::forget(vm);
            return Err(PowError::RandomX(
                "randomx_create_vm returned no VM (out of memory or JIT refused)".into(),
            ));
        }
        self.thp_advise(&before, SCRATCHPAD_BYTES, "VM scratchpad");
        self.vms_created.fetch_add(1, Ordering::Relaxed);
        Ok(Vm(vm))
    }
}

/// A VM taken from a pool, given back on drop.
struct Lease<'p> {
    pool: &'p VmPool,
    vm: Option<Vm>,
}

impl Lease<'_> {
    fn hash(&mut self, input: &[u8]) -> Result<[u8; 32], PowError> {
        match &self.vm {
            Some(vm) => vm.hash(input),
            None => Err(PowError::RandomX("VM already returned".into())),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(vm) = self.vm.take() {
            self.pool.give_back(vm);
        }
    }
}

/// Short hex for logs.
fn hex_short(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    /// RandomX's own reference vectors (`src/tests/tests.cpp` of tevador/RandomX, "Hash test
    /// 1a" to "1f"; the keys are the C strings without their terminating zero, key f is 31
    /// bytes). Test 1f hashes a Monero block hashing blob.
    pub(crate) const REFERENCE: [(&[u8], &[u8], &str); 5] = [
        (
            b"test key 000",
            b"This is a test",
            "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f",
        ),
        (
            b"test key 000",
            b"Lorem ipsum dolor sit amet",
            "300a0adb47603dedb42228ccb2b211104f4da45af709cd7547cd049e9489c969",
        ),
        (
            b"test key 000",
            b"sed do eiusmod tempor incididunt ut labore et dolore magna aliqua",
            "c36d4ed4191e617309867ed66a443be4075014e2b061bcdaf9ce7b721d2b77a8",
        ),
        (
            b"test key 001",
            b"sed do eiusmod tempor incididunt ut labore et dolore magna aliqua",
            "e9ff4503201c0c2cca26d285c93ae883f9b1d30c9eb240b820756f2d5a7905fc",
        ),
        (b"", b"", ""), // replaced by the hex vectors below
    ];

    fn hex_vectors() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
        vec![
            (
                b"test key 001".to_vec(),
                hex::decode("0b0b98bea7e805e0010a2126d287a2a0cc833d312cb786385a7c2f9de69d25537f584a9bc9977b00000000666fd8753bf61a8631f12984e3fd44f4014eca629276817b56f32e9b68bd82f416").unwrap(),
                "c56414121acda1713c2f2a819d8ae38aed7c80c35c2a769298d34f03833cd5f1",
            ),
            (
                hex::decode("7797373ea4633194640bf8d8c3b66724d6aa7bd2dc20e009df2f8f1710abe8").unwrap(),
                hex::decode("1010e1eaf8cf067b37b5f0ee031ab23ed1755e090a3af4415830145853e2be3e1f6821fed84dae58d00e00da5214d6c1f2d0622e0abd51f9373d04e0b0f8e6d6514d90689721c4aac5a9bb0d").unwrap(),
                "78af2a1864c42abce36d2e8983e13df99b2af0ce1362999af09fab004d4435a8",
            ),
        ]
    }

    fn all_vectors() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
        let mut all: Vec<_> = REFERENCE
            .iter()
            .filter(|(k, _, _)| !k.is_empty())
            .map(|(k, i, h)| (k.to_vec(), i.to_vec(), *h))
            .collect();
        all.extend(hex_vectors());
        all
    }

    fn hasher(max_caches: usize) -> RandomXHasher {
        RandomXHasher::new(RandomXConfig {
            threads: 2,
            max_caches,
            ..RandomXConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn reference_vectors_one_by_one_and_in_a_batch() {
        let hasher = hasher(3);
        let vectors = all_vectors();
        assert_eq!(vectors.len(), 6);
        for (key, input, expected) in &vectors {
            assert_eq!(hex::encode(hasher.hash(key, input).unwrap()), *expected);
        }
        // The same in one parallel batch, several times over so threads share VMs.
        let jobs: Vec<(&[u8], &[u8])> = vectors
            .iter()
            .cycle()
            .take(24)
            .map(|(k, i, _)| (k.as_slice(), i.as_slice()))
            .collect();
        let results = hasher.hash_batch(&jobs);
        for ((_, _, expected), got) in vectors.iter().cycle().zip(results) {
            assert_eq!(hex::encode(got.unwrap()), *expected);
        }
        let stats = hasher.stats();
        assert_eq!(stats.caches_built, 3, "one cache per key, built once");
        assert_eq!(stats.light_hashes, 30);
        // VMs are reused: never more than the threads plus this thread, per key.
        assert!(stats.vms_created <= 3 * 3, "{stats:?}");
    }

    #[test]
    fn caches_are_bounded_and_rebuilt_when_evicted() {
        let hasher = hasher(1);
        let (k0, i0, h0) = (b"test key 000", b"This is a test", REFERENCE[0].2);
        let (k1, i1, h1) = (REFERENCE[3].0, REFERENCE[3].1, REFERENCE[3].2);
        assert_eq!(hex::encode(hasher.hash(k0, i0).unwrap()), h0);
        assert_eq!(hex::encode(hasher.hash(k1, i1).unwrap()), h1);
        assert_eq!(hasher.cached_seeds(), vec![k1.to_vec()]);
        assert_eq!(hex::encode(hasher.hash(k0, i0).unwrap()), h0);
        assert_eq!(hasher.stats().caches_built, 3);
    }

    #[test]
    fn a_null_vm_is_recognised() {
        let cache =
            RandomXCache::new(RandomXFlag::get_recommended_flags(), b"test key 000").unwrap();
        let vm = RandomXVM::new(RandomXFlag::get_recommended_flags(), Some(cache), None).unwrap();
        assert!(!vm_is_null(&vm));
        assert!(
            format!("{vm:?}").contains("vm: 0x"),
            "randomx-rs changed its Debug output"
        );
    }
}
