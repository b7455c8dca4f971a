//! The WORM vault on S3: an Object Lock bucket (versioned; the bucket itself lives in
//! `template.yaml`) in which every object version is written under a COMPLIANCE lock.
//!
//! Promise: every write is a new object version locked in COMPLIANCE mode until the given
//! instant, server-side encrypted (AES256, or `aws:kms` with the configured key) and sent with
//! the SHA-256 of its body, computed here, for S3 to check before it stores anything. Nothing in
//! this adapter deletes, overwrites a version, or changes a retention. Reads name an exact
//! version.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ObjectLockMode, ServerSideEncryption};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use time::OffsetDateTime;

use crate::domain::hash::Hash;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    BlobVault, BoxError, ObjectProtection, ObjectVersion, StoredObject, VaultError,
};

/// An answer from S3 that lacks something it always carries (or carries it malformed).
#[derive(Debug, thiserror::Error)]
#[error("S3 answered {operation} on {key} without a usable {field}")]
pub struct UnexpectedAnswer {
    pub operation: &'static str,
    pub key: String,
    pub field: &'static str,
}

/// The vault on one Object Lock bucket.
#[derive(Debug, Clone)]
pub struct S3Vault {
    client: Client,
    bucket: String,
    kms_key_id: Option<String>,
    page_size: Option<i32>,
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

impl BlobVault for S3Vault {
    async fn put_locked(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        let sha256 = Hash::sha256(&body);
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(BASE64.encode(sha256.as_bytes()))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(to_date_time(retain_until))
            .body(ByteStream::from(body));
        let request = match &self.kms_key_id {
            Some(kms_key_id) => request
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key_id),
            None => request.server_side_encryption(ServerSideEncryption::Aes256),
        };
        let output = request
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

    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, VaultError> {
        // (version, last modified, position in S3's answer); S3 lists each key newest first.
        // Delete markers are not versions of an object: they are not listed.
        let mut listed: Vec<(ObjectVersion, Option<DateTime>, usize)> = Vec::new();
        let mut key_marker: Option<String> = None;
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
                    version.last_modified().copied(),
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
        // Keys ascending; per key oldest first: by modification time, then the latest version
        // last, then against S3's newest-first listing order.
        listed.sort_by(|(a, a_time, a_position), (b, b_time, b_position)| {
            a.key
                .cmp(&b.key)
                .then_with(|| {
                    let nanos = |time: &Option<DateTime>| time.map(|t| t.as_nanos());
                    nanos(a_time).cmp(&nanos(b_time))
                })
                .then_with(|| a.is_latest.cmp(&b.is_latest))
                .then_with(|| b_position.cmp(a_position))
        });
        Ok(listed.into_iter().map(|(version, _, _)| version).collect())
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
        let sha256 = output
            .checksum_sha256()
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
fn to_date_time(instant: Timestamp) -> DateTime {
    let instant = instant.as_datetime();
    DateTime::from_secs_and_nanos(instant.unix_timestamp(), instant.nanosecond())
}

fn from_date_time(date: &DateTime) -> Option<Timestamp> {
    let instant = OffsetDateTime::from_unix_timestamp_nanos(date.as_nanos()).ok()?;
    Timestamp::from_datetime(instant).ok()
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

/// Missing object or version → `NotFound`; access denied (a locked version, a bucket policy) →
/// `Refused`; anything else → `Failed`. The SDK error is kept whole as the source.
fn classify<E>(error: SdkError<E, HttpResponse>, key: &str, version_id: Option<&str>) -> VaultError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    // HeadObject answers carry no body, hence no error code: the status is all there is.
    match (error.code(), status) {
        (Some("NoSuchKey" | "NoSuchVersion" | "NotFound"), _) | (None, Some(404)) => {
            VaultError::NotFound {
                key: key.to_owned(),
                version_id: version_id.map(str::to_owned),
            }
        }
        (Some("AccessDenied"), _) | (None, Some(403)) => VaultError::Refused {
            key: key.to_owned(),
            source: Box::new(error),
        },
        _ => VaultError::Failed(Box::new(error) as BoxError),
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
    fn checksums_decode_only_from_32_bytes() {
        let hash = Hash::sha256(b"vault");
        assert_eq!(decode_sha256(&BASE64.encode(hash.as_bytes())), Some(hash));
        assert_eq!(decode_sha256(&BASE64.encode([0u8; 31])), None);
        assert_eq!(decode_sha256("not base64!"), None);
    }
}
