#!/usr/bin/env python3
"""Verifies a regulator's production of the signal ledger, offline, with the standard library.

Run it inside the unzipped folder, with no arguments:

    python3 verify.py                        # the public key(s) shipped in keys/
    python3 verify.py --public-key key.der   # a key handed over out of band instead (DER or PEM)

It checks, from the files alone (docs/ledger-format.md sections 1-5, 7, 8.1 and 14):
- manifest.json: every file it lists is there with its SHA-256, size and row count, and no other;
- keys/: each DER key is a P-256 SubjectPublicKeyInfo, its PEM the same key, its SHA-256 the
  fingerprint the manifest states;
- checkpoint.txt: parses (section 7), names the manifest's origin, its signature (ECDSA P-256
  over SHA-256 of the note body) verifies under a trusted key, its size and root are the
  manifest's;
- entries.csv and entries.jsonl, row by row in step: each entry re-encoded (section 2) and
  re-hashed (section 3) equals its entry_hash; chain indexes consecutive from the manifest's
  first index; each previous_hash links to the row before; the CSV row and the JSON line agree
  field by field;
- proofs.jsonl, in step with the entries: each entry's RFC 9162 inclusion proof verifies against
  the checkpoint's root, so every entry is the one the signed checkpoint holds at its index;
- audit_events.jsonl: each line an event of the period, in time order; access_review.json the
  counts, first and last times per actor and event type recomputed from those events.

Exit status: 0 verified; 1 a finding (each printed as FINDING: <file> <row or line>: <what>);
2 the production is incomplete or unreadable (a listed file missing, manifest.json unreadable).
Memory stays bounded: the three row files are read in step, one row at a time.
"""
import base64
import csv
import hashlib
import io
import json
import pathlib
import re
import struct
import sys

sys.dont_write_bytecode = True  # leave the folder as it was: nothing unlisted appears
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import checkpoint_note  # noqa: E402
import p256  # noqa: E402

FORMAT = "signal-ledger-production/1"
DOMAIN = b"SIGNAL-LEDGER/ENTRY\x00"
VERSION = 1
# (tag, field, kind), in tag order; kinds: u64, i64, hash, text.
FIELDS = [
    (0x01, "schema_version", "u64"),
    (0x02, "chain_index", "u64"),
    (0x03, "previous_hash", "hash"),
    (0x04, "signal_id", "text"),
    (0x05, "symbol", "text"),
    (0x06, "action", "text"),
    (0x07, "entry_price", "text"),
    (0x08, "target_price", "text"),
    (0x09, "stop_loss", "text"),
    (0x0A, "confidence", "text"),
    (0x0B, "rationale", "text"),
    (0x0C, "generated_at", "text"),
    (0x0D, "producer", "text"),
    (0x0E, "model", "text"),
    (0x0F, "model_version", "text"),
    (0x10, "received_at", "text"),
    (0x11, "delivery_latency_ms", "i64"),
    (0x12, "retention_expires_at", "text"),
    (0x13, "submitter", "text"),
]
OPTIONAL = {"target_price", "stop_loss", "confidence", "producer", "model", "model_version"}
HEADER = [name for _, name, _ in FIELDS] + ["entry_hash"]
INTEGER = re.compile(r"-?(0|[1-9][0-9]*)\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
TRIGGERS = set("=+-@\t\r\n'\uff1d\uff0b\uff0d\uff20")
EXIT_FINDING, EXIT_INCOMPLETE = 1, 2


class Report:
    def __init__(self):
        self.findings = 0
        self.incomplete = 0

    def finding(self, where, what):
        self.findings += 1
        if self.findings <= 200:
            print(f"FINDING: {where}: {what}")

    def missing(self, where, what):
        self.incomplete += 1
        print(f"INCOMPLETE: {where}: {what}")


def canonical(fields):
    out = bytearray(DOMAIN + struct.pack(">H", VERSION))
    for tag, name, kind in FIELDS:
        value = fields.get(name)
        if value is None:
            if name not in OPTIONAL:
                raise ValueError(f"required field {name} is missing")
            continue
        if kind in ("u64", "i64"):
            if type(value) is not int:
                raise ValueError(f"{name} is not an integer")
            raw = struct.pack(">Q" if kind == "u64" else ">q", value)
        elif kind == "hash":
            if not isinstance(value, str) or not HEX64.match(value):
                raise ValueError(f"{name} is not 64 lowercase hex digits")
            raw = bytes.fromhex(value)
        else:
            if not isinstance(value, str):
                raise ValueError(f"{name} is not text")
            raw = value.encode("utf-8")
        out += bytes([tag]) + struct.pack(">I", len(raw)) + raw
    return bytes(out)


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def sha256_file(path):
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def read_key(path):
    """DER SubjectPublicKeyInfo, or PEM of one."""
    data = pathlib.Path(path).read_bytes()
    if data.lstrip().startswith(b"-----BEGIN PUBLIC KEY-----"):
        text = data.decode("ascii", "replace")
        body = text.split("-----BEGIN PUBLIC KEY-----", 1)[1].split("-----END PUBLIC KEY-----", 1)[0]
        data = base64.b64decode("".join(body.split()), validate=True)
    return data


def csv_fields(row):
    """A CSV row (section 8.1) as entry fields, or raises ValueError naming the column."""
    if len(row) != len(HEADER):
        raise ValueError(f"{len(row)} cells, expected {len(HEADER)}")
    fields = {}
    for (_, name, kind), cell in zip(FIELDS + [(0, "entry_hash", "hash")], row):
        if cell == "":
            if name not in OPTIONAL:
                raise ValueError(f"column {name}: a required cell is empty")
            fields[name] = None
            continue
        if cell.startswith("'"):
            rest = cell[1:]
            if rest and rest[0] not in TRIGGERS:
                raise ValueError(f"column {name}: a leading ' before a non-trigger character")
            cell = rest
        elif cell[0] in TRIGGERS:
            raise ValueError(f"column {name}: an unescaped formula trigger")
        if kind in ("u64", "i64"):
            if not INTEGER.match(cell):
                raise ValueError(f"column {name}: {cell!r} is not a canonical integer")
            fields[name] = int(cell)
        else:
            fields[name] = cell
    return fields


def check_manifest(report):
    path = HERE / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        report.missing("manifest.json", f"unreadable: {error}")
        return None
    if manifest.get("format") != FORMAT:
        report.finding("manifest.json", f"format is {manifest.get('format')!r}, not {FORMAT}")
    listed = set()
    for item in manifest.get("files", []):
        name = item["name"]
        listed.add(name)
        file = HERE / name
        if not file.is_file():
            report.missing(name, "listed in manifest.json but absent")
            continue
        digest, size = sha256_file(file)
        if digest != item["sha256"] or size != item["bytes"]:
            report.finding(name, f"SHA-256 {digest} ({size} bytes) is not the manifest's "
                                 f"{item['sha256']} ({item['bytes']} bytes): the file was changed")
    for file in sorted(HERE.rglob("*")):
        name = file.relative_to(HERE).as_posix()
        if file.is_file() and name != "manifest.json" and name not in listed \
                and "__pycache__" not in name:
            report.finding(name, "a file the manifest does not list")
    return manifest


def trusted_keys(manifest, given, report):
    if given:
        return [read_key(path) for path in given]
    keys = []
    for item in manifest.get("keys", []):
        try:
            der = (HERE / item["der"]).read_bytes()
            pem = read_key(HERE / item["pem"])
        except (OSError, ValueError) as error:
            report.missing(item.get("der", "keys/"), f"unreadable: {error}")
            continue
        if p256.public_key_from_spki(der) is None:
            report.finding(item["der"], "not a P-256 SubjectPublicKeyInfo")
            continue
        if pem != der:
            report.finding(item["pem"], f"not the same key as {item['der']}")
        if hashlib.sha256(der).hexdigest() != item["fingerprint_sha256"]:
            report.finding(item["der"], "its SHA-256 is not the manifest's fingerprint")
        keys.append(der)
    return keys


def check_checkpoint(manifest, keys, report):
    name = manifest["checkpoint"]["file"]
    try:
        note = checkpoint_note.parse((HERE / name).read_text(encoding="utf-8"))
    except checkpoint_note.Refused as refused:
        report.finding(name, f"not a valid checkpoint note: {refused}")
        return None
    except (OSError, ValueError) as error:
        report.missing(name, f"unreadable: {error}")
        return None
    verdict = checkpoint_note.verify_signature(note, keys, manifest.get("origin"))
    if verdict != "verified":
        report.finding(name, f"signature: {verdict} (origin {note['origin']!r}, "
                             f"{len(keys)} trusted key(s))")
    if note["tree_size"] != manifest["checkpoint"]["tree_size"] \
            or note["root"].hex() != manifest["checkpoint"]["root"]:
        report.finding(name, "its tree size or root is not the manifest's")
    return note


def csv_rows(report):
    """(row number, fields or error) for each CSV row after the header; checks the header."""
    with open(HERE / "entries.csv", "r", encoding="utf-8", newline="") as f:
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as error:
            report.finding("entries.csv row 0 (header)", str(error))
            return
        if header != HEADER:
            report.finding("entries.csv row 0 (header)", "not the header of section 8.1")
        number = 0
        while True:
            number += 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield number, ValueError(f"unparsable: {error}")
                return
            try:
                yield number, csv_fields(row)
            except ValueError as error:
                yield number, error


def json_lines(name):
    with open(HERE / name, "r", encoding="utf-8", newline="") as f:
        for number, line in enumerate(f, 1):
            try:
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise ValueError("not a JSON object")
                yield number, value
            except ValueError as error:
                yield number, ValueError(f"not a JSON object: {error}")


def check_entries(manifest, note, report):
    first = manifest["entries"]["first_index"]
    count = manifest["entries"]["count"]
    root = note["root"] if note else None
    size = note["tree_size"] if note else None
    rows = csv_rows(report)
    lines = json_lines("entries.jsonl")
    proofs = json_lines("proofs.jsonl")
    previous = None
    seen = 0
    counted = {"entries.csv": 0, "entries.jsonl": 0, "proofs.jsonl": 0}
    while True:
        row, line, proof = next(rows, None), next(lines, None), next(proofs, None)
        if row is None and line is None and proof is None:
            break
        seen += 1
        for name, item in (("entries.csv", row), ("entries.jsonl", line), ("proofs.jsonl", proof)):
            counted[name] += item is not None
        index = first + seen - 1
        at = f"(chain index {index})"
        for name, item, unit in (("entries.csv", row, "row"), ("entries.jsonl", line, "line"),
                                 ("proofs.jsonl", proof, "line")):
            if item is None:
                report.finding(name, f"ends before {unit} {seen} {at}: an entry is missing")
        if row is None or line is None or proof is None:
            continue
        (row_no, fields), (line_no, document), (proof_no, proven) = row, line, proof
        where_csv = f"entries.csv row {row_no} {at}"
        where_json = f"entries.jsonl line {line_no} {at}"
        where_proof = f"proofs.jsonl line {proof_no} {at}"
        hashes = {}
        for where, item in ((where_csv, fields), (where_json, document)):
            if isinstance(item, Exception):
                report.finding(where, str(item))
                continue
            unknown = set(item) - set(HEADER)
            if unknown:
                report.finding(where, f"unknown field(s) {sorted(unknown)}")
            try:
                computed = leaf_hash(canonical(item)).hex()
            except (ValueError, TypeError, struct.error) as error:
                report.finding(where, str(error))
                continue
            if computed != item.get("entry_hash"):
                report.finding(where, f"entry_hash {item.get('entry_hash')} is not the recomputed "
                                      f"hash {computed} of its fields: the entry was changed")
            if item.get("chain_index") != index:
                report.finding(where, f"chain_index is {item.get('chain_index')}, expected {index}")
            if previous is not None and item.get("previous_hash") != previous:
                report.finding(where, "previous_hash does not link to the entry before it")
            hashes[where] = item.get("entry_hash")
        if not isinstance(fields, Exception) and not isinstance(document, Exception):
            differing = sorted(name for name in HEADER
                               if fields.get(name) != document.get(name))
            if differing:
                report.finding(where_json, f"disagrees with {where_csv} in {differing}")
        if not isinstance(fields, Exception):
            previous = fields.get("entry_hash")
        elif not isinstance(document, Exception):
            previous = document.get("entry_hash")
        if isinstance(proven, Exception):
            report.finding(where_proof, str(proven))
            continue
        leaf = proven.get("entry_hash")
        if leaf not in hashes.values() or proven.get("chain_index") != index:
            report.finding(where_proof, "names another entry than the row it stands beside")
        if root is None:
            continue
        try:
            path = [bytes.fromhex(h) for h in proven["inclusion_path"]]
            ok = proven.get("tree_size") == size and all(len(p) == 32 for p in path) and \
                verify_inclusion(bytes.fromhex(leaf), index, size, path, root)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            report.finding(where_proof, f"the inclusion proof does not verify against the "
                                        f"checkpoint's root (tree size {size})")
    for name, rows_read in counted.items():
        check_rows(manifest, name, rows_read, report)
        if rows_read != count:
            report.finding(name, f"{rows_read} entries, the manifest says {count}")
    return seen


def check_rows(manifest, name, rows_read, report):
    for item in manifest.get("files", []):
        if item["name"] == name and item.get("rows") != rows_read:
            report.finding(name, f"{rows_read} rows, manifest.json lists {item.get('rows')}")


def check_audit(manifest, report):
    period = manifest["period"]
    review = {}
    last = None
    count = 0
    for number, event in json_lines("audit_events.jsonl"):
        where = f"audit_events.jsonl line {number}"
        count += 1
        if isinstance(event, Exception):
            report.finding(where, str(event))
            continue
        try:
            at, actor, kind = event["occurred_at"], event["actor"], event["event_type"]
            event["event_id"], event["request_id"]
        except KeyError as missing:
            report.finding(where, f"no {missing} field")
            continue
        if not (period["from"] <= at < period["to"]):
            report.finding(where, f"occurred_at {at} is outside the period")
        if last is not None and at < last:
            report.finding(where, f"occurred_at {at} is before the line above ({last})")
        last = at
        row = review.setdefault((actor, kind), [0, at, at])
        row[0] += 1
        row[1], row[2] = min(row[1], at), max(row[2], at)
    check_rows(manifest, "audit_events.jsonl", count, report)
    try:
        stated = json.loads((HERE / "access_review.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        report.missing("access_review.json", f"unreadable: {error}")
        return count
    if stated.get("events") != count:
        report.finding("access_review.json", f"counts {stated.get('events')} events, "
                                             f"audit_events.jsonl holds {count}")
    listed = {}
    for position, row in enumerate(stated.get("rows", []), 1):
        listed[(row.get("actor"), row.get("event_type"))] = (position, row)
    for key, (n, first, latest) in review.items():
        position, row = listed.get(key, (None, None))
        if row is None:
            if not stated.get("rows_not_listed"):
                report.finding("access_review.json", f"no row for actor {key[0]!r}, {key[1]}")
            continue
        if (row.get("count"), row.get("first"), row.get("last")) != (n, first, latest):
            report.finding(f"access_review.json row {position}",
                           f"{key[0]!r} {key[1]}: states {row.get('count')} from {row.get('first')} "
                           f"to {row.get('last')}, the events give {n} from {first} to {latest}")
    for key, (position, _) in listed.items():
        if key not in review:
            report.finding(f"access_review.json row {position}",
                           f"{key[0]!r} {key[1]} has no event in audit_events.jsonl")
    return count


def main(argv):
    given = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--public-key" and args:
            given.append(args.pop(0))
        else:
            print(__doc__)
            return EXIT_INCOMPLETE
    report = Report()
    manifest = check_manifest(report)
    if manifest is None or report.incomplete:
        print("INCOMPLETE: the production cannot be verified")
        return EXIT_INCOMPLETE
    keys = trusted_keys(manifest, given, report)
    note = check_checkpoint(manifest, keys, report)
    entries = check_entries(manifest, note, report)
    events = check_audit(manifest, report)
    if report.incomplete:
        print("INCOMPLETE: the production cannot be verified")
        return EXIT_INCOMPLETE
    if report.findings:
        print(f"FAILED: {report.findings} finding(s)")
        return EXIT_FINDING
    print(f"VERIFIED: {entries} entries of {manifest['period_label']} (chain index "
          f"{manifest['entries']['first_index']}..{manifest['entries']['end_index']}), each "
          f"in the checkpoint of tree size {note['tree_size']} signed by a trusted key; "
          f"{events} audit events and the access review")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
