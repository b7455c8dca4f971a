//! The ingest service: the HTTP contract of the ledger (DESIGN.md "Ingest HTTP contract") and the
//! append protocol (DESIGN.md "Storage"), over the ports.
//!
//! Promises:
//! - a valid signal is appended exactly once — entry, signal-id claim and audit record in one
//!   atomic write — or the caller gets an error saying it was not stored;
//! - a lost race for the next chain index is retried with jittered exponential backoff, bounded,
//!   then answered `503` with `Retry-After`;
//! - every refused request is audited (type, reason, actor, request id, a bounded excerpt);
//! - bad input gets a 4xx naming the problem; a 5xx body never says anything internal.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::app::http::{HttpRequest, HttpResponse, Problem};
use crate::domain::audit::{AuditEvent, AuditEventType, excerpt};
use crate::domain::entry::{Entry, Placement, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::signal::{Rejection, SignalId, Submission, ValidationRules, validate};
use crate::domain::timestamp::Timestamp;
use crate::ports::{AppendError, AuditSink, Clock, LedgerStore, Metric, MetricsSink, StoreError};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The routes `route` serves, as (method, path template). Any other method on these paths is
/// refused with 405 and `Allow`, any other path with 404. `docs/openapi.yaml` documents exactly
/// these (test `openapi::the_spec_and_the_router_serve_the_same_routes`).
pub const ROUTES: [(&str, &str); 2] = [("POST", "/signals"), ("GET", "/signals/{signal_id}")];

/// Metric names (DESIGN.md "Metrics and alarms").
pub mod metric {
    pub const SIGNAL_DELIVERY_LATENCY: &str = "SignalDeliveryLatency";
    pub const SIGNALS_INGESTED: &str = "SignalsIngested";
    pub const SIGNALS_REJECTED: &str = "SignalsRejected";
    pub const MODIFICATION_ATTEMPTS: &str = "ModificationAttempts";
    pub const AUDIT_WRITE_ERRORS: &str = "AuditWriteErrors";
    pub const APPEND_RETRIES: &str = "AppendRetries";
}

/// How lost races and throttling are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before retry `n` is a random duration in `[0, min(max_delay, base_delay × 2ⁿ)]`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Sent as `Retry-After` when the attempts run out.
    pub retry_after_seconds: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 12,
            base_delay: Duration::from_millis(4),
            max_delay: Duration::from_millis(250),
            retry_after_seconds: 1,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay);
        let ceiling_us = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(fastrand::u64(0..=ceiling_us))
    }
}

/// Settings fixed at process start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    pub rules: ValidationRules,
    pub retention_days: u32,
    pub retry: RetryPolicy,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            rules: ValidationRules::default(),
            retention_days: 2555,
            retry: RetryPolicy::default(),
        }
    }
}

/// The ingest service over its ports.
#[derive(Debug)]
pub struct Ingest<S, A, C, M> {
    store: S,
    audit: A,
    clock: C,
    metrics: M,
    settings: IngestSettings,
}

/// What a request did, for the response, the audit log and the metrics.
struct Outcome {
    response: HttpResponse,
    metrics: Vec<Metric>,
}

impl From<HttpResponse> for Outcome {
    fn from(response: HttpResponse) -> Self {
        Outcome {
            response,
            metrics: Vec::new(),
        }
    }
}

impl<S: LedgerStore, A: AuditSink, C: Clock, M: MetricsSink> Ingest<S, A, C, M> {
    pub fn new(store: S, audit: A, clock: C, metrics: M, settings: IngestSettings) -> Self {
        Ingest {
            store,
            audit,
            clock,
            metrics,
            settings,
        }
    }

    /// Handles one request; logs it with its processing time and emits its metrics.
    pub async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let started = Instant::now();
        let mut outcome = self.route(&request).await;
        outcome
            .response
            .headers
            .push(("x-request-id", request.request_id.clone()));
        self.metrics.emit(&outcome.metrics);
        tracing::info!(
            method = %request.method,
            path = %request.path,
            status = outcome.response.status,
            processing_ms = started.elapsed().as_secs_f64() * 1000.0,
            request_id = %request.request_id,
            actor = %request.actor,
            "request handled"
        );
        outcome.response
    }

    async fn route(&self, request: &HttpRequest) -> Outcome {
        let Some(segments) = path_segments(&request.path) else {
            return self.not_found(request).await;
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method.as_str();
        match (segments.as_slice(), method) {
            (["signals"], "POST") => self.post(request).await,
            (["signals", id], "GET") => self.get(request, id).await,
            (["signals"] | ["signals", _], "PUT" | "PATCH" | "DELETE") => {
                let allow = if segments.len() == 1 { "POST" } else { "GET" };
                self.refuse_write(request, segments.get(1).copied(), allow)
                    .await
            }
            (["signals"], _) => self.method_not_allowed(request, "POST").await,
            (["signals", _], _) => self.method_not_allowed(request, "GET").await,
            _ => self.not_found(request).await,
        }
    }

    async fn post(&self, request: &HttpRequest) -> Outcome {
        let rejected = |problem: Problem, reason: String, details: serde_json::Value| async move {
            let event = self
                .event(request, AuditEventType::SignalRejected)
                .reason(reason)
                .excerpt(&request.body)
                .details(details);
            self.refusal(
                request,
                problem,
                event,
                vec![Metric::count(metric::SIGNALS_REJECTED, 1)],
            )
            .await
        };
        if request.body.len() > MAX_BODY_BYTES {
            let detail = format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES} bytes",
                request.body.len()
            );
            let problem = Problem::new(
                413,
                "body-too-large",
                "Request body too large",
                detail.clone(),
            );
            return rejected(problem, detail, json!({"body_bytes": request.body.len()})).await;
        }
        if !is_json(request.content_type.as_deref()) {
            let shown = request.content_type.as_deref().unwrap_or("(none)");
            let detail = format!(
                "the content type is {shown:?}; send the signal as JSON with content-type: application/json"
            );
            let problem = Problem::new(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                detail.clone(),
            );
            return rejected(
                problem,
                detail,
                json!({"content_type": request.content_type}),
            )
            .await;
        }
        let received_at = self.clock.now();
        let submission = match validate(&request.body, &self.settings.rules, received_at) {
            Ok(submission) => submission,
            Err(Rejection::MalformedJson {
                line,
                column,
                message,
            }) => {
                let detail = format!(
                    "the body is not valid JSON: {message} at line {line}, column {column}"
                );
                let mut problem =
                    Problem::new(400, "malformed-json", "Malformed JSON", detail.clone());
                problem.errors =
                    Some(json!([{"field": "body", "rule": "json", "message": detail}]));
                return rejected(problem, detail, json!({"line": line, "column": column})).await;
            }
            Err(Rejection::Invalid(problems)) => {
                let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
                let detail = format!(
                    "the signal breaks {} rule(s), on: {}",
                    problems.len(),
                    fields.join(", ")
                );
                let mut problem =
                    Problem::new(400, "invalid-signal", "Invalid signal", detail.clone());
                problem.errors = Some(json!(problems));
                return rejected(problem, detail, json!({"problems": problems})).await;
            }
        };
        self.append(request, submission, received_at).await
    }

    /// The append protocol: replay check, then read head → build entry → conditional transaction,
    /// retried on a lost race.
    async fn append(
        &self,
        request: &HttpRequest,
        submission: Submission,
        received_at: Timestamp,
    ) -> Outcome {
        let Submission { signal_id, content } = submission;
        let given_id = signal_id.is_some();
        let signal_id = match signal_id {
            Some(id) => id,
            None => generated_signal_id(),
        };
        if given_id {
            match self.store.find_by_signal_id(&signal_id).await {
                Ok(Some(existing)) => return self.replay(request, existing, &content).await,
                Ok(None) => {}
                Err(error) => return self.store_failure(request, &error),
            }
        }
        let policy = &self.settings.retry;
        let mut retries = 0u32;
        loop {
            let placement = match self.store.head().await {
                Ok(head) => Placement {
                    chain_index: head.map_or(0, |h| h.chain_index + 1),
                    previous_hash: head.map_or(Hash::ZERO, |h| h.entry_hash),
                    received_at,
                    retention_days: self.settings.retention_days,
                    submitter: request.actor.clone(),
                },
                Err(StoreError::Busy(_)) if retries + 1 < policy.max_attempts => {
                    retries += 1;
                    tokio::time::sleep(policy.backoff(retries)).await;
                    continue;
                }
                Err(error) => return self.unavailable_or_failure(request, &error.into(), retries),
            };
            let entry = match Entry::assemble(signal_id.clone(), content.clone(), placement) {
                Ok(entry) => StoredEntry::seal(entry),
                Err(error) => {
                    // Only possible with a retention period reaching past the year 9999.
                    tracing::error!(%error, "cannot compute the retention date");
                    return internal_error(request).into();
                }
            };
            let audit = self
                .event(request, AuditEventType::SignalInserted)
                .inserted(&entry);
            match self.store.append(&entry, &audit).await {
                Ok(()) => {
                    let latency = entry.entry.delivery_latency_ms;
                    let location = format!("/signals/{}", entry.entry.signal_id);
                    let mut metrics = vec![
                        Metric::count(metric::SIGNALS_INGESTED, 1),
                        Metric::millis(metric::SIGNAL_DELIVERY_LATENCY, latency),
                    ];
                    if retries > 0 {
                        metrics.push(Metric::count(metric::APPEND_RETRIES, u64::from(retries)));
                    }
                    let response =
                        HttpResponse::json(201, &entry).with_header("location", location);
                    return Outcome { response, metrics };
                }
                Err(AppendError::SignalIdTaken(_)) => {
                    // Someone claimed the id between our check and our write (or our own write
                    // landed on an earlier attempt): answer as a replay.
                    return match self.store.find_by_signal_id(&signal_id).await {
                        Ok(Some(existing)) => self.replay(request, existing, &content).await,
                        Ok(None) => {
                            let error = StoreError::Malformed {
                                key: signal_id.to_string(),
                                reason: "claimed, but no claim item can be read".into(),
                            };
                            self.store_failure(request, &error)
                        }
                        Err(error) => self.store_failure(request, &error),
                    };
                }
                Err(
                    error @ (AppendError::IndexTaken(_) | AppendError::Store(StoreError::Busy(_))),
                ) => {
                    if retries + 1 >= policy.max_attempts {
                        return self.unavailable_or_failure(request, &error, retries);
                    }
                    retries += 1;
                    tokio::time::sleep(policy.backoff(retries)).await;
                }
                Err(AppendError::AuditWriteFailed(source)) => {
                    tracing::error!(
                        error = %error_chain(source.as_ref()),
                        request_id = %request.request_id,
                        "the audit record of an insert could not be written; the signal was not stored"
                    );
                    let mut outcome: Outcome = internal_error(request).into();
                    outcome
                        .metrics
                        .push(Metric::count(metric::AUDIT_WRITE_ERRORS, 1));
                    return outcome;
                }
                Err(AppendError::Store(error)) => return self.store_failure(request, &error),
            }
        }
    }

    async fn replay(
        &self,
        request: &HttpRequest,
        existing: StoredEntry,
        content: &crate::domain::signal::SignalContent,
    ) -> Outcome {
        if existing.entry.content == *content {
            return HttpResponse::json(200, &existing).into();
        }
        let id = existing.entry.signal_id.to_string();
        let detail = format!(
            "signal_id {id:?} is already stored (chain index {}) with different content; signals are immutable",
            existing.entry.chain_index
        );
        let problem = Problem::new(
            409,
            "conflicting-replay",
            "Conflicting replay",
            detail.clone(),
        );
        let event = self
            .event(request, AuditEventType::ConflictingReplay)
            .signal(&id, Some(existing.entry.chain_index))
            .reason(detail)
            .excerpt(&request.body);
        self.refusal(
            request,
            problem,
            event,
            vec![Metric::count(metric::SIGNALS_REJECTED, 1)],
        )
        .await
    }

    async fn get(&self, request: &HttpRequest, id: &str) -> Outcome {
        let signal_id = match SignalId::parse(id) {
            Ok(signal_id) => signal_id,
            Err(error) => {
                let shown: String = id.chars().take(64).collect();
                let detail = format!("signal_id {shown:?} {error}");
                let mut problem = Problem::new(
                    400,
                    "invalid-signal-id",
                    "Invalid signal id",
                    detail.clone(),
                );
                problem.errors =
                    Some(json!([{"field": "signal_id", "rule": "charset", "message": detail}]));
                let event = self
                    .event(request, AuditEventType::UnsupportedRequest)
                    .reason(detail);
                return self.refusal(request, problem, event, Vec::new()).await;
            }
        };
        match self.store.find_by_signal_id(&signal_id).await {
            Ok(Some(entry)) => HttpResponse::json(200, &entry).into(),
            Ok(None) => {
                let mut problem = Problem::new(
                    404,
                    "signal-not-found",
                    "Signal not found",
                    format!(
                        "no signal with signal_id {:?} is stored",
                        signal_id.as_str()
                    ),
                );
                problem.instance = request.request_id.clone();
                HttpResponse::problem(problem).into()
            }
            Err(error) => self.store_failure(request, &error),
        }
    }

    async fn refuse_write(
        &self,
        request: &HttpRequest,
        id: Option<&str>,
        allow: &'static str,
    ) -> Outcome {
        let kind = if request.method == "DELETE" {
            AuditEventType::DeleteAttempt
        } else {
            AuditEventType::ModificationAttempt
        };
        let target = id.map_or("the ledger".to_owned(), |id| format!("signal {id:?}"));
        let detail = format!(
            "{} refused: signals are immutable once stored; {target} was not changed and this attempt was audited",
            request.method
        );
        let problem = Problem::new(405, "immutable", "Signals are immutable", detail.clone());
        let bounded_id: Option<String> = id.map(|id| id.chars().take(128).collect());
        let mut event = self
            .event(request, kind)
            .reason(detail)
            .excerpt(&request.body);
        if let Some(id) = &bounded_id {
            event = event.signal(id, None);
        }
        let mut outcome = self
            .refusal(
                request,
                problem,
                event,
                vec![Metric::count(metric::MODIFICATION_ATTEMPTS, 1)],
            )
            .await;
        outcome.response.headers.push(("allow", allow.to_owned()));
        outcome
    }

    async fn method_not_allowed(&self, request: &HttpRequest, allow: &'static str) -> Outcome {
        let detail = format!(
            "{} is not supported on {}; allowed: {allow}",
            request.method, request.path
        );
        let problem = Problem::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            detail.clone(),
        );
        let event = self
            .event(request, AuditEventType::UnsupportedRequest)
            .reason(detail)
            .excerpt(&request.body);
        let mut outcome = self.refusal(request, problem, event, Vec::new()).await;
        outcome.response.headers.push(("allow", allow.to_owned()));
        outcome
    }

    async fn not_found(&self, request: &HttpRequest) -> Outcome {
        let shown: String = request.path.chars().take(128).collect();
        let detail = format!(
            "there is no route {} {shown}; the routes are POST /signals and GET /signals/{{signal_id}}",
            request.method
        );
        let problem = Problem::new(404, "not-found", "Not found", detail.clone());
        let event = self
            .event(request, AuditEventType::UnsupportedRequest)
            .reason(detail)
            .excerpt(&request.body);
        self.refusal(request, problem, event, Vec::new()).await
    }

    /// Audits a refusal, then answers it. A failed audit write does not change the answer (the
    /// request is refused either way) but is logged and counted so that the alarm fires.
    async fn refusal(
        &self,
        request: &HttpRequest,
        mut problem: Problem,
        event: EventBuilder,
        mut metrics: Vec<Metric>,
    ) -> Outcome {
        let status = problem.status;
        let event = event.details_field("status", json!(status)).build();
        if let Err(error) = self.audit.record(&event).await {
            tracing::error!(
                error = %error_chain(&error),
                request_id = %request.request_id,
                event_type = %event.event_type,
                "could not write the audit record of a refused request"
            );
            metrics.push(Metric::count(metric::AUDIT_WRITE_ERRORS, 1));
        }
        problem.instance = request.request_id.clone();
        Outcome {
            response: HttpResponse::problem(problem),
            metrics,
        }
    }

    fn store_failure(&self, request: &HttpRequest, error: &StoreError) -> Outcome {
        tracing::error!(error = %error_chain(error), request_id = %request.request_id, "ledger store failure");
        internal_error(request).into()
    }

    fn unavailable_or_failure(
        &self,
        request: &HttpRequest,
        error: &AppendError,
        retries: u32,
    ) -> Outcome {
        match error {
            AppendError::IndexTaken(_) | AppendError::Store(StoreError::Busy(_)) => {
                tracing::warn!(
                    error = %error_chain(error),
                    retries,
                    request_id = %request.request_id,
                    "gave up appending after retries; answering 503"
                );
                let seconds = self.settings.retry.retry_after_seconds;
                let mut problem = Problem::new(
                    503,
                    "busy",
                    "Ledger busy",
                    format!(
                        "the ledger is busy and the signal was NOT stored; retry after {seconds} s with the same signal_id"
                    ),
                );
                problem.instance = request.request_id.clone();
                let mut outcome: Outcome = HttpResponse::problem(problem)
                    .with_header("retry-after", seconds.to_string())
                    .into();
                outcome
                    .metrics
                    .push(Metric::count(metric::APPEND_RETRIES, u64::from(retries)));
                outcome
            }
            _ => {
                tracing::error!(error = %error_chain(error), request_id = %request.request_id, "append failed");
                internal_error(request).into()
            }
        }
    }

    fn event(&self, request: &HttpRequest, event_type: AuditEventType) -> EventBuilder {
        EventBuilder {
            event: AuditEvent {
                event_id: uuid::Uuid::now_v7().to_string(),
                occurred_at: self.clock.now(),
                event_type,
                actor: request.actor.clone(),
                request_id: request.request_id.clone(),
                signal_id: None,
                chain_index: None,
                reason: None,
                excerpt: None,
                details: json!({"method": request.method, "path": request.path.chars().take(256).collect::<String>()}),
            },
        }
    }
}

/// Builds an audit event step by step.
struct EventBuilder {
    event: AuditEvent,
}

impl EventBuilder {
    fn reason(mut self, reason: String) -> Self {
        self.event.reason = Some(reason);
        self
    }

    fn excerpt(mut self, body: &[u8]) -> Self {
        if !body.is_empty() {
            self.event.excerpt = Some(excerpt(body));
        }
        self
    }

    fn signal(mut self, signal_id: &str, chain_index: Option<u64>) -> Self {
        self.event.signal_id = Some(signal_id.to_owned());
        self.event.chain_index = chain_index;
        self
    }

    fn details(self, extra: serde_json::Value) -> Self {
        let mut builder = self;
        if let serde_json::Value::Object(fields) = extra {
            for (key, value) in fields {
                builder = builder.details_field(&key, value);
            }
        }
        builder
    }

    fn details_field(mut self, key: &str, value: serde_json::Value) -> Self {
        if let serde_json::Value::Object(details) = &mut self.event.details {
            details.insert(key.to_owned(), value);
        }
        self
    }

    fn build(self) -> AuditEvent {
        self.event
    }

    fn inserted(self, stored: &StoredEntry) -> AuditEvent {
        let entry = &stored.entry;
        self.signal(entry.signal_id.as_str(), Some(entry.chain_index))
            .reason(format!(
                "signal appended at chain index {}",
                entry.chain_index
            ))
            .details(json!({
                "entry_hash": stored.entry_hash,
                "symbol": entry.content.symbol,
                "action": entry.content.action,
                "delivery_latency_ms": entry.delivery_latency_ms,
            }))
            .build()
    }
}

fn internal_error(request: &HttpRequest) -> HttpResponse {
    let mut problem = Problem::new(
        500,
        "internal",
        "Internal error",
        "the signal could not be processed and was NOT stored; retry later with the same signal_id",
    );
    problem.instance = request.request_id.clone();
    HttpResponse::problem(problem)
}

/// A new signal id: a UUIDv7, time-ordered and unique.
fn generated_signal_id() -> SignalId {
    // A hyphenated UUID always satisfies the signal-id alphabet and length.
    SignalId::parse(&uuid::Uuid::now_v7().to_string())
        .unwrap_or_else(|_| unreachable!("a UUID is a valid signal id"))
}

/// `application/json`, or any `+json` type, with or without parameters.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// The percent-decoded, non-empty segments of a path; `None` when a segment does not decode
/// to UTF-8. A trailing slash is ignored.
fn path_segments(path: &str) -> Option<Vec<String>> {
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .map(percent_decode)
        .collect()
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = segment.get(at + 1..at + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An error and all its sources, joined with ": ", for one log field.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
