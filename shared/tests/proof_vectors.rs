//! The proof vectors (docs/vectors/proofs.json, section 13 of docs/ledger-format.md) through the
//! Rust verifier: every inclusion and consistency document gives exactly its verdict under the
//! vector's key and origin, as the independent Python checker (`check_proof.py`) does.

use serde_json::Value;
use shared::domain::proof::{
    ConsistencyProofDocument, InclusionProofDocument, verify_consistency_document,
    verify_inclusion_document,
};

const PROOFS: &str = include_str!("../../docs/vectors/proofs.json");

/// `verified` or `refused`: a document that does not even parse (an unknown member) is refused.
fn verdict(kind: &str, document: &Value, keys: &[Vec<u8>], origin: &str) -> &'static str {
    let result = match kind {
        "inclusion" => serde_json::from_value::<InclusionProofDocument>(document.clone())
            .map_err(|error| error.to_string())
            .and_then(|d| {
                verify_inclusion_document(&d, keys, origin).map_err(|error| error.to_string())
            }),
        _ => serde_json::from_value::<ConsistencyProofDocument>(document.clone())
            .map_err(|error| error.to_string())
            .and_then(|d| {
                verify_consistency_document(&d, keys, origin).map_err(|error| error.to_string())
            }),
    };
    if result.is_ok() {
        "verified"
    } else {
        "refused"
    }
}

#[test]
fn every_proof_vector_gives_its_verdict() {
    let vectors: Value = serde_json::from_str(PROOFS).expect("proofs.json is JSON");
    let origin = vectors["origin"].as_str().expect("an origin");
    let key = hex::decode(vectors["public_key_der_hex"].as_str().expect("a key")).expect("hex");
    let keys = vec![key];
    let mut checked = (0, 0);
    for kind in ["inclusion", "consistency"] {
        for case in vectors[kind].as_array().expect("a list of cases") {
            let expected = case["verdict"].as_str().expect("a verdict");
            let found = verdict(kind, &case["document"], &keys, origin);
            assert_eq!(found, expected, "{kind}: {}", case["name"]);
            if expected == "verified" {
                checked.0 += 1;
            } else {
                checked.1 += 1;
            }
        }
    }
    // Every leaf against every size of the 5-leaf tree, every pair of sizes, and the refusals.
    assert_eq!(checked, (15 + 15, 13 + 9));
}
