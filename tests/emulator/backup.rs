//! The backup job against the emulator: a multipart CSV and a chained manifest, both
//! COMPLIANCE-locked in the vault, covering every entry exactly once.

use serde_json::{Value, json};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::backup::{BackupJob, BackupSettings};
use shared::domain::backup::{Manifest, read_rows, verify_manifest_chain};
use shared::domain::hash::Hash;
use shared::ports::{BlobVault, LedgerStore, MIN_PART_BYTES, VaultReads};

use crate::support::{VaultedStack, read_all, required_env};

#[tokio::test]
async fn a_backup_is_locked_chained_and_complete() {
    let VaultedStack {
        sdk,
        dynamodb,
        signals,
        audit,
        bucket,
        ..
    } = VaultedStack::new("b").await;
    let store = DynamoLedgerStore::new(dynamodb.clone(), &signals, &audit);
    crate::support::seed(&dynamodb, &signals, 0, 1_200).await;
    let vault = S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None);
    let job = BackupJob::new(
        store.clone(),
        vault.clone(),
        DynamoAuditSink::new(dynamodb.clone(), &audit),
        SystemClock,
        RecordingMetrics::default(),
        BackupSettings {
            retention_days: 1,
            page_size: 250,
            part_bytes: MIN_PART_BYTES,
            receipt_lag_seconds: 300,
        },
    );
    let first = job
        .run(Some(time::macros::date!(2026 - 11 - 27)), "t")
        .await
        .unwrap();
    assert_eq!(first.row_count, 1_200);
    crate::support::seed(&dynamodb, &signals, 1_200, 5).await;
    let second = job
        .run(Some(time::macros::date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    assert_eq!(
        (second.index_range.from, second.index_range.to),
        (1_200, 1_205)
    );

    let mut manifests = Vec::new();
    for key in [&first.manifest_key, &second.manifest_key] {
        let version = vault.list_versions(key).await.unwrap().remove(0);
        let bytes = vault.get_version(key, &version.version_id).await.unwrap();
        let protection = vault.protection(key, &version.version_id).await.unwrap();
        assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
        manifests.push((bytes.clone(), Manifest::parse(&bytes).unwrap()));
    }
    assert!(verify_manifest_chain(&manifests).is_empty());
    let mut rows = Vec::new();
    for (_, manifest) in &manifests {
        let csv = manifest.csv.as_ref().unwrap();
        let bytes = vault.get_version(&csv.key, &csv.version_id).await.unwrap();
        assert_eq!(Hash::sha256(&bytes), csv.sha256);
        assert_eq!(bytes.len() as u64, csv.bytes);
        let protection = vault.protection(&csv.key, &csv.version_id).await.unwrap();
        assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
        assert_eq!(protection.server_side_encryption.as_deref(), Some("AES256"));
        assert!(protection.retain_until >= Some(manifest.retain_until));
        rows.extend(read_rows(&bytes).unwrap());
    }
    assert_eq!(
        rows,
        read_all(&store).await,
        "every entry exactly once, as stored"
    );
    // A locked backup cannot be deleted.
    let csv = manifests[0].1.csv.as_ref().unwrap();
    let deleted = aws_sdk_s3::Client::new(&sdk)
        .delete_object()
        .bucket(&bucket)
        .key(&csv.key)
        .version_id(&csv.version_id)
        .send()
        .await;
    assert!(deleted.is_err());
}

/// Two backups started at the same moment (a schedule delivered twice, or a run by hand) pick
/// the same backup id: exactly one writes its CSV and manifest, the other is refused by the
/// create-only writes, leaves nothing behind (no object version, no pending upload), and
/// verify-backup passes afterwards.
#[tokio::test]
async fn two_concurrent_backups_one_wins_and_verification_passes() {
    use shared::app::backup::BackupFailure;
    use shared::app::verify_backup::{VerifyBackupJob, VerifyMode};
    let VaultedStack {
        sdk,
        dynamodb,
        signals,
        audit,
        bucket,
        ..
    } = VaultedStack::new("cb").await;
    let store = DynamoLedgerStore::new(dynamodb.clone(), &signals, &audit);
    crate::support::seed(&dynamodb, &signals, 0, 300).await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let job = || {
        BackupJob::new(
            store.clone(),
            S3Vault::new(s3.clone(), &bucket, None),
            DynamoAuditSink::new(dynamodb.clone(), &audit),
            SystemClock,
            RecordingMetrics::default(),
            BackupSettings::default(),
        )
    };
    let (first, second) = (job(), job());
    let date = Some(time::macros::date!(2026 - 11 - 28));
    let (a, b) = tokio::join!(first.run(date, "a"), second.run(date, "b"));
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one run must win: {other:?}"),
    };
    assert_eq!(won.row_count, 300);
    assert!(
        matches!(&lost, BackupFailure::AnotherRun { key } if key == won.csv_key.as_ref().unwrap() || *key == won.manifest_key),
        "{lost:?}"
    );
    // Nothing half-written: one version of each object, no upload left pending.
    let vault = S3Vault::new(s3.clone(), &bucket, None);
    let versions = vault.list_versions("").await.unwrap();
    let keys: Vec<&str> = versions.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![won.manifest_key.as_str(), won.csv_key.as_deref().unwrap()],
        "{versions:?}"
    );
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
    // The refusal is audited.
    let events =
        crate::support::audit_events(&DynamoAuditSink::new(dynamodb.clone(), &audit)).await;
    assert!(
        events.iter().any(|e| e
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("another run"))),
        "{events:?}"
    );
    let verify = VerifyBackupJob::new(
        store.clone(),
        vault,
        DynamoAuditSink::new(dynamodb.clone(), &audit),
        SystemClock,
        RecordingMetrics::default(),
    );
    let clean = verify.run(VerifyMode::All, "t").await.unwrap();
    assert_eq!(clean.rows_checked, 300);
    assert!(clean.restore_drill.as_ref().unwrap().matches);
}

/// verify-backup against the emulator: a clean pass with the restore drill, then an S3
/// overwrite and a DynamoDB edit found; and the function binary through `cargo lambda watch`.
#[tokio::test]
async fn verification_finds_overwrites_and_edits_on_the_emulator() {
    use shared::app::verify_backup::{VerifyBackupJob, VerifyError, VerifyMode};
    let VaultedStack {
        sdk,
        dynamodb,
        signals,
        audit,
        bucket,
        ..
    } = VaultedStack::new("v").await;
    let store = DynamoLedgerStore::new(dynamodb.clone(), &signals, &audit);
    let vault = S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None);
    crate::support::seed(&dynamodb, &signals, 0, 40).await;
    let backup = BackupJob::new(
        store.clone(),
        vault.clone(),
        DynamoAuditSink::new(dynamodb.clone(), &audit),
        SystemClock,
        RecordingMetrics::default(),
        BackupSettings::default(),
    );
    let outcome = backup
        .run(Some(time::macros::date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    let verify = VerifyBackupJob::new(
        store.clone(),
        vault.clone(),
        DynamoAuditSink::new(dynamodb.clone(), &audit),
        SystemClock,
        RecordingMetrics::default(),
    );
    let clean = verify.run(VerifyMode::All, "t").await.unwrap();
    assert!(clean.restore_drill.as_ref().unwrap().matches);
    assert_eq!(clean.rows_checked, 40);

    // An insider edits a row in DynamoDB after the backup.
    let mut item =
        shared::adapters::dynamodb::entry_item(&store.entry_at(7).await.unwrap().unwrap());
    item.insert(
        "rationale".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("Rewritten after the fact.".into()),
    );
    crate::support::put_as_insider(&dynamodb, &signals, item).await;
    // And writes a new version over the CSV.
    let csv_key = outcome.csv_key.unwrap();
    aws_sdk_s3::Client::new(&sdk)
        .put_object()
        .bucket(&bucket)
        .key(&csv_key)
        .body(b"forged".to_vec().into())
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let Err(VerifyError::Failed(result)) = verify.run(VerifyMode::All, "t").await else {
        panic!("tampering not found")
    };
    let kinds: Vec<(&str, Option<u64>)> = result
        .findings
        .iter()
        .map(|f| (f.kind.as_str(), f.chain_index))
        .collect();
    assert!(kinds.contains(&("csv_overwritten", None)), "{kinds:?}");
    assert!(
        kinds.contains(&("row_differs_from_live", Some(7))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("restore_drill_mismatch", None)),
        "{kinds:?}"
    );
}

/// The backup, verify-backup and report function binaries through `cargo lambda watch`'s invoke API, in
/// one test: two backups of the same vault running at once would race for the same manifest key.
#[tokio::test]
async fn backup_and_verify_backup_invoked_through_cargo_lambda_watch() {
    let base = required_env("INGEST_URL");
    let http = reqwest::Client::new();
    let backup = base.replace(
        "/lambda-url/ingest",
        "/2015-03-31/functions/backup/invocations",
    );
    let response = http.post(&backup).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["manifest_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("manifests/")),
        "{outcome}"
    );
    let refused = http
        .post(&backup)
        .json(&json!({"date": "28/11/2026"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.contains("invalid date"), "{refused}");

    let verify = base.replace(
        "/lambda-url/ingest",
        "/2015-03-31/functions/verify-backup/invocations",
    );
    let result: Value = http
        .post(&verify)
        .json(&json!({"mode": "latest"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (result["mode"].as_str(), result["passed"].as_bool()),
        (Some("latest"), Some(true)),
        "{result}"
    );
    assert_eq!(result["manifests_checked"], 1, "{result}");

    // The report function, on the same stack, after the backup and its verification.
    let report = base.replace(
        "/lambda-url/ingest",
        "/2015-03-31/functions/report/invocations",
    );
    let today = &crate::support::now_rfc3339()[..10];
    let outcome: Value = http
        .post(&report)
        .json(&json!({"from": today, "to": today}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        outcome["json"]["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("reports/") && k.ends_with(".json")),
        "{outcome}"
    );
    assert!(outcome["html"]["download_url"].is_string(), "{outcome}");
    assert_eq!(outcome["verdicts"]["backups"], "PASS", "{outcome}");
    let refused = http
        .post(&report)
        .json(&json!({"month": "2026-13"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.contains("month"), "{refused}");
}

/// Backups of 0, then 1, then 1,000+ entries on three days verify, chain intact; a backup killed
/// midway in the S3 adapter (multipart, after its first 5 MiB part) leaves no manifest, and the
/// rerun is complete, verifiable and without duplicate rows.
#[tokio::test]
async fn backups_over_days_verify_and_a_killed_backup_is_rerun_cleanly() {
    use shared::adapters::memory::VaultFaults;
    use shared::app::verify_backup::{VerifyBackupJob, VerifyMode};
    let VaultedStack {
        sdk,
        dynamodb,
        signals,
        audit,
        bucket,
        ..
    } = VaultedStack::new("k").await;
    let store = DynamoLedgerStore::new(dynamodb.clone(), &signals, &audit);
    let vault = S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None);
    let settings = BackupSettings {
        retention_days: 1,
        page_size: 1_000,
        part_bytes: MIN_PART_BYTES,
        receipt_lag_seconds: 300,
    };
    let job = |vault| {
        BackupJob::new(
            store.clone(),
            vault,
            DynamoAuditSink::new(dynamodb.clone(), &audit),
            SystemClock,
            RecordingMetrics::default(),
            settings.clone(),
        )
    };
    let verify = VerifyBackupJob::new(
        store.clone(),
        vault.clone(),
        DynamoAuditSink::new(dynamodb.clone(), &audit),
        SystemClock,
        RecordingMetrics::default(),
    );

    assert_eq!(
        job(vault.clone())
            .run(Some(time::macros::date!(2026 - 11 - 25)), "t")
            .await
            .unwrap()
            .row_count,
        0
    );
    crate::support::seed(&dynamodb, &signals, 0, 1).await;
    assert_eq!(
        job(vault.clone())
            .run(Some(time::macros::date!(2026 - 11 - 26)), "t")
            .await
            .unwrap()
            .row_count,
        1
    );
    // 16,000 entries: a CSV of about 6.5 MiB, two parts.
    crate::support::seed(&dynamodb, &signals, 1, 16_000).await;
    let killing = BackupJob::new(
        store.clone(),
        VaultFaults::failing_uploads(vault.clone(), 1),
        DynamoAuditSink::new(dynamodb.clone(), &audit),
        SystemClock,
        RecordingMetrics::default(),
        settings.clone(),
    );
    let killed = killing
        .run(Some(time::macros::date!(2026 - 11 - 27)), "t")
        .await;
    assert!(killed.is_err(), "the injected failure must fail the run");
    let manifests = vault.list_versions("manifests/").await.unwrap();
    assert_eq!(manifests.len(), 2, "no manifest for the killed run");
    let rerun = job(vault.clone())
        .run(Some(time::macros::date!(2026 - 11 - 27)), "t")
        .await
        .unwrap();
    assert_eq!(
        (
            rerun.index_range.from,
            rerun.index_range.to,
            rerun.row_count
        ),
        (1, 16_001, 16_000)
    );

    let result = verify.run(VerifyMode::All, "t").await.unwrap();
    assert_eq!(
        (
            result.manifests_checked,
            result.rows_checked,
            result.covered_to
        ),
        (3, 16_001, 16_001)
    );
    assert!(result.restore_drill.unwrap().matches);
}
