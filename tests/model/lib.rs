//! A modelled DynamoDB for benchmarks: the [`DynamoApi`] operations the ledger's adapters use,
//! with DynamoDB's semantics (conditional puts, all-or-nothing transactions cancelled with
//! per-action reasons, `TransactionConflict` between in-flight transactions, item, transaction
//! and page limits) and its published performance (log-normal latencies, per-partition token
//! buckets, throttling). All parameters are in [`params`].
//!
//! Time is tokio's: run it under a paused runtime (`start_paused`) and a 60 s scenario takes
//! as long as its CPU work, deterministically for a given seed. Only in-process CPU time is
//! outside the model; it is not DynamoDB's (see BENCHMARKS.md).
//!
//! Timeline of one call of modelled latency `L`, sent at `t`:
//! - a read or a `PutItem` takes effect at `t + L/2` and answers at `t + L`;
//! - a transaction is admitted at `t + L/4` (capacity charged, its items locked — a second
//!   transaction or put touching a locked item gets `TransactionConflict`), its conditions are
//!   checked and it commits at `t + 3L/4`, and it answers at `t + L`.
//!
//! `L` is drawn from the operation's log-normal distribution and rounded to a whole millisecond
//! stochastically (tokio's timer resolution; the mean stays exact).
//!
//! Tables are implicit: every table has the key `pk` (S) + `sk` (N as an integer, or S).
//! Never compiled into a Lambda: it lives in the `tests` crate.

pub mod params;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::adapters::dynamo_api::{
    BatchGot, DynamoApi, DynamoFault, Item, KeyQuery, PutIfAbsent, QueryPage,
};
use tokio::time::Instant;

pub use params::{LogNormal, ModelParameters};

/// An error as DynamoDB would name it (`code`), kept as the source of a [`DynamoFault`].
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ModelError {
    pub code: &'static str,
    pub message: String,
}

fn fault(code: &'static str, message: impl Into<String>) -> BoxError {
    Box::new(ModelError {
        code,
        message: message.into(),
    })
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A sort-key value: DynamoDB orders numbers numerically and strings by bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SortKey {
    N(i128),
    S(String),
}

type Partition = BTreeMap<SortKey, Item>;

/// What the model counted, for the benchmark's per-signal figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelStats {
    pub puts: u64,
    pub transactions: u64,
    pub transactions_committed: u64,
    pub transaction_actions: u64,
    pub reads: u64,
    /// Write capacity units consumed (transactional writes at twice the rate).
    pub wcu: f64,
    pub rcu: f64,
    pub throttled: u64,
    /// Throttled calls per partition-key value (`table/pk`), for finding the hot one.
    pub throttled_partitions: BTreeMap<String, u64>,
    pub conflicts: u64,
    pub condition_failures: u64,
    /// The most `Query` calls in flight at once.
    pub queries_in_flight_peak: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct State {
    tables: HashMap<String, HashMap<String, Partition>>,
    /// Items held by an admitted, not yet committed transaction.
    locked: HashMap<(String, String, SortKey), u64>,
    write_buckets: HashMap<(String, String), Bucket>,
    read_buckets: HashMap<(String, String), Bucket>,
    next_transaction: u64,
    queries_in_flight: u64,
    stats: ModelStats,
}

/// One `Query` in flight, counted while it lives (dropped early, it still counts down).
struct QueryInFlight<'a>(&'a ModelledDynamo);

impl<'a> QueryInFlight<'a> {
    fn start(model: &'a ModelledDynamo) -> QueryInFlight<'a> {
        let mut state = model.state();
        state.queries_in_flight += 1;
        state.stats.queries_in_flight_peak = state
            .stats
            .queries_in_flight_peak
            .max(state.queries_in_flight);
        QueryInFlight(model)
    }
}

impl Drop for QueryInFlight<'_> {
    fn drop(&mut self) {
        self.0.state().queries_in_flight -= 1;
    }
}

/// The modelled DynamoDB. Clones share the same tables.
#[derive(Debug, Clone)]
pub struct ModelledDynamo {
    params: Arc<ModelParameters>,
    state: Arc<Mutex<State>>,
    rng: Arc<Mutex<fastrand::Rng>>,
}

/// The key of an item: table, partition-key value, sort-key value.
type Key = (String, String, SortKey);

impl ModelledDynamo {
    pub fn new(params: ModelParameters, seed: u64) -> ModelledDynamo {
        ModelledDynamo {
            params: Arc::new(params),
            state: Arc::default(),
            rng: Arc::new(Mutex::new(fastrand::Rng::with_seed(seed))),
        }
    }

    pub fn params(&self) -> &ModelParameters {
        &self.params
    }

    pub fn stats(&self) -> ModelStats {
        self.state().stats.clone()
    }

    /// Every item of a table, in key order (for checks after a benchmark).
    pub fn items(&self, table: &str) -> Vec<Item> {
        let state = self.state();
        let mut partitions: Vec<_> = state
            .tables
            .get(table)
            .map(|t| t.iter().collect())
            .unwrap_or_default();
        partitions.sort_by(|a, b| a.0.cmp(b.0));
        partitions
            .into_iter()
            .flat_map(|(_, p)| p.values().cloned())
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn latency(&self, distribution: LogNormal) -> Duration {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        // Box–Muller: a standard normal from two uniforms in (0, 1].
        let u1 = 1.0 - rng.f64();
        let u2 = rng.f64();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        // tokio's timer counts whole milliseconds (a sleep ends on the next tick). Rounding up
        // would add 0.5 ms on average to every call, so round stochastically: up with the
        // probability of the fraction, which keeps the mean exact and percentiles within 1 ms.
        let millis = distribution.sample(z).as_secs_f64() * 1000.0;
        let whole = millis.floor() + if rng.f64() < millis.fract() { 1.0 } else { 0.0 };
        Duration::from_millis(whole as u64)
    }

    fn write_units(&self, bytes: usize) -> f64 {
        bytes.div_ceil(self.params.write_unit_bytes).max(1) as f64
    }

    fn read_units(&self, bytes: usize) -> f64 {
        bytes.div_ceil(self.params.read_unit_bytes).max(1) as f64
    }
}

/// Splits an item's key; a missing or mistyped key is a validation error, as in DynamoDB.
fn key_of(table: &str, item: &Item) -> Result<Key, DynamoFault> {
    let pk = match item.get("pk") {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => {
            return Err(DynamoFault::Failed(fault(
                "ValidationException",
                "the key attribute pk (S) is missing",
            )));
        }
    };
    Ok((table.to_owned(), pk, sort_key(item.get("sk"))?))
}

fn sort_key(value: Option<&AttributeValue>) -> Result<SortKey, DynamoFault> {
    match value {
        Some(AttributeValue::N(n)) => n.parse().map(SortKey::N).map_err(|_| {
            DynamoFault::Failed(fault(
                "ValidationException",
                format!("the model orders integer sort keys only, not {n:?}"),
            ))
        }),
        Some(AttributeValue::S(s)) => Ok(SortKey::S(s.clone())),
        _ => Err(DynamoFault::Failed(fault(
            "ValidationException",
            "the key attribute sk (N or S) is missing",
        ))),
    }
}

/// DynamoDB's item size, as the adapter computes it to size its bundles: one formula for both.
pub use shared::adapters::dynamodb::commit::item_bytes;

impl State {
    fn get(&self, key: &Key) -> Option<&Item> {
        self.tables.get(&key.0)?.get(&key.1)?.get(&key.2)
    }

    fn insert(&mut self, key: Key, item: Item) {
        self.tables
            .entry(key.0)
            .or_default()
            .entry(key.1)
            .or_default()
            .insert(key.2, item);
    }

    /// Takes `cost` units from a partition's bucket, or says it is throttled.
    fn take(
        buckets: &mut HashMap<(String, String), Bucket>,
        partition: (String, String),
        rate: f64,
        cost: f64,
        now: Instant,
    ) -> bool {
        let bucket = buckets.entry(partition).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + rate * now.duration_since(bucket.at).as_secs_f64()).min(rate);
        bucket.at = now;
        if bucket.tokens < cost {
            return false;
        }
        bucket.tokens -= cost;
        true
    }
}

impl ModelledDynamo {
    fn throttle_read(&self, state: &mut State, table: &str, pk: &str, bytes: usize) -> bool {
        let cost = self.read_units(bytes);
        state.stats.rcu += cost;
        let ok = State::take(
            &mut state.read_buckets,
            (table.to_owned(), pk.to_owned()),
            self.params.partition_rcu_per_second,
            cost,
            Instant::now(),
        );
        if !ok {
            state.stats.throttled += 1;
            *state
                .stats
                .throttled_partitions
                .entry(format!("{table}/{pk}"))
                .or_default() += 1;
        }
        !ok
    }

    fn check_item_size(&self, item: &Item) -> Result<usize, DynamoFault> {
        let bytes = item_bytes(item);
        if bytes > self.params.max_item_bytes {
            return Err(DynamoFault::Failed(fault(
                "ValidationException",
                format!(
                    "Item size has exceeded the maximum allowed size ({bytes} > {} bytes)",
                    self.params.max_item_bytes
                ),
            )));
        }
        Ok(bytes)
    }
}

impl DynamoApi for ModelledDynamo {
    async fn put_if_absent(&self, put: PutIfAbsent) -> Result<(), DynamoFault> {
        let start = Instant::now();
        let latency = self.latency(self.params.put);
        let key = key_of(&put.table, &put.item)?;
        let bytes = self.check_item_size(&put.item)?;
        tokio::time::sleep_until(start + latency / 2).await;
        let result = {
            let mut state = self.state();
            state.stats.puts += 1;
            if state.locked.contains_key(&key) {
                state.stats.conflicts += 1;
                Err(DynamoFault::Busy(fault(
                    "TransactionConflictException",
                    "the item is being written by a transaction",
                )))
            } else if !State::take(
                &mut state.write_buckets,
                (key.0.clone(), key.1.clone()),
                self.params.partition_wcu_per_second,
                self.write_units(bytes),
                Instant::now(),
            ) {
                state.stats.throttled += 1;
                *state
                    .stats
                    .throttled_partitions
                    .entry(format!("{}/{}", key.0, key.1))
                    .or_default() += 1;
                Err(DynamoFault::Busy(fault(
                    "ThrottlingException",
                    format!("write capacity of partition {:?} exceeded", key.1),
                )))
            } else {
                state.stats.wcu += self.write_units(bytes);
                if state.get(&key).is_some() {
                    state.stats.condition_failures += 1;
                    Err(DynamoFault::ConditionalCheckFailed(fault(
                        "ConditionalCheckFailedException",
                        "The conditional request failed",
                    )))
                } else {
                    state.insert(key, put.item);
                    Ok(())
                }
            }
        };
        tokio::time::sleep_until(start + latency).await;
        result
    }

    async fn transact_put_if_absent(&self, puts: Vec<PutIfAbsent>) -> Result<(), DynamoFault> {
        let invalid = |message: String| DynamoFault::Failed(fault("ValidationException", message));
        if puts.is_empty() || puts.len() > self.params.max_transaction_actions {
            return Err(invalid(format!(
                "a transaction has 1 to {} actions, not {}",
                self.params.max_transaction_actions,
                puts.len()
            )));
        }
        let mut keys = Vec::with_capacity(puts.len());
        let mut sizes = Vec::with_capacity(puts.len());
        for put in &puts {
            let key = key_of(&put.table, &put.item)?;
            if keys.contains(&key) {
                return Err(invalid(
                    "Transaction request cannot include multiple operations on one item".into(),
                ));
            }
            keys.push(key);
            sizes.push(self.check_item_size(&put.item)?);
        }
        let total: usize = sizes.iter().sum();
        if total > self.params.max_transaction_bytes {
            return Err(invalid(format!(
                "the transaction is {total} bytes, over the {} byte limit",
                self.params.max_transaction_bytes
            )));
        }
        let start = Instant::now();
        let latency = self.latency(self.params.transact(puts.len()));
        tokio::time::sleep_until(start + latency / 4).await;
        // Admission: conflicts, then capacity; then the items are locked until the commit.
        let admitted = {
            let mut state = self.state();
            state.stats.transactions += 1;
            state.stats.transaction_actions += puts.len() as u64;
            let conflicting: Vec<bool> =
                keys.iter().map(|k| state.locked.contains_key(k)).collect();
            if conflicting.iter().any(|c| *c) {
                state.stats.conflicts += 1;
                Err(cancelled(
                    conflicting
                        .iter()
                        .map(|c| if *c { "TransactionConflict" } else { "None" }),
                ))
            } else {
                // Capacity per partition, all or nothing.
                let mut costs: HashMap<(String, String), f64> = HashMap::new();
                for (key, bytes) in keys.iter().zip(&sizes) {
                    *costs.entry((key.0.clone(), key.1.clone())).or_default() +=
                        self.write_units(*bytes) * self.params.transactional_write_factor;
                }
                let now = Instant::now();
                let rate = self.params.partition_wcu_per_second;
                let short: Vec<(String, String)> = costs
                    .iter()
                    .filter(|(partition, cost)| {
                        let bucket = state.write_buckets.get(*partition);
                        let tokens = bucket.map_or(rate, |b| {
                            (b.tokens + rate * now.duration_since(b.at).as_secs_f64()).min(rate)
                        });
                        tokens < **cost
                    })
                    .map(|(p, _)| p.clone())
                    .collect();
                if !short.is_empty() {
                    state.stats.throttled += 1;
                    for (table, pk) in &short {
                        *state
                            .stats
                            .throttled_partitions
                            .entry(format!("{table}/{pk}"))
                            .or_default() += 1;
                    }
                    Err(cancelled(keys.iter().map(|k| {
                        if short.contains(&(k.0.clone(), k.1.clone())) {
                            "ThrottlingError"
                        } else {
                            "None"
                        }
                    })))
                } else {
                    for (partition, cost) in costs {
                        state.stats.wcu += cost;
                        State::take(&mut state.write_buckets, partition, rate, cost, now);
                    }
                    state.next_transaction += 1;
                    let id = state.next_transaction;
                    for key in &keys {
                        state.locked.insert(key.clone(), id);
                    }
                    Ok(())
                }
            }
        };
        if let Err(error) = admitted {
            tokio::time::sleep_until(start + latency).await;
            return Err(error);
        }
        tokio::time::sleep_until(start + latency * 3 / 4).await;
        let committed = {
            let mut state = self.state();
            for key in &keys {
                state.locked.remove(key);
            }
            let present: Vec<bool> = keys.iter().map(|k| state.get(k).is_some()).collect();
            if present.iter().any(|p| *p) {
                state.stats.condition_failures += 1;
                Err(cancelled(present.iter().map(|p| {
                    if *p { "ConditionalCheckFailed" } else { "None" }
                })))
            } else {
                for (key, put) in keys.into_iter().zip(puts) {
                    state.insert(key, put.item);
                }
                state.stats.transactions_committed += 1;
                Ok(())
            }
        };
        tokio::time::sleep_until(start + latency).await;
        committed
    }

    async fn get_item(&self, table: &str, key: Item) -> Result<Option<Item>, DynamoFault> {
        let start = Instant::now();
        let latency = self.latency(self.params.read);
        let key = key_of(table, &key)?;
        tokio::time::sleep_until(start + latency / 2).await;
        let result = {
            let mut state = self.state();
            state.stats.reads += 1;
            let item = state.get(&key).cloned();
            let bytes = item.as_ref().map_or(0, item_bytes);
            if self.throttle_read(&mut state, &key.0, &key.1, bytes) {
                Err(DynamoFault::Busy(fault(
                    "ThrottlingException",
                    format!("read capacity of partition {:?} exceeded", key.1),
                )))
            } else {
                Ok(item)
            }
        };
        tokio::time::sleep_until(start + latency).await;
        result
    }

    async fn batch_get_items(&self, table: &str, keys: Vec<Item>) -> Result<BatchGot, DynamoFault> {
        if keys.len() > 100 {
            return Err(DynamoFault::Failed(fault(
                "ValidationException",
                "Too many items requested for the BatchGetItem call",
            )));
        }
        let start = Instant::now();
        let latency = self.latency(self.params.read);
        let parsed = keys
            .iter()
            .map(|k| key_of(table, k))
            .collect::<Result<Vec<_>, _>>()?;
        tokio::time::sleep_until(start + latency / 2).await;
        let got = {
            let mut state = self.state();
            state.stats.reads += 1;
            let mut got = BatchGot::default();
            for (key, asked) in parsed.iter().zip(keys) {
                let item = state.get(key).cloned();
                let bytes = item.as_ref().map_or(0, item_bytes);
                if self.throttle_read(&mut state, &key.0, &key.1, bytes) {
                    got.unprocessed.push(asked);
                } else if let Some(item) = item {
                    got.items.push(item);
                }
            }
            got
        };
        tokio::time::sleep_until(start + latency).await;
        Ok(got)
    }

    async fn query(&self, query: KeyQuery) -> Result<QueryPage, DynamoFault> {
        let start = Instant::now();
        let latency = self.latency(self.params.read);
        let AttributeValue::S(pk) = &query.partition else {
            return Err(DynamoFault::Failed(fault(
                "ValidationException",
                "the partition key value must be a string",
            )));
        };
        let from = query
            .sort_from
            .as_ref()
            .map(|v| sort_key(Some(v)))
            .transpose()?;
        let until = query
            .sort_until
            .as_ref()
            .map(|v| sort_key(Some(v)))
            .transpose()?;
        let after = query
            .start_after
            .as_ref()
            .map(|k| sort_key(k.get("sk")))
            .transpose()?;
        let _in_flight = QueryInFlight::start(self);
        tokio::time::sleep_until(start + latency / 2).await;
        let result = {
            let mut state = self.state();
            state.stats.reads += 1;
            let empty = Partition::new();
            let partition = state
                .tables
                .get(&query.table)
                .and_then(|t| t.get(pk))
                .unwrap_or(&empty);
            let in_range = |k: &SortKey| {
                from.as_ref().is_none_or(|f| k >= f)
                    && until.as_ref().is_none_or(|u| k <= u)
                    && after.as_ref().is_none_or(|a| match query.descending {
                        false => k > a,
                        true => k < a,
                    })
            };
            let ordered: Box<dyn Iterator<Item = (&SortKey, &Item)>> = match query.descending {
                false => Box::new(partition.iter()),
                true => Box::new(partition.iter().rev()),
            };
            let limit = query.limit.map_or(usize::MAX, |l| l as usize);
            let mut page = QueryPage::default();
            let mut bytes = 0usize;
            let mut stopped = false;
            for (_, item) in ordered.filter(|(k, _)| in_range(k)) {
                let size = item_bytes(item);
                if page.items.len() == limit || bytes + size > self.params.max_query_page_bytes {
                    stopped = true;
                    break;
                }
                bytes += size;
                page.items.push(item.clone());
            }
            // DynamoDB also names the last key when the limit was reached exactly.
            if stopped || page.items.len() == limit {
                page.last_evaluated_key = page.items.last().map(|item| {
                    item.iter()
                        .filter(|(name, _)| *name == "pk" || *name == "sk")
                        .map(|(n, v)| (n.clone(), v.clone()))
                        .collect()
                });
            }
            if let Some(names) = query.projection {
                for item in &mut page.items {
                    item.retain(|name, _| names.contains(&name.as_str()));
                }
            }
            let pk = pk.clone();
            if self.throttle_read(&mut state, &query.table, &pk, bytes) {
                Err(DynamoFault::Busy(fault(
                    "ThrottlingException",
                    format!("read capacity of partition {pk:?} exceeded"),
                )))
            } else {
                Ok(page)
            }
        };
        tokio::time::sleep_until(start + latency).await;
        result
    }
}

fn cancelled<'a>(reasons: impl Iterator<Item = &'a str>) -> DynamoFault {
    let reasons: Vec<String> = reasons.map(str::to_owned).collect();
    DynamoFault::TransactionCanceled {
        source: fault(
            "TransactionCanceledException",
            format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                reasons.join(", ")
            ),
        ),
        reasons,
    }
}

#[cfg(test)]
mod contract_tests;
