//! Integration tests against the real monerod 0.18 from the Debian package: start-up, RPC,
//! BUSY before synchronisation, and above all that every monerod is stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use umbra_test_kit::{
    GENESIS_HASH_HEX, GenerateBlocksRequest, MINING_ADDRESS, Monerod, MonerodError, RpcError,
    process_exists,
};

/// The mainnet (and regtest) genesis block as `get_block` returns it: header, coinbase, no
/// transaction hashes.
const GENESIS_BLOB_HEX: &str = "010000000000000000000000000000000000000000000000000000000000000000000010270000013c01ff0001ffffffffffff03029b2e4c0281c0b02e7c53291a94d1d0cbff8883f8024f5142ee494ffbbd08807121017767aafcde9be00dcfd098715ebcf7f410daebc582fda69d24a28e9d0bc890d100";

/// Whether `pid` is gone: no such process, or a zombie nobody has reaped yet (after its
/// parent died it belongs to PID 1, which may reap late).
fn is_gone(pid: u32) -> bool {
    if !process_exists(pid) {
        return true;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // The state follows the parenthesised command name.
    stat.rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if is_gone(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fresh_regtest_node_is_at_height_1_with_the_mainnet_genesis() {
    let node = Monerod::start().unwrap();
    let rpc = node.rpc();

    let info = rpc.get_info().unwrap();
    assert_eq!(info.status, "OK");
    assert_eq!(info.height, 1);
    assert_eq!(hex::encode(info.top_block_hash), GENESIS_HASH_HEX);
    assert_eq!(info.nettype, "fakechain");
    assert_eq!(info.cumulative_difficulty_u128(), 1);
    assert_eq!(info.difficulty_u128(), 1, "--fixed-difficulty 1");
    assert!(!info.offline, "--offline would close the P2P port");

    let header = rpc.get_block_header_by_height(0).unwrap();
    assert_eq!(hex::encode(header.hash), GENESIS_HASH_HEX);
    assert_eq!(header.prev_hash, [0; 32]);
    assert_eq!(rpc.get_block_header_by_hash(&header.hash).unwrap(), header);
    assert_eq!(
        rpc.get_block_headers_range(0, 0).unwrap(),
        vec![header.clone()]
    );

    let block = rpc.get_block_by_height(0).unwrap();
    assert_eq!(block.block_header, header);
    assert_eq!(hex::encode(&block.blob), GENESIS_BLOB_HEX);
    assert!(block.tx_hashes.is_empty());
    assert_eq!(block.json_value().unwrap()["nonce"], 10000);
    assert_eq!(rpc.get_block_by_hash(&header.hash).unwrap(), block);

    // Asking past the top is an RPC error that names the method.
    let err = rpc.get_block_header_by_height(5).unwrap_err();
    assert!(matches!(err, RpcError::Rpc { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("get_block_header_by_height: RPC error"),
        "{err}"
    );
}

#[test]
fn fresh_node_without_peers_answers_busy_to_generateblocks() {
    let node = Monerod::start().unwrap();
    let err = node.mine(1).unwrap_err();
    assert!(err.is_busy(), "{err}");
    assert!(matches!(err, RpcError::Busy { ref method } if method == "generateblocks"));
    let err = node.rpc().get_last_block_header().unwrap_err();
    assert!(err.is_busy(), "{err}");
    assert!(!node.rpc().get_info().unwrap().synchronized);
    assert_eq!(
        node.rpc().get_info().unwrap().height,
        1,
        "nothing was mined"
    );
}

#[test]
fn a_helper_handshake_unblocks_mining_and_forks_work() {
    let node = Monerod::start().unwrap();
    let started = Instant::now();
    node.make_synchronized(Duration::from_secs(60)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(node.rpc().get_info().unwrap().synchronized);

    let mined = node.mine(3).unwrap();
    assert_eq!(mined.blocks.len(), 3);
    assert_eq!(mined.height, 3, "height of the last mined block");
    let info = node.rpc().get_info().unwrap();
    assert_eq!(info.height, 4);
    assert_eq!(info.top_block_hash, mined.blocks[2]);
    assert_eq!(info.cumulative_difficulty_u128(), 4);

    let top = node.rpc().get_last_block_header().unwrap();
    assert_eq!(top.hash, mined.blocks[2]);
    assert_eq!(top.height, 3);
    let headers = node.rpc().get_block_headers_range(1, 3).unwrap();
    let hashes: Vec<_> = headers.iter().map(|h| h.hash).collect();
    assert_eq!(hashes, mined.blocks);
    let block = node.rpc().get_block_by_hash(&mined.blocks[0]).unwrap();
    assert_eq!(block.block_header.height, 1);
    assert_eq!(block.block_header.prev_hash, headers[0].prev_hash);

    // Fork from block 1: one block at height 2 on a shorter side chain.
    let fork = node
        .rpc()
        .generateblocks_with(
            &GenerateBlocksRequest::new(1, MINING_ADDRESS).prev_block(mined.blocks[0]),
        )
        .unwrap();
    assert_eq!(fork.height, 2);
    let info = node.rpc().get_info().unwrap();
    assert_eq!(info.height, 4, "the longer chain stays on top");
    assert_eq!(info.alt_blocks_count, 1);
    let alt = node
        .rpc()
        .get_block_header_by_hash(&fork.blocks[0])
        .unwrap();
    assert!(alt.orphan_status);
}

#[test]
fn two_nodes_at_once_get_different_ports() {
    let a = Monerod::start().unwrap();
    let b = Monerod::start().unwrap();
    let ports = [
        a.p2p_addr().port(),
        a.rpc_addr().port(),
        a.exclusive_node().port(),
        b.p2p_addr().port(),
        b.rpc_addr().port(),
        b.exclusive_node().port(),
    ];
    let distinct: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    assert!(a.p2p_addr().ip().is_loopback() && b.rpc_addr().ip().is_loopback());
    assert_ne!(a.data_dir(), b.data_dir());
    assert_eq!(a.rpc().get_info().unwrap().height, 1);
    assert_eq!(b.rpc().get_info().unwrap().height, 1);
}

#[test]
fn drop_ends_the_process_and_removes_the_temporary_data_dir() {
    let mut node = Monerod::start().unwrap();
    let pid = node.pid();
    let dir = node.data_dir().to_path_buf();
    assert!(process_exists(pid));
    assert!(node.is_running());
    assert!(node.log_path().starts_with(&dir));
    assert!(node.log_tail(200).contains("start attempt 1"));
    let started = Instant::now();
    drop(node);
    assert!(
        !process_exists(pid),
        "monerod {pid} still exists after drop"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(!dir.exists() || std::env::var_os(umbra_test_kit::KEEP_DIRS_ENV).is_some());
}

#[test]
fn stop_shuts_monerod_down_cleanly() {
    let node = Monerod::start().unwrap();
    let pid = node.pid();
    let status = node.stop().unwrap().expect("it was running");
    assert!(
        status.success(),
        "SIGTERM should give a clean exit: {status}"
    );
    assert!(!process_exists(pid));
}

#[test]
fn a_panicking_test_still_stops_monerod() {
    let (tx, rx) = mpsc::sync_channel(1);
    let result = std::panic::catch_unwind(move || {
        let node = Monerod::start().unwrap();
        tx.send(node.pid()).unwrap();
        panic!("the test fails while it owns a monerod");
    });
    assert!(result.is_err());
    let pid = rx.recv_timeout(Duration::from_secs(1)).unwrap();
    assert!(!process_exists(pid), "monerod {pid} survived the panic");
}

#[test]
fn a_bogus_flag_fails_fast_and_the_error_quotes_the_log() {
    let started = Instant::now();
    let err = Monerod::builder().arg("--bogus-flag").start().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, MonerodError::Exited { attempt: 1, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("unrecognised option '--bogus-flag'"),
        "{message}"
    );
    assert!(message.contains("--- last 40 lines ---"), "{message}");
}

#[test]
fn a_kept_data_dir_keeps_its_chain_and_can_be_resynchronised() {
    let dir = tempfile::tempdir().unwrap();
    let first = Monerod::builder()
        .keep_data_dir(dir.path())
        .start()
        .unwrap();
    first.make_synchronized(Duration::from_secs(60)).unwrap();
    let mined = first.mine(5).unwrap();
    assert!(first.stop().unwrap().unwrap().success());

    let second = Monerod::builder()
        .keep_data_dir(dir.path())
        .start()
        .unwrap();
    let info = second.rpc().get_info().unwrap();
    assert_eq!(info.height, 6, "--keep-fakechain kept the chain");
    assert_eq!(info.top_block_hash, mined.blocks[4]);
    // A restarted node with a chain is BUSY again; a fresh helper at genesis is not enough
    // (its height is lower), so the helper syncs and handshakes a second time.
    assert!(second.mine(1).unwrap_err().is_busy());
    second.make_synchronized(Duration::from_secs(90)).unwrap();
    assert_eq!(second.mine(1).unwrap().height, 6);
    assert_eq!(second.rpc().get_info().unwrap().height, 7);
}

#[test]
fn an_exclusive_node_pointing_at_another_monerod_syncs_from_it() {
    let a = Monerod::start().unwrap();
    a.make_synchronized(Duration::from_secs(60)).unwrap();
    let mined = a.mine(4).unwrap();
    let b = Monerod::builder()
        .exclusive_node(a.p2p_addr())
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = b.rpc().get_info().unwrap();
        if info.height == 5 {
            assert_eq!(info.top_block_hash, mined.blocks[3]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b did not sync: {info:?}\n{}",
            b.log_tail(20)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_tests_start_and_call_monerod_through_the_blocking_pool() {
    let node = tokio::task::spawn_blocking(Monerod::start)
        .await
        .unwrap()
        .unwrap();
    let info = node.rpc().run_blocking(|rpc| rpc.get_info()).await.unwrap();
    assert_eq!(info.height, 1);
    let pid = node.pid();
    tokio::task::spawn_blocking(move || drop(node))
        .await
        .unwrap();
    assert!(!process_exists(pid));
}

/// Environment variable that turns [`child_process_starts_monerod_and_waits`] on.
const CHILD_ENV: &str = "UMBRA_TEST_KIT_DEATH_SIGNAL_CHILD";

/// Not a test on its own: [`monerod_dies_when_the_test_process_is_killed`] runs this test
/// binary again with [`CHILD_ENV`] set, and this starts a monerod, prints its pid, and waits
/// to be killed.
#[test]
fn child_process_starts_monerod_and_waits() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let node = Monerod::start().unwrap();
    println!("MONEROD_DIR={}", node.data_dir().display());
    println!("MONEROD_PID={}", node.pid());
    thread::sleep(Duration::from_secs(60));
    drop(node);
}

#[test]
fn monerod_dies_when_the_test_process_is_killed() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_starts_monerod_and_waits",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::sync_channel(1);
    thread::spawn(move || {
        let mut dir = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(path) = line.strip_prefix("MONEROD_DIR=") {
                dir = Some(std::path::PathBuf::from(path));
            }
            if let Some(pid) = line.strip_prefix("MONEROD_PID=") {
                let _ = tx.send((pid.trim().parse::<u32>().unwrap(), dir));
                return;
            }
        }
    });
    let reported = rx.recv_timeout(Duration::from_secs(90));
    // SIGKILL: no destructor runs in the child; only the death signal can stop monerod.
    child.kill().unwrap();
    child.wait().unwrap();
    let (pid, dir) = reported.expect("the child never reported a monerod pid");
    let gone = wait_gone(pid, Duration::from_secs(10));
    if !gone {
        // Do not leak it if the test fails: it was started by our own child.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    // Now a zombie of PID 1; give PID 1 a moment to reap it, so no `<defunct>` monerod
    // lingers after the suite (best effort, not part of the assertion).
    let reaped_by = Instant::now() + Duration::from_secs(5);
    while process_exists(pid) && Instant::now() < reaped_by {
        thread::sleep(Duration::from_millis(100));
    }
    // The killed child could not delete its temporary data dir; do it for it.
    if let Some(dir) = dir.filter(|d| d.to_string_lossy().contains("umbra-monerod-")) {
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(gone, "monerod {pid} outlived the killed test process");
}
