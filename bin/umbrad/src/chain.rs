//! What the node claims about its chain in handshakes and timed syncs.
//!
//! Until chain sync lands (its own issue), the node holds only the genesis block of its
//! network, and says so: height 1, the genesis hash, cumulative difficulty 1, hard-fork
//! version 1. monerod checks `top_version` against the version it expects at the claimed
//! height and drops a peer that lies, so the claim must be exact; it also lets a regtest
//! monerod at genesis consider itself synchronised with us.

use umbra_wire::{CoreSyncData, genesis, network_id};

use crate::config::Network;

impl Network {
    /// The network id peers must share (regtest uses mainnet's).
    pub const fn network_id(self) -> [u8; 16] {
        match self {
            Self::Mainnet | Self::Regtest => network_id::MAINNET,
            Self::Testnet => network_id::TESTNET,
            Self::Stagenet => network_id::STAGENET,
        }
    }

    /// The hash of the network's genesis block.
    pub const fn genesis_hash(self) -> [u8; 32] {
        match self {
            Self::Mainnet | Self::Regtest => genesis::MAINNET,
            Self::Testnet => genesis::TESTNET,
            Self::Stagenet => genesis::STAGENET,
        }
    }
}

/// monerod's built-in seed nodes (`get_ip_seed_nodes` in monerod 0.18's `net_node.inl`),
/// as IPv4 address and port: dialled only when the node has no peer to dial at all.
const SEEDS_MAINNET: [([u8; 4], u16); 7] = [
    ([176, 9, 0, 187], 18080),
    ([88, 198, 163, 90], 18080),
    ([66, 85, 74, 134], 18080),
    ([88, 99, 173, 38], 18080),
    ([51, 79, 173, 165], 18080),
    ([192, 99, 8, 110], 18080),
    ([37, 187, 74, 171], 18080),
];
const SEEDS_TESTNET: [([u8; 4], u16); 5] = [
    ([176, 9, 0, 187], 28080),
    ([88, 99, 173, 38], 28080),
    ([51, 79, 173, 165], 28080),
    ([192, 99, 8, 110], 28080),
    ([37, 187, 74, 171], 28080),
];
const SEEDS_STAGENET: [([u8; 4], u16); 5] = [
    ([176, 9, 0, 187], 38080),
    ([88, 99, 173, 38], 38080),
    ([51, 79, 173, 165], 38080),
    ([192, 99, 8, 110], 38080),
    ([37, 187, 74, 171], 38080),
];

impl Network {
    /// The network's well-known seed nodes (none for regtest, a private chain).
    pub fn seed_nodes(self) -> Vec<std::net::SocketAddr> {
        let seeds: &[([u8; 4], u16)] = match self {
            Self::Mainnet => &SEEDS_MAINNET,
            Self::Testnet => &SEEDS_TESTNET,
            Self::Stagenet => &SEEDS_STAGENET,
            Self::Regtest => &[],
        };
        seeds
            .iter()
            .map(|&(ip, port)| std::net::SocketAddr::from((ip, port)))
            .collect()
    }
}

/// Our chain as peers are told it: just the genesis block.
pub const fn genesis_claim(network: Network) -> CoreSyncData {
    CoreSyncData::genesis(network.genesis_hash())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hashes_are_the_known_ones() {
        let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(Network::Regtest.genesis_hash()),
            umbra_test_kit::GENESIS_HASH_HEX
        );
        assert_eq!(
            hex(Network::Testnet.genesis_hash()),
            "48ca7cd3c8de5b6a4d53d2861fbdaedca141553559f9be9520068053cda8430b"
        );
        assert_eq!(
            hex(Network::Stagenet.genesis_hash()),
            "76ee3cc98646292206cd3e86f74d88b4dcc1d937088645e9b0cbca84b7ce74eb"
        );
        assert_eq!(genesis_claim(Network::Mainnet).current_height, 1);
        assert_eq!(Network::Mainnet.seed_nodes().len(), 7);
        assert!(Network::Regtest.seed_nodes().is_empty());
        assert!(
            Network::Stagenet
                .seed_nodes()
                .iter()
                .all(|a| a.port() == 38080)
        );
    }
}
