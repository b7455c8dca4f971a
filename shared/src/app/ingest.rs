//! The ingest service: the HTTP contract of the ledger (DESIGN.md "Ingest HTTP contract") and the
//! append protocol (DESIGN.md "Storage"), over the ports.
//!
//! Promises:
//! - a valid signal is appended at most once — entry, signal-id claim and audit record in one
//!   atomic write — whether or not the producer sent a `signal_id` (without one, the id is
//!   derived from the submitter and the content, so a retry of the same request is a replay);
//! - two append protocols, chosen by [`IngestSettings::protocol`]: group commit (the default,
//!   `ingest_group_commit.rs`: one commit on the chain carries many signals) when the store has
//!   the group-commit primitives ([`Ingest::with_group_commit`]), and the single append (one
//!   transaction per signal) otherwise;
//! - a lost race for the next chain index is retried with jittered exponential backoff, bounded;
//! - every store call has its own timeout and all of them end by a deadline below the
//!   function's timeout: a request that runs out of attempts or time is answered `503` with
//!   `Retry-After`, saying the outcome is unknown and that a retry with the same id is safe;
//! - every refused request gets exactly one audit event (type, bounded reason, actor, request id,
//!   a bounded excerpt), and so does an append that ends without a confirmed outcome;
//! - answers and audit events are bounded in size whatever the request;
//! - a delivery receipt (`POST /signals/{id}/receipts`, `ingest_receipts.rs`) is recorded at
//!   most once per (signal, subscriber), in one atomic write with its audit record;
//! - the read-only proof routes (`GET /checkpoint`, `GET /signals/{id}/proof`, `GET
//!   /proofs/consistency`, `ingest_proofs.rs`) serve what `app::proofs` reads from the vault;
//! - every answer that discloses records (`GET /signals/{id}` and the proof routes) is audited
//!   first (`RECORDS_READ`, with the actor and what was read); when that audit write fails the
//!   records are not disclosed (503);
//! - bad input gets a 4xx naming the problem; a 5xx body never says anything internal; no input
//!   makes it panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::app::http::{HttpRequest, HttpResponse, Problem, RequestHeaders};
use crate::app::proofs::{NoProofs, ProofSource};
use crate::domain::audit::{AuditEvent, AuditEventType, MAX_REASON_BYTES, bounded_text, excerpt};
use crate::domain::entry::{Entry, Placement, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::signal::{Rejection, SignalId, Submission, ValidationRules, validate};
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AppendError, AuditSink, Clock, GroupCommitStore, LedgerStore, Metric, MetricsSink, Pending,
    StoreError,
};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A refusal's answer (problem+json) never exceeds this many bytes, whatever the request.
pub const MAX_PROBLEM_BYTES: usize = 16 * 1024;
/// At most this many characters of a method or path are repeated in answers and audit events.
const MAX_SHOWN_CHARS: usize = 128;

/// The routes `route` serves, as (method, path template). Any other method on these paths is
/// refused with 405 and `Allow`, any other path with 404. `docs/openapi.yaml` documents exactly
/// these (test `openapi::the_spec_and_the_router_serve_the_same_routes`).
pub const ROUTES: [(&str, &str); 7] = [
    ("POST", "/signals"),
    ("GET", "/signals/{signal_id}"),
    ("HEAD", "/signals/{signal_id}"),
    ("POST", "/signals/{signal_id}/receipts"),
    ("GET", "/checkpoint"),
    ("GET", "/signals/{signal_id}/proof"),
    ("GET", "/proofs/consistency"),
];

/// Metric names (DESIGN.md "Metrics and alarms").
pub mod metric {
    pub const SIGNAL_DELIVERY_LATENCY: &str = "SignalDeliveryLatency";
    pub const SIGNALS_INGESTED: &str = "SignalsIngested";
    pub const SIGNALS_REJECTED: &str = "SignalsRejected";
    pub const MODIFICATION_ATTEMPTS: &str = "ModificationAttempts";
    pub const AUDIT_WRITE_ERRORS: &str = "AuditWriteErrors";
    pub const APPEND_RETRIES: &str = "AppendRetries";
    /// `delivered_at − generated_at` of a recorded delivery receipt (ms): the latency a
    /// subscriber felt, the seed's `signal_delivery_latency_seconds`.
    pub const SIGNAL_CLIENT_DELIVERY_LATENCY: &str = "SignalClientDeliveryLatency";
    pub const RECEIPTS_RECORDED: &str = "ReceiptsRecorded";
    pub const RECEIPTS_REJECTED: &str = "ReceiptsRejected";
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

/// How long one request may wait on its ports. The ingest function's Lambda timeout (25 s in
/// `template.yaml`) must exceed `deadline + audit_timeout` plus the time to answer: a request
/// that Lambda kills answers a bare 502 and leaves no audit record. DynamoDB answers in
/// milliseconds; the limits are generous so that a slow store (or the serialized emulator under
/// a parallel test suite) gets retried rather than refused, and still bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeLimits {
    /// One store call (a head read, a claim lookup, one append transaction), SDK retries included.
    pub attempt_timeout: Duration,
    /// All store calls of one request end by this long after the request arrived.
    pub deadline: Duration,
    /// The audit write of a refusal or of a failed append, after the deadline if need be.
    pub audit_timeout: Duration,
}

impl Default for TimeLimits {
    fn default() -> Self {
        TimeLimits {
            attempt_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(20),
            audit_timeout: Duration::from_secs(2),
        }
    }
}

/// How `POST /signals` appends a signal to the chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AppendProtocol {
    /// Group commit (ARCHITECTURE.md "Group commit"): the signal is made pending, then
    /// sequenced with others in one commit. Needs a store with the group-commit primitives
    /// ([`Ingest::with_group_commit`]); without them the single append runs.
    #[default]
    GroupCommit,
    /// One conditional transaction per signal, racing alone for the next chain index.
    Single,
}

/// Settings fixed at process start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    pub rules: ValidationRules,
    pub retention_days: u32,
    pub retry: RetryPolicy,
    pub limits: TimeLimits,
    pub protocol: AppendProtocol,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            rules: ValidationRules::default(),
            retention_days: 2555,
            retry: RetryPolicy::default(),
            limits: TimeLimits::default(),
            protocol: AppendProtocol::default(),
        }
    }
}

/// The time left to one request: each store call runs under the attempt timeout or what is
/// left of the deadline, whichever is shorter. Kept apart from the append protocol's retry loop
/// so that a different protocol (e.g. group commit) can run under the same limits.
#[derive(Debug, Clone, Copy)]
struct Budget {
    ends: tokio::time::Instant,
    attempt: Duration,
}

/// A store call did not answer in time: its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum OutOfTime {
    #[error("the store call did not answer within its attempt timeout")]
    Attempt,
    #[error("the request's deadline passed")]
    Deadline,
}

impl Budget {
    fn starting_now(limits: &TimeLimits) -> Budget {
        Budget {
            ends: tokio::time::Instant::now() + limits.deadline,
            attempt: limits.attempt_timeout,
        }
    }

    fn left(&self) -> Duration {
        self.ends
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// Runs one store call within the budget. The call is dropped when its time is up.
    async fn call<T>(&self, call: impl Future<Output = T>) -> Result<T, OutOfTime> {
        let left = self.left();
        if left.is_zero() {
            return Err(OutOfTime::Deadline);
        }
        let limit = self.attempt.min(left);
        tokio::time::timeout(limit, call)
            .await
            .map_err(|_| match self.left().is_zero() {
                true => OutOfTime::Deadline,
                false => OutOfTime::Attempt,
            })
    }

    /// Sleeps `pause` if the deadline leaves room for it and one more call; false otherwise.
    async fn pause(&self, pause: Duration) -> bool {
        if self.left() <= pause {
            return false;
        }
        tokio::time::sleep(pause).await;
        true
    }
}

/// What one attempt of the append protocol came to.
enum Attempt {
    /// The request is answered: stored, a replay, or refused.
    Answered(Outcome),
    /// A lost race, a busy store or a late answer: worth another attempt.
    Retryable(String),
    /// The store failed: stop; whether the signal was stored is unconfirmed.
    Failed(Unconfirmed),
}

/// This request's own arrival, to recognise its own write behind a claim it finds taken.
#[derive(Clone, Copy)]
struct Arrival {
    received_at: Timestamp,
    /// Attempts already retried, for the metrics of a 201.
    retries: u32,
}

/// Why an append ended without a confirmed outcome.
enum Unconfirmed {
    /// Out of attempts or out of time: 503, retry later.
    Busy { retries: u32, why: String },
    /// The store failed in a way retrying will not fix soon: 500.
    Failed(String),
}

/// The ingest service over its ports; `P` answers the proof routes (none by default).
#[derive(Debug)]
pub struct Ingest<S, A, C, M, P = NoProofs> {
    store: S,
    audit: A,
    clock: C,
    metrics: M,
    settings: IngestSettings,
    proofs: P,
    /// The group-commit protocol for `S`, when `S` has its primitives.
    group_commit: Option<group_commit::GroupAppendFn<S>>,
}

/// What a request did, for the response, the audit log and the metrics.
struct Outcome {
    response: HttpResponse,
    metrics: Vec<Metric>,
}

/// The signal id in a request path, or the 400 `invalid-signal-id` problem naming it (with the
/// detail for the audit event's reason).
fn path_signal_id(id: &str) -> Result<SignalId, Box<(Problem, String)>> {
    SignalId::parse(id).map_err(|error| {
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
        Box::new((problem, detail))
    })
}

impl From<HttpResponse> for Outcome {
    fn from(response: HttpResponse) -> Self {
        Outcome {
            response,
            metrics: Vec::new(),
        }
    }
}

impl<S, A, C, M> Ingest<S, A, C, M> {
    /// The service without proofs: the proof routes answer 503 until [`Ingest::with_proofs`].
    /// It appends with the single-append protocol until [`Ingest::with_group_commit`].
    pub fn new(store: S, audit: A, clock: C, metrics: M, settings: IngestSettings) -> Self {
        Ingest {
            store,
            audit,
            clock,
            metrics,
            settings,
            proofs: NoProofs,
            group_commit: None,
        }
    }
}

impl<S: GroupCommitStore, A, C, M, P> Ingest<S, A, C, M, P> {
    /// The same service, appending with the protocol `settings.protocol` names (group commit
    /// by default): its store has the group-commit primitives.
    pub fn with_group_commit(mut self) -> Self {
        self.group_commit = Some(group_commit::append::<S>);
        self
    }
}

impl<S, A, C, M, P> Ingest<S, A, C, M, P> {
    /// The same service, answering the proof routes from `proofs`.
    pub fn with_proofs<Q: ProofSource>(self, proofs: Q) -> Ingest<S, A, C, M, Q> {
        Ingest {
            store: self.store,
            audit: self.audit,
            clock: self.clock,
            metrics: self.metrics,
            settings: self.settings,
            proofs,
            group_commit: self.group_commit,
        }
    }
}

impl<S: LedgerStore, A: AuditSink, C: Clock, M: MetricsSink, P: ProofSource> Ingest<S, A, C, M, P> {
    /// Handles one request without headers beyond its content type.
    pub async fn handle(&self, request: HttpRequest) -> HttpResponse {
        self.handle_with_headers(request, &RequestHeaders::default())
            .await
    }

    /// Handles one request; logs it with its processing time and emits its metrics. `HEAD` is
    /// answered as `GET`, without the body.
    pub async fn handle_with_headers(
        &self,
        request: HttpRequest,
        headers: &RequestHeaders,
    ) -> HttpResponse {
        let started = Instant::now();
        let budget = Budget::starting_now(&self.settings.limits);
        // Boxed: the store calls under their timeouts make a large future (clippy::large_futures).
        let mut outcome = Box::pin(self.route(&request, headers, &budget)).await;
        if request.method == "HEAD" {
            outcome.response.body.clear();
        }
        outcome
            .response
            .headers
            .push(("x-request-id", request.request_id.clone()));
        self.metrics.emit(&outcome.metrics);
        tracing::info!(
            method = %shown(&request.method),
            path = %shown(&request.path),
            status = outcome.response.status,
            processing_ms = started.elapsed().as_secs_f64() * 1000.0,
            request_id = %request.request_id,
            actor = %request.actor,
            "request handled"
        );
        outcome.response
    }

    async fn route(
        &self,
        request: &HttpRequest,
        headers: &RequestHeaders,
        budget: &Budget,
    ) -> Outcome {
        // The query (`?…`) is only read by the proof routes; elsewhere it is ignored.
        let (path, query) = request
            .path
            .split_once('?')
            .unwrap_or((request.path.as_str(), ""));
        let Some(segments) = path_segments(path) else {
            return self.not_found(request).await;
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method.as_str();
        match (segments.as_slice(), method) {
            (["signals"], "POST") => self.post(request, headers, budget).await,
            (["signals", id], "GET" | "HEAD") => self.get(request, id, budget).await,
            (["signals", id, "receipts"], "POST") => {
                self.post_receipt(request, headers, id, budget).await
            }
            (["signals", _, "receipts"], _) => self.method_not_allowed(request, "POST").await,
            (["checkpoint"], "GET") => self.get_checkpoint(request, query, budget).await,
            (["signals", id, "proof"], "GET") => self.get_proof(request, id, query, budget).await,
            (["proofs", "consistency"], "GET") => {
                self.get_consistency(request, query, budget).await
            }
            (["checkpoint"] | ["signals", _, "proof"] | ["proofs", "consistency"], _) => {
                self.method_not_allowed(request, "GET").await
            }
            (["signals"], "PUT" | "PATCH" | "DELETE") => {
                self.refuse_write(request, None, "POST").await
            }
            (["signals", id], "PUT" | "PATCH" | "DELETE") => {
                self.refuse_write(request, Some(id), "GET, HEAD").await
            }
            (["signals"], _) => self.method_not_allowed(request, "POST").await,
            (["signals", _], _) => self.method_not_allowed(request, "GET, HEAD").await,
            _ => self.not_found(request).await,
        }
    }

    async fn post(
        &self,
        request: &HttpRequest,
        headers: &RequestHeaders,
        budget: &Budget,
    ) -> Outcome {
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
        if let Some((problem, reason, details)) = transport_problem(request, headers, "signal") {
            return rejected(problem, reason, details).await;
        }
        let received_at = self.clock.now();
        let submission = match validate(&request.body, &self.settings.rules, received_at) {
            Ok(submission) => submission,
            Err(rejection) => {
                let (problem, detail, details) = rejection_problem(rejection, Body::Signal);
                return rejected(problem, detail, details).await;
            }
        };
        self.append(request, submission, received_at, budget).await
    }

    /// The append protocol: replay check, then read head → build entry → conditional transaction,
    /// retried on a lost race, every store call under the request's [`Budget`] (under group
    /// commit the protocol reads the claim beside its first head read instead). A signal without
    /// an id gets [`SignalId::derived`], so that the producer's retry is found as a replay.
    async fn append(
        &self,
        request: &HttpRequest,
        submission: Submission,
        received_at: Timestamp,
        budget: &Budget,
    ) -> Outcome {
        let Submission { signal_id, content } = submission;
        let signal_id = signal_id.unwrap_or_else(|| SignalId::derived(&request.actor, &content));
        if let (AppendProtocol::GroupCommit, Some(group_append)) =
            (self.settings.protocol, self.group_commit)
        {
            return self
                .group_append(
                    request,
                    group_append,
                    signal_id,
                    content,
                    received_at,
                    budget,
                )
                .await;
        }
        match budget.call(self.store.find_by_signal_id(&signal_id)).await {
            Ok(Ok(Some(existing))) => return self.replay(request, existing, &content).await,
            Ok(Ok(None)) => {}
            Ok(Err(error)) => return self.unconfirmed(request, &signal_id, error.into()).await,
            Err(late) => {
                let why = Unconfirmed::Busy {
                    retries: 0,
                    why: late.to_string(),
                };
                return self.unconfirmed(request, &signal_id, why).await;
            }
        }
        let policy = &self.settings.retry;
        let mut retries = 0u32;
        let why = loop {
            let attempt = self
                .attempt(request, &signal_id, &content, received_at, budget, retries)
                .await;
            let failure = match attempt {
                Attempt::Answered(outcome) => return outcome,
                Attempt::Retryable(failure) => failure,
                Attempt::Failed(why) => break why,
            };
            if retries + 1 >= policy.max_attempts
                || !budget.pause(policy.backoff(retries + 1)).await
            {
                break Unconfirmed::Busy {
                    retries,
                    why: failure,
                };
            }
            retries += 1;
        };
        self.unconfirmed(request, &signal_id, why).await
    }

    /// The group-commit path of [`Ingest::append`]: the protocol reads the claim beside its first
    /// head read (a replay answers before entering, without a round trip of its own).
    async fn group_append(
        &self,
        request: &HttpRequest,
        group_append: group_commit::GroupAppendFn<S>,
        signal_id: SignalId,
        content: crate::domain::signal::SignalContent,
        received_at: Timestamp,
        budget: &Budget,
    ) -> Outcome {
        let mine = Pending {
            signal_id: signal_id.clone(),
            content: content.clone(),
            received_at,
            submitter: request.actor.clone(),
            request_id: request.request_id.clone(),
            event_id: uuid::Uuid::now_v7().to_string(),
        };
        let group = group_commit::GroupRequest {
            clock: &self.clock,
            settings: &self.settings,
            budget,
            mine,
        };
        match group_append(&self.store, group).await {
            group_commit::GroupAnswer::Stored { entry, retries } => self.stored(&entry, retries),
            group_commit::GroupAnswer::Replay(existing) => {
                self.replay(request, *existing, &content).await
            }
            group_commit::GroupAnswer::ClaimedByAnother => {
                let ours = Arrival {
                    received_at,
                    retries: 0,
                };
                self.claimed_meanwhile(request, &signal_id, &content, ours, budget)
                    .await
            }
            group_commit::GroupAnswer::Unconfirmed {
                why,
                audit_write_failed,
            } => {
                let mut outcome = self.unconfirmed(request, &signal_id, why).await;
                if audit_write_failed {
                    outcome
                        .metrics
                        .push(Metric::count(metric::AUDIT_WRITE_ERRORS, 1));
                }
                outcome
            }
        }
    }

    /// One attempt: read the head, build the entry on it, and append it with its claim and
    /// audit record in one conditional transaction.
    async fn attempt(
        &self,
        request: &HttpRequest,
        signal_id: &SignalId,
        content: &crate::domain::signal::SignalContent,
        received_at: Timestamp,
        budget: &Budget,
        retries: u32,
    ) -> Attempt {
        let head = match budget.call(self.store.head()).await {
            Ok(Ok(head)) => head,
            Ok(Err(error @ StoreError::Busy(_))) => return Attempt::Retryable(error_chain(&error)),
            Ok(Err(error)) => return Attempt::Failed(Unconfirmed::Failed(error_chain(&error))),
            Err(late) => return Attempt::Retryable(late.to_string()),
        };
        let placement = Placement {
            chain_index: head.map_or(0, |h| h.chain_index.saturating_add(1)),
            previous_hash: head.map_or(Hash::ZERO, |h| h.entry_hash),
            received_at,
            retention_days: self.settings.retention_days,
            submitter: request.actor.clone(),
        };
        let entry = match Entry::assemble(signal_id.clone(), content.clone(), placement) {
            Ok(entry) => StoredEntry::seal(entry),
            Err(error) => {
                // Only possible with a retention period reaching past the year 9999.
                tracing::error!(%error, "cannot compute the retention date");
                return Attempt::Answered(internal_error(request).into());
            }
        };
        let audit = self
            .event(request, AuditEventType::SignalInserted)
            .inserted(&entry);
        match budget.call(self.store.append(&entry, &audit)).await {
            Ok(Ok(())) => Attempt::Answered(self.stored(&entry, retries)),
            Ok(Err(AppendError::SignalIdTaken(_))) => {
                // Someone claimed the id between our check and our write, or an earlier attempt
                // of ours committed though its answer was lost.
                let ours = Arrival {
                    received_at,
                    retries,
                };
                Attempt::Answered(
                    self.claimed_meanwhile(request, signal_id, content, ours, budget)
                        .await,
                )
            }
            Ok(Err(
                error @ (AppendError::IndexTaken(_) | AppendError::Store(StoreError::Busy(_))),
            )) => Attempt::Retryable(error_chain(&error)),
            Ok(Err(AppendError::AuditWriteFailed(source))) => {
                tracing::error!(
                    error = %error_chain(source.as_ref()),
                    request_id = %request.request_id,
                    "the audit record of an insert could not be written; the signal was not stored"
                );
                let mut outcome: Outcome = not_stored(request).into();
                outcome
                    .metrics
                    .push(Metric::count(metric::AUDIT_WRITE_ERRORS, 1));
                Attempt::Answered(outcome)
            }
            Ok(Err(AppendError::Store(error))) => {
                Attempt::Failed(Unconfirmed::Failed(error_chain(&error)))
            }
            // The transaction may have committed; the next attempt finds out (its claim would
            // then be taken) without ever writing the signal twice.
            Err(late) => Attempt::Retryable(late.to_string()),
        }
    }

    fn stored(&self, entry: &StoredEntry, retries: u32) -> Outcome {
        let latency = entry.entry.delivery_latency_ms;
        let location = format!("/signals/{}", entry.entry.signal_id);
        let mut metrics = vec![
            Metric::count(metric::SIGNALS_INGESTED, 1),
            Metric::millis(metric::SIGNAL_DELIVERY_LATENCY, latency),
        ];
        if retries > 0 {
            metrics.push(Metric::count(metric::APPEND_RETRIES, u64::from(retries)));
        }
        let response = HttpResponse::json(201, entry).with_header("location", location);
        Outcome { response, metrics }
    }

    /// The append found the id claimed: answer as a replay of whatever holds the claim, unless
    /// the claim is this request's own write whose answer was lost (a store call that outlived
    /// its attempt timeout, then committed). That entry carries this request's arrival instant,
    /// submitter and content, and its insert event was written with it: it is stored, 201.
    async fn claimed_meanwhile(
        &self,
        request: &HttpRequest,
        signal_id: &SignalId,
        content: &crate::domain::signal::SignalContent,
        ours: Arrival,
        budget: &Budget,
    ) -> Outcome {
        let why = match budget.call(self.store.find_by_signal_id(signal_id)).await {
            Ok(Ok(Some(existing))) => {
                let entry = &existing.entry;
                if entry.received_at == ours.received_at
                    && entry.submitter == request.actor
                    && entry.content == *content
                {
                    return self.stored(&existing, ours.retries);
                }
                return self.replay(request, existing, content).await;
            }
            Ok(Ok(None)) => Unconfirmed::Failed(format!(
                "signal id {signal_id} is claimed, but no claim item can be read"
            )),
            Ok(Err(error)) => error.into(),
            Err(late) => Unconfirmed::Busy {
                retries: 0,
                why: late.to_string(),
            },
        };
        self.unconfirmed(request, signal_id, why).await
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

    async fn get(&self, request: &HttpRequest, id: &str, budget: &Budget) -> Outcome {
        let signal_id = match path_signal_id(id) {
            Ok(signal_id) => signal_id,
            Err(refused) => {
                let (problem, detail) = *refused;
                let event = self
                    .event(request, AuditEventType::UnsupportedRequest)
                    .reason(detail);
                return self.refusal(request, problem, event, Vec::new()).await;
            }
        };
        match budget.call(self.store.find_by_signal_id(&signal_id)).await {
            Ok(Ok(Some(entry))) => {
                let event = self
                    .event(request, AuditEventType::RecordsRead)
                    .signal(signal_id.as_str(), Some(entry.entry.chain_index))
                    .details(json!({"route": "GET /signals/{signal_id}", "read": "entry"}));
                self.disclose(request, event, HttpResponse::json(200, &entry))
                    .await
            }
            Ok(Ok(None)) => {
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
            Ok(Err(error)) => self.store_failure(request, &error),
            Err(late) => {
                tracing::warn!(error = %late, request_id = %request.request_id, "read timed out");
                self.not_in_time(request, "Ledger busy", "ledger")
            }
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
        let target = id.map_or("the ledger".to_owned(), |id| {
            format!("signal {:?}", shown(id))
        });
        let detail = format!(
            "{} refused: signals are immutable once stored; {target} was not changed and this attempt was audited",
            shown(&request.method)
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
            shown(&request.method),
            shown(&request.path)
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
        let detail = format!(
            "there is no route {} {}; the routes are POST /signals, GET /signals/{{signal_id}}, POST /signals/{{signal_id}}/receipts, GET /checkpoint, GET /signals/{{signal_id}}/proof and GET /proofs/consistency",
            shown(&request.method),
            shown(&request.path)
        );
        let problem = Problem::new(404, "not-found", "Not found", detail.clone());
        let event = self
            .event(request, AuditEventType::UnsupportedRequest)
            .reason(detail)
            .excerpt(&request.body);
        self.refusal(request, problem, event, Vec::new()).await
    }

    /// Audits a refusal (exactly one event, bounded in size, written within the audit timeout),
    /// then answers it. A failed audit write does not change the answer (the request is refused
    /// either way) but is logged and counted so that the alarm fires.
    async fn refusal(
        &self,
        request: &HttpRequest,
        mut problem: Problem,
        event: EventBuilder,
        mut metrics: Vec<Metric>,
    ) -> Outcome {
        let status = problem.status;
        let event = event.details_field("status", json!(status)).build();
        let timeout = self.settings.limits.audit_timeout;
        let written = match tokio::time::timeout(timeout, self.audit.record(&event)).await {
            Ok(written) => written.map_err(|error| error_chain(&error)),
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        };
        if let Err(error) = written {
            tracing::error!(
                %error,
                request_id = %request.request_id,
                event_type = %event.event_type,
                "could not write the audit record of a refused request"
            );
            metrics.push(Metric::count(metric::AUDIT_WRITE_ERRORS, 1));
        }
        problem.instance = bounded_text(&request.request_id, MAX_SHOWN_CHARS);
        Outcome {
            response: HttpResponse::problem(problem),
            metrics,
        }
    }

    /// 503 `busy` with `Retry-After`: a read of `what` (the ledger, the vault) did not answer
    /// in time; nothing was disclosed and a retry is safe.
    fn not_in_time(&self, request: &HttpRequest, title: &'static str, what: &str) -> Outcome {
        let seconds = self.settings.retry.retry_after_seconds;
        let mut problem = Problem::new(
            503,
            "busy",
            title,
            format!("the {what} did not answer in time; retry after {seconds} s"),
        );
        problem.instance = request.request_id.clone();
        HttpResponse::problem(problem)
            .with_header("retry-after", seconds.to_string())
            .into()
    }

    fn store_failure(&self, request: &HttpRequest, error: &StoreError) -> Outcome {
        tracing::error!(error = %error_chain(error), request_id = %request.request_id, "ledger store failure");
        internal_error(request).into()
    }

    /// An append that ended without a confirmed outcome: 503 with `Retry-After` when retrying
    /// later can help, 500 otherwise. Either way the answer says the outcome is unknown and that
    /// a retry with the same id is safe, and one `APPEND_FAILED` audit event records it.
    async fn unconfirmed(
        &self,
        request: &HttpRequest,
        signal_id: &SignalId,
        why: Unconfirmed,
    ) -> Outcome {
        let seconds = self.settings.retry.retry_after_seconds;
        let (mut problem, retries, cause) = match why {
            Unconfirmed::Busy { retries, why } => {
                tracing::warn!(
                    error = %why,
                    retries,
                    request_id = %request.request_id,
                    "gave up appending (attempts or deadline exhausted); answering 503"
                );
                let problem = Problem::new(
                    503,
                    "outcome-unknown",
                    "Outcome unknown",
                    format!(
                        "the ledger did not confirm the append in time, so whether signal {signal_id} was stored is unknown; \
                         retry after {seconds} s with the same request (the same signal_id): a retry is safe and never stores the signal twice"
                    ),
                );
                (problem, Some(retries), "busy")
            }
            Unconfirmed::Failed(why) => {
                tracing::error!(error = %why, request_id = %request.request_id, "append failed");
                let mut problem = internal_problem(request);
                problem.detail = format!(
                    "the signal could not be processed, and whether signal {signal_id} was stored is unknown; \
                     retry later with the same request (the same signal_id): a retry is safe and never stores the signal twice"
                );
                (problem, None, "failed")
            }
        };
        let status = problem.status;
        let event = self
            .event(request, AuditEventType::AppendFailed)
            .signal(signal_id.as_str(), None)
            .reason(problem.detail.clone())
            .excerpt(&request.body)
            .details(json!({"cause": cause, "retries": retries}));
        let mut metrics = Vec::new();
        if let Some(retries) = retries.filter(|r| *r > 0) {
            metrics.push(Metric::count(metric::APPEND_RETRIES, u64::from(retries)));
        }
        problem.status = status;
        let mut outcome = self.refusal(request, problem, event, metrics).await;
        if status == 503 {
            outcome
                .response
                .headers
                .push(("retry-after", seconds.to_string()));
        }
        outcome
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
                details: json!({"method": shown(&request.method), "path": shown(&request.path)}),
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
        self.event.bounded()
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

/// What a refused body was meant to be.
#[derive(Debug, Clone, Copy)]
pub(super) enum Body {
    Signal,
    Receipt,
}

impl Body {
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Body::Signal => ("signal", "invalid-signal", "Invalid signal"),
            Body::Receipt => ("receipt", "invalid-receipt", "Invalid receipt"),
        }
    }
}

/// The 400 problem, audit reason and audit details of a refused body: malformed JSON, or the
/// broken rules (at most the first ones listed, the rest counted in `errors_omitted`).
pub(super) fn rejection_problem(
    rejection: Rejection,
    body: Body,
) -> (Problem, String, serde_json::Value) {
    let (subject, kind, title) = body.names();
    match rejection {
        Rejection::MalformedJson {
            line,
            column,
            message,
        } => {
            let detail =
                format!("the body is not valid JSON: {message} at line {line}, column {column}");
            let mut problem = Problem::new(400, "malformed-json", "Malformed JSON", detail.clone());
            problem.errors = Some(json!([{"field": "body", "rule": "json", "message": detail}]));
            (problem, detail, json!({"line": line, "column": column}))
        }
        Rejection::Invalid { problems, omitted } => {
            let mut fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
            fields.dedup();
            let more = match omitted {
                0 => String::new(),
                n => format!(" (the first {} are listed; {n} more)", problems.len()),
            };
            let detail = bounded_text(
                &format!(
                    "the {subject} breaks {} rule(s){more}, on: {}",
                    problems.len() + omitted,
                    fields.join(", ")
                ),
                MAX_REASON_BYTES,
            );
            let mut problem = Problem::new(400, kind, title, detail.clone());
            problem.errors = Some(json!(problems));
            problem.extensions.push(("errors_omitted", json!(omitted)));
            let details = json!({"problems": problems, "problems_omitted": omitted});
            (problem, detail, details)
        }
    }
}

/// The checks every JSON body passes before validation (size, content encoding, content
/// type): the problem, the audit reason and details of the first one broken, if any. `what`
/// names the document ("signal", "receipt").
fn transport_problem(
    request: &HttpRequest,
    headers: &RequestHeaders,
    what: &str,
) -> Option<(Problem, String, serde_json::Value)> {
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
        return Some((problem, detail, json!({"body_bytes": request.body.len()})));
    }
    if let Some(encoding) = headers
        .all("content-encoding")
        .find(|value| !is_identity(value))
    {
        let encoding = shown(encoding);
        let detail = format!(
            "the content encoding is {encoding:?}; send the {what} uncompressed (no Content-Encoding, or identity)"
        );
        let problem = Problem::new(
            415,
            "unsupported-content-encoding",
            "Unsupported content encoding",
            detail.clone(),
        );
        return Some((problem, detail, json!({"content_encoding": encoding})));
    }
    if !is_json(request.content_type.as_deref()) {
        let shown = request
            .content_type
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), shown);
        let detail = format!(
            "the content type is {shown:?}; send the {what} as JSON with content-type: application/json"
        );
        let problem = Problem::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            detail.clone(),
        );
        return Some((problem, detail, json!({"content_type": shown})));
    }
    None
}

fn internal_problem(request: &HttpRequest) -> Problem {
    let mut problem = Problem::new(
        500,
        "internal",
        "Internal error",
        "the request could not be processed; retry later with the same request",
    );
    problem.instance = request.request_id.clone();
    problem
}

fn internal_error(request: &HttpRequest) -> HttpResponse {
    HttpResponse::problem(internal_problem(request))
}

/// The append was refused as a whole (its audit record could not be written): nothing stored.
fn not_stored(request: &HttpRequest) -> HttpResponse {
    let mut problem = internal_problem(request);
    problem.detail =
        "the signal could not be processed and was NOT stored; retry later with the same signal_id"
            .into();
    HttpResponse::problem(problem)
}

impl From<StoreError> for Unconfirmed {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Busy(_) => Unconfirmed::Busy {
                retries: 0,
                why: error_chain(&error),
            },
            _ => Unconfirmed::Failed(error_chain(&error)),
        }
    }
}

/// At most [`MAX_SHOWN_CHARS`] characters of a caller-chosen text (method, path, header).
fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_SHOWN_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// An empty `Content-Encoding` or `identity` (any case): the body is as sent.
fn is_identity(value: &str) -> bool {
    value
        .split(',')
        .all(|coding| coding.trim().is_empty() || coding.trim().eq_ignore_ascii_case("identity"))
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

/// Strict RFC 3986 percent-decoding: `%` must be followed by exactly two hex digits (no sign,
/// no space); anything else means the segment does not decode.
fn percent_decode(segment: &str) -> Option<String> {
    let mut out = Vec::with_capacity(segment.len());
    let mut bytes = segment.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let high = hex_digit(bytes.next()?)?;
            let low = hex_digit(bytes.next()?)?;
            out.push(high << 4 | low);
        } else {
            out.push(byte);
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

pub use crate::ports::error_chain;

#[path = "ingest_group_commit.rs"]
mod group_commit;
pub use group_commit::PHASES_TARGET;

#[path = "ingest_receipts.rs"]
mod receipts;

#[path = "ingest_proofs.rs"]
mod proofs;
pub use proofs::{SWEEP_SCHEDULE, next_sweep};

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
