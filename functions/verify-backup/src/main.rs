//! The verify-backup Lambda function: wiring only. EventBridge Scheduler invokes it at 02:30 UTC
//! with `{"mode": "latest"}`; an operator runs `{"mode": "all"}` for every backup and the
//! restore drill. The behaviour lives in `shared::app::verify_backup`.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde::Deserialize;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::s3::S3Vault;
use shared::adapters::system::{EmfStdout, SystemClock, init_json_logs};
use shared::app::verify_backup::{VerifyBackupJob, VerifyMode};
use shared::config::BackupConfig;

type Job = VerifyBackupJob<DynamoLedgerStore, S3Vault, DynamoAuditSink, SystemClock, EmfStdout>;

/// The payload; `mode` defaults to `latest`. Unknown fields are refused with a message naming them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    #[serde(default)]
    mode: VerifyMode,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = BackupConfig::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration; the function cannot start");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let job: Arc<Job> = Arc::new(VerifyBackupJob::new(
        DynamoLedgerStore::new(dynamodb.clone(), &config.signals_table, &config.audit_table),
        S3Vault::new(
            aws_sdk_s3::Client::new(&sdk),
            &config.vault_bucket,
            config.vault_kms_key_id.clone(),
        ),
        DynamoAuditSink::new(dynamodb, &config.audit_table),
        SystemClock,
        EmfStdout::new(&config.metrics_namespace, "verify-backup"),
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
        format!("invalid payload ({error}); expected {{\"mode\": \"latest\" | \"all\"}}")
    })?;
    let result = job.run(payload.mode, &event.context.request_id).await?;
    Ok(serde_json::to_value(result)?)
}
