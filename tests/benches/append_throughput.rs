//! Appends per second against the emulator with 1, 4 and 16 concurrent writers, with the lost
//! races retried inside the service and the 503 answers a producer had to retry.
//!
//! Run with `infra/bench-emulator.sh` (starts moto, runs this, stops moto). Figures go into
//! BENCHMARKS.md. This is a measurement, not a test: it asserts only that nothing was lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ledgerctl::provision::create_tables;
use ledgerctl::template::{Stack, Template};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings, metric};
use shared::domain::chain::ChainVerifier;
use shared::ports::{Clock, LedgerStore};

const SIGNALS_PER_RUN: usize = 256;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::var("AWS_ENDPOINT_URL")
        .context("AWS_ENDPOINT_URL must point at the emulator (use infra/bench-emulator.sh)")?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let template = Template::parse(include_str!("../../template.yaml"))?;
    eprintln!("writers | appends/s | p50 ms | p99 ms | lost races retried | 503 answers");
    for writers in [1usize, 4, 16] {
        let stack = format!("bench-{writers}-{}", uuid::Uuid::now_v7().simple());
        create_tables(&client, &template.tables(&Stack::local(&stack))?).await?;
        let store = DynamoLedgerStore::new(
            client.clone(),
            format!("{stack}-signals"),
            format!("{stack}-audit"),
        );
        let metrics = RecordingMetrics::default();
        let service = Arc::new(Ingest::new(
            store.clone(),
            DynamoAuditSink::new(client.clone(), format!("{stack}-audit")),
            SystemClock,
            metrics.clone(),
            IngestSettings::default(),
        ));
        let busy = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for writer in 0..writers {
            let service = Arc::clone(&service);
            let busy = Arc::clone(&busy);
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                for n in (writer..SIGNALS_PER_RUN).step_by(writers) {
                    let body = serde_json::json!({
                        "signal_id": format!("bench-{n}"), "symbol": "AAPL", "action": "BUY",
                        "entry_price": "189.4", "stop_loss": "182.5", "generated_at": SystemClock.now().to_string(),
                        "rationale": "Breakout above the 50-day moving average on 2.1x average volume."
                    });
                    let sent = Instant::now();
                    loop {
                        let response = service
                            .handle(HttpRequest {
                                method: "POST".into(),
                                path: "/signals".into(),
                                content_type: Some("application/json".into()),
                                body: body.to_string().into_bytes(),
                                actor: "bench".into(),
                                request_id: format!("bench-{n}"),
                            })
                            .await;
                        match response.status {
                            201 | 200 => break,
                            503 => {
                                busy.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            other => bail!("signal {n}: status {other}"),
                        }
                    }
                    latencies.push(sent.elapsed());
                }
                Ok(latencies)
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await??);
        }
        let elapsed = started.elapsed();
        latencies.sort();
        let percentile =
            |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
        // Nothing lost: the chain holds every signal once, in order, intact.
        let mut verifier = ChainVerifier::from_genesis();
        let mut from = 0;
        loop {
            let page = store.read_page(from, 100).await?;
            for item in page.items {
                verifier.push(&item?);
            }
            match page.next {
                Some(next) => from = next,
                None => break,
            }
        }
        let report = verifier.finish(Some(SIGNALS_PER_RUN as u64));
        if !report.is_intact() || report.next_index != SIGNALS_PER_RUN as u64 {
            bail!(
                "chain broken after {writers} writers: {:?}",
                report.findings
            );
        }
        eprintln!(
            "{writers:>7} | {:>9.0} | {:>6.1} | {:>6.1} | {:>18} | {:>11}",
            SIGNALS_PER_RUN as f64 / elapsed.as_secs_f64(),
            percentile(0.5),
            percentile(0.99),
            metrics.total(metric::APPEND_RETRIES) as u64,
            busy.load(Ordering::Relaxed)
        );
    }
    Ok(())
}
