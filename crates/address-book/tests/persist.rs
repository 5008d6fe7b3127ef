//! The peers file: round trips, atomic writes, and every way a file can be bad — none of
//! which may stop the node.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use common::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use umbra_address_book::{
    AddressBook, AddressBookConfig, AddressBookError, BanRecord, FILE_VERSION, FileError,
    LoadReport, PeerFile, PeerListKind, persist,
};
use umbra_p2p_core::ClearNet;
use umbra_wire::{NetworkAddress, PeerListEntry};

fn config_in(dir: &Path) -> AddressBookConfig {
    AddressBookConfig {
        data_dir: Some(dir.to_owned()),
        ..small_config()
    }
}

fn peers_file(dir: &Path) -> PathBuf {
    dir.join("clearnet-peers.epee")
}

fn load(config: &AddressBookConfig) -> (AddressBook<ClearNet>, LoadReport) {
    AddressBook::<ClearNet>::load_with_report(config.clone(), t0())
}

/// A book with something in every list and a few bans.
fn populated(config: AddressBookConfig) -> AddressBook<ClearNet> {
    let mut book = book(config);
    let now = t0();
    let mut gray: Vec<_> = (0..15).map(peer).collect();
    for (i, p) in gray.iter_mut().enumerate() {
        p.last_seen = 1_600_000_000 + i64::try_from(i).unwrap();
        p.pruning_seed = 0x180 + u32::try_from(i % 8).unwrap();
        p.rpc_port = 18089;
        p.rpc_credits_per_hash = 7;
    }
    book.add_gray(gray, now);
    for i in 100..105 {
        book.handshake_succeeded(peer(i), now);
    }
    book.anchor_connected(peer(100), now);
    book.anchor_connected(peer(101), now);
    book.ban(&addr(200), secs(3600), now);
    book.ban(&"[2a01:4f8::1]:18080".parse().unwrap(), secs(7200), now);
    book
}

/// The files in `dir`, by name.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn corrupt_report(report: LoadReport) -> (FileError, PathBuf) {
    match report {
        LoadReport::Corrupt {
            error, set_aside, ..
        } => (error, set_aside.expect("the bad file was moved aside")),
        other => panic!("expected a corrupt file, got {other:?}"),
    }
}

#[test]
fn save_then_load_gives_the_same_book() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let mut book = populated(config.clone());
    book.save(t0()).unwrap();
    assert_eq!(
        files(dir.path()),
        ["clearnet-peers.epee"],
        "no temp file remains"
    );

    let (mut loaded, report) = load(&config);
    let LoadReport::Loaded {
        stats,
        foreign,
        dropped,
        ..
    } = report
    else {
        panic!("{report:?}")
    };
    assert_eq!((foreign, dropped), (0, 0));
    assert_eq!(stats, book.stats(t0()));
    assert_eq!(loaded.snapshot(t0()), book.snapshot(t0()));
    assert_eq!(loaded.list_of(&addr(100)), Some(PeerListKind::White));
    assert_eq!(loaded.get(&addr(3)), book.get(&addr(3)));
    assert!(loaded.is_anchor(&addr(101)));
    assert!(loaded.is_banned(&addr(200), t0() + secs(3599)));
    assert!(!loaded.is_banned(&addr(200), t0() + secs(3600)));

    // Saving again replaces the file in place, still without leftovers.
    loaded.handshake_succeeded(peer(300), t0());
    loaded.save(t0()).unwrap();
    assert_eq!(files(dir.path()), ["clearnet-peers.epee"]);
    let (again, _) = load(&config);
    assert_eq!(again.list_of(&addr(300)), Some(PeerListKind::White));
}

#[test]
fn expired_bans_are_not_saved_or_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let mut book = book(config.clone());
    book.ban(&addr(1), secs(10), t0());
    book.ban(&addr(2), secs(1000), t0());
    book.save(t0() + secs(20)).unwrap();
    let (mut loaded, _) = load(&config);
    assert_eq!(loaded.snapshot(t0()).bans.len(), 1);
    // A ban saved while in force, loaded after it ended, is dropped.
    let (later, report) = AddressBook::<ClearNet>::load_with_report(config, t0() + secs(2000));
    assert_eq!(later.stats(t0() + secs(2000)).bans, 0);
    let LoadReport::Loaded { dropped, .. } = report else {
        panic!("{report:?}")
    };
    assert_eq!(dropped, 1);
}

#[cfg(unix)]
#[test]
fn the_peers_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    populated(config_in(dir.path())).save(t0()).unwrap();
    let mode = fs::metadata(peers_file(dir.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_data_directory_is_created_on_save() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b");
    populated(config_in(&nested)).save(t0()).unwrap();
    assert!(peers_file(&nested).exists());
}

#[test]
fn a_save_that_cannot_write_names_the_path_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    // The "data directory" is a regular file: nothing can be created under it.
    let not_a_dir = dir.path().join("plain-file");
    fs::write(&not_a_dir, b"x").unwrap();
    let mut book = populated(config_in(&not_a_dir));
    let error = book.save(t0()).unwrap_err();
    assert!(
        matches!(
            error,
            AddressBookError::CreateDir { .. } | AddressBookError::Write { .. }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("plain-file"), "{error}");
    assert_eq!(fs::read(&not_a_dir).unwrap(), b"x");

    // A directory where the temp file should go: the write fails, the old file stays.
    let config = config_in(dir.path());
    populated(config.clone()).save(t0()).unwrap();
    let before = fs::read(peers_file(dir.path())).unwrap();
    fs::create_dir(dir.path().join("clearnet-peers.epee.tmp")).unwrap();
    let mut other = book_with_one_peer(config);
    let error = other.save(t0()).unwrap_err();
    assert!(matches!(error, AddressBookError::Write { .. }), "{error:?}");
    assert!(
        error.to_string().contains("clearnet-peers.epee.tmp"),
        "{error}"
    );
    assert_eq!(fs::read(peers_file(dir.path())).unwrap(), before);
}

fn book_with_one_peer(config: AddressBookConfig) -> AddressBook<ClearNet> {
    let mut book = book(config);
    book.handshake_succeeded(peer(1), t0());
    book
}

#[test]
fn no_data_dir_means_no_file_and_a_missing_file_means_an_empty_book() {
    let (mut book, report) = load(&small_config());
    assert!(matches!(report, LoadReport::NotPersistent), "{report:?}");
    book.handshake_succeeded(peer(1), t0());
    book.save(t0()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (book, report) = load(&config_in(dir.path()));
    assert!(matches!(report, LoadReport::Missing { .. }), "{report:?}");
    assert_eq!(book.stats(t0()), Default::default());
    assert!(files(dir.path()).is_empty(), "loading creates nothing");
}

#[test]
fn random_bytes_give_an_empty_book_and_are_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let path = peers_file(dir.path());
    let mut rng = StdRng::seed_from_u64(9);
    for round in 0..20 {
        let len = rng.random_range(0..2000);
        let mut junk = vec![0u8; len];
        rng.fill(&mut junk[..]);
        if round % 2 == 1 && len >= 9 {
            // Half of them start like an epee document, to get past the signature.
            junk[..9].copy_from_slice(&umbra_epee::SIGNATURE);
        }
        fs::write(&path, &junk).unwrap();
        let (book, report) = load(&config);
        assert_eq!(book.stats(t0()), Default::default());
        let (error, aside) = corrupt_report(report);
        assert!(
            matches!(error, FileError::Decode(_) | FileError::Version { .. }),
            "{error:?}"
        );
        assert!(!path.exists());
        assert_eq!(
            fs::read(&aside).unwrap(),
            junk,
            "the bad file is kept as it was"
        );
        assert!(
            aside
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("clearnet-peers.epee.corrupt-1700000000"),
            "{}",
            aside.display()
        );
    }
    // Set-aside copies are bounded.
    assert_eq!(files(dir.path()).len(), umbra_address_book::MAX_KEPT_ASIDE);
    // And the node carries on: the next save writes a good file.
    populated(config.clone()).save(t0()).unwrap();
    assert!(matches!(load(&config).1, LoadReport::Loaded { .. }));
}

#[test]
fn every_truncation_of_a_valid_file_is_refused_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let path = peers_file(dir.path());
    populated(config.clone()).save(t0()).unwrap();
    let full = fs::read(&path).unwrap();
    assert!(
        full.len() < 4096,
        "keep the loop bounded: {} bytes",
        full.len()
    );
    for len in 0..full.len() {
        fs::write(&path, &full[..len]).unwrap();
        let (book, report) = load(&config);
        assert_eq!(
            book.stats(t0()),
            Default::default(),
            "prefix of {len} bytes"
        );
        let (error, aside) = corrupt_report(report);
        assert!(matches!(error, FileError::Decode(_)), "{len}: {error:?}");
        assert_eq!(fs::read(&aside).unwrap(), &full[..len]);
    }
    fs::write(&path, &full).unwrap();
    assert!(matches!(load(&config).1, LoadReport::Loaded { .. }));
}

#[test]
fn a_decode_error_is_logged_with_its_field_path() {
    // The error a truncated file gives says where it stopped, for the log line.
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let path = peers_file(dir.path());
    populated(config.clone()).save(t0()).unwrap();
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() - 3]).unwrap();
    let (error, _) = corrupt_report(load(&config).1);
    let message = error.to_string();
    assert!(
        message.starts_with("not a valid peers document: "),
        "{message}"
    );
    assert!(message.contains("truncated"), "{message}");
}

fn write_file(dir: &Path, file: &PeerFile) {
    persist::write_peer_file(&peers_file(dir), file).unwrap();
}

fn empty_file() -> PeerFile {
    PeerFile {
        version: FILE_VERSION,
        zone: "clearnet".into(),
        white: Vec::new(),
        gray: Vec::new(),
        anchors: Vec::new(),
        bans: Vec::new(),
    }
}

fn entry(addr: SocketAddr, last_seen: i64) -> PeerListEntry {
    PeerListEntry {
        last_seen,
        ..peer_at(addr).to_wire()
    }
}

#[test]
fn another_version_or_zone_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    write_file(
        dir.path(),
        &PeerFile {
            version: FILE_VERSION + 1,
            white: vec![entry(addr(1), 0)],
            ..empty_file()
        },
    );
    let (book, report) = load(&config);
    assert_eq!(book.stats(t0()).white, 0);
    let (error, _) = corrupt_report(report);
    assert!(
        matches!(error, FileError::Version { found, expected } if found == FILE_VERSION + 1 && expected == FILE_VERSION),
        "{error:?}"
    );

    write_file(
        dir.path(),
        &PeerFile {
            zone: "tor".into(),
            ..empty_file()
        },
    );
    let (error, _) = corrupt_report(load(&config).1);
    assert!(
        matches!(error, FileError::Zone { ref found, .. } if found == "tor"),
        "{error}"
    );
    assert_eq!(files(dir.path()).len(), 2, "both bad files are kept aside");
}

#[test]
fn entries_of_another_zone_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let tor = PeerListEntry {
        adr: NetworkAddress::Tor {
            host: format!("{}.onion", "a".repeat(56)),
            port: 18083,
        },
        ..entry(addr(9), 0)
    };
    write_file(
        dir.path(),
        &PeerFile {
            white: vec![entry(addr(1), 5), tor.clone()],
            gray: vec![tor.clone()],
            bans: vec![BanRecord {
                addr: tor.adr,
                until: 1_800_000_000,
            }],
            ..empty_file()
        },
    );
    let (book, report) = load(&config);
    let LoadReport::Loaded { foreign, stats, .. } = report else {
        panic!("{report:?}")
    };
    assert_eq!(foreign, 3);
    assert_eq!((stats.white, stats.gray, stats.bans), (1, 0, 0));
    assert_eq!(book.list_of(&addr(1)), Some(PeerListKind::White));
}

#[test]
fn an_oversized_file_is_cut_to_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path()); // 10 white, 20 gray, 2 anchors
    let white: Vec<_> = (0..1000).map(|i| entry(addr(i), i64::from(i))).collect();
    let gray: Vec<_> = (1000..3000).map(|i| entry(addr(i), 1)).collect();
    let anchors: Vec<_> = (3000..3010).map(|i| entry(addr(i), 1)).collect();
    let bans: Vec<_> = (4000..4050)
        .map(|i| BanRecord {
            addr: NetworkAddress::from(addr(i)),
            until: 1_800_000_000,
        })
        .collect();
    write_file(
        dir.path(),
        &PeerFile {
            white,
            gray,
            anchors,
            bans,
            ..empty_file()
        },
    );
    let config = AddressBookConfig {
        max_bans: 25,
        ..config
    };
    let (book, report) = load(&config);
    let LoadReport::Loaded { stats, dropped, .. } = report else {
        panic!("{report:?}")
    };
    assert_eq!(
        (stats.white, stats.gray, stats.anchors, stats.bans),
        (10, 20, 2, 25)
    );
    assert_eq!(dropped, 990 + 1980 + 8 + 25);
    // The most recently seen white entries are the ones kept.
    for i in 990..1000 {
        assert_eq!(book.list_of(&addr(i)), Some(PeerListKind::White), "{i}");
    }
}

#[test]
fn unroutable_duplicate_and_banned_entries_are_dropped_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let local: SocketAddr = "192.168.1.1:18080".parse().unwrap();
    write_file(
        dir.path(),
        &PeerFile {
            white: vec![entry(addr(1), 0), entry(local, 0), entry(addr(2), 0)],
            gray: vec![entry(addr(1), 0), entry(addr(3), 0), entry(addr(3), 0)],
            bans: vec![BanRecord {
                addr: NetworkAddress::from(addr(2).with_port_zero()),
                until: 1_800_000_000,
            }],
            ..empty_file()
        },
    );
    let (book, _) = load(&config);
    assert_eq!(book.list_of(&addr(1)), Some(PeerListKind::White));
    assert_eq!(book.list_of(&local), None);
    assert_eq!(book.list_of(&addr(2)), None, "its host is banned");
    assert_eq!(book.list_of(&addr(3)), Some(PeerListKind::Gray));
    let stats = book.stats(t0());
    assert_eq!((stats.white, stats.gray, stats.bans), (1, 1, 1));

    // With local addresses allowed, the private one is kept.
    let lax = AddressBookConfig {
        allow_local: true,
        ..config
    };
    let (book, _) = load(&lax);
    assert_eq!(book.list_of(&local), Some(PeerListKind::White));
}

trait PortZero {
    fn with_port_zero(self) -> SocketAddr;
}

impl PortZero for SocketAddr {
    fn with_port_zero(mut self) -> SocketAddr {
        self.set_port(0);
        self
    }
}

#[test]
fn a_file_larger_than_the_bounds_allow_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let max = persist::max_file_bytes(&config);
    let file = fs::File::create(peers_file(dir.path())).unwrap();
    file.set_len(max + 1).unwrap(); // sparse: no need to write it
    drop(file);
    let (error, aside) = corrupt_report(load(&config).1);
    assert!(
        matches!(error, FileError::TooLarge { len, max: m } if len == max + 1 && m == max),
        "{error:?}"
    );
    assert_eq!(fs::metadata(aside).unwrap().len(), max + 1);
}

#[test]
fn too_many_entries_for_the_decoding_limits_is_corrupt_not_a_memory_blowup() {
    // More entries than LOAD_SLACK × the bounds: refused by epee's limits while decoding.
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let budget = AddressBookConfig::default().max_white
        + AddressBookConfig::default().max_gray
        + AddressBookConfig::default().max_anchors
        + AddressBookConfig::default().max_bans;
    let gray: Vec<_> = (0..u32::try_from(budget * persist::LOAD_SLACK + 1).unwrap())
        .map(|i| entry(addr(i), 0))
        .collect();
    write_file(
        dir.path(),
        &PeerFile {
            gray,
            ..empty_file()
        },
    );
    let (book, report) = load(&config);
    assert_eq!(book.stats(t0()).gray, 0);
    let (error, _) = corrupt_report(report);
    assert!(matches!(error, FileError::Decode(_)), "{error:?}");
}

thread_local! {
    /// What this thread logged since the last [`take_logs`].
    static LOGS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A writer into this thread's [`LOGS`].
struct ThreadLogs;

impl std::io::Write for ThreadLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.with(|logs| logs.borrow_mut().extend_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once per test binary, a global subscriber writing each thread's log lines to
/// that thread's buffer. Global rather than scoped: tracing caches each callsite's interest,
/// and a test thread that hits the callsite with no subscriber while another test holds a
/// scoped one can leave it cached as "never", losing the line (it did, now and then).
fn capture_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadLogs)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    LOGS.with(|logs| logs.borrow_mut().clear());
}

fn take_logs() -> String {
    LOGS.with(|logs| String::from_utf8_lossy(&std::mem::take(&mut *logs.borrow_mut())).into_owned())
}

#[test]
fn a_corrupt_file_gives_one_clear_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let path = peers_file(dir.path());
    populated(config.clone()).save(t0()).unwrap();
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() / 2]).unwrap();

    capture_logs();
    load(&config);
    let text = take_logs();
    let warning = text
        .lines()
        .find(|line| line.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning in {text:?}"));
    assert!(warning.contains("peers file unusable"), "{warning}");
    assert!(warning.contains(&path.display().to_string()), "{warning}");
    assert!(warning.contains("not a valid peers document"), "{warning}");
    assert!(warning.contains("truncated"), "{warning}");
    assert!(warning.contains(".corrupt-1700000000"), "{warning}");
}
