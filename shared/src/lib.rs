//! The ledger's common crate, in layers:
//! - `domain`: the pure core (signals, validation, canonical encoding, hash chain, Merkle tree,
//!   audit events); no I/O, no clock, no environment;
//! - `ports`: the capabilities the application needs (ledger store, audit sink, metrics, clock);
//! - `adapters`: those ports on DynamoDB, EMF/stdout and the system clock, plus in-memory doubles;
//! - `app`: the services (ingest) over the ports;
//! - `config`: configuration from the environment, parsed once.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod ports;
