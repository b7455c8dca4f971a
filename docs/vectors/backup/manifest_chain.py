"""Backup manifests (docs/ledger-format.md sections 8.3, 8.4 and 8.6), standard library only.

parse(raw) is the manifest in a manifest's bytes, or raises NotAManifest (8.4: such bytes take
no part in the chain); consistency_problem(m) the first disagreement between its fields (8.3), or None;
canonical_bytes(m) its one encoding; verify_chain(stored) the findings of 8.4 over a list of
manifests' exact bytes, as (position, kind) pairs in order.
"""
import hashlib
import json
import re
import sys
import pathlib

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from checkpoint_note import HEX64, fold, is_canonical_timestamp  # noqa: E402

ORDER = ["format", "backup_id", "created_at", "index_range", "row_count", "first_previous_hash",
         "last_entry_hash", "merkle_root", "compact_range", "csv", "retain_until",
         "previous_manifest_sha256"]
CSV_ORDER = ["key", "sha256", "bytes", "version_id"]
HEADER_BYTES = len(",".join([
    "schema_version", "chain_index", "previous_hash", "signal_id", "symbol", "action",
    "entry_price", "target_price", "stop_loss", "confidence", "rationale", "generated_at",
    "producer", "model", "model_version", "received_at", "delivery_latency_ms",
    "retention_expires_at", "submitter", "entry_hash"]) + "\r\n")
ZERO = "0" * 64


def canonical_bytes(m):
    ordered = {name: m[name] for name in ORDER}
    ordered["index_range"] = {"from": m["index_range"]["from"], "to": m["index_range"]["to"]}
    if m["csv"] is not None:
        ordered["csv"] = {name: m["csv"][name] for name in CSV_ORDER}
    ordered = with_receipts(ordered, m)
    return (json.dumps(ordered, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def backup_order(backup_id):
    """Backups order by day, then run: (YYYYMMDD, N)."""
    day, _, run = backup_id.partition("_")
    return day, int(run or 1)


def csv_key(backup_id):
    return f"signals/{backup_id[0:4]}/{backup_id[4:6]}/signals_backup_{backup_id}.csv"


def consistency_problem(m):
    f, t = m["index_range"]["from"], m["index_range"]["to"]
    if f > t or m["row_count"] != t - f:
        return "row_count is not to - from"
    rng = [bytes.fromhex(h) for h in m["compact_range"]]
    if len(rng) != bin(t).count("1"):
        return "compact_range has the wrong number of hashes"
    if fold(rng).hex() != m["merkle_root"]:
        return "merkle_root is not the root of compact_range"
    if (f == 0) != (m["first_previous_hash"] == ZERO):
        return "first_previous_hash is zero exactly when from is 0"
    if (t == 0) != (m["last_entry_hash"] == ZERO):
        return "last_entry_hash is zero exactly when to is 0"
    if t % 2 == 1 and m["compact_range"][-1] != m["last_entry_hash"]:
        return "for odd to the last range hash is last_entry_hash"
    csv = m["csv"]
    if csv is None and m["row_count"] > 0:
        return "a backup with rows names its csv"
    if csv is not None and m["row_count"] == 0:
        return "an empty backup has csv null"
    if csv is None and m["last_entry_hash"] != m["first_previous_hash"]:
        return "an empty backup's head hashes are equal"
    if csv is not None:
        if csv["key"] != csv_key(m["backup_id"]):
            return "csv.key is not the backup id's"
        if csv["bytes"] <= HEADER_BYTES:
            return "csv.bytes is no larger than the header"
        v = csv["version_id"]
        if not (1 <= len(v) <= 1024) or not all(0x21 <= ord(c) <= 0x7E for c in v):
            return "csv.version_id is not 1-1024 printable ASCII without spaces"
    if m["retain_until"] <= m["created_at"]:  # canonical timestamps: text order is time order
        return "retain_until is not after created_at"
    return receipts_problem(m)


class NotAManifest(ValueError):
    pass


BACKUP_ID = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:_([2-9]|[1-9][0-9]+))?\Z")


def _is_u64(value):
    return type(value) is int and 0 <= value < 2 ** 64


def _is_hash(value):
    return isinstance(value, str) and HEX64.match(value) is not None


def _is_timestamp(value):
    return isinstance(value, str) and is_canonical_timestamp(value)


def _is_backup_id(value):
    match = isinstance(value, str) and BACKUP_ID.match(value)
    return bool(match) and is_canonical_timestamp(
        f"{match[1]}-{match[2]}-{match[3]}T00:00:00.000000Z") and int(match[4] or 2) < 2 ** 32


def _is_index_range(value):
    return isinstance(value, dict) and list(value) in (["from", "to"], ["to", "from"]) \
        and all(_is_u64(v) for v in value.values())


def _is_csv(value):
    if value is None:
        return True
    return isinstance(value, dict) and sorted(value) == sorted(CSV_ORDER) \
        and isinstance(value["key"], str) and _is_hash(value["sha256"]) \
        and _is_u64(value["bytes"]) and isinstance(value["version_id"], str)


# What each field must hold for the bytes to be a manifest at all (8.4).
FIELD_SHAPES = {
    "format": lambda v: v in ("signal-ledger-backup-manifest/1", "signal-ledger-backup-manifest/2"),
    "backup_id": _is_backup_id,
    "created_at": _is_timestamp,
    "index_range": _is_index_range,
    "row_count": _is_u64,
    "first_previous_hash": _is_hash,
    "last_entry_hash": _is_hash,
    "merkle_root": _is_hash,
    "compact_range": lambda v: isinstance(v, list) and all(_is_hash(h) for h in v),
    "csv": _is_csv,
    "retain_until": _is_timestamp,
    "previous_manifest_sha256": _is_hash,
    "receipts": lambda v: _is_receipts(v),
}


def _is_receipts(value):
    """The shape of 8.6's `receipts` (whether it belongs in the manifest is 8.6's consistency)."""
    return isinstance(value, dict) and sorted(value) == sorted(RECEIPTS_ORDER) \
        and (value["recorded_from"] is None or _is_timestamp(value["recorded_from"])) \
        and _is_timestamp(value["recorded_until"]) and _is_u64(value["row_count"]) \
        and _is_csv(value["csv"])


def _unique_object(pairs):
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise NotAManifest("a field given twice")
    return dict(pairs)


def parse(raw):
    """The manifest in `raw`, or NotAManifest: not UTF-8 JSON, not an object, a field missing,
    unknown or given twice, or a value of the wrong shape (8.4)."""
    try:
        m = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_object)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotAManifest(str(error)) from None
    if not isinstance(m, dict) or sorted(set(m) - {"receipts"}) != sorted(ORDER):
        raise NotAManifest("not an object of exactly the manifest's fields")
    for name in m:
        if not FIELD_SHAPES[name](m[name]):
            raise NotAManifest(f"{name} is not of its shape")
    return m


def verify_chain(stored):
    findings = []
    previous_sha, previous_id, expected_from = ZERO, None, 0
    head, root = ZERO, hashlib.sha256(b"").hexdigest()
    receipts_until = None  # the last receipts window's end; None before any format-2 manifest
    for position, raw in enumerate(stored):
        try:
            m = parse(raw)
        except NotAManifest:
            findings.append((position, "invalid"))  # and no part in the chain
            continue
        if consistency_problem(m) is not None:
            findings.append((position, "invalid"))
        if canonical_bytes(m) != raw:
            findings.append((position, "invalid"))
        if m["previous_manifest_sha256"] != previous_sha:
            findings.append((position, "broken_link"))
        if previous_id is not None and backup_order(m["backup_id"]) <= backup_order(previous_id):
            findings.append((position, "out_of_order"))
        f, t = m["index_range"]["from"], m["index_range"]["to"]
        if f > expected_from:
            findings.append((position, "gap"))
        elif f < expected_from:
            findings.append((position, "overlap"))
        elif m["first_previous_hash"] != head:
            findings.append((position, "entry_link_mismatch"))
        if t == expected_from and m["merkle_root"] != root:
            findings.append((position, "root_changed"))
        receipts_until = receipts_window_finding(m, receipts_until, position, findings)
        previous_sha = hashlib.sha256(raw).hexdigest()
        previous_id, expected_from = m["backup_id"], t
        head, root = m["last_entry_hash"], m["merkle_root"]
    return findings


# ---- section 8.6: the receipts of format-2 manifests ----------------------------------------

FORMAT_1 = "signal-ledger-backup-manifest/1"
FORMAT_2 = "signal-ledger-backup-manifest/2"
RECEIPTS_ORDER = ["recorded_from", "recorded_until", "row_count", "csv"]
RECEIPTS_HEADER_BYTES = len(",".join([
    "signal_id", "chain_index", "subscriber", "generated_at", "delivered_at", "recorded_at",
    "client_latency_ms", "submitter", "receipt_hash"]) + "\r\n")


def receipts_csv_key(backup_id):
    return f"signals/{backup_id[0:4]}/{backup_id[4:6]}/receipts_backup_{backup_id}.csv"


def with_receipts(ordered, m):
    """The canonical field order with `receipts` (when present) right after `csv`."""
    if "receipts" not in m:
        return ordered
    receipts = m["receipts"]
    inner = {name: receipts[name] for name in RECEIPTS_ORDER}
    if receipts["csv"] is not None:
        inner["csv"] = {name: receipts["csv"][name] for name in CSV_ORDER}
    out = {}
    for name, value in ordered.items():
        out[name] = value
        if name == "csv":
            out["receipts"] = inner
    return out


def receipts_problem(m):
    """Format 1 has no `receipts`; format 2 has them, consistent with themselves (8.6)."""
    if m["format"] == FORMAT_1:
        return "a format-1 manifest has no receipts field" if "receipts" in m else None
    if m["format"] != FORMAT_2:
        return "format is neither /1 nor /2"
    if "receipts" not in m:
        return "a format-2 manifest lists its receipts"
    r = m["receipts"]
    if r["recorded_from"] is not None and r["recorded_from"] > r["recorded_until"]:
        return "receipts.recorded_from is after receipts.recorded_until"
    if r["recorded_until"] > m["created_at"]:
        return "receipts.recorded_until is after created_at"
    csv = r["csv"]
    if csv is None and r["row_count"] > 0:
        return "receipts with rows name their csv"
    if csv is not None and r["row_count"] == 0:
        return "receipts without rows have csv null"
    if csv is not None:
        if csv["key"] != receipts_csv_key(m["backup_id"]):
            return "receipts.csv.key is not the backup id's"
        if csv["bytes"] <= RECEIPTS_HEADER_BYTES:
            return "receipts.csv.bytes is no larger than the header"
        v = csv["version_id"]
        if not (1 <= len(v) <= 1024) or not all(0x21 <= ord(c) <= 0x7E for c in v):
            return "receipts.csv.version_id is not 1-1024 printable ASCII without spaces"
    return None


def receipts_window_finding(m, receipts_until, position, findings):
    """8.4's receipts findings for manifest `m`; returns the window end for the next one."""
    receipts = m.get("receipts")
    if receipts is None:
        if receipts_until is not None:
            findings.append((position, "receipts_dropped"))
        return receipts_until
    if receipts["recorded_from"] != receipts_until:
        findings.append((position, "receipts_window_mismatch"))
    return receipts["recorded_until"]
