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

use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::Date;

use crate::domain::audit::AuditEventType;
use crate::domain::backup::{
    BackupId, CsvObject, IndexRange, Manifest, ManifestFormat, csv_key, manifest_key, write_header,
    write_row,
};
use crate::domain::chain::ChainVerifier;
use crate::domain::hash::Hash;
use crate::domain::merkle::CompactRange;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AuditSink, BlobVault, Clock, LedgerStore, MIN_PART_BYTES, Metric, MetricsSink, StoreError,
    Upload, UploadedPart, VaultError,
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
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            retention_days: 2555,
            page_size: 500,
            part_bytes: 8 * 1024 * 1024,
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
}

/// What a run backs up: where it continues from, its id, and its end.
struct BackupPlan {
    backup_id: BackupId,
    resume: Resume,
    /// The end (exclusive), fixed when the run starts.
    to: u64,
    /// The lock every object of the backup gets at least.
    minimum_retention: Timestamp,
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
    A: AuditSink,
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
                       "rows": outcome.row_count, "bytes": outcome.csv_bytes, "duration_ms": duration_ms}),
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
        self.write_manifest(plan, rows).await
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
        Ok(BackupPlan {
            backup_id,
            resume,
            to,
            minimum_retention,
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

    /// Writes the manifest chained to the previous one, created only if its key is new.
    async fn write_manifest(
        &self,
        plan: BackupPlan,
        rows: ExportedRows,
    ) -> Result<BackupOutcome, BackupFailure> {
        let BackupPlan {
            backup_id,
            resume,
            to,
            ..
        } = plan;
        let ExportedRows {
            verifier,
            retain_until,
            csv,
        } = rows;
        let tree = verifier.tree().clone();
        let manifest = Manifest {
            format: ManifestFormat,
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
        let mut id = first;
        while taken.contains(&manifest_key(&id)) || taken.contains(&csv_key(&id)) {
            id = id
                .next_run()
                .ok_or_else(|| BackupFailure::Invalid("too many runs in one day".into()))?;
        }
        Ok(id)
    }
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
