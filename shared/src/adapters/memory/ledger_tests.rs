//! `InMemoryLedger` as a `GroupCommitStore`: the conditions and limits a DynamoDB commit
//! transaction has (a commit at `head.next` only if none is there, every claim only if absent,
//! all or nothing, at most 97 entries), idempotent pendings, and the head and placements read
//! back.

use serde_json::json;

use super::*;
use crate::domain::audit::AuditEventType;
use crate::domain::entry::{Entry, Placement};
use crate::domain::signal::{SignalContent, ValidationRules, validate};

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-28T09:30:00.120Z").unwrap()
}

fn content() -> SignalContent {
    let body = json!({
        "symbol": "AAPL", "action": "BUY", "entry_price": "150.25",
        "rationale": "Breakout above the 50-day moving average on rising volume.",
        "generated_at": "2026-11-28T09:30:00Z"
    });
    validate(
        body.to_string().as_bytes(),
        &ValidationRules::default(),
        now(),
    )
    .unwrap()
    .content
}

fn id(text: &str) -> SignalId {
    SignalId::parse(text).unwrap()
}

/// `ids` as entries chained on `head`, with their insert events.
fn batch(head: &CommitHead, ids: &[&str]) -> (Vec<StoredEntry>, Vec<AuditEvent>) {
    let mut previous_hash = head.last_hash;
    let mut entries = Vec::new();
    let mut audits = Vec::new();
    for (n, signal_id) in ids.iter().enumerate() {
        let placement = Placement {
            chain_index: head.next + n as u64,
            previous_hash,
            received_at: now(),
            retention_days: 10,
            submitter: "alice".into(),
        };
        let entry =
            StoredEntry::seal(Entry::assemble(id(signal_id), content(), placement).unwrap());
        previous_hash = entry.entry_hash;
        audits.push(AuditEvent {
            event_id: format!("event-{signal_id}"),
            occurred_at: now(),
            event_type: AuditEventType::SignalInserted,
            actor: "alice".into(),
            request_id: "req".into(),
            signal_id: Some(signal_id.to_string()),
            chain_index: Some(entry.entry.chain_index),
            reason: None,
            excerpt: None,
            details: json!({}),
        });
        entries.push(entry);
    }
    (entries, audits)
}

fn pending(signal_id: &str, request_id: &str) -> Pending {
    Pending {
        signal_id: id(signal_id),
        content: content(),
        received_at: now(),
        submitter: "alice".into(),
        request_id: request_id.into(),
        event_id: format!("event-{signal_id}"),
    }
}

#[tokio::test]
async fn a_commit_writes_entries_claims_audit_and_moves_the_head() {
    let ledger = InMemoryLedger::new();
    let empty = ledger.commit_head().await.unwrap();
    assert_eq!(
        empty,
        CommitHead {
            first: None,
            next: 0,
            last_hash: Hash::ZERO,
            last_key: String::new()
        }
    );
    let (entries, audits) = batch(&empty, &["b", "a", "c"]);
    assert_eq!(ledger.commit(&empty, &entries, &audits).await.unwrap(), 3);
    let head = ledger.commit_head().await.unwrap();
    assert_eq!(head.first, Some(0));
    assert_eq!(head.next, 3);
    assert_eq!(head.last_hash, entries[2].entry_hash);
    assert_eq!(head.last_key, sequence_key(&now(), &id("c")));
    assert_eq!(ledger.entries(), entries);
    assert_eq!(ledger.audit_events(), audits);
    let placed = ledger.placed(&id("a")).await.unwrap().unwrap();
    assert_eq!(
        (placed.chain_index, placed.entry_hash, placed.previous_hash),
        (1, entries[1].entry_hash, entries[0].entry_hash)
    );
    assert_eq!(ledger.placed(&id("zz")).await.unwrap(), None);
    // A single append after it is a commit of one, and the head follows.
    let (one, one_audit) = batch(&head, &["d"]);
    ledger.append(&one[0], &one_audit[0]).await.unwrap();
    let head = ledger.commit_head().await.unwrap();
    assert_eq!((head.first, head.next), (Some(3), 4));
    assert_eq!(ledger.commit_count(), 2);
}

#[tokio::test]
async fn a_lost_race_or_a_claimed_id_writes_nothing_and_says_which() {
    let ledger = InMemoryLedger::new();
    let head = ledger.commit_head().await.unwrap();
    let (first, first_audits) = batch(&head, &["a", "b"]);
    ledger.commit(&head, &first, &first_audits).await.unwrap();
    // Another commit built on the same (now stale) head, its ids claimed or not: Lost first.
    let (rival, rival_audits) = batch(&head, &["a", "x"]);
    assert!(matches!(
        ledger.commit(&head, &rival, &rival_audits).await,
        Err(CommitError::Lost(0))
    ));
    // On the new head: the claimed ids are named, nothing of the commit is written.
    let head = ledger.commit_head().await.unwrap();
    let (mixed, mixed_audits) = batch(&head, &["x", "b", "y", "a"]);
    match ledger.commit(&head, &mixed, &mixed_audits).await {
        Err(CommitError::Claimed(ids)) => assert_eq!(ids, vec![id("b"), id("a")]),
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger.entries(), first);
    assert_eq!(ledger.audit_events().len(), 2);
    assert_eq!(ledger.placed(&id("x")).await.unwrap(), None);
    // A failed audit write: nothing either.
    ledger.fail_audit_writes(true);
    let (fresh, fresh_audits) = batch(&head, &["x"]);
    assert!(matches!(
        ledger.commit(&head, &fresh, &fresh_audits).await,
        Err(CommitError::AuditWriteFailed(_))
    ));
    assert_eq!(ledger.entries(), first);
    assert_eq!(ledger.commit_head().await.unwrap(), head);
}

#[tokio::test]
async fn a_commit_takes_the_longest_prefix_that_fits_and_refuses_a_repeated_id() {
    let ledger = InMemoryLedger::new();
    let head = ledger.commit_head().await.unwrap();
    let names: Vec<String> = (0..120).map(|n| format!("s-{n:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (entries, audits) = batch(&head, &refs);
    assert_eq!(
        ledger.commit(&head, &entries, &audits).await.unwrap(),
        MAX_COMMIT_ENTRIES
    );
    assert_eq!(ledger.entries().len(), MAX_COMMIT_ENTRIES);
    assert_eq!(ledger.commit_head().await.unwrap().next, 97);
    let head = ledger.commit_head().await.unwrap();
    let (twice, twice_audits) = batch(&head, &["t", "t"]);
    assert!(matches!(
        ledger.commit(&head, &twice, &twice_audits).await,
        Err(CommitError::Store(StoreError::Failed(_)))
    ));
    assert_eq!(ledger.entries().len(), MAX_COMMIT_ENTRIES);
}

#[tokio::test]
async fn pendings_are_idempotent_per_generation_and_read_in_key_order() {
    let ledger = InMemoryLedger::new();
    ledger.put_pending(5, &pending("b", "first")).await.unwrap();
    ledger
        .put_pending(5, &pending("b", "second"))
        .await
        .unwrap();
    ledger.put_pending(5, &pending("a", "first")).await.unwrap();
    ledger.put_pending(6, &pending("c", "first")).await.unwrap();
    assert_eq!(
        ledger.first_pending_ids(5, 2).await.unwrap(),
        vec![id("a"), id("b")]
    );
    assert_eq!(ledger.first_pending_ids(5, 1).await.unwrap(), vec![id("a")]);
    assert!(ledger.first_pending_ids(7, 2).await.unwrap().is_empty());
    let five = ledger.pendings(5).await.unwrap();
    assert_eq!(five.len(), 2);
    // The first put of an id stays; a second is left out.
    assert_eq!(five[1].request_id, "first");
    assert_eq!(
        ledger.pendings(6).await.unwrap(),
        vec![pending("c", "first")]
    );
}
