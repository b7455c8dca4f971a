//! The tamper watch: the serverless equivalent of the seed's database triggers. It consumes the
//! DynamoDB streams of the signals table and of the audit table. Both are append-only, so
//! records arrive as INSERTs; any MODIFY or REMOVE of a ledger item or an audit event is
//! tampering — audited as `TAMPER_DETECTED` naming the item's key (with the old and new image
//! hashes of a ledger item, the old and new images of an audit event), counted and logged within
//! seconds, not at the next sweep. A record that cannot be read is audited the same way.
//! An INSERT into the audit table whose key is not one the ledger writes (`<day>` /
//! `<occurred_at>#<id>`, or an insert audit bundle's `<day>#<0-7>` /
//! `<occurred_at>#INSERTS#<first>`, the day that of the time) or whose time is more than
//! [`BACKDATED_AFTER_SECONDS`] before the record's own time is a backdated event, audited the
//! same way: the sealed audit log's `full` reads only a few days before its first seal, and
//! relies on this for anything older (docs/ledger-format.md §11).
//!
//! Promises:
//! - a batch is acknowledged only after every tamper event in it is audited; if an audit write
//!   fails the batch fails, and Lambda retries it, so no tamper event is lost;
//! - a retried batch never duplicates an event: a tamper event's id and time come from its stream
//!   record (`eventID`, `ApproximateCreationDateTime`), so its audit key is the same on every
//!   attempt, and an event already written counts as written.

use serde::Serialize;
use serde_json::json;

use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::hash::Hash;
use crate::domain::timestamp::Timestamp;
use crate::ports::{AuditSink, Clock, Metric, MetricsSink, StoreError};

pub mod metric {
    pub const TAMPER_EVENTS: &str = "TamperEvents";
}

/// An audit event inserted more than this long after its key's time is backdated. Every writer
/// keys its events at the time it writes them, except the watch itself: its events are keyed at
/// their stream record's time and written when the batch is processed, and the stream's event
/// source drops records older than an hour (`MaximumRecordAgeInSeconds: 3600`, template.yaml),
/// so its own writes are never flagged (no loop). Far below
/// `audit_seal::DAYS_CHECKED_BEFORE_FIRST_SEAL` days, so an event backdated before the first
/// seal is named by one check or the other.
pub const BACKDATED_AFTER_SECONDS: i64 = 2 * 3600;

/// The kind of a stream record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
    /// The record could not be read (an unknown attribute type, a missing field, a stream that
    /// is not watched): never guessed at, audited as tampering.
    Unreadable {
        problem: String,
    },
}

/// The tables whose streams the watch consumes, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedTables {
    pub signals: String,
    pub audit: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchedTable {
    Signals,
    Audit,
}

/// What one image of an item says about its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageHashes {
    /// The `entry_hash` attribute as stored in the image, if it has one.
    pub stored: Option<Hash>,
    /// The hash recomputed from the image's fields, when the image is a well-formed entry;
    /// otherwise why it is not.
    pub recomputed: Result<Hash, String>,
}

/// One stream record, reduced to what the watch needs (built by the DynamoDB adapter).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The stream record's `eventID` (unique per record; the same on every retry).
    pub event_id: String,
    /// `None` when the record could not be read.
    pub table: Option<WatchedTable>,
    pub kind: ChangeKind,
    /// `pk/sk` of the item.
    pub key: String,
    /// The record's `ApproximateCreationDateTime`.
    pub happened_at: Option<Timestamp>,
    pub chain_index: Option<u64>,
    pub signal_id: Option<String>,
    /// Ledger items: what each image's hash says.
    pub old: Option<ImageHashes>,
    pub new: Option<ImageHashes>,
    /// Audit items: the images as the stream carried them.
    pub old_item: Option<serde_json::Value>,
    pub new_item: Option<serde_json::Value>,
}

/// The outcome of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    pub records: usize,
    pub inserts: usize,
    pub tamper_events: usize,
    /// Tamper events an earlier attempt of this batch had already audited.
    pub already_audited: usize,
}

#[derive(Debug)]
pub struct TamperWatch<A, C, M> {
    audit: A,
    clock: C,
    metrics: M,
}

impl<A: AuditSink, C: Clock, M: MetricsSink> TamperWatch<A, C, M> {
    pub fn new(audit: A, clock: C, metrics: M) -> Self {
        TamperWatch {
            audit,
            clock,
            metrics,
        }
    }

    /// Audits every MODIFY, REMOVE and unreadable record in the batch. `Err` (so the batch is
    /// retried) only when an audit record could not be written.
    pub async fn handle(
        &self,
        changes: &[Change],
        request_id: &str,
    ) -> Result<BatchOutcome, StoreError> {
        let mut outcome = BatchOutcome {
            records: changes.len(),
            inserts: 0,
            tamper_events: 0,
            already_audited: 0,
        };
        for change in changes {
            let backdated = self.backdated(change);
            if change.kind == ChangeKind::Insert && backdated.is_none() {
                outcome.inserts += 1;
                continue;
            }
            outcome.tamper_events += 1;
            let event = self.tamper_event(change, request_id, backdated.as_deref());
            tracing::error!(key = %change.key, kind = ?change.kind, chain_index = change.chain_index, "TAMPER DETECTED: {}", event.reason.as_deref().unwrap_or_default());
            match self.audit.record(&event).await {
                Ok(()) => {}
                // A retry of this batch: the event was written by an earlier attempt.
                Err(StoreError::AlreadyExists { .. }) => outcome.already_audited += 1,
                Err(error) => {
                    tracing::error!(error = %crate::app::ingest::error_chain(&error), "could not audit a tamper event; failing the batch so it is retried");
                    self.metrics.emit(&[
                        Metric::count(metric::TAMPER_EVENTS, outcome.tamper_events as u64),
                        Metric::count(crate::app::ingest::metric::AUDIT_WRITE_ERRORS, 1),
                    ]);
                    return Err(error);
                }
            }
        }
        if outcome.tamper_events > 0 {
            self.metrics.emit(&[Metric::count(
                metric::TAMPER_EVENTS,
                outcome.tamper_events as u64,
            )]);
        }
        Ok(outcome)
    }

    /// Why an INSERT into the audit table is a backdated event, if it is: its key is not one
    /// the ledger writes, or its time is more than [`BACKDATED_AFTER_SECONDS`] before the
    /// record's (the clock's when the record has no time).
    fn backdated(&self, change: &Change) -> Option<String> {
        if change.kind != ChangeKind::Insert || change.table != Some(WatchedTable::Audit) {
            return None;
        }
        let keyed_at = change.key.split_once('/').and_then(|(pk, sk)| {
            let time = Timestamp::parse_canonical(sk.get(..27)?).ok()?;
            // An insert audit bundle's partition is a stripe of its day: `<day>#<0-7>`.
            let day = match pk.split_once('#') {
                Some((day, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7")) => day,
                Some(_) => return None,
                None => pk,
            };
            (sk.as_bytes().get(27) == Some(&b'#') && time.as_str().get(..10) == Some(day))
                .then_some(time)
        });
        let Some(keyed_at) = keyed_at else {
            return Some(format!(
                "audit event {} was inserted under a key the ledger never writes (`<day>/<time>#<id>`, the day that of the time)",
                change.key
            ));
        };
        let inserted_at = change.happened_at.unwrap_or_else(|| self.clock.now());
        let age = inserted_at.as_datetime() - keyed_at.as_datetime();
        (age > time::Duration::seconds(BACKDATED_AFTER_SECONDS)).then(|| {
            format!(
                "audit event {} was inserted at {inserted_at}, {} s after its own time: backdated (more than {BACKDATED_AFTER_SECONDS} s)",
                change.key,
                age.whole_seconds()
            )
        })
    }

    /// The audit event of one tampering record. Its id and time come from the stream record,
    /// so every attempt builds the same key; only a record without them gets fresh ones.
    fn tamper_event(
        &self,
        change: &Change,
        request_id: &str,
        backdated: Option<&str>,
    ) -> AuditEvent {
        let what = match &change.kind {
            ChangeKind::Modify => "was modified in place",
            ChangeKind::Remove => "was removed",
            _ => "could not be read",
        };
        let reason = match (&change.table, &change.kind) {
            _ if let Some(backdated) = backdated => backdated.to_owned(),
            (_, ChangeKind::Unreadable { problem }) => format!(
                "stream record {} could not be read ({problem}); the ledger's items are never written in a shape it cannot read",
                change.event_id
            ),
            (Some(WatchedTable::Audit), _) => format!(
                "audit event {} {what}; audit events are append-only",
                change.key
            ),
            _ => format!(
                "ledger item {} {what}; entries are append-only{}",
                change.key,
                change
                    .chain_index
                    .map_or(String::new(), |i| format!(" (chain index {i})"))
            ),
        };
        let (event_id, occurred_at) = match (change.event_id.is_empty(), change.happened_at) {
            (false, Some(at)) => (format!("stream-{}", change.event_id), at),
            _ => (uuid::Uuid::now_v7().to_string(), self.clock.now()),
        };
        AuditEvent {
            event_id,
            occurred_at,
            event_type: AuditEventType::TamperDetected,
            actor: "tamper-watch".to_owned(),
            request_id: request_id.to_owned(),
            signal_id: change.signal_id.clone(),
            chain_index: change.chain_index,
            reason: Some(reason),
            excerpt: None,
            details: json!({
                "stream_event_id": change.event_id,
                "event_name": change.kind,
                "table": change.table,
                "key": change.key,
                "old_image": change.old,
                "new_image": change.new,
                "old_item": change.old_item,
                "new_item": change.new_item,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::adapters::dynamodb::{change_from_stream_record, claim_item, entry_item};
    use crate::adapters::memory::{FixedClock, InMemoryLedger, RecordingMetrics};
    use crate::domain::test_support::{chain, timestamp};

    /// An item in DynamoDB's JSON form, as a stream record carries it.
    fn json_item(
        item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    ) -> Value {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut object = serde_json::Map::new();
        for (name, value) in item {
            let encoded = match value {
                AttributeValue::S(s) => json!({"S": s}),
                AttributeValue::N(n) => json!({"N": n}),
                AttributeValue::M(map) => json!({"M": json_item(map)}),
                AttributeValue::L(list) => json!({"L": list
                    .iter()
                    .map(|v| match v {
                        AttributeValue::M(map) => json!({"M": json_item(map)}),
                        AttributeValue::S(s) => json!({"S": s}),
                        other => panic!("unexpected element {other:?}"),
                    })
                    .collect::<Vec<_>>()}),
                other => panic!("unexpected attribute {other:?}"),
            };
            object.insert(name.clone(), encoded);
        }
        Value::Object(object)
    }

    fn tables() -> WatchedTables {
        WatchedTables {
            signals: "t-signals".into(),
            audit: "t-audit".into(),
        }
    }

    /// A Lambda DynamoDB event record of the signals table's stream.
    fn record(name: &str, old: Option<Value>, new: Option<Value>, keys: Value) -> Value {
        record_of("t-signals", name, old, new, keys)
    }

    fn record_of(
        table: &str,
        name: &str,
        old: Option<Value>,
        new: Option<Value>,
        keys: Value,
    ) -> Value {
        let mut dynamodb = json!({"Keys": keys, "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 1_795_000_000.0, "SizeBytes": 100,
            "SequenceNumber": format!("seq-{name}")});
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        json!({"eventID": format!("evt-{name}"), "eventName": name, "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "eventVersion": "1.1",
            "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-11-28T00:00:00.000"),
            "dynamodb": dynamodb})
    }

    /// Layout 2: a bundle rewritten with one of its entries edited is a MODIFY naming that
    /// entry's chain index, its hash intact in the old image and not in the new one; the
    /// commit's INSERTs (commit record, bundle, claims) pass.
    #[tokio::test]
    async fn a_modified_bundle_names_the_entry_that_changed() {
        use crate::adapters::dynamodb::commit::commit_items;
        let entries = chain(3);
        let items = commit_items(0, "", &entries, &[]);
        let original = json_item(&items.bundle);
        let mut edited_entries = entries.clone();
        edited_entries[2]
            .entry
            .content
            .rationale
            .push_str(" (edited)");
        let edited = json_item(&commit_items(0, "", &edited_entries, &[]).bundle);
        let keys = json!({"pk": {"S": "BUNDLE#0"}, "sk": {"N": "0"}});
        let records = [
            record(
                "INSERT",
                None,
                Some(json_item(&items.commit)),
                json!({"pk": {"S": "COMMIT"}, "sk": {"N": "0"}}),
            ),
            record("INSERT", None, Some(original.clone()), keys.clone()),
            record("MODIFY", Some(original.clone()), Some(edited), keys.clone()),
            record("REMOVE", Some(original), None, keys),
        ];
        let changes: Vec<Change> = records
            .iter()
            .map(|r| change_from_stream_record(r, &tables()))
            .collect();
        let modify = &changes[2];
        assert_eq!(
            (modify.kind.clone(), modify.key.as_str(), modify.chain_index),
            (ChangeKind::Modify, "BUNDLE#0/0", Some(2))
        );
        let (old, new) = (modify.old.as_ref().unwrap(), modify.new.as_ref().unwrap());
        assert_eq!(old.stored, Some(entries[2].entry_hash));
        assert_eq!(old.recomputed.as_ref().ok(), Some(&entries[2].entry_hash));
        assert_ne!(new.recomputed.as_ref().ok(), new.stored.as_ref());
        assert_eq!(
            changes[3].chain_index,
            Some(0),
            "a removed bundle names its first index"
        );
        let ledger = InMemoryLedger::new();
        let outcome = watch(&ledger).handle(&changes, "req").await.unwrap();
        assert_eq!((outcome.inserts, outcome.tamper_events), (2, 2));
    }

    #[tokio::test]
    async fn inserts_pass_and_modifications_and_removals_are_audited() {
        let entries = chain(3);
        let original = json_item(&entry_item(&entries[1]));
        let mut edited_entry = entries[1].clone();
        edited_entry.entry.content.rationale.push_str(" (edited)");
        let edited = json_item(&entry_item(&edited_entry));
        let keys = json!({"pk": {"S": "ENTRY"}, "sk": {"N": "1"}});
        let records = [
            record("INSERT", None, Some(original.clone()), keys.clone()),
            record(
                "INSERT",
                None,
                Some(json_item(&claim_item(&entries[1]))),
                json!({"pk": {"S": "SIGNAL#sig-000001"}, "sk": {"N": "0"}}),
            ),
            record("MODIFY", Some(original.clone()), Some(edited), keys.clone()),
            record("REMOVE", Some(original), None, keys),
        ];
        let changes: Vec<Change> = records
            .iter()
            .map(|r| change_from_stream_record(r, &tables()))
            .collect();
        assert_eq!(changes.len(), 4);
        let modify = &changes[2];
        assert_eq!(
            (modify.kind.clone(), modify.key.as_str(), modify.chain_index),
            (ChangeKind::Modify, "ENTRY/1", Some(1))
        );
        let old = modify.old.as_ref().unwrap();
        assert_eq!(old.stored, Some(entries[1].entry_hash));
        assert_eq!(old.recomputed, Ok(entries[1].entry_hash));
        let new = modify.new.as_ref().unwrap();
        assert_eq!(
            new.stored,
            Some(entries[1].entry_hash),
            "the insider left the stored hash"
        );
        assert_ne!(
            new.recomputed,
            Ok(entries[1].entry_hash),
            "but the content no longer hashes to it"
        );

        let ledger = InMemoryLedger::new();
        let metrics = RecordingMetrics::default();
        let watch = TamperWatch::new(
            ledger.audit_sink(),
            FixedClock::new(timestamp("2026-11-28T10:00:00Z")),
            metrics.clone(),
        );
        let outcome = watch.handle(&changes, "req").await.unwrap();
        assert_eq!(
            outcome,
            BatchOutcome {
                records: 4,
                inserts: 2,
                tamper_events: 2,
                already_audited: 0,
            }
        );
        let events = ledger.audit_events();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.event_type == AuditEventType::TamperDetected && e.chain_index == Some(1)));
        assert_eq!(
            events[0].details["old_image"]["stored"],
            json!(entries[1].entry_hash)
        );
        assert_eq!(metrics.total(metric::TAMPER_EVENTS), 2.0);
    }

    #[tokio::test]
    async fn a_batch_whose_audit_fails_is_failed_for_retry() {
        let entries = chain(1);
        let item = json_item(&entry_item(&entries[0]));
        let change = change_from_stream_record(
            &record(
                "REMOVE",
                Some(item),
                None,
                json!({"pk": {"S": "ENTRY"}, "sk": {"N": "0"}}),
            ),
            &tables(),
        );
        let ledger = InMemoryLedger::new();
        ledger.fail_audit_writes(true);
        let watch = TamperWatch::new(
            ledger.audit_sink(),
            FixedClock::new(timestamp("2026-11-28T10:00:00Z")),
            RecordingMetrics::default(),
        );
        assert!(watch.handle(&[change], "req").await.is_err());
    }

    fn watch(
        ledger: &InMemoryLedger,
    ) -> TamperWatch<crate::adapters::memory::InMemoryAuditSink, FixedClock, RecordingMetrics> {
        TamperWatch::new(
            ledger.audit_sink(),
            FixedClock::new(timestamp("2026-11-28T10:00:00Z")),
            RecordingMetrics::default(),
        )
    }

    #[tokio::test]
    async fn a_retried_batch_never_duplicates_a_tamper_event() {
        let entries = chain(2);
        let item = json_item(&entry_item(&entries[1]));
        let keys = json!({"pk": {"S": "ENTRY"}, "sk": {"N": "1"}});
        let changes: Vec<Change> = [
            record(
                "MODIFY",
                Some(item.clone()),
                Some(item.clone()),
                keys.clone(),
            ),
            record("REMOVE", Some(item), None, keys),
        ]
        .iter()
        .map(|r| change_from_stream_record(r, &tables()))
        .collect();
        let ledger = InMemoryLedger::new();
        let watch = watch(&ledger);
        let first = watch.handle(&changes, "attempt-1").await.unwrap();
        assert_eq!((first.tamper_events, first.already_audited), (2, 0));
        // Lambda retries the whole batch (say the function timed out after the writes).
        let retry = watch.handle(&changes, "attempt-2").await.unwrap();
        assert_eq!((retry.tamper_events, retry.already_audited), (2, 2));
        let events = ledger.audit_events();
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].event_id, "stream-evt-MODIFY");
        // The event's time is the stream record's, not the clock's.
        assert_eq!(events[0].occurred_at, timestamp("2026-11-18T11:06:40Z"));
    }

    #[tokio::test]
    async fn a_rewritten_or_removed_audit_event_is_tampering_named_by_its_key() {
        let keys =
            json!({"pk": {"S": "2026-11-28"}, "sk": {"S": "2026-11-28T09:00:00.000000Z#e1"}});
        let original = json!({"pk": {"S": "2026-11-28"}, "sk": {"S": "2026-11-28T09:00:00.000000Z#e1"},
            "event_type": {"S": "DELETE_ATTEMPT"}, "actor": {"S": "arn:aws:iam::1:user/mallory"}});
        let mut rewritten = original.clone();
        rewritten["actor"] = json!({"S": "arn:aws:iam::1:user/alice"});
        let changes: Vec<Change> = [
            record_of(
                "t-audit",
                "INSERT",
                None,
                Some(original.clone()),
                keys.clone(),
            ),
            record_of(
                "t-audit",
                "MODIFY",
                Some(original.clone()),
                Some(rewritten),
                keys.clone(),
            ),
            record_of("t-audit", "REMOVE", Some(original), None, keys),
        ]
        .iter()
        .map(|r| change_from_stream_record(r, &tables()))
        .collect();
        assert!(changes.iter().all(|c| c.table == Some(WatchedTable::Audit)));
        let ledger = InMemoryLedger::new();
        let outcome = watch(&ledger).handle(&changes, "req").await.unwrap();
        assert_eq!((outcome.inserts, outcome.tamper_events), (1, 2));
        let events = ledger.audit_events();
        let modified = &events[0];
        assert_eq!(modified.event_type, AuditEventType::TamperDetected);
        let reason = modified.reason.clone().unwrap();
        assert!(
            reason.contains("audit event 2026-11-28/2026-11-28T09:00:00.000000Z#e1 was modified"),
            "{reason}"
        );
        assert_eq!(
            modified.details["old_item"]["actor"],
            json!({"S": "arn:aws:iam::1:user/mallory"})
        );
        assert_eq!(
            modified.details["new_item"]["actor"],
            json!({"S": "arn:aws:iam::1:user/alice"})
        );
        assert!(events[1].reason.clone().unwrap().contains("was removed"));
    }

    /// An INSERT into the audit table, with its own stream id, at `inserted_at` (Unix seconds).
    fn audit_insert(id: &str, pk: &str, sk: &str, inserted_at: f64) -> Change {
        let keys = json!({"pk": {"S": pk}, "sk": {"S": sk}});
        let mut record = record_of("t-audit", "INSERT", None, Some(keys.clone()), keys);
        record["eventID"] = json!(id);
        record["dynamodb"]["ApproximateCreationDateTime"] = json!(inserted_at);
        change_from_stream_record(&record, &tables())
    }

    /// A backdated audit event (older than [`BACKDATED_AFTER_SECONDS`] when inserted, or under a
    /// key the ledger never writes) is tampering named by its key; the watch's own events,
    /// written up to an hour after their key's time, are not, so it never flags itself.
    #[tokio::test]
    async fn a_backdated_audit_insert_is_tampering_and_the_watch_never_flags_its_own_events() {
        // 2026-11-18T11:06:40Z.
        let at = 1_795_000_000.0;
        let changes = [
            audit_insert("fresh", "2026-11-18", "2026-11-18T11:06:00.000000Z#a", at),
            // The watch's own event, written an hour late (the stream's maximum record age).
            audit_insert(
                "own",
                "2026-11-18",
                "2026-11-18T10:06:40.000000Z#stream-x",
                at,
            ),
            audit_insert("late", "2026-11-18", "2026-11-18T09:06:39.000000Z#b", at),
            audit_insert("years", "2019-01-01", "2019-01-01T00:00:00.000000Z#c", at),
            audit_insert(
                "other-day",
                "2019-01-01",
                "2026-11-18T11:06:00.000000Z#d",
                at,
            ),
            audit_insert("no-time", "2026-11-18", "whenever#e", at),
            // An insert audit bundle of a commit, in stripe 5 of its day: a key the ledger writes.
            audit_insert(
                "bundle",
                "2026-11-18#5",
                "2026-11-18T11:06:00.000000Z#INSERTS#13",
                at,
            ),
            // A stripe the ledger never writes, and a stripe of another day.
            audit_insert(
                "stripe-9",
                "2026-11-18#9",
                "2026-11-18T11:06:00.000000Z#INSERTS#9",
                at,
            ),
            audit_insert(
                "stripe-other-day",
                "2019-01-01#5",
                "2026-11-18T11:06:00.000000Z#INSERTS#13",
                at,
            ),
        ];
        let ledger = InMemoryLedger::new();
        let outcome = watch(&ledger).handle(&changes, "req").await.unwrap();
        assert_eq!((outcome.inserts, outcome.tamper_events), (3, 6));
        let events = ledger.audit_events();
        let reasons: Vec<String> = events.iter().map(|e| e.reason.clone().unwrap()).collect();
        for key in [
            "2026-11-18/2026-11-18T09:06:39.000000Z#b was inserted at 2026-11-18T11:06:40.000000Z, 7201 s after its own time: backdated",
            "2019-01-01/2019-01-01T00:00:00.000000Z#c was inserted",
            "2019-01-01/2026-11-18T11:06:00.000000Z#d was inserted under a key the ledger never writes",
            "2026-11-18/whenever#e was inserted under a key",
            "2026-11-18#9/2026-11-18T11:06:00.000000Z#INSERTS#9 was inserted under a key",
            "2019-01-01#5/2026-11-18T11:06:00.000000Z#INSERTS#13 was inserted under a key",
        ] {
            assert!(
                reasons.iter().any(|r| r.contains(key)),
                "{key}: {reasons:?}"
            );
        }
        assert!(
            events
                .iter()
                .all(|e| e.event_type == AuditEventType::TamperDetected)
        );

        // Its own tamper events come back on the stream, up to an hour later: never flagged.
        let echoes: Vec<Change> = events
            .iter()
            .map(|event| {
                let key = crate::domain::audit_seal::AuditKey::of(event);
                let written = event.occurred_at.as_datetime().unix_timestamp() as f64 + 3600.0;
                audit_insert(
                    &format!("echo-{}", event.event_id),
                    &key.pk,
                    &key.sk,
                    written,
                )
            })
            .collect();
        let again = watch(&ledger).handle(&echoes, "req").await.unwrap();
        assert_eq!((again.inserts, again.tamper_events), (6, 0));
    }

    #[tokio::test]
    async fn an_unreadable_record_is_audited_never_guessed() {
        let keys = json!({"pk": {"S": "ENTRY"}, "sk": {"N": "1"}});
        // An attribute type DynamoDB does not have; a record of a table nobody watches; a
        // record without its mandatory fields.
        let odd_type = record(
            "MODIFY",
            Some(json!({"pk": {"S": "ENTRY"}, "sk": {"N": "1"}, "symbol": {"X": "AAPL"}})),
            None,
            keys.clone(),
        );
        let other_table = record_of("elsewhere", "MODIFY", None, None, keys);
        let broken = json!({"eventID": "evt-broken", "eventName": "MODIFY"});
        let changes: Vec<Change> = [odd_type, other_table, broken]
            .iter()
            .map(|r| change_from_stream_record(r, &tables()))
            .collect();
        for change in &changes {
            assert!(
                matches!(change.kind, ChangeKind::Unreadable { .. }),
                "{change:?}"
            );
        }
        let ledger = InMemoryLedger::new();
        let outcome = watch(&ledger).handle(&changes, "req").await.unwrap();
        assert_eq!(outcome.tamper_events, 3);
        let reasons: Vec<String> = ledger
            .audit_events()
            .iter()
            .map(|e| e.reason.clone().unwrap())
            .collect();
        assert!(
            reasons[0].contains("evt-MODIFY could not be read"),
            "{reasons:?}"
        );
        assert!(reasons[2].contains("evt-broken"), "{reasons:?}");
    }
}
