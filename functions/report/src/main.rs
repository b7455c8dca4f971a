//! The report Lambda function: wiring only. EventBridge Scheduler invokes it daily at 04:00 UTC
//! with `{}` (the previous UTC day); an operator asks for any period with
//! `{"from": "2026-11-01", "to": "2026-11-07"}`, `{"last_days": 7}` or `{"month": "2026-10"}`.
//! `{"produce": {"from": …, "to": …}}` (any of those period forms inside) makes a regulator's
//! production instead, stored locked under `productions/` with a presigned link.
//! The behaviour lives in `shared::app::report` and `shared::app::produce`.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::cloudwatch::CloudWatchAlarms;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore, DynamoTableInspector};
use shared::adapters::kms::KmsPublicKeys;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::{EmfStdout, SystemClock, init_json_logs};
use shared::app::produce::{ProduceRequest, Producer, Requester, StoreSettings, produce_to_vault};
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

type ProductionProducer = Producer<DynamoLedgerStore, S3Vault, DynamoAuditSink, KmsPublicKeys>;

/// The production path of the function: its producer, and where it stores and audits.
struct Production {
    producer: ProductionProducer,
    vault: S3Vault,
    audit: DynamoAuditSink,
    settings: StoreSettings,
}

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
    let vault = S3Vault::new(
        aws_sdk_s3::Client::new(&sdk),
        &config.vault_bucket,
        config.vault_kms_key_id.clone(),
    );
    let production = Arc::new(Production {
        producer: Producer::new(
            sources.store.clone(),
            vault.clone(),
            sources.audit.clone(),
            sources.keys.clone(),
            trust.clone(),
        ),
        vault,
        audit: sources.audit.clone(),
        settings: StoreSettings {
            retention_days: config.retention_days,
            url_expiry: Duration::from_secs(config.report_url_expiry_seconds),
            spool_dir: std::env::temp_dir(),
        },
    });
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
        let production = Arc::clone(&production);
        async move {
            if event.payload.get("produce").is_some() {
                Box::pin(produce(&production, event)).await
            } else {
                Box::pin(handle(&job, event)).await
            }
        }
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

/// `{"produce": {period}}`: a regulator's production, stored locked, audited, then presigned.
async fn produce(
    production: &Production,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    use shared::ports::Clock;
    let request: ProduceRequest = serde_json::from_value(event.payload).map_err(|error| {
        format!(
            "invalid payload ({error}); expected {{\"produce\": {{\"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\"}}}} (or last_days / month inside)"
        )
    })?;
    let requester = Requester {
        // Who invoked the function is CloudTrail's record of lambda:Invoke; the audit names the job.
        actor: "report".to_owned(),
        request_id: event.context.request_id.clone(),
    };
    let stored = Box::pin(produce_to_vault(
        &production.producer,
        &production.vault,
        &production.audit,
        &request.produce,
        &requester,
        SystemClock.now(),
        &production.settings,
    ))
    .await
    .inspect_err(|error| {
        tracing::error!(error = %shared::app::ingest::error_chain(error), "production failed");
    })?;
    Ok(serde_json::to_value(stored)?)
}
