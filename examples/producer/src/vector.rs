//! The SigV4 known-answer vector (`examples/sigv4-vector.json`): a fixed request, credentials and
//! time, and the headers that sign it. This producer signs it here; `producer.py sign-vector`
//! signs it in Python, and the tests check that both give exactly the vector's headers.

use std::time::SystemTime;

use aws_credential_types::Credentials;

use crate::{ProducerError, Unsigned, sign_request};

/// The vector as stored in `examples/sigv4-vector.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SigningVector {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub region: String,
    /// RFC 3339.
    pub time: String,
    /// The headers that sign the request.
    pub expected: Vec<(String, String)>,
}

impl SigningVector {
    pub fn parse(json: &[u8]) -> Result<SigningVector, ProducerError> {
        serde_json::from_slice(json)
            .map_err(|error| ProducerError::InvalidVector(error.to_string()))
    }

    /// The headers this producer signs the vector's request with, sorted.
    pub fn sign(&self) -> Result<Vec<(String, String)>, ProducerError> {
        self.sign_body(self.body.as_bytes())
    }

    /// The same, with another body (to show that the signature covers it).
    pub fn sign_body(&self, body: &[u8]) -> Result<Vec<(String, String)>, ProducerError> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let credentials = Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "vector",
        );
        let time: SystemTime =
            time::OffsetDateTime::parse(&self.time, &time::format_description::well_known::Rfc3339)
                .map_err(|error| ProducerError::InvalidVector(format!("time: {error}")))?
                .into();
        let unsigned = Unsigned {
            method: &self.method,
            url: &self.url,
            headers: &headers,
            body,
        };
        let mut signed = sign_request(&unsigned, &credentials, &self.region, time)?;
        signed.sort();
        Ok(signed)
    }

    /// The vector's headers, sorted.
    pub fn expected_sorted(&self) -> Vec<(String, String)> {
        let mut expected = self.expected.clone();
        expected.sort();
        expected
    }
}
