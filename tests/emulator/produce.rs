//! The regulator's production against the emulator: `ledgerctl produce` on a real ledger (ingest,
//! backup, sweep, report), the zip unpacked with Python's own `zipfile` and checked by its own
//! `verify.py` (exit 0), then one CSV row, one JSON line and one proof edited — each found,
//! naming the file and row; the report function's path stores the zip COMPLIANCE-locked under
//! `productions/` with a presigned link; both are audited as `RECORDS_READ`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ledgerctl::produce::{ProduceOptions, produce_file};
use shared::adapters::kms::KmsPublicKeys;
use shared::adapters::system::SystemClock;
use shared::app::produce::{Producer, Requester, StoreSettings, produce_to_vault};
use shared::domain::audit::AuditEventType;
use shared::domain::hash::Hash;
use shared::domain::report::PeriodRequest;
use shared::ports::{BlobVault, Clock, VaultReads};

use crate::export::a_day;
use crate::support::{VaultedStack, audit_events};

const OFFICER: &str = "arn:aws:iam::123456789012:user/compliance-officer";

fn producer(
    stack: &VaultedStack,
) -> Producer<
    shared::adapters::dynamodb::DynamoLedgerStore,
    shared::adapters::s3::S3Vault,
    shared::adapters::dynamodb::DynamoAuditSink,
    KmsPublicKeys,
> {
    Producer::new(
        stack.store(),
        stack.vault(),
        stack.audit_sink(),
        Some(KmsPublicKeys::new(aws_sdk_kms::Client::new(&stack.sdk))),
        stack.trust(),
    )
}

fn today() -> PeriodRequest {
    let today = SystemClock.now().as_str()[..10].to_owned();
    PeriodRequest {
        from: Some(today.clone()),
        to: Some(today),
        ..PeriodRequest::default()
    }
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::now_v7().simple()))
}

/// Unpacks `zip` into a new folder with Python's standard library, as a regulator might.
fn unpack(zip: &Path) -> PathBuf {
    let dir = scratch("production");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(zip)
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

/// `python3 verify.py` with no arguments inside `dir`: its exit code and output.
fn verify(dir: &Path) -> (i32, String) {
    let output = Command::new("python3")
        .arg("verify.py")
        .current_dir(dir)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// A copy of `dir` with `edit` applied to the text of `file`.
fn edited(dir: &Path, file: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let copy = scratch("production-edited");
    std::fs::create_dir_all(copy.join("keys")).unwrap();
    for entry in walk(dir) {
        let relative = entry.strip_prefix(dir).unwrap();
        std::fs::copy(&entry, copy.join(relative)).unwrap();
    }
    let path = copy.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = edit(&text);
    assert_ne!(changed, text, "the edit changed nothing in {file}");
    std::fs::write(&path, changed).unwrap();
    copy
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn ledgerctl_produce_writes_a_zip_its_own_verify_py_passes_and_every_edit_fails() {
    let stack = Box::pin(a_day("prod")).await;
    let out = scratch("production").with_extension("zip");
    let options = ProduceOptions {
        out: out.clone(),
        requester: Requester {
            actor: OFFICER.into(),
            request_id: uuid::Uuid::now_v7().to_string(),
        },
        progress: false,
    };
    let period = today().resolve(SystemClock.now()).unwrap();
    let summary = Box::pin(produce_file(
        &producer(&stack),
        &stack.audit_sink(),
        period,
        || SystemClock.now(),
        &options,
    ))
    .await
    .unwrap();
    assert_eq!(summary.bundle.entries, 5);
    assert_eq!(summary.plan.checkpoint.checkpoint.tree_size, 5);

    // A second run never overwrites the file.
    let again = Box::pin(produce_file(
        &producer(&stack),
        &stack.audit_sink(),
        period,
        || SystemClock.now(),
        &options,
    ))
    .await
    .unwrap_err();
    assert!(again.to_string().contains("exists already"), "{again:#}");

    let dir = unpack(&out);
    let (code, output) = verify(&dir);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("VERIFIED: 5 entries"), "{output}");

    // One CSV row edited (row 2's rationale): the file and the row are named.
    let csv = edited(&dir, "entries.csv", |text| {
        let row = text.split("\r\n").nth(2).unwrap();
        text.replacen(row, &row.replacen("Breakout", "Breakdown", 1), 1)
    });
    let (code, output) = verify(&csv);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("entries.csv row 2 (chain index 1)"),
        "{output}"
    );

    // One JSON line edited (line 4's symbol).
    let jsonl = edited(&dir, "entries.jsonl", |text| {
        let line = text.lines().nth(3).unwrap();
        let mut entry: serde_json::Value = serde_json::from_str(line).unwrap();
        entry["symbol"] = "ZZZZ".into();
        text.replacen(line, &entry.to_string(), 1)
    });
    let (code, output) = verify(&jsonl);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("entries.jsonl line 4 (chain index 3)"),
        "{output}"
    );

    // One proof edited (line 1's first sibling).
    let proofs = edited(&dir, "proofs.jsonl", |text| {
        let line = text.lines().next().unwrap();
        let mut proof: serde_json::Value = serde_json::from_str(line).unwrap();
        proof["inclusion_path"][0] = Hash::sha256(b"forged").to_hex().into();
        text.replacen(line, &proof.to_string(), 1)
    });
    let (code, output) = verify(&proofs);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("proofs.jsonl line 1 (chain index 0)"),
        "{output}"
    );

    for folder in [dir, csv, jsonl, proofs] {
        std::fs::remove_dir_all(folder).unwrap();
    }
    std::fs::remove_file(&out).unwrap();

    let read: Vec<_> = audit_events(&stack.audit_sink())
        .await
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::RecordsRead && e.actor == OFFICER)
        .collect();
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0].details["entries"], 5);
    assert_eq!(
        read[0].details["disclosed_as"]["file"],
        out.display().to_string()
    );
}

#[tokio::test]
async fn the_report_functions_production_is_stored_locked_under_productions_with_a_link() {
    let stack = Box::pin(a_day("prodr")).await;
    let request_id = uuid::Uuid::now_v7().to_string();
    let stored = Box::pin(produce_to_vault(
        &producer(&stack),
        &stack.vault(),
        &stack.audit_sink(),
        &today(),
        &Requester {
            actor: "report".into(),
            request_id: request_id.clone(),
        },
        SystemClock.now(),
        &StoreSettings {
            retention_days: 1,
            url_expiry: Duration::from_secs(600),
            spool_dir: std::env::temp_dir(),
        },
    ))
    .await
    .unwrap();
    assert!(stored.key.starts_with("productions/"), "{stored:?}");
    assert_eq!(stored.entries, 5);
    assert!(
        stored.download_url.contains(&stored.version_id),
        "{stored:?}"
    );
    let vault = stack.vault();
    let protection = vault
        .protection(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    let body = vault
        .get_version(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(Hash::sha256(&body), stored.sha256);
    // The presigned link serves exactly that version.
    let response = reqwest::get(&stored.download_url).await.unwrap();
    assert_eq!(response.status(), 200, "{}", stored.download_url);
    assert_eq!(response.bytes().await.unwrap().to_vec(), body);

    // The stored zip verifies too.
    let zip = scratch("stored").with_extension("zip");
    std::fs::write(&zip, &body).unwrap();
    let dir = unpack(&zip);
    let (code, output) = verify(&dir);
    assert_eq!(code, 0, "{output}");
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_file(zip).unwrap();

    let read: Vec<_> = audit_events(&stack.audit_sink())
        .await
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::RecordsRead && e.request_id == request_id)
        .collect();
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(
        read[0].details["disclosed_as"]["presigned_url"]["version_id"],
        stored.version_id
    );
}
