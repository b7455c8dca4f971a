//! The sealed audit log's vectors (docs/vectors/audit_seal.json and
//! docs/vectors/failing/audit_seals.json, written by the independent Python implementation) run
//! through the Rust format and the adapter's item mapping: the same bytes, leaves, seals and
//! chain, and exactly the refusal codes and findings the format defines (ledger-format §11).

// The whole file is tests: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use shared::adapters::dynamodb::sealable_audit_from_item;
use shared::domain::audit_seal::{
    AuditKey, ChainProblem, EventDifference, SealedEvent, SignedSeal, check_chain, compare_events,
    event_canonical_bytes, event_leaf, key_in_window, seal_key,
};

const PASSING: &str = include_str!("../../docs/vectors/audit_seal.json");
const FAILING: &str = include_str!("../../docs/vectors/failing/audit_seals.json");

/// A vector item as the audit table's item (§9): `chain_index` as `N`, the rest as `S`.
fn item(fields: &Value) -> HashMap<String, AttributeValue> {
    fields
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| {
            let attribute = match value {
                Value::Number(n) => AttributeValue::N(n.to_string()),
                Value::String(s) => AttributeValue::S(s.clone()),
                other => panic!("unexpected JSON value {other}"),
            };
            (name.clone(), attribute)
        })
        .collect()
}

fn key_of(fields: &Value) -> AuditKey {
    AuditKey {
        pk: fields["pk"].as_str().unwrap().to_owned(),
        sk: fields["sk"].as_str().unwrap().to_owned(),
    }
}

/// What the sealer reads for each item: its leaf, or the finding of an unreadable item.
fn leaves(items: &[Value]) -> (Vec<SealedEvent>, Vec<(String, String, String)>) {
    let mut events = Vec::new();
    let mut unreadable = Vec::new();
    for fields in items {
        let key = key_of(fields);
        match sealable_audit_from_item(&item(fields)) {
            Ok(event) => events.push(SealedEvent::new(key.clone(), event_leaf(&key, &event))),
            Err(_) => unreadable.push(("audit_event_unreadable".to_owned(), key.pk, key.sk)),
        }
    }
    events.sort_by_key(SealedEvent::key);
    (events, unreadable)
}

fn parse(note: &Value) -> SignedSeal {
    SignedSeal::parse(note.as_str().unwrap()).unwrap()
}

#[test]
fn the_passing_vector_is_reproduced_byte_for_byte() {
    let vector: Value = serde_json::from_str(PASSING).unwrap();
    let items: Vec<Value> = vector["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let fields = &case["item"];
            let key = key_of(fields);
            let event = sealable_audit_from_item(&item(fields)).unwrap();
            assert_eq!(
                hex::encode(event_canonical_bytes(&key, &event)),
                case["canonical_hex"].as_str().unwrap()
            );
            assert_eq!(
                event_leaf(&key, &event).to_hex(),
                case["leaf"].as_str().unwrap()
            );
            fields.clone()
        })
        .collect();
    let public = hex::decode(vector["public_key_der_hex"].as_str().unwrap()).unwrap();
    let mut keyed = Vec::new();
    for case in vector["seals"].as_array().unwrap() {
        let note = parse(&case["note"]);
        assert_eq!(note.to_text(), case["note"].as_str().unwrap());
        assert_eq!(note.seal.body(), case["body"].as_str().unwrap());
        assert_eq!(
            note.seal.digest().to_hex(),
            case["digest"].as_str().unwrap()
        );
        assert_eq!(
            seal_key(note.seal.seq, &note.seal.time),
            case["key"].as_str().unwrap()
        );
        assert_eq!(note.verify(&public), Ok(true));
        let sealed = note
            .seal
            .parse_events(case["events_file"].as_str().unwrap().as_bytes())
            .unwrap();
        let window: Vec<Value> = items
            .iter()
            .filter(|i| key_in_window(&key_of(i), &note.seal.from, &note.seal.to))
            .cloned()
            .collect();
        let (current, unreadable) = leaves(&window);
        assert!(unreadable.is_empty());
        assert_eq!(compare_events(&sealed, &current), []);
        // Sealing those items again gives the same seal.
        let previous = keyed
            .last()
            .map(|(_, s): &(String, SignedSeal)| s.seal.clone());
        let (again, file) = shared::domain::audit_seal::Seal::new(
            note.seal.origin.clone(),
            previous.as_ref(),
            note.seal.from,
            note.seal.to,
            current,
            note.seal.time,
        )
        .unwrap();
        assert_eq!(again, note.seal);
        assert_eq!(file, case["events_file"].as_str().unwrap().as_bytes());
        keyed.push((case["key"].as_str().unwrap().to_owned(), note));
    }
    let chain: Vec<_> = keyed
        .iter()
        .map(|(k, n)| (k.clone(), n.seal.clone()))
        .collect();
    assert_eq!(check_chain(&chain), []);
    let unsigned = parse(&vector["unsigned_note"]);
    assert_eq!(unsigned.verify(&public), Ok(false));
}

#[test]
fn every_failing_note_and_events_file_is_refused_with_its_code() {
    let failing: Value = serde_json::from_str(FAILING).unwrap();
    let notes = failing["notes"].as_array().unwrap();
    assert!(notes.len() >= 10, "the vector file lost its cases");
    for case in notes {
        let code = match SignedSeal::parse(case["note"].as_str().unwrap()) {
            Ok(_) => "accepted",
            Err(error) => error.code(),
        };
        assert_eq!(code, case["code"].as_str().unwrap(), "{}", case["name"]);
    }
    for case in failing["events_files"].as_array().unwrap() {
        let seal = parse(&case["seal_note"]).seal;
        let code = match seal.parse_events(case["events_file"].as_str().unwrap().as_bytes()) {
            Ok(_) => "accepted",
            Err(error) => error.code(),
        };
        assert_eq!(code, case["code"].as_str().unwrap(), "{}", case["name"]);
    }
}

#[test]
fn every_tampered_window_gives_exactly_its_findings() {
    let failing: Value = serde_json::from_str(FAILING).unwrap();
    for case in failing["windows"].as_array().unwrap() {
        let seal = parse(&case["seal_note"]).seal;
        let sealed = seal
            .parse_events(case["events_file"].as_str().unwrap().as_bytes())
            .unwrap();
        let (current, mut found) = leaves(case["items"].as_array().unwrap());
        for difference in compare_events(&sealed, &current) {
            let (kind, key) = match difference {
                EventDifference::Changed { key, .. } => ("audit_event_changed", key),
                EventDifference::Missing { key } => ("audit_event_missing", key),
                EventDifference::Added { key } => ("audit_event_added", key),
            };
            found.push((kind.to_owned(), key.pk, key.sk));
        }
        found.sort();
        let mut expected: Vec<(String, String, String)> = case["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let text = |name: &str| f[name].as_str().unwrap().to_owned();
                (text("kind"), text("pk"), text("sk"))
            })
            .collect();
        expected.sort();
        assert_eq!(found, expected, "{}", case["name"]);
    }
}

#[test]
fn every_broken_chain_gives_exactly_its_problems() {
    let failing: Value = serde_json::from_str(FAILING).unwrap();
    let chains = failing["chains"].as_array().unwrap();
    assert!(chains.len() >= 6, "the vector file lost its cases");
    for case in chains {
        let mut seals: Vec<(String, shared::domain::audit_seal::Seal)> = case["seals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap().to_owned(),
                    parse(&s["note"]).seal,
                )
            })
            .collect();
        seals.sort_by(|a, b| (a.1.seq, &a.0).cmp(&(b.1.seq, &b.0)));
        let found: Vec<(String, &str)> = check_chain(&seals)
            .into_iter()
            .map(|problem| match problem {
                ChainProblem::Gap { key, .. } => (key, "gap"),
                ChainProblem::BrokenLink { key, .. } => (key, "broken_link"),
                ChainProblem::WrongKey { key, .. } => (key, "wrong_key"),
            })
            .collect();
        let expected: Vec<(String, &str)> = case["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap().to_owned(),
                    p["kind"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(found, expected, "{}", case["name"]);
    }
}
