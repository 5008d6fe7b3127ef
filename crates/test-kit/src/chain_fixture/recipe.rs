//! The recipe: which blocks are mined and which transactions the wallet makes, in order.
//!
//! Counts, amounts, destinations, priorities and unlock times are fixed, so every build has
//! the same shape (the same heights hold the same kinds of transactions); keys, timestamps and
//! therefore hashes differ from build to build.
//!
//! | heights | what |
//! |---|---|
//! | 1–130 | coinbase only (outputs unlock after 60 blocks) |
//! | 131–178 | 12 single transactions, one every 4 blocks: to self, to subaddresses, to account 1, 3/5/8 destinations, integrated address, unlock time |
//! | 199 | burst: 12 transactions with 3 destinations each (funding account 1) |
//! | 210–227 | 6 spends from account 1 (outputs of earlier non-coinbase transactions only), one every 3 blocks |
//! | 238 | `sweep_all` of account 1: one transaction with many inputs |
//! | 338–838 | one transaction every 100 blocks (6) |
//! | 1000 | burst: 10 mixed transactions |
//! | 1150–1600 | one transaction every 150 blocks (4) |
//! | 1601 | burst: 12 mixed transactions, one with 15 destinations (16 outputs, the maximum) |
//! | 2113 | one transaction in the first block keyed by the second RandomX seed (block 2048) |
//! | 2192–2199 | tip region: every block has 1–2 transactions, the tip has 2 |
//!
//! 76 transactions in all, every one RingCT type 6 (CLSAG, Bulletproofs+, ring size 16).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::facts::{Addresses, TxTag};
use super::{ChainFixtureError, randomx_seed_height};
use crate::monerod::Monerod;
use crate::rpc::Hash;
use crate::wallet_rpc::{SweepAllRequest, TransferRequest, WalletRpc};

/// Height of the fixture's top block.
pub const TARGET_TIP_HEIGHT: u64 = 2199;

/// Blocks at the end that all hold transactions.
const TIP_REGION_BLOCKS: u64 = 8;

/// Blocks mined by one `generateblocks` call at most.
const MAX_MINE_PER_CALL: u64 = 250;

/// Name of the wallet file in the fixture's `wallet/` dir (empty password).
pub const WALLET_FILE_NAME: &str = "fixture";

/// The integrated address's payment id.
const PAYMENT_ID: [u8; 8] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];

/// Unlock time of the transaction whose outputs stay locked past the tip (a height).
const UNLOCK_AFTER_TIP: u64 = 2300;

/// Unlock time given as a Unix time (2033-05-18), locked at build time.
const UNLOCK_TIMESTAMP: u64 = 2_000_000_000;

/// Bound on waiting for monerod to relay the transactions of one block.
const RELAY_TIMEOUT: Duration = Duration::from_secs(30);

/// Bound on [`Monerod::make_synchronized`] for the fresh build node.
const SYNC_TIMEOUT: Duration = Duration::from_secs(120);

/// 1 XMR in atomic units.
const XMR: u64 = 1_000_000_000_000;

/// What one transaction of the recipe does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One destination: the primary address (to self).
    Simple,
    /// Account 1's primary address.
    ToAccount1,
    /// A subaddress of account 1.
    ToAccount1Sub,
    /// Subaddress `n` (0-based in [`Addresses::subaddresses`]) of account 0.
    ToSubaddress(usize),
    /// `n` destinations, all different addresses, subaddresses among them.
    Multi(usize),
    /// The integrated address.
    Integrated,
    /// To self, locked until 20 blocks after the block holding it.
    LockedHeight,
    /// To self, locked until height [`UNLOCK_AFTER_TIP`].
    LockedPastTip,
    /// To self, locked until [`UNLOCK_TIMESTAMP`].
    LockedTimestamp,
    /// From account 1 (only outputs of non-coinbase transactions) to the primary address.
    FromAccount1,
    /// `sweep_all` of account 1 to account 1's primary address.
    Sweep,
}

/// What the recipe knows about a transaction it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxNote {
    pub(crate) tags: Vec<TxTag>,
    pub(crate) weight: Option<u64>,
}

/// What the recipe leaves for the export.
#[derive(Debug)]
pub(crate) struct RecipeOutcome {
    pub(crate) notes: HashMap<Hash, TxNote>,
    pub(crate) addresses: Addresses,
    pub(crate) mining: Duration,
    pub(crate) wallet: Duration,
}

/// Runs the recipe on a fresh synchronisable `node` with `wallet` pointing at it.
pub(crate) fn run(node: &Monerod, wallet: &WalletRpc) -> Result<RecipeOutcome, ChainFixtureError> {
    use Kind::*;

    node.make_synchronized(SYNC_TIMEOUT)?;
    let mut run = Run {
        node,
        wallet,
        notes: HashMap::new(),
        addresses: None,
        mining: Duration::ZERO,
        wallet_time: Duration::ZERO,
        sent: 0,
    };
    run.mine(130)?;
    run.setup_wallet()?;

    tracing::info!("chain fixture: single transactions");
    let spread = [
        Simple,
        ToAccount1,
        ToSubaddress(0),
        Multi(3),
        Integrated,
        LockedHeight,
        Multi(5),
        ToAccount1Sub,
        ToSubaddress(1),
        Multi(8),
        Simple,
        ToAccount1,
    ];
    for kind in spread {
        run.block_with(&[kind], &[])?;
        run.mine(3)?;
    }
    run.mine(20)?;
    tracing::info!("chain fixture: first burst");
    run.block_with(&[Multi(3); 12], &[TxTag::Burst])?;
    run.mine(10)?;
    tracing::info!("chain fixture: spends of non-coinbase outputs");
    for _ in 0..6 {
        run.block_with(&[FromAccount1], &[])?;
        run.mine(2)?;
    }
    run.mine(10)?;
    run.block_with(&[Sweep], &[])?;

    tracing::info!("chain fixture: one transaction every 100 blocks");
    for kind in [
        Multi(2),
        ToAccount1,
        Integrated,
        ToSubaddress(2),
        LockedHeight,
        ToAccount1,
    ] {
        run.mine(99)?;
        run.block_with(&[kind], &[])?;
    }
    run.mine_to(999)?;
    tracing::info!("chain fixture: second burst");
    run.block_with(
        &[
            Simple,
            ToSubaddress(0),
            Integrated,
            Multi(4),
            FromAccount1,
            LockedHeight,
            ToAccount1,
            Multi(2),
            Simple,
            Multi(7),
        ],
        &[TxTag::Burst],
    )?;
    for kind in [Multi(3), FromAccount1, ToAccount1Sub, Simple] {
        run.mine(149)?;
        run.block_with(&[kind], &[])?;
    }
    tracing::info!("chain fixture: third burst");
    run.block_with(
        &[
            Multi(15),
            Simple,
            ToSubaddress(1),
            Multi(3),
            ToAccount1,
            Integrated,
            LockedHeight,
            Multi(6),
            Simple,
            ToAccount1Sub,
            Multi(2),
            Simple,
        ],
        &[TxTag::Burst],
    )?;

    let seed_change = first_height_of_second_seed();
    run.mine_to(seed_change - 1)?;
    run.block_with(&[Multi(3)], &[TxTag::SeedChange])?;

    tracing::info!("chain fixture: tip region");
    run.mine_to(TARGET_TIP_HEIGHT - TIP_REGION_BLOCKS)?;
    let tip_region: [&[Kind]; TIP_REGION_BLOCKS as usize] = [
        &[Simple],
        &[Multi(4), ToSubaddress(2)],
        &[LockedPastTip],
        &[FromAccount1, Integrated],
        &[LockedTimestamp],
        &[Multi(3), Simple],
        &[ToAccount1],
        &[Multi(6), Simple],
    ];
    for kinds in tip_region {
        run.block_with(kinds, &[TxTag::TipRegion])?;
    }
    let tip = run.tip()?;
    if tip != TARGET_TIP_HEIGHT {
        return Err(ChainFixtureError::Recipe(format!(
            "the recipe ended at height {tip}, not {TARGET_TIP_HEIGHT}"
        )));
    }
    run.timed_wallet(|w| w.store())?;
    let addresses = run
        .addresses
        .take()
        .ok_or_else(|| ChainFixtureError::Recipe("wallet was never set up".to_owned()))?;
    Ok(RecipeOutcome {
        notes: run.notes,
        addresses,
        mining: run.mining,
        wallet: run.wallet_time,
    })
}

/// The first height whose RandomX key is not genesis (2113: keyed by block 2048).
fn first_height_of_second_seed() -> u64 {
    (1..=TARGET_TIP_HEIGHT)
        .find(|&h| randomx_seed_height(h) != 0)
        .unwrap_or(TARGET_TIP_HEIGHT)
}

struct Run<'a> {
    node: &'a Monerod,
    wallet: &'a WalletRpc,
    notes: HashMap<Hash, TxNote>,
    addresses: Option<Addresses>,
    mining: Duration,
    wallet_time: Duration,
    /// Transactions made so far (varies amounts and priorities).
    sent: u64,
}

impl Run<'_> {
    fn tip(&self) -> Result<u64, ChainFixtureError> {
        Ok(self.node.rpc().get_info()?.height.saturating_sub(1))
    }

    fn mine(&mut self, blocks: u64) -> Result<(), ChainFixtureError> {
        let mut left = blocks;
        while left > 0 {
            let now = left.min(MAX_MINE_PER_CALL);
            let started = Instant::now();
            self.node.mine(now)?;
            self.mining += started.elapsed();
            left -= now;
        }
        Ok(())
    }

    fn mine_to(&mut self, height: u64) -> Result<(), ChainFixtureError> {
        let tip = self.tip()?;
        if height < tip {
            return Err(ChainFixtureError::Recipe(format!(
                "asked to mine up to height {height}, but the tip is already {tip}"
            )));
        }
        tracing::info!(from = tip, to = height, "chain fixture: mining");
        self.mine(height - tip)
    }

    fn timed_wallet<T>(
        &mut self,
        call: impl FnOnce(&WalletRpc) -> Result<T, crate::rpc::RpcError>,
    ) -> Result<T, ChainFixtureError> {
        let started = Instant::now();
        let result = call(self.wallet);
        self.wallet_time += started.elapsed();
        Ok(result?)
    }

    fn setup_wallet(&mut self) -> Result<(), ChainFixtureError> {
        let restored = self.timed_wallet(|w| w.restore_test_wallet(WALLET_FILE_NAME))?;
        if restored.address != crate::MINING_ADDRESS {
            return Err(ChainFixtureError::Recipe(format!(
                "the test seed restored address {}, expected the mining address",
                restored.address
            )));
        }
        self.timed_wallet(|w| w.refresh())?;
        let account = self.timed_wallet(|w| w.create_account("second"))?;
        if account.account_index != 1 {
            return Err(ChainFixtureError::Recipe(format!(
                "the new account has index {}, expected 1",
                account.account_index
            )));
        }
        let subaddresses = self.timed_wallet(|w| w.create_addresses(0, 10))?;
        let account1_subaddresses = self.timed_wallet(|w| w.create_addresses(1, 3))?;
        let integrated = self.timed_wallet(|w| w.make_integrated_address(PAYMENT_ID))?;
        if subaddresses.len() != 10 || account1_subaddresses.len() != 3 {
            return Err(ChainFixtureError::Recipe(format!(
                "asked for 10 + 3 subaddresses, got {} + {}",
                subaddresses.len(),
                account1_subaddresses.len()
            )));
        }
        self.addresses = Some(Addresses {
            primary: restored.address,
            subaddresses,
            account1: account.address,
            account1_subaddresses,
            integrated,
            payment_id: hex::encode(PAYMENT_ID),
        });
        Ok(())
    }

    fn addresses(&self) -> Result<&Addresses, ChainFixtureError> {
        self.addresses
            .as_ref()
            .ok_or_else(|| ChainFixtureError::Recipe("wallet was never set up".to_owned()))
    }

    /// Makes the transactions `kinds`, mines one block, and checks that exactly they are in it.
    fn block_with(&mut self, kinds: &[Kind], tags: &[TxTag]) -> Result<(), ChainFixtureError> {
        self.timed_wallet(|w| w.refresh())?;
        let mut made = BTreeSet::new();
        for &kind in kinds {
            made.extend(self.send(kind, tags)?);
        }
        self.wait_until_relayed(&made)?;
        self.mine(1)?;
        let tip = self.tip()?;
        let block = self.node.rpc().get_block_by_height(tip)?;
        let mined: BTreeSet<Hash> = block.tx_hashes.iter().copied().collect();
        if mined != made {
            return Err(ChainFixtureError::Recipe(format!(
                "block {tip} holds {} transactions, the wallet made {} for it ({kinds:?})",
                mined.len(),
                made.len()
            )));
        }
        Ok(())
    }

    /// Waits until monerod has relayed every transaction in `hashes`: it gets them over RPC
    /// as "local" transactions and leaves them out of block templates until its (failing, for
    /// want of peers) Dandelion++ relay has run, a few hundred milliseconds later.
    fn wait_until_relayed(&self, hashes: &BTreeSet<Hash>) -> Result<(), ChainFixtureError> {
        let started = Instant::now();
        loop {
            let pool = self.node.rpc().get_transaction_pool()?;
            let relayed = pool
                .iter()
                .filter(|tx| tx.relayed && hashes.contains(&tx.id_hash))
                .count();
            if relayed == hashes.len() {
                tracing::debug!(
                    txs = hashes.len(),
                    ms = started.elapsed().as_millis(),
                    "transactions relayed"
                );
                return Ok(());
            }
            if started.elapsed() >= RELAY_TIMEOUT {
                return Err(ChainFixtureError::Recipe(format!(
                    "after {RELAY_TIMEOUT:?} monerod has relayed {relayed} of {} transactions (pool: {} transactions)",
                    hashes.len(),
                    pool.len()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Makes one transaction (a sweep may make several); returns their hashes.
    fn send(&mut self, kind: Kind, extra_tags: &[TxTag]) -> Result<Vec<Hash>, ChainFixtureError> {
        self.sent += 1;
        let sent = self.sent;
        let amount = 300_000_000_000 + (sent % 17) * 10_000_000_000;
        let priority = u32::try_from(sent % 5).unwrap_or(0);
        let tip = self.tip()?;
        let a = self.addresses()?.clone();
        let sub = |n: usize| {
            a.subaddresses
                .get(n)
                .cloned()
                .ok_or_else(|| ChainFixtureError::Recipe(format!("no subaddress {n}")))
        };
        let a1sub = a
            .account1_subaddresses
            .get(usize::try_from(sent).unwrap_or(0) % a.account1_subaddresses.len().max(1))
            .cloned()
            .unwrap_or_else(|| a.account1.clone());
        let mut tags: Vec<TxTag> = extra_tags.to_vec();
        let request = match kind {
            Kind::Simple => TransferRequest::to(&a.primary, amount),
            Kind::ToAccount1 => {
                tags.push(TxTag::ToSubaddress);
                TransferRequest::to(&a.account1, amount)
            }
            Kind::ToAccount1Sub => {
                tags.push(TxTag::ToSubaddress);
                TransferRequest::to(&a1sub, amount)
            }
            Kind::ToSubaddress(n) => {
                tags.push(TxTag::ToSubaddress);
                TransferRequest::to(&sub(n)?, amount)
            }
            Kind::Multi(n) => {
                tags.extend([TxTag::MultiDestination, TxTag::ToSubaddress]);
                if n >= 15 {
                    tags.push(TxTag::MaxOutputs);
                }
                multi_destination(&a, n, amount)?
            }
            Kind::Integrated => {
                tags.push(TxTag::IntegratedAddress);
                TransferRequest::to(&a.integrated, amount)
            }
            Kind::LockedHeight => {
                tags.push(TxTag::UnlockTimeHeight);
                TransferRequest::to(&a.primary, amount).unlock_time(tip + 21)
            }
            Kind::LockedPastTip => {
                tags.push(TxTag::UnlockTimeHeight);
                TransferRequest::to(&a.primary, amount).unlock_time(UNLOCK_AFTER_TIP)
            }
            Kind::LockedTimestamp => {
                tags.push(TxTag::UnlockTimeTimestamp);
                TransferRequest::to(&a.primary, amount).unlock_time(UNLOCK_TIMESTAMP)
            }
            Kind::FromAccount1 => {
                tags.push(TxTag::SpendsNonCoinbase);
                // Small and at the lowest explicit priority: account 1 holds only what earlier
                // transactions paid it.
                TransferRequest::to(&a.primary, amount / 6)
                    .from_account(1)
                    .priority(1)
            }
            Kind::Sweep => {
                tags.extend([TxTag::Sweep, TxTag::SpendsNonCoinbase, TxTag::ToSubaddress]);
                let request = SweepAllRequest {
                    address: a.account1.clone(),
                    account_index: 1,
                    subaddr_indices_all: true,
                    priority: 1,
                };
                let sweep = self.timed_wallet(|w| w.sweep_all(&request))?;
                if sweep.tx_hash_list.is_empty() {
                    return Err(ChainFixtureError::Recipe(
                        "sweep_all of account 1 made no transaction".to_owned(),
                    ));
                }
                for (i, hash) in sweep.tx_hash_list.iter().enumerate() {
                    self.notes.insert(
                        *hash,
                        TxNote {
                            tags: sorted(&tags),
                            weight: sweep.weight_list.get(i).copied(),
                        },
                    );
                }
                return Ok(sweep.tx_hash_list);
            }
        };
        let request = if matches!(kind, Kind::FromAccount1) {
            request
        } else {
            request.priority(priority)
        };
        let transfer = self
            .timed_wallet(|w| w.transfer(&request))
            .map_err(|error| {
                ChainFixtureError::Recipe(format!(
                    "transfer #{sent} ({kind:?}) at height {tip} failed: {error}"
                ))
            })?;
        self.notes.insert(
            transfer.tx_hash,
            TxNote {
                tags: sorted(&tags),
                weight: (transfer.weight > 0).then_some(transfer.weight),
            },
        );
        Ok(vec![transfer.tx_hash])
    }
}

fn sorted(tags: &[TxTag]) -> Vec<TxTag> {
    let set: BTreeSet<TxTag> = tags.iter().copied().collect();
    set.into_iter().collect()
}

/// `n` destinations (at most 15), each a different address of the wallet: account 1's
/// addresses get 1.5 XMR (they fund the later spends from account 1), the others `amount`.
fn multi_destination(
    a: &Addresses,
    n: usize,
    amount: u64,
) -> Result<TransferRequest, ChainFixtureError> {
    let sub = |i: usize| a.subaddresses.get(i);
    let a1 = |i: usize| a.account1_subaddresses.get(i);
    let order: [Option<&String>; 15] = [
        Some(&a.account1),
        sub(0),
        Some(&a.primary),
        sub(1),
        a1(0),
        sub(2),
        sub(3),
        a1(1),
        sub(4),
        sub(5),
        a1(2),
        sub(6),
        sub(7),
        sub(8),
        sub(9),
    ];
    let account1: Vec<&String> = std::iter::once(&a.account1)
        .chain(a.account1_subaddresses.iter())
        .collect();
    let mut request: Option<TransferRequest> = None;
    for address in order.iter().take(n) {
        let address = address.ok_or_else(|| {
            ChainFixtureError::Recipe("too few subaddresses for the destinations".to_owned())
        })?;
        let value = if account1.contains(&address) {
            3 * XMR / 2
        } else {
            amount
        };
        request = Some(match request {
            None => TransferRequest::to(address, value),
            Some(r) => r.and(address, value),
        });
    }
    request.ok_or_else(|| ChainFixtureError::Recipe("a transfer needs a destination".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses() -> Addresses {
        Addresses {
            primary: "p".to_owned(),
            subaddresses: (0..10).map(|i| format!("s{i}")).collect(),
            account1: "a1".to_owned(),
            account1_subaddresses: (0..3).map(|i| format!("a1s{i}")).collect(),
            integrated: "i".to_owned(),
            payment_id: String::new(),
        }
    }

    #[test]
    fn fifteen_destinations_are_all_different() {
        let r = multi_destination(&addresses(), 15, 7).unwrap();
        let set: BTreeSet<&str> = r.destinations.iter().map(|d| d.address.as_str()).collect();
        assert_eq!(set.len(), 15);
        let a1 = r.destinations.iter().find(|d| d.address == "a1").unwrap();
        assert_eq!(a1.amount, 1_500_000_000_000);
        let s0 = r.destinations.iter().find(|d| d.address == "s0").unwrap();
        assert_eq!(s0.amount, 7);
    }

    #[test]
    fn the_seed_changes_inside_the_chain() {
        let h = first_height_of_second_seed();
        assert_eq!(h, 2113);
        assert!(h < TARGET_TIP_HEIGHT - TIP_REGION_BLOCKS);
    }
}
