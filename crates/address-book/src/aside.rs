//! Keeping unusable peers files aside: renamed, never deleted on discovery, and at most
//! [`MAX_KEPT_ASIDE`] of them per peers file.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
};

/// How many set-aside copies of one peers file are kept. A new one is always kept; beyond
/// this many, the oldest are deleted, so that a file that keeps going bad (a failing disk,
/// a foreign program writing there) cannot fill the data directory.
pub const MAX_KEPT_ASIDE: usize = 8;

/// `<file name>.corrupt-`: the prefix of every set-aside copy of `path`.
fn prefix(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    Some(format!("{name}.corrupt-"))
}

/// The `(seconds, sequence)` of a set-aside name `<prefix><secs>` or `<prefix><secs>-<n>`.
fn parse_suffix(suffix: &str) -> Option<(u64, u64)> {
    match suffix.split_once('-') {
        None => Some((suffix.parse().ok()?, 0)),
        Some((secs, n)) => Some((secs.parse().ok()?, n.parse().ok()?)),
    }
}

/// The set-aside copies of `path` in its directory, with their `(seconds, sequence)`.
fn existing(path: &Path) -> Vec<((u64, u64), PathBuf)> {
    let (Some(dir), Some(prefix)) = (path.parent(), prefix(path)) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let key = parse_suffix(name.to_str()?.strip_prefix(&prefix)?)?;
            Some((key, entry.path()))
        })
        .collect()
}

/// Renames `path` to `<path>.corrupt-<unix seconds>` (with `-<n>` appended when that name
/// is taken), deletes the oldest copies beyond [`MAX_KEPT_ASIDE`], and returns the new
/// name, or `None` if the rename failed (logged).
pub(crate) fn set_aside(path: &Path, now_secs: u64) -> Option<PathBuf> {
    let mut copies = existing(path);
    let sequence = copies
        .iter()
        .filter(|((secs, _), _)| *secs == now_secs)
        .map(|((_, n), _)| n + 1)
        .max();
    let mut target = OsString::from(path.as_os_str());
    target.push(format!(".corrupt-{now_secs}"));
    if let Some(n) = sequence {
        target.push(format!("-{n}"));
    }
    let target = PathBuf::from(target);
    if let Err(error) = fs::rename(path, &target) {
        tracing::warn!(
            path = %path.display(),
            %error,
            "could not set the unusable peers file aside; it will be overwritten at the next save"
        );
        return None;
    }
    // Oldest first; the copy just made is never deleted, whatever the clock says.
    copies.sort_by_key(|(key, _)| *key);
    let excess = (copies.len() + 1).saturating_sub(MAX_KEPT_ASIDE);
    for (_, old) in copies.iter().take(excess) {
        if let Err(error) = fs::remove_file(old) {
            tracing::debug!(path = %old.display(), %error, "could not delete an old set-aside peers file");
        }
    }
    Some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_parse() {
        assert_eq!(parse_suffix("17"), Some((17, 0)));
        assert_eq!(parse_suffix("17-3"), Some((17, 3)));
        assert_eq!(parse_suffix("x"), None);
        assert_eq!(parse_suffix("17-"), None);
    }

    #[test]
    fn copies_are_named_in_sequence_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clearnet-peers.epee");
        let mut made = Vec::new();
        for i in 0..20 {
            fs::write(&path, format!("bad {i}")).unwrap();
            let secs = if i < 12 { 100 } else { 200 };
            made.push(set_aside(&path, secs).unwrap());
            assert!(!path.exists());
        }
        assert_eq!(
            made[0].file_name().unwrap(),
            "clearnet-peers.epee.corrupt-100"
        );
        assert_eq!(
            made[1].file_name().unwrap(),
            "clearnet-peers.epee.corrupt-100-1"
        );
        assert_eq!(
            made[12].file_name().unwrap(),
            "clearnet-peers.epee.corrupt-200"
        );
        let left = existing(&path);
        assert_eq!(left.len(), MAX_KEPT_ASIDE);
        // The newest are the ones kept.
        for kept in &made[20 - MAX_KEPT_ASIDE..] {
            assert!(kept.exists(), "{}", kept.display());
        }
        assert_eq!(fs::read_to_string(&made[19]).unwrap(), "bad 19");
    }
}
