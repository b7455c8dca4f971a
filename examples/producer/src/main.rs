//! `producer`: posts one signal (a JSON file, or stdin) to the ingest function URL, SigV4-signed
//! with the SDK's default credentials, retried with the same `signal_id`; prints the stored entry.
//!
//! Exit status: 0 stored (or already stored), 1 refused (4xx), 2 not stored after every retry,
//! 3 any other failure (bad input, no credentials).

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use producer::{Producer, ProducerError, RetryPolicy};

#[derive(Debug, Parser)]
#[command(
    about = "Post a trading signal to the ingest function URL, SigV4-signed (service lambda)."
)]
struct Args {
    /// The function URL, e.g. https://<id>.lambda-url.<region>.on.aws (stack output IngestUrl).
    #[arg(long, env = "INGEST_URL")]
    url: String,
    /// Attempts in all before giving up.
    #[arg(long, default_value_t = 6)]
    attempts: u32,
    /// Seconds one attempt may take.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// A JSON file with the signal; stdin when absent.
    signal: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            let code = match error.downcast_ref::<ProducerError>() {
                Some(ProducerError::Refused { .. }) => 1,
                Some(ProducerError::GaveUp { .. }) => 2,
                _ => 3,
            };
            ExitCode::from(code)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let text = match &args.signal {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin")?;
            text
        }
    };
    let signal = match serde_json::from_str(&text).context("the signal is not valid JSON")? {
        serde_json::Value::Object(signal) => signal,
        _ => return Err(ProducerError::NotAnObject.into()),
    };
    let retry = RetryPolicy {
        max_attempts: args.attempts.max(1),
        attempt_timeout: Duration::try_from_secs_f64(args.timeout)
            .context("--timeout must be a positive number of seconds")?,
        ..RetryPolicy::default()
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let producer = Producer::new(&sdk, &args.url, retry)?;
    let stored = producer.submit(signal).await?;
    let what = if stored.status == 201 {
        "stored"
    } else {
        "already stored"
    };
    eprintln!(
        "{what} (HTTP {}, {} attempt(s)): {} at chain index {}",
        stored.status, stored.attempts, stored.entry["signal_id"], stored.entry["chain_index"]
    );
    #[allow(clippy::print_stdout)] // the tool's output
    {
        println!("{}", serde_json::to_string_pretty(&stored.entry)?);
    }
    Ok(())
}
