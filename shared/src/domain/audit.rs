//! Audit events: what happened, when, to which signal, and who asked (the seed's `signal_audit_log`).
//!
//! Promise: an event never carries a whole request body — at most an [`excerpt`] of
//! [`MAX_EXCERPT_CHARS`] characters with control characters made visible — so the audit log
//! cannot become a side channel for oversized or hostile payloads; and [`AuditEvent::bounded`]
//! keeps every event's JSON form within [`MAX_AUDIT_EVENT_BYTES`], far below DynamoDB's 400 KB
//! item limit, so the audit write of a refusal can never fail for its size.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;

/// At most this many characters of a refused body are kept in its audit event.
pub const MAX_EXCERPT_CHARS: usize = 200;
/// An event's JSON form (what its stored item holds) never exceeds this many bytes.
pub const MAX_AUDIT_EVENT_BYTES: usize = 32 * 1024;
/// `reason` is cut to this many bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// `actor`, `request_id` and `signal_id` are cut to this many bytes.
pub const MAX_NAME_BYTES: usize = 512;

/// The kinds of audit events. The wire form is SCREAMING_SNAKE_CASE (`SIGNAL_INSERTED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditEventType {
    /// A signal was appended (written in the same transaction as the entry).
    SignalInserted,
    /// A signal failed validation, or its request was malformed, too large or of the wrong type.
    SignalRejected,
    /// A signal id was replayed with different content.
    ConflictingReplay,
    /// A PUT or PATCH on the ledger: signals are immutable.
    ModificationAttempt,
    /// A DELETE on the ledger: signals are immutable.
    DeleteAttempt,
    /// A request for an unknown route or method.
    UnsupportedRequest,
    /// An integrity sweep verified the ledger.
    IntegrityCheckPassed,
    /// An integrity sweep found the ledger or its checkpoints altered, or could not complete.
    IntegrityCheckFailed,
    /// The tamper watch saw an entry modified or removed.
    TamperDetected,
    /// A backup run wrote its CSV and manifest to the vault.
    BackupSucceeded,
    /// A backup run failed; no manifest was written.
    BackupFailed,
    /// Backup verification passed.
    BackupVerified,
    /// Backup verification found a problem, or could not complete.
    BackupVerificationFailed,
    /// A compliance report was generated and stored in the vault (its verdicts in the details).
    ReportGenerated,
    /// A compliance report could not be generated.
    ReportFailed,
    /// An operator acknowledged a vault finding (a planted or forged object that can never be
    /// removed): later sweeps list it as acknowledged instead of failing on it.
    FindingAcknowledged,
    /// An append ended without a confirmed outcome: the deadline passed, the ledger stayed
    /// contended, or the store failed (answered 503 or 500; a retry with the same id is safe).
    AppendFailed,
    /// A subscriber's delivery receipt was recorded (written in the same transaction as the
    /// receipt; its `receipt_hash` and client latency in the details).
    ReceiptRecorded,
    /// A delivery receipt was refused: invalid, for an unknown signal, or a conflicting replay.
    ReceiptRejected,
    /// A read that disclosed records (a signal, a proof, an evidence export, a production, a
    /// report's presigned URL): who read what, so the access review shows reads beside writes.
    /// The details name what was disclosed (`route`, `signal_id`, sizes, keys).
    RecordsRead,
}

impl AuditEventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuditEventType::SignalInserted => "SIGNAL_INSERTED",
            AuditEventType::SignalRejected => "SIGNAL_REJECTED",
            AuditEventType::ConflictingReplay => "CONFLICTING_REPLAY",
            AuditEventType::ModificationAttempt => "MODIFICATION_ATTEMPT",
            AuditEventType::DeleteAttempt => "DELETE_ATTEMPT",
            AuditEventType::UnsupportedRequest => "UNSUPPORTED_REQUEST",
            AuditEventType::IntegrityCheckPassed => "INTEGRITY_CHECK_PASSED",
            AuditEventType::IntegrityCheckFailed => "INTEGRITY_CHECK_FAILED",
            AuditEventType::TamperDetected => "TAMPER_DETECTED",
            AuditEventType::BackupSucceeded => "BACKUP_SUCCEEDED",
            AuditEventType::BackupFailed => "BACKUP_FAILED",
            AuditEventType::BackupVerified => "BACKUP_VERIFIED",
            AuditEventType::BackupVerificationFailed => "BACKUP_VERIFICATION_FAILED",
            AuditEventType::ReportGenerated => "REPORT_GENERATED",
            AuditEventType::ReportFailed => "REPORT_FAILED",
            AuditEventType::FindingAcknowledged => "FINDING_ACKNOWLEDGED",
            AuditEventType::AppendFailed => "APPEND_FAILED",
            AuditEventType::ReceiptRecorded => "RECEIPT_RECORDED",
            AuditEventType::ReceiptRejected => "RECEIPT_REJECTED",
            AuditEventType::RecordsRead => "RECORDS_READ",
        }
    }

    pub fn parse(text: &str) -> Option<AuditEventType> {
        [
            AuditEventType::SignalInserted,
            AuditEventType::SignalRejected,
            AuditEventType::ConflictingReplay,
            AuditEventType::ModificationAttempt,
            AuditEventType::DeleteAttempt,
            AuditEventType::UnsupportedRequest,
            AuditEventType::IntegrityCheckPassed,
            AuditEventType::IntegrityCheckFailed,
            AuditEventType::TamperDetected,
            AuditEventType::BackupSucceeded,
            AuditEventType::BackupFailed,
            AuditEventType::BackupVerified,
            AuditEventType::BackupVerificationFailed,
            AuditEventType::ReportGenerated,
            AuditEventType::ReportFailed,
            AuditEventType::FindingAcknowledged,
            AuditEventType::AppendFailed,
            AuditEventType::ReceiptRecorded,
            AuditEventType::ReceiptRejected,
            AuditEventType::RecordsRead,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for AuditEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unique and time-ordered (a UUIDv7, chosen by the caller; a tamper event's is
    /// `stream-<eventID>` of its stream record, so a retried batch writes the same key).
    pub event_id: String,
    pub occurred_at: Timestamp,
    pub event_type: AuditEventType,
    /// The caller's principal, or `anonymous`.
    pub actor: String,
    /// The request id of the invocation that caused it.
    pub request_id: String,
    pub signal_id: Option<String>,
    pub chain_index: Option<u64>,
    /// One sentence on why (for refusals) or what (for other events).
    pub reason: Option<String>,
    /// The start of a refused body, bounded (see [`excerpt`]).
    pub excerpt: Option<String>,
    /// Structured specifics (e.g. the validation problems, the HTTP method and path).
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// The size of the event's JSON form, which bounds its stored item.
    pub fn encoded_len(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |json| json.len())
    }

    /// The event cut to fit [`MAX_AUDIT_EVENT_BYTES`]: names and `reason` are cut to their own
    /// limits; if the event is still too large, its `details` are replaced by a note saying so
    /// (keeping `method`, `path` and `status` when they are small), then the excerpt is dropped.
    pub fn bounded(mut self) -> AuditEvent {
        for name in [&mut self.actor, &mut self.request_id] {
            *name = bounded_text(name, MAX_NAME_BYTES);
        }
        if let Some(signal_id) = &mut self.signal_id {
            *signal_id = bounded_text(signal_id, MAX_NAME_BYTES);
        }
        if let Some(reason) = &mut self.reason {
            *reason = bounded_text(reason, MAX_REASON_BYTES);
        }
        if self.encoded_len() > MAX_AUDIT_EVENT_BYTES {
            let mut kept = serde_json::Map::new();
            for key in ["method", "path", "status"] {
                if let Some(value) = self.details.get(key)
                    && value.to_string().len() <= MAX_NAME_BYTES
                {
                    kept.insert(key.to_owned(), value.clone());
                }
            }
            kept.insert(
                "truncated".to_owned(),
                serde_json::json!(format!(
                    "the details exceeded the {MAX_AUDIT_EVENT_BYTES}-byte bound of an audit event"
                )),
            );
            self.details = serde_json::Value::Object(kept);
        }
        if self.encoded_len() > MAX_AUDIT_EVENT_BYTES {
            self.excerpt = None;
        }
        self
    }
}

/// `text` cut at a character boundary to at most `max_bytes` bytes, an ellipsis included.
pub fn bounded_text(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let ellipsis = '…';
    let mut end = max_bytes.saturating_sub(ellipsis.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text.get(..end).unwrap_or_default().to_owned();
    out.push(ellipsis);
    out
}

/// The first [`MAX_EXCERPT_CHARS`] characters of `body` (lossy UTF-8), with control characters
/// other than space shown as `\u{..}` escapes and an ellipsis when cut. Only the start of the
/// body is decoded (a character is at most 4 bytes), never the whole of a large one.
pub fn excerpt(body: &[u8]) -> String {
    let prefix = body.get(..(MAX_EXCERPT_CHARS + 1) * 4).unwrap_or(body);
    let text = String::from_utf8_lossy(prefix);
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == MAX_EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded_and_visible() {
        assert_eq!(excerpt(b"{\"a\":\n1}"), "{\"a\":\\u{a}1}");
        let long = "x".repeat(10_000);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), MAX_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
        // Four-byte characters: still cut at 200 characters, from a bounded prefix.
        let emoji = "😀".repeat(5_000);
        let cut = excerpt(emoji.as_bytes());
        assert_eq!(cut.chars().count(), MAX_EXCERPT_CHARS + 1);
        assert!(cut.starts_with(&"😀".repeat(MAX_EXCERPT_CHARS)));
        let short = "😀".repeat(MAX_EXCERPT_CHARS);
        assert_eq!(excerpt(short.as_bytes()), short);
    }

    fn event(details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            event_id: "e".into(),
            occurred_at: Timestamp::parse_rfc3339("2026-11-28T09:30:00Z").unwrap(),
            event_type: AuditEventType::SignalRejected,
            actor: "a".repeat(5_000),
            request_id: "r".into(),
            signal_id: Some("s".repeat(5_000)),
            chain_index: None,
            reason: Some("é".repeat(100_000)),
            excerpt: Some(excerpt(&[b'x'; 10_000])),
            details,
        }
    }

    #[test]
    fn events_are_bounded_in_bytes() {
        let huge = serde_json::json!({
            "method": "POST",
            "path": "/signals",
            "status": 400,
            "problems": vec!["p".repeat(1_000); 1_000],
        });
        let bounded = event(huge).bounded();
        assert!(bounded.encoded_len() <= MAX_AUDIT_EVENT_BYTES);
        assert_eq!(bounded.details["method"], "POST");
        assert_eq!(bounded.details["status"], 400);
        assert!(bounded.details["truncated"].is_string());
        assert!(bounded.reason.as_ref().unwrap().len() <= MAX_REASON_BYTES);
        assert!(bounded.actor.len() <= MAX_NAME_BYTES);
        assert!(bounded.signal_id.as_ref().unwrap().len() <= MAX_NAME_BYTES);
        // A small event is left as it is.
        let small = event(serde_json::json!({"status": 400})).bounded();
        assert_eq!(small.details, serde_json::json!({"status": 400}));
        assert!(small.excerpt.is_some());
        assert_eq!(bounded_text("abc", 3), "abc");
        assert_eq!(bounded_text("abcd", 3), "…");
        assert_eq!(bounded_text("ééé", 5), "é…");
    }

    #[test]
    fn event_types_round_trip_through_their_names() {
        for kind in [
            AuditEventType::SignalInserted,
            AuditEventType::DeleteAttempt,
            AuditEventType::UnsupportedRequest,
        ] {
            assert_eq!(AuditEventType::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
    }
}
