//! Prints the known-answer vectors of `docs/vectors/entries.json` (a short chain of entries with
//! their canonical bytes, entry hashes, Merkle root and proofs).
//!
//! The committed file is the reference: regenerate it only when the ledger format version
//! changes, and re-run `python3 docs/vectors/check_vectors.py` against the new file.
//! Run: `cargo run -p shared --example ledger_vectors > docs/vectors/entries.json`

use anyhow::Context;
use serde_json::json;
use shared::domain::decimal::ExactDecimal;
use shared::domain::entry::{Entry, Placement, StoredEntry};
use shared::domain::hash::Hash;
use shared::domain::merkle;
use shared::domain::signal::{Action, SignalContent, SignalId};
use shared::domain::timestamp::Timestamp;

fn main() -> anyhow::Result<()> {
    let entries = seal_chain(signals()?)?;
    let text = serde_json::to_string_pretty(&vectors(&entries)?)?;
    // The one place this binary prints: its output is the vector file.
    #[allow(clippy::print_stdout)]
    {
        println!("{text}");
    }
    Ok(())
}

/// One signal of the vectors: its id, content, arrival time and submitter.
struct VectorSignal {
    id: &'static str,
    content: SignalContent,
    received_at: &'static str,
    submitter: &'static str,
}

fn instant(text: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse_rfc3339(text).context("timestamp")
}

/// The vectors' signals: every optional field present and absent, a negative latency, a
/// time zone offset, non-ASCII text, the extreme prices and confidences.
fn signals() -> anyhow::Result<Vec<VectorSignal>> {
    let decimal = |text: &str| ExactDecimal::parse(text).context("decimal");
    let producer = "arn:aws:sts::123456789012:assumed-role/signal-producer/momentum-svc";
    let signals = [
        VectorSignal::new(
            "sig-0001",
            SignalContent {
                symbol: "AAPL".into(),
                action: Action::Buy,
                entry_price: decimal("150.25")?,
                target_price: Some(decimal("165")?),
                stop_loss: Some(decimal("142.5")?),
                confidence: Some(decimal("0.82")?),
                rationale: "Breakout above the 50-day moving average on rising volume.".into(),
                generated_at: instant("2026-11-28T09:29:59.750Z")?,
                producer: Some("momentum-svc".into()),
                model: Some("gbm-ensemble".into()),
                model_version: Some("2026.11.1".into()),
            },
            "2026-11-28T09:30:00.012345Z",
            producer,
        ),
        VectorSignal::new(
            "sig-0002",
            SignalContent {
                symbol: "EUR/USD".into(),
                action: Action::Sell,
                entry_price: decimal("1.08345")?,
                target_price: None,
                stop_loss: None,
                confidence: None,
                rationale: "ECB minutes dovish; fading the rally into resistance.".into(),
                generated_at: instant("2026-11-28T09:30:01Z")?,
                producer: None,
                model: None,
                model_version: None,
            },
            // The producer's clock runs ahead: a negative delivery latency.
            "2026-11-28T09:30:00.900000Z",
            "anonymous",
        ),
        VectorSignal::new(
            "sig-0003",
            SignalContent {
                symbol: "7203.T".into(),
                action: Action::Buy,
                entry_price: decimal("2890")?,
                target_price: Some(decimal("3100.00000001")?),
                stop_loss: Some(decimal("0.00000001")?),
                confidence: Some(decimal("1")?),
                rationale: "円安が続き、輸出企業の業績見通しが改善。\n\tVolume confirms: 成交量放大 — «signal» ✓".into(),
                generated_at: instant("2026-11-28T18:29:58.123456+09:00")?,
                producer: Some("asia-desk".into()),
                model: None,
                model_version: Some("v3".into()),
            },
            "2026-11-28T09:30:02.000001Z",
            producer,
        ),
        VectorSignal::new(
            "sig-0004",
            SignalContent {
                symbol: "BRK.B".into(),
                action: Action::Sell,
                entry_price: decimal("999999999999.99999999")?,
                target_price: Some(decimal("412")?),
                stop_loss: None,
                confidence: Some(decimal("0")?),
                rationale: "Edge values: the largest price, zero confidence, a long submitter.".into(),
                generated_at: instant("2026-11-28T09:30:02.5Z")?,
                producer: Some("edge-case-generator".into()),
                model: Some("rules".into()),
                model_version: None,
            },
            "2026-11-28T09:30:03.000000Z",
            producer,
        ),
        VectorSignal::new(
            "sig-0005",
            SignalContent {
                symbol: "SPY".into(),
                action: Action::Buy,
                entry_price: decimal("601.1")?,
                target_price: Some(decimal("615")?),
                stop_loss: Some(decimal("590")?),
                confidence: Some(decimal("0.6")?),
                rationale: "Breadth thrust: 90% of NYSE volume in advancing issues.".into(),
                generated_at: instant("2026-11-28T09:30:03.100Z")?,
                producer: Some("momentum-svc".into()),
                model: Some("gbm-ensemble".into()),
                model_version: Some("2026.11.1".into()),
            },
            "2026-11-28T09:30:03.250000Z",
            producer,
        ),
    ];

    Ok(signals.into())
}

impl VectorSignal {
    fn new(
        id: &'static str,
        content: SignalContent,
        received_at: &'static str,
        submitter: &'static str,
    ) -> VectorSignal {
        VectorSignal {
            id,
            content,
            received_at,
            submitter,
        }
    }
}

/// The signals appended in order: the vectors' chain.
fn seal_chain(signals: Vec<VectorSignal>) -> anyhow::Result<Vec<StoredEntry>> {
    let mut entries: Vec<StoredEntry> = Vec::new();
    for (index, signal) in signals.into_iter().enumerate() {
        let placement = Placement {
            chain_index: index as u64,
            previous_hash: entries.last().map_or(Hash::ZERO, |last| last.entry_hash),
            received_at: instant(signal.received_at)?,
            retention_days: 2555,
            submitter: signal.submitter.to_owned(),
        };
        let signal_id = SignalId::parse(signal.id).context("signal id")?;
        entries.push(StoredEntry::seal(Entry::assemble(
            signal_id,
            signal.content,
            placement,
        )?));
    }
    Ok(entries)
}

/// The vector document: the entries, every root, and inclusion and consistency proofs.
fn vectors(entries: &[StoredEntry]) -> anyhow::Result<serde_json::Value> {
    let leaves: Vec<Hash> = entries.iter().map(|e| e.entry_hash).collect();
    let mut inclusion = Vec::new();
    for (index, size) in [(0u64, 5u64), (3, 5), (4, 5), (1, 3)] {
        let proof = merkle::inclusion_proof(&leaves[..size as usize], index)?;
        inclusion.push(json!({"leaf_index": index, "tree_size": size, "proof": proof}));
    }
    let mut consistency = Vec::new();
    for (old_size, new_size) in [(1u64, 5u64), (2, 5), (3, 5), (4, 5), (2, 3)] {
        let proof = merkle::consistency_proof(&leaves[..new_size as usize], old_size)?;
        consistency.push(json!({"old_size": old_size, "new_size": new_size, "proof": proof}));
    }
    let roots: Vec<_> = (0..=leaves.len())
        .map(|size| json!({"tree_size": size, "root": merkle::root(&leaves[..size])}))
        .collect();
    let document = json!({
        "description": "Known-answer vectors for the signal ledger's entry format v1: see docs/ledger-format.md. \
                        Each entry lists its fields as stored (null = absent), its canonical encoding in hex and its \
                        entry hash; each root is the RFC 6962 Merkle root of the first tree_size entry hashes.",
        "encoding_version": shared::domain::entry::ENCODING_VERSION,
        "entries": entries.iter().map(|stored| json!({
            "fields": stored.entry,
            "canonical_hex": hex::encode(stored.entry.canonical_bytes()),
            "entry_hash": stored.entry_hash,
        })).collect::<Vec<_>>(),
        "roots": roots,
        "inclusion_proofs": inclusion,
        "consistency_proofs": consistency,
    });
    Ok(document)
}
