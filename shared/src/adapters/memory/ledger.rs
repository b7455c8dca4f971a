//! `InMemoryLedger`: the ledger store with the same semantics as the DynamoDB adapter (a
//! conditional, all-or-nothing append of entry + claim + audit record, the same for a delivery
//! receipt + its audit record, strongly consistent reads), the group-commit primitives
//! (pendings per generation, a commit of many conditional on its first index and on every claim,
//! all or nothing),
//! its audit sink and audit log, and `tamper`/`tamper_audit` for tests of the integrity checks.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::audit::AuditEvent;
use crate::domain::audit_seal::{self, AuditKey};
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::receipt::{StoredReceipt, Subscriber};
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AppendError, AuditLog, AuditSink, ChainHead, Claim, CommitError, CommitHead, GroupCommitStore,
    KeyedAuditEvent, LedgerStore, Page, Pending, Placed, ReceiptError, StoreError, sequence_key,
};

/// The most entries one commit carries, as in the DynamoDB layout: a commit transaction is
/// `3 + c` conditional puts (commit record, entry bundle, insert audit bundle, one claim per
/// signal) and a transaction holds at most 100 actions.
pub const MAX_COMMIT_ENTRIES: usize = 97;

/// The most bytes of entries, and of insert audit events, one commit carries: the DynamoDB layout
/// stores each in one bundle item, and an item holds at most 400 KB (margin for attribute names).
pub const MAX_COMMIT_BUNDLE_BYTES: usize = 350 * 1024;

/// How many of `entries` (with their `audits`) one commit carries: the longest prefix within
/// [`MAX_COMMIT_ENTRIES`] and [`MAX_COMMIT_BUNDLE_BYTES`], at least one.
fn fitting_prefix(entries: &[StoredEntry], audits: &[AuditEvent]) -> usize {
    let (mut entry_bytes, mut audit_bytes) = (0usize, 0usize);
    let mut count = 0;
    for (entry, audit) in entries.iter().zip(audits).take(MAX_COMMIT_ENTRIES) {
        entry_bytes += serde_json::to_vec(entry).map_or(0, |bytes| bytes.len());
        audit_bytes += audit.encoded_len();
        if count > 0
            && (entry_bytes > MAX_COMMIT_BUNDLE_BYTES || audit_bytes > MAX_COMMIT_BUNDLE_BYTES)
        {
            break;
        }
        count += 1;
    }
    count
}

/// A commit record: where a commit starts (its key), how many entries it holds, and what the
/// next commit chains on.
#[derive(Debug, Clone)]
struct CommitRecord {
    count: u64,
    last_hash: Hash,
    last_key: String,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<u64, StoredEntry>,
    claims: HashMap<SignalId, Claim>,
    audit: Vec<AuditEvent>,
    receipts: BTreeMap<(SignalId, Subscriber), StoredReceipt>,
    /// Pendings by generation, then by signal id (the sort key of `PENDING#<n>`).
    pendings: BTreeMap<u64, BTreeMap<SignalId, Pending>>,
    /// Commit records by first chain index; a single append writes a commit of one.
    commits: BTreeMap<u64, CommitRecord>,
}

/// An in-memory ledger and its audit log. Clones share the same state.
#[derive(Debug, Clone, Default)]
pub struct InMemoryLedger {
    state: Arc<Mutex<State>>,
    fail_audit_writes: Arc<AtomicBool>,
    audit_scans: Arc<AtomicUsize>,
}

#[derive(Debug, thiserror::Error)]
#[error("injected audit write failure")]
struct InjectedFailure;

impl InMemoryLedger {
    pub fn new() -> InMemoryLedger {
        InMemoryLedger::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied append (each append
        // mutates only after all checks pass), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// From now on, every audit write fails (and with it every append).
    pub fn fail_audit_writes(&self, fail: bool) {
        self.fail_audit_writes.store(fail, Ordering::SeqCst);
    }

    /// The audit sink writing into this ledger's audit log.
    pub fn audit_sink(&self) -> InMemoryAuditSink {
        InMemoryAuditSink {
            ledger: self.clone(),
        }
    }

    pub fn entries(&self) -> Vec<StoredEntry> {
        self.state().entries.values().cloned().collect()
    }

    /// Every stored delivery receipt, by signal and subscriber.
    pub fn receipts(&self) -> Vec<StoredReceipt> {
        self.state().receipts.values().cloned().collect()
    }

    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.state().audit.clone()
    }

    /// How many commits the chain was written in (a single append is a commit of one).
    pub fn commit_count(&self) -> usize {
        self.state().commits.len()
    }

    /// Every pending of every generation, as (generation, pending).
    pub fn all_pendings(&self) -> Vec<(u64, Pending)> {
        self.state()
            .pendings
            .iter()
            .flat_map(|(generation, pendings)| {
                pendings
                    .values()
                    .map(|pending| (*generation, pending.clone()))
            })
            .collect()
    }

    /// Changes stored entries and claims directly, as an insider with write access to the table
    /// could (tests of the integrity checks).
    pub fn tamper(
        &self,
        change: impl FnOnce(&mut BTreeMap<u64, StoredEntry>, &mut HashMap<SignalId, Claim>),
    ) {
        let mut state = self.state();
        let State {
            entries, claims, ..
        } = &mut *state;
        change(entries, claims);
    }
}

impl InMemoryLedger {
    /// Changes the stored audit events directly — overwrite, remove or insert — as an insider
    /// with `PutItem` on the audit table could (tests of the sealed audit log).
    pub fn tamper_audit(&self, change: impl FnOnce(&mut Vec<AuditEvent>)) {
        change(&mut self.state().audit);
    }

    /// How many times the whole audit table was scanned (`AuditLog::earliest_day`).
    pub fn audit_scans(&self) -> usize {
        self.audit_scans.load(Ordering::Relaxed)
    }
}

impl LedgerStore for InMemoryLedger {
    async fn head(&self) -> Result<Option<ChainHead>, StoreError> {
        Ok(self
            .state()
            .entries
            .values()
            .next_back()
            .map(|last| ChainHead {
                chain_index: last.entry.chain_index,
                entry_hash: last.entry_hash,
            }))
    }

    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        let mut state = self.state();
        let index = entry.entry.chain_index;
        if state.claims.contains_key(&entry.entry.signal_id) {
            return Err(AppendError::SignalIdTaken(entry.entry.signal_id.clone()));
        }
        if state.entries.contains_key(&index) {
            return Err(AppendError::IndexTaken(index));
        }
        if self.fail_audit_writes.load(Ordering::SeqCst) {
            return Err(AppendError::AuditWriteFailed(Box::new(InjectedFailure)));
        }
        state.entries.insert(index, entry.clone());
        state.claims.insert(
            entry.entry.signal_id.clone(),
            Claim {
                chain_index: index,
                entry_hash: entry.entry_hash,
            },
        );
        state.audit.push(audit.clone());
        state.commits.insert(
            index,
            CommitRecord {
                count: 1,
                last_hash: entry.entry_hash,
                last_key: sequence_key(&entry.entry.received_at, &entry.entry.signal_id),
            },
        );
        Ok(())
    }

    async fn find_by_signal_id(
        &self,
        signal_id: &SignalId,
    ) -> Result<Option<StoredEntry>, StoreError> {
        let state = self.state();
        Ok(state
            .claims
            .get(signal_id)
            .and_then(|claim| state.entries.get(&claim.chain_index))
            .cloned())
    }

    async fn read_page(&self, from: u64, limit: u32) -> Result<Page, StoreError> {
        let state = self.state();
        let items: Vec<_> = state
            .entries
            .range(from..)
            .take(limit as usize)
            .map(|(_, e)| Ok(e.clone()))
            .collect();
        let next = (items.len() == limit as usize)
            .then(|| {
                state
                    .entries
                    .range(from..)
                    .nth(limit as usize)
                    .map(|(i, _)| *i)
            })
            .flatten();
        Ok(Page { items, next })
    }

    async fn entry_at(&self, chain_index: u64) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.state().entries.get(&chain_index).cloned())
    }

    async fn claims(&self, signal_ids: &[SignalId]) -> Result<Vec<(SignalId, Claim)>, StoreError> {
        let state = self.state();
        Ok(signal_ids
            .iter()
            .filter_map(|id| Some((id.clone(), *state.claims.get(id)?)))
            .collect())
    }

    async fn record_receipt(
        &self,
        receipt: &StoredReceipt,
        audit: &AuditEvent,
    ) -> Result<(), ReceiptError> {
        let mut state = self.state();
        let key = (
            receipt.receipt.signal_id.clone(),
            receipt.receipt.subscriber.clone(),
        );
        if state.receipts.contains_key(&key) {
            return Err(ReceiptError::Taken(key.0));
        }
        if self.fail_audit_writes.load(Ordering::SeqCst) {
            return Err(ReceiptError::AuditWriteFailed(Box::new(InjectedFailure)));
        }
        state.receipts.insert(key, receipt.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn receipt(
        &self,
        signal_id: &SignalId,
        subscriber: &Subscriber,
    ) -> Result<Option<StoredReceipt>, StoreError> {
        Ok(self
            .state()
            .receipts
            .get(&(signal_id.clone(), subscriber.clone()))
            .cloned())
    }

    async fn receipts_of(
        &self,
        signal_id: &SignalId,
    ) -> Result<Vec<Result<StoredReceipt, StoreError>>, StoreError> {
        Ok(self
            .state()
            .receipts
            .iter()
            .filter(|((id, _), _)| id == signal_id)
            .map(|(_, receipt)| Ok(receipt.clone()))
            .collect())
    }
}

impl GroupCommitStore for InMemoryLedger {
    async fn commit_head(&self) -> Result<CommitHead, StoreError> {
        let state = self.state();
        Ok(match state.commits.iter().next_back() {
            None => CommitHead {
                first: None,
                next: 0,
                last_hash: Hash::ZERO,
                last_key: String::new(),
            },
            Some((first, commit)) => CommitHead {
                first: Some(*first),
                next: first.saturating_add(commit.count),
                last_hash: commit.last_hash,
                last_key: commit.last_key.clone(),
            },
        })
    }

    async fn commit_firsts(&self, at_or_before: u64, limit: u32) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .state()
            .commits
            .range(..=at_or_before)
            .rev()
            .take(limit as usize)
            .map(|(first, _)| *first)
            .collect())
    }

    async fn put_pending(&self, generation: u64, pending: &Pending) -> Result<(), StoreError> {
        self.state()
            .pendings
            .entry(generation)
            .or_default()
            .entry(pending.signal_id.clone())
            .or_insert_with(|| pending.clone());
        Ok(())
    }

    async fn first_pending_ids(
        &self,
        generation: u64,
        limit: u32,
    ) -> Result<Vec<SignalId>, StoreError> {
        Ok(self
            .state()
            .pendings
            .get(&generation)
            .map(|pendings| pendings.keys().take(limit as usize).cloned().collect())
            .unwrap_or_default())
    }

    async fn pendings(&self, generation: u64) -> Result<Vec<Pending>, StoreError> {
        Ok(self
            .state()
            .pendings
            .get(&generation)
            .map(|pendings| pendings.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> Result<usize, CommitError> {
        let count = fitting_prefix(entries, audits);
        let (Some(entries), Some(audits)) = (entries.get(..count), audits.get(..count)) else {
            return Err(StoreError::Failed(Box::new(BadCommit("no entries"))).into());
        };
        let Some(last) = entries.last() else {
            return Err(StoreError::Failed(Box::new(BadCommit("no entries"))).into());
        };
        let misplaced = entries
            .iter()
            .zip(head.next..)
            .any(|(entry, index)| entry.entry.chain_index != index);
        let mut ids: Vec<&SignalId> = entries.iter().map(|e| &e.entry.signal_id).collect();
        ids.sort_unstable();
        if misplaced || ids.windows(2).any(|pair| pair.first() == pair.last()) {
            // DynamoDB refuses a transaction that touches one item twice (ValidationException).
            return Err(
                StoreError::Failed(Box::new(BadCommit("misplaced or repeated entries"))).into(),
            );
        }
        let mut state = self.state();
        // Every condition is checked before anything is written, as in one transaction; the
        // commit record's condition is the first action, so a lost race is named first.
        let end = head.next.saturating_add(count as u64);
        if state.commits.contains_key(&head.next)
            || state.entries.range(head.next..end).next().is_some()
        {
            return Err(CommitError::Lost(head.next));
        }
        let claimed: Vec<SignalId> = entries
            .iter()
            .map(|e| &e.entry.signal_id)
            .filter(|id| state.claims.contains_key(*id))
            .cloned()
            .collect();
        if !claimed.is_empty() {
            return Err(CommitError::Claimed(claimed));
        }
        if self.fail_audit_writes.load(Ordering::SeqCst) {
            return Err(CommitError::AuditWriteFailed(Box::new(InjectedFailure)));
        }
        for (entry, audit) in entries.iter().zip(audits) {
            state.entries.insert(entry.entry.chain_index, entry.clone());
            state.claims.insert(
                entry.entry.signal_id.clone(),
                Claim {
                    chain_index: entry.entry.chain_index,
                    entry_hash: entry.entry_hash,
                },
            );
            state.audit.push(audit.clone());
        }
        let last_key = entries
            .iter()
            .map(|e| sequence_key(&e.entry.received_at, &e.entry.signal_id))
            .max()
            .unwrap_or_default();
        state.commits.insert(
            head.next,
            CommitRecord {
                count: count as u64,
                last_hash: last.entry_hash,
                last_key,
            },
        );
        Ok(count)
    }

    async fn placed(&self, signal_id: &SignalId) -> Result<Option<Placed>, StoreError> {
        let state = self.state();
        Ok(state
            .claims
            .get(signal_id)
            .and_then(|claim| state.entries.get(&claim.chain_index))
            .map(|stored| Placed {
                chain_index: stored.entry.chain_index,
                entry_hash: stored.entry_hash,
                previous_hash: stored.entry.previous_hash,
                received_at: stored.entry.received_at,
                submitter: stored.entry.submitter.clone(),
            }))
    }
}

/// A commit the store refuses as malformed (a bug in the caller, never a race).
#[derive(Debug, thiserror::Error)]
#[error("malformed commit: {0}")]
struct BadCommit(&'static str);

/// Writes into an [`InMemoryLedger`]'s audit log.
#[derive(Debug, Clone)]
pub struct InMemoryAuditSink {
    ledger: InMemoryLedger,
}

impl AuditSink for InMemoryAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        if self.ledger.fail_audit_writes.load(Ordering::SeqCst) {
            return Err(StoreError::Failed(Box::new(InjectedFailure)));
        }
        let mut state = self.ledger.state();
        // Conditional on the key, as the DynamoDB sink's put.
        let key = |e: &AuditEvent| (e.occurred_at.as_str().to_owned(), e.event_id.clone());
        if state.audit.iter().any(|e| key(e) == key(event)) {
            return Err(StoreError::AlreadyExists {
                key: format!("{}#{}", event.occurred_at.as_str(), event.event_id),
            });
        }
        state.audit.push(event.clone());
        Ok(())
    }
}

/// Reads back an [`InMemoryLedger`]'s audit log one UTC day at a time, like the audit table's
/// day partitions.
impl AuditLog for InMemoryAuditSink {
    async fn visit_day<F>(&self, day: &str, mut visit: F) -> Result<(), StoreError>
    where
        F: FnMut(AuditEvent) + Send,
    {
        let mut events: Vec<AuditEvent> = self
            .ledger
            .audit_events()
            .into_iter()
            .filter(|e| e.occurred_at.as_str().starts_with(day))
            .collect();
        events.sort_by_key(|e| e.occurred_at);
        events.into_iter().for_each(&mut visit);
        Ok(())
    }

    async fn visit_window<F>(
        &self,
        from: &Timestamp,
        to: &Timestamp,
        mut visit: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut(KeyedAuditEvent) + Send,
    {
        let mut events: Vec<(AuditKey, AuditEvent)> = self
            .ledger
            .audit_events()
            .into_iter()
            .map(|e| (AuditKey::of(&e), e))
            .filter(|(key, _)| audit_seal::key_in_window(key, from, to))
            .collect();
        events.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, event) in events {
            visit(KeyedAuditEvent {
                key,
                event: Ok(event),
            });
        }
        Ok(())
    }

    async fn earliest_day(&self) -> Result<Option<String>, StoreError> {
        self.ledger.audit_scans.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .ledger
            .audit_events()
            .iter()
            .map(|e| AuditKey::of(e).pk)
            .min())
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
