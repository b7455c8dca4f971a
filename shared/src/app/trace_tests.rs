//! The trail of one signal over in-memory ports: complete, each way it stops early, and each way
//! a check fails or a record is broken.

use time::macros::date;

use super::*;
use crate::adapters::memory::{
    FixedClock, InMemoryAuditSink, InMemoryLedger, InMemoryVault, RecordingMetrics, SoftwareSigner,
};
use crate::app::backup::{BackupJob, BackupSettings};
use crate::app::sweep::{IntegritySweep, SweepMode, SweepSettings};
use crate::domain::backup::manifest_key;
use crate::domain::test_support::{chain, insert_event, timestamp};
use crate::ports::{BlobVault, Clock, MIN_PART_BYTES};

const KEY_ID: &str = "alias/test-signing";

/// Checkpoints count when signed by the trail's key for this log.
fn trust() -> CheckpointTrust {
    CheckpointTrust::new("signal-ledger:test", Some(KEY_ID), &[])
}

/// A ledger whose entries are appended as the ingest protocol would, a vault, and the
/// checkpoint key.
struct Trail {
    ledger: InMemoryLedger,
    vault: InMemoryVault,
    clock: FixedClock,
    signer: SoftwareSigner,
    source: Vec<StoredEntry>,
    appended: usize,
}

impl Trail {
    async fn with(entries: usize) -> Trail {
        let mut trail = Trail {
            ledger: InMemoryLedger::new(),
            vault: InMemoryVault::new(),
            clock: FixedClock::new(timestamp("2026-11-29T02:00:00Z")),
            signer: SoftwareSigner::from_secret(KEY_ID, [7; 32]).unwrap(),
            source: chain(20),
            appended: 0,
        };
        trail.append(entries).await;
        trail
    }

    /// Appends the next `count` entries with their `SIGNAL_INSERTED` events.
    async fn append(&mut self, count: usize) {
        for stored in &self.source[self.appended..self.appended + count] {
            let mut event = insert_event(stored);
            event.details = serde_json::json!({"entry_hash": stored.entry_hash.to_hex()});
            self.ledger.append(stored, &event).await.unwrap();
        }
        self.appended += count;
    }

    async fn backup(&self) {
        BackupJob::new(
            self.ledger.clone(),
            self.vault.clone(),
            self.ledger.audit_sink(),
            self.clock.clone(),
            RecordingMetrics::default(),
            BackupSettings {
                retention_days: 2555,
                page_size: 4,
                part_bytes: MIN_PART_BYTES,
                receipt_lag_seconds: 300,
            },
        )
        .run(Some(date!(2026 - 11 - 28)), "t")
        .await
        .unwrap();
    }

    /// A signed checkpoint of the whole ledger, an hour after the previous run.
    async fn checkpoint(&self, mode: SweepMode) {
        let now = self.clock.now();
        self.clock
            .set(Timestamp::from_datetime(now.as_datetime() + time::Duration::hours(1)).unwrap());
        IntegritySweep::new(
            self.ledger.clone(),
            self.vault.clone(),
            Some(self.signer.clone()),
            self.ledger.audit_sink(),
            self.clock.clone(),
            RecordingMetrics::default(),
            SweepSettings {
                retention_days: 2555,
                page_size: 4,
                trust: trust(),
            },
        )
        .run(mode, "t")
        .await
        .unwrap();
    }

    /// Backed up and checkpointed.
    async fn complete(entries: usize) -> Trail {
        let trail = Trail::with(entries).await;
        trail.backup().await;
        trail.checkpoint(SweepMode::Init).await;
        trail
    }

    async fn trace(&self, signal_id: &str) -> Result<Trace, TraceError> {
        self.trace_with(signal_id, Some(&self.signer)).await
    }

    async fn trace_with(
        &self,
        signal_id: &str,
        keys: Option<&SoftwareSigner>,
    ) -> Result<Trace, TraceError> {
        let audit: InMemoryAuditSink = self.ledger.audit_sink();
        let sources = Sources {
            store: &self.ledger,
            vault: &self.vault,
            audit: &audit,
            keys,
        };
        let options = TraceOptions {
            audit_days: 7,
            now: timestamp("2026-11-30T00:00:00Z"),
            trust: trust(),
        };
        trace(&sources, signal_id, &options, &|_| {}).await
    }

    fn checkpoint_note(&self) -> String {
        self.vault
            .keys()
            .into_iter()
            .rfind(|k| k.starts_with("checkpoints/") && k.ends_with(".txt"))
            .unwrap()
    }
}

/// The names of the failed checks of a step.
fn failed<T: Checked>(step: &Step<T>) -> Vec<&'static str> {
    checks_of(step)
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect()
}

fn stop<T>(step: &Step<T>) -> &str {
    match step {
        Step::Stopped { reason } => reason,
        _ => panic!("the step did not stop"),
    }
}

fn broken<T>(step: &Step<T>) -> &str {
    match step {
        Step::Broken { reason } => reason,
        _ => panic!("the step is not broken"),
    }
}

#[tokio::test]
async fn a_backed_up_checkpointed_signal_has_a_complete_trail() {
    let trail = Trail::complete(6).await;
    let traced = trail.trace("sig-000003").await.unwrap();
    assert_eq!(traced.failures(), Vec::<String>::new());
    assert_eq!(
        (traced.outcome(), traced.exit_code()),
        (Outcome::Complete, 0)
    );
    let backup = traced.backup.evidence().unwrap();
    assert_eq!((backup.csv_row, backup.index_range.to), (4, 6));
    assert_eq!(
        backup.csv_protection.lock_mode.as_deref(),
        Some("COMPLIANCE")
    );
    let checkpoint = traced.checkpoint.evidence().unwrap();
    assert_eq!(checkpoint.tree_size, 6);
    assert_eq!(checkpoint.signature_verified, Some(true));
    assert_eq!(checkpoint.key_id.as_deref(), Some(KEY_ID));
    assert!(!checkpoint.inclusion_proof.is_empty());
    let audit = traced.audit.evidence().unwrap();
    assert_eq!(audit.inserted.len(), 1);
    assert_eq!(
        audit.days_searched,
        vec!["2026-11-28", "2026-11-29", "2026-11-30"]
    );
}

#[tokio::test]
async fn the_trail_stops_where_there_is_no_backup_or_checkpoint_yet() {
    let mut trail = Trail::with(6).await;
    let traced = trail.trace("sig-000002").await.unwrap();
    assert!(stop(&traced.backup).contains("the vault holds no backup manifest"));
    assert!(stop(&traced.checkpoint).contains("the vault holds no checkpoint"));
    assert_eq!(
        (traced.outcome(), traced.exit_code()),
        (Outcome::Stopped, 2)
    );
    assert_eq!(traced.stops().len(), 2);

    trail.backup().await;
    trail.checkpoint(SweepMode::Init).await;
    trail.append(2).await;
    let traced = trail.trace("sig-000007").await.unwrap();
    assert!(
        stop(&traced.backup).contains("covers indexes 0..=5, and this entry is at index 7"),
        "{traced:?}"
    );
    assert!(stop(&traced.checkpoint).contains("has size 6"));
    assert_eq!(traced.outcome(), Outcome::Stopped);
    // The entry itself is sound: only the later records are missing.
    assert_eq!(traced.hashes.status(), StepStatus::Found);
}

#[tokio::test]
async fn an_unknown_or_malformed_signal_id_is_an_error_not_a_trail() {
    let trail = Trail::complete(3).await;
    assert!(matches!(
        trail.trace("sig-999999").await,
        Err(TraceError::UnknownSignalId(id)) if id == "sig-999999"
    ));
    assert!(matches!(
        trail.trace("not a signal id!").await,
        Err(TraceError::InvalidSignalId { .. })
    ));
}

#[tokio::test]
async fn an_entry_edited_in_the_table_fails_the_hash_and_inclusion_checks() {
    let trail = Trail::complete(6).await;
    trail.ledger.tamper(|entries, _| {
        let entry = entries.get_mut(&3).unwrap();
        entry.entry.submitter = "arn:aws:iam::123456789012:user/mallory".into();
    });
    let traced = trail.trace("sig-000003").await.unwrap();
    assert_eq!(failed(&traced.hashes), vec!["entry_hash"]);
    assert_eq!(failed(&traced.checkpoint), vec!["inclusion"]);
    assert_eq!((traced.outcome(), traced.exit_code()), (Outcome::Failed, 1));
}

#[tokio::test]
async fn broken_links_and_a_wrong_claim_fail_their_checks() {
    let trail = Trail::complete(6).await;
    trail.ledger.tamper(|entries, claims| {
        entries.remove(&2);
        let id = SignalId::parse("sig-000004").unwrap();
        claims.get_mut(&id).unwrap().entry_hash = Hash::ZERO;
    });
    let next_missing = trail.trace("sig-000001").await.unwrap();
    assert_eq!(failed(&next_missing.hashes), vec!["next_link"]);
    let previous_missing = trail.trace("sig-000003").await.unwrap();
    assert_eq!(failed(&previous_missing.hashes), vec!["previous_link"]);
    let wrong_claim = trail.trace("sig-000004").await.unwrap();
    assert_eq!(failed(&wrong_claim.hashes), vec!["claim"]);
    // The live ledger lost entry 2: the tree of the checkpoint cannot be rebuilt.
    assert_eq!(failed(&wrong_claim.checkpoint), vec!["inclusion"]);
}

#[tokio::test]
async fn a_missing_insert_event_fails_the_audit_step() {
    let mut trail = Trail::complete(3).await;
    // Entry 3 appended with an audit record that does not name it.
    let stored = trail.source[3].clone();
    let mut event = insert_event(&stored);
    event.signal_id = None;
    trail.ledger.append(&stored, &event).await.unwrap();
    trail.appended += 1;
    let traced = trail.trace("sig-000003").await.unwrap();
    assert_eq!(failed(&traced.audit), vec!["insert_event"]);
    assert_eq!(traced.outcome(), Outcome::Failed);
}

#[tokio::test]
async fn an_overwritten_manifest_or_checkpoint_fails_and_the_original_is_used() {
    let trail = Trail::complete(6).await;
    let manifest = manifest_key(&BackupId::new(date!(2026 - 11 - 28), 1).unwrap());
    trail.vault.overwrite(&manifest, b"{}".to_vec());
    trail
        .vault
        .overwrite(&trail.checkpoint_note(), b"forged".to_vec());
    let traced = trail.trace("sig-000003").await.unwrap();
    assert_eq!(failed(&traced.backup), vec!["manifest_original"]);
    assert_eq!(failed(&traced.checkpoint), vec!["checkpoint_original"]);
    // The originals still prove the entry.
    assert_eq!(traced.backup.evidence().unwrap().csv_row, 4);
    assert_eq!(
        traced.checkpoint.evidence().unwrap().signature_verified,
        Some(true)
    );
}

#[tokio::test]
async fn a_planted_note_after_the_latest_checkpoint_is_named_and_never_used() {
    let trail = Trail::complete(6).await;
    // A planted object that sorts after every real note.
    trail
        .vault
        .put_locked(
            "checkpoints/zz.txt",
            b"not a note".to_vec(),
            "text/plain",
            timestamp("2030-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let traced = trail.trace("sig-000003").await.unwrap();
    // The inclusion proof is still made against the latest trusted checkpoint; the planted
    // note is a failed check naming it.
    assert_eq!(failed(&traced.checkpoint), vec!["newer_notes"]);
    let evidence = traced.checkpoint.evidence().unwrap();
    assert_eq!(evidence.signature_verified, Some(true));
    assert!(format!("{:?}", traced.checkpoint).contains("checkpoints/zz.txt"));
    assert_eq!(traced.outcome(), Outcome::Failed);

    // With nothing trusted at all the step is broken, never trusted because it sorts last.
    let empty = Trail::with(6).await;
    empty
        .vault
        .put_locked(
            "checkpoints/zz.txt",
            b"not a note".to_vec(),
            "text/plain",
            timestamp("2030-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let traced = empty.trace("sig-000003").await.unwrap();
    assert!(broken(&traced.checkpoint).contains("checkpoints/zz.txt"));
}

#[tokio::test]
async fn the_checkpoint_signature_is_verified_refuted_or_left_unchecked() {
    let trail = Trail::complete(6).await;
    // Another key under the same id: the signature does not verify.
    let impostor = SoftwareSigner::from_secret(KEY_ID, [9; 32]).unwrap();
    let traced = trail
        .trace_with("sig-000003", Some(&impostor))
        .await
        .unwrap();
    assert_eq!(failed(&traced.checkpoint), vec!["signature"]);
    assert_eq!(
        traced.checkpoint.evidence().unwrap().signature_verified,
        Some(false)
    );
    // No way to read the trusted key, or a key service that cannot give it: nothing can be
    // judged, so the trace cannot be made (rather than trusting what the note says).
    assert!(matches!(
        trail.trace_with("sig-000003", None).await,
        Err(TraceError::Trust(TrustError::NoLookup { .. }))
    ));
    let elsewhere = SoftwareSigner::from_secret("alias/elsewhere", [7; 32]).unwrap();
    assert!(matches!(
        trail.trace_with("sig-000003", Some(&elsewhere)).await,
        Err(TraceError::Trust(TrustError::KeyUnavailable { key_id, .. })) if key_id == KEY_ID
    ));
}

#[tokio::test]
async fn a_later_checkpoint_covers_entries_appended_after_the_first() {
    let mut trail = Trail::complete(4).await;
    trail.append(3).await;
    trail.checkpoint(SweepMode::Incremental).await;
    let traced = trail.trace("sig-000006").await.unwrap();
    assert_eq!(traced.checkpoint.evidence().unwrap().tree_size, 7);
    assert_eq!(traced.checkpoint.status(), StepStatus::Found);
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_canonical(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn audit_days_start_on_the_day_received_and_stop_at_today() {
    let check = |received: &str, days: u32, now: &str, expected: &[&str]| {
        assert_eq!(
            audit_days(&at(received), days, &at(now)),
            expected,
            "{received} +{days} at {now}"
        );
    };
    check(
        "2026-11-27T23:59:59.999999Z",
        7,
        "2026-11-29T00:00:00.000000Z",
        &["2026-11-27", "2026-11-28", "2026-11-29"],
    );
    check(
        "2026-11-30T10:00:00.000000Z",
        2,
        "2026-12-31T00:00:00.000000Z",
        &["2026-11-30", "2026-12-01", "2026-12-02"],
    );
    check(
        "2026-11-28T10:00:00.000000Z",
        0,
        "2026-12-31T00:00:00.000000Z",
        &["2026-11-28"],
    );
    // A received_at after today (a skewed clock) still searches its own day.
    check(
        "2026-11-30T10:00:00.000000Z",
        7,
        "2026-11-28T00:00:00.000000Z",
        &["2026-11-30"],
    );
}

// ---- delivery receipts --------------------------------------------------------------------

/// Records `subscriber`'s receipt of `signal_id` (delivered `latency_ms` after generation) with
/// its `RECEIPT_RECORDED` event; `edit` may change the receipt after it was sealed (tampering).
async fn record_receipt(
    trail: &Trail,
    signal_id: &str,
    subscriber: &str,
    latency_ms: i64,
    edit: impl FnOnce(&mut crate::domain::receipt::StoredReceipt),
) -> crate::domain::receipt::StoredReceipt {
    use crate::domain::receipt::{Receipt, ReceiptRequest, StoredReceipt, Subscriber};
    let signal = trail
        .ledger
        .find_by_signal_id(&SignalId::parse(signal_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let generated = signal.entry.content.generated_at;
    let request = ReceiptRequest {
        subscriber: Subscriber::parse(subscriber).unwrap(),
        delivered_at: Timestamp::from_datetime(
            generated.as_datetime() + time::Duration::milliseconds(latency_ms),
        )
        .unwrap(),
    };
    let sealed = StoredReceipt::seal(Receipt::assemble(
        &signal,
        request,
        timestamp("2026-11-28T12:00:00Z"),
        "gateway".into(),
    ));
    let mut event = insert_event(&signal);
    event.event_id = format!("receipt-{subscriber}");
    event.occurred_at = sealed.receipt.recorded_at;
    event.event_type = AuditEventType::ReceiptRecorded;
    event.details = serde_json::json!({
        "subscriber": subscriber,
        "receipt_hash": sealed.receipt_hash.to_hex(),
        "client_latency_ms": latency_ms,
    });
    let mut stored = sealed;
    edit(&mut stored);
    trail.ledger.record_receipt(&stored, &event).await.unwrap();
    stored
}

#[tokio::test]
async fn the_trail_shows_each_receipt_checked_against_its_audit_event() {
    let trail = Trail::complete(6).await;
    let traced = trail.trace("sig-000003").await.unwrap();
    let none = traced.receipts.evidence().unwrap();
    assert!(
        none.receipts.is_empty(),
        "no receipt yet is an ordinary step"
    );
    assert_eq!(traced.outcome(), Outcome::Complete);

    let first = record_receipt(&trail, "sig-000003", "desk-7", 310, |_| {}).await;
    record_receipt(&trail, "sig-000003", "desk-8", 1_250, |_| {}).await;
    record_receipt(&trail, "sig-000004", "desk-7", 90, |_| {}).await;
    let traced = trail.trace("sig-000003").await.unwrap();
    assert_eq!(traced.failures(), Vec::<String>::new());
    assert_eq!(traced.outcome(), Outcome::Complete);
    let evidence = traced.receipts.evidence().unwrap();
    let mut shown: Vec<_> = evidence
        .receipts
        .iter()
        .map(|r| (r.receipt.subscriber.as_str(), r.receipt.client_latency_ms))
        .collect();
    shown.sort();
    assert_eq!(shown, vec![("desk-7", 310), ("desk-8", 1_250)]);
    assert!(evidence.receipts.contains(&first));
    let audited = evidence
        .checks
        .iter()
        .filter(|c| c.name == "receipt audited" && c.passed)
        .count();
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn an_edited_receipt_fails_its_hash_and_audit_checks() {
    let trail = Trail::complete(6).await;
    record_receipt(&trail, "sig-000003", "desk-7", 310, |stored| {
        // An insider makes the delivery look faster, keeping the stored hash.
        stored.receipt.client_latency_ms = 10;
    })
    .await;
    let traced = trail.trace("sig-000003").await.unwrap();
    assert_eq!((traced.outcome(), traced.exit_code()), (Outcome::Failed, 1));
    assert_eq!(
        failed(&traced.receipts),
        vec!["receipt hash", "client latency"]
    );
    // Re-sealed with a new hash, the audit event still names the original one.
    let trail = Trail::complete(6).await;
    record_receipt(&trail, "sig-000003", "desk-7", 310, |stored| {
        let later = stored.receipt.delivered_at;
        stored.receipt.delivered_at =
            Timestamp::from_datetime(later.as_datetime() - time::Duration::milliseconds(300))
                .unwrap();
        stored.receipt.client_latency_ms = 10;
        *stored = crate::domain::receipt::StoredReceipt::seal(stored.receipt.clone());
    })
    .await;
    let traced = trail.trace("sig-000003").await.unwrap();
    assert_eq!(failed(&traced.receipts), vec!["receipt audited"]);
    assert!(
        traced
            .failures()
            .iter()
            .any(|f| f.starts_with("receipts: receipt audited")),
        "{:?}",
        traced.failures()
    );
}

#[tokio::test]
async fn the_trail_names_the_backup_holding_each_receipt() {
    let trail = Trail::complete(6).await;
    let (stored, event) = crate::domain::test_support::receipt_record(
        &trail.source[3],
        "desk-7",
        310,
        "2026-11-29T02:30:00Z",
    );
    trail.ledger.record_receipt(&stored, &event).await.unwrap();
    let traced = trail.trace("sig-000003").await.unwrap();
    let evidence = traced.receipts.evidence().unwrap();
    assert_eq!(evidence.backups.len(), 1);
    assert_eq!(evidence.backups[0].backup_id, None);
    assert_eq!(
        evidence.backups[0].note,
        "not yet in any backup: the latest backup 20261128 holds receipts recorded before 2026-11-29T01:55:00.000000Z"
    );
    // The next backup's window holds it.
    trail.clock.set(timestamp("2026-11-29T04:00:00Z"));
    trail.backup().await;
    let traced = trail.trace("sig-000003").await.unwrap();
    let place = &traced.receipts.evidence().unwrap().backups[0];
    assert_eq!(
        place.backup_id.map(|id| id.to_string()).as_deref(),
        Some("20261128_2")
    );
    assert_eq!(
        place.receipts_csv.as_deref(),
        Some("signals/2026/11/receipts_backup_20261128_2.csv")
    );
    assert!(
        place.note.starts_with(
            "in backup 20261128_2 (receipts recorded in [2026-11-29T01:55:00.000000Z, 2026-11-29T03:55:00.000000Z))"
        ),
        "{}",
        place.note
    );
    assert_eq!(traced.outcome(), Outcome::Complete);
}
