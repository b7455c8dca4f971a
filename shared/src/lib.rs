//! The ledger's common crate. `domain` is the pure core (signals, validation, canonical encoding,
//! hash chain, Merkle tree); it performs no I/O and reads no clock or environment.

pub mod domain;
