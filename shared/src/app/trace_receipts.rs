//! The trail's delivery-receipts step (a child of `trace.rs`): every receipt the signal has,
//! each re-hashed and matched with its `RECEIPT_RECORDED` audit event.
//!
//! Promise: a receipt whose stored hash differs from its recomputed hash, whose fields do not
//! match the signal (id, chain index, `generated_at`, latency), or whose audit event is missing
//! from a day the trail searched, or names another hash, fails a check; a malformed receipt item
//! makes the step broken. A signal without receipts is an ordinary, found step.

use serde::Serialize;

use super::{AuditEvidence, Check, Checked, Step, TraceError, store_error};
use crate::domain::audit::AuditEventType;
use crate::domain::entry::StoredEntry;
use crate::domain::receipt::StoredReceipt;
use crate::ports::{LedgerStore, StoreError};

/// The signal's delivery receipts and their checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptsEvidence {
    /// In subscriber-key order, as stored.
    pub receipts: Vec<StoredReceipt>,
    pub checks: Vec<Check>,
}

impl Checked for ReceiptsEvidence {
    fn checks(&self) -> &[Check] {
        &self.checks
    }
}

/// Reads and checks the receipts of `stored`, against the audit events the trail found.
pub(super) async fn receipts_step<S: LedgerStore>(
    store: &S,
    stored: &StoredEntry,
    audit: &Step<AuditEvidence>,
) -> Result<Step<ReceiptsEvidence>, TraceError> {
    let entry = &stored.entry;
    let read = store
        .receipts_of(&entry.signal_id)
        .await
        .map_err(store_error(format!(
            "receipts of signal {}",
            entry.signal_id
        )))?;
    let mut receipts = Vec::with_capacity(read.len());
    for item in read {
        match item {
            Ok(receipt) => receipts.push(receipt),
            Err(StoreError::Malformed { key, reason }) => {
                return Ok(Step::broken(format!(
                    "the receipt item {key} is malformed: {reason}"
                )));
            }
            Err(source) => {
                return Err(store_error(format!(
                    "receipts of signal {}",
                    entry.signal_id
                ))(source));
            }
        }
    }
    let mut checks = Vec::new();
    for stored_receipt in &receipts {
        checks.extend(receipt_checks(stored, stored_receipt, audit));
    }
    Ok(Step::judge(ReceiptsEvidence { receipts, checks }))
}

fn receipt_checks(
    signal: &StoredEntry,
    stored: &StoredReceipt,
    audit: &Step<AuditEvidence>,
) -> Vec<Check> {
    let receipt = &stored.receipt;
    let who = &receipt.subscriber;
    let recomputed = receipt.compute_hash();
    let mut checks = vec![
        Check::new(
            "receipt hash",
            recomputed == stored.receipt_hash,
            format!(
                "{who}: stored {} / recomputed {recomputed}",
                stored.receipt_hash
            ),
        ),
        Check::new(
            "receipt's signal",
            receipt.signal_id == signal.entry.signal_id
                && receipt.chain_index == signal.entry.chain_index
                && receipt.generated_at == signal.entry.content.generated_at,
            format!(
                "{who}: names index {} generated {} / the entry is index {} generated {}",
                receipt.chain_index,
                receipt.generated_at,
                signal.entry.chain_index,
                signal.entry.content.generated_at
            ),
        ),
        Check::new(
            "client latency",
            receipt.client_latency_ms == receipt.delivered_at.millis_since(&receipt.generated_at)
                && receipt.client_latency_ms >= 0,
            format!(
                "{who}: {} ms (delivered_at {} − generated_at {})",
                receipt.client_latency_ms, receipt.delivered_at, receipt.generated_at
            ),
        ),
    ];
    if let Some(evidence) = audit.evidence() {
        let day = &receipt.recorded_at.as_str()[..10];
        let events: Vec<_> = evidence
            .related
            .iter()
            .filter(|e| {
                e.event_type == AuditEventType::ReceiptRecorded
                    && e.details["subscriber"].as_str() == Some(who.as_str())
            })
            .collect();
        if evidence.days_searched.iter().any(|d| d == day) {
            let hashes: Vec<String> = events
                .iter()
                .map(|e| e.details["receipt_hash"].as_str().unwrap_or("?").to_owned())
                .collect();
            checks.push(Check::new(
                "receipt audited",
                hashes == [stored.receipt_hash.to_hex()],
                format!(
                    "{who}: RECEIPT_RECORDED events on {day} name {} / the receipt's hash is {}",
                    if hashes.is_empty() {
                        "none".to_owned()
                    } else {
                        hashes.join(", ")
                    },
                    stored.receipt_hash
                ),
            ));
        }
    }
    checks
}
