#!/usr/bin/env python3
"""Verify a proof served by the ledger (docs/ledger-format.md section 13), standard library only.

Written from the format, independently of the Rust verifier: it parses the signed note(s) the
proof carries (checkpoint_note.py, section 7), checks their origin and their ECDSA P-256
signature under the public key(s) you hold (p256.py), checks that the proof's sizes and roots
are the notes', and verifies the path with the RFC 9162 algorithms (section 5).

    python3 docs/vectors/check_proof.py inclusion   PROOF.json --public-key KEY [--public-key KEY…] [--origin O]
    python3 docs/vectors/check_proof.py consistency PROOF.json --public-key KEY [--public-key KEY…] [--origin O]

PROOF.json is the body of `GET /signals/{signal_id}/proof` or `GET /proofs/consistency` ("-" for
standard input). KEY is the signing key's DER SubjectPublicKeyInfo (what `aws kms
get-public-key --query PublicKey --output text | base64 -d` writes) or its PEM. --origin is the
ledger's origin (`signal-ledger:<signals table>`); without it any origin is accepted.
Exit 0 and "verified" on stdout when the proof holds; 1 and the reason on stdout when it does
not; 2 for unusable input (unreadable file, bad key).
"""
import argparse
import base64
import hashlib
import json
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import checkpoint_note  # noqa: E402
import p256  # noqa: E402

HEX64 = re.compile(r"[0-9a-f]{64}\Z")
INCLUSION_FIELDS = {"signal_id", "chain_index", "entry_hash", "tree_size", "root",
                    "inclusion_path", "checkpoint"}
CONSISTENCY_FIELDS = {"from_tree_size", "from_root", "to_tree_size", "to_root",
                      "consistency_path", "from_checkpoint", "to_checkpoint"}


class Refused(Exception):
    pass


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_root(leaf, index, size, path):
    """RFC 9162 section 2.1.3.2: the root the path leads to, or None when its shape is wrong."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            r = node(r, p)
        fn, sn = fn // 2, sn // 2
    return r if sn == 0 else None


def consistency_roots(m, n, old_root, path):
    """RFC 9162 section 2.1.4.2: (old, new) roots the path leads to, or None."""
    if m == n:
        return (old_root, old_root) if not path else None
    if m & (m - 1) == 0:
        path = [old_root] + list(path)
    if not path:
        return None
    fn, sn = m - 1, n - 1
    while fn % 2 == 1:
        fn, sn = fn // 2, sn // 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            sr = node(sr, c)
        fn, sn = fn // 2, sn // 2
    return (fr, sr) if sn == 0 else None


def hex_hash(document, field):
    value = document.get(field)
    if not isinstance(value, str) or not HEX64.match(value):
        raise Refused(f"{field} is not 64 lowercase hex digits")
    return bytes.fromhex(value)


def number(document, field):
    value = document.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** 64:
        raise Refused(f"{field} is not a tree size or index")
    return value


def hashes(document, field):
    value = document.get(field)
    if not isinstance(value, list):
        raise Refused(f"{field} is not a list of hashes")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not HEX64.match(item):
            raise Refused(f"{field}[{i}] is not 64 lowercase hex digits")
        out.append(bytes.fromhex(item))
    return out


def trusted_note(document, field, keys, origin):
    text = document.get(field)
    if not isinstance(text, str):
        raise Refused(f"{field} is not a note")
    try:
        note = checkpoint_note.parse(text)
    except checkpoint_note.Refused as refusal:
        raise Refused(f"{field} does not parse: {refusal}") from None
    verdict = checkpoint_note.verify_signature(note, keys, origin)
    if verdict != "verified":
        raise Refused(f"{field}: {verdict}")
    return note


def same(field, document_value, note, note_field):
    if note[note_field] != document_value:
        raise Refused(f"{field} is not the note's {note_field}")


def check_inclusion(document, keys, origin):
    if set(document) != INCLUSION_FIELDS:
        raise Refused(f"the fields are not {sorted(INCLUSION_FIELDS)}")
    index, size = number(document, "chain_index"), number(document, "tree_size")
    leaf, root = hex_hash(document, "entry_hash"), hex_hash(document, "root")
    path = hashes(document, "inclusion_path")
    note = trusted_note(document, "checkpoint", keys, origin)
    same("tree_size", size, note, "tree_size")
    same("root", root, note, "root")
    computed = inclusion_root(leaf, index, size, path)
    if computed is None:
        raise Refused(f"inclusion_path has the wrong shape for index {index} in size {size}")
    if computed != note["root"]:
        raise Refused("inclusion_path does not lead to the note's root")
    return f"verified: entry {index} ({document.get('signal_id')}) is in the tree of size {size}"


def check_consistency(document, keys, origin):
    if set(document) != CONSISTENCY_FIELDS:
        raise Refused(f"the fields are not {sorted(CONSISTENCY_FIELDS)}")
    m, n = number(document, "from_tree_size"), number(document, "to_tree_size")
    if m == 0 or m > n:
        raise Refused(f"no consistency proof exists from size {m} to size {n}")
    old_root, new_root = hex_hash(document, "from_root"), hex_hash(document, "to_root")
    path = hashes(document, "consistency_path")
    old = trusted_note(document, "from_checkpoint", keys, origin)
    new = trusted_note(document, "to_checkpoint", keys, origin)
    same("from_tree_size", m, old, "tree_size")
    same("from_root", old_root, old, "root")
    same("to_tree_size", n, new, "tree_size")
    same("to_root", new_root, new, "root")
    roots = consistency_roots(m, n, old["root"], path)
    if roots is None:
        raise Refused(f"consistency_path has the wrong shape for sizes {m} and {n}")
    if roots != (old["root"], new["root"]):
        raise Refused("consistency_path does not lead to both notes' roots")
    return f"verified: the tree of size {m} is a prefix of the tree of size {n}"


def read_key(path):
    data = pathlib.Path(path).read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        body = b"".join(line for line in data.splitlines() if not line.startswith(b"-----"))
        data = base64.b64decode(body)
    if p256.public_key_from_spki(data) is None:
        raise ValueError(f"{path} is not a P-256 public key (DER SubjectPublicKeyInfo or PEM)")
    return data


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["inclusion", "consistency"])
    parser.add_argument("proof")
    parser.add_argument("--public-key", action="append", required=True)
    parser.add_argument("--origin")
    args = parser.parse_args(argv)
    try:
        keys = [read_key(path) for path in args.public_key]
        text = sys.stdin.read() if args.proof == "-" else pathlib.Path(args.proof).read_text()
        document = json.loads(text)
    except (OSError, ValueError) as error:
        print(f"unusable input: {error}")
        return 2
    if not isinstance(document, dict):
        print("refused: the proof is not a JSON object")
        return 1
    check = check_inclusion if args.kind == "inclusion" else check_consistency
    try:
        print(check(document, keys, args.origin))
    except Refused as refusal:
        print(f"refused: {refusal}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
