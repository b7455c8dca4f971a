//! The ledger's signed checkpoint note, in the spirit of C2SP `tlog-checkpoint` / `signed-note`:
//! a short text naming the log (origin), its tree size and Merkle root, the head entry hash, the
//! time, the compact range needed to extend the tree, and the leaf-hash file written beside it;
//! then a blank line and exactly one signature line (a KMS ECDSA P-256 signature, or an explicit
//! `— unsigned` marker). Also: the leaf-hash file's encoding and the object keys of both files.
//!
//! Promise: one text per checkpoint. `SignedCheckpoint::parse` accepts exactly the bytes
//! `to_text` writes and refuses everything else (missing, extra or unknown lines, non-canonical
//! numbers, base64 or hex, a root that is not the root of the stated compact range), so a stored
//! checkpoint cannot be edited into an equivalent-looking one. The signed message is
//! `SHA-256(body)`, which is what KMS `Sign` with `MessageType=DIGEST` and
//! `ECDSA_SHA_256` signs. Pure: no I/O, no clock, no key material beyond what the caller passes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use crate::domain::hash::Hash;
use crate::domain::merkle::{CompactRange, ProofError};
use crate::domain::timestamp::Timestamp;

/// Starts every signature line: U+2014 EM DASH and a space, as in C2SP signed notes.
const SIGNATURE_PREFIX: &str = "— ";
/// The signer-name prefix of a KMS signature; the key id follows.
const KMS_PREFIX: &str = "kms:";
/// The whole signature line (without its newline) when no signing key is configured.
const UNSIGNED: &str = "unsigned";
/// How much of an offending line an error quotes: enough to recognise it, never a whole file.
const EXCERPT_CHARS: usize = 80;

/// Why a checkpoint or a leaf-hash file was refused, or a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("origin {origin:?} {reason}")]
    InvalidOrigin {
        origin: String,
        reason: &'static str,
    },
    #[error("KMS key id {key_id:?} must be non-empty printable ASCII without spaces")]
    InvalidKeyId { key_id: String },
    #[error("head hash {head} does not fit a tree of size {tree_size}: {reason}")]
    InconsistentHead {
        tree_size: u64,
        head: Hash,
        reason: &'static str,
    },
    #[error(
        "leaves [{from}, {to}) must end at the tree size {tree_size} and start at or before it"
    )]
    LeavesRange { from: u64, to: u64, tree_size: u64 },
    #[error(
        "leaves [{from}, {to}) are empty, so their SHA-256 must be that of no bytes, not {sha256}"
    )]
    EmptyLeavesDigest { from: u64, to: u64, sha256: Hash },
    #[error("no blank line ends the body (expected the line after `leaves …` to be empty)")]
    MissingBlankLine,
    #[error("line {line}: expected {expected}, but the body ends before it")]
    MissingLine { line: usize, expected: &'static str },
    #[error("line {line}: expected {expected}, got {found:?}")]
    Malformed {
        line: usize,
        expected: &'static str,
        found: String,
    },
    #[error(
        "line 6: a tree of size {tree_size} has one compact range hash per set bit ({expected}), the line has {got}"
    )]
    RangeShape {
        tree_size: u64,
        expected: u32,
        got: usize,
    },
    #[error(
        "line 3: the root (hex {stated}) is not the root of the compact range on line 6 (hex {computed})"
    )]
    RootMismatch { stated: Hash, computed: Hash },
    #[error(
        "the checkpoint is signed by KMS key {key_id:?} but no public key was given to verify it"
    )]
    MissingPublicKey { key_id: String },
    #[error("the public key is not a DER SubjectPublicKeyInfo of a P-256 key")]
    BadPublicKey,
    #[error(
        "the signature is not a valid ECDSA P-256 signature of the checkpoint digest under this key"
    )]
    BadSignature,
    #[error("leaf-hash file: SHA-256 is {computed}, the checkpoint says {expected}")]
    LeavesDigest { expected: Hash, computed: Hash },
    #[error("leaf-hash file: line {line} is not 64 lowercase hex digits and a newline")]
    LeavesLine { line: u64 },
    #[error("leaf-hash file: {got} hashes, the checkpoint's range [{from}, {to}) needs {expected}")]
    LeavesCount {
        from: u64,
        to: u64,
        expected: u64,
        got: u64,
    },
}

impl CheckpointError {
    /// The refusal's stable code, as `docs/ledger-format.md` §7 names it (shared with the
    /// independent Python checker and the failing vectors).
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointError::InvalidOrigin { .. } => "invalid_origin",
            CheckpointError::InvalidKeyId { .. } => "invalid_key_id",
            CheckpointError::InconsistentHead { .. } => "inconsistent_head",
            CheckpointError::LeavesRange { .. } => "leaves_range",
            CheckpointError::EmptyLeavesDigest { .. } => "empty_leaves_digest",
            CheckpointError::MissingBlankLine => "missing_blank_line",
            CheckpointError::MissingLine { .. } => "missing_line",
            CheckpointError::Malformed { .. } => "malformed_line",
            CheckpointError::RangeShape { .. } => "range_shape",
            CheckpointError::RootMismatch { .. } => "root_mismatch",
            CheckpointError::MissingPublicKey { .. } => "missing_public_key",
            CheckpointError::BadPublicKey => "bad_public_key",
            CheckpointError::BadSignature => "bad_signature",
            CheckpointError::LeavesDigest { .. } => "leaves_digest",
            CheckpointError::LeavesLine { .. } => "leaves_line",
            CheckpointError::LeavesCount { .. } => "leaves_count",
        }
    }
}

/// The leaf-hash file written with a checkpoint: the entry hashes of chain indexes `[from, to)`
/// (those this checkpoint adds to the previous one), so that a sweep finding a different root
/// can pinpoint which entry changed without re-reading older checkpoints' sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeavesRef {
    /// The previous checkpoint's tree size (0 for the first checkpoint).
    pub from: u64,
    /// This checkpoint's tree size.
    pub to: u64,
    /// SHA-256 of the file's bytes, as written by [`encode_leaves`].
    pub sha256: Hash,
}

/// The signed content of a checkpoint. Build one with [`Checkpoint::new`] (or parse one), which
/// keeps `tree_size`, `root` and `head_hash` consistent with `range`. The fields are public for
/// reading; editing them skips those checks, which `parse` applies again to the stored text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root: Hash,
    pub head_hash: Hash,
    pub time: Timestamp,
    pub range: CompactRange,
    pub leaves: LeavesRef,
}

/// The one signature line of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// `— kms:<key id> <base64 of the ASN.1 DER ECDSA signature>`. Build with [`Signature::kms`].
    Kms { key_id: String, der: Vec<u8> },
    /// `— unsigned`: stated explicitly, so a missing signature is a visible fact, not an absence.
    Unsigned,
}

/// A checkpoint and its signature line: the complete note as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub signature: Signature,
}

/// What [`SignedCheckpoint::verify`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// The KMS signature verifies under the given public key.
    Verified { key_id: String },
    /// The note carries the `— unsigned` marker; callers decide how loudly to flag it.
    Unsigned,
}

impl Checkpoint {
    /// Assembles a checkpoint from the extended compact range: the tree size and root are taken
    /// from the range, so they cannot disagree with it.
    pub fn new(
        origin: impl Into<String>,
        range: CompactRange,
        head_hash: Hash,
        time: Timestamp,
        leaves: LeavesRef,
    ) -> Result<Checkpoint, CheckpointError> {
        let origin = origin.into();
        check_origin(&origin)?;
        let tree_size = range.size();
        check_head(tree_size, &head_hash, &range)?;
        if leaves.to != tree_size || leaves.from > leaves.to {
            return Err(CheckpointError::LeavesRange {
                from: leaves.from,
                to: leaves.to,
                tree_size,
            });
        }
        // An empty leaf-hash file has exactly one SHA-256; any other value would be a false claim.
        if leaves.from == leaves.to && leaves.sha256 != Hash::sha256(b"") {
            return Err(CheckpointError::EmptyLeavesDigest {
                from: leaves.from,
                to: leaves.to,
                sha256: leaves.sha256,
            });
        }
        Ok(Checkpoint {
            origin,
            tree_size,
            root: range.root(),
            head_hash,
            time,
            range,
            leaves,
        })
    }

    /// The body: seven lines, each ending in `\n`. This is the text the signature covers.
    pub fn body(&self) -> String {
        let mut range = String::from("range");
        for hash in self.range.hashes() {
            range.push(' ');
            range.push_str(&hash.to_hex());
        }
        format!(
            "{origin}\n{size}\n{root}\nhead {head}\ntime {time}\n{range}\nleaves {from} {to} {sha}\n",
            origin = self.origin,
            size = self.tree_size,
            root = BASE64.encode(self.root.as_bytes()),
            head = self.head_hash,
            time = self.time.as_str(),
            from = self.leaves.from,
            to = self.leaves.to,
            sha = self.leaves.sha256,
        )
    }

    /// `SHA-256(body)`: the digest KMS signs (`MessageType=DIGEST`, `ECDSA_SHA_256`).
    pub fn digest(&self) -> Hash {
        Hash::sha256(self.body().as_bytes())
    }
}

/// Non-empty printable ASCII. Leading or trailing spaces are refused because they are invisible
/// when the note is read, so two origins that look the same would differ.
fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    let reason = if origin.is_empty() {
        Some("must not be empty")
    } else if !origin.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        Some("must be printable ASCII")
    } else if origin.starts_with(' ') || origin.ends_with(' ') {
        Some("must not start or end with a space")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CheckpointError::InvalidOrigin {
            origin: origin.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The head entry hash is a Merkle leaf, so it is tied to the range: the empty log's head is
/// the zero hash (entry 0's `previous_hash`), a real entry hash never is, and when the size is
/// odd the range's last subtree is the single last leaf — the head itself.
fn check_head(tree_size: u64, head: &Hash, range: &CompactRange) -> Result<(), CheckpointError> {
    let reason = if tree_size == 0 && *head != Hash::ZERO {
        Some("the empty log's head is 64 zeros")
    } else if tree_size > 0 && *head == Hash::ZERO {
        Some("a non-empty log's head is an entry hash, never 64 zeros")
    } else if tree_size % 2 == 1 && range.hashes().last() != Some(head) {
        Some("for an odd size it is the last compact range hash (the last leaf)")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CheckpointError::InconsistentHead {
            tree_size,
            head: *head,
            reason,
        }),
        None => Ok(()),
    }
}

impl Signature {
    /// A KMS signature, refusing a key id that would not survive the one-line format.
    pub fn kms(key_id: impl Into<String>, der: Vec<u8>) -> Result<Signature, CheckpointError> {
        let key_id = key_id.into();
        if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CheckpointError::InvalidKeyId { key_id });
        }
        Ok(Signature::Kms { key_id, der })
    }

    /// The signature line and its newline (shared with the audit seal note).
    pub(crate) fn line(&self) -> String {
        match self {
            Signature::Kms { key_id, der } => {
                format!(
                    "{SIGNATURE_PREFIX}{KMS_PREFIX}{key_id} {}\n",
                    BASE64.encode(der)
                )
            }
            Signature::Unsigned => format!("{SIGNATURE_PREFIX}{UNSIGNED}\n"),
        }
    }
}

impl SignedCheckpoint {
    /// The note: body, a blank line, the signature line.
    pub fn to_text(&self) -> String {
        format!("{}\n{}", self.checkpoint.body(), self.signature.line())
    }

    /// Parses exactly what [`SignedCheckpoint::to_text`] writes; see the module promise.
    pub fn parse(text: &str) -> Result<SignedCheckpoint, CheckpointError> {
        let split = text.find("\n\n").ok_or(CheckpointError::MissingBlankLine)?;
        let (body, rest) = (&text[..=split], &text[split + 2..]);
        let checkpoint = parse_body(body)?;
        let signature = parse_signature_lines(rest)?;
        Ok(SignedCheckpoint {
            checkpoint,
            signature,
        })
    }

    /// Checks the signature over [`Checkpoint::digest`]. An unsigned note is reported, not
    /// refused; a KMS signature needs the key's DER SubjectPublicKeyInfo.
    pub fn verify(
        &self,
        public_key_der: Option<&[u8]>,
    ) -> Result<SignatureStatus, CheckpointError> {
        match &self.signature {
            Signature::Unsigned => Ok(SignatureStatus::Unsigned),
            Signature::Kms { key_id, der } => {
                let key = public_key_der.ok_or_else(|| CheckpointError::MissingPublicKey {
                    key_id: key_id.clone(),
                })?;
                verify_p256(key, &self.checkpoint.digest(), der)?;
                Ok(SignatureStatus::Verified {
                    key_id: key_id.clone(),
                })
            }
        }
    }
}

/// Whether `der` is a DER SubjectPublicKeyInfo of a P-256 key (what KMS `GetPublicKey` returns).
pub fn is_p256_public_key(der: &[u8]) -> bool {
    VerifyingKey::from_public_key_der(der).is_ok()
}

/// Verifies an ASN.1 DER ECDSA P-256 signature over a SHA-256 digest (the shapes KMS returns
/// from `Sign` and `GetPublicKey`). A signature that is not even valid DER is `BadSignature`
/// too: to the caller, a garbled signature and a wrong one mean the same thing.
pub fn verify_p256(
    public_key_spki_der: &[u8],
    digest: &Hash,
    signature_der: &[u8],
) -> Result<(), CheckpointError> {
    let key = VerifyingKey::from_public_key_der(public_key_spki_der)
        .map_err(|_| CheckpointError::BadPublicKey)?;
    let signature =
        DerSignature::from_bytes(signature_der).map_err(|_| CheckpointError::BadSignature)?;
    key.verify_prehash(digest.as_bytes(), &signature)
        .map_err(|_| CheckpointError::BadSignature)
}

/// Quotes at most `EXCERPT_CHARS` characters of an offending line.
fn malformed(line: usize, expected: &'static str, found: &str) -> CheckpointError {
    CheckpointError::Malformed {
        line,
        expected,
        found: found.chars().take(EXCERPT_CHARS).collect(),
    }
}

/// `body` ends with its last line's newline (the blank line is not part of it).
fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
    let mut lines = body[..body.len() - 1].split('\n');
    let mut next = |line: usize, expected: &'static str| {
        lines
            .next()
            .ok_or(CheckpointError::MissingLine { line, expected })
    };

    let origin = next(1, "the origin")?;
    // Checked here too, not only in `Checkpoint::new`, so errors come in line order.
    check_origin(origin)?;
    const SIZE: &str = "the tree size in decimal without leading zeros";
    let size_text = next(2, SIZE)?;
    let tree_size = parse_decimal(size_text).ok_or_else(|| malformed(2, SIZE, size_text))?;

    const ROOT: &str = "the root hash in padded standard base64 (44 characters)";
    let root_text = next(3, ROOT)?;
    let root = parse_base64(root_text)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(Hash)
        .ok_or_else(|| malformed(3, ROOT, root_text))?;

    const HEAD: &str = "`head ` and 64 lowercase hex digits";
    let head_text = next(4, HEAD)?;
    let head_hash = head_text
        .strip_prefix("head ")
        .and_then(|hex| hex.parse().ok())
        .ok_or_else(|| malformed(4, HEAD, head_text))?;

    const TIME: &str = "`time ` and a canonical timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ";
    let time_text = next(5, TIME)?;
    let time = time_text
        .strip_prefix("time ")
        .and_then(|time| Timestamp::parse_canonical(time).ok())
        .ok_or_else(|| malformed(5, TIME, time_text))?;

    const RANGE: &str = "`range` and one space before each 64-hex-digit hash";
    let range_text = next(6, RANGE)?;
    let hashes = if range_text == "range" {
        Some(Vec::new())
    } else {
        range_text
            .strip_prefix("range ")
            .and_then(|rest| rest.split(' ').map(|hex| hex.parse().ok()).collect())
    }
    .ok_or_else(|| malformed(6, RANGE, range_text))?;
    let range = CompactRange::from_parts(tree_size, hashes).map_err(|error| match error {
        ProofError::CompactRangeShape { hashes, .. } => CheckpointError::RangeShape {
            tree_size,
            expected: tree_size.count_ones(),
            got: hashes,
        },
        _ => malformed(6, RANGE, range_text),
    })?;

    const LEAVES: &str = "`leaves <from> <to> <64 lowercase hex digits>`";
    let leaves_text = next(7, LEAVES)?;
    let leaves = parse_leaves_line(leaves_text).ok_or_else(|| malformed(7, LEAVES, leaves_text))?;

    if let Some(extra) = lines.next() {
        return Err(malformed(8, "the blank line that ends the body", extra));
    }
    let checkpoint = Checkpoint::new(origin, range, head_hash, time, leaves)?;
    if checkpoint.root != root {
        return Err(CheckpointError::RootMismatch {
            stated: root,
            computed: checkpoint.root,
        });
    }
    Ok(checkpoint)
}

fn parse_leaves_line(line: &str) -> Option<LeavesRef> {
    let mut fields = line.split(' ');
    let label = fields.next()?;
    let from = parse_decimal(fields.next()?)?;
    let to = parse_decimal(fields.next()?)?;
    let sha256 = fields.next()?.parse().ok()?;
    (label == "leaves" && fields.next().is_none()).then_some(LeavesRef { from, to, sha256 })
}

/// What follows the blank line: exactly one signature line and its newline, nothing else.
pub(crate) fn parse_signature_lines(rest: &str) -> Result<Signature, CheckpointError> {
    const SIGNATURE: &str = "`— kms:<key id> <base64 DER signature>` or `— unsigned`";
    let Some((line, after)) = rest.split_once('\n') else {
        return Err(malformed(9, "a signature line ending in a newline", rest));
    };
    if !after.is_empty() {
        let extra = after.split('\n').next().unwrap_or_default();
        return Err(malformed(
            10,
            "the end of the note after its one signature line",
            extra,
        ));
    }
    let content = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or_else(|| malformed(9, SIGNATURE, line))?;
    if content == UNSIGNED {
        return Ok(Signature::Unsigned);
    }
    let (key_id, der) = content
        .strip_prefix(KMS_PREFIX)
        .and_then(|signed| signed.split_once(' '))
        .and_then(|(key_id, text)| Some((key_id, parse_base64(text)?)))
        .filter(|(_, der)| !der.is_empty())
        .ok_or_else(|| malformed(9, SIGNATURE, line))?;
    Signature::kms(key_id, der)
}

/// `0` or a digit string without leading zeros that fits in a u64 (`u64::from_str` alone would
/// also accept `+7` and `007`).
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = text.bytes().all(|b| b.is_ascii_digit())
        && !text.is_empty()
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// Padded standard base64 in its one canonical spelling: re-encoding must give the same text.
fn parse_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = BASE64.decode(text).ok()?;
    (BASE64.encode(&bytes) == text).then_some(bytes)
}

/// Length of one leaf-hash line: 64 hex digits and `\n`.
const LEAF_LINE: usize = 65;

/// The leaf-hash file: one entry hash per line, 64 lowercase hex digits, each line ending `\n`.
pub fn encode_leaves(hashes: &[Hash]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(hashes.len() * LEAF_LINE);
    for hash in hashes {
        bytes.extend_from_slice(hash.to_hex().as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

/// Parses a leaf-hash file against the checkpoint that names it: the SHA-256 first (a changed
/// file is reported as such, whatever its content), then the strict line format, then the count.
pub fn parse_leaves(bytes: &[u8], expected: &LeavesRef) -> Result<Vec<Hash>, CheckpointError> {
    let computed = Hash::sha256(bytes);
    if computed != expected.sha256 {
        return Err(CheckpointError::LeavesDigest {
            expected: expected.sha256,
            computed,
        });
    }
    let mut hashes = Vec::with_capacity(bytes.len() / LEAF_LINE);
    for (line, chunk) in (1u64..).zip(bytes.chunks(LEAF_LINE)) {
        let hash = match chunk.split_last() {
            Some((b'\n', hex)) => std::str::from_utf8(hex)
                .ok()
                .and_then(|hex| hex.parse().ok()),
            _ => None,
        };
        hashes.push(hash.ok_or(CheckpointError::LeavesLine { line })?);
    }
    // `usize` is at most 64 bits on every target Rust supports, so this never truncates.
    let got = hashes.len() as u64;
    if expected.to.checked_sub(expected.from) != Some(got) {
        return Err(CheckpointError::LeavesCount {
            from: expected.from,
            to: expected.to,
            expected: expected.to.saturating_sub(expected.from),
            got,
        });
    }
    Ok(hashes)
}

/// A leaf-hash file read piece by piece (never held whole): [`LeavesStream::feed`] hands each
/// well-formed line's hash on as it is read, and [`LeavesStream::finish`] judges the whole file
/// exactly as [`parse_leaves`] does — the SHA-256 first, then the first malformed line, then the
/// count. A caller must treat the hashes handed on as provisional until `finish` accepts the file.
#[derive(Debug, Clone, Default)]
pub struct LeavesStream {
    hasher: sha2::Sha256,
    /// The bytes of an unfinished line (fewer than [`LEAF_LINE`]).
    partial: Vec<u8>,
    /// Complete lines read.
    lines: u64,
    /// The first malformed line; no hash is handed on from it on.
    bad_line: Option<u64>,
}

impl LeavesStream {
    pub fn new() -> LeavesStream {
        LeavesStream::default()
    }

    /// Reads the next bytes of the file, calling `each(n, hash)` for the `n`th (0-based) line.
    pub fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(u64, Hash)) {
        use sha2::Digest;
        self.hasher.update(bytes);
        if !self.partial.is_empty() {
            let take = (LEAF_LINE - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() == LEAF_LINE {
                let line = std::mem::take(&mut self.partial);
                self.line(&line, &mut each);
            }
        }
        let mut lines = bytes.chunks_exact(LEAF_LINE);
        for line in &mut lines {
            self.line(line, &mut each);
        }
        self.partial.extend_from_slice(lines.remainder());
    }

    fn line(&mut self, line: &[u8], each: &mut impl FnMut(u64, Hash)) {
        let number = self.lines;
        self.lines += 1;
        if self.bad_line.is_some() {
            return;
        }
        match parse_leaf_line(line) {
            Some(hash) => each(number, hash),
            None => self.bad_line = Some(number + 1),
        }
    }

    /// Judges the whole file against the checkpoint that names it; `Ok` with the count of leaves.
    pub fn finish(self, expected: &LeavesRef) -> Result<u64, CheckpointError> {
        use sha2::Digest;
        let computed = Hash(self.hasher.finalize().into());
        if computed != expected.sha256 {
            return Err(CheckpointError::LeavesDigest {
                expected: expected.sha256,
                computed,
            });
        }
        if let Some(line) = self.bad_line {
            return Err(CheckpointError::LeavesLine { line });
        }
        let got = self.lines;
        if !self.partial.is_empty() {
            // A last line without its newline (or cut short) is malformed.
            return Err(CheckpointError::LeavesLine { line: got + 1 });
        }
        if expected.to.checked_sub(expected.from) != Some(got) {
            return Err(CheckpointError::LeavesCount {
                from: expected.from,
                to: expected.to,
                expected: expected.to.saturating_sub(expected.from),
                got,
            });
        }
        Ok(got)
    }
}

/// One line of a leaf-hash file: 64 lowercase hex digits and `\n`.
fn parse_leaf_line(line: &[u8]) -> Option<Hash> {
    let (last, hex) = line.split_last()?;
    if *last != b'\n' {
        return None;
    }
    Hash::from_lower_hex(hex)
}

/// `checkpoints/<size, 20 digits>-<YYYYMMDDTHHMMSSffffffZ>.txt`. Both parts are fixed width
/// (u64 has at most 20 digits; timestamps span years 0000–9999), so key order is size, then time.
pub fn object_key(tree_size: u64, time: &Timestamp) -> String {
    key(tree_size, time, "txt")
}

/// The leaf-hash file's key: [`object_key`] with `.leaves` instead of `.txt`.
pub fn leaves_key(tree_size: u64, time: &Timestamp) -> String {
    key(tree_size, time, "leaves")
}

/// Whether `key` has the shape of a checkpoint object key: `checkpoints/`, 20 digits, `-`, a
/// compact time `YYYYMMDDTHHMMSSffffffZ`, and `.txt` or `.leaves`. Anything else under the prefix
/// was not written by the sweep.
pub fn is_object_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("checkpoints/") else {
        return false;
    };
    let Some(stem) = rest
        .strip_suffix(".txt")
        .or_else(|| rest.strip_suffix(".leaves"))
    else {
        return false;
    };
    let bytes = stem.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    bytes.len() == 43
        && digits(0..20)
        && bytes[20] == b'-'
        && digits(21..29)
        && bytes[29] == b'T'
        && digits(30..42)
        && bytes[42] == b'Z'
}

fn key(tree_size: u64, time: &Timestamp, extension: &str) -> String {
    let compact: String = time
        .as_str()
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .collect();
    format!("checkpoints/{tree_size:020}-{compact}.{extension}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use proptest::prelude::*;

    fn leaf(i: u64) -> Hash {
        Hash::leaf(&i.to_le_bytes())
    }

    fn time() -> Timestamp {
        Timestamp::parse_canonical("2026-11-28T09:30:00.123456Z").unwrap()
    }

    /// The checkpoint over leaves `0..size` that follows one at `from`, with its leaf-hash file.
    fn checkpoint(size: u64, from: u64) -> (Checkpoint, Vec<u8>) {
        let mut range = CompactRange::new();
        (0..size).for_each(|i| range.append(leaf(i)));
        let head = if size == 0 {
            Hash::ZERO
        } else {
            leaf(size - 1)
        };
        let file = encode_leaves(&(from..size).map(leaf).collect::<Vec<_>>());
        let leaves = LeavesRef {
            from,
            to: size,
            sha256: Hash::sha256(&file),
        };
        let checkpoint =
            Checkpoint::new("signal-ledger:test", range, head, time(), leaves).unwrap();
        (checkpoint, file)
    }

    fn fixture() -> SignedCheckpoint {
        SignedCheckpoint {
            checkpoint: checkpoint(7, 4).0,
            signature: Signature::kms(
                "alias/ledger",
                vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            )
            .unwrap(),
        }
    }

    const FIXTURE: &str = "signal-ledger:test\n\
        7\n\
        Rmvu1N4P8XSHTNr8sBSLQq/EQQwPLgukMNmDPilYbdA=\n\
        head 9ffc24afb6c7dd3c717d0b911151af02e3cdb5bf1e67f18ab69d52b65c1b601e\n\
        time 2026-11-28T09:30:00.123456Z\n\
        range 9656f8043dfd7640896c81198d4fd347e03483cce7a1bfb081cd1fa3f7f916b1 \
        33d138e6bbabc3270cdf24a7fd2a0edbf82f2092dc59204f119f1bbe58e7dd3a \
        9ffc24afb6c7dd3c717d0b911151af02e3cdb5bf1e67f18ab69d52b65c1b601e\n\
        leaves 4 7 57a26551892b22671775310153f4dcd4f89f8cfd0e626168e86dbe5631f531f4\n\
        \n\
        — kms:alias/ledger MAYCAQECAQE=\n";

    #[test]
    fn body_and_digest_are_stable() {
        // Cross-checked with an independent Python computation (hashlib, base64).
        let note = fixture();
        assert_eq!(note.to_text(), FIXTURE);
        assert_eq!(
            note.checkpoint.digest().to_hex(),
            "cb5c89833432306b4919fb9de9ee912f57a98e1c0ba52bcfc4ff09e5753cf239"
        );
        assert_eq!(SignedCheckpoint::parse(FIXTURE).unwrap(), note);
    }

    #[test]
    fn empty_log_note() {
        let note = SignedCheckpoint {
            checkpoint: checkpoint(0, 0).0,
            signature: Signature::Unsigned,
        };
        let zeros = "0".repeat(64);
        let expected = format!(
            "signal-ledger:test\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nhead {zeros}\n\
             time 2026-11-28T09:30:00.123456Z\nrange\nleaves 0 0 {}\n\n— unsigned\n",
            Hash::sha256(b"")
        );
        assert_eq!(note.to_text(), expected);
        assert_eq!(SignedCheckpoint::parse(&expected).unwrap(), note);
    }

    #[test]
    fn malformed_notes_are_refused_naming_the_problem() {
        let other_root = BASE64.encode(leaf(99).as_bytes());
        let range_line = FIXTURE.lines().nth(5).unwrap();
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "missing time line",
                FIXTURE.replace("time 2026-11-28T09:30:00.123456Z\n", ""),
                "line 5: expected `time ",
            ),
            (
                "missing leaves line",
                FIXTURE.replace("leaves 4 7 ", "\nleaves 4 7 "),
                "line 7: expected `leaves",
            ),
            (
                "extra body line",
                FIXTURE.replace("\n\n", "\nnote x\n\n"),
                "line 8: expected the blank line",
            ),
            (
                "non-canonical size",
                FIXTURE.replace("\n7\n", "\n007\n"),
                "line 2: expected the tree size",
            ),
            ("signed size", FIXTURE.replace("\n7\n", "\n+7\n"), "line 2:"),
            (
                "bad base64",
                FIXTURE.replace("Rmvu1N4P", "Rmvu1N4!"),
                "line 3: expected the root hash",
            ),
            ("unpadded base64", FIXTURE.replace("bdA=", "bdA"), "line 3:"),
            (
                "non-canonical base64 bits",
                FIXTURE.replace("bdA=", "bdB="),
                "line 3:",
            ),
            (
                "root not matching range",
                FIXTURE.replace("Rmvu1N4P8XSHTNr8sBSLQq/EQQwPLgukMNmDPilYbdA=", &other_root),
                "line 3: the root (hex",
            ),
            (
                "wrong popcount",
                FIXTURE.replace(
                    "33d138e6bbabc3270cdf24a7fd2a0edbf82f2092dc59204f119f1bbe58e7dd3a ",
                    "",
                ),
                "line 6: a tree of size 7 has one compact range hash per set bit (3), the line has 2",
            ),
            (
                "size not matching range",
                FIXTURE.replace("\n7\n", "\n6\n"),
                "line 6: a tree of size 6",
            ),
            (
                "range double space",
                FIXTURE.replace("b1 33", "b1  33"),
                "line 6: expected `range`",
            ),
            (
                "range trailing space",
                FIXTURE.replace(range_line, &format!("{range_line} ")),
                "line 6:",
            ),
            (
                "head not hex",
                FIXTURE.replace("head 9ffc", "head 9FFC"),
                "line 4: expected `head `",
            ),
            (
                "head of another entry",
                FIXTURE.replace("head 9ffc24af", "head 0ffc24af"),
                "head hash",
            ),
            (
                "time not canonical",
                FIXTURE.replace("09:30:00.123456Z", "09:30:00.123Z"),
                "line 5: expected `time `",
            ),
            (
                "leaves not ending at size",
                FIXTURE.replace("leaves 4 7", "leaves 4 6"),
                "leaves [4, 6) must end at the tree size 7",
            ),
            (
                "leaves extra field",
                FIXTURE.replace("\n\n", " x\n\n"),
                "line 7:",
            ),
            (
                "empty origin",
                format!("\n{FIXTURE}"),
                "origin \"\" must not be empty",
            ),
            (
                "origin with CR",
                FIXTURE.replace("test\n", "test\r\n"),
                "must be printable ASCII",
            ),
            (
                "two signature lines",
                format!("{FIXTURE}— unsigned\n"),
                "line 10: expected the end of the note",
            ),
            (
                "missing blank line",
                FIXTURE.replace("\n\n", "\n"),
                "no blank line ends the body",
            ),
            ("trailing garbage", format!("{FIXTURE}x"), "line 10:"),
            ("trailing blank line", format!("{FIXTURE}\n"), "line 10:"),
            (
                "no final newline",
                FIXTURE.trim_end_matches('\n').to_owned(),
                "line 9: expected a signature line ending in a newline",
            ),
            (
                "no signature line",
                FIXTURE.replace("— kms:alias/ledger MAYCAQECAQE=\n", ""),
                "line 9:",
            ),
            (
                "unsigned with extra text",
                FIXTURE.replace("kms:alias/ledger MAYCAQECAQE=", "unsigned please"),
                "line 9: expected `— kms:",
            ),
            (
                "hyphen instead of em dash",
                FIXTURE.replace("— ", "- "),
                "line 9:",
            ),
            (
                "unknown signer",
                FIXTURE.replace("kms:", "ed25519:"),
                "line 9:",
            ),
            (
                "empty signature",
                FIXTURE.replace(" MAYCAQECAQE=", " "),
                "line 9:",
            ),
            (
                "signature without key id",
                FIXTURE.replace("kms:alias/ledger ", "kms: "),
                "KMS key id \"\"",
            ),
        ];
        for (name, text, message) in cases {
            assert_ne!(text, FIXTURE, "{name}: the mutation must change the note");
            let error = SignedCheckpoint::parse(&text).expect_err(name).to_string();
            assert!(
                error.contains(message),
                "{name}: {error:?} lacks {message:?}"
            );
        }
    }

    #[test]
    fn new_refuses_inconsistent_parts() {
        let (good, _) = checkpoint(7, 4);
        let build = |origin: &str, head: Hash, leaves: LeavesRef| {
            Checkpoint::new(origin, good.range.clone(), head, time(), leaves)
        };
        let leaves = good.leaves;
        assert!(build("", good.head_hash, leaves).is_err());
        assert!(build(" x", good.head_hash, leaves).is_err());
        assert!(build("ledger—prod", good.head_hash, leaves).is_err());
        assert!(build("signal ledger", good.head_hash, leaves).is_ok());
        assert!(build("x", leaf(5), leaves).is_err());
        assert!(build("x", Hash::ZERO, leaves).is_err());
        assert!(build("x", good.head_hash, LeavesRef { from: 8, ..leaves }).is_err());
        assert!(build("x", good.head_hash, LeavesRef { to: 8, ..leaves }).is_err());
        let empty = LeavesRef {
            from: 7,
            to: 7,
            sha256: leaves.sha256,
        };
        assert!(matches!(
            build("x", good.head_hash, empty),
            Err(CheckpointError::EmptyLeavesDigest { .. })
        ));
        assert!(
            Checkpoint::new(
                "x",
                CompactRange::new(),
                leaf(0),
                time(),
                LeavesRef {
                    from: 0,
                    to: 0,
                    sha256: Hash::sha256(b"")
                }
            )
            .is_err()
        );
        assert!(Signature::kms("key id", vec![1]).is_err());
        assert!(Signature::kms("", vec![1]).is_err());
    }

    /// The DER SubjectPublicKeyInfo KMS `GetPublicKey` returns for a P-256 key: the fixed RFC 5480
    /// header (id-ecPublicKey, prime256v1, a 66-byte BIT STRING) and the uncompressed point. Built
    /// by hand so the test does not need the `pem` feature that `EncodePublicKey` sits behind.
    fn spki_der(key: &SigningKey) -> Vec<u8> {
        let header = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        [header.as_slice(), point.as_bytes()].concat()
    }

    #[test]
    fn signatures_verify_with_the_right_key_only() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let public = spki_der(&key);
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        let other_public = spki_der(&other);

        let checkpoint = checkpoint(7, 4).0;
        let der: DerSignature = key.sign_prehash(checkpoint.digest().as_bytes()).unwrap();
        let signed = SignedCheckpoint {
            checkpoint: checkpoint.clone(),
            signature: Signature::kms("alias/ledger", der.as_bytes().to_vec()).unwrap(),
        };
        let parsed = SignedCheckpoint::parse(&signed.to_text()).unwrap();
        assert_eq!(parsed, signed);
        assert_eq!(
            parsed.verify(Some(public.as_slice())),
            Ok(SignatureStatus::Verified {
                key_id: "alias/ledger".to_owned()
            })
        );
        assert_eq!(
            parsed.verify(Some(other_public.as_slice())),
            Err(CheckpointError::BadSignature)
        );
        assert!(matches!(
            parsed.verify(None),
            Err(CheckpointError::MissingPublicKey { .. })
        ));
        assert_eq!(
            parsed.verify(Some(b"not a key")),
            Err(CheckpointError::BadPublicKey)
        );

        // Any flipped byte, in the DER structure or the scalars, is a bad signature.
        for index in 0..der.as_bytes().len() {
            let mut flipped = der.as_bytes().to_vec();
            flipped[index] ^= 0x01;
            assert_eq!(
                verify_p256(public.as_slice(), &checkpoint.digest(), &flipped),
                Err(CheckpointError::BadSignature),
                "byte {index}"
            );
        }
        // The signature covers the body: another time is another digest.
        let mut moved = signed.clone();
        moved.checkpoint.time = Timestamp::parse_canonical("2026-11-28T09:30:00.123457Z").unwrap();
        assert_eq!(
            moved.verify(Some(public.as_slice())),
            Err(CheckpointError::BadSignature)
        );

        let unsigned = SignedCheckpoint {
            checkpoint,
            signature: Signature::Unsigned,
        };
        assert_eq!(
            unsigned.verify(Some(public.as_slice())),
            Ok(SignatureStatus::Unsigned)
        );
        assert_eq!(unsigned.verify(None), Ok(SignatureStatus::Unsigned));
    }

    #[test]
    fn leaf_files_are_checked_against_their_checkpoint() {
        let (checkpoint, file) = checkpoint(7, 4);
        let expected = checkpoint.leaves;
        assert_eq!(
            parse_leaves(&file, &expected).unwrap(),
            vec![leaf(4), leaf(5), leaf(6)]
        );

        let mut edited = file.clone();
        edited[0] = b'0';
        assert!(matches!(
            parse_leaves(&edited, &expected),
            Err(CheckpointError::LeavesDigest { .. })
        ));

        // With the digest matching, the format and count are still checked.
        let check = |bytes: &[u8], from: u64, to: u64| {
            parse_leaves(
                bytes,
                &LeavesRef {
                    from,
                    to,
                    sha256: Hash::sha256(bytes),
                },
            )
        };
        assert_eq!(
            check(&file, 3, 7),
            Err(CheckpointError::LeavesCount {
                from: 3,
                to: 7,
                expected: 4,
                got: 3
            })
        );
        assert_eq!(
            check(&file[..file.len() - 1], 4, 7),
            Err(CheckpointError::LeavesLine { line: 3 })
        );
        assert_eq!(
            check(&file.to_ascii_uppercase(), 4, 7),
            Err(CheckpointError::LeavesLine { line: 1 })
        );
        assert_eq!(
            check(&[file.as_slice(), b"\n"].concat(), 4, 7),
            Err(CheckpointError::LeavesLine { line: 4 })
        );
        assert_eq!(check(b"", 7, 7), Ok(Vec::new()));
    }

    #[test]
    fn object_keys_sort_by_size_then_time() {
        let early = time();
        let late = Timestamp::parse_canonical("2027-01-02T03:04:05.000006Z").unwrap();
        assert_eq!(
            object_key(7, &early),
            "checkpoints/00000000000000000007-20261128T093000123456Z.txt"
        );
        assert_eq!(
            leaves_key(7, &early),
            "checkpoints/00000000000000000007-20261128T093000123456Z.leaves"
        );
        assert_eq!(
            object_key(u64::MAX, &late),
            "checkpoints/18446744073709551615-20270102T030405000006Z.txt"
        );
        let mut keys = vec![
            object_key(10, &early),
            object_key(9, &late),
            object_key(9, &early),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                object_key(9, &early),
                object_key(9, &late),
                object_key(10, &early)
            ]
        );
    }

    proptest! {
        #[test]
        fn notes_and_leaf_files_round_trip(size in 0u64..300, from_pick in 0u64..300, signed in any::<bool>(), der in proptest::collection::vec(any::<u8>(), 1..80)) {
            let from = from_pick % (size + 1);
            let (checkpoint, file) = checkpoint(size, from);
            let signature = if signed { Signature::kms("arn:aws:kms:eu-west-1:1:key/k", der).unwrap() } else { Signature::Unsigned };
            let note = SignedCheckpoint { checkpoint, signature };
            let text = note.to_text();
            prop_assert_eq!(SignedCheckpoint::parse(&text).unwrap(), note.clone());
            let hashes = parse_leaves(&file, &note.checkpoint.leaves).unwrap();
            prop_assert_eq!(hashes, (from..size).map(leaf).collect::<Vec<_>>());
        }
    }

    /// Streams `file` in pieces of `piece` bytes: the hashes handed on and the verdict.
    fn streamed(
        file: &[u8],
        piece: usize,
        expected: &LeavesRef,
    ) -> (Vec<Hash>, Result<u64, CheckpointError>) {
        let mut stream = LeavesStream::new();
        let mut hashes = Vec::new();
        for chunk in file.chunks(piece.max(1)) {
            stream.feed(chunk, |n, hash| {
                assert_eq!(n, hashes.len() as u64);
                hashes.push(hash);
            });
        }
        (hashes, stream.finish(expected))
    }

    proptest! {
        /// The streamed reading gives parse_leaves's verdict and hashes, whatever the pieces,
        /// on intact files and on files with a byte changed, cut, or added.
        #[test]
        fn a_streamed_leaf_file_is_judged_as_parse_leaves_judges_it(
            n in 0u64..20, piece in 1usize..200, change in 0usize..4, at in any::<prop::sample::Index>(),
            byte in any::<u8>(), honest_digest in any::<bool>(),
        ) {
            let mut file = encode_leaves(&(0..n).map(leaf).collect::<Vec<_>>());
            match change {
                1 if !file.is_empty() => { let i = at.index(file.len()); file[i] = byte; }
                2 if !file.is_empty() => { file.truncate(at.index(file.len())); }
                3 => file.push(byte),
                _ => {}
            }
            let expected = LeavesRef {
                from: 3,
                to: 3 + n,
                sha256: if honest_digest { Hash::sha256(&file) } else { Hash::sha256(b"x") },
            };
            let (hashes, verdict) = streamed(&file, piece, &expected);
            match parse_leaves(&file, &expected) {
                Ok(parsed) => {
                    prop_assert_eq!(verdict.unwrap(), parsed.len() as u64);
                    prop_assert_eq!(hashes, parsed);
                }
                Err(error) => prop_assert_eq!(verdict.unwrap_err(), error),
            }
        }
    }
}
