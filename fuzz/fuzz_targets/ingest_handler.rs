//! The whole ingest handler over the in-memory ports, from an arbitrary request written as
//! `METHOD PATH\nname: value\n…\n\nBODY` (so the seed corpus reads like HTTP).
//!
//! Every run starts from a ledger holding one signal (`s-1`), so receipts for it are exercised.
//!
//! Invariants: no panic; no 5xx (no store fault is injected); every refusal leaves exactly one
//! audit event, an insert (of a signal or a receipt) exactly one, a read none; every audit event fits
//! `MAX_AUDIT_EVENT_BYTES`; a refusal's answer fits `MAX_PROBLEM_BYTES`, any answer is at most
//! twice the request plus 8 KiB; `HEAD` answers without a body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shared::adapters::memory::{FixedClock, InMemoryLedger, RecordingMetrics};
use shared::app::http::{HttpRequest, HttpResponse, RequestHeaders};
use shared::app::ingest::{Ingest, IngestSettings, MAX_PROBLEM_BYTES};
use shared::domain::audit::MAX_AUDIT_EVENT_BYTES;
use shared::domain::timestamp::Timestamp;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|error| panic!("no runtime: {error}"))
    })
}

/// Splits the input into request line, headers and body.
fn request(data: &[u8]) -> (HttpRequest, RequestHeaders) {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or((first, "/"));
    let mut content_type = None;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.clone());
        }
        headers.push((name, value));
    }
    let request = HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        content_type,
        body: body.to_vec(),
        actor: "arn:aws:iam::123456789012:role/fuzzer".into(),
        request_id: "fuzz".into(),
    };
    (request, RequestHeaders::new(headers))
}

/// The signal every run starts with, so that receipts (`POST /signals/s-1/receipts`) reach
/// their validation and can be stored.
const STORED: &[u8] = br#"{"signal_id":"s-1","symbol":"AAPL","action":"BUY","entry_price":"150.25","rationale":"Breakout above the 50-day moving average on rising volume.","generated_at":"2026-11-28T09:30:00Z"}"#;

/// Runs one request on a fresh in-memory ledger holding signal `s-1`: the answer, and the audit
/// events, entries and receipts the request added.
fn run(request: HttpRequest, headers: &RequestHeaders) -> Option<(HttpResponse, usize, usize)> {
    let now = Timestamp::parse_rfc3339("2026-11-28T09:30:00.120Z").ok()?;
    let ledger = InMemoryLedger::new();
    let service = Ingest::new(
        ledger.clone(),
        ledger.audit_sink(),
        FixedClock::new(now),
        RecordingMetrics::default(),
        IngestSettings::default(),
    );
    let seed = HttpRequest {
        method: "POST".into(),
        path: "/signals".into(),
        content_type: Some("application/json".into()),
        body: STORED.to_vec(),
        actor: "arn:aws:iam::123456789012:role/producer".into(),
        request_id: "seed".into(),
    };
    let seeded = runtime().block_on(service.handle(seed));
    assert_eq!(seeded.status, 201);
    let response = runtime().block_on(service.handle_with_headers(request, headers));
    let events = ledger.audit_events();
    for event in &events {
        assert!(event.encoded_len() <= MAX_AUDIT_EVENT_BYTES);
    }
    let stored = ledger.entries().len() + ledger.receipts().len();
    Some((response, events.len() - 1, stored - 1))
}

fuzz_target!(|data: &[u8]| {
    let (request, headers) = request(data);
    let method = request.method.clone();
    let request_bytes = request.body.len() + request.path.len() + request.method.len();
    let mut as_get = request.clone();
    as_get.method = "GET".into();
    let Some((response, events, entries)) = run(request, &headers) else {
        return;
    };
    let status = response.status;
    assert!(
        status < 500,
        "{status}: {}",
        String::from_utf8_lossy(&response.body)
    );
    if method == "HEAD" {
        // HEAD answers as GET without the body, with the same audit trail.
        assert!(response.body.is_empty());
        if let Some((get, get_events, _)) = run(as_get, &headers) {
            assert_eq!(status, get.status);
            assert_eq!(events, get_events);
        }
        return;
    }
    // A read of a well-formed id that is not stored is an answer, not a refusal: not audited
    // (a receipt for an unknown signal is a refused write, and is).
    let kind = serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|body| body["type"].as_str().map(str::to_owned));
    let unknown_signal = method == "GET"
        && kind.as_deref() == Some("urn:signal-ledger:problem:signal-not-found");
    let expected_events = match status {
        201 => 1,
        400..=499 if !unknown_signal => 1,
        _ => 0,
    };
    assert_eq!(events, expected_events, "status {status}");
    if status >= 400 {
        assert!(response.body.len() <= MAX_PROBLEM_BYTES);
    }
    assert!(response.body.len() <= 2 * request_bytes + 8 * 1024);
    // An entry or a receipt, exactly when the answer is 201.
    assert_eq!(entries, usize::from(status == 201));
});
