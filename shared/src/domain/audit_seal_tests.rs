use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{DerSignature, SigningKey};
use proptest::prelude::*;

use super::*;
use crate::domain::audit::AuditEventType;
use crate::domain::test_support::timestamp;

fn event(n: u64, at: &str) -> AuditEvent {
    AuditEvent {
        event_id: format!("0190-{n:04}"),
        occurred_at: timestamp(at),
        event_type: AuditEventType::DeleteAttempt,
        actor: format!("arn:aws:iam::123456789012:user/u{n}"),
        request_id: format!("req-{n}"),
        signal_id: n.is_multiple_of(2).then(|| format!("sig-{n}")),
        chain_index: n.is_multiple_of(3).then_some(n),
        reason: Some("signals are immutable".into()),
        excerpt: None,
        details: serde_json::json!({"method": "DELETE", "status": 405}),
    }
}

fn sealed(event: &AuditEvent) -> SealedEvent {
    let key = AuditKey::of(event);
    let leaf = event_leaf(&key, event);
    SealedEvent::new(key, leaf)
}

fn window() -> (Timestamp, Timestamp) {
    (
        timestamp("2026-11-28T00:00:00Z"),
        timestamp("2026-11-29T12:00:00Z"),
    )
}

fn events(count: u64) -> Vec<AuditEvent> {
    (0..count)
        .map(|n| {
            let at = format!("2026-11-{:02}T{:02}:00:00Z", 28 + n / 24 % 2, n % 12);
            event(n, &at)
        })
        .collect()
}

fn seal_of(events: &[AuditEvent], previous: Option<&Seal>) -> (Seal, Vec<u8>) {
    let (from, to) = match previous {
        Some(p) => (p.to, p.to.plus_days(1).unwrap()),
        None => window(),
    };
    Seal::new(
        "signal-ledger:test-signals",
        previous,
        from,
        to,
        events.iter().map(sealed).collect(),
        timestamp("2026-11-29T12:05:00Z"),
    )
    .unwrap()
}

fn spki_der(key: &SigningKey) -> Vec<u8> {
    let header = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    [header.as_slice(), point.as_bytes()].concat()
}

fn signed(seal: Seal, key: &SigningKey) -> SignedSeal {
    let der: DerSignature = key.sign_prehash(seal.digest().as_bytes()).unwrap();
    SignedSeal {
        seal,
        signature: Signature::kms("alias/ledger", der.as_bytes().to_vec()).unwrap(),
    }
}

#[test]
fn the_key_is_the_audit_tables() {
    let e = event(1, "2026-11-28T09:30:00Z");
    assert_eq!(
        AuditKey::of(&e),
        AuditKey {
            pk: "2026-11-28".into(),
            sk: "2026-11-28T09:30:00.000000Z#0190-0001".into()
        }
    );
}

#[test]
fn the_canonical_bytes_cover_every_field_and_the_key() {
    let base = event(6, "2026-11-28T09:30:00Z");
    let key = AuditKey::of(&base);
    let leaf = event_leaf(&key, &base);
    type Edit = Box<dyn Fn(&mut AuditEvent)>;
    let edits: Vec<Edit> = vec![
        Box::new(|e| e.event_id.push('x')),
        Box::new(|e| e.occurred_at = timestamp("2026-11-28T09:30:01Z")),
        Box::new(|e| e.event_type = AuditEventType::ModificationAttempt),
        Box::new(|e| e.actor = "someone-else".into()),
        Box::new(|e| e.request_id.push('x')),
        Box::new(|e| e.signal_id = None),
        Box::new(|e| e.chain_index = Some(7)),
        Box::new(|e| e.chain_index = None),
        Box::new(|e| e.reason = None),
        Box::new(|e| e.excerpt = Some(String::new())),
        Box::new(|e| e.details = serde_json::json!({"method": "DELETE", "status": 200})),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut changed = base.clone();
        edit(&mut changed);
        assert_ne!(event_leaf(&key, &changed), leaf, "edit {i} went unnoticed");
    }
    let moved = AuditKey {
        pk: "2026-11-27".into(),
        sk: key.sk.clone(),
    };
    assert_ne!(event_leaf(&moved, &base), leaf);
    // Known answer: the leaf is SHA-256(0x00 || bytes) and the bytes start with the domain.
    let bytes = event_canonical_bytes(&key, &base);
    assert!(
        bytes.starts_with(b"SIGNAL-LEDGER/AUDIT-EVENT\0\x00\x01\x01\x00\x00\x00\x0a2026-11-28")
    );
    assert_eq!(leaf, Hash::leaf(&bytes));
}

#[test]
fn details_are_written_with_sorted_keys() {
    // The details' JSON text is part of the leaf; readers re-derive it from the stored text.
    let details = serde_json::json!({"status": 405, "method": "DELETE", "a": [1, "é"]});
    assert_eq!(
        details.to_string(),
        r#"{"a":[1,"é"],"method":"DELETE","status":405}"#
    );
}

#[test]
fn a_seal_round_trips_and_verifies_with_the_right_key_only() {
    let (seal, file) = seal_of(&events(5), None);
    assert_eq!(seal.seq, 0);
    assert_eq!(seal.previous, Hash::ZERO);
    assert_eq!(seal.count, 5);
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
    let note = signed(seal.clone(), &key);
    let parsed = SignedSeal::parse(&note.to_text()).unwrap();
    assert_eq!(parsed, note);
    assert_eq!(parsed.verify(&spki_der(&key)), Ok(true));
    assert!(matches!(
        parsed.verify(&spki_der(&other)),
        Err(SealError::BadSignature(_))
    ));
    let unsigned = SignedSeal {
        seal: seal.clone(),
        signature: Signature::Unsigned,
    };
    assert_eq!(SignedSeal::parse(&unsigned.to_text()).unwrap(), unsigned);
    assert_eq!(unsigned.verify(&spki_der(&key)), Ok(false));
    let listed = seal.parse_events(&file).unwrap();
    assert_eq!(listed.len(), 5);
    assert!(
        listed
            .windows(2)
            .all(|w| (&w[0].pk, &w[0].sk) < (&w[1].pk, &w[1].sk))
    );
}

#[test]
fn the_note_is_parsed_strictly() {
    let (seal, _) = seal_of(&events(3), None);
    let text = SignedSeal {
        seal,
        signature: Signature::Unsigned,
    }
    .to_text();
    let edits = [
        (
            "signal-ledger-audit-seal/1\n",
            "signal-ledger-audit-seal/2\n",
        ),
        ("seal 0\n", "seal 00\n"),
        ("seal 0\n", "seal +0\n"),
        ("count 3\n", "count 03\n"),
        ("from 2026", "from  2026"),
        ("to 2026-11-29T12:00:00.000000Z", "to 2026-11-29T12:00:00Z"),
        ("root ", "root  "),
        ("\ntime ", "\nTime "),
        ("\n\n", "\nextra\n\n"),
        ("— unsigned\n", "— unsigned\n\n"),
        ("— unsigned\n", "— unsigned"),
        // A window that ends where it starts.
        (
            "to 2026-11-29T12:00:00.000000Z",
            "to 2026-11-28T00:00:00.000000Z",
        ),
        // Seal 0 must name no previous seal.
        (
            "previous 0000000000000000000000000000000000000000000000000000000000000000",
            "previous 0000000000000000000000000000000000000000000000000000000000000001",
        ),
    ];
    for (from, to) in edits {
        let edited = text.replacen(from, to, 1);
        assert_ne!(edited, text, "{from:?} is not in the note");
        assert!(SignedSeal::parse(&edited).is_err(), "accepted {edited}");
    }
    assert!(SignedSeal::parse(&text).is_ok());
    // A checkpoint note is not a seal.
    assert!(matches!(
        SignedSeal::parse("signal-ledger:x\n0\nAAAA\n\n— unsigned\n"),
        Err(SealError::Malformed { line: 1, .. })
    ));
}

#[test]
fn the_events_file_is_checked_against_its_seal() {
    let (seal, file) = seal_of(&events(4), None);
    let text = String::from_utf8(file.clone()).unwrap();
    // Any edit changes the digest.
    let mut flipped = file.clone();
    flipped[3] ^= 1;
    assert!(matches!(
        seal.parse_events(&flipped),
        Err(SealError::EventsDigest { .. })
    ));
    // A seal whose digest matches an edited file still refuses a non-canonical, reordered or
    // miscounted one.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let spaced = text.replacen("\",\"pk\"", "\", \"pk\"", 1);
    let reordered: String = [lines[1], lines[0], lines[2], lines[3]].concat();
    let short: String = lines[..3].concat();
    for (bytes, what) in [
        (spaced, "not in its canonical form"),
        (reordered, "not after the line before it"),
    ] {
        let mut lying = seal.clone();
        lying.events_sha256 = Hash::sha256(bytes.as_bytes());
        match lying.parse_events(bytes.as_bytes()) {
            Err(SealError::EventsLine { reason, .. }) => assert!(reason.contains(what), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
    let mut lying = seal.clone();
    lying.events_sha256 = Hash::sha256(short.as_bytes());
    assert!(matches!(
        lying.parse_events(short.as_bytes()),
        Err(SealError::EventsCount {
            stated: 4,
            found: 3
        })
    ));
    lying.count = 3;
    assert!(matches!(
        lying.parse_events(short.as_bytes()),
        Err(SealError::RootMismatch { .. })
    ));
}

#[test]
fn seals_chain_and_every_break_is_found() {
    let all = events(6);
    let (first, _) = seal_of(&all[..3], None);
    let (second, _) = seal_of(&all[3..], Some(&first));
    let (third, _) = seal_of(&[], Some(&second));
    let keyed = |s: &Seal| (seal_key(s.seq, &s.time), s.clone());
    assert!(check_chain(&[keyed(&first), keyed(&second), keyed(&third)]).is_empty());
    // A removed seal is a gap, named at the seal after it.
    assert!(matches!(
        check_chain(&[keyed(&first), keyed(&third)]).as_slice(),
        [ChainProblem::Gap {
            expected: 1,
            found: 2,
            ..
        }]
    ));
    // So is a removed first seal.
    assert!(matches!(
        check_chain(&[keyed(&second)]).as_slice(),
        [ChainProblem::Gap {
            expected: 0,
            found: 1,
            ..
        }]
    ));
    // A replacement for seal 1 (another window, another root) breaks the link of seal 2.
    let (other, _) = seal_of(&all[4..], Some(&first));
    let problems = check_chain(&[keyed(&first), keyed(&other), keyed(&third)]);
    assert!(matches!(
        problems.as_slice(),
        [ChainProblem::BrokenLink { .. }]
    ));
    // Two honest seals with one number (two sweeps at once) both link to seal 0: no problem,
    // and the next seal may continue from either.
    let mut both = vec![keyed(&first), keyed(&second), keyed(&other), keyed(&third)];
    both.sort_by(|a, b| (a.1.seq, &a.0).cmp(&(b.1.seq, &b.0)));
    assert!(check_chain(&both).is_empty());
    // A sibling that names no seal 0 is a broken link.
    let mut stray = other.clone();
    stray.previous = Hash::sha256(b"no such seal");
    let problems = check_chain(&[keyed(&first), keyed(&second), keyed(&stray)]);
    assert!(matches!(
        problems.as_slice(),
        [ChainProblem::BrokenLink { .. }]
    ));
    // A seal that does not start where the one before ended.
    let mut late = second.clone();
    late.from = late.from.plus_days(1).unwrap();
    late.to = late.to.plus_days(1).unwrap();
    assert!(matches!(
        check_chain(&[keyed(&first), keyed(&late)]).as_slice(),
        [ChainProblem::BrokenLink { .. }]
    ));
    // A note stored under another key.
    assert!(matches!(
        check_chain(&[("integrity/audit-seals/x.txt".into(), first.clone())]).as_slice(),
        [ChainProblem::WrongKey { .. }]
    ));
}

#[test]
fn object_keys_are_recognised() {
    let time = timestamp("2026-11-29T12:05:00Z");
    assert_eq!(
        seal_key(3, &time),
        "integrity/audit-seals/00000000000000000003-20261129T120500000000Z.txt"
    );
    assert!(is_seal_object_key(&seal_key(3, &time)));
    assert!(is_seal_object_key(&events_key(3, &time)));
    assert!(!is_seal_object_key("integrity/audit-seals/zz.txt"));
    assert!(!is_seal_object_key(
        "integrity/audit-seals/00000000000000000003-20261129T120500000000Z.json"
    ));
}

#[test]
fn the_comparison_names_each_changed_missing_and_added_event() {
    let all = events(5);
    let sealed_events: Vec<SealedEvent> = {
        let mut s: Vec<_> = all[..4].iter().map(sealed).collect();
        s.sort_by(by_key);
        s
    };
    let mut now = all.clone();
    now[1].actor = "an insider".into();
    now.remove(2);
    let mut current: Vec<SealedEvent> = now.iter().map(sealed).collect();
    current.sort_by(by_key);
    let differences = compare_events(&sealed_events, &current);
    assert_eq!(differences.len(), 3, "{differences:?}");
    assert!(differences.contains(&EventDifference::Changed {
        key: AuditKey::of(&all[1]),
        sealed: sealed(&all[1]).leaf,
        computed: sealed(&now[1]).leaf,
    }));
    assert!(differences.contains(&EventDifference::Missing {
        key: AuditKey::of(&all[2])
    }));
    assert!(differences.contains(&EventDifference::Added {
        key: AuditKey::of(&all[4])
    }));
    assert!(compare_events(&sealed_events, &sealed_events).is_empty());
}

proptest! {
    /// Seal then check passes; any one change, removal or insertion is named at its key.
    #[test]
    fn any_change_to_a_sealed_window_is_named(count in 1u64..40, pick in any::<prop::sample::Index>(), what in 0u8..3) {
        let all = events(count + 1);
        let (kept, extra) = all.split_at(count as usize);
        let (seal, file) = seal_of(kept, None);
        let listed = seal.parse_events(&file).unwrap();
        let mut current: Vec<SealedEvent> = kept.iter().map(sealed).collect();
        current.sort_by(by_key);
        prop_assert!(compare_events(&listed, &current).is_empty());
        let i = pick.index(current.len());
        let target = current[i].key();
        let expected = match what {
            0 => {
                current[i].leaf = Hash::leaf(b"rewritten");
                "changed"
            }
            1 => {
                current.remove(i);
                "missing"
            }
            _ => {
                current.push(sealed(&extra[0]));
                current.sort_by(by_key);
                "added"
            }
        };
        let differences = compare_events(&listed, &current);
        prop_assert_eq!(differences.len(), 1);
        match (&differences[0], expected) {
            (EventDifference::Changed { key, .. }, "changed") => prop_assert_eq!(key, &target),
            (EventDifference::Missing { key }, "missing") => prop_assert_eq!(key, &target),
            (EventDifference::Added { key }, "added") => prop_assert_eq!(key, &AuditKey::of(&extra[0])),
            (other, _) => prop_assert!(false, "{other:?} for {expected}"),
        }
    }

    /// Any flipped byte of a note is refused, or changes what it says (and so its digest).
    #[test]
    fn a_flipped_byte_never_goes_unnoticed(position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (seal, _) = seal_of(&events(3), None);
        let note = signed(seal.clone(), &SigningKey::from_slice(&[7u8; 32]).unwrap());
        let mut bytes = note.to_text().into_bytes();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(text) = String::from_utf8(bytes)
            && let Ok(parsed) = SignedSeal::parse(&text)
        {
            prop_assert!(parsed != note);
            if parsed.seal != seal {
                prop_assert!(parsed.seal.digest() != seal.digest());
            }
        }
    }
}

#[test]
fn windows_are_key_ranges_over_day_partitions() {
    let (from, to) = (
        timestamp("2026-11-28T10:00:00Z"),
        timestamp("2026-11-30T00:00:00Z"),
    );
    assert_eq!(
        window_days(&from, &to),
        ["2026-11-28", "2026-11-29", "2026-11-30"]
    );
    let key = |pk: &str, sk: &str| AuditKey {
        pk: pk.into(),
        sk: sk.into(),
    };
    assert!(key_in_window(
        &key("2026-11-28", "2026-11-28T10:00:00.000000Z#a"),
        &from,
        &to
    ));
    assert!(!key_in_window(
        &key("2026-11-28", "2026-11-28T09:59:59.999999Z#a"),
        &from,
        &to
    ));
    assert!(key_in_window(&key("2026-11-29", "anything"), &from, &to));
    assert!(!key_in_window(
        &key("2026-11-30", "2026-11-30T00:00:00.000000Z#a"),
        &from,
        &to
    ));
    // A misplaced key belongs to the window its key falls in, whatever its sk says.
    assert!(key_in_window(
        &key("2026-11-29", "2020-01-01T00:00:00.000000Z#x"),
        &from,
        &to
    ));
}

/// The general reading of one events-file line: the JSON parser, then the canonical form.
fn line_by_parsing(line: &str) -> Option<SealedEvent> {
    let event: SealedEvent = serde_json::from_str(line.strip_suffix('\n')?).ok()?;
    (event.line() == line).then_some(event)
}

proptest! {
    /// Reading a plain line without the JSON parser agrees with the general reading: a line
    /// written for any key (quotes, backslashes, control and non-ASCII characters included),
    /// and that line with one byte changed, reads as the same event or is left to the parser.
    #[test]
    fn plain_events_lines_read_as_the_json_parser_reads_them(
        pk in "[a-z0-9#\"\\\\/\u{1}\u{7f}\u{e9}]{0,12}",
        sk in "[a-z0-9#\"\\\\/\u{1f}\u{e9}]{0,12}",
        leaf in any::<[u8; 32]>(),
        change in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
    ) {
        let event = SealedEvent { leaf: Hash(leaf), pk, sk };
        let mut bytes = event.line().into_bytes();
        if let Some((at, byte)) = change {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        let Ok(line) = String::from_utf8(bytes) else { return Ok(()) };
        let slow = line_by_parsing(&line);
        if let Some(fast) = plain_line(&line) {
            prop_assert_eq!(Some(&fast), slow.as_ref());
            prop_assert_eq!(fast.line(), line.clone());
        }
        if change.is_none() {
            prop_assert_eq!(slow, Some(event));
        }
    }
}
