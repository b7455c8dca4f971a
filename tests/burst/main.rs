//! Group commit under concurrency on the emulator (issue 13): 64 concurrent writers through the
//! real adapters, and a bar-close burst through the real function URL path of `cargo lambda
//! watch` — 200 signals posted at once, all answered 201 and stored, each once, in one
//! contiguous linked chain, each insert audited. `cargo lambda watch` runs one instance of the
//! function (see `infra/lib.sh`), so it queues the burst. The burst goes to a watch and a stack of
//! its own (`BURST_INGEST_URL`, `BURST_WATCH_STACK`, started by `infra/test.sh`): moto deep-copies
//! every table a transaction touches, so its 200 entries in the stack the emulator suite shares
//! slowed that suite's later appends past their attempt timeouts.
//!
//! Its own test binary, which cargo runs alone (test binaries run one after another): on the
//! serialized emulator, group commit's waiters polling their claims (every 15 ms then) and 200 appends
//! beside the whole emulator suite made the other tests' calls wait past their timeouts.
//!
//! At most [`IN_FLIGHT`] requests are open at once: `cargo lambda watch` 1.9.2 itself stops
//! answering when about 200 requests wait on it together (measured with curl: 200 simultaneous
//! POSTs → 12 answered, then none, the function idle; 100 simultaneous → all 201).

// This whole crate is a test: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::app::ingest::metric;
use shared::domain::audit::AuditEventType;
use shared::domain::chain::verify_chain;

// The emulator suite's helpers; this test uses a few of them.
#[allow(dead_code)]
#[path = "../emulator/support.rs"]
mod support;

use crate::support::{TestStack, audit_events, post, read_all, required_env, signal};

/// The two tests run one after the other: the 64 writers' claim polling stalls the serialized
/// emulator for the burst's requests (a tokio mutex: it does not poison when a test fails).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BURST: usize = 200;
/// Requests open at once (see the module's comment).
const IN_FLIGHT: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_200_concurrent_posts_is_answered_201_through_cargo_lambda_watch() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let base = required_env("BURST_INGEST_URL");
    let watch_stack = required_env("BURST_WATCH_STACK");
    let store = DynamoLedgerStore::new(
        support::client().await,
        format!("{watch_stack}-signals"),
        format!("{watch_stack}-audit"),
    );
    let audit = DynamoAuditSink::new(support::client().await, format!("{watch_stack}-audit"));
    let burst_id = uuid::Uuid::now_v7().simple().to_string();
    let ids: Vec<String> = (0..BURST)
        .map(|n| format!("burst-{burst_id}-{n:03}"))
        .collect();
    // One connection per producer: they really are 200 simultaneous requests.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(BURST));
    let open = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (http, barrier, open) = (http.clone(), Arc::clone(&barrier), Arc::clone(&open));
            let (url, body) = (format!("{base}/signals"), signal(id));
            tokio::spawn(async move {
                barrier.wait().await;
                let _open = open.acquire().await.unwrap();
                let response = http.post(url).json(&body).send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(BURST);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 201)
        .collect();
    assert!(
        refused.is_empty(),
        "{} of {BURST} not answered 201: {refused:?}",
        refused.len()
    );

    // Each answer names its own signal at a distinct chain index.
    let answered: BTreeSet<u64> = answers
        .iter()
        .map(|(_, body)| body["chain_index"].as_u64().unwrap())
        .collect();
    assert_eq!(answered.len(), BURST, "two answers name one chain index");

    // The whole chain (other tests share this stack) is intact and gapless, and holds every
    // signal of the burst exactly once, at the index its answer named.
    let entries = read_all(&store).await;
    let report = verify_chain(&entries, Some(entries.len() as u64));
    assert!(report.is_intact(), "{:?}", report.findings);
    for (status_and_body, id) in answers.iter().zip(&ids) {
        let (_, body) = status_and_body;
        assert_eq!(body["signal_id"], id.as_str());
        let holding: Vec<u64> = entries
            .iter()
            .filter(|e| e.entry.signal_id.as_str() == id)
            .map(|e| e.entry.chain_index)
            .collect();
        assert_eq!(holding, vec![body["chain_index"].as_u64().unwrap()], "{id}");
    }

    // One SIGNAL_INSERTED event per signal of the burst, naming its index.
    let events = audit_events(&audit).await;
    for (status_and_body, id) in answers.iter().zip(&ids) {
        let inserted: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == AuditEventType::SignalInserted)
            .filter(|e| e.signal_id.as_deref() == Some(id.as_str()))
            .collect();
        assert_eq!(inserted.len(), 1, "{id}: {inserted:?}");
        assert_eq!(
            inserted[0].chain_index,
            status_and_body.1["chain_index"].as_u64()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_signals_form_one_gapless_chain() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let stack = TestStack::new().await;
    let metrics = RecordingMetrics::default();
    let service = Arc::new(stack.group_commit_service(metrics.clone()));
    let busy_answers = Arc::new(AtomicU32::new(0));
    // All 64 are in flight at once; a producer that gets 503 retries after Retry-After, as the
    // contract tells it to, with the same signal_id. A 503 may hide an append that committed
    // (its answer came too late): the retry is then a replay (200) of that entry.
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let service = Arc::clone(&service);
            let busy_answers = Arc::clone(&busy_answers);
            tokio::spawn(async move {
                let body = signal(&format!("concurrent-{n:02}"));
                for _ in 0..20 {
                    let response = service.handle(post(&body)).await;
                    match response.status {
                        201 | 200 => return,
                        503 => {
                            busy_answers.fetch_add(1, Ordering::SeqCst);
                            let seconds: u64 =
                                response.header("retry-after").unwrap().parse().unwrap();
                            tokio::time::sleep(Duration::from_millis(seconds * 100)).await;
                        }
                        other => panic!(
                            "signal {n}: unexpected status {other}: {}",
                            String::from_utf8_lossy(&response.body)
                        ),
                    }
                }
                panic!("signal {n} was never stored");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let entries = stack.entries().await;
    let indexes: Vec<u64> = entries.iter().map(|e| e.entry.chain_index).collect();
    assert_eq!(indexes, (0..64).collect::<Vec<_>>());
    let report = verify_chain(&entries, Some(64));
    assert!(report.is_intact(), "{:?}", report.findings);
    let mut ids: Vec<String> = entries
        .iter()
        .map(|e| e.entry.signal_id.to_string())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        (0..64)
            .map(|n| format!("concurrent-{n:02}"))
            .collect::<Vec<_>>()
    );
    // One claim per signal, as many entry bundles as commit records, fewer commits than signals
    // (group commit), and at least one pending item per signal (a waiter passed by re-enters the
    // next generation with a new one; pendings are inert); nothing else. One insert audit event
    // per entry.
    let kinds = stack.item_kinds().await;
    let (commits, pendings) = (kinds["COMMIT"], kinds["PENDING"]);
    assert!((1..64).contains(&commits), "{kinds:?}");
    assert!(pendings >= 64, "{kinds:?}");
    let expected = [
        ("BUNDLE", commits),
        ("COMMIT", commits),
        ("PENDING", pendings),
        ("SIGNAL", 64),
    ];
    assert_eq!(
        kinds,
        expected
            .map(|(kind, n)| (kind.to_owned(), n))
            .into_iter()
            .collect(),
        "64 signals in {commits} commits"
    );
    let inserted = stack
        .audit_events()
        .await
        .iter()
        .filter(|e| e.event_type == AuditEventType::SignalInserted)
        .count();
    assert_eq!(inserted, 64);
    eprintln!(
        "64 concurrent appends: {} lost races retried inside the service, {} 503 answers",
        metrics.total(metric::APPEND_RETRIES),
        busy_answers.load(Ordering::SeqCst)
    );
}
