//! The compliance report job (the seed's `generate_compliance_report`): gathers the evidence the
//! other jobs recorded — ledger entries, audit events, backup manifests and verification results,
//! sweep records and checkpoints, table settings and alarms — hands it to the pure aggregation in
//! `domain::report`, and stores the JSON and HTML reports COMPLIANCE-locked in the vault.
//!
//! Promises: memory stays bounded whatever the ledger's size (entries and audit events are
//! visited a page at a time and folded into accumulators); a report is only stored whole (JSON
//! first, then HTML, each a single locked write); every run is audited, and a run that cannot
//! gather its evidence fails loudly rather than reporting on half of it.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::app::sweep::{RUN_PREFIX, SweepRecord, SweepStatus};
use crate::app::vault::{self, CheckpointTrust, lock_seen};
use crate::app::verify_backup::{VERIFICATION_PREFIX, VerificationResult};
use crate::domain::audit::AuditEventType;
use crate::domain::checkpoint::Signature;
use crate::domain::report::record::{
    REPORT_RECORD_FORMAT, RecordedObject, ReportRecord, record_key,
};
use crate::domain::report::{
    AlarmsEvidence, AuditAccumulator, BackupObservation, CheckpointSummary, ComplianceReport,
    LatencyAccumulator, LedgerState, Period, PeriodChainCheck, PeriodError, PeriodRequest,
    ReportInputs, SweepSummary, TableRole, Verdict, VerificationSummary, render_html,
};
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AlarmReader, AuditLog, AuditSink, BlobVault, Clock, LedgerStore, Metric, MetricsSink,
    ObjectVersion, Presigner, PublicKeys, StoreError, TableInspector, VaultError,
};

/// Where reports live in the vault: `reports/YYYY/MM/compliance-report-<period>.{json,html}`.
pub const REPORT_PREFIX: &str = "reports/";

/// Entries are appended in `received_at` order except for the few seconds an append may spend
/// retrying; the search for a period's first entry starts this much earlier to be safe.
const RECEIVED_AT_SKEW_SECONDS: i64 = 300;

/// Entries read per page while scanning a period.
const PAGE_SIZE: u32 = 500;

pub mod metric {
    pub const REPORTS_GENERATED: &str = "ComplianceReportsGenerated";
    pub const REPORT_FAILED_SECTIONS: &str = "ComplianceReportFailedSections";
    pub const REPORT_DURATION: &str = "ComplianceReportDuration";
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("invalid report period: {0}")]
    Period(#[from] PeriodError),
    #[error("the ledger or audit store failed")]
    Store(#[from] StoreError),
    #[error("the vault failed")]
    Vault(#[from] VaultError),
    #[error("cannot read {key}: {reason}")]
    Record { key: String, reason: String },
    #[error("cannot load the trusted checkpoint keys")]
    Trust(#[from] vault::TrustError),
}

/// What the job needs besides its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
    pub signals_table: String,
    pub audit_table: String,
    pub vault_bucket: String,
    pub retention_days: u32,
    pub metrics_namespace: String,
    pub url_expiry: Duration,
    pub alarm_name_prefix: Option<String>,
    /// Which checkpoints count as trusted.
    pub trust: CheckpointTrust,
}

/// One stored report object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredReport {
    pub key: String,
    pub version_id: String,
    pub sha256: String,
    pub retain_until: Timestamp,
    /// A presigned GET of exactly this version.
    pub download_url: String,
}

/// The function's answer.
#[derive(Debug, Clone, Serialize)]
pub struct ReportOutcome {
    pub period: Period,
    pub overall_verdict: Verdict,
    pub verdicts: serde_json::Map<String, serde_json::Value>,
    pub json: StoredReport,
    pub html: StoredReport,
    /// The key of the report record naming both (ledger-format §12.1).
    pub record: String,
}

/// Everything a report is built from.
struct Evidence {
    inputs: ReportInputs,
    latency: LatencyAccumulator,
    audit: AuditAccumulator,
    chain: PeriodChainCheck,
}

/// The report's two stored renderings.
struct StoredReports {
    json: (StoredReport, RecordedObject),
    html: (StoredReport, RecordedObject),
    /// The key of the run's report record.
    record: String,
}

/// Where the report reads its evidence: the ledger, the vault (which also stores the report and
/// presigns its links), the audit log (also its audit sink), the tables' settings, the alarms,
/// and the public keys that checkpoints are verified with (`None`: signatures are not checked).
#[derive(Debug)]
pub struct ReportSources<S, V, L, T, W, K> {
    pub store: S,
    pub vault: V,
    pub audit: L,
    pub tables: T,
    pub alarms: W,
    pub keys: Option<K>,
}

/// The report job over its ports.
#[derive(Debug)]
pub struct ReportJob<S, V, L, T, W, K, C, M> {
    sources: ReportSources<S, V, L, T, W, K>,
    clock: C,
    metrics: M,
    settings: ReportSettings,
}

impl<S, V, L, T, W, K, C, M> ReportJob<S, V, L, T, W, K, C, M>
where
    S: LedgerStore,
    V: BlobVault + Presigner,
    L: AuditLog + AuditSink,
    T: TableInspector,
    W: AlarmReader,
    K: PublicKeys,
    C: Clock,
    M: MetricsSink,
{
    pub fn new(
        sources: ReportSources<S, V, L, T, W, K>,
        clock: C,
        metrics: M,
        settings: ReportSettings,
    ) -> Self {
        ReportJob {
            sources,
            clock,
            metrics,
            settings,
        }
    }

    /// Builds, stores and audits the report of the requested period.
    pub async fn run(
        &self,
        request: &PeriodRequest,
        request_id: &str,
    ) -> Result<ReportOutcome, ReportError> {
        let started = Instant::now();
        let result = self.generate(request).await;
        match &result {
            Ok(outcome) => {
                let failed = outcome
                    .verdicts
                    .values()
                    .filter(|v| v.as_str() == Some("FAIL"))
                    .count();
                // Who read what: the presigned links disclose the report to whoever holds them.
                self.record(
                    AuditEventType::RecordsRead,
                    request_id,
                    format!(
                        "presigned download links to the {} report created, valid {} s",
                        outcome.period.label(),
                        self.settings.url_expiry.as_secs()
                    ),
                    json!({
                        "read": "report presigned URLs",
                        "objects": [
                            {"key": outcome.json.key, "version_id": outcome.json.version_id},
                            {"key": outcome.html.key, "version_id": outcome.html.version_id},
                        ],
                        "expires_in_seconds": self.settings.url_expiry.as_secs(),
                    }),
                )
                .await;
                self.record(
                    AuditEventType::ReportGenerated,
                    request_id,
                    format!(
                        "compliance report for {} stored: overall {}",
                        outcome.period.label(),
                        verdict_name(outcome.overall_verdict)
                    ),
                    json!({
                        "period": outcome.period,
                        "overall_verdict": outcome.overall_verdict,
                        "verdicts": outcome.verdicts,
                        "json": {"key": outcome.json.key, "version_id": outcome.json.version_id, "sha256": outcome.json.sha256},
                        "html": {"key": outcome.html.key, "version_id": outcome.html.version_id, "sha256": outcome.html.sha256},
                        "record": outcome.record,
                    }),
                )
                .await;
                self.metrics.emit(&[
                    Metric::count(metric::REPORTS_GENERATED, 1),
                    Metric::count(metric::REPORT_FAILED_SECTIONS, failed as u64),
                    Metric::millis(
                        metric::REPORT_DURATION,
                        i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
                    ),
                ]);
            }
            Err(error) => {
                tracing::error!(error = %crate::app::ingest::error_chain(error), "compliance report failed");
                self.record(
                    AuditEventType::ReportFailed,
                    request_id,
                    error.to_string(),
                    json!({"request": request}),
                )
                .await;
            }
        }
        result
    }

    async fn generate(&self, request: &PeriodRequest) -> Result<ReportOutcome, ReportError> {
        let now = self.clock.now();
        let period = request.resolve(now)?;
        let evidence = self.gather(period, now).await?;
        let report = ComplianceReport::build(
            evidence.inputs,
            evidence.latency,
            evidence.audit,
            evidence.chain,
        );
        let stored = self.store(&report, period, now).await?;
        let verdicts = report
            .section_verdicts()
            .into_iter()
            .map(|(name, verdict)| (name.to_owned(), json!(verdict)))
            .collect();
        Ok(ReportOutcome {
            period,
            overall_verdict: report.overall_verdict(),
            verdicts,
            json: stored.json.0,
            html: stored.html.0,
            record: stored.record,
        })
    }

    /// Reads everything the report states about `period`: the ledger's entries (latency and
    /// the report's own chain check), the audit events, the tables, alarms, backups,
    /// verifications, sweeps and the latest checkpoint.
    async fn gather(&self, period: Period, now: Timestamp) -> Result<Evidence, ReportError> {
        let head = self.sources.store.head().await?;
        let ledger = LedgerState {
            tree_size: head.map_or(0, |h| h.chain_index + 1),
            head_hash: head.map(|h| h.entry_hash),
        };

        let mut latency = LatencyAccumulator::new();
        let mut chain = PeriodChainCheck::new();
        self.scan_entries(&period, ledger.tree_size, &mut latency, &mut chain)
            .await?;

        let mut audit = AuditAccumulator::new();
        for day in period.days() {
            let day = day_text(day);
            self.sources
                .audit
                .visit_day(&day, |event| {
                    if period.contains(&event.occurred_at) {
                        audit.add(&event);
                    }
                })
                .await?;
        }

        let tables = vec![
            self.sources
                .tables
                .table_settings(TableRole::Signals, &self.settings.signals_table)
                .await?,
            self.sources
                .tables
                .table_settings(TableRole::Audit, &self.settings.audit_table)
                .await?,
        ];
        let (alarms, alarm_history_unavailable) = self.alarms(&period).await;
        let audit_write_errors = self.audit_write_errors(&period).await;

        let inputs = ReportInputs {
            generated_at: now,
            period,
            signals_table: self.settings.signals_table.clone(),
            audit_table: self.settings.audit_table.clone(),
            vault_bucket: self.settings.vault_bucket.clone(),
            ledger,
            tables,
            audit_write_errors,
            backups: self.backups().await?,
            verifications: self.verifications(&period).await?,
            sweeps: self.sweeps(&period).await?,
            latest_checkpoint: self.latest_checkpoint().await?,
            alarms,
            alarm_history_unavailable,
        };
        Ok(Evidence {
            inputs,
            latency,
            audit,
            chain,
        })
    }

    /// Stores the report as JSON and HTML, locked for the retention period, under
    /// `reports/<YYYY>/<MM>/compliance-report-<period>`.
    async fn store(
        &self,
        report: &ComplianceReport,
        period: Period,
        now: Timestamp,
    ) -> Result<StoredReports, ReportError> {
        let html = render_html(report);
        let json_bytes = report.to_json();
        let base = format!(
            "{REPORT_PREFIX}{}/compliance-report-{}",
            period.from().as_str()[..7].replace('-', "/"),
            period.label()
        );
        let retain_until =
            now.plus_days(self.settings.retention_days)
                .map_err(|e| ReportError::Record {
                    key: base.clone(),
                    reason: e.to_string(),
                })?;
        let json = self
            .store_report(
                format!("{base}.json"),
                json_bytes,
                "application/json",
                retain_until,
            )
            .await?;
        let html = self
            .store_report(
                format!("{base}.html"),
                html.into_bytes(),
                "text/html; charset=utf-8",
                retain_until,
            )
            .await?;
        let record = self
            .store_record(&base, period, now, [&json, &html], retain_until)
            .await?;
        Ok(StoredReports { json, html, record })
    }

    /// Writes the run's report record (ledger-format §12.1) create-only and locked like the
    /// reports: what each report's version, SHA-256 and size were when written, so an exported
    /// report is checked offline without the audit table.
    async fn store_record(
        &self,
        base: &str,
        period: Period,
        now: Timestamp,
        stored: [&(StoredReport, RecordedObject); 2],
        retain_until: Timestamp,
    ) -> Result<String, ReportError> {
        let record = ReportRecord {
            format: REPORT_RECORD_FORMAT.to_owned(),
            period: period.label(),
            generated_at: now,
            objects: stored.iter().map(|(_, object)| object.clone()).collect(),
        };
        let key = record_key(base, &now);
        let written = self
            .sources
            .vault
            .create_locked(&key, record.to_bytes(), "application/json", retain_until)
            .await?;
        Ok(written.key)
    }

    /// The alarms' states and, where the API answers, their history in the period; evidence
    /// that cannot be read is stated as such, not fatal.
    async fn alarms(&self, period: &Period) -> (AlarmsEvidence, Option<String>) {
        let prefix = self.settings.alarm_name_prefix.as_deref();
        let alarms = match self.sources.alarms.alarm_states(prefix).await {
            Ok(alarms) => AlarmsEvidence::Available {
                alarms,
                history: Vec::new(),
            },
            Err(error) => AlarmsEvidence::Unavailable {
                reason: crate::app::ingest::error_chain(error.as_ref()),
            },
        };
        match alarms {
            AlarmsEvidence::Available { alarms, .. } => match self
                .sources
                .alarms
                .alarm_history(prefix, &period.from(), &period.to())
                .await
            {
                Ok(history) => (AlarmsEvidence::Available { alarms, history }, None),
                Err(error) => (
                    AlarmsEvidence::Available {
                        alarms,
                        history: Vec::new(),
                    },
                    Some(crate::app::ingest::error_chain(error.as_ref())),
                ),
            },
            unavailable => (unavailable, None),
        }
    }

    /// The sum of `AuditWriteErrors` over the period; `None` when the metric cannot be read.
    async fn audit_write_errors(&self, period: &Period) -> Option<u64> {
        match self
            .sources
            .alarms
            .metric_sum(
                &self.settings.metrics_namespace,
                crate::app::ingest::metric::AUDIT_WRITE_ERRORS,
                &period.from(),
                &period.to(),
            )
            .await
        {
            Ok(sum) => Some(sum.max(0.0).round() as u64),
            Err(error) => {
                tracing::warn!(error = %crate::app::ingest::error_chain(error.as_ref()), "cannot read the AuditWriteErrors metric");
                None
            }
        }
    }

    /// Feeds every entry received in the period to the accumulators, a page at a time.
    async fn scan_entries(
        &self,
        period: &Period,
        tree_size: u64,
        latency: &mut LatencyAccumulator,
        chain: &mut PeriodChainCheck,
    ) -> Result<(), ReportError> {
        let start_at = Timestamp::from_datetime(
            period.from().as_datetime() - time::Duration::seconds(RECEIVED_AT_SKEW_SECONDS),
        )
        .unwrap_or(period.from());
        let stop_at = Timestamp::from_datetime(
            period.to().as_datetime() + time::Duration::seconds(RECEIVED_AT_SKEW_SECONDS),
        )
        .unwrap_or(period.to());
        let mut next = Some(self.first_index_at_or_after(&start_at, tree_size).await?);
        while let Some(from) = next {
            let page = self.sources.store.read_page(from, PAGE_SIZE).await?;
            next = page.next;
            for item in page.items {
                match item {
                    Ok(stored) => {
                        if stored.entry.received_at >= stop_at {
                            return Ok(());
                        }
                        if period.contains(&stored.entry.received_at) {
                            latency.add(&stored);
                            chain.add(&stored);
                        }
                    }
                    Err(StoreError::Malformed { key, reason }) => chain.add_unreadable(key, reason),
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(())
    }

    /// Binary search for the first entry received at or after `at`. An unreadable entry on the
    /// way ends the search early (the scan then starts lower and reads more, never less).
    async fn first_index_at_or_after(
        &self,
        at: &Timestamp,
        tree_size: u64,
    ) -> Result<u64, ReportError> {
        let (mut low, mut high) = (0, tree_size);
        while low < high {
            let middle = low + (high - low) / 2;
            match self.sources.store.entry_at(middle).await {
                Ok(Some(stored)) if stored.entry.received_at < *at => low = middle + 1,
                Ok(Some(_)) => high = middle,
                Ok(None) | Err(StoreError::Malformed { .. }) => return Ok(low),
                Err(error) => return Err(error.into()),
            }
        }
        Ok(low)
    }

    /// Every backup manifest (its original version), oldest first, with the lock and
    /// encryption its objects carry.
    async fn backups(&self) -> Result<Vec<BackupObservation>, ReportError> {
        let vault = &self.sources.vault;
        let mut observations = Vec::new();
        for (_, original) in vault::list_manifests(vault).await?.manifests {
            let manifest = vault::read_manifest(vault, &original)
                .await?
                .map_err(|invalid| ReportError::Record {
                    key: invalid.key,
                    reason: invalid.reason,
                })?
                .manifest;
            let protection = vault::manifest_protection(vault, &original, &manifest).await?;
            observations.push(BackupObservation {
                manifest_key: original.version.key,
                manifest,
                manifest_object: lock_seen(&protection.manifest),
                csv_object: protection.csv.as_ref().map(lock_seen),
            });
        }
        Ok(observations)
    }

    /// Verification results finished in the period, plus the latest one before it.
    async fn verifications(
        &self,
        period: &Period,
    ) -> Result<Vec<VerificationSummary>, ReportError> {
        let mut summaries = Vec::new();
        let mut before: Option<VerificationSummary> = None;
        for original in vault::list_originals(&self.sources.vault, VERIFICATION_PREFIX).await? {
            let ObjectVersion {
                key, version_id, ..
            } = original.version;
            let bytes = self.sources.vault.get_version(&key, &version_id).await?;
            let result: VerificationResult =
                serde_json::from_slice(&bytes).map_err(|e| ReportError::Record {
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
            let summary = VerificationSummary {
                key,
                run_id: result.run_id.clone(),
                mode: serde_json::to_value(result.mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                passed: result.passed,
                finished_at: result.finished_at,
                manifests_checked: result.manifests_checked,
                rows_checked: result.rows_checked,
                covered_to: result.covered_to,
                restore_drill_matches: result.restore_drill.as_ref().map(|d| d.matches),
                findings_total: result.findings_total,
                first_finding: result
                    .findings
                    .first()
                    .map(|f| format!("{}: {}", f.kind, f.message)),
            };
            if period.contains(&summary.finished_at) {
                summaries.push(summary);
            } else if summary.finished_at < period.from()
                && before
                    .as_ref()
                    .is_none_or(|b| b.finished_at < summary.finished_at)
            {
                before = Some(summary);
            }
        }
        summaries.sort_by_key(|s| s.finished_at);
        Ok(before.into_iter().chain(summaries).collect())
    }

    /// Sweep records of the period's days (those finished in the period), plus the latest one
    /// of each mode in the week before it.
    async fn sweeps(&self, period: &Period) -> Result<Vec<SweepSummary>, ReportError> {
        let mut in_period = Vec::new();
        let mut before: Vec<SweepSummary> = Vec::new();
        let first_day = period.from().as_datetime().date();
        let mut days: Vec<time::Date> = (1..=7)
            .rev()
            .filter_map(|back| first_day.checked_sub(time::Duration::days(back)))
            .collect();
        days.extend(period.days());
        for day in days {
            let prefix = format!("{RUN_PREFIX}{}/", day_text(day).replace('-', "/"));
            for original in vault::list_originals(&self.sources.vault, &prefix).await? {
                let ObjectVersion {
                    key, version_id, ..
                } = original.version;
                let bytes = self.sources.vault.get_version(&key, &version_id).await?;
                let record: SweepRecord =
                    serde_json::from_slice(&bytes).map_err(|e| ReportError::Record {
                        key: key.clone(),
                        reason: e.to_string(),
                    })?;
                let summary = SweepSummary {
                    key,
                    run_id: record.run_id.clone(),
                    mode: record.mode.as_str().to_owned(),
                    passed: record.status != SweepStatus::Failed,
                    finished_at: record.finished_at,
                    entries_verified: record.entries_verified,
                    tree_size: record.tree_size,
                    root: record.root,
                    findings_total: record.findings_total,
                    first_finding: record
                        .first_failure()
                        .map(|f| format!("{} at chain index {}", f.kind.name(), f.index))
                        .or_else(|| (record.findings_total > 0).then(|| record.message.clone())),
                    checkpoint_written: record.checkpoint_written.clone(),
                };
                if period.contains(&summary.finished_at) {
                    in_period.push(summary);
                } else if summary.finished_at < period.from() {
                    before
                        .retain(|b| b.mode != summary.mode || b.finished_at > summary.finished_at);
                    if !before.iter().any(|b| b.mode == summary.mode) {
                        before.push(summary);
                    }
                }
            }
        }
        let mut all: Vec<SweepSummary> = before.into_iter().chain(in_period).collect();
        all.sort_by_key(|s| s.finished_at);
        Ok(all)
    }

    /// The latest checkpoint, its signature checked with the configured public keys.
    async fn latest_checkpoint(&self) -> Result<Option<CheckpointSummary>, ReportError> {
        let vault = &self.sources.vault;
        let trust = self
            .settings
            .trust
            .resolve(self.sources.keys.as_ref())
            .await?;
        let latest = vault::latest_checkpoint(vault, &trust).await?;
        let Some(latest) = latest else {
            return Ok(None);
        };
        let key = latest.original.key().to_owned();
        let (signed, check) = latest.content.map_err(|reason| ReportError::Record {
            key: key.clone(),
            reason,
        })?;
        for passed in &latest.passed_over {
            tracing::warn!(
                key = passed.original.key(),
                reason = passed.reason,
                "a newer checkpoint note does not count"
            );
        }
        let object = lock_seen(
            &vault
                .protection(latest.original.key(), latest.original.version_id())
                .await?,
        );
        let checkpoint = &signed.checkpoint;
        Ok(Some(CheckpointSummary {
            key,
            tree_size: checkpoint.tree_size,
            root: checkpoint.root,
            head_hash: checkpoint.head_hash,
            time: checkpoint.time,
            signed: matches!(signed.signature, Signature::Kms { .. }),
            signing_key_id: check.key_id().map(str::to_owned),
            signature_valid: check.verified(),
            object,
        }))
    }

    async fn store_report(
        &self,
        key: String,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
    ) -> Result<(StoredReport, RecordedObject), ReportError> {
        let bytes = body.len() as u64;
        let stored = self
            .sources
            .vault
            .put_locked(&key, body, content_type, retain_until)
            .await?;
        let download_url = self
            .sources
            .vault
            .presign_get(&stored.key, &stored.version_id, self.settings.url_expiry)
            .await?;
        let recorded = RecordedObject {
            key: stored.key.clone(),
            version_id: stored.version_id.clone(),
            sha256: stored.sha256,
            bytes,
        };
        let report = StoredReport {
            key: stored.key,
            version_id: stored.version_id,
            sha256: stored.sha256.to_hex(),
            retain_until,
            download_url,
        };
        Ok((report, recorded))
    }

    async fn record(
        &self,
        event_type: AuditEventType,
        request_id: &str,
        reason: String,
        details: serde_json::Value,
    ) {
        let event = super::run_event(
            "report",
            event_type,
            request_id,
            reason,
            details,
            self.clock.now(),
        );
        super::record_run(&self.sources.audit, &self.metrics, &event).await;
    }
}

fn day_text(day: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
