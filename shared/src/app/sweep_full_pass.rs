//! The resumable full pass (`full` and `full-continue`): a complete verification — every entry
//! from genesis against every trusted checkpoint, then every trusted audit seal against the
//! table — carried out in steps of at most `FULL_SWEEP_BUDGET_SECONDS` each, one step per
//! invocation, with its progress in a signed cursor in the vault (`domain::full_pass`).
//!
//! Promises:
//! - A step continues only from a cursor that verifies: the latest (highest step number) object
//!   under `integrity/full-pass/`, in its original version, stored under its own step number,
//!   signed under the pinned checkpoint trust, and — while the pass has found nothing — whose
//!   verifier state is exactly the compact range and head of the trusted checkpoint it names, or
//!   whose last seal is still the trusted seal of that number with the same digest. Anything
//!   else is a `full_pass_cursor_invalid` finding and the pass restarts from genesis: a planted
//!   cursor can never skip anything.
//! - Entry steps stop only at a trusted checkpoint's size, seal steps only between sequence
//!   numbers, so the next step re-checks its starting point against a signed object; every
//!   step advances (at least to the next checkpoint, or by one seal).
//! - Each step writes exactly one new cursor, create-only (`If-None-Match: *`) at the next step
//!   number: of two steps racing from the same cursor, one writes and the other's put fails
//!   cleanly (its findings are still reported, its progress is not recorded).
//! - A pass split over many steps finds what one unbounded step finds: the verifier's whole
//!   state travels in the cursor, and the findings so far with it (the first 100, all counted).

use std::time::Instant;

use crate::domain::chain::VerifierState;
use crate::domain::full_pass::{
    CURSOR_PREFIX, FullPassCursor, MAX_CURSOR_FINDINGS, PassPhase, SignedCursor, object_key,
    seq_of_key,
};

use super::*;

/// The default `FULL_SWEEP_BUDGET_SECONDS`: a step stops verifying after this long (then goes on
/// to the next trusted checkpoint's size, writes its cursor and record); the function's timeout
/// is 900 s.
pub const DEFAULT_FULL_PASS_BUDGET_SECONDS: u64 = 600;

/// A pass's progress, as each step's run record shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassProgress {
    pub pass_id: String,
    pub pass_started_at: Timestamp,
    /// Steps of the pass so far, this one included.
    pub step: u64,
    /// `entries`, `seals` or `done`: where the pass is after this step.
    pub phase: String,
    /// Entries: the next chain index to verify; seals: the next seal's sequence number.
    pub position: u64,
    /// Entries: the ledger's size at this step; seals: the seals this pass verifies.
    pub of: Option<u64>,
    /// `position` as a percentage of `of` (phase progress), when known.
    pub phase_percent: Option<u8>,
    /// Findings of the whole pass so far.
    pub findings_total: u64,
    /// The cursor this step wrote; `None` when another step wrote that step number first.
    pub cursor_written: Option<String>,
    /// A finished pass: when, and how long it took from its first step.
    pub finished_at: Option<Timestamp>,
    pub duration_ms: Option<u64>,
}

/// The latest cursor, judged.
struct OpenedPass {
    /// A cursor that verifies (its key), unless it was refused.
    latest: Option<(String, FullPassCursor)>,
    next_seq: u64,
    /// A refused latest cursor.
    refused: Option<Finding>,
    /// Objects under the prefix that no step writes.
    objects: Vec<ObjectFinding>,
}

/// When an entry step may stop: after `deadline`, at one of `stops` (trusted checkpoint sizes).
pub(super) struct Budget {
    deadline: Instant,
    stops: Vec<u64>,
}

impl Budget {
    pub(super) fn stops_at(&self, position: u64) -> bool {
        Instant::now() >= self.deadline && self.stops.binary_search(&position).is_ok()
    }
}

/// A step's own findings, gathered into one report (capped like the verifier's).
fn add_finding(report: &mut ChainReport, finding: Finding) {
    report.findings_total += 1;
    if report.findings.len() < crate::domain::chain::MAX_FINDINGS_KEPT {
        report.findings.push(finding);
    }
}

fn cursor_refused(key: &str, seq: u64, reason: String) -> Finding {
    Finding {
        index: seq,
        kind: FindingKind::FullPassCursorInvalid {
            cursor: key.to_owned(),
            reason,
        },
    }
}

/// A new pass, from genesis.
fn fresh_pass(now: Timestamp) -> FullPassCursor {
    FullPassCursor {
        seq: 0,
        pass_id: uuid::Uuid::now_v7().to_string(),
        pass_started_at: now,
        steps: 0,
        written_at: now,
        phase: PassPhase::Entries {
            state: ChainVerifier::from_genesis().state(),
            checkpoint: None,
        },
        findings_total: 0,
        findings: Vec::new(),
        entries_verified: 0,
        checkpoints_checked: 0,
        seals_verified: 0,
    }
}

/// Adds a step's findings to the pass's.
fn absorb(cursor: &mut FullPassCursor, findings: &[Finding], total: u64) {
    cursor.findings_total += total;
    let room = MAX_CURSOR_FINDINGS.saturating_sub(cursor.findings.len());
    cursor.findings.extend(findings.iter().take(room).cloned());
}

/// Why a clean pass may not continue from `state`: it must be exactly the trusted checkpoint it
/// names (genesis needs none).
fn entries_anchor(
    state: &VerifierState,
    named: Option<&String>,
    loaded: &[Loaded],
) -> Result<(), String> {
    if *state == ChainVerifier::from_genesis().state() {
        return Ok(());
    }
    let Some(named) = named else {
        return Err(format!(
            "it stopped at chain index {} without naming a checkpoint",
            state.position
        ));
    };
    let Some(checkpoint) = loaded.iter().find(|l| &l.key == named) else {
        return Err(format!(
            "it stopped at checkpoint {named}, which is not a trusted checkpoint"
        ));
    };
    let checkpoint = &checkpoint.signed.checkpoint;
    let matches = checkpoint.tree_size == state.position
        && checkpoint.range == state.tree
        && state.head_hash.unwrap_or(Hash::ZERO) == checkpoint.head_hash
        && state.previous == Some(checkpoint.head_hash);
    match matches {
        true => Ok(()),
        false => Err(format!(
            "its state at chain index {} is not that of checkpoint {named} (size {}, root {})",
            state.position, checkpoint.tree_size, checkpoint.root
        )),
    }
}

/// A step in progress: the pass's cursor as the step advances it, and what the step found.
struct Step {
    now: Timestamp,
    cursor: FullPassCursor,
    /// The key of the cursor the step continues from; `None` for a new pass.
    cursor_key: Option<String>,
    report: ChainReport,
    objects: Vec<ObjectFinding>,
}

impl Step {
    /// Refuses the cursor the step continued from (a finding of this step) and starts the pass
    /// again from genesis.
    fn restart(&mut self, reason: String) {
        let key = self.cursor_key.clone().unwrap_or_default();
        add_finding(
            &mut self.report,
            cursor_refused(&key, self.cursor.seq, reason),
        );
        self.cursor = fresh_pass(self.now);
    }
}

/// What a step's entries part covered (all zero when the pass is past the entries).
#[derive(Default)]
struct EntriesPhase {
    from_index: u64,
    /// Trusted checkpoints the entries were verified against.
    checkpoints_checked: u64,
    latest_checkpoint: Option<SignedCheckpoint>,
}

/// The cursor a step goes on from, and the key it was read from (`None` for a new pass): a
/// refused cursor (a finding in `report`) or a finished pass starts a new one when `may_start`;
/// `None` when there is nothing to continue and no pass may start.
fn resume(
    latest: Option<(String, FullPassCursor)>,
    refused: Option<Finding>,
    may_start: bool,
    now: Timestamp,
    report: &mut ChainReport,
) -> Option<(FullPassCursor, Option<String>)> {
    match (latest, refused) {
        (_, Some(refusal)) => {
            add_finding(report, refusal);
            Some((fresh_pass(now), None))
        }
        (Some((key, cursor)), None) if !matches!(cursor.phase, PassPhase::Done { .. }) => {
            Some((cursor, Some(key)))
        }
        _ if may_start => Some((fresh_pass(now), None)),
        _ => None,
    }
}

impl<S, V, G, A, C, M> IntegritySweep<S, V, G, A, C, M>
where
    S: LedgerStore,
    V: BlobVault,
    G: Signer + PublicKeys,
    A: AuditSink + AuditLog,
    C: Clock,
    M: MetricsSink,
{
    /// One step of the full pass. `may_start`: `full` starts a new pass when none is open;
    /// `full-continue` only continues one (else the run is skipped).
    pub(super) async fn full_step(
        &self,
        trust: &TrustedKeys,
        deadline: Instant,
        may_start: bool,
    ) -> Result<Outcome, SweepError> {
        let now = self.clock.now();
        let OpenedPass {
            latest,
            next_seq,
            refused,
            objects,
        } = self.open_pass(trust).await?;
        let mut report = ChainVerifier::from_genesis().finish(None);
        let Some((cursor, cursor_key)) = resume(latest, refused, may_start, now, &mut report)
        else {
            return Ok(Outcome {
                status: SweepStatus::Skipped,
                report,
                objects,
                from_index: 0,
                checkpoints_checked: 0,
                written: None,
                latest: None,
                message: "no full pass is open: the nightly full run starts the next one"
                    .to_owned(),
                pass: None,
            });
        };
        let mut step = Step {
            now,
            cursor,
            cursor_key,
            report,
            objects,
        };
        let started_in_seals = matches!(step.cursor.phase, PassPhase::Seals { .. });
        let entries = self.entries_phase(trust, deadline, &mut step).await?;
        // A step that finished the entries goes on to the seals only while its budget lasts.
        let seals_now = started_in_seals || Instant::now() < deadline;
        let seals_total = match seals_now {
            true => self.seals_phase(trust, deadline, &mut step).await?,
            false => None,
        };
        self.finish_step(trust, next_seq, step, entries, seals_total)
            .await
    }

    /// The entries part of a step, when the pass is in it: checks a clean cursor against the
    /// trusted checkpoint it names (restarting the pass when it is not that checkpoint), verifies
    /// entries until the budget stops it at a checkpoint or the chain ends, and moves the cursor
    /// on (to the seals when the chain ended).
    async fn entries_phase(
        &self,
        trust: &TrustedKeys,
        deadline: Instant,
        step: &mut Step,
    ) -> Result<EntriesPhase, SweepError> {
        let PassPhase::Entries { state, checkpoint } = step.cursor.phase.clone() else {
            return Ok(EntriesPhase::default());
        };
        let LoadedCheckpoints {
            mut loaded,
            objects: found,
        } = self.load_checkpoints(trust, true).await?;
        step.objects.extend(found);
        loaded.sort_by(|a, b| {
            (a.signed.checkpoint.tree_size, &a.key).cmp(&(b.signed.checkpoint.tree_size, &b.key))
        });
        let mut state = state;
        if step.cursor.is_clean()
            && let Err(reason) = entries_anchor(&state, checkpoint.as_ref(), &loaded)
        {
            step.restart(reason);
            state = ChainVerifier::from_genesis().state();
        }
        let done = EntriesPhase {
            from_index: state.position,
            checkpoints_checked: loaded.len() as u64,
            latest_checkpoint: loaded.last().map(|l| l.signed.clone()),
        };
        let entries = self.entries_step(state, loaded, deadline).await?;
        let step_report = entries.report;
        absorb(
            &mut step.cursor,
            &step_report.findings,
            step_report.findings_total,
        );
        step.cursor.entries_verified += step_report.entries_read;
        // A refused cursor is this step's finding, not the new pass's.
        let refusals = std::mem::take(&mut step.report.findings);
        let refusal_total = step.report.findings_total;
        step.report = step_report;
        step.report.findings_total += refusal_total;
        step.report.findings.splice(0..0, refusals);
        step.cursor.phase = match entries.stopped_at {
            Some(checkpoint) => PassPhase::Entries {
                state: entries.state,
                checkpoint: Some(checkpoint),
            },
            None => {
                step.cursor.checkpoints_checked = done.checkpoints_checked;
                PassPhase::Seals {
                    next_seq: 0,
                    until: None,
                    previous: None,
                }
            }
        };
        Ok(done)
    }

    /// The seals part of a step, when the pass is in it: verifies trusted seals against the
    /// table from the cursor's seal on until the budget ends, and moves the cursor on (to done
    /// after the last). Returns how many seals the pass verifies, when it is in this phase.
    async fn seals_phase(
        &self,
        trust: &TrustedKeys,
        deadline: Instant,
        step: &mut Step,
    ) -> Result<Option<u64>, SweepError> {
        let PassPhase::Seals {
            next_seq,
            until,
            previous,
        } = step.cursor.phase.clone()
        else {
            return Ok(None);
        };
        let sealed = self
            .sealer(trust)
            .verify_pass(next_seq, until, previous.as_ref(), deadline)
            .await?;
        step.objects.extend(
            sealed
                .objects
                .into_iter()
                .map(|(key, version_id, finding)| ObjectFinding {
                    key,
                    version_id,
                    finding,
                }),
        );
        if let Some(reason) = sealed.anchor {
            step.restart(reason);
            return Ok(Some(sealed.until));
        }
        for finding in &sealed.findings {
            add_finding(&mut step.report, finding.clone());
        }
        let cursor = &mut step.cursor;
        absorb(cursor, &sealed.findings, sealed.findings.len() as u64);
        cursor.seals_verified += sealed.seals_verified;
        cursor.phase = match sealed.done {
            true => PassPhase::Done {
                finished_at: step.now,
                duration_ms: u64::try_from(
                    (step.now.as_datetime() - cursor.pass_started_at.as_datetime())
                        .whole_milliseconds(),
                )
                .unwrap_or(0),
            },
            false => PassPhase::Seals {
                next_seq: sealed.next_seq,
                until: Some(sealed.until),
                previous: sealed.previous,
            },
        };
        Ok(Some(sealed.until))
    }

    /// Ends a step: writes the advanced cursor at `next_seq` (create-only) and turns the step
    /// into the run's outcome, with the pass's progress.
    async fn finish_step(
        &self,
        trust: &TrustedKeys,
        next_seq: u64,
        step: Step,
        entries: EntriesPhase,
        seals_total: Option<u64>,
    ) -> Result<Outcome, SweepError> {
        let Step {
            now,
            mut cursor,
            report,
            objects,
            ..
        } = step;
        let of = match &cursor.phase {
            PassPhase::Entries { .. } => self.store.head().await?.map(|h| h.chain_index + 1),
            PassPhase::Seals { .. } => seals_total,
            PassPhase::Done { .. } => None,
        };
        cursor.seq = next_seq;
        cursor.steps += 1;
        cursor.written_at = now;
        let cursor_written = self.write_cursor(&cursor, trust).await?;
        let progress = progress(&cursor, of, cursor_written);
        let status = match report.is_intact() {
            true => SweepStatus::Passed,
            false => SweepStatus::Failed,
        };
        let message = pass_message(&progress, &cursor, &report);
        Ok(Outcome {
            status,
            report,
            objects,
            from_index: entries.from_index,
            checkpoints_checked: entries.checkpoints_checked,
            written: None,
            latest: entries.latest_checkpoint,
            message,
            pass: Some(progress),
        })
    }

    /// The latest cursor, judged; a refused one is a finding naming its key.
    async fn open_pass(&self, trust: &TrustedKeys) -> Result<OpenedPass, SweepError> {
        let originals = vault::list_originals(&self.vault, CURSOR_PREFIX).await?;
        let mut objects = Vec::new();
        let mut latest: Option<(u64, &Original)> = None;
        for original in &originals {
            match seq_of_key(original.key()) {
                None => objects.push(object_finding(
                    original,
                    FindingKind::UnexpectedObject {
                        key: original.key().to_owned(),
                    },
                )),
                Some(seq) if latest.is_none_or(|(s, _)| seq > s) => latest = Some((seq, original)),
                Some(_) => {}
            }
        }
        let Some((seq, original)) = latest else {
            return Ok(OpenedPass {
                latest: None,
                next_seq: 0,
                refused: None,
                objects,
            });
        };
        let key = original.key().to_owned();
        let next_seq = seq.checked_add(1).ok_or_else(|| {
            SweepError::Checkpoint(format!("{key}: no step number is left after it"))
        })?;
        let judged = if original.overwritten() {
            Err(format!(
                "it has {} versions: someone wrote over a locked cursor",
                original.versions
            ))
        } else {
            let bytes = self
                .vault
                .get_version(original.key(), original.version_id())
                .await?;
            match SignedCursor::parse(&bytes) {
                Err(error) => Err(error.to_string()),
                Ok(signed) if signed.cursor.seq != seq => Err(format!(
                    "its content is step {}, but it is stored as step {seq}",
                    signed.cursor.seq
                )),
                Ok(signed) => match trust
                    .check_note(&signed.origin, &signed.signature, |public_key| {
                        signed.verifies(public_key)
                    })
                    .refusal()
                {
                    Some(reason) => Err(reason),
                    None => Ok(signed.cursor),
                },
            }
        };
        Ok(match judged {
            Ok(cursor) => OpenedPass {
                latest: Some((key, cursor)),
                next_seq,
                refused: None,
                objects,
            },
            Err(reason) => OpenedPass {
                latest: None,
                next_seq,
                refused: Some(cursor_refused(&key, seq, reason)),
                objects,
            },
        })
    }

    /// Entries from `state` on, against `loaded` (trusted, in size order), until the budget is
    /// spent at a checkpoint's size or the ledger ends.
    async fn entries_step(
        &self,
        state: VerifierState,
        loaded: Vec<Loaded>,
        deadline: Instant,
    ) -> Result<EntriesStep, SweepError> {
        let position = state.position;
        let mut verifier = ChainVerifier::from_state(state).map_err(SweepError::Checkpoint)?;
        let largest = loaded.last().map_or(0, |l| l.signed.checkpoint.tree_size);
        let mut stops: Vec<u64> = loaded
            .iter()
            .map(|l| l.signed.checkpoint.tree_size)
            .filter(|size| *size > position)
            .collect();
        stops.dedup();
        // Checkpoints at or below the position were compared by earlier steps.
        let relevant: Vec<Loaded> = loaded
            .into_iter()
            .filter(|l| position == 0 || l.signed.checkpoint.tree_size > position)
            .collect();
        let stop_keys: Vec<(u64, String)> = relevant
            .iter()
            .map(|l| (l.signed.checkpoint.tree_size, l.key.clone()))
            .collect();
        let mut comparison =
            CheckpointComparison::new(relevant, &self.vault, self.reads_in_flight.leaf_files);
        if position == 0 {
            comparison.at_size(0, &verifier, &mut Vec::new());
        }
        let budget = Budget { deadline, stops };
        let stopped = self
            .verify_from(
                position,
                &mut verifier,
                Some(&mut comparison),
                Some(&budget),
            )
            .await?
            .1;
        if stopped {
            let state = verifier.state();
            let at = stop_keys
                .iter()
                .find(|(size, _)| *size == state.position)
                .map(|(_, key)| key.clone());
            return Ok(EntriesStep {
                report: verifier.finish(None),
                state,
                stopped_at: at,
            });
        }
        let state = verifier.state();
        Ok(EntriesStep {
            report: verifier.finish(Some(largest)),
            state,
            stopped_at: None,
        })
    }

    /// Signs the cursor (explicitly unsigned without a key) and writes it create-only. `None`
    /// when another step wrote this step number first.
    async fn write_cursor(
        &self,
        cursor: &FullPassCursor,
        trust: &TrustedKeys,
    ) -> Result<Option<String>, SweepError> {
        let origin = trust.origin().to_owned();
        let body = SignedCursor::body(&origin, cursor);
        let signature = match &self.signer {
            Some(signer) => {
                let der = signer.sign(body.as_bytes()).await?;
                Signature::kms(signer.key_id(), der)
                    .map_err(|e| SweepError::Checkpoint(e.to_string()))?
            }
            None => Signature::Unsigned,
        };
        let note = SignedCursor {
            origin,
            cursor: cursor.clone(),
            signature,
        };
        let retain_until = cursor
            .written_at
            .plus_days(self.settings.retention_days)
            .map_err(|e| SweepError::Checkpoint(e.to_string()))?;
        let key = object_key(cursor.seq);
        match self
            .vault
            .create_locked(
                &key,
                note.to_text().into_bytes(),
                "text/plain; charset=utf-8",
                retain_until,
            )
            .await
        {
            Ok(_) => Ok(Some(key)),
            Err(VaultError::AlreadyExists { .. }) => {
                tracing::warn!(
                    key,
                    "another run wrote this full-pass step first: this step's progress is not recorded"
                );
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// What an entry step did.
struct EntriesStep {
    report: ChainReport,
    state: VerifierState,
    /// The trusted checkpoint it stopped at; `None` when it reached the end of the ledger.
    stopped_at: Option<String>,
}

fn progress(cursor: &FullPassCursor, of: Option<u64>, written: Option<String>) -> PassProgress {
    let position = match &cursor.phase {
        PassPhase::Entries { state, .. } => state.position,
        PassPhase::Seals { next_seq, .. } => *next_seq,
        PassPhase::Done { .. } => 0,
    };
    let (finished_at, duration_ms) = match &cursor.phase {
        PassPhase::Done {
            finished_at,
            duration_ms,
        } => (Some(*finished_at), Some(*duration_ms)),
        _ => (None, None),
    };
    PassProgress {
        pass_id: cursor.pass_id.clone(),
        pass_started_at: cursor.pass_started_at,
        step: cursor.steps,
        phase: cursor.phase.name().to_owned(),
        position,
        of,
        phase_percent: of
            .filter(|of| *of > 0)
            .map(|of| u8::try_from((position.min(of) * 100) / of).unwrap_or(100)),
        findings_total: cursor.findings_total,
        cursor_written: written,
        finished_at,
        duration_ms,
    }
}

fn pass_message(progress: &PassProgress, cursor: &FullPassCursor, report: &ChainReport) -> String {
    let race = match &progress.cursor_written {
        Some(_) => "",
        None => " (another run wrote this step first: its progress is not recorded)",
    };
    let stage = match &cursor.phase {
        PassPhase::Done { duration_ms, .. } => format!(
            "complete after {} step(s) in {} s: {} entries verified from genesis, {} checkpoint(s) match, {} seal(s) re-verified",
            cursor.steps,
            duration_ms / 1000,
            cursor.entries_verified,
            cursor.checkpoints_checked,
            cursor.seals_verified
        ),
        _ => format!(
            "step {}: {} at {}{}",
            cursor.steps,
            progress.phase,
            progress.position,
            match (progress.of, progress.phase_percent) {
                (Some(of), Some(percent)) => format!(" of {of} ({percent} %)"),
                _ => String::new(),
            }
        ),
    };
    format!(
        "full sweep pass {}: {stage}; this step {} entries, {} finding(s); the pass {} finding(s){race}",
        cursor.pass_id, report.entries_read, report.findings_total, cursor.findings_total
    )
}
