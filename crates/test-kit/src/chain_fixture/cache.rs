//! Where the fixture lives, how its dir is named, the completion marker, and the build lock.
//!
//! ```text
//! <root>/                                        $UMBRA_FIXTURE_DIR or ~/.cache/umbra-fixtures
//!   regtest-chain-r<RECIPE>-monerod-<version>/   a complete fixture (has COMPLETE)
//!   regtest-chain-r<RECIPE>-monerod-<version>.lock          flock'd while building
//!   .regtest-chain-r<RECIPE>-monerod-<version>.tmp-<pid>-<n>/  a build in progress (or a
//!                                                dead one, removed by the next build)
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::ChainFixtureError;
use crate::process;

/// Version of the recipe (what is mined and sent, what is exported). Part of the cache dir's
/// name: bumping it makes every user rebuild.
pub const RECIPE_VERSION: u32 = 1;

/// Environment variable naming the cache root (default `$HOME/.cache/umbra-fixtures`).
pub const FIXTURE_DIR_ENV: &str = "UMBRA_FIXTURE_DIR";

/// Name of the completion marker, written last (before the atomic rename): a fixture dir
/// without it is never used.
pub const COMPLETE_MARKER_NAME: &str = "COMPLETE";

/// Default bound on waiting for another process's build (a build takes 12–14 minutes on
/// the shared 2-core machine here).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(45 * 60);

/// Pause between attempts to take the build lock.
const LOCK_POLL: Duration = Duration::from_millis(250);

/// Bound on `monerod --version`.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest marker file read.
const MAX_MARKER_BYTES: u64 = 64 * 1024;

/// The cache root: `explicit`, else the value of `UMBRA_FIXTURE_DIR` (`env`), else
/// `<home>/.cache/umbra-fixtures`; `None` when none is known.
pub(crate) fn cache_root(
    explicit: Option<&Path>,
    env: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    if let Some(dir) = env.filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    home.filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".cache").join("umbra-fixtures"))
}

/// The fixture dir's name for a recipe version and a monerod version string.
pub(crate) fn dir_name(recipe: u32, monerod_version: &str) -> String {
    format!(
        "regtest-chain-r{recipe}-monerod-{}",
        sanitize(monerod_version)
    )
}

/// Keeps `[A-Za-z0-9._-]`, replaces anything else by `_`; `unknown` when empty.
fn sanitize(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "unknown".to_owned()
    } else {
        clean
    }
}

/// The version in `--version` output such as `Monero 'Fluorine Fermi' (v0.18.0.0-unknown)`:
/// `0.18.0.0-unknown`.
pub(crate) fn parse_version(output: &str) -> Option<String> {
    let start = output.find("(v")?.checked_add(2)?;
    let rest = output.get(start..)?;
    let end = rest.find(')')?;
    let version = rest.get(..end)?.trim();
    (!version.is_empty()).then(|| version.to_owned())
}

/// Runs `binary --version` (bounded) and parses the version; remembered per binary path for
/// the life of the process (monerod takes about a second to print it).
pub(crate) fn binary_version(binary: &Path) -> Result<String, ChainFixtureError> {
    static KNOWN: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());
    if let Some(version) = KNOWN.lock().ok().and_then(|k| k.get(binary).cloned()) {
        return Ok(version);
    }
    let version = probe_version(binary)?;
    if let Ok(mut known) = KNOWN.lock() {
        known.insert(binary.to_path_buf(), version.clone());
    }
    Ok(version)
}

fn probe_version(binary: &Path) -> Result<String, ChainFixtureError> {
    let failed = |detail: String| ChainFixtureError::Version {
        binary: binary.to_path_buf(),
        detail,
    };
    let mut command = Command::new(binary);
    command
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = process::spawn(command).map_err(|e| failed(format!("could not run: {e}")))?;
    let deadline = Instant::now() + VERSION_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = process::stop_child(&mut child, "version probe", Duration::from_secs(1));
                return Err(failed(format!("did not exit within {VERSION_TIMEOUT:?}")));
            }
            Err(e) => return Err(failed(format!("could not wait for it: {e}"))),
        }
    }
    let mut output = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .by_ref()
            .take(MAX_MARKER_BYTES)
            .read_to_string(&mut output)
            .map_err(|e| failed(format!("could not read its output: {e}")))?;
    }
    parse_version(&output).ok_or_else(|| failed(format!("no \"(v...)\" in {output:?}")))
}

/// The completion marker's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marker {
    pub(crate) recipe_version: u32,
    pub(crate) facts_format: u32,
    pub(crate) monerod_version: String,
    pub(crate) tip_height: u64,
    pub(crate) tip_hash: String,
}

/// The marker of `dir`, if it has a readable one.
pub(crate) fn read_marker(dir: &Path) -> Option<Marker> {
    let file = File::open(dir.join(COMPLETE_MARKER_NAME)).ok()?;
    let mut text = String::new();
    file.take(MAX_MARKER_BYTES).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `dir` holds a complete fixture of this recipe, facts format and monerod version.
pub(crate) fn is_complete(dir: &Path, monerod_version: &str) -> bool {
    read_marker(dir).is_some_and(|m| {
        m.recipe_version == RECIPE_VERSION
            && m.facts_format == super::facts::FACTS_FORMAT
            && m.monerod_version == monerod_version
    })
}

/// Writes the marker durably: to a temporary name, synced, renamed, dir synced.
pub(crate) fn write_marker(dir: &Path, marker: &Marker) -> io::Result<()> {
    let text = serde_json::to_string_pretty(marker).map_err(io::Error::other)?;
    let temp = dir.join(format!("{COMPLETE_MARKER_NAME}.tmp"));
    let mut file = File::create(&temp)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, dir.join(COMPLETE_MARKER_NAME))?;
    sync_dir(dir)
}

/// fsyncs a directory, so a rename inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive `flock` on the fixture's lock file, held while building; released when
/// dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct BuildLock {
    _file: File,
}

impl BuildLock {
    /// Takes the lock on `path` (created if missing), polling until `timeout`.
    pub(crate) fn acquire(path: &Path, timeout: Duration) -> Result<Self, ChainFixtureError> {
        let io_err = |source| ChainFixtureError::Io {
            what: "open the build lock",
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err)?;
        let started = Instant::now();
        let mut announced = false;
        loop {
            if process::try_lock_exclusive(&file).map_err(io_err)? {
                return Ok(Self { _file: file });
            }
            if !announced {
                tracing::info!(lock = %path.display(), "another process is building the chain fixture; waiting");
                announced = true;
            }
            if started.elapsed() >= timeout {
                return Err(ChainFixtureError::LockTimeout {
                    lock: path.to_path_buf(),
                    waited: started.elapsed(),
                });
            }
            thread::sleep(LOCK_POLL);
        }
    }
}

/// A fresh build dir beside the fixture dir: `.<name>.tmp-<pid>-<nanos>`.
pub(crate) fn temp_build_dir(root: &Path, name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    root.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()))
}

/// Removes build dirs of `name` left by builds that died (call only while holding the lock).
pub(crate) fn remove_stale_builds(root: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            tracing::info!(dir = %path.display(), "removing an unfinished fixture build");
            if let Err(error) = fs::remove_dir_all(&path) {
                tracing::warn!(dir = %path.display(), %error, "could not remove it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_comes_from_the_argument_then_the_env_then_home() {
        let explicit = cache_root(
            Some(Path::new("/x")),
            Some("/env".into()),
            Some("/home/u".into()),
        );
        assert_eq!(explicit, Some(PathBuf::from("/x")));
        let env = cache_root(None, Some("/env".into()), Some("/home/u".into()));
        assert_eq!(env, Some(PathBuf::from("/env")));
        let home = cache_root(None, Some("".into()), Some("/home/u".into()));
        assert_eq!(home, Some(PathBuf::from("/home/u/.cache/umbra-fixtures")));
        assert_eq!(cache_root(None, None, None), None);
    }

    #[test]
    fn dir_name_carries_recipe_and_a_clean_monerod_version() {
        assert_eq!(
            dir_name(1, "0.18.0.0-unknown"),
            "regtest-chain-r1-monerod-0.18.0.0-unknown"
        );
        assert_eq!(
            dir_name(7, "1.0 beta/x"),
            "regtest-chain-r7-monerod-1.0_beta_x"
        );
        assert_eq!(dir_name(1, ""), "regtest-chain-r1-monerod-unknown");
        assert_ne!(dir_name(1, "0.18.0.0"), dir_name(2, "0.18.0.0"));
        assert_ne!(dir_name(1, "0.18.0.0"), dir_name(1, "0.18.1.0"));
    }

    #[test]
    fn version_is_parsed_from_monerods_banner() {
        assert_eq!(
            parse_version("Monero 'Fluorine Fermi' (v0.18.0.0-unknown)\n").as_deref(),
            Some("0.18.0.0-unknown")
        );
        assert_eq!(parse_version("no version here"), None);
        assert_eq!(parse_version("x (v)"), None);
        assert_eq!(parse_version("x (v1.2"), None);
    }

    #[test]
    fn installed_monerod_reports_a_version() {
        let binary = crate::monerod::resolve_monerod_binary(None);
        if !binary.exists() {
            return;
        }
        let version = binary_version(&binary).unwrap();
        assert!(version.starts_with("0."), "{version}");
        let missing = binary_version(Path::new("/nonexistent/monerod")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/monerod"),
            "{missing}"
        );
    }

    #[test]
    fn only_a_matching_marker_makes_a_dir_complete() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_complete(dir.path(), "v"), "no marker");
        fs::write(dir.path().join(COMPLETE_MARKER_NAME), "garbage").unwrap();
        assert!(!is_complete(dir.path(), "v"), "unreadable marker");
        let mut marker = Marker {
            recipe_version: RECIPE_VERSION,
            facts_format: super::super::facts::FACTS_FORMAT,
            monerod_version: "v".to_owned(),
            tip_height: 5,
            tip_hash: "ab".to_owned(),
        };
        write_marker(dir.path(), &marker).unwrap();
        assert!(is_complete(dir.path(), "v"));
        assert!(!is_complete(dir.path(), "other"), "other monerod");
        assert_eq!(read_marker(dir.path()), Some(marker.clone()));
        marker.recipe_version += 1;
        write_marker(dir.path(), &marker).unwrap();
        assert!(!is_complete(dir.path(), "v"), "other recipe");
        assert!(!dir.path().join("COMPLETE.tmp").exists());
    }

    #[test]
    fn the_lock_is_exclusive_and_waiting_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.lock");
        let held = BuildLock::acquire(&path, Duration::from_secs(1)).unwrap();
        let started = Instant::now();
        let err = BuildLock::acquire(&path, Duration::from_millis(300)).unwrap_err();
        assert!(
            matches!(err, ChainFixtureError::LockTimeout { .. }),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // A waiter gets the lock once the holder lets go.
        let waiter =
            thread::spawn(move || BuildLock::acquire(&path, Duration::from_secs(10)).map(|_| ()));
        thread::sleep(Duration::from_millis(300));
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn stale_build_dirs_of_this_fixture_only_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let mine = temp_build_dir(root.path(), "fx");
        fs::create_dir_all(mine.join("sub")).unwrap();
        let other = root.path().join(".other.tmp-1-2");
        fs::create_dir_all(&other).unwrap();
        let complete = root.path().join("fx");
        fs::create_dir_all(&complete).unwrap();
        remove_stale_builds(root.path(), "fx");
        assert!(!mine.exists());
        assert!(other.exists());
        assert!(complete.exists());
    }
}
