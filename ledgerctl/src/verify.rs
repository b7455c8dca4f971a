//! `ledgerctl verify-evidence`: verifies an evidence folder offline — no credentials, no
//! network — with public keys handed over out of band. Owns reading the folder (checking each
//! file against `evidence.json`) and the verdict; the checks themselves are
//! [`shared::app::verify_evidence`], run over a read-only [`FolderVault`].
//!
//! Promises:
//! - Nothing but the folder and the key files is read: no credentials, no network.
//! - Exit 0 only when everything checked is verified; 1 on a finding (naming the file and the
//!   row, line or chain index); 2 when the evidence is incomplete (a file `evidence.json` lists,
//!   or one other evidence names, is not in the folder) or cannot be judged (an unreadable key,
//!   an unreadable `evidence.json`). An incomplete folder is 2 even beside findings, which are
//!   still listed.
//! - A plain `aws s3 sync` copy (no `evidence.json`) is verified as far as it can be, and the
//!   verdict says which checks such a copy cannot make.
//! - Each file is read and hashed once: a listed file verification reads whole is checked
//!   against `evidence.json` with the SHA-256 of the very bytes verified.

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

use crate::export::{
    EVIDENCE_FILE, EVIDENCE_FORMAT, Evidence, EvidenceObject, JOURNAL_FILE, read_evidence,
};

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
    pub receipts_checked: u64,
    pub backed_up_to: u64,
    pub checkpoints_checked: u64,
    pub checkpointed_size: u64,
    pub leaves_checked: u64,
    pub leaves_matched_to_rows: u64,
    pub seals_checked: u64,
    pub audit_events_sealed: u64,
    /// Report files compared with their report record's hash (ledger-format §12.1).
    pub reports_checked: u64,
    /// The findings (the first thousand of the checks proper, and every one about the folder).
    pub findings: Vec<EvidenceFinding>,
    /// All findings, including those not listed.
    pub findings_total: u64,
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
            "checked: {} files; {} manifests, {} rows (entries 0..{} backed up), {} receipts; {} checkpoints (size {}), {} leaves, {} compared with backed-up rows; {} audit seals ({} events); {} reports",
            self.files_checked,
            self.manifests_checked,
            self.rows_checked,
            self.backed_up_to,
            self.receipts_checked,
            self.checkpoints_checked,
            self.checkpointed_size,
            self.leaves_checked,
            self.leaves_matched_to_rows,
            self.seals_checked,
            self.audit_events_sealed,
            self.reports_checked
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
                self.findings_total
            ),
            _ => format!(
                "verdict: {} finding(s){}",
                self.findings_total,
                if self.findings_total > self.findings.len() as u64 {
                    format!(", the first {} listed", self.findings.len())
                } else {
                    String::new()
                }
            ),
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
    /// The listed files the folder holds, by their position in `evidence.json`: checked
    /// against their records ([`check_listed_files`]) once verification has read them.
    listed: Vec<(usize, PathBuf)>,
    /// Findings about the folder itself that come after those of the listed files.
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

/// Reads the folder: with `evidence.json`, serves each listed file at its recorded version and
/// protection (its SHA-256, size, versions and lock are checked by [`check_listed_files`]);
/// without it, takes every file as the latest version of its key.
fn read_folder(dir: &Path) -> anyhow::Result<Folder> {
    let present = walk(dir)?;
    if !present.contains_key(EVIDENCE_FILE) {
        return Ok(read_sync_copy(present));
    }
    let evidence = read_listed_evidence(dir)?;
    let (mut findings, mut missing, mut listed) = (Vec::new(), Vec::new(), Vec::new());
    let mut objects = BTreeMap::new();
    for (position, object) in evidence.objects.iter().enumerate() {
        let Some(path) = present.get(&object.key) else {
            missing.push((object.key.clone(), format!("listed in {EVIDENCE_FILE}")));
            continue;
        };
        objects.insert(object.key.clone(), listed_object(object, path));
        listed.push((position, path.clone()));
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
        listed,
        findings,
        missing,
        unlisted,
    })
}

/// A plain copy (no `evidence.json`): every file is the latest version of its key, with no
/// recorded version id or protection.
fn read_sync_copy(present: BTreeMap<String, PathBuf>) -> Folder {
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
    Folder {
        vault: FolderVault::new(objects),
        evidence: None,
        files_checked,
        listed: Vec::new(),
        findings: Vec::new(),
        missing: Vec::new(),
        unlisted: Vec::new(),
    }
}

/// The folder's `evidence.json`, refused when unreadable or of another format.
fn read_listed_evidence(dir: &Path) -> anyhow::Result<Evidence> {
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
    Ok(evidence)
}

/// A file `evidence.json` lists, as the vault serves it: with the version id and protection
/// recorded.
fn listed_object(object: &EvidenceObject, path: &Path) -> FolderObject {
    FolderObject {
        version_id: Some(object.version_id.clone()),
        protection: Some(ObjectProtection {
            lock_mode: object.retention.mode.clone(),
            retain_until: object.retention.retain_until,
            server_side_encryption: object.server_side_encryption.clone(),
            sha256: object.s3_sha256,
        }),
        body: Body::File(path.to_path_buf()),
    }
}

/// Checks each listed file the folder holds against its record, in `evidence.json`'s order.
/// The SHA-256 and size are those of the bytes verification read (`read_digests`) where it read
/// the whole file — the large ones: CSVs, leaf-hash and events files, reports — so that each is
/// read and hashed once; any other file is hashed here.
fn check_listed_files(
    evidence: Option<&Evidence>,
    listed: &[(usize, PathBuf)],
    read_digests: &BTreeMap<String, (Hash, u64)>,
) -> anyhow::Result<Vec<EvidenceFinding>> {
    let mut findings = Vec::new();
    let Some(evidence) = evidence else {
        return Ok(findings);
    };
    for (position, path) in listed {
        let object = &evidence.objects[*position];
        let digest = match read_digests.get(&object.key) {
            Some(digest) => *digest,
            None => crate::export::file_sha256(path)?
                .with_context(|| format!("{} disappeared while it was read", path.display()))?,
        };
        check_listed_file(object, digest, &mut findings);
    }
    Ok(findings)
}

/// Checks a file `evidence.json` lists against its record (SHA-256 and size, versions, lock
/// where the ledger always locks), adding to `findings`.
fn check_listed_file(
    object: &EvidenceObject,
    (sha256, bytes): (Hash, u64),
    findings: &mut Vec<EvidenceFinding>,
) {
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
}

/// The public keys given, read and labelled by their file, and what the verdict shows of them.
struct KeysRead {
    keys: Vec<(String, Vec<u8>)>,
    seen: Vec<KeySeen>,
}

/// Reads every key file (at least one is needed); each must be a P-256 public key.
fn read_keys(key_files: &[PathBuf]) -> anyhow::Result<KeysRead> {
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
    Ok(KeysRead { keys, seen })
}

/// What the objects other evidence names but the folder lacks come to, beyond those added to
/// `missing`.
struct Absences {
    /// Left out on purpose: outside the exported period.
    out_of_period: Vec<String>,
    /// Listed in `evidence.json` under another version than the one named.
    version_mismatches: Vec<EvidenceFinding>,
}

/// Sorts each absent object (`(key, named by)`): a listed one is a version mismatch unless it is
/// already missing; one outside the exported period is left out on purpose; any other is
/// missing, added to `missing`.
fn judge_absent(
    evidence: Option<&Evidence>,
    absent: Vec<(String, String)>,
    missing: &mut Vec<(String, String)>,
) -> Absences {
    let mut out_of_period = Vec::new();
    let mut version_mismatches = Vec::new();
    for (key, named_by) in absent {
        let listed = evidence.is_some_and(|e| e.objects.iter().any(|o| o.key == key));
        let period = evidence.and_then(|e| e.period.as_ref());
        if listed {
            // Already missing (listed but absent), or its recorded version is not the one named.
            if !missing.iter().any(|(k, _)| *k == key) {
                version_mismatches.push(finding(
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
    Absences {
        out_of_period,
        version_mismatches,
    }
}

/// Verifies the folder `dir` with the public keys in `key_files` (see the module's promises).
pub async fn verify_folder(
    dir: &Path,
    key_files: &[PathBuf],
    origin: Option<&str>,
) -> anyhow::Result<Verdict> {
    let KeysRead { keys, seen } = read_keys(key_files)?;
    let folder = read_folder(dir)?;
    let report = verify_evidence(&folder.vault, &GivenKeys::new(keys), origin)
        .await
        .context("cannot verify the evidence")?;
    let mut findings = check_listed_files(
        folder.evidence.as_ref(),
        &folder.listed,
        &report.read_digests,
    )?;
    findings.extend(folder.findings);
    let mut findings_total = findings.len() as u64 + report.findings_total;
    findings.extend(report.findings);
    let mut missing = folder.missing;
    let Absences {
        out_of_period,
        version_mismatches,
    } = judge_absent(folder.evidence.as_ref(), report.absent, &mut missing);
    findings_total += version_mismatches.len() as u64;
    findings.extend(version_mismatches);
    let (verdict, exit_code) = if !missing.is_empty() {
        ("incomplete", 2)
    } else if findings_total > 0 {
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
        receipts_checked: report.receipts_checked,
        backed_up_to: report.backed_up_to,
        checkpoints_checked: report.checkpoints_checked,
        checkpointed_size: report.checkpointed_size,
        leaves_checked: report.leaves_checked,
        leaves_matched_to_rows: report.leaves_matched_to_rows,
        seals_checked: report.seals_checked,
        audit_events_sealed: report.audit_events_sealed,
        reports_checked: report.reports_checked,
        findings,
        findings_total,
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

#[cfg(test)]
mod tests {
    //! Over the published vectors (docs/vectors) laid out as folders on disk: the checkpoint
    //! vector (a signed note and its leaf file) and the backup vector (a manifest and its CSV).

    use super::*;
    use crate::export::{EvidenceObject, Retention};
    use shared::domain::timestamp::Timestamp;

    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/");
    const NOTE: &str = "checkpoints/00000000000000000005-20261128T093000123456Z.txt";
    const LEAVES: &str = "checkpoints/00000000000000000005-20261128T093000123456Z.leaves";
    const MANIFEST: &str = "manifests/2026/11/signals_backup_20261128.json";
    const CSV: &str = "signals/2026/11/signals_backup_20261128.csv";

    fn vector() -> serde_json::Value {
        serde_json::from_slice(&fs::read(format!("{VECTORS}checkpoint.json")).unwrap()).unwrap()
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("verify-{}", uuid::Uuid::now_v7().simple()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, key: &str, bytes: &[u8]) {
        let path = dir.join(key);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    /// The vector's key, as DER and as PEM files.
    fn keys(dir: &Path) -> (PathBuf, PathBuf) {
        let vector = vector();
        let der = dir.join("key.der");
        fs::write(&der, unhex(vector["public_key_der_hex"].as_str().unwrap())).unwrap();
        let pem = dir.join("key.pem");
        fs::write(&pem, vector["public_key_pem"].as_str().unwrap()).unwrap();
        (der, pem)
    }

    /// A folder holding the checkpoint vector, and the backup vector too when `backup`.
    fn folder(backup: bool) -> PathBuf {
        let dir = scratch();
        let vector = vector();
        write(&dir, NOTE, vector["note"].as_str().unwrap().as_bytes());
        write(
            &dir,
            LEAVES,
            vector["leaf_file"].as_str().unwrap().as_bytes(),
        );
        if backup {
            for (key, file) in [
                (MANIFEST, "signals_backup_20261128.json"),
                (CSV, "signals_backup_20261128.csv"),
            ] {
                write(
                    &dir,
                    key,
                    &fs::read(format!("{VECTORS}backup/{file}")).unwrap(),
                );
            }
        }
        dir
    }

    /// `evidence.json` listing the checkpoint vector's files as they are now, locked.
    fn record(dir: &Path) {
        let objects = [LEAVES, NOTE]
            .iter()
            .map(|key| {
                let bytes = fs::read(dir.join(key)).unwrap();
                EvidenceObject {
                    key: (*key).to_owned(),
                    version_id: "v1".to_owned(),
                    sha256: Hash::sha256(&bytes),
                    bytes: bytes.len() as u64,
                    versions: 1,
                    retention: Retention {
                        mode: Some("COMPLIANCE".to_owned()),
                        retain_until: Some(
                            Timestamp::parse_canonical("2033-11-28T00:00:00.000000Z").unwrap(),
                        ),
                    },
                    server_side_encryption: Some("aws:kms".to_owned()),
                    s3_sha256: Some(Hash::sha256(&bytes)),
                }
            })
            .collect();
        let evidence = Evidence {
            format: EVIDENCE_FORMAT.to_owned(),
            bucket: "vault".to_owned(),
            period: None,
            exported_at: Timestamp::parse_canonical("2026-11-29T00:00:00.000000Z").unwrap(),
            exported_by: "arn:aws:iam::123456789012:user/auditor".to_owned(),
            objects,
            not_exported: Vec::new(),
        };
        fs::write(
            dir.join(EVIDENCE_FILE),
            serde_json::to_vec_pretty(&evidence).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn a_der_and_a_pem_key_read_alike_and_anything_else_is_refused() {
        let dir = scratch();
        let (der, pem) = keys(&dir);
        assert_eq!(
            read_public_key(&der).unwrap(),
            read_public_key(&pem).unwrap()
        );
        let junk = dir.join("junk.der");
        fs::write(&junk, b"not a key").unwrap();
        let error = read_public_key(&junk).unwrap_err().to_string();
        assert!(
            error.contains("junk.der") && error.contains("P-256"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_vector_as_a_sync_copy_verifies_and_says_what_it_cannot_show() {
        let (der, _) = keys(&scratch());
        let verdict = verify_folder(&folder(false), std::slice::from_ref(&der), None)
            .await
            .unwrap();
        assert!(verdict.findings.is_empty(), "{:#?}", verdict.findings);
        assert_eq!((verdict.verdict, verdict.exit_code), ("verified", 0));
        assert_eq!(verdict.copy, "sync");
        assert_eq!(verdict.cannot_check.len(), 3);
        assert_eq!(
            (verdict.checkpoints_checked, verdict.leaves_checked),
            (1, 5)
        );
        assert_eq!(verdict.origin.as_deref(), Some("signal-ledger:test"));
        let text = verdict.render_text();
        assert!(text.contains("cannot check: original versions"), "{text}");
        assert!(text.ends_with("verdict: verified\n"), "{text}");

        // The backup vector is of another chain: where both cover, each index disagrees.
        let verdict = verify_folder(&folder(true), &[der], None).await.unwrap();
        assert_eq!(verdict.exit_code, 1);
        assert_eq!(verdict.rows_checked, 4);
        let found: Vec<(&str, Option<&str>, &str)> = verdict
            .findings
            .iter()
            .map(|f| (f.file.as_str(), f.location.as_deref(), f.kind.as_str()))
            .collect();
        assert_eq!(
            found,
            (0..4)
                .map(|i| (
                    LEAVES,
                    Some(
                        [
                            "chain index 0",
                            "chain index 1",
                            "chain index 2",
                            "chain index 3"
                        ][i]
                    ),
                    "leaf_differs_from_backup"
                ))
                .collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn with_evidence_json_each_file_is_checked_and_a_missing_one_makes_it_incomplete() {
        let dir = folder(false);
        record(&dir);
        let (_, pem) = keys(&scratch());
        let verdict = verify_folder(&dir, std::slice::from_ref(&pem), None)
            .await
            .unwrap();
        assert_eq!(
            (verdict.verdict, verdict.exit_code),
            ("verified", 0),
            "{verdict:#?}"
        );
        assert!(verdict.cannot_check.is_empty());
        assert_eq!(verdict.files_checked, 2);

        // One edited byte in the leaf file: named by evidence.json's hash and by the note's.
        let mut bytes = fs::read(dir.join(LEAVES)).unwrap();
        bytes[0] = if bytes[0] == b'0' { b'1' } else { b'0' };
        fs::write(dir.join(LEAVES), &bytes).unwrap();
        let verdict = verify_folder(&dir, std::slice::from_ref(&pem), None)
            .await
            .unwrap();
        assert_eq!(verdict.exit_code, 1);
        let kinds: Vec<(&str, &str)> = verdict
            .findings
            .iter()
            .map(|f| (f.file.as_str(), f.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![(LEAVES, "file_hash_mismatch"), (LEAVES, "leaves_digest")]
        );

        // A listed file removed: incomplete, whatever else is found.
        fs::remove_file(dir.join(NOTE)).unwrap();
        let verdict = verify_folder(&dir, &[pem], None).await.unwrap();
        assert_eq!((verdict.verdict, verdict.exit_code), ("incomplete", 2));
        assert_eq!(verdict.missing[0].0, NOTE);
    }

    #[tokio::test]
    async fn the_audit_seal_vector_verifies_and_a_changed_events_file_or_a_lost_seal_is_found() {
        let vector: serde_json::Value =
            serde_json::from_slice(&fs::read(format!("{VECTORS}audit_seal.json")).unwrap())
                .unwrap();
        let dir = scratch();
        let seals = vector["seals"].as_array().unwrap();
        for seal in seals {
            write(
                &dir,
                seal["key"].as_str().unwrap(),
                seal["note"].as_str().unwrap().as_bytes(),
            );
            write(
                &dir,
                seal["events_key"].as_str().unwrap(),
                seal["events_file"].as_str().unwrap().as_bytes(),
            );
        }
        let key = scratch().join("key.der");
        fs::write(&key, unhex(vector["public_key_der_hex"].as_str().unwrap())).unwrap();
        let verdict = verify_folder(&dir, std::slice::from_ref(&key), None)
            .await
            .unwrap();
        assert_eq!(verdict.exit_code, 0, "{verdict:#?}");
        assert_eq!(verdict.seals_checked, 2);
        assert_eq!(verdict.origin.as_deref(), Some("signal-ledger:test"));
        assert!(verdict.audit_events_sealed > 0);

        // An events file with one byte changed: its digest no longer matches the seal's.
        let events = seals[1]["events_key"].as_str().unwrap();
        let mut bytes = fs::read(dir.join(events)).unwrap();
        let at = bytes.iter().position(|b| *b == b'"').unwrap() + 10;
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        fs::write(dir.join(events), &bytes).unwrap();
        let verdict = verify_folder(&dir, std::slice::from_ref(&key), None)
            .await
            .unwrap();
        let found: Vec<(&str, &str)> = verdict
            .findings
            .iter()
            .map(|f| (f.file.as_str(), f.kind.as_str()))
            .collect();
        assert_eq!(found, vec![(events, "events_digest")]);

        // Seal 0 gone: seal 1 no longer links to anything.
        fs::remove_file(dir.join(seals[0]["key"].as_str().unwrap())).unwrap();
        let verdict = verify_folder(&dir, &[key], None).await.unwrap();
        let seal_one = seals[1]["key"].as_str().unwrap();
        assert!(
            verdict
                .findings
                .iter()
                .any(|f| f.file == seal_one && f.kind == "audit_seal_gap"),
            "{:#?}",
            verdict.findings
        );
        assert_eq!(verdict.exit_code, 1);
    }
}
