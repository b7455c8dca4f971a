//! The receipts CSV and the manifest's `receipts` field: round trips, strict reading, the row
//! checks, and the receipts window across the manifest chain.

use super::*;
use crate::domain::receipt::StoredReceipt;
use crate::domain::test_support::receipt_record;

/// Receipts of `entries` in CSV order: (entry, subscriber, recorded_at).
fn receipts(entries: &[StoredEntry]) -> Vec<StoredReceipt> {
    [
        (1, "desk-a", "2026-11-28T11:00:00Z"),
        (3, "desk-b", "2026-11-28T12:00:00Z"),
        (3, "desk-c", "2026-11-28T12:00:00Z"),
    ]
    .iter()
    .map(|&(index, subscriber, at)| receipt_record(&entries[index], subscriber, 1_500, at).0)
    .collect()
}

fn receipts_file(rows: &[StoredReceipt]) -> Vec<u8> {
    let mut out = Vec::new();
    write_receipts_header(&mut out);
    for row in rows {
        write_receipt_row(&mut out, row);
    }
    out
}

fn window(from: Option<&str>, until: &str, rows: &[StoredReceipt], id: &str) -> ReceiptsBackup {
    let bytes = receipts_file(rows);
    ReceiptsBackup {
        recorded_from: from.map(timestamp),
        recorded_until: timestamp(until),
        row_count: rows.len() as u64,
        csv: (!rows.is_empty()).then(|| CsvObject {
            key: receipts_csv_key(&id.parse().unwrap()),
            sha256: Hash::sha256(&bytes),
            bytes: bytes.len() as u64,
            version_id: format!("r-{id}"),
        }),
    }
}

#[test]
fn receipt_rows_round_trip_with_escapes() {
    let entries = chain(5);
    let mut rows = receipts(&entries);
    // A submitter a spreadsheet would run, with a comma and quotes: escaped, then quoted.
    rows[2].receipt.submitter = "=HYPERLINK(\"x\",\"y\")".into();
    rows[2] = StoredReceipt::seal(rows[2].receipt.clone());
    let bytes = receipts_file(&rows);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with(
        "signal_id,chain_index,subscriber,generated_at,delivered_at,recorded_at,client_latency_ms,submitter,receipt_hash\r\n"
    ));
    assert!(
        text.contains(",\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\","),
        "{text}"
    );
    assert_eq!(read_receipt_rows(&bytes), Ok(rows.clone()));
    assert_eq!(
        receipts_csv_key(&"20261128_2".parse().unwrap()),
        "signals/2026/11/receipts_backup_20261128_2.csv"
    );
    assert_eq!(receipts_header_len(), 113);
}

#[test]
fn the_receipts_reader_refuses_other_spellings_naming_row_and_column() {
    let entries = chain(5);
    let rows = receipts(&entries);
    let text = String::from_utf8(receipts_file(&rows)).unwrap();
    let read = |t: String| read_receipt_rows(t.as_bytes());
    assert_eq!(read(String::new()), Err(ReceiptsCsvError::MissingHeader));
    assert_eq!(
        read(text.replacen("signal_id", "signal", 1)),
        Err(ReceiptsCsvError::Header)
    );
    assert!(matches!(
        read(text.trim_end().to_owned()),
        Err(ReceiptsCsvError::Syntax(BackupError::Syntax { row: 3, .. }))
    ));
    let second = format!(",{},", rows[1].receipt.chain_index);
    assert_eq!(
        read(text.replacen(&second, &format!(",0{},", rows[1].receipt.chain_index), 1)),
        Err(ReceiptsCsvError::Cell {
            row: 2,
            line: 3,
            column: "chain_index",
            reason: "\"03\" is not a canonical integer (decimal digits, '-' only when negative, no '+' or leading zeros)".into(),
        })
    );
    assert!(matches!(
        read(text.replacen(",desk-a,", ",,", 1)),
        Err(ReceiptsCsvError::Cell {
            row: 1,
            column: "subscriber",
            ..
        })
    ));
    assert!(matches!(
        read(text.replacen(",desk-a,", ",desk-a,x,", 1)),
        Err(ReceiptsCsvError::ColumnCount {
            row: 1,
            found: 10,
            ..
        })
    ));
}

#[test]
fn every_wrong_row_is_a_finding_naming_it() {
    let entries = chain(5);
    let rows = receipts(&entries);
    let all = window(None, "2026-11-29T01:55:00Z", &rows, "20261129");
    assert_eq!(check_receipt_rows(&rows, &all, 5), vec![]);
    let kinds = |rows: &[StoredReceipt], window: &ReceiptsBackup, to: u64| {
        check_receipt_rows(rows, window, to)
            .into_iter()
            .map(|f| (f.row, f.kind))
            .collect::<Vec<_>>()
    };
    // A field edited in the CSV: the row no longer hashes to its receipt_hash.
    let mut edited = rows.clone();
    edited[1].receipt.delivered_at = timestamp("2026-11-28T11:59:59Z");
    assert_eq!(
        kinds(&edited, &all, 5),
        vec![
            (2, "receipt_hash_mismatch"),
            (2, "receipt_latency_mismatch")
        ]
    );
    // Re-hashed by a forger: the hash is fine, the latency is not that of the times.
    let mut forged = edited.clone();
    forged[1] = StoredReceipt::seal(forged[1].receipt.clone());
    assert_eq!(
        kinds(&forged, &all, 5),
        vec![(2, "receipt_latency_mismatch")]
    );
    // Added (a repeat) or reordered rows.
    let mut added = rows.clone();
    added.insert(1, rows[1].clone());
    assert_eq!(kinds(&added, &all, 5), vec![(3, "receipt_out_of_order")]);
    let mut swapped = rows.clone();
    swapped.swap(1, 2);
    assert_eq!(kinds(&swapped, &all, 5), vec![(3, "receipt_out_of_order")]);
    // Outside the window; a signal beyond the backed-up entries.
    let later = window(
        Some("2026-11-28T11:30:00Z"),
        "2026-11-28T12:00:00Z",
        &rows,
        "20261129",
    );
    assert_eq!(
        kinds(&rows, &later, 5),
        vec![
            (1, "receipt_outside_window"),
            (2, "receipt_outside_window"),
            (3, "receipt_outside_window")
        ]
    );
    assert_eq!(
        kinds(&rows, &all, 3),
        vec![
            (2, "receipt_signal_not_backed_up"),
            (3, "receipt_signal_not_backed_up")
        ]
    );
}

/// The clean chain of `manifest_chain`, in format 2 from its second manifest on, with the
/// receipts windows joining end to start.
fn chain_with_receipts(entries: &[StoredEntry]) -> Vec<(Vec<u8>, Manifest)> {
    let rows = receipts(entries);
    let mut manifests = manifest_chain(entries);
    let windows = [
        None,
        Some(window(None, "2026-11-28T11:30:00Z", &rows[..1], "20261129")),
        Some(window(
            Some("2026-11-28T11:30:00Z"),
            "2026-11-28T23:00:00Z",
            &rows[1..],
            "20261129_2",
        )),
        Some(window(
            Some("2026-11-28T23:00:00Z"),
            "2026-11-28T23:00:00Z",
            &[],
            "20261130",
        )),
    ];
    for (at, receipts) in windows.into_iter().enumerate() {
        relink(&mut manifests, at, |m| {
            m.format = match receipts {
                Some(_) => ManifestFormat::V2,
                None => ManifestFormat::V1,
            };
            m.receipts = receipts.clone();
        });
    }
    manifests
}

#[test]
fn receipts_windows_join_across_the_manifest_chain() {
    let entries = chain(10);
    let clean = chain_with_receipts(&entries);
    assert_eq!(verify_manifest_chain(&clean), vec![]);
    for (bytes, manifest) in &clean {
        assert_eq!(Manifest::parse(bytes).as_ref(), Ok(manifest));
    }
    // The window of the second format-2 manifest starts late: receipts in between are lost.
    let mut gap = clean.clone();
    relink(&mut gap, 2, |m| {
        m.receipts.as_mut().unwrap().recorded_from = Some(timestamp("2026-11-28T11:45:00Z"));
    });
    let findings = verify_manifest_chain(&gap);
    assert_eq!(
        finding_kinds(&findings),
        vec![(2, "receipts_window_mismatch")]
    );
    assert_eq!(
        findings[0].kind,
        ManifestFindingKind::ReceiptsWindowMismatch {
            expected: Some(timestamp("2026-11-28T11:30:00Z")),
            found: Some(timestamp("2026-11-28T11:45:00Z")),
        }
    );
    // A first format-2 manifest that does not start from the beginning.
    let mut late_start = clean.clone();
    relink(&mut late_start, 1, |m| {
        m.receipts.as_mut().unwrap().recorded_from = Some(timestamp("2026-11-01T00:00:00Z"));
    });
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&late_start)),
        vec![(1, "receipts_window_mismatch")]
    );
    // A format-1 manifest after a format-2 one: later receipts would be in no backup.
    let mut dropped = clean.clone();
    relink(&mut dropped, 3, |m| {
        m.format = ManifestFormat::V1;
        m.receipts = None;
    });
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&dropped)),
        vec![(3, "receipts_dropped")]
    );
}

#[test]
fn a_manifest_s_receipts_must_agree_with_themselves() {
    let entries = chain(10);
    let clean = chain_with_receipts(&entries);
    let manifest = clean[2].1.clone();
    let refused = |edit: &dyn Fn(&mut ReceiptsBackup), words: &str| {
        let mut edited = manifest.clone();
        edit(edited.receipts.as_mut().unwrap());
        match Manifest::parse(&edited.to_bytes()) {
            Err(ManifestError::Inconsistent(reason)) => {
                assert!(reason.contains(words), "{reason}")
            }
            other => panic!("{words}: {other:?}"),
        }
    };
    refused(&|r| r.csv = None, "receipts with rows must name their csv");
    refused(&|r| r.row_count = 0, "receipts without rows have no csv");
    refused(
        &|r| r.csv.as_mut().unwrap().key = "signals/2026/11/receipts_backup_20261130.csv".into(),
        "receipts.csv.key",
    );
    refused(
        &|r| r.csv.as_mut().unwrap().bytes = 113,
        "receipts.csv.bytes 113 is too small",
    );
    refused(
        &|r| r.recorded_from = Some(timestamp("2026-11-29T00:00:00Z")),
        "is after receipts.recorded_until",
    );
    refused(
        &|r| r.recorded_until = timestamp("2026-12-01T00:00:00Z"),
        "is after created_at",
    );
    let mut v1 = manifest.clone();
    v1.format = ManifestFormat::V1;
    assert!(matches!(Manifest::parse(&v1.to_bytes()),
        Err(ManifestError::Inconsistent(reason)) if reason.contains("has no receipts field")));
    // Field order: receipts right after csv; a null window start is written as null.
    let text = String::from_utf8(clean[1].0.clone()).unwrap();
    assert!(
        text.contains("\n  \"receipts\": {\n    \"recorded_from\": null,\n"),
        "{text}"
    );
    assert!(text.find("\"csv\"").unwrap() < text.find("\"receipts\"").unwrap());
    assert!(text.find("\"receipts\"").unwrap() < text.find("\"retain_until\"").unwrap());
}

const RECEIPTS_VECTOR_CSV: &[u8] =
    include_bytes!("../../../../docs/vectors/backup/receipts_backup_20261129.csv");
const RECEIPTS_VECTOR_MANIFEST: &[u8] =
    include_bytes!("../../../../docs/vectors/backup/signals_backup_20261129.json");

#[test]
fn known_answer_receipts_backup_vector() {
    let manifest = Manifest::parse(RECEIPTS_VECTOR_MANIFEST).unwrap();
    assert_eq!(manifest.format, ManifestFormat::V2);
    let previous = Manifest::parse(VECTOR_MANIFEST).unwrap();
    assert_eq!(previous.format, ManifestFormat::V1);
    let chain = vec![
        (VECTOR_MANIFEST.to_vec(), previous),
        (RECEIPTS_VECTOR_MANIFEST.to_vec(), manifest.clone()),
    ];
    assert_eq!(verify_manifest_chain(&chain), vec![]);
    let window = manifest.receipts.clone().unwrap();
    let csv = window.csv.clone().unwrap();
    assert_eq!(
        (csv.sha256, csv.bytes, window.row_count),
        (
            Hash::sha256(RECEIPTS_VECTOR_CSV),
            RECEIPTS_VECTOR_CSV.len() as u64,
            3
        )
    );
    let rows = read_receipt_rows(RECEIPTS_VECTOR_CSV).unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r.receipt_hash.to_hex())
            .collect::<Vec<_>>(),
        [
            "641b2590e41a80e64c96dec0a4d82813af2e021cbd9a8d59074c7d2a5f602245",
            "371c960165cf7f2f9f1f3466225c9655e866b11b7e9b04e1806e006f9153e302",
            "dfb7b7e8dbfae04634c8470a8ee92e9ebcbdd11cca01cd69df9628649f7ddf84",
        ]
    );
    assert_eq!(
        check_receipt_rows(&rows, &window, manifest.index_range.to),
        vec![]
    );
    // Each receipt is of its entry in the entries vector, and the bytes are the writer's.
    let entries = read_rows(VECTOR_CSV).unwrap();
    for row in &rows {
        let entry = &entries[row.receipt.chain_index as usize].entry;
        assert_eq!(
            (&entry.signal_id, entry.content.generated_at),
            (&row.receipt.signal_id, row.receipt.generated_at)
        );
    }
    assert_eq!(receipts_file(&rows), RECEIPTS_VECTOR_CSV);
    let text = std::str::from_utf8(RECEIPTS_VECTOR_CSV).unwrap();
    for escaped in [
        "\r\n'-sig.0:a_b,0,'-pager.ops,",
        ",\"'=cmd|' /C calc'!A0,\"\"quoted\"\"\",",
    ] {
        assert!(text.contains(escaped), "{escaped}");
    }
}
