//! Checkpoints for the emulator benchmarks, written exactly as the sweep writes them: one per
//! `per_checkpoint` entries, its leaf-hash file then its note, both locked, the note signed by
//! the stack's KMS key, an hour apart from 2019-01-01.

use anyhow::Context;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use shared::adapters::kms::KmsSigner;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::domain::checkpoint::{
    Checkpoint, LeavesRef, Signature, SignedCheckpoint, encode_leaves, leaves_key, object_key,
};
use shared::domain::hash::Hash;
use shared::domain::merkle::CompactRange;
use shared::domain::timestamp::Timestamp;
use shared::ports::{BlobVault, Clock, Signer};

/// Writes one checkpoint per `per_checkpoint` entries, exactly as the sweep writes them (leaf
/// file, then note; both locked), an hour apart, several at a time to keep the fixture short.
pub async fn write_checkpoints(
    vault: &S3Vault,
    signer: &KmsSigner,
    origin: &str,
    leaves: &[Hash],
    per_checkpoint: u64,
) -> anyhow::Result<()> {
    let start = Timestamp::parse_rfc3339("2019-01-01T00:00:00Z")?;
    let retain_until = SystemClock.now().plus_days(1)?;
    let mut range = CompactRange::new();
    let mut notes = Vec::new();
    for (hour, chunk) in leaves.chunks(per_checkpoint as usize).enumerate() {
        let from = range.size();
        chunk.iter().for_each(|leaf| range.append(*leaf));
        let time =
            Timestamp::from_datetime(start.as_datetime() + time::Duration::hours(hour as i64))?;
        let bytes = encode_leaves(chunk);
        let leaves_ref = LeavesRef {
            from,
            to: range.size(),
            sha256: Hash::sha256(&bytes),
        };
        let head = *chunk.last().context("a chunk is never empty")?;
        let checkpoint = Checkpoint::new(origin, range.clone(), head, time, leaves_ref)?;
        notes.push((checkpoint, bytes));
    }
    stream::iter(notes)
        .map(|(checkpoint, bytes)| async move {
            let der = signer.sign(checkpoint.body().as_bytes()).await?;
            let signed = SignedCheckpoint {
                signature: Signature::kms(signer.key_id(), der)?,
                checkpoint,
            };
            let (size, time) = (signed.checkpoint.tree_size, signed.checkpoint.time);
            let text = "text/plain; charset=utf-8";
            vault
                .put_locked(&leaves_key(size, &time), bytes, text, retain_until)
                .await?;
            vault
                .put_locked(
                    &object_key(size, &time),
                    signed.to_text().into_bytes(),
                    text,
                    retain_until,
                )
                .await?;
            anyhow::Ok(())
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await
}
