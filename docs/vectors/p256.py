"""ECDSA P-256 (FIPS 186-4, SEC 1) with SHA-256 digests, standard library only.

Verification is what auditors need; signing exists only to produce test vectors (with a
deterministic nonce derived from the key and digest, never for real keys).
"""
import hashlib
import hmac

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)

# DER SubjectPublicKeyInfo prefix for an uncompressed P-256 point (id-ecPublicKey, prime256v1).
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def _mul(k, point):
    result = None
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def _on_curve(point):
    x, y = point
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x - A * x - B) % P == 0


def public_key_from_spki(der):
    """The curve point of a DER SubjectPublicKeyInfo, or None if it is not a P-256 key."""
    if len(der) != len(SPKI_PREFIX) + 65 or not der.startswith(SPKI_PREFIX):
        return None
    raw = der[len(SPKI_PREFIX):]
    if raw[0] != 4:
        return None
    point = (int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big"))
    return point if _on_curve(point) else None


def spki_from_private(d):
    x, y = _mul(d, G)
    return SPKI_PREFIX + b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def _der_int(value):
    raw = value.to_bytes((value.bit_length() + 8) // 8 or 1, "big")
    return b"\x02" + bytes([len(raw)]) + raw


def decode_signature(der):
    """(r, s) of an ASN.1 DER ECDSA signature in its one strict encoding, or None."""
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        return None
    values, at = [], 2
    for _ in range(2):
        if at + 2 > len(der) or der[at] != 0x02:
            return None
        length = der[at + 1]
        raw = der[at + 2:at + 2 + length]
        if length == 0 or len(raw) != length or raw[0] & 0x80:
            return None
        if length > 1 and raw[0] == 0 and not raw[1] & 0x80:
            return None  # a needless leading zero: not DER
        values.append(int.from_bytes(raw, "big"))
        at += 2 + length
    return tuple(values) if at == len(der) else None


def verify(spki_der, digest, signature_der):
    """True when signature_der is a valid ECDSA P-256 signature of the 32-byte digest."""
    point = public_key_from_spki(spki_der)
    rs = decode_signature(signature_der)
    if point is None or rs is None:
        return False
    r, s = rs
    if not (1 <= r < N and 1 <= s < N):
        return False
    e = int.from_bytes(digest, "big") % N
    w = pow(s, -1, N)
    xy = _add(_mul(e * w % N, G), _mul(r * w % N, point))
    return xy is not None and xy[0] % N == r


def sign(d, digest):
    """Test vectors only: a deterministic nonce from HMAC(d, digest)."""
    e = int.from_bytes(digest, "big") % N
    counter = 0
    while True:
        k = int.from_bytes(hmac.new(d.to_bytes(32, "big"), digest + bytes([counter]),
                                    hashlib.sha256).digest(), "big") % N
        counter += 1
        if k == 0:
            continue
        r = _mul(k, G)[0] % N
        s = pow(k, -1, N) * (e + r * d) % N
        if r and s:
            s = min(s, N - s)  # low-s, as many verifiers prefer; both are valid ECDSA
            body = _der_int(r) + _der_int(s)
            return b"\x30" + bytes([len(body)]) + body
