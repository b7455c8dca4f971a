//! The proof routes over in-memory ports and a vault the real sweep wrote: answers, refusals,
//! and the `RECORDS_READ` audit of every disclosure.

use serde_json::Value;

use super::*;
use crate::adapters::memory::{
    FixedClock, InMemoryAuditSink, InMemoryLedger, InMemoryVault, RecordingMetrics, SoftwareSigner,
};
use crate::app::ingest::IngestSettings;
use crate::app::proofs::VaultProofs;
use crate::app::proofs::tests::{Ledger, ORIGIN, public_key};
use crate::domain::checkpoint::SignedCheckpoint;
use crate::domain::proof::{verify_consistency_document, verify_inclusion_document};
use crate::domain::test_support::timestamp;

type Service = Ingest<
    InMemoryLedger,
    InMemoryAuditSink,
    FixedClock,
    RecordingMetrics,
    VaultProofs<InMemoryVault, SoftwareSigner>,
>;

fn service(ledger: &Ledger) -> (Service, RecordingMetrics) {
    let metrics = RecordingMetrics::default();
    let service = Ingest::new(
        ledger.ledger.clone(),
        ledger.ledger.audit_sink(),
        FixedClock::new(timestamp("2026-11-28T12:34:56Z")),
        metrics.clone(),
        IngestSettings::default(),
    )
    .with_proofs(ledger.proofs());
    (service, metrics)
}

fn get(path: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        actor: "arn:aws:iam::123456789012:user/auditor".into(),
        request_id: "req-7".into(),
    }
}

fn reads(ledger: &Ledger) -> Vec<Value> {
    ledger
        .ledger
        .audit_events()
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::RecordsRead)
        .map(|e| {
            assert_eq!(e.actor, "arn:aws:iam::123456789012:user/auditor");
            e.details
        })
        .collect()
}

#[tokio::test]
async fn before_the_first_checkpoint_there_is_nothing_to_prove() {
    let mut ledger = Ledger::new(5);
    ledger.append(2).await;
    let (service, _) = service(&ledger);
    let checkpoint = service.handle(get("/checkpoint")).await;
    assert_eq!(checkpoint.status, 404);
    assert_eq!(
        checkpoint.body_json()["type"],
        "urn:signal-ledger:problem:no-checkpoint"
    );
    let proof = service.handle(get("/signals/sig-000000/proof")).await;
    assert_eq!(proof.status, 404);
    assert!(
        proof.body_json()["detail"]
            .as_str()
            .unwrap()
            .contains("2026-11-28T13:00:00")
    );
    assert!(reads(&ledger).is_empty(), "nothing was disclosed");
}

#[tokio::test]
async fn the_checkpoint_and_proofs_are_served_verifiable_and_audited() {
    let mut ledger = Ledger::new(20);
    for count in [3, 6, 0, 5] {
        ledger.checkpoint_after(count).await;
    }
    ledger.append(2).await; // 14 checkpointed, 16 stored
    let (service, _) = service(&ledger);
    let key = [public_key().await];

    let checkpoint = service.handle(get("/checkpoint")).await;
    assert_eq!(checkpoint.status, 200);
    assert_eq!(
        checkpoint.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let note = String::from_utf8(checkpoint.body.clone()).unwrap();
    assert_eq!(
        SignedCheckpoint::parse(&note).unwrap().checkpoint.tree_size,
        14
    );

    for index in [0u64, 5, 13] {
        let response = service
            .handle(get(&format!("/signals/sig-{index:06}/proof")))
            .await;
        assert_eq!(response.status, 200, "{}", response.body_json());
        let document: InclusionProofDocument = serde_json::from_slice(&response.body).unwrap();
        assert_eq!((document.chain_index, document.tree_size), (index, 14));
        assert_eq!(document.checkpoint, note);
        verify_inclusion_document(&document, &key, ORIGIN).unwrap();
    }
    // Against an earlier checkpointed size.
    let earlier = service
        .handle(get("/signals/sig-000002/proof?tree_size=3"))
        .await;
    assert_eq!(earlier.status, 200);
    let document: InclusionProofDocument = serde_json::from_slice(&earlier.body).unwrap();
    assert_eq!(document.tree_size, 3);
    verify_inclusion_document(&document, &key, ORIGIN).unwrap();

    for (from, to) in [(3, 14), (9, 14), (3, 9), (14, 14)] {
        let response = service
            .handle(get(&format!("/proofs/consistency?from={from}&to={to}")))
            .await;
        assert_eq!(response.status, 200, "{}", response.body_json());
        let document: ConsistencyProofDocument = serde_json::from_slice(&response.body).unwrap();
        verify_consistency_document(&document, &key, ORIGIN).unwrap();
    }

    let reads = reads(&ledger);
    let routes: Vec<&str> = reads.iter().map(|d| d["route"].as_str().unwrap()).collect();
    assert_eq!(routes.len(), 9);
    assert_eq!(routes[0], "GET /checkpoint");
    assert_eq!(reads[0]["tree_size"], "14");
    assert_eq!(routes[1], "GET /signals/{signal_id}/proof");
    assert_eq!(reads[4]["tree_size"], 3);
    assert_eq!(routes[5], "GET /proofs/consistency");
    assert_eq!(
        (reads[5]["from"].as_u64(), reads[5]["to"].as_u64()),
        (Some(3), Some(14))
    );
}

#[tokio::test]
async fn uncovered_entries_unknown_signals_and_bad_queries_are_refused_clearly() {
    let mut ledger = Ledger::new(20);
    ledger.checkpoint_after(4).await;
    ledger.checkpoint_after(3).await;
    ledger.append(2).await;
    let (service, _) = service(&ledger);
    let answer = |path: &'static str| {
        let service = &service;
        async move {
            let response = service.handle(get(path)).await;
            let body = response.body_json();
            (
                response.status,
                body["type"]
                    .as_str()
                    .unwrap_or("")
                    .replace("urn:signal-ledger:problem:", ""),
                response,
            )
        }
    };

    let (status, kind, response) = answer("/signals/sig-000008/proof").await;
    assert_eq!((status, kind.as_str()), (409, "not-yet-checkpointed"));
    assert_eq!(response.header("retry-after"), Some("1504"));
    assert_eq!(
        response.header("x-next-sweep-at"),
        Some("2026-11-28T13:00:00.000000Z")
    );
    assert!(
        response.body_json()["detail"]
            .as_str()
            .unwrap()
            .contains(SWEEP_SCHEDULE)
    );

    for (path, status, kind) in [
        ("/signals/nope/proof", 404, "signal-not-found"),
        ("/signals/has%20space/proof", 400, "invalid-signal-id"),
        (
            "/signals/sig-000001/proof?tree_size=5",
            404,
            "checkpoint-not-found",
        ),
        (
            "/signals/sig-000005/proof?tree_size=4",
            400,
            "invalid-query",
        ),
        (
            "/signals/sig-000001/proof?tree_size=04",
            400,
            "invalid-query",
        ),
        (
            "/signals/sig-000001/proof?tree_size=-4",
            400,
            "invalid-query",
        ),
        ("/signals/sig-000001/proof?tree_size=", 400, "invalid-query"),
        (
            "/signals/sig-000001/proof?tree_size=4&tree_size=7",
            400,
            "invalid-query",
        ),
        ("/signals/sig-000001/proof?size=4", 400, "invalid-query"),
        (
            "/signals/sig-000001/proof?tree_size=99999999999999999999",
            400,
            "invalid-query",
        ),
        ("/proofs/consistency?from=7&to=4", 400, "invalid-query"),
        ("/proofs/consistency?from=0&to=4", 400, "invalid-query"),
        ("/proofs/consistency?from=4", 400, "invalid-query"),
        (
            "/proofs/consistency?from=4&to=6",
            404,
            "checkpoint-not-found",
        ),
        ("/checkpoint?x=1", 400, "invalid-query"),
    ] {
        let (got, got_kind, _) = answer(path).await;
        assert_eq!((got, got_kind.as_str()), (status, kind), "{path}");
    }
    let post = HttpRequest {
        method: "POST".into(),
        ..get("/checkpoint")
    };
    let refused = service.handle(post).await;
    assert_eq!(
        (refused.status, refused.header("allow")),
        (405, Some("GET"))
    );
    assert!(reads(&ledger).is_empty(), "no refusal discloses anything");
}

#[tokio::test]
async fn a_read_that_cannot_be_audited_discloses_nothing() {
    let mut ledger = Ledger::new(5);
    ledger.checkpoint_after(3).await;
    let (service, metrics) = service(&ledger);
    ledger.ledger.fail_audit_writes(true);
    for path in [
        "/checkpoint",
        "/signals/sig-000001",
        "/signals/sig-000001/proof",
        "/proofs/consistency?from=3&to=3",
    ] {
        let response = service.handle(get(path)).await;
        assert_eq!(response.status, 503, "{path}");
        assert_eq!(
            response.body_json()["type"],
            "urn:signal-ledger:problem:read-not-audited"
        );
        assert!(!String::from_utf8_lossy(&response.body).contains("range"));
    }
    assert_eq!(metrics.total(metric::AUDIT_WRITE_ERRORS), 4.0);
}

#[test]
fn the_next_sweep_is_the_next_full_hour() {
    for (now, next) in [
        ("2026-11-28T12:34:56.789Z", "2026-11-28T13:00:00Z"),
        ("2026-11-28T12:00:00Z", "2026-11-28T13:00:00Z"),
        ("2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"),
    ] {
        assert_eq!(next_sweep(&timestamp(now)), timestamp(next));
    }
}
