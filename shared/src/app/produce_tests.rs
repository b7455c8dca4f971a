//! The production over in-memory ports, on a vault written by the real sweep: what the zip holds,
//! that every proof verifies, what is refused, the audit before disclosure, and the zip's own
//! `verify.py` run on it (clean, then with one row edited).

use std::io::{Cursor, Read};

use super::*;
use crate::adapters::memory::{InMemoryVault, SoftwareSigner};
use crate::app::proofs::tests::{KEY, Ledger, ORIGIN, signer};
use crate::domain::audit::AuditEventType;
use crate::domain::merkle::inclusion_proof;
use crate::domain::test_support::timestamp;
use crate::ports::{BlobVault, Clock, VaultReads};

type TestProducer = Producer<
    crate::adapters::memory::InMemoryLedger,
    InMemoryVault,
    crate::adapters::memory::InMemoryAuditSink,
    SoftwareSigner,
>;

fn producer(ledger: &Ledger) -> TestProducer {
    Producer::new(
        ledger.ledger.clone(),
        ledger.vault.clone(),
        ledger.ledger.audit_sink(),
        Some(signer()),
        CheckpointTrust::new(ORIGIN, Some(KEY), &[]),
    )
}

fn requester() -> Requester {
    Requester {
        actor: "arn:aws:iam::123456789012:user/compliance".into(),
        request_id: "req-produce".into(),
    }
}

/// Entries 10..30 (received 09:00:10 to 09:00:29).
fn period() -> Period {
    Period::new(
        timestamp("2026-11-28T09:00:10Z"),
        timestamp("2026-11-28T09:00:30Z"),
    )
    .unwrap()
}

async fn ledger() -> Ledger {
    let mut ledger = Ledger::new(40);
    for count in [7, 5, 0, 9, 13, 6] {
        ledger.checkpoint_after(count).await;
    }
    ledger
}

fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for position in 0..archive.len() {
        let mut file = archive.by_index(position).unwrap();
        let mut body = Vec::new();
        file.read_to_end(&mut body).unwrap();
        files.insert(file.name().unwrap().to_string(), body);
    }
    files
}

async fn produce(ledger: &Ledger) -> (Plan, Bundle, Vec<u8>) {
    let producer = producer(ledger);
    let now = ledger.clock.now();
    let plan = producer.plan(period(), now).await.unwrap();
    let (out, bundle) = producer
        .write(&plan, &requester(), now, Cursor::new(Vec::new()))
        .await
        .unwrap();
    (plan, bundle, out.into_inner())
}

#[tokio::test]
async fn the_zip_holds_the_period_with_a_verified_proof_for_each_entry() {
    let ledger = ledger().await;
    let (plan, bundle, bytes) = produce(&ledger).await;
    assert_eq!((plan.first_index, plan.end_index), (10, 30));
    assert_eq!(plan.checkpoint.checkpoint.tree_size, 40);
    assert_eq!(bundle.entries, 20);
    let files = unzip(&bytes);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    for name in [
        files::README,
        files::VERIFY,
        files::P256,
        files::CHECKPOINT_NOTE,
        files::CHECKPOINT,
        files::ENTRIES_CSV,
        files::ENTRIES_JSONL,
        files::PROOFS,
        files::AUDIT_EVENTS,
        files::ACCESS_REVIEW,
        files::MANIFEST,
        "keys/key-1.der",
        "keys/key-1.pem",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    // The CSV is the backup CSV of section 8.1: the strict reader reads it back whole.
    let rows = csv::read_rows(&files[files::ENTRIES_CSV]).unwrap();
    let source = ledger.ledger.entries();
    assert_eq!(rows, source[10..30].to_vec());
    let jsonl: Vec<crate::domain::entry::StoredEntry> =
        String::from_utf8(files[files::ENTRIES_JSONL].clone())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
    assert_eq!(jsonl, rows);

    let leaves = ledger.leaves(40);
    let text = String::from_utf8(files[files::PROOFS].clone()).unwrap();
    let proofs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(proofs.len(), 20);
    for (offset, proof) in proofs.iter().enumerate() {
        let index = 10 + offset as u64;
        let expected: Vec<String> = inclusion_proof(&leaves, index)
            .unwrap()
            .iter()
            .map(Hash::to_hex)
            .collect();
        assert_eq!(proof["chain_index"], index);
        assert_eq!(proof["inclusion_path"], serde_json::json!(expected));
    }

    assert_eq!(
        String::from_utf8(files[files::CHECKPOINT].clone()).unwrap(),
        plan.checkpoint.to_text()
    );
    let key = signer().public_key(KEY).await.unwrap();
    assert_eq!(files["keys/key-1.der"], key);
    assert_eq!(
        String::from_utf8(files["keys/key-1.pem"].clone()).unwrap(),
        pem(&key)
    );

    // The manifest lists every other file with its hash; the audit events are the period's.
    let manifest: serde_json::Value = serde_json::from_slice(&files[files::MANIFEST]).unwrap();
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(listed.len(), files.len() - 1);
    for item in listed {
        let name = item["name"].as_str().unwrap();
        assert_eq!(
            item["sha256"],
            Hash::sha256(&files[name]).to_hex(),
            "{name}"
        );
    }
    assert_eq!(manifest["entries"]["count"], 20);
    let events = String::from_utf8(files[files::AUDIT_EVENTS].clone()).unwrap();
    assert_eq!(
        events.lines().count(),
        20,
        "one insert event per entry of the period"
    );
    assert_eq!(bundle.audit_events, 20);
}

#[tokio::test]
async fn proofs_of_a_range_read_each_leaf_file_a_bounded_number_of_times() {
    // Many small checkpoints: per-proof reads would be O(log n) each.
    let mut ledger = Ledger::new(200);
    for _ in 0..25 {
        ledger.checkpoint_after(8).await;
    }
    let proofs = ledger.proofs();
    let mut prover = proofs.range_prover(None).await.unwrap();
    let leaves = ledger.leaves(200);
    for index in 0..200u64 {
        let path = prover
            .inclusion(index, leaves[index as usize])
            .await
            .unwrap();
        assert_eq!(path, inclusion_proof(&leaves, index).unwrap());
    }
    // 25 notes and 25 leaf files, each read once or a few times: far below 200 proofs × 8 nodes.
    let gets = prover.read().gets;
    assert!(gets <= 120, "{gets} reads for 200 proofs");
    // A wrong leaf is refused, never proven.
    assert!(matches!(
        prover.inclusion(5, leaves[6]).await,
        Err(ProofsError::Inconsistent(_))
    ));
}

#[tokio::test]
async fn a_period_past_the_latest_checkpoint_is_refused_naming_the_next_sweep() {
    let mut ledger = Ledger::new(40);
    ledger.checkpoint_after(20).await;
    ledger.append(15).await;
    let now = ledger.clock.now();
    let error = producer(&ledger).plan(period(), now).await.unwrap_err();
    match &error {
        ProduceError::NotCovered {
            last_index,
            tree_size,
            next_sweep,
        } => {
            assert_eq!((*last_index, *tree_size), (29, 20));
            assert!(*next_sweep > now);
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("next integrity sweep"));

    let empty = Ledger::new(40);
    let error = producer(&empty)
        .plan(period(), empty.clock.now())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProduceError::NoCheckpoint { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_ledger_that_disagrees_with_its_checkpoint_is_not_produced() {
    let ledger = ledger().await;
    // An insider rewrites entry 12 and recomputes its hash: the chain link to 13 breaks.
    ledger.ledger.tamper(|entries, _| {
        let stored = entries.get_mut(&12).unwrap();
        stored.entry.content.symbol = "MSFT".into();
        stored.entry_hash = stored.entry.compute_hash();
    });
    let producer = producer(&ledger);
    let now = ledger.clock.now();
    let plan = producer.plan(period(), now).await.unwrap();
    let error = producer
        .write(&plan, &requester(), now, Cursor::new(Vec::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ProduceError::Inconsistent {
                chain_index: 13,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_report_path_stores_it_locked_and_audits_before_the_link() {
    let ledger = ledger().await;
    let producer = producer(&ledger);
    let settings = StoreSettings {
        retention_days: 2555,
        url_expiry: Duration::from_secs(3600),
        spool_dir: std::env::temp_dir(),
    };
    let request = PeriodRequest {
        from: Some("2026-11-28T09:00:10Z".into()),
        to: Some("2026-11-28T09:00:30Z".into()),
        ..PeriodRequest::default()
    };
    let now = ledger.clock.now();
    let stored = produce_to_vault(
        &producer,
        &ledger.vault,
        &ledger.ledger.audit_sink(),
        &request,
        &requester(),
        now,
        &settings,
    )
    .await
    .unwrap();
    assert!(
        stored.key.starts_with("productions/2026/11/production-"),
        "{}",
        stored.key
    );
    assert_eq!(stored.entries, 20);
    assert!(stored.download_url.contains(&stored.version_id));
    let protection = ledger
        .vault
        .protection(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    let body = ledger
        .vault
        .get_version(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(Hash::sha256(&body), stored.sha256);
    assert!(unzip(&body).contains_key(files::MANIFEST));

    let read: Vec<_> = ledger
        .ledger
        .audit_events()
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::RecordsRead)
        .collect();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].actor, requester().actor);
    assert_eq!(
        read[0].details["disclosed_as"]["presigned_url"]["key"],
        stored.key
    );
    assert_eq!(read[0].details["entries"], 20);

    // No audit, no link: the zip may be stored, but nothing is disclosed.
    ledger.ledger.fail_audit_writes(true);
    let error = produce_to_vault(
        &producer,
        &ledger.vault,
        &ledger.ledger.audit_sink(),
        &request,
        &requester(),
        now,
        &settings,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ProduceError::Audit(_)), "{error:?}");
}

/// Runs the zip's own `verify.py` in a fresh folder; answers its exit code and output.
fn run_verify(files: &std::collections::BTreeMap<String, Vec<u8>>) -> (i32, String) {
    run_verify_with(files, &[])
}

/// As [`run_verify`], with arguments.
fn run_verify_with(
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    args: &[&std::ffi::OsStr],
) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("production-{}", uuid::Uuid::now_v7()));
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let output = std::process::Command::new("python3")
        .arg("verify.py")
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap();
    let listed: Vec<String> = walk(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        listed.len(),
        files.len(),
        "verify.py wrote into the folder: {listed:?}"
    );
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

fn edit(files: &mut std::collections::BTreeMap<String, Vec<u8>>, name: &str, from: &str, to: &str) {
    let text = String::from_utf8(files[name].clone()).unwrap();
    assert!(text.contains(from), "{name} has no {from:?}");
    files.insert(name.to_owned(), text.replacen(from, to, 1).into_bytes());
}

#[tokio::test]
async fn verify_py_passes_the_zip_and_names_the_file_and_row_of_each_edit() {
    let ledger = ledger().await;
    let (_, _, bytes) = produce(&ledger).await;
    let clean = unzip(&bytes);
    let (code, out) = run_verify(&clean);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("VERIFIED: 20 entries"), "{out}");

    // A regulator pins the key handed over out of band: the right one verifies, another does not.
    let key_file = |secret: u8| {
        let path = std::env::temp_dir().join(format!("key-{}.der", uuid::Uuid::now_v7()));
        let der = futures_util::FutureExt::now_or_never(
            SoftwareSigner::from_secret(KEY, [secret; 32])
                .unwrap()
                .public_key(KEY),
        )
        .unwrap()
        .unwrap();
        std::fs::write(&path, der).unwrap();
        path
    };
    let (right, wrong) = (key_file(7), key_file(8));
    let flag = std::ffi::OsStr::new("--public-key");
    let (code, out) = run_verify_with(&clean, &[flag, right.as_os_str()]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run_verify_with(&clean, &[flag, wrong.as_os_str()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("checkpoint.txt: signature: untrusted_key"),
        "{out}"
    );
    std::fs::remove_file(right).unwrap();
    std::fs::remove_file(wrong).unwrap();

    // Row 3 of the CSV is chain index 12: its price edited.
    let row = String::from_utf8(clean[files::ENTRIES_CSV].clone()).unwrap();
    let line = row.split("\r\n").nth(3).unwrap().to_owned();
    let price = line.split(',').nth(6).unwrap().to_owned();
    let mut files = clean.clone();
    edit(
        &mut files,
        files::ENTRIES_CSV,
        &line,
        &line.replacen(&format!(",{price},"), ",1.5,", 1),
    );
    let (code, out) = run_verify(&files);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entries.csv row 3 (chain index 12)"), "{out}");

    // The same entry's JSON line.
    let mut files = clean.clone();
    edit(
        &mut files,
        files::ENTRIES_JSONL,
        "\"sig-000012\"",
        "\"sig-000099\"",
    );
    let (code, out) = run_verify(&files);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("entries.jsonl line 3 (chain index 12)"),
        "{out}"
    );

    // A proof's first sibling changed.
    let proofs = String::from_utf8(clean[files::PROOFS].clone()).unwrap();
    let proof: serde_json::Value = serde_json::from_str(proofs.lines().nth(4).unwrap()).unwrap();
    let sibling = proof["inclusion_path"][0].as_str().unwrap().to_owned();
    let mut files = clean.clone();
    edit(&mut files, files::PROOFS, &sibling, &"0".repeat(64));
    let (code, out) = run_verify(&files);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("proofs.jsonl line 5 (chain index 14)"),
        "{out}"
    );

    // A row removed, and its JSON line and proof with it, and the manifest's hashes rewritten:
    // the chain no longer links, whatever the manifest says.
    let mut files = clean.clone();
    for name in [files::ENTRIES_CSV, files::ENTRIES_JSONL, files::PROOFS] {
        let text = String::from_utf8(files[name].clone()).unwrap();
        let separator = if name == files::ENTRIES_CSV {
            "\r\n"
        } else {
            "\n"
        };
        let kept: Vec<&str> = text
            .split_inclusive(separator)
            .enumerate()
            .filter(|(n, _)| *n != if name == files::ENTRIES_CSV { 6 } else { 5 })
            .map(|(_, l)| l)
            .collect();
        files.insert(name.to_owned(), kept.concat().into_bytes());
    }
    let (code, out) = run_verify(&files);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entries.csv row 6 (chain index 15)"), "{out}");
}
