//! Audit events: what happened, when, to which signal, and who asked (the seed's `signal_audit_log`).
//!
//! Promise: an event never carries a whole request body — at most an [`excerpt`] of
//! [`MAX_EXCERPT_CHARS`] characters with control characters made visible — so the audit log
//! cannot become a side channel for oversized or hostile payloads.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;

/// At most this many characters of a refused body are kept in its audit event.
pub const MAX_EXCERPT_CHARS: usize = 200;

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

/// The first [`MAX_EXCERPT_CHARS`] characters of `body` (lossy UTF-8), with control characters
/// other than space shown as `\u{..}` escapes and an ellipsis when cut.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
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
