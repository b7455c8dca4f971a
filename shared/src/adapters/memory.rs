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
    AppendError, AuditSink, BlobVault, ChainHead, Claim, Clock, LedgerStore, MIN_PART_BYTES,
    Metric, MetricsSink, ObjectProtection, ObjectVersion, Page, SignError, Signer, StoreError,
    StoredObject, Upload, UploadedPart, VaultError,
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
    /// Completed from parts: like S3, the store then holds a checksum of the part checksums,
    /// not the SHA-256 of the object, and `protection` reports none.
    multipart: bool,
}

/// A multipart upload of an [`InMemoryVault`] in progress.
#[derive(Debug)]
struct PendingUpload {
    key: String,
    retain_until: Timestamp,
    /// Part number → (ETag, body); a part uploaded again replaces the earlier one.
    parts: BTreeMap<u32, (String, Vec<u8>)>,
}

#[derive(Debug, Default)]
struct UploadState {
    pending: HashMap<String, PendingUpload>,
    started: u64,
    parts_uploaded: usize,
    fail_after_parts: Option<usize>,
}

/// Why an [`InMemoryVault`] refused or failed an upload step (the source of the `VaultError`).
#[derive(Debug, thiserror::Error)]
enum UploadProblem {
    #[error("part numbers must run 1, 2, 3, … without gaps: got {0:?}")]
    PartsOutOfOrder(Vec<u32>),
    #[error("part {0} is not a part of this upload with that ETag")]
    InvalidPart(u32),
    #[error("part {part_number} has {size} bytes; every part but the last needs {MIN_PART_BYTES}")]
    EntityTooSmall { part_number: u32, size: usize },
    #[error("part number {0} is outside 1..=10000")]
    InvalidPartNumber(u32),
    #[error("injected failure: the vault stopped accepting parts after {0}")]
    Injected(usize),
}

/// An in-memory WORM vault: every write is a new version, nothing is ever removed; like S3 with
/// Object Lock, `list_versions` shows every version. `overwrite` stands in for an attacker
/// writing a new version over a key. Multipart uploads are buffered per upload id and become
/// one version only when completed; `fail_uploads_after_parts` stands in for a writer killed
/// midway.
#[derive(Debug, Clone, Default)]
pub struct InMemoryVault {
    objects: Arc<Mutex<Vec<VaultObject>>>,
    uploads: Arc<Mutex<UploadState>>,
}

impl InMemoryVault {
    pub fn new() -> InMemoryVault {
        InMemoryVault::default()
    }

    fn objects(&self) -> MutexGuard<'_, Vec<VaultObject>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// (Lock order: `uploads` before `objects`.)
    fn uploads(&self) -> MutexGuard<'_, UploadState> {
        self.uploads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fault injection: once `n` `upload_part` calls have succeeded on this vault (counting
    /// those already made), every further `upload_part` fails with `VaultError::Failed`.
    pub fn fail_uploads_after_parts(&self, n: usize) {
        self.uploads().fail_after_parts = Some(n);
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn pending_uploads(&self) -> usize {
        self.uploads().pending.len()
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
                multipart: false,
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
    async fn start_upload(
        &self,
        key: &str,
        _content_type: &str,
        retain_until: Timestamp,
    ) -> Result<Upload, VaultError> {
        let mut uploads = self.uploads();
        uploads.started += 1;
        let upload_id = format!("upload-{}", uploads.started);
        uploads.pending.insert(
            upload_id.clone(),
            PendingUpload {
                key: key.to_owned(),
                retain_until,
                parts: BTreeMap::new(),
            },
        );
        Ok(Upload {
            key: key.to_owned(),
            upload_id,
        })
    }

    async fn upload_part(
        &self,
        upload: &Upload,
        part_number: u32,
        body: Vec<u8>,
    ) -> Result<UploadedPart, VaultError> {
        let mut uploads = self.uploads();
        if let Some(n) = uploads.fail_after_parts
            && uploads.parts_uploaded >= n
        {
            return Err(VaultError::Failed(Box::new(UploadProblem::Injected(n))));
        }
        if !(1..=10_000).contains(&part_number) {
            return Err(VaultError::Refused {
                key: upload.key.clone(),
                source: Box::new(UploadProblem::InvalidPartNumber(part_number)),
            });
        }
        let pending = uploads
            .pending
            .get_mut(&upload.upload_id)
            .filter(|pending| pending.key == upload.key)
            .ok_or_else(|| VaultError::NotFound {
                key: upload.key.clone(),
                version_id: None,
            })?;
        let sha256 = Hash::sha256(&body);
        let etag = format!("\"{}\"", &sha256.to_hex()[..32]);
        pending.parts.insert(part_number, (etag.clone(), body));
        uploads.parts_uploaded += 1;
        Ok(UploadedPart {
            part_number,
            etag,
            sha256,
        })
    }

    async fn complete_upload(
        &self,
        upload: &Upload,
        parts: &[UploadedPart],
        sha256: Hash,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        let mut uploads = self.uploads();
        let not_found = || VaultError::NotFound {
            key: upload.key.clone(),
            version_id: None,
        };
        let pending = uploads
            .pending
            .get(&upload.upload_id)
            .filter(|pending| pending.key == upload.key)
            .ok_or_else(not_found)?;
        let refused = |problem: UploadProblem| VaultError::Refused {
            key: upload.key.clone(),
            source: Box::new(problem),
        };
        let numbers: Vec<u32> = parts.iter().map(|p| p.part_number).collect();
        let consecutive = !numbers.is_empty()
            && numbers
                .iter()
                .enumerate()
                .all(|(at, &number)| u32::try_from(at + 1) == Ok(number));
        if !consecutive {
            return Err(refused(UploadProblem::PartsOutOfOrder(numbers)));
        }
        // As S3 does, the upload stays pending (to be retried or aborted) when refused.
        let mut body = Vec::new();
        for (at, part) in parts.iter().enumerate() {
            let bytes = pending
                .parts
                .get(&part.part_number)
                .filter(|(etag, bytes)| *etag == part.etag && Hash::sha256(bytes) == part.sha256)
                .map(|(_, bytes)| bytes)
                .ok_or_else(|| refused(UploadProblem::InvalidPart(part.part_number)))?;
            if at + 1 < parts.len() && bytes.len() < MIN_PART_BYTES {
                return Err(refused(UploadProblem::EntityTooSmall {
                    part_number: part.part_number,
                    size: bytes.len(),
                }));
            }
            body.extend_from_slice(bytes);
        }
        let retain_until = retain_until.max(pending.retain_until);
        let mut objects = self.objects();
        // Create-only, as the S3 adapter's If-None-Match: the upload stays pending.
        if objects.iter().any(|o| o.key == upload.key) {
            return Err(VaultError::AlreadyExists {
                key: upload.key.clone(),
            });
        }
        uploads.pending.remove(&upload.upload_id);
        let version_id = format!("v{}", objects.len() + 1);
        objects.push(VaultObject {
            key: upload.key.clone(),
            version_id: version_id.clone(),
            body,
            retain_until,
            multipart: true,
        });
        Ok(StoredObject {
            key: upload.key.clone(),
            version_id,
            sha256,
        })
    }

    async fn abort_upload(&self, upload: &Upload) -> Result<(), VaultError> {
        let mut uploads = self.uploads();
        let known = uploads
            .pending
            .get(&upload.upload_id)
            .is_some_and(|pending| pending.key == upload.key);
        if !known {
            return Err(VaultError::NotFound {
                key: upload.key.clone(),
                version_id: None,
            });
        }
        uploads.pending.remove(&upload.upload_id);
        Ok(())
    }

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
            multipart: false,
        });
        Ok(StoredObject {
            key: key.to_owned(),
            version_id,
            sha256,
        })
    }

    async fn create_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        _content_type: &str,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        // The check and the write under one lock, as S3's conditional write is one step.
        let mut objects = self.objects();
        if objects.iter().any(|o| o.key == key) {
            return Err(VaultError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        let version_id = format!("v{}", objects.len() + 1);
        let sha256 = Hash::sha256(&body);
        objects.push(VaultObject {
            key: key.to_owned(),
            version_id: version_id.clone(),
            body,
            retain_until,
            multipart: false,
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
            sha256: (!object.multipart).then(|| Hash::sha256(&object.body)),
        })
    }
}

#[cfg(test)]
mod vault_tests {
    use super::*;

    fn until(text: &str) -> Timestamp {
        Timestamp::parse_canonical(text).unwrap()
    }

    /// A body of `len` bytes that differs from position to position.
    fn body(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
    }

    #[tokio::test]
    async fn a_completed_upload_is_one_locked_version_of_the_concatenated_parts() {
        let vault = InMemoryVault::new();
        let retain_until = until("2033-11-28T09:30:00.123456Z");
        let upload = vault
            .start_upload("backups/1.jsonl", "application/x-ndjson", retain_until)
            .await
            .unwrap();
        assert_eq!(vault.pending_uploads(), 1);
        let first = body(MIN_PART_BYTES, 1);
        let second = body(1000, 2);
        let parts = vec![
            vault.upload_part(&upload, 1, first.clone()).await.unwrap(),
            vault.upload_part(&upload, 2, second.clone()).await.unwrap(),
        ];
        assert_eq!(parts[0].sha256, Hash::sha256(&first));
        // Nothing is visible before completion.
        assert!(vault.list_versions("backups/").await.unwrap().is_empty());

        let whole = [first, second].concat();
        let sha256 = Hash::sha256(&whole);
        let stored = vault
            .complete_upload(&upload, &parts, sha256, retain_until)
            .await
            .unwrap();
        assert_eq!(stored.key, "backups/1.jsonl");
        assert_eq!(stored.sha256, sha256);
        assert_eq!(vault.pending_uploads(), 0);

        let versions = vault.list_versions("backups/").await.unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].version_id, stored.version_id);
        assert_eq!(versions[0].size, whole.len() as u64);
        assert_eq!(
            vault
                .get_version(&stored.key, &stored.version_id)
                .await
                .unwrap(),
            whole
        );
        let protection = vault
            .protection(&stored.key, &stored.version_id)
            .await
            .unwrap();
        assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
        assert_eq!(protection.retain_until, Some(retain_until));
        // As on S3: a multipart object carries a composite checksum, not its SHA-256.
        assert_eq!(protection.sha256, None);
        // Completing again: the upload is gone.
        let again = vault
            .complete_upload(&upload, &parts, sha256, retain_until)
            .await;
        assert!(
            matches!(again, Err(VaultError::NotFound { .. })),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn a_single_small_part_is_a_whole_upload() {
        let vault = InMemoryVault::new();
        let retain_until = until("2033-11-28T09:30:00.000000Z");
        let upload = vault
            .start_upload("small", "text/plain", retain_until)
            .await
            .unwrap();
        let part = vault
            .upload_part(&upload, 1, b"tiny".to_vec())
            .await
            .unwrap();
        let stored = vault
            .complete_upload(&upload, &[part], Hash::sha256(b"tiny"), retain_until)
            .await
            .unwrap();
        assert_eq!(vault.latest("small").unwrap(), b"tiny");
        assert_eq!(stored.sha256, Hash::sha256(b"tiny"));
    }

    #[tokio::test]
    async fn an_aborted_upload_leaves_no_version() {
        let vault = InMemoryVault::new();
        let retain_until = until("2033-11-28T09:30:00.000000Z");
        let upload = vault
            .start_upload("backups/2.jsonl", "text/plain", retain_until)
            .await
            .unwrap();
        let part = vault
            .upload_part(&upload, 1, b"entry\n".to_vec())
            .await
            .unwrap();
        vault.abort_upload(&upload).await.unwrap();
        assert_eq!(vault.pending_uploads(), 0);
        assert!(vault.list_versions("").await.unwrap().is_empty());
        let late = vault
            .complete_upload(&upload, &[part], Hash::sha256(b"entry\n"), retain_until)
            .await;
        assert!(matches!(late, Err(VaultError::NotFound { .. })), "{late:?}");
        let late = vault.upload_part(&upload, 2, b"more".to_vec()).await;
        assert!(matches!(late, Err(VaultError::NotFound { .. })), "{late:?}");
        let again = vault.abort_upload(&upload).await;
        assert!(
            matches!(again, Err(VaultError::NotFound { .. })),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn a_small_non_final_part_or_a_gap_is_refused_and_the_upload_stays_pending() {
        let vault = InMemoryVault::new();
        let retain_until = until("2033-11-28T09:30:00.000000Z");
        let upload = vault
            .start_upload("k", "text/plain", retain_until)
            .await
            .unwrap();
        let small = vault
            .upload_part(&upload, 1, body(MIN_PART_BYTES - 1, 3))
            .await
            .unwrap();
        let last = vault
            .upload_part(&upload, 2, b"end".to_vec())
            .await
            .unwrap();
        let refused = vault
            .complete_upload(
                &upload,
                &[small.clone(), last.clone()],
                Hash::sha256(b""),
                retain_until,
            )
            .await;
        assert!(
            matches!(&refused, Err(VaultError::Refused { key, .. }) if key == "k"),
            "{refused:?}"
        );
        for parts in [
            vec![last.clone()],
            vec![],
            vec![last.clone(), small.clone()],
        ] {
            let refused = vault
                .complete_upload(&upload, &parts, Hash::sha256(b""), retain_until)
                .await;
            assert!(
                matches!(refused, Err(VaultError::Refused { .. })),
                "{parts:?}: {refused:?}"
            );
        }
        // A part whose ETag is not the one uploaded.
        let mut forged = last.clone();
        forged.part_number = 1;
        let refused = vault
            .complete_upload(&upload, &[forged], Hash::sha256(b""), retain_until)
            .await;
        assert!(
            matches!(refused, Err(VaultError::Refused { .. })),
            "{refused:?}"
        );
        assert_eq!(vault.pending_uploads(), 1);
        assert!(vault.list_versions("").await.unwrap().is_empty());

        // Part 1 uploaded again, large enough this time: the upload completes.
        let big = body(MIN_PART_BYTES, 4);
        let first = vault.upload_part(&upload, 1, big.clone()).await.unwrap();
        let stored = vault
            .complete_upload(
                &upload,
                &[first, last],
                Hash::sha256(&[big.as_slice(), b"end"].concat()),
                retain_until,
            )
            .await
            .unwrap();
        assert_eq!(
            vault
                .get_version("k", &stored.version_id)
                .await
                .unwrap()
                .len(),
            MIN_PART_BYTES + 3
        );
        let zero = vault.upload_part(&upload, 0, b"x".to_vec()).await;
        assert!(zero.is_err(), "{zero:?}");
    }

    #[tokio::test]
    async fn uploads_fail_after_the_injected_number_of_parts() {
        let vault = InMemoryVault::new();
        let retain_until = until("2033-11-28T09:30:00.000000Z");
        vault.fail_uploads_after_parts(2);
        let first = vault
            .start_upload("a", "text/plain", retain_until)
            .await
            .unwrap();
        let second = vault
            .start_upload("b", "text/plain", retain_until)
            .await
            .unwrap();
        vault
            .upload_part(&first, 1, body(MIN_PART_BYTES, 5))
            .await
            .unwrap();
        vault
            .upload_part(&second, 1, b"one".to_vec())
            .await
            .unwrap();
        for upload in [&first, &second] {
            let failed = vault.upload_part(upload, 2, b"more".to_vec()).await;
            assert!(matches!(failed, Err(VaultError::Failed(_))), "{failed:?}");
        }
        assert_eq!(vault.pending_uploads(), 2);
        assert!(vault.list_versions("").await.unwrap().is_empty());
        // Aborting still works.
        vault.abort_upload(&first).await.unwrap();
        assert_eq!(vault.pending_uploads(), 1);
    }

    #[tokio::test]
    async fn the_later_retention_wins() {
        let vault = InMemoryVault::new();
        let early = until("2030-01-01T00:00:00.000000Z");
        let late = until("2033-11-28T09:30:00.000000Z");
        let upload = vault.start_upload("k", "text/plain", early).await.unwrap();
        let part = vault.upload_part(&upload, 1, b"x".to_vec()).await.unwrap();
        let stored = vault
            .complete_upload(&upload, &[part], Hash::sha256(b"x"), late)
            .await
            .unwrap();
        let protection = vault.protection("k", &stored.version_id).await.unwrap();
        assert_eq!(protection.retain_until, Some(late));
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

/// Fault injection for uploads: wraps any vault and fails every `upload_part` after the first
/// `parts` — a backup "killed midway" — while everything else goes through.
#[derive(Debug)]
pub struct FailingUploads<V> {
    inner: V,
    remaining: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("injected failure: the upload was cut off")]
struct CutOff;

impl<V> FailingUploads<V> {
    pub fn new(inner: V, parts: usize) -> FailingUploads<V> {
        FailingUploads {
            inner,
            remaining: std::sync::atomic::AtomicUsize::new(parts),
        }
    }
}

impl<V: BlobVault> BlobVault for FailingUploads<V> {
    async fn start_upload(
        &self,
        key: &str,
        content_type: &str,
        retain_until: Timestamp,
    ) -> Result<Upload, VaultError> {
        self.inner
            .start_upload(key, content_type, retain_until)
            .await
    }

    async fn upload_part(
        &self,
        upload: &Upload,
        part_number: u32,
        body: Vec<u8>,
    ) -> Result<UploadedPart, VaultError> {
        if self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            return Err(VaultError::Failed(Box::new(CutOff)));
        }
        self.inner.upload_part(upload, part_number, body).await
    }

    async fn complete_upload(
        &self,
        upload: &Upload,
        parts: &[UploadedPart],
        sha256: Hash,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        self.inner
            .complete_upload(upload, parts, sha256, retain_until)
            .await
    }

    async fn abort_upload(&self, upload: &Upload) -> Result<(), VaultError> {
        self.inner.abort_upload(upload).await
    }

    async fn put_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        self.inner
            .put_locked(key, body, content_type, retain_until)
            .await
    }

    async fn create_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        self.inner
            .create_locked(key, body, content_type, retain_until)
            .await
    }

    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, VaultError> {
        self.inner.list_versions(prefix).await
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>, VaultError> {
        self.inner.get_version(key, version_id).await
    }

    async fn protection(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectProtection, VaultError> {
        self.inner.protection(key, version_id).await
    }
}
