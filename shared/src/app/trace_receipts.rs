//! The trail's delivery-receipts step (a child of `trace.rs`): every receipt the signal has,
//! each re-hashed and matched with its `RECEIPT_RECORDED` audit event, and the backup whose
//! receipts window holds it (`docs/ledger-format.md` §8.6), or why none does yet.
//!
//! Promise: a receipt whose stored hash differs from its recomputed hash, whose fields do not
//! match the signal (id, chain index, `generated_at`, latency), or whose audit event is missing
//! from a day the trail searched, or names another hash, fails a check; a malformed receipt item
//! makes the step broken. A signal without receipts is an ordinary, found step.

use serde::Serialize;

use super::{AuditEvidence, Check, Checked, Step, TraceError, store_error, vault_error};
use crate::app::backup::MANIFEST_PREFIX;
use crate::app::vault;
use crate::domain::audit::AuditEventType;
use crate::domain::backup::{BackupId, Manifest};
use crate::domain::entry::StoredEntry;
use crate::domain::receipt::StoredReceipt;
use crate::domain::timestamp::Timestamp;
use crate::ports::{BlobVault, LedgerStore, StoreError};

/// The signal's delivery receipts and their checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptsEvidence {
    /// In subscriber-key order, as stored.
    pub receipts: Vec<StoredReceipt>,
    /// Where each receipt (same order) is backed up.
    pub backups: Vec<ReceiptBackup>,
    pub checks: Vec<Check>,
}

/// The backup whose receipts window holds a receipt's `recorded_at`, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptBackup {
    pub backup_id: Option<BackupId>,
    /// The receipts CSV of that backup.
    pub receipts_csv: Option<String>,
    /// One sentence: where it is, or why it is in no backup yet.
    pub note: String,
}

impl Checked for ReceiptsEvidence {
    fn checks(&self) -> &[Check] {
        &self.checks
    }
}

/// Reads and checks the receipts of `stored`, against the audit events the trail found.
pub(super) async fn receipts_step<S: LedgerStore, V: BlobVault>(
    store: &S,
    vault: &V,
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
    let mut backups = Vec::with_capacity(receipts.len());
    if !receipts.is_empty() {
        let manifests = vault::list_manifests(vault)
            .await
            .map_err(vault_error(format!("the listing of {MANIFEST_PREFIX}")))?
            .manifests;
        for stored_receipt in &receipts {
            backups
                .push(receipt_backup(vault, &manifests, stored_receipt.receipt.recorded_at).await?);
        }
    }
    Ok(Step::judge(ReceiptsEvidence {
        receipts,
        backups,
        checks,
    }))
}

/// The manifest whose receipts window holds `recorded_at`: windows follow backup order (format-1
/// manifests, without receipts, come first), so a binary search reads O(log n) manifests.
async fn receipt_backup<V: BlobVault>(
    vault: &V,
    manifests: &[(BackupId, vault::Original)],
    recorded_at: Timestamp,
) -> Result<ReceiptBackup, TraceError> {
    let none = |note: String| ReceiptBackup {
        backup_id: None,
        receipts_csv: None,
        note,
    };
    let read = async |original: &vault::Original| -> Result<Result<Manifest, String>, TraceError> {
        Ok(vault::read_manifest(vault, original)
            .await
            .map_err(vault_error(format!("manifest {}", original.key())))?
            .map(|read| read.manifest)
            .map_err(|invalid| invalid.to_string()))
    };
    let Some((_, latest)) = manifests.last() else {
        return Ok(none(
            "not yet in any backup: the vault holds no backup manifest".into(),
        ));
    };
    match read(latest).await? {
        Err(invalid) => {
            return Ok(none(format!(
                "the latest manifest is unreadable: {invalid}"
            )));
        }
        Ok(manifest) => match &manifest.receipts {
            None => {
                return Ok(none(format!(
                    "not yet in any backup: the latest backup {} lists no receipts (format 1)",
                    manifest.backup_id
                )));
            }
            Some(window) if window.recorded_until <= recorded_at => {
                return Ok(none(format!(
                    "not yet in any backup: the latest backup {} holds receipts recorded before {}",
                    manifest.backup_id, window.recorded_until
                )));
            }
            Some(_) => {}
        },
    }
    let (mut low, mut high) = (0usize, manifests.len());
    while low < high {
        let middle = low + (high - low) / 2;
        let manifest = match read(&manifests[middle].1).await? {
            Ok(manifest) => manifest,
            Err(invalid) => return Ok(none(format!("a manifest is unreadable: {invalid}"))),
        };
        match &manifest.receipts {
            None => low = middle + 1,
            Some(window) if window.recorded_until <= recorded_at => low = middle + 1,
            Some(window) if window.recorded_from.is_some_and(|from| from > recorded_at) => {
                high = middle;
            }
            Some(window) => {
                let key = window.csv.as_ref().map(|csv| csv.key.clone());
                return Ok(ReceiptBackup {
                    backup_id: Some(manifest.backup_id),
                    note: format!(
                        "in backup {} (receipts recorded in {window}), {}",
                        manifest.backup_id,
                        key.as_deref().unwrap_or("which lists no receipts CSV")
                    ),
                    receipts_csv: key,
                });
            }
        }
    }
    Ok(none(format!(
        "no backup's receipts window holds {recorded_at}: the manifest chain has a gap"
    )))
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
