//! Cold start of the `ingest` bootstrap: its stripped release size, and its init time from process
//! start to its first poll of a local stand-in for the Lambda runtime API
//! (`GET /2018-06-01/runtime/invocation/next`), with the environment Lambda gives it.
//!
//! Run with `cargo build --release -p ingest && cargo bench -p tests --bench cold_start`
//! (figures go into BENCHMARKS.md). `COLD_START_BINARY` names another binary;
//! `COLD_START_RUNS` sets the number of starts (default 30). A measurement, not a test: it fails
//! only when the binary is missing or never polls.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long one start may take before the run is declared broken.
const NEVER: Duration = Duration::from_secs(10);

fn binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("COLD_START_BINARY") {
        return Ok(PathBuf::from(path));
    }
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let path = target.join("release/ingest");
    if !path.exists() {
        bail!(
            "{} is missing: run `cargo build --release -p ingest` first",
            path.display()
        );
    }
    Ok(path)
}

/// The size of the binary after `strip` (binutils), as Lambda would load it from a stripped zip.
fn stripped_size(path: &PathBuf) -> anyhow::Result<(u64, u64)> {
    let unstripped = std::fs::metadata(path)?.len();
    let copy = std::env::temp_dir().join(format!("cold-start-{}", std::process::id()));
    std::fs::copy(path, &copy)?;
    let status = Command::new("strip")
        .arg(&copy)
        .status()
        .context("strip (binutils)")?;
    if !status.success() {
        bail!("strip failed: {status}");
    }
    let stripped = std::fs::metadata(&copy)?.len();
    std::fs::remove_file(&copy)?;
    Ok((unstripped, stripped))
}

/// Starts the binary once, as Lambda does, and times its first poll of the runtime API.
fn one_start(path: &PathBuf) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let api = listener.local_addr()?;
    let started = Instant::now();
    let mut child = Command::new(path)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "ingest")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ingest")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDCOLDSTART")
        .env("AWS_SECRET_ACCESS_KEY", "cold-start-secret")
        .env("AWS_SESSION_TOKEN", "cold-start-token")
        .env("SIGNALS_TABLE", "signals")
        .env("AUDIT_TABLE", "audit")
        // As deployed: the proof routes' vault and trusted signing key (read lazily, on a
        // proof request: nothing is fetched at init).
        .env("VAULT_BUCKET", "vault")
        .env(
            "CHECKPOINT_KMS_KEY_ID",
            "arn:aws:kms:us-east-1:123456789012:key/cold-start",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", path.display()))?;
    listener.set_nonblocking(false)?;
    // The first request line the runtime sends is its poll for the next invocation.
    let (stream, _) = listener.accept()?;
    let elapsed = started.elapsed();
    stream.set_read_timeout(Some(NEVER))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    child.kill()?;
    child.wait()?;
    if !line.starts_with("GET /2018-06-01/runtime/invocation/next") {
        bail!("the first request was not a poll: {line:?}");
    }
    Ok(elapsed)
}

fn main() -> anyhow::Result<()> {
    let path = binary()?;
    let runs: usize = std::env::var("COLD_START_RUNS")
        .ok()
        .map(|s| s.parse())
        .transpose()
        .context("COLD_START_RUNS")?
        .unwrap_or(30);
    let (unstripped, stripped) = stripped_size(&path)?;
    // One start first, not counted: it brings the file into the page cache.
    one_start(&path)?;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| one_start(&path))
        .collect::<anyhow::Result<_>>()?;
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    eprintln!("| binary | size | stripped | init p50 ms | init p95 ms | init max ms | runs |");
    eprintln!("|---|---|---|---|---|---|---|");
    eprintln!(
        "| {} | {:.1} MB | {:.1} MB | {:.1} | {:.1} | {:.1} | {runs} |",
        path.display(),
        unstripped as f64 / 1e6,
        stripped as f64 / 1e6,
        at(0.5),
        at(0.95),
        at(1.0),
    );
    Ok(())
}
