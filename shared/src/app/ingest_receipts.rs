//! `POST /signals/{signal_id}/receipts`: a subscriber's delivery receipt (DESIGN.md "Ingest HTTP
//! contract"), a child of the ingest service sharing its limits, problem+json answers and audit.
//!
//! Promises:
//! - a receipt is recorded at most once per (signal, subscriber): the receipt and its
//!   `RECEIPT_RECORDED` audit event (with the receipt hash) are one conditional write, both or
//!   neither; the same receipt again answers 200 with the stored one, a different
//!   `delivered_at` 409;
//! - a receipt for an unknown signal is 404, one delivered before the signal was generated or
//!   beyond the allowed clock skew is 400 — each refusal audited once (`RECEIPT_REJECTED`);
//! - a recorded receipt emits `SignalClientDeliveryLatency` (`delivered_at − generated_at`, ms);
//! - a write without a confirmed outcome answers 503 (busy, `Retry-After`) or 500, says a retry
//!   is safe, and is audited (`APPEND_FAILED`, kind `receipt`).

use serde_json::json;

use super::{
    Body, Budget, Ingest, Outcome, internal_problem, metric, rejection_problem, transport_problem,
};
use crate::app::http::{HttpRequest, HttpResponse, Problem, RequestHeaders};
use crate::app::proofs::ProofSource;
use crate::domain::audit::AuditEventType;
use crate::domain::entry::StoredEntry;
use crate::domain::receipt::{Receipt, ReceiptRequest, StoredReceipt, validate_receipt};
use crate::domain::signal::SignalId;
use crate::ports::{AuditSink, Clock, LedgerStore, Metric, MetricsSink, ReceiptError, StoreError};

/// A refusal found by a step: answered with its problem and audited once.
struct Refused {
    problem: Problem,
    reason: String,
    details: serde_json::Value,
}

/// Why a step ended the request early.
enum Early {
    Refused(Box<Refused>),
    /// Already answered (a store failure or an unconfirmed outcome, audited where it happened).
    Answered(Outcome),
}

impl Early {
    fn refused(problem: Problem, reason: String, details: serde_json::Value) -> Early {
        Early::Refused(Box::new(Refused {
            problem,
            reason,
            details,
        }))
    }
}

impl<S: LedgerStore, A: AuditSink, C: Clock, M: MetricsSink, P: ProofSource> Ingest<S, A, C, M, P> {
    pub(super) async fn post_receipt(
        &self,
        request: &HttpRequest,
        headers: &RequestHeaders,
        id: &str,
        budget: &Budget,
    ) -> Outcome {
        let steps = async {
            let (signal_id, signal) = self.receipt_signal(request, headers, id, budget).await?;
            let wanted = self.receipt_request(request, &signal)?;
            Ok(self
                .record_receipt(request, &signal_id, &signal, wanted, budget)
                .await)
        };
        match steps.await {
            Ok(outcome) | Err(Early::Answered(outcome)) => outcome,
            Err(Early::Refused(refused)) => self.refuse_receipt(request, id, *refused).await,
        }
    }

    /// Step 1: the transport checks, the path's signal id and the stored signal it names.
    async fn receipt_signal(
        &self,
        request: &HttpRequest,
        headers: &RequestHeaders,
        id: &str,
        budget: &Budget,
    ) -> Result<(SignalId, StoredEntry), Early> {
        if let Some((problem, reason, details)) = transport_problem(request, headers, "receipt") {
            return Err(Early::refused(problem, reason, details));
        }
        let signal_id = super::path_signal_id(id).map_err(|refused| {
            let (problem, detail) = *refused;
            Early::refused(problem, detail, json!({}))
        })?;
        match budget.call(self.store.find_by_signal_id(&signal_id)).await {
            Ok(Ok(Some(signal))) => Ok((signal_id, signal)),
            Ok(Ok(None)) => {
                let detail = format!(
                    "no signal with signal_id {:?} is stored; a receipt needs the signal first",
                    signal_id.as_str()
                );
                let problem =
                    Problem::new(404, "signal-not-found", "Signal not found", detail.clone());
                Err(Early::refused(problem, detail, json!({})))
            }
            Ok(Err(error)) => Err(Early::Answered(self.store_failure(request, &error))),
            Err(late) => Err(Early::Answered(
                self.receipt_unconfirmed(request, &signal_id, true, late.to_string())
                    .await,
            )),
        }
    }

    /// Step 2: the body, validated against the signal (never delivered before it was generated).
    fn receipt_request(
        &self,
        request: &HttpRequest,
        signal: &StoredEntry,
    ) -> Result<ReceiptRequest, Early> {
        let generated_at = signal.entry.content.generated_at;
        let now = self.clock.now();
        validate_receipt(&request.body, generated_at, &self.settings.rules, now).map_err(
            |rejection| {
                let (problem, detail, details) = rejection_problem(rejection, Body::Receipt);
                Early::refused(problem, detail, details)
            },
        )
    }

    /// Step 3: the receipt and its audit event, one conditional write; a taken pair is a replay.
    async fn record_receipt(
        &self,
        request: &HttpRequest,
        signal_id: &SignalId,
        signal: &StoredEntry,
        wanted: ReceiptRequest,
        budget: &Budget,
    ) -> Outcome {
        let stored = StoredReceipt::seal(Receipt::assemble(
            signal,
            wanted.clone(),
            self.clock.now(),
            request.actor.clone(),
        ));
        let audit = self
            .event(request, AuditEventType::ReceiptRecorded)
            .signal(signal_id.as_str(), Some(signal.entry.chain_index))
            .reason(format!(
                "delivery receipt of subscriber {} recorded",
                stored.receipt.subscriber
            ))
            .details(receipt_details(&stored))
            .build();
        match budget
            .call(self.store.record_receipt(&stored, &audit))
            .await
        {
            Ok(Ok(())) => recorded(&stored),
            Ok(Err(ReceiptError::Taken(_))) => {
                self.receipt_replay(request, signal, &wanted, budget).await
            }
            Ok(Err(ReceiptError::AuditWriteFailed(source))) => {
                tracing::error!(
                    error = %super::error_chain(source.as_ref()),
                    request_id = %request.request_id,
                    "the audit record of a receipt could not be written; the receipt was not recorded"
                );
                let mut problem = internal_problem(request);
                problem.detail = "the receipt could not be processed and was NOT recorded; retry later with the same request".into();
                Outcome {
                    response: HttpResponse::problem(problem),
                    metrics: vec![Metric::count(metric::AUDIT_WRITE_ERRORS, 1)],
                }
            }
            Ok(Err(ReceiptError::Store(error @ StoreError::Busy(_)))) => {
                self.receipt_unconfirmed(request, signal_id, true, super::error_chain(&error))
                    .await
            }
            Ok(Err(ReceiptError::Store(error))) => {
                self.receipt_unconfirmed(request, signal_id, false, super::error_chain(&error))
                    .await
            }
            Err(late) => {
                self.receipt_unconfirmed(request, signal_id, true, late.to_string())
                    .await
            }
        }
    }

    /// A refused receipt: the problem answered, audited once as `RECEIPT_REJECTED`.
    async fn refuse_receipt(&self, request: &HttpRequest, id: &str, refused: Refused) -> Outcome {
        let bounded_id: String = id.chars().take(128).collect();
        let event = self
            .event(request, AuditEventType::ReceiptRejected)
            .signal(&bounded_id, None)
            .reason(refused.reason)
            .excerpt(&request.body)
            .details(refused.details);
        self.refusal(
            request,
            refused.problem,
            event,
            vec![Metric::count(metric::RECEIPTS_REJECTED, 1)],
        )
        .await
    }

    /// The (signal, subscriber) pair already has a receipt: 200 with it when it says the same,
    /// 409 otherwise.
    async fn receipt_replay(
        &self,
        request: &HttpRequest,
        signal: &StoredEntry,
        wanted: &ReceiptRequest,
        budget: &Budget,
    ) -> Outcome {
        let signal_id = &signal.entry.signal_id;
        let existing = match budget
            .call(self.store.receipt(signal_id, &wanted.subscriber))
            .await
        {
            Ok(Ok(Some(existing))) => existing,
            Ok(Ok(None)) => {
                let why = format!(
                    "the receipt of {} for {signal_id} is taken, but cannot be read",
                    wanted.subscriber
                );
                return self
                    .receipt_unconfirmed(request, signal_id, false, why)
                    .await;
            }
            Ok(Err(error)) => {
                let busy = matches!(error, StoreError::Busy(_));
                return self
                    .receipt_unconfirmed(request, signal_id, busy, super::error_chain(&error))
                    .await;
            }
            Err(late) => {
                return self
                    .receipt_unconfirmed(request, signal_id, true, late.to_string())
                    .await;
            }
        };
        if existing.receipt.same_request(wanted) {
            return HttpResponse::json(200, &existing).into();
        }
        let detail = format!(
            "subscriber {} already has a receipt for signal {signal_id:?} (delivered_at {}); receipts are immutable",
            existing.receipt.subscriber, existing.receipt.delivered_at
        );
        let problem = Problem::new(
            409,
            "conflicting-receipt",
            "Conflicting receipt",
            detail.clone(),
        );
        let event = self
            .event(request, AuditEventType::ReceiptRejected)
            .signal(signal_id.as_str(), Some(signal.entry.chain_index))
            .reason(detail)
            .excerpt(&request.body)
            .details(json!({"receipt_hash": existing.receipt_hash}));
        self.refusal(
            request,
            problem,
            event,
            vec![Metric::count(metric::RECEIPTS_REJECTED, 1)],
        )
        .await
    }

    /// A receipt write without a confirmed outcome: 503 + `Retry-After` when `busy`, else 500;
    /// audited once as `APPEND_FAILED` of kind `receipt`.
    async fn receipt_unconfirmed(
        &self,
        request: &HttpRequest,
        signal_id: &SignalId,
        busy: bool,
        why: String,
    ) -> Outcome {
        let seconds = self.settings.retry.retry_after_seconds;
        tracing::warn!(error = %why, busy, request_id = %request.request_id, "receipt not confirmed");
        let retry = "a retry with the same request is safe and never records the receipt twice";
        let problem = if busy {
            Problem::new(
                503,
                "outcome-unknown",
                "Outcome unknown",
                format!(
                    "the ledger did not confirm the receipt for signal {signal_id} in time; retry after {seconds} s: {retry}"
                ),
            )
        } else {
            let mut problem = internal_problem(request);
            problem.detail = format!(
                "the receipt for signal {signal_id} could not be processed; retry later: {retry}"
            );
            problem
        };
        let event = self
            .event(request, AuditEventType::AppendFailed)
            .signal(signal_id.as_str(), None)
            .reason(problem.detail.clone())
            .excerpt(&request.body)
            .details(json!({"kind": "receipt", "cause": if busy { "busy" } else { "failed" }}));
        let mut outcome = self.refusal(request, problem, event, Vec::new()).await;
        if busy {
            outcome
                .response
                .headers
                .push(("retry-after", seconds.to_string()));
        }
        outcome
    }
}

/// What the `RECEIPT_RECORDED` audit event says about the receipt: every field and its hash,
/// so that the audit log alone can rebuild and check each receipt (`docs/ledger-format.md`).
pub(crate) fn receipt_details(stored: &StoredReceipt) -> serde_json::Value {
    let receipt = &stored.receipt;
    json!({
        "receipt_hash": stored.receipt_hash,
        "subscriber": receipt.subscriber,
        "generated_at": receipt.generated_at,
        "delivered_at": receipt.delivered_at,
        "recorded_at": receipt.recorded_at,
        "client_latency_ms": receipt.client_latency_ms,
    })
}

fn recorded(stored: &StoredReceipt) -> Outcome {
    let metrics = vec![
        Metric::count(metric::RECEIPTS_RECORDED, 1),
        Metric::millis(
            metric::SIGNAL_CLIENT_DELIVERY_LATENCY,
            stored.receipt.client_latency_ms,
        ),
    ];
    Outcome {
        response: HttpResponse::json(201, stored),
        metrics,
    }
}
