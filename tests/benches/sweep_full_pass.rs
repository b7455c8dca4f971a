//! The resumable full pass against the emulator: how far one step (one invocation, within
//! `FULL_SWEEP_BUDGET_SECONDS`) gets, and what a step costs besides verifying (issue 11, "a full
//! pass that spans invocations").
//!
//! Run with `infra/bench-emulator.sh` (starts moto, runs this, stops moto), or alone with
//! `cargo bench -p tests --bench sweep_full_pass` against a running moto (`AWS_ENDPOINT_URL`).
//! `FULL_PASS_BENCH_ENTRIES` (default 20,000) entries, a checkpoint every
//! `FULL_PASS_BENCH_ENTRIES_PER_CHECKPOINT` (default 500), `FULL_PASS_BENCH_SEALS` (default 100)
//! hourly audit seals of `FULL_PASS_BENCH_EVENTS_PER_SEAL` (default 20) events, steps of
//! `FULL_PASS_BENCH_BUDGET_SECONDS` (default 10). Figures go into BENCHMARKS.md.
//!
//! Phases, each timed: seed the entries (fixture); write the checkpoints (fixture, as the sweep
//! writes them); record the audit events and write their seals (fixture, as the sealer writes
//! them, ending two hours ago); then `full` steps until the pass is done, each step's wall time,
//! entries verified and position printed; every step must pass, and the pass must cover every
//! entry, every checkpoint and every seal.

#[path = "support/stack.rs"]
mod stack;
use stack::{BenchStack, env_number};
use std::time::{Duration, Instant};

#[path = "support/seed.rs"]
mod seed;

#[path = "support/checkpoints.rs"]
mod checkpoints;
use checkpoints::write_checkpoints;

#[path = "support/seals.rs"]
mod seals;

use anyhow::{bail, ensure};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::kms::KmsSigner;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::sweep::{IntegritySweep, SweepMode, SweepSettings, SweepStatus};
use shared::domain::timestamp::Timestamp;
use shared::ports::Clock;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let entries = env_number("FULL_PASS_BENCH_ENTRIES", 20_000).max(1);
    let per_checkpoint = env_number("FULL_PASS_BENCH_ENTRIES_PER_CHECKPOINT", 500).max(1);
    let budget = env_number("FULL_PASS_BENCH_BUDGET_SECONDS", 10);
    let checkpoints = entries.div_ceil(per_checkpoint);
    let seal_count = env_number("FULL_PASS_BENCH_SEALS", 100);
    let per_seal = env_number("FULL_PASS_BENCH_EVENTS_PER_SEAL", 20).max(1);
    let BenchStack {
        sdk,
        name,
        bucket,
        key,
    } = BenchStack::provision("passbench").await?;
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
    let started = Instant::now();
    write_checkpoints(&vault, &signer, &origin, &leaves, per_checkpoint).await?;
    eprintln!(
        "wrote {checkpoints} signed checkpoints (+ leaf-hash files) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    if seal_count > 0 {
        let now = SystemClock.now().as_datetime();
        let hour_start = now
            .replace_minute(0)?
            .replace_second(0)?
            .replace_nanosecond(0)?;
        let start = Timestamp::from_datetime(
            hour_start - time::Duration::hours(i64::try_from(seal_count)? + 2),
        )?;
        let windows = seals::windows(start, seal_count, per_seal)?;
        let audit_sink = DynamoAuditSink::new(dynamodb.clone(), &audit);
        seals::record_events(&audit_sink, &windows).await?;
        seals::write_seals(&vault, &signer, &origin, &windows).await?;
    }
    eprintln!(
        "recorded {} audit events and wrote {seal_count} signed seals in {:.1} s",
        seal_count * per_seal,
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
    )
    .with_full_pass_budget(Duration::from_secs(budget));

    let pass_started = Instant::now();
    let mut verified = 0;
    let mut steps = 0;
    eprintln!("step | wall s | entries this step | entries/s | phase at end | position");
    loop {
        let started = Instant::now();
        let record = sweep.run(SweepMode::Full, "bench").await?;
        let seconds = started.elapsed().as_secs_f64();
        let Some(pass) = record.full_pass.clone() else {
            bail!("a full step without pass progress: {record:?}");
        };
        ensure!(
            record.status == SweepStatus::Passed && pass.cursor_written.is_some(),
            "step {}: {}",
            pass.step,
            record.message
        );
        steps += 1;
        verified += record.entries_verified;
        eprintln!(
            "{:>4} | {seconds:>6.1} | {:>17} | {:>9.0} | {:<12} | {}{}",
            pass.step,
            record.entries_verified,
            record.entries_verified as f64 / seconds,
            pass.phase,
            pass.position,
            pass.phase_percent
                .map_or(String::new(), |p| format!(" ({p} %)")),
        );
        if pass.phase == "done" {
            ensure!(
                verified == entries,
                "the pass verified {verified} of {entries} entries"
            );
            ensure!(
                record
                    .message
                    .contains(&format!("{checkpoints} checkpoint(s) match")),
                "not every checkpoint was compared: {}",
                record.message
            );
            eprintln!(
                "pass complete: {steps} steps of a {budget}-s budget, {verified} entries and {checkpoints} checkpoints in {:.1} s ({})",
                pass_started.elapsed().as_secs_f64(),
                record.message
            );
            return Ok(());
        }
        ensure!(steps < 10_000, "the pass does not end");
    }
}
