//! DynamoDB adapters of the ledger store and the audit sink, and the one place where entries and
//! audit events are mapped to and from DynamoDB items.
//!
//! Table layout (layout 2, group commit; docs/ledger-format.md §9; the table definitions live in
//! `template.yaml`):
//! - signals table, key `pk` (S) + `sk` (N): commit records at `pk = "COMMIT"`, `sk` = the
//!   commit's first chain index, so a descending query with `Limit 1` finds the head; each
//!   commit's entries in one entry bundle at `pk = "BUNDLE#<first mod 8>"`, `sk = first` (a list
//!   of format-1 entry items); signal-id claims at `pk = "SIGNAL#<id>"`, `sk = 0`, pointing at
//!   the entry's index and hash; pending signals at `pk = "PENDING#<generation>"` (inert: never
//!   read as entries) — all in `dynamodb_commit.rs`.
//! - delivery receipts in the signals table too, at `pk = "RECEIPT#<signal_id>"` (see
//!   `dynamodb_receipts.rs`).
//! - audit table, key `pk` (S) + `sk` (S): events at `pk = <UTC day>`,
//!   `sk = <occurred_at>#<event_id>`, so one day's events read back in time order; the
//!   `SIGNAL_INSERTED` events of a commit in one insert audit bundle at `pk = <day>#<first mod 8>`,
//!   `sk = <occurred_at>#INSERTS#<first>` (read back by `dynamodb_audit_log.rs`).
//!
//! Promise: the only writes are `Put`s conditioned on `attribute_not_exists(pk)` — never an
//! update, a delete or an unconditional put.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, PointInTimeRecoveryStatus};

use crate::adapters::dynamo_api::{DynamoApi, DynamoFault, Item, PutIfAbsent};
use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::decimal::ExactDecimal;
use crate::domain::entry::{Entry, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::receipt::{StoredReceipt, Subscriber};
use crate::domain::report::{TableRole, TableSettings};
use crate::domain::signal::{Action, SignalContent, SignalId};
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    AppendError, AuditSink, ChainHead, Claim, CommitError, CommitHead, GroupCommitStore,
    LedgerStore, Page, Pending, Placed, ReceiptError, StoreError, TableInspector,
};

#[path = "dynamodb_receipts.rs"]
pub mod receipts;

#[path = "dynamodb_commit.rs"]
pub mod commit;

#[path = "dynamodb_audit_log.rs"]
mod audit_log;

/// Partition key of every entry.
pub const ENTRY_PARTITION: &str = "ENTRY";
/// Prefix of the partition key of a signal-id claim.
pub const CLAIM_PREFIX: &str = "SIGNAL#";

/// The ledger on DynamoDB: the signals table, plus the audit table for the insert's audit record.
/// Generic over the DynamoDB operations ([`DynamoApi`]): the SDK client in every function, a
/// modelled DynamoDB in benchmarks.
#[derive(Debug, Clone)]
pub struct DynamoLedgerStore<D = Client> {
    client: D,
    signals_table: String,
    audit_table: String,
}

impl<D: DynamoApi> DynamoLedgerStore<D> {
    pub fn new(
        client: D,
        signals_table: impl Into<String>,
        audit_table: impl Into<String>,
    ) -> Self {
        DynamoLedgerStore {
            client,
            signals_table: signals_table.into(),
            audit_table: audit_table.into(),
        }
    }

    fn put(&self, table: &str, item: Item) -> PutIfAbsent {
        PutIfAbsent {
            table: table.to_owned(),
            item,
        }
    }
}

impl<D: DynamoApi> LedgerStore for DynamoLedgerStore<D> {
    async fn head(&self) -> Result<Option<ChainHead>, StoreError> {
        Ok(self.head_commit().await?.map(|commit| ChainHead {
            chain_index: commit.end() - 1,
            entry_hash: commit.last_hash,
        }))
    }

    /// A commit of one entry on the group-commit layout, chained on the entry's own index and
    /// previous hash: the commit record is taken when another writer got that index first.
    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        let head = CommitHead {
            first: entry.entry.chain_index.checked_sub(1),
            next: entry.entry.chain_index,
            last_hash: entry.entry.previous_hash,
            last_key: String::new(),
        };
        match self
            .write_commit(
                &head,
                std::slice::from_ref(entry),
                std::slice::from_ref(audit),
                true,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(CommitError::Lost(index)) => Err(AppendError::IndexTaken(index)),
            Err(CommitError::Claimed(_)) => {
                Err(AppendError::SignalIdTaken(entry.entry.signal_id.clone()))
            }
            Err(CommitError::AuditWriteFailed(error)) => Err(AppendError::AuditWriteFailed(error)),
            Err(CommitError::Store(error)) => Err(AppendError::Store(error)),
        }
    }

    async fn find_by_signal_id(
        &self,
        signal_id: &SignalId,
    ) -> Result<Option<StoredEntry>, StoreError> {
        let claim_key = format!("{CLAIM_PREFIX}{signal_id}");
        let claim = self
            .client
            .get_item(
                &self.signals_table,
                Item::from([
                    ("pk".to_owned(), s(claim_key.clone())),
                    ("sk".to_owned(), n(0)),
                ]),
            )
            .await
            .map_err(store_error)?;
        let Some(claim) = claim else {
            return Ok(None);
        };
        let index: u64 = number(&claim, "chain_index", &claim_key)?;
        match self.bundled_entry_at(index).await? {
            Some(entry) => Ok(Some(entry)),
            None => Err(StoreError::Malformed {
                key: claim_key,
                reason: format!("the claim points at chain index {index}, which does not exist"),
            }),
        }
    }

    async fn read_page(&self, from: u64, limit: u32) -> Result<Page, StoreError> {
        self.read_bundled_page(from, limit).await
    }

    async fn entry_at(&self, chain_index: u64) -> Result<Option<StoredEntry>, StoreError> {
        self.bundled_entry_at(chain_index).await
    }

    async fn claims(&self, signal_ids: &[SignalId]) -> Result<Vec<(SignalId, Claim)>, StoreError> {
        let keys: Vec<Item> = signal_ids
            .iter()
            .map(|id| {
                Item::from([
                    ("pk".to_owned(), s(format!("{CLAIM_PREFIX}{id}"))),
                    ("sk".to_owned(), n(0)),
                ])
            })
            .collect();
        self.batch_get_all(keys)
            .await?
            .iter()
            .map(claim_from_item)
            .collect()
    }

    async fn record_receipt(
        &self,
        receipt: &StoredReceipt,
        audit: &AuditEvent,
    ) -> Result<(), ReceiptError> {
        self.put_receipt(receipt, audit).await
    }

    async fn receipt(
        &self,
        signal_id: &SignalId,
        subscriber: &Subscriber,
    ) -> Result<Option<StoredReceipt>, StoreError> {
        self.get_receipt(signal_id, subscriber).await
    }

    async fn receipts_of(
        &self,
        signal_id: &SignalId,
    ) -> Result<Vec<Result<StoredReceipt, StoreError>>, StoreError> {
        self.query_receipts(signal_id).await
    }
}

impl<D: DynamoApi> GroupCommitStore for DynamoLedgerStore<D> {
    async fn commit_head(&self) -> Result<CommitHead, StoreError> {
        self.read_commit_head().await
    }

    async fn put_pending(&self, generation: u64, pending: &Pending) -> Result<(), StoreError> {
        self.write_pending(generation, pending).await
    }

    async fn first_pending_ids(
        &self,
        generation: u64,
        limit: u32,
    ) -> Result<Vec<SignalId>, StoreError> {
        self.read_first_pending_ids(generation, limit).await
    }

    async fn commit_firsts(&self, at_or_before: u64, limit: u32) -> Result<Vec<u64>, StoreError> {
        self.read_commit_firsts(at_or_before, limit).await
    }

    async fn pendings(&self, generation: u64) -> Result<Vec<Pending>, StoreError> {
        self.read_pendings(generation).await
    }

    async fn commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> Result<usize, CommitError> {
        self.write_commit(head, entries, audits, false).await
    }

    async fn placed(&self, signal_id: &SignalId) -> Result<Option<Placed>, StoreError> {
        self.read_placed(signal_id).await
    }
}

fn claim_from_item(item: &Item) -> Result<(SignalId, Claim), StoreError> {
    let key = match item.get("pk") {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => "claim".to_owned(),
    };
    let id_text = text(item, "signal_id", &key)?;
    let signal_id = SignalId::parse(&id_text).map_err(|e| StoreError::Malformed {
        key: key.clone(),
        reason: format!("signal_id {e}"),
    })?;
    if key != format!("{CLAIM_PREFIX}{signal_id}") {
        return Err(StoreError::Malformed {
            key,
            reason: "the key does not name the claimed signal_id".into(),
        });
    }
    Ok((
        signal_id,
        Claim {
            chain_index: number(item, "chain_index", &key)?,
            entry_hash: hash(item, "entry_hash", &key)?,
        },
    ))
}

/// The audit sink on the audit table.
#[derive(Debug, Clone)]
pub struct DynamoAuditSink<D = Client> {
    client: D,
    audit_table: String,
}

impl<D: DynamoApi> DynamoAuditSink<D> {
    pub fn new(client: D, audit_table: impl Into<String>) -> Self {
        DynamoAuditSink {
            client,
            audit_table: audit_table.into(),
        }
    }

    /// Every event of one UTC day (`YYYY-MM-DD`), in time order, read with strong consistency.
    pub async fn events_on(&self, day: &str) -> Result<Vec<AuditEvent>, StoreError> {
        let mut events = Vec::new();
        crate::ports::AuditLog::visit_day(self, day, |event| events.push(event)).await?;
        Ok(events)
    }
}

/// Reads the tables' live settings (DescribeTable, DescribeContinuousBackups).
#[derive(Debug, Clone)]
pub struct DynamoTableInspector {
    client: Client,
}

impl DynamoTableInspector {
    pub fn new(client: Client) -> Self {
        DynamoTableInspector { client }
    }
}

impl TableInspector for DynamoTableInspector {
    async fn table_settings(
        &self,
        role: TableRole,
        table_name: &str,
    ) -> Result<TableSettings, StoreError> {
        let described = self
            .client
            .describe_table()
            .table_name(table_name)
            .send()
            .await
            .map_err(classify)?;
        let table = described.table().ok_or_else(|| StoreError::Malformed {
            key: table_name.to_owned(),
            reason: "DescribeTable answered without a table description".into(),
        })?;
        let backups = self
            .client
            .describe_continuous_backups()
            .table_name(table_name)
            .send()
            .await
            .map_err(classify)?;
        let point_in_time_recovery = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|d| d.point_in_time_recovery_status())
            == Some(&PointInTimeRecoveryStatus::Enabled);
        let stream_view_type = table
            .stream_specification()
            .filter(|stream| stream.stream_enabled())
            .map(|stream| {
                stream
                    .stream_view_type()
                    .map_or_else(|| "ENABLED".to_owned(), |view| view.as_str().to_owned())
            });
        // No SSE description means the default: encryption at rest with an AWS-owned key.
        let sse = table
            .sse_description()
            .and_then(|d| d.sse_type())
            .map_or_else(|| "AWS_OWNED".to_owned(), |kind| kind.as_str().to_owned());
        Ok(TableSettings {
            role,
            table_name: table_name.to_owned(),
            deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
            point_in_time_recovery,
            stream_view_type,
            sse,
        })
    }
}

impl<D: DynamoApi> AuditSink for DynamoAuditSink<D> {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.client
            .put_if_absent(PutIfAbsent {
                table: self.audit_table.clone(),
                item: audit_item(event),
            })
            .await
            .map_err(|fault| match fault {
                DynamoFault::ConditionalCheckFailed(_) => StoreError::AlreadyExists {
                    key: format!("{}#{}", event.occurred_at.as_str(), event.event_id),
                },
                other => store_error(other),
            })?;
        Ok(())
    }
}

/// A DynamoDB fault as a store error: busy stays busy (retry), anything else is a failure.
fn store_error(fault: DynamoFault) -> StoreError {
    match fault {
        DynamoFault::Busy(_) => StoreError::Busy(Box::new(fault)),
        _ => StoreError::Failed(Box::new(fault)),
    }
}

/// Sorts an SDK error into busy (retry) or failed, keeping it whole as the source.
fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    store_error(crate::adapters::dynamo_api::classify(error))
}

// ---- item mapping -------------------------------------------------------------------------

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The DynamoDB item of a stored entry: every entry field under its own name, plus the key.
pub fn entry_item(stored: &StoredEntry) -> Item {
    let entry = &stored.entry;
    let content = &entry.content;
    let mut item = Item::from([
        ("pk".into(), s(ENTRY_PARTITION)),
        ("sk".into(), n(entry.chain_index)),
        ("schema_version".into(), n(entry.schema_version)),
        ("chain_index".into(), n(entry.chain_index)),
        ("previous_hash".into(), s(entry.previous_hash.to_hex())),
        ("entry_hash".into(), s(stored.entry_hash.to_hex())),
        ("signal_id".into(), s(entry.signal_id.as_str())),
        ("symbol".into(), s(&content.symbol)),
        ("action".into(), s(content.action.as_str())),
        ("entry_price".into(), s(content.entry_price.as_str())),
        ("rationale".into(), s(&content.rationale)),
        ("generated_at".into(), s(content.generated_at.as_str())),
        ("received_at".into(), s(entry.received_at.as_str())),
        ("delivery_latency_ms".into(), n(entry.delivery_latency_ms)),
        (
            "retention_expires_at".into(),
            s(entry.retention_expires_at.as_str()),
        ),
        ("submitter".into(), s(&entry.submitter)),
    ]);
    let optional = [
        (
            "target_price",
            content.target_price.as_ref().map(ExactDecimal::as_str),
        ),
        (
            "stop_loss",
            content.stop_loss.as_ref().map(ExactDecimal::as_str),
        ),
        (
            "confidence",
            content.confidence.as_ref().map(ExactDecimal::as_str),
        ),
        ("producer", content.producer.as_deref()),
        ("model", content.model.as_deref()),
        ("model_version", content.model_version.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item
}

/// The claim that makes a signal id unique and idempotent, with the placement its owner needs
/// to rebuild and re-hash its entry without reading the bundle (`previous_hash`,
/// `received_at`, `submitter`).
pub fn claim_item(stored: &StoredEntry) -> Item {
    Item::from([
        (
            "pk".into(),
            s(format!("{CLAIM_PREFIX}{}", stored.entry.signal_id)),
        ),
        ("sk".into(), n(0)),
        ("signal_id".into(), s(stored.entry.signal_id.as_str())),
        ("chain_index".into(), n(stored.entry.chain_index)),
        ("entry_hash".into(), s(stored.entry_hash.to_hex())),
        (
            "previous_hash".into(),
            s(stored.entry.previous_hash.to_hex()),
        ),
        ("received_at".into(), s(stored.entry.received_at.as_str())),
        ("submitter".into(), s(&stored.entry.submitter)),
    ])
}

/// Reads an entry back, strictly: every value must be in its canonical form and the key must
/// agree with `chain_index`, or the item is reported as malformed.
pub fn entry_from_item(item: &Item) -> Result<StoredEntry, StoreError> {
    let key = match item.get("sk") {
        Some(AttributeValue::N(index)) => format!("{ENTRY_PARTITION}/{index}"),
        _ => ENTRY_PARTITION.to_owned(),
    };
    let key = key.as_str();
    let malformed = |reason: String| StoreError::Malformed {
        key: key.to_owned(),
        reason,
    };
    let chain_index: u64 = number(item, "chain_index", key)?;
    let sort_key: u64 = number(item, "sk", key)?;
    if sort_key != chain_index {
        return Err(malformed(format!(
            "sk {sort_key} differs from chain_index {chain_index}"
        )));
    }
    let decimal = |name: &str| {
        ExactDecimal::parse_canonical(&text(item, name, key)?)
            .map_err(|e| malformed(format!("{name} {e}")))
    };
    let optional_decimal = |name: &str| match item.contains_key(name) {
        true => decimal(name).map(Some),
        false => Ok(None),
    };
    let timestamp = |name: &str| {
        Timestamp::parse_canonical(&text(item, name, key)?)
            .map_err(|e| malformed(format!("{name} {e}")))
    };
    let optional_text = |name: &str| match item.contains_key(name) {
        true => text(item, name, key).map(Some),
        false => Ok(None),
    };
    let action_text = text(item, "action", key)?;
    let signal_id_text = text(item, "signal_id", key)?;
    let entry = Entry {
        schema_version: number(item, "schema_version", key)?,
        chain_index,
        previous_hash: hash(item, "previous_hash", key)?,
        signal_id: SignalId::parse(&signal_id_text)
            .map_err(|e| malformed(format!("signal_id {e}")))?,
        content: SignalContent {
            symbol: text(item, "symbol", key)?,
            action: Action::parse(&action_text)
                .ok_or_else(|| malformed(format!("action {action_text:?} is not BUY or SELL")))?,
            entry_price: decimal("entry_price")?,
            target_price: optional_decimal("target_price")?,
            stop_loss: optional_decimal("stop_loss")?,
            confidence: optional_decimal("confidence")?,
            rationale: text(item, "rationale", key)?,
            generated_at: timestamp("generated_at")?,
            producer: optional_text("producer")?,
            model: optional_text("model")?,
            model_version: optional_text("model_version")?,
        },
        received_at: timestamp("received_at")?,
        delivery_latency_ms: number(item, "delivery_latency_ms", key)?,
        retention_expires_at: timestamp("retention_expires_at")?,
        submitter: text(item, "submitter", key)?,
    };
    Ok(StoredEntry {
        entry,
        entry_hash: hash(item, "entry_hash", key)?,
    })
}

/// The DynamoDB item of an audit event.
pub fn audit_item(event: &AuditEvent) -> Item {
    let occurred_at = event.occurred_at.as_str();
    let mut item = Item::from([
        ("pk".into(), s(&occurred_at[..10])),
        ("sk".into(), s(format!("{occurred_at}#{}", event.event_id))),
        ("event_id".into(), s(&event.event_id)),
        ("occurred_at".into(), s(occurred_at)),
        ("event_type".into(), s(event.event_type.as_str())),
        ("actor".into(), s(&event.actor)),
        ("request_id".into(), s(&event.request_id)),
        ("details".into(), s(event.details.to_string())),
    ]);
    if let Some(signal_id) = &event.signal_id {
        item.insert("signal_id".into(), s(signal_id));
    }
    if let Some(index) = event.chain_index {
        item.insert("chain_index".into(), n(index));
    }
    if let Some(reason) = &event.reason {
        item.insert("reason".into(), s(reason));
    }
    if let Some(excerpt) = &event.excerpt {
        item.insert("excerpt".into(), s(excerpt));
    }
    item
}

/// Reads an audit event back.
pub fn audit_from_item(item: &Item) -> Result<AuditEvent, StoreError> {
    let key = match item.get("sk") {
        Some(AttributeValue::S(sk)) => sk.as_str(),
        _ => "audit item",
    };
    let malformed = |reason: String| StoreError::Malformed {
        key: key.to_owned(),
        reason,
    };
    let optional = |name: &str| match item.contains_key(name) {
        true => text(item, name, key).map(Some),
        false => Ok(None),
    };
    let event_type = text(item, "event_type", key)?;
    let details = text(item, "details", key)?;
    Ok(AuditEvent {
        event_id: text(item, "event_id", key)?,
        occurred_at: Timestamp::parse_canonical(&text(item, "occurred_at", key)?)
            .map_err(|e| malformed(format!("occurred_at {e}")))?,
        event_type: AuditEventType::parse(&event_type)
            .ok_or_else(|| malformed(format!("unknown event_type {event_type:?}")))?,
        actor: text(item, "actor", key)?,
        request_id: text(item, "request_id", key)?,
        signal_id: optional("signal_id")?,
        chain_index: match item.contains_key("chain_index") {
            true => Some(number(item, "chain_index", key)?),
            false => None,
        },
        reason: optional("reason")?,
        excerpt: optional("excerpt")?,
        details: serde_json::from_str(&details)
            .map_err(|e| malformed(format!("details are not JSON: {e}")))?,
    })
}

/// Reads an audit event back for sealing: as [`audit_from_item`], and its `details` text must be
/// exactly the JSON the writers write (`serde_json`'s compact form, keys sorted), since a seal's
/// leaf covers that text; anything else is malformed, never normalised.
pub fn sealable_audit_from_item(item: &Item) -> Result<AuditEvent, StoreError> {
    let event = audit_from_item(item)?;
    let stored = text(item, "details", "audit item")?;
    if serde_json::to_string(&event.details).ok().as_deref() != Some(stored.as_str()) {
        return Err(StoreError::Malformed {
            key: match item.get("sk") {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => "audit item".to_owned(),
            },
            reason: "details are not in canonical JSON form (compact, keys sorted)".to_owned(),
        });
    }
    Ok(event)
}

fn text(item: &Item, name: &str, key: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        Some(_) => Err(StoreError::Malformed {
            key: key.into(),
            reason: format!("{name} is not a string"),
        }),
        None => Err(StoreError::Malformed {
            key: key.into(),
            reason: format!("{name} is missing"),
        }),
    }
}

/// A number attribute in canonical decimal form (no sign for unsigned, no leading zeros, no exponent).
fn number<T: std::str::FromStr + ToString>(
    item: &Item,
    name: &str,
    key: &str,
) -> Result<T, StoreError> {
    let malformed = |reason: String| StoreError::Malformed {
        key: key.into(),
        reason,
    };
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse::<T>()
            .ok()
            .filter(|parsed| parsed.to_string() == *value)
            .ok_or_else(|| malformed(format!("{name} {value:?} is not a canonical integer"))),
        Some(_) => Err(malformed(format!("{name} is not a number"))),
        None => Err(malformed(format!("{name} is missing"))),
    }
}

fn hash(item: &Item, name: &str, key: &str) -> Result<Hash, StoreError> {
    text(item, name, key)?
        .parse()
        .map_err(|e| StoreError::Malformed {
            key: key.into(),
            reason: format!("{name} {e}"),
        })
}

// ---- stream records ------------------------------------------------------------------------

/// Reads one record of a DynamoDB stream event (the Lambda event's `Records[i]`, as sent) with
/// `aws_lambda_events`, and reduces it to a [`Change`](crate::app::tamper_watch::Change): which
/// watched table, its kind and key, when it happened, and for each image of a ledger item the
/// stored and recomputed entry hash (for an audit item, the images themselves).
///
/// A record that cannot be read — an attribute type DynamoDB does not have, a missing field, an
/// unknown event name, a table that is not watched — is never guessed at: it becomes a change of
/// kind [`Unreadable`](crate::app::tamper_watch::ChangeKind::Unreadable) naming the problem,
/// which the watch audits like tampering.
pub fn change_from_stream_record(
    record: &serde_json::Value,
    tables: &crate::app::tamper_watch::WatchedTables,
) -> crate::app::tamper_watch::Change {
    use crate::app::tamper_watch::{Change, ChangeKind, WatchedTable};
    let read = match StreamRecord::read(record, tables) {
        Ok(read) => read,
        Err(problem) => {
            return Change {
                event_id: record
                    .get("eventID")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                table: None,
                kind: ChangeKind::Unreadable { problem },
                key: "?".to_owned(),
                happened_at: None,
                chain_index: None,
                signal_id: None,
                old: None,
                new: None,
                old_item: None,
                new_item: None,
            };
        }
    };
    match read.table {
        WatchedTable::Signals => read.ledger_change(),
        WatchedTable::Audit => read.audit_change(),
    }
}

/// A stream record read with `aws_lambda_events`, from a watched table, with a known event name.
struct StreamRecord {
    record: aws_lambda_events::event::dynamodb::EventRecord,
    kind: crate::app::tamper_watch::ChangeKind,
    table: crate::app::tamper_watch::WatchedTable,
    /// The item's key, as `<pk>/<sk>`.
    key: String,
    happened_at: Option<Timestamp>,
}

impl StreamRecord {
    /// The record, or why it cannot be read.
    fn read(
        record: &serde_json::Value,
        tables: &crate::app::tamper_watch::WatchedTables,
    ) -> Result<StreamRecord, String> {
        use crate::app::tamper_watch::{ChangeKind, WatchedTable};
        use serde::Deserialize;
        let parsed = aws_lambda_events::event::dynamodb::EventRecord::deserialize(record)
            .map_err(|error| format!("not a DynamoDB stream record: {error}"))?;
        let kind = match parsed.event_name.as_str() {
            "INSERT" => ChangeKind::Insert,
            "MODIFY" => ChangeKind::Modify,
            "REMOVE" => ChangeKind::Remove,
            other => return Err(format!("unknown event name {other:?}")),
        };
        // arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
        let table_name = parsed
            .event_source_arn
            .as_deref()
            .and_then(|arn| arn.split_once(":table/"))
            .and_then(|(_, rest)| rest.split_once("/stream/"))
            .map(|(name, _)| name);
        let table = match table_name {
            Some(name) if name == tables.signals => WatchedTable::Signals,
            Some(name) if name == tables.audit => WatchedTable::Audit,
            _ => {
                return Err(format!(
                    "from a stream that is not watched: {:?}",
                    parsed.event_source_arn
                ));
            }
        };
        let change = &parsed.change;
        let happened_at = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(change.approximate_creation_date_time.timestamp_micros()) * 1_000,
        )
        .ok()
        .filter(|_| change.approximate_creation_date_time.timestamp() > 0)
        .and_then(|instant| Timestamp::from_datetime(instant).ok());
        let mut read = StreamRecord {
            record: parsed,
            kind,
            table,
            key: String::new(),
            happened_at,
        };
        read.key = format!("{}/{}", read.key_text("pk"), read.key_text("sk"));
        Ok(read)
    }

    /// The key attribute `name` as text (`?` when it is not a string or a number).
    fn key_text(&self, name: &str) -> String {
        match self
            .record
            .change
            .keys
            .get(name)
            .cloned()
            .map(AttributeValue::from)
        {
            Some(AttributeValue::S(value) | AttributeValue::N(value)) => value,
            _ => "?".to_owned(),
        }
    }

    /// A change of the signals table: for each image, the stored and the recomputed entry hash.
    fn ledger_change(self) -> crate::app::tamper_watch::Change {
        let change = &self.record.change;
        // An image the view type carries is present; an empty one is absent (INSERT has no old).
        let mut images: [Option<Item>; 2] = [&change.old_image, &change.new_image]
            .map(|image| (!image.is_empty()).then(|| sdk_item(image)));
        let mut chain_index = None;
        if self.key_text("pk").starts_with(commit::BUNDLE_PREFIX)
            && let Ok(first) = self.key_text("sk").parse::<u64>()
        {
            // An entry bundle: the watch speaks of the first entry that differs between the
            // images (the first one, when only one image is there), re-hashed in each.
            let entries = |image: &Option<Item>| match image.as_ref().and_then(|i| i.get("entries"))
            {
                Some(AttributeValue::L(list)) => list.clone(),
                _ => Vec::new(),
            };
            let (old, new) = (entries(&images[0]), entries(&images[1]));
            let position = (0..old.len().max(new.len()))
                .find(|&p| old.get(p) != new.get(p))
                .unwrap_or(0);
            chain_index = Some(first + position as u64);
            let element = |list: &[AttributeValue], present: bool| {
                present.then(|| match list.get(position) {
                    Some(AttributeValue::M(item)) => item.clone(),
                    _ => Item::new(),
                })
            };
            images = [
                element(&old, images[0].is_some()),
                element(&new, images[1].is_some()),
            ];
        }
        let hashes = |image: &Option<Item>| {
            image
                .as_ref()
                .map(|item| crate::app::tamper_watch::ImageHashes {
                    stored: hash(item, "entry_hash", "image").ok(),
                    recomputed: entry_from_item(item)
                        .map(|stored| stored.entry.compute_hash())
                        .map_err(|e| e.to_string()),
                })
        };
        let any_image = images.iter().flatten().next();
        crate::app::tamper_watch::Change {
            event_id: self.record.event_id.clone(),
            table: Some(self.table),
            chain_index: if chain_index.is_some() {
                chain_index
            } else if self.key_text("pk") == ENTRY_PARTITION
                || self.key_text("pk") == commit::COMMIT_PARTITION
            {
                // An entry, or the first chain index of a commit record.
                self.key_text("sk").parse().ok()
            } else {
                any_image.and_then(|i| number(i, "chain_index", "image").ok())
            },
            signal_id: any_image.and_then(|i| text(i, "signal_id", "image").ok()),
            old: hashes(&images[0]),
            new: hashes(&images[1]),
            kind: self.kind,
            key: self.key,
            happened_at: self.happened_at,
            old_item: None,
            new_item: None,
        }
    }

    /// A change of the audit table: the images are the evidence, what the event said before
    /// and after.
    fn audit_change(self) -> crate::app::tamper_watch::Change {
        let change = &self.record.change;
        let as_json = |image: &serde_dynamo::Item| {
            (!image.is_empty())
                .then(|| serde_json::to_value(image).unwrap_or(serde_json::Value::Null))
        };
        crate::app::tamper_watch::Change {
            event_id: self.record.event_id.clone(),
            table: Some(self.table),
            chain_index: None,
            signal_id: None,
            old: None,
            new: None,
            kind: self.kind,
            key: self.key,
            happened_at: self.happened_at,
            old_item: as_json(&change.old_image),
            new_item: as_json(&change.new_image),
        }
    }
}

/// A stream image as an SDK item, for the one item ↔ domain mapping.
fn sdk_item(image: &serde_dynamo::Item) -> Item {
    image
        .iter()
        .map(|(name, value)| (name.clone(), AttributeValue::from(value.clone())))
        .collect()
}
