//! Monero's epee portable-storage binary format: reader, writer, typed (de)serialisation with hard limits.
