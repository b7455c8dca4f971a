//! The six sections of the report and the rules that judge them (`docs/compliance-report.md`
//! §"Verdict rules" is the same list in prose).
//!
//! Promise: each section carries its evidence, its verdict, one `summary` sentence and a
//! `reasons` list with one entry per rule that made it WARN or FAIL (empty for PASS); a verdict
//! depends only on the inputs.

use std::collections::BTreeMap;

use serde::Serialize;
use time::Date;

use crate::domain::audit::AuditEventType;
use crate::domain::backup::IndexRange;
use crate::domain::report::audit_stats::{AccessReviewRow, AuditAccumulator, ListedEvents};
use crate::domain::report::auditor::{AuditorCommand, auditor_commands};
use crate::domain::report::chain_check::{ChainCheckEvidence, PeriodChainCheck};
use crate::domain::report::inputs::{
    AlarmState, AlarmTransition, AlarmsEvidence, CheckpointSummary, ObjectLockSeen, ReportInputs,
    SweepSummary, TableRole, TableSettings, VerificationSummary,
};
use crate::domain::report::latency::{
    HistogramBucket, LatencyAccumulator, WorstSignal, percent_string,
};
use crate::domain::report::period::iso_date;
use crate::domain::report::{LATENCY_REQUIREMENT_MS, Verdict};
use crate::domain::timestamp::Timestamp;

/// Why a section is not PASS: one rule that applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub verdict: Verdict,
    pub message: String,
}

/// Collects the rules that applied to one section.
#[derive(Debug, Default)]
struct Judgement {
    reasons: Vec<Reason>,
}

impl Judgement {
    fn fail(&mut self, message: String) {
        self.reasons.push(Reason {
            verdict: Verdict::Fail,
            message,
        });
    }

    fn warn(&mut self, message: String) {
        self.reasons.push(Reason {
            verdict: Verdict::Warn,
            message,
        });
    }

    /// The verdict, the summary (the first reason of the worst kind, or `pass` when none) and
    /// the reasons, FAIL first.
    fn conclude(mut self, pass: String) -> (Verdict, String, Vec<Reason>) {
        self.reasons.sort_by_key(|r| std::cmp::Reverse(r.verdict));
        let verdict = Verdict::worst_of(self.reasons.iter().map(|r| r.verdict));
        let summary = match self.reasons.first() {
            None => pass,
            Some(first) if self.reasons.len() == 1 => first.message.clone(),
            Some(first) => {
                format!(
                    "{} ({} more finding{} below)",
                    first.message.trim_end_matches('.'),
                    self.reasons.len() - 1,
                    plural(self.reasons.len() - 1)
                ) + "."
            }
        };
        (verdict, summary, self.reasons)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn day_of(t: &Timestamp) -> Date {
    t.as_datetime().date()
}

/// The six sections, in report order.
#[derive(Debug, Clone, Serialize)]
pub struct Sections {
    pub immutability: ImmutabilitySection,
    pub audit_log: AuditLogSection,
    pub latency: LatencySection,
    pub backups: BackupsSection,
    pub integrity: IntegritySection,
    pub alarms: AlarmsSection,
}

impl Sections {
    pub(crate) fn build(
        inputs: &ReportInputs,
        latency: &LatencyAccumulator,
        audit: &AuditAccumulator,
        chain: PeriodChainCheck,
    ) -> Sections {
        let latency_section = LatencySection::build(inputs, latency);
        Sections {
            immutability: ImmutabilitySection::build(inputs, audit),
            audit_log: AuditLogSection::build(inputs, audit, latency.count()),
            latency: latency_section,
            backups: BackupsSection::build(inputs),
            integrity: IntegritySection::build(inputs, chain, latency),
            alarms: AlarmsSection::build(inputs),
        }
    }

    pub fn verdicts(&self) -> Vec<(&'static str, Verdict)> {
        vec![
            ("immutability", self.immutability.verdict),
            ("audit_log", self.audit_log.verdict),
            ("latency", self.latency.verdict),
            ("backups", self.backups.verdict),
            ("integrity", self.integrity.verdict),
            ("alarms", self.alarms.verdict),
        ]
    }
}

// ---- immutability ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct ImmutabilitySection {
    pub verdict: Verdict,
    pub summary: String,
    pub reasons: Vec<Reason>,
    pub tables: Vec<TableSettings>,
    /// Refused MODIFICATION_ATTEMPT and DELETE_ATTEMPT events: the system working, not a failure.
    pub refused_attempts: ListedEvents,
    pub tamper_events: ListedEvents,
}

impl ImmutabilitySection {
    fn build(inputs: &ReportInputs, audit: &AuditAccumulator) -> ImmutabilitySection {
        let mut judgement = Judgement::default();
        for (role, name) in [
            (TableRole::Signals, &inputs.signals_table),
            (TableRole::Audit, &inputs.audit_table),
        ] {
            if !inputs.tables.iter().any(|t| t.role == role) {
                judgement.fail(format!(
                    "The settings of the {} table {name} were not available, so its protection cannot be shown.",
                    role.as_str()
                ));
            }
        }
        for table in &inputs.tables {
            let name = &table.table_name;
            if !table.deletion_protection {
                judgement.fail(format!("Table {name} has no deletion protection."));
            }
            if !table.point_in_time_recovery {
                judgement.fail(format!("Table {name} has point-in-time recovery off."));
            }
            if table.role == TableRole::Signals && table.stream_view_type.is_none() {
                judgement.fail(format!(
                    "Signals table {name} has no stream, so no change to an entry would be seen by the tamper watch."
                ));
            }
        }
        let tamper = audit.tamper_events();
        if tamper.total > 0 {
            judgement.fail(format!(
                "{} TAMPER_DETECTED event{} in the period: an entry was modified or removed outside the append path.",
                tamper.total,
                plural(tamper.total as usize)
            ));
        }
        let refused = audit.refused_attempts();
        let (verdict, summary, reasons) = judgement.conclude(format!(
            "Both tables are protected against deletion, recoverable to any point in time and the signals table is watched through its stream; no tampering was detected and {} modification or deletion attempt{} {} refused.",
            refused.total,
            plural(refused.total as usize),
            if refused.total == 1 { "was" } else { "were" }
        ));
        ImmutabilitySection {
            verdict,
            summary,
            reasons,
            tables: inputs.tables.clone(),
            refused_attempts: refused.clone(),
            tamper_events: tamper.clone(),
        }
    }
}

// ---- audit log ------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct AuditDay {
    pub date: String,
    pub total: u64,
    pub counts: BTreeMap<AuditEventType, u64>,
}

/// SIGNAL_INSERTED events against entries received in the period.
#[derive(Debug, Clone, Serialize)]
pub struct InsertReconciliation {
    pub signal_inserted_events: u64,
    pub entries_in_period: u64,
    pub matches: bool,
    pub explanation: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditLogSection {
    pub verdict: Verdict,
    pub summary: String,
    pub reasons: Vec<Reason>,
    pub total_events: u64,
    pub totals_by_type: BTreeMap<AuditEventType, u64>,
    /// Every day of the period, with the events of each type that day.
    pub per_day: Vec<AuditDay>,
    pub distinct_actors: Vec<String>,
    /// Actor × event type → count, first, last.
    pub access_review: Vec<AccessReviewRow>,
    /// Events of (actor, type) pairs beyond the access review's row limit (counted, not listed).
    pub access_review_events_not_listed: u64,
    /// Sum of the `AuditWriteErrors` metric over the period; `null` = it could not be read.
    pub audit_write_errors: Option<u64>,
    pub inserts: InsertReconciliation,
}

impl AuditLogSection {
    fn build(
        inputs: &ReportInputs,
        audit: &AuditAccumulator,
        entries_in_period: u64,
    ) -> AuditLogSection {
        let mut judgement = Judgement::default();
        match inputs.audit_write_errors {
            Some(0) => {}
            Some(errors) => judgement.fail(format!(
                "{errors} audit record{} could not be written in the period (AuditWriteErrors).",
                plural(errors as usize)
            )),
            None => judgement.warn(
                "The AuditWriteErrors metric could not be read, so lost audit records cannot be ruled out."
                    .to_owned(),
            ),
        }
        let inserted = audit.count(AuditEventType::SignalInserted);
        let matches = inserted == entries_in_period;
        let explanation = (!matches).then(|| {
            format!(
                "{inserted} SIGNAL_INSERTED event{} but {entries_in_period} entr{} received in the period: an insert's audit record is timestamped a few milliseconds after the entry's received_at (both are written in one transaction), so a signal received just before a period boundary can have its event just after it; a difference of more than a few signals needs investigating.",
                plural(inserted as usize),
                if entries_in_period == 1 { "y" } else { "ies" }
            )
        });
        if let Some(explanation) = &explanation {
            judgement.warn(explanation.clone());
        }
        let per_day = inputs
            .period
            .days()
            .into_iter()
            .map(|day| {
                let counts = audit.on_day(day);
                AuditDay {
                    date: iso_date(day),
                    total: counts.values().sum(),
                    counts,
                }
            })
            .collect();
        let actors = audit.distinct_actors();
        let (verdict, summary, reasons) = judgement.conclude(format!(
            "{} audit event{} from {} actor{}, none lost, and one SIGNAL_INSERTED event for each of the {} entries received.",
            audit.total(),
            plural(audit.total() as usize),
            actors.len(),
            plural(actors.len()),
            entries_in_period
        ));
        AuditLogSection {
            verdict,
            summary,
            reasons,
            total_events: audit.total(),
            totals_by_type: audit.totals().clone(),
            per_day,
            distinct_actors: actors,
            access_review: audit.access_review(),
            access_review_events_not_listed: audit.access_not_listed(),
            audit_write_errors: inputs.audit_write_errors,
            inserts: InsertReconciliation {
                signal_inserted_events: inserted,
                entries_in_period,
                matches,
                explanation,
            },
        }
    }
}

// ---- latency --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct DayVolume {
    pub date: String,
    pub signals: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencySection {
    pub verdict: Verdict,
    pub summary: String,
    pub reasons: Vec<Reason>,
    /// Always `"nearest-rank"`.
    pub method: &'static str,
    pub requirement_ms: i64,
    pub count: u64,
    pub min_ms: Option<i64>,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    pub p99_ms: Option<i64>,
    pub max_ms: Option<i64>,
    /// Signals with a latency of at most `requirement_ms` (negative ones included).
    pub within_requirement: u64,
    /// `within_requirement / count` in percent, two decimals, truncated (e.g. `"99.50"`).
    pub within_requirement_percent: Option<String>,
    /// Signals whose producer clock was ahead of the ledger's (`received_at < generated_at`).
    pub negative_latencies: u64,
    pub histogram: Vec<HistogramBucket>,
    pub worst_signals: Vec<WorstSignal>,
    pub daily_volumes: Vec<DayVolume>,
}

impl LatencySection {
    fn build(inputs: &ReportInputs, latency: &LatencyAccumulator) -> LatencySection {
        let mut judgement = Judgement::default();
        let count = latency.count();
        let p95 = latency.percentile(95);
        let within = latency.at_most(LATENCY_REQUIREMENT_MS);
        let share = percent_string(within, count);
        match p95 {
            None => judgement.warn(
                "No signal was received in the period, so delivery latency cannot be shown."
                    .to_owned(),
            ),
            Some(p95) if p95 > LATENCY_REQUIREMENT_MS => judgement.fail(format!(
                "The 95th percentile delivery latency is {p95} ms, above the {LATENCY_REQUIREMENT_MS} ms requirement."
            )),
            Some(_) => {}
        }
        let (verdict, summary, reasons) = judgement.conclude(format!(
            "The 95th percentile delivery latency of {count} signals is {} ms, within the {LATENCY_REQUIREMENT_MS} ms requirement ({}% of signals within it).",
            p95.unwrap_or_default(),
            share.as_deref().unwrap_or("0.00")
        ));
        LatencySection {
            verdict,
            summary,
            reasons,
            method: "nearest-rank",
            requirement_ms: LATENCY_REQUIREMENT_MS,
            count,
            min_ms: latency.min(),
            p50_ms: latency.percentile(50),
            p95_ms: p95,
            p99_ms: latency.percentile(99),
            max_ms: latency.max(),
            within_requirement: within,
            within_requirement_percent: share,
            negative_latencies: latency.negative(),
            histogram: latency.histogram(),
            worst_signals: latency.worst().to_vec(),
            daily_volumes: inputs
                .period
                .days()
                .into_iter()
                .map(|day| DayVolume {
                    date: iso_date(day),
                    signals: latency.per_day(day),
                })
                .collect(),
        }
    }
}

// ---- backups --------------------------------------------------------------------------------

/// Whether a day of the period has its backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    /// At least one backup has this day's id.
    Backed,
    /// A past day with no backup: FAIL.
    Missing,
    /// Today, no backup yet (the backup runs at 02:00 UTC): not counted against the period.
    Pending,
    /// After the report was generated: not due.
    NotDue,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupRow {
    pub backup_id: String,
    pub manifest_key: String,
    pub created_at: Timestamp,
    pub rows: u64,
    pub index_range: IndexRange,
    pub csv_key: Option<String>,
    pub manifest_object: ObjectLockSeen,
    pub csv_object: Option<ObjectLockSeen>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupDay {
    pub date: String,
    pub status: DayStatus,
    pub backups: Vec<BackupRow>,
    /// Verifications that finished this day.
    pub verifications: Vec<VerificationSummary>,
}

/// How much of the ledger is in a verified backup.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The highest `covered_to` of a passed verification: entries `[0, covered_to)`.
    pub verified_covered_to: Option<u64>,
    pub tree_size: u64,
    /// `tree_size − verified_covered_to`: entries appended since (normal between backups).
    pub entries_not_yet_verified: u64,
    pub statement: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupsSection {
    pub verdict: Verdict,
    pub summary: String,
    pub reasons: Vec<Reason>,
    /// One row per UTC day of the period.
    pub days: Vec<BackupDay>,
    pub coverage: Coverage,
    pub latest_verification: Option<VerificationSummary>,
    /// Every vault object of any backup (not only the period's) that is not COMPLIANCE-locked,
    /// has no retain-until date, is not encrypted, or is missing.
    pub object_problems: Vec<String>,
    pub backups_in_vault: u64,
}

impl BackupsSection {
    fn build(inputs: &ReportInputs) -> BackupsSection {
        let mut judgement = Judgement::default();
        let days = backup_days(inputs);
        let missing: Vec<&str> = days
            .iter()
            .filter(|d| d.status == DayStatus::Missing)
            .map(|d| d.date.as_str())
            .collect();
        if !missing.is_empty() {
            judgement.fail(format!(
                "No backup for {} day{} of the period: {}.",
                missing.len(),
                plural(missing.len()),
                missing.join(", ")
            ));
        }
        let latest = inputs
            .verifications
            .iter()
            .max_by_key(|v| v.finished_at)
            .cloned();
        judge_verifications(inputs, latest.as_ref(), &mut judgement);
        let object_problems = backup_object_problems(inputs);
        if !object_problems.is_empty() {
            judgement.fail(format!(
                "{} backup object problem{}: {}.",
                object_problems.len(),
                plural(object_problems.len()),
                object_problems[0]
            ));
        }
        let coverage = Coverage::of(inputs);
        let (verdict, summary, reasons) = judgement.conclude(format!(
            "Every past day of the period has a COMPLIANCE-locked, encrypted backup and the latest verification passed. {}",
            coverage.statement
        ));
        BackupsSection {
            verdict,
            summary,
            reasons,
            days,
            coverage,
            latest_verification: latest,
            object_problems,
            backups_in_vault: inputs.backups.len() as u64,
        }
    }
}

/// One row per UTC day of the period: its backups and verifications, and whether a backup is
/// missing, pending (today) or not due.
fn backup_days(inputs: &ReportInputs) -> Vec<BackupDay> {
    let today = day_of(&inputs.generated_at);
    inputs
        .period
        .days()
        .into_iter()
        .map(|day| {
            let backups: Vec<BackupRow> = inputs
                .backups
                .iter()
                .filter(|b| b.manifest.backup_id.date() == day)
                .map(backup_row)
                .collect();
            let status = match (backups.is_empty(), day.cmp(&today)) {
                (false, _) => DayStatus::Backed,
                (true, std::cmp::Ordering::Less) => DayStatus::Missing,
                (true, std::cmp::Ordering::Equal) => DayStatus::Pending,
                (true, std::cmp::Ordering::Greater) => DayStatus::NotDue,
            };
            BackupDay {
                date: iso_date(day),
                status,
                backups,
                verifications: inputs
                    .verifications
                    .iter()
                    .filter(|v| day_of(&v.finished_at) == day)
                    .cloned()
                    .collect(),
            }
        })
        .collect()
}

fn backup_row(b: &crate::domain::report::inputs::BackupObservation) -> BackupRow {
    BackupRow {
        backup_id: b.manifest.backup_id.to_string(),
        manifest_key: b.manifest_key.clone(),
        created_at: b.manifest.created_at,
        rows: b.manifest.row_count,
        index_range: b.manifest.index_range,
        csv_key: b.manifest.csv.as_ref().map(|csv| csv.key.clone()),
        manifest_object: b.manifest_object.clone(),
        csv_object: b.csv_object.clone(),
    }
}

/// A failed verification of the period (or the latest one), or one whose restore drill did not
/// reproduce the ledger, fails the section; no verification at all is a warning.
fn judge_verifications(
    inputs: &ReportInputs,
    latest: Option<&VerificationSummary>,
    judgement: &mut Judgement,
) {
    for v in &inputs.verifications {
        let is_latest = latest == Some(v);
        if !(inputs.period.contains(&v.finished_at) || is_latest) {
            continue;
        }
        let which = if is_latest {
            "The latest backup verification"
        } else {
            "A backup verification"
        };
        if !v.passed {
            judgement.fail(format!(
                "{which} ({}, finished {}) failed with {} finding{}{}.",
                v.run_id,
                v.finished_at,
                v.findings_total,
                plural(v.findings_total as usize),
                v.first_finding
                    .as_ref()
                    .map(|f| format!(", the first: {f}"))
                    .unwrap_or_default()
            ));
        } else if v.restore_drill_matches == Some(false) {
            judgement.fail(format!(
                "{which} ({}, finished {}) passed, but its restore drill did not reproduce the ledger.",
                v.run_id, v.finished_at
            ));
        }
    }
    if inputs.verifications.is_empty() {
        judgement.warn(
            "No backup verification has run, so no backup is shown to be restorable.".to_owned(),
        );
    }
}

/// Every backup object that is not COMPLIANCE-locked, has no retain-until date, is not
/// encrypted, or is missing.
fn backup_object_problems(inputs: &ReportInputs) -> Vec<String> {
    let mut object_problems = Vec::new();
    for b in &inputs.backups {
        if let Some(problem) = b.manifest_object.problem() {
            object_problems.push(format!("manifest {} {problem}", b.manifest_key));
        }
        match (&b.manifest.csv, &b.csv_object) {
            (Some(csv), None) => object_problems.push(format!(
                "CSV {} named by manifest {} was not found",
                csv.key, b.manifest_key
            )),
            (Some(csv), Some(seen)) => {
                if let Some(problem) = seen.problem() {
                    object_problems.push(format!("CSV {} {problem}", csv.key));
                }
            }
            (None, _) => {}
        }
    }
    object_problems
}

impl Coverage {
    /// How far the passed verifications reach into the ledger.
    fn of(inputs: &ReportInputs) -> Coverage {
        let tree_size = inputs.ledger.tree_size;
        let verified_covered_to = inputs
            .verifications
            .iter()
            .filter(|v| v.passed)
            .map(|v| v.covered_to)
            .max();
        let statement = match verified_covered_to {
            Some(0) | None => "No entry is in a verified backup yet.".to_owned(),
            Some(to) => format!(
                "Entries 0..{} are in a verified backup; the ledger holds {tree_size} entries.",
                to - 1
            ),
        };
        Coverage {
            verified_covered_to,
            tree_size,
            entries_not_yet_verified: tree_size.saturating_sub(verified_covered_to.unwrap_or(0)),
            statement,
        }
    }
}

// ---- integrity ------------------------------------------------------------------------------

/// The latest checkpoint, with its root also in the base64 the checkpoint note shows.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointEvidence {
    #[serde(flatten)]
    pub checkpoint: CheckpointSummary,
    pub root_base64: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntegritySection {
    pub verdict: Verdict,
    pub summary: String,
    pub reasons: Vec<Reason>,
    pub last_incremental: Option<SweepSummary>,
    pub last_full: Option<SweepSummary>,
    pub sweeps_in_period: u64,
    pub failed_sweeps_in_period: Vec<SweepSummary>,
    /// The report's own check of the entries it read for the period.
    pub period_chain_check: ChainCheckEvidence,
    pub latest_checkpoint: Option<CheckpointEvidence>,
    /// Shell commands an auditor can run to check this without trusting the operator.
    pub auditor_commands: Vec<AuditorCommand>,
}

impl IntegritySection {
    fn build(
        inputs: &ReportInputs,
        chain: PeriodChainCheck,
        latency: &LatencyAccumulator,
    ) -> IntegritySection {
        use base64::Engine;
        let mut judgement = Judgement::default();
        let period = &inputs.period;
        let last_of = |mode: &str| {
            inputs
                .sweeps
                .iter()
                .filter(|s| s.mode == mode)
                .max_by_key(|s| s.finished_at)
                .cloned()
        };
        let in_period: Vec<&SweepSummary> = inputs
            .sweeps
            .iter()
            .filter(|s| period.contains(&s.finished_at))
            .collect();
        let failed: Vec<SweepSummary> = in_period
            .iter()
            .filter(|s| !s.passed)
            .map(|s| (*s).clone())
            .collect();
        if let Some(first) = failed.first() {
            judgement.fail(format!(
                "{} integrity sweep{} failed in the period; the first ({} at {}): {}.",
                failed.len(),
                plural(failed.len()),
                first.mode,
                first.finished_at,
                first
                    .first_finding
                    .as_deref()
                    .unwrap_or("no finding recorded")
            ));
        }
        if in_period.is_empty() {
            judgement.warn("No integrity sweep ran in the period.".to_owned());
        }
        let evidence = chain.evidence();
        if let Some(first) = evidence.findings.first() {
            judgement.fail(format!(
                "The report's check of the period's entries found {} problem{}, the first a {} at index {}.",
                evidence.findings_total,
                plural(evidence.findings_total as usize),
                first.kind.name(),
                first.index
            ));
        }
        judge_latest_checkpoint(inputs, &mut judgement);
        let (verdict, summary, reasons) = judgement.conclude(format!(
            "{} integrity sweep{} in the period passed, the period's {} entries re-hash and link, and the latest checkpoint is signed and verifies.",
            in_period.len(),
            plural(in_period.len()),
            evidence.entries_checked
        ));
        let example_signal = latency.worst().first().map(|w| w.signal_id.clone());
        IntegritySection {
            verdict,
            summary,
            reasons,
            last_incremental: last_of("incremental"),
            last_full: last_of("full"),
            sweeps_in_period: in_period.len() as u64,
            failed_sweeps_in_period: failed,
            period_chain_check: evidence,
            latest_checkpoint: inputs.latest_checkpoint.clone().map(|checkpoint| {
                let root_base64 =
                    base64::engine::general_purpose::STANDARD.encode(checkpoint.root.as_bytes());
                CheckpointEvidence {
                    checkpoint,
                    root_base64,
                }
            }),
            auditor_commands: auditor_commands(inputs, example_signal.as_deref()),
        }
    }
}

/// The latest checkpoint: absent or unsigned is a warning; a signature that does not verify, an
/// unprotected object or a ledger shorter than the checkpoint fails the section.
fn judge_latest_checkpoint(inputs: &ReportInputs, judgement: &mut Judgement) {
    match &inputs.latest_checkpoint {
        None => judgement.warn(
            "No checkpoint exists, so the ledger's history is not anchored in WORM storage."
                .to_owned(),
        ),
        Some(checkpoint) => {
            if checkpoint.signature_valid == Some(false) {
                judgement.fail(format!(
                    "The signature of checkpoint {} does not verify.",
                    checkpoint.key
                ));
            } else if !checkpoint.signed {
                judgement.warn(format!(
                    "The latest checkpoint {} is unsigned (no signing key configured).",
                    checkpoint.key
                ));
            } else if checkpoint.signature_valid.is_none() {
                judgement.warn(format!(
                    "The signature of checkpoint {} could not be checked.",
                    checkpoint.key
                ));
            }
            if let Some(problem) = checkpoint.object.problem() {
                judgement.fail(format!("Checkpoint {} {problem}.", checkpoint.key));
            }
            if checkpoint.tree_size > inputs.ledger.tree_size {
                judgement.fail(format!(
                    "The ledger holds {} entries but checkpoint {} recorded {}: entries were removed.",
                    inputs.ledger.tree_size, checkpoint.key, checkpoint.tree_size
                ));
            }
        }
    }
}

// ---- alarms ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct AlarmsSection {
    pub verdict: Verdict,
    pub summary: String,
    pub reasons: Vec<Reason>,
    pub available: bool,
    pub unavailable_reason: Option<String>,
    pub alarms: Vec<AlarmState>,
    /// State changes in the period, oldest first.
    pub history_in_period: Vec<AlarmTransition>,
    /// Why the state history could not be read, when it could not.
    pub history_unavailable_reason: Option<String>,
}

impl AlarmsSection {
    fn build(inputs: &ReportInputs) -> AlarmsSection {
        let mut judgement = Judgement::default();
        let (alarms, history, unavailable_reason) = match &inputs.alarms {
            AlarmsEvidence::Unavailable { reason } => {
                judgement.warn(format!("The alarms could not be read: {reason}."));
                (Vec::new(), Vec::new(), Some(reason.clone()))
            }
            AlarmsEvidence::Available { alarms, history } => {
                let mut history: Vec<AlarmTransition> = history
                    .iter()
                    .filter(|t| inputs.period.contains(&t.at))
                    .cloned()
                    .collect();
                history.sort_by(|a, b| a.at.cmp(&b.at).then(a.name.cmp(&b.name)));
                (alarms.clone(), history, None)
            }
        };
        if unavailable_reason.is_none() {
            if alarms.is_empty() {
                judgement.warn(
                    "No alarm was found for this stack, so nothing would page anyone.".to_owned(),
                );
            }
            let firing: Vec<&str> = alarms
                .iter()
                .filter(|a| a.state == "ALARM")
                .map(|a| a.name.as_str())
                .collect();
            if !firing.is_empty() {
                judgement.fail(format!(
                    "{} alarm{} in ALARM now: {}.",
                    firing.len(),
                    plural(firing.len()),
                    firing.join(", ")
                ));
            }
            let entered: Vec<&AlarmTransition> =
                history.iter().filter(|t| t.enters_alarm()).collect();
            if let Some(first) = entered.first() {
                judgement.warn(format!(
                    "{} transition{} to ALARM in the period, the first {} at {}.",
                    entered.len(),
                    plural(entered.len()),
                    first.name,
                    first.at
                ));
            }
        }
        let (verdict, summary, reasons) = judgement.conclude(format!(
            "All {} alarm{} are quiet and none went to ALARM in the period.",
            alarms.len(),
            plural(alarms.len())
        ));
        AlarmsSection {
            verdict,
            summary,
            reasons,
            available: unavailable_reason.is_none(),
            unavailable_reason,
            alarms,
            history_in_period: history,
            history_unavailable_reason: inputs.alarm_history_unavailable.clone(),
        }
    }
}
