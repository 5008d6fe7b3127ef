//! Temporary measurement.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]
use randomx_rs::{RandomXCache, RandomXDataset, RandomXFlag, RandomXVM};
use std::time::{Duration, Instant};

/// CPU time of this thread (from /proc/thread-self/schedstat, ns).
fn cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    Duration::from_nanos(s.split_whitespace().next().unwrap().parse().unwrap())
}

fn main() {
    let flags = RandomXFlag::get_recommended_flags();
    println!("recommended flags: {flags:?}");
    let key = [7u8; 32];
    let t = Instant::now(); let c = cpu();
    let cache = RandomXCache::new(flags, &key).unwrap();
    println!("cache init: {:?} wall, {:?} cpu", t.elapsed(), cpu() - c);
    let n = 200;
    for (name, f) in [("light", flags), ("light+secure", flags | RandomXFlag::FLAG_SECURE)] {
        let vm = RandomXVM::new(f, Some(cache.clone()), None).unwrap();
        let t = Instant::now(); let c = cpu();
        for i in 0..n {
            let input = format!("block blob {i} .........................................................");
            vm.calculate_hash(input.as_bytes()).unwrap();
        }
        let e = cpu() - c; println!("wall {:?}", t.elapsed());
        println!("{name}: {n} hashes in {e:?} = {:.1} H/s", n as f64 / e.as_secs_f64());
    }
    if std::env::args().any(|a| a == "full") {
        let t = Instant::now(); let c = cpu();
        let ds = RandomXDataset::new(flags, cache, 0).unwrap();
        println!("dataset init (1 thread): {:?} wall {:?} cpu", t.elapsed(), cpu() - c);
        let vm = RandomXVM::new(flags | RandomXFlag::FLAG_FULL_MEM, None, Some(ds)).unwrap();
        let n = 2000;
        let t = Instant::now(); let c = cpu();
        for i in 0..n {
            let input = format!("block blob {i} .........................................................");
            vm.calculate_hash(input.as_bytes()).unwrap();
        }
        let e = cpu() - c; println!("wall {:?}", t.elapsed());
        println!("full: {n} hashes in {e:?} = {:.1} H/s", n as f64 / e.as_secs_f64());
    }
}
