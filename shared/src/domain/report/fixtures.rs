//! A healthy report scenario for the report's tests: a 20-entry ledger received on 2026-11-28,
//! its insert events, a locked and verified backup, passing sweeps, a signed checkpoint and quiet
//! alarms. Tests break one thing at a time.

use crate::domain::audit::AuditEvent;
use crate::domain::backup::{
    BackupId, CsvObject, IndexRange, Manifest, ManifestFormat, csv_key, manifest_key,
};
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::merkle::CompactRange;
use crate::domain::report::{
    AlarmState, AlarmsEvidence, AuditAccumulator, BackupObservation, CheckpointSummary,
    ComplianceReport, LatencyAccumulator, LedgerState, ObjectLockSeen, Period, PeriodChainCheck,
    ReportInputs, SweepSummary, TableRole, TableSettings, VerificationSummary,
};
use crate::domain::test_support::{chain, insert_event, timestamp};

pub const SIZE: u64 = 20;

/// Everything a report is built from, before accumulation.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub inputs: ReportInputs,
    pub entries: Vec<StoredEntry>,
    pub events: Vec<AuditEvent>,
}

impl Scenario {
    pub fn build(&self) -> ComplianceReport {
        let mut latency = LatencyAccumulator::new();
        let mut check = PeriodChainCheck::new();
        let mut audit = AuditAccumulator::new();
        let period = self.inputs.period;
        for entry in self
            .entries
            .iter()
            .filter(|e| period.contains(&e.entry.received_at))
        {
            latency.add(entry);
            check.add(entry);
        }
        for event in self
            .events
            .iter()
            .filter(|e| period.contains(&e.occurred_at))
        {
            audit.add(event);
        }
        ComplianceReport::build(self.inputs.clone(), latency, audit, check)
    }
}

pub fn locked(encryption: &str) -> ObjectLockSeen {
    ObjectLockSeen {
        lock_mode: Some("COMPLIANCE".into()),
        retain_until: Some(timestamp("2033-11-28T00:00:00Z")),
        server_side_encryption: Some(encryption.into()),
    }
}

/// A manifest for entries `[from, to)` of `entries`, backup id `id`.
pub fn backup(entries: &[StoredEntry], from: usize, to: usize, id: &str) -> BackupObservation {
    let backup_id: BackupId = id.parse().unwrap();
    let mut tree = CompactRange::new();
    for entry in &entries[..to] {
        tree.append(entry.entry_hash);
    }
    let head = |size: usize| match size {
        0 => Hash::ZERO,
        n => entries[n - 1].entry_hash,
    };
    let manifest = Manifest {
        format: ManifestFormat::V1,
        backup_id,
        created_at: timestamp(&format!(
            "{}-{}-{}T02:00:05Z",
            &id[..4],
            &id[4..6],
            &id[6..8]
        )),
        index_range: IndexRange {
            from: from as u64,
            to: to as u64,
        },
        row_count: (to - from) as u64,
        first_previous_hash: head(from),
        last_entry_hash: head(to),
        merkle_root: tree.root(),
        compact_range: tree.hashes().to_vec(),
        csv: (to > from).then(|| CsvObject {
            key: csv_key(&backup_id),
            sha256: Hash::sha256(id.as_bytes()),
            bytes: 4096,
            version_id: format!("v-{id}"),
        }),
        receipts: None,
        retain_until: timestamp("2033-11-28T00:00:00Z"),
        previous_manifest_sha256: Hash::ZERO,
    };
    BackupObservation {
        manifest_key: manifest_key(&backup_id),
        csv_object: manifest.csv.as_ref().map(|_| locked("aws:kms")),
        manifest,
        manifest_object: locked("aws:kms"),
    }
}

pub fn sweep(mode: &str, at: &str, passed: bool) -> SweepSummary {
    SweepSummary {
        key: format!("sweeps/{at}-{mode}.json"),
        run_id: format!("run-{mode}-{at}"),
        mode: mode.into(),
        passed,
        finished_at: timestamp(at),
        entries_verified: SIZE,
        tree_size: SIZE,
        root: Hash([3; 32]),
        findings_total: u64::from(!passed),
        first_finding: (!passed).then(|| "hash_mismatch at index 4".to_owned()),
        checkpoint_written: passed.then(|| "checkpoints/x.txt".to_owned()),
    }
}

pub fn verification(at: &str, passed: bool) -> VerificationSummary {
    VerificationSummary {
        key: format!("verifications/{at}.json"),
        run_id: format!("verify-{at}"),
        mode: "daily".into(),
        passed,
        finished_at: timestamp(at),
        manifests_checked: 2,
        rows_checked: SIZE,
        covered_to: SIZE,
        restore_drill_matches: Some(true),
        findings_total: u64::from(!passed),
        first_finding: (!passed).then(|| "csv sha256 mismatch".to_owned()),
    }
}

pub fn alarm(name: &str, state: &str) -> AlarmState {
    AlarmState {
        name: name.into(),
        state: state.into(),
        reason: Some(
            "Threshold Crossed: 1 datapoint [0.0] was not greater than the threshold (0.0).".into(),
        ),
        updated_at: Some(timestamp("2026-11-20T00:00:00Z")),
    }
}

/// The healthy scenario: the period is the whole day 2026-11-28, generated the next morning.
pub fn healthy() -> Scenario {
    let entries = chain(SIZE);
    let events = entries.iter().map(insert_event).collect();
    let period = Period::new(
        timestamp("2026-11-28T00:00:00Z"),
        timestamp("2026-11-29T00:00:00Z"),
    )
    .unwrap();
    let table = |role, name: &str, stream: Option<&str>, sse: &str| TableSettings {
        role,
        table_name: name.into(),
        deletion_protection: true,
        point_in_time_recovery: true,
        stream_view_type: stream.map(str::to_owned),
        sse: sse.into(),
    };
    let inputs = ReportInputs {
        generated_at: timestamp("2026-11-29T06:00:00Z"),
        period,
        signals_table: "ledger-signals".into(),
        audit_table: "ledger-audit".into(),
        vault_bucket: "ledger-vault-123456789012".into(),
        ledger: LedgerState {
            tree_size: SIZE,
            head_hash: entries.last().map(|e| e.entry_hash),
        },
        tables: vec![
            table(
                TableRole::Signals,
                "ledger-signals",
                Some("NEW_AND_OLD_IMAGES"),
                "KMS",
            ),
            table(TableRole::Audit, "ledger-audit", None, "AWS_OWNED"),
        ],
        audit_write_errors: Some(0),
        backups: vec![
            backup(&entries, 0, 0, "20261127"),
            backup(&entries, 0, SIZE as usize, "20261128"),
        ],
        verifications: vec![
            verification("2026-11-27T02:30:00Z", true),
            verification("2026-11-28T02:30:00Z", true),
        ],
        sweeps: vec![
            sweep("full", "2026-11-27T03:00:00Z", true),
            sweep("full", "2026-11-28T03:00:00Z", true),
            sweep("incremental", "2026-11-28T23:00:00Z", true),
        ],
        latest_checkpoint: Some(CheckpointSummary {
            key: "checkpoints/00000000000000000020-20261128T230000000000Z.txt".into(),
            tree_size: SIZE,
            root: Hash([3; 32]),
            head_hash: entries[SIZE as usize - 1].entry_hash,
            time: timestamp("2026-11-28T23:00:00Z"),
            signed: true,
            signing_key_id: Some("arn:aws:kms:eu-west-1:123456789012:key/abcd".into()),
            signature_valid: Some(true),
            object: locked("aws:kms"),
        }),
        alarms: AlarmsEvidence::Available {
            alarms: vec![
                alarm("ledger-p95-latency", "OK"),
                alarm("ledger-integrity-failures", "OK"),
                alarm("ledger-backup-missing", "INSUFFICIENT_DATA"),
            ],
            history: vec![],
        },
        alarm_history_unavailable: None,
    };
    Scenario {
        inputs,
        entries,
        events,
    }
}
