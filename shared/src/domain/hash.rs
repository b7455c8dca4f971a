//! The 32-byte SHA-256 digest used everywhere in the ledger, and the two RFC 6962 hashing
//! primitives built on it: leaf hashes (`0x00` prefix) and interior node hashes (`0x01` prefix).
//!
//! Promise: the prefixes make a leaf hash and a node hash over the same bytes differ, so a
//! second-preimage attack that presents an interior node as a leaf is impossible.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A SHA-256 digest. Displayed and serialised as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

/// RFC 6962 leaf prefix.
pub const LEAF_PREFIX: u8 = 0x00;
/// RFC 6962 interior node prefix.
pub const NODE_PREFIX: u8 = 0x01;

impl Hash {
    /// 32 zero bytes: the `previous_hash` of entry 0.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Plain SHA-256 of `data` (no prefix). Used for file checksums, not for ledger leaves.
    pub fn sha256(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    /// RFC 6962 leaf hash: `SHA-256(0x00 || data)`.
    pub fn leaf(data: &[u8]) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update([LEAF_PREFIX]);
        hasher.update(data);
        Hash(hasher.finalize().into())
    }

    /// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
    pub fn node(left: &Hash, right: &Hash) -> Hash {
        // One 65-byte message handed over at once: verifying a folder hashes a node per entry
        // for each tree it refolds.
        let mut message = [0u8; 65];
        message[0] = NODE_PREFIX;
        message[1..33].copy_from_slice(&left.0);
        message[33..].copy_from_slice(&right.0);
        Hash(Sha256::digest(message).into())
    }

    /// The digest as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let digits = self.hex_digits();
        std::str::from_utf8(&digits).unwrap_or_default().to_owned()
    }

    /// The 64 lowercase hex digits, on the stack (serialising an audit event, which verifying
    /// its seal's events file does for every line, writes two).
    fn hex_digits(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        out
    }

    /// Exactly 64 lowercase hex digits decoded, or `None`. Decoded by hand, through a table
    /// and without a branch per digit: this runs for every hash of every row, leaf and event a
    /// verifier reads, and the `hex` crate's general decoder was a tenth of verify-evidence's
    /// time.
    pub fn from_lower_hex(text: &[u8]) -> Option<Hash> {
        let text: &[u8; 64] = text.try_into().ok()?;
        let mut bytes = [0u8; 32];
        // Every invalid digit sets a high bit here.
        let mut invalid = 0u8;
        for (out, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let (high, low) = (
                HEX_VALUE[usize::from(pair[0])],
                HEX_VALUE[usize::from(pair[1])],
            );
            invalid |= high | low;
            *out = (high << 4) | (low & 0x0f);
        }
        (invalid & 0xf0 == 0).then_some(Hash(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The value of each lowercase hex digit; `0xff` for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut digit = 0;
    while digit < 16 {
        table[b"0123456789abcdef"[digit] as usize] = digit as u8;
        digit += 1;
    }
    table
};

/// Why a string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 lowercase hex characters (a SHA-256 digest), got {len} characters")]
pub struct HashParseError {
    len: usize,
}

impl FromStr for Hash {
    type Err = HashParseError;

    /// Parses exactly 64 lowercase hex characters; anything else (upper case included) is refused
    /// so that a stored hash has exactly one spelling.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || HashParseError {
            len: text.chars().count(),
        };
        Hash::from_lower_hex(text.as_bytes()).ok_or_else(error)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex_digits()).unwrap_or_default())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(std::str::from_utf8(&self.hex_digits()).unwrap_or_default())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_leaf_matches_rfc6962() {
        // SHA-256 of the single byte 0x00: the RFC 6962 hash of an empty leaf.
        assert_eq!(
            Hash::leaf(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn hex_round_trip_and_strictness() {
        let hash = Hash::sha256(b"abc");
        assert_eq!(
            hash.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash.to_hex().parse::<Hash>(), Ok(hash));
        assert!(hash.to_hex().to_uppercase().parse::<Hash>().is_err());
        assert!("abc".parse::<Hash>().is_err());
    }

    #[test]
    fn the_table_decoder_takes_every_lowercase_hex_digit_and_nothing_else() {
        let hash = Hash::sha256(b"abc");
        for at in [0, 1, 31, 62, 63] {
            for byte in 0..=255u8 {
                let mut text = hash.to_hex().into_bytes();
                text[at] = byte;
                let digit = byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
                let decoded = Hash::from_lower_hex(&text);
                assert_eq!(decoded.is_some(), digit, "byte {byte} at {at}");
                if let Some(decoded) = decoded {
                    assert_eq!(decoded.to_hex().into_bytes(), text);
                }
            }
        }
        assert_eq!(Hash::from_lower_hex(&[b'0'; 63]), None);
        assert_eq!(Hash::from_lower_hex(&[b'0'; 65]), None);
    }
}
