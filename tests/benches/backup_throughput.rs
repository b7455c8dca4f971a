//! Backup of a large ledger against the emulator — wall time here, peak RSS measured per phase
//! by `/usr/bin/time -v` in `infra/bench-emulator.sh` — backup verification rows/s, and the
//! compliance report of the same ledger.
//!
//! Phases (argument): `seed` (provision stack `$BACKUP_BENCH_STACK`, seed `$BACKUP_BENCH_ENTRIES`
//! entries, default 100,000), `backup`, `verify`, `report`, or `all` (the default, in one process). The
//! script runs each phase as its own process so that its peak RSS is its own.

use std::time::Instant;

use anyhow::{Context, bail};
use ledgerctl::provision::{VAULT_BUCKET, provision_stack};
use ledgerctl::template::{Stack, Template};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::backup::{BackupJob, BackupSettings};
use shared::app::verify_backup::{VerifyBackupJob, VerifyMode};

#[path = "../emulator/support.rs"]
#[allow(dead_code, clippy::unwrap_used)]
mod support;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::var("AWS_ENDPOINT_URL")
        .context("AWS_ENDPOINT_URL must point at the emulator (use infra/bench-emulator.sh)")?;
    let phase = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "all".into());
    let stack = std::env::var("BACKUP_BENCH_STACK").unwrap_or_else(|_| "backupbench".into());
    let entries: u64 = std::env::var("BACKUP_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let provisioned = provision_stack(
        &sdk,
        &Template::parse(include_str!("../../template.yaml"))?,
        &Stack::local(&stack),
    )
    .await?;
    let bucket = provisioned
        .bucket_name(VAULT_BUCKET)
        .context("bucket")?
        .to_owned();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let (signals, audit) = (format!("{stack}-signals"), format!("{stack}-audit"));
    let store = DynamoLedgerStore::new(dynamodb.clone(), &signals, &audit);
    let vault = S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None);
    let phases: Vec<&str> = match phase.as_str() {
        "all" => vec!["seed", "backup", "verify", "report"],
        one => vec![one],
    };
    for phase in phases {
        let started = Instant::now();
        match phase {
            "seed" => {
                support::seed(&dynamodb, &signals, 0, entries).await;
                eprintln!(
                    "seed: {entries} entries in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            "backup" => {
                let job = BackupJob::new(
                    store.clone(),
                    vault.clone(),
                    DynamoAuditSink::new(dynamodb.clone(), &audit),
                    SystemClock,
                    RecordingMetrics::default(),
                    BackupSettings::default(),
                );
                let outcome = job.run(None, "bench").await?;
                let seconds = started.elapsed().as_secs_f64();
                eprintln!(
                    "backup: {} rows, {:.1} MB in {seconds:.1} s = {:.0} rows/s",
                    outcome.row_count,
                    outcome.csv_bytes as f64 / 1e6,
                    outcome.row_count as f64 / seconds
                );
            }
            "verify" => {
                let job = VerifyBackupJob::new(
                    store.clone(),
                    vault.clone(),
                    DynamoAuditSink::new(dynamodb.clone(), &audit),
                    SystemClock,
                    RecordingMetrics::default(),
                );
                let result = job.run(VerifyMode::All, "bench").await?;
                let seconds = started.elapsed().as_secs_f64();
                if !result.restore_drill.is_some_and(|d| d.matches) {
                    bail!("the restore drill did not match");
                }
                eprintln!(
                    "verify (all, with restore drill): {} rows in {seconds:.1} s = {:.0} rows/s",
                    result.rows_checked,
                    result.rows_checked as f64 / seconds
                );
            }
            "report" => {
                use shared::adapters::cloudwatch::CloudWatchAlarms;
                use shared::adapters::dynamodb::DynamoTableInspector;
                use shared::adapters::kms::KmsPublicKeys;
                use shared::app::report::{ReportJob, ReportSettings, ReportSources};
                use shared::domain::report::PeriodRequest;
                let sources = ReportSources {
                    store: store.clone(),
                    vault: vault.clone(),
                    audit: DynamoAuditSink::new(dynamodb.clone(), &audit),
                    tables: DynamoTableInspector::new(dynamodb.clone()),
                    alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
                    keys: None::<KmsPublicKeys>,
                };
                let job = ReportJob::new(
                    sources,
                    SystemClock,
                    RecordingMetrics::default(),
                    ReportSettings {
                        signals_table: signals.clone(),
                        audit_table: audit.clone(),
                        vault_bucket: bucket.clone(),
                        retention_days: 1,
                        metrics_namespace: "SignalLedger".into(),
                        url_expiry: std::time::Duration::from_secs(600),
                        alarm_name_prefix: Some(format!("{stack}-")),
                        trust: shared::app::vault::CheckpointTrust::new(
                            shared::config::origin(&signals),
                            None,
                            &[],
                        ),
                    },
                );
                let today: PeriodRequest = serde_json::from_value(serde_json::json!({
                    "from": support::now_rfc3339()[..10], "to": support::now_rfc3339()[..10]
                }))?;
                let outcome = job.run(&today, "bench").await?;
                let seconds = started.elapsed().as_secs_f64();
                eprintln!(
                    "report: {} in {seconds:.1} s, overall {}",
                    outcome.json.key,
                    outcome.overall_verdict.as_str()
                );
            }
            other => bail!("unknown phase {other:?}: seed, backup, verify, report or all"),
        }
    }
    Ok(())
}
