//! `ledgerctl verify-evidence` on a real export: after a day of the ledger on the emulator and
//! `export-evidence`, the `ledgerctl` binary verifies the folder with the KMS public key alone —
//! with `AWS_ENDPOINT_URL` pointing at a closed port and no credentials — and each tampering of
//! the folder (an edited CSV cell, a removed row, two checkpoints' contents swapped, a checkpoint
//! signed by another key, a truncated leaf file, a removed manifest, an altered report — even with
//! `evidence.json` edited to match) is caught with the exit status and the location promised. A
//! plain sync copy (no `evidence.json`) verifies and says what it cannot check; an export of
//! another period verifies, naming the backup CSV it left out. Every folder is also verified by
//! the independent standard-library verifier, `docs/vectors/check_evidence.py`, and the two must
//! agree: the same verdict and exit status, the same findings (file, location, kind) and the same
//! missing files.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use shared::adapters::memory::SoftwareSigner;
use shared::domain::checkpoint::{Signature, SignedCheckpoint};
use shared::ports::{PublicKeys, Signer};

use crate::export::{a_day, export, export_with, ingest_signals, scratch};
use shared::app::sweep::SweepMode;

/// The `ledgerctl` binary `infra/test.sh` builds (`cargo run -p ledgerctl -- provision`), beside
/// this test binary's `deps/` folder; `LEDGERCTL` overrides it.
fn ledgerctl() -> PathBuf {
    let path = std::env::var_os("LEDGERCTL").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("ledgerctl")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} not found: build it with `cargo build -p ledgerctl`",
        path.display()
    );
    path
}

/// Runs `verify-evidence DIR --public-key KEY --json` offline (the endpoint a closed port, no
/// credentials anywhere the SDK would look) and `check_evidence.py` on the same folder, asserts
/// that they agree, and returns the exit status and `ledgerctl`'s verdict.
fn verify(dir: &Path, key: &Path) -> (i32, Value) {
    let rust = verify_with_ledgerctl(dir, key);
    let python = verify_with_python(dir, key);
    assert_agree(&rust, &python);
    rust
}

/// The independent verifier on the folder: `python3 docs/vectors/check_evidence.py DIR
/// --public-key KEY --json`.
fn verify_with_python(dir: &Path, key: &Path) -> (i32, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/check_evidence.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(dir)
        .arg("--public-key")
        .arg(key)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "check_evidence.py gave no JSON verdict: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), verdict)
}

/// What both verifiers must agree on (docs/ledger-format.md §12.2): the verdict, the findings as
/// a sorted list of (file, location, kind), the missing and left-out files, the kind of copy with
/// what it cannot check, the origin and every count. Only the messages may differ.
fn agreement(verdict: &(i32, Value)) -> Value {
    let (status, verdict) = verdict;
    let mut found = findings(verdict);
    found.sort();
    let mut missing: Vec<&str> = verdict["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[0].as_str().unwrap())
        .collect();
    missing.sort_unstable();
    let mut agreed = serde_json::json!({
        "exit_code": status,
        "cannot_check": verdict["cannot_check"].as_array().unwrap().len(),
        "findings": found,
        "missing": missing,
    });
    for field in [
        "verdict",
        "copy",
        "origin",
        "findings_total",
        "out_of_period",
        "unlisted",
        "files_checked",
        "manifests_checked",
        "rows_checked",
        "receipts_checked",
        "backed_up_to",
        "checkpoints_checked",
        "checkpointed_size",
        "leaves_checked",
        "leaves_matched_to_rows",
        "seals_checked",
        "audit_events_sealed",
    ] {
        agreed[field] = verdict[field].clone();
    }
    agreed
}

fn assert_agree(rust: &(i32, Value), python: &(i32, Value)) {
    assert_eq!(
        agreement(rust),
        agreement(python),
        "ledgerctl verify-evidence (left) and check_evidence.py (right) disagree\nledgerctl: {:#}\ncheck_evidence.py: {:#}",
        rust.1,
        python.1
    );
}

/// `ledgerctl verify-evidence DIR --public-key KEY --json`, offline.
fn verify_with_ledgerctl(dir: &Path, key: &Path) -> (i32, Value) {
    let home = scratch();
    std::fs::create_dir_all(&home).unwrap();
    let output = Command::new(ledgerctl())
        .args(["verify-evidence"])
        .arg(dir)
        .arg("--public-key")
        .arg(key)
        .arg("--json")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("HOME", &home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "not a JSON verdict: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), verdict)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The one key under `prefix` ending in `suffix`.
fn key_of(dir: &Path, prefix: &str, suffix: &str) -> String {
    let mut found = keys_of(dir, prefix, suffix);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

/// Every key under `prefix` ending in `suffix`, sorted.
fn keys_of(dir: &Path, prefix: &str, suffix: &str) -> Vec<String> {
    let folder = dir.join(prefix);
    let mut found = Vec::new();
    let mut pending = vec![folder];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else if entry.file_name().to_string_lossy().ends_with(suffix) {
                let relative = entry.path().strip_prefix(dir).unwrap().to_owned();
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

/// The (file, location, kind) of every finding.
fn findings(verdict: &Value) -> Vec<(String, Option<String>, String)> {
    verdict["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_owned(),
                f["location"].as_str().map(str::to_owned),
                f["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A tampered copy of `clean`.
fn tampered(clean: &Path, change: impl FnOnce(&Path)) -> PathBuf {
    let dir = scratch();
    copy_dir(clean, &dir);
    change(&dir);
    dir
}

#[tokio::test]
async fn an_export_verifies_offline_with_the_public_key_and_every_tampering_is_located() {
    let stack = Box::pin(a_day("verify-ev")).await;
    // Two more signals and an incremental sweep: a second checkpoint (size 7) after the first (5).
    ingest_signals(&stack, 5..7).await;
    stack.sweep(SweepMode::Incremental).await;
    let clean = scratch();
    export(&stack, &clean).await.unwrap();
    // The auditor's key, handed over out of band: KMS GetPublicKey's DER.
    let keys = scratch();
    std::fs::create_dir_all(&keys).unwrap();
    let der = shared::adapters::kms::KmsPublicKeys::new(aws_sdk_kms::Client::new(&stack.sdk))
        .public_key(&stack.key_arn)
        .await
        .unwrap();
    let key = keys.join("ledger.der");
    std::fs::write(&key, &der).unwrap();

    let (status, verdict) = verify(&clean, &key);
    assert_eq!(status, 0, "{verdict:#}");
    assert_eq!(verdict["verdict"], "verified");
    assert_eq!(verdict["copy"], "export");
    assert_eq!(verdict["rows_checked"], 5);
    assert_eq!(verdict["checkpoints_checked"], 2);
    assert_eq!(verdict["checkpointed_size"], 7);
    assert_eq!(verdict["leaves_matched_to_rows"], 5);
    assert_eq!(verdict["reports_checked"], 2);
    assert_eq!(
        verdict["origin"],
        shared::config::origin(&stack.signals).as_str()
    );

    let csv = key_of(&clean, "signals", ".csv");
    // An edited cell: the file no longer matches evidence.json, nor its manifest, and its row
    // no longer hashes to its entry_hash.
    let dir = tampered(&clean, |dir| {
        let text = std::fs::read_to_string(dir.join(&csv)).unwrap();
        let line = text.split("\r\n").nth(2).unwrap();
        let cells: Vec<&str> = line.split(',').collect();
        let edited = line.replacen(cells[4], &format!("{}X", cells[4]), 1);
        std::fs::write(dir.join(&csv), text.replacen(line, &edited, 1)).unwrap();
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 1, "{verdict:#}");
    let found = findings(&verdict);
    assert!(
        found.contains(&(csv.clone(), None, "file_hash_mismatch".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            csv.clone(),
            Some("chain index 1, row 2".into()),
            "hash_mismatch".into()
        )),
        "{found:?}"
    );

    // A removed row: a gap at its index.
    let dir = tampered(&clean, |dir| {
        let text = std::fs::read_to_string(dir.join(&csv)).unwrap();
        let line = text.split("\r\n").nth(3).unwrap().to_owned();
        std::fs::write(dir.join(&csv), text.replacen(&format!("{line}\r\n"), "", 1)).unwrap();
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 1, "{verdict:#}");
    assert!(
        findings(&verdict).contains(&(
            csv.clone(),
            Some("chain index 2, row 3".into()),
            "gap".into()
        )),
        "{verdict:#}"
    );

    // Two checkpoints' contents swapped: each note is at the other's key, and both are named.
    let notes = keys_of(&clean, "checkpoints", ".txt");
    assert_eq!(notes.len(), 2, "{notes:?}");
    let dir = tampered(&clean, |dir| {
        let (first, second) = (dir.join(&notes[0]), dir.join(&notes[1]));
        let (a, b) = (
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap(),
        );
        std::fs::write(&first, b).unwrap();
        std::fs::write(&second, a).unwrap();
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 1, "{verdict:#}");
    let found = findings(&verdict);
    for note in &notes {
        assert!(
            found.contains(&(note.clone(), None, "checkpoint_misplaced".into())),
            "{found:?}"
        );
    }
    assert_eq!(verdict["checkpoints_checked"], 0);

    // A checkpoint re-signed by another key (naming the real key's id): it does not count.
    let note = notes[1].clone();
    let other = SoftwareSigner::from_secret(stack.key_arn.clone(), [9; 32]).unwrap();
    let text = std::fs::read_to_string(clean.join(&note)).unwrap();
    let signed = SignedCheckpoint::parse(&text).unwrap();
    let forged = SignedCheckpoint {
        signature: Signature::kms(
            stack.key_arn.clone(),
            other
                .sign(signed.checkpoint.body().as_bytes())
                .await
                .unwrap(),
        )
        .unwrap(),
        checkpoint: signed.checkpoint,
    };
    let dir = tampered(&clean, |dir| {
        std::fs::write(dir.join(&note), forged.to_text()).unwrap();
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 1, "{verdict:#}");
    assert!(
        findings(&verdict).contains(&(note.clone(), None, "untrusted_key".into())),
        "{verdict:#}"
    );
    assert_eq!(verdict["checkpoints_checked"], 1);
    // And the honest folder judged with that other key alone: nothing it signed counts.
    let other_key = keys.join("other.der");
    std::fs::write(&other_key, other.public_key(&stack.key_arn).await.unwrap()).unwrap();
    let (status, verdict) = verify(&clean, &other_key);
    assert_eq!(status, 1, "{verdict:#}");
    assert!(
        findings(&verdict).contains(&(note.clone(), None, "untrusted_key".into())),
        "{verdict:#}"
    );

    // A truncated leaf-hash file.
    let leaves = keys_of(&clean, "checkpoints", ".leaves").remove(0);
    let dir = tampered(&clean, |dir| {
        let bytes = std::fs::read(dir.join(&leaves)).unwrap();
        std::fs::write(dir.join(&leaves), &bytes[..65 * 2]).unwrap();
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 1, "{verdict:#}");
    assert!(
        findings(&verdict).contains(&(leaves.clone(), None, "leaves_digest".into())),
        "{verdict:#}"
    );

    // An altered report: it no longer matches evidence.json, nor the hash its report record
    // holds — and with evidence.json edited to match it, the record still names it.
    let html = key_of(&clean, "reports", ".html");
    let alter = |dir: &Path| {
        let mut bytes = std::fs::read(dir.join(&html)).unwrap();
        bytes.extend_from_slice(b"<!-- all PASS -->");
        std::fs::write(dir.join(&html), &bytes).unwrap();
        bytes
    };
    let dir = tampered(&clean, |dir| {
        alter(dir);
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 1, "{verdict:#}");
    let found = findings(&verdict);
    assert!(
        found.contains(&(html.clone(), None, "file_hash_mismatch".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(html.clone(), None, "report_hash_mismatch".into())),
        "{found:?}"
    );
    let dir = tampered(&clean, |dir| {
        let bytes = alter(dir);
        let path = dir.join(ledgerctl::export::EVIDENCE_FILE);
        let mut evidence: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for object in evidence["objects"].as_array_mut().unwrap() {
            if object["key"] == html.as_str() {
                object["sha256"] = shared::domain::hash::Hash::sha256(&bytes).to_hex().into();
                object["bytes"] = bytes.len().into();
            }
        }
        std::fs::write(&path, serde_json::to_vec(&evidence).unwrap()).unwrap();
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 1, "{verdict:#}");
    assert_eq!(
        findings(&verdict),
        vec![(html.clone(), None, "report_hash_mismatch".into())],
        "{verdict:#}"
    );

    // A removed manifest: the evidence is incomplete, and says which file is missing.
    let manifest = key_of(&clean, "manifests", ".json");
    let dir = tampered(&clean, |dir| {
        std::fs::remove_file(dir.join(&manifest)).unwrap();
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 2, "{verdict:#}");
    assert_eq!(verdict["verdict"], "incomplete");
    assert_eq!(verdict["missing"][0][0], manifest.as_str());

    // A plain sync copy (no evidence.json): verified as far as it goes, and it says what not.
    let dir = tampered(&clean, |dir| {
        std::fs::remove_file(dir.join(ledgerctl::export::EVIDENCE_FILE)).unwrap();
    });
    let (status, verdict) = verify(&dir, &key);
    assert_eq!(status, 0, "{verdict:#}");
    assert_eq!(verdict["copy"], "sync");
    assert_eq!(verdict["cannot_check"].as_array().unwrap().len(), 3);
    let text = Command::new(ledgerctl())
        .arg("verify-evidence")
        .arg(&dir)
        .arg("--public-key")
        .arg(&key)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("cannot check: original versions"), "{text}");
    assert!(text.contains("cannot check: retention"), "{text}");
    assert!(text.ends_with("verdict: verified\n"), "{text}");
}

#[tokio::test]
async fn an_export_of_another_period_verifies_and_names_what_it_left_out() {
    let stack = Box::pin(a_day("vev-period")).await;
    let out = scratch();
    let period = ledgerctl::export::Period::new("2020-01-01", "2020-01-31").unwrap();
    export_with(&stack, &out, Some(period)).await.unwrap();
    let key = out.join("ledger.der");
    let der = shared::adapters::kms::KmsPublicKeys::new(aws_sdk_kms::Client::new(&stack.sdk))
        .public_key(&stack.key_arn)
        .await
        .unwrap();
    let keys = scratch();
    std::fs::create_dir_all(&keys).unwrap();
    let key_file = keys.join(key.file_name().unwrap());
    std::fs::write(&key_file, der).unwrap();
    let (status, verdict) = verify(&out, &key_file);
    assert_eq!(status, 0, "{verdict:#}");
    // Today's CSV is outside 2020-01: named, not checked; the chains are whole and verified.
    let left_out = verdict["out_of_period"].as_array().unwrap();
    assert_eq!(left_out.len(), 1, "{verdict:#}");
    assert!(left_out[0].as_str().unwrap().starts_with("signals/"));
    assert_eq!(verdict["rows_checked"], 0);
    assert_eq!(verdict["checkpointed_size"], 5);
}
