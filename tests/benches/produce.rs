//! A regulator's production of a large period over the in-memory ports (no emulator): how fast
//! the zip is written (entries, proofs, audit events) and how much memory the production adds,
//! then how long the zip's own `verify.py` takes and its peak memory (issue 14, "memory is
//! bounded whatever the period's size").
//!
//! `cargo bench -p tests --bench produce` (`PRODUCE_BENCH_ENTRIES`, default 100,000, hourly
//! checkpoints every `PRODUCE_BENCH_PER_CHECKPOINT`, default 2,000 entries). The ledger itself
//! lives in memory, so the production's own memory is measured as the growth of the process's
//! peak RSS over its RSS before (the peak is reset through `/proc/self/clear_refs`). Figures go
//! into BENCHMARKS.md.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, ensure};
use shared::adapters::memory::{
    FixedClock, InMemoryLedger, InMemoryVault, RecordingMetrics, SoftwareSigner,
};
use shared::app::produce::{Producer, Requester};
use shared::app::sweep::{IntegritySweep, SweepMode, SweepSettings};
use shared::app::vault::CheckpointTrust;
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::hash::Hash;
use shared::domain::report::Period;
use shared::domain::signal::{Action, SignalContent, SignalId};
use shared::domain::timestamp::Timestamp;
use shared::ports::{AuditLog, Clock, KeyedAuditEvent, LedgerStore, StoreError};

const ORIGIN: &str = "signal-ledger:bench";
const KEY: &str = "alias/bench";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` or `VmHWM` of this process, in KiB.
fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .context("no such field")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("no value")?
        .parse()?)
}

/// The audit log of the seeded ledger, generated a day at a time as the real table is read a
/// page at a time (the in-memory double collects a whole day first, which would be measured as
/// the production's memory): the `SIGNAL_INSERTED` event of each entry received that day.
struct GeneratedAudit {
    entries: u64,
    start: Timestamp,
}

fn insert_event(index: u64, start: Timestamp) -> anyhow::Result<AuditEvent> {
    let received_at = Timestamp::from_datetime(
        start.as_datetime() + time::Duration::milliseconds(index as i64 * 250 + 87),
    )?;
    Ok(AuditEvent {
        event_id: format!("insert-{index:08}"),
        occurred_at: received_at,
        event_type: AuditEventType::SignalInserted,
        actor: "arn:aws:sts::123456789012:assumed-role/signal-producer/momentum".into(),
        request_id: format!("req-{index}"),
        signal_id: Some(format!("bench-{index:08}")),
        chain_index: Some(index),
        reason: None,
        excerpt: None,
        details: serde_json::json!({}),
    })
}

impl AuditLog for GeneratedAudit {
    async fn visit_window<F>(&self, _: &Timestamp, _: &Timestamp, _: F) -> Result<(), StoreError>
    where
        F: FnMut(KeyedAuditEvent) + Send,
    {
        Ok(())
    }

    async fn earliest_day(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    async fn visit_day<F>(&self, day: &str, mut visit: F) -> Result<(), StoreError>
    where
        F: FnMut(AuditEvent) + Send,
    {
        let failed = |e: anyhow::Error| StoreError::Failed(e.into());
        // Entry i is received at start + 250 i + 87 ms: the day's entries are one index range.
        let first_of = |at: Timestamp| {
            let ms = (at.as_datetime() - self.start.as_datetime()).whole_milliseconds() - 87;
            u64::try_from((ms.max(0) + 249) / 250)
                .unwrap_or(0)
                .min(self.entries)
        };
        let midnight =
            Timestamp::parse_rfc3339(&format!("{day}T00:00:00Z")).map_err(|e| failed(e.into()))?;
        let next = Timestamp::from_datetime(midnight.as_datetime() + time::Duration::days(1))
            .map_err(|e| failed(e.into()))?;
        for index in first_of(midnight)..first_of(next) {
            visit(insert_event(index, self.start).map_err(failed)?);
        }
        Ok(())
    }
}

fn entry(index: u64, previous: Hash, start: Timestamp) -> anyhow::Result<StoredEntry> {
    let decimal = |text: &str| ExactDecimal::parse(text).context("decimal");
    let generated_at = Timestamp::from_datetime(
        start.as_datetime() + time::Duration::milliseconds(index as i64 * 250),
    )?;
    let received_at =
        Timestamp::from_datetime(generated_at.as_datetime() + time::Duration::milliseconds(87))?;
    let content = SignalContent {
        symbol: "AAPL".into(),
        action: Action::Buy,
        entry_price: decimal(&format!("{}.25", 150 + index % 50))?,
        target_price: Some(decimal("215.5")?),
        stop_loss: Some(decimal("142.5")?),
        confidence: Some(decimal("0.82")?),
        rationale: format!("Signal {index}: breakout above the 50-day average on 2.1x volume."),
        generated_at,
        producer: Some("momentum-svc".into()),
        model: Some("gbm-ensemble".into()),
        model_version: Some("2026.11.1".into()),
    };
    let placement = Placement {
        chain_index: index,
        previous_hash: previous,
        received_at,
        retention_days: 2555,
        submitter: "arn:aws:sts::123456789012:assumed-role/signal-producer/momentum".into(),
    };
    let signal_id = SignalId::parse(&format!("bench-{index:08}")).context("id")?;
    Ok(StoredEntry::seal(Entry::assemble(
        signal_id, content, placement,
    )?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let entries = env_number("PRODUCE_BENCH_ENTRIES", 100_000);
    let per_checkpoint = env_number("PRODUCE_BENCH_PER_CHECKPOINT", 2_000).max(1);
    let start = Timestamp::parse_rfc3339("2026-11-28T00:00:00Z")?;
    let ledger = InMemoryLedger::new();
    let vault = InMemoryVault::new();
    let clock = FixedClock::new(Timestamp::parse_rfc3339("2026-12-05T00:00:00Z")?);
    let signer = || SoftwareSigner::from_secret(KEY, [9; 32]).context("key");
    let trust = CheckpointTrust::new(ORIGIN, Some(KEY), &[]);
    let sweep = IntegritySweep::new(
        ledger.clone(),
        vault.clone(),
        Some(signer()?),
        ledger.audit_sink(),
        clock.clone(),
        RecordingMetrics::default(),
        SweepSettings {
            retention_days: 2555,
            page_size: 1000,
            trust: trust.clone(),
        },
    )
    .with_audit_seal_lag(3650 * 86_400);
    let seeded = Instant::now();
    let mut previous = Hash::ZERO;
    for index in 0..entries {
        let stored = entry(index, previous, start)?;
        previous = stored.entry_hash;
        let event = insert_event(index, start)?;
        ledger.append(&stored, &event).await?;
        if (index + 1) % per_checkpoint == 0 || index + 1 == entries {
            let mode = if index < per_checkpoint {
                SweepMode::Init
            } else {
                SweepMode::Incremental
            };
            let now = clock.now();
            clock.set(Timestamp::from_datetime(
                now.as_datetime() + time::Duration::hours(1),
            )?);
            sweep.run(mode, "bench").await?;
        }
    }
    eprintln!(
        "seeded {entries} entries and {} checkpoints in {:.1} s",
        entries.div_ceil(per_checkpoint),
        seeded.elapsed().as_secs_f64()
    );

    let producer = Producer::new(
        ledger.clone(),
        vault.clone(),
        GeneratedAudit { entries, start },
        Some(signer()?),
        trust,
    );
    // Seven days: every seeded entry (4 per second) up to 2.4 million.
    let period = Period::new(start, Timestamp::parse_rfc3339("2026-12-05T00:00:00Z")?)?;
    let requester = Requester {
        actor: "bench".into(),
        request_id: "bench".into(),
    };
    let dir = std::env::temp_dir().join(format!("produce-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let zip_path = dir.join("production.zip");

    // The production's own memory: the peak over the RSS before it.
    std::fs::File::options()
        .write(true)
        .open("/proc/self/clear_refs")?
        .write_all(b"5")?;
    let before = status_kib("VmRSS:")?;
    let produced = Instant::now();
    let plan = producer.plan(period, clock.now()).await?;
    let file = std::fs::File::create(&zip_path)?;
    let (_, bundle) = Box::pin(producer.write(&plan, &requester, clock.now(), file)).await?;
    let seconds = produced.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:")?;
    ensure!(
        bundle.entries == entries,
        "produced {} entries",
        bundle.entries
    );
    let bytes = std::fs::metadata(&zip_path)?.len();
    eprintln!(
        "produce: {entries} entries ({} audit events) in {seconds:.2} s = {:.0} entries/s; zip {:.1} MiB; {} vault reads for the proofs; RSS before {} MiB, peak during {} MiB (+{} KiB)",
        bundle.audit_events,
        entries as f64 / seconds,
        bytes as f64 / 1_048_576.0,
        bundle.proof_reads,
        before / 1024,
        peak / 1024,
        peak.saturating_sub(before),
    );
    let _ = ledger.head().await?;

    // The zip's own verify.py, with its peak memory.
    let unpacked = dir.join("production");
    let status = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&zip_path)
        .arg(&unpacked)
        .status()?;
    ensure!(status.success(), "unzip failed");
    let verified = Instant::now();
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import runpy, sys\nsys.argv = ['verify.py']\ntry:\n    runpy.run_path('verify.py', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\nhwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\nprint('maxrss_kib', hwm, 'exit', code, file=sys.stderr)",
        ])
        .current_dir(&unpacked)
        .output()?;
    let seconds = verified.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        stderr.contains("exit 0"),
        "verify.py: {}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    let maxrss: u64 = stderr
        .split_whitespace()
        .skip_while(|w| *w != "maxrss_kib")
        .nth(1)
        .context("maxrss")?
        .parse()?;
    eprintln!(
        "verify.py: {entries} entries in {seconds:.2} s = {:.0} entries/s; peak RSS {} MiB",
        entries as f64 / seconds,
        maxrss / 1024
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
