//! The report job over in-memory ports: a report is stored whole and audited, and an audit write
//! that fails is counted.

use super::*;
use crate::adapters::memory::{
    FixedClock, InMemoryAlarms, InMemoryAuditSink, InMemoryLedger, InMemoryTables, InMemoryVault,
    RecordingMetrics, SoftwareSigner,
};
use crate::domain::hash::Hash;
use crate::domain::test_support::{chain, insert_event, timestamp};

type Job = ReportJob<
    InMemoryLedger,
    InMemoryVault,
    InMemoryAuditSink,
    InMemoryTables,
    InMemoryAlarms,
    SoftwareSigner,
    FixedClock,
    RecordingMetrics,
>;

struct Fixture {
    ledger: InMemoryLedger,
    vault: InMemoryVault,
    metrics: RecordingMetrics,
    job: Job,
}

impl Fixture {
    async fn new() -> Fixture {
        let ledger = InMemoryLedger::new();
        for stored in chain(5) {
            ledger
                .append(&stored, &insert_event(&stored))
                .await
                .unwrap();
        }
        let vault = InMemoryVault::new();
        let metrics = RecordingMetrics::default();
        let job = ReportJob::new(
            ReportSources {
                store: ledger.clone(),
                vault: vault.clone(),
                audit: ledger.audit_sink(),
                tables: InMemoryTables,
                alarms: InMemoryAlarms::default(),
                keys: SoftwareSigner::from_secret("alias/test-signing", [7; 32]),
            },
            FixedClock::new(timestamp("2026-11-29T04:00:00Z")),
            metrics.clone(),
            ReportSettings {
                signals_table: "t-signals".into(),
                audit_table: "t-audit".into(),
                vault_bucket: "t-vault".into(),
                retention_days: 1,
                metrics_namespace: "SignalLedger".into(),
                url_expiry: Duration::from_secs(600),
                alarm_name_prefix: None,
                trust: CheckpointTrust::new("signal-ledger:t-signals", None, &[]),
            },
        );
        Fixture {
            ledger,
            vault,
            metrics,
            job,
        }
    }

    async fn run(&self) -> Result<ReportOutcome, ReportError> {
        let request: PeriodRequest = serde_json::from_value(json!({})).unwrap();
        self.job.run(&request, "t").await
    }
}

#[tokio::test]
async fn a_report_is_stored_as_json_and_html_and_audited() {
    let fixture = Fixture::new().await;
    let outcome = fixture.run().await.unwrap();
    assert!(outcome.json.key.ends_with(".json") && outcome.html.key.ends_with(".html"));
    let keys = fixture.vault.keys();
    assert!(keys.contains(&outcome.json.key) && keys.contains(&outcome.html.key));
    let events = fixture.ledger.audit_events();
    let last = events.last().unwrap();
    assert_eq!(last.event_type, AuditEventType::ReportGenerated);
    assert_eq!(last.actor, "report");
    // The presigned links are an access event naming both objects (who read what).
    let read = &events[events.len() - 2];
    assert_eq!(read.event_type, AuditEventType::RecordsRead);
    let details = serde_json::to_string(&read.details).unwrap();
    assert!(
        details.contains(&outcome.json.key) && details.contains(&outcome.html.key),
        "{details}"
    );
    assert_eq!(fixture.metrics.total(metric::REPORTS_GENERATED), 1.0);
}

#[tokio::test]
async fn each_run_records_its_reports_hashes_in_a_record_of_its_own() {
    use crate::domain::report::record::ReportRecord;
    let fixture = Fixture::new().await;
    let first = fixture.run().await.unwrap();
    let record = ReportRecord::parse(
        &fixture
            .vault
            .latest(&first.record)
            .expect("the record is stored"),
    )
    .unwrap();
    assert_eq!(record.objects.len(), 2);
    for (stored, recorded) in [&first.json, &first.html].into_iter().zip(&record.objects) {
        let bytes = fixture.vault.latest(&stored.key).unwrap();
        assert_eq!(recorded.key, stored.key);
        assert_eq!(recorded.version_id, stored.version_id);
        assert_eq!(recorded.sha256, Hash::sha256(&bytes));
        assert_eq!(recorded.bytes, bytes.len() as u64);
    }
    let listed = vault::list_originals(&fixture.vault, &first.record)
        .await
        .unwrap();
    let protection = fixture
        .vault
        .protection(&first.record, listed[0].version_id())
        .await
        .unwrap();
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    // The audit event names the record too.
    let details =
        serde_json::to_string(&fixture.ledger.audit_events().last().unwrap().details).unwrap();
    assert!(details.contains(&first.record), "{details}");
}

#[tokio::test]
async fn a_report_audit_event_that_cannot_be_written_is_counted() {
    use crate::app::ingest::metric::AUDIT_WRITE_ERRORS;
    let fixture = Fixture::new().await;
    fixture.ledger.fail_audit_writes(true);
    fixture.run().await.unwrap();
    // The access event of the presigned links and REPORT_GENERATED: both counted.
    assert_eq!(fixture.metrics.total(AUDIT_WRITE_ERRORS), 2.0);
}
