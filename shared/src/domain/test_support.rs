//! Builders for realistic entries and chains, shared by the domain's unit and property tests.

use crate::domain::decimal::ExactDecimal;
use crate::domain::entry::{Entry, Placement, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::signal::{Action, SignalContent, SignalId};
use crate::domain::timestamp::Timestamp;

pub fn decimal(text: &str) -> ExactDecimal {
    ExactDecimal::parse(text).unwrap()
}

pub fn timestamp(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

/// A realistic signal (≈400 bytes encoded) that varies with `n`.
pub fn content(n: u64) -> SignalContent {
    let symbols = ["AAPL", "MSFT", "BRK.B", "EUR/USD", "NVDA", "TSLA", "SPY"];
    let buy = !n.is_multiple_of(3);
    let price = 100 + (n * 37) % 900;
    SignalContent {
        symbol: symbols[(n % symbols.len() as u64) as usize].to_owned(),
        action: if buy { Action::Buy } else { Action::Sell },
        entry_price: decimal(&format!("{price}.{:02}", n % 100)),
        target_price: Some(decimal(&format!(
            "{}",
            if buy { price + 12 } else { price - 12 }
        ))),
        stop_loss: (n % 4 != 1)
            .then(|| decimal(&format!("{}.5", if buy { price - 5 } else { price + 5 }))),
        confidence: (n % 5 != 2).then(|| decimal(&format!("0.{}", 50 + n % 50))),
        rationale: format!(
            "Signal {n}: price broke above the 20-day range on volume 2.3x the average; momentum \
             and breadth confirm, risk capped by a stop under the breakout level. RSI 61, MACD \
             crossing up, sector relative strength improving for the third session."
        ),
        generated_at: timestamp(&format!(
            "2026-11-28T09:{:02}:{:02}.{:03}Z",
            (n / 60) % 60,
            n % 60,
            (n * 7) % 1000
        )),
        producer: Some("momentum-svc".to_owned()),
        model: n.is_multiple_of(2).then(|| "gbm-ensemble".to_owned()),
        model_version: n.is_multiple_of(2).then(|| "2026.11.1".to_owned()),
    }
}

/// A valid chain of `length` entries from genesis.
pub fn chain(length: u64) -> Vec<StoredEntry> {
    let mut entries: Vec<StoredEntry> = Vec::new();
    for index in 0..length {
        let previous_hash = entries.last().map_or(Hash::ZERO, |last| last.entry_hash);
        let content = content(index);
        let received_at = Timestamp::from_datetime(
            content.generated_at.as_datetime()
                + time::Duration::milliseconds(40 + (index as i64 * 13) % 400),
        )
        .unwrap();
        let placement = Placement {
            chain_index: index,
            previous_hash,
            received_at,
            retention_days: 2555,
            submitter: "arn:aws:sts::123456789012:assumed-role/signal-producer/momentum".to_owned(),
        };
        let entry = Entry::assemble(
            SignalId::parse(&format!("sig-{index:06}")).unwrap(),
            content,
            placement,
        )
        .unwrap();
        entries.push(StoredEntry::seal(entry));
    }
    entries
}

/// The audit record the append protocol writes with `stored`.
pub fn insert_event(stored: &StoredEntry) -> crate::domain::audit::AuditEvent {
    crate::domain::audit::AuditEvent {
        event_id: format!("insert-{}", stored.entry.chain_index),
        occurred_at: stored.entry.received_at,
        event_type: crate::domain::audit::AuditEventType::SignalInserted,
        actor: "test".into(),
        request_id: "test".into(),
        signal_id: Some(stored.entry.signal_id.to_string()),
        chain_index: Some(stored.entry.chain_index),
        reason: None,
        excerpt: None,
        details: serde_json::json!({}),
    }
}

/// `subscriber`'s receipt of `signal`, delivered `latency_ms` after generation and recorded at
/// `recorded_at`, with the `RECEIPT_RECORDED` event ingest writes beside it (same details).
pub fn receipt_record(
    signal: &StoredEntry,
    subscriber: &str,
    latency_ms: i64,
    recorded_at: &str,
) -> (
    crate::domain::receipt::StoredReceipt,
    crate::domain::audit::AuditEvent,
) {
    use crate::domain::receipt::{Receipt, ReceiptRequest, StoredReceipt, Subscriber};
    let generated = signal.entry.content.generated_at;
    let request = ReceiptRequest {
        subscriber: Subscriber::parse(subscriber).unwrap(),
        delivered_at: Timestamp::from_datetime(
            generated.as_datetime() + time::Duration::milliseconds(latency_ms),
        )
        .unwrap(),
    };
    let stored = StoredReceipt::seal(Receipt::assemble(
        signal,
        request,
        timestamp(recorded_at),
        "arn:aws:iam::123456789012:role/producer".into(),
    ));
    let receipt = &stored.receipt;
    let mut event = insert_event(signal);
    event.event_id = format!("receipt-{}-{subscriber}", signal.entry.chain_index);
    event.occurred_at = receipt.recorded_at;
    event.event_type = crate::domain::audit::AuditEventType::ReceiptRecorded;
    event.details = serde_json::json!({
        "receipt_hash": stored.receipt_hash,
        "subscriber": receipt.subscriber,
        "generated_at": receipt.generated_at,
        "delivered_at": receipt.delivered_at,
        "recorded_at": receipt.recorded_at,
        "client_latency_ms": receipt.client_latency_ms,
    });
    (stored, event)
}
