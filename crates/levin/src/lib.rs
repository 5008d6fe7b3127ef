//! The levin framing protocol used by Monero P2P: bucket header, tokio codec, fragments.
