//! The vectors that must fail (docs/vectors/failing/: chains, claim tables, checkpoint notes, manifest chains) and the signed checkpoint vector
//! (docs/vectors/checkpoint.json), run through the Rust verifiers: they must give exactly the
//! findings and refusal codes the format defines, as the independent Python checker does.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use shared::adapters::dynamodb::entry_from_item;
use shared::domain::backup::{Manifest, verify_manifest_chain};
use shared::domain::chain::{ChainVerifier, ClaimSeen, claim_finding};
use shared::domain::checkpoint::{
    CheckpointError, SignatureStatus, SignedCheckpoint, is_p256_public_key,
};
use shared::domain::hash::Hash;

const CHAINS: &str = include_str!("../../docs/vectors/failing/chains.json");
const CLAIMS: &str = include_str!("../../docs/vectors/failing/claims.json");
const CHECKPOINTS: &str = include_str!("../../docs/vectors/failing/checkpoints.json");
const MANIFESTS: &str = include_str!("../../docs/vectors/failing/manifests.json");
const SIGNED: &str = include_str!("../../docs/vectors/checkpoint.json");

fn cases(text: &str) -> Vec<Value> {
    let value: Value = serde_json::from_str(text).expect("vector file is JSON");
    value["cases"].as_array().expect("a cases array").clone()
}

/// A vector item as the DynamoDB item of §9: numbers as `N`, strings as `S`, an absent
/// optional field (`null`) left out, `pk` `ENTRY` and `sk` the chain index unless given.
fn item(fields: &serde_json::Map<String, Value>) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> = fields
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| {
            let attribute = match value {
                Value::Number(n) => AttributeValue::N(n.to_string()),
                Value::String(s) => AttributeValue::S(s.clone()),
                other => panic!("unexpected JSON value {other}"),
            };
            (name.clone(), attribute)
        })
        .collect();
    item.insert("pk".into(), AttributeValue::S("ENTRY".into()));
    let index = item["chain_index"].clone();
    // A vector names `sk` only where it is not the chain index.
    item.entry("sk".into()).or_insert(index);
    item
}

#[test]
fn every_failing_chain_gives_exactly_its_findings() {
    let all = cases(CHAINS);
    assert!(all.len() >= 10, "the vector file lost its cases");
    for case in all {
        let mut verifier = ChainVerifier::from_genesis();
        for stored in case["items"].as_array().unwrap() {
            match entry_from_item(&item(stored.as_object().unwrap())) {
                Ok(entry) => verifier.push(&entry),
                Err(error) => verifier.push_unreadable(error.to_string()),
            }
        }
        let report = verifier.finish(case["known_size"].as_u64());
        let found: Vec<(u64, &str)> = report
            .findings
            .iter()
            .map(|f| (f.index, f.kind.name()))
            .collect();
        let expected: Vec<(u64, &str)> = case["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["index"].as_u64().unwrap(), f["kind"].as_str().unwrap()))
            .collect();
        assert_eq!(found, expected, "{}", case["name"]);
    }
}

/// A vector's hash: 64 lowercase hex digits.
fn stored_hash(value: &Value) -> Hash {
    let text = value.as_str().expect("a hash is a string");
    let hash: Hash = text.parse().expect("64 hex digits");
    assert_eq!(hash.to_hex(), text, "vectors spell hashes in lowercase");
    hash
}

#[test]
fn every_claim_table_gives_exactly_its_claim_findings() {
    let all = cases(CLAIMS);
    assert!(all.len() >= 5, "the vector file lost its cases");
    for case in all {
        let claims = case["claims"].as_array().unwrap();
        let mut found: Vec<(u64, &str)> = Vec::new();
        for entry in case["entries"].as_array().unwrap() {
            let (index, id) = (
                entry["chain_index"].as_u64().unwrap(),
                entry["signal_id"].as_str().unwrap(),
            );
            let entry_hash = stored_hash(&entry["entry_hash"]);
            let claim = claims
                .iter()
                .find(|c| c["signal_id"] == id)
                .map(|c| ClaimSeen {
                    chain_index: c["chain_index"].as_u64().unwrap(),
                    entry_hash: stored_hash(&c["entry_hash"]),
                });
            if let Some(kind) = claim_finding(index, id, &entry_hash, claim) {
                found.push((index, kind.name()));
            }
        }
        let expected: Vec<(u64, &str)> = case["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["index"].as_u64().unwrap(), f["kind"].as_str().unwrap()))
            .collect();
        assert_eq!(found, expected, "{}", case["name"]);
    }
}

#[test]
fn every_failing_note_is_refused_with_its_code() {
    let all = cases(CHECKPOINTS);
    assert!(all.len() >= 15, "the vector file lost its cases");
    for case in all {
        let code = match SignedCheckpoint::parse(case["note"].as_str().unwrap()) {
            Ok(_) => "accepted",
            Err(error) => error.code(),
        };
        assert_eq!(code, case["code"].as_str().unwrap(), "{}", case["name"]);
    }
}

/// The verdict of §7 for a set of trusted keys: a set holding a key that is not a P-256 public
/// key is refused whole (as `TrustedKeys` refuses it); else the origin, then the first key under
/// which the signature holds.
fn verdict(note: &SignedCheckpoint, trusted: &[Vec<u8>], origin: &str) -> &'static str {
    if !trusted.iter().all(|key| is_p256_public_key(key)) {
        return "bad_public_key";
    }
    if note.checkpoint.origin != origin {
        return "origin_mismatch";
    }
    for key in trusted {
        match note.verify(Some(key)) {
            Ok(SignatureStatus::Verified { .. }) => return "verified",
            Ok(SignatureStatus::Unsigned) => return "unsigned",
            Err(CheckpointError::BadPublicKey) => return "bad_public_key",
            Err(_) => {}
        }
    }
    "untrusted_key"
}

#[test]
fn the_signed_checkpoint_vector_verifies_under_its_key_only() {
    let vector: Value = serde_json::from_str(SIGNED).unwrap();
    let note = SignedCheckpoint::parse(vector["note"].as_str().unwrap()).unwrap();
    assert_eq!(note.checkpoint.body(), vector["body"].as_str().unwrap());
    assert_eq!(
        note.checkpoint.digest().to_hex(),
        vector["digest"].as_str().unwrap()
    );
    let origin = vector["expected_origin"].as_str().unwrap();
    let cases = vector["verdicts"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for case in cases {
        let keys: Vec<Vec<u8>> = case["trusted_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| hex::decode(k.as_str().unwrap()).unwrap())
            .collect();
        let expected_origin = case["expected_origin"].as_str().unwrap();
        assert_eq!(
            verdict(&note, &keys, expected_origin),
            case["verdict"].as_str().unwrap()
        );
    }
    let unsigned = SignedCheckpoint::parse(vector["unsigned_note"].as_str().unwrap()).unwrap();
    let key = hex::decode(vector["public_key_der_hex"].as_str().unwrap()).unwrap();
    assert_eq!(verdict(&unsigned, &[key], origin), "unsigned");
}

#[test]
fn every_failing_manifest_chain_gives_exactly_its_findings() {
    let all = cases(MANIFESTS);
    assert!(all.len() >= 23, "the vector file lost its cases");
    for case in all {
        // Bytes that are not a manifest at all are `invalid` and take no part in the chain
        // (§8.4); the others are parsed without `Manifest::parse`'s checks, for the chain
        // verifier to find.
        let mut found: Vec<(usize, &str)> = Vec::new();
        let mut read: Vec<(usize, (Vec<u8>, Manifest))> = Vec::new();
        for (position, text) in case["manifests"].as_array().unwrap().iter().enumerate() {
            let bytes = text.as_str().unwrap().as_bytes().to_vec();
            match serde_json::from_slice::<Manifest>(&bytes) {
                Ok(manifest) => read.push((position, (bytes, manifest))),
                Err(_) => found.push((position, "invalid")),
            }
        }
        let (positions, manifests): (Vec<usize>, Vec<(Vec<u8>, Manifest)>) =
            read.into_iter().unzip();
        found.extend(
            verify_manifest_chain(&manifests)
                .iter()
                .map(|f| (positions[f.position], f.kind.name())),
        );
        found.sort_by_key(|(position, _)| *position);
        let expected: Vec<(usize, &str)> = case["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let position = usize::try_from(f["position"].as_u64().unwrap()).unwrap();
                (position, f["kind"].as_str().unwrap())
            })
            .collect();
        assert_eq!(found, expected, "{}", case["name"]);
    }
}
