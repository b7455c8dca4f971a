//! CPU cost of the ingest handler per signal, over in-memory ports: routing, validation,
//! canonical encoding, hashing, the append protocol and the audit record — everything but the
//! network. `cargo bench -p shared --bench ingest`. Figures go into BENCHMARKS.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use shared::adapters::memory::{FixedClock, InMemoryLedger};
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings};
use shared::domain::timestamp::Timestamp;
use shared::ports::{Metric, MetricsSink};

#[derive(Debug)]
struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn emit(&self, metrics: &[Metric]) {
        black_box(metrics);
    }
}

fn request(body: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/signals".into(),
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
        actor: "arn:aws:sts::123456789012:assumed-role/signal-producer/momentum".into(),
        request_id: "bench".into(),
    }
}

fn ingest(c: &mut Criterion) {
    // Timers on: every store call runs under the request's time limits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let now = Timestamp::parse_rfc3339("2026-11-28T09:30:00.087Z").expect("timestamp");
    let ledger = InMemoryLedger::new();
    let service = Ingest::new(
        ledger.clone(),
        ledger.audit_sink(),
        FixedClock::new(now),
        NoMetrics,
        IngestSettings::default(),
    );
    // Without signal_id the id is derived from the content, so each iteration's content differs
    // (its model_version counts) to be a new signal, never a replay.
    let mut n = 0u64;
    c.bench_function("ingest: POST /signals, new signal, in-memory ports", |b| {
        b.iter(|| {
            n += 1;
            let new_signal = request(&format!(
                r#"{{"symbol":"AAPL","action":"BUY","entry_price":"189.40","target_price":205,
            "stop_loss":"182.5","confidence":0.74,"generated_at":"2026-11-28T09:30:00Z",
            "rationale":"Breakout above the 50-day moving average on 2.1x average volume; sector strength confirms.",
            "producer":"momentum-svc","model":"gbm-ensemble","model_version":"2026.11.{n}"}}"#
            ));
            let response = runtime.block_on(service.handle(new_signal));
            assert_eq!(response.status, 201);
        });
    });
    let invalid = request(
        r#"{"symbol":"AAPL","action":"BUY","entry_price":189.4,"rationale":"Short","generated_at":"2026-11-28T09:30:00Z"}"#,
    );
    // A fresh ledger per iteration: the in-memory audit sink checks each new event's key against
    // every stored one (as a conditional put), a cost of the double that grows with the run, not
    // of the handler.
    c.bench_function("ingest: POST /signals, refused (400) and audited", |b| {
        b.iter_batched(
            || {
                let ledger = InMemoryLedger::new();
                Ingest::new(
                    ledger.clone(),
                    ledger.audit_sink(),
                    FixedClock::new(now),
                    NoMetrics,
                    IngestSettings::default(),
                )
            },
            |service| {
                let response = runtime.block_on(service.handle(invalid.clone()));
                assert_eq!(response.status, 400);
            },
            BatchSize::PerIteration,
        );
    });
}

criterion_group!(benches, ingest);
criterion_main!(benches);
