//! `ledgerctl trace` against the emulator: a signal followed through the signals table, the audit
//! table, the backup and the signed checkpoint — complete, stopped early, tampered, unknown.

use aws_sdk_dynamodb::types::AttributeValue;
use ledgerctl::trace::{SECTIONS, render_text};
use shared::adapters::dynamodb::entry_item;
use shared::adapters::memory::RecordingMetrics;
use shared::adapters::system::SystemClock;
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings};
use shared::app::sweep::SweepMode;
use shared::app::trace::{Outcome, Sources, Step, Trace, TraceError, TraceOptions, trace};
use shared::domain::audit::AuditEventType;
use shared::ports::{Clock, LedgerStore};

use crate::support::{VaultedStack, signal};

struct Traced {
    stack: VaultedStack,
}

impl Traced {
    async fn new() -> Traced {
        Traced {
            stack: VaultedStack::new("tr").await,
        }
    }

    async fn request(&self, method: &str, path: &str, body: Vec<u8>) -> u16 {
        let service = Ingest::new(
            self.stack.store(),
            self.stack.audit_sink(),
            SystemClock,
            RecordingMetrics::default(),
            IngestSettings::default(),
        );
        service
            .handle(HttpRequest {
                method: method.into(),
                path: path.into(),
                content_type: Some("application/json".into()),
                body,
                actor: "arn:aws:iam::123456789012:role/producer".into(),
                request_id: format!("trace-{}", uuid::Uuid::now_v7()),
            })
            .await
            .status
    }

    async fn ingest(&self, ids: &[&str]) {
        for id in ids {
            let status = self
                .request("POST", "/signals", signal(id).to_string().into_bytes())
                .await;
            assert_eq!(status, 201, "ingest {id}");
        }
    }

    async fn trace(&self, signal_id: &str) -> Result<Trace, TraceError> {
        let (store, vault, audit, signer) = (
            self.stack.store(),
            self.stack.vault(),
            self.stack.audit_sink(),
            self.stack.signer(),
        );
        let sources = Sources {
            store: &store,
            vault: &vault,
            audit: &audit,
            keys: Some(&signer),
        };
        let options = TraceOptions {
            audit_days: 7,
            now: SystemClock.now(),
            trust: self.stack.trust(),
        };
        trace(&sources, signal_id, &options, &|_| {}).await
    }
}

fn failed_checks(trace: &Trace) -> Vec<String> {
    trace.failures()
}

#[tokio::test]
async fn trace_of_a_backed_up_checkpointed_signal_is_complete_and_every_check_passes() {
    let ledger = Traced::new().await;
    ledger.ingest(&["tr-a-0", "tr-a-1", "tr-a-2"]).await;
    // A refused modification attempt on the traced signal is part of its trail.
    assert_eq!(
        ledger
            .request("PUT", "/signals/tr-a-1", b"{}".to_vec())
            .await,
        405
    );
    ledger.stack.backup().await;
    ledger.stack.sweep(SweepMode::Init).await;

    let traced = ledger.trace("tr-a-1").await.unwrap();
    assert_eq!(
        traced.outcome(),
        Outcome::Complete,
        "{}",
        render_text(&traced)
    );
    assert_eq!(traced.exit_code(), 0);
    assert!(failed_checks(&traced).is_empty());

    let Step::Found(entry) = &traced.entry else {
        panic!("no entry")
    };
    assert_eq!(entry.entry.chain_index, 1);
    let hashes = traced.hashes.evidence().unwrap();
    let names: Vec<&str> = hashes.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "entry_hash",
            "signal_id",
            "previous_link",
            "next_link",
            "claim"
        ]
    );
    assert_eq!(hashes.recomputed_hash, entry.entry_hash);

    let audit = traced.audit.evidence().unwrap();
    let now = SystemClock.now();
    let today = &now.as_str()[..10];
    assert_eq!(audit.days_searched.last().map(String::as_str), Some(today));
    assert_eq!(audit.inserted.len(), 1);
    assert_eq!(audit.inserted[0].chain_index, Some(1));
    assert_eq!(
        audit
            .related
            .iter()
            .map(|e| e.event_type)
            .collect::<Vec<_>>(),
        [AuditEventType::ModificationAttempt]
    );

    let latency = traced.latency.evidence().unwrap();
    assert_eq!(latency.delivery_latency_ms, entry.entry.delivery_latency_ms);
    assert_eq!(latency.requirement_ms, 500);

    let backup = traced.backup.evidence().unwrap();
    assert_eq!((backup.index_range.from, backup.index_range.to), (0, 3));
    assert_eq!(backup.csv_row, 2);
    assert!(backup.manifest_key.starts_with("manifests/"));
    assert!(backup.csv_key.starts_with("signals/"));
    assert!(!backup.csv_version_id.is_empty());
    assert_eq!(
        backup.csv_protection.lock_mode.as_deref(),
        Some("COMPLIANCE")
    );
    assert!(
        backup
            .checks
            .iter()
            .any(|c| c.name == "row_hash" && c.passed)
    );

    let checkpoint = traced.checkpoint.evidence().unwrap();
    assert_eq!(checkpoint.tree_size, 3);
    assert!(checkpoint.signed);
    assert_eq!(
        checkpoint.key_id.as_deref(),
        Some(ledger.stack.key_arn.as_str())
    );
    assert_eq!(checkpoint.signature_verified, Some(true));
    // Index 1 of 3: its sibling (leaf 0), then the right subtree (leaf 2).
    assert_eq!(checkpoint.inclusion_proof.len(), 2);
    assert!(
        checkpoint
            .checks
            .iter()
            .any(|c| c.name == "inclusion" && c.passed)
    );
}

#[tokio::test]
async fn trace_of_a_signal_ingested_after_the_backup_stops_at_the_backup_naming_the_range() {
    let ledger = Traced::new().await;
    ledger.ingest(&["tr-b-0", "tr-b-1"]).await;
    ledger.stack.backup().await;
    ledger.stack.sweep(SweepMode::Init).await;
    ledger.ingest(&["tr-b-2"]).await;

    let traced = ledger.trace("tr-b-2").await.unwrap();
    assert_eq!(
        traced.outcome(),
        Outcome::Stopped,
        "{}",
        render_text(&traced)
    );
    assert_eq!(traced.exit_code(), 2);
    assert!(matches!(traced.hashes, Step::Found(_)));
    assert!(matches!(traced.audit, Step::Found(_)));
    let Step::Stopped { reason } = &traced.backup else {
        panic!("backup: {:?}", traced.backup)
    };
    assert!(
        reason.starts_with("not yet in any backup: the latest backup")
            && reason.contains("covers indexes 0..=1")
            && reason.contains("index 2"),
        "{reason}"
    );
    let Step::Stopped { reason } = &traced.checkpoint else {
        panic!("checkpoint: {:?}", traced.checkpoint)
    };
    assert!(
        reason.starts_with("no checkpoint covers index 2 yet") && reason.ends_with("has size 2"),
        "{reason}"
    );
    let text = render_text(&traced);
    assert!(
        text.contains("the trail stops here: not yet in any backup"),
        "{text}"
    );
    assert!(text.contains("incomplete"), "{text}");
}

#[tokio::test]
async fn trace_of_an_entry_edited_in_dynamodb_fails_the_hash_check() {
    let ledger = Traced::new().await;
    ledger.ingest(&["tr-c-0", "tr-c-1", "tr-c-2"]).await;
    ledger.stack.backup().await;
    ledger.stack.sweep(SweepMode::Init).await;
    // An insider with PutItem rights overwrites entry 1 with a different price.
    let mut item = entry_item(&ledger.stack.store().entry_at(1).await.unwrap().unwrap());
    item.insert("entry_price".into(), AttributeValue::S("999".into()));
    crate::support::put_as_insider(&ledger.stack.dynamodb, &ledger.stack.signals, item).await;

    let traced = ledger.trace("tr-c-1").await.unwrap();
    assert_eq!(
        traced.outcome(),
        Outcome::Failed,
        "{}",
        render_text(&traced)
    );
    assert_eq!(traced.exit_code(), 1);
    let Step::Failed(hashes) = &traced.hashes else {
        panic!("hash check: {:?}", traced.hashes)
    };
    let failed: Vec<&str> = hashes
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect();
    assert_eq!(failed, ["entry_hash"]);
    // The backup still holds the original row, and the checkpoint no longer includes the entry.
    let Step::Failed(checkpoint) = &traced.checkpoint else {
        panic!("checkpoint: {:?}", traced.checkpoint)
    };
    assert!(
        checkpoint
            .checks
            .iter()
            .any(|c| c.name == "inclusion" && !c.passed)
    );
    let text = render_text(&traced);
    assert!(text.contains("FAILED entry_hash"), "{text}");
    assert!(text.contains("evidence of tampering (exit 1)"), "{text}");
}

#[tokio::test]
async fn trace_of_an_unknown_or_malformed_signal_id_is_a_clear_error() {
    let ledger = Traced::new().await;
    ledger.ingest(&["tr-d-0"]).await;
    let error = ledger.trace("tr-d-missing").await.unwrap_err();
    assert!(matches!(error, TraceError::UnknownSignalId(_)));
    assert_eq!(
        error.to_string(),
        "no entry claims signal id \"tr-d-missing\""
    );
    let error = ledger.trace("not a signal id!").await.unwrap_err();
    assert!(matches!(error, TraceError::InvalidSignalId { .. }));
    assert!(
        error
            .to_string()
            .starts_with("\"not a signal id!\" is not a signal id"),
        "{error}"
    );
}

/// The text rendering (what `ledgerctl trace` prints) has every section heading; the JSON
/// rendering carries each step's status.
#[tokio::test]
async fn trace_renders_every_section_as_text_and_json() {
    let ledger = Traced::new().await;
    ledger.ingest(&["tr-e-0"]).await;
    let traced = ledger.trace("tr-e-0").await.unwrap();
    let text = render_text(&traced);
    assert!(text.starts_with("Trace of signal tr-e-0\n"), "{text}");
    for section in SECTIONS {
        assert!(
            text.contains(&format!("\n== {section}")),
            "{section}: {text}"
        );
    }
    assert!(text.contains("  chain_index            0\n"), "{text}");
    assert!(text.contains("days searched"), "{text}");
    let json = serde_json::to_value(&traced).unwrap();
    assert_eq!(json["entry"]["status"], "found");
    assert_eq!(json["entry"]["evidence"]["signal_id"], "tr-e-0");
    assert_eq!(json["backup"]["status"], "stopped");
    assert_eq!(json["checkpoint"]["status"], "stopped");
}
