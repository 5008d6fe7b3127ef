//! Files that are not our database give clear errors, never panics: junk, truncated and
//! bit-flipped files, other programs' databases of the same engine, a newer schema, the
//! other engine's files, a database already open.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::{fs, io::Write};

use umbra_storage::{EngineKind, Storage, StorageError, synthetic::SyntheticChain};

fn redb_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("chain.redb")
}

fn open_redb(dir: &tempfile::TempDir) -> Result<Storage, StorageError> {
    Storage::open(&common::config(dir, EngineKind::Redb))
}

#[test]
fn junk_files_are_refused_with_an_open_error() {
    for junk in [
        b"hello, this is not a database\n".repeat(100),
        (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
        vec![0xff; 4096],
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(redb_file(&dir), &junk).unwrap();
        let err = open_redb(&dir).unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::Open { .. } | StorageError::NotAChainDatabase { .. }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("chain.redb"),
            "the error names the file: {err}"
        );
    }
}

#[test]
fn an_empty_file_is_a_new_database() {
    // What a crash between creating the file and the first commit leaves.
    let dir = tempfile::tempdir().unwrap();
    fs::write(redb_file(&dir), b"").unwrap();
    let db = open_redb(&dir).unwrap();
    assert_eq!(db.read(|s| s.chain_height()).unwrap(), 0);
}

/// A database with a few blocks, closed; returns its directory.
fn small_db(engine: EngineKind) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Storage::open(&common::config(&dir, engine)).unwrap();
    let mut chain = SyntheticChain::new(2);
    for i in 0..6 {
        db.write_block(&chain.block(i % 3)).unwrap();
    }
    dir
}

/// Opens and checks, expecting an error or a consistent database, never a panic.
fn open_and_check(dir: &tempfile::TempDir, engine: EngineKind) -> Result<(), StorageError> {
    let db = Storage::open(&common::config(dir, engine))?;
    db.check_integrity()?;
    db.read(|s| s.short_chain_history())?;
    Ok(())
}

#[test]
fn truncated_and_bit_flipped_redb_files_fail_without_panic() {
    let mut outcomes = Vec::new();
    for cut in [1, 2, 3] {
        let dir = small_db(EngineKind::Redb);
        let file = redb_file(&dir);
        let len = fs::metadata(&file).unwrap().len();
        let f = fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len * cut / 4).unwrap();
        let outcome = open_and_check(&dir, EngineKind::Redb);
        assert!(outcome.is_err(), "a file cut to {cut}/4 opened");
        outcomes.push(outcome.map_err(|e| e.to_string()));
    }
    for seed in 0..6u64 {
        let dir = small_db(EngineKind::Redb);
        let file = redb_file(&dir);
        let mut bytes = fs::read(&file).unwrap();
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x % bytes.len() as u64) as usize;
            bytes[at] ^= 1 << (x % 8);
        }
        fs::File::create(&file).unwrap().write_all(&bytes).unwrap();
        outcomes.push(open_and_check(&dir, EngineKind::Redb).map_err(|e| e.to_string()));
    }
    eprintln!("{outcomes:#?}");
}

#[test]
fn another_programs_redb_database_is_not_ours() {
    // Other tables.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(redb_file(&dir)).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(redb::TableDefinition::<u64, u64>::new("accounts"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        tx.commit().unwrap();
    }
    let err = open_redb(&dir).unwrap_err();
    assert!(
        matches!(err, StorageError::NotAChainDatabase { .. }),
        "{err}"
    );

    // A table of our name with other types.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(redb_file(&dir)).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(redb::TableDefinition::<u64, u64>::new("meta"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        tx.commit().unwrap();
    }
    let err = open_redb(&dir).unwrap_err();
    assert!(
        matches!(err, StorageError::NotAChainDatabase { .. }),
        "{err}"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    common::each_engine(|engine| {
        let dir = small_db(engine);
        Storage::open(&common::config(&dir, engine))
            .unwrap()
            .set_schema_version_for_tests(2)
            .unwrap();
        let err = Storage::open(&common::config(&dir, engine)).unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::NewerSchema {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
    });
}

#[test]
fn a_database_open_twice_is_an_error_not_a_panic() {
    common::each_engine(|engine| {
        let dir = tempfile::tempdir().unwrap();
        let first = Storage::open(&common::config(&dir, engine)).unwrap();
        match Storage::open(&common::config(&dir, engine)) {
            Err(e) => assert!(matches!(e, StorageError::Open { .. }), "{e}"),
            // LMDB shares one environment per process; then both handles see one database.
            Ok(second) => {
                let mut chain = SyntheticChain::new(1);
                first.write_block(&chain.block(0)).unwrap();
                assert_eq!(second.read(|s| s.chain_height()).unwrap(), 1);
            }
        }
    });
}

#[cfg(feature = "lmdb")]
mod lmdb {
    use super::*;

    #[test]
    fn the_other_engines_files_are_refused() {
        let dir = small_db(EngineKind::Redb);
        let err = Storage::open(&common::config(&dir, EngineKind::Lmdb)).unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::EngineMismatch {
                    found: "redb",
                    requested: "lmdb",
                    ..
                }
            ),
            "{err}"
        );
        let dir = small_db(EngineKind::Lmdb);
        let err = open_redb(&dir).unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::EngineMismatch {
                    found: "lmdb",
                    requested: "redb",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_junk_lmdb_file_is_refused_with_an_open_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("chain-lmdb")).unwrap();
        fs::write(
            dir.path().join("chain-lmdb/data.mdb"),
            b"not lmdb at all".repeat(1000),
        )
        .unwrap();
        let err = Storage::open(&common::config(&dir, EngineKind::Lmdb)).unwrap_err();
        assert!(matches!(err, StorageError::Open { .. }), "{err}");
    }

    const TRUNCATED_CHILD: &str = "UMBRA_STORAGE_TRUNCATED_LMDB_DIR";

    /// Run by `a_truncated_lmdb_file_kills_the_process_with_sigbus` in a child process.
    #[test]
    fn truncated_lmdb_child() {
        let Ok(dir) = std::env::var(TRUNCATED_CHILD) else {
            return;
        };
        let mut config = umbra_storage::StorageConfig::new(dir).with_engine(EngineKind::Lmdb);
        config.lmdb_map_size = 1 << 30;
        let outcome = Storage::open(&config).and_then(|db| db.check_integrity());
        // Reached only if LMDB did not touch a page past the end of the file.
        std::process::exit(if outcome.is_err() { 3 } else { 4 });
    }

    /// Documents an LMDB hazard (one reason redb is the default): LMDB maps the file, so a
    /// data file cut short (a failing disk, a bad copy) makes the first read of a missing
    /// page a SIGBUS that kills the process, where redb returns an error.
    #[test]
    fn a_truncated_lmdb_file_kills_the_process_with_sigbus() {
        use std::os::unix::process::ExitStatusExt;

        let dir = small_db(EngineKind::Lmdb);
        let file = dir.path().join("chain-lmdb/data.mdb");
        let len = fs::metadata(&file).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lmdb::truncated_lmdb_child",
                "--test-threads=1",
                "--quiet",
            ])
            .env(TRUNCATED_CHILD, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        eprintln!("truncated LMDB file: child ended with {status:?}");
        assert!(
            status.signal() == Some(libc_sigbus()) || status.code() == Some(3),
            "neither SIGBUS nor a clean error: {status:?}"
        );
    }

    /// SIGBUS on Linux.
    fn libc_sigbus() -> i32 {
        7
    }

    #[test]
    fn another_programs_lmdb_environment_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain-lmdb");
        fs::create_dir_all(&path).unwrap();
        {
            // SAFETY: a fresh directory of this test, opened by nothing else.
            #[allow(unsafe_code)]
            let env = unsafe { heed::EnvOpenOptions::new().max_dbs(4).open(&path) }.unwrap();
            let tx = env.write_txn().unwrap();
            env.create_databases_and_commit(tx, |opener, tx| -> heed::Result<_> {
                let db = opener
                    .database_options()
                    .types::<heed::types::Bytes, heed::types::Bytes>()
                    .name("accounts")
                    .create(tx)?;
                db.put(tx, b"k", b"v")?;
                Ok(heed::CommitOrAbort::<(), ()>::Commit(()))
            })
            .unwrap();
        }
        let err = Storage::open(&common::config(&dir, EngineKind::Lmdb)).unwrap_err();
        assert!(
            matches!(err, StorageError::NotAChainDatabase { .. }),
            "{err}"
        );
    }
}
