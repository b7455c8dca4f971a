//! A read-only [`BlobVault`] over a copy of the vault: an exported evidence folder (one version
//! per key, the original, with the retention `evidence.json` records) or a plain `aws s3 sync`
//! copy (the latest versions, with no version ids and no retention known). It lets every reader
//! of [`crate::app::vault`] run offline, with no credentials and no network.
//!
//! Promises: a version is read whole ([`BlobVault::get_version`]) or as a stream
//! ([`ReadVersions`]), with the same answers; nothing is ever written (every write is [`VaultError::Refused`]); each key has
//! exactly one version; a version id other than the one recorded is [`VaultError::NotFound`],
//! except in a sync copy, whose one version stands for any id (it cannot be told apart).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::domain::hash::Hash;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    BlobVault, ObjectProtection, ObjectVersion, ReadVersions, StoredObject, Upload, UploadedPart,
    VaultError, VaultReads,
};

/// Where a key's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A file, read when asked for.
    File(PathBuf),
    /// Bytes held in memory (tests, small folders).
    Bytes(Vec<u8>),
}

/// One key of the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderObject {
    /// The version copied; `None` in a sync copy (unknown).
    pub version_id: Option<String>,
    /// The lock and encryption recorded for that version; `None` when unknown (a sync copy).
    pub protection: Option<ObjectProtection>,
    pub body: Body,
}

/// The version id a sync copy's objects are listed with.
pub const UNKNOWN_VERSION: &str = "unknown";

/// A copy of the vault, by key.
#[derive(Debug, Clone, Default)]
pub struct FolderVault {
    objects: BTreeMap<String, FolderObject>,
}

#[derive(Debug, thiserror::Error)]
#[error("an evidence folder is read-only")]
struct ReadOnly;

impl FolderVault {
    pub fn new(objects: BTreeMap<String, FolderObject>) -> FolderVault {
        FolderVault { objects }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.objects.keys().map(String::as_str)
    }

    fn object(&self, key: &str, version_id: &str) -> Result<&FolderObject, VaultError> {
        self.objects
            .get(key)
            .filter(|o| o.version_id.as_deref().is_none_or(|v| v == version_id))
            .ok_or_else(|| VaultError::NotFound {
                key: key.to_owned(),
                version_id: Some(version_id.to_owned()),
            })
    }

    fn refused(key: &str) -> VaultError {
        VaultError::Refused {
            key: key.to_owned(),
            source: Box::new(ReadOnly),
        }
    }
}

impl VaultReads for FolderVault {
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, VaultError> {
        Ok(self
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, object)| ObjectVersion {
                key: key.clone(),
                version_id: object
                    .version_id
                    .clone()
                    .unwrap_or_else(|| UNKNOWN_VERSION.to_owned()),
                is_latest: true,
                size: match &object.body {
                    Body::Bytes(bytes) => bytes.len() as u64,
                    Body::File(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
                },
            })
            .collect())
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>, VaultError> {
        match &self.object(key, version_id)?.body {
            Body::Bytes(bytes) => Ok(bytes.clone()),
            Body::File(path) => std::fs::read(path).map_err(|error| {
                if error.kind() == std::io::ErrorKind::NotFound {
                    VaultError::NotFound {
                        key: key.to_owned(),
                        version_id: Some(version_id.to_owned()),
                    }
                } else {
                    VaultError::Failed(Box::new(error))
                }
            }),
        }
    }
}

impl BlobVault for FolderVault {
    async fn start_upload(
        &self,
        key: &str,
        _content_type: &str,
        _retain_until: Timestamp,
    ) -> Result<Upload, VaultError> {
        Err(Self::refused(key))
    }

    async fn upload_part(
        &self,
        upload: &Upload,
        _part_number: u32,
        _body: Vec<u8>,
    ) -> Result<UploadedPart, VaultError> {
        Err(Self::refused(&upload.key))
    }

    async fn complete_upload(
        &self,
        upload: &Upload,
        _parts: &[UploadedPart],
        _sha256: Hash,
        _retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        Err(Self::refused(&upload.key))
    }

    async fn abort_upload(&self, upload: &Upload) -> Result<(), VaultError> {
        Err(Self::refused(&upload.key))
    }

    async fn put_locked(
        &self,
        key: &str,
        _body: Vec<u8>,
        _content_type: &str,
        _retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        Err(Self::refused(key))
    }

    async fn create_locked(
        &self,
        key: &str,
        _body: Vec<u8>,
        _content_type: &str,
        _retain_until: Timestamp,
    ) -> Result<StoredObject, VaultError> {
        Err(Self::refused(key))
    }

    async fn protection(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectProtection, VaultError> {
        Ok(self
            .object(key, version_id)?
            .protection
            .clone()
            .unwrap_or(ObjectProtection {
                lock_mode: None,
                retain_until: None,
                server_side_encryption: None,
                sha256: None,
            }))
    }
}

impl ReadVersions for FolderVault {
    fn open_version(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, VaultError> {
        match &self.object(key, version_id)?.body {
            Body::Bytes(bytes) => Ok(Box::new(bytes.as_slice())),
            Body::File(path) => match std::fs::File::open(path) {
                Ok(file) => Ok(Box::new(file)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    Err(VaultError::NotFound {
                        key: key.to_owned(),
                        version_id: Some(version_id.to_owned()),
                    })
                }
                Err(error) => Err(VaultError::Failed(Box::new(error))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> FolderVault {
        let mut objects = BTreeMap::new();
        for (key, version) in [("a/1", Some("v1")), ("a/2", None), ("b/1", Some("v9"))] {
            objects.insert(
                key.to_owned(),
                FolderObject {
                    version_id: version.map(str::to_owned),
                    protection: None,
                    body: Body::Bytes(key.as_bytes().to_vec()),
                },
            );
        }
        FolderVault::new(objects)
    }

    #[tokio::test]
    async fn lists_by_prefix_reads_the_recorded_version_only_and_never_writes() {
        let vault = folder();
        let listed: Vec<(String, String)> = vault
            .list_versions("a/")
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.key, v.version_id))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("a/1".to_owned(), "v1".to_owned()),
                ("a/2".to_owned(), UNKNOWN_VERSION.to_owned())
            ]
        );
        assert_eq!(vault.get_version("a/1", "v1").await.unwrap(), b"a/1");
        assert!(matches!(
            vault.get_version("a/1", "v2").await,
            Err(VaultError::NotFound { .. })
        ));
        // A sync copy's one version stands for any id.
        assert_eq!(vault.get_version("a/2", "whatever").await.unwrap(), b"a/2");
        let until = Timestamp::parse_canonical("2030-01-01T00:00:00.000000Z").unwrap();
        assert!(matches!(
            vault.put_locked("a/3", vec![], "text/plain", until).await,
            Err(VaultError::Refused { .. })
        ));
        assert!(
            vault
                .protection("b/1", "v9")
                .await
                .unwrap()
                .lock_mode
                .is_none()
        );
    }
}
