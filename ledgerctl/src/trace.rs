//! `ledgerctl trace`'s rendering: a [`Trace`] (gathered by `shared::app::trace`) as the
//! human-readable report, one section per step, each check with both of its values.

use shared::app::trace::{
    AuditEvidence, BackupEvidence, Check, CheckpointEvidence, HashEvidence, LatencyEvidence,
    Outcome, Step, StepStatus, Trace,
};
use shared::domain::audit::AuditEvent;
use shared::domain::entry::StoredEntry;

/// The section headings of [`render_text`], in order.
pub const SECTIONS: [&str; 8] = [
    "Entry",
    "Hash check",
    "Audit events",
    "Delivery latency",
    "Backup",
    "Checkpoint",
    "Delivery receipts",
    "Result",
];

fn heading(out: &mut String, title: &str, status: Option<StepStatus>) {
    let status = match status {
        None => String::new(),
        Some(StepStatus::Found) => " [ok]".to_owned(),
        Some(StepStatus::Failed) => " [FAILED]".to_owned(),
        Some(StepStatus::Stopped) => " [stopped]".to_owned(),
    };
    out.push_str(&format!("\n== {title}{status} ==\n"));
}

fn line(out: &mut String, name: &str, value: impl std::fmt::Display) {
    out.push_str(&format!("  {name:<22} {value}\n"));
}

fn render_checks(out: &mut String, checks: &[Check]) {
    for check in checks {
        let mark = if check.passed { "ok    " } else { "FAILED" };
        out.push_str(&format!("  {mark} {:<20} {}\n", check.name, check.detail));
    }
}

fn render_unfound<T>(out: &mut String, step: &Step<T>) {
    match step {
        Step::Broken { reason } => out.push_str(&format!("  FAILED: {reason}\n")),
        Step::Stopped { reason } => out.push_str(&format!("  the trail stops here: {reason}\n")),
        _ => {}
    }
}

fn render_event(out: &mut String, event: &AuditEvent) {
    out.push_str(&format!(
        "  {} {} actor {} request {}{}{}\n",
        event.occurred_at,
        event.event_type,
        event.actor,
        event.request_id,
        event
            .chain_index
            .map_or_else(String::new, |i| format!(" index {i}")),
        event
            .reason
            .as_deref()
            .map_or_else(String::new, |r| format!(": {r}")),
    ));
}

fn optional<T: std::fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(absent)".to_owned(), |v| v.to_string())
}

/// The human-readable report: one section per step ([`SECTIONS`]), each check with its values,
/// and the result with the exit code.
pub fn render_text(trace: &Trace) -> String {
    let mut out = format!("Trace of signal {}\n", trace.signal_id);
    section(&mut out, SECTIONS[0], &trace.entry, render_entry);
    section(&mut out, SECTIONS[1], &trace.hashes, render_hashes);
    section(&mut out, SECTIONS[2], &trace.audit, render_audit);
    section(&mut out, SECTIONS[3], &trace.latency, render_latency);
    section(&mut out, SECTIONS[4], &trace.backup, render_backup);
    section(&mut out, SECTIONS[5], &trace.checkpoint, render_checkpoint);
    render_receipts(&mut out, trace);
    heading(&mut out, SECTIONS[7], None);
    render_outcome(&mut out, trace);
    out
}

/// One step's section: its heading with the status, then its evidence (rendered by `evidence`)
/// or why there is none.
fn section<T>(
    out: &mut String,
    title: &str,
    step: &Step<T>,
    evidence: impl FnOnce(&mut String, &T),
) {
    heading(out, title, Some(step.status()));
    match step.evidence() {
        Some(found) => evidence(out, found),
        None => render_unfound(out, step),
    }
}

/// The entry's fields as stored.
fn render_entry(out: &mut String, stored: &StoredEntry) {
    let entry = &stored.entry;
    let content = &entry.content;
    line(out, "schema_version", entry.schema_version);
    line(out, "chain_index", entry.chain_index);
    line(out, "previous_hash", entry.previous_hash);
    line(out, "signal_id", &entry.signal_id);
    line(out, "symbol", &content.symbol);
    line(out, "action", content.action.as_str());
    line(out, "entry_price", &content.entry_price);
    line(out, "target_price", optional(&content.target_price));
    line(out, "stop_loss", optional(&content.stop_loss));
    line(out, "confidence", optional(&content.confidence));
    line(out, "rationale", format!("{:?}", content.rationale));
    line(out, "generated_at", content.generated_at);
    line(out, "producer", optional(&content.producer));
    line(out, "model", optional(&content.model));
    line(out, "model_version", optional(&content.model_version));
    line(out, "received_at", entry.received_at);
    line(out, "delivery_latency_ms", entry.delivery_latency_ms);
    line(out, "retention_expires_at", entry.retention_expires_at);
    line(out, "submitter", &entry.submitter);
    line(out, "entry_hash", stored.entry_hash);
}

/// The recomputed hash and the hash checks.
fn render_hashes(out: &mut String, evidence: &HashEvidence) {
    line(out, "recomputed hash", evidence.recomputed_hash);
    render_checks(out, &evidence.checks);
}

/// The days searched and the events naming the signal.
fn render_audit(out: &mut String, evidence: &AuditEvidence) {
    line(
        out,
        "days searched",
        format!(
            "{} (UTC day partitions of the audit table{})",
            evidence.days_searched.join(", "),
            match evidence.days_requested > evidence.days_searched.len() as u64 {
                true => format!(
                    "; {} day(s) asked for, cut at today",
                    evidence.days_requested
                ),
                false => String::new(),
            }
        ),
    );
    for event in evidence.inserted.iter().chain(&evidence.related) {
        render_event(out, event);
    }
    if evidence.related.is_empty() {
        out.push_str(
            "  no refusal, replay, modification attempt or tamper event names this signal\n",
        );
    }
    render_checks(out, &evidence.checks);
}

/// The delivery latency against the requirement.
fn render_latency(out: &mut String, evidence: &LatencyEvidence) {
    line(
        out,
        "delivery latency",
        format!(
            "{} ms (generated_at {} → received_at {}): {} the {} ms requirement",
            evidence.delivery_latency_ms,
            evidence.generated_at,
            evidence.received_at,
            if evidence.within_requirement {
                "within"
            } else {
                "OVER"
            },
            evidence.requirement_ms
        ),
    );
    render_checks(out, &evidence.checks);
}

/// The backup, manifest and CSV row holding the entry, and the CSV's lock.
fn render_backup(out: &mut String, evidence: &BackupEvidence) {
    line(out, "backup id", evidence.backup_id);
    line(
        out,
        "manifest",
        format!(
            "{} (version {})",
            evidence.manifest_key, evidence.manifest_version_id
        ),
    );
    line(
        out,
        "index range",
        format!(
            "[{}, {})",
            evidence.index_range.from, evidence.index_range.to
        ),
    );
    line(
        out,
        "csv",
        format!(
            "{} (version {}), row {}",
            evidence.csv_key, evidence.csv_version_id, evidence.csv_row
        ),
    );
    let protection = &evidence.csv_protection;
    line(
        out,
        "csv lock",
        format!(
            "{} until {}, encryption {}",
            protection.lock_mode.as_deref().unwrap_or("none"),
            optional(&protection.retain_until),
            protection
                .server_side_encryption
                .as_deref()
                .unwrap_or("none")
        ),
    );
    render_checks(out, &evidence.checks);
}

/// The checkpoint, its signature and the inclusion proof.
fn render_checkpoint(out: &mut String, evidence: &CheckpointEvidence) {
    line(
        out,
        "checkpoint",
        format!("{} (version {})", evidence.key, evidence.version_id),
    );
    line(out, "tree size", evidence.tree_size);
    line(out, "root", evidence.root);
    line(out, "time", evidence.time);
    line(
        out,
        "signature",
        match (&evidence.key_id, evidence.signature_verified) {
            (None, _) => "UNSIGNED (the note carries the explicit unsigned marker)".to_owned(),
            (Some(key), Some(true)) => format!("signed by kms:{key}, verified"),
            (Some(key), Some(false)) => format!("signed by kms:{key}, DOES NOT VERIFY"),
            (Some(key), None) => {
                format!("signed by kms:{key}, not verified (no key access)")
            }
        },
    );
    line(
        out,
        "inclusion proof",
        format!("{} hashes", evidence.inclusion_proof.len()),
    );
    for (level, hash) in evidence.inclusion_proof.iter().enumerate() {
        line(out, &format!("  [{level}]"), hash);
    }
    render_checks(out, &evidence.checks);
}

/// How the trail ended, with the exit code and each failure or stop.
fn render_outcome(out: &mut String, trace: &Trace) {
    match trace.outcome() {
        Outcome::Complete => out.push_str("  complete: every check passed (exit 0)\n"),
        Outcome::Failed => {
            out.push_str("  FAILED: a check failed — evidence of tampering (exit 1)\n");
            for failure in trace.failures() {
                out.push_str(&format!("  - {failure}\n"));
            }
        }
        Outcome::Stopped => {
            out.push_str("  incomplete: no check failed, but the trail stops early (exit 2)\n");
            for stop in trace.stops() {
                out.push_str(&format!("  - {stop}\n"));
            }
        }
    }
}

/// The "Delivery receipts" section: one line per subscriber's receipt, then the checks.
fn render_receipts(out: &mut String, trace: &Trace) {
    heading(out, SECTIONS[6], Some(trace.receipts.status()));
    match trace.receipts.evidence() {
        Some(evidence) => {
            if evidence.receipts.is_empty() {
                out.push_str("  no subscriber has posted a delivery receipt for this signal\n");
            }
            for (position, stored) in evidence.receipts.iter().enumerate() {
                let receipt = &stored.receipt;
                let backup = evidence
                    .backups
                    .get(position)
                    .map_or(String::new(), |b| format!("; {}", b.note));
                line(
                    out,
                    receipt.subscriber.as_str(),
                    format!(
                        "delivered_at {} ({} ms after generated_at{}), recorded {} by {}, hash {}{backup}",
                        receipt.delivered_at,
                        receipt.client_latency_ms,
                        if receipt.client_latency_ms > shared::app::trace::LATENCY_REQUIREMENT_MS {
                            ", OVER the requirement"
                        } else {
                            ""
                        },
                        receipt.recorded_at,
                        receipt.submitter,
                        stored.receipt_hash
                    ),
                );
            }
            render_checks(out, &evidence.checks);
        }
        None => render_unfound(out, &trace.receipts),
    }
}
