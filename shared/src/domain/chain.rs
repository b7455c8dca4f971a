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

use crate::domain::entry::{Entry, EntryFields, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::merkle::CompactRange;
use crate::domain::signal::SCHEMA_VERSION;

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
    /// A well-formed entry breaks a format rule on its values (ledger-format §1.1 rules 4–5):
    /// an unknown schema version, or a derived field (latency, retention date) that disagrees
    /// with the fields it derives from.
    InvalidField { field: String, reason: String },
    /// The entry's signal id has no claim (an entry written outside the append protocol).
    ClaimMissing { signal_id: String },
    /// The signal id's claim names another index or hash than this entry's.
    ClaimMismatch {
        signal_id: String,
        claim_index: u64,
        claim_hash: Hash,
    },
    /// The recomputed tree disagrees with a checkpoint kept in WORM storage: at `index` the
    /// entry hash differs from the one the checkpoint recorded (or, at the checkpoint's size, the
    /// root or head hash differs).
    CheckpointMismatch {
        checkpoint: String,
        expected: Hash,
        computed: Hash,
    },
    /// A checkpoint object has more than one version: someone wrote over it.
    CheckpointOverwritten { checkpoint: String, versions: usize },
    /// A checkpoint is malformed, or its signature does not verify.
    CheckpointInvalid { checkpoint: String, reason: String },
    /// A well-formed note that does not count: signed by no trusted key, unsigned although a
    /// signing key is configured, naming another log, or stored under a key its content does
    /// not give. (A planted or forged checkpoint; it is never used.)
    CheckpointUntrusted { checkpoint: String, reason: String },
    /// An object under `checkpoints/` that the sweep never writes.
    UnexpectedObject { key: String },
    /// An audit event in a sealed window differs from the one sealed (`index`: the seal's
    /// sequence number). `pk`/`sk` name the event's key in the audit table; the seal's events
    /// file holds the sealed leaf.
    AuditEventChanged {
        seal: String,
        pk: String,
        sk: String,
    },
    /// A sealed audit event is no longer in the audit table.
    AuditEventMissing {
        seal: String,
        pk: String,
        sk: String,
    },
    /// An audit event in a sealed window that its seal does not list (inserted afterwards).
    AuditEventAdded {
        seal: String,
        pk: String,
        sk: String,
    },
    /// An audit item that is not a well-formed event, in a window being sealed or re-verified.
    AuditEventUnreadable {
        pk: String,
        sk: String,
        reason: String,
    },
    /// A seal (or its events file) is malformed, overwritten, or breaks the chain of seals: a
    /// gap, a fork, a wrong link or window.
    AuditSealInvalid { seal: String, reason: String },
    /// A well-formed seal that does not count: signed by no trusted key, unsigned although a
    /// signing key is configured, or naming another log.
    AuditSealUntrusted { seal: String, reason: String },
    /// The latest cursor of the resumable full pass (`integrity/full-pass/`) does not verify:
    /// malformed, overwritten, stored under another key than its sequence number, untrusted, or
    /// its state does not match the trusted checkpoint or seal it stopped at. The pass restarts
    /// from genesis; nothing is skipped.
    FullPassCursorInvalid { cursor: String, reason: String },
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
            FindingKind::InvalidField { .. } => "invalid_field",
            FindingKind::ClaimMissing { .. } => "claim_missing",
            FindingKind::ClaimMismatch { .. } => "claim_mismatch",
            FindingKind::CheckpointMismatch { .. } => "checkpoint_mismatch",
            FindingKind::CheckpointOverwritten { .. } => "checkpoint_overwritten",
            FindingKind::CheckpointInvalid { .. } => "checkpoint_invalid",
            FindingKind::CheckpointUntrusted { .. } => "checkpoint_untrusted",
            FindingKind::UnexpectedObject { .. } => "unexpected_object",
            FindingKind::AuditEventChanged { .. } => "audit_event_changed",
            FindingKind::AuditEventMissing { .. } => "audit_event_missing",
            FindingKind::AuditEventAdded { .. } => "audit_event_added",
            FindingKind::AuditEventUnreadable { .. } => "audit_event_unreadable",
            FindingKind::AuditSealInvalid { .. } => "audit_seal_invalid",
            FindingKind::AuditSealUntrusted { .. } => "audit_seal_untrusted",
            FindingKind::FullPassCursorInvalid { .. } => "full_pass_cursor_invalid",
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

/// Everything a [`ChainVerifier`] carries from one entry to the next, so a verification can
/// stop at a position and another process can continue it exactly (the resumable full pass
/// stores it in its cursor). Findings are not part of it: they are the caller's to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierState {
    /// The chain index the next entry should have.
    pub position: u64,
    /// The stored hash of the entry at `position - 1`; `None` after an unreadable item.
    pub previous: Option<Hash>,
    /// The highest index accepted so far.
    pub last_index: Option<u64>,
    /// The Merkle tree over the recomputed hashes of the entries accepted so far.
    pub tree: CompactRange,
    /// The stored hash of the last accepted entry.
    pub head_hash: Option<Hash>,
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

    /// The state to continue from later ([`ChainVerifier::from_state`]).
    pub fn state(&self) -> VerifierState {
        VerifierState {
            position: self.position,
            previous: self.previous,
            last_index: self.last_index,
            tree: self.report.tree.clone(),
            head_hash: self.report.head_hash,
        }
    }

    /// Continues exactly where [`ChainVerifier::state`] was taken, with no findings and no
    /// entries read yet. Refuses a state no verifier can be in (the reason is returned).
    pub fn from_state(state: VerifierState) -> Result<ChainVerifier, String> {
        let VerifierState {
            position,
            previous,
            last_index,
            tree,
            head_hash,
        } = state;
        if tree.size() > position {
            return Err(format!(
                "the tree holds {} leaves but the position is {position}",
                tree.size()
            ));
        }
        if last_index.is_some_and(|last| last >= position) || (position > 0) != last_index.is_some()
        {
            return Err(format!(
                "last index {last_index:?} does not precede position {position}"
            ));
        }
        if (tree.size() > 0) != head_hash.is_some() {
            return Err("a head hash is stated exactly when the tree has leaves".to_owned());
        }
        Ok(ChainVerifier {
            position,
            previous,
            last_index,
            report: ChainReport {
                entries_read: 0,
                findings: Vec::new(),
                findings_total: 0,
                next_index: position,
                head_hash,
                tree,
            },
        })
    }

    /// Records a finding made outside the chain itself (claims, checkpoints), so that one
    /// report holds them all, capped and counted alike.
    pub fn record(&mut self, index: u64, kind: FindingKind) {
        self.report.findings_total += 1;
        if self.report.findings.len() < MAX_FINDINGS_KEPT {
            self.report.findings.push(Finding { index, kind });
        }
    }

    /// The chain index the next entry should have.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The Merkle tree over the recomputed hashes of the entries accepted so far.
    pub fn tree(&self) -> &CompactRange {
        &self.report.tree
    }

    /// The first finding so far, if any.
    pub fn first_finding(&self) -> Option<&Finding> {
        self.report.findings.first()
    }

    /// The stored hash of the last accepted entry.
    pub fn head_hash(&self) -> Option<Hash> {
        self.report.head_hash
    }

    /// Checks one entry against its own hash and against the entries before it.
    pub fn push(&mut self, stored: &StoredEntry) {
        self.push_fields(&stored.entry.fields(), stored.entry_hash);
    }

    /// [`ChainVerifier::push`] for an entry's fields borrowed from where they were read (a
    /// backup row's cells), with the hash stored beside them.
    pub fn push_fields(&mut self, entry: &EntryFields<'_>, entry_hash: Hash) {
        self.report.entries_read += 1;
        let computed = entry.compute_hash();
        let hash_intact = computed == entry_hash;
        let index = entry.chain_index;
        let position = self.position;
        if !hash_intact {
            self.record(
                position,
                FindingKind::HashMismatch {
                    stored: entry_hash,
                    computed,
                },
            );
        }
        for (field, reason) in invalid_field_values(entry) {
            self.record(
                position,
                FindingKind::InvalidField {
                    field: field.to_owned(),
                    reason,
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
            && expected != entry.previous_hash
        {
            self.record(
                self.position,
                FindingKind::BrokenLink {
                    expected,
                    found: entry.previous_hash,
                },
            );
        }
        self.report.tree.append(computed);
        self.last_index = Some(self.position);
        self.previous = Some(entry_hash);
        self.report.head_hash = Some(entry_hash);
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

/// The format rules on an entry's values that its type cannot keep (ledger-format §1.1 rules
/// 4–5), in tag order: the schema version, and the two derived fields.
pub fn invalid_fields(entry: &Entry) -> Vec<(&'static str, String)> {
    invalid_field_values(&entry.fields())
}

/// [`invalid_fields`] over borrowed fields. Allocates only when there is a problem.
pub fn invalid_field_values(entry: &EntryFields<'_>) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if entry.schema_version != SCHEMA_VERSION {
        problems.push((
            "schema_version",
            format!("is {}; this format defines only 1", entry.schema_version),
        ));
    }
    let latency = entry.received_at.millis_since(&entry.generated_at);
    if entry.delivery_latency_ms != latency {
        problems.push((
            "delivery_latency_ms",
            format!(
                "is {}, but received_at − generated_at is {latency} ms",
                entry.delivery_latency_ms
            ),
        ));
    }
    let retention = entry.retention_expires_at.as_datetime() - entry.received_at.as_datetime();
    let day_micros = i128::from(86_400) * 1_000_000;
    let micros = retention.whole_microseconds();
    if micros <= 0 || micros % day_micros != 0 {
        problems.push((
            "retention_expires_at",
            format!(
                "is not a positive whole number of days after received_at ({})",
                entry.received_at
            ),
        ));
    }
    problems
}

/// What the claim stored under an entry's signal id says (ledger-format §4.2): the chain index
/// and entry hash of the entry that claimed the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimSeen {
    pub chain_index: u64,
    pub entry_hash: Hash,
}

/// The claim finding of the entry at `chain_index` with `signal_id` and stored `entry_hash`
/// (ledger-format §4.2), given the claim stored under its signal id, if any: none when the claim
/// names this index and hash, `claim_missing` when there is no claim, `claim_mismatch` when it
/// names another index or another hash.
pub fn claim_finding(
    chain_index: u64,
    signal_id: &str,
    entry_hash: &Hash,
    claim: Option<ClaimSeen>,
) -> Option<FindingKind> {
    let signal_id = signal_id.to_owned();
    match claim {
        None => Some(FindingKind::ClaimMissing { signal_id }),
        Some(claim) if claim.chain_index != chain_index || claim.entry_hash != *entry_hash => {
            Some(FindingKind::ClaimMismatch {
                signal_id,
                claim_index: claim.chain_index,
                claim_hash: claim.entry_hash,
            })
        }
        Some(_) => None,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::merkle;
    use crate::domain::test_support::{chain, decimal};

    fn kinds(report: &ChainReport) -> Vec<(u64, &'static str)> {
        report
            .findings
            .iter()
            .map(|f| (f.index, f.kind.name()))
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_yields_its_merkle_root() {
        let entries = chain(10);
        let report = verify_chain(&entries, Some(10));
        assert!(report.is_intact(), "{:?}", report.findings);
        assert_eq!(report.entries_read, 10);
        assert_eq!(report.next_index, 10);
        assert_eq!(report.head_hash, Some(entries[9].entry_hash));
        let leaves: Vec<Hash> = entries.iter().map(|e| e.entry_hash).collect();
        assert_eq!(report.tree.root(), merkle::root(&leaves));
    }

    #[test]
    fn an_empty_chain_is_intact_unless_it_should_not_be_empty() {
        assert!(verify_chain(&[], None).is_intact());
        assert_eq!(kinds(&verify_chain(&[], Some(3))), vec![(0, "truncated")]);
    }

    #[test]
    fn genesis_must_link_to_zero() {
        let mut entries = chain(2);
        entries[0].entry.previous_hash = Hash([7; 32]);
        entries[0] = StoredEntry::seal(entries[0].entry.clone());
        let report = verify_chain(&entries, None);
        // Entry 0 re-sealed (hash recomputed): its link to "before genesis" is broken, and entry 1
        // now links to a hash that is no longer entry 0's.
        assert_eq!(kinds(&report), vec![(0, "broken_link"), (1, "broken_link")]);
    }

    #[test]
    fn table_of_tampering() {
        let check = |tamper: &dyn Fn(&mut Vec<StoredEntry>), expected: Vec<(u64, &'static str)>| {
            let mut entries = chain(6);
            tamper(&mut entries);
            assert_eq!(kinds(&verify_chain(&entries, Some(6))), expected);
        };
        // An edited field: the stored hash no longer matches.
        check(
            &|e| e[2].entry.content.entry_price = decimal("999"),
            vec![(2, "hash_mismatch")],
        );
        // Edited and re-hashed: the next entry's link breaks.
        check(
            &|e| {
                e[2].entry.content.rationale.push('!');
                e[2] = StoredEntry::seal(e[2].entry.clone());
            },
            vec![(3, "broken_link")],
        );
        check(&|e| drop(e.remove(3)), vec![(3, "gap")]);
        check(&|e| e.swap(1, 2), vec![(1, "gap"), (1, "reorder")]);
        check(&|e| e.insert(3, e[2].clone()), vec![(2, "duplicate_index")]);
        check(&|e| e.insert(5, e[1].clone()), vec![(1, "reorder")]);
        check(&|e| e.truncate(4), vec![(4, "truncated")]);
        check(
            &|e| e[4].entry.chain_index = 40,
            vec![(4, "hash_mismatch"), (4, "gap")],
        );
    }

    #[test]
    fn unreadable_items_take_a_position() {
        let entries = chain(4);
        let mut verifier = ChainVerifier::from_genesis();
        verifier.push(&entries[0]);
        verifier.push_unreadable("entry_price \"1.50\" is not in canonical form".into());
        verifier.push(&entries[2]);
        verifier.push(&entries[3]);
        let report = verifier.finish(Some(4));
        assert_eq!(kinds(&report), vec![(1, "unreadable")]);
        assert_eq!(report.next_index, 4);
    }

    #[test]
    fn findings_are_capped_but_counted() {
        let mut entries = chain(3);
        for entry in &mut entries {
            entry.entry_hash = Hash([1; 32]);
        }
        let big: Vec<StoredEntry> = (0..MAX_FINDINGS_KEPT + 10)
            .map(|_| entries[1].clone())
            .collect();
        let report = verify_chain(&big, None);
        assert_eq!(report.findings.len(), MAX_FINDINGS_KEPT);
        assert!(report.findings_total > MAX_FINDINGS_KEPT as u64);
    }

    #[test]
    fn resuming_from_a_verified_prefix_gives_the_same_result() {
        let entries = chain(12);
        let prefix = verify_chain(&entries[..5], None);
        let mut verifier = ChainVerifier::resume(prefix.tree.clone(), prefix.head_hash.unwrap());
        for entry in &entries[5..] {
            verifier.push(entry);
        }
        let resumed = verifier.finish(None);
        let full = verify_chain(&entries, None);
        assert!(resumed.is_intact());
        assert_eq!(
            (resumed.tree, resumed.head_hash, resumed.next_index),
            (full.tree, full.head_hash, full.next_index)
        );
        // A resumed verifier expects the next index and the prefix's head.
        let mut verifier = ChainVerifier::resume(prefix.tree, prefix.head_hash.unwrap());
        verifier.push(&entries[6]);
        assert_eq!(kinds(&verifier.finish(None)), vec![(5, "gap")]);
    }

    /// Changes one field of an entry (a "flipped byte" at the level of the stored item).
    fn tamper(stored: &mut StoredEntry, field: u8, salt: u8) {
        let bit = 1u8 << (salt % 8);
        let entry = &mut stored.entry;
        let flip_text = |text: &mut String| {
            let mut bytes = text.clone().into_bytes();
            let at = salt as usize % bytes.len().max(1);
            if bytes.is_empty() {
                bytes.push(b'x');
            } else {
                // Stay within ASCII letters so the text remains valid UTF-8 and still differs.
                bytes[at] = if bytes[at] == b'q' { b'r' } else { b'q' };
            }
            *text = String::from_utf8(bytes).unwrap_or_else(|_| "tampered".to_owned());
        };
        match field % 20 {
            0 => entry.schema_version ^= u64::from(bit),
            1 => entry.chain_index ^= 1 << (salt % 64),
            2 => entry.previous_hash.0[salt as usize % 32] ^= bit,
            3 => stored.entry_hash.0[salt as usize % 32] ^= bit,
            4 => {
                entry.signal_id =
                    crate::domain::signal::SignalId::parse(&format!("{}x", entry.signal_id))
                        .unwrap()
            }
            5 => flip_text(&mut entry.content.symbol),
            6 => {
                entry.content.action = match entry.content.action {
                    crate::domain::signal::Action::Buy => crate::domain::signal::Action::Sell,
                    crate::domain::signal::Action::Sell => crate::domain::signal::Action::Buy,
                }
            }
            7 => entry.content.entry_price = decimal(&format!("{}1", entry.content.entry_price)),
            8 => {
                entry.content.target_price = match entry.content.target_price {
                    Some(_) => None,
                    None => Some(decimal("1")),
                }
            }
            9 => {
                entry.content.stop_loss = match entry.content.stop_loss {
                    Some(_) => None,
                    None => Some(decimal("1")),
                }
            }
            10 => {
                entry.content.confidence = match entry.content.confidence {
                    Some(_) => None,
                    None => Some(decimal("0.5")),
                }
            }
            11 => flip_text(&mut entry.content.rationale),
            12 => entry.content.generated_at = later(entry.content.generated_at),
            13 => {
                entry.content.producer = match &entry.content.producer {
                    Some(_) => None,
                    None => Some("p".into()),
                }
            }
            14 => {
                entry.content.model = match &entry.content.model {
                    Some(m) => Some(format!("{m}x")),
                    None => Some("m".into()),
                }
            }
            15 => {
                entry.content.model_version = match &entry.content.model_version {
                    Some(_) => None,
                    None => Some("1".into()),
                }
            }
            16 => entry.received_at = later(entry.received_at),
            17 => entry.delivery_latency_ms ^= i64::from(bit),
            18 => entry.retention_expires_at = later(entry.retention_expires_at),
            _ => flip_text(&mut entry.submitter),
        }
    }

    fn later(instant: crate::domain::timestamp::Timestamp) -> crate::domain::timestamp::Timestamp {
        crate::domain::timestamp::Timestamp::from_datetime(
            instant.as_datetime() + time::Duration::microseconds(1),
        )
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn append_then_verify_passes(length in 0u64..60) {
            let report = verify_chain(&chain(length), Some(length));
            prop_assert!(report.is_intact(), "{:?}", report.findings);
            prop_assert_eq!(report.next_index, length);
        }

        #[test]
        fn any_tampered_field_is_found_at_its_index(length in 1u64..40, at in any::<prop::sample::Index>(), field in 0u8..20, salt in any::<u8>()) {
            let mut entries = chain(length);
            let k = at.index(length as usize);
            let original = entries[k].clone();
            tamper(&mut entries[k], field, salt);
            prop_assume!(entries[k] != original);
            let report = verify_chain(&entries, Some(length));
            prop_assert_eq!(report.first_finding().map(|f| f.index), Some(k as u64), "{:?}", report.findings);
        }

        #[test]
        fn a_deleted_entry_is_found_at_its_index(length in 1u64..40, at in any::<prop::sample::Index>()) {
            let mut entries = chain(length);
            let k = at.index(length as usize);
            entries.remove(k);
            let report = verify_chain(&entries, Some(length));
            prop_assert_eq!(report.first_finding().map(|f| f.index), Some(k as u64));
        }

        #[test]
        fn swapped_entries_are_found_at_the_first(length in 2u64..40, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
            let mut entries = chain(length);
            let (i, j) = (a.index(length as usize), b.index(length as usize));
            prop_assume!(i != j);
            entries.swap(i, j);
            let report = verify_chain(&entries, Some(length));
            prop_assert_eq!(report.first_finding().map(|f| f.index), Some(i.min(j) as u64));
        }

        #[test]
        fn a_duplicated_entry_is_found(length in 1u64..40, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
            let mut entries = chain(length);
            let k = a.index(length as usize);
            // Insert the copy anywhere after the original.
            let at = k + 1 + b.index(length as usize - k);
            entries.insert(at, entries[k].clone());
            let report = verify_chain(&entries, Some(length));
            let first = report.first_finding().cloned();
            prop_assert_eq!(first.as_ref().map(|f| f.index), Some(k as u64));
            let kind = first.map(|f| f.kind.name());
            prop_assert!(kind == Some("duplicate_index") || kind == Some("reorder"), "{:?}", kind);
            prop_assert_eq!(report.next_index, length);
        }

        #[test]
        fn a_truncated_chain_is_found_at_its_new_end(length in 1u64..40, keep in any::<prop::sample::Index>()) {
            let mut entries = chain(length);
            let kept = keep.index(length as usize);
            entries.truncate(kept);
            let report = verify_chain(&entries, Some(length));
            prop_assert_eq!(report.findings.clone(), vec![Finding { index: kept as u64, kind: FindingKind::Truncated { expected_size: length } }]);
        }
    }
}
