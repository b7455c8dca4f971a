#!/usr/bin/env python3
"""Independent re-implementation of the ledger format (docs/ledger-format.md) for auditors.

Uses only the Python standard library. It re-encodes every entry of entries.json from its
fields, recomputes the entry hashes and the chain links, and re-verifies the RFC 6962 Merkle
roots, inclusion proofs and consistency proofs of entries.json and merkle.json with the
RFC 9162 verification algorithms. It parses and verifies the signed checkpoint of
checkpoint.json (ECDSA P-256, p256.py), and runs the vectors that must fail: every chain of
failing/chains.json must give exactly its findings (chain_findings.py, section 4.1), every case
of failing/claims.json exactly its claim findings (section 4.2), every note
of failing/checkpoints.json exactly its refusal code (checkpoint_note.py, section 7), every chain
of failing/manifests.json exactly its findings (backup/manifest_chain.py, section 8.4). It
re-encodes and re-hashes every delivery receipt of receipts.json (section 10),
re-derives the sealed audit log of audit_seal.json (section 11: event leaves, events files, the
signed seals and their chain) and runs failing/audit_seals.json: refused notes and events files
with their codes, tampered windows with their exact findings, broken chains with their problems
(audit_seal.py), and every evidence folder of failing/evidence.json gives exactly its verdict
(check_evidence.py, section 12.2).
Exit status 0 when every vector checks out.

    python3 docs/vectors/check_vectors.py [DIR]
"""
import base64
import datetime
import hashlib
import json
import pathlib
import struct
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import audit_seal  # noqa: E402
import chain_findings  # noqa: E402
import checkpoint_note  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "backup"))
import manifest_chain  # noqa: E402

DOMAIN = b"SIGNAL-LEDGER/ENTRY\x00"
VERSION = 1
# (tag, field, kind); kinds: u64, i64, hash, text. Optional fields are omitted when null.
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
REQUIRED = {"schema_version", "chain_index", "previous_hash", "signal_id", "symbol", "action",
            "entry_price", "rationale", "generated_at", "received_at", "delivery_latency_ms",
            "retention_expires_at", "submitter"}


def canonical(fields):
    out = bytearray(DOMAIN + struct.pack(">H", VERSION))
    for tag, name, kind in FIELDS:
        value = fields.get(name)
        if value is None:
            if name in REQUIRED:
                raise ValueError(f"required field {name} is missing")
            continue
        if kind == "u64":
            raw = struct.pack(">Q", value)
        elif kind == "i64":
            raw = struct.pack(">q", value)
        elif kind == "hash":
            raw = bytes.fromhex(value)
            assert len(raw) == 32
        else:
            raw = value.encode("utf-8")
        out += bytes([tag]) + struct.pack(">I", len(raw)) + raw
    return bytes(out)


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def mth(leaves):
    """RFC 6962 section 2.1 Merkle Tree Hash over leaf hashes."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


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


def verify_consistency(m, n, old_root, new_root, proof):
    """RFC 9162 section 2.1.4.2."""
    if m == 0 or m > n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if m & (m - 1) == 0:  # a power of two: the old root is the first node of the path
        proof = [old_root] + list(proof)
    if not proof:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def check_proofs(name, leaves, roots, vectors, failures):
    for vector in vectors["inclusion_proofs"]:
        index, size = vector["leaf_index"], vector["tree_size"]
        proof = [bytes.fromhex(h) for h in vector["proof"]]
        if not verify_inclusion(leaves[index], index, size, proof, roots[size]):
            failures.append(f"{name}: inclusion proof of leaf {index} in size {size} does not verify")
    for vector in vectors["consistency_proofs"]:
        m, n = vector["old_size"], vector["new_size"]
        proof = [bytes.fromhex(h) for h in vector["proof"]]
        if not verify_consistency(m, n, roots[m], roots[n], proof):
            failures.append(f"{name}: consistency proof {m} -> {n} does not verify")


def check_entries(path, failures):
    vectors = json.loads(path.read_text(encoding="utf-8"))
    previous = bytes(32)
    leaves = []
    for position, vector in enumerate(vectors["entries"]):
        fields = vector["fields"]
        encoded = canonical(fields)
        if encoded.hex() != vector["canonical_hex"]:
            failures.append(f"entry {position}: canonical bytes differ")
        digest = leaf_hash(encoded)
        if digest.hex() != vector["entry_hash"]:
            failures.append(f"entry {position}: entry hash differs")
        if fields["chain_index"] != position:
            failures.append(f"entry {position}: chain_index is {fields['chain_index']}")
        if bytes.fromhex(fields["previous_hash"]) != previous:
            failures.append(f"entry {position}: previous_hash does not link")
        previous = digest
        leaves.append(digest)
    roots = {}
    for vector in vectors["roots"]:
        size = vector["tree_size"]
        roots[size] = mth(leaves[:size])
        if roots[size].hex() != vector["root"]:
            failures.append(f"entries: root of size {size} differs")
    check_proofs("entries", leaves, roots, vectors, failures)
    return len(leaves)


RECEIPT_DOMAIN = b"SIGNAL-LEDGER/RECEIPT\x00"
RECEIPT_FIELDS = [
    (0x01, "signal_id", "text"),
    (0x02, "chain_index", "u64"),
    (0x03, "subscriber", "text"),
    (0x04, "generated_at", "text"),
    (0x05, "delivered_at", "text"),
    (0x06, "recorded_at", "text"),
    (0x07, "client_latency_ms", "i64"),
    (0x08, "submitter", "text"),
]
RECEIPT_KEY_DOMAIN = b"SIGNAL-LEDGER/RECEIPT-KEY\x00"


def receipt_canonical(fields):
    """Section 10: every field is required; the receipt hash is SHA-256 of these bytes."""
    out = bytearray(RECEIPT_DOMAIN + struct.pack(">H", VERSION))
    for tag, name, kind in RECEIPT_FIELDS:
        value = fields[name]
        if kind == "u64":
            raw = struct.pack(">Q", value)
        elif kind == "i64":
            raw = struct.pack(">q", value)
        else:
            raw = value.encode("utf-8")
        out += bytes([tag]) + struct.pack(">I", len(raw)) + raw
    return bytes(out)


def check_receipts(path, entries_path, failures):
    """Re-encodes and re-hashes each receipt, checks it against its signal's entry (id, chain
    index, generated_at, latency) and recomputes its item's sort key."""
    vectors = json.loads(path.read_text(encoding="utf-8"))
    entries = json.loads(entries_path.read_text(encoding="utf-8"))["entries"]
    by_id = {e["fields"]["signal_id"]: e["fields"] for e in entries}
    for i, vector in enumerate(vectors["receipts"]):
        fields = vector["fields"]
        encoded = receipt_canonical(fields)
        if encoded.hex() != vector["canonical_hex"]:
            failures.append(f"receipt {i}: canonical bytes differ")
        if sha256(encoded).hex() != vector["receipt_hash"]:
            failures.append(f"receipt {i}: receipt hash differs")
        entry = by_id.get(fields["signal_id"])
        if entry is None or entry["chain_index"] != fields["chain_index"] \
                or entry["generated_at"] != fields["generated_at"]:
            failures.append(f"receipt {i}: does not match its signal's entry")
        if fields["client_latency_ms"] != millis_between(fields["generated_at"], fields["delivered_at"]):
            failures.append(f"receipt {i}: client_latency_ms is not delivered_at - generated_at")
        key = int.from_bytes(sha256(RECEIPT_KEY_DOMAIN + fields["subscriber"].encode())[:8], "big") >> 1
        if key != vector["item_sk"]:
            failures.append(f"receipt {i}: item sort key differs")
    return len(vectors["receipts"])


def millis_between(earlier, later):
    """Whole milliseconds from one canonical timestamp to another (truncated toward zero)."""
    def parse(text):
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    delta = parse(later) - parse(earlier)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return int(micros / 1000) if micros >= 0 else -int(-micros / 1000)


def check_merkle(path, failures):
    vectors = json.loads(path.read_text(encoding="utf-8"))
    leaves = [leaf_hash(bytes.fromhex(h)) for h in vectors["leaf_inputs"]]
    if [h.hex() for h in leaves] != vectors["leaf_hashes"]:
        failures.append("merkle: leaf hashes differ")
    roots = {0: mth([])}
    if roots[0].hex() != vectors["empty_root"]:
        failures.append("merkle: empty root differs")
    for vector in vectors["roots"]:
        size = vector["tree_size"]
        roots[size] = mth(leaves[:size])
        if roots[size].hex() != vector["root"]:
            failures.append(f"merkle: root of size {size} differs")
    check_proofs("merkle", leaves, roots, vectors, failures)
    return len(leaves)


def check_signed_checkpoint(path, failures):
    vector = json.loads(path.read_text(encoding="utf-8"))
    try:
        note = checkpoint_note.parse(vector["note"])
    except checkpoint_note.Refused as refused:
        failures.append(f"checkpoint.json: the signed note is refused: {refused}")
        return 0
    if note["body"].decode() != vector["body"]:
        failures.append("checkpoint.json: body differs")
    if hashlib.sha256(note["body"]).hexdigest() != vector["digest"]:
        failures.append("checkpoint.json: digest differs")
    pem = vector["public_key_pem"].replace("-----BEGIN PUBLIC KEY-----", "").replace(
        "-----END PUBLIC KEY-----", "")
    if base64.b64decode("".join(pem.split())).hex() != vector["public_key_der_hex"]:
        failures.append("checkpoint.json: the PEM and DER public keys differ")
    leaves = bytes(vector["leaf_file"], "ascii")
    if hashlib.sha256(leaves).digest() != note["leaves"][2]:
        failures.append("checkpoint.json: the leaf file's SHA-256 is not the note's")
    if mth([bytes.fromhex(line) for line in leaves.decode().split()]) != note["root"]:
        failures.append("checkpoint.json: the leaf file does not refold to the root")
    for case in vector["verdicts"]:
        keys = [bytes.fromhex(k) for k in case["trusted_keys"]]
        got = checkpoint_note.verify_signature(note, keys, case["expected_origin"])
        if got != case["verdict"]:
            failures.append(f"checkpoint.json: verdict {got}, expected {case['verdict']}")
    unsigned = checkpoint_note.parse(vector["unsigned_note"])
    got = checkpoint_note.verify_signature(unsigned, [bytes.fromhex(vector["public_key_der_hex"])],
                                           vector["expected_origin"])
    if got != vector["unsigned_verdict"]:
        failures.append(f"checkpoint.json: unsigned note verdict {got}")
    return len(vector["verdicts"]) + 1


def check_audit_seals(folder, failures):
    vector = json.loads((folder / "audit_seal.json").read_text(encoding="utf-8"))
    for n, case in enumerate(vector["items"]):
        if audit_seal.event_bytes(case["item"]).hex() != case["canonical_hex"]:
            failures.append(f"audit_seal.json: item {n}: canonical bytes differ")
        if audit_seal.event_leaf(case["item"]).hex() != case["leaf"]:
            failures.append(f"audit_seal.json: item {n}: leaf differs")
    items = [case["item"] for case in vector["items"]]
    key = bytes.fromhex(vector["public_key_der_hex"])
    keyed, previous = [], None
    for n, case in enumerate(vector["seals"]):
        try:
            note = audit_seal.parse(case["note"])
            events = audit_seal.parse_events(case["events_file"].encode("utf-8"), note["seal"])
        except checkpoint_note.Refused as refused:
            failures.append(f"audit_seal.json: seal {n} refused: {refused}")
            continue
        seal = note["seal"]
        if audit_seal.body(seal) != case["body"] or audit_seal.digest(seal) != case["digest"]:
            failures.append(f"audit_seal.json: seal {n}: body or digest differs")
        if audit_seal.seal_key(seal) != case["key"]:
            failures.append(f"audit_seal.json: seal {n}: key differs")
        if audit_seal.verify_signature(note, [key], vector["origin"]) != "verified":
            failures.append(f"audit_seal.json: seal {n}: the signature does not verify")
        window = [i for i in items if audit_seal.in_window(i["pk"], i["sk"], seal["from"], seal["to"])]
        if audit_seal.compare(events, window):
            failures.append(f"audit_seal.json: seal {n} does not match its window's items")
        if previous is not None and seal["previous"] != audit_seal.digest(previous):
            failures.append(f"audit_seal.json: seal {n} does not name seal {n - 1}")
        keyed.append((case["key"], seal))
        previous = seal
    if audit_seal.check_chain(keyed):
        failures.append("audit_seal.json: the seals do not chain")
    first = audit_seal.parse(vector["seals"][0]["note"])
    for case in vector["verdicts"]:
        keys = [bytes.fromhex(k) for k in case["trusted_keys"]]
        got = audit_seal.verify_signature(first, keys, vector["origin"])
        if got != case["verdict"]:
            failures.append(f"audit_seal.json: verdict {got}, expected {case['verdict']}")
    unsigned = audit_seal.parse(vector["unsigned_note"])
    if audit_seal.verify_signature(unsigned, [key], vector["origin"]) != vector["unsigned_verdict"]:
        failures.append("audit_seal.json: the unsigned note's verdict differs")

    failing = json.loads((folder / "failing" / "audit_seals.json").read_text(encoding="utf-8"))
    for case in failing["notes"]:
        try:
            audit_seal.parse(case["note"])
            got = "accepted"
        except checkpoint_note.Refused as refused:
            got = refused.code
        if got != case["code"]:
            failures.append(f"audit_seals.json, {case['name']}: {got}, expected {case['code']}")
    for case in failing["events_files"]:
        seal = audit_seal.parse(case["seal_note"])["seal"]
        try:
            audit_seal.parse_events(case["events_file"].encode("utf-8"), seal)
            got = "accepted"
        except checkpoint_note.Refused as refused:
            got = refused.code
        if got != case["code"]:
            failures.append(f"audit_seals.json, {case['name']}: {got}, expected {case['code']}")
    for case in failing["windows"]:
        seal = audit_seal.parse(case["seal_note"])["seal"]
        events = audit_seal.parse_events(case["events_file"].encode("utf-8"), seal)
        got = sorted(audit_seal.compare(events, case["items"]))
        expected = sorted((f["kind"], f["pk"], f["sk"]) for f in case["findings"])
        if got != expected:
            failures.append(f"audit_seals.json, {case['name']}: found {got}, expected {expected}")
    for case in failing["chains"]:
        seals = [(s["key"], audit_seal.parse(s["note"])["seal"]) for s in case["seals"]]
        seals.sort(key=lambda ks: (ks[1]["seq"], ks[0]))
        got = audit_seal.check_chain(seals)
        expected = [(p["key"], p["kind"]) for p in case["problems"]]
        if got != expected:
            failures.append(f"audit_seals.json, {case['name']}: found {got}, expected {expected}")
    return len(vector["seals"]), sum(len(failing[k]) for k in failing)


def check_failing(folder, failures):
    chains = json.loads((folder / "failing" / "chains.json").read_text(encoding="utf-8"))
    for case in chains["cases"]:
        got = chain_findings.verify(case["items"], case["known_size"], canonical)
        expected = [(f["index"], f["kind"]) for f in case["findings"]]
        if got != expected:
            failures.append(f"chains.json, {case['name']}: found {got}, expected {expected}")
    claims = json.loads((folder / "failing" / "claims.json").read_text(encoding="utf-8"))
    for case in claims["cases"]:
        got = chain_findings.claim_findings(case["entries"], case["claims"])
        expected = [(f["index"], f["kind"]) for f in case["findings"]]
        if got != expected:
            failures.append(f"claims.json, {case['name']}: found {got}, expected {expected}")
    notes = json.loads((folder / "failing" / "checkpoints.json").read_text(encoding="utf-8"))
    for case in notes["cases"]:
        try:
            checkpoint_note.parse(case["note"])
            got = "accepted"
        except checkpoint_note.Refused as refused:
            got = refused.code
        if got != case["code"]:
            failures.append(f"checkpoints.json, {case['name']}: {got}, expected {case['code']}")
    manifests = json.loads((folder / "failing" / "manifests.json").read_text(encoding="utf-8"))
    for case in manifests["cases"]:
        got = manifest_chain.verify_chain([m.encode("utf-8") for m in case["manifests"]])
        expected = [(f["position"], f["kind"]) for f in case["findings"]]
        if got != expected:
            failures.append(f"manifests.json, {case['name']}: found {got}, expected {expected}")
    return len(chains["cases"]) + len(claims["cases"]), len(notes["cases"]), len(manifests["cases"])


def check_proof_documents(path, failures):
    """docs/vectors/proofs.json through check_proof.py (section 13): each inclusion and
    consistency document gives exactly its verdict under the vector's key and origin."""
    import check_proof  # beside this file
    vectors = json.loads(path.read_text(encoding="utf-8"))
    keys = [bytes.fromhex(vectors["public_key_der_hex"])]
    count = 0
    for kind, check in (("inclusion", check_proof.check_inclusion),
                        ("consistency", check_proof.check_consistency)):
        for case in vectors[kind]:
            try:
                check(case["document"], keys, vectors["origin"])
                found = "verified"
            except check_proof.Refused:
                found = "refused"
            if found != case["verdict"]:
                failures.append(f"proofs.json: {kind}: {case['name']}: {found}, expected {case['verdict']}")
            count += 1
    return count


def main():
    folder = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent
    failures = []
    entries = check_entries(folder / "entries.json", failures)
    leaves = check_merkle(folder / "merkle.json", failures)
    verdicts = check_signed_checkpoint(folder / "checkpoint.json", failures)
    chains, notes, manifests = check_failing(folder, failures)
    receipts = check_receipts(folder / "receipts.json", folder / "entries.json", failures)
    seals, seal_cases = check_audit_seals(folder, failures)
    proofs = check_proof_documents(folder / "proofs.json", failures)
    import check_evidence  # beside this file
    folders = check_evidence.check_vectors(folder / "failing" / "evidence.json", failures)
    for failure in failures:
        print("FAIL", failure)
    if failures:
        return 1
    print(f"ok: {entries} entries re-encoded and re-hashed, chain and proofs verified; "
          f"{leaves}-leaf RFC 6962 tree verified; signed checkpoint: {verdicts} verdicts as expected; "
          f"{chains} chains and claim tables and {manifests} manifest chains with their exact findings; "
          f"{notes} notes refused with their codes; "
          f"{receipts} delivery receipts re-encoded and re-hashed; {seals} audit seals re-derived and "
          f"{seal_cases} audit-seal cases with their exact outcomes; "
          f"{proofs} proof documents with their verdicts; "
          f"{folders} evidence folders with their exact verdicts (check_evidence.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
