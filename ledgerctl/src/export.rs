//! `ledgerctl export-evidence`: copies the evidence of a vault into a local folder, for offline
//! verification. Owns which objects are evidence, the folder's layout and `evidence.json`.
//!
//! Promises:
//! - **Originals only.** Each key's *original* (oldest) version, found through
//!   [`shared::app::vault`] like every other reader, is the one downloaded, by its version id:
//!   a later overwrite is a newer version and is never exported (its existence is recorded as
//!   the key's `versions` count).
//! - **Offline-verifiable record.** `DIR/evidence.json` lists every object exported: key, version
//!   id, SHA-256 and size of the bytes written, the retention S3 reports for that version (mode
//!   and retain-until), its encryption and S3's own SHA-256 checksum when it has one. Each object
//!   lies at `DIR/<key>`, the layout `aws s3 sync` gives, so nothing else is needed to check it.
//! - **Bounded memory.** Downloads stream to files a chunk at a time, hashed as they are written.
//! - **Resumable.** Progress is journalled in `DIR/.export-progress.jsonl`; a rerun skips every
//!   file already present whose SHA-256 is the one S3 stores or the journal recorded for that
//!   version, and fetches the rest. A partial download never takes an object's name: it is
//!   written beside it and renamed when complete.
//! - **Never mixes evidence.** A non-empty folder is used only when it holds an export (finished
//!   or not) of the same bucket and period; anything else is refused before any download.
//! - **Audited.** The export is recorded as `RECORDS_READ` with the caller's identity and what
//!   is exported, before the first byte is downloaded: an export that cannot be audited is not
//!   made.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::adapters::s3::S3Vault;
use shared::app::vault::{self, Original};
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::hash::Hash;
use shared::domain::timestamp::Timestamp;
use shared::ports::{AuditSink, BlobVault};

/// The format line of `evidence.json`.
pub const EVIDENCE_FORMAT: &str = "signal-ledger-evidence/1";
/// The record of an export, at the top of its folder.
pub const EVIDENCE_FILE: &str = "evidence.json";
/// The journal of an export in progress (removed once `evidence.json` is written).
pub const JOURNAL_FILE: &str = ".export-progress.jsonl";
const PART_SUFFIX: &str = ".part";

/// Prefixes exported whole whatever the period: each is a chain verified from its first element
/// (manifests; checkpoints with their leaf files; audit seals with their events files), or what
/// verifying them needs (the trusted keys, acknowledgements of findings).
pub const WHOLE_PREFIXES: [&str; 5] = [
    "manifests/",
    "checkpoints/",
    "integrity/audit-seals/",
    "integrity/keys/",
    "integrity/acknowledgements/",
];
/// Every prefix of the vault that holds evidence (DESIGN, "S3 vault bucket"). Under the dated
/// ones (`signals/`, `reports/`, `verifications/`, `integrity/runs/`, `productions/`), an object
/// is exported when the day or month its key names meets the period; an object whose key names
/// no date (e.g. one planted under an unexpected name) is always exported.
pub const PREFIXES: [&str; 7] = [
    "signals/",
    "manifests/",
    "checkpoints/",
    "integrity/",
    "reports/",
    "verifications/",
    "productions/",
];

/// A period of whole UTC days, both ends included (`--from`, `--to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: String,
    pub to: String,
}

impl Period {
    /// Both days must be real dates written `YYYY-MM-DD`, and `from ≤ to`.
    pub fn new(from: &str, to: &str) -> anyhow::Result<Period> {
        for (flag, day) in [("--from", from), ("--to", to)] {
            let canonical = day.len() == 10
                && Timestamp::parse_canonical(&format!("{day}T00:00:00.000000Z")).is_ok();
            if !canonical {
                bail!("{flag} {day:?} is not a date written YYYY-MM-DD");
            }
        }
        if from > to {
            bail!("--from {from} is after --to {to}");
        }
        Ok(Period {
            from: from.to_owned(),
            to: to.to_owned(),
        })
    }

    /// Whether an object under `key` belongs to the period (see [`PREFIXES`]).
    pub fn selects(&self, key: &str) -> bool {
        match key_days(key) {
            Some((first, last)) => first.as_str() <= self.to.as_str() && self.from <= last,
            None => true,
        }
    }
}

/// The first and last day (`YYYY-MM-DD`) a dated object's key names; `None` when the object is
/// exported whatever the period.
fn key_days(key: &str) -> Option<(String, String)> {
    if WHOLE_PREFIXES.iter().any(|prefix| key.starts_with(prefix)) {
        return None;
    }
    if let Some(rest) = key.strip_prefix("signals/") {
        // signals/YYYY/MM/signals_backup_YYYYMMDD[_N].csv: the backup's day.
        let name = rest.rsplit('/').next()?;
        let digits = name.strip_prefix("signals_backup_")?.get(..8)?;
        let day = format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..]);
        return is_day(&day).then(|| (day.clone(), day));
    }
    let rest = [
        "reports/",
        "verifications/",
        "integrity/runs/",
        "productions/",
    ]
    .iter()
    .find_map(|prefix| key.strip_prefix(prefix))?;
    // YYYY/MM/DD/… names a day; YYYY/MM/… a month.
    let parts: Vec<&str> = rest.splitn(4, '/').collect();
    let (year, month) = (parts.first()?, parts.get(1)?);
    let day = parts.get(2).filter(|_| parts.len() == 4);
    match day {
        Some(day) if is_day(&format!("{year}-{month}-{day}")) => {
            let day = format!("{year}-{month}-{day}");
            Some((day.clone(), day))
        }
        _ if is_day(&format!("{year}-{month}-01")) => {
            Some((format!("{year}-{month}-01"), format!("{year}-{month}-31")))
        }
        _ => None,
    }
}

fn is_day(text: &str) -> bool {
    text.len() == 10 && Timestamp::parse_canonical(&format!("{text}T00:00:00.000000Z")).is_ok()
}

/// `evidence.json`: what an offline verifier needs to know about each file of the folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// [`EVIDENCE_FORMAT`].
    pub format: String,
    pub bucket: String,
    /// The period asked for; `None` for everything.
    pub period: Option<Period>,
    /// When the export finished, and who made it (the caller's IAM principal).
    pub exported_at: Timestamp,
    pub exported_by: String,
    /// Every object exported, in key order.
    pub objects: Vec<EvidenceObject>,
    /// Objects selected but not exported, because their key cannot be a path in the folder.
    pub not_exported: Vec<NotExported>,
}

/// One exported object: its original version, as written to `DIR/<key>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceObject {
    pub key: String,
    /// The original version's id: the one downloaded.
    pub version_id: String,
    /// SHA-256 of the bytes written (hex).
    pub sha256: Hash,
    pub bytes: u64,
    /// Versions the key has: 1 when untouched; more when it was written over later (the newer
    /// versions are not evidence, and are not exported).
    pub versions: usize,
    /// The Object Lock of this version as S3 reports it.
    pub retention: Retention,
    /// `AES256` or `aws:kms`; `None` when unencrypted.
    pub server_side_encryption: Option<String>,
    /// S3's stored SHA-256 of the whole object, when it has one (not for multipart objects);
    /// equal to `sha256` for every object exported.
    pub s3_sha256: Option<Hash>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// `COMPLIANCE` or `GOVERNANCE`; `None` when the version is not locked.
    pub mode: Option<String>,
    pub retain_until: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotExported {
    pub key: String,
    pub version_id: String,
    pub reason: String,
}

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub out: PathBuf,
    pub period: Option<Period>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Who is exporting (the caller's principal ARN), for the audit event and `evidence.json`.
    pub actor: String,
    pub request_id: String,
}

/// What an export did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub objects: usize,
    /// Objects fetched by this run.
    pub downloaded: usize,
    /// Objects already in the folder with the right SHA-256 (a resumed export).
    pub already_present: usize,
    pub bytes: u64,
    /// Keys with newer versions over the original exported.
    pub overwritten: Vec<String>,
    pub not_exported: Vec<NotExported>,
}

impl std::fmt::Display for ExportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exported {} objects ({} bytes): {} downloaded, {} already present; {} overwritten key(s), original exported; {} not exported",
            self.objects,
            self.bytes,
            self.downloaded,
            self.already_present,
            self.overwritten.len(),
            self.not_exported.len()
        )
    }
}

/// The first line of the journal, naming what is being exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JournalHeader {
    format: String,
    bucket: String,
    period: Option<Period>,
}

/// A journal line: one object written completely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JournalEntry {
    key: String,
    version_id: String,
    sha256: Hash,
    bytes: u64,
}

/// One object to export.
struct Selected {
    original: Original,
    protection: shared::ports::ObjectProtection,
}

/// Exports the evidence of `vault`'s bucket into `options.out` (see the module's promises).
pub async fn export_evidence(
    vault: &S3Vault,
    audit: &impl AuditSink,
    now: impl Fn() -> Timestamp,
    options: &ExportOptions,
) -> anyhow::Result<ExportSummary> {
    let out = &options.out;
    let header = JournalHeader {
        format: EVIDENCE_FORMAT.to_owned(),
        bucket: vault.bucket().to_owned(),
        period: options.period.clone(),
    };
    let known = previous_export(out, &header)?;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    let Selection {
        selected,
        not_exported,
    } = select_objects(vault, options).await?;
    let total_bytes: u64 = selected.iter().map(|s| s.original.version.size).sum();
    record_read(audit, &now, options, &header, &selected, total_bytes).await?;

    let copied = copy_objects(vault, options, &header, &known, selected, total_bytes).await?;
    let summary = ExportSummary {
        objects: copied.objects.len(),
        downloaded: copied.downloaded,
        already_present: copied.already_present,
        bytes: copied.bytes,
        overwritten: copied.overwritten,
        not_exported: not_exported.clone(),
    };
    let evidence = Evidence {
        format: EVIDENCE_FORMAT.to_owned(),
        bucket: header.bucket,
        period: header.period,
        exported_at: now(),
        exported_by: options.actor.clone(),
        objects: copied.objects,
        not_exported,
    };
    write_evidence(out, &evidence)?;
    Ok(summary)
}

/// The objects an export takes, and those it must leave out.
struct Selection {
    /// Every original to export, with its lock, in key order.
    selected: Vec<Selected>,
    /// Originals whose key cannot be a path in the folder.
    not_exported: Vec<NotExported>,
}

/// Lists the original version of every key of the evidence prefixes (within `options.period`),
/// sets aside those whose key cannot be a file in the folder, and reads the lock of the rest.
async fn select_objects(vault: &S3Vault, options: &ExportOptions) -> anyhow::Result<Selection> {
    let mut listed = Vec::new();
    for prefix in PREFIXES {
        listed.extend(
            vault::list_originals(vault, prefix)
                .await?
                .into_iter()
                .filter(|original| {
                    options
                        .period
                        .as_ref()
                        .is_none_or(|p| p.selects(original.key()))
                }),
        );
    }
    let folders = folder_keys(listed.iter().map(Original::key));
    let mut selected = Vec::new();
    let mut not_exported = Vec::new();
    for original in listed {
        let path = match folders.contains(original.key()) {
            true => Err(
                "other keys lie under it as under a folder, so it cannot be a file \
                 beside them"
                    .to_owned(),
            ),
            false => relative_path(original.key()).map(drop),
        };
        if let Err(reason) = path {
            not_exported.push(NotExported {
                key: original.key().to_owned(),
                version_id: original.version_id().to_owned(),
                reason,
            });
            continue;
        }
        let protection = vault
            .protection(original.key(), original.version_id())
            .await?;
        selected.push(Selected {
            original,
            protection,
        });
    }
    selected.sort_by(|a, b| a.original.key().cmp(b.original.key()));
    Ok(Selection {
        selected,
        not_exported,
    })
}

/// What copying the selected objects into the folder did.
struct Copied {
    /// One record per object, in key order.
    objects: Vec<EvidenceObject>,
    downloaded: usize,
    already_present: usize,
    bytes: u64,
    overwritten: Vec<String>,
}

/// Puts every selected object into the folder (kept when already there with the right SHA-256,
/// downloaded otherwise), journalling each one as soon as it is complete.
async fn copy_objects(
    vault: &S3Vault,
    options: &ExportOptions,
    header: &JournalHeader,
    known: &BTreeMap<(String, String), Hash>,
    selected: Vec<Selected>,
    total_bytes: u64,
) -> anyhow::Result<Copied> {
    let mut journal = open_journal(&options.out, header)?;
    let bar = progress_bar(options.progress, total_bytes)?;
    let mut copied = Copied {
        objects: Vec::with_capacity(selected.len()),
        downloaded: 0,
        already_present: 0,
        bytes: 0,
        overwritten: Vec::new(),
    };
    for Selected {
        original,
        protection,
    } in selected
    {
        let (key, version_id) = (original.key(), original.version_id());
        let path = options
            .out
            .join(relative_path(key).map_err(anyhow::Error::msg)?);
        bar.set_message(key.to_owned());
        let fetched = fetch_object(vault, &path, known, &original, &protection).await?;
        if fetched.downloaded {
            copied.downloaded += 1;
        } else {
            copied.already_present += 1;
        }
        let entry = JournalEntry {
            key: key.to_owned(),
            version_id: version_id.to_owned(),
            sha256: fetched.sha256,
            bytes: fetched.bytes,
        };
        writeln!(journal, "{}", serde_json::to_string(&entry)?)?;
        journal.flush()?;
        bar.inc(original.version.size);
        copied.bytes += fetched.bytes;
        if original.overwritten() {
            copied.overwritten.push(key.to_owned());
        }
        copied
            .objects
            .push(evidence_object(original, &protection, &fetched));
    }
    bar.finish_and_clear();
    drop(journal);
    Ok(copied)
}

/// One object's bytes in the folder.
struct Fetched {
    sha256: Hash,
    bytes: u64,
    /// Fetched by this run (not already present).
    downloaded: bool,
}

/// Keeps the file at `path` when it already holds this version, else downloads the version there
/// and checks it against the SHA-256 S3 stores.
async fn fetch_object(
    vault: &S3Vault,
    path: &Path,
    known: &BTreeMap<(String, String), Hash>,
    original: &Original,
    protection: &shared::ports::ObjectProtection,
) -> anyhow::Result<Fetched> {
    let (key, version_id) = (original.key(), original.version_id());
    // A file already there counts only with the SHA-256 S3 stores for this version, or the
    // one this export recorded when it wrote it.
    let expected = protection
        .sha256
        .or_else(|| known.get(&(key.to_owned(), version_id.to_owned())).copied());
    let present = match expected {
        Some(expected) => file_sha256(path)?.filter(|(hash, _)| *hash == expected),
        None => None,
    };
    if let Some((sha256, bytes)) = present {
        return Ok(Fetched {
            sha256,
            bytes,
            downloaded: false,
        });
    }
    let (sha256, bytes) = download(vault, key, version_id, path).await?;
    if let Some(stored) = protection.sha256
        && stored != sha256
    {
        bail!(
            "{key} version {version_id}: the bytes downloaded hash to {sha256}, but S3 stores SHA-256 {stored}"
        );
    }
    Ok(Fetched {
        sha256,
        bytes,
        downloaded: true,
    })
}

/// The `evidence.json` record of one object put into the folder.
fn evidence_object(
    original: Original,
    protection: &shared::ports::ObjectProtection,
    fetched: &Fetched,
) -> EvidenceObject {
    EvidenceObject {
        key: original.key().to_owned(),
        version_id: original.version_id().to_owned(),
        sha256: fetched.sha256,
        bytes: fetched.bytes,
        versions: original.versions,
        retention: Retention {
            mode: protection.lock_mode.clone(),
            retain_until: protection.retain_until,
        },
        server_side_encryption: protection.server_side_encryption.clone(),
        s3_sha256: protection.sha256,
    }
}

/// Writes `evidence.json` (atomically), then removes the journal: the export is finished.
fn write_evidence(out: &Path, evidence: &Evidence) -> anyhow::Result<()> {
    let mut record = serde_json::to_vec_pretty(evidence)?;
    record.push(b'\n');
    write_atomically(&out.join(EVIDENCE_FILE), &record)?;
    fs::remove_file(out.join(JOURNAL_FILE))
        .with_context(|| format!("cannot remove {}", out.join(JOURNAL_FILE).display()))?;
    Ok(())
}

/// What a previous export into `out` recorded (key and version → SHA-256), after checking that
/// `out` is empty, missing, or an export of the same bucket and period.
fn previous_export(
    out: &Path,
    header: &JournalHeader,
) -> anyhow::Result<BTreeMap<(String, String), Hash>> {
    let mut known = BTreeMap::new();
    let empty = match fs::read_dir(out) {
        Ok(mut entries) => entries.next().is_none(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => true,
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", out.display()));
        }
    };
    if empty {
        return Ok(known);
    }
    let refuse = |why: String| {
        anyhow::anyhow!(
            "{} is not empty and {why}: export into an empty or new folder, or into the folder of an earlier export of bucket {} with the same period to resume it",
            out.display(),
            header.bucket
        )
    };
    let mut found = None;
    if let Some(evidence) = read_if_present(&out.join(EVIDENCE_FILE))? {
        let evidence: Evidence = serde_json::from_slice(&evidence)
            .map_err(|e| refuse(format!("its {EVIDENCE_FILE} is not an export record ({e})")))?;
        found = Some((evidence.bucket.clone(), evidence.period.clone()));
        for object in evidence.objects {
            known.insert((object.key, object.version_id), object.sha256);
        }
    }
    if let Some(journal) = read_if_present(&out.join(JOURNAL_FILE))? {
        let mut lines = journal.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        let first: JournalHeader = lines
            .next()
            .and_then(|line| serde_json::from_slice(line).ok())
            .ok_or_else(|| refuse(format!("its {JOURNAL_FILE} is not an export journal")))?;
        found = Some((first.bucket, first.period));
        // A line cut short by an interruption is ignored: its object is fetched again.
        for entry in lines.filter_map(|line| serde_json::from_slice::<JournalEntry>(line).ok()) {
            known.insert((entry.key, entry.version_id), entry.sha256);
        }
    }
    match found {
        None => Err(refuse(format!(
            "holds no earlier export ({EVIDENCE_FILE} or {JOURNAL_FILE})"
        ))),
        Some((bucket, _)) if bucket != header.bucket => Err(refuse(format!(
            "holds an export of bucket {bucket}, not {}",
            header.bucket
        ))),
        Some((_, period)) if period != header.period => Err(refuse(format!(
            "holds an export of another period ({})",
            describe(period.as_ref())
        ))),
        Some(_) => Ok(known),
    }
}

fn describe(period: Option<&Period>) -> String {
    period.map_or("everything".to_owned(), |p| {
        format!("{} to {}", p.from, p.to)
    })
}

fn read_if_present(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The journal, opened for appending (with its header line when new).
fn open_journal(out: &Path, header: &JournalHeader) -> anyhow::Result<BufWriter<fs::File>> {
    let path = out.join(JOURNAL_FILE);
    let new = !path.exists();
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut journal = BufWriter::new(file);
    if new {
        writeln!(journal, "{}", serde_json::to_string(header)?)?;
        journal.flush()?;
    }
    Ok(journal)
}

/// The keys that are also folders of other keys (`a/b` beside `a/b/c`): such a key cannot be a
/// file in the export, and a planted one must not stop the export of the others.
fn folder_keys<'a>(keys: impl Iterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    let keys: std::collections::BTreeSet<&str> = keys.collect();
    keys.iter()
        .filter(|key| {
            let folder = format!("{key}/");
            keys.range(folder.as_str()..)
                .next()
                .is_some_and(|next| next.starts_with(&folder))
        })
        .map(|key| (*key).to_owned())
        .collect()
}

/// The folder path of a key: its `/`-separated parts, each a plain file name. A key that could
/// leave the folder or name something else (`..`, `.`, an empty part, a backslash, a NUL, or
/// the names this export keeps for itself) is refused with the reason.
fn relative_path(key: &str) -> Result<PathBuf, String> {
    let mut path = PathBuf::new();
    for part in key.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(format!(
                "the key has a part {part:?}, which cannot be a file name"
            ));
        }
        if part.contains(['\\', '\0']) {
            return Err("the key holds a backslash or NUL".to_owned());
        }
        if part.ends_with(PART_SUFFIX) {
            return Err(format!(
                "the key ends in {PART_SUFFIX}, which partial downloads use"
            ));
        }
        path.push(part);
    }
    Ok(path)
}

/// SHA-256 and size of a file, or `None` when there is none.
pub fn file_sha256(path: &Path) -> anyhow::Result<Option<(Hash, u64)>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(chunk);
        let read = chunk.len();
        bytes += read as u64;
        reader.consume(read);
    }
    Ok(Some((Hash(hasher.finalize().into()), bytes)))
}

/// Writes through to a file, hashing what passes.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Streams one version to `<path>.part`, then renames it to `path`. Returns its SHA-256 and size.
async fn download(
    vault: &S3Vault,
    key: &str,
    version_id: &str,
    path: &Path,
) -> anyhow::Result<(Hash, u64)> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let partial = part_path(path);
    let file = fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut sink = HashingWriter {
        inner: BufWriter::with_capacity(1 << 16, file),
        hasher: Sha256::new(),
    };
    let bytes = vault
        .download_version(key, version_id, &mut sink)
        .await
        .with_context(|| format!("downloading {key} version {version_id}"))?;
    sink.flush()?;
    let HashingWriter { inner, hasher } = sink;
    inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(&partial, path)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))?;
    Ok((Hash(hasher.finalize().into()), bytes))
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(PART_SUFFIX);
    path.with_file_name(name)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so the file is either the
/// old one or the whole new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = part_path(path);
    let mut file = fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Audits the export as `RECORDS_READ`, before anything is downloaded.
async fn record_read(
    audit: &impl AuditSink,
    now: &impl Fn() -> Timestamp,
    options: &ExportOptions,
    header: &JournalHeader,
    selected: &[Selected],
    total_bytes: u64,
) -> anyhow::Result<()> {
    let mut by_prefix: BTreeMap<&str, u64> = BTreeMap::new();
    for object in selected {
        let key = object.original.key();
        let prefix = PREFIXES
            .iter()
            .find(|p| key.starts_with(**p))
            .copied()
            .unwrap_or("other");
        *by_prefix.entry(prefix).or_default() += 1;
    }
    let event = AuditEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: now(),
        event_type: AuditEventType::RecordsRead,
        actor: options.actor.clone(),
        request_id: options.request_id.clone(),
        signal_id: None,
        chain_index: None,
        reason: Some(format!(
            "export-evidence of bucket {} ({}): {} objects, {total_bytes} bytes, original versions",
            header.bucket,
            describe(header.period.as_ref()),
            selected.len()
        )),
        excerpt: None,
        details: json!({
            "tool": "ledgerctl export-evidence",
            "bucket": header.bucket,
            "period": header.period,
            "objects": selected.len(),
            "bytes": total_bytes,
            "objects_by_prefix": by_prefix,
            "out": options.out.display().to_string(),
        }),
    };
    audit
        .record(&event)
        .await
        .context("the export could not be audited (RECORDS_READ), so nothing was downloaded")
}

fn progress_bar(shown: bool, total: u64) -> anyhow::Result<ProgressBar> {
    if !shown {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}",
    )?);
    Ok(bar)
}

/// Reads `evidence.json` of a folder.
pub fn read_evidence(out: &Path) -> anyhow::Result<Evidence> {
    let mut text = String::new();
    fs::File::open(out.join(EVIDENCE_FILE))
        .with_context(|| format!("cannot open {}", out.join(EVIDENCE_FILE).display()))?
        .read_to_string(&mut text)?;
    Ok(serde_json::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_selects_dated_objects_by_their_day_or_month_and_undated_ones_always() {
        let period = Period::new("2026-11-28", "2026-11-29").unwrap();
        for (key, selected) in [
            ("signals/2026/11/signals_backup_20261128.csv", true),
            ("signals/2026/11/signals_backup_20261129_2.csv", true),
            ("signals/2026/11/signals_backup_20261127.csv", false),
            ("signals/2026/11/planted.csv", true),
            ("manifests/2026/11/signals_backup_20261101.json", true),
            (
                "checkpoints/00000000000000000007-20260101T000000000000Z.txt",
                true,
            ),
            (
                "integrity/audit-seals/00000000000000000000-20260101T000000000000Z.events",
                true,
            ),
            ("integrity/keys/ab.der", true),
            (
                "integrity/runs/2026/11/29/20261129T030000000000Z-full.json",
                true,
            ),
            (
                "integrity/runs/2026/11/30/20261130T030000000000Z-full.json",
                false,
            ),
            ("verifications/2026/11/27/x-latest.json", false),
            ("reports/2026/11/compliance-report-2026-11.html", true),
            ("reports/2026/10/compliance-report-2026-10.html", false),
            ("reports/2026/12/compliance-report-2026-12.json", false),
        ] {
            assert_eq!(period.selects(key), selected, "{key}");
        }
    }

    #[test]
    fn a_period_is_two_real_days_in_order() {
        assert!(Period::new("2026-11-28", "2026-11-28").is_ok());
        for (from, to, words) in [
            ("2026-11-29", "2026-11-28", "is after"),
            ("2026-02-30", "2026-03-01", "not a date"),
            ("20261128", "2026-11-29", "not a date"),
            ("2026-11-28", "2026-11-28T00", "not a date"),
        ] {
            let error = Period::new(from, to).unwrap_err().to_string();
            assert!(error.contains(words), "{from} {to}: {error}");
        }
    }

    #[test]
    fn a_key_that_is_also_a_folder_of_other_keys_is_found() {
        let keys = [
            "reports/2026",
            "reports/2026/11/a.json",
            "reports/2026-x",
            "signals/a",
        ];
        let folders = folder_keys(keys.into_iter());
        assert_eq!(folders.into_iter().collect::<Vec<_>>(), ["reports/2026"]);
    }

    #[test]
    fn keys_that_could_leave_the_folder_are_refused() {
        assert_eq!(
            relative_path("signals/2026/11/a.csv").unwrap(),
            PathBuf::from("signals/2026/11/a.csv")
        );
        for key in [
            "signals/../../etc/passwd",
            "signals//a",
            "signals/./a",
            "/signals/a",
            "signals/a\\b",
            "signals/a.part",
        ] {
            assert!(relative_path(key).is_err(), "{key}");
        }
    }
}
