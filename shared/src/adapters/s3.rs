//! The WORM vault on S3: an Object Lock bucket (versioned; the bucket itself lives in
//! `template.yaml`) in which every object version is written under a COMPLIANCE lock.
//!
//! Promise: every write is a new object version locked in COMPLIANCE mode until the given
//! instant, server-side encrypted (AES256, or `aws:kms` with the configured key) and sent with
//! the SHA-256 of its body, computed here, for S3 to check before it stores anything. Nothing in
//! this adapter deletes or overwrites a version. Reads name an exact version.
//!
//! Multipart uploads (objects too large to hold in memory) carry the same lock and encryption
//! headers on CreateMultipartUpload and a SHA-256 checksum per part. Completing one reads the
//! new version's lock back and, if it is missing or ends earlier than asked, sets the COMPLIANCE
//! retention explicitly with PutObjectRetention: a retention can only ever be extended, so on
//! AWS (which applies the headers given at creation) this call never happens, while stores that
//! drop those headers at completion (moto) still end with the promised lock. The only change of
//! a retention this adapter makes is that one, on a version it has just created.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, ServerSideEncryption,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use time::OffsetDateTime;

use crate::domain::hash::Hash;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    BlobVault, BoxError, ObjectProtection, ObjectVersion, Presigner, StoredObject, Upload,
    UploadedPart, VaultError, VaultReads, order_versions,
};

/// An answer from S3 that lacks something it always carries (or carries it malformed).
#[derive(Debug, thiserror::Error)]
#[error("S3 answered {operation} on {key} without a usable {field}")]
pub struct UnexpectedAnswer {
    pub operation: &'static str,
    pub key: String,
    pub field: &'static str,
}

/// Parts handed to `complete_upload` that are not numbered 1, 2, 3, … in order.
#[derive(Debug, thiserror::Error)]
#[error("the parts of upload {upload_id} are not numbered consecutively from 1: {numbers:?}")]
pub struct PartsOutOfOrder {
    pub upload_id: String,
    pub numbers: Vec<u32>,
}

/// Parts must be numbered 1, 2, 3, … in order (and there must be at least one).
fn check_part_numbers(upload: &Upload, numbers: &[u32]) -> Result<(), VaultError> {
    let consecutive = !numbers.is_empty()
        && numbers
            .iter()
            .enumerate()
            .all(|(at, &number)| u32::try_from(at + 1) == Ok(number));
    if consecutive {
        Ok(())
    } else {
        Err(VaultError::Refused {
            key: upload.key.clone(),
            source: Box::new(PartsOutOfOrder {
                upload_id: upload.upload_id.clone(),
                numbers: numbers.to_vec(),
            }),
        })
    }
}

/// The vault on one Object Lock bucket.
#[derive(Debug, Clone)]
pub struct S3Vault {
    client: Client,
    bucket: String,
    kms_key_id: Option<String>,
    page_size: Option<i32>,
}

/// The request `$operation` (PutObject or CreateMultipartUpload: the SDK gives their builders
/// the same setters but no common trait) for a new object of the vault: SHA-256 checksums, a
/// COMPLIANCE lock until `$retain_until`, and the vault's encryption at rest. Every object the
/// vault writes starts here.
macro_rules! new_object {
    ($vault:expr, $operation:ident, $key:expr, $content_type:expr, $retain_until:expr) => {{
        let (encryption, kms_key_id) = $vault.encryption();
        $vault
            .client
            .$operation()
            .bucket(&$vault.bucket)
            .key($key)
            .content_type($content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(to_date_time($retain_until))
            .server_side_encryption(encryption)
            .set_ssekms_key_id(kms_key_id)
    }};
}

impl S3Vault {
    /// Every version of every key under `prefix` after the key `key_marker` (all when `None`):
    /// keys ascending, each key's versions oldest first.
    async fn list_versions_from(
        &self,
        prefix: &str,
        mut key_marker: Option<String>,
    ) -> Result<Vec<ObjectVersion>, VaultError> {
        // (version, last modified, position in S3's answer); S3 lists each key newest first.
        // Delete markers are not versions of an object: they are not listed.
        let mut listed: Vec<(ObjectVersion, Option<i128>, usize)> = Vec::new();
        let mut version_id_marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_max_keys(self.page_size)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_id_marker.take())
                .send()
                .await
                .map_err(|error| classify(error, prefix, None))?;
            for version in page.versions() {
                let key = version
                    .key()
                    .ok_or_else(|| unexpected("ListObjectVersions", prefix, "key"))?;
                let version_id = version
                    .version_id()
                    .ok_or_else(|| unexpected("ListObjectVersions", key, "version id"))?;
                let size = u64::try_from(version.size().unwrap_or_default())
                    .map_err(|_| unexpected("ListObjectVersions", key, "size"))?;
                let position = listed.len();
                listed.push((
                    ObjectVersion {
                        key: key.to_owned(),
                        version_id: version_id.to_owned(),
                        is_latest: version.is_latest().unwrap_or(false),
                        size,
                    },
                    version.last_modified().map(DateTime::as_nanos),
                    position,
                ));
            }
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_id_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                return Err(unexpected(
                    "ListObjectVersions",
                    prefix,
                    "next key marker of a truncated page",
                ));
            }
        }
        Ok(order_versions(listed))
    }
}

impl S3Vault {
    /// `kms_key_id`: encrypt with this KMS key (`aws:kms`) instead of S3-managed keys (`AES256`).
    pub fn new(client: Client, bucket: impl Into<String>, kms_key_id: Option<String>) -> Self {
        S3Vault {
            client,
            bucket: bucket.into(),
            kms_key_id,
            page_size: None,
        }
    }

    /// At most `max_keys` versions per ListObjectVersions page (S3's default and maximum is
    /// 1000); small pages exercise pagination in tests.
    pub fn with_page_size(mut self, max_keys: i32) -> Self {
        self.page_size = Some(max_keys);
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

impl S3Vault {
    /// Makes sure `version_id` of `key` is COMPLIANCE-locked until at least `retain_until`,
    /// extending (never shortening) its retention if it is not.
    async fn ensure_locked(
        &self,
        key: &str,
        version_id: &str,
        retain_until: Timestamp,
    ) -> Result<(), VaultError> {
        let current = self.protection(key, version_id).await?;
        let locked = current.lock_mode.as_deref() == Some("COMPLIANCE")
            && current
                .retain_until
                .is_some_and(|until| until >= retain_until);
        if locked {
            return Ok(());
        }
        self.client
            .put_object_retention()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Compliance)
                    .retain_until_date(to_date_time(retain_until))
                    .build(),
            )
            .send()
            .await
            .map_err(|error| classify(error, key, Some(version_id)))?;
        Ok(())
    }

    /// The encryption at rest of every object written: SSE-KMS with the configured key, else
    /// SSE-S3 (AES256).
    fn encryption(&self) -> (ServerSideEncryption, Option<String>) {
        match &self.kms_key_id {
            Some(kms_key_id) => (ServerSideEncryption::AwsKms, Some(kms_key_id.clone())),
            None => (ServerSideEncryption::Aes256, None),
        }
    }

    /// A single-request locked write; `create_only` adds `If-None-Match: *`.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
        create_only: bool,
    ) -> Result<StoredObject, VaultError> {
        let sha256 = Hash::sha256(&body);
        let output = new_object!(self, put_object, key, content_type, retain_until)
            .checksum_sha256(BASE64.encode(sha256.as_bytes()))
            .body(ByteStream::from(body))
            .set_if_none_match(create_only.then(|| "*".to_owned()))
            .send()
            .await
            .map_err(|error| classify(error, key, None))?;
        let version_id = output
            .version_id()
            .ok_or_else(|| unexpected("PutObject", key, "version id (is the bucket versioned?)"))?;
        Ok(StoredObject {
            key: key.to_owned(),
            version_id: version_id.to_owned(),
            sha256,
        })
    }
}

impl VaultReads for S3Vault {
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, VaultError> {
        self.list_versions_from(prefix, None).await
    }

    async fn list_versions_after(
        &self,
        prefix: &str,
        after: &str,
    ) -> Result<Vec<ObjectVersion>, VaultError> {
        self.list_versions_from(prefix, Some(after.to_owned()))
            .await
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>, VaultError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            // The SDK checks the body against the stored checksum as it reads it.
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|error| classify(error, key, Some(version_id)))?;
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| VaultError::Failed(Box::new(error)))?;
        Ok(bytes.into_bytes().to_vec())
    }
}

impl BlobVault for S3Vault {
    async fn start_upload(
        &self,
        key: &str,
        content_type: &str,
        retain_until: Timestamp,
    ) -> Result<Upload, VaultError> {
        let output = new_object!(
            self,
            create_multipart_upload,
            key,
            content_type,
            retain_until
        )
        .send()
        .await
        .map_err(|error| classify(error, key, None))?;
        let upload_id = output
            .upload_id()
            .ok_or_else(|| unexpected("CreateMultipartUpload", key, "upload id"))?;
        Ok(Upload {
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
        })
    }

    async fn upload_part(
        &self,
        upload: &Upload,
        part_number: u32,
        body: Vec<u8>,
    ) -> Result<UploadedPart, VaultError> {
        let sha256 = Hash::sha256(&body);
        let number = i32::try_from(part_number)
            .map_err(|_| unexpected("UploadPart", &upload.key, "part number"))?;
        let output = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(BASE64.encode(sha256.as_bytes()))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|error| classify(error, &upload.key, None))?;
        let etag = output
            .e_tag()
            .ok_or_else(|| unexpected("UploadPart", &upload.key, "ETag"))?;
        Ok(UploadedPart {
            part_number,
            etag: etag.to_owned(),
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
        let key = upload.key.as_str();
        let numbers: Vec<u32> = parts.iter().map(|p| p.part_number).collect();
        check_part_numbers(upload, &numbers)?;
        let mut completed = Vec::with_capacity(parts.len());
        for part in parts {
            let number = i32::try_from(part.part_number)
                .map_err(|_| unexpected("CompleteMultipartUpload", key, "part number"))?;
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(&part.etag)
                    .checksum_sha256(BASE64.encode(part.sha256.as_bytes()))
                    .build(),
            );
        }
        let output = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&upload.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            // Create-only: a second writer of the key gets 412 and its upload stays pending.
            .if_none_match("*")
            .send()
            .await
            .map_err(|error| classify(error, key, None))?;
        let version_id = output.version_id().ok_or_else(|| {
            unexpected(
                "CompleteMultipartUpload",
                key,
                "version id (is the bucket versioned?)",
            )
        })?;
        self.ensure_locked(key, version_id, retain_until).await?;
        Ok(StoredObject {
            key: key.to_owned(),
            version_id: version_id.to_owned(),
            sha256,
        })
    }

    async fn abort_upload(&self, upload: &Upload) -> Result<(), VaultError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .send()
            .await
            .map_err(|error| classify(error, &upload.key, None))?;
        Ok(())
    }

    async fn put_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        self.put(key, body, content_type, retain_until, false).await
    }

    async fn create_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        self.put(key, body, content_type, retain_until, true).await
    }

    async fn protection(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectProtection, VaultError> {
        let output = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|error| classify(error, key, Some(version_id)))?;
        let retain_until = output
            .object_lock_retain_until_date()
            .map(|date| {
                from_date_time(date)
                    .ok_or_else(|| unexpected("HeadObject", key, "retain-until date"))
            })
            .transpose()?;
        // An object completed from parts carries a composite checksum (the SHA-256 of the part
        // checksums), not the SHA-256 of the object: it is not reported as one. S3 marks it by
        // type and by a "-<parts>" suffix; some stores (moto) by neither in HeadObject, but the
        // ETag of a multipart object always ends in "-<parts>".
        let composite = output.checksum_type() == Some(&ChecksumType::Composite)
            || output.checksum_sha256().is_some_and(has_part_count_suffix)
            || output
                .e_tag()
                .is_some_and(|etag| has_part_count_suffix(etag.trim_matches('"')));
        let sha256 = output
            .checksum_sha256()
            .filter(|_| !composite)
            .map(|text| decode_sha256(text).ok_or_else(|| unexpected("HeadObject", key, "SHA-256")))
            .transpose()?;
        Ok(ObjectProtection {
            lock_mode: output.object_lock_mode().map(|m| m.as_str().to_owned()),
            retain_until,
            server_side_encryption: output
                .server_side_encryption()
                .map(|s| s.as_str().to_owned()),
            sha256,
        })
    }
}

/// The same instant as S3's timestamp type (microseconds, as `Timestamp` holds them).
pub(crate) fn to_date_time(instant: Timestamp) -> DateTime {
    let instant = instant.as_datetime();
    DateTime::from_secs_and_nanos(instant.unix_timestamp(), instant.nanosecond())
}

pub(crate) fn from_date_time(date: &DateTime) -> Option<Timestamp> {
    let instant = OffsetDateTime::from_unix_timestamp_nanos(date.as_nanos()).ok()?;
    Timestamp::from_datetime(instant).ok()
}

/// Why a download into a local writer stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("writing {key} locally failed")]
    Write {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

impl S3Vault {
    /// Streams exactly this version into `sink`, one chunk at a time, so memory is bounded by a
    /// chunk whatever the object's size (`ledgerctl export-evidence`); returns the bytes
    /// written. As in [`BlobVault::get_version`], the SDK checks the body against the stored
    /// whole-object checksum as it reads: a mismatch fails the download at its end.
    pub async fn download_version(
        &self,
        key: &str,
        version_id: &str,
        sink: &mut impl std::io::Write,
    ) -> Result<u64, DownloadError> {
        let mut output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|error| classify(error, key, Some(version_id)))?;
        let mut written = 0;
        while let Some(chunk) = output
            .body
            .try_next()
            .await
            .map_err(|error| VaultError::Failed(Box::new(error)))?
        {
            sink.write_all(&chunk)
                .map_err(|source| DownloadError::Write {
                    key: key.to_owned(),
                    source,
                })?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }
}

/// Whether a checksum or ETag ends in `-<part count>`, as S3 writes them for an object completed
/// from parts.
fn has_part_count_suffix(text: &str) -> bool {
    text.rsplit_once('-')
        .is_some_and(|(_, parts)| !parts.is_empty() && parts.bytes().all(|b| b.is_ascii_digit()))
}

/// S3's base64 checksum → the digest; anything but 32 bytes is refused.
fn decode_sha256(text: &str) -> Option<Hash> {
    let bytes = BASE64.decode(text).ok()?;
    Some(Hash(bytes.try_into().ok()?))
}

fn unexpected(operation: &'static str, key: &str, field: &'static str) -> VaultError {
    VaultError::Failed(Box::new(UnexpectedAnswer {
        operation,
        key: key.to_owned(),
        field,
    }))
}

/// A failed create-only condition → `AlreadyExists`; missing object, version or multipart upload
/// → `NotFound`; access denied (a locked version, a
/// bucket policy) or parts S3 will not assemble (a non-final part under 5 MiB, a wrong ETag or
/// order) → `Refused`; anything else → `Failed`. The SDK error is kept whole as the source.
fn classify<E>(error: SdkError<E, HttpResponse>, key: &str, version_id: Option<&str>) -> VaultError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    // HeadObject answers carry no body, hence no error code: the status is all there is.
    match (error.code(), status) {
        // A create-only write lost to an existing key (or to a concurrent conditional write).
        (Some("PreconditionFailed" | "ConditionalRequestConflict"), _) | (None, Some(412)) => {
            VaultError::AlreadyExists {
                key: key.to_owned(),
            }
        }
        (Some("NoSuchKey" | "NoSuchVersion" | "NoSuchUpload" | "NotFound"), _)
        | (None, Some(404)) => VaultError::NotFound {
            key: key.to_owned(),
            version_id: version_id.map(str::to_owned),
        },
        (Some("AccessDenied" | "EntityTooSmall" | "InvalidPart" | "InvalidPartOrder"), _)
        | (None, Some(403)) => VaultError::Refused {
            key: key.to_owned(),
            source: Box::new(error),
        },
        _ => VaultError::Failed(Box::new(error) as BoxError),
    }
}

impl Presigner for S3Vault {
    async fn presign_get(
        &self,
        key: &str,
        version_id: &str,
        expires_in: std::time::Duration,
    ) -> Result<String, VaultError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires_in)
            .map_err(|error| VaultError::Failed(Box::new(error)))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .presigned(config)
            .await
            .map_err(|error| classify(error, key, Some(version_id)))?;
        Ok(request.uri().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_survive_the_round_trip_through_s3_date_times() {
        for text in [
            "2033-11-28T09:30:00.000000Z",
            "2033-11-28T09:30:00.123456Z",
            "1969-12-31T23:59:59.500000Z",
        ] {
            let instant = Timestamp::parse_canonical(text).unwrap();
            assert_eq!(
                from_date_time(&to_date_time(instant)),
                Some(instant),
                "{text}"
            );
        }
    }

    #[test]
    fn multipart_checksums_and_etags_are_told_apart_from_whole_object_ones() {
        let whole = BASE64.encode(Hash::sha256(b"vault").as_bytes());
        assert!(!has_part_count_suffix(&whole));
        assert!(has_part_count_suffix(&format!("{whole}-2")));
        assert!(has_part_count_suffix(&format!("{whole}-10000")));
        assert!(!has_part_count_suffix(&format!("{whole}-")));
        assert!(has_part_count_suffix("d41d8cd98f00b204e9800998ecf8427e-2"));
        assert!(!has_part_count_suffix("d41d8cd98f00b204e9800998ecf8427e"));
    }

    #[test]
    fn part_numbers_must_run_from_one_without_gaps() {
        let upload = Upload {
            key: "k".to_owned(),
            upload_id: "u".to_owned(),
        };
        assert!(check_part_numbers(&upload, &[1]).is_ok());
        assert!(check_part_numbers(&upload, &[1, 2, 3]).is_ok());
        for bad in [&[][..], &[2], &[1, 3], &[2, 1], &[1, 1], &[0, 1]] {
            assert!(
                matches!(
                    check_part_numbers(&upload, bad),
                    Err(VaultError::Refused { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn checksums_decode_only_from_32_bytes() {
        let hash = Hash::sha256(b"vault");
        assert_eq!(decode_sha256(&BASE64.encode(hash.as_bytes())), Some(hash));
        assert_eq!(decode_sha256(&BASE64.encode([0u8; 31])), None);
        assert_eq!(decode_sha256("not base64!"), None);
    }
}
