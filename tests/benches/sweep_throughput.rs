//! Full-sweep throughput over a large ledger against the emulator (DynamoDB reads, claim
//! checks, checkpoint comparison with the leaf-hash files in S3, KMS verification).
//!
//! Run with `infra/bench-emulator.sh` (starts moto, runs this, stops moto); `SWEEP_BENCH_ENTRIES`
//! sets the ledger size (default 100,000). Figures go into BENCHMARKS.md.
//!
//! The ledger is seeded with BatchWriteItem — a benchmark fixture, not product code (which only
//! ever appends one entry at a time, conditionally) — because moto's transactions cost O(table).

use std::time::Instant;

#[path = "support/seed.rs"]
mod seed;

use anyhow::{Context, bail};
use ledgerctl::provision::{CHECKPOINT_SIGNING_KEY, VAULT_BUCKET, provision_stack};
use ledgerctl::template::{Stack, Template};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::kms::KmsSigner;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::sweep::{IntegritySweep, SweepMode, SweepSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::var("AWS_ENDPOINT_URL")
        .context("AWS_ENDPOINT_URL must point at the emulator (use infra/bench-emulator.sh)")?;
    let entries: u64 = std::env::var("SWEEP_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let name = format!("sweepbench-{}", uuid::Uuid::now_v7().simple());
    let template = Template::parse(include_str!("../../template.yaml"))?;
    let provisioned = provision_stack(&sdk, &template, &Stack::local(&name)).await?;
    let bucket = provisioned
        .bucket_name(VAULT_BUCKET)
        .context("bucket")?
        .to_owned();
    let key = provisioned
        .key_arn(CHECKPOINT_SIGNING_KEY)
        .context("key")?
        .to_owned();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let (signals, audit) = (format!("{name}-signals"), format!("{name}-audit"));

    let seeding = Instant::now();
    seed::seed(&dynamodb, &signals, entries).await?;
    eprintln!(
        "seeded {entries} entries (+ claims) in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let sweep = IntegritySweep::new(
        DynamoLedgerStore::new(dynamodb.clone(), &signals, &audit),
        S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None),
        Some(KmsSigner::new(aws_sdk_kms::Client::new(&sdk), &key)),
        DynamoAuditSink::new(dynamodb.clone(), &audit),
        SystemClock,
        RecordingMetrics::default(),
        SweepSettings {
            retention_days: 1,
            page_size: 1000,
            trust: shared::app::vault::CheckpointTrust::new(
                shared::config::origin(&signals),
                Some(&key),
                &[],
            ),
        },
    );
    for mode in [SweepMode::Init, SweepMode::Full] {
        let started = Instant::now();
        let record = sweep.run(mode, "bench").await?;
        let seconds = started.elapsed().as_secs_f64();
        if record.entries_verified != entries {
            bail!(
                "{mode:?} verified {} of {entries} entries",
                record.entries_verified
            );
        }
        eprintln!(
            "{:<5} sweep: {entries} entries in {seconds:.1} s = {:.0} entries/s (status {:?})",
            mode.as_str(),
            entries as f64 / seconds,
            record.status
        );
    }
    Ok(())
}
