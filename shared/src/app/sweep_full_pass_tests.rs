//! The resumable full pass over in-memory ports: a pass split into many steps finds what one
//! unbounded step finds; a planted, forged or malformed cursor is a finding and skips nothing;
//! two steps racing for one step number: one writes.

use std::time::Duration;

use super::*;
use crate::adapters::memory::{COMPETING_OBJECT, VaultFaults};
use crate::domain::chain::VerifierState;
use crate::domain::checkpoint::SignedCheckpoint;
use crate::domain::full_pass::{
    CURSOR_PREFIX, FullPassCursor, PassPhase, SignedCursor, object_key,
};
use crate::ports::VaultReads;

/// The record of a run, passed or failed.
fn record(result: Result<SweepRecord, SweepError>) -> SweepRecord {
    match result {
        Ok(record) => record,
        Err(SweepError::Failed(record)) => *record,
        Err(other) => panic!("the sweep could not run: {other:?}"),
    }
}

/// Checkpoints at 4, 8, 12, 16 and 20; entries up to 22.
async fn many_checkpoints(budget: Duration) -> Fixture {
    let mut fixture = Fixture::new(true);
    fixture.append(4).await;
    fixture.run(SweepMode::Init).await.unwrap();
    for _ in 0..4 {
        fixture.append(4).await;
        fixture.run(SweepMode::Incremental).await.unwrap();
    }
    fixture.append(2).await;
    fixture.sweep = fixture.sweep.with_full_pass_budget(budget);
    fixture
}

/// Runs `full` steps until the pass is done: every step's record.
async fn whole_pass(fixture: &Fixture) -> Vec<SweepRecord> {
    let mut steps = Vec::new();
    loop {
        let step = record(fixture.run(SweepMode::Full).await);
        let done = step.full_pass.as_ref().unwrap().phase == "done";
        steps.push(step);
        if done {
            return steps;
        }
        assert!(steps.len() < 50, "the pass does not advance");
    }
}

fn pass_findings(steps: &[SweepRecord]) -> Vec<(u64, &'static str)> {
    steps.iter().flat_map(kinds).collect()
}

fn edit_entry_10(fixture: &Fixture) {
    fixture.ledger.tamper(|entries, _| {
        entries.get_mut(&10).unwrap().entry.content.entry_price = decimal("1");
    });
}

#[tokio::test]
async fn a_pass_in_many_steps_finds_what_one_unbounded_step_finds() {
    let unbounded = many_checkpoints(Duration::from_secs(600)).await;
    edit_entry_10(&unbounded);
    let one = whole_pass(&unbounded).await;
    assert_eq!(one.len(), 1, "an unbounded step completes the pass");

    let bounded = many_checkpoints(Duration::ZERO).await;
    edit_entry_10(&bounded);
    let steps = whole_pass(&bounded).await;
    // One step per checkpoint (4, 8, 12, 16, 20), one to the end of the ledger, one for the
    // seals.
    assert_eq!(
        steps.len(),
        7,
        "{:?}",
        steps.iter().map(|s| &s.message).collect::<Vec<_>>()
    );
    let found = pass_findings(&steps);
    assert_eq!(found, pass_findings(&one));
    assert!(found.contains(&(10, "hash_mismatch")), "{found:?}");
    // The steps before entry 10 passed; the one that read it (and those that compared the
    // later checkpoints' roots) failed; every step says where the pass is.
    let statuses: Vec<SweepStatus> = steps.iter().map(|s| s.status).collect();
    assert_eq!(
        &statuses[..3],
        &[
            SweepStatus::Passed,
            SweepStatus::Passed,
            SweepStatus::Failed
        ]
    );
    assert_eq!(statuses[6], SweepStatus::Passed);
    let progress: Vec<(u64, String, u64)> = steps
        .iter()
        .map(|s| {
            let p = s.full_pass.as_ref().unwrap();
            (p.step, p.phase.clone(), p.position)
        })
        .collect();
    assert_eq!(progress[0], (1, "entries".to_owned(), 4));
    assert_eq!(progress[3], (4, "entries".to_owned(), 16));
    assert_eq!(progress[5], (6, "seals".to_owned(), 0));
    let first = steps[0].full_pass.as_ref().unwrap();
    assert_eq!((first.of, first.phase_percent), (Some(22), Some(18)));
    let last = steps[6].full_pass.as_ref().unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s.full_pass.as_ref().unwrap().pass_id == first.pass_id)
    );
    assert_eq!(
        last.findings_total,
        one[0].full_pass.as_ref().unwrap().findings_total
    );
    assert!(last.duration_ms.is_some() && last.finished_at.is_some());
    assert!(bounded.metrics.total(metric::FULL_SWEEP_PASS_AGE_HOURS) > 0.0);
    // Seven cursors, one per step, each locked and written once.
    let cursors: Vec<String> = bounded
        .vault
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(CURSOR_PREFIX))
        .collect();
    assert_eq!(cursors, (0..7).map(object_key).collect::<Vec<_>>());

    // The next full run starts a new pass; a continuation with no open pass does nothing.
    let next = record(bounded.run(SweepMode::Full).await);
    assert_ne!(next.full_pass.as_ref().unwrap().pass_id, first.pass_id);
    assert_eq!(next.full_pass.as_ref().unwrap().step, 1);
    let clean = many_checkpoints(Duration::ZERO).await;
    let skipped = clean.run(SweepMode::FullContinue).await.unwrap();
    assert_eq!(skipped.status, SweepStatus::Skipped);
    assert!(skipped.full_pass.is_none());
    let started = clean.run(SweepMode::Full).await.unwrap();
    let continued = clean.run(SweepMode::FullContinue).await.unwrap();
    assert_eq!(
        continued.full_pass.as_ref().unwrap().pass_id,
        started.full_pass.as_ref().unwrap().pass_id
    );
    assert_eq!(continued.full_pass.as_ref().unwrap().position, 8);
}

/// The cursor the first step of a clean pass wrote (stopped at checkpoint 4), and the fixture.
async fn one_step_taken() -> (Fixture, SignedCursor) {
    let fixture = many_checkpoints(Duration::ZERO).await;
    let first = fixture.run(SweepMode::Full).await.unwrap();
    assert_eq!(first.full_pass.as_ref().unwrap().position, 4);
    let bytes = fixture.vault.latest(&object_key(0)).unwrap();
    (fixture, SignedCursor::parse(&bytes).unwrap())
}

/// What an honest step would write at `seq`, signed with the sweep's own key.
async fn signed_with_the_real_key(mut cursor: FullPassCursor, seq: u64) -> Vec<u8> {
    cursor.seq = seq;
    let signer = SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap();
    let body = SignedCursor::body("signal-ledger:test", &cursor);
    let der = signer.sign(body.as_bytes()).await.unwrap();
    SignedCursor {
        origin: "signal-ledger:test".to_owned(),
        cursor,
        signature: Signature::kms("alias/test-signing", der).unwrap(),
    }
    .to_text()
    .into_bytes()
}

async fn plant(fixture: &Fixture, key: &str, bytes: Vec<u8>) {
    let until = timestamp("2033-01-01T00:00:00Z");
    fixture
        .vault
        .create_locked(key, bytes, "text/plain", until)
        .await
        .unwrap();
}

/// The rest of the pass after a planted cursor: the first step names it and restarts from
/// genesis, and the edit behind the cursor's claimed position is still found.
async fn after_the_plant(fixture: &Fixture, planted: &str) {
    let steps = whole_pass(fixture).await;
    let first = &steps[0];
    assert_eq!(first.status, SweepStatus::Failed);
    assert!(
        first.findings.iter().any(|f| matches!(
            &f.kind,
            FindingKind::FullPassCursorInvalid { cursor, .. } if cursor == planted
        )),
        "{:?}",
        first.findings
    );
    assert_eq!(first.from_index, 0, "the pass restarts from genesis");
    let found = pass_findings(&steps);
    assert!(found.contains(&(10, "hash_mismatch")), "{found:?}");
}

#[tokio::test]
async fn an_unsigned_cursor_planted_past_an_edit_skips_nothing() {
    let (fixture, honest) = one_step_taken().await;
    edit_entry_10(&fixture);
    // An insider plants step 1: the pass "at checkpoint 16", with checkpoint 16's own state, so
    // entry 10 would never be read again. Unsigned, while a key is configured.
    let sixteen = fixture
        .checkpoint_keys()
        .into_iter()
        .find(|k| k.starts_with("checkpoints/00000000000000000016"))
        .unwrap();
    let signed = SignedCheckpoint::parse(
        std::str::from_utf8(&fixture.vault.latest(&sixteen).unwrap()).unwrap(),
    )
    .unwrap();
    let checkpoint = signed.checkpoint;
    let mut forged = honest.cursor.clone();
    forged.seq = 1;
    forged.phase = PassPhase::Entries {
        state: VerifierState {
            position: 16,
            previous: Some(checkpoint.head_hash),
            last_index: Some(15),
            tree: checkpoint.range.clone(),
            head_hash: Some(checkpoint.head_hash),
        },
        checkpoint: Some(sixteen),
    };
    let note = SignedCursor {
        origin: "signal-ledger:test".to_owned(),
        cursor: forged,
        signature: Signature::Unsigned,
    };
    plant(&fixture, &object_key(1), note.to_text().into_bytes()).await;
    after_the_plant(&fixture, &object_key(1)).await;
}

#[tokio::test]
async fn a_signed_cursor_whose_state_is_not_its_checkpoints_is_refused() {
    let (fixture, honest) = one_step_taken().await;
    edit_entry_10(&fixture);
    // Signed with the sweep's key (a bug, or an insider who can sign), it names checkpoint 16
    // but carries the state at 4: the re-check against the signed checkpoint refuses it.
    let sixteen = fixture
        .checkpoint_keys()
        .into_iter()
        .find(|k| k.starts_with("checkpoints/00000000000000000016"))
        .unwrap();
    let mut forged = honest.cursor.clone();
    if let PassPhase::Entries { checkpoint, .. } = &mut forged.phase {
        *checkpoint = Some(sixteen);
    }
    plant(
        &fixture,
        &object_key(1),
        signed_with_the_real_key(forged, 1).await,
    )
    .await;
    after_the_plant(&fixture, &object_key(1)).await;
}

#[tokio::test]
async fn a_malformed_or_misplaced_cursor_is_refused_and_a_stray_object_named() {
    let (fixture, honest) = one_step_taken().await;
    edit_entry_10(&fixture);
    // An honest cursor's content stored under another step number (a replay).
    plant(
        &fixture,
        &object_key(1),
        signed_with_the_real_key(honest.cursor.clone(), 0).await,
    )
    .await;
    after_the_plant(&fixture, &object_key(1)).await;

    let (fixture, _) = one_step_taken().await;
    edit_entry_10(&fixture);
    plant(&fixture, &object_key(1), b"position: 99999\n".to_vec()).await;
    plant(&fixture, "integrity/full-pass/junk.txt", b"x".to_vec()).await;
    let steps = whole_pass(&fixture).await;
    assert!(
        steps[0]
            .findings
            .iter()
            .any(|f| f.kind.name() == "full_pass_cursor_invalid")
    );
    assert!(
        steps[0].findings.iter().any(|f| matches!(
            &f.kind,
            FindingKind::UnexpectedObject { key } if key == "integrity/full-pass/junk.txt"
        )),
        "{:?}",
        steps[0].findings
    );
    assert!(pass_findings(&steps).contains(&(10, "hash_mismatch")));
}

#[tokio::test]
async fn two_steps_racing_for_one_step_number_one_writes() {
    let fixture = many_checkpoints(Duration::ZERO).await;
    fixture.run(SweepMode::Full).await.unwrap();
    // A second run of the same step: the competing run creates step 1 first.
    let racing = IntegritySweep::new(
        fixture.ledger.clone(),
        VaultFaults::competing_run(fixture.vault.clone(), CURSOR_PREFIX),
        Some(SoftwareSigner::from_secret("alias/test-signing", [7; 32]).unwrap()),
        fixture.ledger.audit_sink(),
        fixture.clock.clone(),
        fixture.metrics.clone(),
        SweepSettings {
            retention_days: 2555,
            page_size: 3,
            trust: CheckpointTrust::new("signal-ledger:test", Some("alias/test-signing"), &[]),
        },
    )
    .with_audit_seal_lag(30 * 86_400)
    .with_full_pass_budget(Duration::ZERO);
    let lost = racing.run(SweepMode::Full, "racing").await.unwrap();
    let progress = lost.full_pass.as_ref().unwrap();
    assert_eq!(progress.cursor_written, None);
    assert_eq!(
        progress.position, 8,
        "it verified, but its progress is not recorded"
    );
    assert!(
        lost.message.contains("another run wrote this step first"),
        "{}",
        lost.message
    );
    // The winner's object is the only version of step 1.
    assert_eq!(
        fixture.vault.latest(&object_key(1)).as_deref(),
        Some(COMPETING_OBJECT)
    );
    let versions = fixture.vault.list_versions(&object_key(1)).await.unwrap();
    assert_eq!(versions.len(), 1);
}

#[test]
fn the_modes_are_spelled_as_the_schedules_send_them() {
    for (mode, text) in [
        (SweepMode::Full, "\"full\""),
        (SweepMode::FullContinue, "\"full-continue\""),
    ] {
        assert_eq!(serde_json::to_string(&mode).unwrap(), text);
        assert_eq!(serde_json::from_str::<SweepMode>(text).unwrap(), mode);
        assert_eq!(format!("\"{}\"", mode.as_str()), text);
    }
}
