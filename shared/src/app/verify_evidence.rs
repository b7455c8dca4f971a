//! Offline verification of a vault's evidence (`ledgerctl verify-evidence`): the manifest chain,
//! every backup CSV, every checkpoint with its leaf-hash file, and the agreement of backups and
//! checkpoints — read through the [`BlobVault`] port only (an exported folder, in the CLI), with
//! a trusted set of public keys handed over out of band. No live table, no KMS.
//!
//! Promises:
//! - Memory does not grow with the ledger: every backup CSV and leaf-hash file is streamed
//!   ([`ReadVersions`]) a chunk at a time, holding one row or leaf and O(log n) of tree. For the
//!   agreement of backups and checkpoints the trusted notes are judged first and their leaf-hash
//!   files are read beside the CSVs, so each row meets its leaf as it is read and every file is
//!   read once; only if the rows' chain indexes go back or repeat (a damaged folder) are the
//!   rows read again beside each leaf-hash file, a window of chain indexes at a time, rather
//!   than kept. (Receipts CSVs,
//!   manifests, notes and seals are read whole.)
//! - Each file is hashed once: the SHA-256 of every large object read is in
//!   [`EvidenceReport::read_digests`] for a caller that checks its own record of it.
//! - Every problem is an [`EvidenceFinding`] naming the file and, where there is one, the row,
//!   line or chain index; verification continues after each one.
//! - Only the given keys decide which checkpoints count ([`TrustedKeys`], the same judgement the
//!   sweep and the report use); the origin is the one given, or else the origin of the first
//!   note that verifies under a given key.
//! - Consecutive trusted checkpoints are checked by refolding: the previous checkpoint's compact
//!   range extended with the next one's leaf-hash file must give the next one's compact range
//!   and root. This proves each root and that each tree extends the one before (consistency).
//! - Backups and checkpoints agree: at every chain index both cover, the checkpointed leaf
//!   equals the backed-up row's entry hash (so each one's coverage is checked against the other);
//!   where several rows carry the index, the last one read (§12.2).
//! - Where the vault records a retention, a manifest and its CSV are locked at least until the
//!   manifest's `retain_until`.
//! - Each format-2 manifest's receipts CSV (§8.6) is checked like verify-backup checks it, but
//!   for the live receipts: bytes, row count, every row's §10 hash, latency, window and order.
//! - Audit seals (§11) are checked as far as the vault alone allows: each note's signature and
//!   origin (the checkpoints' trust), the chain of sequence numbers, links and windows, the key,
//!   and the events file against the note (digest, lines, count, root). Comparing the sealed
//!   events with the audit table needs the table: the `full` sweep does that.
//! - Every report file under `reports/` has the SHA-256 and size its report record (§12.1)
//!   holds: the hash the report job recorded, locked, when it wrote the report.
//! - An object the evidence should hold but does not (a CSV a manifest names, a leaf-hash file a
//!   note names) is listed in [`EvidenceReport::absent`], not judged: the caller knows whether
//!   the evidence was meant to hold it (a period export leaves other days' CSVs out).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::app::vault::{self, Original, TrustedKeys};
use crate::domain::audit_seal::{
    SEAL_PREFIX, Seal, SealError, SignedSeal, events_key, is_seal_object_key, seal_key,
};
use crate::domain::backup::{
    CsvObject, Manifest, RowReader, check_receipt_rows, read_receipt_rows, verify_manifest_chain,
};
use crate::domain::chain::ChainVerifier;
use crate::domain::checkpoint::{LeavesStream, SignedCheckpoint, is_object_key, leaves_key};
use crate::domain::hash::Hash;
use crate::domain::merkle::CompactRange;
use crate::domain::report::record::{ReportCheck, ReportRecord, check_report_file, is_record_key};
use crate::ports::{BlobVault, PublicKeys, ReadVersions, SignError, VaultError};
use std::io::Read;

/// One problem found in the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceFinding {
    /// The object (key) the problem is in.
    pub file: String,
    /// Where in it: `row 3 (line 4), column symbol`, `chain index 17`, `line 2`; `None` for
    /// the whole file.
    pub location: Option<String>,
    /// A short stable name.
    pub kind: String,
    pub message: String,
}

/// At most this many findings are kept in a report (a folder tampered throughout would otherwise
/// hold one per entry); all are counted.
pub const MAX_FINDINGS_KEPT: usize = 1_000;

/// What verification covered and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvidenceReport {
    /// The first [`MAX_FINDINGS_KEPT`] findings, in the order found.
    pub findings: Vec<EvidenceFinding>,
    /// All findings, including those not kept.
    pub findings_total: u64,
    /// Objects named by other evidence that the vault does not hold: `(key, named by)`.
    pub absent: Vec<(String, String)>,
    /// The origin the checkpoints were judged against (`None` when no note verified).
    pub origin: Option<String>,
    pub manifests_checked: u64,
    pub rows_checked: u64,
    /// Rows of receipts CSVs checked (§8.6).
    pub receipts_checked: u64,
    /// Entries `[0, backed_up_to)` are covered by the manifests.
    pub backed_up_to: u64,
    pub checkpoints_checked: u64,
    /// The size of the latest trusted checkpoint.
    pub checkpointed_size: u64,
    pub leaves_checked: u64,
    /// Chain indexes at which a backed-up row and a checkpointed leaf were compared.
    pub leaves_matched_to_rows: u64,
    /// Trusted audit seals whose chain link and events file were checked.
    pub seals_checked: u64,
    /// Audit events those seals cover.
    pub audit_events_sealed: u64,
    /// Report files compared with the hash their report record holds (§12.1).
    pub reports_checked: u64,
    /// The SHA-256 and size of each large object verification read whole — entries and
    /// receipts CSVs, leaf-hash and events files, reports — by key: the digest of the very
    /// bytes that were verified, so a caller that holds its own record of each object's hash
    /// (an export's `evidence.json`) checks it without reading and hashing the file again.
    #[serde(skip)]
    pub read_digests: BTreeMap<String, (Hash, u64)>,
}

impl EvidenceReport {
    fn finding(&mut self, file: &str, location: Option<String>, kind: &str, message: String) {
        self.findings_total += 1;
        if self.findings.len() >= MAX_FINDINGS_KEPT {
            return;
        }
        self.findings.push(EvidenceFinding {
            file: file.to_owned(),
            location,
            kind: kind.to_owned(),
            message,
        });
    }
}

/// Public keys given as DER SubjectPublicKeyInfo, by a label (e.g. the file they came from): a
/// [`PublicKeys`] with no service behind it.
#[derive(Debug, Clone, Default)]
pub struct GivenKeys {
    keys: Vec<(String, Vec<u8>)>,
}

impl GivenKeys {
    pub fn new(keys: Vec<(String, Vec<u8>)>) -> GivenKeys {
        GivenKeys { keys }
    }

    pub fn labels(&self) -> Vec<String> {
        self.keys.iter().map(|(label, _)| label.clone()).collect()
    }

    /// The trusted set for `origin`: every given key (refused as a whole if one is not a P-256
    /// key, as the spec asks).
    pub async fn trust(&self, origin: &str) -> Result<TrustedKeys, vault::TrustError> {
        let labels = self.labels();
        let (first, rest) = match labels.split_first() {
            Some((first, rest)) => (Some(first.as_str()), rest),
            None => (None, &[][..]),
        };
        vault::CheckpointTrust::new(origin, first, rest)
            .resolve(Some(self))
            .await
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no given key is labelled {0}")]
struct UnknownLabel(String);

impl PublicKeys for GivenKeys {
    async fn public_key(&self, key_id: &str) -> Result<Vec<u8>, SignError> {
        self.keys
            .iter()
            .find(|(label, _)| label == key_id)
            .map(|(_, der)| der.clone())
            .ok_or_else(|| SignError::Failed(Box::new(UnknownLabel(key_id.to_owned()))))
    }
}

/// Why verification could not be made at all.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Trust(#[from] vault::TrustError),
}

/// Where reports and their records are (ledger-format §12.1).
const REPORT_PREFIX: &str = crate::app::report::REPORT_PREFIX;

/// Where backup CSVs are (ledger-format §8.2).
const BACKUP_CSV_PREFIX: &str = "signals/";

/// Bytes read from a CSV or leaf-hash file at a time: what verification holds of a file.
const READ_CHUNK: usize = 1 << 18;

/// An entries CSV that read cleanly (every row parsed), which the agreement of backups and
/// checkpoints may read again ([`RowWindow`]).
#[derive(Debug, Clone)]
struct ReadableCsv {
    key: String,
    version_id: String,
}

/// Verifies the evidence `vault` holds (see the module's promises). `origin`: the expected
/// checkpoint origin, when the auditor knows it.
pub async fn verify_evidence(
    vault: &(impl BlobVault + ReadVersions),
    keys: &GivenKeys,
    origin: Option<&str>,
) -> Result<EvidenceReport, EvidenceError> {
    verify_evidence_reading(vault, keys, origin, Reading::LeavesBesideRows).await
}

/// How the agreement of backups and checkpoints reads the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The leaf-hash files beside the CSVs, when the rows allow it ([`LeafCursor`]).
    LeavesBesideRows,
    /// The rows again beside each leaf-hash file ([`RowWindow`]); the tests compare the two.
    #[cfg_attr(not(test), allow(dead_code))]
    RowsAgain,
}

/// [`verify_evidence`], with the agreement of backups and checkpoints read as `reading` says.
async fn verify_evidence_reading(
    vault: &(impl BlobVault + ReadVersions),
    keys: &GivenKeys,
    origin: Option<&str>,
    reading: Reading,
) -> Result<EvidenceReport, EvidenceError> {
    let mut report = EvidenceReport::default();
    // The trusted notes' leaf-hash files are judged first (on a scratch report: the real one
    // reports them in their place, after the backups), so that the backed-up rows are compared
    // with their leaves as the CSVs are read, without reading the CSVs a second time.
    let mut planning = LeafSteps::Plan(Vec::new());
    verify_checkpoints(
        vault,
        keys,
        origin,
        &[],
        &mut planning,
        &mut EvidenceReport::default(),
    )
    .await?;
    let mut cursor = match planning {
        LeafSteps::Plan(plan) if reading == Reading::LeavesBesideRows => {
            LeafCursor::new(vault, plan)
        }
        _ => None,
    };
    let csvs = verify_backups(vault, cursor.as_mut(), &mut report).await?;
    let mut steps = match cursor.map(LeafCursor::finish).transpose()? {
        Some(Some(streamed)) => LeafSteps::Streamed(streamed),
        // Rows out of order somewhere: compared again by reading the CSVs beside each file.
        _ => LeafSteps::Stream,
    };
    verify_checkpoints(vault, keys, origin, &csvs, &mut steps, &mut report).await?;
    verify_seals(vault, keys, &mut report).await?;
    verify_reports(vault, &mut report).await?;
    Ok(report)
}

fn overwritten(original: &Original, report: &mut EvidenceReport) {
    if original.overwritten() {
        report.finding(
            original.key(),
            None,
            "overwritten",
            format!(
                "the key has {} versions: it was written over after the original (the original is verified)",
                original.versions
            ),
        );
    }
}

/// The manifest chain and every CSV it names, each streamed once; returns the entries CSVs
/// that read cleanly, in chain order.
async fn verify_backups<V: BlobVault + ReadVersions>(
    vault: &V,
    mut leaves: Option<&mut LeafCursor<'_, V>>,
    report: &mut EvidenceReport,
) -> Result<Vec<ReadableCsv>, VaultError> {
    let listing = vault::list_manifests(vault).await?;
    let manifests = verify_manifest_files(vault, &listing, report).await?;
    find_csvs_without_manifest(vault, &manifests, report).await?;
    let mut readable = Vec::new();
    for (position, (key, _, manifest)) in manifests.iter().enumerate() {
        let original = listing
            .manifests
            .iter()
            .find(|(_, o)| o.key() == key)
            .map(|(_, o)| o);
        if let Some(original) = original {
            let protection = vault.protection(key, original.version_id()).await?;
            retention_finding(key, &protection, manifest, report);
        }
        verify_receipts(vault, key, manifest, report).await?;
        let Some(csv) = &manifest.csv else { continue };
        let previous = position.checked_sub(1).map(|p| &manifests[p].2);
        let leaves = leaves.as_deref_mut();
        if stream_backup_csv(vault, key, manifest, previous, csv, leaves, report).await? {
            readable.push(ReadableCsv {
                key: csv.key.clone(),
                version_id: csv.version_id.clone(),
            });
        }
    }
    Ok(readable)
}

/// Manifests read from the vault, in chain order: `(key, bytes, manifest)`.
type ReadManifests = Vec<(String, Vec<u8>, Manifest)>;

/// Reads every manifest the listing holds (reporting stray keys, overwritten and unreadable
/// manifests), checks them as a chain, and records how many there are and how far they reach.
async fn verify_manifest_files(
    vault: &impl BlobVault,
    listing: &vault::ManifestListing,
    report: &mut EvidenceReport,
) -> Result<ReadManifests, VaultError> {
    for stray in &listing.strays {
        report.finding(
            stray.key(),
            None,
            "unexpected_object",
            "not a manifest key".to_owned(),
        );
    }
    let mut manifests: ReadManifests = Vec::new();
    for (_, original) in &listing.manifests {
        overwritten(original, report);
        match vault::read_manifest(vault, original).await? {
            Ok(read) => manifests.push((original.key().to_owned(), read.bytes, read.manifest)),
            Err(invalid) => report.finding(
                original.key(),
                None,
                "manifest_invalid",
                invalid.reason.clone(),
            ),
        }
    }
    report.manifests_checked = manifests.len() as u64;
    let chain: Vec<(Vec<u8>, Manifest)> = manifests
        .iter()
        .map(|(_, bytes, manifest)| (bytes.clone(), manifest.clone()))
        .collect();
    for finding in verify_manifest_chain(&chain) {
        let key = &manifests[finding.position].0;
        report.finding(
            key,
            None,
            &format!("manifest_{}", finding.kind.name()),
            format!("{:?}", finding.kind),
        );
    }
    report.backed_up_to = manifests.last().map_or(0, |(_, _, m)| m.index_range.to);
    Ok(manifests)
}

/// Reports every backup CSV (entries or receipts) no manifest names: it is in no chain, so it
/// was planted, or its manifest is gone.
async fn find_csvs_without_manifest(
    vault: &impl BlobVault,
    manifests: &ReadManifests,
    report: &mut EvidenceReport,
) -> Result<(), VaultError> {
    for original in vault::list_originals(vault, BACKUP_CSV_PREFIX).await? {
        let key = original.key();
        let named = manifests
            .iter()
            .any(|(_, _, m)| m.csv.as_ref().is_some_and(|c| c.key == key));
        let name = key.rsplit('/').next().unwrap_or_default();
        let named = named
            || manifests.iter().any(|(_, _, m)| {
                m.receipts
                    .as_ref()
                    .and_then(|r| r.csv.as_ref())
                    .is_some_and(|c| c.key == key)
            });
        let backup_csv =
            name.starts_with("signals_backup_") || name.starts_with("receipts_backup_");
        if !named && backup_csv && name.ends_with(".csv") {
            report.finding(
                key,
                None,
                "csv_without_manifest",
                "no manifest names this backup CSV".to_owned(),
            );
        }
    }
    Ok(())
}

/// Checks the lock of a CSV `manifest` names against its `retain_until`, where the vault
/// records one.
async fn check_named_lock(
    vault: &impl BlobVault,
    manifest: &Manifest,
    csv: &CsvObject,
    report: &mut EvidenceReport,
) -> Result<(), VaultError> {
    match vault.protection(&csv.key, &csv.version_id).await {
        Ok(protection) => retention_finding(&csv.key, &protection, manifest, report),
        Err(VaultError::NotFound { .. }) => {}
        Err(error) => return Err(error),
    }
    Ok(())
}

/// A reader that hashes and counts the bytes read through it.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        Ok(read)
    }
}

/// Streams the entries CSV `manifest_key` names once, after checking its lock: its bytes (SHA-256
/// and size against the manifest), every row as a stretch of the hash chain resumed from the
/// `previous` manifest's tree, its row count, and the Merkle root and head the manifest records.
/// Holds one row at a time. Returns whether every row parsed; the vault not holding the CSV is
/// listed as absent (and gives `false`).
#[allow(clippy::too_many_arguments)]
async fn stream_backup_csv<V: BlobVault + ReadVersions>(
    vault: &V,
    manifest_key: &str,
    manifest: &Manifest,
    previous: Option<&Manifest>,
    csv: &CsvObject,
    mut leaves: Option<&mut LeafCursor<'_, V>>,
    report: &mut EvidenceReport,
) -> Result<bool, VaultError> {
    check_named_lock(vault, manifest, csv, report).await?;
    let input = match vault.open_version(&csv.key, &csv.version_id) {
        Ok(input) => input,
        Err(VaultError::NotFound { .. }) => {
            report
                .absent
                .push((csv.key.clone(), manifest_key.to_owned()));
            return Ok(false);
        }
        Err(error) => return Err(error),
    };
    let mut input = std::io::BufReader::with_capacity(
        READ_CHUNK,
        HashingReader {
            inner: input,
            hasher: sha2::Sha256::default(),
            bytes: 0,
        },
    );
    // Resume from the previous manifest's tree: the chain of manifests links the files.
    let tree = previous
        .map_or(Ok(CompactRange::new()), Manifest::tree)
        .unwrap_or_default();
    let mut verifier = ChainVerifier::resume(tree, manifest.first_previous_hash);
    let mut rows = 0u64;
    let refused = match RowReader::new(&mut input) {
        Err(error) => Some(error),
        Ok(mut reader) => {
            let mut refused = None;
            while let Some(row) = reader.next_fields() {
                match row {
                    Ok((fields, entry_hash)) => {
                        verifier.push_fields(&fields, entry_hash);
                        rows += 1;
                        if let Some(leaves) = leaves.as_deref_mut() {
                            let to = manifest.index_range.to;
                            leaves.row(fields.chain_index, entry_hash, to)?;
                        }
                    }
                    Err(error) => {
                        refused = Some(error);
                        break;
                    }
                }
            }
            refused
        }
    };
    // The rest of the file still counts for its SHA-256.
    std::io::copy(&mut input, &mut std::io::sink()).map_err(|e| VaultError::Failed(Box::new(e)))?;
    let HashingReader { hasher, bytes, .. } = input.into_inner();
    let sha256 = Hash(sha2::Digest::finalize(hasher).into());
    report.read_digests.insert(csv.key.clone(), (sha256, bytes));
    if sha256 != csv.sha256 || bytes != csv.bytes {
        report.finding(
            &csv.key,
            None,
            "csv_hash_mismatch",
            format!(
                "its bytes (SHA-256 {sha256}, {bytes} bytes) are not those {manifest_key} names (SHA-256 {}, {} bytes)",
                csv.sha256, csv.bytes
            ),
        );
    }
    if let Some(leaves) = leaves {
        // Its rows count for the comparison only when every row parsed.
        leaves.end_csv(refused.is_none());
    }
    if let Some(error) = refused {
        let location = error.position().map(|(row, line)| match error.column() {
            Some(column) => format!("row {row} (line {line}), column {column}"),
            None => format!("row {row} (line {line})"),
        });
        report.finding(&csv.key, location, error.code(), error.to_string());
        return Ok(false);
    }
    report.rows_checked += rows;
    if rows != manifest.row_count {
        report.finding(
            &csv.key,
            None,
            "row_count_mismatch",
            format!(
                "it has {rows} rows; {manifest_key} says {}",
                manifest.row_count
            ),
        );
    }
    chain_findings(manifest_key, manifest, &csv.key, verifier, report);
    Ok(true)
}

/// Reports the chain findings of a CSV's rows, and whether they give the Merkle root and head
/// `manifest` records.
fn chain_findings(
    manifest_key: &str,
    manifest: &Manifest,
    csv_key: &str,
    verifier: ChainVerifier,
    report: &mut EvidenceReport,
) {
    let tree_root = verifier.tree().root();
    let head = verifier.head_hash();
    let chain = verifier.finish(None);
    for finding in &chain.findings {
        let row = finding
            .index
            .checked_sub(manifest.index_range.from)
            .map(|r| format!(", row {}", r + 1))
            .unwrap_or_default();
        report.finding(
            csv_key,
            Some(format!("chain index {}{row}", finding.index)),
            finding.kind.name(),
            format!("{:?}", finding.kind),
        );
    }
    if chain.findings.is_empty()
        && (tree_root != manifest.merkle_root
            || head.unwrap_or(manifest.first_previous_hash) != manifest.last_entry_hash)
    {
        report.finding(
            csv_key,
            Some(format!(
                "chain index {}",
                manifest.index_range.to.saturating_sub(1)
            )),
            "manifest_root_mismatch",
            format!("its rows do not give the Merkle root and head that {manifest_key} records"),
        );
    }
}

/// Chain indexes a [`RowWindow`] holds at a time (8.7 MB of hashes at most).
const ROW_WINDOW: u64 = 1 << 18;

/// The backed-up rows' entry hashes by chain index as §12.2 step 3 has them — the last row
/// carrying the index, in the chain order of the CSVs that read cleanly and file order within
/// each — read again from every such CSV, for a window of [`ROW_WINDOW`] indexes at a time: an
/// index outside the window loads the window starting there. Memory is one window whatever the
/// order of the rows. This reading serves only folders whose rows go back or repeat (a damaged
/// folder, which may take a few readings of its CSVs); [`LeafCursor`] serves the others.
struct RowWindow<'a, V: ReadVersions> {
    vault: &'a V,
    csvs: &'a [ReadableCsv],
    start: u64,
    /// `None` before the first load.
    hashes: Option<Vec<Option<Hash>>>,
}

impl<'a, V: ReadVersions> RowWindow<'a, V> {
    fn new(vault: &'a V, csvs: &'a [ReadableCsv]) -> Self {
        RowWindow {
            vault,
            csvs,
            start: 0,
            hashes: None,
        }
    }

    /// The entry hash of the backed-up row at `index`, if a CSV that read cleanly holds one.
    fn hash_at(&mut self, index: u64) -> Result<Option<Hash>, VaultError> {
        let within = |start: u64| index.checked_sub(start).filter(|o| *o < ROW_WINDOW);
        let offset = match (&self.hashes, within(self.start)) {
            (Some(_), Some(offset)) => offset,
            _ => {
                self.load(index)?;
                0
            }
        };
        Ok(self
            .hashes
            .as_ref()
            .and_then(|hashes| hashes.get(offset as usize).copied().flatten()))
    }

    /// Reads every CSV that read cleanly for the rows at `[start, start + ROW_WINDOW)`.
    fn load(&mut self, start: u64) -> Result<(), VaultError> {
        let mut hashes = vec![None; ROW_WINDOW as usize];
        for csv in self.csvs {
            let input = self.vault.open_version(&csv.key, &csv.version_id)?;
            let reader = RowReader::new(std::io::BufReader::with_capacity(READ_CHUNK, input));
            let Ok(mut reader) = reader else { continue };
            // The rows parsed in full when the CSV was verified: only these two cells now.
            while let Some((index, hash)) = reader.next_index_and_hash() {
                if let Some(slot) = index
                    .checked_sub(start)
                    .and_then(|offset| hashes.get_mut(usize::try_from(offset).ok()?))
                {
                    *slot = Some(hash);
                }
            }
        }
        (self.start, self.hashes) = (start, Some(hashes));
        Ok(())
    }
}

/// How [`verify_checkpoints`] comes by each trusted note's leaf-hash file.
#[derive(Debug)]
enum LeafSteps {
    /// Nothing read: each trusted note whose leaf-hash file the vault holds is planned.
    Plan(Vec<PlannedLeaves>),
    /// Already streamed beside the CSVs ([`LeafCursor`]), by note key; a note without an
    /// entry (or planned from another range) is streamed as with [`LeafSteps::Stream`].
    Streamed(BTreeMap<String, StreamedLeaves>),
    /// Streamed now, with the backed-up rows read again from the CSVs ([`RowWindow`]).
    Stream,
}

/// A trusted note's leaf-hash file, to be streamed beside the CSVs.
#[derive(Debug, Clone)]
struct PlannedLeaves {
    note: String,
    file: Original,
    leaves: crate::domain::checkpoint::LeavesRef,
    /// The previous trusted range the leaves extend, when the note follows it.
    from: Option<CompactRange>,
}

/// A leaf-hash file streamed beside the CSVs.
#[derive(Debug)]
struct StreamedLeaves {
    /// The range the leaves were appended to (as planned).
    from: Option<CompactRange>,
    file: String,
    outcome: LeavesOutcome,
}

/// The leaf-hash file being read beside the CSVs.
struct OpenLeaves<'a> {
    /// Its position in the plan.
    planned: usize,
    input: Box<dyn Read + Send + 'a>,
    stream: LeavesStream,
    bytes: u64,
    refolded: Option<CompactRange>,
    /// Leaves read but not yet asked for: `(chain index, leaf)`, at most a chunk's worth.
    ready: std::collections::VecDeque<(u64, Hash)>,
    at_end: bool,
}

impl OpenLeaves<'_> {
    /// Reads the next chunk into `ready`; `false` at the end of the file.
    fn read_chunk(&mut self, first: u64, buffer: &mut [u8]) -> Result<bool, VaultError> {
        let read = loop {
            match self.input.read(buffer) {
                Ok(read) => break read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(VaultError::Failed(Box::new(error))),
            }
        };
        if read == 0 {
            self.at_end = true;
            return Ok(false);
        }
        self.bytes += read as u64;
        let (refolded, ready) = (&mut self.refolded, &mut self.ready);
        self.stream.feed(&buffer[..read], |n, leaf| {
            if let Some(range) = refolded.as_mut() {
                range.append(leaf);
            }
            ready.push_back((first + n, leaf));
        });
        Ok(true)
    }
}

/// The trusted notes' leaf-hash files read beside the CSVs, in note order, each once: every
/// backed-up row is compared with the leaf at its chain index as it is read, and each file is
/// judged and refolded exactly as [`stream_leaf_file`] would. This holds when the files' leaf
/// ranges follow one another and the rows' chain indexes only grow (each below its manifest's
/// `to`), as they do in any ledger's evidence; then each leaf meets the one row
/// [`RowWindow`] would give it. When the rows go back or repeat, [`LeafCursor::finish`] gives
/// nothing and the comparison is made again the general way.
struct LeafCursor<'a, V: ReadVersions> {
    vault: &'a V,
    plan: Vec<PlannedLeaves>,
    next: usize,
    open: Option<OpenLeaves<'a>>,
    /// Each planned file's outcome once it was read to its end (without its tally).
    outcomes: Vec<Option<LeavesOutcome>>,
    /// Comparisons with rows of CSVs that read cleanly, by planned file.
    tallies: Vec<Tally>,
    /// Comparisons with the rows of the CSV being read, provisional until it has read cleanly.
    pending: BTreeMap<usize, Tally>,
    last_row: Option<u64>,
    /// The rows went back or past their manifest's range: the cursor gives up.
    out_of_order: bool,
    buffer: Vec<u8>,
}

impl<'a, V: ReadVersions> LeafCursor<'a, V> {
    /// A cursor over `plan`, or `None` when the files' ranges do not follow one another.
    fn new(vault: &'a V, plan: Vec<PlannedLeaves>) -> Option<Self> {
        let in_order = plan.iter().all(|p| p.leaves.from <= p.leaves.to)
            && plan
                .windows(2)
                .all(|pair| pair[0].leaves.to <= pair[1].leaves.from);
        in_order.then(|| LeafCursor {
            vault,
            outcomes: plan.iter().map(|_| None).collect(),
            tallies: plan.iter().map(|_| Tally::default()).collect(),
            plan,
            next: 0,
            open: None,
            pending: BTreeMap::new(),
            last_row: None,
            out_of_order: false,
            buffer: vec![0u8; READ_CHUNK],
        })
    }

    /// Compares the backed-up row at `index` (of a CSV whose manifest ends at `to`) with its
    /// leaf, if a planned file holds one.
    fn row(&mut self, index: u64, entry_hash: Hash, to: u64) -> Result<(), VaultError> {
        if self.out_of_order {
            return Ok(());
        }
        if self.last_row.is_some_and(|last| index <= last) || index >= to {
            self.out_of_order = true;
            return Ok(());
        }
        self.last_row = Some(index);
        loop {
            let Some(open) = &mut self.open else {
                if self.next == self.plan.len() {
                    return Ok(());
                }
                self.open_next()?;
                continue;
            };
            let leaves = self.plan[open.planned].leaves;
            if index >= leaves.to {
                self.close()?;
                continue;
            }
            if index < leaves.from {
                return Ok(());
            }
            loop {
                match open.ready.front() {
                    Some(&(at, _)) if at < index => {
                        open.ready.pop_front();
                    }
                    Some(&(at, leaf)) if at == index => {
                        open.ready.pop_front();
                        self.pending
                            .entry(open.planned)
                            .or_default()
                            .compare(index, leaf, entry_hash);
                        return Ok(());
                    }
                    Some(_) => return Ok(()),
                    None if open.at_end => return Ok(()),
                    None => {
                        open.read_chunk(leaves.from, &mut self.buffer)?;
                    }
                }
            }
        }
    }

    /// The CSV whose rows were given since the last call ended: its comparisons count when it
    /// read cleanly (every row parsed), as with [`RowWindow`].
    fn end_csv(&mut self, read_cleanly: bool) {
        for (planned, tally) in std::mem::take(&mut self.pending) {
            if read_cleanly {
                self.tallies[planned].add(tally);
            }
        }
    }

    fn open_next(&mut self) -> Result<(), VaultError> {
        let planned = &self.plan[self.next];
        let input = self
            .vault
            .open_version(planned.file.key(), planned.file.version_id())?;
        self.open = Some(OpenLeaves {
            planned: self.next,
            input,
            stream: LeavesStream::new(),
            bytes: 0,
            refolded: planned.from.clone(),
            ready: std::collections::VecDeque::new(),
            at_end: false,
        });
        self.next += 1;
        Ok(())
    }

    /// Reads the open file to its end and judges it against its note.
    fn close(&mut self) -> Result<(), VaultError> {
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        let leaves = self.plan[open.planned].leaves;
        while !open.at_end {
            open.ready.clear();
            open.read_chunk(leaves.from, &mut self.buffer)?;
        }
        self.outcomes[open.planned] = Some(LeavesOutcome {
            finished: open.stream.finish(&leaves),
            bytes: open.bytes,
            tally: Tally::default(),
            refolded: open.refolded,
        });
        Ok(())
    }

    /// Reads the files no row reached, and gives every planned file's outcome by note key; or
    /// `None` when the rows were out of order.
    fn finish(mut self) -> Result<Option<BTreeMap<String, StreamedLeaves>>, VaultError> {
        if self.out_of_order {
            return Ok(None);
        }
        self.close()?;
        while self.next < self.plan.len() {
            self.open_next()?;
            self.close()?;
        }
        let mut streamed = BTreeMap::new();
        let tallies = std::mem::take(&mut self.tallies);
        for ((planned, outcome), tally) in self.plan.into_iter().zip(self.outcomes).zip(tallies) {
            if let Some(mut outcome) = outcome {
                outcome.tally = tally;
                streamed.insert(
                    planned.note,
                    StreamedLeaves {
                        from: planned.from,
                        file: planned.file.key().to_owned(),
                        outcome,
                    },
                );
            }
        }
        Ok(Some(streamed))
    }
}

/// A format-2 manifest's receipts CSV (§8.6): locked like the entries CSV, the bytes the
/// manifest names, its row count, and every row by §10 and the manifest's window and range.
async fn verify_receipts(
    vault: &impl BlobVault,
    manifest_key: &str,
    manifest: &Manifest,
    report: &mut EvidenceReport,
) -> Result<(), VaultError> {
    let Some((receipts, csv)) = manifest
        .receipts
        .as_ref()
        .and_then(|r| r.csv.as_ref().map(|csv| (r, csv)))
    else {
        return Ok(());
    };
    check_named_lock(vault, manifest, csv, report).await?;
    let bytes = match vault.get_version(&csv.key, &csv.version_id).await {
        Ok(bytes) => bytes,
        Err(VaultError::NotFound { .. }) => {
            report
                .absent
                .push((csv.key.clone(), manifest_key.to_owned()));
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let sha256 = Hash::sha256(&bytes);
    report
        .read_digests
        .insert(csv.key.clone(), (sha256, bytes.len() as u64));
    if sha256 != csv.sha256 || bytes.len() as u64 != csv.bytes {
        report.finding(
            &csv.key,
            None,
            "receipts_csv_hash_mismatch",
            format!(
                "its bytes are not those {manifest_key} names (SHA-256 {}, {} bytes)",
                csv.sha256, csv.bytes
            ),
        );
    }
    let rows = match read_receipt_rows(&bytes) {
        Ok(rows) => rows,
        Err(error) => {
            report.finding(&csv.key, None, "receipts_csv_invalid", error.to_string());
            return Ok(());
        }
    };
    report.receipts_checked += rows.len() as u64;
    if rows.len() as u64 != receipts.row_count {
        report.finding(
            &csv.key,
            None,
            "receipts_row_count_mismatch",
            format!(
                "it has {} rows; {manifest_key} says {}",
                rows.len(),
                receipts.row_count
            ),
        );
    }
    for finding in check_receipt_rows(&rows, receipts, manifest.index_range.to) {
        report.finding(
            &csv.key,
            Some(format!("row {}", finding.row)),
            finding.kind,
            finding.message,
        );
    }
    Ok(())
}

/// A manifest and its CSV are locked until the manifest's `retain_until` at least. Checked where
/// the vault records a retention (a sync copy records none: nothing to check).
fn retention_finding(
    key: &str,
    protection: &crate::ports::ObjectProtection,
    manifest: &Manifest,
    report: &mut EvidenceReport,
) {
    if protection.lock_mode.is_none() && protection.retain_until.is_none() {
        return;
    }
    if protection
        .retain_until
        .is_none_or(|until| until < manifest.retain_until)
    {
        report.finding(
            key,
            None,
            "retention_short",
            format!(
                "it is retained until {}, before the manifest's retain_until {}",
                protection
                    .retain_until
                    .map_or_else(|| "no date".to_owned(), |t| t.to_string()),
                manifest.retain_until
            ),
        );
    }
}

/// A trusted checkpoint, as the next one is refolded from it.
struct Anchor {
    key: String,
    range: CompactRange,
}

/// Every checkpoint note and leaf-hash file: parsed, judged with the given keys only, refolded
/// from the previous trusted checkpoint, and compared with the backed-up rows.
async fn verify_checkpoints<V: BlobVault + ReadVersions>(
    vault: &V,
    keys: &GivenKeys,
    origin: Option<&str>,
    csvs: &[ReadableCsv],
    steps: &mut LeafSteps,
    report: &mut EvidenceReport,
) -> Result<(), EvidenceError> {
    let mut rows = RowWindow::new(vault, csvs);
    let objects = vault::list_checkpoints(vault).await?;
    let CheckpointObjects { leaf_files, notes } =
        sort_checkpoint_objects(vault, &objects, report).await?;
    let parsed = parse_notes(&notes, report);
    let trust = checkpoint_trust(keys, origin, &parsed, report).await?;
    let mut anchor: Option<Anchor> = None;
    for (original, signed) in parsed {
        let key = original.key();
        let check = trust.check(&signed);
        let refusal = vault::key_mismatch(original, &signed).or_else(|| check.refusal());
        if let Some(reason) = refusal {
            let kind = match check {
                vault::SignatureCheck::WrongOrigin { .. } => "origin_mismatch",
                vault::SignatureCheck::Verified { .. } => "checkpoint_misplaced",
                _ => "untrusted_key",
            };
            report.finding(key, None, kind, reason);
            continue;
        }
        report.checkpoints_checked += 1;
        let checkpoint = &signed.checkpoint;
        let follows = check_follows(key, checkpoint, anchor.as_ref(), report);
        let from = follows.then(|| {
            anchor
                .as_ref()
                .map_or_else(CompactRange::new, |a| a.range.clone())
        });
        let refolded = match steps {
            LeafSteps::Plan(plan) => {
                let leaves_name = leaves_key(checkpoint.tree_size, &checkpoint.time);
                if let Some(file) = leaf_files.get(leaves_name.as_str()) {
                    plan.push(PlannedLeaves {
                        note: key.to_owned(),
                        file: (*file).clone(),
                        leaves: checkpoint.leaves,
                        from,
                    });
                }
                None
            }
            LeafSteps::Streamed(streamed) => match streamed.remove(key) {
                Some(done) if done.from == from => {
                    judge_leaf_file(checkpoint, &done.file, done.outcome, report)
                }
                _ => {
                    stream_leaf_file(vault, &leaf_files, key, checkpoint, from, &mut rows, report)?
                }
            },
            LeafSteps::Stream => {
                stream_leaf_file(vault, &leaf_files, key, checkpoint, from, &mut rows, report)?
            }
        };
        if let Some(range) = refolded {
            let leaves_name = leaves_key(checkpoint.tree_size, &checkpoint.time);
            check_refold(key, &leaves_name, checkpoint, &range, report);
        }
        report.checkpointed_size = checkpoint.tree_size;
        anchor = Some(Anchor {
            key: key.to_owned(),
            range: checkpoint.range.clone(),
        });
    }
    Ok(())
}

/// The checkpoint prefix, sorted: leaf-hash files by key, and every note read.
struct CheckpointObjects<'a> {
    leaf_files: BTreeMap<&'a str, &'a Original>,
    notes: Vec<vault::CheckpointNote>,
}

/// Reads every note of the checkpoint prefix and indexes its leaf-hash files; reports keys that
/// are neither, and overwritten objects.
async fn sort_checkpoint_objects<'a>(
    vault: &impl BlobVault,
    objects: &'a [Original],
    report: &mut EvidenceReport,
) -> Result<CheckpointObjects<'a>, VaultError> {
    let mut leaf_files: BTreeMap<&str, &Original> = BTreeMap::new();
    let mut notes = Vec::new();
    for original in objects {
        overwritten(original, report);
        if !is_object_key(original.key()) {
            report.finding(
                original.key(),
                None,
                "unexpected_object",
                "not a checkpoint note or leaf-hash file key".to_owned(),
            );
        } else if vault::is_note(original) {
            notes.push(vault::read_note(vault, original).await?);
        } else {
            leaf_files.insert(original.key(), original);
        }
    }
    Ok(CheckpointObjects { leaf_files, notes })
}

/// The notes that parse, in key order; reports each one that does not.
fn parse_notes<'a>(
    notes: &'a [vault::CheckpointNote],
    report: &mut EvidenceReport,
) -> Vec<(&'a Original, SignedCheckpoint)> {
    notes
        .iter()
        .filter_map(|note| match &note.content {
            Ok(signed) => Some((&note.original, signed.clone())),
            Err(reason) => {
                report.finding(
                    note.original.key(),
                    None,
                    "checkpoint_invalid",
                    reason.clone(),
                );
                None
            }
        })
        .collect()
}

/// The origin (given, or that of the first note a given key verifies), recorded in the report,
/// and the trusted keys for it that judge every note.
async fn checkpoint_trust(
    keys: &GivenKeys,
    origin: Option<&str>,
    parsed: &[(&Original, SignedCheckpoint)],
    report: &mut EvidenceReport,
) -> Result<TrustedKeys, EvidenceError> {
    let origin = match origin {
        Some(origin) => Some(origin.to_owned()),
        None => {
            let mut found = None;
            for (_, signed) in parsed {
                let trust = keys.trust(&signed.checkpoint.origin).await?;
                if matches!(trust.check(signed), vault::SignatureCheck::Verified { .. }) {
                    found = Some(signed.checkpoint.origin.clone());
                    break;
                }
            }
            found
        }
    };
    report.origin = origin.clone();
    let trust = match &origin {
        Some(origin) => keys.trust(origin).await?,
        None => {
            // Nothing verifies: judge against the first note's origin, so each is reported.
            let first = parsed
                .first()
                .map_or(String::new(), |(_, s)| s.checkpoint.origin.clone());
            keys.trust(&first).await?
        }
    };
    Ok(trust)
}

/// Whether the checkpoint's leaves start where the previous trusted checkpoint ends; reports a
/// `checkpoint_gap` when they do not.
fn check_follows(
    key: &str,
    checkpoint: &crate::domain::checkpoint::Checkpoint,
    anchor: Option<&Anchor>,
    report: &mut EvidenceReport,
) -> bool {
    let leaves = checkpoint.leaves;
    let expected_from = anchor.map_or(0, |a| a.range.size());
    if leaves.from != expected_from {
        report.finding(
            key,
            Some("line 7".to_owned()),
            "checkpoint_gap",
            format!(
                "its leaves start at {}, but the previous trusted checkpoint{} ends at {expected_from}",
                leaves.from,
                anchor.map(|a| format!(" ({})", a.key)).unwrap_or_default()
            ),
        );
    }
    leaves.from == expected_from
}

/// Streams the checkpoint's leaf-hash file once: its bytes against the note (digest, lines,
/// count), each leaf against the backed-up row at its chain index, and — when `from` is the
/// previous trusted checkpoint's range — the leaves appended to it. A leaf-hash file is judged
/// whole before anything read from it counts: its comparisons are reported only when the file
/// verifies. Returns the refolded range (when `from` was given and the file verifies); the vault
/// not holding the file is listed as absent.
fn stream_leaf_file<V: BlobVault + ReadVersions>(
    vault: &V,
    leaf_files: &BTreeMap<&str, &Original>,
    key: &str,
    checkpoint: &crate::domain::checkpoint::Checkpoint,
    mut from: Option<CompactRange>,
    rows: &mut RowWindow<'_, V>,
    report: &mut EvidenceReport,
) -> Result<Option<CompactRange>, VaultError> {
    let leaves_name = leaves_key(checkpoint.tree_size, &checkpoint.time);
    let Some(file) = leaf_files.get(leaves_name.as_str()) else {
        report.absent.push((leaves_name, key.to_owned()));
        return Ok(None);
    };
    let mut input = vault.open_version(file.key(), file.version_id())?;
    let mut stream = LeavesStream::new();
    // Provisional until the file verifies: the rows compared, and the first differences.
    let mut tally = Tally::default();
    let mut failed: Option<VaultError> = None;
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut bytes = 0u64;
    let first = checkpoint.leaves.from;
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(VaultError::Failed(Box::new(error))),
        };
        bytes += read as u64;
        stream.feed(&buffer[..read], |n, leaf| {
            if let Some(range) = &mut from {
                range.append(leaf);
            }
            if failed.is_some() {
                return;
            }
            let index = first + n;
            match rows.hash_at(index) {
                Ok(Some(row)) => tally.compare(index, leaf, row),
                Ok(None) => {}
                Err(error) => failed = Some(error),
            }
        });
    }
    if let Some(error) = failed {
        return Err(error);
    }
    let outcome = LeavesOutcome {
        finished: stream.finish(&checkpoint.leaves),
        bytes,
        tally,
        refolded: from,
    };
    Ok(judge_leaf_file(checkpoint, file.key(), outcome, report))
}

/// What streaming a leaf-hash file gave, before it is judged ([`judge_leaf_file`]).
#[derive(Debug)]
struct LeavesOutcome {
    /// The file judged whole against the note: the count of leaves, or the first refusal.
    finished: Result<u64, crate::domain::checkpoint::CheckpointError>,
    bytes: u64,
    /// The leaves compared with backed-up rows.
    tally: Tally,
    /// The previous trusted range extended with the leaves, when it was given.
    refolded: Option<CompactRange>,
}

/// Leaves compared with the backed-up rows at their chain indexes.
#[derive(Debug, Default)]
struct Tally {
    matched: u64,
    different: u64,
    /// The first [`MAX_FINDINGS_KEPT`] differences: `(chain index, leaf, row's entry hash)`.
    differences: Vec<(u64, Hash, Hash)>,
}

impl Tally {
    fn compare(&mut self, index: u64, leaf: Hash, row: Hash) {
        self.matched += 1;
        if row != leaf {
            self.different += 1;
            if self.differences.len() < MAX_FINDINGS_KEPT {
                self.differences.push((index, leaf, row));
            }
        }
    }

    /// Adds the comparisons of `later` rows (at higher chain indexes).
    fn add(&mut self, later: Tally) {
        self.matched += later.matched;
        self.different += later.different;
        let room = MAX_FINDINGS_KEPT.saturating_sub(self.differences.len());
        self.differences
            .extend(later.differences.into_iter().take(room));
    }
}

/// Judges a streamed leaf-hash file: its bytes against the note (its comparisons with the rows
/// count only when the file verifies); returns the refolded range when it verifies.
fn judge_leaf_file(
    checkpoint: &crate::domain::checkpoint::Checkpoint,
    file_key: &str,
    outcome: LeavesOutcome,
    report: &mut EvidenceReport,
) -> Option<CompactRange> {
    let leaves_name = leaves_key(checkpoint.tree_size, &checkpoint.time);
    let LeavesOutcome {
        finished,
        bytes,
        tally,
        refolded,
    } = outcome;
    // The file's digest is checked first: it is the note's, unless that check failed.
    let sha256 = match &finished {
        Err(crate::domain::checkpoint::CheckpointError::LeavesDigest { computed, .. }) => *computed,
        _ => checkpoint.leaves.sha256,
    };
    report
        .read_digests
        .insert(file_key.to_owned(), (sha256, bytes));
    match finished {
        Ok(count) => {
            report.leaves_checked += count;
            report.leaves_matched_to_rows += tally.matched;
            for (index, leaf, row) in tally.differences {
                report.finding(
                    &leaves_name,
                    Some(format!("chain index {index}")),
                    "leaf_differs_from_backup",
                    format!(
                        "the checkpointed leaf {leaf} is not the backed-up row's entry hash {row}"
                    ),
                );
            }
            report.findings_total += tally.different.saturating_sub(MAX_FINDINGS_KEPT as u64);
            refolded
        }
        Err(error) => {
            let location = match &error {
                crate::domain::checkpoint::CheckpointError::LeavesLine { line } => {
                    Some(format!("line {line}"))
                }
                _ => None,
            };
            report.finding(&leaves_name, location, error.code(), error.to_string());
            None
        }
    }
}

/// Checks that the previous trusted checkpoint's compact range, extended with the leaf hashes,
/// gives the checkpoint's range and root (the trees are consistent).
fn check_refold(
    key: &str,
    leaves_name: &str,
    checkpoint: &crate::domain::checkpoint::Checkpoint,
    range: &CompactRange,
    report: &mut EvidenceReport,
) {
    if range.hashes() != checkpoint.range.hashes() || range.root() != checkpoint.root {
        report.finding(
            key,
            Some(format!(
                "chain indexes {}..{}",
                checkpoint.leaves.from, checkpoint.tree_size
            )),
            "root_mismatch",
            format!(
                "the previous checkpoint's range extended with {leaves_name} gives root {}, not the note's {}: the trees are not consistent",
                range.root(),
                checkpoint.root
            ),
        );
    }
}

/// Every audit seal and events file (see the module's promises). The origin is the one the
/// checkpoints were judged with, or else that of the first seal a given key verifies.
async fn verify_seals(
    vault: &impl BlobVault,
    keys: &GivenKeys,
    report: &mut EvidenceReport,
) -> Result<(), EvidenceError> {
    let objects = vault::list_originals(vault, SEAL_PREFIX).await?;
    let SealObjects {
        events_files,
        seals,
    } = sort_seal_objects(vault, &objects, report).await?;
    let trust = seal_trust(keys, &seals, report).await?;
    let trusted = trusted_seals(&trust, seals, report);
    // Digest and end of each trusted seal, by sequence number.
    let mut by_seq: SealEnds = BTreeMap::new();
    for (original, signed) in &trusted {
        let (key, seal) = (original.key(), &signed.seal);
        if key != seal_key(seal.seq, &seal.time) {
            report.finding(
                key,
                None,
                "audit_seal_wrong_key",
                format!("its content is that of {}", seal_key(seal.seq, &seal.time)),
            );
        }
        check_seal_link(key, seal, &by_seq, report);
        by_seq
            .entry(seal.seq)
            .or_default()
            .push((seal.digest(), seal.to));
        report.seals_checked += 1;
        check_events_file(vault, &events_files, key, seal, report).await?;
    }
    Ok(())
}

/// Digest and end of each trusted seal checked so far, by sequence number.
type SealEnds = BTreeMap<u64, Vec<(Hash, crate::domain::timestamp::Timestamp)>>;

/// The audit seal prefix, sorted: events files by key, and every note that parses.
struct SealObjects<'a> {
    events_files: BTreeMap<&'a str, &'a Original>,
    seals: Vec<(&'a Original, SignedSeal)>,
}

/// Reads and parses every seal note of the prefix and indexes its events files; reports keys
/// that are neither, notes that do not parse, and overwritten objects.
async fn sort_seal_objects<'a>(
    vault: &impl BlobVault,
    objects: &'a [Original],
    report: &mut EvidenceReport,
) -> Result<SealObjects<'a>, VaultError> {
    let mut events_files: BTreeMap<&str, &Original> = BTreeMap::new();
    let mut seals: Vec<(&Original, SignedSeal)> = Vec::new();
    for original in objects {
        overwritten(original, report);
        let key = original.key();
        if !is_seal_object_key(key) {
            report.finding(
                key,
                None,
                "unexpected_object",
                "not an audit seal note or events file key".to_owned(),
            );
        } else if key.ends_with(".txt") {
            let bytes = vault.get_version(key, original.version_id()).await?;
            let parsed = std::str::from_utf8(&bytes)
                .map_err(|_| "not UTF-8 text".to_owned())
                .and_then(|text| {
                    SignedSeal::parse(text).map_err(|e: SealError| format!("{}: {e}", e.code()))
                });
            match parsed {
                Ok(signed) => seals.push((original, signed)),
                Err(reason) => report.finding(key, None, "audit_seal_invalid", reason),
            }
        } else {
            events_files.insert(key, original);
        }
    }
    Ok(SealObjects {
        events_files,
        seals,
    })
}

/// The trusted keys that judge the seals: for the checkpoints' origin, or else that of the first
/// seal a given key verifies (recorded in the report), or else the first seal's.
async fn seal_trust(
    keys: &GivenKeys,
    seals: &[(&Original, SignedSeal)],
    report: &mut EvidenceReport,
) -> Result<TrustedKeys, EvidenceError> {
    if report.origin.is_none() {
        for (_, signed) in seals {
            let trust = keys.trust(&signed.seal.origin).await?;
            let check = trust.check_note(&signed.seal.origin, &signed.signature, |key| {
                signed.verify(key).unwrap_or(false)
            });
            if matches!(check, vault::SignatureCheck::Verified { .. }) {
                report.origin = Some(signed.seal.origin.clone());
                break;
            }
        }
    }
    let origin = report
        .origin
        .clone()
        .or_else(|| seals.first().map(|(_, s)| s.seal.origin.clone()))
        .unwrap_or_default();
    Ok(keys.trust(&origin).await?)
}

/// The seals `trust` verifies, by sequence number then key; reports each one it refuses.
fn trusted_seals<'a>(
    trust: &TrustedKeys,
    seals: Vec<(&'a Original, SignedSeal)>,
    report: &mut EvidenceReport,
) -> Vec<(&'a Original, SignedSeal)> {
    let mut trusted: Vec<(&Original, SignedSeal)> = Vec::new();
    for (original, signed) in seals {
        let check = trust.check_note(&signed.seal.origin, &signed.signature, |key| {
            signed.verify(key).unwrap_or(false)
        });
        match check.refusal() {
            Some(reason) => report.finding(original.key(), None, "audit_seal_untrusted", reason),
            None => trusted.push((original, signed)),
        }
    }
    trusted.sort_by(|(a, x), (b, y)| (x.seal.seq, a.key()).cmp(&(y.seal.seq, b.key())));
    trusted
}

/// Checks that a seal links to a trusted seal of the sequence number before it: its `previous`
/// is that seal's digest, and its window starts where that seal's ended.
fn check_seal_link(key: &str, seal: &Seal, by_seq: &SealEnds, report: &mut EvidenceReport) {
    let Some(before) = seal.seq.checked_sub(1) else {
        return;
    };
    match by_seq.get(&before) {
        None => report.finding(
            key,
            None,
            "audit_seal_gap",
            format!("no trusted seal {before} precedes seal {}", seal.seq),
        ),
        Some(previous) => match previous.iter().find(|(d, _)| *d == seal.previous) {
            None => report.finding(
                key,
                None,
                "audit_seal_broken_link",
                format!(
                    "its previous {} is the digest of no trusted seal {before}",
                    seal.previous
                ),
            ),
            Some((_, to)) if *to != seal.from => report.finding(
                key,
                None,
                "audit_seal_broken_link",
                format!(
                    "its window starts at {}, not where seal {before} ended ({to})",
                    seal.from
                ),
            ),
            Some(_) => {}
        },
    }
}

/// Checks a seal's events file against the note (digest, lines, count, root) and counts the
/// events it seals; lists the file as absent when the vault does not hold it.
async fn check_events_file(
    vault: &impl BlobVault,
    events_files: &BTreeMap<&str, &Original>,
    key: &str,
    seal: &Seal,
    report: &mut EvidenceReport,
) -> Result<(), VaultError> {
    let events = events_key(seal.seq, &seal.time);
    let Some(file) = events_files.get(events.as_str()) else {
        report.absent.push((events, key.to_owned()));
        return Ok(());
    };
    let bytes = vault.get_version(file.key(), file.version_id()).await?;
    let parsed = seal.parse_events(&bytes);
    // The events file's digest is checked first: it is the seal's, unless that check failed.
    let sha256 = match &parsed {
        Err(SealError::EventsDigest { computed, .. }) => *computed,
        _ => seal.events_sha256,
    };
    report
        .read_digests
        .insert(file.key().to_owned(), (sha256, bytes.len() as u64));
    match parsed {
        Ok(_) => report.audit_events_sealed += seal.count,
        Err(error) => {
            let location = match &error {
                SealError::EventsLine { line, .. } => Some(format!("line {line}")),
                _ => None,
            };
            report.finding(&events, location, error.code(), error.to_string());
        }
    }
    Ok(())
}

/// Every report file under `reports/` against the report records (§12.1): a record that does not
/// parse, a report file no record names, and one whose bytes are not those recorded are
/// findings; an object a record names that the vault does not hold is listed as absent.
async fn verify_reports(
    vault: &impl BlobVault,
    report: &mut EvidenceReport,
) -> Result<(), VaultError> {
    let objects = vault::list_originals(vault, REPORT_PREFIX).await?;
    let mut records: Vec<(String, ReportRecord)> = Vec::new();
    for original in objects.iter().filter(|o| is_record_key(o.key())) {
        overwritten(original, report);
        let bytes = vault
            .get_version(original.key(), original.version_id())
            .await?;
        match ReportRecord::parse(&bytes) {
            Ok(record) => records.push((original.key().to_owned(), record)),
            Err(reason) => report.finding(original.key(), None, "report_record_invalid", reason),
        }
    }
    for (record_key, record) in &records {
        for object in &record.objects {
            if !objects.iter().any(|o| o.key() == object.key) {
                report.absent.push((object.key.clone(), record_key.clone()));
            }
        }
    }
    for original in objects.iter().filter(|o| !is_record_key(o.key())) {
        let key = original.key();
        overwritten(original, report);
        let bytes = vault.get_version(key, original.version_id()).await?;
        let sha256 = Hash::sha256(&bytes);
        report
            .read_digests
            .insert(key.to_owned(), (sha256, bytes.len() as u64));
        report.reports_checked += 1;
        match check_report_file(
            key,
            original.version_id(),
            &sha256,
            bytes.len() as u64,
            &records,
        ) {
            ReportCheck::Recorded { .. } => {}
            ReportCheck::Unrecorded => report.finding(
                key,
                None,
                "report_unrecorded",
                "no report record names this report: it was not written by the report job, or its record is gone".to_owned(),
            ),
            ReportCheck::Mismatch {
                record,
                sha256: recorded,
                bytes: recorded_bytes,
            } => report.finding(
                key,
                None,
                "report_hash_mismatch",
                format!(
                    "its bytes (SHA-256 {sha256}, {} bytes) are not those {record} records (SHA-256 {recorded}, {recorded_bytes} bytes)",
                    bytes.len()
                ),
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "verify_evidence_tests.rs"]
mod tests;
