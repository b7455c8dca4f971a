//! The tamper watch: the serverless equivalent of the seed's database triggers. It consumes the
//! signals table's DynamoDB stream; appends arrive as INSERTs, so any MODIFY or REMOVE of an
//! item is tampering — audited as `TAMPER_DETECTED` with the old and new image hashes, counted
//! and logged within seconds, not at the next sweep.
//!
//! Promise: a batch is acknowledged only after every tamper event in it is audited; if an audit
//! write fails the batch fails, and Lambda retries it, so no tamper event is lost.

use serde::Serialize;
use serde_json::json;

use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::hash::Hash;
use crate::ports::{AuditSink, Clock, Metric, MetricsSink, StoreError};

pub mod metric {
    pub const TAMPER_EVENTS: &str = "TamperEvents";
}

/// The kind of a stream record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub event_id: String,
    pub kind: ChangeKind,
    /// `pk/sk` of the item.
    pub key: String,
    pub chain_index: Option<u64>,
    pub signal_id: Option<String>,
    pub old: Option<ImageHashes>,
    pub new: Option<ImageHashes>,
}

/// The outcome of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    pub records: usize,
    pub inserts: usize,
    pub tamper_events: usize,
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

    /// Audits every MODIFY and REMOVE in the batch. `Err` (so the batch is retried) only when an
    /// audit record could not be written.
    pub async fn handle(
        &self,
        changes: &[Change],
        request_id: &str,
    ) -> Result<BatchOutcome, StoreError> {
        let mut outcome = BatchOutcome {
            records: changes.len(),
            inserts: 0,
            tamper_events: 0,
        };
        for change in changes {
            if change.kind == ChangeKind::Insert {
                outcome.inserts += 1;
                continue;
            }
            outcome.tamper_events += 1;
            let what = match change.kind {
                ChangeKind::Modify => "modified",
                _ => "removed",
            };
            let reason = format!(
                "ledger item {} was {what} in place; entries are append-only{}",
                change.key,
                change
                    .chain_index
                    .map_or(String::new(), |i| format!(" (chain index {i})"))
            );
            tracing::error!(key = %change.key, kind = ?change.kind, chain_index = change.chain_index, "TAMPER DETECTED: {reason}");
            let event = AuditEvent {
                event_id: uuid::Uuid::now_v7().to_string(),
                occurred_at: self.clock.now(),
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
                    "key": change.key,
                    "old_image": change.old,
                    "new_image": change.new,
                }),
            };
            if let Err(error) = self.audit.record(&event).await {
                tracing::error!(error = %crate::app::ingest::error_chain(&error), "could not audit a tamper event; failing the batch so it is retried");
                self.metrics.emit(&[
                    Metric::count(metric::TAMPER_EVENTS, outcome.tamper_events as u64),
                    Metric::count(crate::app::ingest::metric::AUDIT_WRITE_ERRORS, 1),
                ]);
                return Err(error);
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
                other => panic!("unexpected attribute {other:?}"),
            };
            object.insert(name.clone(), encoded);
        }
        Value::Object(object)
    }

    fn record(name: &str, old: Option<Value>, new: Option<Value>, keys: Value) -> Value {
        let mut dynamodb = json!({"Keys": keys, "StreamViewType": "NEW_AND_OLD_IMAGES"});
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        json!({"eventID": format!("evt-{name}"), "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
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
            .filter_map(change_from_stream_record)
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
                tamper_events: 2
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
        let change = change_from_stream_record(&record(
            "REMOVE",
            Some(item),
            None,
            json!({"pk": {"S": "ENTRY"}, "sk": {"N": "0"}}),
        ))
        .unwrap();
        let ledger = InMemoryLedger::new();
        ledger.fail_audit_writes(true);
        let watch = TamperWatch::new(
            ledger.audit_sink(),
            FixedClock::new(timestamp("2026-11-28T10:00:00Z")),
            RecordingMetrics::default(),
        );
        assert!(watch.handle(&[change], "req").await.is_err());
    }
}
