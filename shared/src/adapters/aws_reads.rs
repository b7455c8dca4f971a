//! Read-only AWS calls made as plain SigV4-signed HTTPS requests: S3 `ListObjectVersions` and
//! `GetObject` (the vault, as [`VaultReads`]) and KMS `GetPublicKey` (as [`PublicKeys`]). The
//! ingest function's proof routes use these and nothing else of S3 or KMS.
//!
//! Why not the SDK clients, as every other function does ([`super::s3`], [`super::kms`]): in the
//! ingest bootstrap the S3 client alone weighed 1.1 MB (its flexible-checksum support links every
//! CRC table of `crc-fast`, 0.7 MB) and the KMS client 0.2 MB, for three read calls; the bootstrap
//! must stay under 8 MB to start fast (BENCHMARKS.md, "Cold start"). Signing is the SDK's own
//! (`aws-sigv4`), credentials come from the SDK's provider chain, XML is read with the SDK's own
//! decoder (`aws-smithy-xml`), and TLS is the same rustls with aws-lc-rs.
//!
//! Promises, the same as the SDK adapters' (the emulator tests compare the two on one bucket):
//! - listings are in [`order_versions`] order, paged with `key-marker`/`version-id-marker`;
//!   delete markers are not versions and are not listed;
//! - a missing key or version is [`VaultError::NotFound`], access denied is
//!   [`VaultError::Refused`], anything else [`VaultError::Failed`] naming S3's code;
//! - a body is checked against the SHA-256 S3 stored with it (`x-amz-checksum-mode: ENABLED`;
//!   every object the vault writes carries one), and a mismatch is a failure, never data;
//! - every attempt is signed afresh (credentials are reused until five minutes before they
//!   expire); `429`, `5xx`, timeouts and connection failures are retried ([`ATTEMPTS`] in all,
//!   jittered backoff), and each attempt is bounded by [`ATTEMPT_TIMEOUT`].
//!
//! Endpoints: the SDK's `AWS_ENDPOINT_URL` when set (the emulator; path-style S3 addressing, as
//! the SDK uses for an IP-address endpoint), otherwise the region's public endpoints in its
//! partition (virtual-hosted S3, path-style for a bucket name with dots, which no certificate
//! covers). FIPS and dual-stack endpoints are not built: [`AwsReads::checked`] refuses a
//! configuration asking for them without an explicit endpoint, rather than quietly using
//! another.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_xml::decode::{Document, ScopedDecoder, try_data};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::OnceCell;

use crate::ports::{
    BoxError, ObjectVersion, PublicKeys, SignError, VaultError, VaultReads, error_chain,
    order_versions,
};

/// Attempts per call, the first included.
pub const ATTEMPTS: u32 = 3;
/// How long one attempt may take, connection and whole body included. With the backoff, a call
/// gives up within about 10 s: a proof request fails with a clean error well inside the
/// function's 25-s timeout instead of being cut off by it.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded, as SigV4
/// canonicalises query values and S3 key paths (`/` kept in paths by [`encode_key`]).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a call failed, with what AWS said.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no AWS region is configured")]
    NoRegion,
    #[error("no AWS credentials provider is configured")]
    NoCredentials,
    #[error(
        "FIPS or dual-stack endpoints are configured, which these reads do not build: set AWS_ENDPOINT_URL to the endpoint to use"
    )]
    UnsupportedEndpointMode,
    #[error("could not load AWS credentials")]
    Credentials(#[source] BoxError),
    #[error("could not sign the request: {0}")]
    Signing(String),
    #[error("could not load the system's TLS root certificates")]
    TlsRoots(#[source] std::io::Error),
    #[error("{service} answered HTTP {status} ({code}): {message}")]
    Answered {
        service: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    #[error("no answer after {attempts} attempts; last: {last}")]
    GaveUp { attempts: u32, last: String },
    #[error("{service} answered something unreadable: {detail}")]
    Unreadable {
        service: &'static str,
        detail: String,
    },
    #[error(
        "the body of {key} (version {version_id}) does not match the SHA-256 S3 stored with it"
    )]
    ChecksumMismatch { key: String, version_id: String },
}

impl CallError {
    fn code(&self) -> Option<(u16, &str)> {
        match self {
            CallError::Answered { status, code, .. } => Some((*status, code.as_str())),
            _ => None,
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Signs and sends requests for one region with the SDK's credentials provider. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AwsReads {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Built on the first call: loading the TLS roots is not paid at process start.
    http: OnceCell<HttpClient>,
    credentials: SharedCredentialsProvider,
    /// The last credentials the provider gave, reused until five minutes before they expire.
    cached: std::sync::Mutex<Option<Credentials>>,
    region: String,
    /// `AWS_ENDPOINT_URL` as the SDK read it, without a trailing slash.
    endpoint: Option<String>,
}

/// One request to sign and send.
struct Call<'a> {
    service: &'static str,
    method: &'static str,
    url: String,
    headers: &'a [(&'static str, &'a str)],
    body: &'a [u8],
}

/// An answer with a 2xx status.
struct Answer {
    headers: http::HeaderMap,
    body: Bytes,
}

impl AwsReads {
    /// `endpoint`: the SDK configuration's endpoint URL (`AWS_ENDPOINT_URL`), if any.
    pub fn new(
        credentials: Option<SharedCredentialsProvider>,
        region: Option<&str>,
        endpoint: Option<&str>,
    ) -> Result<AwsReads, CallError> {
        Ok(AwsReads {
            inner: Arc::new(Inner {
                http: OnceCell::new(),
                credentials: credentials.ok_or(CallError::NoCredentials)?,
                cached: std::sync::Mutex::new(None),
                region: region.ok_or(CallError::NoRegion)?.to_owned(),
                endpoint: endpoint.map(|url| url.trim_end_matches('/').to_owned()),
            }),
        })
    }

    /// As [`AwsReads::new`], refusing an SDK configuration that asks for FIPS or dual-stack
    /// endpoints (`use_fips`, `use_dual_stack`: `Some(true)`), which only an explicit endpoint
    /// can serve here.
    pub fn checked(
        credentials: Option<SharedCredentialsProvider>,
        region: Option<&str>,
        endpoint: Option<&str>,
        fips_or_dual_stack: bool,
    ) -> Result<AwsReads, CallError> {
        if fips_or_dual_stack && endpoint.is_none() {
            return Err(CallError::UnsupportedEndpointMode);
        }
        AwsReads::new(credentials, region, endpoint)
    }

    /// Credentials for a request: the cached ones while they are good for five more minutes,
    /// otherwise fresh ones from the provider.
    async fn credentials(&self) -> Result<Credentials, CallError> {
        let margin = Duration::from_secs(300);
        let fresh_enough = |credentials: &Credentials| {
            credentials
                .expiry()
                .is_none_or(|expiry| SystemTime::now() + margin < expiry)
        };
        if let Ok(cached) = self.inner.cached.lock()
            && let Some(credentials) = cached.as_ref().filter(|c| fresh_enough(c))
        {
            return Ok(credentials.clone());
        }
        let credentials = self
            .inner
            .credentials
            .provide_credentials()
            .await
            .map_err(|error| CallError::Credentials(Box::new(error)))?;
        if let Ok(mut cached) = self.inner.cached.lock() {
            *cached = Some(credentials.clone());
        }
        Ok(credentials)
    }

    async fn http(&self) -> Result<&HttpClient, CallError> {
        self.inner
            .http
            .get_or_try_init(|| async {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
                    .map_err(CallError::TlsRoots)?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new()).build(https))
            })
            .await
    }

    /// The base URL of `service` (`s3`, `kms`) when no bucket goes into the host name.
    fn service_url(&self, service: &str) -> String {
        match &self.inner.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!(
                "https://{service}.{}.{}",
                self.inner.region,
                dns_suffix(&self.inner.region)
            ),
        }
    }

    /// The URL of `bucket` (and `path`, already encoded, starting with `/`).
    fn bucket_url(&self, bucket: &str, path: &str) -> String {
        match &self.inner.endpoint {
            None if !bucket.contains('.') => format!(
                "https://{bucket}.s3.{}.{}{path}",
                self.inner.region,
                dns_suffix(&self.inner.region)
            ),
            _ => format!("{}/{bucket}{path}", self.service_url("s3")),
        }
    }

    /// Sends `call`, retrying as the module promises; a non-2xx answer that retrying cannot
    /// change is returned as [`CallError::Answered`].
    async fn send(&self, call: &Call<'_>) -> Result<Answer, CallError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = match tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(call)).await {
                Ok(Ok(Ok(answer))) => return Ok(answer),
                Ok(Ok(Err(refusal))) if !retryable(&refusal) => return Err(refusal),
                Ok(Ok(Err(refusal))) => refusal.to_string(),
                Ok(Err(transport)) => transport,
                Err(_) => format!("no answer within {ATTEMPT_TIMEOUT:?}"),
            };
            if attempt >= ATTEMPTS {
                return Err(CallError::GaveUp {
                    attempts: attempt,
                    last,
                });
            }
            let ceiling_ms = 100u64 << attempt.min(6);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=ceiling_ms))).await;
        }
    }

    /// One signed exchange. Outer error: the attempt could not be made or the transport failed
    /// (as text, retried); inner: the service's answer.
    async fn attempt(&self, call: &Call<'_>) -> Result<Result<Answer, CallError>, String> {
        let request = match self.prepare(call).await {
            Ok(request) => request,
            Err(error) => return Ok(Err(error)),
        };
        let http = match self.http().await {
            Ok(http) => http,
            Err(error) => return Ok(Err(error)),
        };
        let response = http.request(request).await.map_err(|e| error_chain(&e))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| error_chain(&e))?
            .to_bytes();
        if parts.status.is_success() {
            return Ok(Ok(Answer {
                headers: parts.headers,
                body,
            }));
        }
        let (code, message) = error_code(call.service, &body);
        Ok(Err(CallError::Answered {
            service: call.service,
            status: parts.status.as_u16(),
            code,
            message,
        }))
    }

    /// The request with its SigV4 headers, signed now with fresh credentials.
    async fn prepare(&self, call: &Call<'_>) -> Result<http::Request<Full<Bytes>>, CallError> {
        let credentials = self.credentials().await?;
        let signature = sign_call(
            call,
            &credentials.into(),
            &self.inner.region,
            SystemTime::now(),
        )?;
        let mut request = http::Request::builder().method(call.method).uri(&call.url);
        for (name, value) in call.headers {
            request = request.header(*name, *value);
        }
        for (name, value) in signature {
            request = request.header(name, value);
        }
        request
            .body(Full::new(Bytes::copy_from_slice(call.body)))
            .map_err(|error| CallError::Signing(error.to_string()))
    }
}

/// The SigV4 headers of `call` at `time` (`authorization`, `x-amz-date`, S3's
/// `x-amz-content-sha256`, and `x-amz-security-token` for temporary credentials).
fn sign_call(
    call: &Call<'_>,
    identity: &Identity,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, CallError> {
    let mut settings = SigningSettings::default();
    if call.service == "s3" {
        // S3 signs the path as sent, and wants the payload hash as a header.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(call.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|error| CallError::Signing(error.to_string()))?
        .into();
    let signable = SignableRequest::new(
        call.method,
        &call.url,
        call.headers.iter().copied(),
        SignableBody::Bytes(call.body),
    )
    .map_err(|error| CallError::Signing(error.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|error| CallError::Signing(error.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// Throttling and server-side failures may pass; anything else will not.
fn retryable(error: &CallError) -> bool {
    match error.code() {
        Some((status, code)) => {
            status == 429
                || status >= 500
                || matches!(
                    code,
                    "SlowDown" | "ThrottlingException" | "RequestTimeout" | "InternalError"
                )
        }
        None => false,
    }
}

/// The DNS suffix of a region's partition.
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if region.starts_with("eusc-") {
        "amazonaws.eu"
    } else {
        "amazonaws.com"
    }
}

/// An object key as a URL path: each segment percent-encoded, `/` kept.
pub fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| utf8_percent_encode(segment, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn encode_value(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// The error code and message of an error answer: S3's `<Error><Code>…`, KMS's `__type`.
fn error_code(service: &str, body: &[u8]) -> (String, String) {
    if service == "kms" {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let code = field("__type")
            .map(|code| code.rsplit('#').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let message = field("message")
            .or_else(|| field("Message"))
            .unwrap_or_default();
        return (code, message);
    }
    let mut code = String::new();
    let mut message = String::new();
    if let Ok(mut document) = Document::try_from(body)
        && let Ok(mut root) = document.root_element()
    {
        while let Some(mut tag) = root.next_tag() {
            let target = match tag.start_el().local() {
                "Code" => &mut code,
                "Message" => &mut message,
                _ => continue,
            };
            *target = try_data(&mut tag).map(Cow::into_owned).unwrap_or_default();
        }
    }
    (code, message)
}

/// The vault's bucket, read through [`AwsReads`].
#[derive(Debug, Clone)]
pub struct S3Reads {
    aws: AwsReads,
    bucket: String,
    page_size: Option<u32>,
}

impl S3Reads {
    pub fn new(aws: AwsReads, bucket: impl Into<String>) -> S3Reads {
        S3Reads {
            aws,
            bucket: bucket.into(),
            page_size: None,
        }
    }

    /// At most `max_keys` versions per listing page (S3's default and maximum is 1000); small
    /// pages exercise pagination in tests.
    pub fn with_page_size(mut self, max_keys: u32) -> S3Reads {
        self.page_size = Some(max_keys);
        self
    }

    async fn list_from(
        &self,
        prefix: &str,
        mut key_marker: Option<String>,
    ) -> Result<Vec<ObjectVersion>, VaultError> {
        let mut listed = Vec::new();
        let mut version_id_marker: Option<String> = None;
        loop {
            // Parameters in code-point order, each with a value: the URL is its own canonical
            // query string.
            let mut query = vec![];
            if let Some(marker) = key_marker.take() {
                query.push(format!("key-marker={}", encode_value(&marker)));
            }
            if let Some(max_keys) = self.page_size {
                query.push(format!("max-keys={max_keys}"));
            }
            query.push(format!("prefix={}", encode_value(prefix)));
            if let Some(marker) = version_id_marker.take() {
                query.push(format!("version-id-marker={}", encode_value(&marker)));
            }
            query.push("versions=".to_owned());
            let call = Call {
                service: "s3",
                method: "GET",
                url: self
                    .aws
                    .bucket_url(&self.bucket, &format!("/?{}", query.join("&"))),
                headers: &[],
                body: &[],
            };
            let answer = self
                .aws
                .send(&call)
                .await
                .map_err(|error| vault_error(error, prefix, None))?;
            let page = parse_listing(&answer.body, listed.len()).map_err(|detail| {
                VaultError::Failed(Box::new(CallError::Unreadable {
                    service: "s3",
                    detail,
                }))
            })?;
            listed.extend(page.versions);
            if !page.truncated {
                break;
            }
            if page.next_key_marker.is_none() {
                return Err(VaultError::Failed(Box::new(CallError::Unreadable {
                    service: "s3",
                    detail: format!("a truncated listing of {prefix} without a next key marker"),
                })));
            }
            key_marker = page.next_key_marker;
            version_id_marker = page.next_version_id_marker;
        }
        Ok(order_versions(listed))
    }
}

impl VaultReads for S3Reads {
    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, VaultError> {
        self.list_from(prefix, None).await
    }

    async fn list_versions_after(
        &self,
        prefix: &str,
        after: &str,
    ) -> Result<Vec<ObjectVersion>, VaultError> {
        self.list_from(prefix, Some(after.to_owned())).await
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>, VaultError> {
        let path = format!(
            "/{}?versionId={}",
            encode_key(key),
            encode_value(version_id)
        );
        let call = Call {
            service: "s3",
            method: "GET",
            url: self.aws.bucket_url(&self.bucket, &path),
            headers: &[("x-amz-checksum-mode", "ENABLED")],
            body: &[],
        };
        let answer = self
            .aws
            .send(&call)
            .await
            .map_err(|error| vault_error(error, key, Some(version_id)))?;
        check_sha256(&answer.headers, &answer.body, key, version_id)?;
        Ok(answer.body.to_vec())
    }
}

/// The body against the `x-amz-checksum-sha256` S3 returned (a whole-object checksum; a
/// multipart object's composite checksum, `…-N`, covers its parts and is not checked here).
fn check_sha256(
    headers: &http::HeaderMap,
    body: &[u8],
    key: &str,
    version_id: &str,
) -> Result<(), VaultError> {
    let Some(stored) = headers
        .get("x-amz-checksum-sha256")
        .and_then(|value| value.to_str().ok())
    else {
        return Ok(());
    };
    let composite = stored.contains('-')
        || headers
            .get("x-amz-checksum-type")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"COMPOSITE"));
    if composite || BASE64.encode(Sha256::digest(body)) == stored {
        return Ok(());
    }
    Err(VaultError::Failed(Box::new(CallError::ChecksumMismatch {
        key: key.to_owned(),
        version_id: version_id.to_owned(),
    })))
}

/// As the SDK adapter classifies S3's errors.
fn vault_error(error: CallError, key: &str, version_id: Option<&str>) -> VaultError {
    match error.code() {
        Some((_, "NoSuchKey" | "NoSuchVersion" | "NotFound")) | Some((404, "")) => {
            VaultError::NotFound {
                key: key.to_owned(),
                version_id: version_id.map(str::to_owned),
            }
        }
        Some((_, "AccessDenied")) | Some((403, "")) => VaultError::Refused {
            key: key.to_owned(),
            source: Box::new(error),
        },
        _ => VaultError::Failed(Box::new(error)),
    }
}

/// One page of a `ListObjectVersions` answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListingPage {
    /// Each version with its modification time (ns since the epoch) and its position in the
    /// whole answer so far (for [`order_versions`]).
    pub versions: Vec<(ObjectVersion, Option<i128>, usize)>,
    pub truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// Reads a `ListVersionsResult`; `first_position` numbers its versions after earlier pages'.
pub fn parse_listing(body: &[u8], first_position: usize) -> Result<ListingPage, String> {
    let mut document = Document::try_from(body).map_err(|error| error.to_string())?;
    let mut root = document.root_element().map_err(|error| error.to_string())?;
    if !root.start_el().matches("ListVersionsResult") {
        return Err(format!(
            "expected ListVersionsResult, found {}",
            root.start_el().local()
        ));
    }
    let mut page = ListingPage::default();
    while let Some(mut tag) = root.next_tag() {
        match tag.start_el().local() {
            "IsTruncated" => page.truncated = text(&mut tag)? == "true",
            "NextKeyMarker" => page.next_key_marker = Some(text(&mut tag)?),
            "NextVersionIdMarker" => page.next_version_id_marker = Some(text(&mut tag)?),
            "Version" => {
                let (version, modified) = parse_version(&mut tag)?;
                let position = first_position + page.versions.len();
                page.versions.push((version, modified, position));
            }
            // Delete markers are not versions of an object; other elements say nothing needed.
            _ => {}
        }
    }
    Ok(page)
}

fn text(tag: &mut ScopedDecoder<'_, '_>) -> Result<String, String> {
    try_data(tag)
        .map(Cow::into_owned)
        .map_err(|error| error.to_string())
}

fn parse_version(tag: &mut ScopedDecoder<'_, '_>) -> Result<(ObjectVersion, Option<i128>), String> {
    let (mut key, mut version_id, mut is_latest, mut size, mut modified) =
        (None, None, false, 0u64, None);
    while let Some(mut field) = tag.next_tag() {
        match field.start_el().local() {
            "Key" => key = Some(text(&mut field)?),
            "VersionId" => version_id = Some(text(&mut field)?),
            "IsLatest" => is_latest = text(&mut field)? == "true",
            "Size" => {
                let value = text(&mut field)?;
                size = value
                    .parse()
                    .map_err(|_| format!("a version's Size is not a size: {value:?}"))?;
            }
            "LastModified" => {
                let value = text(&mut field)?;
                let time = OffsetDateTime::parse(&value, &Rfc3339)
                    .map_err(|_| format!("a version's LastModified is not a time: {value:?}"))?;
                modified = Some(time.unix_timestamp_nanos());
            }
            _ => {}
        }
    }
    let key = key.ok_or("a version without a Key")?;
    let version_id = version_id.ok_or_else(|| format!("a version of {key} without a VersionId"))?;
    Ok((
        ObjectVersion {
            key,
            version_id,
            is_latest,
            size,
        },
        modified,
    ))
}

/// KMS public keys, read through [`AwsReads`].
#[derive(Debug, Clone)]
pub struct KmsKeyReads {
    aws: AwsReads,
}

impl KmsKeyReads {
    pub fn new(aws: AwsReads) -> KmsKeyReads {
        KmsKeyReads { aws }
    }
}

impl PublicKeys for KmsKeyReads {
    async fn public_key(&self, key_id: &str) -> Result<Vec<u8>, SignError> {
        let body = serde_json::json!({ "KeyId": key_id }).to_string();
        let call = Call {
            service: "kms",
            method: "POST",
            url: format!("{}/", self.aws.service_url("kms")),
            headers: &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "TrentService.GetPublicKey"),
            ],
            body: body.as_bytes(),
        };
        let answer = self
            .aws
            .send(&call)
            .await
            .map_err(|error| SignError::Failed(Box::new(error)))?;
        let unreadable = |detail: String| {
            SignError::Failed(Box::new(CallError::Unreadable {
                service: "kms",
                detail,
            }))
        };
        let json: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|error| unreadable(error.to_string()))?;
        let encoded = json
            .get("PublicKey")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| unreadable(format!("GetPublicKey of {key_id} without a PublicKey")))?;
        BASE64
            .decode(encoded)
            .map_err(|error| unreadable(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>vault</Name><Prefix>checkpoints/</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>
  <NextKeyMarker>checkpoints/b&amp;c.txt</NextKeyMarker><NextVersionIdMarker>v3</NextVersionIdMarker>
  <MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>
  <Version><Key>checkpoints/a.txt</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest>
    <LastModified>2026-11-30T12:00:01.000Z</LastModified><ETag>"e"</ETag><Size>120</Size>
    <Owner><ID>o</ID></Owner><StorageClass>STANDARD</StorageClass></Version>
  <Version><Key>checkpoints/a.txt</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest>
    <LastModified>2026-11-30T12:00:00.000Z</LastModified><ETag>"d"</ETag><Size>119</Size></Version>
  <DeleteMarker><Key>checkpoints/b&amp;c.txt</Key><VersionId>v4</VersionId><IsLatest>true</IsLatest>
    <LastModified>2026-11-30T12:00:03.000Z</LastModified></DeleteMarker>
  <Version><Key>checkpoints/b&amp;c.txt</Key><VersionId>v3</VersionId><IsLatest>false</IsLatest>
    <LastModified>2026-11-30T12:00:02.000Z</LastModified><ETag>"f"</ETag><Size>7</Size></Version>
</ListVersionsResult>"#;

    #[test]
    fn a_listing_page_gives_versions_in_order_without_delete_markers() {
        let page = parse_listing(PAGE.as_bytes(), 5).unwrap();
        assert!(page.truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some("checkpoints/b&c.txt"));
        assert_eq!(page.next_version_id_marker.as_deref(), Some("v3"));
        let positions: Vec<usize> = page.versions.iter().map(|(_, _, p)| *p).collect();
        assert_eq!(positions, [5, 6, 7]);
        let ordered = order_versions(page.versions);
        let ids: Vec<(&str, &str, bool, u64)> = ordered
            .iter()
            .map(|v| (v.key.as_str(), v.version_id.as_str(), v.is_latest, v.size))
            .collect();
        assert_eq!(
            ids,
            [
                ("checkpoints/a.txt", "v1", false, 119),
                ("checkpoints/a.txt", "v2", true, 120),
                ("checkpoints/b&c.txt", "v3", false, 7),
            ]
        );
    }

    #[test]
    fn unreadable_listings_are_refused_by_name() {
        assert!(
            parse_listing(b"<Error><Code>NoSuchBucket</Code></Error>", 0)
                .unwrap_err()
                .contains("ListVersionsResult")
        );
        let no_id = "<ListVersionsResult><Version><Key>k</Key></Version></ListVersionsResult>";
        assert!(
            parse_listing(no_id.as_bytes(), 0)
                .unwrap_err()
                .contains("VersionId")
        );
        let bad_size = "<ListVersionsResult><Version><Key>k</Key><VersionId>v</VersionId>\
                        <Size>-1</Size></Version></ListVersionsResult>";
        assert!(
            parse_listing(bad_size.as_bytes(), 0)
                .unwrap_err()
                .contains("Size")
        );
    }

    #[test]
    fn errors_are_classified_as_the_sdk_adapter_classifies_them() {
        let (code, message) = error_code(
            "s3",
            b"<Error><Code>NoSuchVersion</Code><Message>gone</Message></Error>",
        );
        assert_eq!((code.as_str(), message.as_str()), ("NoSuchVersion", "gone"));
        let answered = |status, code: &str| CallError::Answered {
            service: "s3",
            status,
            code: code.to_owned(),
            message: String::new(),
        };
        assert!(matches!(
            vault_error(answered(404, "NoSuchVersion"), "k", Some("v")),
            VaultError::NotFound { version_id: Some(ref v), .. } if v == "v"
        ));
        assert!(matches!(
            vault_error(answered(403, "AccessDenied"), "k", None),
            VaultError::Refused { .. }
        ));
        assert!(matches!(
            vault_error(answered(403, ""), "k", None),
            VaultError::Refused { .. }
        ));
        assert!(matches!(
            vault_error(answered(403, "SignatureDoesNotMatch"), "k", None),
            VaultError::Failed(_)
        ));
        assert!(matches!(
            vault_error(answered(400, "InvalidArgument"), "k", None),
            VaultError::Failed(_)
        ));
        assert!(retryable(&answered(503, "SlowDown")));
        assert!(retryable(&answered(400, "ThrottlingException")));
        assert!(!retryable(&answered(404, "NoSuchKey")));
        let (code, message) = error_code(
            "kms",
            br#"{"__type":"com.amazonaws.kms#NotFoundException","message":"no key"}"#,
        );
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("NotFoundException", "no key")
        );
    }

    #[test]
    fn a_body_must_match_its_stored_sha256() {
        let mut headers = http::HeaderMap::new();
        assert!(
            check_sha256(&headers, b"body", "k", "v").is_ok(),
            "no checksum stored"
        );
        let good = BASE64.encode(Sha256::digest(b"body"));
        headers.insert("x-amz-checksum-sha256", good.parse().unwrap());
        assert!(check_sha256(&headers, b"body", "k", "v").is_ok());
        let error = check_sha256(&headers, b"bodY", "k", "v").unwrap_err();
        assert!(error.to_string().contains("failed") || matches!(error, VaultError::Failed(_)));
        headers.insert(
            "x-amz-checksum-sha256",
            format!("{good}-3").parse().unwrap(),
        );
        assert!(
            check_sha256(&headers, b"bodY", "k", "v").is_ok(),
            "a composite checksum covers parts, not the body"
        );
    }

    #[test]
    fn keys_and_values_are_encoded_as_sigv4_canonicalises_them() {
        assert_eq!(
            encode_key("checkpoints/a b+c~d.txt"),
            "checkpoints/a%20b%2Bc~d.txt"
        );
        assert_eq!(encode_value("checkpoints/"), "checkpoints%2F");
    }

    /// The known-answer examples of S3's SigV4 documentation ("Signature Calculations for the
    /// Authorization Header"): examplebucket, `AKIAIOSFODNN7EXAMPLE`, 2013-05-24T00:00:00Z.
    #[test]
    fn s3_requests_are_signed_as_the_published_examples() {
        let identity: Identity = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "example",
        )
        .into();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let signature_of = |url: &str, headers: &[(&'static str, &str)]| {
            let call = Call {
                service: "s3",
                method: "GET",
                url: url.to_owned(),
                headers,
                body: &[],
            };
            let signed = sign_call(&call, &identity, "us-east-1", time).unwrap();
            let authorization = &signed
                .iter()
                .find(|(name, _)| name == "authorization")
                .unwrap()
                .1;
            authorization
                .rsplit("Signature=")
                .next()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            signature_of(
                "https://examplebucket.s3.amazonaws.com/test.txt",
                &[("range", "bytes=0-9")]
            ),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(
            signature_of(
                "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
                &[]
            ),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
        // A parameter without a value (`?versions=` in a listing) signs as the example's bare one.
        for url in [
            "https://examplebucket.s3.amazonaws.com/?lifecycle",
            "https://examplebucket.s3.amazonaws.com/?lifecycle=",
        ] {
            assert_eq!(
                signature_of(url, &[]),
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
            );
        }
    }

    #[test]
    fn endpoints_follow_the_sdk_configuration() {
        let credentials =
            SharedCredentialsProvider::new(Credentials::new("AKID", "secret", None, None, "test"));
        let aws = AwsReads::new(Some(credentials.clone()), Some("eu-west-1"), None).unwrap();
        assert_eq!(
            aws.bucket_url("vault", "/k"),
            "https://vault.s3.eu-west-1.amazonaws.com/k"
        );
        assert_eq!(
            aws.bucket_url("my.vault", "/k"),
            "https://s3.eu-west-1.amazonaws.com/my.vault/k"
        );
        assert_eq!(
            aws.service_url("kms"),
            "https://kms.eu-west-1.amazonaws.com"
        );
        let local = AwsReads::new(
            Some(credentials),
            Some("us-east-1"),
            Some("http://127.0.0.1:4566/"),
        )
        .unwrap();
        assert_eq!(
            local.bucket_url("vault", "/k"),
            "http://127.0.0.1:4566/vault/k"
        );
        assert_eq!(local.service_url("kms"), "http://127.0.0.1:4566");
        assert!(matches!(
            AwsReads::new(None, Some("us-east-1"), None),
            Err(CallError::NoCredentials)
        ));
        let credentials = || {
            Some(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "secret", None, None, "test",
            )))
        };
        assert!(matches!(
            AwsReads::checked(credentials(), Some("us-east-1"), None, true),
            Err(CallError::UnsupportedEndpointMode)
        ));
        assert!(
            AwsReads::checked(
                credentials(),
                Some("us-east-1"),
                Some("https://s3-fips.example"),
                true
            )
            .is_ok()
        );
        for (region, host) in [
            ("cn-north-1", "https://kms.cn-north-1.amazonaws.com.cn"),
            ("us-gov-west-1", "https://kms.us-gov-west-1.amazonaws.com"),
            ("us-iso-east-1", "https://kms.us-iso-east-1.c2s.ic.gov"),
            ("us-isob-east-1", "https://kms.us-isob-east-1.sc2s.sgov.gov"),
            ("eusc-de-east-1", "https://kms.eusc-de-east-1.amazonaws.eu"),
        ] {
            let aws = AwsReads::new(credentials(), Some(region), None).unwrap();
            assert_eq!(aws.service_url("kms"), host);
        }
    }
}
