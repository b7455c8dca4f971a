//! `full`'s re-verification of the sealed audit log over many seals against the emulator: what
//! seven years of hourly seals cost the nightly run (issue 11's follow-up, "seals that scale").
//!
//! Run with `infra/bench-emulator.sh` (starts moto, runs this, stops moto), or alone with
//! `cargo bench -p tests --bench sweep_seals` against a running moto (`AWS_ENDPOINT_URL`).
//! `SEAL_BENCH_SEALS` (default 500) hourly seals of `SEAL_BENCH_EVENTS_PER_SEAL` (default 2)
//! audit events each. Figures go into BENCHMARKS.md.
//!
//! Phases, each timed: write the audit events (fixture, `PutItem` through the audit sink); write
//! the seals (fixture: each signed by the stack's KMS key, its events file and note stored
//! locked, exactly as the sealer writes them, chained, an hour apart); list the prefix alone;
//! the keys-only Scan `full` used to make every night (`AuditLog::earliest_day`); then the
//! sealer's `full` pass, one seal at a time and as shipped (`SEAL_READS_IN_FLIGHT` windows,
//! `NOTE_READS_IN_FLIGHT` notes at a time; both must verify every seal and find nothing).

#[path = "support/stack.rs"]
mod stack;

#[path = "support/seals.rs"]
mod seals;
use stack::{BenchStack, env_number};
use std::time::Instant;

use anyhow::ensure;
use shared::adapters::dynamodb::DynamoAuditSink;
use shared::adapters::kms::KmsSigner;
use shared::adapters::s3::S3Vault;
use shared::app::audit_seal::{DEFAULT_LAG_SECONDS, SEAL_READS_IN_FLIGHT, Sealer};
use shared::app::sweep::NOTE_READS_IN_FLIGHT;
use shared::app::vault::{CheckpointTrust, TrustedKeys};
use shared::domain::audit_seal::SEAL_PREFIX;
use shared::domain::timestamp::Timestamp;
use shared::ports::AuditLog;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seals = env_number("SEAL_BENCH_SEALS", 500).max(1);
    let per_seal = env_number("SEAL_BENCH_EVENTS_PER_SEAL", 2).max(1);
    let BenchStack {
        sdk,
        name,
        bucket,
        key,
    } = BenchStack::provision("sealbench").await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let origin = shared::config::origin(&format!("{name}-signals"));
    let audit = DynamoAuditSink::new(dynamodb, format!("{name}-audit"));
    let vault = S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None);
    let signer = KmsSigner::new(aws_sdk_kms::Client::new(&sdk), &key);

    let start = Timestamp::parse_rfc3339("2019-01-01T00:00:00Z")?;
    let started = Instant::now();
    let windows = seals::windows(start, seals, per_seal)?;
    seals::record_events(&audit, &windows).await?;
    eprintln!(
        "wrote {} audit events in {:.1} s",
        seals * per_seal,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let last_to = seals::write_seals(&vault, &signer, &origin, &windows).await?;
    eprintln!(
        "wrote {seals} signed seals (+ events files) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let listed = shared::app::vault::list_originals(&vault, SEAL_PREFIX).await?;
    eprintln!(
        "listing {SEAL_PREFIX} alone: {} objects in {:.1} s",
        listed.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let earliest = audit.earliest_day().await?;
    eprintln!(
        "the keys-only Scan `full` no longer makes (earliest day {earliest:?}): {:.1} s over {} items",
        started.elapsed().as_secs_f64(),
        seals * per_seal
    );

    let trust = CheckpointTrust::new(origin.clone(), Some(&key), &[])
        .resolve(Some(&signer))
        .await?;
    // The window after the last seal is empty: `now − lag` is where it ended.
    let now = Timestamp::from_datetime(
        last_to.as_datetime() + time::Duration::seconds(DEFAULT_LAG_SECONDS as i64),
    )?;
    for (in_flight, notes) in [(1, 1), (SEAL_READS_IN_FLIGHT, NOTE_READS_IN_FLIGHT)] {
        let seconds = verify(
            &vault,
            &signer,
            &audit,
            &trust,
            now,
            (in_flight, notes),
            seals,
        )
        .await?;
        eprintln!(
            "full over {seals} seals, {in_flight} at a time (notes {notes} at a time): {seconds:.1} s ({:.1} ms a seal, listing included)",
            seconds * 1000.0 / seals as f64
        );
    }
    Ok(())
}

/// The sealer's `full` pass (every note, events file and window), checked clean.
async fn verify(
    vault: &S3Vault,
    signer: &KmsSigner,
    audit: &DynamoAuditSink,
    trust: &TrustedKeys,
    now: Timestamp,
    (reads_in_flight, note_reads_in_flight): (usize, usize),
    seals: u64,
) -> anyhow::Result<f64> {
    let sealer = Sealer {
        vault,
        signer: Some(signer),
        log: audit,
        trust,
        retention_days: 1,
        lag_seconds: DEFAULT_LAG_SECONDS,
        reads_in_flight,
        note_reads_in_flight,
    };
    let started = Instant::now();
    let report = sealer.run(now, true).await?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        report.seals_verified == seals
            && report.findings.is_empty()
            && report.objects.is_empty()
            && report.written.is_none(),
        "full over the seals: {} verified, findings {:?}, objects {:?}, wrote {:?}",
        report.seals_verified,
        report.findings,
        report.objects,
        report.written
    );
    Ok(seconds)
}
