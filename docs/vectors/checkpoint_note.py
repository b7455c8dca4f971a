"""Checkpoint notes (docs/ledger-format.md section 7), standard library only.

parse(text) returns a dict, or raises Refused(code, detail) with the first refusal in the order
the format defines. verify_signature() checks ECDSA P-256 over SHA-256(body) with given keys.
"""
import base64
import hashlib
import re

import p256

HEX64 = re.compile(r"[0-9a-f]{64}\Z")
TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z\Z")
EMPTY_SHA256 = hashlib.sha256(b"").digest()
DASH = "\u2014 "


class Refused(Exception):
    def __init__(self, code, detail):
        super().__init__(f"{code}: {detail}")
        self.code = code


def is_canonical_timestamp(text):
    match = TIMESTAMP.match(text)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not (1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return 1 <= day <= days


def _number(text):
    if not text or not text.isascii() or not text.isdigit() or (text != "0" and text[0] == "0"):
        return None
    value = int(text)
    return value if value < 2 ** 64 else None


def _base64(text):
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def fold(range_hashes):
    """The root of a compact range (largest subtree first): node(h1, node(h2, ... hk))."""
    if not range_hashes:
        return EMPTY_SHA256
    root = range_hashes[-1]
    for h in reversed(range_hashes[:-1]):
        root = _node(h, root)
    return root


def parse(text):
    split = text.find("\n\n")
    if split < 0:
        raise Refused("missing_blank_line", "no blank line ends the body")
    body, rest = text[:split + 1], text[split + 2:]
    lines = body[:-1].split("\n")
    names = ["the origin", "the tree size", "the root", "the head", "the time", "the range",
             "the leaves line"]

    def line(k):
        if k > len(lines):
            raise Refused("missing_line", f"line {k}: expected {names[k - 1]}")
        return lines[k - 1]

    origin = line(1)
    if not origin or not all(0x20 <= ord(c) <= 0x7E for c in origin) \
            or origin.startswith(" ") or origin.endswith(" "):
        raise Refused("invalid_origin", repr(origin))
    size = _number(line(2))
    if size is None:
        raise Refused("malformed_line", "line 2")
    root = _base64(line(3))
    if root is None or len(root) != 32 or len(line(3)) != 44:
        raise Refused("malformed_line", "line 3")
    head_text = line(4)
    if not head_text.startswith("head ") or not HEX64.match(head_text[5:]):
        raise Refused("malformed_line", "line 4")
    head = bytes.fromhex(head_text[5:])
    time_text = line(5)
    if not time_text.startswith("time ") or not is_canonical_timestamp(time_text[5:]):
        raise Refused("malformed_line", "line 5")
    range_text = line(6)
    if range_text == "range":
        range_hashes = []
    elif range_text.startswith("range ") and all(HEX64.match(h) for h in range_text[6:].split(" ")):
        range_hashes = [bytes.fromhex(h) for h in range_text[6:].split(" ")]
    else:
        raise Refused("malformed_line", "line 6")
    if len(range_hashes) != bin(size).count("1"):
        raise Refused("range_shape", f"{len(range_hashes)} hashes for size {size}")
    parts = line(7).split(" ")
    if len(parts) != 4 or parts[0] != "leaves" or _number(parts[1]) is None \
            or _number(parts[2]) is None or not HEX64.match(parts[3]):
        raise Refused("malformed_line", "line 7")
    leaves_from, leaves_to, leaves_sha = _number(parts[1]), _number(parts[2]), bytes.fromhex(parts[3])
    if len(lines) > 7:
        raise Refused("malformed_line", "line 8: expected the blank line")
    if (size == 0 and head != bytes(32)) or (size > 0 and head == bytes(32)) \
            or (size % 2 == 1 and range_hashes[-1] != head):
        raise Refused("inconsistent_head", head.hex())
    if leaves_to != size or leaves_from > leaves_to:
        raise Refused("leaves_range", f"[{leaves_from}, {leaves_to}) for size {size}")
    if leaves_from == leaves_to and leaves_sha != EMPTY_SHA256:
        raise Refused("empty_leaves_digest", parts[3])
    if fold(range_hashes) != root:
        raise Refused("root_mismatch", "line 3 is not the root of line 6")
    if "\n" not in rest:
        raise Refused("malformed_line", "line 9: no newline ends the signature line")
    signature_line, after = rest.split("\n", 1)
    if after:
        raise Refused("malformed_line", "line 10: text after the signature line")
    if not signature_line.startswith(DASH):
        raise Refused("malformed_line", "line 9")
    content = signature_line[len(DASH):]
    if content == "unsigned":
        key_id, signature = None, None
    else:
        if not content.startswith("kms:") or " " not in content[4:]:
            raise Refused("malformed_line", "line 9")
        key_id, signature_text = content[4:].split(" ", 1)
        signature = _base64(signature_text)
        if not signature:
            raise Refused("malformed_line", "line 9")
        if not key_id or not all(0x21 <= ord(c) <= 0x7E for c in key_id):
            raise Refused("invalid_key_id", repr(key_id))
    return {"origin": origin, "tree_size": size, "root": root, "head": head,
            "time": time_text[5:], "range": range_hashes, "leaves": (leaves_from, leaves_to, leaves_sha),
            "body": body.encode("ascii"), "key_id": key_id, "signature": signature}


def verify_signature(note, trusted_keys, expected_origin=None):
    """'verified' / 'unsigned' / 'origin_mismatch' / 'untrusted_key' / 'bad_public_key'."""
    if any(p256.public_key_from_spki(key) is None for key in trusted_keys):
        return "bad_public_key"  # the trusted set is unusable: no note is judged with it
    if expected_origin is not None and note["origin"] != expected_origin:
        return "origin_mismatch"
    if note["signature"] is None:
        return "unsigned"
    digest = hashlib.sha256(note["body"]).digest()
    if any(p256.verify(key, digest, note["signature"]) for key in trusted_keys):
        return "verified"
    return "untrusted_key"
