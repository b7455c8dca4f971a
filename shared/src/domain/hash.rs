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

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

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
        // Decoded by hand: this runs for every hash of every row, leaf and event a verifier
        // reads, and the `hex` crate's general decoder was a tenth of verify-evidence's time.
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let decode = |text: &[u8]| -> Option<Hash> {
            if text.len() != 64 {
                return None;
            }
            let mut bytes = [0u8; 32];
            for (out, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
                *out = (digit(pair[0])? << 4) | digit(pair[1])?;
            }
            Some(Hash(bytes))
        };
        decode(text.as_bytes()).ok_or_else(error)
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
}
