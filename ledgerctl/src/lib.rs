//! Operator tooling behind the `ledgerctl` command: reading `template.yaml` (the one source of
//! truth for table definitions) and provisioning those tables on an emulator.

pub mod provision;
pub mod template;
