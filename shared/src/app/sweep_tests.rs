//! The integrity sweep over in-memory ports: the three modes, checkpoints, and the tamper matrix.

use super::*;
use crate::adapters::memory::{
    FixedClock, InMemoryLedger, InMemoryVault, RecordingMetrics, SoftwareSigner,
};
use crate::domain::test_support::{chain, decimal, insert_event, timestamp};
use crate::ports::{Claim, PublicKeys, VaultReads};

type Sweep = IntegritySweep<
    InMemoryLedger,
    InMemoryVault,
    SoftwareSigner,
    crate::adapters::memory::InMemoryAuditSink,
    FixedClock,
    RecordingMetrics,
>;

struct Fixture {
    ledger: InMemoryLedger,
    vault: InMemoryVault,
    clock: FixedClock,
    metrics: RecordingMetrics,
    sweep: Sweep,
    /// The chain the ledger is filled from, in order.
    source: Vec<StoredEntry>,
    appended: usize,
}

impl Fixture {
    fn new(signed: bool) -> Fixture {
        let ledger = InMemoryLedger::new();
        let vault = InMemoryVault::new();
        let clock = FixedClock::new(timestamp("2026-11-28T10:00:00Z"));
        let metrics = RecordingMetrics::default();
        let signer =
            signed.then(|| SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap());
        let settings = SweepSettings {
            retention_days: 2555,
            page_size: 3,
            trust: CheckpointTrust::new(
                "signal-ledger:test",
                signed.then_some("alias/test-signing"),
                &[],
            ),
        };
        let sweep = IntegritySweep::new(
            ledger.clone(),
            vault.clone(),
            signer,
            ledger.audit_sink(),
            clock.clone(),
            metrics.clone(),
            settings,
        )
        // These tests append entries (and their insert events) received hours before the
        // clock: a lag longer than that keeps them out of audit seals (tested in
        // `audit_seal_tests.rs`), as the real lag keeps in-flight writes out.
        .with_audit_seal_lag(30 * 86_400);
        Fixture {
            ledger,
            vault,
            clock,
            metrics,
            sweep,
            source: chain(40),
            appended: 0,
        }
    }

    /// Appends the next `count` entries of the source chain, as the ingest protocol would.
    async fn append(&mut self, count: usize) {
        for stored in &self.source[self.appended..self.appended + count] {
            self.ledger
                .append(stored, &insert_event(stored))
                .await
                .unwrap();
        }
        self.appended += count;
    }

    /// Runs a sweep an hour after the previous one.
    async fn run(&self, mode: SweepMode) -> Result<SweepRecord, SweepError> {
        let now = self.clock.now();
        self.clock
            .set(Timestamp::from_datetime(now.as_datetime() + time::Duration::hours(1)).unwrap());
        self.sweep.run(mode, "test-request").await
    }

    fn checkpoint_keys(&self) -> Vec<String> {
        self.vault
            .keys()
            .into_iter()
            .filter(|k| k.ends_with(".txt") && k.starts_with(CHECKPOINT_PREFIX))
            .collect()
    }

    /// Checkpoints at sizes 4 and 8 (init, then incremental), then 2 more entries unchecked.
    async fn checkpointed() -> Fixture {
        let mut fixture = Fixture::new(true);
        fixture.append(4).await;
        fixture.run(SweepMode::Init).await.unwrap();
        fixture.append(4).await;
        fixture.run(SweepMode::Incremental).await.unwrap();
        fixture.append(2).await;
        fixture
    }
}

fn failure(result: Result<SweepRecord, SweepError>) -> SweepRecord {
    match result {
        Err(SweepError::Failed(record)) => *record,
        other => panic!("expected an integrity failure, got {other:?}"),
    }
}

fn kinds(record: &SweepRecord) -> Vec<(u64, &'static str)> {
    record
        .findings
        .iter()
        .map(|f| (f.index, f.kind.name()))
        .collect()
}

#[tokio::test]
async fn init_incremental_and_full_on_a_clean_ledger() {
    let mut fixture = Fixture::new(true);
    fixture.append(5).await;
    let init = fixture.run(SweepMode::Init).await.unwrap();
    assert_eq!(
        (init.status, init.tree_size, init.entries_verified),
        (SweepStatus::Passed, 5, 5)
    );
    assert_eq!(init.checkpoint_signed, Some(true));
    assert_eq!(init.signing_key_id.as_deref(), Some("alias/test-signing"));
    let leaves: Vec<Hash> = fixture.source[..5].iter().map(|e| e.entry_hash).collect();
    assert_eq!(init.root, crate::domain::merkle::root(&leaves));

    // init again changes nothing.
    let again = fixture.run(SweepMode::Init).await.unwrap();
    assert_eq!(again.status, SweepStatus::Skipped);
    assert_eq!(fixture.checkpoint_keys().len(), 1);

    fixture.append(3).await;
    let incremental = fixture.run(SweepMode::Incremental).await.unwrap();
    assert_eq!(
        (
            incremental.from_index,
            incremental.entries_verified,
            incremental.tree_size
        ),
        (5, 3, 8)
    );
    let all: Vec<Hash> = fixture.source[..8].iter().map(|e| e.entry_hash).collect();
    assert_eq!(incremental.root, crate::domain::merkle::root(&all));
    // With nothing new, incremental verifies the anchor and writes no checkpoint: the run
    // record (passed, saying so) is the proof the sweep ran, and full has nothing more to read.
    let idle = fixture.run(SweepMode::Incremental).await.unwrap();
    assert_eq!(
        (idle.status, idle.entries_verified, idle.tree_size),
        (SweepStatus::Passed, 0, 8)
    );
    assert_eq!(idle.checkpoint_written, None);
    assert_eq!(idle.checkpoints_checked, 1);
    assert_eq!(idle.root, incremental.root);
    assert_eq!(
        idle.checkpoint_signed,
        Some(true),
        "describes the latest checkpoint"
    );
    let latest = incremental.checkpoint_written.clone().unwrap();
    assert!(
        idle.message.contains("nothing appended")
            && idle.message.contains(&latest)
            && idle.message.contains("no checkpoint written"),
        "{}",
        idle.message
    );
    assert_eq!(fixture.checkpoint_keys().len(), 2);

    let full = fixture.run(SweepMode::Full).await.unwrap();
    assert_eq!(
        (full.status, full.entries_verified, full.checkpoints_checked),
        (SweepStatus::Passed, 8, 2)
    );
    assert_eq!(fixture.metrics.total(metric::INTEGRITY_VERIFIED), 5.0);
    assert_eq!(
        fixture
            .metrics
            .total(metric::INTEGRITY_FAILED_VERIFICATIONS),
        0.0
    );
    let passed = fixture
        .ledger
        .audit_events()
        .iter()
        .filter(|e| e.event_type == AuditEventType::IntegrityCheckPassed)
        .count();
    assert_eq!(passed, 5);
    // Every run left a record in the vault.
    assert_eq!(
        fixture
            .vault
            .keys()
            .iter()
            .filter(|k| k.starts_with(RUN_PREFIX))
            .count(),
        5
    );
}

#[tokio::test]
async fn the_checkpoint_is_a_verifiable_signed_note() {
    let mut fixture = Fixture::new(true);
    fixture.append(3).await;
    let record = fixture.run(SweepMode::Init).await.unwrap();
    let key = record.checkpoint_written.unwrap();
    let text = String::from_utf8(fixture.vault.latest(&key).unwrap()).unwrap();
    assert!(text.starts_with("signal-ledger:test\n3\n"), "{text}");
    let signed = SignedCheckpoint::parse(&text).unwrap();
    let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
    let public = signer.public_key("alias/test-signing").await.unwrap();
    assert!(matches!(
        signed.verify(Some(&public)),
        Ok(crate::domain::checkpoint::SignatureStatus::Verified { .. })
    ));
}

#[tokio::test]
async fn without_a_key_checkpoints_are_explicitly_unsigned() {
    let mut fixture = Fixture::new(false);
    fixture.append(2).await;
    let record = fixture.run(SweepMode::Init).await.unwrap();
    assert_eq!(record.checkpoint_signed, Some(false));
    let text = String::from_utf8(
        fixture
            .vault
            .latest(&record.checkpoint_written.unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(text.ends_with("\n\n— unsigned\n"), "{text}");
    fixture.append(1).await;
    assert_eq!(
        fixture.run(SweepMode::Incremental).await.unwrap().tree_size,
        3
    );
}

#[tokio::test]
async fn incremental_needs_a_checkpoint() {
    let fixture = Fixture::new(true);
    assert!(matches!(
        fixture.run(SweepMode::Incremental).await,
        Err(SweepError::NoCheckpoint)
    ));
    let failed = fixture
        .ledger
        .audit_events()
        .iter()
        .filter(|e| e.event_type == AuditEventType::IntegrityCheckFailed)
        .count();
    assert_eq!(failed, 1);
}

// ---- the tamper matrix ---------------------------------------------------------------------

#[tokio::test]
async fn an_edited_field_is_a_hash_mismatch() {
    let fixture = Fixture::checkpointed().await;
    fixture
        .ledger
        .tamper(|entries, _| entries.get_mut(&2).unwrap().entry.content.entry_price = decimal("1"));
    let record = failure(fixture.run(SweepMode::Full).await);
    assert_eq!(
        record.first_failure().map(|f| (f.index, f.kind.name())),
        Some((2, "hash_mismatch"))
    );
    // In the unchecked tail, incremental finds it too.
    fixture
        .ledger
        .tamper(|entries, _| entries.get_mut(&9).unwrap().entry.content.symbol = "MSFT".into());
    let record = failure(fixture.run(SweepMode::Incremental).await);
    assert_eq!(kinds(&record), vec![(9, "hash_mismatch")]);
    assert!(
        fixture
            .metrics
            .total(metric::INTEGRITY_FAILED_VERIFICATIONS)
            >= 2.0
    );
}

#[tokio::test]
async fn an_edited_and_rehashed_entry_breaks_the_next_link_and_its_claim() {
    let fixture = Fixture::checkpointed().await;
    fixture.ledger.tamper(|entries, _| {
        let stored = entries.get_mut(&9).unwrap();
        stored.entry.content.rationale.push_str(" (edited)");
        stored.entry_hash = stored.entry.compute_hash();
    });
    let record = failure(fixture.run(SweepMode::Incremental).await);
    assert_eq!(kinds(&record), vec![(9, "claim_mismatch")]);
    fixture.ledger.tamper(|entries, _| {
        let stored = entries.get_mut(&5).unwrap();
        stored.entry.content.rationale.push_str(" (edited)");
        stored.entry_hash = stored.entry.compute_hash();
    });
    let record = failure(fixture.run(SweepMode::Full).await);
    let found = kinds(&record);
    assert_eq!(found[0], (5, "checkpoint_mismatch"));
    assert!(
        found.contains(&(6, "broken_link")) && found.contains(&(5, "claim_mismatch")),
        "{found:?}"
    );
}

/// The insider edits entry 5 and recomputes every later hash, link and claim: the chain and the
/// claims are consistent again.
fn rewrite_history_from_5(fixture: &Fixture) {
    fixture.ledger.tamper(|entries, claims| {
        let mut previous = entries[&4].entry_hash;
        for index in 5..10 {
            let stored = entries.get_mut(&index).unwrap();
            if index == 5 {
                stored.entry.content.entry_price = decimal("999");
            }
            stored.entry.previous_hash = previous;
            stored.entry_hash = stored.entry.compute_hash();
            previous = stored.entry_hash;
            claims.insert(
                stored.entry.signal_id.clone(),
                Claim {
                    chain_index: index,
                    entry_hash: stored.entry_hash,
                },
            );
        }
    });
}

#[tokio::test]
async fn a_rewritten_history_is_caught_by_the_checkpoints() {
    let fixture = Fixture::checkpointed().await;
    rewrite_history_from_5(&fixture);
    let record = failure(fixture.run(SweepMode::Full).await);
    assert_eq!(
        record.first_failure().map(|f| (f.index, f.kind.name())),
        Some((5, "checkpoint_mismatch"))
    );
    assert!(
        record
            .findings
            .iter()
            .all(|f| f.kind.name() == "checkpoint_mismatch"),
        "{:?}",
        kinds(&record)
    );
    // Incremental sees it too when the checkpoint's own last entry was rewritten.
    let record = failure(fixture.run(SweepMode::Incremental).await);
    assert_eq!(
        kinds(&record),
        vec![(7, "checkpoint_mismatch"), (8, "broken_link")]
    );
}

#[tokio::test]
async fn a_deleted_entry_is_a_gap() {
    let fixture = Fixture::checkpointed().await;
    fixture.ledger.tamper(|entries, _| drop(entries.remove(&3)));
    let record = failure(fixture.run(SweepMode::Full).await);
    assert_eq!(record.first_failure().map(|f| f.index), Some(3));
    assert!(kinds(&record).contains(&(3, "gap")), "{:?}", kinds(&record));
}

#[tokio::test]
async fn swapped_entries_are_found_at_the_first() {
    let fixture = Fixture::checkpointed().await;
    fixture.ledger.tamper(|entries, _| {
        let (a, b) = (entries[&2].clone(), entries[&6].clone());
        entries.insert(2, b);
        entries.insert(6, a);
    });
    let record = failure(fixture.run(SweepMode::Full).await);
    assert_eq!(record.first_failure().map(|f| f.index), Some(2));
}

#[tokio::test]
async fn a_tail_truncated_below_the_checkpoint_is_found() {
    let fixture = Fixture::checkpointed().await;
    fixture
        .ledger
        .tamper(|entries, _| entries.retain(|index, _| *index < 6));
    let record = failure(fixture.run(SweepMode::Incremental).await);
    assert_eq!(kinds(&record), vec![(6, "truncated")]);
    let record = failure(fixture.run(SweepMode::Full).await);
    assert_eq!(kinds(&record), vec![(6, "truncated")]);
}

#[tokio::test]
async fn a_forged_entry_at_the_head_has_no_claim() {
    let fixture = Fixture::checkpointed().await;
    // A well-formed entry, linked and hashed correctly, written straight into the table.
    let mut forged = fixture.source[10].clone();
    forged.entry.previous_hash = fixture.source[9].entry_hash;
    forged.entry_hash = forged.entry.compute_hash();
    fixture
        .ledger
        .tamper(|entries, _| drop(entries.insert(10, forged)));
    let record = failure(fixture.run(SweepMode::Incremental).await);
    assert_eq!(kinds(&record), vec![(10, "claim_missing")]);
}

#[tokio::test]
async fn an_overwritten_checkpoint_is_found_and_the_original_still_used() {
    let fixture = Fixture::checkpointed().await;
    let keys = fixture.checkpoint_keys();
    fixture
        .vault
        .overwrite(&keys[0], b"forged checkpoint".to_vec());
    let record = failure(fixture.run(SweepMode::Full).await);
    assert_eq!(kinds(&record), vec![(4, "checkpoint_overwritten")]);
    assert_eq!(
        record.checkpoints_checked, 2,
        "the original versions are still read and checked"
    );
}

/// How an insider forges the next checkpoint.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    /// A bit of the real key's signature flipped.
    BadSignature,
    /// Signed by a key of the insider's own that names itself like the real one.
    OtherKey,
    /// The explicit unsigned marker, although a signing key is configured.
    Unsigned,
    /// Signed by the real key (say, through a compromised signer) but for another log.
    WrongOrigin,
}

impl Fixture {
    /// Stores a forged note for the latest honest checkpoint's tree under a later time, so it is
    /// the newest note in the vault and its key matches its content. Returns its key.
    async fn forge(&self, forgery: Forgery) -> String {
        let keys = self.checkpoint_keys();
        let text = String::from_utf8(self.vault.latest(keys.last().unwrap()).unwrap()).unwrap();
        let mut checkpoint = SignedCheckpoint::parse(&text).unwrap().checkpoint;
        checkpoint.time = timestamp("2099-01-01T00:00:00Z");
        let real = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
        let insider = SoftwareSigner::from_secret("alias/test-signing", [9; 32]).unwrap();
        let sign = |signer: &SoftwareSigner, checkpoint: &Checkpoint| {
            let body = checkpoint.body();
            let signer = signer.clone();
            async move { signer.sign(body.as_bytes()).await.unwrap() }
        };
        let signature = match forgery {
            Forgery::BadSignature => {
                let mut der = sign(&real, &checkpoint).await;
                let last = der.len() - 1;
                der[last] ^= 1;
                Signature::kms("alias/test-signing", der).unwrap()
            }
            Forgery::OtherKey => {
                Signature::kms("alias/test-signing", sign(&insider, &checkpoint).await).unwrap()
            }
            Forgery::Unsigned => Signature::Unsigned,
            Forgery::WrongOrigin => {
                checkpoint.origin = "signal-ledger:other".into();
                Signature::kms("alias/test-signing", sign(&real, &checkpoint).await).unwrap()
            }
        };
        let key = object_key(checkpoint.tree_size, &checkpoint.time);
        let note = SignedCheckpoint {
            checkpoint,
            signature,
        };
        self.vault
            .put_locked(
                &key,
                note.to_text().into_bytes(),
                "text/plain",
                timestamp("2100-01-01T00:00:00Z"),
            )
            .await
            .unwrap();
        key
    }
}

#[tokio::test]
async fn a_forged_checkpoint_never_counts_and_monitoring_goes_on() {
    for forgery in [
        Forgery::BadSignature,
        Forgery::OtherKey,
        Forgery::Unsigned,
        Forgery::WrongOrigin,
    ] {
        let fixture = Fixture::checkpointed().await;
        let forged = fixture.forge(forgery).await;
        // Incremental passes the forgery over (a finding naming its key), resumes from the
        // honest checkpoint at size 8, and still writes an honest checkpoint at size 10.
        let record = failure(fixture.run(SweepMode::Incremental).await);
        assert_eq!(
            kinds(&record),
            vec![(8, "checkpoint_untrusted")],
            "{forgery:?}"
        );
        assert!(
            format!("{:?}", record.findings[0].kind).contains(&forged),
            "{forgery:?}"
        );
        assert_eq!(record.from_index, 8, "{forgery:?}");
        let written = record
            .checkpoint_written
            .clone()
            .expect("an honest checkpoint");
        assert!(written.starts_with("checkpoints/00000000000000000010-"));
        assert_eq!(record.trusted_keys.len(), 1);
        // The honest checkpoint is signed by the real key and verifies.
        let text = String::from_utf8(fixture.vault.latest(&written).unwrap()).unwrap();
        let trust = fixture
            .sweep
            .settings
            .trust
            .resolve(fixture.sweep.signer.as_ref())
            .await
            .unwrap();
        assert!(
            trust
                .check(&SignedCheckpoint::parse(&text).unwrap())
                .is_trusted()
        );
        // Full keeps reporting the forgery, and every trusted checkpoint still matches.
        let record = failure(fixture.run(SweepMode::Full).await);
        assert_eq!(
            kinds(&record),
            vec![(8, "checkpoint_untrusted")],
            "{forgery:?}"
        );
        assert_eq!(record.checkpoints_checked, 3);
    }
}

#[tokio::test]
async fn a_rewrite_with_a_forged_checkpoint_is_caught_by_incremental() {
    let fixture = Fixture::checkpointed().await;
    // The rewrite, plus a checkpoint of the forged state signed by a key of the insider's own.
    rewrite_history_from_5(&fixture);
    fixture.forge(Forgery::OtherKey).await;
    let record = failure(fixture.run(SweepMode::Incremental).await);
    let found = kinds(&record);
    assert!(found.contains(&(7, "checkpoint_mismatch")), "{found:?}");
    assert!(found.contains(&(8, "checkpoint_untrusted")), "{found:?}");
    assert!(
        record.checkpoint_written.is_none(),
        "never sign a forged state"
    );
}

#[tokio::test]
async fn planted_junk_is_a_finding_until_acknowledged_and_never_stops_monitoring() {
    use crate::app::acknowledge::Acknowledger;
    let mut fixture = Fixture::checkpointed().await;
    let until = timestamp("2100-01-01T00:00:00Z");
    // Junk that sorts after every real note, and a stray object that is not a checkpoint key.
    for key in ["checkpoints/zz.txt", "checkpoints/readme"] {
        fixture
            .vault
            .put_locked(key, b"junk".to_vec(), "text/plain", until)
            .await
            .unwrap();
    }
    let record = failure(fixture.run(SweepMode::Incremental).await);
    assert_eq!(
        kinds(&record),
        vec![(0, "unexpected_object"), (0, "unexpected_object")]
    );
    assert!(record.checkpoint_written.is_some(), "monitoring goes on");
    fixture.append(2).await;
    let record = failure(fixture.run(SweepMode::Incremental).await);
    assert_eq!(
        record.tree_size, 12,
        "the next run resumed from the honest checkpoint"
    );

    let acknowledger = Acknowledger {
        vault: fixture.vault.clone(),
        audit: fixture.ledger.audit_sink(),
        clock: fixture.clock.clone(),
        metrics: fixture.metrics.clone(),
        retention_days: 2555,
    };
    for key in ["checkpoints/zz.txt", "checkpoints/readme"] {
        acknowledger
            .acknowledge(
                key,
                "planted by a test; cannot be removed",
                "arn:aws:iam::1:user/ops",
            )
            .await
            .unwrap();
    }
    assert!(matches!(
        acknowledger
            .acknowledge("checkpoints/zz.txt", "planted by a test; again", "ops")
            .await,
        Err(crate::app::acknowledge::AcknowledgeError::AlreadyAcknowledged { .. })
    ));
    let acknowledgements: Vec<_> = fixture
        .ledger
        .audit_events()
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::FindingAcknowledged)
        .collect();
    assert_eq!(acknowledgements.len(), 2);
    assert_eq!(acknowledgements[0].actor, "arn:aws:iam::1:user/ops");

    let record = fixture.run(SweepMode::Full).await.unwrap();
    assert_eq!(record.status, SweepStatus::Passed);
    assert_eq!(record.acknowledged.len(), 2, "listed, not hidden");
    let record = fixture.run(SweepMode::Incremental).await.unwrap();
    assert_eq!(record.acknowledged.len(), 2);

    // An acknowledgement names one version: a new object is a new finding.
    fixture
        .vault
        .put_locked("checkpoints/zzz.txt", b"more".to_vec(), "text/plain", until)
        .await
        .unwrap();
    let record = failure(fixture.run(SweepMode::Full).await);
    assert_eq!(kinds(&record), vec![(0, "unexpected_object")]);
}

#[tokio::test]
async fn the_trusted_keys_are_recorded_once_by_fingerprint() {
    let fixture = Fixture::checkpointed().await;
    fixture.run(SweepMode::Incremental).await.unwrap();
    let recorded: Vec<String> = fixture
        .vault
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(TRUSTED_KEY_PREFIX))
        .collect();
    let public_key = SoftwareSigner::from_secret("alias/test-signing", [7; 32])
        .unwrap()
        .public_key("alias/test-signing")
        .await
        .unwrap();
    assert_eq!(
        recorded,
        vec![format!(
            "{TRUSTED_KEY_PREFIX}{}.der",
            Hash::sha256(&public_key)
        )]
    );
    assert_eq!(fixture.vault.latest(&recorded[0]).unwrap(), public_key);
    assert_eq!(
        fixture
            .vault
            .list_versions(&recorded[0])
            .await
            .unwrap()
            .len(),
        1,
        "written once, not every run"
    );
}

#[tokio::test]
async fn a_sweep_audit_event_that_cannot_be_written_is_counted() {
    use crate::app::ingest::metric::AUDIT_WRITE_ERRORS;
    let mut fixture = Fixture::new(true);
    fixture.append(4).await;
    fixture.ledger.fail_audit_writes(true);
    // A passing run: its IntegrityCheckPassed event is lost, and counted.
    fixture.run(SweepMode::Init).await.unwrap();
    assert_eq!(fixture.metrics.total(AUDIT_WRITE_ERRORS), 1.0);
    // A run that cannot start: its IntegrityCheckFailed event is lost, and counted.
    let empty = Fixture::new(true);
    empty.ledger.fail_audit_writes(true);
    assert!(matches!(
        empty.run(SweepMode::Incremental).await,
        Err(SweepError::NoCheckpoint)
    ));
    assert_eq!(empty.metrics.total(AUDIT_WRITE_ERRORS), 1.0);
    assert!(empty.ledger.audit_events().is_empty());
}

/// A signer that counts public-key lookups (KMS `GetPublicKey` calls in production).
#[derive(Debug, Clone)]
struct CountingSigner {
    inner: SoftwareSigner,
    lookups: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Signer for CountingSigner {
    fn key_id(&self) -> &str {
        self.inner.key_id()
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.inner.sign(message).await
    }
}

impl PublicKeys for CountingSigner {
    async fn public_key(&self, key_id: &str) -> Result<Vec<u8>, SignError> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.public_key(key_id).await
    }
}

#[tokio::test]
async fn public_keys_are_fetched_once_per_run_however_many_checkpoints() {
    let mut fixture = Fixture::new(true);
    fixture.append(2).await;
    fixture.run(SweepMode::Init).await.unwrap();
    for _ in 0..6 {
        fixture.append(2).await;
        fixture.run(SweepMode::Incremental).await.unwrap();
    }
    let signer = CountingSigner {
        inner: SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap(),
        lookups: Default::default(),
    };
    let counted = IntegritySweep::new(
        fixture.ledger.clone(),
        fixture.vault.clone(),
        Some(signer.clone()),
        fixture.ledger.audit_sink(),
        fixture.clock.clone(),
        fixture.metrics.clone(),
        fixture.sweep.settings.clone(),
    );
    let full = counted.run(SweepMode::Full, "t").await.unwrap();
    assert_eq!(full.checkpoints_checked, 7);
    assert_eq!(
        signer.lookups.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one trusted key, one lookup for the whole run"
    );
    fixture.append(2).await;
    counted.run(SweepMode::Incremental, "t").await.unwrap();
    assert_eq!(signer.lookups.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_idle_run_writes_no_checkpoint_but_still_checks_the_anchor() {
    let mut fixture = Fixture::checkpointed().await;
    fixture.run(SweepMode::Incremental).await.unwrap();
    let before = fixture.checkpoint_keys();
    assert_eq!(before.len(), 3);
    // Idle: passed, nothing written.
    let idle = fixture.run(SweepMode::Incremental).await.unwrap();
    assert_eq!(
        (idle.status, idle.checkpoint_written),
        (SweepStatus::Passed, None)
    );
    assert_eq!(fixture.checkpoint_keys(), before);
    // The next append gets its checkpoint, resuming from the last one written.
    fixture.append(1).await;
    let grown = fixture.run(SweepMode::Incremental).await.unwrap();
    assert_eq!((grown.from_index, grown.tree_size), (10, 11));
    assert!(grown.checkpoint_written.is_some());
    // Idle again, but the entry the checkpoint ends at was rewritten: a finding, no checkpoint.
    fixture.ledger.tamper(|entries, _| {
        entries.get_mut(&10).unwrap().entry.content.entry_price = decimal("1");
    });
    let record = failure(fixture.run(SweepMode::Incremental).await);
    assert_eq!(kinds(&record), vec![(10, "checkpoint_mismatch")]);
    assert_eq!(record.checkpoint_written, None);
}

#[tokio::test]
async fn concurrent_vault_reads_give_the_sequential_results_and_findings() {
    let mut fixture = Fixture::new(true);
    fixture.append(2).await;
    fixture.run(SweepMode::Init).await.unwrap();
    for _ in 0..11 {
        fixture.append(2).await;
        fixture.run(SweepMode::Incremental).await.unwrap();
    }
    // Everything the walk can meet: a rewrite across several checkpoints, planted junk, a
    // forged note, an overwritten note, and a trusted note whose leaf-hash file is missing.
    rewrite_history_from_5(&fixture);
    fixture.forge(Forgery::OtherKey).await;
    let until = timestamp("2100-01-01T00:00:00Z");
    fixture
        .vault
        .put_locked("checkpoints/zz.txt", b"junk".to_vec(), "text/plain", until)
        .await
        .unwrap();
    let keys = fixture.checkpoint_keys();
    fixture.vault.overwrite(&keys[3], b"overwritten".to_vec());
    let text = String::from_utf8(fixture.vault.latest(&keys[5]).unwrap()).unwrap();
    let mut checkpoint = SignedCheckpoint::parse(&text).unwrap().checkpoint;
    checkpoint.time = timestamp("2026-11-28T10:30:00Z");
    let real = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
    let der = real.sign(checkpoint.body().as_bytes()).await.unwrap();
    let key = object_key(checkpoint.tree_size, &checkpoint.time);
    let without_leaves = SignedCheckpoint {
        checkpoint,
        signature: Signature::kms("alias/test-signing", der).unwrap(),
    };
    fixture
        .vault
        .put_locked(
            &key,
            without_leaves.to_text().into_bytes(),
            "text/plain",
            until,
        )
        .await
        .unwrap();

    fixture.sweep.reads_in_flight = ReadsInFlight {
        notes: 1,
        leaf_files: 1,
        seals: 1,
    };
    let sequential = failure(fixture.run(SweepMode::Full).await);
    let found = kinds(&sequential);
    for kind in [
        "checkpoint_mismatch",
        "checkpoint_invalid",
        "checkpoint_untrusted",
        "checkpoint_overwritten",
        "unexpected_object",
    ] {
        assert!(found.iter().any(|(_, k)| *k == kind), "{kind}: {found:?}");
    }

    fixture.vault.complete_reads_out_of_order();
    fixture.sweep.reads_in_flight = ReadsInFlight {
        notes: NOTE_READS_IN_FLIGHT,
        leaf_files: LEAF_FILE_READS_IN_FLIGHT,
        seals: audit_seal::SEAL_READS_IN_FLIGHT,
    };
    let concurrent = failure(fixture.run(SweepMode::Full).await);
    let outcome = |r: &SweepRecord| {
        (
            r.status,
            r.tree_size,
            r.root,
            r.head_hash,
            r.checkpoints_checked,
            r.findings_total,
            r.findings.clone(),
            r.acknowledged.clone(),
            r.signing_key_id.clone(),
            // Each run is a pass of its own: the same message but for the pass id.
            r.message
                .replace(&r.full_pass.as_ref().unwrap().pass_id, "<pass>"),
        )
    };
    assert_eq!(outcome(&concurrent), outcome(&sequential));
}

#[path = "sweep_full_pass_tests.rs"]
mod full_pass;
