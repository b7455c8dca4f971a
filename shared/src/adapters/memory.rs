//! In-memory doubles of the ports, with the same semantics as the DynamoDB adapters: a
//! conditional, all-or-nothing append (entry + signal-id claim + audit record) and strongly
//! consistent reads. Used by unit tests and benchmarks, never by a function.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::audit::AuditEvent;
use crate::domain::entry::StoredEntry;
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AppendError, AuditSink, ChainHead, Clock, LedgerStore, Metric, MetricsSink, Page, StoreError,
};

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<u64, StoredEntry>,
    claims: HashMap<SignalId, u64>,
    audit: Vec<AuditEvent>,
}

/// An in-memory ledger and its audit log. Clones share the same state.
#[derive(Debug, Clone, Default)]
pub struct InMemoryLedger {
    state: Arc<Mutex<State>>,
    fail_audit_writes: Arc<AtomicBool>,
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

    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.state().audit.clone()
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
        state.claims.insert(entry.entry.signal_id.clone(), index);
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
            .and_then(|index| state.entries.get(index))
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
        self.ledger.state().audit.push(event.clone());
        Ok(())
    }
}

/// Keeps every emitted metric, for assertions.
#[derive(Debug, Clone, Default)]
pub struct RecordingMetrics {
    metrics: Arc<Mutex<Vec<Metric>>>,
}

impl RecordingMetrics {
    pub fn recorded(&self) -> Vec<Metric> {
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The sum of all values emitted under `name`.
    pub fn total(&self, name: &str) -> f64 {
        self.recorded()
            .iter()
            .filter(|m| m.name == name)
            .map(|m| m.value)
            .sum()
    }
}

impl MetricsSink for RecordingMetrics {
    fn emit(&self, metrics: &[Metric]) {
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(metrics);
    }
}

/// A clock that stands still until moved.
#[derive(Debug, Clone)]
pub struct FixedClock {
    now: Arc<Mutex<Timestamp>>,
}

impl FixedClock {
    pub fn new(now: Timestamp) -> FixedClock {
        FixedClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    pub fn set(&self, now: Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}
