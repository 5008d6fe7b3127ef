//! Test kit: starts real monerod processes on loopback and wraps the RPC calls tests need.
