//! The example producers (`examples/producer`, Rust; `examples/producer.py`, Python) against the
//! ingest function URL under `cargo lambda watch`: they sign alike, store a signal, and retry
//! with the same `signal_id` — after a `503` no sooner than its `Retry-After`, and after a
//! timeout whose request did reach the ledger, ending with the original entry, stored once.
//!
//! The faults come from a small HTTP relay between the producer and the function URL that
//! answers, stalls or forwards each request as its script says, and records what it received.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use producer::vector::SigningVector;
use producer::{Producer, ProducerError, RetryPolicy};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{required_env, signal};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python with botocore: `PRODUCER_PYTHON` (set by infra/test.sh), else the project's .venv.
fn python() -> PathBuf {
    std::env::var_os("PRODUCER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Both producers sign the same fixed request, with fixed credentials and time, to the same
/// headers — those of the known-answer vector.
#[test]
fn rust_and_python_producers_sign_a_fixed_request_alike() {
    let path = root().join("examples/sigv4-vector.json");
    let vector = SigningVector::parse(&std::fs::read(&path).unwrap()).unwrap();
    let rust = vector.sign().unwrap();

    let output = Command::new(python())
        .arg(root().join("examples/producer.py"))
        .arg("sign-vector")
        .arg(&path)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python().display()));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let python: Vec<(String, String)> = serde_json::from_slice(&output.stdout).unwrap();

    let authorization = |headers: &[(String, String)]| {
        headers
            .iter()
            .find(|(name, _)| name == "authorization")
            .map(|(_, value)| value.clone())
            .unwrap()
    };
    assert_eq!(authorization(&rust), authorization(&python));
    assert_eq!(rust, python);
    assert_eq!(rust, vector.expected_sorted());
}

/// What the relay does with the n-th request it receives.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Answer 503 with this `Retry-After`, as the ingest function does when the ledger is busy.
    Busy { retry_after: u64 },
    /// Forward to the function URL, then never answer: the client times out although the
    /// signal was stored.
    ForwardThenStall,
    /// Forward and answer with the function's response.
    Forward,
}

#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    body: Value,
    authorization: Option<String>,
}

struct Relay {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Relay {
    async fn start(script: Vec<Step>) -> Relay {
        let target = required_env("INGEST_URL");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut script = script.into_iter();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let step = script.next().unwrap_or(Step::Forward);
                let (http, target, log) = (http.clone(), target.clone(), Arc::clone(&log));
                tokio::spawn(async move { serve(stream, step, &http, &target, &log).await });
            }
        });
        Relay { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// One HTTP/1.1 request on `stream`, handled as `step` says; the connection is then closed.
async fn serve(
    mut stream: TcpStream,
    step: Step,
    http: &reqwest::Client,
    target: &str,
    log: &Mutex<Vec<Received>>,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the client closed before sending a request");
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    while buffer.len() < header_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the client closed mid-body");
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[header_end..header_end + length].to_vec();
    let path = head.split_whitespace().nth(1).unwrap().to_owned();
    log.lock().unwrap().push(Received {
        at: Instant::now(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        authorization: header("authorization"),
    });
    let (status, content_type, extra, answer) = match step {
        Step::Busy { retry_after } => (
            503,
            "application/problem+json".to_owned(),
            format!("retry-after: {retry_after}\r\n"),
            json!({"type": "urn:signal-ledger:problem:busy", "title": "Ledger busy", "status": 503,
                   "detail": "the ledger is busy and the signal was NOT stored", "instance": "relay"})
            .to_string()
            .into_bytes(),
        ),
        Step::ForwardThenStall | Step::Forward => {
            let response = http
                .post(format!("{target}{path}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let answer = response.bytes().await.unwrap().to_vec();
            if matches!(step, Step::ForwardThenStall) {
                // Stored, but the answer never comes: hold the connection until the client
                // gives up and closes it.
                while stream.read(&mut chunk).await.is_ok_and(|n| n > 0) {}
                return;
            }
            (status, content_type, String::new(), answer)
        }
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
        answer.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&answer).await.unwrap();
    stream.shutdown().await.unwrap();
}

/// The producers' attempt timeout where the relay stalls an answer: the retry that follows is
/// forwarded to the function, which on the serialized emulator beside the parallel suite can
/// take seconds (a 2 s timeout made the retry time out too).
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

async fn rust_producer(url: &str, attempt_timeout: Duration) -> Producer {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Producer::new(
        &sdk,
        url,
        RetryPolicy {
            attempt_timeout,
            ..RetryPolicy::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn rust_producer_stores_a_signal_and_a_retry_returns_the_original() {
    let producer = rust_producer(&required_env("INGEST_URL"), Duration::from_secs(30)).await;
    let id = unique("rust-producer");
    let body = object(signal(&id));
    let first = producer.submit(body.clone()).await.unwrap();
    assert_eq!((first.status, first.attempts), (201, 1));
    assert_eq!(first.entry["signal_id"], id.as_str());
    let again = producer.submit(body).await.unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.entry, first.entry);

    // Without an id, the producer adds one (so its own retries are idempotent).
    let mut anonymous = signal("unused");
    anonymous.as_object_mut().unwrap().remove("signal_id");
    let stored = producer.submit(object(anonymous)).await.unwrap();
    assert_eq!(stored.status, 201);
    assert!(stored.entry["signal_id"].as_str().unwrap().len() >= 32);

    // A refusal is returned at once with the problem, not retried.
    let mut bad = signal(&unique("rust-producer-bad"));
    bad["rationale"] = json!("Short");
    match producer.submit(object(bad)).await {
        Err(ProducerError::Refused { status, problem }) => {
            assert_eq!(status, 400);
            assert_eq!(problem["errors"][0]["field"], "rationale", "{problem}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn rust_producer_retries_a_503_after_retry_after_with_the_same_signal_id() {
    let relay = Relay::start(vec![Step::Busy { retry_after: 1 }]).await;
    let producer = rust_producer(&relay.url, Duration::from_secs(30)).await;
    let id = unique("rust-busy");
    let stored = producer.submit(object(signal(&id))).await.unwrap();
    assert_eq!((stored.status, stored.attempts), (201, 2));
    let received = relay.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.body["signal_id"] == id.as_str()));
    assert!(
        received[1].at - received[0].at >= Duration::from_secs(1),
        "retried {:?} after a Retry-After of 1 s",
        received[1].at - received[0].at
    );
    // Each attempt is signed on its own.
    for r in &received {
        let authorization = r.authorization.as_deref().unwrap_or_default();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=")
                && authorization.contains("/lambda/aws4_request"),
            "{authorization:?}"
        );
    }
}

#[tokio::test]
async fn rust_producer_retries_a_timeout_and_gets_the_entry_stored_once() {
    let relay = Relay::start(vec![Step::ForwardThenStall]).await;
    // Long enough for the forwarded retry on a busy serialized emulator; the stalled first
    // attempt costs the test this long.
    let producer = rust_producer(&relay.url, STALL_TIMEOUT).await;
    let id = unique("rust-timeout");
    let stored = producer.submit(object(signal(&id))).await.unwrap();
    // The first attempt stored it; the retry is answered as an identical replay.
    assert_eq!((stored.status, stored.attempts), (200, 2));
    assert_eq!(stored.entry["signal_id"], id.as_str());
    let received = relay.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, received[1].body);
}

/// The Python producer through the relay: a 503 with `Retry-After`, then a timeout whose
/// request was stored, then the original entry.
#[tokio::test]
async fn python_producer_stores_and_retries_with_the_same_signal_id() {
    let relay = Relay::start(vec![Step::Busy { retry_after: 1 }, Step::ForwardThenStall]).await;
    let id = unique("python-producer");
    let file = std::env::temp_dir().join(format!("{id}.json"));
    std::fs::write(&file, signal(&id).to_string()).unwrap();
    let url = relay.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(root().join("examples/producer.py"))
            .args([
                "--url",
                &url,
                "--timeout",
                &STALL_TIMEOUT.as_secs().to_string(),
            ])
            .arg(&file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("already stored (HTTP 200, 3 attempt(s))"),
        "{stderr}"
    );
    let entry: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(entry["signal_id"], id.as_str());
    let received = relay.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.body == received[0].body));
    assert!(received[1].at - received[0].at >= Duration::from_secs(1));
    assert!(received.iter().all(|r| {
        r.authorization
            .as_deref()
            .is_some_and(|a| a.contains("/lambda/aws4_request"))
    }));

    // Straight to the function URL: the same id again is the same entry.
    let direct = Command::new(python())
        .arg(root().join("examples/producer.py"))
        .args(["--url", &required_env("INGEST_URL")])
        .arg(std::env::temp_dir().join(format!("{id}.json")))
        .output()
        .unwrap();
    assert!(direct.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&direct.stdout).unwrap(),
        entry
    );
}
