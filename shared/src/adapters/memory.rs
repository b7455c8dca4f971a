//! In-memory doubles of the ports, with the same semantics as the DynamoDB adapters: a
//! conditional, all-or-nothing append (entry + signal-id claim + audit record) and strongly
//! consistent reads. Used by unit tests and benchmarks, never by a function.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::audit::AuditEvent;
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AppendError, AuditSink, BlobVault, ChainHead, Claim, Clock, LedgerStore, Metric, MetricsSink,
    ObjectProtection, ObjectVersion, Page, SignError, Signer, StoreError, StoredObject, VaultError,
};

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<u64, StoredEntry>,
    claims: HashMap<SignalId, Claim>,
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

/// One stored object version of an [`InMemoryVault`].
#[derive(Debug, Clone)]
struct VaultObject {
    key: String,
    version_id: String,
    body: Vec<u8>,
    retain_until: Timestamp,
}

/// An in-memory WORM vault: every write is a new version, nothing is ever removed; like S3 with
/// Object Lock, `list_versions` shows every version. `overwrite` stands in for an attacker
/// writing a new version over a key.
#[derive(Debug, Clone, Default)]
pub struct InMemoryVault {
    objects: Arc<Mutex<Vec<VaultObject>>>,
}

impl InMemoryVault {
    pub fn new() -> InMemoryVault {
        InMemoryVault::default()
    }

    fn objects(&self) -> MutexGuard<'_, Vec<VaultObject>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a new version of `key` without any lock (what an attacker with write access can do).
    pub fn overwrite(&self, key: &str, body: Vec<u8>) {
        let mut objects = self.objects();
        let version_id = format!("v{}", objects.len() + 1);
        let retain_until = objects
            .iter()
            .find(|o| o.key == key)
            .map(|o| o.retain_until);
        if let Some(retain_until) = retain_until {
            objects.push(VaultObject {
                key: key.to_owned(),
                version_id,
                body,
                retain_until,
            });
        }
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.objects().iter().map(|o| o.key.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The latest version's bytes of `key`.
    pub fn latest(&self, key: &str) -> Option<Vec<u8>> {
        self.objects()
            .iter()
            .rev()
            .find(|o| o.key == key)
            .map(|o| o.body.clone())
    }
}

impl BlobVault for InMemoryVault {
    async fn put_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        _content_type: &str,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        let mut objects = self.objects();
        let version_id = format!("v{}", objects.len() + 1);
        let sha256 = Hash::sha256(&body);
        objects.push(VaultObject {
            key: key.to_owned(),
            version_id: version_id.clone(),
            body,
            retain_until,
        });
        Ok(StoredObject {
            key: key.to_owned(),
            version_id,
            sha256,
        })
    }

    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, VaultError> {
        let objects = self.objects();
        let mut versions: Vec<(usize, &VaultObject)> = objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.key.starts_with(prefix))
            .collect();
        // Keys ascending; versions oldest first (insertion order).
        versions.sort_by(|(a_at, a), (b_at, b)| (&a.key, a_at).cmp(&(&b.key, b_at)));
        Ok(versions
            .iter()
            .enumerate()
            .map(|(position, (_, object))| ObjectVersion {
                key: object.key.clone(),
                version_id: object.version_id.clone(),
                is_latest: versions
                    .get(position + 1)
                    .is_none_or(|(_, next)| next.key != object.key),
                size: object.body.len() as u64,
            })
            .collect())
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>, VaultError> {
        self.objects()
            .iter()
            .find(|o| o.key == key && o.version_id == version_id)
            .map(|o| o.body.clone())
            .ok_or_else(|| VaultError::NotFound {
                key: key.to_owned(),
                version_id: Some(version_id.to_owned()),
            })
    }

    async fn protection(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectProtection, VaultError> {
        let objects = self.objects();
        let object = objects
            .iter()
            .find(|o| o.key == key && o.version_id == version_id)
            .ok_or_else(|| VaultError::NotFound {
                key: key.to_owned(),
                version_id: Some(version_id.to_owned()),
            })?;
        Ok(ObjectProtection {
            lock_mode: Some("COMPLIANCE".to_owned()),
            retain_until: Some(object.retain_until),
            server_side_encryption: Some("AES256".to_owned()),
            sha256: Some(Hash::sha256(&object.body)),
        })
    }
}

/// An ECDSA P-256 signer with the key in memory, standing in for KMS in unit tests.
#[derive(Debug, Clone)]
pub struct SoftwareSigner {
    key_id: String,
    key: p256::ecdsa::SigningKey,
}

impl SoftwareSigner {
    /// A deterministic key from 32 secret bytes (tests only).
    pub fn from_secret(key_id: impl Into<String>, secret: [u8; 32]) -> Option<SoftwareSigner> {
        let key = p256::ecdsa::SigningKey::from_slice(&secret).ok()?;
        Some(SoftwareSigner {
            key_id: key_id.into(),
            key,
        })
    }
}

impl Signer for SoftwareSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let digest = Hash::sha256(message);
        let signature: p256::ecdsa::Signature = self
            .key
            .sign_prehash(digest.as_bytes())
            .map_err(|e| SignError::Failed(Box::new(e)))?;
        Ok(signature.to_der().as_bytes().to_vec())
    }

    async fn public_key(&self, key_id: &str) -> Result<Vec<u8>, SignError> {
        if key_id != self.key_id {
            return Err(SignError::Failed(format!("unknown key {key_id}").into()));
        }
        // DER SubjectPublicKeyInfo as KMS GetPublicKey returns it: the fixed RFC 5480 header
        // (id-ecPublicKey, prime256v1, a 66-byte BIT STRING), then the uncompressed point.
        const HEADER: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let point = self.key.verifying_key().to_encoded_point(false);
        Ok([HEADER.as_slice(), point.as_bytes()].concat())
    }
}

/// Fault injection for the append protocol: wraps any ledger store and, on each of the next
/// `rivals` appends, first appends a rival entry at the same chain index (as a concurrent writer
/// that read the same head would), so the wrapped append loses the race.
#[derive(Debug)]
pub struct RivalAppends<S> {
    inner: S,
    rivals: std::sync::atomic::AtomicU32,
}

impl<S> RivalAppends<S> {
    pub fn new(inner: S, rivals: u32) -> RivalAppends<S> {
        RivalAppends {
            inner,
            rivals: std::sync::atomic::AtomicU32::new(rivals),
        }
    }
}

impl<S: LedgerStore> LedgerStore for RivalAppends<S> {
    async fn head(&self) -> Result<Option<ChainHead>, StoreError> {
        self.inner.head().await
    }

    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        let rival_turn = self
            .rivals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if rival_turn {
            let mut rival = entry.entry.clone();
            rival.signal_id = SignalId::parse(&format!("rival-{}", rival.chain_index))
                .map_err(|e| StoreError::Failed(Box::new(e)))?;
            let mut rival_audit = audit.clone();
            rival_audit.event_id = format!("{}-rival", audit.event_id);
            rival_audit.signal_id = Some(rival.signal_id.to_string());
            self.inner
                .append(&StoredEntry::seal(rival), &rival_audit)
                .await?;
        }
        self.inner.append(entry, audit).await
    }

    async fn find_by_signal_id(
        &self,
        signal_id: &SignalId,
    ) -> Result<Option<StoredEntry>, StoreError> {
        self.inner.find_by_signal_id(signal_id).await
    }

    async fn read_page(&self, from: u64, limit: u32) -> Result<Page, StoreError> {
        self.inner.read_page(from, limit).await
    }

    async fn entry_at(&self, chain_index: u64) -> Result<Option<StoredEntry>, StoreError> {
        self.inner.entry_at(chain_index).await
    }

    async fn claims(&self, signal_ids: &[SignalId]) -> Result<Vec<(SignalId, Claim)>, StoreError> {
        self.inner.claims(signal_ids).await
    }
}
