//! The report's own check of the entries it read for the period: each entry's hash, the links
//! between consecutive entries, and the order of their indexes.
//!
//! Promise: every entry given is checked, in O(1) memory beyond at most
//! [`MAX_PERIOD_FINDINGS`] kept findings (all are counted). It does not replace the integrity
//! sweep (which checks the whole chain against signed checkpoints); it shows that the entries this
//! report's figures were computed from are themselves intact.

use serde::Serialize;

use crate::domain::chain::{Finding, FindingKind};
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;

/// At most this many findings are kept; the total is always counted.
pub const MAX_PERIOD_FINDINGS: usize = 100;

/// Checks the entries of the period as the caller reads them (ascending chain index expected).
#[derive(Debug, Clone, Default)]
pub struct PeriodChainCheck {
    entries_checked: u64,
    first_index: Option<u64>,
    /// The highest index accepted so far and its stored hash.
    last: Option<(u64, Hash)>,
    findings: Vec<Finding>,
    findings_total: u64,
}

/// What the check found, as it appears in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCheckEvidence {
    pub entries_checked: u64,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub findings_total: u64,
    /// The first [`MAX_PERIOD_FINDINGS`] findings, in the order found (same form as the sweep's).
    pub findings: Vec<Finding>,
}

impl PeriodChainCheck {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, stored: &StoredEntry) {
        self.entries_checked += 1;
        let index = stored.entry.chain_index;
        self.first_index.get_or_insert(index);
        let computed = stored.entry.compute_hash();
        if computed != stored.entry_hash {
            self.record(
                index,
                FindingKind::HashMismatch {
                    stored: stored.entry_hash,
                    computed,
                },
            );
        }
        let advances = match self.last {
            None => true,
            Some((last, last_hash)) if Some(index) == last.checked_add(1) => {
                if stored.entry.previous_hash != last_hash {
                    self.record(
                        index,
                        FindingKind::BrokenLink {
                            expected: last_hash,
                            found: stored.entry.previous_hash,
                        },
                    );
                }
                true
            }
            Some((last, _)) if index > last => {
                self.record(last + 1, FindingKind::Gap { found: index });
                true
            }
            Some((last, _)) if index == last => {
                self.record(index, FindingKind::DuplicateIndex);
                false
            }
            Some((last, _)) => {
                self.record(index, FindingKind::Reorder { position: last + 1 });
                false
            }
        };
        if advances {
            self.last = Some((index, stored.entry_hash));
        }
    }

    /// An item read where an entry should be that is not a well-formed entry (its stored
    /// attributes were edited). Recorded at the position after the last entry accepted.
    pub fn add_unreadable(&mut self, key: String, reason: String) {
        let position = self
            .last
            .map_or(self.first_index.unwrap_or(0), |(last, _)| last + 1);
        self.record(
            position,
            FindingKind::Unreadable {
                reason: format!("{key}: {reason}"),
            },
        );
    }

    fn record(&mut self, index: u64, kind: FindingKind) {
        self.findings_total += 1;
        if self.findings.len() < MAX_PERIOD_FINDINGS {
            self.findings.push(Finding { index, kind });
        }
    }

    pub fn findings_total(&self) -> u64 {
        self.findings_total
    }

    pub fn evidence(self) -> ChainCheckEvidence {
        ChainCheckEvidence {
            entries_checked: self.entries_checked,
            first_index: self.first_index,
            last_index: self.last.map(|(index, _)| index),
            findings_total: self.findings_total,
            findings: self.findings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{chain, decimal};

    fn kinds(entries: &[StoredEntry]) -> Vec<(u64, &'static str)> {
        let mut check = PeriodChainCheck::new();
        for entry in entries {
            check.add(entry);
        }
        let evidence = check.evidence();
        assert_eq!(evidence.entries_checked, entries.len() as u64);
        evidence
            .findings
            .iter()
            .map(|f| (f.index, f.kind.name()))
            .collect()
    }

    #[test]
    fn table_of_findings() {
        let check = |tamper: &dyn Fn(&mut Vec<StoredEntry>), expected: Vec<(u64, &'static str)>| {
            // A period starts mid-chain: entries 10..16 of a longer chain.
            let mut entries = chain(16).split_off(10);
            tamper(&mut entries);
            assert_eq!(kinds(&entries), expected);
        };
        check(&|_| {}, vec![]);
        // A flipped field: the stored hash no longer matches.
        check(
            &|e| e[2].entry.content.entry_price = decimal("999"),
            vec![(12, "hash_mismatch")],
        );
        // Edited and re-hashed: the next entry's link breaks.
        check(
            &|e| {
                e[2].entry.content.rationale.push('!');
                e[2] = StoredEntry::seal(e[2].entry.clone());
            },
            vec![(13, "broken_link")],
        );
        check(&|e| drop(e.remove(3)), vec![(13, "gap")]);
        check(&|e| e.swap(1, 2), vec![(11, "gap"), (11, "reorder")]);
        check(
            &|e| e.insert(3, e[2].clone()),
            vec![(12, "duplicate_index")],
        );
    }

    #[test]
    fn an_unreadable_item_is_a_finding_after_the_last_entry() {
        let entries = chain(3);
        let mut check = PeriodChainCheck::new();
        check.add(&entries[0]);
        check.add_unreadable("ENTRY/1".into(), "entry_price is not a decimal".into());
        let evidence = check.evidence();
        assert_eq!(evidence.findings_total, 1);
        assert_eq!(evidence.findings[0].index, 1);
        assert_eq!(evidence.findings[0].kind.name(), "unreadable");
    }

    #[test]
    fn findings_are_capped_but_counted() {
        let mut entries = chain(3);
        for entry in &mut entries {
            entry.entry_hash = Hash([1; 32]);
        }
        let mut check = PeriodChainCheck::new();
        for _ in 0..MAX_PERIOD_FINDINGS + 5 {
            check.add(&entries[1]);
        }
        let evidence = check.evidence();
        assert_eq!(evidence.findings.len(), MAX_PERIOD_FINDINGS);
        assert!(evidence.findings_total > MAX_PERIOD_FINDINGS as u64);
    }
}
