//! Layout 2 (group commit, docs/ledger-format.md §9) through the real DynamoDB adapter on the
//! emulator: pendings, commits of many (all or nothing, `Lost`, `Claimed` naming the ids exactly,
//! moto's per-action cancellation reasons), placements, the readers, the insert audit bundles —
//! and tampering with the new items as an insider would (an entry edited inside a bundle, a
//! bundle removed, a commit record whose count lies, a pending item planted), each caught by the
//! sweep naming the chain index, or inert.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::adapters::dynamodb::DynamoAuditSink;
use shared::adapters::dynamodb::commit::{bundle_key, commit_key, pending_item};
use shared::app::sweep::SweepMode;
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::signal::SignalId;
use shared::ports::{
    AuditLog, Clock, CommitError, CommitHead, GroupCommitStore, LedgerStore, Pending,
};

use crate::support::{read_all, signal};
use crate::sweep::{Ledger, failure, kinds};

/// `ids.len()` entries chained on `head`, with their `SIGNAL_INSERTED` events.
fn chained(head: &CommitHead, ids: &[&str]) -> (Vec<StoredEntry>, Vec<AuditEvent>) {
    chained_at(head, ids, shared::adapters::system::SystemClock.now())
}

/// As [`chained`], the entries received and their events recorded at `now`.
fn chained_at(
    head: &CommitHead,
    ids: &[&str],
    now: shared::domain::timestamp::Timestamp,
) -> (Vec<StoredEntry>, Vec<AuditEvent>) {
    let mut previous = head.last_hash;
    let mut entries = Vec::new();
    let mut audits = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut submission = shared::domain::signal::validate(
            signal(id).to_string().as_bytes(),
            &Default::default(),
            shared::adapters::system::SystemClock.now(),
        )
        .unwrap();
        submission.content.generated_at = now;
        let placement = Placement {
            chain_index: head.next + i as u64,
            previous_hash: previous,
            received_at: now,
            retention_days: 1,
            submitter: "arn:aws:iam::123456789012:role/producer".into(),
        };
        let stored = StoredEntry::seal(
            Entry::assemble(SignalId::parse(id).unwrap(), submission.content, placement).unwrap(),
        );
        previous = stored.entry_hash;
        audits.push(AuditEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            occurred_at: now,
            event_type: AuditEventType::SignalInserted,
            actor: stored.entry.submitter.clone(),
            request_id: format!("request-{id}"),
            signal_id: Some(id.to_string()),
            chain_index: Some(stored.entry.chain_index),
            reason: Some(format!(
                "signal appended at chain index {}",
                stored.entry.chain_index
            )),
            excerpt: None,
            details: serde_json::json!({"entry_hash": stored.entry_hash}),
        });
        entries.push(stored);
    }
    (entries, audits)
}

/// Commits of `sizes` entries each, ids `<prefix>-<n>`; returns the head after them.
async fn commit_all(ledger: &Ledger, prefix: &str, sizes: &[usize]) -> CommitHead {
    let store = ledger.store();
    let mut n = 0;
    for size in sizes {
        let head = store.commit_head().await.unwrap();
        let ids: Vec<String> = (n..n + size).map(|i| format!("{prefix}-{i:03}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (entries, audits) = chained(&head, &ids);
        assert_eq!(store.commit(&head, &entries, &audits).await.unwrap(), *size);
        n += size;
    }
    store.commit_head().await.unwrap()
}

fn pending_of(stored: &StoredEntry) -> Pending {
    Pending {
        signal_id: stored.entry.signal_id.clone(),
        content: stored.entry.content.clone(),
        received_at: stored.entry.received_at,
        submitter: stored.entry.submitter.clone(),
        request_id: "request".into(),
        event_id: "event".into(),
    }
}

/// Commits of 4, 3 and 5 entries (indexes 0–3, 4–6, 7–11), then a checkpoint at 12.
async fn committed() -> Ledger {
    let ledger = Ledger::new(0).await;
    let head = commit_all(&ledger, "gc", &[4, 3, 5]).await;
    assert_eq!(head.next, 12);
    let record = ledger.sweep.run(SweepMode::Init, "t").await.unwrap();
    assert_eq!(record.tree_size, 12);
    ledger
}

#[tokio::test]
async fn group_commits_through_the_real_adapter_keep_the_contract() {
    let ledger = Ledger::new(0).await;
    let store = ledger.store();
    let empty = store.commit_head().await.unwrap();
    assert_eq!((empty.first, empty.next), (None, 0));
    // Pendings: idempotent, read back whole, never entries.
    let (first, first_audits) = chained(&empty, &["gc-a", "gc-b", "gc-c"]);
    for stored in &first {
        store.put_pending(0, &pending_of(stored)).await.unwrap();
    }
    store.put_pending(0, &pending_of(&first[1])).await.unwrap();
    assert_eq!(store.first_pending_ids(0, 2).await.unwrap().len(), 2);
    let mut pendings = store.pendings(0).await.unwrap();
    pendings.sort_by_key(Pending::sequence_key);
    let mut expected: Vec<Pending> = first.iter().map(pending_of).collect();
    expected.sort_by_key(Pending::sequence_key);
    assert_eq!(pendings, expected);
    assert_eq!(store.head().await.unwrap(), None);
    // A commit of three, in one transaction.
    assert_eq!(
        store.commit(&empty, &first, &first_audits).await.unwrap(),
        3
    );
    let head = store.commit_head().await.unwrap();
    assert_eq!(
        (head.first, head.next, head.last_hash),
        (Some(0), 3, first[2].entry_hash)
    );
    // The same head again: lost (moto's reasons name the commit record), nothing written.
    let (rival, rival_audits) = chained(&empty, &["rival-a"]);
    assert!(matches!(
        store.commit(&empty, &rival, &rival_audits).await,
        Err(CommitError::Lost(0))
    ));
    assert_eq!(store.placed(&rival[0].entry.signal_id).await.unwrap(), None);
    // Claimed ids named exactly, nothing written.
    let (mixed, mixed_audits) = chained(&head, &["gc-d", "gc-a", "gc-e", "gc-c"]);
    match store.commit(&head, &mixed, &mixed_audits).await {
        Err(CommitError::Claimed(ids)) => assert_eq!(
            ids.iter().map(SignalId::as_str).collect::<Vec<_>>(),
            ["gc-a", "gc-c"]
        ),
        other => panic!("expected the claimed ids, got {other:?}"),
    }
    assert_eq!(store.commit_head().await.unwrap(), head);
    assert_eq!(store.placed(&mixed[0].entry.signal_id).await.unwrap(), None);
    // Placements, and the readers.
    let placed = store
        .placed(&first[1].entry.signal_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (placed.chain_index, placed.entry_hash, placed.previous_hash),
        (1, first[1].entry_hash, first[0].entry_hash)
    );
    let (more, more_audits) = chained(&head, &["gc-d", "gc-e"]);
    assert_eq!(store.commit(&head, &more, &more_audits).await.unwrap(), 2);
    let all = read_all(&store).await;
    assert_eq!(all, [first.clone(), more.clone()].concat());
    assert_eq!(store.entry_at(3).await.unwrap(), Some(more[0].clone()));
    assert_eq!(
        store
            .find_by_signal_id(&first[2].entry.signal_id)
            .await
            .unwrap(),
        Some(first[2].clone())
    );
    // One SIGNAL_INSERTED event per entry, unpacked from the insert audit bundles, and the
    // audit log begins on the day of its stripes.
    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let day = &first_audits[0].occurred_at.as_str()[..10];
    let events = audit.events_on(day).await.unwrap();
    let inserted: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == AuditEventType::SignalInserted)
        .map(|e| e.signal_id.clone().unwrap())
        .collect();
    assert_eq!(inserted, ["gc-a", "gc-b", "gc-c", "gc-d", "gc-e"]);
    assert_eq!(audit.earliest_day().await.unwrap().as_deref(), Some(day));
    // The sweep checkpoints the five entries.
    let record = ledger.sweep.run(SweepMode::Init, "t").await.unwrap();
    assert_eq!(record.tree_size, 5);
}

#[tokio::test]
async fn an_entry_edited_inside_a_bundle_is_caught_naming_its_index() {
    let ledger = committed().await;
    let (_, mut bundle) =
        crate::support::commit_holding(&ledger.dynamodb, &ledger.signals_table, 5)
            .await
            .unwrap();
    let AttributeValue::L(entries) = bundle.get_mut("entries").unwrap() else {
        panic!("no entries list")
    };
    let AttributeValue::M(entry) = &mut entries[1] else {
        panic!("not a map")
    };
    entry.insert("entry_price".into(), AttributeValue::S("999".into()));
    crate::support::put_as_insider(&ledger.dynamodb, &ledger.signals_table, bundle).await;
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert_eq!(
        record.first_failure().map(|f| (f.index, f.kind.name())),
        Some((5, "hash_mismatch")),
        "{:?}",
        kinds(&record)
    );
}

#[tokio::test]
async fn a_removed_bundle_is_caught_naming_each_of_its_indexes() {
    let ledger = committed().await;
    ledger
        .dynamodb
        .delete_item()
        .table_name(&ledger.signals_table)
        .set_key(Some(bundle_key(4)))
        .send()
        .await
        .unwrap();
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    let found = kinds(&record);
    for index in 4..7 {
        assert!(found.contains(&(index, "unreadable")), "{found:?}");
    }
    assert_eq!(
        record.first_failure().map(|f| f.index),
        Some(4),
        "{found:?}"
    );
    // The reader says why, in place.
    let page = ledger.store().read_page(4, 1).await.unwrap();
    let reason = format!("{:?}", page.items[0]);
    assert!(
        reason.contains("BUNDLE#4/4[0]") && reason.contains("no entry bundle"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_commit_record_whose_count_lies_is_caught() {
    let ledger = committed().await;
    let mut commit = ledger
        .dynamodb
        .get_item()
        .table_name(&ledger.signals_table)
        .set_key(Some(commit_key(4)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    commit.insert("count".into(), AttributeValue::N("4".into()));
    crate::support::put_as_insider(&ledger.dynamodb, &ledger.signals_table, commit).await;
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    let found = kinds(&record);
    assert_eq!(
        record.first_failure().map(|f| (f.index, f.kind.name())),
        Some((7, "unreadable")),
        "{found:?}"
    );
    // Read from the lying commit, its fourth position is the error in place (read from 7, the
    // commit that really starts there answers).
    let page = ledger.store().read_page(4, 4).await.unwrap();
    let reason = format!("{:?}", page.items[3]);
    assert!(
        reason.contains("counts 4 entries but its bundle holds 3"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_planted_pending_item_is_inert() {
    let ledger = committed().await;
    let entries = read_all(&ledger.store()).await;
    let head = ledger.store().commit_head().await.unwrap();
    // A well-formed pending of a new signal, in the next generation and in a past one.
    let (planted, _) = chained(&head, &["planted-1"]);
    for generation in [head.next, 3] {
        crate::support::put_as_insider(
            &ledger.dynamodb,
            &ledger.signals_table,
            pending_item(generation, &pending_of(&planted[0])),
        )
        .await;
    }
    assert_eq!(read_all(&ledger.store()).await, entries);
    assert_eq!(ledger.store().commit_head().await.unwrap(), head);
    assert_eq!(
        ledger
            .store()
            .placed(&planted[0].entry.signal_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ledger
            .store()
            .find_by_signal_id(&planted[0].entry.signal_id)
            .await
            .unwrap(),
        None
    );
    let record = ledger.sweep.run(SweepMode::Full, "t").await.unwrap();
    assert!(record.findings.is_empty(), "{:?}", kinds(&record));
}

/// The insert events of a commit, older than the seal lag, are sealed from their bundle under
/// their own keys (`<day>`, `<bundle sk>#<position>`); an event edited inside the bundle is then
/// named by `full` by that key.
#[tokio::test]
async fn an_insert_event_edited_inside_a_sealed_bundle_is_named_by_its_key() {
    use shared::domain::chain::FindingKind;
    let ledger = Ledger::new(0).await;
    let store = ledger.store();
    let an_hour_ago = shared::domain::timestamp::Timestamp::from_datetime(
        shared::adapters::system::SystemClock.now().as_datetime() - time::Duration::hours(1),
    )
    .unwrap();
    let head = store.commit_head().await.unwrap();
    let (entries, audits) = chained_at(&head, &["sealed-0", "sealed-1", "sealed-2"], an_hour_ago);
    assert_eq!(store.commit(&head, &entries, &audits).await.unwrap(), 3);
    let init = ledger.sweep.run(SweepMode::Init, "t").await.unwrap();
    assert!(init.findings.is_empty(), "{:?}", init.findings);
    let bundles = crate::support::insert_audit_bundles(&ledger.dynamodb, &ledger.audit_table).await;
    assert_eq!(bundles.len(), 1);
    let mut bundle = bundles[0].clone();
    let bundle_sk = bundle["sk"].as_s().unwrap().clone();
    let Some(AttributeValue::L(events)) = bundle.get_mut("events") else {
        panic!("no events list")
    };
    let Some(AttributeValue::M(event)) = events.get_mut(1) else {
        panic!("not an event")
    };
    event.insert(
        "actor".into(),
        AttributeValue::S("arn:aws:iam::123456789012:user/someone-else".into()),
    );
    ledger
        .dynamodb
        .put_item()
        .table_name(&ledger.audit_table)
        .set_item(Some(bundle))
        .send()
        .await
        .unwrap();
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    let named: Vec<(&str, String, String)> = record
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
        .collect();
    assert_eq!(
        named,
        [(
            "audit_event_changed",
            an_hour_ago.as_str()[..10].to_owned(),
            format!("{bundle_sk}#01")
        )],
        "{:?}",
        record.findings
    );
}
