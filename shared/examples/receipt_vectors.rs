//! Prints the known-answer vectors of `docs/vectors/receipts.json`: delivery receipts of the
//! signals of `docs/vectors/entries.json`, each with its fields, canonical bytes, receipt hash
//! and the sort key of its DynamoDB item (`docs/ledger-format.md`, section 10).
//!
//! The committed file is the reference: regenerate it only with a new receipt encoding version.
//! Run: `cargo run -p shared --example receipt_vectors > docs/vectors/receipts.json`

use anyhow::Context;
use serde_json::json;
use shared::adapters::dynamodb::receipts::subscriber_key;
use shared::domain::entry::StoredEntry;
use shared::domain::receipt::{Receipt, ReceiptRequest, StoredReceipt, Subscriber};
use shared::domain::timestamp::Timestamp;

fn main() -> anyhow::Result<()> {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/vectors/entries.json"))?;
    let entries: Vec<StoredEntry> = vectors["entries"]
        .as_array()
        .context("entries")?
        .iter()
        .map(|v| {
            let mut fields = v["fields"].clone();
            fields["entry_hash"] = v["entry_hash"].clone();
            serde_json::from_value(fields)
        })
        .collect::<Result<_, _>>()?;
    let instant = |text: &str| Timestamp::parse_rfc3339(text).context("timestamp");
    // (entry, subscriber, delivered_at, recorded_at, submitter)
    let cases = [
        (
            0,
            "desk-7.ws-gateway",
            "2026-11-28T09:30:00.130Z",
            "2026-11-28T09:30:00.401122Z",
            "arn:aws:sts::123456789012:assumed-role/ws-gateway/eu-1",
        ),
        (
            0,
            "mobile:push-2",
            "2026-11-28T09:30:02.9Z",
            "2026-11-28T09:30:03.000001Z",
            "arn:aws:sts::123456789012:assumed-role/ws-gateway/eu-1",
        ),
        (1, "a", "", "2026-11-28T10:00:00Z", "anonymous — désk ✓"),
    ];
    let mut out = Vec::new();
    for (index, subscriber, delivered_at, recorded_at, submitter) in cases {
        let signal = entries.get(index).context("entry")?;
        // An empty delivered_at means "exactly when generated" (a zero latency).
        let delivered_at = match delivered_at {
            "" => signal.entry.content.generated_at,
            text => instant(text)?,
        };
        let stored = StoredReceipt::seal(Receipt::assemble(
            signal,
            ReceiptRequest {
                subscriber: Subscriber::parse(subscriber)?,
                delivered_at,
            },
            instant(recorded_at)?,
            submitter.to_owned(),
        ));
        out.push(json!({
            "fields": stored.receipt,
            "canonical_hex": hex::encode(stored.receipt.canonical_bytes()),
            "receipt_hash": stored.receipt_hash,
            "item_sk": subscriber_key(&stored.receipt.subscriber),
        }));
    }
    let document = json!({
        "encoding_version": shared::domain::receipt::RECEIPT_VERSION,
        "receipts": out,
    });
    // The example's one output: the vectors document on stdout.
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(&document)?);
    }
    Ok(())
}
