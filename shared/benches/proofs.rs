//! Proofs over the in-memory vault: what one inclusion or consistency proof costs in vault
//! reads (listings and GETs) and in CPU, for a ledger checkpointed hourly — the vault laid out
//! exactly as the sweep writes it (signed notes and leaf-hash files under `checkpoints/`).
//! `cargo bench -p shared --features doubles --bench proofs` (the table on stderr). Figures go
//! into BENCHMARKS.md.

use std::time::Instant;

use shared::adapters::memory::{InMemoryVault, SoftwareSigner};
use shared::app::proofs::{ProofSource, VaultProofs};
use shared::app::vault::CheckpointTrust;
use shared::domain::checkpoint::{
    Checkpoint, LeavesRef, Signature, SignedCheckpoint, encode_leaves, leaves_key, object_key,
};
use shared::domain::hash::Hash;
use shared::domain::merkle::CompactRange;
use shared::domain::timestamp::Timestamp;
use shared::ports::{BlobVault, Signer};

const ORIGIN: &str = "signal-ledger:bench";
const KEY: &str = "alias/bench";

fn signer() -> SoftwareSigner {
    SoftwareSigner::from_secret(KEY, [7; 32]).expect("key")
}

/// A vault holding `checkpoints` hourly checkpoints of `per_checkpoint` entries each.
async fn vault(checkpoints: u64, per_checkpoint: u64) -> (InMemoryVault, Vec<Hash>) {
    let vault = InMemoryVault::new();
    let signer = signer();
    let start = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").expect("time");
    let retain = Timestamp::parse_rfc3339("2033-01-01T00:00:00Z").expect("time");
    let mut range = CompactRange::new();
    let mut leaves = Vec::new();
    for hour in 0..checkpoints {
        let from = range.size();
        let segment: Vec<Hash> = (from..from + per_checkpoint)
            .map(|i| Hash::leaf(&i.to_le_bytes()))
            .collect();
        for leaf in &segment {
            range.append(*leaf);
        }
        leaves.extend_from_slice(&segment);
        let file = encode_leaves(&segment);
        let time = Timestamp::from_datetime(
            start.as_datetime() + time::Duration::hours(i64::try_from(hour).expect("hours")),
        )
        .expect("time");
        let checkpoint = Checkpoint::new(
            ORIGIN,
            range.clone(),
            *segment.last().expect("a segment"),
            time,
            LeavesRef {
                from,
                to: range.size(),
                sha256: Hash::sha256(&file),
            },
        )
        .expect("checkpoint");
        let der = signer
            .sign(checkpoint.body().as_bytes())
            .await
            .expect("signature");
        let note = SignedCheckpoint {
            signature: Signature::kms(KEY, der).expect("signature"),
            checkpoint,
        };
        let size = range.size();
        vault
            .put_locked(&leaves_key(size, &time), file, "text/plain", retain)
            .await
            .expect("leaves");
        vault
            .put_locked(
                &object_key(size, &time),
                note.to_text().into_bytes(),
                "text/plain",
                retain,
            )
            .await
            .expect("note");
    }
    (vault, leaves)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    eprintln!(
        "| entries | checkpoints | entries per checkpoint | proof | GETs mean / max | proof path | µs per proof (CPU, in-memory) |"
    );
    eprintln!("|---|---|---|---|---|---|---|");
    for (checkpoints, per_checkpoint) in [(1_000u64, 100u64), (10_000, 100), (1_000, 1_000)] {
        runtime.block_on(async {
            let (vault, leaves) = vault(checkpoints, per_checkpoint).await;
            let proofs = VaultProofs::new(
                vault,
                Some(signer()),
                CheckpointTrust::new(ORIGIN, Some(KEY), &[]),
            );
            let size = checkpoints * per_checkpoint;
            let samples = 200u64;
            let (mut gets, mut max_gets, mut path) = (0u64, 0u32, 0usize);
            let started = Instant::now();
            for n in 0..samples {
                // Spread over the whole ledger, old and recent entries alike.
                let index = (n * 7_919 * 104_729) % size;
                let leaf = leaves[usize::try_from(index).expect("index")];
                let inclusion = proofs.inclusion(index, leaf, None).await.expect("proof");
                gets += u64::from(inclusion.read.gets);
                max_gets = max_gets.max(inclusion.read.gets);
                path = path.max(inclusion.path.len());
            }
            let micros = started.elapsed().as_micros() / u128::from(samples);
            eprintln!(
                "| {size} | {checkpoints} | {per_checkpoint} | inclusion | {:.1} / {max_gets} | {path} hashes | {micros} |",
                gets as f64 / samples as f64
            );
            let (mut gets, mut max_gets) = (0u64, 0u32);
            let started = Instant::now();
            for n in 1..=samples {
                let from = (n * 7_919 % checkpoints).max(1) * per_checkpoint;
                let consistency = proofs.consistency(from, size).await.expect("proof");
                gets += u64::from(consistency.read.gets);
                max_gets = max_gets.max(consistency.read.gets);
            }
            let micros = started.elapsed().as_micros() / u128::from(samples);
            eprintln!(
                "| {size} | {checkpoints} | {per_checkpoint} | consistency to the latest | {:.1} / {max_gets} | | {micros} |",
                gets as f64 / samples as f64
            );
        });
    }
}
