//! `ledgerctl export-evidence` against the emulator: after a day of the ledger (ingest, backup,
//! verification, sweep, report) the export holds the original version of every evidence object
//! with its hash and lock; an overwritten object is exported as it was first written; an
//! interrupted or damaged export is completed by fetching only what is missing; a folder that is
//! not an export of the same bucket is refused before anything is read; the export is audited.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ledgerctl::export::{
    EVIDENCE_FILE, ExportOptions, ExportSummary, JOURNAL_FILE, PREFIXES, Period, export_evidence,
    read_evidence,
};
use serde_json::json;
use shared::adapters::cloudwatch::CloudWatchAlarms;
use shared::adapters::dynamodb::DynamoTableInspector;
use shared::adapters::kms::KmsPublicKeys;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings};
use shared::app::report::{ReportJob, ReportSettings, ReportSources};
use shared::app::sweep::SweepMode;
use shared::app::vault::list_originals;
use shared::app::verify_backup::{VerifyBackupJob, VerifyMode};
use shared::domain::audit::AuditEventType;
use shared::domain::hash::Hash;
use shared::domain::report::PeriodRequest;
use shared::ports::{BlobVault, Clock, VaultReads};

use crate::support::{VaultedStack, audit_events};

const AUDITOR: &str = "arn:aws:iam::123456789012:user/auditor";

/// A day of the ledger: signals ingested, backed up, the backup verified, a sweep, a report.
pub(crate) async fn a_day(prefix: &str) -> VaultedStack {
    let stack = VaultedStack::new(prefix).await;
    let (store, audit, vault) = (stack.store(), stack.audit_sink(), stack.vault());
    ingest_signals(&stack, 0..5).await;
    stack.backup().await;
    VerifyBackupJob::new(
        store.clone(),
        vault.clone(),
        audit.clone(),
        SystemClock,
        RecordingMetrics::default(),
    )
    .run(VerifyMode::All, "t")
    .await
    .unwrap();
    stack.sweep(SweepMode::Init).await;
    let report = ReportJob::new(
        ReportSources {
            store,
            vault,
            audit,
            tables: DynamoTableInspector::new(stack.dynamodb.clone()),
            alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&stack.sdk)),
            keys: Some(KmsPublicKeys::new(aws_sdk_kms::Client::new(&stack.sdk))),
        },
        SystemClock,
        RecordingMetrics::default(),
        ReportSettings {
            signals_table: stack.signals.clone(),
            audit_table: stack.audit.clone(),
            vault_bucket: stack.bucket.clone(),
            retention_days: 1,
            metrics_namespace: "SignalLedger".into(),
            url_expiry: Duration::from_secs(600),
            alarm_name_prefix: None,
            trust: stack.trust(),
        },
    );
    let today = &SystemClock.now().as_str()[..10].to_owned();
    let request: PeriodRequest =
        serde_json::from_value(json!({"from": today, "to": today})).unwrap();
    report.run(&request, "t").await.unwrap();
    stack
}

/// Ingests the signals `ex-<n>` for each `n` of `numbers` through the ingest path.
pub(crate) async fn ingest_signals(stack: &VaultedStack, numbers: std::ops::Range<u32>) {
    let ingest = Ingest::new(
        stack.store(),
        stack.audit_sink(),
        SystemClock,
        RecordingMetrics::default(),
        IngestSettings::default(),
    );
    for n in numbers {
        let body = crate::support::signal(&format!("ex-{n}"));
        let response = ingest
            .handle(HttpRequest {
                method: "POST".into(),
                path: "/signals".into(),
                content_type: Some("application/json".into()),
                body: body.to_string().into_bytes(),
                actor: "arn:aws:iam::123456789012:role/signal-producer".into(),
                request_id: format!("req-{n}"),
            })
            .await;
        assert_eq!(response.status, 201);
    }
}

/// A fresh folder path (not created).
pub(crate) fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("evidence-{}", uuid::Uuid::now_v7().simple()))
}

pub(crate) async fn export(stack: &VaultedStack, out: &Path) -> anyhow::Result<ExportSummary> {
    export_with(stack, out, None).await
}

pub(crate) async fn export_with(
    stack: &VaultedStack,
    out: &Path,
    period: Option<Period>,
) -> anyhow::Result<ExportSummary> {
    let options = ExportOptions {
        out: out.to_owned(),
        period,
        progress: false,
        actor: AUDITOR.to_owned(),
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    export_evidence(
        &stack.vault(),
        &stack.audit_sink(),
        || SystemClock.now(),
        &options,
    )
    .await
}

/// Key → (original version id, number of versions) of every object of the evidence prefixes.
async fn originals(stack: &VaultedStack) -> BTreeMap<String, (String, usize)> {
    let mut all = BTreeMap::new();
    for prefix in PREFIXES {
        for original in list_originals(&stack.vault(), prefix).await.unwrap() {
            all.insert(
                original.key().to_owned(),
                (original.version_id().to_owned(), original.versions),
            );
        }
    }
    all
}

fn file_sha256(out: &Path, key: &str) -> Hash {
    Hash::sha256(&std::fs::read(out.join(key)).unwrap())
}

#[tokio::test]
async fn the_export_holds_the_original_of_every_evidence_object_with_its_hash_and_lock() {
    let stack = Box::pin(a_day("ex")).await;
    let out = scratch();
    let summary = export(&stack, &out).await.unwrap();
    let evidence = read_evidence(&out).unwrap();
    let expected = originals(&stack).await;

    assert_eq!(evidence.bucket, stack.bucket);
    assert_eq!(evidence.exported_by, AUDITOR);
    let listed: Vec<&str> = evidence.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        listed,
        expected.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for prefix in [
        "signals/",
        "manifests/",
        "checkpoints/",
        "integrity/runs/",
        "integrity/keys/",
        "verifications/",
        "reports/",
    ] {
        assert!(
            listed.iter().any(|key| key.starts_with(prefix)),
            "nothing under {prefix} in {listed:?}"
        );
    }
    assert!(listed.iter().any(|key| key.ends_with(".leaves")));
    for object in &evidence.objects {
        let (version_id, versions) = &expected[&object.key];
        assert_eq!(&object.version_id, version_id, "{}", object.key);
        assert_eq!(object.versions, *versions);
        let stored = stack
            .vault()
            .get_version(&object.key, &object.version_id)
            .await
            .unwrap();
        assert_eq!(object.sha256, Hash::sha256(&stored), "{}", object.key);
        assert_eq!(file_sha256(&out, &object.key), object.sha256);
        assert_eq!(object.bytes, stored.len() as u64);
        assert_eq!(object.retention.mode.as_deref(), Some("COMPLIANCE"));
        assert!(object.retention.retain_until > Some(evidence.exported_at));
        assert!(object.server_side_encryption.is_some());
        if let Some(s3_sha256) = object.s3_sha256 {
            assert_eq!(s3_sha256, object.sha256);
        }
    }
    // The exported backup checks out offline with the independent checker, as downloaded.
    let key_of = |prefix: &str| listed.iter().find(|k| k.starts_with(prefix)).unwrap();
    let entries_csv = listed
        .iter()
        .find(|k| k.starts_with("signals/") && k.contains("/signals_backup_"))
        .unwrap();
    let checker =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/backup/check_backup.py");
    let checked = std::process::Command::new("python3")
        .arg(checker)
        .arg(out.join(entries_csv))
        .arg(out.join(key_of("manifests/")))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    assert_eq!(summary.objects, evidence.objects.len());
    assert_eq!(summary.downloaded, evidence.objects.len());
    assert!(
        !out.join(JOURNAL_FILE).exists(),
        "the journal is gone once the record is written"
    );

    // Audited once, with who and what.
    let reads: Vec<_> = audit_events(&stack.audit_sink())
        .await
        .into_iter()
        // The day's report also records a read (its presigned links), by the report job.
        .filter(|e| e.event_type == AuditEventType::RecordsRead && e.actor == AUDITOR)
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].actor, AUDITOR);
    assert_eq!(reads[0].details["bucket"], stack.bucket.as_str());
    assert_eq!(reads[0].details["objects"], evidence.objects.len());
    std::fs::remove_dir_all(&out).unwrap();
}

#[tokio::test]
async fn an_overwritten_object_is_exported_as_first_written_and_a_rerun_fetches_only_what_is_missing()
 {
    let stack = Box::pin(a_day("ex-over")).await;
    let vault = stack.vault();
    let manifest = originals(&stack)
        .await
        .into_keys()
        .find(|key| key.starts_with("manifests/"))
        .unwrap();
    let (first_version, _) = originals(&stack).await[&manifest].clone();
    let original_bytes = vault.get_version(&manifest, &first_version).await.unwrap();
    let until = SystemClock.now().plus_days(1).unwrap();
    vault
        .put_locked(
            &manifest,
            b"{\"forged\": true}\n".to_vec(),
            "application/json",
            until,
        )
        .await
        .unwrap();

    // A planted object whose key is a folder of the backups' keys cannot be a file: it is
    // recorded as not exported, and the export of the others goes on.
    let csv_key = originals(&stack)
        .await
        .into_keys()
        .find(|key| key.starts_with("signals/"))
        .unwrap();
    let planted = csv_key[.."signals/YYYY".len()].to_owned();
    vault
        .put_locked(&planted, b"planted".to_vec(), "text/plain", until)
        .await
        .unwrap();

    let out = scratch();
    let summary = export(&stack, &out).await.unwrap();
    assert_eq!(
        summary
            .not_exported
            .iter()
            .map(|n| n.key.as_str())
            .collect::<Vec<_>>(),
        [planted.as_str()]
    );
    assert!(out.join(&csv_key).is_file());
    assert_eq!(std::fs::read(out.join(&manifest)).unwrap(), original_bytes);
    assert_eq!(summary.overwritten, std::slice::from_ref(&manifest));
    let evidence = read_evidence(&out).unwrap();
    let record = evidence.objects.iter().find(|o| o.key == manifest).unwrap();
    assert_eq!(
        (record.version_id.as_str(), record.versions),
        (first_version.as_str(), 2)
    );
    assert_eq!(record.sha256, Hash::sha256(&original_bytes));

    // One file lost: a rerun fetches it and only it.
    let csv = evidence
        .objects
        .iter()
        .find(|o| o.key.starts_with("signals/"))
        .unwrap()
        .clone();
    std::fs::remove_file(out.join(&csv.key)).unwrap();
    let rerun = export(&stack, &out).await.unwrap();
    assert_eq!(
        (rerun.downloaded, rerun.already_present),
        (1, evidence.objects.len() - 1)
    );
    assert_eq!(file_sha256(&out, &csv.key), csv.sha256);
    assert_eq!(read_evidence(&out).unwrap().objects, evidence.objects);

    // Interrupted: no record yet, a journal of all but the last object, whose file was left
    // half-written. Only that object is fetched again.
    std::fs::remove_file(out.join(EVIDENCE_FILE)).unwrap();
    let mut journal = vec![
        json!({"format": "signal-ledger-evidence/1", "bucket": stack.bucket, "period": null})
            .to_string(),
    ];
    let (last, done) = evidence.objects.split_last().unwrap();
    for object in done {
        journal.push(json!({"key": object.key, "version_id": object.version_id, "sha256": object.sha256, "bytes": object.bytes}).to_string());
    }
    journal.push("{\"key\": \"cut sh".to_owned());
    std::fs::write(out.join(JOURNAL_FILE), journal.join("\n")).unwrap();
    std::fs::write(out.join(&last.key), b"half").unwrap();
    let resumed = export(&stack, &out).await.unwrap();
    assert_eq!(
        (resumed.downloaded, resumed.already_present),
        (1, done.len())
    );
    assert_eq!(file_sha256(&out, &last.key), last.sha256);
    assert_eq!(read_evidence(&out).unwrap().objects, evidence.objects);
    std::fs::remove_dir_all(&out).unwrap();
}

#[tokio::test]
async fn a_folder_that_is_not_an_export_of_the_same_bucket_and_period_is_refused_unread() {
    let stack = Box::pin(a_day("ex-dir")).await;
    let foreign = scratch();
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"mine").unwrap();
    let error = export(&stack, &foreign).await.unwrap_err().to_string();
    assert!(
        error.contains("is not empty and holds no earlier export"),
        "{error}"
    );
    let left: Vec<_> = std::fs::read_dir(&foreign).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing was written into a foreign folder");

    let other = scratch();
    std::fs::create_dir_all(&other).unwrap();
    let record = json!({"format": "signal-ledger-evidence/1", "bucket": "someone-else",
        "period": null, "exported_at": "2026-11-28T00:00:00.000000Z", "exported_by": AUDITOR,
        "objects": [], "not_exported": []});
    std::fs::write(other.join(EVIDENCE_FILE), record.to_string()).unwrap();
    let error = export(&stack, &other).await.unwrap_err().to_string();
    assert!(
        error.contains("holds an export of bucket someone-else"),
        "{error}"
    );

    let out = scratch();
    export(&stack, &out).await.unwrap();
    let today = SystemClock.now().as_str()[..10].to_owned();
    let period = Period::new(&today, &today).unwrap();
    let error = export_with(&stack, &out, Some(period))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("another period (everything)"), "{error}");

    let reads = audit_events(&stack.audit_sink())
        .await
        .into_iter()
        // The day's report also records a read (its presigned links), by the report job.
        .filter(|e| e.event_type == AuditEventType::RecordsRead && e.actor == AUDITOR)
        .count();
    assert_eq!(reads, 1, "only the export that was made is audited");
    for folder in [foreign, other, out] {
        std::fs::remove_dir_all(folder).unwrap();
    }
}

#[tokio::test]
async fn a_period_leaves_out_dated_records_of_other_days_but_never_the_chains() {
    let stack = Box::pin(a_day("ex-period")).await;
    let out = scratch();
    let period = Period::new("2020-01-01", "2020-01-02").unwrap();
    export_with(&stack, &out, Some(period.clone()))
        .await
        .unwrap();
    let evidence = read_evidence(&out).unwrap();
    assert_eq!(evidence.period, Some(period));
    let keys: Vec<&str> = evidence.objects.iter().map(|o| o.key.as_str()).collect();
    assert!(keys.iter().any(|k| k.starts_with("manifests/")));
    assert!(keys.iter().any(|k| k.starts_with("checkpoints/")));
    assert!(keys.iter().any(|k| k.starts_with("integrity/keys/")));
    for dated in ["signals/", "reports/", "verifications/", "integrity/runs/"] {
        assert!(
            !keys.iter().any(|k| k.starts_with(dated)),
            "{dated}: {keys:?}"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
