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

Delivery receipts (section 8.6): in DIR it also checks receipts_backup_20261129.csv against its
format-2 manifest signals_backup_20261129.json (chained to signals_backup_20261128.json) and the
entries of signals_backup_20261128.csv: every row unescaped, in canonical form, re-encoded per
section 10 and re-hashed to its receipt_hash, its latency, window, order and signal; the bytes
re-written identically; the manifest's receipts key, size, SHA-256 and count. Downloaded files:

    python3 docs/vectors/backup/check_backup.py --receipts RECEIPTS.csv MANIFEST.json [BACKUP.csv]

(with BACKUP.csv, the entries CSV that holds the receipts' signals).
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
from check_vectors import canonical, leaf_hash, millis_between, mth, receipt_canonical  # noqa: E402
import chain_findings  # noqa: E402
from checkpoint_note import is_canonical_timestamp  # noqa: E402

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
    if manifest["format"] not in (MANIFEST_FORMAT, "signal-ledger-backup-manifest/2"):
        failures.append(f"manifest: format is {manifest['format']!r}, not format 1 or 2 (8.3)")
    expected = {
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


# --- Strict reading and the vectors that must fail (section 8.5) ------------------------------
# Written from section 8.1 and 8.5 of docs/ledger-format.md: a tokenizer over the raw bytes (the
# csv module above is lenient and cannot tell a needless quote), then the cell rules in order.

MAX_ROW_BYTES = 1 << 20
UNQUOTED_CELL = re.compile(rb'[^,"\r\n]*')
U64, I64 = (0, 2 ** 64), (-2 ** 63, 2 ** 63)


class Refusal(Exception):
    """A refusal of section 8.5: its code, the row (0 = header) and line it starts on, and the
    column of a refused cell."""

    def __init__(self, code, row, line, column=None):
        super().__init__(f"{code} at row {row} (line {line})" + (f", column {column}" if column else ""))
        self.code, self.row, self.line, self.column = code, row, line, column


def split_record(data, start, row, line):
    """The record starting at byte `start`: (cells as bytes, the offset after its CRLF, the LFs
    it holds). None at the end of the file. Raises Refusal for a framing rule."""
    if start == len(data):
        return None
    cells, at, lfs = [], start, 0

    def refuse(code, offset):
        # A byte past the record's first MAX_ROW_BYTES is refused as row_too_long first.
        raise Refusal("row_too_long" if offset - start >= MAX_ROW_BYTES else code, row, line)

    while True:
        if data[at:at + 1] == b'"':
            # The closing quote is the first " not followed by another (a pair is one ").
            close = at + 1
            while (close := data.find(b'"', close)) != -1 and data[close + 1:close + 2] == b'"':
                close += 2
            if close == -1:
                refuse("unterminated_row", len(data) - 1)
            content = data[at + 1:close].replace(b'""', b'"')
            needs_quotes = any(byte in content for byte in (b",", b'"', b"\r", b"\n"))
            lfs += content.count(b"\n")
            at = close + 1
            following = data[at:at + 1]
            if following in (b",", b"\r") and not needs_quotes:
                refuse("needless_quotes", at)
            if following == b"":
                refuse("unterminated_row", at - 1)
            if following not in (b",", b"\r"):
                refuse("text_after_quote", at)
        else:
            match = UNQUOTED_CELL.match(data, at)
            content, at = match.group(0), match.end()
            following = data[at:at + 1]
            if following == b'"':
                refuse("quote_in_unquoted_cell", at)
            if following == b"\n":
                refuse("bare_line_feed", at)
            if following == b"":
                refuse("unterminated_row", at - 1)
        cells.append(content)
        if following == b",":
            at += 1
            continue
        # following is CR: the record ends with CRLF, or the CR is bare.
        if data[at + 1:at + 2] == b"":
            refuse("unterminated_row", at)
        if data[at + 1:at + 2] != b"\n":
            refuse("bare_carriage_return", at + 1)
        if at + 1 - start >= MAX_ROW_BYTES:
            refuse("row_too_long", at + 1)
        return cells, at + 2, lfs + 1


def cell_value(name, cell, row, line):
    """The value of one decoded cell (None for absent), or a Refusal naming the column."""
    def refuse(code):
        raise Refusal(code, row, line, name)

    if cell == "":
        if name not in OPTIONAL:
            refuse("required_empty")
        return None
    if cell.startswith("'"):
        value = cell[1:]
        if value != "" and not value.startswith(TRIGGERS):
            refuse("needless_escape")
    elif cell.startswith(TRIGGERS):
        refuse("unescaped_formula")
    else:
        value = cell
    if name in INTEGERS:
        low, high = I64 if name == "delivery_latency_ms" else U64
        if not re.fullmatch(r"-?(0|[1-9][0-9]*)", value) or value == "-0" \
                or not low <= int(value) < high:
            refuse("not_canonical")
        return int(value)
    canonical = {
        **{n: lambda v: DECIMAL.fullmatch(v) is not None for n in DECIMALS},
        **{n: is_canonical_timestamp for n in TIMESTAMPS},
        **{n: lambda v: HASH.fullmatch(v) is not None for n in HASHES},
        "signal_id": lambda v: SIGNAL_ID.fullmatch(v) is not None,
        "action": lambda v: v in ("BUY", "SELL"),
    }.get(name, lambda v: True)
    if not canonical(value):
        refuse("not_canonical")
    return value


def read_strict(data):
    """Every row of a backup CSV as a dict of field -> value (None when absent), or the first
    Refusal in the file (section 8.5)."""
    header = split_record(data, 0, 0, 1)
    if header is None:
        raise Refusal("missing_header", 0, 1)
    cells, at, lfs = header
    if cells != [name.encode() for name in HEADER]:
        raise Refusal("header_mismatch", 0, 1)
    rows, row, line = [], 1, 1 + lfs
    while (record := split_record(data, at, row, line)) is not None:
        cells, at, lfs = record
        if len(cells) != len(HEADER):
            raise Refusal("column_count", row, line)
        texts = []
        for name, cell in zip(HEADER, cells):
            try:
                texts.append(cell.decode("utf-8"))
            except UnicodeDecodeError:
                raise Refusal("invalid_utf8", row, line, name) from None
        fields = {name: cell_value(name, text, row, line) for name, text in zip(HEADER, texts)}
        rows.append(fields)
        row, line = row + 1, line + lfs
    return rows


def vector_bytes(case):
    if "csv_parts" in case:  # text parts, each repeated `count` times (a 1 MiB row stays small)
        return "".join(text * count for text, count in case["csv_parts"]).encode("utf-8")
    return bytes.fromhex(case["csv_hex"]) if "csv_hex" in case else case["csv"].encode("utf-8")


def check_failing_backups(path, failures):
    """docs/vectors/failing/backups.json: each refused file gives exactly its refusal, each set
    of files exactly its chain findings (section 4.1 over the rows of every file, in order)."""
    vectors = json.loads(path.read_text(encoding="utf-8"))
    for case in vectors["files"]:
        expected = case["refusal"]
        try:
            rows = read_strict(vector_bytes(case))
            found = None if expected is None else f"accepted ({len(rows)} rows)"
        except Refusal as refusal:
            found = {"code": refusal.code, "row": refusal.row, "line": refusal.line,
                     "column": refusal.column}
        if found != expected:
            failures.append(f"backups.json: {case['name']}: {found}, expected {expected}")
    for case in vectors["sets"]:
        items = []
        for text in case["csvs"]:
            for fields in read_strict(text.encode("utf-8")):
                items.append({k: v for k, v in fields.items() if v is not None})
        found = [{"index": i, "kind": k} for i, k in chain_findings.verify(items, None, canonical)]
        if found != case["findings"]:
            failures.append(f"backups.json: {case['name']}: {found}, expected {case['findings']}")
    return len(vectors["files"]) + len(vectors["sets"])
# ---- section 8.6: the receipts CSV -------------------------------------------------------------

RECEIPTS_HEADER = ["signal_id", "chain_index", "subscriber", "generated_at", "delivered_at",
                   "recorded_at", "client_latency_ms", "submitter", "receipt_hash"]
SUBSCRIBER = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def parse_receipt_row(cells, row):
    where = f"receipts row {row}"
    if len(cells) != len(RECEIPTS_HEADER):
        raise ValueError(f"{where}: {len(cells)} columns")
    fields = {}
    for name, cell in zip(RECEIPTS_HEADER, cells):
        if cell == "":
            raise ValueError(f"{where}, column {name}: empty, but every field is required")
        value = unescape(cell, f"{where}, column {name}")
        if name in ("chain_index", "client_latency_ms"):
            if str(int(value)) != value:
                raise ValueError(f"{where}, column {name}: {value!r} is not a canonical integer")
            value = int(value)
        elif name in ("generated_at", "delivered_at", "recorded_at") and not TIMESTAMP.fullmatch(value):
            raise ValueError(f"{where}, column {name}: {value!r} is not a canonical timestamp")
        elif name == "receipt_hash" and not HASH.fullmatch(value):
            raise ValueError(f"{where}, column {name}: {value!r} is not 64 lowercase hex digits")
        elif name == "signal_id" and not SIGNAL_ID.fullmatch(value):
            raise ValueError(f"{where}, column {name}: {value!r} is not a signal id")
        elif name == "subscriber" and not SUBSCRIBER.fullmatch(value):
            raise ValueError(f"{where}, column {name}: {value!r} is not a subscriber")
        fields[name] = value
    return fields


def check_receipts(receipts_path, manifest_path, entries_path, failures, previous_path=None):
    """A receipts CSV against its format-2 manifest (and the entries CSV holding its signals)."""
    data = receipts_path.read_bytes()
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)
    if next(reader) != RECEIPTS_HEADER:
        failures.append("receipts csv: the header differs")
    rows = [parse_receipt_row(cells, row) for row, cells in enumerate(reader, start=1)]
    raw = manifest_path.read_bytes()
    manifest = json.loads(raw)
    import manifest_chain  # beside this file
    if manifest_chain.canonical_bytes(manifest) != raw:
        failures.append("receipts manifest: not in canonical form")
    problem = manifest_chain.consistency_problem(manifest)
    if problem is not None:
        failures.append(f"receipts manifest: {problem}")
    window = manifest.get("receipts")
    if window is None:
        failures.append("receipts manifest: no receipts field (format 1)")
        return len(rows)
    entries = {}
    if entries_path is not None:
        entry_reader = csv.reader(io.StringIO(entries_path.read_text(encoding="utf-8"), newline=""))
        next(entry_reader)
        for number, cells in enumerate(entry_reader, start=1):
            fields = parse_row(cells, number)
            entries[fields["chain_index"]] = fields
    previous_key = None
    for row, fields in enumerate(rows, start=1):
        where = f"receipts row {row}"
        if hashlib.sha256(receipt_canonical(fields)).hexdigest() != fields["receipt_hash"]:
            failures.append(f"{where}: the row does not re-hash to its receipt_hash")
        latency = millis_between(fields["generated_at"], fields["delivered_at"])
        if latency != fields["client_latency_ms"] or latency < 0:
            failures.append(f"{where}: client_latency_ms is not delivered_at - generated_at")
        start, until = window["recorded_from"], window["recorded_until"]
        if not ((start is None or start <= fields["recorded_at"]) and fields["recorded_at"] < until):
            failures.append(f"{where}: recorded_at is outside the manifest's window")
        key = (fields["recorded_at"], fields["signal_id"].encode(), fields["subscriber"].encode())
        if previous_key is not None and key <= previous_key:
            failures.append(f"{where}: not after the row before (recorded_at, signal_id, subscriber)")
        previous_key = key
        if fields["chain_index"] >= manifest["index_range"]["to"]:
            failures.append(f"{where}: its signal is beyond the backed-up entries")
        entry = entries.get(fields["chain_index"])
        if entries_path is not None and (entry is None or entry["signal_id"] != fields["signal_id"]
                                         or entry["generated_at"] != fields["generated_at"]):
            failures.append(f"{where}: does not match its signal's entry")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(RECEIPTS_HEADER)
    for fields in rows:
        writer.writerow([escape(str(fields[name])) for name in RECEIPTS_HEADER])
    if out.getvalue().encode("utf-8") != data:
        failures.append("receipts csv: Python's csv writer with the same escaping gives different bytes")
    listed = window["csv"] or {}
    expected = {
        "key": manifest_chain.receipts_csv_key(manifest["backup_id"]),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    for name, value in expected.items():
        if listed.get(name) != value:
            failures.append(f"receipts manifest: receipts.csv.{name} is {listed.get(name)!r}, expected {value!r}")
    if window["row_count"] != len(rows):
        failures.append(f"receipts manifest: receipts.row_count is {window['row_count']}, the CSV has {len(rows)} rows")
    if previous_path is not None:
        chain = [previous_path.read_bytes(), raw]
        for position, kind in manifest_chain.verify_chain(chain):
            failures.append(f"manifest chain: manifest {position}: {kind}")
    return len(rows)


def main_receipts(args):
    """--receipts RECEIPTS.csv MANIFEST.json [BACKUP.csv]"""
    entries = pathlib.Path(args[2]) if len(args) > 2 else None
    failures = []
    try:
        rows = check_receipts(pathlib.Path(args[0]), pathlib.Path(args[1]), entries, failures)
    except ValueError as error:
        failures.append(str(error))
    for failure in failures:
        print("FAIL", failure)
    if failures:
        return 1
    print(f"ok: {rows} receipts re-encoded and re-hashed; manifest canonical and matching the CSV")
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--receipts":
        return main_receipts(sys.argv[2:])
    if len(sys.argv) == 3:
        csv_path, manifest_path = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    else:
        folder = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent
        csv_path = folder / "signals_backup_20261128.csv"
        manifest_path = folder / "signals_backup_20261128.json"
    failures = []
    receipts = None
    try:
        rows = check(csv_path, manifest_path, failures)
        if len(sys.argv) != 3 and (folder / "receipts_backup_20261129.csv").exists():
            receipts = check_receipts(folder / "receipts_backup_20261129.csv",
                                      folder / "signals_backup_20261129.json", csv_path, failures,
                                      previous_path=manifest_path)
    except ValueError as error:
        failures.append(str(error))
    refused = 0
    if len(sys.argv) == 1:  # the vectors: also those that must fail
        failing = pathlib.Path(__file__).resolve().parent.parent / "failing" / "backups.json"
        refused = check_failing_backups(failing, failures)
    for failure in failures:
        print("FAIL", failure)
    if failures:
        return 1
    print(f"ok: {rows} CSV rows unescaped, re-encoded, re-hashed and linked; bytes re-written "
          "identically by Python's csv module; manifest canonical and matching the CSV")
    if refused:
        print(f"ok: {refused} failing backup vectors give exactly their refusals and findings")
    if receipts is not None:
        print(f"ok: {receipts} receipts rows unescaped, re-encoded and re-hashed (section 10), in "
              "window and order, matching their signals; re-written identically; the format-2 "
              "manifest lists them and chains to the format-1 one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
