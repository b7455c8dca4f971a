//! A transport-neutral HTTP request/response, so the ingest behaviour is tested and benchmarked
//! without Lambda; `functions/ingest` converts to and from `lambda_http`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use serde::Serialize;
use serde_json::{Value, json};

/// What the handler needs of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper case: `GET`, `POST`, …
    pub method: String,
    /// The path as the function sees it, e.g. `/signals/abc`, and its query after a `?` when
    /// the request has one (`/proofs/consistency?from=4&to=9`).
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The caller's IAM principal, or `anonymous`.
    pub actor: String,
    pub request_id: String,
}

/// The request headers beyond the content type, as sent (names compared case-insensitively).
/// Kept beside [`HttpRequest`] rather than in it, so that existing callers that build a request
/// without headers stay valid; see `Ingest::handle_with_headers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders {
    pairs: Vec<(String, String)>,
}

impl RequestHeaders {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> RequestHeaders {
        RequestHeaders {
            pairs: pairs.into_iter().collect(),
        }
    }

    /// Every value of the header `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

pub const JSON: &str = "application/json";
pub const PROBLEM_JSON: &str = "application/problem+json";

impl HttpResponse {
    pub fn json(status: u16, body: &impl Serialize) -> HttpResponse {
        // Serialising our own plain data structures cannot fail.
        let body = serde_json::to_vec(body).unwrap_or_default();
        HttpResponse {
            status,
            headers: vec![("content-type", JSON.to_owned())],
            body,
        }
    }

    /// An RFC 9457 problem document.
    pub fn problem(problem: Problem) -> HttpResponse {
        let status = problem.status;
        let mut response = HttpResponse::json(status, &problem.into_json());
        response.headers = vec![("content-type", PROBLEM_JSON.to_owned())];
        response
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> HttpResponse {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// An `application/problem+json` body: `type` is a stable URN per kind of problem, `instance`
/// the request id, and `errors` (for validation) the per-field list.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: u16,
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub instance: String,
    pub errors: Option<Value>,
    /// Extension members (RFC 9457 §3.2), e.g. `errors_omitted`.
    pub extensions: Vec<(&'static str, Value)>,
}

impl Problem {
    pub fn new(
        status: u16,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            instance: String::new(),
            errors: None,
            extensions: Vec::new(),
        }
    }

    fn into_json(self) -> Value {
        let mut body = json!({
            "type": format!("urn:signal-ledger:problem:{}", self.kind),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": self.instance,
        });
        if let (Some(errors), Value::Object(members)) = (self.errors, &mut body) {
            members.insert("errors".to_owned(), errors);
        }
        if let Value::Object(members) = &mut body {
            for (name, value) in self.extensions {
                members.insert(name.to_owned(), value);
            }
        }
        body
    }
}
