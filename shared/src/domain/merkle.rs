//! RFC 6962 / RFC 9162 Merkle tree hashing over the ledger's entry hashes: tree roots, inclusion
//! and consistency proofs with their verifiers, and the O(log n) compact range a growing log
//! keeps so it never has to rehash old entries.
//!
//! Promise: every function here computes exactly what RFC 9162 section 2.1 specifies (checked
//! against the certificate-transparency test tree in `docs/vectors/merkle.json`), so any
//! independent RFC 9162 implementation can verify the proofs we hand out. Inputs are leaf hashes
//! (`Hash::leaf` of the entry bytes), never raw entries.

use crate::domain::hash::Hash;

/// Why a proof could not be produced or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error(
        "a consistency proof needs 0 < old size <= new size, got old size {old_size} and new size {new_size}"
    )]
    InvalidSizes { old_size: u64, new_size: u64 },
    #[error("the proof has {got} hashes but these tree sizes need exactly {expected}")]
    WrongProofLength { expected: usize, got: usize },
    #[error("the proof leads to old root {computed}, not the claimed {expected}")]
    OldRootMismatch { expected: Hash, computed: Hash },
    #[error("the proof leads to root {computed}, not the claimed {expected}")]
    RootMismatch { expected: Hash, computed: Hash },
    #[error("a compact range of size {size} holds one hash per set bit of the size, not {hashes}")]
    CompactRangeShape { size: u64, hashes: usize },
}

/// The root of the empty tree: RFC 6962 defines it as the hash of the empty string.
fn empty_root() -> Hash {
    Hash::sha256(b"")
}

/// The largest power of two strictly less than `n` (`n >= 2`): RFC 6962's split point `k`.
fn split(n: usize) -> usize {
    1 << (n - 1).ilog2()
}

/// `usize` is at most 64 bits on every target Rust supports, so this never truncates.
fn len_u64(leaves: &[Hash]) -> u64 {
    leaves.len() as u64
}

/// RFC 6962 MTH: the Merkle tree hash of `leaves`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            Hash::node(&root(left), &root(right))
        }
    }
}

/// RFC 6962 `PATH(m, D[n])`: the sibling hashes from leaf `index` up to the root, bottom first.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let out_of_range = ProofError::IndexOutOfRange {
        index,
        tree_size: len_u64(leaves),
    };
    let position = usize::try_from(index).map_err(|_| out_of_range.clone())?;
    if position >= leaves.len() {
        return Err(out_of_range);
    }
    let mut proof = Vec::new();
    path(position, leaves, &mut proof);
    Ok(proof)
}

fn path(index: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    if index < k {
        path(index, left, proof);
        proof.push(root(right));
    } else {
        path(index - k, right, proof);
        proof.push(root(left));
    }
}

/// RFC 6962 `PROOF(m, D[n])` with `m = old_size` and `n = leaves.len()`.
///
/// RFC 9162 defines consistency only for `0 < m`: nothing can be proven about an empty tree, so
/// `old_size == 0` is `InvalidSizes`, as is `old_size > n`. `old_size == n` gives the empty proof.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let new_size = len_u64(leaves);
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::InvalidSizes { old_size, new_size });
    }
    let mut proof = Vec::new();
    // `old_size <= leaves.len()`, so it fits in a usize.
    subproof(old_size as usize, leaves, true, &mut proof);
    Ok(proof)
}

/// RFC 6962 `SUBPROOF(m, D[n], b)`. `complete` is true while the old tree is still a prefix that
/// ends exactly at a subtree the verifier already knows the hash of (its own old root).
fn subproof(m: usize, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    if m == leaves.len() {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    if m <= k {
        subproof(m, left, complete, proof);
        proof.push(root(right));
    } else {
        subproof(m - k, right, false, proof);
        proof.push(root(left));
    }
}

/// How the path from `index` in a tree of `size` splits: `inner` levels below the point where
/// the path joins the tree's right border, then one hash per set bit of the border above it.
fn decompose(index: u64, size: u64) -> (u32, u32) {
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (inner, border) = decompose(index, size);
    (inner + border) as usize
}

/// Requires `0 < old_size < new_size`. The proof is the inclusion path of the old tree's last
/// leaf, minus the levels inside the old tree's rightmost perfect subtree (the verifier starts
/// from that subtree's hash), plus that hash itself unless it is the whole old tree.
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let (inner, border) = decompose(old_size - 1, new_size);
    let seed = u32::from(!old_size.is_power_of_two());
    (inner - old_size.trailing_zeros() + border + seed) as usize
}

/// Moves both cursors one level up the tree.
fn shift(fn_: &mut u64, sn: &mut u64) {
    *fn_ >>= 1;
    *sn >>= 1;
}

/// RFC 9162 section 2.1.3.2: checks that `leaf` sits at `index` in the tree of `tree_size`
/// leaves whose root is `root`.
///
/// The exact proof length is checked first, which gives a precise error and subsumes the RFC's
/// "`sn` must reach 0 exactly when the proof runs out" checks.
///
/// A proof fixes the index and the shape of the path, not the tree size: another size whose
/// path has the same shape (leaf 0 in sizes 3 and 4, say) accepts the same proof. So `root` and
/// `tree_size` must come together from one signed checkpoint, as RFC 9162 tree heads do.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    let expected = inclusion_proof_len(index, tree_size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, tree_size - 1);
    let mut computed = *leaf;
    for sibling in proof {
        if fn_ & 1 == 1 || fn_ == sn {
            computed = Hash::node(sibling, &computed);
            // On the right border, levels where this node has no right sibling are skipped.
            while fn_ & 1 == 0 && fn_ != 0 {
                shift(&mut fn_, &mut sn);
            }
        } else {
            computed = Hash::node(&computed, sibling);
        }
        shift(&mut fn_, &mut sn);
    }
    debug_assert_eq!(
        sn, 0,
        "the length check guarantees the path reaches the root"
    );
    if computed != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            computed,
        });
    }
    Ok(())
}

/// RFC 9162 section 2.1.4.2: checks that the tree of `old_size` leaves with `old_root` is a
/// prefix of the tree of `new_size` leaves with `new_root`.
///
/// Sizes follow [`consistency_proof`]: `old_size == 0` or `old_size > new_size` is
/// `InvalidSizes`; `old_size == new_size` needs an empty proof and equal roots. As with
/// [`verify_inclusion`], each size must come with its root from one signed checkpoint.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::InvalidSizes { old_size, new_size });
    }
    let expected = if old_size == new_size {
        0
    } else {
        consistency_proof_len(old_size, new_size)
    };
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if old_size == new_size {
        if old_root != new_root {
            return Err(ProofError::RootMismatch {
                expected: *new_root,
                computed: *old_root,
            });
        }
        return Ok(());
    }
    // Step 2: when the old tree is a perfect subtree its hash is the old root, so the proof
    // omits it and the verifier starts from the root it already has.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        // Never empty after the length check; the error keeps this path panic-free.
        proof
            .split_first()
            .ok_or(ProofError::WrongProofLength { expected, got: 0 })?
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        shift(&mut fn_, &mut sn);
    }
    let (mut old_computed, mut new_computed) = (*seed, *seed);
    for hash in rest {
        if fn_ & 1 == 1 || fn_ == sn {
            old_computed = Hash::node(hash, &old_computed);
            new_computed = Hash::node(hash, &new_computed);
            while fn_ & 1 == 0 && fn_ != 0 {
                shift(&mut fn_, &mut sn);
            }
        } else {
            // Hashes to the right of the old tree only contribute to the new root.
            new_computed = Hash::node(&new_computed, hash);
        }
        shift(&mut fn_, &mut sn);
    }
    debug_assert_eq!(
        sn, 0,
        "the length check guarantees the path reaches the root"
    );
    if old_computed != *old_root {
        return Err(ProofError::OldRootMismatch {
            expected: *old_root,
            computed: old_computed,
        });
    }
    if new_computed != *new_root {
        return Err(ProofError::RootMismatch {
            expected: *new_root,
            computed: new_computed,
        });
    }
    Ok(())
}

/// The right edge of a log that grows from leaf 0: the roots of the perfect subtrees given by
/// the binary decomposition of `size`, largest (leftmost) first. That is all the state needed to
/// append and to compute the root, so it can be persisted with a checkpoint and resumed.
///
/// Invariant: `hashes.len() == size.count_ones()`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "CompactRangeParts")]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

/// The unchecked wire form; deserialisation goes through `from_parts` so a corrupt checkpoint
/// cannot produce a range that breaks the invariant.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CompactRangeParts {
    size: u64,
    hashes: Vec<Hash>,
}

impl TryFrom<CompactRangeParts> for CompactRange {
    type Error = ProofError;

    fn try_from(parts: CompactRangeParts) -> Result<Self, Self::Error> {
        CompactRange::from_parts(parts.size, parts.hashes)
    }
}

impl CompactRange {
    /// The empty log.
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    /// Rebuilds a range from persisted parts, refusing any shape `append` could not produce.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<CompactRange, ProofError> {
        if len_u64(&hashes) != u64::from(size.count_ones()) {
            return Err(ProofError::CompactRangeShape {
                size,
                hashes: hashes.len(),
            });
        }
        Ok(CompactRange { size, hashes })
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash. Like incrementing a binary counter: each trailing one bit of the
    /// old size is a perfect subtree exactly as large as the one being carried, so the two merge.
    /// Amortised O(1) hashes per append.
    pub fn append(&mut self, leaf: Hash) {
        let mut carry = leaf;
        for _ in 0..self.size.trailing_ones() {
            let left = self
                .hashes
                .pop()
                .expect("the invariant gives one hash per set bit of size");
            carry = Hash::node(&left, &carry);
        }
        self.hashes.push(carry);
        self.size = self
            .size
            .checked_add(1)
            .expect("a log cannot physically reach 2^64 entries");
    }

    /// The Merkle tree hash of the leaves appended so far, equal to [`root`] over them: RFC
    /// 6962 splits at the largest power of two below the size, which is exactly the leftmost
    /// subtree, so the root folds right to left as `node(h1, node(h2, ... hk))`.
    pub fn root(&self) -> Hash {
        let mut hashes = self.hashes.iter().rev();
        match hashes.next() {
            None => empty_root(),
            Some(last) => hashes.fold(*last, |right, left| Hash::node(left, &right)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        empty_root: Hash,
        leaf_inputs: Vec<String>,
        leaf_hashes: Vec<Hash>,
        roots: Vec<RootVector>,
        inclusion_proofs: Vec<InclusionVector>,
        consistency_proofs: Vec<ConsistencyVector>,
    }

    #[derive(serde::Deserialize)]
    struct RootVector {
        tree_size: usize,
        root: Hash,
    }

    #[derive(serde::Deserialize)]
    struct InclusionVector {
        leaf_index: u64,
        tree_size: usize,
        proof: Vec<Hash>,
    }

    #[derive(serde::Deserialize)]
    struct ConsistencyVector {
        old_size: u64,
        new_size: usize,
        proof: Vec<Hash>,
    }

    fn vectors() -> Vectors {
        serde_json::from_str(include_str!("../../../docs/vectors/merkle.json")).unwrap()
    }

    fn h(hex: &str) -> Hash {
        hex.parse().unwrap()
    }

    /// Distinct leaf hashes, so no two positions can be confused by accident.
    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u64)
            .map(|i| Hash::leaf(&i.to_be_bytes()))
            .collect()
    }

    fn flip_bit(hash: &Hash, bit: usize) -> Hash {
        let mut bytes = hash.0;
        bytes[bit / 8] ^= 1 << (bit % 8);
        Hash(bytes)
    }

    #[test]
    fn known_answer_vectors() {
        let v = vectors();
        assert_eq!(root(&[]), v.empty_root);
        assert_eq!(CompactRange::new().root(), v.empty_root);
        for (input, expected) in v.leaf_inputs.iter().zip(&v.leaf_hashes) {
            assert_eq!(Hash::leaf(&hex::decode(input).unwrap()), *expected);
        }
        let mut range = CompactRange::new();
        for r in &v.roots {
            range.append(v.leaf_hashes[r.tree_size - 1]);
            assert_eq!(root(&v.leaf_hashes[..r.tree_size]), r.root);
            assert_eq!(range.root(), r.root);
        }
        let root_of = |size: usize| root(&v.leaf_hashes[..size]);
        for c in &v.inclusion_proofs {
            let tree = &v.leaf_hashes[..c.tree_size];
            assert_eq!(inclusion_proof(tree, c.leaf_index).unwrap(), c.proof);
            let leaf = &tree[c.leaf_index as usize];
            let size = c.tree_size as u64;
            verify_inclusion(leaf, c.leaf_index, size, &c.proof, &root_of(c.tree_size)).unwrap();
        }
        for c in &v.consistency_proofs {
            let tree = &v.leaf_hashes[..c.new_size];
            assert_eq!(consistency_proof(tree, c.old_size).unwrap(), c.proof);
            let (old, new) = (root_of(c.old_size as usize), root_of(c.new_size));
            verify_consistency(c.old_size, c.new_size as u64, &old, &new, &c.proof).unwrap();
        }
    }

    #[test]
    fn vectors_file_agrees_with_published_ct_values() {
        // Guards against the JSON being regenerated wrongly: these come from the CT sources.
        let v = vectors();
        let ct_path = [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ];
        assert_eq!(
            root(&v.leaf_hashes),
            h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
        );
        assert_eq!(inclusion_proof(&v.leaf_hashes, 0).unwrap(), ct_path);
        assert_eq!(consistency_proof(&v.leaf_hashes, 1).unwrap(), ct_path);
        assert_eq!(
            consistency_proof(&v.leaf_hashes[..5], 2).unwrap(),
            [
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ]
        );
    }

    #[test]
    fn edge_cases() {
        let empty = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(root(&[]), empty);
        let one = leaves(1);
        assert_eq!(root(&one), one[0]);
        assert_eq!(inclusion_proof(&one, 0), Ok(vec![]));
        verify_inclusion(&one[0], 0, 1, &[], &one[0]).unwrap();
        assert_eq!(consistency_proof(&one, 1), Ok(vec![]));
        verify_consistency(1, 1, &one[0], &one[0], &[]).unwrap();

        let tree = leaves(5);
        let tree_root = root(&tree);
        let out_of_range = ProofError::IndexOutOfRange {
            index: 5,
            tree_size: 5,
        };
        assert_eq!(inclusion_proof(&tree, 5), Err(out_of_range.clone()));
        assert_eq!(
            inclusion_proof(&tree, u64::MAX).unwrap_err().to_string(),
            format!("leaf index {} is not in a tree of size 5", u64::MAX)
        );
        assert_eq!(
            verify_inclusion(&tree[0], 5, 5, &[], &tree_root),
            Err(out_of_range)
        );
        assert!(inclusion_proof(&[], 0).is_err());

        let too_big = ProofError::InvalidSizes {
            old_size: 6,
            new_size: 5,
        };
        assert_eq!(consistency_proof(&tree, 6), Err(too_big.clone()));
        assert_eq!(
            verify_consistency(6, 5, &tree_root, &tree_root, &[]),
            Err(too_big)
        );
        let zero = ProofError::InvalidSizes {
            old_size: 0,
            new_size: 5,
        };
        assert_eq!(consistency_proof(&tree, 0), Err(zero.clone()));
        assert_eq!(verify_consistency(0, 5, &empty, &tree_root, &[]), Err(zero));
        // Equal sizes: the proof must be empty and the roots equal.
        assert_eq!(
            verify_consistency(5, 5, &tree_root, &tree_root, &[tree_root]),
            Err(ProofError::WrongProofLength {
                expected: 0,
                got: 1
            })
        );
        assert!(matches!(
            verify_consistency(5, 5, &tree[0], &tree_root, &[]),
            Err(ProofError::RootMismatch { .. })
        ));
    }

    #[test]
    fn small_trees_exhaustively() {
        for n in 1..=40 {
            let tree = leaves(n);
            let tree_root = root(&tree);
            for i in 0..n {
                let proof = inclusion_proof(&tree, i as u64).unwrap();
                verify_inclusion(&tree[i], i as u64, n as u64, &proof, &tree_root).unwrap();
            }
            for m in 1..=n {
                let proof = consistency_proof(&tree, m as u64).unwrap();
                let old_root = root(&tree[..m]);
                verify_consistency(m as u64, n as u64, &old_root, &tree_root, &proof).unwrap();
            }
        }
    }

    #[test]
    fn compact_range_matches_root_for_every_prefix_up_to_300() {
        let tree = leaves(300);
        let mut range = CompactRange::new();
        for n in 1..=tree.len() {
            range.append(tree[n - 1]);
            assert_eq!(range.size(), n as u64);
            assert_eq!(range.hashes().len(), n.count_ones() as usize);
            assert_eq!(range.root(), root(&tree[..n]));
        }
    }

    #[test]
    fn compact_range_rejects_bad_shapes() {
        let shape = ProofError::CompactRangeShape { size: 3, hashes: 1 };
        assert_eq!(CompactRange::from_parts(3, vec![Hash::ZERO]), Err(shape));
        assert_eq!(CompactRange::from_parts(0, vec![]), Ok(CompactRange::new()));
        let json = format!(r#"{{"size":3,"hashes":["{}"]}}"#, Hash::ZERO);
        let err = serde_json::from_str::<CompactRange>(&json).unwrap_err();
        assert!(err.to_string().contains("one hash per set bit"), "{err}");
    }

    /// Which side each inclusion proof hash joins on (true: the sibling is on the right), read
    /// off RFC 6962's recursive PATH rather than the verifier's bit arithmetic.
    fn inclusion_shape(index: u64, n: u64) -> Vec<bool> {
        if n <= 1 {
            return vec![];
        }
        let k = 1 << (n - 1).ilog2();
        let mut shape = if index < k {
            inclusion_shape(index, k)
        } else {
            inclusion_shape(index - k, n - k)
        };
        shape.push(index < k);
        shape
    }

    /// The same for RFC 6962 SUBPROOF: the branch taken at each level, and whether the old
    /// tree's rightmost subtree hash (`2`) opens the proof.
    fn consistency_shape(m: u64, n: u64, complete: bool) -> Vec<u8> {
        if m == n {
            return if complete { vec![] } else { vec![2] };
        }
        let k = 1 << (n - 1).ilog2();
        let mut shape = if m <= k {
            consistency_shape(m, k, complete)
        } else {
            consistency_shape(m - k, n - k, false)
        };
        shape.push(u8::from(m <= k));
        shape
    }

    /// A tree size, a leaf index in it and an old size `1..=n` for consistency.
    fn tree_and_positions() -> impl Strategy<Value = (usize, u64, u64)> {
        (1usize..=300).prop_flat_map(|n| (Just(n), 0..n as u64, 1..=n as u64))
    }

    proptest! {
        #[test]
        fn inclusion_proofs_verify_and_tampering_fails(
            (n, index, _) in tree_and_positions(),
            pick in any::<prop::sample::Index>(),
            bit in 0usize..256,
            other in any::<prop::sample::Index>(),
        ) {
            let tree = leaves(n);
            let tree_root = root(&tree);
            let size = n as u64;
            let leaf = tree[index as usize];
            let proof = inclusion_proof(&tree, index).unwrap();
            prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &tree_root), Ok(()));

            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = pick.index(bad.len());
                bad[at] = flip_bit(&bad[at], bit);
                prop_assert!(verify_inclusion(&leaf, index, size, &bad, &tree_root).is_err());
                prop_assert!(
                    verify_inclusion(&leaf, index, size, &proof[1..], &tree_root).is_err()
                );
            }
            let mut longer = proof.clone();
            longer.push(tree_root);
            prop_assert!(verify_inclusion(&leaf, index, size, &longer, &tree_root).is_err());
            prop_assert!(
                verify_inclusion(&flip_bit(&leaf, bit), index, size, &proof, &tree_root).is_err()
            );
            prop_assert!(
                verify_inclusion(&leaf, index, size, &proof, &flip_bit(&tree_root, bit)).is_err()
            );
            // Any other index, in range or not, is rejected.
            let wrong_index = (index + 1 + other.index(n + 1) as u64) % (size + 2);
            if wrong_index != index {
                prop_assert!(
                    verify_inclusion(&leaf, wrong_index, size, &proof, &tree_root).is_err()
                );
            }
            // Another size that still holds the index is accepted exactly when its path has
            // the same shape (see `verify_inclusion`); all others are rejected.
            let wrong_size = index + 1 + other.index(2 * n) as u64;
            if wrong_size != size {
                let same_shape = inclusion_shape(index, wrong_size) == inclusion_shape(index, size);
                prop_assert_eq!(
                    verify_inclusion(&leaf, index, wrong_size, &proof, &tree_root).is_ok(),
                    same_shape
                );
            }
        }

        #[test]
        fn consistency_proofs_verify_and_tampering_fails(
            (n, _, old_size) in tree_and_positions(),
            pick in any::<prop::sample::Index>(),
            bit in 0usize..256,
            other in any::<prop::sample::Index>(),
        ) {
            let tree = leaves(n);
            let size = n as u64;
            let (old_root, new_root) = (root(&tree[..old_size as usize]), root(&tree));
            let proof = consistency_proof(&tree, old_size).unwrap();
            prop_assert_eq!(
                verify_consistency(old_size, size, &old_root, &new_root, &proof), Ok(())
            );

            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = pick.index(bad.len());
                bad[at] = flip_bit(&bad[at], bit);
                prop_assert!(verify_consistency(old_size, size, &old_root, &new_root, &bad).is_err());
                let short = &proof[..proof.len() - 1];
                prop_assert!(verify_consistency(old_size, size, &old_root, &new_root, short).is_err());
            }
            let mut longer = proof.clone();
            longer.push(new_root);
            prop_assert!(verify_consistency(old_size, size, &old_root, &new_root, &longer).is_err());
            let bad_old = flip_bit(&old_root, bit);
            prop_assert!(verify_consistency(old_size, size, &bad_old, &new_root, &proof).is_err());
            let bad_new = flip_bit(&new_root, bit);
            prop_assert!(verify_consistency(old_size, size, &old_root, &bad_new, &proof).is_err());
            // A different old size is rejected, even with that prefix's genuine root.
            let wrong_old = 1 + other.index(n);
            if wrong_old as u64 != old_size {
                let wrong_old_root = root(&tree[..wrong_old]);
                prop_assert!(
                    verify_consistency(wrong_old as u64, size, &wrong_old_root, &new_root, &proof)
                        .is_err()
                );
            }
            // A different new size is accepted exactly when the proof has the same shape.
            let wrong_new = old_size + other.index(2 * n) as u64;
            if wrong_new != size {
                let same_shape = consistency_shape(old_size, wrong_new, true)
                    == consistency_shape(old_size, size, true);
                prop_assert_eq!(
                    verify_consistency(old_size, wrong_new, &old_root, &new_root, &proof).is_ok(),
                    same_shape
                );
            }
        }

        #[test]
        fn compact_range_resumes_from_parts_and_serde(n in 0usize..=300, extra in 0usize..=40) {
            let tree = leaves(n + extra);
            let mut range = CompactRange::new();
            for leaf in &tree[..n] {
                range.append(*leaf);
            }
            let rebuilt = CompactRange::from_parts(range.size(), range.hashes().to_vec());
            prop_assert_eq!(rebuilt.as_ref(), Ok(&range));
            let json = serde_json::to_string(&range).unwrap();
            let mut resumed: CompactRange = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&resumed, &range);
            for leaf in &tree[n..] {
                resumed.append(*leaf);
            }
            prop_assert_eq!(resumed.root(), root(&tree));

            let mut short = range.hashes().to_vec();
            short.push(Hash::ZERO);
            let shape = ProofError::CompactRangeShape { size: range.size(), hashes: short.len() };
            prop_assert_eq!(CompactRange::from_parts(range.size(), short), Err(shape));
        }
    }
}
