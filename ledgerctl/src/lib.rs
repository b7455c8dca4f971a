//! Operator tooling behind the `ledgerctl` command: reading `template.yaml` (the one source of
//! truth for table definitions), provisioning those tables on an emulator, and restoring the
//! vault's backups into a new signals table.

pub mod provision;
pub mod restore;
pub mod template;
