//! `SoftwareSigner`: an ECDSA P-256 key in memory, standing in for KMS (signing and public keys).

use crate::domain::hash::Hash;
use crate::ports::{PublicKeys, SignError, Signer};

/// An ECDSA P-256 signer with the key in memory, standing in for KMS in unit tests.
#[derive(Debug, Clone)]
pub struct SoftwareSigner {
    key_id: String,
    key: p256::ecdsa::SigningKey,
}

impl SoftwareSigner {
    /// A deterministic key from 32 secret bytes (tests only).
    pub fn from_secret(key_id: impl Into<String>, secret: [u8; 32]) -> Option<SoftwareSigner> {
        let key = p256::ecdsa::SigningKey::from_slice(&secret).ok()?;
        Some(SoftwareSigner {
            key_id: key_id.into(),
            key,
        })
    }
}

impl Signer for SoftwareSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let digest = Hash::sha256(message);
        let signature: p256::ecdsa::Signature = self
            .key
            .sign_prehash(digest.as_bytes())
            .map_err(|e| SignError::Failed(Box::new(e)))?;
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

impl PublicKeys for SoftwareSigner {
    async fn public_key(&self, key_id: &str) -> Result<Vec<u8>, SignError> {
        if key_id != self.key_id {
            return Err(SignError::Failed(format!("unknown key {key_id}").into()));
        }
        // DER SubjectPublicKeyInfo (RFC 5480: id-ecPublicKey, prime256v1, uncompressed point),
        // as KMS GetPublicKey returns it.
        use p256::pkcs8::EncodePublicKey;
        let der = p256::PublicKey::from(self.key.verifying_key())
            .to_public_key_der()
            .map_err(|e| SignError::Failed(Box::new(e)))?;
        Ok(der.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_public_key_is_the_91_byte_spki_kms_returns() {
        let signer = SoftwareSigner::from_secret("k", [7; 32]).unwrap();
        let der = signer.public_key("k").await.unwrap();
        // SEQUENCE(89) { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING(66) { 0x00, 0x04 … } }
        assert_eq!(der.len(), 91);
        assert_eq!(
            der[..27],
            [
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04
            ]
        );
        assert!(signer.public_key("other").await.is_err());
    }
}
