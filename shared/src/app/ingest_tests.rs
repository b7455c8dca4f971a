//! The ingest service over in-memory ports: the HTTP contract and the append protocol.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::adapters::memory::{
    FixedClock, InMemoryAuditSink, InMemoryLedger, RecordingMetrics, RivalAppends,
};
use crate::domain::chain::verify_chain;

type Service<S = InMemoryLedger> = Ingest<S, InMemoryAuditSink, FixedClock, RecordingMetrics>;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-28T09:30:00.120Z").unwrap()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_micros(50),
        max_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

fn service_over<S: LedgerStore>(
    store: S,
    ledger: &InMemoryLedger,
) -> (Service<S>, RecordingMetrics) {
    let metrics = RecordingMetrics::default();
    let settings = IngestSettings {
        retry: fast_retries(),
        ..IngestSettings::default()
    };
    (
        Ingest::new(
            store,
            ledger.audit_sink(),
            FixedClock::new(now()),
            metrics.clone(),
            settings,
        ),
        metrics,
    )
}

fn service() -> (Service, InMemoryLedger, RecordingMetrics) {
    let ledger = InMemoryLedger::new();
    let (service, metrics) = service_over(ledger.clone(), &ledger);
    (service, ledger, metrics)
}

fn signal(id: &str) -> Value {
    json!({
        "signal_id": id,
        "symbol": "AAPL",
        "action": "BUY",
        "entry_price": "150.25",
        "stop_loss": 142.5,
        "rationale": "Breakout above the 50-day moving average on rising volume.",
        "generated_at": "2026-11-28T09:30:00Z"
    })
}

fn request(method: &str, path: &str, body: &[u8]) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        content_type: Some("application/json".into()),
        body: body.to_vec(),
        actor: "arn:aws:iam::123456789012:user/alice".into(),
        request_id: "req-1".into(),
    }
}

fn post(body: &Value) -> HttpRequest {
    request("POST", "/signals", body.to_string().as_bytes())
}

#[tokio::test]
async fn a_valid_signal_is_stored_with_its_chain_fields() {
    let (service, ledger, metrics) = service();
    let response = service.handle(post(&signal("s-1"))).await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("location"), Some("/signals/s-1"));
    let body = response.body_json();
    assert_eq!(body["chain_index"], 0);
    assert_eq!(body["previous_hash"], Hash::ZERO.to_hex());
    assert_eq!(body["received_at"], "2026-11-28T09:30:00.120000Z");
    assert_eq!(body["delivery_latency_ms"], 120);
    assert_eq!(body["retention_expires_at"], "2033-11-26T09:30:00.120000Z");
    assert_eq!(body["submitter"], "arn:aws:iam::123456789012:user/alice");
    let entries = ledger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(body["entry_hash"], entries[0].entry_hash.to_hex());
    assert_eq!(entries[0].entry.compute_hash(), entries[0].entry_hash);
    let audit = ledger.audit_events();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event_type, AuditEventType::SignalInserted);
    assert_eq!(
        (audit[0].signal_id.as_deref(), audit[0].chain_index),
        (Some("s-1"), Some(0))
    );
    assert_eq!(metrics.total(metric::SIGNALS_INGESTED), 1.0);
    assert_eq!(metrics.total(metric::SIGNAL_DELIVERY_LATENCY), 120.0);
    // The next one links to it.
    let second = service.handle(post(&signal("s-2"))).await.body_json();
    assert_eq!(second["chain_index"], 1);
    assert_eq!(second["previous_hash"], body["entry_hash"]);
}

#[tokio::test]
async fn a_signal_without_id_gets_a_generated_one() {
    let (service, ledger, _) = service();
    let mut body = signal("x");
    body.as_object_mut().unwrap().remove("signal_id");
    let response = service.handle(post(&body)).await;
    assert_eq!(response.status, 201);
    let id = response.body_json()["signal_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(ledger.entries()[0].entry.signal_id.as_str(), id);
}

#[tokio::test]
async fn the_seed_rationale_cases_are_refused_and_audited() {
    let (service, ledger, metrics) = service();
    for (rationale, rule) in [("", "empty"), ("Short", "too_short")] {
        let mut body = signal("s-1");
        body["rationale"] = json!(rationale);
        let response = service.handle(post(&body)).await;
        assert_eq!(response.status, 400);
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
        let problem = response.body_json();
        assert_eq!(problem["type"], "urn:signal-ledger:problem:invalid-signal");
        assert_eq!(problem["instance"], "req-1");
        assert_eq!(problem["errors"][0]["field"], "rationale");
        assert_eq!(problem["errors"][0]["rule"], rule);
    }
    assert!(ledger.entries().is_empty());
    let audit = ledger.audit_events();
    assert_eq!(audit.len(), 2);
    assert!(
        audit
            .iter()
            .all(|e| e.event_type == AuditEventType::SignalRejected
                && e.actor == "arn:aws:iam::123456789012:user/alice"
                && e.request_id == "req-1"
                && e.excerpt.as_deref().is_some_and(|x| x.contains("AAPL")))
    );
    assert_eq!(audit[1].details["problems"][0]["rule"], "too_short");
    assert_eq!(metrics.total(metric::SIGNALS_REJECTED), 2.0);
}

#[tokio::test]
async fn transport_level_refusals() {
    let (service, ledger, _) = service();
    let response = service
        .handle(request("POST", "/signals", b"{\n \"symbol\": AAPL\n}"))
        .await;
    assert_eq!(response.status, 400);
    let detail = response.body_json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("line 2, column 12"), "{detail}");

    let big = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        service
            .handle(request("POST", "/signals", &big))
            .await
            .status,
        413
    );

    let mut form = post(&signal("s-1"));
    form.content_type = Some("application/x-www-form-urlencoded".into());
    assert_eq!(service.handle(form.clone()).await.status, 415);
    form.content_type = None;
    assert_eq!(service.handle(form).await.status, 415);
    let mut charset = post(&signal("s-1"));
    charset.content_type = Some("Application/JSON; charset=utf-8".into());
    assert_eq!(service.handle(charset).await.status, 201);

    let audit = ledger.audit_events();
    let rejected: Vec<_> = audit
        .iter()
        .filter(|e| e.event_type == AuditEventType::SignalRejected)
        .collect();
    assert_eq!(rejected.len(), 4);
    // The oversized body is audited with a bounded excerpt, not the body.
    assert!(
        rejected[1].excerpt.as_ref().unwrap().chars().count()
            <= crate::domain::audit::MAX_EXCERPT_CHARS + 1
    );
}

#[tokio::test]
async fn get_returns_the_stored_entry() {
    let (service, ledger, _) = service();
    let created = service.handle(post(&signal("s:1"))).await.body_json();
    let response = service.handle(request("GET", "/signals/s%3A1", b"")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body_json(), created);
    assert_eq!(
        service
            .handle(request("GET", "/signals/nope", b""))
            .await
            .status,
        404
    );
    let invalid = service
        .handle(request("GET", "/signals/has%20space", b""))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body_json()["errors"][0]["field"], "signal_id");
    // Reads are not audited; a refused read is.
    let kinds: Vec<_> = ledger.audit_events().iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        vec![
            AuditEventType::SignalInserted,
            AuditEventType::UnsupportedRequest
        ]
    );
}

#[tokio::test]
async fn writes_are_refused_with_405_and_audited_with_the_actor() {
    let (service, ledger, metrics) = service();
    service.handle(post(&signal("s-1"))).await;
    let cases = [
        (
            "PUT",
            "/signals/s-1",
            AuditEventType::ModificationAttempt,
            "GET",
        ),
        (
            "PATCH",
            "/signals/s-1",
            AuditEventType::ModificationAttempt,
            "GET",
        ),
        (
            "DELETE",
            "/signals/s-1",
            AuditEventType::DeleteAttempt,
            "GET",
        ),
        ("DELETE", "/signals", AuditEventType::DeleteAttempt, "POST"),
    ];
    for (method, path, kind, allow) in cases {
        let response = service
            .handle(request(method, path, br#"{"entry_price": 200}"#))
            .await;
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.header("allow"), Some(allow));
        let event = ledger.audit_events().pop().unwrap();
        assert_eq!(event.event_type, kind);
        assert_eq!(event.actor, "arn:aws:iam::123456789012:user/alice");
        assert_eq!(event.details["method"], method);
    }
    assert_eq!(metrics.total(metric::MODIFICATION_ATTEMPTS), 4.0);
    assert_eq!(ledger.entries().len(), 1);
    assert_eq!(
        ledger.entries()[0].entry.content.entry_price.as_str(),
        "150.25"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let (service, ledger, _) = service();
    assert_eq!(service.handle(request("GET", "/", b"")).await.status, 404);
    assert_eq!(
        service
            .handle(request("POST", "/signals/s-1/extra", b""))
            .await
            .status,
        404
    );
    assert_eq!(
        service
            .handle(request("GET", "/signals/%ff", b""))
            .await
            .status,
        404
    );
    let listing = service.handle(request("GET", "/signals", b"")).await;
    assert_eq!(
        (listing.status, listing.header("allow")),
        (405, Some("POST"))
    );
    assert_eq!(
        service
            .handle(request("POST", "/signals/s-1", b"{}"))
            .await
            .status,
        405
    );
    assert!(
        ledger
            .audit_events()
            .iter()
            .all(|e| e.event_type == AuditEventType::UnsupportedRequest)
    );
    assert_eq!(ledger.audit_events().len(), 5);
}

#[tokio::test]
async fn replays_are_idempotent_and_conflicts_refused() {
    let (service, ledger, _) = service();
    let first = service.handle(post(&signal("s-1"))).await;
    service.handle(post(&signal("s-2"))).await;
    // The same content, even spelled differently (number vs string, trailing zeros), is the same signal.
    let mut same = signal("s-1");
    same["entry_price"] = json!(150.250);
    same["stop_loss"] = json!("142.50");
    let replay = service.handle(post(&same)).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body_json(), first.body_json());
    let mut different = signal("s-1");
    different["entry_price"] = json!("151");
    let conflict = service.handle(post(&different)).await;
    assert_eq!(conflict.status, 409);
    assert!(
        conflict.body_json()["detail"]
            .as_str()
            .unwrap()
            .contains("chain index 0")
    );
    assert_eq!(ledger.entries().len(), 2);
    let event = ledger.audit_events().pop().unwrap();
    assert_eq!(
        (event.event_type, event.chain_index),
        (AuditEventType::ConflictingReplay, Some(0))
    );
}

#[tokio::test]
async fn a_lost_race_is_retried_on_the_new_head() {
    let ledger = InMemoryLedger::new();
    let store = RivalAppends::new(ledger.clone(), 3);
    let (service, metrics) = service_over(store, &ledger);
    let response = service.handle(post(&signal("s-1"))).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.body_json()["chain_index"], 3);
    assert_eq!(metrics.total(metric::APPEND_RETRIES), 3.0);
    let entries = ledger.entries();
    assert_eq!(entries.len(), 4);
    assert!(verify_chain(&entries, Some(4)).is_intact());
}

#[tokio::test]
async fn endless_contention_ends_in_503_with_retry_after_and_nothing_half_written() {
    let ledger = InMemoryLedger::new();
    let store = RivalAppends::new(ledger.clone(), u32::MAX);
    let (service, _) = service_over(store, &ledger);
    let response = service.handle(post(&signal("s-1"))).await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert!(
        response.body_json()["detail"]
            .as_str()
            .unwrap()
            .contains("NOT stored")
    );
    assert!(
        ledger
            .entries()
            .iter()
            .all(|e| e.entry.signal_id.as_str() != "s-1")
    );
    assert!(verify_chain(&ledger.entries(), None).is_intact());
}

#[tokio::test]
async fn a_failed_audit_write_fails_the_whole_append() {
    let (service, ledger, metrics) = service();
    ledger.fail_audit_writes(true);
    let response = service.handle(post(&signal("s-1"))).await;
    assert_eq!(response.status, 500);
    assert!(
        !String::from_utf8_lossy(&response.body).contains("injected"),
        "5xx bodies say nothing internal"
    );
    assert!(ledger.entries().is_empty());
    assert_eq!(metrics.total(metric::AUDIT_WRITE_ERRORS), 1.0);
    // A refusal whose audit write fails is still refused, and counted.
    let mut bad = signal("s-1");
    bad["rationale"] = json!("");
    assert_eq!(service.handle(post(&bad)).await.status, 400);
    assert_eq!(metrics.total(metric::AUDIT_WRITE_ERRORS), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_one_chain() {
    let (service, ledger, _) = service();
    let service = Arc::new(service);
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let service = Arc::clone(&service);
            tokio::spawn(async move {
                service
                    .handle(post(&signal(&format!("c-{n}"))))
                    .await
                    .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    let entries = ledger.entries();
    assert_eq!(entries.len(), 64);
    assert!(verify_chain(&entries, Some(64)).is_intact());
}
