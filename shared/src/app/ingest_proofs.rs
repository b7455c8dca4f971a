//! The read-only proof routes of the ingest function URL (`docs/ledger-format.md` section 13,
//! `docs/openapi.yaml`), a child of the ingest service sharing its limits, problem+json answers
//! and audit:
//! - `GET /checkpoint` → 200 the latest trusted note as stored (`text/plain`), 404 before one;
//! - `GET /signals/{signal_id}/proof[?tree_size=N]` → 200 [`InclusionProofDocument`]; 404 for an
//!   unknown signal or a size no trusted checkpoint has; 409 when no checkpoint covers the entry
//!   yet (with when the next sweep runs); 400 for a malformed query or a `tree_size` at or below
//!   the entry's chain index;
//! - `GET /proofs/consistency?from=M&to=N` → 200 [`ConsistencyProofDocument`] (`M = N`: an empty
//!   proof, section 5); 400 for a malformed query, `from = 0` or `from > to`; 404 for a size no
//!   trusted checkpoint has.
//!
//! Promises: nothing is written but audit events; every 200 is audited first as `RECORDS_READ`
//! (actor, route, what was read) and is not given when that write fails (503); a refused query is
//! audited once like every refusal.

use serde_json::json;
use time::Duration;

use super::{Budget, EventBuilder, Ingest, Outcome, error_chain, internal_error, metric};
use crate::app::http::{HttpRequest, HttpResponse, Problem};
use crate::app::proofs::{ProofSource, ProofsError};
use crate::domain::audit::{AuditEventType, MAX_REASON_BYTES, bounded_text};
use crate::domain::proof::{ConsistencyProofDocument, InclusionProofDocument};
use crate::domain::timestamp::Timestamp;
use crate::ports::{AuditSink, Clock, LedgerStore, Metric, MetricsSink};

/// The incremental sweep's schedule in `template.yaml` (checked by `ledgerctl/tests/template.rs`):
/// at minute 0 of every hour, UTC. An entry appended now is covered after the next run.
pub const SWEEP_SCHEDULE: &str = "cron(0 * * * ? *)";

/// When the next incremental sweep starts after `now`: the next full hour (UTC).
pub fn next_sweep(now: &Timestamp) -> Timestamp {
    let at = now.as_datetime();
    let hour_start = at
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(at);
    Timestamp::from_datetime(hour_start + Duration::hours(1)).unwrap_or(*now)
}

/// A refused query parameter: its name, a rule code of the `FieldProblem` list, the message.
type QueryProblem = (&'static str, &'static str, String);

/// A query string's parameters, each at most once, only the allowed names, decimal values.
fn query_numbers(query: &str, allowed: &[&'static str]) -> Result<Vec<Option<u64>>, QueryProblem> {
    let mut values: Vec<Option<u64>> = vec![None; allowed.len()];
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let shown_name: String = name.chars().take(32).collect();
        let Some((field, slot)) = allowed
            .iter()
            .zip(values.iter_mut())
            .find(|(allowed, _)| **allowed == name)
        else {
            let takes = if allowed.is_empty() {
                "no query parameters".to_owned()
            } else {
                allowed.join(" and ")
            };
            return Err((
                "query",
                "unknown_field",
                format!("unknown query parameter {shown_name:?}; this route takes {takes}"),
            ));
        };
        if slot.is_some() {
            return Err((
                field,
                "duplicate_field",
                format!("query parameter {field} is given twice"),
            ));
        }
        let canonical = !value.is_empty()
            && value.bytes().all(|b| b.is_ascii_digit())
            && (value == "0" || !value.starts_with('0'));
        let number = value.parse::<u64>().ok().filter(|_| canonical);
        let shown_value: String = value.chars().take(32).collect();
        *slot = Some(number.ok_or_else(|| {
            (
                *field,
                "type",
                format!(
                    "{field}={shown_value:?} is not a tree size (a decimal number below 2^64, without sign or leading zeros)"
                ),
            )
        })?);
    }
    Ok(values)
}

impl<S: LedgerStore, A: AuditSink, C: Clock, M: MetricsSink, P: ProofSource> Ingest<S, A, C, M, P> {
    /// Audits a disclosure, then answers it; a disclosure whose audit record cannot be written
    /// is not made (503, retry later).
    pub(super) async fn disclose(
        &self,
        request: &HttpRequest,
        event: EventBuilder,
        response: HttpResponse,
    ) -> Outcome {
        let event = event.build();
        let timeout = self.settings.limits.audit_timeout;
        let written = match tokio::time::timeout(timeout, self.audit.record(&event)).await {
            Ok(written) => written.map_err(|error| error_chain(&error)),
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        };
        match written {
            Ok(()) => response.into(),
            Err(error) => {
                tracing::error!(
                    %error,
                    request_id = %request.request_id,
                    "could not write the audit record of a read; the records were not disclosed"
                );
                let seconds = self.settings.retry.retry_after_seconds;
                let mut problem = Problem::new(
                    503,
                    "read-not-audited",
                    "Read not audited",
                    format!(
                        "every read of records is audited, and this one could not be; nothing was disclosed, retry after {seconds} s"
                    ),
                );
                problem.instance = request.request_id.clone();
                Outcome {
                    response: HttpResponse::problem(problem)
                        .with_header("retry-after", seconds.to_string()),
                    metrics: vec![Metric::count(metric::AUDIT_WRITE_ERRORS, 1)],
                }
            }
        }
    }

    /// A malformed path or query: 400, audited once like every refusal.
    async fn refused(&self, request: &HttpRequest, problem: Problem, detail: &str) -> Outcome {
        let event = self
            .event(request, AuditEventType::UnsupportedRequest)
            .reason(bounded_text(detail, MAX_REASON_BYTES));
        self.refusal(request, problem, event, Vec::new()).await
    }

    async fn bad_query(
        &self,
        request: &HttpRequest,
        (field, rule, detail): QueryProblem,
    ) -> Outcome {
        let mut problem = Problem::new(400, "invalid-query", "Invalid query", detail.clone());
        problem.errors = Some(json!([{"field": field, "rule": rule, "message": detail}]));
        self.refused(request, problem, &detail).await
    }

    /// The answer to a proof that could not be given.
    fn unavailable(&self, request: &HttpRequest, error: &ProofsError) -> Outcome {
        let now = self.clock.now();
        let next = next_sweep(&now);
        let (status, kind, title, detail) = match error {
            ProofsError::NoCheckpoint => (
                404,
                "no-checkpoint",
                "No checkpoint yet",
                format!(
                    "no trusted checkpoint exists yet; the next integrity sweep ({SWEEP_SCHEDULE} UTC) starts at {}",
                    next.as_str()
                ),
            ),
            ProofsError::NotCheckpointed { tree_size } => (
                404,
                "checkpoint-not-found",
                "Checkpoint not found",
                format!(
                    "no trusted checkpoint has tree size {tree_size}; GET /checkpoint gives the latest, and proofs are given only against checkpointed sizes"
                ),
            ),
            ProofsError::NotCovered {
                chain_index,
                tree_size,
            } => (
                409,
                "not-yet-checkpointed",
                "Not yet checkpointed",
                format!(
                    "chain index {chain_index} is not yet covered by a checkpoint (the latest has tree size {tree_size}); the next integrity sweep ({SWEEP_SCHEDULE} UTC) starts at {} and will cover it",
                    next.as_str()
                ),
            ),
            ProofsError::NotConfigured => (
                503,
                "proofs-not-configured",
                "Proofs not configured",
                "this function has no vault to read proofs from".to_owned(),
            ),
            ProofsError::Inconsistent(_) | ProofsError::Vault(_) | ProofsError::Trust(_) => {
                tracing::error!(
                    error = %error_chain(error),
                    request_id = %request.request_id,
                    "cannot give a proof"
                );
                return internal_error(request).into();
            }
        };
        let mut problem = Problem::new(status, kind, title, detail);
        problem.instance = request.request_id.clone();
        let mut response = HttpResponse::problem(problem);
        if matches!(
            error,
            ProofsError::NoCheckpoint | ProofsError::NotCovered { .. }
        ) {
            let seconds = (next.as_datetime() - now.as_datetime())
                .whole_seconds()
                .max(1);
            response = response
                .with_header("retry-after", seconds.to_string())
                .with_header("x-next-sweep-at", next.as_str().to_owned());
        }
        response.into()
    }

    fn late(&self, request: &HttpRequest) -> Outcome {
        self.not_in_time(request, "Vault busy", "vault")
    }

    pub(super) async fn get_checkpoint(
        &self,
        request: &HttpRequest,
        query: &str,
        budget: &Budget,
    ) -> Outcome {
        if let Err(problem) = query_numbers(query, &[]) {
            return self.bad_query(request, problem).await;
        }
        let note = match budget.call(self.proofs.latest_note()).await {
            Ok(Ok(note)) => note,
            Ok(Err(error)) => return self.unavailable(request, &error),
            Err(_) => return self.late(request),
        };
        let tree_size = note.lines().nth(1).unwrap_or_default().to_owned();
        let event = self.event(request, AuditEventType::RecordsRead).details(
            json!({"route": "GET /checkpoint", "read": "checkpoint", "tree_size": tree_size}),
        );
        let response = HttpResponse {
            status: 200,
            headers: vec![("content-type", "text/plain; charset=utf-8".to_owned())],
            body: note.into_bytes(),
        };
        self.disclose(request, event, response).await
    }

    pub(super) async fn get_proof(
        &self,
        request: &HttpRequest,
        id: &str,
        query: &str,
        budget: &Budget,
    ) -> Outcome {
        let signal_id = match super::path_signal_id(id) {
            Ok(signal_id) => signal_id,
            Err(refused) => {
                let (problem, detail) = *refused;
                return self.refused(request, problem, &detail).await;
            }
        };
        let tree_size = match query_numbers(query, &["tree_size"]) {
            Ok(values) => values.first().copied().flatten(),
            Err(problem) => return self.bad_query(request, problem).await,
        };
        let stored = match budget.call(self.store.find_by_signal_id(&signal_id)).await {
            Ok(Ok(Some(stored))) => stored,
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
                return HttpResponse::problem(problem).into();
            }
            Ok(Err(error)) => return self.store_failure(request, &error),
            Err(_) => return self.late(request),
        };
        let index = stored.entry.chain_index;
        if let Some(size) = tree_size.filter(|size| *size <= index) {
            return self
                .bad_query(
                    request,
                    ("tree_size", "range", format!(
                        "tree_size {size} does not include chain index {index}: a tree of size {size} holds indexes 0 to {}",
                        size.saturating_sub(1)
                    )),
                )
                .await;
        }
        let inclusion = match budget
            .call(self.proofs.inclusion(index, stored.entry_hash, tree_size))
            .await
        {
            Ok(Ok(inclusion)) => inclusion,
            Ok(Err(error)) => return self.unavailable(request, &error),
            Err(_) => return self.late(request),
        };
        let checkpoint = &inclusion.checkpoint.checkpoint;
        let document = InclusionProofDocument {
            signal_id: signal_id.to_string(),
            chain_index: index,
            entry_hash: stored.entry_hash,
            tree_size: checkpoint.tree_size,
            root: checkpoint.root,
            inclusion_path: inclusion.path.clone(),
            checkpoint: inclusion.checkpoint.to_text(),
        };
        let event = self
            .event(request, AuditEventType::RecordsRead)
            .signal(signal_id.as_str(), Some(index))
            .details(json!({
                "route": "GET /signals/{signal_id}/proof",
                "read": "inclusion_proof",
                "tree_size": checkpoint.tree_size,
                "vault_gets": inclusion.read.gets,
            }));
        self.disclose(request, event, HttpResponse::json(200, &document))
            .await
    }

    pub(super) async fn get_consistency(
        &self,
        request: &HttpRequest,
        query: &str,
        budget: &Budget,
    ) -> Outcome {
        let (from, to) = match query_numbers(query, &["from", "to"]) {
            Ok(values) => match values.as_slice() {
                [Some(from), Some(to)] => (*from, *to),
                _ => {
                    let field = if values.first().copied().flatten().is_none() {
                        "from"
                    } else {
                        "to"
                    };
                    let detail = "both from and to are required: GET /proofs/consistency?from=M&to=N, two checkpointed tree sizes with 0 < M <= N".to_owned();
                    return self.bad_query(request, (field, "required", detail)).await;
                }
            },
            Err(problem) => return self.bad_query(request, problem).await,
        };
        if from == 0 || from > to {
            let detail = if from == 0 {
                "from=0: every tree is consistent with the empty tree, so there is no proof to give (from must be at least 1)".to_owned()
            } else {
                format!(
                    "from={from} is larger than to={to}: a consistency proof goes from an older (smaller) tree to a newer one"
                )
            };
            return self.bad_query(request, ("from", "range", detail)).await;
        }
        let consistency = match budget.call(self.proofs.consistency(from, to)).await {
            Ok(Ok(consistency)) => consistency,
            Ok(Err(error)) => return self.unavailable(request, &error),
            Err(_) => return self.late(request),
        };
        let document = ConsistencyProofDocument {
            from_tree_size: from,
            from_root: consistency.from.checkpoint.root,
            to_tree_size: to,
            to_root: consistency.to.checkpoint.root,
            consistency_path: consistency.path.clone(),
            from_checkpoint: consistency.from.to_text(),
            to_checkpoint: consistency.to.to_text(),
        };
        let event = self
            .event(request, AuditEventType::RecordsRead)
            .details(json!({
                "route": "GET /proofs/consistency",
                "read": "consistency_proof",
                "from": from,
                "to": to,
                "vault_gets": consistency.read.gets,
            }));
        self.disclose(request, event, HttpResponse::json(200, &document))
            .await
    }
}

#[cfg(test)]
#[path = "ingest_proofs_tests.rs"]
mod tests;
