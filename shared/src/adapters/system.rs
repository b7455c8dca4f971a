//! The real clock and CloudWatch Embedded Metric Format (EMF) metrics on stdout.
//!
//! EMF: each call to [`EmfStdout::emit`] writes one JSON line that CloudWatch Logs turns into
//! metrics — no API call and no latency on the request path.

use std::io::Write;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::domain::timestamp::Timestamp;
use crate::ports::{Clock, Metric, MetricsSink};

/// The system clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // The system clock is within years 0000–9999; fall back to the epoch rather than panic.
        Timestamp::from_datetime(OffsetDateTime::now_utc())
            .or_else(|_| Timestamp::from_datetime(OffsetDateTime::UNIX_EPOCH))
            .unwrap_or_else(|_| unreachable!("the epoch is a valid timestamp"))
    }
}

/// Writes EMF lines to stdout under one namespace, with a `Function` property for log queries
/// (not a dimension: alarms and dashboards use the dimensionless metrics).
#[derive(Debug, Clone)]
pub struct EmfStdout {
    namespace: String,
    function: String,
}

impl EmfStdout {
    pub fn new(namespace: impl Into<String>, function: impl Into<String>) -> EmfStdout {
        EmfStdout {
            namespace: namespace.into(),
            function: function.into(),
        }
    }

    /// The EMF document for `metrics` at `timestamp_ms` (milliseconds since the epoch).
    pub fn document(&self, metrics: &[Metric], timestamp_ms: i64) -> Value {
        let definitions: Vec<Value> = metrics
            .iter()
            .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [[]],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert("Function".into(), json!(self.function));
        for metric in metrics {
            root.insert(metric.name.into(), json!(metric.value));
        }
        Value::Object(root)
    }
}

impl MetricsSink for EmfStdout {
    fn emit(&self, metrics: &[Metric]) {
        if metrics.is_empty() {
            return;
        }
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let line = self.document(metrics, now_ms).to_string();
        // One write of one line, so concurrent log lines cannot interleave inside it. A metric
        // line that cannot be written must not fail the request that emitted it: say so on stderr.
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = writeln!(stdout, "{line}") {
            tracing::warn!(%error, "could not write an EMF metrics line to stdout");
        }
    }
}

/// Structured JSON logs for a function (one object per line; level from `RUST_LOG`, default
/// `info`), as CloudWatch Logs Insights queries expect.
pub fn init_json_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let setting = std::env::var("RUST_LOG").ok();
    let (filter, refused) = log_filter(setting.as_deref());
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .with_current_span(false)
        .finish()
        .with(filter)
        .init();
    if let Some(refused) = refused {
        tracing::warn!(rust_log = %refused, "RUST_LOG is not a list of target=level directives; logging at info");
    }
}

/// The log filter `RUST_LOG` asks for: comma-separated `level` or `target=level` directives
/// (`info`, `shared::app::ingest=debug,info`). Absent or empty means `info`. A setting with a
/// directive that is empty or names a span or field (`[`, `{`) or contains whitespace also means
/// `info`, and is returned so the caller can say so: directives are matched by target prefix only
/// (`filter::Targets`), which keeps the regex engine out of the bootstraps (BENCHMARKS.md,
/// "Cold start"), and an empty target would match every target at `trace`.
pub fn log_filter(setting: Option<&str>) -> (Targets, Option<String>) {
    let info = || Targets::new().with_default(LevelFilter::INFO);
    let Some(setting) = setting.map(str::trim).filter(|s| !s.is_empty()) else {
        return (info(), None);
    };
    let supported = setting.split(',').all(|directive| {
        !directive.is_empty()
            && !directive.contains(['[', '{', ']', '}'])
            && !directive.contains(char::is_whitespace)
            && !directive.starts_with('=')
    });
    match setting.parse::<Targets>() {
        Ok(targets) if supported => (targets, None),
        _ => (info(), Some(setting.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_sets_levels_by_target_and_defaults_to_info() {
        use tracing::Level;
        let (absent, refused) = log_filter(None);
        assert!(refused.is_none());
        assert!(absent.would_enable("shared::app::ingest", &Level::INFO));
        assert!(!absent.would_enable("shared::app::ingest", &Level::DEBUG));

        let (targets, refused) = log_filter(Some("warn,shared::app::ingest=debug"));
        assert!(refused.is_none());
        assert!(targets.would_enable("shared::app::ingest::commit", &Level::DEBUG));
        assert!(!targets.would_enable("shared::app::sweep", &Level::INFO));
        assert!(targets.would_enable("shared::app::sweep", &Level::WARN));

        for unsupported in [
            "shared[span{id=1}]=debug",
            "shared[span]=debug",
            "shared[{f}]=debug",
            "info,",
            "warn,,shared=debug",
            "warn, shared=debug",
            "=debug",
        ] {
            let (fallback, refused) = log_filter(Some(unsupported));
            assert_eq!(refused.as_deref(), Some(unsupported));
            assert!(
                fallback.would_enable("hyper", &Level::INFO),
                "{unsupported}"
            );
            assert!(
                !fallback.would_enable("hyper", &Level::DEBUG),
                "{unsupported}"
            );
            assert!(
                !fallback.would_enable("shared", &Level::DEBUG),
                "{unsupported}"
            );
        }
        assert!(log_filter(Some("  ")).1.is_none(), "blank is absent");
    }

    #[test]
    fn emf_document_shape() {
        let emf = EmfStdout::new("SignalLedger", "ingest");
        let document = emf.document(
            &[
                Metric::millis("SignalDeliveryLatency", 87),
                Metric::count("SignalsIngested", 1),
            ],
            1_764_322_200_000,
        );
        assert_eq!(
            document,
            json!({
                "_aws": {"Timestamp": 1_764_322_200_000i64, "CloudWatchMetrics": [{
                    "Namespace": "SignalLedger", "Dimensions": [[]],
                    "Metrics": [{"Name": "SignalDeliveryLatency", "Unit": "Milliseconds"},
                                {"Name": "SignalsIngested", "Unit": "Count"}]}]},
                "Function": "ingest", "SignalDeliveryLatency": 87.0, "SignalsIngested": 1.0
            })
        );
    }
}
