//! Which chain the rules are for: the network, its genesis block and `--fixed-difficulty`.

use monero_oxide::block::{Block, BlockHeader};
use monero_oxide::transaction::Transaction;

use crate::hardfork::{HardForkTable, MAINNET_FORKS, REGTEST_FORKS, STAGENET_FORKS, TESTNET_FORKS};

/// A Monero network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// The main network.
    Mainnet,
    /// The public test network.
    Testnet,
    /// The staging network.
    Stagenet,
    /// monerod's `--regtest`: a private chain on the mainnet genesis block and network id,
    /// with its own short hard-fork table (version 1 at height 0, the newest version from
    /// height 1 on).
    Regtest,
}

/// Hash of the mainnet genesis block (also the regtest genesis: monerod's fake chain uses the
/// mainnet configuration).
pub const MAINNET_GENESIS_HASH: [u8; 32] = [
    0x41, 0x80, 0x15, 0xbb, 0x9a, 0xe9, 0x82, 0xa1, 0x97, 0x5d, 0xa7, 0xd7, 0x92, 0x77, 0xc2, 0x70,
    0x57, 0x27, 0xa5, 0x68, 0x94, 0xba, 0x0f, 0xb2, 0x46, 0xad, 0xaa, 0xbb, 0x1f, 0x46, 0x32, 0xe3,
];
/// Hash of the testnet genesis block.
pub const TESTNET_GENESIS_HASH: [u8; 32] = [
    0x48, 0xca, 0x7c, 0xd3, 0xc8, 0xde, 0x5b, 0x6a, 0x4d, 0x53, 0xd2, 0x86, 0x1f, 0xbd, 0xae, 0xdc,
    0xa1, 0x41, 0x55, 0x35, 0x59, 0xf9, 0xbe, 0x95, 0x20, 0x06, 0x80, 0x53, 0xcd, 0xa8, 0x43, 0x0b,
];
/// Hash of the stagenet genesis block.
pub const STAGENET_GENESIS_HASH: [u8; 32] = [
    0x76, 0xee, 0x3c, 0xc9, 0x86, 0x46, 0x29, 0x22, 0x06, 0xcd, 0x3e, 0x86, 0xf7, 0x4d, 0x88, 0xb4,
    0xdc, 0xc1, 0xd9, 0x37, 0x08, 0x86, 0x45, 0xe9, 0xb0, 0xcb, 0xca, 0x84, 0xb7, 0xce, 0x74, 0xeb,
];

/// The coinbase transaction of the mainnet (and testnet, and regtest) genesis block, as
/// monerod's `config::GENESIS_TX` gives it.
const MAINNET_GENESIS_TX: &str = "013c01ff0001ffffffffffff03029b2e4c0281c0b02e7c53291a94d1d0cbff8883f8024f5142ee494ffbbd08807121017767aafcde9be00dcfd098715ebcf7f410daebc582fda69d24a28e9d0bc890d1";
/// The coinbase transaction of the stagenet genesis block.
const STAGENET_GENESIS_TX: &str = "013c01ff0001ffffffffffff0302df5d56da0c7d643ddd1ce61901c7bdc5fb1738bfe39fbe69c28a3a7032729c0f2101168d0c4ca86fb55a4cf6a36d31431be1c53a3bd7411bb24e8832410289fa6f3b";

impl Network {
    /// The hard-fork table monerod 0.18 uses on this network.
    pub const fn hard_forks(self) -> &'static HardForkTable {
        match self {
            Self::Mainnet => &MAINNET_FORKS,
            Self::Testnet => &TESTNET_FORKS,
            Self::Stagenet => &STAGENET_FORKS,
            Self::Regtest => &REGTEST_FORKS,
        }
    }

    /// The genesis block: version 1, timestamp 0, no previous block, monerod's
    /// `GENESIS_TX` as coinbase and `GENESIS_NONCE` as nonce. Its hash is
    /// [`Network::genesis_hash`].
    pub fn genesis_block(self) -> Block {
        let (tx_hex, nonce) = match self {
            Self::Mainnet | Self::Regtest => (MAINNET_GENESIS_TX, 10_000),
            Self::Testnet => (MAINNET_GENESIS_TX, 10_001),
            Self::Stagenet => (STAGENET_GENESIS_TX, 10_002),
        };
        let header = BlockHeader {
            hardfork_version: 1,
            hardfork_signal: 0,
            timestamp: 0,
            previous: [0; 32],
            nonce,
        };
        // The blob is a constant of this crate; a failure here is a bug in the constant,
        // covered by `genesis_blocks_hash_to_the_known_hashes`.
        let tx = decode_hex(tx_hex).and_then(|bytes| Transaction::read(&mut bytes.as_slice()).ok());
        match tx.and_then(|tx| Block::new(header.clone(), tx, Vec::new())) {
            Some(block) => block,
            None => unreachable_genesis(),
        }
    }

    /// The hash of the network's genesis block (height 0).
    pub const fn genesis_hash(self) -> [u8; 32] {
        match self {
            Self::Mainnet | Self::Regtest => MAINNET_GENESIS_HASH,
            Self::Testnet => TESTNET_GENESIS_HASH,
            Self::Stagenet => STAGENET_GENESIS_HASH,
        }
    }
}

/// The parameters of the chain being verified.
///
/// ```
/// use umbra_consensus::{ChainConfig, Network};
///
/// // What `monerod --regtest --fixed-difficulty 1` runs.
/// let regtest = ChainConfig::regtest(Some(1));
/// assert_eq!(regtest.network, Network::Regtest);
/// assert_eq!(ChainConfig::mainnet().fixed_difficulty, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainConfig {
    /// The network.
    pub network: Network,
    /// monerod's `--fixed-difficulty N`: every block after genesis has difficulty `N`
    /// (genesis has 1). `None` (or `Some(0)`, which monerod treats as "not set") computes
    /// the difficulty from the chain.
    pub fixed_difficulty: Option<u128>,
}

impl ChainConfig {
    /// Mainnet, difficulty from the chain.
    pub const fn mainnet() -> Self {
        Self {
            network: Network::Mainnet,
            fixed_difficulty: None,
        }
    }

    /// Testnet, difficulty from the chain.
    pub const fn testnet() -> Self {
        Self {
            network: Network::Testnet,
            fixed_difficulty: None,
        }
    }

    /// Stagenet, difficulty from the chain.
    pub const fn stagenet() -> Self {
        Self {
            network: Network::Stagenet,
            fixed_difficulty: None,
        }
    }

    /// `--regtest`, with `--fixed-difficulty` if given.
    pub const fn regtest(fixed_difficulty: Option<u128>) -> Self {
        Self {
            network: Network::Regtest,
            fixed_difficulty,
        }
    }

    /// The fixed difficulty in effect, if any (`Some(0)` counts as none, as in monerod).
    pub const fn effective_fixed_difficulty(&self) -> Option<u128> {
        match self.fixed_difficulty {
            Some(0) | None => None,
            Some(d) => Some(d),
        }
    }
}

/// Decodes lowercase hex (for the genesis constants).
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((digit(*hi)? << 4) | digit(*lo)?),
            _ => None,
        })
        .collect()
}

/// The genesis constants are checked by a unit test; this is never reached.
#[cold]
fn unreachable_genesis() -> Block {
    #[allow(clippy::panic)]
    {
        panic!("the genesis transaction constant of umbra-consensus does not parse")
    }
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
    fn genesis_hashes_decode() {
        assert_eq!(
            hex::encode(MAINNET_GENESIS_HASH),
            "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"
        );
        assert_eq!(Network::Regtest.genesis_hash(), MAINNET_GENESIS_HASH);
    }

    #[test]
    fn genesis_blocks_hash_to_the_known_hashes() {
        for network in [
            Network::Mainnet,
            Network::Testnet,
            Network::Stagenet,
            Network::Regtest,
        ] {
            let block = network.genesis_block();
            assert_eq!(block.hash(), network.genesis_hash(), "{network:?}");
            assert_eq!(block.number(), 0);
        }
    }

    #[test]
    fn fixed_difficulty_zero_means_none() {
        assert_eq!(
            ChainConfig::regtest(Some(0)).effective_fixed_difficulty(),
            None
        );
        assert_eq!(
            ChainConfig::regtest(Some(5)).effective_fixed_difficulty(),
            Some(5)
        );
    }
}
