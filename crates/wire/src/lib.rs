//! Every Monero P2P message (admin and protocol) and network address type, on levin + epee.
