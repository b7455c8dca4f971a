//! Reading the vault back: the one place that knows how evidence is found in it — the original
//! version of each key, the backup manifests (with the lock of their objects) and the latest
//! checkpoint (with its signature checked). The sweep, verify-backup, the report, `ledgerctl
//! trace` and `ledgerctl restore` all read through here, so they cannot disagree about which
//! version counts or when a checkpoint is trusted.
//!
//! Promises:
//! - The **original** (oldest) version of a key is the evidence; newer versions of a locked key
//!   are overwrites, counted in [`Original::versions`] for the callers to report.
//! - Listing is O(versions): the port lists keys ascending with their versions oldest first.
//! - A checkpoint's signature is judged in one place ([`CheckpointTrust::check`]) with one result
//!   type ([`SignatureCheck`]); callers decide how loudly each outcome counts.

use crate::app::backup::MANIFEST_PREFIX;
use crate::app::sweep::CHECKPOINT_PREFIX;
use crate::domain::backup::{BackupId, Manifest};
use crate::domain::checkpoint::{Signature, SignedCheckpoint};
use crate::domain::report::ObjectLockSeen;
use crate::ports::{BlobVault, ObjectProtection, ObjectVersion, PublicKeys, SignError, VaultError};

/// The original version of one key, and how many versions the key has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// The oldest version: the one written by the product.
    pub version: ObjectVersion,
    /// 1 when untouched; more when someone wrote over the key.
    pub versions: usize,
}

impl Original {
    pub fn key(&self) -> &str {
        &self.version.key
    }

    pub fn version_id(&self) -> &str {
        &self.version.version_id
    }

    /// Whether newer versions were written over the original.
    pub fn overwritten(&self) -> bool {
        self.versions > 1
    }
}

/// Groups a listing (keys ascending, each key's versions oldest first) into one [`Original`] per
/// key, in key order, in one pass.
pub fn originals(versions: Vec<ObjectVersion>) -> Vec<Original> {
    let mut keys: Vec<Original> = Vec::new();
    for version in versions {
        match keys.last_mut() {
            Some(last) if last.version.key == version.key => last.versions += 1,
            _ => keys.push(Original {
                version,
                versions: 1,
            }),
        }
    }
    keys
}

/// The original version of every key under `prefix`, in key order.
pub async fn list_originals(
    vault: &impl BlobVault,
    prefix: &str,
) -> Result<Vec<Original>, VaultError> {
    Ok(originals(vault.list_versions(prefix).await?))
}

// ---- manifests ------------------------------------------------------------------------------

/// The manifest keys of the vault, without reading them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestListing {
    /// One per backup, ordered by backup id (= by the ranges they cover).
    pub manifests: Vec<(BackupId, Original)>,
    /// Keys under the manifest prefix that are not manifest keys.
    pub strays: Vec<Original>,
}

/// Lists the manifests (original versions) in backup-id order.
pub async fn list_manifests(vault: &impl BlobVault) -> Result<ManifestListing, VaultError> {
    let mut manifests = Vec::new();
    let mut strays = Vec::new();
    for original in list_originals(vault, MANIFEST_PREFIX).await? {
        match BackupId::from_manifest_key(original.key()) {
            Ok(id) => manifests.push((id, original)),
            Err(_) => strays.push(original),
        }
    }
    manifests.sort_by_key(|(id, _)| *id);
    Ok(ManifestListing { manifests, strays })
}

/// One manifest read back: its exact bytes (the next manifest chains to their SHA-256) and the
/// parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadManifest {
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

/// A manifest whose bytes are not a valid manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest {key} version {version_id} is invalid: {reason}")]
pub struct InvalidManifest {
    pub key: String,
    pub version_id: String,
    pub reason: String,
}

/// Reads the original version of one manifest. The outer error is the vault failing; the inner
/// one, bytes that are not a manifest (evidence, for the caller to report).
pub async fn read_manifest(
    vault: &impl BlobVault,
    original: &Original,
) -> Result<Result<ReadManifest, InvalidManifest>, VaultError> {
    let bytes = vault
        .get_version(original.key(), original.version_id())
        .await?;
    Ok(match Manifest::parse(&bytes) {
        Ok(manifest) => Ok(ReadManifest { bytes, manifest }),
        Err(error) => Err(InvalidManifest {
            key: original.key().to_owned(),
            version_id: original.version_id().to_owned(),
            reason: error.to_string(),
        }),
    })
}

/// The lock and encryption of a manifest and of the CSV it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestProtection {
    pub manifest: ObjectProtection,
    /// `None` for an empty backup (no CSV).
    pub csv: Option<ObjectProtection>,
}

/// Reads the protection of a manifest's original version and of its CSV's named version.
pub async fn manifest_protection(
    vault: &impl BlobVault,
    original: &Original,
    manifest: &Manifest,
) -> Result<ManifestProtection, VaultError> {
    let manifest_protection = vault
        .protection(original.key(), original.version_id())
        .await?;
    let csv = match &manifest.csv {
        Some(csv) => Some(vault.protection(&csv.key, &csv.version_id).await?),
        None => None,
    };
    Ok(ManifestProtection {
        manifest: manifest_protection,
        csv,
    })
}

/// The lock and encryption of a version, as the report and the trace show it.
pub fn lock_seen(protection: &ObjectProtection) -> ObjectLockSeen {
    ObjectLockSeen {
        lock_mode: protection.lock_mode.clone(),
        retain_until: protection.retain_until,
        server_side_encryption: protection.server_side_encryption.clone(),
    }
}

// ---- checkpoints ----------------------------------------------------------------------------

/// Which checkpoints count as trusted. Chosen where the job is wired, never by the readers, so
/// that a stricter rule changes no reader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CheckpointTrust {
    /// A signed note is checked with the public key of the key id the note itself names; an
    /// unsigned note is reported as unsigned; the origin line is not compared.
    #[default]
    KeyNamedInNote,
}

/// The outcome of checking a checkpoint's signature: the one type every reader judges.
#[derive(Debug)]
pub enum SignatureCheck {
    /// The note carries the explicit `— unsigned` marker.
    Unsigned,
    /// The signature verifies under the public key of `key_id`.
    Verified { key_id: String },
    /// The signature does not verify (or the key is not a P-256 key).
    Invalid { key_id: String, reason: String },
    /// The note is signed, but no public-key lookup was configured to check it.
    NoKeys { key_id: String },
    /// The key service could not give the public key.
    KeyUnavailable { key_id: String, error: SignError },
}

impl SignatureCheck {
    /// The key id the note names, when signed.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            SignatureCheck::Unsigned => None,
            SignatureCheck::Verified { key_id }
            | SignatureCheck::Invalid { key_id, .. }
            | SignatureCheck::NoKeys { key_id }
            | SignatureCheck::KeyUnavailable { key_id, .. } => Some(key_id),
        }
    }

    /// `Some(true)` verified, `Some(false)` checked and wrong, `None` unsigned or not checked.
    pub fn verified(&self) -> Option<bool> {
        match self {
            SignatureCheck::Verified { .. } => Some(true),
            SignatureCheck::Invalid { .. } => Some(false),
            _ => None,
        }
    }
}

impl CheckpointTrust {
    /// Checks `signed`'s signature under this rule, looking public keys up in `keys`.
    pub async fn check<K: PublicKeys>(
        &self,
        signed: &SignedCheckpoint,
        keys: Option<&K>,
    ) -> SignatureCheck {
        match self {
            CheckpointTrust::KeyNamedInNote => {
                let key_id = match &signed.signature {
                    Signature::Unsigned => return SignatureCheck::Unsigned,
                    Signature::Kms { key_id, .. } => key_id.clone(),
                };
                let Some(keys) = keys else {
                    return SignatureCheck::NoKeys { key_id };
                };
                match keys.public_key(&key_id).await {
                    Ok(public_key) => match signed.verify(Some(&public_key)) {
                        Ok(_) => SignatureCheck::Verified { key_id },
                        Err(error) => SignatureCheck::Invalid {
                            key_id,
                            reason: error.to_string(),
                        },
                    },
                    Err(error) => SignatureCheck::KeyUnavailable { key_id, error },
                }
            }
        }
    }
}

/// A checkpoint note read back: parsed, or the reason it is not a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointNote {
    pub original: Original,
    pub content: Result<SignedCheckpoint, String>,
}

/// The original version of every checkpoint object (notes and leaf-hash files), in key order:
/// tree size, then time.
pub async fn list_checkpoints(vault: &impl BlobVault) -> Result<Vec<Original>, VaultError> {
    list_originals(vault, CHECKPOINT_PREFIX).await
}

/// Whether a checkpoint object is a note (not a leaf-hash file).
pub fn is_note(original: &Original) -> bool {
    original.key().ends_with(".txt")
}

/// Reads and parses the original version of one note.
pub async fn read_note(
    vault: &impl BlobVault,
    original: &Original,
) -> Result<CheckpointNote, VaultError> {
    let bytes = vault
        .get_version(original.key(), original.version_id())
        .await?;
    let content = String::from_utf8(bytes)
        .map_err(|_| "not UTF-8 text".to_owned())
        .and_then(|text| SignedCheckpoint::parse(&text).map_err(|e| e.to_string()));
    Ok(CheckpointNote {
        original: original.clone(),
        content,
    })
}

/// The note that counts as the latest among `objects` (a [`list_checkpoints`] listing): the
/// last note in key order, i.e. of the largest tree.
pub fn latest_note(objects: &[Original]) -> Option<&Original> {
    objects.iter().rev().find(|o| is_note(o))
}

/// The latest checkpoint with its signature checked, `None` when the vault holds none.
#[derive(Debug)]
pub struct LatestCheckpoint {
    pub original: Original,
    /// The parsed note and its signature check, or why the note cannot be read.
    pub content: Result<(SignedCheckpoint, SignatureCheck), String>,
}

/// Reads the latest checkpoint and checks its signature under `trust`.
pub async fn latest_checkpoint<K: PublicKeys>(
    vault: &impl BlobVault,
    trust: &CheckpointTrust,
    keys: Option<&K>,
) -> Result<Option<LatestCheckpoint>, VaultError> {
    let objects = list_checkpoints(vault).await?;
    let Some(original) = latest_note(&objects) else {
        return Ok(None);
    };
    let note = read_note(vault, original).await?;
    let content = match note.content {
        Ok(signed) => {
            let check = trust.check(&signed, keys).await;
            Ok((signed, check))
        }
        Err(reason) => Err(reason),
    };
    Ok(Some(LatestCheckpoint {
        original: note.original,
        content,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{InMemoryVault, SoftwareSigner};
    use crate::domain::test_support::timestamp;

    fn version(key: &str, id: &str) -> ObjectVersion {
        ObjectVersion {
            key: key.into(),
            version_id: id.into(),
            is_latest: false,
            size: 1,
        }
    }

    #[test]
    fn originals_are_the_first_version_of_each_key_with_the_count() {
        let grouped = originals(vec![
            version("a", "1"),
            version("a", "2"),
            version("a", "3"),
            version("b", "4"),
            version("c", "5"),
            version("c", "6"),
        ]);
        let seen: Vec<(&str, &str, usize)> = grouped
            .iter()
            .map(|o| (o.key(), o.version_id(), o.versions))
            .collect();
        assert_eq!(seen, vec![("a", "1", 3), ("b", "4", 1), ("c", "5", 2)]);
        assert!(grouped[0].overwritten() && !grouped[1].overwritten());
        assert!(originals(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn manifests_are_listed_in_backup_order_and_strays_apart() {
        let vault = InMemoryVault::new();
        let until = timestamp("2030-01-01T00:00:00Z");
        for key in [
            "manifests/2026/11/signals_backup_20261128.json",
            "manifests/2026/11/signals_backup_20261127.json",
            "manifests/notes.txt",
        ] {
            vault
                .put_locked(key, b"{}".to_vec(), "application/json", until)
                .await
                .unwrap();
        }
        let listing = list_manifests(&vault).await.unwrap();
        let ids: Vec<String> = listing
            .manifests
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        assert_eq!(ids, vec!["20261127", "20261128"]);
        assert_eq!(listing.strays.len(), 1);
        assert_eq!(listing.strays[0].key(), "manifests/notes.txt");
        // Bytes that are not a manifest are evidence, not a vault failure.
        let invalid = read_manifest(&vault, &listing.manifests[0].1)
            .await
            .unwrap()
            .unwrap_err();
        assert!(invalid.to_string().contains("signals_backup_20261127"));
    }

    async fn signed_note(signer: Option<&SoftwareSigner>) -> SignedCheckpoint {
        use crate::domain::checkpoint::{Checkpoint, LeavesRef};
        use crate::domain::hash::Hash;
        use crate::domain::merkle::CompactRange;
        use crate::ports::Signer;
        let checkpoint = Checkpoint::new(
            "signal-ledger:test",
            CompactRange::new(),
            Hash::ZERO,
            timestamp("2026-11-28T10:00:00Z"),
            LeavesRef {
                from: 0,
                to: 0,
                sha256: Hash::sha256(b""),
            },
        )
        .unwrap();
        let signature = match signer {
            Some(signer) => Signature::kms(
                signer.key_id(),
                signer.sign(checkpoint.body().as_bytes()).await.unwrap(),
            )
            .unwrap(),
            None => Signature::Unsigned,
        };
        SignedCheckpoint {
            checkpoint,
            signature,
        }
    }

    #[tokio::test]
    async fn every_signature_outcome_has_its_own_case() {
        let trust = CheckpointTrust::default();
        let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
        let other = SoftwareSigner::from_secret("alias/test-signing", [9; 32]).unwrap();
        let unknown = SoftwareSigner::from_secret("alias/other", [7; 32]).unwrap();
        let unsigned = signed_note(None).await;
        let signed = signed_note(Some(&signer)).await;

        let check = trust.check(&unsigned, Some(&signer)).await;
        assert!(matches!(check, SignatureCheck::Unsigned));
        assert_eq!((check.key_id(), check.verified()), (None, None));

        let check = trust.check(&signed, Some(&signer)).await;
        assert!(
            matches!(&check, SignatureCheck::Verified { key_id } if key_id == "alias/test-signing")
        );
        assert_eq!(check.verified(), Some(true));

        let check = trust.check(&signed, Some(&other)).await;
        assert!(matches!(check, SignatureCheck::Invalid { .. }));
        assert_eq!(check.verified(), Some(false));

        let check = trust.check(&signed, None::<&SoftwareSigner>).await;
        assert!(matches!(check, SignatureCheck::NoKeys { .. }));
        assert_eq!(check.key_id(), Some("alias/test-signing"));
        assert_eq!(check.verified(), None);

        let check = trust.check(&signed, Some(&unknown)).await;
        assert!(matches!(check, SignatureCheck::KeyUnavailable { .. }));
        assert_eq!(check.verified(), None);
    }

    #[tokio::test]
    async fn the_latest_checkpoint_is_the_last_note_in_key_order() {
        let vault = InMemoryVault::new();
        let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
        let trust = CheckpointTrust::default();
        assert!(
            latest_checkpoint(&vault, &trust, Some(&signer))
                .await
                .unwrap()
                .is_none()
        );
        let until = timestamp("2030-01-01T00:00:00Z");
        let note = signed_note(Some(&signer)).await;
        for key in [
            "checkpoints/00000000000000000000-20261128T100000000000Z.txt",
            "checkpoints/00000000000000000000-20261128T100000000000Z.leaves",
        ] {
            vault
                .put_locked(key, note.to_text().into_bytes(), "text/plain", until)
                .await
                .unwrap();
        }
        let latest = latest_checkpoint(&vault, &trust, Some(&signer))
            .await
            .unwrap()
            .unwrap();
        assert!(latest.original.key().ends_with(".txt"));
        let (read, check) = latest.content.unwrap();
        assert_eq!(read, note);
        assert_eq!(check.verified(), Some(true));

        vault
            .put_locked("checkpoints/zz.txt", b"junk".to_vec(), "text/plain", until)
            .await
            .unwrap();
        let latest = latest_checkpoint(&vault, &trust, Some(&signer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.original.key(), "checkpoints/zz.txt");
        assert!(latest.content.is_err());
    }
}
