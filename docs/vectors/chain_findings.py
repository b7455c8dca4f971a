"""The chain findings of docs/ledger-format.md section 4.1, standard library only.

An item is a dict of stored attributes (the entry fields of section 1 plus `entry_hash`, with
the names and types of the DynamoDB layout, section 9: integers as JSON numbers, everything else
as strings). verify(items, known_size) returns the findings as (index, kind) pairs, in order.
"""
import calendar
import hashlib
import re

from checkpoint_note import HEX64, is_canonical_timestamp

DECIMAL = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{0,7}[1-9])?\Z")
SIGNAL_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
OPTIONAL = {"target_price", "stop_loss", "confidence", "producer", "model", "model_version"}
KINDS = {
    "schema_version": "u64", "chain_index": "u64", "previous_hash": "hash", "signal_id": "text",
    "symbol": "text", "action": "text", "entry_price": "decimal", "target_price": "decimal",
    "stop_loss": "decimal", "confidence": "decimal", "rationale": "text",
    "generated_at": "timestamp", "producer": "text", "model": "text", "model_version": "text",
    "received_at": "timestamp", "delivery_latency_ms": "i64", "retention_expires_at": "timestamp",
    "submitter": "text", "entry_hash": "hash",
}


def unreadable_reason(item):
    """Why an item is not an entry of the format (section 1.1 rules 1-3, and section 9: its sort
    key `sk`, when the item gives one, is its chain_index), or None. Attributes beyond the layout
    are not part of the entry and are ignored."""
    if "sk" in item and item["sk"] != item.get("chain_index"):
        return "sk differs from chain_index"
    for name, kind in KINDS.items():
        value = item.get(name)
        if value is None:
            if name in OPTIONAL:
                continue
            return f"{name} is missing"
        if kind in ("u64", "i64"):
            low, high = (0, 2 ** 64) if kind == "u64" else (-2 ** 63, 2 ** 63)
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value < high
        elif kind == "hash":
            ok = isinstance(value, str) and HEX64.match(value) is not None
        elif kind == "decimal":
            ok = isinstance(value, str) and DECIMAL.match(value) is not None
        elif kind == "timestamp":
            ok = isinstance(value, str) and is_canonical_timestamp(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"{name} {value!r} is not a canonical {kind}"
    if not SIGNAL_ID.match(item["signal_id"]):
        return "signal_id is not 1-128 of A-Za-z0-9._:-"
    if item["action"] not in ("BUY", "SELL"):
        return "action is neither BUY nor SELL"
    return None


def micros(timestamp):
    """Microseconds since 0000-01-01T00:00:00Z of a canonical timestamp (proleptic Gregorian)."""
    year, month, day = int(timestamp[0:4]), int(timestamp[5:7]), int(timestamp[8:10])
    days = sum(366 if calendar.isleap(y) else 365 for y in range(0, year))
    lengths = [31, 29 if calendar.isleap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    days += sum(lengths[:month - 1])
    days += day - 1
    seconds = int(timestamp[11:13]) * 3600 + int(timestamp[14:16]) * 60 + int(timestamp[17:19])
    return (days * 86400 + seconds) * 1_000_000 + int(timestamp[20:26])


def invalid_fields(item):
    """Section 1.1 rules 4-5, in tag order."""
    problems = []
    if item["schema_version"] != 1:
        problems.append("schema_version")
    delta = micros(item["received_at"]) - micros(item["generated_at"])
    latency = delta // 1000 if delta >= 0 else -((-delta) // 1000)  # toward zero
    if item["delivery_latency_ms"] != latency:
        problems.append("delivery_latency_ms")
    retention = micros(item["retention_expires_at"]) - micros(item["received_at"])
    if retention <= 0 or retention % 86_400_000_000:
        problems.append("retention_expires_at")
    return problems


def entry_hash(item, canonical):
    fields = {k: v for k, v in item.items() if k != "entry_hash"}
    return hashlib.sha256(b"\x00" + canonical(fields)).digest()


def verify(items, known_size, canonical, start=0, previous=bytes(32), located=False):
    """The findings of section 4.1 over `items`, as (index, kind) pairs in order. `start` and
    `previous` resume after a verified prefix (its size and head hash; `previous` None when
    unknown). With `located`, each finding is (index, kind, item number in `items`, or None for
    `truncated`), so a caller can name the row that raised it."""
    findings = []
    position, last = start, None

    def report(index, kind, number):
        findings.append((index, kind, number) if located else (index, kind))

    for number, item in enumerate(items):
        if unreadable_reason(item) is not None:
            report(position, "unreadable", number)
            last, previous, position = position, None, position + 1
            continue
        index = item["chain_index"]
        computed = entry_hash(item, canonical)
        intact = computed.hex() == item["entry_hash"]
        if not intact:
            report(position, "hash_mismatch", number)
        for _ in invalid_fields(item):
            report(position, "invalid_field", number)
        if index > position:
            report(position, "gap", number)
            if intact:
                position, previous = index, None
        elif index < position:
            report(index, "duplicate_index" if index == last else "reorder", number)
            if intact:
                continue
        if previous is not None and previous.hex() != item["previous_hash"]:
            report(position, "broken_link", number)
        last, previous, position = position, bytes.fromhex(item["entry_hash"]), position + 1
    if known_size is not None and position < known_size:
        report(position, "truncated", None)
    return findings


def claim_findings(entries, claims):
    """Section 4.2: for each entry (chain_index, signal_id, entry_hash as stored), in order, the
    claim stored under its signal id must name its chain_index and entry_hash (compared as
    stored text): no claim is claim_missing, another index or hash claim_mismatch."""
    by_id = {claim["signal_id"]: claim for claim in claims}
    findings = []
    for entry in entries:
        claim = by_id.get(entry["signal_id"])
        if claim is None:
            findings.append((entry["chain_index"], "claim_missing"))
        elif (claim["chain_index"], claim["entry_hash"]) != (entry["chain_index"], entry["entry_hash"]):
            findings.append((entry["chain_index"], "claim_mismatch"))
    return findings
