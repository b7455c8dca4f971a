//! The sealed audit log through the integrity sweep over in-memory ports: sealing with the lag,
//! the chain of seals, and every tampering `full` must name.

use crate::adapters::memory::{
    FixedClock, InMemoryAuditSink, InMemoryLedger, InMemoryVault, RecordingMetrics, SoftwareSigner,
};
use crate::app::sweep::{
    IntegritySweep, SweepError, SweepMode, SweepRecord, SweepSettings, SweepStatus,
};
use crate::app::vault::CheckpointTrust;
use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::audit_seal::{AuditKey, SEAL_PREFIX, SignedSeal};
use crate::domain::chain::FindingKind;
use crate::domain::test_support::timestamp;
use crate::domain::timestamp::Timestamp;
use crate::ports::{AuditSink, Clock, Metric};

type Sweep = IntegritySweep<
    InMemoryLedger,
    InMemoryVault,
    SoftwareSigner,
    InMemoryAuditSink,
    FixedClock,
    RecordingMetrics,
>;

struct Fixture {
    ledger: InMemoryLedger,
    vault: InMemoryVault,
    clock: FixedClock,
    metrics: RecordingMetrics,
    sweep: Sweep,
    written: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let ledger = InMemoryLedger::new();
        let vault = InMemoryVault::new();
        let clock = FixedClock::new(timestamp("2026-11-28T10:00:00Z"));
        let metrics = RecordingMetrics::default();
        let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
        let sweep = IntegritySweep::new(
            ledger.clone(),
            vault.clone(),
            Some(signer),
            ledger.audit_sink(),
            clock.clone(),
            metrics.clone(),
            SweepSettings {
                retention_days: 2555,
                page_size: 10,
                trust: CheckpointTrust::new("signal-ledger:test", Some("alias/test-signing"), &[]),
            },
        );
        Fixture {
            ledger,
            vault,
            clock,
            metrics,
            sweep,
            written: 0,
        }
    }

    /// Records `count` refusals now, a second apart (as ingest would, at the clock's time).
    async fn events(&mut self, count: u64) {
        for _ in 0..count {
            self.written += 1;
            let now = self.clock.now();
            let event = AuditEvent {
                event_id: format!("e-{:04}", self.written),
                occurred_at: now,
                event_type: AuditEventType::DeleteAttempt,
                actor: "arn:aws:iam::123456789012:user/alice".into(),
                request_id: format!("req-{}", self.written),
                signal_id: Some(format!("sig-{}", self.written)),
                chain_index: None,
                reason: Some("signals are immutable".into()),
                excerpt: None,
                details: serde_json::json!({"method": "DELETE", "status": 405}),
            };
            self.ledger.audit_sink().record(&event).await.unwrap();
            self.advance(1);
        }
    }

    fn advance(&self, seconds: i64) {
        let now = self.clock.now();
        self.clock.set(
            Timestamp::from_datetime(now.as_datetime() + time::Duration::seconds(seconds)).unwrap(),
        );
    }

    async fn run(&self, mode: SweepMode) -> Result<SweepRecord, SweepError> {
        self.advance(3600);
        self.sweep.run(mode, "test-request").await
    }

    fn seal_keys(&self) -> Vec<String> {
        self.vault
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(SEAL_PREFIX) && k.ends_with(".txt"))
            .collect()
    }

    fn seal(&self, key: &str) -> SignedSeal {
        SignedSeal::parse(&String::from_utf8(self.vault.latest(key).unwrap()).unwrap()).unwrap()
    }

    /// Three seals (init, incremental, incremental), each over the events before it.
    async fn sealed() -> Fixture {
        let mut fixture = Fixture::new();
        fixture.events(3).await;
        fixture.run(SweepMode::Init).await.unwrap();
        fixture.events(2).await;
        fixture.run(SweepMode::Incremental).await.unwrap();
        fixture.events(2).await;
        fixture.run(SweepMode::Incremental).await.unwrap();
        fixture
    }

    fn event_key(&self, id: &str) -> AuditKey {
        let event = self
            .ledger
            .audit_events()
            .into_iter()
            .find(|e| e.event_id == id)
            .unwrap();
        AuditKey::of(&event)
    }
}

fn failure(result: Result<SweepRecord, SweepError>) -> SweepRecord {
    match result {
        Err(SweepError::Failed(record)) => *record,
        other => panic!("expected an integrity failure, got {other:?}"),
    }
}

#[tokio::test]
async fn every_mode_seals_what_is_older_than_the_lag_and_a_clean_log_passes() {
    let fixture = Fixture::sealed().await;
    let keys = fixture.seal_keys();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let seals: Vec<SignedSeal> = keys.iter().map(|k| fixture.seal(k)).collect();
    assert_eq!(
        seals.iter().map(|s| s.seal.seq).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    // Each seal starts where the one before ended and names its digest.
    for pair in seals.windows(2) {
        assert_eq!(pair[1].seal.from, pair[0].seal.to);
        assert_eq!(pair[1].seal.previous, pair[0].seal.digest());
    }
    // Seal 0 starts at the start of the first day; each ends 300 s before its sweep.
    assert_eq!(seals[0].seal.from, timestamp("2026-11-28T00:00:00Z"));
    assert_eq!(seals[0].seal.count, 3);
    // Seal 1: the two refusals, plus the init run's own audit event (written at its sweep).
    assert_eq!(seals[1].seal.count, 3);
    assert!(
        keys.iter()
            .all(|k| fixture.vault.keys().contains(&k.replace(".txt", ".events")))
    );

    let full = fixture.run(SweepMode::Full).await.unwrap();
    assert_eq!(full.status, SweepStatus::Passed, "{:?}", full.findings);
    assert!(
        full.message.contains("3 seal(s) re-verified"),
        "{}",
        full.message
    );
    // full seals too: the window since the last seal.
    assert_eq!(fixture.seal_keys().len(), 4);
    // A full run right after seals nothing new (the only new event is younger than the lag).
    fixture.advance(10);
    let again = fixture.sweep.run(SweepMode::Full, "r").await.unwrap();
    assert_eq!(again.status, SweepStatus::Passed);
    assert_eq!(fixture.seal_keys().len(), 4);
}

#[tokio::test]
async fn events_younger_than_the_lag_wait_for_the_next_seal() {
    let mut fixture = Fixture::new();
    fixture.events(2).await;
    fixture.advance(3600);
    // Written 100 s before the sweep: inside the 300-s window, not sealed yet.
    fixture.events(1).await;
    fixture.advance(99);
    fixture.sweep.run(SweepMode::Init, "r").await.unwrap();
    let first = fixture.seal(&fixture.seal_keys()[0]);
    assert_eq!(first.seal.count, 2);
    fixture.run(SweepMode::Incremental).await.unwrap();
    let second = fixture.seal(&fixture.seal_keys()[1]);
    // The late one, and the init run's own event.
    assert_eq!(second.seal.count, 2);
}

#[tokio::test]
async fn an_overwritten_event_in_a_sealed_window_is_named_by_full() {
    let fixture = Fixture::sealed().await;
    let target = fixture.event_key("e-0002");
    fixture.ledger.tamper_audit(|events| {
        let event = events.iter_mut().find(|e| e.event_id == "e-0002").unwrap();
        event.actor = "arn:aws:iam::123456789012:user/mallory".into();
    });
    // incremental does not re-read sealed windows; full does.
    fixture.run(SweepMode::Incremental).await.unwrap();
    let record = failure(fixture.run(SweepMode::Full).await);
    assert_eq!(record.status, SweepStatus::Failed);
    assert_eq!(record.findings_total, 1, "{:?}", record.findings);
    match &record.findings[0].kind {
        FindingKind::AuditEventChanged { seal, pk, sk, .. } => {
            assert_eq!((pk, sk), (&target.pk, &target.sk));
            assert!(seal.starts_with(&format!("{SEAL_PREFIX}00000000000000000000-")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(record.findings[0].index, 0);
    // Failed like a checkpoint finding: audited and counted.
    let audited = fixture.ledger.audit_events();
    let last = audited.last().unwrap();
    assert_eq!(last.event_type, AuditEventType::IntegrityCheckFailed);
    assert!(
        last.reason
            .as_ref()
            .unwrap()
            .contains("audit_event_changed")
    );
    assert!(fixture.metrics.recorded().iter().any(|m: &Metric| {
        m.name == crate::app::sweep::metric::INTEGRITY_FAILED_VERIFICATIONS && m.value >= 1.0
    }));
}

#[tokio::test]
async fn a_removed_and_an_inserted_event_are_named() {
    let fixture = Fixture::sealed().await;
    let removed = fixture.event_key("e-0004");
    let mut inserted = fixture
        .ledger
        .audit_events()
        .into_iter()
        .find(|e| e.event_id == "e-0001")
        .unwrap();
    inserted.event_id = "e-planted".into();
    inserted.actor = "someone who was never there".into();
    let inserted_key = AuditKey::of(&inserted);
    fixture.ledger.tamper_audit(|events| {
        events.retain(|e| e.event_id != "e-0004");
        events.push(inserted);
    });
    let record = failure(fixture.run(SweepMode::Full).await);
    let named: Vec<(&str, String, String)> = record
        .findings
        .iter()
        .map(|f| match &f.kind {
            FindingKind::AuditEventMissing { pk, sk, .. } => ("missing", pk.clone(), sk.clone()),
            FindingKind::AuditEventAdded { pk, sk, .. } => ("added", pk.clone(), sk.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        named,
        [
            ("added", inserted_key.pk, inserted_key.sk),
            ("missing", removed.pk, removed.sk),
        ]
    );
}

#[tokio::test]
async fn an_event_backdated_before_the_first_seal_is_named() {
    let fixture = Fixture::sealed().await;
    let mut backdated = fixture.ledger.audit_events()[0].clone();
    backdated.event_id = "e-backdated".into();
    // Seal 0 starts at 2026-11-28T00:00Z; `full` reads the seven days before it.
    backdated.occurred_at = timestamp("2026-11-21T08:00:00Z");
    let key = AuditKey::of(&backdated);
    fixture.ledger.tamper_audit(|events| events.push(backdated));
    let record = failure(fixture.run(SweepMode::Full).await);
    assert!(
        record.findings.iter().any(|f| matches!(
            &f.kind,
            FindingKind::AuditEventAdded { pk, sk, .. } if *pk == key.pk && *sk == key.sk
        )),
        "{:?}",
        record.findings
    );
}

#[tokio::test]
async fn a_forged_or_planted_seal_is_a_finding_and_sealing_goes_on() {
    let fixture = Fixture::sealed().await;
    // A forgery of the next seal, unsigned, and a junk object.
    let latest = fixture.seal(fixture.seal_keys().last().unwrap());
    let mut forged = latest.clone();
    forged.seal.seq += 1;
    forged.seal.previous = latest.seal.digest();
    forged.seal.from = latest.seal.to;
    forged.seal.to = fixture.clock.now();
    forged.signature = crate::domain::checkpoint::Signature::Unsigned;
    let forged_key = crate::domain::audit_seal::seal_key(forged.seal.seq, &forged.seal.time);
    use crate::ports::BlobVault;
    let until = timestamp("2030-01-01T00:00:00Z");
    fixture
        .vault
        .put_locked(
            &forged_key,
            forged.to_text().into_bytes(),
            "text/plain",
            until,
        )
        .await
        .unwrap();
    fixture
        .vault
        .put_locked(
            &format!("{SEAL_PREFIX}zz.txt"),
            b"junk".to_vec(),
            "text/plain",
            until,
        )
        .await
        .unwrap();
    let record = failure(fixture.run(SweepMode::Incremental).await);
    let kinds: Vec<(&str, String)> = record
        .findings
        .iter()
        .map(|f| match &f.kind {
            FindingKind::AuditSealUntrusted { seal, .. } => ("untrusted", seal.clone()),
            FindingKind::AuditSealInvalid { seal, .. } => ("invalid", seal.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        kinds.contains(&("untrusted", forged_key.clone())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("invalid", format!("{SEAL_PREFIX}zz.txt"))),
        "{kinds:?}"
    );
    // Sealing went on from the last trusted seal: the new one chains to it.
    let newest = fixture.seal(
        fixture
            .seal_keys()
            .iter()
            .rfind(|k| **k != forged_key && !k.ends_with("zz.txt"))
            .unwrap(),
    );
    assert_eq!(newest.seal.seq, latest.seal.seq + 1);
    assert_eq!(newest.seal.previous, latest.seal.digest());
    assert!(record.message.contains("sealed to"), "{}", record.message);
}

#[tokio::test]
async fn an_overwritten_seal_or_events_file_is_a_finding() {
    let fixture = Fixture::sealed().await;
    let key = fixture.seal_keys()[1].clone();
    fixture.vault.overwrite(&key, b"rewritten".to_vec());
    let events = fixture.seal_keys()[0].replace(".txt", ".events");
    fixture.vault.overwrite(&events, b"{}\n".to_vec());
    let record = failure(fixture.run(SweepMode::Full).await);
    let invalid: Vec<&String> = record
        .findings
        .iter()
        .filter_map(|f| match &f.kind {
            FindingKind::AuditSealInvalid { seal, .. } => Some(seal),
            _ => None,
        })
        .collect();
    assert!(invalid.contains(&&key), "{:?}", record.findings);
    assert!(invalid.contains(&&events), "{:?}", record.findings);
    // The originals still count: the chain is intact and nothing else is reported.
    assert_eq!(record.findings_total, 2, "{:?}", record.findings);
}

#[tokio::test]
async fn two_sweeps_at_once_leave_two_honest_seals_and_full_still_passes() {
    use crate::domain::audit_seal::{Seal, SealedEvent, event_leaf, events_key, seal_key};
    use crate::ports::{BlobVault, Signer};
    let mut fixture = Fixture::sealed().await;
    // The hourly and the nightly sweep both resumed from the same seal and sealed up to a
    // slightly different moment: the second one's seal, written as that sweep would.
    let latest = fixture.seal(fixture.seal_keys().last().unwrap());
    fixture.run(SweepMode::Incremental).await.unwrap();
    // One second after the incremental one: its own time, and a window one second longer.
    let now =
        Timestamp::from_datetime(fixture.clock.now().as_datetime() + time::Duration::seconds(1))
            .unwrap();
    let to = Timestamp::from_datetime(now.as_datetime() - time::Duration::seconds(300)).unwrap();
    let events: Vec<SealedEvent> = fixture
        .ledger
        .audit_events()
        .iter()
        .map(|e| (AuditKey::of(e), e))
        .filter(|(k, _)| crate::domain::audit_seal::key_in_window(k, &latest.seal.to, &to))
        .map(|(k, e)| SealedEvent::new(k.clone(), event_leaf(&k, e)))
        .collect();
    let (sibling, file) = Seal::new(
        "signal-ledger:test",
        Some(&latest.seal),
        latest.seal.to,
        to,
        events,
        now,
    )
    .unwrap();
    let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
    let der = signer.sign(sibling.body().as_bytes()).await.unwrap();
    let note = SignedSeal {
        signature: crate::domain::checkpoint::Signature::kms("alias/test-signing", der).unwrap(),
        seal: sibling.clone(),
    };
    let until = timestamp("2030-01-01T00:00:00Z");
    fixture
        .vault
        .put_locked(
            &events_key(sibling.seq, &now),
            file,
            "application/jsonl",
            until,
        )
        .await
        .unwrap();
    fixture
        .vault
        .put_locked(
            &seal_key(sibling.seq, &now),
            note.to_text().into_bytes(),
            "text/plain",
            until,
        )
        .await
        .unwrap();
    let seqs: Vec<u64> = fixture
        .seal_keys()
        .iter()
        .map(|k| fixture.seal(k).seal.seq)
        .collect();
    assert_eq!(
        seqs.iter().filter(|s| **s == sibling.seq).count(),
        2,
        "{seqs:?}"
    );
    fixture.events(1).await;
    let full = fixture.run(SweepMode::Full).await.unwrap();
    assert_eq!(full.status, SweepStatus::Passed, "{:?}", full.findings);
    // The next seal continued from one of the two.
    let newest = fixture.seal(fixture.seal_keys().last().unwrap());
    assert_eq!(newest.seal.seq, sibling.seq + 1);
}

/// `full` reads a bounded number of days before seal 0, never the whole table: an event
/// backdated further is left to the tamper watch (`tamper_watch::BACKDATED_AFTER_SECONDS`,
/// tested there), and the audit table is not scanned again once seal 0 exists.
#[tokio::test]
async fn full_reads_a_bounded_span_before_the_first_seal_and_never_scans_the_table() {
    let fixture = Fixture::sealed().await;
    let scans = fixture.ledger.audit_scans();
    assert_eq!(scans, 1, "seal 0 looked for where the log began, once");
    let mut inside = fixture.ledger.audit_events()[0].clone();
    inside.event_id = "e-six-days-before".into();
    inside.occurred_at = timestamp("2026-11-21T00:00:00Z");
    let mut outside = inside.clone();
    outside.event_id = "e-eight-days-before".into();
    outside.occurred_at = timestamp("2026-11-20T23:59:59Z");
    let inside_key = AuditKey::of(&inside);
    fixture.ledger.tamper_audit(|events| {
        events.push(inside);
        events.push(outside);
    });
    let record = failure(fixture.run(SweepMode::Full).await);
    let added: Vec<(String, String)> = record
        .findings
        .iter()
        .filter_map(|f| match &f.kind {
            FindingKind::AuditEventAdded { pk, sk, .. } => Some((pk.clone(), sk.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        added,
        [(inside_key.pk, inside_key.sk)],
        "{:?}",
        record.findings
    );
    assert_eq!(
        fixture.ledger.audit_scans(),
        scans,
        "full never scans the audit table"
    );
}

/// `full` re-verifies several seals at once; the findings and their order are those of a
/// sequential run, even when the vault's reads complete out of order (with `buffer_unordered`
/// this fails: the seals' findings come back in completion order).
#[tokio::test]
async fn concurrent_seal_checks_give_the_sequential_findings_in_order() {
    let mut fixture = Fixture::new();
    fixture.events(2).await;
    fixture.run(SweepMode::Init).await.unwrap();
    for _ in 0..23 {
        fixture.events(2).await;
        fixture.run(SweepMode::Incremental).await.unwrap();
    }
    assert_eq!(fixture.seal_keys().len(), 24);
    // A change, a removal and an insertion in many sealed windows, and an overwritten events
    // file (its original is still what counts).
    let ids: Vec<String> = (1..=48).map(|n| format!("e-{n:04}")).collect();
    let mut planted = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let mut event = fixture
            .ledger
            .audit_events()
            .into_iter()
            .find(|e| e.event_id == *id)
            .unwrap();
        if n % 2 == 1 {
            event.event_id = format!("{id}-planted");
            planted.push(event);
        }
    }
    fixture.ledger.tamper_audit(|events| {
        for (n, event) in events.iter_mut().enumerate() {
            if n % 3 == 0 {
                event.actor = "arn:aws:iam::123456789012:user/mallory".into();
            }
        }
        events.retain(|e| !e.event_id.ends_with('5'));
        events.extend(planted);
    });
    let events_file = fixture
        .vault
        .keys()
        .into_iter()
        .find(|k| k.ends_with(".events"))
        .unwrap();
    fixture.vault.overwrite(&events_file, b"{}\n".to_vec());

    fixture.sweep.reads_in_flight.seals = 1;
    fixture.sweep.reads_in_flight.notes = 1;
    let sequential = failure(fixture.run(SweepMode::Full).await);
    assert!(
        sequential.findings.len() > 30,
        "{}",
        sequential.findings.len()
    );
    fixture.vault.complete_reads_out_of_order();
    fixture.sweep.reads_in_flight.seals = crate::app::audit_seal::SEAL_READS_IN_FLIGHT;
    fixture.sweep.reads_in_flight.notes = crate::app::sweep::NOTE_READS_IN_FLIGHT;
    let concurrent = failure(fixture.run(SweepMode::Full).await);
    // (The message differs: the first run sealed one more window.)
    let outcome = |r: &SweepRecord| (r.status, r.findings_total, r.findings.clone());
    assert_eq!(outcome(&concurrent), outcome(&sequential));
}

/// The records of `full` steps until the pass is done.
async fn whole_pass(fixture: &Fixture) -> Vec<SweepRecord> {
    let mut steps = Vec::new();
    loop {
        let step = match fixture.run(SweepMode::Full).await {
            Ok(record) => record,
            Err(SweepError::Failed(record)) => *record,
            Err(other) => panic!("{other:?}"),
        };
        let done = step.full_pass.as_ref().unwrap().phase == "done";
        steps.push(step);
        if done {
            return steps;
        }
        assert!(steps.len() < 30, "the pass does not advance");
    }
}

#[tokio::test]
async fn a_full_pass_in_steps_reverifies_one_seal_a_step_and_finds_the_same() {
    let mut fixture = Fixture::sealed().await;
    fixture.ledger.tamper_audit(|events| {
        let event = events.iter_mut().find(|e| e.event_id == "e-0004").unwrap();
        event.actor = "arn:aws:iam::123456789012:user/mallory".into();
    });
    let one = whole_pass(&fixture).await;
    assert_eq!(one.len(), 1);
    let sealed_before = fixture.seal_keys().len() as u64;

    fixture.sweep = fixture
        .sweep
        .with_full_pass_budget(std::time::Duration::ZERO);
    let steps = whole_pass(&fixture).await;
    // The entries (an empty ledger) in one step, then one seal per step: the seals there were
    // when the seal phase began, not the ones each step adds.
    let seal_steps = &steps[1..];
    assert_eq!(
        seal_steps.len() as u64,
        sealed_before + 1,
        "{:?}",
        steps.iter().map(|s| &s.message).collect::<Vec<_>>()
    );
    let progress: Vec<(String, u64, Option<u64>)> = seal_steps
        .iter()
        .map(|s| {
            let p = s.full_pass.as_ref().unwrap();
            (p.phase.clone(), p.position, p.of)
        })
        .collect();
    assert_eq!(
        progress[0],
        ("seals".to_owned(), 1, Some(sealed_before + 1))
    );
    assert_eq!(progress.last().unwrap().0, "done");
    let named = |records: &[SweepRecord]| -> Vec<(u64, String)> {
        records
            .iter()
            .flat_map(|r| &r.findings)
            .map(|f| (f.index, format!("{:?}", f.kind)))
            .collect()
    };
    assert_eq!(named(&steps), named(&one));
    assert!(
        matches!(&steps[2].findings[..], [f] if matches!(&f.kind, FindingKind::AuditEventChanged { .. })),
        "the step that re-read seal 1 names the event: {:?}",
        steps[2].findings
    );
}

#[tokio::test]
async fn a_seal_step_whose_last_seal_is_no_longer_trusted_restarts_the_pass() {
    let mut fixture = Fixture::sealed().await;
    fixture.sweep = fixture
        .sweep
        .with_full_pass_budget(std::time::Duration::ZERO);
    fixture.run(SweepMode::Full).await.unwrap(); // the entries
    let after_seal_0 = fixture.run(SweepMode::Full).await.unwrap();
    assert_eq!(after_seal_0.full_pass.as_ref().unwrap().position, 1);
    // A cursor signed with the sweep's own key (a bug, or an insider who can sign) that says
    // the pass ended seal 0 with another digest: the re-check against the trusted seal 0
    // refuses it.
    let key = crate::domain::full_pass::object_key(1);
    let text = String::from_utf8(fixture.vault.latest(&key).unwrap()).unwrap();
    let mut cursor = crate::domain::full_pass::SignedCursor::parse(text.as_bytes())
        .unwrap()
        .cursor;
    if let crate::domain::full_pass::PassPhase::Seals {
        previous: Some(link),
        ..
    } = &mut cursor.phase
    {
        link.digest = crate::domain::hash::Hash::sha256(b"a seal that never was");
    }
    cursor.seq = 2;
    let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
    let body = crate::domain::full_pass::SignedCursor::body("signal-ledger:test", &cursor);
    let der = crate::ports::Signer::sign(&signer, body.as_bytes())
        .await
        .unwrap();
    let note = crate::domain::full_pass::SignedCursor {
        origin: "signal-ledger:test".to_owned(),
        cursor,
        signature: crate::domain::checkpoint::Signature::kms("alias/test-signing", der).unwrap(),
    };
    crate::ports::BlobVault::create_locked(
        &fixture.vault,
        &crate::domain::full_pass::object_key(2),
        note.to_text().into_bytes(),
        "text/plain",
        timestamp("2033-01-01T00:00:00Z"),
    )
    .await
    .unwrap();
    let refused = failure(fixture.run(SweepMode::Full).await);
    assert!(
        refused.findings.iter().any(|f| matches!(
            &f.kind,
            FindingKind::FullPassCursorInvalid { reason, .. } if reason.contains("not a trusted seal")
        )),
        "{:?}",
        refused.findings
    );
    let progress = refused.full_pass.as_ref().unwrap();
    assert_eq!(
        (progress.step, progress.phase.as_str(), progress.position),
        (1, "entries", 0)
    );
}
