#!/usr/bin/env python3
"""Verify an evidence folder (docs/ledger-format.md section 12) offline, standard library only.

Written from the format, independently of `ledgerctl verify-evidence`, and giving the same
verdicts: it reuses this folder's own re-implementations of the format (check_vectors.py for
entry and receipt encoding, chain_findings.py for section 4.1, checkpoint_note.py and p256.py
for section 7, backup/manifest_chain.py and backup/check_backup.py for section 8,
audit_seal.py for section 11) and adds the checks over a whole folder of section 12:

- `evidence.json` against the files (SHA-256, size, overwritten keys, locks, planted objects);
- the manifest chain (8.4), every backup CSV (8.5, strict), its SHA-256, size and version
  against its manifest, the rows as one chain across files (4.1), the Merkle root of every
  manifest rebuilt from the rows; every receipts CSV (8.6);
- every checkpoint (section 7): the note, its signature under the given keys only, its origin,
  its key, its leaf-hash file, and its root and compact range refolded from the leaf files of
  all checkpoints before it (which is the consistency of consecutive checkpoints);
- that backups and checkpoints agree: each leaf equals the backed-up row's entry hash at its
  index, and each manifest's root the root of a checkpoint of the same size;
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
from check_vectors import mth, receipt_canonical  # noqa: E402

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
    def __init__(self, objects, evidence, keys, origin):
        self.objects, self.evidence, self.keys, self.origin = objects, evidence, keys, origin
        self.findings, self.absent = [], []  # absent: (key, named by)
        self.counts = dict.fromkeys([
            "manifests_checked", "rows_checked", "receipts_checked", "backed_up_to",
            "checkpoints_checked", "checkpointed_size", "leaves_checked",
            "leaves_matched_to_rows", "seals_checked", "audit_events_sealed"], 0)
        self.rows = {}  # chain index -> entry_hash (hex) of the backed-up row
        self.entries = {}  # chain index -> (signal_id, generated_at)
        self.manifest_roots = {}  # tree size -> (manifest key, merkle_root hex)

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
        self.counts["manifests_checked"] = len(stored)
        for position, kind in manifest_chain.verify_chain([raw for _, raw in stored]):
            self.find(stored[position][0], f"manifest_{kind}" if kind == "invalid" else kind,
                      f"manifest {position} of the chain: {kind} (section 8.4)")
        parsed = []
        for key, raw in stored:
            try:
                m = manifest_chain.parse(raw)
            except manifest_chain.NotAManifest:
                continue
            if manifest_chain.consistency_problem(m) is None:
                parsed.append((key, m))
                if key != f"manifests/{m['backup_id'][:4]}/{m['backup_id'][4:6]}/" \
                          f"signals_backup_{m['backup_id']}.json":
                    self.find(key, "wrong_key", f"the manifest of {m['backup_id']} under another key")
        self.verify_rows(parsed)
        for key, m in parsed:
            self.verify_receipts(key, m)

    def read_listed_csv(self, manifest_key, listed, what):
        """A CSV a manifest lists: its bytes when present with the listed SHA-256 and size."""
        data = self.fetch(listed["key"], manifest_key, listed["version_id"])
        if data is None:
            return None
        if hashlib.sha256(data).hexdigest() != listed["sha256"] or len(data) != listed["bytes"]:
            self.find(listed["key"], "csv_digest",
                      f"the {what} is not the one {manifest_key} lists (SHA-256 "
                      f"{hashlib.sha256(data).hexdigest()}, {len(data)} bytes; listed "
                      f"{listed['sha256']}, {listed['bytes']} bytes)")
        return data

    def verify_rows(self, manifests):
        """Every backup CSV read strictly, its rows checked as one chain (4.1): a run of files
        that are all present is one chain; after a file that is absent or refused, the chain
        resumes at the next manifest's range, from its first_previous_hash."""
        items, places = [], []  # places[i]: (csv key, row) of items[i]
        start, previous = 0, bytes(32)
        leaves = []  # the leaves 0.. as long as every row from 0 was read

        def flush(known_size=None):
            nonlocal items, places
            for index, kind, number in chain_findings.verify(
                    items, known_size, check_backup_canonical, start, previous, located=True):
                if number is None:
                    file = places[-1][0] if places else last_key
                    self.find(file, kind, f"chain index {index}: {kind} (section 4.1)",
                              f"chain index {index}")
                else:
                    file, row = places[number]
                    self.find(file, kind, f"chain index {index}: {kind} (section 4.1)",
                              f"chain index {index}, row {row}")
            items, places = [], []

        last_key = None
        whole = True  # every row from index 0 has been read
        for key, m in manifests:
            f, t = m["index_range"]["from"], m["index_range"]["to"]
            last_key = key
            rows = None
            if m["csv"] is not None:
                data = self.read_listed_csv(key, m["csv"], "backup CSV")
                if data is not None:
                    try:
                        rows = check_backup.read_strict(data)
                    except check_backup.Refusal as refusal:
                        where = f"row {refusal.row} (line {refusal.line})"
                        if refusal.column:
                            where += f", column {refusal.column}"
                        self.find(m["csv"]["key"], refusal.code,
                                  f"{where}: {refusal.code} (section 8.5)", where)
                if rows is None:
                    flush()
                    start, previous, whole = t, bytes.fromhex(m["last_entry_hash"]), False
                    continue
                if len(rows) != m["row_count"]:
                    self.find(m["csv"]["key"], "row_count",
                              f"{len(rows)} rows; {key} lists {m['row_count']}")
                for number, fields in enumerate(rows, start=1):
                    item = {k: v for k, v in fields.items() if v is not None}
                    items.append(item)
                    places.append((m["csv"]["key"], number))
                    self.rows[fields["chain_index"]] = fields["entry_hash"]
                    self.entries[fields["chain_index"]] = (fields["signal_id"], fields["generated_at"])
                    if whole:
                        leaves.append(bytes.fromhex(fields["entry_hash"]))
                self.counts["rows_checked"] += len(rows)
            if whole and len(leaves) == t and mth(leaves).hex() != m["merkle_root"]:
                self.find(key, "root_mismatch",
                          f"merkle_root is not the root of the backed-up rows 0..{t}")
            self.manifest_roots.setdefault(t, (key, m["merkle_root"]))
            self.counts["backed_up_to"] = t
        flush(manifests[-1][1]["index_range"]["to"] if manifests else None)

    def verify_receipts(self, manifest_key, m):
        window = m.get("receipts")
        if window is None or window["csv"] is None:
            return
        listed = window["csv"]
        data = self.read_listed_csv(manifest_key, listed, "receipts CSV")
        if data is None:
            return
        try:
            rows = read_receipts_strict(data)
        except check_backup.Refusal as refusal:
            where = f"row {refusal.row} (line {refusal.line})"
            if refusal.column:
                where += f", column {refusal.column}"
            self.find(listed["key"], refusal.code, f"{where}: {refusal.code} (section 8.5)", where)
            return
        file = listed["key"]
        if len(rows) != window["row_count"]:
            self.find(file, "receipt_count",
                      f"{len(rows)} rows; {manifest_key} lists {window['row_count']}")
        before = None
        for row, fields in enumerate(rows, start=1):
            at = f"row {row}"
            if hashlib.sha256(receipt_canonical(fields)).hexdigest() != fields["receipt_hash"]:
                self.find(file, "receipt_hash_mismatch", "the row does not re-hash to its receipt_hash", at)
            delta = chain_findings.micros(fields["delivered_at"]) - chain_findings.micros(fields["generated_at"])
            latency = delta // 1000 if delta >= 0 else -((-delta) // 1000)
            if latency != fields["client_latency_ms"]:
                self.find(file, "receipt_latency_mismatch",
                          "client_latency_ms is not delivered_at - generated_at", at)
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
            elif fields["chain_index"] in self.entries and self.entries[fields["chain_index"]] \
                    != (fields["signal_id"], fields["generated_at"]):
                self.find(file, "receipt_signal_mismatch",
                          "the entry at its chain index has another signal_id or generated_at", at)
        self.counts["receipts_checked"] += len(rows)

    # ---- section 7: checkpoints ----------------------------------------------------------

    def judge_note(self, key, note, verify_signature):
        """Whether a parsed note counts (origin and signature), reporting why not."""
        if self.origin is None and note["signature"] is not None:
            if verify_signature(note, self.keys, None) == "verified":
                self.origin = origin_of(note)
        verdict = verify_signature(note, self.keys, self.origin)
        if verdict != "verified":
            self.find(key, verdict, f"the note does not count: {verdict} (section 7)")
            return False
        return True

    def verify_checkpoints(self):
        notes = []
        for key in self.under("checkpoints/"):
            match = CHECKPOINT_KEY.match(key)
            if not match:
                self.find(key, "unexpected_object", "not a checkpoint note or leaf-hash file key (section 7)")
                continue
            if match[3] != "txt":
                if key[:-len("leaves")] + "txt" not in self.objects:
                    self.find(key, "unexpected_object", "a leaf-hash file without its note")
                continue
            try:
                note = checkpoint_note.parse(self.objects[key].read().decode("utf-8"))
            except UnicodeDecodeError:
                self.find(key, "malformed_line", "the note is not UTF-8")
                continue
            except checkpoint_note.Refused as refusal:
                self.find(key, refusal.code, f"the note is refused: {refusal} (section 7)")
                continue
            notes.append((key, note))
        trusted = [(key, note) for key, note in notes if self.judge_note(key, note, checkpoint_note.verify_signature)]
        # Trusted notes in key order: by tree size, then time (the keys have fixed width). Each
        # leaf file extends the compact range of the checkpoint before to this one's: its root
        # refolded, and the consistency of consecutive checkpoints, in one step.
        size, compact = 0, []
        for key, note in trusted:
            n = note["tree_size"]
            expected = f"checkpoints/{n:020d}-{audit_seal.compact(note['time'])}.txt"
            if key != expected:
                self.find(key, "wrong_key", f"the note of size {n} at {note['time']} belongs at {expected}")
            self.counts["checkpoints_checked"] += 1
            self.counts["checkpointed_size"] = max(self.counts["checkpointed_size"], n)
            leaves_key = key[:-len("txt")] + "leaves"
            leaves = self.read_leaves(leaves_key, key, note)
            first = note["leaves"][0]
            if leaves is not None and first != size:
                self.find(leaves_key, "leaves_gap",
                          f"the leaf file starts at {first}, the checkpoint before ends at {size}")
            elif leaves is not None:
                self.counts["leaves_checked"] += len(leaves)
                for index, leaf in enumerate(leaves, start=first):
                    row = self.rows.get(index)
                    if row is not None and row != leaf.hex():
                        self.find(leaves_key, "leaf_differs_from_backup",
                                  f"leaf {leaf.hex()} is not the backed-up row's entry_hash {row}",
                                  f"chain index {index}")
                    elif row is not None:
                        self.counts["leaves_matched_to_rows"] += 1
                if extend(size, compact, leaves) != note["range"] \
                        or (leaves and leaves[-1] != note["head"]):
                    self.find(key, "root_mismatch",
                              f"the checkpoint before, extended by {leaves_key}, does not give this "
                              "note's compact range, root and head (section 7)")
            # Go on from the signed note itself, so one bad file does not hide later ones.
            size, compact = n, list(note["range"])
            backup = self.manifest_roots.get(n)
            if backup is not None and backup[1] != note["root"].hex():
                self.find(backup[0], "root_differs_from_checkpoint",
                          f"merkle_root is not the root of {key}, of the same size {n}")
        return trusted

    def read_leaves(self, leaves_key, note_key, note):
        """The leaves of a trusted checkpoint's leaf-hash file, or None (with a finding)."""
        data = self.fetch(leaves_key, note_key)
        if data is None:
            return None
        first, to, digest = note["leaves"]
        if hashlib.sha256(data).digest() != digest:
            self.find(leaves_key, "leaves_digest", "the file's SHA-256 is not the note's leaves line")
            return None
        lines = [data[i:i + 65] for i in range(0, len(data), 65)]
        if not all(LEAF_LINE.fullmatch(line) for line in lines) or len(lines) != to - first:
            self.find(leaves_key, "leaves_format", f"not {to - first} lines of 64 lowercase hex digits")
            return None
        return [bytes.fromhex(line[:64].decode()) for line in lines]

    # ---- section 11: audit seals -----------------------------------------------------------

    def verify_seals(self):
        keyed = []
        for key in self.under("integrity/audit-seals/"):
            match = SEAL_KEY.match(key)
            if not match:
                self.find(key, "unexpected_object", "not an audit seal or events file key (section 11.4)")
                continue
            if match[3] != "txt":
                if key[:-len("events")] + "txt" not in self.objects:
                    self.find(key, "unexpected_object", "an events file without its seal")
                continue
            try:
                note = audit_seal.parse(self.objects[key].read().decode("utf-8"))
            except UnicodeDecodeError:
                self.find(key, "malformed_line", "the seal is not UTF-8")
                continue
            except checkpoint_note.Refused as refusal:
                self.find(key, refusal.code, f"the seal is refused: {refusal} (section 11.4)")
                continue
            if self.judge_note(key, note, audit_seal_signature):
                keyed.append((key, note["seal"]))
        keyed.sort(key=lambda pair: (pair[1]["seq"], pair[0]))
        for key, problem in audit_seal.check_chain(keyed):
            self.find(key, f"audit_seal_{problem}", f"the seal chain: {problem} (section 11.5)")
        for key, seal in keyed:
            self.counts["seals_checked"] += 1
            events_key = key[:-len("txt")] + "events"
            data = self.fetch(events_key, key)
            if data is None:
                continue
            try:
                events = audit_seal.parse_events(data, seal)
            except (checkpoint_note.Refused, UnicodeDecodeError, ValueError) as error:
                code = error.code if isinstance(error, checkpoint_note.Refused) else "events_line"
                self.find(events_key, code, f"the events file is refused: {error} (section 11.3)")
                continue
            self.counts["audit_events_sealed"] += len(events)


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


def origin_of(note):
    return note["seal"]["origin"] if "seal" in note else note["origin"]


def audit_seal_signature(note, keys, origin):
    if origin is None:
        origin = note["seal"]["origin"]
    return audit_seal.verify_signature(note, keys, origin)


def check_backup_canonical(fields):
    from check_vectors import canonical
    return canonical(fields)


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


def backup_day(key):
    """The UTC day a backup CSV's key names (section 12: the only objects other evidence names
    that a period can leave out), or None."""
    match = re.fullmatch(r"signals/[0-9]{4}/[0-9]{2}/signals_backup_([0-9]{4})([0-9]{2})([0-9]{2})(_[0-9]+)?\.csv", key)
    return f"{match[1]}-{match[2]}-{match[3]}" if match else None


def read_evidence(folder, present):
    try:
        evidence = json.loads((folder / EVIDENCE_FILE).read_bytes().decode("utf-8"))
        if evidence.get("format") != EVIDENCE_FORMAT:
            raise ValueError(f"format {evidence.get('format')!r}, not {EVIDENCE_FORMAT!r}")
        for record in evidence["objects"]:
            for name in ("key", "version_id", "sha256", "bytes", "versions", "retention"):
                record[name]  # noqa: B018 — every record has these
        evidence.setdefault("not_exported", [])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise Unjudged(f"{folder / EVIDENCE_FILE} is not a readable {EVIDENCE_FORMAT} record: {error}")
    return evidence


def verify_folder(folder, keys, origin):
    present = walk(folder)
    findings, missing, unlisted = [], [], []
    evidence = None
    if EVIDENCE_FILE in present:
        evidence = read_evidence(folder, present)
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
    run = Verification(objects, evidence, keys, origin)
    run.verify_backups()
    run.verify_checkpoints()
    run.verify_seals()
    findings += run.findings
    listed = {r["key"] for r in evidence["objects"]} if evidence else set()
    period = evidence.get("period") if evidence else None
    out_of_period = []
    for key, named_by in run.absent:
        if key in listed:
            if not any(m[0] == key for m in missing):
                findings.append(finding(key, "version_mismatch",
                                        f"{named_by} names a version of it other than the one exported"))
        elif period and backup_day(key) and not period["from"] <= backup_day(key) <= period["to"]:
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
