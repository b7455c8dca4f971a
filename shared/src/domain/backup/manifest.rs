//! The backup manifest (canonical JSON) and the verification of the manifest chain.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::domain::hash::Hash;
use crate::domain::merkle::{self, CompactRange};
use crate::domain::timestamp::Timestamp;

use super::{BackupId, csv_key, receipts_csv_key, receipts_header_len, write_header};

/// The `format` of manifests without receipts (written before receipts were backed up).
pub const MANIFEST_FORMAT: &str = "signal-ledger-backup-manifest/1";
/// The `format` of manifests that list the backup's receipts CSV (the `receipts` field).
pub const MANIFEST_FORMAT_V2: &str = "signal-ledger-backup-manifest/2";

/// The manifest's `format` field: version 1 has no `receipts` field, version 2 must have one.
/// Both stay verifiable; the backup writes version 2. Parsing refuses any other value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ManifestFormat {
    V1,
    #[default]
    V2,
}

impl ManifestFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            ManifestFormat::V1 => MANIFEST_FORMAT,
            ManifestFormat::V2 => MANIFEST_FORMAT_V2,
        }
    }
}

impl Serialize for ManifestFormat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ManifestFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        match text.as_ref() {
            MANIFEST_FORMAT => Ok(ManifestFormat::V1),
            MANIFEST_FORMAT_V2 => Ok(ManifestFormat::V2),
            _ => Err(serde::de::Error::custom(format!(
                "format is {text:?}; expected {MANIFEST_FORMAT_V2:?} or {MANIFEST_FORMAT:?}"
            ))),
        }
    }
}

/// Chain indexes `[from, to)`: half-open, so an empty backup is `from == to` and `to` is the tree
/// size after the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexRange {
    pub from: u64,
    pub to: u64,
}

impl IndexRange {
    /// The number of entries, or `None` when `from > to`.
    pub fn len(&self) -> Option<u64> {
        self.to.checked_sub(self.from)
    }

    pub fn is_empty(&self) -> bool {
        self.from == self.to
    }
}

/// The CSV object a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvObject {
    /// Always [`csv_key`] of the backup id.
    pub key: String,
    /// SHA-256 of the object's bytes.
    pub sha256: Hash,
    /// The object's size in bytes.
    pub bytes: u64,
    /// The S3 version id the upload created: verification reads exactly this version.
    pub version_id: String,
}

/// The delivery receipts a backup holds: those recorded in `[recorded_from, recorded_until)`
/// (§8.6). Fields are serialised in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptsBackup {
    /// The previous manifest's `recorded_until`; `null` (no lower bound: every receipt recorded
    /// before `recorded_until`) when the previous manifest has no receipts or there is none.
    pub recorded_from: Option<Timestamp>,
    /// The end (exclusive), a lag before the run, so that receipts still being written belong
    /// to the next backup.
    pub recorded_until: Timestamp,
    /// The rows of the receipts CSV.
    pub row_count: u64,
    /// The receipts CSV, or `None` when there are no rows (no object is written).
    pub csv: Option<CsvObject>,
}

/// What one backup run wrote, chained to the run before it. Fields are serialised in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: ManifestFormat,
    pub backup_id: BackupId,
    /// When the run wrote the manifest.
    pub created_at: Timestamp,
    /// The entries in the CSV; `from` is the previous backup's `to` (0 for the first).
    pub index_range: IndexRange,
    /// `to − from`.
    pub row_count: u64,
    /// The head hash at tree size `from`: the first row's `previous_hash` (64 zeros when
    /// `from = 0`).
    pub first_previous_hash: Hash,
    /// The head hash at tree size `to`: the last row's `entry_hash`; for an empty backup, equal to
    /// `first_previous_hash`.
    pub last_entry_hash: Hash,
    /// RFC 6962 root of entries `0..to` (`SHA-256("")` when `to = 0`).
    pub merkle_root: Hash,
    /// The compact range of entries `0..to` (§5, largest subtree first), so the next run extends
    /// the tree without re-reading older entries; `merkle_root` is its root.
    pub compact_range: Vec<Hash>,
    /// The CSV, or `None` for an empty backup (no CSV object is written).
    pub csv: Option<CsvObject>,
    /// The receipts CSV and its window: present exactly in format 2 (absent, not `null`, in
    /// format 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts: Option<ReceiptsBackup>,
    /// The Object Lock retain-until of the CSV and the manifest: at least the latest
    /// `retention_expires_at` of the rows.
    pub retain_until: Timestamp,
    /// SHA-256 of the previous manifest's exact bytes; 64 zeros for the first manifest.
    pub previous_manifest_sha256: Hash,
}

/// Why manifest bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not JSON of the expected shape: {0}")]
    Json(String),
    #[error(
        "the manifest is not in canonical form (two-space indented JSON, fields in order, no extra whitespace, one final LF)"
    )]
    NotCanonical,
    #[error("the manifest is inconsistent: {0}")]
    Inconsistent(String),
}

impl Manifest {
    /// The canonical bytes: `serde_json` pretty JSON (two-space indent, fields in declaration
    /// order) and one final LF.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers into memory cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// `SHA-256` of the canonical bytes: the next manifest's `previous_manifest_sha256`.
    pub fn sha256(&self) -> Hash {
        Hash::sha256(&self.to_bytes())
    }

    /// Parses stored bytes strictly: the format must match, unknown or missing fields are refused,
    /// the manifest must be consistent ([`check`](Self::check)) and the bytes must be exactly
    /// [`to_bytes`](Self::to_bytes) of the result.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|error| ManifestError::Json(error.to_string()))?;
        manifest.check()?;
        if manifest.to_bytes() != bytes {
            return Err(ManifestError::NotCanonical);
        }
        Ok(manifest)
    }

    /// The tree of entries `0..to`, to resume from (e.g. with `ChainVerifier::resume`).
    pub fn tree(&self) -> Result<CompactRange, ManifestError> {
        CompactRange::from_parts(self.index_range.to, self.compact_range.clone())
            .map_err(|error| ManifestError::Inconsistent(format!("compact_range: {error}")))
    }

    /// Checks that the fields agree with each other (not with the CSV or the ledger).
    pub fn check(&self) -> Result<(), ManifestError> {
        let refuse = |reason: String| Err(ManifestError::Inconsistent(reason));
        let IndexRange { from, to } = self.index_range;
        if self.index_range.len() != Some(self.row_count) {
            return refuse(format!(
                "row_count {} is not to − from for index_range [{from}, {to})",
                self.row_count
            ));
        }
        let root = self.tree()?.root();
        if root != self.merkle_root {
            return refuse(format!(
                "merkle_root {} is not the root of compact_range ({root})",
                self.merkle_root
            ));
        }
        if (from == 0) != (self.first_previous_hash == Hash::ZERO) {
            return refuse(format!(
                "first_previous_hash must be 64 zeros exactly when from is 0 (from {from})"
            ));
        }
        if (to == 0) != (self.last_entry_hash == Hash::ZERO) {
            return refuse(format!(
                "last_entry_hash must be 64 zeros exactly when to is 0 (to {to})"
            ));
        }
        if !to.is_multiple_of(2) && self.compact_range.last() != Some(&self.last_entry_hash) {
            return refuse(format!(
                "for odd to ({to}) the last compact_range hash is the last entry's hash"
            ));
        }
        match &self.csv {
            None if self.row_count > 0 => {
                return refuse("a backup with rows must name its csv".to_owned());
            }
            Some(_) if self.row_count == 0 => {
                return refuse("an empty backup has no csv (csv must be null)".to_owned());
            }
            None if self.last_entry_hash != self.first_previous_hash => {
                return refuse(
                    "an empty backup's last_entry_hash must equal its first_previous_hash"
                        .to_owned(),
                );
            }
            None => {}
            Some(csv) => {
                let expected = csv_key(&self.backup_id);
                if csv.key != expected {
                    return refuse(format!("csv.key {:?} is not {expected:?}", csv.key));
                }
                check_object("csv", csv, header_len())?;
            }
        }
        self.check_receipts()?;
        if self.retain_until <= self.created_at {
            return refuse(format!(
                "retain_until {} is not after created_at {}",
                self.retain_until, self.created_at
            ));
        }
        Ok(())
    }
}

fn header_len() -> u64 {
    let mut header = Vec::new();
    write_header(&mut header);
    header.len() as u64
}

/// The size and version id of a listed CSV object.
fn check_object(name: &str, csv: &CsvObject, header_len: u64) -> Result<(), ManifestError> {
    if csv.bytes <= header_len {
        return Err(ManifestError::Inconsistent(format!(
            "{name}.bytes {} is too small for a header and a row",
            csv.bytes
        )));
    }
    if csv.version_id.is_empty()
        || csv.version_id.len() > 1024
        || !csv.version_id.bytes().all(|b| (0x21..=0x7E).contains(&b))
    {
        return Err(ManifestError::Inconsistent(format!(
            "{name}.version_id {:?} is not 1–1024 printable ASCII characters without spaces",
            csv.version_id
        )));
    }
    Ok(())
}

impl Manifest {
    /// Format 1 has no `receipts`; format 2 has them, consistent with themselves.
    fn check_receipts(&self) -> Result<(), ManifestError> {
        let refuse = |reason: String| Err(ManifestError::Inconsistent(reason));
        let receipts = match (self.format, &self.receipts) {
            (ManifestFormat::V1, None) => return Ok(()),
            (ManifestFormat::V1, Some(_)) => {
                return refuse(format!(
                    "a {MANIFEST_FORMAT:?} manifest has no receipts field"
                ));
            }
            (ManifestFormat::V2, None) => {
                return refuse(format!(
                    "a {MANIFEST_FORMAT_V2:?} manifest must list its receipts"
                ));
            }
            (ManifestFormat::V2, Some(receipts)) => receipts,
        };
        if let Some(from) = receipts.recorded_from
            && from > receipts.recorded_until
        {
            return refuse(format!(
                "receipts.recorded_from {from} is after receipts.recorded_until {}",
                receipts.recorded_until
            ));
        }
        if receipts.recorded_until > self.created_at {
            return refuse(format!(
                "receipts.recorded_until {} is after created_at {}",
                receipts.recorded_until, self.created_at
            ));
        }
        match &receipts.csv {
            None if receipts.row_count > 0 => {
                refuse("receipts with rows must name their csv".to_owned())
            }
            Some(_) if receipts.row_count == 0 => {
                refuse("receipts without rows have no csv (receipts.csv must be null)".to_owned())
            }
            None => Ok(()),
            Some(csv) => {
                let expected = receipts_csv_key(&self.backup_id);
                if csv.key != expected {
                    return refuse(format!(
                        "receipts.csv.key {:?} is not {expected:?}",
                        csv.key
                    ));
                }
                check_object("receipts.csv", csv, receipts_header_len())
            }
        }
    }
}

// ---- manifest chain -------------------------------------------------------------------------

/// A problem with one manifest of a chain. `position` is its place in the slice given to
/// [`verify_manifest_chain`] (0 = first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFinding {
    pub position: usize,
    pub backup_id: BackupId,
    #[serde(flatten)]
    pub kind: ManifestFindingKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ManifestFindingKind {
    /// The stored bytes are not the canonical form of the manifest, or its fields disagree.
    Invalid { reason: String },
    /// `previous_manifest_sha256` is not the SHA-256 of the previous manifest's bytes (zeros for
    /// the first).
    BrokenLink { expected: Hash, found: Hash },
    /// The backup id is not after the previous manifest's.
    OutOfOrder { previous: BackupId },
    /// Entries `[expected_from, found_from)` are in no backup.
    Gap { expected_from: u64, found_from: u64 },
    /// Entries `[found_from, expected_from)` are also in an earlier backup.
    Overlap { expected_from: u64, found_from: u64 },
    /// `first_previous_hash` is not the previous manifest's `last_entry_hash` (zeros for the
    /// first).
    EntryLinkMismatch { expected: Hash, found: Hash },
    /// The tree did not grow, yet its root differs from the previous manifest's.
    RootChanged { expected: Hash, found: Hash },
    /// `receipts.recorded_from` is not the previous manifest's `receipts.recorded_until`
    /// (`null` after a manifest without receipts, or for the first): receipts recorded in
    /// between are in no backup, or in two.
    ReceiptsWindowMismatch {
        expected: Option<Timestamp>,
        found: Option<Timestamp>,
    },
    /// A manifest without receipts (format 1) after one with them: later receipts would be in
    /// no backup.
    ReceiptsDropped,
}

impl ManifestFindingKind {
    /// A short stable name, as in the JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            ManifestFindingKind::Invalid { .. } => "invalid",
            ManifestFindingKind::BrokenLink { .. } => "broken_link",
            ManifestFindingKind::OutOfOrder { .. } => "out_of_order",
            ManifestFindingKind::Gap { .. } => "gap",
            ManifestFindingKind::Overlap { .. } => "overlap",
            ManifestFindingKind::EntryLinkMismatch { .. } => "entry_link_mismatch",
            ManifestFindingKind::RootChanged { .. } => "root_changed",
            ManifestFindingKind::ReceiptsWindowMismatch { .. } => "receipts_window_mismatch",
            ManifestFindingKind::ReceiptsDropped => "receipts_dropped",
        }
    }
}

/// Verifies a whole manifest chain, from the first backup, in run order: each manifest's exact
/// stored bytes and its parsed form. Reports every finding and keeps going (after a gap or
/// overlap it continues from the manifest's own range). An empty slice has no findings.
pub fn verify_manifest_chain(manifests: &[(Vec<u8>, Manifest)]) -> Vec<ManifestFinding> {
    let mut findings = Vec::new();
    let mut previous_sha256 = Hash::ZERO;
    let mut previous_id: Option<BackupId> = None;
    let mut expected_from = 0;
    let mut head = Hash::ZERO;
    let mut root = merkle::root(&[]);
    // The previous manifest's receipts window end: `None` before any manifest with receipts.
    let mut receipts_until: Option<Timestamp> = None;
    for (position, (bytes, manifest)) in manifests.iter().enumerate() {
        let mut report = |kind| {
            findings.push(ManifestFinding {
                position,
                backup_id: manifest.backup_id,
                kind,
            })
        };
        if let Err(error) = manifest.check() {
            report(ManifestFindingKind::Invalid {
                reason: error.to_string(),
            });
        }
        if manifest.to_bytes() != *bytes {
            report(ManifestFindingKind::Invalid {
                reason: "the stored bytes are not the canonical form of this manifest".to_owned(),
            });
        }
        if manifest.previous_manifest_sha256 != previous_sha256 {
            report(ManifestFindingKind::BrokenLink {
                expected: previous_sha256,
                found: manifest.previous_manifest_sha256,
            });
        }
        if let Some(previous) = previous_id
            && manifest.backup_id <= previous
        {
            report(ManifestFindingKind::OutOfOrder { previous });
        }
        let IndexRange { from, to } = manifest.index_range;
        if from > expected_from {
            report(ManifestFindingKind::Gap {
                expected_from,
                found_from: from,
            });
        } else if from < expected_from {
            report(ManifestFindingKind::Overlap {
                expected_from,
                found_from: from,
            });
        } else if manifest.first_previous_hash != head {
            report(ManifestFindingKind::EntryLinkMismatch {
                expected: head,
                found: manifest.first_previous_hash,
            });
        }
        if to == expected_from && manifest.merkle_root != root {
            report(ManifestFindingKind::RootChanged {
                expected: root,
                found: manifest.merkle_root,
            });
        }
        match &manifest.receipts {
            Some(receipts) => {
                if receipts.recorded_from != receipts_until {
                    report(ManifestFindingKind::ReceiptsWindowMismatch {
                        expected: receipts_until,
                        found: receipts.recorded_from,
                    });
                }
                receipts_until = Some(receipts.recorded_until);
            }
            None if receipts_until.is_some() => report(ManifestFindingKind::ReceiptsDropped),
            None => {}
        }
        previous_sha256 = Hash::sha256(bytes);
        previous_id = Some(manifest.backup_id);
        expected_from = to;
        head = manifest.last_entry_hash;
        root = manifest.merkle_root;
    }
    findings
}
