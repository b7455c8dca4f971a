//! An example signal producer for the ingest function URL: SigV4 signing (service `lambda`) with
//! credentials from the AWS SDK's default chain, and retries that can never store a signal twice.
//!
//! Promises:
//! - every signal is sent with a `signal_id` (a UUIDv7 is added when the caller gave none), and
//!   every retry of it carries the same id, so the ledger stores it at most once and answers a
//!   retry of an already stored signal with the original entry (`200`);
//! - `429`, `500`, `502`, `503`, `504`, timeouts and connection failures are retried, bounded;
//!   a `Retry-After` in seconds is honoured (capped), otherwise jittered exponential backoff;
//! - every attempt is signed afresh (a signature is valid for 15 minutes from its time);
//! - a `4xx` refusal is returned at once with the problem document: retrying cannot fix it.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

pub mod vector;

/// The SigV4 service name of Lambda function URLs.
pub const SERVICE: &str = "lambda";

/// A request to sign: what the canonical request is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// Headers sent with the request and covered by the signature (e.g. `content-type`).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Signs `request` with SigV4 for `region` and [`SERVICE`] at `time`. Returns the headers to add:
/// `x-amz-date`, `authorization`, and `x-amz-security-token` for temporary credentials.
pub fn sign_request(
    request: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, ProducerError> {
    let identity: Identity = credentials.clone().into();
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| ProducerError::Signing(error.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|error| ProducerError::Signing(error.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|error| ProducerError::Signing(error.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// How failed attempts are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// How long one attempt may take before it counts as timed out.
    pub attempt_timeout: Duration,
    /// Without `Retry-After`, the wait before retry `n` is random in `[0, min(max, base × 2ⁿ)]`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A longer `Retry-After` is shortened to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            attempt_timeout: Duration::from_secs(10),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=ceiling_ms))
    }
}

/// A signal the ledger holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// `201` newly stored, `200` it was already stored (an earlier attempt's write landed).
    pub status: u16,
    /// The entry as stored (chain index, hashes, `received_at`, …).
    pub entry: Value,
    /// Attempts made, the successful one included.
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error("the signal must be a JSON object")]
    NotAnObject,
    #[error("the function URL {url:?} is not a valid http(s) URL")]
    InvalidUrl { url: String },
    #[error("no AWS region is configured (set AWS_REGION or a profile's region)")]
    NoRegion,
    #[error("no credentials provider is configured")]
    NoCredentialsProvider,
    #[error("could not load AWS credentials")]
    Credentials(#[source] aws_credential_types::provider::error::CredentialsError),
    #[error("could not sign the request: {0}")]
    Signing(String),
    #[error("refused with HTTP {status}: {problem}")]
    Refused { status: u16, problem: Value },
    #[error("not stored after {attempts} attempts; last: {last}")]
    GaveUp { attempts: u32, last: String },
    #[error("could not build the request")]
    Request(#[source] http::Error),
    #[error("could not load the system's TLS root certificates")]
    TlsRoots(#[source] std::io::Error),
    #[error("the signing vector is not valid: {0}")]
    InvalidVector(String),
}

/// A producer bound to one function URL.
#[derive(Debug, Clone)]
pub struct Producer {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    credentials: SharedCredentialsProvider,
    region: String,
    /// The function URL without a trailing slash, e.g. `https://abc.lambda-url.us-east-1.on.aws`.
    base_url: String,
    retry: RetryPolicy,
}

impl Producer {
    /// A producer with the SDK's configuration: region and credentials from the default chain
    /// (environment, profile, web identity, ECS/EC2 role…).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        function_url: &str,
        retry: RetryPolicy,
    ) -> Result<Producer, ProducerError> {
        let base_url = function_url.trim_end_matches('/').to_owned();
        let valid = base_url.parse::<http::Uri>().is_ok_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
        });
        if !valid {
            return Err(ProducerError::InvalidUrl { url: base_url });
        }
        // TLS with the system's roots and the aws-lc-rs provider the SDK uses too.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(ProducerError::TlsRoots)?
            .https_or_http()
            .enable_http1()
            .build();
        let http = Client::builder(TokioExecutor::new()).build(https);
        Ok(Producer {
            http,
            credentials: sdk
                .credentials_provider()
                .ok_or(ProducerError::NoCredentialsProvider)?,
            region: sdk
                .region()
                .ok_or(ProducerError::NoRegion)?
                .as_ref()
                .to_owned(),
            base_url,
            retry,
        })
    }

    /// Posts `signal` to `/signals`, retrying as the module promises. A `signal_id` is added when
    /// absent; the returned entry names it.
    pub async fn submit(&self, mut signal: Map<String, Value>) -> Result<Stored, ProducerError> {
        if !signal.get("signal_id").is_some_and(Value::is_string) {
            signal.insert(
                "signal_id".into(),
                Value::String(uuid::Uuid::now_v7().to_string()),
            );
        }
        let body = Value::Object(signal).to_string().into_bytes();
        let url = format!("{}/signals", self.base_url);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (last, retry_after) = match self.attempt(&url, &body).await? {
                Attempt::Stored(status, entry) => {
                    return Ok(Stored {
                        status,
                        entry,
                        attempts,
                    });
                }
                Attempt::Refused(status, problem) => {
                    return Err(ProducerError::Refused { status, problem });
                }
                Attempt::Retryable(last, retry_after) => (last, retry_after),
            };
            if attempts >= self.retry.max_attempts {
                return Err(ProducerError::GaveUp { attempts, last });
            }
            tokio::time::sleep(self.retry.delay(attempts, retry_after)).await;
        }
    }

    /// One signed POST.
    async fn attempt(&self, url: &str, body: &[u8]) -> Result<Attempt, ProducerError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(ProducerError::Credentials)?;
        let headers = [("content-type", "application/json")];
        let unsigned = Unsigned {
            method: "POST",
            url,
            headers: &headers,
            body,
        };
        let signature = sign_request(&unsigned, &credentials, &self.region, SystemTime::now())?;
        let mut request = http::Request::post(url).header("content-type", "application/json");
        for (name, value) in signature {
            request = request.header(name, value);
        }
        let request = match request.body(Full::new(Bytes::copy_from_slice(body))) {
            Ok(request) => request,
            Err(error) => return Err(ProducerError::Request(error)),
        };
        let exchange = async {
            let response = self.http.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((parts, body))
        };
        let (parts, body) = match tokio::time::timeout(self.retry.attempt_timeout, exchange).await {
            Ok(Ok(answer)) => answer,
            // Timeouts and connection failures: the signal may or may not have been stored; the
            // same signal_id makes the retry safe either way.
            Ok(Err(error)) => return Ok(Attempt::Retryable(describe(error.as_ref()), None)),
            Err(_) => {
                let waited = self.retry.attempt_timeout;
                return Ok(Attempt::Retryable(
                    format!("no answer within {waited:?}"),
                    None,
                ));
            }
        };
        let status = parts.status.as_u16();
        let retry_after = parts
            .headers
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let json: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok(match status {
            200 | 201 => Attempt::Stored(status, json),
            429 | 500 | 502 | 503 | 504 => {
                Attempt::Retryable(format!("HTTP {status}: {json}"), retry_after)
            }
            _ => Attempt::Refused(status, json),
        })
    }
}

enum Attempt {
    Stored(u16, Value),
    Refused(u16, Value),
    Retryable(String, Option<Duration>),
}

/// A transport error and its sources, on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The known-answer vector `examples/sigv4-vector.json` (also checked by `producer.py`).
    #[test]
    fn signs_the_known_answer_vector() {
        let vector =
            vector::SigningVector::parse(include_bytes!("../../sigv4-vector.json")).unwrap();
        let expected = vector.expected_sorted();
        assert_eq!(vector.sign().unwrap(), expected);

        // Any change to what is signed changes the signature.
        let tampered = vector
            .sign_body(format!("{} ", vector.body).as_bytes())
            .unwrap();
        let authorization = |headers: &[(String, String)]| {
            headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .unwrap()
                .1
                .clone()
        };
        assert_ne!(authorization(&tampered), authorization(&expected));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            policy.max_retry_after
        );
        for retry in 1..20 {
            assert!(policy.delay(retry, None) <= policy.max_delay);
        }
    }
}
