//! The append protocol under a bar-close burst, a sustained open-loop load and an idle ledger,
//! driving the real ingest service (app layer, real handler, real DynamoDB adapters) over the
//! modelled DynamoDB (`tests/model`), in tokio's paused time: a 60 s scenario runs as fast as the
//! CPU allows and gives the same figures on every run (fixed seeds).
//!
//! Two protocols side by side, both the product's `Ingest` service on the same table layout:
//! the single append (`AppendProtocol::Single`, one transaction per signal racing for the next
//! index: the protocol before issue 13) and group commit (`AppendProtocol::GroupCommit`, the
//! default; ARCHITECTURE.md "Group commit").
//!
//! Run with `cargo bench -p tests --bench group_commit` (release; figures go into BENCHMARKS.md).
//! `GROUP_COMMIT_SUSTAINED_SECONDS` shortens the sustained scenario (default 60);
//! `GROUP_COMMIT_PROTOCOLS=Single` or `GroupCommit` runs one side only, and
//! `GROUP_COMMIT_SCENARIOS=idle,burst,sustained` (any of them) some scenarios.
//! This is a measurement, not a test: it fails only when the chain it built is not intact and
//! complete, or a signal or an audit event is missing or duplicated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use dynamo_model::{ModelParameters, ModelStats, ModelledDynamo};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::app::http::HttpRequest;
use shared::app::ingest::{AppendProtocol, Ingest, IngestSettings, metric};
use shared::domain::audit::AuditEventType;
use shared::domain::chain::ChainVerifier;
use shared::domain::timestamp::Timestamp;
use shared::ports::{Clock, LedgerStore};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// One debug event of the group-commit protocol (`shared::app::ingest::PHASES_TARGET`): a
/// signal's answer (`kind = "signal"`) or a combiner's commit (`kind = "commit"`), with its
/// numeric fields.
#[derive(Debug, Default, Clone)]
struct Phase {
    kind: String,
    role: String,
    numbers: HashMap<&'static str, f64>,
}

impl tracing::field::Visit for Phase {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.numbers.insert(field.name(), value);
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.numbers.insert(field.name(), value as f64);
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.numbers.insert(field.name(), value as f64);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "kind" => self.kind = value.to_owned(),
            "role" => self.role = value.to_owned(),
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

/// Collects the protocol's phase events, to say where a scenario's time went.
#[derive(Debug, Default, Clone)]
struct PhaseLog(Arc<Mutex<Vec<Phase>>>);

impl PhaseLog {
    fn take(&self) -> Vec<Phase> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PhaseLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != shared::app::ingest::PHASES_TARGET {
            return;
        }
        let mut phase = Phase::default();
        event.record(&mut phase);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(phase);
    }
}

/// Prints where the time of a scenario's group-commit answers went: per role (`alone`,
/// `combiner`, `waiter`), the answer time split into entering (head read + pending put, all
/// rounds) and waiting; the slowest 1 %'s make-up; and the combiner's commits.
fn print_phases(label: &str, phases: Vec<Phase>) {
    let pct = |mut values: Vec<f64>, q: f64| -> f64 {
        if values.is_empty() {
            return f64::NAN;
        }
        values.sort_by(f64::total_cmp);
        values[((values.len() - 1) as f64 * q).round() as usize]
    };
    let get = |p: &Phase, name: &str| p.numbers.get(name).copied().unwrap_or(0.0);
    let signals: Vec<&Phase> = phases.iter().filter(|p| p.kind == "signal").collect();
    let commits: Vec<&Phase> = phases.iter().filter(|p| p.kind == "commit").collect();
    if signals.is_empty() {
        return;
    }
    let summary = |group: &[&Phase]| {
        let col = |name: &str| group.iter().map(|p| get(p, name)).collect::<Vec<f64>>();
        format!(
            "n {}, total p50/p99 {:.0}/{:.0} ms, enter p50/p99 {:.0}/{:.0}, wait p50/p99 {:.0}/{:.0}, re-entered {} (passed by {}, stalled {}), claim reads mean {:.1}, head reads mean {:.1}",
            group.len(),
            pct(col("total_ms"), 0.5),
            pct(col("total_ms"), 0.99),
            pct(col("enter_ms"), 0.5),
            pct(col("enter_ms"), 0.99),
            pct(col("wait_ms"), 0.5),
            pct(col("wait_ms"), 0.99),
            group.iter().filter(|p| get(p, "rounds") > 1.0).count(),
            col("passed").iter().sum::<f64>(),
            col("stalled").iter().sum::<f64>(),
            col("polls").iter().sum::<f64>() / group.len() as f64,
            col("checks").iter().sum::<f64>() / group.len() as f64,
        )
    };
    eprintln!("{label} phases, all: {}", summary(&signals));
    for role in ["alone", "combiner", "waiter"] {
        let group: Vec<&Phase> = signals.iter().copied().filter(|p| p.role == role).collect();
        if !group.is_empty() {
            eprintln!("{label} phases, {role}: {}", summary(&group));
        }
    }
    let mut slowest = signals.clone();
    slowest.sort_by(|a, b| get(b, "total_ms").total_cmp(&get(a, "total_ms")));
    slowest.truncate((signals.len() / 100).max(1));
    eprintln!("{label} phases, slowest 1 %: {}", summary(&slowest));
    if !commits.is_empty() {
        let col = |name: &str| commits.iter().map(|p| get(p, name)).collect::<Vec<f64>>();
        eprintln!(
            "{label} commit attempts: {} ({} stored, {} failed on a claim, {} lost), batch mean {:.1} p50 {:.0}, commit p50/p99 {:.0}/{:.0} ms, arrivals read p50/p99 {:.0}/{:.0} ms ({:.1} partitions)",
            commits.len(),
            commits.iter().filter(|p| p.role == "stored").count(),
            commits.iter().filter(|p| p.role == "claimed").count(),
            commits.iter().filter(|p| p.role == "lost").count(),
            col("batch").iter().sum::<f64>() / commits.len() as f64,
            pct(col("batch"), 0.5),
            pct(col("commit_ms"), 0.5),
            pct(col("commit_ms"), 0.99),
            pct(col("read_ms"), 0.5),
            pct(col("read_ms"), 0.99),
            col("partitions").iter().sum::<f64>() / commits.len() as f64,
        );
    }
}

/// Lambda's default account concurrency: invocations beyond it are refused with 429.
const LAMBDA_CONCURRENCY: usize = 1_000;
/// A producer answered 503 or 429 waits `Retry-After` (1 s) and resends, at most this often.
const PRODUCER_RESENDS: u32 = 3;
const SIGNALS_TABLE: &str = "bench-signals";
const AUDIT_TABLE: &str = "bench-audit";

/// Virtual wall clock: a fixed start plus tokio's (paused) elapsed time.
#[derive(Debug, Clone)]
struct VirtualClock {
    start: time::OffsetDateTime,
    origin: Instant,
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        let elapsed = time::Duration::try_from(self.origin.elapsed()).unwrap_or_default();
        Timestamp::from_datetime(self.start + elapsed)
            .unwrap_or_else(|_| unreachable!("the benchmark runs in 2026"))
    }
}

type Service = Ingest<
    DynamoLedgerStore<ModelledDynamo>,
    DynamoAuditSink<ModelledDynamo>,
    VirtualClock,
    RecordingMetrics,
>;

/// Which append protocol a rig runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// One transaction per signal, racing alone for the next chain index.
    Single,
    /// Group commit.
    GroupCommit,
}

type Target = Arc<Service>;

struct Rig {
    protocol: Protocol,
    target: Target,
    model: ModelledDynamo,
    store: DynamoLedgerStore<ModelledDynamo>,
    metrics: RecordingMetrics,
    lambdas: Arc<Semaphore>,
    clock: VirtualClock,
    phases: PhaseLog,
}

impl Rig {
    fn new(protocol: Protocol, seed: u64, phases: &PhaseLog) -> Rig {
        phases.take();
        let model = ModelledDynamo::new(ModelParameters::published(), seed);
        let store = DynamoLedgerStore::new(model.clone(), SIGNALS_TABLE, AUDIT_TABLE);
        let audit = DynamoAuditSink::new(model.clone(), AUDIT_TABLE);
        let metrics = RecordingMetrics::default();
        let clock = VirtualClock {
            start: time::macros::datetime!(2026-11-30 09:30:00 UTC),
            origin: Instant::now(),
        };
        let settings = IngestSettings {
            protocol: match protocol {
                Protocol::Single => AppendProtocol::Single,
                Protocol::GroupCommit => AppendProtocol::GroupCommit,
            },
            ..IngestSettings::default()
        };
        let target = Arc::new(
            Ingest::new(
                store.clone(),
                audit,
                clock.clone(),
                metrics.clone(),
                settings,
            )
            .with_group_commit(),
        );
        Rig {
            protocol,
            target,
            model,
            store,
            metrics,
            lambdas: Arc::new(Semaphore::new(LAMBDA_CONCURRENCY)),
            clock,
            phases: phases.clone(),
        }
    }
}

/// What one producer saw.
#[derive(Debug)]
struct Produced {
    signal_id: String,
    status: u16,
    /// From the first send to the final answer, resends included.
    ack: Duration,
    busy: u32,
    throttled: u32,
}

async fn produce(
    service: Target,
    lambdas: Arc<Semaphore>,
    clock: VirtualClock,
    n: u64,
) -> Produced {
    let signal_id = format!("sig-{n:07}");
    let body = serde_json::json!({
        "signal_id": signal_id, "symbol": "AAPL", "action": "BUY",
        "entry_price": "189.4", "stop_loss": "182.5", "target_price": "201",
        "confidence": "0.72", "producer": "momentum-svc",
        "generated_at": clock.now().to_string(),
        "rationale": "Breakout above the 50-day moving average on 2.1x average volume."
    })
    .to_string()
    .into_bytes();
    let sent = Instant::now();
    let (mut busy, mut throttled) = (0, 0);
    loop {
        let status = match lambdas.try_acquire() {
            Ok(_instance) => {
                service
                    .handle(HttpRequest {
                        method: "POST".into(),
                        path: "/signals".into(),
                        content_type: Some("application/json".into()),
                        body: body.clone(),
                        actor: "arn:aws:iam::123456789012:role/producer".into(),
                        request_id: format!("req-{n}-{}", busy + throttled),
                    })
                    .await
                    .status
            }
            Err(_) => 429,
        };
        match status {
            503 => busy += 1,
            429 => throttled += 1,
            _ => {}
        }
        if !matches!(status, 503 | 429) || busy + throttled > PRODUCER_RESENDS {
            return Produced {
                signal_id,
                status,
                ack: sent.elapsed(),
                busy,
                throttled,
            };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One scenario's figures.
#[derive(Debug)]
struct Figures {
    protocol: Protocol,
    scenario: String,
    signals: usize,
    stored: usize,
    appends_per_second: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    answered_503: u32,
    answered_429: u32,
    unanswered: usize,
    retries: u64,
    transactions_per_signal: f64,
    wcu_per_signal: f64,
    throttled: u64,
    conflicts: u64,
}

async fn finish(
    rig: &Rig,
    scenario: &str,
    produced: Vec<Produced>,
    span: Duration,
) -> anyhow::Result<Figures> {
    print_phases(&format!("{:?} {scenario}", rig.protocol), rig.phases.take());
    let stats: ModelStats = rig.model.stats();
    // The hottest partitions (numbers folded: `PENDING#17` and `PENDING#18` count as one kind).
    let mut hot: HashMap<String, u64> = HashMap::new();
    for (partition, n) in &stats.throttled_partitions {
        let kind: String = partition
            .chars()
            .map(|c| if c.is_ascii_digit() { 'n' } else { c })
            .collect();
        *hot.entry(kind).or_default() += n;
    }
    let mut hot: Vec<_> = hot.into_iter().collect();
    hot.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    if !hot.is_empty() {
        eprintln!(
            "{:?} {scenario}: throttled partitions {:?}",
            rig.protocol,
            &hot[..hot.len().min(5)]
        );
    }
    let stored: Vec<&Produced> = produced
        .iter()
        .filter(|p| matches!(p.status, 200 | 201))
        .collect();
    if let Some(odd) = produced
        .iter()
        .find(|p| !matches!(p.status, 200 | 201 | 503 | 429))
    {
        bail!("{scenario}: {} answered {}", odd.signal_id, odd.status);
    }
    let mut acks: Vec<Duration> = stored.iter().map(|p| p.ack).collect();
    acks.sort();
    let percentile = |q: f64| {
        acks.get(((acks.len().max(1) - 1) as f64 * q).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    verify(rig, scenario, &produced).await?;
    let count = stored.len().max(1) as f64;
    Ok(Figures {
        protocol: rig.protocol,
        scenario: scenario.to_owned(),
        signals: produced.len(),
        stored: stored.len(),
        appends_per_second: stored.len() as f64 / span.as_secs_f64(),
        p50: percentile(0.50),
        p95: percentile(0.95),
        p99: percentile(0.99),
        answered_503: produced.iter().map(|p| p.busy).sum(),
        answered_429: produced.iter().map(|p| p.throttled).sum(),
        unanswered: produced.len() - stored.len(),
        retries: rig.metrics.total(metric::APPEND_RETRIES) as u64,
        transactions_per_signal: stats.transactions as f64 / count,
        wcu_per_signal: stats.wcu / count,
        throttled: stats.throttled,
        conflicts: stats.conflicts,
    })
}

/// The chain is intact and complete; it holds each stored signal exactly once and nothing else;
/// each insert has exactly one audit event.
async fn verify(rig: &Rig, scenario: &str, produced: &[Produced]) -> anyhow::Result<()> {
    let mut verifier = ChainVerifier::from_genesis();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut from = 0;
    loop {
        let page = rig.store.read_page(from, 1_000).await?;
        for item in page.items {
            let entry = item?;
            *seen.entry(entry.entry.signal_id.to_string()).or_default() += 1;
            verifier.push(&entry);
        }
        match page.next {
            Some(next) => from = next,
            None => break,
        }
    }
    let length = seen.values().sum::<u64>();
    let report = verifier.finish(Some(length));
    ensure!(
        report.is_intact() && report.next_index == length,
        "{scenario}: chain broken: {:?}",
        report.findings
    );
    ensure!(
        seen.values().all(|n| *n == 1),
        "{scenario}: a signal is in the chain twice"
    );
    for p in produced {
        let in_chain = seen.contains_key(&p.signal_id);
        // Every 200/201 is in the chain. A final 503 means "outcome unknown, retry with the same
        // id": under group commit its pending item may still be sequenced after it gave up.
        let unknown_allowed = rig.protocol == Protocol::GroupCommit && p.status == 503;
        ensure!(
            in_chain == matches!(p.status, 200 | 201) || unknown_allowed,
            "{scenario}: {} answered {} but in chain: {in_chain}",
            p.signal_id,
            p.status
        );
    }
    // Read straight from the model: a throttled read of a day of refusal events would fail the
    // check, not the protocol.
    let mut inserts: HashMap<String, u32> = HashMap::new();
    for item in rig.model.items(AUDIT_TABLE) {
        // An insert audit bundle holds a commit's events as a list of maps; any other item is
        // one event.
        let events = match item.get("events") {
            Some(aws_sdk_dynamodb::types::AttributeValue::L(list)) => list
                .iter()
                .map(|value| match value {
                    aws_sdk_dynamodb::types::AttributeValue::M(event) => event.clone(),
                    _ => Default::default(),
                })
                .collect(),
            _ => vec![item],
        };
        for event in events {
            let event =
                shared::adapters::dynamodb::audit_from_item(&event).context("audit event")?;
            if event.event_type == AuditEventType::SignalInserted {
                *inserts
                    .entry(event.signal_id.unwrap_or_default())
                    .or_default() += 1;
            }
        }
    }
    ensure!(
        inserts.len() == seen.len()
            && inserts
                .iter()
                .all(|(id, n)| *n == 1 && seen.contains_key(id)),
        "{scenario}: {} insert audit events for {} entries",
        inserts.values().sum::<u32>(),
        seen.len()
    );
    Ok(())
}

async fn burst(
    protocol: Protocol,
    seed: u64,
    signals: u64,
    phases: &PhaseLog,
) -> anyhow::Result<Figures> {
    let rig = Rig::new(protocol, seed, phases);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..signals {
        tasks.spawn(produce(
            rig.target.clone(),
            rig.lambdas.clone(),
            rig.clock.clone(),
            n,
        ));
    }
    let produced = tasks.join_all().await;
    let span = produced.iter().map(|p| p.ack).max().unwrap_or_default();
    finish(&rig, &format!("burst of {signals}"), produced, span).await
}

async fn sustained(
    protocol: Protocol,
    seed: u64,
    per_second: u64,
    seconds: u64,
    phases: &PhaseLog,
) -> anyhow::Result<Figures> {
    let rig = Rig::new(protocol, seed, phases);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let total = per_second * seconds;
    // Open loop: arrivals on a fixed schedule, whatever the answers.
    for n in 0..total {
        tokio::time::sleep_until(started + Duration::from_secs_f64(n as f64 / per_second as f64))
            .await;
        tasks.spawn(produce(
            rig.target.clone(),
            rig.lambdas.clone(),
            rig.clock.clone(),
            n,
        ));
    }
    let produced = tasks.join_all().await;
    let span = started.elapsed();
    finish(
        &rig,
        &format!("sustained {per_second}/s for {seconds} s"),
        produced,
        span,
    )
    .await
}

async fn idle(
    protocol: Protocol,
    seed: u64,
    signals: u64,
    phases: &PhaseLog,
) -> anyhow::Result<Figures> {
    let rig = Rig::new(protocol, seed, phases);
    let started = Instant::now();
    let mut produced = Vec::new();
    for n in 0..signals {
        produced.push(
            produce(
                rig.target.clone(),
                rig.lambdas.clone(),
                rig.clock.clone(),
                n,
            )
            .await,
        );
    }
    let span = started.elapsed();
    finish(
        &rig,
        &format!("idle, {signals} one at a time"),
        produced,
        span,
    )
    .await
}

fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("GROUP_COMMIT_SUSTAINED_SECONDS")
        .ok()
        .map(|s| s.parse())
        .transpose()
        .context("GROUP_COMMIT_SUSTAINED_SECONDS")?
        .unwrap_or(60);
    // The service's backoff jitter draws from fastrand's thread-local generator: seed it.
    fastrand::seed(13);
    let phases = PhaseLog::default();
    {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(phases.clone()),
        )
        .context("installing the phase log")?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let wall = std::time::Instant::now();
    let figures = runtime.block_on(async {
        let mut all = Vec::new();
        // `GROUP_COMMIT_PROTOCOLS=GroupCommit` (or `Single`) runs one side only.
        let only = std::env::var("GROUP_COMMIT_PROTOCOLS").unwrap_or_default();
        let scenarios = std::env::var("GROUP_COMMIT_SCENARIOS").unwrap_or_default();
        for protocol in [Protocol::Single, Protocol::GroupCommit] {
            if !only.is_empty() && !only.contains(&format!("{protocol:?}")) {
                continue;
            }
            // `GROUP_COMMIT_SCENARIOS=idle,burst` (or any of idle, burst, sustained) runs some.
            let run = |name: &str| scenarios.is_empty() || scenarios.contains(name);
            if run("idle") {
                all.push(idle(protocol, 1, 200, &phases).await?);
            }
            if run("burst") {
                all.push(burst(protocol, 2, 1_000, &phases).await?);
            }
            if run("sustained") {
                all.push(sustained(protocol, 3, 1_500, seconds, &phases).await?);
            }
        }
        anyhow::Ok(all)
    })?;
    eprintln!(
        "| protocol | scenario | signals | stored | appends/s | p50 ms | p95 ms | p99 ms | 503 | 429 | not stored | in-service retries | transactions/signal | WCU/signal | throttled calls | conflicts |"
    );
    eprintln!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &figures {
        eprintln!(
            "| {:?} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2} | {:.1} | {} | {} |",
            f.protocol,
            f.scenario,
            f.signals,
            f.stored,
            f.appends_per_second,
            f.p50,
            f.p95,
            f.p99,
            f.answered_503,
            f.answered_429,
            f.unanswered,
            f.retries,
            f.transactions_per_signal,
            f.wcu_per_signal,
            f.throttled,
            f.conflicts
        );
    }
    eprintln!(
        "(wall time {:.1} s; every chain verified intact and complete, one entry and one insert audit event per stored signal)",
        wall.elapsed().as_secs_f64()
    );
    Ok(())
}
