//! The report Lambda function: wiring only. EventBridge Scheduler invokes it daily at 04:00 UTC
//! with `{}` (the previous UTC day); an operator asks for any period with
//! `{"from": "2026-11-01", "to": "2026-11-07"}`, `{"last_days": 7}` or `{"month": "2026-10"}`.
//! The behaviour lives in `shared::app::report`.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::cloudwatch::CloudWatchAlarms;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore, DynamoTableInspector};
use shared::adapters::kms::KmsPublicKeys;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::{EmfStdout, SystemClock, init_json_logs};
use shared::app::report::{ReportJob, ReportSettings, ReportSources};
use shared::config::ReportConfig;
use shared::domain::report::PeriodRequest;

type Job = ReportJob<
    DynamoLedgerStore,
    S3Vault,
    DynamoAuditSink,
    DynamoTableInspector,
    CloudWatchAlarms,
    KmsPublicKeys,
    SystemClock,
    EmfStdout,
>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = ReportConfig::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration; the function cannot start");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    // Only the configured keys' public keys are fetched (never the key a checkpoint names).
    let trust = config.trust();
    let keys =
        (!trust.key_ids.is_empty()).then(|| KmsPublicKeys::new(aws_sdk_kms::Client::new(&sdk)));
    let sources = ReportSources {
        store: DynamoLedgerStore::new(dynamodb.clone(), &config.signals_table, &config.audit_table),
        vault: S3Vault::new(
            aws_sdk_s3::Client::new(&sdk),
            &config.vault_bucket,
            config.vault_kms_key_id.clone(),
        ),
        audit: DynamoAuditSink::new(dynamodb.clone(), &config.audit_table),
        tables: DynamoTableInspector::new(dynamodb),
        alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        keys,
    };
    let job: Arc<Job> = Arc::new(ReportJob::new(
        sources,
        SystemClock,
        EmfStdout::new(&config.metrics_namespace, "report"),
        ReportSettings {
            signals_table: config.signals_table,
            audit_table: config.audit_table,
            vault_bucket: config.vault_bucket,
            retention_days: config.retention_days,
            metrics_namespace: config.metrics_namespace,
            url_expiry: Duration::from_secs(config.report_url_expiry_seconds),
            alarm_name_prefix: config.alarm_name_prefix,
            trust,
        },
    ));
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let job = Arc::clone(&job);
        async move { Box::pin(handle(&job, event)).await }
    }))
    .await
}

async fn handle(
    job: &Job,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    let request: PeriodRequest = serde_json::from_value(event.payload).map_err(|error| {
        format!(
            "invalid payload ({error}); expected {{}}, {{\"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\"}}, {{\"last_days\": N}} or {{\"month\": \"YYYY-MM\"}}"
        )
    })?;
    let outcome = job.run(&request, &event.context.request_id).await?;
    Ok(serde_json::to_value(outcome)?)
}
