//! The cursor of the resumable full pass: where a complete verification of the ledger (entries
//! against every checkpoint, then every audit seal against the table) stopped, and the state
//! needed to continue it in another invocation. One signed note per step, stored once under
//! COMPLIANCE lock at `integrity/full-pass/<20-digit step>.txt` and never overwritten.
//!
//! Promises:
//! - One canonical text per cursor: a fixed first line (so it never passes for a checkpoint or a
//!   seal), the origin, one line of compact JSON in field order (refused if re-serialising it
//!   does not give the same bytes, or if it has an unknown field), a blank line and the
//!   checkpoints' signature line. The signature covers the first three lines.
//! - [`FullPassCursor::check`] refuses any state no honest step writes (findings beyond the
//!   total, a verifier state no verifier can be in, a finished pass without its duration).
//! - Whether a cursor is *trusted* is not decided here: the app judges its signature with the
//!   pinned keys, its key with its sequence number, and its position against the signed
//!   checkpoint or seal it stopped at.

use serde::{Deserialize, Serialize};

use crate::domain::chain::{ChainVerifier, Finding, VerifierState};
use crate::domain::checkpoint::{
    CheckpointError, Signature, parse_decimal, parse_signature_lines, verify_p256,
};
use crate::domain::hash::Hash;
use crate::domain::timestamp::Timestamp;

/// Where the cursors live in the vault.
pub const CURSOR_PREFIX: &str = "integrity/full-pass/";
/// The first line of every cursor note.
pub const HEADER: &str = "signal-ledger full-pass cursor v1";
/// At most this many of a pass's findings are carried from step to step (all are counted).
pub const MAX_CURSOR_FINDINGS: usize = 100;

/// Where a pass is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum PassPhase {
    /// Entries from genesis, compared with every trusted checkpoint. `state` is the verifier's
    /// at `state.position`; while the pass has no finding it must equal the trusted checkpoint
    /// named `checkpoint` (its compact range and head), which is where the step stopped.
    Entries {
        state: VerifierState,
        checkpoint: Option<String>,
    },
    /// Every trusted seal from `next_seq` up to `until` (exclusive; fixed by the first seal
    /// step: seals written later belong to the next pass), against the audit table.
    /// `previous` is the seal the last step ended with (seq `next_seq - 1`) and its digest,
    /// re-checked against the trusted seal of that number before continuing.
    Seals {
        next_seq: u64,
        until: Option<u64>,
        previous: Option<SealLink>,
    },
    /// The pass is complete.
    Done {
        finished_at: Timestamp,
        duration_ms: u64,
    },
}

impl PassPhase {
    pub fn name(&self) -> &'static str {
        match self {
            PassPhase::Entries { .. } => "entries",
            PassPhase::Seals { .. } => "seals",
            PassPhase::Done { .. } => "done",
        }
    }
}

/// A seal a step finished with: the next step continues only if the trusted seal of this
/// number still has this digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealLink {
    pub seq: u64,
    pub key: String,
    pub digest: Hash,
}

/// The state of a pass after one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullPassCursor {
    /// The step's number: 0 for the first cursor ever written, then one more per step, across
    /// passes. The object key is [`object_key`]`(seq)`.
    pub seq: u64,
    /// The run id of the step that started the pass.
    pub pass_id: String,
    pub pass_started_at: Timestamp,
    /// Steps of this pass so far, this one included.
    pub steps: u64,
    pub written_at: Timestamp,
    pub phase: PassPhase,
    /// Findings of the pass so far (entries, checkpoints, seals), the first
    /// [`MAX_CURSOR_FINDINGS`].
    pub findings_total: u64,
    pub findings: Vec<Finding>,
    pub entries_verified: u64,
    pub checkpoints_checked: u64,
    pub seals_verified: u64,
}

/// Why a cursor note is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("not UTF-8 text")]
    NotText,
    #[error("line 1 is not {HEADER:?}")]
    Header,
    #[error("no origin line")]
    Origin,
    #[error("line 3 is not a cursor: {0}")]
    Json(String),
    #[error("line 3 is not in canonical form (compact JSON, fields in order)")]
    NotCanonical,
    #[error("no blank line after the body")]
    MissingBlankLine,
    #[error("signature: {0}")]
    Signature(String),
    #[error("inconsistent cursor: {0}")]
    Inconsistent(String),
}

impl CursorError {
    /// A stable code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            CursorError::NotText => "not_text",
            CursorError::Header => "header",
            CursorError::Origin => "origin",
            CursorError::Json(_) => "json",
            CursorError::NotCanonical => "not_canonical",
            CursorError::MissingBlankLine => "missing_blank_line",
            CursorError::Signature(_) => "signature",
            CursorError::Inconsistent(_) => "inconsistent",
        }
    }
}

impl FullPassCursor {
    /// Refuses a cursor no honest step writes.
    pub fn check(&self) -> Result<(), CursorError> {
        let inconsistent = |reason: String| Err(CursorError::Inconsistent(reason));
        if self.findings.len() > MAX_CURSOR_FINDINGS
            || self.findings.len() as u64 > self.findings_total
        {
            return inconsistent(format!(
                "{} findings listed, {} counted (at most {MAX_CURSOR_FINDINGS} are listed)",
                self.findings.len(),
                self.findings_total
            ));
        }
        if self.steps == 0 || self.pass_id.is_empty() {
            return inconsistent("a pass has an id and at least one step".to_owned());
        }
        if self.written_at < self.pass_started_at {
            return inconsistent("written before its pass started".to_owned());
        }
        match &self.phase {
            PassPhase::Entries { state, .. } => ChainVerifier::from_state(state.clone())
                .map(|_| ())
                .map_err(CursorError::Inconsistent),
            PassPhase::Seals {
                next_seq, until, ..
            } if until.is_some_and(|until| *next_seq > until) => {
                inconsistent(format!("seal {next_seq} is next, past the pass's end"))
            }
            PassPhase::Seals {
                next_seq, previous, ..
            } => match previous {
                Some(link) if link.seq + 1 != *next_seq => inconsistent(format!(
                    "the previous seal is {}, the next {next_seq}",
                    link.seq
                )),
                None if *next_seq != 0 => inconsistent(format!(
                    "seal {next_seq} is next but no previous seal is named"
                )),
                _ => Ok(()),
            },
            PassPhase::Done { finished_at, .. } if *finished_at < self.pass_started_at => {
                inconsistent("finished before it started".to_owned())
            }
            PassPhase::Done { .. } => Ok(()),
        }
    }

    /// Whether the pass has found anything so far.
    pub fn is_clean(&self) -> bool {
        self.findings_total == 0
    }
}

/// A cursor and its signature line: the note as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCursor {
    pub origin: String,
    pub cursor: FullPassCursor,
    pub signature: Signature,
}

impl SignedCursor {
    /// The signed body: header, origin, the cursor as compact JSON, each line ending in `\n`.
    pub fn body(origin: &str, cursor: &FullPassCursor) -> String {
        // Serialising plain structs, strings, numbers and hashes cannot fail.
        let json = serde_json::to_string(cursor).unwrap_or_default();
        format!("{HEADER}\n{origin}\n{json}\n")
    }

    /// `SHA-256(body)`: what the signature covers.
    pub fn digest(&self) -> Hash {
        Hash::sha256(SignedCursor::body(&self.origin, &self.cursor).as_bytes())
    }

    /// The note: body, a blank line, the signature line.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}",
            SignedCursor::body(&self.origin, &self.cursor),
            self.signature.line()
        )
    }

    /// Parses exactly what [`SignedCursor::to_text`] writes, and [`FullPassCursor::check`]s it.
    pub fn parse(bytes: &[u8]) -> Result<SignedCursor, CursorError> {
        let text = std::str::from_utf8(bytes).map_err(|_| CursorError::NotText)?;
        let rest = text
            .strip_prefix(HEADER)
            .and_then(|rest| rest.strip_prefix('\n'))
            .ok_or(CursorError::Header)?;
        let (origin, rest) = rest.split_once('\n').ok_or(CursorError::Origin)?;
        if origin.is_empty() {
            return Err(CursorError::Origin);
        }
        let (json, rest) = rest.split_once('\n').ok_or(CursorError::MissingBlankLine)?;
        let rest = rest
            .strip_prefix('\n')
            .ok_or(CursorError::MissingBlankLine)?;
        let cursor: FullPassCursor =
            serde_json::from_str(json).map_err(|e| CursorError::Json(e.to_string()))?;
        if serde_json::to_string(&cursor).ok().as_deref() != Some(json) {
            return Err(CursorError::NotCanonical);
        }
        cursor.check()?;
        let signature = parse_signature_lines(rest)
            .map_err(|e: CheckpointError| CursorError::Signature(e.to_string()))?;
        Ok(SignedCursor {
            origin: origin.to_owned(),
            cursor,
            signature,
        })
    }

    /// Whether the signature verifies under this DER public key (`false` when unsigned).
    pub fn verifies(&self, public_key_der: &[u8]) -> bool {
        match &self.signature {
            Signature::Kms { der, .. } => verify_p256(public_key_der, &self.digest(), der).is_ok(),
            Signature::Unsigned => false,
        }
    }
}

/// `integrity/full-pass/<seq, 20 digits>.txt`: keys sort by step.
pub fn object_key(seq: u64) -> String {
    format!("{CURSOR_PREFIX}{seq:020}.txt")
}

/// The step number of a cursor key, `None` for any key [`object_key`] does not write.
pub fn seq_of_key(key: &str) -> Option<u64> {
    let digits = key.strip_prefix(CURSOR_PREFIX)?.strip_suffix(".txt")?;
    if digits.len() != 20 {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    parse_decimal(if trimmed.is_empty() { "0" } else { trimmed })
}

#[cfg(test)]
#[path = "full_pass_tests.rs"]
mod tests;
