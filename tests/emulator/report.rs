//! The compliance report against the emulator: a ledger of known content (latencies,
//! rejections, modification and deletion attempts, a backup, its verification, a sweep) gives a
//! report whose numbers equal the ones computed here independently; tampering and a missing
//! backup day flip the verdicts; the stored objects are locked; the HTML renders in Chromium.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::adapters::cloudwatch::CloudWatchAlarms;
use shared::adapters::dynamodb::{
    DynamoAuditSink, DynamoLedgerStore, DynamoTableInspector, entry_item,
};
use shared::adapters::kms::KmsPublicKeys;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings};
use shared::app::report::{ReportJob, ReportOutcome, ReportSettings, ReportSources};
use shared::app::sweep::SweepMode;
use shared::app::verify_backup::{VerifyBackupJob, VerifyMode};
use shared::domain::report::{PeriodRequest, Verdict};
use shared::domain::timestamp::Timestamp;
use shared::ports::{BlobVault, Clock};

use crate::support::{VaultedStack, read_all};

type Job = ReportJob<
    DynamoLedgerStore,
    S3Vault,
    DynamoAuditSink,
    DynamoTableInspector,
    CloudWatchAlarms,
    KmsPublicKeys,
    SystemClock,
    RecordingMetrics,
>;

/// Latencies (ms) the producers' clocks claim: the stored latency is this plus the time the
/// request took, so the test reads the stored values back rather than trusting these.
const CLAIMED_LATENCIES_MS: [i64; 12] = [15, 40, 80, 120, 180, 240, 320, 410, 480, 650, 900, 2_400];

struct Fixture {
    stack: VaultedStack,
    vault: S3Vault,
    job: Job,
}

impl Fixture {
    /// A stack with signals (some invalid), a modification and a deletion attempt, a backup
    /// of today, its verification and a signed checkpoint.
    async fn seeded(prefix: &str) -> Fixture {
        let stack = VaultedStack::new(prefix).await;
        let (store, audit, vault) = (stack.store(), stack.audit_sink(), stack.vault());
        let ingest = Ingest::new(
            store.clone(),
            audit.clone(),
            SystemClock,
            RecordingMetrics::default(),
            IngestSettings::default(),
        );
        for (n, latency) in CLAIMED_LATENCIES_MS.iter().enumerate() {
            let generated_at = Timestamp::from_datetime(
                SystemClock.now().as_datetime() - time::Duration::milliseconds(*latency),
            )
            .unwrap();
            let mut body = crate::support::signal(&format!("r-{n:02}"));
            body["generated_at"] = json!(generated_at.to_string());
            let response = ingest.handle(post(&body)).await;
            assert_eq!(response.status, 201, "{body}");
        }
        for invalid in [
            json!({"symbol": "AAPL", "action": "BUY", "entry_price": "1", "rationale": "", "generated_at": "2026-11-28T00:00:00Z"}),
            json!({"symbol": "AAPL", "action": "HOLD", "entry_price": "1", "rationale": "Short", "generated_at": "2026-11-28T00:00:00Z"}),
        ] {
            assert_eq!(ingest.handle(post(&invalid)).await.status, 400);
        }
        for method in ["PUT", "DELETE"] {
            let response = ingest
                .handle(HttpRequest {
                    method: method.into(),
                    path: "/signals/r-03".into(),
                    content_type: Some("application/json".into()),
                    body: b"{}".to_vec(),
                    actor: "arn:aws:iam::123456789012:user/mallory".into(),
                    request_id: format!("req-{method}"),
                })
                .await;
            assert_eq!(response.status, 405);
        }
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
        let sources = ReportSources {
            store,
            vault: vault.clone(),
            audit,
            tables: DynamoTableInspector::new(stack.dynamodb.clone()),
            alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&stack.sdk)),
            keys: Some(KmsPublicKeys::new(aws_sdk_kms::Client::new(&stack.sdk))),
        };
        let job = ReportJob::new(
            sources,
            SystemClock,
            RecordingMetrics::default(),
            ReportSettings {
                signals_table: stack.signals.clone(),
                audit_table: stack.audit.clone(),
                vault_bucket: stack.bucket.clone(),
                retention_days: 1,
                metrics_namespace: "SignalLedger".into(),
                url_expiry: Duration::from_secs(600),
                alarm_name_prefix: Some(format!("{}-", stack_name(&stack))),
                trust: stack.trust(),
            },
        );
        Fixture { stack, vault, job }
    }

    async fn report(&self, request: Value) -> (ReportOutcome, Value, String) {
        let request: PeriodRequest = serde_json::from_value(request).unwrap();
        let outcome = self.job.run(&request, "t").await.unwrap();
        let json = self.download(&outcome.json.download_url).await;
        let html = String::from_utf8(self.download(&outcome.html.download_url).await).unwrap();
        (outcome, serde_json::from_slice(&json).unwrap(), html)
    }

    async fn download(&self, url: &str) -> Vec<u8> {
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        response.bytes().await.unwrap().to_vec()
    }
}

fn stack_name(stack: &VaultedStack) -> &str {
    stack.signals.trim_end_matches("-signals")
}

fn post(body: &Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/signals".into(),
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        actor: "arn:aws:iam::123456789012:role/signal-producer".into(),
        request_id: uuid::Uuid::now_v7().to_string(),
    }
}

fn today() -> Value {
    let now = SystemClock.now();
    let today = &now.as_str()[..10];
    json!({"from": today, "to": today})
}

/// Nearest-rank percentile over a sorted list, computed the plain way.
fn nearest_rank(sorted: &[i64], percent: u64) -> i64 {
    let rank = (percent * sorted.len() as u64).div_ceil(100).max(1);
    sorted[usize::try_from(rank).unwrap() - 1]
}

#[tokio::test]
async fn the_report_states_exactly_what_the_ledger_and_the_vault_hold() {
    let fixture = Fixture::seeded("rp").await;
    let (outcome, report, html) = fixture.report(today()).await;

    // Latency: the stored latencies, recomputed here.
    let entries = read_all(&DynamoLedgerStore::new(
        fixture.stack.dynamodb.clone(),
        &fixture.stack.signals,
        &fixture.stack.audit,
    ))
    .await;
    let mut latencies: Vec<i64> = entries
        .iter()
        .map(|e| e.entry.delivery_latency_ms)
        .collect();
    latencies.sort_unstable();
    let latency = &report["sections"]["latency"];
    assert_eq!(latency["count"], json!(latencies.len()), "{latency}");
    for (field, percent) in [("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)] {
        assert_eq!(
            latency[field],
            json!(nearest_rank(&latencies, percent)),
            "{field}: {latency}"
        );
    }
    assert_eq!(latency["max_ms"], json!(latencies.last().unwrap()));
    let within = latencies.iter().filter(|l| **l <= 500).count();
    assert_eq!(latency["within_requirement"], json!(within), "{latency}");
    // p95 of these latencies is above 500 ms: the requirement is missed and the report says so.
    assert_eq!(latency["verdict"], "FAIL");
    assert_eq!(outcome.verdicts["latency"], "FAIL");

    // Audit log: the rejections and the refused attempts, with their actor.
    let audit_section = &report["sections"]["audit_log"];
    let totals = audit_section.to_string();
    for (kind, count) in [
        ("SIGNAL_INSERTED", CLAIMED_LATENCIES_MS.len()),
        ("SIGNAL_REJECTED", 2),
        ("MODIFICATION_ATTEMPT", 1),
        ("DELETE_ATTEMPT", 1),
    ] {
        assert!(
            totals.contains(&format!("\"{kind}\":{count}")),
            "{kind} × {count} in {audit_section}"
        );
    }
    let immutability = &report["sections"]["immutability"];
    assert_eq!(immutability["verdict"], "PASS", "{immutability}");
    assert!(
        immutability
            .to_string()
            .contains("arn:aws:iam::123456789012:user/mallory"),
        "{immutability}"
    );

    // Backups, integrity: today's backup verified, the checkpoint signed and valid.
    assert_eq!(
        report["sections"]["backups"]["verdict"], "PASS",
        "{}",
        report["sections"]["backups"]
    );
    let integrity = &report["sections"]["integrity"];
    assert_eq!(integrity["verdict"], "PASS", "{integrity}");
    assert!(
        integrity.to_string().contains(&fixture.stack.bucket),
        "{integrity}"
    );
    assert_eq!(report["ledger"]["tree_size"], json!(entries.len()));
    // Alarms: the template's alarms, provisioned for this stack, none in ALARM.
    let alarms = &report["sections"]["alarms"];
    assert_eq!(alarms["verdict"], "PASS", "{alarms}");
    assert!(
        alarms.to_string().contains(&format!(
            "{}-backup-missing-26h",
            stack_name(&fixture.stack)
        )),
        "{alarms}"
    );

    // Both objects locked and encrypted, and the HTML shows the JSON's numbers.
    for stored in [&outcome.json, &outcome.html] {
        assert!(stored.key.starts_with("reports/"), "{}", stored.key);
        let protection = fixture
            .vault
            .protection(&stored.key, &stored.version_id)
            .await
            .unwrap();
        assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
        assert_eq!(protection.server_side_encryption.as_deref(), Some("AES256"));
    }
    for (id, field) in [
        ("latency-count", "count"),
        ("latency-p95", "p95_ms"),
        ("latency-max", "max_ms"),
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\">{}<", latency[field])),
            "{id} = {} not in the HTML",
            latency[field]
        );
    }

    // The run is audited.
    let events = crate::support::audit_events(&DynamoAuditSink::new(
        fixture.stack.dynamodb.clone(),
        &fixture.stack.audit,
    ))
    .await;
    assert!(
        events
            .iter()
            .any(|e| e.event_type.as_str() == "REPORT_GENERATED" && e.actor == "report"),
        "no REPORT_GENERATED event"
    );

    render_in_chromium(&html).await;
}

#[tokio::test]
async fn a_tampered_entry_turns_the_integrity_verdict_to_fail() {
    let fixture = Fixture::seeded("rt").await;
    let store = DynamoLedgerStore::new(
        fixture.stack.dynamodb.clone(),
        &fixture.stack.signals,
        &fixture.stack.audit,
    );
    let mut item = entry_item(&read_all(&store).await[4]);
    item.insert("entry_price".into(), AttributeValue::S("999".into()));
    crate::support::put_as_insider(&fixture.stack.dynamodb, &fixture.stack.signals, item).await;
    let (outcome, report, _) = fixture.report(today()).await;
    let integrity = &report["sections"]["integrity"];
    assert_eq!(integrity["verdict"], "FAIL", "{integrity}");
    assert_eq!(outcome.overall_verdict, Verdict::Fail);
    assert!(integrity.to_string().contains("hash"), "{integrity}");
}

#[tokio::test]
async fn a_day_without_a_backup_turns_the_backup_verdict_to_fail() {
    let fixture = Fixture::seeded("rb").await;
    let now = SystemClock.now().as_datetime();
    let yesterday = Timestamp::from_datetime(now - time::Duration::days(1)).unwrap();
    let (_, report, _) = fixture
        .report(json!({"from": &yesterday.as_str()[..10], "to": &now.date().to_string()}))
        .await;
    let backups = &report["sections"]["backups"];
    assert_eq!(backups["verdict"], "FAIL", "{backups}");
    assert!(
        backups.to_string().contains(&yesterday.as_str()[..10]),
        "{backups}"
    );
}

#[tokio::test]
async fn a_bad_period_is_refused_with_its_reason() {
    let fixture = Fixture::seeded("rv").await;
    let request: PeriodRequest =
        serde_json::from_value(json!({"from": "2026-11-10", "to": "2026-11-01"})).unwrap();
    let error = fixture.job.run(&request, "t").await.unwrap_err();
    assert!(error.to_string().contains("period"), "{error}");
}

/// Loads the page in headless Chromium (the test command installs it): it must load, and the
/// rendered DOM must hold the six section headings and the verdicts.
async fn render_in_chromium(html: &str) {
    let dir = std::env::temp_dir().join(format!("report-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    std::fs::write(&page, html).unwrap();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let output = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", dir.join("report.png").display()))
        .arg("--window-size=1280,4000")
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {chromium} (installed by infra/test.sh): {e}"));
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chromium failed: {log}");
    assert!(
        !log.contains("CONSOLE"),
        "console messages while loading: {log}"
    );
    for heading in [
        "Immutability",
        "Audit log",
        "Latency",
        "Backups",
        "Integrity",
        "Alarms",
    ] {
        assert!(
            dom.contains(&format!(">{heading}</h2>")),
            "no {heading} heading in the DOM"
        );
    }
    assert!(dom.contains("id=\"verdict-overall\""));
    assert!(std::fs::metadata(dir.join("report.png")).unwrap().len() > 10_000);
    std::fs::remove_dir_all(&dir).unwrap();
}
