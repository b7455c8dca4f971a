//! Application services: behaviour over the ports (async, but no SDK types), wired to real
//! adapters by the function binaries and to in-memory doubles by tests and benchmarks.

pub mod acknowledge;
pub mod audit_seal;
pub mod backup;
pub mod http;
pub mod ingest;
pub mod produce;
pub mod proofs;
pub mod report;
pub mod sweep;
pub mod tamper_watch;
pub mod trace;
pub mod vault;
pub mod verify_backup;
pub mod verify_evidence;

use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::timestamp::Timestamp;
use crate::ports::{AuditSink, Metric, MetricsSink};

/// The audit event of one run of a scheduled job (`actor` is the job's name). Its `chain_index`
/// is the first finding's, when `details` names one (`first_failure.index` of the sweep,
/// `first_finding.chain_index` of verify-backup).
pub(crate) fn run_event(
    actor: &str,
    event_type: AuditEventType,
    request_id: &str,
    reason: String,
    details: serde_json::Value,
    occurred_at: Timestamp,
) -> AuditEvent {
    AuditEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at,
        event_type,
        actor: actor.to_owned(),
        request_id: request_id.to_owned(),
        signal_id: None,
        chain_index: details
            .pointer("/first_failure/index")
            .or_else(|| details.pointer("/first_finding/chain_index"))
            .and_then(serde_json::Value::as_u64),
        reason: Some(reason),
        excerpt: None,
        details,
    }
}

/// Records a job's audit event. A failure to record is logged with its cause and counted
/// (`AuditWriteErrors`, alarmed), never dropped silently; the job's own result stands.
pub(crate) async fn record_run(
    audit: &impl AuditSink,
    metrics: &impl MetricsSink,
    event: &AuditEvent,
) {
    if let Err(error) = audit.record(event).await {
        tracing::error!(
            error = %ingest::error_chain(&error),
            actor = %event.actor,
            event_type = %event.event_type,
            "could not write the audit event of the run"
        );
        metrics.emit(&[Metric::count(ingest::metric::AUDIT_WRITE_ERRORS, 1)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{InMemoryLedger, RecordingMetrics};
    use crate::domain::test_support::timestamp;

    #[tokio::test]
    async fn a_run_event_that_cannot_be_written_is_counted_not_dropped() {
        let ledger = InMemoryLedger::new();
        let metrics = RecordingMetrics::default();
        let event = run_event(
            "backup",
            AuditEventType::BackupSucceeded,
            "req-1",
            "backup 20261128 stored".into(),
            serde_json::json!({}),
            timestamp("2026-11-28T02:00:00Z"),
        );
        record_run(&ledger.audit_sink(), &metrics, &event).await;
        assert_eq!(metrics.total(ingest::metric::AUDIT_WRITE_ERRORS), 0.0);
        assert_eq!(ledger.audit_events(), vec![event.clone()]);

        ledger.fail_audit_writes(true);
        record_run(&ledger.audit_sink(), &metrics, &event).await;
        assert_eq!(metrics.total(ingest::metric::AUDIT_WRITE_ERRORS), 1.0);
    }
}
