//! The evidence folders of `docs/vectors/failing/evidence.json` (ledger-format §12.2) through
//! `ledgerctl verify-evidence`'s verifier: each case's folder, judged with its keys, must give
//! exactly the verdict written there — the exit status, the findings as (file, location, kind),
//! the missing, unlisted and left-out keys. `python3 docs/vectors/check_vectors.py` runs the same
//! cases through the independent `check_evidence.py`.

// This whole file is tests: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/vectors/failing/evidence.json"
);

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn scratch() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("evidence-vector-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The case's folder: the vector's folder with the case's changes (new text, or removed).
fn write_folder(vectors: &Value, case: &Value, dir: &Path) {
    let mut files = vectors["folder"].as_object().unwrap().clone();
    for (key, text) in case["changes"].as_object().unwrap() {
        files.insert(key.clone(), text.clone());
    }
    for (key, text) in &files {
        if let Some(text) = text.as_str() {
            let path = dir.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
}

/// What the vector states of a verdict.
fn agreement(verdict: &ledgerctl::verify::Verdict) -> Value {
    let mut findings: Vec<(String, Option<String>, String)> = verdict
        .findings
        .iter()
        .map(|f| (f.file.clone(), f.location.clone(), f.kind.clone()))
        .collect();
    findings.sort_by(|a, b| {
        (&a.0, a.1.as_deref().unwrap_or(""), &a.2).cmp(&(&b.0, b.1.as_deref().unwrap_or(""), &b.2))
    });
    let mut missing: Vec<&str> = verdict.missing.iter().map(|(k, _)| k.as_str()).collect();
    missing.sort_unstable();
    json!({
        "exit_code": verdict.exit_code,
        "verdict": verdict.verdict,
        "copy": verdict.copy,
        "findings": findings,
        "missing": missing,
        "unlisted": verdict.unlisted,
        "out_of_period": verdict.out_of_period,
    })
}

#[tokio::test]
async fn every_evidence_folder_gives_exactly_its_verdict() {
    let vectors: Value = serde_json::from_slice(&std::fs::read(VECTORS).unwrap()).unwrap();
    let keys = scratch();
    for (name, field) in [
        ("signing", "public_key_der_hex"),
        ("other", "other_public_key_der_hex"),
    ] {
        std::fs::write(
            keys.join(format!("{name}.der")),
            unhex(vectors[field].as_str().unwrap()),
        )
        .unwrap();
    }
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for case in cases {
        let dir = scratch();
        write_folder(&vectors, case, &dir);
        let key_files: Vec<PathBuf> = case["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| keys.join(format!("{}.der", k.as_str().unwrap())))
            .collect();
        let verdict = ledgerctl::verify::verify_folder(&dir, &key_files, None)
            .await
            .unwrap();
        let found = agreement(&verdict);
        if found != case["expected"] {
            wrong.push(format!(
                "{}: found {found:#}, expected {:#}",
                case["name"], case["expected"]
            ));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
