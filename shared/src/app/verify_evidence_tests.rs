//! Offline evidence verification over a folder copied from an in-memory vault that the real
//! backup and sweep jobs filled: a clean copy verifies, and each kind of tampering is a finding
//! naming the file and the row or index.

use std::collections::BTreeMap;

use time::macros::date;

use super::*;
use crate::adapters::folder::{Body, FolderObject, FolderVault};
use crate::adapters::memory::{
    FixedClock, InMemoryLedger, InMemoryVault, RecordingMetrics, SoftwareSigner,
};
use crate::app::backup::{BackupJob, BackupSettings};
use crate::app::sweep::{IntegritySweep, SweepMode, SweepSettings};
use crate::domain::checkpoint::parse_leaves;
use crate::domain::test_support::{chain, insert_event, receipt_record, timestamp};
use crate::ports::{LedgerStore, MIN_PART_BYTES, VaultReads};

const ORIGIN: &str = "signal-ledger:test";

fn signer(secret: u8) -> SoftwareSigner {
    SoftwareSigner::from_secret("alias/test-signing", [secret; 32]).unwrap()
}

async fn given(secret: u8) -> GivenKeys {
    let der = signer(secret)
        .public_key("alias/test-signing")
        .await
        .unwrap();
    GivenKeys::new(vec![("ledger.der".to_owned(), der)])
}

/// 30 entries: backed up on two days (20, then 10, with two delivery receipts), checkpointed at
/// 12 and 30.
async fn vault() -> InMemoryVault {
    let ledger = InMemoryLedger::new();
    let vault = InMemoryVault::new();
    let clock = FixedClock::new(timestamp("2026-11-29T02:30:00Z"));
    let source = chain(30);
    let backup = BackupJob::new(
        ledger.clone(),
        vault.clone(),
        ledger.audit_sink(),
        clock.clone(),
        RecordingMetrics::default(),
        BackupSettings {
            retention_days: 2555,
            page_size: 7,
            part_bytes: MIN_PART_BYTES,
            receipt_lag_seconds: 300,
        },
    );
    let sweep = IntegritySweep::new(
        ledger.clone(),
        vault.clone(),
        Some(signer(7)),
        ledger.audit_sink(),
        clock.clone(),
        RecordingMetrics::default(),
        SweepSettings {
            retention_days: 2555,
            page_size: 5,
            trust: vault::CheckpointTrust::new(ORIGIN, Some("alias/test-signing"), &[]),
        },
    )
    .with_audit_seal_lag(30 * 86_400);
    let append = |from: usize, to: usize| {
        let (ledger, source) = (ledger.clone(), source.clone());
        async move {
            for stored in &source[from..to] {
                ledger.append(stored, &insert_event(stored)).await.unwrap();
            }
        }
    };
    append(0, 12).await;
    sweep.run(SweepMode::Init, "t").await.unwrap();
    append(12, 20).await;
    backup.run(Some(date!(2026 - 11 - 27)), "t").await.unwrap();
    append(20, 30).await;
    // Two delivery receipts, recorded between the two backups: the second one's receipts CSV.
    for (index, subscriber) in [(3, "desk-a"), (25, "desk-b")] {
        let (stored, event) =
            receipt_record(&source[index], subscriber, 1_500, "2026-11-29T03:00:00Z");
        ledger.record_receipt(&stored, &event).await.unwrap();
    }
    clock.set(timestamp("2026-11-29T03:30:00Z"));
    sweep.run(SweepMode::Incremental, "t").await.unwrap();
    backup.run(Some(date!(2026 - 11 - 28)), "t").await.unwrap();
    vault
}

/// The original of every key, as an export copies them.
async fn copy(vault: &InMemoryVault) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut files = BTreeMap::new();
    for original in vault::list_originals(vault, "").await.unwrap() {
        let bytes = vault
            .get_version(original.key(), original.version_id())
            .await
            .unwrap();
        files.insert(
            original.key().to_owned(),
            (original.version_id().to_owned(), bytes),
        );
    }
    files
}

fn folder(files: &BTreeMap<String, (String, Vec<u8>)>) -> FolderVault {
    FolderVault::new(
        files
            .iter()
            .map(|(key, (version, bytes))| {
                (
                    key.clone(),
                    FolderObject {
                        version_id: Some(version.clone()),
                        protection: None,
                        body: Body::Bytes(bytes.clone()),
                    },
                )
            })
            .collect(),
    )
}

fn key_of(files: &BTreeMap<String, (String, Vec<u8>)>, prefix: &str, suffix: &str) -> String {
    files
        .keys()
        .find(|k| k.starts_with(prefix) && k.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {prefix}…{suffix} in {:?}", files.keys()))
        .clone()
}

async fn verify(files: &BTreeMap<String, (String, Vec<u8>)>) -> EvidenceReport {
    verify_evidence(&folder(files), &given(7).await, None)
        .await
        .unwrap()
}

fn kinds(report: &EvidenceReport) -> Vec<(String, Option<String>, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.file.clone(), f.location.clone(), f.kind.clone()))
        .collect()
}

#[tokio::test]
async fn a_faithful_copy_verifies_with_every_check_made() {
    let files = copy(&vault().await).await;
    let report = verify(&files).await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.absent.is_empty());
    assert_eq!(report.origin.as_deref(), Some(ORIGIN));
    assert_eq!(
        (
            report.manifests_checked,
            report.rows_checked,
            report.backed_up_to
        ),
        (2, 30, 30)
    );
    assert_eq!(report.receipts_checked, 2);
    assert_eq!(
        (
            report.checkpoints_checked,
            report.checkpointed_size,
            report.leaves_checked,
            report.leaves_matched_to_rows
        ),
        (2, 30, 30, 30)
    );
}

#[tokio::test]
async fn an_edited_cell_is_a_hash_finding_naming_the_csv() {
    let mut files = copy(&vault().await).await;
    let csv = key_of(&files, "signals/", "signals_backup_20261128.csv");
    let (_, bytes) = files.get_mut(&csv).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    // Row 3 of the second file is chain index 22: change its symbol's first letter.
    let line = text.split("\r\n").nth(3).unwrap().to_owned();
    let cells: Vec<&str> = line.split(',').collect();
    let edited = line.replacen(cells[4], &format!("{}X", cells[4]), 1);
    *bytes = text.replacen(&line, &edited, 1).into_bytes();
    let found = kinds(&verify(&files).await);
    assert!(
        found.contains(&(csv.clone(), None, "csv_hash_mismatch".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            csv.clone(),
            Some("chain index 22, row 3".to_owned()),
            "hash_mismatch".to_owned()
        )),
        "{found:?}"
    );
}

#[tokio::test]
async fn a_removed_row_is_a_gap_at_its_index() {
    let mut files = copy(&vault().await).await;
    let csv = key_of(&files, "signals/", "signals_backup_20261127.csv");
    let (_, bytes) = files.get_mut(&csv).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let line = text.split("\r\n").nth(6).unwrap().to_owned();
    *bytes = text.replacen(&format!("{line}\r\n"), "", 1).into_bytes();
    let found = kinds(&verify(&files).await);
    assert!(
        found.contains(&(
            csv.clone(),
            Some("chain index 5, row 6".to_owned()),
            "gap".to_owned()
        )),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(f, _, k)| f == &csv && k == "row_count_mismatch")
    );
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_does_not_count() {
    let mut files = copy(&vault().await).await;
    let note = key_of(&files, "checkpoints/00000000000000000030", ".txt");
    let (_, bytes) = files.get_mut(&note).unwrap();
    let signed = SignedCheckpoint::parse(std::str::from_utf8(bytes).unwrap()).unwrap();
    let forged = crate::domain::checkpoint::Signature::kms(
        "alias/test-signing",
        crate::ports::Signer::sign(&signer(9), signed.checkpoint.body().as_bytes())
            .await
            .unwrap(),
    )
    .unwrap();
    *bytes = SignedCheckpoint {
        checkpoint: signed.checkpoint,
        signature: forged,
    }
    .to_text()
    .into_bytes();
    let report = verify(&files).await;
    assert_eq!(
        kinds(&report),
        vec![(note, None, "untrusted_key".to_owned())]
    );
    assert_eq!(report.checkpointed_size, 12);
    // Judged with the forger's key instead, the honest notes are the untrusted ones.
    let report = verify_evidence(&folder(&files), &given(9).await, Some(ORIGIN))
        .await
        .unwrap();
    assert_eq!(
        report
            .findings
            .iter()
            .filter(|f| f.kind == "untrusted_key")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_truncated_or_edited_leaf_file_is_found() {
    let mut files = copy(&vault().await).await;
    let leaves = key_of(&files, "checkpoints/00000000000000000030", ".leaves");
    files.get_mut(&leaves).unwrap().1.truncate(65 * 3);
    let found = kinds(&verify(&files).await);
    assert_eq!(
        found,
        vec![(leaves.clone(), None, "leaves_digest".to_owned())]
    );
    assert!(found.iter().all(|(f, _, _)| f == &leaves));
}

#[tokio::test]
async fn a_leaf_that_differs_from_the_backup_is_named_by_index() {
    // A checkpoint whose leaves are not the backed-up rows: a consistent, signed, but different
    // history. Rewrite the second leaf file and its note, signed by the trusted key.
    let mut files = copy(&vault().await).await;
    let note_key = key_of(&files, "checkpoints/00000000000000000030", ".txt");
    let leaves_key_ = key_of(&files, "checkpoints/00000000000000000030", ".leaves");
    let note = SignedCheckpoint::parse(std::str::from_utf8(&files[&note_key].1).unwrap()).unwrap();
    let first = SignedCheckpoint::parse(
        std::str::from_utf8(&files[&key_of(&files, "checkpoints/00000000000000000012", ".txt")].1)
            .unwrap(),
    )
    .unwrap();
    let mut leaves = parse_leaves(&files[&leaves_key_].1, &note.checkpoint.leaves).unwrap();
    leaves[5] = Hash::sha256(b"another entry"); // chain index 12 + 5
    let mut range = first.checkpoint.range.clone();
    for leaf in &leaves {
        range.append(*leaf);
    }
    let bytes = crate::domain::checkpoint::encode_leaves(&leaves);
    let checkpoint = crate::domain::checkpoint::Checkpoint::new(
        ORIGIN,
        range,
        *leaves.last().unwrap(),
        note.checkpoint.time,
        crate::domain::checkpoint::LeavesRef {
            from: 12,
            to: 30,
            sha256: Hash::sha256(&bytes),
        },
    )
    .unwrap();
    let signature = crate::domain::checkpoint::Signature::kms(
        "alias/test-signing",
        crate::ports::Signer::sign(&signer(7), checkpoint.body().as_bytes())
            .await
            .unwrap(),
    )
    .unwrap();
    files.get_mut(&note_key).unwrap().1 = SignedCheckpoint {
        checkpoint,
        signature,
    }
    .to_text()
    .into_bytes();
    files.get_mut(&leaves_key_).unwrap().1 = bytes;
    let found = kinds(&verify(&files).await);
    assert_eq!(
        found,
        vec![(
            leaves_key_,
            Some("chain index 17".to_owned()),
            "leaf_differs_from_backup".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_removed_manifest_breaks_the_chain_and_a_removed_csv_is_absent() {
    let mut files = copy(&vault().await).await;
    let first = key_of(&files, "manifests/", "20261127.json");
    files.remove(&first);
    let found = kinds(&verify(&files).await);
    assert!(
        found
            .iter()
            .any(|(f, _, k)| f.ends_with("20261128.json") && k == "manifest_broken_link"),
        "{found:?}"
    );
    // Its CSV is now in no chain.
    assert!(
        found.contains(&(
            key_of(&files, "signals/", "signals_backup_20261127.csv"),
            None,
            "csv_without_manifest".to_owned()
        )),
        "{found:?}"
    );
    let mut files = copy(&vault().await).await;
    let csv = key_of(&files, "signals/", "signals_backup_20261127.csv");
    files.remove(&csv);
    let report = verify(&files).await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.absent.len(), 1);
    assert_eq!(report.absent[0].0, csv);
}

#[tokio::test]
async fn a_key_that_is_not_p256_refuses_the_whole_set() {
    let files = copy(&vault().await).await;
    let mut keys = given(7).await.keys;
    keys.push(("junk.der".to_owned(), b"not a key".to_vec()));
    let result = verify_evidence(&folder(&files), &GivenKeys::new(keys), None).await;
    assert!(matches!(
        result,
        Err(EvidenceError::Trust(vault::TrustError::NotP256 { .. }))
    ));
}

#[tokio::test]
async fn a_backup_locked_for_less_than_its_manifest_says_is_found_where_retention_is_recorded() {
    let files = copy(&vault().await).await;
    let csv = key_of(&files, "signals/", "signals_backup_20261127.csv");
    let manifest = key_of(&files, "manifests/", "20261127.json");
    let recorded = |until: &str| crate::ports::ObjectProtection {
        lock_mode: Some("COMPLIANCE".to_owned()),
        retain_until: Some(timestamp(until)),
        server_side_encryption: Some("aws:kms".to_owned()),
        sha256: None,
    };
    let with = |short: &str| {
        FolderVault::new(
            files
                .iter()
                .map(|(key, (version, bytes))| {
                    let until = if key == short {
                        "2026-12-01T00:00:00Z"
                    } else {
                        "2040-01-01T00:00:00Z"
                    };
                    (
                        key.clone(),
                        FolderObject {
                            version_id: Some(version.clone()),
                            protection: Some(recorded(until)),
                            body: Body::Bytes(bytes.clone()),
                        },
                    )
                })
                .collect(),
        )
    };
    for short in [&csv, &manifest] {
        let report = verify_evidence(&with(short), &given(7).await, None)
            .await
            .unwrap();
        assert_eq!(
            kinds(&report),
            vec![(short.clone(), None, "retention_short".to_owned())]
        );
    }
    let report = verify_evidence(&with("none"), &given(7).await, None)
        .await
        .unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn findings_are_all_counted_but_only_the_first_thousand_kept() {
    let mut report = EvidenceReport::default();
    for index in 0..MAX_FINDINGS_KEPT as u64 + 5 {
        report.finding(
            "checkpoints/x.leaves",
            Some(format!("chain index {index}")),
            "leaf_differs_from_backup",
            String::new(),
        );
    }
    assert_eq!(report.findings.len(), MAX_FINDINGS_KEPT);
    assert_eq!(report.findings_total, MAX_FINDINGS_KEPT as u64 + 5);
    assert_eq!(
        report.findings.last().unwrap().location.as_deref(),
        Some("chain index 999")
    );
}

#[tokio::test]
async fn a_lost_checkpoint_breaks_the_chain_of_checkpoints_and_a_lost_leaf_file_is_absent() {
    let mut files = copy(&vault().await).await;
    let first = key_of(&files, "checkpoints/00000000000000000012", ".txt");
    files.remove(&first);
    files.remove(&first.replace(".txt", ".leaves"));
    let second = key_of(&files, "checkpoints/00000000000000000030", ".txt");
    let report = verify(&files).await;
    assert_eq!(
        kinds(&report),
        vec![(
            second.clone(),
            Some("line 7".to_owned()),
            "checkpoint_gap".to_owned()
        )]
    );
    assert_eq!(report.checkpointed_size, 30);

    let mut files = copy(&vault().await).await;
    let leaves = second.replace(".txt", ".leaves");
    files.remove(&leaves);
    let report = verify(&files).await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.absent, vec![(leaves, second)]);
    assert_eq!(report.leaves_checked, 12);
}

#[tokio::test]
async fn an_edited_receipt_is_found_naming_its_row_and_a_planted_receipts_csv_is_named() {
    let clean = copy(&vault().await).await;
    let csv = key_of(&clean, "signals/", "receipts_backup_20261128.csv");

    let mut files = clean.clone();
    let (version, bytes) = files[&csv].clone();
    let text = String::from_utf8(bytes)
        .unwrap()
        .replacen("desk-b", "desk-c", 1);
    files.insert(csv.clone(), (version, text.into_bytes()));
    let found = kinds(&verify(&files).await);
    assert!(
        found.contains(&(csv.clone(), None, "receipts_csv_hash_mismatch".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            csv.clone(),
            Some("row 2".to_owned()),
            "receipt_hash_mismatch".to_owned()
        )),
        "{found:?}"
    );

    let mut files = clean;
    let planted = csv.replace("20261128", "20261127");
    let copied = files[&csv].clone();
    files.insert(planted.clone(), copied);
    let found = kinds(&verify(&files).await);
    assert_eq!(
        found,
        vec![(planted, None, "csv_without_manifest".to_owned())],
        "only the planted copy is a finding"
    );
}

/// Runs the report job for 2026-11-29 into `vault` (at `at`), as the daily schedule does.
async fn report_into(vault: &InMemoryVault, at: &str) -> crate::app::report::ReportOutcome {
    use crate::adapters::memory::{InMemoryAlarms, InMemoryTables};
    use crate::app::report::{ReportJob, ReportSettings, ReportSources};
    let ledger = InMemoryLedger::new();
    let job = ReportJob::new(
        ReportSources {
            store: ledger.clone(),
            vault: vault.clone(),
            audit: ledger.audit_sink(),
            tables: InMemoryTables,
            alarms: InMemoryAlarms::default(),
            keys: Some(signer(7)),
        },
        FixedClock::new(timestamp(at)),
        RecordingMetrics::default(),
        ReportSettings {
            signals_table: "t-signals".into(),
            audit_table: "t-audit".into(),
            vault_bucket: "t-vault".into(),
            retention_days: 1,
            metrics_namespace: "SignalLedger".into(),
            url_expiry: std::time::Duration::from_secs(600),
            alarm_name_prefix: None,
            trust: vault::CheckpointTrust::new(ORIGIN, Some("alias/test-signing"), &[]),
        },
    );
    let request =
        serde_json::from_value(serde_json::json!({"from": "2026-11-29", "to": "2026-11-29"}))
            .unwrap();
    job.run(&request, "t").await.unwrap()
}

#[tokio::test]
async fn reports_are_checked_against_their_recorded_hashes() {
    let vault = vault().await;
    let outcome = report_into(&vault, "2026-11-29T23:00:00Z").await;
    // A second run for the same day writes the reports over (new versions) and a record of its
    // own: the copy holds the originals, which the first record names.
    report_into(&vault, "2026-11-29T23:30:00Z").await;
    let files = copy(&vault).await;
    let clean = verify(&files).await;
    assert_eq!(kinds(&clean), vec![]);
    assert_eq!(clean.reports_checked, 2);

    // An altered report: its bytes are not those recorded.
    let mut altered = files.clone();
    altered
        .get_mut(&outcome.html.key)
        .unwrap()
        .1
        .extend_from_slice(b"<!-- -->");
    assert_eq!(
        kinds(&verify(&altered).await),
        vec![(
            outcome.html.key.clone(),
            None,
            "report_hash_mismatch".into()
        )]
    );

    // Without the records, no report is recorded; an unreadable record is named.
    let mut unrecorded = files.clone();
    unrecorded.retain(|key, _| !is_record_key(key));
    let found = kinds(&verify(&unrecorded).await);
    assert_eq!(
        found,
        vec![
            (outcome.html.key.clone(), None, "report_unrecorded".into()),
            (outcome.json.key.clone(), None, "report_unrecorded".into()),
        ]
    );
    let mut broken = files.clone();
    broken.get_mut(&outcome.record).unwrap().1 = b"{}".to_vec();
    assert!(kinds(&verify(&broken).await).contains(&(
        outcome.record.clone(),
        None,
        "report_record_invalid".into()
    )));

    // A report a record names but the copy lacks is absent, not judged.
    let mut missing = files.clone();
    missing.remove(&outcome.json.key);
    let report = verify(&missing).await;
    assert_eq!(kinds(&report), vec![]);
    assert!(
        report
            .absent
            .contains(&(outcome.json.key.clone(), outcome.record.clone()))
    );
}

/// A folder that refuses to hand over a backup CSV or a leaf-hash file whole: verification must
/// stream them, so its memory does not grow with the ledger. It counts the streams opened, by key.
#[derive(Debug)]
struct StreamOnly(FolderVault, std::sync::Mutex<BTreeMap<String, u32>>);

#[derive(Debug, thiserror::Error)]
#[error("read whole: {0}")]
struct ReadWhole(String);

impl VaultReads for StreamOnly {
    async fn list_versions(
        &self,
        prefix: &str,
    ) -> Result<Vec<crate::ports::ObjectVersion>, VaultError> {
        self.0.list_versions(prefix).await
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>, VaultError> {
        if key.starts_with("signals/") && key.contains("/signals_backup_")
            || key.ends_with(".leaves")
        {
            return Err(VaultError::Failed(Box::new(ReadWhole(key.to_owned()))));
        }
        self.0.get_version(key, version_id).await
    }
}

impl BlobVault for StreamOnly {
    async fn start_upload(
        &self,
        key: &str,
        content_type: &str,
        retain_until: crate::domain::timestamp::Timestamp,
    ) -> Result<crate::ports::Upload, VaultError> {
        self.0.start_upload(key, content_type, retain_until).await
    }

    async fn upload_part(
        &self,
        upload: &crate::ports::Upload,
        part_number: u32,
        body: Vec<u8>,
    ) -> Result<crate::ports::UploadedPart, VaultError> {
        self.0.upload_part(upload, part_number, body).await
    }

    async fn complete_upload(
        &self,
        upload: &crate::ports::Upload,
        parts: &[crate::ports::UploadedPart],
        sha256: Hash,
        retain_until: crate::domain::timestamp::Timestamp,
    ) -> Result<crate::ports::StoredObject, VaultError> {
        self.0
            .complete_upload(upload, parts, sha256, retain_until)
            .await
    }

    async fn abort_upload(&self, upload: &crate::ports::Upload) -> Result<(), VaultError> {
        self.0.abort_upload(upload).await
    }

    async fn put_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: crate::domain::timestamp::Timestamp,
    ) -> Result<crate::ports::StoredObject, VaultError> {
        self.0
            .put_locked(key, body, content_type, retain_until)
            .await
    }

    async fn create_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: crate::domain::timestamp::Timestamp,
    ) -> Result<crate::ports::StoredObject, VaultError> {
        self.0
            .create_locked(key, body, content_type, retain_until)
            .await
    }

    async fn protection(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<crate::ports::ObjectProtection, VaultError> {
        self.0.protection(key, version_id).await
    }
}

impl ReadVersions for StreamOnly {
    fn open_version(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<Box<dyn Read + Send + '_>, VaultError> {
        *self.1.lock().unwrap().entry(key.to_owned()).or_default() += 1;
        self.0.open_version(key, version_id)
    }
}

#[tokio::test]
async fn backup_csvs_and_leaf_files_are_only_ever_streamed() {
    let files = copy(&vault().await).await;
    let vault = StreamOnly(folder(&files), Default::default());
    let report = verify_evidence(&vault, &given(7).await, None)
        .await
        .unwrap();
    assert_eq!(kinds(&report), vec![]);
    assert_eq!(report.rows_checked, 30);
    assert_eq!(report.leaves_matched_to_rows, 30);
    // Each backup CSV and leaf-hash file is read once: the rows meet their leaves as they are
    // read (two CSVs, 0..20 and 20..30, beside two leaf files, 0..12 and 12..30).
    let opened = vault.1.lock().unwrap().clone();
    assert_eq!(opened.len(), 4, "{opened:?}");
    assert!(opened.values().all(|times| *times == 1), "{opened:?}");
    // And the wrapper does refuse whole reads: the check above could not pass by accident.
    let csv = files
        .keys()
        .find(|k| k.starts_with("signals/") && k.contains("/signals_backup_"))
        .unwrap()
        .clone();
    assert!(
        StreamOnly(folder(&files), Default::default())
            .get_version(&csv, &files[&csv].0)
            .await
            .is_err()
    );
}

/// A folder's files: key → (version id, bytes).
type Files = BTreeMap<String, (String, Vec<u8>)>;

/// The folder with `edit` applied to the bytes of the first key starting with `prefix` and
/// ending with `suffix`.
fn edited(files: &Files, prefix: &str, suffix: &str, edit: impl Fn(&mut Vec<u8>)) -> Files {
    let mut files = files.clone();
    let key = key_of(&files, prefix, suffix);
    edit(&mut files.get_mut(&key).unwrap().1);
    files
}

/// The CSV's data lines (after the header), each with its CRLF.
fn csv_rows(bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let text = bytes.to_vec();
    let mut lines: Vec<Vec<u8>> = text
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let header = lines.remove(0);
    (header, lines)
}

#[tokio::test]
async fn reading_leaves_beside_the_rows_reports_exactly_what_reading_the_rows_again_does() {
    let files = copy(&vault().await).await;
    // The first entries CSV (chain indexes 0..20), its rows edited.
    let csv = files
        .keys()
        .find(|k| k.starts_with("signals/") && k.contains("/signals_backup_"))
        .unwrap()
        .clone();
    let first_csv = |edit: &dyn Fn(&mut Vec<Vec<u8>>)| {
        edited(&files, &csv, ".csv", |bytes| {
            let (header, mut rows) = csv_rows(bytes);
            assert_eq!(rows.len(), 20);
            edit(&mut rows);
            *bytes = header.into_iter().chain(rows.concat()).collect();
        })
    };
    let cases: Vec<(&str, Files)> = vec![
        ("clean", files.clone()),
        (
            "an edited entry hash",
            first_csv(&|rows| {
                // The last hex digit of the row's entry_hash, before its CRLF.
                let at = rows[4].len() - 3;
                rows[4][at] = if rows[4][at] == b'0' { b'1' } else { b'0' };
            }),
        ),
        (
            "a removed row",
            first_csv(&|rows| {
                rows.remove(13);
            }),
        ),
        ("two rows swapped", first_csv(&|rows| rows.swap(3, 4))),
        (
            "a row repeated",
            first_csv(&|rows| rows.insert(9, rows[8].clone())),
        ),
        (
            "a row moved back",
            first_csv(&|rows| {
                let moved = rows.remove(15);
                rows.insert(2, moved);
            }),
        ),
        (
            "a row cut short",
            first_csv(&|rows| {
                rows[6].truncate(40);
            }),
        ),
        (
            "a truncated leaf file",
            edited(
                &files,
                "checkpoints/00000000000000000030",
                ".leaves",
                |bytes| bytes.truncate(65 * 3),
            ),
        ),
        (
            "a leaf file's byte changed",
            edited(
                &files,
                "checkpoints/00000000000000000012",
                ".leaves",
                |bytes| bytes[70] = b'0' + (bytes[70] + 1) % 10,
            ),
        ),
    ];
    for (case, folder_files) in cases {
        let vault = folder(&folder_files);
        let keys = given(7).await;
        let beside = verify_evidence_reading(&vault, &keys, None, Reading::LeavesBesideRows)
            .await
            .unwrap();
        let again = verify_evidence_reading(&vault, &keys, None, Reading::RowsAgain)
            .await
            .unwrap();
        assert_eq!(beside, again, "{case}");
        if case != "clean" {
            assert!(beside.findings_total > 0, "{case}: {beside:?}");
        }
        // Each leaf is compared with the last row carrying its index, wherever the rows are
        // (§12.2 step 3): rows out of order still meet their leaves; a removed row's leaf, a
        // CSV that does not read cleanly, and leaf files that do not verify count nothing.
        let matched = match case {
            "a removed row" => 29,
            "a row cut short" => 10,
            "a truncated leaf file" => 12,
            "a leaf file's byte changed" => 18,
            _ => 30,
        };
        assert_eq!(beside.leaves_matched_to_rows, matched, "{case}");
    }
}
