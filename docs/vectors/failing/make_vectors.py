#!/usr/bin/env python3
"""Writes the vectors that must fail (chains.json, checkpoints.json, manifests.json) and the
signed checkpoint vector (../checkpoint.json) from entries.json. Each case's expected verdict is written here by
hand from docs/ledger-format.md, not taken from either verifier's output. Run it again only
together with a change of the format.

    python3 docs/vectors/failing/make_vectors.py
"""
import base64
import copy
import hashlib
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import check_vectors  # noqa: E402
import p256  # noqa: E402
from checkpoint_note import fold  # noqa: E402

sys.path.insert(0, str(HERE.parent / "backup"))
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
    return [{"name": name, "known_size": size, "items": items,
             "findings": [{"index": i, "kind": k} for i, k in findings]}
            for name, items, size, findings in cases]


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
        ],
        "unsigned_note": good + "\n\u2014 unsigned\n",
        "unsigned_verdict": "unsigned",
    }
    return failing, signed_vector


def manifest_cases(leaves):
    def manifest(backup_id, start, end, day):
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
    return [{"name": name, "manifests": manifests,
             "findings": [{"position": p, "kind": k} for p, k in findings]}
            for name, manifests, findings in cases]


def main():
    entries = json.loads((HERE.parent / "entries.json").read_text(encoding="utf-8"))["entries"]
    base = [dict(e["fields"], entry_hash=e["entry_hash"]) for e in entries]
    leaves = [bytes.fromhex(e["entry_hash"]) for e in entries]
    failing, signed_vector = checkpoint_vectors(leaves)
    write(HERE / "chains.json", {"cases": chain_cases(base)})
    write(HERE / "checkpoints.json", {"cases": failing})
    write(HERE / "manifests.json", {"cases": manifest_cases(leaves)})
    write(HERE.parent / "checkpoint.json", signed_vector)


def write(path, value):
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", path)


if __name__ == "__main__":
    main()
