//! Transparent huge pages for RandomX's memory, best effort (Linux only).
//!
//! RandomX reads its 256 MiB cache (light mode) and 2 MiB scratchpads at random; with 4 KiB
//! pages nearly every read misses the TLB. Where the kernel gives transparent huge pages only
//! on request (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`, the usual default)
//! and no huge pages are reserved for `RANDOMX_FLAG_LARGE_PAGES`, a light-mode hash costs
//! about twice as much CPU (measured in `docs/consensus.md`).
//!
//! `randomx-rs` does not expose where RandomX put its memory, so the hasher notes the
//! process's anonymous mappings before creating a cache, dataset or VM, finds the large ones
//! that appeared, and advises them (`MADV_HUGEPAGE`, then `MADV_COLLAPSE` to turn the pages
//! already written into huge pages now). Advice never changes memory contents: if the guess
//! picks another mapping of the process, nothing but its page size changes. Errors (an old
//! kernel without `MADV_COLLAPSE`, THP disabled) are ignored.

/// A mapping: `[start, end)`.
type Range = (usize, usize);

/// The process's anonymous mappings at one moment.
#[derive(Debug, Default)]
pub(crate) struct Snapshot(Vec<Range>);

/// The anonymous, writable mappings of this process.
pub(crate) fn snapshot() -> Snapshot {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return Snapshot::default();
    };
    let ranges = maps
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let _offset = fields.next()?;
            let _device = fields.next()?;
            let inode = fields.next()?;
            // Anonymous: inode 0 and no path (not [heap], [stack], files).
            if inode != "0" || fields.next().is_some() || !perms.starts_with("rw") {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some((
                usize::from_str_radix(start, 16).ok()?,
                usize::from_str_radix(end, 16).ok()?,
            ))
        })
        .collect();
    Snapshot(ranges)
}

/// Advises huge pages for the anonymous mappings of at least `min_len` bytes that exist now
/// but did not in `before`. Returns the bytes advised.
pub(crate) fn advise_new(before: &Snapshot, min_len: usize) -> usize {
    let after = snapshot();
    let mut advised = 0;
    for &(start, end) in &after.0 {
        if end - start < min_len || before.0.contains(&(start, end)) {
            continue;
        }
        if advise(start, end) {
            advised += end - start;
        }
    }
    advised
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise(start: usize, end: usize) -> bool {
    const HUGE_PAGE: usize = 2 * 1024 * 1024;
    // Whole huge pages inside the mapping.
    let aligned_start = start.next_multiple_of(HUGE_PAGE);
    let aligned_end = end - end % HUGE_PAGE;
    if aligned_end <= aligned_start {
        return false;
    }
    let len = aligned_end - aligned_start;
    let addr = aligned_start as *mut libc::c_void;
    // SAFETY: `[addr, addr + len)` lies inside a mapping this process has right now (read
    // from /proc/self/maps just before). `madvise` with MADV_HUGEPAGE or MADV_COLLAPSE only
    // changes how the kernel backs the pages, never their contents, so concurrent readers
    // and writers of that memory (RandomX or anything else) are unaffected. If the mapping
    // was unmapped meanwhile, the calls fail with ENOMEM, which is ignored.
    unsafe {
        if libc::madvise(addr, len, libc::MADV_HUGEPAGE) != 0 {
            return false;
        }
        // Best effort: kernels before 6.1 do not know MADV_COLLAPSE; khugepaged will then
        // collapse the range in the background instead.
        let _ = libc::madvise(addr, len, libc::MADV_COLLAPSE);
    }
    true
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: usize, _end: usize) -> bool {
    false
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

    #[test]
    fn a_new_large_mapping_is_found_and_advised() {
        let before = snapshot();
        let mut big = vec![1u8; 64 * 1024 * 1024];
        let advised = advise_new(&before, 32 * 1024 * 1024);
        // The vector's contents are untouched by the advice.
        assert!(big.iter().all(|&b| b == 1));
        big[12345] = 7;
        assert_eq!(big[12345], 7);
        if cfg!(target_os = "linux") {
            assert!(advised >= 32 * 1024 * 1024, "{advised}");
        }
    }
}
