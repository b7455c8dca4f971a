//! Backup verification over in-memory ports: a clean pass with the restore drill, and each kind
//! of tampering found with a precise message.

use time::macros::date;

use super::*;
use crate::adapters::memory::{FixedClock, InMemoryLedger, InMemoryVault, RecordingMetrics};
use crate::app::backup::{BackupJob, BackupSettings};
use crate::domain::backup::{
    CsvObject, csv_key, manifest_key, receipts_csv_key, write_header, write_receipt_row,
    write_receipts_header, write_row,
};
use crate::domain::decimal::ExactDecimal;
use crate::domain::entry::StoredEntry;
use crate::domain::receipt::StoredReceipt;
use crate::domain::test_support::{chain, insert_event, receipt_record, timestamp};
use crate::ports::MIN_PART_BYTES;

struct Fixture {
    ledger: InMemoryLedger,
    vault: InMemoryVault,
    metrics: RecordingMetrics,
    source: Vec<StoredEntry>,
}

impl Fixture {
    /// 30 entries backed up over two days (20, then 10).
    async fn new() -> Fixture {
        let fixture = Fixture {
            ledger: InMemoryLedger::new(),
            vault: InMemoryVault::new(),
            metrics: RecordingMetrics::default(),
            source: chain(30),
        };
        let job = BackupJob::new(
            fixture.ledger.clone(),
            fixture.vault.clone(),
            fixture.ledger.audit_sink(),
            fixture.clock(),
            RecordingMetrics::default(),
            BackupSettings {
                retention_days: 2555,
                page_size: 7,
                part_bytes: MIN_PART_BYTES,
                receipt_lag_seconds: 300,
            },
        );
        fixture.append(0, 20).await;
        job.run(Some(date!(2026 - 11 - 27)), "t").await.unwrap();
        fixture.append(20, 30).await;
        job.run(Some(date!(2026 - 11 - 28)), "t").await.unwrap();
        fixture
    }

    fn clock(&self) -> FixedClock {
        FixedClock::new(timestamp("2026-11-29T02:30:00Z"))
    }

    async fn append(&self, from: usize, to: usize) {
        for stored in &self.source[from..to] {
            self.ledger
                .append(stored, &insert_event(stored))
                .await
                .unwrap();
        }
    }

    async fn verify(&self, mode: VerifyMode) -> Result<VerificationResult, VerifyError> {
        VerifyBackupJob::new(
            self.ledger.clone(),
            self.vault.clone(),
            self.ledger.audit_sink(),
            self.clock(),
            self.metrics.clone(),
        )
        .run(mode, "verify")
        .await
    }

    fn manifest(&self, day: time::Date) -> (Vec<u8>, Manifest) {
        let bytes = self
            .vault
            .latest(&manifest_key(&BackupId::new(day, 1).unwrap()))
            .unwrap();
        let manifest = Manifest::parse(&bytes).unwrap();
        (bytes, manifest)
    }
}

fn failed(result: Result<VerificationResult, VerifyError>) -> VerificationResult {
    match result {
        Err(VerifyError::Failed(result)) => *result,
        other => panic!("expected findings, got {other:?}"),
    }
}

fn kinds(result: &VerificationResult) -> Vec<(&str, Option<u64>)> {
    result
        .findings
        .iter()
        .map(|f| (f.kind.as_str(), f.chain_index))
        .collect()
}

#[tokio::test]
async fn clean_backups_verify_and_the_restore_drill_matches() {
    let fixture = Fixture::new().await;
    let latest = fixture.verify(VerifyMode::Latest).await.unwrap();
    assert_eq!(
        (
            latest.manifests_checked,
            latest.rows_checked,
            latest.covered_to
        ),
        (1, 10, 30)
    );
    let all = fixture.verify(VerifyMode::All).await.unwrap();
    assert_eq!((all.manifests_checked, all.rows_checked), (2, 30));
    let drill = all.restore_drill.unwrap();
    assert!(drill.matches);
    assert_eq!(drill.tree_size, 30);
    assert_eq!(drill.live_head, fixture.source[29].entry_hash);
    assert_eq!(fixture.metrics.total(metric::BACKUP_VERIFIED), 2.0);
    // The result objects are in the vault for the report.
    assert_eq!(
        fixture
            .vault
            .keys()
            .iter()
            .filter(|k| k.starts_with(VERIFICATION_PREFIX))
            .count(),
        2
    );
}

#[tokio::test]
async fn a_csv_overwritten_with_a_new_version_is_found() {
    let fixture = Fixture::new().await;
    let (_, manifest) = fixture.manifest(date!(2026 - 11 - 28));
    fixture
        .vault
        .overwrite(&manifest.csv.unwrap().key, b"forged".to_vec());
    let result = failed(fixture.verify(VerifyMode::Latest).await);
    assert_eq!(kinds(&result), vec![("csv_overwritten", None)]);
    assert!(
        result.findings[0]
            .message
            .contains("signals_backup_20261128.csv"),
        "{}",
        result.findings[0].message
    );
}

#[tokio::test]
async fn a_row_edited_in_the_table_after_backup_is_found() {
    let fixture = Fixture::new().await;
    fixture.ledger.tamper(|entries, _| {
        entries.get_mut(&12).unwrap().entry.content.entry_price = ExactDecimal::parse("1").unwrap()
    });
    let result = failed(fixture.verify(VerifyMode::All).await);
    assert_eq!(kinds(&result)[0], ("row_differs_from_live", Some(12)));
    assert!(
        kinds(&result).contains(&("restore_drill_mismatch", None)),
        "{:?}",
        kinds(&result)
    );
    assert!(
        result.findings[0].message.starts_with("chain index 12:"),
        "{}",
        result.findings[0].message
    );
}

#[tokio::test]
async fn a_manifest_with_a_wrong_previous_hash_is_found() {
    let fixture = Fixture::new().await;
    let (_, mut manifest) = fixture.manifest(date!(2026 - 11 - 28));
    // A later, forged manifest that does not chain to the real one.
    manifest.backup_id = BackupId::new(date!(2026 - 11 - 29), 1).unwrap();
    manifest.index_range = crate::domain::backup::IndexRange { from: 30, to: 30 };
    manifest.row_count = 0;
    manifest.first_previous_hash = manifest.last_entry_hash;
    manifest.csv = None;
    manifest.previous_manifest_sha256 = Hash([9; 32]);
    fixture
        .vault
        .put_locked(
            &manifest_key(&manifest.backup_id),
            manifest.to_bytes(),
            "application/json",
            timestamp("2040-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let result = failed(fixture.verify(VerifyMode::Latest).await);
    assert_eq!(kinds(&result), vec![("broken_link", None)]);
    assert_eq!(
        result.findings[0]
            .backup_id
            .map(|id| id.to_string())
            .as_deref(),
        Some("20261129")
    );
}

#[tokio::test]
async fn a_csv_with_a_row_removed_is_found() {
    // One real backup of all 30 entries, in a scratch vault.
    let fixture = Fixture {
        ledger: InMemoryLedger::new(),
        vault: InMemoryVault::new(),
        metrics: RecordingMetrics::default(),
        source: chain(30),
    };
    fixture.append(0, 30).await;
    let scratch = InMemoryVault::new();
    BackupJob::new(
        fixture.ledger.clone(),
        scratch.clone(),
        fixture.ledger.audit_sink(),
        fixture.clock(),
        RecordingMetrics::default(),
        BackupSettings::default(),
    )
    .run(Some(date!(2026 - 11 - 28)), "t")
    .await
    .unwrap();
    let id = BackupId::new(date!(2026 - 11 - 28), 1).unwrap();
    let mut manifest = Manifest::parse(&scratch.latest(&manifest_key(&id)).unwrap()).unwrap();
    // The vault under test holds the same manifest, but naming a CSV that lacks entry 25.
    let mut csv = Vec::new();
    write_header(&mut csv);
    for stored in fixture.source.iter().filter(|e| e.entry.chain_index != 25) {
        write_row(&mut csv, stored);
    }
    let stored = fixture
        .vault
        .put_locked(
            &csv_key(&id),
            csv.clone(),
            "text/csv",
            manifest.retain_until,
        )
        .await
        .unwrap();
    manifest.csv = Some(CsvObject {
        key: csv_key(&id),
        sha256: Hash::sha256(&csv),
        bytes: csv.len() as u64,
        version_id: stored.version_id,
    });
    fixture
        .vault
        .put_locked(
            &manifest_key(&id),
            manifest.to_bytes(),
            "application/json",
            manifest.retain_until,
        )
        .await
        .unwrap();

    let result = failed(fixture.verify(VerifyMode::Latest).await);
    let found = kinds(&result);
    assert_eq!(found[0], ("row_count_mismatch", None), "{found:?}");
    assert!(
        result.findings[0]
            .message
            .contains("has 29 rows; the manifest says 30"),
        "{}",
        result.findings[0].message
    );
    assert!(found.contains(&("gap", Some(25))), "{found:?}");
}

#[tokio::test]
async fn a_verification_audit_event_that_cannot_be_written_is_counted() {
    use crate::app::ingest::metric::AUDIT_WRITE_ERRORS;
    let fixture = Fixture::new().await;
    fixture.ledger.fail_audit_writes(true);
    fixture.verify(VerifyMode::All).await.unwrap();
    assert_eq!(fixture.metrics.total(AUDIT_WRITE_ERRORS), 1.0);
}

// ---- delivery receipts --------------------------------------------------------------------

/// 30 entries and three receipts, backed up once into the fixture's vault; returns the
/// fixture and the receipts in CSV order.
async fn with_receipts() -> (Fixture, Vec<StoredReceipt>) {
    let fixture = Fixture {
        ledger: InMemoryLedger::new(),
        vault: InMemoryVault::new(),
        metrics: RecordingMetrics::default(),
        source: chain(30),
    };
    fixture.append(0, 30).await;
    let mut receipts = Vec::new();
    for (index, subscriber, at) in [
        (4, "desk-a", "2026-11-28T11:00:00Z"),
        (7, "desk-b", "2026-11-28T12:00:00Z"),
        (7, "desk-c", "2026-11-28T12:00:00Z"),
    ] {
        let (stored, event) = receipt_record(&fixture.source[index], subscriber, 2_000, at);
        fixture
            .ledger
            .record_receipt(&stored, &event)
            .await
            .unwrap();
        receipts.push(stored);
    }
    BackupJob::new(
        fixture.ledger.clone(),
        fixture.vault.clone(),
        fixture.ledger.audit_sink(),
        fixture.clock(),
        RecordingMetrics::default(),
        BackupSettings::default(),
    )
    .run(Some(date!(2026 - 11 - 28)), "t")
    .await
    .unwrap();
    (fixture, receipts)
}

/// The same backup in a fresh vault, except that its manifest names `rows` as its receipts CSV
/// (consistent SHA-256 and size, as a forger who wrote both would make them) with `count`.
async fn forged_receipts(rows: &[StoredReceipt], count: u64) -> VerificationResult {
    let (fixture, _) = with_receipts().await;
    let id = BackupId::new(date!(2026 - 11 - 28), 1).unwrap();
    let (_, mut manifest) = fixture.manifest(date!(2026 - 11 - 28));
    let vault = InMemoryVault::new();
    let entries_csv = manifest.csv.clone().unwrap();
    let stored = vault
        .put_locked(
            &entries_csv.key,
            fixture.vault.latest(&entries_csv.key).unwrap(),
            "text/csv",
            manifest.retain_until,
        )
        .await
        .unwrap();
    manifest.csv = Some(CsvObject {
        version_id: stored.version_id,
        ..entries_csv
    });
    let mut body = Vec::new();
    write_receipts_header(&mut body);
    for row in rows {
        write_receipt_row(&mut body, row);
    }
    let key = receipts_csv_key(&id);
    let stored = vault
        .put_locked(&key, body.clone(), "text/csv", manifest.retain_until)
        .await
        .unwrap();
    let receipts = manifest.receipts.as_mut().unwrap();
    receipts.row_count = count;
    receipts.csv = Some(CsvObject {
        key,
        sha256: Hash::sha256(&body),
        bytes: body.len() as u64,
        version_id: stored.version_id,
    });
    vault
        .put_locked(
            &manifest_key(&id),
            manifest.to_bytes(),
            "application/json",
            manifest.retain_until,
        )
        .await
        .unwrap();
    let verified = VerifyBackupJob::new(
        fixture.ledger.clone(),
        vault,
        fixture.ledger.audit_sink(),
        fixture.clock(),
        RecordingMetrics::default(),
    )
    .run(VerifyMode::All, "verify")
    .await;
    failed(verified)
}

#[tokio::test]
async fn backed_up_receipts_verify_row_by_row() {
    let (fixture, receipts) = with_receipts().await;
    let (_, manifest) = fixture.manifest(date!(2026 - 11 - 28));
    let listed = manifest.receipts.as_ref().unwrap();
    assert_eq!(listed.row_count, 3);
    let csv = listed.csv.as_ref().unwrap();
    assert_eq!(
        read_receipt_rows(&fixture.vault.latest(&csv.key).unwrap()).unwrap(),
        receipts
    );
    let all = fixture.verify(VerifyMode::All).await.unwrap();
    assert_eq!((all.rows_checked, all.receipts_checked), (30, 3));
    let latest = fixture.verify(VerifyMode::Latest).await.unwrap();
    assert_eq!(latest.receipts_checked, 3);
}

#[tokio::test]
async fn an_edited_receipt_row_is_found_by_its_hash_naming_file_and_row() {
    let (_, mut rows) = with_receipts().await;
    rows[1].receipt.delivered_at = timestamp("2026-11-28T11:59:00Z");
    let result = forged_receipts(&rows, 3).await;
    let found = kinds(&result);
    assert_eq!(
        found,
        vec![
            ("receipt_hash_mismatch", Some(7)),
            ("receipt_latency_mismatch", Some(7)),
            ("receipt_differs_from_live", Some(7)),
        ]
    );
    assert!(
        result.findings[0]
            .message
            .starts_with("signals/2026/11/receipts_backup_20261128.csv: row 2: signal sig-000007 subscriber desk-b"),
        "{}",
        result.findings[0].message
    );
}

#[tokio::test]
async fn a_removed_or_added_receipt_row_and_a_wrong_count_are_found() {
    let (_, rows) = with_receipts().await;
    // Removed: the manifest still says three.
    let removed = forged_receipts(&[rows[0].clone(), rows[2].clone()], 3).await;
    assert_eq!(kinds(&removed), vec![("receipts_row_count_mismatch", None)]);
    assert!(
        removed.findings[0]
            .message
            .ends_with("2 rows; the manifest says 3"),
        "{}",
        removed.findings[0].message
    );
    // Added: a repeated row is out of order, and the count is off.
    let mut added = rows.clone();
    added.push(rows[2].clone());
    let found = forged_receipts(&added, 3).await;
    assert_eq!(
        kinds(&found),
        vec![
            ("receipts_row_count_mismatch", None),
            ("receipt_out_of_order", Some(7))
        ]
    );
    // A planted receipt the table never had.
    let mut planted = rows.clone();
    let (extra, _) = receipt_record(&chain(30)[9], "desk-z", 2_000, "2026-11-28T13:00:00Z");
    planted.push(extra);
    let found = forged_receipts(&planted, 4).await;
    assert_eq!(kinds(&found), vec![("receipt_live_missing", Some(9))]);
    // Only the count is wrong.
    let found = forged_receipts(&rows, 4).await;
    assert_eq!(kinds(&found), vec![("receipts_row_count_mismatch", None)]);
}

#[tokio::test]
async fn a_receipts_csv_overwritten_with_a_new_version_is_found_and_the_original_checked() {
    let (fixture, _) = with_receipts().await;
    let (_, manifest) = fixture.manifest(date!(2026 - 11 - 28));
    let key = manifest.receipts.unwrap().csv.unwrap().key;
    fixture.vault.overwrite(&key, b"forged".to_vec());
    let result = failed(fixture.verify(VerifyMode::Latest).await);
    assert_eq!(kinds(&result), vec![("receipts_csv_overwritten", None)]);
    assert_eq!(result.receipts_checked, 3);
}
