#!/usr/bin/env python3
"""Independent check of the backup vectors (docs/ledger-format.md section 8) for auditors.

Uses only the Python standard library (and the section 2 encoder of ../check_vectors.py). It
re-reads signals_backup_20261128.csv with Python's csv module, undoes the formula escape, checks
that every value is in its canonical form, re-encodes each row per section 2 and checks its entry
hash and chain link; writes the rows again with Python's csv writer and compares the bytes; then
checks the manifest against the CSV (key, size, SHA-256, index range, head hashes, Merkle root and
compact range, retain-until) and that its bytes are canonical. Exit status 0 when all check out.

    python3 docs/vectors/backup/check_backup.py [DIR]
    python3 docs/vectors/backup/check_backup.py BACKUP.csv MANIFEST.json

With DIR (default: this folder), it checks the vectors signals_backup_20261128.csv and .json in
it; with two paths, any backup CSV downloaded from the vault and its manifest.
"""
import csv
import hashlib
import io
import json
import pathlib
import re
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ beside the vectors
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from check_vectors import canonical, leaf_hash, mth  # noqa: E402

HEADER = ["schema_version", "chain_index", "previous_hash", "signal_id", "symbol", "action",
          "entry_price", "target_price", "stop_loss", "confidence", "rationale", "generated_at",
          "producer", "model", "model_version", "received_at", "delivery_latency_ms",
          "retention_expires_at", "submitter", "entry_hash"]
OPTIONAL = {"target_price", "stop_loss", "confidence", "producer", "model", "model_version"}
INTEGERS = {"schema_version", "chain_index", "delivery_latency_ms"}
DECIMALS = {"entry_price", "target_price", "stop_loss", "confidence"}
TIMESTAMPS = {"generated_at", "received_at", "retention_expires_at"}
HASHES = {"previous_hash", "entry_hash"}
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "'", "\uff1d", "\uff0b", "\uff0d", "\uff20")
DECIMAL = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{0,7}[1-9])?")
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
HASH = re.compile(r"[0-9a-f]{64}")
SIGNAL_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MANIFEST_FORMAT = "signal-ledger-backup-manifest/1"


def escape(value):
    return "'" + value if value == "" or value.startswith(TRIGGERS) else value


def unescape(cell, where):
    """Strictly undoes the formula escape of a non-empty cell."""
    if cell.startswith("'"):
        rest = cell[1:]
        if rest == "" or rest.startswith(TRIGGERS):
            return rest
        raise ValueError(f"{where}: a leading ' that escapes nothing")
    if cell.startswith(TRIGGERS):
        raise ValueError(f"{where}: starts with {cell[0]!r} without the ' escape")
    return cell


def parse_row(cells, row):
    if len(cells) != len(HEADER):
        raise ValueError(f"row {row}: {len(cells)} columns")
    fields = {}
    for name, cell in zip(HEADER, cells):
        where = f"row {row}, column {name}"
        if cell == "":
            if name not in OPTIONAL:
                raise ValueError(f"{where}: empty, but required")
            fields[name] = None
            continue
        value = unescape(cell, where)
        if name in INTEGERS:
            if str(int(value)) != value:
                raise ValueError(f"{where}: {value!r} is not a canonical integer")
            value = int(value)
        elif name in DECIMALS and not DECIMAL.fullmatch(value):
            raise ValueError(f"{where}: {value!r} is not a canonical decimal")
        elif name in TIMESTAMPS and not TIMESTAMP.fullmatch(value):
            raise ValueError(f"{where}: {value!r} is not a canonical timestamp")
        elif name in HASHES and not HASH.fullmatch(value):
            raise ValueError(f"{where}: {value!r} is not 64 lowercase hex digits")
        elif name == "signal_id" and not SIGNAL_ID.fullmatch(value):
            raise ValueError(f"{where}: {value!r} is not a signal id")
        elif name == "action" and value not in ("BUY", "SELL"):
            raise ValueError(f"{where}: {value!r} is not BUY or SELL")
        fields[name] = value
    return fields


def write_csv(rows):
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    for fields in rows:
        writer.writerow(["" if fields[name] is None else escape(str(fields[name]))
                         for name in HEADER])
    return out.getvalue().encode("utf-8")


def compact_range(leaves):
    """The roots of the perfect subtrees of the binary decomposition of len(leaves)."""
    out, start, n = [], 0, len(leaves)
    for bit in reversed(range(64)):
        size = 1 << bit
        if n & size:
            out.append(mth(leaves[start:start + size]))
            start += size
    return out


def check(csv_path, manifest_path, failures):
    data = csv_path.read_bytes()
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)
    if next(reader) != HEADER:
        failures.append("csv: the header differs")
    rows = [parse_row(cells, row) for row, cells in enumerate(reader, start=1)]
    leaves = []
    previous = None
    for row, fields in enumerate(rows, start=1):
        digest = leaf_hash(canonical(fields))
        if digest.hex() != fields["entry_hash"]:
            failures.append(f"row {row}: the row does not re-hash to its entry_hash")
        if previous is not None and bytes.fromhex(fields["previous_hash"]) != previous:
            failures.append(f"row {row}: previous_hash does not link to the row before")
        previous = bytes.fromhex(fields["entry_hash"])
        leaves.append(previous)
    if write_csv(rows) != data:
        failures.append("csv: Python's csv writer with the same escaping gives different bytes")
    if any(not cell.startswith("'") and cell.startswith(TRIGGERS)
           for cells in csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
           for cell in cells):
        failures.append("csv: a cell starts a formula")

    raw = manifest_path.read_bytes()
    manifest = json.loads(raw)
    if (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8") != raw:
        failures.append("manifest: not in canonical form")
    first, to = rows[0]["chain_index"], rows[-1]["chain_index"] + 1
    expected = {
        "format": MANIFEST_FORMAT,
        "index_range": {"from": first, "to": to},
        "row_count": len(rows),
        "first_previous_hash": rows[0]["previous_hash"],
        "last_entry_hash": rows[-1]["entry_hash"],
    }
    if first == 0:  # the CSV holds the whole tree: check the root and range too
        expected["merkle_root"] = mth(leaves).hex()
        expected["compact_range"] = [h.hex() for h in compact_range(leaves)]
    for name, value in expected.items():
        if manifest[name] != value:
            failures.append(f"manifest: {name} is {manifest[name]!r}, expected {value!r}")
    backup_id = manifest["backup_id"]
    csv_object = manifest["csv"]
    expected_csv = {
        "key": f"signals/{backup_id[:4]}/{backup_id[4:6]}/signals_backup_{backup_id}.csv",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    for name, value in expected_csv.items():
        if csv_object[name] != value:
            failures.append(f"manifest: csv.{name} is {csv_object[name]!r}, expected {value!r}")
    if manifest["retain_until"] < max(fields["retention_expires_at"] for fields in rows):
        failures.append("manifest: retain_until is before a row's retention_expires_at")
    return len(rows)


def main():
    if len(sys.argv) == 3:
        csv_path, manifest_path = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    else:
        folder = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent
        csv_path = folder / "signals_backup_20261128.csv"
        manifest_path = folder / "signals_backup_20261128.json"
    failures = []
    try:
        rows = check(csv_path, manifest_path, failures)
    except ValueError as error:
        failures.append(str(error))
    for failure in failures:
        print("FAIL", failure)
    if failures:
        return 1
    print(f"ok: {rows} CSV rows unescaped, re-encoded, re-hashed and linked; bytes re-written "
          "identically by Python's csv module; manifest canonical and matching the CSV")
    return 0


if __name__ == "__main__":
    sys.exit(main())
