//! What the report is built from besides the streamed entries and audit events: facts the app
//! layer read from DynamoDB, S3, KMS and CloudWatch, already in domain form (no SDK types).
//!
//! Promise: these are plain values; the report judges them and never fetches anything itself.

use serde::Serialize;

use crate::domain::backup::Manifest;
use crate::domain::hash::Hash;
use crate::domain::report::period::Period;
use crate::domain::timestamp::Timestamp;

/// Everything besides the three accumulators.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInputs {
    pub generated_at: Timestamp,
    pub period: Period,
    pub signals_table: String,
    pub audit_table: String,
    pub vault_bucket: String,
    /// Read live at report time.
    pub ledger: LedgerState,
    pub tables: Vec<TableSettings>,
    /// Sum of the `AuditWriteErrors` metric over the period; `None` = could not be read.
    pub audit_write_errors: Option<u64>,
    /// Every manifest in the vault, oldest first.
    pub backups: Vec<BackupObservation>,
    /// verify-backup results in the period plus the latest one before it, oldest first.
    pub verifications: Vec<VerificationSummary>,
    /// Integrity sweep records in the period plus the latest of each mode before it, oldest first.
    pub sweeps: Vec<SweepSummary>,
    pub latest_checkpoint: Option<CheckpointSummary>,
    pub alarms: AlarmsEvidence,
    /// Why the alarms' state history could not be read, when it could not (the states can be
    /// read without it: the emulator has no history API). Noted in the report; the verdict
    /// rests on the states.
    pub alarm_history_unavailable: Option<String>,
}

/// The ledger's size and head when the report was generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerState {
    pub tree_size: u64,
    pub head_hash: Option<Hash>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableRole {
    Signals,
    Audit,
}

impl TableRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            TableRole::Signals => "signals",
            TableRole::Audit => "audit",
        }
    }
}

/// A DynamoDB table's protective settings as described at report time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSettings {
    pub role: TableRole,
    pub table_name: String,
    pub deletion_protection: bool,
    pub point_in_time_recovery: bool,
    /// The stream's view type (e.g. `NEW_AND_OLD_IMAGES`); `None` = no stream.
    pub stream_view_type: Option<String>,
    /// e.g. `AWS_OWNED` or `KMS`.
    pub sse: String,
}

/// The Object Lock and encryption headers of one S3 object version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectLockSeen {
    pub lock_mode: Option<String>,
    pub retain_until: Option<Timestamp>,
    pub server_side_encryption: Option<String>,
}

impl ObjectLockSeen {
    /// COMPLIANCE-locked and encrypted: what every vault object must be.
    pub fn problem(&self) -> Option<String> {
        let mut problems = Vec::new();
        if self.lock_mode.as_deref() != Some("COMPLIANCE") {
            problems.push(match &self.lock_mode {
                Some(mode) => format!("is locked in {mode} mode, not COMPLIANCE"),
                None => "has no Object Lock".to_owned(),
            });
        }
        if self.retain_until.is_none() {
            problems.push("has no retain-until date".to_owned());
        }
        if self
            .server_side_encryption
            .as_deref()
            .is_none_or(str::is_empty)
        {
            problems.push("is not encrypted".to_owned());
        }
        (!problems.is_empty()).then(|| problems.join(" and "))
    }
}

/// One backup manifest in the vault and what S3 says about its objects.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupObservation {
    pub manifest_key: String,
    pub manifest: Manifest,
    pub manifest_object: ObjectLockSeen,
    /// The CSV's object (`None` when the manifest names no CSV, or the CSV was not found).
    pub csv_object: Option<ObjectLockSeen>,
}

/// One verify-backup run record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationSummary {
    pub key: String,
    pub run_id: String,
    pub mode: String,
    pub passed: bool,
    pub finished_at: Timestamp,
    pub manifests_checked: u64,
    pub rows_checked: u64,
    /// Entries `[0, covered_to)` are in verified backups.
    pub covered_to: u64,
    pub restore_drill_matches: Option<bool>,
    pub findings_total: u64,
    pub first_finding: Option<String>,
}

/// One integrity sweep run record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub key: String,
    pub run_id: String,
    /// `init`, `incremental` or `full`.
    pub mode: String,
    pub passed: bool,
    pub finished_at: Timestamp,
    pub entries_verified: u64,
    pub tree_size: u64,
    pub root: Hash,
    pub findings_total: u64,
    pub first_finding: Option<String>,
    pub checkpoint_written: Option<String>,
}

/// The latest checkpoint in the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointSummary {
    pub key: String,
    pub tree_size: u64,
    pub root: Hash,
    pub head_hash: Hash,
    pub time: Timestamp,
    pub signed: bool,
    pub signing_key_id: Option<String>,
    /// `None` when the signature could not be checked (unsigned, or no key to check with).
    pub signature_valid: Option<bool>,
    pub object: ObjectLockSeen,
}

/// The stack's CloudWatch alarms, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmsEvidence {
    Available {
        alarms: Vec<AlarmState>,
        history: Vec<AlarmTransition>,
    },
    Unavailable {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: Option<String>,
    pub updated_at: Option<Timestamp>,
}

/// One state change from the alarm history (CloudWatch's `HistorySummary`, e.g. "Alarm updated
/// from OK to ALARM").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmTransition {
    pub name: String,
    pub at: Timestamp,
    pub summary: String,
}

impl AlarmTransition {
    /// Whether this change entered the ALARM state (CloudWatch summaries end "… to ALARM").
    pub fn enters_alarm(&self) -> bool {
        self.summary.trim_end().ends_with("to ALARM")
    }
}
