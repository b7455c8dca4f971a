//! The trading-signal schema and its validation (the seed's "reasoning enforcement").
//!
//! Promise: [`validate`] turns request bytes into a [`Submission`] only when every rule holds,
//! and otherwise reports **every** problem at once, each naming the field, a stable rule code
//! and a human sentence — the body of a 400 `application/problem+json` answer. It never panics,
//! whatever the bytes, and its answer is bounded whatever the bytes: at most
//! [`MAX_REPORTED_PROBLEMS`] problems in full plus a count of the rest, each unknown or duplicated
//! key named once, every quoted value cut short.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use time::Duration;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::domain::decimal::ExactDecimal;
use crate::domain::timestamp::Timestamp;

/// The version of the signal schema (the set of fields and their rules). Stored on every entry.
pub const SCHEMA_VERSION: u64 = 1;
/// Default minimum rationale length, in visible characters (`MIN_RATIONALE_CHARS`): whitespace
/// and invisible format characters (Unicode category Cf, e.g. U+200B ZERO WIDTH SPACE) do not
/// count.
pub const DEFAULT_MIN_RATIONALE_CHARS: usize = 20;
/// Default maximum age of `generated_at` against the server clock (`MAX_SIGNAL_AGE_SECONDS`).
pub const DEFAULT_MAX_AGE_SECONDS: u32 = 24 * 60 * 60;
/// At most this many problems are reported in full; the rest are only counted.
pub const MAX_REPORTED_PROBLEMS: usize = 20;
/// Maximum rationale length, in Unicode characters after trimming.
pub const MAX_RATIONALE_CHARS: usize = 4_000;
/// Maximum length of `signal_id`.
pub const MAX_SIGNAL_ID_CHARS: usize = 128;
/// Maximum length of `symbol`.
pub const MAX_SYMBOL_CHARS: usize = 16;
/// The characters a symbol may use, exactly as sent: symbols are never case-mapped.
pub const SYMBOL_ALPHABET: &str = "A-Z, 0-9, '.', '-' and '/'";
/// Maximum length of the free-text metadata fields (`producer`, `model`, `model_version`).
pub const MAX_METADATA_CHARS: usize = 128;

/// Every field a producer may send. Anything else is refused as `unknown_field`.
pub const FIELDS: [&str; 12] = [
    "signal_id",
    "symbol",
    "action",
    "entry_price",
    "target_price",
    "stop_loss",
    "confidence",
    "rationale",
    "generated_at",
    "producer",
    "model",
    "model_version",
];

/// The tunable parts of validation, fixed at process start from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationRules {
    /// Minimum rationale length in visible characters (whitespace and Cf do not count).
    pub min_rationale_chars: usize,
    /// How far ahead of the server clock `generated_at` may be (producer clock skew).
    pub max_future_skew: Duration,
    /// How far behind the server clock `generated_at` may be (`too_old` beyond).
    pub max_age: Duration,
}

impl Default for ValidationRules {
    fn default() -> Self {
        ValidationRules {
            min_rationale_chars: DEFAULT_MIN_RATIONALE_CHARS,
            max_future_skew: Duration::minutes(5),
            max_age: Duration::seconds(i64::from(DEFAULT_MAX_AGE_SECONDS)),
        }
    }
}

/// BUY or SELL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Buy,
    Sell,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Buy => "BUY",
            Action::Sell => "SELL",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "BUY" => Some(Action::Buy),
            "SELL" => Some(Action::Sell),
            _ => None,
        }
    }
}

/// A producer-chosen or server-generated signal identifier: 1–128 of `A-Za-z0-9._:-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SignalId(String);

impl SignalId {
    pub fn parse(text: &str) -> Result<SignalId, SignalIdError> {
        SignalId::check(text)?;
        Ok(SignalId(text.to_owned()))
    }

    /// Whether `text` is a valid signal id ([`SignalId::parse`] without keeping it).
    pub fn check(text: &str) -> Result<(), SignalIdError> {
        let length = text.chars().count();
        if !(1..=MAX_SIGNAL_ID_CHARS).contains(&length) {
            return Err(SignalIdError::Length(length));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".:_-".contains(*c)))
        {
            return Err(SignalIdError::Charset(bad));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of a signal sent without one, derived from who sent it and what it says, so that
    /// a producer's retry of the same request finds the first attempt's entry instead of storing
    /// the signal twice: `sha256:` and the hex SHA-256 of `SIGNAL-LEDGER/DERIVED-ID\0`, the
    /// submitter's length (8 bytes, big-endian) and bytes, and the content as compact JSON
    /// (fields in schema order, decimals and timestamps in canonical form).
    pub fn derived(submitter: &str, content: &SignalContent) -> SignalId {
        let mut hasher = Sha256::new();
        hasher.update(DERIVED_ID_DOMAIN);
        hasher.update((submitter.len() as u64).to_be_bytes());
        hasher.update(submitter.as_bytes());
        // Plain data with string keys: serialising it cannot fail.
        hasher.update(serde_json::to_vec(content).unwrap_or_default());
        SignalId(format!("sha256:{}", hex::encode(hasher.finalize())))
    }
}

/// Domain separator of [`SignalId::derived`].
pub const DERIVED_ID_DOMAIN: &[u8] = b"SIGNAL-LEDGER/DERIVED-ID\0";

/// Why a text is not a signal id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalIdError {
    #[error("must be 1 to {MAX_SIGNAL_ID_CHARS} characters long; got {0}")]
    Length(usize),
    #[error("may contain only A-Z, a-z, 0-9, '.', '_', ':' and '-'; found {0:?}")]
    Charset(char),
}

impl SignalIdError {
    fn rule(&self) -> Rule {
        match self {
            SignalIdError::Length(0) => Rule::Empty,
            SignalIdError::Length(_) => Rule::TooLong,
            SignalIdError::Charset(_) => Rule::Charset,
        }
    }
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SignalId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        SignalId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The validated content of a signal: everything the producer said, in canonical form.
/// Two submissions are "the same signal" exactly when their ids and contents are equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalContent {
    /// 1–16 of `A-Z0-9.-/`, exactly as sent.
    pub symbol: String,
    pub action: Action,
    pub entry_price: ExactDecimal,
    pub target_price: Option<ExactDecimal>,
    pub stop_loss: Option<ExactDecimal>,
    /// Between 0 and 1 inclusive.
    pub confidence: Option<ExactDecimal>,
    /// Trimmed of leading and trailing whitespace.
    pub rationale: String,
    /// The producer's clock, in UTC.
    pub generated_at: Timestamp,
    pub producer: Option<String>,
    pub model: Option<String>,
    pub model_version: Option<String>,
}

/// A valid request: the content, and the id when the producer gave one (idempotent replays need
/// it; without one the ingest function generates an id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub signal_id: Option<SignalId>,
    pub content: SignalContent,
}

/// A stable, machine-readable code for each validation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The body is not a JSON object.
    NotAnObject,
    UnknownField,
    DuplicateField,
    Required,
    /// Wrong JSON type (e.g. a number where a string is expected).
    Type,
    Empty,
    TooShort,
    TooLong,
    ControlCharacters,
    NoLetters,
    RepeatedCharacter,
    Charset,
    Decimal,
    NotPositive,
    Range,
    PriceOrder,
    Timestamp,
    InFuture,
    /// `generated_at` is further behind the server clock than the configured maximum age.
    TooOld,
    /// A receipt's `delivered_at` is earlier than its signal's `generated_at`.
    BeforeGenerated,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field's name; `body` for problems with the whole document.
    pub field: String,
    pub rule: Rule,
    /// A sentence a person can act on.
    pub message: String,
}

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not JSON at all; line and column are 1-based, as in serde_json.
    #[error("the body is not valid JSON: {message} at line {line}, column {column}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid JSON that breaks one or more rules: the first [`MAX_REPORTED_PROBLEMS`] problems
    /// (never none), and how many more there were.
    #[error("the signal breaks {} validation rule(s)", .problems.len() + .omitted)]
    Invalid {
        problems: Vec<FieldProblem>,
        omitted: usize,
    },
}

/// Validates a request body against the schema, with `now` as the server clock.
pub fn validate(
    body: &[u8],
    rules: &ValidationRules,
    now: Timestamp,
) -> Result<Submission, Rejection> {
    let fields = parse_object(body, "the signal's fields")?;
    let mut checker = Checker::new(&fields, &FIELDS, "a signal field");
    checker.refuse_unknown_and_duplicate_fields();
    let read = checker.read_fields(rules, now);
    match read.into_submission() {
        Some(submission) if checker.found() == 0 => Ok(submission),
        _ => Err(Rejection::Invalid {
            problems: checker.problems,
            omitted: checker.omitted,
        }),
    }
}

/// Every field of the signal as read, `None` where it is absent or was refused (the checker
/// holds why).
struct ReadFields {
    signal_id: Option<SignalId>,
    symbol: Option<String>,
    action: Option<Action>,
    entry_price: Option<ExactDecimal>,
    target_price: Option<ExactDecimal>,
    stop_loss: Option<ExactDecimal>,
    confidence: Option<ExactDecimal>,
    rationale: Option<String>,
    generated_at: Option<Timestamp>,
    producer: Option<String>,
    model: Option<String>,
    model_version: Option<String>,
}

impl ReadFields {
    /// The submission, when every required field was read.
    fn into_submission(self) -> Option<Submission> {
        Some(Submission {
            signal_id: self.signal_id,
            content: SignalContent {
                symbol: self.symbol?,
                action: self.action?,
                entry_price: self.entry_price?,
                target_price: self.target_price,
                stop_loss: self.stop_loss,
                confidence: self.confidence,
                rationale: self.rationale?,
                generated_at: self.generated_at?,
                producer: self.producer,
                model: self.model,
                model_version: self.model_version,
            },
        })
    }
}

impl Checker<'_> {
    /// Reads and checks each field in turn, then the order of the prices.
    fn read_fields(&mut self, rules: &ValidationRules, now: Timestamp) -> ReadFields {
        let signal_id = self.optional_string("signal_id").and_then(|text| {
            SignalId::parse(&text)
                .map_err(|error| self.report("signal_id", error.rule(), error.to_string()))
                .ok()
        });
        let symbol = self
            .required_string("symbol")
            .and_then(|text| self.symbol(text));
        let action = self.required_string("action").and_then(|text| {
            Action::parse(&text).or_else(|| {
                self.report(
                    "action",
                    Rule::Charset,
                    format!("must be \"BUY\" or \"SELL\"; got {text:?}"),
                );
                None
            })
        });
        let entry_price = self.price("entry_price", true);
        let target_price = self.price("target_price", false);
        let stop_loss = self.price("stop_loss", false);
        let confidence = self.confidence();
        let rationale = self.rationale(rules.min_rationale_chars);
        let generated_at = self.generated_at(now, rules);
        let producer = self.metadata("producer");
        let model = self.metadata("model");
        let model_version = self.metadata("model_version");
        if let (Some(action), Some(entry)) = (action, &entry_price) {
            self.price_order(action, entry, target_price.as_ref(), stop_loss.as_ref());
        }
        ReadFields {
            signal_id,
            symbol,
            action,
            entry_price,
            target_price,
            stop_loss,
            confidence,
            rationale,
            generated_at,
            producer,
            model,
            model_version,
        }
    }
}

/// serde_json appends " at line L column C" to its messages; we report them separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ").and_then(|at| message.get(..at)) {
        Some(before) => before.to_owned(),
        None => message.to_owned(),
    }
}

fn problem(field: &str, rule: Rule, message: String) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        rule,
        message,
    }
}

/// Parses a body into its top-level object, or the rejection of a body that is not JSON or not
/// an object (`what` names what the object should hold, e.g. "the signal's fields").
pub(crate) fn parse_object(
    body: &[u8],
    what: &str,
) -> Result<Vec<(String, Box<RawValue>)>, Rejection> {
    let document: Document =
        serde_json::from_slice(body).map_err(|error| Rejection::MalformedJson {
            line: error.line(),
            column: error.column(),
            message: strip_position(&error.to_string()),
        })?;
    match document {
        Document::Object(fields) => Ok(fields),
        Document::Other => Err(Rejection::Invalid {
            problems: vec![problem(
                "body",
                Rule::NotAnObject,
                format!("the body must be a JSON object with {what}"),
            )],
            omitted: 0,
        }),
    }
}

/// A JSON document whose top-level object keeps every key in order, duplicates included, and each
/// value as raw text, so that numbers reach the decimal parser without a float in between.
enum Document {
    Object(Vec<(String, Box<RawValue>)>),
    Other,
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor;
        impl<'de> Visitor<'de> for DocumentVisitor {
            type Value = Document;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(Document::Object(fields))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Document, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Document::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Document, E> {
                Ok(Document::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Document, E> {
                Ok(Document::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Document, E> {
                Ok(Document::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Document, E> {
                Ok(Document::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Document, E> {
                Ok(Document::Other)
            }
            fn visit_unit<E>(self) -> Result<Document, E> {
                Ok(Document::Other)
            }
        }
        deserializer.deserialize_any(DocumentVisitor)
    }
}

/// The shape of one raw JSON value, enough to tell the producer what was sent instead.
enum Raw<'a> {
    Absent,
    Null,
    String(String),
    Number(&'a str),
    Other(&'static str),
}

/// Checks the fields of one object against a schema, collecting problems (bounded).
pub(crate) struct Checker<'a> {
    fields: &'a [(String, Box<RawValue>)],
    /// The fields the schema knows; any other key is `unknown_field`.
    known: &'static [&'static str],
    /// What a known field is, for the `unknown_field` message ("a signal field").
    noun: &'static str,
    pub(crate) problems: Vec<FieldProblem>,
    /// Problems found beyond [`MAX_REPORTED_PROBLEMS`].
    pub(crate) omitted: usize,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(
        fields: &'a [(String, Box<RawValue>)],
        known: &'static [&'static str],
        noun: &'static str,
    ) -> Checker<'a> {
        Checker {
            fields,
            known,
            noun,
            problems: Vec::new(),
            omitted: 0,
        }
    }

    pub(crate) fn report(&mut self, field: &str, rule: Rule, message: String) {
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(problem(field, rule, message));
        } else {
            self.omitted += 1;
        }
    }

    /// Problems found so far, reported or only counted.
    pub(crate) fn found(&self) -> usize {
        self.problems.len() + self.omitted
    }

    /// Each unknown key, and each key sent more than once, is reported once.
    pub(crate) fn refuse_unknown_and_duplicate_fields(&mut self) {
        let mut seen = BTreeSet::new();
        let mut reported = BTreeSet::new();
        for (name, _) in self.fields {
            if !self.known.contains(&name.as_str()) {
                if !reported.insert(name.as_str()) {
                    continue;
                }
                let shown: String = name.chars().take(64).collect();
                self.report(
                    &shown,
                    Rule::UnknownField,
                    format!(
                        "is not {}; the fields are: {}",
                        self.noun,
                        self.known.join(", ")
                    ),
                );
            } else if !seen.insert(name.as_str()) && reported.insert(name.as_str()) {
                self.report(
                    name,
                    Rule::DuplicateField,
                    "appears more than once in the object".into(),
                );
            }
        }
    }

    /// The field's raw value; the first occurrence when duplicated (duplicates are already refused).
    fn raw(&self, field: &str) -> Raw<'a> {
        let Some((_, value)) = self.fields.iter().find(|(name, _)| name == field) else {
            return Raw::Absent;
        };
        let text = value.get();
        match text.as_bytes().first() {
            Some(b'n') => Raw::Null,
            Some(b'"') => match serde_json::from_str::<String>(text) {
                Ok(string) => Raw::String(string),
                Err(_) => Raw::Other("an invalid string"),
            },
            Some(b'-' | b'0'..=b'9') => Raw::Number(text),
            Some(b't' | b'f') => Raw::Other("a boolean"),
            Some(b'[') => Raw::Other("an array"),
            Some(b'{') => Raw::Other("an object"),
            _ => Raw::Other("an unexpected value"),
        }
    }

    fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.raw(field) {
            Raw::String(text) => Some(text),
            Raw::Absent | Raw::Null if required => {
                self.report(field, Rule::Required, "is required".into());
                None
            }
            Raw::Absent | Raw::Null => None,
            Raw::Number(_) => {
                self.report(field, Rule::Type, "must be a string; got a number".into());
                None
            }
            Raw::Other(kind) => {
                self.report(field, Rule::Type, format!("must be a string; got {kind}"));
                None
            }
        }
    }

    pub(crate) fn required_string(&mut self, field: &str) -> Option<String> {
        self.string(field, true)
    }

    fn optional_string(&mut self, field: &str) -> Option<String> {
        self.string(field, false)
    }

    /// Checked exactly as sent: no case mapping (Unicode upper-casing turns "ß" into "SS").
    fn symbol(&mut self, text: String) -> Option<String> {
        let length = text.chars().count();
        if !(1..=MAX_SYMBOL_CHARS).contains(&length) {
            let rule = if length == 0 {
                Rule::Empty
            } else {
                Rule::TooLong
            };
            self.report(
                "symbol",
                rule,
                format!("must be 1 to {MAX_SYMBOL_CHARS} characters long; got {length}"),
            );
            return None;
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || ".-/".contains(*c)))
        {
            let hint = if bad.is_ascii_lowercase() {
                " (symbols are not case-mapped: send them in upper case)"
            } else {
                ""
            };
            self.report(
                "symbol",
                Rule::Charset,
                format!("may contain only {SYMBOL_ALPHABET}; found {bad:?}{hint}"),
            );
            return None;
        }
        Some(text)
    }

    /// A decimal given as a JSON number or a decimal string.
    fn decimal(&mut self, field: &str, required: bool) -> Option<ExactDecimal> {
        let text = match self.raw(field) {
            Raw::Number(text) => text.to_owned(),
            Raw::String(text) => text,
            Raw::Absent | Raw::Null if required => {
                self.report(field, Rule::Required, "is required".into());
                return None;
            }
            Raw::Absent | Raw::Null => return None,
            Raw::Other(kind) => {
                self.report(
                    field,
                    Rule::Type,
                    format!("must be a number or a decimal string; got {kind}"),
                );
                return None;
            }
        };
        match ExactDecimal::parse(&text) {
            Ok(value) => Some(value),
            Err(error) => {
                let rule = if matches!(error, crate::domain::decimal::DecimalError::Negative) {
                    Rule::NotPositive
                } else {
                    Rule::Decimal
                };
                let shown: String = text.chars().take(40).collect();
                self.report(field, rule, format!("{shown:?} {error}"));
                None
            }
        }
    }

    fn price(&mut self, field: &str, required: bool) -> Option<ExactDecimal> {
        let price = self.decimal(field, required)?;
        if price.is_zero() {
            self.report(field, Rule::NotPositive, "must be greater than zero".into());
            return None;
        }
        Some(price)
    }

    fn confidence(&mut self) -> Option<ExactDecimal> {
        let confidence = self.decimal("confidence", false)?;
        if confidence.value() > rust_decimal::Decimal::ONE {
            self.report(
                "confidence",
                Rule::Range,
                format!("must be between 0 and 1 inclusive; got {confidence}"),
            );
            return None;
        }
        Some(confidence)
    }

    fn rationale(&mut self, min_chars: usize) -> Option<String> {
        let text = self.required_string("rationale")?;
        let trimmed = text.trim();
        let length = trimmed.chars().count();
        let visible = visible_chars(trimmed);
        if visible == 0 {
            self.report(
                "rationale",
                Rule::Empty,
                format!("is empty; every signal must explain its reasoning in at least {min_chars} characters"),
            );
            return None;
        }
        let before = self.found();
        if visible < min_chars {
            self.report(
                "rationale",
                Rule::TooShort,
                format!("must have at least {min_chars} visible characters (whitespace and invisible format characters do not count); got {visible}"),
            );
        }
        if length > MAX_RATIONALE_CHARS {
            self.report(
                "rationale",
                Rule::TooLong,
                format!("must be at most {MAX_RATIONALE_CHARS} characters; got {length}"),
            );
        }
        if let Some(bad) = trimmed
            .chars()
            .find(|c| c.is_control() && *c != '\n' && *c != '\t')
        {
            self.report(
                "rationale",
                Rule::ControlCharacters,
                format!(
                    "may not contain control characters other than newline and tab; found U+{:04X}",
                    u32::from(bad)
                ),
            );
        }
        let mut visible = trimmed.chars().filter(|c| is_visible(*c));
        let first = visible.next();
        if !trimmed.chars().any(char::is_alphabetic) {
            self.report(
                "rationale",
                Rule::NoLetters,
                "must contain words, not only digits, punctuation or symbols".into(),
            );
        } else if visible.all(|c| Some(c) == first) {
            self.report(
                "rationale",
                Rule::RepeatedCharacter,
                "must contain words, not one character repeated".into(),
            );
        }
        (self.found() == before).then(|| trimmed.to_owned())
    }

    /// Within `[now − max_age, now + max_future_skew]`. Both bounds are computed with checked
    /// arithmetic: a bound that would leave the years 0000–9999 does not apply.
    fn generated_at(&mut self, now: Timestamp, rules: &ValidationRules) -> Option<Timestamp> {
        let text = self.required_string("generated_at")?;
        let instant = match Timestamp::parse_rfc3339(&text) {
            Ok(instant) => instant,
            Err(error) => {
                let rule = if error == crate::domain::timestamp::TimestampError::OutOfRange {
                    Rule::Range
                } else {
                    Rule::Timestamp
                };
                let shown: String = text.chars().take(40).collect();
                self.report("generated_at", rule, format!("{shown:?} {error}"));
                return None;
            }
        };
        let latest = now.checked_add(rules.max_future_skew);
        if latest.is_some_and(|latest| instant.as_datetime() > latest.as_datetime()) {
            self.report(
                "generated_at",
                Rule::InFuture,
                format!(
                    "{instant} is more than {} seconds ahead of the server clock ({now}); check the producer's clock",
                    rules.max_future_skew.whole_seconds()
                ),
            );
            return None;
        }
        let oldest = now.checked_sub(rules.max_age);
        if oldest.is_some_and(|oldest| instant.as_datetime() < oldest.as_datetime()) {
            self.report(
                "generated_at",
                Rule::TooOld,
                format!(
                    "{instant} is more than {} seconds behind the server clock ({now}); a signal must reach the ledger within that time",
                    rules.max_age.whole_seconds()
                ),
            );
            return None;
        }
        Some(instant)
    }

    fn metadata(&mut self, field: &str) -> Option<String> {
        let text = self.optional_string(field)?;
        let length = text.chars().count();
        if !(1..=MAX_METADATA_CHARS).contains(&length) {
            let rule = if length == 0 {
                Rule::Empty
            } else {
                Rule::TooLong
            };
            self.report(
                field,
                rule,
                format!("must be 1 to {MAX_METADATA_CHARS} characters long; got {length}"),
            );
            return None;
        }
        if text.chars().any(char::is_control) {
            self.report(
                field,
                Rule::ControlCharacters,
                "may not contain control characters".into(),
            );
            return None;
        }
        Some(text)
    }

    fn price_order(
        &mut self,
        action: Action,
        entry: &ExactDecimal,
        target: Option<&ExactDecimal>,
        stop: Option<&ExactDecimal>,
    ) {
        let (target_ok, stop_ok, target_word, stop_word) = match action {
            Action::Buy => (
                target.is_none_or(|t| t > entry),
                stop.is_none_or(|s| s < entry),
                "above",
                "below",
            ),
            Action::Sell => (
                target.is_none_or(|t| t < entry),
                stop.is_none_or(|s| s > entry),
                "below",
                "above",
            ),
        };
        let action = action.as_str();
        if let (false, Some(target)) = (target_ok, target) {
            self.report(
                "target_price",
                Rule::PriceOrder,
                format!("for a {action} signal must be {target_word} entry_price ({entry}); got {target}"),
            );
        }
        if let (false, Some(stop)) = (stop_ok, stop) {
            self.report(
                "stop_loss",
                Rule::PriceOrder,
                format!(
                    "for a {action} signal must be {stop_word} entry_price ({entry}); got {stop}"
                ),
            );
        }
    }
}

/// Whether a character counts toward the rationale's length: not whitespace, not an invisible
/// format character (Unicode general category Cf: zero-width spaces and joiners, bidi marks,
/// the byte-order mark, soft hyphens, tags).
fn is_visible(c: char) -> bool {
    !c.is_whitespace() && c.general_category() != GeneralCategory::Format
}

fn visible_chars(text: &str) -> usize {
    text.chars().filter(|c| is_visible(*c)).count()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-28T09:30:00Z").unwrap()
    }

    fn valid() -> Value {
        json!({
            "signal_id": "sig-2026-11-28:0001",
            "symbol": "AAPL",
            "action": "BUY",
            "entry_price": 150.25,
            "target_price": "165.00",
            "stop_loss": 142.5,
            "confidence": 0.82,
            "rationale": "  Breakout above the 50-day moving average on rising volume.  ",
            "generated_at": "2026-11-28T09:29:59.750Z",
            "producer": "momentum-svc",
            "model": "gbm",
            "model_version": "2026.11.1"
        })
    }

    fn with(changes: Value) -> Value {
        let mut body = valid();
        for (key, value) in changes.as_object().unwrap() {
            if value == &json!("<absent>") {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    }

    fn problems(body: &Value) -> Vec<(String, Rule)> {
        match validate(
            body.to_string().as_bytes(),
            &ValidationRules::default(),
            now(),
        ) {
            Ok(submission) => panic!("expected a rejection, got {submission:?}"),
            Err(Rejection::Invalid { problems, omitted }) => {
                assert_eq!(omitted, 0);
                assert!(problems.iter().all(|p| !p.message.is_empty()));
                problems.into_iter().map(|p| (p.field, p.rule)).collect()
            }
            Err(other) => panic!("expected field problems, got {other:?}"),
        }
    }

    /// One rule broken → exactly that problem, on that field.
    fn check(changes: Value, field: &str, rule: Rule) {
        assert_eq!(
            problems(&with(changes.clone())),
            vec![(field.to_owned(), rule)],
            "changes {changes}"
        );
    }

    #[test]
    fn accepts_a_valid_signal_in_canonical_form() {
        let submission = validate(
            valid().to_string().as_bytes(),
            &ValidationRules::default(),
            now(),
        )
        .unwrap();
        assert_eq!(
            submission.signal_id.unwrap().as_str(),
            "sig-2026-11-28:0001"
        );
        let content = submission.content;
        assert_eq!(content.symbol, "AAPL");
        assert_eq!(content.action, Action::Buy);
        assert_eq!(content.entry_price.as_str(), "150.25");
        assert_eq!(content.target_price.unwrap().as_str(), "165");
        assert_eq!(content.stop_loss.unwrap().as_str(), "142.5");
        assert_eq!(content.confidence.unwrap().as_str(), "0.82");
        assert_eq!(
            content.rationale,
            "Breakout above the 50-day moving average on rising volume."
        );
        assert_eq!(content.generated_at.as_str(), "2026-11-28T09:29:59.750000Z");
        assert_eq!(content.producer.as_deref(), Some("momentum-svc"));
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let body = json!({
            "symbol": "BRK.B", "action": "SELL", "entry_price": "412.1",
            "target_price": null, "stop_loss": 420, "confidence": null,
            "rationale": "Valuation stretched after earnings; trimming exposure.",
            "generated_at": "2026-11-28T09:29:00+00:00"
        });
        let submission = validate(
            body.to_string().as_bytes(),
            &ValidationRules::default(),
            now(),
        )
        .unwrap();
        assert_eq!(submission.signal_id, None);
        assert_eq!(submission.content.target_price, None);
        assert_eq!(submission.content.stop_loss.unwrap().as_str(), "420");
    }

    #[test]
    fn seed_cases_empty_and_short_rationale_are_refused() {
        check(json!({"rationale": ""}), "rationale", Rule::Empty);
        check(json!({"rationale": "Short"}), "rationale", Rule::TooShort);
    }

    #[test]
    fn rationale_rules() {
        check(
            json!({"rationale": "<absent>"}),
            "rationale",
            Rule::Required,
        );
        check(json!({"rationale": null}), "rationale", Rule::Required);
        check(json!({"rationale": 12345}), "rationale", Rule::Type);
        check(json!({"rationale": "   \n\t  "}), "rationale", Rule::Empty);
        // 19 letters padded with whitespace: trimmed before counting.
        check(
            json!({"rationale": "   abcdefghijklmnopqrs   "}),
            "rationale",
            Rule::TooShort,
        );
        // Counted in characters, not bytes: 20 three-byte characters pass, 19 fail.
        let chinese = "买入信号突破五十日均线成交量放大趋势确认延续"; // 22 characters, 66 bytes
        let first = |n: usize| chinese.chars().take(n).collect::<String>();
        assert_eq!(first(19).len(), 57);
        assert!(
            validate(
                with(json!({"rationale": first(20)})).to_string().as_bytes(),
                &ValidationRules::default(),
                now()
            )
            .is_ok()
        );
        check(json!({"rationale": first(19)}), "rationale", Rule::TooShort);
        check(
            json!({"rationale": "a b ".repeat(1001)}),
            "rationale",
            Rule::TooLong,
        );
        assert!(
            validate(
                with(json!({"rationale": format!("Trend {}", "x".repeat(3994))}))
                    .to_string()
                    .as_bytes(),
                &ValidationRules::default(),
                now()
            )
            .is_ok()
        );
        check(
            json!({"rationale": "Momentum is strong\u{0007} on the tape."}),
            "rationale",
            Rule::ControlCharacters,
        );
        check(
            json!({"rationale": "Momentum is strong\r\non the daily tape."}),
            "rationale",
            Rule::ControlCharacters,
        );
        assert!(
            validate(
                with(json!({"rationale": "Momentum is strong\n\ton the daily tape."}))
                    .to_string()
                    .as_bytes(),
                &ValidationRules::default(),
                now()
            )
            .is_ok()
        );
        check(
            json!({"rationale": "1234567890 !!!! 1234567890"}),
            "rationale",
            Rule::NoLetters,
        );
        check(
            json!({"rationale": "aaaaaaaaaaaaaaaaaaaaaaaaa"}),
            "rationale",
            Rule::RepeatedCharacter,
        );
        check(
            json!({"rationale": "a a a a a a a a a a a a a a a a a a a a a"}),
            "rationale",
            Rule::RepeatedCharacter,
        );
        // Whitespace and invisible format characters (Cf) do not count toward the minimum.
        // Issue 12: "a" and 19 × U+200B passed; it has one visible character.
        assert_eq!(
            problems(&with(
                json!({"rationale": format!("a{}", "\u{200B}".repeat(19))})
            )),
            vec![
                ("rationale".into(), Rule::TooShort),
                ("rationale".into(), Rule::RepeatedCharacter),
            ]
        );
        check(
            json!({"rationale": format!("Buy now{}", "\u{200B}\u{2060}\u{FEFF}\u{00AD}\u{202E}".repeat(4))}),
            "rationale",
            Rule::TooShort,
        );
        check(
            json!({"rationale": "\u{200B}\u{200C}\u{200D}"}),
            "rationale",
            Rule::Empty,
        );
        check(
            json!({"rationale": "B u y   n o w   o n   t h e   b r e a k"}),
            "rationale",
            Rule::TooShort,
        );
        // Several rationale problems at once are all reported.
        assert_eq!(
            problems(&with(json!({"rationale": "12\u{0001}"}))),
            vec![
                ("rationale".into(), Rule::TooShort),
                ("rationale".into(), Rule::ControlCharacters),
                ("rationale".into(), Rule::NoLetters),
            ]
        );
    }

    #[test]
    fn minimum_rationale_length_is_configurable() {
        let rules = ValidationRules {
            min_rationale_chars: 5,
            ..ValidationRules::default()
        };
        let body = with(json!({"rationale": "Short"}));
        assert!(validate(body.to_string().as_bytes(), &rules, now()).is_ok());
    }

    #[test]
    fn price_rules() {
        check(
            json!({"entry_price": "<absent>"}),
            "entry_price",
            Rule::Required,
        );
        check(json!({"entry_price": 0}), "entry_price", Rule::NotPositive);
        check(
            json!({"entry_price": "0.000"}),
            "entry_price",
            Rule::NotPositive,
        );
        check(
            json!({"entry_price": -150.25}),
            "entry_price",
            Rule::NotPositive,
        );
        check(json!({"entry_price": "NaN"}), "entry_price", Rule::Decimal);
        check(
            json!({"entry_price": "Infinity"}),
            "entry_price",
            Rule::Decimal,
        );
        check(
            json!({"entry_price": "150,25"}),
            "entry_price",
            Rule::Decimal,
        );
        check(json!({"entry_price": true}), "entry_price", Rule::Type);
        check(json!({"entry_price": [150]}), "entry_price", Rule::Type);
        check(
            json!({"entry_price": 150.123456789}),
            "entry_price",
            Rule::Decimal,
        );
        check(
            json!({"entry_price": "1e400"}),
            "entry_price",
            Rule::Decimal,
        );
        check(
            json!({"target_price": 0}),
            "target_price",
            Rule::NotPositive,
        );
        check(json!({"stop_loss": "-1"}), "stop_loss", Rule::NotPositive);
    }

    #[test]
    fn json_numbers_keep_every_digit() {
        // 0.1 + 0.2 style values and long mantissas must not go through f64.
        let body = r#"{"symbol":"X","action":"BUY","entry_price":123456789012.12345678,
            "rationale":"Exactness check for the decimal path.","generated_at":"2026-11-28T09:00:00Z"}"#;
        let submission = validate(body.as_bytes(), &ValidationRules::default(), now()).unwrap();
        assert_eq!(
            submission.content.entry_price.as_str(),
            "123456789012.12345678"
        );
        let body = body.replace("123456789012.12345678", "1.5e2");
        let submission = validate(body.as_bytes(), &ValidationRules::default(), now()).unwrap();
        assert_eq!(submission.content.entry_price.as_str(), "150");
    }

    #[test]
    fn price_order_depends_on_action() {
        check(json!({"stop_loss": 150.25}), "stop_loss", Rule::PriceOrder);
        check(json!({"stop_loss": 151}), "stop_loss", Rule::PriceOrder);
        check(
            json!({"target_price": 150}),
            "target_price",
            Rule::PriceOrder,
        );
        // SELL: target below, stop above.
        assert_eq!(
            problems(&with(json!({"action": "SELL"}))),
            vec![
                ("target_price".into(), Rule::PriceOrder),
                ("stop_loss".into(), Rule::PriceOrder)
            ]
        );
        let sell = with(json!({"action": "SELL", "target_price": 140, "stop_loss": "155.5"}));
        assert!(
            validate(
                sell.to_string().as_bytes(),
                &ValidationRules::default(),
                now()
            )
            .is_ok()
        );
    }

    #[test]
    fn confidence_rules() {
        check(json!({"confidence": 1.01}), "confidence", Rule::Range);
        check(json!({"confidence": -0.1}), "confidence", Rule::NotPositive);
        check(json!({"confidence": "high"}), "confidence", Rule::Decimal);
        for ok in [json!(0), json!(1), json!("0.5")] {
            assert!(
                validate(
                    with(json!({"confidence": ok})).to_string().as_bytes(),
                    &ValidationRules::default(),
                    now()
                )
                .is_ok()
            );
        }
    }

    #[test]
    fn symbol_action_and_id_rules() {
        check(json!({"symbol": "<absent>"}), "symbol", Rule::Required);
        check(json!({"symbol": ""}), "symbol", Rule::Empty);
        check(
            json!({"symbol": "ABCDEFGHIJKLMNOPQ"}),
            "symbol",
            Rule::TooLong,
        );
        check(json!({"symbol": "AAPL US"}), "symbol", Rule::Charset);
        check(json!({"symbol": "ÄPFEL"}), "symbol", Rule::Charset);
        check(json!({"symbol": 42}), "symbol", Rule::Type);
        assert_eq!(
            validate(
                with(json!({"symbol": "EUR/USD"})).to_string().as_bytes(),
                &ValidationRules::default(),
                now()
            )
            .unwrap()
            .content
            .symbol,
            "EUR/USD"
        );
        // Never case-mapped: lower case is refused, and "ß" is not stored as "SS".
        check(json!({"symbol": "eur/usd"}), "symbol", Rule::Charset);
        check(json!({"symbol": "aapl"}), "symbol", Rule::Charset);
        check(json!({"symbol": "ß"}), "symbol", Rule::Charset);
        check(json!({"symbol": "ﬀ"}), "symbol", Rule::Charset);
        check(json!({"symbol": "ＡＡＰＬ"}), "symbol", Rule::Charset);
        check(json!({"action": "HOLD"}), "action", Rule::Charset);
        check(json!({"action": "buy"}), "action", Rule::Charset);
        check(json!({"action": "<absent>"}), "action", Rule::Required);
        check(json!({"signal_id": ""}), "signal_id", Rule::Empty);
        check(
            json!({"signal_id": "x".repeat(129)}),
            "signal_id",
            Rule::TooLong,
        );
        check(
            json!({"signal_id": "has space"}),
            "signal_id",
            Rule::Charset,
        );
        check(json!({"signal_id": "ünïcode"}), "signal_id", Rule::Charset);
        check(json!({"signal_id": 7}), "signal_id", Rule::Type);
        assert!(
            validate(
                with(json!({"signal_id": "A.b_c:d-9"}))
                    .to_string()
                    .as_bytes(),
                &ValidationRules::default(),
                now()
            )
            .is_ok()
        );
    }

    #[test]
    fn generated_at_rules() {
        check(
            json!({"generated_at": "<absent>"}),
            "generated_at",
            Rule::Required,
        );
        check(
            json!({"generated_at": "yesterday"}),
            "generated_at",
            Rule::Timestamp,
        );
        check(
            json!({"generated_at": "2026-11-28 09:29:00"}),
            "generated_at",
            Rule::Timestamp,
        );
        check(
            json!({"generated_at": 1764322140}),
            "generated_at",
            Rule::Type,
        );
        // Up to five minutes ahead of the server clock is clock skew; beyond is refused.
        assert!(
            validate(
                with(json!({"generated_at": "2026-11-28T09:35:00Z"}))
                    .to_string()
                    .as_bytes(),
                &ValidationRules::default(),
                now()
            )
            .is_ok()
        );
        check(
            json!({"generated_at": "2026-11-28T09:35:00.000001Z"}),
            "generated_at",
            Rule::InFuture,
        );
        check(
            json!({"generated_at": "2026-11-28T11:00:00+01:00"}),
            "generated_at",
            Rule::InFuture,
        );
    }

    #[test]
    fn metadata_rules() {
        check(json!({"producer": ""}), "producer", Rule::Empty);
        check(json!({"model": "m".repeat(129)}), "model", Rule::TooLong);
        check(
            json!({"model_version": "v1\n"}),
            "model_version",
            Rule::ControlCharacters,
        );
        check(json!({"producer": {"name": "x"}}), "producer", Rule::Type);
    }

    #[test]
    fn unknown_and_duplicate_fields_are_refused() {
        check(json!({"quantity": 100}), "quantity", Rule::UnknownField);
        let body = valid().to_string().replacen('{', r#"{"symbol":"MSFT","#, 1);
        let Err(Rejection::Invalid { problems, .. }) =
            validate(body.as_bytes(), &ValidationRules::default(), now())
        else {
            panic!("duplicate key accepted");
        };
        assert_eq!(problems.len(), 1);
        assert_eq!(
            (problems[0].field.as_str(), problems[0].rule),
            ("symbol", Rule::DuplicateField)
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let body = json!({"symbol": "", "action": "HOLD", "entry_price": -1, "rationale": "Short", "extra": 1});
        assert_eq!(
            problems(&body),
            vec![
                ("extra".into(), Rule::UnknownField),
                ("symbol".into(), Rule::Empty),
                ("action".into(), Rule::Charset),
                ("entry_price".into(), Rule::NotPositive),
                ("rationale".into(), Rule::TooShort),
                ("generated_at".into(), Rule::Required),
            ]
        );
    }

    #[test]
    fn malformed_json_says_where() {
        let error = validate(
            b"{\n  \"symbol\": \"AAPL\",\n  \"action\": BUY\n}",
            &ValidationRules::default(),
            now(),
        )
        .unwrap_err();
        let Rejection::MalformedJson {
            line,
            column,
            message,
        } = error
        else {
            panic!("{error:?}")
        };
        assert_eq!((line, column), (3, 13));
        assert_eq!(message, "expected value");
        assert!(matches!(
            validate(b"", &ValidationRules::default(), now()),
            Err(Rejection::MalformedJson { .. })
        ));
        assert!(matches!(
            validate(b"{} trailing", &ValidationRules::default(), now()),
            Err(Rejection::MalformedJson { .. })
        ));
        assert!(matches!(
            validate(&[0xff, 0xfe], &ValidationRules::default(), now()),
            Err(Rejection::MalformedJson { .. })
        ));
    }

    #[test]
    fn non_objects_are_refused() {
        for body in ["[]", "\"signal\"", "42", "null", "true"] {
            let Err(Rejection::Invalid { problems, .. }) =
                validate(body.as_bytes(), &ValidationRules::default(), now())
            else {
                panic!("{body} accepted");
            };
            assert_eq!(problems[0].rule, Rule::NotAnObject);
        }
    }

    proptest::proptest! {
        /// Whatever the bytes, validation answers without panicking.
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = validate(&bytes, &ValidationRules::default(), now());
        }

        #[test]
        fn never_panics_on_arbitrary_field_values(field in proptest::sample::select(FIELDS.to_vec()), value in "\\PC{0,64}") {
            let _ = validate(with(json!({field: value})).to_string().as_bytes(), &ValidationRules::default(), now());
        }
    }
}
