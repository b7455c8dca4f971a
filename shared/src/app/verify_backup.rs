//! Backup verification (the seed's `verify_backup.py`) and the restore drill.
//!
//! For each manifest checked: the exact CSV version it names is downloaded and hashed; the
//! object must be COMPLIANCE-locked at least as long as the manifest says, encrypted, and not
//! overwritten by a newer version; the manifests must form an unbroken chain; every row must
//! re-hash to its `entry_hash`, link to the row before it (across files), and equal the live
//! DynamoDB entry. In mode `all` the restore drill rebuilds the whole chain from the backups
//! alone and compares its Merkle root and head with the live ledger at that size.
//!
//! A manifest's receipts CSV (§8.6) gets the same object checks (exact version, not
//! overwritten, locked, encrypted, SHA-256 and size), then every row is re-hashed (§10) and
//! checked against the manifest's window, the row order, the manifest's count, the signal it
//! names (backed up, and the live entry's id and `generated_at`) and the live receipt item.
//!
//! Promise: every problem is a finding naming the backup and, where there is one, the chain
//! index; the result is written to the vault as JSON for the report, audited and counted, and a
//! failed verification is an error (so Lambda's error metric fires).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::vault;
use crate::domain::audit::AuditEventType;
use crate::domain::backup::{
    BackupId, CsvObject, Manifest, ReceiptsBackup, check_receipt_rows, read_receipt_rows,
    read_rows, verify_manifest_chain,
};
use crate::domain::chain::ChainVerifier;
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::merkle::CompactRange;
use crate::domain::receipt::StoredReceipt;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AuditSink, BlobVault, Clock, LedgerStore, Metric, MetricsSink, ObjectProtection, StoreError,
    VaultError,
};

pub const VERIFICATION_PREFIX: &str = "verifications/";

pub mod metric {
    pub const BACKUP_VERIFIED: &str = "BackupVerified";
    pub const BACKUP_VERIFICATION_FAILED: &str = "BackupVerificationFailed";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// The newest manifest and its CSV (and the whole manifest chain).
    #[default]
    Latest,
    /// Every manifest and CSV, and the restore drill.
    All,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFinding {
    /// The backup concerned (`None` for problems with the vault listing itself).
    pub backup_id: Option<BackupId>,
    /// The chain index concerned, when there is one.
    pub chain_index: Option<u64>,
    /// A stable name: `manifest_overwritten`, `csv_overwritten`, `csv_hash_mismatch`, …
    pub kind: String,
    pub message: String,
}

/// The restore drill's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreDrill {
    pub tree_size: u64,
    pub backup_root: Hash,
    pub backup_head: Hash,
    pub live_root: Hash,
    pub live_head: Hash,
    pub matches: bool,
}

/// The JSON result object written to the vault under `verifications/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationResult {
    pub run_id: String,
    pub mode: VerifyMode,
    pub passed: bool,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub duration_ms: u64,
    pub manifests_checked: u64,
    pub rows_checked: u64,
    /// Rows of receipts CSVs checked (absent in results written before receipts were backed up).
    #[serde(default)]
    pub receipts_checked: u64,
    /// Entries `[0, covered_to)` are in verified backups.
    pub covered_to: u64,
    pub restore_drill: Option<RestoreDrill>,
    /// Every finding counted; the first [`MAX_FINDINGS_KEPT`] are listed.
    pub findings_total: u64,
    pub findings: Vec<BackupFinding>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("backup verification failed: {} finding(s); first: {}", .0.findings_total,
        .0.findings.first().map_or("-".to_owned(), |f| format!("{} ({})", f.kind, f.message)))]
    Failed(Box<VerificationResult>),
    #[error("the ledger store failed")]
    Store(#[from] StoreError),
    #[error("the vault failed")]
    Vault(#[from] VaultError),
}

#[derive(Debug)]
pub struct VerifyBackupJob<S, V, A, C, M> {
    store: S,
    vault: V,
    audit: A,
    clock: C,
    metrics: M,
}

/// At most this many findings are kept in a result; all are counted.
pub const MAX_FINDINGS_KEPT: usize = 1_000;

struct Findings {
    kept: Vec<BackupFinding>,
    total: u64,
}

impl Findings {
    fn add(
        &mut self,
        backup_id: Option<BackupId>,
        chain_index: Option<u64>,
        kind: &str,
        message: String,
    ) {
        self.total += 1;
        if self.kept.len() < MAX_FINDINGS_KEPT {
            self.kept.push(BackupFinding {
                backup_id,
                chain_index,
                kind: kind.to_owned(),
                message,
            });
        }
    }
}

/// The live entries from an index on, read a page at a time as the rows are compared.
struct LiveCursor {
    next: Option<u64>,
    buffered: std::collections::VecDeque<crate::ports::ReadItem>,
}

impl LiveCursor {
    async fn next(
        &mut self,
        store: &impl LedgerStore,
    ) -> Result<Option<crate::ports::ReadItem>, StoreError> {
        if self.buffered.is_empty()
            && let Some(from) = self.next
        {
            let page = store.read_page(from, 500).await?;
            self.next = page.next;
            self.buffered.extend(page.items);
        }
        Ok(self.buffered.pop_front())
    }
}

impl<S, V, A, C, M> VerifyBackupJob<S, V, A, C, M>
where
    S: LedgerStore,
    V: BlobVault,
    A: AuditSink,
    C: Clock,
    M: MetricsSink,
{
    pub fn new(store: S, vault: V, audit: A, clock: C, metrics: M) -> Self {
        VerifyBackupJob {
            store,
            vault,
            audit,
            clock,
            metrics,
        }
    }

    pub async fn run(
        &self,
        mode: VerifyMode,
        request_id: &str,
    ) -> Result<VerificationResult, VerifyError> {
        let started_at = self.clock.now();
        let started = Instant::now();
        let mut findings = Findings {
            kept: Vec::new(),
            total: 0,
        };
        let checked = self.verify(mode, &mut findings).await;
        let Checked {
            manifests_checked,
            rows_checked,
            receipts_checked,
            covered_to,
            restore_drill,
        } = match checked {
            Ok(checked) => checked,
            Err(error) => {
                self.record(
                    AuditEventType::BackupVerificationFailed,
                    request_id,
                    format!(
                        "backup verification could not complete: {}",
                        crate::app::ingest::error_chain(&error)
                    ),
                    json!({"mode": mode}),
                )
                .await;
                self.metrics
                    .emit(&[Metric::count(metric::BACKUP_VERIFICATION_FAILED, 1)]);
                return Err(error);
            }
        };
        let result = VerificationResult {
            run_id: uuid::Uuid::now_v7().to_string(),
            mode,
            passed: findings.total == 0,
            started_at,
            finished_at: self.clock.now(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            manifests_checked,
            rows_checked,
            receipts_checked,
            covered_to,
            restore_drill,
            findings_total: findings.total,
            findings: findings.kept,
        };
        let key = self.store_result(&result).await;
        let details = json!({"mode": mode, "result": key, "manifests_checked": manifests_checked, "rows_checked": rows_checked,
                             "receipts_checked": receipts_checked, "covered_to": covered_to, "first_finding": result.findings.first()});
        if result.passed {
            self.metrics
                .emit(&[Metric::count(metric::BACKUP_VERIFIED, 1)]);
            self.record(
                AuditEventType::BackupVerified,
                request_id,
                format!("{manifests_checked} backup(s), {rows_checked} rows and {receipts_checked} receipts verified"),
                details,
            )
            .await;
            Ok(result)
        } else {
            tracing::error!(findings = result.findings_total, first = ?result.findings.first(), "backup verification failed");
            self.metrics
                .emit(&[Metric::count(metric::BACKUP_VERIFICATION_FAILED, 1)]);
            let first = result.findings.first().map_or(String::new(), |f| {
                format!("; first: {} — {}", f.kind, f.message)
            });
            self.record(
                AuditEventType::BackupVerificationFailed,
                request_id,
                format!("{} finding(s){first}", result.findings_total),
                details,
            )
            .await;
            Err(VerifyError::Failed(Box::new(result)))
        }
    }

    /// Writes the result, locked, under `verifications/`; a failure is logged, not fatal (the
    /// audit event and the metric still tell). Returns its key.
    async fn store_result(&self, result: &VerificationResult) -> String {
        let key = format!(
            "{VERIFICATION_PREFIX}{}/{}-{}.json",
            result.started_at.as_str()[..10].replace('-', "/"),
            result
                .started_at
                .as_str()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>(),
            match result.mode {
                VerifyMode::Latest => "latest",
                VerifyMode::All => "all",
            }
        );
        let retain_until = result
            .started_at
            .plus_days(2555)
            .unwrap_or(result.started_at);
        let body = serde_json::to_vec_pretty(result).unwrap_or_default();
        if let Err(error) = self
            .vault
            .put_locked(&key, body, "application/json", retain_until)
            .await
        {
            tracing::error!(error = %crate::app::ingest::error_chain(&error), key, "could not write the verification result");
        }
        key
    }

    /// Checks the manifest chain, then each selected backup's CSV object and rows, then (mode
    /// `all`) the restore drill.
    async fn verify(
        &self,
        mode: VerifyMode,
        findings: &mut Findings,
    ) -> Result<Checked, VerifyError> {
        let manifests = self.read_manifests(findings).await?;
        let chain: Vec<(Vec<u8>, Manifest)> = manifests
            .iter()
            .map(|(_, b, m)| (b.clone(), m.clone()))
            .collect();
        for finding in verify_manifest_chain(&chain) {
            findings.add(
                Some(finding.backup_id),
                None,
                finding.kind.name(),
                format!("{:?}", finding.kind),
            );
        }
        let covered_to = manifests.last().map_or(0, |(_, _, m)| m.index_range.to);
        let selected: Vec<usize> = match mode {
            VerifyMode::All => (0..manifests.len()).collect(),
            VerifyMode::Latest => manifests.len().checked_sub(1).into_iter().collect(),
        };
        let mut rows_checked = 0;
        let mut receipts_checked = 0;
        // In `all` mode one verifier runs across every file from genesis (the drill); in
        // `latest` it resumes from the previous manifest's compact range.
        let mut drill: Option<Drill> = None;
        for &position in &selected {
            if mode == VerifyMode::All && drill.is_none() {
                drill = Some(Drill::from_genesis());
            }
            let (id, _, manifest) = &manifests[position];
            if let Some(receipts) = &manifest.receipts {
                receipts_checked += self
                    .check_receipts(*id, manifest, receipts, findings)
                    .await?;
            }
            let mut resumed = match drill {
                Some(_) => None,
                None => {
                    let previous = position.checked_sub(1).map(|p| &manifests[p].2);
                    let tree = previous
                        .map_or(Ok(CompactRange::new()), |m| m.tree())
                        .unwrap_or_default();
                    Some(ChainVerifier::resume(tree, manifest.first_previous_hash))
                }
            };
            let Some(csv) = &manifest.csv else { continue };
            let Some(rows) = self.read_csv(*id, manifest, findings).await? else {
                continue;
            };
            let (verifier, live) = match (&mut resumed, &mut drill) {
                (Some(verifier), _) => (verifier, None),
                (None, Some(drill)) => (&mut drill.backup, Some(&mut drill.live)),
                (None, None) => continue,
            };
            rows_checked += self
                .compare_rows(*id, manifest, &rows, verifier, live, findings)
                .await?;
            file_result(*id, manifest, &csv.key, verifier, findings);
        }
        let restore_drill = drill.map(|drill| drill.outcome(findings));
        Ok(Checked {
            manifests_checked: selected.len() as u64,
            rows_checked,
            receipts_checked,
            covered_to,
            restore_drill,
        })
    }

    /// Every manifest (original versions) in backup order; strays, overwrites and invalid
    /// manifests are findings.
    async fn read_manifests(
        &self,
        findings: &mut Findings,
    ) -> Result<Vec<(BackupId, Vec<u8>, Manifest)>, VerifyError> {
        let listing = vault::list_manifests(&self.vault).await?;
        for stray in &listing.strays {
            findings.add(
                None,
                None,
                "unexpected_object",
                format!("{} is not a manifest key", stray.key()),
            );
        }
        let mut manifests: Vec<(BackupId, Vec<u8>, Manifest)> = Vec::new();
        for (id, original) in &listing.manifests {
            if original.overwritten() {
                findings.add(
                    Some(*id),
                    None,
                    "manifest_overwritten",
                    format!(
                        "{} has {} versions; the original is used",
                        original.key(),
                        original.versions
                    ),
                );
            }
            match vault::read_manifest(&self.vault, original).await? {
                Ok(read) => manifests.push((*id, read.bytes, read.manifest)),
                Err(invalid) => findings.add(
                    Some(*id),
                    None,
                    "manifest_invalid",
                    format!("{}: {}", invalid.key, invalid.reason),
                ),
            }
        }
        manifests.sort_by_key(|(id, _, _)| *id);
        Ok(manifests)
    }

    /// The exact CSV version a manifest names: not overwritten, locked, encrypted, and its bytes
    /// those the manifest hashed. Returns its rows, or `None` when they cannot be checked.
    async fn read_csv(
        &self,
        id: BackupId,
        manifest: &Manifest,
        findings: &mut Findings,
    ) -> Result<Option<Vec<StoredEntry>>, VerifyError> {
        let Some(csv) = &manifest.csv else {
            return Ok(None);
        };
        let id = &id;
        // Newer versions over the exact version named.
        let csv_versions = self.vault.list_versions(&csv.key).await?;
        let named = csv_versions
            .iter()
            .position(|v| v.key == csv.key && v.version_id == csv.version_id);
        match named {
            None => {
                findings.add(
                    Some(*id),
                    None,
                    "csv_missing",
                    format!("{} version {} does not exist", csv.key, csv.version_id),
                );
                return Ok(None);
            }
            Some(at) if csv_versions[at + 1..].iter().any(|v| v.key == csv.key) => {
                findings.add(
                    Some(*id),
                    None,
                    "csv_overwritten",
                    format!(
                        "{} has a newer version over the backed-up one (someone wrote over it)",
                        csv.key
                    ),
                );
            }
            Some(_) => {}
        }
        let protection = self.vault.protection(&csv.key, &csv.version_id).await?;
        protection_findings(*id, manifest, csv, "csv", &protection, findings);
        let bytes = self.vault.get_version(&csv.key, &csv.version_id).await?;
        if Hash::sha256(&bytes) != csv.sha256 || bytes.len() as u64 != csv.bytes {
            findings.add(
                Some(*id),
                None,
                "csv_hash_mismatch",
                format!(
                    "{}: the bytes stored do not hash to the manifest's SHA-256",
                    csv.key
                ),
            );
            return Ok(None);
        }
        let rows = match read_rows(&bytes) {
            Ok(rows) => rows,
            Err(error) => {
                findings.add(
                    Some(*id),
                    None,
                    "csv_invalid",
                    format!("{}: {error}", csv.key),
                );
                return Ok(None);
            }
        };
        if rows.len() as u64 != manifest.row_count {
            findings.add(
                Some(*id),
                None,
                "row_count_mismatch",
                format!(
                    "{} has {} rows; the manifest says {}",
                    csv.key,
                    rows.len(),
                    manifest.row_count
                ),
            );
        }
        Ok(Some(rows))
    }

    /// Each row against the chain (`verifier`) and against the live entry at its index, read
    /// page by page alongside (a DynamoDB page holds at most 1 MB, whatever the limit asked
    /// for); in the drill, the live entries also feed `live`. Returns the rows checked.
    async fn compare_rows(
        &self,
        id: BackupId,
        manifest: &Manifest,
        rows: &[StoredEntry],
        verifier: &mut ChainVerifier,
        mut live_verifier: Option<&mut ChainVerifier>,
        findings: &mut Findings,
    ) -> Result<u64, VerifyError> {
        let id = &id;
        let mut live = LiveCursor {
            next: Some(manifest.index_range.from),
            buffered: std::collections::VecDeque::new(),
        };
        for row in rows {
            verifier.push(row);
            match live.next(&self.store).await? {
                Some(Ok(entry)) => {
                    if let Some(live_verifier) = live_verifier.as_deref_mut() {
                        live_verifier.push(&entry);
                    }
                    if entry != *row {
                        findings.add(Some(*id), Some(row.entry.chain_index), "row_differs_from_live", format!("chain index {}: the live entry (index {}, hash {}) differs from the backed-up row (hash {})", row.entry.chain_index, entry.entry.chain_index, entry.entry_hash, row.entry_hash));
                    }
                }
                Some(Err(error)) => findings.add(
                    Some(*id),
                    Some(row.entry.chain_index),
                    "live_unreadable",
                    error.to_string(),
                ),
                None => findings.add(
                    Some(*id),
                    Some(row.entry.chain_index),
                    "live_missing",
                    format!(
                        "chain index {} is in the backup but not in the table",
                        row.entry.chain_index
                    ),
                ),
            }
        }
        Ok(rows.len() as u64)
    }

    /// A manifest's receipts CSV: the exact version, protected, with the manifest's SHA-256,
    /// size and row count; then each row (§10 hash, window, order, signal) and against the
    /// live receipt and entry. Returns the rows checked.
    async fn check_receipts(
        &self,
        id: BackupId,
        manifest: &Manifest,
        receipts: &ReceiptsBackup,
        findings: &mut Findings,
    ) -> Result<u64, VerifyError> {
        let Some(csv) = &receipts.csv else {
            return Ok(0);
        };
        let Some(rows) = self
            .read_receipts_csv(id, manifest, receipts, csv, findings)
            .await?
        else {
            return Ok(0);
        };
        let mut add = |kind: &str, chain_index: Option<u64>, message: String| {
            findings.add(
                Some(id),
                chain_index,
                kind,
                format!("{}: {message}", csv.key),
            );
        };
        for finding in check_receipt_rows(&rows, receipts, manifest.index_range.to) {
            let chain_index = rows
                .get(finding.row as usize - 1)
                .map(|r| r.receipt.chain_index);
            add(
                finding.kind,
                chain_index,
                format!("row {}: {}", finding.row, finding.message),
            );
        }
        for (position, row) in rows.iter().enumerate() {
            self.compare_receipt_to_live(position, row, &mut add).await;
        }
        Ok(rows.len() as u64)
    }

    /// The rows of a receipts CSV, after checking the object (the exact version exists and is
    /// not overwritten, its protection, the manifest's SHA-256 and size) and the row count;
    /// `None` when the rows cannot be checked (missing version, wrong bytes, unreadable CSV).
    async fn read_receipts_csv(
        &self,
        id: BackupId,
        manifest: &Manifest,
        receipts: &ReceiptsBackup,
        csv: &CsvObject,
        findings: &mut Findings,
    ) -> Result<Option<Vec<StoredReceipt>>, VerifyError> {
        let mut add = |kind: &str, chain_index: Option<u64>, message: String| {
            findings.add(
                Some(id),
                chain_index,
                kind,
                format!("{}: {message}", csv.key),
            );
        };
        let versions = self.vault.list_versions(&csv.key).await?;
        let named = versions
            .iter()
            .position(|v| v.key == csv.key && v.version_id == csv.version_id);
        match named {
            None => {
                add(
                    "receipts_csv_missing",
                    None,
                    format!("version {} does not exist", csv.version_id),
                );
                return Ok(None);
            }
            Some(at) if versions[at + 1..].iter().any(|v| v.key == csv.key) => add(
                "receipts_csv_overwritten",
                None,
                "has a newer version over the backed-up one (someone wrote over it); the original is checked".to_owned(),
            ),
            Some(_) => {}
        }
        let protection = self.vault.protection(&csv.key, &csv.version_id).await?;
        protection_findings(id, manifest, csv, "receipts_csv", &protection, findings);
        let mut add = |kind: &str, chain_index: Option<u64>, message: String| {
            findings.add(
                Some(id),
                chain_index,
                kind,
                format!("{}: {message}", csv.key),
            );
        };
        let bytes = self.vault.get_version(&csv.key, &csv.version_id).await?;
        if Hash::sha256(&bytes) != csv.sha256 || bytes.len() as u64 != csv.bytes {
            add(
                "receipts_csv_hash_mismatch",
                None,
                "the bytes stored do not hash to the manifest's SHA-256".to_owned(),
            );
            return Ok(None);
        }
        let rows = match read_receipt_rows(&bytes) {
            Ok(rows) => rows,
            Err(error) => {
                add("receipts_csv_invalid", None, error.to_string());
                return Ok(None);
            }
        };
        if rows.len() as u64 != receipts.row_count {
            add(
                "receipts_row_count_mismatch",
                None,
                format!(
                    "{} rows; the manifest says {}",
                    rows.len(),
                    receipts.row_count
                ),
            );
        }
        Ok(Some(rows))
    }

    /// One backed-up receipt row (at `position`) against the live receipt item and the live
    /// entry at its chain index (same signal and `generated_at`); each difference goes to `add`.
    async fn compare_receipt_to_live(
        &self,
        position: usize,
        row: &StoredReceipt,
        add: &mut impl FnMut(&str, Option<u64>, String),
    ) {
        let receipt = &row.receipt;
        let at = |what: &str| {
            format!(
                "row {} (signal {}, subscriber {}): {what}",
                position + 1,
                receipt.signal_id,
                receipt.subscriber
            )
        };
        let chain_index = Some(receipt.chain_index);
        match self
            .store
            .receipt(&receipt.signal_id, &receipt.subscriber)
            .await
        {
            Ok(Some(live)) if live == *row => {}
            Ok(Some(live)) => add(
                "receipt_differs_from_live",
                chain_index,
                at(&format!(
                    "the live receipt (hash {}) differs from the backed-up row (hash {})",
                    live.receipt_hash, row.receipt_hash
                )),
            ),
            Ok(None) => add(
                "receipt_live_missing",
                chain_index,
                at("in the backup but not in the table"),
            ),
            Err(error) => add(
                "receipt_live_unreadable",
                chain_index,
                at(&error.to_string()),
            ),
        }
        match self.store.entry_at(receipt.chain_index).await {
            Ok(Some(entry))
                if entry.entry.signal_id == receipt.signal_id
                    && entry.entry.content.generated_at == receipt.generated_at => {}
            Ok(Some(entry)) => add(
                "receipt_signal_mismatch",
                chain_index,
                at(&format!(
                    "chain index {} holds signal {} generated at {}, not the receipt's signal and generated_at {}",
                    receipt.chain_index,
                    entry.entry.signal_id,
                    entry.entry.content.generated_at,
                    receipt.generated_at
                )),
            ),
            Ok(None) => add(
                "receipt_signal_missing",
                chain_index,
                at(&format!("no entry at chain index {}", receipt.chain_index)),
            ),
            Err(error) => add(
                "receipt_live_unreadable",
                chain_index,
                at(&error.to_string()),
            ),
        }
    }

    async fn record(
        &self,
        event_type: AuditEventType,
        request_id: &str,
        reason: String,
        details: serde_json::Value,
    ) {
        let event = super::run_event(
            "verify-backup",
            event_type,
            request_id,
            reason,
            details,
            self.clock.now(),
        );
        super::record_run(&self.audit, &self.metrics, &event).await;
    }
}

/// What [`VerifyBackupJob::verify`] covered.
struct Checked {
    manifests_checked: u64,
    rows_checked: u64,
    receipts_checked: u64,
    /// Entries `[0, covered_to)` are in the backups.
    covered_to: u64,
    restore_drill: Option<RestoreDrill>,
}

/// The restore drill: the chain rebuilt from every backup, and the live entries beside it.
struct Drill {
    backup: ChainVerifier,
    live: ChainVerifier,
}

impl Drill {
    fn from_genesis() -> Drill {
        Drill {
            backup: ChainVerifier::from_genesis(),
            live: ChainVerifier::from_genesis(),
        }
    }

    /// Compares the rebuilt chain with the live one at the same size.
    fn outcome(self, findings: &mut Findings) -> RestoreDrill {
        let (backup_root, live_root) = (self.backup.tree().root(), self.live.tree().root());
        let (backup_head, live_head) = (
            self.backup.head_hash().unwrap_or(Hash::ZERO),
            self.live.head_hash().unwrap_or(Hash::ZERO),
        );
        let drill = RestoreDrill {
            tree_size: self.backup.tree().size(),
            backup_root,
            backup_head,
            live_root,
            live_head,
            matches: backup_root == live_root && backup_head == live_head,
        };
        if !drill.matches {
            findings.add(None, None, "restore_drill_mismatch", format!("the chain rebuilt from the backups (root {}, head {}) differs from the live ledger at size {} (root {}, head {})", drill.backup_root, drill.backup_head, drill.tree_size, drill.live_root, drill.live_head));
        }
        drill
    }
}

/// A CSV version (`what`: `csv` or `receipts_csv`, the prefix of the finding kinds) must be
/// COMPLIANCE-locked at least as long as the manifest says, encrypted, and carry the manifest's
/// SHA-256 where the store reports one.
fn protection_findings(
    id: BackupId,
    manifest: &Manifest,
    csv: &CsvObject,
    what: &str,
    protection: &ObjectProtection,
    findings: &mut Findings,
) {
    let id = &id;
    if protection.lock_mode.as_deref() != Some("COMPLIANCE") {
        findings.add(
            Some(*id),
            None,
            &format!("{what}_not_locked"),
            format!(
                "{} lock mode is {:?}, not COMPLIANCE",
                csv.key, protection.lock_mode
            ),
        );
    }
    if protection
        .retain_until
        .is_none_or(|until| until < manifest.retain_until)
    {
        findings.add(
            Some(*id),
            None,
            &format!("{what}_retention_short"),
            format!(
                "{} is retained until {:?}, before {}",
                csv.key,
                protection.retain_until.map(|t| t.to_string()),
                manifest.retain_until
            ),
        );
    }
    if protection.server_side_encryption.is_none() {
        findings.add(
            Some(*id),
            None,
            &format!("{what}_not_encrypted"),
            format!("{} has no server-side encryption", csv.key),
        );
    }
    if let Some(sha256) = protection.sha256
        && sha256 != csv.sha256
    {
        findings.add(
            Some(*id),
            None,
            &format!("{what}_checksum_mismatch"),
            format!(
                "{}: S3's SHA-256 {sha256} is not the manifest's {}",
                csv.key, csv.sha256
            ),
        );
    }
}

/// After a file's rows: the chain's first finding in this file, or else its root and head
/// against the manifest's. In `all` mode the verifier spans every file: a finding is reported
/// once, with the file it is in.
fn file_result(
    id: BackupId,
    manifest: &Manifest,
    csv_key: &str,
    verifier: &ChainVerifier,
    findings: &mut Findings,
) {
    if let Some(finding) = verifier.first_finding() {
        if finding.index >= manifest.index_range.from {
            findings.add(
                Some(id),
                Some(finding.index),
                finding.kind.name(),
                format!(
                    "the backed-up rows: {} at chain index {}",
                    finding.kind.name(),
                    finding.index
                ),
            );
        }
    } else if verifier.tree().root() != manifest.merkle_root
        || verifier.head_hash().unwrap_or(manifest.first_previous_hash) != manifest.last_entry_hash
    {
        findings.add(
            Some(id),
            Some(manifest.index_range.to.saturating_sub(1)),
            "manifest_root_mismatch",
            format!("the rows of {csv_key} do not give the manifest's Merkle root and head"),
        );
    }
}

#[cfg(test)]
#[path = "verify_backup_tests.rs"]
mod tests;
