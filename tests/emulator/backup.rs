//! The backup job against the emulator: a multipart CSV and a chained manifest, both
//! COMPLIANCE-locked in the vault, covering every entry exactly once.

use ledgerctl::provision::{VAULT_BUCKET, provision_stack};
use ledgerctl::template::{Stack, Template};
use serde_json::{Value, json};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::backup::{BackupJob, BackupSettings};
use shared::domain::backup::{Manifest, read_rows, verify_manifest_chain};
use shared::domain::hash::Hash;
use shared::ports::{BlobVault, MIN_PART_BYTES};

use crate::support::{TEMPLATE, read_all, required_env};

#[tokio::test]
async fn a_backup_is_locked_chained_and_complete() {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let name = format!("b-{}", uuid::Uuid::now_v7().simple());
    let provisioned = provision_stack(
        &sdk,
        &Template::parse(TEMPLATE).unwrap(),
        &Stack::local(&name),
    )
    .await
    .unwrap();
    let bucket = provisioned.bucket_name(VAULT_BUCKET).unwrap().to_owned();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let (signals, audit) = (format!("{name}-signals"), format!("{name}-audit"));
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

/// The backup function binary through `cargo lambda watch`'s invoke API.
#[tokio::test]
async fn backup_invoked_through_cargo_lambda_watch() {
    let base = required_env("INGEST_URL");
    let invoke = base.replace(
        "/lambda-url/ingest",
        "/2015-03-31/functions/backup/invocations",
    );
    let http = reqwest::Client::new();
    let response = http.post(&invoke).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["manifest_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("manifests/")),
        "{outcome}"
    );
    let refused = http
        .post(&invoke)
        .json(&json!({"date": "28/11/2026"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.contains("invalid date"), "{refused}");
}
