//! A transport-neutral HTTP request/response, so the ingest behaviour is tested and benchmarked
//! without Lambda; `functions/ingest` converts to and from `lambda_http`.

use serde::Serialize;
use serde_json::{Value, json};

/// What the handler needs of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper case: `GET`, `POST`, …
    pub method: String,
    /// The path as the function sees it, e.g. `/signals/abc`.
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The caller's IAM principal, or `anonymous`.
    pub actor: String,
    pub request_id: String,
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
        if let Some(errors) = self.errors {
            body["errors"] = errors;
        }
        body
    }
}
