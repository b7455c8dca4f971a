//! The sealed audit log over the ports: every sweep seals the audit events older than the lag
//! into the next signed, COMPLIANCE-locked seal (`integrity/audit-seals/`, format in
//! `domain::audit_seal`), and `full` re-verifies every seal against the audit table.
//!
//! Promises:
//! - A seal covers the window from where the previous trusted seal ended to `now - lag`, so
//!   events still being written are never sealed early, every event key falls in exactly one
//!   window, and nothing sealed is ever sealed again. A window without events writes nothing
//!   (the next seal covers it). Its events file is written before its note, so a note never names
//!   a missing file.
//! - Seals are judged by the same pinned trust as checkpoints ([`TrustedKeys`]): a planted,
//!   forged, unsigned (with a key configured) or overwritten object under the prefix is a finding
//!   naming its key, never the starting point of the next seal, and never stops it.
//! - `full` names every changed, missing or added event of a sealed window by its audit-table key
//!   (`pk`/`sk`), every break in the chain of seals by the seal's key, and every event stored
//!   in the [`DAYS_CHECKED_BEFORE_FIRST_SEAL`] days before the first seal's window (the tamper
//!   watch names one backdated further). Seals are re-verified [`SEAL_READS_IN_FLIGHT`] at a
//!   time (their notes read `note_reads_in_flight` at a time), and the findings are those of a sequential run, in its order. Findings are data; only
//!   I/O failures are errors. `full` never scans the audit table.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};

use crate::app::vault::{self, Original, SignatureCheck, TrustedKeys};
use crate::domain::audit_seal::{
    self, AuditKey, ChainProblem, EventDifference, SEAL_PREFIX, Seal, SealedEvent, SignedSeal,
    event_leaf, events_key, seal_key,
};
use crate::domain::chain::{Finding, FindingKind};
use crate::domain::checkpoint::Signature;
use crate::domain::full_pass::SealLink;
use crate::domain::timestamp::Timestamp;
use crate::ports::{AuditLog, BlobVault, SignError, Signer, StoreError, VaultError};

/// The default `AUDIT_SEAL_LAG_SECONDS`: events younger than this are left to the next seal.
pub const DEFAULT_LAG_SECONDS: u64 = 300;
/// At most this many events go into one seal (bounded memory); a run seals the rest later.
pub const MAX_EVENTS_PER_SEAL: usize = 100_000;

/// How many seals `full` reads and re-verifies at once (each: its note, then its events file
/// and the Query of its window). A seal of an hourly run holds an hour's events (36,000 at a
/// sustained 10 signals/s: ≈ 6 MB of events file, twice as much again parsed and read back as
/// leaves), so memory stays near this many windows (≈ 600 MB at that rate; the function has
/// 1,024 MB; most hours hold far fewer events). Per seal the reads are sequential (events file,
/// then the window's Query pages), so this bounds the latency term: 61,000 seals at 40 ms take
/// 76 s (BENCHMARKS.md). Results are consumed in order, so the findings are those of a
/// sequential run.
pub const SEAL_READS_IN_FLIGHT: usize = 32;

/// How many day partitions before seal 0's window `full` reads for backdated events. Seal 0
/// starts at the start of the earliest day the audit table held when it was made, so nothing
/// may ever be stored before it; an event backdated further than this is named by the tamper
/// watch instead (`tamper_watch::BACKDATED_AFTER_SECONDS`, far less than these days), when it
/// is inserted. docs/ledger-format.md §11.
pub const DAYS_CHECKED_BEFORE_FIRST_SEAL: u32 = 7;

/// What the sealing part of a sweep did and found.
#[derive(Debug, Default)]
pub struct SealReport {
    /// Findings about the audit log and the chain of seals: they fail the run.
    pub findings: Vec<Finding>,
    /// Findings about single objects under the prefix (key, original version, finding): they
    /// fail the run unless an operator acknowledged the object.
    pub objects: Vec<(String, String, Finding)>,
    /// Trusted seals whose events were re-verified against the table (`full`).
    pub seals_verified: u64,
    /// The key of the seal this run wrote, if any.
    pub written: Option<String>,
    /// Where the sealed log now ends (the latest trusted seal's `to`).
    pub sealed_to: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum SealFailure {
    #[error("the audit log could not be read")]
    Store(#[from] StoreError),
    #[error("the vault failed")]
    Vault(#[from] VaultError),
    #[error("signing the audit seal failed")]
    Sign(#[from] SignError),
    #[error("cannot build the audit seal: {0}")]
    Seal(String),
}

/// What one step of the resumable full pass did with the seals.
#[derive(Debug, Default)]
pub struct SealPassStep {
    /// Findings about the audit log and the chain of seals.
    pub findings: Vec<Finding>,
    /// Findings about single objects under the prefix (key, original version, finding).
    pub objects: Vec<(String, String, Finding)>,
    /// Seals re-verified in this step.
    pub seals_verified: u64,
    /// Where the next step starts, and the seal this one ended with.
    pub next_seq: u64,
    pub previous: Option<SealLink>,
    /// The pass verifies the seals below this number: the highest trusted sequence number + 1
    /// when its first seal step ran (later seals are the next pass's).
    pub until: u64,
    /// Every seal is verified: the pass is complete.
    pub done: bool,
    /// Why the previous step's seal is not trusted now (nothing was verified).
    pub anchor: Option<String>,
}

/// A trusted seal read back.
#[derive(Debug, Clone)]
struct LoadedSeal {
    key: String,
    seal: Seal,
}

/// The parts of a sweep the sealer uses.
#[derive(Debug)]
pub struct Sealer<'a, V, G, L> {
    pub vault: &'a V,
    pub signer: Option<&'a G>,
    pub log: &'a L,
    pub trust: &'a TrustedKeys,
    pub retention_days: u32,
    pub lag_seconds: u64,
    /// Seals re-verified at once by `full` ([`SEAL_READS_IN_FLIGHT`]; 1 is a sequential run).
    pub reads_in_flight: usize,
    /// Seal notes (under 1 KiB each) read at once by `full`: the checkpoints' limit,
    /// `sweep::NOTE_READS_IN_FLIGHT`.
    pub note_reads_in_flight: usize,
}

/// What `full` found about one seal, in the order a sequential run finds it.
#[derive(Debug, Default)]
struct SealCheck {
    findings: Vec<Finding>,
}

impl<V, G, L> Sealer<'_, V, G, L>
where
    V: BlobVault,
    G: Signer,
    L: AuditLog,
{
    /// With `verify_all` (`full`), every seal is read, judged and re-verified against the table;
    /// otherwise only the notes from the newest back to the first trusted one are read. Then the
    /// window after the latest trusted seal is sealed, up to `now - lag`.
    pub async fn run(&self, now: Timestamp, verify_all: bool) -> Result<SealReport, SealFailure> {
        let mut report = SealReport::default();
        let (trusted, originals) = self.load(verify_all, &mut report).await?;
        if verify_all {
            self.verify(&trusted, &originals, &mut report).await?;
        }
        let latest = trusted
            .iter()
            .max_by(|a, b| (a.seal.seq, &a.key).cmp(&(b.seal.seq, &b.key)));
        report.sealed_to = latest.map(|l| l.seal.to);
        self.seal_next(latest, now, &mut report).await?;
        Ok(report)
    }

    /// Lists the prefix; judges the notes. Returns the trusted seals in key order, and the
    /// original version of every object under the prefix by key.
    async fn load(
        &self,
        all: bool,
        report: &mut SealReport,
    ) -> Result<(Vec<LoadedSeal>, HashMap<String, String>), SealFailure> {
        let objects = vault::list_originals(self.vault, SEAL_PREFIX).await?;
        let object_finding = |original: &Original, kind: FindingKind| {
            (
                original.key().to_owned(),
                original.version_id().to_owned(),
                Finding {
                    index: seq_from_key(original.key()),
                    kind,
                },
            )
        };
        for original in &objects {
            let reason = if !audit_seal::is_seal_object_key(original.key()) {
                Some("an object the sealer never writes".to_owned())
            } else if original.overwritten() {
                Some(format!(
                    "it has {} versions: someone wrote over a locked seal",
                    original.versions
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                report.objects.push(object_finding(
                    original,
                    FindingKind::AuditSealInvalid {
                        seal: original.key().to_owned(),
                        reason,
                    },
                ));
            }
        }
        let notes = objects
            .iter()
            .rev()
            .filter(|o| o.key().ends_with(".txt") && audit_seal::is_seal_object_key(o.key()));
        let mut trusted = Vec::new();
        // `full` reads every note, several at once, in order; otherwise the walk stops at the
        // newest trusted one.
        let in_flight = if all {
            self.note_reads_in_flight.max(1)
        } else {
            1
        };
        let mut reads = stream::iter(notes)
            .map(|original| async move {
                let bytes = self
                    .vault
                    .get_version(original.key(), original.version_id())
                    .await;
                (original, bytes)
            })
            .buffered(in_flight);
        while let Some((original, bytes)) = reads.next().await {
            let bytes = bytes?;
            let parsed = String::from_utf8(bytes)
                .map_err(|_| "not UTF-8 text".to_owned())
                .and_then(|text| SignedSeal::parse(&text).map_err(|e| e.to_string()));
            let signed = match parsed {
                Ok(signed) => signed,
                Err(reason) => {
                    report.objects.push(object_finding(
                        original,
                        FindingKind::AuditSealInvalid {
                            seal: original.key().to_owned(),
                            reason,
                        },
                    ));
                    continue;
                }
            };
            if let Some(reason) = judge(self.trust, &signed).refusal() {
                report.objects.push(object_finding(
                    original,
                    FindingKind::AuditSealUntrusted {
                        seal: original.key().to_owned(),
                        reason,
                    },
                ));
                continue;
            }
            trusted.push(LoadedSeal {
                key: original.key().to_owned(),
                seal: signed.seal,
            });
            if !all {
                break;
            }
        }
        trusted.reverse();
        let originals = objects
            .iter()
            .map(|o| (o.key().to_owned(), o.version_id().to_owned()))
            .collect();
        Ok((trusted, originals))
    }

    /// `full`: the chain of trusted seals, then each seal's events against the table (several
    /// seals at once, consumed in order), then the events stored just before the first seal's
    /// window.
    async fn verify(
        &self,
        trusted: &[LoadedSeal],
        originals: &HashMap<String, String>,
        report: &mut SealReport,
    ) -> Result<(), SealFailure> {
        let mut ordered: Vec<(String, Seal)> = trusted
            .iter()
            .map(|l| (l.key.clone(), l.seal.clone()))
            .collect();
        ordered.sort_by(|a, b| (a.1.seq, &a.0).cmp(&(b.1.seq, &b.0)));
        report.findings.extend(chain_findings(&ordered));
        let mut checks = stream::iter(&ordered)
            .map(|(key, seal)| self.verify_seal(key, seal, originals))
            .buffered(self.reads_in_flight.max(1));
        while let Some(check) = checks.next().await {
            report.seals_verified += 1;
            report.findings.extend(check?.findings);
        }
        if let Some((first_key, first)) = ordered.iter().find(|(_, s)| s.seq == 0) {
            self.check_before_first(first_key, first, &mut report.findings)
                .await?;
        }
        Ok(())
    }

    /// One step of the resumable full pass (`app::sweep`'s `full`): every seal is read and
    /// judged (planted or untrusted ones join `objects`), and the trusted seals from `next_seq`
    /// up to `until` (`None`: all there are now) are re-verified in order until `deadline` has passed (at least one sequence number per
    /// step, and never half of one). When `next_seq` is 0 the chain of seals is checked; when
    /// the last seal is done, the days before seal 0. `previous` — the seal the last step ended
    /// with — must still be the trusted seal of its number, with the same digest: otherwise
    /// nothing is verified and `anchor` says why (the pass restarts).
    pub async fn verify_pass(
        &self,
        next_seq: u64,
        until: Option<u64>,
        previous: Option<&SealLink>,
        deadline: std::time::Instant,
    ) -> Result<SealPassStep, SealFailure> {
        let mut report = SealReport::default();
        let (trusted, originals) = self.load(true, &mut report).await?;
        let total = trusted.iter().map(|l| l.seal.seq + 1).max().unwrap_or(0);
        let until = until.unwrap_or(total);
        let mut step = SealPassStep {
            objects: report.objects,
            until,
            next_seq,
            previous: previous.cloned(),
            ..SealPassStep::default()
        };
        let mut ordered: Vec<(String, Seal)> =
            trusted.into_iter().map(|l| (l.key, l.seal)).collect();
        ordered.sort_by(|a, b| (a.1.seq, &a.0).cmp(&(b.1.seq, &b.0)));
        if let Some(link) = previous {
            let anchored = ordered.iter().any(|(key, seal)| {
                seal.seq == link.seq && *key == link.key && seal.digest() == link.digest
            });
            if !anchored {
                step.anchor = Some(format!(
                    "it stopped after seal {} ({}) with digest {}, which is not a trusted seal now",
                    link.seq, link.key, link.digest
                ));
                return Ok(step);
            }
        }
        if next_seq == 0 {
            step.findings.extend(chain_findings(&ordered));
        }
        let remaining: Vec<&(String, Seal)> = ordered
            .iter()
            .filter(|(_, s)| s.seq >= next_seq && s.seq < until)
            .collect();
        let originals = &originals;
        let mut checks = stream::iter(remaining.iter().enumerate())
            .map(|(i, (key, seal))| async move {
                (i, key, seal, self.verify_seal(key, seal, originals).await)
            })
            .buffered(self.reads_in_flight.max(1));
        let mut finished = true;
        while let Some((i, key, seal, check)) = checks.next().await {
            step.seals_verified += 1;
            step.findings.extend(check?.findings);
            step.next_seq = seal.seq + 1;
            step.previous = Some(SealLink {
                seq: seal.seq,
                key: key.clone(),
                digest: seal.digest(),
            });
            let next_differs = remaining
                .get(i + 1)
                .is_some_and(|(_, next)| next.seq != seal.seq);
            if next_differs && std::time::Instant::now() >= deadline {
                finished = false;
                break;
            }
        }
        if finished {
            if let Some((first_key, first)) = ordered.iter().find(|(_, s)| s.seq == 0) {
                self.check_before_first(first_key, first, &mut step.findings)
                    .await?;
            }
            step.done = true;
        }
        Ok(step)
    }

    /// Seal 0 starts where the audit log began: anything stored before its window was added
    /// later (backdated). A bounded number of day partitions is read; the tamper watch names
    /// an insert backdated further, as it happens.
    async fn check_before_first(
        &self,
        first_key: &str,
        first: &Seal,
        findings: &mut Vec<Finding>,
    ) -> Result<(), SealFailure> {
        let Some(start) = days_before(&first.from, DAYS_CHECKED_BEFORE_FIRST_SEAL) else {
            return Ok(());
        };
        let before = self.read_window(&start, &first.from, 0, findings).await?;
        for event in before {
            findings.push(Finding {
                index: 0,
                kind: FindingKind::AuditEventAdded {
                    seal: first_key.to_owned(),
                    pk: event.pk,
                    sk: event.sk,
                },
            });
        }
        Ok(())
    }

    /// One seal's events file against the events its window holds now.
    async fn verify_seal(
        &self,
        key: &str,
        seal: &Seal,
        originals: &HashMap<String, String>,
    ) -> Result<SealCheck, SealFailure> {
        let mut check = SealCheck::default();
        let sealed = match self.read_events(key, seal, originals).await? {
            Ok(events) => events,
            Err(reason) => {
                check.findings.push(Finding {
                    index: seal.seq,
                    kind: FindingKind::AuditSealInvalid {
                        seal: key.to_owned(),
                        reason,
                    },
                });
                return Ok(check);
            }
        };
        let current = self
            .read_window(&seal.from, &seal.to, seal.seq, &mut check.findings)
            .await?;
        for difference in audit_seal::compare_events(&sealed, &current) {
            let seal_key = key.to_owned();
            let kind = match difference {
                EventDifference::Changed {
                    key: AuditKey { pk, sk },
                    ..
                } => FindingKind::AuditEventChanged {
                    seal: seal_key,
                    pk,
                    sk,
                },
                EventDifference::Missing {
                    key: AuditKey { pk, sk },
                } => FindingKind::AuditEventMissing {
                    seal: seal_key,
                    pk,
                    sk,
                },
                EventDifference::Added {
                    key: AuditKey { pk, sk },
                } => FindingKind::AuditEventAdded {
                    seal: seal_key,
                    pk,
                    sk,
                },
            };
            check.findings.push(Finding {
                index: seal.seq,
                kind,
            });
        }
        Ok(check)
    }

    /// The original version of a seal's events file (from the prefix's listing), checked
    /// against the seal.
    async fn read_events(
        &self,
        key: &str,
        seal: &Seal,
        originals: &HashMap<String, String>,
    ) -> Result<Result<Vec<SealedEvent>, String>, SealFailure> {
        let file = events_key(seal.seq, &seal.time);
        let Some(version_id) = originals.get(&file) else {
            return Ok(Err(format!("its events file {file} is missing")));
        };
        let bytes = self.vault.get_version(&file, version_id).await?;
        Ok(seal
            .parse_events(&bytes)
            .map_err(|e| format!("its events file {file} does not match {key}: {e}")))
    }

    /// The events the table holds now in `[from, to)`, in key order, as leaves; unreadable
    /// items become findings at `seq` (and are left out, so they also show as missing).
    async fn read_window(
        &self,
        from: &Timestamp,
        to: &Timestamp,
        seq: u64,
        findings: &mut Vec<Finding>,
    ) -> Result<Vec<SealedEvent>, SealFailure> {
        let mut events = Vec::new();
        let mut unreadable = Vec::new();
        self.log
            .visit_window(from, to, |item| match item.event {
                Ok(event) => {
                    let leaf = event_leaf(&item.key, &event);
                    events.push(SealedEvent::new(item.key, leaf));
                }
                Err(error) => unreadable.push((item.key, error.to_string())),
            })
            .await?;
        for (AuditKey { pk, sk }, reason) in unreadable {
            findings.push(Finding {
                index: seq,
                kind: FindingKind::AuditEventUnreadable { pk, sk, reason },
            });
        }
        Ok(events)
    }

    /// Seals the window after `latest` up to `now - lag` (at most [`MAX_EVENTS_PER_SEAL`]
    /// events; the rest is left to the next run).
    async fn seal_next(
        &self,
        latest: Option<&LoadedSeal>,
        now: Timestamp,
        report: &mut SealReport,
    ) -> Result<(), SealFailure> {
        let lag = time::Duration::seconds(i64::try_from(self.lag_seconds).unwrap_or(i64::MAX));
        let Some(mut to) = now.checked_sub(lag) else {
            return Ok(());
        };
        let from = match latest {
            Some(latest) => latest.seal.to,
            None => match self.log.earliest_day().await? {
                Some(day) => Timestamp::parse_canonical(&format!("{day}T00:00:00.000000Z"))
                    .map_err(|e| SealFailure::Seal(format!("audit partition {day:?}: {e}")))?,
                None => return Ok(()),
            },
        };
        if from >= to {
            return Ok(());
        }
        let seq = latest.map_or(0, |l| l.seal.seq + 1);
        // An unreadable item cannot be sealed: it is a finding now (and in every `full` run
        // that re-reads the window), but never stops the readable events from being sealed.
        let mut events = self
            .read_window(&from, &to, seq, &mut report.findings)
            .await?;
        if events.len() > MAX_EVENTS_PER_SEAL
            && let Some(cut) = cut_time(&events[MAX_EVENTS_PER_SEAL])
            && cut > from
        {
            to = cut;
            events.retain(|e| audit_seal::key_in_window(&e.key(), &from, &to));
        }
        if events.is_empty() {
            return Ok(());
        }
        let (seal, file) = Seal::new(
            self.trust.origin(),
            latest.map(|l| &l.seal),
            from,
            to,
            events,
            now,
        )
        .map_err(|e| SealFailure::Seal(e.to_string()))?;
        let signature = match self.signer {
            Some(signer) => {
                let der = signer.sign(seal.body().as_bytes()).await?;
                Signature::kms(signer.key_id(), der)
                    .map_err(|e| SealFailure::Seal(e.to_string()))?
            }
            None => Signature::Unsigned,
        };
        let retain_until = now
            .plus_days(self.retention_days)
            .map_err(|e| SealFailure::Seal(e.to_string()))?;
        // The events file first: a note never names a file that is not there.
        self.vault
            .put_locked(
                &events_key(seal.seq, &now),
                file,
                "application/jsonl",
                retain_until,
            )
            .await?;
        let key = seal_key(seal.seq, &now);
        let note = SignedSeal { seal, signature };
        self.vault
            .put_locked(
                &key,
                note.to_text().into_bytes(),
                "text/plain; charset=utf-8",
                retain_until,
            )
            .await?;
        report.sealed_to = Some(note.seal.to);
        report.written = Some(key);
        Ok(())
    }
}

/// The chain of trusted seals (in `(seq, key)` order) checked: each break named by its seal.
fn chain_findings(ordered: &[(String, Seal)]) -> Vec<Finding> {
    audit_seal::check_chain(ordered)
        .into_iter()
        .map(|problem| {
            let (key, reason) = match problem {
                ChainProblem::Gap {
                    key,
                    expected,
                    found,
                } => (
                    key,
                    format!("seal {expected} is missing: the chain of seals jumps to {found}"),
                ),
                ChainProblem::BrokenLink { key, reason } => (key, reason),
                ChainProblem::WrongKey { key, expected } => (
                    key,
                    format!("its content is that of {expected}, not of the key it is stored at"),
                ),
            };
            Finding {
                index: seq_from_key(&key),
                kind: FindingKind::AuditSealInvalid { seal: key, reason },
            }
        })
        .collect()
}

/// The pinned-trust judgement of a seal: the checkpoints' rules, the seal's own signature.
pub fn judge(trust: &TrustedKeys, signed: &SignedSeal) -> SignatureCheck {
    trust.check_note(&signed.seal.origin, &signed.signature, |public_key| {
        signed.verify(public_key).unwrap_or(false)
    })
}

/// The time a key's `sk` starts with, when its partition is that time's day: where a window can
/// be cut so the key starts the next one.
fn cut_time(event: &SealedEvent) -> Option<Timestamp> {
    let time = Timestamp::parse_canonical(event.sk.get(..27)?).ok()?;
    (audit_seal::day_of(&time) == event.pk).then_some(time)
}

/// The start of the day `days` days before the day of `time`.
fn days_before(time: &Timestamp, days: u32) -> Option<Timestamp> {
    let day = Timestamp::parse_canonical(&format!("{}T00:00:00.000000Z", audit_seal::day_of(time)))
        .ok()?;
    Timestamp::from_datetime(day.as_datetime() - time::Duration::days(i64::from(days))).ok()
}

/// The sequence number in a seal key (`…/<20 digits>-…`), 0 when it has none.
fn seq_from_key(key: &str) -> u64 {
    key.strip_prefix(SEAL_PREFIX)
        .and_then(|rest| rest.get(..20))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "audit_seal_tests.rs"]
mod tests;
