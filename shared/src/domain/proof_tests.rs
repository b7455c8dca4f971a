//! The proof nodes against the whole-tree RFC 6962 functions, the range arithmetic a reader
//! uses to hash a node from checkpoints, and the document verifier against tampering.

use super::*;
use crate::domain::checkpoint::{Checkpoint, LeavesRef, Signature, encode_leaves};
use crate::domain::merkle::{consistency_proof, inclusion_proof, root};
use crate::domain::test_support::timestamp;
use p256::ecdsa::{DerSignature, SigningKey, signature::hazmat::PrehashSigner};

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| Hash::leaf(&i.to_le_bytes())).collect()
}

fn hash_nodes(leaves: &[Hash], nodes: &[Range<u64>]) -> Vec<Hash> {
    nodes
        .iter()
        .map(|r| root(&leaves[r.start as usize..r.end as usize]))
        .collect()
}

fn compact(leaves: &[Hash]) -> CompactRange {
    let mut range = CompactRange::new();
    for leaf in leaves {
        range.append(*leaf);
    }
    range
}

#[test]
fn inclusion_nodes_hash_to_the_rfc_6962_path() {
    let all = leaves(70);
    for n in 1..=70u64 {
        let tree = &all[..n as usize];
        for index in 0..n {
            let nodes = inclusion_nodes(index, n).unwrap();
            assert_eq!(
                hash_nodes(tree, &nodes),
                inclusion_proof(tree, index).unwrap(),
                "index {index} of {n}"
            );
        }
        assert!(inclusion_nodes(n, n).is_err());
    }
}

#[test]
fn consistency_nodes_hash_to_the_rfc_6962_proof() {
    let all = leaves(70);
    for n in 1..=70u64 {
        let tree = &all[..n as usize];
        for m in 1..n {
            let nodes = consistency_nodes(m, n).unwrap();
            assert_eq!(
                hash_nodes(tree, &nodes),
                consistency_proof(tree, m).unwrap(),
                "{m} to {n}"
            );
        }
        assert_eq!(consistency_nodes(n, n).unwrap(), Vec::<Range<u64>>::new());
        assert!(consistency_nodes(0, n).is_err());
        assert!(consistency_nodes(n + 1, n).is_err());
    }
}

/// Every node of every path, hashed from a checkpoint's compact range inside it plus the leaves
/// after the checkpoint: what the HTTP reader does instead of rehashing the tree.
#[test]
fn a_node_hashes_from_a_checkpoint_inside_it_and_the_leaves_after() {
    let all = leaves(70);
    for n in 1..=70u64 {
        for index in 0..n {
            for node in inclusion_nodes(index, n).unwrap() {
                for checkpoint in node.start..=node.end {
                    let range = compact(&all[..checkpoint as usize]);
                    let Some(base) = range_suffix(&range, node.start) else {
                        assert_eq!(
                            checkpoint, node.end,
                            "inside a node its start is a boundary"
                        );
                        continue;
                    };
                    let hash = extend_root(base, &all[checkpoint as usize..node.end as usize]);
                    assert_eq!(hash, root(&all[node.start as usize..node.end as usize]));
                }
            }
        }
    }
}

#[test]
fn a_suffix_exists_only_at_a_subtree_boundary() {
    let all = leaves(13);
    let range = compact(&all); // 13 = 8 + 4 + 1
    assert_eq!(range_suffix(&range, 0).unwrap(), range);
    assert_eq!(
        range_suffix(&range, 8).unwrap().hashes(),
        &range.hashes()[1..]
    );
    assert_eq!(
        range_suffix(&range, 12).unwrap().hashes(),
        &range.hashes()[2..]
    );
    assert_eq!(range_suffix(&range, 13).unwrap().size(), 0);
    for start in [1, 4, 9, 10, 11, 14] {
        assert_eq!(range_suffix(&range, start), None, "start {start}");
    }
}

// ---- documents -------------------------------------------------------------------------------

const ORIGIN: &str = "signal-ledger:test";

fn spki_der(key: &SigningKey) -> Vec<u8> {
    let header = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    [header.as_slice(), point.as_bytes()].concat()
}

fn note(all: &[Hash], from: u64, key: &SigningKey, origin: &str) -> String {
    let size = all.len() as u64;
    let leaves = LeavesRef {
        from,
        to: size,
        sha256: Hash::sha256(&encode_leaves(&all[from as usize..])),
    };
    let head = all.last().copied().unwrap_or(Hash::ZERO);
    let checkpoint = Checkpoint::new(
        origin,
        compact(all),
        head,
        timestamp("2026-11-28T09:30:00.123456Z"),
        leaves,
    )
    .unwrap();
    let der: DerSignature = key.sign_prehash(checkpoint.digest().as_bytes()).unwrap();
    SignedCheckpoint {
        checkpoint,
        signature: Signature::kms("alias/ledger", der.as_bytes().to_vec()).unwrap(),
    }
    .to_text()
}

fn inclusion_document(key: &SigningKey) -> InclusionProofDocument {
    let all = leaves(11);
    InclusionProofDocument {
        signal_id: "sig-5".into(),
        chain_index: 5,
        entry_hash: all[5],
        tree_size: 11,
        root: root(&all),
        inclusion_path: inclusion_proof(&all, 5).unwrap(),
        checkpoint: note(&all, 4, key, ORIGIN),
    }
}

fn consistency_document(key: &SigningKey) -> ConsistencyProofDocument {
    let all = leaves(11);
    ConsistencyProofDocument {
        from_tree_size: 6,
        from_root: root(&all[..6]),
        to_tree_size: 11,
        to_root: root(&all),
        consistency_path: consistency_proof(&all, 6).unwrap(),
        from_checkpoint: note(&all[..6], 0, key, ORIGIN),
        to_checkpoint: note(&all, 6, key, ORIGIN),
    }
}

#[test]
fn an_inclusion_document_verifies_and_every_tampering_is_refused() {
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
    let trusted = vec![spki_der(&other), spki_der(&key)];
    let good = inclusion_document(&key);
    assert_eq!(verify_inclusion_document(&good, &trusted, ORIGIN), Ok(()));
    // The JSON round-trips exactly.
    let json = serde_json::to_string(&good).unwrap();
    assert_eq!(
        serde_json::from_str::<InclusionProofDocument>(&json).unwrap(),
        good
    );

    let refused = |edit: &dyn Fn(&mut InclusionProofDocument), keys: &[Vec<u8>]| {
        let mut document = good.clone();
        edit(&mut document);
        verify_inclusion_document(&document, keys, ORIGIN).unwrap_err()
    };
    let flip = |hash: &mut Hash| {
        let mut hex = hash.to_hex();
        hex.replace_range(0..1, if hex.starts_with('0') { "1" } else { "0" });
        *hash = hex.parse().unwrap();
    };
    assert!(matches!(
        refused(&|d| flip(&mut d.inclusion_path[1]), &trusted),
        ProofCheckError::Proof(ProofError::RootMismatch { .. })
    ));
    assert!(matches!(
        refused(&|d| flip(&mut d.entry_hash), &trusted),
        ProofCheckError::Proof(ProofError::RootMismatch { .. })
    ));
    assert!(matches!(
        refused(&|d| d.chain_index = 4, &trusted),
        ProofCheckError::Proof(_)
    ));
    assert!(matches!(
        refused(
            &|d| {
                d.inclusion_path.pop();
            },
            &trusted
        ),
        ProofCheckError::Proof(ProofError::WrongProofLength { .. })
    ));
    assert!(matches!(
        refused(&|d| d.tree_size = 12, &trusted),
        ProofCheckError::Disagrees {
            field: "tree_size",
            ..
        }
    ));
    assert!(matches!(
        refused(&|d| flip(&mut d.root), &trusted),
        ProofCheckError::Disagrees { field: "root", .. }
    ));
    assert!(matches!(
        refused(&|_| {}, &[spki_der(&other)]),
        ProofCheckError::Untrusted { keys: 1, .. }
    ));
    assert_eq!(refused(&|_| {}, &[]), ProofCheckError::NoTrustedKeys);
    assert!(matches!(
        refused(
            &|d| d.checkpoint = d.checkpoint.replacen("\n11\n", "\n12\n", 1),
            &trusted
        ),
        ProofCheckError::Note { .. }
    ));
    // A note signed by the trusted key for another log is refused by its origin.
    let all = leaves(11);
    let foreign = note(&all, 4, &key, "signal-ledger:other");
    assert!(matches!(
        refused(&|d| d.checkpoint = foreign.clone(), &trusted),
        ProofCheckError::Origin { .. }
    ));
    // An unsigned note never verifies.
    let signed = SignedCheckpoint::parse(&good.checkpoint).unwrap();
    let unsigned = SignedCheckpoint {
        signature: Signature::Unsigned,
        ..signed
    }
    .to_text();
    assert!(matches!(
        refused(&|d| d.checkpoint = unsigned.clone(), &trusted),
        ProofCheckError::Unsigned { .. }
    ));
}

#[test]
fn a_consistency_document_verifies_and_every_tampering_is_refused() {
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let trusted = vec![spki_der(&key)];
    let good = consistency_document(&key);
    assert_eq!(verify_consistency_document(&good, &trusted, ORIGIN), Ok(()));

    let refused = |edit: &dyn Fn(&mut ConsistencyProofDocument)| {
        let mut document = good.clone();
        edit(&mut document);
        verify_consistency_document(&document, &trusted, ORIGIN).unwrap_err()
    };
    assert!(matches!(
        refused(&|d| d.consistency_path[0] = Hash::leaf(b"x")),
        ProofCheckError::Proof(_)
    ));
    assert!(matches!(
        refused(&|d| std::mem::swap(&mut d.from_checkpoint, &mut d.to_checkpoint)),
        ProofCheckError::Disagrees { .. }
    ));
    assert!(matches!(
        refused(&|d| {
            d.consistency_path.clear();
        }),
        ProofCheckError::Proof(ProofError::WrongProofLength { .. })
    ));

    // Equal sizes: an empty proof between one note and itself.
    let same = ConsistencyProofDocument {
        from_tree_size: 11,
        from_root: good.to_root,
        consistency_path: Vec::new(),
        from_checkpoint: good.to_checkpoint.clone(),
        ..good.clone()
    };
    assert_eq!(verify_consistency_document(&same, &trusted, ORIGIN), Ok(()));
}
