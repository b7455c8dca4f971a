//! Proofs over HTTP through `cargo lambda watch`, into the watch stack: signals appended over
//! HTTP, the sweep run so checkpoints exist, then `GET /checkpoint`, inclusion proofs of several
//! signals and a consistency proof — each verified by the Rust verifier and by the independent
//! Python checker (`docs/vectors/check_proof.py`), both refusing a tampered path; the 404 and
//! 409 answers; and the `RECORDS_READ` audit of every disclosure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::kms::{KmsPublicKeys, KmsSigner};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::sweep::{IntegritySweep, SweepError, SweepMode, SweepSettings};
use shared::app::vault::CheckpointTrust;
use shared::domain::audit::AuditEventType;
use shared::domain::checkpoint::SignedCheckpoint;
use shared::domain::hash::Hash;
use shared::domain::proof::{
    ConsistencyProofDocument, InclusionProofDocument, verify_consistency_document,
    verify_inclusion_document,
};
use shared::ports::PublicKeys;

use crate::support::{audit_events, required_env, signal};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// `check_proof.py KIND` on `document` with the public key; its exit code and output.
fn python_check(kind: &str, document: &Value, key: &Path, origin: &str) -> (i32, String) {
    let file = std::env::temp_dir().join(format!("{}.json", unique("proof")));
    std::fs::write(&file, document.to_string()).unwrap();
    let output = Command::new("python3")
        .arg(root().join("docs/vectors/check_proof.py"))
        .args([
            kind,
            file.to_str().unwrap(),
            "--origin",
            origin,
            "--public-key",
        ])
        .arg(key)
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Another valid hash in place of the first hash of `field`'s path.
fn tamper(document: &Value, field: &str) -> Value {
    let mut tampered = document.clone();
    let first = &mut tampered[field][0];
    let hash: Hash = first.as_str().unwrap().parse().unwrap();
    *first = Value::String(Hash::sha256(hash.as_bytes()).to_hex());
    tampered
}

#[tokio::test]
async fn proofs_through_cargo_lambda_watch_verify_in_rust_and_python() {
    let base = required_env("INGEST_URL");
    let stack = required_env("WATCH_STACK");
    let bucket = required_env("VAULT_BUCKET");
    let key_arn = required_env("CHECKPOINT_KMS_KEY_ID");
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let (signals_table, audit_table) = (format!("{stack}-signals"), format!("{stack}-audit"));
    let origin = shared::config::origin(&signals_table);
    // The hourly sweep of the watch stack, run by hand (nothing else sweeps that stack).
    let sweep = IntegritySweep::new(
        DynamoLedgerStore::new(dynamodb.clone(), &signals_table, &audit_table),
        S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None),
        Some(KmsSigner::new(aws_sdk_kms::Client::new(&sdk), &key_arn)),
        DynamoAuditSink::new(dynamodb.clone(), &audit_table),
        SystemClock,
        RecordingMetrics::default(),
        SweepSettings {
            retention_days: 1,
            page_size: 100,
            trust: CheckpointTrust::new(origin.clone(), Some(&key_arn), &[]),
        },
    );
    let run_sweep = || async {
        let record = match sweep.run(SweepMode::Incremental, "proofs-test").await {
            Err(SweepError::NoCheckpoint) => sweep.run(SweepMode::Init, "proofs-test").await,
            other => other,
        };
        record.unwrap().tree_size
    };
    let public_key = KmsPublicKeys::new(aws_sdk_kms::Client::new(&sdk))
        .public_key(&key_arn)
        .await
        .unwrap();
    let key_file = std::env::temp_dir().join(format!("{}.der", unique("checkpoint-key")));
    std::fs::write(&key_file, &public_key).unwrap();
    let keys = [public_key];

    let http = reqwest::Client::new();
    let post = |id: String| {
        let http = &http;
        let base = &base;
        async move {
            let created = http
                .post(format!("{base}/signals"))
                .json(&signal(&id))
                .send()
                .await
                .unwrap();
            assert_eq!(created.status(), 201);
            created.json::<Value>().await.unwrap()["chain_index"]
                .as_u64()
                .unwrap()
        }
    };
    let ids: Vec<String> = (0..5).map(|n| unique(&format!("proof{n}"))).collect();
    for id in &ids[..3] {
        post(id.clone()).await;
    }
    let first = run_sweep().await;
    for id in &ids[3..] {
        post(id.clone()).await;
    }
    let second = run_sweep().await;
    assert!(first < second);

    // The latest trusted note, as stored.
    let checkpoint = http.get(format!("{base}/checkpoint")).send().await.unwrap();
    assert_eq!(checkpoint.status(), 200);
    assert_eq!(
        checkpoint.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let note = checkpoint.text().await.unwrap();
    let parsed = SignedCheckpoint::parse(&note).unwrap();
    // Other tests append to this stack meanwhile; only a later sweep could move it past ours.
    assert_eq!(parsed.checkpoint.tree_size, second);
    assert!(parsed.verify(Some(&keys[0])).is_ok());

    // Inclusion proofs of signals from both checkpoints, verified twice, tampering refused twice.
    for id in [&ids[0], &ids[2], &ids[4]] {
        let response = http
            .get(format!("{base}/signals/{id}/proof"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let json: Value = response.json().await.unwrap();
        let document: InclusionProofDocument = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            (document.signal_id.as_str(), document.tree_size),
            (id.as_str(), second)
        );
        assert_eq!(document.checkpoint, note);
        verify_inclusion_document(&document, &keys, &origin).unwrap();
        let (code, output) = python_check("inclusion", &json, &key_file, &origin);
        assert_eq!(code, 0, "{output}");
        assert!(output.starts_with("verified"), "{output}");

        let tampered = tamper(&json, "inclusion_path");
        let document: InclusionProofDocument = serde_json::from_value(tampered.clone()).unwrap();
        assert!(verify_inclusion_document(&document, &keys, &origin).is_err());
        let (code, output) = python_check("inclusion", &tampered, &key_file, &origin);
        assert_eq!(code, 1, "{output}");
        assert!(output.starts_with("refused"), "{output}");
    }
    // Against the earlier checkpoint too.
    let earlier: Value = http
        .get(format!("{base}/signals/{}/proof?tree_size={first}", ids[1]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(earlier["tree_size"], first);
    assert_eq!(python_check("inclusion", &earlier, &key_file, &origin).0, 0);

    // Consistency between the two checkpoints.
    let response = http
        .get(format!(
            "{base}/proofs/consistency?from={first}&to={second}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    let document: ConsistencyProofDocument = serde_json::from_value(json.clone()).unwrap();
    verify_consistency_document(&document, &keys, &origin).unwrap();
    let (code, output) = python_check("consistency", &json, &key_file, &origin);
    assert_eq!(code, 0, "{output}");
    let tampered = tamper(&json, "consistency_path");
    let document: ConsistencyProofDocument = serde_json::from_value(tampered.clone()).unwrap();
    assert!(verify_consistency_document(&document, &keys, &origin).is_err());
    assert_eq!(
        python_check("consistency", &tampered, &key_file, &origin).0,
        1
    );
    // A note for another ledger is refused by both, by its origin.
    assert_eq!(
        python_check("consistency", &json, &key_file, "signal-ledger:another").0,
        1
    );

    // 409: stored after the last sweep; 404: unknown signal, or a size never checkpointed.
    let late = unique("proof-late");
    post(late.clone()).await;
    let uncovered = http
        .get(format!("{base}/signals/{late}/proof"))
        .send()
        .await
        .unwrap();
    assert_eq!(uncovered.status(), 409);
    assert!(uncovered.headers().contains_key("retry-after"));
    let problem: Value = uncovered.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:signal-ledger:problem:not-yet-checkpointed"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("cron(0 * * * ? *)")
    );
    for (path, status) in [
        (format!("/signals/{}/proof", unique("never-stored")), 404),
        (
            format!("/signals/{}/proof?tree_size={}", ids[0], second + 1000),
            404,
        ),
        (format!("/proofs/consistency?from={second}&to={first}"), 400),
    ] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }

    // Once the next sweep has run, the late signal has its proof: the warm function lists only
    // the keys added after those it had seen (S3 `key-marker`).
    let third = run_sweep().await;
    let response = http
        .get(format!("{base}/signals/{late}/proof"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["tree_size"], third);
    assert_eq!(python_check("inclusion", &json, &key_file, &origin).0, 0);

    // Every disclosure above is an audited read, naming what was read.
    let audit = DynamoAuditSink::new(dynamodb, &audit_table);
    let reads: Vec<_> = audit_events(&audit)
        .await
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::RecordsRead)
        .collect();
    for id in [&ids[0], &ids[2], &ids[4], &ids[1]] {
        assert!(
            reads
                .iter()
                .any(|e| e.signal_id.as_deref() == Some(id.as_str())
                    && e.details["route"] == "GET /signals/{signal_id}/proof"),
            "no RECORDS_READ for the proof of {id}"
        );
    }
    assert!(
        reads
            .iter()
            .any(|e| e.details["route"] == "GET /checkpoint")
    );
    assert!(
        reads
            .iter()
            .any(|e| e.details["route"] == "GET /proofs/consistency"
                && e.details["from"] == first
                && e.details["to"] == second)
    );
    std::fs::remove_file(&key_file).unwrap();
}
