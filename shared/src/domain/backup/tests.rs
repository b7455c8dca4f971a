//! The backup core's tests: CSV round trips and refusals, ids and keys, manifests and their
//! chain.

use std::io::BufReader;

use proptest::prelude::*;

use std::str::FromStr;

use time::Date;

use super::csv::{col, values, write_cell};
use super::*;
use crate::domain::chain::verify_chain;
use crate::domain::decimal::ExactDecimal;
use crate::domain::entry::{Entry, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::merkle::{self, CompactRange};
use crate::domain::signal::{Action, SignalContent, SignalId};
use crate::domain::test_support::{chain, decimal, timestamp};
use crate::domain::timestamp::Timestamp;

fn file(entries: &[StoredEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(&mut out);
    for entry in entries {
        write_row(&mut out, entry);
    }
    out
}

fn cell(value: &str) -> String {
    let mut out = Vec::new();
    write_cell(&mut out, Some(value));
    String::from_utf8(out).unwrap()
}

fn header_line() -> String {
    format!("{}\r\n", HEADER.join(","))
}

/// A row's encoded cells (as `write_row` would write them), for a test to edit.
fn encoded_cells(stored: &StoredEntry) -> Vec<String> {
    values(stored)
        .iter()
        .map(|value| {
            let mut out = Vec::new();
            write_cell(&mut out, value.as_deref());
            String::from_utf8(out).unwrap()
        })
        .collect()
}

/// The file of `entries` with data row `row` (1-based) replaced by `edit`ed cells.
fn file_with(
    entries: &[StoredEntry],
    row: usize,
    mut edit: impl FnMut(&mut Vec<String>),
) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(&mut out);
    for (position, entry) in entries.iter().enumerate() {
        if position + 1 == row {
            let mut cells = encoded_cells(entry);
            edit(&mut cells);
            out.extend_from_slice(cells.join(",").as_bytes());
            out.extend_from_slice(b"\r\n");
        } else {
            write_row(&mut out, entry);
        }
    }
    out
}

/// The raw cells a spreadsheet would see (quotes removed, escapes kept), row by row.
fn raw_cells(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut reader = RowReader::new(bytes).unwrap();
    let mut rows = Vec::new();
    while reader.read_record(reader.row + 1).unwrap() {
        rows.push(
            (0..reader.ends.len())
                .map(|i| String::from_utf8(reader.cell_bytes(i).to_vec()).unwrap())
                .collect(),
        );
    }
    rows
}

/// Four chained entries with awkward values: the known-answer vector's entries.
fn awkward_entries() -> Vec<StoredEntry> {
    let mut entries: Vec<Entry> = chain(4).into_iter().map(|s| s.entry).collect();
    {
        let e = &mut entries[0];
        e.signal_id = SignalId::parse("-sig.0:a_b").unwrap();
        e.content.symbol = "BRK.B".into();
        e.content.rationale =
            "=HYPERLINK(\"http://evil.example\",\"click\"), then \"quoted\", and a comma".into();
        e.content.producer = Some("@risk-desk".into());
        e.content.model = Some("+gbm".into());
        e.content.model_version = Some("'2026.11".into());
        // The producer's clock 52 ms ahead of the ledger's: latency −12 ms (§1.2).
        e.content.generated_at = timestamp("2026-11-28T09:00:00.052000Z");
        e.delivery_latency_ms = e.received_at.millis_since(&e.content.generated_at);
        assert_eq!(e.delivery_latency_ms, -12);
    }
    {
        let e = &mut entries[1];
        e.content.symbol = "EUR/USD".into();
        e.content.rationale =
            "Line one\r\nline two\nline three\twith a tab; Ünïcødé — 株式 📈".into();
        e.content.target_price = None;
        e.content.stop_loss = None;
        e.content.confidence = None;
        e.content.producer = None;
        e.content.model = None;
        e.content.model_version = None;
    }
    {
        let e = &mut entries[2];
        e.content.rationale = "'quoted at the start, ''twice'' inside".into();
        e.content.entry_price = decimal("999999999999.99999999");
        e.content.target_price = Some(decimal("0.00000001"));
        e.content.stop_loss = Some(decimal("0"));
        e.content.confidence = Some(decimal("1"));
        e.content.producer = Some("\ttab-led".into());
        e.content.model = Some("\rcr-led".into());
        e.content.model_version = Some("＝full-width".into());
    }
    {
        let e = &mut entries[3];
        e.content.rationale = "-12 ms is the latency; + and @ are harmless inside".into();
        e.content.confidence = Some(decimal("0"));
        // The latest instant of the format: the most negative latency a valid entry can hold.
        e.content.generated_at = timestamp("9999-12-31T23:59:59.999999Z");
        e.delivery_latency_ms = e.received_at.millis_since(&e.content.generated_at);
        e.submitter = "anonymous".into();
    }
    let mut previous = Hash::ZERO;
    entries
        .into_iter()
        .map(|mut entry| {
            entry.previous_hash = previous;
            let stored = StoredEntry::seal(entry);
            previous = stored.entry_hash;
            stored
        })
        .collect()
}

fn day(text: &str) -> Date {
    BackupId::from_str(text).unwrap().date()
}

/// A consistent manifest for `entries[range]` of a chain, chained after `previous`.
fn manifest_for(
    entries: &[StoredEntry],
    range: std::ops::Range<usize>,
    id: &str,
    previous: Option<&[u8]>,
) -> (Vec<u8>, Manifest) {
    let backup_id: BackupId = id.parse().unwrap();
    let mut tree = CompactRange::new();
    for entry in &entries[..range.end] {
        tree.append(entry.entry_hash);
    }
    let head = |size: usize| match size {
        0 => Hash::ZERO,
        n => entries[n - 1].entry_hash,
    };
    let rows = &entries[range.clone()];
    let csv = (!rows.is_empty()).then(|| {
        let bytes = file(rows);
        CsvObject {
            key: csv_key(&backup_id),
            sha256: Hash::sha256(&bytes),
            bytes: bytes.len() as u64,
            version_id: format!("v-{id}"),
        }
    });
    let manifest = Manifest {
        format: ManifestFormat::V1,
        backup_id,
        created_at: timestamp("2026-11-29T02:00:00.5Z"),
        index_range: IndexRange {
            from: range.start as u64,
            to: range.end as u64,
        },
        row_count: rows.len() as u64,
        first_previous_hash: head(range.start),
        last_entry_hash: head(range.end),
        merkle_root: tree.root(),
        compact_range: tree.hashes().to_vec(),
        csv,
        receipts: None,
        retain_until: rows
            .iter()
            .map(|row| row.entry.retention_expires_at)
            .max()
            .unwrap_or(timestamp("2033-11-29T00:00:00Z")),
        previous_manifest_sha256: previous.map_or(Hash::ZERO, Hash::sha256),
    };
    (manifest.to_bytes(), manifest)
}

// ---- CSV ----

#[test]
fn escaping_table() {
    let cases = [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-12", "'-12"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "\"'\rx\""),
        ("\nx", "\"'\nx\""),
        ("'quoted", "''quoted"),
        ("''", "'''"),
        ("'", "''"),
        ("", "'"),
        ("plain", "plain"),
        ("1-2=3", "1-2=3"),
        (" =1", " =1"),
        ("＝1", "'＝1"),
        ("a,b", "\"a,b\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("=\"x\",y", "\"'=\"\"x\"\",y\""),
        ("a\r\nb", "\"a\r\nb\""),
    ];
    for (value, expected) in cases {
        assert_eq!(cell(value), expected, "value {value:?}");
        assert!(
            !expected
                .trim_start_matches('"')
                .starts_with(['=', '+', '-', '@', '\t', '\r'])
        );
    }
    // Every case round-trips through a whole row.
    let mut stored = chain(1).remove(0);
    for (value, _) in cases {
        stored.entry.content.rationale = value.to_owned();
        stored.entry.content.model = Some(value.to_owned());
        let back = read_rows(&file(std::slice::from_ref(&stored))).unwrap();
        assert_eq!(back, vec![stored.clone()], "value {value:?}");
    }
}

#[test]
fn unescaping_refuses_what_the_writer_never_writes() {
    assert_eq!(unescape_cell("'=1"), Ok("=1"));
    assert_eq!(unescape_cell("''x"), Ok("'x"));
    assert_eq!(unescape_cell("'"), Ok(""));
    assert!(
        unescape_cell("=1")
            .unwrap_err()
            .contains("without the ' escape")
    );
    assert!(unescape_cell("-12").is_err());
    assert!(
        unescape_cell("'abc")
            .unwrap_err()
            .contains("escapes nothing")
    );
}

#[test]
fn header_and_layout() {
    let entries = chain(2);
    let text = String::from_utf8(file(&entries)).unwrap();
    assert!(text.starts_with(&header_line()));
    assert_eq!(text.matches("\r\n").count(), 3);
    assert!(!text.replace("\r\n", "").contains('\n'));
    // Empty cells for absent fields; a negative latency escaped; hashes in hex.
    let mut entry = entries[1].clone();
    entry.entry.content.target_price = None;
    entry.entry.delivery_latency_ms = -12;
    let rows = raw_cells(&file(std::slice::from_ref(&entry)));
    let cells = &rows[0];
    assert_eq!(cells.len(), 20);
    assert_eq!(cells[col::TARGET_PRICE], "");
    assert_eq!(cells[col::DELIVERY_LATENCY_MS], "'-12");
    assert_eq!(
        cells[col::PREVIOUS_HASH],
        entry.entry.previous_hash.to_hex()
    );
    assert_eq!(cells[col::ENTRY_HASH], entry.entry_hash.to_hex());
}

#[test]
fn header_mismatches_are_refused() {
    let rows = &file(&chain(1))[header_line().len()..];
    let with_header = |header: &str| [header.as_bytes(), rows].concat();
    assert_eq!(read_rows(b""), Err(BackupError::MissingHeader));
    let mut swapped = HEADER;
    swapped.swap(6, 7);
    assert_eq!(
        read_rows(&with_header(&format!("{}\r\n", swapped.join(",")))),
        Err(BackupError::Header {
            column: 7,
            found: "target_price".into(),
            expected: "entry_price"
        })
    );
    let extra = format!("{},extra\r\n", HEADER.join(","));
    assert_eq!(
        read_rows(&with_header(&extra)),
        Err(BackupError::HeaderColumns { found: 21 })
    );
    let bom = format!("\u{FEFF}{}", header_line());
    assert!(matches!(
        read_rows(&with_header(&bom)),
        Err(BackupError::Header { column: 1, .. })
    ));
    let upper = header_line().to_uppercase();
    assert!(read_rows(&with_header(&upper)).is_err());
    // A header alone is a file with no rows.
    assert_eq!(read_rows(header_line().as_bytes()), Ok(vec![]));
}

#[test]
fn a_wrong_column_count_names_the_row_and_reading_goes_on() {
    let entries = chain(3);
    let short = file_with(&entries, 1, |cells| drop(cells.pop()));
    let results: Vec<_> = RowReader::new(&short[..]).unwrap().collect();
    assert_eq!(
        results[0],
        Err(BackupError::ColumnCount {
            row: 1,
            line: 2,
            found: 19
        })
    );
    assert_eq!(
        results[1..],
        [Ok(entries[1].clone()), Ok(entries[2].clone())]
    );
    let long = file_with(&entries, 2, |cells| cells.push(String::new()));
    let error = read_rows(&long).unwrap_err();
    assert_eq!(
        error,
        BackupError::ColumnCount {
            row: 2,
            line: 3,
            found: 21
        }
    );
    assert_eq!(
        error.to_string(),
        "row 2 (line 3) has 21 columns; expected 20"
    );
}

#[test]
fn non_canonical_values_name_row_and_column() {
    let entries = chain(3);
    let check = |row: usize, column: usize, cell: &str, words: &str| {
        let tampered = file_with(&entries, row, |cells| cells[column] = cell.to_owned());
        match read_rows(&tampered) {
            Err(BackupError::Cell {
                row: r,
                line,
                column: c,
                reason,
                ..
            }) => {
                assert_eq!((r, line, c), (row as u64, row as u64 + 1, HEADER[column]));
                assert!(reason.contains(words), "{reason}");
            }
            other => panic!("{cell:?} in column {column}: {other:?}"),
        }
    };
    let price = entries[1].entry.content.entry_price.as_str().to_owned();
    check(
        2,
        col::ENTRY_PRICE,
        &format!("{price}0"),
        "not in canonical form",
    );
    check(
        1,
        col::ENTRY_PRICE,
        "",
        "is empty, but the field is required",
    );
    check(1, col::RATIONALE, "", "is empty, but the field is required");
    check(1, col::TARGET_PRICE, "'", "is not a decimal");
    check(1, col::CONFIDENCE, "1.5e-1", "not in canonical form");
    check(
        1,
        col::GENERATED_AT,
        "2026-11-28T09:00:00Z",
        "not in canonical form",
    );
    check(3, col::CHAIN_INDEX, "02", "not a canonical integer");
    check(
        1,
        col::DELIVERY_LATENCY_MS,
        "'-0",
        "not a canonical integer",
    );
    check(
        1,
        col::DELIVERY_LATENCY_MS,
        "'+5",
        "not a canonical integer",
    );
    check(1, col::DELIVERY_LATENCY_MS, "-5", "without the ' escape");
    check(2, col::ENTRY_HASH, &"A".repeat(64), "64 lowercase hex");
    check(
        2,
        col::PREVIOUS_HASH,
        &"a".repeat(100_000),
        "…\" expected 64 lowercase hex",
    );
    check(2, col::ACTION, "buy", "is not BUY or SELL");
    check(2, col::SIGNAL_ID, "a b", "may contain only");
    check(1, col::SYMBOL, "'AAPL", "escapes nothing");
    check(
        1,
        col::SUBMITTER,
        "=cmd|' /C calc'!A0",
        "without the ' escape",
    );
    let tampered = file_with(&entries, 2, |cells| {
        cells[col::ENTRY_PRICE] = "150.50".to_owned()
    });
    assert_eq!(
        read_rows(&tampered).unwrap_err().to_string(),
        "row 2 (line 3), column entry_price: \"150.50\" is not in canonical form (expected 150.5)"
    );
    // Not UTF-8.
    let mut bytes = file(&entries);
    let at = bytes.windows(4).position(|w| w == b"BUY,").unwrap();
    bytes[at] = 0xFF;
    assert!(matches!(
        read_rows(&bytes),
        Err(BackupError::Cell { column: "action", ref reason, .. }) if reason == "is not valid UTF-8"
    ));
}

#[test]
fn quoted_line_breaks_are_cell_content_and_count_as_lines() {
    let mut entries = chain(3);
    entries[0].entry.content.rationale = "a\r\nb\nc, \"d\"\r".into();
    entries[0] = StoredEntry::seal(entries[0].entry.clone());
    let bytes = file(&entries);
    assert_eq!(read_rows(&bytes), Ok(entries.clone()));
    assert_eq!(raw_cells(&bytes)[0][col::RATIONALE], "a\r\nb\nc, \"d\"\r");
    // Row 2 starts on line 5: the header, then row 1 spanning lines 2–4.
    let mut rows = file_with(&entries[1..], 1, |cells| {
        cells[col::ACTION] = "HOLD".to_owned()
    });
    rows.drain(..header_line().len());
    let mut first = Vec::new();
    write_header(&mut first);
    write_row(&mut first, &entries[0]);
    let tampered = [first, rows].concat();
    let error = read_rows(&tampered).unwrap_err();
    assert_eq!(
        error.to_string(),
        "row 2 (line 5), column action: \"HOLD\" is not BUY or SELL"
    );
}

#[test]
fn framing_errors_end_the_reading() {
    let entries = chain(2);
    let syntax = |tampered: &[u8], row: u64, words: &str| {
        let results: Vec<_> = RowReader::new(tampered).unwrap().collect();
        assert_eq!(results.len(), row as usize, "reading stops at the error");
        match results.last() {
            Some(Err(BackupError::Syntax { row: r, reason, .. })) => {
                assert_eq!(*r, row);
                assert!(reason.contains(words), "{reason}");
            }
            other => panic!("{words}: {other:?}"),
        }
    };
    let bytes = file(&entries);
    syntax(&bytes[..bytes.len() - 2], 2, "ends inside this row");
    syntax(&bytes[..bytes.len() - 1], 2, "ends inside this row");
    let edited = |edit: &dyn Fn(&mut Vec<String>)| file_with(&entries, 1, edit);
    syntax(
        &edited(&|c| c[col::SYMBOL] = "\"AAPL\"".into()),
        1,
        "quoted only when they must be",
    );
    syntax(
        &edited(&|c| c[col::SYMBOL] = "AA\"PL".into()),
        1,
        "double quote inside an unquoted cell",
    );
    syntax(
        &edited(&|c| c[col::SYMBOL] = "\"a,b\"x".into()),
        1,
        "after a closing quote",
    );
    syntax(
        &edited(&|c| c[col::SYMBOL] = "\r".into()),
        1,
        "carriage return outside quotes",
    );
    syntax(
        &edited(&|c| c[col::SYMBOL] = "\n".into()),
        1,
        "line feed outside quotes",
    );
    let unterminated = file_with(&entries, 2, |c| {
        c[col::ENTRY_HASH] = "\"unterminated".into()
    });
    syntax(&unterminated, 2, "ends inside this row");
    let mut bare_lf = edited(&|_| ());
    let end = bare_lf.windows(2).rposition(|w| w == b"\r\n").unwrap();
    bare_lf.remove(end);
    syntax(&bare_lf, 2, "line feed outside quotes");
    let huge = format!("{}\"{}", header_line(), ",".repeat(MAX_ROW_BYTES + 1));
    assert_eq!(
        read_rows(huge.as_bytes()),
        Err(BackupError::RowTooLong { row: 1, line: 2 })
    );
}

#[test]
fn the_reader_streams_through_small_buffers() {
    let entries = awkward_entries();
    let bytes = file(&entries);
    for capacity in [1, 2, 3, 7, 64] {
        let reader = RowReader::new(BufReader::with_capacity(capacity, &bytes[..])).unwrap();
        let back: Vec<StoredEntry> = reader.map(Result::unwrap).collect();
        assert_eq!(back, entries, "capacity {capacity}");
    }
}

// ---- known-answer vector ----

const VECTOR_CSV: &[u8] =
    include_bytes!("../../../../docs/vectors/backup/signals_backup_20261128.csv");
const VECTOR_MANIFEST: &[u8] =
    include_bytes!("../../../../docs/vectors/backup/signals_backup_20261128.json");

#[test]
fn known_answer_backup_vector() {
    let expected = awkward_entries();
    assert_eq!(
        file(&expected),
        VECTOR_CSV,
        "the writer reproduces the vector"
    );
    let read = read_rows(VECTOR_CSV).unwrap();
    assert_eq!(read, expected);
    let hashes: Vec<String> = read
        .iter()
        .map(|s| s.entry.compute_hash().to_hex())
        .collect();
    assert_eq!(
        hashes,
        [
            "b88ec595bd10497f9f1ce98b8d6268f3276607507466f35f4883606c87e6a85f",
            "231e0e8ae42fbf6b9b36ed1fd567ae1b06e82e9363dbc1e6f1a35b9ba5f19f30",
            "8922cabda806460f2d7d1a4da9a011f9b51c1b55eb63bfd09df833786c1c500a",
            "c300f3c64d58bca6430246459bb2897269a047ee636db5f900f716ef1eef3ff2",
        ]
    );
    assert!(verify_chain(&read, Some(4)).is_intact());
    let manifest = Manifest::parse(VECTOR_MANIFEST).unwrap();
    let (bytes, built) = manifest_for(&expected, 0..4, "20261128", None);
    let built = Manifest {
        csv: built.csv.map(|csv| CsvObject {
            version_id: manifest.csv.as_ref().unwrap().version_id.clone(),
            ..csv
        }),
        ..built
    };
    assert_eq!(manifest, built);
    assert_eq!(built.to_bytes(), VECTOR_MANIFEST);
    assert_ne!(bytes, VECTOR_MANIFEST, "only the version id differs");
    let csv = manifest.csv.as_ref().unwrap();
    assert_eq!(csv.sha256, Hash::sha256(VECTOR_CSV));
    assert_eq!(csv.bytes, VECTOR_CSV.len() as u64);
}

// ---- keys and ids ----

#[test]
fn backup_ids_and_keys() {
    let first = BackupId::new(day("20261128"), 1).unwrap();
    assert_eq!(first.to_string(), "20261128");
    assert_eq!(
        csv_key(&first),
        "signals/2026/11/signals_backup_20261128.csv"
    );
    assert_eq!(
        manifest_key(&first),
        "manifests/2026/11/signals_backup_20261128.json"
    );
    let second = first.next_run().unwrap();
    assert_eq!(
        csv_key(&second),
        "signals/2026/11/signals_backup_20261128_2.csv"
    );
    let tenth = BackupId::new(day("20261128"), 10).unwrap();
    assert!(first < second && second < tenth);
    assert!(tenth < BackupId::new(day("20261129"), 1).unwrap());
    for id in [first, second, tenth] {
        assert_eq!(id.to_string().parse(), Ok(id));
        assert_eq!(BackupId::from_manifest_key(&manifest_key(&id)), Ok(id));
    }
    for bad in [
        "2026112",
        "20261128_1",
        "20261128_02",
        "20261128_",
        "20261131",
        "2026-11-28",
        "20261128_2x",
    ] {
        assert!(bad.parse::<BackupId>().is_err(), "{bad}");
    }
    assert_eq!(
        BackupId::new(day("20261128"), 0),
        Err(BackupIdError::ZeroRun)
    );
    for bad in [
        "manifests/2026/12/signals_backup_20261128.json",
        "signals/2026/11/signals_backup_20261128.csv",
        "manifests/2026/11/signals_backup_20261128.json.bak",
    ] {
        assert!(BackupId::from_manifest_key(bad).is_err(), "{bad}");
    }
}

// ---- manifest ----

#[test]
fn manifest_round_trips_and_parses_strictly() {
    let entries = chain(5);
    let (bytes, manifest) = manifest_for(&entries, 2..5, "20261128_2", None);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with(
        "{\n  \"format\": \"signal-ledger-backup-manifest/1\",\n  \"backup_id\": \"20261128_2\",\n"
    ));
    assert!(text.ends_with("}\n"));
    assert_eq!(Manifest::parse(&bytes), Ok(manifest.clone()));
    assert_eq!(manifest.sha256(), Hash::sha256(&bytes));
    assert_eq!(manifest.tree().unwrap().root(), manifest.merkle_root);

    let json = |edit: &dyn Fn(&str) -> String| Manifest::parse(edit(&text).as_bytes());
    let is_json_error = |result: Result<Manifest, ManifestError>, words: &str| match result {
        Err(ManifestError::Json(message)) => assert!(message.contains(words), "{message}"),
        other => panic!("{other:?}"),
    };
    is_json_error(
        json(&|t| t.replace("manifest/1", "manifest/3")),
        "expected \"signal-ledger-backup-manifest/2\" or \"signal-ledger-backup-manifest/1\"",
    );
    // Format 2 without its receipts, or format 1 with them: refused.
    assert!(matches!(
        json(&|t| t.replace("manifest/1", "manifest/2")),
        Err(ManifestError::Inconsistent(reason)) if reason.contains("must list its receipts")
    ));
    is_json_error(
        json(&|t| t.replacen("{\n", "{\n  \"extra\": 1,\n", 1)),
        "unknown field `extra`",
    );
    is_json_error(
        json(&|t| t.replace("  \"row_count\": 3,\n", "")),
        "missing field `row_count`",
    );
    is_json_error(
        json(&|t| {
            t.replace(
                "\"created_at\": \"2026-11-29T02:00:00.500000Z\"",
                "\"created_at\": \"2026-11-29T02:00:00.5Z\"",
            )
        }),
        "not in canonical form",
    );
    assert_eq!(
        json(&|t| t.replace("\n  ", "\n    ")),
        Err(ManifestError::NotCanonical)
    );
    assert_eq!(
        json(&|t| t.trim_end().to_owned()),
        Err(ManifestError::NotCanonical)
    );
    let created = "  \"created_at\": \"2026-11-29T02:00:00.500000Z\",\n";
    let id = "  \"backup_id\": \"20261128_2\",\n";
    assert_eq!(
        json(&|t| t.replace(&format!("{id}{created}"), &format!("{created}{id}"))),
        Err(ManifestError::NotCanonical)
    );

    let inconsistent = |edit: &dyn Fn(&mut Manifest), words: &str| {
        let mut edited = manifest.clone();
        edit(&mut edited);
        match Manifest::parse(&edited.to_bytes()) {
            Err(ManifestError::Inconsistent(reason)) => {
                assert!(reason.contains(words), "{reason}")
            }
            other => panic!("{words}: {other:?}"),
        }
    };
    inconsistent(&|m| m.row_count = 2, "row_count 2 is not to − from");
    inconsistent(&|m| m.index_range.from = 6, "row_count");
    inconsistent(
        &|m| m.merkle_root = Hash([1; 32]),
        "is not the root of compact_range",
    );
    inconsistent(
        &|m| {
            m.compact_range.pop();
        },
        "compact_range",
    );
    inconsistent(&|m| m.csv = None, "must name its csv");
    inconsistent(
        &|m| m.csv.as_mut().unwrap().key = "signals/x.csv".into(),
        "csv.key",
    );
    inconsistent(
        &|m| m.csv.as_mut().unwrap().version_id = String::new(),
        "version_id",
    );
    inconsistent(
        &|m| m.first_previous_hash = Hash::ZERO,
        "first_previous_hash",
    );
    inconsistent(&|m| m.last_entry_hash = Hash([2; 32]), "odd to");
    inconsistent(&|m| m.retain_until = m.created_at, "retain_until");
}

#[test]
fn an_empty_backup_has_no_csv_and_keeps_the_head() {
    let entries = chain(4);
    let (bytes, empty) = manifest_for(&entries, 4..4, "20261129", None);
    assert_eq!(empty.csv, None);
    assert!(
        String::from_utf8(bytes.clone())
            .unwrap()
            .contains("\"csv\": null")
    );
    assert_eq!(empty.first_previous_hash, entries[3].entry_hash);
    assert_eq!(empty.last_entry_hash, entries[3].entry_hash);
    assert_eq!(Manifest::parse(&bytes), Ok(empty.clone()));
    let mut with_csv = empty.clone();
    with_csv.csv = manifest_for(&entries, 0..4, "20261129", None).1.csv;
    assert!(matches!(
        Manifest::parse(&with_csv.to_bytes()),
        Err(ManifestError::Inconsistent(_))
    ));
    // The genesis backup of an empty ledger.
    let (bytes, genesis) = manifest_for(&entries, 0..0, "20261127", None);
    assert_eq!(genesis.merkle_root, merkle::root(&[]));
    assert_eq!(Manifest::parse(&bytes), Ok(genesis));
}

fn finding_kinds(findings: &[ManifestFinding]) -> Vec<(usize, &'static str)> {
    findings
        .iter()
        .map(|f| (f.position, f.kind.name()))
        .collect()
}

/// Day 1: entries 0..4; day 2 run 1: none; day 2 run 2: 4..7; day 3: 7..10.
fn manifest_chain(entries: &[StoredEntry]) -> Vec<(Vec<u8>, Manifest)> {
    let plan = [
        (0..4, "20261128"),
        (4..4, "20261129"),
        (4..7, "20261129_2"),
        (7..10, "20261130"),
    ];
    let mut out: Vec<(Vec<u8>, Manifest)> = Vec::new();
    for (range, id) in plan {
        let previous = out.last().map(|(bytes, _)| bytes.as_slice());
        out.push(manifest_for(entries, range, id, previous));
    }
    out
}

/// Replaces manifest `at` and re-links the ones after it, as a careful forger would.
fn relink(chain: &mut [(Vec<u8>, Manifest)], at: usize, edit: impl Fn(&mut Manifest)) {
    edit(&mut chain[at].1);
    chain[at].0 = chain[at].1.to_bytes();
    for next in at + 1..chain.len() {
        chain[next].1.previous_manifest_sha256 = Hash::sha256(&chain[next - 1].0);
        chain[next].0 = chain[next].1.to_bytes();
    }
}

#[test]
fn manifest_chain_findings() {
    let entries = chain(10);
    let clean = manifest_chain(&entries);
    assert_eq!(verify_manifest_chain(&clean), vec![]);
    assert_eq!(verify_manifest_chain(&[]), vec![]);

    // A manifest rewritten in place (e.g. a new version): the next link breaks.
    let mut tampered = clean.clone();
    tampered[1].1.created_at = timestamp("2026-11-30T03:00:00Z");
    tampered[1].0 = tampered[1].1.to_bytes();
    let findings = verify_manifest_chain(&tampered);
    assert_eq!(finding_kinds(&findings), vec![(2, "broken_link")]);
    assert_eq!(
        findings[0].kind,
        ManifestFindingKind::BrokenLink {
            expected: Hash::sha256(&tampered[1].0),
            found: Hash::sha256(&clean[1].0),
        }
    );
    assert_eq!(findings[0].backup_id.to_string(), "20261129_2");

    // A missing manifest: a gap in the range and a broken link.
    let mut missing = clean.clone();
    missing.remove(2);
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&missing)),
        vec![(2, "broken_link"), (2, "gap")]
    );
    let findings = verify_manifest_chain(&missing);
    assert_eq!(
        findings[1].kind,
        ManifestFindingKind::Gap {
            expected_from: 4,
            found_from: 7
        }
    );

    // Re-linked but with a range that skips entries, or repeats them.
    let mut gap = clean.clone();
    relink(&mut gap, 3, |m| {
        let (_, other) = manifest_for(&entries, 8..10, "20261130", None);
        *m = Manifest {
            previous_manifest_sha256: m.previous_manifest_sha256,
            ..other
        };
    });
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&gap)),
        vec![(3, "gap")]
    );
    let mut overlap = clean.clone();
    relink(&mut overlap, 3, |m| {
        let (_, other) = manifest_for(&entries, 6..10, "20261130", None);
        *m = Manifest {
            previous_manifest_sha256: m.previous_manifest_sha256,
            ..other
        };
    });
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&overlap)),
        vec![(3, "overlap")]
    );

    // Contiguous indexes, but the first row does not link to the previous backup's last.
    let mut forged = clean.clone();
    relink(&mut forged, 2, |m| m.first_previous_hash = Hash([9; 32]));
    let findings = verify_manifest_chain(&forged);
    assert_eq!(finding_kinds(&findings), vec![(2, "entry_link_mismatch")]);
    assert_eq!(
        findings[0].kind,
        ManifestFindingKind::EntryLinkMismatch {
            expected: entries[3].entry_hash,
            found: Hash([9; 32]),
        }
    );

    // An empty backup whose root differs from the previous one.
    let mut rerooted = clean.clone();
    relink(&mut rerooted, 1, |m| {
        m.compact_range = vec![Hash([5; 32])];
        m.merkle_root = Hash([5; 32]);
    });
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&rerooted)),
        vec![(1, "root_changed")]
    );

    // The first manifest must start the chain; ids must increase; bytes must be canonical.
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&clean[1..])),
        vec![(0, "broken_link"), (0, "gap")]
    );
    let mut reordered = clean.clone();
    relink(&mut reordered, 2, |m| {
        m.backup_id = "20261127".parse().unwrap();
        m.csv.as_mut().unwrap().key = csv_key(&m.backup_id);
    });
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&reordered)),
        vec![(2, "out_of_order")]
    );
    let mut spaced = clean.clone();
    spaced[3].0.insert(1, b' ');
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&spaced)),
        vec![(3, "invalid")]
    );
    let mut inconsistent = clean;
    relink(&mut inconsistent, 0, |m| m.row_count = 9);
    assert_eq!(
        finding_kinds(&verify_manifest_chain(&inconsistent)),
        vec![(0, "invalid")]
    );
}

// ---- round trip property ----

/// Text that likes the characters CSV and spreadsheets care about, at the start and inside.
fn awkward_text() -> impl Strategy<Value = String> {
    let start = prop::sample::select(vec![
        "", "=", "+", "-", "@", "\t", "\r", "\n", "'", "''", "\"", ",", "＝", "＠", " ",
    ]);
    let middle = prop_oneof![any::<String>(), "[a-z ,\"'\r\n\t=+@é株📈-]{0,24}",];
    (start, middle).prop_map(|(start, middle)| format!("{start}{middle}"))
}

fn arb_decimal() -> impl Strategy<Value = ExactDecimal> {
    (0u64..1_000_000_000_000, 0u64..100_000_000)
        .prop_map(|(integer, fraction)| decimal(&format!("{integer}.{fraction:08}")))
}

fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    (-62_167_219_200i64..253_402_300_800, 0i64..1_000_000).prop_map(|(seconds, micros)| {
        let instant = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap()
            + time::Duration::microseconds(micros);
        Timestamp::from_datetime(instant).unwrap()
    })
}

fn arb_entry() -> impl Strategy<Value = StoredEntry> {
    let numbers = (
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        "[A-Za-z0-9._:-]{1,40}",
        any::<i64>(),
    );
    let content = (
        awkward_text(),
        any::<bool>(),
        arb_decimal(),
        prop::option::of(arb_decimal()),
        prop::option::of(arb_decimal()),
        prop::option::of(arb_decimal()),
        awkward_text(),
        prop::option::of(awkward_text()),
        prop::option::of(awkward_text()),
        prop::option::of(awkward_text()),
    );
    let times = (
        arb_timestamp(),
        arb_timestamp(),
        arb_timestamp(),
        awkward_text(),
    );
    (numbers, content, times).prop_map(
        |(
            (schema_version, chain_index, previous, signal_id, latency),
            (
                symbol,
                buy,
                entry_price,
                target_price,
                stop_loss,
                confidence,
                rationale,
                producer,
                model,
                model_version,
            ),
            (generated_at, received_at, retention_expires_at, submitter),
        )| {
            StoredEntry::seal(Entry {
                schema_version,
                chain_index,
                previous_hash: Hash(previous),
                signal_id: SignalId::parse(&signal_id).unwrap(),
                content: SignalContent {
                    symbol,
                    action: if buy { Action::Buy } else { Action::Sell },
                    entry_price,
                    target_price,
                    stop_loss,
                    confidence,
                    rationale,
                    generated_at,
                    producer,
                    model,
                    model_version,
                },
                received_at,
                delivery_latency_ms: latency,
                retention_expires_at,
                submitter,
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rows_round_trip_exactly(entries in prop::collection::vec(arb_entry(), 0..6), capacity in 1usize..80) {
        let bytes = file(&entries);
        let reader = RowReader::new(BufReader::with_capacity(capacity, &bytes[..])).unwrap();
        let back: Vec<StoredEntry> = reader.collect::<Result<_, _>>().unwrap();
        for stored in &back {
            prop_assert_eq!(stored.entry.compute_hash(), stored.entry_hash);
        }
        prop_assert_eq!(&back, &entries);
        // No cell a spreadsheet sees starts with a formula character.
        for row in raw_cells(&bytes) {
            for cell in row {
                prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']), "{:?}", cell);
            }
        }
    }

    #[test]
    fn the_reader_accepts_only_what_the_writer_writes(entries in prop::collection::vec(arb_entry(), 1..4), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        // Change one byte: the file is refused, or it reads back to entries that re-write to
        // exactly the changed bytes (one spelling per file).
        let mut bytes = file(&entries);
        let position = at.index(bytes.len());
        bytes[position] = byte;
        if let Ok(back) = read_rows(&bytes) {
            prop_assert_eq!(file(&back), bytes);
        }
    }
}

#[path = "receipts_tests.rs"]
mod receipts_tests;

#[test]
fn a_second_reading_of_index_and_hash_gives_each_rows_own() {
    let entries = chain(5);
    let bytes = file(&entries);
    let mut reader = RowReader::new(bytes.as_slice()).unwrap();
    let mut read = Vec::new();
    while let Some(row) = reader.next_index_and_hash() {
        read.push(row);
    }
    let expected: Vec<(u64, Hash)> = entries
        .iter()
        .map(|e| (e.entry.chain_index, e.entry_hash))
        .collect();
    assert_eq!(read, expected);
    // A row that does not give both ends the reading.
    let mut cut = bytes.clone();
    cut.truncate(bytes.len() - 10);
    let mut reader = RowReader::new(cut.as_slice()).unwrap();
    let mut count = 0;
    while reader.next_index_and_hash().is_some() {
        count += 1;
    }
    assert_eq!(count, 4);
}

/// Every row of `bytes` through `next_fields`, each as the owned entry its fields describe
/// (compared by their fields), and the refusal that ended the reading, if any.
fn read_fields<R: std::io::BufRead>(input: R) -> (Vec<(String, Hash)>, Option<BackupError>) {
    let mut reader = match RowReader::new(input) {
        Ok(reader) => reader,
        Err(error) => return (Vec::new(), Some(error)),
    };
    let mut rows = Vec::new();
    while let Some(row) = reader.next_fields() {
        match row {
            Ok((fields, hash)) => rows.push((format!("{fields:?}"), hash)),
            Err(error) => return (rows, Some(error)),
        }
    }
    (rows, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// The plain-record reading (whole records found with memchr in the input's buffer) and
    /// the byte-at-a-time reading agree: a file with one byte changed reads the same, entry for
    /// entry and refusal for refusal, whether its records sit whole in one buffer or are cut
    /// anywhere by a small one; and the borrowed fields are those of the owned entries.
    #[test]
    fn records_read_the_same_whatever_the_buffer_and_fields_match_entries(
        entries in prop::collection::vec(arb_entry(), 1..4),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        capacity in 1usize..700,
    ) {
        let mut bytes = file(&entries);
        let position = at.index(bytes.len());
        bytes[position] = byte;
        let whole: Vec<Result<StoredEntry, BackupError>> = match RowReader::new(bytes.as_slice()) {
            Ok(reader) => reader.collect(),
            Err(error) => vec![Err(error)],
        };
        let cut: Vec<Result<StoredEntry, BackupError>> =
            match RowReader::new(BufReader::with_capacity(capacity, bytes.as_slice())) {
                Ok(reader) => reader.collect(),
                Err(error) => vec![Err(error)],
            };
        prop_assert_eq!(&whole, &cut);
        let (fields, refused) = read_fields(BufReader::with_capacity(capacity, bytes.as_slice()));
        let mut expected_fields = Vec::new();
        let mut expected_refusal = None;
        for row in &whole {
            match row {
                Ok(stored) => expected_fields.push((format!("{:?}", stored.entry.fields()), stored.entry_hash)),
                Err(error) => {
                    expected_refusal = Some(error.clone());
                    // The iterator goes on after a refused cell; the field reading stops.
                    break;
                }
            }
        }
        prop_assert_eq!(fields, expected_fields);
        prop_assert_eq!(refused, expected_refusal);
    }

    /// The ASCII shortcut of the cell unescaping agrees with the character-by-character rule.
    #[test]
    fn unescaping_a_cell_agrees_with_the_general_rule(cell in "(['=+@\t\r\n-]|\u{FF1D}|\u{FF0B}|\u{FF0D}|\u{FF20}|[a-z0-9 ]|\u{e9})*") {
        prop_assert_eq!(unescape(&cell), unescape_any(&cell));
    }
}
