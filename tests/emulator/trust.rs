//! Red team against the trust anchors, through the real adapters on the emulator: an insider
//! with full DynamoDB rights and s3:PutObject on the vault rewrites checkpointed history,
//! recomputes every later hash and claim, and plants a checkpoint of the forged state — unsigned,
//! signed by another KMS key of the account, or signed by the real key for another log. Each is
//! caught with the chain index and the planted object's key named; planted junk is a finding that
//! never stops monitoring, until an operator acknowledges it.

use shared::adapters::dynamodb::{DynamoAuditSink, claim_item, entry_item};
use shared::adapters::kms::KmsSigner;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::acknowledge::Acknowledger;
use shared::app::sweep::{SweepMode, SweepStatus, TRUSTED_KEY_PREFIX};
use shared::domain::audit::AuditEventType;
use shared::domain::checkpoint::{
    Checkpoint, LeavesRef, Signature, SignedCheckpoint, encode_leaves, leaves_key, object_key,
};
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::StoredEntry;
use shared::domain::hash::Hash;
use shared::domain::merkle::CompactRange;
use shared::ports::{BlobVault, Clock, PublicKeys, Signer, VaultReads};

use crate::support::audit_events;
use crate::sweep::{Ledger, failure, kinds};

#[derive(Debug, Clone, Copy)]
enum Forgery {
    Unsigned,
    AnotherKmsKey,
    WrongOrigin,
}

/// A second signing key in the same account: one the insider controls.
async fn another_kms_key(sdk: &aws_config::SdkConfig) -> String {
    let created = aws_sdk_kms::Client::new(sdk)
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .description("an insider's own key")
        .send()
        .await
        .unwrap();
    created.key_metadata().unwrap().arn().unwrap().to_owned()
}

/// Rewrites entry 3 and recomputes every later hash, link and claim, as an insider with
/// PutItem rights can; returns the forged chain.
async fn rewrite_history(ledger: &Ledger) -> Vec<StoredEntry> {
    let entries = ledger.entries().await;
    let mut forged = entries[..3].to_vec();
    let mut previous = entries[2].entry_hash;
    for (index, stored) in entries.iter().enumerate().skip(3) {
        let mut entry = stored.entry.clone();
        if index == 3 {
            entry.content.entry_price = ExactDecimal::parse("999").unwrap();
        }
        entry.previous_hash = previous;
        let sealed = StoredEntry::seal(entry);
        previous = sealed.entry_hash;
        ledger.put(entry_item(&sealed)).await;
        ledger.put(claim_item(&sealed)).await;
        forged.push(sealed);
    }
    forged
}

/// Plants a checkpoint of `forged` (with its leaf-hash file) so that it is the newest note and
/// its key matches its content. Returns its key.
async fn plant_checkpoint(ledger: &Ledger, forged: &[StoredEntry], forgery: Forgery) -> String {
    let mut range = CompactRange::new();
    for stored in forged {
        range.append(stored.entry_hash);
    }
    let leaves: Vec<Hash> = forged.iter().map(|s| s.entry_hash).collect();
    let leaves_bytes = encode_leaves(&leaves);
    let now = SystemClock.now();
    let origin = match forgery {
        Forgery::WrongOrigin => "signal-ledger:another-ledger".to_owned(),
        _ => shared::config::origin(&ledger.signals_table),
    };
    let checkpoint = Checkpoint::new(
        origin,
        range,
        forged.last().unwrap().entry_hash,
        now,
        LeavesRef {
            from: 0,
            to: forged.len() as u64,
            sha256: Hash::sha256(&leaves_bytes),
        },
    )
    .unwrap();
    let kms = aws_sdk_kms::Client::new(&ledger.sdk);
    let signature = match forgery {
        Forgery::Unsigned => Signature::Unsigned,
        Forgery::AnotherKmsKey => {
            let other = another_kms_key(&ledger.sdk).await;
            let der = KmsSigner::new(kms, &other)
                .sign(checkpoint.body().as_bytes())
                .await
                .unwrap();
            // It even names the real key: the name is only a hint.
            Signature::kms(&ledger.key_arn, der).unwrap()
        }
        Forgery::WrongOrigin => {
            let signer = KmsSigner::new(kms, &ledger.key_arn);
            let der = signer.sign(checkpoint.body().as_bytes()).await.unwrap();
            Signature::kms(&ledger.key_arn, der).unwrap()
        }
    };
    let note = SignedCheckpoint {
        checkpoint,
        signature,
    };
    let until = now.plus_days(1).unwrap();
    let vault = ledger.vault();
    vault
        .put_locked(
            &leaves_key(note.checkpoint.tree_size, &now),
            leaves_bytes,
            "text/plain",
            until,
        )
        .await
        .unwrap();
    let key = object_key(note.checkpoint.tree_size, &now);
    vault
        .put_locked(&key, note.to_text().into_bytes(), "text/plain", until)
        .await
        .unwrap();
    key
}

fn names(record: &shared::app::sweep::SweepRecord, key: &str) -> bool {
    record
        .findings
        .iter()
        .any(|f| f.kind.name() == "checkpoint_untrusted" && format!("{:?}", f.kind).contains(key))
}

#[tokio::test]
async fn a_rewritten_history_with_a_forged_checkpoint_is_caught_in_every_variant() {
    for forgery in [
        Forgery::Unsigned,
        Forgery::AnotherKmsKey,
        Forgery::WrongOrigin,
    ] {
        let ledger = Ledger::checkpointed().await;
        let forged = rewrite_history(&ledger).await;
        let planted = plant_checkpoint(&ledger, &forged, forgery).await;

        // The hourly run resumes from the last *trusted* checkpoint (size 10): the entry it
        // ends at was rewritten. The forgery is named, and nothing is signed.
        let record = failure(ledger.sweep.run(SweepMode::Incremental, "t").await);
        let found = kinds(&record);
        assert!(
            found.contains(&(9, "checkpoint_mismatch")),
            "{forgery:?}: {found:?}"
        );
        assert!(
            found.contains(&(12, "checkpoint_untrusted")),
            "{forgery:?}: {found:?}"
        );
        assert!(
            names(&record, &planted),
            "{forgery:?}: the planted key is named"
        );
        assert_eq!(
            record.checkpoint_written, None,
            "{forgery:?}: the forged state is never signed"
        );

        // The nightly run names the first rewritten entry.
        let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
        assert_eq!(
            record.first_failure().map(|f| (f.index, f.kind.name())),
            Some((3, "checkpoint_mismatch")),
            "{forgery:?}"
        );
        assert!(names(&record, &planted), "{forgery:?}");
        assert_eq!(
            record.checkpoints_checked, 2,
            "{forgery:?}: only the trusted ones"
        );
    }
}

#[tokio::test]
async fn planted_junk_never_stops_monitoring_and_is_acknowledged_on_the_record() {
    let ledger = Ledger::checkpointed().await;
    let vault = ledger.vault();
    let until = SystemClock.now().plus_days(1).unwrap();
    // Sorts after every real note; being locked, it can never be removed.
    vault
        .put_locked("checkpoints/zz.txt", b"junk".to_vec(), "text/plain", until)
        .await
        .unwrap();
    let record = failure(ledger.sweep.run(SweepMode::Incremental, "t").await);
    assert_eq!(kinds(&record), vec![(0, "unexpected_object")]);
    assert!(format!("{:?}", record.findings[0].kind).contains("checkpoints/zz.txt"));
    let written = record.checkpoint_written.clone().unwrap();
    assert!(
        written.starts_with("checkpoints/00000000000000000012-"),
        "{written}"
    );

    // An honest checkpoint is written after it, and the next run resumes from that one.
    ledger.ingest(12, 2).await;
    let record = failure(ledger.sweep.run(SweepMode::Incremental, "t").await);
    assert_eq!((record.from_index, record.tree_size), (12, 14));
    assert!(record.checkpoint_written.is_some());

    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let acknowledger = Acknowledger {
        vault: ledger.vault(),
        audit: audit.clone(),
        clock: SystemClock,
        metrics: RecordingMetrics::default(),
        retention_days: 1,
    };
    let done = acknowledger
        .acknowledge(
            "checkpoints/zz.txt",
            "junk planted during a red-team exercise; checked by two operators",
            "arn:aws:iam::123456789012:user/operator",
        )
        .await
        .unwrap();
    let protection = vault
        .protection(&done.object_key, &done.version_id)
        .await
        .unwrap();
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    let events = audit_events(&audit).await;
    let acknowledged: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == AuditEventType::FindingAcknowledged)
        .collect();
    assert_eq!(acknowledged.len(), 1);
    assert_eq!(
        acknowledged[0].actor,
        "arn:aws:iam::123456789012:user/operator"
    );

    let full = ledger.sweep.run(SweepMode::Full, "t").await.unwrap();
    assert_eq!(full.status, SweepStatus::Passed);
    assert_eq!(
        full.acknowledged.len(),
        1,
        "listed as acknowledged, not hidden"
    );
    assert_eq!(full.checkpoints_checked, 4);
}

#[tokio::test]
async fn the_trusted_key_is_recorded_and_matches_kms() {
    let ledger = Ledger::checkpointed().await;
    let record = ledger.sweep.run(SweepMode::Incremental, "t").await.unwrap();
    let public_key = KmsSigner::new(aws_sdk_kms::Client::new(&ledger.sdk), &ledger.key_arn)
        .public_key(&ledger.key_arn)
        .await
        .unwrap();
    let fingerprint = Hash::sha256(&public_key);
    assert_eq!(record.trusted_keys.len(), 1);
    assert_eq!(record.trusted_keys[0].fingerprint, fingerprint);
    let key = format!("{TRUSTED_KEY_PREFIX}{fingerprint}.der");
    let versions = ledger.vault().list_versions(&key).await.unwrap();
    assert_eq!(versions.len(), 1, "recorded once over three runs");
    let stored = ledger
        .vault()
        .get_version(&key, &versions[0].version_id)
        .await
        .unwrap();
    assert_eq!(stored, public_key);
}
