//! The sealed audit log against the emulator (DynamoDB, S3 Object Lock, KMS signing), tampered
//! with as an insider with `PutItem`/`DeleteItem` on the audit table would, directly with the
//! SDK: inside a sealed window `full` names the event's key; inside the unsealed window the
//! watch on the audit table's stream does; before seal 0, `full` names a key in the seven days
//! before it and the watch any backdated insert. A clean ledger passes every mode with no
//! findings.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::adapters::dynamodb::{DynamoAuditSink, audit_item, change_from_stream_record};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::sweep::{SweepError, SweepMode, SweepRecord, SweepStatus};
use shared::app::tamper_watch::TamperWatch;
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::audit_seal::{AuditKey, SEAL_PREFIX, SignedSeal};
use shared::domain::chain::FindingKind;
use shared::domain::timestamp::Timestamp;
use shared::ports::{AuditSink, BlobVault, Clock, VaultReads};

use crate::support::audit_events;
use crate::sweep::{Ledger, stream_records};

type Item = HashMap<String, AttributeValue>;

/// Two ingested signals (their audit events are fresh: inside the unsealed window), four
/// refusals recorded an hour ago (older than the lag), then `init`: seal 0 covers the four.
async fn sealed_ledger() -> (Ledger, Vec<AuditEvent>) {
    let ledger = Ledger::new(2).await;
    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let an_hour_ago = SystemClock.now().as_datetime() - time::Duration::hours(1);
    let mut old = Vec::new();
    for n in 0..4 {
        let event = AuditEvent {
            event_id: format!("0190-seal-{n}"),
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
        old.push(event);
    }
    let init = ledger.sweep.run(SweepMode::Init, "t").await.unwrap();
    assert_eq!(init.status, SweepStatus::Passed, "{:?}", init.findings);
    assert!(init.message.contains("sealed to"), "{}", init.message);
    (ledger, old)
}

async fn seals(ledger: &Ledger) -> Vec<(String, SignedSeal)> {
    let vault = ledger.vault();
    let mut notes = Vec::new();
    for version in vault.list_versions(SEAL_PREFIX).await.unwrap() {
        if version.key.ends_with(".txt") {
            let bytes = vault
                .get_version(&version.key, &version.version_id)
                .await
                .unwrap();
            let note = SignedSeal::parse(&String::from_utf8(bytes).unwrap()).unwrap();
            notes.push((version.key, note));
        }
    }
    notes
}

async fn put_audit_item(ledger: &Ledger, item: Item) {
    ledger
        .dynamodb
        .put_item()
        .table_name(&ledger.audit_table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn failure(result: Result<SweepRecord, SweepError>) -> SweepRecord {
    match result {
        Err(SweepError::Failed(record)) => *record,
        other => panic!("expected an integrity failure, got {other:?}"),
    }
}

/// `(kind, pk, sk)` of each audit-event finding.
fn named(record: &SweepRecord) -> Vec<(&'static str, String, String)> {
    record
        .findings
        .iter()
        .filter_map(|f| match &f.kind {
            FindingKind::AuditEventChanged { pk, sk, .. }
            | FindingKind::AuditEventMissing { pk, sk, .. }
            | FindingKind::AuditEventAdded { pk, sk, .. } => {
                Some((f.kind.name(), pk.clone(), sk.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_clean_ledger_passes_every_mode_and_its_seals_verify_with_the_stack_key() {
    let (ledger, old) = sealed_ledger().await;
    let incremental = ledger.sweep.run(SweepMode::Incremental, "t").await.unwrap();
    assert_eq!(incremental.findings_total, 0, "{:?}", incremental.findings);
    let full = ledger.sweep.run(SweepMode::Full, "t").await.unwrap();
    assert_eq!(
        (full.status, full.findings_total),
        (SweepStatus::Passed, 0),
        "{:?}",
        full.findings
    );
    assert!(
        full.message.contains("1 seal(s) re-verified"),
        "{}",
        full.message
    );
    // Seal 0 holds exactly the four old events (the fresh ones are younger than the lag), is
    // signed by the stack's KMS key, and its events file lists their keys.
    let notes = seals(&ledger).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let (key, note) = &notes[0];
    assert_eq!((note.seal.seq, note.seal.count), (0, 4));
    let public = shared::ports::PublicKeys::public_key(
        &shared::adapters::kms::KmsSigner::new(
            aws_sdk_kms::Client::new(&ledger.sdk),
            &ledger.key_arn,
        ),
        &ledger.key_arn,
    )
    .await
    .unwrap();
    assert!(note.verify(&public).unwrap());
    let vault = ledger.vault();
    let events_key = key.replace(".txt", ".events");
    let versions = vault.list_versions(&events_key).await.unwrap();
    let file = vault
        .get_version(&events_key, &versions[0].version_id)
        .await
        .unwrap();
    let listed = note.seal.parse_events(&file).unwrap();
    let mut expected: Vec<AuditKey> = old.iter().map(AuditKey::of).collect();
    expected.sort();
    assert_eq!(listed.iter().map(|e| e.key()).collect::<Vec<_>>(), expected);
    // Locked like checkpoints, note and events file alike.
    for object in [key.clone(), events_key] {
        let version = &vault.list_versions(&object).await.unwrap()[0];
        let protection = vault
            .protection(&object, &version.version_id)
            .await
            .unwrap();
        assert_eq!(
            protection.lock_mode.as_deref(),
            Some("COMPLIANCE"),
            "{object}"
        );
    }
}

#[tokio::test]
async fn an_audit_event_overwritten_in_a_sealed_window_is_named_by_full() {
    let (ledger, old) = sealed_ledger().await;
    let target = &old[1];
    let mut rewritten = audit_item(target);
    rewritten.insert(
        "actor".into(),
        AttributeValue::S("arn:aws:iam::123456789012:user/someone-else".into()),
    );
    put_audit_item(&ledger, rewritten).await;
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    let key = AuditKey::of(target);
    assert_eq!(
        named(&record),
        [("audit_event_changed", key.pk.clone(), key.sk.clone())],
        "{:?}",
        record.findings
    );
    // Audited like any integrity failure.
    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let failed = audit_events(&audit)
        .await
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::IntegrityCheckFailed)
        .count();
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn a_deleted_and_an_inserted_audit_event_in_a_sealed_window_are_named() {
    let (ledger, old) = sealed_ledger().await;
    let removed = AuditKey::of(&old[2]);
    ledger
        .dynamodb
        .delete_item()
        .table_name(&ledger.audit_table)
        .key("pk", AttributeValue::S(removed.pk.clone()))
        .key("sk", AttributeValue::S(removed.sk.clone()))
        .send()
        .await
        .unwrap();
    let mut planted = old[0].clone();
    planted.event_id = "0190-planted".into();
    planted.actor = "arn:aws:iam::123456789012:user/never-there".into();
    put_audit_item(&ledger, audit_item(&planted)).await;
    let added = AuditKey::of(&planted);
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    let mut found = named(&record);
    found.sort();
    assert_eq!(
        found,
        [
            ("audit_event_added", added.pk, added.sk),
            ("audit_event_missing", removed.pk, removed.sk),
        ],
        "{:?}",
        record.findings
    );
}

/// Seal 0 starts where the audit log began, so a key before it is a backdated insert: `full`
/// names one in the seven days before seal 0 (it never scans the table), and the watch on the
/// audit table's stream names every one, from moto's real stream records, as it is inserted.
#[tokio::test]
async fn an_event_backdated_before_seal_0_is_named_by_full_or_by_the_stream_watch() {
    let (ledger, old) = sealed_ledger().await;
    let notes = seals(&ledger).await;
    let first = &notes.iter().find(|(_, n)| n.seal.seq == 0).unwrap().1.seal;
    let days_before = |days: i64| {
        Timestamp::from_datetime(first.from.as_datetime() - time::Duration::days(days)).unwrap()
    };
    let mut near = old[0].clone();
    near.event_id = "0190-backdated-3-days".into();
    near.occurred_at = days_before(3);
    let mut far = old[0].clone();
    far.event_id = "0190-backdated-30-days".into();
    far.occurred_at = days_before(30);
    put_audit_item(&ledger, audit_item(&near)).await;
    put_audit_item(&ledger, audit_item(&far)).await;
    let (near, far) = (AuditKey::of(&near), AuditKey::of(&far));

    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert_eq!(
        named(&record),
        [("audit_event_added", near.pk.clone(), near.sk.clone())],
        "{:?}",
        record.findings
    );

    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let records = stream_records(&ledger, &ledger.audit_table).await;
    let changes: Vec<_> = records
        .iter()
        .map(|record| change_from_stream_record(record, &ledger.watched()))
        .collect();
    let watch = TamperWatch::new(audit.clone(), SystemClock, RecordingMetrics::default());
    let outcome = watch.handle(&changes, "audit-stream").await.unwrap();
    // The two backdated events; the events written an hour ago by `sealed_ledger`, the sweeps'
    // and the ingests' are not.
    assert_eq!(outcome.tamper_events, 2, "{changes:?}");
    let reasons: Vec<String> = audit_events(&audit)
        .await
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::TamperDetected)
        .map(|e| e.reason.unwrap())
        .collect();
    for key in [near, far] {
        let named = format!("{}/{} was inserted at", key.pk, key.sk);
        assert!(
            reasons.iter().any(|r| r.contains(&named)),
            "{named}: {reasons:?}"
        );
    }
}

/// Inside the unsealed window no seal can see a rewrite yet: the watch on the audit table's
/// stream does, and names the event's key.
#[tokio::test]
async fn an_audit_event_overwritten_in_the_unsealed_window_is_caught_by_the_stream_watch() {
    let (ledger, _) = sealed_ledger().await;
    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let fresh = audit_events(&audit)
        .await
        .into_iter()
        .find(|e| e.event_type == AuditEventType::SignalInserted)
        .unwrap();
    let notes = seals(&ledger).await;
    assert!(
        notes.iter().all(|(_, n)| fresh.occurred_at >= n.seal.to),
        "the event is younger than every seal"
    );
    // Layout 2: the insert event lives in its commit's insert audit bundle; the insider
    // rewrites the bundle with the event's request id changed.
    let mut bundle = crate::support::insert_audit_bundles(&ledger.dynamodb, &ledger.audit_table)
        .await
        .into_iter()
        .find(|b| format!("{b:?}").contains(&fresh.event_id))
        .unwrap();
    let bundle_key = format!(
        "{}/{}",
        bundle["pk"].as_s().unwrap(),
        bundle["sk"].as_s().unwrap()
    );
    let Some(AttributeValue::L(events)) = bundle.get_mut("events") else {
        panic!("no events list")
    };
    for element in events.iter_mut() {
        if let AttributeValue::M(event) = element
            && event["event_id"].as_s().unwrap() == &fresh.event_id
        {
            event.insert(
                "request_id".into(),
                AttributeValue::S("not-the-original-request".into()),
            );
        }
    }
    put_audit_item(&ledger, bundle).await;
    let records = stream_records(&ledger, &ledger.audit_table).await;
    let changes: Vec<_> = records
        .iter()
        .map(|record| change_from_stream_record(record, &ledger.watched()))
        .collect();
    let watch = TamperWatch::new(audit.clone(), SystemClock, RecordingMetrics::default());
    let outcome = watch.handle(&changes, "audit-stream").await.unwrap();
    assert_eq!(outcome.tamper_events, 1, "{changes:?}");
    let tampered = audit_events(&audit)
        .await
        .into_iter()
        .find(|e| e.event_type == AuditEventType::TamperDetected)
        .unwrap();
    assert!(
        tampered.reason.unwrap().contains(&bundle_key),
        "the finding names the bundle's key"
    );
}

/// An item whose details are not in canonical JSON (a rewrite that "looks the same") is never
/// sealed and is named by the run that meets it and by every `full` after; sealing goes on.
#[tokio::test]
async fn an_unreadable_audit_item_is_named_and_never_stops_sealing() {
    let ledger = Ledger::new(0).await;
    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let an_hour_ago = SystemClock.now().as_datetime() - time::Duration::hours(1);
    let mut events = Vec::new();
    for n in 0..2 {
        let event = AuditEvent {
            event_id: format!("0190-odd-{n}"),
            occurred_at: Timestamp::from_datetime(an_hour_ago + time::Duration::seconds(n))
                .unwrap(),
            event_type: AuditEventType::ModificationAttempt,
            actor: "arn:aws:iam::123456789012:user/alice".into(),
            request_id: format!("req-{n}"),
            signal_id: None,
            chain_index: None,
            reason: None,
            excerpt: None,
            details: serde_json::json!({"method": "PUT", "status": 405}),
        };
        audit.record(&event).await.unwrap();
        events.push(event);
    }
    let mut respaced = audit_item(&events[1]);
    respaced.insert(
        "details".into(),
        AttributeValue::S(r#"{"method": "PUT", "status": 405}"#.into()),
    );
    put_audit_item(&ledger, respaced).await;
    let key = AuditKey::of(&events[1]);
    let unreadable = |record: &SweepRecord| {
        record.findings.iter().any(|f| {
            matches!(&f.kind, FindingKind::AuditEventUnreadable { pk, sk, .. }
                if *pk == key.pk && *sk == key.sk)
        })
    };
    let init = failure(ledger.sweep.run(SweepMode::Init, "t").await);
    assert!(unreadable(&init), "{:?}", init.findings);
    let notes = seals(&ledger).await;
    assert_eq!(notes.len(), 1, "sealing went on");
    assert_eq!(notes[0].1.seal.count, 1, "the readable event only");
    let full = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert!(unreadable(&full), "{:?}", full.findings);
    assert_eq!(full.findings_total, 1, "{:?}", full.findings);
}
