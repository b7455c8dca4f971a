//! Proofs read from a vault written by the real sweep (in-memory ports): every leaf and every
//! pair of checkpoints, the reads they cost, and what is refused.

use super::*;
use crate::adapters::memory::{
    FixedClock, InMemoryAuditSink, InMemoryLedger, InMemoryVault, RecordingMetrics, SoftwareSigner,
};
use crate::app::sweep::{IntegritySweep, SweepMode, SweepSettings};
use crate::domain::entry::StoredEntry;
use crate::domain::merkle::{consistency_proof, inclusion_proof};
use crate::domain::proof::{
    ConsistencyProofDocument, InclusionProofDocument, verify_consistency_document,
    verify_inclusion_document,
};
use crate::domain::test_support::{chain, insert_event, timestamp};
use crate::domain::timestamp::Timestamp;
use crate::ports::{BlobVault, Clock, LedgerStore};

pub(crate) const ORIGIN: &str = "signal-ledger:test";
pub(crate) const KEY: &str = "alias/test-signing";

pub(crate) fn signer() -> SoftwareSigner {
    SoftwareSigner::from_secret(KEY, [7; 32]).unwrap()
}

fn trust() -> CheckpointTrust {
    CheckpointTrust::new(ORIGIN, Some(KEY), &[])
}

pub(crate) struct Ledger {
    pub(crate) ledger: InMemoryLedger,
    pub(crate) vault: InMemoryVault,
    pub(crate) clock: FixedClock,
    sweep: IntegritySweep<
        InMemoryLedger,
        InMemoryVault,
        SoftwareSigner,
        InMemoryAuditSink,
        FixedClock,
        RecordingMetrics,
    >,
    source: Vec<StoredEntry>,
    appended: usize,
    pub(crate) sizes: Vec<u64>,
}

impl Ledger {
    pub(crate) fn new(entries: u64) -> Ledger {
        let ledger = InMemoryLedger::new();
        let vault = InMemoryVault::new();
        let clock = FixedClock::new(timestamp("2026-11-28T10:00:00Z"));
        let settings = SweepSettings {
            retention_days: 2555,
            page_size: 16,
            trust: trust(),
        };
        let sweep = IntegritySweep::new(
            ledger.clone(),
            vault.clone(),
            Some(signer()),
            ledger.audit_sink(),
            clock.clone(),
            RecordingMetrics::default(),
            settings,
        )
        .with_audit_seal_lag(30 * 86_400);
        Ledger {
            ledger,
            vault,
            clock,
            sweep,
            source: chain(entries),
            appended: 0,
            sizes: Vec::new(),
        }
    }

    /// Appends `count` entries without a sweep.
    pub(crate) async fn append(&mut self, count: usize) {
        for stored in &self.source[self.appended..self.appended + count] {
            self.ledger
                .append(stored, &insert_event(stored))
                .await
                .unwrap();
        }
        self.appended += count;
    }

    /// Appends `count` entries, then runs a sweep an hour later (the first one `init`).
    pub(crate) async fn checkpoint_after(&mut self, count: usize) {
        self.append(count).await;
        let now = self.clock.now();
        self.clock
            .set(Timestamp::from_datetime(now.as_datetime() + time::Duration::hours(1)).unwrap());
        let mode = if self.sizes.is_empty() {
            SweepMode::Init
        } else {
            SweepMode::Incremental
        };
        self.sweep.run(mode, "test").await.unwrap();
        self.sizes.push(self.appended as u64);
    }

    pub(crate) fn leaves(&self, size: u64) -> Vec<Hash> {
        self.source[..size as usize]
            .iter()
            .map(|s| s.entry_hash)
            .collect()
    }

    pub(crate) fn proofs(&self) -> VaultProofs<InMemoryVault, SoftwareSigner> {
        VaultProofs::new(self.vault.clone(), Some(signer()), trust())
    }
}

pub(crate) async fn public_key() -> Vec<u8> {
    signer().public_key(KEY).await.unwrap()
}

/// Checkpoints of uneven segments, including an empty one (no new entries in an hour).
async fn ledger() -> Ledger {
    let mut ledger = Ledger::new(40);
    for count in [3, 5, 0, 9, 1, 14, 4] {
        ledger.checkpoint_after(count).await;
    }
    ledger
}

#[tokio::test]
async fn every_leaf_has_the_rfc_6962_proof_against_every_checkpoint_covering_it() {
    let ledger = ledger().await;
    let proofs = ledger.proofs();
    let key = public_key().await;
    let latest = *ledger.sizes.last().unwrap();
    assert_eq!(latest, 36);
    for &size in ledger.sizes.iter().chain([latest].iter()) {
        let leaves = ledger.leaves(size);
        for index in 0..size {
            let tree_size = (size != latest).then_some(size);
            let inclusion = proofs
                .inclusion(index, leaves[index as usize], tree_size)
                .await
                .unwrap();
            assert_eq!(inclusion.checkpoint.checkpoint.tree_size, size);
            assert_eq!(
                inclusion.path,
                inclusion_proof(&leaves, index).unwrap(),
                "leaf {index} in {size}"
            );
            let document = InclusionProofDocument {
                signal_id: format!("sig-{index:06}"),
                chain_index: index,
                entry_hash: leaves[index as usize],
                tree_size: size,
                root: inclusion.checkpoint.checkpoint.root,
                inclusion_path: inclusion.path.clone(),
                checkpoint: inclusion.checkpoint.to_text(),
            };
            verify_inclusion_document(&document, std::slice::from_ref(&key), ORIGIN).unwrap();
            // One listing; per node at most a note and a leaf file, each read once.
            let nodes = u32::try_from(inclusion.path.len()).unwrap();
            assert_eq!(inclusion.read.listings, 1);
            assert!(
                inclusion.read.gets <= 2 * nodes + 2,
                "{:?} for {nodes} nodes",
                inclusion.read
            );
        }
    }
}

#[tokio::test]
async fn every_pair_of_checkpoints_has_the_rfc_6962_consistency_proof() {
    let ledger = ledger().await;
    let proofs = ledger.proofs();
    let key = public_key().await;
    for &from in &ledger.sizes {
        for &to in ledger.sizes.iter().filter(|&&to| to >= from && from > 0) {
            let consistency = proofs.consistency(from, to).await.unwrap();
            let expected = if from == to {
                Vec::new()
            } else {
                consistency_proof(&ledger.leaves(to), from).unwrap()
            };
            assert_eq!(consistency.path, expected, "{from} to {to}");
            let document = ConsistencyProofDocument {
                from_tree_size: from,
                from_root: consistency.from.checkpoint.root,
                to_tree_size: to,
                to_root: consistency.to.checkpoint.root,
                consistency_path: consistency.path,
                from_checkpoint: consistency.from.to_text(),
                to_checkpoint: consistency.to.to_text(),
            };
            verify_consistency_document(&document, std::slice::from_ref(&key), ORIGIN).unwrap();
        }
    }
}

#[tokio::test]
async fn uncovered_entries_unknown_sizes_and_an_empty_vault_are_refused() {
    let mut ledger = Ledger::new(10);
    let proofs = ledger.proofs();
    assert!(matches!(
        proofs.latest_note().await,
        Err(ProofsError::NoCheckpoint)
    ));
    assert!(matches!(
        proofs.inclusion(0, Hash::ZERO, None).await,
        Err(ProofsError::NoCheckpoint)
    ));
    ledger.checkpoint_after(4).await;
    ledger.checkpoint_after(3).await;
    let note = proofs.latest_note().await.unwrap();
    assert_eq!(
        SignedCheckpoint::parse(&note).unwrap().checkpoint.tree_size,
        7
    );
    let leaves = ledger.leaves(7);
    assert!(matches!(
        proofs.inclusion(7, leaves[0], None).await,
        Err(ProofsError::NotCovered {
            chain_index: 7,
            tree_size: 7
        })
    ));
    assert!(matches!(
        proofs.inclusion(5, leaves[5], Some(4)).await,
        Err(ProofsError::NotCovered { .. })
    ));
    assert!(matches!(
        proofs.inclusion(1, leaves[1], Some(5)).await,
        Err(ProofsError::NotCheckpointed { tree_size: 5 })
    ));
    assert!(matches!(
        proofs.consistency(4, 6).await,
        Err(ProofsError::NotCheckpointed { tree_size: 6 })
    ));
    // A live entry that is not the checkpointed leaf gets no proof (the sweep reports it).
    assert!(matches!(
        proofs.inclusion(2, leaves[3], None).await,
        Err(ProofsError::Inconsistent(_))
    ));
}

#[tokio::test]
async fn a_planted_note_is_passed_over_and_a_changed_leaf_file_is_refused() {
    let mut ledger = Ledger::new(10);
    ledger.checkpoint_after(4).await;
    ledger.checkpoint_after(3).await;
    let leaves = ledger.leaves(7);
    // A copy of the size-7 note under a larger size: not where its content says, so ignored.
    let note_key = ledger
        .vault
        .keys()
        .into_iter()
        .rfind(|k| k.ends_with(".txt") && k.starts_with("checkpoints/"))
        .unwrap();
    let planted = note_key.replace("00000000000000000007", "00000000000000000009");
    let body = ledger.vault.latest(&note_key).unwrap();
    ledger
        .vault
        .put_locked(&planted, body, "text/plain", ledger.clock.now())
        .await
        .unwrap();
    let proofs = ledger.proofs();
    let inclusion = proofs.inclusion(5, leaves[5], None).await.unwrap();
    assert_eq!(inclusion.checkpoint.checkpoint.tree_size, 7);
    assert!(matches!(
        proofs.inclusion(5, leaves[5], Some(9)).await,
        Err(ProofsError::NotCheckpointed { tree_size: 9 })
    ));
    // An overwrite of the leaf file is a newer version: the original is still what is read.
    let leaves_key = note_key.replace(".txt", ".leaves");
    ledger.vault.overwrite(&leaves_key, b"garbage\n".to_vec());
    assert_eq!(
        proofs.inclusion(5, leaves[5], None).await.unwrap().path,
        inclusion.path
    );
}

/// A process keeps its listing and only lists what the sweep added after its last key.
#[tokio::test]
async fn checkpoints_written_after_the_first_listing_are_seen() {
    let mut ledger = Ledger::new(12);
    ledger.checkpoint_after(4).await;
    let proofs = ledger.proofs();
    let first = proofs
        .inclusion(1, ledger.leaves(4)[1], None)
        .await
        .unwrap();
    assert_eq!(first.checkpoint.checkpoint.tree_size, 4);
    ledger.checkpoint_after(5).await;
    ledger.checkpoint_after(0).await;
    let leaves = ledger.leaves(9);
    let later = proofs.inclusion(1, leaves[1], None).await.unwrap();
    assert_eq!(later.checkpoint.checkpoint.tree_size, 9);
    assert_eq!(later.path, inclusion_proof(&leaves, 1).unwrap());
    assert_eq!(later.read.listings, 1);
    let consistency = proofs.consistency(4, 9).await.unwrap();
    assert_eq!(consistency.path, consistency_proof(&leaves, 4).unwrap());
}
