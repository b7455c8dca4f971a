//! `docs/openapi.yaml` against the router: the spec documents exactly the routes the router
//! serves, and every other method on a documented path is refused with 405 and an `Allow` header
//! naming the documented methods. (schemathesis, run by `infra/test.sh`, checks the answers
//! themselves against the spec through `cargo lambda watch`.) No emulator needed.

use std::collections::BTreeSet;

use serde_norway::Value as Yaml;
use shared::adapters::memory::{FixedClock, InMemoryLedger, RecordingMetrics};
use shared::app::http::HttpRequest;
use shared::app::ingest::{Ingest, IngestSettings, ROUTES};
use shared::domain::timestamp::Timestamp;

const SPEC: &str = include_str!("../../docs/openapi.yaml");

/// The operations of an OpenAPI path item (OpenAPI 3.1 §4.8.9).
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// (METHOD, path template) of every operation the spec documents.
fn documented() -> BTreeSet<(String, String)> {
    let spec: Yaml = serde_norway::from_str(SPEC).unwrap();
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let paths = spec["paths"].as_mapping().expect("the spec has paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_mapping().unwrap();
        for key in item.keys() {
            let key = key.as_str().unwrap();
            if METHODS.contains(&key) {
                operations.insert((key.to_uppercase(), path.as_str().unwrap().to_owned()));
            } else {
                assert!(
                    ["summary", "description", "parameters", "servers"].contains(&key),
                    "{path:?} has an unexpected key {key:?}"
                );
            }
        }
    }
    operations
}

#[test]
fn the_spec_and_the_router_serve_the_same_routes() {
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(documented(), routes);
}

#[tokio::test]
async fn the_router_serves_documented_methods_and_refuses_the_rest_with_allow() {
    let ledger = InMemoryLedger::new();
    let service = Ingest::new(
        ledger.clone(),
        ledger.audit_sink(),
        FixedClock::new(Timestamp::parse_rfc3339("2026-11-28T09:30:00Z").unwrap()),
        RecordingMetrics::default(),
        IngestSettings::default(),
    );
    let documented = documented();
    let paths: BTreeSet<&str> = documented.iter().map(|(_, path)| path.as_str()).collect();
    for template in paths {
        let path = template.replace("{signal_id}", "sig-openapi-1");
        let allowed: BTreeSet<String> = documented
            .iter()
            .filter(|(_, p)| p == template)
            .map(|(method, _)| method.clone())
            .collect();
        for method in METHODS.map(str::to_uppercase) {
            let response = service
                .handle(HttpRequest {
                    method: method.clone(),
                    path: path.clone(),
                    content_type: Some("application/json".into()),
                    body: b"{}".to_vec(),
                    actor: "arn:aws:iam::123456789012:role/openapi-test".into(),
                    request_id: "openapi-test".into(),
                })
                .await;
            let problem = response.body_json();
            if allowed.contains(&method) {
                assert_ne!(response.status, 405, "{method} {path}: {problem}");
                assert_ne!(
                    problem["type"], "urn:signal-ledger:problem:not-found",
                    "{method} {path}"
                );
            } else {
                assert_eq!(response.status, 405, "{method} {path}: {problem}");
                let allow: BTreeSet<String> = response
                    .header("allow")
                    .unwrap_or_else(|| panic!("{method} {path}: 405 without Allow"))
                    .split(',')
                    .map(|m| m.trim().to_owned())
                    .collect();
                assert_eq!(allow, allowed, "{method} {path}: Allow");
            }
        }
    }
}

/// Every status code the spec documents for an operation has a body schema or is one the
/// function URL itself sends (403, 429), and every problem response is problem+json. `HEAD`
/// answers carry no body, so they document none.
#[test]
fn every_documented_error_is_problem_json() {
    let spec: Yaml = serde_norway::from_str(SPEC).unwrap();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            let method_name = method.as_str().unwrap();
            if !METHODS.contains(&method_name) {
                continue;
            }
            if method_name == "head" {
                for (status, response) in operation["responses"].as_mapping().unwrap() {
                    assert!(
                        response["content"].is_null(),
                        "head {path:?} {status:?} documents a body"
                    );
                }
                continue;
            }
            for (status, response) in operation["responses"].as_mapping().unwrap() {
                let status = status.as_str().unwrap();
                if ["200", "201"].contains(&status) {
                    continue;
                }
                let from_function_url = response["$ref"]
                    .as_str()
                    .is_some_and(|r| r.ends_with("/Forbidden") || r.ends_with("/Throttled"));
                // A shared response (`#/components/responses/X`) is checked where it is defined.
                let response = match response["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/responses/"))
                {
                    Some(name) => &spec["components"]["responses"][name],
                    None => response,
                };
                assert!(
                    from_function_url
                        || response["content"]["application/problem+json"].is_mapping(),
                    "{method:?} {path:?} {status} is not problem+json"
                );
            }
        }
    }
}
