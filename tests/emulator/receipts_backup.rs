//! Delivery receipts in the nightly backup, against the emulator: receipts posted through the
//! ingest service are written to a locked receipts CSV listed in the manifest, verify-backup
//! checks it row by row (and finds an overwritten CSV and an edited live receipt), and
//! `ledgerctl restore` brings them back.

use serde_json::{Value, json};
use shared::adapters::dynamodb::receipts::receipt_item;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::backup::{BackupJob, BackupOutcome, BackupSettings};
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings};
use shared::app::verify_backup::{VerificationResult, VerifyBackupJob, VerifyError, VerifyMode};
use shared::domain::backup::{Manifest, manifest_key, read_receipt_rows};
use shared::domain::receipt::{StoredReceipt, Subscriber};
use shared::domain::signal::SignalId;
use shared::ports::{BlobVault, LedgerStore, MIN_PART_BYTES, VaultReads};

use crate::support::{TestStack, VaultedStack, now_rfc3339, signal};

fn request(path: &str, body: &Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        actor: "arn:aws:iam::123456789012:role/gateway".into(),
        request_id: uuid::Uuid::now_v7().to_string(),
    }
}

async fn backup(stack: &VaultedStack) -> BackupOutcome {
    BackupJob::new(
        stack.store(),
        stack.vault(),
        stack.audit_sink(),
        SystemClock,
        RecordingMetrics::default(),
        BackupSettings {
            retention_days: 1,
            page_size: 100,
            part_bytes: MIN_PART_BYTES,
            // Everything recorded before the run: the lag itself is a unit test's business.
            receipt_lag_seconds: 0,
        },
    )
    .run(None, "t")
    .await
    .unwrap()
}

async fn verify(stack: &VaultedStack) -> Result<VerificationResult, VerifyError> {
    VerifyBackupJob::new(
        stack.store(),
        stack.vault(),
        stack.audit_sink(),
        SystemClock,
        RecordingMetrics::default(),
    )
    .run(VerifyMode::All, "t")
    .await
}

fn findings(result: Result<VerificationResult, VerifyError>) -> Vec<(String, String)> {
    match result {
        Err(VerifyError::Failed(result)) => result
            .findings
            .into_iter()
            .map(|f| (f.kind, f.message))
            .collect(),
        other => panic!("expected findings, got {other:?}"),
    }
}

#[tokio::test]
async fn receipts_are_backed_up_verified_found_tampered_and_restored() {
    let stack = VaultedStack::new("rb").await;
    let ingest = Ingest::new(
        stack.store(),
        stack.audit_sink(),
        SystemClock,
        RecordingMetrics::default(),
        IngestSettings::default(),
    );
    for id in ["rb-1", "rb-2"] {
        assert_eq!(
            ingest.handle(request("/signals", &signal(id))).await.status,
            201
        );
    }
    let post = |id: &str, subscriber: &str| {
        request(
            &format!("/signals/{id}/receipts"),
            &json!({"subscriber": subscriber, "delivered_at": now_rfc3339()}),
        )
    };
    for (id, subscriber) in [("rb-1", "desk-a"), ("rb-1", "desk-b"), ("rb-2", "desk-a")] {
        assert_eq!(ingest.handle(post(id, subscriber)).await.status, 201);
    }

    // The backup writes the three receipts to a locked receipts CSV listed in its manifest.
    let first = backup(&stack).await;
    assert_eq!(first.receipt_count, 3);
    let vault = stack.vault();
    let manifest_bytes = {
        let versions = vault.list_versions(&first.manifest_key).await.unwrap();
        vault
            .get_version(&first.manifest_key, &versions[0].version_id)
            .await
            .unwrap()
    };
    let manifest = Manifest::parse(&manifest_bytes).unwrap();
    let receipts_csv = manifest.receipts.clone().unwrap().csv.unwrap();
    let protection = vault
        .protection(&receipts_csv.key, &receipts_csv.version_id)
        .await
        .unwrap();
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    assert!(protection.server_side_encryption.is_some());
    let original = vault
        .get_version(&receipts_csv.key, &receipts_csv.version_id)
        .await
        .unwrap();
    let rows: Vec<StoredReceipt> = read_receipt_rows(&original).unwrap();
    assert_eq!(rows.len(), 3);
    let store = stack.store();
    for row in &rows {
        let live = store
            .receipt(&row.receipt.signal_id, &row.receipt.subscriber)
            .await
            .unwrap();
        assert_eq!(live.as_ref(), Some(row));
    }

    // A later receipt goes to the next backup, whose window starts where this one ended.
    assert_eq!(ingest.handle(post("rb-2", "desk-b")).await.status, 201);
    let second = backup(&stack).await;
    assert_eq!(second.receipt_count, 1);
    let verified = verify(&stack).await.unwrap();
    assert_eq!((verified.rows_checked, verified.receipts_checked), (2, 4));

    // A new version written over the receipts CSV is found; the original is still checked.
    vault
        .put_locked(
            &receipts_csv.key,
            b"signal_id\r\n".to_vec(),
            "text/csv",
            manifest.retain_until,
        )
        .await
        .unwrap();
    let found = findings(verify(&stack).await);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "receipts_csv_overwritten");
    assert!(found[0].1.contains(&receipts_csv.key), "{}", found[0].1);

    // A live receipt edited in the table (an unconditional put, as an insider could) is found,
    // naming the file and the row.
    let mut forged = rows[1].clone();
    forged.receipt.client_latency_ms += 1;
    stack
        .dynamodb
        .put_item()
        .table_name(&stack.signals)
        .set_item(Some(receipt_item(&forged)))
        .send()
        .await
        .unwrap();
    let found = findings(verify(&stack).await);
    let edited = found
        .iter()
        .find(|(kind, _)| kind == "receipt_differs_from_live")
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(
        edited
            .1
            .starts_with(&format!("{}: row 2 (signal", receipts_csv.key)),
        "{}",
        edited.1
    );

    // The restore brings back every receipt exactly as backed up (from the original versions).
    let target = TestStack::new().await;
    let summary = ledgerctl::restore::restore(
        &vault,
        &stack.dynamodb,
        &ledgerctl::restore::RestoreOptions {
            target_table: target.signals_table.clone(),
            resume: false,
            until: None,
            progress: false,
        },
    )
    .await
    .unwrap();
    assert_eq!((summary.size, summary.receipts_restored), (2, 4));
    assert_eq!(summary.items_written, 3 * 2 + 4);
    let restored = target.store();
    for row in &rows {
        assert_eq!(
            restored
                .receipt(&row.receipt.signal_id, &row.receipt.subscriber)
                .await
                .unwrap()
                .as_ref(),
            Some(row)
        );
    }
    let later = restored
        .receipt(
            &SignalId::parse("rb-2").unwrap(),
            &Subscriber::parse("desk-b").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.receipt.compute_hash(), later.receipt_hash);
    assert_eq!(target.item_count().await, 3 * 2 + 4);
    assert_eq!(manifest_key(&manifest.backup_id), first.manifest_key);
}
