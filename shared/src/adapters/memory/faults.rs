//! Fault injection around any port: `RivalAppends` (a lost append race) and `FailingUploads`
//! (a backup killed midway).

use std::sync::atomic::Ordering;

use crate::domain::audit::AuditEvent;
use crate::domain::entry::StoredEntry;
use crate::domain::hash::Hash;
use crate::domain::receipt::{StoredReceipt, Subscriber};
use crate::domain::signal::SignalId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AppendError, BlobVault, ChainHead, Claim, LedgerStore, ObjectProtection, ObjectVersion, Page,
    ReceiptError, StoreError, StoredObject, Upload, UploadedPart, VaultError,
};

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
