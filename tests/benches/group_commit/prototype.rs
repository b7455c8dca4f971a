//! A prototype of the group-commit protocol designed in ARCHITECTURE.md ("Group commit"),
//! written straight against `DynamoApi` so the benchmark can weigh the design on the modelled
//! DynamoDB before it is built into the product. It validates and hashes with the product's
//! domain code and writes the designed items (pending, commit, entry bundle, claims, insert audit
//! bundle) with the product's item mapping. It is not the product: no 409 on a conflicting
//! replay (the benchmark's ids are unique), no refusal audit, no HTTP body.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use dynamo_model::ModelledDynamo;
use serde_json::json;
use shared::adapters::dynamo_api::{DynamoApi, DynamoFault, Item, KeyQuery, PutIfAbsent};
use shared::adapters::dynamodb::{audit_item, claim_item, entry_from_item, entry_item};
use shared::app::http::HttpRequest;
use shared::domain::audit::{AuditEvent, AuditEventType};
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::hash::Hash;
use shared::domain::signal::{SignalContent, SignalId, Submission, ValidationRules, validate};
use shared::domain::timestamp::Timestamp;
use shared::ports::Clock;
use tokio::time::Instant;

use super::VirtualClock;

pub const SIGNALS: &str = "proto-signals";
pub const AUDIT: &str = "proto-audit";
const STRIPES: u64 = 8;
const MAX_BATCH: usize = 97;
const MAX_BUNDLE_BYTES: usize = 350 * 1024;
const POLL: Duration = Duration::from_millis(15);
const TAKE_OVER_AFTER: Duration = Duration::from_millis(1000);
/// A ledger whose last commit is older than this is idle: a signal commits alone.
const IDLE_AFTER: Duration = Duration::from_millis(100);
/// The invocation's own deadline, under Lambda's 10 s timeout.
const DEADLINE: Duration = Duration::from_secs(8);

#[derive(Debug)]
pub struct GroupCommit {
    pub db: ModelledDynamo,
    pub clock: VirtualClock,
    pub retries: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
struct Head {
    /// When the head commit was written (virtual time).
    committed_at: Option<Instant>,
    /// The first index of the head commit, whose generation may hold late arrivals.
    first: Option<u64>,
    next: u64,
    last_hash: Hash,
}

#[derive(Debug, Clone)]
struct Pending {
    signal_id: SignalId,
    content: SignalContent,
    received_at: Timestamp,
    submitter: String,
    request_id: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn key(pk: String, sk: AttributeValue) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), sk)])
}
fn num(item: &Item, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or_default(),
        _ => 0,
    }
}
fn text(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    }
}

enum Answer {
    Stored,
    Replay,
    Busy,
}

impl GroupCommit {
    pub async fn handle(&self, request: HttpRequest) -> u16 {
        let received_at = self.clock.now();
        let Ok(Submission { signal_id, content }) =
            validate(&request.body, &ValidationRules::default(), received_at)
        else {
            return 400;
        };
        let Some(signal_id) = signal_id else {
            return 400;
        };
        let mine = Pending {
            signal_id,
            content,
            received_at,
            submitter: request.actor,
            request_id: request.request_id,
        };
        match self.append(mine).await {
            Ok(Answer::Stored) => 201,
            Ok(Answer::Replay) => 200,
            Ok(Answer::Busy) | Err(DynamoFault::Busy(_)) => 503,
            Err(error) => {
                eprintln!("prototype failed: {error:?}");
                500
            }
        }
    }

    async fn append(&self, mine: Pending) -> Result<Answer, DynamoFault> {
        if self.claimed(&mine.signal_id).await? {
            return Ok(Answer::Replay);
        }
        let started = Instant::now();
        let mut round = 0;
        // One try at committing alone; after losing it, always go through the combiner.
        let mut alone_allowed = true;
        while started.elapsed() < DEADLINE {
            round += 1;
            let head = match self.head().await {
                Ok(head) => head,
                Err(DynamoFault::Busy(_)) => {
                    self.backoff(round).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Idle fast path: nobody waits for the next commit, so commit alone, as today.
            // Idle fast path: no commit for a while, so commit alone, as today.
            let idle = alone_allowed
                && head
                    .committed_at
                    .is_none_or(|at| at.elapsed() >= IDLE_AFTER);
            if idle {
                alone_allowed = false;
                match self.commit(&head, vec![mine.clone()]).await? {
                    Committed::Yes(ids) if ids.contains(&mine.signal_id) => {
                        return Ok(Answer::Stored);
                    }
                    Committed::Yes(_) | Committed::Claimed => return Ok(Answer::Replay),
                    Committed::Busy => {
                        self.backoff(round).await;
                        continue;
                    }
                    Committed::Lost => continue, // no longer idle: join the crowd
                }
            }
            let generation = head.next;
            match self
                .db
                .put_if_absent(PutIfAbsent {
                    table: SIGNALS.into(),
                    item: pending_item(generation, &mine),
                })
                .await
            {
                Ok(()) | Err(DynamoFault::ConditionalCheckFailed(_)) => {}
                Err(DynamoFault::Busy(_)) => {
                    self.backoff(round).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let put_at = Instant::now();
            let mut combiner = self
                .is_smallest(generation, &mine.signal_id)
                .await
                .unwrap_or(false);
            loop {
                if combiner {
                    match self.combine(generation, &mine.signal_id, started).await? {
                        Some(answer) => return Ok(answer),
                        None => combiner = false,
                    }
                }
                match self.claimed(&mine.signal_id).await {
                    Ok(true) => return Ok(Answer::Stored),
                    Ok(false) | Err(DynamoFault::Busy(_)) => {}
                    Err(e) => return Err(e),
                }
                if started.elapsed() >= DEADLINE {
                    return Ok(Answer::Busy);
                }
                if put_at.elapsed() >= TAKE_OVER_AFTER {
                    combiner = true;
                    continue;
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(Answer::Busy)
    }

    /// Sequences the pendings of `generation`, of the head's own generation (late arrivals) and
    /// of the next one, commit after commit while some are left, until `mine` is stored.
    /// `None` when another combiner is at work (lost the commit race).
    async fn combine(
        &self,
        generation: u64,
        mine: &SignalId,
        started: Instant,
    ) -> Result<Option<Answer>, DynamoFault> {
        let mut sequenced: std::collections::HashSet<SignalId> = Default::default();
        let mut stored = false;
        let mut round = 0;
        while started.elapsed() < DEADLINE {
            round += 1;
            let head = match self.head().await {
                Ok(head) => head,
                Err(DynamoFault::Busy(_)) => {
                    self.backoff(round).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut partitions = vec![generation, head.next];
            partitions.extend(head.first);
            partitions.sort_unstable();
            partitions.dedup();
            let mut pendings = Vec::new();
            for partition in partitions {
                pendings.extend(self.pendings(partition).await?);
            }
            sort_pendings(&mut pendings);
            pendings.retain(|p| !sequenced.contains(&p.signal_id));
            // Check claims chunk by chunk until a commit's worth of unclaimed signals is found.
            let mut batch = Vec::new();
            let mut left = false;
            let mut seen = std::collections::HashSet::new();
            pendings.retain(|p| seen.insert(p.signal_id.clone()));
            for chunk in pendings.chunks(100) {
                if batch.len() >= MAX_BATCH {
                    left = true;
                    break;
                }
                let keys: Vec<Item> = chunk
                    .iter()
                    .map(|p| key(format!("SIGNAL#{}", p.signal_id), n(0)))
                    .collect();
                let got = match self.db.batch_get_items(SIGNALS, keys).await {
                    Ok(got) if got.unprocessed.is_empty() => got,
                    Ok(_) | Err(DynamoFault::Busy(_)) => {
                        self.backoff(round).await;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                let claimed: Vec<String> = got.items.iter().map(|i| text(i, "signal_id")).collect();
                for p in chunk {
                    if claimed.contains(&p.signal_id.to_string()) {
                        sequenced.insert(p.signal_id.clone());
                    } else if batch.len() < MAX_BATCH {
                        batch.push(p.clone());
                    } else {
                        left = true;
                    }
                }
            }
            if batch.is_empty() {
                if stored || sequenced.contains(mine) {
                    return Ok(Some(Answer::Stored));
                }
                return Ok(None);
            }
            match self.commit(&head, batch).await? {
                Committed::Yes(ids) => {
                    stored |= ids.contains(mine);
                    sequenced.extend(ids);
                    if stored && !left {
                        return Ok(Some(Answer::Stored));
                    }
                }
                Committed::Busy => self.backoff(round).await,
                Committed::Claimed => {}
                Committed::Lost if stored => return Ok(Some(Answer::Stored)),
                Committed::Lost => return Ok(None),
            }
        }
        Ok(Some(if stored { Answer::Stored } else { Answer::Busy }))
    }

    async fn backoff(&self, round: u32) {
        self.retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        backoff(round).await;
    }

    async fn claimed(&self, id: &SignalId) -> Result<bool, DynamoFault> {
        let claim = self
            .db
            .get_item(SIGNALS, key(format!("SIGNAL#{id}"), n(0)))
            .await?;
        Ok(claim.is_some())
    }

    async fn head(&self) -> Result<Head, DynamoFault> {
        let mut query = KeyQuery::partition(SIGNALS, s("COMMIT"));
        query.descending = true;
        query.limit = Some(1);
        let page = self.db.query(query).await?;
        Ok(match page.items.first() {
            None => Head {
                committed_at: None,
                first: None,
                next: 0,
                last_hash: Hash::ZERO,
            },
            Some(commit) => Head {
                committed_at: Some(
                    self.clock.origin + Duration::from_micros(num(commit, "committed_at_us")),
                ),
                first: Some(num(commit, "sk")),
                next: num(commit, "sk") + num(commit, "count"),
                last_hash: text(commit, "last_hash").parse().unwrap_or(Hash::ZERO),
            },
        })
    }

    async fn pendings(&self, generation: u64) -> Result<Vec<Pending>, DynamoFault> {
        let mut found = Vec::new();
        let mut query = KeyQuery::partition(SIGNALS, s(format!("PENDING#{generation}")));
        loop {
            let page = self.db.query(query.clone()).await?;
            found.extend(page.items.iter().filter_map(pending_from_item));
            match page.last_evaluated_key {
                Some(k) => query.start_after = Some(k),
                None => break,
            }
        }
        Ok(found)
    }

    async fn is_smallest(&self, generation: u64, id: &SignalId) -> Result<bool, DynamoFault> {
        let mut query = KeyQuery::partition(SIGNALS, s(format!("PENDING#{generation}")));
        query.limit = Some(1);
        query.projection = Some(&["pk", "sk"]);
        let page = self.db.query(query).await?;
        Ok(page
            .items
            .first()
            .is_none_or(|item| text(item, "sk").as_str() >= id.as_str()))
    }

    /// Writes one commit of (at most `MAX_BATCH` of) `batch` on `head`.
    async fn commit(&self, head: &Head, batch: Vec<Pending>) -> Result<Committed, DynamoFault> {
        let mut batch = batch;
        batch.truncate(MAX_BATCH);
        if batch.is_empty() {
            return Ok(Committed::Yes(Vec::new()));
        }
        let mut entries: Vec<StoredEntry> = Vec::new();
        let mut audits: Vec<AuditEvent> = Vec::new();
        let (mut entry_bytes, mut audit_bytes) = (0, 0);
        let mut previous = head.last_hash;
        let now = self.clock.now();
        for pending in batch.into_iter().take(MAX_BATCH) {
            let placement = Placement {
                chain_index: head.next + entries.len() as u64,
                previous_hash: previous,
                received_at: pending.received_at,
                retention_days: 2555,
                submitter: pending.submitter.clone(),
            };
            let Ok(entry) = Entry::assemble(pending.signal_id.clone(), pending.content, placement)
            else {
                continue;
            };
            let stored = StoredEntry::seal(entry);
            let audit = AuditEvent {
                event_id: uuid::Uuid::now_v7().to_string(),
                occurred_at: now,
                event_type: AuditEventType::SignalInserted,
                actor: pending.submitter,
                request_id: pending.request_id,
                signal_id: Some(stored.entry.signal_id.to_string()),
                chain_index: Some(stored.entry.chain_index),
                reason: Some(format!(
                    "signal appended at chain index {}",
                    stored.entry.chain_index
                )),
                excerpt: None,
                details: json!({"entry_hash": stored.entry_hash, "symbol": stored.entry.content.symbol}),
            };
            let e = dynamo_model::item_bytes(&entry_item(&stored));
            let a = dynamo_model::item_bytes(&audit_item(&audit));
            if entry_bytes + e > MAX_BUNDLE_BYTES || audit_bytes + a > MAX_BUNDLE_BYTES {
                break;
            }
            entry_bytes += e;
            audit_bytes += a;
            previous = stored.entry_hash;
            entries.push(stored);
            audits.push(audit);
        }
        let first = head.next;
        let stripe = first % STRIPES;
        let ids: Vec<SignalId> = entries.iter().map(|e| e.entry.signal_id.clone()).collect();
        let micros = self.clock.origin.elapsed().as_micros() as u64;
        let commit = Item::from([
            ("pk".to_owned(), s("COMMIT")),
            ("sk".to_owned(), n(first)),
            ("count".to_owned(), n(entries.len() as u64)),
            ("last_hash".to_owned(), s(previous.to_hex())),
            ("stripe".to_owned(), n(stripe)),
            ("committed_at_us".to_owned(), n(micros)),
            (
                "ids".to_owned(),
                AttributeValue::L(ids.iter().map(|i| s(i.as_str())).collect()),
            ),
        ]);
        let bundle = Item::from([
            ("pk".to_owned(), s(format!("BUNDLE#{stripe}"))),
            ("sk".to_owned(), n(first)),
            (
                "entries".to_owned(),
                AttributeValue::L(
                    entries
                        .iter()
                        .map(|e| AttributeValue::M(entry_item(e)))
                        .collect(),
                ),
            ),
        ]);
        let day = &now.as_str()[..10];
        let audit_bundle = Item::from([
            ("pk".to_owned(), s(format!("{day}#{stripe}"))),
            (
                "sk".to_owned(),
                s(format!("{}#INSERTS#{first}", now.as_str())),
            ),
            (
                "events".to_owned(),
                AttributeValue::L(
                    audits
                        .iter()
                        .map(|a| AttributeValue::M(audit_item(a)))
                        .collect(),
                ),
            ),
        ]);
        let mut puts = vec![
            PutIfAbsent {
                table: SIGNALS.into(),
                item: commit,
            },
            PutIfAbsent {
                table: SIGNALS.into(),
                item: bundle,
            },
            PutIfAbsent {
                table: AUDIT.into(),
                item: audit_bundle,
            },
        ];
        for entry in &entries {
            let mut claim = claim_item(entry);
            claim.insert(
                "previous_hash".into(),
                s(entry.entry.previous_hash.to_hex()),
            );
            claim.insert("received_at".into(), s(entry.entry.received_at.as_str()));
            puts.push(PutIfAbsent {
                table: SIGNALS.into(),
                item: claim,
            });
        }
        match self.db.transact_put_if_absent(puts).await {
            Ok(()) => Ok(Committed::Yes(ids)),
            Err(DynamoFault::TransactionCanceled { reasons, .. }) => {
                let first_reason = reasons.first().map(String::as_str).unwrap_or("None");
                if reasons.iter().any(|r| r == "ThrottlingError") {
                    Ok(Committed::Busy)
                } else if matches!(
                    first_reason,
                    "ConditionalCheckFailed" | "TransactionConflict"
                ) {
                    Ok(Committed::Lost)
                } else if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                    // A claim raced in: the next attempt's claim check drops it.
                    Ok(Committed::Claimed)
                } else {
                    Ok(Committed::Busy)
                }
            }
            Err(DynamoFault::Busy(_)) => Ok(Committed::Busy),
            Err(e) => Err(e),
        }
    }

    /// Every entry in chain order, read back through the commits and bundles (strict parsing),
    /// and how many claims and insert audit events exist.
    pub fn read_back(&self) -> (Vec<StoredEntry>, usize, usize) {
        let items = self.db.items(SIGNALS);
        let mut commits: Vec<&Item> = items.iter().filter(|i| text(i, "pk") == "COMMIT").collect();
        commits.sort_by_key(|c| num(c, "sk"));
        let bundles: std::collections::HashMap<u64, &Item> = items
            .iter()
            .filter(|i| text(i, "pk").starts_with("BUNDLE#"))
            .map(|b| (num(b, "sk"), b))
            .collect();
        let mut entries = Vec::new();
        for commit in commits {
            if let Some(AttributeValue::L(list)) = bundles
                .get(&num(commit, "sk"))
                .and_then(|b| b.get("entries"))
            {
                for value in list {
                    // A malformed entry is left out: the chain check then finds the gap.
                    if let AttributeValue::M(item) = value
                        && let Ok(entry) = entry_from_item(item)
                    {
                        entries.push(entry);
                    }
                }
            }
        }
        let claims = items
            .iter()
            .filter(|i| text(i, "pk").starts_with("SIGNAL#"))
            .count();
        let inserts = self
            .db
            .items(AUDIT)
            .iter()
            .map(|b| match b.get("events") {
                Some(AttributeValue::L(list)) => list.len(),
                _ => 0,
            })
            .sum();
        (entries, claims, inserts)
    }
}

enum Committed {
    Yes(Vec<SignalId>),
    /// A signal of the batch was claimed meanwhile; nothing was written.
    Claimed,
    Lost,
    Busy,
}

async fn backoff(round: u32) {
    let ceiling = (4u64 << round.min(6)).min(250);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=ceiling))).await;
}

fn sort_pendings(pendings: &mut [Pending]) {
    pendings.sort_by(|a, b| {
        (a.received_at.as_str(), a.signal_id.as_str())
            .cmp(&(b.received_at.as_str(), b.signal_id.as_str()))
    });
}

fn pending_item(generation: u64, p: &Pending) -> Item {
    let content = serde_json::to_string(&p.content).unwrap_or_default();
    Item::from([
        ("pk".to_owned(), s(format!("PENDING#{generation}"))),
        ("sk".to_owned(), s(p.signal_id.as_str())),
        ("content".to_owned(), s(content)),
        ("received_at".to_owned(), s(p.received_at.as_str())),
        ("submitter".to_owned(), s(p.submitter.clone())),
        ("request_id".to_owned(), s(p.request_id.clone())),
    ])
}

fn pending_from_item(item: &Item) -> Option<Pending> {
    Some(Pending {
        signal_id: SignalId::parse(&text(item, "sk")).ok()?,
        content: serde_json::from_str(&text(item, "content")).ok()?,
        received_at: Timestamp::parse_canonical(&text(item, "received_at")).ok()?,
        submitter: text(item, "submitter"),
        request_id: text(item, "request_id"),
    })
}
