#!/usr/bin/env python3
"""Writes the vectors that must fail (chains.json, claims.json, checkpoints.json,
manifests.json, audit_seals.json, evidence.json), the signed checkpoint vector (../checkpoint.json) from entries.json, and the
sealed audit log's vector (../audit_seal.json). Each case's expected verdict is written here by
hand from docs/ledger-format.md, not taken from either verifier's output. Run it again only
together with a change of the format.

    python3 docs/vectors/failing/make_vectors.py
"""
import base64
import copy
import hashlib
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import audit_seal  # noqa: E402
import check_vectors  # noqa: E402
import p256  # noqa: E402
from checkpoint_note import fold  # noqa: E402

sys.path.insert(0, str(HERE.parent / "backup"))
import check_backup  # noqa: E402
import manifest_chain  # noqa: E402

# Fixed test keys: never use these for anything but vectors.
SIGNING_KEY = int.from_bytes(hashlib.sha256(b"signal-ledger test vector key 1").digest(), "big") % p256.N
OTHER_KEY = int.from_bytes(hashlib.sha256(b"signal-ledger test vector key 2").digest(), "big") % p256.N


def reseal(items, start):
    """Recomputes entry hashes from `start` on and relinks every later entry."""
    for position in range(start, len(items)):
        item = items[position]
        if position > start:
            item["previous_hash"] = items[position - 1]["entry_hash"]
        fields = {k: v for k, v in item.items() if k != "entry_hash"}
        item["entry_hash"] = check_vectors.leaf_hash(check_vectors.canonical(fields)).hex()
    return items


def chain_cases(base):
    def fresh():
        return copy.deepcopy(base)

    cases = [("an intact chain", fresh(), 5, [])]
    items = fresh()
    items[2]["rationale"] += " (edited)"
    cases.append(("a field edited, stored hash kept", items, 5, [(2, "hash_mismatch")]))
    items = fresh()
    items[2]["rationale"] += " (edited)"
    reseal(items, 2)
    items[3]["previous_hash"] = base[3]["previous_hash"]
    items[3]["entry_hash"] = base[3]["entry_hash"]
    items[4] = copy.deepcopy(base[4])
    cases.append(("a field edited and its hash recomputed", items, 5, [(3, "broken_link")]))
    items = fresh()
    del items[2]
    cases.append(("an entry removed from the middle", items, 5, [(2, "gap")]))
    items = fresh()
    items.insert(3, copy.deepcopy(base[2]))
    cases.append(("an entry stored twice", items, 5, [(2, "duplicate_index")]))
    items = fresh()
    items[2], items[3] = items[3], items[2]
    cases.append(("two entries swapped", items, 5, [(2, "gap"), (2, "reorder")]))
    items = fresh()[:3]
    cases.append(("the last two entries removed, with a known size of 5", items, 5, [(3, "truncated")]))
    cases.append(("the last two entries removed, no known size", fresh()[:3], None, []))
    items = fresh()
    items[2]["entry_price"] = items[2]["entry_price"] + ".0" if "." not in items[2]["entry_price"] else items[2]["entry_price"] + "0"
    cases.append(("a decimal not in canonical form", items, 5, [(2, "unreadable")]))
    items = fresh()
    items[1]["generated_at"] = "2026-11-28T09:00:61.000000Z"
    cases.append(("a timestamp that is no real time", items, 5, [(1, "unreadable")]))
    items = fresh()
    items[3]["action"] = "HOLD"
    cases.append(("an action other than BUY or SELL", items, 5, [(3, "unreadable")]))
    items = fresh()
    items[1]["delivery_latency_ms"] += 1
    reseal(items, 1)
    cases.append(("a latency that disagrees with its timestamps, every hash recomputed", items, 5,
                  [(1, "invalid_field")]))
    items = fresh()
    items[4]["retention_expires_at"] = items[4]["retention_expires_at"][:17] + "01" + items[4]["retention_expires_at"][19:]
    reseal(items, 4)
    cases.append(("a retention date not a whole number of days after receipt", items, 5,
                  [(4, "invalid_field")]))
    items = fresh()
    items[0]["schema_version"] = 2
    reseal(items, 0)
    cases.append(("an unknown schema version, every hash recomputed", items, 5, [(0, "invalid_field")]))
    items = fresh()
    items[0]["previous_hash"] = "07" * 32
    reseal(items, 0)
    cases.append(("genesis not linked to 32 zero bytes", items, 5, [(0, "broken_link")]))
    items = fresh()
    items[3]["chain_index"] = 1
    cases.append(("an index edited, hash kept", items, 5, [(3, "hash_mismatch"), (1, "reorder")]))
    # Section 9: the item's sort key must be its chain_index; attributes beyond the layout are
    # not part of the entry and are ignored (items carry `sk` only where it is not the index).
    items = fresh()
    items[2]["sk"] = 7
    cases.append(("an item stored under another sort key", items, 5, [(2, "unreadable")]))
    items = fresh()
    items[1]["note"] = "an attribute the layout does not have"
    cases.append(("an item with an extra attribute, ignored", items, 5, []))
    return [{"name": name, "known_size": size, "items": items,
             "findings": [{"index": i, "kind": k} for i, k in findings]}
            for name, items, size, findings in cases]


def claim_cases(base):
    """Section 4.2: each entry's claim, looked up by its signal id, must name its chain index
    and its stored entry hash."""
    entries = [{"chain_index": e["chain_index"], "signal_id": e["signal_id"],
                "entry_hash": e["entry_hash"]} for e in base]

    def claims():
        return [dict(e) for e in entries]

    def others():
        return [dict(e) for e in entries]

    cases = [("every entry claimed", others(), claims(), [])]
    table = [c for c in claims() if c["chain_index"] != 2]
    cases.append(("the claim of entry 2 missing", others(), table, [(2, "claim_missing")]))
    table = claims()
    table[3]["chain_index"] = 4
    cases.append(("the claim of entry 3 naming index 4", others(), table, [(3, "claim_mismatch")]))
    table = claims()
    table[1]["entry_hash"] = "07" * 32
    cases.append(("the claim of entry 1 naming another hash", others(), table,
                  [(1, "claim_mismatch")]))
    table = claims() + [{"chain_index": 9, "signal_id": "sig-9999", "entry_hash": "07" * 32}]
    cases.append(("a claim no entry has, not judged here", others(), table, []))
    items = others()
    items[4]["signal_id"] = items[1]["signal_id"]
    table = [c for c in claims() if c["chain_index"] != 4]
    cases.append(("two entries with one signal id: the claim names the first", items, table,
                  [(4, "claim_mismatch")]))
    table = [c for c in claims() if c["chain_index"] not in (0, 3)]
    table[0]["chain_index"] = 0
    cases.append(("two claims missing and one misplaced", others(), table,
                  [(0, "claim_missing"), (1, "claim_mismatch"), (3, "claim_missing")]))
    return [{"name": name, "entries": items, "claims": table,
             "findings": [{"index": i, "kind": k} for i, k in findings]}
            for name, items, table, findings in cases]


def compact_range(leaves):
    out, start, n = [], 0, len(leaves)
    for bit in reversed(range(64)):
        width = 1 << bit
        if n & width:
            out.append(check_vectors.mth(leaves[start:start + width]))
            start += width
    return out


def body(origin, size, root, head, time, range_hashes, leaves_line):
    range_line = "range" + "".join(" " + h.hex() for h in range_hashes)
    return (f"{origin}\n{size}\n{base64.b64encode(root).decode()}\nhead {head.hex()}\n"
            f"time {time}\n{range_line}\n{leaves_line}\n")


def signed(body_text, key=SIGNING_KEY, key_id="alias/signal-ledger-test"):
    signature = p256.sign(key, hashlib.sha256(body_text.encode()).digest())
    return f"{body_text}\n\u2014 kms:{key_id} {base64.b64encode(signature).decode()}\n"


def checkpoint_vectors(leaves):
    origin, time = "signal-ledger:test", "2026-11-28T09:30:00.123456Z"
    rng = compact_range(leaves)
    root, head = fold(rng), leaves[-1]
    leaf_file = "".join(h.hex() + "\n" for h in leaves).encode()
    leaves_line = f"leaves 0 5 {hashlib.sha256(leaf_file).hexdigest()}"
    good = body(origin, 5, root, head, time, rng, leaves_line)
    note = signed(good)
    lines = good.split("\n")

    def with_line(k, text):
        changed = list(lines)
        changed[k - 1] = text
        return signed("\n".join(changed))

    other = hashlib.sha256(b"other").digest()
    cases = [
        ("no blank line", good + "\u2014 unsigned\n", "missing_blank_line"),
        ("the body stops after line 3", signed("\n".join(lines[:3]) + "\n"), "missing_line"),
        ("an origin starting with a space", with_line(1, " signal-ledger:test"), "invalid_origin"),
        ("an origin with a non-ASCII byte", with_line(1, "signal-ledger:tést"), "invalid_origin"),
        ("a tree size with a leading zero", with_line(2, "05"), "malformed_line"),
        ("a tree size with a sign", with_line(2, "+5"), "malformed_line"),
        ("a root without its padding", with_line(3, lines[2].rstrip("=")), "malformed_line"),
        ("a head in upper-case hex", with_line(4, "head " + head.hex().upper()), "malformed_line"),
        ("a time without microseconds", with_line(5, "time 2026-11-28T09:30:00Z"), "malformed_line"),
        ("a time that does not exist", with_line(5, "time 2026-02-29T09:30:00.000000Z"), "malformed_line"),
        ("a range with a trailing space", with_line(6, lines[5] + " "), "malformed_line"),
        ("a range with one hash too few", with_line(6, "range " + rng[0].hex()), "range_shape"),
        ("a leaves line with a double space", with_line(7, lines[6].replace(" ", "  ", 1)), "malformed_line"),
        ("an eighth body line", signed(good + "extra\n"), "malformed_line"),
        ("a head that is not the last leaf of an odd size", with_line(4, "head " + other.hex()), "inconsistent_head"),
        ("a leaves range that does not end at the size", with_line(7, f"leaves 0 4 {hashlib.sha256(leaf_file).hexdigest()}"), "leaves_range"),
        ("an empty leaves range whose digest is not SHA-256 of nothing", with_line(7, f"leaves 5 5 {other.hex()}"), "empty_leaves_digest"),
        ("a root that is not the root of the range", with_line(3, base64.b64encode(other).decode()), "root_mismatch"),
        ("a signature line without its newline", note[:-1], "malformed_line"),
        ("a second signature line", note + "\u2014 unsigned\n", "malformed_line"),
        ("a signature in non-canonical base64", note.replace("\n\u2014 kms:alias/signal-ledger-test ", "\n\u2014 kms:alias/signal-ledger-test  "), "malformed_line"),
        ("a signer other than kms", note.replace("\u2014 kms:", "\u2014 ssh:"), "malformed_line"),
        ("a key id with a control character", signed(good, key_id="alias/\x07bell"), "invalid_key_id"),
    ]
    failing = [{"name": name, "note": text, "code": code} for name, text, code in cases]

    public = p256.spki_from_private(SIGNING_KEY)
    public_other = p256.spki_from_private(OTHER_KEY)
    pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(public).decode() + "\n-----END PUBLIC KEY-----\n"
    signed_vector = {
        "note": note,
        "body": good,
        "digest": hashlib.sha256(good.encode()).hexdigest(),
        "public_key_der_hex": public.hex(),
        "public_key_pem": pem,
        "leaf_file": leaf_file.decode(),
        "expected_origin": origin,
        "verdicts": [
            {"trusted_keys": [public.hex()], "expected_origin": origin, "verdict": "verified"},
            {"trusted_keys": [public_other.hex(), public.hex()], "expected_origin": origin, "verdict": "verified"},
            {"trusted_keys": [public_other.hex()], "expected_origin": origin, "verdict": "untrusted_key"},
            {"trusted_keys": [public.hex()], "expected_origin": "signal-ledger:prod", "verdict": "origin_mismatch"},
            # A trusted set holding a key that is not a P-256 SubjectPublicKeyInfo is refused
            # whole, before any note, even beside a key that verifies (section 7).
            {"trusted_keys": [public[:-1].hex()], "expected_origin": origin, "verdict": "bad_public_key"},
            {"trusted_keys": [public[:-1].hex(), public.hex()], "expected_origin": origin, "verdict": "bad_public_key"},
            {"trusted_keys": [public[:-1].hex()], "expected_origin": "signal-ledger:prod", "verdict": "bad_public_key"},
        ],
        "unsigned_note": good + "\n\u2014 unsigned\n",
        "unsigned_verdict": "unsigned",
    }
    return failing, signed_vector


def vector_manifest(leaves, backup_id, start, end, day):
    """A format-1 manifest of entries [start, end) of `leaves`, made on 2026-11-<day>."""
    size_range = compact_range(leaves[:end])
    return {
        "format": "signal-ledger-backup-manifest/1",
        "backup_id": backup_id,
        "created_at": f"2026-11-{day}T02:00:00.500000Z",
        "index_range": {"from": start, "to": end},
        "row_count": end - start,
        "first_previous_hash": leaves[start - 1].hex() if start else "0" * 64,
        "last_entry_hash": leaves[end - 1].hex() if end else "0" * 64,
        "merkle_root": fold(size_range).hex(),
        "compact_range": [h.hex() for h in size_range],
        "csv": None if start == end else {
            "key": manifest_chain.csv_key(backup_id),
            "sha256": hashlib.sha256(backup_id.encode()).hexdigest(),
            "bytes": 1000 + end,
            "version_id": f"v{end}.example",
        },
        "retain_until": f"2033-11-{day}T02:00:00.500000Z",
        "previous_manifest_sha256": "0" * 64,
    }


def manifest_cases(leaves):
    def manifest(backup_id, start, end, day):
        return vector_manifest(leaves, backup_id, start, end, day)

    def fresh():
        return [manifest("20261126", 0, 2, 26), manifest("20261127", 2, 5, 27),
                manifest("20261128", 5, 5, 28)]

    def stored(manifests, render=None, broken=None):
        """Exact bytes, each linked to the previous one's bytes (unless `broken`)."""
        out, previous = [], "0" * 64
        for position, m in enumerate(manifests):
            m["previous_manifest_sha256"] = previous
            if broken == position:
                m["previous_manifest_sha256"] = "11" * 32
            raw = (render or {}).get(position, manifest_chain.canonical_bytes)(m)
            previous = hashlib.sha256(raw).hexdigest()
            out.append(raw.decode("utf-8"))
        return out

    def set_range(m, start, end):
        m["index_range"] = {"from": start, "to": end}
        m["row_count"] = end - start
        m["first_previous_hash"] = leaves[start - 1].hex() if start else "0" * 64

    cases = [("an intact chain with an empty last backup", stored(fresh()), [])]
    runs = fresh()
    runs[0]["backup_id"], runs[1]["backup_id"] = "20261126_2", "20261126_10"
    for m in runs[:2]:
        m["csv"]["key"] = manifest_chain.csv_key(m["backup_id"])
    cases.append(("runs 2 and 10 of one day: ordered by run, not by text", stored(runs), []))
    cases.append(("a manifest whose link was edited", stored(fresh(), broken=1), [(1, "broken_link")]))
    early = fresh()
    early[1]["backup_id"] = "20261125"
    early[1]["csv"]["key"] = manifest_chain.csv_key("20261125")
    cases.append(("a backup id before the previous one", stored(early), [(1, "out_of_order")]))
    gap = fresh()
    set_range(gap[1], 3, 5)
    cases.append(("entry 2 in no backup", stored(gap), [(1, "gap")]))
    overlap = fresh()
    set_range(overlap[1], 1, 5)
    cases.append(("entry 1 in two backups", stored(overlap), [(1, "overlap")]))
    mismatch = fresh()
    mismatch[1]["first_previous_hash"] = leaves[2].hex()
    cases.append(("ranges that join, hashes that do not", stored(mismatch), [(1, "entry_link_mismatch")]))
    changed = fresh()
    other = [hashlib.sha256(b"other" + bytes([i])).digest() for i in range(4)] + [leaves[4]]
    changed[2]["compact_range"] = [h.hex() for h in compact_range(other)]
    changed[2]["merkle_root"] = fold(compact_range(other)).hex()
    cases.append(("an empty backup whose tree changed", stored(changed), [(2, "root_changed")]))
    wrong_count = fresh()
    wrong_count[1]["row_count"] = 4
    cases.append(("a row count that is not to - from", stored(wrong_count), [(1, "invalid")]))
    early_lock = fresh()
    early_lock[0]["retain_until"] = "2026-11-26T02:00:00.500000Z"
    cases.append(("a retain-until before the manifest was made", stored(early_lock), [(0, "invalid")]))
    empty_csv = fresh()
    empty_csv[2]["csv"] = dict(empty_csv[1]["csv"], key=manifest_chain.csv_key("20261128"))
    cases.append(("an empty backup naming a CSV", stored(empty_csv), [(2, "invalid")]))
    reordered = {0: lambda m: (json.dumps(dict(reversed(list(m.items()))), indent=2) + "\n").encode()}
    cases.append(("a manifest whose bytes are not its canonical form", stored(fresh(), render=reordered),
                  [(0, "invalid")]))
    # Bytes that are not a manifest at all (8.4) are invalid and take no part in the chain: the
    # next manifest is compared with the last one read (here its link and range break).
    def rendered(edit):
        return {1: lambda m: edit(manifest_chain.canonical_bytes(m).decode("utf-8")).encode("utf-8")}

    not_read = [(1, "invalid"), (2, "broken_link"), (2, "gap")]
    for name, edit in [
        ("an unknown field", lambda text: text.replace('"format"', '"note": "x",\n  "format"', 1)),
        ("a field given twice", lambda text: text.replace('  "row_count": 3,\n', '  "row_count": 3,\n  "row_count": 3,\n', 1)),
        ("a field missing", lambda text: text.replace('  "row_count": 3,\n', "", 1)),
        ("a count written as a fraction", lambda text: text.replace('"row_count": 3,', '"row_count": 3.0,', 1)),
        ("a timestamp without its microseconds", lambda text: text.replace(".500000Z", "Z", 1)),
        ("a hash in upper-case hex", lambda text: re.sub('"merkle_root": "([0-9a-f]{64})"',
                                                         lambda m: f'"merkle_root": "{m[1].upper()}"', text)),
        ("a backup id of run 1 written _1", lambda text: text.replace('"backup_id": "20261127"', '"backup_id": "20261127_1"', 1)),
        ("its end cut off (not JSON)", lambda text: text[:-3]),
    ]:
        cases.append((f"a manifest with {name}: not read", stored(fresh(), render=rendered(edit)), not_read))

    # Section 8.3's size rule: a CSV of the header row alone (its CRLF counted) is no backup.
    header_bytes = manifest_chain.HEADER_BYTES
    for name, size in [("a CSV size of the header row with its CRLF", header_bytes),
                       ("a CSV size of the header row without its CRLF", header_bytes - 2)]:
        small = fresh()
        small[0]["csv"]["bytes"] = size
        cases.append((name, stored(small), [(0, "invalid")]))
    backwards = fresh()
    backwards[2]["index_range"] = {"from": 5, "to": 2}
    cases.append(("an index range with from > to", stored(backwards), [(2, "invalid")]))
    return [{"name": name, "manifests": manifests,
             "findings": [{"position": p, "kind": k} for p, k in findings]}
            for name, manifests, findings in cases]


def audit_items():
    """Six audit items over two days, as the audit table stores them (details as JSON text)."""
    def item(n, at, kind, **extra):
        event_id = f"0193a1b2-0000-7000-8000-{n:012d}"
        fields = {"pk": at[:10], "sk": f"{at}#{event_id}", "event_id": event_id, "occurred_at": at,
                  "event_type": kind, "actor": "arn:aws:iam::123456789012:user/alice",
                  "request_id": f"req-{n}",
                  "details": json.dumps({"method": "DELETE", "status": 405}, sort_keys=True,
                                        separators=(",", ":"), ensure_ascii=False)}
        fields.update(extra)
        return fields

    return [
        item(1, "2026-11-28T09:00:00.000000Z", "DELETE_ATTEMPT", signal_id="sig-1",
             reason="signals are immutable"),
        item(2, "2026-11-28T09:00:01.250000Z", "SIGNAL_INSERTED", signal_id="sig-2", chain_index=7,
             details=json.dumps({"latency_ms": 12, "symbol": "AAPL"}, sort_keys=True,
                                separators=(",", ":"))),
        item(3, "2026-11-28T23:59:59.999999Z", "SIGNAL_REJECTED", reason="rationale too short",
             excerpt="{\"symbol\":\"é\u2026"),
        item(4, "2026-11-29T00:00:00.000000Z", "INTEGRITY_CHECK_PASSED", actor="integrity-sweep",
             details=json.dumps({"mode": "incremental"}, separators=(",", ":"))),
        item(5, "2026-11-29T08:00:00.000000Z", "MODIFICATION_ATTEMPT"),
        item(6, "2026-11-29T10:00:00.000000Z", "DELETE_ATTEMPT", signal_id="sig-6"),
    ]


def seal_of(origin, previous, start, end, items, time):
    events = [{"leaf": audit_seal.event_leaf(i).hex(), "pk": i["pk"], "sk": i["sk"]} for i in items
              if audit_seal.in_window(i["pk"], i["sk"], start, end)]
    events_file = audit_seal.encode_events(events)
    seal = {"origin": origin, "seq": 0 if previous is None else previous["seq"] + 1,
            "from": start, "to": end, "count": len(events),
            "root": audit_seal.mth([bytes.fromhex(e["leaf"]) for e in sorted(
                events, key=lambda e: (e["pk"].encode(), e["sk"].encode()))]).hex(),
            "events": hashlib.sha256(events_file).hexdigest(),
            "previous": audit_seal.ZERO if previous is None else audit_seal.digest(previous),
            "time": time}
    return seal, events_file


def seal_note(seal, key=SIGNING_KEY, key_id="alias/signal-ledger-test"):
    text = audit_seal.body(seal)
    if key is None:
        return text + "\n\u2014 unsigned\n"
    return signed(text, key, key_id)


def audit_seal_vectors():
    origin = "signal-ledger:test"
    items = audit_items()
    first, first_file = seal_of(origin, None, "2026-11-28T00:00:00.000000Z",
                                "2026-11-29T00:00:00.000000Z", items, "2026-11-29T00:05:00.000000Z")
    second, second_file = seal_of(origin, first, first["to"], "2026-11-29T09:55:00.000000Z", items,
                                  "2026-11-29T10:00:00.000000Z")
    public = p256.spki_from_private(SIGNING_KEY).hex()
    other = p256.spki_from_private(OTHER_KEY).hex()
    seals = []
    for seal, events_file in [(first, first_file), (second, second_file)]:
        seals.append({"key": audit_seal.seal_key(seal), "note": seal_note(seal),
                      "body": audit_seal.body(seal), "digest": audit_seal.digest(seal),
                      "events_key": audit_seal.seal_key(seal)[:-4] + ".events",
                      "events_file": events_file.decode("utf-8")})
    passing = {
        "origin": origin,
        "public_key_der_hex": public,
        "items": [{"item": i, "canonical_hex": audit_seal.event_bytes(i).hex(),
                   "leaf": audit_seal.event_leaf(i).hex()} for i in items],
        "seals": seals,
        "verdicts": [
            {"trusted_keys": [public], "verdict": "verified"},
            {"trusted_keys": [other, public], "verdict": "verified"},
            {"trusted_keys": [other], "verdict": "untrusted_key"},
        ],
        "unsigned_note": seal_note(first, key=None),
        "unsigned_verdict": "unsigned",
    }

    good = seal_note(first, key=None)
    notes = [("an intact unsigned seal", good, "accepted")]
    for name, old, new, code in [
        ("another format line", FORMAT_LINE, "signal-ledger-audit-seal/2\n", "malformed_line"),
        ("a checkpoint's first line", FORMAT_LINE, "signal-ledger:test\n", "malformed_line"),
        ("an origin with a trailing space", "signal-ledger:test\n", "signal-ledger:test \n",
         "invalid_origin"),
        ("a sequence number with a leading zero", "seal 0\n", "seal 00\n", "malformed_line"),
        ("a timestamp not in canonical form", "from 2026-11-28T00:00:00.000000Z",
         "from 2026-11-28T00:00:00Z", "malformed_line"),
        ("an empty window", "to 2026-11-29T00:00:00.000000Z", "to 2026-11-28T00:00:00.000000Z",
         "empty_window"),
        ("seal 0 naming a previous seal", "previous " + audit_seal.ZERO, "previous " + "1" * 64,
         "bad_genesis"),
        ("an uppercase hex root", "root " + first["root"], "root " + first["root"].upper(),
         "malformed_line"),
        ("a line too many", "\n\n", "\nextra\n\n", "malformed_line"),
        ("no blank line", "\n\n", "\n", "missing_blank_line"),
        ("a missing time line", "time 2026-11-29T00:05:00.000000Z\n", "", "missing_line"),
        ("text after the signature line", "\u2014 unsigned\n", "\u2014 unsigned\nmore\n",
         "malformed_line"),
        ("a key id with a control character", "\u2014 unsigned\n", "\u2014 kms:a\x01b AAAA\n",
         "invalid_key_id"),
    ]:
        assert old in good, name
        notes.append((name, good.replace(old, new, 1), code))

    lines = first_file.decode().splitlines(keepends=True)
    events_files = [("the seal's own events file", first_file.decode(), first, "accepted"),
                    ("one byte changed", first_file.decode().replace("0193", "0194", 1), first,
                     "events_digest")]
    for name, text, code in [
        ("a line not in canonical form", first_file.decode().replace('","pk"', '", "pk"', 1),
         "events_line"),
        ("two lines swapped", lines[1] + lines[0] + "".join(lines[2:]), "events_line"),
        ("a line missing", "".join(lines[1:]), "events_count"),
    ]:
        lying = dict(first, events=hashlib.sha256(text.encode()).hexdigest())
        events_files.append((name, text, lying, code))
    lying = dict(first, events=hashlib.sha256("".join(lines[1:]).encode()).hexdigest(),
                 count=len(lines) - 1)
    events_files.append(("a line missing, the count adjusted", "".join(lines[1:]), lying,
                         "root_mismatch"))

    def changed(item, **edits):
        return dict(item, **edits)

    in_first = [i for i in items if audit_seal.in_window(i["pk"], i["sk"], first["from"], first["to"])]
    planted = changed(items[0], event_id="planted", sk=items[0]["occurred_at"] + "#planted",
                      actor="someone who was never there")
    misplaced = changed(items[4], pk="2026-11-28")
    windows = [
        ("the table as sealed", in_first, []),
        ("an actor rewritten", [changed(in_first[0], actor="mallory")] + in_first[1:],
         [("audit_event_changed", in_first[0]["pk"], in_first[0]["sk"])]),
        ("a details text re-spaced", in_first[:1] + [changed(in_first[1], details='{"latency_ms": 12,"symbol":"AAPL"}')]
         + in_first[2:], [("audit_event_unreadable", in_first[1]["pk"], in_first[1]["sk"]),
                          ("audit_event_missing", in_first[1]["pk"], in_first[1]["sk"])]),
        ("an event deleted", in_first[1:], [("audit_event_missing", in_first[0]["pk"], in_first[0]["sk"])]),
        ("an event inserted", in_first + [planted], [("audit_event_added", planted["pk"], planted["sk"])]),
        ("an event moved to another day's partition", in_first + [misplaced],
         [("audit_event_added", misplaced["pk"], misplaced["sk"])]),
    ]

    third, _ = seal_of(origin, second, second["to"], "2026-11-29T11:00:00.000000Z", items,
                       "2026-11-29T11:05:00.000000Z")
    replaced, _ = seal_of(origin, first, first["to"], "2026-11-29T09:00:00.000000Z", items,
                          "2026-11-29T10:00:00.000001Z")
    stray = dict(replaced, previous="2" * 64)
    shifted = dict(second, previous=audit_seal.digest(first), **{"from": "2026-11-29T00:00:01.000000Z"})
    keyed = lambda *seals: [{"key": audit_seal.seal_key(s), "note": seal_note(s)} for s in seals]
    chains = [
        ("an intact chain", keyed(first, second, third), []),
        ("a removed seal", keyed(first, third), [(audit_seal.seal_key(third), "gap")]),
        ("a removed first seal", keyed(second, third), [(audit_seal.seal_key(second), "gap")]),
        ("a replaced seal", keyed(first, replaced, third), [(audit_seal.seal_key(third), "broken_link")]),
        ("two honest seals with one number (sweeps at once), then one more",
         keyed(first, second, replaced, third), []),
        ("a second seal 1 naming no seal 0", keyed(first, second, stray),
         [(audit_seal.seal_key(stray), "broken_link")]),
        ("a window that does not start where the last ended", keyed(first, shifted),
         [(audit_seal.seal_key(shifted), "broken_link")]),
        ("a note under another key", [{"key": "integrity/audit-seals/00000000000000000000-x.txt",
                                        "note": seal_note(first)}],
         [("integrity/audit-seals/00000000000000000000-x.txt", "wrong_key")]),
    ]
    failing = {
        "notes": [{"name": n, "note": t, "code": c} for n, t, c in notes],
        "events_files": [{"name": n, "seal_note": seal_note(s, key=None), "events_file": t, "code": c}
                         for n, t, s, c in events_files],
        "windows": [{"name": n, "seal_note": seal_note(first, key=None),
                     "events_file": first_file.decode(), "items": its,
                     "findings": [{"kind": k, "pk": pk, "sk": sk} for k, pk, sk in f]}
                    for n, its, f in windows],
        "chains": [{"name": n, "seals": seals, "problems": [{"key": k, "kind": p} for k, p in probs]}
                   for n, seals, probs in chains],
    }
    return passing, failing


def backup_cases():
    """The backup CSVs that must be refused (section 8.5), each edited from the valid vector
    ../backup/signals_backup_20261128.csv, with its refusal (code, row, line, column) written by
    hand; and sets of CSV files whose rows, read in order, give exactly their chain findings."""
    sys.path.insert(0, str(HERE.parent / "backup"))
    import check_backup  # noqa: E402

    text = (HERE.parent / "backup" / "signals_backup_20261128.csv").read_bytes().decode("utf-8")
    header = text[:text.index("\r\n") + 2]

    def edit(*pairs):
        out = text
        for old, new in pairs:
            assert out.count(old) == 1, old
            out = out.replace(old, new)
        return out

    def refused(code, row, line, column=None):
        return {"code": code, "row": row, "line": line, "column": column}

    last_hash = "c300f3c64d58bca6430246459bb2897269a047ee636db5f900f716ef1eef3ff2"
    files = [
        ("the vector as written", text, None),
        ("the header alone (a reader accepts it; a manifest never names it, 8.3)", header, None),
        ("an empty file", "", refused("missing_header", 0, 1)),
        ("a byte-order mark before the header", "\ufeff" + text, refused("header_mismatch", 0, 1)),
        ("a header name in capitals", edit(("entry_hash\r\n", "ENTRY_HASH\r\n")),
         refused("header_mismatch", 0, 1)),
        ("a header with a 21st column", edit(("entry_hash\r\n", "entry_hash,extra\r\n")),
         refused("header_mismatch", 0, 1)),
        ("a header ending in LF alone", edit(("entry_hash\r\n", "entry_hash\n")),
         refused("bare_line_feed", 0, 1)),
        ("row 1 ending in LF alone", edit(("a85f\r\n", "a85f\n")), refused("bare_line_feed", 1, 2)),
        ("a bare CR in an unquoted cell", edit(("BRK.B,SELL", "BRK\rB,SELL")),
         refused("bare_carriage_return", 1, 2)),
        ("a quote inside an unquoted cell", edit(("BRK.B,SELL", 'BRK"B,SELL')),
         refused("quote_in_unquoted_cell", 1, 2)),
        ("quotes around a cell that needs none", edit(("BRK.B,SELL", '"BRK.B",SELL')),
         refused("needless_quotes", 1, 2)),
        ("text after a closing quote", edit(('and a comma",2026', 'and a comma"x,2026')),
         refused("text_after_quote", 1, 2)),
        ("the last row without its CRLF", text[:-2], refused("unterminated_row", 4, 7)),
        ("the last row ending in CR alone", text[:-1], refused("unterminated_row", 4, 7)),
        ("a quote never closed", edit((",anonymous,c300", ',"anonymous,c300')),
         refused("unterminated_row", 4, 7)),
        ("a row of 19 cells", edit(("BRK.B,SELL,100", "BRK.B,100")), refused("column_count", 1, 2)),
        ("a row of 21 cells", edit(("3ff2\r\n", "3ff2,\r\n")), refused("column_count", 4, 7)),
        ("a blank line after the header", header + "\r\n" + text[len(header):],
         refused("column_count", 1, 2)),
        ("a latency without its escape", edit(("'-12,", "-12,")),
         refused("unescaped_formula", 1, 2, "delivery_latency_ms")),
        ("a full-width equals sign without its escape", edit(("'\uff1dfull-width", "\uff1dfull-width")),
         refused("unescaped_formula", 3, 6, "model_version")),
        ("an escape before nothing to escape", edit(("BRK.B,SELL", "'BRK.B,SELL")),
         refused("needless_escape", 1, 2, "symbol")),
        ("a required cell empty", edit(("SELL,100,88,105.5,", "SELL,,88,105.5,")),
         refused("required_empty", 1, 2, "entry_price")),
        ("a lone ' (present, empty) in a required decimal: no decimal",
         edit(("SELL,100,88,105.5,", "SELL,',88,105.5,")), refused("not_canonical", 1, 2, "entry_price")),
        ("a lone ' in a required text: a present empty value, accepted",
         edit((",arn:aws:sts::123456789012:assumed-role/signal-producer/momentum,b88e", ",',b88e")), None),
        ("a decimal with a trailing zero", edit(("SELL,100,88,105.5,", "SELL,100,88,105.50,")),
         refused("not_canonical", 1, 2, "stop_loss")),
        ("a negative zero", edit(("'-12,", "'-0,")), refused("not_canonical", 1, 2, "delivery_latency_ms")),
        ("an integer with a plus sign", edit((",53,", ",'+53,")),
         refused("not_canonical", 2, 3, "delivery_latency_ms")),
        ("a chain index beyond 2^64 - 1", edit(("1,3,8922", "1,18446744073709551616,8922")),
         refused("not_canonical", 4, 7, "chain_index")),
        ("a date that does not exist", edit(("2026-11-28T09:00:00.040000Z,'-12", "2026-02-29T09:00:00.040000Z,'-12")),
         refused("not_canonical", 1, 2, "received_at")),
        ("a hash in upper-case hex", edit((last_hash + "\r\n", last_hash.upper() + "\r\n")),
         refused("not_canonical", 4, 7, "entry_hash")),
        ("a signal id with a space", edit(("sig-000001,", "sig 000001,")),
         refused("not_canonical", 2, 3, "signal_id")),
        ("row 3 starts on line 6: row 2's two quoted LFs count", edit(("BRK.B,BUY,", "BRK.B,HOLD,")),
         refused("not_canonical", 3, 6, "action")),
        ("row 4 starts on line 7: row 3's bare CR inside quotes does not count",
         edit(("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59Z")),
         refused("not_canonical", 4, 7, "generated_at")),
        ("two refused cells: the first column is named",
         edit(("BRK.B,SELL,100,", "'BRK.B,SELL,100.0,")), refused("needless_escape", 1, 2, "symbol")),
        ("a refused cell before a framing error in the same row: the framing error",
         edit(("SELL,100,88", "SELL,100.0,88"), ("a85f\r\n", "a85f\n")), refused("bare_line_feed", 1, 2)),
    ]
    cases = [{"name": name, "csv": csv_text, "refusal": refusal} for name, csv_text, refusal in files]
    raw = text.encode("utf-8")

    def edit_bytes(*pairs):
        out = raw
        for old, new in pairs:
            assert out.count(old) == 1, old
            out = out.replace(old, new)
        return out

    for name, csv_bytes, refusal in [
        ("a cell that is not UTF-8", edit_bytes((b"BRK.B,SELL", b"BRK.B,\xffELL")),
         refused("invalid_utf8", 1, 2, "action")),
        ("every cell's UTF-8 is checked before any value: the later column is named",
         edit_bytes((b"SELL,211.03,", b"SELL,211.030,"), (b",anonymous,", b",anonym\xc3ous,")),
         refused("invalid_utf8", 4, 7, "submitter")),
    ]:
        cases.append({"name": name, "csv_hex": csv_bytes.hex(), "refusal": refusal})

    # row_too_long: a record of exactly 1 MiB (CRLF included) is read; one byte more is refused,
    # and so is an unclosed quote running past 1 MiB. Spelled as parts, each repeated `count`
    # times, to keep the file small.
    row_one = text[len(header):text.index("\r\n", len(header)) + 2]
    symbol_at = row_one.index("BRK.B,SELL")
    fill = check_backup.MAX_ROW_BYTES - len(row_one.encode("utf-8")) + len("BRK.B")
    for name, extra, refusal in [
        ("a row of exactly 1 MiB", 0, None),
        ("a row one byte over 1 MiB", 1, refused("row_too_long", 1, 2)),
    ]:
        parts = [[header + row_one[:symbol_at], 1], ["X", fill + extra],
                 [row_one[symbol_at + len("BRK.B"):] + text[len(header) + len(row_one):], 1]]
        cases.append({"name": name, "csv_parts": parts, "refusal": refusal})
    cases.append({"name": "a quote left open past 1 MiB", "csv_parts": [[header + '1,"', 1], ["x", check_backup.MAX_ROW_BYTES]],
                  "refusal": refused("row_too_long", 1, 2)})

    rows = check_backup.read_strict(raw)

    def sealed(rows, start=0):
        """Recomputes each row's hash from `start` and relinks the rows after it."""
        rows = copy.deepcopy(rows)
        for position in range(start, len(rows)):
            if position > start:
                rows[position]["previous_hash"] = rows[position - 1]["entry_hash"]
            fields = {k: v for k, v in rows[position].items() if k != "entry_hash"}
            rows[position]["entry_hash"] = check_vectors.leaf_hash(check_vectors.canonical(fields)).hex()
        return rows

    def files_of(rows, cut=2):
        return [check_backup.write_csv(rows[:cut]).decode("utf-8"),
                check_backup.write_csv(rows[cut:]).decode("utf-8")]

    edited = copy.deepcopy(rows)
    edited[2]["rationale"] += " (edited)"
    relinked = copy.deepcopy(rows)
    relinked[2]["previous_hash"] = "07" * 32
    relinked = sealed(relinked, 2)
    present = copy.deepcopy(rows)
    present[1]["producer"] = ""
    present = sealed(present, 1)
    absent_hash = copy.deepcopy(present)
    absent_hash[1]["entry_hash"] = rows[1]["entry_hash"]
    absent_hash[2]["previous_hash"] = rows[1]["entry_hash"]
    absent_hash = sealed(absent_hash, 2)
    present_hash = copy.deepcopy(rows)
    present_hash[1]["entry_hash"] = present[1]["entry_hash"]
    present_hash[2]["previous_hash"] = present[1]["entry_hash"]
    present_hash = sealed(present_hash, 2)
    sets = [
        ("rows 0-1 and 2-3 in two files", files_of(rows), []),
        ("a cell edited, its row hash kept", files_of(edited), [(2, "hash_mismatch")]),
        ("the second file's first row not linked to the first file's last, its hash recomputed",
         files_of(relinked), [(2, "broken_link")]),
        ("row 2 in neither file", [files_of(rows)[0], check_backup.write_csv(rows[3:]).decode("utf-8")],
         [(2, "gap")]),
        ("a lone ' hashed as a present empty value", files_of(present), []),
        ("a lone ' where the hash covers an absent field", files_of(absent_hash), [(1, "hash_mismatch")]),
        ("an empty cell where the hash covers a present empty value", files_of(present_hash),
         [(1, "hash_mismatch")]),
    ]
    return {"files": cases,
            "sets": [{"name": name, "csvs": csvs, "findings": [{"index": i, "kind": k} for i, k in found]}
                     for name, csvs, found in sets]}
def receipts_manifest_cases(leaves):
    """Section 8.6: chains of format-2 manifests whose receipts windows (or fields) are wrong."""
    def manifest(backup_id, start, end, day, receipts):
        m = vector_manifest(leaves, backup_id, start, end, day)
        if receipts is not None:
            m["format"] = "signal-ledger-backup-manifest/2"
            start_at, until, rows = receipts
            m["receipts"] = {
                "recorded_from": start_at,
                "recorded_until": until,
                "row_count": rows,
                "csv": None if rows == 0 else {
                    "key": manifest_chain.receipts_csv_key(backup_id),
                    "sha256": hashlib.sha256(b"receipts " + backup_id.encode()).hexdigest(),
                    "bytes": 500 + rows,
                    "version_id": f"r{end}.example",
                },
            }
        return m

    def fresh():
        """A format-1 manifest, then two format-2 ones whose windows join."""
        return [manifest("20261126", 0, 2, 26, None),
                manifest("20261127", 2, 5, 27, (None, "2026-11-27T01:55:00.000000Z", 3)),
                manifest("20261128", 5, 5, 28, ("2026-11-27T01:55:00.000000Z",
                                                "2026-11-28T01:55:00.000000Z", 0))]

    def stored(manifests):
        out, previous = [], "0" * 64
        for m in manifests:
            m["previous_manifest_sha256"] = previous
            raw = manifest_chain.canonical_bytes(m)
            previous = hashlib.sha256(raw).hexdigest()
            out.append(raw.decode("utf-8"))
        return out

    cases = [("receipts windows that join, after a format-1 manifest", stored(fresh()), [])]
    gap = fresh()
    gap[2]["receipts"]["recorded_from"] = "2026-11-27T03:00:00.000000Z"
    cases.append(("receipts recorded between two windows", stored(gap),
                  [(2, "receipts_window_mismatch")]))
    late = fresh()
    late[1]["receipts"]["recorded_from"] = "2026-11-20T00:00:00.000000Z"
    cases.append(("a first receipts window with a lower bound", stored(late),
                  [(1, "receipts_window_mismatch")]))
    dropped = fresh()
    dropped[2]["format"] = "signal-ledger-backup-manifest/1"
    del dropped[2]["receipts"]
    cases.append(("a format-1 manifest after a format-2 one", stored(dropped),
                  [(2, "receipts_dropped")]))
    missing = fresh()
    del missing[1]["receipts"]
    cases.append(("a format-2 manifest without receipts", stored(missing),
                  [(1, "invalid"), (2, "receipts_window_mismatch")]))
    no_csv = fresh()
    no_csv[1]["receipts"]["csv"] = None
    cases.append(("receipts with rows naming no CSV", stored(no_csv), [(1, "invalid")]))
    wrong_key = fresh()
    wrong_key[1]["receipts"]["csv"]["key"] = manifest_chain.receipts_csv_key("20261128")
    cases.append(("a receipts CSV of another backup", stored(wrong_key), [(1, "invalid")]))
    future = fresh()
    future[2]["receipts"]["recorded_until"] = "2026-11-28T03:00:00.000000Z"
    cases.append(("a receipts window ending after the manifest was made", stored(future),
                  [(2, "invalid")]))
    return [{"name": name, "manifests": manifests,
             "findings": [{"position": p, "kind": k} for p, k in findings]}
            for name, manifests, findings in cases]


FORMAT_LINE = "signal-ledger-audit-seal/1\n"


def rfc6962_path(m, leaves):
    """RFC 6962 section 2.1.1 PATH(m, D[n]) over leaf hashes (the generator's own reference)."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return rfc6962_path(m, leaves[:k]) + [check_vectors.mth(leaves[k:])]
    return rfc6962_path(m - k, leaves[k:]) + [check_vectors.mth(leaves[:k])]


def rfc6962_proof(m, leaves):
    """RFC 6962 section 2.1.2 PROOF(m, D[n])."""
    def subproof(m, leaves, whole):
        n = len(leaves)
        if m == n:
            return [] if whole else [check_vectors.mth(leaves)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return subproof(m, leaves[:k], whole) + [check_vectors.mth(leaves[k:])]
        return subproof(m - k, leaves[k:], False) + [check_vectors.mth(leaves[:k])]
    return [] if m == len(leaves) else subproof(m, leaves, True)


def proof_vectors(leaves):
    """Section 13: inclusion and consistency proof documents against notes signed with the test
    key, each with its verdict (`verified` or `refused`, and why, for people)."""
    origin, time = "signal-ledger:test", "2026-11-28T09:30:00.123456Z"
    ids = [e["fields"]["signal_id"] for e in
           json.loads((HERE.parent / "entries.json").read_text(encoding="utf-8"))["entries"]]

    def note_body(size, note_origin=origin):
        rng = compact_range(leaves[:size])
        leaf_file = "".join(h.hex() + "\n" for h in leaves[:size]).encode()
        return body(note_origin, size, fold(rng), leaves[size - 1], time, rng,
                    f"leaves 0 {size} {hashlib.sha256(leaf_file).hexdigest()}")

    notes = {size: signed(note_body(size)) for size in range(1, len(leaves) + 1)}

    def inclusion(index, size, note=None):
        return {"signal_id": ids[index], "chain_index": index, "entry_hash": leaves[index].hex(),
                "tree_size": size, "root": check_vectors.mth(leaves[:size]).hex(),
                "inclusion_path": [h.hex() for h in rfc6962_path(index, leaves[:size])],
                "checkpoint": note or notes[size]}

    def consistency(m, n):
        return {"from_tree_size": m, "from_root": check_vectors.mth(leaves[:m]).hex(),
                "to_tree_size": n, "to_root": check_vectors.mth(leaves[:n]).hex(),
                "consistency_path": [h.hex() for h in rfc6962_proof(m, leaves[:n])],
                "from_checkpoint": notes[m], "to_checkpoint": notes[n]}

    def edited(document, **changes):
        out = copy.deepcopy(document)
        out.update(changes)
        return out

    def flipped(hex_hash):
        return ("0" if hex_hash[0] != "0" else "1") + hex_hash[1:]

    n = len(leaves)
    good = inclusion(1, n)
    inclusions = [(f"entry {i} in the tree of size {size}", inclusion(i, size), "verified")
                  for size in range(1, n + 1) for i in range(size)]
    inclusions += [
        ("a path hash changed", edited(good, inclusion_path=[flipped(good["inclusion_path"][0])]
                                       + good["inclusion_path"][1:]), "refused"),
        ("a path one hash short", edited(good, inclusion_path=good["inclusion_path"][:-1]), "refused"),
        ("a path with one hash too many",
         edited(good, inclusion_path=good["inclusion_path"] + [leaves[0].hex()]), "refused"),
        ("another entry's hash at this index", edited(good, entry_hash=leaves[2].hex()), "refused"),
        ("the right path under another index", edited(good, chain_index=0), "refused"),
        ("an index beyond the tree", edited(good, chain_index=n), "refused"),
        ("a tree size that is not the note's", edited(good, tree_size=n - 1), "refused"),
        ("a root that is not the note's", edited(good, root=flipped(good["root"])), "refused"),
        ("the note unsigned", edited(good, checkpoint=note_body(n) + "\n\u2014 unsigned\n"), "refused"),
        ("the note signed by another key",
         edited(good, checkpoint=signed(note_body(n), key=OTHER_KEY)), "refused"),
        ("the note of another origin",
         edited(good, checkpoint=signed(note_body(n, "signal-ledger:prod"))), "refused"),
        ("a note whose body was edited after signing",
         edited(good, checkpoint=notes[n].replace(f"time {time}", "time 2026-11-28T09:31:00.123456Z")),
         "refused"),
        ("an unknown member", edited(good, extra=1), "refused"),
    ]
    whole = consistency(2, n)
    consistencies = [(f"from size {m} to size {size}", consistency(m, size), "verified")
                     for size in range(1, n + 1) for m in range(1, size + 1)]
    consistencies += [
        ("a path hash changed", edited(whole, consistency_path=[flipped(whole["consistency_path"][0])]
                                       + whole["consistency_path"][1:]), "refused"),
        ("a path one hash short", edited(whole, consistency_path=whole["consistency_path"][:-1]), "refused"),
        ("equal sizes with a non-empty path",
         edited(consistency(n, n), consistency_path=[leaves[0].hex()]), "refused"),
        ("the two notes swapped",
         edited(whole, from_checkpoint=whole["to_checkpoint"], to_checkpoint=whole["from_checkpoint"]),
         "refused"),
        ("a from size that is not its note's", edited(whole, from_tree_size=3), "refused"),
        ("a to root that is not its note's", edited(whole, to_root=flipped(whole["to_root"])), "refused"),
        ("from size 0", edited(whole, from_tree_size=0), "refused"),
        ("the to note signed by another key",
         edited(whole, to_checkpoint=signed(note_body(n), key=OTHER_KEY)), "refused"),
        ("the from note unsigned",
         edited(whole, from_checkpoint=note_body(2) + "\n\u2014 unsigned\n"), "refused"),
    ]
    return {
        "origin": origin,
        "public_key_der_hex": p256.spki_from_private(SIGNING_KEY).hex(),
        "inclusion": [{"name": a, "document": d, "verdict": v} for a, d, v in inclusions],
        "consistency": [{"name": a, "document": d, "verdict": v} for a, d, v in consistencies],
    }


def main():
    entries = json.loads((HERE.parent / "entries.json").read_text(encoding="utf-8"))["entries"]
    base = [dict(e["fields"], entry_hash=e["entry_hash"]) for e in entries]
    leaves = [bytes.fromhex(e["entry_hash"]) for e in entries]
    failing, signed_vector = checkpoint_vectors(leaves)
    write(HERE / "chains.json", {"cases": chain_cases(base)})
    write(HERE / "claims.json", {"cases": claim_cases(base)})
    write(HERE / "checkpoints.json", {"cases": failing})
    write(HERE / "manifests.json", {"cases": manifest_cases(leaves) + receipts_manifest_cases(leaves)})
    write(HERE.parent / "checkpoint.json", signed_vector)
    passing, failing_seals = audit_seal_vectors()
    write(HERE.parent / "audit_seal.json", passing)
    write(HERE / "audit_seals.json", failing_seals)
    write(HERE / "backups.json", backup_cases())
    write(HERE.parent / "proofs.json", proof_vectors(leaves))
    write(HERE / "evidence.json", evidence_vectors(base, leaves, signed_vector, passing))


# ---- evidence folders (section 12.2) -------------------------------------------------------

EVIDENCE_RETAIN_UNTIL = "2033-11-29T02:00:00.500000Z"


def evidence_record(files, versions=None):
    """evidence.json for `files` (key -> bytes), every object locked and of one version."""
    objects = []
    for key in sorted(files):
        data = files[key]
        objects.append({
            "key": key, "version_id": (versions or {}).get(key, f"v1-{hashlib.sha256(key.encode()).hexdigest()[:8]}"),
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "versions": 1,
            "retention": {"mode": "COMPLIANCE", "retain_until": EVIDENCE_RETAIN_UNTIL},
            "server_side_encryption": "aws:kms", "s3_sha256": hashlib.sha256(data).hexdigest()})
    return {"format": "signal-ledger-evidence/1", "bucket": "vault", "period": None,
            "exported_at": "2026-11-30T00:00:00.000000Z",
            "exported_by": "arn:aws:iam::123456789012:user/auditor",
            "objects": objects, "not_exported": []}


def evidence_bytes(record):
    return (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode()


def evidence_vectors(base, leaves, signed_vector, seals_vector):
    """One exported folder (the five entries of entries.json backed up in one CSV with its
    manifest, checkpointed at size 5, and the two audit seals of audit_seal.json) and changes
    to it, each with the verdict of section 12.2 written by hand: exit status, findings as
    (file, location, kind) sorted, missing, unlisted and left-out keys."""
    csv_key = manifest_chain.csv_key("20261128")
    csv = check_backup.write_csv(base)
    manifest = vector_manifest(leaves, "20261128", 0, 5, "29")
    manifest["csv"] = {"key": csv_key, "sha256": hashlib.sha256(csv).hexdigest(),
                       "bytes": len(csv), "version_id": "v-csv-20261128"}
    manifest["retain_until"] = EVIDENCE_RETAIN_UNTIL
    manifest_key = "manifests/2026/11/signals_backup_20261128.json"
    note_key = "checkpoints/00000000000000000005-20261128T093000123456Z.txt"
    leaves_key = note_key[:-3] + "leaves"
    files = {manifest_key: manifest_chain.canonical_bytes(manifest), csv_key: csv,
             note_key: signed_vector["note"].encode(), leaves_key: signed_vector["leaf_file"].encode()}
    seal_keys, events_keys = [], []
    for seal in seals_vector["seals"]:
        files[seal["key"]] = seal["note"].encode()
        files[seal["events_key"]] = seal["events_file"].encode()
        seal_keys.append(seal["key"])
        events_keys.append(seal["events_key"])
    versions = {csv_key: "v-csv-20261128"}
    base_files = dict(files, **{"evidence.json": evidence_bytes(evidence_record(files, versions))})
    cases = []

    def case(name, changed, exit_code, findings=(), missing=(), keys=("signing",), unlisted=(),
             out_of_period=(), copy="export"):
        changes = {k: (None if v is None else v.decode()) for k, v in changed.items()}
        cases.append({"name": name, "keys": list(keys), "changes": changes, "expected": {
            "exit_code": exit_code,
            "verdict": {0: "verified", 1: "findings", 2: "incomplete"}[exit_code],
            "copy": copy, "findings": sorted([list(f) for f in findings], key=lambda f: (f[0], f[1] or "", f[2])),
            "missing": sorted(missing), "unlisted": list(unlisted),
            "out_of_period": list(out_of_period)}})

    def record_with(change):
        record = evidence_record(files, versions)
        for obj in record["objects"]:
            change(obj)
        return evidence_bytes(record)

    text = csv.decode()
    lines = text.split("\r\n")
    case("an export, intact", {}, 0)
    case("a plain sync copy (no evidence.json)", {"evidence.json": None}, 0, copy="sync")
    case("judged with a rotated-out key beside the signing key", {}, 0, keys=("other", "signing"))
    edited = text.replace("EUR/USD", "EUR/USX", 1).encode()
    case("an edited CSV cell (row 2, symbol)", {csv_key: edited}, 1, [
        (csv_key, None, "file_hash_mismatch"), (csv_key, None, "csv_hash_mismatch"),
        (csv_key, "chain index 1, row 2", "hash_mismatch")])
    removed = "\r\n".join(lines[:3] + lines[4:]).encode()
    case("a removed row (row 3, chain index 2)", {csv_key: removed}, 1, [
        (csv_key, None, "file_hash_mismatch"), (csv_key, None, "csv_hash_mismatch"),
        (csv_key, None, "row_count_mismatch"), (csv_key, "chain index 2, row 3", "gap")])
    case("the same edited cell in a sync copy", {csv_key: edited, "evidence.json": None}, 1, [
        (csv_key, None, "csv_hash_mismatch"), (csv_key, "chain index 1, row 2", "hash_mismatch")],
        copy="sync")
    case("a truncated leaf-hash file", {leaves_key: files[leaves_key][:65 * 2]}, 1, [
        (leaves_key, None, "file_hash_mismatch"), (leaves_key, None, "leaves_digest")])
    case("a removed manifest", {manifest_key: None}, 2, [(csv_key, None, "csv_without_manifest")],
         missing=[manifest_key])
    body_text = signed_vector["body"]
    forged = signed(body_text, OTHER_KEY).encode()
    case("a checkpoint signed by another key", {note_key: forged}, 1, [
        (note_key, None, "file_hash_mismatch"), (note_key, None, "untrusted_key")])
    case("the intact folder judged with another key only", {}, 1, [
        (note_key, None, "untrusted_key"), (seal_keys[0], None, "audit_seal_untrusted"),
        (seal_keys[1], None, "audit_seal_untrusted")], keys=("other",))
    moved = signed(body_text.replace("time 2026-11-28T09:30:00.123456Z",
                                     "time 2026-11-28T09:45:00.000000Z")).encode()
    case("a checkpoint swapped for another signed one (of another time, under this key)",
         {note_key: moved}, 1, [(note_key, None, "file_hash_mismatch"),
                                (note_key, None, "checkpoint_misplaced")])
    case("a key written over in the vault", {"evidence.json": record_with(
        lambda o: o.update(versions=2) if o["key"] == note_key else None)}, 1,
        [(note_key, None, "overwritten")])
    case("an unlocked CSV", {"evidence.json": record_with(
        lambda o: o.update(retention={"mode": None, "retain_until": None}) if o["key"] == csv_key else None)},
        1, [(csv_key, None, "not_locked")])
    case("a CSV locked for less than its manifest's retain_until", {"evidence.json": record_with(
        lambda o: o.update(retention={"mode": "COMPLIANCE", "retain_until": "2030-01-01T00:00:00.000000Z"})
        if o["key"] == csv_key else None)}, 1, [(csv_key, None, "retention_short")])
    case("a CSV exported under another version than its manifest names", {"evidence.json": record_with(
        lambda o: o.update(version_id="v-csv-other") if o["key"] == csv_key else None)}, 1,
        [(csv_key, None, "version_mismatch")])
    planted = evidence_record(files, versions)
    planted["not_exported"] = [{"key": "signals/2026/11/../x.csv", "version_id": "v-planted",
                                "reason": "a part .. cannot be a path"}]
    case("a planted object the export could not copy", {"evidence.json": evidence_bytes(planted)}, 1,
         [("signals/2026/11/../x.csv", None, "planted_object")])
    case("a file evidence.json does not list", {"notes.txt": b"not evidence\n"}, 0,
         unlisted=["notes.txt"])
    stray = dict(files, **{"checkpoints/readme.txt": b"hello\n"})
    case("an unexpected object under checkpoints/", {
        "checkpoints/readme.txt": b"hello\n",
        "evidence.json": evidence_bytes(evidence_record(stray, versions))}, 1,
        [("checkpoints/readme.txt", None, "unexpected_object")])
    events = bytearray(files[events_keys[1]])
    events[10] = ord("0") if events[10] != ord("0") else ord("1")
    case("an edited audit events file", {events_keys[1]: bytes(events)}, 1, [
        (events_keys[1], None, "file_hash_mismatch"), (events_keys[1], None, "events_digest")])
    case("a removed audit seal (seal 0)", {seal_keys[0]: None}, 2,
         [(seal_keys[1], None, "audit_seal_gap")], missing=[seal_keys[0]])
    case("a sync copy without the CSV its manifest names", {"evidence.json": None, csv_key: None}, 2,
         missing=[csv_key], copy="sync")
    period = evidence_record({k: v for k, v in files.items() if k != csv_key}, versions)
    period["period"] = {"from": "2020-01-01", "to": "2020-01-31"}
    case("an export of another period, without the day's CSV", {
        csv_key: None, "evidence.json": evidence_bytes(period)}, 0, out_of_period=[csv_key])
    return {
        "about": "Evidence folders (docs/ledger-format.md section 12.2): `folder` is an export "
                 "(key -> text, evidence.json included); each case applies `changes` (a key "
                 "to new text, or null: removed), is judged with `keys` (`signing`: "
                 "public_key_der_hex, `other`: other_public_key_der_hex), and must give "
                 "`expected`: exit status, verdict, copy, findings as [file, location, kind] "
                 "sorted, missing, unlisted and out-of-period keys.",
        "public_key_der_hex": p256.spki_from_private(SIGNING_KEY).hex(),
        "other_public_key_der_hex": p256.spki_from_private(OTHER_KEY).hex(),
        "folder": {k: v.decode() for k, v in sorted(base_files.items())},
        "cases": cases,
    }


def write(path, value):
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", path)


if __name__ == "__main__":
    main()
