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

fn service_over<S: GroupCommitStore>(
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
        )
        .with_group_commit(),
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
    assert!(id.starts_with("sha256:") && id.len() == 71, "derived: {id}");
    assert_eq!(ledger.entries()[0].entry.signal_id.as_str(), id);
}

#[tokio::test]
async fn a_retry_without_signal_id_is_a_replay_not_a_second_signal() {
    let (service, ledger, _) = service();
    let mut body = signal("x");
    body.as_object_mut().unwrap().remove("signal_id");
    let first = service.handle(post(&body)).await;
    assert_eq!(first.status, 201);
    // The producer did not see the answer and sends the same request again.
    let retry = service.handle(post(&body)).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body_json(), first.body_json());
    assert_eq!(ledger.entries().len(), 1);
    // Another producer's identical content is its own signal; so is a different content.
    let mut other = post(&body);
    other.actor = "arn:aws:iam::123456789012:user/bob".into();
    assert_eq!(service.handle(other).await.status, 201);
    body["rationale"] = json!("Breakout above the 50-day moving average on heavy volume.");
    assert_eq!(service.handle(post(&body)).await.status, 201);
    assert_eq!(ledger.entries().len(), 3);
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
    // A read that discloses the entry is audited (who read what); a miss discloses nothing; a
    // refused read is audited as a refusal.
    let events = ledger.audit_events();
    let kinds: Vec<_> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        vec![
            AuditEventType::SignalInserted,
            AuditEventType::RecordsRead,
            AuditEventType::UnsupportedRequest
        ]
    );
    let read = &events[1];
    assert_eq!(read.actor, "arn:aws:iam::123456789012:user/alice");
    assert_eq!(read.signal_id.as_deref(), Some("s:1"));
    assert_eq!(read.chain_index, Some(0));
    assert_eq!(read.details["route"], "GET /signals/{signal_id}");
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
            "GET, HEAD",
        ),
        (
            "PATCH",
            "/signals/s-1",
            AuditEventType::ModificationAttempt,
            "GET, HEAD",
        ),
        (
            "DELETE",
            "/signals/s-1",
            AuditEventType::DeleteAttempt,
            "GET, HEAD",
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
    let detail = response.body_json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("unknown") && detail.contains("retry is safe"),
        "{detail}"
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
    // The single append's failed transaction is final: "NOT stored", one failed audit write.
    // Under group commit the signal stays pending (another combiner may still sequence it), so
    // the answer is "outcome unknown", and its APPEND_FAILED record fails to be written too.
    for (protocol, detail, audit_errors) in [
        (AppendProtocol::Single, "was NOT stored", 1.0),
        (AppendProtocol::GroupCommit, "is unknown", 2.0),
    ] {
        let ledger = InMemoryLedger::new();
        let metrics = RecordingMetrics::default();
        let settings = IngestSettings {
            retry: fast_retries(),
            protocol,
            ..IngestSettings::default()
        };
        let service = Ingest::new(
            ledger.clone(),
            ledger.audit_sink(),
            FixedClock::new(now()),
            metrics.clone(),
            settings,
        )
        .with_group_commit();
        ledger.fail_audit_writes(true);
        let response = service.handle(post(&signal("s-1"))).await;
        assert_eq!(response.status, 500, "{protocol:?}");
        let body = String::from_utf8_lossy(&response.body).into_owned();
        assert!(
            !body.contains("injected"),
            "5xx bodies say nothing internal"
        );
        assert!(body.contains(detail), "{protocol:?}: {body}");
        assert!(ledger.entries().is_empty());
        assert_eq!(metrics.total(metric::AUDIT_WRITE_ERRORS), audit_errors);
        // A refusal whose audit write fails is still refused, and counted.
        let mut bad = signal("s-1");
        bad["rationale"] = json!("");
        assert_eq!(service.handle(post(&bad)).await.status, 400);
        assert_eq!(
            metrics.total(metric::AUDIT_WRITE_ERRORS),
            audit_errors + 1.0
        );
    }
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

// ---- issue 12: hostile input and unknown outcomes ---------------------------------------------

/// Every refusal: exactly one audit event, of bounded size, and an answer of bounded size.
async fn refused_once<S: LedgerStore>(
    service: &Service<S>,
    ledger: &InMemoryLedger,
    request: HttpRequest,
    headers: &RequestHeaders,
) -> (HttpResponse, AuditEvent) {
    let before = ledger.audit_events().len();
    let request_bytes = request.body.len();
    let response = service.handle_with_headers(request, headers).await;
    assert!(
        (400..500).contains(&response.status),
        "{}: {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    assert!(
        response.body.len() <= MAX_PROBLEM_BYTES,
        "a {}-byte answer to a {request_bytes}-byte request",
        response.body.len()
    );
    let events = ledger.audit_events();
    assert_eq!(
        events.len(),
        before + 1,
        "exactly one audit event per refusal"
    );
    let event = events.last().unwrap().clone();
    assert!(
        event.encoded_len() <= crate::domain::audit::MAX_AUDIT_EVENT_BYTES,
        "{} bytes",
        event.encoded_len()
    );
    assert_eq!(event.details["status"], response.status);
    (response, event)
}

fn none() -> RequestHeaders {
    RequestHeaders::default()
}

#[tokio::test]
async fn a_timestamp_out_of_range_in_utc_is_a_400_not_a_panic() {
    let (service, ledger, _) = service();
    let mut body = signal("s-1");
    body["generated_at"] = json!("9999-12-31T23:59:59-00:01");
    let (response, event) = refused_once(&service, &ledger, post(&body), &none()).await;
    assert_eq!(response.status, 400);
    let problem = response.body_json();
    assert_eq!(problem["errors"][0]["field"], "generated_at");
    assert_eq!(problem["errors"][0]["rule"], "range");
    assert_eq!(event.event_type, AuditEventType::SignalRejected);
}

#[tokio::test]
async fn thousands_of_unknown_keys_get_a_bounded_audited_refusal() {
    let (service, ledger, _) = service();
    // Issue 12: ~1,800 keys `"":0` (9 KB), and a 64 KiB body of distinct unknown keys.
    let empty_keys = format!("{{{}}}", vec![r#""":0"#; 1_800].join(","));
    let (response, event) = refused_once(
        &service,
        &ledger,
        request("POST", "/signals", empty_keys.as_bytes()),
        &none(),
    )
    .await;
    assert_eq!(response.status, 400);
    let problem = response.body_json();
    let errors = problem["errors"].as_array().unwrap();
    let unknown = errors
        .iter()
        .filter(|e| e["rule"] == "unknown_field")
        .count();
    assert_eq!(unknown, 1, "each unknown key is reported once");
    assert_eq!(event.details["problems_omitted"], problem["errors_omitted"]);

    let mut distinct = String::from("{");
    let mut n = 0;
    while distinct.len() < MAX_BODY_BYTES - 32 {
        distinct.push_str(&format!("\"k{n}\":0,"));
        n += 1;
    }
    distinct.push_str("\"end\":0}");
    assert!(distinct.len() <= MAX_BODY_BYTES);
    let (response, event) = refused_once(
        &service,
        &ledger,
        request("POST", "/signals", distinct.as_bytes()),
        &none(),
    )
    .await;
    let problem = response.body_json();
    let shown = problem["errors"].as_array().unwrap().len();
    assert_eq!(shown, crate::domain::signal::MAX_REPORTED_PROBLEMS);
    let omitted = problem["errors_omitted"].as_u64().unwrap() as usize;
    // n + 1 unknown keys, and the five required fields are missing.
    assert_eq!(shown + omitted, n + 1 + 5);
    assert!(problem["detail"].as_str().unwrap().contains("more"));
    assert!(event.reason.unwrap().len() <= MAX_REASON_BYTES);
    assert!(response.body.len() < 4 * distinct.len());
}

#[tokio::test]
async fn backdated_signals_are_refused_as_too_old() {
    let (service, ledger, _) = service();
    for old in ["1970-01-01T00:00:00Z", "2026-11-27T09:30:00.119999Z"] {
        let mut body = signal("s-old");
        body["generated_at"] = json!(old);
        let (response, _) = refused_once(&service, &ledger, post(&body), &none()).await;
        assert_eq!(
            response.body_json()["errors"][0]["rule"],
            "too_old",
            "{old}"
        );
    }
    // Exactly 24 hours old is still accepted; the bound is configurable.
    let mut body = signal("s-day");
    body["generated_at"] = json!("2026-11-27T09:30:00.120Z");
    let response = service.handle(post(&body)).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.body_json()["delivery_latency_ms"], 86_400_000);
    assert!(ledger.entries().len() == 1);
}

#[tokio::test]
async fn a_content_encoding_other_than_identity_is_415() {
    let (service, ledger, _) = service();
    let body = signal("s-gz").to_string();
    for encoding in ["gzip", "br", "identity, gzip", "x-anything"] {
        let headers = RequestHeaders::new([("Content-Encoding".into(), encoding.into())]);
        let (response, event) = refused_once(
            &service,
            &ledger,
            request("POST", "/signals", body.as_bytes()),
            &headers,
        )
        .await;
        assert_eq!(response.status, 415, "{encoding}");
        assert_eq!(
            response.body_json()["type"],
            "urn:signal-ledger:problem:unsupported-content-encoding"
        );
        assert_eq!(event.details["content_encoding"], encoding);
    }
    assert!(ledger.entries().is_empty());
    let identity = RequestHeaders::new([("content-encoding".into(), "Identity".into())]);
    let response = service
        .handle_with_headers(request("POST", "/signals", body.as_bytes()), &identity)
        .await;
    assert_eq!(response.status, 201);
}

#[tokio::test]
async fn percent_decoding_is_strict() {
    let (service, ledger, _) = service();
    service.handle(post(&signal("s1"))).await;
    for path in [
        "/signals/s%+1",
        "/signals/%+1",
        "/signals/s%-1",
        "/signals/s% 1",
        "/signals/s%1",
        "/signals/s%",
        "/signals/%zz",
        "/signals/%ff",
    ] {
        let (response, _) =
            refused_once(&service, &ledger, request("GET", path, b""), &none()).await;
        assert_eq!(response.status, 404, "{path}");
    }
    let found = service.handle(request("GET", "/signals/s%31", b"")).await;
    assert_eq!(found.status, 200);
}

#[tokio::test]
async fn head_answers_as_get_without_a_body() {
    let (service, ledger, _) = service();
    let created = service.handle(post(&signal("s-1"))).await;
    let get = service.handle(request("GET", "/signals/s-1", b"")).await;
    let head = service.handle(request("HEAD", "/signals/s-1", b"")).await;
    assert_eq!((head.status, get.status), (200, 200));
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert_eq!(get.body_json(), created.body_json());
    let missing = service.handle(request("HEAD", "/signals/nope", b"")).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());
    // Both disclosed the entry's existence, so both are audited reads; the miss is not.
    let kinds: Vec<_> = ledger.audit_events().iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        vec![
            AuditEventType::SignalInserted,
            AuditEventType::RecordsRead,
            AuditEventType::RecordsRead
        ]
    );
    let listing = service.handle(request("HEAD", "/signals", b"")).await;
    assert_eq!(
        (listing.status, listing.header("allow")),
        (405, Some("POST"))
    );
    assert!(listing.body.is_empty());
}

#[tokio::test]
async fn rationale_and_symbol_tricks_are_refused() {
    let (service, ledger, _) = service();
    let cases = [
        (
            "rationale",
            json!(format!("a{}", "\u{200B}".repeat(19))),
            "too_short",
        ),
        ("symbol", json!("ß"), "charset"),
        ("symbol", json!("aapl"), "charset"),
    ];
    for (field, value, rule) in cases {
        let mut body = signal("s-trick");
        body[field] = value.clone();
        let (response, _) = refused_once(&service, &ledger, post(&body), &none()).await;
        assert_eq!(response.body_json()["errors"][0]["rule"], rule, "{value}");
    }
    assert!(ledger.entries().is_empty());
}

#[tokio::test]
async fn a_huge_body_is_refused_without_decoding_all_of_it() {
    let (service, ledger, _) = service();
    // 6 MB, Lambda's payload limit; invalid UTF-8 throughout.
    let huge = vec![0xff; 6 * 1024 * 1024];
    let (response, event) = refused_once(
        &service,
        &ledger,
        request("POST", "/signals", &huge),
        &none(),
    )
    .await;
    assert_eq!(response.status, 413);
    assert!(event.excerpt.unwrap().chars().count() <= crate::domain::audit::MAX_EXCERPT_CHARS + 1);
}

#[tokio::test]
async fn hostile_methods_paths_and_bodies_are_bounded_and_audited_once() {
    let (service, ledger, _) = service();
    let long = "x".repeat(100_000);
    let cases: Vec<HttpRequest> = vec![
        request(&long, "/signals", b"{}"),
        request("GET", &format!("/{long}"), b""),
        request("PUT", &format!("/signals/{long}"), long.as_bytes()),
        request("DELETE", "/signals", b""),
        request("BREW", "/signals/s-1", b""),
        request("POST", "/signals", b"[1,2,3]"),
        request("POST", "/signals", b"\"\xff\""),
        request("POST", "/signals", &[b'['; 10_000]),
        request("POST", "/signals", format!(r#"{{"{long}": 1}}"#).as_bytes()),
        request(
            "POST",
            "/signals",
            format!(r#"{{"rationale": "{long}"}}"#).as_bytes(),
        ),
    ];
    for case in cases {
        let (response, event) = refused_once(&service, &ledger, case, &none()).await;
        assert!(response.status >= 400);
        assert!(event.details.to_string().len() < 8 * 1024);
    }
    assert!(ledger.entries().is_empty());
}

/// The module-level lint that keeps `unwrap`, `expect` and indexing out of the request path
/// (a removal would let a panic back in unnoticed).
#[test]
fn request_path_modules_deny_panicking_shortcuts() {
    let lint = "deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)";
    for (module, source) in [
        ("app/ingest.rs", include_str!("ingest.rs")),
        (
            "app/ingest_group_commit.rs",
            include_str!("ingest_group_commit.rs"),
        ),
        ("app/http.rs", include_str!("http.rs")),
        ("domain/signal.rs", include_str!("../domain/signal.rs")),
        (
            "domain/timestamp.rs",
            include_str!("../domain/timestamp.rs"),
        ),
        ("domain/decimal.rs", include_str!("../domain/decimal.rs")),
        ("domain/audit.rs", include_str!("../domain/audit.rs")),
        ("domain/receipt.rs", include_str!("../domain/receipt.rs")),
        (
            "functions/ingest/src/main.rs",
            include_str!("../../../functions/ingest/src/main.rs"),
        ),
    ] {
        assert!(source.contains(lint), "{module} lost its lint");
    }
}

// ---- fault injection over the in-memory ports --------------------------------------------------

#[derive(Debug, thiserror::Error)]
#[error("injected: {0}")]
struct Injected(&'static str);

/// The first `lost` appends commit, but their answer never arrives (a timeout after the
/// transaction committed): the caller sees a busy store.
#[derive(Debug)]
struct LostAnswers<S> {
    inner: S,
    lost: std::sync::atomic::AtomicU32,
}

/// Every append (and every pending put and commit) is throttled; reads go through.
#[derive(Debug)]
struct Throttled<S>(S);

/// Every append (and every pending put and commit) hangs and never answers.
#[derive(Debug)]
struct Hanging<S>(S);

macro_rules! delegate_reads {
    () => {
        async fn head(&self) -> Result<Option<crate::ports::ChainHead>, StoreError> {
            self.inner().head().await
        }
        async fn find_by_signal_id(
            &self,
            signal_id: &SignalId,
        ) -> Result<Option<StoredEntry>, StoreError> {
            self.inner().find_by_signal_id(signal_id).await
        }
        async fn read_page(&self, from: u64, limit: u32) -> Result<crate::ports::Page, StoreError> {
            self.inner().read_page(from, limit).await
        }
        async fn entry_at(&self, chain_index: u64) -> Result<Option<StoredEntry>, StoreError> {
            self.inner().entry_at(chain_index).await
        }
        async fn claims(
            &self,
            signal_ids: &[SignalId],
        ) -> Result<Vec<(SignalId, crate::ports::Claim)>, StoreError> {
            self.inner().claims(signal_ids).await
        }
        async fn receipt(
            &self,
            signal_id: &SignalId,
            subscriber: &crate::domain::receipt::Subscriber,
        ) -> Result<Option<crate::domain::receipt::StoredReceipt>, StoreError> {
            self.inner().receipt(signal_id, subscriber).await
        }
        async fn receipts_of(
            &self,
            signal_id: &SignalId,
        ) -> Result<Vec<Result<crate::domain::receipt::StoredReceipt, StoreError>>, StoreError> {
            self.inner().receipts_of(signal_id).await
        }
    };
}

/// The group-commit reads go through every wrapper.
macro_rules! delegate_group_reads {
    () => {
        async fn commit_head(&self) -> Result<crate::ports::CommitHead, StoreError> {
            self.inner().commit_head().await
        }
        async fn first_pending_ids(
            &self,
            generation: u64,
            limit: u32,
        ) -> Result<Vec<SignalId>, StoreError> {
            self.inner().first_pending_ids(generation, limit).await
        }
        async fn pendings(&self, generation: u64) -> Result<Vec<Pending>, StoreError> {
            self.inner().pendings(generation).await
        }
        async fn commit_firsts(
            &self,
            at_or_before: u64,
            limit: u32,
        ) -> Result<Vec<u64>, StoreError> {
            self.inner().commit_firsts(at_or_before, limit).await
        }
        async fn placed(
            &self,
            signal_id: &SignalId,
        ) -> Result<Option<crate::ports::Placed>, StoreError> {
            self.inner().placed(signal_id).await
        }
    };
}

impl<S: GroupCommitStore> GroupCommitStore for LostAnswers<S> {
    delegate_group_reads!();
    async fn put_pending(&self, generation: u64, pending: &Pending) -> Result<(), StoreError> {
        self.inner.put_pending(generation, pending).await
    }
    async fn commit(
        &self,
        head: &crate::ports::CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> Result<usize, crate::ports::CommitError> {
        let count = self.inner.commit(head, entries, audits).await?;
        let lose = self
            .lost
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        if lose {
            return Err(StoreError::Busy(Box::new(Injected("answer lost after commit"))).into());
        }
        Ok(count)
    }
}

impl<S: GroupCommitStore> GroupCommitStore for Throttled<S> {
    delegate_group_reads!();
    async fn put_pending(&self, _: u64, _: &Pending) -> Result<(), StoreError> {
        Err(StoreError::Busy(Box::new(Injected("ThrottlingException"))))
    }
    async fn commit(
        &self,
        _: &crate::ports::CommitHead,
        _: &[StoredEntry],
        _: &[AuditEvent],
    ) -> Result<usize, crate::ports::CommitError> {
        Err(StoreError::Busy(Box::new(Injected("ThrottlingException"))).into())
    }
}

impl<S: GroupCommitStore> GroupCommitStore for Hanging<S> {
    delegate_group_reads!();
    async fn put_pending(&self, _: u64, _: &Pending) -> Result<(), StoreError> {
        std::future::pending().await
    }
    async fn commit(
        &self,
        _: &crate::ports::CommitHead,
        _: &[StoredEntry],
        _: &[AuditEvent],
    ) -> Result<usize, crate::ports::CommitError> {
        std::future::pending().await
    }
}

impl<S> LostAnswers<S> {
    fn inner(&self) -> &S {
        &self.inner
    }
}
impl<S> Throttled<S> {
    fn inner(&self) -> &S {
        &self.0
    }
}
impl<S> Hanging<S> {
    fn inner(&self) -> &S {
        &self.0
    }
}

impl<S: LedgerStore> LedgerStore for LostAnswers<S> {
    delegate_reads!();
    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        self.inner.append(entry, audit).await?;
        let lose = self
            .lost
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        if lose {
            return Err(StoreError::Busy(Box::new(Injected("answer lost after commit"))).into());
        }
        Ok(())
    }
    async fn record_receipt(
        &self,
        receipt: &crate::domain::receipt::StoredReceipt,
        audit: &AuditEvent,
    ) -> Result<(), crate::ports::ReceiptError> {
        self.inner.record_receipt(receipt, audit).await?;
        let lose = self
            .lost
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        if lose {
            return Err(StoreError::Busy(Box::new(Injected("answer lost after commit"))).into());
        }
        Ok(())
    }
}

impl<S: LedgerStore> LedgerStore for Throttled<S> {
    delegate_reads!();
    async fn append(&self, _: &StoredEntry, _: &AuditEvent) -> Result<(), AppendError> {
        Err(StoreError::Busy(Box::new(Injected("ThrottlingException"))).into())
    }
    async fn record_receipt(
        &self,
        _: &crate::domain::receipt::StoredReceipt,
        _: &AuditEvent,
    ) -> Result<(), crate::ports::ReceiptError> {
        Err(StoreError::Busy(Box::new(Injected("ThrottlingException"))).into())
    }
}

impl<S: LedgerStore> LedgerStore for Hanging<S> {
    delegate_reads!();
    async fn append(&self, _: &StoredEntry, _: &AuditEvent) -> Result<(), AppendError> {
        std::future::pending().await
    }
    async fn record_receipt(
        &self,
        _: &crate::domain::receipt::StoredReceipt,
        _: &AuditEvent,
    ) -> Result<(), crate::ports::ReceiptError> {
        std::future::pending().await
    }
}

fn service_with<S: GroupCommitStore>(
    store: S,
    ledger: &InMemoryLedger,
    settings: IngestSettings,
) -> Service<S> {
    Ingest::new(
        store,
        ledger.audit_sink(),
        FixedClock::new(now()),
        RecordingMetrics::default(),
        settings,
    )
    .with_group_commit()
}

fn short_limits() -> IngestSettings {
    IngestSettings {
        retry: RetryPolicy {
            max_attempts: u32::MAX,
            ..fast_retries()
        },
        limits: TimeLimits {
            attempt_timeout: Duration::from_millis(20),
            deadline: Duration::from_millis(150),
            audit_timeout: Duration::from_millis(100),
        },
        ..IngestSettings::default()
    }
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_answered_as_stored_with_one_entry() {
    // The single append finds the claim taken on its next attempt, by an entry with this
    // request's arrival instant, submitter and content: its own, stored (201), not a replay.
    // Group commit polls its own claim and finds its own entry there: stored (201) too.
    for (protocol, status) in [
        (AppendProtocol::Single, 201),
        (AppendProtocol::GroupCommit, 201),
    ] {
        a_commit_whose_answer_is_lost_is_answered_with_one_entry(protocol, status).await;
    }
}

async fn a_commit_whose_answer_is_lost_is_answered_with_one_entry(
    protocol: AppendProtocol,
    status: u16,
) {
    let ledger = InMemoryLedger::new();
    let store = LostAnswers {
        inner: ledger.clone(),
        lost: 1.into(),
    };
    let settings = IngestSettings {
        protocol,
        ..short_limits()
    };
    let service = service_with(store, &ledger, settings);
    // Without signal_id too: the derived id makes the second attempt find the first.
    for body in [signal("s-lost"), {
        let mut body = signal("x");
        body.as_object_mut().unwrap().remove("signal_id");
        body
    }] {
        let before = ledger.entries().len();
        service
            .store
            .lost
            .store(1, std::sync::atomic::Ordering::SeqCst);
        let response = service.handle(post(&body)).await;
        assert_eq!(
            response.status,
            status,
            "{protocol:?}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.body_json()["chain_index"], before);
        assert_eq!(ledger.entries().len(), before + 1);
    }
    assert!(verify_chain(&ledger.entries(), Some(2)).is_intact());
}

#[tokio::test]
async fn an_unconfirmed_commit_then_a_producer_retry_stores_once() {
    let ledger = InMemoryLedger::new();
    // One attempt only: the lost answer ends the request with "outcome unknown". (Group commit
    // reads its own claim instead: `group_commit::a_lost_commit_answer_...`.)
    let settings = IngestSettings {
        retry: RetryPolicy {
            max_attempts: 1,
            ..fast_retries()
        },
        protocol: AppendProtocol::Single,
        ..IngestSettings::default()
    };
    let store = LostAnswers {
        inner: ledger.clone(),
        lost: 1.into(),
    };
    let service = service_with(store, &ledger, settings);
    let mut body = signal("x");
    body.as_object_mut().unwrap().remove("signal_id");
    let first = service.handle(post(&body)).await;
    assert_eq!(first.status, 503);
    assert_eq!(first.header("retry-after"), Some("1"));
    assert!(
        first.body_json()["detail"]
            .as_str()
            .unwrap()
            .contains("is unknown")
    );
    let retry = service.handle(post(&body)).await;
    assert_eq!(retry.status, 200);
    assert_eq!(ledger.entries().len(), 1);
    let kinds: Vec<_> = ledger.audit_events().iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        vec![AuditEventType::SignalInserted, AuditEventType::AppendFailed]
    );
}

#[tokio::test]
async fn throttling_past_the_deadline_is_a_503_with_no_entry_and_one_audit_event() {
    let ledger = InMemoryLedger::new();
    let service = service_with(Throttled(ledger.clone()), &ledger, short_limits());
    let started = Instant::now();
    let response = service.handle(post(&signal("s-throttled"))).await;
    let took = started.elapsed();
    assert_eq!(response.status, 503);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(
        response.body_json()["type"],
        "urn:signal-ledger:problem:outcome-unknown"
    );
    assert!(ledger.entries().is_empty());
    let events = ledger.audit_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, AuditEventType::AppendFailed);
    assert_eq!(events[0].signal_id.as_deref(), Some("s-throttled"));
    assert_eq!(events[0].details["status"], 503);
    assert!(
        took >= Duration::from_millis(100),
        "gave up early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "ran past the deadline: {took:?}"
    );
}

#[tokio::test]
async fn an_append_that_never_answers_times_out_per_attempt_then_503() {
    let ledger = InMemoryLedger::new();
    let service = service_with(Hanging(ledger.clone()), &ledger, short_limits());
    let started = Instant::now();
    let response = service.handle(post(&signal("s-hang"))).await;
    assert_eq!(response.status, 503);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(ledger.entries().is_empty());
    assert_eq!(ledger.audit_events().len(), 1);
}

#[test]
fn the_deadline_and_audit_timeout_fit_in_the_lambda_timeout() {
    // template.yaml: IngestFunction Timeout: 25 (seconds).
    let template = include_str!("../../../template.yaml");
    let ingest = template
        .split("\n  IngestFunction:")
        .nth(1)
        .expect("IngestFunction in template.yaml");
    let timeout: u64 = ingest
        .lines()
        .find_map(|line| line.trim().strip_prefix("Timeout:"))
        .expect("a Timeout")
        .trim()
        .parse()
        .unwrap();
    let limits = TimeLimits::default();
    let used = limits.deadline + limits.audit_timeout;
    assert!(
        used + Duration::from_secs(1) <= Duration::from_secs(timeout),
        "{used:?} of {timeout} s"
    );
    assert!(limits.attempt_timeout < limits.deadline);
}

// ---- delivery receipts (POST /signals/{signal_id}/receipts) ---------------------------------

fn receipt(subscriber: &str, delivered_at: &str) -> Value {
    json!({"subscriber": subscriber, "delivered_at": delivered_at})
}

fn post_receipt(id: &str, body: &Value) -> HttpRequest {
    request(
        "POST",
        &format!("/signals/{id}/receipts"),
        body.to_string().as_bytes(),
    )
}

/// A service holding signal `s-1` (generated 09:30:00, received 09:30:00.120).
async fn service_with_signal() -> (Service, InMemoryLedger, RecordingMetrics) {
    let (service, ledger, metrics) = service();
    assert_eq!(service.handle(post(&signal("s-1"))).await.status, 201);
    (service, ledger, metrics)
}

fn audit_types(ledger: &InMemoryLedger) -> Vec<AuditEventType> {
    ledger.audit_events().iter().map(|e| e.event_type).collect()
}

#[tokio::test]
async fn a_receipt_is_recorded_audited_with_its_hash_and_measured() {
    let (service, ledger, metrics) = service_with_signal().await;
    let response = service
        .handle(post_receipt(
            "s-1",
            &receipt("desk-7", "2026-11-28T09:30:00.380Z"),
        ))
        .await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let body = response.body_json();
    assert_eq!(body["signal_id"], "s-1");
    assert_eq!(body["chain_index"], 0);
    assert_eq!(body["subscriber"], "desk-7");
    assert_eq!(body["client_latency_ms"], 380);
    assert_eq!(body["recorded_at"], "2026-11-28T09:30:00.120000Z");
    assert_eq!(body["submitter"], "arn:aws:iam::123456789012:user/alice");
    let stored = ledger.receipts();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].receipt.compute_hash(), stored[0].receipt_hash);
    assert_eq!(body["receipt_hash"], stored[0].receipt_hash.to_hex());
    let events = ledger.audit_events();
    let recorded = events.last().unwrap();
    assert_eq!(recorded.event_type, AuditEventType::ReceiptRecorded);
    assert_eq!(
        (recorded.signal_id.as_deref(), recorded.chain_index),
        (Some("s-1"), Some(0))
    );
    assert_eq!(
        recorded.details["receipt_hash"],
        stored[0].receipt_hash.to_hex()
    );
    assert_eq!(recorded.details["client_latency_ms"], 380);
    assert_eq!(metrics.total(metric::SIGNAL_CLIENT_DELIVERY_LATENCY), 380.0);
    assert_eq!(metrics.total(metric::RECEIPTS_RECORDED), 1.0);
    // Another subscriber of the same signal gets its own receipt.
    let second = service
        .handle(post_receipt(
            "s-1",
            &receipt("desk-8", "2026-11-28T09:30:01Z"),
        ))
        .await;
    assert_eq!(second.status, 201);
    assert_eq!(ledger.receipts().len(), 2);
}

#[tokio::test]
async fn a_replayed_receipt_is_200_and_a_different_one_409_audited() {
    let (service, ledger, metrics) = service_with_signal().await;
    let body = receipt("desk-7", "2026-11-28T09:30:00.380Z");
    let first = service.handle(post_receipt("s-1", &body)).await;
    assert_eq!(first.status, 201);
    let replay = service.handle(post_receipt("s-1", &body)).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body_json(), first.body_json());
    // The same instant spelled differently is the same receipt.
    let same = receipt("desk-7", "2026-11-28T10:30:00.380+01:00");
    assert_eq!(service.handle(post_receipt("s-1", &same)).await.status, 200);
    let events_before = ledger.audit_events().len();
    let conflict = service
        .handle(post_receipt(
            "s-1",
            &receipt("desk-7", "2026-11-28T09:30:00.999Z"),
        ))
        .await;
    assert_eq!(conflict.status, 409);
    let problem = conflict.body_json();
    assert_eq!(
        problem["type"].as_str().unwrap(),
        "urn:signal-ledger:problem:conflicting-receipt"
    );
    assert_eq!(ledger.receipts().len(), 1, "nothing overwritten");
    assert_eq!(
        ledger.receipts()[0].receipt.delivered_at,
        Timestamp::parse_rfc3339("2026-11-28T09:30:00.380Z").unwrap()
    );
    let events = ledger.audit_events();
    assert_eq!(events.len(), events_before + 1);
    assert_eq!(
        events.last().unwrap().event_type,
        AuditEventType::ReceiptRejected
    );
    // Only the first receipt was measured.
    assert_eq!(metrics.total(metric::RECEIPTS_RECORDED), 1.0);
    assert_eq!(metrics.total(metric::RECEIPTS_REJECTED), 1.0);
}

#[tokio::test]
async fn receipt_refusals_are_4xx_audited_once_and_store_nothing() {
    let (service, ledger, _) = service_with_signal().await;
    let cases: Vec<(HttpRequest, u16, &str)> = vec![
        (
            post_receipt("nope", &receipt("desk-7", "2026-11-28T09:30:01Z")),
            404,
            "signal-not-found",
        ),
        (
            post_receipt("s-1", &receipt("desk-7", "2026-11-28T09:29:59.999Z")),
            400,
            "invalid-receipt",
        ),
        (
            post_receipt("s-1", &receipt("desk-7", "2026-11-28T09:35:00.121Z")),
            400,
            "invalid-receipt",
        ),
        (
            post_receipt("s-1", &receipt("desk 7", "2026-11-28T09:30:01Z")),
            400,
            "invalid-receipt",
        ),
        (
            post_receipt("s-1", &json!({"subscriber": "desk-7"})),
            400,
            "invalid-receipt",
        ),
        (
            request("POST", "/signals/s-1/receipts", b"{not json"),
            400,
            "malformed-json",
        ),
        (
            request("POST", "/signals/bad%20id/receipts", b"{}"),
            400,
            "invalid-signal-id",
        ),
        (
            HttpRequest {
                content_type: Some("text/plain".into()),
                ..post_receipt("s-1", &receipt("desk-7", "2026-11-28T09:30:01Z"))
            },
            415,
            "unsupported-media-type",
        ),
        (
            request(
                "POST",
                "/signals/s-1/receipts",
                &vec![b' '; MAX_BODY_BYTES + 1],
            ),
            413,
            "body-too-large",
        ),
    ];
    for (position, (request, status, kind)) in cases.into_iter().enumerate() {
        let before = ledger.audit_events().len();
        let response = service.handle(request).await;
        assert_eq!(response.status, status, "case {position}");
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
        let problem = response.body_json();
        assert_eq!(
            problem["type"].as_str().unwrap(),
            format!("urn:signal-ledger:problem:{kind}"),
            "case {position}"
        );
        let events = ledger.audit_events();
        assert_eq!(events.len(), before + 1, "case {position}: one audit event");
        assert_eq!(
            events.last().unwrap().event_type,
            AuditEventType::ReceiptRejected
        );
    }
    assert!(ledger.receipts().is_empty());
    // The rule codes name what was wrong.
    let early = service
        .handle(post_receipt(
            "s-1",
            &receipt("desk-7", "2026-11-28T09:29:59.999Z"),
        ))
        .await
        .body_json();
    assert_eq!(early["errors"][0]["field"], "delivered_at");
    assert_eq!(early["errors"][0]["rule"], "before_generated");
    // Other methods on the receipts path are 405 with Allow: POST.
    let get = service
        .handle(request("GET", "/signals/s-1/receipts", b""))
        .await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));
}

#[tokio::test]
async fn a_failed_audit_write_records_no_receipt() {
    let (service, ledger, metrics) = service_with_signal().await;
    ledger.fail_audit_writes(true);
    let response = service
        .handle(post_receipt(
            "s-1",
            &receipt("desk-7", "2026-11-28T09:30:01Z"),
        ))
        .await;
    assert_eq!(response.status, 500);
    assert!(String::from_utf8_lossy(&response.body).contains("NOT recorded"));
    assert!(ledger.receipts().is_empty());
    assert_eq!(metrics.total(metric::AUDIT_WRITE_ERRORS), 1.0);
    assert_eq!(metrics.total(metric::SIGNAL_CLIENT_DELIVERY_LATENCY), 0.0);
    // Once the audit log works again, the retry records it.
    ledger.fail_audit_writes(false);
    let retry = service
        .handle(post_receipt(
            "s-1",
            &receipt("desk-7", "2026-11-28T09:30:01Z"),
        ))
        .await;
    assert_eq!(retry.status, 201);
    assert_eq!(ledger.receipts().len(), 1);
}

#[tokio::test]
async fn a_receipt_whose_answer_is_lost_is_answered_as_a_replay_with_one_receipt() {
    let ledger = InMemoryLedger::new();
    let store = LostAnswers {
        inner: ledger.clone(),
        lost: std::sync::atomic::AtomicU32::new(0),
    };
    let service = service_with(store, &ledger, IngestSettings::default());
    assert_eq!(service.handle(post(&signal("s-1"))).await.status, 201);
    service
        .store
        .lost
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let body = receipt("desk-7", "2026-11-28T09:30:01Z");
    let first = service.handle(post_receipt("s-1", &body)).await;
    assert_eq!(first.status, 503, "the commit's answer was lost");
    assert_eq!(first.header("retry-after"), Some("1"));
    assert_eq!(ledger.receipts().len(), 1, "but it committed");
    let retry = service.handle(post_receipt("s-1", &body)).await;
    assert_eq!(retry.status, 200, "the retry finds it");
    assert_eq!(ledger.receipts().len(), 1);
    let types = audit_types(&ledger);
    assert_eq!(
        types,
        vec![
            AuditEventType::SignalInserted,
            AuditEventType::ReceiptRecorded,
            AuditEventType::AppendFailed
        ]
    );
}

#[tokio::test]
async fn a_throttled_receipt_is_503_and_writes_nothing() {
    let ledger = InMemoryLedger::new();
    let (plain, _) = service_over(ledger.clone(), &ledger);
    assert_eq!(plain.handle(post(&signal("s-1"))).await.status, 201);
    let service = service_with(Throttled(ledger.clone()), &ledger, short_limits());
    let response = service
        .handle(post_receipt(
            "s-1",
            &receipt("desk-7", "2026-11-28T09:30:01Z"),
        ))
        .await;
    assert_eq!(response.status, 503);
    assert!(ledger.receipts().is_empty());
    assert_eq!(
        audit_types(&ledger),
        vec![AuditEventType::SignalInserted, AuditEventType::AppendFailed]
    );
}

#[path = "ingest_group_commit_tests.rs"]
mod group_commit;
