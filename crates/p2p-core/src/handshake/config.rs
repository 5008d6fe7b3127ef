//! What we say about ourselves in a handshake, and the rules we hold the peer to.

use std::time::Duration;

use umbra_wire::BasicNodeData;

use crate::NetworkZone;

/// How long a whole handshake may take, from the first byte to the outcome (including the
/// support-flags round trip), unless configured otherwise.
///
/// monerod gives its handshake invoke `P2P_DEFAULT_HANDSHAKE_INVOKE_TIMEOUT` (5 s); we allow
/// twice that, so that a loaded CI machine or a slow Tor circuit does not fail honest peers.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Our side of a handshake: the fields of our `basic_node_data` and the checks applied to
/// the peer's.
///
/// Build it with [`HandshakeConfig::new`] (every privacy-relevant field off) or
/// [`HandshakeConfig::for_zone`] (fields chosen from the zone's rules, as monerod's
/// `get_local_node_data` does), then adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// The network we are on; a peer on another one is refused
    /// ([`HandshakeError::WrongNetwork`](super::HandshakeError::WrongNetwork)). See
    /// [`umbra_wire::network_id`] (regtest uses mainnet's id).
    pub network_id: [u8; 16],
    /// Our node id on this connection (from [`crate::node_id_for_connection`]): the
    /// zone's id where ids are reused, a fresh one per connection otherwise, and never the
    /// same on two zones ([`crate::NodeIds`]).
    pub node_id: u64,
    /// The port we accept P2P connections on, as we tell the peer; 0 if we do not listen or
    /// the zone must not reveal it (monerod sends it only on zones that can ping back, and
    /// not with `--hide-my-port`).
    pub my_port: u32,
    /// Our restricted RPC port, 0 for none (monerod: only on zones that can ping back).
    pub rpc_port: u16,
    /// RPC payment: credits per hash, 0 if free or no RPC.
    pub rpc_credits_per_hash: u32,
    /// Our [`umbra_wire::support_flags`].
    pub support_flags: u32,
    /// Whether a peer presenting `node_id` is refused as a connection to ourselves
    /// ([`NetworkZone::CHECK_NODE_ID`]; monerod checks on the public zone only).
    pub check_node_id: bool,
    /// Whether private and loopback addresses are kept in the peer's peer list and are
    /// acceptable ping-back targets (monerod's `--allow-local-ip`; tests on loopback need it).
    pub allow_local_addresses: bool,
    /// Whether an inbound peer's advertised port is worth a ping back
    /// ([`NetworkZone::CAN_PING_BACK`]: the zone gives us the peer's source address).
    pub can_ping_back: bool,
    /// Whether to ask a peer that announced no support flags for them (monerod does on the
    /// public zone). Off on anonymity zones ([`NetworkZone::ANONYMOUS`]): monerod closes
    /// the connection on that request there.
    pub ask_support_flags: bool,
    /// Bound on the whole handshake; see [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub timeout: Duration,
    /// What we tell Umbra peers about our encrypted transports, in the extra optional
    /// fields of `basic_node_data` (monerod ignores them); `None` sends none.
    pub umbra: Option<UmbraAdvert>,
}

/// Our identity key and the Umbra transports we accept on our P2P port, as the handshake
/// advertises them ([`umbra_wire::BasicNodeData::umbra_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UmbraAdvert {
    /// Our public identity key on this zone (Ed25519).
    pub key: [u8; 32],
    /// [`umbra_wire::umbra_transports`] flags.
    pub transports: u32,
}

impl HandshakeConfig {
    /// A config for `network_id` presenting `node_id`, revealing nothing optional: no port,
    /// no RPC port, fluffy-block support, no self-connection check, no ping back, no local
    /// addresses, [`DEFAULT_HANDSHAKE_TIMEOUT`].
    #[must_use]
    pub const fn new(network_id: [u8; 16], node_id: u64) -> Self {
        Self {
            network_id,
            node_id,
            my_port: 0,
            rpc_port: 0,
            rpc_credits_per_hash: 0,
            support_flags: umbra_wire::support_flags::FLUFFY_BLOCKS,
            check_node_id: false,
            allow_local_addresses: false,
            can_ping_back: false,
            ask_support_flags: true,
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            umbra: None,
        }
    }

    /// A config following zone `Z`'s rules: `listen_port` is advertised only where the zone
    /// broadcasts our address ([`NetworkZone::BROADCAST_OWN_ADDR`]), the self-connection
    /// check and the ping back are on where the zone supports them.
    ///
    /// `node_id` must come from [`crate::node_id_for_connection::<Z>`].
    #[must_use]
    pub fn for_zone<Z: NetworkZone>(
        network_id: [u8; 16],
        node_id: u64,
        listen_port: Option<u16>,
    ) -> Self {
        Self {
            my_port: match listen_port {
                Some(port) if Z::BROADCAST_OWN_ADDR => u32::from(port),
                _ => 0,
            },
            check_node_id: Z::CHECK_NODE_ID,
            can_ping_back: Z::CAN_PING_BACK,
            ask_support_flags: !Z::ANONYMOUS,
            ..Self::new(network_id, node_id)
        }
    }

    /// Our `basic_node_data` as this config describes it.
    #[must_use]
    pub const fn node_data(&self) -> BasicNodeData {
        BasicNodeData {
            network_id: self.network_id,
            my_port: self.my_port,
            rpc_port: self.rpc_port,
            rpc_credits_per_hash: self.rpc_credits_per_hash,
            peer_id: self.node_id,
            support_flags: self.support_flags,
            umbra_key: match &self.umbra {
                Some(advert) => Some(advert.key),
                None => None,
            },
            umbra_transports: match &self.umbra {
                Some(advert) => Some(advert.transports),
                None => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use umbra_transport::Tcp;
    use umbra_wire::network_id;

    use super::*;
    use crate::ClearNet;

    #[test]
    fn clearnet_reveals_the_port_and_checks_self_connections() {
        let config =
            HandshakeConfig::for_zone::<ClearNet<Tcp>>(network_id::MAINNET, 7, Some(18080));
        assert_eq!(config.my_port, 18080);
        assert!(config.check_node_id);
        assert!(config.can_ping_back);
        assert_eq!(config.node_data().peer_id, 7);
    }

    #[test]
    fn new_reveals_nothing() {
        let config = HandshakeConfig::new(network_id::MAINNET, 7);
        let data = config.node_data();
        assert_eq!((data.my_port, data.rpc_port), (0, 0));
        assert!(!config.can_ping_back);
        assert_eq!(config.timeout, DEFAULT_HANDSHAKE_TIMEOUT);
    }
}
