//! The checkpoint signer on KMS: an asymmetric `ECC_NIST_P256` / `SIGN_VERIFY` key (defined in
//! `template.yaml`) whose private half never leaves KMS.
//!
//! Promise: signatures are ECDSA P-256 over SHA-256 of the message (`ECDSA_SHA_256`), returned
//! exactly as KMS gives them (ASN.1 DER); the public key is
//! KMS's DER SubjectPublicKeyInfo, so anyone can verify without AWS — also for an earlier key
//! after a rotation, looked up by its id.

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};

use crate::domain::hash::Hash;
use crate::ports::{PublicKeys, SignError, Signer};

/// The largest message KMS signs as `RAW`.
const RAW_MESSAGE_LIMIT: usize = 4096;

/// An answer from KMS without the field it always carries.
#[derive(Debug, thiserror::Error)]
#[error("KMS answered {operation} for key {key_id} without a {field}")]
pub struct MissingInAnswer {
    pub operation: &'static str,
    pub key_id: String,
    pub field: &'static str,
}

/// Signs with one KMS key.
#[derive(Debug, Clone)]
pub struct KmsSigner {
    client: Client,
    key_id: String,
}

impl KmsSigner {
    /// `key_id`: a key ARN (preferred: it names the key unambiguously in signature lines), key
    /// id, alias name or alias ARN.
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        KmsSigner {
            client,
            key_id: key_id.into(),
        }
    }
}

fn missing(operation: &'static str, key_id: &str, field: &'static str) -> SignError {
    SignError::Failed(Box::new(MissingInAnswer {
        operation,
        key_id: key_id.to_owned(),
        field,
    }))
}

impl Signer for KmsSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        // KMS hashes a RAW message of up to 4096 bytes itself; a longer one is sent as its
        // SHA-256 with MessageType DIGEST. On AWS both give a signature over SHA-256(message).
        // (moto 5.2.5 ignores DIGEST and hashes again, so checkpoints — always far below 4096
        // bytes — go RAW and verify the same everywhere.)
        let (payload, message_type) = if message.len() <= RAW_MESSAGE_LIMIT {
            (message.to_vec(), MessageType::Raw)
        } else {
            (
                Hash::sha256(message).as_bytes().to_vec(),
                MessageType::Digest,
            )
        };
        let output = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(payload))
            .message_type(message_type)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|error| SignError::Failed(Box::new(error)))?;
        let signature = output
            .signature
            .ok_or_else(|| missing("Sign", &self.key_id, "signature"))?;
        Ok(signature.into_inner())
    }
}

/// Public keys of KMS keys (`GetPublicKey`), for verifying checkpoints without signing rights.
#[derive(Debug, Clone)]
pub struct KmsPublicKeys {
    client: Client,
}

impl KmsPublicKeys {
    pub fn new(client: Client) -> Self {
        KmsPublicKeys { client }
    }
}

impl PublicKeys for KmsPublicKeys {
    async fn public_key(&self, key_id: &str) -> Result<Vec<u8>, SignError> {
        let output = self
            .client
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|error| SignError::Failed(Box::new(error)))?;
        let public_key = output
            .public_key
            .ok_or_else(|| missing("GetPublicKey", key_id, "public key"))?;
        Ok(public_key.into_inner())
    }
}

/// The signer also looks up public keys (its own, or an earlier one after a rotation): the
/// sweep verifies the previous checkpoint with the client it signs with.
impl PublicKeys for KmsSigner {
    async fn public_key(&self, key_id: &str) -> Result<Vec<u8>, SignError> {
        KmsPublicKeys::new(self.client.clone())
            .public_key(key_id)
            .await
    }
}
