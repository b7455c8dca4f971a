//! The proofs an auditor verifies (`docs/ledger-format.md` section 13): the JSON documents the
//! ingest function URL serves (an inclusion proof of one entry, a consistency proof between two
//! checkpoints, each carrying the signed notes it verifies against), the tree nodes a proof is
//! made of (so a reader fetches exactly those hashes, never the whole tree), and the verifier of
//! a document against trusted public keys.
//!
//! Promises:
//! - [`inclusion_nodes`] and [`consistency_nodes`] name, in proof order, the subtrees whose
//!   roots are RFC 6962 `PATH(m, D[n])` and `PROOF(m, D[n])`: hashing them gives exactly what
//!   `merkle::inclusion_proof` / `merkle::consistency_proof` compute from all the leaves;
//! - [`verify_inclusion_document`] / [`verify_consistency_document`] accept a document only when
//!   its note parses, names the expected origin, is signed by one of the given keys (an unsigned
//!   note never verifies), the document's size and root are the note's, and the path verifies
//!   (RFC 9162). Pure: no I/O, no clock.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::domain::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::domain::hash::Hash;
use crate::domain::merkle::{self, CompactRange, ProofError};

/// `GET /signals/{signal_id}/proof`: the entry's leaf, where it sits, the path to the root and
/// the signed note that fixes the root and the size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofDocument {
    pub signal_id: String,
    pub chain_index: u64,
    /// The entry hash, i.e. the Merkle leaf hash (64 lowercase hex digits).
    pub entry_hash: Hash,
    pub tree_size: u64,
    /// The note's root, in hex (the note itself writes it in base64).
    pub root: Hash,
    /// RFC 6962 `PATH(chain_index, D[tree_size])`: sibling hashes from the leaf up to the root.
    pub inclusion_path: Vec<Hash>,
    /// The full signed checkpoint note, exactly as stored.
    pub checkpoint: String,
}

/// `GET /proofs/consistency?from=m&to=n`: RFC 6962 `PROOF(m, D[n])` and both signed notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofDocument {
    pub from_tree_size: u64,
    pub from_root: Hash,
    pub to_tree_size: u64,
    pub to_root: Hash,
    /// Empty when the sizes are equal (section 5: the roots must then be equal).
    pub consistency_path: Vec<Hash>,
    pub from_checkpoint: String,
    pub to_checkpoint: String,
}

/// Why a proof document does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofCheckError {
    #[error("no trusted public key was given")]
    NoTrustedKeys,
    #[error("the {which} checkpoint note does not parse: {source}")]
    Note {
        which: &'static str,
        #[source]
        source: CheckpointError,
    },
    #[error("the {which} checkpoint names origin {found:?}, not {expected:?}")]
    Origin {
        which: &'static str,
        found: String,
        expected: String,
    },
    #[error("the {which} checkpoint is unsigned")]
    Unsigned { which: &'static str },
    #[error("the {which} checkpoint's signature verifies under none of the {keys} trusted key(s)")]
    Untrusted { which: &'static str, keys: usize },
    #[error("the document says {field} {document}, but its {which} checkpoint says {note}")]
    Disagrees {
        which: &'static str,
        field: &'static str,
        document: String,
        note: String,
    },
    #[error("the proof does not verify: {0}")]
    Proof(#[from] ProofError),
}

/// The largest power of two strictly less than `n` (`n >= 2`): RFC 6962's split point.
fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// The subtrees `[start, end)` whose roots make up `PATH(index, D[tree_size])`, leaf to root.
pub fn inclusion_nodes(index: u64, tree_size: u64) -> Result<Vec<Range<u64>>, ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    let mut nodes = Vec::new();
    let mut bounds = Vec::new();
    let (mut start, mut end) = (0, tree_size);
    // Walk down from the root; each step's sibling is pushed, then reversed to leaf-to-root.
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            bounds.push(start + k..end);
            end = start + k;
        } else {
            bounds.push(start..start + k);
            start += k;
        }
    }
    while let Some(node) = bounds.pop() {
        nodes.push(node);
    }
    Ok(nodes)
}

/// The subtrees whose roots make up `PROOF(old_size, D[new_size])` (RFC 6962 `SUBPROOF`), in
/// proof order; empty when the sizes are equal.
pub fn consistency_nodes(old_size: u64, new_size: u64) -> Result<Vec<Range<u64>>, ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::InvalidSizes { old_size, new_size });
    }
    if old_size == new_size {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start:end], complete), unrolled: siblings are collected root first.
    let mut siblings = Vec::new();
    let (mut m, mut start, mut end, mut complete) = (old_size, 0, new_size, true);
    let head = loop {
        let n = end - start;
        if m == n {
            break (!complete).then_some(start..end);
        }
        let k = split(n);
        if m <= k {
            siblings.push(start + k..end);
            end = start + k;
        } else {
            siblings.push(start..start + k);
            m -= k;
            start += k;
            complete = false;
        }
    };
    Ok(head.into_iter().chain(siblings.into_iter().rev()).collect())
}

/// The compact range of the leaves `[start, range.size())` of a log whose compact range (from
/// leaf 0) is `range`, when `start` is where one of its subtrees begins (or its end); `None`
/// otherwise. For a node `[a, b)` of an RFC 6962 tree and a size `s` with `a ≤ s < b`, `a` always
/// is; for `s = b` only when `[a, b)` is the last subtree of `s`.
pub fn range_suffix(range: &CompactRange, start: u64) -> Option<CompactRange> {
    let size = range.size();
    if start > size {
        return None;
    }
    let mut position = 0u64;
    let mut boundary = start == size;
    let mut kept = Vec::new();
    let mut hashes = range.hashes().iter();
    for bit in (0..64).rev() {
        let width = 1u64 << bit;
        if size & width == 0 {
            continue;
        }
        let hash = hashes.next()?;
        boundary |= position == start;
        if position >= start {
            kept.push(*hash);
        }
        position += width;
    }
    if !boundary {
        return None;
    }
    CompactRange::from_parts(size - start, kept).ok()
}

/// The root of the subtree `[start, start + range.size() − … )`: the compact range `base` of
/// its first leaves (from [`range_suffix`], or empty) extended by `more` leaves.
pub fn extend_root(mut base: CompactRange, more: &[Hash]) -> Hash {
    for leaf in more {
        base.append(*leaf);
    }
    base.root()
}

/// A note the verifier accepts: parsed, of the expected origin, signed by a trusted key.
fn trusted_note(
    which: &'static str,
    text: &str,
    trusted_keys: &[Vec<u8>],
    origin: &str,
) -> Result<SignedCheckpoint, ProofCheckError> {
    if trusted_keys.is_empty() {
        return Err(ProofCheckError::NoTrustedKeys);
    }
    let signed =
        SignedCheckpoint::parse(text).map_err(|source| ProofCheckError::Note { which, source })?;
    if signed.checkpoint.origin != origin {
        return Err(ProofCheckError::Origin {
            which,
            found: signed.checkpoint.origin.clone(),
            expected: origin.to_owned(),
        });
    }
    if signed.signature == crate::domain::checkpoint::Signature::Unsigned {
        return Err(ProofCheckError::Unsigned { which });
    }
    if !trusted_keys
        .iter()
        .any(|key| signed.verify(Some(key)).is_ok())
    {
        return Err(ProofCheckError::Untrusted {
            which,
            keys: trusted_keys.len(),
        });
    }
    Ok(signed)
}

/// The document's size and root must be the note's: the proof binds both (section 5).
fn agrees(
    which: &'static str,
    signed: &SignedCheckpoint,
    tree_size: u64,
    root: &Hash,
) -> Result<(), ProofCheckError> {
    if signed.checkpoint.tree_size != tree_size {
        return Err(ProofCheckError::Disagrees {
            which,
            field: "tree_size",
            document: tree_size.to_string(),
            note: signed.checkpoint.tree_size.to_string(),
        });
    }
    if signed.checkpoint.root != *root {
        return Err(ProofCheckError::Disagrees {
            which,
            field: "root",
            document: root.to_hex(),
            note: signed.checkpoint.root.to_hex(),
        });
    }
    Ok(())
}

/// Verifies an inclusion proof document against its note, the trusted public keys (DER
/// SubjectPublicKeyInfo, P-256) and the ledger's origin.
pub fn verify_inclusion_document(
    document: &InclusionProofDocument,
    trusted_keys: &[Vec<u8>],
    origin: &str,
) -> Result<(), ProofCheckError> {
    let signed = trusted_note("proof's", &document.checkpoint, trusted_keys, origin)?;
    agrees("proof's", &signed, document.tree_size, &document.root)?;
    merkle::verify_inclusion(
        &document.entry_hash,
        document.chain_index,
        document.tree_size,
        &document.inclusion_path,
        &signed.checkpoint.root,
    )?;
    Ok(())
}

/// Verifies a consistency proof document against both notes, the trusted keys and the origin.
pub fn verify_consistency_document(
    document: &ConsistencyProofDocument,
    trusted_keys: &[Vec<u8>],
    origin: &str,
) -> Result<(), ProofCheckError> {
    let old = trusted_note("from", &document.from_checkpoint, trusted_keys, origin)?;
    let new = trusted_note("to", &document.to_checkpoint, trusted_keys, origin)?;
    agrees("from", &old, document.from_tree_size, &document.from_root)?;
    agrees("to", &new, document.to_tree_size, &document.to_root)?;
    merkle::verify_consistency(
        document.from_tree_size,
        document.to_tree_size,
        &old.checkpoint.root,
        &new.checkpoint.root,
        &document.consistency_path,
    )?;
    Ok(())
}

#[cfg(test)]
#[path = "proof_tests.rs"]
mod tests;
