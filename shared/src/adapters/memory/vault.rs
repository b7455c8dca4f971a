//! `InMemoryVault`: a WORM vault like S3 with Object Lock (every write a new version, nothing
//! removed, multipart uploads that appear only when completed), and its presigned links.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::hash::Hash;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    BlobVault, MIN_PART_BYTES, ObjectProtection, ObjectVersion, Presigner, StoredObject, Upload,
    UploadedPart, VaultError, VaultReads,
};

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
/// midway. `complete_reads_out_of_order` makes concurrent reads finish in another order than
/// they were issued, as a remote store's do.
#[derive(Debug, Clone, Default)]
pub struct InMemoryVault {
    objects: Arc<Mutex<Vec<VaultObject>>>,
    uploads: Arc<Mutex<UploadState>>,
    reads_out_of_order: Arc<AtomicBool>,
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
    /// From now on each `get_version` first yields to the scheduler 0–7 times, a number taken
    /// from its key: reads in flight together then complete in a key-dependent order.
    pub fn complete_reads_out_of_order(&self) {
        self.reads_out_of_order.store(true, Ordering::Relaxed);
    }

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

/// Adds a new version of `key` (a single-request write, as `PutObject`).
fn insert(
    objects: &mut Vec<VaultObject>,
    key: &str,
    body: Vec<u8>,
    retain_until: Timestamp,
) -> StoredObject {
    let version_id = format!("v{}", objects.len() + 1);
    let sha256 = Hash::sha256(&body);
    objects.push(VaultObject {
        key: key.to_owned(),
        version_id: version_id.clone(),
        body,
        retain_until,
        multipart: false,
    });
    StoredObject {
        key: key.to_owned(),
        version_id,
        sha256,
    }
}

impl VaultReads for InMemoryVault {
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
        if self.reads_out_of_order.load(Ordering::Relaxed) {
            let turns = Hash::sha256(key.as_bytes()).as_bytes()[0] % 8;
            for _ in 0..turns {
                tokio::task::yield_now().await;
            }
        }
        self.objects()
            .iter()
            .find(|o| o.key == key && o.version_id == version_id)
            .map(|o| o.body.clone())
            .ok_or_else(|| VaultError::NotFound {
                key: key.to_owned(),
                version_id: Some(version_id.to_owned()),
            })
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
        Ok(insert(&mut self.objects(), key, body, retain_until))
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
        Ok(insert(&mut objects, key, body, retain_until))
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

/// Links to exact versions of an [`InMemoryVault`] (`memory://key?versionId=…`); nothing checks
/// them, as on the emulator.
impl Presigner for InMemoryVault {
    async fn presign_get(
        &self,
        key: &str,
        version_id: &str,
        _expires_in: std::time::Duration,
    ) -> Result<String, VaultError> {
        Ok(format!("memory://{key}?versionId={version_id}"))
    }
}

#[cfg(test)]
mod tests {
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
