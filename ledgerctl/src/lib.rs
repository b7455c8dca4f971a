//! Operator tooling behind the `ledgerctl` command: reading `template.yaml` (the one source of
//! truth for table definitions), provisioning those tables on an emulator, restoring the vault's
//! backups into a new signals table, tracing one signal through every record kept of it, and
//! exporting the vault's evidence (original versions) and verifying such a folder offline, and
//! a regulator's production of one period as a self-verifying zip.

pub mod export;
pub mod produce;
pub mod provision;
pub mod restore;
pub mod template;
pub mod trace;
pub mod verify;
