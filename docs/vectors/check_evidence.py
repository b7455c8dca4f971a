#!/usr/bin/env python3
"""Verify an evidence folder (docs/ledger-format.md section 12) offline, standard library only.

Written from the format (section 12.2 lists every check, finding kind and location), not from
the Rust, and giving the same verdicts as `ledgerctl verify-evidence`: it reuses this folder's
own re-implementations of the format (check_vectors.py for entry and receipt encoding,
chain_findings.py for section 4.1, checkpoint_note.py and p256.py for section 7,
backup/manifest_chain.py and backup/check_backup.py for section 8, audit_seal.py for section 11)
and adds the checks over a whole folder:

- `evidence.json` against the files (SHA-256, size, overwritten keys, locks, planted objects);
- the manifest chain (8.4); every backup CSV at the version its manifest names: its SHA-256,
  size and lock, the strict reading (8.5), its rows as the stretch of the chain (4.1) its
  manifest covers, resumed from the manifest before, and the root and head its manifest
  records; every receipts CSV (8.6);
- every checkpoint (section 7): the note, its signature under the given keys only, its origin,
  its key, its leaf-hash file, and its compact range and root refolded from the previous
  trusted checkpoint's range and its leaf file (the consistency of consecutive checkpoints);
- that backups and checkpoints agree: each leaf equals the backed-up row's entry hash at its
  index;
- the audit seals (section 11): notes, trust, chain and events files.

    python3 docs/vectors/check_evidence.py DIR --public-key KEY [--public-key KEY…] [--origin O] [--json]

KEY is the checkpoint signing key's DER SubjectPublicKeyInfo (`aws kms get-public-key --key-id K
--query PublicKey --output text | base64 -d`) or PEM. Exit 0 verified; 1 a finding (each names
the file and the row, line or chain index); 2 incomplete (a file evidence.json lists, or other
evidence names, is missing) or nothing could be judged (an unreadable key or evidence.json).
"""
import argparse
import hashlib
import json
import pathlib
import re
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ beside the vectors
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE / "backup"))
import audit_seal  # noqa: E402
import chain_findings  # noqa: E402
import check_backup  # noqa: E402
import checkpoint_note  # noqa: E402
import manifest_chain  # noqa: E402
from check_proof import read_key  # noqa: E402
from check_vectors import canonical, receipt_canonical  # noqa: E402

EVIDENCE_FILE = "evidence.json"
EVIDENCE_FORMAT = "signal-ledger-evidence/1"
JOURNAL_FILE = ".export-progress.jsonl"  # an unfinished export's progress: not evidence
LOCKED_PREFIXES = ("manifests/", "signals/", "checkpoints/")
MAX_FINDINGS_LISTED = 1000
SYNC_COPY_LIMITS = [
    "original versions: a sync copy holds each key's latest version, so an overwrite cannot be "
    "told from the original",
    "retention and encryption: the copy records no Object Lock mode, retain-until or encryption",
    "completeness: no record lists what the vault held, so a file missing from the copy is "
    "noticed only where other evidence names it",
]
MANIFEST_KEY = re.compile(r"manifests/([0-9]{4})/([0-9]{2})/signals_backup_([0-9_]+)\.json\Z")
CHECKPOINT_KEY = re.compile(r"checkpoints/([0-9]{20})-([0-9]{8}T[0-9]{12}Z)\.(txt|leaves)\Z")
SEAL_KEY = re.compile(r"integrity/audit-seals/([0-9]{20})-([0-9]{8}T[0-9]{12}Z)\.(txt|events)\Z")
LEAF_LINE = re.compile(rb"[0-9a-f]{64}\n")


class Unjudged(Exception):
    """Nothing can be judged: exit 2 without a verdict."""


class Object:
    """One file of the folder as the vault object it copies."""

    def __init__(self, path, version_id=None, record=None):
        self.path, self.version_id, self.record = path, version_id, record

    def read(self):
        return self.path.read_bytes()


class Verification:
    """The checks of section 12.2 over the folder's objects (key -> Object), with the given keys
    and origin; findings, absent objects and counts accumulate as they run."""

    def __init__(self, objects, keys, origin):
        self.objects, self.keys, self.origin = objects, keys, origin
        self.findings, self.absent = [], []  # absent: (key, named by)
        self.counts = dict.fromkeys([
            "manifests_checked", "rows_checked", "receipts_checked", "backed_up_to",
            "checkpoints_checked", "checkpointed_size", "leaves_checked",
            "leaves_matched_to_rows", "seals_checked", "audit_events_sealed", "reports_checked"], 0)
        self.rows = {}  # chain index -> entry_hash (hex) of the backed-up row

    def find(self, file, kind, message, location=None):
        self.findings.append({"file": file, "location": location, "kind": kind,
                              "message": message})

    def fetch(self, key, named_by, version_id=None):
        """The bytes of an object other evidence names (at that version when it says), or None
        when the folder does not hold it (then it is absent)."""
        found = self.objects.get(key)
        if found is None or (version_id is not None and found.version_id is not None
                             and found.version_id != version_id):
            self.absent.append((key, named_by))
            return None
        return found.read()

    def under(self, prefix):
        return sorted(k for k in self.objects if k.startswith(prefix))

    # ---- section 8: manifests, backup CSVs, receipts CSVs ---------------------------------

    def verify_backups(self):
        manifests = []
        for key in self.under("manifests/"):
            match = MANIFEST_KEY.match(key)
            if not match or not manifest_chain._is_backup_id(match[3]) \
                    or match[3][:6] != match[1] + match[2]:
                self.find(key, "unexpected_object", "not a manifest key (section 8.2)")
                continue
            manifests.append((manifest_chain.backup_order(match[3]), key))
        manifests.sort()
        stored = [(key, self.objects[key].read()) for _, key in manifests]
        read = []  # (key, manifest) of the manifests that parse, in chain order
        for key, raw in stored:
            try:
                m = manifest_chain.parse(raw)
                problem = manifest_chain.consistency_problem(m)
                if problem is None and manifest_chain.canonical_bytes(m) != raw:
                    problem = "not its canonical bytes"
            except manifest_chain.NotAManifest as error:
                problem = f"not a manifest at all: {error}"
            if problem is not None:
                self.find(key, "manifest_invalid", f"{problem} (sections 8.3, 8.4)")
            else:
                read.append((key, m))
        self.counts["manifests_checked"] = len(read)
        # Only manifests that mean what they say take part in the chain and judge their CSVs.
        chain = [raw for key, raw in stored if any(key == k for k, _ in read)]
        for position, kind in manifest_chain.verify_chain(chain):
            self.find(read[position][0], f"manifest_{kind}",
                      f"manifest {position} of the chain: {kind} (section 8.4)")
        self.counts["backed_up_to"] = read[-1][1]["index_range"]["to"] if read else 0
        self.find_csvs_without_manifest(read)
        for position, (key, m) in enumerate(read):
            self.retention(key, key, m)
            self.verify_receipts(key, m)
            if m["csv"] is not None:
                self.verify_rows(key, m, read[position - 1][1] if position else None)

    def find_csvs_without_manifest(self, read):
        named = set()
        for _, m in read:
            named.add((m["csv"] or {}).get("key"))
            named.add(((m.get("receipts") or {}).get("csv") or {}).get("key"))
        for key in self.under("signals/"):
            name = key.rsplit("/", 1)[-1]
            if name.startswith(("signals_backup_", "receipts_backup_")) and name.endswith(".csv") \
                    and key not in named:
                self.find(key, "csv_without_manifest", "no manifest names this backup CSV (section 8.2)")

    def retention(self, key, manifest_key, m):
        """A manifest and the CSVs it names stay locked until its retain_until (8.3), where the
        evidence records a retention (an export's evidence.json; a sync copy records none)."""
        record = self.objects.get(key)
        retention = (record.record or {}).get("retention") if record else None
        if not retention or (retention.get("mode") is None and retention.get("retain_until") is None):
            return
        if retention.get("retain_until") is None or retention["retain_until"] < m["retain_until"]:
            self.find(key, "retention_short",
                      f"retained until {retention.get('retain_until')}, before the retain_until "
                      f"{m['retain_until']} of {manifest_key}")

    def fetch_listed(self, manifest_key, m, listed):
        """A CSV a manifest lists, at the listed version: its bytes, or None when absent."""
        if listed["key"] in self.objects and self.objects[listed["key"]].version_id in (None, listed["version_id"]):
            self.retention(listed["key"], manifest_key, m)
        return self.fetch(listed["key"], manifest_key, listed["version_id"])

    def verify_rows(self, key, m, before):
        """One entries CSV (8.5) and its rows as the stretch of the chain (4.1) its manifest
        covers, resumed from the manifest before (its size and compact range) and from this
        manifest's first_previous_hash; then the root and head this manifest records."""
        listed = m["csv"]
        data = self.fetch_listed(key, m, listed)
        if data is None:
            return
        if hashlib.sha256(data).hexdigest() != listed["sha256"] or len(data) != listed["bytes"]:
            self.find(listed["key"], "csv_hash_mismatch",
                      f"its bytes (SHA-256 {hashlib.sha256(data).hexdigest()}, {len(data)} bytes) "
                      f"are not those {key} names (SHA-256 {listed['sha256']}, {listed['bytes']} bytes)")
        try:
            rows = check_backup.read_strict(data)
        except check_backup.Refusal as refusal:
            self.find(listed["key"], refusal.code, f"refused (section 8.5): {refusal}", where(refusal))
            return
        self.counts["rows_checked"] += len(rows)
        if len(rows) != m["row_count"]:
            self.find(listed["key"], "row_count_mismatch", f"it has {len(rows)} rows; {key} says {m['row_count']}")
        size, compact = (0, []) if before is None else (
            before["index_range"]["to"], [bytes.fromhex(h) for h in before["compact_range"]])
        if len(compact) != bin(size).count("1"):
            size, compact = 0, []
        items = [{k: v for k, v in fields.items() if v is not None} for fields in rows]
        findings = chain_findings.verify(items, None, canonical, size,
                                         bytes.fromhex(m["first_previous_hash"]))
        first = m["index_range"]["from"]
        for index, kind in findings:
            row = f", row {index - first + 1}" if index >= first else ""
            self.find(listed["key"], kind, f"{kind} (section 4.1)", f"chain index {index}{row}")
        for fields in rows:
            self.rows[fields["chain_index"]] = fields["entry_hash"]
        head = rows[-1]["entry_hash"] if rows else m["first_previous_hash"]
        leaves = [bytes.fromhex(fields["entry_hash"]) for fields in rows]
        if not findings and (checkpoint_note.fold(extend(size, compact, leaves)).hex() != m["merkle_root"]
                             or head != m["last_entry_hash"]):
            self.find(listed["key"], "manifest_root_mismatch",
                      f"its rows do not give the Merkle root and head that {key} records",
                      f"chain index {max(m['index_range']['to'] - 1, 0)}")

    def verify_receipts(self, manifest_key, m):
        window = m.get("receipts")
        if window is None or window["csv"] is None:
            return
        listed = window["csv"]
        data = self.fetch_listed(manifest_key, m, listed)
        if data is None:
            return
        file = listed["key"]
        if hashlib.sha256(data).hexdigest() != listed["sha256"] or len(data) != listed["bytes"]:
            self.find(file, "receipts_csv_hash_mismatch",
                      f"its bytes are not those {manifest_key} names")
        try:
            rows = read_receipts_strict(data)
        except check_backup.Refusal as refusal:
            self.find(file, "receipts_csv_invalid", f"refused (sections 8.5, 8.6): {refusal}")
            return
        self.counts["receipts_checked"] += len(rows)
        if len(rows) != window["row_count"]:
            self.find(file, "receipts_row_count_mismatch",
                      f"it has {len(rows)} rows; {manifest_key} says {window['row_count']}")
        before = None
        for row, fields in enumerate(rows, start=1):
            at = f"row {row}"
            if hashlib.sha256(receipt_canonical(fields)).hexdigest() != fields["receipt_hash"]:
                self.find(file, "receipt_hash_mismatch", "the row does not re-hash to its receipt_hash", at)
            delta = chain_findings.micros(fields["delivered_at"]) - chain_findings.micros(fields["generated_at"])
            latency = delta // 1000 if delta >= 0 else -((-delta) // 1000)
            if latency != fields["client_latency_ms"] or latency < 0:
                self.find(file, "receipt_latency_mismatch",
                          "client_latency_ms is not delivered_at - generated_at (never negative)", at)
            low, high = window["recorded_from"], window["recorded_until"]
            if not ((low is None or low <= fields["recorded_at"]) and fields["recorded_at"] < high):
                self.find(file, "receipt_outside_window", "recorded_at is outside the window", at)
            order = (fields["recorded_at"].encode(), fields["signal_id"].encode(),
                     fields["subscriber"].encode())
            if before is not None and order <= before:
                self.find(file, "receipt_out_of_order", "not after the row before", at)
            before = order
            if fields["chain_index"] >= m["index_range"]["to"]:
                self.find(file, "receipt_signal_not_backed_up",
                          f"chain index {fields['chain_index']} is not below {m['index_range']['to']}", at)

    # ---- section 7: checkpoints ----------------------------------------------------------

    def verify_checkpoints(self):
        notes = []
        leaf_files = set()
        for key in self.under("checkpoints/"):
            match = CHECKPOINT_KEY.match(key)
            if not match:
                self.find(key, "unexpected_object", "not a checkpoint note or leaf-hash file key (section 7)")
            elif match[3] == "leaves":
                leaf_files.add(key)
            else:
                try:
                    notes.append((key, checkpoint_note.parse(self.objects[key].read().decode("utf-8"))))
                except UnicodeDecodeError:
                    self.find(key, "checkpoint_invalid", "not UTF-8 text")
                except checkpoint_note.Refused as refusal:
                    self.find(key, "checkpoint_invalid", f"refused (section 7): {refusal}")
        if self.origin is None:
            self.origin = next((note["origin"] for _, note in notes if checkpoint_note.verify_signature(
                note, self.keys, note["origin"]) == "verified"), None)
        origin = self.origin if self.origin is not None else (notes[0][1]["origin"] if notes else "")
        size, compact, anchor = 0, [], None  # the last trusted checkpoint
        for key, note in notes:
            n = note["tree_size"]
            verdict = checkpoint_note.verify_signature(note, self.keys, origin)
            misplaced = key != f"checkpoints/{n:020d}-{audit_seal.compact(note['time'])}.txt"
            if verdict != "verified" or misplaced:
                kind = {"origin_mismatch": "origin_mismatch", "verified": "checkpoint_misplaced"}.get(
                    verdict, "untrusted_key")
                self.find(key, kind, f"the note does not count (section 7): {verdict}"
                          + (", and it is not stored under the key its size and time give" if misplaced else ""))
                continue
            self.counts["checkpoints_checked"] += 1
            first = note["leaves"][0]
            follows = first == size
            if not follows:
                self.find(key, "checkpoint_gap",
                          f"its leaves start at {first}, but the previous trusted checkpoint"
                          + (f" ({anchor})" if anchor else "") + f" ends at {size}", "line 7")
            leaves_key = key[:-len("txt")] + "leaves"
            leaves = self.read_leaves(leaves_key, key, note, leaf_files)
            if leaves is not None:
                self.counts["leaves_checked"] += len(leaves)
                for index, leaf in enumerate(leaves, start=first):
                    row = self.rows.get(index)
                    if row is None:
                        continue
                    self.counts["leaves_matched_to_rows"] += 1
                    if row != leaf.hex():
                        self.find(leaves_key, "leaf_differs_from_backup",
                                  f"the checkpointed leaf {leaf.hex()} is not the backed-up row's entry hash {row}",
                                  f"chain index {index}")
                if follows and extend(size, compact, leaves) != note["range"]:
                    self.find(key, "root_mismatch",
                              f"the previous checkpoint's range extended with {leaves_key} does not "
                              "give this note's range and root: the trees are not consistent",
                              f"chain indexes {first}..{n}")
            self.counts["checkpointed_size"] = n
            size, compact, anchor = n, list(note["range"]), key

    def read_leaves(self, leaves_key, note_key, note, leaf_files):
        """The leaves of a trusted checkpoint's leaf-hash file, or None (absent, or a finding)."""
        if leaves_key not in leaf_files:
            self.absent.append((leaves_key, note_key))
            return None
        data = self.objects[leaves_key].read()
        first, to, digest = note["leaves"]
        if hashlib.sha256(data).digest() != digest:
            self.find(leaves_key, "leaves_digest", "the file's SHA-256 is not the note's leaves line")
            return None
        leaves = []
        for number, at in enumerate(range(0, len(data), 65), start=1):
            if not LEAF_LINE.fullmatch(data[at:at + 65]):
                self.find(leaves_key, "leaves_line", "not 64 lowercase hex digits and a newline",
                          f"line {number}")
                return None
            leaves.append(bytes.fromhex(data[at:at + 64].decode()))
        if len(leaves) != to - first:
            self.find(leaves_key, "leaves_count", f"{len(leaves)} leaves for [{first}, {to})")
            return None
        return leaves

    # ---- section 11: audit seals -----------------------------------------------------------

    def verify_seals(self):
        seals, events_files = [], set()
        for key in self.under("integrity/audit-seals/"):
            match = SEAL_KEY.match(key)
            if not match:
                self.find(key, "unexpected_object", "not an audit seal note or events file key (section 11.4)")
            elif match[3] == "events":
                events_files.add(key)
            else:
                try:
                    seals.append((key, audit_seal.parse(self.objects[key].read().decode("utf-8"))))
                except UnicodeDecodeError:
                    self.find(key, "audit_seal_invalid", "not UTF-8 text")
                except checkpoint_note.Refused as refusal:
                    self.find(key, "audit_seal_invalid", f"refused (section 11.4): {refusal}")
        if self.origin is None:
            self.origin = next((note["seal"]["origin"] for _, note in seals if audit_seal.verify_signature(
                note, self.keys, note["seal"]["origin"]) == "verified"), None)
        origin = self.origin if self.origin is not None else (seals[0][1]["seal"]["origin"] if seals else "")
        trusted = []
        for key, note in seals:
            verdict = audit_seal.verify_signature(note, self.keys, origin)
            if verdict != "verified":
                self.find(key, "audit_seal_untrusted", f"the seal does not count (section 11.5): {verdict}")
            else:
                trusted.append((key, note["seal"]))
        trusted.sort(key=lambda pair: (pair[1]["seq"], pair[0]))
        ends = {}  # seq -> [(body digest, to)] of the trusted seals checked so far
        for key, seal in trusted:
            if key != audit_seal.seal_key(seal):
                self.find(key, "audit_seal_wrong_key", f"its content is that of {audit_seal.seal_key(seal)}")
            if seal["seq"] > 0:
                before = ends.get(seal["seq"] - 1)
                linked = [to for digest, to in before or [] if digest == seal["previous"]]
                if before is None:
                    self.find(key, "audit_seal_gap", f"no trusted seal {seal['seq'] - 1} precedes it")
                elif not linked:
                    self.find(key, "audit_seal_broken_link",
                              f"its previous is the digest of no trusted seal {seal['seq'] - 1}")
                elif linked[0] != seal["from"]:
                    self.find(key, "audit_seal_broken_link",
                              f"its window starts at {seal['from']}, not where seal {seal['seq'] - 1} ended")
            ends.setdefault(seal["seq"], []).append((audit_seal.digest(seal), seal["to"]))
            self.counts["seals_checked"] += 1
            events_key = audit_seal.seal_key(seal)[:-len("txt")] + "events"  # named by its content
            if events_key not in events_files:
                self.absent.append((events_key, key))
                continue
            try:
                audit_seal.parse_events(self.objects[events_key].read(), seal)
                self.counts["audit_events_sealed"] += seal["count"]
            except (checkpoint_note.Refused, UnicodeDecodeError, ValueError) as error:
                code = getattr(error, "code", "events_line")
                line = re.match(r"\w+: line ([0-9]+)", str(error)) if code == "events_line" else None
                self.find(events_key, code, f"refused (section 11.3): {error}",
                          f"line {line[1]}" if line else None)

    # ---- reports and their records (section 12.1) -----------------------------------------

    def verify_reports(self):
        """Every report file under reports/ against the report records: a record that does not
        parse is report_record_invalid; a file no usable record names, report_unrecorded; one
        whose SHA-256 and size are those of no candidate, report_hash_mismatch; a key a record
        names that the folder lacks is absent."""
        keys = self.under("reports/")
        records = []  # (record key, record)
        for key in keys:
            if key.endswith(REPORT_RECORD_SUFFIX):
                try:
                    records.append((key, parse_report_record(self.objects[key].read())))
                except ValueError as error:
                    self.find(key, "report_record_invalid", f"not a report record (section 12.1): {error}")
        for record_key, record in records:
            for obj in record["objects"]:
                if obj["key"] not in keys:
                    self.absent.append((obj["key"], record_key))
        for key in keys:
            if key.endswith(REPORT_RECORD_SUFFIX):
                continue
            data = self.objects[key].read()
            self.counts["reports_checked"] += 1
            named = [(rk, o) for rk, r in records for o in r["objects"] if o["key"] == key]
            candidates = [(rk, o) for rk, o in named if o["version_id"] == self.objects[key].version_id] or named
            if not candidates:
                self.find(key, "report_unrecorded", "no report record names this report")
            elif not any(o["sha256"] == hashlib.sha256(data).hexdigest() and o["bytes"] == len(data)
                         for _, o in candidates):
                self.find(key, "report_hash_mismatch",
                          f"its bytes are not those {candidates[0][0]} records")


REPORT_RECORD_FORMAT = "signal-ledger-report-record/1"
REPORT_RECORD_SUFFIX = ".record.json"


def parse_report_record(raw):
    """A report record (section 12.1): UTF-8 JSON of exactly format, period, generated_at and
    objects (each exactly key, version_id, sha256, bytes), that format, at least one object."""
    record = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique)
    exact = {"format": _is_text, "period": _is_text, "generated_at": _is_timestamp,
             "objects": lambda v: isinstance(v, list) and all(
                 isinstance(o, dict) and set(o) == {"key", "version_id", "sha256", "bytes"}
                 and _is_text(o["key"]) and _is_text(o["version_id"]) and _is_hash(o["sha256"])
                 and _is_count(o["bytes"]) for o in v)}
    if not isinstance(record, dict) or set(record) != set(exact) \
            or not all(shape(record[name]) for name, shape in exact.items()):
        raise ValueError("not exactly the members of a report record, of their types")
    if record["format"] != REPORT_RECORD_FORMAT:
        raise ValueError(f"format {record['format']!r}, not {REPORT_RECORD_FORMAT!r}")
    if not record["objects"]:
        raise ValueError("it names no report")
    return record


def where(refusal):
    """The location of a CSV refusal (8.5): `row R (line L)`, and `, column C` for a cell."""
    return f"row {refusal.row} (line {refusal.line})" + (f", column {refusal.column}" if refusal.column else "")


def extend(size, compact, leaves):
    """The compact range (section 5) of the tree of `size` leaves whose compact range is
    `compact`, after appending `leaves`: a binary counter over perfect subtrees."""
    heights = [bit for bit in reversed(range(64)) if size >> bit & 1]
    stack = list(zip(heights, compact))
    for leaf in leaves:
        stack.append((0, leaf))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (height, right), (_, left) = stack.pop(), stack.pop()
            stack.append((height + 1, hashlib.sha256(b"\x01" + left + right).digest()))
    return [h for _, h in stack]


RECEIPT_INTEGERS = {"chain_index": (0, 2 ** 64), "client_latency_ms": (-2 ** 63, 2 ** 63)}
RECEIPT_TIMESTAMPS = {"generated_at", "delivered_at", "recorded_at"}


def read_receipts_strict(data):
    """The rows of a receipts CSV read by the strict rules of 8.1/8.5 with the header of 8.6 and
    every cell required."""
    header = check_backup.split_record(data, 0, 0, 1)
    if header is None:
        raise check_backup.Refusal("missing_header", 0, 1)
    cells, at, lfs = header
    if cells != [name.encode() for name in check_backup.RECEIPTS_HEADER]:
        raise check_backup.Refusal("header_mismatch", 0, 1)
    rows, row, line = [], 1, 1 + lfs
    while (record := check_backup.split_record(data, at, row, line)) is not None:
        cells, at, lfs = record
        if len(cells) != len(check_backup.RECEIPTS_HEADER):
            raise check_backup.Refusal("column_count", row, line)
        texts = []
        for name, cell in zip(check_backup.RECEIPTS_HEADER, cells):
            try:
                texts.append(cell.decode("utf-8"))
            except UnicodeDecodeError:
                raise check_backup.Refusal("invalid_utf8", row, line, name) from None
        fields = {}
        for name, text in zip(check_backup.RECEIPTS_HEADER, texts):
            def refuse(code):
                raise check_backup.Refusal(code, row, line, name)
            if text == "":
                refuse("required_empty")
            if text.startswith("'"):
                value = text[1:]
                if value != "" and not value.startswith(check_backup.TRIGGERS):
                    refuse("needless_escape")
            elif text.startswith(check_backup.TRIGGERS):
                refuse("unescaped_formula")
            else:
                value = text
            if name in RECEIPT_INTEGERS:
                low, high = RECEIPT_INTEGERS[name]
                if not re.fullmatch(r"-?(0|[1-9][0-9]*)", value) or value == "-0" \
                        or not low <= int(value) < high:
                    refuse("not_canonical")
                value = int(value)
            elif name in RECEIPT_TIMESTAMPS:
                if not checkpoint_note.is_canonical_timestamp(value):
                    refuse("not_canonical")
            elif name == "receipt_hash":
                if not checkpoint_note.HEX64.match(value):
                    refuse("not_canonical")
            elif name == "signal_id":
                if not check_backup.SIGNAL_ID.fullmatch(value):
                    refuse("not_canonical")
            elif name == "subscriber":
                if not check_backup.SUBSCRIBER.fullmatch(value):
                    refuse("not_canonical")
            fields[name] = value
        rows.append(fields)
        row, line = row + 1, line + lfs
    return rows


# ---- the folder (section 12) ---------------------------------------------------------------

def walk(folder):
    return {str(p.relative_to(folder).as_posix()): p for p in folder.rglob("*") if p.is_file()}


WHOLE_PREFIXES = ("manifests/", "checkpoints/", "integrity/audit-seals/", "integrity/keys/",
                  "integrity/acknowledgements/")
DATED_PREFIXES = ("reports/", "verifications/", "integrity/runs/", "productions/")


def _is_day(text):
    return len(text) == 10 and checkpoint_note.is_canonical_timestamp(f"{text}T00:00:00.000000Z")


def key_days(key):
    """The first and last UTC day a dated key names (section 12: what a period selects), or None
    for a key exported whatever the period."""
    if key.startswith(WHOLE_PREFIXES):
        return None
    if key.startswith("signals/"):
        name = key.rsplit("/", 1)[-1]
        digits = name[len("signals_backup_"):][:8] if name.startswith("signals_backup_") else ""
        day = f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
        return (day, day) if len(digits) == 8 and _is_day(day) else None
    prefix = next((p for p in DATED_PREFIXES if key.startswith(p)), None)
    if prefix is None:
        return None
    parts = key[len(prefix):].split("/", 3)
    if len(parts) < 2:
        return None
    if len(parts) == 4 and _is_day(f"{parts[0]}-{parts[1]}-{parts[2]}"):
        day = f"{parts[0]}-{parts[1]}-{parts[2]}"
        return day, day
    if _is_day(f"{parts[0]}-{parts[1]}-01"):
        return f"{parts[0]}-{parts[1]}-01", f"{parts[0]}-{parts[1]}-31"
    return None


def selected(period, key):
    """Whether an export of `period` ({from, to} days, or None for everything) holds `key`."""
    days = key_days(key)
    return period is None or days is None or (days[0] <= period["to"] and period["from"] <= days[1])


def _unique(pairs):
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("a field given twice")
    return dict(pairs)


def _is_text(value):
    return isinstance(value, str)


def _is_count(value):
    return type(value) is int and 0 <= value < 2 ** 64


def _is_hash(value):
    return isinstance(value, str) and checkpoint_note.HEX64.match(value) is not None


def _is_timestamp(value):
    return isinstance(value, str) and checkpoint_note.is_canonical_timestamp(value)


def _optional(shape):
    return lambda value: value is None or shape(value)


def _is_record(shapes, optional=()):
    """An object with each field of `shapes` of its shape; a field in `optional` may be absent
    (it is then null); other fields are ignored."""
    def check(value):
        return isinstance(value, dict) and all(
            (name in value and shape(value[name])) or (name in optional and name not in value)
            for name, shape in shapes.items())
    return check


RETENTION = _is_record({"mode": _optional(_is_text), "retain_until": _optional(_is_timestamp)},
                       optional=("mode", "retain_until"))
OBJECT = _is_record({
    "key": _is_text, "version_id": _is_text, "sha256": _is_hash, "bytes": _is_count,
    "versions": _is_count, "retention": RETENTION,
    "server_side_encryption": _optional(_is_text), "s3_sha256": _optional(_is_hash),
}, optional=("server_side_encryption", "s3_sha256"))
NOT_EXPORTED = _is_record({"key": _is_text, "version_id": _is_text, "reason": _is_text})
EVIDENCE = _is_record({
    "format": _is_text, "bucket": _is_text,
    "period": _optional(_is_record({"from": _is_text, "to": _is_text})),
    "exported_at": _is_timestamp, "exported_by": _is_text,
    "objects": lambda v: isinstance(v, list) and all(OBJECT(o) for o in v),
    "not_exported": lambda v: isinstance(v, list) and all(NOT_EXPORTED(o) for o in v),
}, optional=("period",))


def read_evidence(folder):
    """evidence.json read strictly (section 12.2): UTF-8 JSON, no field given twice, every field
    of section 12 present and of its type (those that may be null may also be absent), the
    format signal-ledger-evidence/1; else nothing can be judged."""
    try:
        evidence = json.loads((folder / EVIDENCE_FILE).read_bytes().decode("utf-8"),
                              object_pairs_hook=_unique)
        if not EVIDENCE(evidence):
            raise ValueError("a field is missing or not of its type (section 12)")
        if evidence["format"] != EVIDENCE_FORMAT:
            raise ValueError(f"format {evidence['format']!r}, not {EVIDENCE_FORMAT!r}")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise Unjudged(f"{folder / EVIDENCE_FILE} is not a readable {EVIDENCE_FORMAT} record: {error}")
    evidence.setdefault("period", None)
    return evidence


def verify_folder(folder, keys, origin):
    present = walk(folder)
    findings, missing, unlisted = [], [], []
    evidence = None
    if EVIDENCE_FILE in present:
        evidence = read_evidence(folder)
        objects = {}
        for record in evidence["objects"]:
            key = record["key"]
            path = present.get(key)
            if path is None:
                missing.append([key, f"listed in {EVIDENCE_FILE}"])
                continue
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != record["sha256"] or len(data) != record["bytes"]:
                findings.append(finding(key, "file_hash_mismatch",
                                        f"the file (SHA-256 {hashlib.sha256(data).hexdigest()}, "
                                        f"{len(data)} bytes) is not what {EVIDENCE_FILE} records"))
            if record["versions"] > 1:
                findings.append(finding(key, "overwritten",
                                        f"the key has {record['versions']} versions in the vault"))
            if key.startswith(LOCKED_PREFIXES) and (record["retention"] or {}).get("mode") != "COMPLIANCE":
                findings.append(finding(key, "not_locked", "its version is not COMPLIANCE-locked"))
            objects[key] = Object(path, record["version_id"], record)
        for skipped in evidence["not_exported"]:
            findings.append(finding(skipped["key"], "planted_object",
                                    f"version {skipped.get('version_id')} could not be exported: "
                                    f"{skipped.get('reason')}"))
        unlisted = sorted(k for k in present if k not in (EVIDENCE_FILE, JOURNAL_FILE) and k not in objects)
    else:
        objects = {key: Object(path) for key, path in present.items()}
    run = Verification(objects, keys, origin)
    run.verify_backups()
    run.verify_checkpoints()
    run.verify_seals()
    run.verify_reports()
    findings += run.findings
    listed = {r["key"] for r in evidence["objects"]} if evidence else set()
    period = evidence.get("period") if evidence else None
    out_of_period = []
    for key, named_by in run.absent:
        if key in listed:
            if not any(m[0] == key for m in missing):
                findings.append(finding(key, "version_mismatch",
                                        f"{named_by} names a version of it other than the one exported"))
        elif not selected(period, key):
            out_of_period.append(key)
        elif not any(m[0] == key for m in missing):
            missing.append([key, f"named by {named_by}"])
    if missing:
        verdict, code = "incomplete", 2
    elif findings:
        verdict, code = "findings", 1
    else:
        verdict, code = "verified", 0
    return {
        "verdict": verdict, "exit_code": code, "folder": str(folder),
        "copy": "export" if evidence else "sync",
        "origin": run.origin,
        "files_checked": len(evidence["objects"]) if evidence else len(objects),
        **run.counts,
        "findings": findings[:MAX_FINDINGS_LISTED], "findings_total": len(findings),
        "missing": missing, "out_of_period": out_of_period, "unlisted": unlisted,
        "cannot_check": [] if evidence else SYNC_COPY_LIMITS,
    }


def finding(file, kind, message, location=None):
    return {"file": file, "location": location, "kind": kind, "message": message}


def render_text(verdict):
    out = [f"evidence folder {verdict['folder']} ({verdict['copy']})",
           f"checkpoint origin: {verdict['origin'] or 'none verified'}",
           "checked: {files_checked} files; {manifests_checked} manifests, {rows_checked} rows "
           "(entries 0..{backed_up_to} backed up), {receipts_checked} receipts; "
           "{checkpoints_checked} checkpoints (size {checkpointed_size}), {leaves_checked} leaves, "
           "{leaves_matched_to_rows} compared with backed-up rows; {seals_checked} audit seals "
           "({audit_events_sealed} events)".format(**verdict)]
    out += [f"cannot check: {limit}" for limit in verdict["cannot_check"]]
    out += [f"not checked (outside the exported period): {key}" for key in verdict["out_of_period"]]
    out += [f"ignored (not listed in {EVIDENCE_FILE}): {key}" for key in verdict["unlisted"]]
    for f in verdict["findings"]:
        at = f" at {f['location']}" if f["location"] else ""
        out.append(f"FINDING {f['file']}{at}: {f['kind']} — {f['message']}")
    out += [f"MISSING {key}: {why}" for key, why in verdict["missing"]]
    out.append(f"verdict: {verdict['verdict']}" if verdict["exit_code"] == 0 else
               f"verdict: {verdict['verdict']} ({len(verdict['missing'])} file(s) missing, "
               f"{verdict['findings_total']} finding(s))")
    return "\n".join(out) + "\n"


def agreement(verdict):
    """What the vectors of failing/evidence.json (and the Rust verifier) are compared on."""
    return {
        "exit_code": verdict["exit_code"], "verdict": verdict["verdict"], "copy": verdict["copy"],
        "findings": sorted([[f["file"], f["location"], f["kind"]] for f in verdict["findings"]],
                           key=lambda f: (f[0], f[1] or "", f[2])),
        "missing": sorted(key for key, _ in verdict["missing"]),
        "unlisted": verdict["unlisted"], "out_of_period": verdict["out_of_period"],
    }


def check_vectors(path, failures):
    """failing/evidence.json: every case's folder, judged with its keys, gives its verdict."""
    import tempfile
    vectors = json.loads(path.read_text(encoding="utf-8"))
    keys = {"signing": bytes.fromhex(vectors["public_key_der_hex"]),
            "other": bytes.fromhex(vectors["other_public_key_der_hex"])}
    for case in vectors["cases"]:
        files = dict(vectors["folder"])
        files.update(case["changes"])
        with tempfile.TemporaryDirectory() as scratch:
            folder = pathlib.Path(scratch)
            for key, text in files.items():
                if text is not None:
                    (folder / key).parent.mkdir(parents=True, exist_ok=True)
                    (folder / key).write_bytes(text.encode("utf-8"))
            found = agreement(verify_folder(folder, [keys[k] for k in case["keys"]], None))
        if found != case["expected"]:
            failures.append(f"evidence.json: {case['name']}: {found}, expected {case['expected']}")
    return len(vectors["cases"])


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--public-key", action="append", required=True)
    parser.add_argument("--origin")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        keys = [read_key(path) for path in args.public_key]
        folder = pathlib.Path(args.dir)
        if not folder.is_dir():
            raise Unjudged(f"{folder} is not a folder")
        verdict = verify_folder(folder, keys, args.origin)
    except (OSError, ValueError, Unjudged) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verdict["keys"] = [{"file": path, "fingerprint": hashlib.sha256(key).hexdigest()}
                       for path, key in zip(args.public_key, keys)]
    if args.json:
        print(json.dumps(verdict, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_text(verdict))
    return verdict["exit_code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
