//! `verify-evidence` over a generated evidence folder of 1,000,000 entries, side by side with raw
//! SHA-256 over the same files, in one run; and the verifier's peak memory.
//!
//! The folder is written by the product's own jobs over the in-memory doubles — the backup job
//! (CSVs and chained manifests), the integrity sweep (signed checkpoints, leaf-hash files, run
//! records, audit seals) — then copied out with an `evidence.json` as `export-evidence` writes
//! it. Ten days of 100,000 entries: one backup and one incremental sweep a day.
//!
//! `cargo bench -p tests --bench verify_evidence` (`EVIDENCE_BENCH_ENTRIES`, default 1,000,000,
//! a multiple of 10; `EVIDENCE_BENCH_DIR` keeps the folder there instead of a temporary one).
//! Verification runs in a child process of this binary (`verify-child DIR KEY`), so its
//! `VmHWM` (peak resident memory, `/proc/self/status`) is its own, not the generator's.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use ledgerctl::export::{EVIDENCE_FILE, EVIDENCE_FORMAT, Evidence, EvidenceObject, Retention};
use sha2::Digest;
use shared::adapters::memory::{
    FixedClock, InMemoryLedger, InMemoryVault, RecordingMetrics, SoftwareSigner,
};
use shared::app::backup::{BackupJob, BackupSettings};
use shared::app::sweep::{IntegritySweep, SweepMode, SweepSettings};
use shared::app::vault::{CheckpointTrust, list_originals};
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::hash::Hash;
use shared::domain::signal::{Action, SignalContent, SignalId};
use shared::domain::timestamp::Timestamp;
use shared::ports::{BlobVault, Clock, LedgerStore, MIN_PART_BYTES, PublicKeys, VaultReads};

const KEY_ID: &str = "alias/bench-signing";
const ORIGIN: &str = "signal-ledger:bench";
const DAYS: u64 = 10;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if args.get(1).map(String::as_str) == Some("verify-child") {
        let (dir, key) = (PathBuf::from(&args[2]), PathBuf::from(&args[3]));
        return runtime.block_on(verify_child(&dir, &key));
    }
    let entries: u64 = std::env::var("EVIDENCE_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (dir, keep) = match std::env::var_os("EVIDENCE_BENCH_DIR") {
        Some(dir) => (PathBuf::from(dir), true),
        None => (
            std::env::temp_dir().join(format!("evidence-bench-{}", std::process::id())),
            false,
        ),
    };
    if !dir.join(EVIDENCE_FILE).exists() {
        let started = Instant::now();
        runtime.block_on(generate(&dir, entries))?;
        println!(
            "generated {entries} entries into {} in {:.1} s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let key = dir.with_extension("der");
    std::fs::write(&key, runtime.block_on(signer().public_key(KEY_ID))?)?;

    // Raw SHA-256 over every file of the folder, streamed as the verifier streams them.
    let files = walk(&dir)?;
    let started = Instant::now();
    let cpu = cpu_seconds();
    let mut bytes = 0u64;
    let mut buffer = vec![0u8; 1 << 18];
    for path in &files {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = sha2::Sha256::new();
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            bytes += read as u64;
        }
        std::hint::black_box(hasher.finalize());
    }
    let (raw_wall, raw_cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);

    // The verifier's minimum work: beyond each file's SHA-256 (the baseline above), what any
    // verifier that checks every entry must hash — each entry's canonical encoding (its hash is
    // recomputed), and the Merkle nodes of the trees it refolds: the backups' and the
    // checkpoints' over the entries, each seal's over its events (one node per leaf each, less
    // one per tree). Messages of the real lengths, read from the folder before timing.
    let (canonical_lengths, events) = minimum_work_inputs(&files)?;
    let nodes = 2 * canonical_lengths.len() as u64 + events;
    let cpu = cpu_seconds();
    let zeros = vec![0u8; canonical_lengths.iter().copied().max().unwrap_or(0)];
    let mut carry = Hash::ZERO;
    for length in &canonical_lengths {
        carry = std::hint::black_box(Hash::leaf(&zeros[..*length]));
    }
    for _ in 0..nodes {
        carry = Hash::node(&carry, &carry);
    }
    std::hint::black_box(carry);
    let more_cpu = cpu_seconds() - cpu;
    let minimum_cpu = raw_cpu + more_cpu;

    let output = std::process::Command::new(std::env::current_exe()?)
        .arg("verify-child")
        .arg(&dir)
        .arg(&key)
        .output()?;
    let child = String::from_utf8(output.stdout)?;
    let verified: serde_json::Value = serde_json::from_str(child.trim()).with_context(|| {
        format!(
            "child said: {child} {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let (wall, cpu) = (
        verified["wall_s"].as_f64().unwrap_or(f64::NAN),
        verified["cpu_s"].as_f64().unwrap_or(f64::NAN),
    );
    println!(
        "folder: {} files, {:.1} MB",
        files.len(),
        bytes as f64 / 1e6
    );
    println!(
        "raw SHA-256 over the files: {raw_wall:.2} s wall, {raw_cpu:.2} s CPU, {:.0} MB/s, {:.2} M entries/s",
        bytes as f64 / 1e6 / raw_cpu,
        entries as f64 / 1e6 / raw_cpu
    );
    println!(
        "verify-evidence: {wall:.2} s wall, {cpu:.2} s CPU, {:.2} M entries/s per core, verdict {} (rows {}, leaves {}, matched {})",
        entries as f64 / 1e6 / cpu,
        verified["verdict"],
        verified["rows_checked"],
        verified["leaves_checked"],
        verified["leaves_matched_to_rows"]
    );
    let canonical_bytes: usize = canonical_lengths.iter().sum();
    println!(
        "the verifier's minimum work: {:.2} s CPU ({:.2} M entries/s) = the files' SHA-256, plus {} canonical encodings ({:.0} bytes each on average) and {nodes} Merkle nodes in {more_cpu:.2} s",
        minimum_cpu,
        entries as f64 / 1e6 / minimum_cpu,
        canonical_lengths.len(),
        canonical_bytes as f64 / canonical_lengths.len().max(1) as f64,
    );
    println!(
        "verify-evidence at {:.0} % of raw SHA-256 speed, {:.0} % of the minimum work's; peak resident memory (VmHWM) {} KiB",
        100.0 * raw_cpu / cpu,
        100.0 * minimum_cpu / cpu,
        verified["vm_hwm_kib"]
    );
    if verified["verdict"] != "verified" {
        bail!("the generated folder did not verify: {verified}");
    }
    if !keep {
        std::fs::remove_dir_all(&dir)?;
        std::fs::remove_file(&key)?;
    }
    Ok(())
}

/// Runs `verify-evidence` in this process and prints its timing, verdict and peak memory.
async fn verify_child(dir: &Path, key: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let cpu = cpu_seconds();
    let verdict = ledgerctl::verify::verify_folder(dir, &[key.to_path_buf()], None).await?;
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let mut out = serde_json::to_value(&verdict)?;
    out["findings"] = serde_json::Value::Null;
    out["wall_s"] = wall.into();
    out["cpu_s"] = cpu.into();
    out["vm_hwm_kib"] = vm_hwm_kib().into();
    println!("{out}");
    Ok(())
}

/// This process's CPU time (user + system), from `/proc/self/schedstat` (nanoseconds on CPU).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

/// Peak resident memory of this process, KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn signer() -> SoftwareSigner {
    SoftwareSigner::from_secret(KEY_ID, [7; 32]).expect("a valid test key")
}

/// The canonical encoding's length of every entry in the folder's backup CSVs, and the number
/// of audit events its events files hold: what the minimum work hashes.
fn minimum_work_inputs(files: &[PathBuf]) -> anyhow::Result<(Vec<usize>, u64)> {
    let (mut lengths, mut events) = (Vec::new(), 0u64);
    for path in files {
        let name = path.to_string_lossy();
        if name.ends_with(".csv") && name.contains("signals_backup_") {
            let bytes = std::fs::read(path)?;
            for stored in shared::domain::backup::read_rows(&bytes)? {
                lengths.push(stored.entry.canonical_bytes().len());
            }
        } else if name.ends_with(".events") {
            events += std::fs::read(path)?.iter().filter(|b| **b == b'\n').count() as u64;
        }
    }
    Ok((lengths, events))
}

/// Every regular file under `dir`, sorted.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// A realistic entry (~450 canonical bytes, every optional field present), received on `day`.
fn entry(index: u64, previous_hash: Hash, day: u64, per_day: u64) -> StoredEntry {
    let decimal = |text: &str| ExactDecimal::parse(text).expect("valid decimal");
    let start = Timestamp::parse_rfc3339("2026-11-01T00:00:00Z").expect("valid timestamp");
    let micros = (day * 86_400_000_000) + (index % per_day) * (86_000_000_000 / per_day);
    let generated_at =
        Timestamp::from_datetime(start.as_datetime() + time::Duration::microseconds(micros as i64))
            .expect("in range");
    let received_at =
        Timestamp::from_datetime(generated_at.as_datetime() + time::Duration::milliseconds(87))
            .expect("in range");
    let content = SignalContent {
        symbol: "AAPL".into(),
        action: if index.is_multiple_of(2) {
            Action::Buy
        } else {
            Action::Sell
        },
        entry_price: decimal(&format!("{}.25", 150 + index % 50)),
        target_price: Some(decimal("215.5")),
        stop_loss: Some(decimal("142.5")),
        confidence: Some(decimal("0.82")),
        rationale: format!("Signal {index}: breakout above the 50-day average on 2.3x volume."),
        generated_at,
        producer: Some("momentum-svc".into()),
        model: Some("gbm-ensemble".into()),
        model_version: Some("2026.11.1".into()),
    };
    let placement = Placement {
        chain_index: index,
        previous_hash,
        received_at,
        retention_days: 2555,
        submitter: "arn:aws:sts::123456789012:assumed-role/signal-producer/momentum".into(),
    };
    let signal_id = SignalId::parse(&format!("sig-{index:08}")).expect("valid id");
    StoredEntry::seal(Entry::assemble(signal_id, content, placement).expect("in range"))
}

/// The audit record the append protocol writes with `stored`.
fn insert_event(stored: &StoredEntry) -> AuditEvent {
    AuditEvent {
        event_id: format!("insert-{}", stored.entry.chain_index),
        occurred_at: stored.entry.received_at,
        event_type: AuditEventType::SignalInserted,
        actor: "bench".into(),
        request_id: "bench".into(),
        signal_id: Some(stored.entry.signal_id.to_string()),
        chain_index: Some(stored.entry.chain_index),
        reason: None,
        excerpt: None,
        details: serde_json::json!({}),
    }
}

/// Fills an in-memory vault with `entries` entries' evidence through the product's jobs, then
/// writes its originals and `evidence.json` to `dir`.
async fn generate(dir: &Path, entries: u64) -> anyhow::Result<()> {
    let per_day = entries / DAYS;
    let ledger = InMemoryLedger::new();
    let vault = InMemoryVault::new();
    let clock = FixedClock::new(Timestamp::parse_rfc3339("2026-11-02T02:00:00Z")?);
    let backup = BackupJob::new(
        ledger.clone(),
        vault.clone(),
        ledger.audit_sink(),
        clock.clone(),
        RecordingMetrics::default(),
        BackupSettings {
            retention_days: 2555,
            page_size: 1000,
            part_bytes: MIN_PART_BYTES,
            receipt_lag_seconds: 300,
        },
    );
    let sweep = IntegritySweep::new(
        ledger.clone(),
        vault.clone(),
        Some(signer()),
        ledger.audit_sink(),
        clock.clone(),
        RecordingMetrics::default(),
        SweepSettings {
            retention_days: 2555,
            page_size: 1000,
            trust: CheckpointTrust::new(ORIGIN, Some(KEY_ID), &[]),
        },
    );
    let mut previous = Hash::ZERO;
    for day in 0..DAYS {
        for index in day * per_day..(day + 1) * per_day {
            let stored = entry(index, previous, day, per_day);
            previous = stored.entry_hash;
            ledger.append(&stored, &insert_event(&stored)).await?;
        }
        let next_day =
            Timestamp::parse_rfc3339("2026-11-01T02:00:00Z")?.plus_days(u32::try_from(day + 1)?)?;
        clock.set(next_day);
        let date = next_day
            .as_datetime()
            .date()
            .previous_day()
            .context("a day")?;
        backup.run(Some(date), "bench").await?;
        let mode = if day == 0 {
            SweepMode::Init
        } else {
            SweepMode::Incremental
        };
        sweep.run(mode, "bench").await?;
    }
    let mut objects = Vec::new();
    for original in list_originals(&vault, "").await? {
        let bytes = vault
            .get_version(original.key(), original.version_id())
            .await?;
        let path = dir.join(original.key());
        std::fs::create_dir_all(path.parent().context("a parent")?)?;
        std::fs::write(&path, &bytes)?;
        let protection = vault
            .protection(original.key(), original.version_id())
            .await?;
        objects.push(EvidenceObject {
            key: original.key().to_owned(),
            version_id: original.version_id().to_owned(),
            sha256: Hash::sha256(&bytes),
            bytes: bytes.len() as u64,
            versions: original.versions,
            retention: Retention {
                mode: protection.lock_mode,
                retain_until: protection.retain_until,
            },
            server_side_encryption: protection.server_side_encryption,
            s3_sha256: None,
        });
    }
    let by_key: BTreeMap<String, EvidenceObject> =
        objects.into_iter().map(|o| (o.key.clone(), o)).collect();
    let evidence = Evidence {
        format: EVIDENCE_FORMAT.to_owned(),
        bucket: "bench-vault".to_owned(),
        period: None,
        exported_at: clock.now(),
        exported_by: "arn:aws:iam::123456789012:user/auditor".to_owned(),
        objects: by_key.into_values().collect(),
        not_exported: Vec::new(),
    };
    std::fs::write(dir.join(EVIDENCE_FILE), serde_json::to_vec(&evidence)?)?;
    Ok(())
}
