//! The regulator's production (`ledgerctl produce`; the report function's `{"produce": …}`):
//! one period's entries as CSV and as JSON Lines, its audit events with the access review, an
//! inclusion proof of every entry against one signed checkpoint, that checkpoint and the trusted
//! public keys, a `README.txt` and a standard-library `verify.py`, in one zip
//! (`docs/ledger-format.md` section 14).
//!
//! Promises:
//! - bounded memory whatever the period's size: entries are read a page at a time and written
//!   straight into the zip, one file after the other (the period is read once per file); the
//!   proofs come from [`RangeProver`], which holds one path and a few leaf-hash files;
//! - one checkpoint: the latest trusted one when planned, which must cover the period's last
//!   entry — otherwise the production is refused, naming the next sweep;
//! - only what verifies is written: each entry's hash is recomputed, each link checked and each
//!   proof verified against the checkpoint's root while the zip is written;
//! - nothing is disclosed unaudited: the plan names what will be disclosed and the callers
//!   record [`disclosure_event`] before the first byte leaves (no audit, no production).

use std::io::{Read, Seek, Write};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::app::ingest::next_sweep;
use crate::app::proofs::{ProofsError, RangeProver, VaultProofs};
use crate::app::vault::{CheckpointTrust, TrustedKey};
use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::backup as csv;
use crate::domain::checkpoint::SignedCheckpoint;
use crate::domain::hash::Hash;
use crate::domain::report::{AuditAccumulator, Period, PeriodError, PeriodRequest};
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AuditLog, AuditSink, BlobVault, LedgerStore, MIN_PART_BYTES, Presigner, PublicKeys, StoreError,
    UploadedPart, VaultError,
};

/// Where productions are stored in the vault (the report role may write only there and under
/// `reports/`).
pub const PRODUCTION_PREFIX: &str = "productions/";

/// The `format` of a production's `manifest.json`.
pub const FORMAT: &str = "signal-ledger-production/1";

/// Entries read per page.
const PAGE_SIZE: u32 = 500;

/// The files of a production, in the order they are written (`manifest.json` last).
pub mod files {
    pub const README: &str = "README.txt";
    pub const VERIFY: &str = "verify.py";
    pub const P256: &str = "p256.py";
    pub const CHECKPOINT_NOTE: &str = "checkpoint_note.py";
    pub const CHECKPOINT: &str = "checkpoint.txt";
    pub const ENTRIES_CSV: &str = "entries.csv";
    pub const ENTRIES_JSONL: &str = "entries.jsonl";
    pub const PROOFS: &str = "proofs.jsonl";
    pub const AUDIT_EVENTS: &str = "audit_events.jsonl";
    pub const ACCESS_REVIEW: &str = "access_review.json";
    pub const MANIFEST: &str = "manifest.json";
}

const README_TEXT: &str = include_str!("../../../docs/production/README.txt");
const VERIFY_PY: &str = include_str!("../../../docs/production/verify.py");
const P256_PY: &str = include_str!("../../../docs/vectors/p256.py");
const CHECKPOINT_NOTE_PY: &str = include_str!("../../../docs/vectors/checkpoint_note.py");

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("invalid production period: {0}")]
    Period(#[from] PeriodError),
    #[error(
        "no checkpoint signing key is configured: a production needs a signed checkpoint (set CHECKPOINT_KMS_KEY_ID)"
    )]
    NoSigningKey,
    #[error(
        "no trusted checkpoint exists yet; the next integrity sweep starts at {next_sweep} and will write one"
    )]
    NoCheckpoint { next_sweep: Timestamp },
    #[error(
        "the period's last entry (chain index {last_index}) is not yet covered by a checkpoint (the latest trusted one has tree size {tree_size}); the next integrity sweep starts at {next_sweep} and will cover it"
    )]
    NotCovered {
        last_index: u64,
        tree_size: u64,
        next_sweep: Timestamp,
    },
    #[error("the ledger disagrees with itself at chain index {chain_index}: {reason}")]
    Inconsistent { chain_index: u64, reason: String },
    #[error("the ledger or audit store failed")]
    Store(#[from] StoreError),
    #[error("the proofs could not be made")]
    Proofs(#[from] ProofsError),
    #[error("the vault failed")]
    Vault(#[from] VaultError),
    #[error("the production could not be audited (RECORDS_READ), so nothing was disclosed")]
    Audit(#[source] StoreError),
    #[error("the zip could not be written")]
    Zip(#[from] zip::result::ZipError),
    #[error("the zip could not be written")]
    Io(#[from] std::io::Error),
}

/// What a production will disclose, fixed before anything is written.
#[derive(Debug, Clone)]
pub struct Plan {
    pub period: Period,
    /// The first chain index of the period (`end` when it holds no entry).
    pub first_index: u64,
    /// One past the period's last chain index.
    pub end_index: u64,
    /// The checkpoint every proof verifies against.
    pub checkpoint: SignedCheckpoint,
    /// The trusted public keys (current first), each DER SubjectPublicKeyInfo.
    pub keys: Vec<TrustedKey>,
}

impl Plan {
    pub fn entries(&self) -> u64 {
        self.end_index - self.first_index
    }
}

/// One file of the zip, as `manifest.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleFile {
    pub name: String,
    pub sha256: Hash,
    pub bytes: u64,
    /// Data rows (lines of a `.jsonl`, CSV rows after the header); absent for other files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bundle {
    pub entries: u64,
    pub audit_events: u64,
    pub files: Vec<BundleFile>,
    /// `GetObject` calls the proofs made (notes and leaf-hash files).
    pub proof_reads: u32,
}

/// Who asks, and when: written into the manifest and the audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub actor: String,
    pub request_id: String,
}

/// The `RECORDS_READ` event of a production, recorded before it is disclosed: the period, the
/// chain indexes, the checkpoint, and where the zip goes (`disclosed_as`).
pub fn disclosure_event(
    plan: &Plan,
    requester: &Requester,
    disclosed_as: serde_json::Value,
    now: Timestamp,
) -> AuditEvent {
    AuditEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: now,
        event_type: AuditEventType::RecordsRead,
        actor: requester.actor.clone(),
        request_id: requester.request_id.clone(),
        signal_id: None,
        chain_index: None,
        reason: Some(format!(
            "regulator production of {}: {} entries (chain index {}..{}) with their audit events and proofs against the checkpoint of tree size {}",
            plan.period.label(),
            plan.entries(),
            plan.first_index,
            plan.end_index,
            plan.checkpoint.checkpoint.tree_size
        )),
        excerpt: None,
        details: json!({
            "read": "production",
            "period": plan.period,
            "first_index": plan.first_index,
            "end_index": plan.end_index,
            "entries": plan.entries(),
            "checkpoint_tree_size": plan.checkpoint.checkpoint.tree_size,
            "disclosed_as": disclosed_as,
        }),
    }
}

/// Builds productions over the ports.
#[derive(Debug)]
pub struct Producer<S, V, L, K> {
    store: S,
    audit: L,
    proofs: VaultProofs<V, K>,
}

impl<S, V, L, K> Producer<S, V, L, K>
where
    S: LedgerStore,
    V: BlobVault,
    L: AuditLog,
    K: PublicKeys,
{
    pub fn new(store: S, vault: V, audit: L, keys: Option<K>, trust: CheckpointTrust) -> Self {
        Producer {
            store,
            audit,
            proofs: VaultProofs::new(vault, keys, trust),
        }
    }

    /// Fixes what the production of `period` holds: its chain indexes (the first entry received
    /// at or after `from` up to the first received at or after `to`), the latest trusted
    /// checkpoint (which must cover the last one) and the trusted keys.
    pub async fn plan(&self, period: Period, now: Timestamp) -> Result<Plan, ProduceError> {
        let keys = self.proofs.trusted_keys().await?.keys().to_vec();
        if keys.is_empty() {
            return Err(ProduceError::NoSigningKey);
        }
        let head = self.store.head().await?;
        let tree_size = head.map_or(0, |h| h.chain_index + 1);
        let first_index = self.first_at_or_after(&period.from(), tree_size).await?;
        let end_index = self.first_at_or_after(&period.to(), tree_size).await?;
        let checkpoint = match self.proofs.range_prover(None).await {
            Ok(prover) => prover.checkpoint().clone(),
            Err(ProofsError::NoCheckpoint) => {
                return Err(ProduceError::NoCheckpoint {
                    next_sweep: next_sweep(&now),
                });
            }
            Err(error) => return Err(error.into()),
        };
        if checkpoint.checkpoint.tree_size < end_index {
            return Err(ProduceError::NotCovered {
                last_index: end_index - 1,
                tree_size: checkpoint.checkpoint.tree_size,
                next_sweep: next_sweep(&now),
            });
        }
        Ok(Plan {
            period,
            first_index,
            end_index,
            checkpoint,
            keys,
        })
    }

    /// Binary search for the first entry received at or after `at` (entries are appended in
    /// `received_at` order, up to the seconds an append may retry).
    async fn first_at_or_after(&self, at: &Timestamp, tree_size: u64) -> Result<u64, ProduceError> {
        let (mut low, mut high) = (0, tree_size);
        while low < high {
            let middle = low + (high - low) / 2;
            match self.store.entry_at(middle).await? {
                Some(stored) if stored.entry.received_at < *at => low = middle + 1,
                Some(_) => high = middle,
                None => {
                    return Err(ProduceError::Inconsistent {
                        chain_index: middle,
                        reason: format!("no entry below the head (tree size {tree_size})"),
                    });
                }
            }
        }
        Ok(low)
    }

    /// Writes the zip of `plan` into `out` and returns it with what was written. The caller
    /// has recorded the disclosure first.
    pub async fn write<W: Write + Seek + Send>(
        &self,
        plan: &Plan,
        requester: &Requester,
        now: Timestamp,
        out: W,
    ) -> Result<(W, Bundle), ProduceError> {
        let mut zip = ZipBundle::new(out, now);
        for (name, text) in [
            (files::README, README_TEXT),
            (files::VERIFY, VERIFY_PY),
            (files::P256, P256_PY),
            (files::CHECKPOINT_NOTE, CHECKPOINT_NOTE_PY),
        ] {
            zip.start(name)?;
            zip.write(text.as_bytes())?;
            zip.finish_file();
        }
        zip.start(files::CHECKPOINT)?;
        zip.write(plan.checkpoint.to_text().as_bytes())?;
        zip.finish_file();
        for (position, key) in plan.keys.iter().enumerate() {
            zip.start(&format!("keys/key-{}.der", position + 1))?;
            zip.write(&key.public_key)?;
            zip.finish_file();
            zip.start(&format!("keys/key-{}.pem", position + 1))?;
            zip.write(pem(&key.public_key).as_bytes())?;
            zip.finish_file();
        }

        self.write_entries(plan, &mut zip, EntryFile::Csv).await?;
        self.write_entries(plan, &mut zip, EntryFile::Jsonl).await?;
        let proof_reads = self.write_proofs(plan, &mut zip).await?;
        let audit_events = self.write_audit(plan, &mut zip).await?;

        let manifest = json!({
            "format": FORMAT,
            "origin": plan.checkpoint.checkpoint.origin,
            "period": plan.period,
            "period_label": plan.period.label(),
            "produced_at": now,
            "produced_by": requester.actor,
            "request_id": requester.request_id,
            "entries": {"first_index": plan.first_index, "end_index": plan.end_index, "count": plan.entries()},
            "checkpoint": {
                "file": files::CHECKPOINT,
                "tree_size": plan.checkpoint.checkpoint.tree_size,
                "root": plan.checkpoint.checkpoint.root,
            },
            "keys": plan.keys.iter().enumerate().map(|(position, key)| json!({
                "key_id": key.key_id,
                "fingerprint_sha256": key.fingerprint,
                "der": format!("keys/key-{}.der", position + 1),
                "pem": format!("keys/key-{}.pem", position + 1),
            })).collect::<Vec<_>>(),
            "files": zip.files,
        });
        let files = zip.files.clone();
        zip.start(files::MANIFEST)?;
        zip.write(&serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?)?;
        zip.write(b"\n")?;
        zip.finish_file();
        let out = zip.zip.finish()?;
        Ok((
            out,
            Bundle {
                entries: plan.entries(),
                audit_events,
                files,
                proof_reads,
            },
        ))
    }

    /// One pass over the period's entries into one file, each entry checked (hash, index,
    /// link) on the way.
    async fn write_entries<W: Write + Seek>(
        &self,
        plan: &Plan,
        zip: &mut ZipBundle<W>,
        file: EntryFile,
    ) -> Result<(), ProduceError> {
        zip.start(file.name())?;
        let mut buffer = Vec::new();
        if file == EntryFile::Csv {
            csv::write_header(&mut buffer);
            zip.write(&buffer)?;
        }
        let mut previous: Option<Hash> = None;
        let mut next = (plan.first_index < plan.end_index).then_some(plan.first_index);
        let mut expected = plan.first_index;
        while let Some(from) = next {
            let page = self.store.read_page(from, PAGE_SIZE).await?;
            next = page.next;
            buffer.clear();
            for item in page.items {
                if expected >= plan.end_index {
                    next = None;
                    break;
                }
                let stored = item?;
                check_entry(&stored, expected, previous)?;
                previous = Some(stored.entry_hash);
                match file {
                    EntryFile::Csv => csv::write_row(&mut buffer, &stored),
                    EntryFile::Jsonl => {
                        serde_json::to_writer(&mut buffer, &stored)
                            .map_err(std::io::Error::other)?;
                        buffer.push(b'\n');
                    }
                }
                zip.row();
                expected += 1;
            }
            zip.write(&buffer)?;
        }
        if expected != plan.end_index {
            return Err(ProduceError::Inconsistent {
                chain_index: expected,
                reason: format!("the ledger ended before chain index {}", plan.end_index),
            });
        }
        zip.finish_file();
        Ok(())
    }

    /// `proofs.jsonl`: one inclusion proof per entry, verified against the plan's checkpoint.
    async fn write_proofs<W: Write + Seek>(
        &self,
        plan: &Plan,
        zip: &mut ZipBundle<W>,
    ) -> Result<u32, ProduceError> {
        zip.start(files::PROOFS)?;
        let mut prover: RangeProver<'_, V> = self
            .proofs
            .range_prover(Some(plan.checkpoint.checkpoint.tree_size))
            .await?;
        let mut next = (plan.first_index < plan.end_index).then_some(plan.first_index);
        let mut buffer = Vec::new();
        let mut index = plan.first_index;
        while let Some(from) = next {
            let page = self.store.read_page(from, PAGE_SIZE).await?;
            next = page.next;
            buffer.clear();
            for item in page.items {
                if index >= plan.end_index {
                    next = None;
                    break;
                }
                let stored = item?;
                let path = prover
                    .inclusion(stored.entry.chain_index, stored.entry_hash)
                    .await?;
                serde_json::to_writer(
                    &mut buffer,
                    &json!({
                        "chain_index": stored.entry.chain_index,
                        "entry_hash": stored.entry_hash,
                        "tree_size": plan.checkpoint.checkpoint.tree_size,
                        "inclusion_path": path,
                    }),
                )
                .map_err(std::io::Error::other)?;
                buffer.push(b'\n');
                zip.row();
                index += 1;
            }
            zip.write(&buffer)?;
        }
        zip.finish_file();
        Ok(prover.read().gets)
    }

    /// `audit_events.jsonl` (every event of the period, day by day in time order) and
    /// `access_review.json` (who did what, reads beside writes, as in the report).
    async fn write_audit<W: Write + Seek + Send>(
        &self,
        plan: &Plan,
        zip: &mut ZipBundle<W>,
    ) -> Result<u64, ProduceError> {
        zip.start(files::AUDIT_EVENTS)?;
        let mut accumulator = AuditAccumulator::new();
        let mut written = 0u64;
        let mut failed: Option<std::io::Error> = None;
        for day in plan.period.days() {
            let day = crate::domain::report::iso_date(day);
            self.audit
                .visit_day(&day, |event| {
                    if failed.is_some() || !plan.period.contains(&event.occurred_at) {
                        return;
                    }
                    accumulator.add(&event);
                    let mut line = match serde_json::to_vec(&event) {
                        Ok(line) => line,
                        Err(error) => {
                            failed = Some(std::io::Error::other(error));
                            return;
                        }
                    };
                    line.push(b'\n');
                    match zip.write(&line) {
                        Ok(()) => {
                            zip.row();
                            written += 1;
                        }
                        Err(error) => failed = Some(error),
                    }
                })
                .await?;
            if let Some(error) = failed.take() {
                return Err(error.into());
            }
        }
        zip.finish_file();
        zip.start(files::ACCESS_REVIEW)?;
        let review = json!({
            "period": plan.period,
            "events": accumulator.total(),
            "rows": accumulator.access_review(),
            "rows_not_listed": accumulator.access_not_listed(),
        });
        zip.write(&serde_json::to_vec_pretty(&review).map_err(std::io::Error::other)?)?;
        zip.write(b"\n")?;
        zip.finish_file();
        Ok(written)
    }
}

/// The checks a stored entry passes before it is written: its hash recomputed, its index the
/// expected one, its link to the previous entry of the period.
fn check_entry(
    stored: &crate::domain::entry::StoredEntry,
    expected: u64,
    previous: Option<Hash>,
) -> Result<(), ProduceError> {
    let inconsistent = |reason: String| ProduceError::Inconsistent {
        chain_index: expected,
        reason,
    };
    if stored.entry.chain_index != expected {
        return Err(inconsistent(format!(
            "the store returned chain index {}",
            stored.entry.chain_index
        )));
    }
    if stored.entry.compute_hash() != stored.entry_hash {
        return Err(inconsistent(
            "the stored entry_hash is not the hash of the entry's fields".into(),
        ));
    }
    if let Some(previous) = previous
        && stored.entry.previous_hash != previous
    {
        return Err(inconsistent(
            "previous_hash is not the previous entry's hash".into(),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryFile {
    Csv,
    Jsonl,
}

impl EntryFile {
    fn name(self) -> &'static str {
        match self {
            EntryFile::Csv => files::ENTRIES_CSV,
            EntryFile::Jsonl => files::ENTRIES_JSONL,
        }
    }
}

/// A zip being written, one file at a time, each file's SHA-256, size and rows counted.
struct ZipBundle<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
    options: SimpleFileOptions,
    current: Option<(String, Sha256, u64, u64)>,
    files: Vec<BundleFile>,
}

impl<W: Write + Seek> ZipBundle<W> {
    fn new(out: W, now: Timestamp) -> Self {
        let at = now.as_datetime();
        let modified = zip::DateTime::from_date_and_time(
            u16::try_from(at.year()).unwrap_or(1980),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
        )
        .unwrap_or_default();
        ZipBundle {
            zip: zip::ZipWriter::new(out),
            options: SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .last_modified_time(modified)
                .large_file(true)
                .unix_permissions(0o644),
            current: None,
            files: Vec::new(),
        }
    }

    fn start(&mut self, name: &str) -> Result<(), ProduceError> {
        self.zip.start_file(name, self.options)?;
        self.current = Some((name.to_owned(), Sha256::new(), 0, 0));
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), std::io::Error> {
        if let Some((_, hasher, size, _)) = &mut self.current {
            hasher.update(bytes);
            *size += bytes.len() as u64;
        }
        self.zip.write_all(bytes)
    }

    fn row(&mut self) {
        if let Some((_, _, _, rows)) = &mut self.current {
            *rows += 1;
        }
    }

    fn finish_file(&mut self) {
        if let Some((name, hasher, bytes, rows)) = self.current.take() {
            let counted = name.ends_with(".jsonl") || name.ends_with(".csv");
            self.files.push(BundleFile {
                name,
                sha256: Hash(hasher.finalize().into()),
                bytes,
                rows: counted.then_some(rows),
            });
        }
    }
}

/// PEM of a DER SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`, 64 characters a line).
pub fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// The report function's `{"produce": {…}}` payload: the period, in any form the report takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    pub produce: PeriodRequest,
}

/// A production stored in the vault, with its presigned link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredProduction {
    pub period: Period,
    pub key: String,
    pub version_id: String,
    pub sha256: Hash,
    pub bytes: u64,
    pub retain_until: Timestamp,
    pub entries: u64,
    pub audit_events: u64,
    pub checkpoint_tree_size: u64,
    pub download_url: String,
    pub expires_in_seconds: u64,
}

/// What storing a production needs besides the producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub retention_days: u32,
    pub url_expiry: Duration,
    /// Where the zip is spooled before upload (a Lambda's `/tmp`).
    pub spool_dir: std::path::PathBuf,
}

/// The report function's production: plan, write the zip to a spool file, store it
/// COMPLIANCE-locked under `productions/`, record the disclosure (`RECORDS_READ`), and only then
/// presign the link.
#[allow(clippy::too_many_arguments)]
pub async fn produce_to_vault<S, V, L, K>(
    producer: &Producer<S, V, L, K>,
    vault: &V,
    audit: &impl AuditSink,
    request: &PeriodRequest,
    requester: &Requester,
    now: Timestamp,
    settings: &StoreSettings,
) -> Result<StoredProduction, ProduceError>
where
    S: LedgerStore,
    V: BlobVault + Presigner,
    L: AuditLog,
    K: PublicKeys,
{
    let period = request.resolve(now)?;
    let plan = producer.plan(period, now).await?;
    // Create-only: the time and a fresh id keep two productions of one period apart.
    let key = format!(
        "{PRODUCTION_PREFIX}{}/production-{}-{}-{}.zip",
        period.from().as_str()[..7].replace('-', "/"),
        period.label(),
        now.as_str()
            .chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect::<String>(),
        uuid::Uuid::now_v7().simple()
    );
    let retain_until = now
        .plus_days(settings.retention_days)
        .map_err(|e| ProduceError::Io(std::io::Error::other(e.to_string())))?;
    let spool_path = settings
        .spool_dir
        .join(format!("production-{}.zip", uuid::Uuid::now_v7()));
    let spool = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&spool_path)?;
    let result = async {
        let (mut spool, bundle) = Box::pin(producer.write(&plan, requester, now, spool)).await?;
        spool.rewind()?;
        let (stored, bytes) = upload(vault, &key, spool, retain_until).await?;
        Ok::<_, ProduceError>((stored, bytes, bundle))
    }
    .await;
    let _ = std::fs::remove_file(&spool_path);
    let (stored, bytes, bundle) = result?;
    let event = disclosure_event(
        &plan,
        requester,
        json!({
            "presigned_url": {"key": stored.key, "version_id": stored.version_id, "expires_in_seconds": settings.url_expiry.as_secs()},
            "sha256": stored.sha256,
            "bytes": bytes,
        }),
        now,
    );
    audit.record(&event).await.map_err(ProduceError::Audit)?;
    let download_url = vault
        .presign_get(&stored.key, &stored.version_id, settings.url_expiry)
        .await?;
    Ok(StoredProduction {
        period,
        key: stored.key,
        version_id: stored.version_id,
        sha256: stored.sha256,
        bytes,
        retain_until,
        entries: bundle.entries,
        audit_events: bundle.audit_events,
        checkpoint_tree_size: plan.checkpoint.checkpoint.tree_size,
        download_url,
        expires_in_seconds: settings.url_expiry.as_secs(),
    })
}

/// Uploads a spooled zip, locked and create-only: one put when small, otherwise a multipart
/// upload of [`MIN_PART_BYTES`] parts read one at a time.
async fn upload<V: BlobVault>(
    vault: &V,
    key: &str,
    mut spool: std::fs::File,
    retain_until: Timestamp,
) -> Result<(crate::ports::StoredObject, u64), ProduceError> {
    const CONTENT_TYPE: &str = "application/zip";
    let mut hasher = Sha256::new();
    let mut part = read_part(&mut spool)?;
    hasher.update(&part);
    if part.len() < MIN_PART_BYTES {
        let bytes = part.len() as u64;
        let stored = vault
            .create_locked(key, part, CONTENT_TYPE, retain_until)
            .await?;
        return Ok((stored, bytes));
    }
    let upload = vault.start_upload(key, CONTENT_TYPE, retain_until).await?;
    let result = async {
        let mut parts: Vec<UploadedPart> = Vec::new();
        let mut bytes = 0u64;
        while !part.is_empty() {
            bytes += part.len() as u64;
            let number = u32::try_from(parts.len() + 1).unwrap_or(u32::MAX);
            parts.push(vault.upload_part(&upload, number, part).await?);
            part = read_part(&mut spool)?;
            hasher.update(&part);
        }
        let sha256 = Hash(hasher.finalize().into());
        let stored = vault
            .complete_upload(&upload, &parts, sha256, retain_until)
            .await?;
        Ok::<_, ProduceError>((stored, bytes))
    }
    .await;
    if result.is_err() {
        let _ = vault.abort_upload(&upload).await;
    }
    result
}

fn read_part(file: &mut std::fs::File) -> Result<Vec<u8>, std::io::Error> {
    let mut part = Vec::with_capacity(MIN_PART_BYTES);
    Read::by_ref(file)
        .take(MIN_PART_BYTES as u64)
        .read_to_end(&mut part)?;
    Ok(part)
}

#[cfg(test)]
#[path = "produce_tests.rs"]
mod tests;
