//! `InMemoryLedger`: the ledger store with the same semantics as the DynamoDB adapter (a
//! conditional, all-or-nothing append of entry + claim + audit record, the same for a delivery
//! receipt + its audit record, strongly consistent reads),
//! its audit sink and audit log, and `tamper`/`tamper_audit` for tests of the integrity checks.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::audit::AuditEvent;
use crate::domain::audit_seal::{self, AuditKey};
use crate::domain::entry::StoredEntry;
use crate::domain::receipt::{StoredReceipt, Subscriber};
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AppendError, AuditLog, AuditSink, ChainHead, Claim, KeyedAuditEvent, LedgerStore, Page,
    ReceiptError, StoreError,
};

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<u64, StoredEntry>,
    claims: HashMap<SignalId, Claim>,
    audit: Vec<AuditEvent>,
    receipts: BTreeMap<(SignalId, Subscriber), StoredReceipt>,
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
