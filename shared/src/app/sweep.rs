//! The integrity sweep (the seed's integrity monitor, made insider-proof): verifies the ledger in
//! DynamoDB against itself and against the signed checkpoints kept under S3 Object Lock, and
//! extends the log with a new checkpoint.
//!
//! Modes:
//! - `init`: verify from genesis and write the first checkpoint; if one exists, change nothing.
//! - `incremental`: load the latest checkpoint (checking its signature), check that the entry it
//!   ends at is still there unchanged, verify the entries after it (hash, link, index, signal-id
//!   claim, canonical attributes), extend its Merkle compact range and write a new checkpoint.
//! - `full`: verify everything from genesis and compare every checkpoint — each recorded leaf
//!   hash, and root and head at its size — with what is stored now. This is what catches an
//!   insider who edits an entry and recomputes every later hash, link and claim.
//!
//! Every mode also seals the audit log (`app::audit_seal`, one hook: `seal_audit_log`), and
//! `full` re-verifies every seal against the audit table; their findings join the run's.
//!
//! Promises: a checkpoint is written only after a clean verification that continued from the
//! previous checkpoint's own compact range, so checkpoints can never be inconsistent with one
//! another; its leaf-hash file is written first, so a checkpoint never points at a missing file.
//! A failed sweep is audited, counted and returned as an error.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::audit_seal::{self, SealFailure};
use crate::app::vault::{self, CheckpointTrust, Original, TrustError, TrustedKey, TrustedKeys};
use crate::domain::audit::AuditEventType;
use crate::domain::chain::{ChainReport, ChainVerifier, Finding, FindingKind};
use crate::domain::checkpoint::{
    Checkpoint, LeavesRef, Signature, SignedCheckpoint, encode_leaves, is_object_key, leaves_key,
    object_key, parse_leaves,
};
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::merkle::CompactRange;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AuditLog, AuditSink, BlobVault, Clock, LedgerStore, Metric, MetricsSink, PublicKeys, SignError,
    Signer, StoreError, VaultError,
};

/// Where checkpoints live in the vault.
pub const CHECKPOINT_PREFIX: &str = "checkpoints/";
/// Where run records live in the vault.
pub const RUN_PREFIX: &str = "integrity/runs/";
/// Where the trusted keys' public keys are recorded, one locked object per fingerprint.
pub const TRUSTED_KEY_PREFIX: &str = "integrity/keys/";
/// Where operators' acknowledgements of vault findings live (see [`Acknowledgement`]).
pub const ACKNOWLEDGEMENT_PREFIX: &str = "integrity/acknowledgements/";

pub mod metric {
    pub const INTEGRITY_VERIFIED: &str = "IntegrityVerified";
    pub const INTEGRITY_FAILED_VERIFICATIONS: &str = "IntegrityFailedVerifications";
    pub const SWEEP_DURATION: &str = "IntegritySweepDuration";
    pub const ENTRIES_VERIFIED: &str = "IntegrityEntriesVerified";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepMode {
    Init,
    Incremental,
    Full,
}

impl SweepMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            SweepMode::Init => "init",
            SweepMode::Incremental => "incremental",
            SweepMode::Full => "full",
        }
    }
}

/// Settings fixed at process start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSettings {
    /// How long checkpoints and run records stay locked.
    pub retention_days: u32,
    /// Entries per read.
    pub page_size: u32,
    /// Which checkpoints the sweep trusts to resume from and compare with; its origin is also
    /// the origin line of the checkpoints the sweep writes.
    pub trust: CheckpointTrust,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepStatus {
    Passed,
    Failed,
    /// `init` found a checkpoint already: nothing was changed.
    Skipped,
}

/// The JSON run record written to the vault, which the compliance report reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub run_id: String,
    pub mode: SweepMode,
    pub status: SweepStatus,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub duration_ms: u64,
    /// Entries read and verified in this run.
    pub entries_verified: u64,
    /// The first chain index this run verified.
    pub from_index: u64,
    /// The ledger's size and Merkle root as verified (for a failed run: as far as it got).
    pub tree_size: u64,
    pub root: Hash,
    pub head_hash: Option<Hash>,
    /// Checkpoints whose signature and content were checked.
    pub checkpoints_checked: u64,
    /// The checkpoint this run wrote, if any.
    pub checkpoint_written: Option<String>,
    /// Whether the checkpoint written (or, if none, the latest one) is signed, and by which key.
    pub checkpoint_signed: Option<bool>,
    pub signing_key_id: Option<String>,
    pub findings_total: u64,
    /// The first findings (at most 100): the chain's, then the vault's (planted, forged,
    /// overwritten or unexpected objects under `checkpoints/`) that nobody acknowledged.
    pub findings: Vec<Finding>,
    /// Vault findings an operator acknowledged (a locked, audited acknowledgement): shown, not
    /// failing.
    #[serde(default)]
    pub acknowledged: Vec<Finding>,
    /// The trusted checkpoint keys this run judged with, by SHA-256 fingerprint of their DER
    /// public keys: what an auditor compares with the keys handed over out of band.
    #[serde(default)]
    pub trusted_keys: Vec<TrustedKey>,
    pub message: String,
}

impl SweepRecord {
    pub fn first_failure(&self) -> Option<&Finding> {
        self.findings.first()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The ledger or its checkpoints are not intact; the record says where.
    #[error(
        "integrity check failed: {} finding(s); first: {}",
        .0.findings_total,
        .0.first_failure().map_or("-".to_owned(), |f| format!("{} at chain index {}", f.kind.name(), f.index))
    )]
    Failed(Box<SweepRecord>),
    #[error("no checkpoint exists yet: run the sweep with mode \"init\" first")]
    NoCheckpoint,
    #[error("the ledger store failed")]
    Store(#[from] StoreError),
    #[error("the vault failed")]
    Vault(#[from] VaultError),
    #[error("signing the checkpoint failed")]
    Sign(#[from] SignError),
    #[error("cannot build the checkpoint: {0}")]
    Checkpoint(String),
    #[error("cannot load the trusted checkpoint keys")]
    Trust(#[from] TrustError),
    #[error("sealing the audit log failed")]
    AuditSeal(#[from] SealFailure),
}

/// An operator's acknowledgement of a vault finding: the object it names (key and original
/// version) is reported as acknowledged instead of failing every later run. Written locked by
/// `ledgerctl acknowledge`, which also audits it; it never hides the object, which stays listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    pub format: String,
    pub key: String,
    pub version_id: String,
    pub reason: String,
    pub acknowledged_by: String,
    pub acknowledged_at: Timestamp,
}

impl Acknowledgement {
    pub const FORMAT: &str = "signal-ledger-acknowledgement/1";

    /// Where the acknowledgement of (`key`, `version_id`) is stored: one object per version.
    pub fn object_key(key: &str, version_id: &str) -> String {
        let digest = Hash::sha256(format!("{key}\n{version_id}").as_bytes());
        format!("{ACKNOWLEDGEMENT_PREFIX}{digest}.json")
    }
}

/// The checkpoints a run may use, and what is wrong with the other objects under the prefix.
struct LoadedCheckpoints {
    /// Trusted notes in key order (size, then time); with `all = false` only the latest.
    loaded: Vec<Loaded>,
    /// Findings about vault objects, each with the object's key and original version id.
    objects: Vec<ObjectFinding>,
}

/// A finding about one vault object (not about the chain).
struct ObjectFinding {
    key: String,
    version_id: String,
    finding: Finding,
}

/// A checkpoint read back from the vault.
#[derive(Debug, Clone)]
struct Loaded {
    key: String,
    signed: SignedCheckpoint,
}

/// What a mode produced, before the record is written.
struct Outcome {
    status: SweepStatus,
    report: ChainReport,
    /// Findings about vault objects: they fail the run, but never stop an honest checkpoint.
    objects: Vec<ObjectFinding>,
    from_index: u64,
    checkpoints_checked: u64,
    written: Option<(String, SignedCheckpoint)>,
    latest: Option<SignedCheckpoint>,
    message: String,
}

/// The sweep over its ports. `signer` is `None` when no checkpoint key is configured: checkpoints
/// are then written with the explicit `unsigned` marker (and the report flags them). The signer
/// also gives the public keys that earlier checkpoints are verified with.
#[derive(Debug)]
pub struct IntegritySweep<S, V, G, A, C, M> {
    store: S,
    vault: V,
    signer: Option<G>,
    audit: A,
    clock: C,
    metrics: M,
    settings: SweepSettings,
    /// `AUDIT_SEAL_LAG_SECONDS`: audit events younger than this are left to a later seal.
    audit_seal_lag_seconds: u64,
}

impl<S, V, G, A, C, M> IntegritySweep<S, V, G, A, C, M>
where
    S: LedgerStore,
    V: BlobVault,
    G: Signer + PublicKeys,
    A: AuditSink + AuditLog,
    C: Clock,
    M: MetricsSink,
{
    pub fn new(
        store: S,
        vault: V,
        signer: Option<G>,
        audit: A,
        clock: C,
        metrics: M,
        settings: SweepSettings,
    ) -> Self {
        IntegritySweep {
            store,
            vault,
            signer,
            audit,
            clock,
            metrics,
            settings,
            audit_seal_lag_seconds: audit_seal::DEFAULT_LAG_SECONDS,
        }
    }

    /// Seals only audit events older than `seconds` (default [`audit_seal::DEFAULT_LAG_SECONDS`]).
    pub fn with_audit_seal_lag(mut self, seconds: u64) -> Self {
        self.audit_seal_lag_seconds = seconds;
        self
    }

    /// Runs one sweep: verifies, writes the checkpoint (init, incremental) and the run record,
    /// audits and emits metrics. `Err` when the ledger is not intact or the sweep could not finish.
    pub async fn run(&self, mode: SweepMode, request_id: &str) -> Result<SweepRecord, SweepError> {
        let started_at = self.clock.now();
        let started = Instant::now();
        let run_id = uuid::Uuid::now_v7().to_string();
        let outcome = match self.settings.trust.resolve(self.signer.as_ref()).await {
            Ok(trust) => match self.run_mode(mode, &trust).await {
                // Issue 11: every mode also seals the audit log (`full` re-verifies its seals).
                // Boxed: the sealer's future would make every sweep's future large.
                Ok(outcome) => Box::pin(self.seal_audit_log(mode, &trust, outcome)).await,
                Err(error) => Err(error),
            }
            .map(|o| (o, trust)),
            Err(error) => Err(error.into()),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (outcome, trust) = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                self.audit_failure(
                    request_id,
                    &format!(
                        "the sweep could not complete: {}",
                        crate::app::ingest::error_chain(&error)
                    ),
                    json!({"mode": mode}),
                )
                .await;
                self.metrics
                    .emit(&[Metric::millis(metric::SWEEP_DURATION, duration_ms as i64)]);
                return Err(error);
            }
        };
        self.record_trusted_keys(&trust).await;
        let (acknowledged, unacknowledged) = self.acknowledge(outcome.objects).await;
        let mut status = outcome.status;
        if !unacknowledged.is_empty() {
            status = SweepStatus::Failed;
        }
        let report = &outcome.report;
        let described = outcome
            .written
            .as_ref()
            .map(|(_, c)| c)
            .or(outcome.latest.as_ref());
        let record = SweepRecord {
            run_id,
            mode,
            status,
            started_at,
            finished_at: self.clock.now(),
            duration_ms,
            entries_verified: report.entries_read,
            from_index: outcome.from_index,
            tree_size: report.tree.size(),
            root: report.tree.root(),
            head_hash: report.head_hash,
            checkpoints_checked: outcome.checkpoints_checked,
            checkpoint_written: outcome.written.as_ref().map(|(key, _)| key.clone()),
            checkpoint_signed: described.map(|c| matches!(c.signature, Signature::Kms { .. })),
            signing_key_id: described.and_then(|c| match &c.signature {
                Signature::Kms { key_id, .. } => Some(key_id.clone()),
                Signature::Unsigned => None,
            }),
            findings_total: report.findings_total + unacknowledged.len() as u64,
            findings: report
                .findings
                .iter()
                .chain(&unacknowledged)
                .take(100)
                .cloned()
                .collect(),
            acknowledged,
            trusted_keys: trust.keys().to_vec(),
            message: match unacknowledged.len() {
                0 => outcome.message,
                n => format!(
                    "{}; {n} vault finding(s): an object under {CHECKPOINT_PREFIX} was planted, forged, overwritten or is not trusted",
                    outcome.message
                ),
            },
        };
        self.write_record(&record).await;
        let mut metrics = vec![
            Metric::millis(metric::SWEEP_DURATION, duration_ms as i64),
            Metric::count(metric::ENTRIES_VERIFIED, record.entries_verified),
        ];
        if record.status == SweepStatus::Failed {
            metrics.push(Metric::count(
                metric::INTEGRITY_FAILED_VERIFICATIONS,
                record.findings_total.max(1),
            ));
            let first = record.first_failure();
            let reason = format!(
                "{} sweep: {} finding(s); first {} at chain index {}",
                mode.as_str(),
                record.findings_total,
                first.map_or("-", |f| f.kind.name()),
                first.map_or(0, |f| f.index)
            );
            tracing::error!(mode = mode.as_str(), findings = record.findings_total, first_failure = ?first, "integrity check failed");
            self.audit_failure(request_id, &reason, json!({"mode": mode, "first_failure": first, "findings_total": record.findings_total, "run_id": record.run_id})).await;
            self.metrics.emit(&metrics);
            return Err(SweepError::Failed(Box::new(record)));
        }
        metrics.push(Metric::count(metric::INTEGRITY_VERIFIED, 1));
        self.metrics.emit(&metrics);
        self.record(AuditEventType::IntegrityCheckPassed, request_id, record.message.clone(), json!({
            "mode": mode, "tree_size": record.tree_size, "root": record.root, "entries_verified": record.entries_verified,
            "checkpoint_written": record.checkpoint_written, "run_id": record.run_id,
        }))
        .await;
        Ok(record)
    }

    /// The sealed audit log's part of a run (`app::audit_seal`): its findings join the chain's
    /// (they fail the run), its vault findings join the checkpoints' (acknowledgeable).
    async fn seal_audit_log(
        &self,
        mode: SweepMode,
        trust: &TrustedKeys,
        mut outcome: Outcome,
    ) -> Result<Outcome, SweepError> {
        let sealer = audit_seal::Sealer {
            vault: &self.vault,
            signer: self.signer.as_ref(),
            log: &self.audit,
            trust,
            retention_days: self.settings.retention_days,
            lag_seconds: self.audit_seal_lag_seconds,
        };
        let sealed = sealer
            .run(self.clock.now(), mode == SweepMode::Full)
            .await?;
        let report = &mut outcome.report;
        for finding in &sealed.findings {
            if report.findings.len() < crate::domain::chain::MAX_FINDINGS_KEPT {
                report.findings.push(finding.clone());
            }
        }
        report.findings_total += sealed.findings.len() as u64;
        if !sealed.findings.is_empty() {
            outcome.status = SweepStatus::Failed;
        }
        outcome.objects.extend(
            sealed
                .objects
                .into_iter()
                .map(|(key, version_id, finding)| ObjectFinding {
                    key,
                    version_id,
                    finding,
                }),
        );
        outcome.message = format!(
            "{}; audit log: {}{}{}",
            outcome.message,
            match (&sealed.written, &sealed.sealed_to) {
                (Some(key), Some(to)) => format!("sealed to {to} ({key})"),
                (None, Some(to)) => format!("sealed to {to}"),
                _ => "nothing sealed yet".to_owned(),
            },
            match mode {
                SweepMode::Full => format!(", {} seal(s) re-verified", sealed.seals_verified),
                _ => String::new(),
            },
            match sealed.findings.len() {
                0 => String::new(),
                n => format!(", {n} audit finding(s)"),
            }
        );
        Ok(outcome)
    }

    async fn run_mode(&self, mode: SweepMode, trust: &TrustedKeys) -> Result<Outcome, SweepError> {
        match mode {
            SweepMode::Init => self.init(trust).await,
            SweepMode::Incremental => self.incremental(trust).await,
            SweepMode::Full => self.full(trust).await,
        }
    }

    async fn init(&self, trust: &TrustedKeys) -> Result<Outcome, SweepError> {
        let LoadedCheckpoints { loaded, objects } = self.load_checkpoints(trust, false).await?;
        if let Some(existing) = loaded.last() {
            return Ok(Outcome {
                status: SweepStatus::Skipped,
                report: ChainVerifier::from_genesis().finish(None),
                objects,
                from_index: 0,
                checkpoints_checked: 0,
                written: None,
                latest: None,
                message: format!(
                    "already initialised: checkpoint {} exists; nothing changed",
                    existing.key
                ),
            });
        }
        let mut verifier = ChainVerifier::from_genesis();
        let leaves = self.verify_from(0, &mut verifier, None).await?;
        let report = verifier.finish(None);
        let outcome = self
            .conclude(report, 0, 0, leaves, None, CompactRange::new())
            .await?;
        Ok(Outcome { objects, ..outcome })
    }

    /// Resumes from the latest *trusted* checkpoint: planted or forged notes, however they sort,
    /// are findings and never the starting point.
    async fn incremental(&self, trust: &TrustedKeys) -> Result<Outcome, SweepError> {
        let LoadedCheckpoints { loaded, objects } = self.load_checkpoints(trust, false).await?;
        let Some(latest) = loaded.last().cloned() else {
            if objects.is_empty() {
                return Err(SweepError::NoCheckpoint);
            }
            let mut outcome = self.failed(
                ChainVerifier::from_genesis().finish(None),
                0,
                0,
                None,
                "no trusted checkpoint to resume from: run the sweep with mode \"init\"",
            );
            outcome.objects = objects;
            return Ok(outcome);
        };
        let checkpoint = &latest.signed.checkpoint;
        let size = checkpoint.tree_size;
        let mut verifier = ChainVerifier::resume(checkpoint.range.clone(), checkpoint.head_hash);
        // The anchor: the entry the checkpoint ends at must still be there, unchanged, and the
        // ledger must not have shrunk below the checkpoint.
        let head = self.store.head().await?;
        let stored_size = head.map_or(0, |h| h.chain_index + 1);
        if stored_size < size {
            verifier.record(
                stored_size,
                FindingKind::Truncated {
                    expected_size: size,
                },
            );
        } else if size > 0 {
            match self.store.entry_at(size - 1).await {
                Ok(Some(entry)) => {
                    let computed = entry.entry.compute_hash();
                    if entry.entry_hash != checkpoint.head_hash || computed != checkpoint.head_hash
                    {
                        verifier.record(
                            size - 1,
                            FindingKind::CheckpointMismatch {
                                checkpoint: latest.key.clone(),
                                expected: checkpoint.head_hash,
                                computed,
                            },
                        );
                    }
                }
                Ok(None) => verifier.record(
                    size - 1,
                    FindingKind::Truncated {
                        expected_size: size,
                    },
                ),
                Err(StoreError::Malformed { reason, .. }) => {
                    verifier.record(size - 1, FindingKind::Unreadable { reason })
                }
                Err(error) => return Err(error.into()),
            }
        }
        let leaves = self.verify_from(size, &mut verifier, None).await?;
        let report = verifier.finish(Some(size));
        let range = checkpoint.range.clone();
        let outcome = self
            .conclude(report, size, 1, leaves, Some(latest.signed.clone()), range)
            .await?;
        Ok(Outcome { objects, ..outcome })
    }

    async fn full(&self, trust: &TrustedKeys) -> Result<Outcome, SweepError> {
        let LoadedCheckpoints {
            mut loaded,
            objects,
        } = self.load_checkpoints(trust, true).await?;
        loaded.sort_by(|a, b| {
            (a.signed.checkpoint.tree_size, &a.key).cmp(&(b.signed.checkpoint.tree_size, &b.key))
        });
        let mut verifier = ChainVerifier::from_genesis();
        let checked = loaded.len() as u64;
        let largest = loaded.last().map_or(0, |l| l.signed.checkpoint.tree_size);
        let mut comparison = CheckpointComparison {
            checkpoints: loaded,
            next: 0,
            window: None,
            cursor: 0,
        };
        // Size-0 checkpoints are compared before any entry is read.
        comparison.at_size(0, &verifier, &mut Vec::new());
        self.verify_from(0, &mut verifier, Some(&mut comparison))
            .await?;
        let report = verifier.finish(Some(largest));
        let latest = comparison.checkpoints.last().map(|l| l.signed.clone());
        let status = if report.is_intact() {
            SweepStatus::Passed
        } else {
            SweepStatus::Failed
        };
        let message = match status {
            SweepStatus::Passed => format!(
                "full sweep: {} entries verified from genesis; {checked} checkpoint(s) match",
                report.entries_read
            ),
            _ => format!("full sweep: {} finding(s)", report.findings_total),
        };
        Ok(Outcome {
            status,
            report,
            objects,
            from_index: 0,
            checkpoints_checked: checked,
            written: None,
            latest,
            message,
        })
    }

    /// Reads and verifies entries from `from` to the head: chain checks in the verifier, claims
    /// here, and (full mode) recorded leaf hashes and checkpoint roots. Returns the recomputed
    /// hashes of the entries read, in order — the leaves a new checkpoint adds.
    async fn verify_from(
        &self,
        from: u64,
        verifier: &mut ChainVerifier,
        mut comparison: Option<&mut CheckpointComparison>,
    ) -> Result<Vec<Hash>, SweepError> {
        let mut leaves = Vec::new();
        let mut next = Some(from);
        while let Some(start) = next {
            let page = self.store.read_page(start, self.settings.page_size).await?;
            next = page.next;
            let mut entries = Vec::with_capacity(page.items.len());
            for item in page.items {
                match item {
                    Ok(entry) => {
                        let position = verifier.position();
                        let computed = entry.entry.compute_hash();
                        verifier.push(&entry);
                        leaves.push(computed);
                        if let Some(comparison) = comparison.as_deref_mut() {
                            let mut pending = Vec::new();
                            comparison
                                .leaf(position, computed, self, &mut pending)
                                .await?;
                            if verifier.position() > position {
                                comparison.at_size(verifier.position(), verifier, &mut pending);
                            }
                            pending.into_iter().for_each(|(i, k)| verifier.record(i, k));
                        }
                        entries.push(entry);
                    }
                    Err(StoreError::Malformed { reason, .. }) => verifier.push_unreadable(reason),
                    Err(error) => return Err(error.into()),
                }
            }
            self.check_claims(&entries, verifier).await?;
        }
        Ok(leaves)
    }

    async fn check_claims(
        &self,
        entries: &[StoredEntry],
        verifier: &mut ChainVerifier,
    ) -> Result<(), SweepError> {
        for chunk in entries.chunks(100) {
            let ids: Vec<_> = chunk.iter().map(|e| e.entry.signal_id.clone()).collect();
            let claims = self.store.claims(&ids).await?;
            for entry in chunk {
                let index = entry.entry.chain_index;
                let signal_id = entry.entry.signal_id.to_string();
                match claims.iter().find(|(id, _)| *id == entry.entry.signal_id) {
                    None => verifier.record(index, FindingKind::ClaimMissing { signal_id }),
                    Some((_, claim))
                        if claim.chain_index != index || claim.entry_hash != entry.entry_hash =>
                    {
                        verifier.record(
                            index,
                            FindingKind::ClaimMismatch {
                                signal_id,
                                claim_index: claim.chain_index,
                                claim_hash: claim.entry_hash,
                            },
                        );
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Every object under `checkpoints/`: overwritten, unexpected, unreadable and untrusted
    /// objects are findings naming their key. With `all`, every note is read and judged;
    /// otherwise the notes from the newest back to the first trusted one. Returns the trusted
    /// notes (in key order: size, then time) and the findings.
    async fn load_checkpoints(
        &self,
        trust: &TrustedKeys,
        all: bool,
    ) -> Result<LoadedCheckpoints, SweepError> {
        let objects = vault::list_checkpoints(&self.vault).await?;
        let mut findings = Vec::new();
        let finding = |original: &Original, kind: FindingKind| ObjectFinding {
            key: original.key().to_owned(),
            version_id: original.version_id().to_owned(),
            finding: Finding {
                index: size_from_key(original.key()),
                kind,
            },
        };
        for original in &objects {
            if !is_object_key(original.key()) {
                findings.push(finding(
                    original,
                    FindingKind::UnexpectedObject {
                        key: original.key().to_owned(),
                    },
                ));
            } else if original.overwritten() {
                findings.push(finding(
                    original,
                    FindingKind::CheckpointOverwritten {
                        checkpoint: original.key().to_owned(),
                        versions: original.versions,
                    },
                ));
            }
        }
        let notes = objects
            .iter()
            .rev()
            .filter(|o| vault::is_note(o) && is_object_key(o.key()));
        let mut loaded = Vec::new();
        for original in notes {
            let key = original.key();
            let signed = match vault::read_note(&self.vault, original).await?.content {
                Ok(signed) => signed,
                Err(reason) => {
                    findings.push(finding(
                        original,
                        FindingKind::CheckpointInvalid {
                            checkpoint: key.to_owned(),
                            reason,
                        },
                    ));
                    continue;
                }
            };
            let refusal =
                vault::key_mismatch(original, &signed).or_else(|| trust.check(&signed).refusal());
            if let Some(reason) = refusal {
                findings.push(finding(
                    original,
                    FindingKind::CheckpointUntrusted {
                        checkpoint: key.to_owned(),
                        reason,
                    },
                ));
                continue;
            }
            loaded.push(Loaded {
                key: key.to_owned(),
                signed,
            });
            if !all {
                break;
            }
        }
        loaded.reverse();
        findings.sort_by_key(|f| f.finding.index);
        Ok(LoadedCheckpoints {
            loaded,
            objects: findings,
        })
    }

    /// Splits the vault findings into acknowledged ones (a valid acknowledgement names the
    /// object's key and original version) and the rest. If the acknowledgements cannot be read,
    /// nothing counts as acknowledged: a finding is never hidden by a failure.
    async fn acknowledge(&self, objects: Vec<ObjectFinding>) -> (Vec<Finding>, Vec<Finding>) {
        if objects.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let mut acknowledged_keys = Vec::new();
        match vault::list_originals(&self.vault, ACKNOWLEDGEMENT_PREFIX).await {
            Ok(originals) => {
                for original in originals {
                    match self
                        .vault
                        .get_version(original.key(), original.version_id())
                        .await
                    {
                        Ok(bytes) => match serde_json::from_slice::<Acknowledgement>(&bytes) {
                            Ok(ack)
                                if ack.format == Acknowledgement::FORMAT
                                    && original.key()
                                        == Acknowledgement::object_key(
                                            &ack.key,
                                            &ack.version_id,
                                        ) =>
                            {
                                acknowledged_keys.push((ack.key, ack.version_id));
                            }
                            _ => tracing::warn!(
                                key = original.key(),
                                "an object under the acknowledgement prefix is not a valid acknowledgement; ignored"
                            ),
                        },
                        Err(error) => {
                            tracing::error!(error = %crate::app::ingest::error_chain(&error), "cannot read an acknowledgement: none counts");
                            return (Vec::new(), objects.into_iter().map(|o| o.finding).collect());
                        }
                    }
                }
            }
            Err(error) => {
                tracing::error!(error = %crate::app::ingest::error_chain(&error), "cannot list acknowledgements: none counts");
                return (Vec::new(), objects.into_iter().map(|o| o.finding).collect());
            }
        }
        let (acknowledged, open): (Vec<ObjectFinding>, Vec<ObjectFinding>) =
            objects.into_iter().partition(|o| {
                acknowledged_keys
                    .iter()
                    .any(|(key, version)| *key == o.key && *version == o.version_id)
            });
        (
            acknowledged.into_iter().map(|o| o.finding).collect(),
            open.into_iter().map(|o| o.finding).collect(),
        )
    }

    /// Records each trusted key's public key under its fingerprint, once (locked), so an auditor
    /// can compare it with the key handed over out of band. A failure is logged: the run record
    /// also carries the fingerprints.
    async fn record_trusted_keys(&self, trust: &TrustedKeys) {
        if trust.keys().is_empty() {
            return;
        }
        let existing = match vault::list_originals(&self.vault, TRUSTED_KEY_PREFIX).await {
            Ok(existing) => existing,
            Err(error) => {
                tracing::error!(error = %crate::app::ingest::error_chain(&error), "cannot list the recorded trusted keys");
                return;
            }
        };
        let now = self.clock.now();
        let Ok(retain_until) = now.plus_days(self.settings.retention_days) else {
            return;
        };
        for key in trust.keys() {
            let object = format!("{TRUSTED_KEY_PREFIX}{}.der", key.fingerprint);
            if existing.iter().any(|o| o.key() == object) {
                continue;
            }
            if let Err(error) = self
                .vault
                .put_locked(
                    &object,
                    key.public_key.clone(),
                    "application/pkix-spki",
                    retain_until,
                )
                .await
            {
                tracing::error!(error = %crate::app::ingest::error_chain(&error), object, "cannot record a trusted key");
            }
        }
    }

    /// After `init` or `incremental`: a clean result writes the next checkpoint.
    async fn conclude(
        &self,
        report: ChainReport,
        from_index: u64,
        checkpoints_checked: u64,
        leaves: Vec<Hash>,
        previous: Option<SignedCheckpoint>,
        previous_range: CompactRange,
    ) -> Result<Outcome, SweepError> {
        if !report.is_intact() {
            return Ok(self.failed(
                report,
                from_index,
                checkpoints_checked,
                previous,
                "findings: no checkpoint written",
            ));
        }
        debug_assert_eq!(
            previous_range.size() + leaves.len() as u64,
            report.tree.size()
        );
        let now = self.clock.now();
        let leaves_bytes = encode_leaves(&leaves);
        let leaves_ref = LeavesRef {
            from: from_index,
            to: report.tree.size(),
            sha256: Hash::sha256(&leaves_bytes),
        };
        let head_hash = report.head_hash.unwrap_or(Hash::ZERO);
        let checkpoint = Checkpoint::new(
            self.settings.trust.origin.clone(),
            report.tree.clone(),
            head_hash,
            now,
            leaves_ref,
        )
        .map_err(|e| SweepError::Checkpoint(e.to_string()))?;
        let signature = match &self.signer {
            Some(signer) => {
                // The signature is over SHA-256(body): the checkpoint's digest.
                let der = signer.sign(checkpoint.body().as_bytes()).await?;
                Signature::kms(signer.key_id(), der)
                    .map_err(|e| SweepError::Checkpoint(e.to_string()))?
            }
            None => Signature::Unsigned,
        };
        let signed = SignedCheckpoint {
            checkpoint,
            signature,
        };
        let retain_until = now
            .plus_days(self.settings.retention_days)
            .map_err(|e| SweepError::Checkpoint(e.to_string()))?;
        let key = object_key(signed.checkpoint.tree_size, &now);
        // The leaves first: a checkpoint never names a file that is not there.
        self.vault
            .put_locked(
                &leaves_key(signed.checkpoint.tree_size, &now),
                leaves_bytes,
                "text/plain; charset=utf-8",
                retain_until,
            )
            .await?;
        self.vault
            .put_locked(
                &key,
                signed.to_text().into_bytes(),
                "text/plain; charset=utf-8",
                retain_until,
            )
            .await?;
        let message = format!(
            "verified {} entries from index {from_index}; checkpoint {key} at size {}",
            report.entries_read, signed.checkpoint.tree_size
        );
        Ok(Outcome {
            status: SweepStatus::Passed,
            report,
            objects: Vec::new(),
            from_index,
            checkpoints_checked,
            written: Some((key, signed)),
            latest: previous,
            message,
        })
    }

    fn failed(
        &self,
        report: ChainReport,
        from_index: u64,
        checked: u64,
        latest: Option<SignedCheckpoint>,
        what: &str,
    ) -> Outcome {
        let message = format!("{} finding(s); {what}", report.findings_total);
        Outcome {
            status: SweepStatus::Failed,
            report,
            objects: Vec::new(),
            from_index,
            checkpoints_checked: checked,
            written: None,
            latest,
            message,
        }
    }

    async fn write_record(&self, record: &SweepRecord) {
        let day = &record.started_at.as_str()[..10];
        let key = format!(
            "{RUN_PREFIX}{}/{}-{}.json",
            day.replace('-', "/"),
            compact_time(&record.started_at),
            record.mode.as_str()
        );
        let body = serde_json::to_vec_pretty(record).unwrap_or_default();
        let retain_until = match record.started_at.plus_days(self.settings.retention_days) {
            Ok(until) => until,
            Err(_) => record.started_at,
        };
        if let Err(error) = self
            .vault
            .put_locked(&key, body, "application/json", retain_until)
            .await
        {
            tracing::error!(error = %crate::app::ingest::error_chain(&error), key, "could not write the sweep's run record");
        }
    }

    async fn audit_failure(&self, request_id: &str, reason: &str, details: serde_json::Value) {
        self.record(
            AuditEventType::IntegrityCheckFailed,
            request_id,
            reason.to_owned(),
            details,
        )
        .await;
    }

    /// Audits the run through [`super::record_run`].
    async fn record(
        &self,
        event_type: AuditEventType,
        request_id: &str,
        reason: String,
        details: serde_json::Value,
    ) {
        let event = super::run_event(
            "integrity-sweep",
            event_type,
            request_id,
            reason,
            details,
            self.clock.now(),
        );
        super::record_run(&self.audit, &self.metrics, &event).await;
    }
}

/// Full mode's walk along the checkpoints, in size order, holding at most one leaf-hash file.
struct CheckpointComparison {
    checkpoints: Vec<Loaded>,
    /// The first checkpoint whose size has not been reached yet.
    next: usize,
    /// The loaded leaf-hash file: (checkpoint position, from, hashes).
    window: Option<(usize, u64, Vec<Hash>)>,
    /// The first checkpoint whose leaves may still cover the next position.
    cursor: usize,
}

impl CheckpointComparison {
    /// Compares the recomputed hash of the entry at `position` with the hash the checkpoint
    /// covering it recorded.
    async fn leaf<S, V, G, A, C, M>(
        &mut self,
        position: u64,
        computed: Hash,
        sweep: &IntegritySweep<S, V, G, A, C, M>,
        findings: &mut Vec<(u64, FindingKind)>,
    ) -> Result<(), SweepError>
    where
        S: LedgerStore,
        V: BlobVault,
        G: Signer + PublicKeys,
        A: AuditSink,
        C: Clock,
        M: MetricsSink,
    {
        // Positions only grow and the checkpoints are in size order, so the covering checkpoint
        // is found by moving a cursor forward: O(entries + checkpoints) over a whole sweep.
        while self
            .checkpoints
            .get(self.cursor)
            .is_some_and(|c| c.signed.checkpoint.leaves.to <= position)
        {
            self.cursor += 1;
        }
        let covering = self.cursor;
        let Some(candidate) = self.checkpoints.get(covering) else {
            return Ok(());
        };
        if candidate.signed.checkpoint.leaves.from > position {
            // Not covered: a checkpoint's leaves start later (a gap in the checkpoint chain).
            return Ok(());
        }
        if self.window.as_ref().map(|(i, _, _)| *i) != Some(covering) {
            let loaded = &self.checkpoints[covering];
            let checkpoint = &loaded.signed.checkpoint;
            let key = leaves_key(checkpoint.tree_size, &checkpoint.time);
            let originals = vault::list_originals(&sweep.vault, &key).await?;
            let Some(original) = originals.iter().find(|o| o.key() == key) else {
                findings.push((
                    position,
                    FindingKind::CheckpointInvalid {
                        checkpoint: loaded.key.clone(),
                        reason: format!("its leaf-hash file {key} is missing"),
                    },
                ));
                self.window = Some((covering, checkpoint.leaves.from, Vec::new()));
                return Ok(());
            };
            let bytes = sweep.vault.get_version(&key, original.version_id()).await?;
            match parse_leaves(&bytes, &checkpoint.leaves) {
                Ok(hashes) => self.window = Some((covering, checkpoint.leaves.from, hashes)),
                Err(error) => {
                    findings.push((
                        position,
                        FindingKind::CheckpointInvalid {
                            checkpoint: loaded.key.clone(),
                            reason: error.to_string(),
                        },
                    ));
                    self.window = Some((covering, checkpoint.leaves.from, Vec::new()));
                    return Ok(());
                }
            }
        }
        if let Some((covering, from, hashes)) = &self.window
            && let Some(expected) = hashes.get((position - from) as usize)
            && *expected != computed
        {
            findings.push((
                position,
                FindingKind::CheckpointMismatch {
                    checkpoint: self.checkpoints[*covering].key.clone(),
                    expected: *expected,
                    computed,
                },
            ));
        }
        Ok(())
    }

    /// Once the verified tree reaches a checkpoint's size, its root and head must match.
    fn at_size(
        &mut self,
        size: u64,
        verifier: &ChainVerifier,
        findings: &mut Vec<(u64, FindingKind)>,
    ) {
        while let Some(loaded) = self.checkpoints.get(self.next) {
            let checkpoint = &loaded.signed.checkpoint;
            if checkpoint.tree_size > size {
                break;
            }
            if checkpoint.tree_size == size && verifier.tree().size() == size {
                let computed = verifier.tree().root();
                if computed != checkpoint.root {
                    findings.push((
                        size.saturating_sub(1),
                        FindingKind::CheckpointMismatch {
                            checkpoint: loaded.key.clone(),
                            expected: checkpoint.root,
                            computed,
                        },
                    ));
                } else if size > 0 && verifier.head_hash() != Some(checkpoint.head_hash) {
                    findings.push((
                        size - 1,
                        FindingKind::CheckpointMismatch {
                            checkpoint: loaded.key.clone(),
                            expected: checkpoint.head_hash,
                            computed: verifier.head_hash().unwrap_or(Hash::ZERO),
                        },
                    ));
                }
            }
            self.next += 1;
        }
    }
}

/// The tree size in a checkpoint key (`checkpoints/<20 digits>-…`), 0 when it has none.
fn size_from_key(key: &str) -> u64 {
    key.strip_prefix(CHECKPOINT_PREFIX)
        .and_then(|rest| rest.get(..20))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

/// `YYYYMMDDTHHMMSSffffffZ`.
fn compact_time(time: &Timestamp) -> String {
    time.as_str()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
