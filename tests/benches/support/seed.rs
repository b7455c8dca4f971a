//! Seeding a large ledger for the emulator benchmarks: commits of 97 entries (layout 2: commit
//! records, entry bundles and claims) written with BatchWriteItem — a benchmark fixture, not product code (which only ever appends one entry at a
//! time, conditionally) — because moto's transactions cost O(table).

use anyhow::Context;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use shared::adapters::dynamodb::commit::{MAX_COMMIT_ENTRIES, commit_items};
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::hash::Hash;
use shared::domain::signal::{Action, SignalContent, SignalId};
use shared::domain::timestamp::Timestamp;

/// Writes `entries` realistic entries and their claims into `table`, chained from genesis, and
/// returns their hashes (the Merkle leaves) in order.
pub async fn seed(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    entries: u64,
) -> anyhow::Result<Vec<Hash>> {
    let start = Timestamp::parse_rfc3339("2026-11-28T00:00:00Z")?;
    let decimal = |text: &str| ExactDecimal::parse(text).context("decimal");
    let mut previous = Hash::ZERO;
    let mut batch = Vec::new();
    let mut commit = Vec::new();
    let mut hashes = Vec::with_capacity(entries as usize);
    for index in 0..entries {
        let generated_at = Timestamp::from_datetime(
            start.as_datetime() + time::Duration::milliseconds(index as i64 * 250),
        )?;
        let received_at = Timestamp::from_datetime(
            generated_at.as_datetime() + time::Duration::milliseconds(87),
        )?;
        let content = SignalContent {
            symbol: "AAPL".into(),
            action: Action::Buy,
            entry_price: decimal(&format!("{}.25", 150 + index % 50))?,
            target_price: Some(decimal("215.5")?),
            stop_loss: Some(decimal("142.5")?),
            confidence: Some(decimal("0.82")?),
            rationale: format!("Signal {index}: breakout above the 50-day average on 2.1x volume."),
            generated_at,
            producer: Some("momentum-svc".into()),
            model: Some("gbm-ensemble".into()),
            model_version: Some("2026.11.1".into()),
        };
        let placement = Placement {
            chain_index: index,
            previous_hash: previous,
            received_at,
            retention_days: 2555,
            submitter: "arn:aws:sts::123456789012:assumed-role/signal-producer/momentum".into(),
        };
        let signal_id = SignalId::parse(&format!("bench-{index:08}")).context("id")?;
        let stored = StoredEntry::seal(Entry::assemble(signal_id, content, placement)?);
        previous = stored.entry_hash;
        hashes.push(stored.entry_hash);
        commit.push(stored);
        // Commits of up to 97 entries, as a busy ledger's group commits make them.
        if commit.len() == MAX_COMMIT_ENTRIES || index + 1 == entries {
            let first = commit[0].entry.chain_index;
            let items = commit_items(first, "", &std::mem::take(&mut commit), &[]);
            for item in [items.commit, items.bundle].into_iter().chain(items.claims) {
                batch.push(
                    WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                        .build(),
                );
                if batch.len() == 25 {
                    write_batch(client, table, std::mem::take(&mut batch)).await?;
                }
            }
        }
    }
    write_batch(client, table, batch).await?;
    Ok(hashes)
}

async fn write_batch(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    mut pending: Vec<WriteRequest>,
) -> anyhow::Result<()> {
    while !pending.is_empty() {
        let output = client
            .batch_write_item()
            .request_items(table, pending)
            .send()
            .await?;
        pending = output
            .unprocessed_items()
            .and_then(|u| u.get(table))
            .cloned()
            .unwrap_or_default();
    }
    Ok(())
}
