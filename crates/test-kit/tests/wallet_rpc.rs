//! monero-wallet-rpc against a test monerod: restores the functional-test wallet, makes a
//! transaction that monerod mines, and is always stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use umbra_test_kit::{
    MINING_ADDRESS, Monerod, TransferRequest, WALLET_OWN_LOG_FILE_NAME, WalletRpc, process_exists,
};

#[test]
fn restores_the_test_wallet_sends_and_stops() {
    let node = Monerod::start().unwrap();
    node.make_synchronized(Duration::from_secs(120)).unwrap();
    // A ring of 16 needs 16 unlocked outputs on the chain: coinbases unlock after 60 blocks.
    node.mine(100).unwrap();
    let wallet = WalletRpc::start(node.rpc_addr()).unwrap();
    let restored = wallet.restore_test_wallet("w").unwrap();
    assert_eq!(restored.address, MINING_ADDRESS);
    // Restoring already scanned the chain; a refresh finds nothing new.
    wallet.refresh().unwrap();
    let balance = wallet.get_balance(0).unwrap();
    assert!(balance.unlocked_balance > 0, "{balance:?}");

    let sent = wallet
        .transfer(&TransferRequest::to(MINING_ADDRESS, 1_000_000_000_000).unlock_time(500))
        .unwrap();
    assert!(sent.fee > 0 && sent.weight > 0, "{sent:?}");
    // monerod mines an RPC-submitted transaction only once it has been relayed.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !node
        .rpc()
        .get_transaction_pool()
        .unwrap()
        .iter()
        .any(|tx| tx.id_hash == sent.tx_hash && tx.relayed)
    {
        assert!(std::time::Instant::now() < deadline, "never relayed");
        std::thread::sleep(Duration::from_millis(50));
    }
    node.mine(1).unwrap();
    let top = node.rpc().get_info().unwrap().height - 1;
    let block = node.rpc().get_block_by_height(top).unwrap();
    assert_eq!(block.tx_hashes, vec![sent.tx_hash]);
    let tx = &node.rpc().get_transactions(&[sent.tx_hash]).unwrap().txs[0];
    assert_eq!(tx.json_value().unwrap()["unlock_time"], 500);
    assert_eq!(tx.json_value().unwrap()["rct_signatures"]["type"], 6);

    // Logs go to the wallet dir, not to the current directory.
    assert!(wallet.wallet_dir().join(WALLET_OWN_LOG_FILE_NAME).exists());
    assert!(!std::path::Path::new(WALLET_OWN_LOG_FILE_NAME).exists());
    let pid = wallet.pid();
    let dir = wallet.wallet_dir().to_path_buf();
    drop(wallet);
    assert!(!process_exists(pid));
    assert!(!dir.exists(), "the temporary wallet dir is deleted");
}
