use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{DerSignature, SigningKey};

use super::*;
use crate::domain::chain::{FindingKind, VerifierState};
use crate::domain::merkle::CompactRange;
use crate::domain::test_support::{chain, timestamp};

fn spki_der(key: &SigningKey) -> Vec<u8> {
    let header = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    [header.as_slice(), point.as_bytes()].concat()
}

fn cursor_at(entries: u64) -> FullPassCursor {
    let mut verifier = ChainVerifier::from_genesis();
    for entry in chain(entries) {
        verifier.push(&entry);
    }
    FullPassCursor {
        seq: 7,
        pass_id: "0193a1b2-pass".to_owned(),
        pass_started_at: timestamp("2026-11-29T03:00:00Z"),
        steps: 3,
        written_at: timestamp("2026-11-29T05:00:00Z"),
        phase: PassPhase::Entries {
            state: verifier.state(),
            checkpoint: Some("checkpoints/00000000000000000005-x.txt".to_owned()),
        },
        findings_total: 0,
        findings: Vec::new(),
        entries_verified: entries,
        checkpoints_checked: 2,
        seals_verified: 0,
    }
}

fn signed(cursor: FullPassCursor, key: &SigningKey) -> SignedCursor {
    let body = SignedCursor::body("ledger.example/test", &cursor);
    let der: DerSignature = key
        .sign_prehash(Hash::sha256(body.as_bytes()).as_bytes())
        .unwrap();
    SignedCursor {
        origin: "ledger.example/test".to_owned(),
        cursor,
        signature: Signature::kms("alias/ledger", der.as_bytes().to_vec()).unwrap(),
    }
}

#[test]
fn a_cursor_round_trips_through_its_text_in_every_phase() {
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let entries = cursor_at(5);
    let seals = FullPassCursor {
        phase: PassPhase::Seals {
            next_seq: 4,
            until: Some(9),
            previous: Some(SealLink {
                seq: 3,
                key: "integrity/audit-seals/3.txt".to_owned(),
                digest: Hash::sha256(b"seal 3"),
            }),
        },
        findings_total: 2,
        findings: vec![Finding {
            index: 3,
            kind: FindingKind::Gap { found: 4 },
        }],
        ..cursor_at(5)
    };
    let done = FullPassCursor {
        phase: PassPhase::Done {
            finished_at: timestamp("2026-11-29T05:00:00Z"),
            duration_ms: 7_200_000,
        },
        ..cursor_at(5)
    };
    for cursor in [entries, seals, done] {
        let note = signed(cursor.clone(), &key);
        let text = note.to_text();
        assert!(text.starts_with("signal-ledger full-pass cursor v1\nledger.example/test\n{"));
        let parsed = SignedCursor::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, note);
        assert!(parsed.verifies(&spki_der(&key)));
        assert!(!parsed.verifies(&spki_der(&SigningKey::from_slice(&[8u8; 32]).unwrap())));
    }
}

#[test]
fn the_verifier_continues_from_a_stored_state_exactly() {
    let entries = chain(9);
    let mut whole = ChainVerifier::from_genesis();
    entries.iter().for_each(|e| whole.push(e));
    let mut first = ChainVerifier::from_genesis();
    entries[..4].iter().for_each(|e| first.push(e));
    let text = serde_json::to_string(&first.state()).unwrap();
    let mut second = ChainVerifier::from_state(serde_json::from_str(&text).unwrap()).unwrap();
    entries[4..].iter().for_each(|e| second.push(e));
    assert_eq!(second.state(), whole.state());
    assert!(second.finish(Some(9)).is_intact());
}

#[test]
fn a_stored_state_no_verifier_can_be_in_is_refused() {
    let good = cursor_at(3);
    let PassPhase::Entries { state, .. } = &good.phase else {
        unreachable!()
    };
    let broken = [
        // More leaves than positions.
        VerifierState {
            position: 2,
            ..state.clone()
        },
        // A last index at or after the position.
        VerifierState {
            last_index: Some(3),
            ..state.clone()
        },
        // A head without leaves.
        VerifierState {
            position: 1,
            last_index: Some(0),
            tree: CompactRange::new(),
            ..state.clone()
        },
    ];
    for state in broken {
        assert!(ChainVerifier::from_state(state).is_err());
    }
}

#[test]
fn malformed_cursors_are_refused_with_a_reason() {
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let text = signed(cursor_at(5), &key).to_text();
    let json_line = text.lines().nth(2).unwrap().to_owned();
    let too_many = FullPassCursor {
        findings_total: 1,
        findings: vec![
            Finding {
                index: 0,
                kind: FindingKind::DuplicateIndex,
            };
            2
        ],
        ..cursor_at(5)
    };
    let seal_without_previous = FullPassCursor {
        phase: PassPhase::Seals {
            next_seq: 3,
            until: None,
            previous: None,
        },
        ..cursor_at(5)
    };
    let past_the_end = FullPassCursor {
        phase: PassPhase::Seals {
            next_seq: 3,
            until: Some(2),
            previous: Some(SealLink {
                seq: 2,
                key: "k".to_owned(),
                digest: Hash::ZERO,
            }),
        },
        ..cursor_at(5)
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            format!("{}\n— unsigned\n", SignedCursor::body("o", &past_the_end)).into_bytes(),
            "inconsistent",
        ),
        (vec![0xff, 0xfe], "not_text"),
        (
            text.replacen("cursor v1", "cursor v2", 1).into_bytes(),
            "header",
        ),
        (
            text.replacen("\"steps\":3", "\"steps\":3,\"skip\":true", 1)
                .into_bytes(),
            "json",
        ),
        (
            text.replacen(&json_line, &json_line.replace(',', ", "), 1)
                .into_bytes(),
            "not_canonical",
        ),
        (
            text.replacen("\"steps\":3", "\"steps\":0", 1).into_bytes(),
            "inconsistent",
        ),
        (
            text.replacen("\"position\":5", "\"position\":2", 1)
                .into_bytes(),
            "inconsistent",
        ),
        (
            text.replacen(&format!("{json_line}\n\n"), &format!("{json_line}\n"), 1)
                .into_bytes(),
            "missing_blank_line",
        ),
        (
            format!(
                "{}— kms:alias/ledger !!!\n",
                SignedCursor::body("o", &cursor_at(5)) + "\n"
            )
            .into_bytes(),
            "signature",
        ),
        (
            format!("{}\n— unsigned\n", SignedCursor::body("o", &too_many)).into_bytes(),
            "inconsistent",
        ),
        (
            format!(
                "{}\n— unsigned\n",
                SignedCursor::body("o", &seal_without_previous)
            )
            .into_bytes(),
            "inconsistent",
        ),
        (
            format!("{HEADER}\n\n{json_line}\n\n— unsigned\n").into_bytes(),
            "origin",
        ),
    ];
    for (bytes, code) in cases {
        let refused = SignedCursor::parse(&bytes).unwrap_err();
        assert_eq!(refused.code(), code, "{refused}");
    }
}

#[test]
fn an_edited_cursor_no_longer_verifies() {
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let text = signed(cursor_at(5), &key).to_text();
    // Skip ahead: claim more entries verified than were.
    let edited = text.replacen("\"entries_verified\":5", "\"entries_verified\":6", 1);
    let parsed = SignedCursor::parse(edited.as_bytes()).unwrap();
    assert!(!parsed.verifies(&spki_der(&key)));
}

#[test]
fn keys_name_their_step_and_nothing_else_is_a_cursor_key() {
    assert_eq!(
        object_key(0),
        "integrity/full-pass/00000000000000000000.txt"
    );
    assert_eq!(seq_of_key(&object_key(42)), Some(42));
    assert_eq!(seq_of_key(&object_key(u64::MAX)), Some(u64::MAX));
    for key in [
        "integrity/full-pass/42.txt",
        "integrity/full-pass/0000000000000000004x.txt",
        "integrity/full-pass/00000000000000000042.json",
        "integrity/full-pass/99999999999999999999.txt",
        "checkpoints/00000000000000000042.txt",
    ] {
        assert_eq!(seq_of_key(key), None, "{key}");
    }
}

proptest::proptest! {
    /// Any bytes: a cursor or a refusal, never a panic; and any single flipped byte of a signed
    /// cursor is refused or no longer verifies.
    #[test]
    fn parsing_never_panics_and_an_edited_byte_never_verifies(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        at in 0usize..10_000,
        flip in 1u8..=255,
    ) {
        let _ = SignedCursor::parse(&bytes);
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let mut text = signed(cursor_at(5), &key).to_text().into_bytes();
        let signature_line = text.len() - text.iter().rev().skip(1).position(|b| *b == b'\n').unwrap() - 1;
        let at = at % signature_line;
        text[at] ^= flip;
        if let Ok(parsed) = SignedCursor::parse(&text) {
            proptest::prop_assert!(!parsed.verifies(&spki_der(&key)));
        }
    }
}
