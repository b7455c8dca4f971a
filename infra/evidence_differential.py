#!/usr/bin/env python3
"""Differential test of the two evidence verifiers (docs/ledger-format.md section 12.2).

Takes two small evidence folders from docs/vectors — the exported folder of
failing/evidence.json (entries, checkpoint, audit seals; as an export or a sync copy) and the
backup vectors (two manifests, an entries CSV and a receipts CSV; a sync copy) — and tampers
with them in many seeded random ways that keep the files readable enough to reach the deep
checks: CSV cells edited, rows swapped, repeated or removed; manifest fields changed and
re-encoded; checkpoint notes and audit seals edited and re-signed with the vectors' key; leaf
files edited (their note's digest updated and re-signed, or not); bytes flipped or cut; files
removed. Each folder goes through `ledgerctl verify-evidence --json` and `check_evidence.py
--json`; they must agree on the exit status, verdict, findings (file, location, kind), missing,
unlisted and left-out files, origin and every count. Exit 1, naming the folder kept, on the first
disagreement; standard library only.

    python3 infra/evidence_differential.py LEDGERCTL [--seed N] [--cases N]
"""
import argparse
import base64
import hashlib
import json
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
VECTORS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "vectors"
sys.path.insert(0, str(VECTORS))
import check_evidence  # noqa: E402
import p256  # noqa: E402

# The vectors' signing key (docs/vectors/failing/make_vectors.py): public, for vectors only.
SIGNING_KEY = int.from_bytes(hashlib.sha256(b"signal-ledger test vector key 1").digest(), "big") % p256.N
COUNTS = ["origin", "findings_total", "files_checked", "manifests_checked", "rows_checked",
          "receipts_checked", "backed_up_to", "checkpoints_checked", "checkpointed_size",
          "leaves_checked", "leaves_matched_to_rows", "seals_checked", "audit_events_sealed"]


def resign(text):
    body = text[:text.index("\n\n") + 1] if "\n\n" in text else text
    signature = p256.sign(SIGNING_KEY, hashlib.sha256(body.encode()).digest())
    return f"{body}\n\u2014 kms:alias/signal-ledger-test {base64.b64encode(signature).decode()}\n"


class Tamper:
    def __init__(self, rng):
        self.rng = rng

    def csv(self, text):
        rows = text.split("\r\n")
        header, body = rows[0], rows[1:-1]
        if not body:
            return text
        op, i = self.rng.randrange(5), self.rng.randrange(len(body))
        if op == 0:
            cells = body[i].split(",")
            j = self.rng.randrange(len(cells))
            cells[j] = self.rng.choice(["", "'", "x", "0", "-1", "'-1", cells[j] + "1", cells[j][:-1],
                                        '"a,b"', "1.50", "BUY", "SELL", "9" * 25])
            body[i] = ",".join(cells)
        elif op == 1 and len(body) > 1:
            i = min(i, len(body) - 2)
            body[i], body[i + 1] = body[i + 1], body[i]
        elif op == 2:
            body.insert(i, body[i])
        elif op == 3:
            del body[i]
        else:
            del body[-1]
        return "\r\n".join([header] + body + [""])

    def manifest(self, text):
        m = json.loads(text)
        field = self.rng.choice(["row_count", "index_range", "last_entry_hash", "first_previous_hash",
                                 "merkle_root", "previous_manifest_sha256", "csv", "retain_until",
                                 "receipts"])
        if field == "row_count":
            m[field] += self.rng.choice([-1, 1])
        elif field == "index_range":
            m[field]["to"] += self.rng.choice([-1, 1])
        elif field == "csv" and m["csv"]:
            m["csv"]["bytes"] += 1
        elif field == "retain_until":
            m[field] = "2026-11-28T00:00:00.000000Z"
        elif field == "receipts" and "receipts" in m:
            m["receipts"]["recorded_until"] = "2026-11-29T00:00:00.000000Z"
        elif field.endswith(("hash", "root", "sha256")):
            m[field] = self.rng.choice(["0" * 64, "a" * 64])
        return json.dumps(m, indent=2, ensure_ascii=False) + "\n"

    def note(self, text):
        lines = text.split("\n")
        i = self.rng.randrange(7)
        if i == 6:
            parts = lines[6].split(" ")
            parts[1] = str(int(parts[1]) + self.rng.choice([-1, 1]))
            lines[6] = " ".join(parts)
        elif i == 5 and " " in lines[5]:
            lines[5] = "range " + "b" * 64 + lines[5][70:]
        elif i == 3:
            lines[3] = "head " + "c" * 64
        elif i == 0:
            lines[0] = "signal-ledger:other"
        elif i == 4:
            lines[4] = "time 2026-11-28T09:31:00.000000Z"
        return resign("\n".join(lines))

    def leaves(self, files, key):
        lines = files[key].split("\n")[:-1]
        op = self.rng.randrange(3)
        if op == 0 and lines:
            lines[self.rng.randrange(len(lines))] = "d" * 64
        elif op == 1 and lines:
            del lines[-1]
        else:
            lines.append("e" * 64)
        files[key] = "".join(line + "\n" for line in lines)
        note = key[:-len("leaves")] + "txt"
        if files.get(note) and self.rng.random() < 0.8:
            text = files[note].split("\n")
            digest = hashlib.sha256(files[key].encode()).hexdigest()
            text[6] = " ".join(text[6].split(" ")[:3] + [digest])
            files[note] = resign("\n".join(text))

    def seal(self, files):
        keys = [k for k in files if k.startswith("integrity/audit-seals/") and k.endswith(".txt") and files[k]]
        if not keys:
            return
        key = self.rng.choice(keys)
        lines = files[key].split("\n")
        i = self.rng.choice([2, 3, 4, 5, 8, 9])
        lines[i] = {2: f"seal {self.rng.choice([0, 1, 2, 5])}", 3: "from 2026-11-29T05:00:00.000000Z",
                    4: "to 2026-11-29T05:00:00.000000Z", 5: "count 9",
                    8: "previous " + self.rng.choice(["0" * 64, "f" * 64]),
                    9: "time 2026-11-29T11:00:00.000000Z"}[i]
        files[key] = resign("\n".join(lines))

    def bytes(self, files):
        key = self.rng.choice([k for k in files if files[k] is not None])
        data = files[key]
        op = self.rng.randrange(4)
        if op == 0 and data:
            i = self.rng.randrange(len(data))
            files[key] = data[:i] + self.rng.choice("0123456789abcdef,\"\r\n' -x") + data[i + 1:]
        elif op == 1 and data:
            files[key] = data[:self.rng.randrange(len(data))]
        elif op == 2 and key != "evidence.json":
            files[key] = None
        else:
            files[key + ".copy"] = data

    def apply(self, files):
        for _ in range(self.rng.randrange(1, 3)):
            choice = self.rng.randrange(6)
            pick = lambda test: [k for k in files if files[k] is not None and test(k)]  # noqa: E731
            if choice == 0 and pick(lambda k: k.endswith(".csv")):
                key = self.rng.choice(pick(lambda k: k.endswith(".csv")))
                files[key] = self.csv(files[key])
            elif choice == 1 and pick(lambda k: k.startswith("manifests/")):
                key = self.rng.choice(pick(lambda k: k.startswith("manifests/")))
                files[key] = self.manifest(files[key])
            elif choice == 2 and pick(lambda k: k.startswith("checkpoints/") and k.endswith(".txt")):
                key = self.rng.choice(pick(lambda k: k.startswith("checkpoints/") and k.endswith(".txt")))
                files[key] = self.note(files[key])
            elif choice == 3 and pick(lambda k: k.endswith(".leaves")):
                self.leaves(files, self.rng.choice(pick(lambda k: k.endswith(".leaves"))))
            elif choice == 4:
                self.seal(files)
            else:
                self.bytes(files)


def bases():
    export = json.loads((VECTORS / "failing" / "evidence.json").read_text(encoding="utf-8"))
    backup = VECTORS / "backup"
    sync = {
        "manifests/2026/11/signals_backup_20261128.json": backup / "signals_backup_20261128.json",
        "manifests/2026/11/signals_backup_20261129.json": backup / "signals_backup_20261129.json",
        "signals/2026/11/signals_backup_20261128.csv": backup / "signals_backup_20261128.csv",
        "signals/2026/11/receipts_backup_20261129.csv": backup / "receipts_backup_20261129.csv",
    }
    return export, {key: path.read_bytes().decode("utf-8") for key, path in sync.items()}


def run(command):
    done = subprocess.run(command, capture_output=True, text=True)
    if not done.stdout.strip():  # nothing judged: only the status is compared
        return {"exit": done.returncode}
    verdict = json.loads(done.stdout)
    seen = check_evidence.agreement(verdict)
    seen.update({"exit": done.returncode, **{name: verdict[name] for name in COUNTS}})
    return seen


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ledgerctl")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=150)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tamper = Tamper(rng)
    export, sync = bases()
    keys = pathlib.Path(tempfile.mkdtemp())
    key = keys / "signing.der"
    key.write_bytes(bytes.fromhex(export["public_key_der_hex"]))
    checker = VECTORS / "check_evidence.py"
    kinds = set()
    for case in range(args.cases):
        if rng.random() < 0.5:
            files = dict(export["folder"])
            if rng.random() < 0.7:
                files["evidence.json"] = None
        else:
            files = dict(sync)
        tamper.apply(files)
        folder = pathlib.Path(tempfile.mkdtemp(prefix="evidence-differential-"))
        for name, text in files.items():
            if text is not None:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text(text, encoding="utf-8", newline="")
        rust = run([args.ledgerctl, "verify-evidence", str(folder), "--public-key", str(key), "--json"])
        python = run([sys.executable, str(checker), str(folder), "--public-key", str(key), "--json"])
        if rust != python:
            print(f"case {case} (seed {args.seed}): the verifiers disagree on {folder}")
            for name in sorted(set(rust) | set(python)):
                if rust.get(name) != python.get(name):
                    print(f"  {name}: ledgerctl {json.dumps(rust.get(name))}")
                    print(f"  {name}: check_evidence.py {json.dumps(python.get(name))}")
            return 1
        kinds.update(f[2] for f in rust.get("findings", []))
        shutil.rmtree(folder)
    shutil.rmtree(keys)
    print(f"ok: {args.cases} tampered folders (seed {args.seed}), the same verdicts from both "
          f"verifiers; {len(kinds)} kinds of finding met: {', '.join(sorted(kinds))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
