//! A prototype of the group-commit protocol designed in ARCHITECTURE.md ("Group commit"),
//! written straight against `DynamoApi` so the benchmark can weigh the design on the modelled
//! DynamoDB before it is built into the product. It validates and hashes with the product's
//! domain code and writes the designed items (pending, commit, entry bundle, claims, insert audit
//! bundle) with the product's item mapping. It is not the product: no 409 on a conflicting
//! replay (the benchmark's ids are unique), no refusal audit, no HTTP body.

use std::collections::HashSet;
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
/// How often a waiter reads the head to see whether it was passed by or nobody combines.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// A waiter that is not the smallest of its generation takes over this long after entering,
/// if the head has not moved.
const TAKE_OVER_AFTER: Duration = Duration::from_millis(250);
const TAKE_OVER_JITTER_MS: u64 = 250;
/// A combiner reads the pending partitions of this many of its latest commits' generations:
/// a pending lands up to a commit or two after the head its owner read.
const RECENT_GENERATIONS: usize = 3;
/// The smallest id of a generation first reads the head this long after entering, and
/// combines when no commit happened since.
const HANDOFF: Duration = Duration::from_millis(20);
/// A combiner goes on sequencing others this long after its own signal is stored.
const LINGER: Duration = Duration::from_millis(2000);
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
    /// The first index of the head commit, whose generation may hold late arrivals.
    first: Option<u64>,
    next: u64,
    last_hash: Hash,
    /// The sort key (`received_at#signal_id`) of the last signal the head commit sequenced.
    last_key: String,
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

    /// One invocation: put my signal into the pending partition of the generation after the
    /// head; alone there, commit it at once (the idle path: one round trip more than today).
    /// Otherwise wait for my claim, reading the head now and then: a head that has not moved
    /// since I entered means nobody combines (the smallest id of the generation combines after
    /// `HANDOFF`, anyone after `TAKE_OVER_AFTER`); a head whose last sequenced key is past mine
    /// means my pending landed after every combiner read its partition (re-enter).
    async fn append(&self, mine: Pending) -> Result<Answer, DynamoFault> {
        let started = Instant::now();
        let my_key = sort_key(&mine);
        let mut round = 0;
        'rounds: while started.elapsed() < DEADLINE {
            round += 1;
            let head = match self.head().await {
                Ok(head) => head,
                Err(DynamoFault::Busy(_)) => {
                    self.backoff(round).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
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
            let entered = Instant::now();
            let first = match self.first_pendings(generation).await {
                Ok(first) => first,
                Err(DynamoFault::Busy(_)) => Vec::new(),
                Err(e) => return Err(e),
            };
            let alone = first.len() == 1 && first[0] == mine.signal_id.as_str();
            let smallest = first
                .first()
                .is_none_or(|smallest| smallest.as_str() >= mine.signal_id.as_str());
            let mut check_at = entered + if smallest { HANDOFF } else { CHECK_EVERY };
            // Staggered, so that the waiters of a stalled generation do not all take over.
            let take_over_after =
                TAKE_OVER_AFTER + Duration::from_millis(fastrand::u64(0..=TAKE_OVER_JITTER_MS));
            if alone {
                match self.commit(&head, vec![mine.clone()]).await? {
                    Committed::Yes { ids, .. } if ids.contains(&mine.signal_id) => {
                        return Ok(Answer::Stored);
                    }
                    Committed::Yes { .. } | Committed::Lost | Committed::Busy => {}
                    Committed::Claimed(_) => return Ok(Answer::Replay),
                }
            }
            loop {
                match self.claimed(&mine.signal_id).await {
                    Ok(true) => return Ok(Answer::Stored),
                    Ok(false) | Err(DynamoFault::Busy(_)) => {}
                    Err(e) => return Err(e),
                }
                if started.elapsed() >= DEADLINE {
                    return Ok(Answer::Busy);
                }
                if Instant::now() >= check_at {
                    check_at = Instant::now() + CHECK_EVERY;
                    match self.head().await {
                        Ok(now)
                            if now.next == generation
                                && (smallest || entered.elapsed() >= take_over_after) =>
                        {
                            if let Some(answer) = self
                                .combine(generation, &mine.signal_id, now, started)
                                .await?
                            {
                                return Ok(answer);
                            }
                        }
                        Ok(now) if now.last_key.as_str() > my_key.as_str() => continue 'rounds,
                        Ok(_) | Err(DynamoFault::Busy(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(Answer::Busy)
    }

    /// Sequences the pendings of `generation`, of the head's own generation (late arrivals) and
    /// of the next ones, commit after commit on the head it wrote itself (no head re-read),
    /// reading new arrivals while each commit is in flight, until `mine` is stored and nothing
    /// it saw is left. `None` when another combiner is at work (lost the commit race).
    async fn combine(
        &self,
        generation: u64,
        mine: &SignalId,
        mut head: Head,
        started: Instant,
    ) -> Result<Option<Answer>, DynamoFault> {
        let mut stored_at = None;
        let mut recent: std::collections::VecDeque<u64> = head.first.into_iter().collect();
        let mut sequenced: HashSet<SignalId> = HashSet::new();
        let mut backlog: Vec<Pending> = Vec::new();
        let mut stored = false;
        let mut round = 0;
        match self.read_partitions(&[generation, head.next]).await {
            Ok(found) => Self::admit(found, &mut backlog, &sequenced),
            // Throttled: go on waiting; the next check tries again.
            Err(DynamoFault::Busy(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        while started.elapsed() < DEADLINE {
            round += 1;
            if backlog.is_empty() {
                return Ok((stored || sequenced.contains(mine)).then_some(Answer::Stored));
            }
            // Hand over once my signal is stored and I have lingered: the next generation's
            // smallest id combines.
            if stored_at.is_some_and(|at: Instant| at.elapsed() >= LINGER) {
                return Ok(Some(Answer::Stored));
            }
            let batch: Vec<Pending> = backlog.iter().take(MAX_BATCH).cloned().collect();
            let after = head.next + batch.len() as u64;
            // Read new arrivals while the commit is in flight when the backlog runs low.
            let mut partitions: Vec<u64> = vec![generation, head.next, after];
            partitions.extend(recent.iter().copied());
            let read_now = backlog.len() < 2 * MAX_BATCH;
            let (committed, arrivals) = tokio::join!(self.commit(&head, batch.clone()), async {
                if read_now {
                    self.read_partitions(&partitions).await
                } else {
                    Ok(Vec::new())
                }
            });
            match committed? {
                Committed::Yes {
                    ids,
                    last_hash,
                    last_key,
                } => {
                    if !stored && ids.contains(mine) {
                        stored = true;
                        stored_at = Some(Instant::now());
                    }
                    backlog.retain(|p| !ids.contains(&p.signal_id));
                    recent.push_back(head.next);
                    if recent.len() > RECENT_GENERATIONS {
                        recent.pop_front();
                    }
                    head = Head {
                        first: Some(head.next),
                        next: head.next + ids.len() as u64,
                        last_hash,
                        last_key,
                    };
                    sequenced.extend(ids);
                }
                Committed::Busy => self.backoff(round).await,
                Committed::Claimed(claimed) => {
                    backlog.retain(|p| !claimed.contains(&p.signal_id));
                    sequenced.extend(claimed);
                }
                Committed::Lost if stored => return Ok(Some(Answer::Stored)),
                Committed::Lost => return Ok(None),
            }
            match arrivals {
                Ok(arrivals) => Self::admit(arrivals, &mut backlog, &sequenced),
                Err(DynamoFault::Busy(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(if stored { Answer::Stored } else { Answer::Busy }))
    }

    /// Adds the pendings not seen before to the backlog. Claims are not read first: a claimed
    /// one (a replay, or sequenced by another combiner) fails the commit's condition on its
    /// claim, and the cancellation reasons name it.
    fn admit(found: Vec<Pending>, backlog: &mut Vec<Pending>, sequenced: &HashSet<SignalId>) {
        let mut seen: HashSet<SignalId> = backlog.iter().map(|p| p.signal_id.clone()).collect();
        backlog.extend(
            found
                .into_iter()
                .filter(|p| !sequenced.contains(&p.signal_id) && seen.insert(p.signal_id.clone())),
        );
        sort_pendings(backlog);
    }

    async fn read_partitions(&self, partitions: &[u64]) -> Result<Vec<Pending>, DynamoFault> {
        let mut partitions = partitions.to_vec();
        partitions.sort_unstable();
        partitions.dedup();
        // At most four small partitions, read while a commit is in flight: one after another.
        let mut found = Vec::new();
        for partition in partitions {
            found.extend(self.pendings(partition).await?);
        }
        Ok(found)
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
                first: None,
                next: 0,
                last_hash: Hash::ZERO,
                last_key: String::new(),
            },
            Some(commit) => Head {
                first: Some(num(commit, "sk")),
                next: num(commit, "sk") + num(commit, "count"),
                last_hash: text(commit, "last_hash").parse().unwrap_or(Hash::ZERO),
                last_key: text(commit, "last_key"),
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

    /// The first two signal ids of a generation's pending partition (keys only).
    async fn first_pendings(&self, generation: u64) -> Result<Vec<String>, DynamoFault> {
        let mut query = KeyQuery::partition(SIGNALS, s(format!("PENDING#{generation}")));
        query.limit = Some(2);
        query.projection = Some(&["pk", "sk"]);
        let page = self.db.query(query).await?;
        Ok(page.items.iter().map(|item| text(item, "sk")).collect())
    }

    /// Writes one commit of (at most `MAX_BATCH` of) `batch` on `head`.
    async fn commit(&self, head: &Head, batch: Vec<Pending>) -> Result<Committed, DynamoFault> {
        let mut batch = batch;
        batch.truncate(MAX_BATCH);
        if batch.is_empty() {
            return Ok(Committed::Yes {
                ids: Vec::new(),
                last_hash: head.last_hash,
                last_key: head.last_key.clone(),
            });
        }
        let mut entries: Vec<StoredEntry> = Vec::new();
        let mut audits: Vec<AuditEvent> = Vec::new();
        let (mut entry_bytes, mut audit_bytes) = (0, 0);
        let mut previous = head.last_hash;
        let now = self.clock.now();
        let mut last_key = head.last_key.clone();
        for pending in batch.into_iter().take(MAX_BATCH) {
            let key_of_pending = sort_key(&pending);
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
            last_key = last_key.max(key_of_pending);
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
            ("last_key".to_owned(), s(last_key.clone())),
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
            Ok(()) => Ok(Committed::Yes {
                ids,
                last_hash: previous,
                last_key,
            }),
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
                    // Claims already there (replays, or sequenced by another combiner): the
                    // cancellation reasons name them, one per action, claims after the 3 bundles.
                    Ok(Committed::Claimed(
                        reasons
                            .iter()
                            .skip(3)
                            .zip(&ids)
                            .filter(|(r, _)| *r == "ConditionalCheckFailed")
                            .map(|(_, id)| id.clone())
                            .collect(),
                    ))
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
    Yes {
        ids: Vec<SignalId>,
        last_hash: Hash,
        last_key: String,
    },
    /// These signals of the batch are claimed already; nothing was written.
    Claimed(Vec<SignalId>),
    Lost,
    Busy,
}

async fn backoff(round: u32) {
    let ceiling = (4u64 << round.min(6)).min(250);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=ceiling))).await;
}

/// The order in which combiners sequence pendings: by arrival, then id.
fn sort_key(p: &Pending) -> String {
    format!("{}#{}", p.received_at.as_str(), p.signal_id.as_str())
}

fn sort_pendings(pendings: &mut [Pending]) {
    pendings.sort_by_cached_key(sort_key);
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
