//! The sealed audit log's format: the canonical bytes and Merkle leaf of one audit event, the
//! events file that lists a seal's events (key and leaf, in key order), the signed seal note
//! (origin, sequence number, time window, count, RFC 6962 root, the events file's SHA-256 and the
//! previous seal's digest), its strict parser, the chain rules that link seals into one unbroken
//! sequence of time windows, and the comparison of a sealed window with what the table holds now.
//!
//! Promises: one text per seal and per events file — the parsers accept exactly what the writers
//! write; a seal's root is the RFC 6962 root over its events' leaves in key order, and each seal
//! names the digest of the one before it and starts where it ended, so a removed, replaced or
//! reordered seal, or a window nobody sealed, is a finding, and a sealed window never needs
//! sealing again. The note is signed like a checkpoint (`SHA-256(body)`, ECDSA P-256, the same
//! signature line); its first line sets it apart from a checkpoint, so one can never pass for
//! the other. Pure: no I/O, no clock (the caller passes every time), no key material.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::domain::audit::AuditEvent;
use crate::domain::checkpoint::{
    CheckpointError, Signature, parse_decimal, parse_signature_lines, verify_p256,
};
use crate::domain::hash::Hash;
use crate::domain::merkle;
use crate::domain::timestamp::Timestamp;

/// The first line of every seal note (and the domain separator of its signed body).
pub const SEAL_FORMAT: &str = "signal-ledger-audit-seal/1";
/// Starts the canonical bytes of an audit event.
pub const EVENT_ENCODING_DOMAIN: &[u8] = b"SIGNAL-LEDGER/AUDIT-EVENT\0";
/// The version of the event encoding, big-endian after the domain.
pub const EVENT_ENCODING_VERSION: u16 = 1;
/// Where seals live in the vault.
pub const SEAL_PREFIX: &str = "integrity/audit-seals/";

/// Field tags of an event's canonical encoding, in the order they are written.
pub mod tag {
    pub const PK: u8 = 1;
    pub const SK: u8 = 2;
    pub const EVENT_ID: u8 = 3;
    pub const OCCURRED_AT: u8 = 4;
    pub const EVENT_TYPE: u8 = 5;
    pub const ACTOR: u8 = 6;
    pub const REQUEST_ID: u8 = 7;
    pub const SIGNAL_ID: u8 = 8;
    pub const CHAIN_INDEX: u8 = 9;
    pub const REASON: u8 = 10;
    pub const EXCERPT: u8 = 11;
    pub const DETAILS: u8 = 12;
}

/// The key of an audit event in the audit table: `pk` (its UTC day) and `sk`
/// (`<occurred_at>#<event_id>`). Key order is `(pk, sk)`, byte-wise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuditKey {
    pub pk: String,
    pub sk: String,
}

impl AuditKey {
    /// The key the audit table gives `event`.
    pub fn of(event: &AuditEvent) -> AuditKey {
        let occurred_at = event.occurred_at.as_str();
        AuditKey {
            pk: occurred_at.get(..10).unwrap_or(occurred_at).to_owned(),
            sk: format!("{occurred_at}#{}", event.event_id),
        }
    }
}

impl std::fmt::Display for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}

/// The UTC day of a time, `YYYY-MM-DD`: the audit table's partition of the events at that time.
pub fn day_of(time: &Timestamp) -> &str {
    time.as_str().get(..10).unwrap_or_default()
}

/// The window `[from, to)` as a key range: a key is in it when
/// `(day(from), from) ≤ (pk, sk) < (day(to), to)`, comparing strings byte-wise (`from` and `to`
/// in their canonical text). Every key lies in exactly one window of an unbroken chain of seals.
pub fn key_in_window(key: &AuditKey, from: &Timestamp, to: &Timestamp) -> bool {
    let at = (key.pk.as_str(), key.sk.as_str());
    (day_of(from), from.as_str()) <= at && at < (day_of(to), to.as_str())
}

/// The days whose partitions the window's key range touches, ascending: from the day of `from`
/// to the day of `to`, both included.
pub fn window_days(from: &Timestamp, to: &Timestamp) -> Vec<String> {
    let mut days = Vec::new();
    let Ok(mut day) = Timestamp::parse_canonical(&format!("{}T00:00:00.000000Z", day_of(from)))
    else {
        return days;
    };
    while day_of(&day) <= day_of(to) {
        days.push(day_of(&day).to_owned());
        match day.plus_days(1) {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    days
}

/// The canonical bytes of an audit event stored under `key`: the domain, the version, then each
/// field as `tag (1 byte) || length (u32, big-endian) || value`, absent optional fields left out.
/// The key is covered too, so an event moved to another key is a changed event.
pub fn event_canonical_bytes(key: &AuditKey, event: &AuditEvent) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(EVENT_ENCODING_DOMAIN);
    bytes.extend_from_slice(&EVENT_ENCODING_VERSION.to_be_bytes());
    let mut field = |tag: u8, value: &[u8]| {
        let length = u32::try_from(value.len()).unwrap_or(u32::MAX);
        bytes.push(tag);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(value);
    };
    field(tag::PK, key.pk.as_bytes());
    field(tag::SK, key.sk.as_bytes());
    field(tag::EVENT_ID, event.event_id.as_bytes());
    field(tag::OCCURRED_AT, event.occurred_at.as_str().as_bytes());
    field(tag::EVENT_TYPE, event.event_type.as_str().as_bytes());
    field(tag::ACTOR, event.actor.as_bytes());
    field(tag::REQUEST_ID, event.request_id.as_bytes());
    if let Some(signal_id) = &event.signal_id {
        field(tag::SIGNAL_ID, signal_id.as_bytes());
    }
    if let Some(index) = event.chain_index {
        field(tag::CHAIN_INDEX, &index.to_be_bytes());
    }
    if let Some(reason) = &event.reason {
        field(tag::REASON, reason.as_bytes());
    }
    if let Some(excerpt) = &event.excerpt {
        field(tag::EXCERPT, excerpt.as_bytes());
    }
    field(tag::DETAILS, event.details.to_string().as_bytes());
    bytes
}

/// The event's Merkle leaf: `SHA-256(0x00 || canonical bytes)` (RFC 6962).
pub fn event_leaf(key: &AuditKey, event: &AuditEvent) -> Hash {
    Hash::leaf(&event_canonical_bytes(key, event))
}

/// One line of an events file: an event's key and leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedEvent {
    pub leaf: Hash,
    pub pk: String,
    pub sk: String,
}

impl SealedEvent {
    pub fn new(key: AuditKey, leaf: Hash) -> SealedEvent {
        SealedEvent {
            leaf,
            pk: key.pk,
            sk: key.sk,
        }
    }

    pub fn key(&self) -> AuditKey {
        AuditKey {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
        }
    }

    fn line(&self) -> String {
        // Serialising a struct of strings cannot fail.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// The event a line holds when the line is canonical with nothing escaped —
/// `{"leaf":"<64 lowercase hex>","pk":"…","sk":"…"}` and LF, both texts free of `"`, `\` and
/// control characters, which JSON writes as they are — read without the JSON parser (a seal's
/// events file has a line per audit event). `None` for any other line: the JSON parser and the
/// comparison with the canonical form decide it. Such a line is exactly
/// [`SealedEvent::line`] of the event returned.
fn plain_line(line: &str) -> Option<SealedEvent> {
    let rest = line.strip_prefix("{\"leaf\":\"")?;
    let (leaf, rest) = rest.split_at_checked(64)?;
    let leaf: Hash = leaf.parse().ok()?;
    let rest = rest.strip_prefix("\",\"pk\":\"")?;
    let (pk, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(",\"sk\":\"")?;
    let (sk, rest) = rest.split_once('"')?;
    let plain = |text: &str| !text.bytes().any(|b| b == b'\\' || b < 0x20);
    (rest == "}\n" && plain(pk) && plain(sk)).then(|| SealedEvent {
        leaf,
        pk: pk.to_owned(),
        sk: sk.to_owned(),
    })
}

/// Orders events by key, `(pk, sk)`.
fn by_key(a: &SealedEvent, b: &SealedEvent) -> Ordering {
    (&a.pk, &a.sk).cmp(&(&b.pk, &b.sk))
}

/// The events file: one JSON object per line, `{"leaf":…,"pk":…,"sk":…}` in that field order,
/// compact, each line ending `\n`, in key order.
pub fn encode_events(events: &[SealedEvent]) -> Vec<u8> {
    events.iter().flat_map(|e| e.line().into_bytes()).collect()
}

/// Why a seal note or an events file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("line {line}: expected {expected}, found {found:?}")]
    Malformed {
        line: usize,
        expected: &'static str,
        found: String,
    },
    #[error("line {line}: expected {expected}, but the note ends before it")]
    MissingLine { line: usize, expected: &'static str },
    #[error("no blank line ends the body")]
    MissingBlankLine,
    #[error("the window is empty or reversed: from {from} is not before to {to}")]
    EmptyWindow { from: Timestamp, to: Timestamp },
    #[error("seal 0 must name 64 zeros as its previous seal, and only seal 0 may")]
    BadGenesis,
    #[error("origin {0:?} must be non-empty printable ASCII without leading or trailing spaces")]
    InvalidOrigin(String),
    #[error("the events file's SHA-256 is {computed}, but the seal states {stated}")]
    EventsDigest { stated: Hash, computed: Hash },
    #[error("events file line {line}: {reason}")]
    EventsLine { line: usize, reason: String },
    #[error("the events file lists {found} events, the seal states {stated}")]
    EventsCount { stated: u64, found: u64 },
    #[error("the root of the events file's leaves is {computed}, the seal states {stated}")]
    RootMismatch { stated: Hash, computed: Hash },
    #[error("the signature line: {0}")]
    Signature(#[source] CheckpointError),
    #[error("the signature does not verify: {0}")]
    BadSignature(#[source] CheckpointError),
}

impl SealError {
    /// The refusal's stable code, as `docs/ledger-format.md` §11 names it (shared with the
    /// independent Python checker and the failing vectors).
    pub fn code(&self) -> &'static str {
        match self {
            SealError::Malformed { .. } => "malformed_line",
            SealError::MissingLine { .. } => "missing_line",
            SealError::MissingBlankLine => "missing_blank_line",
            SealError::EmptyWindow { .. } => "empty_window",
            SealError::BadGenesis => "bad_genesis",
            SealError::InvalidOrigin(_) => "invalid_origin",
            SealError::EventsDigest { .. } => "events_digest",
            SealError::EventsLine { .. } => "events_line",
            SealError::EventsCount { .. } => "events_count",
            SealError::RootMismatch { .. } => "root_mismatch",
            SealError::Signature(error) => error.code(),
            SealError::BadSignature(_) => "bad_signature",
        }
    }
}

/// The signed content of a seal. Build one with [`Seal::new`] (or parse one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The ledger's origin, as in its checkpoints.
    pub origin: String,
    /// 0 for the first seal, then one more for each.
    pub seq: u64,
    /// The window sealed: events with `from ≤ occurred_at < to` (by their key's time).
    pub from: Timestamp,
    pub to: Timestamp,
    /// Events in the window, and the RFC 6962 root over their leaves in key order.
    pub count: u64,
    pub root: Hash,
    /// SHA-256 of the events file.
    pub events_sha256: Hash,
    /// [`Seal::digest`] of seal `seq - 1`; 64 zeros for seal 0.
    pub previous: Hash,
    /// When the seal was made.
    pub time: Timestamp,
}

impl Seal {
    /// The seal of `events` (in any order; they are sorted by key) over the window
    /// `[from, to)`, chained to `previous` (`None` for the first seal: `(0, zeros)`).
    /// Returns the seal and its events file.
    pub fn new(
        origin: impl Into<String>,
        previous: Option<&Seal>,
        from: Timestamp,
        to: Timestamp,
        mut events: Vec<SealedEvent>,
        time: Timestamp,
    ) -> Result<(Seal, Vec<u8>), SealError> {
        let origin = origin.into();
        check_origin(&origin)?;
        if from >= to {
            return Err(SealError::EmptyWindow { from, to });
        }
        events.sort_by(by_key);
        let leaves: Vec<Hash> = events.iter().map(|e| e.leaf).collect();
        let file = encode_events(&events);
        let seal = Seal {
            origin,
            seq: previous.map_or(0, |p| p.seq + 1),
            from,
            to,
            count: events.len() as u64,
            root: merkle::root(&leaves),
            events_sha256: Hash::sha256(&file),
            previous: previous.map_or(Hash::ZERO, Seal::digest),
            time,
        };
        Ok((seal, file))
    }

    /// The body: ten lines, each ending in `\n`; the text the signature covers.
    pub fn body(&self) -> String {
        format!(
            "{SEAL_FORMAT}\n{origin}\nseal {seq}\nfrom {from}\nto {to}\ncount {count}\nroot {root}\nevents {events}\nprevious {previous}\ntime {time}\n",
            origin = self.origin,
            seq = self.seq,
            from = self.from.as_str(),
            to = self.to.as_str(),
            count = self.count,
            root = self.root,
            events = self.events_sha256,
            previous = self.previous,
            time = self.time.as_str(),
        )
    }

    /// `SHA-256(body)`: what the signature covers and what the next seal names as `previous`.
    pub fn digest(&self) -> Hash {
        Hash::sha256(self.body().as_bytes())
    }

    /// Parses an events file against this seal: its SHA-256, each line's exact form, key order,
    /// the count and the root must all agree.
    pub fn parse_events(&self, bytes: &[u8]) -> Result<Vec<SealedEvent>, SealError> {
        let computed = Hash::sha256(bytes);
        if computed != self.events_sha256 {
            return Err(SealError::EventsDigest {
                stated: self.events_sha256,
                computed,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| SealError::EventsLine {
            line: 0,
            reason: format!("not UTF-8: {e}"),
        })?;
        let mut events: Vec<SealedEvent> = Vec::new();
        for (number, line) in text.split_inclusive('\n').enumerate() {
            let bad = |reason: String| SealError::EventsLine {
                line: number + 1,
                reason,
            };
            let event = match plain_line(line) {
                Some(event) => event,
                None => {
                    let content = line
                        .strip_suffix('\n')
                        .ok_or_else(|| bad("does not end in a newline".into()))?;
                    let event: SealedEvent = serde_json::from_str(content)
                        .map_err(|e| bad(format!("not an event: {e}")))?;
                    if event.line() != line {
                        return Err(bad("not in its canonical form".into()));
                    }
                    event
                }
            };
            if let Some(before) = events.last()
                && by_key(before, &event) != Ordering::Less
            {
                return Err(bad("not after the line before it in key order".into()));
            }
            events.push(event);
        }
        if events.len() as u64 != self.count {
            return Err(SealError::EventsCount {
                stated: self.count,
                found: events.len() as u64,
            });
        }
        let leaves: Vec<Hash> = events.iter().map(|e| e.leaf).collect();
        let root = merkle::root(&leaves);
        if root != self.root {
            return Err(SealError::RootMismatch {
                stated: self.root,
                computed: root,
            });
        }
        Ok(events)
    }
}

fn check_origin(origin: &str) -> Result<(), SealError> {
    let printable = !origin.is_empty()
        && origin.bytes().all(|b| (b' '..=b'~').contains(&b))
        && !origin.starts_with(' ')
        && !origin.ends_with(' ');
    match printable {
        true => Ok(()),
        false => Err(SealError::InvalidOrigin(origin.to_owned())),
    }
}

/// A seal and its signature line: the complete note as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSeal {
    pub seal: Seal,
    pub signature: Signature,
}

impl SignedSeal {
    /// The note: body, a blank line, the signature line (as a checkpoint's).
    pub fn to_text(&self) -> String {
        format!("{}\n{}", self.seal.body(), self.signature.line())
    }

    /// Parses exactly what [`SignedSeal::to_text`] writes.
    pub fn parse(text: &str) -> Result<SignedSeal, SealError> {
        let split = text.find("\n\n").ok_or(SealError::MissingBlankLine)?;
        let (body, rest) = text.split_at(split + 1);
        let seal = parse_body(body)?;
        let signature = parse_signature_lines(rest.get(1..).unwrap_or_default())
            .map_err(SealError::Signature)?;
        Ok(SignedSeal { seal, signature })
    }

    /// Checks a KMS signature under `public_key_der` (DER SubjectPublicKeyInfo). An unsigned
    /// seal is `Ok(false)`: whether that counts is the caller's trust decision.
    pub fn verify(&self, public_key_der: &[u8]) -> Result<bool, SealError> {
        match &self.signature {
            Signature::Unsigned => Ok(false),
            Signature::Kms { der, .. } => verify_p256(public_key_der, &self.seal.digest(), der)
                .map(|()| true)
                .map_err(SealError::BadSignature),
        }
    }
}

fn malformed(line: usize, expected: &'static str, found: &str) -> SealError {
    SealError::Malformed {
        line,
        expected,
        found: found.chars().take(80).collect(),
    }
}

/// The value after `<label> ` on a line, with the line's number and text for errors.
fn labelled<'a>(
    (line, text): (usize, &'a str),
    label: &str,
    expected: &'static str,
) -> Result<(usize, &'a str, &'a str), SealError> {
    text.strip_prefix(label)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| malformed(line, expected, text))
        .map(|value| (line, value, text))
}

/// `body` ends with its last line's newline.
fn parse_body(body: &str) -> Result<Seal, SealError> {
    let mut lines = body.strip_suffix('\n').unwrap_or(body).split('\n');
    let mut number = 0;
    let mut next = |expected: &'static str| {
        number += 1;
        let line = number;
        lines
            .next()
            .map(|text| (line, text))
            .ok_or(SealError::MissingLine { line, expected })
    };
    const FORMAT: &str = "the format line `signal-ledger-audit-seal/1`";
    let (line, format) = next(FORMAT)?;
    if format != SEAL_FORMAT {
        return Err(malformed(line, FORMAT, format));
    }
    let (_, origin) = next("the origin")?;
    check_origin(origin)?;
    const SEQ: &str = "`seal ` and the sequence number in decimal without leading zeros";
    let (line, value, text) = labelled(next(SEQ)?, "seal", SEQ)?;
    let seq = parse_decimal(value).ok_or_else(|| malformed(line, SEQ, text))?;
    let mut time = |label: &str, expected: &'static str| -> Result<Timestamp, SealError> {
        let (line, value, text) = labelled(next(expected)?, label, expected)?;
        Timestamp::parse_canonical(value).map_err(|_| malformed(line, expected, text))
    };
    let from = time("from", "`from ` and a canonical timestamp")?;
    let to = time("to", "`to ` and a canonical timestamp")?;
    const COUNT: &str = "`count ` and the event count in decimal without leading zeros";
    let (line, value, text) = labelled(next(COUNT)?, "count", COUNT)?;
    let count = parse_decimal(value).ok_or_else(|| malformed(line, COUNT, text))?;
    let mut hash = |label: &str, expected: &'static str| -> Result<Hash, SealError> {
        let (line, value, text) = labelled(next(expected)?, label, expected)?;
        value.parse().map_err(|_| malformed(line, expected, text))
    };
    let root = hash("root", "`root ` and 64 lowercase hex digits")?;
    let events_sha256 = hash("events", "`events ` and 64 lowercase hex digits")?;
    let previous = hash("previous", "`previous ` and 64 lowercase hex digits")?;
    let sealed_at = {
        const TIME: &str = "`time ` and a canonical timestamp";
        let (line, value, text) = labelled(next(TIME)?, "time", TIME)?;
        Timestamp::parse_canonical(value).map_err(|_| malformed(line, TIME, text))?
    };
    if let Some(extra) = lines.next() {
        return Err(malformed(11, "the blank line that ends the body", extra));
    }
    if from >= to {
        return Err(SealError::EmptyWindow { from, to });
    }
    if (seq == 0) != (previous == Hash::ZERO) {
        return Err(SealError::BadGenesis);
    }
    Ok(Seal {
        origin: origin.to_owned(),
        seq,
        from,
        to,
        count,
        root,
        events_sha256,
        previous,
        time: sealed_at,
    })
}

/// The object key of a seal note: `integrity/audit-seals/<seq, 20 digits>-<compact time>.txt`.
pub fn seal_key(seq: u64, time: &Timestamp) -> String {
    format!("{SEAL_PREFIX}{seq:020}-{}.txt", compact(time))
}

/// The object key of a seal's events file, beside its note.
pub fn events_key(seq: u64, time: &Timestamp) -> String {
    format!("{SEAL_PREFIX}{seq:020}-{}.events", compact(time))
}

/// Whether `key` is a key the sealer writes (a note or an events file).
pub fn is_seal_object_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(SEAL_PREFIX) else {
        return false;
    };
    let (stem, ext) = match rest.rsplit_once('.') {
        Some((stem, ext @ ("txt" | "events"))) => (stem, ext),
        _ => return false,
    };
    let _ = ext;
    stem.len() == 20 + 1 + 22
        && stem.as_bytes().get(20) == Some(&b'-')
        && stem
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 20 || b.is_ascii_alphanumeric())
}

/// `YYYYMMDDTHHMMSSffffffZ`.
fn compact(time: &Timestamp) -> String {
    time.as_str()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// What is wrong with the sequence of trusted seals, each naming the seal's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// The first seal is not seal 0, or seals `expected..found` are missing.
    Gap {
        key: String,
        expected: u64,
        found: u64,
    },
    /// The seal names no seal of the number before it by digest, or does not start where the
    /// one it names ended.
    BrokenLink { key: String, reason: String },
    /// The note is not stored under the key its content gives.
    WrongKey { key: String, expected: String },
}

/// Checks that `seals` (key, seal), sorted by sequence number (then key), form one chain: 0, 1,
/// 2, … each naming the digest of a seal numbered one less and starting where that one ended.
/// Two trusted seals with one number (two sweeps that ran at once, both signed by the ledger's
/// key) are not a problem: each must link to the seal before them, and each is re-verified on
/// its own; later seals continue from either.
pub fn check_chain(seals: &[(String, Seal)]) -> Vec<ChainProblem> {
    let mut problems = Vec::new();
    let mut before: Vec<&Seal> = Vec::new();
    let mut current: Vec<&Seal> = Vec::new();
    for (key, seal) in seals {
        let expected_key = seal_key(seal.seq, &seal.time);
        if *key != expected_key {
            problems.push(ChainProblem::WrongKey {
                key: key.clone(),
                expected: expected_key,
            });
        }
        let current_seq = current.first().map(|c| c.seq);
        if current_seq != Some(seal.seq) {
            let expected = current_seq.map_or(0, |s| s + 1);
            before = std::mem::take(&mut current);
            if seal.seq != expected {
                problems.push(ChainProblem::Gap {
                    key: key.clone(),
                    expected,
                    found: seal.seq,
                });
                before.clear();
            }
        }
        current.push(seal);
        if before.is_empty() {
            continue;
        }
        match before.iter().find(|b| b.digest() == seal.previous) {
            None => problems.push(ChainProblem::BrokenLink {
                key: key.clone(),
                reason: format!(
                    "it names {} as the previous seal's digest, but no seal {} has it",
                    seal.previous,
                    seal.seq.saturating_sub(1)
                ),
            }),
            Some(named) if seal.from != named.to => problems.push(ChainProblem::BrokenLink {
                key: key.clone(),
                reason: format!(
                    "its window starts at {}, but seal {} ended at {}",
                    seal.from, named.seq, named.to
                ),
            }),
            Some(_) => {}
        }
    }
    problems
}

/// How the table differs from a seal, event by event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDifference {
    /// The event under `key` is not the one sealed: its leaf is `computed`, not `sealed`.
    Changed {
        key: AuditKey,
        sealed: Hash,
        computed: Hash,
    },
    /// A sealed event is no longer in the table.
    Missing { key: AuditKey },
    /// An event in the sealed window that the seal does not list.
    Added { key: AuditKey },
}

/// Compares the sealed events with the events the table holds now in the same window; both in
/// key order (as [`Seal::parse_events`] returns them, and as the table is read).
pub fn compare_events(sealed: &[SealedEvent], current: &[SealedEvent]) -> Vec<EventDifference> {
    let mut differences = Vec::new();
    let (mut s, mut c) = (sealed.iter().peekable(), current.iter().peekable());
    loop {
        let order = match (s.peek(), c.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => by_key(a, b),
        };
        match order {
            Ordering::Less => {
                if let Some(gone) = s.next() {
                    differences.push(EventDifference::Missing { key: gone.key() });
                }
            }
            Ordering::Greater => {
                if let Some(new) = c.next() {
                    differences.push(EventDifference::Added { key: new.key() });
                }
            }
            Ordering::Equal => {
                if let (Some(a), Some(b)) = (s.next(), c.next())
                    && a.leaf != b.leaf
                {
                    differences.push(EventDifference::Changed {
                        key: a.key(),
                        sealed: a.leaf,
                        computed: b.leaf,
                    });
                }
            }
        }
    }
    differences
}

#[cfg(test)]
#[path = "audit_seal_tests.rs"]
mod tests;
