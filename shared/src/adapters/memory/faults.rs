//! Fault injection around any port: `RivalAppends` (a lost append race, or a lost commit race
//! under group commit) and `VaultFaults` (a backup killed midway, or a competing backup run).

use std::sync::atomic::Ordering;

use crate::domain::audit::AuditEvent;
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::receipt::{StoredReceipt, Subscriber};
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AppendError, BlobVault, ChainHead, Claim, CommitError, CommitHead, GroupCommitStore,
    LedgerStore, ObjectProtection, ObjectVersion, Page, Pending, Placed, ReceiptError, StoreError,
    StoredObject, Upload, UploadedPart, VaultError, VaultReads,
};

/// Fault injection for the append protocol: wraps any ledger store and, on each of the next
/// `rivals` appends (or group commits), first appends a rival entry at the same chain index (as a
/// concurrent writer that read the same head would), so the wrapped append loses the race.
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

impl<S> RivalAppends<S> {
    fn rival_turn(&self) -> bool {
        self.rivals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// The rival of `entry` at the same chain index, under the id `rival-<index>`.
fn rival_of(
    entry: &StoredEntry,
    audit: &AuditEvent,
) -> Result<(StoredEntry, AuditEvent), StoreError> {
    let mut rival = entry.entry.clone();
    rival.signal_id = SignalId::parse(&format!("rival-{}", rival.chain_index))
        .map_err(|e| StoreError::Failed(Box::new(e)))?;
    let rival = StoredEntry::seal(rival);
    let mut rival_audit = audit.clone();
    rival_audit.event_id = format!("{}-rival", audit.event_id);
    rival_audit.signal_id = Some(rival.entry.signal_id.to_string());
    if let Some(details) = rival_audit.details.as_object_mut() {
        details.insert("entry_hash".into(), serde_json::json!(rival.entry_hash));
    }
    Ok((rival, rival_audit))
}

impl<S: GroupCommitStore> GroupCommitStore for RivalAppends<S> {
    async fn commit_head(&self) -> Result<CommitHead, StoreError> {
        self.inner.commit_head().await
    }

    async fn put_pending(&self, generation: u64, pending: &Pending) -> Result<(), StoreError> {
        self.inner.put_pending(generation, pending).await
    }

    async fn commit_firsts(&self, at_or_before: u64, limit: u32) -> Result<Vec<u64>, StoreError> {
        self.inner.commit_firsts(at_or_before, limit).await
    }

    async fn first_pending_ids(
        &self,
        generation: u64,
        limit: u32,
    ) -> Result<Vec<SignalId>, StoreError> {
        self.inner.first_pending_ids(generation, limit).await
    }

    async fn pendings(&self, generation: u64) -> Result<Vec<Pending>, StoreError> {
        self.inner.pendings(generation).await
    }

    /// On a rival's turn, a rival combiner first commits one entry at `head.next`, so this
    /// commit is `Lost`.
    async fn commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> Result<usize, CommitError> {
        if let (Some(entry), Some(audit)) = (entries.first(), audits.first())
            && self.rival_turn()
        {
            let (rival, rival_audit) = rival_of(entry, audit)?;
            self.inner.commit(head, &[rival], &[rival_audit]).await?;
        }
        self.inner.commit(head, entries, audits).await
    }

    async fn placed(&self, signal_id: &SignalId) -> Result<Option<Placed>, StoreError> {
        self.inner.placed(signal_id).await
    }
}

impl<S: LedgerStore> LedgerStore for RivalAppends<S> {
    async fn head(&self) -> Result<Option<ChainHead>, StoreError> {
        self.inner.head().await
    }

    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        if self.rival_turn() {
            let (rival, rival_audit) = rival_of(entry, audit)?;
            self.inner.append(&rival, &rival_audit).await?;
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

    async fn record_receipt(
        &self,
        receipt: &StoredReceipt,
        audit: &AuditEvent,
    ) -> Result<(), ReceiptError> {
        self.inner.record_receipt(receipt, audit).await
    }

    async fn receipt(
        &self,
        signal_id: &SignalId,
        subscriber: &Subscriber,
    ) -> Result<Option<StoredReceipt>, StoreError> {
        self.inner.receipt(signal_id, subscriber).await
    }

    async fn receipts_of(
        &self,
        signal_id: &SignalId,
    ) -> Result<Vec<Result<StoredReceipt, StoreError>>, StoreError> {
        self.inner.receipts_of(signal_id).await
    }
}

/// Fault injection around any vault, everything else going through:
/// - [`VaultFaults::failing_uploads`]: every `upload_part` after the first `parts` fails — a
///   backup "killed midway";
/// - [`VaultFaults::competing_run`]: just before this run creates a key under `prefix` (by
///   `create_locked` or by completing an upload), a competing run creates it with
///   [`COMPETING_OBJECT`] — two runs that picked the same backup id.
#[derive(Debug)]
pub struct VaultFaults<V> {
    inner: V,
    /// Parts still allowed through (`usize::MAX`: no cut-off).
    parts_left: std::sync::atomic::AtomicUsize,
    /// Keys under this prefix are created by the competing run first.
    competing_prefix: Option<&'static str>,
}

/// What the competing run of [`VaultFaults::competing_run`] writes.
pub const COMPETING_OBJECT: &[u8] = b"the other run's object";

#[derive(Debug, thiserror::Error)]
#[error("injected failure: the upload was cut off")]
struct CutOff;

impl<V> VaultFaults<V> {
    pub fn failing_uploads(inner: V, parts: usize) -> VaultFaults<V> {
        VaultFaults {
            inner,
            parts_left: std::sync::atomic::AtomicUsize::new(parts),
            competing_prefix: None,
        }
    }

    pub fn competing_run(inner: V, prefix: &'static str) -> VaultFaults<V> {
        VaultFaults {
            inner,
            parts_left: std::sync::atomic::AtomicUsize::new(usize::MAX),
            competing_prefix: Some(prefix),
        }
    }
}

impl<V: BlobVault> VaultFaults<V> {
    /// The competing run's write of `key`, when it is under the prefix and does not exist yet.
    async fn compete(&self, key: &str, retain_until: Timestamp) -> Result<(), VaultError> {
        if !self
            .competing_prefix
            .is_some_and(|prefix| key.starts_with(prefix))
        {
            return Ok(());
        }
        let versions = self.inner.list_versions(key).await?;
        if versions.iter().all(|version| version.key != key) {
            self.inner
                .create_locked(key, COMPETING_OBJECT.to_vec(), "text/plain", retain_until)
                .await?;
        }
        Ok(())
    }
}

impl<V: BlobVault> VaultReads for VaultFaults<V> {
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, VaultError> {
        self.inner.list_versions(prefix).await
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>, VaultError> {
        self.inner.get_version(key, version_id).await
    }
}

impl<V: BlobVault> BlobVault for VaultFaults<V> {
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
            .parts_left
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
        self.compete(&upload.key, retain_until).await?;
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
        self.compete(key, retain_until).await?;
        self.inner
            .create_locked(key, body, content_type, retain_until)
            .await
    }

    async fn protection(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectProtection, VaultError> {
        self.inner.protection(key, version_id).await
    }
}
