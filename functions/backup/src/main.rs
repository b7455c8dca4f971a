//! The backup Lambda function: wiring only. EventBridge Scheduler invokes it at 02:00 UTC with
//! `{}`; an operator may pass `{"date": "YYYY-MM-DD"}` to name the backup's day. The behaviour
//! lives in `shared::app::backup`.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde::Deserialize;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::s3::S3Vault;
use shared::adapters::system::{EmfStdout, SystemClock, init_json_logs};
use shared::app::backup::{BackupJob, BackupSettings};
use shared::config::BackupConfig;

type Job = BackupJob<DynamoLedgerStore, S3Vault, DynamoAuditSink, SystemClock, EmfStdout>;

/// The payload. Unknown fields are refused with a message naming them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    /// `YYYY-MM-DD`; the UTC day of the run when absent.
    date: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = BackupConfig::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration; the function cannot start");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let job: Arc<Job> = Arc::new(BackupJob::new(
        DynamoLedgerStore::new(dynamodb.clone(), &config.signals_table, &config.audit_table),
        S3Vault::new(
            aws_sdk_s3::Client::new(&sdk),
            &config.vault_bucket,
            config.vault_kms_key_id.clone(),
        ),
        DynamoAuditSink::new(dynamodb, &config.audit_table),
        SystemClock,
        EmfStdout::new(&config.metrics_namespace, "backup"),
        BackupSettings {
            retention_days: config.retention_days,
            ..BackupSettings::default()
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
    let payload: Payload = serde_json::from_value(event.payload).map_err(|error| {
        format!("invalid payload ({error}); expected {{}} or {{\"date\": \"YYYY-MM-DD\"}}")
    })?;
    let date = match payload.date {
        Some(text) => Some(
            time::Date::parse(
                &text,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|error| format!("invalid date {text:?} ({error}); expected YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let outcome = job.run(date, &event.context.request_id).await?;
    Ok(serde_json::to_value(outcome)?)
}
