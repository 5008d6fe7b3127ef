//! The peers file: its format, loading (which never fails the caller) and atomic saving.
//!
//! One file per zone, `<data_dir>/<zone>-peers.epee`, holding one epee document
//! ([`PeerFile`]). Reading it is bounded twice over: the file may be at most
//! [`max_file_bytes`] long, and it is decoded with epee [`Limits`] sized for
//! [`LOAD_SLACK`] times the configured bounds (never less than for the default bounds, so
//! that lowering a bound does not turn the previous file into a "corrupt" one). Within
//! those limits, a list longer than its bound is cut to its most recently seen entries.

use std::{
    ffi::OsString,
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    time::SystemTime,
};

use umbra_epee::{EpeeObject, Limits};
use umbra_p2p_core::{NetworkZone, PeerCandidate, ZoneAddr};
use umbra_wire::{NetworkAddress, PeerListEntry};

use crate::{AddressBook, AddressBookConfig, AddressBookError, BookStats, FileError, aside, time};

/// The format version this build reads and writes.
pub const FILE_VERSION: u32 = 1;

/// Decoding accepts up to this many times the configured bounds (in entries), so that a
/// file a little over the bounds (hand-edited, or written with larger bounds) is cut to
/// size instead of thrown away.
pub const LOAD_SLACK: usize = 2;

/// The most bytes one entry may take in the file: a Tor or I2P entry with a host of the
/// longest accepted length (255 bytes) takes about 330.
const BYTES_PER_ENTRY: u64 = 512;

/// The peers file: one epee document.
///
/// ```text
/// version  u32                    FILE_VERSION (1)
/// zone     string                 the zone's NAME ("clearnet"), checked on load
/// white    array of peerlist_entry  as monerod's peer lists: adr, id, last_seen, …
/// gray     array of peerlist_entry
/// anchors  array of peerlist_entry
/// bans     array of { addr: network_address (the ban key), until: u64 seconds since the epoch }
/// ```
///
/// Empty lists are not written (epee's rule), and an absent list reads as empty.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct PeerFile {
    /// The format version ([`FILE_VERSION`]).
    pub version: u32,
    /// The zone the file belongs to (`NetworkZone::NAME`).
    pub zone: String,
    /// The white list.
    pub white: Vec<PeerListEntry>,
    /// The gray list.
    pub gray: Vec<PeerListEntry>,
    /// The anchors.
    pub anchors: Vec<PeerListEntry>,
    /// Bans in force when the file was written.
    pub bans: Vec<BanRecord>,
}

/// One ban of the peers file.
#[derive(Debug, Clone, PartialEq, Eq, EpeeObject)]
pub struct BanRecord {
    /// The banned host (a ban key: on clearnet the IP with port 0).
    pub addr: NetworkAddress,
    /// When the ban ends, in seconds since the epoch.
    pub until: u64,
}

/// The fields read first, to refuse another version or zone with a clear message before
/// decoding the rest.
#[derive(Debug, EpeeObject)]
struct FileHeader {
    version: u32,
    zone: String,
}

/// What [`AddressBook::load_with_report`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadReport {
    /// No data directory is configured: the book lives in memory only.
    NotPersistent,
    /// There is no peers file yet (first start): an empty book.
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The file was loaded.
    Loaded {
        /// The file.
        path: PathBuf,
        /// What the book holds now.
        stats: BookStats,
        /// Entries of another zone, skipped.
        foreign: usize,
        /// Entries dropped by the bounds and rules: over a bound, unroutable, banned
        /// hosts, expired bans, duplicates.
        dropped: usize,
    },
    /// The file could not be used: it was set aside and the book starts empty.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        error: FileError,
        /// Where it was moved, or `None` if moving it failed.
        set_aside: Option<PathBuf>,
    },
}

/// The largest peers file a book with `config`'s bounds will read.
#[must_use]
pub fn max_file_bytes(config: &AddressBookConfig) -> u64 {
    let entries = u64::try_from(entry_budget(config)).unwrap_or(u64::MAX);
    entries.saturating_mul(BYTES_PER_ENTRY).saturating_add(4096)
}

/// How many entries (over all lists and bans) decoding accepts.
fn entry_budget(config: &AddressBookConfig) -> usize {
    config
        .total_entries()
        .max(AddressBookConfig::default().total_entries())
        .saturating_mul(LOAD_SLACK)
}

/// Epee limits for a peers file: each entry is at most three objects (entry, address,
/// address body), about a dozen fields and one string (a host name).
fn limits(config: &AddressBookConfig) -> Limits {
    let budget = entry_budget(config);
    Limits {
        max_depth: 10,
        max_objects: budget.saturating_mul(3).saturating_add(16),
        max_fields: budget.saturating_mul(16).saturating_add(64),
        max_strings: budget.saturating_mul(2).saturating_add(16),
        max_string_len: 4096,
        max_array_len: budget,
    }
}

/// Reads and checks the file: size, epee, version, zone.
fn read_file<Z: NetworkZone>(
    path: &Path,
    config: &AddressBookConfig,
) -> Result<Option<PeerFile>, FileError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(FileError::Read(error)),
    };
    let max = max_file_bytes(config);
    // The size is checked before reading, and the read is capped too (the file could grow
    // in between).
    if let Ok(metadata) = file.metadata()
        && metadata.len() > max
    {
        return Err(FileError::TooLarge {
            len: metadata.len(),
            max,
        });
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FileError::Read)?;
    decode_peers_file::<Z>(&bytes, config).map(Some)
}

/// Decodes the bytes of zone `Z`'s peers file as loading does: at most
/// [`max_file_bytes`] of them, an epee document within the limits that `config`'s bounds
/// give (see the module docs), of format [`FILE_VERSION`] and of zone `Z`.
///
/// The bytes are untrusted (anything may be on the disk); this is the decoder the
/// `address_book_peers_file` fuzz target drives.
///
/// # Errors
/// [`FileError::TooLarge`], [`FileError::Decode`], [`FileError::Version`] or
/// [`FileError::Zone`].
pub fn decode_peers_file<Z: NetworkZone>(
    bytes: &[u8],
    config: &AddressBookConfig,
) -> Result<PeerFile, FileError> {
    let max = max_file_bytes(config);
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > max {
        return Err(FileError::TooLarge { len, max });
    }
    let limits = limits(config);
    let header: FileHeader =
        umbra_epee::from_slice_with_limits(bytes, limits).map_err(FileError::Decode)?;
    if header.version != FILE_VERSION {
        return Err(FileError::Version {
            found: header.version,
            expected: FILE_VERSION,
        });
    }
    if header.zone != Z::NAME {
        return Err(FileError::Zone {
            found: header.zone,
            expected: Z::NAME,
        });
    }
    umbra_epee::from_slice_with_limits(bytes, limits).map_err(FileError::Decode)
}

/// Entries of zone `Z`, and how many were of another zone.
fn candidates<A: ZoneAddr>(entries: &[PeerListEntry]) -> (Vec<PeerCandidate<A>>, usize) {
    let peers: Vec<_> = entries
        .iter()
        .filter_map(PeerCandidate::from_wire)
        .collect();
    let foreign = entries.len() - peers.len();
    (peers, foreign)
}

impl<Z: NetworkZone> AddressBook<Z> {
    /// The book saved in `config.data_dir`, or an empty one. Never fails: see
    /// [`AddressBook::load_with_report`].
    #[must_use]
    pub fn load(config: AddressBookConfig, now: SystemTime) -> Self {
        Self::load_with_report(config, now).0
    }

    /// The book saved in `config.data_dir`, and what was found.
    ///
    /// - No data directory: an empty in-memory book.
    /// - No file: an empty book (logged at info).
    /// - A file that cannot be read, is too large, is not a valid document, has another
    ///   format version or belongs to another zone: logged at warn with the file and the
    ///   exact error, renamed to `<file>.corrupt-<unix seconds>` (kept; see
    ///   [`crate::MAX_KEPT_ASIDE`]), and an empty book. The node starts either way.
    /// - Otherwise the entries are loaded within the bounds: entries of other zones are
    ///   skipped (logged), unroutable addresses, banned hosts and expired bans are
    ///   dropped, and a list over its bound keeps its most recently seen entries.
    #[must_use]
    pub fn load_with_report(config: AddressBookConfig, now: SystemTime) -> (Self, LoadReport) {
        let Some(path) = config.peers_file::<Z>() else {
            return (Self::new(config), LoadReport::NotPersistent);
        };
        let mut book = Self::new(config);
        let file = match read_file::<Z>(&path, book.config()) {
            Ok(Some(file)) => file,
            Ok(None) => {
                tracing::info!(
                    zone = Z::NAME,
                    path = %path.display(),
                    "no peers file yet; starting with an empty address book"
                );
                return (book, LoadReport::Missing { path });
            }
            Err(error) => {
                let set_aside = aside::set_aside(&path, time::unix_secs(now));
                tracing::warn!(
                    zone = Z::NAME,
                    path = %path.display(),
                    %error,
                    set_aside = %set_aside.as_deref().map_or_else(|| "(not moved)".into(), |p| p.display().to_string()),
                    "peers file unusable; starting with an empty address book"
                );
                let report = LoadReport::Corrupt {
                    path,
                    error,
                    set_aside,
                };
                return (book, report);
            }
        };
        let (white, foreign_white) = candidates(&file.white);
        let (gray, foreign_gray) = candidates(&file.gray);
        let (anchors, foreign_anchors) = candidates(&file.anchors);
        let bans: Vec<_> = file
            .bans
            .iter()
            .filter_map(|ban| {
                Some((
                    Z::Addr::from_wire(&ban.addr)?,
                    time::from_unix_secs(ban.until)?,
                ))
            })
            .collect();
        let foreign =
            foreign_white + foreign_gray + foreign_anchors + (file.bans.len() - bans.len());
        if foreign > 0 {
            tracing::warn!(
                zone = Z::NAME,
                path = %path.display(),
                skipped = foreign,
                "peers file holds entries of another zone (or unrepresentable ban times); skipped"
            );
        }
        let dropped = book.restore(white, gray, anchors, bans, now);
        let stats = book.stats(now);
        tracing::info!(
            zone = Z::NAME,
            path = %path.display(),
            white = stats.white,
            gray = stats.gray,
            anchors = stats.anchors,
            bans = stats.bans,
            dropped,
            "address book loaded"
        );
        let report = LoadReport::Loaded {
            path,
            stats,
            foreign,
            dropped,
        };
        (book, report)
    }

    /// The book as the peers file holds it; expired bans are forgotten first. Bans are
    /// sorted (longest first, then by address) so that equal books give equal files.
    pub fn snapshot(&mut self, now: SystemTime) -> PeerFile {
        self.bans_mut().forget_expired(now);
        let wire = |list: &crate::list::PeerList<Z::Addr>| -> Vec<PeerListEntry> {
            list.iter().map(PeerCandidate::to_wire).collect()
        };
        let mut bans: Vec<BanRecord> = self
            .bans_mut()
            .active(now)
            .map(|(key, until)| BanRecord {
                addr: key.to_wire(),
                until: time::unix_secs_ceil(until),
            })
            .collect();
        bans.sort_by_cached_key(|ban| (std::cmp::Reverse(ban.until), ban.addr.to_string()));
        PeerFile {
            version: FILE_VERSION,
            zone: Z::NAME.to_owned(),
            white: wire(self.white_list()),
            gray: wire(self.gray_list()),
            anchors: wire(self.anchor_list()),
            bans,
        }
    }

    /// Writes the book to its peers file atomically (see [`write_peer_file`]). Without a
    /// data directory, does nothing.
    ///
    /// # Errors
    /// [`AddressBookError`] naming the file, if it could not be written; the previous file
    /// is then untouched.
    pub fn save(&mut self, now: SystemTime) -> Result<(), AddressBookError> {
        let Some(path) = self.config().peers_file::<Z>() else {
            return Ok(());
        };
        let file = self.snapshot(now);
        write_peer_file(&path, &file)
    }
}

/// `<path>.tmp`.
fn temp_path(path: &Path) -> PathBuf {
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Writes `file` to `path` atomically: into `<path>.tmp`, flushed and synced, renamed over
/// `path`, then the directory synced (best effort: not every platform can open a
/// directory). A crash at any point leaves either the old file or the new one, never a
/// mix; at worst a stale `.tmp` stays behind, which the next save overwrites. The data
/// directory is created if needed; on Unix the file is readable by its owner only (it
/// lists whom we talk to).
///
/// # Errors
/// [`AddressBookError`] naming the file and the step that failed.
pub fn write_peer_file(path: &Path, file: &PeerFile) -> Result<(), AddressBookError> {
    let bytes = umbra_epee::to_bytes(file).map_err(|error| AddressBookError::Encode {
        path: path.to_owned(),
        error,
    })?;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(|error| AddressBookError::CreateDir {
            path: dir.to_owned(),
            error,
        })?;
    }
    let tmp = temp_path(path);
    let written = write_synced(&tmp, &bytes);
    if let Err(error) = written {
        let _ = fs::remove_file(&tmp);
        return Err(AddressBookError::Write { path: tmp, error });
    }
    if let Err(error) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(AddressBookError::Rename {
            from: tmp,
            to: path.to_owned(),
            error,
        });
    }
    if let Some(dir) = dir
        && let Err(error) = File::open(dir).and_then(|dir| dir.sync_all())
    {
        tracing::debug!(path = %dir.display(), %error, "could not sync the data directory");
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.flush()?;
    file.sync_all()
}
