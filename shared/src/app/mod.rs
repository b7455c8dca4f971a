//! Application services: behaviour over the ports (async, but no SDK types), wired to real
//! adapters by the function binaries and to in-memory doubles by tests and benchmarks.

pub mod backup;
pub mod http;
pub mod ingest;
pub mod report;
pub mod sweep;
pub mod tamper_watch;
pub mod verify_backup;
