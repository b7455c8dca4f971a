//! The compliance report's pure core: the period, the streaming accumulators, the six judged
//! sections and their JSON and HTML forms (`docs/compliance-report.md` describes them for
//! auditors).
//!
//! Promise: building a report does no I/O and reads no clock (`generated_at` is an input); every
//! verdict follows a written rule from its evidence, every section states why it is not PASS, and
//! the JSON form is deterministic (fields in declaration order, maps sorted).

mod audit_stats;
mod auditor;
mod chain_check;
mod client_latency;
mod html;
mod inputs;
mod latency;
mod period;
pub mod record;
mod sections;

use serde::Serialize;

pub use audit_stats::{
    Access, AccessReviewRow, AuditAccumulator, EventRecord, ListedEvents, MAX_ACCESS_REVIEW_ROWS,
    MAX_LISTED_EVENTS,
};
pub use auditor::AuditorCommand;
pub use chain_check::{ChainCheckEvidence, MAX_PERIOD_FINDINGS, PeriodChainCheck};
pub use client_latency::{
    ClientDelivery, ClientLatencyAccumulator, MAX_SUBSCRIBERS_TRACKED, SLOWEST_SUBSCRIBERS_KEPT,
    SubscriberLatency,
};
pub use html::render_html;
pub use inputs::{
    AlarmState, AlarmTransition, AlarmsEvidence, BackupObservation, CheckpointSummary, LedgerState,
    ObjectLockSeen, ReportInputs, SweepSummary, TableRole, TableSettings, VerificationSummary,
};
pub use latency::{
    HISTOGRAM_UPPER_BOUNDS_MS, HistogramBucket, LatencyAccumulator, WORST_KEPT, WorstSignal,
    nearest_rank, percent_string,
};
pub use period::{MAX_PERIOD_DAYS, Period, PeriodError, PeriodRequest, iso_date};
pub use sections::{
    AlarmsSection, AuditDay, AuditLogSection, BackupDay, BackupRow, BackupsSection,
    CheckpointEvidence, Coverage, DayStatus, DayVolume, ImmutabilitySection, InsertReconciliation,
    IntegritySection, LatencySection, Reason, Sections,
};

use crate::domain::timestamp::Timestamp;

/// The `schema` field of every report.
pub const REPORT_SCHEMA: &str = "signal-ledger/compliance-report/v1";
/// The delivery-latency requirement: p95 at most this many milliseconds.
pub const LATENCY_REQUIREMENT_MS: i64 = 500;

/// A section's (or the report's) outcome. Ordered `Pass < Warn < Fail`, so the worst of several
/// is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    /// The worse of the two.
    pub fn worst(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The worst of many; `Pass` for none.
    pub fn worst_of(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().fold(Verdict::Pass, Verdict::worst)
    }

    /// `PASS`, `WARN` or `FAIL`, as in the JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resources the report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub signals_table: String,
    pub audit_table: String,
    pub vault_bucket: String,
}

/// The whole report. Serialised as `docs/compliance-report.md` describes, field by field.
#[derive(Debug, Clone, Serialize)]
pub struct ComplianceReport {
    pub schema: &'static str,
    pub generated_at: Timestamp,
    /// `{from, to, label}`.
    pub period: Period,
    pub resources: Resources,
    pub ledger: LedgerState,
    pub overall_verdict: Verdict,
    pub sections: Sections,
}

impl ComplianceReport {
    /// Judges the evidence. The accumulators must have been fed the period's entries (latency and
    /// chain check) and audit events.
    pub fn build(
        inputs: ReportInputs,
        latency: LatencyAccumulator,
        audit: AuditAccumulator,
        chain: PeriodChainCheck,
    ) -> ComplianceReport {
        let sections = Sections::build(&inputs, &latency, &audit, chain);
        let overall_verdict = Verdict::worst_of(sections.verdicts().into_iter().map(|(_, v)| v));
        ComplianceReport {
            schema: REPORT_SCHEMA,
            generated_at: inputs.generated_at,
            period: inputs.period,
            resources: Resources {
                signals_table: inputs.signals_table,
                audit_table: inputs.audit_table,
                vault_bucket: inputs.vault_bucket,
            },
            ledger: inputs.ledger,
            overall_verdict,
            sections,
        }
    }

    pub fn overall_verdict(&self) -> Verdict {
        self.overall_verdict
    }

    /// `("immutability", …)`, `("audit_log", …)`, … in section order.
    pub fn section_verdicts(&self) -> Vec<(&'static str, Verdict)> {
        self.sections.verdicts()
    }

    /// Pretty JSON (two-space indent, one final LF), fields in a fixed order: the same report
    /// always gives the same bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs, strings and sorted maps into memory cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
