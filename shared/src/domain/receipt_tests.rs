use super::*;
use crate::domain::signal::FieldProblem;
use crate::domain::test_support::{chain, timestamp};

fn rules() -> ValidationRules {
    ValidationRules::default()
}

const GENERATED: &str = "2026-11-28T09:00:00.000Z";
const NOW: &str = "2026-11-28T09:10:00.000Z";

fn check(body: &str) -> Result<ReceiptRequest, Vec<(String, Rule)>> {
    validate_receipt(
        body.as_bytes(),
        timestamp(GENERATED),
        &rules(),
        timestamp(NOW),
    )
    .map_err(|rejection| match rejection {
        Rejection::Invalid { problems, .. } => problems
            .into_iter()
            .map(|FieldProblem { field, rule, .. }| (field, rule))
            .collect(),
        Rejection::MalformedJson { .. } => vec![("body".to_owned(), Rule::Type)],
    })
}

fn problems(list: &[(&str, Rule)]) -> Vec<(String, Rule)> {
    list.iter().map(|(f, r)| ((*f).to_owned(), *r)).collect()
}

#[test]
fn a_valid_receipt_is_accepted() {
    let request =
        check(r#"{"subscriber": "desk-7:ws", "delivered_at": "2026-11-28T10:00:00.250+01:00"}"#)
            .unwrap();
    assert_eq!(request.subscriber.as_str(), "desk-7:ws");
    assert_eq!(request.delivered_at, timestamp("2026-11-28T09:00:00.250Z"));
}

#[test]
fn the_bounds_are_inclusive() {
    // Delivered exactly when generated, and exactly at the skew limit (now + 5 min).
    check(r#"{"subscriber": "a", "delivered_at": "2026-11-28T09:00:00Z"}"#).unwrap();
    check(r#"{"subscriber": "a", "delivered_at": "2026-11-28T09:15:00Z"}"#).unwrap();
}

#[test]
fn each_broken_rule_is_named() {
    let cases: &[(&str, &[(&str, Rule)])] = &[
        (
            r#"{"subscriber": "a", "delivered_at": "2026-11-28T08:59:59.999Z"}"#,
            &[("delivered_at", Rule::BeforeGenerated)],
        ),
        (
            r#"{"subscriber": "a", "delivered_at": "2026-11-28T09:15:00.001Z"}"#,
            &[("delivered_at", Rule::InFuture)],
        ),
        (
            r#"{"subscriber": "a", "delivered_at": "yesterday"}"#,
            &[("delivered_at", Rule::Timestamp)],
        ),
        (
            r#"{"subscriber": "", "delivered_at": "2026-11-28T09:01:00Z"}"#,
            &[("subscriber", Rule::Empty)],
        ),
        (
            r#"{"subscriber": "a b", "delivered_at": "2026-11-28T09:01:00Z"}"#,
            &[("subscriber", Rule::Charset)],
        ),
        (
            r#"{"subscriber": 7, "delivered_at": "2026-11-28T09:01:00Z"}"#,
            &[("subscriber", Rule::Type)],
        ),
        (
            r#"{}"#,
            &[
                ("subscriber", Rule::Required),
                ("delivered_at", Rule::Required),
            ],
        ),
        (
            r#"{"subscriber": "a", "delivered_at": "2026-11-28T09:01:00Z", "latency": 3}"#,
            &[("latency", Rule::UnknownField)],
        ),
        (
            r#"{"subscriber": "a", "subscriber": "b", "delivered_at": "2026-11-28T09:01:00Z"}"#,
            &[("subscriber", Rule::DuplicateField)],
        ),
        (r#"[1]"#, &[("body", Rule::NotAnObject)]),
        (r#"{"subscriber": "#, &[("body", Rule::Type)]),
    ];
    for (body, expected) in cases {
        assert_eq!(check(body).unwrap_err(), problems(expected), "{body}");
    }
    let long = "s".repeat(MAX_SUBSCRIBER_CHARS + 1);
    let body = format!(r#"{{"subscriber": "{long}", "delivered_at": "2026-11-28T09:01:00Z"}}"#);
    assert_eq!(
        check(&body).unwrap_err(),
        problems(&[("subscriber", Rule::TooLong)])
    );
    let longest = "s".repeat(MAX_SUBSCRIBER_CHARS);
    let body = format!(r#"{{"subscriber": "{longest}", "delivered_at": "2026-11-28T09:01:00Z"}}"#);
    check(&body).unwrap();
}

fn sample() -> Receipt {
    let signal = chain(3).pop().unwrap();
    let delivered_at = Timestamp::from_datetime(
        signal.entry.content.generated_at.as_datetime() + time::Duration::milliseconds(740),
    )
    .unwrap();
    Receipt::assemble(
        &signal,
        ReceiptRequest {
            subscriber: Subscriber::parse("desk-7").unwrap(),
            delivered_at,
        },
        timestamp("2026-11-28T09:30:00Z"),
        "arn:aws:iam::123456789012:role/gateway".to_owned(),
    )
}

#[test]
fn assembling_computes_the_client_latency() {
    let receipt = sample();
    assert_eq!(receipt.client_latency_ms, 740);
    assert_eq!(receipt.chain_index, 2);
}

#[test]
fn every_field_changes_the_hash() {
    let original = sample();
    let base = original.compute_hash();
    let later = timestamp("2026-11-28T09:31:00Z");
    type Edit = Box<dyn Fn(&mut Receipt)>;
    let edits: Vec<Edit> = vec![
        Box::new(|r| r.signal_id = SignalId::parse("other").unwrap()),
        Box::new(|r| r.chain_index += 1),
        Box::new(|r| r.subscriber = Subscriber::parse("desk-8").unwrap()),
        Box::new(move |r| r.generated_at = later),
        Box::new(move |r| r.delivered_at = later),
        Box::new(move |r| r.recorded_at = later),
        Box::new(|r| r.client_latency_ms += 1),
        Box::new(|r| r.submitter.push('x')),
    ];
    for (position, edit) in edits.iter().enumerate() {
        let mut changed = original.clone();
        edit(&mut changed);
        assert_ne!(changed.compute_hash(), base, "edit {position}");
    }
}

#[test]
fn the_encoding_is_length_prefixed_after_the_domain() {
    let bytes = sample().canonical_bytes();
    assert!(bytes.starts_with(RECEIPT_DOMAIN));
    let after = &bytes[RECEIPT_DOMAIN.len()..];
    assert_eq!(&after[..2], &RECEIPT_VERSION.to_be_bytes());
    assert_eq!(after[2], tag::SIGNAL_ID);
    let hashed: [u8; 32] = Sha256::digest(&bytes).into();
    assert_eq!(sample().compute_hash(), Hash(hashed));
}

#[test]
fn a_replay_is_the_same_subscriber_and_time() {
    let receipt = sample();
    let same = ReceiptRequest {
        subscriber: receipt.subscriber.clone(),
        delivered_at: receipt.delivered_at,
    };
    assert!(receipt.same_request(&same));
    let other = ReceiptRequest {
        delivered_at: timestamp("2026-11-28T09:31:00Z"),
        ..same
    };
    assert!(!receipt.same_request(&other));
}

#[test]
fn the_known_answer_vectors_hold() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/vectors/receipts.json")).unwrap();
    assert_eq!(vectors["encoding_version"], RECEIPT_VERSION);
    let receipts = vectors["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 3);
    for vector in receipts {
        let receipt: Receipt = serde_json::from_value(vector["fields"].clone()).unwrap();
        assert_eq!(
            hex::encode(receipt.canonical_bytes()),
            vector["canonical_hex"].as_str().unwrap()
        );
        assert_eq!(
            receipt.compute_hash().to_hex(),
            vector["receipt_hash"].as_str().unwrap()
        );
    }
}

proptest::proptest! {
    /// Whatever the bytes, receipt validation answers without panicking.
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = validate_receipt(&bytes, timestamp(GENERATED), &rules(), timestamp(NOW));
    }

    /// Any accepted receipt lies in [generated_at, now + skew] and has a non-negative latency.
    #[test]
    fn accepted_receipts_are_within_their_bounds(offset_ms in -600_000i64..1_200_000, subscriber in "[A-Za-z0-9._:-]{1,128}") {
        let delivered = Timestamp::from_datetime(
            timestamp(GENERATED).as_datetime() + time::Duration::milliseconds(offset_ms),
        )
        .unwrap();
        let body = serde_json::json!({"subscriber": subscriber, "delivered_at": delivered.as_str()});
        let generated = timestamp(GENERATED);
        let latest = timestamp("2026-11-28T09:15:00Z");
        match validate_receipt(body.to_string().as_bytes(), generated, &rules(), timestamp(NOW)) {
            Ok(request) => {
                proptest::prop_assert!(request.delivered_at >= generated && request.delivered_at <= latest);
                proptest::prop_assert!(request.delivered_at.millis_since(&generated) >= 0);
            }
            Err(_) => proptest::prop_assert!(delivered < generated || delivered > latest),
        }
    }
}
