//! The backup CSVs that must be refused and the sets of CSV files with chain findings
//! (docs/vectors/failing/backups.json, `docs/ledger-format.md` §8.5), run through the Rust
//! reader and chain verifier: each must give exactly the refusal (code, row, line, column) or
//! the findings the vector names, as the independent `docs/vectors/backup/check_backup.py` does.

use serde_json::{Value, json};
use shared::domain::backup::read_rows;
use shared::domain::chain::ChainVerifier;

const BACKUPS: &str = include_str!("../../docs/vectors/failing/backups.json");

fn vectors() -> Value {
    serde_json::from_str(BACKUPS).expect("vector file is JSON")
}

fn csv_bytes(case: &Value) -> Vec<u8> {
    if let Some(parts) = case["csv_parts"].as_array() {
        // Text parts, each repeated `count` times (a 1 MiB row stays small in the file).
        return parts
            .iter()
            .map(|part| {
                let count = part[1].as_u64().expect("a count");
                let count = usize::try_from(count).expect("a count that fits memory");
                part[0].as_str().expect("a text").repeat(count)
            })
            .collect::<String>()
            .into_bytes();
    }
    match (case["csv"].as_str(), case["csv_hex"].as_str()) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(hex)) => hex::decode(hex).expect("csv_hex is hex"),
        _ => panic!("{}: a case holds csv, csv_hex or csv_parts", case["name"]),
    }
}

#[test]
fn every_refused_backup_csv_gives_exactly_its_refusal() {
    let vectors = vectors();
    let files = vectors["files"].as_array().expect("a files array");
    assert!(files.len() >= 35, "the vector file lost its cases");
    let mut codes = std::collections::BTreeSet::new();
    for case in files {
        let found = match read_rows(&csv_bytes(case)) {
            Ok(_) => Value::Null,
            Err(error) => {
                let (row, line) = error.position().expect("a vector never fails to read");
                json!({"code": error.code(), "row": row, "line": line, "column": error.column()})
            }
        };
        assert_eq!(found, case["refusal"], "{}", case["name"]);
        if let Some(code) = found["code"].as_str() {
            codes.insert(code.to_owned());
        }
    }
    // One vector per refusal code at least.
    let every_code = [
        "bare_carriage_return",
        "bare_line_feed",
        "column_count",
        "header_mismatch",
        "invalid_utf8",
        "missing_header",
        "needless_escape",
        "needless_quotes",
        "not_canonical",
        "quote_in_unquoted_cell",
        "required_empty",
        "row_too_long",
        "text_after_quote",
        "unescaped_formula",
        "unterminated_row",
    ];
    assert_eq!(codes.into_iter().collect::<Vec<_>>(), every_code);
}

#[test]
fn every_set_of_backup_csvs_gives_exactly_its_chain_findings() {
    let vectors = vectors();
    let sets = vectors["sets"].as_array().expect("a sets array");
    assert!(sets.len() >= 7, "the vector file lost its cases");
    for case in sets {
        let mut verifier = ChainVerifier::from_genesis();
        for csv in case["csvs"].as_array().unwrap() {
            for row in read_rows(csv.as_str().unwrap().as_bytes()).expect("the set's CSVs read") {
                verifier.push(&row);
            }
        }
        let found: Vec<Value> = verifier
            .finish(None)
            .findings
            .iter()
            .map(|f| json!({"index": f.index, "kind": f.kind.name()}))
            .collect();
        assert_eq!(Value::Array(found), case["findings"], "{}", case["name"]);
    }
}
