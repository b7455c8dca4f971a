//! Verification of a hash chain of entries as stored — possibly tampered with.
//!
//! Promise: a broken chain is a *result*. [`ChainVerifier`] takes entries one at a time in the
//! order storage returns them (ascending chain index), keeps O(log n) state (the last hash, the
//! next expected index and a Merkle compact range) and records a [`Finding`] for every hash
//! mismatch, broken link, gap, duplicate, reordering or truncation, without stopping early.
//!
//! How positions are followed: an entry whose own hash checks out is trusted about its own index,
//! so after a gap the verifier resynchronises on it; an entry whose hash does not check out is
//! assumed to occupy the expected position (its index attribute may be what was edited).

use serde::{Deserialize, Serialize};

use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::merkle::CompactRange;

/// At most this many findings are kept in a report; the total is always counted.
pub const MAX_FINDINGS_KEPT: usize = 1_000;

/// What is wrong, at which chain index.
///
/// `index` is: for `HashMismatch`, `BrokenLink` and `Unreadable`, the position (chain index) the
/// verifier was at; for `Gap`, the first missing index; for `DuplicateIndex` and `Reorder`, the
/// index carried by the out-of-place entry; for `Truncated`, the first index that should exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub index: u64,
    #[serde(flatten)]
    pub kind: FindingKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FindingKind {
    /// The stored `entry_hash` is not the hash of the stored fields.
    HashMismatch { stored: Hash, computed: Hash },
    /// `previous_hash` is not the stored hash of the entry before it.
    BrokenLink { expected: Hash, found: Hash },
    /// Entries `index..found` are missing.
    Gap { found: u64 },
    /// A second entry with the index of the entry just before it.
    DuplicateIndex,
    /// An entry with a lower index than the position it was found at.
    Reorder { position: u64 },
    /// The chain ends before the size it is known to have reached.
    Truncated { expected_size: u64 },
    /// Storage returned something at this position that is not a well-formed entry.
    Unreadable { reason: String },
}

impl FindingKind {
    /// A short stable name: `hash_mismatch`, `broken_link`, `gap`, … (as in the JSON form).
    pub fn name(&self) -> &'static str {
        match self {
            FindingKind::HashMismatch { .. } => "hash_mismatch",
            FindingKind::BrokenLink { .. } => "broken_link",
            FindingKind::Gap { .. } => "gap",
            FindingKind::DuplicateIndex => "duplicate_index",
            FindingKind::Reorder { .. } => "reorder",
            FindingKind::Truncated { .. } => "truncated",
            FindingKind::Unreadable { .. } => "unreadable",
        }
    }
}

/// The outcome of verifying a run of entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// Entries (and unreadable items) read.
    pub entries_read: u64,
    /// The first [`MAX_FINDINGS_KEPT`] findings, in the order found.
    pub findings: Vec<Finding>,
    /// All findings, including those not kept.
    pub findings_total: u64,
    /// The chain index the next appended entry would get.
    pub next_index: u64,
    /// The stored hash of the last entry, the chain's head (`None` for an empty chain).
    pub head_hash: Option<Hash>,
    /// The Merkle tree over the recomputed entry hashes, in position order.
    pub tree: CompactRange,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.findings_total == 0
    }

    pub fn first_finding(&self) -> Option<&Finding> {
        self.findings.first()
    }
}

/// Streaming chain verifier. Feed entries in storage order with [`push`](Self::push), then
/// [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    position: u64,
    /// Stored hash of the entry at `position - 1`; `None` when unknown (after an unreadable item).
    previous: Option<Hash>,
    /// The highest index accepted so far, to tell a duplicate from a reordering.
    last_index: Option<u64>,
    report: ChainReport,
}

impl ChainVerifier {
    /// Starts at index 0, whose `previous_hash` must be 32 zero bytes.
    pub fn from_genesis() -> ChainVerifier {
        ChainVerifier::resume(CompactRange::new(), Hash::ZERO)
    }

    /// Continues after a verified prefix: `tree` covers entries `0..tree.size()` and `head_hash`
    /// is the stored hash of entry `tree.size() - 1` (zero for an empty prefix).
    pub fn resume(tree: CompactRange, head_hash: Hash) -> ChainVerifier {
        let position = tree.size();
        ChainVerifier {
            position,
            previous: Some(head_hash),
            last_index: position.checked_sub(1),
            report: ChainReport {
                entries_read: 0,
                findings: Vec::new(),
                findings_total: 0,
                next_index: position,
                head_hash: (position > 0).then_some(head_hash),
                tree,
            },
        }
    }

    fn record(&mut self, index: u64, kind: FindingKind) {
        self.report.findings_total += 1;
        if self.report.findings.len() < MAX_FINDINGS_KEPT {
            self.report.findings.push(Finding { index, kind });
        }
    }

    /// Checks one entry against its own hash and against the entries before it.
    pub fn push(&mut self, stored: &StoredEntry) {
        self.report.entries_read += 1;
        let computed = stored.entry.compute_hash();
        let hash_intact = computed == stored.entry_hash;
        let index = stored.entry.chain_index;
        let position = self.position;
        if !hash_intact {
            self.record(
                position,
                FindingKind::HashMismatch {
                    stored: stored.entry_hash,
                    computed,
                },
            );
        }
        let occupies_position = if index == position {
            true
        } else if index > position {
            self.record(position, FindingKind::Gap { found: index });
            if hash_intact {
                // Trust the intact entry's index: resynchronise; its link cannot be checked.
                self.position = index;
                self.previous = None;
            }
            true
        } else {
            let kind = if Some(index) == self.last_index {
                FindingKind::DuplicateIndex
            } else {
                FindingKind::Reorder { position }
            };
            self.record(index, kind);
            // An intact out-of-place entry is an extra copy: skip it. A damaged one is taken to
            // be the entry of this position with its index edited.
            !hash_intact
        };
        if !occupies_position {
            return;
        }
        if let Some(expected) = self.previous
            && expected != stored.entry.previous_hash
        {
            self.record(
                self.position,
                FindingKind::BrokenLink {
                    expected,
                    found: stored.entry.previous_hash,
                },
            );
        }
        self.report.tree.append(computed);
        self.last_index = Some(self.position);
        self.previous = Some(stored.entry_hash);
        self.report.head_hash = Some(stored.entry_hash);
        self.position += 1;
        self.report.next_index = self.position;
    }

    /// Records that storage returned something unparseable where the next entry should be.
    /// It takes up one position; the following entry's link cannot be checked.
    pub fn push_unreadable(&mut self, reason: String) {
        self.report.entries_read += 1;
        self.record(self.position, FindingKind::Unreadable { reason });
        self.last_index = Some(self.position);
        self.previous = None;
        self.position += 1;
        self.report.next_index = self.position;
    }

    /// Ends verification. `known_size`, when given, is a size the chain is known to have reached
    /// (from a checkpoint): ending short of it is a truncation.
    pub fn finish(mut self, known_size: Option<u64>) -> ChainReport {
        if let Some(expected_size) = known_size
            && self.position < expected_size
        {
            self.record(self.position, FindingKind::Truncated { expected_size });
        }
        self.report
    }
}

/// Verifies a whole chain from genesis.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a StoredEntry>,
    known_size: Option<u64>,
) -> ChainReport {
    let mut verifier = ChainVerifier::from_genesis();
    for entry in entries {
        verifier.push(entry);
    }
    verifier.finish(known_size)
}
