//! The WORM vault and the checkpoint signer against the emulator: the bucket and key provisioned
//! from template.yaml are what the template says, locked versions cannot be deleted, overwrites
//! keep every version, multipart uploads end as one locked version (or none), and KMS
//! signatures verify (with KMS and without it).

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{ObjectLockEnabled, ObjectLockRetentionMode, ServerSideEncryption};
use ledgerctl::provision::{
    CHECKPOINT_SIGNING_KEY, Provisioned, ProvisionedStack, VAULT_BUCKET, provision_stack,
};
use ledgerctl::template::{Stack, Template};
use shared::adapters::kms::KmsSigner;
use shared::adapters::s3::S3Vault;
use shared::domain::checkpoint::verify_p256;
use shared::domain::hash::Hash;
use shared::domain::timestamp::Timestamp;
use shared::ports::{BlobVault, Clock, MIN_PART_BYTES, PublicKeys, Signer, VaultError, VaultReads};

use crate::support::{TEMPLATE, required_env};

/// A whole stack (tables, vault bucket, signing key) provisioned from template.yaml under a
/// stack name of its own.
struct VaultStack {
    sdk: aws_config::SdkConfig,
    stack: Stack,
    provisioned: ProvisionedStack,
}

impl VaultStack {
    async fn new() -> VaultStack {
        required_env("AWS_ENDPOINT_URL");
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let stack = Stack::local(format!("v-{}", uuid::Uuid::now_v7().simple()));
        let template = Template::parse(TEMPLATE).unwrap();
        let provisioned = provision_stack(&sdk, &template, &stack).await.unwrap();
        VaultStack {
            sdk,
            stack,
            provisioned,
        }
    }

    fn bucket(&self) -> &str {
        self.provisioned.bucket_name(VAULT_BUCKET).unwrap()
    }

    fn key_arn(&self) -> &str {
        self.provisioned.key_arn(CHECKPOINT_SIGNING_KEY).unwrap()
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::new(&self.sdk)
    }

    fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk)
    }

    fn vault(&self) -> S3Vault {
        S3Vault::new(self.s3(), self.bucket(), None)
    }
}

/// Now plus `days`, as the domain's timestamp.
fn days_from_now(days: u32) -> Timestamp {
    shared::adapters::system::SystemClock
        .now()
        .plus_days(days)
        .unwrap()
}

#[tokio::test]
async fn the_provisioned_vault_and_key_are_the_templates() {
    let stack = VaultStack::new().await;
    let template = Template::parse(TEMPLATE).unwrap();
    let definition = template
        .buckets(&stack.stack)
        .unwrap()
        .into_iter()
        .find(|b| b.logical_id == VAULT_BUCKET)
        .unwrap();
    assert_eq!(stack.bucket(), definition.bucket_name);
    assert!(matches!(
        stack.provisioned.buckets[0].outcome,
        Provisioned::Created(_)
    ));
    let props = &definition.properties;
    let s3 = stack.s3();

    // Object Lock with the template's default retention.
    let lock = s3
        .get_object_lock_configuration()
        .bucket(stack.bucket())
        .send()
        .await
        .unwrap();
    let lock = lock.object_lock_configuration().unwrap();
    assert_eq!(
        lock.object_lock_enabled(),
        Some(&ObjectLockEnabled::Enabled)
    );
    let retention = lock.rule().unwrap().default_retention().unwrap();
    assert_eq!(retention.mode(), Some(&ObjectLockRetentionMode::Compliance));
    assert_eq!(
        props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"],
        "COMPLIANCE"
    );
    assert_eq!(
        retention.days().map(i64::from),
        props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"].as_i64()
    );

    // Default encryption.
    let encryption = s3
        .get_bucket_encryption()
        .bucket(stack.bucket())
        .send()
        .await
        .unwrap();
    let rules = encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0]
            .apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &ServerSideEncryption::Aes256
    );
    assert_eq!(
        props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
            ["SSEAlgorithm"],
        "AES256"
    );

    // Public access blocked entirely.
    let block = s3
        .get_public_access_block()
        .bucket(stack.bucket())
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.block_public_policy(), Some(true));
    assert_eq!(block.ignore_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));

    // Ownership controls.
    let ownership = s3
        .get_bucket_ownership_controls()
        .bucket(stack.bucket())
        .send()
        .await
        .unwrap();
    let rules = ownership.ownership_controls().unwrap().rules();
    assert_eq!(
        rules
            .iter()
            .map(|r| r.object_ownership().as_str())
            .collect::<Vec<_>>(),
        ["BucketOwnerEnforced"]
    );
    // Versioning: moto's GetBucketVersioning answer does not parse in the Rust SDK (wrong root
    // element), so read the XML itself; that overwrites keep versions is shown by
    // `overwriting_keeps_every_version_oldest_first`.
    let versioning = reqwest::get(format!(
        "{}/{}?versioning",
        required_env("AWS_ENDPOINT_URL"),
        stack.bucket()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_eq!(props["VersioningConfiguration"]["Status"], "Enabled");
    assert!(
        versioning.contains("<Status>Enabled</Status>"),
        "{versioning}"
    );

    // The lifecycle rule that clears parts of uploads that never completed, and nothing else.
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(stack.bucket())
        .send()
        .await
        .unwrap();
    let rules = lifecycle.rules();
    let template_rules = props["LifecycleConfiguration"]["Rules"].as_array().unwrap();
    assert_eq!(rules.len(), template_rules.len());
    assert_eq!(rules[0].id(), template_rules[0]["Id"].as_str());
    assert_eq!(
        rules[0]
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation())
            .map(i64::from),
        template_rules[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_i64()
    );
    assert!(rules[0].expiration().is_none() && rules[0].noncurrent_version_expiration().is_none());

    // The bucket policy is the template's, but for the conditional denies, which are reported
    // as not applied over the emulator's plain HTTP (moto ignores conditions).
    let skipped = &stack.provisioned.buckets[0].skipped_statements;
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped[0].starts_with("VaultBucketPolicy statement RequireTls:"),
        "{skipped:?}"
    );
    // Only the sweep writes full-pass cursors: a deny conditioned on the principal.
    assert!(
        skipped[1].starts_with("VaultBucketPolicy statement OnlyTheSweepWritesFullPassCursors:"),
        "{skipped:?}"
    );
    assert!(
        skipped[2].starts_with("VaultBucketPolicy statement RetentionOnlyInComplianceMode:"),
        "{skipped:?}"
    );
    let policy = s3
        .get_bucket_policy()
        .bucket(stack.bucket())
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let applied: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(applied, ["NoGovernanceBypass"]);

    // The signing key.
    let described = stack
        .kms()
        .describe_key()
        .key_id(stack.key_arn())
        .send()
        .await
        .unwrap();
    let metadata = described.key_metadata().unwrap();
    assert_eq!(metadata.key_spec(), Some(&KeySpec::EccNistP256));
    assert_eq!(metadata.key_usage(), Some(&KeyUsageType::SignVerify));
    assert!(metadata.enabled());
    assert!(stack.provisioned.keys[0].created);
    assert_eq!(
        stack.provisioned.keys[0].alias,
        format!("alias/{}-checkpoint-signing", stack.stack.name)
    );

    // Provisioning again changes nothing and finds the same key through its alias.
    let again = provision_stack(&stack.sdk, &template, &stack.stack)
        .await
        .unwrap();
    assert!(matches!(
        &again.buckets[0].outcome,
        Provisioned::AlreadyExisted(name) if name == stack.bucket()
    ));
    assert_eq!(again.key_arn(CHECKPOINT_SIGNING_KEY), Some(stack.key_arn()));
    assert!(!again.keys[0].created);
    assert_eq!(
        again.shell_exports().unwrap(),
        format!(
            "VAULT_BUCKET={} CHECKPOINT_KMS_KEY_ID={}",
            stack.bucket(),
            stack.key_arn()
        )
    );
}

#[tokio::test]
async fn a_locked_write_is_compliance_locked_encrypted_and_checksummed() {
    let stack = VaultStack::new().await;
    let vault = stack.vault();
    let body = b"{\"tree_size\":3}\n".to_vec();
    // Microseconds on purpose: the retain-until date survives at the precision it was written.
    let retain_until = days_from_now(7);
    let stored = vault
        .put_locked(
            "checkpoints/3.json",
            body.clone(),
            "application/json",
            retain_until,
        )
        .await
        .unwrap();
    assert_eq!(stored.key, "checkpoints/3.json");
    assert_eq!(stored.sha256, Hash::sha256(&body));
    assert!(!stored.version_id.is_empty());

    let protection = vault
        .protection(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    assert_eq!(protection.retain_until, Some(retain_until));
    assert_eq!(protection.server_side_encryption.as_deref(), Some("AES256"));
    assert_eq!(protection.sha256, Some(stored.sha256));

    assert_eq!(
        vault
            .get_version(&stored.key, &stored.version_id)
            .await
            .unwrap(),
        body
    );
    // A version that does not exist is NotFound, not a failure.
    let missing = vault.get_version("checkpoints/none.json", "nope").await;
    assert!(
        matches!(missing, Err(VaultError::NotFound { .. })),
        "{missing:?}"
    );
    let missing = vault.protection("checkpoints/none.json", "nope").await;
    assert!(
        matches!(missing, Err(VaultError::NotFound { .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn deleting_a_locked_version_is_refused() {
    let stack = VaultStack::new().await;
    let vault = stack.vault();
    let stored = vault
        .put_locked(
            "backups/2026-11-28.jsonl",
            b"entry 0\n".to_vec(),
            "application/x-ndjson",
            days_from_now(1),
        )
        .await
        .unwrap();

    let refused = stack
        .s3()
        .delete_object()
        .bucket(stack.bucket())
        .key(&stored.key)
        .version_id(&stored.version_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDenied"), "{refused:?}");
    assert_eq!(
        vault
            .get_version(&stored.key, &stored.version_id)
            .await
            .unwrap(),
        b"entry 0\n"
    );
}

#[tokio::test]
async fn overwriting_keeps_every_version_oldest_first() {
    let stack = VaultStack::new().await;
    let vault = stack.vault();
    let until = days_from_now(1);
    let put = |key: &'static str, body: &'static [u8]| {
        let vault = vault.clone();
        async move {
            vault
                .put_locked(key, body.to_vec(), "text/plain", until)
                .await
                .unwrap()
        }
    };
    // Written out of key order, and one key outside the prefix.
    let second_key = put("daily/2", b"two").await;
    let first = put("daily/1", b"one, first").await;
    let outside = put("other/1", b"elsewhere").await;
    let overwrite = put("daily/1", b"one, again").await;
    let third = put("daily/1", b"one, third time").await;
    assert_ne!(first.version_id, overwrite.version_id);

    let versions = vault.list_versions("daily/").await.unwrap();
    let listed: Vec<(&str, &str, bool, u64)> = versions
        .iter()
        .map(|v| (v.key.as_str(), v.version_id.as_str(), v.is_latest, v.size))
        .collect();
    assert_eq!(
        listed,
        [
            ("daily/1", first.version_id.as_str(), false, 10),
            ("daily/1", overwrite.version_id.as_str(), false, 10),
            ("daily/1", third.version_id.as_str(), true, 15),
            ("daily/2", second_key.version_id.as_str(), true, 3),
        ]
    );
    assert!(!versions.iter().any(|v| v.version_id == outside.version_id));
    // The same across pages of one version each (a key's versions split over pages).
    let paged = vault
        .clone()
        .with_page_size(1)
        .list_versions("daily/")
        .await
        .unwrap();
    assert_eq!(paged, versions);

    // The old version is still there, byte for byte, and still locked.
    assert_eq!(
        vault
            .get_version("daily/1", &first.version_id)
            .await
            .unwrap(),
        b"one, first"
    );
    assert_eq!(
        vault
            .protection("daily/1", &first.version_id)
            .await
            .unwrap()
            .lock_mode
            .as_deref(),
        Some("COMPLIANCE")
    );
}

#[tokio::test]
async fn the_signing_key_signs_messages_that_verify_with_and_without_kms() {
    let stack = VaultStack::new().await;
    let signer = KmsSigner::new(stack.kms(), stack.key_arn());
    assert_eq!(signer.key_id(), stack.key_arn());
    let message = b"signal-ledger:test\n0\n".to_vec();
    let signature = signer.sign(&message).await.unwrap();
    // ASN.1 DER: a SEQUENCE.
    assert_eq!(signature.first(), Some(&0x30));

    // KMS itself accepts it, and refuses it for another message.
    let verify = |message: Vec<u8>, signature: Vec<u8>| {
        let kms = stack.kms();
        let key = stack.key_arn().to_owned();
        async move {
            kms.verify()
                .key_id(key)
                .message(Blob::new(message))
                .message_type(MessageType::Raw)
                .signature(Blob::new(signature))
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await
        }
    };
    assert!(
        verify(message.clone(), signature.clone())
            .await
            .unwrap()
            .signature_valid()
    );
    let mut modified = message.clone();
    modified[0] ^= 1;
    let rejected = verify(modified.clone(), signature.clone()).await;
    assert!(
        !matches!(&rejected, Ok(output) if output.signature_valid()),
        "{rejected:?}"
    );

    // Without KMS, as an auditor checks a checkpoint: the DER public key verifies the signature
    // over SHA-256(message), and nothing else.
    let public_key = signer.public_key(stack.key_arn()).await.unwrap();
    verify_p256(&public_key, &Hash::sha256(&message), &signature).unwrap();
    assert!(verify_p256(&public_key, &Hash::sha256(&modified), &signature).is_err());
}

#[tokio::test]
async fn a_write_with_a_kms_key_is_encrypted_with_it() {
    let stack = VaultStack::new().await;
    let key = stack.kms().create_key().send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let vault = S3Vault::new(stack.s3(), stack.bucket(), Some(key_arn));
    let stored = vault
        .put_locked("kms/1", b"secret".to_vec(), "text/plain", days_from_now(1))
        .await
        .unwrap();
    let protection = vault
        .protection(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(
        protection.server_side_encryption.as_deref(),
        Some("aws:kms")
    );
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    assert_eq!(
        vault
            .get_version(&stored.key, &stored.version_id)
            .await
            .unwrap(),
        b"secret"
    );
}

/// A body of `len` bytes that differs from position to position.
fn patterned(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

#[tokio::test]
async fn a_multipart_upload_becomes_one_locked_version_only_when_completed() {
    let stack = VaultStack::new().await;
    let vault = stack.vault();
    let retain_until = days_from_now(7);
    let upload = vault
        .start_upload(
            "backups/2026-11-28.jsonl",
            "application/x-ndjson",
            retain_until,
        )
        .await
        .unwrap();
    assert_eq!(upload.key, "backups/2026-11-28.jsonl");
    let first = patterned(MIN_PART_BYTES, 1);
    let second = patterned(4321, 2);
    let parts = vec![
        vault.upload_part(&upload, 1, first.clone()).await.unwrap(),
        vault.upload_part(&upload, 2, second.clone()).await.unwrap(),
    ];
    assert_eq!(parts[1].part_number, 2);
    assert_eq!(parts[1].sha256, Hash::sha256(&second));
    // Nothing is listed before completion.
    assert_eq!(vault.list_versions("backups/").await.unwrap(), []);

    let whole = [first, second].concat();
    let sha256 = Hash::sha256(&whole);
    let stored = vault
        .complete_upload(&upload, &parts, sha256, retain_until)
        .await
        .unwrap();
    assert_eq!(stored.key, upload.key);
    assert_eq!(stored.sha256, sha256);

    let versions = vault.list_versions("backups/").await.unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].version_id, stored.version_id);
    assert!(versions[0].is_latest);
    assert_eq!(versions[0].size, whole.len() as u64);

    let protection = vault
        .protection(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    assert_eq!(protection.retain_until, Some(retain_until));
    assert_eq!(protection.server_side_encryption.as_deref(), Some("AES256"));
    // The store holds a checksum of the part checksums, which is not the object's SHA-256.
    assert_eq!(protection.sha256, None);

    let read = vault
        .get_version(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(read.len(), whole.len());
    assert!(read == whole, "the bytes read back differ from the parts");
    assert_eq!(Hash::sha256(&read), sha256);

    // A locked multipart version cannot be deleted either.
    let refused = stack
        .s3()
        .delete_object()
        .bucket(stack.bucket())
        .key(&stored.key)
        .version_id(&stored.version_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDenied"), "{refused:?}");
}

#[tokio::test]
async fn an_aborted_upload_leaves_no_version() {
    let stack = VaultStack::new().await;
    let vault = stack.vault();
    let retain_until = days_from_now(1);
    let upload = vault
        .start_upload(
            "backups/aborted.jsonl",
            "application/x-ndjson",
            retain_until,
        )
        .await
        .unwrap();
    vault
        .upload_part(&upload, 1, patterned(MIN_PART_BYTES, 3))
        .await
        .unwrap();
    vault.abort_upload(&upload).await.unwrap();
    assert_eq!(vault.list_versions("").await.unwrap(), []);
    let uploads = stack
        .s3()
        .list_multipart_uploads()
        .bucket(stack.bucket())
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 0, "{uploads:?}");
    // Aborting it again: the upload no longer exists.
    let again = vault.abort_upload(&upload).await;
    assert!(
        matches!(again, Err(VaultError::NotFound { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_too_small_non_final_part_is_refused() {
    let stack = VaultStack::new().await;
    let vault = stack.vault();
    let retain_until = days_from_now(1);
    let upload = vault
        .start_upload("backups/small.jsonl", "application/x-ndjson", retain_until)
        .await
        .unwrap();
    let small = patterned(MIN_PART_BYTES - 1, 4);
    let last = b"last".to_vec();
    let parts = vec![
        vault.upload_part(&upload, 1, small.clone()).await.unwrap(),
        vault.upload_part(&upload, 2, last.clone()).await.unwrap(),
    ];
    let refused = vault
        .complete_upload(
            &upload,
            &parts,
            Hash::sha256(&[small, last].concat()),
            retain_until,
        )
        .await;
    assert!(
        matches!(&refused, Err(VaultError::Refused { key, .. }) if key == &upload.key),
        "{refused:?}"
    );
    // Parts not numbered 1, 2, … are refused before S3 is asked.
    let reversed = [parts[1].clone(), parts[0].clone()];
    let refused = vault
        .complete_upload(&upload, &reversed, Hash::sha256(b""), retain_until)
        .await;
    assert!(
        matches!(refused, Err(VaultError::Refused { .. })),
        "{refused:?}"
    );
    assert_eq!(vault.list_versions("").await.unwrap(), []);
    vault.abort_upload(&upload).await.unwrap();
}

#[tokio::test]
async fn a_multipart_upload_with_a_kms_key_is_encrypted_with_it() {
    let stack = VaultStack::new().await;
    let key = stack.kms().create_key().send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let vault = S3Vault::new(stack.s3(), stack.bucket(), Some(key_arn));
    let retain_until = days_from_now(2);
    let upload = vault
        .start_upload("kms/multipart", "text/plain", retain_until)
        .await
        .unwrap();
    let part = vault
        .upload_part(&upload, 1, b"secret".to_vec())
        .await
        .unwrap();
    let stored = vault
        .complete_upload(&upload, &[part], Hash::sha256(b"secret"), retain_until)
        .await
        .unwrap();
    let protection = vault
        .protection(&stored.key, &stored.version_id)
        .await
        .unwrap();
    assert_eq!(
        protection.server_side_encryption.as_deref(),
        Some("aws:kms")
    );
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    assert_eq!(protection.retain_until, Some(retain_until));
    assert_eq!(
        vault
            .get_version(&stored.key, &stored.version_id)
            .await
            .unwrap(),
        b"secret"
    );
}

/// The signed reads of the ingest function's proof routes (`adapters::aws_reads`, no S3 or KMS
/// SDK client) answer exactly as the SDK adapters do, on one bucket and key: listings (several
/// versions per key, keys that need encoding, a delete marker, pages of 2, `after`), every
/// version's bytes, `NotFound` for a missing key or version, and the signing key's public key.
#[tokio::test]
async fn signed_reads_answer_as_the_sdk_adapters_do() {
    use shared::adapters::aws_reads::{AwsReads, KmsKeyReads, S3Reads};
    use shared::adapters::kms::KmsPublicKeys;

    let stack = VaultStack::new().await;
    let vault = stack.vault();
    let until = days_from_now(1);
    let keys = [
        "checkpoints/a.txt",
        "checkpoints/a.txt",
        "checkpoints/b c+d&e=f.txt",
        "checkpoints/ünïcode/ß.txt",
        "checkpoints/a.txt",
        "checkpoints/z.txt",
        "other/x.txt",
    ];
    for (n, key) in keys.iter().enumerate() {
        vault
            .put_locked(key, format!("body {n}").into_bytes(), "text/plain", until)
            .await
            .unwrap();
    }
    // A delete marker over the newest version: not a version, listed by neither adapter.
    stack
        .s3()
        .delete_object()
        .bucket(stack.bucket())
        .key("checkpoints/z.txt")
        .send()
        .await
        .unwrap();

    let aws = AwsReads::new(
        stack.sdk.credentials_provider(),
        stack.sdk.region().map(|region| region.as_ref()),
        stack.sdk.endpoint_url(),
    )
    .unwrap();
    let reads = S3Reads::new(aws.clone(), stack.bucket()).with_page_size(2);
    let expected = vault.list_versions("checkpoints/").await.unwrap();
    assert_eq!(expected.len(), 6, "{expected:?}");
    assert_eq!(reads.list_versions("checkpoints/").await.unwrap(), expected);
    assert_eq!(
        reads
            .list_versions_after("checkpoints/", "checkpoints/a.txt")
            .await
            .unwrap(),
        vault
            .list_versions_after("checkpoints/", "checkpoints/a.txt")
            .await
            .unwrap()
    );
    assert!(reads.list_versions("nothing/").await.unwrap().is_empty());
    for version in &expected {
        assert_eq!(
            reads
                .get_version(&version.key, &version.version_id)
                .await
                .unwrap(),
            vault
                .get_version(&version.key, &version.version_id)
                .await
                .unwrap(),
            "{version:?}"
        );
    }
    let missing_key = reads
        .get_version("checkpoints/missing.txt", &expected[0].version_id)
        .await
        .unwrap_err();
    assert!(
        matches!(missing_key, VaultError::NotFound { ref key, .. } if key == "checkpoints/missing.txt"),
        "{missing_key:?}"
    );
    let missing_version = reads
        .get_version(&expected[0].key, &expected[5].version_id)
        .await
        .unwrap_err();
    assert!(
        matches!(missing_version, VaultError::NotFound { .. }),
        "{missing_version:?}"
    );

    let keys = KmsKeyReads::new(aws);
    assert_eq!(
        keys.public_key(stack.key_arn()).await.unwrap(),
        KmsPublicKeys::new(stack.kms())
            .public_key(stack.key_arn())
            .await
            .unwrap()
    );
    let unknown = format!("{}-unknown", stack.key_arn());
    assert!(keys.public_key(&unknown).await.is_err());
}
