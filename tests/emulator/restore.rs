//! Disaster-recovery restore against the emulator: every backup of a vault into a new table,
//! verified while it loads; refused into a table that holds entries; resumable.

use aws_sdk_dynamodb::types::AttributeValue;
use ledgerctl::restore::{RestoreOptions, RestoreSummary, restore};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::backup::{BackupJob, BackupSettings};
use shared::domain::backup::BackupId;
use shared::domain::chain::verify_chain;
use shared::ports::MIN_PART_BYTES;

use crate::support::{TestStack, VaultedStack, read_all};

/// A stack whose ledger holds `first + second` entries, backed up in two runs (two days).
struct BackedUp {
    vault: S3Vault,
    dynamodb: aws_sdk_dynamodb::Client,
    source: DynamoLedgerStore,
    first_id: BackupId,
    size: u64,
}

async fn backed_up(first: u64, second: u64) -> BackedUp {
    let VaultedStack {
        sdk,
        dynamodb,
        signals,
        audit,
        bucket,
        ..
    } = VaultedStack::new("r").await;
    let source = DynamoLedgerStore::new(dynamodb.clone(), &signals, &audit);
    let vault = S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None);
    let job = BackupJob::new(
        source.clone(),
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
    crate::support::seed(&dynamodb, &signals, 0, first).await;
    let day1 = job
        .run(Some(time::macros::date!(2026 - 11 - 27)), "t")
        .await
        .unwrap();
    crate::support::seed(&dynamodb, &signals, first, second).await;
    job.run(Some(time::macros::date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    BackedUp {
        vault,
        dynamodb,
        source,
        first_id: day1.backup_id,
        size: first + second,
    }
}

fn options(target: &str) -> RestoreOptions {
    RestoreOptions {
        target_table: target.to_owned(),
        resume: false,
        until: None,
        progress: false,
    }
}

async fn run(fixture: &BackedUp, options: &RestoreOptions) -> anyhow::Result<RestoreSummary> {
    Box::pin(restore(&fixture.vault, &fixture.dynamodb, options)).await
}

/// The restored table holds exactly the source's entries, as an intact chain, and one claim per
/// entry (no duplicates, nothing else).
async fn assert_restored(fixture: &BackedUp, target: &TestStack, summary: &RestoreSummary) {
    let restored = read_all(&target.store()).await;
    assert_eq!(restored.len() as u64, fixture.size);
    assert_eq!(restored, read_all(&fixture.source).await, "same entries");
    let report = verify_chain(&restored, Some(fixture.size));
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.tree.root(), summary.merkle_root);
    assert_eq!(report.head_hash, Some(summary.head_hash));
    // Layout 2: a commit of one per entry (commit record, bundle, claim).
    assert_eq!(target.item_count().await as u64, 3 * fixture.size);
}

#[tokio::test]
async fn restore_of_two_backups_into_a_new_table_verifies() {
    let fixture = backed_up(1_000, 205).await;
    let target = TestStack::new().await;
    let summary = run(&fixture, &options(&target.signals_table))
        .await
        .unwrap();
    assert_eq!(summary.manifests, 2);
    assert_eq!(summary.size, 1_205);
    assert_eq!(summary.rows_verified, 1_205);
    assert_eq!(summary.items_written, 3 * 1_205);
    assert_eq!(summary.items_already_present, 0);
    assert!(summary.overwritten_manifests.is_empty());
    assert_restored(&fixture, &target, &summary).await;
    assert!(summary.to_string().contains("restored 1205 entries"));

    // Restoring again into the (now full) table is refused, and writes nothing.
    let refused = run(&fixture, &options(&target.signals_table))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("already holds entries"),
        "{refused:#}"
    );
    // A table that does not exist is named.
    let missing = run(&fixture, &options("no-such-table")).await.unwrap_err();
    assert!(
        format!("{missing:#}").contains("no-such-table"),
        "{missing:#}"
    );
}

#[tokio::test]
async fn restore_into_a_table_holding_entries_is_refused() {
    let fixture = backed_up(1_000, 10).await;
    let target = TestStack::new().await;
    crate::support::seed(&target.client, &target.signals_table, 0, 3).await;
    let refused = run(&fixture, &options(&target.signals_table))
        .await
        .unwrap_err();
    let text = format!("{refused:#}");
    assert!(text.contains("already holds entries"), "{text}");
    assert_eq!(target.item_count().await, 5, "nothing written");
    // Not a restore of this vault: --resume is refused too, naming the differing entry.
    let resumed = run(
        &fixture,
        &RestoreOptions {
            resume: true,
            ..options(&target.signals_table)
        },
    )
    .await
    .unwrap_err();
    let text = format!("{resumed:#}");
    assert!(
        text.contains("chain index 2") && text.contains("not a restore of this vault"),
        "{text}"
    );
    assert_eq!(target.item_count().await, 5, "nothing written");
}

#[tokio::test]
async fn an_interrupted_restore_resumes_without_duplicates() {
    let fixture = backed_up(1_000, 205).await;
    let target = TestStack::new().await;
    let table = target.signals_table.clone();

    // Interrupted after the first backup.
    let partial = run(
        &fixture,
        &RestoreOptions {
            until: Some(fixture.first_id),
            ..options(&table)
        },
    )
    .await
    .unwrap();
    assert_eq!((partial.manifests, partial.size), (1, 1_000));
    assert_eq!(target.item_count().await, 3_000);

    // Interrupted midway through a window: the last 30 entries (commit records and bundles) and
    // some of their claims are missing (a test may delete; the restore never does).
    for index in 970..1_000u64 {
        let mut keys = vec![
            ("COMMIT".to_owned(), index),
            (format!("BUNDLE#{}", index % 8), index),
        ];
        if index % 2 == 0 {
            keys.push((format!("SIGNAL#seed-{index:06}"), 0));
        }
        for (pk, sk) in keys {
            target
                .client
                .delete_item()
                .table_name(&table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::N(sk.to_string()))
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(target.item_count().await, 3_000 - 60 - 15);

    // Without --resume a table holding entries is refused.
    let refused = run(&fixture, &options(&table)).await.unwrap_err();
    assert!(format!("{refused:#}").contains("--resume"), "{refused:#}");

    let resumed = run(
        &fixture,
        &RestoreOptions {
            resume: true,
            ..options(&table)
        },
    )
    .await
    .unwrap();
    assert_eq!(resumed.size, 1_205);
    assert_eq!(resumed.rows_verified, 1_205);
    // Head 969: indexes from 969 + 1 - WINDOW are put again; the ones present are skipped.
    let from = 970 - ledgerctl::restore::WINDOW;
    assert_eq!(resumed.rows_skipped, from);
    assert_eq!(resumed.items_written, 60 + 15 + 3 * 205);
    assert_eq!(
        resumed.items_already_present,
        3 * (1_205 - from) - (60 + 15 + 3 * 205)
    );
    assert_restored(&fixture, &target, &resumed).await;

    // Resuming a complete restore writes nothing and still verifies.
    let again = run(
        &fixture,
        &RestoreOptions {
            resume: true,
            ..options(&table)
        },
    )
    .await
    .unwrap();
    assert_eq!(again.items_written, 0);
    assert_restored(&fixture, &target, &again).await;
}
