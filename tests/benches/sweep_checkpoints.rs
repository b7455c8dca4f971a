//! A full sweep over many checkpoints against the emulator: what seven years of hourly
//! checkpoints cost the nightly `full` run (issue 11, "a full sweep that scales").
//!
//! Run with `infra/bench-emulator.sh` (starts moto, runs this, stops moto), or alone with
//! `cargo bench -p tests --bench sweep_checkpoints` against a running moto (`AWS_ENDPOINT_URL`).
//! `SWEEP_BENCH_CHECKPOINTS` (default 10,000) checkpoints of `SWEEP_BENCH_ENTRIES_PER_CHECKPOINT`
//! (default 2) entries each. Figures go into BENCHMARKS.md.
//!
//! Phases, each timed: seed the entries (fixture); `full` with no checkpoint (the entry walk
//! alone); write the checkpoints (fixture: each signed by the stack's KMS key, its leaf-hash
//! file and note stored locked, as the sweep writes them, with hourly times); `full` over all of
//! them (must pass, every checkpoint checked); an idle `incremental` (must write nothing).

#[path = "support/stack.rs"]
mod stack;
use stack::{BenchStack, env_number};
use std::time::Instant;

#[path = "support/seed.rs"]
mod seed;

#[path = "support/checkpoints.rs"]
mod checkpoints;
use checkpoints::write_checkpoints;

use anyhow::{bail, ensure};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::kms::KmsSigner;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::sweep::{
    IntegritySweep, LEAF_FILE_READS_IN_FLIGHT, NOTE_READS_IN_FLIGHT, SweepMode, SweepSettings,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let checkpoints = env_number("SWEEP_BENCH_CHECKPOINTS", 10_000);
    let per_checkpoint = env_number("SWEEP_BENCH_ENTRIES_PER_CHECKPOINT", 2).max(1);
    let entries = checkpoints * per_checkpoint;
    let BenchStack {
        sdk,
        name,
        bucket,
        key,
    } = BenchStack::provision("ckptbench").await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let (signals, audit) = (format!("{name}-signals"), format!("{name}-audit"));
    let origin = shared::config::origin(&signals);
    let vault = S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None);
    let signer = KmsSigner::new(aws_sdk_kms::Client::new(&sdk), &key);

    let started = Instant::now();
    let leaves = seed::seed(&dynamodb, &signals, entries).await?;
    eprintln!(
        "seeded {entries} entries (+ claims) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let sweep = IntegritySweep::new(
        DynamoLedgerStore::new(dynamodb.clone(), &signals, &audit),
        vault.clone(),
        Some(signer.clone()),
        DynamoAuditSink::new(dynamodb.clone(), &audit),
        SystemClock,
        RecordingMetrics::default(),
        SweepSettings {
            retention_days: 1,
            page_size: 1000,
            trust: shared::app::vault::CheckpointTrust::new(origin.clone(), Some(&key), &[]),
        },
    );

    let started = Instant::now();
    let bare = sweep.run(SweepMode::Full, "bench").await?;
    let bare_seconds = started.elapsed().as_secs_f64();
    ensure!(
        bare.entries_verified == entries && bare.checkpoints_checked == 0,
        "the entry walk alone: {bare:?}"
    );
    eprintln!("full, no checkpoint: {entries} entries in {bare_seconds:.1} s");

    let started = Instant::now();
    write_checkpoints(&vault, &signer, &origin, &leaves, per_checkpoint).await?;
    eprintln!(
        "wrote {checkpoints} signed checkpoints (+ leaf-hash files) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let listed = shared::app::vault::list_checkpoints(&vault).await?;
    eprintln!(
        "listing checkpoints/ alone: {} objects in {:.1} s",
        listed.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let full = sweep.run(SweepMode::Full, "bench").await?;
    let full_seconds = started.elapsed().as_secs_f64();
    if full.checkpoints_checked != checkpoints || full.entries_verified != entries {
        bail!(
            "full checked {} of {checkpoints} checkpoints, {} of {entries} entries",
            full.checkpoints_checked,
            full.entries_verified
        );
    }
    let per_checkpoint_ms = (full_seconds - bare_seconds) * 1000.0 / checkpoints as f64;
    eprintln!(
        "full, {checkpoints} checkpoints: {full_seconds:.1} s ({NOTE_READS_IN_FLIGHT} note / {LEAF_FILE_READS_IN_FLIGHT} leaf-file reads in flight; status {:?}); \
         {per_checkpoint_ms:.2} ms per checkpoint beyond the entry walk",
        full.status
    );

    let started = Instant::now();
    let idle = sweep.run(SweepMode::Incremental, "bench").await?;
    ensure!(
        idle.checkpoint_written.is_none(),
        "an idle incremental run wrote {:?}",
        idle.checkpoint_written
    );
    eprintln!(
        "idle incremental: {:.2} s, no checkpoint written ({})",
        started.elapsed().as_secs_f64(),
        idle.message
    );
    Ok(())
}
