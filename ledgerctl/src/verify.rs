//! `ledgerctl verify-evidence`: verifies an evidence folder offline — no credentials, no
//! network — with public keys handed over out of band. Owns reading the folder (checking each
//! file against `evidence.json`) and the verdict; the checks themselves are
//! [`shared::app::verify_evidence`], run over a read-only [`FolderVault`].
//!
//! Promises:
//! - Exit 0 only when everything checked is verified; 1 on a finding (naming the file and the
//!   row, line or chain index); 2 when the evidence is incomplete (a file `evidence.json` lists,
//!   or one other evidence names, is not in the folder) or cannot be judged (an unreadable key,
//!   an unreadable `evidence.json`). An incomplete folder is 2 even beside findings, which are
//!   still listed.
//! - A plain `aws s3 sync` copy (no `evidence.json`) is verified as far as it can be, and the
//!   verdict says which checks such a copy cannot make.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use serde::Serialize;
use shared::adapters::folder::{Body, FolderObject, FolderVault};
use shared::app::verify_evidence::{EvidenceFinding, GivenKeys, verify_evidence};
use shared::domain::checkpoint::is_p256_public_key;
use shared::domain::hash::Hash;
use shared::ports::ObjectProtection;

use crate::export::{EVIDENCE_FILE, EVIDENCE_FORMAT, Evidence, JOURNAL_FILE, read_evidence};

/// What a sync copy cannot show, said in every verdict on one.
pub const SYNC_COPY_LIMITS: [&str; 3] = [
    "original versions: a sync copy holds each key's latest version, so an overwrite cannot be told from the original",
    "retention and encryption: the copy records no Object Lock mode, retain-until or encryption",
    "completeness: no record lists what the vault held, so a file missing from the copy is noticed only where other evidence names it",
];

/// Prefixes whose objects the ledger always writes COMPLIANCE-locked.
const LOCKED_PREFIXES: [&str; 3] = ["manifests/", "signals/", "checkpoints/"];

/// A public key file: its name and its DER SubjectPublicKeyInfo.
#[derive(Debug, Clone, Serialize)]
pub struct KeySeen {
    pub file: String,
    /// SHA-256 of the DER SubjectPublicKeyInfo, to compare with the fingerprint handed over.
    pub fingerprint: Hash,
}

/// The verdict, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `verified`, `findings` or `incomplete`.
    pub verdict: &'static str,
    pub exit_code: u8,
    pub folder: String,
    /// `export` (with `evidence.json`) or `sync` (a plain copy).
    pub copy: &'static str,
    pub keys: Vec<KeySeen>,
    pub origin: Option<String>,
    pub files_checked: u64,
    pub manifests_checked: u64,
    pub rows_checked: u64,
    pub backed_up_to: u64,
    pub checkpoints_checked: u64,
    pub checkpointed_size: u64,
    pub leaves_checked: u64,
    pub leaves_matched_to_rows: u64,
    pub findings: Vec<EvidenceFinding>,
    /// Files the evidence should hold but the folder does not: `(key, why expected)`.
    pub missing: Vec<(String, String)>,
    /// Objects other evidence names that the export left out on purpose (another period).
    pub out_of_period: Vec<String>,
    /// Files in the folder that `evidence.json` does not list: not evidence, not verified.
    pub unlisted: Vec<String>,
    /// Checks this copy cannot make.
    pub cannot_check: Vec<&'static str>,
}

impl Verdict {
    /// The text report, one line per finding.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "evidence folder {} ({})",
            self.folder,
            match self.copy {
                "export" => "an export with evidence.json",
                _ => "a plain copy without evidence.json",
            }
        ));
        for key in &self.keys {
            line(format!(
                "trusted key {} (SHA-256 of its DER: {})",
                key.file, key.fingerprint
            ));
        }
        line(format!(
            "checkpoint origin: {}",
            self.origin.as_deref().unwrap_or("none verified")
        ));
        line(format!(
            "checked: {} files; {} manifests, {} rows (entries 0..{} backed up); {} checkpoints (size {}), {} leaves, {} compared with backed-up rows",
            self.files_checked,
            self.manifests_checked,
            self.rows_checked,
            self.backed_up_to,
            self.checkpoints_checked,
            self.checkpointed_size,
            self.leaves_checked,
            self.leaves_matched_to_rows
        ));
        for limit in &self.cannot_check {
            line(format!("cannot check: {limit}"));
        }
        for key in &self.out_of_period {
            line(format!("not checked (outside the exported period): {key}"));
        }
        for key in &self.unlisted {
            line(format!("ignored (not listed in evidence.json): {key}"));
        }
        for finding in &self.findings {
            let at = finding
                .location
                .as_ref()
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            line(format!(
                "FINDING {}{at}: {} — {}",
                finding.file, finding.kind, finding.message
            ));
        }
        for (key, why) in &self.missing {
            line(format!("MISSING {key}: {why}"));
        }
        line(match self.verdict {
            "verified" => "verdict: verified".to_owned(),
            "incomplete" => format!(
                "verdict: incomplete ({} file(s) missing, {} finding(s))",
                self.missing.len(),
                self.findings.len()
            ),
            _ => format!("verdict: {} finding(s)", self.findings.len()),
        });
        out
    }
}

/// Reads a public key file: DER SubjectPublicKeyInfo (what `aws kms get-public-key --query
/// PublicKey --output text | base64 -d` writes) or PEM (`-----BEGIN PUBLIC KEY-----`). Refuses
/// anything that is not a P-256 key.
pub fn read_public_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let der = match std::str::from_utf8(&bytes) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") => {
            let body: String = text
                .lines()
                .map(str::trim)
                .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
                .skip(1)
                .take_while(|l| *l != "-----END PUBLIC KEY-----")
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .with_context(|| format!("{}: the PEM body is not base64", path.display()))?
        }
        _ => bytes,
    };
    if !is_p256_public_key(&der) {
        bail!(
            "{} is not a P-256 public key as DER SubjectPublicKeyInfo or PEM",
            path.display()
        );
    }
    Ok(der)
}

/// Every regular file under `dir`, as vault keys (`/`-separated relative paths), sorted.
fn walk(dir: &Path) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in
            fs::read_dir(&folder).with_context(|| format!("cannot list {}", folder.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(dir)?;
                let key = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                files.insert(key, path);
            }
        }
    }
    Ok(files)
}

/// The folder read: the vault view for the checks, and what the reading itself found.
struct Folder {
    vault: FolderVault,
    evidence: Option<Evidence>,
    files_checked: u64,
    findings: Vec<EvidenceFinding>,
    missing: Vec<(String, String)>,
    unlisted: Vec<String>,
}

fn finding(file: &str, kind: &str, message: String) -> EvidenceFinding {
    EvidenceFinding {
        file: file.to_owned(),
        location: None,
        kind: kind.to_owned(),
        message,
    }
}

/// Reads the folder: with `evidence.json`, checks every listed file's SHA-256 and size, its
/// version count and lock; without it, takes every file as the latest version of its key.
fn read_folder(dir: &Path) -> anyhow::Result<Folder> {
    let present = walk(dir)?;
    if !present.contains_key(EVIDENCE_FILE) {
        let files_checked = present.len() as u64;
        let objects = present
            .into_iter()
            .map(|(key, path)| {
                (
                    key,
                    FolderObject {
                        version_id: None,
                        protection: None,
                        body: Body::File(path),
                    },
                )
            })
            .collect();
        return Ok(Folder {
            vault: FolderVault::new(objects),
            evidence: None,
            files_checked,
            findings: Vec::new(),
            missing: Vec::new(),
            unlisted: Vec::new(),
        });
    }
    let evidence = read_evidence(dir).with_context(|| {
        format!(
            "{} is not a readable {EVIDENCE_FORMAT} record",
            dir.join(EVIDENCE_FILE).display()
        )
    })?;
    if evidence.format != EVIDENCE_FORMAT {
        bail!(
            "{}: format {:?}, not {EVIDENCE_FORMAT:?}",
            EVIDENCE_FILE,
            evidence.format
        );
    }
    let (mut findings, mut missing) = (Vec::new(), Vec::new());
    let mut objects = BTreeMap::new();
    for object in &evidence.objects {
        let Some(path) = present.get(&object.key) else {
            missing.push((object.key.clone(), format!("listed in {EVIDENCE_FILE}")));
            continue;
        };
        let (sha256, bytes) = crate::export::file_sha256(path)?
            .with_context(|| format!("{} disappeared while it was read", path.display()))?;
        if sha256 != object.sha256 || bytes != object.bytes {
            findings.push(finding(
                &object.key,
                "file_hash_mismatch",
                format!(
                    "the file (SHA-256 {sha256}, {bytes} bytes) is not what {EVIDENCE_FILE} records (SHA-256 {}, {} bytes)",
                    object.sha256, object.bytes
                ),
            ));
        }
        if object.versions > 1 {
            findings.push(finding(
                &object.key,
                "overwritten",
                format!(
                    "the key has {} versions in the vault: it was written over after the original (the folder holds the original)",
                    object.versions
                ),
            ));
        }
        if LOCKED_PREFIXES.iter().any(|p| object.key.starts_with(p))
            && object.retention.mode.as_deref() != Some("COMPLIANCE")
        {
            findings.push(finding(
                &object.key,
                "not_locked",
                format!(
                    "its version is not COMPLIANCE-locked (mode {:?})",
                    object.retention.mode
                ),
            ));
        }
        objects.insert(
            object.key.clone(),
            FolderObject {
                version_id: Some(object.version_id.clone()),
                protection: Some(ObjectProtection {
                    lock_mode: object.retention.mode.clone(),
                    retain_until: object.retention.retain_until,
                    server_side_encryption: object.server_side_encryption.clone(),
                    sha256: object.s3_sha256,
                }),
                body: Body::File(path.clone()),
            },
        );
    }
    for skipped in &evidence.not_exported {
        findings.push(finding(
            &skipped.key,
            "planted_object",
            format!(
                "version {} is in the vault but could not be exported: {}",
                skipped.version_id, skipped.reason
            ),
        ));
    }
    let unlisted = present
        .keys()
        .filter(|k| *k != EVIDENCE_FILE && *k != JOURNAL_FILE && !objects.contains_key(*k))
        .cloned()
        .collect();
    Ok(Folder {
        vault: FolderVault::new(objects),
        files_checked: evidence.objects.len() as u64,
        evidence: Some(evidence),
        findings,
        missing,
        unlisted,
    })
}

/// Verifies the folder `dir` with the public keys in `key_files` (see the module's promises).
pub async fn verify_folder(
    dir: &Path,
    key_files: &[PathBuf],
    origin: Option<&str>,
) -> anyhow::Result<Verdict> {
    if key_files.is_empty() {
        bail!("give at least one --public-key");
    }
    let mut keys = Vec::new();
    let mut seen = Vec::new();
    for path in key_files {
        let der = read_public_key(path)?;
        let label = path.display().to_string();
        seen.push(KeySeen {
            file: label.clone(),
            fingerprint: Hash::sha256(&der),
        });
        keys.push((label, der));
    }
    let folder = read_folder(dir)?;
    let report = verify_evidence(&folder.vault, &GivenKeys::new(keys), origin)
        .await
        .context("cannot verify the evidence")?;
    let mut findings = folder.findings;
    findings.extend(report.findings);
    let mut missing = folder.missing;
    let mut out_of_period = Vec::new();
    for (key, named_by) in report.absent {
        let listed = folder
            .evidence
            .as_ref()
            .is_some_and(|e| e.objects.iter().any(|o| o.key == key));
        let period = folder.evidence.as_ref().and_then(|e| e.period.as_ref());
        if listed {
            // Already missing (listed but absent), or its recorded version is not the one named.
            if !missing.iter().any(|(k, _)| *k == key) {
                findings.push(finding(
                    &key,
                    "version_mismatch",
                    format!("{named_by} names a version of it other than the one exported"),
                ));
            }
        } else if period.is_some_and(|p| !p.selects(&key)) {
            out_of_period.push(key);
        } else {
            missing.push((key, format!("named by {named_by}")));
        }
    }
    let (verdict, exit_code) = if !missing.is_empty() {
        ("incomplete", 2)
    } else if !findings.is_empty() {
        ("findings", 1)
    } else {
        ("verified", 0)
    };
    let sync = folder.evidence.is_none();
    Ok(Verdict {
        verdict,
        exit_code,
        folder: dir.display().to_string(),
        copy: if sync { "sync" } else { "export" },
        keys: seen,
        origin: report.origin,
        files_checked: folder.files_checked,
        manifests_checked: report.manifests_checked,
        rows_checked: report.rows_checked,
        backed_up_to: report.backed_up_to,
        checkpoints_checked: report.checkpoints_checked,
        checkpointed_size: report.checkpointed_size,
        leaves_checked: report.leaves_checked,
        leaves_matched_to_rows: report.leaves_matched_to_rows,
        findings,
        missing,
        out_of_period,
        unlisted: folder.unlisted,
        cannot_check: if sync {
            SYNC_COPY_LIMITS.to_vec()
        } else {
            Vec::new()
        },
    })
}
