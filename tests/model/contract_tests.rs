//! The modelled DynamoDB keeps the ledger store's contract: the same checks run over the
//! in-memory double and over the real DynamoDB adapter on the model (the emulator tests run the
//! same adapter over moto). Then the model's own DynamoDB behaviour: conflicts between in-flight
//! transactions, throttling, item, transaction and page limits.

use std::time::Duration;

use shared::adapters::dynamo_api::{DynamoApi, DynamoFault, Item, KeyQuery, PutIfAbsent};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::InMemoryLedger;
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::hash::Hash;
use shared::domain::signal::{Action, SignalContent, SignalId};
use shared::domain::timestamp::Timestamp;
use shared::ports::{AppendError, AuditSink, ChainHead, LedgerStore, StoreError};

use super::{ModelParameters, ModelledDynamo};
use aws_sdk_dynamodb::types::AttributeValue;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("valid timestamp")
}

fn entry(index: u64, previous: Hash, id: &str, rationale_len: usize) -> StoredEntry {
    let content = SignalContent {
        symbol: "AAPL".into(),
        action: Action::Buy,
        entry_price: ExactDecimal::parse("189.4").expect("decimal"),
        target_price: None,
        stop_loss: None,
        confidence: None,
        rationale: "r".repeat(rationale_len.max(20)),
        generated_at: at("2026-11-29T10:00:00Z"),
        producer: None,
        model: None,
        model_version: None,
    };
    let placement = Placement {
        chain_index: index,
        previous_hash: previous,
        received_at: at("2026-11-29T10:00:00.040Z"),
        retention_days: 2555,
        submitter: "arn:aws:iam::123456789012:role/producer".into(),
    };
    StoredEntry::seal(
        Entry::assemble(SignalId::parse(id).expect("id"), content, placement).expect("entry"),
    )
}

fn audit(stored: &StoredEntry) -> AuditEvent {
    AuditEvent {
        event_id: format!("event-{}", stored.entry.chain_index),
        occurred_at: at("2026-11-29T10:00:00.040Z"),
        event_type: AuditEventType::SignalInserted,
        actor: "producer".into(),
        request_id: format!("request-{}", stored.entry.chain_index),
        signal_id: Some(stored.entry.signal_id.to_string()),
        chain_index: Some(stored.entry.chain_index),
        reason: None,
        excerpt: None,
        details: serde_json::json!({}),
    }
}

/// The store contract every implementation keeps; returns the audit events it appended.
async fn store_contract(store: &impl LedgerStore) -> usize {
    assert_eq!(store.head().await.expect("head"), None);
    let first = entry(0, Hash::ZERO, "sig-0", 20);
    store
        .append(&first, &audit(&first))
        .await
        .expect("append 0");
    assert_eq!(
        store.head().await.expect("head"),
        Some(ChainHead {
            chain_index: 0,
            entry_hash: first.entry_hash
        })
    );
    // The index is taken: a rival's entry at 0 is refused, nothing written.
    let rival = entry(0, Hash::ZERO, "sig-rival", 20);
    assert!(matches!(
        store.append(&rival, &audit(&rival)).await,
        Err(AppendError::IndexTaken(0))
    ));
    assert_eq!(
        store
            .find_by_signal_id(&rival.entry.signal_id)
            .await
            .expect("find"),
        None
    );
    // The id is claimed: the same signal at the next index is a replay.
    let replay = entry(1, first.entry_hash, "sig-0", 20);
    assert!(matches!(
        store.append(&replay, &audit(&replay)).await,
        Err(AppendError::SignalIdTaken(_))
    ));
    assert_eq!(store.entry_at(1).await.expect("entry_at"), None);
    let mut previous = first.entry_hash;
    for index in 1..25 {
        let next = entry(index, previous, &format!("sig-{index}"), 20);
        store.append(&next, &audit(&next)).await.expect("append");
        previous = next.entry_hash;
    }
    let found = store
        .find_by_signal_id(&SignalId::parse("sig-7").expect("id"))
        .await
        .expect("find")
        .expect("stored");
    assert_eq!(found.entry.chain_index, 7);
    assert_eq!(
        store.entry_at(7).await.expect("entry_at"),
        Some(found.clone())
    );
    // Pages in index order, continued until the end.
    let mut from = 3;
    let mut read = Vec::new();
    loop {
        let page = store.read_page(from, 10).await.expect("page");
        read.extend(
            page.items
                .into_iter()
                .map(|i| i.expect("entry").entry.chain_index),
        );
        match page.next {
            Some(next) => from = next,
            None => break,
        }
    }
    assert_eq!(read, (3..25).collect::<Vec<_>>());
    let ids: Vec<SignalId> = ["sig-3", "sig-24", "sig-unknown"]
        .iter()
        .map(|id| SignalId::parse(id).expect("id"))
        .collect();
    let mut claims = store.claims(&ids).await.expect("claims");
    claims.sort_by_key(|(_, claim)| claim.chain_index);
    assert_eq!(
        claims
            .iter()
            .map(|(id, c)| (id.as_str(), c.chain_index))
            .collect::<Vec<_>>(),
        [("sig-3", 3), ("sig-24", 24)]
    );
    25
}

#[tokio::test(start_paused = true)]
async fn the_in_memory_double_keeps_the_store_contract() {
    let ledger = InMemoryLedger::new();
    let appended = store_contract(&ledger).await;
    assert_eq!(ledger.audit_events().len(), appended);
}

#[tokio::test(start_paused = true)]
async fn the_dynamodb_adapter_over_the_model_keeps_the_store_contract() {
    let model = ModelledDynamo::new(ModelParameters::published(), 1);
    let store = DynamoLedgerStore::new(model.clone(), "signals", "audit");
    let appended = store_contract(&store).await;
    let audit = DynamoAuditSink::new(model.clone(), "audit");
    let events = audit.events_on("2026-11-29").await.expect("audit day");
    assert_eq!(
        events.len(),
        appended,
        "one audit event per insert, none for refused appends"
    );
    // A refusal's audit record goes through the sink; the same event twice is refused as
    // already there (create-only, so a retried tamper batch never duplicates an event).
    let event = AuditEvent {
        event_id: "refusal".into(),
        event_type: AuditEventType::SignalRejected,
        ..events[0].clone()
    };
    audit.record(&event).await.expect("record");
    assert!(matches!(
        audit.record(&event).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(model.stats().transactions_committed, 25);
}

fn put(table: &str, pk: &str, sk: u64, filler: usize) -> PutIfAbsent {
    PutIfAbsent {
        table: table.into(),
        item: Item::from([
            ("pk".to_owned(), AttributeValue::S(pk.into())),
            ("sk".to_owned(), AttributeValue::N(sk.to_string())),
            ("filler".to_owned(), AttributeValue::S("x".repeat(filler))),
        ]),
    }
}

#[tokio::test(start_paused = true)]
async fn two_in_flight_transactions_on_one_item_conflict_and_nothing_of_the_loser_is_written() {
    let model = ModelledDynamo::new(ModelParameters::published(), 7);
    let (a, b) = tokio::join!(
        model.transact_put_if_absent(vec![put("t", "ENTRY", 0, 10), put("t", "CLAIM#a", 0, 10)]),
        model.transact_put_if_absent(vec![put("t", "ENTRY", 0, 10), put("t", "CLAIM#b", 0, 10)]),
    );
    let outcomes = [a, b];
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    let loser = outcomes
        .iter()
        .find_map(|o| o.as_ref().err())
        .expect("a loser");
    match loser {
        DynamoFault::TransactionCanceled { reasons, .. } => {
            assert!(
                reasons[0] == "TransactionConflict" || reasons[0] == "ConditionalCheckFailed",
                "{reasons:?}"
            );
            assert_eq!(reasons[1], "None");
        }
        other => panic!("expected a cancelled transaction, got {other:?}"),
    }
    assert_eq!(
        model.items("t").len(),
        2,
        "the loser's claim was not written"
    );
    // A later transaction on the now-committed item fails its condition, with reasons.
    let late = model
        .transact_put_if_absent(vec![put("t", "CLAIM#c", 0, 10), put("t", "ENTRY", 0, 10)])
        .await;
    match late {
        Err(DynamoFault::TransactionCanceled { reasons, .. }) => {
            assert_eq!(reasons, ["None", "ConditionalCheckFailed"])
        }
        other => panic!("expected ConditionalCheckFailed, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn one_partition_is_throttled_past_its_write_capacity_and_recovers() {
    let model = ModelledDynamo::new(ModelParameters::published(), 3);
    // 2 KB transactional puts cost 4 WCU each: 1,000 WCU/s admits 250 in one second.
    let mut attempts = tokio::task::JoinSet::new();
    for n in 0..400 {
        let model = model.clone();
        attempts.spawn(async move {
            model
                .transact_put_if_absent(vec![put("t", "HOT", n, 2000)])
                .await
        });
    }
    let outcomes = attempts.join_all().await;
    let throttled = outcomes
        .iter()
        .filter(|o| {
            matches!(o, Err(DynamoFault::TransactionCanceled { reasons, .. }) if reasons[0] == "ThrottlingError")
        })
        .count();
    // Admissions spread over a few milliseconds, which refill a few units.
    let admitted = outcomes.len() - throttled;
    assert!((250..=256).contains(&admitted), "{admitted} admitted");
    assert_eq!(model.stats().wcu, 4.0 * admitted as f64);
    // Another partition is not affected, and the hot one refills within a second.
    model
        .put_if_absent(put("t", "COLD", 0, 10))
        .await
        .expect("other partition");
    tokio::time::sleep(Duration::from_secs(1)).await;
    model
        .transact_put_if_absent(vec![put("t", "HOT", 1000, 2000)])
        .await
        .expect("refilled");
}

#[tokio::test(start_paused = true)]
async fn items_transactions_and_query_pages_have_dynamodbs_limits() {
    let model = ModelledDynamo::new(ModelParameters::published(), 5);
    let too_big = model.put_if_absent(put("t", "P", 0, 400 * 1024)).await;
    assert!(
        matches!(too_big, Err(DynamoFault::Failed(_))),
        "{too_big:?}"
    );
    let actions: Vec<_> = (0..101)
        .map(|n| put("t", &format!("P{n}"), 0, 10))
        .collect();
    assert!(matches!(
        model.transact_put_if_absent(actions).await,
        Err(DynamoFault::Failed(_))
    ));
    let heavy: Vec<_> = (0..12)
        .map(|n| put("t", &format!("Q{n}"), 0, 390 * 1024))
        .collect();
    assert!(
        matches!(
            model.transact_put_if_absent(heavy).await,
            Err(DynamoFault::Failed(_))
        ),
        "over 4 MB"
    );
    // Five items of 300 KB: a page stops at 1 MB (3 items) whatever the limit, and continues.
    for sk in 0..5 {
        model
            .put_if_absent(put("t", "PAGE", sk, 300 * 1024))
            .await
            .expect("put");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut query = KeyQuery::partition("t", AttributeValue::S("PAGE".into()));
    query.limit = Some(100);
    let first = model.query(query.clone()).await.expect("page 1");
    assert_eq!(first.items.len(), 3);
    query.start_after = first.last_evaluated_key;
    let second = model.query(query).await.expect("page 2");
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.last_evaluated_key, None);
}

#[tokio::test(start_paused = true)]
async fn latencies_follow_the_published_distributions() {
    let model = ModelledDynamo::new(ModelParameters::published(), 11);
    let mut puts = Vec::new();
    for n in 0..2000 {
        let started = tokio::time::Instant::now();
        model
            .put_if_absent(put("t", &format!("L{n}"), 0, 10))
            .await
            .expect("put");
        puts.push(started.elapsed());
    }
    puts.sort();
    let p50 = puts[1000].as_secs_f64() * 1000.0;
    let p99 = puts[1980].as_secs_f64() * 1000.0;
    assert!((7.0..8.2).contains(&p50), "PutItem p50 {p50} ms");
    assert!((14.0..18.0).contains(&p99), "PutItem p99 {p99} ms");
}
