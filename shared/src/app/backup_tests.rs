//! The backup job over in-memory ports: ranges, the manifest chain, empty runs, several runs a
//! day, and a run killed midway.

use time::macros::date;

use super::*;
use crate::adapters::memory::{
    COMPETING_OBJECT, FixedClock, InMemoryAuditSink, InMemoryLedger, InMemoryVault,
    RecordingMetrics, VaultFaults,
};
use crate::domain::backup::{read_rows, verify_manifest_chain};
use crate::domain::entry::StoredEntry;
use crate::domain::receipt::StoredReceipt;
use crate::domain::test_support::{chain, insert_event, timestamp};

type Job =
    BackupJob<InMemoryLedger, InMemoryVault, InMemoryAuditSink, FixedClock, RecordingMetrics>;

struct Fixture {
    ledger: InMemoryLedger,
    vault: InMemoryVault,
    metrics: RecordingMetrics,
    job: Job,
    source: Vec<StoredEntry>,
    appended: usize,
}

impl Fixture {
    fn new(total: u64) -> Fixture {
        let ledger = InMemoryLedger::new();
        let vault = InMemoryVault::new();
        let metrics = RecordingMetrics::default();
        let settings = BackupSettings {
            retention_days: 2555,
            page_size: 97,
            part_bytes: MIN_PART_BYTES,
            receipt_lag_seconds: 300,
        };
        let job = BackupJob::new(
            ledger.clone(),
            vault.clone(),
            ledger.audit_sink(),
            FixedClock::new(timestamp("2026-11-29T02:00:00Z")),
            metrics.clone(),
            settings,
        );
        Fixture {
            ledger,
            vault,
            metrics,
            job,
            source: chain(total),
            appended: 0,
        }
    }

    async fn append(&mut self, count: usize) {
        for stored in &self.source[self.appended..self.appended + count] {
            self.ledger
                .append(stored, &insert_event(stored))
                .await
                .unwrap();
        }
        self.appended += count;
    }

    /// Every manifest, in backup order, with its exact bytes.
    fn manifests(&self) -> Vec<(Vec<u8>, Manifest)> {
        let mut keyed: Vec<(BackupId, Vec<u8>)> = self
            .vault
            .keys()
            .into_iter()
            .filter_map(|key| {
                Some((
                    BackupId::from_manifest_key(&key).ok()?,
                    self.vault.latest(&key)?,
                ))
            })
            .collect();
        keyed.sort_by_key(|(id, _)| *id);
        keyed
            .into_iter()
            .map(|(_, bytes)| {
                let m = Manifest::parse(&bytes).unwrap();
                (bytes, m)
            })
            .collect()
    }

    /// Every row of every CSV, in backup order.
    fn rows(&self) -> Vec<StoredEntry> {
        self.manifests()
            .iter()
            .filter_map(|(_, m)| m.csv.as_ref())
            .flat_map(|csv| read_rows(&self.vault.latest(&csv.key).unwrap()).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn an_empty_ledger_still_gets_a_manifest() {
    let fixture = Fixture::new(0);
    let outcome = fixture
        .job
        .run(Some(date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    assert_eq!((outcome.row_count, outcome.csv_key.clone()), (0, None));
    assert_eq!(
        outcome.manifest_key,
        "manifests/2026/11/signals_backup_20261128.json"
    );
    let manifests = fixture.manifests();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].1.previous_manifest_sha256, Hash::ZERO);
    assert_eq!(fixture.metrics.total(metric::BACKUP_SUCCEEDED), 1.0);
}

#[tokio::test]
async fn backups_across_days_chain_and_cover_every_entry_once() {
    let mut fixture = Fixture::new(1200);
    fixture.append(1).await;
    let first = fixture
        .job
        .run(Some(date!(2026 - 11 - 27)), "t")
        .await
        .unwrap();
    assert_eq!(
        (first.index_range, first.row_count),
        (IndexRange { from: 0, to: 1 }, 1)
    );
    assert_eq!(
        first.csv_key.as_deref(),
        Some("signals/2026/11/signals_backup_20261127.csv")
    );
    fixture.append(1199).await;
    let second = fixture
        .job
        .run(Some(date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    assert_eq!(second.index_range, IndexRange { from: 1, to: 1200 });
    // Twice the same day: a second run with a suffix, and no duplicated rows.
    let again = fixture
        .job
        .run(Some(date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    assert_eq!(
        again.manifest_key,
        "manifests/2026/11/signals_backup_20261128_2.json"
    );
    assert_eq!((again.row_count, again.csv_key), (0, None));

    let manifests = fixture.manifests();
    assert_eq!(manifests.len(), 3);
    assert!(
        verify_manifest_chain(&manifests).is_empty(),
        "{:?}",
        verify_manifest_chain(&manifests)
    );
    let rows = fixture.rows();
    assert_eq!(rows, fixture.source);
    let leaves: Vec<Hash> = fixture.source.iter().map(|e| e.entry_hash).collect();
    assert_eq!(
        manifests[2].1.merkle_root,
        crate::domain::merkle::root(&leaves)
    );
    // The CSV's recorded hash is the hash of the bytes stored.
    let csv = manifests[1].1.csv.as_ref().unwrap();
    assert_eq!(
        Hash::sha256(&fixture.vault.latest(&csv.key).unwrap()),
        csv.sha256
    );
    assert_eq!(
        fixture
            .ledger
            .audit_events()
            .iter()
            .filter(|e| e.event_type == AuditEventType::BackupSucceeded)
            .count(),
        3
    );
}

#[tokio::test]
async fn a_run_killed_midway_leaves_no_manifest_and_the_rerun_is_complete() {
    // About 6 MB of CSV: two parts.
    let mut fixture = Fixture::new(14_000);
    fixture.append(14_000).await;
    fixture.vault.fail_uploads_after_parts(1);
    let failed = fixture.job.run(Some(date!(2026 - 11 - 28)), "t").await;
    assert!(failed.is_err());
    assert!(
        fixture.manifests().is_empty(),
        "no manifest may point at a partial file"
    );
    assert_eq!(fixture.vault.pending_uploads(), 0, "the upload was aborted");
    assert_eq!(fixture.metrics.total(metric::BACKUP_FAILED), 1.0);
    assert_eq!(
        fixture
            .ledger
            .audit_events()
            .iter()
            .filter(|e| e.event_type == AuditEventType::BackupFailed)
            .count(),
        1
    );

    fixture.vault.fail_uploads_after_parts(usize::MAX);
    let rerun = fixture
        .job
        .run(Some(date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    assert_eq!(
        (rerun.index_range, rerun.row_count),
        (
            IndexRange {
                from: 0,
                to: 14_000
            },
            14_000
        )
    );
    assert_eq!(fixture.rows(), fixture.source, "every entry exactly once");
}

#[tokio::test]
async fn a_broken_chain_is_not_backed_up() {
    let mut fixture = Fixture::new(10);
    fixture.append(10).await;
    fixture
        .ledger
        .tamper(|entries, _| entries.get_mut(&4).unwrap().entry.content.symbol = "MSFT".into());
    let error = fixture
        .job
        .run(Some(date!(2026 - 11 - 28)), "t")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            BackupFailure::BrokenChain {
                index: 4,
                kind: "hash_mismatch"
            }
        ),
        "{error:?}"
    );
    assert!(fixture.manifests().is_empty());
}

#[tokio::test]
async fn a_backup_audit_event_that_cannot_be_written_is_counted() {
    use crate::app::ingest::metric::AUDIT_WRITE_ERRORS;
    let mut fixture = Fixture::new(5);
    fixture.append(5).await;
    fixture.ledger.fail_audit_writes(true);
    fixture
        .job
        .run(Some(date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    assert_eq!(fixture.metrics.total(AUDIT_WRITE_ERRORS), 1.0);
}

/// Two runs that picked the same backup id: the one that creates the CSV (or, with nothing to
/// back up, the manifest) second writes nothing, aborts its upload and reports the conflict.
#[tokio::test]
async fn a_run_that_loses_the_race_for_its_backup_id_writes_nothing() {
    for (prefix, rows) in [("signals/", 10), ("manifests/", 0)] {
        let ledger = InMemoryLedger::new();
        for stored in &chain(rows) {
            ledger.append(stored, &insert_event(stored)).await.unwrap();
        }
        let vault = InMemoryVault::new();
        let metrics = RecordingMetrics::default();
        let job = BackupJob::new(
            ledger.clone(),
            VaultFaults::competing_run(vault.clone(), prefix),
            ledger.audit_sink(),
            FixedClock::new(timestamp("2026-11-29T02:00:00Z")),
            metrics.clone(),
            BackupSettings::default(),
        );
        let error = job.run(Some(date!(2026 - 11 - 28)), "t").await.unwrap_err();
        let BackupFailure::AnotherRun { key } = &error else {
            panic!("{prefix}: {error:?}");
        };
        assert!(key.starts_with(prefix), "{key}");
        // Only the competitor's object; this run's upload is aborted, and it wrote no manifest.
        assert_eq!(vault.keys(), vec![key.clone()], "{prefix}");
        assert_eq!(vault.latest(key).unwrap(), COMPETING_OBJECT.to_vec());
        assert_eq!(vault.pending_uploads(), 0);
        assert_eq!(metrics.total(metric::BACKUP_CONFLICTS), 1.0);
        assert_eq!(metrics.total(metric::BACKUP_FAILED), 0.0);
        let audited = ledger.audit_events();
        let refused = audited
            .iter()
            .find(|e| e.event_type == AuditEventType::BackupFailed)
            .unwrap();
        let reason = refused.reason.clone().unwrap_or_default();
        assert!(reason.contains("another run"), "{reason}");
    }
}

#[tokio::test]
async fn the_in_memory_vault_creates_only_new_keys() {
    let vault = InMemoryVault::new();
    let until = timestamp("2033-11-29T00:00:00Z");
    vault
        .create_locked("k", b"first".to_vec(), "text/plain", until)
        .await
        .unwrap();
    let second = vault
        .create_locked("k", b"second".to_vec(), "text/plain", until)
        .await;
    assert!(matches!(second, Err(VaultError::AlreadyExists { ref key }) if key == "k"));
    let upload = vault.start_upload("k", "text/plain", until).await.unwrap();
    let part = vault
        .upload_part(&upload, 1, b"third".to_vec())
        .await
        .unwrap();
    let completed = vault
        .complete_upload(&upload, &[part], Hash::sha256(b"third"), until)
        .await;
    assert!(matches!(completed, Err(VaultError::AlreadyExists { .. })));
    assert_eq!(vault.latest("k").unwrap(), b"first".to_vec());
    assert_eq!(
        vault.pending_uploads(),
        1,
        "a refused completion leaves the upload to abort"
    );
}

// ---- delivery receipts --------------------------------------------------------------------

impl Fixture {
    /// Records `subscriber`'s receipt of entry `index` at `recorded_at`, with its audit event.
    async fn receipt(&self, index: usize, subscriber: &str, recorded_at: &str) -> StoredReceipt {
        let (stored, event) = crate::domain::test_support::receipt_record(
            &self.source[index],
            subscriber,
            1_500,
            recorded_at,
        );
        self.ledger.record_receipt(&stored, &event).await.unwrap();
        stored
    }

    /// The receipts CSV a manifest lists, read back.
    fn receipt_rows(&self, manifest: &Manifest) -> Vec<StoredReceipt> {
        let csv = manifest.receipts.as_ref().unwrap().csv.as_ref().unwrap();
        crate::domain::backup::read_receipt_rows(&self.vault.latest(&csv.key).unwrap()).unwrap()
    }
}

#[tokio::test]
async fn receipts_are_backed_up_by_recorded_at_in_windows_that_join() {
    let mut fixture = Fixture::new(5);
    fixture.append(5).await;
    let noon = fixture.receipt(1, "desk-a", "2026-11-28T12:00:00Z").await;
    let morning = fixture.receipt(3, "desk-b", "2026-11-28T11:00:00Z").await;
    // Inside the lag before the 02:00 run: it belongs to the next backup, not lost.
    let late = fixture.receipt(1, "desk-c", "2026-11-29T01:58:00Z").await;

    let first = fixture
        .job
        .run(Some(date!(2026 - 11 - 29)), "t")
        .await
        .unwrap();
    assert_eq!(first.receipt_count, 2);
    assert_eq!(
        first.receipts_csv_key.as_deref(),
        Some("signals/2026/11/receipts_backup_20261129.csv")
    );
    let manifests = fixture.manifests();
    let receipts = manifests[0].1.receipts.clone().unwrap();
    assert_eq!(manifests[0].1.format, ManifestFormat::V2);
    assert_eq!(
        (receipts.recorded_from, receipts.recorded_until),
        (None, timestamp("2026-11-29T01:55:00Z"))
    );
    // In CSV order (recorded_at first), each row re-hashing to its receipt_hash.
    let rows = fixture.receipt_rows(&manifests[0].1);
    assert_eq!(rows, vec![morning, noon]);
    assert!(crate::domain::backup::check_receipt_rows(&rows, &receipts, 5).is_empty());
    let csv = receipts.csv.as_ref().unwrap();
    let bytes = fixture.vault.latest(&csv.key).unwrap();
    assert_eq!(
        (Hash::sha256(&bytes), bytes.len() as u64),
        (csv.sha256, csv.bytes)
    );

    // The next night: the window starts where the last one ended.
    let evening = fixture.receipt(4, "desk-a", "2026-11-29T20:00:00Z").await;
    fixture.job.clock.set(timestamp("2026-11-30T02:00:00Z"));
    let second = fixture
        .job
        .run(Some(date!(2026 - 11 - 30)), "t")
        .await
        .unwrap();
    assert_eq!(second.receipt_count, 2);
    let manifests = fixture.manifests();
    let receipts = manifests[1].1.receipts.clone().unwrap();
    assert_eq!(
        (receipts.recorded_from, receipts.recorded_until),
        (
            Some(timestamp("2026-11-29T01:55:00Z")),
            timestamp("2026-11-30T01:55:00Z")
        )
    );
    assert_eq!(fixture.receipt_rows(&manifests[1].1), vec![late, evening]);
    assert!(verify_manifest_chain(&manifests).is_empty());

    // A night without receipts: an empty window, no receipts CSV.
    fixture.job.clock.set(timestamp("2026-12-01T02:00:00Z"));
    let third = fixture
        .job
        .run(Some(date!(2026 - 12 - 01)), "t")
        .await
        .unwrap();
    assert_eq!((third.receipt_count, third.receipts_csv_key), (0, None));
    let manifests = fixture.manifests();
    let receipts = manifests[2].1.receipts.clone().unwrap();
    assert_eq!((receipts.row_count, receipts.csv), (0, None));
    assert!(verify_manifest_chain(&manifests).is_empty());
}

#[tokio::test]
async fn a_receipt_that_differs_from_its_audit_event_is_not_backed_up() {
    let mut fixture = Fixture::new(3);
    fixture.append(3).await;
    let (mut stored, event) = crate::domain::test_support::receipt_record(
        &fixture.source[2],
        "desk-a",
        1_500,
        "2026-11-28T12:00:00Z",
    );
    // Edited before it was stored, hash recomputed: the event still names the original hash.
    stored.receipt.client_latency_ms += 1;
    stored = StoredReceipt::seal(stored.receipt);
    fixture
        .ledger
        .record_receipt(&stored, &event)
        .await
        .unwrap();
    let failure = fixture
        .job
        .run(Some(date!(2026 - 11 - 29)), "t")
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, BackupFailure::ReceiptMismatch { signal_id, subscriber, .. }
            if signal_id == "sig-000002" && subscriber == "desk-a"),
        "{failure:?}"
    );
    assert!(fixture.manifests().is_empty(), "no manifest was written");
}

#[tokio::test]
async fn a_backup_after_a_manifest_without_receipts_takes_every_earlier_receipt() {
    let mut fixture = Fixture::new(2);
    fixture.append(2).await;
    fixture
        .job
        .run(Some(date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    // Rewrite history as an older release would have left it: a format-1 manifest.
    let (bytes, manifest) = fixture.manifests().remove(0);
    let old = Manifest {
        format: ManifestFormat::V1,
        receipts: None,
        ..manifest
    };
    let vault = InMemoryVault::new();
    for key in fixture.vault.keys() {
        let body = match key.starts_with("manifests/") {
            true => old.to_bytes(),
            false => fixture.vault.latest(&key).unwrap(),
        };
        vault
            .put_locked(&key, body, "x", timestamp("2033-01-01T00:00:00Z"))
            .await
            .unwrap();
    }
    assert_ne!(bytes, old.to_bytes());
    let early = fixture.receipt(0, "desk-a", "2026-11-28T09:30:00Z").await;
    let job = BackupJob::new(
        fixture.ledger.clone(),
        vault.clone(),
        fixture.ledger.audit_sink(),
        FixedClock::new(timestamp("2026-11-29T02:00:00Z")),
        RecordingMetrics::default(),
        BackupSettings::default(),
    );
    let outcome = job.run(Some(date!(2026 - 11 - 29)), "t").await.unwrap();
    assert_eq!(outcome.receipt_count, 1);
    let key = outcome.manifest_key;
    let manifest = Manifest::parse(&vault.latest(&key).unwrap()).unwrap();
    let receipts = manifest.receipts.clone().unwrap();
    assert_eq!(receipts.recorded_from, None, "from the start");
    let csv = receipts.csv.unwrap();
    assert_eq!(
        crate::domain::backup::read_receipt_rows(&vault.latest(&csv.key).unwrap()).unwrap(),
        vec![early]
    );
    let chain = vec![
        (old.to_bytes(), old),
        (vault.latest(&key).unwrap(), manifest),
    ];
    assert!(
        verify_manifest_chain(&chain).is_empty(),
        "{:?}",
        verify_manifest_chain(&chain)
    );
}

#[tokio::test]
async fn a_receipt_at_the_window_edge_is_in_exactly_one_backup() {
    let mut fixture = Fixture::new(2);
    fixture.append(2).await;
    // Recorded just before the window's end (01:55), its event written just after it.
    let (before, mut event) = crate::domain::test_support::receipt_record(
        &fixture.source[0],
        "edge-a",
        1_500,
        "2026-11-29T01:54:59.999999Z",
    );
    event.occurred_at = timestamp("2026-11-29T01:55:00.000300Z");
    fixture
        .ledger
        .record_receipt(&before, &event)
        .await
        .unwrap();
    // Recorded exactly at the end: the next window's.
    let at_end = fixture.receipt(1, "edge-b", "2026-11-29T01:55:00Z").await;
    fixture
        .job
        .run(Some(date!(2026 - 11 - 29)), "t")
        .await
        .unwrap();
    fixture.job.clock.set(timestamp("2026-11-30T02:00:00Z"));
    fixture
        .job
        .run(Some(date!(2026 - 11 - 30)), "t")
        .await
        .unwrap();
    let manifests = fixture.manifests();
    assert_eq!(fixture.receipt_rows(&manifests[0].1), vec![before]);
    assert_eq!(fixture.receipt_rows(&manifests[1].1), vec![at_end]);
    assert!(verify_manifest_chain(&manifests).is_empty());
}
