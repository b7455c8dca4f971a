//! The modelled DynamoDB keeps the ledger store's contract: the same checks run over the
//! in-memory double and over the real DynamoDB adapter on the model (the emulator tests run the
//! same adapter over moto). Then the model's own DynamoDB behaviour: conflicts between in-flight
//! transactions, throttling, item, transaction and page limits.

use std::time::Duration;

use shared::adapters::dynamo_api::{DynamoApi, DynamoFault, Item, KeyQuery, PutIfAbsent};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::InMemoryLedger;
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::audit_seal::AuditKey;
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::hash::Hash;
use shared::domain::signal::{Action, SignalContent, SignalId};
use shared::domain::timestamp::Timestamp;
use shared::ports::{
    AppendError, AuditLog, AuditSink, ChainHead, CommitError, CommitHead, GroupCommitStore,
    LedgerStore, Pending, StoreError, sequence_key,
};

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

/// `count` entries chained on `head`, ids `<prefix>-<i>`, each rationale `rationale_len` long.
fn chained(
    head: &CommitHead,
    prefix: &str,
    count: usize,
    rationale_len: usize,
) -> Vec<StoredEntry> {
    let mut previous = head.last_hash;
    (0..count)
        .map(|i| {
            let stored = entry(
                head.next + i as u64,
                previous,
                &format!("{prefix}-{i}"),
                rationale_len,
            );
            previous = stored.entry_hash;
            stored
        })
        .collect()
}

fn audits(entries: &[StoredEntry]) -> Vec<AuditEvent> {
    entries.iter().map(audit).collect()
}

fn pending_of(stored: &StoredEntry) -> Pending {
    Pending {
        signal_id: stored.entry.signal_id.clone(),
        content: stored.entry.content.clone(),
        received_at: stored.entry.received_at,
        submitter: stored.entry.submitter.clone(),
        request_id: "request".into(),
        event_id: format!("event-{}", stored.entry.signal_id),
    }
}

async fn all_entries(store: &impl LedgerStore) -> Vec<StoredEntry> {
    let (mut from, mut read) = (Some(0), Vec::new());
    while let Some(start) = from {
        let page = store.read_page(start, 7).await.expect("page");
        read.extend(page.items.into_iter().map(|i| i.expect("entry")));
        from = page.next;
    }
    read
}

/// The group-commit contract (ARCHITECTURE.md "Group commit"): pendings idempotent and inert,
/// a commit all or nothing on the head it names, the longest prefix under the limits, the
/// claimed ids named exactly, placements, and the readers seeing commits of many as entries.
async fn group_commit_contract(store: &impl GroupCommitStore) {
    let empty = store.commit_head().await.expect("head");
    assert_eq!(
        empty,
        CommitHead {
            first: None,
            next: 0,
            last_hash: Hash::ZERO,
            last_key: String::new()
        }
    );
    // Pendings: idempotent, read back whole, inert for the readers.
    let first = chained(&empty, "gc", 3, 20);
    for stored in &first {
        store
            .put_pending(0, &pending_of(stored))
            .await
            .expect("pending");
    }
    store
        .put_pending(0, &pending_of(&first[0]))
        .await
        .expect("a twin is not an error");
    let mut ids = store.first_pending_ids(0, 2).await.expect("first ids");
    assert_eq!(ids.len(), 2);
    ids.dedup();
    assert_eq!(ids.len(), 2, "two distinct pending ids");
    let mut pendings = store.pendings(0).await.expect("pendings");
    pendings.sort_by_key(Pending::sequence_key);
    let mut expected: Vec<Pending> = first.iter().map(pending_of).collect();
    expected.sort_by_key(Pending::sequence_key);
    assert_eq!(pendings, expected);
    assert_eq!(
        store.head().await.expect("head"),
        None,
        "pendings are not entries"
    );
    assert!(all_entries(store).await.is_empty());
    // A commit of three.
    assert_eq!(
        store
            .commit(&empty, &first, &audits(&first))
            .await
            .expect("commit"),
        3
    );
    let head = store.commit_head().await.expect("head");
    assert_eq!(
        head,
        CommitHead {
            first: Some(0),
            next: 3,
            last_hash: first[2].entry_hash,
            last_key: first
                .iter()
                .map(|e| sequence_key(&e.entry.received_at, &e.entry.signal_id))
                .max()
                .expect("keys"),
        }
    );
    for stored in &first {
        let placed = store
            .placed(&stored.entry.signal_id)
            .await
            .expect("placed")
            .expect("claimed");
        assert_eq!(placed.chain_index, stored.entry.chain_index);
        assert_eq!(placed.entry_hash, stored.entry_hash);
        assert_eq!(placed.previous_hash, stored.entry.previous_hash);
        assert_eq!(placed.received_at, stored.entry.received_at);
        assert_eq!(placed.submitter, stored.entry.submitter);
    }
    // The same head again: lost, nothing written.
    let rival = chained(&empty, "rival", 2, 20);
    assert!(matches!(
        store.commit(&empty, &rival, &audits(&rival)).await,
        Err(CommitError::Lost(0))
    ));
    assert_eq!(
        store
            .placed(&rival[0].entry.signal_id)
            .await
            .expect("placed"),
        None
    );
    // Claimed ids are named exactly, and nothing of the commit is written.
    let mixed = {
        let mut previous = head.last_hash;
        ["mixed-0", "gc-1", "mixed-2", "gc-2"]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let stored = entry(head.next + i as u64, previous, id, 20);
                previous = stored.entry_hash;
                stored
            })
            .collect::<Vec<_>>()
    };
    match store.commit(&head, &mixed, &audits(&mixed)).await {
        Err(CommitError::Claimed(ids)) => assert_eq!(
            ids.iter().map(SignalId::as_str).collect::<Vec<_>>(),
            ["gc-1", "gc-2"]
        ),
        other => panic!("expected the claimed ids, got {other:?}"),
    }
    assert_eq!(
        store
            .placed(&mixed[0].entry.signal_id)
            .await
            .expect("placed"),
        None
    );
    assert_eq!(
        store.commit_head().await.expect("head"),
        head,
        "nothing was written"
    );
    // The longest prefix under the limits: 97 entries per commit…
    let many = chained(&head, "many", 120, 20);
    assert_eq!(
        store
            .commit(&head, &many, &audits(&many))
            .await
            .expect("commit"),
        97
    );
    let head = store.commit_head().await.expect("head");
    assert_eq!((head.first, head.next), (Some(3), 100));
    // …and neither bundle past 350 KB (three entries of ~100 KB fit, a fourth does not).
    let large = chained(&head, "large", 5, 100_000);
    assert_eq!(
        store
            .commit(&head, &large, &audits(&large))
            .await
            .expect("commit"),
        3
    );
    let head = store.commit_head().await.expect("head");
    assert_eq!(head.next, 103);
    // The readers see commits of many as the chain, entry by entry.
    let read = all_entries(store).await;
    assert_eq!(read.len(), 103);
    assert!(
        read.iter()
            .enumerate()
            .all(|(i, e)| e.entry.chain_index == i as u64)
    );
    assert!(
        read.windows(2)
            .all(|w| w[1].entry.previous_hash == w[0].entry_hash)
    );
    assert_eq!(
        store.head().await.expect("head"),
        Some(ChainHead {
            chain_index: 102,
            entry_hash: large[2].entry_hash
        })
    );
    assert_eq!(
        store.entry_at(99).await.expect("entry_at"),
        Some(many[96].clone())
    );
    assert_eq!(store.entry_at(103).await.expect("entry_at"), None);
    let page = store.read_page(50, 5).await.expect("page");
    assert_eq!(
        page.items
            .iter()
            .map(|i| i.as_ref().expect("entry").entry.chain_index)
            .collect::<Vec<_>>(),
        [50, 51, 52, 53, 54]
    );
    assert_eq!(page.next, Some(55));
    // Past the head, a page of one is empty and ends: it never loops on the last commit.
    let past = store.read_page(103, 1).await.expect("page");
    assert!(past.items.is_empty());
    assert_eq!(past.next, None);
    assert_eq!(
        store
            .find_by_signal_id(&many[10].entry.signal_id)
            .await
            .expect("find"),
        Some(many[10].clone())
    );
    let claims = store
        .claims(&[
            many[0].entry.signal_id.clone(),
            rival[0].entry.signal_id.clone(),
        ])
        .await
        .expect("claims");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].1.chain_index, 3);
    // A commit of one through `append`, on the same layout.
    let one = chained(&head, "one", 1, 20);
    store
        .append(&one[0], &audit(&one[0]))
        .await
        .expect("append");
    assert_eq!(store.commit_head().await.expect("head").next, 104);
    // The commits' first indexes, newest first, from a given index down (a combiner that takes
    // over reads the generations of the last few).
    let all = store.commit_firsts(u64::MAX, 100).await.expect("firsts");
    assert_eq!(all.first(), Some(&103), "the append's commit is the newest");
    assert_eq!(all.last(), Some(&0));
    assert!(all.windows(2).all(|w| w[0] > w[1]), "{all:?}");
    assert_eq!(store.commit_firsts(103, 2).await.expect("firsts"), all[..2]);
    assert_eq!(
        store.commit_firsts(all[1], 10).await.expect("firsts"),
        all[1..],
        "at or before the given index"
    );
    assert_eq!(
        store.commit_firsts(all[1] - 1, 1).await.expect("firsts"),
        all[2..3]
    );
}

#[tokio::test(start_paused = true)]
async fn the_dynamodb_adapter_over_the_model_keeps_the_group_commit_contract() {
    let model = ModelledDynamo::new(ModelParameters::published(), 5);
    let store = DynamoLedgerStore::new(model.clone(), "signals", "audit");
    group_commit_contract(&store).await;
    // One transaction per commit, all or nothing: 3 commits and one append written (the lost
    // and the claimed commits wrote nothing).
    assert_eq!(model.stats().transactions_committed, 4);
    // One SIGNAL_INSERTED event per entry, unpacked from the insert audit bundles in key order,
    // each under a stable key of its own.
    let audit = DynamoAuditSink::new(model.clone(), "audit");
    let events = audit.events_on("2026-11-29").await.expect("audit day");
    assert_eq!(events.len(), 104);
    let keys = window_keys(&audit).await;
    assert_eq!(keys.len(), 104);
}

#[tokio::test(start_paused = true)]
async fn a_page_reads_only_the_bundles_it_returns() {
    let model = ModelledDynamo::new(ModelParameters::published(), 9);
    let store = DynamoLedgerStore::new(model.clone(), "signals", "audit");
    for _ in 0..10 {
        let head = store.commit_head().await.expect("head");
        let entries = chained(&head, &format!("page-{}", head.next), 10, 200);
        let committed = store
            .commit(&head, &entries, &audits(&entries))
            .await
            .expect("commit");
        assert_eq!(committed, 10);
    }
    let rcu_of = |before: f64| model.stats().rcu - before;
    let before = model.stats().rcu;
    let whole = store.read_page(0, 1_000).await.expect("page");
    let whole_rcu = rcu_of(before);
    assert_eq!((whole.items.len(), whole.next), (100, None));
    // 15 entries from 5 on: the first two commits' bundles, not all ten.
    let before = model.stats().rcu;
    let page = store.read_page(5, 15).await.expect("page");
    let page_rcu = rcu_of(before);
    assert_eq!(
        page.items
            .iter()
            .map(|i| i.as_ref().expect("entry").entry.chain_index)
            .collect::<Vec<_>>(),
        (5..20).collect::<Vec<_>>()
    );
    assert_eq!(page.next, Some(20));
    assert!(
        page_rcu < whole_rcu / 3.0,
        "a page of 15 read {page_rcu} RCU, the whole ledger {whole_rcu}"
    );
    // A page ending exactly where a commit ends still says where to go on.
    let page = store.read_page(20, 10).await.expect("page");
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.next, Some(30));
    assert_eq!(all_entries(&store).await.len(), 100);
}

/// A window's events live in 9 partitions (the day and its 8 stripes): they are read at once,
/// one round trip, not one after another — every refill of the merge is concurrent.
#[tokio::test(start_paused = true)]
async fn a_window_reads_its_nine_partitions_at_once() {
    let model = ModelledDynamo::new(ModelParameters::published(), 11);
    let store = DynamoLedgerStore::new(model.clone(), "signals", "audit");
    for _ in 0..8 {
        let head = store.commit_head().await.expect("head");
        let entries = chained(&head, &format!("window-{}", head.next), 3, 200);
        store
            .commit(&head, &entries, &audits(&entries))
            .await
            .expect("commit");
    }
    let before = model.stats().queries_in_flight_peak;
    let audit = DynamoAuditSink::new(model.clone(), "audit");
    let keys = window_keys(&audit).await;
    assert_eq!(keys.len(), 24);
    assert!(
        before < 9,
        "the commits alone had {before} queries in flight"
    );
    assert_eq!(model.stats().queries_in_flight_peak, 9);
}

/// The keys of every event of 2026-11-29 as `visit_window` visits them: each event readable, the
/// keys strictly ascending.
async fn window_keys(audit: &DynamoAuditSink<ModelledDynamo>) -> Vec<AuditKey> {
    let mut keys = Vec::new();
    audit
        .visit_window(
            &at("2026-11-29T00:00:00Z"),
            &at("2026-11-30T00:00:00Z"),
            |keyed| {
                assert!(keyed.event.is_ok(), "{:?}", keyed.event);
                keys.push(keyed.key)
            },
        )
        .await
        .expect("window");
    assert!(
        keys.windows(2)
            .all(|w| (&w[0].pk, &w[0].sk) < (&w[1].pk, &w[1].sk))
    );
    keys
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
