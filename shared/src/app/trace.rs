//! The trail of one signal (`ledgerctl trace <signal_id>`): follows one signal through every record the ledger keeps of it
//! — the entry, its hash and links, its audit events, its delivery latency, the backup that holds
//! it, the latest checkpoint that covers it and its delivery receipts — and checks each against
//! the others.
//!
//! Promises:
//! - [`trace`] only reads (the store, the vault, the audit table, public keys); it never writes.
//! - The result is data ([`Trace`]): each step is [`Step::Found`] (every check passed),
//!   [`Step::Failed`] (found, but a check failed: evidence of tampering), [`Step::Broken`] (the
//!   record exists but cannot be read as it must be: also a failure) or [`Step::Stopped`] (the
//!   trail ends here for an ordinary reason, e.g. not backed up yet), each with its evidence.
//!   Rendering (`ledgerctl`'s text, or serde JSON) is separate.
//! - Where the trail stops, the reason says exactly where and why.
//! - [`Trace::exit_code`]: 0 complete and every check passed, 1 a check failed, 2 the trail stops
//!   early.

use crate::app::backup::MANIFEST_PREFIX;
use crate::app::vault::{self, CheckpointTrust, Original, PassedOver, SignatureCheck, TrustError};
use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::backup::{BackupId, IndexRange, Manifest, RowReader};
use crate::domain::checkpoint::{Checkpoint, Signature};
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::merkle;
use crate::domain::report::ObjectLockSeen;
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{AuditLog, BlobVault, LedgerStore, PublicKeys, StoreError, VaultError};
use serde::Serialize;
use std::ops::ControlFlow;

/// The delivery latency requirement of the seed: a signal is stored within 500 ms.
pub use crate::domain::report::LATENCY_REQUIREMENT_MS;
/// How many days after the day of `received_at` the audit table is searched by default.
pub const DEFAULT_AUDIT_DAYS: u32 = 7;
/// Entries per page when reading the ledger for the inclusion proof.
const PAGE_SIZE: u32 = 500;

/// Where the trace reads from. `keys` gives public keys, to verify checkpoint signatures;
/// without it a signed checkpoint's signature is reported as not verified.
#[derive(Debug)]
pub struct Sources<'a, S, V, A, K> {
    pub store: &'a S,
    pub vault: &'a V,
    pub audit: &'a A,
    pub keys: Option<&'a K>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOptions {
    /// Days searched in the audit table after the day of `received_at` (that day is always
    /// searched); never past the day of `now`.
    pub audit_days: u32,
    /// The current time (days after today are not searched).
    pub now: Timestamp,
    /// Which checkpoints count as trusted.
    pub trust: CheckpointTrust,
}

/// Why a trace could not be made at all.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{text:?} is not a signal id: {reason}")]
    InvalidSignalId { text: String, reason: String },
    #[error("no entry claims signal id {0:?}")]
    UnknownSignalId(String),
    #[error("cannot read the {what}")]
    Store {
        what: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot read {what} from the vault")]
    Vault {
        what: String,
        #[source]
        source: VaultError,
    },
    #[error("cannot load the trusted checkpoint keys to judge checkpoints")]
    Trust(#[from] TrustError),
}

/// One comparison and its outcome, in words with both values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, passed: bool, detail: impl Into<String>) -> Check {
        Check {
            name,
            passed,
            detail: detail.into(),
        }
    }
}

/// One step of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "evidence", rename_all = "snake_case")]
pub enum Step<T> {
    /// Found, and every check passed.
    Found(T),
    /// Found, but at least one check failed (see the evidence's checks).
    Failed(T),
    /// The record exists but cannot be read as it must be (malformed, missing its parts).
    Broken { reason: String },
    /// The trail ends here for an ordinary reason (e.g. not backed up yet).
    Stopped { reason: String },
}

/// Evidence that carries checks (every evidence type of a [`Trace`]).
pub trait Checked {
    fn checks(&self) -> &[Check];
}

impl<T: Checked> Step<T> {
    /// `Found` when every check passed, else `Failed`.
    fn judge(evidence: T) -> Step<T> {
        match evidence.checks().iter().all(|c| c.passed) {
            true => Step::Found(evidence),
            false => Step::Failed(evidence),
        }
    }
}

impl<T> Step<T> {
    fn stopped(reason: impl Into<String>) -> Step<T> {
        Step::Stopped {
            reason: reason.into(),
        }
    }

    fn broken(reason: impl Into<String>) -> Step<T> {
        Step::Broken {
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StepStatus {
        match self {
            Step::Found(_) => StepStatus::Found,
            Step::Failed(_) | Step::Broken { .. } => StepStatus::Failed,
            Step::Stopped { .. } => StepStatus::Stopped,
        }
    }

    /// The evidence, when the step found something.
    pub fn evidence(&self) -> Option<&T> {
        match self {
            Step::Found(evidence) | Step::Failed(evidence) => Some(evidence),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Found,
    Failed,
    Stopped,
}

/// The hash checks of the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HashEvidence {
    /// SHA-256 of the canonical encoding, recomputed from the stored fields.
    pub recomputed_hash: Hash,
    pub checks: Vec<Check>,
}

/// The audit events naming the signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvidence {
    /// The UTC days (`YYYY-MM-DD`) whose partitions were read, in order.
    pub days_searched: Vec<String>,
    /// The days asked for: the day of `received_at` and `--audit-days` more. More than
    /// `days_searched.len()` when the window was cut at today.
    pub days_requested: u64,
    /// The `SIGNAL_INSERTED` events naming the signal id (exactly one when intact).
    pub inserted: Vec<AuditEvent>,
    /// Every other event naming the signal id (refusals, replays, modification or delete
    /// attempts), and tamper or integrity-failure events naming its chain index.
    pub related: Vec<AuditEvent>,
    pub checks: Vec<Check>,
}

/// Delivery latency against the requirement. Being slow is reported, not a check failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatencyEvidence {
    pub generated_at: Timestamp,
    pub received_at: Timestamp,
    pub delivery_latency_ms: i64,
    pub requirement_ms: i64,
    pub within_requirement: bool,
    pub checks: Vec<Check>,
}

/// The backup holding the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupEvidence {
    pub backup_id: BackupId,
    pub manifest_key: String,
    pub manifest_version_id: String,
    pub index_range: IndexRange,
    pub csv_key: String,
    pub csv_version_id: String,
    /// The entry's row in the CSV, 1-based after the header.
    pub csv_row: u64,
    pub csv_protection: ObjectLockSeen,
    pub manifest_protection: ObjectLockSeen,
    pub checks: Vec<Check>,
}

/// The latest checkpoint and the entry's inclusion proof against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointEvidence {
    pub key: String,
    pub version_id: String,
    pub tree_size: u64,
    pub root: Hash,
    pub time: Timestamp,
    pub signed: bool,
    pub key_id: Option<String>,
    /// `None` when unsigned, or signed but no key access was given to verify it.
    pub signature_verified: Option<bool>,
    /// RFC 6962 `PATH(index, D[tree_size])`, bottom first.
    pub inclusion_proof: Vec<Hash>,
    pub checks: Vec<Check>,
}

macro_rules! checked {
    ($($t:ty),*) => {$(
        impl Checked for $t {
            fn checks(&self) -> &[Check] {
                &self.checks
            }
        }
    )*};
}
checked!(
    HashEvidence,
    AuditEvidence,
    LatencyEvidence,
    BackupEvidence,
    CheckpointEvidence
);

/// The whole trail of one signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    pub signal_id: String,
    pub entry: Step<StoredEntry>,
    pub hashes: Step<HashEvidence>,
    pub audit: Step<AuditEvidence>,
    pub latency: Step<LatencyEvidence>,
    pub backup: Step<BackupEvidence>,
    pub checkpoint: Step<CheckpointEvidence>,
    /// The signal's delivery receipts (`trace_receipts.rs`).
    pub receipts: Step<ReceiptsEvidence>,
}

/// How the trail ended, with its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step found its record and every check passed (exit 0).
    Complete,
    /// A check failed or a record is broken: evidence of tampering (exit 1).
    Failed,
    /// No check failed, but the trail stops early (exit 2).
    Stopped,
}

impl Trace {
    fn statuses(&self) -> [StepStatus; 7] {
        [
            self.receipts.status(),
            self.entry.status(),
            self.hashes.status(),
            self.audit.status(),
            self.latency.status(),
            self.backup.status(),
            self.checkpoint.status(),
        ]
    }

    pub fn outcome(&self) -> Outcome {
        let statuses = self.statuses();
        if statuses.contains(&StepStatus::Failed) {
            Outcome::Failed
        } else if statuses.contains(&StepStatus::Stopped) {
            Outcome::Stopped
        } else {
            Outcome::Complete
        }
    }

    /// 0 complete and every check passed; 1 a check failed; 2 the trail stops early.
    pub fn exit_code(&self) -> u8 {
        match self.outcome() {
            Outcome::Complete => 0,
            Outcome::Failed => 1,
            Outcome::Stopped => 2,
        }
    }

    /// Every failed check and broken record, as `step: detail` lines.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut add = |step: &str, status: StepStatus, reason: Option<&str>, checks: &[Check]| {
            if let (StepStatus::Failed, Some(reason)) = (status, reason) {
                out.push(format!("{step}: {reason}"));
            }
            for check in checks.iter().filter(|c| !c.passed) {
                out.push(format!("{step}: {} — {}", check.name, check.detail));
            }
        };
        add("entry", self.entry.status(), reason(&self.entry), &[]);
        add(
            "hash check",
            self.hashes.status(),
            reason(&self.hashes),
            checks_of(&self.hashes),
        );
        add(
            "audit",
            self.audit.status(),
            reason(&self.audit),
            checks_of(&self.audit),
        );
        add(
            "latency",
            self.latency.status(),
            reason(&self.latency),
            checks_of(&self.latency),
        );
        add(
            "backup",
            self.backup.status(),
            reason(&self.backup),
            checks_of(&self.backup),
        );
        add(
            "checkpoint",
            self.checkpoint.status(),
            reason(&self.checkpoint),
            checks_of(&self.checkpoint),
        );
        add(
            "receipts",
            self.receipts.status(),
            reason(&self.receipts),
            checks_of(&self.receipts),
        );
        out
    }

    /// Where the trail stops, as `step: reason` lines.
    pub fn stops(&self) -> Vec<String> {
        let named: [(&str, Option<&str>); 7] = [
            ("entry", stop_reason(&self.entry)),
            ("hash check", stop_reason(&self.hashes)),
            ("audit", stop_reason(&self.audit)),
            ("latency", stop_reason(&self.latency)),
            ("backup", stop_reason(&self.backup)),
            ("checkpoint", stop_reason(&self.checkpoint)),
            ("receipts", stop_reason(&self.receipts)),
        ];
        named
            .into_iter()
            .filter_map(|(step, reason)| Some(format!("{step}: {}", reason?)))
            .collect()
    }
}

fn reason<T>(step: &Step<T>) -> Option<&str> {
    match step {
        Step::Broken { reason } => Some(reason),
        _ => None,
    }
}

fn stop_reason<T>(step: &Step<T>) -> Option<&str> {
    match step {
        Step::Stopped { reason } => Some(reason),
        _ => None,
    }
}

fn checks_of<T: Checked>(step: &Step<T>) -> &[Check] {
    step.evidence().map_or(&[], Checked::checks)
}

fn store_error(what: impl Into<String>) -> impl FnOnce(StoreError) -> TraceError {
    let what = what.into();
    move |source| TraceError::Store { what, source }
}

fn vault_error(what: impl Into<String>) -> impl FnOnce(VaultError) -> TraceError {
    let what = what.into();
    move |source| TraceError::Vault { what, source }
}

/// Traces `signal_id` through the ledger, the audit table and the vault. `progress` receives a
/// line before each slow step (for stderr).
pub async fn trace<S, V, A, K>(
    sources: &Sources<'_, S, V, A, K>,
    signal_id: &str,
    options: &TraceOptions,
    progress: &dyn Fn(&str),
) -> Result<Trace, TraceError>
where
    S: LedgerStore,
    V: BlobVault,
    A: AuditLog,
    K: PublicKeys,
{
    let id = SignalId::parse(signal_id).map_err(|error| TraceError::InvalidSignalId {
        text: signal_id.to_owned(),
        reason: error.to_string(),
    })?;
    progress(&format!("looking up signal {id}"));
    let stored = match sources.store.find_by_signal_id(&id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(TraceError::UnknownSignalId(signal_id.to_owned())),
        Err(StoreError::Malformed { key, reason }) => {
            let why = "the entry could not be read";
            return Ok(Trace {
                signal_id: signal_id.to_owned(),
                entry: Step::broken(format!(
                    "the claim of signal id {id} leads to a malformed item ({key}): {reason}"
                )),
                hashes: Step::stopped(why),
                audit: Step::stopped(why),
                latency: Step::stopped(why),
                backup: Step::stopped(why),
                checkpoint: Step::stopped(why),
                receipts: Step::stopped(why),
            });
        }
        Err(source) => return Err(store_error(format!("entry of signal {id}"))(source)),
    };
    let hashes = Step::judge(hash_checks(sources.store, &id, &stored).await?);
    progress("reading the audit table");
    let audit = Step::judge(audit_trail(sources.audit, &stored, options).await?);
    let latency = Step::judge(latency(&stored));
    progress("looking for the backup holding it");
    let backup = backup_step(sources.vault, &stored, progress).await?;
    progress("looking for the latest checkpoint");
    let checkpoint = checkpoint_step(sources, &stored, options, progress).await?;
    progress("reading its delivery receipts");
    let receipts =
        trace_receipts::receipts_step(sources.store, sources.vault, &stored, &audit).await?;
    Ok(Trace {
        signal_id: signal_id.to_owned(),
        entry: Step::Found(stored),
        hashes,
        audit,
        latency,
        backup,
        checkpoint,
        receipts,
    })
}

/// The hash checks of the entry: its own hash, the links to its neighbours, and its claim.
async fn hash_checks<S: LedgerStore>(
    store: &S,
    id: &SignalId,
    stored: &StoredEntry,
) -> Result<HashEvidence, TraceError> {
    let recomputed = stored.entry.compute_hash();
    let mut checks = own_hash_checks(id, stored, recomputed);
    checks.push(previous_link_check(store, stored).await?);
    checks.push(next_link_check(store, stored).await?);
    checks.push(claim_check(store, id, stored).await?);
    Ok(HashEvidence {
        recomputed_hash: recomputed,
        checks,
    })
}

/// The entry's stored hash against the recomputed one, and the signal id it holds.
fn own_hash_checks(id: &SignalId, stored: &StoredEntry, recomputed: Hash) -> Vec<Check> {
    let this = stored.entry_hash;
    vec![
        Check::new(
            "entry_hash",
            recomputed == this,
            format!("recomputed canonical hash {recomputed} vs stored entry_hash {this}"),
        ),
        Check::new(
            "signal_id",
            stored.entry.signal_id == *id,
            format!(
                "the entry the claim points at holds signal id {}",
                stored.entry.signal_id
            ),
        ),
    ]
}

/// The entry's `previous_hash` against the hash of the entry before it (64 zeros for entry 0).
async fn previous_link_check<S: LedgerStore>(
    store: &S,
    stored: &StoredEntry,
) -> Result<Check, TraceError> {
    let previous = stored.entry.previous_hash;
    let Some(before) = stored.entry.chain_index.checked_sub(1) else {
        return Ok(Check::new(
            "previous_link",
            previous == Hash::ZERO,
            format!("entry 0: previous_hash {previous} vs 64 zeros"),
        ));
    };
    Ok(match neighbour(store, before).await? {
        Ok(Some(prior)) => Check::new(
            "previous_link",
            prior.entry_hash == previous,
            format!(
                "previous_hash {previous} vs entry_hash of entry {before} {}",
                prior.entry_hash
            ),
        ),
        Ok(None) => Check::new(
            "previous_link",
            false,
            format!("entry {before} (the previous entry) does not exist"),
        ),
        Err(malformed) => Check::new(
            "previous_link",
            false,
            format!("the previous entry {malformed}"),
        ),
    })
}

/// The next entry's `previous_hash` against this entry's hash; without a next entry, this
/// must be the head.
async fn next_link_check<S: LedgerStore>(
    store: &S,
    stored: &StoredEntry,
) -> Result<Check, TraceError> {
    let (index, this) = (stored.entry.chain_index, stored.entry_hash);
    let next = index + 1;
    Ok(match neighbour(store, next).await? {
        Ok(Some(following)) => Check::new(
            "next_link",
            following.entry.previous_hash == this,
            format!(
                "previous_hash of entry {next} {} vs this entry_hash {this}",
                following.entry.previous_hash
            ),
        ),
        Ok(None) => {
            let head = store
                .head()
                .await
                .map_err(store_error("head of the ledger"))?;
            match head {
                Some(head) if head.chain_index > index => Check::new(
                    "next_link",
                    false,
                    format!(
                        "entry {next} does not exist, yet the ledger's head is at {}",
                        head.chain_index
                    ),
                ),
                _ => Check::new(
                    "next_link",
                    true,
                    format!("this is the head: no entry {next} yet"),
                ),
            }
        }
        Err(malformed) => Check::new("next_link", false, format!("the next entry {malformed}")),
    })
}

/// The entry at `index` (`None` when there is none), or `Err("<key> is malformed: <reason>")`.
async fn neighbour<S: LedgerStore>(
    store: &S,
    index: u64,
) -> Result<Result<Option<StoredEntry>, String>, TraceError> {
    match store.entry_at(index).await {
        Ok(found) => Ok(Ok(found)),
        Err(StoreError::Malformed { key, reason }) => {
            Ok(Err(format!("{key} is malformed: {reason}")))
        }
        Err(source) => Err(store_error(format!("entry {index}"))(source)),
    }
}

/// The claim of the signal id must point at this entry's index and hash.
async fn claim_check<S: LedgerStore>(
    store: &S,
    id: &SignalId,
    stored: &StoredEntry,
) -> Result<Check, TraceError> {
    let (index, this) = (stored.entry.chain_index, stored.entry_hash);
    Ok(match store.claims(std::slice::from_ref(id)).await {
        Ok(claims) => match claims.into_iter().find(|(claimed, _)| claimed == id) {
            Some((_, claim)) => Check::new(
                "claim",
                claim.chain_index == index && claim.entry_hash == this,
                format!(
                    "the claim of {id} points at index {} with hash {}; the entry is at {index} with hash {this}",
                    claim.chain_index, claim.entry_hash
                ),
            ),
            None => Check::new("claim", false, format!("no claim of {id} was found")),
        },
        Err(StoreError::Malformed { key, reason }) => Check::new(
            "claim",
            false,
            format!("the claim {key} is malformed: {reason}"),
        ),
        Err(source) => return Err(store_error(format!("claim of signal {id}"))(source)),
    })
}

/// The days searched: the day of `received_at`, then up to `audit_days` more, never after today.
pub fn audit_days(received_at: &Timestamp, audit_days: u32, now: &Timestamp) -> Vec<String> {
    let today = now.as_datetime().date();
    let mut day = received_at.as_datetime().date();
    let mut days = vec![day];
    for _ in 0..audit_days {
        match day.next_day() {
            Some(next) if next <= today => {
                day = next;
                days.push(day);
            }
            _ => break,
        }
    }
    days.iter()
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .collect()
}

async fn audit_trail<A: AuditLog>(
    reader: &A,
    stored: &StoredEntry,
    options: &TraceOptions,
) -> Result<AuditEvidence, TraceError> {
    let entry = &stored.entry;
    let id = entry.signal_id.as_str();
    let days = audit_days(&entry.received_at, options.audit_days, &options.now);
    let mut inserted = Vec::new();
    let mut related = Vec::new();
    for day in &days {
        // Only the events naming this signal are kept: a day's partition can be large.
        reader
            .visit_day(day, |event| {
                let names_id = event.signal_id.as_deref() == Some(id);
                let names_index = event.chain_index == Some(entry.chain_index)
                    && matches!(
                        event.event_type,
                        AuditEventType::TamperDetected | AuditEventType::IntegrityCheckFailed
                    );
                if names_id && event.event_type == AuditEventType::SignalInserted {
                    inserted.push(event);
                } else if names_id || names_index {
                    related.push(event);
                }
            })
            .await
            .map_err(store_error(format!("audit events of {day}")))?;
    }
    let searched = match (days.first(), days.last()) {
        (Some(first), Some(last)) if first != last => format!("{first} to {last}"),
        (Some(first), _) => first.clone(),
        _ => String::new(),
    };
    let mut checks = vec![Check::new(
        "insert_event",
        inserted.len() == 1,
        match inserted.len() {
            0 => format!("no SIGNAL_INSERTED event names {id} on {searched}"),
            1 => format!("one SIGNAL_INSERTED event names {id}"),
            n => format!("{n} SIGNAL_INSERTED events name {id}; an append writes exactly one"),
        },
    )];
    if let [event] = inserted.as_slice() {
        let recorded_hash = event
            .details
            .get("entry_hash")
            .and_then(|v| v.as_str())
            .unwrap_or("-");
        checks.push(Check::new(
            "insert_event_matches",
            event.chain_index == Some(entry.chain_index)
                && recorded_hash == stored.entry_hash.to_hex(),
            format!(
                "the event records chain index {} and entry_hash {recorded_hash}; the entry is at {} with {}",
                event
                    .chain_index
                    .map_or_else(|| "-".to_owned(), |i| i.to_string()),
                entry.chain_index,
                stored.entry_hash
            ),
        ));
    }
    Ok(AuditEvidence {
        days_searched: days,
        days_requested: u64::from(options.audit_days) + 1,
        inserted,
        related,
        checks,
    })
}

fn latency(stored: &StoredEntry) -> LatencyEvidence {
    let entry = &stored.entry;
    let recomputed = entry.received_at.millis_since(&entry.content.generated_at);
    LatencyEvidence {
        generated_at: entry.content.generated_at,
        received_at: entry.received_at,
        delivery_latency_ms: entry.delivery_latency_ms,
        requirement_ms: LATENCY_REQUIREMENT_MS,
        within_requirement: entry.delivery_latency_ms <= LATENCY_REQUIREMENT_MS,
        checks: vec![Check::new(
            "latency_consistent",
            recomputed == entry.delivery_latency_ms,
            format!(
                "received_at − generated_at = {recomputed} ms vs stored delivery_latency_ms {}",
                entry.delivery_latency_ms
            ),
        )],
    }
}

fn covers(range: &IndexRange) -> String {
    match range.to {
        0 => "no entries".to_owned(),
        to => format!("indexes 0..={}", to - 1),
    }
}

/// The manifest whose range covers the entry, with its original version.
struct CoveringManifest {
    original: Original,
    manifest: Manifest,
}

/// The CSV a covering manifest names, read back, with its checksum check.
struct CsvRead {
    key: String,
    version_id: String,
    bytes: Vec<u8>,
    checksum: Check,
}

/// What the vault shows of the locks of the CSV and the manifest, with the checks against the
/// manifest's and the entry's retention.
struct LockEvidence {
    csv_protection: ObjectLockSeen,
    manifest_protection: ObjectLockSeen,
    checks: Vec<Check>,
}

/// `Continue` with what a step found, or `Break` with where the backup trail ends.
type Next<T> = ControlFlow<Step<BackupEvidence>, T>;

async fn backup_step<V: BlobVault>(
    vault: &V,
    stored: &StoredEntry,
    progress: &dyn Fn(&str),
) -> Result<Step<BackupEvidence>, TraceError> {
    let index = stored.entry.chain_index;
    let covering = match covering_manifest(vault, index).await? {
        ControlFlow::Continue(covering) => covering,
        ControlFlow::Break(step) => return Ok(step),
    };
    let CoveringManifest { original, manifest } = &covering;
    let mut checks = vec![Check::new(
        "manifest_original",
        original.versions == 1,
        match original.versions {
            1 => format!("{} has one version", original.key()),
            n => format!(
                "{} has {n} versions: it was overwritten; the original was used",
                original.key()
            ),
        },
    )];
    let csv = match read_csv(vault, &covering, index, progress).await? {
        ControlFlow::Continue(csv) => csv,
        ControlFlow::Break(step) => return Ok(step),
    };
    let row_number = index - manifest.index_range.from + 1;
    checks.push(csv.checksum);
    checks.push(row_check(&csv.bytes, index, row_number, stored));
    let locks = lock_checks(vault, &covering, stored).await?;
    checks.extend(locks.checks);
    Ok(Step::judge(BackupEvidence {
        backup_id: manifest.backup_id,
        manifest_key: original.key().to_owned(),
        manifest_version_id: original.version_id().to_owned(),
        index_range: manifest.index_range,
        csv_key: csv.key,
        csv_version_id: csv.version_id,
        csv_row: row_number,
        csv_protection: locks.csv_protection,
        manifest_protection: locks.manifest_protection,
        checks,
    }))
}

/// Finds the manifest covering `index`: the latest first (is the entry backed up at all?), then
/// a binary search, as backups cover consecutive ranges in backup-id order (O(log n) reads).
async fn covering_manifest<V: BlobVault>(
    vault: &V,
    index: u64,
) -> Result<Next<CoveringManifest>, TraceError> {
    let mut manifests = vault::list_manifests(vault)
        .await
        .map_err(vault_error(format!("the listing of {MANIFEST_PREFIX}")))?
        .manifests;
    let read = async |original: &Original| -> Result<Next<Manifest>, TraceError> {
        Ok(
            match vault::read_manifest(vault, original)
                .await
                .map_err(vault_error(format!("manifest {}", original.key())))?
            {
                Ok(read) => ControlFlow::Continue(read.manifest),
                Err(invalid) => ControlFlow::Break(Step::broken(invalid.to_string())),
            },
        )
    };
    let Some((_, latest_version)) = manifests.last() else {
        return Ok(ControlFlow::Break(Step::stopped(format!(
            "not yet in any backup: the vault holds no backup manifest (entry {index})"
        ))));
    };
    let latest = match read(latest_version).await? {
        ControlFlow::Continue(manifest) => manifest,
        ControlFlow::Break(step) => return Ok(ControlFlow::Break(step)),
    };
    if latest.index_range.to <= index {
        return Ok(ControlFlow::Break(Step::stopped(format!(
            "not yet in any backup: the latest backup {} covers {}, and this entry is at index {index}",
            latest.backup_id,
            covers(&latest.index_range)
        ))));
    }
    let (mut low, mut high) = (0usize, manifests.len());
    loop {
        if low >= high {
            return Ok(ControlFlow::Break(Step::broken(format!(
                "no manifest covers index {index}, although the latest backup {} covers {}: the manifest chain has a gap",
                latest.backup_id,
                covers(&latest.index_range)
            ))));
        }
        let middle = low + (high - low) / 2;
        let manifest = match read(&manifests[middle].1).await? {
            ControlFlow::Continue(manifest) => manifest,
            ControlFlow::Break(step) => return Ok(ControlFlow::Break(step)),
        };
        if manifest.index_range.to <= index {
            low = middle + 1;
        } else if manifest.index_range.from > index {
            high = middle;
        } else {
            let (_, original) = manifests.swap_remove(middle);
            return Ok(ControlFlow::Continue(CoveringManifest {
                original,
                manifest,
            }));
        }
    }
}

/// Reads the CSV the covering manifest names and checks its size and SHA-256.
async fn read_csv<V: BlobVault>(
    vault: &V,
    covering: &CoveringManifest,
    index: u64,
    progress: &dyn Fn(&str),
) -> Result<Next<CsvRead>, TraceError> {
    let manifest_key = covering.original.key();
    let Some(csv) = &covering.manifest.csv else {
        return Ok(ControlFlow::Break(Step::broken(format!(
            "manifest {manifest_key} covers index {index} but names no CSV"
        ))));
    };
    progress(&format!(
        "reading {} version {} ({} bytes)",
        csv.key, csv.version_id, csv.bytes
    ));
    let bytes = match vault.get_version(&csv.key, &csv.version_id).await {
        Ok(bytes) => bytes,
        Err(VaultError::NotFound { .. }) => {
            return Ok(ControlFlow::Break(Step::broken(format!(
                "the CSV {} version {} named by {manifest_key} does not exist",
                csv.key, csv.version_id
            ))));
        }
        Err(source) => return Err(vault_error(format!("the CSV {}", csv.key))(source)),
    };
    let sha256 = Hash::sha256(&bytes);
    let checksum = Check::new(
        "csv_checksum",
        sha256 == csv.sha256 && bytes.len() as u64 == csv.bytes,
        format!(
            "the CSV has {} bytes with SHA-256 {sha256}; the manifest says {} bytes with {}",
            bytes.len(),
            csv.bytes,
            csv.sha256
        ),
    );
    Ok(ControlFlow::Continue(CsvRead {
        key: csv.key.clone(),
        version_id: csv.version_id.clone(),
        bytes,
        checksum,
    }))
}

/// The locks of the CSV and the manifest against the manifest's retention, the CSV's
/// retention against the entry's, and the CSV's encryption at rest.
async fn lock_checks<V: BlobVault>(
    vault: &V,
    covering: &CoveringManifest,
    stored: &StoredEntry,
) -> Result<LockEvidence, TraceError> {
    let CoveringManifest { original, manifest } = covering;
    let protection = vault::manifest_protection(vault, original, manifest)
        .await
        .map_err(vault_error(format!("the lock of {}", original.key())))?;
    let manifest_protection = vault::lock_seen(&protection.manifest);
    let csv_protection = protection
        .csv
        .as_ref()
        .map_or_else(ObjectLockSeen::default, vault::lock_seen);
    let mut checks = Vec::new();
    for (name, what, protection) in [
        ("csv_lock", "the CSV", &csv_protection),
        ("manifest_lock", "the manifest", &manifest_protection),
    ] {
        let locked = protection.lock_mode.as_deref() == Some("COMPLIANCE")
            && protection
                .retain_until
                .is_some_and(|until| until >= manifest.retain_until);
        checks.push(Check::new(
            name,
            locked,
            format!(
                "{what} is locked {} until {}; the manifest asks COMPLIANCE until {}",
                protection.lock_mode.as_deref().unwrap_or("not at all"),
                protection
                    .retain_until
                    .map_or_else(|| "-".to_owned(), |t| t.to_string()),
                manifest.retain_until
            ),
        ));
    }
    checks.push(Check::new(
        "retention",
        csv_protection
            .retain_until
            .is_some_and(|until| until >= stored.entry.retention_expires_at),
        format!(
            "the CSV is retained until {}; the entry must be kept until {}",
            csv_protection
                .retain_until
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
            stored.entry.retention_expires_at
        ),
    ));
    let encryption = csv_protection.server_side_encryption.as_deref();
    checks.push(Check::new(
        "csv_encryption",
        matches!(encryption, Some("AES256" | "aws:kms")),
        format!(
            "the CSV is encrypted at rest with {}",
            encryption.unwrap_or("nothing")
        ),
    ));
    Ok(LockEvidence {
        csv_protection,
        manifest_protection,
        checks,
    })
}

/// The CSV row of `index` must carry the entry's hash (and hash to it).
fn row_check(bytes: &[u8], index: u64, row_number: u64, stored: &StoredEntry) -> Check {
    let rows = match RowReader::new(bytes) {
        Ok(rows) => rows,
        Err(error) => {
            return Check::new("row_hash", false, format!("the CSV is unreadable: {error}"));
        }
    };
    for row in rows {
        match row {
            Ok(row) if row.entry.chain_index == index => {
                let recomputed = row.entry.compute_hash();
                return Check::new(
                    "row_hash",
                    row.entry_hash == stored.entry_hash && recomputed == row.entry_hash,
                    format!(
                        "row {row_number}: entry_hash {} (recomputed {recomputed}) vs the live entry's {}",
                        row.entry_hash, stored.entry_hash
                    ),
                );
            }
            Ok(_) => {}
            Err(error) => {
                return Check::new(
                    "row_hash",
                    false,
                    format!("the CSV is unreadable before index {index}: {error}"),
                );
            }
        }
    }
    Check::new(
        "row_hash",
        false,
        format!("the CSV has no row for chain index {index}"),
    )
}

async fn checkpoint_step<S, V, A, K>(
    sources: &Sources<'_, S, V, A, K>,
    stored: &StoredEntry,
    options: &TraceOptions,
    progress: &dyn Fn(&str),
) -> Result<Step<CheckpointEvidence>, TraceError>
where
    S: LedgerStore,
    V: BlobVault,
    K: PublicKeys,
{
    let index = stored.entry.chain_index;
    let trust = options.trust.resolve(sources.keys).await?;
    let latest = vault::latest_checkpoint(sources.vault, &trust)
        .await
        .map_err(vault_error("the latest checkpoint"))?;
    let Some(latest) = latest else {
        return Ok(Step::stopped(format!(
            "no checkpoint covers index {index} yet: the vault holds no checkpoint"
        )));
    };
    let version = &latest.original.version;
    let (signed, signature) = match latest.content {
        Ok(content) => content,
        Err(reason) => {
            return Ok(Step::broken(format!(
                "checkpoint {} version {} is invalid: {reason}",
                version.key, version.version_id
            )));
        }
    };
    let checkpoint = &signed.checkpoint;
    let size = checkpoint.tree_size;
    if size <= index {
        return Ok(Step::stopped(format!(
            "no checkpoint covers index {index} yet: the latest checkpoint {} has size {size}",
            version.key
        )));
    }
    let mut checks = trust_checks(&latest.original, &signature, &latest.passed_over);
    let key_id = signature.key_id().map(str::to_owned);
    let signature_verified = signature.verified();

    progress(&format!(
        "reading entries 0..{size} of the live ledger for the inclusion proof"
    ));
    let leaves = live_leaves(sources.store, size, index, progress).await?;
    let inclusion_proof = inclusion_checks(stored, checkpoint, leaves, &mut checks);
    Ok(Step::judge(CheckpointEvidence {
        key: version.key.clone(),
        version_id: version.version_id.clone(),
        tree_size: size,
        root: checkpoint.root,
        time: checkpoint.time,
        signed: matches!(signed.signature, Signature::Kms { .. }),
        key_id,
        signature_verified,
        inclusion_proof,
        checks,
    }))
}

/// Whether the checkpoint counts: its original version, its signature, and the newer notes
/// passed over.
fn trust_checks(
    original: &Original,
    signature: &SignatureCheck,
    passed_over: &[PassedOver],
) -> Vec<Check> {
    let mut checks = vec![Check::new(
        "checkpoint_original",
        original.versions == 1,
        match original.versions {
            1 => format!("{} has one version", original.key()),
            n => format!(
                "{} has {n} versions: it was overwritten; the original was used",
                original.key()
            ),
        },
    )];
    match signature {
        SignatureCheck::Verified { key_id } => checks.push(Check::new(
            "signature",
            true,
            format!("the signature verifies with the public key of {key_id}"),
        )),
        SignatureCheck::Unsigned => {}
        untrusted => checks.push(Check::new(
            "signature",
            false,
            format!(
                "no checkpoint counts: {}",
                untrusted.refusal().unwrap_or_default()
            ),
        )),
    }
    for passed in passed_over {
        checks.push(Check::new(
            "newer_notes",
            false,
            format!(
                "a newer note {} does not count: {}",
                passed.original.key(),
                passed.reason
            ),
        ));
    }
    checks
}

/// The leaf hashes of entries `0..size` of the live ledger (the traced entry's recomputed, the
/// others as stored), or why the tree cannot be rebuilt (a missing or malformed entry).
async fn live_leaves<S: LedgerStore>(
    store: &S,
    size: u64,
    index: u64,
    progress: &dyn Fn(&str),
) -> Result<Result<Vec<Hash>, String>, TraceError> {
    let mut leaves: Vec<Hash> = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut unreadable: Option<String> = None;
    let mut next = Some(0u64);
    'pages: while let Some(from) = next {
        let page = store
            .read_page(from, PAGE_SIZE)
            .await
            .map_err(store_error(format!("entries from {from}")))?;
        next = page.next;
        for item in page.items {
            let position = leaves.len() as u64;
            if position >= size {
                break 'pages;
            }
            match item {
                Ok(entry) if entry.entry.chain_index == position => {
                    // The traced entry's leaf is its recomputed hash; the others as stored.
                    leaves.push(match position == index {
                        true => entry.entry.compute_hash(),
                        false => entry.entry_hash,
                    });
                }
                Ok(entry) => {
                    unreadable = Some(format!(
                        "entry {position} is missing (the next stored entry is {})",
                        entry.entry.chain_index
                    ));
                    break 'pages;
                }
                Err(StoreError::Malformed { key, reason }) => {
                    unreadable = Some(format!("entry {key} is malformed: {reason}"));
                    break 'pages;
                }
                Err(source) => return Err(store_error("entries")(source)),
            }
        }
        if leaves.len() % 10_000 < PAGE_SIZE as usize && leaves.len() >= 10_000 {
            progress(&format!("read {} of {size} entries", leaves.len()));
        }
    }
    if unreadable.is_none() && (leaves.len() as u64) < size {
        unreadable = Some(format!(
            "the live ledger holds {} entries, fewer than the checkpoint's {size}",
            leaves.len()
        ));
    }
    Ok(match unreadable {
        Some(reason) => Err(reason),
        None => Ok(leaves),
    })
}

/// The head and inclusion checks of the entry against the checkpoint, over the rebuilt tree.
/// Returns the inclusion proof (empty when there is none).
fn inclusion_checks(
    stored: &StoredEntry,
    checkpoint: &Checkpoint,
    leaves: Result<Vec<Hash>, String>,
    checks: &mut Vec<Check>,
) -> Vec<Hash> {
    let (index, size) = (stored.entry.chain_index, checkpoint.tree_size);
    let mut inclusion_proof = Vec::new();
    match leaves {
        Err(reason) => checks.push(Check::new(
            "inclusion",
            false,
            format!("cannot rebuild the tree of size {size}: {reason}"),
        )),
        Ok(leaves) => {
            let leaf = stored.entry.compute_hash();
            let head = leaves[leaves.len() - 1];
            checks.push(Check::new(
                "head",
                head == checkpoint.head_hash,
                format!(
                    "entry {} of the live ledger has hash {head}; the checkpoint's head is {}",
                    size - 1,
                    checkpoint.head_hash
                ),
            ));
            match merkle::inclusion_proof(&leaves, index) {
                Ok(proof) => {
                    let verified =
                        merkle::verify_inclusion(&leaf, index, size, &proof, &checkpoint.root);
                    checks.push(Check::new(
                        "inclusion",
                        verified.is_ok(),
                        match &verified {
                            Ok(()) => format!(
                                "the entry's leaf {leaf} at index {index} and a proof of {} hashes lead to the checkpoint's root {}",
                                proof.len(),
                                checkpoint.root
                            ),
                            Err(error) => format!(
                                "{error}: this entry or another of entries 0..{size} changed since the checkpoint (`integrity-sweep` in full mode names which)"
                            ),
                        },
                    ));
                    inclusion_proof = proof;
                }
                Err(error) => checks.push(Check::new("inclusion", false, error.to_string())),
            }
        }
    }
    inclusion_proof
}

#[path = "trace_receipts.rs"]
mod trace_receipts;
pub use trace_receipts::ReceiptsEvidence;

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
