//! The ingest Lambda function: wiring only. Configuration is parsed once, one `SdkConfig` and its
//! DynamoDB client are built per process (the read-only proof routes read S3 and KMS through
//! `shared::adapters::aws_reads`, signed requests without the SDK's S3 and KMS clients, which
//! would make this bootstrap 1.3 MB larger), and every request goes to `shared::app::ingest`.
//! Request path: no `unwrap`, `expect` or indexing (as in the shared modules it calls).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn};
use shared::adapters::aws_reads::{AwsReads, KmsKeyReads, S3Reads};
use shared::adapters::dynamodb::{DynamoAuditSink, DynamoLedgerStore};
use shared::adapters::system::{EmfStdout, SystemClock, init_json_logs};
use shared::app::http::{HttpRequest, HttpResponse, RequestHeaders};
use shared::app::ingest::{Ingest, IngestSettings};
use shared::app::proofs::VaultProofs;
use shared::config::IngestConfig;
use shared::domain::entry::ANONYMOUS;
use shared::domain::signal::ValidationRules;

type Service = Ingest<
    DynamoLedgerStore,
    DynamoAuditSink,
    SystemClock,
    EmfStdout,
    Option<VaultProofs<S3Reads, KmsKeyReads>>,
>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logs();
    let config = IngestConfig::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration; the function cannot start");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let settings = IngestSettings {
        rules: ValidationRules {
            min_rationale_chars: config.min_rationale_chars,
            max_age: time::Duration::seconds(i64::from(config.max_signal_age_seconds)),
            ..ValidationRules::default()
        },
        retention_days: config.retention_days,
        ..IngestSettings::default()
    };
    // The proof routes read checkpoints/ of the vault, trusting only the configured keys.
    let trust = config.trust();
    let proofs = match config.vault_bucket.as_deref() {
        Some(bucket) => {
            let aws = AwsReads::checked(
                sdk.credentials_provider(),
                sdk.region().map(|region| region.as_ref()),
                sdk.endpoint_url(),
                sdk.use_fips() == Some(true) || sdk.use_dual_stack() == Some(true),
            )
            .inspect_err(|error| {
                tracing::error!(%error, "cannot read the vault; the function cannot start");
            })?;
            let keys = (!trust.key_ids.is_empty()).then(|| KmsKeyReads::new(aws.clone()));
            Some(VaultProofs::new(
                S3Reads::new(aws, bucket),
                keys,
                trust.clone(),
            ))
        }
        None => None,
    };
    let service: Arc<Service> = Arc::new(
        Ingest::new(
            DynamoLedgerStore::new(dynamodb.clone(), &config.signals_table, &config.audit_table),
            DynamoAuditSink::new(dynamodb, &config.audit_table),
            SystemClock,
            EmfStdout::new(&config.metrics_namespace, "ingest"),
            settings,
        )
        .with_proofs(proofs)
        .with_group_commit(),
    );
    run(service_fn(move |request: Request| {
        let service = Arc::clone(&service);
        async move {
            let (request, headers) = translate(request);
            respond(service.handle_with_headers(request, &headers).await)
        }
    }))
    .await
}

/// The function URL request, reduced to what the service needs. The actor is the IAM caller that
/// signed the request (function URL auth `AWS_IAM`); locally there is none: `anonymous`. The
/// headers go along (the service refuses a `Content-Encoding` it would not decode).
fn translate(request: Request) -> (HttpRequest, RequestHeaders) {
    let context = request.request_context_ref();
    let (actor, context_request_id) = match context {
        Some(RequestContext::ApiGatewayV2(context)) => (
            context
                .authorizer
                .as_ref()
                .and_then(|authorizer| authorizer.iam.as_ref())
                .and_then(|iam| iam.user_arn.clone()),
            context.request_id.clone(),
        ),
        _ => (None, None),
    };
    let request_id = context_request_id
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
        .unwrap_or_else(|| "unknown".to_owned());
    let content_type = request
        .headers()
        .get(lambda_http::http::header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let headers = RequestHeaders::new(request.headers().iter().map(|(name, value)| {
        (
            name.as_str().to_owned(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )
    }));
    let method = request.method().as_str().to_owned();
    // The query goes along after `?`: only the proof routes read it (`tree_size`, `from`, `to`).
    let path = match request.uri().query() {
        Some(query) => format!("{}?{query}", request.uri().path()),
        None => request.uri().path().to_owned(),
    };
    let body = match request.into_body() {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        // Any other body representation is read as empty; validation then names the problem.
        _ => Vec::new(),
    };
    let request = HttpRequest {
        method,
        path,
        content_type,
        body,
        actor: actor
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| ANONYMOUS.to_owned()),
        request_id,
    };
    (request, headers)
}

fn respond(response: HttpResponse) -> Result<Response<Body>, Error> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    // JSON goes back as text, so the function URL does not base64-encode it.
    let body = match String::from_utf8(response.body) {
        Ok(text) => Body::Text(text),
        Err(error) => Body::Binary(error.into_bytes()),
    };
    Ok(builder.body(body)?)
}
