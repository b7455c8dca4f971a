//! Statistics over the audit events of a period: counts per type and day, the access review
//! (actor × event type), and the refused-write and tamper events the immutability section lists.
//!
//! Promise: memory is bounded whatever the number of events: counts are per (day, type) and
//! per (actor, type) up to [`MAX_ACCESS_REVIEW_ROWS`], listed events are capped at
//! [`MAX_LISTED_EVENTS`] per kind, and everything beyond a cap is still counted.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::report::client_latency::{ClientDelivery, ClientLatencyAccumulator};
use time::Date;

use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::timestamp::Timestamp;

/// At most this many refused attempts (and, separately, tamper events) are listed.
pub const MAX_LISTED_EVENTS: usize = 100;
/// At most this many (actor, event type) rows are kept for the access review.
pub const MAX_ACCESS_REVIEW_ROWS: usize = 1_000;

/// One listed audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    pub event_type: AuditEventType,
    pub occurred_at: Timestamp,
    pub actor: String,
    pub signal_id: Option<String>,
    pub chain_index: Option<u64>,
    pub request_id: String,
    pub reason: Option<String>,
}

impl EventRecord {
    fn of(event: &AuditEvent) -> EventRecord {
        EventRecord {
            event_type: event.event_type,
            occurred_at: event.occurred_at,
            actor: event.actor.clone(),
            signal_id: event.signal_id.clone(),
            chain_index: event.chain_index,
            request_id: event.request_id.clone(),
            reason: event.reason.clone(),
        }
    }
}

/// A capped list with its true total.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ListedEvents {
    pub total: u64,
    pub listed: Vec<EventRecord>,
}

impl ListedEvents {
    fn push(&mut self, event: &AuditEvent) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_EVENTS {
            self.listed.push(EventRecord::of(event));
        }
    }
}

/// What kind of access an event records, so the review shows reads beside writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Records disclosed to the actor (`RECORDS_READ`: a signal, a proof, an export).
    Read,
    /// Records added by the actor (a signal, a receipt, an acknowledgement).
    Write,
    /// A write or request the ledger refused (validation, immutability, unsupported).
    Refused,
    /// A scheduled job's run or finding (sweep, backup, verification, report, tamper watch).
    Job,
}

impl Access {
    pub fn of(event_type: AuditEventType) -> Access {
        use AuditEventType::*;
        match event_type {
            RecordsRead => Access::Read,
            SignalInserted | ReceiptRecorded | FindingAcknowledged => Access::Write,
            SignalRejected | ConflictingReplay | ModificationAttempt | DeleteAttempt
            | UnsupportedRequest | ReceiptRejected | AppendFailed => Access::Refused,
            IntegrityCheckPassed
            | IntegrityCheckFailed
            | TamperDetected
            | BackupSucceeded
            | BackupFailed
            | BackupVerified
            | BackupVerificationFailed
            | ReportGenerated
            | ReportFailed => Access::Job,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Refused => "refused",
            Access::Job => "job",
        }
    }
}

/// One access-review row: what one actor did, how often, first and last time; `access` says
/// whether it was a read, a write, a refused attempt or a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessReviewRow {
    pub actor: String,
    pub event_type: AuditEventType,
    pub access: Access,
    pub count: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

/// Accumulates the audit events of the period. The caller adds only events in the period.
#[derive(Debug, Clone, Default)]
pub struct AuditAccumulator {
    total: u64,
    per_day: BTreeMap<Date, BTreeMap<AuditEventType, u64>>,
    totals: BTreeMap<AuditEventType, u64>,
    access: BTreeMap<(String, AuditEventType), (u64, Timestamp, Timestamp)>,
    access_not_listed: u64,
    refused: ListedEvents,
    tamper: ListedEvents,
    /// Client delivery latency, from the `RECEIPT_RECORDED` events.
    client: ClientLatencyAccumulator,
}

impl AuditAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Client delivery latency of the receipts recorded in the period.
    pub fn client_delivery(&self) -> ClientDelivery {
        self.client.summary()
    }

    pub fn add(&mut self, event: &AuditEvent) {
        let kind = event.event_type;
        let at = event.occurred_at;
        self.total += 1;
        self.client.add_event(event);
        *self
            .per_day
            .entry(at.as_datetime().date())
            .or_default()
            .entry(kind)
            .or_default() += 1;
        *self.totals.entry(kind).or_default() += 1;
        let key = (event.actor.clone(), kind);
        if let Some((count, first, last)) = self.access.get_mut(&key) {
            *count += 1;
            *first = (*first).min(at);
            *last = (*last).max(at);
        } else if self.access.len() < MAX_ACCESS_REVIEW_ROWS {
            self.access.insert(key, (1, at, at));
        } else {
            self.access_not_listed += 1;
        }
        match kind {
            AuditEventType::ModificationAttempt | AuditEventType::DeleteAttempt => {
                self.refused.push(event)
            }
            AuditEventType::TamperDetected => self.tamper.push(event),
            _ => {}
        }
    }

    /// Events added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Events of `kind`.
    pub fn count(&self, kind: AuditEventType) -> u64 {
        self.totals.get(&kind).copied().unwrap_or(0)
    }

    /// Totals per event type (types with no event left out).
    pub fn totals(&self) -> &BTreeMap<AuditEventType, u64> {
        &self.totals
    }

    /// Counts per type on `day`.
    pub fn on_day(&self, day: Date) -> BTreeMap<AuditEventType, u64> {
        self.per_day.get(&day).cloned().unwrap_or_default()
    }

    /// Distinct actors among the access-review rows kept.
    pub fn distinct_actors(&self) -> Vec<String> {
        let mut actors: Vec<String> = self.access.keys().map(|(actor, _)| actor.clone()).collect();
        actors.dedup();
        actors
    }

    /// The access review, by actor then event type.
    pub fn access_review(&self) -> Vec<AccessReviewRow> {
        self.access
            .iter()
            .map(
                |((actor, event_type), (count, first, last))| AccessReviewRow {
                    actor: actor.clone(),
                    event_type: *event_type,
                    access: Access::of(*event_type),
                    count: *count,
                    first: *first,
                    last: *last,
                },
            )
            .collect()
    }

    /// Events whose (actor, type) pair came after the access review was full.
    pub fn access_not_listed(&self) -> u64 {
        self.access_not_listed
    }

    /// Refused MODIFICATION_ATTEMPT and DELETE_ATTEMPT events.
    pub fn refused_attempts(&self) -> &ListedEvents {
        &self.refused
    }

    /// TAMPER_DETECTED events.
    pub fn tamper_events(&self) -> &ListedEvents {
        &self.tamper
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::period::iso_date;
    use crate::domain::test_support::{chain, insert_event, timestamp};

    pub(crate) fn event(kind: AuditEventType, actor: &str, at: &str) -> AuditEvent {
        let mut event = insert_event(&chain(1)[0]);
        event.event_type = kind;
        event.actor = actor.to_owned();
        event.occurred_at = timestamp(at);
        event
    }

    #[test]
    fn counts_per_type_day_and_actor() {
        use AuditEventType::*;
        let mut acc = AuditAccumulator::new();
        for (kind, actor, at) in [
            (SignalInserted, "producer", "2026-11-27T09:00:00Z"),
            (SignalInserted, "producer", "2026-11-27T10:00:00Z"),
            (SignalInserted, "producer", "2026-11-28T08:00:00Z"),
            (SignalRejected, "producer", "2026-11-27T11:00:00Z"),
            (DeleteAttempt, "mallory", "2026-11-28T01:00:00Z"),
            (ModificationAttempt, "mallory", "2026-11-27T23:00:00Z"),
            (TamperDetected, "sweep", "2026-11-28T03:00:00Z"),
        ] {
            acc.add(&event(kind, actor, at));
        }
        assert_eq!(acc.total(), 7);
        assert_eq!(acc.count(SignalInserted), 3);
        assert_eq!(acc.count(BackupFailed), 0);
        let day = |text: &str| {
            let ts = timestamp(&format!("{text}T00:00:00Z")).as_datetime().date();
            assert_eq!(iso_date(ts), text);
            acc.on_day(ts).into_iter().collect::<Vec<_>>()
        };
        assert_eq!(
            day("2026-11-27"),
            vec![
                (SignalInserted, 2),
                (SignalRejected, 1),
                (ModificationAttempt, 1)
            ]
        );
        assert_eq!(
            day("2026-11-28"),
            vec![(SignalInserted, 1), (DeleteAttempt, 1), (TamperDetected, 1)]
        );
        assert_eq!(acc.distinct_actors(), vec!["mallory", "producer", "sweep"]);
        let review: Vec<(String, AuditEventType, u64, String, String)> = acc
            .access_review()
            .into_iter()
            .map(|r| {
                (
                    r.actor,
                    r.event_type,
                    r.count,
                    r.first.to_string(),
                    r.last.to_string(),
                )
            })
            .collect();
        assert_eq!(
            review[2],
            (
                "producer".into(),
                SignalInserted,
                3,
                "2026-11-27T09:00:00.000000Z".into(),
                "2026-11-28T08:00:00.000000Z".into()
            )
        );
        assert_eq!(review.len(), 5);
        assert_eq!(acc.refused_attempts().total, 2);
        assert_eq!(acc.refused_attempts().listed[0].actor, "mallory");
        assert_eq!(acc.tamper_events().total, 1);
    }

    /// Reads sit beside writes in the review: an auditor's proof reads are rows of their own,
    /// marked as reads, next to the producer's inserts.
    #[test]
    fn the_access_review_marks_reads_beside_writes() {
        let mut acc = AuditAccumulator::new();
        acc.add(&event(
            AuditEventType::SignalInserted,
            "producer",
            "2026-11-27T09:00:00Z",
        ));
        acc.add(&event(
            AuditEventType::RecordsRead,
            "auditor",
            "2026-11-27T10:00:00Z",
        ));
        acc.add(&event(
            AuditEventType::RecordsRead,
            "auditor",
            "2026-11-27T11:00:00Z",
        ));
        acc.add(&event(
            AuditEventType::DeleteAttempt,
            "mallory",
            "2026-11-27T12:00:00Z",
        ));
        let review: Vec<(String, Access, u64)> = acc
            .access_review()
            .into_iter()
            .map(|r| (r.actor, r.access, r.count))
            .collect();
        assert_eq!(
            review,
            vec![
                ("auditor".into(), Access::Read, 2),
                ("mallory".into(), Access::Refused, 1),
                ("producer".into(), Access::Write, 1),
            ]
        );
        let json = serde_json::to_value(acc.access_review()).unwrap();
        assert_eq!(json[0]["access"], "read");
        assert_eq!(json[0]["event_type"], "RECORDS_READ");
    }

    #[test]
    fn lists_are_capped_but_counted() {
        let mut acc = AuditAccumulator::new();
        for n in 0..MAX_LISTED_EVENTS + 7 {
            acc.add(&event(
                AuditEventType::DeleteAttempt,
                &format!("actor-{n}"),
                "2026-11-27T09:00:00Z",
            ));
        }
        assert_eq!(acc.refused_attempts().total, MAX_LISTED_EVENTS as u64 + 7);
        assert_eq!(acc.refused_attempts().listed.len(), MAX_LISTED_EVENTS);
    }
}
