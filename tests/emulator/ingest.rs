//! The ingest function against the emulator: its HTTP contract through `cargo lambda watch`, and
//! the append protocol over the DynamoDB adapters under concurrency and injected faults.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore, ENTRY_PARTITION, entry_item};
use shared::adapters::memory::{RecordingMetrics, RivalAppends};
use shared::adapters::system::SystemClock;
use shared::app::ingest::{Ingest, IngestSettings, metric};
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::chain::verify_chain;
use shared::ports::{LedgerStore, StoreError};

use crate::support::{TestStack, audit_events, post, read_all, required_env, signal};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Through the real function URL path of `cargo lambda watch`, over HTTP.
#[tokio::test]
async fn http_contract_through_cargo_lambda_watch() {
    let base = required_env("INGEST_URL");
    let watch_stack = required_env("WATCH_STACK");
    let store = {
        let client = crate::support::client().await;
        DynamoLedgerStore::new(
            client,
            format!("{watch_stack}-signals"),
            format!("{watch_stack}-audit"),
        )
    };
    let audit = DynamoAuditSink::new(
        crate::support::client().await,
        format!("{watch_stack}-audit"),
    );
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");
    let entries_before = read_all(&store).await.len();

    // A valid signal: 201 with its chain fields.
    let id = unique("http");
    let created = http
        .post(url("/signals"))
        .json(&signal(&id))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["location"],
        format!("/signals/{id}").as_str()
    );
    let created: Value = created.json().await.unwrap();
    for field in [
        "chain_index",
        "previous_hash",
        "entry_hash",
        "received_at",
        "retention_expires_at",
        "delivery_latency_ms",
    ] {
        assert!(!created[field].is_null(), "{field} missing from {created}");
    }
    assert_eq!(created["submitter"], "anonymous");

    // The seed's two rationale cases: 400 problem+json naming the field.
    for rationale in ["", "Short"] {
        let mut body = signal(&unique("bad"));
        body["rationale"] = json!(rationale);
        let response = http.post(url("/signals")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "rationale", "{problem}");
    }

    // GET returns the entry as stored.
    let fetched = http
        .get(url(&format!("/signals/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.json::<Value>().await.unwrap(), created);
    assert_eq!(
        http.get(url("/signals/never-stored"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // PUT and DELETE: 405, audited with actor and time.
    let put = http
        .put(url(&format!("/signals/{id}")))
        .json(&json!({"entry_price": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, HEAD");
    let delete = http
        .delete(url(&format!("/signals/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);

    // Identical replay: 200 with the same chain index; conflicting replay: 409.
    let replay = http
        .post(url("/signals"))
        .json(&created_request_body(&created))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(
        replay.json::<Value>().await.unwrap()["chain_index"],
        created["chain_index"]
    );
    let mut conflicting = created_request_body(&created);
    conflicting["entry_price"] = json!("151");
    assert_eq!(
        http.post(url("/signals"))
            .json(&conflicting)
            .send()
            .await
            .unwrap()
            .status(),
        409
    );

    // Transport-level refusals.
    let form = http
        .post(url("/signals"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let huge = http
        .post(url("/signals"))
        .header("content-type", "application/json")
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let malformed = http
        .post(url("/signals"))
        .header("content-type", "application/json")
        .body("{\"symbol\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert!(
        malformed.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("line 1, column 11")
    );
    assert_eq!(
        http.get(url("/nowhere")).send().await.unwrap().status(),
        404
    );

    // Exactly one entry of this test was added (other tests share the stack), none of the
    // refused ones, and the chain still verifies.
    let entries = read_all(&store).await;
    assert!(entries.len() > entries_before);
    let ours = |prefix: &str| {
        entries
            .iter()
            .filter(|e| e.entry.signal_id.as_str().starts_with(prefix))
            .count()
    };
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.entry.signal_id.as_str() == id)
            .count(),
        1
    );
    assert_eq!(ours("bad-"), 0);
    assert!(verify_chain(&entries, None).is_intact());

    // The audit log holds the attempts, with actor and time.
    let events: Vec<AuditEvent> = audit_events(&audit).await;
    let about_this = |kind: AuditEventType| {
        events
            .iter()
            .filter(|e| e.event_type == kind && e.signal_id.as_deref() == Some(id.as_str()))
            .count()
    };
    assert_eq!(about_this(AuditEventType::SignalInserted), 1);
    assert_eq!(about_this(AuditEventType::ModificationAttempt), 1);
    assert_eq!(about_this(AuditEventType::DeleteAttempt), 1);
    assert_eq!(about_this(AuditEventType::ConflictingReplay), 1);
    let delete_event = events
        .iter()
        .find(|e| {
            e.event_type == AuditEventType::DeleteAttempt
                && e.signal_id.as_deref() == Some(id.as_str())
        })
        .unwrap();
    assert_eq!(delete_event.actor, "anonymous");
    assert!(delete_event.occurred_at.as_str() >= created["received_at"].as_str().unwrap());
}

/// Issue 12's hostile requests, through `cargo lambda watch` over HTTP: each is a clear 4xx (never
/// a panic or a 5xx), small, and audited exactly once under its request id.
#[tokio::test]
async fn hostile_requests_through_cargo_lambda_watch() {
    let base = required_env("INGEST_URL");
    let watch_stack = required_env("WATCH_STACK");
    let audit = DynamoAuditSink::new(
        crate::support::client().await,
        format!("{watch_stack}-audit"),
    );
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");
    let with = |changes: Value| {
        let mut body = signal(&unique("hostile"));
        for (key, value) in changes.as_object().unwrap() {
            body[key] = value.clone();
        }
        body.to_string()
    };
    let many_empty_keys = format!("{{{}}}", vec![r#""":0"#; 1_800].join(","));
    /// What it is, its content-encoding, body, status and the rule of its first error.
    type Case<'a> = (&'a str, Option<&'a str>, String, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "a local time in year 9999 that is year 10000 in UTC",
            None,
            with(json!({"generated_at": "9999-12-31T23:59:59-00:01"})),
            400,
            Some("range"),
        ),
        (
            "1,800 empty keys",
            None,
            many_empty_keys.clone(),
            400,
            Some("unknown_field"),
        ),
        (
            "a signal from 1970",
            None,
            with(json!({"generated_at": "1970-01-01T00:00:00Z"})),
            400,
            Some("too_old"),
        ),
        (
            "gzip that is not gzip",
            Some("gzip"),
            with(json!({})),
            415,
            None,
        ),
        (
            "a rationale of one letter and zero-width spaces",
            None,
            with(json!({"rationale": format!("a{}", "\u{200B}".repeat(19))})),
            400,
            Some("too_short"),
        ),
        (
            "a symbol that upper-cases to two letters",
            None,
            with(json!({"symbol": "ß"})),
            400,
            Some("charset"),
        ),
    ];
    for (what, encoding, body, status, rule) in cases {
        let mut post = http
            .post(url("/signals"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(encoding) = encoding {
            post = post.header("content-encoding", encoding);
        }
        let response = post.send().await.unwrap();
        assert_eq!(response.status(), status, "{what}");
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let answer = response.bytes().await.unwrap();
        assert!(
            answer.len() <= shared::app::ingest::MAX_PROBLEM_BYTES,
            "{what}: {} bytes",
            answer.len()
        );
        let problem: Value = serde_json::from_slice(&answer).unwrap();
        if let Some(rule) = rule {
            assert_eq!(problem["errors"][0]["rule"], rule, "{what}: {problem}");
        }
        let events: Vec<AuditEvent> = audit_events(&audit)
            .await
            .into_iter()
            .filter(|e| e.request_id == request_id)
            .collect();
        assert_eq!(events.len(), 1, "{what}: one audit event");
        assert_eq!(
            events[0].event_type,
            AuditEventType::SignalRejected,
            "{what}"
        );
        assert!(events[0].encoded_len() <= shared::domain::audit::MAX_AUDIT_EVENT_BYTES);
    }

    // A `%` followed by a sign is not a percent-encoded byte: no such route.
    let odd = http.get(url("/signals/s%+1")).send().await.unwrap();
    assert_eq!(odd.status(), 404);

    // HEAD answers as GET, without the body.
    let id = unique("head");
    let created = http
        .post(url("/signals"))
        .json(&signal(&id))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let head = http
        .head(url(&format!("/signals/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.unwrap().is_empty());

    // A producer's retry without signal_id is a replay of the same entry.
    let mut anonymous = signal("unused");
    anonymous.as_object_mut().unwrap().remove("signal_id");
    anonymous["rationale"] = json!(format!(
        "Retry check {}: breakout above the 50-day moving average.",
        unique("r")
    ));
    let first = http
        .post(url("/signals"))
        .json(&anonymous)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retry = http
        .post(url("/signals"))
        .json(&anonymous)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
}

/// Over the DynamoDB adapters: the same body sent twice without `signal_id` is one entry.
#[tokio::test]
async fn a_retry_without_signal_id_adds_nothing_over_dynamodb() {
    let stack = TestStack::new().await;
    let service = stack.service(RecordingMetrics::default());
    let mut body = signal("unused");
    body.as_object_mut().unwrap().remove("signal_id");
    let first = service.handle(post(&body)).await;
    assert_eq!(first.status, 201);
    let retry = service.handle(post(&body)).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body_json(), first.body_json());
    assert_eq!(stack.entries().await.len(), 1);
    // A commit of one: its commit record, entry bundle and claim.
    assert_eq!(stack.item_count().await, 3);
}

/// The request that produced `created` (its signal fields only).
fn created_request_body(created: &Value) -> Value {
    let mut body = json!({});
    for field in shared::domain::signal::FIELDS {
        if !created[field].is_null() {
            body[field] = created[field].clone();
        }
    }
    body
}

#[tokio::test]
async fn a_competing_append_between_head_read_and_write_is_retried() {
    let stack = TestStack::new().await;
    let metrics = RecordingMetrics::default();
    let store = RivalAppends::new(stack.store(), 2);
    let service = Ingest::new(
        store,
        stack.audit(),
        SystemClock,
        metrics.clone(),
        IngestSettings::default(),
    );
    let response = service.handle(post(&signal("contended"))).await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.body_json()["chain_index"], 2);
    assert_eq!(metrics.total(metric::APPEND_RETRIES), 2.0);
    // The two lost transactions left nothing behind: three commits of one (commit record,
    // bundle, claim), three audits.
    let entries = stack.entries().await;
    assert_eq!(entries.len(), 3);
    assert!(verify_chain(&entries, Some(3)).is_intact());
    assert_eq!(stack.item_count().await, 9);
    assert_eq!(stack.audit_events().await.len(), 3);
}

#[tokio::test]
async fn an_audit_write_that_fails_fails_the_whole_append() {
    let stack = TestStack::new().await;
    let metrics = RecordingMetrics::default();
    // The audit table does not exist: the transaction cannot write the audit record.
    let store = DynamoLedgerStore::new(
        stack.client.clone(),
        &stack.signals_table,
        "no-such-audit-table",
    );
    let audit = DynamoAuditSink::new(stack.client.clone(), "no-such-audit-table");
    let service = Ingest::new(
        store,
        audit,
        SystemClock,
        metrics.clone(),
        IngestSettings::default(),
    );
    let response = service.handle(post(&signal("unaudited"))).await;
    assert_eq!(response.status, 500);
    // The store failed without saying how far it got: the answer says the outcome is unknown
    // (a retry is safe), never anything internal; in fact nothing was written.
    let body = String::from_utf8_lossy(&response.body).to_string();
    assert!(
        body.contains("unknown") && body.contains("retry is safe"),
        "{body}"
    );
    assert!(!body.contains("no-such-audit-table"), "{body}");
    assert_eq!(
        stack.item_count().await,
        0,
        "no entry and no claim without its audit record"
    );
}

#[tokio::test]
async fn replays_over_dynamodb_add_nothing() {
    let stack = TestStack::new().await;
    let service = stack.service(RecordingMetrics::default());
    let body = signal("replayed");
    assert_eq!(service.handle(post(&body)).await.status, 201);
    assert_eq!(service.handle(post(&body)).await.status, 200);
    let mut changed = body.clone();
    changed["rationale"] = json!("A different rationale for the very same signal id.");
    assert_eq!(service.handle(post(&changed)).await.status, 409);
    assert_eq!(stack.entries().await.len(), 1);
    assert_eq!(stack.item_count().await, 3);
    let kinds: Vec<AuditEventType> = stack
        .audit_events()
        .await
        .iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        kinds,
        vec![
            AuditEventType::SignalInserted,
            AuditEventType::ConflictingReplay
        ]
    );
}

#[tokio::test]
async fn an_edited_attribute_is_reported_not_normalised() {
    let stack = TestStack::new().await;
    let service = stack.service(RecordingMetrics::default());
    assert_eq!(service.handle(post(&signal("edited"))).await.status, 201);
    // An insider rewrites the price in an equivalent but non-canonical spelling.
    let mut item = entry_item(&stack.entries().await[0]);
    item.insert("entry_price".into(), AttributeValue::S("150.250".into()));
    crate::support::put_as_insider(&stack.client, &stack.signals_table, item).await;
    let page = stack.store().read_page(0, 10).await.unwrap();
    match &page.items[0] {
        Err(StoreError::Malformed { key, reason }) => {
            // The entry inside its bundle, named by its own key as before.
            assert_eq!(key, &format!("{ENTRY_PARTITION}/0"));
            assert!(reason.contains("entry_price"), "{reason}");
        }
        other => panic!("expected a malformed item, got {other:?}"),
    }
}

/// The integrity-sweep function binary through `cargo lambda watch`'s Lambda invoke API, with
/// the schedule payloads of `infra/events/`.
#[tokio::test]
async fn integrity_sweep_invoked_through_cargo_lambda_watch() {
    let base = required_env("INGEST_URL");
    let invoke = base.replace(
        "/lambda-url/ingest",
        "/2015-03-31/functions/integrity-sweep/invocations",
    );
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for mode in ["init", "incremental", "full", "full-continue"] {
        let payload: Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/../infra/events/integrity-sweep-{mode}.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        let response = http.post(&invoke).json(&payload).send().await.unwrap();
        assert_eq!(response.status(), 200, "{mode}");
        let record: Value = response.json().await.unwrap();
        assert_eq!(record["mode"], mode, "{record}");
        statuses.push(record["status"].as_str().unwrap_or_default().to_owned());
        match mode {
            "init" => {}
            // The small ledger's full pass completed in the `full` step: nothing is open.
            "full-continue" => assert_eq!(record["status"], "skipped", "{record}"),
            _ => assert_eq!(record["status"], "passed", "{record}"),
        }
        if mode == "full" {
            assert_eq!(record["full_pass"]["phase"], "done", "{record}");
        }
    }
    // init passes the first time and is skipped when a checkpoint already exists.
    assert!(["passed", "skipped"].contains(&statuses[0].as_str()));
    let refused = http
        .post(&invoke)
        .json(&json!({"mode": "sideways"}))
        .send()
        .await
        .unwrap();
    let body = refused.text().await.unwrap();
    assert!(body.contains("invalid payload"), "{body}");
}
