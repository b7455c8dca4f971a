//! The integrity sweep (the seed's integrity monitor, made insider-proof): verifies the ledger in
//! DynamoDB against itself and against the signed checkpoints kept under S3 Object Lock, and
//! extends the log with a new checkpoint.
//!
//! Modes:
//! - `init`: verify from genesis and write the first checkpoint; if one exists, change nothing.
//! - `incremental`: load the latest checkpoint (checking its signature), check that the entry it
//!   ends at is still there unchanged, verify the entries after it (hash, link, index, signal-id
//!   claim, canonical attributes), extend its Merkle compact range and write a new checkpoint —
//!   only if the tree grew: an idle run writes just its run record (passed, "nothing appended").
//! - `full`: verify everything from genesis and compare every checkpoint — each recorded leaf
//!   hash, and root and head at its size — with what is stored now. This is what catches an
//!   insider who edits an entry and recomputes every later hash, link and claim. Notes and
//!   leaf-hash files are read [`NOTE_READS_IN_FLIGHT`] and [`LEAF_FILE_READS_IN_FLIGHT`] at a
//!   time and used in order, and the trusted public keys are fetched once per run: a run costs
//!   two overlapped vault reads per checkpoint and a listing page per 500.
//!
//! Every mode also seals the audit log (`app::audit_seal`, one hook: `seal_audit_log`), and
//! `full` re-verifies every seal against the audit table; their findings join the run's.
//!
//! Promises: a checkpoint is written only after a clean verification that continued from the
//! previous checkpoint's own compact range, so checkpoints can never be inconsistent with one
//! another; its leaf-hash file is written first, so a checkpoint never points at a missing file.
//! A failed sweep is audited, counted and returned as an error.

use std::collections::HashMap;
use std::time::Instant;

use futures_util::stream::{self, BoxStream, StreamExt};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::audit_seal::{self, SealFailure};
use crate::app::vault::{self, CheckpointTrust, Original, TrustError, TrustedKey, TrustedKeys};
use crate::domain::audit::AuditEventType;
use crate::domain::chain::{
    ChainReport, ChainVerifier, ClaimSeen, Finding, FindingKind, claim_finding,
};
use crate::domain::checkpoint::{
    Checkpoint, LeavesRef, Signature, SignedCheckpoint, encode_leaves, is_object_key, leaves_key,
    object_key, parse_leaves,
};
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AuditLog, AuditSink, BlobVault, Clock, LedgerStore, Metric, MetricsSink, PublicKeys, SignError,
    Signer, StoreError, VaultError,
};

/// How many checkpoint notes `full` reads at once. Notes are under 1 KiB, so this is about
/// latency only: with one read per checkpoint, 61,000 notes (7 years of hourly checkpoints) take
/// under 100 s even at 200 ms a read (BENCHMARKS.md). At 30 ms a read it stays under S3's 5,500
/// GETs/s per prefix. Results are consumed in order, so the findings are those of a sequential
/// read.
pub const NOTE_READS_IN_FLIGHT: usize = 128;

/// How many leaf-hash files `full` reads ahead of the walk, in order. Each holds 32 bytes per
/// entry its checkpoint added (an hour's entries: 1.2 MB at 10 signals/s), so memory stays at
/// this many files.
pub const LEAF_FILE_READS_IN_FLIGHT: usize = 64;

/// Vault reads in flight at once in `full` (the constants above and
/// [`audit_seal::SEAL_READS_IN_FLIGHT`]; tests compare with 1, 1 and 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadsInFlight {
    pub(crate) notes: usize,
    pub(crate) leaf_files: usize,
    pub(crate) seals: usize,
}

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
    /// Hours since the open full pass started (emitted by each step; by the finishing step, its
    /// whole duration): the alarm fires when a complete pass takes longer than its limit.
    pub const FULL_SWEEP_PASS_AGE_HOURS: &str = "FullSweepPassAgeHours";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepMode {
    Init,
    Incremental,
    /// One step of the resumable full pass; starts a new pass when none is open.
    Full,
    /// One step of the open full pass, if there is one (never starts a pass).
    #[serde(rename = "full-continue")]
    FullContinue,
}

impl SweepMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            SweepMode::Init => "init",
            SweepMode::Incremental => "incremental",
            SweepMode::Full => "full",
            SweepMode::FullContinue => "full-continue",
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
    /// `full` and `full-continue`: how far the resumable full pass got (`None` for the other
    /// modes and for a skipped continuation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_pass: Option<PassProgress>,
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
    /// The original version of the leaf-hash file the note names, from the same listing;
    /// `None` when it is missing.
    leaves: Option<Original>,
}

/// When and as what a run started.
struct RunStart {
    run_id: String,
    started_at: Timestamp,
    started: Instant,
}

impl RunStart {
    fn now(clock: &impl Clock) -> RunStart {
        RunStart {
            run_id: uuid::Uuid::now_v7().to_string(),
            started_at: clock.now(),
            started: Instant::now(),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A mode's outcome, and the trusted keys it judged with.
struct Verified {
    outcome: Outcome,
    trust: TrustedKeys,
}

/// The vault findings of a run, split by whether an operator acknowledged them.
struct VaultFindings {
    acknowledged: Vec<Finding>,
    /// Not acknowledged: these fail the run.
    open: Vec<Finding>,
}

impl VaultFindings {
    fn none_acknowledged(objects: Vec<ObjectFinding>) -> VaultFindings {
        VaultFindings {
            acknowledged: Vec::new(),
            open: objects.into_iter().map(|o| o.finding).collect(),
        }
    }
}

/// A checkpoint signed and not yet stored, with its leaf-hash file.
struct NextCheckpoint {
    signed: SignedCheckpoint,
    leaves: Vec<u8>,
}

/// A checkpoint this run wrote.
struct Written {
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
    written: Option<Written>,
    latest: Option<SignedCheckpoint>,
    message: String,
    /// The full pass's progress after this step.
    pass: Option<PassProgress>,
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
    pub(crate) reads_in_flight: ReadsInFlight,
    /// `AUDIT_SEAL_LAG_SECONDS`: audit events younger than this are left to a later seal.
    audit_seal_lag_seconds: u64,
    /// `FULL_SWEEP_BUDGET_SECONDS`: how long one step of the full pass verifies.
    full_pass_budget: std::time::Duration,
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
            reads_in_flight: ReadsInFlight {
                notes: NOTE_READS_IN_FLIGHT,
                leaf_files: LEAF_FILE_READS_IN_FLIGHT,
                seals: audit_seal::SEAL_READS_IN_FLIGHT,
            },
            audit_seal_lag_seconds: audit_seal::DEFAULT_LAG_SECONDS,
            full_pass_budget: std::time::Duration::from_secs(DEFAULT_FULL_PASS_BUDGET_SECONDS),
        }
    }

    /// Each step of the full pass verifies for at most about this long (default
    /// [`DEFAULT_FULL_PASS_BUDGET_SECONDS`]), then stops at the next trusted checkpoint or seal.
    pub fn with_full_pass_budget(mut self, budget: std::time::Duration) -> Self {
        self.full_pass_budget = budget;
        self
    }

    /// Seals only audit events older than `seconds` (default [`audit_seal::DEFAULT_LAG_SECONDS`]).
    pub fn with_audit_seal_lag(mut self, seconds: u64) -> Self {
        self.audit_seal_lag_seconds = seconds;
        self
    }

    /// Runs one sweep: verifies, writes the checkpoint (init, incremental) and the run record,
    /// audits and emits metrics. `Err` when the ledger is not intact or the sweep could not finish.
    pub async fn run(&self, mode: SweepMode, request_id: &str) -> Result<SweepRecord, SweepError> {
        let start = RunStart::now(&self.clock);
        let deadline = start.started + self.full_pass_budget;
        let verified = self.verify(mode, deadline).await;
        let duration_ms = start.elapsed_ms();
        let Verified { outcome, trust } = match verified {
            Ok(verified) => verified,
            Err(error) => {
                return Err(self
                    .could_not_complete(mode, request_id, duration_ms, error)
                    .await);
            }
        };
        self.record_trusted_keys(&trust).await;
        let record = self
            .build_record(mode, start, duration_ms, outcome, &trust)
            .await;
        self.write_record(&record).await;
        self.announce(request_id, record).await
    }

    /// Resolves the trusted keys (once per run: every note is judged with them, no further key
    /// lookups) and runs the mode.
    async fn verify(&self, mode: SweepMode, deadline: Instant) -> Result<Verified, SweepError> {
        let trust = self.settings.trust.resolve(self.signer.as_ref()).await?;
        let outcome = self.run_mode(mode, &trust, deadline).await?;
        // Issue 11: every mode also seals the audit log (`full` re-verifies its seals).
        // Boxed: the sealer's future would make every sweep's future large.
        let outcome = Box::pin(self.seal_audit_log(&trust, outcome)).await?;
        Ok(Verified { outcome, trust })
    }

    /// A run that could not finish: audited, its duration emitted; returns the error.
    async fn could_not_complete(
        &self,
        mode: SweepMode,
        request_id: &str,
        duration_ms: u64,
        error: SweepError,
    ) -> SweepError {
        let reason = format!(
            "the sweep could not complete: {}",
            crate::app::ingest::error_chain(&error)
        );
        self.audit_failure(request_id, &reason, json!({"mode": mode}))
            .await;
        self.metrics
            .emit(&[Metric::millis(metric::SWEEP_DURATION, duration_ms as i64)]);
        error
    }

    /// The run record of a finished run: the mode's outcome, with the vault findings split into
    /// acknowledged ones and open ones (which fail the run).
    async fn build_record(
        &self,
        mode: SweepMode,
        start: RunStart,
        duration_ms: u64,
        outcome: Outcome,
        trust: &TrustedKeys,
    ) -> SweepRecord {
        let VaultFindings {
            acknowledged,
            open: unacknowledged,
        } = self.acknowledge(outcome.objects).await;
        let status = match unacknowledged.is_empty() {
            true => outcome.status,
            false => SweepStatus::Failed,
        };
        let report = &outcome.report;
        let described = outcome
            .written
            .as_ref()
            .map(|w| &w.signed)
            .or(outcome.latest.as_ref());
        SweepRecord {
            run_id: start.run_id,
            mode,
            status,
            started_at: start.started_at,
            finished_at: self.clock.now(),
            duration_ms,
            entries_verified: report.entries_read,
            from_index: outcome.from_index,
            tree_size: report.tree.size(),
            root: report.tree.root(),
            head_hash: report.head_hash,
            checkpoints_checked: outcome.checkpoints_checked,
            checkpoint_written: outcome.written.as_ref().map(|w| w.key.clone()),
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
            full_pass: outcome.pass,
            message: match unacknowledged.len() {
                0 => outcome.message,
                n => format!(
                    "{}; {n} vault finding(s): an object under {CHECKPOINT_PREFIX} was planted, forged, overwritten or is not trusted",
                    outcome.message
                ),
            },
        }
    }

    /// Emits the run's metrics and audits it: `Ok(record)` when it passed (or was skipped),
    /// `Err(Failed)` otherwise.
    async fn announce(
        &self,
        request_id: &str,
        record: SweepRecord,
    ) -> Result<SweepRecord, SweepError> {
        let mode = record.mode;
        let mut metrics = vec![
            Metric::millis(metric::SWEEP_DURATION, record.duration_ms as i64),
            Metric::count(metric::ENTRIES_VERIFIED, record.entries_verified),
        ];
        if let Some(pass) = &record.full_pass {
            let age_ms = pass.duration_ms.unwrap_or_else(|| {
                let age = record.finished_at.as_datetime() - pass.pass_started_at.as_datetime();
                u64::try_from(age.whole_milliseconds()).unwrap_or(0)
            });
            metrics.push(Metric::hours(
                metric::FULL_SWEEP_PASS_AGE_HOURS,
                age_ms as f64 / 3_600_000.0,
            ));
        }
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
        trust: &TrustedKeys,
        mut outcome: Outcome,
    ) -> Result<Outcome, SweepError> {
        // The full pass re-verifies the seals in its own steps (`full_pass`); here every mode
        // seals.
        let sealed = self.sealer(trust).run(self.clock.now(), false).await?;
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
        for (key, version_id, finding) in sealed.objects {
            // A full step has judged every seal already: the listing's findings are among them.
            let seen = outcome
                .objects
                .iter()
                .any(|o| o.key == key && o.version_id == version_id && o.finding == finding);
            if !seen {
                outcome.objects.push(ObjectFinding {
                    key,
                    version_id,
                    finding,
                });
            }
        }
        outcome.message = format!(
            "{}; audit log: {}{}{}",
            outcome.message,
            match (&sealed.written, &sealed.sealed_to) {
                (Some(key), Some(to)) => format!("sealed to {to} ({key})"),
                (None, Some(to)) => format!("sealed to {to}"),
                _ => "nothing sealed yet".to_owned(),
            },
            match &outcome.pass {
                Some(_) => ", seals re-verified by the full pass".to_owned(),
                None => String::new(),
            },
            match sealed.findings.len() {
                0 => String::new(),
                n => format!(", {n} audit finding(s)"),
            }
        );
        Ok(outcome)
    }

    /// The sealer of the audit log, over this sweep's ports.
    fn sealer<'a>(&'a self, trust: &'a TrustedKeys) -> audit_seal::Sealer<'a, V, G, A> {
        audit_seal::Sealer {
            vault: &self.vault,
            signer: self.signer.as_ref(),
            log: &self.audit,
            trust,
            retention_days: self.settings.retention_days,
            lag_seconds: self.audit_seal_lag_seconds,
            reads_in_flight: self.reads_in_flight.seals,
            note_reads_in_flight: self.reads_in_flight.notes,
        }
    }

    async fn run_mode(
        &self,
        mode: SweepMode,
        trust: &TrustedKeys,
        deadline: Instant,
    ) -> Result<Outcome, SweepError> {
        match mode {
            SweepMode::Init => self.init(trust).await,
            SweepMode::Incremental => self.incremental(trust).await,
            SweepMode::Full => Box::pin(self.full_step(trust, deadline, true)).await,
            SweepMode::FullContinue => Box::pin(self.full_step(trust, deadline, false)).await,
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
                pass: None,
            });
        }
        let mut verifier = ChainVerifier::from_genesis();
        let (leaves, _) = self.verify_from(0, &mut verifier, None, None).await?;
        let report = verifier.finish(None);
        let outcome = self.conclude(report, 0, leaves, None).await?;
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
        self.check_anchor(&latest, &mut verifier).await?;
        let (leaves, _) = self.verify_from(size, &mut verifier, None, None).await?;
        let report = verifier.finish(Some(size));
        let outcome = self.conclude(report, size, leaves, Some(latest)).await?;
        Ok(Outcome { objects, ..outcome })
    }

    /// The anchor of an incremental run: the entry the checkpoint ends at must still be there,
    /// unchanged, and the ledger must not have shrunk below the checkpoint.
    async fn check_anchor(
        &self,
        latest: &Loaded,
        verifier: &mut ChainVerifier,
    ) -> Result<(), SweepError> {
        let checkpoint = &latest.signed.checkpoint;
        let size = checkpoint.tree_size;
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
        Ok(())
    }

    /// Reads and verifies entries from `from` to the head: chain checks in the verifier, claims
    /// here, and (full mode) recorded leaf hashes and checkpoint roots. Returns the recomputed
    /// hashes of the entries read, in order — the leaves a new checkpoint adds.
    ///
    /// With a `budget` (the full pass), it stops once the budget is spent and the position is a
    /// trusted checkpoint's size; the second value says whether it stopped there. The full pass
    /// (with a `comparison`) collects no leaves: a step may read millions of entries.
    async fn verify_from(
        &self,
        from: u64,
        verifier: &mut ChainVerifier,
        mut comparison: Option<&mut CheckpointComparison<'_>>,
        budget: Option<&Budget>,
    ) -> Result<(Vec<Hash>, bool), SweepError> {
        let mut leaves = Vec::new();
        let collect = comparison.is_none();
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
                        if collect {
                            leaves.push(computed);
                        }
                        if let Some(comparison) = comparison.as_deref_mut() {
                            let mut pending = Vec::new();
                            comparison.leaf(position, computed, &mut pending).await?;
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
                if budget.is_some_and(|b| b.stops_at(verifier.position())) {
                    self.check_claims(&entries, verifier).await?;
                    return Ok((leaves, true));
                }
            }
            self.check_claims(&entries, verifier).await?;
        }
        Ok((leaves, false))
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
                let claim = claims
                    .iter()
                    .find(|(id, _)| *id == entry.entry.signal_id)
                    .map(|(_, claim)| ClaimSeen {
                        chain_index: claim.chain_index,
                        entry_hash: claim.entry_hash,
                    });
                let (index, id) = (entry.entry.chain_index, entry.entry.signal_id.as_str());
                if let Some(kind) = claim_finding(index, id, &entry.entry_hash, claim) {
                    verifier.record(index, kind);
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
        let mut findings = listing_findings(&objects);
        let leaf_files: HashMap<&str, &Original> = objects
            .iter()
            .filter(|o| !vault::is_note(o))
            .map(|o| (o.key(), o))
            .collect();
        let notes = objects
            .iter()
            .rev()
            .filter(|o| vault::is_note(o) && is_object_key(o.key()));
        // `full` reads every note, several at a time (in order); the others usually need only
        // the newest, so they read one at a time and stop at the first trusted note.
        let in_flight = if all { self.reads_in_flight.notes } else { 1 };
        let mut reads = stream::iter(notes)
            .map(|original| vault::read_note(&self.vault, original))
            .buffered(in_flight);
        let mut loaded = Vec::new();
        while let Some(note) = reads.next().await {
            let note = note?;
            let signed = match judge_note(&note, trust) {
                Judged::Trusted(signed) => signed,
                Judged::Refused(finding) => {
                    findings.push(finding);
                    continue;
                }
            };
            let checkpoint = &signed.checkpoint;
            let leaves = leaf_files
                .get(leaves_key(checkpoint.tree_size, &checkpoint.time).as_str())
                .map(|o| (*o).clone());
            loaded.push(Loaded {
                key: note.original.key().to_owned(),
                signed,
                leaves,
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
    async fn acknowledge(&self, objects: Vec<ObjectFinding>) -> VaultFindings {
        if objects.is_empty() {
            return VaultFindings::none_acknowledged(Vec::new());
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
                            return VaultFindings::none_acknowledged(objects);
                        }
                    }
                }
            }
            Err(error) => {
                tracing::error!(error = %crate::app::ingest::error_chain(&error), "cannot list acknowledgements: none counts");
                return VaultFindings::none_acknowledged(objects);
            }
        }
        let (acknowledged, open): (Vec<ObjectFinding>, Vec<ObjectFinding>) =
            objects.into_iter().partition(|o| {
                acknowledged_keys
                    .iter()
                    .any(|(key, version)| *key == o.key && *version == o.version_id)
            });
        VaultFindings {
            acknowledged: acknowledged.into_iter().map(|o| o.finding).collect(),
            open: open.into_iter().map(|o| o.finding).collect(),
        }
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

    /// After `init` or `incremental`: a clean result that grew the tree writes the next
    /// checkpoint; a clean result with nothing appended since `previous` writes none (the run
    /// record is the proof the sweep ran), so idle hours add nothing for `full` to re-read.
    async fn conclude(
        &self,
        report: ChainReport,
        from_index: u64,
        leaves: Vec<Hash>,
        previous: Option<Loaded>,
    ) -> Result<Outcome, SweepError> {
        let checkpoints_checked = u64::from(previous.is_some());
        let latest = previous.as_ref().map(|p| p.signed.clone());
        if !report.is_intact() {
            return Ok(self.failed(
                report,
                from_index,
                checkpoints_checked,
                latest,
                "findings: no checkpoint written",
            ));
        }
        let previous_size = latest.as_ref().map_or(0, |p| p.checkpoint.tree_size);
        debug_assert_eq!(previous_size + leaves.len() as u64, report.tree.size());
        if let Some(previous) = &previous
            && report.tree.size() == previous_size
        {
            let message = format!(
                "verified {} entries from index {from_index}; nothing appended since checkpoint {} at size {previous_size}: no checkpoint written",
                report.entries_read, previous.key
            );
            return Ok(Outcome {
                status: SweepStatus::Passed,
                report,
                objects: Vec::new(),
                from_index,
                checkpoints_checked,
                written: None,
                latest,
                message,
                pass: None,
            });
        }
        let now = self.clock.now();
        let next = self
            .sign_checkpoint(&report, from_index, &leaves, now)
            .await?;
        let written = self.store_checkpoint(next, now).await?;
        let message = format!(
            "verified {} entries from index {from_index}; checkpoint {} at size {}",
            report.entries_read, written.key, written.signed.checkpoint.tree_size
        );
        Ok(Outcome {
            status: SweepStatus::Passed,
            report,
            objects: Vec::new(),
            from_index,
            checkpoints_checked,
            written: Some(written),
            latest,
            message,
            pass: None,
        })
    }

    /// The next checkpoint over a clean report, signed (or explicitly unsigned without a key),
    /// with the leaf-hash file it names.
    async fn sign_checkpoint(
        &self,
        report: &ChainReport,
        from_index: u64,
        leaves: &[Hash],
        now: Timestamp,
    ) -> Result<NextCheckpoint, SweepError> {
        let leaves_bytes = encode_leaves(leaves);
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
        Ok(NextCheckpoint {
            signed: SignedCheckpoint {
                checkpoint,
                signature,
            },
            leaves: leaves_bytes,
        })
    }

    /// Writes the leaf-hash file, then the note, both locked: a checkpoint never names a file
    /// that is not there.
    async fn store_checkpoint(
        &self,
        next: NextCheckpoint,
        now: Timestamp,
    ) -> Result<Written, SweepError> {
        let NextCheckpoint { signed, leaves } = next;
        let retain_until = now
            .plus_days(self.settings.retention_days)
            .map_err(|e| SweepError::Checkpoint(e.to_string()))?;
        let size = signed.checkpoint.tree_size;
        self.vault
            .put_locked(
                &leaves_key(size, &now),
                leaves,
                "text/plain; charset=utf-8",
                retain_until,
            )
            .await?;
        let key = object_key(size, &now);
        self.vault
            .put_locked(
                &key,
                signed.to_text().into_bytes(),
                "text/plain; charset=utf-8",
                retain_until,
            )
            .await?;
        Ok(Written { key, signed })
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
            pass: None,
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

/// A leaf-hash file read back for one checkpoint.
enum LeafFile {
    Hashes(Vec<Hash>),
    /// Missing, or not the file the note names: why, for the finding.
    Invalid(String),
}

/// The leaf-hash files of the checkpoints that add leaves, in checkpoint order, each with its
/// checkpoint's position; read ahead, a bounded number at a time.
type LeafFiles<'a> = BoxStream<'a, (usize, Result<LeafFile, VaultError>)>;

/// The leaf-hash file in use: the checkpoint's position, its first leaf index, its hashes.
struct Window {
    checkpoint: usize,
    from: u64,
    hashes: Vec<Hash>,
}

/// Full mode's walk along the checkpoints, in size order, holding the leaf-hash file in use and
/// at most [`LEAF_FILE_READS_IN_FLIGHT`] read ahead.
struct CheckpointComparison<'a> {
    checkpoints: Vec<Loaded>,
    /// The first checkpoint whose size has not been reached yet.
    next: usize,
    window: Option<Window>,
    /// The first checkpoint whose leaves may still cover the next position.
    cursor: usize,
    leaf_files: LeafFiles<'a>,
}

impl<'a> CheckpointComparison<'a> {
    /// Walks `checkpoints` (in size order), reading the leaf-hash files of those that add leaves
    /// from `vault`, `in_flight` at a time, in order.
    fn new(checkpoints: Vec<Loaded>, vault: &'a impl BlobVault, in_flight: usize) -> Self {
        let wanted: Vec<(usize, Option<Original>, LeavesRef, String)> = checkpoints
            .iter()
            .enumerate()
            .filter(|(_, l)| l.signed.checkpoint.leaves.from < l.signed.checkpoint.leaves.to)
            .map(|(position, l)| {
                let checkpoint = &l.signed.checkpoint;
                let key = leaves_key(checkpoint.tree_size, &checkpoint.time);
                (position, l.leaves.clone(), checkpoint.leaves, key)
            })
            .collect();
        let leaf_files = stream::iter(wanted)
            .map(move |(position, original, leaves, key)| async move {
                let Some(original) = original else {
                    let missing = format!("its leaf-hash file {key} is missing");
                    return (position, Ok(LeafFile::Invalid(missing)));
                };
                let read = vault
                    .get_version(original.key(), original.version_id())
                    .await;
                let file = read.map(|bytes| match parse_leaves(&bytes, &leaves) {
                    Ok(hashes) => LeafFile::Hashes(hashes),
                    Err(error) => LeafFile::Invalid(error.to_string()),
                });
                (position, file)
            })
            .buffered(in_flight.max(1))
            .boxed();
        CheckpointComparison {
            checkpoints,
            next: 0,
            window: None,
            cursor: 0,
            leaf_files,
        }
    }

    /// The leaf-hash file of checkpoint `position`: files of checkpoints the walk passed
    /// without needing them (their entries unreadable) are skipped.
    async fn leaf_file(&mut self, position: usize) -> Result<LeafFile, VaultError> {
        while let Some((read_for, file)) = self.leaf_files.next().await {
            if read_for == position {
                return file;
            }
            if read_for > position {
                break;
            }
        }
        // Unreachable: every checkpoint that covers a position adds leaves, so it is in the stream.
        Ok(LeafFile::Invalid(
            "its leaf-hash file was not read in order".to_owned(),
        ))
    }

    /// Compares the recomputed hash of the entry at `position` with the hash the checkpoint
    /// covering it recorded.
    async fn leaf(
        &mut self,
        position: u64,
        computed: Hash,
        findings: &mut Vec<(u64, FindingKind)>,
    ) -> Result<(), SweepError> {
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
        let from = candidate.signed.checkpoint.leaves.from;
        if from > position {
            // Not covered: a checkpoint's leaves start later (a gap in the checkpoint chain).
            return Ok(());
        }
        if self.window.as_ref().map(|w| w.checkpoint) != Some(covering) {
            let hashes = match self.leaf_file(covering).await? {
                LeafFile::Hashes(hashes) => hashes,
                LeafFile::Invalid(reason) => {
                    findings.push((
                        position,
                        FindingKind::CheckpointInvalid {
                            checkpoint: self.checkpoints[covering].key.clone(),
                            reason,
                        },
                    ));
                    Vec::new()
                }
            };
            let invalid = hashes.is_empty();
            self.window = Some(Window {
                checkpoint: covering,
                from,
                hashes,
            });
            if invalid {
                return Ok(());
            }
        }
        if let Some(window) = &self.window
            && let Some(expected) = window.hashes.get((position - window.from) as usize)
            && *expected != computed
        {
            findings.push((
                position,
                FindingKind::CheckpointMismatch {
                    checkpoint: self.checkpoints[window.checkpoint].key.clone(),
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

/// A finding about `original`, indexed by the tree size its key names.
fn object_finding(original: &Original, kind: FindingKind) -> ObjectFinding {
    ObjectFinding {
        key: original.key().to_owned(),
        version_id: original.version_id().to_owned(),
        finding: Finding {
            index: size_from_key(original.key()),
            kind,
        },
    }
}

/// What the listing alone shows: objects the sweep never writes, and overwritten keys.
fn listing_findings(objects: &[Original]) -> Vec<ObjectFinding> {
    let mut findings = Vec::new();
    for original in objects {
        let key = original.key().to_owned();
        if !is_object_key(original.key()) {
            findings.push(object_finding(
                original,
                FindingKind::UnexpectedObject { key },
            ));
        } else if original.overwritten() {
            findings.push(object_finding(
                original,
                FindingKind::CheckpointOverwritten {
                    checkpoint: key,
                    versions: original.versions,
                },
            ));
        }
    }
    findings
}

/// A note read back, judged.
enum Judged {
    /// It counts.
    Trusted(SignedCheckpoint),
    /// The finding naming its key: unreadable, stored under another key than its content gives,
    /// or not trusted.
    Refused(ObjectFinding),
}

fn judge_note(note: &vault::CheckpointNote, trust: &TrustedKeys) -> Judged {
    let original = &note.original;
    let checkpoint = original.key().to_owned();
    let signed = match &note.content {
        Ok(signed) => signed,
        Err(reason) => {
            let reason = reason.clone();
            return Judged::Refused(object_finding(
                original,
                FindingKind::CheckpointInvalid { checkpoint, reason },
            ));
        }
    };
    let refusal = vault::key_mismatch(original, signed).or_else(|| trust.check(signed).refusal());
    match refusal {
        Some(reason) => Judged::Refused(object_finding(
            original,
            FindingKind::CheckpointUntrusted { checkpoint, reason },
        )),
        None => Judged::Trusted(signed.clone()),
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

#[path = "sweep_full_pass.rs"]
mod full_pass;
use full_pass::Budget;
pub use full_pass::{DEFAULT_FULL_PASS_BUDGET_SECONDS, PassProgress};

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
