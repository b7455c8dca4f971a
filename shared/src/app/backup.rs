//! The nightly backup (the seed's `daily_backup.py`): exports the entries appended since the
//! previous backup to a CSV in the WORM vault, and writes a manifest chained to the previous one.
//!
//! Promises:
//! - memory is bounded however large the ledger: entries are read page by page and the CSV is
//!   streamed to a multipart upload in parts of `part_bytes`;
//! - a failure midway leaves no manifest pointing at a partial file — the upload is aborted (and
//!   an unfinished upload never becomes an object) — and the next run starts again from the last
//!   good manifest, so no row is ever backed up twice or skipped;
//! - the exported rows are verified as they stream (hash, link, index) against the previous
//!   manifest's head and compact range: a broken chain fails the backup loudly;
//! - a run with nothing new still writes a manifest: proof the job ran;
//! - runs exclude each other: the CSV and the manifest are created only if their keys are new
//!   (`If-None-Match: *`), so of two runs that picked the same backup id exactly one writes
//!   anything; the other aborts its upload and stops with [`BackupFailure::AnotherRun`],
//!   audited and counted as a conflict (not as a failed backup: the ledger is backed up).
//! - the delivery receipts recorded since the previous backup's receipts window, up to a lag
//!   before the run (`receipt_lag_seconds`, so a receipt still being written belongs to the next
//!   backup), go to a receipts CSV listed in the manifest (§8.6): windows join end to start, so
//!   no receipt is in two backups or in none. They are found through their
//!   `RECEIPT_RECORDED` audit events, and each stored receipt must be the one its event names
//!   (same hash), else the backup fails loudly. The receipts CSV is held in memory (about 400
//!   bytes a receipt).

use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::Date;

use crate::domain::audit::AuditEventType;
use crate::domain::backup::{
    BackupId, CsvObject, IndexRange, Manifest, ManifestFormat, ReceiptsBackup, csv_key,
    manifest_key, receipt_order, receipts_csv_key, write_header, write_receipt_row,
    write_receipts_header, write_row,
};
use crate::domain::chain::ChainVerifier;
use crate::domain::hash::Hash;
use crate::domain::merkle::CompactRange;
use crate::domain::receipt::{StoredReceipt, Subscriber};
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AuditLog, AuditSink, BlobVault, Clock, LedgerStore, MIN_PART_BYTES, Metric, MetricsSink,
    StoreError, Upload, UploadedPart, VaultError,
};

/// Where manifests live in the vault.
pub const MANIFEST_PREFIX: &str = "manifests/";

pub mod metric {
    pub const BACKUP_SUCCEEDED: &str = "BackupSucceeded";
    pub const BACKUP_FAILED: &str = "BackupFailed";
    pub const BACKUP_ROWS: &str = "BackupRows";
    pub const BACKUP_BYTES: &str = "BackupBytes";
    pub const BACKUP_DURATION: &str = "BackupDuration";
    /// A run refused because another run created its backup's objects first.
    pub const BACKUP_CONFLICTS: &str = "BackupConflicts";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// The minimum lock period of backup objects; rows that must be kept longer extend it.
    pub retention_days: u32,
    pub page_size: u32,
    /// Size of each uploaded part but the last (at least [`MIN_PART_BYTES`]).
    pub part_bytes: usize,
    /// The receipts window ends this long before the run: longer than a receipt's write can
    /// take (the ingest function's timeout), so every receipt recorded before the end is stored.
    pub receipt_lag_seconds: u32,
}

/// The default [`BackupSettings::receipt_lag_seconds`], as the audit seal's lag.
pub const DEFAULT_RECEIPT_LAG_SECONDS: u32 = 300;

/// A receipt's `RECEIPT_RECORDED` event is written a moment after its `recorded_at` is taken
/// (same request, no I/O between): events are read this far either side of the window.
const RECEIPT_EVENT_MARGIN_SECONDS: i64 = 60;

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            retention_days: 2555,
            page_size: 500,
            part_bytes: 8 * 1024 * 1024,
            receipt_lag_seconds: DEFAULT_RECEIPT_LAG_SECONDS,
        }
    }
}

/// What a successful run wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupOutcome {
    pub backup_id: BackupId,
    pub manifest_key: String,
    pub index_range: IndexRange,
    pub row_count: u64,
    pub csv_key: Option<String>,
    pub csv_bytes: u64,
    /// Receipts in the receipts CSV, and its key (none when there are none).
    pub receipt_count: u64,
    pub receipts_csv_key: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupFailure {
    #[error("the ledger store failed")]
    Store(#[from] StoreError),
    #[error("the vault failed")]
    Vault(#[from] VaultError),
    #[error("the chain is broken at index {index} ({kind}); nothing was backed up")]
    BrokenChain { index: u64, kind: &'static str },
    #[error("the previous manifest {key} is unusable: {reason}")]
    PreviousManifest { key: String, reason: String },
    #[error("cannot build the backup: {0}")]
    Invalid(String),
    /// A stored receipt is not the one its `RECEIPT_RECORDED` audit event names (or is missing).
    #[error(
        "the receipt of signal {signal_id} from subscriber {subscriber} {reason}; nothing more was backed up"
    )]
    ReceiptMismatch {
        signal_id: String,
        subscriber: String,
        reason: String,
    },
    /// Another run created `key` first (both picked the same backup id): this run wrote nothing.
    #[error("another backup run created {key} first; this run wrote nothing")]
    AnotherRun { key: String },
}

impl BackupFailure {
    fn from_create(error: VaultError) -> BackupFailure {
        match error {
            VaultError::AlreadyExists { key } => BackupFailure::AnotherRun { key },
            other => BackupFailure::Vault(other),
        }
    }
}

#[derive(Debug)]
pub struct BackupJob<S, V, A, C, M> {
    store: S,
    vault: V,
    audit: A,
    clock: C,
    metrics: M,
    settings: BackupSettings,
}

/// The previous run's end state: where this run continues from.
struct Resume {
    from: u64,
    head: Hash,
    tree: CompactRange,
    manifest_sha256: Hash,
    /// The previous manifest's receipts window end (`None` when it lists no receipts).
    receipts_until: Option<Timestamp>,
}

/// What a run backs up: where it continues from, its id, and its end.
struct BackupPlan {
    backup_id: BackupId,
    resume: Resume,
    /// The end (exclusive), fixed when the run starts.
    to: u64,
    /// The lock every object of the backup gets at least.
    minimum_retention: Timestamp,
    /// The receipts this run backs up: `[from, until)` by `recorded_at`.
    receipts_from: Option<Timestamp>,
    receipts_until: Timestamp,
}

/// The receipts CSV a run wrote (none when the window held no receipts).
struct ExportedReceipts {
    row_count: u64,
    csv: Option<CsvObject>,
}

/// A receipt named by a `RECEIPT_RECORDED` event, to be read back.
struct ReceiptRef {
    recorded_at: Timestamp,
    signal_id: SignalId,
    subscriber: Subscriber,
    receipt_hash: Hash,
}

/// The rows a run exported: the chain's state after them, the lock they need, and their CSV
/// (none when there was nothing new).
struct ExportedRows {
    verifier: ChainVerifier,
    retain_until: Timestamp,
    csv: Option<CsvObject>,
}

/// A CSV streamed into an upload: the parts that complete it, its SHA-256 and its size.
struct ExportedCsv {
    parts: Vec<UploadedPart>,
    sha256: Hash,
    bytes: u64,
}

impl<S, V, A, C, M> BackupJob<S, V, A, C, M>
where
    S: LedgerStore,
    V: BlobVault,
    A: AuditSink + AuditLog,
    C: Clock,
    M: MetricsSink,
{
    pub fn new(
        store: S,
        vault: V,
        audit: A,
        clock: C,
        metrics: M,
        settings: BackupSettings,
    ) -> Self {
        BackupJob {
            store,
            vault,
            audit,
            clock,
            metrics,
            settings,
        }
    }

    /// Backs up the entries appended since the previous backup, as the backup of `date` (the UTC
    /// day of the run when `None`). Audited and counted either way.
    pub async fn run(
        &self,
        date: Option<Date>,
        request_id: &str,
    ) -> Result<BackupOutcome, BackupFailure> {
        let started = Instant::now();
        let result = self.backup(date).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (event_type, reason, details, metrics) = match &result {
            Ok(outcome) => (
                AuditEventType::BackupSucceeded,
                format!(
                    "backup {}: {} rows, entries [{}, {})",
                    outcome.backup_id,
                    outcome.row_count,
                    outcome.index_range.from,
                    outcome.index_range.to
                ),
                json!({"backup_id": outcome.backup_id, "manifest": outcome.manifest_key, "csv": outcome.csv_key,
                       "rows": outcome.row_count, "bytes": outcome.csv_bytes,
                       "receipts_csv": outcome.receipts_csv_key, "receipts": outcome.receipt_count,
                       "duration_ms": duration_ms}),
                vec![
                    Metric::count(metric::BACKUP_SUCCEEDED, 1),
                    Metric::count(metric::BACKUP_ROWS, outcome.row_count),
                    Metric {
                        name: metric::BACKUP_BYTES,
                        unit: crate::ports::Unit::Bytes,
                        value: outcome.csv_bytes as f64,
                    },
                    Metric::millis(metric::BACKUP_DURATION, duration_ms as i64),
                ],
            ),
            Err(BackupFailure::AnotherRun { key }) => {
                tracing::warn!(%key, "another backup run got there first; this run wrote nothing");
                (
                    AuditEventType::BackupFailed,
                    format!(
                        "backup refused: another run created {key} first; this run wrote nothing"
                    ),
                    json!({"conflict": "another_run", "key": key, "duration_ms": duration_ms}),
                    vec![
                        Metric::count(metric::BACKUP_CONFLICTS, 1),
                        Metric::millis(metric::BACKUP_DURATION, duration_ms as i64),
                    ],
                )
            }
            Err(error) => {
                let text = crate::app::ingest::error_chain(error);
                tracing::error!(error = %text, "backup failed; no manifest was written");
                (
                    AuditEventType::BackupFailed,
                    format!("backup failed: {text}"),
                    json!({"duration_ms": duration_ms}),
                    vec![
                        Metric::count(metric::BACKUP_FAILED, 1),
                        Metric::millis(metric::BACKUP_DURATION, duration_ms as i64),
                    ],
                )
            }
        };
        self.metrics.emit(&metrics);
        let event = super::run_event(
            "backup",
            event_type,
            request_id,
            reason,
            details,
            self.clock.now(),
        );
        super::record_run(&self.audit, &self.metrics, &event).await;
        result.map(|mut outcome| {
            outcome.duration_ms = duration_ms;
            outcome
        })
    }

    async fn backup(&self, date: Option<Date>) -> Result<BackupOutcome, BackupFailure> {
        let plan = self.plan(date).await?;
        let rows = self.upload_rows(&plan).await?;
        let receipts = self.upload_receipts(&plan, rows.retain_until).await?;
        self.write_manifest(plan, rows, receipts).await
    }

    /// Where this run continues from, its id, and its end, fixed now: entries appended while
    /// the backup runs belong to the next one.
    async fn plan(&self, date: Option<Date>) -> Result<BackupPlan, BackupFailure> {
        let now = self.clock.now();
        let date = date.unwrap_or_else(|| now.as_datetime().date());
        let resume = self.resume().await?;
        let backup_id = self.next_id(date).await?;
        let to = self
            .store
            .head()
            .await?
            .map_or(0, |head| head.chain_index + 1);
        if to < resume.from {
            return Err(BackupFailure::BrokenChain {
                index: to,
                kind: "truncated",
            });
        }
        let minimum_retention = now
            .plus_days(self.settings.retention_days)
            .map_err(|e| BackupFailure::Invalid(e.to_string()))?;
        let lag = time::Duration::seconds(i64::from(self.settings.receipt_lag_seconds));
        let receipts_from = resume.receipts_until;
        // Never before the previous window's end (a clock step back or two runs within the lag
        // give an empty window, never an overlap).
        let cut = now.checked_sub(lag).unwrap_or(now);
        let receipts_until = receipts_from.map_or(cut, |from| cut.max(from));
        Ok(BackupPlan {
            backup_id,
            resume,
            to,
            minimum_retention,
            receipts_from,
            receipts_until,
        })
    }

    /// Exports the plan's rows to a locked CSV (none when there is nothing new), aborting the
    /// upload on any failure so that no partial file becomes an object.
    async fn upload_rows(&self, plan: &BackupPlan) -> Result<ExportedRows, BackupFailure> {
        let resume = &plan.resume;
        let mut verifier = ChainVerifier::resume(resume.tree.clone(), resume.head);
        let mut retain_until = plan.minimum_retention;
        if plan.to == resume.from {
            return Ok(ExportedRows {
                verifier,
                retain_until,
                csv: None,
            });
        }
        let key = csv_key(&plan.backup_id);
        let upload = self
            .vault
            .start_upload(
                &key,
                "text/csv; charset=utf-8; header=present",
                plan.minimum_retention,
            )
            .await?;
        let exported = match self
            .export(
                &upload,
                resume.from,
                plan.to,
                &mut verifier,
                &mut retain_until,
            )
            .await
        {
            Ok(exported) => exported,
            Err(error) => {
                self.abort(&upload).await;
                return Err(error);
            }
        };
        let stored = match self
            .vault
            .complete_upload(&upload, &exported.parts, exported.sha256, retain_until)
            .await
        {
            Ok(stored) => stored,
            Err(error) => {
                self.abort(&upload).await;
                return Err(BackupFailure::from_create(error));
            }
        };
        Ok(ExportedRows {
            verifier,
            retain_until,
            csv: Some(CsvObject {
                key,
                sha256: exported.sha256,
                bytes: exported.bytes,
                version_id: stored.version_id,
            }),
        })
    }

    /// Writes the receipts recorded in the plan's window to a locked receipts CSV (none when
    /// there are none), created only if its key is new.
    async fn upload_receipts(
        &self,
        plan: &BackupPlan,
        retain_until: Timestamp,
    ) -> Result<ExportedReceipts, BackupFailure> {
        let refs = self.receipt_refs(plan).await?;
        if refs.is_empty() {
            return Ok(ExportedReceipts {
                row_count: 0,
                csv: None,
            });
        }
        let mut body = Vec::with_capacity(256 + refs.len() * 400);
        write_receipts_header(&mut body);
        for reference in &refs {
            let stored = self.stored_receipt(reference).await?;
            write_receipt_row(&mut body, &stored);
        }
        let key = receipts_csv_key(&plan.backup_id);
        let sha256 = Hash::sha256(&body);
        let bytes = body.len() as u64;
        let stored = self
            .vault
            .create_locked(
                &key,
                body,
                "text/csv; charset=utf-8; header=present",
                retain_until,
            )
            .await
            .map_err(BackupFailure::from_create)?;
        Ok(ExportedReceipts {
            row_count: refs.len() as u64,
            csv: Some(CsvObject {
                key,
                sha256,
                bytes,
                version_id: stored.version_id,
            }),
        })
    }

    /// The receipts recorded in the plan's window, from their `RECEIPT_RECORDED` events, in
    /// CSV order (`recorded_at`, signal id, subscriber), each once.
    async fn receipt_refs(&self, plan: &BackupPlan) -> Result<Vec<ReceiptRef>, BackupFailure> {
        let (from, until) = (plan.receipts_from, plan.receipts_until);
        // No lower bound: a receipt is never recorded before its signal was received, so the
        // first entry's day bounds every receipt (a GetItem, where the audit log's earliest
        // day would take a scan).
        let margin = time::Duration::seconds(RECEIPT_EVENT_MARGIN_SECONDS);
        let read_from = match from {
            // The window's receipts are chosen by `recorded_at` below; events are read a margin
            // either side of it, so a wall clock stepping between a receipt's `recorded_at` and
            // its event's `occurred_at` loses nothing.
            Some(from) => from.checked_sub(margin).unwrap_or(from),
            None => match self.store.entry_at(0).await? {
                Some(first) => {
                    let day = crate::domain::audit_seal::day_of(&first.entry.received_at);
                    Timestamp::parse_canonical(&format!("{day}T00:00:00.000000Z"))
                        .map_err(|e| BackupFailure::Invalid(format!("day {day:?}: {e}")))?
                }
                None => return Ok(Vec::new()),
            },
        };
        if from.is_some_and(|from| from >= until) || read_from >= until {
            return Ok(Vec::new());
        }
        let read_to = until.checked_add(margin).unwrap_or(until);
        let mut refs = Vec::new();
        let mut unreadable = 0u64;
        self.audit
            .visit_window(&read_from, &read_to, |keyed| match keyed.event {
                Ok(event) if event.event_type == AuditEventType::ReceiptRecorded => {
                    match receipt_ref(&event.signal_id, &event.details) {
                        Some(reference) if reference.recorded_at < until => refs.push(reference),
                        Some(_) => {}
                        None => unreadable += 1,
                    }
                }
                Ok(_) => {}
                Err(_) => unreadable += 1,
            })
            .await?;
        if unreadable > 0 {
            // Not the backup's to judge: the audit seals report unreadable events. The
            // receipts that are readable are still backed up.
            tracing::warn!(
                unreadable,
                "audit items in the receipts window could not be read as events"
            );
        }
        refs.retain(|r| from.is_none_or(|from| from <= r.recorded_at));
        refs.sort_by(|a, b| {
            (a.recorded_at, a.signal_id.as_str(), a.subscriber.as_str()).cmp(&(
                b.recorded_at,
                b.signal_id.as_str(),
                b.subscriber.as_str(),
            ))
        });
        refs.dedup_by(|a, b| a.signal_id == b.signal_id && a.subscriber == b.subscriber);
        Ok(refs)
    }

    /// The stored receipt an event names: it must exist and carry the event's hash.
    async fn stored_receipt(&self, reference: &ReceiptRef) -> Result<StoredReceipt, BackupFailure> {
        let mismatch = |reason: String| BackupFailure::ReceiptMismatch {
            signal_id: reference.signal_id.to_string(),
            subscriber: reference.subscriber.to_string(),
            reason,
        };
        let stored = self
            .store
            .receipt(&reference.signal_id, &reference.subscriber)
            .await?
            .ok_or_else(|| mismatch("is missing from the table, yet audited as recorded".into()))?;
        if stored.receipt_hash != reference.receipt_hash
            || stored.receipt.compute_hash() != reference.receipt_hash
            || receipt_order(&stored.receipt).0 != reference.recorded_at
        {
            return Err(mismatch(format!(
                "differs from its RECEIPT_RECORDED audit event (hash {} recorded, {} stored)",
                reference.receipt_hash, stored.receipt_hash
            )));
        }
        Ok(stored)
    }

    /// Writes the manifest chained to the previous one, created only if its key is new.
    async fn write_manifest(
        &self,
        plan: BackupPlan,
        rows: ExportedRows,
        receipts: ExportedReceipts,
    ) -> Result<BackupOutcome, BackupFailure> {
        let BackupPlan {
            backup_id,
            resume,
            to,
            receipts_from,
            receipts_until,
            ..
        } = plan;
        let ExportedRows {
            verifier,
            retain_until,
            csv,
        } = rows;
        let tree = verifier.tree().clone();
        let manifest = Manifest {
            format: ManifestFormat::V2,
            backup_id,
            created_at: self.clock.now(),
            index_range: IndexRange {
                from: resume.from,
                to,
            },
            row_count: to - resume.from,
            first_previous_hash: resume.head,
            last_entry_hash: verifier.head_hash().unwrap_or(resume.head),
            merkle_root: tree.root(),
            compact_range: tree.hashes().to_vec(),
            csv: csv.clone(),
            receipts: Some(ReceiptsBackup {
                recorded_from: receipts_from,
                recorded_until: receipts_until,
                row_count: receipts.row_count,
                csv: receipts.csv.clone(),
            }),
            retain_until,
            previous_manifest_sha256: resume.manifest_sha256,
        };
        manifest
            .check()
            .map_err(|e| BackupFailure::Invalid(e.to_string()))?;
        let key = manifest_key(&backup_id);
        self.vault
            .create_locked(&key, manifest.to_bytes(), "application/json", retain_until)
            .await
            .map_err(BackupFailure::from_create)?;
        Ok(BackupOutcome {
            backup_id,
            manifest_key: key,
            index_range: manifest.index_range,
            row_count: manifest.row_count,
            csv_key: csv.as_ref().map(|c| c.key.clone()),
            csv_bytes: csv.map_or(0, |c| c.bytes),
            receipt_count: receipts.row_count,
            receipts_csv_key: receipts.csv.map(|c| c.key),
            duration_ms: 0,
        })
    }

    /// Streams entries `[from, to)` into the upload, verifying them.
    async fn export(
        &self,
        upload: &Upload,
        from: u64,
        to: u64,
        verifier: &mut ChainVerifier,
        retain_until: &mut Timestamp,
    ) -> Result<ExportedCsv, BackupFailure> {
        let part_bytes = self.settings.part_bytes.max(MIN_PART_BYTES);
        let mut buffer = Vec::with_capacity(part_bytes + 64 * 1024);
        write_header(&mut buffer);
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut parts = Vec::new();
        let mut next = Some(from);
        'pages: while let Some(start) = next {
            let page = self.store.read_page(start, self.settings.page_size).await?;
            next = page.next;
            for item in page.items {
                let stored = match item {
                    Ok(stored) => stored,
                    Err(StoreError::Malformed { reason, .. }) => {
                        tracing::error!(%reason, "a stored entry is malformed");
                        return Err(BackupFailure::BrokenChain {
                            index: verifier.position(),
                            kind: "unreadable",
                        });
                    }
                    Err(error) => return Err(error.into()),
                };
                if stored.entry.chain_index >= to {
                    break 'pages;
                }
                verifier.push(&stored);
                if let Some(finding) = verifier.first_finding() {
                    return Err(BackupFailure::BrokenChain {
                        index: finding.index,
                        kind: finding.kind.name(),
                    });
                }
                *retain_until = (*retain_until).max(stored.entry.retention_expires_at);
                write_row(&mut buffer, &stored);
                if buffer.len() >= part_bytes {
                    let body =
                        std::mem::replace(&mut buffer, Vec::with_capacity(part_bytes + 64 * 1024));
                    hasher.update(&body);
                    total += body.len() as u64;
                    parts.push(
                        self.vault
                            .upload_part(upload, parts.len() as u32 + 1, body)
                            .await?,
                    );
                }
            }
        }
        if verifier.position() != to {
            return Err(BackupFailure::BrokenChain {
                index: verifier.position(),
                kind: "gap",
            });
        }
        if !buffer.is_empty() {
            hasher.update(&buffer);
            total += buffer.len() as u64;
            parts.push(
                self.vault
                    .upload_part(upload, parts.len() as u32 + 1, buffer)
                    .await?,
            );
        }
        Ok(ExportedCsv {
            parts,
            sha256: Hash(hasher.finalize().into()),
            bytes: total,
        })
    }

    async fn abort(&self, upload: &Upload) {
        if let Err(error) = self.vault.abort_upload(upload).await {
            // The unfinished upload never becomes an object; a lifecycle rule removes its parts.
            tracing::warn!(error = %crate::app::ingest::error_chain(&error), key = %upload.key, "could not abort the multipart upload");
        }
    }

    /// The last good manifest's end state (or genesis).
    async fn resume(&self) -> Result<Resume, BackupFailure> {
        let versions = self.vault.list_versions(MANIFEST_PREFIX).await?;
        let latest = versions
            .iter()
            .filter_map(|v| BackupId::from_manifest_key(&v.key).ok().map(|id| (id, v)))
            .max_by(|(a, _), (b, _)| a.cmp(b));
        let Some((_, version)) = latest else {
            return Ok(Resume {
                from: 0,
                head: Hash::ZERO,
                tree: CompactRange::new(),
                manifest_sha256: Hash::ZERO,
                receipts_until: None,
            });
        };
        // The original version of the key: the first listed (versions come oldest first).
        let original = versions
            .iter()
            .find(|v| v.key == version.key)
            .unwrap_or(version);
        let bytes = self
            .vault
            .get_version(&original.key, &original.version_id)
            .await?;
        let unusable = |reason: String| BackupFailure::PreviousManifest {
            key: original.key.clone(),
            reason,
        };
        let manifest = Manifest::parse(&bytes).map_err(|e| unusable(e.to_string()))?;
        let tree = manifest.tree().map_err(|e| unusable(e.to_string()))?;
        Ok(Resume {
            from: manifest.index_range.to,
            head: manifest.last_entry_hash,
            tree,
            manifest_sha256: Hash::sha256(&bytes),
            receipts_until: manifest.receipts.map(|r| r.recorded_until),
        })
    }

    /// The first run number of `date` not used by any manifest or CSV (a failed run may have
    /// left a CSV without a manifest: its key is not reused).
    async fn next_id(&self, date: Date) -> Result<BackupId, BackupFailure> {
        let first = BackupId::new(date, 1).map_err(|e| BackupFailure::Invalid(e.to_string()))?;
        let manifest_prefix = manifest_key(&first);
        let csv_prefix = csv_key(&first);
        let strip = |key: &str| {
            key.rsplit_once('.')
                .map_or(key.len(), |(stem, _)| stem.len())
        };
        let mut taken = Vec::new();
        for prefix in [
            &manifest_prefix[..strip(&manifest_prefix)],
            &csv_prefix[..strip(&csv_prefix)],
        ] {
            for version in self.vault.list_versions(prefix).await? {
                taken.push(version.key);
            }
        }
        let receipts_prefix = receipts_csv_key(&first);
        for version in self
            .vault
            .list_versions(&receipts_prefix[..strip(&receipts_prefix)])
            .await?
        {
            taken.push(version.key);
        }
        let mut id = first;
        while taken.contains(&manifest_key(&id))
            || taken.contains(&csv_key(&id))
            || taken.contains(&receipts_csv_key(&id))
        {
            id = id
                .next_run()
                .ok_or_else(|| BackupFailure::Invalid("too many runs in one day".into()))?;
        }
        Ok(id)
    }
}

/// The receipt a `RECEIPT_RECORDED` event names: its signal, and the subscriber, `recorded_at`
/// and hash of its details. `None` when the event does not say them.
fn receipt_ref(signal_id: &Option<String>, details: &serde_json::Value) -> Option<ReceiptRef> {
    let text = |name: &str| details.get(name).and_then(serde_json::Value::as_str);
    Some(ReceiptRef {
        recorded_at: Timestamp::parse_canonical(text("recorded_at")?).ok()?,
        signal_id: SignalId::parse(signal_id.as_deref()?).ok()?,
        subscriber: Subscriber::parse(text("subscriber")?).ok()?,
        receipt_hash: text("receipt_hash")?.parse().ok()?,
    })
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
