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
//! - A checkpoint counts only if its origin is this ledger's and it is signed by a key of the
//!   configured trusted set ([`CheckpointTrust`], resolved once per run into [`TrustedKeys`]);
//!   one result type ([`SignatureCheck`]) for every reader. The key id a note names is a hint.
//! - The latest checkpoint is the latest *trusted* one: planted or forged notes are passed over
//!   and reported, however their keys sort.

use crate::app::backup::MANIFEST_PREFIX;
use crate::app::sweep::CHECKPOINT_PREFIX;
use crate::domain::backup::{BackupId, Manifest};
use serde::{Deserialize, Serialize};

use crate::domain::checkpoint::{Signature, SignedCheckpoint, is_p256_public_key, object_key};
use crate::domain::hash::Hash;
use crate::domain::report::ObjectLockSeen;
use crate::ports::{
    BlobVault, ObjectProtection, ObjectVersion, PublicKeys, SignError, VaultError, VaultReads,
};

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
    vault: &impl VaultReads,
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
pub async fn list_manifests(vault: &impl VaultReads) -> Result<ManifestListing, VaultError> {
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
    vault: &impl VaultReads,
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

/// Which checkpoints count as trusted: a configured origin and a configured set of signing keys
/// (the current key and the ones rotated out). Nothing an insider can write into the vault
/// decides it: the key id inside a note is only a hint for which trusted key to try first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointTrust {
    /// The origin line a trusted note carries (`signal-ledger:<signals table>`).
    pub origin: String,
    /// KMS key ids of the trusted keys, current first. Empty when no signing key is configured:
    /// then only unsigned notes count (a local stack without keys), and any signed note is a
    /// finding, since nothing configured can vouch for it.
    pub key_ids: Vec<String>,
}

impl CheckpointTrust {
    /// The trusted set of a deployment: its signing key (if any) and earlier keys.
    pub fn new(
        origin: impl Into<String>,
        signing_key_id: Option<&str>,
        previous_key_ids: &[String],
    ) -> CheckpointTrust {
        let mut key_ids: Vec<String> = signing_key_id.into_iter().map(str::to_owned).collect();
        for id in previous_key_ids {
            if !key_ids.contains(id) {
                key_ids.push(id.clone());
            }
        }
        CheckpointTrust {
            origin: origin.into(),
            key_ids,
        }
    }

    /// Fetches each trusted key's public key once (by the configured id, never by the id a note
    /// names) and fingerprints it. Every check of a run then uses this, with no further calls.
    pub async fn resolve<K: PublicKeys>(
        &self,
        keys: Option<&K>,
    ) -> Result<TrustedKeys, TrustError> {
        let mut resolved = Vec::with_capacity(self.key_ids.len());
        for key_id in &self.key_ids {
            let Some(lookup) = keys else {
                return Err(TrustError::NoLookup {
                    key_id: key_id.clone(),
                });
            };
            let public_key =
                lookup
                    .public_key(key_id)
                    .await
                    .map_err(|source| TrustError::KeyUnavailable {
                        key_id: key_id.clone(),
                        source,
                    })?;
            if !is_p256_public_key(&public_key) {
                return Err(TrustError::NotP256 {
                    key_id: key_id.clone(),
                });
            }
            resolved.push(TrustedKey {
                key_id: key_id.clone(),
                fingerprint: Hash::sha256(&public_key),
                public_key,
            });
        }
        Ok(TrustedKeys {
            origin: self.origin.clone(),
            keys: resolved,
        })
    }
}

/// Why the trusted set could not be loaded: nothing can be judged without it.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("trusted checkpoint key {key_id} is configured, but no public-key lookup is")]
    NoLookup { key_id: String },
    #[error("cannot fetch the public key of trusted checkpoint key {key_id}")]
    KeyUnavailable {
        key_id: String,
        #[source]
        source: SignError,
    },
    #[error("trusted checkpoint key {key_id} is not a P-256 key")]
    NotP256 { key_id: String },
}

/// One key of the trusted set, with the SHA-256 fingerprint of its DER SubjectPublicKeyInfo:
/// what an auditor compares with the key handed over out of band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedKey {
    pub key_id: String,
    pub fingerprint: Hash,
    #[serde(skip)]
    pub public_key: Vec<u8>,
}

/// The resolved trusted set: judges notes without any I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKeys {
    origin: String,
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Judges one note: its origin, then its signature under the trusted keys (the key the note
    /// names first, as a hint; then every other trusted key).
    pub fn check(&self, signed: &SignedCheckpoint) -> SignatureCheck {
        self.check_note(&signed.checkpoint.origin, &signed.signature, |public_key| {
            signed.verify(Some(public_key)).is_ok()
        })
    }

    /// The one judgement, for any note signed like a checkpoint (checkpoints and audit seals):
    /// `origin` and `signature` as the note states them, `verifies` whether its signature
    /// verifies under a given DER public key.
    pub fn check_note(
        &self,
        origin: &str,
        signature: &Signature,
        verifies: impl Fn(&[u8]) -> bool,
    ) -> SignatureCheck {
        if origin != self.origin {
            return SignatureCheck::WrongOrigin {
                found: origin.to_owned(),
                expected: self.origin.clone(),
            };
        }
        let hint = match signature {
            Signature::Unsigned if self.keys.is_empty() => return SignatureCheck::Unsigned,
            Signature::Unsigned => {
                return SignatureCheck::Untrusted {
                    key_id: None,
                    reason: "the note is unsigned, but a checkpoint signing key is configured"
                        .to_owned(),
                };
            }
            Signature::Kms { key_id, .. } => key_id,
        };
        if self.keys.is_empty() {
            return SignatureCheck::NoKeys {
                key_id: hint.clone(),
            };
        }
        let hinted = self.keys.iter().filter(|k| &k.key_id == hint);
        let others = self.keys.iter().filter(|k| &k.key_id != hint);
        for key in hinted.chain(others) {
            if verifies(&key.public_key) {
                return SignatureCheck::Verified {
                    key_id: key.key_id.clone(),
                };
            }
        }
        SignatureCheck::Untrusted {
            key_id: Some(hint.clone()),
            reason: format!(
                "signed as kms:{hint}, but the signature verifies under none of the {} trusted key(s)",
                self.keys.len()
            ),
        }
    }
}

/// The outcome of judging a checkpoint: the one type every reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The note is unsigned and no signing key is configured: it counts (a local stack).
    Unsigned,
    /// The signature verifies under the trusted key `key_id`.
    Verified { key_id: String },
    /// Signed by no trusted key, or unsigned although a key is configured: it does not count.
    Untrusted {
        key_id: Option<String>,
        reason: String,
    },
    /// The note names another log.
    WrongOrigin { found: String, expected: String },
    /// The note is signed, but no key is configured to check it: it does not count.
    NoKeys { key_id: String },
}

impl SignatureCheck {
    /// The key id the note names (or, when verified, the trusted key that verified it).
    pub fn key_id(&self) -> Option<&str> {
        match self {
            SignatureCheck::Unsigned | SignatureCheck::WrongOrigin { .. } => None,
            SignatureCheck::Verified { key_id } | SignatureCheck::NoKeys { key_id } => Some(key_id),
            SignatureCheck::Untrusted { key_id, .. } => key_id.as_deref(),
        }
    }

    /// `Some(true)` verified, `Some(false)` checked and not trusted, `None` unsigned or not checked.
    pub fn verified(&self) -> Option<bool> {
        match self {
            SignatureCheck::Verified { .. } => Some(true),
            SignatureCheck::Untrusted { .. } | SignatureCheck::WrongOrigin { .. } => Some(false),
            SignatureCheck::Unsigned | SignatureCheck::NoKeys { .. } => None,
        }
    }

    /// Whether the note counts as a checkpoint.
    pub fn is_trusted(&self) -> bool {
        matches!(
            self,
            SignatureCheck::Verified { .. } | SignatureCheck::Unsigned
        )
    }

    /// Why the note does not count, for a finding.
    pub fn refusal(&self) -> Option<String> {
        match self {
            SignatureCheck::Unsigned | SignatureCheck::Verified { .. } => None,
            SignatureCheck::Untrusted { reason, .. } => Some(reason.clone()),
            SignatureCheck::WrongOrigin { found, expected } => Some(format!(
                "its origin is {found:?}, not this ledger's {expected:?}"
            )),
            SignatureCheck::NoKeys { key_id } => Some(format!(
                "signed as kms:{key_id}, but no checkpoint signing key is configured to trust"
            )),
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
pub async fn list_checkpoints(vault: &impl VaultReads) -> Result<Vec<Original>, VaultError> {
    list_originals(vault, CHECKPOINT_PREFIX).await
}

/// Whether a checkpoint object is a note (not a leaf-hash file).
pub fn is_note(original: &Original) -> bool {
    original.key().ends_with(".txt")
}

/// Reads and parses the original version of one note.
pub async fn read_note(
    vault: &impl VaultReads,
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

/// Why a note is stored under a key its content does not give (a copy planted under a larger
/// size, say), or `None`.
pub fn key_mismatch(original: &Original, signed: &SignedCheckpoint) -> Option<String> {
    let expected = object_key(signed.checkpoint.tree_size, &signed.checkpoint.time);
    (original.key() != expected).then(|| {
        format!(
            "it is stored as {}, but its content is that of {expected}",
            original.key()
        )
    })
}

/// A note read back and judged, or why it cannot be read.
pub type JudgedNote = Result<(SignedCheckpoint, SignatureCheck), String>;

/// A note that did not count, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedOver {
    pub original: Original,
    pub reason: String,
}

/// The latest *trusted* checkpoint, with the newer notes that did not count.
#[derive(Debug)]
pub struct LatestCheckpoint {
    pub original: Original,
    /// The parsed note and its judgement, or why the note cannot be read. It is trusted unless no
    /// note in the vault is: then this is the newest note, with why it does not count.
    pub content: JudgedNote,
    /// Newer notes (newest first) that are unreadable or untrusted: findings for the caller.
    /// When no note counts, `original` is the newest note and this holds the others.
    pub passed_over: Vec<PassedOver>,
}

/// Reads the notes from the newest back to the latest one `trust` accepts; `None` when the
/// vault holds no note. A planted or forged note (however it sorts) is passed over, never used.
pub async fn latest_checkpoint(
    vault: &impl VaultReads,
    trust: &TrustedKeys,
) -> Result<Option<LatestCheckpoint>, VaultError> {
    let objects = list_checkpoints(vault).await?;
    let mut passed_over = Vec::new();
    let mut newest: Option<(Original, JudgedNote)> = None;
    for original in objects.iter().rev().filter(|o| is_note(o)) {
        let note = read_note(vault, original).await?;
        let content = note.content.map(|signed| {
            let check = trust.check(&signed);
            (signed, check)
        });
        let refusal = match &content {
            Ok((signed, check)) => key_mismatch(&note.original, signed).or_else(|| check.refusal()),
            Err(reason) => Some(reason.clone()),
        };
        match refusal {
            None => {
                return Ok(Some(LatestCheckpoint {
                    original: note.original,
                    content,
                    passed_over,
                }));
            }
            Some(reason) => {
                if newest.is_none() {
                    newest = Some((note.original.clone(), content));
                }
                passed_over.push(PassedOver {
                    original: note.original,
                    reason,
                });
            }
        }
    }
    // No note counts: the newest one, with why; the others passed over.
    Ok(newest.map(|(original, content)| LatestCheckpoint {
        original,
        content,
        passed_over: passed_over.split_off(1.min(passed_over.len())),
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

    const ORIGIN: &str = "signal-ledger:test";

    async fn trusted(keys: &[&str], lookup: &SoftwareSigner) -> TrustedKeys {
        let ids: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        let (first, rest) = ids
            .split_first()
            .map_or((None, &[][..]), |(f, r)| (Some(f.as_str()), r));
        CheckpointTrust::new(ORIGIN, first, rest)
            .resolve(Some(lookup))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn only_a_trusted_key_and_the_configured_origin_make_a_note_count() {
        let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
        // An insider's own key that names itself with the real key's id: the hint is not trust.
        let impostor = SoftwareSigner::from_secret("alias/test-signing", [9; 32]).unwrap();
        let trust = trusted(&["alias/test-signing"], &signer).await;
        assert_eq!(trust.keys().len(), 1);
        assert_eq!(
            trust.keys()[0].fingerprint,
            Hash::sha256(&signer.public_key("alias/test-signing").await.unwrap())
        );

        let check = trust.check(&signed_note(Some(&signer)).await);
        assert_eq!(
            check,
            SignatureCheck::Verified {
                key_id: "alias/test-signing".into()
            }
        );
        assert!(check.is_trusted() && check.refusal().is_none());

        let check = trust.check(&signed_note(Some(&impostor)).await);
        assert!(matches!(
            check,
            SignatureCheck::Untrusted {
                key_id: Some(_),
                ..
            }
        ));
        assert_eq!(check.verified(), Some(false));
        assert!(!check.is_trusted());

        let check = trust.check(&signed_note(None).await);
        assert!(matches!(
            check,
            SignatureCheck::Untrusted { key_id: None, .. }
        ));
        assert!(check.refusal().unwrap().contains("unsigned"));

        let mut foreign = signed_note(Some(&signer)).await;
        foreign.checkpoint.origin = "signal-ledger:other".into();
        let check = trust.check(&foreign);
        assert!(matches!(check, SignatureCheck::WrongOrigin { .. }));
        assert!(!check.is_trusted());
    }

    #[tokio::test]
    async fn a_rotated_out_key_still_counts_and_the_hint_only_orders_the_tries() {
        let old = SoftwareSigner::from_secret("alias/old", [3; 32]).unwrap();
        let new = SoftwareSigner::from_secret("alias/new", [4; 32]).unwrap();
        let lookup = KeyRing(vec![&old, &new]);
        let trust = CheckpointTrust::new(ORIGIN, Some("alias/new"), &["alias/old".to_owned()])
            .resolve(Some(&lookup))
            .await
            .unwrap();
        let by_old = signed_note(Some(&old)).await;
        assert_eq!(
            trust.check(&by_old),
            SignatureCheck::Verified {
                key_id: "alias/old".into()
            }
        );
        // A note that names the new key but was signed by the old one still verifies, under
        // the key that really signed it.
        let mut misnamed = by_old.clone();
        if let Signature::Kms { key_id, .. } = &mut misnamed.signature {
            *key_id = "alias/new".into();
        }
        assert_eq!(
            trust.check(&misnamed),
            SignatureCheck::Verified {
                key_id: "alias/old".into()
            }
        );
    }

    #[tokio::test]
    async fn without_a_signing_key_only_unsigned_notes_count() {
        let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
        let trust = trusted(&[], &signer).await;
        assert_eq!(
            trust.check(&signed_note(None).await),
            SignatureCheck::Unsigned
        );
        let check = trust.check(&signed_note(Some(&signer)).await);
        assert!(matches!(check, SignatureCheck::NoKeys { .. }));
        assert!(!check.is_trusted());
    }

    #[tokio::test]
    async fn the_trusted_set_cannot_be_loaded_without_its_keys() {
        let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
        let trust = CheckpointTrust::new(ORIGIN, Some("alias/unknown"), &[]);
        assert!(matches!(
            trust.resolve(Some(&signer)).await,
            Err(TrustError::KeyUnavailable { .. })
        ));
        assert!(matches!(
            trust.resolve(None::<&SoftwareSigner>).await,
            Err(TrustError::NoLookup { .. })
        ));
    }

    /// Public keys of several software signers, by their key ids.
    struct KeyRing<'a>(Vec<&'a SoftwareSigner>);

    impl PublicKeys for KeyRing<'_> {
        async fn public_key(&self, key_id: &str) -> Result<Vec<u8>, SignError> {
            for signer in &self.0 {
                if crate::ports::Signer::key_id(*signer) == key_id {
                    return signer.public_key(key_id).await;
                }
            }
            Err(SignError::Failed(format!("no key {key_id}").into()))
        }
    }

    #[tokio::test]
    async fn the_latest_checkpoint_is_the_latest_trusted_note_whatever_sorts_last() {
        let vault = InMemoryVault::new();
        let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
        let impostor = SoftwareSigner::from_secret("alias/test-signing", [9; 32]).unwrap();
        let trust = trusted(&["alias/test-signing"], &signer).await;
        assert!(latest_checkpoint(&vault, &trust).await.unwrap().is_none());
        let until = timestamp("2030-01-01T00:00:00Z");
        let note = signed_note(Some(&signer)).await;
        let key = object_key(note.checkpoint.tree_size, &note.checkpoint.time);
        for (key, body) in [
            (key.clone(), note.to_text().into_bytes()),
            (key.replace(".txt", ".leaves"), Vec::new()),
            // A forgery under a larger size, a copy of the honest note under a key that is not
            // its own, and junk that sorts last.
            (
                "checkpoints/00000000000000000009-20261128T100000000000Z.txt".to_owned(),
                signed_note(Some(&impostor)).await.to_text().into_bytes(),
            ),
            (
                "checkpoints/00000000000000000008-20261128T100000000000Z.txt".to_owned(),
                note.to_text().into_bytes(),
            ),
            ("checkpoints/zz.txt".to_owned(), b"junk".to_vec()),
        ] {
            vault
                .put_locked(&key, body, "text/plain", until)
                .await
                .unwrap();
        }
        let latest = latest_checkpoint(&vault, &trust).await.unwrap().unwrap();
        assert_eq!(latest.original.key(), key);
        let (read, check) = latest.content.unwrap();
        assert_eq!(read, note);
        assert_eq!(check.verified(), Some(true));
        let passed: Vec<&str> = latest
            .passed_over
            .iter()
            .map(|p| p.original.key())
            .collect();
        assert_eq!(
            passed,
            vec![
                "checkpoints/zz.txt",
                "checkpoints/00000000000000000009-20261128T100000000000Z.txt",
                "checkpoints/00000000000000000008-20261128T100000000000Z.txt",
            ]
        );
    }
}
