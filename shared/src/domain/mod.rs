//! The pure domain core: no AWS, no tokio, no environment, no clock, no I/O. Callers pass `now`.

pub mod audit;
pub mod audit_seal;
pub mod backup;
pub mod chain;
pub mod checkpoint;
pub mod decimal;
pub mod entry;
pub mod full_pass;
pub mod hash;
pub mod merkle;
pub mod proof;
pub mod receipt;
pub mod report;
pub mod signal;
pub mod timestamp;

#[cfg(test)]
pub(crate) mod test_support;
