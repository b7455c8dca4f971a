//! The integrity-sweep Lambda function: wiring only. EventBridge Scheduler invokes it with
//! `{"mode": "incremental"}` hourly, `{"mode": "full"}` at 03:00 UTC (a step of the full pass,
//! starting one if none is open) and `{"mode": "full-continue"}` hourly at :30 (a step of the
//! open pass, if any); an operator runs
//! `{"mode": "init"}` once. The DynamoDB streams of the signals and audit tables invoke it with
//! batches of records (`{"Records": [...]}`), which go to the tamper watch. The behaviour lives
//! in `shared::app::sweep` and `shared::app::tamper_watch`.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde::Deserialize;
use shared::adapters::dynamodb::change_from_stream_record;
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::kms::KmsSigner;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::{EmfStdout, SystemClock, init_json_logs};
use shared::app::sweep::{IntegritySweep, SweepMode, SweepSettings};
use shared::app::tamper_watch::{TamperWatch, WatchedTables};
use shared::config::SweepConfig;

type Watch = TamperWatch<DynamoAuditSink, SystemClock, EmfStdout>;

type Sweep =
    IntegritySweep<DynamoLedgerStore, S3Vault, KmsSigner, DynamoAuditSink, SystemClock, EmfStdout>;

/// The scheduled payload. Unknown fields and modes are refused with a message naming them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    mode: SweepMode,
}

/// What the function is invoked with.
#[derive(Debug)]
enum Invocation {
    /// EventBridge Scheduler (or an operator): run the sweep.
    Schedule(Payload),
    /// A DynamoDB stream batch. Each record is read on its own by the adapter (with
    /// `aws_lambda_events`), so one unreadable record is an audited finding, not a lost batch.
    Stream(Vec<serde_json::Value>),
}

impl Invocation {
    fn parse(payload: serde_json::Value) -> Result<Invocation, String> {
        if let Some(records) = payload.get("Records") {
            return match records {
                serde_json::Value::Array(records) => Ok(Invocation::Stream(records.clone())),
                _ => Err("invalid stream event: Records is not a list".to_owned()),
            };
        }
        serde_json::from_value(payload)
            .map(Invocation::Schedule)
            .map_err(|error| format!("invalid payload ({error}); expected {{\"mode\": \"init\" | \"incremental\" | \"full\" | \"full-continue\"}} or a DynamoDB stream event"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = SweepConfig::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration; the function cannot start");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let signer = config
        .checkpoint_kms_key_id
        .clone()
        .map(|key_id| KmsSigner::new(aws_sdk_kms::Client::new(&sdk), key_id));
    let watch: Arc<Watch> = Arc::new(TamperWatch::new(
        DynamoAuditSink::new(dynamodb.clone(), &config.audit_table),
        SystemClock,
        EmfStdout::new(&config.metrics_namespace, "integrity-sweep"),
    ));
    let sweep: Arc<Sweep> = Arc::new(
        IntegritySweep::new(
            DynamoLedgerStore::new(dynamodb.clone(), &config.signals_table, &config.audit_table),
            S3Vault::new(
                aws_sdk_s3::Client::new(&sdk),
                &config.vault_bucket,
                config.vault_kms_key_id.clone(),
            ),
            signer,
            DynamoAuditSink::new(dynamodb, &config.audit_table),
            SystemClock,
            EmfStdout::new(&config.metrics_namespace, "integrity-sweep"),
            SweepSettings {
                retention_days: config.retention_days,
                page_size: 500,
                trust: config.trust(),
            },
        )
        .with_audit_seal_lag(config.audit_seal_lag_seconds)
        .with_full_pass_budget(std::time::Duration::from_secs(
            config.full_sweep_budget_seconds,
        )),
    );
    let tables = Arc::new(WatchedTables {
        signals: config.signals_table.clone(),
        audit: config.audit_table.clone(),
    });
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (sweep, watch, tables) = (Arc::clone(&sweep), Arc::clone(&watch), Arc::clone(&tables));
        // The sweep's future is large (it holds a page of entries): keep it on the heap.
        async move { Box::pin(handle(&sweep, &watch, &tables, event)).await }
    }))
    .await
}

async fn handle(
    sweep: &Sweep,
    watch: &Watch,
    tables: &WatchedTables,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    let request_id = event.context.request_id.clone();
    match Invocation::parse(event.payload)? {
        Invocation::Stream(records) => {
            let changes: Vec<_> = records
                .iter()
                .map(|record| change_from_stream_record(record, tables))
                .collect();
            let outcome = watch.handle(&changes, &request_id).await?;
            Ok(serde_json::to_value(outcome)?)
        }
        Invocation::Schedule(payload) => {
            let record = sweep.run(payload.mode, &request_id).await?;
            tracing::info!(mode = payload.mode.as_str(), status = ?record.status, tree_size = record.tree_size, "integrity sweep finished");
            Ok(serde_json::to_value(record)?)
        }
    }
}
