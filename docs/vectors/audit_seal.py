"""The sealed audit log (docs/ledger-format.md section 11), standard library only.

event_bytes(item) / event_leaf(item): an audit item's canonical bytes and Merkle leaf.
encode_events / parse_events: a seal's events file. parse(text): a seal note, or
Refused(code, detail). verify_signature: the note's signature under trusted keys. check_chain:
the problems of a sequence of seals. compare: how the table differs from a sealed window.
"""
import hashlib
import json
import re
import struct

import p256
from checkpoint_note import DASH, Refused, _base64, _number, is_canonical_timestamp

FORMAT = "signal-ledger-audit-seal/1"
DOMAIN = b"SIGNAL-LEDGER/AUDIT-EVENT\x00"
VERSION = 1
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
ZERO = "0" * 64
# (tag, attribute, kind). Optional attributes are left out when absent.
FIELDS = [
    (1, "pk", "text"),
    (2, "sk", "text"),
    (3, "event_id", "text"),
    (4, "occurred_at", "text"),
    (5, "event_type", "text"),
    (6, "actor", "text"),
    (7, "request_id", "text"),
    (8, "signal_id", "text"),
    (9, "chain_index", "u64"),
    (10, "reason", "text"),
    (11, "excerpt", "text"),
    (12, "details", "text"),
]
OPTIONAL = {"signal_id", "chain_index", "reason", "excerpt"}


def event_bytes(item):
    """`item`: the audit item's attributes (chain_index an int, the rest strings)."""
    out = bytearray(DOMAIN + struct.pack(">H", VERSION))
    for tag, name, kind in FIELDS:
        value = item.get(name)
        if value is None:
            if name not in OPTIONAL:
                raise ValueError(f"required attribute {name} is missing")
            continue
        raw = struct.pack(">Q", value) if kind == "u64" else value.encode("utf-8")
        out += bytes([tag]) + struct.pack(">I", len(raw)) + raw
    return bytes(out)


def event_leaf(item):
    return hashlib.sha256(b"\x00" + event_bytes(item)).digest()


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def _line(event):
    return json.dumps({"leaf": event["leaf"], "pk": event["pk"], "sk": event["sk"]},
                      separators=(",", ":"), ensure_ascii=False) + "\n"


def _key(event):
    return (event["pk"].encode("utf-8"), event["sk"].encode("utf-8"))


def encode_events(events):
    """`events`: dicts with leaf (hex), pk, sk; written in key order."""
    return "".join(_line(e) for e in sorted(events, key=_key)).encode("utf-8")


def parse_events(data, seal):
    if hashlib.sha256(data).hexdigest() != seal["events"]:
        raise Refused("events_digest", "the events file's SHA-256 is not the seal's")
    events = []
    for number, line in enumerate(data.decode("utf-8").splitlines(keepends=True), 1):
        if not line.endswith("\n"):
            raise Refused("events_line", f"line {number}: no newline")
        event = json.loads(line)
        if set(event) != {"leaf", "pk", "sk"} or _line(event) != line or not HEX64.match(event["leaf"]):
            raise Refused("events_line", f"line {number}: not canonical")
        if events and _key(events[-1]) >= _key(event):
            raise Refused("events_line", f"line {number}: not in key order")
        events.append(event)
    if len(events) != seal["count"]:
        raise Refused("events_count", f"{len(events)} events, the seal states {seal['count']}")
    if mth([bytes.fromhex(e["leaf"]) for e in events]).hex() != seal["root"]:
        raise Refused("root_mismatch", "the leaves do not give the seal's root")
    return events


def body(seal):
    return (f"{FORMAT}\n{seal['origin']}\nseal {seal['seq']}\nfrom {seal['from']}\nto {seal['to']}\n"
            f"count {seal['count']}\nroot {seal['root']}\nevents {seal['events']}\n"
            f"previous {seal['previous']}\ntime {seal['time']}\n")


def digest(seal):
    return hashlib.sha256(body(seal).encode("ascii")).hexdigest()


def parse(text):
    split = text.find("\n\n")
    if split < 0:
        raise Refused("missing_blank_line", "no blank line ends the body")
    body_text, rest = text[:split + 1], text[split + 2:]
    lines = body_text[:-1].split("\n")

    def line(k, label=None):
        if k > len(lines):
            raise Refused("missing_line", f"line {k}")
        value = lines[k - 1]
        if label is None:
            return value
        if not value.startswith(label + " "):
            raise Refused("malformed_line", f"line {k}")
        return value[len(label) + 1:]

    if line(1) != FORMAT:
        raise Refused("malformed_line", "line 1")
    origin = line(2)
    if not origin or not all(0x20 <= ord(c) <= 0x7E for c in origin) \
            or origin.startswith(" ") or origin.endswith(" "):
        raise Refused("invalid_origin", repr(origin))
    seq = _number(line(3, "seal"))
    if seq is None:
        raise Refused("malformed_line", "line 3")
    start, end = line(4, "from"), line(5, "to")
    if not is_canonical_timestamp(start):
        raise Refused("malformed_line", "line 4")
    if not is_canonical_timestamp(end):
        raise Refused("malformed_line", "line 5")
    count = _number(line(6, "count"))
    if count is None:
        raise Refused("malformed_line", "line 6")
    hashes = {}
    for k, label in [(7, "root"), (8, "events"), (9, "previous")]:
        value = line(k, label)
        if not HEX64.match(value):
            raise Refused("malformed_line", f"line {k}")
        hashes[label] = value
    sealed_at = line(10, "time")
    if not is_canonical_timestamp(sealed_at):
        raise Refused("malformed_line", "line 10")
    if len(lines) > 10:
        raise Refused("malformed_line", "line 11: expected the blank line")
    if start >= end:  # canonical timestamps compare as text
        raise Refused("empty_window", f"from {start} is not before to {end}")
    if (seq == 0) != (hashes["previous"] == ZERO):
        raise Refused("bad_genesis", "seal 0, and only seal 0, names 64 zeros as previous")
    if "\n" not in rest:
        raise Refused("malformed_line", "line 12: no newline ends the signature line")
    signature_line, after = rest.split("\n", 1)
    if after:
        raise Refused("malformed_line", "line 13: text after the signature line")
    if not signature_line.startswith(DASH):
        raise Refused("malformed_line", "line 12")
    content = signature_line[len(DASH):]
    if content == "unsigned":
        key_id, signature = None, None
    else:
        if not content.startswith("kms:") or " " not in content[4:]:
            raise Refused("malformed_line", "line 12")
        key_id, signature_text = content[4:].split(" ", 1)
        signature = _base64(signature_text)
        if not signature:
            raise Refused("malformed_line", "line 12")
        if not key_id or not all(0x21 <= ord(c) <= 0x7E for c in key_id):
            raise Refused("invalid_key_id", repr(key_id))
    seal = {"origin": origin, "seq": seq, "from": start, "to": end, "count": count,
            "time": sealed_at, **hashes}
    return {"seal": seal, "body": body_text.encode("ascii"), "key_id": key_id, "signature": signature}


def verify_signature(note, trusted_keys, expected_origin):
    """'verified' / 'unsigned' / 'origin_mismatch' / 'untrusted_key', as for checkpoints."""
    if note["seal"]["origin"] != expected_origin:
        return "origin_mismatch"
    if note["signature"] is None:
        return "unsigned"
    message_digest = hashlib.sha256(note["body"]).digest()
    if any(p256.verify(key, message_digest, note["signature"]) for key in trusted_keys):
        return "verified"
    return "untrusted_key"


def compact(time):
    return "".join(c for c in time if c.isalnum())


def seal_key(seal):
    return f"integrity/audit-seals/{seal['seq']:020d}-{compact(seal['time'])}.txt"


def check_chain(keyed):
    """`keyed`: (key, seal) sorted by seq, then key. Returns (key, problem) pairs: gap,
    broken_link, wrong_key. Two seals with one number are fine when each links to a seal
    numbered one less (two sweeps that ran at once)."""
    problems, before, current = [], [], []
    for key, seal in keyed:
        if key != seal_key(seal):
            problems.append((key, "wrong_key"))
        current_seq = current[0]["seq"] if current else None
        if current_seq != seal["seq"]:
            expected = 0 if current_seq is None else current_seq + 1
            before, current = current, []
            if seal["seq"] != expected:
                problems.append((key, "gap"))
                before = []
        current.append(seal)
        if not before:
            continue
        named = [b for b in before if digest(b) == seal["previous"]]
        if not named or seal["from"] != named[0]["to"]:
            problems.append((key, "broken_link"))
    return problems


def in_window(pk, sk, start, end):
    """Whether the key (pk, sk) lies in the window's key range, byte order."""
    low = (start[:10].encode(), start.encode())
    high = (end[:10].encode(), end.encode())
    return low <= (pk.encode("utf-8"), sk.encode("utf-8")) < high


def canonical_details(text):
    """Whether a details text is in the one form the writers write: compact, keys sorted."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text


def compare(sealed, items):
    """`sealed`: the seal's events (parse_events); `items`: the table's items in the window.
    Returns (kind, pk, sk): audit_event_unreadable for an item whose details are not canonical
    (it is then left out, so also missing), and audit_event_changed / _missing / _added."""
    out = [("audit_event_unreadable", i["pk"], i["sk"]) for i in items
           if not canonical_details(i["details"])]
    now = {(i["pk"], i["sk"]): event_leaf(i).hex() for i in items if canonical_details(i["details"])}
    then = {(e["pk"], e["sk"]): e["leaf"] for e in sealed}
    for pk, sk in sorted(set(now) | set(then), key=lambda k: (k[0].encode(), k[1].encode())):
        if (pk, sk) not in now:
            out.append(("audit_event_missing", pk, sk))
        elif (pk, sk) not in then:
            out.append(("audit_event_added", pk, sk))
        elif now[(pk, sk)] != then[(pk, sk)]:
            out.append(("audit_event_changed", pk, sk))
    return out
