//! The report record (ledger-format §12.1): the locked object the report job writes beside the
//! reports it stores, naming each one's key, version id, SHA-256 and size — so an exported report
//! is checked offline against the hash recorded when it was written, without the audit table.
//!
//! Promises: parsing is strict (unknown fields, another format, no objects are refused); the
//! judgement of a report file against the records is a pure function of the file's key, version,
//! SHA-256 and size.

use serde::{Deserialize, Serialize};

use crate::domain::hash::Hash;
use crate::domain::timestamp::Timestamp;

/// The `format` of every report record.
pub const REPORT_RECORD_FORMAT: &str = "signal-ledger-report-record/1";
/// How a record's key ends; every other key under `reports/` is a report file.
pub const REPORT_RECORD_SUFFIX: &str = ".record.json";

/// What the report job wrote in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRecord {
    /// [`REPORT_RECORD_FORMAT`].
    pub format: String,
    /// The period's label (`2026-11-29`, `2026-11`, …).
    pub period: String,
    /// When the run stored the reports (the report's `generated_at`).
    pub generated_at: Timestamp,
    /// The stored reports, JSON then HTML.
    pub objects: Vec<RecordedObject>,
}

/// One stored report object, as the vault answered its write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedObject {
    pub key: String,
    pub version_id: String,
    pub sha256: Hash,
    pub bytes: u64,
}

impl ReportRecord {
    /// The record's bytes: compact JSON, fields in declaration order.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a record, refusing anything that is not exactly one of this format.
    pub fn parse(bytes: &[u8]) -> Result<ReportRecord, String> {
        let record: ReportRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if record.format != REPORT_RECORD_FORMAT {
            return Err(format!(
                "format {:?}, not {REPORT_RECORD_FORMAT:?}",
                record.format
            ));
        }
        if record.objects.is_empty() {
            return Err("it names no report".to_owned());
        }
        Ok(record)
    }
}

/// `<base>.<generated_at as YYYYMMDDTHHMMSSffffffZ>.record.json`, where `base` is the reports'
/// key without `.json`/`.html`: one record per run, never written over.
pub fn record_key(base: &str, generated_at: &Timestamp) -> String {
    let compact: String = generated_at
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{base}.{compact}{REPORT_RECORD_SUFFIX}")
}

/// Whether `key` (under `reports/`) is a report record rather than a report file.
pub fn is_record_key(key: &str) -> bool {
    key.ends_with(REPORT_RECORD_SUFFIX)
}

/// How a report file compares with the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportCheck {
    /// A record names it with these bytes.
    Recorded { record: String },
    /// No record names its key.
    Unrecorded,
    /// Records name it, with other bytes: the first such record's key and what it recorded.
    Mismatch {
        record: String,
        sha256: Hash,
        bytes: u64,
    },
}

/// Judges a report file: the records naming its key and `version_id` — or, when none does (a
/// copy without version ids, or a version no record names), every record naming its key — must
/// include one whose SHA-256 and size are the file's.
pub fn check_report_file(
    key: &str,
    version_id: &str,
    sha256: &Hash,
    bytes: u64,
    records: &[(String, ReportRecord)],
) -> ReportCheck {
    let naming = |same_version: bool| -> Vec<(&str, &RecordedObject)> {
        records
            .iter()
            .flat_map(|(record_key, record)| {
                record
                    .objects
                    .iter()
                    .map(move |object| (record_key.as_str(), object))
            })
            .filter(|(_, object)| {
                object.key == key && (!same_version || object.version_id == version_id)
            })
            .collect()
    };
    let mut candidates = naming(true);
    if candidates.is_empty() {
        candidates = naming(false);
    }
    if let Some((record, _)) = candidates
        .iter()
        .find(|(_, object)| object.sha256 == *sha256 && object.bytes == bytes)
    {
        return ReportCheck::Recorded {
            record: (*record).to_owned(),
        };
    }
    match candidates.first() {
        None => ReportCheck::Unrecorded,
        Some((record, object)) => ReportCheck::Mismatch {
            record: (*record).to_owned(),
            sha256: object.sha256,
            bytes: object.bytes,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time() -> Timestamp {
        Timestamp::parse_canonical("2026-11-29T10:00:00.000000Z").unwrap()
    }

    fn record(key: &str, version: &str, body: &[u8]) -> ReportRecord {
        ReportRecord {
            format: REPORT_RECORD_FORMAT.to_owned(),
            period: "2026-11-29".to_owned(),
            generated_at: time(),
            objects: vec![RecordedObject {
                key: key.to_owned(),
                version_id: version.to_owned(),
                sha256: Hash::sha256(body),
                bytes: body.len() as u64,
            }],
        }
    }

    #[test]
    fn the_key_names_the_run_and_is_told_from_report_files() {
        let key = record_key("reports/2026/11/compliance-report-2026-11-29", &time());
        assert_eq!(
            key,
            "reports/2026/11/compliance-report-2026-11-29.20261129T100000000000Z.record.json"
        );
        assert!(is_record_key(&key));
        assert!(!is_record_key(
            "reports/2026/11/compliance-report-2026-11-29.json"
        ));
    }

    #[test]
    fn parsing_round_trips_and_refuses_other_formats_fields_and_empty_records() {
        let good = record("reports/a.json", "v1", b"{}");
        assert_eq!(ReportRecord::parse(&good.to_bytes()).unwrap(), good);
        let mut other = good.clone();
        other.format = "signal-ledger-report-record/2".to_owned();
        assert!(ReportRecord::parse(&other.to_bytes()).is_err());
        let mut empty = good.clone();
        empty.objects.clear();
        assert!(ReportRecord::parse(&empty.to_bytes()).is_err());
        let mut extra: serde_json::Value = serde_json::from_slice(&good.to_bytes()).unwrap();
        extra["note"] = serde_json::json!("x");
        assert!(ReportRecord::parse(extra.to_string().as_bytes()).is_err());
        assert!(ReportRecord::parse(b"not json").is_err());
    }

    #[test]
    fn a_report_file_is_judged_by_the_records_of_its_version_then_of_its_key() {
        let (first, second) = (b"first".as_slice(), b"second".as_slice());
        let records = vec![
            ("r1".to_owned(), record("reports/a.json", "v1", first)),
            ("r2".to_owned(), record("reports/a.json", "v2", second)),
        ];
        let check = |version: &str, body: &[u8]| {
            check_report_file(
                "reports/a.json",
                version,
                &Hash::sha256(body),
                body.len() as u64,
                &records,
            )
        };
        assert_eq!(
            check("v1", first),
            ReportCheck::Recorded {
                record: "r1".into()
            }
        );
        // v1's bytes under v2's id: v2's record decides, and it recorded other bytes.
        assert_eq!(
            check("v2", first),
            ReportCheck::Mismatch {
                record: "r2".into(),
                sha256: Hash::sha256(second),
                bytes: second.len() as u64
            }
        );
        // A copy without version ids: any record of the key.
        assert_eq!(
            check("unknown", second),
            ReportCheck::Recorded {
                record: "r2".into()
            }
        );
        assert!(matches!(
            check("unknown", b"altered"),
            ReportCheck::Mismatch { .. }
        ));
        assert_eq!(
            check_report_file("reports/b.json", "v1", &Hash::sha256(first), 5, &records),
            ReportCheck::Unrecorded
        );
    }
}
