//! Sealed audit events for the emulator benchmarks: hourly windows of refusals, recorded
//! through the audit sink, and their seals written exactly as the sealer writes them (events
//! file, then note; both locked; chained; signed by the stack's KMS key).

use anyhow::Context;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use shared::adapters::dynamodb::DynamoAuditSink;
use shared::adapters::kms::KmsSigner;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::audit_seal::DEFAULT_LAG_SECONDS;
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::audit_seal::{
    AuditKey, Seal, SealedEvent, SignedSeal, event_leaf, events_key, seal_key,
};
use shared::domain::checkpoint::Signature;
use shared::domain::timestamp::Timestamp;
use shared::ports::{AuditSink, BlobVault, Clock, Signer};

/// One window: from, to, its events.
pub type Window = (Timestamp, Timestamp, Vec<AuditEvent>);

/// `seals` hourly windows from `start`, `per_seal` refusals each (a second apart).
pub fn windows(start: Timestamp, seals: u64, per_seal: u64) -> anyhow::Result<Vec<Window>> {
    let hour = |n: u64| -> anyhow::Result<Timestamp> {
        Ok(Timestamp::from_datetime(
            start.as_datetime() + time::Duration::hours(i64::try_from(n)?),
        )?)
    };
    let mut windows = Vec::new();
    for n in 0..seals {
        let from = hour(n)?;
        let events: Vec<AuditEvent> = (0..per_seal)
            .map(|k| {
                let at = from.as_datetime() + time::Duration::seconds(k as i64 + 1);
                Ok(AuditEvent {
                    event_id: format!("0190-bench-{n:06}-{k:04}"),
                    occurred_at: Timestamp::from_datetime(at)?,
                    event_type: AuditEventType::DeleteAttempt,
                    actor: "arn:aws:iam::123456789012:user/alice".into(),
                    request_id: format!("req-{n}-{k}"),
                    signal_id: Some(format!("sig-{n}-{k}")),
                    chain_index: None,
                    reason: Some("signals are immutable".into()),
                    excerpt: None,
                    details: serde_json::json!({"method": "DELETE", "status": 405}),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        windows.push((from, hour(n + 1)?, events));
    }
    Ok(windows)
}

/// Records every window's events through the audit sink, 16 at a time.
pub async fn record_events(audit: &DynamoAuditSink, windows: &[Window]) -> anyhow::Result<()> {
    let all: Vec<&AuditEvent> = windows.iter().flat_map(|(_, _, e)| e).collect();
    stream::iter(all)
        .map(|event| audit.record(event))
        .buffer_unordered(16)
        .try_collect::<()>()
        .await?;
    Ok(())
}

/// Seals each window exactly as the sealer does (events file, then note; both locked; chained),
/// sealed 300 s after its end, several at a time to keep the fixture short. Returns where the
/// last window ends.
pub async fn write_seals(
    vault: &S3Vault,
    signer: &KmsSigner,
    origin: &str,
    windows: &[Window],
) -> anyhow::Result<Timestamp> {
    let retain_until = SystemClock.now().plus_days(1)?;
    let mut previous: Option<Seal> = None;
    let mut notes = Vec::new();
    for (from, to, events) in windows {
        let sealed = events
            .iter()
            .map(|event| {
                let key = AuditKey::of(event);
                let leaf = event_leaf(&key, event);
                SealedEvent::new(key, leaf)
            })
            .collect();
        let time = Timestamp::from_datetime(
            to.as_datetime() + time::Duration::seconds(DEFAULT_LAG_SECONDS as i64),
        )?;
        let (seal, file) = Seal::new(origin, previous.as_ref(), *from, *to, sealed, time)?;
        previous = Some(seal.clone());
        notes.push((seal, file));
    }
    let last_to = previous.context("at least one seal")?.to;
    stream::iter(notes)
        .map(|(seal, file)| async move {
            let der = signer.sign(seal.body().as_bytes()).await?;
            let (seq, time) = (seal.seq, seal.time);
            let note = SignedSeal {
                signature: Signature::kms(signer.key_id(), der)?,
                seal,
            };
            vault
                .put_locked(
                    &events_key(seq, &time),
                    file,
                    "application/jsonl",
                    retain_until,
                )
                .await?;
            vault
                .put_locked(
                    &seal_key(seq, &time),
                    note.to_text().into_bytes(),
                    "text/plain; charset=utf-8",
                    retain_until,
                )
                .await?;
            anyhow::Ok(())
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await?;
    Ok(last_to)
}
