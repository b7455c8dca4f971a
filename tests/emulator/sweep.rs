//! The integrity sweep and the tamper watch against the emulator: DynamoDB, S3 Object Lock and
//! KMS signing. Tampering is done as an insider would, directly with the SDK.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::adapters::dynamodb::{
    DynamoAuditSink, DynamoLedgerStore, change_from_stream_record, claim_item, entry_item,
};
use shared::adapters::kms::KmsSigner;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::s3::S3Vault;
use shared::adapters::system::SystemClock;
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings};
use shared::app::sweep::{
    IntegritySweep, SweepError, SweepMode, SweepRecord, SweepSettings, SweepStatus,
};
use shared::app::tamper_watch::{ChangeKind, TamperWatch, WatchedTables};
use shared::domain::audit::AuditEventType;
use shared::domain::checkpoint::{Signature, SignedCheckpoint, verify_p256};
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::StoredEntry;
use shared::ports::{BlobVault, PublicKeys, VaultReads};

use crate::support::{audit_events, read_all, signal};

pub(crate) type Sweep = IntegritySweep<
    DynamoLedgerStore,
    S3Vault,
    KmsSigner,
    DynamoAuditSink,
    SystemClock,
    RecordingMetrics,
>;

pub(crate) struct Ledger {
    pub(crate) sdk: aws_config::SdkConfig,
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) signals_table: String,
    pub(crate) audit_table: String,
    pub(crate) bucket: String,
    pub(crate) key_arn: String,
    pub(crate) sweep: Sweep,
}

impl Ledger {
    pub(crate) fn watched(&self) -> WatchedTables {
        WatchedTables {
            signals: self.signals_table.clone(),
            audit: self.audit_table.clone(),
        }
    }

    /// A fresh stack (tables, vault bucket, signing key) from template.yaml, with `signals`
    /// signals ingested.
    pub(crate) async fn new(signals: usize) -> Ledger {
        let crate::support::VaultedStack {
            sdk,
            dynamodb,
            signals: signals_table,
            audit: audit_table,
            bucket,
            key_arn,
        } = crate::support::VaultedStack::new("s").await;
        let sweep = IntegritySweep::new(
            DynamoLedgerStore::new(dynamodb.clone(), &signals_table, &audit_table),
            S3Vault::new(aws_sdk_s3::Client::new(&sdk), &bucket, None),
            Some(KmsSigner::new(aws_sdk_kms::Client::new(&sdk), &key_arn)),
            DynamoAuditSink::new(dynamodb.clone(), &audit_table),
            SystemClock,
            RecordingMetrics::default(),
            SweepSettings {
                retention_days: 1,
                page_size: 4,
                trust: shared::app::vault::CheckpointTrust::new(
                    shared::config::origin(&signals_table),
                    Some(&key_arn),
                    &[],
                ),
            },
        );
        let ledger = Ledger {
            sdk,
            dynamodb,
            signals_table,
            audit_table,
            bucket,
            key_arn,
            sweep,
        };
        ledger.ingest(0, signals).await;
        ledger
    }

    pub(crate) fn store(&self) -> DynamoLedgerStore {
        DynamoLedgerStore::new(
            self.dynamodb.clone(),
            &self.signals_table,
            &self.audit_table,
        )
    }

    pub(crate) fn vault(&self) -> S3Vault {
        S3Vault::new(aws_sdk_s3::Client::new(&self.sdk), &self.bucket, None)
    }

    pub(crate) async fn ingest(&self, from: usize, count: usize) {
        let service = Ingest::new(
            self.store(),
            DynamoAuditSink::new(self.dynamodb.clone(), &self.audit_table),
            SystemClock,
            RecordingMetrics::default(),
            IngestSettings::default(),
        );
        for n in from..from + count {
            let response = service
                .handle(HttpRequest {
                    method: "POST".into(),
                    path: "/signals".into(),
                    content_type: Some("application/json".into()),
                    body: signal(&format!("sweep-{n:03}")).to_string().into_bytes(),
                    actor: "arn:aws:iam::123456789012:role/producer".into(),
                    request_id: format!("seed-{n}"),
                })
                .await;
            assert_eq!(response.status, 201);
        }
    }

    /// 6 signals, init (checkpoint at 6), 4 more, incremental (checkpoint at 10), 2 more.
    pub(crate) async fn checkpointed() -> Ledger {
        let ledger = Ledger::new(6).await;
        assert_eq!(
            ledger
                .sweep
                .run(SweepMode::Init, "t")
                .await
                .unwrap()
                .tree_size,
            6
        );
        ledger.ingest(6, 4).await;
        assert_eq!(
            ledger
                .sweep
                .run(SweepMode::Incremental, "t")
                .await
                .unwrap()
                .tree_size,
            10
        );
        ledger.ingest(10, 2).await;
        ledger
    }

    pub(crate) async fn entries(&self) -> Vec<StoredEntry> {
        read_all(&self.store()).await
    }

    /// Overwrites an item in place, as an insider with PutItem rights can; an entry item lands
    /// in the bundle holding its index (`support::put_as_insider`).
    pub(crate) async fn put(&self, item: HashMap<String, AttributeValue>) {
        crate::support::put_as_insider(&self.dynamodb, &self.signals_table, item).await;
    }

    /// Deletes the entry at `index` (ingest commits one entry per commit here): its commit
    /// record and its bundle.
    async fn delete(&self, index: u64) {
        crate::support::delete_commit_as_insider(&self.dynamodb, &self.signals_table, index).await;
    }

    async fn checkpoint_keys(&self) -> Vec<String> {
        let versions = self.vault().list_versions("checkpoints/").await.unwrap();
        let mut keys: Vec<String> = versions
            .into_iter()
            .map(|v| v.key)
            .filter(|k| k.ends_with(".txt"))
            .collect();
        keys.dedup();
        keys
    }
}

pub(crate) fn failure(result: Result<SweepRecord, SweepError>) -> SweepRecord {
    match result {
        Err(SweepError::Failed(record)) => *record,
        other => panic!("expected an integrity failure, got {other:?}"),
    }
}

pub(crate) fn kinds(record: &SweepRecord) -> Vec<(u64, &'static str)> {
    record
        .findings
        .iter()
        .map(|f| (f.index, f.kind.name()))
        .collect()
}

#[tokio::test]
async fn a_clean_ledger_passes_every_mode_with_signed_locked_checkpoints() {
    let ledger = Ledger::checkpointed().await;
    let incremental = ledger.sweep.run(SweepMode::Incremental, "t").await.unwrap();
    assert_eq!(
        (
            incremental.from_index,
            incremental.entries_verified,
            incremental.tree_size
        ),
        (10, 2, 12)
    );
    // Nothing appended since: the run passes and writes no checkpoint, only its run record.
    let idle = ledger.sweep.run(SweepMode::Incremental, "t").await.unwrap();
    assert_eq!(
        (
            idle.status,
            idle.tree_size,
            idle.checkpoint_written.as_deref()
        ),
        (SweepStatus::Passed, 12, None)
    );
    assert!(
        idle.message.contains("nothing appended"),
        "{}",
        idle.message
    );
    assert_eq!(ledger.checkpoint_keys().await.len(), 3);
    let full = ledger.sweep.run(SweepMode::Full, "t").await.unwrap();
    assert_eq!(
        (full.status, full.entries_verified, full.checkpoints_checked),
        (SweepStatus::Passed, 12, 3)
    );

    // The checkpoint is locked in COMPLIANCE mode, encrypted, checksummed and signed by KMS.
    let vault = ledger.vault();
    let key = incremental.checkpoint_written.unwrap();
    let version = vault.list_versions(&key).await.unwrap().remove(0);
    let protection = vault.protection(&key, &version.version_id).await.unwrap();
    assert_eq!(protection.lock_mode.as_deref(), Some("COMPLIANCE"));
    assert!(protection.retain_until.is_some());
    assert_eq!(protection.server_side_encryption.as_deref(), Some("AES256"));
    let text =
        String::from_utf8(vault.get_version(&key, &version.version_id).await.unwrap()).unwrap();
    assert_eq!(
        protection.sha256,
        Some(shared::domain::hash::Hash::sha256(text.as_bytes()))
    );
    let signed = SignedCheckpoint::parse(&text).unwrap();
    assert_eq!(signed.checkpoint.tree_size, 12);
    // The signature verifies with the KMS public key, offline, as an auditor would check it.
    let signer = KmsSigner::new(aws_sdk_kms::Client::new(&ledger.sdk), &ledger.key_arn);
    let public_key = signer.public_key(&ledger.key_arn).await.unwrap();
    verify_p256(
        &public_key,
        &signed.checkpoint.digest(),
        match &signed.signature {
            Signature::Kms { der, .. } => der,
            Signature::Unsigned => panic!("unsigned"),
        },
    )
    .unwrap();
    // A wrong signature is caught.
    let Signature::Kms { der, .. } = &signed.signature else {
        unreachable!()
    };
    let mut wrong = der.clone();
    let last = wrong.len() - 1;
    wrong[last] ^= 0x01;
    assert!(verify_p256(&public_key, &signed.checkpoint.digest(), &wrong).is_err());
    // A locked checkpoint cannot be deleted.
    let deleted = aws_sdk_s3::Client::new(&ledger.sdk)
        .delete_object()
        .bucket(&ledger.bucket)
        .key(&key)
        .version_id(&version.version_id)
        .send()
        .await;
    assert!(deleted.is_err(), "a COMPLIANCE-locked version was deleted");
    // Passing runs are audited.
    let events = audit_events(&DynamoAuditSink::new(
        ledger.dynamodb.clone(),
        &ledger.audit_table,
    ))
    .await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == AuditEventType::IntegrityCheckPassed)
            .count(),
        5,
        "init, two incrementals, the idle one and full"
    );
}

#[tokio::test]
async fn tamper_1_an_edited_field() {
    let ledger = Ledger::checkpointed().await;
    let mut item = entry_item(&ledger.entries().await[3]);
    item.insert("entry_price".into(), AttributeValue::S("999".into()));
    ledger.put(item).await;
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert_eq!(
        record.first_failure().map(|f| (f.index, f.kind.name())),
        Some((3, "hash_mismatch"))
    );
    let events = audit_events(&DynamoAuditSink::new(
        ledger.dynamodb.clone(),
        &ledger.audit_table,
    ))
    .await;
    let failed = events
        .iter()
        .find(|e| e.event_type == AuditEventType::IntegrityCheckFailed)
        .unwrap();
    assert_eq!(failed.chain_index, Some(3));
    assert!(
        failed.reason.as_deref().unwrap().contains("hash_mismatch"),
        "{:?}",
        failed.reason
    );
}

#[tokio::test]
async fn tamper_2_an_edited_field_with_its_hash_recomputed() {
    let ledger = Ledger::checkpointed().await;
    let mut stored = ledger.entries().await.remove(4);
    stored.entry.content.entry_price = ExactDecimal::parse("999").unwrap();
    ledger
        .put(entry_item(&StoredEntry::seal(stored.entry)))
        .await;
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    let found = kinds(&record);
    assert_eq!(
        record.first_failure().map(|f| f.index),
        Some(4),
        "{found:?}"
    );
    assert!(
        found.contains(&(5, "broken_link")) && found.contains(&(4, "claim_mismatch")),
        "{found:?}"
    );
}

#[tokio::test]
async fn tamper_3_a_rewritten_history_is_caught_only_by_the_checkpoints() {
    let ledger = Ledger::checkpointed().await;
    let entries = ledger.entries().await;
    // Edit entry 3, then recompute every later hash, link and claim.
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
    }
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert_eq!(
        record.first_failure().map(|f| (f.index, f.kind.name())),
        Some((3, "checkpoint_mismatch"))
    );
    assert!(
        record
            .findings
            .iter()
            .all(|f| f.kind.name() == "checkpoint_mismatch"),
        "{:?}",
        kinds(&record)
    );
}

#[tokio::test]
async fn tamper_4_a_deleted_entry() {
    let ledger = Ledger::checkpointed().await;
    ledger.delete(7).await;
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert_eq!(record.first_failure().map(|f| f.index), Some(7));
    assert!(kinds(&record).contains(&(7, "gap")), "{:?}", kinds(&record));
}

#[tokio::test]
async fn tamper_5_two_entries_swapped() {
    let ledger = Ledger::checkpointed().await;
    let entries = ledger.entries().await;
    // Each item takes the other's content under its own key.
    let swap = |into: usize, from: usize| {
        let mut item = entry_item(&entries[from]);
        item.insert("sk".into(), AttributeValue::N(into.to_string()));
        item.insert("chain_index".into(), AttributeValue::N(into.to_string()));
        item
    };
    let (a, b) = (swap(2, 8), swap(8, 2));
    ledger.put(a).await;
    ledger.put(b).await;
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert_eq!(
        record.first_failure().map(|f| (f.index, f.kind.name())),
        Some((2, "hash_mismatch"))
    );
}

#[tokio::test]
async fn tamper_6_the_tail_truncated_below_the_last_checkpoint() {
    let ledger = Ledger::checkpointed().await;
    for index in (8..12).rev() {
        ledger.delete(index).await;
    }
    let record = failure(ledger.sweep.run(SweepMode::Incremental, "t").await);
    assert_eq!(kinds(&record), vec![(8, "truncated")]);
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert_eq!(kinds(&record), vec![(8, "truncated")]);
}

#[tokio::test]
async fn tamper_7_a_forged_entry_at_the_head() {
    let ledger = Ledger::checkpointed().await;
    let entries = ledger.entries().await;
    let mut forged = entries[11].entry.clone();
    forged.chain_index = 12;
    forged.previous_hash = entries[11].entry_hash;
    forged.signal_id = shared::domain::signal::SignalId::parse("forged-1").unwrap();
    ledger.put(entry_item(&StoredEntry::seal(forged))).await;
    let record = failure(ledger.sweep.run(SweepMode::Incremental, "t").await);
    assert_eq!(kinds(&record), vec![(12, "claim_missing")]);
}

#[tokio::test]
async fn tamper_8_a_checkpoint_replaced_by_a_new_version() {
    let ledger = Ledger::checkpointed().await;
    let keys = ledger.checkpoint_keys().await;
    let retain = aws_sdk_s3::primitives::DateTime::from_secs(4_102_444_800);
    aws_sdk_s3::Client::new(&ledger.sdk)
        .put_object()
        .bucket(&ledger.bucket)
        .key(&keys[0])
        .body(b"a forged checkpoint".to_vec().into())
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Compliance)
        .object_lock_retain_until_date(retain)
        .send()
        .await
        .unwrap();
    let record = failure(ledger.sweep.run(SweepMode::Full, "t").await);
    assert_eq!(kinds(&record), vec![(6, "checkpoint_overwritten")]);
    assert_eq!(
        record.checkpoints_checked, 2,
        "the original versions are still read and checked"
    );
}

/// The tamper watch, fed the signals table's real stream records (as Lambda would deliver them),
/// flags tampering cases (1)–(5).
#[tokio::test]
async fn the_stream_watch_flags_tampering_1_to_5() {
    let ledger = Ledger::new(9).await;
    let entries = ledger.entries().await;
    // (1) an edited field.
    let mut edited = entry_item(&entries[1]);
    edited.insert("entry_price".into(), AttributeValue::S("999".into()));
    ledger.put(edited).await;
    // (2) an edited field, hash recomputed.
    let mut rehashed = entries[2].entry.clone();
    rehashed.content.symbol = "MSFT".into();
    ledger.put(entry_item(&StoredEntry::seal(rehashed))).await;
    // (4) a deleted entry.
    ledger.delete(3).await;
    // (5) two entries swapped.
    for (into, from) in [(5usize, 6usize), (6, 5)] {
        let mut item = entry_item(&entries[from]);
        item.insert("sk".into(), AttributeValue::N(into.to_string()));
        ledger.put(item).await;
    }
    // (3) entry 7 edited and every later hash, link and claim recomputed.
    let mut previous = entries[6].entry_hash;
    for stored in &entries[7..] {
        let mut entry = stored.entry.clone();
        if entry.chain_index == 7 {
            entry.content.rationale.push_str(" (rewritten)");
        }
        entry.previous_hash = previous;
        let sealed = StoredEntry::seal(entry);
        previous = sealed.entry_hash;
        ledger.put(entry_item(&sealed)).await;
        ledger.put(claim_item(&sealed)).await;
    }

    let records = stream_records(&ledger, &ledger.signals_table).await;
    let changes: Vec<_> = records
        .iter()
        .map(|record| change_from_stream_record(record, &ledger.watched()))
        .collect();
    let inserts = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Insert)
        .count();
    assert_eq!(
        inserts, 27,
        "9 commits of one were appended: a commit record, an entry bundle and a claim each"
    );
    let metrics = RecordingMetrics::default();
    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let watch = TamperWatch::new(audit.clone(), SystemClock, metrics.clone());
    let outcome = watch.handle(&changes, "stream-test").await.unwrap();
    // (1) 1 bundle, (2) 1 bundle, (4) a commit record and its bundle, (5) 2 bundles, (3) 2
    // bundles + 2 claims.
    assert_eq!(outcome.tamper_events, 10);
    assert_eq!(
        metrics.total(shared::app::tamper_watch::metric::TAMPER_EVENTS),
        10.0
    );
    let events = audit_events(&audit).await;
    let tampered: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == AuditEventType::TamperDetected)
        .collect();
    let mut indexes: Vec<u64> = tampered.iter().filter_map(|e| e.chain_index).collect();
    indexes.sort();
    indexes.dedup();
    assert_eq!(indexes, vec![1, 2, 3, 5, 6, 7, 8]);
    let first = tampered.iter().find(|e| e.chain_index == Some(1)).unwrap();
    assert_eq!(first.details["event_name"], "MODIFY");
    assert_eq!(
        first.details["old_image"]["recomputed"]["Ok"],
        json!(entries[1].entry_hash)
    );
    assert_eq!(
        first.details["new_image"]["stored"],
        json!(entries[1].entry_hash)
    );
    assert_ne!(
        first.details["new_image"]["recomputed"]["Ok"],
        json!(entries[1].entry_hash)
    );
    let removed = tampered.iter().find(|e| e.chain_index == Some(3)).unwrap();
    assert_eq!(removed.details["event_name"], "REMOVE");
    // Lambda retries a batch that failed or timed out: no event is written twice.
    let retry = watch.handle(&changes, "stream-retry").await.unwrap();
    assert_eq!((retry.tamper_events, retry.already_audited), (10, 10));
    assert_eq!(audit_events(&audit).await.len(), events.len());
}

/// An insider with PutItem on the audit table overwrites an audit event (the actor of a
/// refused modification) inside the window no seal covers yet, and then removes another: the
/// watch on the audit table's stream, from moto's real stream records, names each event's key.
#[tokio::test]
async fn the_audit_stream_watch_catches_an_overwritten_audit_event() {
    let ledger = Ledger::new(2).await;
    let audit = DynamoAuditSink::new(ledger.dynamodb.clone(), &ledger.audit_table);
    let events = audit_events(&audit).await;
    assert!(events.len() >= 2, "the ingests were audited: {events:?}");
    // Each ingest's SIGNAL_INSERTED event is in its commit's insert audit bundle (layout 2).
    let bundles = crate::support::insert_audit_bundles(&ledger.dynamodb, &ledger.audit_table).await;
    assert_eq!(bundles.len(), 2, "one insert audit bundle per commit");
    let mut rewritten = bundles[0].clone();
    let Some(AttributeValue::L(list)) = rewritten.get_mut("events") else {
        panic!("no events list")
    };
    let Some(AttributeValue::M(first)) = list.get_mut(0) else {
        panic!("not an event")
    };
    let original_actor = first["actor"].as_s().unwrap().clone();
    first.insert(
        "actor".into(),
        AttributeValue::S("arn:aws:iam::123456789012:user/someone-else".into()),
    );
    ledger
        .dynamodb
        .put_item()
        .table_name(&ledger.audit_table)
        .set_item(Some(rewritten.clone()))
        .send()
        .await
        .unwrap();
    let removed = bundles[1].clone();
    ledger
        .dynamodb
        .delete_item()
        .table_name(&ledger.audit_table)
        .key("pk", removed["pk"].clone())
        .key("sk", removed["sk"].clone())
        .send()
        .await
        .unwrap();
    let records = stream_records(&ledger, &ledger.audit_table).await;
    let changes: Vec<_> = records
        .iter()
        .map(|record| change_from_stream_record(record, &ledger.watched()))
        .collect();
    let watch = TamperWatch::new(audit.clone(), SystemClock, RecordingMetrics::default());
    let outcome = watch.handle(&changes, "audit-stream").await.unwrap();
    assert_eq!(outcome.tamper_events, 2, "{changes:?}");
    let key_of = |item: &HashMap<String, AttributeValue>| {
        let text = |name: &str| item[name].as_s().unwrap().clone();
        format!("{}/{}", text("pk"), text("sk"))
    };
    let found = audit_events(&audit).await;
    let tampered: Vec<_> = found
        .iter()
        .filter(|e| e.event_type == AuditEventType::TamperDetected)
        .collect();
    let modified = tampered
        .iter()
        .find(|e| e.details["event_name"] == "MODIFY")
        .unwrap();
    let reason = modified.reason.clone().unwrap();
    assert!(reason.contains(&key_of(&rewritten)), "{reason}");
    assert_eq!(modified.details["table"], "audit");
    assert_eq!(
        modified.details["old_item"]["events"]["L"][0]["M"]["actor"]["S"],
        original_actor.as_str(),
        "{}",
        modified.details
    );
    assert_eq!(
        modified.details["new_item"]["events"]["L"][0]["M"]["actor"]["S"],
        "arn:aws:iam::123456789012:user/someone-else"
    );
    let gone = tampered
        .iter()
        .find(|e| e.details["event_name"] == "REMOVE")
        .unwrap();
    assert!(gone.reason.clone().unwrap().contains(&key_of(&removed)));
}

/// Every record of `table`'s stream, in the JSON form Lambda hands the function.
pub(crate) async fn stream_records(ledger: &Ledger, table: &str) -> Vec<Value> {
    use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, ShardIteratorType};
    fn encode(item: &HashMap<String, StreamValue>) -> Value {
        let mut object = serde_json::Map::new();
        for (name, value) in item {
            let encoded = match value {
                StreamValue::S(s) => json!({"S": s}),
                StreamValue::N(n) => json!({"N": n}),
                StreamValue::M(map) => json!({ "M": encode(map) }),
                StreamValue::L(list) => json!({"L": list
                    .iter()
                    .map(|element| {
                        let wrapped = HashMap::from([("v".to_owned(), element.clone())]);
                        encode(&wrapped)["v"].clone()
                    })
                    .collect::<Vec<_>>()}),
                other => panic!("the ledger writes no attribute like {other:?}"),
            };
            object.insert(name.clone(), encoded);
        }
        Value::Object(object)
    }
    let table = ledger
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let stream_arn = table
        .table()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned();
    let streams = aws_sdk_dynamodbstreams::Client::new(&ledger.sdk);
    let description = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for shard in description.stream_description().unwrap().shards() {
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let output = streams
            .get_records()
            .shard_iterator(iterator.shard_iterator().unwrap())
            .send()
            .await
            .unwrap();
        for record in output.records() {
            let data = record.dynamodb().unwrap();
            let created = data
                .approximate_creation_date_time()
                .map(|t| t.as_secs_f64())
                .unwrap();
            let mut dynamodb = json!({"Keys": encode(data.keys().unwrap()),
                "ApproximateCreationDateTime": created,
                "SequenceNumber": data.sequence_number().unwrap(),
                "SizeBytes": data.size_bytes().unwrap_or_default(),
                "StreamViewType": "NEW_AND_OLD_IMAGES"});
            if let Some(old) = data.old_image() {
                dynamodb["OldImage"] = encode(old);
            }
            if let Some(new) = data.new_image() {
                dynamodb["NewImage"] = encode(new);
            }
            records.push(json!({
                "eventID": record.event_id().unwrap(),
                "eventName": record.event_name().map(|n| n.as_str()).unwrap(),
                "eventVersion": record.event_version().unwrap_or("1.1"),
                "eventSource": "aws:dynamodb",
                "awsRegion": record.aws_region().unwrap_or("us-east-1"),
                "eventSourceARN": stream_arn,
                "dynamodb": dynamodb,
            }));
        }
    }
    records
}
