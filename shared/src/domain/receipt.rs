//! Client delivery receipts: a subscriber's statement that a stored signal reached it at
//! `delivered_at`, their validation, canonical encoding and hash (see `docs/ledger-format.md`,
//! "Delivery receipts").
//!
//! Promises: [`validate_receipt`] accepts a body only when every rule holds and otherwise
//! reports every problem at once (the same bounded problem list as signals); a receipt is never
//! earlier than its signal's `generated_at` nor further ahead of the server clock than the
//! configured skew; [`Receipt::write_canonical`] covers every field of a receipt after a domain
//! separator and a version, each value length-prefixed, so any change to any field changes
//! [`Receipt::compute_hash`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::entry::{CanonicalSink, StoredEntry};
use crate::domain::hash::Hash;
use crate::domain::signal::{Checker, Rejection, Rule, SignalId, ValidationRules, parse_object};
use crate::domain::timestamp::{Timestamp, TimestampError};

/// Every field a receipt request may carry.
pub const RECEIPT_FIELDS: [&str; 2] = ["subscriber", "delivered_at"];
/// Maximum length of a subscriber identifier.
pub const MAX_SUBSCRIBER_CHARS: usize = 128;
/// Domain-separation header of a receipt's canonical encoding.
pub const RECEIPT_DOMAIN: &[u8] = b"SIGNAL-LEDGER/RECEIPT\0";
/// Version of the receipt encoding, written big-endian after the domain.
pub const RECEIPT_VERSION: u16 = 1;

/// Field tags of the receipt encoding, in the order they are written.
pub mod tag {
    pub const SIGNAL_ID: u8 = 0x01;
    pub const CHAIN_INDEX: u8 = 0x02;
    pub const SUBSCRIBER: u8 = 0x03;
    pub const GENERATED_AT: u8 = 0x04;
    pub const DELIVERED_AT: u8 = 0x05;
    pub const RECORDED_AT: u8 = 0x06;
    pub const CLIENT_LATENCY_MS: u8 = 0x07;
    pub const SUBMITTER: u8 = 0x08;
}

/// Who received a signal: 1 to [`MAX_SUBSCRIBER_CHARS`] of `A-Z a-z 0-9 . _ : -` (the signal
/// id's alphabet), so that it is safe in keys, CSV cells and logs as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Subscriber(String);

/// Why a text is not a subscriber.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriberError {
    #[error("must be 1 to {MAX_SUBSCRIBER_CHARS} characters long; got {0}")]
    Length(usize),
    #[error("may contain only A-Z, a-z, 0-9, '.', '_', ':' and '-'; found {0:?}")]
    Charset(char),
}

impl Subscriber {
    pub fn parse(text: &str) -> Result<Subscriber, SubscriberError> {
        let length = text.chars().count();
        if !(1..=MAX_SUBSCRIBER_CHARS).contains(&length) {
            return Err(SubscriberError::Length(length));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".:_-".contains(*c)))
        {
            return Err(SubscriberError::Charset(bad));
        }
        Ok(Subscriber(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Subscriber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Subscriber::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A valid receipt request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRequest {
    pub subscriber: Subscriber,
    pub delivered_at: Timestamp,
}

/// Validates a receipt body for a signal generated at `generated_at`, with `now` as the server
/// clock: `delivered_at` must lie in `[generated_at, now + max_future_skew]`.
pub fn validate_receipt(
    body: &[u8],
    generated_at: Timestamp,
    rules: &ValidationRules,
    now: Timestamp,
) -> Result<ReceiptRequest, Rejection> {
    let fields = parse_object(body, "the receipt's fields (subscriber, delivered_at)")?;
    let mut checker = Checker::new(&fields, &RECEIPT_FIELDS, "a receipt field");
    checker.refuse_unknown_and_duplicate_fields();
    let subscriber = checker.required_string("subscriber").and_then(|text| {
        Subscriber::parse(&text)
            .map_err(|error| {
                let rule = match error {
                    SubscriberError::Length(0) => Rule::Empty,
                    SubscriberError::Length(_) => Rule::TooLong,
                    SubscriberError::Charset(_) => Rule::Charset,
                };
                checker.report("subscriber", rule, error.to_string());
            })
            .ok()
    });
    let delivered_at = checker
        .required_string("delivered_at")
        .and_then(|text| delivered_at(&mut checker, &text, generated_at, rules, now));
    match (subscriber, delivered_at) {
        (Some(subscriber), Some(delivered_at)) if checker.found() == 0 => Ok(ReceiptRequest {
            subscriber,
            delivered_at,
        }),
        _ => Err(Rejection::Invalid {
            problems: checker.problems,
            omitted: checker.omitted,
        }),
    }
}

fn delivered_at(
    checker: &mut Checker<'_>,
    text: &str,
    generated_at: Timestamp,
    rules: &ValidationRules,
    now: Timestamp,
) -> Option<Timestamp> {
    let field = "delivered_at";
    let instant = match Timestamp::parse_rfc3339(text) {
        Ok(instant) => instant,
        Err(error) => {
            let rule = if error == TimestampError::OutOfRange {
                Rule::Range
            } else {
                Rule::Timestamp
            };
            let shown: String = text.chars().take(40).collect();
            checker.report(field, rule, format!("{shown:?} {error}"));
            return None;
        }
    };
    if instant.as_datetime() < generated_at.as_datetime() {
        checker.report(
            field,
            Rule::BeforeGenerated,
            format!(
                "{instant} is before the signal's generated_at ({generated_at}); a signal cannot reach a subscriber before it was generated"
            ),
        );
        return None;
    }
    let latest = now.checked_add(rules.max_future_skew);
    if latest.is_some_and(|latest| instant.as_datetime() > latest.as_datetime()) {
        checker.report(
            field,
            Rule::InFuture,
            format!(
                "{instant} is more than {} seconds ahead of the server clock ({now}); check the subscriber's clock",
                rules.max_future_skew.whole_seconds()
            ),
        );
        return None;
    }
    Some(instant)
}

/// A recorded receipt: the request, the signal it is about, and what the ledger added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub signal_id: SignalId,
    /// The signal's chain index.
    pub chain_index: u64,
    pub subscriber: Subscriber,
    /// The signal's `generated_at` (producer clock).
    pub generated_at: Timestamp,
    /// When the subscriber received the signal (subscriber clock).
    pub delivered_at: Timestamp,
    /// When the ledger recorded the receipt (server clock).
    pub recorded_at: Timestamp,
    /// `delivered_at − generated_at`, in milliseconds (never negative).
    pub client_latency_ms: i64,
    /// Who posted the receipt (the caller's principal).
    pub submitter: String,
}

impl Receipt {
    /// The receipt of `request` for the stored signal `signal`.
    pub fn assemble(
        signal: &StoredEntry,
        request: ReceiptRequest,
        recorded_at: Timestamp,
        submitter: String,
    ) -> Receipt {
        let generated_at = signal.entry.content.generated_at;
        Receipt {
            signal_id: signal.entry.signal_id.clone(),
            chain_index: signal.entry.chain_index,
            subscriber: request.subscriber,
            generated_at,
            client_latency_ms: request.delivered_at.millis_since(&generated_at),
            delivered_at: request.delivered_at,
            recorded_at,
            submitter,
        }
    }

    /// Whether `request` says the same as this receipt (an idempotent replay).
    pub fn same_request(&self, request: &ReceiptRequest) -> bool {
        self.subscriber == request.subscriber && self.delivered_at == request.delivered_at
    }

    /// Writes the canonical encoding into `sink`.
    pub fn write_canonical(&self, sink: &mut impl CanonicalSink) {
        sink.put(RECEIPT_DOMAIN);
        sink.put(&RECEIPT_VERSION.to_be_bytes());
        field(sink, tag::SIGNAL_ID, self.signal_id.as_str().as_bytes());
        field(sink, tag::CHAIN_INDEX, &self.chain_index.to_be_bytes());
        field(sink, tag::SUBSCRIBER, self.subscriber.as_str().as_bytes());
        field(
            sink,
            tag::GENERATED_AT,
            self.generated_at.as_str().as_bytes(),
        );
        field(
            sink,
            tag::DELIVERED_AT,
            self.delivered_at.as_str().as_bytes(),
        );
        field(sink, tag::RECORDED_AT, self.recorded_at.as_str().as_bytes());
        field(
            sink,
            tag::CLIENT_LATENCY_MS,
            &self.client_latency_ms.to_be_bytes(),
        );
        field(sink, tag::SUBMITTER, self.submitter.as_bytes());
    }

    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(256);
        self.write_canonical(&mut bytes);
        bytes
    }

    /// `SHA-256(canonical bytes)`: the receipt hash (receipts are not Merkle leaves, so no
    /// leaf prefix; the domain separator keeps it apart from entry hashes).
    pub fn compute_hash(&self) -> Hash {
        let mut hasher = Sha256::new();
        self.write_canonical(&mut hasher);
        Hash(hasher.finalize().into())
    }
}

fn field(sink: &mut impl CanonicalSink, tag: u8, value: &[u8]) {
    // Every value is short (the longest, the submitter, is an IAM ARN).
    let length = u32::try_from(value.len()).unwrap_or(u32::MAX);
    sink.put(&[tag]);
    sink.put(&length.to_be_bytes());
    sink.put(value);
}

/// A receipt with its hash, as stored and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReceipt {
    #[serde(flatten)]
    pub receipt: Receipt,
    pub receipt_hash: Hash,
}

impl StoredReceipt {
    pub fn seal(receipt: Receipt) -> StoredReceipt {
        let receipt_hash = receipt.compute_hash();
        StoredReceipt {
            receipt,
            receipt_hash,
        }
    }
}

#[cfg(test)]
#[path = "receipt_tests.rs"]
mod tests;
