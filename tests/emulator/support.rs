//! Helpers: the emulator's SDK client, a freshly provisioned stack per test, and ledger reads.

use aws_sdk_dynamodb::Client;
use ledgerctl::provision::create_tables;
use ledgerctl::template::{Stack, Template};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::ingest::{Ingest, IngestSettings};
use shared::domain::audit::AuditEvent;
use shared::domain::entry::StoredEntry;
use shared::domain::timestamp::Timestamp;
use shared::ports::LedgerStore;

pub const TEMPLATE: &str = include_str!("../../template.yaml");

/// A variable `infra/test.sh` sets; the tests cannot run without it.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through infra/test.sh, which starts the emulator")
    })
}

pub async fn client() -> Client {
    required_env("AWS_ENDPOINT_URL");
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&sdk)
}

/// Tables provisioned from template.yaml under a stack name of their own.
pub struct TestStack {
    pub client: Client,
    pub signals_table: String,
    pub audit_table: String,
}

pub type DynamoIngest = Ingest<DynamoLedgerStore, DynamoAuditSink, SystemClock, RecordingMetrics>;

impl TestStack {
    pub async fn new() -> TestStack {
        let client = client().await;
        let name = format!("t-{}", uuid::Uuid::now_v7().simple());
        let tables = Template::parse(TEMPLATE)
            .unwrap()
            .tables(&Stack::local(&name))
            .unwrap();
        create_tables(&client, &tables).await.unwrap();
        TestStack {
            client,
            signals_table: format!("{name}-signals"),
            audit_table: format!("{name}-audit"),
        }
    }

    pub fn store(&self) -> DynamoLedgerStore {
        DynamoLedgerStore::new(self.client.clone(), &self.signals_table, &self.audit_table)
    }

    pub fn audit(&self) -> DynamoAuditSink {
        DynamoAuditSink::new(self.client.clone(), &self.audit_table)
    }

    pub fn service(&self, metrics: RecordingMetrics) -> DynamoIngest {
        Ingest::new(
            self.store(),
            self.audit(),
            SystemClock,
            metrics,
            IngestSettings::default(),
        )
    }

    /// The service with group commit (what the function runs). Kept to the tests of the protocol
    /// in their own binary (`tests/burst`): 64 concurrent writers load the serialized emulator,
    /// which then answers slowly for every other test of the parallel suite.
    #[allow(dead_code)]
    pub fn group_commit_service(&self, metrics: RecordingMetrics) -> DynamoIngest {
        self.service(metrics).with_group_commit()
    }

    /// Every entry, in index order, read through the adapter (malformed items fail the test).
    pub async fn entries(&self) -> Vec<StoredEntry> {
        read_all(&self.store()).await
    }

    /// Every audit event of today and yesterday (UTC), so a test straddling midnight still sees all.
    pub async fn audit_events(&self) -> Vec<AuditEvent> {
        audit_events(&self.audit()).await
    }

    /// Items in the signals table, whatever they are (entries and claims).
    pub async fn item_count(&self) -> usize {
        self.item_kinds().await.values().sum()
    }

    /// How many items of each kind the signals table holds, by the kind its `pk` names
    /// (`COMMIT`, `BUNDLE`, `SIGNAL`, `PENDING`, …: the part before any `#`).
    pub async fn item_kinds(&self) -> std::collections::BTreeMap<String, usize> {
        let mut kinds = std::collections::BTreeMap::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.signals_table)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for item in page.unwrap().items() {
                let pk = item["pk"].as_s().unwrap();
                let kind = pk.split('#').next().unwrap().to_owned();
                *kinds.entry(kind).or_insert(0) += 1;
            }
        }
        kinds
    }
}

pub async fn read_all(store: &DynamoLedgerStore) -> Vec<StoredEntry> {
    let mut entries = Vec::new();
    let mut from = 0;
    loop {
        let page = store.read_page(from, 25).await.unwrap();
        for item in page.items {
            entries.push(item.unwrap());
        }
        match page.next {
            Some(next) => from = next,
            None => return entries,
        }
    }
}

pub async fn audit_events(sink: &DynamoAuditSink) -> Vec<AuditEvent> {
    use shared::ports::Clock;
    let now = SystemClock.now();
    let yesterday = Timestamp::from_datetime(now.as_datetime() - time::Duration::days(1)).unwrap();
    let mut events = sink.events_on(&yesterday.as_str()[..10]).await.unwrap();
    events.extend(sink.events_on(&now.as_str()[..10]).await.unwrap());
    events
}

/// A valid signal body.
/// A POST of `body` to `/signals` by a producer role, as the function URL hands it to the service.
pub fn post(body: &serde_json::Value) -> shared::app::http::HttpRequest {
    shared::app::http::HttpRequest {
        method: "POST".into(),
        path: "/signals".into(),
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        actor: "arn:aws:iam::123456789012:role/producer".into(),
        request_id: uuid::Uuid::now_v7().to_string(),
    }
}

pub fn signal(id: &str) -> serde_json::Value {
    serde_json::json!({
        "signal_id": id,
        "symbol": "AAPL",
        "action": "BUY",
        "entry_price": "150.25",
        "target_price": 165,
        "stop_loss": "142.5",
        "confidence": 0.82,
        "rationale": "Breakout above the 50-day moving average on rising volume.",
        "generated_at": now_rfc3339(),
        "producer": "integration-tests"
    })
}

/// The current time in RFC 3339 (via the domain's own timestamp type).
pub fn now_rfc3339() -> String {
    use shared::ports::Clock;
    SystemClock.now().to_string()
}

/// Seeds entries `[from, from + count)` of a valid chain straight into the table (commit records,
/// entry bundles and claims of layout 2, commits of up to 97, BatchWriteItem): a fixture shortcut
/// for large ledgers, since moto's transactions cost O(table). Continues the chain already in
/// the table (`from` must be its head's next index). No insert audit events are written.
pub async fn seed(client: &Client, table: &str, from: u64, count: u64) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use shared::adapters::dynamodb::commit::{MAX_COMMIT_ENTRIES, commit_items};
    use shared::domain::entry::{Entry, Placement};
    use shared::domain::hash::Hash;
    use shared::domain::signal::SignalId;
    let store = DynamoLedgerStore::new(client.clone(), table, "unused");
    let mut previous = match from {
        0 => Hash::ZERO,
        _ => store.entry_at(from - 1).await.unwrap().unwrap().entry_hash,
    };
    let submission = shared::domain::signal::validate(
        signal("seed").to_string().as_bytes(),
        &Default::default(),
        {
            use shared::ports::Clock;
            SystemClock.now()
        },
    )
    .unwrap();
    let mut first = from;
    while first < from + count {
        let size = (from + count - first).min(MAX_COMMIT_ENTRIES as u64);
        let entries: Vec<StoredEntry> = (first..first + size)
            .map(|index| {
                let placement = Placement {
                    chain_index: index,
                    previous_hash: previous,
                    received_at: submission.content.generated_at,
                    retention_days: 1,
                    submitter: "seed".into(),
                };
                let id = SignalId::parse(&format!("seed-{index:06}")).unwrap();
                let stored = StoredEntry::seal(
                    Entry::assemble(id, submission.content.clone(), placement).unwrap(),
                );
                previous = stored.entry_hash;
                stored
            })
            .collect();
        let items = commit_items(first, "", &entries, &[]);
        let all: Vec<_> = [items.commit, items.bundle]
            .into_iter()
            .chain(items.claims)
            .collect();
        for chunk in all.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .collect();
            while !pending.is_empty() {
                let output = client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .unwrap();
                pending = output
                    .unprocessed_items()
                    .and_then(|u| u.get(table))
                    .cloned()
                    .unwrap_or_default();
            }
        }
        first += size;
    }
}

type RawItem = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// The commit record holding `index` and its entry bundle, as stored (raw items).
pub async fn commit_holding(
    client: &Client,
    table: &str,
    index: u64,
) -> Option<(RawItem, RawItem)> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::adapters::dynamodb::commit::bundle_key;
    let commits = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND sk <= :index")
        .expression_attribute_values(":pk", AttributeValue::S("COMMIT".into()))
        .expression_attribute_values(":index", AttributeValue::N(index.to_string()))
        .scan_index_forward(false)
        .limit(1)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let commit = commits.items().first()?.clone();
    let first: u64 = commit["sk"].as_n().unwrap().parse().unwrap();
    let bundle = client
        .get_item()
        .table_name(table)
        .set_key(Some(bundle_key(first)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    Some((commit, bundle))
}

/// Writes a signals-table item as an insider with PutItem rights can (unconditionally). An
/// entry item (`pk = "ENTRY"`, layout 1's shape, as `entry_item` makes it) goes where layout 2
/// keeps entries: it replaces the entry at its index inside the bundle holding that index, or,
/// past the last commit, becomes a new commit of one (commit record + bundle) — a forged
/// extension. Any other item is put as it is.
pub async fn put_as_insider(client: &Client, table: &str, item: RawItem) {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::adapters::dynamodb::commit::{COMMIT_PARTITION, STRIPES, bundle_key};
    let put = |item: RawItem| async move {
        client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    };
    if item
        .get("pk")
        .and_then(|pk| pk.as_s().ok())
        .map(String::as_str)
        != Some("ENTRY")
    {
        return put(item).await;
    }
    let index: u64 = item["sk"].as_n().unwrap().parse().unwrap();
    match commit_holding(client, table, index).await {
        Some((commit, mut bundle))
            if {
                let first: u64 = commit["sk"].as_n().unwrap().parse().unwrap();
                let count: u64 = commit["count"].as_n().unwrap().parse().unwrap();
                index < first + count
            } =>
        {
            let first: u64 = commit["sk"].as_n().unwrap().parse().unwrap();
            let AttributeValue::L(entries) = bundle.get_mut("entries").unwrap() else {
                panic!("a bundle without its entries list")
            };
            let position = (index - first) as usize;
            entries[position] = AttributeValue::M(item);
            put(bundle).await;
        }
        _ => {
            let last_hash = item["entry_hash"].clone();
            let signal_id = item["signal_id"].clone();
            let mut bundle = bundle_key(index);
            bundle.insert(
                "entries".into(),
                AttributeValue::L(vec![AttributeValue::M(item)]),
            );
            put(bundle).await;
            put(RawItem::from([
                ("pk".into(), AttributeValue::S(COMMIT_PARTITION.into())),
                ("sk".into(), AttributeValue::N(index.to_string())),
                ("count".into(), AttributeValue::N("1".into())),
                ("last_hash".into(), last_hash),
                ("last_key".into(), AttributeValue::S(String::new())),
                (
                    "stripe".into(),
                    AttributeValue::N((index % STRIPES).to_string()),
                ),
                ("signal_ids".into(), AttributeValue::L(vec![signal_id])),
            ]))
            .await;
        }
    }
}

/// Deletes the commit record starting at `first` and its entry bundle, as an insider with
/// DeleteItem rights could (layout 2's equivalent of deleting entry items: an entry vanishes
/// from the chain, or the tail is truncated).
pub async fn delete_commit_as_insider(client: &Client, table: &str, first: u64) {
    use shared::adapters::dynamodb::commit::{bundle_key, commit_key};
    for key in [commit_key(first), bundle_key(first)] {
        client
            .delete_item()
            .table_name(table)
            .set_key(Some(key))
            .send()
            .await
            .unwrap();
    }
}

/// Every insert audit bundle of the audit table (layout 2: `<day>#<s>` / `<time>#INSERTS#<n>`),
/// in key order, as stored.
pub async fn insert_audit_bundles(client: &Client, audit_table: &str) -> Vec<RawItem> {
    let mut found: Vec<RawItem> = client
        .scan()
        .table_name(audit_table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .filter(|item| {
            item.get("sk")
                .and_then(|sk| sk.as_s().ok())
                .is_some_and(|sk| sk.contains("#INSERTS#"))
        })
        .collect();
    let key = |item: &RawItem| {
        let text = |name: &str| item[name].as_s().unwrap().clone();
        (text("pk"), text("sk"))
    };
    found.sort_by_key(key);
    found
}

/// A whole stack — tables, vault bucket, signing key — provisioned from template.yaml under a
/// fresh name starting with `prefix`.
pub struct VaultedStack {
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: Client,
    pub signals: String,
    pub audit: String,
    pub bucket: String,
    pub key_arn: String,
}

impl VaultedStack {
    pub async fn new(prefix: &str) -> VaultedStack {
        use ledgerctl::provision::{CHECKPOINT_SIGNING_KEY, VAULT_BUCKET, provision_stack};
        required_env("AWS_ENDPOINT_URL");
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let name = format!("{prefix}-{}", uuid::Uuid::now_v7().simple());
        let template = Template::parse(TEMPLATE).unwrap();
        let provisioned = provision_stack(&sdk, &template, &Stack::local(&name))
            .await
            .unwrap();
        VaultedStack {
            dynamodb: Client::new(&sdk),
            signals: format!("{name}-signals"),
            audit: format!("{name}-audit"),
            bucket: provisioned.bucket_name(VAULT_BUCKET).unwrap().to_owned(),
            key_arn: provisioned
                .key_arn(CHECKPOINT_SIGNING_KEY)
                .unwrap()
                .to_owned(),
            sdk,
        }
    }
}

/// The stack's adapters and jobs, configured the way the tests use them.
impl VaultedStack {
    pub fn store(&self) -> DynamoLedgerStore {
        DynamoLedgerStore::new(self.dynamodb.clone(), &self.signals, &self.audit)
    }

    pub fn audit_sink(&self) -> DynamoAuditSink {
        DynamoAuditSink::new(self.dynamodb.clone(), &self.audit)
    }

    pub fn vault(&self) -> shared::adapters::s3::S3Vault {
        shared::adapters::s3::S3Vault::new(aws_sdk_s3::Client::new(&self.sdk), &self.bucket, None)
    }

    pub fn signer(&self) -> shared::adapters::kms::KmsSigner {
        shared::adapters::kms::KmsSigner::new(aws_sdk_kms::Client::new(&self.sdk), &self.key_arn)
    }

    /// Today's backup of every entry not yet backed up (one-day retention, smallest parts).
    pub async fn backup(&self) {
        use shared::app::backup::{BackupJob, BackupSettings};
        BackupJob::new(
            self.store(),
            self.vault(),
            self.audit_sink(),
            SystemClock,
            RecordingMetrics::default(),
            BackupSettings {
                retention_days: 1,
                page_size: 100,
                part_bytes: shared::ports::MIN_PART_BYTES,
                receipt_lag_seconds: 300,
            },
        )
        .run(None, "t")
        .await
        .unwrap();
    }

    /// The stack's checkpoint trust: its origin and its signing key.
    pub fn trust(&self) -> shared::app::vault::CheckpointTrust {
        shared::app::vault::CheckpointTrust::new(
            shared::config::origin(&self.signals),
            Some(&self.key_arn),
            &[],
        )
    }

    /// One integrity sweep, checkpoints signed with the stack's key.
    pub async fn sweep(&self, mode: shared::app::sweep::SweepMode) {
        use shared::app::sweep::{IntegritySweep, SweepSettings};
        let sweep = IntegritySweep::new(
            self.store(),
            self.vault(),
            Some(self.signer()),
            self.audit_sink(),
            SystemClock,
            RecordingMetrics::default(),
            SweepSettings {
                retention_days: 1,
                page_size: 100,
                trust: self.trust(),
            },
        );
        // Boxed: a sweep's future is large, and callers hold it inside their own.
        Box::pin(sweep.run(mode, "t")).await.unwrap();
    }
}
