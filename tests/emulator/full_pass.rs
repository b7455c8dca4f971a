//! The resumable full pass against the emulator: a pass over several invocations (a zero
//! budget: each stops at the next checkpoint or after one seal) runs to completion through the
//! real adapters, each step's cursor a new COMPLIANCE-locked object written with
//! `If-None-Match: *`; an entry edited behind a step's position is found by the next pass; two
//! invocations of the same step race and exactly one writes its cursor.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore, entry_item};
use shared::adapters::kms::KmsSigner;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::sweep::{
    IntegritySweep, SweepError, SweepMode, SweepRecord, SweepSettings, SweepStatus,
};
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::full_pass::{CURSOR_PREFIX, SignedCursor};
use shared::domain::timestamp::Timestamp;
use shared::ports::{AuditSink, BlobVault, Clock, VaultReads};

use crate::sweep::{Ledger, Sweep};

/// The stack's sweep, stepping: every step stops as soon as it may.
fn stepping(ledger: &Ledger) -> Sweep {
    IntegritySweep::new(
        DynamoLedgerStore::new(
            ledger.dynamodb.clone(),
            &ledger.signals_table,
            &ledger.audit_table,
        ),
        ledger.vault(),
        Some(KmsSigner::new(
            aws_sdk_kms::Client::new(&ledger.sdk),
            &ledger.key_arn,
        )),
        DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table),
        SystemClock,
        RecordingMetrics::default(),
        SweepSettings {
            retention_days: 1,
            page_size: 4,
            trust: shared::app::vault::CheckpointTrust::new(
                shared::config::origin(&ledger.signals_table),
                Some(&ledger.key_arn),
                &[],
            ),
        },
    )
    .with_full_pass_budget(Duration::ZERO)
}

fn record(result: Result<SweepRecord, SweepError>) -> SweepRecord {
    match result {
        Ok(record) => record,
        Err(SweepError::Failed(record)) => *record,
        Err(other) => panic!("the sweep could not run: {other:?}"),
    }
}

async fn whole_pass(sweep: &Sweep) -> Vec<SweepRecord> {
    let mut steps = Vec::new();
    loop {
        let step = record(sweep.run(SweepMode::Full, "t").await);
        let done = step.full_pass.as_ref().unwrap().phase == "done";
        steps.push(step);
        if done {
            return steps;
        }
        assert!(steps.len() < 30, "the pass does not advance");
    }
}

/// Checkpoints at 3, 6, 9 and 12, 14 entries, and a seal over four refusals an hour old.
async fn checkpointed_and_sealed() -> Ledger {
    let ledger = Ledger::new(3).await;
    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let an_hour_ago = SystemClock.now().as_datetime() - time::Duration::hours(1);
    for n in 0..4 {
        let event = AuditEvent {
            event_id: format!("0190-pass-{n}"),
            occurred_at: Timestamp::from_datetime(an_hour_ago + time::Duration::seconds(n))
                .unwrap(),
            event_type: AuditEventType::DeleteAttempt,
            actor: "arn:aws:iam::123456789012:user/alice".into(),
            request_id: format!("req-{n}"),
            signal_id: Some(format!("sweep-{n:03}")),
            chain_index: None,
            reason: Some("signals are immutable".into()),
            excerpt: None,
            details: serde_json::json!({"method": "DELETE", "path": "/signals/x", "status": 405}),
        };
        audit.record(&event).await.unwrap();
    }
    ledger.sweep.run(SweepMode::Init, "t").await.unwrap();
    for round in 1..4 {
        ledger.ingest(3 * round, 3).await;
        ledger.sweep.run(SweepMode::Incremental, "t").await.unwrap();
    }
    ledger.ingest(12, 2).await;
    ledger
}

#[tokio::test]
async fn a_full_pass_over_several_invocations_completes_and_finds_an_edit() {
    let ledger = checkpointed_and_sealed().await;
    let sweep = stepping(&ledger);
    let steps = whole_pass(&sweep).await;
    let messages: Vec<&String> = steps.iter().map(|s| &s.message).collect();
    assert!(
        steps.iter().all(|s| s.status == SweepStatus::Passed),
        "{messages:?}"
    );
    let positions: Vec<(String, u64)> = steps
        .iter()
        .map(|s| {
            let p = s.full_pass.as_ref().unwrap();
            (p.phase.clone(), p.position)
        })
        .collect();
    // One step per checkpoint, one to the end of the ledger, then the seals one per step.
    assert_eq!(
        positions[..5],
        [
            ("entries".to_owned(), 3),
            ("entries".to_owned(), 6),
            ("entries".to_owned(), 9),
            ("entries".to_owned(), 12),
            ("seals".to_owned(), 0),
        ],
        "{messages:?}"
    );
    let last = steps.last().unwrap().full_pass.as_ref().unwrap();
    assert!(last.duration_ms.is_some(), "{messages:?}");
    assert!(
        steps
            .last()
            .unwrap()
            .message
            .contains("14 entries verified from genesis"),
        "{messages:?}"
    );
    // One cursor per step, each written once and COMPLIANCE-locked.
    let vault = ledger.vault();
    let versions = vault.list_versions(CURSOR_PREFIX).await.unwrap();
    assert_eq!(versions.len(), steps.len());
    for version in &versions {
        let protection = vault
            .protection(&version.key, &version.version_id)
            .await
            .unwrap();
        assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
        let note = SignedCursor::parse(
            &vault
                .get_version(&version.key, &version.version_id)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            shared::domain::full_pass::object_key(note.cursor.seq),
            version.key
        );
    }

    // An insider edits entry 7; the next pass names it in the step that reads it.
    let mut item = entry_item(&ledger.entries().await[7]);
    item.insert("entry_price".into(), AttributeValue::S("999".into()));
    ledger.put(item).await;
    let second = whole_pass(&sweep).await;
    assert_eq!(
        second[..2].iter().map(|s| s.status).collect::<Vec<_>>(),
        [SweepStatus::Passed, SweepStatus::Passed]
    );
    assert_eq!(second[2].status, SweepStatus::Failed);
    assert!(
        second[2]
            .findings
            .iter()
            .any(|f| f.index == 7 && f.kind.name() == "hash_mismatch"),
        "{:?}",
        second[2].findings
    );
    assert!(
        second
            .last()
            .unwrap()
            .full_pass
            .as_ref()
            .unwrap()
            .findings_total
            >= 1
    );
}

#[tokio::test]
async fn two_invocations_of_the_same_step_race_and_one_writes() {
    let ledger = checkpointed_and_sealed().await;
    let (first, second) = (stepping(&ledger), stepping(&ledger));
    let (a, b) = tokio::join!(
        first.run(SweepMode::Full, "a"),
        second.run(SweepMode::Full, "b")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let written: Vec<Option<String>> = [&a, &b]
        .iter()
        .map(|r| r.full_pass.as_ref().unwrap().cursor_written.clone())
        .collect();
    assert_eq!(
        written.iter().filter(|w| w.is_some()).count(),
        1,
        "{written:?}"
    );
    let versions = ledger.vault().list_versions(CURSOR_PREFIX).await.unwrap();
    assert_eq!(versions.len(), 1, "one cursor, written once: {versions:?}");
    // The pass goes on from the winner's cursor.
    let next = first.run(SweepMode::Full, "c").await.unwrap();
    assert_eq!(next.full_pass.as_ref().unwrap().step, 2);
}
