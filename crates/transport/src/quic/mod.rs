//! QUIC between Umbra peers (in progress).
