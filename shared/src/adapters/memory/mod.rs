//! In-memory doubles of the ports, with the same semantics as the DynamoDB adapters: a
//! conditional, all-or-nothing append (entry + signal-id claim + audit record) and strongly
//! consistent reads. Used by unit tests and benchmarks, never by a function.
//!
//! Compiled only for tests (`cfg(test)`) or with the `doubles` feature (the tests crate and the
//! benchmarks enable it), so no Lambda binary carries them.

mod clock;
mod faults;
mod ledger;
mod metrics;
mod monitoring;
mod signer;
mod vault;

pub use clock::FixedClock;
pub use faults::{COMPETING_OBJECT, RivalAppends, VaultFaults};
pub use ledger::{InMemoryAuditSink, InMemoryLedger};
pub use metrics::RecordingMetrics;
pub use monitoring::{InMemoryAlarms, InMemoryTables};
pub use signer::SoftwareSigner;
pub use vault::InMemoryVault;
