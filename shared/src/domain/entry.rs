//! Ledger entries, their canonical byte encoding and their hash (see `docs/ledger-format.md`).
//!
//! Promise: [`Entry::write_canonical`] covers every field of an entry, tag by tag in one fixed
//! order, each value length-prefixed, after a domain-separation header with the format version —
//! so the encoding is injective and any change to any field changes [`Entry::compute_hash`].
//! The entry hash is the RFC 6962 leaf hash of the canonical bytes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::decimal::ExactDecimal;
use crate::domain::hash::{Hash, LEAF_PREFIX};
use crate::domain::signal::{Action, SCHEMA_VERSION, SignalContent, SignalId};
use crate::domain::timestamp::{Timestamp, TimestampError};

/// Domain-separation header of the canonical encoding: ASCII, then a 0x00 terminator.
pub const ENCODING_DOMAIN: &[u8] = b"SIGNAL-LEDGER/ENTRY\0";
/// Version of the canonical encoding, written big-endian after the domain.
pub const ENCODING_VERSION: u16 = 1;
/// The actor recorded when a request carries no caller identity (e.g. local runs).
pub const ANONYMOUS: &str = "anonymous";

/// Field tags of the canonical encoding, in the order they are written.
pub mod tag {
    pub const SCHEMA_VERSION: u8 = 0x01;
    pub const CHAIN_INDEX: u8 = 0x02;
    pub const PREVIOUS_HASH: u8 = 0x03;
    pub const SIGNAL_ID: u8 = 0x04;
    pub const SYMBOL: u8 = 0x05;
    pub const ACTION: u8 = 0x06;
    pub const ENTRY_PRICE: u8 = 0x07;
    pub const TARGET_PRICE: u8 = 0x08;
    pub const STOP_LOSS: u8 = 0x09;
    pub const CONFIDENCE: u8 = 0x0A;
    pub const RATIONALE: u8 = 0x0B;
    pub const GENERATED_AT: u8 = 0x0C;
    pub const PRODUCER: u8 = 0x0D;
    pub const MODEL: u8 = 0x0E;
    pub const MODEL_VERSION: u8 = 0x0F;
    pub const RECEIVED_AT: u8 = 0x10;
    pub const DELIVERY_LATENCY_MS: u8 = 0x11;
    pub const RETENTION_EXPIRES_AT: u8 = 0x12;
    pub const SUBMITTER: u8 = 0x13;
}

/// One stored signal: the validated content plus the chain fields the ledger adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub schema_version: u64,
    pub chain_index: u64,
    pub previous_hash: Hash,
    pub signal_id: SignalId,
    #[serde(flatten)]
    pub content: SignalContent,
    pub received_at: Timestamp,
    /// `received_at − generated_at` in whole milliseconds (negative when the producer's clock is ahead).
    pub delivery_latency_ms: i64,
    /// `received_at` + the retention period; the entry may not be disposed of before.
    pub retention_expires_at: Timestamp,
    /// Who appended it: the caller's principal, or [`ANONYMOUS`].
    pub submitter: String,
}

/// Where a new entry goes and what the server knows about its arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub chain_index: u64,
    pub previous_hash: Hash,
    pub received_at: Timestamp,
    pub retention_days: u32,
    pub submitter: String,
}

impl Entry {
    /// Builds the entry a signal becomes at `placement`. Fails only when the retention date would
    /// fall outside the years 0000–9999.
    pub fn assemble(
        signal_id: SignalId,
        content: SignalContent,
        placement: Placement,
    ) -> Result<Entry, TimestampError> {
        let retention_expires_at = placement.received_at.plus_days(placement.retention_days)?;
        Ok(Entry {
            schema_version: SCHEMA_VERSION,
            chain_index: placement.chain_index,
            previous_hash: placement.previous_hash,
            delivery_latency_ms: placement.received_at.millis_since(&content.generated_at),
            signal_id,
            content,
            received_at: placement.received_at,
            retention_expires_at,
            submitter: placement.submitter,
        })
    }

    /// The entry's fields, borrowed: what the canonical encoding is written from.
    pub fn fields(&self) -> EntryFields<'_> {
        let content = &self.content;
        EntryFields {
            schema_version: self.schema_version,
            chain_index: self.chain_index,
            previous_hash: self.previous_hash,
            signal_id: self.signal_id.as_str(),
            symbol: &content.symbol,
            action: content.action,
            entry_price: content.entry_price.as_str(),
            target_price: content.target_price.as_ref().map(ExactDecimal::as_str),
            stop_loss: content.stop_loss.as_ref().map(ExactDecimal::as_str),
            confidence: content.confidence.as_ref().map(ExactDecimal::as_str),
            rationale: &content.rationale,
            generated_at: content.generated_at,
            producer: content.producer.as_deref(),
            model: content.model.as_deref(),
            model_version: content.model_version.as_deref(),
            received_at: self.received_at,
            delivery_latency_ms: self.delivery_latency_ms,
            retention_expires_at: self.retention_expires_at,
            submitter: &self.submitter,
        }
    }

    /// Writes the canonical encoding into `sink`.
    pub fn write_canonical(&self, sink: &mut impl CanonicalSink) {
        self.fields().write_canonical(sink);
    }

    /// The canonical encoding as bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(512);
        self.write_canonical(&mut bytes);
        bytes
    }

    /// `SHA-256(0x00 || canonical bytes)`: the entry hash, which is also its RFC 6962 leaf hash.
    /// Streams the encoding straight into the hasher; no buffer is allocated.
    pub fn compute_hash(&self) -> Hash {
        self.fields().compute_hash()
    }
}

/// An entry's fields borrowed from wherever they are held — an [`Entry`], or the cells of a
/// backup row being verified, which need not be copied into one — with the text of each
/// decimal as stored (canonical). The one place the canonical encoding is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryFields<'a> {
    pub schema_version: u64,
    pub chain_index: u64,
    pub previous_hash: Hash,
    pub signal_id: &'a str,
    pub symbol: &'a str,
    pub action: Action,
    pub entry_price: &'a str,
    pub target_price: Option<&'a str>,
    pub stop_loss: Option<&'a str>,
    pub confidence: Option<&'a str>,
    pub rationale: &'a str,
    pub generated_at: Timestamp,
    pub producer: Option<&'a str>,
    pub model: Option<&'a str>,
    pub model_version: Option<&'a str>,
    pub received_at: Timestamp,
    pub delivery_latency_ms: i64,
    pub retention_expires_at: Timestamp,
    pub submitter: &'a str,
}

impl EntryFields<'_> {
    /// Writes the canonical encoding into `sink`.
    pub fn write_canonical(&self, sink: &mut impl CanonicalSink) {
        sink.put(ENCODING_DOMAIN);
        sink.put(&ENCODING_VERSION.to_be_bytes());
        field(
            sink,
            tag::SCHEMA_VERSION,
            &self.schema_version.to_be_bytes(),
        );
        field(sink, tag::CHAIN_INDEX, &self.chain_index.to_be_bytes());
        field(sink, tag::PREVIOUS_HASH, self.previous_hash.as_bytes());
        field(sink, tag::SIGNAL_ID, self.signal_id.as_bytes());
        field(sink, tag::SYMBOL, self.symbol.as_bytes());
        field(sink, tag::ACTION, action_bytes(self.action));
        field(sink, tag::ENTRY_PRICE, self.entry_price.as_bytes());
        optional_text(sink, tag::TARGET_PRICE, self.target_price);
        optional_text(sink, tag::STOP_LOSS, self.stop_loss);
        optional_text(sink, tag::CONFIDENCE, self.confidence);
        field(sink, tag::RATIONALE, self.rationale.as_bytes());
        timestamp(sink, tag::GENERATED_AT, &self.generated_at);
        optional_text(sink, tag::PRODUCER, self.producer);
        optional_text(sink, tag::MODEL, self.model);
        optional_text(sink, tag::MODEL_VERSION, self.model_version);
        timestamp(sink, tag::RECEIVED_AT, &self.received_at);
        field(
            sink,
            tag::DELIVERY_LATENCY_MS,
            &self.delivery_latency_ms.to_be_bytes(),
        );
        timestamp(sink, tag::RETENTION_EXPIRES_AT, &self.retention_expires_at);
        field(sink, tag::SUBMITTER, self.submitter.as_bytes());
    }

    /// `SHA-256(0x00 || canonical bytes)` (see [`Entry::compute_hash`]). The small pieces of
    /// the encoding are gathered in a buffer on the stack and handed to the hasher a block run
    /// at a time, rather than one hasher call per piece.
    pub fn compute_hash(&self) -> Hash {
        let mut sink = BufferedHasher::new();
        sink.put(&[LEAF_PREFIX]);
        self.write_canonical(&mut sink);
        sink.finish()
    }
}

/// A [`CanonicalSink`] that gathers bytes in a fixed buffer and hashes them when it is full.
struct BufferedHasher {
    hasher: Sha256,
    buffer: [u8; 512],
    used: usize,
}

impl BufferedHasher {
    fn new() -> BufferedHasher {
        BufferedHasher {
            hasher: Sha256::new(),
            buffer: [0; 512],
            used: 0,
        }
    }

    fn finish(mut self) -> Hash {
        self.hasher.update(&self.buffer[..self.used]);
        Hash(self.hasher.finalize().into())
    }
}

impl CanonicalSink for BufferedHasher {
    fn put(&mut self, bytes: &[u8]) {
        if self.used + bytes.len() > self.buffer.len() {
            self.hasher.update(&self.buffer[..self.used]);
            self.used = 0;
        }
        match self.buffer.get_mut(self.used..self.used + bytes.len()) {
            Some(free) => {
                free.copy_from_slice(bytes);
                self.used += bytes.len();
            }
            // Longer than the buffer (a long rationale): straight to the hasher.
            None => self.hasher.update(bytes),
        }
    }
}

/// Where canonical bytes go: a buffer, or straight into a hasher.
pub trait CanonicalSink {
    fn put(&mut self, bytes: &[u8]);
}

impl CanonicalSink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl CanonicalSink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

fn field(sink: &mut impl CanonicalSink, tag: u8, value: &[u8]) {
    // Every value is far below 4 GiB (the largest, the rationale, is at most 16 KB of UTF-8).
    let length = u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes();
    sink.put(&[tag, length[0], length[1], length[2], length[3]]);
    sink.put(value);
}

fn optional_text(sink: &mut impl CanonicalSink, tag: u8, value: Option<&str>) {
    if let Some(value) = value {
        field(sink, tag, value.as_bytes());
    }
}

fn timestamp(sink: &mut impl CanonicalSink, tag: u8, value: &Timestamp) {
    field(sink, tag, value.as_str().as_bytes());
}

fn action_bytes(action: Action) -> &'static [u8] {
    action.as_str().as_bytes()
}

/// An entry as read back from storage: its fields and the hash stored beside them, which
/// verification recomputes rather than trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    #[serde(flatten)]
    pub entry: Entry,
    pub entry_hash: Hash,
}

impl StoredEntry {
    /// Pairs an entry with its freshly computed hash, ready to be written.
    pub fn seal(entry: Entry) -> StoredEntry {
        let entry_hash = entry.compute_hash();
        StoredEntry { entry, entry_hash }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::domain::chain::verify_chain;
    use crate::domain::merkle;
    use crate::domain::test_support::{chain, content, timestamp};

    #[derive(Deserialize)]
    struct Vectors {
        encoding_version: u16,
        entries: Vec<EntryVector>,
        roots: Vec<RootVector>,
        inclusion_proofs: Vec<InclusionVector>,
        consistency_proofs: Vec<ConsistencyVector>,
    }
    #[derive(Deserialize)]
    struct EntryVector {
        fields: Entry,
        canonical_hex: String,
        entry_hash: Hash,
    }
    #[derive(Deserialize)]
    struct RootVector {
        tree_size: usize,
        root: Hash,
    }
    #[derive(Deserialize)]
    struct InclusionVector {
        leaf_index: u64,
        tree_size: u64,
        proof: Vec<Hash>,
    }
    #[derive(Deserialize)]
    struct ConsistencyVector {
        old_size: u64,
        new_size: u64,
        proof: Vec<Hash>,
    }

    #[test]
    fn known_answer_vectors() {
        let vectors: Vectors =
            serde_json::from_str(include_str!("../../../docs/vectors/entries.json")).unwrap();
        assert_eq!(vectors.encoding_version, ENCODING_VERSION);
        let mut stored = Vec::new();
        for (position, vector) in vectors.entries.into_iter().enumerate() {
            assert_eq!(
                hex::encode(vector.fields.canonical_bytes()),
                vector.canonical_hex,
                "entry {position}"
            );
            assert_eq!(
                vector.fields.compute_hash(),
                vector.entry_hash,
                "entry {position}"
            );
            stored.push(StoredEntry {
                entry: vector.fields,
                entry_hash: vector.entry_hash,
            });
        }
        assert!(verify_chain(&stored, Some(stored.len() as u64)).is_intact());
        let leaves: Vec<Hash> = stored.iter().map(|s| s.entry_hash).collect();
        let root_of = |size: u64| {
            vectors
                .roots
                .iter()
                .find(|r| r.tree_size as u64 == size)
                .unwrap()
                .root
        };
        for root in &vectors.roots {
            assert_eq!(merkle::root(&leaves[..root.tree_size]), root.root);
        }
        for proof in &vectors.inclusion_proofs {
            let leaf = &leaves[proof.leaf_index as usize];
            merkle::verify_inclusion(
                leaf,
                proof.leaf_index,
                proof.tree_size,
                &proof.proof,
                &root_of(proof.tree_size),
            )
            .unwrap();
        }
        for proof in &vectors.consistency_proofs {
            let (old, new) = (root_of(proof.old_size), root_of(proof.new_size));
            merkle::verify_consistency(proof.old_size, proof.new_size, &old, &new, &proof.proof)
                .unwrap();
        }
    }

    #[test]
    fn assemble_derives_latency_and_retention() {
        let content = content(1);
        let received_at = timestamp("2026-11-28T09:00:01.500Z");
        let generated_at = content.generated_at;
        let entry = Entry::assemble(
            SignalId::parse("s-1").unwrap(),
            content,
            Placement {
                chain_index: 0,
                previous_hash: Hash::ZERO,
                received_at,
                retention_days: 2555,
                submitter: ANONYMOUS.into(),
            },
        )
        .unwrap();
        assert_eq!(
            entry.delivery_latency_ms,
            received_at.millis_since(&generated_at)
        );
        assert_eq!(
            entry.retention_expires_at,
            received_at.plus_days(2555).unwrap()
        );
        assert_eq!(entry.schema_version, SCHEMA_VERSION);
    }

    #[test]
    fn the_encoding_starts_with_its_domain_and_version_and_streams_the_same_bytes() {
        let stored = &chain(1)[0];
        let bytes = stored.entry.canonical_bytes();
        assert!(bytes.starts_with(b"SIGNAL-LEDGER/ENTRY\0\x00\x01"));
        assert_eq!(Hash::leaf(&bytes), stored.entry_hash);
    }

    #[test]
    fn moving_text_between_fields_changes_the_encoding() {
        // Length prefixes make the encoding injective: the same characters split differently
        // across two adjacent fields give different bytes.
        let mut a = chain(1).remove(0).entry;
        a.content.model = Some("ab".into());
        a.content.model_version = Some("c".into());
        let mut b = a.clone();
        b.content.model = Some("a".into());
        b.content.model_version = Some("bc".into());
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
        // An absent optional field differs from an empty one.
        let mut c = a.clone();
        c.content.producer = None;
        let mut d = a.clone();
        d.content.producer = Some(String::new());
        assert_ne!(c.canonical_bytes(), d.canonical_bytes());
    }

    #[test]
    fn stored_form_round_trips_through_json() {
        let stored = chain(3).remove(2);
        let json = serde_json::to_string(&stored).unwrap();
        let back: StoredEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stored);
        // A non-canonical stored value is refused rather than silently normalised.
        let tampered = json.replace(
            &format!("\"{}\"", stored.entry.content.entry_price),
            "\"0150.000\"",
        );
        assert!(serde_json::from_str::<StoredEntry>(&tampered).is_err());
    }
}
