//! Chain verification throughput beside plain SHA-256 over the same bytes.
//!
//! `cargo bench -p shared --bench chain`. Figures go into BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared::domain::chain::verify_chain;
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::hash::Hash;
use shared::domain::signal::{Action, SignalContent, SignalId};
use shared::domain::timestamp::Timestamp;

const ENTRIES: usize = 10_000;

/// A realistic entry: ~420 canonical bytes, every optional field present.
fn entries() -> Vec<StoredEntry> {
    let decimal = |text: &str| ExactDecimal::parse(text).expect("valid decimal");
    let start = Timestamp::parse_rfc3339("2026-11-28T09:30:00Z").expect("valid timestamp");
    let mut chain: Vec<StoredEntry> = Vec::with_capacity(ENTRIES);
    for index in 0..ENTRIES {
        let generated_at = Timestamp::from_datetime(
            start.as_datetime() + time::Duration::milliseconds(index as i64 * 250),
        )
        .expect("in range");
        let received_at =
            Timestamp::from_datetime(generated_at.as_datetime() + time::Duration::milliseconds(87))
                .expect("in range");
        let content = SignalContent {
            symbol: "AAPL".into(),
            action: Action::Buy,
            entry_price: decimal(&format!("{}.25", 150 + index % 50)),
            target_price: Some(decimal("215.5")),
            stop_loss: Some(decimal("142.5")),
            confidence: Some(decimal("0.82")),
            rationale: format!("Signal {index}: breakout above the 50-day average on 2.3x volume."),
            generated_at,
            producer: Some("momentum-svc".into()),
            model: Some("gbm-ensemble".into()),
            model_version: Some("2026.11.1".into()),
        };
        let placement = Placement {
            chain_index: index as u64,
            previous_hash: chain.last().map_or(Hash::ZERO, |last| last.entry_hash),
            received_at,
            retention_days: 2555,
            submitter: "arn:aws:sts::123456789012:assumed-role/signal-producer/momentum".into(),
        };
        let signal_id = SignalId::parse(&format!("sig-{index:08}")).expect("valid id");
        let entry = Entry::assemble(signal_id, content, placement).expect("in range");
        chain.push(StoredEntry::seal(entry));
    }
    chain
}

fn chain_verification(c: &mut Criterion) {
    let chain = entries();
    let encoded: Vec<Vec<u8>> = chain.iter().map(|s| s.entry.canonical_bytes()).collect();
    let mean_bytes = encoded.iter().map(Vec::len).sum::<usize>() / encoded.len();
    eprintln!("mean canonical entry size: {mean_bytes} bytes");

    let mut group = c.benchmark_group("chain");
    group.throughput(Throughput::Elements(ENTRIES as u64));
    group.bench_function(
        "verify_chain (encode + leaf hash + link + Merkle append)",
        |b| {
            b.iter(|| {
                let report = verify_chain(black_box(&chain), None);
                assert!(report.is_intact());
            });
        },
    );
    group.bench_function("sha256 of the same canonical bytes (baseline)", |b| {
        b.iter(|| {
            for bytes in black_box(&encoded) {
                black_box(Hash::leaf(bytes));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, chain_verification);
criterion_main!(benches);
