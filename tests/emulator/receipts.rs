//! Delivery receipts against the emulator: the route through `cargo lambda watch`, and the
//! DynamoDB adapter's conditional, audited write (idempotency, conflicts, atomicity).

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::adapters::dynamodb::receipts::{RECEIPT_PREFIX, receipt_item, subscriber_key};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings, metric};
use shared::domain::audit::AuditEventType;
use shared::domain::receipt::Subscriber;
use shared::domain::signal::SignalId;
use shared::ports::LedgerStore;

use crate::support::{TestStack, audit_events, now_rfc3339, required_env, signal};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

fn request(path: &str, body: &Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        actor: "arn:aws:iam::123456789012:role/gateway".into(),
        request_id: uuid::Uuid::now_v7().to_string(),
    }
}

/// Through the function URL path of `cargo lambda watch`, over HTTP, into the watch stack.
#[tokio::test]
async fn receipts_through_cargo_lambda_watch() {
    let base = required_env("INGEST_URL");
    let stack = required_env("WATCH_STACK");
    let client = crate::support::client().await;
    let store = DynamoLedgerStore::new(
        client.clone(),
        format!("{stack}-signals"),
        format!("{stack}-audit"),
    );
    let audit = DynamoAuditSink::new(client, format!("{stack}-audit"));
    let http = reqwest::Client::new();
    let id = unique("receipt");
    let created = http
        .post(format!("{base}/signals"))
        .json(&signal(&id))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let receipts = format!("{base}/signals/{id}/receipts");
    let body = json!({"subscriber": "desk-7", "delivered_at": now_rfc3339()});

    let recorded = http.post(&receipts).json(&body).send().await.unwrap();
    assert_eq!(recorded.status(), 201);
    let recorded: Value = recorded.json().await.unwrap();
    assert_eq!(recorded["signal_id"], id.as_str());
    assert_eq!(recorded["chain_index"], created["chain_index"]);
    assert_eq!(recorded["generated_at"], created["generated_at"]);
    assert!(recorded["client_latency_ms"].as_i64().unwrap() >= 0);

    // Replay: 200 with the stored receipt; a different time for the same subscriber: 409.
    let replay = http.post(&receipts).json(&body).send().await.unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<Value>().await.unwrap(), recorded);
    let mut other = body.clone();
    other["delivered_at"] = json!(created["received_at"]);
    let conflict = http.post(&receipts).json(&other).send().await.unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    assert_eq!(
        conflict.headers()["content-type"],
        "application/problem+json"
    );

    // Unknown signal: 404; delivered before generated: 400 naming the rule.
    let unknown = http
        .post(format!("{base}/signals/{}/receipts", unique("nope")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let early = json!({"subscriber": "desk-8", "delivered_at": "2000-01-01T00:00:00Z"});
    let early = http.post(&receipts).json(&early).send().await.unwrap();
    assert_eq!(early.status(), 400);
    let early: Value = early.json().await.unwrap();
    assert_eq!(early["errors"][0]["rule"], "before_generated");

    // Stored once, hash intact, audited with its hash.
    let signal_id = SignalId::parse(&id).unwrap();
    let stored: Vec<_> = store
        .receipts_of(&signal_id)
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].receipt.compute_hash(), stored[0].receipt_hash);
    assert_eq!(recorded["receipt_hash"], stored[0].receipt_hash.to_hex());
    let events: Vec<_> = audit_events(&audit)
        .await
        .into_iter()
        .filter(|e| e.signal_id.as_deref() == Some(id.as_str()))
        .map(|e| (e.event_type, e.details))
        .collect();
    let recorded_events: Vec<_> = events
        .iter()
        .filter(|(kind, _)| *kind == AuditEventType::ReceiptRecorded)
        .collect();
    assert_eq!(recorded_events.len(), 1);
    assert_eq!(
        recorded_events[0].1["receipt_hash"],
        stored[0].receipt_hash.to_hex()
    );
    let rejected = events
        .iter()
        .filter(|(kind, _)| *kind == AuditEventType::ReceiptRejected)
        .count();
    assert_eq!(rejected, 2, "the conflict and the early receipt");
}

#[tokio::test]
async fn receipts_over_dynamodb_are_conditional_and_audited_atomically() {
    let stack = TestStack::new().await;
    let metrics = RecordingMetrics::default();
    let service = stack.service(metrics.clone());
    assert_eq!(
        service
            .handle(request("/signals", &signal("r-1")))
            .await
            .status,
        201
    );
    let body = json!({"subscriber": "desk-7", "delivered_at": now_rfc3339()});
    let path = "/signals/r-1/receipts";
    assert_eq!(service.handle(request(path, &body)).await.status, 201);
    assert_eq!(service.handle(request(path, &body)).await.status, 200);
    let second = json!({"subscriber": "desk-8", "delivered_at": now_rfc3339()});
    assert_eq!(service.handle(request(path, &second)).await.status, 201);
    assert_eq!(metrics.total(metric::RECEIPTS_RECORDED), 2.0);
    // A commit of one (commit record, bundle, claim) + two receipts; one insert and two
    // receipt audit events.
    assert_eq!(stack.item_count().await, 5);
    let kinds: Vec<_> = stack
        .audit_events()
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == AuditEventType::ReceiptRecorded)
            .count(),
        2
    );

    // The conditional put refuses a second write of the same key, whatever it says.
    let store = stack.store();
    let signal_id = SignalId::parse("r-1").unwrap();
    let subscriber = Subscriber::parse("desk-7").unwrap();
    let existing = store
        .receipt(&signal_id, &subscriber)
        .await
        .unwrap()
        .unwrap();
    let mut forged = existing.clone();
    forged.receipt.client_latency_ms += 1;
    let put = stack
        .client
        .put_item()
        .table_name(&stack.signals_table)
        .set_item(Some(receipt_item(&forged)))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(put.is_err(), "a receipt is written once");
    assert_eq!(
        store.receipt(&signal_id, &subscriber).await.unwrap(),
        Some(existing)
    );
    let key = stack
        .client
        .get_item()
        .table_name(&stack.signals_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{RECEIPT_PREFIX}r-1")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::N(subscriber_key(&subscriber).to_string()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(key.item().is_some(), "the documented key finds the receipt");
}

#[tokio::test]
async fn a_receipt_whose_audit_record_cannot_be_written_is_not_stored() {
    let stack = TestStack::new().await;
    let service = stack.service(RecordingMetrics::default());
    assert_eq!(
        service
            .handle(request("/signals", &signal("r-2")))
            .await
            .status,
        201
    );
    let items_before = stack.item_count().await;
    // The audit table does not exist: the transaction cannot write the audit record.
    let broken = Ingest::new(
        DynamoLedgerStore::new(
            stack.client.clone(),
            &stack.signals_table,
            "no-such-audit-table",
        ),
        DynamoAuditSink::new(stack.client.clone(), "no-such-audit-table"),
        SystemClock,
        RecordingMetrics::default(),
        IngestSettings::default(),
    );
    let body = json!({"subscriber": "desk-7", "delivered_at": now_rfc3339()});
    let response = broken.handle(request("/signals/r-2/receipts", &body)).await;
    assert_eq!(response.status, 500);
    let text = String::from_utf8_lossy(&response.body).to_string();
    assert!(!text.contains("no-such-audit-table"), "{text}");
    assert_eq!(
        stack.item_count().await,
        items_before,
        "no receipt without its audit record"
    );
    // The same request through the working service records it.
    assert_eq!(
        service
            .handle(request("/signals/r-2/receipts", &body))
            .await
            .status,
        201
    );
}
